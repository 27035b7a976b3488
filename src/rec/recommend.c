/*
 * recommend.c - GET /v1/recommend: personal and session recommendations.
 *
 * One request, in order (docs/recommendations.md draws it):
 *   1. the shopper's live state (eng_live_view: session vector, recent
 *      events, dismissed and purchased items, recent search text) and the
 *      request's context (a product page, the cart, home, the showroom);
 *   2. candidates, each remembering which sources proposed it:
 *        context   the product's nearest items by embedding and by
 *                  co-interaction; for the cart, items near the cart's
 *                  mean vector and the cart's co-interactions
 *        ar        the items the shopper placed or tried on in AR and
 *                  their nearest items, so a placement pulls its
 *                  neighbours in on the very next request
 *        session   nearest items to the session vector (content: works
 *                  from the first event)
 *        text      nearest items to the embedding of recent searches and
 *                  reviews
 *        knn       item-item CF from the recent history
 *        als       iALS with the shopper folded in from the history (only
 *                  with ENG_ALS_MIN_HISTORY items or more: a vector folded
 *                  in from one or two events is mostly noise)
 *        trending, popular   per category when category= is given
 *        explore   a random sample of allowed items, the pool rules.c
 *                  draws exploration slots from; it also guarantees a
 *                  non-empty list while any item may be shown
 *      so cold start degrades level by level: no events gives trending,
 *      popular and the context; a few give content (session, text, AR);
 *      many add collaborative filtering;
 *   3. features (features.c) and the serving ranker's score p under
 *      e->rank_lock (read); the reason is the feature with the largest
 *      positive contribution to p, turned into a sentence naming the item
 *      behind it;
 *   4. rules (rules.c): allowed items only, MMR, category cap,
 *      exploration seeded from the list's rec_id;
 *   5. the list is logged as an impression (implog.c) when asked.
 *
 * Every item of a candidate list passed eng_rule_allowed and the
 * request's category filter before it was scored; rules.c checks again.
 * Thread-safety: a request reads one snapshot reference and a copy of the
 * user's state; nothing is shared but the ranker, read under its lock.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "rec/engine_int.h"

#define ENG_ALS_MIN_HISTORY 3   /* history items before iALS proposes */
#define CAND_ALS 100
#define CAND_KNN 60
#define CAND_SESSION 60
#define CAND_TEXT 50
#define CAND_CONTEXT 60
#define CAND_AR_ITEMS 5          /* AR items whose neighbours are asked */
#define CAND_AR_EACH 30
#define CAND_TREND 50
#define CAND_EXPLORE_MIN 20
#define SLOT_NONE (-1)
#define SLOT_REFUSED (-2)

struct rec_req {
    struct vt_engine *e;
    struct eng_snapshot *s;
    const struct vt_rec_request *q;
    struct eng_user_view u;
    struct eng_feature_ctx fc;
    int fc_ready;
    const char *context;        /* as echoed */
    int32_t ctx_item;           /* product context, or -1 */
    int cart;                   /* cart context */
    uint8_t *cat_ok;            /* per category: passes category=, NULL = all */
    int32_t *slot;              /* per item: candidate index, or SLOT_* */
    struct eng_cand *cand;
    size_t ncand, cap;
    float *ctx_vec, *text_vec;  /* dim floats each, or NULL */
    const char *text;           /* the text behind text_vec */
    struct vt_arena *A;         /* the request's work memory: every array above */
};

/* ---- candidates ------------------------------------------------------------- */

static int in_category(const struct rec_req *r, int32_t item)
{
    if (!r->cat_ok)
        return 1;
    int32_t c = r->s->cat->items[item].cat;
    return c >= 0 && r->cat_ok[c];
}

/* Propose item from source; refused items are remembered. */
static int cand_add(struct rec_req *r, int32_t item, uint32_t source)
{
    if (item < 0 || item >= r->s->cat->nitems)
        return 0;
    int32_t at = r->slot[item];
    if (at == SLOT_REFUSED)
        return 0;
    if (at >= 0) {
        r->cand[at].sources |= source;
        return 0;
    }
    if (!in_category(r, item) || !eng_rule_allowed(r->e, r->s, &r->u, item)) {
        r->slot[item] = SLOT_REFUSED;
        return 0;
    }
    if (r->ncand == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 512;
        struct eng_cand *c = vt_arena_alloc(r->A, cap * sizeof *c);
        if (!c)
            return VT_ENOMEM;
        if (r->ncand)
            memcpy(c, r->cand, r->ncand * sizeof *c);
        r->cand = c, r->cap = cap;
    }
    struct eng_cand *c = &r->cand[r->ncand];
    memset(c, 0, sizeof *c);
    c->item = item;
    c->sources = source;
    c->reason = -1;
    c->reason_item = -1;
    r->slot[item] = (int32_t)r->ncand++;
    return 0;
}

struct ann_filter {
    const struct rec_req *r;
};

static int ann_ok(int64_t label, void *arg)
{
    const struct rec_req *r = ((struct ann_filter *)arg)->r;
    if (label < 0 || label >= r->s->cat->nitems)
        return 0;
    int32_t i = (int32_t)label;
    return r->slot[i] != SLOT_REFUSED && r->s->cat->items[i].visible && in_category(r, i);
}

/* The k items nearest to vec (cosine) as candidates of source. */
static int cand_ann(struct rec_req *r, const float *vec, size_t k, uint32_t source)
{
    struct vt_index *ann = r->s->cat->ann;
    if (!ann || !vec || !k || vt_index_size(ann) == 0)
        return 0;
    int64_t *labels = vt_arena_alloc(r->A, k * sizeof *labels);
    if (!labels)
        return VT_ENOMEM;
    struct ann_filter f = {r};
    size_t n = 0;
    int rc = vt_index_search(ann, vec, k, ann_ok, &f, labels, NULL, &n);
    if (rc)
        return rc == VT_ENOMEM ? rc : 0; /* a zero or odd vector: no neighbours */
    for (size_t j = 0; j < n && !rc; j++)
        rc = cand_add(r, (int32_t)labels[j], source);
    return rc;
}

