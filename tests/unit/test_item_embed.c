/* test_item_embed.c - item embeddings (nn/item_embed.h) on a small store
 * with the real USE-Lite model: the text of an item per language, every
 * item and language embedded with the model id after an import, a changed
 * text re-embedded and nothing else, a lost language removed, a different
 * model (the same weights with one bit changed, so another model id)
 * re-embedding everything and removing the old vectors, items by id, and a
 * stopped sync. Needs data/models/use-lite and data/text (the fetch scripts
 * are run when they are missing). Databases and the altered model live
 * under build/. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/pool.h"
#include "nn/item_embed.h"
#include "store/import.h"
#include "test.h"

#define MODEL "data/models/use-lite"
#define TEXT_DIR "data/text"
#define OTHER_MODEL "build/test-item-embed-model"
#define DB "build/test_item_embed.db"
#define USE_ID "use-lite@0.2.0"
#define DIM 512

static struct vt_textenc *TE;

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void rm_db(const char *path)
{
    char p[512];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static struct vt_textenc *open_te(const char *model)
{
    struct vt_textenc_config cfg = {model, TEXT_DIR, 1};
    struct vt_textenc *te = NULL;
    CHECK_EQ_INT(vt_textenc_new(&cfg, &te), 0);
    return te;
}

/* A store holding the catalog below, imported as `vitrine import items`
 * does it. */
static const char CATALOG[] =
    "{\"id\":\"sofa-1\",\"title\":{\"en\":\"Black leather sofa\",\"zh\":\"黑色真皮沙发\"},"
    "\"description\":{\"en\":\"Three seats\"},\"category\":\"Living room/Sofas\","
    "\"tags\":[\"sofa\",\"black\"]}\n"
    "{\"id\":\"table-1\",\"title\":{\"en\":\"White wooden table\",\"zh\":\"白色木桌\"},"
    "\"category\":\"Dining room/Tables\",\"hidden\":true}\n"
    "{\"id\":\"lamp-1\",\"title\":{\"en\":\"Floor lamp\"}}\n"
    "{\"id\":\"bed-1\",\"title\":{\"zh\":\"双人床\"},\"description\":{\"zh\":\"实木\"}}\n";

static struct vt_store *fresh_store(void)
{
    struct vt_store *s = NULL;
    struct vt_error err;
    mkdir("build", 0755);
    rm_db(DB);
    CHECK_EQ_INT(vt_store_open(DB, NULL, &s, &err), 0);
    if (!s)
        return NULL;
    FILE *in = fmemopen((void *)CATALOG, sizeof CATALOG - 1, "r");
    struct vt_import_options o;
    struct vt_import_report r;
    memset(&o, 0, sizeof o);
    o.kind = VT_IMPORT_ITEMS;
    o.format = VT_IMPORT_JSONL;
    vt_limits_default(&o.limits);
    vt_import_report_init(&r);
    CHECK_EQ_INT(vt_import_run(s, in, &o, &r, &err), 0);
    CHECK_EQ_INT(r.imported, 4);
    vt_import_report_reset(&r);
    fclose(in);
    return s;
}

/* The stored vector of item/lang, or NULL (*model gets its model id). */
static struct vt_embedding *find(struct vt_embedding *v, size_t n, const char *lang,
                                 const char *model)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].lang, lang) == 0 && strcmp(v[i].model_id, model) == 0)
            return &v[i];
    return NULL;
}

static int64_t count(struct vt_store *s, const char *model)
{
    int64_t n = -1;
    CHECK_EQ_INT(vt_store_embeddings_count(s, model, &n), 0);
    return n;
}

TEST(item_texts_per_language)
{
    struct vt_item it;
    vt_item_init(&it);
    it.id = vt_strdup("s");
    it.title = json_pack("{s:s,s:s,s:s,s:s}", "zh", "黑色真皮沙发", "en", "Black sofa", "x y",
                         "not a language tag", "fr", "");
    it.description = json_pack("{s:s}", "en", "Soft.");
    it.category = vt_strdup("Living room/Sofas");
    it.tags = json_pack("[s,s]", "sofa", "black");
    struct vt_item_text *t = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_item_texts(&it, &t, &n), 0);
    CHECK_EQ_INT(n, 2); /* "x y" is no language tag, "fr" is empty */
    if (n == 2) {
        CHECK_STR(t[0].lang, "en");
        CHECK_STR(t[0].text, "Black sofa. Soft. Living room, Sofas. sofa, black");
        CHECK_STR(t[1].lang, "zh");
        CHECK_STR(t[1].text, "黑色真皮沙发. Living room, Sofas. sofa, black");
    }
    vt_item_texts_free(t, n);
    vt_item_reset(&it);
    CHECK(vt_item_text_hash("a", 1) != vt_item_text_hash("b", 1));
    CHECK(vt_item_text_hash("", 0) == 0xcbf29ce484222325ULL);
}

