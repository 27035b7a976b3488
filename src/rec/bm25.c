/*
 * bm25.c - the lexical index (contract, terms and scoring in bm25.h).
 *
 * While building, every term occurrence is one (term, doc, field) entry
 * in a growing array, and each document's weighted length is summed as
 * it comes. vt_bm25_finish sorts the entries by (term, doc) and folds
 * them into postings: for term t, post_doc/post_tf[ptr[t] .. ptr[t+1])
 * are the documents holding t in ascending order with t's weighted
 * frequency, so scoring walks one list per query term and membership
 * (vt_bm25_doc_has) is a binary search.
 *
 * Invariants after finish: ptr[0] = 0, ptr is non-decreasing, ptr[nterms]
 * = npost; every post_tf > 0 (a field of weight 0 records nothing);
 * doc_len[d] is the sum over d's postings of post_tf (the BM25F length).
 * A term's id is its entry number in the term map, also stored as its
 * value.
 */
#include "rec/bm25.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/util.h"
#include "text/jieba.h"
#include "text/normalize.h"
#include "text/strmap.h"

struct occ {
    uint32_t term;
    int32_t doc;
    uint8_t field;
};

struct vt_bm25 {
    struct vt_bm25_params p;
    const struct vt_jieba *seg;
    struct vt_strmap terms; /* term -> id */
    int finished;

    /* building */
    struct occ *occ;
    size_t nocc, capocc;

    /* documents */
    int32_t ndocs;
    float *doc_len; /* ndocs */
    size_t cap_docs;
    double avg_len;

    /* postings */
    size_t nterms;
    uint32_t *ptr;   /* nterms + 1 */
    int32_t *post_doc;
    float *post_tf;
};

void vt_bm25_params_init(struct vt_bm25_params *p)
{
    p->k1 = 1.2f;
    p->b = 0.75f;
    p->field_weight[VT_BM25_TITLE] = 3.0f;
    p->field_weight[VT_BM25_META] = 1.5f;
    p->field_weight[VT_BM25_DESC] = 1.0f;
    p->char_weight = 0.3f;
}

/* ---- terms ----------------------------------------------------------------- */

void vt_bm25_terms_init(struct vt_bm25_terms *t)
{
    memset(t, 0, sizeof *t);
}

void vt_bm25_terms_reset(struct vt_bm25_terms *t)
{
    for (size_t i = 0; i < t->n; i++)
        vt_free(t->term[i]);
    vt_free(t->term);
    vt_free(t->weight);
    vt_bm25_terms_init(t);
}

static int terms_push(struct vt_bm25_terms *t, const char *s, size_t n, float w)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **nt = vt_realloc(t->term, cap * sizeof *nt);
        if (!nt)
            return VT_ENOMEM;
        t->term = nt;
        float *nw = vt_realloc(t->weight, cap * sizeof *nw);
        if (!nw)
            return VT_ENOMEM;
        t->weight = nw;
        t->cap = cap;
    }
    char *c = vt_strndup(s, n);
    if (!c)
        return VT_ENOMEM;
    t->term[t->n] = c;
    t->weight[t->n] = w;
    t->n++;
    return 0;
}

static int ends(const char *w, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(w + n - k, suf, k) == 0;
}

void vt_bm25_stem(char *w, size_t *np)
{
    size_t n = *np;
    for (size_t i = 0; i < n; i++)
        if (w[i] < 'a' || w[i] > 'z')
            return; /* digits, accents: not an English plural */
    if (n <= 3)
        return;
    if (ends(w, n, "ies") && n > 4) {
        w[n - 3] = 'y';
        *np = n - 2;
    } else if (ends(w, n, "lves")) {
        w[n - 3] = 'f';
        *np = n - 2;
    } else if (ends(w, n, "sses") || ends(w, n, "ches") || ends(w, n, "shes") ||
               ends(w, n, "xes")) {
        *np = n - 2;
    } else if (w[n - 1] == 's' && !ends(w, n, "ss") && !ends(w, n, "us") &&
               !ends(w, n, "is")) {
        *np = n - 1;
    }
}

