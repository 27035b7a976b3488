/* test_pipeline.c - the text pipeline (text/pipeline.h) on the real
 * USE-Lite model and text data: the bridge puts Chinese near its English,
 * --no-bridge is the model's raw output, the probe tells a model with
 * Chinese pieces from one without, analyses, clear errors for bad text and
 * missing data, lazy loading from many threads. Needs data/models/use-lite
 * and data/text (the fetch scripts are run when they are missing) and the
 * tiny BERT of tests/golden/bert/tiny/hf. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/util.h"
#include "nn/encoder.h"
#include "text/pipeline.h"
#include "test.h"

#define MODEL "data/models/use-lite"
#define TEXT_DIR "data/text"
#define TINY_BERT "tests/golden/bert/tiny/hf"
#define DIM 512

static struct vt_textenc *TE; /* shared: USE-Lite, bridge on */

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static struct vt_textenc *open_te(const char *model, const char *text_dir, int bridge)
{
    struct vt_textenc_config cfg = {model, text_dir, bridge};
    struct vt_textenc *te = NULL;
    CHECK_EQ_INT(vt_textenc_new(&cfg, &te), 0);
    return te;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / (sqrt(na) * sqrt(nb) + 1e-30);
}

TEST(bridge_brings_chinese_next_to_its_english)
{
    static const char *const t[] = {"黑色真皮沙发", "black leather sofa", "white wooden table",
                                    "适合小客厅的茶几", "coffee table for a small living room",
                                    "king size bed frame"};
    float v[6 * DIM], raw[6 * DIM];
    struct vt_error err;
    struct vt_textenc_opts nb = {.no_bridge = 1};
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 6, v, NULL, &err), 0);
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 6, raw, &nb, &err), 0);
    double near = cosine(v, v + DIM, DIM), far = cosine(v, v + 2 * DIM, DIM);
    double raw_near = cosine(raw, raw + DIM, DIM), raw_far = cosine(raw, raw + 2 * DIM, DIM);
    printf("  黑色真皮沙发: bridged cos %.3f to 'black leather sofa', %.3f to 'white wooden "
           "table'; raw %.3f / %.3f\n", near, far, raw_near, raw_far);
    CHECK(near >= 0.9);
    CHECK(near - far >= 0.3);
    CHECK(raw_near < 0.6); /* the model alone cannot read it */
    double q_near = cosine(v + 3 * DIM, v + 4 * DIM, DIM);
    double q_far = cosine(v + 3 * DIM, v + 5 * DIM, DIM);
    printf("  适合小客厅的茶几: cos %.3f to the coffee table, %.3f to the bed frame\n", q_near,
           q_far);
    CHECK(q_near - q_far >= 0.25);
    CHECK_EQ_INT(vt_textenc_bridges(TE, &err), 1);
    CHECK_EQ_INT(vt_textenc_reads_chinese(TE, &err), 0);

    char *input = NULL;
    int bridged = 0;
    CHECK_EQ_INT(vt_textenc_prepare(TE, t[0], strlen(t[0]), NULL, &input, NULL, &bridged, &err),
                 0);
    CHECK_STR(input, "Black leather sofa"); /* sentence case, as catalogs write names */
    CHECK_EQ_INT(bridged, 1);
    vt_free(input);
}

