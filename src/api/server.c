/*
 * server.c - the HTTP server: libmicrohttpd set-up, the life of a request
 * (see api_int.h), authentication, and a clean stop on SIGTERM/SIGINT.
 *
 * libmicrohttpd runs a pool of conf "threads" workers, each with its own
 * epoll loop, and calls us back on those threads. We take the raw request
 * target from the URI-log callback (before libmicrohttpd decodes it), so
 * routing sees "%2F" and "%2e%2e" as the client sent them.
 *
 * Stopping: the calling thread blocks SIGTERM and SIGINT and waits for
 * them. On the first one the server stops accepting (the listening socket
 * is shut down), answers 503 to any further request on open connections,
 * waits up to conf shutdown_grace_s for requests in progress to complete,
 * then stops the workers and returns 0. Events are durable when
 * acknowledged, so there is nothing left to flush.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/server.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "rec/engine.h"

#define AUTH_CACHE_TTL_MS 1000
#define MAX_PATH_BYTES 4096

/* ---- logging helpers ---------------------------------------------------- */

/* Quote a value for logfmt: printable ASCII kept, '"' and '\' escaped,
 * anything else as \xNN; cut to fit out. */
static void logfmt_quote(const char *s, char *out, size_t outsz)
{
    size_t j = 0;
    if (outsz < 3)
        return;
    out[j++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && j + 6 < outsz; p++) {
        if (*p == '"' || *p == '\\') {
            out[j++] = '\\';
            out[j++] = (char)*p;
        } else if (*p < 0x20 || *p >= 0x7f) {
            j += (size_t)snprintf(out + j, outsz - j, "\\x%02x", *p);
        } else {
            out[j++] = (char)*p;
        }
    }
    out[j++] = '"';
    out[j] = '\0';
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512], q[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    logfmt_quote(msg, q, sizeof q);
    vt_warn("http library", "detail=%s", q);
}

/* ---- request objects ---------------------------------------------------- */

static void client_address(struct api_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(r->client, sizeof r->client, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->client,
                  sizeof r->client);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  r->client, sizeof r->client);
}

/* The client's address as bytes, for the rate limiter: an IPv4 address,
 * or the /64 network of an IPv6 one (a single host usually holds a whole
 * /64, so counting addresses would count nothing). */
static size_t client_key(const struct api_req *r, unsigned char key[16])
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, 4);
        return 4;
    }
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
        const unsigned char *a =
            ((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr.s6_addr;
        if (memcmp(a, v4mapped, sizeof v4mapped) == 0) {
            memcpy(key, a + 12, 4);
            return 4;
        }
        key[0] = 6; /* keeps a /64 apart from any IPv4 address */
        memcpy(key + 1, a, 8);
        return 9;
    }
    return 0;
}

static void req_free(struct api_req *r)
{
    if (!r)
        return;
    vt_free(r->target);
    for (int i = 0; i < API_MAX_PARAMS; i++)
        vt_free(r->params[i]);
    for (size_t i = 0; i < r->nargs; i++) {
        vt_free(r->args[i].name);
        vt_free(r->args[i].value);
    }
    vt_free(r->args);
    vt_buf_reset(&r->body);
    json_decref(r->json);
    vt_free(r);
}

/* A client's X-Request-Id is kept when it is short and plain. */
static int rid_acceptable(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.') ||
            n >= 36)
            return 0;
    }
    return n > 0;
}

