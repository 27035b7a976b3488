/*
 * engine_pending.c - weak placeholders for the engine's functions while
 * their files are being written: each answers "not available" (or does
 * nothing), and the real definition, once present, replaces it at link
 * time (the Makefile links the whole library). This file goes when every
 * function below has its real definition.
 */
#include <math.h>
#include <string.h>

#include "rec/engine_int.h"

#define PENDING __attribute__((weak))

static int pending(struct vt_error *err, const char *what)
{
    return vt_error_set(err, VT_EUNAVAIL, NULL, "%s is not available yet", what);
}

/* engine.h */
PENDING int vt_engine_new(const struct vt_conf *conf, struct vt_store *store,
                          struct vt_textenc *te, const struct vt_engine_options *opt,
                          struct vt_engine **out, struct vt_error *err)
{
    (void)conf, (void)store, (void)te, (void)opt;
    *out = NULL;
    return pending(err, "the recommendation engine");
}
PENDING void vt_engine_free(struct vt_engine *e) { (void)e; }
PENDING void vt_engine_on_events(struct vt_engine *e, const struct vt_event *evs, size_t n)
{
    (void)e, (void)evs, (void)n;
}
PENDING void vt_engine_on_catalog_changed(struct vt_engine *e) { (void)e; }
PENDING void vt_engine_forget_user(struct vt_engine *e, const char *user_id)
{
    (void)e, (void)user_id;
}
PENDING int vt_engine_search(struct vt_engine *e, const struct vt_search_request *q,
                             json_t **out, struct vt_error *err)
{
    (void)e, (void)q, *out = NULL;
    return pending(err, "search");
}
PENDING int vt_engine_recommend(struct vt_engine *e, const struct vt_rec_request *q,
                                json_t **out, struct vt_error *err)
{
    (void)e, (void)q, *out = NULL;
    return pending(err, "recommendation");
}
PENDING int vt_engine_similar(struct vt_engine *e, const char *item_id, size_t n, json_t **out,
                              struct vt_error *err)
{
    (void)e, (void)item_id, (void)n, *out = NULL;
    return pending(err, "similar items");
}
PENDING int vt_engine_fit(struct vt_engine *e, const json_t *body, json_t **out,
                          struct vt_error *err)
{
    (void)e, (void)body, *out = NULL;
    return pending(err, "the fit check");
}
PENDING int vt_engine_categories(struct vt_engine *e, json_t **out)
{
    (void)e, *out = NULL;
    return VT_EUNAVAIL;
}
PENDING int vt_engine_model_info(struct vt_engine *e, json_t **out)
{
    (void)e, *out = NULL;
    return VT_EUNAVAIL;
}
PENDING int vt_engine_retrain(struct vt_engine *e, json_t **report, struct vt_error *err)
{
    (void)e;
    if (report)
        *report = NULL;
    return pending(err, "retraining");
}
PENDING int vt_engine_retrain_async(struct vt_engine *e)
{
    (void)e;
    return VT_EUNAVAIL;
}

/* engine_int.h */
PENDING void eng_params_from_conf(const struct vt_conf *c, struct eng_params *p)
{
    (void)c;
    memset(p, 0, sizeof *p);
}
PENDING void eng_params_reset(struct eng_params *p) { (void)p; }
PENDING void eng_user_view_reset(struct eng_user_view *v) { memset(v, 0, sizeof *v); }
PENDING int eng_live_new(struct eng_live **out)
{
    *out = NULL;
    return VT_EUNAVAIL;
}
PENDING void eng_live_free(struct eng_live *l) { (void)l; }
PENDING void eng_live_apply(struct vt_engine *e, const struct eng_snapshot *s,
                            const struct vt_event *evs, size_t n)
{
    (void)e, (void)s, (void)evs, (void)n;
}
PENDING int eng_live_view(struct vt_engine *e, const struct eng_snapshot *s,
                          const char *user_id, struct eng_user_view *out)
{
    (void)e, (void)s, (void)user_id;
    memset(out, 0, sizeof *out);
    return 0;
}
PENDING void eng_live_forget(struct eng_live *l, const char *user_id)
{
    (void)l, (void)user_id;
}
PENDING void eng_live_stats(struct eng_live *l, size_t *users, size_t *bytes)
{
    (void)l;
    *users = 0, *bytes = 0;
}
PENDING const char *const eng_x_names[ENG_NX] = {
    "sem_context", "sem_session", "sem_text", "cf_als",  "cf_knn", "pop",
    "trending",    "recency",     "price_fit", "category", "seen"};
