/* test_store.c - the SQLite store: schema and migrations, items, users,
 * events with group commit and durability across kill -9, the log kept
 * bounded by the checkpointer, keys, metadata, SQLite's memory counted.
 * Databases live under build/ and are removed before each test. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "test.h"

/* Removes path and its -wal/-shm companions. */
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

/* A minimal item: id, an English (and optionally Chinese) title, a category. */
static void make_item(struct vt_item *it, const char *id, const char *en, const char *zh,
                      const char *category)
{
    vt_item_init(it);
    it->id = vt_strdup(id);
    it->title = json_object();
    json_object_set_new(it->title, "en", json_string(en));
    if (zh)
        json_object_set_new(it->title, "zh", json_string(zh));
    it->category = category ? vt_strdup(category) : NULL;
}

static void make_event(struct vt_event *ev, const char *user, const char *item, int type,
                       double value, int64_t ts)
{
    vt_event_init(ev);
    ev->user_id = vt_strdup(user);
    ev->item_id = item ? vt_strdup(item) : NULL;
    ev->type = type;
    ev->value = value;
    ev->ts_ms = ts;
}

static int put_one(struct vt_store *s, struct vt_item *it, int mode)
{
    size_t bad = 99;
    struct vt_error err;
    return vt_store_items_put(s, it, 1, mode, &bad, &err);
}

TEST(open_refuses_what_it_cannot_serve)
{
    struct vt_store *s = (struct vt_store *)1;
    struct vt_error err;
    CHECK_EQ_INT(vt_store_open("postgres://db.example/shop", NULL, &s, &err), VT_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(err.message, "postgres:// is not built in") != NULL);
    CHECK_EQ_INT(vt_store_open("mysql://x/y", NULL, &s, &err), VT_EINVAL);
    CHECK(strstr(err.message, "mysql://") != NULL);
    CHECK_EQ_INT(vt_store_open(":memory:", NULL, &s, &err), VT_EINVAL);
    CHECK_EQ_INT(vt_store_open("sqlite::memory:", NULL, &s, &err), VT_EINVAL);
    CHECK_EQ_INT(vt_store_open("", NULL, &s, &err), VT_EINVAL);
    CHECK(vt_store_open("build/no/such/dir/x.db", NULL, &s, &err) < 0);
    CHECK(strstr(err.message, "build/no/such/dir/x.db") != NULL);

    /* a file that is not a database */
    const char *junk = "build/test_store_junk.db";
    rm_db(junk);
    FILE *f = fopen(junk, "w");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 100; i++)
            fputs("this is not an SQLite database at all\n", f);
        fclose(f);
    }
    CHECK_EQ_INT(vt_store_open(junk, NULL, &s, &err), VT_EDB);
    CHECK(strstr(err.message, "not a database") != NULL);
    rm_db(junk);
}

/* Writes a 4-byte big-endian value into the database header. */
static void poke_header(const char *path, long off, uint32_t v)
{
    unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ_INT(pwrite(fd, b, 4, off), 4);
        close(fd);
    }
}

TEST(migrations_fresh_and_reopen)
{
    const char *path = "build/test_store_migrate.db";
    struct vt_store *s = fresh(path);
    struct vt_error err;
    struct vt_item it;
    CHECK(s != NULL);
    if (!s)
        return;
    int v = vt_store_schema_version(s);
    CHECK(v >= 1);
    make_item(&it, "chair-1", "Chair", "椅子", "Dining room");
    CHECK_EQ_INT(put_one(s, &it, VT_PUT_CREATE), 0);
    vt_item_reset(&it);
    vt_store_close(s);

    /* re-open: same version, data kept, through the "sqlite:" form too */
    char uri[128];
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    s = NULL;
    CHECK_EQ_INT(vt_store_open(uri, NULL, &s, &err), 0);
    if (!s)
        return;
    CHECK_EQ_INT(vt_store_schema_version(s), v);
    CHECK_EQ_INT(vt_store_item_get(s, "chair-1", &it), 0);
    CHECK_STR(json_string_value(json_object_get(it.title, "zh")), "椅子");
    vt_item_reset(&it);
    vt_store_close(s);

    /* read-only: reads work, writes are refused */
    struct vt_store_options ro = {.read_only = 1};
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, &ro, &s, &err), 0);
    if (s) {
        CHECK_EQ_INT(vt_store_item_get(s, "chair-1", &it), 0);
        vt_item_reset(&it);
        CHECK(vt_store_item_delete(s, "chair-1") < 0);
        vt_store_close(s);
    }

    /* a database from a newer vitrine is refused, not damaged */
    poke_header(path, 60, 99); /* user_version */
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), VT_EFORMAT);
    CHECK(s == NULL);
    CHECK(strstr(err.message, "newer") != NULL);
    poke_header(path, 60, (uint32_t)v);
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), 0);
    vt_store_close(s);

    /* an SQLite file of another application is refused */
    poke_header(path, 68, 0x12345678); /* application_id */
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "not a vitrine") != NULL);
    rm_db(path);
}

TEST(item_round_trip_every_field)
{
    const char *path = "build/test_store_items.db";
    struct vt_store *s = fresh(path);
    struct vt_item it, got;
    CHECK(s != NULL);
    if (!s)
        return;
    make_item(&it, "sofa-ekeby", "Ekeby three-seat Sofa", "三人沙发", "Living room/Sofas");
    it.description = json_pack("{s:s,s:s}", "en", "Deep seats, linen cover.", "zh",
                               "深座，亚麻布套。");
    it.tags = json_pack("[s,s]", "linen", "绿色");
    it.attributes = json_pack("{s:s,s:s,s:b}", "colour", "green", "material", "linen",
                              "demo_price", 1);
    it.price = 899.5;
    it.has_price = 1;
    memcpy(it.currency, "EUR", 4);
    it.stock = 12;
    it.dims_cm[0] = 218;
    it.dims_cm[1] = 88.5;
    it.dims_cm[2] = 79;
    it.has_dims = 1;
    it.model_url = vt_strdup("/assets/models/sofa-ekeby.glb");
    it.assets = json_pack("{s:s,s:s}", "poster", "/assets/img/sofa.jpg", "licence", "CC0");
    it.hidden = 0;
    int64_t before = vt_time_now_ms();
    CHECK_EQ_INT(put_one(s, &it, VT_PUT_CREATE), 0);

    CHECK_EQ_INT(vt_store_item_get(s, "sofa-ekeby", &got), 0);
    CHECK_STR(got.id, "sofa-ekeby");
    CHECK(json_equal(got.title, it.title));
    CHECK_STR(json_string_value(json_object_get(got.title, "zh")), "三人沙发");
    CHECK(json_equal(got.description, it.description));
    CHECK_STR(got.category, "Living room/Sofas");
    CHECK(json_equal(got.tags, it.tags));
    CHECK(json_equal(got.attributes, it.attributes));
    CHECK(got.has_price);
    CHECK_NEAR(got.price, 899.5, 1e-9);
    CHECK_STR(got.currency, "EUR");
    CHECK_EQ_INT(got.stock, 12);
    CHECK(got.has_dims);
    CHECK_NEAR(got.dims_cm[0], 218, 1e-9);
    CHECK_NEAR(got.dims_cm[1], 88.5, 1e-9);
    CHECK_NEAR(got.dims_cm[2], 79, 1e-9);
    CHECK_STR(got.model_url, "/assets/models/sofa-ekeby.glb");
    CHECK(json_equal(got.assets, it.assets));
    CHECK_EQ_INT(got.hidden, 0);
    CHECK(got.created_ms >= before && got.created_ms <= vt_time_now_ms());
    CHECK_EQ_INT(got.updated_ms, got.created_ms);
    vt_item_reset(&got);

    /* the optional fields come back unset when they were unset */
    struct vt_item bare;
    make_item(&bare, "stool", "Stool", NULL, NULL);
    CHECK_EQ_INT(put_one(s, &bare, VT_PUT_CREATE), 0);
    CHECK_EQ_INT(vt_store_item_get(s, "stool", &got), 0);
    CHECK(!got.has_price && !got.has_dims && got.stock == -1 && got.currency[0] == '\0');
    CHECK(got.category == NULL && got.tags == NULL && got.description == NULL &&
          got.model_url == NULL && got.assets == NULL && got.attributes == NULL);
    vt_item_reset(&got);
    vt_item_reset(&bare);

    CHECK_EQ_INT(vt_store_item_get(s, "no-such-item", &got), VT_ENOTFOUND);
    CHECK(got.id == NULL);
    vt_item_reset(&it);
    vt_store_close(s);
    rm_db(path);
}

