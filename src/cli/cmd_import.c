/*
 * cmd_import.c - `vitrine import items|events FILE` (the generic import of
 * store/import.h) and `vitrine import sh3d DIR` (the demo catalog).
 *
 * The report goes to standard error: the first rejected lines as
 * "FILE:LINE[:COLUMN]: reason", then "imported N, rejected M". The exit
 * status is 1 when anything was rejected, so scripts notice.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ar/sh3d.h"
#include "cli/cli.h"
#include "core/alloc.h"
#include "store/import.h"

static void print_report(const char *name, const struct vt_import_report *r)
{
    for (size_t i = 0; i < r->nrejects; i++) {
        const struct vt_import_reject *j = &r->rejects[i];
        if (j->column > 0)
            fprintf(stderr, "%s:%lld:%d: %s\n", name, (long long)j->line, j->column, j->reason);
        else
            fprintf(stderr, "%s:%lld: %s\n", name, (long long)j->line, j->reason);
    }
    if (r->rejected > (int64_t)r->nrejects)
        fprintf(stderr, "... and %lld more rejected\n",
                (long long)(r->rejected - (int64_t)r->nrejects));
    fprintf(stderr, "imported %lld, rejected %lld\n", (long long)r->imported,
            (long long)r->rejected);
}

static int import_file(struct cli *c, int kind)
{
    const char *path = c->pos[0], *fmt = cli_opt(c, "--format");
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "stdin" : path;
    int format;
    if (fmt) {
        if (strcmp(fmt, "jsonl") == 0 || strcmp(fmt, "ndjson") == 0)
            format = VT_IMPORT_JSONL;
        else if (strcmp(fmt, "csv") == 0)
            format = VT_IMPORT_CSV;
        else
            return cli_usage_error(c, "--format must be jsonl or csv, not '%.40s'", fmt);
    } else if (is_stdin) {
        return cli_usage_error(c, "reading standard input needs --format jsonl or --format csv");
    } else {
        format = vt_import_format_from_name(path);
        if (format == VT_IMPORT_AUTO)
            return cli_usage_error(c,
                                   "cannot tell the format of '%.200s' from its name (.jsonl, "
                                   ".ndjson, .json-lines or .csv); add --format jsonl or csv",
                                   path);
    }

    FILE *in = is_stdin ? stdin : fopen(path, "rb");
    if (!in)
        return cli_fail("%s: %s", path, strerror(errno));
    struct stat st;
    int64_t total = 0;
    if (fstat(fileno(in), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(in);
            return cli_fail("%s: is a directory", path);
        }
        if (S_ISREG(st.st_mode))
            total = (int64_t)st.st_size;
    }
    int rc = cli_open_store(c, 0);
    if (rc) {
        if (!is_stdin)
            fclose(in);
        return rc;
    }

    struct vt_import_options o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.format = format;
    vt_limits_default(&o.limits);
    int64_t v = vt_conf_int(c->conf, "max_string_bytes");
    if (v > 0)
        o.limits.max_string_bytes = (size_t)v;
    v = vt_conf_int(c->conf, "max_body_bytes");
    if (v > 0)
        o.max_record_bytes = (size_t)v;
    o.total_bytes = total;
    o.progress = kind == VT_IMPORT_ITEMS ? "importing items" : "importing events";

    struct vt_import_report r;
    vt_import_report_init(&r);
    struct vt_error e;
    vt_error_clear(&e);
    rc = vt_import_run(c->store, in, &o, &r, &e);
    if (!is_stdin)
        fclose(in);
    if (rc) {
        int64_t stored = r.imported;
        if (r.imported || r.rejected)
            print_report(name, &r);
        vt_import_report_reset(&r);
        if (stored)
            return cli_fail("%s: %s (stopped; the records counted above as imported are stored)",
                            name, e.message[0] ? e.message : vt_strerror(rc));
        return cli_fail("%s: %s", name, e.message[0] ? e.message : vt_strerror(rc));
    }
    print_report(name, &r);
    int status = r.rejected ? CLI_FAIL : CLI_OK;
    vt_import_report_reset(&r);
    return status;
}

int cmd_import_items(struct cli *c) { return import_file(c, VT_IMPORT_ITEMS); }
int cmd_import_events(struct cli *c) { return import_file(c, VT_IMPORT_EVENTS); }

/* mkdir -p; 0 or -1 with errno. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* The absolute, symlink-free form of path, which need not exist yet: its
 * longest existing ancestor is resolved and the rest appended (a ".." in
 * the rest is refused). 0 or -1 with errno. */
