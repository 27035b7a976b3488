/*
 * csv.c - streaming RFC 4180 reader (grammar and error contract in csv.h).
 *
 * One byte at a time through a state machine over a 64 KiB read buffer.
 * A record's fields are stored back to back in one growable array, each
 * followed by a NUL, so a record costs no allocation once the array has
 * grown to the longest record seen. When a record goes wrong the first
 * problem is kept as "pending" and the machine keeps consuming (tracking
 * quotes) without storing until the record ends, so the caller can carry
 * on with the next record.
 */
#include "core/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"

enum csv_state {
    ST_FIELD_START, /* nothing of the current field read yet */
    ST_BARE,        /* inside an unquoted field */
    ST_QUOTED,      /* inside a quoted field */
    ST_QUOTE_SEEN,  /* a '"' inside a quoted field: "" or the closing quote */
    ST_SKIP_LINE    /* lost track of quoting: skip to the end of the line */
};

/* A position in the input, for messages. */
struct csv_pos {
    int64_t line, offset;
    int col;
};

struct vt_csv {
    FILE *f;
    struct vt_csv_options o;
    unsigned char in[1 << 16];
    size_t in_len, in_pos;
    int eof, ended, started;
    int64_t bytes;          /* consumed so far */
    int64_t line;           /* line of the next byte */
    int col;                /* characters already read on that line */
    int prev_cr;
    struct csv_pos pos;     /* of the byte last returned */

    char *row;              /* the fields of the current record, NUL-separated */
    size_t row_len, row_cap;
    size_t *starts, *lens;  /* per stored field */
    char **ptrs;
    size_t nstored, fields_cap;
    size_t expect;          /* fields per record, 0 before a header */

    char *hdr_row;          /* a private copy of the header record */
    char **hdr_ptrs;
    size_t *hdr_lens;
    size_t hdr_n;
    int64_t hdr_line;
};

int vt_csv_new(FILE *f, const struct vt_csv_options *o, struct vt_csv **out)
{
    struct vt_csv *c = vt_calloc(1, sizeof *c);
    if (!c)
        return VT_ENOMEM;
    c->f = f;
    if (o)
        c->o = *o;
    if (!c->o.max_field_bytes)
        c->o.max_field_bytes = 1 << 20;
    if (!c->o.max_record_bytes)
        c->o.max_record_bytes = 4 << 20;
    if (!c->o.max_fields)
        c->o.max_fields = 1024;
    c->line = 1;
    *out = c;
    return 0;
}

void vt_csv_free(struct vt_csv *c)
{
    if (!c)
        return;
    vt_free(c->row);
    vt_free(c->starts);
    vt_free(c->lens);
    vt_free(c->ptrs);
    vt_free(c->hdr_row);
    vt_free(c->hdr_ptrs);
    vt_free(c->hdr_lens);
    vt_free(c);
}

int64_t vt_csv_bytes_read(const struct vt_csv *c) { return c->bytes; }

/* The next byte, -1 at the end of the input, -2 on a read error. Keeps the
 * line and column of that byte in c->pos. */
static int next_byte(struct vt_csv *c)
{
    if (c->in_pos == c->in_len) {
        if (c->eof)
            return -1;
        c->in_len = fread(c->in, 1, sizeof c->in, c->f);
        c->in_pos = 0;
        if (c->in_len == 0) {
            c->eof = 1;
            return ferror(c->f) ? -2 : -1;
        }
        if (!c->started) {
            c->started = 1;
            if (c->in_len >= 3 && memcmp(c->in, "\xEF\xBB\xBF", 3) == 0) {
                c->in_pos = 3;
                c->bytes = 3;
                if (c->in_len == 3)
                    return next_byte(c);
            }
        }
    }
    int b = c->in[c->in_pos++];
    c->pos.offset = c->bytes++;
    c->pos.line = c->line;
    if ((b & 0xC0) != 0x80)
        c->col++;
    c->pos.col = c->col;
    if (b == '\r' || (b == '\n' && !c->prev_cr)) {
        c->line++;
        c->col = 0;
    } else if (b == '\n') {
        c->col = 0; /* the LF of a CRLF: the CR already ended the line */
    }
    c->prev_cr = b == '\r';
    return b;
}

