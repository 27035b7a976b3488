/* test_text.c - text cleaning, language guess, jieba segmentation (against
 * jieba's own output), the CC-CEDICT bridge, TF-IDF keywords and attribute
 * extraction, including bad input. Needs data/text (scripts/fetch-text-data,
 * which this test runs itself when the data is missing). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/util.h"
#include "store/record.h"
#include "test.h"
#include "text/attrs.h"
#include "text/cedict.h"
#include "text/jieba.h"
#include "text/keywords.h"
#include "text/normalize.h"

#define DICT "data/text/jieba/dict.txt"
#define DICT_BIN "data/text/jieba/dict.bin"
#define IDF "data/text/jieba/idf.txt"
#define CEDICT "data/text/cedict/cedict_ts.u8"
#define CEDICT_CACHE "data/text/cedict/glosses.tsv"
#define GOLDEN "tests/golden/jieba/cuts.jsonl"

static struct vt_jieba *seg;
static struct vt_cedict *dict;
static struct vt_bridge *bridge;
static struct vt_keywords *kw;
static struct vt_attr_vocab *vocab;

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Cleaned text, or NULL on error (the code goes to *rc). */
static char *clean(const char *s, size_t n, unsigned flags, int *rc)
{
    char *out = NULL;
    struct vt_error err;
    *rc = vt_text_clean(s, n, flags, &out, NULL, &err);
    return out;
}

static int clean_is(const char *in, const char *want)
{
    int rc;
    char *got = clean(in, strlen(in), VT_TEXT_CLEAN_DEFAULT, &rc);
    int ok = rc == 0 && got && strcmp(got, want) == 0;
    if (!ok)
        fprintf(stderr, "  clean(\"%s\") = \"%s\", want \"%s\"\n", in, got ? got : "(null)", want);
    vt_free(got);
    return ok;
}

/* A string of exactly n bytes of valid UTF-8 mixing scripts. */
static char *big_text(size_t n)
{
    static const char *const parts[] = {"黑色真皮沙发", " black leather sofa, ", "适合小客厅的茶几。",
                                        "Ｆｕｌｌ　ｗｉｄｔｈ ", "2米宽 "};
    char *s = vt_malloc(n + 1);
    size_t o = 0;
    for (int i = 0; o < n; i++) {
        const char *p = parts[i % 5];
        size_t k = strlen(p);
        if (o + k > n) {
            memset(s + o, 'a', n - o);
            o = n;
            break;
        }
        memcpy(s + o, p, k);
        o += k;
    }
    s[n] = '\0';
    return s;
}

/* ---- normalisation ---------------------------------------------------------- */

