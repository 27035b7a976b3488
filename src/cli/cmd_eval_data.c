/*
 * cmd_eval_data.c - reading the data of `vitrine eval`: items, train and
 * test events in the import formats (JSON Lines directly, through the
 * import's validators; CSV through the import itself into a temporary
 * database). Records that fail validation, and events about items not in
 * ITEMS, are left out and counted; the first few are printed as
 * "FILE:LINE: reason". Items are numbered in ascending byte order of their
 * ids.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cmd_eval_int.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/util.h"
#include "nn/item_embed.h"
#include "store/import.h"

#define MAX_LINE ((size_t)4 << 20) /* longest JSON line read */
#define SHOW_REJECTS 5             /* rejected records printed per file */
int eval_evlist_push(struct evlist *l, const struct ev *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        struct ev *v = vt_realloc(l->v, cap * sizeof *v);
        if (!v)
            return VT_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *e;
    return 0;
}

void eval_data_reset(struct data *d)
{
    int32_t n = d->items ? vt_idmap_count(d->items) : 0;
    for (int32_t i = 0; d->item_text && i < n; i++)
        vt_free(d->item_text[i]);
    vt_free(d->item_text);
    vt_idmap_free(d->items);
    vt_idmap_free(d->users);
    vt_free(d->train.v);
    vt_free(d->test.v);
    memset(d, 0, sizeof *d);
}

/* Items as read, in file order, before they are numbered. */
struct item_rec {
    char *id, *text; /* text: what an encoder reads, or NULL */
    size_t seq;
};

struct item_acc {
    struct item_rec *v;
    size_t n, cap;
};

static void item_acc_reset(struct item_acc *a)
{
    for (size_t k = 0; k < a->n; k++) {
        vt_free(a->v[k].id);
        vt_free(a->v[k].text);
    }
    vt_free(a->v);
    memset(a, 0, sizeof *a);
}

static int item_acc_add(struct item_acc *a, const struct vt_item *it)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        struct item_rec *v = vt_realloc(a->v, cap * sizeof *v);
        if (!v)
            return VT_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    struct item_rec *r = &a->v[a->n];
    struct vt_item_text *t = NULL;
    size_t nt = 0, pick = 0;
    if (!(r->id = vt_strdup(it->id)))
        return VT_ENOMEM;
    r->text = NULL;
    r->seq = a->n++;
    if (vt_item_texts(it, &t, &nt) == 0 && nt > 0) { /* English when it has it */
        for (size_t k = 0; k < nt; k++)
            if (strcmp(t[k].lang, "en") == 0)
                pick = k;
        r->text = t[pick].text;
        t[pick].text = NULL;
    }
    vt_item_texts_free(t, nt);
    return 0;
}

