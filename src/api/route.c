/*
 * route.c - the route table, path matching and URL decoding.
 *
 * The table below is the one place that says which handler answers which
 * method and path, and what scope a caller needs. Patterns are matched
 * segment by segment against the raw (still percent-encoded) path, so an
 * encoded slash inside an id ("a%2Fb") stays inside its segment; only the
 * captured parameters are decoded. Paths no route knows fall through to
 * static files (server.c) unless they start with /v1/.
 */
#include <string.h>

#include "api/api_int.h"
#include "core/alloc.h"
#include "core/util.h"

static const struct api_route routes[] = {
    /* method       pattern                   handler               scope          body */
    {API_M_GET, "/healthz", api_h_healthz, API_OPEN, 0},
    {API_M_GET, "/metrics", api_h_metrics, VT_SCOPE_ADMIN, 0},
    {API_M_POST, "/v1/session", api_h_session_new, VT_SCOPE_PUBLIC, 0},
    {API_M_GET, "/v1/storefront", api_h_storefront, API_OPEN, 0},
    {API_M_GET, "/v1/items", api_h_items_list, VT_SCOPE_PUBLIC, 0},
    {API_M_POST, "/v1/items", api_h_items_post_embed, VT_SCOPE_INGEST, 1},
    {API_M_GET, "/v1/items/{id}", api_h_item_get, VT_SCOPE_PUBLIC, 0},
    {API_M_PATCH, "/v1/items/{id}", api_h_item_patch_embed, VT_SCOPE_INGEST, 1},
    {API_M_DELETE, "/v1/items/{id}", api_h_item_delete, VT_SCOPE_INGEST, 0},
    {API_M_POST, "/v1/events", api_h_events_post, VT_SCOPE_PUBLIC, 1},
    {API_M_GET, "/v1/users/{id}", api_h_user_get, VT_SCOPE_READ, 0},
    {API_M_PUT, "/v1/users/{id}", api_h_user_put, VT_SCOPE_INGEST, 1},
    {API_M_DELETE, "/v1/users/{id}", api_h_user_delete, VT_SCOPE_INGEST, 0},
    {API_M_GET, "/v1/users/{id}/events", api_h_user_events, VT_SCOPE_READ, 0},
    {API_M_GET, "/v1/admin/keys", api_h_keys_list, VT_SCOPE_ADMIN, 0},
    {API_M_POST, "/v1/admin/keys", api_h_keys_create, VT_SCOPE_ADMIN, 1},
    {API_M_DELETE, "/v1/admin/keys/{id}", api_h_key_revoke, VT_SCOPE_ADMIN, 0},
    {API_M_POST, "/v1/embed", api_h_embed, VT_SCOPE_ADMIN, 1},
    {API_M_POST, "/v1/analyze", api_h_analyze, VT_SCOPE_PUBLIC, 1},
    {API_M_GET, "/v1/search", api_h_search, VT_SCOPE_PUBLIC, 0},
    {API_M_GET, "/v1/recommend", api_h_recommend, VT_SCOPE_PUBLIC, 0},
    {API_M_GET, "/v1/items/{id}/similar", api_h_similar, VT_SCOPE_PUBLIC, 0},
    {API_M_POST, "/v1/fit", api_h_fit, VT_SCOPE_PUBLIC, 1},
    {API_M_GET, "/v1/categories", api_h_categories, VT_SCOPE_PUBLIC, 0},
    {API_M_GET, "/v1/model", api_h_model, VT_SCOPE_READ, 0},
    {API_M_POST, "/v1/admin/retrain", api_h_retrain, VT_SCOPE_ADMIN, 0},
    {API_M_GET, "/v1/admin/stats", api_h_admin_stats, VT_SCOPE_ADMIN, 0},
    {API_M_GET, "/v1/admin/events", api_h_admin_events, VT_SCOPE_ADMIN, 0},
};

#define NROUTES (sizeof routes / sizeof routes[0])

static const char *method_names[API_M_COUNT] = {"GET",   "HEAD",   "POST", "PUT",
                                                "PATCH", "DELETE", "OTHER"};

const struct api_route *api_routes(size_t *n)
{
    *n = NROUTES;
    return routes;
}

const char *api_method_name(int method)
{
    return method >= 0 && method < API_M_COUNT ? method_names[method] : "OTHER";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int api_url_decode(const char *s, size_t n, int plus_space, char **out)
{
    char *d = vt_malloc(n + 1);
    if (!d)
        return VT_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3)
                goto bad;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                goto bad;
            c = (char)(hi * 16 + lo);
            i += 2;
            if (c == '\0')
                goto bad;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '\0') {
            goto bad;
        }
        d[j++] = c;
    }
    d[j] = '\0';
    *out = d;
    return 0;
bad:
    vt_free(d);
    return VT_EPARSE;
}