TEST(clean_width_case_and_punctuation)
{
    CHECK(clean_is("ＡＢＣ１２３", "abc123"));
    CHECK(clean_is("沙发　茶几", "沙发 茶几"));               /* ideographic space */
    CHECK(clean_is("Ｓｏｆａ，　茶几。", "sofa, 茶几."));
    CHECK(clean_is("颜色：黑色；尺码：42！", "颜色:黑色;尺码:42!"));
    CHECK(clean_is("【新品】《北欧》“简约”", "[新品]\"北欧\"\"简约\""));
    CHECK(clean_is("￥500～800", "¥500~800"));
    CHECK(clean_is("200—500", "200-500"));                   /* em dash lumps to '-' */
    CHECK(clean_is("it’s", "it's"));
    CHECK(clean_is("Straße", "strasse"));                     /* full case folding */
    CHECK(clean_is("ﬁne Ⅻ ①", "fine xii 1"));                 /* NFKC compatibility */
    CHECK(clean_is("so\xE2\x80\x8B" "fa", "sofa"));           /* zero-width space */
    CHECK(clean_is("cafe\xCC\x81", "caf\xC3\xA9"));           /* composed */
    CHECK(clean_is("ｶﾀｶﾅ", "カタカナ"));                      /* half-width kana widen */
    CHECK(clean_is("、", ","));
    int rc;
    char *s = clean("ABC Ｘ", 5 + 3, 0, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_STR(s, "ABC X");                                     /* no case folding asked */
    vt_free(s);
}

TEST(clean_controls_and_spaces)
{
    CHECK(clean_is("  a \t\t b\r\n\nc  ", "a b c"));
    CHECK(clean_is("a\x01" "b\x7F" "c", "abc"));
    CHECK(clean_is("\xC2\x85x\xC2\xA0y", "x y"));            /* NEL, no-break space */
    CHECK(clean_is("", ""));
    CHECK(clean_is("   ", ""));
    int rc;
    char *s = clean("a\0b", 3, VT_TEXT_CLEAN_DEFAULT, &rc);   /* NUL is a control */
    CHECK_EQ_INT(rc, 0);
    CHECK_STR(s, "ab");
    vt_free(s);
}

TEST(clean_bad_input)
{
    struct vt_error err;
    char *out = (char *)1;
    CHECK_EQ_INT(vt_text_clean("ab\xC0\xAF", 4, 0, &out, NULL, &err), VT_EINVAL);
    CHECK(out == NULL);
    CHECK_EQ_INT(err.offset, 2);
    CHECK(strstr(err.message, "invalid UTF-8") != NULL);
    CHECK_EQ_INT(vt_text_clean("\xE6\xB2", 2, 0, &out, NULL, &err), VT_EINVAL);  /* truncated */
    CHECK_EQ_INT(vt_text_clean("\xED\xA0\x80", 3, 0, &out, NULL, &err), VT_EINVAL); /* surrogate */
    CHECK_EQ_INT(vt_text_clean("\xFF", 1, 0, &out, NULL, &err), VT_EINVAL);

    /* 1 MiB is accepted and fast; one byte more is refused. */
    char *big = big_text(VT_TEXT_MAX_BYTES);
    size_t n;
    int64_t t0 = vt_time_mono_ns();
    CHECK_EQ_INT(vt_text_clean(big, VT_TEXT_MAX_BYTES, VT_TEXT_CLEAN_DEFAULT, &out, &n, &err), 0);
    int64_t t1 = vt_time_mono_ns();
    CHECK(n > VT_TEXT_MAX_BYTES / 2 && n <= VT_TEXT_MAX_BYTES);
    CHECK(strstr(out, "full width 2米宽 黑色真皮沙发 black leather sofa,") != NULL);
    printf("clean: 1 MiB in %.1f ms\n", (t1 - t0) / 1e6);
    vt_free(out);
    vt_free(big);
    big = big_text(VT_TEXT_MAX_BYTES + 1);
    CHECK_EQ_INT(vt_text_clean(big, VT_TEXT_MAX_BYTES + 1, 0, &out, NULL, &err), VT_ETOOBIG);
    vt_free(big);

    /* NFKC expansion is capped: U+FDFA becomes 18 code points. */
    size_t reps = VT_TEXT_MAX_BYTES / 3;
    big = vt_malloc(reps * 3 + 1);
    for (size_t i = 0; i < reps; i++)
        memcpy(big + 3 * i, "\xEF\xB7\xBA", 3);
    CHECK_EQ_INT(vt_text_clean(big, reps * 3, 0, &out, NULL, &err), VT_ETOOBIG);
    CHECK(strstr(err.message, "code points") != NULL);
    vt_free(big);
}

TEST(language_guess)
{
    struct {
        const char *s;
        enum vt_lang want;
    } cases[] = {
        {"black leather sofa", VT_LANG_EN},
        {"黑色真皮沙发", VT_LANG_ZH},
        {"iPhone 15 Pro 手机壳", VT_LANG_MIXED},
        {"这款sofa很好看，坐起来很舒服，推荐购买", VT_LANG_ZH},
        {"Très beau canapé", VT_LANG_EN},
        {"12345 !!! 🛋", VT_LANG_UNKNOWN},
        {"", VT_LANG_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum vt_lang got = vt_text_lang(cases[i].s, strlen(cases[i].s));
        if (got != cases[i].want)
            fprintf(stderr, "  lang(\"%s\") = %s\n", cases[i].s, vt_lang_name(got));
        CHECK(got == cases[i].want);
    }
    CHECK_STR(vt_lang_name(VT_LANG_MIXED), "mixed");
}

/* ---- segmentation ------------------------------------------------------------- */

static int cut_equals(const char *s, json_t *want, struct vt_tokens *t)
{
    struct vt_error err;
    if (vt_jieba_cut(seg, s, strlen(s), t, &err) != 0)
        return 0;
    if (t->n != json_array_size(want))
        return 0;
    for (size_t i = 0; i < t->n; i++) {
        const char *w = json_string_value(json_array_get(want, i));
        if (!w || strlen(w) != t->v[i].len || memcmp(w, s + t->v[i].off, t->v[i].len) != 0)
            return 0;
    }
    return 1;
}

TEST(jieba_matches_reference)
{
    FILE *f = fopen(GOLDEN, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[8192];
    int total = 0, exact = 0;
    struct vt_tokens t;
    vt_tokens_init(&t);
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        const char *s = json_string_value(json_object_get(o, "text"));
        json_t *cut = json_object_get(o, "cut");
        CHECK(s && json_is_array(cut));
        if (s && cut) {
            total++;
            if (cut_equals(s, cut, &t)) {
                exact++;
            } else {
                fprintf(stderr, "  differs from jieba: %s\n   got:", s);
                for (size_t i = 0; i < t.n; i++)
                    fprintf(stderr, " %.*s", (int)t.v[i].len, s + t.v[i].off);
                fprintf(stderr, "\n");
            }
        }
        json_decref(o);
    }
    fclose(f);
    vt_tokens_reset(&t);
    printf("jieba golden: %d/%d sentences cut exactly as jieba\n", exact, total);
    CHECK(total >= 50);
    CHECK_EQ_INT(exact, total);
}

TEST(jieba_tokens_and_user_words)
{
    struct vt_tokens t;
    struct vt_error err;
    vt_tokens_init(&t);
    const char *s = "iPhone手机，宜家沙发 好";
    CHECK_EQ_INT(vt_jieba_cut(seg, s, strlen(s), &t, &err), 0);
    /* Tokens tile the text. */
    size_t at = 0;
    for (size_t i = 0; i < t.n; i++) {
        CHECK_EQ_INT(t.v[i].off, at);
        at += t.v[i].len;
    }
    CHECK_EQ_INT(at, strlen(s));
    CHECK(t.n >= 6);
    CHECK_EQ_INT(t.v[0].kind, VT_TOK_ALNUM);  /* iPhone */
    CHECK_EQ_INT(t.v[1].kind, VT_TOK_HAN);    /* 手机 */
    CHECK_EQ_INT(t.v[2].kind, VT_TOK_PUNCT);  /* ， */
    CHECK_EQ_INT(t.v[t.n - 2].kind, VT_TOK_SPACE);

    /* A shop's own word is kept whole once added. */
    const char *w = "宜家沙发";
    CHECK_EQ_INT(vt_jieba_cut(seg, w, strlen(w), &t, &err), 0);
    CHECK_EQ_INT(t.n, 2);
    CHECK_EQ_INT(vt_jieba_freq(seg, w, strlen(w)), 0);
    size_t words = vt_jieba_size(seg);
    CHECK_EQ_INT(vt_jieba_add_word(seg, w, strlen(w), 0), 0);
    CHECK(vt_jieba_freq(seg, w, strlen(w)) > 0);
    CHECK_EQ_INT(vt_jieba_size(seg), words + 1);
    CHECK_EQ_INT(vt_jieba_cut(seg, w, strlen(w), &t, &err), 0);
    CHECK_EQ_INT(t.n, 1);
    int64_t total = vt_jieba_total(seg);
    int64_t old_freq = vt_jieba_freq(seg, w, strlen(w));
    CHECK_EQ_INT(vt_jieba_add_word(seg, w, strlen(w), 7), 0); /* replace: same count */
    CHECK_EQ_INT(vt_jieba_size(seg), words + 1);
    CHECK_EQ_INT(vt_jieba_freq(seg, w, strlen(w)), 7);
    CHECK_EQ_INT(vt_jieba_total(seg), total - old_freq + 7);
    CHECK_EQ_INT(vt_jieba_add_word(seg, "a b", 3, 5), VT_EINVAL);
    CHECK_EQ_INT(vt_jieba_add_word(seg, "\xC0\xAF", 2, 5), VT_EINVAL);
    CHECK_EQ_INT(vt_jieba_add_word(seg, "", 0, 5), VT_EINVAL);
    vt_tokens_reset(&t);
}

TEST(jieba_bad_input_and_speed)
{
    struct vt_tokens t;
    struct vt_error err;
    vt_tokens_init(&t);
    CHECK_EQ_INT(vt_jieba_cut(seg, "沙发\xC0\xAF", 8, &t, &err), VT_EINVAL);
    CHECK_EQ_INT(err.offset, 6);
    CHECK_EQ_INT(vt_jieba_cut(seg, "", 0, &t, &err), 0);
    CHECK_EQ_INT(t.n, 0);
    char *big = big_text(VT_TEXT_MAX_BYTES);
    int64_t t0 = vt_time_mono_ns();
    CHECK_EQ_INT(vt_jieba_cut(seg, big, VT_TEXT_MAX_BYTES, &t, &err), 0);
    int64_t t1 = vt_time_mono_ns();
    size_t covered = 0;
    for (size_t i = 0; i < t.n; i++)
        covered += t.v[i].len;
    CHECK_EQ_INT(covered, VT_TEXT_MAX_BYTES);
    size_t chars = vt_utf8_len(big, VT_TEXT_MAX_BYTES);
    printf("jieba: %zu chars in %.1f ms (%.1f M chars/s)\n", chars, (t1 - t0) / 1e6,
           chars / ((t1 - t0) / 1e9) / 1e6);
    vt_free(big);
    big = big_text(VT_TEXT_MAX_BYTES + 1);
    CHECK_EQ_INT(vt_jieba_cut(seg, big, VT_TEXT_MAX_BYTES + 1, &t, &err), VT_ETOOBIG);
    vt_free(big);
    vt_tokens_reset(&t);
}

TEST(jieba_cache)
{
    struct vt_error err;
    struct vt_jieba *a = NULL, *b = NULL;
    char path[64];
    snprintf(path, sizeof path, "build/tests/jieba-%ld.bin", (long)getpid());
    int64_t t0 = vt_time_mono_ns();
    CHECK_EQ_INT(vt_jieba_load(DICT, path, &a, &err), 0); /* parses, writes the cache */
    int64_t t1 = vt_time_mono_ns();
    CHECK_EQ_INT(vt_jieba_load(DICT, path, &b, &err), 0); /* reads the cache */
    int64_t t2 = vt_time_mono_ns();
    printf("jieba dict: %.1f ms from dict.txt, %.1f ms from the cache\n", (t1 - t0) / 1e6,
           (t2 - t1) / 1e6);
    CHECK(a && b);
    if (a && b) {
        CHECK_EQ_INT(vt_jieba_size(a), 349045);
        CHECK_EQ_INT(vt_jieba_size(b), vt_jieba_size(a));
        CHECK_EQ_INT(vt_jieba_total(b), vt_jieba_total(a));
        CHECK_EQ_INT(vt_jieba_freq(b, "沙发", 6), vt_jieba_freq(a, "沙发", 6));
    }
    vt_jieba_free(b);
    b = NULL;
    /* A damaged cache is ignored, not trusted. */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 200, SEEK_SET);
        fputs("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", f);
        fclose(f);
    }
    CHECK_EQ_INT(vt_jieba_load(DICT, path, &b, &err), 0);
    if (a && b)
        CHECK_EQ_INT(vt_jieba_size(b), vt_jieba_size(a));
    vt_jieba_free(a);
    vt_jieba_free(b);
    remove(path);
    /* A missing or malformed dictionary is a clear error. */
    CHECK_EQ_INT(vt_jieba_load("no/such/dict.txt", NULL, &a, &err), VT_EIO);
    CHECK(strstr(err.message, "no/such/dict.txt") != NULL);
    snprintf(path, sizeof path, "build/tests/jieba-bad-%ld.txt", (long)getpid());
    f = fopen(path, "w");
    if (f) {
        fputs("沙发 10 n\n茶几 abc n\n", f);
        fclose(f);
    }
    CHECK_EQ_INT(vt_jieba_load(path, NULL, &a, &err), VT_EFORMAT);
    CHECK_EQ_INT(err.line, 2);
    remove(path);
}

