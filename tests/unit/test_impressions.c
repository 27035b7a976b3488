/* test_impressions.c - impressions in the store (append, scan, prune,
 * count, user deletion, the migration from schema version 2) and the
 * engine's impression log (rec/implog.c): the flush to the store, online
 * steps on engagement, dismissal and expiry, forgetting a user.
 * Databases live under build/ and are removed before each test. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "rec/engine_int.h"
#include "store/store.h"
#include "test.h"

static void rm_db(const char *path)
{
    char p[512];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static struct vt_store *fresh(const char *path)
{
    struct vt_store *s = NULL;
    struct vt_error err;
    mkdir("build", 0755);
    rm_db(path);
    if (vt_store_open(path, NULL, &s, &err) != 0)
        fprintf(stderr, "  open %s: %s\n", path, err.message);
    return s;
}

static void make_imp(struct vt_impression *m, const char *rec, const char *user,
                     const char *item, int pos, int64_t ts, uint32_t nf)
{
    memset(m, 0, sizeof *m);
    snprintf(m->rec_id, sizeof m->rec_id, "%s", rec);
    snprintf(m->user_id, sizeof m->user_id, "%s", user);
    snprintf(m->item_id, sizeof m->item_id, "%s", item);
    snprintf(m->surface, sizeof m->surface, "search");
    m->position = pos;
    m->nfeatures = nf;
    for (uint32_t k = 0; k < nf; k++)
        m->features[k] = (float)pos - 0.125f * (float)k;
    m->ts_ms = ts;
}

static int64_t count(struct vt_store *s)
{
    int64_t n = -1;
    CHECK_EQ_INT(vt_store_impressions_count(s, &n), 0);
    return n;
}

TEST(append_scan_prune_count)
{
    const char *path = "build/test_imp_basic.db";
    struct vt_store *s = fresh(path);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(vt_store_schema_version(s) >= 3);
    CHECK_EQ_INT(count(s), 0);
    struct vt_impression in[7];
    size_t bad = 99;
    struct vt_error err;
    for (int i = 0; i < 7; i++)
        make_imp(&in[i], "r00000000000000ab", i < 4 ? "ana" : "ben", "sofa-1", i,
                 1000 * (i + 1), i == 6 ? 0 : (uint32_t)(i * 5 + 2));
    in[3].features[0] = -0.0f;
    in[3].features[1] = 3.4028235e38f;
    in[3].features[2] = 1e-45f; /* the smallest subnormal survives */
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 7, &bad, &err), 0);
    for (int i = 1; i < 7; i++)
        CHECK(in[i].id > in[i - 1].id);
    CHECK_EQ_INT(count(s), 7);

    /* in pages, ascending, exactly as written */
    struct vt_impression *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_impressions_scan(s, 0, 3, &v, &n), 0);
    CHECK_EQ_INT(n, 3);
    int64_t after = n ? v[n - 1].id : 0;
    vt_free(v);
    CHECK_EQ_INT(vt_store_impressions_scan(s, after, 100, &v, &n), 0);
    CHECK_EQ_INT(n, 4);
    for (size_t i = 0; i < n; i++) {
        const struct vt_impression *a = &v[i], *b = &in[3 + i];
        CHECK_EQ_INT(a->id, b->id);
        CHECK_STR(a->rec_id, b->rec_id);
        CHECK_STR(a->user_id, b->user_id);
        CHECK_STR(a->item_id, b->item_id);
        CHECK_STR(a->surface, "search");
        CHECK_EQ_INT(a->position, b->position);
        CHECK_EQ_INT(a->ts_ms, b->ts_ms);
        CHECK_EQ_INT(a->nfeatures, b->nfeatures);
        CHECK(memcmp(a->features, b->features, b->nfeatures * sizeof(float)) == 0);
    }
    vt_free(v);
    CHECK_EQ_INT(vt_store_impressions_scan(s, in[6].id, 100, &v, &n), 0);
    CHECK_EQ_INT(n, 0);
    vt_free(v);

    /* prune: strictly older than the cut */
    int64_t deleted = -1;
    CHECK_EQ_INT(vt_store_impressions_prune(s, 3000, &deleted), 0);
    CHECK_EQ_INT(deleted, 2);
    CHECK_EQ_INT(count(s), 5);
    CHECK_EQ_INT(vt_store_impressions_scan(s, 0, 100, &v, &n), 0);
    CHECK(n == 5 && v[0].ts_ms == 3000);
    vt_free(v);

    /* ids keep growing after the newest rows went */
    CHECK_EQ_INT(vt_store_impressions_prune(s, 1000000, &deleted), 0);
    CHECK_EQ_INT(deleted, 5);
    CHECK_EQ_INT(count(s), 0);
    struct vt_impression one;
    make_imp(&one, "r1", "ana", "lamp", 0, 5, 3);
    CHECK_EQ_INT(vt_store_impressions_append(s, &one, 1, &bad, &err), 0);
    CHECK(one.id > in[6].id);
    vt_store_close(s);

    /* they survive a reopen */
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), 0);
    if (s) {
        CHECK_EQ_INT(count(s), 1);
        vt_store_close(s);
    }
    rm_db(path);
}

