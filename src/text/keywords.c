/*
 * keywords.c - TF-IDF over jieba words (Chinese) and letter runs (English).
 *
 * Both the corpus counter and the extractor walk a text the same way
 * (for_each_term): clean it, let jieba cut it, take Han tokens as Chinese
 * terms and split every stretch of non-Han tokens into English words
 * (jieba cuts "café" into "caf" and "é"; the English splitter keeps
 * accented letters together).
 */
#include "text/keywords.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "text/datafile.h"
#include "text/normalize.h"
#include "text/strmap.h"

#define IDF_MAX_BYTES ((size_t)64 << 20)

struct vt_keywords {
    struct vt_strmap idf_zh; /* word -> double bits */
    double median_zh;
    struct vt_strmap df_en; /* word -> documents containing it */
    size_t docs;
};

/* Stop words: function words and shopping filler that are never what a
 * text is about. English after case folding; Chinese of two or more
 * characters (shorter terms are skipped anyway). */
static const char *const stop_words[] = {
    /* English */
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "don't", "down", "during", "each",
    "even", "few", "for", "from", "further", "get", "got", "had", "has", "have", "having",
    "he", "her", "here", "hers", "him", "his", "how", "i", "i'm", "if", "in", "into", "is",
    "it", "it's", "its", "just", "me", "more", "most", "much", "my", "no", "nor", "not",
    "now", "of", "off", "on", "once", "one", "only", "or", "other", "our", "ours", "out",
    "over", "own", "really", "same", "she", "should", "so", "some", "such", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "through",
    "to", "too", "under", "until", "up", "us", "very", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
    "yours", "want", "need", "looking", "buy", "please",
    /* Chinese */
    "我们", "你们", "他们", "她们", "它们", "自己", "这个", "那个", "这些", "那些", "这样",
    "那样", "这种", "那种", "什么", "怎么", "怎样", "为什么", "因为", "所以", "但是", "可是",
    "如果", "虽然", "而且", "或者", "还是", "就是", "也是", "都是", "不是", "可以", "没有",
    "一个", "一些", "一下", "一点", "有点", "有些", "已经", "非常", "比较", "特别", "真的",
    "觉得", "感觉", "然后", "以及", "还有", "东西", "时候", "现在", "之后", "之前", "以后",
    "以前", "的话", "一样", "其实", "应该", "需要", "知道", "我想", "想要", "请问", "一款",
    "这款", "那款", "一张", "一件", "购买", "推荐",
};

#define N_STOP (sizeof stop_words / sizeof stop_words[0])

/* The list sorted by bytes once, for binary search; no heap involved. */
static const char *stop_sorted[N_STOP];
static pthread_once_t stop_once = PTHREAD_ONCE_INIT;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void stop_sort(void)
{
    memcpy(stop_sorted, stop_words, sizeof stop_sorted);
    qsort(stop_sorted, N_STOP, sizeof stop_sorted[0], cmp_str);
}

static int is_stop(const char *w, size_t n)
{
    char key[32];
    if (n >= sizeof key)
        return 0;
    memcpy(key, w, n);
    key[n] = '\0';
    pthread_once(&stop_once, stop_sort);
    const char *k = key;
    return bsearch(&k, stop_sorted, N_STOP, sizeof stop_sorted[0], cmp_str) != NULL;
}

/* ---- tables --------------------------------------------------------------- */

int vt_keywords_new(struct vt_keywords **out)
{
    struct vt_keywords *kw = vt_calloc(1, sizeof *kw);
    *out = kw;
    if (!kw)
        return VT_ENOMEM;
    vt_strmap_init(&kw->idf_zh);
    vt_strmap_init(&kw->df_en);
    kw->median_zh = 0;
    return 0;
}

void vt_keywords_free(struct vt_keywords *kw)
{
    if (!kw)
        return;
    vt_strmap_reset(&kw->idf_zh);
    vt_strmap_reset(&kw->df_en);
    vt_free(kw);
}

size_t vt_keywords_docs(const struct vt_keywords *kw)
{
    return kw->docs;
}

