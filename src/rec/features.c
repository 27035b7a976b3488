/*
 * features.c - the ranker's features of one (shopper, item) candidate.
 *
 * Everything that depends only on the request (the shopper's history as
 * catalog indexes with weights, their AR items, the folded-in iALS vector,
 * the median price they engage with) is computed once by
 * eng_feature_ctx_init; eng_features then costs a few dot products and a
 * pass over the history per candidate.
 *
 * Scaling (docs/recommendations.md has the table). Every feature lies in
 * [0, 1], or [-1, 1] for cosines, so that one learned weight means the
 * same thing whatever the catalog's size or the shopper's activity:
 *   sem_context, sem_session, sem_text   cosine of unit vectors, [-1, 1]
 *   cf_als        x_u . y_i of the folded-in user, clipped to [-1, 1]
 *   cf_knn        sum_h w_h sim(h, i) / sum_h w_h: the weighted mean of the
 *                 item-item similarities to the history, [0, 1]
 *   pop, trending log(1 + s) / log(1 + s_max), [0, 1]
 *   recency       exp(-age / 30 days) of the item's creation
 *   price_fit     min(p, m) / max(p, m), m the median price of the
 *                 history; 0 when either is unknown
 *   category      share of the history's weight in the item's category
 *   seen          1 when the shopper viewed, clicked, dwelled on or saw
 *                 the item in the showroom
 *   ar_self       1 - exp(-s), s the shopper's decayed AR weight on the
 *                 item in units of one fresh ar_place
 *   ar_near       max over the shopper's AR items a (not the item) of
 *                 max(0, (cos(item, a) - f) / (1 - f)) * min(1, s_a), f
 *                 the catalog's cosine of two unrelated items
 *                 (snapshot.c), so that only pieces really like the
 *                 placed one count as near it
 *   ar_rate       the item's share of shoppers who used AR on it
 *   manipulate    1 - exp(-n), n the decayed count of rotate and zoom
 *                 events on the item
 *
 * History weights are the configured event weights (weight.<type>),
 * decayed with a half-life of 7 days (CF reads what a shopper likes, which
 * lasts); AR weights decay with a half-life of one day (what was placed in
 * the room yesterday still says what the room needs, last month's less).
 *
 * Thread-safety: a context is read-only after init; eng_features may run
 * on many candidates at once.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "nn/kernels.h"
#include "rec/engine_int.h"

#define HIST_HALF_LIFE_S (7.0 * 86400.0)
#define AR_HALF_LIFE_S 86400.0
#define RECENCY_SCALE_MS (30.0 * 86400.0 * 1000.0)
/* Up to this many items the item-item scores of a request are gathered
 * in dense arrays (12 bytes an item); past it, per candidate. */
#define KNN_DENSE_MAX 2000000

const char *const eng_x_names[ENG_NX] = {
    "sem_context", "sem_session", "sem_text",  "cf_als",   "cf_knn", "pop",
    "trending",    "recency",     "price_fit", "category", "seen"};
const char *const eng_y_names[ENG_NY] = {"ar_self", "ar_near", "ar_rate", "manipulate"};

static int is_ar_type(int type)
{
    return type == VT_EV_AR_PLACE || type == VT_EV_TRYON || type == VT_EV_AR_DWELL ||
           type == VT_EV_AR_SESSION;
}

static int is_seen_type(int type)
{
    return type == VT_EV_VIEW || type == VT_EV_CLICK || type == VT_EV_DWELL ||
           type == VT_EV_SHOWROOM_VIEW;
}

static double decay(int64_t now_ms, int64_t ts_ms, double half_life_s)
{
    double age = (double)(now_ms - ts_ms) / 1000.0;
    if (age <= 0 || half_life_s <= 0)
        return 1.0;
    return exp2(-age / half_life_s);
}

/* The SIMD kernel: candidates x history x dimensions is the hot loop of
 * a request. */
static double dot(const float *a, const float *b, uint32_t dim)
{
    return vt_dot(a, b, dim);
}

