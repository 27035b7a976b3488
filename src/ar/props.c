/*
 * props.c - Java .properties parser (see props.h for the grammar).
 *
 * Two steps per logical line, like java.util.Properties: gather the raw
 * bytes of the logical line (continuations removed, escapes still in place)
 * into `raw`, remembering where each natural line's piece came from so an
 * error can name its line and column; then split key from value and decode
 * the escapes into UTF-8. Strings are kept back to back in one buffer and
 * found through an open-addressing hash table of entry indexes.
 */
#include "ar/props.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/util.h"

struct props_entry {
    size_t key, value;  /* offsets into strings */
    uint32_t hash;
};

struct vt_props {
    struct vt_buf strings;     /* "key\0value\0key\0value\0..." */
    struct props_entry *entries;
    size_t count, cap;
    uint32_t *slots;           /* entry index + 1; 0 = empty */
    size_t nslots;             /* power of two */
};

/* Where a piece of the logical line came from. */
struct segment {
    size_t raw_start;   /* first raw byte of this piece */
    size_t src;         /* its offset in the input */
    size_t line_start;  /* offset of its natural line's first byte */
    int line;
};

struct parser {
    const unsigned char *in;
    size_t len, pos;
    int line;               /* natural line at pos, 1-based */
    size_t line_start;
    struct vt_buf raw;
    struct segment *segs;
    size_t nsegs, segcap;
    struct vt_buf key, value;
    struct vt_error *err;
};

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\f'; }