size_t vt_keywords_idf_size(const struct vt_keywords *kw)
{
    return kw->idf_zh.n;
}

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* idf.txt: "word idf" per line, the IDF a decimal number. */
int vt_keywords_load_idf(struct vt_keywords *kw, const char *path, struct vt_error *err)
{
    char *data = NULL;
    size_t len;
    double *vals = NULL;
    struct vt_lines it;
    const char *s;
    size_t n;
    int rc;

    rc = vt_datafile_read(path, IDF_MAX_BYTES, &data, &len, err);
    if (rc)
        return rc;
    vt_lines_init(&it, data, len);
    while (vt_lines_next(&it, &s, &n)) {
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0)
            continue;
        const char *sp = memchr(s, ' ', n);
        char num[32];
        size_t nl = sp ? (size_t)(s + n - sp - 1) : 0;
        size_t bad;
        double v = NAN;
        if (sp && sp > s && nl > 0 && nl < sizeof num && vt_utf8_valid(s, (size_t)(sp - s), &bad)) {
            memcpy(num, sp + 1, nl);
            num[nl] = '\0';
            char *end;
            v = strtod(num, &end);
            if (*end != '\0')
                v = NAN;
        }
        if (!isfinite(v) || v < 0) {
            rc = vt_error_set(err, VT_EFORMAT, "idf", "%s:%d: expected \"word idf\"", path,
                              it.line);
            if (err)
                err->line = it.line;
            goto out;
        }
        size_t idx;
        int added;
        if (vt_strmap_put(&kw->idf_zh, s, (size_t)(sp - s), dbl_bits(v), &idx, &added)) {
            rc = vt_error_set(err, VT_ENOMEM, "idf", "out of memory loading %s", path);
            goto out;
        }
        if (!added)
            kw->idf_zh.e[idx].val = dbl_bits(v); /* later lines win, as a dict would */
    }
    /* jieba: sorted(values)[len // 2]. */
    if (kw->idf_zh.n) {
        vals = vt_malloc(kw->idf_zh.n * sizeof *vals);
        if (!vals) {
            rc = vt_error_set(err, VT_ENOMEM, "idf", "out of memory loading %s", path);
            goto out;
        }
        for (size_t i = 0; i < kw->idf_zh.n; i++)
            vals[i] = bits_dbl(kw->idf_zh.e[i].val);
        qsort(vals, kw->idf_zh.n, sizeof *vals, cmp_double);
        kw->median_zh = vals[kw->idf_zh.n / 2];
    }
    rc = 0;
out:
    vt_free(vals);
    vt_free(data);
    return rc;
}

/* ---- walking the terms of a text ------------------------------------------------ */

typedef int (*term_fn)(void *ctx, const char *t, size_t n, int zh);

static int is_word_cp(uint32_t cp)
{
    return vt_is_latin_letter(cp) || (cp >= '0' && cp <= '9');
}

/* English words of s[0..n): letter/digit runs, an apostrophe kept between
 * letters. Words shorter than two characters, all digits, or stop words are
 * not reported. */
