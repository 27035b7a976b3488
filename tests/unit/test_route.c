/* test_route.c - what the API makes of a request before a handler runs:
 * percent-decoding, the query string, route matching with 405 and Allow,
 * the static-file path checks (traversal in every spelling, encoded
 * slashes, backslashes, NUL and control bytes, overlong UTF-8, hidden
 * files, a symbolic link out of the root), the token-bucket rate limiter
 * on an injected clock, and API key parsing and checking.
 *
 * The static-file checks and the Authorization header are tested through
 * a real server on a loopback port, run in a thread of this process, with
 * its storefront and assets in a temporary folder next to a file that must
 * never be served. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/auth.h"
#include "api/ratelimit.h"
#include "api/server.h"
#include "core/alloc.h"
#include "core/conf.h"
#include "core/log.h"
#include "store/store.h"
#include "test.h"

static char dir[] = "/tmp/vitrine-test-route-XXXXXX";

/* ---- helpers --------------------------------------------------------------- */

static void req_clear(struct api_req *r)
{
    for (int i = 0; i < API_MAX_PARAMS; i++) {
        vt_free(r->params[i]);
        r->params[i] = NULL;
    }
    for (size_t i = 0; i < r->nargs; i++) {
        vt_free(r->args[i].name);
        vt_free(r->args[i].value);
    }
    vt_free(r->args);
    r->args = NULL;
    r->nargs = 0;
}

/* Index of the route with this method and pattern, or -1. */
static int route_index(int method, const char *pattern)
{
    size_t n;
    const struct api_route *routes = api_routes(&n);
    for (size_t i = 0; i < n; i++)
        if (routes[i].method == method && strcmp(routes[i].pattern, pattern) == 0)
            return (int)i;
    return -1;
}

/* Route path with method; params (decoded) and Allow go to the caller's
 * buffers. Returns api_route_find's answer. */
static int route(int method, const char *path, char *p0, char *p1, char *allow, int *known,
                 struct vt_error *err)
{
    struct api_req r;
    memset(&r, 0, sizeof r);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    r.path = buf;
    r.method = method;
    vt_error_clear(err);
    char al[96];
    int k;
    int idx = api_route_find(&r, al, sizeof al, &k, err);
    snprintf(p0, 64, "%s", r.params[0] ? r.params[0] : "");
    snprintf(p1, 64, "%s", r.params[1] ? r.params[1] : "");
    if (allow)
        snprintf(allow, 96, "%s", al);
    if (known)
        *known = k;
    req_clear(&r);
    return idx;
}

static int decode(const char *s, int plus, char *out, size_t outsz)
{
    char *d = NULL;
    int rc = api_url_decode(s, strlen(s), plus, &d);
    snprintf(out, outsz, "%s", d ? d : "(none)");
    vt_free(d);
    return rc;
}

/* ---- percent-decoding and the query string ---------------------------------- */

TEST(url_decode_escapes)
{
    char out[128];
    CHECK_EQ_INT(decode("plain-id_1.2~x", 0, out, sizeof out), 0);
    CHECK_STR(out, "plain-id_1.2~x");
    CHECK_EQ_INT(decode("chair%20%C3%A9%201", 0, out, sizeof out), 0);
    CHECK_STR(out, "chair \xc3\xa9 1");
    CHECK_EQ_INT(decode("%e6%b2%99%E5%8F%91", 0, out, sizeof out), 0); /* either case */
    CHECK_STR(out, "\xe6\xb2\x99\xe5\x8f\x91");
    CHECK_EQ_INT(decode("a%2Fb", 0, out, sizeof out), 0);
    CHECK_STR(out, "a/b");
    CHECK_EQ_INT(decode("", 0, out, sizeof out), 0);
    CHECK_STR(out, "");
    /* '+' is a space in query strings only. */
    CHECK_EQ_INT(decode("grey+sofa%2B1", 1, out, sizeof out), 0);
    CHECK_STR(out, "grey sofa+1");
    CHECK_EQ_INT(decode("grey+sofa", 0, out, sizeof out), 0);
    CHECK_STR(out, "grey+sofa");
    /* Escapes decode once: "%252e" is the three characters "%2e". */
    CHECK_EQ_INT(decode("%252e%252e", 0, out, sizeof out), 0);
    CHECK_STR(out, "%2e%2e");
}