/* Bad impressions are refused whole, naming the index and field. */
TEST(append_refuses_bad_records)
{
    const char *path = "build/test_imp_bad.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_impression in[3];
    struct vt_error err;
    for (int i = 0; i < 3; i++)
        make_imp(&in[i], "r1", "ana", "sofa", i, 100, 4);
    size_t bad;
    /* each spoils in[1] one way */
    in[1].rec_id[0] = '\0';
    bad = 99;
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 3, &bad, &err), VT_EINVAL);
    CHECK_EQ_INT(bad, 1);
    CHECK_STR(err.field, "rec_id");
    make_imp(&in[1], "r1", "ana", "sofa", 1, 100, 4);
    memset(in[1].user_id, 'u', sizeof in[1].user_id); /* no terminator */
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 3, &bad, &err), VT_EINVAL);
    CHECK_STR(err.field, "user_id");
    make_imp(&in[1], "r1", "ana", "sofa", 1, 100, 4);
    in[1].nfeatures = VT_IMPRESSION_MAX_FEATURES + 1;
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 3, &bad, &err), VT_EINVAL);
    CHECK_STR(err.field, "nfeatures");
    make_imp(&in[1], "r1", "ana", "sofa", 1, 100, 4);
    in[1].position = -1;
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 3, &bad, &err), VT_EINVAL);
    CHECK_STR(err.field, "position");
    make_imp(&in[1], "r1", "ana", "sofa", 1, 100, 4);
    in[1].surface[0] = '\0';
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 3, &bad, &err), VT_EINVAL);
    CHECK_STR(err.field, "surface");
    CHECK_EQ_INT(count(s), 0); /* nothing of a refused batch */
    vt_store_close(s);
    rm_db(path);
}

TEST(user_delete_removes_their_impressions)
{
    const char *path = "build/test_imp_user.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_user u = {0};
    u.id = "ana";
    CHECK_EQ_INT(vt_store_user_put(s, &u), 0);
    u.id = "ben";
    CHECK_EQ_INT(vt_store_user_put(s, &u), 0);
    struct vt_impression in[6];
    size_t bad;
    struct vt_error err;
    for (int i = 0; i < 6; i++)
        make_imp(&in[i], "r2", i % 2 ? "ben" : "ana", "chair", i, 100 + i, 2);
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 6, &bad, &err), 0);
    CHECK_EQ_INT(vt_store_user_delete(s, "ana"), 0);
    CHECK_EQ_INT(count(s), 3);
    CHECK_EQ_INT(vt_store_user_delete(s, "ana"), VT_ENOTFOUND); /* nothing left of ana */
    /* a shopper who was only shown lists (no event, no profile) is erased too */
    make_imp(&in[0], "r3", "cy", "chair", 0, 200, 2);
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 1, &bad, &err), 0);
    CHECK_EQ_INT(count(s), 4);
    CHECK_EQ_INT(vt_store_user_delete(s, "cy"), 0);
    CHECK_EQ_INT(count(s), 3);
    struct vt_impression *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_impressions_scan(s, 0, 100, &v, &n), 0);
    CHECK_EQ_INT(n, 3);
    for (size_t i = 0; i < n; i++)
        CHECK_STR(v[i].user_id, "ben");
    vt_free(v);
    vt_store_close(s);
    rm_db(path);
}

/* A database of schema version 2 (before impressions) migrates to 3 and
 * keeps what it had. */
