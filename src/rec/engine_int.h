/*
 * engine_int.h - private to the engine's files in src/rec: the snapshot,
 * live user state, candidates and features, and which file does what.
 *
 *   engine.c     lifecycle, the current snapshot and ranker and their
 *                atomic swap, the background thread (debounced catalog
 *                rebuilds, scheduled and requested retrains, impression
 *                flushes), vt_engine_retrain, vt_engine_model_info
 *   snapshot.c   building the catalog and behaviour parts from the store
 *   live.c       per-user live state: session vector, recent events,
 *                dismissed and purchased items, recent text
 *   features.c   the ranker's features of one (user, item) candidate
 *   recommend.c  vt_engine_recommend: candidates, ranking, rules, reasons
 *   similar.c    vt_engine_similar
 *   rules.c      business rules: visibility, stock, dismissed, purchased,
 *                diversity (MMR and category caps), exploration
 *   search.c     vt_engine_search, vt_engine_categories (bm25.c is the
 *                lexical index), vt_engine_fit (ar/fit.c does the geometry)
 *   implog.c     impressions: the in-memory log of what was shown, its
 *                flush to the store, and the online ranker update when an
 *                engagement or a timeout labels an impression
 *   train.c      training examples from stored impressions and events;
 *                the full retrain of the ranker with its held-out check
 *
 * Snapshots. struct eng_snapshot pairs a catalog part and a behaviour
 * part; both are immutable once built and reference-counted, so a catalog
 * rebuild (an item added) reuses the behaviour part and a retrain reuses
 * nothing. A request calls eng_snapshot_get() once and eng_snapshot_put()
 * when done; everything it reads through the snapshot stays valid between
 * the two, whatever swaps happen meanwhile.
 *
 * Indexes. Items are numbered 0..nitems-1 in the catalog part (id order);
 * the behaviour part has its own numbering (the order the matrix was
 * built in). snapshot->beh_of[i] maps a catalog index to a behaviour
 * index (-1: no events for that item at build time); beh_items maps back.
 */
#ifndef VT_REC_ENGINE_INT_H
#define VT_REC_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "index/index.h"
#include "rec/engine.h"
#include "rec/ials.h"
#include "rec/interactions.h"
#include "rec/itemknn.h"
#include "rec/pop.h"
#include "rec/ranker.h"

struct vt_bm25; /* bm25.h */

/* ---- the catalog part ------------------------------------------------------ */

struct eng_item {
    struct vt_item rec;     /* the stored record, whole */
    const char *title_en;   /* into rec.title: the "en" title, or NULL */
    const char *title_zh;   /* the "zh" title when it is not a copy of the
                               English one, or NULL */
    const char *title;      /* the best title for messages: en, zh, any */
    int32_t cat;            /* index into catalog->cats, -1 for none */
    int visible;            /* not hidden and (stock untracked or > 0) */
};

struct eng_catalog {
    atomic_int refs;
    int32_t nitems;
    struct eng_item *items;
    struct vt_idmap *ids;   /* id <-> catalog index */
    int32_t ncats;
    char **cats;            /* distinct category paths, sorted */
    int32_t *cat_items;     /* visible items per category (not counting
                               sub-categories) */
    /* Text embeddings of the serving model (one vector per item: the mean
     * of its languages' vectors, L2-normalised); dim 0 when none. */
    uint32_t dim;
    char model_id[VT_MODEL_ID_MAX + 1];
    float *emb;             /* nitems x dim; zero rows where has_emb is 0 */
    uint8_t *has_emb;
    float cos_floor;        /* the cosine of two unrelated items: the mean
                               over random pairs of items (0 without
                               vectors); features rescale from it */
    struct vt_index *ann;   /* cosine HNSW (flat under 2,000 items) over the
                               rows with a vector; label = catalog index */
    struct vt_bm25 *bm25;   /* lexical index (search.c builds it) */
    /* Each item's nearest items by embedding, found on first use and kept
     * (eng_catalog_neighbours): a memo filled by requests with a
     * compare-and-swap, the only part of a built catalog that changes. */
    _Atomic(int32_t *) *nbr;
    /* Each item's summary as JSON text (eng_item_summary_text), made on
     * first use and kept the same way: answers copy it instead of
     * building and serialising the item again. */
    _Atomic(char *) *summary;
    int64_t built_ms;
    double build_seconds;
};

