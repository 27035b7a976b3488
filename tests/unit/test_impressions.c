/* test_impressions.c - impressions in the store (append, scan, prune,
 * count, user deletion; one row per list: lists packed, split and read back
 * across pages; the migrations from schema versions 2 and 3; damaged rows)
 * and the engine's impression log (rec/implog.c): the flush to the store,
 * online steps on engagement, dismissal and expiry, forgetting a user.
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

/* A database of schema version 2 (before impressions) migrates to the
 * newest and keeps what it had. */
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
    CHECK_EQ_INT(sqlite3_exec(db, "DROP TABLE impression_lists; DELETE FROM counts WHERE "
                              "name = 'impressions'; PRAGMA user_version = 2;", NULL, NULL,
                              NULL),
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
    CHECK_EQ_INT(vt_store_schema_version(s), 4);
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

/* ---- one row per list ------------------------------------------------------------ */

/* Runs sql on the database outside the store and returns the first column
 * of its first row (-1 when there is none or on error). */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    sqlite3_close(db);
    return rc;
}

/* Every field of a read-back record equals what was written (ids too when
 * with_id). */
static void check_same(const struct vt_impression *a, const struct vt_impression *b,
                       int with_id)
{
    if (with_id)
        CHECK_EQ_INT(a->id, b->id);
    CHECK_STR(a->rec_id, b->rec_id);
    CHECK_STR(a->user_id, b->user_id);
    CHECK_STR(a->item_id, b->item_id);
    CHECK_STR(a->surface, b->surface);
    CHECK_EQ_INT(a->position, b->position);
    CHECK_EQ_INT(a->ts_ms, b->ts_ms);
    CHECK_EQ_INT(a->nfeatures, b->nfeatures);
    CHECK(a->nfeatures <= VT_IMPRESSION_MAX_FEATURES &&
          memcmp(a->features, b->features, a->nfeatures * sizeof(float)) == 0);
}

/* Reads everything after after_id in pages of page records; checks each
 * against want[0..n) in order and returns how many came back. */
static size_t scan_all(struct vt_store *s, int64_t after_id, size_t page,
                       const struct vt_impression *want, size_t n)
{
    size_t got = 0;
    for (int calls = 0; calls < 10000; calls++) {
        struct vt_impression *v = NULL;
        size_t k = 0;
        CHECK_EQ_INT(vt_store_impressions_scan(s, after_id, page, &v, &k), 0);
        if (k == 0) {
            vt_free(v);
            break;
        }
        CHECK(k <= page);
        for (size_t i = 0; i < k; i++) {
            CHECK(v[i].id > after_id);
            if (got + i < n)
                check_same(&v[i], &want[got + i], 1);
            after_id = v[i].id;
        }
        got += k;
        vt_free(v);
    }
    return got;
}

/* Records of one list are stored as one row; lists of one append, a list
 * split over two appends, a list with gaps in its positions and one
 * without features all read back exactly, through cursors that fall
 * anywhere in and between lists, in pages of every size. */
