/*
 * store.h - the one interface to persistent state.
 *
 * Callers hold an opaque struct vt_store and never learn which back-end is
 * behind it (SQLite now; PostgreSQL implements the same vt_store_ops later,
 * see store_int.h). Nothing outside src/store includes a database header.
 *
 * Durability contract: when vt_store_events_append() returns 0, the events
 * are committed to disk (fsync'ed) and survive a kill -9 of the process the
 * next instant. Concurrent appends are grouped into one transaction (group
 * commit), so many small batches cost about one fsync together.
 *
 * Thread-safety: every function may be called from any thread at the same
 * time, except vt_store_close(), which must be the last call.
 *
 * Ownership: records returned through out-parameters belong to the caller
 * (vt_item_reset / vt_items_free / vt_events_free / vt_keys_free).
 */
#ifndef VT_STORE_STORE_H
#define VT_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "store/record.h"

struct vt_store;

struct vt_store_options {
    int64_t group_commit_us; /* longest wait to gather appends (default 2000) */
    int read_only;           /* open without migrating or writing */
};

/* uri: a file path or "sqlite:PATH" (":memory:" is refused: durability).
 * Creates the database if missing and applies forward migrations. */
int vt_store_open(const char *uri, const struct vt_store_options *opt, struct vt_store **out,
                  struct vt_error *err);
/* Flushes pending appends, closes. NULL is a no-op. */
void vt_store_close(struct vt_store *s);
/* Schema version after migrations. */
int vt_store_schema_version(struct vt_store *s);

/* ---- items ---- */
enum vt_put_mode { VT_PUT_UPSERT, VT_PUT_CREATE };
/* All or nothing. VT_PUT_CREATE fails with VT_ECONFLICT (and *bad = index)
 * if an id exists. created_ms is kept on update; updated_ms set to now. */
int vt_store_items_put(struct vt_store *s, const struct vt_item *items, size_t n, int mode,
                       size_t *bad, struct vt_error *err);
int vt_store_item_get(struct vt_store *s, const char *id, struct vt_item *out);
int vt_store_item_delete(struct vt_store *s, const char *id);

struct vt_item_query {
    const char *category;  /* path prefix: "Living room" matches "Living room/Sofas" */
    const char *q;         /* case-insensitive substring of any title, tag or id */
    const char *after_id;  /* keyset cursor: ids strictly greater (byte order) */
    size_t limit;          /* 1..1000 */
    int include_hidden;
};
/* Ordered by id. *more = 1 if further items exist past the last returned. */
int vt_store_items_list(struct vt_store *s, const struct vt_item_query *q,
                        struct vt_item **out, size_t *n, int *more);

/* ---- users ---- */
int vt_store_user_get(struct vt_store *s, const char *id, struct vt_user *out);
/* Upsert attributes and consent (NULL members leave the stored ones). */
int vt_store_user_put(struct vt_store *s, const struct vt_user *u);
/* Delete the user and all their events and impressions. VT_ENOTFOUND if
 * unknown (a user who was only shown lists is known: their impressions go). */
int vt_store_user_delete(struct vt_store *s, const char *id);

/* ---- events ---- */
/* Durable on return (see above). Unknown item ids fail with VT_EINVAL,
 * *bad = index, and nothing of this call is stored. Users are created on
 * first sight. Assigns evs[i].id. */
int vt_store_events_append(struct vt_store *s, struct vt_event *evs, size_t n, size_t *bad,
                           struct vt_error *err);
/* A user's events, newest first, with id < before_id (0 = from the newest). */
int vt_store_user_events(struct vt_store *s, const char *user_id, int64_t before_id,
                         size_t limit, struct vt_event **out, size_t *n);
/* All events with id > after_id, ascending, at most limit. */
int vt_store_events_scan(struct vt_store *s, int64_t after_id, size_t limit,
                         struct vt_event **out, size_t *n);

struct vt_store_stats {
    int64_t items, users, events;
    int64_t db_bytes;       /* database and its log on disk */
    int64_t commits;        /* durable group commits so far (this process) */
};
int vt_store_stats(struct vt_store *s, struct vt_store_stats *st);

/* ---- server metadata (small named blobs: secrets, model ids) ---- */
/* VT_ENOTFOUND if absent. *out is vt_malloc'ed and NUL-terminated. */
int vt_store_meta_get(struct vt_store *s, const char *name, char **out, size_t *len);
int vt_store_meta_put(struct vt_store *s, const char *name, const void *data, size_t len);

/* ---- API keys (only hashes are stored) ---- */
enum vt_scope { VT_SCOPE_PUBLIC, VT_SCOPE_READ, VT_SCOPE_INGEST, VT_SCOPE_ADMIN };
struct vt_key {
    char id[24];             /* public part of the key, shown in lists */
    int scope;               /* enum vt_scope */
    unsigned char hash[32];  /* hash of the secret part */
    char label[64];
    int64_t created_ms;
    int revoked;
};
int vt_store_key_add(struct vt_store *s, const struct vt_key *k);
/* Look up by id (not by hash: the caller compares hashes in constant time). */
int vt_store_key_get(struct vt_store *s, const char *id, struct vt_key *out);
int vt_store_key_list(struct vt_store *s, struct vt_key **out, size_t *n);
int vt_store_key_revoke(struct vt_store *s, const char *id);
/* Frees the array vt_store_key_list() returned. NULL is a no-op. */
void vt_keys_free(struct vt_key *keys);