static void set_pos(struct vt_error *e, struct csv_pos p)
{
    e->line = (int)(p.line > 0x7fffffff ? 0x7fffffff : p.line);
    e->column = p.col;
    e->offset = p.offset;
}

/* Where byte k of a field's content sits in the input. A quoted field's
 * content starts one character after its opening quote, and each '"' in it
 * stood for two in the input. */
static struct csv_pos content_pos(const char *s, size_t k, struct csv_pos start, int quoted)
{
    struct csv_pos p = start;
    int prev_cr = 0;
    for (size_t i = 0; i < k; i++) {
        unsigned char b = (unsigned char)s[i];
        p.offset += 1 + (quoted && b == '"');
        if (b == '\r' || (b == '\n' && !prev_cr)) {
            p.line++;
            p.col = 1;
        } else if (b != '\n' && (b & 0xC0) != 0x80) {
            p.col += 1 + (quoted && b == '"');
        }
        prev_cr = b == '\r';
    }
    return p;
}

static int grow_fields(struct vt_csv *c)
{
    if (c->nstored < c->fields_cap)
        return 0;
    size_t cap = c->fields_cap ? c->fields_cap * 2 : 16;
    if (cap > c->o.max_fields)
        cap = c->o.max_fields;
    size_t *s = vt_realloc(c->starts, cap * sizeof *s);
    if (!s)
        return VT_ENOMEM;
    c->starts = s;
    size_t *l = vt_realloc(c->lens, cap * sizeof *l);
    if (!l)
        return VT_ENOMEM;
    c->lens = l;
    char **p = vt_realloc(c->ptrs, cap * sizeof *p);
    if (!p)
        return VT_ENOMEM;
    c->ptrs = p;
    c->fields_cap = cap;
    return 0;
}

/* Make room for one more byte in the row; VT_ETOOBIG past the record cap. */
static int row_reserve(struct vt_csv *c)
{
    if (c->row_len < c->row_cap)
        return 0;
    /* The row holds the record's content (at most max_record_bytes, checked
     * by put_byte) plus one NUL per stored field (at most max_fields). */
    size_t hard = c->o.max_record_bytes + c->o.max_fields + 1;
    size_t cap = c->row_cap ? c->row_cap * 2 : 256;
    if (cap > hard)
        cap = hard;
    if (cap <= c->row_len)
        return VT_ETOOBIG;
    char *r = vt_realloc(c->row, cap);
    if (!r)
        return VT_ENOMEM;
    c->row = r;
    c->row_cap = cap;
    return 0;
}

/* The state of the record being read. */
struct rec_state {
    struct vt_error pend;   /* first problem of this record (code 0: none) */
    int discard;            /* a problem was found: consume, store nothing */
    int too_many;           /* more fields than expected */
    int count_msg;          /* pend is "too many fields": reword it with the count */
    size_t count;           /* fields seen, stored or not */
    size_t f_start;         /* row offset of the current field */
    struct csv_pos f_pos;   /* first byte of the current field */
    int quoted;
};

static void pend(struct rec_state *r, struct csv_pos p, int code, const char *msg)
{
    r->discard = 1;
    if (r->pend.code)
        return;
    vt_error_set(&r->pend, code, "", "%s", msg);
    set_pos(&r->pend, p);
}

