/* log.c - logfmt lines on stderr, one write(2) per line. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/util.h"

static atomic_int current_level = VT_LOG_INFO;
static const char *names[] = {"debug", "info", "warn", "error", "off"};

void vt_log_set_level(enum vt_log_level level) { atomic_store(&current_level, (int)level); }
enum vt_log_level vt_log_get_level(void) { return (enum vt_log_level)atomic_load(&current_level); }

int vt_log_parse_level(const char *s, enum vt_log_level *out)
{
    for (int i = 0; i <= VT_LOG_OFF; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum vt_log_level)i;
            return 0;
        }
    }
    return VT_EINVAL;
}

void vt_log(enum vt_log_level level, const char *msg, const char *fmt, ...)
{
    if ((int)level < atomic_load(&current_level) || level >= VT_LOG_OFF)
        return;
    char line[2048];
    char ts[40];
    vt_time_format_iso(vt_time_now_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "ts=%s level=%s msg=\"%s\"", ts, names[level], msg);
    if (n < 0)
        return;
    if (fmt && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