static double clip(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* The item's embedding row, or NULL. */
static const float *item_vec(const struct eng_catalog *cat, int32_t i)
{
    if (!cat->dim || !cat->emb || !cat->has_emb || i < 0 || i >= cat->nitems || !cat->has_emb[i])
        return NULL;
    return cat->emb + (size_t)i * cat->dim;
}

/* The shopper's session vector when it is in the catalog's vector space. */
static const float *session_vec(const struct eng_feature_ctx *c)
{
    const struct eng_user_view *u = c->u;
    const struct eng_catalog *cat = c->s->cat;
    if (!u || !u->session || !cat->dim || u->dim != cat->dim ||
        strcmp(u->model_id, cat->model_id) != 0)
        return NULL;
    return u->session;
}

/* Add w to item's entry of a small (item, weight) list. */
static void list_add(int32_t *items, float *w, size_t *n, int32_t item, double add)
{
    for (size_t k = 0; k < *n; k++)
        if (items[k] == item) {
            w[k] += (float)add;
            return;
        }
    items[*n] = item;
    w[*n] = (float)add;
    (*n)++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* What a folded-in vector depends on, but for the slow decay of the
 * weights: the model (snapshot version and the model itself), the
 * history's items in order and the recent events they come from (their
 * types, values and times). FNV-1a. */
static uint64_t als_key(const struct eng_snapshot *s, const struct vt_ials *m,
                        const int32_t *items, const struct eng_user_view *u, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
#define MIX(x)                                                                               \
    do {                                                                                     \
        uint64_t v_ = (uint64_t)(x);                                                         \
        for (int b_ = 0; b_ < 8; b_++)                                                       \
            h = (h ^ ((v_ >> (8 * b_)) & 0xff)) * 1099511628211ULL;                          \
    } while (0)
    MIX(s->version);
    MIX((uintptr_t)m);
    MIX(n);
    for (size_t k = 0; k < n; k++)
        MIX(items[k]);
    MIX(u->nrecent);
    for (size_t k = 0; k < u->nrecent; k++) {
        MIX(u->recent[k].type);
        MIX(u->recent[k].ts_ms);
        double v = u->recent[k].value;
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        MIX(bits);
    }
#undef MIX
    return h;
}

static void *ctx_alloc(struct eng_feature_ctx *c, size_t n)
{
    return c->arena ? vt_arena_alloc(c->arena, n) : vt_malloc(n);
}

static void *ctx_calloc(struct eng_feature_ctx *c, size_t count, size_t size)
{
    return c->arena ? vt_arena_calloc(c->arena, count, size) : vt_calloc(count, size);
}

int eng_feature_ctx_init(struct eng_feature_ctx *c, struct vt_engine *e,
                         const struct eng_snapshot *s, const struct eng_user_view *u,
                         const float *context_vec, const float *text_vec,
                         struct vt_arena *arena)
{
    memset(c, 0, sizeof *c);
    c->arena = arena;
    c->s = s;
    c->u = u;
    c->context_vec = context_vec;
    c->text_vec = text_vec;
    c->price_median = NAN;
    c->now_ms = vt_time_now_ms();
    if (!u || !u->nrecent)
        return 0;

    const struct eng_catalog *cat = s->cat;
    size_t n = u->nrecent;
    c->hist_items = ctx_alloc(c, n * sizeof *c->hist_items);
    c->hist_w = ctx_alloc(c, n * sizeof *c->hist_w);
    c->ar_items = ctx_alloc(c, n * sizeof *c->ar_items);
    c->ar_w = ctx_alloc(c, n * sizeof *c->ar_w);
    if (!c->hist_items || !c->hist_w || !c->ar_items || !c->ar_w) {
        eng_feature_ctx_reset(c);
        return VT_ENOMEM;
    }
    double w_place = e ? e->params.weights.w[VT_EV_AR_PLACE] : 0;
    if (!(w_place > 0))
        w_place = 1;
    for (size_t k = 0; k < n; k++) {
        const struct eng_recent *r = &u->recent[k];
        if (!r->item_id)
            continue;
        int32_t i = vt_idmap_get(cat->ids, r->item_id);
        if (i < 0)
            continue;
        double w = e ? vt_event_weight(&e->params.weights, r->type, r->value) : 1.0;
        list_add(c->hist_items, c->hist_w, &c->nhist, i,
                 w * decay(c->now_ms, r->ts_ms, HIST_HALF_LIFE_S));
        if (is_ar_type(r->type) && w > 0)
            list_add(c->ar_items, c->ar_w, &c->nar, i,
                     w / w_place * decay(c->now_ms, r->ts_ms, AR_HALF_LIFE_S));
    }
    /* A pair whose events sum to zero or less (a dismiss after a view) is
     * not interest: drop it, as the interaction matrix does. */
    size_t m = 0;
    for (size_t k = 0; k < c->nhist; k++)
        if (c->hist_w[k] > 0) {
            c->hist_items[m] = c->hist_items[k];
            c->hist_w[m] = c->hist_w[k];
            m++;
        }
    c->nhist = m;

    /* The AR items by weight, largest first: ar_near stops at the first
     * whose weight cannot beat the best closeness found. */
    if (c->nar) {
        c->ar_order = ctx_alloc(c, c->nar * sizeof *c->ar_order);
        if (!c->ar_order) {
            eng_feature_ctx_reset(c);
            return VT_ENOMEM;
        }
        for (size_t k = 0; k < c->nar; k++) {
            size_t j = k;
            for (; j > 0 && c->ar_w[c->ar_order[j - 1]] < c->ar_w[k]; j--)
                c->ar_order[j] = c->ar_order[j - 1];
            c->ar_order[j] = (uint32_t)k;
        }
    }

    /* Every recent event's item as an index, once, not per candidate. */
    c->recent_items = ctx_alloc(c, n * sizeof *c->recent_items);
    if (!c->recent_items) {
        eng_feature_ctx_reset(c);
        return VT_ENOMEM;
    }
    for (size_t k = 0; k < n; k++)
        c->recent_items[k] =
            u->recent[k].item_id ? vt_idmap_get(cat->ids, u->recent[k].item_id) : -1;

    /* Item-item CF: each history item's neighbour list read once, so a
     * candidate's score is a lookup instead of a search of every list. */
    const struct vt_itemknn *knn = s->beh ? s->beh->knn : NULL;
    if (knn && c->nhist && s->beh_of && knn->nitems <= KNN_DENSE_MAX) {
        size_t nb = (size_t)knn->nitems;
        c->knn_sum = ctx_calloc(c, nb ? nb : 1, sizeof *c->knn_sum);
        c->knn_top = ctx_calloc(c, nb ? nb : 1, sizeof *c->knn_top);
        c->knn_who = ctx_alloc(c, (nb ? nb : 1) * sizeof *c->knn_who);
        if (!c->knn_sum || !c->knn_top || !c->knn_who) {
            eng_feature_ctx_reset(c);
            return VT_ENOMEM;
        }
        for (size_t k = 0; k < c->nhist; k++) {
            c->knn_total += c->hist_w[k];
            int32_t h = s->beh_of[c->hist_items[k]];
            if (h < 0 || h >= knn->nitems)
                continue;
            for (int64_t j = knn->ptr[h]; j < knn->ptr[h + 1]; j++) {
                int32_t to = knn->nb[j];
                float x = c->hist_w[k] * knn->sim[j];
                c->knn_sum[to] += x;
                if (x > c->knn_top[to]) {
                    c->knn_top[to] = x;
                    c->knn_who[to] = c->hist_items[k];
                }
            }
        }
    }

    /* The median price of the history's priced items. */
    double prices[ENG_RECENT_MAX];
    size_t np = 0;
    for (size_t k = 0; k < c->nhist && np < ENG_RECENT_MAX; k++) {
        const struct vt_item *it = &cat->items[c->hist_items[k]].rec;
        if (it->has_price && it->price > 0)
            prices[np++] = it->price;
    }
    if (np) {
        qsort(prices, np, sizeof *prices, cmp_double);
        c->price_median = np % 2 ? prices[np / 2] : (prices[np / 2 - 1] + prices[np / 2]) / 2;
    }

    /* The shopper folded into the iALS model from their history. */
    const struct vt_ials *ials = s->beh ? s->beh->ials : NULL;
    if (ials && c->nhist && s->beh_of) {
        int32_t bi[ENG_RECENT_MAX];
        float bw[ENG_RECENT_MAX];
        size_t nb = 0;
        for (size_t k = 0; k < c->nhist && nb < ENG_RECENT_MAX; k++) {
            int32_t b = s->beh_of[c->hist_items[k]];
            if (b >= 0 && b < ials->nitems) {
                bi[nb] = b;
                bw[nb] = c->hist_w[k];
                nb++;
            }
        }
        if (nb) {
            uint32_t f = (uint32_t)ials->factors;
            c->als_user = ctx_alloc(c, f * sizeof *c->als_user);
            if (!c->als_user) {
                eng_feature_ctx_reset(c);
                return VT_ENOMEM;
            }
            /* Folding in solves an f x f system; a shopper asking again
             * with the same history and model reuses the last answer. */
            uint64_t key = als_key(s, ials, bi, u, nb);
            if (u->als && u->als_f == f && u->als_key == key) {
                memcpy(c->als_user, u->als, f * sizeof *c->als_user);
            } else if (vt_ials_fold_in(ials, bi, bw, nb, c->als_user) == 0) {
                if (e && u->user_id)
                    eng_live_remember_als(e->live, u->user_id, key, c->als_user, f);
            } else {
                if (!c->arena)
                    vt_free(c->als_user);
                c->als_user = NULL;
            }
        }
    }
    return 0;
}

void eng_feature_ctx_reset(struct eng_feature_ctx *c)
{
    if (!c)
        return;
    if (!c->arena) { /* arena arrays go when the arena is released */
        vt_free(c->als_user);
        vt_free(c->hist_items);
        vt_free(c->hist_w);
        vt_free(c->ar_items);
        vt_free(c->ar_order);
        vt_free(c->ar_w);
        vt_free(c->recent_items);
        vt_free(c->knn_sum);
        vt_free(c->knn_top);
        vt_free(c->knn_who);
    }
    const struct eng_snapshot *s = c->s;
    memset(c, 0, sizeof *c);
    c->s = s;
    c->price_median = NAN;
}

/* sim(a, b) of the item-item model, behaviour indexes; 0 when b is not
 * among a's kept neighbours. */
static float knn_sim(const struct vt_itemknn *m, int32_t a, int32_t b)
{
    if (!m || a < 0 || b < 0 || a >= m->nitems)
        return 0;
    for (int64_t k = m->ptr[a]; k < m->ptr[a + 1]; k++)
        if (m->nb[k] == b)
            return m->sim[k];
    return 0;
}

static double pop_scaled(const struct vt_pop *p, int32_t b)
{
    if (!p || b < 0 || b >= p->nitems || p->nitems == 0)
        return 0;
    double top = p->score[p->order[0]];
    if (!(top > 0) || !(p->score[b] > 0))
        return 0;
    return clip(log1p(p->score[b]) / log1p(top), 0, 1);
}

/* The history entry with the largest item-item contribution to item b. */
static int32_t knn_best(const struct eng_feature_ctx *c, int32_t b, double *sum)
{
    const struct eng_snapshot *s = c->s;
    const struct vt_itemknn *knn = s->beh ? s->beh->knn : NULL;
    double best = 0, tot = 0;
    int32_t who = -1;
    *sum = 0;
    if (!knn || b < 0 || !s->beh_of)
        return -1;
    if (c->knn_sum) {
        if (b >= knn->nitems)
            return -1;
        *sum = c->knn_total > 0 ? c->knn_sum[b] / c->knn_total : 0;
        return c->knn_top[b] > 0 ? c->knn_who[b] : -1;
    }
    for (size_t k = 0; k < c->nhist; k++) {
        tot += c->hist_w[k];
        double x = c->hist_w[k] * knn_sim(knn, s->beh_of[c->hist_items[k]], b);
        *sum += x;
        if (x > best) {
            best = x;
            who = c->hist_items[k];
        }
    }
    if (tot > 0)
        *sum /= tot;
    return who;
}

/* A cosine rescaled so that what two unrelated items of this catalog
 * score (cat->cos_floor) is 0 and identical is 1. */
static double above_floor(const struct eng_catalog *cat, double cosine)
{
    double f = cat->cos_floor;
    return clip((cosine - f) / (1 - f), 0, 1);
}

/* The AR item (not i itself) with the largest closeness to i. */
static int32_t ar_best(const struct eng_feature_ctx *c, int32_t i, double *val)
{
    const float *v = item_vec(c->s->cat, i);
    double best = 0;
    int32_t who = -1;
    *val = 0;
    if (!v)
        return -1;
    for (size_t o = 0; o < c->nar; o++) {
        size_t k = c->ar_order[o];
        double w = clip(c->ar_w[k], 0, 1);
        if (w <= best)
            break; /* closeness is at most 1: no later item can win */
        int32_t a = c->ar_items[k];
        const float *va = item_vec(c->s->cat, a);
        if (a == i || !va)
            continue;
        double x = above_floor(c->s->cat, dot(v, va, c->s->cat->dim)) * w;
        if (x > best) {
            best = x;
            who = a;
        }
    }
    *val = best;
    return who;
}

/* The history item closest to i: by embedding, else the most weighted
 * one; restricted to i's category when same_cat; i itself only when
 * allow_self (the session vector leans towards what the shopper did with
 * the item itself). */
static int32_t hist_closest(const struct eng_feature_ctx *c, int32_t i, int same_cat,
                            int allow_self)
{
    const struct eng_catalog *cat = c->s->cat;
    const float *v = item_vec(cat, i);
    double best = -2, bestw = 0;
    int32_t who = -1;
    for (size_t k = 0; k < c->nhist; k++) {
        int32_t h = c->hist_items[k];
        if ((h == i && !allow_self) || (same_cat && cat->items[h].cat != cat->items[i].cat))
            continue;
        const float *vh = item_vec(cat, h);
        double x = v && vh ? dot(v, vh, cat->dim) : -1;
        if (x > best || (x == best && c->hist_w[k] > bestw)) {
            best = x;
            bestw = c->hist_w[k];
            who = h;
        }
    }
    return who;
}

void eng_features(const struct eng_feature_ctx *c, struct eng_cand *cand)
{
    const struct eng_snapshot *s = c->s;
    const struct eng_catalog *cat = s->cat;
    const struct eng_behaviour *beh = s->beh;
    int32_t i = cand->item;
    float *f = cand->f;
    memset(f, 0, sizeof cand->f);
    cand->reason_item = -1;
    if (i < 0 || i >= cat->nitems)
        return;
    const struct eng_item *it = &cat->items[i];
    const float *v = item_vec(cat, i);
    int32_t b = s->beh_of ? s->beh_of[i] : -1;

    if (v && c->context_vec)
        f[ENG_X_SEM_CONTEXT] = (float)clip(dot(v, c->context_vec, cat->dim), -1, 1);
    const float *sv = session_vec(c);
    if (v && sv)
        f[ENG_X_SEM_SESSION] = (float)clip(dot(v, sv, cat->dim), -1, 1);
    if (v && c->text_vec)
        f[ENG_X_SEM_TEXT] = (float)clip(dot(v, c->text_vec, cat->dim), -1, 1);

    const struct vt_ials *ials = beh ? beh->ials : NULL;
    if (c->als_user && ials && b >= 0 && b < ials->nitems)
        f[ENG_X_CF_ALS] = (float)clip(
            dot(c->als_user, ials->item_f + (size_t)b * (size_t)ials->factors,
                (uint32_t)ials->factors),
            -1, 1);
    double knn = 0;
    int32_t knn_item = c->nhist ? knn_best(c, b, &knn) : -1;
    f[ENG_X_CF_KNN] = (float)clip(knn, 0, 1);

    if (beh) {
        int known = b >= 0 && beh->items && b < vt_idmap_count(beh->items);
        f[ENG_X_POP] = beh->pop_feat ? (known ? beh->pop_feat[b] : 0)
                                     : (float)pop_scaled(beh->pop, b);
        f[ENG_X_TRENDING] = beh->trend_feat ? (known ? beh->trend_feat[b] : 0)
                                            : (float)pop_scaled(beh->trending, b);
        if (beh->ar_rate && b >= 0 && s->beh->items && b < vt_idmap_count(beh->items))
            f[ENG_Y_AR_RATE] = (float)clip(beh->ar_rate[b], 0, 1);
    }
    if (it->rec.created_ms > 0) {
        double age = (double)(c->now_ms - it->rec.created_ms);
        f[ENG_X_RECENCY] = (float)(age <= 0 ? 1.0 : exp(-age / RECENCY_SCALE_MS));
    }
    if (it->rec.has_price && it->rec.price > 0 && c->price_median > 0) {
        double p = it->rec.price, m = c->price_median;
        f[ENG_X_PRICE_FIT] = (float)(p < m ? p / m : m / p);
    }
    if (c->nhist && it->cat >= 0) {
        double same = 0, tot = 0;
        for (size_t k = 0; k < c->nhist; k++) {
            tot += c->hist_w[k];
            if (cat->items[c->hist_items[k]].cat == it->cat)
                same += c->hist_w[k];
        }
        f[ENG_X_CATEGORY] = tot > 0 ? (float)(same / tot) : 0;
    }

    /* What the shopper did with this very item. */
    double self = 0, manip = 0;
    for (size_t k = 0; k < c->nar; k++)
        if (c->ar_items[k] == i)
            self += c->ar_w[k];
    if (c->u) {
        for (size_t k = 0; k < c->u->nrecent; k++) {
            const struct eng_recent *r = &c->u->recent[k];
            if (c->recent_items ? c->recent_items[k] != i
                                : (!r->item_id || strcmp(r->item_id, it->rec.id) != 0))
                continue;
            if (is_seen_type(r->type))
                f[ENG_X_SEEN] = 1;
            if (r->type == VT_EV_ROTATE || r->type == VT_EV_ZOOM)
                manip += decay(c->now_ms, r->ts_ms, AR_HALF_LIFE_S);
        }
    }
    f[ENG_Y_AR_SELF] = (float)(1 - exp(-self));
    f[ENG_Y_MANIPULATE] = (float)(1 - exp(-manip));
    double near = 0;
    int32_t ar_item = c->nar ? ar_best(c, i, &near) : -1;
    f[ENG_Y_AR_NEAR] = (float)near;

    /* The default item a reason names: the strongest of the features that
     * name one (recommend.c asks eng_feature_item for the reason chosen). */
    if (near > 0 && near >= f[ENG_Y_AR_SELF] && near >= knn)
        cand->reason_item = ar_item;
    else if (f[ENG_Y_AR_SELF] > 0 && f[ENG_Y_AR_SELF] >= knn)
        cand->reason_item = i;
    else if (knn > 0)
        cand->reason_item = knn_item;
}

int32_t eng_feature_item(const struct eng_feature_ctx *c, const struct eng_cand *cand, int f)
{
    const struct eng_snapshot *s = c->s;
    int32_t i = cand->item;
    if (i < 0 || i >= s->cat->nitems)
        return -1;
    double val;
    switch (f) {
    case ENG_Y_AR_NEAR:
        return ar_best(c, i, &val);
    case ENG_Y_AR_SELF:
    case ENG_Y_MANIPULATE:
    case ENG_X_SEEN:
        return i;
    case ENG_X_CF_KNN: {
        int32_t who = knn_best(c, s->beh_of ? s->beh_of[i] : -1, &val);
        return who >= 0 ? who : hist_closest(c, i, 0, 0);
    }
    case ENG_X_SEM_SESSION:
    case ENG_X_CF_ALS:
        return hist_closest(c, i, 0, 1);
    case ENG_X_PRICE_FIT:
        return hist_closest(c, i, 0, 0);
    case ENG_X_CATEGORY:
        return hist_closest(c, i, 1, 0);
    default:
        return -1;
    }
}
