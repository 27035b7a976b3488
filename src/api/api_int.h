/*
 * api_int.h - private to src/api: the server, one request, the route table
 * and the reply helpers every handler uses.
 *
 * Life of a request (server.c):
 *   1. MHD hands us the raw request target; api_req_new() keeps a copy.
 *   2. request_begin(): the route is found (route.c), the caller
 *      authenticated and rate-limited, and body routes have their
 *      Content-Type and Content-Length checked. For a request that carries
 *      a body this happens on the first access-handler call, so a refusal
 *      goes out before a byte of the body is read; for others on the last
 *      call (an answer queued early would close the connection).
 *   3. Body bytes are appended to req->body up to max_body_bytes.
 *   4. request_run(), on the last call: the JSON body is parsed and the
 *      handler runs. A handler answers exactly once through api_reply_*().
 *   5. When MHD reports the request complete, it is logged, counted and
 *      freed (api_req_free): everything a request allocates hangs off the
 *      struct api_req and goes with it.
 *
 * Threads: handlers run on MHD's worker threads, many at once. struct
 * api_server is read-only after start except for the members that say how
 * they are synchronised.
 */
#ifndef VT_API_API_INT_H
#define VT_API_API_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "api/auth.h"
#include "api/http_metrics.h"
#include "api/ratelimit.h"
#include "core/buf.h"
#include "core/conf.h"
#include "core/error.h"
#include "store/record.h"
#include "store/store.h"

/* Methods we route. API_M_OTHER covers everything else (OPTIONS, TRACE..). */
enum api_method {
    API_M_GET,
    API_M_HEAD,
    API_M_POST,
    API_M_PUT,
    API_M_PATCH,
    API_M_DELETE,
    API_M_OTHER,
    API_M_COUNT
};

/* "Scope" of routes that need no key at all. */
#define API_OPEN (-1)

struct api_req;
struct api_text; /* api_text.c: the text pipeline and its embedding worker */
struct vt_engine; /* rec/engine.h: search and recommendations */

struct api_route {
    int method;             /* enum api_method; GET routes also answer HEAD */
    const char *pattern;    /* "/v1/items/{id}": "{...}" is one path segment */
    void (*handler)(struct api_req *r);
    int scope;              /* least scope allowed, or API_OPEN */
    int body;               /* 1 if the route takes a JSON body */
};

#define API_MAX_ROUTES 61

/* Metric "routes" past the table: static files, assets, no match. */
enum { API_ROUTE_STATIC = 0, API_ROUTE_ASSETS = 1, API_ROUTE_NONE = 2 };

struct api_server {
    const struct vt_conf *conf;
    struct vt_store *store;
    struct vt_limits limits;
    size_t max_body, max_batch_events, max_batch_items;
    int64_t static_max_age;
    char *web_root;            /* realpath of web_dir, NULL if missing */
    char *assets_root;         /* realpath of data_dir/assets, NULL if missing */
    struct vt_auth_cache *keys;
    struct api_ratelimit *public_rate; /* per client address */
    struct api_ratelimit *ingest_rate; /* per key id, NULL if unlimited */
    struct api_metrics *metrics;
    unsigned char session_key[32];     /* HMAC key of anonymous sessions */
    char storefront_key[VT_KEY_MAX];   /* the storefront's public key */
    uint32_t rid_prefix;
    atomic_uint_fast64_t next_rid;
    const char *route_labels[API_MAX_ROUTES + 3]; /* metric labels */
    const char *method_labels[API_M_COUNT];
    atomic_int stopping;               /* set once a stop signal arrived */
    atomic_int active;                 /* requests between start and completion */
    int64_t start_ms;
    struct api_text *text;             /* set by api_text_start, NULL without */
    _Atomic(struct vt_engine *) engine; /* set once built (after the text
                                           pipeline starts), NULL before or
                                           when it failed */
};

/* One decoded query parameter. */
struct api_qarg {
    char *name, *value;
};

#define API_MAX_PARAMS 2

struct api_req {
    struct api_server *srv;
    struct MHD_Connection *conn;
    char rid[40];
    char *target;              /* raw request target as received */
    char *path;                /* raw path: points into target */
    const char *method_name;
    int method;                /* enum api_method */
    int64_t start_ns;
    int started;               /* first access-handler call done */
    int begun;                 /* routed, authenticated, headers checked */
    int static_files;          /* 1 storefront, 2 assets, 0 an API route */
    int route;                 /* index into the table, or -1 */
    int metric_route;          /* index for metrics */
    char *params[API_MAX_PARAMS]; /* decoded path parameters */
    struct api_qarg *args;
    size_t nargs;
    int scope;                 /* enum vt_scope, or API_OPEN before auth */
    char key_id[24];
    char client[64];           /* client address, printable */
    struct vt_buf body;
    int body_too_big;          /* cap crossed: discard the rest */
    uint64_t discarded;
    json_t *json;              /* parsed body of body routes */
    int status;                /* status queued, 0 before */
    uint64_t resp_bytes;
};

/* ---- route.c ---- */
const struct api_route *api_routes(size_t *n);
/* Find the route for path (raw, undecoded). Returns the index, or -1 with
 * *path_known = 1 if the path exists under another method (405; *allow
 * lists them, "GET, HEAD, POST"), or 0 (404). Decoded parameters go to
 * r->params. On a malformed escape returns VT_EPARSE and fills err. */
int api_route_find(struct api_req *r, char *allow, size_t allowsz, int *path_known,
                   struct vt_error *err);
/* Percent-decode s[0..n) into a new string (vt_free). plus_space turns '+'
 * into ' ' (query strings). VT_EPARSE on a bad escape or an embedded NUL. */
