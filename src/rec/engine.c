/*
 * engine.c - the engine's life: creation and the first snapshot, the
 * current snapshot and ranker and their atomic swap, the background
 * thread, retraining, and GET /v1/model.
 *
 * Swaps. e->snap is read and replaced under snap_lock, and nothing else
 * happens under it but taking a reference: a request never waits for a
 * build, only for another request's pointer copy. Builds run without any
 * lock the requests take; the snapshot they replace is freed by whoever
 * drops the last reference, often a request finishing on the old one.
 * e->ranker is guarded by rank_lock (a rwlock): requests score under the
 * read lock, online SGD steps and swaps take the write lock.
 *
 * Two builders can overlap: the background thread rebuilding the catalog
 * part after item changes, and a retrain (on the thread, or on a request
 * thread for POST /v1/admin/retrain?wait=1). A catalog-only rebuild pairs
 * its new catalog with the behaviour part serving at the moment it swaps
 * (compare and retry), so it never undoes a retrain's new behaviour. The
 * thread starts no catalog rebuild while a retrain runs; changes flagged
 * meanwhile stay flagged and are rebuilt after it. A rebuild that began
 * before the retrain may swap in a catalog older than the retrain's, but
 * the changes it missed are flagged too, so the newest items are back
 * within one debounce.
 *
 * The thread wakes about once a second (or when asked): it flushes the
 * impression log, rebuilds the catalog part once rec.rebuild_debounce_s
 * has passed since the first unhandled change (and at least CATALOG_REST
 * times the last rebuild's duration since it ended), and retrains when
 * asked or when rec.retrain_interval_s has passed. It blocks SIGTERM and
 * SIGINT (the server's main thread waits for those).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "rec/bm25.h"
#include "rec/engine_int.h"
#include "text/pipeline.h"

#define WAKE_MS 1000
#define CATALOG_REST 2.0
#define RANKER_META "ranker"

/* ---- configuration --------------------------------------------------------- */

void eng_params_from_conf(const struct vt_conf *c, struct eng_params *p)
{
    memset(p, 0, sizeof *p);
    p->retrain_interval_s = vt_conf_double(c, "rec.retrain_interval_s");
    p->rebuild_debounce_s = vt_conf_double(c, "rec.rebuild_debounce_s");
    p->session_half_life_s = vt_conf_double(c, "rec.session_half_life_s");
    p->exploration = vt_conf_double(c, "rec.exploration");
    p->diversity = vt_conf_double(c, "rec.diversity");
    p->category_cap = (int)vt_conf_int(c, "rec.category_cap");
    const char *rp = vt_conf_str(c, "rec.repurchase_categories");
    p->repurchase = vt_strdup(rp ? rp : "");
    p->online_lr = vt_conf_double(c, "rec.online_learning_rate");
    p->label_window_s = vt_conf_double(c, "rec.label_window_s");
    p->impressions_keep_days = vt_conf_double(c, "rec.impressions_keep_days");
    p->ials_factors = (int)vt_conf_int(c, "rec.ials_factors");
    p->ials_iterations = (int)vt_conf_int(c, "rec.ials_iterations");
    p->search_semantic = vt_conf_double(c, "search.semantic_weight");
    p->similar_content = vt_conf_double(c, "similar.content_weight");
    p->fit_clearance_cm = vt_conf_double(c, "fit.clearance_cm");
    vt_event_weights_from_conf(c, &p->weights);
    /* Keys the configuration accepted but that would break a build. */
    if (!(p->session_half_life_s > 0))
        p->session_half_life_s = 1800;
    if (p->ials_factors < 1 || p->ials_factors > VT_IALS_MAX_FACTORS)
        p->ials_factors = 64;
    if (p->ials_iterations < 1)
        p->ials_iterations = 10;
    if (!(p->rebuild_debounce_s >= 0))
        p->rebuild_debounce_s = 2;
    if (!(p->retrain_interval_s >= 0))
        p->retrain_interval_s = 0;
}

void eng_params_reset(struct eng_params *p)
{
    if (!p)
        return;
    vt_free(p->repurchase);
    p->repurchase = NULL;
}

/* ---- snapshots ------------------------------------------------------------- */

struct eng_snapshot *eng_snapshot_get(struct vt_engine *e)
{
    pthread_mutex_lock(&e->snap_lock);
    struct eng_snapshot *s = e->snap;
    if (s)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&e->snap_lock);
    return s;
}

static uint64_t next_version(struct vt_engine *e)
{
    return (uint64_t)atomic_fetch_add(&e->versions, 1) + 1;
}

