/*
 * cmd_eval.c - `vitrine eval`: offline evaluation of the recommenders on a
 * train/test split of a shop's events (docs/evaluation.md states the
 * protocol; reference/eval_reference.py computes the classic baselines on
 * the same rules with separate code).
 *
 * Protocol, as implemented here:
 *   - Items, train and test events are read in the import formats (JSON
 *     Lines directly, through the same validators as the import; CSV
 *     through the import itself into a temporary database). A record that
 *     fails validation, or an event about an item not in ITEMS, is left out
 *     and counted; the first few are printed as "FILE:LINE: reason".
 *   - Items are numbered in ascending byte order of their ids, so a tie in
 *     score goes to the smaller id (vt_rank_top breaks ties by index).
 *   - Interactions (what a model learns from): each train rating >= 4
 *     counts 1 (--interactions positive, the default) or every train
 *     rating does (all); other event types count their configured weight
 *     (weight.<type>). Repeated events of a pair add up.
 *   - Evaluated users: those with at least one positive in TEST, a
 *     positive being a rating >= 4 (or an event of another type with a
 *     positive weight) about an item they have no train event for. For each,
 *     the whole catalog is ranked except every item of their train events,
 *     whatever the rating. A user without train interactions gets the
 *     popular items from every model (cold start).
 *   - Hyper-parameters: each model's knobs are tuned by coordinate search
 *     (two passes over the knobs, each over its grid) for the best NDCG@k
 *     on a validation split carved from TRAIN alone by the data's own rule:
 *     a user's train events sorted by time (ties in file order); a user with
 *     fewer than 5 goes wholly to validation-train, otherwise the first
 *     max(1, floor(0.8 n)) do and the rest become validation-test. The
 *     chosen values are then refitted on the whole of TRAIN and measured
 *     once on TEST. --no-tune skips the search and uses each grid's default.
 *
 * Models (--model NAME or all): pop (train interactions counted, ties by
 * id: the reference's baseline), trending (time-decayed popularity as of
 * each user's last train event), itemknn, ials, content (needs the sentence
 * encoder: skipped with a note when it cannot be loaded) and hybrid (a
 * blend of the others; asking for it runs them too).
 *
 * Output on standard output: a header, a Markdown table with one row per
 * model (Recall@k, Recall@2k, NDCG@k, MAP@k, Coverage@k), the chosen
 * hyper-parameters, and always as the last line one JSON object with every
 * number (metrics also at 5, 10 and 20, validation scores of every
 * configuration tried, seconds). Standard error gets one line per
 * configuration tried on validation and per model measured, and a progress
 * bar for each final fit when it is a terminal.
 * --rankings PATH writes, per evaluated user in id order,
 * {"user_id": ..., "items": [top max(20, 2k) item ids]}; with several
 * models, one file per model: PATH with ".<model>" before its extension.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_eval_int.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/util.h"
#include "nn/item_embed.h"
#include "rec/content.h"
#include "rec/hybrid.h"
#include "rec/ials.h"
#include "rec/interactions.h"
#include "rec/itemknn.h"
#include "rec/metrics.h"
#include "rec/pop.h"
#include "store/import.h"
#include "text/pipeline.h"

#define BATCH_USERS 64             /* users scored at once */
#define IALS_SEED 20261122ULL
#define MAX_KNOBS 4
#define HYBRID_MAX_BYTES ((double)(2u << 30)) /* the hybrid's score matrices */
/* The data's split rule, for the validation slice. */
#define MIN_TO_SPLIT 5
#define TRAIN_NUM 8
#define TRAIN_DEN 10

/* ---- splits --------------------------------------------------------------------- */

struct split {
    const char *name;              /* "validation" or "test" */
    int32_t nusers, nitems;
    struct vt_triplet *trip;       /* training interactions */
    size_t ntrip;
    struct vt_interactions *ix;    /* built from trip */
    float *popular;                /* nitems: users per item, for users without history */
    int32_t *users;                /* evaluated users, by id */
    size_t neval;
    int64_t *pos_ptr, *seen_ptr;   /* per evaluated user */
    int32_t *pos, *seen;           /* ascending within a user */
    int64_t npos;
    size_t train_events, test_events, no_history;
};

static void split_reset(struct split *s)
{
    vt_free(s->trip);
    vt_interactions_free(s->ix);
    vt_free(s->popular);
    vt_free(s->users);
    vt_free(s->pos_ptr);
    vt_free(s->seen_ptr);
    vt_free(s->pos);
    vt_free(s->seen);
    memset(s, 0, sizeof *s);
}

struct rules {
    int positive_only;             /* --interactions positive */
    struct vt_event_weights weights;
};

/* The weight an event adds to its pair in training, 0 when it adds none. */
static float train_weight(const struct rules *r, const struct ev *e)
{
    if (e->type == VT_EV_RATING)
        return r->positive_only && e->value < POSITIVE_MIN ? 0.0f : 1.0f;
    return (float)vt_event_weight(&r->weights, e->type, e->value);
}

