/*
 * static_files.c - the storefront (conf web_dir, at /) and assets (conf
 * data_dir + "/assets", at /assets/): GET and HEAD only.
 *
 * Path safety, in order: the raw path is split on '/', and each segment is
 * percent-decoded on its own. A segment that decodes to "." or "..", holds
 * a '/' (an encoded slash), a backslash, a NUL or another control
 * character, or is empty in the middle of the path is refused with 400;
 * segments starting with '.' (".git", ".env") are not served (404). The
 * joined path is then resolved with realpath() and must still lie inside
 * the root's realpath, so a symbolic link cannot lead out either.
 *
 * Caching: Cache-Control max-age=conf cache.static_max_age, except HTML
 * pages, which are "no-cache" (always revalidated) so a new storefront
 * shows at once. ETag (size and modification time) and Last-Modified are
 * sent; If-None-Match / If-Modified-Since answer 304.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "core/alloc.h"

static const struct {
    const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"glb", "model/gltf-binary"},
    {"gltf", "model/gltf+json"},
    {"usdz", "model/vnd.usdz+zip"},
    {"bin", "application/octet-stream"},
    {"wasm", "application/wasm"},
    {"woff2", "font/woff2"},
    {"woff", "font/woff"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml"},
    {"pdf", "application/pdf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
};

static const char *content_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

int api_static_relpath(const char *raw, struct vt_buf *out)
{
    const char *p = raw;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (memchr(p, '\\', n))
            return VT_EPARSE;
        char *seg;
        int rc = api_url_decode(p, n, 0, &seg);
        if (rc)
            return rc == VT_ENOMEM ? rc : VT_EPARSE;
        size_t sl = strlen(seg);
        int bad = 0, hidden = 0;
        for (size_t i = 0; i < sl; i++) {
            unsigned char c = (unsigned char)seg[i];
            if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
                bad = 1;
        }
        if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
            bad = 1;
        else if (seg[0] == '.')
            hidden = 1;
        if (sl == 0 && e)
            bad = 1; /* "//" in the middle */
        if (!bad && !hidden && sl) {
            if ((out->len && vt_buf_append(out, "/", 1)) || vt_buf_append(out, seg, sl))
                bad = 1;
        }
        vt_free(seg);
        if (bad)
            return VT_EPARSE;
        if (hidden)
            return VT_ENOTFOUND;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), spelled out by hand so
 * that no locale can change it. */
static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void http_date(time_t t, char *out, size_t outsz)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

/* Parse an IMF-fixdate; -1 when it is not one. */
static time_t http_date_parse(const char *s)
{
    char wd[4], mon[4];
    int d, y, h, mi, se, n = 0;
    if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &h, &mi, &se, &n) != 7 ||
        s[n] != '\0')
        return (time_t)-1;
    int m = 0;
    while (m < 12 && strcmp(mon, months[m]) != 0)
        m++;
    if (m == 12 || d < 1 || d > 31 || y < 1970 || h > 23 || mi > 59 || se > 60)
        return (time_t)-1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = m;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return timegm(&tm);
}

/* 1 if the If-None-Match list holds etag or "*". */
static int etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return 0;
    size_t el = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if ((t == 1 && p[0] == '*') || (t == el && memcmp(p, etag, el) == 0))
            return 1;
        p += n;
    }
    return 0;
}

static int not_modified_since(const char *ims, time_t mtime)
{
    if (!ims)
        return 0;
    time_t t = http_date_parse(ims);
    return t != (time_t)-1 && mtime <= t;
}

void api_h_static(struct api_req *r, int assets)
{
    struct api_server *srv = r->srv;
    const char *root = assets ? srv->assets_root : srv->web_root;
    const char *raw = r->path + (assets ? 8 : 1);
    struct vt_buf rel;
    vt_buf_init(&rel, PATH_MAX);
    int fd = -1;
    char *real = NULL;
    int rc = api_static_relpath(raw, &rel);
    if (rc == VT_EPARSE) {
        api_reply_error(r, VT_EPARSE, "path", "the path is not allowed");
        goto out;
    }
    if (rc == VT_ENOMEM) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (rc || !root) {
        api_reply_error(r, VT_ENOTFOUND, NULL, "no file %s", r->path);
        goto out;
    }
    char full[PATH_MAX];
    int dir_hint = rel.len == 0 || raw[0] == '\0' || raw[strlen(raw) - 1] == '/';
    if (snprintf(full, sizeof full, "%s%s%s%s", root, rel.len ? "/" : "",
                 rel.len ? rel.data : "", dir_hint ? "/index.html" : "") >= (int)sizeof full) {
        api_reply_error(r, VT_EPARSE, "path", "the path is too long");
        goto out;
    }
    char *rp = realpath(full, NULL);
    struct stat st;
    if (rp && stat(rp, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* A directory named without its trailing slash: serve its index. */
        char idx[PATH_MAX];
        if (snprintf(idx, sizeof idx, "%s/index.html", rp) < (int)sizeof idx) {
            free(rp);
            rp = realpath(idx, NULL);
        }
    }
    if (rp) {
        real = vt_strdup(rp);
        free(rp);
    }
    size_t rl = strlen(root);
    if (!real || strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
        api_reply_error(r, VT_ENOTFOUND, NULL, "no file %s", r->path);
        goto out;
    }
    fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        api_reply_error(r, VT_ENOTFOUND, NULL, "no file %s", r->path);
        goto out;
    }
    char etag[64], lastmod[64], cache[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    http_date(st.st_mtim.tv_sec, lastmod, sizeof lastmod);
    const char *type = content_type(real);
    if (strncmp(type, "text/html", 9) == 0)
        snprintf(cache, sizeof cache, "no-cache");
    else
        snprintf(cache, sizeof cache, "public, max-age=%lld", (long long)srv->static_max_age);
    const char *inm = api_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    int fresh = inm ? etag_matches(inm, etag)
                    : not_modified_since(api_header(r, MHD_HTTP_HEADER_IF_MODIFIED_SINCE),
                                         st.st_mtim.tv_sec);
    struct MHD_Response *resp;
    unsigned status;
    uint64_t bytes;
    if (fresh) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_MODIFIED;
        bytes = 0;
    } else {
        resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
        if (resp)
            fd = -1; /* the response owns it now */
        status = MHD_HTTP_OK;
        bytes = (uint64_t)st.st_size;
    }
    if (!resp) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (!fresh)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, lastmod);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    api_reply_queue(r, status, resp, r->method == API_M_HEAD ? 0 : bytes);
out:
    if (fd >= 0)
        close(fd);
    vt_free(real);
    vt_buf_reset(&rel);
}