TEST(create_conflict_upsert_and_delete)
{
    const char *path = "build/test_store_conflict.db";
    struct vt_store *s = fresh(path);
    struct vt_item two[2], got;
    struct vt_error err;
    size_t bad = 99;
    CHECK(s != NULL);
    if (!s)
        return;
    make_item(&two[0], "a", "Lamp", NULL, "Lighting");
    make_item(&two[1], "b", "Desk", NULL, "Office");
    CHECK_EQ_INT(vt_store_items_put(s, two, 2, VT_PUT_CREATE, &bad, &err), 0);

    /* "c" is new, "a" exists: the whole call fails and "c" is not stored */
    struct vt_item more[2];
    make_item(&more[0], "c", "Bed", NULL, "Bedroom");
    make_item(&more[1], "a", "Lamp 2", NULL, "Lighting");
    CHECK_EQ_INT(vt_store_items_put(s, more, 2, VT_PUT_CREATE, &bad, &err), VT_ECONFLICT);
    CHECK_EQ_INT(bad, 1);
    CHECK(strstr(err.message, "'a'") != NULL);
    CHECK_EQ_INT(vt_store_item_get(s, "c", &got), VT_ENOTFOUND);

    /* upsert keeps created_ms and sets updated_ms */
    CHECK_EQ_INT(vt_store_item_get(s, "a", &got), 0);
    int64_t created = got.created_ms;
    vt_item_reset(&got);
    usleep(20000);
    more[1].price = 19.0;
    more[1].has_price = 1;
    CHECK_EQ_INT(vt_store_items_put(s, more, 2, VT_PUT_UPSERT, &bad, &err), 0);
    CHECK_EQ_INT(vt_store_item_get(s, "a", &got), 0);
    CHECK_EQ_INT(got.created_ms, created);
    CHECK(got.updated_ms >= created + 20);
    CHECK_STR(json_string_value(json_object_get(got.title, "en")), "Lamp 2");
    CHECK_NEAR(got.price, 19.0, 1e-9);
    vt_item_reset(&got);
    CHECK_EQ_INT(vt_store_item_get(s, "c", &got), 0);
    vt_item_reset(&got);

    /* an over-long id is refused before it reaches the database */
    char longid[VT_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    struct vt_item big;
    make_item(&big, longid, "Too long", NULL, NULL);
    CHECK_EQ_INT(vt_store_items_put(s, &big, 1, VT_PUT_UPSERT, &bad, &err), VT_EINVAL);
    vt_item_reset(&big);

    struct vt_store_stats st;
    CHECK_EQ_INT(vt_store_stats(s, &st), 0);
    CHECK_EQ_INT(st.items, 3);

    CHECK_EQ_INT(vt_store_item_delete(s, "b"), 0);
    CHECK_EQ_INT(vt_store_item_get(s, "b", &got), VT_ENOTFOUND);
    CHECK_EQ_INT(vt_store_item_delete(s, "b"), VT_ENOTFOUND);
    CHECK_EQ_INT(vt_store_stats(s, &st), 0);
    CHECK_EQ_INT(st.items, 2);

    for (int i = 0; i < 2; i++) {
        vt_item_reset(&two[i]);
        vt_item_reset(&more[i]);
    }
    vt_store_close(s);
    rm_db(path);
}

TEST(list_pagination_covers_every_item_once)
{
    const char *path = "build/test_store_list.db";
    struct vt_store *s = fresh(path);
    enum { N = 250 };
    struct vt_item *items = vt_calloc(N, sizeof *items);
    struct vt_error err;
    size_t bad;
    int seen[N] = {0};
    CHECK(s != NULL && items != NULL);
    if (!s || !items)
        return;
    for (int i = 0; i < N; i++) {
        char id[32];
        /* not inserted in id order */
        snprintf(id, sizeof id, "item-%03d", (i * 7) % N);
        make_item(&items[i], id, "Thing", NULL, i % 2 ? "Kitchen" : "Bathroom");
    }
    CHECK_EQ_INT(vt_store_items_put(s, items, N, VT_PUT_CREATE, &bad, &err), 0);

    char after[VT_ID_MAX + 1] = "";
    int pages = 0, total = 0, more = 1;
    int sizes[4] = {0};
    while (more && pages < 4) {
        struct vt_item_query q = {.after_id = after[0] ? after : NULL, .limit = 100};
        struct vt_item *page = NULL;
        size_t n = 0;
        CHECK_EQ_INT(vt_store_items_list(s, &q, &page, &n, &more), 0);
        sizes[pages++] = (int)n;
        for (size_t i = 0; i < n; i++) {
            int k = atoi(page[i].id + 5);
            CHECK(k >= 0 && k < N);
            if (k >= 0 && k < N)
                seen[k]++;
            if (i > 0)
                CHECK(strcmp(page[i - 1].id, page[i].id) < 0);
        }
        total += (int)n;
        if (n)
            snprintf(after, sizeof after, "%s", page[n - 1].id);
        vt_items_free(page, n);
    }
    CHECK_EQ_INT(pages, 3);
    CHECK_EQ_INT(sizes[0], 100);
    CHECK_EQ_INT(sizes[1], 100);
    CHECK_EQ_INT(sizes[2], 50);
    CHECK_EQ_INT(more, 0);
    CHECK_EQ_INT(total, N);
    int once = 1;
    for (int i = 0; i < N; i++)
        once &= seen[i] == 1;
    CHECK(once);

    /* exactly limit items left: no phantom next page */
    struct vt_item_query q = {.after_id = "item-149", .limit = 100};
    struct vt_item *page = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_items_list(s, &q, &page, &n, &more), 0);
    CHECK_EQ_INT(n, 100);
    CHECK_EQ_INT(more, 0);
    vt_items_free(page, n);
    q.limit = 0;
    CHECK_EQ_INT(vt_store_items_list(s, &q, &page, &n, &more), VT_ERANGE);

    vt_items_free(items, N);
    vt_store_close(s);
    rm_db(path);
}