static int is_positive(const struct rules *r, const struct ev *e)
{
    if (e->type == VT_EV_RATING)
        return e->value >= POSITIVE_MIN;
    return vt_event_weight(&r->weights, e->type, e->value) > 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Per-user sorted, de-duplicated item lists from pairs (user, item). */
static int group(const struct ev *const *evs, size_t n, int32_t nusers, int64_t **ptr_out,
                 int32_t **items_out)
{
    int64_t *ptr = vt_calloc((size_t)nusers + 1, sizeof *ptr);
    int64_t *fill = vt_calloc((size_t)nusers + 1, sizeof *fill);
    int32_t *items = vt_malloc((n + 1) * sizeof *items);
    if (!ptr || !fill || !items) {
        vt_free(ptr);
        vt_free(fill);
        vt_free(items);
        return VT_ENOMEM;
    }
    for (size_t k = 0; k < n; k++)
        ptr[evs[k]->user + 1]++;
    for (int32_t u = 0; u < nusers; u++)
        ptr[u + 1] += ptr[u];
    for (size_t k = 0; k < n; k++)
        items[ptr[evs[k]->user] + fill[evs[k]->user]++] = evs[k]->item;
    int64_t kept = 0;
    for (int32_t u = 0; u < nusers; u++) {
        int64_t a = ptr[u], b = ptr[u + 1];
        qsort(items + a, (size_t)(b - a), sizeof *items, cmp_i32);
        ptr[u] = kept;
        for (int64_t k = a; k < b; k++)
            if (k == a || items[k] != items[k - 1])
                items[kept++] = items[k];
    }
    ptr[nusers] = kept;
    vt_free(fill);
    *ptr_out = ptr;
    *items_out = items;
    return 0;
}

static int has(const int32_t *a, int64_t lo, int64_t hi, int32_t x)
{
    int64_t end = hi;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < end && a[lo] == x;
}

static const struct data *cmp_data; /* for sorting users by id (qsort has no context) */

static int cmp_user_id(const void *a, const void *b)
{
    return strcmp(vt_idmap_id(cmp_data->users, *(const int32_t *)a),
                  vt_idmap_id(cmp_data->users, *(const int32_t *)b));
}

static int split_build(const struct data *d, const struct rules *r, const struct ev *train,
                       size_t ntrain, const struct ev *test, size_t ntest, const char *name,
                       struct split *s)
{
    const struct ev **ptrs = NULL;
    int64_t *tr_ptr = NULL, *te_ptr = NULL;
    int32_t *tr_items = NULL, *te_items = NULL;
    int rc = VT_ENOMEM;

    memset(s, 0, sizeof *s);
    s->name = name;
    s->nusers = vt_idmap_count(d->users);
    s->nitems = vt_idmap_count(d->items);
    s->train_events = ntrain;
    s->test_events = ntest;
    s->trip = vt_malloc((ntrain + 1) * sizeof *s->trip);
    ptrs = vt_malloc((ntrain + ntest + 1) * sizeof *ptrs);
    if (!s->trip || !ptrs)
        goto out;
    for (size_t k = 0; k < ntrain; k++) {
        float w = train_weight(r, &train[k]);
        if (w != 0)
            s->trip[s->ntrip++] = (struct vt_triplet){train[k].user, train[k].item, w,
                                                      train[k].ts};
    }
    if ((rc = vt_interactions_build(s->nusers, s->nitems, s->trip, s->ntrip, NULL, &s->ix)))
        goto out;
    rc = VT_ENOMEM;
    s->popular = vt_malloc(((size_t)s->nitems + 1) * sizeof *s->popular);
    if (!s->popular)
        goto out;
    for (int32_t i = 0; i < s->nitems; i++)
        s->popular[i] = (float)vt_interactions_item_count(s->ix, i);
    /* Excluded: every train item; relevant: test positives not among them. */
    for (size_t k = 0; k < ntrain; k++)
        ptrs[k] = &train[k];
    if (group(ptrs, ntrain, s->nusers, &tr_ptr, &tr_items))
        goto out;
    size_t np = 0;
    for (size_t k = 0; k < ntest; k++)
        if (is_positive(r, &test[k]) &&
            !has(tr_items, tr_ptr[test[k].user], tr_ptr[test[k].user + 1], test[k].item))
            ptrs[np++] = &test[k];
    if (group(ptrs, np, s->nusers, &te_ptr, &te_items))
        goto out;

    s->users = vt_malloc(((size_t)s->nusers + 1) * sizeof *s->users);
    if (!s->users)
        goto out;
    for (int32_t u = 0; u < s->nusers; u++)
        if (te_ptr[u + 1] > te_ptr[u])
            s->users[s->neval++] = u;
    cmp_data = d;
    qsort(s->users, s->neval, sizeof *s->users, cmp_user_id);
    s->pos_ptr = vt_malloc((s->neval + 1) * sizeof *s->pos_ptr);
    s->seen_ptr = vt_malloc((s->neval + 1) * sizeof *s->seen_ptr);
    s->pos = vt_malloc(((size_t)te_ptr[s->nusers] + 1) * sizeof *s->pos);
    s->seen = vt_malloc(((size_t)tr_ptr[s->nusers] + 1) * sizeof *s->seen);
    if (!s->pos_ptr || !s->seen_ptr || !s->pos || !s->seen)
        goto out;
    s->pos_ptr[0] = s->seen_ptr[0] = 0;
    for (size_t k = 0; k < s->neval; k++) {
        int32_t u = s->users[k];
        int64_t np_u = te_ptr[u + 1] - te_ptr[u], ns_u = tr_ptr[u + 1] - tr_ptr[u];
        memcpy(s->pos + s->pos_ptr[k], te_items + te_ptr[u], (size_t)np_u * sizeof *s->pos);
        memcpy(s->seen + s->seen_ptr[k], tr_items + tr_ptr[u], (size_t)ns_u * sizeof *s->seen);
        s->pos_ptr[k + 1] = s->pos_ptr[k] + np_u;
        s->seen_ptr[k + 1] = s->seen_ptr[k] + ns_u;
        s->no_history += vt_interactions_user_count(s->ix, u) == 0;
    }
    s->npos = s->pos_ptr[s->neval];
    rc = 0;
out:
    vt_free(ptrs);
    vt_free(tr_ptr);
    vt_free(te_ptr);
    vt_free(tr_items);
    vt_free(te_items);
    if (rc)
        split_reset(s);
    return rc;
}

static int cmp_ev_user_time(const void *a, const void *b)
{
    const struct ev *x = *(const struct ev *const *)a, *y = *(const struct ev *const *)b;
    if (x->user != y->user)
        return (x->user > y->user) - (x->user < y->user);
    if (x->ts != y->ts)
        return (x->ts > y->ts) - (x->ts < y->ts);
    return (x > y) - (x < y); /* file order */
}

/* The validation slice of train (the rule in the file's opening comment). */
static int carve_validation(const struct evlist *train, struct evlist *vtrain,
                            struct evlist *vtest)
{
    const struct ev **p = vt_malloc((train->n + 1) * sizeof *p);
    if (!p)
        return VT_ENOMEM;
    for (size_t k = 0; k < train->n; k++)
        p[k] = &train->v[k];
    qsort(p, train->n, sizeof *p, cmp_ev_user_time);
    int rc = 0;
    for (size_t a = 0; a < train->n && !rc;) {
        size_t b = a;
        while (b < train->n && p[b]->user == p[a]->user)
            b++;
        size_t n = b - a, cut = n < MIN_TO_SPLIT ? n : n * TRAIN_NUM / TRAIN_DEN;
        if (cut < 1)
            cut = 1;
        for (size_t k = a; k < b && !rc; k++)
            rc = eval_evlist_push(k - a < cut ? vtrain : vtest, p[k]);
        a = b;
    }
    vt_free(p);
    return rc;
}

/* ---- models ------------------------------------------------------------------------ */

enum { M_POP, M_TRENDING, M_ITEMKNN, M_IALS, M_CONTENT, M_HYBRID, M_COUNT };

struct knob {
    const char *name;
    double grid[12];
    int n;
    int start; /* index of the default */
};

struct model_def {
    const char *name;
    int nknobs;
    struct knob knobs[MAX_KNOBS];
};

/* The grids searched on validation. `start` (the --no-tune default and the
 * search's starting point) is the value the search chose on MovieLens
 * (docs/evaluation.md). neighbours = 100000 means every co-occurring item. */
static const struct model_def defs[M_COUNT] = {
    [M_POP] = {"pop", 0, {{0}}},
    [M_TRENDING] = {"trending", 1, {{"half_life_days", {1, 3, 7, 14, 30, 90, 365, 1095}, 8, 6}}},
    [M_ITEMKNN] = {"itemknn", 4,
                   {{"neighbours", {20, 50, 100, 200, 500, 1000, 3000, 100000}, 8, 4},
                    {"shrink", {0, 2, 5, 10, 20, 50}, 6, 1},
                    {"bm25", {0, 1}, 2, 1},
                    {"history_half_life_days", {0, 7, 30, 90, 365, 1095}, 6, 4}}},
    [M_IALS] = {"ials", 3,
                {{"factors", {32, 64, 128, 192, 256}, 5, 2},
                 {"lambda", {3, 10, 15, 20, 25, 30, 50, 100}, 8, 3},
                 {"alpha", {0.5, 1, 2, 3, 4, 5, 10, 30}, 8, 2}}},
    [M_CONTENT] = {"content", 1,
                   {{"history_half_life_days", {0, 7, 30, 90, 365, 1095}, 6, 0}}},
    [M_HYBRID] = {"hybrid", 3,
                  {{"w_itemknn", {0, 0.25, 0.5, 1, 2}, 5, 1},
                   {"w_trending", {0, 0.05, 0.1, 0.2, 0.4}, 5, 1},
                   {"w_content", {0, 0.4, 0.8, 1.6, 3.2}, 5, 3}}},
};

#define IALS_ITERATIONS 15

struct ctx {
    const struct data *d;
    const float *item_vec;  /* nitems x dim, or NULL: no content model */
    size_t dim;
    const uint8_t *has_vec;
};

/* A model fitted on one split. */
struct fitted {
    int kind;
    double p[MAX_KNOBS];
    const struct split *s;
    struct vt_pop *pop;
    struct vt_itemknn *knn;
    struct vt_ials *ials;
    struct vt_content *content;
    /* hybrid: the components' scores for every evaluated user */
    float *cache[4];
    double fit_seconds, secs_per_iter;
};

static void fitted_reset(struct fitted *f)
{
    vt_pop_free(f->pop);
    vt_itemknn_free(f->knn);
    vt_ials_free(f->ials);
    vt_content_free(f->content);
    for (int k = 0; k < 4; k++)
        vt_free(f->cache[k]);
    memset(f, 0, sizeof *f);
}

static int score(const struct fitted *f, const struct ctx *c, size_t first, size_t n,
                 float *out);

static int fit(const struct ctx *c, int kind, const double *p, const struct split *s,
               const struct fitted *parts, int quiet, struct fitted *f)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->s = s;
    for (int k = 0; k < defs[kind].nknobs; k++)
        f->p[k] = p[k];
    int64_t t0 = vt_time_mono_ns();
    int rc = 0;
    char label[64];
    snprintf(label, sizeof label, "%s on %s", defs[kind].name, s->name);
    switch (kind) {
    case M_POP:
    case M_TRENDING:
        rc = vt_pop_fit(s->ix, NULL, 0, NULL, &f->pop);
        break;
    case M_ITEMKNN: {
        struct vt_itemknn_options o = {.neighbours = (int32_t)p[0], .shrink = (float)p[1],
                                       .bm25 = p[2] != 0, .progress = quiet ? NULL : label};
        rc = vt_itemknn_fit(s->ix, &o, &f->knn);
        break;
    }
    case M_IALS: {
        struct vt_ials_options o = {.factors = (int32_t)p[0], .lambda = (float)p[1],
                                    .alpha = (float)p[2], .iterations = IALS_ITERATIONS,
                                    .seed = IALS_SEED,
                                    .progress = quiet ? NULL : label};
        rc = vt_ials_fit(s->ix, &o, &f->ials);
        if (rc == 0) {
            double sum = 0;
            for (int it = 0; it < f->ials->iterations; it++)
                sum += f->ials->iter_seconds[it];
            f->secs_per_iter = sum / f->ials->iterations;
        }
        break;
    }
    case M_CONTENT:
        rc = vt_content_new(c->item_vec, s->nitems, c->dim, c->has_vec, &f->content);
        break;
    case M_HYBRID: {
        /* parts: ials, itemknn, trending, content (kind 0 when absent). */
        size_t per = (size_t)s->nitems * s->neval;
        for (int k = 0; k < 4 && rc == 0; k++) {
            if (!parts[k].s)
                continue;
            f->cache[k] = vt_malloc((per + 1) * sizeof(float));
            if (!f->cache[k]) {
                rc = VT_ENOMEM;
                break;
            }
            for (size_t u = 0; u < s->neval && rc == 0; u += BATCH_USERS) {
                size_t nb = s->neval - u < BATCH_USERS ? s->neval - u : BATCH_USERS;
                rc = score(&parts[k], c, u, nb, f->cache[k] + u * (size_t)s->nitems);
            }
        }
        break;
    }
    }
    f->fit_seconds = (double)(vt_time_mono_ns() - t0) / 1e9;
    if (rc)
        fitted_reset(f);
    return rc;
}

