/*
 * search.c - GET /v1/search, GET /v1/categories and POST /v1/fit, and the
 * catalog's lexical index (bm25.c) that search reads.
 *
 * A search, in order (docs/search.md has the long form and the figures
 * behind the choices):
 *   1. the query is analysed (vt_textenc_analyze): language, attributes
 *      and, for Chinese, the English the bridge makes of it;
 *   2. filters and boosts ("chips") are gathered: price bounds, fits_* and
 *      category= are filters (an item failing one is never listed); colour,
 *      material, brand, size, category words, an approximate price and
 *      dimensions taken from the text are boosts. A parameter beats the
 *      same kind taken from the text; ignore= drops kinds taken from the
 *      text;
 *   3. the search text is the cleaned query without the text of price and
 *      dimension matches and of ignored matches;
 *   4. lexical scores: BM25 over every item for the search text (plus the
 *      bridged English at half weight when the query has Han characters);
 *      semantic scores: cosine between the query's embedding and the
 *      items' (ANN top candidates, exact cosine for lexical matches);
 *   5. fusion: each signal is divided by its best value among the
 *      candidates that pass the filters and the two are blended with
 *      search.semantic_weight; each boost that an item satisfies adds
 *      BOOST (CATEGORY_BOOST for category words);
 *   6. an item is a result when it matched lexically or its cosine is
 *      within SEM_KEEP of the best one (and at least SEM_MIN): the
 *      semantic tail of unrelated pieces is not listed, and "total" counts
 *      results. Without search text (only filters), results are every item
 *      that passes the filters, by boosts, then popularity.
 * Hidden and out-of-stock items (eng_item.visible == 0) never appear.
 *
 * Everything a request reads comes from one snapshot taken at its start.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ar/fit.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "rec/bm25.h"
#include "rec/engine_int.h"
#include "text/attrs.h"
#include "text/normalize.h"
#include "text/pipeline.h"

#define QUERY_MAX_BYTES 1024   /* longer shopper text is not a search */
#define BOOST 0.15             /* per satisfied colour/material/brand/size/price/dims */
#define CATEGORY_BOOST 0.2     /* per satisfied category word */
#define BRIDGE_WEIGHT 0.5f     /* bridged English terms against the shopper's own */
#define SEM_CANDIDATES 200     /* ANN candidates (at least 4 x n) */
#define SEM_KEEP 0.80          /* semantic-only results: cosine >= SEM_KEEP x best */
#define SEM_MIN 0.20           /* ... and >= SEM_MIN */
#define PRICE_NEAR 0.25        /* "around 300": within 25% */
#define DIM_NEAR 0.15          /* "2 m wide": within 15% */
#define CHIPS_MAX 24
#define FIT_LIST_MAX 100
#define FIT_SIM_BUCKET 0.02    /* similarity is compared in steps of this */
#define FIT_SAME_KIND 0.5      /* added to the similarity of pieces of one kind */
#define UNBOUNDED_CM 1e9       /* an axis of a space that was not given */

/* ---- the lexical index ------------------------------------------------------- */

/* Attribute keys whose values describe the piece (indexed); others
 * (licences, creators, provenance) are not words a shopper searches. */
static int attr_key_indexed(const char *key)
{
    static const char *const extra[] = {"style", "room", "type", "pattern", "finish", "shape"};
    if (vt_attr_kind_parse(key) >= 0)
        return 1;
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (strcmp(key, extra[i]) == 0)
            return 1;
    size_t n = strlen(key);
    return n >= 9 && strcmp(key + n - 9, "_category") == 0; /* "zh_category" */
}

static int add_json_strings(struct vt_bm25 *ix, int32_t doc, int field, const json_t *v,
                            struct vt_error *err)
{
    if (json_is_string(v))
        return vt_bm25_add(ix, doc, field, json_string_value(v), json_string_length(v), err);
    int rc = 0;
    if (json_is_array(v)) {
        size_t k;
        const json_t *x;
        json_array_foreach(v, k, x) if (rc == 0 && json_is_string(x)) rc =
            vt_bm25_add(ix, doc, field, json_string_value(x), json_string_length(x), err);
    } else if (json_is_object(v)) {
        const char *key;
        const json_t *x;
        json_object_foreach((json_t *)v, key, x) if (rc == 0) rc =
            add_json_strings(ix, doc, field, x, err);
    }
    return rc;
}

static int index_item(struct vt_bm25 *ix, int32_t doc, const struct vt_item *it,
                      struct vt_error *err)
{
    int rc = add_json_strings(ix, doc, VT_BM25_TITLE, it->title, err);
    if (rc == 0 && it->category)
        rc = vt_bm25_add(ix, doc, VT_BM25_META, it->category, strlen(it->category), err);
    if (rc == 0 && it->tags)
        rc = add_json_strings(ix, doc, VT_BM25_META, it->tags, err);
    if (rc == 0 && json_is_object(it->attributes)) {
        const char *key;
        const json_t *v;
        json_object_foreach(it->attributes, key, v) if (rc == 0 && attr_key_indexed(key)) rc =
            add_json_strings(ix, doc, VT_BM25_META, v, err);
    }
    if (rc == 0 && it->description)
        rc = add_json_strings(ix, doc, VT_BM25_DESC, it->description, err);
    return rc;
}

int eng_search_index_build(struct vt_engine *e, struct eng_catalog *c, struct vt_error *err)
{
    const struct vt_jieba *seg = NULL;
    if (e->te) {
        struct vt_error se;
        vt_error_clear(&se);
        if (vt_textenc_segmenter(e->te, &seg, &se))
            vt_warn("search index without Chinese words", "reason=\"%s\"", se.message);
    }
    struct vt_bm25 *ix = NULL;
    int rc = vt_bm25_new(NULL, seg, &ix);
    if (rc)
        return vt_error_set(err, rc, NULL, "out of memory for the search index");
    for (int32_t i = 0; i < c->nitems && rc == 0; i++) {
        struct vt_error ie;
        vt_error_clear(&ie);
        rc = index_item(ix, i, &c->items[i].rec, &ie);
        if (rc == VT_ENOMEM)
            break;
        if (rc) { /* text the store accepted but cleaning refuses: skip it */
            vt_warn("item text not indexed", "id=%s reason=\"%s\"", c->items[i].rec.id,
                    ie.message);
            rc = 0;
        }
    }
    if (rc == 0 && c->nitems > 0)
        rc = vt_bm25_add(ix, c->nitems - 1, VT_BM25_META, "", 0, NULL); /* every doc counted */
    if (rc == 0)
        rc = vt_bm25_finish(ix);
    if (rc) {
        vt_bm25_free(ix);
        return vt_error_set(err, rc, NULL, "building the search index: %s", vt_strerror(rc));
    }
    c->bm25 = ix;
    return 0;
}

