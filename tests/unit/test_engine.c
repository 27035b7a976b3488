/*
 * test_engine.c - the engine core: snapshot contents and their id maps,
 * reference counts across swaps, live user state (session vector, sets,
 * texts, forgetting, eviction), retraining and its report, reads that go
 * on while retrains build (snap_lock is never held by a build), the
 * catalog rebuild of the background thread, the ranker saved and loaded,
 * item vectors read for the serving model, and GET /v1/model's shape.
 *
 * Every test builds an engine over a fresh SQLite store under build/.
 * Most run without a text model (te NULL) and give a catalog part vectors
 * by hand where they need them; test_catalog_embeddings uses the real
 * USE-Lite model (data/models/use-lite, fetched by scripts/bootstrap).
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "rec/engine_int.h"
#include "rec/metrics.h"
#include "store/store.h"
#include "text/pipeline.h"
#include "test.h"

#define DB "build/test_engine.db"
#define HOUR_MS (3600 * 1000LL)

static void rm_db(const char *path)
{
    char p[512];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static struct vt_store *fresh_store(void)
{
    struct vt_store *s = NULL;
    struct vt_error err;
    mkdir("build", 0755);
    rm_db(DB);
    if (vt_store_open(DB, NULL, &s, &err) != 0)
        fprintf(stderr, "  open %s: %s\n", DB, err.message);
    return s;
}

static int put_item(struct vt_store *s, const char *id, const char *en, const char *zh,
                    const char *category, int hidden, int64_t stock, double price)
{
    struct vt_item it;
    vt_item_init(&it);
    it.id = vt_strdup(id);
    it.title = json_object();
    if (en)
        json_object_set_new(it.title, "en", json_string(en));
    if (zh)
        json_object_set_new(it.title, "zh", json_string(zh));
    it.category = category ? vt_strdup(category) : NULL;
    it.hidden = hidden;
    it.stock = stock;
    if (price >= 0) {
        it.price = price;
        it.has_price = 1;
        strcpy(it.currency, "EUR");
    }
    it.has_dims = 1;
    it.dims_cm[0] = 200, it.dims_cm[1] = 90, it.dims_cm[2] = 80;
    size_t bad;
    struct vt_error err;
    int rc = vt_store_items_put(s, &it, 1, VT_PUT_UPSERT, &bad, &err);
    vt_item_reset(&it);
    return rc;
}

/* Store one event (its id is assigned) and return it in *ev (reset by
 * the caller). */
static int add_event(struct vt_store *s, struct vt_event *ev, const char *user,
                     const char *item, int type, double value, int64_t ts)
{
    vt_event_init(ev);
    ev->user_id = vt_strdup(user);
    ev->item_id = item ? vt_strdup(item) : NULL;
    ev->type = type;
    ev->value = value;
    ev->ts_ms = ts;
    size_t bad;
    struct vt_error err;
    return vt_store_events_append(s, ev, 1, &bad, &err);
}

static int add(struct vt_store *s, const char *user, const char *item, int type, double value,
               int64_t ts)
{
    struct vt_event ev;
    int rc = add_event(s, &ev, user, item, type, value, ts);
    vt_event_reset(&ev);
    return rc;
}

/* A shop: five items (one hidden, one sold out, one with the same title
 * in both languages), three shoppers. */
static void fill_shop(struct vt_store *s, int64_t now)
{
    CHECK_EQ_INT(put_item(s, "chair-1", "Oak chair", "橡木椅", "Dining/Chairs", 0, -1, 120), 0);
    CHECK_EQ_INT(put_item(s, "sofa-1", "Corner sofa", "转角沙发", "Living room/Sofas", 0, 3, 1500),
                 0);
    CHECK_EQ_INT(put_item(s, "sofa-2", "Sofa bed", "Sofa bed", "Living room/Sofas", 0, 0, 900),
                 0);
    CHECK_EQ_INT(put_item(s, "lamp-1", "Floor lamp", NULL, "Lighting", 0, -1, 80), 0);
    CHECK_EQ_INT(put_item(s, "table-1", NULL, "餐桌", "Dining/Tables", 1, -1, 400), 0);
    CHECK_EQ_INT(add(s, "ann", "sofa-1", VT_EV_VIEW, 1, now - 3 * HOUR_MS), 0);
    CHECK_EQ_INT(add(s, "ann", "sofa-1", VT_EV_AR_PLACE, 1, now - 2 * HOUR_MS), 0);
    CHECK_EQ_INT(add(s, "ann", "lamp-1", VT_EV_VIEW, 1, now - HOUR_MS), 0);
    CHECK_EQ_INT(add(s, "bob", "sofa-1", VT_EV_VIEW, 1, now - 3 * HOUR_MS), 0);
    CHECK_EQ_INT(add(s, "bob", "chair-1", VT_EV_PURCHASE, 1, now - 2 * HOUR_MS), 0);
    CHECK_EQ_INT(add(s, "bob", NULL, VT_EV_SEARCH, 1, now - HOUR_MS), 0);
    CHECK_EQ_INT(add(s, "cy", "lamp-1", VT_EV_DISMISS, 1, now - HOUR_MS), 0);
}

static struct vt_conf *test_conf(void)
{
    struct vt_conf *c = NULL;
    if (vt_conf_defaults(&c) != 0)
        return NULL;
    vt_conf_set(c, "rec.retrain_interval_s", "0");
    return c;
}

static struct vt_engine *engine_over(struct vt_conf *conf, struct vt_store *s, int thread)
{
    struct vt_engine_options o = {.no_thread = !thread};
    struct vt_engine *e = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    if (vt_engine_new(conf, s, NULL, &o, &e, &err) != 0)
        fprintf(stderr, "  engine: %s\n", err.message);
    return e;
}