/* Scores of the evaluated users first .. first + n - 1 (out: n x nitems). */
static int score(const struct fitted *f, const struct ctx *c, size_t first, size_t n,
                 float *out)
{
    const struct split *s = f->s;
    size_t ni = (size_t)s->nitems;
    int rc = 0;
    float *w = NULL;
    if (f->kind == M_ITEMKNN || f->kind == M_CONTENT) {
        int64_t most = 1;
        for (size_t k = 0; k < n; k++) {
            int64_t cnt = vt_interactions_user_count(s->ix, s->users[first + k]);
            if (cnt > most)
                most = cnt;
        }
        w = vt_malloc((size_t)most * sizeof *w);
        if (!w)
            return VT_ENOMEM;
    }
    switch (f->kind) {
    case M_POP:
        for (size_t k = 0; k < n; k++)
            memcpy(out + k * ni, f->pop->score, ni * sizeof *out);
        break;
    case M_TRENDING:
        for (size_t k = 0; k < n; k++) {
            int32_t u = s->users[first + k];
            struct vt_pop_options o = {.half_life_days = f->p[0]};
            int64_t now = s->ix->user_last_ms[u];
            if (now == INT64_MIN)
                now = s->ix->last_ms;
            vt_pop_scores_at(s->ix, &o, now, out + k * ni);
        }
        break;
    case M_ITEMKNN:
        for (size_t k = 0; k < n; k++) {
            const int32_t *items;
            size_t m = vt_interactions_history(s->ix, s->users[first + k], f->p[3], &items, w);
            vt_itemknn_score(f->knn, items, w, m, out + k * ni);
        }
        break;
    case M_IALS:
        rc = vt_ials_score_users(f->ials, s->users + first, n, out);
        break;
    case M_CONTENT: {
        float *profile = vt_malloc(c->dim * sizeof *profile);
        if (!profile) {
            rc = VT_ENOMEM;
            break;
        }
        for (size_t k = 0; k < n; k++) {
            const int32_t *items;
            size_t m = vt_interactions_history(s->ix, s->users[first + k], f->p[0], &items, w);
            vt_content_profile(f->content, items, w, m, profile);
            vt_content_score(f->content, profile, out + k * ni);
        }
        vt_free(profile);
        break;
    }
    case M_HYBRID: {
        float wts[4] = {1, (float)f->p[0], (float)f->p[1], (float)f->p[2]};
        for (size_t k = 0; k < n; k++) {
            size_t e = first + k;
            const float *src[4];
            float ws[4];
            size_t ns = 0;
            for (int q = 0; q < 4; q++) {
                if (!f->cache[q])
                    continue;
                src[ns] = f->cache[q] + e * ni;
                ws[ns++] = wts[q];
            }
            vt_hybrid_blend(src, ws, ns, s->nitems, s->seen + s->seen_ptr[e],
                            (size_t)(s->seen_ptr[e + 1] - s->seen_ptr[e]), out + k * ni);
        }
        break;
    }
    }
    /* A user the training matrix knows nothing about gets the popular items
     * from every model (cold start), rather than an arbitrary order. */
    for (size_t k = 0; rc == 0 && k < n; k++)
        if (vt_interactions_user_count(s->ix, s->users[first + k]) == 0 && f->kind != M_TRENDING)
            memcpy(out + k * ni, s->popular, ni * sizeof *out);
    vt_free(w);
    return rc;
}

