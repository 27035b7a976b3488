/*
 * mapfile.h - a whole file mapped read-only into memory, for the model
 * readers that parse a file in place and keep pointers into it (GGUF,
 * safetensors).
 *
 * Errors (filled into err, which may be NULL):
 *   VT_EIO     "<path>: cannot open: <reason>" (missing, unreadable),
 *              "<path>: not a regular file" (a directory, a FIFO...),
 *              "<path>: cannot map: <reason>";
 *   VT_ETOOBIG the file does not fit in the address space.
 * An empty file is not an error: it maps to len 0 and a data pointer that
 * is not NULL but must not be read, without calling mmap (which refuses a
 * zero length); the caller decides whether 0 bytes is too short.
 *
 * Ownership: the mapping belongs to the struct until vt_mapfile_close; the
 * bytes are read-only (PROT_READ, MAP_PRIVATE) and stay valid while it is
 * open, unless another process truncates the file underneath. Mappings
 * are independent; one struct is not to be closed from two threads.
 */
#ifndef VT_CORE_MAPFILE_H
#define VT_CORE_MAPFILE_H

#include <stddef.h>

#include "core/error.h"

struct vt_mapfile {
    const void *data;   /* len bytes; NULL when closed */
    size_t len;
};

/* Map path whole. On failure *map is {NULL, 0}. */
int vt_mapfile_open(const char *path, struct vt_mapfile *map, struct vt_error *err);
/* Unmap and reset to {NULL, 0}. A no-op on a closed or zeroed struct and
 * on NULL. */
void vt_mapfile_close(struct vt_mapfile *map);

#endif