/* ---- the bridge ------------------------------------------------------------------ */

/* Clean without case folding (the default encoder's vocabulary is cased),
 * then bridge. */
static char *bridged(const char *s)
{
    char *out = NULL;
    struct vt_error err;
    int rc;
    char *c = clean(s, strlen(s), VT_TEXT_FOLD_PUNCT, &rc);
    if (rc == 0 && vt_bridge_zh_en(bridge, c, strlen(c), &out, NULL, &err) != 0)
        out = NULL;
    vt_free(c);
    return out;
}

static int bridge_is(const char *in, const char *want)
{
    char *got = bridged(in);
    int ok = got && strcmp(got, want) == 0;
    if (!ok)
        fprintf(stderr, "  bridge(\"%s\") = \"%s\", want \"%s\"\n", in, got ? got : "(null)", want);
    vt_free(got);
    return ok;
}

static int bridge_has(const char *in, const char *part)
{
    char *got = bridged(in);
    int ok = got && strstr(got, part) != NULL;
    if (!ok)
        fprintf(stderr, "  bridge(\"%s\") = \"%s\", lacks \"%s\"\n", in, got ? got : "(null)", part);
    vt_free(got);
    return ok;
}

TEST(cedict_glosses)
{
    CHECK(vt_cedict_size(dict) > 90000);
    struct {
        const char *zh, *en;
    } cases[] = {
        {"黑色", "black"}, {"沙发", "sofa"}, {"椅子", "chair"}, {"衣柜", "wardrobe"},
        {"钟", "clock"},          /* not "handleless cup" */
        {"石", "rock"},           /* not "ten pecks" */
        {"碗", "bowl"},           /* variant entries skipped */
        {"适合", "fit"},          /* "to fit": "to " dropped */
        {"沙發", "sofa"},         /* traditional headword */
        {"门", "gate"},           /* the surname entry (Men2) is not used */
        {"皮", "leather"},        /* nor Pi2's */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *g = vt_cedict_gloss(dict, cases[i].zh, strlen(cases[i].zh));
        if (!g || strcmp(g, cases[i].en) != 0)
            fprintf(stderr, "  gloss(%s) = %s, want %s\n", cases[i].zh, g ? g : "(null)",
                    cases[i].en);
        CHECK(g && strcmp(g, cases[i].en) == 0);
    }
    CHECK(vt_cedict_gloss(dict, "不是一个词语", strlen("不是一个词语")) == NULL);
    /* The cache gives the same choices. */
    struct vt_cedict *again = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_cedict_load(CEDICT, CEDICT_CACHE, &again, &err), 0);
    if (again) {
        CHECK_EQ_INT(vt_cedict_size(again), vt_cedict_size(dict));
        CHECK_STR(vt_cedict_gloss(again, "钟", 3), "clock");
        CHECK_STR(vt_cedict_gloss(again, "沙發", 6), "sofa");
    }
    vt_cedict_free(again);
    CHECK_EQ_INT(vt_cedict_load("no/such/cedict.u8", NULL, &again, &err), VT_EIO);
}