TEST(url_decode_refusals)
{
    char out[128];
    const char *bad[] = {"%", "%4", "abc%", "%zz", "%4g", "%g4", "a%%20", "%00", "x%00y", "% 20"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (decode(bad[i], 0, out, sizeof out) != VT_EPARSE)
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
        CHECK_EQ_INT(decode(bad[i], 1, out, sizeof out), VT_EPARSE);
    }
    /* A raw NUL inside the counted bytes is refused too. */
    char *d = (char *)1;
    CHECK_EQ_INT(api_url_decode("ab\0cd", 5, 0, &d), VT_EPARSE);
    /* Only n bytes are read: an escape cut by n is cut. */
    d = NULL;
    CHECK_EQ_INT(api_url_decode("ab%41", 4, 0, &d), VT_EPARSE);
    CHECK_EQ_INT(api_url_decode("ab%41", 2, 0, &d), 0);
    CHECK_STR(d, "ab");
    vt_free(d);
}

TEST(query_parse_and_get)
{
    struct api_req r;
    memset(&r, 0, sizeof r);
    struct vt_error err;
    vt_error_clear(&err);
    CHECK_EQ_INT(api_query_parse(&r, "q=grey+sofa&limit=20&&flag&=v&q=%E6%B2%99%E5%8F%91", &err),
                 0);
    CHECK_EQ_INT(r.nargs, 5); /* the empty piece between "&&" is skipped */
    CHECK_STR(api_query_get(&r, "q"), "\xe6\xb2\x99\xe5\x8f\x91"); /* the last one wins */
    CHECK_STR(api_query_get(&r, "limit"), "20");
    CHECK_STR(api_query_get(&r, "flag"), "");
    CHECK_STR(api_query_get(&r, ""), "v");
    CHECK(api_query_get(&r, "missing") == NULL);
    req_clear(&r);

    CHECK_EQ_INT(api_query_parse(&r, NULL, &err), 0);
    CHECK_EQ_INT(api_query_parse(&r, "", &err), 0);
    CHECK_EQ_INT(r.nargs, 0);

    const char *bad[] = {"q=%zz", "q=%00", "%00=1", "q=%ff", "q=%c0%ae", "q=%ed%a0%80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vt_error_clear(&err);
        CHECK_EQ_INT(api_query_parse(&r, bad[i], &err), VT_EPARSE);
        CHECK_EQ_INT(err.code, VT_EPARSE);
        CHECK(err.message[0] != '\0');
        req_clear(&r);
    }

    /* At most 64 parameters. */
    char q[512] = "";
    for (int i = 0; i < 64; i++)
        snprintf(q + strlen(q), sizeof q - strlen(q), "%sa=%d", i ? "&" : "", i);
    CHECK_EQ_INT(api_query_parse(&r, q, &err), 0);
    CHECK_EQ_INT(r.nargs, 64);
    CHECK_STR(api_query_get(&r, "a"), "63");
    req_clear(&r);
    strcat(q, "&b=1");
    CHECK_EQ_INT(api_query_parse(&r, q, &err), VT_EPARSE);
    req_clear(&r);
}

/* ---- route matching ----------------------------------------------------------- */

TEST(routes_match_method_and_segments)
{
    char p0[64], p1[64], allow[96];
    int known;
    struct vt_error err;
    CHECK_EQ_INT(route(API_M_GET, "/healthz", p0, p1, allow, &known, &err),
                 route_index(API_M_GET, "/healthz"));
    CHECK_EQ_INT(route(API_M_GET, "/v1/items", p0, p1, allow, &known, &err),
                 route_index(API_M_GET, "/v1/items"));
    CHECK_EQ_INT(route(API_M_POST, "/v1/items", p0, p1, allow, &known, &err),
                 route_index(API_M_POST, "/v1/items"));
    /* HEAD takes the GET route. */
    CHECK_EQ_INT(route(API_M_HEAD, "/v1/items/sofa-1", p0, p1, allow, &known, &err),
                 route_index(API_M_GET, "/v1/items/{id}"));
    CHECK_STR(p0, "sofa-1");
    CHECK_EQ_INT(route(API_M_GET, "/v1/users/u%2D42/events", p0, p1, allow, &known, &err),
                 route_index(API_M_GET, "/v1/users/{id}/events"));
    CHECK_STR(p0, "u-42");
    CHECK_EQ_INT(route(API_M_DELETE, "/v1/admin/keys/0123456789ab", p0, p1, allow, &known, &err),
                 route_index(API_M_DELETE, "/v1/admin/keys/{id}"));
    CHECK_STR(p0, "0123456789ab");
}