TEST(migration_from_version_2)
{
    const char *path = "build/test_imp_mig.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_user u = {0};
    u.id = "old-user";
    CHECK_EQ_INT(vt_store_user_put(s, &u), 0);
    vt_store_close(s);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "DROP TABLE impressions; DELETE FROM counts WHERE name = "
                              "'impressions'; PRAGMA user_version = 2;", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);

    struct vt_store_options ro = {0};
    ro.read_only = 1;
    struct vt_error err;
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, &ro, &s, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "migrate") != NULL);
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), 0);
    if (!s)
        return;
    CHECK_EQ_INT(vt_store_schema_version(s), 3);
    struct vt_user got;
    CHECK_EQ_INT(vt_store_user_get(s, "old-user", &got), 0);
    vt_user_reset(&got);
    CHECK_EQ_INT(count(s), 0);
    struct vt_impression m;
    size_t bad;
    make_imp(&m, "r3", "old-user", "desk", 0, 1, 15);
    CHECK_EQ_INT(vt_store_impressions_append(s, &m, 1, &bad, &err), 0);
    CHECK_EQ_INT(count(s), 1);
    vt_store_close(s);
    rm_db(path);
}

/* ---- the impression log (implog.c) ------------------------------------------ */

#define NITEMS 4

struct fixture {
    struct vt_engine e;
    struct eng_catalog cat;
    struct eng_item items[NITEMS];
    struct eng_snapshot snap;
    struct eng_cand list[NITEMS];
};

static void fixture_init(struct fixture *x, struct vt_store *s, double window_s)
{
    static const char *const ids[NITEMS] = {"sofa", "lamp", "rug", "desk"};
    memset(x, 0, sizeof *x);
    x->e.store = s;
    x->e.params.online_lr = 0.2;
    x->e.params.label_window_s = window_s;
    pthread_rwlock_init(&x->e.rank_lock, NULL);
    CHECK_EQ_INT(vt_ranker_new(eng_x_names, ENG_NX, eng_y_names, ENG_NY, &x->e.ranker), 0);
    CHECK_EQ_INT(eng_implog_new(&x->e.implog), 0);
    for (int i = 0; i < NITEMS; i++) {
        x->items[i].rec.id = (char *)ids[i];
        x->list[i].item = i;
        for (int k = 0; k < ENG_NFEAT; k++)
            x->list[i].f[k] = 0.1f * (float)(i + 1) + 0.01f * (float)k;
    }
    x->cat.nitems = NITEMS;
    x->cat.items = x->items;
    x->snap.cat = &x->cat;
}

static void fixture_reset(struct fixture *x)
{
    eng_implog_free(x->e.implog);
    vt_ranker_free(x->e.ranker);
    pthread_rwlock_destroy(&x->e.rank_lock);
}

static void event(struct vt_event *ev, const char *user, const char *item, int type, int64_t ts)
{
    memset(ev, 0, sizeof *ev);
    ev->user_id = (char *)user;
    ev->item_id = (char *)item;
    ev->type = type;
    ev->ts_ms = ts;
}

static uint64_t updates(struct fixture *x)
{
    return vt_ranker_meta_const(x->e.ranker)->online_updates;
}