TEST(bridge_examples)
{
    CHECK(bridge_is("黑色真皮沙发", "black leather sofa"));
    CHECK(bridge_is("白色布艺沙发", "white fabric sofa"));
    CHECK(bridge_is("适合小客厅的茶几", "for small living room coffee table"));
    CHECK(bridge_has("我想买一张两米宽的双人床", "two meter wide double bed"));
    CHECK(bridge_has("北欧风格实木餐桌", "nordic style solid wood dining table"));
    CHECK(bridge_has("卧室床头柜", "bedroom nightstand"));
    CHECK(bridge_has("冰箱", "refrigerator"));
    CHECK(bridge_has("柚木长凳", "teak bench"));
    /* Latin text stays as it is, spaced from the translation. */
    CHECK(bridge_is("iPhone 15 Pro手机壳", "iPhone 15 Pro cell phone shell"));
    CHECK(bridge_is("华为Mate60", "Huawei Mate60"));
    CHECK(bridge_has("这款衣柜的做工很好，安装也方便", "wardrobe workmanship good, installation"));
    /* Text without Chinese comes back byte for byte. */
    const char *en = "Black Leather Sofa,  2m x 90cm!";
    char *out = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_bridge_zh_en(bridge, en, strlen(en), &out, NULL, &err), 0);
    CHECK_STR(out, en);
    vt_free(out);
    /* A shop's own names. */
    CHECK_EQ_INT(vt_bridge_add(bridge, "宜家", "IKEA"), 0);
    CHECK(bridge_is("宜家沙发", "IKEA sofa"));
    CHECK_EQ_INT(vt_bridge_add(bridge, "", "x"), VT_EINVAL);
    CHECK_STR(vt_bridge_word(bridge, "的", 3), "");
    CHECK(bridge_is("的", ""));
    /* Bad input. */
    CHECK_EQ_INT(vt_bridge_zh_en(bridge, "沙发\xFF", 7, &out, NULL, &err), VT_EINVAL);
    CHECK(out == NULL);
    CHECK_EQ_INT(vt_bridge_zh_en(bridge, "", 0, &out, NULL, &err), 0);
    CHECK_STR(out, "");
    vt_free(out);
    char *big = big_text(VT_TEXT_MAX_BYTES);
    int64_t t0 = vt_time_mono_ns();
    size_t n;
    CHECK_EQ_INT(vt_bridge_zh_en(bridge, big, VT_TEXT_MAX_BYTES, &out, &n, &err), 0);
    int64_t t1 = vt_time_mono_ns();
    CHECK(out && strstr(out, "black leather sofa") != NULL);
    printf("bridge: 1 MiB in %.1f ms\n", (t1 - t0) / 1e6);
    vt_free(out);
    vt_free(big);
}

/* ---- keywords -------------------------------------------------------------------- */

TEST(keywords_match_jieba)
{
    /* Expected values from jieba.analyse.extract_tags(s, topK=5,
     * withWeight=True) with the same dictionary and IDF table. */
    struct {
        const char *s;
        const char *w[5];
        double score[5];
    } cases[] = {
        {"这款沙发的做工很好，真皮沙发坐起来很舒服，沙发颜色也正",
         {"沙发", "真皮沙发", "做工", "舒服", "颜色"},
         {2.2064952965514286, 1.9858110931428572, 1.1947633407085714, 1.07582523845,
          0.9277963243914286}},
        {"北欧风格实木餐桌椅组合，适合小户型的客厅和餐厅",
         {"餐桌椅", "实木", "小户型", "北欧", "餐厅"},
         {1.3283075003222222, 1.178315642888889, 1.0824216187355555, 0.9378991264255555,
          0.9341795787377778}},
    };
    CHECK_EQ_INT(vt_keywords_idf_size(kw), 270132);
    CHECK_NEAR(vt_keywords_idf(kw, "不存在的新词语", strlen("不存在的新词语")), 11.9547675029,
               1e-9);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct vt_keyword *v = NULL;
        size_t n = 0;
        struct vt_error err;
        CHECK_EQ_INT(vt_keywords_extract(kw, seg, cases[c].s, strlen(cases[c].s), 5, &v, &n, &err),
                     0);
        CHECK_EQ_INT(n, 5);
        for (size_t i = 0; i < n && i < 5; i++) {
            CHECK_STR(v[i].word, cases[c].w[i]);
            CHECK_NEAR(v[i].score, cases[c].score[i], 1e-9);
            CHECK_EQ_INT(v[i].zh, 1);
        }
        vt_keywords_result_free(v, n);
    }
}

TEST(keywords_english_and_mixed)
{
    struct vt_keywords *k = NULL;
    CHECK_EQ_INT(vt_keywords_new(&k), 0);
    const char *docs[] = {"Black leather sofa", "Leather armchair", "Coffee table",
                          "Oak coffee table", "Sofa bed", "Office chair", "Chair"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        CHECK_EQ_INT(vt_keywords_add_doc(k, docs[i], strlen(docs[i])), 0);
    CHECK_EQ_INT(vt_keywords_docs(k), 7);
    CHECK_EQ_INT(vt_keywords_add_doc(k, "\xC0", 1), VT_EINVAL);
    /* idf = ln((N+1)/(df+1)) + 1 */
    CHECK_NEAR(vt_keywords_idf(k, "leather", 7), log(8.0 / 3.0) + 1, 1e-12);
    CHECK_NEAR(vt_keywords_idf(k, "velvet", 6), log(8.0) + 1, 1e-12);

    const char *s = "I love this velvet sofa. The velvet is soft and the sofa is big!";
    struct vt_keyword *v = NULL;
    size_t n = 0;
    struct vt_error err;
    CHECK_EQ_INT(vt_keywords_extract(k, seg, s, strlen(s), 3, &v, &n, &err), 0);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_STR(v[0].word, "velvet"); /* twice and unseen in the catalog */
        CHECK_STR(v[1].word, "sofa");
        CHECK(v[0].score > v[1].score);
        CHECK_EQ_INT(v[0].zh, 0);
    }
    for (size_t i = 0; i < n; i++) /* stop words never come out */
        CHECK(strcmp(v[i].word, "the") && strcmp(v[i].word, "is") && strcmp(v[i].word, "this"));
    vt_keywords_result_free(v, n);

    /* Mixed text: both languages, case folded. */
    s = "北欧实木餐桌 with OAK legs";
    CHECK_EQ_INT(vt_keywords_extract(kw, seg, s, strlen(s), 0, &v, &n, &err), 0);
    int saw_oak = 0, saw_zh = 0;
    for (size_t i = 0; i < n; i++) {
        saw_oak |= !strcmp(v[i].word, "oak");
        saw_zh |= !strcmp(v[i].word, "实木");
        CHECK(strcmp(v[i].word, "with") != 0);
    }
    CHECK(saw_oak && saw_zh);
    vt_keywords_result_free(v, n);
    /* Nothing to say. */
    CHECK_EQ_INT(vt_keywords_extract(k, seg, "the 的 !!", 8, 5, &v, &n, &err), 0);
    CHECK_EQ_INT(n, 0);
    CHECK(v == NULL);
    CHECK_EQ_INT(vt_keywords_extract(k, seg, "a\xFF", 2, 5, &v, &n, &err), VT_EINVAL);
    vt_keywords_free(k);
}

/* ---- attributes --------------------------------------------------------------------- */