/* ---- chips: filters and boosts ------------------------------------------------ */

enum chip_kind {
    K_COLOUR,
    K_MATERIAL,
    K_BRAND,
    K_SIZE,
    K_CATEGORY,
    K_PRICE,
    K_PRICE_MIN,
    K_PRICE_MAX,
    K_WIDTH,
    K_DEPTH,
    K_HEIGHT,
    K_LENGTH,
    K_DIM,
    K_FITS,
    K_NKINDS
};

static const char *const kind_names[K_NKINDS] = {
    "colour",   "material", "brand",    "size",      "category", "price",  "price_min",
    "price_max", "width_cm", "depth_cm", "height_cm", "length_cm", "dim_cm", "fits"};

static int kind_parse(const char *s, size_t n)
{
    if (n == 5 && memcmp(s, "color", 5) == 0)
        return K_COLOUR;
    for (int k = 0; k < K_NKINDS; k++)
        if (strlen(kind_names[k]) == n && memcmp(kind_names[k], s, n) == 0)
            return k;
    return -1;
}

struct chip {
    int kind;
    int from_param;
    double num;          /* price and dimension kinds */
    char str[128];       /* string kinds: the canonical value */
    char surface[128];   /* string kinds from the text: the words as written */
    char text[160];      /* the chip's label */
    size_t start, end;   /* from the text: byte span in the cleaned query */
};

struct chips {
    struct chip v[CHIPS_MAX];
    size_t n;
};

static int is_filter(int kind)
{
    return kind == K_PRICE_MIN || kind == K_PRICE_MAX || kind == K_FITS ||
           kind == K_CATEGORY;
}

/* A category chip from the text is a boost; from the parameter a filter. */
static int chip_filters(const struct chip *c)
{
    return c->kind == K_CATEGORY ? c->from_param : is_filter(c->kind);
}

static struct chip *chip_add(struct chips *cs, int kind, int from_param)
{
    if (cs->n == CHIPS_MAX)
        return NULL;
    struct chip *c = &cs->v[cs->n++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->from_param = from_param;
    return c;
}

static int chips_has(const struct chips *cs, int kind, int from_param)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->v[i].kind == kind && cs->v[i].from_param == from_param)
            return 1;
    return 0;
}

static void fmt_num(char *out, size_t size, double x)
{
    if (fabs(x - rint(x)) < 1e-9 && fabs(x) < 1e15)
        snprintf(out, size, "%.0f", x);
    else
        snprintf(out, size, "%.2f", x);
}

/* ---- the request -------------------------------------------------------------- */

struct search {
    struct vt_engine *e;
    const struct vt_search_request *q;
    struct eng_snapshot *s;
    unsigned ignore;             /* bit per chip kind */
    struct chips chips;
    json_t *analysis;            /* vt_textenc_analyze's answer, or NULL */
    const char *clean;           /* into analysis, or the query */
    char *search_text, *rest;
    const char *language;
    double fits[3];
    int has_fits;
    /* per item */
    float *lex, *sem;
    uint8_t *cand;
    uint32_t *boosts;            /* bit per chip index */
    double *score;
};

static int bad(struct vt_error *err, const char *field, const char *fmt, const char *v)
{
    return vt_error_set(err, VT_EINVAL, field, fmt, v);
}

static int parse_ignore(const char *s, unsigned *out, struct vt_error *err)
{
    *out = 0;
    if (!s)
        return 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *b = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > b && e[-1] == ' ')
            e--;
        if (e == b)
            continue;
        int k = kind_parse(b, (size_t)(e - b));
        if (k < 0 || k == K_FITS)
            return vt_error_set(err, VT_EINVAL, "ignore",
                                "ignore names %.*s, which is not an attribute search takes "
                                "from the text (colour, material, brand, size, category, "
                                "price, price_min, price_max, width_cm, depth_cm, height_cm, "
                                "length_cm, dim_cm)",
                                (int)((e - b) > 40 ? 40 : (e - b)), b);
        *out |= 1u << k;
    }
    return 0;
}

static int check_request(const struct vt_search_request *q, struct vt_error *err)
{
    if (q->n < 1 || q->n > 100)
        return vt_error_set(err, VT_EINVAL, "n", "n must be from 1 to 100");
    if (q->q) {
        size_t n = strlen(q->q), bad_at;
        if (n > QUERY_MAX_BYTES)
            return vt_error_set(err, VT_EINVAL, "q", "q is %zu bytes; the limit is %d", n,
                                QUERY_MAX_BYTES);
        if (!vt_utf8_valid(q->q, n, &bad_at))
            return vt_error_set(err, VT_EINVAL, "q", "q is not valid UTF-8 (byte %zu)", bad_at);
    }
    if (q->category) {
        size_t bad_at;
        if (!q->category[0] || strlen(q->category) > 512 ||
            !vt_utf8_valid(q->category, strlen(q->category), &bad_at))
            return bad(err, "category", "category must be a category path (%s)",
                       "1 to 512 bytes of UTF-8");
    }
    if (q->lang && strcmp(q->lang, "en") != 0 && strcmp(q->lang, "zh") != 0)
        return bad(err, "lang", "lang must be %s", "en or zh");
    if (!isnan(q->price_min) && !isnan(q->price_max) && q->price_min > q->price_max)
        return bad(err, "price_min", "price_min is above price_max%s", "");
    static const char *const fits_names[3] = {"fits_w", "fits_d", "fits_h"};
    for (int i = 0; i < 3; i++)
        if (!isnan(q->fits_cm[i]) && !(q->fits_cm[i] > 0))
            return bad(err, fits_names[i], "%s must be above 0", fits_names[i]);
    return 0;
}