TEST(no_bridge_is_the_raw_model_output)
{
    static const char *const t[] = {"黑色真皮沙发", "sofa 沙发 black 黑色", "  two  spaces  ",
                                    "Ｈｅｌｌｏ", "", "emoji 🛋️ sofa"};
    const size_t n = sizeof t / sizeof t[0];
    float a[6 * DIM], b[6 * DIM], c[6 * DIM];
    struct vt_encoder *enc = NULL;
    struct vt_error err;
    struct vt_textenc_opts nb = {.no_bridge = 1};
    CHECK_EQ_INT(vt_encoder_open(MODEL, &enc, &err), 0);
    if (!enc)
        return;
    CHECK_EQ_INT(vt_encoder_encode(enc, t, n, a, &err), 0);
    CHECK_EQ_INT(vt_textenc_embed(TE, t, n, b, &nb, &err), 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* the default path does change them: bridged, spaces collapsed */
    CHECK_EQ_INT(vt_textenc_embed(TE, t, n, c, NULL, &err), 0);
    CHECK(memcmp(a, c, DIM * sizeof(float)) != 0);
    CHECK(memcmp(a + 2 * DIM, c + 2 * DIM, DIM * sizeof(float)) != 0);
    /* ids with no bridge are the model's own tokenisation */
    int32_t *ids = NULL, *ref = NULL;
    size_t nids = 0, nref = 0;
    CHECK_EQ_INT(vt_textenc_tokenize(TE, t[1], strlen(t[1]), &nb, &ids, &nids, &err), 0);
    CHECK_EQ_INT(vt_encoder_tokenize(enc, t[1], strlen(t[1]), &ref, &nref, &err), 0);
    CHECK(nids == nref && nids > 0 && memcmp(ids, ref, nids * sizeof *ids) == 0);
    vt_free(ids);
    vt_free(ref);
    vt_encoder_free(enc);
}

TEST(cleaning_folds_width_and_spaces)
{
    static const char *const t[] = {"Ｂｌａｃｋ　ｓｏｆａ", "Black sofa", " Black \t\n sofa "};
    float v[3 * DIM];
    struct vt_error err;
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 3, v, NULL, &err), 0);
    CHECK(memcmp(v, v + DIM, DIM * sizeof(float)) == 0);
    CHECK(memcmp(v, v + 2 * DIM, DIM * sizeof(float)) == 0);
}

static json_t *analyze(const char *text)
{
    json_t *out = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_textenc_analyze(TE, text, strlen(text), &out, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  analyze '%s': %s\n", text, err.message);
    return out;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int has_keyword(const json_t *a, const char *word)
{
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(a, "keywords"), i, k)
        if (json_is_string(json_object_get(k, "word")) &&
            strcmp(jstr(k, "word"), word) == 0 && json_real_value(json_object_get(k, "score")) > 0)
            return 1;
    return 0;
}

TEST(analyze_language_keywords_attributes)
{
    json_t *a = analyze("颜色：黑色，尺码：42");
    if (a) {
        json_t *at = json_object_get(a, "attributes");
        CHECK_STR(jstr(a, "language"), "zh");
        CHECK_STR(jstr(a, "clean"), "颜色:黑色,尺码:42");
        CHECK_STR(jstr(at, "colour"), "black");
        CHECK_STR(jstr(at, "size"), "42");
        CHECK(json_is_array(json_object_get(at, "matches")));
        CHECK(json_is_string(json_object_get(a, "bridged")));
        json_decref(a);
    }
    a = analyze("Black LEATHER sofa under 2000");
    if (a) {
        json_t *at = json_object_get(a, "attributes");
        CHECK_STR(jstr(a, "language"), "en");
        CHECK_STR(jstr(a, "clean"), "black leather sofa under 2000");
        CHECK(has_keyword(a, "leather") && has_keyword(a, "sofa"));
        CHECK_STR(jstr(at, "material"), "leather");
        CHECK_NEAR(json_number_value(json_object_get(at, "price_max")), 2000, 1e-9);
        CHECK(json_object_get(a, "bridged") == NULL); /* no Han: nothing to bridge */
        json_decref(a);
    }
    a = analyze("适合小客厅的茶几");
    if (a) {
        CHECK(has_keyword(a, "茶几") && has_keyword(a, "客厅"));
        CHECK(strstr(jstr(a, "bridged"), "coffee table") != NULL);
        json_decref(a);
    }
    a = analyze("  !!! 42 ");
    if (a) {
        CHECK_STR(jstr(a, "language"), "unknown");
        CHECK_EQ_INT(json_array_size(json_object_get(a, "keywords")), 0);
        json_decref(a);
    }
}

TEST(learning_the_catalog_extends_the_attributes)
{
    json_t *a = analyze("nordhus sofa");
    CHECK(a && json_object_get(json_object_get(a, "attributes"), "brand") == NULL);
    json_decref(a);
    struct vt_item it;
    vt_item_init(&it);
    it.id = vt_strdup("sofa-7");
    it.title = json_pack("{s:s}", "en", "Nordhus corner sofa");
    it.attributes = json_pack("{s:s}", "brand", "Nordhus");
    CHECK_EQ_INT(vt_textenc_learn_item(TE, &it), 0);
    vt_item_reset(&it);
    a = analyze("Nordhus sofa");
    const char *brand = a ? jstr(json_object_get(a, "attributes"), "brand") : NULL;
    CHECK_STR(brand, "nordhus");
    json_decref(a);
}

TEST(bad_text_gives_clear_errors)
{
    static const char bad[] = "ok \xff\xfe no";
    const char *t[] = {"fine", bad};
    float v[2 * DIM];
    struct vt_error err;
    struct vt_textenc_opts nb = {.no_bridge = 1};
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 2, v, NULL, &err), VT_EINVAL);
    CHECK(strncmp(err.message, "text 1: ", 8) == 0);
    CHECK(strstr(err.message, "UTF-8") != NULL);
    CHECK_EQ_INT(err.offset, 3);
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 2, v, &nb, &err), VT_EINVAL);
    CHECK(strstr(err.message, "text 1") != NULL);
    json_t *out = NULL;
    CHECK_EQ_INT(vt_textenc_analyze(TE, bad, sizeof bad - 1, &out, &err), VT_EINVAL);
    CHECK(out == NULL);
    char *input = NULL;
    CHECK_EQ_INT(vt_textenc_prepare(TE, "a\0b", 3, &nb, &input, NULL, NULL, &err), VT_EINVAL);
    CHECK(strstr(err.message, "NUL") != NULL);

    /* one byte over 1 MiB: refused with the limit named; 1 MB is read */
    size_t big = VT_TEXTENC_MAX_TEXT + 1;
    char *s = vt_malloc(big + 1);
    CHECK(s != NULL);
    if (!s)
        return;
    for (size_t i = 0; i < big; i++)
        s[i] = "sofa table "[i % 11];
    s[big] = '\0';
    t[1] = s;
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 2, v, NULL, &err), VT_ETOOBIG);
    CHECK(strstr(err.message, "text 1: ") && strstr(err.message, "1048577 bytes") &&
          strstr(err.message, "limit is 1048576"));
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 2, v, &nb, &err), VT_ETOOBIG);
    CHECK_EQ_INT(vt_textenc_analyze(TE, s, big, &out, &err), VT_ETOOBIG);
    s[1000000] = '\0';
    int64_t t0 = vt_time_mono_ns();
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 2, v, NULL, &err), 0);
    printf("  a 1,000,000-byte text embeds in %.0f ms\n", (vt_time_mono_ns() - t0) / 1e6);
    CHECK(fabs(cosine(v + DIM, v + DIM, DIM) - 1) < 1e-5);
    vt_free(s);
}