static int cmp_item_rec(const void *a, const void *b)
{
    const struct item_rec *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Number the items in ascending id order into d; of records with one id
 * the last read wins, as in the import. */
static int items_finish(struct item_acc *a, struct data *d)
{
    qsort(a->v, a->n, sizeof *a->v, cmp_item_rec);
    d->item_text = vt_calloc(a->n + 1, sizeof *d->item_text);
    if (!d->item_text || vt_idmap_new(&d->items))
        return VT_ENOMEM;
    for (size_t k = 0; k < a->n; k++) {
        int32_t ix;
        if (k + 1 < a->n && strcmp(a->v[k].id, a->v[k + 1].id) == 0)
            continue;
        if (vt_idmap_put(d->items, a->v[k].id, &ix, NULL))
            return VT_ENOMEM;
        d->item_text[ix] = a->v[k].text;
        a->v[k].text = NULL;
    }
    return 0;
}

struct reader {
    const char *path;
    int64_t shown;
    struct data *d;
};

static void reject(struct reader *r, int64_t line, const char *why)
{
    r->d->rejected++;
    if (r->shown++ < SHOW_REJECTS)
        fprintf(stderr, "%s:%lld: %s\n", r->path, (long long)line, why);
}

/* An event into train or test; events not about an item are skipped. */
static int add_event(struct reader *r, struct evlist *to, const struct vt_event *e,
                     int64_t line)
{
    if (!e->item_id)
        return 0;
    int32_t item = vt_idmap_get(r->d->items, e->item_id);
    if (item < 0) {
        char why[200];
        snprintf(why, sizeof why, "item_id: no item '%.120s' in the items file", e->item_id);
        reject(r, line, why);
        return 0;
    }
    struct ev x = {0, item, e->type, (float)e->value, e->ts_ms};
    int rc = vt_idmap_put(r->d->users, e->user_id, &x.user, NULL);
    return rc ? rc : eval_evlist_push(to, &x);
}

/* One line of at most MAX_LINE bytes into b (without its newline). Returns
 * 1 for a line, 0 at the end, VT_ETOOBIG for an over-long line (skipped),
 * VT_EIO or VT_ENOMEM. */
static int next_line(FILE *f, struct vt_buf *b)
{
    char chunk[65536];
    int got = 0, too_long = 0;
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
    while (fgets(chunk, sizeof chunk, f)) {
        size_t n = strlen(chunk);
        got = 1;
        int end = n > 0 && chunk[n - 1] == '\n';
        if (!too_long) {
            if (b->len + n > MAX_LINE)
                too_long = 1;
            else if (vt_buf_append(b, chunk, n))
                return VT_ENOMEM;
        }
        if (end)
            break;
    }
    if (ferror(f))
        return VT_EIO;
    if (too_long)
        return VT_ETOOBIG;
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
        b->data[--b->len] = '\0';
    return got;
}

/* A JSON Lines file of items (into acc) or events (into to). */
static int read_jsonl(struct reader *r, const struct vt_limits *lim, struct item_acc *acc,
                      struct evlist *to)
{
    FILE *f = fopen(r->path, "rb");
    if (!f)
        return cli_fail("%s: %s", r->path, strerror(errno));
    struct vt_buf line;
    vt_buf_init(&line, 0);
    int64_t now = vt_time_now_ms(), lineno = 0;
    int rc = CLI_OK, got;
    while ((got = next_line(f, &line)) != 0) {
        lineno++;
        if (got == VT_ETOOBIG) {
            reject(r, lineno, "line longer than 4 MiB");
            continue;
        }
        if (got < 0) {
            rc = cli_fail("%s: %s", r->path, got == VT_EIO ? strerror(errno) : "out of memory");
            goto out;
        }
        const char *p = line.data ? line.data : "";
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            continue;
        json_error_t je;
        json_t *j = json_loadb(line.data, line.len, JSON_REJECT_DUPLICATES, &je);
        if (!j) {
            char why[240];
            snprintf(why, sizeof why, "invalid JSON at column %d: %s", je.column, je.text);
            reject(r, lineno, why);
            continue;
        }
        struct vt_error e;
        vt_error_clear(&e);
        int w;
        if (acc) {
            struct vt_item it;
            vt_item_init(&it);
            w = vt_item_from_json(j, lim, &it, &e);
            if (w == 0)
                w = item_acc_add(acc, &it);
            vt_item_reset(&it);
        } else {
            struct vt_event ev;
            vt_event_init(&ev);
            w = vt_event_from_json(j, lim, now, &ev, &e);
            if (w == 0)
                w = add_event(r, to, &ev, lineno);
            vt_event_reset(&ev);
        }
        json_decref(j);
        if (w == VT_ENOMEM || w == VT_ETOOBIG) {
            rc = cli_fail("%s:%lld: %s", r->path, (long long)lineno,
                          w == VT_ENOMEM ? "out of memory" : "more than 2^31 ids");
            goto out;
        }
        if (w)
            reject(r, lineno, e.message[0] ? e.message : vt_strerror(w));
    }
out:
    vt_buf_reset(&line);
    fclose(f);
    return rc;
}

/* ---- CSV through the import ---------------------------------------------------- */

/* Import one file into the temporary store s; rejections printed as the
 * import command prints them. */
static int import_into(struct vt_store *s, struct reader *r, int kind,
                       const struct vt_limits *lim)
{
    FILE *f = fopen(r->path, "rb");
    if (!f)
        return cli_fail("%s: %s", r->path, strerror(errno));
    struct vt_import_options o = {.kind = kind, .format = vt_import_format_from_name(r->path),
                                  .limits = *lim, .keep_rejects = SHOW_REJECTS};
    struct vt_import_report rep;
    vt_import_report_init(&rep);
    struct vt_error e;
    vt_error_clear(&e);
    int rc = vt_import_run(s, f, &o, &rep, &e);
    fclose(f);
    for (size_t k = 0; k < rep.nrejects; k++)
        fprintf(stderr, "%s:%lld: %s\n", r->path, (long long)rep.rejects[k].line,
                rep.rejects[k].reason);
    r->d->rejected += rep.rejected;
    vt_import_report_reset(&rep);
    if (rc)
        return cli_fail("%s: %s", r->path, e.message[0] ? e.message : vt_strerror(rc));
    return CLI_OK;
}

/* Events of s with id > *after into to; *after moves to the last. */
static int scan_events(struct vt_store *s, struct reader *r, struct evlist *to, int64_t *after)
{
    for (;;) {
        struct vt_event *evs = NULL;
        size_t n = 0;
        if (vt_store_events_scan(s, *after, 1000, &evs, &n))
            return cli_fail("reading back %s failed", r->path);
        int rc = 0;
        for (size_t k = 0; k < n && !rc; k++)
            rc = add_event(r, to, &evs[k], 0);
        if (n)
            *after = evs[n - 1].id;
        vt_events_free(evs, n);
        if (rc)
            return cli_fail("out of memory");
        if (n == 0)
            return CLI_OK;
    }
}

/* All three files through a temporary database (used when any is CSV). */
static int read_via_import(struct reader rd[3], const struct vt_limits *lim,
                           struct item_acc *acc)
{
    const char *tmpdir = getenv("TMPDIR");
    char full[512];
    snprintf(full, sizeof full, "%s/vitrine-eval-XXXXXX",
             tmpdir && *tmpdir && strlen(tmpdir) < 400 ? tmpdir : "/tmp");
    int fd = mkstemp(full);
    if (fd < 0)
        return cli_fail("cannot create a temporary database: %s", strerror(errno));
    close(fd);
    struct vt_store *s = NULL;
    struct vt_store_options so = {0};
    struct vt_error e;
    vt_error_clear(&e);
    int rc = CLI_OK;
    if (vt_store_open(full, &so, &s, &e)) {
        rc = cli_fail("temporary database %s: %s", full, e.message);
        goto out;
    }
    if ((rc = import_into(s, &rd[0], VT_IMPORT_ITEMS, lim)))
        goto out;
    char cursor[VT_ID_MAX + 1] = "";
    for (;;) {
        struct vt_item_query q = {.after_id = cursor, .limit = 1000, .include_hidden = 1};
        struct vt_item *items = NULL;
        size_t n = 0;
        int more = 0, w = 0;
        if (vt_store_items_list(s, &q, &items, &n, &more)) {
            rc = cli_fail("reading back %s failed", rd[0].path);
            goto out;
        }
        for (size_t k = 0; k < n && !w; k++)
            w = item_acc_add(acc, &items[k]);
        if (n)
            snprintf(cursor, sizeof cursor, "%s", items[n - 1].id);
        vt_items_free(items, n);
        if (w) {
            rc = cli_fail("out of memory");
            goto out;
        }
        if (!more)
            break;
    }
    if (items_finish(acc, rd[0].d)) {
        rc = cli_fail("out of memory");
        goto out;
    }
    int64_t after = 0;
    for (int k = 1; k < 3; k++) {
        struct evlist *to = k == 1 ? &rd[k].d->train : &rd[k].d->test;
        if ((rc = import_into(s, &rd[k], VT_IMPORT_EVENTS, lim)) ||
            (rc = scan_events(s, &rd[k], to, &after)))
            goto out;
    }
out:
    vt_store_close(s);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t k = 0; k < sizeof suffix / sizeof suffix[0]; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s%s", full, suffix[k]);
        unlink(p);
    }
    return rc;
}