/* Extract and compare with want (a JSON object, "matches" left out). */
static int attrs_are(const char *text, const char *want_json, const char *want_rest)
{
    json_t *got = NULL;
    char *rest = NULL;
    struct vt_error err;
    json_t *want = json_loads(want_json, 0, NULL);
    int rc = vt_attr_extract(vocab, seg, text, strlen(text), &got, &rest, &err);
    int ok = rc == 0 && want && got && json_is_array(json_object_get(got, "matches"));
    if (ok) {
        json_t *copy = json_copy(got);
        json_object_del(copy, "matches");
        ok = json_equal(copy, want);
        if (!ok) {
            char *d = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
            fprintf(stderr, "  attrs(\"%s\") = %s\n    want %s\n", text, d, want_json);
            free(d);
        }
        json_decref(copy);
    } else {
        fprintf(stderr, "  attrs(\"%s\") failed: %d %s\n", text, rc, rc ? err.message : "");
    }
    if (ok && want_rest && strcmp(rest, want_rest) != 0) {
        fprintf(stderr, "  attrs(\"%s\") rest \"%s\", want \"%s\"\n", text, rest, want_rest);
        ok = 0;
    }
    json_decref(want);
    json_decref(got);
    vt_free(rest);
    return ok;
}

TEST(attrs_examples)
{
    struct {
        const char *text, *want, *rest;
    } cases[] = {
        /* the examples in the specification */
        {"颜色：黑色，尺码：42", "{\"colour\":\"black\",\"size\":\"42\"}", ""},
        {"black leather sofa under 2000",
         "{\"colour\":\"black\",\"material\":\"leather\",\"category\":\"sofa\",\"price_max\":2000}",
         "sofa"},
        {"under 500", "{\"price_max\":500}", ""},
        {"below ¥2000", "{\"price_max\":2000,\"currency\":\"CNY\"}", ""},
        {"500元以内", "{\"price_max\":500,\"currency\":\"CNY\"}", ""},
        {"500元以下", "{\"price_max\":500,\"currency\":\"CNY\"}", ""},
        {"200到500元", "{\"price_min\":200,\"price_max\":500,\"currency\":\"CNY\"}", ""},
        {"between 200 and 500", "{\"price_min\":200,\"price_max\":500}", ""},
        {"2米宽", "{\"width_cm\":200}", ""},
        {"80 cm", "{\"dim_cm\":80}", ""},
        {"width 200cm", "{\"width_cm\":200}", ""},
        {"1.8m", "{\"dim_cm\":180}", ""},
        /* Chinese queries */
        {"适合小客厅的茶几", "{\"category\":\"coffee table\"}", NULL},
        {"200到500元的两米宽的床",
         "{\"price_min\":200,\"price_max\":500,\"currency\":\"CNY\",\"width_cm\":200,"
         "\"category\":\"bed\"}", "床"},
        {"¥2000以下的灰色布艺沙发",
         "{\"price_max\":2000,\"currency\":\"CNY\",\"colour\":\"grey\",\"material\":\"fabric\","
         "\"category\":\"sofa\"}", "沙发"},
        {"三千元以内的白色橡木衣柜",
         "{\"price_max\":3000,\"currency\":\"CNY\",\"colour\":\"white\",\"material\":\"oak\","
         "\"category\":\"wardrobe\"}", "衣柜"},
        {"价格在200到500之间的椅子", "{\"price_min\":200,\"price_max\":500,\"category\":\"chair\"}",
         "椅子"},
        {"不超过3000元的实木餐桌",
         "{\"price_max\":3000,\"currency\":\"CNY\",\"material\":\"solid wood\","
         "\"category\":\"dining table\"}", NULL},
        {"1500元左右的台灯", "{\"price\":1500,\"currency\":\"CNY\",\"category\":\"lamp\"}", NULL},
        {"宽度80cm的书架", "{\"width_cm\":80,\"category\":\"bookcase\"}", "书架"},
        {"1.8米床 红木", "{\"dim_cm\":180,\"category\":\"bed\",\"material\":\"mahogany\"}", NULL},
        {"高80厘米的边几", "{\"height_cm\":80,\"category\":\"side table\"}", NULL},
        {"皮沙发", "{\"material\":\"leather\",\"category\":\"sofa\"}", "沙发"},
        {"白沙发", "{\"colour\":\"white\",\"category\":\"sofa\"}", NULL},
        {"XL号T恤", "{\"size\":\"XL\"}", "t恤"},
        {"42码运动鞋 均码", "{\"size\":\"42\"}", NULL},
        {"预算两千，客厅沙发", "{\"price_max\":2000,\"category\":\"sofa\"}", NULL},
        {"米色窗帘", "{\"colour\":\"beige\",\"category\":\"curtain\"}", "窗帘"},
        /* English queries */
        {"oak coffee table $300 or less",
         "{\"material\":\"oak\",\"category\":\"coffee table\",\"price_max\":300,"
         "\"currency\":\"USD\"}", "coffee table"},
        {"shoes size 42 under $100", "{\"size\":\"42\",\"price_max\":100,\"currency\":\"USD\"}",
         "shoes"},
        {"from 300 to 800 dollars", "{\"price_min\":300,\"price_max\":800,\"currency\":\"USD\"}",
         ""},
        {"sofa 200x90x75 cm",
         "{\"category\":\"sofa\",\"width_cm\":200,\"depth_cm\":90,\"height_cm\":75}", "sofa"},
        {"desk 120 × 60 cm under 1.5k",
         "{\"category\":\"desk\",\"width_cm\":120,\"depth_cm\":60,\"price_max\":1500}", "desk"},
        {"Light Grey velvet armchair, at least 300 EUR",
         "{\"colour\":\"grey\",\"material\":\"velvet\",\"category\":\"armchair\","
         "\"price_min\":300,\"currency\":\"EUR\"}", "armchair"},
        {"stainless steel 6 ft table",
         "{\"material\":\"stainless steel\",\"dim_cm\":182.88,\"category\":\"table\"}", NULL},
        {"living room sofa", "{\"category\":\"sofa\"}", "living room sofa"},
        {"brand: IKEA, colour: walnut", "{\"brand\":\"ikea\",\"colour\":\"walnut\"}", ""},
        {"size: M", "{\"size\":\"M\"}", ""},
        /* what must not be taken for an attribute */
        {"蓝牙音箱", "{}", "蓝牙音箱"},
        {"over 2 years old", "{}", NULL},
        {"超过3年的老店", "{}", NULL},
        {"一块地毯", "{\"category\":\"rug\"}", NULL},
        {"华为Mate60充电器66W快充", "{}", NULL},
        {"4k tv", "{\"category\":\"tv\"}", NULL},
        {"200-500", "{}", NULL},
        {"", "{}", ""},
    };
    int passed = 0, total = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < total; i++) {
        int ok = attrs_are(cases[i].text, cases[i].want, cases[i].rest);
        passed += ok;
        CHECK(ok);
    }
    printf("attributes: %d/%d cases\n", passed, total);
}