TEST(route_parameters_are_decoded_within_their_segment)
{
    char p0[64], p1[64];
    struct vt_error err;
    int want = route_index(API_M_GET, "/v1/items/{id}");
    /* An encoded slash stays inside the id (the handler then refuses it). */
    CHECK_EQ_INT(route(API_M_GET, "/v1/items/a%2Fb", p0, p1, NULL, NULL, &err), want);
    CHECK_STR(p0, "a/b");
    CHECK_EQ_INT(route(API_M_GET, "/v1/items/chair%20%C3%A9%201", p0, p1, NULL, NULL, &err), want);
    CHECK_STR(p0, "chair \xc3\xa9 1");
    /* '+' is not a space in a path. */
    CHECK_EQ_INT(route(API_M_GET, "/v1/items/a+b", p0, p1, NULL, NULL, &err), want);
    CHECK_STR(p0, "a+b");
    /* "%2e%2e" is an id like any other here, not a step up. */
    CHECK_EQ_INT(route(API_M_GET, "/v1/items/%2e%2e", p0, p1, NULL, NULL, &err), want);
    CHECK_STR(p0, "..");
    /* A malformed escape or %00 in a parameter is a 400 naming the path. */
    CHECK_EQ_INT(route(API_M_GET, "/v1/items/%zz", p0, p1, NULL, NULL, &err), VT_EPARSE);
    CHECK_EQ_INT(err.code, VT_EPARSE);
    CHECK_STR(err.field, "path");
    CHECK_EQ_INT(route(API_M_GET, "/v1/items/a%00b", p0, p1, NULL, NULL, &err), VT_EPARSE);
}

TEST(unmatched_paths_and_allow)
{
    char p0[64], p1[64], allow[96];
    int known;
    struct vt_error err;
    /* Known path, other method: 405 material. */
    CHECK_EQ_INT(route(API_M_PUT, "/v1/items", p0, p1, allow, &known, &err), -1);
    CHECK_EQ_INT(known, 1);
    CHECK_STR(allow, "GET, HEAD, POST");
    CHECK_EQ_INT(route(API_M_POST, "/v1/items/x", p0, p1, allow, &known, &err), -1);
    CHECK_EQ_INT(known, 1);
    CHECK_STR(allow, "GET, HEAD, PATCH, DELETE");
    CHECK_EQ_INT(route(API_M_OTHER, "/healthz", p0, p1, allow, &known, &err), -1);
    CHECK_STR(allow, "GET, HEAD");
    CHECK_EQ_INT(err.code, 0);
    /* Unknown paths: 404 material, nothing allowed. */
    const char *none[] = {"/v1/items/",        "/v1/items/a/b",   "/v1/items//x", "/healthz/",
                          "//healthz",         "/v1/Items",       "/v1",          "/",
                          "/v1/users/u/events/x", "/v1/users//events", ""};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        int idx = route(API_M_GET, none[i], p0, p1, allow, &known, &err);
        if (idx != -1 || known)
            fprintf(stderr, "  '%s' matched (%d, known %d)\n", none[i], idx, known);
        CHECK(idx == -1 && known == 0 && allow[0] == '\0');
    }
}

/* ---- the rate limiter, on an injected clock ----------------------------------- */

#define SEC 1000000000LL

TEST(ratelimit_burst_refusal_refill)
{
    struct api_ratelimit *rl = NULL;
    CHECK_EQ_INT(api_ratelimit_new(2, 3, &rl), 0);
    int64_t t = 1000 * SEC;
    int retry = -1;
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(api_ratelimit_take(rl, "10.0.0.1", 8, t, &retry), 0);
    CHECK_EQ_INT(api_ratelimit_take(rl, "10.0.0.1", 8, t, &retry), VT_ERATE);
    CHECK_EQ_INT(retry, 1); /* half a second to the next token: rounded up */
    /* Refusals do not dig the hole deeper. */
    CHECK_EQ_INT(api_ratelimit_take(rl, "10.0.0.1", 8, t, &retry), VT_ERATE);
    /* 2 per second: one token after 0.5 s, not before. */
    CHECK_EQ_INT(api_ratelimit_take(rl, "10.0.0.1", 8, t + SEC / 4, &retry), VT_ERATE);
    CHECK_EQ_INT(api_ratelimit_take(rl, "10.0.0.1", 8, t + SEC / 2, &retry), 0);
    CHECK_EQ_INT(api_ratelimit_take(rl, "10.0.0.1", 8, t + SEC / 2, &retry), VT_ERATE);
    /* A long pause refills to the burst and no further. */
    t += 3600 * SEC;
    int ok = 0;
    while (ok < 10 && api_ratelimit_take(rl, "10.0.0.1", 8, t, &retry) == 0)
        ok++;
    CHECK_EQ_INT(ok, 3);
    /* A clock that goes back gives nothing. */
    CHECK_EQ_INT(api_ratelimit_take(rl, "10.0.0.1", 8, t - 60 * SEC, &retry), VT_ERATE);
    api_ratelimit_free(rl);
}