TEST(test_catalog_contents)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    fill_shop(s, now);
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL);
    if (!e)
        goto out;
    struct eng_snapshot *snap = eng_snapshot_get(e);
    const struct eng_catalog *c = snap->cat;
    CHECK_EQ_INT(c->nitems, 5);
    /* id order: chair-1 lamp-1 sofa-1 sofa-2 table-1 */
    CHECK_STR(c->items[0].rec.id, "chair-1");
    CHECK_STR(c->items[4].rec.id, "table-1");
    for (int32_t i = 0; i < c->nitems; i++)
        CHECK_EQ_INT(vt_idmap_get(c->ids, c->items[i].rec.id), i);
    CHECK_EQ_INT(vt_idmap_get(c->ids, "nope"), -1);
    /* visibility: hidden table, sold-out sofa bed */
    CHECK_EQ_INT(c->items[0].visible, 1);
    CHECK_EQ_INT(c->items[2].visible, 1);
    CHECK_EQ_INT(c->items[3].visible, 0);
    CHECK_EQ_INT(c->items[4].visible, 0);
    /* titles: zh only when it differs; a zh-only item is titled in zh */
    CHECK_STR(c->items[2].title_zh, "转角沙发");
    CHECK(c->items[3].title_zh == NULL);
    CHECK_STR(c->items[3].title, "Sofa bed");
    CHECK(c->items[4].title_en == NULL);
    CHECK_STR(c->items[4].title, "餐桌");
    /* categories: sorted, distinct, visible items counted */
    CHECK_EQ_INT(c->ncats, 4);
    CHECK_STR(c->cats[0], "Dining/Chairs");
    CHECK_STR(c->cats[1], "Dining/Tables");
    CHECK_STR(c->cats[3], "Living room/Sofas");
    CHECK_EQ_INT(c->items[2].cat, 3);
    CHECK_EQ_INT(c->cat_items[3], 1); /* the sold-out sofa bed does not count */
    CHECK_EQ_INT(c->cat_items[1], 0);
    /* no text model: no embeddings, no vector index */
    CHECK_EQ_INT(c->dim, 0);
    CHECK(c->ann == NULL);
    /* the summary shape */
    json_t *sum = eng_item_summary(snap, 2);
    CHECK(sum != NULL);
    CHECK_STR(json_string_value(json_object_get(sum, "id")), "sofa-1");
    CHECK_STR(json_string_value(json_object_get(json_object_get(sum, "title"), "zh")),
              "转角沙发");
    CHECK_STR(json_string_value(json_object_get(sum, "category")), "Living room/Sofas");
    CHECK_NEAR(json_number_value(json_object_get(sum, "price")), 1500, 1e-9);
    CHECK_STR(json_string_value(json_object_get(sum, "currency")), "EUR");
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(sum, "dims_cm"), "d")), 90,
               1e-9);
    CHECK_EQ_INT(json_integer_value(json_object_get(sum, "stock")), 3);
    CHECK(json_is_null(json_object_get(sum, "model_url")));
    CHECK(json_object_get(sum, "assets") != NULL);
    json_decref(sum);
    sum = eng_item_summary(snap, 0);
    CHECK(json_is_null(json_object_get(sum, "stock"))); /* not tracked */
    json_decref(sum);
    CHECK(eng_item_summary(snap, 5) == NULL);
    eng_snapshot_put(snap);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

TEST(test_behaviour_contents)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    fill_shop(s, now);
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL);
    if (!e)
        goto out;
    struct eng_snapshot *snap = eng_snapshot_get(e);
    const struct eng_behaviour *b = snap->beh;
    CHECK_EQ_INT(b->nevents, 7);
    CHECK_EQ_INT(vt_idmap_count(b->users), 3);
    CHECK_EQ_INT(vt_idmap_count(b->items), 3); /* sofa-1, lamp-1, chair-1 */
    CHECK(b->last_event_id > 0);
    /* beh_of and cat_of invert each other by id */
    for (int32_t i = 0; i < snap->cat->nitems; i++) {
        int32_t j = snap->beh_of[i];
        const char *id = snap->cat->items[i].rec.id;
        CHECK_EQ_INT(j, vt_idmap_get(b->items, id));
        if (j >= 0)
            CHECK_EQ_INT(snap->cat_of[j], i);
    }
    int32_t sofa = snap->beh_of[vt_idmap_get(snap->cat->ids, "sofa-1")];
    int32_t lamp = snap->beh_of[vt_idmap_get(snap->cat->ids, "lamp-1")];
    int32_t chair = snap->beh_of[vt_idmap_get(snap->cat->ids, "chair-1")];
    CHECK(sofa >= 0 && lamp >= 0 && chair >= 0);
    CHECK_EQ_INT(snap->beh_of[vt_idmap_get(snap->cat->ids, "sofa-2")], -1);
    /* AR: one of sofa-1's two shoppers placed it; lamp-1's shoppers
     * (ann's view, cy's dismiss) never used AR */
    CHECK_NEAR(b->ar_rate[sofa], 0.5, 1e-6);
    CHECK_NEAR(b->ar_rate[lamp], 0.0, 1e-6);
    /* popularity: sofa-1 has two people, the others one; cy's dismiss
     * of the lamp is not an interest */
    CHECK_EQ_INT(b->pop->order[0], sofa);
    CHECK_NEAR(b->pop->score[sofa], 2, 1e-6);
    CHECK_NEAR(b->pop->score[lamp], 1, 1e-6);
    /* trending is weighted: the purchase (10) outweighs two views */
    CHECK_EQ_INT(b->trending->order[0], chair);
    CHECK(b->knn != NULL);
    CHECK(b->ials == NULL); /* too few entries */
    CHECK_EQ_INT(b->ix->nnz, 4);
    eng_snapshot_put(snap);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

/* Give a catalog part 2-d... 4-d unit vectors: item i gets axis i % 4
 * (the lamp none), as if a model "test-model" had embedded them. */