TEST(lists_packed_split_and_paged)
{
    const char *path = "build/test_imp_lists.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    enum { N = 22 };
    static const int gaps[] = {0, 2, 5, 9, 200, 1};
    struct vt_impression in[N];
    char item[32];
    size_t bad = 99;
    struct vt_error err;
    int k = 0;
    /* first append: a list of 5 and one of 4 shown at the same instant,
     * then the first 3 of a list of 7 */
    for (int p = 0; p < 5; p++, k++) {
        snprintf(item, sizeof item, "sofa-%d", k);
        make_imp(&in[k], "rA", "ana", item, p, 1000, 15);
    }
    for (int p = 0; p < 4; p++, k++) {
        snprintf(item, sizeof item, "lamp-%d", k);
        make_imp(&in[k], "rB", "ben", item, p, 1000, 15);
        snprintf(in[k].surface, sizeof in[k].surface, "recommend");
    }
    for (int p = 0; p < 3; p++, k++) {
        snprintf(item, sizeof item, "rug-%d", k);
        make_imp(&in[k], "rC", "ana", item, p, 2000, 15);
    }
    const int second = k;
    /* second append: the rest of that list, then one with gaps and
     * positions out of order, without features */
    for (int p = 3; p < 7; p++, k++) {
        snprintf(item, sizeof item, "rug-%d", k);
        make_imp(&in[k], "rC", "ana", item, p, 2000, 15);
    }
    for (int g = 0; g < 6; g++, k++) {
        snprintf(item, sizeof item, "长椅-%d", k); /* UTF-8 ids */
        make_imp(&in[k], "rD", "cy", item, gaps[g], 3000, 0);
    }
    CHECK_EQ_INT(k, N);
    CHECK_EQ_INT(vt_store_impressions_append(s, in, (size_t)second, &bad, &err), 0);
    CHECK_EQ_INT(vt_store_impressions_append(s, in + second, (size_t)(N - second), &bad, &err),
                 0);
    for (int i = 1; i < N; i++)
        CHECK(in[i].id > in[i - 1].id);
    CHECK_EQ_INT(count(s), N);
    /* five rows: rA, rB, rC in two parts, rD; only rD needs its positions */
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM impression_lists"), 5);
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM impression_lists WHERE positions IS NULL"),
                 4);
    CHECK_EQ_INT(sql_int(path, "SELECT position FROM impression_lists WHERE rec_id = 'rC' "
                               "ORDER BY id DESC"), 3);

    for (size_t page = 1; page <= N + 1; page++)
        CHECK_EQ_INT(scan_all(s, 0, page, in, N), N);
    /* from every record's id, the rest */
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(scan_all(s, in[i].id, 3, in + i + 1, (size_t)(N - 1 - i)), N - 1 - i);
    /* a cursor between two issued ids is as good as the lower one */
    CHECK_EQ_INT(scan_all(s, in[4].id + 1, 2, in + 5, N - 5), N - 5);
    CHECK_EQ_INT(scan_all(s, in[N - 1].id + 1000, 5, NULL, 0), 0);
    vt_store_close(s);
    rm_db(path);
}

/* More records of one list than a row holds (or the same list logged
 * twice in one batch) make several rows, read back as written. */
TEST(long_run_makes_several_rows)
{
    const char *path = "build/test_imp_long.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    enum { N = 300 };
    struct vt_impression *in = vt_calloc(N, sizeof *in);
    CHECK(in != NULL);
    if (!in)
        return;
    char item[32];
    size_t bad;
    struct vt_error err;
    for (int i = 0; i < N; i++) {
        snprintf(item, sizeof item, "item-%03d", i);
        make_imp(&in[i], "r00000000000000ee", "dana", item, i, 4242, 3);
    }
    CHECK_EQ_INT(vt_store_impressions_append(s, in, N, &bad, &err), 0);
    for (int i = 1; i < N; i++)
        CHECK(in[i].id > in[i - 1].id);
    CHECK_EQ_INT(count(s), N);
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM impression_lists"), 3); /* 128+128+44 */
    CHECK_EQ_INT(sql_int(path, "SELECT max(n) FROM impression_lists"), 128);
    CHECK_EQ_INT(scan_all(s, 0, 1000, in, N), N);
    CHECK_EQ_INT(scan_all(s, 0, 100, in, N), N);
    vt_store_close(s);
    vt_free(in);
    rm_db(path);
}

/* Prune goes by each list's time, whatever order the lists came in, in
 * chunks; the count follows; a cursor into a pruned list still works. */