/* ---- item embeddings ---- */
/* One vector per (item, language, model): the model's embedding of the
 * item's text in that language (nn/item_embed.h says which text). Stored
 * as float32 little-endian, with the model's id so that vectors of two
 * models are never mixed, and a hash of the exact text the model read so
 * that a changed text shows as stale. Deleting an item deletes its
 * embeddings. */
#define VT_LANG_MAX 15        /* bytes in a language tag ("en", "zh") */
#define VT_MODEL_ID_MAX 127   /* bytes in a model id */
#define VT_EMBED_DIM_MAX 65536

struct vt_embedding {
    char item_id[VT_ID_MAX + 1];
    char lang[VT_LANG_MAX + 1];
    char model_id[VT_MODEL_ID_MAX + 1];
    uint32_t dim;
    float *vector;          /* dim floats; owned (vt_malloc) in results */
    uint64_t text_hash;     /* fingerprint of the text the model read */
    int64_t updated_ms;     /* set by the store when stored */
};

/* Frees the vectors and the array of embeddings the store returned. NULL
 * is a no-op. */
void vt_embeddings_free(struct vt_embedding *v, size_t n);

/* Store n embeddings in one transaction, all or nothing. The vectors given
 * for one (item, model) become that item's whole set for the model: its
 * stored vectors of that model in other languages are deleted, so a
 * language the item lost does not linger. The caller keeps ownership of v.
 * Errors: VT_EINVAL (bad id, language, model id or dimension; *bad =
 * index), VT_ENOTFOUND (no such item; *bad = index), VT_EDB. */
int vt_store_embeddings_put(struct vt_store *s, const struct vt_embedding *v, size_t n,
                            size_t *bad, struct vt_error *err);
/* Every embedding of one item (all languages and models), ordered by
 * model id, then language. No embedding is not an error (*n = 0). */
int vt_store_item_embeddings(struct vt_store *s, const char *item_id,
                             struct vt_embedding **out, size_t *n);
/* The embeddings of one model in (item id, language) order, strictly after
 * the cursor (after_item, after_lang; NULL or "" start from the first), at
 * most limit (1..VT_STORE_PAGE_MAX). *more = 1 if further rows exist. */
int vt_store_embeddings_scan(struct vt_store *s, const char *model_id, const char *after_item,
                             const char *after_lang, size_t limit, struct vt_embedding **out,
                             size_t *n, int *more);

/* What a caller is about to embed: an item's text in one language. */
struct vt_embedding_ref {
    const char *item_id;
    const char *lang;
    uint64_t text_hash;
};
/* Which refs need (re)computing with model_id: stale[i] = 1 when no vector
 * of that item, language and model is stored, when its text_hash differs,
 * or when the item has a stored vector of that model in a language none of
 * the refs names (then every ref of that item is stale, so the item is
 * stored whole again); 0 otherwise. */
int vt_store_embeddings_stale(struct vt_store *s, const char *model_id,
                              const struct vt_embedding_ref *refs, size_t n, uint8_t *stale);
/* Ids of items with no embedding at all for model_id, in id order,
 * strictly after after_id (NULL or "" from the first), at most limit
 * (1..VT_STORE_PAGE_MAX). Free *ids with vt_ids_free(). */
int vt_store_embeddings_missing(struct vt_store *s, const char *model_id, const char *after_id,
                                size_t limit, char ***ids, size_t *n, int *more);
void vt_ids_free(char **ids, size_t n);
/* Number of embeddings stored for model_id. */
int vt_store_embeddings_count(struct vt_store *s, const char *model_id, int64_t *count);
/* Delete every embedding of a model other than keep_model_id; *deleted
 * (may be NULL) gets the number of rows removed. */
int vt_store_embeddings_prune(struct vt_store *s, const char *keep_model_id, int64_t *deleted);

/* ---- impressions: what a list showed, for training the ranker ---- */
/* One item shown at one position of one list. Impressions are logs, not
 * accepted data: the engine buffers them and writes them in batches, so a
 * crash may lose the last second of them (never an event). Deleting a user
 * deletes their impressions. */
#define VT_IMPRESSION_MAX_FEATURES 32
struct vt_impression {
    int64_t id;               /* assigned by the store, ascending; 0 before */
    char rec_id[24];          /* the list's id, as returned to the client */
    char user_id[VT_ID_MAX + 1];
    char item_id[VT_ID_MAX + 1];
    char surface[16];         /* "recommend", "search", "similar" */
    int32_t position;         /* 0-based */
    uint32_t nfeatures;       /* <= VT_IMPRESSION_MAX_FEATURES */
    float features[VT_IMPRESSION_MAX_FEATURES]; /* the ranker's inputs then */
    int64_t ts_ms;
};
/* One transaction, all or nothing; assigns imps[i].id. VT_EINVAL for an
 * empty or unterminated id, rec_id or surface, a negative position or
 * time, or too many features (*bad = index). */
int vt_store_impressions_append(struct vt_store *s, struct vt_impression *imps, size_t n,
                                size_t *bad, struct vt_error *err);
/* Impressions with id > after_id, ascending, at most limit (capped at
 * VT_STORE_PAGE_MAX); *out is one vt_malloc'ed array (vt_free). */
int vt_store_impressions_scan(struct vt_store *s, int64_t after_id, size_t limit,
                              struct vt_impression **out, size_t *n);
/* Delete impressions older than before_ms; *deleted may be NULL. */
int vt_store_impressions_prune(struct vt_store *s, int64_t before_ms, int64_t *deleted);
/* Number stored. */
int vt_store_impressions_count(struct vt_store *s, int64_t *count);

#endif