/* Put s in place of the serving snapshot (the engine takes the caller's
 * reference) and drop the engine's reference to the old one. */
static void snapshot_swap(struct vt_engine *e, struct eng_snapshot *s)
{
    pthread_mutex_lock(&e->snap_lock);
    struct eng_snapshot *old = e->snap;
    e->snap = s;
    pthread_mutex_unlock(&e->snap_lock);
    eng_snapshot_put(old);
}

/* A new catalog part paired with whatever behaviour part serves when the
 * swap happens. Takes the caller's reference to c. */
static int swap_catalog(struct vt_engine *e, struct eng_catalog *c)
{
    for (;;) {
        struct eng_snapshot *cur = eng_snapshot_get(e);
        struct eng_behaviour *b = cur->beh;
        atomic_fetch_add(&b->refs, 1);
        atomic_fetch_add(&c->refs, 1);
        struct eng_snapshot *s;
        int rc = eng_snapshot_new(c, b, next_version(e), &s);
        if (rc) {
            eng_behaviour_put(b);
            eng_catalog_put(c);
            eng_snapshot_put(cur);
            eng_catalog_put(c);
            return rc;
        }
        pthread_mutex_lock(&e->snap_lock);
        int same = e->snap->beh == b;
        struct eng_snapshot *old = NULL;
        if (same) {
            old = e->snap;
            e->snap = s;
        }
        pthread_mutex_unlock(&e->snap_lock);
        eng_snapshot_put(cur);
        if (same) {
            eng_snapshot_put(old);
            eng_catalog_put(c);
            return 0;
        }
        eng_snapshot_put(s); /* a retrain swapped meanwhile: pair again */
    }
}

/* ---- odds and ends the other engine files use ------------------------------- */