TEST(ratelimit_keys_are_separate_and_cut)
{
    struct api_ratelimit *rl = NULL;
    CHECK_EQ_INT(api_ratelimit_new(0.1, 1, &rl), 0);
    int64_t t = 5 * SEC;
    int retry = 0;
    CHECK_EQ_INT(api_ratelimit_take(rl, "a", 1, t, &retry), 0);
    CHECK_EQ_INT(api_ratelimit_take(rl, "a", 1, t, &retry), VT_ERATE);
    CHECK_EQ_INT(retry, 10); /* one token per 10 s */
    CHECK_EQ_INT(api_ratelimit_take(rl, "b", 1, t, &retry), 0);
    /* Keys are bytes: "a\0" is not "a". */
    CHECK_EQ_INT(api_ratelimit_take(rl, "a\0", 2, t, &retry), 0);
    /* Keys past 24 bytes are cut: these two share a bucket. */
    const char *k1 = "0123456789abcdef01234567-one", *k2 = "0123456789abcdef01234567-two";
    CHECK_EQ_INT(api_ratelimit_take(rl, k1, strlen(k1), t, &retry), 0);
    CHECK_EQ_INT(api_ratelimit_take(rl, k2, strlen(k2), t, &retry), VT_ERATE);
    api_ratelimit_free(rl);
    api_ratelimit_free(NULL);
}

TEST(ratelimit_memory_is_bounded)
{
    struct api_ratelimit *rl = NULL;
    CHECK_EQ_INT(api_ratelimit_new(1, 1, &rl), 0);
    int64_t before = vt_alloc_bytes_in_use();
    unsigned char key[4];
    int retry;
    /* Far more clients than slots: each new one still gets its burst. */
    int refused = 0;
    for (uint32_t i = 0; i < 200000; i++) {
        memcpy(key, &i, 4);
        refused += api_ratelimit_take(rl, key, 4, SEC + i, &retry) != 0;
    }
    CHECK_EQ_INT(refused, 0);
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
    api_ratelimit_free(rl);
}

TEST(ratelimit_rejects_bad_parameters)
{
    struct api_ratelimit *rl = NULL;
    CHECK_EQ_INT(api_ratelimit_new(0, 10, &rl), VT_EINVAL);
    CHECK_EQ_INT(api_ratelimit_new(-1, 10, &rl), VT_EINVAL);
    CHECK_EQ_INT(api_ratelimit_new(NAN, 10, &rl), VT_EINVAL);
    CHECK_EQ_INT(api_ratelimit_new(1, 0.5, &rl), VT_EINVAL);
    CHECK_EQ_INT(api_ratelimit_new(1, NAN, &rl), VT_EINVAL);
    CHECK(rl == NULL);
}

/* ---- API keys ------------------------------------------------------------------- */

static struct vt_store *open_store(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct vt_store *s = NULL;
    struct vt_error e;
    if (vt_store_open(path, NULL, &s, &e) != 0)
        fprintf(stderr, "  open %s: %s\n", path, e.message);
    return s;
}

TEST(scope_names)
{
    CHECK_EQ_INT(vt_scope_parse("public"), VT_SCOPE_PUBLIC);
    CHECK_EQ_INT(vt_scope_parse("read"), VT_SCOPE_READ);
    CHECK_EQ_INT(vt_scope_parse("ingest"), VT_SCOPE_INGEST);
    CHECK_EQ_INT(vt_scope_parse("admin"), VT_SCOPE_ADMIN);
    CHECK_EQ_INT(vt_scope_parse("Admin"), VT_EINVAL);
    CHECK_EQ_INT(vt_scope_parse("admin "), VT_EINVAL);
    CHECK_EQ_INT(vt_scope_parse(""), VT_EINVAL);
    CHECK_EQ_INT(vt_scope_parse(NULL), VT_EINVAL);
    CHECK_STR(vt_scope_name(VT_SCOPE_INGEST), "ingest");
    CHECK_STR(vt_scope_name(7), "none");
    CHECK_STR(vt_scope_name(-1), "none");
}