/* Ids returned by a list query, space-separated, in out. */
static int list_ids(struct vt_store *s, const char *category, const char *qtext, int hidden,
                    char *out, size_t outsz)
{
    struct vt_item_query q = {.category = category, .q = qtext, .limit = 1000,
                              .include_hidden = hidden};
    struct vt_item *items = NULL;
    size_t n = 0, off = 0;
    int more = 0;
    int rc = vt_store_items_list(s, &q, &items, &n, &more);
    out[0] = '\0';
    for (size_t i = 0; i < n && off < outsz; i++)
        off += (size_t)snprintf(out + off, outsz - off, "%s%s", i ? " " : "", items[i].id);
    vt_items_free(items, n);
    return rc;
}

TEST(list_filters_category_q_hidden)
{
    const char *path = "build/test_store_filters.db";
    struct vt_store *s = fresh(path);
    struct vt_item it[6];
    struct vt_error err;
    size_t bad;
    char ids[512];
    CHECK(s != NULL);
    if (!s)
        return;
    make_item(&it[0], "lr", "Rug", "地毯", "Living room");
    make_item(&it[1], "lr-sofa", "Green SOFA", "绿色沙发", "Living room/Sofas");
    make_item(&it[2], "lr-corner", "Corner sofa", "转角沙发", "Living room/Sofas/Corner");
    make_item(&it[3], "lrx", "Ottoman", NULL, "Living roomette");
    make_item(&it[4], "k1", "Kitchen chair", "厨房椅", "Kitchen");
    it[4].tags = json_pack("[s]", "Oak");
    make_item(&it[5], "secret-sofa", "Prototype sofa", "原型沙发", "Living room/Sofas");
    it[5].hidden = 1;
    CHECK_EQ_INT(vt_store_items_put(s, it, 6, VT_PUT_UPSERT, &bad, &err), 0);

    CHECK_EQ_INT(list_ids(s, "Living room", NULL, 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "lr lr-corner lr-sofa");
    CHECK_EQ_INT(list_ids(s, "Living room/Sofas", NULL, 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "lr-corner lr-sofa");
    CHECK_EQ_INT(list_ids(s, "Living room/", NULL, 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "lr lr-corner lr-sofa");
    CHECK_EQ_INT(list_ids(s, "Living", NULL, 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "");
    CHECK_EQ_INT(list_ids(s, "Living room", NULL, 1, ids, sizeof ids), 0);
    CHECK_STR(ids, "lr lr-corner lr-sofa secret-sofa");

    /* q: case-insensitive, any language, tags, ids */
    CHECK_EQ_INT(list_ids(s, NULL, "sofa", 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "lr-corner lr-sofa");
    CHECK_EQ_INT(list_ids(s, NULL, "SoFa", 1, ids, sizeof ids), 0);
    CHECK_STR(ids, "lr-corner lr-sofa secret-sofa");
    CHECK_EQ_INT(list_ids(s, NULL, "沙发", 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "lr-corner lr-sofa");
    CHECK_EQ_INT(list_ids(s, NULL, "绿色", 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "lr-sofa");
    CHECK_EQ_INT(list_ids(s, NULL, "oak", 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "k1");
    CHECK_EQ_INT(list_ids(s, NULL, "LRX", 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "lrx");
    CHECK_EQ_INT(list_ids(s, "Kitchen", "chair", 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "k1");
    CHECK_EQ_INT(list_ids(s, "Kitchen", "sofa", 0, ids, sizeof ids), 0);
    CHECK_STR(ids, "");
    CHECK_EQ_INT(list_ids(s, NULL, "%", 0, ids, sizeof ids), 0); /* no wildcard */
    CHECK_STR(ids, "");

    for (int i = 0; i < 6; i++)
        vt_item_reset(&it[i]);
    vt_store_close(s);
    rm_db(path);
}

static void put_items(struct vt_store *s, const char *const *ids, int n)
{
    struct vt_error err;
    size_t bad;
    for (int i = 0; i < n; i++) {
        struct vt_item it;
        make_item(&it, ids[i], ids[i], NULL, "Test");
        CHECK_EQ_INT(vt_store_items_put(s, &it, 1, VT_PUT_UPSERT, &bad, &err), 0);
        vt_item_reset(&it);
    }
}

TEST(events_append_and_read_back)
{
    const char *path = "build/test_store_events.db";
    struct vt_store *s = fresh(path);
    static const char *const ids[] = {"i1", "i2", "i3"};
    struct vt_event evs[5];
    struct vt_error err;
    size_t bad = 99;
    CHECK(s != NULL);
    if (!s)
        return;
    put_items(s, ids, 3);
    make_event(&evs[0], "u1", "i1", VT_EV_VIEW, 1, 1000);
    make_event(&evs[1], "u1", "i2", VT_EV_DWELL, 12.5, 2000);
    make_event(&evs[2], "u2", "i1", VT_EV_PURCHASE, 2, 3000);
    make_event(&evs[3], "u1", NULL, VT_EV_SEARCH, 1, 4000);
    evs[3].context = json_pack("{s:s,s:s}", "text", "绿色沙发", "session", "s-1");
    make_event(&evs[4], "u1", "i3", VT_EV_AR_PLACE, 1, 5000);
    evs[4].context = json_pack("{s:s}", "surface", "floor");
    CHECK_EQ_INT(vt_store_events_append(s, evs, 5, &bad, &err), 0);
    for (int i = 0; i < 5; i++)
        CHECK(evs[i].id > 0 && (i == 0 || evs[i].id > evs[i - 1].id));

    /* users are created on first sight */
    struct vt_user u;
    CHECK_EQ_INT(vt_store_user_get(s, "u2", &u), 0);
    CHECK_STR(u.id, "u2");
    CHECK(u.created_ms > 0);
    vt_user_reset(&u);

    struct vt_event *got = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_user_events(s, "u1", 0, 100, &got, &n), 0);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK_EQ_INT(got[0].id, evs[4].id); /* newest first */
        CHECK_EQ_INT(got[3].id, evs[0].id);
        CHECK_EQ_INT(got[0].type, VT_EV_AR_PLACE);
        CHECK_STR(json_string_value(json_object_get(got[0].context, "surface")), "floor");
        CHECK_EQ_INT(got[1].type, VT_EV_SEARCH);
        CHECK(got[1].item_id == NULL);
        CHECK_STR(json_string_value(json_object_get(got[1].context, "text")), "绿色沙发");
        CHECK_EQ_INT(got[2].type, VT_EV_DWELL);
        CHECK_NEAR(got[2].value, 12.5, 1e-9);
        CHECK_EQ_INT(got[2].ts_ms, 2000);
        CHECK_STR(got[2].item_id, "i2");
    }
    vt_events_free(got, n);

    /* paging backwards with before_id */
    CHECK_EQ_INT(vt_store_user_events(s, "u1", evs[3].id, 2, &got, &n), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(got[0].id, evs[1].id);
        CHECK_EQ_INT(got[1].id, evs[0].id);
    }
    vt_events_free(got, n);

    /* scan: ascending from a cursor */
    CHECK_EQ_INT(vt_store_events_scan(s, evs[1].id, 100, &got, &n), 0);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(got[0].id, evs[2].id);
        CHECK_STR(got[0].user_id, "u2");
        CHECK_EQ_INT(got[2].id, evs[4].id);
    }
    vt_events_free(got, n);
    CHECK_EQ_INT(vt_store_events_scan(s, evs[4].id, 100, &got, &n), 0);
    CHECK_EQ_INT(n, 0);
    vt_events_free(got, n);

    for (int i = 0; i < 5; i++)
        vt_event_reset(&evs[i]);
    vt_store_close(s);
    rm_db(path);
}

TEST(unknown_item_rejects_whole_call)
{
    const char *path = "build/test_store_unknown.db";
    struct vt_store *s = fresh(path);
    static const char *const ids[] = {"known"};
    struct vt_event evs[3];
    struct vt_error err;
    struct vt_store_stats st;
    size_t bad = 99;
    CHECK(s != NULL);
    if (!s)
        return;
    put_items(s, ids, 1);
    make_event(&evs[0], "new-user", "known", VT_EV_VIEW, 1, 1000);
    make_event(&evs[1], "new-user", "ghost-item", VT_EV_CLICK, 1, 1001);
    make_event(&evs[2], "new-user", "known", VT_EV_CLICK, 1, 1002);
    CHECK_EQ_INT(vt_store_events_append(s, evs, 3, &bad, &err), VT_EINVAL);
    CHECK_EQ_INT(bad, 1);
    CHECK(strstr(err.message, "ghost-item") != NULL);
    CHECK_STR(err.field, "item_id");
    CHECK_EQ_INT(vt_store_stats(s, &st), 0);
    CHECK_EQ_INT(st.events, 0);
    CHECK_EQ_INT(st.users, 0); /* not even the user was created */
    struct vt_user u;
    CHECK_EQ_INT(vt_store_user_get(s, "new-user", &u), VT_ENOTFOUND);

    /* an unknown type and a bad value are refused too */
    evs[1].type = VT_EV_COUNT;
    vt_free(evs[1].item_id);
    evs[1].item_id = NULL;
    CHECK_EQ_INT(vt_store_events_append(s, evs, 3, &bad, &err), VT_EINVAL);
    CHECK_EQ_INT(bad, 1);
    evs[1].type = VT_EV_CLICK;
    evs[1].value = NAN;
    CHECK_EQ_INT(vt_store_events_append(s, evs, 3, &bad, &err), VT_EINVAL);
    evs[1].value = 1;
    CHECK_EQ_INT(vt_store_events_append(s, evs, 3, &bad, &err), 0);
    CHECK_EQ_INT(vt_store_stats(s, &st), 0);
    CHECK_EQ_INT(st.events, 3);
    for (int i = 0; i < 3; i++)
        vt_event_reset(&evs[i]);
    vt_store_close(s);
    rm_db(path);
}

/* ---- concurrency ---------------------------------------------------------- */

enum { THREADS = 8, PER_THREAD = 500 };

struct worker {
    struct vt_store *s;
    int index;
    int failures;
    int64_t ids[PER_THREAD];
};

static void *append_worker(void *arg)
{
    struct worker *w = arg;
    char user[32];
    snprintf(user, sizeof user, "user-%d", w->index);
    for (int i = 0; i < PER_THREAD; i++) {
        struct vt_event ev;
        struct vt_error err;
        size_t bad;
        make_event(&ev, user, i % 3 ? "i1" : NULL, i % 3 ? VT_EV_VIEW : VT_EV_SEARCH, 1,
                   1000 + i);
        if (vt_store_events_append(w->s, &ev, 1, &bad, &err) != 0)
            w->failures++;
        w->ids[i] = ev.id;
        vt_event_reset(&ev);
    }
    return NULL;
}

/* Keeps sending batches naming an unknown item while the others append. */
static void *bad_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 200; i++) {
        struct vt_event ev[2];
        struct vt_error err;
        size_t bad;
        make_event(&ev[0], "bad-user", "i1", VT_EV_VIEW, 1, 1);
        make_event(&ev[1], "bad-user", "nope", VT_EV_VIEW, 1, 1);
        if (vt_store_events_append(w->s, ev, 2, &bad, &err) != VT_EINVAL)
            w->failures++;
        vt_event_reset(&ev[0]);
        vt_event_reset(&ev[1]);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

TEST(concurrent_appends_are_grouped)
{
    const char *path = "build/test_store_group.db";
    struct vt_store *s = fresh(path);
    static const char *const ids[] = {"i1"};
    static struct worker w[THREADS + 1];
    pthread_t th[THREADS + 1];
    struct vt_store_stats st0, st1;
    CHECK(s != NULL);
    if (!s)
        return;
    put_items(s, ids, 1);
    CHECK_EQ_INT(vt_store_stats(s, &st0), 0);
    for (int i = 0; i <= THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = s;
        w[i].index = i;
        pthread_create(&th[i], NULL, i < THREADS ? append_worker : bad_worker, &w[i]);
    }
    for (int i = 0; i <= THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(vt_store_stats(s, &st1), 0);

    int failures = 0;
    for (int i = 0; i <= THREADS; i++)
        failures += w[i].failures;
    CHECK_EQ_INT(failures, 0);
    CHECK_EQ_INT(st1.events, THREADS * PER_THREAD);
    int64_t commits = st1.commits - st0.commits;
    printf("  %d appends from %d threads in %lld commits\n", THREADS * PER_THREAD, THREADS,
           (long long)commits);
    CHECK(commits > 0 && commits < THREADS * PER_THREAD);

    /* ids unique, and each is the id of a stored event of that user */
    static int64_t all[THREADS * PER_THREAD];
    for (int i = 0; i < THREADS; i++)
        memcpy(all + i * PER_THREAD, w[i].ids, sizeof w[i].ids);
    qsort(all, THREADS * PER_THREAD, sizeof all[0], cmp_i64);
    int unique = all[0] > 0;
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        unique &= all[i] > all[i - 1];
    CHECK(unique);
    struct vt_event *got = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_user_events(s, "user-3", 0, 1000, &got, &n), 0);
    CHECK_EQ_INT(n, PER_THREAD);
    if (n == PER_THREAD)
        CHECK_EQ_INT(got[0].id, w[3].ids[PER_THREAD - 1]);
    vt_events_free(got, n);
    struct vt_user u;
    CHECK_EQ_INT(vt_store_user_get(s, "bad-user", &u), VT_ENOTFOUND);
    vt_store_close(s);
    rm_db(path);
}

TEST(lone_append_does_not_wait_for_company)
{
    const char *path = "build/test_store_lone.db";
    struct vt_store_options o = {.group_commit_us = 300000}; /* 0.3 s */
    struct vt_store *s = NULL;
    struct vt_error err;
    struct vt_event ev;
    size_t bad;
    rm_db(path);
    CHECK_EQ_INT(vt_store_open(path, &o, &s, &err), 0);
    if (!s)
        return;
    int64_t worst = 0;
    for (int i = 0; i < 5; i++) {
        make_event(&ev, "solo", NULL, VT_EV_SEARCH, 1, 1);
        int64_t t0 = vt_time_mono_ns();
        CHECK_EQ_INT(vt_store_events_append(s, &ev, 1, &bad, &err), 0);
        int64_t dt = vt_time_mono_ns() - t0;
        if (dt > worst)
            worst = dt;
        vt_event_reset(&ev);
    }
    CHECK(worst < 100 * 1000000LL);
    vt_store_close(s);
    rm_db(path);
}

/* ---- durability ------------------------------------------------------------- */

struct child_arg {
    struct vt_store *s;
    int fd;
};

static void *durable_writer(void *arg)
{
    struct child_arg *a = arg;
    for (int i = 0;; i++) {
        struct vt_event ev[3];
        struct vt_error err;
        size_t bad;
        int k = 1 + i % 3;
        for (int j = 0; j < k; j++)
            make_event(&ev[j], "crash-user", "i1", VT_EV_VIEW, 1, i);
        if (vt_store_events_append(a->s, ev, (size_t)k, &bad, &err) == 0) {
            for (int j = 0; j < k; j++)
                if (write(a->fd, &ev[j].id, sizeof ev[j].id) != sizeof ev[j].id)
                    _exit(3);
        }
        for (int j = 0; j < k; j++)
            vt_event_reset(&ev[j]);
    }
    return NULL;
}

TEST(acknowledged_events_survive_kill_9)
{
    const char *path = "build/test_store_crash.db";
    static const char *const ids[] = {"i1"};
    struct vt_store *s = fresh(path);
    int fds[2];
    CHECK(s != NULL);
    if (!s)
        return;
    put_items(s, ids, 1);
    vt_store_close(s);
    CHECK_EQ_INT(pipe(fds), 0);

    pid_t pid = fork();
    if (pid == 0) {
        struct vt_error err;
        struct child_arg a = {NULL, fds[1]};
        pthread_t th[4];
        close(fds[0]);
        if (vt_store_open(path, NULL, &a.s, &err) != 0)
            _exit(2);
        for (int i = 0; i < 4; i++)
            pthread_create(&th[i], NULL, durable_writer, &a);
        pthread_join(th[0], NULL);
        _exit(0);
    }
    close(fds[1]);
    CHECK(pid > 0);

    /* read acknowledgements until enough have arrived, then kill mid-stream */
    size_t cap = 1 << 16, n = 0;
    int64_t *acked = vt_malloc(cap * sizeof *acked);
    int killed = 0;
    for (;;) {
        int64_t id;
        ssize_t r = read(fds[0], &id, sizeof id);
        if (r == 0)
            break;
        if (r < 0 && errno == EINTR)
            continue;
        if (r != sizeof id)
            break;
        if (n == cap) {
            cap *= 2;
            acked = vt_realloc(acked, cap * sizeof *acked);
        }
        acked[n++] = id;
        if (!killed && n >= 2000) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK(killed);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* reopen: every acknowledged id must be there */
    struct vt_error err;
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), 0);
    if (s) {
        int64_t after = 0;
        size_t stored = 0, missing = 0;
        int64_t *all = vt_malloc((n + 100000) * sizeof *all);
        for (;;) {
            struct vt_event *page = NULL;
            size_t k = 0;
            if (vt_store_events_scan(s, after, 5000, &page, &k) != 0 || k == 0)
                break;
            for (size_t i = 0; i < k && stored < n + 100000; i++)
                all[stored++] = page[i].id;
            after = page[k - 1].id;
            vt_events_free(page, k);
        }
        for (size_t i = 0; i < n; i++)
            if (!bsearch(&acked[i], all, stored, sizeof *all, cmp_i64))
                missing++;
        printf("  %zu events acknowledged before kill -9, %zu stored, %zu missing\n", n,
               stored, missing);
        CHECK(n >= 2000);
        CHECK(stored >= n);
        CHECK_EQ_INT(missing, 0);
        vt_free(all);
        vt_store_close(s);
    }
    vt_free(acked);
    rm_db(path);
}

/* ---- users, keys, metadata, stats ------------------------------------------ */

/* 1 if the file at path holds the bytes of needle. */
static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 20, n = 0;
    char *buf;
    int found = 0;
    if (!f)
        return 0;
    buf = vt_malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        cap *= 2;
        char *nb = vt_realloc(buf, cap);
        if (!nb)
            break;
        buf = nb;
    }
    fclose(f);
    found = buf && memmem(buf, n, needle, strlen(needle)) != NULL;
    vt_free(buf);
    return found;
}

static int file_contains_wal(const char *path, const char *needle)
{
    char p[512];
    snprintf(p, sizeof p, "%s-wal", path);
    return file_contains(p, needle);
}

TEST(user_put_get_delete_forgets_events)
{
    const char *path = "build/test_store_users.db";
    struct vt_store *s = fresh(path);
    static const char *const ids[] = {"i1"};
    struct vt_user u, got;
    struct vt_event evs[3];
    struct vt_error err;
    size_t bad;
    CHECK(s != NULL);
    if (!s)
        return;
    put_items(s, ids, 1);
    vt_user_init(&u);
    u.id = vt_strdup("alice");
    u.attributes = json_pack("{s:s}", "city", "上海");
    u.consent = json_pack("{s:b,s:b}", "personalisation", 1, "ar_space", 0);
    CHECK_EQ_INT(vt_store_user_put(s, &u), 0);
    CHECK_EQ_INT(vt_store_user_get(s, "alice", &got), 0);
    CHECK(json_equal(got.attributes, u.attributes));
    CHECK(json_equal(got.consent, u.consent));
    vt_user_reset(&got);

    /* NULL members keep what is stored */
    json_decref(u.attributes);
    u.attributes = NULL;
    json_decref(u.consent);
    u.consent = json_pack("{s:b}", "personalisation", 0);
    CHECK_EQ_INT(vt_store_user_put(s, &u), 0);
    CHECK_EQ_INT(vt_store_user_get(s, "alice", &got), 0);
    CHECK_STR(json_string_value(json_object_get(got.attributes, "city")), "上海");
    CHECK(json_is_false(json_object_get(got.consent, "personalisation")));
    vt_user_reset(&got);

    make_event(&evs[0], "alice", "i1", VT_EV_VIEW, 1, 1);
    evs[0].context = json_pack("{s:s}", "text", "alice-secret-note");
    make_event(&evs[1], "bob", "i1", VT_EV_VIEW, 1, 2);
    make_event(&evs[2], "alice", "i1", VT_EV_CLICK, 1, 3);
    CHECK_EQ_INT(vt_store_events_append(s, evs, 3, &bad, &err), 0);

    CHECK_EQ_INT(vt_store_user_delete(s, "alice"), 0);
    CHECK_EQ_INT(vt_store_user_get(s, "alice", &got), VT_ENOTFOUND);
    struct vt_event *ev = NULL;
    size_t n = 9;
    CHECK_EQ_INT(vt_store_user_events(s, "alice", 0, 100, &ev, &n), 0);
    CHECK_EQ_INT(n, 0);
    vt_events_free(ev, n);
    CHECK_EQ_INT(vt_store_events_scan(s, 0, 100, &ev, &n), 0);
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK_STR(ev[0].user_id, "bob");
    vt_events_free(ev, n);
    CHECK_EQ_INT(vt_store_user_delete(s, "alice"), VT_ENOTFOUND);

    /* really forgotten: the bytes are gone from the files on disk */
    CHECK(!file_contains(path, "alice-secret-note"));
    CHECK(!file_contains_wal(path, "alice-secret-note"));

    /* a new event after deletion does not reuse a forgotten id */
    vt_event_reset(&evs[0]);
    make_event(&evs[0], "carol", "i1", VT_EV_VIEW, 1, 4);
    CHECK_EQ_INT(vt_store_events_append(s, evs, 1, &bad, &err), 0);
    CHECK(evs[0].id > evs[2].id);

    struct vt_store_stats st;
    CHECK_EQ_INT(vt_store_stats(s, &st), 0);
    CHECK_EQ_INT(st.users, 2);
    CHECK_EQ_INT(st.events, 2);
    CHECK_EQ_INT(st.items, 1);
    CHECK(st.db_bytes > 4096);

    for (int i = 0; i < 3; i++)
        vt_event_reset(&evs[i]);
    vt_user_reset(&u);
    vt_store_close(s);
    rm_db(path);
}

/* ---- the write-ahead log ---------------------------------------------------- */

static int64_t wal_bytes(const char *path)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s-wal", path);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* Commits no longer copy the log into the database themselves: without the
 * checkpointer thread these 2,000 commits would leave a -wal file of about
 * 60 MB. A user deletion must still empty the log while it works. */
TEST(checkpointer_keeps_the_log_bounded)
{
    enum { EVENTS = 20000, BATCH = 10 };
    const char *path = "build/test_store_wal.db";
    struct vt_store *s = fresh(path);
    static const char *const ids[] = {"i1"};
    struct vt_event evs[BATCH];
    struct vt_store_stats st;
    struct vt_error err;
    int64_t peak = 0;
    int failures = 0;
    size_t bad;
    CHECK(s != NULL);
    if (!s)
        return;
    put_items(s, ids, 1);
    for (int i = 0; i < EVENTS / BATCH; i++) {
        char user[32];
        snprintf(user, sizeof user, "wal-user-%d", i % 50);
        for (int j = 0; j < BATCH; j++)
            make_event(&evs[j], user, j % 2 ? "i1" : NULL, VT_EV_VIEW, 1, 1000 + i);
        if (i == 7)
            evs[0].context = json_pack("{s:s}", "text", "wal-secret-note");
        if (vt_store_events_append(s, evs, BATCH, &bad, &err) != 0)
            failures++;
        for (int j = 0; j < BATCH; j++)
            vt_event_reset(&evs[j]);
        int64_t w = wal_bytes(path);
        if (w > peak)
            peak = w;
    }
    CHECK_EQ_INT(vt_store_stats(s, &st), 0);
    printf("  %d events in %lld commits: the -wal file peaked at %.1f MB\n", EVENTS,
           (long long)st.commits, (double)peak / (1 << 20));
    CHECK_EQ_INT(failures, 0);
    CHECK_EQ_INT(st.events, EVENTS);
    CHECK(peak > 0);
    CHECK(peak <= 16 << 20);

    /* forgetting still empties the log, with the checkpointer around */
    CHECK_EQ_INT(vt_store_user_delete(s, "wal-user-7"), 0);
    CHECK_EQ_INT(wal_bytes(path), 0);
    CHECK(!file_contains_wal(path, "wal-secret-note"));
    CHECK(!file_contains(path, "wal-secret-note"));
    CHECK_EQ_INT(vt_store_stats(s, &st), 0);
    CHECK_EQ_INT(st.events, EVENTS - EVENTS / 50);
    vt_store_close(s);
    rm_db(path);
}

TEST(keys_and_meta)
{
    const char *path = "build/test_store_keys.db";
    struct vt_store *s = fresh(path);
    struct vt_key k, got, *list = NULL;
    size_t n = 0;
    CHECK(s != NULL);
    if (!s)
        return;
    memset(&k, 0, sizeof k);
    snprintf(k.id, sizeof k.id, "0123456789ab");
    k.scope = VT_SCOPE_INGEST;
    for (int i = 0; i < 32; i++)
        k.hash[i] = (unsigned char)(i * 7);
    snprintf(k.label, sizeof k.label, "importer");
    CHECK_EQ_INT(vt_store_key_add(s, &k), 0);
    CHECK_EQ_INT(vt_store_key_add(s, &k), VT_ECONFLICT);
    CHECK_EQ_INT(vt_store_key_get(s, "0123456789ab", &got), 0);
    CHECK_STR(got.id, "0123456789ab");
    CHECK_EQ_INT(got.scope, VT_SCOPE_INGEST);
    CHECK(memcmp(got.hash, k.hash, 32) == 0);
    CHECK_STR(got.label, "importer");
    CHECK(got.created_ms > 0);
    CHECK_EQ_INT(got.revoked, 0);

    snprintf(k.id, sizeof k.id, "ffffffffffff");
    k.scope = VT_SCOPE_PUBLIC;
    snprintf(k.label, sizeof k.label, "storefront");
    CHECK_EQ_INT(vt_store_key_add(s, &k), 0);
    k.scope = 7;
    CHECK_EQ_INT(vt_store_key_add(s, &k), VT_EINVAL);

    CHECK_EQ_INT(vt_store_key_revoke(s, "0123456789ab"), 0);
    CHECK_EQ_INT(vt_store_key_revoke(s, "nope"), VT_ENOTFOUND);
    CHECK_EQ_INT(vt_store_key_get(s, "nope", &got), VT_ENOTFOUND);
    CHECK_EQ_INT(vt_store_key_list(s, &list, &n), 0);
    CHECK_EQ_INT(n, 2);
    int revoked = 0, public_seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].id, "0123456789ab") == 0)
            revoked = list[i].revoked;
        if (strcmp(list[i].id, "ffffffffffff") == 0)
            public_seen = list[i].scope == VT_SCOPE_PUBLIC && !list[i].revoked;
    }
    CHECK(revoked && public_seen);
    vt_keys_free(list);

    /* metadata: binary-safe blobs, replaced on put */
    char *v = NULL;
    size_t len = 0;
    CHECK_EQ_INT(vt_store_meta_get(s, "secret", &v, &len), VT_ENOTFOUND);
    CHECK_EQ_INT(vt_store_meta_put(s, "secret", "a\0b", 3), 0);
    CHECK_EQ_INT(vt_store_meta_get(s, "secret", &v, &len), 0);
    CHECK_EQ_INT(len, 3);
    CHECK(v && memcmp(v, "a\0b", 4) == 0);
    vt_free(v);
    CHECK_EQ_INT(vt_store_meta_put(s, "secret", "model-v2", 8), 0);
    CHECK_EQ_INT(vt_store_meta_get(s, "secret", &v, &len), 0);
    CHECK_STR(v, "model-v2");
    vt_free(v);
    CHECK_EQ_INT(vt_store_meta_put(s, "empty", NULL, 0), 0);
    CHECK_EQ_INT(vt_store_meta_get(s, "empty", &v, &len), 0);
    CHECK_EQ_INT(len, 0);
    CHECK_STR(v, "");
    vt_free(v);
    vt_store_close(s);
    rm_db(path);
}