/* Class of a code point: 0 separator, 1 word (letter or digit), 2 Han. */
static int cp_class(uint32_t cp)
{
    if (vt_is_han(cp))
        return 2;
    if (cp < 0x80)
        return ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || (cp >= '0' && cp <= '9');
    if (cp > 0x10FFFF)
        return 0;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ND:
        return 1;
    default:
        return 0;
    }
}

/* A word run s[0..n): cut to VT_BM25_TERM_MAX at a code point, stemmed. */
static int push_word(struct vt_bm25_terms *out, const char *s, size_t n)
{
    char w[VT_BM25_TERM_MAX];
    if (n > VT_BM25_TERM_MAX) {
        n = VT_BM25_TERM_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(w, s, n);
    vt_bm25_stem(w, &n);
    return terms_push(out, w, n, 1.0f);
}

/* The characters of Han word s[0..n) as terms of weight cw; none when the
 * word is one character (the word term is that character already). */
static int push_chars(struct vt_bm25_terms *out, const char *s, size_t n, float cw, int force)
{
    size_t i = 0, count = 0;
    uint32_t cp;
    if (!force) {
        count = vt_utf8_len(s, n);
        if (count <= 1)
            return 0;
    }
    while (i < n) {
        int len = vt_utf8_decode(s + i, n - i, &cp);
        if (len <= 0)
            break;
        int rc = terms_push(out, s + i, (size_t)len, cw);
        if (rc)
            return rc;
        i += (size_t)len;
    }
    return 0;
}

static int push_han(const struct vt_jieba *seg, struct vt_bm25_terms *out, const char *s,
                    size_t n, float cw, struct vt_tokens *toks, struct vt_error *err)
{
    if (!seg)
        return push_chars(out, s, n, cw, 1);
    int rc = vt_jieba_cut(seg, s, n, toks, err);
    if (rc)
        return rc;
    for (size_t k = 0; k < toks->n && rc == 0; k++) {
        const char *w = s + toks->v[k].off;
        size_t wl = toks->v[k].len;
        if (wl > VT_BM25_TERM_MAX) { /* an absurd dictionary word: characters only */
            rc = push_chars(out, w, wl, cw, 1);
            continue;
        }
        rc = terms_push(out, w, wl, 1.0f);
        if (rc == 0)
            rc = push_chars(out, w, wl, cw, 0);
    }
    return rc;
}

int vt_bm25_tokenize(const struct vt_jieba *seg, const char *text, size_t n, float char_weight,
                     struct vt_bm25_terms *out, struct vt_error *err)
{
    char *clean = NULL;
    size_t clen = 0;
    struct vt_tokens toks;
    int rc = vt_text_clean(text, n, VT_TEXT_CLEAN_DEFAULT, &clean, &clen, err);
    if (rc)
        return rc;
    vt_tokens_init(&toks);
    size_t i = 0;
    while (i < clen && rc == 0) {
        uint32_t cp;
        int len = vt_utf8_decode(clean + i, clen - i, &cp);
        if (len <= 0)
            break;
        int cls = cp_class(cp);
        if (cls == 0) {
            i += (size_t)len;
            continue;
        }
        size_t start = i;
        while (i < clen) {
            len = vt_utf8_decode(clean + i, clen - i, &cp);
            if (len <= 0 || cp_class(cp) != cls)
                break;
            i += (size_t)len;
        }
        if (cls == 1)
            rc = push_word(out, clean + start, i - start);
        else
            rc = push_han(seg, out, clean + start, i - start, char_weight, &toks, err);
    }
    vt_tokens_reset(&toks);
    vt_free(clean);
    if (rc == VT_ENOMEM)
        vt_error_set(err, VT_ENOMEM, NULL, "out of memory cutting text into terms");
    return rc;
}

/* ---- building ------------------------------------------------------------------ */

int vt_bm25_new(const struct vt_bm25_params *p, const struct vt_jieba *seg,
                struct vt_bm25 **out)
{
    *out = NULL;
    struct vt_bm25_params d;
    if (!p) {
        vt_bm25_params_init(&d);
        p = &d;
    }
    if (!(isfinite(p->k1) && p->k1 >= 0 && isfinite(p->b) && p->b >= 0 && p->b <= 1 &&
          isfinite(p->char_weight) && p->char_weight >= 0))
        return VT_EINVAL;
    for (int f = 0; f < VT_BM25_FIELDS; f++)
        if (!isfinite(p->field_weight[f]) || p->field_weight[f] < 0)
            return VT_EINVAL;
    struct vt_bm25 *ix = vt_calloc(1, sizeof *ix);
    if (!ix)
        return VT_ENOMEM;
    ix->p = *p;
    ix->seg = seg;
    vt_strmap_init(&ix->terms);
    *out = ix;
    return 0;
}

void vt_bm25_free(struct vt_bm25 *ix)
{
    if (!ix)
        return;
    vt_strmap_reset(&ix->terms);
    vt_free(ix->occ);
    vt_free(ix->doc_len);
    vt_free(ix->ptr);
    vt_free(ix->post_doc);
    vt_free(ix->post_tf);
    vt_free(ix);
}

static int grow_docs(struct vt_bm25 *ix, int32_t doc)
{
    if ((size_t)doc < ix->cap_docs) {
        if (doc >= ix->ndocs)
            ix->ndocs = doc + 1;
        return 0;
    }
    size_t cap = ix->cap_docs ? ix->cap_docs : 64;
    while (cap <= (size_t)doc)
        cap *= 2;
    float *nl = vt_realloc(ix->doc_len, cap * sizeof *nl);
    if (!nl)
        return VT_ENOMEM;
    memset(nl + ix->cap_docs, 0, (cap - ix->cap_docs) * sizeof *nl);
    ix->doc_len = nl;
    ix->cap_docs = cap;
    ix->ndocs = doc + 1;
    return 0;
}

int vt_bm25_add(struct vt_bm25 *ix, int32_t doc, int field, const char *text, size_t n,
                struct vt_error *err)
{
    if (ix->finished)
        return vt_error_set(err, VT_EINVAL, NULL, "the index is finished");
    if (doc < 0 || doc >= VT_BM25_DOCS_MAX)
        return vt_error_set(err, VT_EINVAL, "doc", "document number %d is out of range",
                            (int)doc);
    if (field < 0 || field >= VT_BM25_FIELDS)
        return vt_error_set(err, VT_EINVAL, "field", "no field %d", field);
    struct vt_bm25_terms t;
    vt_bm25_terms_init(&t);
    int rc = vt_bm25_tokenize(ix->seg, text, n, 1.0f, &t, err);
    if (rc == 0 && (rc = grow_docs(ix, doc)) != 0)
        vt_error_set(err, rc, NULL, "out of memory");
    for (size_t i = 0; rc == 0 && i < t.n; i++) {
        size_t id;
        /* the value is the term's id: its entry number when it is new */
        if (vt_strmap_put(&ix->terms, t.term[i], strlen(t.term[i]), ix->terms.n, &id, NULL)) {
            rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
            break;
        }
        if (ix->nocc == ix->capocc) {
            size_t cap = ix->capocc ? ix->capocc * 2 : 1024;
            struct occ *no = vt_realloc(ix->occ, cap * sizeof *no);
            if (!no) {
                rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
                break;
            }
            ix->occ = no;
            ix->capocc = cap;
        }
        if (ix->p.field_weight[field] <= 0)
            continue; /* a field that does not count leaves no posting */
        ix->occ[ix->nocc++] = (struct occ){(uint32_t)id, doc, (uint8_t)field};
        ix->doc_len[doc] += ix->p.field_weight[field];
    }
    vt_bm25_terms_reset(&t);
    return rc;
}

static int occ_cmp(const void *a, const void *b)
{
    const struct occ *x = a, *y = b;
    if (x->term != y->term)
        return x->term < y->term ? -1 : 1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

int vt_bm25_finish(struct vt_bm25 *ix)
{
    if (ix->finished)
        return 0;
    size_t nterms = ix->terms.n;
    vt_free(ix->ptr); /* a call that ran out of memory before */
    vt_free(ix->post_doc);
    vt_free(ix->post_tf);
    ix->ptr = vt_calloc(nterms + 1, sizeof *ix->ptr);
    size_t cap = ix->nocc ? ix->nocc : 1;
    ix->post_doc = vt_malloc(cap * sizeof *ix->post_doc);
    ix->post_tf = vt_malloc(cap * sizeof *ix->post_tf);
    if (!ix->ptr || !ix->post_doc || !ix->post_tf)
        return VT_ENOMEM;
    if (ix->nocc > UINT32_MAX)
        return VT_ENOMEM; /* postings are numbered in 32 bits */
    if (ix->nocc > 0) /* occ is NULL for an index of empty documents */
        qsort(ix->occ, ix->nocc, sizeof *ix->occ, occ_cmp);
    size_t np = 0;
    for (size_t i = 0; i < ix->nocc; i++) {
        const struct occ *o = &ix->occ[i];
        float w = ix->p.field_weight[o->field];
        if (i > 0 && ix->occ[i - 1].term == o->term && ix->occ[i - 1].doc == o->doc) {
            ix->post_tf[np - 1] += w;
            continue;
        }
        ix->post_doc[np] = o->doc;
        ix->post_tf[np] = w;
        np++;
        ix->ptr[o->term + 1]++; /* a count until the prefix sum below */
    }
    for (size_t t = 0; t < nterms; t++)
        ix->ptr[t + 1] += ix->ptr[t];
    ix->nterms = nterms;
    vt_free(ix->occ);
    ix->occ = NULL;
    ix->nocc = ix->capocc = 0;
    double total = 0;
    for (int32_t d = 0; d < ix->ndocs; d++)
        total += ix->doc_len[d];
    ix->avg_len = ix->ndocs > 0 ? total / ix->ndocs : 0;
    ix->finished = 1;
    return 0;
}

int32_t vt_bm25_docs(const struct vt_bm25 *ix)
{
    return ix->ndocs;
}

size_t vt_bm25_vocab(const struct vt_bm25 *ix)
{
    return ix->terms.n;
}

size_t vt_bm25_bytes(const struct vt_bm25 *ix)
{
    return sizeof *ix + vt_alloc_size(ix->doc_len) + vt_alloc_size(ix->ptr) +
           vt_alloc_size(ix->post_doc) + vt_alloc_size(ix->post_tf) +
           vt_alloc_size(ix->occ) + vt_alloc_size(ix->terms.slots) +
           vt_alloc_size(ix->terms.e) + vt_alloc_size(ix->terms.pool);
}

/* ---- searching ------------------------------------------------------------------ */

static double idf(const struct vt_bm25 *ix, size_t df)
{
    return log(1.0 + ((double)ix->ndocs - (double)df + 0.5) / ((double)df + 0.5));
}

int vt_bm25_score(const struct vt_bm25 *ix, const struct vt_bm25_terms *q, float *scores,
                  size_t *matched)
{
    if (matched)
        *matched = 0;
    if (ix->ndocs == 0)
        return 0;
    memset(scores, 0, (size_t)ix->ndocs * sizeof *scores);
    if (!ix->finished)
        return 0;
    /* Distinct known terms with their summed weights. */
    uint32_t ids[VT_BM25_QUERY_TERMS];
    float ws[VT_BM25_QUERY_TERMS];
    size_t nq = 0;
    for (size_t i = 0; i < q->n; i++) {
        uint64_t *v = vt_strmap_get(&ix->terms, q->term[i], strlen(q->term[i]));
        if (!v)
            continue;
        size_t id = (size_t)*v;
        size_t k = 0;
        while (k < nq && ids[k] != id)
            k++;
        if (k == nq) {
            if (nq == VT_BM25_QUERY_TERMS)
                continue;
            ids[nq] = (uint32_t)id;
            ws[nq++] = 0;
        }
        ws[k] += q->weight[i];
    }
    double k1 = ix->p.k1, b = ix->p.b, avg = ix->avg_len > 0 ? ix->avg_len : 1;
    for (size_t k = 0; k < nq; k++) {
        uint32_t lo = ix->ptr[ids[k]], hi = ix->ptr[ids[k] + 1];
        if (hi == lo)
            continue;
        double wi = ws[k] * idf(ix, hi - lo);
        for (uint32_t p = lo; p < hi; p++) {
            int32_t d = ix->post_doc[p];
            double tf = ix->post_tf[p];
            double norm = k1 * (1 - b + b * ix->doc_len[d] / avg);
            scores[d] += (float)(wi * tf * (k1 + 1) / (tf + norm));
        }
    }
    if (matched) {
        size_t m = 0;
        for (int32_t d = 0; d < ix->ndocs; d++)
            m += scores[d] > 0;
        *matched = m;
    }
    return 0;
}

int vt_bm25_query_terms(const struct vt_bm25 *ix, const char *text, size_t n, float weight,
                        struct vt_bm25_terms *out, struct vt_error *err)
{
    size_t first = out->n;
    int rc = vt_bm25_tokenize(ix->seg, text, n, ix->p.char_weight, out, err);
    for (size_t i = first; i < out->n; i++)
        out->weight[i] *= weight;
    return rc;
}

int vt_bm25_query(const struct vt_bm25 *ix, const char *text, size_t n, float *scores,
                  size_t *matched, struct vt_error *err)
{
    struct vt_bm25_terms t;
    vt_bm25_terms_init(&t);
    int rc = vt_bm25_tokenize(ix->seg, text, n, ix->p.char_weight, &t, err);
    if (rc == 0)
        rc = vt_bm25_score(ix, &t, scores, matched);
    else if (ix->ndocs > 0)
        memset(scores, 0, (size_t)ix->ndocs * sizeof *scores);
    vt_bm25_terms_reset(&t);
    return rc;
}

static int has_term(const struct vt_bm25 *ix, int32_t doc, const char *term)
{
    uint64_t *v = vt_strmap_get(&ix->terms, term, strlen(term));
    if (!v)
        return 0;
    size_t id = (size_t)*v;
    uint32_t lo = ix->ptr[id], hi = ix->ptr[id + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ix->post_doc[mid] < doc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->ptr[id + 1] && ix->post_doc[lo] == doc;
}

int vt_bm25_doc_has(const struct vt_bm25 *ix, int32_t doc, const char *text, size_t n)
{
    if (!ix->finished || doc < 0 || doc >= ix->ndocs)
        return 0;
    struct vt_bm25_terms t;
    vt_bm25_terms_init(&t);
    const float cw = 0.5f; /* marks character terms apart from words */
    if (vt_bm25_tokenize(ix->seg, text, n, cw, &t, NULL) || t.n == 0) {
        vt_bm25_terms_reset(&t);
        return 0;
    }
    int words = 0;
    for (size_t i = 0; i < t.n; i++)
        words += t.weight[i] == 1.0f;
    int ok = 1;
    for (size_t i = 0; i < t.n && ok; i++)
        if (!words || t.weight[i] == 1.0f)
            ok = has_term(ix, doc, t.term[i]);
    vt_bm25_terms_reset(&t);
    return ok;
}