TEST(missing_model_or_text_data_is_unavailable)
{
    struct vt_textenc *te = open_te("build/no-such-model", TEXT_DIR, 1);
    struct vt_error err;
    float v[DIM];
    const char *t[] = {"sofa"};
    if (!te)
        return;
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_textenc_embed(te, t, 1, v, NULL, &err), VT_EUNAVAIL);
    CHECK(strstr(err.message, "build/no-such-model") && strstr(err.message, "fetch-models"));
    /* remembered, not retried: the same answer */
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_textenc_load_model(te, &err), VT_EUNAVAIL);
    CHECK(strstr(err.message, "fetch-models") != NULL);
    /* the analysis does not need the model */
    json_t *a = NULL;
    CHECK_EQ_INT(vt_textenc_analyze(te, "黑色沙发", strlen("黑色沙发"), &a, &err), 0);
    json_decref(a);
    vt_textenc_free(te);

    te = open_te(MODEL, "build/no-such-text", 1);
    if (!te)
        return;
    t[0] = "black sofa"; /* English needs no text data */
    CHECK_EQ_INT(vt_textenc_embed(te, t, 1, v, NULL, &err), 0);
    t[0] = "黑色沙发";
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_textenc_embed(te, t, 1, v, NULL, &err), VT_EUNAVAIL);
    CHECK(strstr(err.message, "fetch-text-data") != NULL);
    CHECK_EQ_INT(vt_textenc_analyze(te, "sofa", 4, &a, &err), VT_EUNAVAIL);
    vt_textenc_free(te);

    /* with the bridge off, Chinese goes to the model as it is */
    te = open_te(MODEL, "build/no-such-text", 0);
    if (!te)
        return;
    CHECK_EQ_INT(vt_textenc_embed(te, t, 1, v, NULL, &err), 0);
    CHECK_EQ_INT(vt_textenc_bridges(te, &err), 0);
    vt_textenc_free(te);
}