TEST(key_format_and_check)
{
    struct vt_store *s = open_store("keys.db");
    CHECK(s != NULL);
    if (!s)
        return;
    char key[VT_KEY_MAX];
    struct vt_key rec;
    CHECK_EQ_INT(vt_auth_key_create(s, VT_SCOPE_INGEST, "importer", key, &rec), 0);
    /* "vt_" + 12 lowercase hex + "_" + 43 base64url characters. */
    CHECK_EQ_INT(strlen(key), 59);
    CHECK(strncmp(key, "vt_", 3) == 0 && key[15] == '_');
    CHECK(strncmp(key + 3, rec.id, 12) == 0);
    CHECK_EQ_INT(strspn(key + 3, "0123456789abcdef"), 12);
    CHECK_EQ_INT(strspn(key + 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 43);

    int scope = -1;
    char id[24] = "";
    CHECK_EQ_INT(vt_auth_key_check(s, key, &scope, id), 0);
    CHECK_EQ_INT(scope, VT_SCOPE_INGEST);
    CHECK_STR(id, rec.id);

    /* Every malformed or wrong spelling is one answer: unauthorised. */
    char bad[VT_KEY_MAX + 8];
    const char *replacements[][2] = {
        {"vt_", "VT_"}, {"vt_", "vx_"}, /* prefix */
    };
    for (size_t i = 0; i < sizeof replacements / sizeof replacements[0]; i++) {
        snprintf(bad, sizeof bad, "%s%s", replacements[i][1], key + 3);
        CHECK_EQ_INT(vt_auth_key_check(s, bad, &scope, id), VT_EAUTH);
    }
    struct {
        size_t at;
        char c;
    } flips[] = {
        {15, '-'},                  /* separator */
        {3, (char)0},               /* id: replaced below by its uppercase */
        {20, '+'}, {20, '/'},       /* standard base64, not base64url */
        {58, '='},                  /* padding */
        {58, 0},                    /* one secret character changed: below */
    };
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        snprintf(bad, sizeof bad, "%s", key);
        char c = flips[i].c;
        if (!c && flips[i].at == 3) {
            size_t k = 3;
            while (k < 15 && !(bad[k] >= 'a' && bad[k] <= 'f'))
                k++;
            if (k == 15) { /* an id of digits only: no uppercase spelling */
                continue;
            }
            bad[k] = (char)(bad[k] - 'a' + 'A');
        } else if (!c) {
            bad[flips[i].at] = bad[flips[i].at] == 'A' ? 'B' : 'A';
        } else {
            bad[flips[i].at] = c;
        }
        if (vt_auth_key_check(s, bad, &scope, id) != VT_EAUTH)
            fprintf(stderr, "  accepted '%s'\n", bad);
        CHECK_EQ_INT(vt_auth_key_check(s, bad, &scope, id), VT_EAUTH);
    }
    snprintf(bad, sizeof bad, "%.58s", key); /* one short */
    CHECK_EQ_INT(vt_auth_key_check(s, bad, &scope, id), VT_EAUTH);
    snprintf(bad, sizeof bad, "%sA", key); /* one long */
    CHECK_EQ_INT(vt_auth_key_check(s, bad, &scope, id), VT_EAUTH);
    snprintf(bad, sizeof bad, "%s\n", key); /* a trailing newline from a file */
    CHECK_EQ_INT(vt_auth_key_check(s, bad, &scope, id), VT_EAUTH);
    snprintf(bad, sizeof bad, " %s", key);
    CHECK_EQ_INT(vt_auth_key_check(s, bad, &scope, id), VT_EAUTH);
    CHECK_EQ_INT(vt_auth_key_check(s, "", &scope, id), VT_EAUTH);
    CHECK_EQ_INT(vt_auth_key_check(s, NULL, &scope, id), VT_EAUTH);
    /* Well formed, unknown id. */
    snprintf(bad, sizeof bad, "vt_%s_%s", strcmp(rec.id, "000000000000") ? "000000000000"
                                                                          : "000000000001",
             key + 16);
    CHECK_EQ_INT(vt_auth_key_check(s, bad, &scope, id), VT_EAUTH);
    /* The right key still works after all that. */
    CHECK_EQ_INT(vt_auth_key_check(s, key, &scope, id), 0);

    /* Revoked: refused at once without a cache... */
    struct vt_auth_cache *cache = NULL;
    CHECK_EQ_INT(vt_auth_cache_new(60000, &cache), 0);
    CHECK_EQ_INT(vt_auth_key_check_cached(cache, s, key, &scope, id), 0);
    CHECK_EQ_INT(vt_store_key_revoke(s, rec.id), 0);
    CHECK_EQ_INT(vt_auth_key_check(s, key, &scope, id), VT_EAUTH);
    /* ...within the cache's lifetime through a cache that has it, unless
     * told to forget it (what revocation through the API does). */
    CHECK_EQ_INT(vt_auth_key_check_cached(cache, s, key, &scope, id), 0);
    vt_auth_cache_forget(cache, rec.id);
    CHECK_EQ_INT(vt_auth_key_check_cached(cache, s, key, &scope, id), VT_EAUTH);
    /* A cached entry never lets a wrong secret through. */
    char other[VT_KEY_MAX];
    struct vt_key orec;
    CHECK_EQ_INT(vt_auth_key_create(s, VT_SCOPE_READ, "", other, &orec), 0);
    CHECK_EQ_INT(vt_auth_key_check_cached(cache, s, other, &scope, id), 0);
    CHECK_EQ_INT(scope, VT_SCOPE_READ);
    snprintf(bad, sizeof bad, "%s", other);
    bad[30] = bad[30] == 'x' ? 'y' : 'x';
    CHECK_EQ_INT(vt_auth_key_check_cached(cache, s, bad, &scope, id), VT_EAUTH);
    vt_auth_cache_free(cache);
    vt_auth_cache_free(NULL);

    CHECK_EQ_INT(vt_auth_key_create(s, 9, "", other, NULL), VT_EINVAL);
    char longlabel[200];
    memset(longlabel, 'l', sizeof longlabel - 1);
    longlabel[sizeof longlabel - 1] = '\0';
    CHECK_EQ_INT(vt_auth_key_create(s, VT_SCOPE_READ, longlabel, other, NULL), VT_ETOOBIG);
    vt_store_close(s);
}