/* ---- the behaviour part ---------------------------------------------------- */

struct eng_behaviour {
    atomic_int refs;
    struct vt_idmap *users, *items;  /* dense indexes of the matrix */
    struct vt_interactions *ix;
    struct vt_pop *pop;              /* all-time, people counted once */
    struct vt_pop *trending;         /* weighted, time-decayed */
    struct vt_itemknn *knn;
    struct vt_ials *ials;            /* NULL with too few events */
    struct vt_index *als_ann;        /* HNSW over iALS item factors, in the
                                        reduction of inner product to angle
                                        (snapshot.c; eng_als_search), label
                                        = behaviour index; from
                                        ENG_ALS_ANN_FROM items, below which
                                        scoring every item is as fast */
    float *ar_rate;                  /* per item: share of its shoppers who
                                        used AR on it, in [0, 1] */
    float *pop_feat, *trend_feat;    /* per item: the pop and trending
                                        features (features.c), computed
                                        once here instead of per candidate */
    int64_t last_event_id;           /* events up to this id are in */
    int64_t nevents;
    int64_t built_ms;
    double build_seconds, ials_seconds;
};

#define ENG_ALS_ANN_FROM 5000

struct eng_snapshot {
    atomic_int refs;
    struct eng_catalog *cat;
    struct eng_behaviour *beh;
    int32_t *beh_of;     /* cat->nitems: behaviour index or -1 */
    int32_t *cat_of;     /* beh items count: catalog index or -1 (deleted) */
    uint64_t version;    /* increases with every swap */
};

/* ---- numbers from the configuration ---------------------------------------- */

struct eng_params {
    double retrain_interval_s;   /* rec.retrain_interval_s */
    double rebuild_debounce_s;   /* rec.rebuild_debounce_s */
    double session_half_life_s;  /* rec.session_half_life_s */
    double exploration;          /* rec.exploration: share of a list */
    double diversity;            /* rec.diversity: MMR trade-off, 0 = none */
    int category_cap;            /* rec.category_cap: 0 = none */
    char *repurchase;            /* rec.repurchase_categories (comma list) */
    double online_lr;            /* rec.online_learning_rate */
    double label_window_s;       /* rec.label_window_s */
    double impressions_keep_days; /* rec.impressions_keep_days, 0 = forever */
    int ials_factors, ials_iterations;
    double search_semantic;      /* search.semantic_weight */
    double similar_content;      /* similar.content_weight */
    double fit_clearance_cm;     /* fit.clearance_cm */
    struct vt_event_weights weights;
};
void eng_params_from_conf(const struct vt_conf *c, struct eng_params *p);
void eng_params_reset(struct eng_params *p);

/* ---- live user state (live.c) ---------------------------------------------- */

#define ENG_RECENT_MAX 50  /* recent events kept per user */
#define ENG_TEXTS_MAX 4    /* recent searches and reviews kept per user */

struct eng_recent {
    char *item_id;      /* NULL for events not about an item */
    int type;           /* enum vt_event_type */
    float value;
    int64_t ts_ms;
};