/* Copies src/name to dst/name, replacing vocabulary lines first..first+n-1
 * (1-based) by the words of repl when repl is not NULL. */
static int copy_file(const char *src, const char *dst, const char *name,
                     const char *const *repl, int first, int n)
{
    char a[512], b[512], line[1024];
    snprintf(a, sizeof a, "%s/%s", src, name);
    snprintf(b, sizeof b, "%s/%s", dst, name);
    FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
    int ok = in && out, no = 0;
    if (ok && !repl) {
        size_t k;
        char buf[65536];
        while ((k = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, k, out);
    }
    while (ok && repl && fgets(line, sizeof line, in)) {
        no++;
        if (no >= first && no < first + n)
            fprintf(out, "%s\n", repl[no - first]);
        else
            fputs(line, out);
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return ok ? 0 : -1;
}

TEST(probe_tells_a_chinese_vocabulary_apart)
{
    /* the probe's characters the tiny vocabulary lacks (it has 的 一 我 大) */
    static const char *const zh[] = {"是", "不", "了", "人", "在", "有", "这", "中", "上", "国"};
    static const char *const files[] = {"config.json", "model.safetensors",
                                        "tokenizer_config.json"};
    const char *dir = "build/test-pipeline-bert-zh";
    struct vt_error err;
    CHECK(exists(TINY_BERT "/vocab.txt"));
    if (!exists(TINY_BERT "/vocab.txt")) {
        fprintf(stderr, "  %s is missing\n", TINY_BERT);
        return;
    }
    /* the tiny BERT knows a handful of furniture characters: not Chinese */
    struct vt_textenc *te = open_te(TINY_BERT, TEXT_DIR, 1);
    if (!te)
        return;
    CHECK_EQ_INT(vt_textenc_reads_chinese(te, &err), 0);
    vt_textenc_free(te);

    /* the same weights with the commonest characters in the vocabulary */
    mkdir("build", 0755);
    mkdir(dir, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (exists(TINY_BERT "/tokenizer_config.json") || strcmp(files[i], "tokenizer_config.json"))
            CHECK_EQ_INT(copy_file(TINY_BERT, dir, files[i], NULL, 0, 0), 0);
    CHECK_EQ_INT(copy_file(TINY_BERT, dir, "vocab.txt", zh, 200, 10), 0);
    te = open_te(dir, TEXT_DIR, 1);
    if (!te)
        return;
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_textenc_reads_chinese(te, &err), 1);
    if (err.message[0])
        fprintf(stderr, "  %s\n", err.message);
    CHECK_EQ_INT(vt_textenc_bridges(te, &err), 0);
    char *input = NULL;
    int bridged = 1;
    CHECK_EQ_INT(vt_textenc_prepare(te, "中国人", strlen("中国人"), NULL, &input, NULL, &bridged,
                                    &err), 0);
    CHECK_STR(input, "中国人");
    CHECK_EQ_INT(bridged, 0);
    vt_free(input);
    vt_textenc_free(te);
}

struct worker_arg {
    struct vt_textenc *te;
    float v[DIM];
    int rc;
};

static void *embed_worker(void *p)
{
    struct worker_arg *a = p;
    const char *t[] = {"黑色真皮沙发"};
    a->rc = vt_textenc_embed(a->te, t, 1, a->v, NULL, NULL);
    return NULL;
}

TEST(lazy_loading_is_once_and_thread_safe)
{
    struct vt_textenc *te = open_te(MODEL, TEXT_DIR, 1);
    struct worker_arg args[4];
    pthread_t th[4];
    if (!te)
        return;
    for (int i = 0; i < 4; i++) {
        args[i].te = te;
        pthread_create(&th[i], NULL, embed_worker, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(args[i].rc, 0);
        CHECK(memcmp(args[i].v, args[0].v, sizeof args[0].v) == 0);
    }
    float ref[DIM];
    const char *t[] = {"Black leather sofa"};
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 1, ref, NULL, NULL), 0);
    CHECK(memcmp(ref, args[0].v, sizeof ref) == 0);
    vt_textenc_free(te);
}

/* What the bridge makes of Chinese for USE-Lite: the longest word
 * CC-CEDICT knows over jieba's pieces, and sentence case, so that a Chinese
 * name reads exactly like a catalog's English one. */
TEST(bridged_text_follows_the_catalog_convention)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"转角沙发", "Corner sofa"},
        {"我想给孩子买一张上下铺", "I want for child buy bunk bed"},
        {"iPhone 15 Pro手机壳", "iPhone 15 Pro cell phone shell"},
        {"沙发。茶几", "Sofa. Coffee table"},
        {"black leather sofa", "black leather sofa"}, /* English as written */
    };
    struct vt_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *input = NULL;
        CHECK_EQ_INT(vt_textenc_prepare(TE, cases[i].in, strlen(cases[i].in), NULL, &input,
                                        NULL, NULL, &err),
                     0);
        CHECK_STR(input, cases[i].want);
        vt_free(input);
    }
    /* So the Chinese name and the catalog's English name are one vector,
     * while the lower-case phrase is not. */
    const char *t[] = {"转角沙发", "Corner sofa", "corner sofa"};
    float v[3 * DIM];
    CHECK_EQ_INT(vt_textenc_embed(TE, t, 3, v, NULL, &err), 0);
    CHECK(memcmp(v, v + DIM, DIM * sizeof(float)) == 0);
    CHECK(memcmp(v, v + 2 * DIM, DIM * sizeof(float)) != 0);
    /* The analysis shows the same bridged text. */
    json_t *a = NULL;
    CHECK_EQ_INT(vt_textenc_analyze(TE, "转角沙发", strlen("转角沙发"), &a, &err), 0);
    CHECK_STR(a ? json_string_value(json_object_get(a, "bridged")) : NULL, "Corner sofa");
    json_decref(a);
}