/* ---- a real server: static files and the Authorization header ------------------- */

struct server_run {
    struct vt_conf *conf;
    struct vt_store *store;
    pthread_t thread;
    int rc;
    struct vt_error err;
    int port;
};

static void *server_main(void *arg)
{
    struct server_run *sr = arg;
    sr->rc = vt_server_run(sr->conf, sr->store, &sr->err);
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct reply {
    int status;       /* 0 when the server answered nothing parseable */
    char head[2048];
    char body[4096];
    size_t body_len;
};

/* Send one request (raw bytes, n of them) and read the reply to the end. */
static void http_raw(int port, const char *req, size_t n, struct reply *out)
{
    memset(out, 0, sizeof *out);
    int fd = dial(port);
    if (fd < 0)
        return;
    size_t sent = 0;
    while (sent < n) {
        ssize_t k = send(fd, req + sent, n - sent, MSG_NOSIGNAL);
        if (k <= 0)
            break;
        sent += (size_t)k;
    }
    static char buf[16384];
    size_t got = 0;
    for (;;) {
        ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[got] = '\0';
    int st = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &st) == 1)
        out->status = st;
    char *sep = strstr(buf, "\r\n\r\n");
    size_t hl = sep ? (size_t)(sep - buf) : got;
    snprintf(out->head, sizeof out->head, "%.*s", (int)hl, buf);
    if (sep) {
        out->body_len = got - hl - 4;
        if (out->body_len >= sizeof out->body)
            out->body_len = sizeof out->body - 1;
        memcpy(out->body, sep + 4, out->body_len);
    }
}

static void http(int port, const char *method, const char *target, const char *auth,
                 struct reply *out)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n%s%s%sConnection: close\r\n\r\n",
                     method, target, auth ? "Authorization: " : "", auth ? auth : "",
                     auth ? "\r\n" : "");
    http_raw(port, req, (size_t)n, out);
}

/* A header's value in a reply, or "". */
static const char *header(const struct reply *r, const char *name, char *out, size_t outsz)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = r->head; (p = strstr(p, "\r\n")); p += 2) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            snprintf(out, outsz, "%.*s", (int)strcspn(v, "\r"), v);
            break;
        }
    }
    return out;
}

#define SECRET "top secret: the store's admin key"

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int server_start(struct server_run *sr)
{
    char p[256];
    const char *dirs[] = {"web", "web/sub", "data", "data/assets", "data/assets/models"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, dirs[i]);
        mkdir(p, 0755);
    }
    write_file("secret.txt", SECRET);
    write_file("web/index.html", "<h1>shop</h1>");
    write_file("web/app.js", "console.log('shop');");
    write_file("web/.env", SECRET);
    write_file("web/sub/index.html", "<h1>sub</h1>");
    write_file("web/sub/.hidden", SECRET);
    write_file("data/assets/models/chair.glb", "glTF-chair");
    char target[256];
    snprintf(target, sizeof target, "%s/secret.txt", dir);
    snprintf(p, sizeof p, "%s/web/link.txt", dir);
    CHECK_EQ_INT(symlink(target, p), 0);
    snprintf(p, sizeof p, "%s/web/up", dir);
    CHECK_EQ_INT(symlink(dir, p), 0); /* a directory link out of the root */

    memset(sr, 0, sizeof *sr);
    sr->port = free_port();
    CHECK(sr->port > 0);
    CHECK_EQ_INT(vt_conf_defaults(&sr->conf), 0);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", sr->port);
    CHECK_EQ_INT(vt_conf_set(sr->conf, "listen", listen), 0);
    snprintf(p, sizeof p, "%s/web", dir);
    CHECK_EQ_INT(vt_conf_set(sr->conf, "web_dir", p), 0);
    snprintf(p, sizeof p, "%s/data", dir);
    CHECK_EQ_INT(vt_conf_set(sr->conf, "data_dir", p), 0);
    CHECK_EQ_INT(vt_conf_set(sr->conf, "threads", "2"), 0);
    CHECK_EQ_INT(vt_conf_set(sr->conf, "shutdown_grace_s", "1"), 0);
    sr->store = open_store("server.db");
    if (!sr->store || sr->port <= 0)
        return -1;
    if (pthread_create(&sr->thread, NULL, server_main, sr) != 0)
        return -1;
    /* Ready once it accepts a connection (2 s at most). */
    for (int i = 0; i < 200; i++) {
        int fd = dial(sr->port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(10000);
    }
    return -1;
}