TEST(lists_prune_and_cursor)
{
    const char *path = "build/test_imp_prune.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_impression in[12];
    size_t bad;
    struct vt_error err;
    int k = 0;
    /* times 1000, 5000, 2000 (a clock stepped back), 9000 */
    static const struct { const char *rec; int n; int64_t ts; } lists[] = {
        {"r1", 4, 1000}, {"r2", 3, 5000}, {"r3", 2, 2000}, {"r4", 3, 9000}};
    for (int l = 0; l < 4; l++)
        for (int p = 0; p < lists[l].n; p++, k++)
            make_imp(&in[k], lists[l].rec, "ana", "vase", p, lists[l].ts, 5);
    CHECK_EQ_INT(k, 12);
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 12, &bad, &err), 0);
    int64_t cursor = in[1].id; /* inside r1, which goes */
    int64_t deleted = -1;
    CHECK_EQ_INT(vt_store_impressions_prune(s, 3000, &deleted), 0);
    CHECK_EQ_INT(deleted, 4 + 2);
    CHECK_EQ_INT(count(s), 6);
    struct vt_impression left[6];
    memcpy(left, in + 4, 3 * sizeof *in);     /* r2 */
    memcpy(left + 3, in + 9, 3 * sizeof *in); /* r4 */
    CHECK_EQ_INT(scan_all(s, cursor, 4, left, 6), 6);
    CHECK_EQ_INT(scan_all(s, 0, 4, left, 6), 6);
    /* nothing older than the oldest: nothing goes */
    CHECK_EQ_INT(vt_store_impressions_prune(s, 5000, &deleted), 0);
    CHECK_EQ_INT(deleted, 0);
    CHECK_EQ_INT(count(s), 6);

    /* more lists than one chunk deletes */
    enum { LISTS = 2500 };
    struct vt_impression *many = vt_calloc(2 * LISTS, sizeof *many);
    CHECK(many != NULL);
    if (many) {
        char rec[24];
        for (int l = 0; l < LISTS; l++) {
            snprintf(rec, sizeof rec, "m%d", l);
            make_imp(&many[2 * l], rec, l % 2 ? "ben" : "cy", "desk", 0, 10000 + l, 2);
            make_imp(&many[2 * l + 1], rec, l % 2 ? "ben" : "cy", "lamp", 1, 10000 + l, 2);
        }
        CHECK_EQ_INT(vt_store_impressions_append(s, many, 2 * LISTS, &bad, &err), 0);
        CHECK(many[0].id > in[11].id);
        CHECK_EQ_INT(count(s), 6 + 2 * LISTS);
        CHECK_EQ_INT(vt_store_impressions_prune(s, 10000 + LISTS - 10, &deleted), 0);
        CHECK_EQ_INT(deleted, 6 + 2 * (LISTS - 10));
        CHECK_EQ_INT(count(s), 20);
        CHECK_EQ_INT(scan_all(s, in[11].id, 7, many + 2 * (LISTS - 10), 20), 20);
        CHECK_EQ_INT(vt_store_impressions_prune(s, INT64_MAX, &deleted), 0);
        CHECK_EQ_INT(deleted, 20);
        CHECK_EQ_INT(count(s), 0);
        CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM impression_lists"), 0);
        vt_free(many);
    }
    vt_store_close(s);
    rm_db(path);
}

/* Deleting a user deletes their lists, split or whole, and keeps the count
 * right; other users' lists stay whole. */
TEST(lists_user_delete)
{
    const char *path = "build/test_imp_ulists.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_impression in[12];
    size_t bad;
    struct vt_error err;
    for (int p = 0; p < 5; p++) /* ana's list, split 3 + 2 below */
        make_imp(&in[p], "ra", "ana", "sofa", p, 100, 4);
    for (int p = 0; p < 4; p++)
        make_imp(&in[5 + p], "rb", "ben", "sofa", p, 100, 4);
    for (int p = 0; p < 3; p++)
        make_imp(&in[9 + p], "rc", "ana", "lamp", p, 200, 4);
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 3, &bad, &err), 0);
    CHECK_EQ_INT(vt_store_impressions_append(s, in + 3, 9, &bad, &err), 0);
    CHECK_EQ_INT(count(s), 12);
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM impression_lists"), 4);
    CHECK_EQ_INT(vt_store_user_delete(s, "ana"), 0);
    CHECK_EQ_INT(count(s), 4);
    CHECK_EQ_INT(scan_all(s, 0, 100, in + 5, 4), 4);
    CHECK_EQ_INT(vt_store_user_delete(s, "ana"), VT_ENOTFOUND);
    CHECK_EQ_INT(vt_store_user_delete(s, "ben"), 0);
    CHECK_EQ_INT(count(s), 0);
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM impression_lists"), 0);
    vt_store_close(s);
    rm_db(path);
}

/* A batch that fails in the database half-way stores nothing, changes no
 * count and leaves every id 0; the failing list is named. */
TEST(failed_batch_stores_nothing)
{
    const char *path = "build/test_imp_fail.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_impression in[6];
    size_t bad = 99;
    struct vt_error err;
    for (int p = 0; p < 3; p++)
        make_imp(&in[p], "fine", "ana", "sofa", p, 100, 4);
    for (int p = 0; p < 3; p++)
        make_imp(&in[3 + p], "boom", "ana", "sofa", p, 100, 4);
    CHECK_EQ_INT(sql_exec(path, "CREATE TRIGGER boom BEFORE INSERT ON impression_lists "
                                "WHEN NEW.rec_id = 'boom' BEGIN "
                                "SELECT RAISE(ABORT, 'boom refused'); END;"),
                 SQLITE_OK);
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 6, &bad, &err), VT_EINVAL);
    CHECK_EQ_INT(bad, 3);
    CHECK(strstr(err.message, "boom refused") != NULL);
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(in[i].id, 0);
    CHECK_EQ_INT(count(s), 0);
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM impression_lists"), 0);
    CHECK_EQ_INT(sql_exec(path, "DROP TRIGGER boom"), SQLITE_OK);
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 6, &bad, &err), 0);
    CHECK_EQ_INT(count(s), 6);
    vt_store_close(s);
    rm_db(path);
}