/* libmicrohttpd calls this first for every request, with the target as
 * received; what we return becomes the request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct api_server *srv = cls;
    struct api_req *r = vt_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = srv;
    r->conn = conn;
    r->start_ns = vt_time_mono_ns();
    r->route = -1;
    r->metric_route = -1;
    r->scope = API_OPEN;
    r->method = API_M_OTHER;
    vt_buf_init(&r->body, srv->max_body);
    r->target = vt_strdup(uri ? uri : "");
    if (!r->target) {
        vt_free(r);
        return NULL;
    }
    uint64_t n = atomic_fetch_add(&srv->next_rid, 1);
    snprintf(r->rid, sizeof r->rid, "%08x%08llx", srv->rid_prefix, (unsigned long long)n);
    client_address(r);
    atomic_fetch_add(&srv->active, 1);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_server *srv = cls;
    (void)conn;
    struct api_req *r = *ctx;
    if (!r)
        return;
    *ctx = NULL;
    int64_t dur = vt_time_mono_ns() - r->start_ns;
    size_t nroutes;
    api_routes(&nroutes);
    size_t mroute = r->metric_route >= 0 ? (size_t)r->metric_route : nroutes + API_ROUTE_NONE;
    if (r->status)
        api_metrics_record(srv->metrics, mroute, (size_t)r->method, (unsigned)r->status, dur);
    char path[300];
    logfmt_quote(r->target, path, sizeof path);
    /* The query string is left out of the path: it may carry search text. */
    char *q = strchr(path, '?');
    if (q) {
        q[0] = '"';
        q[1] = '\0';
    }
    vt_info("request",
            "rid=%s method=%s path=%s status=%d bytes=%llu duration_ms=%.3f scope=%s%s%s "
            "client=%s%s",
            r->rid, r->method_name ? r->method_name : "-", path, r->status,
            (unsigned long long)r->resp_bytes, (double)dur / 1e6,
            r->scope == API_OPEN ? "none" : vt_scope_name(r->scope), r->key_id[0] ? " key=" : "",
            r->key_id, r->client, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    req_free(r);
    atomic_fetch_sub(&srv->active, 1);
}

/* ---- authentication ------------------------------------------------------ */

static void reply_401(struct api_req *r, const char *why, int invalid)
{
    api_reply_error_hdr(r, VT_EAUTH, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                        invalid ? "Bearer realm=\"vitrine\", error=\"invalid_token\""
                                : "Bearer realm=\"vitrine\"",
                        "%s", why);
}

static void reply_429(struct api_req *r, int retry_after)
{
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry_after);
    api_reply_error_hdr(r, VT_ERATE, MHD_HTTP_HEADER_RETRY_AFTER, ra,
                        "too many requests; retry after %d s", retry_after);
}

/* Authenticate and authorise r for a route needing `need`; answers and
 * returns -1 on refusal. POST /v1/events also takes a public key as ?key=
 * (navigator.sendBeacon cannot set headers); any other scope sent that way
 * is refused. */
static int authorise(struct api_req *r, int need)
{
    struct api_server *srv = r->srv;
    const char *h = api_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    int in_query = 0;
    size_t nroutes;
    const struct api_route *routes = api_routes(&nroutes);
    if (!h && routes[r->route].handler == api_h_events_post) {
        h = api_query_get(r, "key");
        in_query = h != NULL;
    }
    if (!h) {
        reply_401(r, "this route needs an API key: send 'Authorization: Bearer <key>'", 0);
        return -1;
    }
    if (!in_query) {
        while (*h == ' ' || *h == '\t')
            h++;
        if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) {
            reply_401(r, "the Authorization header must read 'Bearer <key>'", 0);
            return -1;
        }
        h += 7;
        while (*h == ' ' || *h == '\t')
            h++;
    }
    char key[VT_KEY_MAX];
    size_t n = strcspn(h, " \t");
    if (n >= sizeof key || h[n + strspn(h + n, " \t")] != '\0') {
        reply_401(r, "unknown or revoked API key", 1);
        return -1;
    }
    memcpy(key, h, n);
    key[n] = '\0';
    int scope;
    int rc = vt_auth_key_check_cached(srv->keys, srv->store, key, &scope, r->key_id);
    sodium_memzero(key, sizeof key);
    if (rc == VT_EAUTH) {
        reply_401(r, "unknown or revoked API key", 1);
        return -1;
    }
    if (rc) {
        api_reply_error(r, rc, NULL, "could not check the API key: %s", vt_strerror(rc));
        return -1;
    }
    r->scope = scope;
    if (in_query && scope != VT_SCOPE_PUBLIC) {
        api_reply_error(r, VT_EFORBIDDEN, "key", "only a public key may be sent as ?key=; send "
                        "a %s key in the Authorization header", vt_scope_name(scope));
        return -1;
    }
    if (scope < need) {
        api_reply_error(r, VT_EFORBIDDEN, NULL, "this route needs a key with scope '%s'; this "
                        "key has scope '%s'",
                        vt_scope_name(need), vt_scope_name(scope));
        return -1;
    }
    int retry = 1;
    if (scope == VT_SCOPE_PUBLIC && srv->public_rate) {
        unsigned char ck[16];
        size_t ckn = client_key(r, ck);
        if (api_ratelimit_take(srv->public_rate, ck, ckn, vt_time_mono_ns(), &retry)) {
            reply_429(r, retry);
            return -1;
        }
    } else if (scope == VT_SCOPE_INGEST && srv->ingest_rate) {
        if (api_ratelimit_take(srv->ingest_rate, r->key_id, strlen(r->key_id), vt_time_mono_ns(),
                               &retry)) {
            reply_429(r, retry);
            return -1;
        }
    }
    return 0;
}

