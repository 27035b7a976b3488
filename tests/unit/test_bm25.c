/* test_bm25.c - the lexical search index of src/rec/bm25.c: terms (light
 * plural stemming, Chinese words and characters), BM25F scores checked
 * against the formula computed here by hand, field weights, membership
 * for boosts, bad input and memory. A small jieba dictionary is written
 * for the test so it needs no data files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "rec/bm25.h"
#include "test.h"
#include "text/jieba.h"

static struct vt_jieba *seg;

static void load_seg(void)
{
    char path[] = "/tmp/vt-test-bm25-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    fputs("沙发 800 n\n拐角 300 n\n沙发床 200 n\n真皮 300 n\n黑色 500 n\n床 900 n\n"
          "餐桌 400 n\n桌 300 n\n椅子 600 n\n",
          f);
    fclose(f);
    struct vt_error err;
    if (vt_jieba_load(path, NULL, &seg, &err))
        seg = NULL;
    unlink(path);
}

static int has(const struct vt_bm25_terms *t, const char *term, float w)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->term[i], term) == 0 && fabsf(t->weight[i] - w) < 1e-6f)
            return 1;
    return 0;
}

static const char *stem(const char *w)
{
    static char buf[64];
    size_t n = strlen(w);
    memcpy(buf, w, n);
    vt_bm25_stem(buf, &n);
    buf[n] = 0;
    return buf;
}

TEST(plural_stemmer)
{
    CHECK_STR(stem("sofas"), "sofa");
    CHECK_STR(stem("chairs"), "chair");
    CHECK_STR(stem("shelves"), "shelf");
    CHECK_STR(stem("benches"), "bench");
    CHECK_STR(stem("boxes"), "box");
    CHECK_STR(stem("dishes"), "dish");
    CHECK_STR(stem("glasses"), "glass");
    CHECK_STR(stem("libraries"), "library");
    CHECK_STR(stem("glass"), "glass");
    CHECK_STR(stem("bus"), "bus");
    CHECK_STR(stem("chaise"), "chaise");
    CHECK_STR(stem("sofa"), "sofa");
    CHECK_STR(stem("its"), "its");    /* three letters: left alone */
    CHECK_STR(stem("2seats"), "2seats"); /* not a plain word */
}

TEST(terms_english_and_chinese)
{
    struct vt_bm25_terms t;
    struct vt_error err;
    vt_bm25_terms_init(&t);
    const char *s = "Corner SOFAS, 拐角沙发床!";
    CHECK_EQ_INT(vt_bm25_tokenize(seg, s, strlen(s), 0.3f, &t, &err), 0);
    CHECK(has(&t, "corner", 1));
    CHECK(has(&t, "sofa", 1));
    CHECK(has(&t, "拐角", 1));
    CHECK(has(&t, "沙发床", 1));
    CHECK(has(&t, "拐", 0.3f));
    CHECK(has(&t, "床", 0.3f));
    CHECK(!has(&t, ",", 1) && !has(&t, "!", 1));
    CHECK_EQ_INT(t.n, 2 + (1 + 2) + (1 + 3)); /* corner sofa, 拐角 拐 角, 沙发床 沙 发 床 */
    vt_bm25_terms_reset(&t);

    /* A one-character word is one term, not two. */
    CHECK_EQ_INT(vt_bm25_tokenize(seg, "床", strlen("床"), 0.3f, &t, &err), 0);
    CHECK_EQ_INT(t.n, 1);
    CHECK(has(&t, "床", 1));
    vt_bm25_terms_reset(&t);

    /* Without a segmenter: characters only. */
    CHECK_EQ_INT(vt_bm25_tokenize(NULL, "黑色sofa", strlen("黑色sofa"), 0.5f, &t, &err), 0);
    CHECK_EQ_INT(t.n, 3);
    CHECK(has(&t, "黑", 0.5f) && has(&t, "色", 0.5f) && has(&t, "sofa", 1));
    vt_bm25_terms_reset(&t);

    /* Full-width letters fold; accented words stay whole. */
    const char *wide = "ＳＯＦＡ café";
    CHECK_EQ_INT(vt_bm25_tokenize(seg, wide, strlen(wide), 0.3f, &t, &err), 0);
    CHECK(has(&t, "sofa", 1));
    CHECK(has(&t, "café", 1));
    CHECK_EQ_INT(t.n, 2);
    vt_bm25_terms_reset(&t);

    CHECK_EQ_INT(vt_bm25_tokenize(seg, "\xff" "abc", 4, 0.3f, &t, &err), VT_EINVAL);
    vt_bm25_terms_reset(&t);
}

/* BM25 of one query term against the hand formula. */
static double bm25_ref(double tf, double df, double n, double len, double avg)
{
    double idf = log(1 + (n - df + 0.5) / (df + 0.5));
    return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg));
}