/* A row whose blobs do not match its sizes is damage: the scan fails with
 * VT_EDB rather than making records up; the CHECKs refuse what they can. */
TEST(damaged_rows_are_refused)
{
    const char *path = "build/test_imp_damage.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_impression in[3], *v = NULL;
    size_t bad, n = 0;
    struct vt_error err;
    for (int p = 0; p < 3; p++)
        make_imp(&in[p], "r1", "ana", "sofa", p, 100, 2);
    CHECK_EQ_INT(vt_store_impressions_append(s, in, 3, &bad, &err), 0);
    static const char *const damage[] = {
        /* the last id without its NUL */
        "UPDATE impression_lists SET items = CAST('ab' || char(0) || 'cd' || char(0) || 'e' "
        "AS BLOB)",
        /* four ids for n = 3 */
        "UPDATE impression_lists SET items = CAST('a' || char(0) || 'b' || char(0) || 'c' || "
        "char(0) || 'd' || char(0) AS BLOB)",
        /* an empty id */
        "UPDATE impression_lists SET items = CAST('a' || char(0) || char(0) || 'bc' || "
        "char(0) AS BLOB)",
        /* a negative position */
        "UPDATE impression_lists SET positions = x'000000000100000000000080'",
    };
    vt_log_set_level(VT_LOG_OFF); /* each damaged row is logged */
    for (size_t d = 0; d < sizeof damage / sizeof *damage; d++) {
        CHECK_EQ_INT(sql_exec(path, damage[d]), SQLITE_OK);
        CHECK_EQ_INT(vt_store_impressions_scan(s, 0, 100, &v, &n), VT_EDB);
        CHECK(v == NULL && n == 0);
        CHECK_EQ_INT(sql_exec(path, "UPDATE impression_lists SET items = CAST('sofa' || "
                                    "char(0) || 'sofa' || char(0) || 'sofa' || char(0) AS "
                                    "BLOB), positions = NULL"),
                     SQLITE_OK);
        CHECK_EQ_INT(scan_all(s, 0, 100, in, 3), 3);
    }
    vt_log_set_level(VT_LOG_ERROR);
    CHECK_EQ_INT(sql_exec(path, "UPDATE impression_lists SET features = x'00000000'"),
                 SQLITE_CONSTRAINT);
    CHECK_EQ_INT(sql_exec(path, "UPDATE impression_lists SET n = 129"), SQLITE_CONSTRAINT);
    CHECK_EQ_INT(sql_exec(path, "UPDATE impression_lists SET positions = x'00'"),
                 SQLITE_CONSTRAINT);
    CHECK_EQ_INT(scan_all(s, 0, 100, in, 3), 3);
    vt_store_close(s);
    rm_db(path);
}

/* Out of memory at any one allocation of an append or a scan (SQLite's
 * own included): the call fails whole or succeeds whole, ids are set only
 * on success, and the count stays the sum of the rows. */