/* ---- memory ------------------------------------------------------------------ */

/* vt_alloc_size() gives back the size asked for; SQLite allocates through
 * the wrappers, so its caches show in bytes in use while a store is open,
 * and it returns all of them when the store closes. */
TEST(alloc_size_and_sqlite_memory)
{
    const char *path = "build/test_store_memory.db";
    char *p = vt_malloc(100), *q = vt_calloc(3, 7), *d = vt_strdup("chair");
    CHECK(p && q && d);
    CHECK_EQ_INT(vt_alloc_size(p), 100);
    CHECK_EQ_INT(vt_alloc_size(q), 21);
    CHECK_EQ_INT(vt_alloc_size(d), 6);
    CHECK_EQ_INT(vt_alloc_size(NULL), 0);
    p = vt_realloc(p, 5000);
    CHECK_EQ_INT(vt_alloc_size(p), 5000);
    p = vt_realloc(p, 1);
    CHECK_EQ_INT(vt_alloc_size(p), 1);
    vt_free(p);
    vt_free(q);
    vt_free(d);

    int64_t before = vt_alloc_bytes_in_use();
    struct vt_store *s = fresh(path);
    CHECK(s != NULL);
    if (s) {
        static const char *const ids[] = {"i1", "i2"};
        struct vt_item it;
        put_items(s, ids, 2);
        CHECK_EQ_INT(vt_store_item_get(s, "i2", &it), 0);
        vt_item_reset(&it);
        /* connections, prepared statements, page caches: far more than the
         * store's own few kilobytes */
        int64_t open_bytes = vt_alloc_bytes_in_use() - before;
        printf("  an open store holds %lld bytes\n", (long long)open_bytes);
        CHECK(open_bytes > 64 * 1024);
        vt_store_close(s);
    }
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
    rm_db(path);
}