TEST(implog_labels_flushes_and_forgets)
{
    const char *path = "build/test_imp_log.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct fixture x;
    fixture_init(&x, s, 1800);
    int64_t now = vt_time_now_ms();
    eng_implog_add(&x.e, "r00000000000000aa", "ana", "recommend", &x.snap, x.list, NITEMS);
    eng_implog_add(&x.e, "r00000000000000bb", "ben", "search", &x.snap, x.list, 2);
    /* an anonymous visitor's list is not logged */
    eng_implog_add(&x.e, "r00000000000000cc", NULL, "recommend", &x.snap, x.list, NITEMS);

    /* a click on what ana was shown: one positive step, p of that
     * candidate rises */
    double p0 = vt_ranker_score(x.e.ranker, x.list[1].f, NULL, NULL);
    struct vt_event evs[4];
    event(&evs[0], "ana", "lamp", VT_EV_CLICK, now + 1000);
    event(&evs[1], "ana", "lamp", VT_EV_ADD_TO_CART, now + 2000); /* already labelled */
    event(&evs[2], "cat", "lamp", VT_EV_CLICK, now + 1000);       /* never shown to cat */
    event(&evs[3], "ana", "sofa", VT_EV_VIEW, now + 1000);        /* not an engagement */
    eng_implog_on_events(&x.e, evs, 4);
    CHECK_EQ_INT(updates(&x), 1);
    CHECK(vt_ranker_score(x.e.ranker, x.list[1].f, NULL, NULL) > p0);

    /* an AR placement of ben's rug: rug was not in ben's list of 2 */
    event(&evs[0], "ben", "rug", VT_EV_AR_PLACE, now + 1000);
    eng_implog_on_events(&x.e, evs, 1);
    CHECK_EQ_INT(updates(&x), 1);
    /* long after the window: no label */
    event(&evs[0], "ben", "lamp", VT_EV_TRYON, now + 3600 * 1000);
    eng_implog_on_events(&x.e, evs, 1);
    CHECK_EQ_INT(updates(&x), 1);
    /* a dismiss: a negative step at full weight */
    double pd = vt_ranker_score(x.e.ranker, x.list[0].f, NULL, NULL);
    event(&evs[0], "ben", "sofa", VT_EV_DISMISS, now + 1000);
    eng_implog_on_events(&x.e, evs, 1);
    CHECK_EQ_INT(updates(&x), 2);
    CHECK(vt_ranker_score(x.e.ranker, x.list[0].f, NULL, NULL) < pd);

    /* ben's data go before the flush */
    eng_implog_forget(x.e.implog, "ben");
    event(&evs[0], "ben", "lamp", VT_EV_CLICK, now + 1000);
    eng_implog_on_events(&x.e, evs, 1);
    CHECK_EQ_INT(updates(&x), 2);

    eng_implog_flush(&x.e);
    CHECK_EQ_INT(count(s), NITEMS);
    struct vt_impression *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_impressions_scan(s, 0, 100, &v, &n), 0);
    CHECK_EQ_INT(n, NITEMS);
    for (size_t i = 0; i < n; i++) {
        CHECK_STR(v[i].user_id, "ana");
        CHECK_STR(v[i].rec_id, "r00000000000000aa");
        CHECK_STR(v[i].surface, "recommend");
        CHECK_STR(v[i].item_id, x.items[i].rec.id);
        CHECK_EQ_INT(v[i].position, (int)i);
        CHECK_EQ_INT(v[i].nfeatures, ENG_NFEAT);
        CHECK(memcmp(v[i].features, x.list[i].f, sizeof x.list[i].f) == 0);
        CHECK(v[i].ts_ms >= now && v[i].ts_ms <= vt_time_now_ms());
    }
    vt_free(v);
    /* a second flush writes nothing more, and nothing expired yet */
    eng_implog_flush(&x.e);
    CHECK_EQ_INT(count(s), NITEMS);
    CHECK_EQ_INT(updates(&x), 2);
    fixture_reset(&x);
    vt_store_close(s);
    rm_db(path);
}

/* Impressions that saw no engagement within the window become negative
 * steps when they expire, each once. */
TEST(implog_expiry_is_a_light_negative)
{
    const char *path = "build/test_imp_expire.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct fixture x;
    fixture_init(&x, s, 0.05); /* a 50 ms window */
    struct vt_ranker *before = NULL;
    CHECK_EQ_INT(vt_ranker_copy(x.e.ranker, &before), 0);
    eng_implog_add(&x.e, "r1", "ana", "similar", &x.snap, x.list, NITEMS);
    struct vt_event ev;
    event(&ev, "ana", "desk", VT_EV_PURCHASE, vt_time_now_ms());
    eng_implog_on_events(&x.e, &ev, 1);
    CHECK_EQ_INT(updates(&x), 1);
    eng_implog_flush(&x.e); /* too soon: nothing expires */
    CHECK_EQ_INT(updates(&x), 1);
    struct timespec ts = {0, 120 * 1000000L};
    nanosleep(&ts, NULL);
    eng_implog_flush(&x.e);
    CHECK_EQ_INT(updates(&x), 1 + (NITEMS - 1));
    eng_implog_flush(&x.e);
    CHECK_EQ_INT(updates(&x), 1 + (NITEMS - 1));
    /* the negatives pulled p of the unengaged ones down, by less than a
     * full-weight step would */
    struct vt_ranker *full = NULL;
    CHECK_EQ_INT(vt_ranker_copy(before, &full), 0);
    if (before && full) {
        struct vt_rank_example neg = {x.list[0].f, 0.0f, 1.0f};
        vt_ranker_sgd(full, &neg, 0.2f);
        double p_before = vt_ranker_score(before, x.list[0].f, NULL, NULL);
        double p_full = vt_ranker_score(full, x.list[0].f, NULL, NULL);
        struct vt_ranker *light = NULL;
        CHECK_EQ_INT(vt_ranker_copy(before, &light), 0);
        struct vt_rank_example lneg = {x.list[0].f, 0.0f, 0.2f};
        vt_ranker_sgd(light, &lneg, 0.2f);
        double p_light = vt_ranker_score(light, x.list[0].f, NULL, NULL);
        CHECK(p_full < p_light && p_light < p_before);
        vt_ranker_free(light);
    }
    CHECK_EQ_INT(count(s), NITEMS);
    vt_ranker_free(full);
    vt_ranker_free(before);
    fixture_reset(&x);
    vt_store_close(s);
    rm_db(path);
}