static void server_stop(struct server_run *sr)
{
    pthread_kill(sr->thread, SIGTERM);
    pthread_join(sr->thread, NULL);
    CHECK_EQ_INT(sr->rc, 0);
    vt_store_close(sr->store);
    vt_conf_free(sr->conf);
}

static int leaked(const struct reply *r)
{
    return strstr(r->body, "top secret") != NULL || strstr(r->body, "root:") != NULL;
}

static void static_checks(int port)
{
    struct reply r;
    char v[128];
    /* What must be served. */
    http(port, "GET", "/", NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, "<h1>shop</h1>");
    http(port, "GET", "/sub", NULL, &r);
    CHECK_STR(r.body, "<h1>sub</h1>");
    http(port, "GET", "/sub/", NULL, &r);
    CHECK_STR(r.body, "<h1>sub</h1>");
    http(port, "GET", "/%61pp.js", NULL, &r); /* an escaped plain letter is fine */
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, "console.log('shop');");
    CHECK_STR(header(&r, "Content-Type", v, sizeof v), "text/javascript; charset=utf-8");
    http(port, "GET", "/assets/models/chair.glb", NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, "glTF-chair");
    CHECK_STR(header(&r, "Content-Type", v, sizeof v), "model/gltf-binary");

    /* Refused outright (400): every spelling of a step up, encoded
     * slashes and backslashes, NUL and control bytes, empty segments. */
    const char *refused[] = {
        "/../secret.txt",
        "/../../etc/passwd",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2e/secret.txt",
        "/.%2e/secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/assets/../../secret.txt",
        "/assets/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/assets/models%2f..%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/sub\\..\\..\\secret.txt",
        "/sub%5c..%5c..%5csecret.txt",
        "/index.html%00.png",
        "/index.html%00",
        "/%0aindex.html",
        "/app.js%7f",
        "//etc/passwd",
        "/sub//index.html",
        "/./app.js",
        "/sub/./index.html",
        "/assets/./models/chair.glb",
        "/%zz",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        http(port, "GET", refused[i], NULL, &r);
        if (r.status != 400)
            fprintf(stderr, "  %s answered %d\n", refused[i], r.status);
        CHECK_EQ_INT(r.status, 400);
        CHECK(!leaked(&r));
    }
    /* Not found (404): hidden files, links out of the root, and overlong
     * UTF-8 forms of "." and "/", which are just bytes in a name here. */
    const char *missing[] = {
        "/.env",
        "/sub/.hidden",
        "/%2eenv",
        "/link.txt",
        "/up/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%c0%ae%c0%ae%c0%afsecret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt",
        "/sub/%c0%ae%c0%ae%c1%9csecret.txt",
        "/assets/models/none.glb",
        "/secret.txt",
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        http(port, "GET", missing[i], NULL, &r);
        if (r.status != 404)
            fprintf(stderr, "  %s answered %d\n", missing[i], r.status);
        CHECK_EQ_INT(r.status, 404);
        CHECK(!leaked(&r));
    }
    /* A raw NUL byte in the request target: libmicrohttpd hands over the
     * target cut at the NUL (so "/index.html" is what gets served), and
     * what lies past the NUL is never followed. */
    static const char nul_req[] = "GET /index.html\0/../../secret.txt HTTP/1.1\r\nHost: t\r\n"
                                  "Connection: close\r\n\r\n";
    http_raw(port, nul_req, sizeof nul_req - 1, &r);
    CHECK(!leaked(&r));
    static const char nul_req2[] = "GET /sub/\0../../secret.txt HTTP/1.1\r\nHost: t\r\n"
                                   "Connection: close\r\n\r\n";
    http_raw(port, nul_req2, sizeof nul_req2 - 1, &r);
    CHECK(!leaked(&r));
    /* Static files take GET and HEAD only. */
    http(port, "POST", "/app.js", NULL, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK_STR(header(&r, "Allow", v, sizeof v), "GET, HEAD");
    http(port, "HEAD", "/app.js", NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.body_len, 0);
}

