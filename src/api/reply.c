/*
 * reply.c - building and queueing responses, and the small request helpers
 * every handler shares (headers, query integers, path ids).
 *
 * Every response leaves through api_reply_queue(), which adds the request
 * id and records the status and size for the log line and the metrics.
 * Error bodies always have the one shape
 *   {"error": {"code": "<vt_strerror>", "message": "...", "field": "..."}}
 * with "field" present only when a field is to blame.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"

unsigned api_status_of(int code)
{
    switch (code) {
    case VT_OK: return MHD_HTTP_OK;
    case VT_EINVAL:
    case VT_ERANGE: return MHD_HTTP_UNPROCESSABLE_CONTENT;
    case VT_EPARSE:
    case VT_EFORMAT: return MHD_HTTP_BAD_REQUEST;
    case VT_ENOTFOUND: return MHD_HTTP_NOT_FOUND;
    case VT_ECONFLICT: return MHD_HTTP_CONFLICT;
    case VT_ETOOBIG: return MHD_HTTP_CONTENT_TOO_LARGE;
    case VT_EAUTH: return MHD_HTTP_UNAUTHORIZED;
    case VT_EFORBIDDEN: return MHD_HTTP_FORBIDDEN;
    case VT_ERATE: return MHD_HTTP_TOO_MANY_REQUESTS;
    case VT_EUNAVAIL:
    case VT_ENOMEM: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case VT_EMEDIA: return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
    case VT_EMETHOD: return MHD_HTTP_METHOD_NOT_ALLOWED;
    default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

void api_reply_queue(struct api_req *r, unsigned status, struct MHD_Response *resp,
                     uint64_t bytes)
{
    if (!resp) {
        /* Nothing to send: MHD closes the connection when no response is
         * queued and the handler returns MHD_NO; record it as a 500. */
        r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return;
    }
    if (r->status) {
        /* A handler answered twice: a bug, but not one to crash a server on. */
        vt_errorlog("double reply", "rid=%s status=%u", r->rid, status);
        MHD_destroy_response(resp);
        return;
    }
    MHD_add_response_header(resp, "X-Request-Id", r->rid);
    if (atomic_load(&r->srv->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ok != MHD_YES) {
        /* The handler then returns MHD_NO and the connection is closed. */
        vt_warn("response not queued", "rid=%s status=%u", r->rid, status);
        return;
    }
    r->status = (int)status;
    r->resp_bytes = bytes;
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return vt_buf_append(data, buf, size) ? -1 : 0;
}