/* A copy of one user's state, taken under the lock and read without it. */
struct eng_user_view {
    int known;                      /* 0: no state at all (new visitor) */
    char model_id[VT_MODEL_ID_MAX + 1];
    uint32_t dim;
    float *session;                 /* dim floats, L2-normalised, or NULL */
    double session_weight;          /* decayed total weight behind it */
    struct eng_recent *recent;      /* newest first */
    size_t nrecent;
    char **dismissed, **purchased;  /* item ids */
    size_t ndismissed, npurchased;
    char *texts[ENG_TEXTS_MAX];     /* newest first, NULL-padded */
    /* The shopper's folded-in iALS vector from an earlier request, when
     * fresh (ENG_ALS_MEMO_MS), with the key of what it was folded from. */
    float *als;
    uint32_t als_f;
    uint64_t als_key;
    const char *user_id;            /* whose view (the caller's string) */
    /* Per catalog item of the snapshot the request reads, when the caller
     * made it (eng_user_view_index): ENG_ITEM_DISMISSED and
     * ENG_ITEM_PURCHASED, so the rules test a candidate by index instead
     * of comparing its id with every listed one. NULL: compare ids. */
    const uint8_t *item_flags;
    struct vt_arena *arena;         /* where its blocks live, or NULL: the heap */
};
#define ENG_ITEM_DISMISSED 1
#define ENG_ITEM_PURCHASED 2
/* Fill v->item_flags for catalog c from arena memory. 0 or VT_ENOMEM. */
int eng_user_view_index(struct eng_user_view *v, const struct eng_catalog *c,
                        struct vt_arena *arena);
/* How long a shopper's folded-in iALS vector is reused while nothing it
 * was folded from changed (its weights decay with a 7-day half-life, so a
 * minute moves them by less than 0.01 %). */
#define ENG_ALS_MEMO_MS 60000
void eng_user_view_reset(struct eng_user_view *v);

struct eng_live;
int eng_live_new(struct eng_live **out);
void eng_live_free(struct eng_live *l);
/* Apply stored events (any users, in order) to live state: the session
 * vector moves toward each event's item embedding (weight of the event's
 * type, decayed by rec.session_half_life_s), recent lists and sets
 * update. Users not in memory are left to the store, which already has
 * these events: eng_live_view loads them on their next request. */
void eng_live_apply(struct vt_engine *e, const struct eng_snapshot *s,
                    const struct vt_event *evs, size_t n);
/* The user's state now (loading it from the store on first use). The
 * session is rebuilt from recent events when the snapshot's embedding
 * model differs from the one it was built with. Returns 0 or VT_ENOMEM;
 * an unknown user gives known = 0. */
int eng_live_view(struct vt_engine *e, const struct eng_snapshot *s, const char *user_id,
                  struct eng_user_view *out);
/* The same with the view's blocks taken from arena (a request's work
 * memory; core/arena.h): eng_user_view_reset then frees nothing, the
 * arena's release does. */
int eng_live_view_in(struct vt_engine *e, const struct eng_snapshot *s, const char *user_id,
                     struct vt_arena *arena, struct eng_user_view *out);
/* Keep x (f floats), the user's vector folded from the inputs key names,
 * for their next requests (a user not in memory is skipped). */
void eng_live_remember_als(struct eng_live *l, const char *user_id, uint64_t key,
                           const float *x, uint32_t f);
void eng_live_forget(struct eng_live *l, const char *user_id);
/* Users held in memory and bytes used (GET /v1/model, benchmarks). */
void eng_live_stats(struct eng_live *l, size_t *users, size_t *bytes);
/* Most users and bytes held (defaults 100,000 users, 256 MiB); past
 * either the least recently seen are evicted (the store keeps them). */
void eng_live_set_limits(struct eng_live *l, size_t max_users, size_t max_bytes);

/* ---- features (features.c) ------------------------------------------------- */