TEST(scores_match_the_formula)
{
    struct vt_bm25 *ix;
    struct vt_error err;
    CHECK_EQ_INT(vt_bm25_new(NULL, seg, &ix), 0);
    const char *titles[4] = {"red sofa", "sofa sofa bed", "oak table", "lamp"};
    for (int d = 0; d < 4; d++)
        CHECK_EQ_INT(vt_bm25_add(ix, d, VT_BM25_TITLE, titles[d], strlen(titles[d]), &err), 0);
    CHECK_EQ_INT(vt_bm25_finish(ix), 0);
    CHECK_EQ_INT(vt_bm25_docs(ix), 4);
    CHECK_EQ_INT(vt_bm25_vocab(ix), 6);
    float sc[4];
    size_t matched;
    CHECK_EQ_INT(vt_bm25_query(ix, "sofas", 5, sc, &matched, &err), 0);
    CHECK_EQ_INT(matched, 2);
    /* title weight 3: lengths 6, 9, 6, 3; average 6 */
    CHECK_NEAR(sc[0], bm25_ref(3, 2, 4, 6, 6), 1e-5);
    CHECK_NEAR(sc[1], bm25_ref(6, 2, 4, 9, 6), 1e-5);
    CHECK(sc[1] > sc[0]);
    CHECK_NEAR(sc[2], 0, 0);
    CHECK_NEAR(sc[3], 0, 0);
    /* Two terms add up; a repeated query term counts twice. */
    CHECK_EQ_INT(vt_bm25_query(ix, "red sofa", 8, sc, &matched, &err), 0);
    CHECK_NEAR(sc[0], bm25_ref(3, 1, 4, 6, 6) + bm25_ref(3, 2, 4, 6, 6), 1e-5);
    CHECK_EQ_INT(vt_bm25_query(ix, "lamp lamp", 9, sc, &matched, &err), 0);
    CHECK_NEAR(sc[3], 2 * bm25_ref(3, 1, 4, 3, 6), 1e-5);
    CHECK_EQ_INT(matched, 1);
    /* Unknown words and empty text match nothing. */
    CHECK_EQ_INT(vt_bm25_query(ix, "zebra", 5, sc, &matched, &err), 0);
    CHECK_EQ_INT(matched, 0);
    CHECK_EQ_INT(vt_bm25_query(ix, "", 0, sc, &matched, &err), 0);
    CHECK_EQ_INT(matched, 0);
    /* Finished: no more documents. */
    CHECK_EQ_INT(vt_bm25_add(ix, 4, VT_BM25_TITLE, "x", 1, &err), VT_EINVAL);
    vt_bm25_free(ix);
}

TEST(fields_and_chinese_ranking)
{
    struct vt_bm25 *ix;
    struct vt_error err;
    CHECK_EQ_INT(vt_bm25_new(NULL, seg, &ix), 0);
    struct {
        int doc, field;
        const char *text;
    } add[] = {
        {0, VT_BM25_TITLE, "Corner sofa"}, {0, VT_BM25_META, "Living room"},
        {1, VT_BM25_TITLE, "Dining table"}, {1, VT_BM25_DESC, "goes well with a sofa"},
        {2, VT_BM25_TITLE, "Armchair"},     {2, VT_BM25_META, "Sofas"},
        {3, VT_BM25_TITLE, "沙发床"},       {4, VT_BM25_TITLE, "拐角沙发"},
        {4, VT_BM25_TITLE, "Corner sofa"},  {5, VT_BM25_TITLE, "餐桌"},
    };
    for (size_t k = 0; k < sizeof add / sizeof add[0]; k++)
        CHECK_EQ_INT(vt_bm25_add(ix, add[k].doc, add[k].field, add[k].text,
                                 strlen(add[k].text), &err),
                     0);
    CHECK_EQ_INT(vt_bm25_finish(ix), 0);
    float sc[6];
    size_t matched;
    CHECK_EQ_INT(vt_bm25_query(ix, "sofa", 4, sc, &matched, &err), 0);
    CHECK_EQ_INT(matched, 4);
    /* title beats meta beats description */
    CHECK(sc[0] > sc[2]);
    CHECK(sc[2] > sc[1]);
    CHECK(sc[1] > 0);
    /* 沙发: the whole word (doc 4) before the characters of 沙发床 (doc 3) */
    CHECK_EQ_INT(vt_bm25_query(ix, "沙发", strlen("沙发"), sc, &matched, &err), 0);
    CHECK_EQ_INT(matched, 2);
    CHECK(sc[4] > sc[3]);
    CHECK(sc[3] > 0);
    CHECK_NEAR(sc[5], 0, 0);
    /* 床 alone reaches 沙发床 through its characters */
    CHECK_EQ_INT(vt_bm25_query(ix, "床", strlen("床"), sc, &matched, &err), 0);
    CHECK_EQ_INT(matched, 1);
    CHECK(sc[3] > 0);

    CHECK_EQ_INT(vt_bm25_doc_has(ix, 0, "sofas", 5), 1);
    CHECK_EQ_INT(vt_bm25_doc_has(ix, 0, "living room", 11), 1);
    CHECK_EQ_INT(vt_bm25_doc_has(ix, 0, "black sofa", 10), 0);
    CHECK_EQ_INT(vt_bm25_doc_has(ix, 4, "沙发", strlen("沙发")), 1);
    CHECK_EQ_INT(vt_bm25_doc_has(ix, 3, "沙发", strlen("沙发")), 0); /* the word is 沙发床 */
    CHECK_EQ_INT(vt_bm25_doc_has(ix, 0, "", 0), 0);
    CHECK_EQ_INT(vt_bm25_doc_has(ix, 99, "sofa", 4), 0);
    vt_bm25_free(ix);
}

