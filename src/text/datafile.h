/*
 * datafile.h - reading the text layer's dictionaries: a whole file into
 * memory with a size cap, then line by line with line numbers.
 *
 * Ownership: vt_datafile_read() returns a NUL-terminated buffer the caller
 * frees with vt_free(). The line iterator points into that buffer.
 * Thread-safety: no shared state.
 */
#ifndef VT_TEXT_DATAFILE_H
#define VT_TEXT_DATAFILE_H

#include <stddef.h>

#include "core/error.h"

/* Read path whole. Errors: VT_EIO (open/read failed, message names the
 * path and errno), VT_ETOOBIG (larger than max bytes), VT_ENOMEM. */
int vt_datafile_read(const char *path, size_t max, char **data, size_t *len,
                     struct vt_error *err);

struct vt_lines {
    const char *p, *end;
    int line; /* 1-based number of the line last returned */
};

void vt_lines_init(struct vt_lines *it, const char *data, size_t len);
/* Next line without its "\n" or "\r\n"; returns 0 at the end. */
int vt_lines_next(struct vt_lines *it, const char **s, size_t *n);

#endif
