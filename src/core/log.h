/*
 * log.h - one-line structured logs in logfmt on standard error.
 *
 *   ts=2026-11-22T19:20:01.123Z level=info msg="request" rid=7 method=GET ...
 *
 * vt_log() takes the message and then "key=value" pairs already formatted by
 * the caller through the printf-style tail. Thread-safe: each line is written
 * with a single write(2).
 */
#ifndef VT_CORE_LOG_H
#define VT_CORE_LOG_H

enum vt_log_level { VT_LOG_DEBUG, VT_LOG_INFO, VT_LOG_WARN, VT_LOG_ERROR, VT_LOG_OFF };

void vt_log_set_level(enum vt_log_level level);
enum vt_log_level vt_log_get_level(void);
/* "debug", "info", "warn", "error", "off"; returns 0 or VT_EINVAL. */
int vt_log_parse_level(const char *s, enum vt_log_level *out);

/* fmt (may be NULL) is appended after msg="..." as extra key=value pairs. */
void vt_log(enum vt_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define vt_debug(msg, ...) vt_log(VT_LOG_DEBUG, msg, __VA_ARGS__)
#define vt_info(msg, ...) vt_log(VT_LOG_INFO, msg, __VA_ARGS__)
#define vt_warn(msg, ...) vt_log(VT_LOG_WARN, msg, __VA_ARGS__)
#define vt_errorlog(msg, ...) vt_log(VT_LOG_ERROR, msg, __VA_ARGS__)

#endif
