/* error.c - names of error codes and helpers to fill struct vt_error. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *vt_strerror(int code)
{
    switch (code) {
    case VT_OK: return "ok";
    case VT_ENOMEM: return "out_of_memory";
    case VT_EINVAL: return "invalid_field";
    case VT_EPARSE: return "bad_request";
    case VT_ENOTFOUND: return "not_found";
    case VT_ECONFLICT: return "conflict";
    case VT_ETOOBIG: return "too_large";
    case VT_EIO: return "io_error";
    case VT_EDB: return "database_error";
    case VT_EAUTH: return "unauthorized";
    case VT_EFORBIDDEN: return "forbidden";
    case VT_ERATE: return "rate_limited";
    case VT_EUNAVAIL: return "unavailable";
    case VT_EMEDIA: return "unsupported_media_type";
    case VT_EFORMAT: return "bad_format";
    case VT_ERANGE: return "out_of_range";
    case VT_EMETHOD: return "method_not_allowed";
    case VT_EINTERNAL: return "internal_error";
    default: return "unknown_error";
    }
}

void vt_error_clear(struct vt_error *e)
{
    if (!e)
        return;
    memset(e, 0, sizeof *e);
    e->offset = -1;
}

int vt_error_set(struct vt_error *e, int code, const char *field, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return code;
}