/* s[0..n) into dst (size bytes, NUL-terminated), cut at a character
 * boundary when it does not fit, so the answer stays valid UTF-8. */
static void copy_utf8(char *dst, size_t size, const char *s, size_t n)
{
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = 0;
}

/* Labels of the chips made from parameters, in the storefront's language
 * (lang=zh; English otherwise). Chips from the text show its own words. */
struct chip_words {
    const char *in, *from, *under, *fits, *axis[3], *cm;
};
static const struct chip_words words_en = {"in %s", "from %s", "under %s", "fits",
                                           {"w ", "d ", "h "}, " cm"};
static const struct chip_words words_zh = {"%s", "%s起", "%s以下", "放得下",
                                           {"宽", "深", "高"}, "厘米"};

static void param_chips(struct search *S)
{
    const struct vt_search_request *q = S->q;
    const struct chip_words *w = q->lang && strcmp(q->lang, "zh") == 0 ? &words_zh : &words_en;
    struct chip *c;
    char a[48];
    if (q->category && (c = chip_add(&S->chips, K_CATEGORY, 1))) {
        copy_utf8(c->str, sizeof c->str, q->category, strlen(q->category));
        snprintf(c->text, sizeof c->text, w->in, c->str);
    }
    if (!isnan(q->price_min) && (c = chip_add(&S->chips, K_PRICE_MIN, 1))) {
        c->num = q->price_min;
        fmt_num(a, sizeof a, c->num);
        snprintf(c->text, sizeof c->text, w->from, a);
    }
    if (!isnan(q->price_max) && (c = chip_add(&S->chips, K_PRICE_MAX, 1))) {
        c->num = q->price_max;
        fmt_num(a, sizeof a, c->num);
        snprintf(c->text, sizeof c->text, w->under, a);
    }
    S->has_fits = 0;
    for (int i = 0; i < 3; i++) {
        S->fits[i] = isnan(q->fits_cm[i]) ? UNBOUNDED_CM : q->fits_cm[i];
        S->has_fits |= !isnan(q->fits_cm[i]);
    }
    if (S->has_fits && (c = chip_add(&S->chips, K_FITS, 1))) {
        /* "fits w 200 × d 90 cm", "放得下 宽200 × 深90厘米" */
        size_t len = (size_t)snprintf(c->text, sizeof c->text, "%s", w->fits);
        const char *sep = " ";
        for (int i = 0; i < 3; i++)
            if (!isnan(q->fits_cm[i]) && len < sizeof c->text) {
                fmt_num(a, sizeof a, q->fits_cm[i]);
                len += (size_t)snprintf(c->text + len, sizeof c->text - len, "%s%s%s", sep,
                                        w->axis[i], a);
                sep = " × ";
            }
        if (len < sizeof c->text)
            snprintf(c->text + len, sizeof c->text - len, "%s", w->cm);
    }
}

/* Chips from the text's attribute matches; spans of dropped matches are
 * marked in drop[] (1: left out of the search text). */
static void text_chips(struct search *S, uint8_t *drop, uint8_t *drop_rest, size_t clen)
{
    const json_t *m = json_object_get(json_object_get(S->analysis, "attributes"), "matches");
    size_t i;
    const json_t *x;
    json_array_foreach(m, i, x)
    {
        const char *kname = json_string_value(json_object_get(x, "kind"));
        json_int_t st = json_integer_value(json_object_get(x, "start"));
        json_int_t en = json_integer_value(json_object_get(x, "end"));
        if (!kname || st < 0 || en < st || (size_t)en > clen)
            continue;
        int k = kind_parse(kname, strlen(kname));
        if (k < 0)
            continue;
        int ignored = (S->ignore >> k) & 1;
        int numeric = k >= K_PRICE;
        /* rest: the text without its matches but the category words (what
         * is searched for, even when its boost is ignored); the search
         * text: without prices, sizes and ignored colours, materials... */
        if (k != K_CATEGORY)
            memset(drop_rest + st, 1, (size_t)(en - st));
        if (numeric || (ignored && k != K_CATEGORY))
            memset(drop + st, 1, (size_t)(en - st));
        if (ignored || (k >= K_PRICE_MIN && k <= K_PRICE_MAX && chips_has(&S->chips, k, 1)))
            continue;
        const json_t *v = json_object_get(x, "value");
        int dup = 0;
        for (size_t j = 0; j < S->chips.n && !dup; j++) {
            const struct chip *o = &S->chips.v[j];
            dup = o->kind == k && !o->from_param &&
                  (json_is_string(v) ? strcmp(o->str, json_string_value(v)) == 0
                                     : o->num == json_number_value(v));
        }
        struct chip *c;
        if (dup || !(c = chip_add(&S->chips, k, 0)))
            continue;
        c->start = (size_t)st;
        c->end = (size_t)en;
        size_t tl = (size_t)(en - st);
        copy_utf8(c->text, sizeof c->text, S->clean + st, tl);
        if (json_is_string(v)) {
            copy_utf8(c->str, sizeof c->str, json_string_value(v), json_string_length(v));
            copy_utf8(c->surface, sizeof c->surface, S->clean + st, tl);
        } else {
            c->num = json_number_value(v);
        }
    }
}

/* s[0..n) without the bytes marked in drop, spaces collapsed. */
static char *keep_text(const char *s, size_t n, const uint8_t *drop)
{
    char *out = vt_malloc(n + 1);
    if (!out)
        return NULL;
    size_t w = 0;
    int space = 1;
    for (size_t i = 0; i < n; i++) {
        if (drop && drop[i]) {
            if (!space)
                out[w++] = ' ', space = 1;
            continue;
        }
        if (s[i] == ' ') {
            if (!space)
                out[w++] = ' ';
            space = 1;
            continue;
        }
        out[w++] = s[i];
        space = 0;
    }
    while (w > 0 && out[w - 1] == ' ')
        w--;
    out[w] = 0;
    return out;
}