static struct eng_snapshot *with_vectors(struct vt_engine *e, uint64_t version)
{
    struct eng_catalog *c = NULL;
    struct eng_behaviour *b = NULL;
    struct vt_error err;
    if (eng_catalog_build(e, &c, &err) || eng_behaviour_build(e, &b, &err))
        return NULL;
    c->dim = 4;
    strcpy(c->model_id, "test-model");
    c->emb = vt_calloc((size_t)c->nitems * 4, sizeof(float));
    c->has_emb = vt_calloc((size_t)c->nitems, 1);
    for (int32_t i = 0; i < c->nitems; i++) {
        if (strcmp(c->items[i].rec.id, "lamp-1") == 0)
            continue;
        c->emb[(size_t)i * 4 + (size_t)(i % 4)] = 1;
        c->has_emb[i] = 1;
    }
    struct eng_snapshot *snap = NULL;
    if (eng_snapshot_new(c, b, version, &snap) != 0)
        return NULL;
    return snap;
}

TEST(test_live_session)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    fill_shop(s, now);
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL);
    if (!e)
        goto out;
    struct eng_snapshot *snap = with_vectors(e, 100);
    CHECK(snap != NULL);
    if (!snap)
        goto out;
    int32_t chair = vt_idmap_get(snap->cat->ids, "chair-1"); /* axis 0 */
    int32_t sofa = vt_idmap_get(snap->cat->ids, "sofa-1");   /* axis 2 */
    CHECK_EQ_INT(vt_idmap_get(snap->cat->ids, "sofa-2"), 3); /* axis 3 */
    CHECK_EQ_INT(chair, 0);
    CHECK_EQ_INT(sofa, 2);

    /* A new shopper: nothing known, nothing held. */
    struct eng_user_view v;
    CHECK_EQ_INT(eng_live_view(e, snap, "dee", &v), 0);
    CHECK_EQ_INT(v.known, 0);
    CHECK(v.session == NULL);
    eng_user_view_reset(&v);
    size_t users, bytes0, bytes;
    eng_live_stats(e->live, &users, &bytes0);
    CHECK_EQ_INT(users, 0);

    /* A view of the chair: the session points at the chair. */
    struct vt_event ev[3];
    int64_t half = (int64_t)(e->params.session_half_life_s * 1000);
    CHECK_EQ_INT(add_event(s, &ev[0], "dee", "chair-1", VT_EV_VIEW, 1, now - half), 0);
    eng_live_apply(e, snap, ev, 1);
    CHECK_EQ_INT(eng_live_view(e, snap, "dee", &v), 0);
    CHECK_EQ_INT(v.known, 1);
    CHECK(v.session != NULL);
    CHECK_EQ_INT(v.dim, 4);
    CHECK_STR(v.model_id, "test-model");
    if (v.session)
        CHECK_NEAR(v.session[0], 1, 1e-6);
    CHECK_EQ_INT(v.nrecent, 1);
    CHECK_STR(v.recent[0].item_id, "chair-1");
    eng_user_view_reset(&v);

    /* One half-life later a purchase of the sofa (weight 10) and a
     * dismiss of the sofa bed (weight -5): the chair's view has decayed
     * to 0.5, so v = (0.5, 0, 10, -5) before normalising. */
    CHECK_EQ_INT(add_event(s, &ev[1], "dee", "sofa-1", VT_EV_PURCHASE, 1, now), 0);
    CHECK_EQ_INT(add_event(s, &ev[2], "dee", "sofa-2", VT_EV_DISMISS, 1, now), 0);
    eng_live_apply(e, snap, ev + 1, 2);
    CHECK_EQ_INT(eng_live_view(e, snap, "dee", &v), 0);
    double norm = sqrt(0.25 + 100 + 25);
    CHECK(v.session != NULL);
    if (v.session) {
        CHECK_NEAR(v.session[0], 0.5 / norm, 1e-4);
        CHECK_NEAR(v.session[2], 10 / norm, 1e-4);
        CHECK_NEAR(v.session[3], -5 / norm, 1e-4);
    }
    CHECK_NEAR(v.session_weight, 0.5 + 10 + 5, 1e-3);
    CHECK_EQ_INT(v.npurchased, 1);
    CHECK_STR(v.purchased[0], "sofa-1");
    CHECK_EQ_INT(v.ndismissed, 1);
    CHECK_STR(v.dismissed[0], "sofa-2");
    CHECK_EQ_INT(v.nrecent, 3);
    CHECK(v.recent[2].item_id && strcmp(v.recent[2].item_id, "chair-1") == 0);
    eng_user_view_reset(&v);
    eng_live_stats(e->live, &users, &bytes);
    CHECK_EQ_INT(users, 1);
    CHECK(bytes > bytes0);

    /* The same events again (a replay) change nothing: already counted. */
    eng_live_apply(e, snap, ev, 3);
    CHECK_EQ_INT(eng_live_view(e, snap, "dee", &v), 0);
    CHECK_EQ_INT(v.nrecent, 3);
    if (v.session)
        CHECK_NEAR(v.session[2], 10 / norm, 1e-4);
    eng_user_view_reset(&v);

    /* A snapshot of another model: the session is rebuilt from the
     * recent events with its vectors (here: none, no session). */
    struct eng_snapshot *plain = eng_snapshot_get(e);
    CHECK_EQ_INT(eng_live_view(e, plain, "dee", &v), 0);
    CHECK_EQ_INT(v.known, 1);
    CHECK(v.session == NULL);
    CHECK_EQ_INT(v.nrecent, 3);
    eng_user_view_reset(&v);
    /* and back: rebuilt again, the same direction */
    CHECK_EQ_INT(eng_live_view(e, snap, "dee", &v), 0);
    CHECK(v.session != NULL);
    if (v.session)
        CHECK_NEAR(v.session[2], 10 / norm, 1e-3);
    eng_user_view_reset(&v);
    eng_snapshot_put(plain);

    /* A shopper known only to the store is loaded on first sight, with
     * their search text. */
    CHECK_EQ_INT(eng_live_view(e, snap, "bob", &v), 0);
    CHECK_EQ_INT(v.known, 1);
    CHECK_EQ_INT(v.nrecent, 3);
    CHECK_EQ_INT(v.npurchased, 1);
    CHECK(v.texts[0] == NULL); /* the stored search had no context.text */
    eng_user_view_reset(&v);
    struct vt_event t;
    CHECK_EQ_INT(add_event(s, &t, "bob", NULL, VT_EV_SEARCH, 1, now), 0);
    t.context = json_pack("{s:s}", "text", "black leather sofa");
    t.id += 1000; /* as if stored after the load */
    eng_live_apply(e, snap, &t, 1);
    vt_event_reset(&t);
    CHECK_EQ_INT(eng_live_view(e, snap, "bob", &v), 0);
    CHECK_STR(v.texts[0], "black leather sofa");
    eng_user_view_reset(&v);

    /* Forgetting removes the state; the store deleted the events. */
    eng_live_stats(e->live, &users, &bytes0);
    CHECK_EQ_INT(users, 2);
    CHECK_EQ_INT(vt_store_user_delete(s, "dee"), 0);
    vt_engine_forget_user(e, "dee");
    eng_live_stats(e->live, &users, &bytes);
    CHECK_EQ_INT(users, 1);
    CHECK(bytes < bytes0);
    CHECK_EQ_INT(eng_live_view(e, snap, "dee", &v), 0);
    CHECK_EQ_INT(v.known, 0);
    eng_user_view_reset(&v);
    for (int k = 0; k < 3; k++)
        vt_event_reset(&ev[k]);
    eng_snapshot_put(snap);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