void eng_new_rec_id(char out[24])
{
    uint64_t x = 0;
    if (getrandom(&x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x) {
        /* No entropy yet (early boot): time and address mixed, splitmix64. */
        x = (uint64_t)vt_time_mono_ns() ^ ((uint64_t)(uintptr_t)out << 16);
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
    }
    snprintf(out, 24, "r%016llx", (unsigned long long)x);
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *eng_item_summary(const struct eng_snapshot *s, int32_t item)
{
    if (!s || item < 0 || item >= s->cat->nitems)
        return NULL;
    const struct vt_item *it = &s->cat->items[item].rec;
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    /* Deep copies: the answer may be changed by its caller and is freed on
     * a request thread, the snapshot's objects are shared by all. */
    bad |= json_object_set_new(o, "id", json_string(it->id));
    bad |= json_object_set_new(o, "title", it->title ? json_deep_copy(it->title) : json_object());
    bad |= json_object_set_new(o, "category", str_or_null(it->category));
    bad |= json_object_set_new(o, "price", it->has_price ? json_real(it->price) : json_null());
    bad |= json_object_set_new(o, "currency", str_or_null(it->currency));
    if (it->has_dims)
        bad |= json_object_set_new(o, "dims_cm",
                                   json_pack("{s:f,s:f,s:f}", "w", it->dims_cm[0], "d",
                                             it->dims_cm[1], "h", it->dims_cm[2]));
    else
        bad |= json_object_set_new(o, "dims_cm", json_null());
    bad |= json_object_set_new(o, "model_url", str_or_null(it->model_url));
    bad |= json_object_set_new(o, "assets", it->assets ? json_deep_copy(it->assets) : json_null());
    bad |= json_object_set_new(o, "stock", it->stock >= 0 ? json_integer(it->stock) : json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int summary_cb(const char *buf, size_t size, void *data)
{
    return vt_buf_append(data, buf, size) ? -1 : 0;
}

int eng_answer_json(int rc, struct vt_buf *text, json_t **out, struct vt_error *err)
{
    *out = NULL;
    if (rc == 0) {
        *out = json_loadb(text->data, text->len, 0, NULL);
        if (!*out)
            rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory reading the answer");
    }
    vt_buf_reset(text);
    return rc;
}

const char *eng_item_summary_text(const struct eng_snapshot *s, int32_t item, size_t *len)
{
    struct eng_catalog *c = s ? s->cat : NULL;
    if (!c || !c->summary || item < 0 || item >= c->nitems)
        return NULL;
    char *got = atomic_load_explicit(&c->summary[item], memory_order_acquire);
    if (!got) {
        /* A racing request may make the same text: the first stored wins. */
        json_t *o = eng_item_summary(s, item);
        struct vt_buf b;
        vt_buf_init(&b, 0);
        int bad = !o || json_dump_callback(o, summary_cb, &b,
                                            JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0;
        json_decref(o);
        char *text = bad ? NULL : vt_buf_steal(&b, NULL);
        vt_buf_reset(&b);
        if (!text)
            return NULL;
        char *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(&c->summary[item], &expect, text,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
            got = text;
        } else {
            vt_free(text);
            got = expect;
        }
    }
    *len = strlen(got);
    return got;
}

static uint64_t text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* 1 and the vector in out when the cache holds text for this catalog's
 * model. */
static int text_cache_get(struct vt_engine *e, const struct eng_catalog *c, const char *text,
                          uint64_t h, float *out)
{
    if (!e->text_cache)
        return 0;
    struct eng_text_cache_entry *x = &e->text_cache[h % ENG_TEXT_CACHE];
    int hit = 0;
    pthread_mutex_lock(&e->text_cache_lock);
    if (x->vec && x->hash == h && x->dim == c->dim && strcmp(x->model_id, c->model_id) == 0 &&
        strcmp(x->text, text) == 0) {
        memcpy(out, x->vec, c->dim * sizeof *out);
        hit = 1;
    }
    pthread_mutex_unlock(&e->text_cache_lock);
    atomic_fetch_add(hit ? &e->text_cache_hits : &e->text_cache_misses, 1);
    return hit;
}

static void text_cache_put(struct vt_engine *e, const struct eng_catalog *c, const char *text,
                           uint64_t h, const float *vec)
{
    if (!e->text_cache || strlen(text) > ENG_TEXT_CACHE_MAX_TEXT)
        return;
    struct eng_text_cache_entry *x = &e->text_cache[h % ENG_TEXT_CACHE];
    pthread_mutex_lock(&e->text_cache_lock);
    if (x->vec && x->dim != c->dim) {
        vt_free(x->vec);
        x->vec = NULL;
    }
    if (!x->vec)
        x->vec = vt_malloc(c->dim * sizeof *x->vec);
    if (x->vec) {
        x->hash = h;
        x->dim = c->dim;
        snprintf(x->text, sizeof x->text, "%s", text);
        snprintf(x->model_id, sizeof x->model_id, "%s", c->model_id);
        memcpy(x->vec, vec, c->dim * sizeof *vec);
    }
    pthread_mutex_unlock(&e->text_cache_lock);
}

int eng_embed_text(struct vt_engine *e, const struct eng_snapshot *s, const char *text,
                   float *out, struct vt_error *err)
{
    const struct eng_catalog *c = s->cat;
    if (!e->te || c->dim == 0)
        return vt_error_set(err, VT_EUNAVAIL, NULL, "no text model serves the catalog");
    struct vt_encoder_info info;
    int rc = vt_textenc_info(e->te, &info, err);
    if (rc)
        return rc;
    if (!info.model_id || strcmp(info.model_id, c->model_id) != 0 || info.dim != c->dim)
        return vt_error_set(err, VT_EUNAVAIL, NULL,
                            "the text model (%s) is not the one the catalog was embedded with "
                            "(%s)",
                            info.model_id ? info.model_id : "?", c->model_id);
    uint64_t h = text_hash(text);
    if (text_cache_get(e, c, text, h, out))
        return 0;
    const char *texts[1] = {text};
    rc = vt_textenc_embed(e->te, texts, 1, out, NULL, err);
    if (rc)
        return rc;
    double ss = 0;
    for (uint32_t d = 0; d < c->dim; d++)
        ss += (double)out[d] * out[d];
    if (!(ss > 1e-24) || !isfinite(ss))
        return vt_error_set(err, VT_EUNAVAIL, NULL, "the text has no usable embedding");
    float inv = (float)(1.0 / sqrt(ss));
    for (uint32_t d = 0; d < c->dim; d++)
        out[d] *= inv;
    text_cache_put(e, c, text, h, out);
    return 0;
}

/* ---- the ranker ---------------------------------------------------------- */

/* The saved ranker, or a new one at its prior; NULL when neither can be
 * had (the engine serves without it). */
static struct vt_ranker *ranker_load(struct vt_engine *e)
{
    struct vt_ranker *r = NULL;
    char *blob = NULL;
    size_t len = 0;
    if (vt_store_meta_get(e->store, RANKER_META, &blob, &len) == 0) {
        json_error_t jerr;
        json_t *j = json_loadb(blob, len, 0, &jerr);
        struct vt_error err;
        vt_error_clear(&err);
        if (!j)
            vt_warn("the saved ranker is not JSON: starting from the prior",
                    "reason=\"%s\"", jerr.text);
        else if (vt_ranker_from_json(j, eng_x_names, ENG_NX, eng_y_names, ENG_NY, &r, &err))
            vt_warn("the saved ranker does not fit this version: starting from the prior",
                    "reason=\"%s\"", err.message);
        json_decref(j);
        vt_free(blob);
    }
    if (!r && vt_ranker_new(eng_x_names, ENG_NX, eng_y_names, ENG_NY, &r) != 0)
        r = NULL;
    return r;
}

static int ranker_save(struct vt_engine *e, const struct vt_ranker *r)
{
    json_t *j = vt_ranker_to_json(r);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return VT_ENOMEM;
    int rc = vt_store_meta_put(e->store, RANKER_META, s, strlen(s));
    /* Freed by jansson's allocator: vt_malloc's when vt_alloc_install_json
     * was called (every program does), malloc's otherwise. */
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    jfree(s);
    return rc;
}

/* ---- creation and freeing ------------------------------------------------- */

static void *engine_thread(void *arg);

static int first_snapshot(struct vt_engine *e, struct vt_error *err)
{
    struct eng_catalog *c = NULL;
    struct eng_behaviour *b = NULL;
    int rc = eng_catalog_build(e, &c, err);
    if (rc)
        return rc;
    rc = eng_behaviour_build(e, &b, err);
    if (rc) {
        eng_catalog_put(c);
        return rc;
    }
    struct eng_snapshot *s;
    rc = eng_snapshot_new(c, b, next_version(e), &s);
    if (rc) {
        eng_catalog_put(c);
        eng_behaviour_put(b);
        return vt_error_set(err, rc, NULL, "out of memory for the snapshot");
    }
    e->snap = s;
    vt_info("engine snapshot built",
            "items=%d embedded_dim=%u users=%d events=%lld seconds=%.2f", c->nitems, c->dim,
            vt_idmap_count(b->users), (long long)b->nevents,
            c->build_seconds + b->build_seconds);
    return 0;
}

static void schedule_next(struct vt_engine *e)
{
    e->next_retrain_ms = e->params.retrain_interval_s > 0
                             ? vt_time_now_ms() + (int64_t)(e->params.retrain_interval_s * 1000)
                             : 0;
}

int vt_engine_new(const struct vt_conf *conf, struct vt_store *store, struct vt_textenc *te,
                  const struct vt_engine_options *opt, struct vt_engine **out,
                  struct vt_error *err)
{
    *out = NULL;
    struct vt_engine *e = vt_calloc(1, sizeof *e);
    if (!e)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory for the engine");
    e->conf = conf;
    e->store = store;
    e->te = te;
    if (opt)
        e->opt = *opt;
    eng_params_from_conf(conf, &e->params);
    pthread_mutex_init(&e->snap_lock, NULL);
    pthread_mutex_init(&e->text_cache_lock, NULL);
    e->text_cache = vt_calloc(ENG_TEXT_CACHE, sizeof *e->text_cache); /* NULL: no cache */
    pthread_rwlock_init(&e->rank_lock, NULL);
    pthread_mutex_init(&e->work_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->work_cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&e->versions, 0);

    int rc = eng_live_new(&e->live);
    if (rc == 0)
        rc = eng_implog_new(&e->implog);
    if (rc) {
        vt_error_set(err, rc, NULL, "out of memory for the engine's state");
        goto fail;
    }
    if (!e->params.repurchase) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory for the engine's settings");
        goto fail;
    }
    rc = first_snapshot(e, err);
    if (rc)
        goto fail;
    e->ranker = ranker_load(e);
    if (e->ranker)
        vt_ranker_meta(e->ranker)->version = next_version(e);
    else
        vt_warn("the engine runs without a ranker", NULL);
    schedule_next(e);

    if (!e->opt.no_thread) {
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, &old);
        if (pthread_create(&e->thread, NULL, engine_thread, e) == 0)
            e->thread_running = 1;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!e->thread_running)
            vt_warn("cannot start the engine thread: no rebuilds or scheduled retrains",
                    NULL);
    }
    *out = e;
    return 0;
fail:
    vt_engine_free(e);
    return rc;
}

void vt_engine_free(struct vt_engine *e)
{
    if (!e)
        return;
    if (e->thread_running) {
        pthread_mutex_lock(&e->work_lock);
        e->stop = 1;
        pthread_cond_broadcast(&e->work_cond);
        pthread_mutex_unlock(&e->work_lock);
        pthread_join(e->thread, NULL);
        e->thread_running = 0;
    }
    if (e->snap)
        eng_implog_flush(e);
    /* Online updates since the last save are kept across restarts. */
    if (e->ranker && vt_ranker_meta_const(e->ranker)->online_updates > 0 &&
        ranker_save(e, e->ranker) != 0)
        vt_warn("the ranker's online updates could not be saved", NULL);
    eng_implog_free(e->implog);
    eng_live_free(e->live);
    vt_ranker_free(e->ranker);
    eng_snapshot_put(e->snap);
    json_decref(e->last_retrain);
    eng_params_reset(&e->params);
    pthread_cond_destroy(&e->work_cond);
    pthread_mutex_destroy(&e->work_lock);
    pthread_rwlock_destroy(&e->rank_lock);
    pthread_mutex_destroy(&e->snap_lock);
    for (size_t i = 0; e->text_cache && i < ENG_TEXT_CACHE; i++)
        vt_free(e->text_cache[i].vec);
    vt_free(e->text_cache);
    pthread_mutex_destroy(&e->text_cache_lock);
    vt_free(e);
}

/* ---- what happens in the shop ---------------------------------------------- */

void vt_engine_on_events(struct vt_engine *e, const struct vt_event *evs, size_t n)
{
    if (!e || n == 0)
        return;
    struct eng_snapshot *s = eng_snapshot_get(e);
    eng_live_apply(e, s, evs, n);
    eng_snapshot_put(s);
    eng_implog_on_events(e, evs, n);
}

void vt_engine_on_catalog_changed(struct vt_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->work_lock);
    if (!e->catalog_dirty_ms)
        e->catalog_dirty_ms = vt_time_now_ms();
    pthread_mutex_unlock(&e->work_lock);
}

void vt_engine_forget_user(struct vt_engine *e, const char *user_id)
{
    if (!e || !user_id)
        return;
    eng_live_forget(e->live, user_id);
    eng_implog_forget(e->implog, user_id);
}

/* ---- rebuilding and retraining ---------------------------------------------- */

static int rebuild_catalog(struct vt_engine *e)
{
    struct vt_error err;
    vt_error_clear(&err);
    struct eng_catalog *c = NULL;
    int rc = eng_catalog_build(e, &c, &err);
    if (rc == 0)
        rc = swap_catalog(e, c);
    if (rc)
        vt_warn("the catalog could not be rebuilt: serving the previous one",
                "reason=\"%s\"", err.message[0] ? err.message : vt_strerror(rc));
    else
        vt_debug("catalog rebuilt", "items=%d", c->nitems);
    return rc;
}

static json_t *snapshot_sizes(const struct eng_snapshot *s)
{
    const struct eng_catalog *c = s->cat;
    const struct eng_behaviour *b = s->beh;
    int32_t embedded = 0, visible = 0;
    for (int32_t i = 0; i < c->nitems; i++) {
        embedded += c->has_emb ? c->has_emb[i] : 0;
        visible += c->items[i].visible;
    }
    return json_pack("{s:I,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:b,s:f,s:f,s:f}", "version",
                     (json_int_t)s->version, "items", c->nitems, "visible", visible, "embedded",
                     embedded, "users", vt_idmap_count(b->users), "items_with_events",
                     vt_idmap_count(b->items), "events", (json_int_t)b->nevents, "entries",
                     (json_int_t)b->ix->nnz, "ials", b->ials != NULL, "catalog_seconds",
                     c->build_seconds, "behaviour_seconds", b->build_seconds, "ials_seconds",
                     b->ials_seconds);
}

/* The body of vt_engine_retrain; queued: the thread took a queued request. */
static int retrain(struct vt_engine *e, int queued, json_t **report, struct vt_error *err)
{
    if (report)
        *report = NULL;
    pthread_mutex_lock(&e->work_lock);
    if (e->retraining) {
        pthread_mutex_unlock(&e->work_lock);
        return vt_error_set(err, VT_ECONFLICT, NULL, "a retrain is already running");
    }
    e->retraining = 1;
    if (queued)
        e->retrain_requested = 0;
    pthread_mutex_unlock(&e->work_lock);

    int64_t t0 = vt_time_mono_ns();
    struct eng_catalog *c = NULL;
    struct eng_behaviour *b = NULL;
    struct eng_snapshot *s = NULL;
    struct vt_ranker *serving = NULL, *fresh = NULL;
    json_t *rep = json_object();
    int rc = rep ? 0 : VT_ENOMEM;
    if (rc) {
        vt_error_set(err, rc, NULL, "out of memory for the retrain report");
        goto out;
    }
    if ((rc = eng_catalog_build(e, &c, err)) || (rc = eng_behaviour_build(e, &b, err)))
        goto out;
    rc = eng_snapshot_new(c, b, next_version(e), &s);
    if (rc) {
        vt_error_set(err, rc, NULL, "out of memory for the snapshot");
        goto out;
    }
    c = NULL, b = NULL; /* the snapshot holds them */

    /* The ranker trains on a copy: online steps keep landing on the one
     * serving meanwhile. */
    pthread_rwlock_rdlock(&e->rank_lock);
    if (e->ranker && vt_ranker_copy(e->ranker, &serving) != 0)
        serving = NULL;
    pthread_rwlock_unlock(&e->rank_lock);
    struct vt_error terr;
    vt_error_clear(&terr);
    int trc = eng_ranker_retrain(e, serving, &fresh, rep, &terr);
    if (trc) {
        fresh = NULL;
        json_object_set_new(rep, "ranker_error", json_string(terr.message));
        vt_warn("the ranker was not retrained: the serving one stays",
                "reason=\"%s\"", terr.message);
    }

    /* Sizes first: once swapped in, s may be swapped out and freed by a
     * catalog rebuild that began before this retrain. */
    json_object_set_new(rep, "snapshot", snapshot_sizes(s));
    snapshot_swap(e, s);
    s = NULL;

    int accepted = 0;
    if (fresh) {
        struct vt_ranker_meta *m = vt_ranker_meta(fresh);
        m->version = next_version(e);
        if (ranker_save(e, fresh) != 0)
            vt_warn("the retrained ranker could not be saved: it serves until restart", NULL);
        pthread_rwlock_wrlock(&e->rank_lock);
        struct vt_ranker *old = e->ranker;
        e->ranker = fresh;
        pthread_rwlock_unlock(&e->rank_lock);
        vt_ranker_free(old);
        fresh = NULL;
        accepted = 1;
    }
    json_object_set_new(rep, "accepted", json_boolean(accepted));
out:
    if (rep)
        json_object_set_new(rep, "seconds", json_real((double)(vt_time_mono_ns() - t0) / 1e9));
    vt_ranker_free(serving);
    vt_ranker_free(fresh);
    eng_snapshot_put(s);
    eng_catalog_put(c);
    eng_behaviour_put(b);
    pthread_mutex_lock(&e->work_lock);
    e->retraining = 0;
    schedule_next(e);
    if (rc == 0 && rep) {
        json_decref(e->last_retrain);
        e->last_retrain = json_incref(rep);
    }
    pthread_mutex_unlock(&e->work_lock);
    if (rc == 0) {
        vt_info("retrained", "seconds=%.2f accepted=%d",
                json_real_value(json_object_get(rep, "seconds")),
                json_is_true(json_object_get(rep, "accepted")));
        if (report)
            *report = json_incref(rep);
    }
    json_decref(rep);
    return rc;
}

int vt_engine_retrain(struct vt_engine *e, json_t **report, struct vt_error *err)
{
    return retrain(e, 0, report, err);
}

int vt_engine_retrain_async(struct vt_engine *e)
{
    pthread_mutex_lock(&e->work_lock);
    int rc = 0;
    if (!e->thread_running)
        rc = VT_EUNAVAIL;
    else if (e->retraining || e->retrain_requested)
        rc = VT_ECONFLICT;
    else {
        e->retrain_requested = 1;
        pthread_cond_signal(&e->work_cond);
    }
    pthread_mutex_unlock(&e->work_lock);
    return rc;
}

/* ---- the thread --------------------------------------------------------------- */

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

#define PRUNE_EVERY_MS (3600 * 1000LL)

static void *engine_thread(void *arg)
{
    struct vt_engine *e = arg;
    /* A stream of item changes (a catalog being embedded, a bulk update)
     * would otherwise rebuild the catalog part back to back: after a
     * rebuild of t seconds the next waits at least CATALOG_REST x t, so
     * rebuilds take at most a third of a core. */
    int64_t rest_until = 0;
    int64_t next_prune = 0;
    pthread_mutex_lock(&e->work_lock);
    while (!e->stop) {
        struct timespec ts;
        deadline_in(&ts, WAKE_MS);
        pthread_cond_timedwait(&e->work_cond, &e->work_lock, &ts);
        if (e->stop)
            break;
        int64_t now = vt_time_now_ms();
        int rebuild = 0;
        if (e->catalog_dirty_ms && !e->retraining &&
            now - e->catalog_dirty_ms >= (int64_t)(e->params.rebuild_debounce_s * 1000) &&
            now >= rest_until) {
            rebuild = 1;
            e->catalog_dirty_ms = 0; /* changes from now on wait for the next one */
        }
        int want = !e->retraining &&
                   (e->retrain_requested || (e->next_retrain_ms && now >= e->next_retrain_ms));
        pthread_mutex_unlock(&e->work_lock);

        eng_implog_flush(e);
        if (e->params.impressions_keep_days > 0 && now >= next_prune) {
            /* Impressions older than the retention go, once an hour: the
             * ranker learns from recent behaviour, and a log that only
             * grows is data kept for no purpose. */
            int64_t deleted = 0;
            int64_t before = now - (int64_t)(e->params.impressions_keep_days * 86400000.0);
            if (vt_store_impressions_prune(e->store, before, &deleted) == 0 && deleted > 0)
                vt_info("old impressions deleted", "count=%lld keep_days=%g",
                        (long long)deleted, e->params.impressions_keep_days);
            next_prune = now + PRUNE_EVERY_MS;
        }
        if (rebuild && !want) {
            int64_t t0 = vt_time_now_ms();
            int rc = rebuild_catalog(e);
            int64_t t1 = vt_time_now_ms();
            rest_until = t1 + (int64_t)(CATALOG_REST * (double)(t1 - t0));
            if (rc) {
                pthread_mutex_lock(&e->work_lock);
                if (!e->catalog_dirty_ms)
                    e->catalog_dirty_ms = t1; /* try again later */
                pthread_mutex_unlock(&e->work_lock);
            }
        }
        if (want) {
            struct vt_error err;
            vt_error_clear(&err);
            int rc = retrain(e, 1, NULL, &err);
            if (rc && rc != VT_ECONFLICT)
                vt_warn("the scheduled retrain failed: serving the previous models",
                        "reason=\"%s\"", err.message);
        }
        pthread_mutex_lock(&e->work_lock);
    }
    pthread_mutex_unlock(&e->work_lock);
    return NULL;
}

/* ---- GET /v1/model ---------------------------------------------------------- */

static json_t *iso_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[40];
    vt_time_format_iso(ms, buf, sizeof buf);
    return json_string(buf);
}