static void auth_checks(struct server_run *sr)
{
    char key[VT_KEY_MAX], admin[VT_KEY_MAX];
    CHECK_EQ_INT(vt_auth_key_create(sr->store, VT_SCOPE_PUBLIC, "shop", key, NULL), 0);
    CHECK_EQ_INT(vt_auth_key_create(sr->store, VT_SCOPE_ADMIN, "ops", admin, NULL), 0);
    struct reply r;
    char auth[256], v[128];
    snprintf(auth, sizeof auth, "Bearer %s", key);
    http(sr->port, "GET", "/v1/items", auth, &r);
    CHECK_EQ_INT(r.status, 200);
    /* The scheme is case-insensitive; blanks around the key are fine. */
    snprintf(auth, sizeof auth, "bearer \t %s \t", key);
    http(sr->port, "GET", "/v1/items", auth, &r);
    CHECK_EQ_INT(r.status, 200);
    /* No key: 401 with a challenge. */
    http(sr->port, "GET", "/v1/items", NULL, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK_STR(header(&r, "WWW-Authenticate", v, sizeof v), "Bearer realm=\"vitrine\"");
    /* Malformed headers and keys: 401, the key named invalid. */
    const char *fmts[] = {"Basic %s", "Bearer%s", "Bearer %s extra", "Bearer %s,", "Token %s",
                          "Bearer \"%s\""};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        snprintf(auth, sizeof auth, fmts[i], key);
        http(sr->port, "GET", "/v1/items", auth, &r);
        if (r.status != 401)
            fprintf(stderr, "  '%s' answered %d\n", fmts[i], r.status);
        CHECK_EQ_INT(r.status, 401);
    }
    snprintf(auth, sizeof auth, "Bearer %.58s", key);
    http(sr->port, "GET", "/v1/items", auth, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK_STR(header(&r, "WWW-Authenticate", v, sizeof v),
              "Bearer realm=\"vitrine\", error=\"invalid_token\"");
    char longkey[300];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    char longauth[320];
    snprintf(longauth, sizeof longauth, "Bearer %s", longkey);
    http(sr->port, "GET", "/v1/items", longauth, &r);
    CHECK_EQ_INT(r.status, 401);
    /* A valid key with too low a scope: 403, not 401. */
    snprintf(auth, sizeof auth, "Bearer %s", key);
    http(sr->port, "GET", "/v1/admin/keys", auth, &r);
    CHECK_EQ_INT(r.status, 403);
    snprintf(auth, sizeof auth, "Bearer %s", admin);
    http(sr->port, "GET", "/v1/admin/keys", auth, &r);
    CHECK_EQ_INT(r.status, 200);
    /* Routing answers before a handler runs: 405 with Allow, 400 for a
     * malformed escape, 404 for an unknown API path. */
    http(sr->port, "PUT", "/v1/items", auth, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK_STR(header(&r, "Allow", v, sizeof v), "GET, HEAD, POST");
    http(sr->port, "GET", "/v1/items/%zz", auth, &r);
    CHECK_EQ_INT(r.status, 400);
    http(sr->port, "GET", "/v1/items?q=%ff", auth, &r);
    CHECK_EQ_INT(r.status, 400);
    http(sr->port, "GET", "/v1/nothing", auth, &r);
    CHECK_EQ_INT(r.status, 404);
}

TEST(server_static_paths_and_auth_header)
{
    struct server_run sr;
    if (server_start(&sr) != 0) {
        CHECK(!"the server did not start");
        if (sr.thread)
            server_stop(&sr);
        return;
    }
    static_checks(sr.port);
    auth_checks(&sr);
    server_stop(&sr);
}

static void rm_tree(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
}

int main(void)
{
    vt_alloc_install_json();
    vt_log_set_level(VT_LOG_OFF);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(url_decode_escapes);
    RUN(url_decode_refusals);
    RUN(query_parse_and_get);
    RUN(routes_match_method_and_segments);
    RUN(route_parameters_are_decoded_within_their_segment);
    RUN(unmatched_paths_and_allow);
    RUN(ratelimit_burst_refusal_refill);
    RUN(ratelimit_keys_are_separate_and_cut);
    RUN(ratelimit_memory_is_bounded);
    RUN(ratelimit_rejects_bad_parameters);
    RUN(scope_names);
    RUN(key_format_and_check);
    RUN(server_static_paths_and_auth_header);
    rm_tree();
    return TEST_SUMMARY();
}