/* ---- item embeddings (schema version 2) ---- */

/* An embedding of item/lang/model with dim values base, base + 1, ... */
static void make_emb(struct vt_embedding *e, const char *item, const char *lang,
                     const char *model, uint32_t dim, float base, uint64_t hash)
{
    memset(e, 0, sizeof *e);
    snprintf(e->item_id, sizeof e->item_id, "%s", item);
    snprintf(e->lang, sizeof e->lang, "%s", lang);
    snprintf(e->model_id, sizeof e->model_id, "%s", model);
    e->dim = dim;
    e->vector = vt_calloc(dim, sizeof(float));
    for (uint32_t i = 0; e->vector && i < dim; i++)
        e->vector[i] = base + (float)i;
    e->text_hash = hash;
}

static void free_embs(struct vt_embedding *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vt_free(v[i].vector);
}

static int64_t emb_count(struct vt_store *s, const char *model)
{
    int64_t n = -1;
    CHECK_EQ_INT(vt_store_embeddings_count(s, model, &n), 0);
    return n;
}

TEST(embeddings_put_get_scan_missing_and_cascade)
{
    const char *path = "build/test_store_emb.db";
    struct vt_store *s = fresh(path);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK(vt_store_schema_version(s) >= 2); /* 2 brought embeddings */
    static const char *const ids[] = {"a", "b", "c"};
    put_items(s, ids, 3);

    struct vt_embedding in[5];
    make_emb(&in[0], "a", "en", "m1", 4, 1.0f, 11);
    make_emb(&in[1], "a", "zh", "m1", 4, -2.5f, 12);
    make_emb(&in[2], "b", "en", "m1", 4, 0.25f, (uint64_t)-3); /* hash with the top bit */
    make_emb(&in[3], "b", "zh", "m1", 4, 7.0f, 14);
    make_emb(&in[4], "c", "en", "m2", 3, 9.0f, 15);
    size_t bad = 99;
    struct vt_error err;
    CHECK_EQ_INT(vt_store_embeddings_put(s, in, 5, &bad, &err), 0);
    CHECK_EQ_INT(emb_count(s, "m1"), 4);
    CHECK_EQ_INT(emb_count(s, "m2"), 1);

    /* one item: every language and model, vectors and hashes exact */
    struct vt_embedding *out = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_item_embeddings(s, "b", &out, &n), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STR(out[0].lang, "en");
        CHECK_STR(out[1].lang, "zh");
        CHECK_STR(out[0].model_id, "m1");
        CHECK_EQ_INT(out[0].dim, 4);
        CHECK(memcmp(out[0].vector, in[2].vector, 4 * sizeof(float)) == 0);
        CHECK(out[0].text_hash == (uint64_t)-3);
        CHECK(out[0].updated_ms > 0);
    }
    vt_embeddings_free(out, n);
    CHECK_EQ_INT(vt_store_item_embeddings(s, "nobody", &out, &n), 0);
    CHECK_EQ_INT(n, 0);

    /* scan of one model, one row a page: (item, lang) order, cursor exclusive */
    const char *want[][2] = {{"a", "en"}, {"a", "zh"}, {"b", "en"}, {"b", "zh"}};
    char after_item[VT_ID_MAX + 1] = "", after_lang[VT_LANG_MAX + 1] = "";
    int more = 1;
    size_t seen = 0;
    while (more && seen < 10) {
        CHECK_EQ_INT(vt_store_embeddings_scan(s, "m1", after_item, after_lang, 1, &out, &n,
                                              &more), 0);
        if (n != 1)
            break;
        if (seen < 4) {
            CHECK_STR(out[0].item_id, want[seen][0]);
            CHECK_STR(out[0].lang, want[seen][1]);
        }
        snprintf(after_item, sizeof after_item, "%s", out[0].item_id);
        snprintf(after_lang, sizeof after_lang, "%s", out[0].lang);
        vt_embeddings_free(out, n);
        seen++;
    }
    CHECK_EQ_INT(seen, 4);
    CHECK_EQ_INT(more, 0);
    CHECK_EQ_INT(vt_store_embeddings_scan(s, "m1", NULL, NULL, 0, &out, &n, &more), VT_ERANGE);

    /* items without any vector of a model */
    char **miss = NULL;
    CHECK_EQ_INT(vt_store_embeddings_missing(s, "m1", NULL, 10, &miss, &n, &more), 0);
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK_STR(miss[0], "c");
    vt_ids_free(miss, n);
    CHECK_EQ_INT(vt_store_embeddings_missing(s, "m2", "a", 1, &miss, &n, &more), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(more, 0);
    if (n == 1)
        CHECK_STR(miss[0], "b");
    vt_ids_free(miss, n);

    /* all or nothing: an unknown item, a bad language, a row given twice */
    struct vt_embedding more_in[2];
    make_emb(&more_in[0], "c", "zh", "m2", 3, 1.0f, 1);
    make_emb(&more_in[1], "ghost", "en", "m2", 3, 1.0f, 1);
    CHECK_EQ_INT(vt_store_embeddings_put(s, more_in, 2, &bad, &err), VT_ENOTFOUND);
    CHECK_EQ_INT(bad, 1);
    CHECK(strstr(err.message, "ghost") != NULL);
    CHECK_EQ_INT(emb_count(s, "m2"), 1);
    snprintf(more_in[1].item_id, sizeof more_in[1].item_id, "c");
    snprintf(more_in[1].lang, sizeof more_in[1].lang, "zh");
    CHECK_EQ_INT(vt_store_embeddings_put(s, more_in, 2, &bad, &err), VT_EINVAL);
    CHECK_EQ_INT(emb_count(s, "m2"), 1);
    snprintf(more_in[1].lang, sizeof more_in[1].lang, "e n");
    CHECK_EQ_INT(vt_store_embeddings_put(s, more_in, 2, &bad, &err), VT_EINVAL);
    CHECK_EQ_INT(bad, 1);
    more_in[1].dim = 0;
    snprintf(more_in[1].lang, sizeof more_in[1].lang, "fr");
    CHECK_EQ_INT(vt_store_embeddings_put(s, more_in, 2, &bad, &err), VT_EINVAL);
    free_embs(more_in, 2);

    /* deleting an item deletes its vectors */
    CHECK_EQ_INT(vt_store_item_delete(s, "a"), 0);
    CHECK_EQ_INT(emb_count(s, "m1"), 2);
    CHECK_EQ_INT(vt_store_item_embeddings(s, "a", &out, &n), 0);
    CHECK_EQ_INT(n, 0);
    /* an upsert of the item keeps them (its text may not have changed) */
    static const char *const b_only[] = {"b"};
    put_items(s, b_only, 1);
    CHECK_EQ_INT(emb_count(s, "m1"), 2);

    free_embs(in, 5);
    vt_store_close(s);
    rm_db(path);
}