static uint32_t hash_bytes(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* ---- errors --------------------------------------------------------- */

__attribute__((format(printf, 4, 5)))
static int fail_at(struct parser *p, size_t raw_index, int code, const char *fmt, ...)
{
    const struct segment *sg = &p->segs[0];
    for (size_t i = 1; i < p->nsegs && p->segs[i].raw_start <= raw_index; i++)
        sg = &p->segs[i];
    size_t src = sg->src + (raw_index - sg->raw_start);
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vt_error_set(p->err, code, "", "line %d, column %zu: %s", sg->line,
                 src - sg->line_start + 1, msg);
    if (p->err) {
        p->err->line = sg->line;
        p->err->column = (int)(src - sg->line_start + 1);
        p->err->offset = (int64_t)src;
    }
    return code;
}

/* ---- step 1: one logical line --------------------------------------- */

static int seg_push(struct parser *p)
{
    if (p->nsegs == p->segcap) {
        size_t ncap = p->segcap ? p->segcap * 2 : 8;
        struct segment *n = vt_realloc(p->segs, ncap * sizeof *n);
        if (!n)
            return VT_ENOMEM;
        p->segs = n;
        p->segcap = ncap;
    }
    p->segs[p->nsegs++] = (struct segment){p->raw.len, p->pos, p->line_start, p->line};
    return 0;
}

/* Consume one line terminator at pos ("\r\n" counts once). */
static void eat_newline(struct parser *p)
{
    if (p->in[p->pos] == '\r' && p->pos + 1 < p->len && p->in[p->pos + 1] == '\n')
        p->pos++;
    p->pos++;
    p->line++;
    p->line_start = p->pos;
}

/* Gather the next logical line into p->raw. Returns 1 if there is one,
 * 0 at the end of input, or a negative error. */
static int read_logical_line(struct parser *p)
{
    p->raw.len = 0;
    p->nsegs = 0;
    /* skip blank lines, leading blanks and comments */
    for (;;) {
        while (p->pos < p->len && is_blank(p->in[p->pos]))
            p->pos++;
        if (p->pos >= p->len)
            return 0;
        int c = p->in[p->pos];
        if (c == '\n' || c == '\r') {
            eat_newline(p);
            continue;
        }
        if (c == '#' || c == '!') {
            while (p->pos < p->len && p->in[p->pos] != '\n' && p->in[p->pos] != '\r')
                p->pos++;
            if (p->pos < p->len)
                eat_newline(p);
            continue;
        }
        break;
    }
    int rc = seg_push(p);
    if (rc)
        return rc;
    int backslash = 0;  /* an odd run of backslashes precedes pos */
    while (p->pos < p->len) {
        int c = p->in[p->pos];
        if (c == '\n' || c == '\r') {
            if (!backslash) {
                eat_newline(p);
                return 1;
            }
            /* continuation: drop the backslash and the next line's blanks */
            p->raw.len--;
            eat_newline(p);
            while (p->pos < p->len && is_blank(p->in[p->pos]))
                p->pos++;
            backslash = 0;
            if ((rc = seg_push(p)))
                return rc;
            continue;
        }
        if (c == 0)
            return fail_at(p, p->raw.len, VT_EPARSE, "NUL byte");
        /* append without growing byte by byte: find the run up to the next
         * byte that needs attention */
        size_t start = p->pos;
        while (p->pos < p->len) {
            int d = p->in[p->pos];
            if (d == '\n' || d == '\r' || d == 0)
                break;
            backslash = d == '\\' ? !backslash : 0;
            p->pos++;
        }
        if (p->raw.len + (p->pos - start) > VT_PROPS_MAX_LINE) {
            return fail_at(p, 0, VT_ETOOBIG, "logical line longer than %u bytes",
                           VT_PROPS_MAX_LINE);
        }
        if ((rc = vt_buf_append(&p->raw, p->in + start, p->pos - start)))
            return rc;
    }
    /* end of input: a trailing lone backslash ends the line (Java drops it) */
    if (backslash)
        p->raw.len--;
    return 1;
}

/* ---- step 2: decode escapes ----------------------------------------- */

static int hex4(const unsigned char *s, size_t n, uint32_t *out, size_t *bad)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= n) {
            *bad = i;
            return -1;
        }
        int c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else {
            *bad = i;
            return -1;
        }
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* Decode raw[from, to) into out (UTF-8, NUL-terminated). */
static int decode(struct parser *p, size_t from, size_t to, struct vt_buf *out)
{
    const unsigned char *r = (const unsigned char *)p->raw.data;
    out->len = 0;
    int rc = vt_buf_append(out, "", 0);  /* make sure data is allocated */
    if (rc)
        return rc;
    size_t i = from;
    while (i < to) {
        uint32_t cp = r[i];
        size_t at = i;
        if (cp != '\\') {
            i++;
        } else {
            if (i + 1 >= to)
                return fail_at(p, at, VT_EPARSE, "escape cut short at the end of the line");
            int c = r[i + 1];
            i += 2;
            switch (c) {
            case 't': cp = '\t'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 'f': cp = '\f'; break;
            case 'u': {
                size_t bad;
                if (hex4(r + i, to - i, &cp, &bad)) {
                    if (i + bad >= to)
                        return fail_at(p, at, VT_EPARSE,
                                       "\\u escape cut short (needs 4 hex digits)");
                    char ch[8];
                    unsigned char b = r[i + bad];
                    if (b >= 0x20 && b < 0x7f)
                        snprintf(ch, sizeof ch, "'%c'", b);
                    else
                        snprintf(ch, sizeof ch, "0x%02X", b);
                    return fail_at(p, i + bad, VT_EPARSE, "bad \\u escape: %s is not a hex digit",
                                   ch);
                }
                i += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail_at(p, at, VT_EPARSE, "low surrogate without a high one");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    size_t bad2;
                    if (i + 1 < to && r[i] == '\\' && r[i + 1] == 'u' &&
                        hex4(r + i + 2, to - i - 2, &lo, &bad2) == 0 && lo >= 0xDC00 &&
                        lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    } else {
                        return fail_at(p, at, VT_EPARSE,
                                       "high surrogate not followed by a \\u low surrogate");
                    }
                }
                break;
            }
            default: cp = (uint32_t)c; break;  /* ISO-8859-1 byte, taken as is */
            }
        }
        if (cp == 0)
            return fail_at(p, at, VT_EPARSE, "U+0000 is not allowed");
        char u[4];
        int n = vt_utf8_encode(cp, u);
        if ((rc = vt_buf_append(out, u, (size_t)n)))
            return rc;
    }
    return 0;
}