TEST(out_of_memory_anywhere)
{
    const char *path = "build/test_imp_oom.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_impression in[12];
    size_t bad;
    struct vt_error err;
    for (int p = 0; p < 7; p++)
        make_imp(&in[p], "ra", "ana", "sofa", p, 100, 15);
    for (int p = 0; p < 5; p++)
        make_imp(&in[7 + p], "rb", "ben", "lamp", 3 * p, 200, 4);
    int64_t stored = 0;
    int failed = 0;
    vt_log_set_level(VT_LOG_OFF); /* every failure is logged */
    for (int64_t k = 1; k <= 300; k++) { /* an append makes about 240 */
        for (int i = 0; i < 12; i++)
            in[i].id = 0;
        vt_alloc_fail_after(k);
        int rc = vt_store_impressions_append(s, in, 12, &bad, &err);
        vt_alloc_fail_after(0);
        CHECK(rc == 0 || rc == VT_ENOMEM || rc == VT_EDB);
        if (rc == 0) {
            stored += 12;
            CHECK(in[0].id > 0 && in[11].id > in[0].id);
        } else {
            failed++;
            for (int i = 0; i < 12; i++)
                CHECK_EQ_INT(in[i].id, 0);
        }
        CHECK_EQ_INT(count(s), stored);
    }
    CHECK(failed > 0 && stored > 0); /* both ends were reached */
    CHECK(in[0].id > 0);               /* the last append stored */
    CHECK_EQ_INT(sql_int(path, "SELECT coalesce(sum(n), 0) FROM impression_lists"), stored);
    failed = 0;
    int read = 0;
    for (int64_t k = 1; k <= 300; k++) {
        struct vt_impression *v = NULL;
        size_t n = 99;
        vt_alloc_fail_after(k);
        int rc = vt_store_impressions_scan(s, in[3].id, 6, &v, &n); /* across rows */
        vt_alloc_fail_after(0);
        CHECK(rc == 0 || rc == VT_ENOMEM || rc == VT_EDB);
        if (rc == 0) {
            read++;
            CHECK_EQ_INT(n, 6);
            for (size_t i = 0; i < n; i++)
                check_same(&v[i], &in[4 + i], 1);
        } else {
            failed++;
            CHECK(v == NULL && n == 0);
        }
        vt_free(v);
    }
    vt_log_set_level(VT_LOG_ERROR);
    CHECK(failed > 0 && read > 0);
    vt_store_close(s);
    rm_db(path);
}

/* The schema of version 3 (migrations[2] in store_sqlite.c, as released):
 * one row per item shown, counted by triggers. */
static const char v3_schema[] =
    "CREATE TABLE impressions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  rec_id TEXT NOT NULL CHECK (length(CAST(rec_id AS BLOB)) BETWEEN 1 AND 23),"
    "  user_id TEXT NOT NULL CHECK (length(CAST(user_id AS BLOB)) BETWEEN 1 AND 128),"
    "  item_id TEXT NOT NULL CHECK (length(CAST(item_id AS BLOB)) BETWEEN 1 AND 128),"
    "  surface TEXT NOT NULL CHECK (length(CAST(surface AS BLOB)) BETWEEN 1 AND 15),"
    "  position INTEGER NOT NULL CHECK (position >= 0),"
    "  features BLOB NOT NULL"
    "    CHECK (length(features) % 4 = 0 AND length(features) <= 128),"
    "  ts_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX impressions_user ON impressions(user_id);"
    "CREATE INDEX impressions_ts ON impressions(ts_ms);"
    "CREATE TRIGGER impressions_count_ins AFTER INSERT ON impressions BEGIN"
    "  UPDATE counts SET n = n + 1 WHERE name = 'impressions'; END;"
    "CREATE TRIGGER impressions_count_del AFTER DELETE ON impressions BEGIN"
    "  UPDATE counts SET n = n - 1 WHERE name = 'impressions'; END;";

/* A database of schema version 3 (one row per item) migrates: every row
 * survives as a one-item list, in id order, with every field; the count is
 * right; ids given in version 3 are never given again; the rows can be
 * pruned and deleted with their user afterwards. */
