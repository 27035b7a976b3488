/*
 * fuzz_route.c - libFuzzer target for what the HTTP server makes of a
 * request target and the static-file headers (src/api): percent-decoding,
 * the query string, route matching, the static-path check, and the
 * If-Modified-Since / If-None-Match parsers.
 *
 * The static-path check and the header parsers are private to
 * static_files.c, so that file is compiled into this target: what is
 * fuzzed is exactly what is served. (The rest of src/api comes from the
 * instrumented archive, which then leaves its own copy of the file out.)
 *
 * Input: one mode byte, then bytes. Mode:
 *   mode % 4 == 0  a request target "/path?query" as received, split and
 *                  routed the way server.c does, with method (mode/4) % 7;
 *                  a path no route takes goes to the static-path check
 *   mode % 4 == 1  a raw path under the storefront or assets root, checked
 *   mode % 4 == 2  a header value: parsed as If-Modified-Since and as an
 *                  If-None-Match list, and its content type looked up
 *   mode % 4 == 3  bytes percent-decoded ('+' as space when mode & 4)
 *
 * Checks beyond "no crash, no sanitizer report":
 *   - decoding fails exactly on a bad escape, %00 or a raw NUL; otherwise
 *     the result is NUL-free, one byte per escape, and encoding it again
 *     decodes to the same bytes;
 *   - query parameters are valid UTF-8, one per non-empty '&' piece, and a
 *     lookup gives the last value of a name;
 *   - a matched route has the request's method (GET for HEAD) and one
 *     non-empty parameter per "{...}" in its pattern, and the path rebuilt
 *     from the pattern with the parameters fully encoded matches the same
 *     route with the same parameters; an unmatched path known under other
 *     methods lists them in Allow and not the request's;
 *   - a static path that passes has only plain segments: none empty, "."
 *     or "..", none starting with '.', no '/', '\' or control byte inside;
 *   - a parsed HTTP date formats and parses back to the same time; a list
 *     with the file's ETag appended always matches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/static_files.c"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "fuzz_route: check failed at line %d: %s\n", __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* The same limit as server.c. */
#define MAX_PATH_BYTES 4096

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

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Every byte of s[0..n) as %XX, appended to out (size checked by caller). */
static size_t encode_all(const char *s, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[3 * i] = '%';
        out[3 * i + 1] = hex[c >> 4];
        out[3 * i + 2] = hex[c & 15];
    }
    return 3 * n;
}

static void fuzz_decode(const char *s, size_t n, int plus)
{
    char *d = NULL;
    int rc = api_url_decode(s, n, plus, &d);
    /* What the grammar says, independently of the decoder. */
    int ok = 1;
    size_t escapes = 0;
    for (size_t i = 0; i < n && ok; i++) {
        if (s[i] == '\0') {
            ok = 0;
        } else if (s[i] == '%') {
            if (n - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2]) ||
                (s[i + 1] == '0' && s[i + 2] == '0'))
                ok = 0;
            escapes++;
            i += 2;
        }
    }
    CHECK(rc == (ok ? 0 : VT_EPARSE));
    if (rc) {
        CHECK(d == NULL);
        return;
    }
    size_t len = strlen(d);
    CHECK(len == n - 2 * escapes);
    int plain = 1;
    for (size_t i = 0; i < n; i++)
        plain &= s[i] != '%' && !(plus && s[i] == '+');
    if (plain)
        CHECK(memcmp(d, s, n) == 0);
    char *enc = malloc(3 * len + 1);
    CHECK(enc != NULL);
    size_t en = encode_all(d, len, enc);
    char *d2 = NULL;
    CHECK(api_url_decode(enc, en, plus, &d2) == 0);
    CHECK(strcmp(d, d2) == 0);
    vt_free(d2);
    free(enc);
    vt_free(d);
}

static void check_query(const struct api_req *r, const char *q, int rc, const struct vt_error *err)
{
    if (rc) {
        CHECK(rc == VT_EPARSE && err->code == rc && err->message[0]);
        return;
    }
    size_t pieces = 0;
    for (const char *p = q; p && *p;) {
        const char *e = strchr(p, '&');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        pieces += n > 0;
        p = e ? e + 1 : p + n;
    }
    CHECK(r->nargs == pieces);
    for (size_t i = 0; i < r->nargs; i++) {
        size_t bad;
        const struct api_qarg *a = &r->args[i];
        CHECK(a->name && a->value);
        CHECK(vt_utf8_valid(a->name, strlen(a->name), &bad));
        CHECK(vt_utf8_valid(a->value, strlen(a->value), &bad));
        const char *last = NULL;
        for (size_t k = 0; k < r->nargs; k++)
            if (strcmp(r->args[k].name, a->name) == 0)
                last = r->args[k].value;
        CHECK(api_query_get(r, a->name) == last);
    }
}