/* Interest features (x), then AR features (y): see docs/ranker.md. */
enum eng_feature {
    ENG_X_SEM_CONTEXT,   /* cosine to the context: query or current item */
    ENG_X_SEM_SESSION,   /* cosine to the session vector */
    ENG_X_SEM_TEXT,      /* cosine to the shopper's recent text */
    ENG_X_CF_ALS,        /* iALS score (folded-in user) */
    ENG_X_CF_KNN,        /* item-item score from the recent history */
    ENG_X_POP,           /* all-time popularity, log-scaled to [0, 1] */
    ENG_X_TRENDING,      /* trending, log-scaled to [0, 1] */
    ENG_X_RECENCY,       /* newness of the item, exp(-age / 30 days) */
    ENG_X_PRICE_FIT,     /* closeness to the prices the shopper engages with */
    ENG_X_CATEGORY,      /* share of the recent history in the item's category */
    ENG_X_SEEN,          /* 1 when the shopper already viewed it */
    ENG_NX,
    ENG_Y_AR_SELF = ENG_NX, /* the shopper's AR engagement with the item */
    ENG_Y_AR_NEAR,       /* closeness to items the shopper placed or tried on */
    ENG_Y_AR_RATE,       /* the item's AR engagement across shoppers */
    ENG_Y_MANIPULATE,    /* the shopper rotated or zoomed it */
    ENG_NFEAT,
    ENG_NY = ENG_NFEAT - ENG_NX
};
extern const char *const eng_x_names[ENG_NX];
extern const char *const eng_y_names[ENG_NY];

/* Candidate sources (bit flags), also the "source" of an answer. */
enum eng_source {
    ENG_SRC_ALS = 1 << 0,
    ENG_SRC_KNN = 1 << 1,
    ENG_SRC_SESSION = 1 << 2,
    ENG_SRC_TEXT = 1 << 3,
    ENG_SRC_CONTEXT = 1 << 4,
    ENG_SRC_AR = 1 << 5,
    ENG_SRC_TRENDING = 1 << 6,
    ENG_SRC_POPULAR = 1 << 7,
    ENG_SRC_EXPLORE = 1 << 8,
};

struct eng_cand {
    int32_t item;             /* catalog index */
    uint32_t sources;
    float f[ENG_NFEAT];
    double p;                 /* ranker score */
    double z, a;
    int reason;               /* enum eng_feature that moved p most, or -1 */
    int32_t reason_item;      /* catalog index the reason names, or -1 */
};

/* What features.c needs about the request, computed once per request. */
struct eng_feature_ctx {
    const struct eng_snapshot *s;
    const struct eng_user_view *u;
    const float *context_vec;   /* dim floats or NULL */
    const float *text_vec;      /* dim floats or NULL */
    float *als_user;            /* folded-in factors or NULL */
    /* the user's recent items as catalog indexes with event weights */
    int32_t *hist_items;
    float *hist_w;
    size_t nhist;
    int32_t *ar_items;          /* items the user placed / tried on / AR-dwelled */
    float *ar_w;
    size_t nar;
    uint32_t *ar_order;         /* indexes of ar_items by weight, largest first */
    double price_median;        /* of engaged items, NAN when none */
    /* Item-item CF of the history, gathered once per request over the
     * history's neighbour lists (behaviour indexes), NULL when there is
     * none: the weighted sum of similarities, the largest single term and
     * the history item behind it. */
    float *knn_sum, *knn_top;
    int32_t *knn_who;
    double knn_total;           /* sum of the history weights */
    int32_t *recent_items;      /* u->recent[k] as a catalog index, or -1 */
    int64_t now_ms;
    struct vt_arena *arena;     /* where the arrays live, or NULL: the heap */
};
/* arena: where the context's arrays come from (a request's work memory),
 * or NULL for the heap; eng_feature_ctx_reset frees only heap arrays. */
int eng_feature_ctx_init(struct eng_feature_ctx *c, struct vt_engine *e,
                         const struct eng_snapshot *s, const struct eng_user_view *u,
                         const float *context_vec, const float *text_vec,
                         struct vt_arena *arena);
