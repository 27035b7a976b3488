/* buf.c - growable, capped byte buffer. */
#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
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