/* ---- the table ------------------------------------------------------ */

static const char *str_at(const struct vt_props *pr, size_t off) { return pr->strings.data + off; }

static int table_grow(struct vt_props *pr)
{
    size_t n = pr->nslots ? pr->nslots * 2 : 64;
    uint32_t *s = vt_calloc(n, sizeof *s);
    if (!s)
        return VT_ENOMEM;
    for (size_t i = 0; i < pr->count; i++) {
        size_t j = pr->entries[i].hash & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = (uint32_t)(i + 1);
    }
    vt_free(pr->slots);
    pr->slots = s;
    pr->nslots = n;
    return 0;
}

/* Slot of key (occupied) or of the empty slot where it would go. */
static size_t table_find(const struct vt_props *pr, const char *key, uint32_t h)
{
    size_t j = h & (pr->nslots - 1);
    while (pr->slots[j]) {
        const struct props_entry *e = &pr->entries[pr->slots[j] - 1];
        if (e->hash == h && strcmp(str_at(pr, e->key), key) == 0)
            return j;
        j = (j + 1) & (pr->nslots - 1);
    }
    return j;
}

static int props_put(struct vt_props *pr, const struct vt_buf *k, const struct vt_buf *v)
{
    uint32_t h = hash_bytes(k->data);
    if (pr->nslots == 0 || (pr->count + 1) * 2 > pr->nslots) {
        int rc = table_grow(pr);
        if (rc)
            return rc;
    }
    size_t slot = table_find(pr, k->data, h);
    size_t voff = pr->strings.len;
    int rc = vt_buf_append(&pr->strings, v->data, v->len + 1);
    if (rc)
        return rc;
    if (pr->slots[slot]) {  /* a key given again keeps its last value */
        pr->entries[pr->slots[slot] - 1].value = voff;
        return 0;
    }
    if (pr->count >= VT_PROPS_MAX_ENTRIES)
        return VT_ETOOBIG;
    if (pr->count == pr->cap) {
        size_t ncap = pr->cap ? pr->cap * 2 : 64;
        struct props_entry *n = vt_realloc(pr->entries, ncap * sizeof *n);
        if (!n)
            return VT_ENOMEM;
        pr->entries = n;
        pr->cap = ncap;
    }
    size_t koff = pr->strings.len;
    if ((rc = vt_buf_append(&pr->strings, k->data, k->len + 1)))
        return rc;
    pr->entries[pr->count] = (struct props_entry){koff, voff, h};
    pr->slots[slot] = (uint32_t)(pr->count + 1);
    pr->count++;
    return 0;
}

/* ---- public --------------------------------------------------------- */

void vt_props_free(struct vt_props *p)
{
    if (!p)
        return;
    vt_buf_reset(&p->strings);
    vt_free(p->entries);
    vt_free(p->slots);
    vt_free(p);
}

