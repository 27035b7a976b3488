/*
 * alloc.h - the project's allocation wrappers.
 *
 * All heap memory goes through these so that /metrics can report bytes in
 * use and tests can make the Nth allocation fail. Each block carries a
 * 16-byte header holding its size. vt_free(NULL) is a no-op.
 * Thread-safe (atomic counters).
 */
#ifndef VT_CORE_ALLOC_H
#define VT_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *vt_malloc(size_t n);
void *vt_calloc(size_t count, size_t size);   /* overflow-checked */
void *vt_realloc(void *p, size_t n);
void vt_free(void *p);
char *vt_strdup(const char *s);
char *vt_strndup(const char *s, size_t n);

/* The size that was asked for when p was allocated (vt_malloc, vt_calloc or
 * vt_realloc; read from the block header). p must come from the wrappers;
 * NULL gives 0. */
size_t vt_alloc_size(const void *p);

/* Bytes currently allocated through the wrappers. */
int64_t vt_alloc_bytes_in_use(void);

/* Test hook: make the nth allocation from now fail (1 = the next one);
 * 0 disables. */
void vt_alloc_fail_after(int64_t n);

/* Route jansson's allocations through the wrappers. Call once at start. */
void vt_alloc_install_json(void);

/* Overflow-checked a*b; returns 0 and sets *out, or -1 on overflow. */
int vt_mul_size(size_t a, size_t b, size_t *out);

#endif
