/*
 * store.c - opening a store by uri and dispatching to its back-end.
 *
 * A uri is a plain file path or "sqlite:PATH" ("sqlite:///abs/path" also
 * works); any other "scheme://" is refused with a message naming it, so a
 * configuration written for a PostgreSQL build fails clearly here.
 *
 * Every vt_store_* function below checks what does not depend on the
 * back-end (ids present and at most VT_ID_MAX bytes, limits, enum ranges)
 * and then forwards to s->ops. Back-ends may therefore rely on those checks;
 * they must still treat the content of records as untrusted.
 */
#include "store/store.h"

#include <assert.h>
#include <ctype.h>
#include <string.h>

#include "core/alloc.h"
#include "store/store_int.h"

/* options.group_commit_us: 0 means this default, a negative value means
 * "never wait for more appends", and waits are capped at one second. */
#define DEFAULT_GROUP_COMMIT_US 2000
#define MAX_GROUP_COMMIT_US 1000000

/* 1 if id is non-NULL, non-empty and at most VT_ID_MAX bytes. */
static int id_ok(const char *id)
{
    if (!id || !id[0])
        return 0;
    return strnlen(id, VT_ID_MAX + 1) <= VT_ID_MAX;
}

/* Length of a "scheme://" prefix at the start of uri, or 0. */
static size_t scheme_len(const char *uri)
{
    size_t i = 0;
    if (!isalpha((unsigned char)uri[0]))
        return 0;
    while (isalnum((unsigned char)uri[i]) || uri[i] == '+' || uri[i] == '-' || uri[i] == '.')
        i++;
    return strncmp(uri + i, "://", 3) == 0 ? i : 0;
}

int vt_store_open(const char *uri, const struct vt_store_options *opt, struct vt_store **out,
                  struct vt_error *err)
{
    const struct vt_store_ops *ops = &vt_store_sqlite_ops;
    struct vt_store_options o = {0};
    const char *target;
    struct vt_store *s = NULL;
    int rc;

    *out = NULL;
    vt_error_clear(err);
    if (!uri || !uri[0])
        return vt_error_set(err, VT_EINVAL, "db", "no database given");
    if (strncmp(uri, "sqlite:", 7) == 0) {
        target = uri + 7;
        if (strncmp(target, "//", 2) == 0)
            target += 2;
    } else if (scheme_len(uri) > 0) {
        size_t n = scheme_len(uri);
        if ((n == 8 && strncmp(uri, "postgres", 8) == 0) ||
            (n == 10 && strncmp(uri, "postgresql", 10) == 0))
            return vt_error_set(err, VT_EINVAL, "db",
                                "postgres:// is not built in: this build stores data in "
                                "SQLite only (give a file path or sqlite:PATH)");
        return vt_error_set(err, VT_EINVAL, "db",
                            "unknown store scheme '%.*s://' (give a file path or sqlite:PATH)",
                            (int)(n > 32 ? 32 : n), uri);
    } else {
        target = uri;
    }
    if (!target[0])
        return vt_error_set(err, VT_EINVAL, "db", "'%s' names no database file", uri);
    if (strcmp(target, ":memory:") == 0)
        return vt_error_set(err, VT_EINVAL, "db",
                            "an in-memory database cannot keep events durably; give a file path");

    if (opt)
        o = *opt;
    if (o.group_commit_us == 0)
        o.group_commit_us = DEFAULT_GROUP_COMMIT_US;
    if (o.group_commit_us < 0)
        o.group_commit_us = 0;
    if (o.group_commit_us > MAX_GROUP_COMMIT_US)
        o.group_commit_us = MAX_GROUP_COMMIT_US;