/* ---- evaluation --------------------------------------------------------------------- */

/* The measures at 5, 10, 20, k and 2k. */
static int result_init(struct vt_metrics_acc *r, size_t k, int32_t nitems)
{
    size_t cuts[5] = {5, 10, 20, k, 2 * k};
    return vt_metrics_acc_init(r, cuts, 5, nitems);
}

static int cut_index(const struct vt_metrics_acc *r, size_t k)
{
    int q = vt_metrics_acc_cut(r, k);
    return q < 0 ? 0 : q;
}

/* Rank every evaluated user and average the measures; rankings (may be
 * NULL) gets their lists. */
static int evaluate(const struct fitted *f, const struct ctx *c, size_t k, FILE *rankings,
                    struct vt_metrics_acc *r)
{
    const struct split *s = f->s;
    size_t ni = (size_t)s->nitems, depth = 2 * k > 20 ? 2 * k : 20;
    float *buf = vt_malloc(BATCH_USERS * ni * sizeof *buf);
    int32_t *top = vt_malloc(depth * sizeof *top);
    int rc = result_init(r, k, s->nitems);
    if (rc || !buf || !top) {
        rc = VT_ENOMEM;
        goto out;
    }
    for (size_t first = 0; first < s->neval; first += BATCH_USERS) {
        size_t n = s->neval - first < BATCH_USERS ? s->neval - first : BATCH_USERS;
        if ((rc = score(f, c, first, n, buf)))
            goto out;
        for (size_t q = 0; q < n; q++) {
            size_t e = first + q, got;
            if ((rc = vt_rank_top(buf + q * ni, s->nitems, s->seen + s->seen_ptr[e],
                                  (size_t)(s->seen_ptr[e + 1] - s->seen_ptr[e]), depth, top,
                                  &got)))
                goto out;
            vt_metrics_acc_add(r, top, got, s->pos + s->pos_ptr[e],
                               (size_t)(s->pos_ptr[e + 1] - s->pos_ptr[e]));
            if (rankings) {
                json_t *items = json_array();
                for (size_t t = 0; items && t < got; t++)
                    json_array_append_new(items,
                                          json_string(vt_idmap_id(c->d->items, top[t])));
                json_t *line = json_pack("{s:s,s:o}", "user_id",
                                         vt_idmap_id(c->d->users, s->users[e]), "items",
                                         items);
                char *txt = line ? json_dumps(line, JSON_COMPACT) : NULL;
                json_decref(line);
                if (!txt) {
                    rc = VT_ENOMEM;
                    goto out;
                }
                fprintf(rankings, "%s\n", txt);
                vt_free(txt);
            }
        }
    }
    vt_metrics_acc_finish(r);
out:
    vt_metrics_acc_reset(r);
    vt_free(buf);
    vt_free(top);
    return rc;
}