TEST(import_embeds_every_item_and_language)
{
    struct vt_store *s = fresh_store();
    struct vt_item_embed_report rep;
    struct vt_error err;
    if (!s)
        return;
    CHECK_EQ_INT(vt_item_embed_sync(s, TE, NULL, &rep, &err), 0);
    CHECK_STR(rep.model_id, USE_ID);
    CHECK_EQ_INT(rep.dim, DIM);
    CHECK_EQ_INT(rep.items, 4);
    CHECK_EQ_INT(rep.items_embedded, 4);
    CHECK_EQ_INT(rep.texts_embedded, 6);
    CHECK_EQ_INT(rep.failed, 0);
    CHECK_EQ_INT(count(s, USE_ID), 6);
    char **miss = NULL;
    size_t nm = 0;
    int more = 0;
    CHECK_EQ_INT(vt_store_embeddings_missing(s, USE_ID, NULL, 10, &miss, &nm, &more), 0);
    CHECK_EQ_INT(nm, 0);
    vt_ids_free(miss, nm);

    /* the stored vector is the pipeline's embedding of the item's text */
    struct vt_embedding *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_item_embeddings(s, "sofa-1", &v, &n), 0);
    CHECK_EQ_INT(n, 2);
    struct vt_embedding *zh = find(v, n, "zh", USE_ID), *en = find(v, n, "en", USE_ID);
    CHECK(zh && en);
    if (zh && en) {
        const char *t[] = {"黑色真皮沙发. Living room, Sofas. sofa, black",
                           "Black leather sofa. Three seats. Living room, Sofas. sofa, black"};
        float want[2 * DIM];
        CHECK_EQ_INT(vt_textenc_embed(TE, t, 2, want, NULL, &err), 0);
        CHECK_EQ_INT(zh->dim, DIM);
        CHECK(memcmp(zh->vector, want, DIM * sizeof(float)) == 0);
        CHECK(memcmp(en->vector, want + DIM, DIM * sizeof(float)) == 0);
        char *input = NULL;
        size_t len = 0;
        CHECK_EQ_INT(vt_textenc_prepare(TE, t[0], strlen(t[0]), NULL, &input, &len, NULL, &err),
                     0);
        CHECK(zh->text_hash == vt_item_text_hash(input, len));
        vt_free(input);
    }
    vt_embeddings_free(v, n);
    CHECK_EQ_INT(vt_store_item_embeddings(s, "bed-1", &v, &n), 0);
    CHECK(n == 1 && strcmp(v[0].lang, "zh") == 0);
    vt_embeddings_free(v, n);

    /* nothing changed: nothing embedded again */
    CHECK_EQ_INT(vt_item_embed_sync(s, TE, NULL, &rep, &err), 0);
    CHECK_EQ_INT(rep.items, 4);
    CHECK_EQ_INT(rep.items_embedded, 0);
    CHECK_EQ_INT(rep.texts_embedded, 0);
    vt_store_close(s);
}

static void put(struct vt_store *s, struct vt_item *it)
{
    size_t bad;
    struct vt_error err;
    CHECK_EQ_INT(vt_store_items_put(s, it, 1, VT_PUT_UPSERT, &bad, &err), 0);
}

