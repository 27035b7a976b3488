/*
 * engine.h - the recommendation engine of a running server: search,
 * similar items, personal and session recommendations, the ranker that
 * learns from what shoppers do (AR included), and its retraining.
 *
 * What it holds (engine_int.h has the details):
 *   - a snapshot of the catalog (items, their embeddings in an HNSW index,
 *     a BM25 index of their words) and of behaviour (the interaction
 *     matrix, popularity and trending, item-item CF, iALS), immutable and
 *     reference-counted: a request takes a reference and keeps reading the
 *     snapshot it started with while a new one is built and swapped in;
 *   - live per-user state updated on every event (a session interest
 *     vector, recent items, dismissed and purchased items), so what a
 *     shopper does now counts at once, without waiting for a rebuild;
 *   - the ranker, updated online after each event batch and retrained on
 *     a schedule (rec.retrain_interval_s) and on demand, swapped
 *     atomically; a retrained ranker that scores worse on held-out data
 *     than the one serving is refused.
 *
 * Answers are JSON objects in the shapes docs/api.md documents for
 * GET /v1/search, GET /v1/recommend, GET /v1/items/{id}/similar,
 * POST /v1/fit and GET /v1/model.
 *
 * Ownership: json_t results are new references (json_decref). The engine
 * does not own the configuration, store or text pipeline it is given;
 * they must outlive it.
 * Thread-safety: every function but vt_engine_free may be called from any
 * thread at once; vt_engine_free must be the last call.
 */
#ifndef VT_REC_ENGINE_H
#define VT_REC_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/conf.h"
#include "core/error.h"
#include "store/record.h"
#include "store/store.h"

struct vt_engine;
struct vt_textenc;

struct vt_engine_options {
    /* 1: no background thread (vitrine train, tests): snapshots are built
     * and the ranker retrained only by explicit calls. */
    int no_thread;
    /* Progress bars on stderr while building (vitrine train). */
    int progress;
};

/* Creates the engine and builds its first snapshot from the store before
 * returning (items, embeddings present now, events), so that the first
 * request already has a catalog. te may be NULL (no text model: search is
 * lexical only, content features are 0). Unless opt->no_thread, starts the
 * background thread that rebuilds and retrains. Errors: VT_EDB, VT_ENOMEM. */
int vt_engine_new(const struct vt_conf *conf, struct vt_store *store, struct vt_textenc *te,
                  const struct vt_engine_options *opt, struct vt_engine **out,
                  struct vt_error *err);
/* Stops the thread (after its current step) and frees. NULL is a no-op. */
void vt_engine_free(struct vt_engine *e);

/* ---- what happens in the shop ------------------------------------------ */

/* Events just stored durably (vt_store_events_append returned 0): live
 * user state and the ranker's online update. Never fails the caller. */
void vt_engine_on_events(struct vt_engine *e, const struct vt_event *evs, size_t n);
/* Items were created, changed or deleted, or their embeddings were
 * stored: the catalog part of the snapshot is rebuilt shortly
 * (rec.rebuild_debounce_s), so a new item is searchable and has
 * neighbours within seconds. */
void vt_engine_on_catalog_changed(struct vt_engine *e);
/* The user was deleted from the store: every trace in memory goes too
 * (live state, their rows in the serving snapshot's user map are not
 * used again, impressions were deleted by the store). */
void vt_engine_forget_user(struct vt_engine *e, const char *user_id);

/* ---- answers -------------------------------------------------------------- */

/* GET /v1/search. */
struct vt_search_request {
    const char *q;           /* shopper text, may be empty when filters are given */
    size_t n;                /* 1..100 */
    const char *category;    /* path prefix filter, or NULL */
    double price_min, price_max; /* NAN when not given */
    double fits_cm[3];       /* w, d, h of the space; NAN each when not given */
    const char *ignore;      /* comma list of extracted attributes the shopper
                                removed ("colour,price_max"), or NULL */
    const char *user_id;     /* for personalisation and impressions, or NULL */
    const char *lang;        /* "en" or "zh" preferred for titles, or NULL */
};
int vt_engine_search(struct vt_engine *e, const struct vt_search_request *q, json_t **out,
                     struct vt_error *err);
/* The same answer as compact JSON text appended to out (what the server
 * sends). On an error out is as it was. */
int vt_engine_search_text(struct vt_engine *e, const struct vt_search_request *q,
                          struct vt_buf *out, struct vt_error *err);

/* GET /v1/recommend. */
struct vt_rec_request {
    const char *user_id;     /* may be NULL: an anonymous visitor (trending) */
    size_t n;                /* 1..100 */
    const char *context;     /* "home", "product:<id>", "cart", "showroom", or NULL */
    const char *category;    /* restrict to a category path prefix, or NULL */
    int log_impression;      /* 1: record what was shown (the storefront) */
};
int vt_engine_recommend(struct vt_engine *e, const struct vt_rec_request *q, json_t **out,
                        struct vt_error *err);
/* The same answer as compact JSON text appended to out (what the server
 * sends; no tree is built, item summaries come from the snapshot's memo).
 * On an error out is as it was. */
int vt_engine_recommend_text(struct vt_engine *e, const struct vt_rec_request *q,
                             struct vt_buf *out, struct vt_error *err);

/* GET /v1/items/{id}/similar. VT_ENOTFOUND for an unknown or hidden item. */
int vt_engine_similar(struct vt_engine *e, const char *item_id, size_t n, json_t **out,
                      struct vt_error *err);
/* The same answer as compact JSON text appended to out. On an error out
 * is as it was. */
int vt_engine_similar_text(struct vt_engine *e, const char *item_id, size_t n,
                           struct vt_buf *out, struct vt_error *err);

/* POST /v1/fit: body as docs/api.md describes; VT_EINVAL with the field
 * on a bad body, VT_ENOTFOUND for an unknown item. */
int vt_engine_fit(struct vt_engine *e, const json_t *body, json_t **out, struct vt_error *err);

/* GET /v1/categories: {"categories": [{"path", "items"}]} of visible items. */
int vt_engine_categories(struct vt_engine *e, json_t **out);

/* GET /v1/model: the ranker's weights, training time and validation
 * metrics, the snapshot's sizes and ages, the retrain schedule. */
int vt_engine_model_info(struct vt_engine *e, json_t **out);

/* ---- rebuilding and retraining -------------------------------------------- */

/* Rebuild the whole snapshot from the store and retrain the ranker on the
 * logged impressions, then swap both in (the ranker only when it passes
 * the held-out check). Runs in the caller's thread; requests keep being
 * answered from the old snapshot meanwhile. *report (may be NULL) gets a
 * JSON summary (sizes, seconds, validation metrics, accepted or refused).
 * Errors: VT_EDB, VT_ENOMEM, VT_ECONFLICT when another retrain is running. */
int vt_engine_retrain(struct vt_engine *e, json_t **report, struct vt_error *err);
/* Ask the background thread to retrain now; returns at once. VT_ECONFLICT
 * when one is already running or queued. */
int vt_engine_retrain_async(struct vt_engine *e);

#endif