/* ---- the request's stages ------------------------------------------------- */

static int method_parse(const char *m)
{
    static const char *names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(m, names[i]) == 0)
            return i;
    return API_M_OTHER;
}

/* application/json, optionally with "; charset=utf-8". */
static int content_type_ok(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, ";");
    size_t m = n;
    while (m && (ct[m - 1] == ' ' || ct[m - 1] == '\t'))
        m--;
    if (m != 16 || strncasecmp(ct, "application/json", 16) != 0)
        return 0;
    const char *p = ct + n;
    while (*p == ';') {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ";");
        size_t t = len;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == 0) {
            /* empty parameter: tolerated */
        } else if (strncasecmp(p, "charset=", 8) == 0) {
            const char *v = p + 8;
            size_t vl = t - 8;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            if (!((vl == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
                  (vl == 4 && strncasecmp(v, "utf8", 4) == 0)))
                return 0;
        } else {
            return 0;
        }
        p += len;
    }
    return 1;
}

/* Run the handler of a route whose request is complete. */
static void request_run(struct api_req *r)
{
    if (r->static_files) {
        api_h_static(r, r->static_files == 2);
        return;
    }
    size_t nroutes;
    const struct api_route *routes = api_routes(&nroutes);
    const struct api_route *rt = &routes[r->route];
    if (rt->body) {
        if (r->body_too_big) {
            api_reply_error(r, VT_ETOOBIG, NULL, "the request body is over the limit of %zu bytes",
                            r->srv->max_body);
            return;
        }
        if (r->body.len == 0) {
            api_reply_error(r, VT_EPARSE, NULL, "the request body is empty; send a JSON document");
            return;
        }
        json_error_t jerr;
        /* Duplicate keys, invalid UTF-8 and \u0000 are refused (no
         * JSON_ALLOW_NUL); scalars parse so that they get a 422 naming
         * what was expected. */
        r->json = json_loadb(r->body.data, r->body.len,
                             JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!r->json) {
            api_reply_error(r, VT_EPARSE, NULL, "invalid JSON at line %d, column %d: %s",
                            jerr.line, jerr.column, jerr.text);
            return;
        }
        /* The bytes are no longer needed; give the memory back early. */
        vt_buf_reset(&r->body);
    }
    rt->handler(r);
    if (!r->status)
        api_reply_error(r, VT_EINTERNAL, NULL, "the handler gave no answer");
}

/* Route, authenticate, check the headers. Refusals are answered here; a
 * request that passes is run by request_run() once complete. */