/* Append one content byte; 0, or VT_ENOMEM (final). */
static int put_byte(struct vt_csv *c, struct rec_state *r, int b)
{
    if (r->discard)
        return 0;
    if (c->row_len - r->f_start >= c->o.max_field_bytes) {
        char msg[96];
        snprintf(msg, sizeof msg, "field longer than %zu bytes", c->o.max_field_bytes);
        pend(r, r->f_pos, VT_ETOOBIG, msg);
        return 0;
    }
    int rc = c->row_len - c->nstored >= c->o.max_record_bytes ? VT_ETOOBIG : row_reserve(c);
    if (rc == VT_ETOOBIG) {
        char msg[96];
        snprintf(msg, sizeof msg, "record longer than %zu bytes", c->o.max_record_bytes);
        pend(r, c->pos, VT_ETOOBIG, msg);
        return 0;
    }
    if (rc)
        return rc;
    c->row[c->row_len++] = (char)b;
    return 0;
}

static int begin_field(struct vt_csv *c, struct rec_state *r)
{
    size_t limit = c->expect ? c->expect : c->o.max_fields;
    if (r->count == limit && !r->too_many) {
        r->too_many = 1;
        if (!c->expect) {
            char msg[96];
            snprintf(msg, sizeof msg, "more than %zu fields in a record", c->o.max_fields);
            pend(r, c->pos, VT_ETOOBIG, msg);
        } else {
            /* Reworded at the end of the record, once the count is known. */
            r->count_msg = !r->pend.code;
            pend(r, c->pos, VT_EFORMAT, "too many fields");
        }
    }
    r->f_start = c->row_len;
    r->f_pos = c->pos;
    r->quoted = 0;
    return 0;
}

static int end_field(struct vt_csv *c, struct rec_state *r)
{
    r->count++;
    if (r->discard)
        return 0;
    size_t len = c->row_len - r->f_start, bad;
    if (len && !vt_utf8_valid(c->row + r->f_start, len, &bad)) {
        struct csv_pos start = r->f_pos;
        if (r->quoted) {
            start.col++;
            start.offset++;
        }
        struct csv_pos p = content_pos(c->row + r->f_start, bad, start, r->quoted);
        pend(r, p, VT_EFORMAT, c->row[r->f_start + bad] ? "invalid UTF-8" : "NUL byte");
        return 0;
    }
    /* The NUL terminator: room for it is outside the record cap. */
    if (c->row_len == c->row_cap) {
        char *nr = vt_realloc(c->row, c->row_cap + 1);
        if (!nr)
            return VT_ENOMEM;
        c->row = nr;
        c->row_cap++;
    }
    c->row[c->row_len++] = '\0';
    int rc = grow_fields(c);
    if (rc)
        return rc;
    c->starts[c->nstored] = r->f_start;
    c->lens[c->nstored] = len;
    c->nstored++;
    return 0;
}

static int is_eol(int b) { return b == '\n' || b == '\r' || b == -1; }

