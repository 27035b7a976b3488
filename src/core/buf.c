/* buf.c - growable, capped byte buffer. */
#include "core/buf.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

void vt_buf_init(struct vt_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
}

void vt_buf_reset(struct vt_buf *b)
{
    vt_free(b->data);
    size_t max = b->max;
    vt_buf_init(b, max);
}

static int grow(struct vt_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return VT_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = vt_realloc(b->data, cap);
    if (!d)
        return VT_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int vt_buf_append(struct vt_buf *b, const void *p, size_t n)
{
    int rc = grow(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int vt_buf_puts(struct vt_buf *b, const char *s)
{
    return vt_buf_append(b, s, strlen(s));
}

int vt_buf_vprintf(struct vt_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return VT_EINVAL;
    int rc = grow(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int vt_buf_printf(struct vt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vt_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *vt_buf_steal(struct vt_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    if (!d) {
        d = vt_malloc(1);
        if (d)
            d[0] = '\0';
    }
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

/* Length of the UTF-8 sequence at p (1-4), or 0 when it is not valid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

int vt_buf_json_str(struct vt_buf *b, const char *s)
{
    if (!s)
        return vt_buf_append(b, "null", 4);
    const unsigned char *p = (const unsigned char *)s, *run = p;
    int rc = vt_buf_append(b, "\"", 1);
    while (!rc && *p) {
        unsigned c = *p;
        size_t n = c >= 0x20 && c != '"' && c != '\\' ? utf8_len(p) : 0;
        if (n) {
            p += n;
            continue;
        }
        /* flush the plain run, then the escape */
        rc = vt_buf_append(b, run, (size_t)(p - run));
        char esc[8];
        const char *e = esc;
        size_t elen = 2;
        if (c == '"')
            e = "\\\"";
        else if (c == '\\')
            e = "\\\\";
        else if (c == '\n')
            e = "\\n";
        else if (c == '\r')
            e = "\\r";
        else if (c == '\t')
            e = "\\t";
        else if (c == '\b')
            e = "\\b";
        else if (c == '\f')
            e = "\\f";
        else if (c < 0x20)
            elen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        else
            e = "\xEF\xBF\xBD", elen = 3; /* a byte outside valid UTF-8 */
        if (!rc)
            rc = vt_buf_append(b, e, elen);
        p++;
        run = p;
    }
    if (!rc)
        rc = vt_buf_append(b, run, (size_t)(p - run));
    return rc ? rc : vt_buf_append(b, "\"", 1);
}

int vt_buf_json_real(struct vt_buf *b, double x, int digits)
{
    if (!isfinite(x))
        return vt_buf_append(b, "null", 4);
    char t[40];
    int n = snprintf(t, sizeof t, "%.*g", digits < 1 ? 1 : digits > 17 ? 17 : digits, x);
    if (n > 0 && isinf(strtod(t, NULL))) /* rounded past the largest double */
        n = snprintf(t, sizeof t, "%.17g", x);
    if (n < 0 || (size_t)n >= sizeof t - 2)
        return VT_EINVAL;
    if (!strpbrk(t, ".eE")) {
        memcpy(t + n, ".0", 3);
        n += 2;
    }
    return vt_buf_append(b, t, (size_t)n);
}