TEST(attrs_matches_detail)
{
    json_t *o = NULL;
    struct vt_error err;
    const char *s = "黑色或白色的椅子";
    CHECK_EQ_INT(vt_attr_extract(vocab, seg, s, strlen(s), &o, NULL, &err), 0);
    json_t *m = json_object_get(o, "matches");
    CHECK_EQ_INT(json_array_size(m), 3);
    const char *kinds[] = {"colour", "colour", "category"};
    const char *vals[] = {"black", "white", "chair"};
    for (size_t i = 0; i < 3 && i < json_array_size(m); i++) {
        json_t *x = json_array_get(m, i);
        CHECK_STR(json_string_value(json_object_get(x, "kind")), kinds[i]);
        CHECK_STR(json_string_value(json_object_get(x, "value")), vals[i]);
    }
    json_t *first = json_array_get(m, 0);
    CHECK_STR(json_string_value(json_object_get(first, "text")), "黑色");
    CHECK_EQ_INT(json_integer_value(json_object_get(first, "start")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(first, "end")), 6);
    json_decref(o);
}

TEST(attrs_vocabulary_from_items)
{
    struct vt_attr_vocab *v = NULL;
    CHECK_EQ_INT(vt_attr_vocab_new(&v), 0);
    size_t base = vt_attr_vocab_size(v);
    CHECK(base > 300);
    const char *items[] = {
        "{\"id\":\"a1\",\"title\":{\"en\":\"Corner sofa\",\"zh\":\"转角沙发\"},"
        "\"category\":\"Living room/Sofas\",\"tags\":[\"brand:Moroso\",\"colour:walnut brown\"],"
        "\"attributes\":{\"brand\":\"Kartell\",\"material\":[\"oak\",\"boucle\"],\"colour\":\"黑色\"}}",
        "{\"id\":\"a2\",\"title\":{\"en\":\"Bed 140x190\",\"zh\":\"榻\"},\"category\":\"卧室\"}",
        "{\"id\":\"a3\",\"title\":{\"en\":\"Coffee table\",\"zh\":\"咖啡小桌\"}}",
        "{\"id\":\"a4\",\"title\":{\"en\":\"Black table\",\"zh\":\"黑色桌子\"}}",
    };
    struct vt_limits lim;
    vt_limits_default(&lim);
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        json_t *j = json_loads(items[i], 0, NULL);
        struct vt_item it;
        struct vt_error err;
        vt_item_init(&it);
        int rc = vt_item_from_json(j, &lim, &it, &err);
        if (rc)
            fprintf(stderr, "  item %zu: %s\n", i, err.message);
        CHECK_EQ_INT(rc, 0);
        if (rc == 0)
            CHECK_EQ_INT(vt_attr_vocab_add_item(v, &it), 0);
        vt_item_reset(&it);
        json_decref(j);
    }
    CHECK(vt_attr_vocab_size(v) > base);
    struct vt_attr_vocab *saved = vocab;
    vocab = v;
    CHECK(attrs_are("kartell boucle chair", "{\"brand\":\"kartell\",\"material\":\"boucle\","
                                             "\"category\":\"chair\"}", "chair"));
    CHECK(attrs_are("Moroso 沙发", "{\"brand\":\"moroso\",\"category\":\"sofa\"}", "沙发"));
    CHECK(attrs_are("walnut brown sofas", "{\"colour\":\"walnut brown\",\"category\":\"sofa\"}",
                    "sofas"));
    CHECK(attrs_are("living room", "{\"category\":\"living room\"}", NULL));
    CHECK(attrs_are("卧室的咖啡小桌", "{\"category\":\"coffee table\"}", NULL));
    /* A Chinese title with a colour in it is not made a category surface. */
    CHECK(attrs_are("黑色桌子", "{\"colour\":\"black\",\"category\":\"table\"}", NULL));
    vocab = saved;
    CHECK_EQ_INT(vt_attr_vocab_add(v, VT_ATTR_KINDS, "x", "y"), VT_EINVAL);
    CHECK_EQ_INT(vt_attr_vocab_add(v, VT_ATTR_BRAND, "x", ""), VT_EINVAL);
    CHECK_EQ_INT(vt_attr_vocab_add(v, VT_ATTR_BRAND, "acme", "ACME Corp"), 0);
    CHECK_STR(vt_attr_kind_name(VT_ATTR_COLOUR), "colour");
    CHECK_EQ_INT(vt_attr_kind_parse("颜色"), VT_ATTR_COLOUR);
    CHECK_EQ_INT(vt_attr_kind_parse("Color"), VT_ATTR_COLOUR);
    CHECK_EQ_INT(vt_attr_kind_parse("weight"), -1);
    vt_attr_vocab_free(v);
}

TEST(attrs_bad_input)
{
    json_t *o = NULL;
    char *rest = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_attr_extract(vocab, seg, "黑色\xC0", 7, &o, &rest, &err), VT_EINVAL);
    CHECK(o == NULL && rest == NULL);
    /* Without a segmenter one-character Chinese surfaces need non-Han
     * neighbours. */
    CHECK_EQ_INT(vt_attr_extract(vocab, NULL, "黑 沙发", 10, &o, NULL, &err), 0);
    CHECK_STR(json_string_value(json_object_get(o, "colour")), "black");
    json_decref(o);
    char *big = big_text(VT_TEXT_MAX_BYTES);
    int64_t t0 = vt_time_mono_ns();
    CHECK_EQ_INT(vt_attr_extract(vocab, seg, big, VT_TEXT_MAX_BYTES, &o, &rest, &err), 0);
    int64_t t1 = vt_time_mono_ns();
    CHECK_STR(json_string_value(json_object_get(o, "colour")), "black");
    CHECK(json_array_size(json_object_get(o, "matches")) > 10000);
    printf("attributes: 1 MiB in %.1f ms\n", (t1 - t0) / 1e6);
    json_decref(o);
    vt_free(rest);
    vt_free(big);
    big = big_text(VT_TEXT_MAX_BYTES + 1);
    CHECK_EQ_INT(vt_attr_extract(vocab, seg, big, VT_TEXT_MAX_BYTES + 1, &o, &rest, &err),
                 VT_ETOOBIG);
    vt_free(big);
}

/* Every allocation of a call fails in turn: the call reports VT_ENOMEM (or
 * copes) and leaks nothing. */
