/*
 * error.h - project-wide error codes and the error detail struct.
 *
 * Every fallible function returns 0 or a negative VT_E* code; callers that
 * need to tell a user *what* went wrong also pass a struct vt_error that the
 * callee fills (message, offending field, byte offset or line/column).
 * vt_strerror() names every code. Thread-safe: no shared state.
 */
#ifndef VT_CORE_ERROR_H
#define VT_CORE_ERROR_H

#include <stdint.h>

enum vt_errcode {
    VT_OK = 0,
    VT_ENOMEM = -1,       /* allocation failed */
    VT_EINVAL = -2,       /* a field has an invalid value (HTTP 422) */
    VT_EPARSE = -3,       /* malformed input: JSON, CSV, properties (400) */
    VT_ENOTFOUND = -4,    /* no such item, user, key, route (404) */
    VT_ECONFLICT = -5,    /* already exists (409) */
    VT_ETOOBIG = -6,      /* body, batch or string over its limit (413) */
    VT_EIO = -7,          /* file system error */
    VT_EDB = -8,          /* database error */
    VT_EAUTH = -9,        /* missing or unknown credentials (401) */
    VT_EFORBIDDEN = -10,  /* credentials lack the scope (403) */
    VT_ERATE = -11,       /* rate limit exceeded (429) */
    VT_EUNAVAIL = -12,    /* shutting down or overloaded (503) */
    VT_EMEDIA = -13,      /* unsupported media type (415) */
    VT_EFORMAT = -14,     /* a file is not in the expected format */
    VT_ERANGE = -15,      /* a number is out of range (422) */
    VT_EMETHOD = -16,     /* method not allowed on this route (405) */
    VT_EINTERNAL = -17    /* a bug or an unexpected library failure (500) */
};

struct vt_error {
    int code;            /* one of enum vt_errcode */
    char field[64];      /* offending field ("price", "dims_cm.w"), may be "" */
    char message[320];   /* human-readable, one line */
    int64_t offset;      /* byte offset in the input, -1 if unknown */
    int line, column;    /* 1-based position for text inputs, 0 if unknown */
};

/* Short stable name of a code: "invalid_field", "not_found", ... */
const char *vt_strerror(int code);

/* Reset to "no error". Safe on NULL. */
void vt_error_clear(struct vt_error *e);

/* Fill e (if not NULL) and return code, so callers can `return vt_error_set(...)`. */
int vt_error_set(struct vt_error *e, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