int vt_props_parse(const char *data, size_t len, struct vt_props **out, struct vt_error *err)
{
    *out = NULL;
    vt_error_clear(err);
    if (len > VT_PROPS_MAX_INPUT)
        return vt_error_set(err, VT_ETOOBIG, "", "properties input is %zu bytes, over the %u limit",
                            len, VT_PROPS_MAX_INPUT);
    struct vt_props *pr = vt_calloc(1, sizeof *pr);
    if (!pr)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    /* decoded strings take at most twice the input (ISO-8859-1 -> UTF-8) */
    vt_buf_init(&pr->strings, 2 * (size_t)VT_PROPS_MAX_INPUT + 16);
    struct parser p = {.in = (const unsigned char *)data, .len = len, .line = 1, .err = err};
    vt_buf_init(&p.raw, VT_PROPS_MAX_LINE + 8);
    vt_buf_init(&p.key, 0);
    vt_buf_init(&p.value, 0);
    int rc;
    for (;;) {
        rc = read_logical_line(&p);
        if (rc <= 0)
            break;
        /* split: the key ends at the first unescaped '=', ':' or blank */
        const unsigned char *r = (const unsigned char *)p.raw.data;
        size_t n = p.raw.len, k = 0, v;
        int esc = 0, sep = 0;
        while (k < n) {
            int c = r[k];
            if (!esc && (c == '=' || c == ':' || is_blank(c)))
                break;
            esc = c == '\\' ? !esc : 0;
            k++;
        }
        v = k;
        if (v < n && (r[v] == '=' || r[v] == ':')) {
            sep = 1;
            v++;
        }
        while (v < n && is_blank(r[v]))
            v++;
        if (!sep && v < n && (r[v] == '=' || r[v] == ':')) {
            v++;
            while (v < n && is_blank(r[v]))
                v++;
        }
        if ((rc = decode(&p, 0, k, &p.key)) || (rc = decode(&p, v, n, &p.value)))
            break;
        if ((rc = props_put(pr, &p.key, &p.value))) {
            if (rc == VT_ETOOBIG)
                fail_at(&p, 0, rc, "more than %u entries", VT_PROPS_MAX_ENTRIES);
            break;
        }
    }
    if (rc == VT_ENOMEM)
        vt_error_set(err, VT_ENOMEM, "", "out of memory");
    vt_buf_reset(&p.raw);
    vt_buf_reset(&p.key);
    vt_buf_reset(&p.value);
    vt_free(p.segs);
    if (rc < 0) {
        vt_props_free(pr);
        return rc;
    }
    *out = pr;
    return 0;
}

int vt_props_load(const char *path, struct vt_props **out, struct vt_error *err)
{
    *out = NULL;
    vt_error_clear(err);
    FILE *f = fopen(path, "rb");
    if (!f)
        return vt_error_set(err, errno == ENOENT ? VT_ENOTFOUND : VT_EIO, "", "%s: %s", path,
                            strerror(errno));
    struct vt_buf b;
    vt_buf_init(&b, VT_PROPS_MAX_INPUT);
    char chunk[65536];
    size_t got;
    int rc = 0;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if ((rc = vt_buf_append(&b, chunk, got)))
            break;
    }
    if (!rc && ferror(f))
        rc = VT_EIO;
    fclose(f);
    if (rc) {
        vt_buf_reset(&b);
        if (rc == VT_ETOOBIG)
            return vt_error_set(err, rc, "", "%s: over the %u byte limit", path,
                                VT_PROPS_MAX_INPUT);
        return vt_error_set(err, rc, "", "%s: %s", path, rc == VT_EIO ? "read error" : "out of memory");
    }
    rc = vt_props_parse(b.data ? b.data : "", b.len, out, err);
    vt_buf_reset(&b);
    if (rc && err) {
        char msg[sizeof err->message + 4096];
        int n = snprintf(msg, sizeof msg, "%s: %s", path, err->message);
        size_t keep = n < 0 ? 0 : (size_t)n;
        if (keep >= sizeof err->message)
            keep = sizeof err->message - 1;
        memcpy(err->message, msg, keep);
        err->message[keep] = '\0';
    }
    return rc;
}

const char *vt_props_get(const struct vt_props *p, const char *key)
{
    if (!p || !p->nslots)
        return NULL;
    size_t j = table_find(p, key, hash_bytes(key));
    return p->slots[j] ? str_at(p, p->entries[p->slots[j] - 1].value) : NULL;
}

size_t vt_props_count(const struct vt_props *p) { return p ? p->count : 0; }

const char *vt_props_key_at(const struct vt_props *p, size_t i)
{
    return i < p->count ? str_at(p, p->entries[i].key) : NULL;
}

const char *vt_props_value_at(const struct vt_props *p, size_t i)
{
    return i < p->count ? str_at(p, p->entries[i].value) : NULL;
}