TEST(out_of_memory_paths)
{
    const char *s = "颜色：黑色，200到500元的两米宽 black leather sofa under $2000";
    size_t n = strlen(s);
    int failures_seen = 0;
    for (int64_t k = 1; k < 400; k++) {
        int64_t before = vt_alloc_bytes_in_use();
        struct vt_error err;
        char *out = NULL, *rest = NULL;
        json_t *o = NULL;
        struct vt_keyword *v = NULL;
        size_t nv = 0;
        int rc[4];
        vt_alloc_fail_after(k);
        rc[0] = vt_text_clean(s, n, VT_TEXT_CLEAN_DEFAULT, &out, NULL, &err);
        vt_free(out);
        out = NULL;
        vt_alloc_fail_after(k);
        rc[1] = vt_bridge_zh_en(bridge, s, n, &out, NULL, &err);
        vt_alloc_fail_after(k);
        rc[2] = vt_attr_extract(vocab, seg, s, n, &o, &rest, &err);
        vt_alloc_fail_after(k);
        rc[3] = vt_keywords_extract(kw, seg, s, n, 5, &v, &nv, &err);
        vt_alloc_fail_after(0);
        for (int i = 0; i < 4; i++) {
            CHECK(rc[i] == 0 || rc[i] == VT_ENOMEM);
            failures_seen += rc[i] == VT_ENOMEM;
        }
        CHECK(rc[1] != 0 || out != NULL);
        CHECK(rc[2] != 0 || (o != NULL && rest != NULL));
        vt_free(out);
        vt_free(rest);
        json_decref(o);
        vt_keywords_result_free(v, nv);
        CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
    }
    CHECK(failures_seen > 100);
}

/* ---- gloss choice, longest matches, options, case --------------------------------- */

static int gloss_is(const char *zh, const char *want)
{
    const char *g = vt_cedict_gloss(dict, zh, strlen(zh));
    int ok = want ? g && strcmp(g, want) == 0 : g == NULL;
    if (!ok)
        fprintf(stderr, "  gloss(%s) = %s, want %s\n", zh, g ? g : "(null)", want ? want : "(null)");
    return ok;
}

TEST(cedict_gloss_rules)
{
    /* Words that simplification merged compete on their own glosses: 台 is
     * 檯 "desk" and 臺 "platform", not the classical "you" of the entry
     * written 台; 柜 is 櫃 "cupboard", not the willow of the entry 柜. */
    CHECK(gloss_is("檯", "desk"));
    CHECK(gloss_is("臺", "platform"));
    CHECK(gloss_is("櫃", "cupboard"));
    CHECK(gloss_is("柜", "cupboard"));
    const char *tai = vt_cedict_gloss(dict, "台", 3);
    CHECK(tai && (strcmp(tai, "desk") == 0 || strcmp(tai, "platform") == 0));
    /* A sense marked archaic loses to an unmarked one (余: "(archaic) I"
     * against 餘 "extra"), but a headword whose only sense is marked keeps
     * it (亢旱: "severe drought (literary)"). */
    CHECK(gloss_is("余", "extra"));
    CHECK(gloss_is("亢旱", "severe drought"));
    /* Scientific names are skipped; an English name with a capital stays. */
    CHECK(gloss_is("鲢", NULL));            /* only "Hypophthalmichthys moritrix" */
    CHECK(gloss_is("楠木", "Chinese cedar")); /* not "Phoebe zhennan" */
}

TEST(cedict_cache_follows_the_rules)
{
    struct stat st;
    char path[64], old[160], now[160] = "";
    struct vt_cedict *d = NULL;
    struct vt_error err;
    FILE *f;
    CHECK_EQ_INT(stat(CEDICT, &st), 0);
    snprintf(path, sizeof path, "build/tests/glosses-%ld.tsv", (long)getpid());
    /* A cache of the same source written by other rules is not read... */
    snprintf(old, sizeof old, "vitrine-cedict-glosses 2 rules 0 %lld %lld %lld",
             (long long)st.st_size, (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "%s\ns\t钟\tbogus\n", old);
    fclose(f);
    CHECK_EQ_INT(vt_cedict_load(CEDICT, path, &d, &err), 0);
    CHECK_STR(d ? vt_cedict_gloss(d, "钟", 3) : NULL, "clock");
    vt_cedict_free(d);
    d = NULL;
    /* ... it is rewritten under the current rules' header ... */
    f = fopen(path, "r");
    if (f) {
        if (!fgets(now, sizeof now, f))
            now[0] = '\0';
        fclose(f);
    }
    now[strcspn(now, "\n")] = '\0';
    CHECK(strncmp(now, "vitrine-cedict-glosses 2 rules ", 31) == 0 && strcmp(now, old) != 0);
    /* ... and a cache with that header is what gets read. */
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "%s\ns\t钟\tbogus\nt\t鐘\tbogus\n", now);
        fclose(f);
    }
    CHECK_EQ_INT(vt_cedict_load(CEDICT, path, &d, &err), 0);
    CHECK_STR(d ? vt_cedict_gloss(d, "鐘", 3) : NULL, "bogus");
    vt_cedict_free(d);
    remove(path);
}

static size_t cut_count(const char *s)
{
    struct vt_tokens t;
    struct vt_error err;
    size_t n = 0;
    vt_tokens_init(&t);
    if (vt_jieba_cut(seg, s, strlen(s), &t, &err) == 0)
        n = t.n;
    vt_tokens_reset(&t);
    return n;
}

TEST(bridge_prefers_the_longest_known_word)
{
    /* jieba cuts 上下铺 into 上下 + 铺 ("up and down" + "store"); CC-CEDICT
     * has the whole word. */
    CHECK(cut_count("上下铺") >= 2);
    CHECK(bridge_is("上下铺", "bunk bed"));
    CHECK(bridge_is("我想给孩子买一张上下铺", "I want for child buy bunk bed"));
    /* The same for a glossary word: 花洒 is cut 花 + 洒. */
    CHECK(cut_count("花洒") >= 2);
    CHECK(bridge_is("淋浴花洒", "shower shower head"));
    /* Only whole words combine: 和服装 is 和 + 服装 ("and dress"), and the
     * 和服 ("kimono") that straddles them is not taken. */
    CHECK(gloss_is("和服", "kimono"));
    CHECK(bridge_is("和服装", "and dress"));
    /* Words the caller adds take part too. */
    struct vt_bridge *b = NULL;
    CHECK_EQ_INT(vt_bridge_new(seg, dict, &b), 0);
    if (!b)
        return;
    CHECK(cut_count("青山家具") >= 2);
    CHECK_EQ_INT(vt_bridge_add(b, "青山家具", "Aoyama Furniture"), 0);
    char *out = NULL;
    struct vt_error err;
    const char *s = "青山家具的沙发";
    CHECK_EQ_INT(vt_bridge_zh_en(b, s, strlen(s), &out, NULL, &err), 0);
    CHECK_STR(out, "Aoyama Furniture sofa");
    vt_free(out);
    vt_bridge_free(b);
}

static char *bridge_with(const struct vt_bridge *b, const char *s)
{
    char *out = NULL;
    struct vt_error err;
    int rc;
    char *c = clean(s, strlen(s), VT_TEXT_FOLD_PUNCT, &rc);
    if (rc == 0 && vt_bridge_zh_en(b, c, strlen(c), &out, NULL, &err) != 0)
        out = NULL;
    vt_free(c);
    return out;
}

