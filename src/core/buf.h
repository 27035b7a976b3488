/*
 * buf.h - growable byte buffer with a hard cap (curl's dynbuf idea).
 *
 * Content is always NUL-terminated so it can be used as a C string. A buffer
 * that would grow past its cap fails with VT_ETOOBIG and keeps its content.
 * Not thread-safe; one owner. vt_buf_reset() frees the storage.
 */
#ifndef VT_CORE_BUF_H
#define VT_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct vt_buf {
    char *data;   /* NUL-terminated, NULL until the first append */
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t max;   /* largest len allowed; 0 means SIZE_MAX/2 */
};

void vt_buf_init(struct vt_buf *b, size_t max);
void vt_buf_reset(struct vt_buf *b);
int vt_buf_append(struct vt_buf *b, const void *p, size_t n);
int vt_buf_puts(struct vt_buf *b, const char *s);
int vt_buf_printf(struct vt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vt_buf_vprintf(struct vt_buf *b, const char *fmt, va_list ap);
/* JSON output without building a tree (the serving paths write answers
 * straight into a buffer). s as a JSON string: quoted, '"', '\\' and
 * control characters escaped as jansson does, UTF-8 kept as is, and any
 * byte that is not part of valid UTF-8 written as U+FFFD; NULL gives
 * null. */
int vt_buf_json_str(struct vt_buf *b, const char *s);
/* x as a JSON number with at most `digits` significant digits (%.*g; 17
 * when fewer would round past the largest double), always with a '.' or
 * an exponent (so it reads back as a real); a value that is not finite
 * gives null. */
int vt_buf_json_real(struct vt_buf *b, double x, int digits);
/* Hand the storage to the caller (vt_free it) and leave b empty. */
char *vt_buf_steal(struct vt_buf *b, size_t *len);

#endif