int api_url_decode(const char *s, size_t n, int plus_space, char **out);
/* Parse the raw query string into r->args. */
int api_query_parse(struct api_req *r, const char *query, struct vt_error *err);
/* Last value of a query parameter, or NULL. */
const char *api_query_get(const struct api_req *r, const char *name);
const char *api_method_name(int method);

/* ---- reply.c: every handler answers through exactly one of these ---- */
/* Steals j (may be NULL: out of memory, answered 500). */
void api_reply_json(struct api_req *r, unsigned status, json_t *j);
/* Answers with JSON text already written into b (a newline is added; the
 * storage is taken and b left empty). */
void api_reply_json_buf(struct api_req *r, unsigned status, struct vt_buf *b);
void api_reply_empty(struct api_req *r, unsigned status);
/* {"error": {"code": vt_strerror(code), "message": ..., "field": ...}} with
 * the status that belongs to the code. */
void api_reply_error(struct api_req *r, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_reply_verror(struct api_req *r, const struct vt_error *err);
/* A validation error from record.c: like api_reply_verror, except that a
 * single field over its size limit (VT_ETOOBIG with a field) is 422. */
void api_reply_invalid(struct api_req *r, const struct vt_error *err);
/* An error with one extra response header (Allow, Retry-After,
 * WWW-Authenticate). */
void api_reply_error_hdr(struct api_req *r, int code, const char *hname, const char *hvalue,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Queue a prepared response with the common headers and record status and
 * size; takes the reference to resp. */
void api_reply_queue(struct api_req *r, unsigned status, struct MHD_Response *resp,
                     uint64_t bytes);
unsigned api_status_of(int code);

/* ---- handlers ---- */
void api_h_healthz(struct api_req *r);
void api_h_metrics(struct api_req *r);
void api_h_session_new(struct api_req *r);
void api_h_items_post(struct api_req *r);
void api_h_items_list(struct api_req *r);
void api_h_item_get(struct api_req *r);
void api_h_item_patch(struct api_req *r);
void api_h_item_delete(struct api_req *r);
void api_h_events_post(struct api_req *r);
void api_h_user_get(struct api_req *r);
void api_h_user_put(struct api_req *r);
void api_h_user_delete(struct api_req *r);
void api_h_user_events(struct api_req *r);
void api_h_keys_list(struct api_req *r);
void api_h_keys_create(struct api_req *r);
void api_h_key_revoke(struct api_req *r);
/* Static files: assets = 1 for /assets/..., 0 for the storefront. */
void api_h_static(struct api_req *r, int assets);
/* Decode the raw path of a static request into out (a relative path under
 * the root: no "..", no hidden segments, no NUL or backslash). Returns 0,
 * VT_EPARSE (refuse: 400) or VT_ENOTFOUND (hidden: 404). */
int api_static_relpath(const char *raw, struct vt_buf *out);

/* ---- api_text.c: text understanding and item embeddings ---- */
/* Creates the text pipeline from the configuration and starts the worker
 * that loads it and embeds the catalog. Never fails the server: problems
 * are logged and the text routes answer 503. */
void api_text_start(struct api_server *srv);
/* Stops the worker (after its current batch) and frees the pipeline; a
 * no-op when api_text_start did not run or failed. */
void api_text_stop(struct api_server *srv);
void api_h_embed(struct api_req *r);
void api_h_analyze(struct api_req *r);
/* POST /v1/items and PATCH /v1/items/{id}, then the stored items are
 * queued for embedding. */
void api_h_items_post_embed(struct api_req *r);
void api_h_item_patch_embed(struct api_req *r);

/* ---- api_rec.c: the engine's routes ---- */
void api_h_search(struct api_req *r);
void api_h_recommend(struct api_req *r);
void api_h_similar(struct api_req *r);
void api_h_fit(struct api_req *r);
void api_h_categories(struct api_req *r);
void api_h_model(struct api_req *r);
void api_h_retrain(struct api_req *r);
/* The text pipeline of the server, NULL when api_text_start did not run. */
struct vt_textenc *api_text_pipeline(struct api_server *srv);

/* ---- api_dashboard.c: what the admin dashboard reads ---- */
void api_h_admin_stats(struct api_req *r);
void api_h_admin_events(struct api_req *r);

/* ---- session.c: anonymous storefront sessions ---- */
/* Load the HMAC key from the store's metadata, creating it on first start. */
int api_session_key_load(struct vt_store *s, unsigned char key[32], struct vt_error *err);
/* Check "<user_id>.<mac>"; on success copy the user id to user (size
 * usersz). VT_EFORBIDDEN on anything else. */
int api_session_check(const unsigned char key[32], const char *token, char *user,
                      size_t usersz);

/* ---- api_storefront.c: the storefront's public key ---- */
/* Load the key from the store's metadata, creating it (scope public) on
 * first start or when the stored one no longer works. */
int api_storefront_key_load(struct vt_store *s, char key[VT_KEY_MAX], struct vt_error *err);
void api_h_storefront(struct api_req *r);

/* ---- shared helpers (reply.c) ---- */
/* A request header value, or NULL. */
const char *api_header(const struct api_req *r, const char *name);
/* Parse a decimal integer query parameter in [lo, hi]; def when absent.
 * Answers 422 and returns -1 when it does not parse or is out of range. */
int api_query_int(struct api_req *r, const char *name, int64_t lo, int64_t hi, int64_t def,
                  int64_t *out);
/* Name element i of a batch in err's field and message ("[3].price"); no
 * change when the body was a single object. */
void api_error_in_batch(struct vt_error *err, int is_array, size_t i);
/* Check a path id (r->params[i]); answers 422 and returns -1 if invalid. */
int api_param_id(struct api_req *r, int i, const char **id);

#endif