/* The nearest items of a catalog item, from the catalog's memo; the
 * request's filter is cand_add's. */
static int cand_neighbours_of(struct rec_req *r, int32_t item, size_t k, uint32_t source)
{
    size_t n = 0;
    const int32_t *nb = eng_catalog_neighbours(r->s->cat, item, &n);
    int rc = 0;
    for (size_t j = 0; nb && j < n && j < k && !rc; j++)
        rc = cand_add(r, nb[j], source);
    return rc;
}

/* The best k of scores[0..n) above 0, by a small min-heap. */
static size_t top_k(const float *scores, int32_t n, size_t k, int32_t *out)
{
    size_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        float s = scores[i];
        if (!(s > 0))
            continue;
        if (m < k) {
            size_t c = m++;
            while (c > 0 && scores[out[(c - 1) / 2]] > s) {
                out[c] = out[(c - 1) / 2];
                c = (c - 1) / 2;
            }
            out[c] = i;
        } else if (s > scores[out[0]]) {
            size_t c = 0;
            for (;;) {
                size_t l = 2 * c + 1, best = c;
                float bs = s;
                if (l < m && scores[out[l]] < bs)
                    best = l, bs = scores[out[l]];
                if (l + 1 < m && scores[out[l + 1]] < bs)
                    best = l + 1;
                if (best == c)
                    break;
                out[c] = out[best];
                c = best;
            }
            out[c] = i;
        }
    }
    return m;
}

/* Behaviour-indexed scores to candidates (best first is not needed: the
 * ranker orders them). */
static int cand_scores(struct rec_req *r, const float *scores, int32_t n, size_t k,
                       uint32_t source)
{
    int32_t *best = vt_arena_alloc(r->A, (k ? k : 1) * sizeof *best);
    if (!best)
        return VT_ENOMEM;
    size_t m = top_k(scores, n, k, best);
    int rc = 0;
    for (size_t j = 0; j < m && !rc; j++)
        rc = cand_add(r, r->s->cat_of[best[j]], source);
    return rc;
}

/* iALS candidates from the index of item factors (large catalogs). */
static int cand_als_ann(struct rec_req *r, const struct eng_behaviour *b, const float *user,
                        size_t k)
{
    int64_t labels[CAND_ALS];
    size_t n = 0;
    if (k > CAND_ALS)
        k = CAND_ALS;
    int rc = eng_als_search(b, user, k, labels, &n);
    if (rc == VT_EINVAL)
        return 0; /* a zero or non-finite user vector: no iALS candidates */
    for (size_t j = 0; j < n && !rc; j++)
        rc = cand_add(r, r->s->cat_of[labels[j]], ENG_SRC_ALS);
    return rc;
}

/* The kept item-item neighbours of a catalog item. */
static int cand_knn_of(struct rec_req *r, int32_t item, size_t k, uint32_t source)
{
    const struct vt_itemknn *knn = r->s->beh ? r->s->beh->knn : NULL;
    int32_t b = r->s->beh_of ? r->s->beh_of[item] : -1;
    if (!knn || b < 0 || b >= knn->nitems)
        return 0;
    int rc = 0;
    for (int64_t j = knn->ptr[b]; j < knn->ptr[b + 1] && (size_t)(j - knn->ptr[b]) < k && !rc;
         j++)
        rc = cand_add(r, r->s->cat_of[knn->nb[j]], source);
    return rc;
}

/* Item-item CF of a list of catalog items with weights. */
static int cand_knn_history(struct rec_req *r, const int32_t *items, const float *w, size_t n,
                            size_t k, uint32_t source)
{
    const struct eng_behaviour *beh = r->s->beh;
    if (!beh || !beh->knn || !n || !r->s->beh_of)
        return 0;
    int32_t bi[ENG_RECENT_MAX];
    float bw[ENG_RECENT_MAX];
    size_t m = 0;
    for (size_t j = 0; j < n && m < ENG_RECENT_MAX; j++) {
        int32_t b = r->s->beh_of[items[j]];
        if (b >= 0)
            bi[m] = b, bw[m] = w ? w[j] : 1.0f, m++;
    }
    if (!m)
        return 0;
    float *sc = vt_arena_alloc(r->A, (size_t)beh->knn->nitems * sizeof *sc);
    if (!sc)
        return VT_ENOMEM;
    vt_itemknn_score(beh->knn, bi, bw, m, sc);
    return cand_scores(r, sc, beh->knn->nitems, k, source);
}

/* The first k items of a popularity order that may be shown here. */
static int cand_pop(struct rec_req *r, const struct vt_pop *p, size_t k, uint32_t source)
{
    if (!p)
        return 0;
    size_t got = 0;
    int rc = 0;
    for (int32_t j = 0; j < p->nitems && got < k && !rc; j++) {
        int32_t b = p->order[j];
        if (!(p->score[b] > 0))
            break;
        int32_t i = r->s->cat_of[b];
        if (i < 0)
            continue;
        size_t before = r->ncand;
        int32_t had = r->slot[i];
        rc = cand_add(r, i, source);
        got += r->ncand > before || had >= 0;
    }
    return rc;
}

static int32_t gcd(int32_t a, int32_t b)
{
    while (b) {
        int32_t t = a % b;
        a = b, b = t;
    }
    return a;
}

/* A random sample of allowed items not yet proposed: a walk through the
 * catalog from a random start with a stride coprime to its size. */