static uint64_t index_bytes(struct vt_index *ix)
{
    if (!ix)
        return 0;
    struct vt_index_stats st;
    memset(&st, 0, sizeof st);
    ix->ops->stats(ix->impl, &st);
    return st.bytes;
}

/* Heap bytes of the catalog part's structures, by part; "records_json" is
 * the size of the item records as JSON text, a floor of what their parsed
 * form holds. */
static json_t *catalog_bytes(const struct eng_catalog *c)
{
    uint64_t emb = (uint64_t)c->nitems * (c->dim * sizeof(float) + 1);
    uint64_t memo = (uint64_t)c->nitems * sizeof *c->nbr, json_text = 0;
    uint64_t summaries = (uint64_t)c->nitems * sizeof *c->summary;
    for (int32_t i = 0; i < c->nitems; i++) {
        int32_t *nb = c->nbr ? atomic_load(&c->nbr[i]) : NULL;
        if (nb)
            memo += (uint64_t)(nb[0] + 1) * sizeof *nb;
        char *sm = c->summary ? atomic_load(&c->summary[i]) : NULL;
        if (sm)
            summaries += strlen(sm) + 1;
        json_t *j = vt_item_to_json(&c->items[i].rec);
        char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_text += txt ? strlen(txt) : 0;
        json_decref(j);
        vt_free(txt);
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "embeddings", (json_int_t)emb, "ann",
                     (json_int_t)index_bytes(c->ann), "lexical",
                     (json_int_t)(c->bm25 ? vt_bm25_bytes(c->bm25) : 0), "neighbour_memo",
                     (json_int_t)memo, "summary_memo", (json_int_t)summaries, "records_json",
                     (json_int_t)json_text);
}