/* Past its bounds the log drops: the oldest unlabelled impressions leave
 * without a step, and impressions past the write buffer are not stored;
 * memory stays bounded whatever the traffic. */
TEST(implog_is_bounded)
{
    const char *path = "build/test_imp_bound.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct fixture x;
    fixture_init(&x, s, 1800);
    int64_t before = vt_alloc_bytes_in_use();
    char user[32];
    enum { LISTS = 40000 }; /* 160,000 impressions */
    for (int i = 0; i < LISTS; i++) {
        snprintf(user, sizeof user, "shopper-%d", i);
        eng_implog_add(&x.e, "r1", user, "recommend", &x.snap, x.list, NITEMS);
    }
    int64_t grown = vt_alloc_bytes_in_use() - before;
    printf("  %d impressions held in %.1f MB\n", LISTS * NITEMS, (double)grown / 1e6);
    CHECK(grown < 40 * 1000 * 1000);
    /* the first shoppers' impressions were pushed out: no label */
    struct vt_event ev;
    event(&ev, "shopper-0", "sofa", VT_EV_CLICK, vt_time_now_ms());
    eng_implog_on_events(&x.e, &ev, 1);
    CHECK_EQ_INT(updates(&x), 0);
    /* the last ones are still there */
    snprintf(user, sizeof user, "shopper-%d", LISTS - 1);
    event(&ev, user, "sofa", VT_EV_CLICK, vt_time_now_ms());
    eng_implog_on_events(&x.e, &ev, 1);
    CHECK_EQ_INT(updates(&x), 1);
    eng_implog_flush(&x.e);
    CHECK_EQ_INT(count(s), 20000); /* the write buffer's bound */
    fixture_reset(&x);
    vt_store_close(s);
    rm_db(path);
}

/* Many request threads add while the engine thread flushes; every
 * impression is stored once, and memory stays bounded. */
struct adder {
    struct fixture *x;
    int id;
};

static void *add_many(void *arg)
{
    struct adder *a = arg;
    char user[16], rec[24];
    for (int i = 0; i < 500; i++) {
        snprintf(user, sizeof user, "u%d-%d", a->id, i % 7);
        snprintf(rec, sizeof rec, "r%d-%d", a->id, i);
        eng_implog_add(&a->x->e, rec, user, "recommend", &a->x->snap, a->x->list, NITEMS);
        if (i % 50 == 0) {
            struct vt_event ev;
            event(&ev, user, "rug", VT_EV_ZOOM, vt_time_now_ms());
            eng_implog_on_events(&a->x->e, &ev, 1);
        }
    }
    return NULL;
}

TEST(implog_is_thread_safe)
{
    const char *path = "build/test_imp_threads.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct fixture x;
    fixture_init(&x, s, 1800);
    pthread_t t[4];
    struct adder a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct adder){&x, i};
        pthread_create(&t[i], NULL, add_many, &a[i]);
    }
    for (int k = 0; k < 20; k++) {
        eng_implog_flush(&x.e);
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    eng_implog_flush(&x.e);
    CHECK_EQ_INT(count(s), 4 * 500 * NITEMS);
    /* each zoom labelled the rug in the lists shown to that user so far */
    CHECK(updates(&x) >= 4 * 10);
    fixture_reset(&x);
    vt_store_close(s);
    rm_db(path);
}

int main(void)
{
    vt_alloc_install_json();
    vt_log_set_level(VT_LOG_ERROR);
    RUN(append_scan_prune_count);
    RUN(append_refuses_bad_records);
    RUN(user_delete_removes_their_impressions);
    RUN(migration_from_version_2);
    RUN(implog_labels_flushes_and_forgets);
    RUN(implog_expiry_is_a_light_negative);
    RUN(implog_is_bounded);
    RUN(implog_is_thread_safe);
    return TEST_SUMMARY();
}