static int cand_explore(struct rec_req *r, size_t k, uint64_t seed)
{
    int32_t n = r->s->cat->nitems;
    if (n <= 0)
        return 0;
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    int32_t start = (int32_t)((x >> 17) % (uint64_t)n);
    int32_t stride = (int32_t)((x >> 40) % (uint64_t)n) | 1;
    if (gcd(stride, n) != 1)
        stride = 1;
    size_t got = 0;
    int rc = 0;
    for (int32_t t = 0; t < n && got < k && !rc; t++) {
        int32_t i = (int32_t)(((int64_t)start + (int64_t)t * stride) % n);
        if (r->slot[i] != SLOT_NONE)
            continue;
        size_t before = r->ncand;
        rc = cand_add(r, i, ENG_SRC_EXPLORE);
        got += r->ncand > before;
    }
    return rc;
}

/* ---- the request's context ---------------------------------------------------- */

static const float *row(const struct eng_catalog *c, int32_t i)
{
    if (i < 0 || !c->dim || !c->has_emb || !c->has_emb[i])
        return NULL;
    return c->emb + (size_t)i * c->dim;
}

static int parse_context(struct rec_req *r, struct vt_error *err)
{
    const char *c = r->q->context;
    r->ctx_item = -1;
    r->context = c && *c ? c : "home";
    if (!c || !*c || !strcmp(c, "home") || !strcmp(c, "showroom"))
        return 0;
    if (!strcmp(c, "cart")) {
        r->cart = 1;
        return 0;
    }
    if (!strncmp(c, "product:", 8)) {
        const char *id = c + 8;
        if (vt_id_check(id, "context", err))
            return vt_error_set(err, VT_EINVAL, "context",
                                "context product:<id> needs a valid item id");
        r->ctx_item = vt_idmap_get(r->s->cat->ids, id);
        if (r->ctx_item < 0)
            return vt_error_set(err, VT_ENOTFOUND, "context", "no item %s", id);
        return 0;
    }
    return vt_error_set(err, VT_EINVAL, "context",
                        "context must be home, cart, showroom or product:<id>");
}

/* Categories the category= prefix covers (a path component boundary). */
static int category_filter(struct rec_req *r)
{
    const char *want = r->q->category;
    if (!want || !*want)
        return 0;
    const struct eng_catalog *c = r->s->cat;
    r->cat_ok = vt_arena_calloc(r->A, c->ncats > 0 ? (size_t)c->ncats : 1, 1);
    if (!r->cat_ok)
        return VT_ENOMEM;
    size_t len = strlen(want);
    while (len > 1 && want[len - 1] == '/')
        len--;
    for (int32_t k = 0; k < c->ncats; k++)
        r->cat_ok[k] = !strncmp(c->cats[k], want, len) &&
                       (c->cats[k][len] == '\0' || c->cats[k][len] == '/');
    return 0;
}

static int normalise(float *v, uint32_t dim)
{
    double n = 0;
    for (uint32_t k = 0; k < dim; k++)
        n += (double)v[k] * v[k];
    if (!(n > 1e-12))
        return 0;
    float inv = (float)(1 / sqrt(n));
    for (uint32_t k = 0; k < dim; k++)
        v[k] *= inv;
    return 1;
}

/* The items in the cart: added and not bought since (newest first). */
static size_t cart_items(const struct rec_req *r, int32_t *out, size_t max)
{
    size_t m = 0;
    for (size_t k = 0; k < r->u.nrecent && m < max; k++) {
        const struct eng_recent *ev = &r->u.recent[k];
        if (ev->type != VT_EV_ADD_TO_CART || !ev->item_id)
            continue;
        int bought = 0;
        for (size_t j = 0; j < k; j++) /* newer events */
            bought |= r->u.recent[j].type == VT_EV_PURCHASE && r->u.recent[j].item_id &&
                      !strcmp(r->u.recent[j].item_id, ev->item_id);
        int32_t i = vt_idmap_get(r->s->cat->ids, ev->item_id);
        int dup = 0;
        for (size_t j = 0; j < m; j++)
            dup |= out[j] == i;
        if (i >= 0 && !bought && !dup)
            out[m++] = i;
    }
    return m;
}

/* Context and text vectors, before the candidates. */
static int request_vectors(struct rec_req *r)
{
    const struct eng_catalog *c = r->s->cat;
    if (!c->dim)
        return 0;
    if (r->ctx_item >= 0 && row(c, r->ctx_item)) {
        r->ctx_vec = vt_arena_alloc(r->A, c->dim * sizeof(float));
        if (!r->ctx_vec)
            return VT_ENOMEM;
        memcpy(r->ctx_vec, row(c, r->ctx_item), c->dim * sizeof(float));
    } else if (r->cart) {
        int32_t in[ENG_RECENT_MAX];
        size_t n = cart_items(r, in, ENG_RECENT_MAX);
        if (n) {
            r->ctx_vec = vt_arena_calloc(r->A, c->dim, sizeof(float));
            if (!r->ctx_vec)
                return VT_ENOMEM;
            for (size_t j = 0; j < n; j++)
                if (row(c, in[j]))
                    for (uint32_t k = 0; k < c->dim; k++)
                        r->ctx_vec[k] += row(c, in[j])[k];
            if (!normalise(r->ctx_vec, c->dim))
                r->ctx_vec = NULL;
        }
    }
    /* Recent searches and reviews, newest first, embedded as one text. */
    if (r->u.texts[0] && r->e->te) {
        char joined[1024];
        size_t len = 0;
        for (int k = 0; k < ENG_TEXTS_MAX && r->u.texts[k]; k++) {
            int w = snprintf(joined + len, sizeof joined - len, "%s%s", k ? ". " : "",
                             r->u.texts[k]);
            if (w < 0 || (size_t)w >= sizeof joined - len)
                break;
            len += (size_t)w;
        }
        r->text_vec = vt_arena_alloc(r->A, c->dim * sizeof(float));
        if (!r->text_vec)
            return VT_ENOMEM;
        struct vt_error err;
        vt_error_clear(&err);
        if (!len || eng_embed_text(r->e, r->s, joined, r->text_vec, &err) ||
            !normalise(r->text_vec, c->dim)) {
            r->text_vec = NULL;
        } else {
            r->text = r->u.texts[0];
        }
    }
    return 0;
}