int eval_read_data(struct cli *c, const char *paths[3], struct data *d)
{
    struct vt_limits lim;
    vt_limits_default(&lim);
    lim.max_string_bytes = (size_t)vt_conf_int(c->conf, "max_string_bytes");
    struct item_acc acc;
    memset(&acc, 0, sizeof acc);
    struct reader rd[3];
    int any_csv = 0, rc;
    for (int k = 0; k < 3; k++) {
        struct stat st;
        int fmt = vt_import_format_from_name(paths[k]);
        if (fmt == VT_IMPORT_AUTO)
            return cli_usage_error(c, "cannot tell the format of '%.200s' from its name "
                                      "(.jsonl, .ndjson, .json-lines or .csv)",
                                   paths[k]);
        if (stat(paths[k], &st) != 0)
            return cli_fail("%s: %s", paths[k], strerror(errno));
        if (S_ISDIR(st.st_mode))
            return cli_fail("%s: is a directory", paths[k]);
        any_csv |= fmt == VT_IMPORT_CSV;
        rd[k] = (struct reader){paths[k], 0, d};
    }
    if (vt_idmap_new(&d->users))
        return cli_fail("out of memory");
    if (any_csv) {
        rc = read_via_import(rd, &lim, &acc);
    } else {
        rc = read_jsonl(&rd[0], &lim, &acc, NULL);
        if (rc == CLI_OK && items_finish(&acc, d))
            rc = cli_fail("out of memory");
        if (rc == CLI_OK)
            rc = read_jsonl(&rd[1], &lim, NULL, &d->train);
        if (rc == CLI_OK)
            rc = read_jsonl(&rd[2], &lim, NULL, &d->test);
    }
    item_acc_reset(&acc);
    if (rc == CLI_OK && vt_idmap_count(d->items) == 0)
        rc = cli_fail("%s: no items", paths[0]);
    return rc;
}