/* Rebuild a path from a pattern, its parameters fully encoded. */
static char *path_from_pattern(const char *pattern, char *const *params)
{
    size_t cap = strlen(pattern) + 1;
    for (int i = 0; i < API_MAX_PARAMS; i++)
        cap += params[i] ? 3 * strlen(params[i]) : 0;
    char *out = malloc(cap), *o = out;
    CHECK(out != NULL);
    int k = 0;
    for (const char *p = pattern; *p;) {
        if (*p == '{') {
            CHECK(k < API_MAX_PARAMS && params[k]);
            o += encode_all(params[k], strlen(params[k]), o);
            k++;
            p = strchr(p, '}');
            CHECK(p != NULL);
            p++;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static void check_allow(const char *allow, int method)
{
    const char *name = api_method_name(method);
    size_t nl = strlen(name);
    for (const char *p = allow; *p;) {
        size_t n = strcspn(p, ",");
        CHECK(!(n == nl && memcmp(p, name, n) == 0));
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
}

static void check_static(const char *raw)
{
    struct vt_buf rel;
    vt_buf_init(&rel, PATH_MAX);
    int rc = api_static_relpath(raw, &rel);
    CHECK(rc == 0 || rc == VT_EPARSE || rc == VT_ENOTFOUND);
    if (rc == 0 && rel.len) {
        CHECK(strlen(rel.data) == rel.len);
        for (const char *p = rel.data;;) {
            const char *e = strchr(p, '/');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            CHECK(n > 0);
            CHECK(p[0] != '.');
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                CHECK(c >= 0x20 && c != 0x7f && c != '\\');
            }
            if (!e)
                break;
            p = e + 1;
        }
    }
    vt_buf_reset(&rel);
}

static void fuzz_target(const char *target, int method)
{
    if (target[0] != '/')
        return; /* refused before routing */
    char *t = strdup(target);
    CHECK(t != NULL);
    char *q = strchr(t, '?');
    if (q)
        *q++ = '\0';
    if (strlen(t) > MAX_PATH_BYTES) {
        free(t);
        return;
    }
    struct api_req r;
    memset(&r, 0, sizeof r);
    r.path = t;
    r.method = method;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = api_query_parse(&r, q, &err);
    check_query(&r, q, rc, &err);

    char allow[96];
    int known = 0;
    vt_error_clear(&err);
    int idx = api_route_find(&r, allow, sizeof allow, &known, &err);
    size_t nroutes;
    const struct api_route *routes = api_routes(&nroutes);
    if (err.code) {
        CHECK(err.code == VT_EPARSE && idx == VT_EPARSE);
    } else if (idx >= 0) {
        CHECK((size_t)idx < nroutes);
        const struct api_route *rt = &routes[idx];
        CHECK(rt->method == method || (rt->method == API_M_GET && method == API_M_HEAD));
        int want = 0;
        for (const char *p = rt->pattern; (p = strchr(p, '{')); p++)
            want++;
        for (int i = 0; i < API_MAX_PARAMS; i++) {
            CHECK((i < want) == (r.params[i] != NULL));
            if (r.params[i])
                CHECK(r.params[i][0] != '\0');
        }
        /* The same route from the canonical spelling of the same path. */
        struct api_req r2;
        memset(&r2, 0, sizeof r2);
        r2.path = path_from_pattern(rt->pattern, r.params);
        r2.method = method;
        char allow2[96];
        int known2;
        struct vt_error err2;
        vt_error_clear(&err2);
        CHECK(api_route_find(&r2, allow2, sizeof allow2, &known2, &err2) == idx);
        for (int i = 0; i < want; i++)
            CHECK(strcmp(r.params[i], r2.params[i]) == 0);
        free(r2.path);
        req_clear(&r2);
    } else {
        CHECK(idx == -1);
        CHECK(known == (allow[0] != '\0'));
        check_allow(allow, method);
        if (!known && strncmp(t, "/v1/", 4) != 0 && strcmp(t, "/v1") != 0)
            check_static(t + (strncmp(t, "/assets/", 8) == 0 ? 8 : 1));
    }
    req_clear(&r);
    free(t);
}

static void fuzz_headers(const char *s)
{
    time_t t = http_date_parse(s);
    if (t != (time_t)-1) {
        CHECK(t >= 0);
        char buf[64];
        http_date(t, buf, sizeof buf);
        CHECK(http_date_parse(buf) == t);
    }
    static const char etag[] = "\"1f-17a3c4e5d6f70000\"";
    etag_matches(s, etag);
    size_t n = strlen(s);
    char *list = malloc(n + sizeof etag + 2);
    CHECK(list != NULL);
    memcpy(list, s, n);
    memcpy(list + n, ", ", 2);
    memcpy(list + n + 2, etag, sizeof etag);
    CHECK(etag_matches(list, etag) == 1);
    free(list);
    CHECK(content_type(s) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0];
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    if (mode % 4 == 3) {
        fuzz_decode(body, n, (mode & 4) != 0);
        return 0;
    }
    /* The rest take C strings, as the server gets them: cut at a NUL. */
    char *s = malloc(n + 1);
    CHECK(s != NULL);
    memcpy(s, body, n);
    s[n] = '\0';
    if (mode % 4 == 0)
        fuzz_target(s, (mode / 4) % API_M_COUNT);
    else if (mode % 4 == 1)
        check_static(s);
    else
        fuzz_headers(s);
    free(s);
    return 0;
}