static const float *usable_session(const struct rec_req *r)
{
    const struct eng_catalog *c = r->s->cat;
    if (!r->u.session || !c->dim || r->u.dim != c->dim || strcmp(r->u.model_id, c->model_id))
        return NULL;
    return r->u.session;
}

/* Every candidate source of the list above. */
static int gather(struct rec_req *r, uint64_t seed)
{
    const struct eng_catalog *c = r->s->cat;
    const struct eng_behaviour *beh = r->s->beh;
    const struct eng_feature_ctx *fc = &r->fc;
    size_t n = r->q->n;
    int rc = 0;

    /* Never the page's own product or what is already in the cart. */
    if (r->ctx_item >= 0)
        r->slot[r->ctx_item] = SLOT_REFUSED;
    int32_t in_cart[ENG_RECENT_MAX];
    size_t ncart = r->cart ? cart_items(r, in_cart, ENG_RECENT_MAX) : 0;
    for (size_t j = 0; j < ncart; j++)
        r->slot[in_cart[j]] = SLOT_REFUSED;

    if (r->ctx_item >= 0 && r->s->cat->nbr && row(c, r->ctx_item))
        rc = cand_neighbours_of(r, r->ctx_item, CAND_CONTEXT, ENG_SRC_CONTEXT);
    else if (r->ctx_vec)
        rc = cand_ann(r, r->ctx_vec, CAND_CONTEXT, ENG_SRC_CONTEXT);
    if (!rc && r->ctx_item >= 0)
        rc = cand_knn_of(r, r->ctx_item, CAND_CONTEXT, ENG_SRC_CONTEXT);
    if (!rc && ncart)
        rc = cand_knn_history(r, in_cart, NULL, ncart, CAND_CONTEXT, ENG_SRC_CONTEXT);

    /* AR: the strongest AR items, themselves and their neighbours. */
    int used[CAND_AR_ITEMS];
    size_t nused = 0;
    while (!rc && nused < CAND_AR_ITEMS && nused < fc->nar) {
        int best = -1;
        for (size_t j = 0; j < fc->nar; j++) {
            int taken = 0;
            for (size_t t = 0; t < nused; t++)
                taken |= used[t] == (int)j;
            if (!taken && (best < 0 || fc->ar_w[j] > fc->ar_w[best]))
                best = (int)j;
        }
        used[nused++] = best;
        int32_t a = fc->ar_items[best];
        rc = cand_add(r, a, ENG_SRC_AR);
        if (!rc && row(c, a))
            rc = cand_neighbours_of(r, a, CAND_AR_EACH, ENG_SRC_AR);
        if (!rc)
            rc = cand_knn_of(r, a, CAND_AR_EACH / 2, ENG_SRC_AR);
    }

    if (!rc && usable_session(r))
        rc = cand_ann(r, usable_session(r), CAND_SESSION, ENG_SRC_SESSION);
    if (!rc && r->text_vec)
        rc = cand_ann(r, r->text_vec, CAND_TEXT, ENG_SRC_TEXT);
    if (!rc && fc->nhist && fc->knn_sum) /* the features gathered these scores */
        rc = cand_scores(r, fc->knn_sum, beh->knn->nitems, CAND_KNN, ENG_SRC_KNN);
    else if (!rc && fc->nhist)
        rc = cand_knn_history(r, fc->hist_items, fc->hist_w, fc->nhist, CAND_KNN, ENG_SRC_KNN);
    if (!rc && fc->als_user && fc->nhist >= ENG_ALS_MIN_HISTORY && beh && beh->als_ann) {
        rc = cand_als_ann(r, beh, fc->als_user, CAND_ALS);
    } else if (!rc && fc->als_user && fc->nhist >= ENG_ALS_MIN_HISTORY && beh && beh->ials) {
        float *sc = vt_arena_alloc(r->A, (size_t)beh->ials->nitems * sizeof *sc);
        if (!sc)
            return VT_ENOMEM;
        vt_ials_score(beh->ials, fc->als_user, sc);
        rc = cand_scores(r, sc, beh->ials->nitems, CAND_ALS, ENG_SRC_ALS);
    }
    if (!rc && beh)
        rc = cand_pop(r, beh->trending, CAND_TREND, ENG_SRC_TRENDING);
    if (!rc && beh)
        rc = cand_pop(r, beh->pop, CAND_TREND, ENG_SRC_POPULAR);
    if (!rc) {
        size_t k = n > CAND_EXPLORE_MIN ? n : CAND_EXPLORE_MIN;
        if (r->ncand < n)
            k += n - r->ncand;
        rc = cand_explore(r, k, seed);
    }
    return rc;
}

/* ---- scoring and reasons ------------------------------------------------------ */

/* Candidates are sorted through small keys: a candidate is a hundred
 * bytes, and moving those was a tenth of a request. */
struct cand_key {
    double p;
    int32_t item;
    uint32_t at;
};

/* x before y: larger p first, then smaller item index. */
static inline int key_before(const struct cand_key *x, const struct cand_key *y)
{
    return x->p != y->p ? x->p > y->p : x->item < y->item;
}

/* Quicksort with the comparison inlined (qsort's call per comparison was
 * most of the sort), median of three, insertion sort below 16, the
 * smaller side first so the stack stays logarithmic. Keys are distinct
 * (item indexes are), so the order is total. */