/* ---- tuning --------------------------------------------------------------------------- */

struct trial {
    int idx[MAX_KNOBS];
    double ndcg, seconds;
};

struct tuning {
    struct trial *t;
    size_t n, cap;
    int best[MAX_KNOBS];
    double best_ndcg;
};

static void params_of(int kind, const int *idx, double *p)
{
    for (int k = 0; k < defs[kind].nknobs; k++)
        p[k] = defs[kind].knobs[k].grid[idx[k]];
}

static void describe(int kind, const double *p, char *out, size_t outsz)
{
    size_t used = 0;
    out[0] = '\0';
    for (int k = 0; k < defs[kind].nknobs && used < outsz; k++)
        used += (size_t)snprintf(out + used, outsz - used, "%s%s=%g", k ? " " : "",
                                 defs[kind].knobs[k].name, p[k]);
    if (kind == M_IALS && used < outsz)
        snprintf(out + used, outsz - used, " iterations=%d", IALS_ITERATIONS);
}

/* Coordinate search on the validation split; t->best gets the choice. */
static int tune(const struct ctx *c, int kind, const struct split *v, const struct fitted *parts,
                size_t k, struct tuning *t)
{
    const struct model_def *def = &defs[kind];
    memset(t, 0, sizeof *t);
    for (int q = 0; q < def->nknobs; q++)
        t->best[q] = def->knobs[q].start;
    t->best_ndcg = -1;
    int rc = 0;
    /* The hybrid's parts are scored once; its trials only reweigh them. */
    struct fitted shared;
    int have_shared = 0;
    memset(&shared, 0, sizeof shared);
    if (kind == M_HYBRID) {
        double p[MAX_KNOBS];
        params_of(kind, t->best, p);
        if ((rc = fit(c, kind, p, v, parts, 1, &shared)))
            return rc;
        have_shared = 1;
    }
    for (int pass = 0; pass < (def->nknobs ? 2 : 1) && rc == 0; pass++) {
        for (int q = 0; q < (def->nknobs ? def->nknobs : 1) && rc == 0; q++) {
            int n = def->nknobs ? def->knobs[q].n : 1;
            int cur[MAX_KNOBS];
            memcpy(cur, t->best, sizeof cur);
            for (int g = 0; g < n && rc == 0; g++) {
                if (def->nknobs)
                    cur[q] = g;
                int done = 0;
                for (size_t z = 0; z < t->n && !done; z++)
                    done = memcmp(t->t[z].idx, cur, sizeof cur) == 0;
                if (done)
                    continue;
                double p[MAX_KNOBS];
                params_of(kind, cur, p);
                struct fitted f;
                struct vt_metrics_acc r;
                int64_t t0 = vt_time_mono_ns();
                if (have_shared) {
                    f = shared;
                    memcpy(f.p, p, sizeof f.p);
                    rc = evaluate(&f, c, k, NULL, &r);
                } else {
                    rc = fit(c, kind, p, v, parts, 1, &f);
                    if (rc == 0)
                        rc = evaluate(&f, c, k, NULL, &r);
                    fitted_reset(&f);
                }
                if (rc)
                    break;
                if (t->n == t->cap) {
                    size_t cap = t->cap ? t->cap * 2 : 32;
                    struct trial *nt = vt_realloc(t->t, cap * sizeof *nt);
                    if (!nt) {
                        rc = VT_ENOMEM;
                        break;
                    }
                    t->t = nt;
                    t->cap = cap;
                }
                struct trial *tr = &t->t[t->n++];
                memcpy(tr->idx, cur, sizeof cur);
                tr->ndcg = r.ndcg[cut_index(&r, k)];
                tr->seconds = (double)(vt_time_mono_ns() - t0) / 1e9;
                char desc[256];
                describe(kind, p, desc, sizeof desc);
                fprintf(stderr, "  validation %-9s %-60s ndcg@%zu %.4f (%.1f s)\n", def->name,
                        desc, k, tr->ndcg, tr->seconds);
                if (tr->ndcg > t->best_ndcg) {
                    t->best_ndcg = tr->ndcg;
                    memcpy(t->best, cur, sizeof cur);
                }
            }
        }
    }
    fitted_reset(&shared);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------ */

struct row {
    int kind, done;
    double p[MAX_KNOBS];
    struct vt_metrics_acc test;
    double valid_ndcg, fit_seconds, secs_per_iter;
    int tuned;
    struct tuning tuning;
    const char *skipped; /* why the model did not run, or NULL */
};

static json_t *metrics_json(const struct vt_metrics_acc *r, size_t k)
{
    json_t *o = json_object();
    char key[32];
    for (int a = 0; o && a < r->ncuts; a++) {
        size_t cut = r->cuts[a];
        snprintf(key, sizeof key, "recall@%zu", cut);
        json_object_set_new(o, key, json_real(r->recall[a]));
        snprintf(key, sizeof key, "ndcg@%zu", cut);
        json_object_set_new(o, key, json_real(r->ndcg[a]));
        if (cut == k || cut == 10) {
            snprintf(key, sizeof key, "map@%zu", cut);
            json_object_set_new(o, key, json_real(r->map[a]));
            snprintf(key, sizeof key, "coverage@%zu", cut);
            json_object_set_new(o, key, json_real(r->coverage[a]));
        }
    }
    return o;
}

static json_t *params_json(int kind, const double *p)
{
    json_t *o = json_object();
    for (int k = 0; o && k < defs[kind].nknobs; k++)
        json_object_set_new(o, defs[kind].knobs[k].name,
                            p[k] == floor(p[k]) && fabs(p[k]) < 1e15 ? json_integer((json_int_t)p[k])
                                                                     : json_real(p[k]));
    if (o && kind == M_IALS) {
        json_object_set_new(o, "iterations", json_integer(IALS_ITERATIONS));
        json_object_set_new(o, "cg_steps", json_integer(3));
        json_object_set_new(o, "seed", json_integer((json_int_t)IALS_SEED));
    }
    return o;
}

static void print_table(const struct row *rows, size_t k)
{
    printf("\n| model | recall@%zu | recall@%zu | ndcg@%zu | map@%zu | coverage@%zu |\n", k,
           2 * k, k, k, k);
    printf("|---|---:|---:|---:|---:|---:|\n");
    for (int m = 0; m < M_COUNT; m++) {
        const struct row *w = &rows[m];
        if (!w->done)
            continue;
        const struct vt_metrics_acc *r = &w->test;
        int a = cut_index(r, k), b = cut_index(r, 2 * k);
        printf("| %s | %.4f | %.4f | %.4f | %.4f | %.4f |\n", defs[m].name, r->recall[a],
               r->recall[b], r->ndcg[a], r->map[a], r->coverage[a]);
    }
}

/* ---- content vectors ------------------------------------------------------------------------ */

/* Embed every item's text; a NULL *vec with a reason when the encoder
 * cannot be loaded. */
static int embed_items(struct cli *c, const struct data *d, float **vec, size_t *dim,
                       uint8_t **has, char *why, size_t whysz)
{
    struct vt_textenc *te = NULL;
    struct vt_textenc_config cfg = {vt_conf_str(c->conf, "model"),
                                    vt_conf_str(c->conf, "text_dir"),
                                    vt_conf_int(c->conf, "bridge") != 0};
    struct vt_error e;
    struct vt_encoder_info info;
    int32_t n = vt_idmap_count(d->items);
    int rc = 0;
    *vec = NULL;
    *has = NULL;
    vt_error_clear(&e);
    if (vt_textenc_new(&cfg, &te)) {
        snprintf(why, whysz, "no sentence encoder configured");
        return 0;
    }
    if (vt_textenc_info(te, &info, &e)) {
        snprintf(why, whysz, "the sentence encoder at %s cannot be loaded (%s)", cfg.model,
                 e.message[0] ? e.message : vt_strerror(e.code));
        vt_textenc_free(te);
        return 0;
    }
    *dim = info.dim;
    *vec = vt_calloc((size_t)n * info.dim + 1, sizeof **vec);
    *has = vt_calloc((size_t)n + 1, 1);
    if (!*vec || !*has) {
        rc = VT_ENOMEM;
        goto out;
    }
    struct vt_progress bar;
    vt_progress_start(&bar, "embedding items", n);
    const char *texts[32];
    int32_t which[32];
    int nb = 0;
    for (int32_t i = 0; i <= n; i++) {
        if (i < n && d->item_text[i]) {
            texts[nb] = d->item_text[i];
            which[nb++] = i;
        }
        if (nb == 32 || (i == n && nb > 0)) {
            float *out = vt_malloc((size_t)nb * info.dim * sizeof *out);
            if (!out) {
                rc = VT_ENOMEM;
                break;
            }
            if (vt_textenc_embed(te, texts, (size_t)nb, out, NULL, &e) == 0) {
                for (int q = 0; q < nb; q++) {
                    memcpy(*vec + (size_t)which[q] * info.dim, out + (size_t)q * info.dim,
                           info.dim * sizeof *out);
                    (*has)[which[q]] = 1;
                }
            }
            vt_free(out);
            nb = 0;
            vt_progress_update(&bar, i);
        }
    }
    vt_progress_finish(&bar);
out:
    vt_textenc_free(te);
    if (rc) {
        vt_free(*vec);
        vt_free(*has);
        *vec = NULL;
        *has = NULL;
    }
    return rc;
}

/* ---- the command --------------------------------------------------------------------------- */

static int open_rankings(const char *path, int several, const char *model, FILE **out)
{
    char name[1024];
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!several)
        snprintf(name, sizeof name, "%s", path);
    else if (dot && (!slash || dot > slash))
        snprintf(name, sizeof name, "%.*s.%s%s", (int)(dot - path), path, model, dot);
    else
        snprintf(name, sizeof name, "%s.%s", path, model);
    *out = fopen(name, "w");
    if (!*out)
        return cli_fail("%s: %s", name, strerror(errno));
    return CLI_OK;
}

