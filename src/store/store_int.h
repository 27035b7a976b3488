/*
 * store_int.h - what a store back-end implements (private to src/store).
 *
 * A back-end fills one constant struct vt_store_ops; store.c parses the uri,
 * picks the back-end, calls its open() and from then on only dispatches:
 * every vt_store_* function (those of item embeddings in store_embed.c)
 * checks the arguments that do not depend on the back-end (ids present and
 * short enough, limits in range) and forwards to the matching member with
 * the back-end's own state (impl).
 *
 * Contract for implementations:
 *   - the same thread-safety as store.h: every member but close() may run
 *     on many threads at once;
 *   - out-parameter records arrive initialised and empty (store.c calls
 *     vt_*_init first) and are left empty on error;
 *   - errors are negative VT_E* codes; database failures are VT_EDB and,
 *     where a struct vt_error is passed, carry the database's own message.
 */
#ifndef VT_STORE_STORE_INT_H
#define VT_STORE_STORE_INT_H

#include "store/store.h"

struct vt_store_ops {
    const char *name; /* "sqlite" */

    /* target is the back-end part of the uri (a file path for SQLite). */
    int (*open)(const char *target, const struct vt_store_options *opt, void **impl,
                struct vt_error *err);
    void (*close)(void *impl);
    int (*schema_version)(void *impl);

    int (*items_put)(void *impl, const struct vt_item *items, size_t n, int mode, size_t *bad,
                     struct vt_error *err);
    int (*item_get)(void *impl, const char *id, struct vt_item *out);
    int (*item_delete)(void *impl, const char *id);
    int (*items_list)(void *impl, const struct vt_item_query *q, struct vt_item **out, size_t *n,
                      int *more);

    int (*user_get)(void *impl, const char *id, struct vt_user *out);
    int (*user_put)(void *impl, const struct vt_user *u);
    int (*user_delete)(void *impl, const char *id);

    int (*events_append)(void *impl, struct vt_event *evs, size_t n, size_t *bad,
                         struct vt_error *err);
    int (*user_events)(void *impl, const char *user_id, int64_t before_id, size_t limit,
                       struct vt_event **out, size_t *n);
    int (*events_scan)(void *impl, int64_t after_id, size_t limit, struct vt_event **out,
                       size_t *n);

    int (*stats)(void *impl, struct vt_store_stats *st);

    int (*meta_get)(void *impl, const char *name, char **out, size_t *len);
    int (*meta_put)(void *impl, const char *name, const void *data, size_t len);

    int (*key_add)(void *impl, const struct vt_key *k);
    int (*key_get)(void *impl, const char *id, struct vt_key *out);
    int (*key_list)(void *impl, struct vt_key **out, size_t *n);
    int (*key_revoke)(void *impl, const char *id);

    int (*embeddings_put)(void *impl, const struct vt_embedding *v, size_t n, size_t *bad,
                          struct vt_error *err);
    int (*item_embeddings)(void *impl, const char *item_id, struct vt_embedding **out,
                           size_t *n);
    int (*embeddings_scan)(void *impl, const char *model_id, const char *after_item,
                           const char *after_lang, size_t limit, struct vt_embedding **out,
                           size_t *n, int *more);
    int (*embeddings_stale)(void *impl, const char *model_id,
                            const struct vt_embedding_ref *refs, size_t n, uint8_t *stale);
    int (*embeddings_missing)(void *impl, const char *model_id, const char *after_id,
                              size_t limit, char ***ids, size_t *n, int *more);
    int (*embeddings_count)(void *impl, const char *model_id, int64_t *count);
    int (*embeddings_prune)(void *impl, const char *keep_model_id, int64_t *deleted);

    int (*impressions_append)(void *impl, struct vt_impression *imps, size_t n, size_t *bad,
                              struct vt_error *err);
    int (*impressions_scan)(void *impl, int64_t after_id, size_t limit,
                            struct vt_impression **out, size_t *n);
    int (*impressions_prune)(void *impl, int64_t before_ms, int64_t *deleted);
    int (*impressions_count)(void *impl, int64_t *count);
};

struct vt_store {
    const struct vt_store_ops *ops;
    void *impl; /* owned by the back-end; freed by ops->close */
};

/* The back-ends built into this binary. */
extern const struct vt_store_ops vt_store_sqlite_ops;

/* Largest result page any list or scan returns, whatever the caller asks. */
#define VT_STORE_PAGE_MAX 10000

#endif