TEST(embeddings_stale_replace_and_prune)
{
    const char *path = "build/test_store_emb2.db";
    struct vt_store *s = fresh(path);
    CHECK(s != NULL);
    if (!s)
        return;
    static const char *const ids[] = {"x", "y"};
    put_items(s, ids, 2);
    struct vt_embedding in[3];
    make_emb(&in[0], "x", "en", "m1", 2, 1.0f, 100);
    make_emb(&in[1], "x", "zh", "m1", 2, 2.0f, 200);
    make_emb(&in[2], "x", "en", "old", 2, 3.0f, 100);
    size_t bad;
    struct vt_error err;
    CHECK_EQ_INT(vt_store_embeddings_put(s, in, 3, &bad, &err), 0);

    struct vt_embedding_ref refs[4] = {
        {"x", "en", 100}, /* same text: fresh */
        {"x", "zh", 201}, /* text changed */
        {"y", "en", 5},   /* never embedded */
        {"y", "zh", 6},
    };
    uint8_t stale[4] = {9, 9, 9, 9};
    CHECK_EQ_INT(vt_store_embeddings_stale(s, "m1", refs, 4, stale), 0);
    CHECK_EQ_INT(stale[0], 0);
    CHECK_EQ_INT(stale[1], 1);
    CHECK_EQ_INT(stale[2], 1);
    CHECK_EQ_INT(stale[3], 1);
    /* x lost its Chinese text: its English ref is stale too, so x is stored whole */
    CHECK_EQ_INT(vt_store_embeddings_stale(s, "m1", refs, 1, stale), 0);
    CHECK_EQ_INT(stale[0], 1);
    /* another model knows nothing of these texts */
    refs[1].text_hash = 200;
    CHECK_EQ_INT(vt_store_embeddings_stale(s, "m1", refs, 2, stale), 0);
    CHECK(stale[0] == 0 && stale[1] == 0);
    CHECK_EQ_INT(vt_store_embeddings_stale(s, "m9", refs, 2, stale), 0);
    CHECK(stale[0] == 1 && stale[1] == 1);

    /* storing x's English alone for m1 replaces its set: the zh row goes,
     * the other model's row stays */
    struct vt_embedding en_only;
    make_emb(&en_only, "x", "en", "m1", 2, 5.0f, 101);
    CHECK_EQ_INT(vt_store_embeddings_put(s, &en_only, 1, &bad, &err), 0);
    struct vt_embedding *out = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_item_embeddings(s, "x", &out, &n), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STR(out[0].model_id, "m1");
        CHECK(out[0].vector[0] == 5.0f && out[0].text_hash == 101);
        CHECK_STR(out[1].model_id, "old");
    }
    vt_embeddings_free(out, n);

    int64_t deleted = -1;
    CHECK_EQ_INT(vt_store_embeddings_prune(s, "m1", &deleted), 0);
    CHECK_EQ_INT(deleted, 1);
    CHECK_EQ_INT(emb_count(s, "old"), 0);
    CHECK_EQ_INT(emb_count(s, "m1"), 1);
    free_embs(&en_only, 1);
    free_embs(in, 3);
    vt_store_close(s);
    rm_db(path);
}