TEST(test_swap_keeps_old_snapshot)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    fill_shop(s, now);
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL);
    if (!e)
        goto out;
    struct eng_snapshot *old = eng_snapshot_get(e);
    CHECK_EQ_INT(atomic_load(&old->refs), 2); /* the engine's and ours */
    CHECK_EQ_INT(put_item(s, "bed-1", "Double bed", NULL, "Bedroom/Beds", 0, 5, 700), 0);
    CHECK_EQ_INT(add(s, "ann", "bed-1", VT_EV_CLICK, 1, now), 0);
    json_t *rep = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_engine_retrain(e, &rep, &err), 0);
    CHECK(rep != NULL);
    CHECK(json_is_boolean(json_object_get(rep, "accepted")));
    CHECK(json_number_value(json_object_get(rep, "seconds")) >= 0);
    json_t *sz = json_object_get(rep, "snapshot");
    CHECK_EQ_INT(json_integer_value(json_object_get(sz, "items")), 6);
    CHECK_EQ_INT(json_integer_value(json_object_get(sz, "events")), 8);
    json_decref(rep);

    /* the old snapshot: ours alone now, whole and readable */
    CHECK_EQ_INT(atomic_load(&old->refs), 1);
    CHECK_EQ_INT(old->cat->nitems, 5);
    CHECK_EQ_INT(vt_idmap_get(old->cat->ids, "bed-1"), -1);
    CHECK_STR(old->cat->items[2].rec.id, "sofa-1");
    CHECK_EQ_INT(old->beh->nevents, 7);
    struct eng_snapshot *cur = eng_snapshot_get(e);
    CHECK(cur != old);
    CHECK(cur->version > old->version);
    CHECK_EQ_INT(cur->cat->nitems, 6);
    CHECK(vt_idmap_get(cur->cat->ids, "bed-1") >= 0);
    CHECK_EQ_INT(cur->beh->nevents, 8);
    eng_snapshot_put(old);
    eng_snapshot_put(cur);

    /* the report is kept for GET /v1/model */
    json_t *info = NULL;
    CHECK_EQ_INT(vt_engine_model_info(e, &info), 0);
    CHECK(json_is_object(json_object_get(json_object_get(info, "schedule"), "last_retrain")));
    json_decref(info);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

TEST(test_model_info_shape)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    vt_conf_set(conf, "rec.retrain_interval_s", "600");
    fill_shop(s, now);
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL);
    if (!e)
        goto out;
    json_t *info = NULL;
    CHECK_EQ_INT(vt_engine_model_info(e, &info), 0);
    json_t *snap = json_object_get(info, "snapshot");
    CHECK(json_integer_value(json_object_get(snap, "version")) > 0);
    json_t *cat = json_object_get(snap, "catalog");
    CHECK_EQ_INT(json_integer_value(json_object_get(cat, "items")), 5);
    CHECK_EQ_INT(json_integer_value(json_object_get(cat, "visible")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(cat, "categories")), 4);
    CHECK(json_is_null(json_object_get(cat, "ann")));
    json_t *beh = json_object_get(snap, "behaviour");
    CHECK_EQ_INT(json_integer_value(json_object_get(beh, "users")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(beh, "events")), 7);
    CHECK(json_is_string(json_object_get(beh, "built_at")));
    json_t *live = json_object_get(info, "live");
    CHECK(json_is_integer(json_object_get(live, "users")));
    CHECK(json_integer_value(json_object_get(live, "bytes")) > 0);
    json_t *sched = json_object_get(info, "schedule");
    CHECK_NEAR(json_number_value(json_object_get(sched, "interval_s")), 600, 1e-9);
    CHECK(json_is_string(json_object_get(sched, "next_retrain_at")));
    CHECK(json_is_null(json_object_get(sched, "last_retrain")));
    /* the ranker, with its features named */
    json_t *rk = json_object_get(info, "ranker");
    CHECK(json_is_object(rk));
    CHECK(json_is_object(json_object_get(rk, "meta")));
    json_decref(info);
    /* without a background thread a queued retrain cannot happen */
    CHECK_EQ_INT(vt_engine_retrain_async(e), VT_EUNAVAIL);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