void eng_feature_ctx_reset(struct eng_feature_ctx *c);
/* Fill cand->f; sets reason_item for the features that name an item. */
void eng_features(const struct eng_feature_ctx *c, struct eng_cand *cand);
/* The catalog item feature f of cand names (the viewed item behind
 * cf_knn, the placed one behind ar_near, ...), or -1. */
int32_t eng_feature_item(const struct eng_feature_ctx *c, const struct eng_cand *cand, int f);

/* ---- business rules (rules.c) ---------------------------------------------- */

/* 1 when the item may be shown to this user at all: visible, not
 * dismissed, not purchased (unless its category allows repurchase). */
int eng_rule_allowed(const struct vt_engine *e, const struct eng_snapshot *s,
                     const struct eng_user_view *u, int32_t item);
/* Reorder cand[0..n) (sorted by p, best first) into the final list of at
 * most k: MMR with rec.diversity over embedding similarity, at most
 * rec.category_cap per category, and about rec.exploration of the slots
 * given to allowed items outside the candidates (source EXPLORE), chosen
 * with seed. Returns the list length; out holds candidate copies. */
size_t eng_rules_finish(const struct vt_engine *e, const struct eng_snapshot *s,
                        const struct eng_user_view *u, struct eng_cand *cand, size_t n,
                        size_t k, uint64_t seed, struct eng_cand *out);

/* ---- impressions (implog.c) ------------------------------------------------- */

struct eng_implog;
int eng_implog_new(struct eng_implog **out);
void eng_implog_free(struct eng_implog *l);
/* Record a list as shown: rec_id names it (returned to the client),
 * surface is "recommend", "search" or "similar". Copies what it needs;
 * never blocks on the store. */
void eng_implog_add(struct vt_engine *e, const char *rec_id, const char *user_id,
                    const char *surface, const struct eng_snapshot *s,
                    const struct eng_cand *list, size_t n);
/* Engagements label impressions of the same user and item shown within
 * rec.label_window_s before: each labelled impression is one online SGD
 * step on the serving ranker (under e->rank_lock). */
void eng_implog_on_events(struct vt_engine *e, const struct vt_event *evs, size_t n);
/* Write buffered impressions to the store; impressions past the label
 * window without engagement become negative SGD steps. Called by the
 * engine thread about once a second and at shutdown. */
void eng_implog_flush(struct vt_engine *e);
void eng_implog_forget(struct eng_implog *l, const char *user_id);

/* ---- training (train.c) ----------------------------------------------------- */

/* Retrain from stored impressions and events: a time-ordered split (the
 * newest 20% held out), train from the prior, evaluate it and the
 * serving model on the held-out part. *out is the new model when it is
 * not worse (AUC not lower by more than 0.005 and log loss not higher
 * by more than 1%), else NULL (refused); report gets the numbers either
 * way ({"examples", "validation": {...}, "serving": {...}, "accepted"}).
 * Returns 0, VT_EDB or VT_ENOMEM. */
int eng_ranker_retrain(struct vt_engine *e, const struct vt_ranker *serving,
                       struct vt_ranker **out, json_t *report, struct vt_error *err);

/* ---- the engine -------------------------------------------------------------- */

struct vt_engine {
    const struct vt_conf *conf;
    struct vt_store *store;
    struct vt_textenc *te;          /* may be NULL */
    struct eng_params params;
    struct vt_engine_options opt;

    pthread_mutex_t snap_lock;      /* guards snap (the pointer only) */
    struct eng_snapshot *snap;

    pthread_rwlock_t rank_lock;     /* guards ranker: read to score, write
                                       for SGD steps and swaps */
    struct vt_ranker *ranker;

    struct eng_live *live;
    struct eng_implog *implog;

    pthread_t thread;
    int thread_running;
    pthread_mutex_t work_lock;      /* guards the members below */
    pthread_cond_t work_cond;
    int stop;
    int64_t catalog_dirty_ms;       /* first unhandled change, 0 = none */
    int retrain_requested;
    int retraining;
    int64_t next_retrain_ms;
    json_t *last_retrain;           /* report of the last retrain, or NULL */