static void request_begin(struct api_req *r)
{
    struct api_server *srv = r->srv;
    size_t nroutes;
    const struct api_route *routes = api_routes(&nroutes);
    r->method_name = api_method_name(r->method);
    const char *crid = api_header(r, "X-Request-Id");
    if (crid && rid_acceptable(crid))
        snprintf(r->rid, sizeof r->rid, "%s", crid);
    struct vt_error err;
    vt_error_clear(&err);

    if (atomic_load(&srv->stopping)) {
        api_reply_error(r, VT_EUNAVAIL, NULL, "the server is shutting down");
        return;
    }
    if (r->target[0] != '/') {
        api_reply_error(r, VT_EPARSE, NULL, "the request target must be a path starting with '/'");
        return;
    }
    char *q = strchr(r->target, '?');
    if (q)
        *q = '\0';
    /* r->target now holds the path only; the log line wants no query. */
    r->path = r->target;
    if (strlen(r->path) > MAX_PATH_BYTES) {
        api_reply_error(r, VT_EPARSE, "path", "the path is over %d bytes", MAX_PATH_BYTES);
        return;
    }
    int rc = api_query_parse(r, q ? q + 1 : NULL, &err);
    if (rc) {
        if (rc == VT_ENOMEM)
            vt_error_set(&err, VT_ENOMEM, NULL, "out of memory");
        api_reply_verror(r, &err);
        return;
    }
    char allow[96];
    int known = 0;
    int idx = api_route_find(r, allow, sizeof allow, &known, &err);
    if (err.code) {
        api_reply_verror(r, &err);
        return;
    }
    if (idx < 0) {
        int api_path = strncmp(r->path, "/v1/", 4) == 0 || strcmp(r->path, "/v1") == 0;
        if (!known && !api_path) {
            int assets = strncmp(r->path, "/assets/", 8) == 0;
            r->metric_route = (int)nroutes + (assets ? API_ROUTE_ASSETS : API_ROUTE_STATIC);
            if (r->method == API_M_GET || r->method == API_M_HEAD) {
                r->static_files = assets ? 2 : 1;
                return;
            }
            known = 1;
            snprintf(allow, sizeof allow, "GET, HEAD");
        }
        if (!known) {
            api_reply_error(r, VT_ENOTFOUND, NULL, "no route %s %s", r->method_name, r->path);
            return;
        }
        api_reply_error_hdr(r, VT_EMETHOD, MHD_HTTP_HEADER_ALLOW, allow,
                            "%s is not allowed on this path; allowed: %s", r->method_name,
                            allow);
        return;
    }
    r->route = idx;
    r->metric_route = idx;
    const struct api_route *rt = &routes[idx];
    if (rt->scope != API_OPEN && authorise(r, rt->scope))
        return;
    if (!rt->body)
        return;
    if (!content_type_ok(api_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        api_reply_error(r, VT_EMEDIA, NULL, "send the body as 'Content-Type: application/json'");
        return;
    }
    const char *cl = api_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long len = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && len > srv->max_body) {
            api_reply_error(r, VT_ETOOBIG, NULL,
                            "the request body is %llu bytes; the limit is %zu bytes", len,
                            srv->max_body);
            return;
        }
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **ctx)
{
    (void)cls;
    (void)url;
    (void)version;
    struct api_req *r = *ctx;
    if (!r)
        return MHD_NO; /* out of memory when the request arrived */
    r->conn = conn;
    if (!r->started) {
        /* A request with a body is checked now, so that a refusal (401,
         * 413, 415...) goes out before the body is read; the connection is
         * then closed. Others are checked on the last call, which keeps
         * the connection open for the next request. */
        r->started = 1;
        r->method = method_parse(method);
        if (api_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH) ||
            api_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
            request_begin(r);
            r->begun = 1;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->status)
            return MHD_YES; /* answered already: the rest is dropped */
        size_t nroutes;
        const struct api_route *routes = api_routes(&nroutes);
        int wants_body = r->route >= 0 && routes[r->route].body;
        if (wants_body && !r->body_too_big) {
            int rc = vt_buf_append(&r->body, upload_data, n);
            if (rc == 0)
                return MHD_YES;
            if (rc == VT_ENOMEM) {
                api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
                return r->status ? MHD_YES : MHD_NO;
            }
            /* Over the cap without a Content-Length (chunked): libmicrohttpd
             * takes no response in the middle of a body, so the rest is
             * dropped as it arrives and 413 goes out at its end. */
            r->body_too_big = 1;
            vt_buf_reset(&r->body);
        }
        r->discarded += n;
        /* A client that keeps sending long after the cap is cut off. */
        return r->discarded > 4 * (uint64_t)r->srv->max_body + (1u << 20) ? MHD_NO : MHD_YES;
    }
    if (!r->begun) {
        r->begun = 1;
        request_begin(r);
    }
    if (!r->status)
        request_run(r);
    return r->status ? MHD_YES : MHD_NO;
}

/* ---- listening address ----------------------------------------------------- */

/* "127.0.0.1:8080", "[::1]:8080", ":8080" (all IPv4 interfaces),
 * "localhost:8080". */
static int listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sslen,
                        struct vt_error *err)
{
    char host[256], port[16];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return vt_error_set(err, VT_EINVAL, "listen",
                                "listen '%s': expected [IPv6]:PORT", s);
        size_t n = (size_t)(close - s - 1);
        if (n >= sizeof host)
            return vt_error_set(err, VT_EINVAL, "listen", "listen '%s': address too long", s);
        memcpy(host, s + 1, n);
        host[n] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return vt_error_set(err, VT_EINVAL, "listen", "listen '%s': expected ADDR:PORT", s);
        size_t n = (size_t)(colon - s);
        if (n >= sizeof host)
            return vt_error_set(err, VT_EINVAL, "listen", "listen '%s': address too long", s);
        memcpy(host, s, n);
        host[n] = '\0';
        if (n == 0)
            snprintf(host, sizeof host, "0.0.0.0");
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl || atoi(p) > 65535)
        return vt_error_set(err, VT_EINVAL, "listen", "listen '%s': bad port '%s'", s, p);
    snprintf(port, sizeof port, "%s", p);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0 || !res)
        return vt_error_set(err, VT_EINVAL, "listen", "listen '%s': %s", s, gai_strerror(g));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* ---- set-up and tear-down ---------------------------------------------------- */

