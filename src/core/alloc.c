/* alloc.c - counting allocator with failure injection for tests. */
#include "core/alloc.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16  /* keeps the user pointer 16-byte aligned */

static atomic_llong bytes_in_use;
static atomic_llong fail_countdown;

static int should_fail(void)
{
    if (atomic_load_explicit(&fail_countdown, memory_order_relaxed) <= 0)
        return 0;
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void *vt_malloc(size_t n)
{
    if (n > SIZE_MAX - HDR || should_fail())
        return NULL;
    unsigned char *p = malloc(n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    atomic_fetch_add(&bytes_in_use, (long long)n);
    return p + HDR;
}

void *vt_calloc(size_t count, size_t size)
{
    size_t n;
    if (vt_mul_size(count, size, &n) < 0)
        return NULL;
    void *p = vt_malloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *vt_realloc(void *p, size_t n)
{
    if (!p)
        return vt_malloc(n);
    if (n > SIZE_MAX - HDR || should_fail())
        return NULL;
    unsigned char *base = (unsigned char *)p - HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    unsigned char *q = realloc(base, n + HDR);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof n);
    atomic_fetch_add(&bytes_in_use, (long long)n - (long long)old);
    return q + HDR;
}

void vt_free(void *p)
{
    if (!p)
        return;
    unsigned char *base = (unsigned char *)p - HDR;
    size_t n;
    memcpy(&n, base, sizeof n);
    atomic_fetch_sub(&bytes_in_use, (long long)n);
    free(base);
}

size_t vt_alloc_size(const void *p)
{
    size_t n;
    if (!p)
        return 0;
    memcpy(&n, (const unsigned char *)p - HDR, sizeof n);
    return n;
}

char *vt_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *d = vt_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *vt_strdup(const char *s)
{
    return s ? vt_strndup(s, strlen(s)) : NULL;
}

int64_t vt_alloc_bytes_in_use(void)
{
    return atomic_load(&bytes_in_use);
}

void vt_alloc_fail_after(int64_t n)
{
    atomic_store(&fail_countdown, n);
}

void vt_alloc_install_json(void)
{
    json_set_alloc_funcs(vt_malloc, vt_free);
}

int vt_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}