/* Heap bytes of the behaviour part's models, by part. */
static json_t *behaviour_bytes(const struct eng_behaviour *b)
{
    int32_t ni = vt_idmap_count(b->items);
    uint64_t knn = 0, ials = 0, ials_users = 0, pop = 0;
    if (b->knn)
        knn = (uint64_t)(b->knn->nitems + 1) * sizeof *b->knn->ptr +
              (uint64_t)b->knn->ptr[b->knn->nitems] * (sizeof *b->knn->nb + sizeof *b->knn->sim);
    if (b->ials) {
        uint64_t f = (uint64_t)b->ials->factors * sizeof(float);
        ials_users = (uint64_t)b->ials->nusers * f;
        ials = ials_users + (uint64_t)b->ials->nitems * f + f * (uint64_t)b->ials->factors;
    }
    pop = 2 * (uint64_t)ni * (2 * sizeof(float) + sizeof(int32_t));
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "interactions",
                     (json_int_t)vt_interactions_bytes(b->ix), "item_item", (json_int_t)knn,
                     "ials", (json_int_t)ials, "ials_users", (json_int_t)ials_users,
                     "ials_index", (json_int_t)index_bytes(b->als_ann), "popularity",
                     (json_int_t)pop, "ar_rate", (json_int_t)((uint64_t)ni * sizeof(float)));
}