static struct MHD_Response *json_response(json_t *j, uint64_t *bytes)
{
    struct vt_buf b;
    vt_buf_init(&b, 0);
    /* 15 significant digits: a decimal given with up to 15 (a price, a size
     * in cm) reads back as written, not as 129.09999999999999. */
    if (json_dump_callback(j, dump_cb, &b, JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0 ||
        vt_buf_append(&b, "\n", 1)) {
        vt_buf_reset(&b);
        return NULL;
    }
    size_t len;
    char *data = vt_buf_steal(&b, &len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, data, vt_free);
    if (!resp) {
        vt_free(data);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    *bytes = len;
    return resp;
}

/* The last resort when even the error body cannot be built. */
static void reply_plain_500(struct api_req *r)
{
    static const char body[] =
        "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    api_reply_queue(r, MHD_HTTP_SERVICE_UNAVAILABLE, resp, sizeof body - 1);
}

void api_reply_json(struct api_req *r, unsigned status, json_t *j)
{
    uint64_t bytes = 0;
    struct MHD_Response *resp = j ? json_response(j, &bytes) : NULL;
    json_decref(j);
    if (!resp) {
        reply_plain_500(r);
        return;
    }
    api_reply_queue(r, status, resp, bytes);
}

void api_reply_json_buf(struct api_req *r, unsigned status, struct vt_buf *b)
{
    if (vt_buf_append(b, "\n", 1)) {
        vt_buf_reset(b);
        reply_plain_500(r);
        return;
    }
    size_t len;
    char *data = vt_buf_steal(b, &len);
    struct MHD_Response *resp =
        data ? MHD_create_response_from_buffer_with_free_callback(len, data, vt_free) : NULL;
    if (!resp) {
        vt_free(data);
        reply_plain_500(r);
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    api_reply_queue(r, status, resp, len);
}

void api_reply_empty(struct api_req *r, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    api_reply_queue(r, status, resp, 0);
}

/* A JSON string from bytes that may not be UTF-8 (messages can quote
 * input): anything that would not encode becomes '?'. */
static json_t *safe_string(const char *s)
{
    size_t n = strlen(s), bad;
    if (vt_utf8_valid(s, n, &bad))
        return json_stringn(s, n);
    char *c = vt_strdup(s);
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c[i] >= 0x80 || (unsigned char)c[i] < 0x20)
            c[i] = '?';
    json_t *j = json_stringn(c, n);
    vt_free(c);
    return j;
}

static void reply_error_full(struct api_req *r, unsigned status, int code, const char *field,
                             const char *hname, const char *hvalue, const char *msg)
{
    if (status >= 500)
        vt_errorlog("request failed", "rid=%s code=%s detail=\"%s\"", r->rid, vt_strerror(code),
                    msg);
    json_t *e = json_object();
    json_t *o = json_object();
    if (!e || !o) {
        json_decref(e);
        json_decref(o);
        reply_plain_500(r);
        return;
    }
    json_object_set_new(e, "code", json_string(vt_strerror(code)));
    json_object_set_new(e, "message", safe_string(msg));
    if (field && *field)
        json_object_set_new(e, "field", safe_string(field));
    json_object_set_new(o, "error", e);
    uint64_t bytes = 0;
    struct MHD_Response *resp = json_response(o, &bytes);
    json_decref(o);
    if (!resp) {
        reply_plain_500(r);
        return;
    }
    if (hname)
        MHD_add_response_header(resp, hname, hvalue);
    api_reply_queue(r, status, resp, bytes);
}

static void reply_error_msg(struct api_req *r, int code, const char *field, const char *hname,
                            const char *hvalue, const char *msg)
{
    reply_error_full(r, api_status_of(code), code, field, hname, hvalue, msg);
}

static void reply_error_status(struct api_req *r, unsigned status, const struct vt_error *err)
{
    reply_error_full(r, status, err->code, err->field, NULL, NULL,
                     err->message[0] ? err->message : vt_strerror(err->code));
}

void api_reply_error(struct api_req *r, int code, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_error_msg(r, code, field, NULL, NULL, msg);
}

void api_reply_error_hdr(struct api_req *r, int code, const char *hname, const char *hvalue,
                         const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_error_msg(r, code, NULL, hname, hvalue, msg);
}

void api_reply_verror(struct api_req *r, const struct vt_error *err)
{
    int code = err->code ? err->code : VT_EINTERNAL;
    const char *msg = err->message[0] ? err->message : vt_strerror(code);
    reply_error_msg(r, code, err->field, NULL, NULL, msg);
}

void api_reply_invalid(struct api_req *r, const struct vt_error *err)
{
    if (err->code == VT_ETOOBIG && err->field[0]) {
        /* One field over its limit: the document is invalid (422), not the
         * request too large (413). The code still says what is wrong. */
        reply_error_status(r, MHD_HTTP_UNPROCESSABLE_CONTENT, err);
        return;
    }
    api_reply_verror(r, err);
}

const char *api_header(const struct api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int api_query_int(struct api_req *r, const char *name, int64_t lo, int64_t hi, int64_t def,
                  int64_t *out)
{
    const char *v = api_query_get(r, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || (x == 0 && v[0] != '0') || v[0] == '+' || v[0] == ' ' || x < lo ||
        x > hi) {
        api_reply_error(r, VT_EINVAL, name, "%s must be a whole number from %lld to %lld", name,
                        (long long)lo, (long long)hi);
        return -1;
    }
    *out = x;
    return 0;
}

int api_param_id(struct api_req *r, int i, const char **id)
{
    struct vt_error err;
    vt_error_clear(&err);
    if (vt_id_check(r->params[i], "id", &err)) {
        api_reply_invalid(r, &err);
        return -1;
    }
    *id = r->params[i];
    return 0;
}

static void copy_cut(char *dst, size_t dstsz, const char *src)
{
    size_t n = strlen(src);
    if (n >= dstsz)
        n = dstsz - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void api_error_in_batch(struct vt_error *err, int is_array, size_t i)
{
    if (!is_array)
        return;
    char field[sizeof err->field + 32], msg[sizeof err->message + 32];
    snprintf(field, sizeof field, "[%zu]%s%s", i, err->field[0] ? "." : "", err->field);
    snprintf(msg, sizeof msg, "element %zu: %s", i, err->message);
    copy_cut(err->field, sizeof err->field, field);
    copy_cut(err->message, sizeof err->message, msg);
}