TEST(test_live_eviction)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    fill_shop(s, now);
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL);
    if (!e)
        goto out;
    struct eng_snapshot *snap = eng_snapshot_get(e);
    eng_live_set_limits(e->live, 3, (size_t)1 << 30);
    /* Five stored shoppers are asked for in turn; u1 again after u3. */
    const char *who[5] = {"u1", "u2", "u3", "u4", "u5"};
    for (int k = 0; k < 5; k++)
        CHECK_EQ_INT(add(s, who[k], "sofa-1", VT_EV_VIEW, 1, now - HOUR_MS), 0);
    struct eng_user_view v;
    for (int k = 0; k < 5; k++) {
        CHECK_EQ_INT(eng_live_view(e, snap, who[k], &v), 0);
        CHECK_EQ_INT(v.known, 1);
        eng_user_view_reset(&v);
        if (k == 2) {
            CHECK_EQ_INT(eng_live_view(e, snap, "u1", &v), 0);
            eng_user_view_reset(&v);
        }
    }
    size_t users, bytes, bytes3;
    eng_live_stats(e->live, &users, &bytes3);
    CHECK_EQ_INT(users, 3);
    /* Which stayed: an event not from the store (id 0) reaches only the
     * shoppers in memory; the others are read from the store again. */
    for (int k = 0; k < 5; k++) {
        struct vt_event ev;
        vt_event_init(&ev);
        ev.user_id = vt_strdup(who[k]);
        ev.item_id = vt_strdup("lamp-1");
        ev.type = VT_EV_CLICK;
        ev.value = 1;
        ev.ts_ms = now;
        eng_live_apply(e, snap, &ev, 1);
        vt_event_reset(&ev);
    }
    eng_live_stats(e->live, &users, &bytes);
    CHECK_EQ_INT(users, 3); /* events of absent shoppers load nothing */
    eng_live_set_limits(e->live, 100, (size_t)1 << 30);
    const int kept[5] = {1, 0, 0, 1, 1}; /* u2, u3 least recently seen */
    for (int k = 0; k < 5; k++) {
        CHECK_EQ_INT(eng_live_view(e, snap, who[k], &v), 0);
        CHECK_EQ_INT(v.known, 1);
        CHECK_EQ_INT(v.nrecent, kept[k] ? 2 : 1);
        eng_user_view_reset(&v);
    }
    eng_live_set_limits(e->live, 3, (size_t)1 << 30);
    /* A byte limit below what three users hold leaves two. */
    eng_live_set_limits(e->live, 100, bytes3 - 1);
    eng_live_stats(e->live, &users, &bytes);
    CHECK_EQ_INT(users, 2);
    CHECK(bytes <= bytes3 - 1);
    /* A stored shopper evicted comes back from the store. */
    CHECK_EQ_INT(eng_live_view(e, snap, "ann", &v), 0);
    CHECK_EQ_INT(v.known, 1);
    CHECK_EQ_INT(v.nrecent, 3);
    eng_user_view_reset(&v);
    eng_snapshot_put(snap);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

/* The background thread rebuilds the catalog after a change and runs a
 * queued retrain. */
TEST(test_thread_rebuilds)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    vt_conf_set(conf, "rec.rebuild_debounce_s", "0");
    fill_shop(s, now);
    struct vt_engine *e = engine_over(conf, s, 1);
    CHECK(e != NULL);
    if (!e)
        goto out;
    struct eng_snapshot *first = eng_snapshot_get(e);
    CHECK_EQ_INT(put_item(s, "bed-1", "Double bed", NULL, "Bedroom/Beds", 0, 5, 700), 0);
    vt_engine_on_catalog_changed(e);
    int found = 0;
    for (int k = 0; k < 100 && !found; k++) { /* up to 5 s; about 1 s expected */
        usleep(50 * 1000);
        struct eng_snapshot *cur = eng_snapshot_get(e);
        found = vt_idmap_get(cur->cat->ids, "bed-1") >= 0;
        if (found) {
            CHECK(cur->beh == first->beh); /* a catalog rebuild keeps behaviour */
            CHECK(cur->version > first->version);
            CHECK_EQ_INT(cur->beh_of[vt_idmap_get(cur->cat->ids, "bed-1")], -1);
            int32_t sofa = vt_idmap_get(cur->cat->ids, "sofa-1");
            CHECK_EQ_INT(cur->beh_of[sofa], vt_idmap_get(cur->beh->items, "sofa-1"));
        }
        eng_snapshot_put(cur);
    }
    CHECK(found);
    eng_snapshot_put(first);

    CHECK_EQ_INT(vt_engine_retrain_async(e), 0);
    int done = 0;
    for (int k = 0; k < 100 && !done; k++) {
        usleep(50 * 1000);
        pthread_mutex_lock(&e->work_lock);
        done = e->last_retrain != NULL;
        pthread_mutex_unlock(&e->work_lock);
    }
    CHECK(done);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

struct reader {
    struct vt_engine *e;
    atomic_int *stop;
    long reads, during_retrain, bad;
    long lock_free, lock_busy; /* snap_lock found free / held, during a retrain */
};

/* A request's view of the engine: take the snapshot, read every item
 * through both maps, drop it. */
static void *reader_main(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(r->stop)) {
        pthread_mutex_lock(&r->e->work_lock);
        int retraining = r->e->retraining;
        pthread_mutex_unlock(&r->e->work_lock);
        if (retraining) {
            /* Only pointer copies happen under snap_lock: a retrain's
             * build never holds it. */
            if (pthread_mutex_trylock(&r->e->snap_lock) == 0) {
                pthread_mutex_unlock(&r->e->snap_lock);
                r->lock_free++;
            } else {
                r->lock_busy++;
                sched_yield();
                continue; /* sample again rather than wait */
            }
        }
        struct eng_snapshot *s = eng_snapshot_get(r->e);
        for (int32_t i = 0; i < s->cat->nitems; i++) {
            if (vt_idmap_get(s->cat->ids, s->cat->items[i].rec.id) != i)
                r->bad++;
            int32_t j = s->beh_of[i];
            if (j >= 0 && s->cat_of[j] != i)
                r->bad++;
        }
        eng_snapshot_put(s);
        pthread_mutex_lock(&r->e->work_lock);
        /* the retrain was running before and after this read */
        if (retraining && r->e->retraining)
            r->during_retrain++;
        pthread_mutex_unlock(&r->e->work_lock);
        r->reads++;
    }
    return NULL;
}