    s = vt_calloc(1, sizeof *s);
    if (!s)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory opening the store");
    s->ops = ops;
    rc = ops->open(target, &o, &s->impl, err);
    if (rc < 0) {
        vt_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void vt_store_close(struct vt_store *s)
{
    if (!s)
        return;
    s->ops->close(s->impl);
    vt_free(s);
}

int vt_store_schema_version(struct vt_store *s)
{
    assert(s);
    return s->ops->schema_version(s->impl);
}

/* ---- items ---- */

int vt_store_items_put(struct vt_store *s, const struct vt_item *items, size_t n, int mode,
                       size_t *bad, struct vt_error *err)
{
    assert(s);
    vt_error_clear(err); /* *bad is written only when one record is at fault */
    if (mode != VT_PUT_UPSERT && mode != VT_PUT_CREATE)
        return vt_error_set(err, VT_EINVAL, NULL, "unknown put mode %d", mode);
    if (n == 0)
        return 0;
    if (!items)
        return vt_error_set(err, VT_EINVAL, NULL, "no items given");
    for (size_t i = 0; i < n; i++) {
        if (!id_ok(items[i].id) || !items[i].title) {
            if (bad)
                *bad = i;
            if (!items[i].title && id_ok(items[i].id))
                return vt_error_set(err, VT_EINVAL, "title", "item '%s' has no title",
                                    items[i].id);
            return vt_error_set(err, VT_EINVAL, "id",
                                "item %zu: id must be 1 to %d bytes", i, VT_ID_MAX);
        }
    }
    return s->ops->items_put(s->impl, items, n, mode, bad, err);
}

int vt_store_item_get(struct vt_store *s, const char *id, struct vt_item *out)
{
    assert(s && out);
    vt_item_init(out);
    if (!id_ok(id))
        return VT_EINVAL;
    return s->ops->item_get(s->impl, id, out);
}

int vt_store_item_delete(struct vt_store *s, const char *id)
{
    assert(s);
    if (!id_ok(id))
        return VT_EINVAL;
    return s->ops->item_delete(s->impl, id);
}

int vt_store_items_list(struct vt_store *s, const struct vt_item_query *q,
                        struct vt_item **out, size_t *n, int *more)
{
    assert(s && out && n && more);
    *out = NULL;
    *n = 0;
    *more = 0;
    if (!q)
        return VT_EINVAL;
    if (q->limit < 1 || q->limit > 1000)
        return VT_ERANGE;
    if (q->after_id && strnlen(q->after_id, VT_ID_MAX + 1) > VT_ID_MAX)
        return VT_EINVAL;
    return s->ops->items_list(s->impl, q, out, n, more);
}

/* ---- users ---- */

int vt_store_user_get(struct vt_store *s, const char *id, struct vt_user *out)
{
    assert(s && out);
    vt_user_init(out);
    if (!id_ok(id))
        return VT_EINVAL;
    return s->ops->user_get(s->impl, id, out);
}

int vt_store_user_put(struct vt_store *s, const struct vt_user *u)
{
    assert(s);
    if (!u || !id_ok(u->id))
        return VT_EINVAL;
    return s->ops->user_put(s->impl, u);
}

int vt_store_user_delete(struct vt_store *s, const char *id)
{
    assert(s);
    if (!id_ok(id))
        return VT_EINVAL;
    return s->ops->user_delete(s->impl, id);
}

/* ---- events ---- */

int vt_store_events_append(struct vt_store *s, struct vt_event *evs, size_t n, size_t *bad,
                           struct vt_error *err)
{
    assert(s);
    vt_error_clear(err); /* *bad is written only when one record is at fault */
    if (n == 0)
        return 0;
    if (!evs)
        return vt_error_set(err, VT_EINVAL, NULL, "no events given");
    for (size_t i = 0; i < n; i++) {
        const char *field = NULL;
        if (!id_ok(evs[i].user_id))
            field = "user_id";
        else if (evs[i].item_id && !id_ok(evs[i].item_id))
            field = "item_id";
        else if (!vt_event_type_info(evs[i].type))
            field = "type";
        if (field) {
            if (bad)
                *bad = i;
            if (field[0] == 't')
                return vt_error_set(err, VT_EINVAL, field, "event %zu: unknown event type %d",
                                    i, evs[i].type);
            return vt_error_set(err, VT_EINVAL, field, "event %zu: %s must be 1 to %d bytes", i,
                                field, VT_ID_MAX);
        }
    }
    return s->ops->events_append(s->impl, evs, n, bad, err);
}

int vt_store_user_events(struct vt_store *s, const char *user_id, int64_t before_id,
                         size_t limit, struct vt_event **out, size_t *n)
{
    assert(s && out && n);
    *out = NULL;
    *n = 0;
    if (!id_ok(user_id) || before_id < 0)
        return VT_EINVAL;
    if (limit == 0)
        return 0;
    if (limit > VT_STORE_PAGE_MAX)
        limit = VT_STORE_PAGE_MAX;
    return s->ops->user_events(s->impl, user_id, before_id, limit, out, n);
}

int vt_store_events_scan(struct vt_store *s, int64_t after_id, size_t limit,
                         struct vt_event **out, size_t *n)
{
    assert(s && out && n);
    *out = NULL;
    *n = 0;
    if (after_id < 0)
        after_id = 0;
    if (limit == 0)
        return 0;
    if (limit > VT_STORE_PAGE_MAX)
        limit = VT_STORE_PAGE_MAX;
    return s->ops->events_scan(s->impl, after_id, limit, out, n);
}

int vt_store_stats(struct vt_store *s, struct vt_store_stats *st)
{
    assert(s && st);
    memset(st, 0, sizeof *st);
    return s->ops->stats(s->impl, st);
}

/* ---- metadata ---- */

int vt_store_meta_get(struct vt_store *s, const char *name, char **out, size_t *len)
{
    assert(s && out);
    *out = NULL;
    if (len)
        *len = 0;
    if (!name || !name[0])
        return VT_EINVAL;
    return s->ops->meta_get(s->impl, name, out, len);
}

int vt_store_meta_put(struct vt_store *s, const char *name, const void *data, size_t len)
{
    assert(s);
    if (!name || !name[0] || (!data && len > 0))
        return VT_EINVAL;
    return s->ops->meta_put(s->impl, name, data ? data : "", len);
}

/* ---- keys ---- */

static int key_id_ok(const char *id)
{
    return id && id[0] && strnlen(id, sizeof ((struct vt_key *)0)->id) < sizeof ((struct vt_key *)0)->id;
}

int vt_store_key_add(struct vt_store *s, const struct vt_key *k)
{
    assert(s);
    if (!k || !key_id_ok(k->id) || k->scope < VT_SCOPE_PUBLIC || k->scope > VT_SCOPE_ADMIN ||
        strnlen(k->label, sizeof k->label) == sizeof k->label)
        return VT_EINVAL;
    return s->ops->key_add(s->impl, k);
}

int vt_store_key_get(struct vt_store *s, const char *id, struct vt_key *out)
{
    assert(s && out);
    memset(out, 0, sizeof *out);
    if (!key_id_ok(id))
        return VT_EINVAL;
    return s->ops->key_get(s->impl, id, out);
}

int vt_store_key_list(struct vt_store *s, struct vt_key **out, size_t *n)
{
    assert(s && out && n);
    *out = NULL;
    *n = 0;
    return s->ops->key_list(s->impl, out, n);
}

int vt_store_key_revoke(struct vt_store *s, const char *id)
{
    assert(s);
    if (!key_id_ok(id))
        return VT_EINVAL;
    return s->ops->key_revoke(s->impl, id);
}

void vt_keys_free(struct vt_key *keys)
{
    vt_free(keys);
}

/* ---- impressions ---- */

/* 1 if s is a non-empty string NUL-terminated within size bytes. */
static int fixed_str_ok(const char *s, size_t size)
{
    return s[0] && strnlen(s, size) < size;
}

int vt_store_impressions_append(struct vt_store *s, struct vt_impression *imps, size_t n,
                                size_t *bad, struct vt_error *err)
{
    assert(s);
    vt_error_clear(err);
    if (n == 0)
        return 0;
    if (!imps)
        return vt_error_set(err, VT_EINVAL, NULL, "no impressions given");
    for (size_t i = 0; i < n; i++) {
        const struct vt_impression *m = &imps[i];
        const char *field = NULL;
        if (!fixed_str_ok(m->rec_id, sizeof m->rec_id))
            field = "rec_id";
        else if (!fixed_str_ok(m->user_id, sizeof m->user_id))
            field = "user_id";
        else if (!fixed_str_ok(m->item_id, sizeof m->item_id))
            field = "item_id";
        else if (!fixed_str_ok(m->surface, sizeof m->surface))
            field = "surface";
        else if (m->position < 0)
            field = "position";
        else if (m->nfeatures > VT_IMPRESSION_MAX_FEATURES)
            field = "nfeatures";
        else if (m->ts_ms < 0)
            field = "ts_ms";
        if (field) {
            if (bad)
                *bad = i;
            return vt_error_set(err, VT_EINVAL, field, "impression %zu: invalid %s", i, field);
        }
    }
    return s->ops->impressions_append(s->impl, imps, n, bad, err);
}

int vt_store_impressions_scan(struct vt_store *s, int64_t after_id, size_t limit,
                              struct vt_impression **out, size_t *n)
{
    assert(s && out && n);
    *out = NULL;
    *n = 0;
    if (after_id < 0)
        after_id = 0;
    if (limit == 0)
        return 0;
    if (limit > VT_STORE_PAGE_MAX)
        limit = VT_STORE_PAGE_MAX;
    return s->ops->impressions_scan(s->impl, after_id, limit, out, n);
}

int vt_store_impressions_prune(struct vt_store *s, int64_t before_ms, int64_t *deleted)
{
    assert(s);
    if (deleted)
        *deleted = 0;
    return s->ops->impressions_prune(s->impl, before_ms, deleted);
}

int vt_store_impressions_count(struct vt_store *s, int64_t *count)
{
    assert(s && count);
    *count = 0;
    return s->ops->impressions_count(s->impl, count);
}