static int resolve_path(const char *path, char out[PATH_MAX])
{
    char head[PATH_MAX];
    if (snprintf(head, sizeof head, "%s", path) >= (int)sizeof head) {
        errno = ENAMETOOLONG;
        return -1;
    }
    const char *rest;
    for (;;) {
        if (realpath(head, out)) {
            rest = path + strlen(head);
            break;
        }
        if (errno != ENOENT)
            return -1;
        char *slash = strrchr(head, '/');
        if (!slash) { /* nothing of it exists: relative to the working folder */
            if (!realpath(".", out))
                return -1;
            rest = path;
            break;
        }
        if (slash == head) { /* "/x" */
            snprintf(out, PATH_MAX, "/");
            rest = path + 1;
            break;
        }
        *slash = '\0';
    }
    while (*rest == '/')
        rest++;
    if (strstr(rest, "..")) {
        errno = EINVAL;
        return -1;
    }
    size_t len = strlen(out);
    if (*rest && snprintf(out + len, PATH_MAX - len, "%s%s", len > 1 ? "/" : "", rest) >=
                     (int)(PATH_MAX - len)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = '\0';
    return 0;
}

int cmd_import_sh3d(struct cli *c)
{
    const char *src = c->pos[0];
    struct stat st;
    if (stat(src, &st) != 0)
        return cli_fail("%s: %s", src, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_fail("%s: not a folder (of extracted .sh3f catalogs)", src);
    size_t limit = 0, threads = 0;
    const char *lim = cli_opt(c, "--limit"), *thr = cli_opt(c, "--threads");
    if (lim && cli_parse_size(lim, &limit))
        return cli_usage_error(c, "--limit needs a whole number, not '%.40s'", lim);
    if (thr && (cli_parse_size(thr, &threads) || threads < 1 || threads > 64))
        return cli_usage_error(c, "--threads needs a number from 1 to 64, not '%.40s'", thr);
    int models = cli_opt(c, "--no-models") == NULL;

    /* The server maps /assets/ to <data_dir>/assets: the models must lie
     * under it for their URLs to resolve. */
    char root[PATH_MAX], assets[PATH_MAX], rroot[PATH_MAX], rassets[PATH_MAX];
    char prefix[PATH_MAX + 16] = "";
    const char *data_dir = vt_conf_str(c->conf, "data_dir");
    const char *as = cli_opt(c, "--assets");
    if (snprintf(root, sizeof root, "%s/assets", data_dir) >= (int)sizeof root ||
        snprintf(assets, sizeof assets, "%s", as ? as : "") >= (int)sizeof assets ||
        (!as && snprintf(assets, sizeof assets, "%s/models", root) >= (int)sizeof assets))
        return cli_fail("the assets path is too long");
    if (models) {
        if (make_dirs(root) != 0)
            return cli_fail("%s: %s", root, strerror(errno));
        if (!realpath(root, rroot))
            return cli_fail("%s: %s", root, strerror(errno));
        if (resolve_path(assets, rassets) != 0)
            return cli_fail("%s: %s", assets, strerror(errno));
        size_t rn = strlen(rroot);
        if (strncmp(rassets, rroot, rn) != 0 || (rassets[rn] != '/' && rassets[rn] != '\0'))
            return cli_fail("--assets %s is not under %s, the folder served at /assets/ (set "
                            "data_dir or choose a folder under it)",
                            assets, root);
        if (make_dirs(assets) != 0)
            return cli_fail("%s: %s", assets, strerror(errno));
        snprintf(prefix, sizeof prefix, "/assets%s/", rassets + rn);
    }

    int rc = cli_open_store(c, 0);
    if (rc)
        return rc;
    struct vt_sh3d_options o;
    memset(&o, 0, sizeof o);
    o.src_dir = src;
    o.assets_dir = models ? assets : NULL;
    o.url_prefix = prefix;
    o.threads = (int)threads;
    o.limit = limit;
    o.reconvert = cli_opt(c, "--reconvert") != NULL;
    o.report = stderr;
    struct vt_sh3d_report r;
    memset(&r, 0, sizeof r);
    struct vt_error e;
    vt_error_clear(&e);
    rc = vt_sh3d_import(c->store, &o, &r, &e);
    if (rc)
        return cli_fail("%s: %s", src, e.message[0] ? e.message : vt_strerror(rc));
    fprintf(stderr, "imported %zu of %zu pieces from %zu catalogs in %.1f s (%zu Chinese names)\n",
            r.imported, r.pieces, r.catalogs, r.seconds, r.zh_names);
    if (models)
        fprintf(stderr,
                "models: %zu ready (%zu already converted), %zu failed and imported without a "
                "model, %zu with a size unlike the catalog's, %zu textures missing, %.1f MB\n",
                r.models_ok, r.models_reused, r.models_failed, r.bbox_mismatch,
                r.textures_missing, (double)r.glb_bytes / 1e6);
    return CLI_OK;
}