/* Requests keep reading consistent snapshots while retrains build and
 * swap new ones, and are answered during a retrain, not after it. */
TEST(test_reads_during_retrain)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    /* enough events for iALS, so a retrain takes a while */
    enum { ITEMS = 300, USERS = 200 };
    struct vt_item *items = vt_calloc(ITEMS, sizeof *items);
    for (int i = 0; i < ITEMS; i++) {
        char id[32];
        snprintf(id, sizeof id, "it-%04d", i);
        vt_item_init(&items[i]);
        items[i].id = vt_strdup(id);
        items[i].title = json_pack("{s:s}", "en", id);
        items[i].stock = -1;
    }
    size_t bad;
    struct vt_error err;
    CHECK_EQ_INT(vt_store_items_put(s, items, ITEMS, VT_PUT_UPSERT, &bad, &err), 0);
    vt_items_free(items, ITEMS);
    struct vt_event *evs = vt_calloc(USERS * 20, sizeof *evs);
    size_t n = 0;
    uint64_t x = 7;
    for (int u = 0; u < USERS; u++) {
        char uid[32], iid[32];
        snprintf(uid, sizeof uid, "user-%d", u);
        for (int k = 0; k < 20; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            snprintf(iid, sizeof iid, "it-%04d", (int)((x >> 33) % ITEMS));
            vt_event_init(&evs[n]);
            evs[n].user_id = vt_strdup(uid);
            evs[n].item_id = vt_strdup(iid);
            evs[n].type = VT_EV_VIEW;
            evs[n].value = 1;
            evs[n].ts_ms = now - (int64_t)(x >> 40) % (30 * 24 * HOUR_MS);
            n++;
        }
    }
    CHECK_EQ_INT(vt_store_events_append(s, evs, n, &bad, &err), 0);
    vt_events_free(evs, n);
    vt_conf_set(conf, "rec.ials_iterations", "15");
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL);
    if (!e)
        goto out;
    atomic_int stop;
    atomic_init(&stop, 0);
    struct reader r[3];
    pthread_t th[3];
    for (int k = 0; k < 3; k++) {
        r[k] = (struct reader){.e = e, .stop = &stop};
        pthread_create(&th[k], NULL, reader_main, &r[k]);
    }
    uint64_t v0 = e->snap->version;
    for (int k = 0; k < 3; k++) {
        json_t *rep = NULL;
        CHECK_EQ_INT(vt_engine_retrain(e, &rep, &err), 0);
        CHECK(json_object_get(json_object_get(rep, "snapshot"), "ials") == json_true());
        json_decref(rep);
    }
    atomic_store(&stop, 1);
    long reads = 0, during = 0, badreads = 0, lfree = 0, lbusy = 0;
    for (int k = 0; k < 3; k++) {
        pthread_join(th[k], NULL);
        reads += r[k].reads, during += r[k].during_retrain, badreads += r[k].bad;
        lfree += r[k].lock_free, lbusy += r[k].lock_busy;
    }
    CHECK(e->snap->version > v0);
    CHECK(reads > 0);
    CHECK(during > 0);
    CHECK_EQ_INT(badreads, 0);
    /* Held by a build, the lock would be found busy about every time;
     * held only for pointer copies (by the other readers), rarely. */
    CHECK(lfree + lbusy >= 20);
    CHECK(lbusy * 10 < lfree + lbusy);
    if (lbusy * 10 >= lfree + lbusy)
        fprintf(stderr, "  snap_lock busy %ld of %ld times during retrains\n", lbusy,
                lfree + lbusy);
    /* one retrain at a time */
    pthread_mutex_lock(&e->work_lock);
    e->retraining = 1; /* as if another were running */
    pthread_mutex_unlock(&e->work_lock);
    CHECK_EQ_INT(vt_engine_retrain(e, NULL, &err), VT_ECONFLICT);
    pthread_mutex_lock(&e->work_lock);
    e->retraining = 0;
    pthread_mutex_unlock(&e->work_lock);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

static double ranker_weight(struct vt_engine *e, const char *group, const char *name)
{
    json_t *j = vt_ranker_to_json(e->ranker);
    double w = json_number_value(
        json_object_get(json_object_get(json_object_get(j, group), "weights"), name));
    json_decref(j);
    return w;
}

/* The ranker's online learning survives a restart; a saved ranker that
 * is not valid is replaced by the prior. */
TEST(test_ranker_saved_and_loaded)
{
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    fill_shop(s, now);
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL && e->ranker != NULL);
    if (!e || !e->ranker)
        goto out;
    double prior = ranker_weight(e, "ar", "ar_self");
    /* online steps: the shopper engaged whenever ar_self was high */
    float f[ENG_NFEAT] = {0};
    f[ENG_Y_AR_SELF] = 1;
    struct vt_rank_example ex = {.f = f, .label = 1, .weight = 1};
    pthread_rwlock_wrlock(&e->rank_lock);
    for (int k = 0; k < 50; k++)
        vt_ranker_sgd(e->ranker, &ex, 0.1f);
    pthread_rwlock_unlock(&e->rank_lock);
    double learnt = ranker_weight(e, "ar", "ar_self");
    CHECK(learnt > prior + 1e-3);
    vt_engine_free(e); /* saves it */
    e = engine_over(conf, s, 0);
    CHECK(e != NULL && e->ranker != NULL);
    if (!e || !e->ranker)
        goto out;
    CHECK_NEAR(ranker_weight(e, "ar", "ar_self"), learnt, 1e-6);
    CHECK_EQ_INT(vt_ranker_meta_const(e->ranker)->online_updates, 50);
    vt_engine_free(e);
    /* a damaged saved model: the engine starts from the prior */
    CHECK_EQ_INT(vt_store_meta_put(s, "ranker", "{\"form\": 1", 11), 0);
    e = engine_over(conf, s, 0);
    CHECK(e != NULL && e->ranker != NULL);
    if (e && e->ranker)
        CHECK_NEAR(ranker_weight(e, "ar", "ar_self"), prior, 1e-9);