static void sort_keys(struct cand_key *k, size_t n)
{
    while (n > 16) {
        size_t mid = n / 2;
        struct cand_key t;
#define SWAP(i, j) (t = k[i], k[i] = k[j], k[j] = t)
        if (key_before(&k[mid], &k[0]))
            SWAP(mid, 0);
        if (key_before(&k[n - 1], &k[0]))
            SWAP(n - 1, 0);
        if (key_before(&k[n - 1], &k[mid]))
            SWAP(n - 1, mid);
        struct cand_key pivot = k[mid];
        size_t i = 0, j = n - 1;
        for (;;) {
            while (key_before(&k[i], &pivot))
                i++;
            while (key_before(&pivot, &k[j]))
                j--;
            if (i >= j)
                break;
            SWAP(i, j);
            i++, j--;
        }
#undef SWAP
        /* k[0..j] then k[j+1..n) */
        size_t left = j + 1;
        if (left < n - left) {
            sort_keys(k, left);
            k += left, n -= left;
        } else {
            sort_keys(k + left, n - left);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        struct cand_key x = k[i];
        size_t j = i;
        for (; j > 0 && key_before(&x, &k[j - 1]); j--)
            k[j] = k[j - 1];
        k[j] = x;
    }
}

/* r->cand by p, best first (ties by item index); VT_ENOMEM or 0. */
static int sort_cands(struct rec_req *r)
{
    size_t n = r->ncand;
    struct cand_key *k = vt_arena_alloc(r->A, (n ? n : 1) * sizeof *k);
    struct eng_cand *sorted = vt_arena_alloc(r->A, (n ? n : 1) * sizeof *sorted);
    if (!k || !sorted)
        return VT_ENOMEM;
    for (size_t j = 0; j < n; j++)
        k[j] = (struct cand_key){r->cand[j].p, r->cand[j].item, (uint32_t)j};
    sort_keys(k, n);
    for (size_t j = 0; j < n; j++)
        sorted[j] = r->cand[k[j].at];
    r->cand = sorted;
    r->cap = n;
    return 0;
}

/* A reason that names another item ("Because you placed X in your room")
 * is given only when the item is really close to X: a small closeness
 * times a large learned weight can still be the biggest contribution,
 * and "because you placed a sofa" under a sleeping bag reads as nonsense.
 * Below the minimum the next contribution speaks instead. */
#define REASON_MIN_KNN 0.25f
/* Closeness by embedding, rescaled from the catalog's floor (features.c):
 * on the demo catalog sofas score 0.85-0.9 to another sofa, armchairs
 * about 0.7, a bedside table 0.58 and a sleeping bag 0.5. */
#define REASON_MIN_CLOSE 0.65f
static int reason_strong_enough(const struct eng_catalog *cat, const struct eng_cand *c, int f)
{
    if (f == ENG_X_CF_KNN)
        return c->f[f] >= REASON_MIN_KNN;
    if (f == ENG_Y_AR_NEAR)
        return c->f[f] >= REASON_MIN_CLOSE;
    if (f == ENG_X_SEM_SESSION || f == ENG_X_SEM_CONTEXT || f == ENG_X_SEM_TEXT) {
        /* raw cosines: measured from what unrelated items score */
        float floor = cat->cos_floor;
        return (c->f[f] - floor) / (1 - floor) >= REASON_MIN_CLOSE;
    }
    return 1;
}

/* p, z and a for every candidate, sorted by p; the ranker's version in
 * *version. VT_ENOMEM or 0. */
static int score_all(struct rec_req *r, uint64_t *version_out)
{
    struct vt_engine *e = r->e;
    uint64_t version = 0;
    for (size_t j = 0; j < r->ncand; j++)
        eng_features(&r->fc, &r->cand[j]);
    pthread_rwlock_rdlock(&e->rank_lock);
    const struct vt_ranker *m = e->ranker;
    if (m) {
        version = vt_ranker_meta_const(m)->version;
        for (size_t j = 0; j < r->ncand; j++) {
            struct eng_cand *c = &r->cand[j];
            c->p = vt_ranker_score(m, c->f, &c->z, &c->a);
            c->reason = -1;
        }
    }
    pthread_rwlock_unlock(&e->rank_lock);
    *version_out = version;
    return sort_cands(r);
}

/* The reason of each entry of the final list (only those are shown, so
 * only they are explained): the feature with the largest contribution.
 * Exploration slots (reason -2, rules.c) have none. */
static void choose_reasons(struct rec_req *r, struct eng_cand *list, size_t m)
{
    float contrib[ENG_NFEAT];
    pthread_rwlock_rdlock(&r->e->rank_lock);
    const struct vt_ranker *rk = r->e->ranker;
    for (size_t j = 0; rk && j < m; j++) {
        struct eng_cand *c = &list[j];
        if (c->reason == -2)
            continue;
        vt_ranker_contrib(rk, c->f, contrib);
        float best = 0;
        c->reason = -1;
        for (int f = 0; f < ENG_NFEAT; f++)
            if (contrib[f] > best && reason_strong_enough(r->s->cat, c, f)) {
                best = contrib[f];
                c->reason = f;
            }
    }
    pthread_rwlock_unlock(&r->e->rank_lock);
}

/* s cut to at most 160 bytes at a character boundary, into out[192]. */
static const char *clip_utf8(const char *s, char *out)
{
    size_t n = strlen(s);
    if (n > 160) {
        n = 160;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static const char *title_en(const struct eng_snapshot *s, int32_t i)
{
    const struct eng_item *it = &s->cat->items[i];
    return it->title_en ? it->title_en : it->title ? it->title : it->rec.id;
}

/* The last segment of a category path: "Living room/Sofas" -> "Sofas". */
static const char *category_leaf(const struct eng_snapshot *s, int32_t i)
{
    const char *p = s->cat->items[i].rec.category;
    if (!p || !*p)
        return NULL;
    const char *slash = strrchr(p, '/');
    return slash && slash[1] ? slash + 1 : p;
}

/* What the shopper last did in AR with item i: VT_EV_TRYON or
 * VT_EV_AR_PLACE (any other AR event counts as a placement). */
static int ar_kind(const struct rec_req *r, int32_t i)
{
    const char *id = r->s->cat->items[i].rec.id;
    for (size_t k = 0; k < r->u.nrecent; k++) {
        const struct eng_recent *ev = &r->u.recent[k];
        if (ev->item_id && !strcmp(ev->item_id, id) &&
            (ev->type == VT_EV_TRYON || ev->type == VT_EV_AR_PLACE))
            return ev->type;
    }
    return VT_EV_AR_PLACE;
}

static int bought(const struct rec_req *r, int32_t i)
{
    const char *id = r->s->cat->items[i].rec.id;
    for (size_t k = 0; k < r->u.npurchased; k++)
        if (!strcmp(r->u.purchased[k], id))
            return 1;
    for (size_t k = 0; k < r->u.nrecent; k++)
        if (r->u.recent[k].type == VT_EV_PURCHASE && r->u.recent[k].item_id &&
            !strcmp(r->u.recent[k].item_id, id))
            return 1;
    return 0;
}

static const char *source_name(uint32_t src)
{
    static const struct {
        uint32_t flag;
        const char *name;
    } order[] = {{ENG_SRC_AR, "ar"},           {ENG_SRC_CONTEXT, "context"},
                 {ENG_SRC_SESSION, "session"}, {ENG_SRC_TEXT, "text"},
                 {ENG_SRC_KNN, "knn"},         {ENG_SRC_ALS, "als"},
                 {ENG_SRC_TRENDING, "trending"}, {ENG_SRC_POPULAR, "popular"},
                 {ENG_SRC_EXPLORE, "explore"}};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        if (src & order[k].flag)
            return order[k].name;
    return "popular";
}

/* The source shown: the one behind the reason when it proposed the item. */
static const char *shown_source(const struct eng_cand *c)
{
    uint32_t want = 0;
    switch (c->reason) {
    case ENG_Y_AR_NEAR:
    case ENG_Y_AR_SELF: want = ENG_SRC_AR; break;
    case ENG_X_SEM_CONTEXT: want = ENG_SRC_CONTEXT; break;
    case ENG_X_SEM_SESSION: want = ENG_SRC_SESSION; break;
    case ENG_X_SEM_TEXT: want = ENG_SRC_TEXT; break;
    case ENG_X_CF_KNN: want = ENG_SRC_KNN; break;
    case ENG_X_CF_ALS: want = ENG_SRC_ALS; break;
    case ENG_X_TRENDING: want = ENG_SRC_TRENDING; break;
    case ENG_X_POP: want = ENG_SRC_POPULAR; break;
    default: break;
    }
    return source_name(c->sources & want ? want : c->sources);
}

/* A reason when the ranker gave none: from the strongest source. */
static int reason_from_source(uint32_t src)
{
    if (src & ENG_SRC_AR)
        return ENG_Y_AR_NEAR;
    if (src & ENG_SRC_CONTEXT)
        return ENG_X_SEM_CONTEXT;
    if (src & ENG_SRC_SESSION)
        return ENG_X_SEM_SESSION;
    if (src & ENG_SRC_TEXT)
        return ENG_X_SEM_TEXT;
    if (src & ENG_SRC_KNN)
        return ENG_X_CF_KNN;
    if (src & ENG_SRC_ALS)
        return ENG_X_CF_ALS;
    if (src & ENG_SRC_TRENDING)
        return ENG_X_TRENDING;
    if (src & ENG_SRC_POPULAR)
        return ENG_X_POP;
    return -1;
}

/* {"code", "text", "text_zh"?, "item_id"} into b. */
static int reason_json(struct vt_buf *b, const char *code, const char *en, const char *zh,
                       int32_t item, const struct eng_snapshot *s)
{
    int rc = vt_buf_puts(b, "{\"code\":");
    rc = rc ? rc : vt_buf_json_str(b, code);
    rc = rc ? rc : vt_buf_puts(b, ",\"text\":");
    rc = rc ? rc : vt_buf_json_str(b, en);
    if (zh) {
        rc = rc ? rc : vt_buf_puts(b, ",\"text_zh\":");
        rc = rc ? rc : vt_buf_json_str(b, zh);
    }
    rc = rc ? rc : vt_buf_puts(b, ",\"item_id\":");
    rc = rc ? rc : vt_buf_json_str(b, item >= 0 ? s->cat->items[item].rec.id : NULL);
    return rc ? rc : vt_buf_puts(b, "}");
}

/* The cart item closest to item by embedding, or -1. */
static int32_t closest_in_cart(const struct rec_req *r, int32_t item)
{
    const struct eng_catalog *cat = r->s->cat;
    int32_t in[ENG_RECENT_MAX];
    size_t n = cart_items(r, in, ENG_RECENT_MAX);
    const float *v = row(cat, item);
    double best = -2;
    int32_t who = n ? in[0] : -1;
    for (size_t j = 0; j < n && v; j++) {
        const float *u = row(cat, in[j]);
        double d = 0;
        for (uint32_t k = 0; u && k < cat->dim; k++)
            d += (double)v[k] * u[k];
        if (u && d > best) {
            best = d;
            who = in[j];
        }
    }
    return who;
}

/* {"code", "text", "text_zh"?, "item_id"} of a list entry, into b.
 * Chinese text is given when no item is named or the named item has a
 * Chinese title. */
static int reason_of(struct rec_req *r, const struct eng_cand *c, struct vt_buf *b)
{
    const struct eng_snapshot *s = r->s;
    char en[512], zh[512];
    int has_zh = 1;
    if (c->sources == ENG_SRC_EXPLORE && c->reason < 0)
        return reason_json(b, "explore", "Something new to discover", "发现新品", -1, s);
    int f = c->reason >= 0 ? c->reason : reason_from_source(c->sources);
    int32_t item = -1;
    if (f == ENG_X_SEM_CONTEXT)
        item = r->cart ? closest_in_cart(r, c->item) : r->ctx_item;
    else if (f >= 0)
        item = eng_feature_item(&r->fc, c, f);
    /* A feature that names an item but found none falls back in turn. */
    if (item < 0 && (f == ENG_Y_AR_NEAR || f == ENG_X_CF_KNN || f == ENG_X_SEM_SESSION ||
                     f == ENG_X_CF_ALS || f == ENG_X_CATEGORY || f == ENG_X_PRICE_FIT)) {
        f = (c->sources & ENG_SRC_TRENDING) ? ENG_X_TRENDING : ENG_X_POP;
    }
    char tbuf[192], tzbuf[192], qbuf[192];
    const char *t = item >= 0 ? clip_utf8(title_en(s, item), tbuf) : NULL;
    const char *tz = item >= 0 && s->cat->items[item].title_zh
                         ? clip_utf8(s->cat->items[item].title_zh, tzbuf)
                         : NULL;
    const char *code;
    /* An item named for the history that the shopper placed in their
     * room is told as such: the strongest thing they did with it. */
    int ar_named = f == ENG_Y_AR_NEAR || f == ENG_Y_AR_SELF;
    /* Only for features that say the item is like the named one: a
     * category share or a price range naming the placed piece would turn
     * "in your price range" into "because you placed it". */
    if (!ar_named && item >= 0 &&
        (f == ENG_X_SEM_SESSION || f == ENG_X_CF_KNN || f == ENG_X_CF_ALS))
        for (size_t k = 0; k < r->fc.nar; k++)
            ar_named |= r->fc.ar_items[k] == item;
    if (ar_named) {
        if (ar_kind(r, item) == VT_EV_TRYON) {
            code = "tryon";
            snprintf(en, sizeof en, "Because you tried on %s", t);
            snprintf(zh, sizeof zh, "因为您试用了%s", tz ? tz : "");
        } else {
            code = "ar_place";
            snprintf(en, sizeof en, "Because you placed %s in your room", t);
            snprintf(zh, sizeof zh, "因为您在房间里摆放了%s", tz ? tz : "");
        }
        has_zh = tz != NULL;
        return reason_json(b, code, en, has_zh ? zh : NULL, item, s);
    }
    switch (f) {
    case ENG_Y_MANIPULATE:
        code = "viewed";
        snprintf(en, sizeof en, "Because you looked closely at %s", t);
        snprintf(zh, sizeof zh, "因为您仔细查看了%s", tz ? tz : "");
        has_zh = tz != NULL;
        break;
    case ENG_X_SEM_CONTEXT:
        code = "similar_to_context";
        if (t && r->cart) {
            snprintf(en, sizeof en, "Goes with %s in your cart", t);
            snprintf(zh, sizeof zh, "与购物车中的%s相配", tz ? tz : "");
            has_zh = tz != NULL;
        } else if (t) {
            snprintf(en, sizeof en, "Similar to %s", t);
            snprintf(zh, sizeof zh, "与%s相似", tz ? tz : "");
            has_zh = tz != NULL;
        } else {
            snprintf(en, sizeof en, "Goes with what is in your cart");
            snprintf(zh, sizeof zh, "与您购物车中的商品相配");
        }
        break;
    case ENG_X_SEM_TEXT:
        code = "searched";
        if (r->text) {
            clip_utf8(r->text, qbuf);
            snprintf(en, sizeof en, "Because you searched \u201c%s\u201d", qbuf);
            snprintf(zh, sizeof zh, "因为您搜索了\u201c%s\u201d", qbuf);
        } else {
            snprintf(en, sizeof en, "Because of what you searched for");
            snprintf(zh, sizeof zh, "根据您的搜索");
        }
        break;
    case ENG_X_CATEGORY: {
        /* The share of the history in the item's category: say so, not
         * "because you viewed" a piece it may be nothing like. */
        const char *leaf = category_leaf(s, c->item);
        code = "category";
        if (leaf)
            snprintf(en, sizeof en, "More in %s, where you have been looking", leaf);
        else
            snprintf(en, sizeof en, "More of what you have been looking at");
        snprintf(zh, sizeof zh, "更多您在看的同类商品");
        item = -1;
        break;
    }
    case ENG_X_PRICE_FIT:
        code = "price";
        snprintf(en, sizeof en, "In the price range you look at");
        snprintf(zh, sizeof zh, "在您关注的价格范围内");
        item = -1;
        break;
    case ENG_X_SEEN:
    case ENG_X_CF_KNN:
    case ENG_X_SEM_SESSION:
    case ENG_X_CF_ALS:
        if (bought(r, item) && item != c->item) {
            code = "bought";
            snprintf(en, sizeof en, "Because you bought %s", t);
            snprintf(zh, sizeof zh, "因为您购买了%s", tz ? tz : "");
        } else {
            code = "viewed";
            snprintf(en, sizeof en, "Because you viewed %s", t);
            snprintf(zh, sizeof zh, "因为您浏览过%s", tz ? tz : "");
        }
        has_zh = tz != NULL;
        break;
    case ENG_X_TRENDING:
        code = "trending";
        snprintf(en, sizeof en, "Trending now");
        snprintf(zh, sizeof zh, "当下流行");
        break;
    case ENG_X_RECENCY: {
        const char *leaf = category_leaf(s, c->item);
        code = "trending";
        if (leaf)
            snprintf(en, sizeof en, "New in %s", leaf);
        else
            snprintf(en, sizeof en, "New in the shop");
        snprintf(zh, sizeof zh, "新品");
        break;
    }
    case ENG_Y_AR_RATE:
        code = "popular";
        snprintf(en, sizeof en, "Shoppers often place this in their rooms");
        snprintf(zh, sizeof zh, "顾客常把它摆进房间");
        break;
    default: {
        const char *leaf = category_leaf(s, c->item);
        code = "popular";
        if (leaf)
            snprintf(en, sizeof en, "Popular in %s", leaf);
        else
            snprintf(en, sizeof en, "Popular now");
        snprintf(zh, sizeof zh, "热销商品");
        break;
    }
    }
    return reason_json(b, code, en, has_zh ? zh : NULL, item, s);
}

/* FNV-1a of the rec_id: the seed of the list's random choices. */
static uint64_t seed_of(const char *rec_id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)rec_id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* The answer as JSON text into b (docs/api.md#recommend): each item's
 * summary is the snapshot's memoised text with the list's fields added. */
static int answer(struct rec_req *r, const char *rec_id, const struct eng_cand *list, size_t m,
                  uint64_t ranker_version, struct vt_buf *b)
{
    int rc = vt_buf_puts(b, "{\"user_id\":");
    rc = rc ? rc : vt_buf_json_str(b, r->q->user_id);
    rc = rc ? rc : vt_buf_puts(b, ",\"rec_id\":");
    rc = rc ? rc : vt_buf_json_str(b, rec_id);
    rc = rc ? rc : vt_buf_puts(b, ",\"context\":");
    rc = rc ? rc : vt_buf_json_str(b, r->context);
    rc = rc ? rc : vt_buf_puts(b, ",\"items\":[");
    for (size_t j = 0; j < m && !rc; j++) {
        size_t len = 0;
        const char *sum = eng_item_summary_text(r->s, list[j].item, &len);
        if (!sum || len < 2 || sum[len - 1] != '}')
            return VT_ENOMEM;
        if (j)
            rc = vt_buf_append(b, ",", 1);
        rc = rc ? rc : vt_buf_append(b, sum, len - 1); /* the object, still open */
        rc = rc ? rc : vt_buf_puts(b, len > 2 ? ",\"score\":" : "\"score\":");
        rc = rc ? rc : vt_buf_json_real(b, list[j].p, 9);
        rc = rc ? rc : vt_buf_puts(b, ",\"source\":");
        rc = rc ? rc
                : vt_buf_json_str(b, list[j].sources == ENG_SRC_EXPLORE && list[j].reason < 0
                                         ? "explore"
                                         : shown_source(&list[j]));
        rc = rc ? rc : vt_buf_puts(b, ",\"reason\":");
        rc = rc ? rc : reason_of(r, &list[j], b);
        rc = rc ? rc : vt_buf_append(b, "}", 1);
    }
    rc = rc ? rc
            : vt_buf_printf(b, "],\"model\":{\"ranker_version\":%llu,\"snapshot_version\":%llu}}",
                            (unsigned long long)ranker_version,
                            (unsigned long long)r->s->version);
    return rc;
}

int vt_engine_recommend(struct vt_engine *e, const struct vt_rec_request *q, json_t **out,
                        struct vt_error *err)
{
    struct vt_buf b;
    vt_buf_init(&b, 0);
    return eng_answer_json(vt_engine_recommend_text(e, q, &b, err), &b, out, err);
}

int vt_engine_recommend_text(struct vt_engine *e, const struct vt_rec_request *q,
                             struct vt_buf *out, struct vt_error *err)
{
    if (!q->n || q->n > 100)
        return vt_error_set(err, VT_EINVAL, "n", "n must be from 1 to 100");
    struct rec_req r;
    memset(&r, 0, sizeof r);
    r.e = e;
    r.q = q;
    r.A = vt_arena_thread();
    if (!r.A)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory while recommending");
    size_t mark = vt_arena_mark(r.A);
    r.s = eng_snapshot_get(e);
    struct eng_cand *list = NULL;
    int rc = parse_context(&r, err);
    if (rc)
        goto out;
    if (q->user_id && ((rc = eng_live_view_in(e, r.s, q->user_id, r.A, &r.u)) != 0 ||
                       (rc = eng_user_view_index(&r.u, r.s->cat, r.A)) != 0))
        goto oom;
    int32_t nitems = r.s->cat->nitems;
    r.slot = vt_arena_alloc(r.A, (nitems ? (size_t)nitems : 1) * sizeof *r.slot);
    list = vt_arena_alloc(r.A, q->n * sizeof *list);
    if (!r.slot || !list || category_filter(&r) || request_vectors(&r))
        goto oom;
    for (int32_t i = 0; i < nitems; i++)
        r.slot[i] = SLOT_NONE;
    if ((rc = eng_feature_ctx_init(&r.fc, e, r.s, q->user_id ? &r.u : NULL, r.ctx_vec,
                                   r.text_vec, r.A)) != 0)
        goto oom;
    r.fc_ready = 1;

    char rec_id[24];
    eng_new_rec_id(rec_id);
    uint64_t seed = seed_of(rec_id);
    if ((rc = gather(&r, seed)) != 0)
        goto oom;
    uint64_t version = 0;
    if ((rc = score_all(&r, &version)) != 0)
        goto oom;
    /* rules.c draws exploration from the flagged candidates, or from the
     * whole catalog when none is flagged, which would ignore category=
     * and the context: the tail of the ranking stands in when the sample
     * found nothing new. */
    int flagged = 0;
    for (size_t j = 0; j < r.ncand && !flagged; j++)
        flagged = (r.cand[j].sources & ENG_SRC_EXPLORE) != 0;
    if (!flagged && r.ncand)
        for (size_t j = r.ncand > q->n ? q->n : r.ncand - 1; j < r.ncand; j++)
            r.cand[j].sources |= ENG_SRC_EXPLORE;
    size_t m = eng_rules_finish(e, r.s, &r.u, r.cand, r.ncand, q->n, seed, list);
    choose_reasons(&r, list, m);
    size_t at = out->len;
    if (answer(&r, rec_id, list, m, version, out)) {
        out->len = at; /* nothing half-written stays */
        if (out->data)
            out->data[at] = '\0';
        goto oom;
    }
    if (q->log_impression)
        eng_implog_add(e, rec_id, q->user_id, "recommend", r.s, list, m);
    rc = 0;
    goto out;
oom:
    rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory while recommending");
out:
    if (r.fc_ready)
        eng_feature_ctx_reset(&r.fc);
    eng_user_view_reset(&r.u);
    vt_arena_release(r.A, mark);
    eng_snapshot_put(r.s);
    return rc;
}