TEST(changed_text_is_embedded_again_and_nothing_else)
{
    struct vt_store *s = fresh_store();
    struct vt_item_embed_report rep;
    struct vt_error err;
    struct vt_item it;
    if (!s)
        return;
    CHECK_EQ_INT(vt_item_embed_sync(s, TE, NULL, &rep, &err), 0);
    struct vt_embedding *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;
    CHECK_EQ_INT(vt_store_item_embeddings(s, "sofa-1", &before, &nb), 0);

    /* a new price: the text is the same, nothing to do */
    CHECK_EQ_INT(vt_store_item_get(s, "sofa-1", &it), 0);
    it.price = 999;
    it.has_price = 1;
    put(s, &it);
    CHECK_EQ_INT(vt_item_embed_sync(s, TE, NULL, &rep, &err), 0);
    CHECK_EQ_INT(rep.items_embedded, 0);

    /* a new Chinese title: that item is embedded again, whole */
    json_object_set_new(it.title, "zh", json_string("白色布艺沙发"));
    put(s, &it);
    CHECK_EQ_INT(vt_item_embed_sync(s, TE, NULL, &rep, &err), 0);
    CHECK_EQ_INT(rep.items_embedded, 1);
    CHECK_EQ_INT(rep.texts_embedded, 2);
    CHECK_EQ_INT(vt_store_item_embeddings(s, "sofa-1", &after, &na), 0);
    struct vt_embedding *z0 = find(before, nb, "zh", USE_ID), *z1 = find(after, na, "zh", USE_ID);
    struct vt_embedding *e0 = find(before, nb, "en", USE_ID), *e1 = find(after, na, "en", USE_ID);
    CHECK(z0 && z1 && e0 && e1);
    if (z0 && z1 && e0 && e1) {
        CHECK(z0->text_hash != z1->text_hash);
        CHECK(memcmp(z0->vector, z1->vector, DIM * sizeof(float)) != 0);
        CHECK(e0->text_hash == e1->text_hash);
        CHECK(memcmp(e0->vector, e1->vector, DIM * sizeof(float)) == 0);
    }
    vt_embeddings_free(after, na);

    /* the Chinese title removed: its vector goes */
    json_object_del(it.title, "zh");
    put(s, &it);
    CHECK_EQ_INT(vt_item_embed_sync(s, TE, NULL, &rep, &err), 0);
    CHECK_EQ_INT(rep.items_embedded, 1);
    CHECK_EQ_INT(vt_store_item_embeddings(s, "sofa-1", &after, &na), 0);
    CHECK(na == 1 && strcmp(after[0].lang, "en") == 0);
    vt_embeddings_free(after, na);
    vt_embeddings_free(before, nb);
    vt_item_reset(&it);

    /* by id: only the items named, unknown ids skipped */
    CHECK_EQ_INT(vt_store_item_get(s, "lamp-1", &it), 0);
    json_object_set_new(it.title, "en", json_string("Reading lamp"));
    put(s, &it);
    vt_item_reset(&it);
    const char *ids[] = {"lamp-1", "no-such-item", "bed-1"};
    CHECK_EQ_INT(vt_item_embed_ids(s, TE, ids, 3, &rep, &err), 0);
    CHECK_EQ_INT(rep.items, 2);
    CHECK_EQ_INT(rep.items_embedded, 1);
    CHECK_EQ_INT(count(s, USE_ID), 5);
    vt_store_close(s);
}

/* Copies the USE-Lite folder to OTHER_MODEL with the lowest bit of the last
 * weight flipped: the same graph, other weights, so another model id. */
static int make_other_model(void)
{
    static const char *const files[] = {
        "model.json",         "vocab.json",         "group1-shard1of7", "group1-shard2of7",
        "group1-shard3of7",   "group1-shard4of7",   "group1-shard5of7", "group1-shard6of7",
        "group1-shard7of7"};
    mkdir("build", 0755);
    mkdir(OTHER_MODEL, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[256], b[256], buf[1 << 16];
        snprintf(a, sizeof a, "%s/%s", MODEL, files[i]);
        snprintf(b, sizeof b, "%s/%s", OTHER_MODEL, files[i]);
        FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
        size_t k;
        if (!in || !out) {
            if (in)
                fclose(in);
            if (out)
                fclose(out);
            return -1;
        }
        while ((k = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, k, out);
        fclose(in);
        if (i + 1 == sizeof files / sizeof files[0]) {
            unsigned char c;
            long at = ftell(out) - 4; /* little-endian: the lowest byte of the last float */
            fflush(out);
            FILE *rw = fopen(b, "r+b");
            if (!rw || fseek(rw, at, SEEK_SET) || fread(&c, 1, 1, rw) != 1) {
                if (rw)
                    fclose(rw);
                fclose(out);
                return -1;
            }
            c ^= 1;
            fseek(rw, at, SEEK_SET);
            fwrite(&c, 1, 1, rw);
            fclose(rw);
        }
        fclose(out);
    }
    return 0;
}

TEST(another_model_reembeds_everything_and_removes_the_old)
{
    struct vt_store *s = fresh_store();
    struct vt_item_embed_report rep;
    struct vt_error err;
    if (!s)
        return;
    CHECK_EQ_INT(make_other_model(), 0);
    struct vt_textenc *other = open_te(OTHER_MODEL);
    struct vt_encoder_info info;
    if (!other) {
        vt_store_close(s);
        return;
    }
    CHECK_EQ_INT(vt_textenc_info(other, &info, &err), 0);
    CHECK(strncmp(info.model_id, "use-lite-", 9) == 0 && strcmp(info.model_id, USE_ID) != 0);
    char other_id[VT_MODEL_ID_MAX + 1];
    snprintf(other_id, sizeof other_id, "%s", info.model_id);

    CHECK_EQ_INT(vt_item_embed_sync(s, TE, NULL, &rep, &err), 0);
    CHECK_EQ_INT(count(s, USE_ID), 6);
    CHECK_EQ_INT(vt_item_embed_sync(s, other, NULL, &rep, &err), 0);
    CHECK_STR(rep.model_id, other_id);
    CHECK_EQ_INT(rep.items_embedded, 4);
    CHECK_EQ_INT(rep.texts_embedded, 6);
    CHECK_EQ_INT(rep.pruned, 6);
    CHECK_EQ_INT(count(s, other_id), 6);
    CHECK_EQ_INT(count(s, USE_ID), 0);
    struct vt_embedding *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_store_item_embeddings(s, "table-1", &v, &n), 0);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++)
        CHECK_STR(v[i].model_id, other_id);
    vt_embeddings_free(v, n);

    /* and back: every item again, the other model's vectors gone */
    CHECK_EQ_INT(vt_item_embed_sync(s, TE, NULL, &rep, &err), 0);
    CHECK_EQ_INT(rep.items_embedded, 4);
    CHECK_EQ_INT(count(s, other_id), 0);
    CHECK_EQ_INT(count(s, USE_ID), 6);
    vt_textenc_free(other);
    vt_store_close(s);
}