TEST(bad_input)
{
    struct vt_bm25 *ix = NULL;
    struct vt_error err;
    struct vt_bm25_params p;
    vt_bm25_params_init(&p);
    p.b = 2;
    CHECK_EQ_INT(vt_bm25_new(&p, NULL, &ix), VT_EINVAL);
    CHECK(ix == NULL);
    vt_bm25_params_init(&p);
    p.field_weight[VT_BM25_DESC] = NAN;
    CHECK_EQ_INT(vt_bm25_new(&p, NULL, &ix), VT_EINVAL);
    CHECK_EQ_INT(vt_bm25_new(NULL, seg, &ix), 0);
    CHECK_EQ_INT(vt_bm25_add(ix, -1, VT_BM25_TITLE, "a", 1, &err), VT_EINVAL);
    CHECK_STR(err.field, "doc");
    CHECK_EQ_INT(vt_bm25_add(ix, 0, 7, "a", 1, &err), VT_EINVAL);
    CHECK_EQ_INT(vt_bm25_add(ix, 0, VT_BM25_TITLE, "so\xc3", 3, &err), VT_EINVAL);
    CHECK_EQ_INT(vt_bm25_add(ix, 2, VT_BM25_TITLE, "ok", 2, &err), 0);
    CHECK_EQ_INT(vt_bm25_finish(ix), 0);
    float sc[3];
    CHECK_EQ_INT(vt_bm25_query(ix, "\xc3", 1, sc, NULL, &err), VT_EINVAL);
    CHECK_EQ_INT(vt_bm25_docs(ix), 3); /* documents 0 and 1 are empty */
    vt_bm25_free(ix);
    vt_bm25_free(NULL);
}

TEST(empty_documents_only)
{
    /* A catalog whose pieces have no words (found by fuzzing: no term at
     * all must still finish and answer). */
    struct vt_bm25 *ix;
    struct vt_error err;
    CHECK_EQ_INT(vt_bm25_new(NULL, seg, &ix), 0);
    CHECK_EQ_INT(vt_bm25_add(ix, 3, VT_BM25_TITLE, "!!", 2, &err), 0);
    CHECK_EQ_INT(vt_bm25_finish(ix), 0);
    CHECK_EQ_INT(vt_bm25_docs(ix), 4);
    CHECK_EQ_INT(vt_bm25_vocab(ix), 0);
    float sc[4] = {1, 1, 1, 1};
    size_t matched = 9;
    CHECK_EQ_INT(vt_bm25_query(ix, "sofa", 4, sc, &matched, &err), 0);
    CHECK_EQ_INT(matched, 0);
    CHECK_NEAR(sc[0] + sc[1] + sc[2] + sc[3], 0, 0);
    vt_bm25_free(ix);
}

TEST(memory_and_failures)
{
    int64_t before = vt_alloc_bytes_in_use();
    for (int64_t k = 1; k < 200; k++) {
        struct vt_bm25 *ix = NULL;
        struct vt_error err;
        vt_alloc_fail_after(k);
        const char *title = "corner sofa 拐角沙发";
        int rc = vt_bm25_new(NULL, seg, &ix);
        for (int d = 0; rc == 0 && d < 20; d++)
            rc = vt_bm25_add(ix, d, VT_BM25_TITLE, title, strlen(title), &err);
        if (rc == 0)
            rc = vt_bm25_finish(ix);
        vt_alloc_fail_after(0);
        CHECK(rc == 0 || rc == VT_ENOMEM);
        if (rc == 0) {
            float sc[20];
            CHECK_EQ_INT(vt_bm25_query(ix, "sofa", 4, sc, NULL, &err), 0);
            CHECK(sc[7] > 0);
        }
        vt_bm25_free(ix);
    }
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
}

int main(void)
{
    load_seg();
    if (!seg) {
        fprintf(stderr, "cannot load the test dictionary\n");
        return 1;
    }
    RUN(plural_stemmer);
    RUN(terms_english_and_chinese);
    RUN(scores_match_the_formula);
    RUN(fields_and_chinese_ranking);
    RUN(bad_input);
    RUN(empty_documents_only);
    RUN(memory_and_failures);
    vt_jieba_free(seg);
    return TEST_SUMMARY();
}