/* The vector's bytes on disk are float32 little-endian, whatever the host. */
TEST(embedding_vector_bytes_are_float32_le)
{
    const char *path = "build/test_store_emb3.db";
    struct vt_store *s = fresh(path);
    CHECK(s != NULL);
    if (!s)
        return;
    static const char *const ids[] = {"v"};
    put_items(s, ids, 1);
    struct vt_embedding e;
    make_emb(&e, "v", "en", "m", 2, 1.0f, 1);
    e.vector[1] = -2.5f;
    size_t bad;
    struct vt_error err;
    CHECK_EQ_INT(vt_store_embeddings_put(s, &e, 1, &bad, &err), 0);
    free_embs(&e, 1);
    vt_store_close(s);

    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "SELECT vector, dim FROM item_embeddings", -1, &st,
                                    NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    static const unsigned char want[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0};
    CHECK_EQ_INT(sqlite3_column_bytes(st, 0), 8);
    CHECK(memcmp(sqlite3_column_blob(st, 0), want, 8) == 0);
    CHECK_EQ_INT(sqlite3_column_int(st, 1), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
    rm_db(path);
}

/* A database of schema version 1 (before embeddings) migrates to 2 and
 * keeps its items. */
TEST(migration_1_to_2_adds_embeddings)
{
    const char *path = "build/test_store_mig12.db";
    struct vt_store *s = fresh(path);
    CHECK(s != NULL);
    if (!s)
        return;
    static const char *const ids[] = {"old-1"};
    put_items(s, ids, 1);
    vt_store_close(s);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    /* back to version 1: without what versions 2 (embeddings) and 3 and 4
     * (impressions) added */
    CHECK_EQ_INT(sqlite3_exec(db, "DROP TABLE item_embeddings; DROP TABLE impression_lists; "
                              "DELETE FROM counts WHERE name = 'impressions'; "
                              "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* read-only cannot migrate: refused with a hint */
    struct vt_store_options ro = {0};
    ro.read_only = 1;
    struct vt_error err;
    s = NULL;
    CHECK_EQ_INT(vt_store_open(path, &ro, &s, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "migrate") != NULL);
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &err), 0);
    if (!s)
        return;
    CHECK(vt_store_schema_version(s) >= 2); /* the newest, past 2 */
    struct vt_item it;
    CHECK_EQ_INT(vt_store_item_get(s, "old-1", &it), 0);
    vt_item_reset(&it);
    struct vt_embedding e;
    make_emb(&e, "old-1", "en", "m", 3, 0.5f, 7);
    size_t bad;
    CHECK_EQ_INT(vt_store_embeddings_put(s, &e, 1, &bad, &err), 0);
    CHECK_EQ_INT(emb_count(s, "m"), 1);
    free_embs(&e, 1);
    vt_store_close(s);
    rm_db(path);
}

int main(void)
{
    vt_alloc_install_json();
    vt_log_set_level(VT_LOG_OFF);
    /* Taken before the first store opens: SQLite allocates through the
     * wrappers too, and gives everything back when its connections close. */
    int64_t baseline = vt_alloc_bytes_in_use();
    RUN(open_refuses_what_it_cannot_serve);
    RUN(migrations_fresh_and_reopen);
    RUN(item_round_trip_every_field);
    RUN(create_conflict_upsert_and_delete);
    RUN(list_pagination_covers_every_item_once);
    RUN(list_filters_category_q_hidden);
    RUN(events_append_and_read_back);
    RUN(unknown_item_rejects_whole_call);
    RUN(concurrent_appends_are_grouped);
    RUN(lone_append_does_not_wait_for_company);
    RUN(acknowledged_events_survive_kill_9);
    RUN(user_put_get_delete_forgets_events);
    RUN(checkpointer_keeps_the_log_bounded);
    RUN(keys_and_meta);
    RUN(alloc_size_and_sqlite_memory);
    RUN(embeddings_put_get_scan_missing_and_cascade);
    RUN(embeddings_stale_replace_and_prune);
    RUN(embedding_vector_bytes_are_float32_le);
    RUN(migration_1_to_2_adds_embeddings);
    test_current = "no_leaks";
    int before = test_failed_checks;
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), baseline);
    if (test_failed_checks == before)
        tests_passed++;
    else
        tests_failed++;
    return TEST_SUMMARY();
}