TEST(migration_from_version_3)
{
    const char *path = "build/test_imp_mig3.db";
    struct vt_store *s = fresh(path);
    if (!s)
        return;
    struct vt_user u = {0};
    u.id = "ana";
    CHECK_EQ_INT(vt_store_user_put(s, &u), 0);
    vt_store_close(s);

    /* back to version 3, with rows written as version 3 wrote them */
    enum { N = 7 };
    struct vt_impression want[N];
    make_imp(&want[0], "r00000000000000a1", "ana", "sofa", 0, 5000, 15);
    make_imp(&want[1], "r00000000000000a1", "ana", "lamp", 1, 5000, 15);
    make_imp(&want[2], "r00000000000000b2", "ben", "椅子", 7, 1000, 0); /* older, later */
    make_imp(&want[3], "r00000000000000b2", "ben", "rug", 200, 1000, 32);
    make_imp(&want[4], "r3", "ana", "desk", 3, 9000, 1);
    snprintf(want[4].surface, sizeof want[4].surface, "recommend");
    make_imp(&want[5], "r4", "cy", "vase", 0, 0, 15);
    make_imp(&want[6], "r5", "cy", "gone", 0, 9999, 15); /* deleted in version 3 */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "DROP TABLE impression_lists;", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, v3_schema, NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "PRAGMA user_version = 3;", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "INSERT INTO impressions (rec_id, user_id, item_id, "
                                        "surface, position, features, ts_ms) VALUES "
                                        "(?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL),
                 SQLITE_OK);
    for (int i = 0; i < N; i++) {
        unsigned char blob[4 * VT_IMPRESSION_MAX_FEATURES];
        for (uint32_t f = 0; f < want[i].nfeatures; f++) {
            uint32_t b;
            memcpy(&b, &want[i].features[f], 4);
            for (int j = 0; j < 4; j++)
                blob[4 * f + (uint32_t)j] = (unsigned char)(b >> (8 * j));
        }
        sqlite3_bind_text(st, 1, want[i].rec_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, want[i].user_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, want[i].item_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, want[i].surface, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, want[i].position);
        sqlite3_bind_blob(st, 6, blob, (int)(4 * want[i].nfeatures), SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, want[i].ts_ms);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    CHECK_EQ_INT(sqlite3_exec(db, "DELETE FROM impressions WHERE id = 7", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(sql_int(path, "SELECT n FROM counts WHERE name = 'impressions'"), N - 1);

    struct vt_store_options ro = {0};
    ro.read_only = 1;
    struct vt_error err;
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, &ro, &s, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "migrate") != NULL);
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), 0);
    if (!s)
        return;
    CHECK_EQ_INT(vt_store_schema_version(s), 4);
    CHECK_EQ_INT(count(s), N - 1);
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE tbl_name = "
                               "'impressions'"), 0);
    CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM impression_lists WHERE n = 1"), N - 1);
    /* every row, in the old id order, every field as written */
    struct vt_impression *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_impressions_scan(s, 0, 100, &v, &n), 0);
    CHECK_EQ_INT(n, N - 1);
    for (size_t i = 0; i < n && i < N - 1; i++) {
        check_same(&v[i], &want[i], 0);
        if (i > 0)
            CHECK(v[i].id > v[i - 1].id);
    }
    int64_t last = n ? v[n - 1].id : 0;
    vt_free(v);
    /* pages over the migrated rows */
    CHECK_EQ_INT(vt_store_impressions_scan(s, 0, 2, &v, &n), 0);
    int64_t mid = n == 2 ? v[1].id : 0;
    vt_free(v);
    CHECK_EQ_INT(vt_store_impressions_scan(s, mid, 100, &v, &n), 0);
    CHECK_EQ_INT(n, N - 3);
    if (n)
        CHECK_STR(v[0].item_id, "椅子");
    vt_free(v);

    /* a new list continues past every id version 3 gave, the deleted 7 too */
    struct vt_impression m[2];
    size_t bad;
    make_imp(&m[0], "r6", "ana", "shelf", 0, 9500, 15);
    make_imp(&m[1], "r6", "ana", "bed", 1, 9500, 15);
    CHECK_EQ_INT(vt_store_impressions_append(s, m, 2, &bad, &err), 0);
    CHECK(m[0].id > last && m[1].id > m[0].id);
    CHECK_EQ_INT(sql_int(path, "SELECT max(id) FROM impression_lists"), 8);
    CHECK_EQ_INT(count(s), N + 1);

    /* migrated rows prune by time and go with their user */
    int64_t deleted = -1;
    CHECK_EQ_INT(vt_store_impressions_prune(s, 1000, &deleted), 0);
    CHECK_EQ_INT(deleted, 1); /* cy's vase, at 0 */
    CHECK_EQ_INT(vt_store_user_delete(s, "ana"), 0);
    CHECK_EQ_INT(count(s), 2); /* ben's two */
    CHECK_EQ_INT(vt_store_impressions_scan(s, 0, 100, &v, &n), 0);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++)
        check_same(&v[i], &want[2 + i], 0);
    vt_free(v);
    vt_store_close(s);

    /* and the migrated database opens as it is */
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), 0);
    if (s) {
        CHECK_EQ_INT(count(s), 2);
        vt_store_close(s);
    }
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
    RUN(lists_packed_split_and_paged);
    RUN(long_run_makes_several_rows);
    RUN(lists_prune_and_cursor);
    RUN(lists_user_delete);
    RUN(failed_batch_stores_nothing);
    RUN(damaged_rows_are_refused);
    RUN(out_of_memory_anywhere);
    RUN(migration_from_version_3);
    RUN(implog_labels_flushes_and_forgets);
    RUN(implog_expiry_is_a_light_negative);
    RUN(implog_is_bounded);
    RUN(implog_is_thread_safe);
    return TEST_SUMMARY();
}