TEST(stopped_sync_keeps_other_models_and_missing_model_writes_nothing)
{
    struct vt_store *s = fresh_store();
    struct vt_item_embed_report rep;
    struct vt_error err;
    if (!s)
        return;
    /* a vector of an older model, then a sync stopped before its first batch */
    struct vt_embedding old;
    memset(&old, 0, sizeof old);
    snprintf(old.item_id, sizeof old.item_id, "lamp-1");
    snprintf(old.lang, sizeof old.lang, "en");
    snprintf(old.model_id, sizeof old.model_id, "older-model");
    float x[2] = {1, 0};
    old.dim = 2;
    old.vector = x;
    size_t bad;
    CHECK_EQ_INT(vt_store_embeddings_put(s, &old, 1, &bad, &err), 0);
    atomic_int stop;
    atomic_init(&stop, 1);
    struct vt_item_embed_options o = {NULL, 0, &stop};
    CHECK_EQ_INT(vt_item_embed_sync(s, TE, &o, &rep, &err), 0);
    CHECK_EQ_INT(rep.stopped, 1);
    CHECK_EQ_INT(count(s, "older-model"), 1);
    CHECK_EQ_INT(count(s, USE_ID), 0);

    struct vt_textenc *none = open_te("build/no-such-model");
    if (none) {
        vt_error_clear(&err);
        CHECK_EQ_INT(vt_item_embed_sync(s, none, NULL, &rep, &err), VT_EUNAVAIL);
        CHECK(strstr(err.message, "no-such-model") != NULL);
        CHECK_EQ_INT(count(s, "older-model"), 1);
        vt_textenc_free(none);
    }
    vt_store_close(s);
    rm_db(DB);
}

static void fetch_if_missing(void)
{
    if (!exists(MODEL "/model.json")) {
        fprintf(stderr, "test_item_embed: %s missing, running scripts/fetch-models\n", MODEL);
        if (system("scripts/fetch-models") != 0)
            fprintf(stderr, "test_item_embed: scripts/fetch-models failed\n");
    }
    if (!exists(TEXT_DIR "/jieba/dict.txt") || !exists(TEXT_DIR "/cedict/cedict_ts.u8")) {
        fprintf(stderr, "test_item_embed: %s missing, running scripts/fetch-text-data\n",
                TEXT_DIR);
        if (system("scripts/fetch-text-data") != 0)
            fprintf(stderr, "test_item_embed: scripts/fetch-text-data failed\n");
    }
}

int main(void)
{
    vt_alloc_install_json();
    vt_log_set_level(VT_LOG_WARN);
    fetch_if_missing();
    vt_pool_shared(); /* lives until exit: not a leak */
    int64_t baseline = vt_alloc_bytes_in_use();
    TE = open_te(MODEL);
    struct vt_error err;
    test_current = "load";
    vt_error_clear(&err);
    CHECK(TE && vt_textenc_load_model(TE, &err) == 0 && vt_textenc_load_text(TE, &err) == 0);
    if (test_failed_checks) {
        fprintf(stderr, "  cannot load the model or the text data: %s\n", err.message);
        tests_failed++;
        return TEST_SUMMARY();
    }
    RUN(item_texts_per_language);
    RUN(import_embeds_every_item_and_language);
    RUN(changed_text_is_embedded_again_and_nothing_else);
    RUN(another_model_reembeds_everything_and_removes_the_old);
    RUN(stopped_sync_keeps_other_models_and_missing_model_writes_nothing);
    vt_textenc_free(TE);
    test_current = "no_leaks";
    int before = test_failed_checks;
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), baseline);
    if (test_failed_checks == before)
        tests_passed++;
    else
        tests_failed++;
    return TEST_SUMMARY();
}
