/*
 * csv.h - a streaming RFC 4180 CSV reader for untrusted files.
 *
 * Grammar accepted (RFC 4180, plus what real exports contain):
 *   file    = [BOM] record *(EOL record) [EOL]
 *   record  = field *("," field)
 *   field   = quoted / bare
 *   quoted  = '"' *(any byte but '"' / '""') '"'   ; may hold "," CR LF
 *   bare    = *(any byte but '"' "," CR LF)
 *   EOL     = CRLF / LF / CR
 * A UTF-8 byte-order mark (EF BB BF) at the very start is skipped. Empty
 * lines between records are skipped. Every field must be valid UTF-8 with no
 * NUL byte. Field bytes are returned verbatim: no trimming.
 *
 * Errors carry the 1-based line and column (in characters) of the problem
 * and its byte offset. A problem confined to one record (a stray quote, a
 * wrong field count, a field or record over its cap, invalid UTF-8) is
 * reported once the whole record has been consumed, so the caller may go
 * on with the next one. VT_ENOMEM and VT_EIO are final. An unterminated
 * quote runs to the end of the input; the next call returns 0.
 *
 * Ownership: the reader does not own the FILE. A record's fields belong to
 * the reader and stay valid until the next call. One owner; not thread-safe.
 */
#ifndef VT_CORE_CSV_H
#define VT_CORE_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

struct vt_csv;

struct vt_csv_options {
    size_t max_field_bytes;  /* longest field (0 = 1 MiB) */
    size_t max_record_bytes; /* longest record, all fields (0 = 4 MiB) */
    size_t max_fields;       /* most fields in a record (0 = 1024) */
};

struct vt_csv_record {
    size_t n;            /* number of fields */
    char **fields;       /* each NUL-terminated */
    const size_t *lens;  /* byte length of each field */
    int64_t line;        /* physical line where the record starts */
};

/* o may be NULL for the defaults. Reads nothing yet. */
int vt_csv_new(FILE *f, const struct vt_csv_options *o, struct vt_csv **out);
void vt_csv_free(struct vt_csv *c);

/* Read the first record as the header: from then on every record must have
 * as many fields (VT_EFORMAT otherwise). The header stays valid until
 * vt_csv_free. An empty input is VT_EFORMAT. Call before vt_csv_next. */
int vt_csv_header(struct vt_csv *c, struct vt_csv_record *hdr, struct vt_error *err);

/* 1 and the next record; 0 at the end of the input; a negative code with
 * err filled (see above for which errors the caller may continue after). */
int vt_csv_next(struct vt_csv *c, struct vt_csv_record *rec, struct vt_error *err);

/* Bytes consumed from the FILE so far (for a progress bar). */
int64_t vt_csv_bytes_read(const struct vt_csv *c);

#endif