static char *realpath_or_null(const char *dir, const char *sub)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s%s", dir, sub) >= (int)sizeof path)
        return NULL;
    char *rp = realpath(path, NULL);
    if (!rp)
        return NULL;
    char *copy = vt_strdup(rp);
    free(rp);
    return copy;
}

static void server_free(struct api_server *srv)
{
    /* The engine leaves first, so the text worker stops telling it about
     * new vectors; the worker stops before the engine it used is freed. */
    struct vt_engine *eng = atomic_exchange(&srv->engine, NULL);
    api_text_stop(srv);
    vt_engine_free(eng);
    vt_free(srv->web_root);
    vt_free(srv->assets_root);
    vt_auth_cache_free(srv->keys);
    api_ratelimit_free(srv->public_rate);
    api_ratelimit_free(srv->ingest_rate);
    api_metrics_free(srv->metrics);
    sodium_memzero(srv->session_key, sizeof srv->session_key);
}

static int server_init(struct api_server *srv, const struct vt_conf *conf, struct vt_store *store,
                       struct vt_error *err)
{
    memset(srv, 0, sizeof *srv);
    srv->conf = conf;
    srv->store = store;
    srv->start_ms = vt_time_now_ms();
    vt_limits_default(&srv->limits);
    int64_t v = vt_conf_int(conf, "max_string_bytes");
    if (v > 0)
        srv->limits.max_string_bytes = (size_t)v;
    v = vt_conf_int(conf, "max_body_bytes");
    srv->max_body = v > 0 ? (size_t)v : 8388608;
    v = vt_conf_int(conf, "max_batch_events");
    srv->max_batch_events = v > 0 ? (size_t)v : 10000;
    v = vt_conf_int(conf, "max_batch_items");
    srv->max_batch_items = v > 0 ? (size_t)v : 1000;
    srv->static_max_age = vt_conf_int(conf, "cache.static_max_age");
    if (srv->static_max_age < 0)
        srv->static_max_age = 0;
    srv->web_root = realpath_or_null(vt_conf_str(conf, "web_dir"), "");
    srv->assets_root = realpath_or_null(vt_conf_str(conf, "data_dir"), "/assets");
    randombytes_buf(&srv->rid_prefix, sizeof srv->rid_prefix);
    atomic_init(&srv->next_rid, 1);
    atomic_init(&srv->stopping, 0);
    atomic_init(&srv->active, 0);