static int analyse(struct search *S, struct vt_error *err)
{
    const char *q = S->q->q ? S->q->q : "";
    size_t n = strlen(q);
    S->language = "unknown";
    S->clean = q;
    if (n > 0 && S->e->te) {
        struct vt_error ae;
        vt_error_clear(&ae);
        int rc = vt_textenc_analyze(S->e->te, q, n, &S->analysis, &ae);
        if (rc == VT_EINVAL || rc == VT_ETOOBIG)
            return vt_error_set(err, VT_EINVAL, "q", "q: %s", ae.message);
        if (rc == VT_ENOMEM)
            return vt_error_set(err, rc, NULL, "out of memory analysing the query");
        if (rc)
            vt_debug("search without query analysis", "reason=\"%s\"", ae.message);
    }
    if (S->analysis) {
        S->clean = json_string_value(json_object_get(S->analysis, "clean"));
        S->language = json_string_value(json_object_get(S->analysis, "language"));
        if (!S->clean)
            S->clean = q;
        if (!S->language)
            S->language = "unknown";
    } else if (n > 0) {
        S->language = vt_lang_name(vt_text_lang(q, n));
    }
    size_t clen = strlen(S->clean);
    uint8_t *drop = vt_calloc(clen + 1, 1), *drop_rest = vt_calloc(clen + 1, 1);
    if (!drop || !drop_rest) {
        vt_free(drop);
        vt_free(drop_rest);
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
    }
    if (S->analysis)
        text_chips(S, drop, drop_rest, clen);
    S->search_text = keep_text(S->clean, clen, drop);
    S->rest = keep_text(S->clean, clen, drop_rest);
    vt_free(drop);
    vt_free(drop_rest);
    if (!S->search_text || !S->rest)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
    return 0;
}

/* ---- filters and boosts on items ------------------------------------------------ */

static int category_under(const char *cat, const char *prefix)
{
    if (!cat)
        return 0;
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    return strncmp(cat, prefix, n) == 0 && (cat[n] == 0 || cat[n] == '/');
}

static int passes(const struct search *S, int32_t i)
{
    const struct eng_item *it = &S->s->cat->items[i];
    if (!it->visible)
        return 0;
    for (size_t k = 0; k < S->chips.n; k++) {
        const struct chip *c = &S->chips.v[k];
        if (!chip_filters(c))
            continue;
        switch (c->kind) {
        case K_CATEGORY: /* the parameter whole: c->str may be cut short */
            if (!category_under(it->rec.category, S->q->category))
                return 0;
            break;
        case K_PRICE_MIN:
            if (!it->rec.has_price || it->rec.price < c->num)
                return 0;
            break;
        case K_PRICE_MAX:
            if (!it->rec.has_price || it->rec.price > c->num)
                return 0;
            break;
        case K_FITS: {
            struct vt_fit f;
            if (!it->rec.has_dims ||
                vt_fit_check(it->rec.dims_cm, S->fits, S->e->params.fit_clearance_cm, &f) ||
                !f.fits)
                return 0;
            break;
        }
        default:
            break;
        }
    }
    return 1;
}

static int near(double x, double target, double share)
{
    return fabs(x - target) <= share * target;
}

/* Bits of the boost chips item i satisfies. */
static uint32_t boosts_of(const struct search *S, int32_t i)
{
    const struct eng_item *it = &S->s->cat->items[i];
    const struct vt_bm25 *ix = S->s->cat->bm25;
    const double *d = it->rec.dims_cm;
    uint32_t bits = 0;
    for (size_t k = 0; k < S->chips.n; k++) {
        const struct chip *c = &S->chips.v[k];
        int ok = 0;
        if (chip_filters(c))
            continue;
        switch (c->kind) {
        case K_COLOUR:
        case K_MATERIAL:
        case K_BRAND:
        case K_SIZE:
        case K_CATEGORY:
            ok = ix && (vt_bm25_doc_has(ix, i, c->str, strlen(c->str)) ||
                        (c->surface[0] && vt_bm25_doc_has(ix, i, c->surface, strlen(c->surface))));
            break;
        case K_PRICE:
            ok = it->rec.has_price && near(it->rec.price, c->num, PRICE_NEAR);
            break;
        case K_WIDTH:
            ok = it->rec.has_dims && near(d[0], c->num, DIM_NEAR);
            break;
        case K_DEPTH:
            ok = it->rec.has_dims && near(d[1], c->num, DIM_NEAR);
            break;
        case K_HEIGHT:
            ok = it->rec.has_dims && near(d[2], c->num, DIM_NEAR);
            break;
        case K_LENGTH:
        case K_DIM:
            ok = it->rec.has_dims && near(fmax(d[0], d[1]), c->num, DIM_NEAR);
            break;
        default:
            break;
        }
        if (ok)
            bits |= 1u << k;
    }
    return bits;
}

static double boost_value(const struct search *S, uint32_t bits)
{
    double b = 0;
    for (size_t k = 0; k < S->chips.n; k++)
        if (bits >> k & 1)
            b += S->chips.v[k].kind == K_CATEGORY ? CATEGORY_BOOST : BOOST;
    return b;
}

/* ---- scoring ----------------------------------------------------------------- */

static int sem_filter(int64_t label, void *arg)
{
    return passes(arg, (int32_t)label);
}