PENDING const char *const eng_y_names[ENG_NY] = {"ar_self", "ar_near", "ar_rate", "manipulate"};
PENDING int eng_feature_ctx_init(struct eng_feature_ctx *c, struct vt_engine *e,
                                 const struct eng_snapshot *s, const struct eng_user_view *u,
                                 const float *context_vec, const float *text_vec)
{
    (void)e, (void)u, (void)context_vec, (void)text_vec;
    memset(c, 0, sizeof *c);
    c->s = s;
    return 0;
}
PENDING void eng_feature_ctx_reset(struct eng_feature_ctx *c) { (void)c; }
PENDING void eng_features(const struct eng_feature_ctx *c, struct eng_cand *cand)
{
    (void)c;
    memset(cand->f, 0, sizeof cand->f);
}
PENDING int eng_rule_allowed(const struct vt_engine *e, const struct eng_snapshot *s,
                             const struct eng_user_view *u, int32_t item)
{
    (void)e, (void)u;
    return s->cat->items[item].visible;
}
PENDING size_t eng_rules_finish(const struct vt_engine *e, const struct eng_snapshot *s,
                                const struct eng_user_view *u, struct eng_cand *cand, size_t n,
                                size_t k, uint64_t seed, struct eng_cand *out)
{
    (void)e, (void)s, (void)u, (void)seed;
    size_t m = n < k ? n : k;
    memcpy(out, cand, m * sizeof *out);
    return m;
}
PENDING int eng_implog_new(struct eng_implog **out)
{
    *out = NULL;
    return 0;
}
PENDING void eng_implog_free(struct eng_implog *l) { (void)l; }
PENDING void eng_implog_add(struct vt_engine *e, const char *rec_id, const char *user_id,
                            const char *surface, const struct eng_snapshot *s,
                            const struct eng_cand *list, size_t n)
{
    (void)e, (void)rec_id, (void)user_id, (void)surface, (void)s, (void)list, (void)n;
}
PENDING void eng_implog_on_events(struct vt_engine *e, const struct vt_event *evs, size_t n)
{
    (void)e, (void)evs, (void)n;
}
PENDING void eng_implog_flush(struct vt_engine *e) { (void)e; }
PENDING void eng_implog_forget(struct eng_implog *l, const char *user_id)
{
    (void)l, (void)user_id;
}
PENDING int eng_ranker_retrain(struct vt_engine *e, const struct vt_ranker *serving,
                               struct vt_ranker **out, json_t *report, struct vt_error *err)
{
    (void)e, (void)serving, (void)report;
    *out = NULL;
    return pending(err, "ranker training");
}
PENDING struct eng_snapshot *eng_snapshot_get(struct vt_engine *e)
{
    (void)e;
    return NULL;
}
PENDING void eng_snapshot_put(struct eng_snapshot *s) { (void)s; }
PENDING void eng_catalog_put(struct eng_catalog *c) { (void)c; }
PENDING void eng_behaviour_put(struct eng_behaviour *b) { (void)b; }
PENDING int eng_catalog_build(struct vt_engine *e, struct eng_catalog **out,
                              struct vt_error *err)
{
    (void)e, *out = NULL;
    return pending(err, "the catalog snapshot");
}
PENDING int eng_behaviour_build(struct vt_engine *e, struct eng_behaviour **out,
                                struct vt_error *err)
{
    (void)e, *out = NULL;
    return pending(err, "the behaviour snapshot");
}
PENDING int eng_snapshot_new(struct eng_catalog *c, struct eng_behaviour *b, uint64_t version,
                             struct eng_snapshot **out)
{
    (void)c, (void)b, (void)version, *out = NULL;
    return VT_EUNAVAIL;
}
PENDING int eng_search_index_build(struct vt_engine *e, struct eng_catalog *c,
                                   struct vt_error *err)
{
    (void)e, (void)c, (void)err;
    return 0;
}
PENDING int eng_embed_text(struct vt_engine *e, const struct eng_snapshot *s, const char *text,
                           float *out, struct vt_error *err)
{
    (void)e, (void)s, (void)text, (void)out;
    return pending(err, "text embedding");
}
PENDING void eng_new_rec_id(char out[24]) { strcpy(out, "r0000000000000000"); }
PENDING json_t *eng_item_summary(const struct eng_snapshot *s, int32_t item)
{
    return json_pack("{s:s}", "id", s->cat->items[item].rec.id);
}

/* store.h: impressions */
PENDING int vt_store_impressions_append(struct vt_store *s, struct vt_impression *imps, size_t n,
                                        size_t *bad, struct vt_error *err)
{
    (void)s, (void)imps, (void)n, (void)bad;
    return pending(err, "storing impressions");
}
PENDING int vt_store_impressions_scan(struct vt_store *s, int64_t after_id, size_t limit,
                                      struct vt_impression **out, size_t *n)
{
    (void)s, (void)after_id, (void)limit;
    *out = NULL, *n = 0;
    return 0;
}
PENDING int vt_store_impressions_prune(struct vt_store *s, int64_t before_ms, int64_t *deleted)
{
    (void)s, (void)before_ms;
    if (deleted)
        *deleted = 0;
    return 0;
}
PENDING int vt_store_impressions_count(struct vt_store *s, int64_t *count)
{
    (void)s;
    *count = 0;
    return 0;
}