    int rc = vt_auth_cache_new(AUTH_CACHE_TTL_MS, &srv->keys);
    if (rc)
        return vt_error_set(err, rc, NULL, "auth cache: %s", vt_strerror(rc));
    double rps = vt_conf_double(conf, "rate.public_rps");
    double burst = vt_conf_double(conf, "rate.public_burst");
    if (rps > 0) {
        rc = api_ratelimit_new(rps, burst >= 1 ? burst : 1, &srv->public_rate);
        if (rc)
            return vt_error_set(err, rc, "rate.public_rps", "rate limiter: %s", vt_strerror(rc));
    }
    rps = vt_conf_double(conf, "rate.ingest_rps");
    if (rps > 0) {
        rc = api_ratelimit_new(rps, rps * 2 >= 1 ? rps * 2 : 1, &srv->ingest_rate);
        if (rc)
            return vt_error_set(err, rc, "rate.ingest_rps", "rate limiter: %s", vt_strerror(rc));
    }
    size_t nroutes;
    const struct api_route *routes = api_routes(&nroutes);
    if (nroutes > API_MAX_ROUTES)
        return vt_error_set(err, VT_EINTERNAL, NULL, "route table too large");
    for (size_t i = 0; i < nroutes; i++)
        srv->route_labels[i] = routes[i].pattern;
    srv->route_labels[nroutes + API_ROUTE_STATIC] = "/*";
    srv->route_labels[nroutes + API_ROUTE_ASSETS] = "/assets/*";
    srv->route_labels[nroutes + API_ROUTE_NONE] = "unmatched";
    for (int i = 0; i < API_M_COUNT; i++)
        srv->method_labels[i] = api_method_name(i);
    rc = api_metrics_new(srv->route_labels, nroutes + 3, srv->method_labels, API_M_COUNT,
                         &srv->metrics);
    if (rc)
        return vt_error_set(err, rc, NULL, "metrics: %s", vt_strerror(rc));
    rc = api_session_key_load(store, srv->session_key, err);
    if (rc)
        return rc;
    rc = api_storefront_key_load(store, srv->storefront_key, err);
    if (rc)
        return rc;
    api_text_start(srv); /* loads and embeds in the background */
    /* The engine's first snapshot is built before the server listens, so
     * the first request already has the catalog; a failure leaves the
     * engine's routes answering 503 and everything else served. */
    struct vt_engine *eng = NULL;
    struct vt_engine_options eo;
    struct vt_error eerr;
    memset(&eo, 0, sizeof eo);
    vt_error_clear(&eerr);
    if (vt_engine_new(conf, store, api_text_pipeline(srv), &eo, &eng, &eerr))
        vt_warn("the recommendation engine did not start: its routes answer 503",
                "reason=\"%s\"", eerr.message);
    else
        atomic_store(&srv->engine, eng);
    return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

int vt_server_run(const struct vt_conf *conf, struct vt_store *store, struct vt_error *err)
{
    if (sodium_init() < 0)
        return vt_error_set(err, VT_EINTERNAL, NULL, "libsodium failed to initialise");
    struct api_server srv;
    int rc = server_init(&srv, conf, store, err);
    if (rc) {
        server_free(&srv);
        return rc;
    }
    const char *listen = vt_conf_str(conf, "listen");
    struct sockaddr_storage ss;
    socklen_t sslen;
    rc = listen_parse(listen, &ss, &sslen, err);
    if (rc) {
        server_free(&srv);
        return rc;
    }
    (void)sslen;

    /* Signals: a handler catches SIGTERM/SIGINT if they reach a thread that
     * has them unblocked (threads started before us); this thread and the
     * workers (created below, inheriting the mask) block them, and this
     * thread waits for them. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    struct sigaction sa, old_term, old_int;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART; /* other threads' system calls carry on */
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    int64_t threads = vt_conf_int(conf, "threads");
    if (threads < 1)
        threads = 1;
    if (threads > 256)
        threads = 256;
    int64_t timeout = vt_conf_int(conf, "http.timeout_s");
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, &srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, &srv,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(timeout > 0 ? timeout : 0),
        MHD_OPTION_END);
    if (!d) {
        rc = vt_error_set(err, VT_EIO, "listen", "cannot listen on %s: %s", listen,
                          errno ? strerror(errno) : "libmicrohttpd refused to start");
        goto restore;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&ss)->sin_addr, host, sizeof host);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr, host, sizeof host);
    vt_info("listening", "addr=%s%s%s:%u threads=%lld web_dir=%s assets=%s",
            ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "", port,
            (long long)threads, srv.web_root ? "yes" : "missing",
            srv.assets_root ? "yes" : "missing");

    int sig = 0;
    while (!sig && !stop_signal) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        siginfo_t info;
        int s = sigtimedwait(&set, &info, &ts);
        if (s > 0)
            sig = s;
    }
    if (!sig)
        sig = stop_signal;
    vt_info("stopping", "signal=%s in_flight=%d", sig == SIGINT ? "SIGINT" : "SIGTERM",
            atomic_load(&srv.active));
    atomic_store(&srv.stopping, 1);
    MHD_socket lfd = MHD_quiesce_daemon(d);
    /* The socket may not be closed before MHD_stop_daemon (a worker may
     * still hold it), but shutting it down takes it out of the listening
     * state at once: new connections are refused instead of waiting in
     * the backlog until the workers stop. */
    if (lfd != MHD_INVALID_SOCKET)
        shutdown(lfd, SHUT_RDWR);
    int64_t grace_ms = vt_conf_int(conf, "shutdown_grace_s") * 1000;
    int64_t until = vt_time_now_ms() + (grace_ms > 0 ? grace_ms : 0);
    while (atomic_load(&srv.active) > 0 && vt_time_now_ms() < until) {
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    int left = atomic_load(&srv.active);
    MHD_stop_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    vt_info("stopped", "unfinished=%d uptime_s=%lld", left,
            (long long)((vt_time_now_ms() - srv.start_ms) / 1000));
    rc = 0;
restore:
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    server_free(&srv);
    return rc;
}