static float dot(const float *a, const float *b, uint32_t n)
{
    float s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Lexical scores of the search text (+ bridged English) into S->lex. */
static int lexical(struct search *S, int *any)
{
    const struct eng_catalog *c = S->s->cat;
    *any = 0;
    if (!c->bm25 || !S->search_text[0] || vt_bm25_docs(c->bm25) < c->nitems)
        return 0;
    struct vt_bm25_terms t;
    vt_bm25_terms_init(&t);
    int rc = vt_bm25_query_terms(c->bm25, S->search_text, strlen(S->search_text), 1.0f, &t,
                                 NULL);
    const char *bridged = json_string_value(json_object_get(S->analysis, "bridged"));
    if (rc == 0 && bridged)
        rc = vt_bm25_query_terms(c->bm25, bridged, strlen(bridged), BRIDGE_WEIGHT, &t, NULL);
    size_t matched = 0;
    if (rc == 0 && t.n > 0)
        rc = vt_bm25_score(c->bm25, &t, S->lex, &matched);
    vt_bm25_terms_reset(&t);
    *any = matched > 0;
    return rc == VT_ENOMEM ? rc : 0; /* text the cleaner refuses was refused earlier */
}

/* Semantic scores: ANN candidates and exact cosine for lexical matches. */
static int semantic(struct search *S, int *any)
{
    const struct eng_catalog *c = S->s->cat;
    *any = 0;
    if (!S->search_text[0] || c->dim == 0 || !c->ann || !c->emb)
        return 0;
    float *qv = vt_malloc((size_t)c->dim * sizeof *qv);
    if (!qv)
        return VT_ENOMEM;
    struct vt_error ee;
    vt_error_clear(&ee);
    int rc = eng_embed_text(S->e, S->s, S->search_text, qv, &ee);
    if (rc) {
        vt_free(qv);
        if (rc == VT_ENOMEM)
            return rc;
        vt_debug("search without semantics", "reason=\"%s\"", ee.message);
        return 0;
    }
    size_t k = SEM_CANDIDATES > 4 * S->q->n ? SEM_CANDIDATES : 4 * S->q->n, n = 0;
    int64_t *labels = vt_malloc(k * sizeof *labels);
    float *scores = vt_malloc(k * sizeof *scores);
    if (!labels || !scores)
        rc = VT_ENOMEM;
    if (rc == 0)
        rc = vt_index_search(c->ann, qv, k, sem_filter, S, labels, scores, &n);
    if (rc == 0) {
        for (size_t j = 0; j < n; j++) {
            int32_t i = (int32_t)labels[j];
            if (i >= 0 && i < c->nitems) {
                S->sem[i] = scores[j];
                S->cand[i] = 1;
                *any = 1;
            }
        }
        for (int32_t i = 0; i < c->nitems; i++)
            if (S->lex[i] > 0 && isnan(S->sem[i]) && c->has_emb && c->has_emb[i]) {
                S->sem[i] = dot(qv, c->emb + (size_t)i * c->dim, c->dim);
                *any = 1;
            }
    } else if (rc != VT_ENOMEM) {
        vt_warn("semantic search failed", "error=%s", vt_strerror(rc));
        rc = 0;
    }
    vt_free(labels);
    vt_free(scores);
    vt_free(qv);
    return rc;
}

struct ranked {
    int32_t item;
    double score;
};

static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* Popularity of catalog item i in [0, 1] relative to max_pop. */
static double popularity(const struct eng_snapshot *s, int32_t i)
{
    const struct eng_behaviour *b = s->beh;
    if (!b || !b->pop || !s->beh_of || s->beh_of[i] < 0 || s->beh_of[i] >= b->pop->nitems)
        return 0;
    return b->pop->score[s->beh_of[i]];
}

/* ---- the answer ----------------------------------------------------------------- */

static json_t *fits_value(const struct vt_search_request *q)
{
    json_t *o = json_object();
    static const char *const ax[3] = {"w", "d", "h"};
    for (int i = 0; o && i < 3; i++)
        if (json_object_set_new(o, ax[i], isnan(q->fits_cm[i]) ? json_null()
                                                                : json_real(q->fits_cm[i]))) {
            json_decref(o);
            return NULL;
        }
    return o;
}

static json_t *chip_json(const struct search *S, const struct chip *c)
{
    json_t *v = c->kind == K_FITS                       ? fits_value(S->q)
                : c->kind == K_CATEGORY && c->from_param ? json_string(S->q->category)
                : c->str[0]                              ? json_string(c->str)
                                                         : json_real(c->num);
    if (!v)
        return NULL;
    return json_pack("{s:s,s:o,s:s,s:s,s:s}", "kind", kind_names[c->kind], "value", v, "text",
                     c->text, "source", c->from_param ? "param" : "query", "mode",
                     chip_filters(c) ? "filter" : "boost");
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return vt_buf_append(data, buf, size) ? -1 : 0;
}

/* The answer as JSON text into b (docs/api.md#search): the items'
 * summaries are the snapshot's memoised text with the search's fields
 * added, the small parts (filters) go through jansson. */
static int answer_text(struct search *S, struct ranked *r, size_t total, struct vt_buf *b)
{
    char rec_id[24];
    eng_new_rec_id(rec_id);
    size_t n = total < S->q->n ? total : S->q->n;
    int rc = vt_buf_puts(b, "{\"q\":");
    rc = rc ? rc : vt_buf_json_str(b, S->q->q ? S->q->q : "");
    rc = rc ? rc : vt_buf_puts(b, ",\"language\":");
    rc = rc ? rc : vt_buf_json_str(b, S->language);
    rc = rc ? rc : vt_buf_puts(b, ",\"rec_id\":");
    rc = rc ? rc : vt_buf_json_str(b, rec_id);
    rc = rc ? rc : vt_buf_puts(b, ",\"rest\":");
    rc = rc ? rc : vt_buf_json_str(b, S->rest);
    rc = rc ? rc : vt_buf_puts(b, ",\"filters\":[");
    for (size_t k = 0; !rc && k < S->chips.n; k++) {
        json_t *cj = chip_json(S, &S->chips.v[k]);
        if (k)
            rc = vt_buf_append(b, ",", 1);
        if (!cj || rc ||
            json_dump_callback(cj, dump_cb, b, JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0)
            rc = rc ? rc : VT_ENOMEM;
        json_decref(cj);
    }
    rc = rc ? rc : vt_buf_puts(b, "],\"items\":[");
    for (size_t j = 0; !rc && j < n; j++) {
        int32_t i = r[j].item;
        size_t len = 0;
        const char *sum = eng_item_summary_text(S->s, i, &len);
        if (!sum || len < 2 || sum[len - 1] != '}')
            return VT_ENOMEM;
        if (j)
            rc = vt_buf_append(b, ",", 1);
        rc = rc ? rc : vt_buf_append(b, sum, len - 1); /* the object, still open */
        rc = rc ? rc : vt_buf_puts(b, len > 2 ? ",\"score\":" : "\"score\":");
        rc = rc ? rc : vt_buf_json_real(b, r[j].score, 15);
        rc = rc ? rc : vt_buf_puts(b, ",\"semantic\":");
        rc = rc ? rc : vt_buf_json_real(b, S->sem[i], 9); /* NAN: null */
        rc = rc ? rc : vt_buf_puts(b, ",\"lexical\":");
        rc = rc ? rc : vt_buf_json_real(b, S->lex[i], 9);
        rc = rc ? rc : vt_buf_puts(b, ",\"boosts\":[");
        uint32_t bits = S->boosts[i];
        int first = 1;
        for (size_t k = 0; !rc && k < S->chips.n; k++)
            if (bits >> k & 1) {
                /* one name per kind */
                int seen = 0;
                for (size_t m = 0; m < k; m++)
                    seen |= (bits >> m & 1) && S->chips.v[m].kind == S->chips.v[k].kind;
                if (seen)
                    continue;
                if (!first)
                    rc = vt_buf_append(b, ",", 1);
                rc = rc ? rc : vt_buf_json_str(b, kind_names[S->chips.v[k].kind]);
                first = 0;
            }
        rc = rc ? rc : vt_buf_puts(b, "]}");
    }
    rc = rc ? rc : vt_buf_printf(b, "],\"total\":%zu}", total);
    if (rc)
        return rc;
    if (S->q->user_id && n > 0) {
        struct eng_cand *list = vt_calloc(n, sizeof *list);
        if (list) {
            for (size_t j = 0; j < n; j++) {
                list[j].item = r[j].item;
                list[j].sources = ENG_SRC_TEXT;
                list[j].p = r[j].score;
                list[j].reason = -1;
                list[j].reason_item = -1;
                if (!isnan(S->sem[r[j].item]))
                    list[j].f[ENG_X_SEM_CONTEXT] = S->sem[r[j].item];
            }
            eng_implog_add(S->e, rec_id, S->q->user_id, "search", S->s, list, n);
            vt_free(list);
        }
    }
    return 0;
}

static void search_reset(struct search *S)
{
    json_decref(S->analysis);
    vt_free(S->search_text);
    vt_free(S->rest);
    vt_free(S->lex);
    vt_free(S->sem);
    vt_free(S->cand);
    vt_free(S->boosts);
    vt_free(S->score);
    if (S->s)
        eng_snapshot_put(S->s);
}

int vt_engine_search(struct vt_engine *e, const struct vt_search_request *q, json_t **out,
                     struct vt_error *err)
{
    struct vt_buf b;
    vt_buf_init(&b, 0);
    return eng_answer_json(vt_engine_search_text(e, q, &b, err), &b, out, err);
}

int vt_engine_search_text(struct vt_engine *e, const struct vt_search_request *q,
                          struct vt_buf *out, struct vt_error *err)
{
    struct search S;
    struct ranked *r = NULL;
    memset(&S, 0, sizeof S);
    S.e = e;
    S.q = q;
    int rc = check_request(q, err);
    if (rc == 0)
        rc = parse_ignore(q->ignore, &S.ignore, err);
    if (rc)
        return rc;
    param_chips(&S);
    rc = analyse(&S, err);
    if (rc)
        goto out;
    if (!S.search_text[0] && S.chips.n == 0) {
        rc = vt_error_set(err, VT_EINVAL, "q",
                          "give q, or a filter (category, price_min, price_max, fits_*)");
        goto out;
    }
    S.s = eng_snapshot_get(e);
    const struct eng_catalog *c = S.s->cat;
    size_t N = (size_t)c->nitems;
    S.lex = vt_calloc(N + 1, sizeof *S.lex);
    S.sem = vt_malloc((N + 1) * sizeof *S.sem);
    S.cand = vt_calloc(N + 1, 1);
    S.boosts = vt_calloc(N + 1, sizeof *S.boosts);
    S.score = vt_calloc(N + 1, sizeof *S.score);
    r = vt_malloc((N + 1) * sizeof *r);
    if (!S.lex || !S.sem || !S.cand || !S.boosts || !S.score || !r) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < N; i++)
        S.sem[i] = NAN;
    int any_lex = 0, any_sem = 0;
    if ((rc = lexical(&S, &any_lex)) || (rc = semantic(&S, &any_sem))) {
        vt_error_set(err, rc, NULL, "out of memory searching");
        goto out;
    }
    size_t total = 0;
    if (!any_lex && !any_sem) {
        /* Browse: everything that passes the filters, boosted first, then
         * by popularity. When the text found nothing, nothing is listed. */
        if (!S.search_text[0]) {
            double top = 0;
            for (size_t i = 0; i < N; i++)
                top = fmax(top, popularity(S.s, (int32_t)i));
            for (size_t i = 0; i < N; i++) {
                if (!passes(&S, (int32_t)i))
                    continue;
                S.boosts[i] = boosts_of(&S, (int32_t)i);
                double p = top > 0 ? popularity(S.s, (int32_t)i) / top : 0;
                r[total++] = (struct ranked){(int32_t)i, boost_value(&S, S.boosts[i]) + 0.1 * p};
            }
        }
    } else {
        double w = e->params.search_semantic;
        if (!(w >= 0 && w <= 1))
            w = 0.5;
        if (!any_sem)
            w = 0;
        if (!any_lex)
            w = 1;
        double lex_top = 0, sem_top = 0;
        for (size_t i = 0; i < N; i++) {
            if (S.lex[i] > 0)
                S.cand[i] = 1;
            if (!S.cand[i])
                continue;
            if (!passes(&S, (int32_t)i)) {
                S.cand[i] = 0;
                continue;
            }
            lex_top = fmax(lex_top, S.lex[i]);
            if (!isnan(S.sem[i]))
                sem_top = fmax(sem_top, S.sem[i]);
        }
        double keep = fmax(SEM_MIN, SEM_KEEP * sem_top);
        for (size_t i = 0; i < N; i++) {
            if (!S.cand[i])
                continue;
            double sem = isnan(S.sem[i]) ? 0 : fmax(0, S.sem[i]);
            int relevant = S.lex[i] > 0 || (w > 0 && sem >= keep);
            if (!relevant)
                continue;
            double ln = lex_top > 0 ? S.lex[i] / lex_top : 0;
            double sn = sem_top > 0 ? sem / sem_top : 0;
            S.boosts[i] = boosts_of(&S, (int32_t)i);
            r[total++] = (struct ranked){(int32_t)i, w * sn + (1 - w) * ln +
                                                         boost_value(&S, S.boosts[i])};
        }
    }
    qsort(r, total, sizeof *r, ranked_cmp);
    size_t at = out->len;
    if (answer_text(&S, r, total, out)) {
        out->len = at; /* nothing half-written stays */
        if (out->data)
            out->data[at] = '\0';
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory writing the answer");
    }
out:
    vt_free(r);
    search_reset(&S);
    return rc;
}

/* ---- categories ------------------------------------------------------------------ */

int vt_engine_categories(struct vt_engine *e, json_t **out)
{
    *out = NULL;
    struct eng_snapshot *s = eng_snapshot_get(e);
    const struct eng_catalog *c = s->cat;
    int rc = 0;
    int64_t *count = vt_calloc((size_t)c->ncats + 1, sizeof *count);
    json_t *arr = json_array();
    if (!count || !arr) {
        rc = VT_ENOMEM;
        goto out;
    }
    for (int32_t i = 0; i < c->nitems; i++)
        if (c->items[i].visible && c->items[i].cat >= 0 && c->items[i].cat < c->ncats)
            count[c->items[i].cat]++;
    for (int32_t k = 0; k < c->ncats; k++) {
        if (count[k] == 0)
            continue;
        json_t *o = json_pack("{s:s,s:I}", "path", c->cats[k], "items", (json_int_t)count[k]);
        if (!o || json_array_append_new(arr, o)) {
            rc = VT_ENOMEM;
            goto out;
        }
    }
    *out = json_pack("{s:O}", "categories", arr);
    if (!*out)
        rc = VT_ENOMEM;
out:
    json_decref(arr);
    vt_free(count);
    eng_snapshot_put(s);
    return rc;
}

/* ---- will it fit -------------------------------------------------------------- */

struct fit_req {
    double space[3];
    double clearance;
    const char *item_id;
    const char *category;
    size_t n;
};

static int fit_number(const json_t *v, const char *field, double lo, double hi, int lo_open,
                      double *out, struct vt_error *err)
{
    if (!json_is_number(v))
        return vt_error_set(err, VT_EINVAL, field, "%s must be a number", field);
    double x = json_number_value(v);
    if (!isfinite(x) || x > hi || (lo_open ? x <= lo : x < lo))
        return vt_error_set(err, VT_EINVAL, field, "%s must be %s %g and at most %g", field,
                            lo_open ? "above" : "at least", lo, hi);
    *out = x;
    return 0;
}

static int fit_parse(const json_t *body, double clearance_default, struct fit_req *fr,
                     struct vt_error *err)
{
    static const char *const axes[3] = {"w", "d", "h"};
    const char *key;
    const json_t *v;
    memset(fr, 0, sizeof *fr);
    fr->clearance = clearance_default;
    fr->n = 10;
    if (!json_is_object(body))
        return vt_error_set(err, VT_EINVAL, "", "the body must be a JSON object");
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "space_cm") && strcmp(key, "item_id") && strcmp(key, "category") &&
            strcmp(key, "clearance_cm") && strcmp(key, "n"))
            return vt_error_set(err, VT_EINVAL, key,
                                "unknown field %.40s (space_cm, item_id, category, "
                                "clearance_cm and n are known)",
                                key);
    }
    const json_t *sp = json_object_get(body, "space_cm");
    if (!sp)
        return vt_error_set(err, VT_EINVAL, "space_cm", "space_cm is required");
    if (!json_is_object(sp))
        return vt_error_set(err, VT_EINVAL, "space_cm",
                            "space_cm must be an object {\"w\", \"d\", \"h\"}");
    json_object_foreach((json_t *)sp, key, v)
    {
        if (strcmp(key, "w") && strcmp(key, "d") && strcmp(key, "h"))
            return vt_error_set(err, VT_EINVAL, "space_cm",
                                "unknown field space_cm.%.40s (w, d and h are known)", key);
    }
    for (int i = 0; i < 3; i++) {
        char field[16];
        snprintf(field, sizeof field, "space_cm.%s", axes[i]);
        v = json_object_get(sp, axes[i]);
        if (!v)
            return vt_error_set(err, VT_EINVAL, field, "%s is required", field);
        int rc = fit_number(v, field, 0, VT_DIM_MAX_CM, 1, &fr->space[i], err);
        if (rc)
            return rc;
    }
    if ((v = json_object_get(body, "clearance_cm"))) {
        int rc = fit_number(v, "clearance_cm", 0, VT_FIT_CLEARANCE_MAX_CM, 0, &fr->clearance,
                            err);
        if (rc)
            return rc;
    }
    if ((v = json_object_get(body, "n"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > FIT_LIST_MAX)
            return vt_error_set(err, VT_EINVAL, "n", "n must be an integer from 1 to %d",
                                FIT_LIST_MAX);
        fr->n = (size_t)json_integer_value(v);
    }
    if ((v = json_object_get(body, "item_id"))) {
        if (!json_is_string(v))
            return vt_error_set(err, VT_EINVAL, "item_id", "item_id must be a string");
        fr->item_id = json_string_value(v);
        int rc = vt_id_check(fr->item_id, "item_id", err);
        if (rc)
            return rc;
    }
    if ((v = json_object_get(body, "category"))) {
        size_t bad_at;
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 512 ||
            !vt_utf8_valid(json_string_value(v), json_string_length(v), &bad_at))
            return vt_error_set(err, VT_EINVAL, "category",
                                "category must be a category path (1 to 512 bytes of UTF-8)");
        fr->category = json_string_value(v);
    }
    if (!(fr->clearance >= 0 && fr->clearance <= VT_FIT_CLEARANCE_MAX_CM))
        fr->clearance = 0; /* a configured value out of range: none */
    return 0;
}