static int bridge_with_is(const struct vt_bridge *b, const char *in, const char *want)
{
    char *got = bridge_with(b, in);
    int ok = got && strcmp(got, want) == 0;
    if (!ok)
        fprintf(stderr, "  bridge(\"%s\") = \"%s\", want \"%s\"\n", in, got ? got : "(null)",
                want);
    vt_free(got);
    return ok;
}

TEST(bridge_without_glossary)
{
    struct vt_bridge_opts o = {.no_glossary = 1};
    struct vt_bridge *b = NULL;
    CHECK_EQ_INT(vt_bridge_new_opts(seg, dict, &o, &b), 0);
    if (!b)
        return;
    /* CC-CEDICT's own choice, not the glossary's "coffee table". */
    const char *g = vt_cedict_gloss(dict, "茶几", 6);
    CHECK(g && strcmp(g, "coffee table") != 0);
    CHECK_STR(vt_bridge_word(b, "茶几", 6), g);
    CHECK(bridge_with_is(b, "茶几", g ? g : "?"));
    CHECK(bridge_is("茶几", "coffee table")); /* the default bridge has it */
    /* The glossary's dropped particle is CC-CEDICT's again. */
    CHECK(vt_bridge_word(b, "很", 3) && strcmp(vt_bridge_word(b, "很", 3), "") != 0);
    /* A glossary-only compound is split into what CC-CEDICT knows. */
    CHECK(vt_cedict_gloss(dict, "布艺", 6) == NULL);
    CHECK(vt_bridge_word(b, "布艺", 6) == NULL);
    /* Added words still work. */
    CHECK_EQ_INT(vt_bridge_add(b, "宜家", "IKEA"), 0);
    CHECK_STR(vt_bridge_word(b, "宜家", 6), "IKEA");
    vt_bridge_free(b);
    b = NULL;
    o.letter_case = (enum vt_bridge_case)7;
    CHECK_EQ_INT(vt_bridge_new_opts(seg, dict, &o, &b), VT_EINVAL);
    CHECK(b == NULL);
}

TEST(bridge_sentence_case)
{
    struct vt_bridge_opts o = {.letter_case = VT_BRIDGE_CASE_SENTENCE};
    struct vt_bridge *b = NULL;
    CHECK_EQ_INT(vt_bridge_new_opts(seg, dict, &o, &b), 0);
    if (!b)
        return;
    /* As a catalog writes its names. */
    CHECK(bridge_with_is(b, "转角沙发", "Corner sofa"));
    CHECK(bridge_with_is(b, "黑色真皮沙发", "Black leather sofa"));
    CHECK(bridge_is("转角沙发", "corner sofa")); /* case as is */
    /* The first word written gets the capital, after dropped particles. */
    CHECK(bridge_with_is(b, "的沙发", "Sofa"));
    /* Every sentence; not after a comma; not a run that follows Latin
     * text or digits. */
    CHECK(bridge_with_is(b, "沙发。茶几！床", "Sofa. Coffee table! Bed"));
    CHECK(bridge_with_is(b, "黑色的沙发，白色的茶几", "Black sofa, white coffee table"));
    CHECK(bridge_with_is(b, "“沙发”", "\"Sofa\""));
    CHECK(bridge_with_is(b, "iPhone 15 Pro手机壳", "iPhone 15 Pro cell phone shell"));
    CHECK(bridge_with_is(b, "200元的沙发", "200 yuan sofa"));
    /* Uncleaned text: full-width stops and line breaks end sentences. */
    char *out = NULL;
    struct vt_error err;
    const char *raw = "沙发。茶几\n床";
    CHECK_EQ_INT(vt_bridge_zh_en(b, raw, strlen(raw), &out, NULL, &err), 0);
    CHECK_STR(out, "Sofa。 Coffee table Bed");
    vt_free(out);
    /* English comes back as it is. */
    CHECK(bridge_with_is(b, "black sofa", "black sofa"));
    vt_bridge_free(b);
}

/* ---- setup ---------------------------------------------------------------------------- */

static int setup(void)
{
    struct vt_error err;
    if (!file_exists(DICT) || !file_exists(IDF) || !file_exists(CEDICT)) {
        fprintf(stderr, "test_text: data/text missing, running scripts/fetch-text-data\n");
        if (system("scripts/fetch-text-data") != 0)
            fprintf(stderr, "test_text: scripts/fetch-text-data failed\n");
    }
    int64_t t0 = vt_time_mono_ns();
    if (vt_jieba_load(DICT, DICT_BIN, &seg, &err)) {
        fprintf(stderr, "test_text: %s\n", err.message);
        return -1;
    }
    int64_t t1 = vt_time_mono_ns();
    if (vt_cedict_load(CEDICT, CEDICT_CACHE, &dict, &err)) {
        fprintf(stderr, "test_text: %s\n", err.message);
        return -1;
    }
    int64_t t2 = vt_time_mono_ns();
    if (vt_keywords_new(&kw) || vt_keywords_load_idf(kw, IDF, &err)) {
        fprintf(stderr, "test_text: %s\n", err.message);
        return -1;
    }
    int64_t t3 = vt_time_mono_ns();
    if (vt_bridge_new(seg, dict, &bridge) || vt_attr_vocab_new(&vocab))
        return -1;
    printf("loaded: jieba %.1f ms, CC-CEDICT %.1f ms, IDF %.1f ms\n", (t1 - t0) / 1e6,
           (t2 - t1) / 1e6, (t3 - t2) / 1e6);
    return 0;
}

int main(void)
{
    vt_alloc_install_json();
    int64_t before = vt_alloc_bytes_in_use();
    RUN(clean_width_case_and_punctuation);
    RUN(clean_controls_and_spaces);
    RUN(clean_bad_input);
    RUN(language_guess);
    if (setup() != 0) {
        /* Never skip silently: the data is part of what is tested. */
        test_current = "setup";
        CHECK(!"data/text could not be loaded");
        tests_failed++;
        return TEST_SUMMARY();
    }
    RUN(jieba_matches_reference);
    RUN(jieba_tokens_and_user_words);
    RUN(jieba_bad_input_and_speed);
    RUN(jieba_cache);
    RUN(cedict_glosses);
    RUN(bridge_examples);
    RUN(keywords_match_jieba);
    RUN(keywords_english_and_mixed);
    RUN(attrs_examples);
    RUN(attrs_matches_detail);
    RUN(attrs_vocabulary_from_items);
    RUN(attrs_bad_input);
    RUN(out_of_memory_paths);
    RUN(cedict_gloss_rules);
    RUN(cedict_cache_follows_the_rules);
    RUN(bridge_prefers_the_longest_known_word);
    RUN(bridge_without_glossary);
    RUN(bridge_sentence_case);
    vt_attr_vocab_free(vocab);
    vt_bridge_free(bridge);
    vt_keywords_free(kw);
    vt_cedict_free(dict);
    vt_jieba_free(seg);
    test_current = "leaks";
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
    return TEST_SUMMARY();
}