/* One path segment of a pattern against the raw path; advances *p. */
static int seg_next(const char **p, const char **seg, size_t *len)
{
    if (**p != '/')
        return 0;
    const char *s = *p + 1;
    const char *e = strchr(s, '/');
    if (!e)
        e = s + strlen(s);
    *seg = s;
    *len = (size_t)(e - s);
    *p = e;
    return 1;
}

/* Match pattern against path; on success fill caps (start, len) pairs. */
static int pattern_match(const char *pattern, const char *path, const char *caps[][2],
                         size_t *ncaps)
{
    const char *pp = pattern, *rp = path;
    *ncaps = 0;
    for (;;) {
        const char *ps, *rs;
        size_t pl, rl;
        int hp = seg_next(&pp, &ps, &pl), hr = seg_next(&rp, &rs, &rl);
        if (!hp || !hr)
            return !hp && !hr && *rp == '\0';
        if (pl >= 2 && ps[0] == '{') {
            if (rl == 0 || *ncaps >= API_MAX_PARAMS)
                return 0;
            caps[*ncaps][0] = rs;
            caps[*ncaps][1] = rs + rl;
            (*ncaps)++;
        } else if (pl != rl || memcmp(ps, rs, pl) != 0) {
            return 0;
        }
    }
}

static void allow_add(char *allow, size_t allowsz, const char *m)
{
    if (strstr(allow, m))
        return;
    size_t n = strlen(allow);
    snprintf(allow + n, allowsz - n, "%s%s", n ? ", " : "", m);
}

int api_route_find(struct api_req *r, char *allow, size_t allowsz, int *path_known,
                   struct vt_error *err)
{
    *path_known = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < NROUTES; i++) {
        const char *caps[API_MAX_PARAMS][2];
        size_t ncaps;
        if (!pattern_match(routes[i].pattern, r->path, caps, &ncaps))
            continue;
        int m = routes[i].method;
        if (m == r->method || (m == API_M_GET && r->method == API_M_HEAD)) {
            for (size_t k = 0; k < ncaps; k++) {
                int rc = api_url_decode(caps[k][0], (size_t)(caps[k][1] - caps[k][0]), 0,
                                        &r->params[k]);
                if (rc == VT_ENOMEM)
                    return vt_error_set(err, VT_ENOMEM, "", "out of memory");
                if (rc)
                    return vt_error_set(err, VT_EPARSE, "path",
                                        "the path has a malformed %%-escape or an encoded NUL");
            }
            return (int)i;
        }
        *path_known = 1;
        allow_add(allow, allowsz, method_names[m]);
        if (m == API_M_GET)
            allow_add(allow, allowsz, "HEAD");
    }
    return -1;
}

#define MAX_QUERY_ARGS 64

int api_query_parse(struct api_req *r, const char *query, struct vt_error *err)
{
    if (!query || !*query)
        return 0;
    size_t cap = 1;
    for (const char *p = query; *p; p++)
        cap += *p == '&';
    if (cap > MAX_QUERY_ARGS)
        return vt_error_set(err, VT_EPARSE, "", "more than %d query parameters",
                            MAX_QUERY_ARGS);
    r->args = vt_calloc(cap, sizeof *r->args);
    if (!r->args)
        return VT_ENOMEM;
    const char *p = query;
    while (*p) {
        const char *e = strchr(p, '&');
        if (!e)
            e = p + strlen(p);
        if (e > p) {
            const char *eq = memchr(p, '=', (size_t)(e - p));
            const char *ne = eq ? eq : e;
            /* Counted before it is filled, so that req_free() frees a
             * half-decoded pair too. */
            struct api_qarg *a = &r->args[r->nargs++];
            int rc = api_url_decode(p, (size_t)(ne - p), 1, &a->name);
            if (!rc)
                rc = api_url_decode(eq ? eq + 1 : e, eq ? (size_t)(e - eq - 1) : 0, 1,
                                    &a->value);
            if (rc == VT_ENOMEM)
                return VT_ENOMEM;
            if (rc)
                return vt_error_set(err, VT_EPARSE, "",
                                    "the query string has a malformed %%-escape or an "
                                    "encoded NUL");
            size_t bad;
            if (!vt_utf8_valid(a->name, strlen(a->name), &bad) ||
                !vt_utf8_valid(a->value, strlen(a->value), &bad))
                return vt_error_set(err, VT_EPARSE, a->name,
                                    "query parameter '%.40s' is not valid UTF-8", a->name);
        }
        p = *e ? e + 1 : e;
    }
    return 0;
}

const char *api_query_get(const struct api_req *r, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < r->nargs; i++)
        if (r->args[i].name && r->args[i].value && strcmp(r->args[i].name, name) == 0)
            v = r->args[i].value;
    return v;
}