static int english_terms(const char *s, size_t n, term_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = vt_utf8_decode(s + i, n - i, &cp);
        if (!is_word_cp(cp)) {
            i += (size_t)len;
            continue;
        }
        size_t start = i, cps = 0;
        int letters = 0;
        while (i < n) {
            len = vt_utf8_decode(s + i, n - i, &cp);
            if (is_word_cp(cp)) {
                letters |= !(cp >= '0' && cp <= '9');
                i += (size_t)len;
                cps++;
                continue;
            }
            /* "don't": an apostrophe with a letter on each side. */
            if (cp == '\'' && i > start && i + 1 < n) {
                uint32_t nx;
                vt_utf8_decode(s + i + 1, n - i - 1, &nx);
                if (vt_is_latin_letter(nx)) {
                    i++;
                    cps++;
                    continue;
                }
            }
            break;
        }
        if (cps >= 2 && letters && !is_stop(s + start, i - start)) {
            int rc = fn(ctx, s + start, i - start, 0);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Clean the text, then report its terms in order. */
static int for_each_term(const struct vt_jieba *seg, const char *text, size_t n, term_fn fn,
                         void *ctx, struct vt_error *err)
{
    char *c = NULL;
    size_t cn;
    struct vt_tokens toks;
    int rc;

    vt_tokens_init(&toks);
    rc = vt_text_clean(text, n, VT_TEXT_CLEAN_DEFAULT, &c, &cn, err);
    if (rc)
        return rc;
    if (!seg) {
        rc = english_terms(c, cn, fn, ctx);
        goto out;
    }
    rc = vt_jieba_cut(seg, c, cn, &toks, err);
    if (rc)
        goto out;
    size_t span = 0; /* start of the current run of non-Han tokens */
    for (size_t i = 0; i <= toks.n; i++) {
        int han = i < toks.n && toks.v[i].kind == VT_TOK_HAN;
        size_t at = i < toks.n ? toks.v[i].off : cn;
        if (i < toks.n && !han)
            continue;
        if (at > span && (rc = english_terms(c + span, at - span, fn, ctx)) != 0)
            goto out;
        if (han) {
            const char *w = c + toks.v[i].off;
            size_t wn = toks.v[i].len;
            span = toks.v[i].off + wn;
            if (vt_utf8_len(w, wn) >= 2 && !is_stop(w, wn) && (rc = fn(ctx, w, wn, 1)) != 0)
                goto out;
        }
    }
    rc = 0;
out:
    vt_tokens_reset(&toks);
    vt_free(c);
    return rc;
}

/* ---- corpus ---------------------------------------------------------------- */

struct doc_ctx {
    struct vt_keywords *kw;
    struct vt_strmap seen;
};

static int doc_term(void *vctx, const char *t, size_t n, int zh)
{
    struct doc_ctx *ctx = vctx;
    if (zh)
        return 0;
    int added;
    if (vt_strmap_put(&ctx->seen, t, n, 0, NULL, &added))
        return VT_ENOMEM;
    if (!added)
        return 0;
    size_t idx;
    if (vt_strmap_put(&ctx->kw->df_en, t, n, 1, &idx, &added))
        return VT_ENOMEM;
    if (!added)
        ctx->kw->df_en.e[idx].val++;
    return 0;
}

int vt_keywords_add_doc(struct vt_keywords *kw, const char *text, size_t n)
{
    struct doc_ctx ctx = {kw, {0}};
    vt_strmap_init(&ctx.seen);
    /* Chinese text contributes nothing to the English counts, so the
     * segmenter is not needed here. */
    int rc = for_each_term(NULL, text, n, doc_term, &ctx, NULL);
    vt_strmap_reset(&ctx.seen);
    if (rc == 0)
        kw->docs++;
    return rc;
}

double vt_keywords_idf(const struct vt_keywords *kw, const char *term, size_t n)
{
    if (vt_utf8_has_cjk(term, n)) {
        uint64_t *v = vt_strmap_get(&kw->idf_zh, term, n);
        return v ? bits_dbl(*v) : kw->median_zh;
    }
    uint64_t *df = vt_strmap_get(&kw->df_en, term, n);
    return log((double)(kw->docs + 1) / (double)((df ? *df : 0) + 1)) + 1.0;
}

/* ---- extraction -------------------------------------------------------------- */

struct term_stat {
    uint32_t count, first;
    int zh;
    uint64_t key; /* entry index in the counting map */
    double score;
};

struct extract_ctx {
    struct vt_strmap terms; /* term -> index into st[] */
    struct term_stat *st;
    size_t n, cap;
    size_t total;
};

static int extract_term(void *vctx, const char *t, size_t n, int zh)
{
    struct extract_ctx *x = vctx;
    size_t idx;
    int added;
    if (vt_strmap_put(&x->terms, t, n, x->n, &idx, &added))
        return VT_ENOMEM;
    x->total++;
    if (!added) {
        x->st[x->terms.e[idx].val].count++;
        return 0;
    }
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 32;
        struct term_stat *st = vt_realloc(x->st, cap * sizeof *st);
        if (!st)
            return VT_ENOMEM;
        x->st = st;
        x->cap = cap;
    }
    x->st[x->n] = (struct term_stat){1, (uint32_t)x->n, zh, idx, 0};
    x->n++;
    return 0;
}

static int cmp_score(const void *a, const void *b)
{
    const struct term_stat *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

void vt_keywords_result_free(struct vt_keyword *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        vt_free(v[i].word);
    vt_free(v);
}

int vt_keywords_extract(const struct vt_keywords *kw, const struct vt_jieba *seg,
                        const char *text, size_t n, size_t k, struct vt_keyword **out,
                        size_t *n_out, struct vt_error *err)
{
    struct extract_ctx x = {0};
    struct vt_keyword *res = NULL;
    size_t m = 0;
    int rc;

    *out = NULL;
    *n_out = 0;
    vt_strmap_init(&x.terms);
    rc = for_each_term(seg, text, n, extract_term, &x, err);
    if (rc) {
        if (rc == VT_ENOMEM)
            vt_error_set(err, rc, "text", "out of memory extracting keywords");
        goto out;
    }
    if (x.n == 0)
        goto out;
    for (size_t i = 0; i < x.n; i++) {
        const struct vt_strmap_entry *e = &x.terms.e[x.st[i].key];
        double idf = vt_keywords_idf(kw, x.terms.pool + e->koff, e->klen);
        x.st[i].score = (double)x.st[i].count * idf / (double)x.total;
    }
    qsort(x.st, x.n, sizeof *x.st, cmp_score);
    m = (k && k < x.n) ? k : x.n;
    res = vt_calloc(m, sizeof *res);
    if (!res)
        goto oom;
    for (size_t i = 0; i < m; i++) {
        const struct vt_strmap_entry *e = &x.terms.e[x.st[i].key];
        res[i].word = vt_strndup(x.terms.pool + e->koff, e->klen);
        if (!res[i].word)
            goto oom;
        res[i].score = x.st[i].score;
        res[i].zh = x.st[i].zh;
    }
    *out = res;
    *n_out = m;
    res = NULL;
    rc = 0;
    goto out;
oom:
    rc = vt_error_set(err, VT_ENOMEM, "text", "out of memory extracting keywords");
out:
    vt_keywords_result_free(res, m);
    vt_free(x.st);
    vt_strmap_reset(&x.terms);
    return rc;
}
