/*
 * util.h - small pure helpers: clocks, ISO-8601 times, UTF-8 checks.
 * All functions are thread-safe and allocate nothing.
 */
#ifndef VT_CORE_UTIL_H
#define VT_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the Unix epoch. */
int64_t vt_time_now_ms(void);
/* Monotonic nanoseconds, for measuring durations. */
int64_t vt_time_mono_ns(void);

/* Format ms-since-epoch as "2026-11-22T19:20:01.123Z". out must hold 25 bytes. */
void vt_time_format_iso(int64_t ms, char *out, size_t outsz);

/* Parse ISO-8601 / RFC 3339: "2026-11-22", "2026-11-22T19:20:01Z",
 * "...T19:20:01.5+08:00". Returns 0 and ms since epoch, or VT_EINVAL. */
int vt_time_parse_iso(const char *s, int64_t *ms);

/* 1 if s[0..n) is well-formed UTF-8 without NUL bytes, surrogates or
 * overlong forms; 0 otherwise, with *bad_offset set to the first bad byte. */
int vt_utf8_valid(const char *s, size_t n, size_t *bad_offset);

/* Number of code points in well-formed UTF-8. */
size_t vt_utf8_len(const char *s, size_t n);

/* 1 if the UTF-8 string contains a CJK unified ideograph. */
int vt_utf8_has_cjk(const char *s, size_t n);

/* Decode one code point at s (well-formed input); returns its byte length, or 0 at end. */
int vt_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Append the UTF-8 encoding of cp to out (room for 4 bytes); returns bytes written. */
int vt_utf8_encode(uint32_t cp, char *out);

#endif