static json_t *catalog_info(const struct eng_catalog *c, int64_t now)
{
    int32_t embedded = 0, visible = 0;
    for (int32_t i = 0; i < c->nitems; i++) {
        embedded += c->has_emb ? c->has_emb[i] : 0;
        visible += c->items[i].visible;
    }
    json_t *ann = json_null();
    if (c->ann)
        ann = json_pack("{s:s,s:I}", "kind", vt_index_kind_name(c->ann), "vectors",
                        (json_int_t)vt_index_size(c->ann));
    return json_pack("{s:i,s:i,s:i,s:i,s:s?,s:i,s:o,s:b,s:o,s:f,s:f,s:o}", "items",
                     c->nitems, "visible", visible, "categories", c->ncats, "embedded",
                     embedded, "model_id", c->model_id[0] ? c->model_id : NULL, "dim",
                     (int)c->dim, "ann", ann, "lexical", c->bm25 != NULL, "built_at",
                     iso_or_null(c->built_ms), "age_s", (double)(now - c->built_ms) / 1000.0,
                     "build_seconds", c->build_seconds, "bytes", catalog_bytes(c));
}

static json_t *behaviour_info(const struct eng_behaviour *b, int64_t now)
{
    return json_pack("{s:i,s:i,s:I,s:I,s:I,s:o,s:o,s:f,s:f,s:f,s:o}", "users",
                     vt_idmap_count(b->users), "items", vt_idmap_count(b->items), "events",
                     (json_int_t)b->nevents, "entries", (json_int_t)b->ix->nnz,
                     "last_event_id", (json_int_t)b->last_event_id, "ials",
                     b->ials ? json_pack("{s:i,s:i}", "factors", b->ials->factors,
                                         "iterations", b->ials->iterations) :
                               json_null(),
                     "built_at", iso_or_null(b->built_ms), "age_s",
                     (double)(now - b->built_ms) / 1000.0, "build_seconds", b->build_seconds,
                     "ials_seconds", b->ials_seconds, "bytes", behaviour_bytes(b));
}