    atomic_uint_fast64_t versions;  /* snapshot and ranker versions */

    /* Embeddings of recent texts (queries repeat: the head of a shop's
     * searches is a few hundred phrases), direct-mapped by a hash of the
     * text; an entry holds its model id so a model change misses. */
    pthread_mutex_t text_cache_lock;
    struct eng_text_cache_entry *text_cache; /* ENG_TEXT_CACHE entries */
    atomic_uint_fast64_t text_cache_hits, text_cache_misses;
};

#define ENG_TEXT_CACHE 1024
#define ENG_TEXT_CACHE_MAX_TEXT 256 /* longer texts are not kept */
struct eng_text_cache_entry {
    uint64_t hash;
    char text[ENG_TEXT_CACHE_MAX_TEXT + 1];
    char model_id[VT_MODEL_ID_MAX + 1];
    uint32_t dim;
    float *vec;                     /* dim floats, or NULL: empty */
};

/* The current snapshot with a reference taken; never NULL after
 * vt_engine_new returned. */
struct eng_snapshot *eng_snapshot_get(struct vt_engine *e);
void eng_snapshot_put(struct eng_snapshot *s);
void eng_catalog_put(struct eng_catalog *c);
void eng_behaviour_put(struct eng_behaviour *b);

/* snapshot.c */
int eng_catalog_build(struct vt_engine *e, struct eng_catalog **out, struct vt_error *err);
int eng_behaviour_build(struct vt_engine *e, struct eng_behaviour **out, struct vt_error *err);
/* The k items (behaviour indexes) of largest iALS score for a user's
 * factors, from b->als_ann. VT_EINVAL without that index or for a zero
 * or non-finite user vector. */
int eng_als_search(const struct eng_behaviour *b, const float *user, size_t k, int64_t *labels,
                   size_t *n);
/* Takes one reference to each part (the caller's). */
int eng_snapshot_new(struct eng_catalog *c, struct eng_behaviour *b, uint64_t version,
                     struct eng_snapshot **out);

/* The catalog indexes of item's ENG_NBR_KEEP nearest items by embedding
 * (nearest first, never item itself), *n of them; computed on the first
 * call for the item and then read from the memo, so the neighbours of a
 * product page or of a piece placed in AR cost a lookup, not a search.
 * Returns NULL (*n = 0) for an item without a vector or out of memory. */
#define ENG_NBR_KEEP 64
const int32_t *eng_catalog_neighbours(const struct eng_catalog *c, int32_t item, size_t *n);

/* search.c: build c->bm25 from c->items. */
int eng_search_index_build(struct vt_engine *e, struct eng_catalog *c, struct vt_error *err);

/* Embed one text with the serving model into out (dim floats, unit
 * length). VT_EUNAVAIL when there is no model or its id differs from the
 * snapshot's (then callers fall back to lexical and behaviour signals). */
int eng_embed_text(struct vt_engine *e, const struct eng_snapshot *s, const char *text,
                   float *out, struct vt_error *err);

/* A fresh id for a list shown ("r" + 16 hex digits). */
void eng_new_rec_id(char out[24]);

/* {"id","title","category","price","currency","dims_cm","model_url",
 *  "assets","stock"} of a catalog item: the form every answer lists. */
json_t *eng_item_summary(const struct eng_snapshot *s, int32_t item);
/* The json_t form of an answer a *_text function wrote into text (rc its
 * result): parses it, frees text, returns rc or VT_ENOMEM. */
int eng_answer_json(int rc, struct vt_buf *text, json_t **out, struct vt_error *err);
/* The same summary as compact JSON text (an object, no newline), shared:
 * valid as long as the snapshot is held. NULL when out of memory. */
const char *eng_item_summary_text(const struct eng_snapshot *s, int32_t item, size_t *len);

#endif