static void fetch_if_missing(void)
{
    if (!exists(MODEL "/model.json")) {
        fprintf(stderr, "test_pipeline: %s missing, running scripts/fetch-models\n", MODEL);
        if (system("scripts/fetch-models") != 0)
            fprintf(stderr, "test_pipeline: scripts/fetch-models failed\n");
    }
    if (!exists(TEXT_DIR "/jieba/dict.txt") || !exists(TEXT_DIR "/cedict/cedict_ts.u8")) {
        fprintf(stderr, "test_pipeline: %s missing, running scripts/fetch-text-data\n",
                TEXT_DIR);
        if (system("scripts/fetch-text-data") != 0)
            fprintf(stderr, "test_pipeline: scripts/fetch-text-data failed\n");
    }
}

int main(void)
{
    vt_alloc_install_json();
    vt_log_set_level(VT_LOG_WARN);
    fetch_if_missing();
    /* The kernels' shared thread pool lives until exit: start it first. */
    vt_pool_shared();
    int64_t baseline = vt_alloc_bytes_in_use();
    TE = open_te(MODEL, TEXT_DIR, 1);
    struct vt_error err;
    test_current = "load";
    vt_error_clear(&err);
    CHECK(TE && vt_textenc_load_model(TE, &err) == 0 && vt_textenc_load_text(TE, &err) == 0);
    if (test_failed_checks) {
        fprintf(stderr, "  cannot load the model or the text data: %s\n", err.message);
        tests_failed++;
        return TEST_SUMMARY();
    }
    RUN(bridge_brings_chinese_next_to_its_english);
    RUN(no_bridge_is_the_raw_model_output);
    RUN(cleaning_folds_width_and_spaces);
    RUN(analyze_language_keywords_attributes);
    RUN(learning_the_catalog_extends_the_attributes);
    RUN(bad_text_gives_clear_errors);
    RUN(missing_model_or_text_data_is_unavailable);
    RUN(probe_tells_a_chinese_vocabulary_apart);
    RUN(lazy_loading_is_once_and_thread_safe);
    RUN(bridged_text_follows_the_catalog_convention);
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