static int parse_models(struct cli *c, const char *spec, int *want)
{
    memset(want, 0, M_COUNT * sizeof *want);
    if (!spec || strcmp(spec, "all") == 0) {
        for (int m = 0; m < M_COUNT; m++)
            want[m] = 1;
        return CLI_OK;
    }
    /* A comma-separated list of names. */
    const char *p = spec;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (int m = 0; m < M_COUNT; m++)
            if (strlen(defs[m].name) == n && strncmp(defs[m].name, p, n) == 0)
                want[m] = found = 1;
        if (!found)
            return cli_usage_error(c, "--model: unknown model '%.*s' (pop, trending, itemknn, "
                                      "ials, content, hybrid or all)",
                                   (int)n, p);
        p += n;
        if (*p == ',')
            p++;
    }
    if (want[M_HYBRID])
        want[M_ITEMKNN] = want[M_IALS] = want[M_TRENDING] = want[M_CONTENT] = 1;
    return CLI_OK;
}

int cmd_eval(struct cli *c)
{
    const char *paths[3] = {cli_opt(c, "--items"), cli_opt(c, "--train"), cli_opt(c, "--test")};
    const char *ks = cli_opt(c, "--k"), *rank_path = cli_opt(c, "--rankings");
    const char *inter = cli_opt(c, "--interactions");
    int no_tune = cli_opt(c, "--no-tune") != NULL;
    struct data d;
    struct split test, valid;
    struct rules rules;
    struct row rows[M_COUNT];
    struct fitted vparts[M_COUNT], tparts[M_COUNT];
    struct evlist vtrain = {0}, vtest = {0};
    float *item_vec = NULL;
    uint8_t *has_vec = NULL;
    size_t dim = 0, k = 10;
    int want[M_COUNT], rc;
    char why[512] = "", why_hybrid[128] = "";
    int64_t started = vt_time_mono_ns();

    memset(&d, 0, sizeof d);
    memset(&test, 0, sizeof test);
    memset(&valid, 0, sizeof valid);
    memset(rows, 0, sizeof rows);
    memset(vparts, 0, sizeof vparts);
    memset(tparts, 0, sizeof tparts);
    for (int q = 0; q < 3; q++)
        if (!paths[q] || !*paths[q])
            return cli_usage_error(c, "--items, --train and --test are required");
    if (ks && (cli_parse_size(ks, &k) || k < 1 || k > 1000))
        return cli_usage_error(c, "--k must be a whole number from 1 to 1000");
    memset(&rules, 0, sizeof rules);
    rules.positive_only = 1;
    if (inter && strcmp(inter, "all") == 0)
        rules.positive_only = 0;
    else if (inter && strcmp(inter, "positive") != 0)
        return cli_usage_error(c, "--interactions must be all or positive");
    vt_event_weights_from_conf(c->conf, &rules.weights);
    if ((rc = parse_models(c, cli_opt(c, "--model"), want)))
        return rc;

    if ((rc = eval_read_data(c, paths, &d)))
        goto out;
    if (split_build(&d, &rules, d.train.v, d.train.n, d.test.v, d.test.n, "test", &test)) {
        rc = cli_fail("out of memory");
        goto out;
    }
    if (test.neval == 0) {
        rc = cli_fail("%s: no user has a positive test event (a rating >= 4) about an item "
                      "outside their training events: nothing to evaluate",
                      paths[2]);
        goto out;
    }
    if (!no_tune) {
        if (carve_validation(&d.train, &vtrain, &vtest) ||
            split_build(&d, &rules, vtrain.v, vtrain.n, vtest.v, vtest.n, "validation",
                        &valid)) {
            rc = cli_fail("out of memory");
            goto out;
        }
        if (valid.neval == 0)
            no_tune = 1; /* nothing to tune on: defaults, said below */
    }
    printf("vitrine eval: %d items; train %zu events, %zu interactions, %d users; test %zu "
           "events\n",
           test.nitems, test.train_events, (size_t)test.ix->nnz, test.nusers, test.test_events);
    printf("users evaluated %zu (with a positive test event), relevant items %lld, users "
           "without train interactions %zu, records left out %lld\n",
           test.neval, (long long)test.npos, test.no_history, (long long)d.rejected);
    if (!no_tune)
        printf("validation (carved from train): %zu + %zu events, %zu users evaluated\n",
               vtrain.n, vtest.n, valid.neval);
    else
        printf("no tuning: every model uses its default hyper-parameters\n");
    fflush(stdout);

    if (want[M_CONTENT]) {
        if (embed_items(c, &d, &item_vec, &dim, &has_vec, why, sizeof why)) {
            rc = cli_fail("out of memory");
            goto out;
        }
        if (!item_vec) {
            want[M_CONTENT] = 0;
            rows[M_CONTENT].skipped = why;
            fprintf(stderr, "content: skipped: %s\n", why);
        }
    }
    if (want[M_HYBRID]) {
        /* The blend keeps every part's scores of every evaluated user. */
        size_t most = test.neval > valid.neval ? test.neval : valid.neval;
        double bytes = 4.0 * (double)most * (double)test.nitems * sizeof(float);
        if (bytes > HYBRID_MAX_BYTES) {
            snprintf(why_hybrid, sizeof why_hybrid,
                     "its score matrices would take %.1f GiB (the limit is 2 GiB)",
                     bytes / (1u << 30));
            want[M_HYBRID] = 0;
            rows[M_HYBRID].skipped = why_hybrid;
            fprintf(stderr, "hybrid: skipped: %s\n", why_hybrid);
        }
    }
    struct ctx cx = {&d, item_vec, dim, has_vec};
    int nwanted = 0;
    for (int m = 0; m < M_COUNT; m++)
        nwanted += want[m];
    if (nwanted == 0) {
        rc = cli_fail("nothing to evaluate: %s", why[0] ? why : why_hybrid);
        goto out;
    }

    for (int m = 0; m < M_COUNT; m++) {
        if (!want[m])
            continue;
        struct row *w = &rows[m];
        w->kind = m;
        /* The hybrid's parts in its weight order: ials, itemknn, trending, content. */
        struct fitted vp[4], tp[4];
        memset(vp, 0, sizeof vp);
        memset(tp, 0, sizeof tp);
        if (m == M_HYBRID) {
            const int order[4] = {M_IALS, M_ITEMKNN, M_TRENDING, M_CONTENT};
            for (int q = 0; q < 4; q++) {
                vp[q] = vparts[order[q]];
                tp[q] = tparts[order[q]];
            }
        }
        int idx[MAX_KNOBS];
        for (int q = 0; q < defs[m].nknobs; q++)
            idx[q] = defs[m].knobs[q].start;
        if (!no_tune) {
            if ((rc = tune(&cx, m, &valid, vp, k, &w->tuning))) {
                rc = cli_fail("tuning %s: %s", defs[m].name, vt_strerror(rc));
                goto out;
            }
            memcpy(idx, w->tuning.best, sizeof idx);
            w->valid_ndcg = w->tuning.best_ndcg;
            w->tuned = 1;
        }
        params_of(m, idx, w->p);
        struct fitted *f = &tparts[m];
        if ((rc = fit(&cx, m, w->p, &test, tp, 0, f))) {
            rc = cli_fail("training %s: %s", defs[m].name, vt_strerror(rc));
            goto out;
        }
        FILE *rf = NULL;
        if (rank_path && (rc = open_rankings(rank_path, nwanted > 1, defs[m].name, &rf)))
            goto out;
        rc = evaluate(f, &cx, k, rf, &w->test);
        if (rf && fclose(rf) != 0 && rc == 0)
            rc = VT_EIO;
        if (rc) {
            rc = cli_fail("evaluating %s: %s", defs[m].name, vt_strerror(rc));
            goto out;
        }
        w->fit_seconds = f->fit_seconds;
        w->secs_per_iter = f->secs_per_iter;
        w->done = 1;
        /* The parts of a later hybrid, fitted on validation with the same choice. */
        if (want[M_HYBRID] && m != M_HYBRID && m != M_POP && !no_tune &&
            (rc = fit(&cx, m, w->p, &valid, NULL, 1, &vparts[m]))) {
            rc = cli_fail("training %s: %s", defs[m].name, vt_strerror(rc));
            goto out;
        }
        if (!want[M_HYBRID] || m == M_POP)
            fitted_reset(f);
        int a = cut_index(&w->test, k);
        fprintf(stderr, "test %-9s ndcg@%zu %.4f recall@%zu %.4f (fit %.1f s)\n", defs[m].name,
                k, w->test.ndcg[a], k, w->test.recall[a], w->fit_seconds);
    }

    print_table(rows, k);
    printf("\nhyper-parameters (%s):\n", no_tune ? "defaults" : "best NDCG on validation");
    for (int m = 0; m < M_COUNT; m++) {
        char desc[256];
        if (!rows[m].done) {
            if (rows[m].skipped)
                printf("  %-9s skipped: %s\n", defs[m].name, rows[m].skipped);
            continue;
        }
        describe(m, rows[m].p, desc, sizeof desc);
        printf("  %-9s %s", defs[m].name, defs[m].nknobs ? desc : "(none)");
        if (rows[m].tuned && defs[m].nknobs)
            printf("  (validation ndcg@%zu %.4f, %zu tried)", k, rows[m].valid_ndcg,
                   rows[m].tuning.n);
        if (m == M_IALS)
            printf("  %.3g s per iteration", rows[m].secs_per_iter);
        printf("\n");
    }

    /* The JSON line. */
    json_t *j = json_object(), *models = json_object(), *dj, *skipped = json_object();
    json_object_set_new(j, "k", json_integer((json_int_t)k));
    dj = json_pack("{s:i,s:I,s:I,s:I,s:i,s:I,s:I,s:I,s:I,s:s}", "items", test.nitems,
                   "train_events", (json_int_t)test.train_events, "train_interactions",
                   (json_int_t)test.ix->nnz, "test_events", (json_int_t)test.test_events,
                   "users", test.nusers, "users_evaluated", (json_int_t)test.neval,
                   "test_positives", (json_int_t)test.npos, "users_without_history",
                   (json_int_t)test.no_history, "records_left_out", (json_int_t)d.rejected,
                   "interactions", rules.positive_only ? "positive" : "all");
    if (!no_tune)
        json_object_set_new(dj, "validation",
                            json_pack("{s:I,s:I,s:I}", "train_events", (json_int_t)vtrain.n,
                                      "test_events", (json_int_t)vtest.n, "users_evaluated",
                                      (json_int_t)valid.neval));
    json_object_set_new(j, "data", dj);
    for (int m = 0; m < M_COUNT; m++) {
        const struct row *w = &rows[m];
        if (w->skipped)
            json_object_set_new(skipped, defs[m].name, json_string(w->skipped));
        if (!w->done)
            continue;
        json_t *mo = metrics_json(&w->test, k);
        json_object_set_new(mo, "params", params_json(m, w->p));
        json_object_set_new(mo, "fit_seconds", json_real(w->fit_seconds));
        if (m == M_IALS)
            json_object_set_new(mo, "seconds_per_iteration", json_real(w->secs_per_iter));
        if (w->tuned) {
            char key[32];
            snprintf(key, sizeof key, "validation_ndcg@%zu", k);
            json_object_set_new(mo, key, json_real(w->valid_ndcg));
            json_t *tried = json_array();
            for (size_t z = 0; z < w->tuning.n; z++) {
                double p[MAX_KNOBS];
                params_of(m, w->tuning.t[z].idx, p);
                json_array_append_new(tried, json_pack("{s:o,s:f,s:f}", "params",
                                                       params_json(m, p), "ndcg",
                                                       w->tuning.t[z].ndcg, "seconds",
                                                       w->tuning.t[z].seconds));
            }
            json_object_set_new(mo, "tuning", tried);
        }
        json_object_set_new(models, defs[m].name, mo);
    }
    json_object_set_new(j, "models", models);
    json_object_set_new(j, "skipped", skipped);
    json_object_set_new(j, "compute_threads",
                        json_integer((json_int_t)vt_pool_threads(vt_pool_shared())));
    json_object_set_new(j, "seconds",
                        json_real((double)(vt_time_mono_ns() - started) / 1e9));
    char *txt = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (!txt) {
        rc = cli_fail("out of memory");
        goto out;
    }
    printf("%s\n", txt);
    vt_free(txt);
    rc = CLI_OK;
out:
    for (int m = 0; m < M_COUNT; m++) {
        fitted_reset(&vparts[m]);
        fitted_reset(&tparts[m]);
        vt_free(rows[m].tuning.t);
    }
    split_reset(&test);
    split_reset(&valid);
    vt_free(vtrain.v);
    vt_free(vtest.v);
    vt_free(item_vec);
    vt_free(has_vec);
    eval_data_reset(&d);
    return rc;
}