out:
    vt_engine_free(e);
    vt_conf_free(conf);
    vt_store_close(s);
}

#define MODEL "data/models/use-lite"
#define TEXT_DIR "data/text"

/* Store an item's vectors of one model: n languages at once (a put
 * replaces the item's whole set for that model). */
static int put_vecs(struct vt_store *s, const char *item, const char *model,
                    const char *const *langs, float *const *v, size_t n, uint32_t dim)
{
    struct vt_embedding e[4];
    memset(e, 0, sizeof e);
    for (size_t k = 0; k < n; k++) {
        snprintf(e[k].item_id, sizeof e[k].item_id, "%s", item);
        snprintf(e[k].lang, sizeof e[k].lang, "%s", langs[k]);
        snprintf(e[k].model_id, sizeof e[k].model_id, "%s", model);
        e[k].dim = dim;
        e[k].vector = v[k];
        e[k].text_hash = 1;
    }
    size_t bad;
    struct vt_error err;
    return vt_store_embeddings_put(s, e, n, &bad, &err);
}

/* With a text model: the catalog reads the serving model's vectors from
 * the store (an item's languages averaged, then normalised), indexes
 * them, ignores another model's, and shopper text is embedded only with
 * the model the catalog was built with. */
TEST(test_catalog_embeddings)
{
    struct stat st;
    CHECK(stat(MODEL "/model.json", &st) == 0); /* scripts/bootstrap fetches it */
    int64_t now = vt_time_now_ms();
    struct vt_store *s = fresh_store();
    struct vt_conf *conf = test_conf();
    struct vt_textenc_config tc = {.model = MODEL, .text_dir = TEXT_DIR, .bridge = 1};
    struct vt_textenc *te = NULL;
    struct vt_engine *e = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_textenc_new(&tc, &te), 0);
    struct vt_encoder_info info;
    if (!te || vt_textenc_info(te, &info, &err) != 0) {
        fprintf(stderr, "  model: %s\n", err.message);
        CHECK(0);
        goto out;
    }
    uint32_t dim = (uint32_t)info.dim;
    fill_shop(s, now);
    float *a = vt_calloc(dim, sizeof *a), *b = vt_calloc(dim, sizeof *b);
    a[0] = 1, b[1] = 1;
    const char *const both[2] = {"en", "zh"}, *const en[1] = {"en"};
    float *const ab[2] = {a, b};
    CHECK_EQ_INT(put_vecs(s, "chair-1", info.model_id, both, ab, 2, dim), 0);
    a[0] = 3; /* not unit length as stored */
    CHECK_EQ_INT(put_vecs(s, "sofa-1", info.model_id, en, &a, 1, dim), 0);
    CHECK_EQ_INT(put_vecs(s, "sofa-2", "other-model@1", en, &b, 1, dim), 0);
    vt_free(a), vt_free(b);

    struct vt_engine_options o = {.no_thread = 1};
    CHECK_EQ_INT(vt_engine_new(conf, s, te, &o, &e, &err), 0);
    if (!e)
        goto out;
    struct eng_snapshot *snap = eng_snapshot_get(e);
    const struct eng_catalog *c = snap->cat;
    CHECK_EQ_INT(c->dim, dim);
    CHECK_STR(c->model_id, info.model_id);
    int32_t chair = vt_idmap_get(c->ids, "chair-1"), sofa = vt_idmap_get(c->ids, "sofa-1");
    int32_t sofa2 = vt_idmap_get(c->ids, "sofa-2");
    CHECK_EQ_INT(c->has_emb[chair], 1);
    CHECK_EQ_INT(c->has_emb[sofa], 1);
    CHECK_EQ_INT(c->has_emb[sofa2], 0); /* another model's vector */
    CHECK_NEAR(c->emb[(size_t)chair * dim + 0], 1 / sqrt(2), 1e-6);
    CHECK_NEAR(c->emb[(size_t)chair * dim + 1], 1 / sqrt(2), 1e-6);
    CHECK_NEAR(c->emb[(size_t)sofa * dim + 0], 1, 1e-6);
    CHECK_NEAR(c->emb[(size_t)sofa2 * dim + 1], 0, 1e-9);
    CHECK(c->ann != NULL);
    if (c->ann) {
        CHECK_STR(vt_index_kind_name(c->ann), "flat");
        CHECK_EQ_INT(vt_index_size(c->ann), 2);
        int64_t lab[4];
        float sc[4];
        size_t n = 0;
        CHECK_EQ_INT(vt_index_search(c->ann, c->emb + (size_t)sofa * dim, 4, NULL, NULL, lab,
                                     sc, &n),
                     0);
        CHECK_EQ_INT(n, 2);
        CHECK_EQ_INT(lab[0], sofa); /* labels are catalog indexes */
        CHECK_EQ_INT(lab[1], chair);
        CHECK_NEAR(sc[1], 1 / sqrt(2), 1e-5);
    }

    /* Shopper text: a unit vector of the catalog's model. */
    float *q = vt_calloc(dim, sizeof *q);
    CHECK_EQ_INT(eng_embed_text(e, snap, "a black leather sofa", q, &err), 0);
    double ss = 0;
    for (uint32_t d = 0; d < dim; d++)
        ss += (double)q[d] * q[d];
    CHECK_NEAR(ss, 1, 1e-5);
    /* A catalog built with another model: no query vector. */
    struct eng_snapshot other = *snap;
    struct eng_catalog oc = *snap->cat;
    snprintf(oc.model_id, sizeof oc.model_id, "other-model@1");
    other.cat = &oc;
    vt_error_clear(&err);
    CHECK_EQ_INT(eng_embed_text(e, &other, "sofa", q, &err), VT_EUNAVAIL);
    CHECK(strstr(err.message, "other-model@1") != NULL);
    vt_free(q);

    /* The session of a shopper who viewed the chair points at it. */
    struct vt_event ev;
    CHECK_EQ_INT(add_event(s, &ev, "eve", "chair-1", VT_EV_VIEW, 1, now), 0);
    vt_engine_on_events(e, &ev, 1);
    vt_event_reset(&ev);
    struct eng_user_view v;
    CHECK_EQ_INT(eng_live_view(e, snap, "eve", &v), 0);
    CHECK(v.session != NULL);
    if (v.session) {
        CHECK_NEAR(v.session[0], 1 / sqrt(2), 1e-5);
        CHECK_NEAR(v.session[1], 1 / sqrt(2), 1e-5);
        CHECK_STR(v.model_id, info.model_id);
    }
    eng_user_view_reset(&v);
    eng_snapshot_put(snap);