int vt_engine_model_info(struct vt_engine *e, json_t **out)
{
    *out = NULL;
    int64_t now = vt_time_now_ms();
    json_t *ranker = NULL;
    pthread_rwlock_rdlock(&e->rank_lock);
    if (e->ranker)
        ranker = vt_ranker_to_json(e->ranker);
    pthread_rwlock_unlock(&e->rank_lock);
    if (!ranker)
        ranker = json_null();

    struct eng_snapshot *s = eng_snapshot_get(e);
    json_t *snap = json_pack("{s:I,s:o,s:o}", "version", (json_int_t)s->version, "catalog",
                             catalog_info(s->cat, now), "behaviour",
                             behaviour_info(s->beh, now));
    eng_snapshot_put(s);

    size_t users = 0, bytes = 0;
    eng_live_stats(e->live, &users, &bytes);
    json_t *live = json_pack("{s:I,s:I}", "users", (json_int_t)users, "bytes", (json_int_t)bytes);

    pthread_mutex_lock(&e->work_lock);
    json_t *sched = json_pack("{s:f,s:o,s:O?,s:b,s:b,s:o}", "interval_s",
                              e->params.retrain_interval_s, "next_retrain_at",
                              iso_or_null(e->next_retrain_ms), "last_retrain", e->last_retrain,
                              "retraining", e->retraining, "queued", e->retrain_requested,
                              "catalog_rebuild_pending", json_boolean(e->catalog_dirty_ms != 0));
    pthread_mutex_unlock(&e->work_lock);

    if (!snap || !live || !sched) {
        json_decref(ranker), json_decref(snap), json_decref(live), json_decref(sched);
        return VT_ENOMEM;
    }
    *out = json_pack("{s:o,s:o,s:o,s:o,s:{s:i,s:I,s:I}}", "ranker", ranker, "snapshot", snap,
                     "live", live, "schedule", sched, "text_cache", "entries",
                     e->text_cache ? ENG_TEXT_CACHE : 0, "hits",
                     (json_int_t)atomic_load(&e->text_cache_hits), "misses",
                     (json_int_t)atomic_load(&e->text_cache_misses));
    return *out ? 0 : VT_ENOMEM;
}