/* Centimetres to the tenth of a millimetre: sums of catalog sizes carry
 * binary noise (16.199999) that no shopper should see. */
static double cm_round(double x)
{
    return rint(x * 100) / 100;
}

static json_t *margins_json(const double m[3])
{
    return json_pack("{s:f,s:f,s:f}", "w", cm_round(m[0]), "d", cm_round(m[1]), "h",
                     cm_round(m[2]));
}

struct fit_alt {
    int32_t item;
    double sim, snug;
    struct vt_fit f;
};

static int fit_alt_cmp(const void *a, const void *b)
{
    const struct fit_alt *x = a, *y = b;
    double bx = floor(x->sim / FIT_SIM_BUCKET + 1e-9), by = floor(y->sim / FIT_SIM_BUCKET + 1e-9);
    if (bx != by)
        return bx > by ? -1 : 1;
    if (x->snug != y->snug)
        return x->snug > y->snug ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* The head noun of an English title, lower case and singular: the last
 * word of letters ("Corner sofa" -> "sofa", "Bunk beds" -> "bed"), or ""
 * when there is none. out holds at least 32 bytes. */
static void head_noun(const char *title, char *out, size_t outsz)
{
    out[0] = '\0';
    if (!title)
        return;
    const char *end = NULL, *start = NULL;
    for (const char *p = title; *p; p++) {
        int letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        if (letter && (p == title || !((p[-1] >= 'a' && p[-1] <= 'z') ||
                                       (p[-1] >= 'A' && p[-1] <= 'Z'))))
            start = p;
        if (letter)
            end = p + 1;
    }
    if (!start || !end || end <= start || (size_t)(end - start) >= outsz)
        return;
    size_t n = 0;
    for (const char *p = start; p < end; p++)
        out[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    if (n > 3 && out[n - 1] == 's' && out[n - 2] != 's')
        n--;
    out[n] = '\0';
}

/* How alike two pieces are for "which similar pieces fit": the cosine of
 * their embeddings, plus FIT_SAME_KIND when their English titles end in
 * the same noun, so a sofa's alternatives are sofas first: the demo
 * catalog's categories are rooms ("Living room" holds sofas and
 * televisions) and sentence-embedding cosines of unrelated furniture lie
 * close together. */
static double item_sim(const struct eng_catalog *c, int32_t a, int32_t b)
{
    if (a < 0)
        return 0;
    double sim = 0;
    if (c->emb && c->dim > 0 && c->has_emb[a] && c->has_emb[b])
        sim = dot(c->emb + (size_t)a * c->dim, c->emb + (size_t)b * c->dim, c->dim);
    char ha[64], hb[64];
    head_noun(c->items[a].title_en, ha, sizeof ha);
    head_noun(c->items[b].title_en, hb, sizeof hb);
    if (ha[0] && strcmp(ha, hb) == 0)
        sim += FIT_SAME_KIND;
    return sim;
}

int vt_engine_fit(struct vt_engine *e, const json_t *body, json_t **out, struct vt_error *err)
{
    struct fit_req fr;
    *out = NULL;
    int rc = fit_parse(body, e->params.fit_clearance_cm, &fr, err);
    if (rc)
        return rc;
    struct eng_snapshot *s = eng_snapshot_get(e);
    const struct eng_catalog *c = s->cat;
    struct fit_alt *alts = NULL;
    json_t *o = NULL, *item = NULL, *list = NULL;
    int32_t self = -1;
    const char *category = fr.category;
    if (fr.item_id) {
        self = vt_idmap_get(c->ids, fr.item_id);
        if (self < 0 || self >= c->nitems || c->items[self].rec.hidden) {
            rc = vt_error_set(err, VT_ENOTFOUND, "item_id", "no item %.128s", fr.item_id);
            goto out;
        }
        const struct vt_item *it = &c->items[self].rec;
        if (!it->has_dims) {
            rc = vt_error_set(err, VT_EINVAL, "item_id",
                              "item %.128s has no dimensions to check", fr.item_id);
            goto out;
        }
        struct vt_fit f;
        vt_fit_check(it->dims_cm, fr.space, fr.clearance, &f);
        item = json_pack("{s:s,s:O,s:{s:f,s:f,s:f},s:b,s:b,s:o}", "id", it->id, "title",
                         it->title, "dims_cm", "w", it->dims_cm[0], "d", it->dims_cm[1], "h",
                         it->dims_cm[2], "fits", f.fits, "rotated", f.rotated, "margin_cm",
                         margins_json(f.margin_cm));
        if (item && !f.fits)
            json_object_set_new(item, "too_big_by_cm", margins_json(f.over_cm));
        if (!item) {
            rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
            goto out;
        }
        if (!category)
            category = it->category;
    }
    alts = vt_malloc(((size_t)c->nitems + 1) * sizeof *alts);
    if (!alts) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    size_t na = 0;
    for (int32_t i = 0; i < c->nitems; i++) {
        const struct eng_item *it = &c->items[i];
        if (i == self || !it->visible || !it->rec.has_dims)
            continue;
        if (category && !category_under(it->rec.category, category))
            continue;
        struct fit_alt a = {.item = i};
        if (vt_fit_check(it->rec.dims_cm, fr.space, fr.clearance, &a.f) || !a.f.fits)
            continue;
        a.sim = item_sim(c, self, i);
        a.snug = vt_fit_snugness(fr.space, &a.f);
        alts[na++] = a;
    }
    /* An item with no category: its alternatives are the most similar
     * pieces that fit, whatever their category. */
    qsort(alts, na, sizeof *alts, fit_alt_cmp);
    list = json_array();
    if (!list) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < na && j < fr.n; j++) {
        json_t *sj = eng_item_summary(s, alts[j].item);
        if (!sj || json_object_set_new(sj, "fits", json_true()) ||
            json_object_set_new(sj, "rotated", json_boolean(alts[j].f.rotated)) ||
            json_object_set_new(sj, "margin_cm", margins_json(alts[j].f.margin_cm)) ||
            json_object_set_new(sj, "similarity", json_real(alts[j].sim)) ||
            json_array_append_new(list, sj)) {
            json_decref(sj);
            rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
            goto out;
        }
    }
    o = json_pack("{s:{s:f,s:f,s:f},s:f,s:O}", "space_cm", "w", fr.space[0], "d", fr.space[1],
                  "h", fr.space[2], "clearance_cm", fr.clearance, "alternatives", list);
    if (o && item && json_object_set(o, "item", item)) {
        json_decref(o);
        o = NULL;
    }
    if (!o) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    *out = o;
out:
    json_decref(item);
    json_decref(list);
    vt_free(alts);
    eng_snapshot_put(s);
    return rc;
}