out:
    vt_engine_free(e);
    vt_textenc_free(te);
    vt_conf_free(conf);
    vt_store_close(s);
}

/* The CF space has its own index from ENG_ALS_ANN_FROM items: its search
 * by a shopper's factors finds what scoring every item finds. */
TEST(test_als_index)
{
    struct vt_store *s = fresh_store();
    CHECK(s != NULL);
    if (!s)
        return;
    int32_t nitems = 5700; /* tastes cover 5,600: above ENG_ALS_ANN_FROM */
    struct vt_item *items = vt_calloc((size_t)nitems, sizeof *items);
    CHECK(items != NULL);
    for (int32_t i = 0; items && i < nitems; i++) {
        char id[32], title[48];
        vt_item_init(&items[i]);
        snprintf(id, sizeof id, "p%05d", i);
        snprintf(title, sizeof title, "Piece %d", i);
        items[i].id = vt_strdup(id);
        items[i].title = json_pack("{s:s}", "en", title);
    }
    size_t bad;
    struct vt_error err;
    CHECK_EQ_INT(vt_store_items_put(s, items, (size_t)nitems, VT_PUT_UPSERT, &bad, &err), 0);
    vt_items_free(items, (size_t)nitems);
    /* 400 shoppers in 8 tastes, each taste a block of 700 items, 40
     * clicks each: about 94% of a block is touched, over 5,000 items. */
    int64_t now = vt_time_now_ms();
    uint64_t x = 12345;
    struct vt_event evs[500];
    size_t nev = 0;
    for (int u = 0; u < 400; u++) {
        for (int k = 0; k < 40; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            char uid[16], iid[16];
            snprintf(uid, sizeof uid, "u%d", u);
            snprintf(iid, sizeof iid, "p%05d", (int)((u % 8) * 700 + (x >> 20) % 700));
            struct vt_event *ev = &evs[nev++];
            vt_event_init(ev);
            ev->user_id = vt_strdup(uid);
            ev->item_id = vt_strdup(iid);
            ev->type = VT_EV_CLICK;
            ev->value = 1;
            ev->ts_ms = now - (int64_t)(x % 1000) * 1000;
            if (nev == 500) {
                CHECK_EQ_INT(vt_store_events_append(s, evs, nev, &bad, &err), 0);
                for (size_t j = 0; j < nev; j++)
                    vt_event_reset(&evs[j]);
                nev = 0;
            }
        }
    }
    struct vt_conf *conf = test_conf();
    vt_conf_set(conf, "rec.ials_factors", "16");
    vt_conf_set(conf, "rec.ials_iterations", "4");
    struct vt_engine *e = engine_over(conf, s, 0);
    CHECK(e != NULL);
    if (e) {
        struct eng_snapshot *sn = eng_snapshot_get(e);
        const struct eng_behaviour *b = sn->beh;
        CHECK(b->ials != NULL);
        CHECK(b->als_ann != NULL);
        if (b->ials && b->als_ann) {
            const struct vt_ials *m = b->ials;
            float *sc = vt_malloc((size_t)m->nitems * sizeof *sc);
            int32_t top[50];
            int64_t got[50];
            size_t ntop = 0, ngot = 0, hits = 0, want = 0;
            for (int32_t u = 0; sc && u < m->nusers; u += 20) {
                const float *xu = m->user_f + (size_t)u * (size_t)m->factors;
                vt_ials_score(m, xu, sc);
                CHECK_EQ_INT(vt_rank_top(sc, m->nitems, NULL, 0, 50, top, &ntop), 0);
                CHECK_EQ_INT(eng_als_search(b, xu, 50, got, &ngot), 0);
                /* Items scoring as well as the 50th best count as found:
                 * a taste's items score nearly alike, so which of them
                 * make the exact top 50 is a matter of the last digit. */
                float kth = ntop ? sc[top[ntop - 1]] : 0;
                for (size_t c = 0; c < ngot; c++)
                    hits += sc[got[c]] >= kth - 1e-4f * fabsf(kth);
                want += ntop;
            }
            vt_free(sc);
            CHECK(want > 0);
            if (want)
                fprintf(stderr, "  iALS index recall@50: %.3f over %zu\n",
                        (double)hits / (double)want, want / 50);
            CHECK(want > 0 && (double)hits / (double)want >= 0.95);
        }
        eng_snapshot_put(sn);
        vt_engine_free(e);
    }
    vt_conf_free(conf);
    vt_store_close(s);
}

int main(void)
{
    vt_alloc_install_json();
    vt_log_set_level(VT_LOG_WARN);
    RUN(test_catalog_contents);
    RUN(test_behaviour_contents);
    RUN(test_live_session);
    RUN(test_swap_keeps_old_snapshot);
    RUN(test_model_info_shape);
    RUN(test_live_eviction);
    RUN(test_thread_rebuilds);
    RUN(test_reads_during_retrain);
    RUN(test_ranker_saved_and_loaded);
    RUN(test_catalog_embeddings);
    RUN(test_als_index);
    rm_db(DB);
    return TEST_SUMMARY();
}