static int read_record(struct vt_csv *c, struct vt_csv_record *rec, struct vt_error *err)
{
    struct rec_state r;
    memset(&r, 0, sizeof r);
    vt_error_clear(&r.pend);
    c->row_len = 0;
    c->nstored = 0;
    if (c->ended)
        return 0;

    enum csv_state st = ST_FIELD_START;
    int in_record = 0, rc = 0;
    int64_t rec_line = 0;
    struct csv_pos quote_pos = {0, 0, 0}, open_pos = {0, 0, 0};
    for (;;) {
        int b = next_byte(c);
        if (b == -2) {
            c->ended = 1;
            return vt_error_set(err, VT_EIO, "", "read error: %s", strerror(errno));
        }
        if (!in_record) {
            if (b == -1) {
                c->ended = 1;
                return 0;
            }
            if (b == '\r' || b == '\n')
                continue; /* empty line */
            in_record = 1;
            rec_line = c->pos.line;
        }
        switch (st) {
        case ST_FIELD_START:
            if ((rc = begin_field(c, &r)))
                return rc;
            if (b == '"') {
                r.quoted = 1;
                open_pos = c->pos;
                st = ST_QUOTED;
                continue;
            }
            st = ST_BARE; /* and b is the field's first byte: */
            /* fall through */
        case ST_BARE:
            if (b == ',') {
                rc = end_field(c, &r);
                st = ST_FIELD_START;
            } else if (is_eol(b)) {
                rc = end_field(c, &r);
                goto record_end;
            } else if (b == '"') {
                pend(&r, c->pos, VT_EFORMAT,
                     "stray quote in an unquoted field (quote the whole field and write \"\" "
                     "for a quote)");
                st = ST_SKIP_LINE;
            } else {
                rc = put_byte(c, &r, b);
            }
            break;
        case ST_QUOTED:
            if (b == -1) {
                c->ended = 1;
                vt_error_set(err, VT_EFORMAT, "", "unterminated quoted field");
                if (err)
                    set_pos(err, open_pos);
                return VT_EFORMAT;
            }
            if (b == '"') {
                quote_pos = c->pos;
                st = ST_QUOTE_SEEN;
            } else {
                rc = put_byte(c, &r, b);
            }
            break;
        case ST_QUOTE_SEEN:
            if (b == '"') {
                rc = put_byte(c, &r, '"');
                st = ST_QUOTED;
            } else if (b == ',') {
                rc = end_field(c, &r);
                st = ST_FIELD_START;
            } else if (is_eol(b)) {
                rc = end_field(c, &r);
                goto record_end;
            } else {
                pend(&r, quote_pos, VT_EFORMAT,
                     "unescaped quote inside a quoted field (write \"\" for a quote)");
                st = ST_SKIP_LINE;
            }
            break;
        case ST_SKIP_LINE:
            if (is_eol(b))
                goto record_end;
            break;
        }
        if (rc)
            return rc;
    }

record_end:
    if (rc)
        return rc;
    if (r.count_msg)
        snprintf(r.pend.message, sizeof r.pend.message, "%zu fields where the header has %zu",
                 r.count, c->expect);
    if (!r.pend.code && c->expect && r.count < c->expect) {
        char msg[96];
        snprintf(msg, sizeof msg, "%zu field%s where the header has %zu", r.count,
                 r.count == 1 ? "" : "s", c->expect);
        pend(&r, c->pos, VT_EFORMAT, msg);
    }
    if (r.pend.code) {
        if (err)
            *err = r.pend;
        return r.pend.code;
    }
    for (size_t i = 0; i < c->nstored; i++)
        c->ptrs[i] = c->row + c->starts[i];
    rec->n = c->nstored;
    rec->fields = c->ptrs;
    rec->lens = c->lens;
    rec->line = rec_line;
    return 1;
}

int vt_csv_next(struct vt_csv *c, struct vt_csv_record *rec, struct vt_error *err)
{
    return read_record(c, rec, err);
}

int vt_csv_header(struct vt_csv *c, struct vt_csv_record *hdr, struct vt_error *err)
{
    struct vt_csv_record r;
    int rc = read_record(c, &r, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return vt_error_set(err, VT_EFORMAT, "", "empty input: expected a header row");
    c->hdr_row = vt_malloc(c->row_len ? c->row_len : 1);
    c->hdr_ptrs = vt_calloc(r.n, sizeof *c->hdr_ptrs);
    c->hdr_lens = vt_calloc(r.n, sizeof *c->hdr_lens);
    if (!c->hdr_row || !c->hdr_ptrs || !c->hdr_lens)
        return VT_ENOMEM;
    memcpy(c->hdr_row, c->row, c->row_len);
    for (size_t i = 0; i < r.n; i++) {
        c->hdr_ptrs[i] = c->hdr_row + c->starts[i];
        c->hdr_lens[i] = c->lens[i];
    }
    c->hdr_n = r.n;
    c->hdr_line = r.line;
    c->expect = r.n;
    hdr->n = c->hdr_n;
    hdr->fields = c->hdr_ptrs;
    hdr->lens = c->hdr_lens;
    hdr->line = c->hdr_line;
    return 0;
}
