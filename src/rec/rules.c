/*
 * rules.c - the business rules every recommendation list obeys, whatever
 * the ranker thinks:
 *
 *   - never a hidden item, never one out of stock (stock 0; -1 means the
 *     shop does not track it);
 *   - never an item the shopper dismissed;
 *   - never one they bought, unless its category lies under one of the
 *     prefixes of rec.repurchase_categories ("Kitchen" covers
 *     "Kitchen/Cups", not "Kitchenware");
 *   - variety: maximal marginal relevance (MMR) picks each next item by
 *     (1 - d) r - d max_sim, d = rec.diversity, r the ranker's score
 *     rescaled to [0, 1] over the candidates considered (the best 4k + 50)
 *     and max_sim the largest embedding cosine to the items already
 *     picked;
 *   - at most rec.category_cap items of one category; the cap gives way
 *     only when the allowed candidates run out (a list restricted to one
 *     category would otherwise stop at the cap);
 *   - exploration: about rec.exploration of the slots (never more than
 *     half a list) go to allowed items picked at random, shown with
 *     source "explore", so that items the models know little about get
 *     seen and the ranker learns about them. They come from the
 *     candidates the caller flagged ENG_SRC_EXPLORE (recommend.c adds a
 *     random sample that respects the request's category) and, when the
 *     caller flagged none, from the whole catalog. The random choices are
 *     a function of the seed only (recommend.c derives it from the
 *     list's rec_id), so a list can be reproduced.
 *
 * Thread-safety: no state; the functions read the snapshot and the user
 * view they are given.
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "nn/kernels.h"
#include "rec/engine_int.h"

/* ---- the allowed set -------------------------------------------------------- */

static int id_listed(char *const *ids, size_t n, const char *id)
{
    for (size_t k = 0; k < n; k++)
        if (ids[k] && strcmp(ids[k], id) == 0)
            return 1;
    return 0;
}

/* 1 when category lies under one of the comma-separated prefixes of list. */
static int under_prefix_list(const char *list, const char *category)
{
    if (!list || !category)
        return 0;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '/'))
            end--;
        size_t len = (size_t)(end - start);
        if (len && strncmp(category, start, len) == 0 &&
            (category[len] == '\0' || category[len] == '/'))
            return 1;
    }
    return 0;
}

int eng_rule_allowed(const struct vt_engine *e, const struct eng_snapshot *s,
                     const struct eng_user_view *u, int32_t item)
{
    if (!s || !s->cat || item < 0 || item >= s->cat->nitems)
        return 0;
    const struct eng_item *it = &s->cat->items[item];
    if (!it->visible || it->rec.hidden || it->rec.stock == 0)
        return 0;
    if (!u || (!u->ndismissed && !u->npurchased))
        return 1;
    int dismissed, purchased;
    if (u->item_flags) {
        dismissed = (u->item_flags[item] & ENG_ITEM_DISMISSED) != 0;
        purchased = (u->item_flags[item] & ENG_ITEM_PURCHASED) != 0;
    } else {
        dismissed = id_listed(u->dismissed, u->ndismissed, it->rec.id);
        purchased = !dismissed && id_listed(u->purchased, u->npurchased, it->rec.id);
    }
    if (dismissed)
        return 0;
    if (purchased)
        return under_prefix_list(e ? e->params.repurchase : NULL, it->rec.category);
    return 1;
}

/* ---- the final list --------------------------------------------------------- */

/* splitmix64: a small, good generator whose whole state is the seed. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

static double item_cos(const struct eng_catalog *cat, int32_t a, int32_t b)
{
    if (!cat->dim || !cat->emb || !cat->has_emb || !cat->has_emb[a] || !cat->has_emb[b])
        return 0;
    const float *x = cat->emb + (size_t)a * cat->dim, *y = cat->emb + (size_t)b * cat->dim;
    return vt_dot(x, y, cat->dim);
}

/* An explore slot's entry: the item, no ranker reason (-2: recommend.c
 * leaves it unexplained). */
static void explore_entry(struct eng_cand *dst, const struct eng_cand *from, int32_t item)
{
    if (from)
        *dst = *from;
    else {
        memset(dst, 0, sizeof *dst);
        dst->item = item;
    }
    dst->sources = ENG_SRC_EXPLORE;
    dst->reason = -2;
    dst->reason_item = -1;
}

/* Without memory for the bookkeeping: the allowed candidates in order. */
static size_t finish_plain(const struct vt_engine *e, const struct eng_snapshot *s,
                           const struct eng_user_view *u, const struct eng_cand *cand,
                           size_t n, size_t k, struct eng_cand *out)
{
    size_t m = 0;
    for (size_t j = 0; j < n && m < k; j++)
        if (eng_rule_allowed(e, s, u, cand[j].item))
            out[m++] = cand[j];
    return m;
}

size_t eng_rules_finish(const struct vt_engine *e, const struct eng_snapshot *s,
                        const struct eng_user_view *u, struct eng_cand *cand, size_t n,
                        size_t k, uint64_t seed, struct eng_cand *out)
{
    if (!k || !s || !s->cat)
        return 0;
    const struct eng_catalog *cat = s->cat;
    int32_t nitems = cat->nitems;
    uint64_t rng = seed;
    size_t nsel = 0, nexp_got = 0, npool = 0;
    /* Work arrays from the thread's arena (a request's work memory). */
    struct vt_arena *A = vt_arena_thread();
    size_t amark = vt_arena_mark(A);
    uint8_t *mark = vt_arena_calloc(A, nitems ? (size_t)nitems : 1, 1); /* 1 candidate, 2 chosen */
    size_t *pool = vt_arena_alloc(A, (n ? n : 1) * sizeof *pool);
    size_t *sel = vt_arena_alloc(A, k * sizeof *sel); /* pool positions, ranked part */
    int64_t *exp_from = vt_arena_alloc(A, k * sizeof *exp_from); /* pool position, or -1 - item */
    int32_t *catcount =
        vt_arena_calloc(A, cat->ncats > 0 ? (size_t)cat->ncats : 1, sizeof *catcount);
    double *maxsim = vt_arena_alloc(A, (n ? n : 1) * sizeof *maxsim);
    size_t m = 0;
    if (!mark || !pool || !sel || !exp_from || !catcount || !maxsim) {
        m = finish_plain(e, s, u, cand, n, k, out);
        goto out;
    }

    /* The allowed candidates, each item once, in the order given. */
    size_t nflagged = 0;
    for (size_t j = 0; j < n; j++) {
        int32_t i = cand[j].item;
        if (i < 0 || i >= nitems || mark[i] || !eng_rule_allowed(e, s, u, i))
            continue;
        mark[i] = 1;
        pool[npool++] = j;
        nflagged += (cand[j].sources & ENG_SRC_EXPLORE) != 0;
    }

    double share = e ? e->params.exploration : 0;
    share = share > 0 ? (share < 1 ? share : 1) : 0;
    double want = (double)k * share;
    size_t nexp = (size_t)floor(want);
    if (rng_unit(&rng) < want - (double)nexp)
        nexp++;
    if (nexp > k / 2)
        nexp = k / 2;
    size_t nrank = k - nexp;

    /* MMR over a window of the best candidates, with the category cap. */
    double d = e ? e->params.diversity : 0;
    d = d > 0 ? (d < 1 ? d : 1) : 0;
    int cap = e ? e->params.category_cap : 0;
    size_t window = 4 * k + 50;
    if (window > npool)
        window = npool;
    /* Relevance is p rescaled to [0, 1] over the window: p's spread
     * depends on the ranker and the request, and only its order should
     * be traded against similarity. */
    double pmin = INFINITY, pmax = -INFINITY;
    for (size_t j = 0; j < window; j++) {
        maxsim[j] = 0;
        double p = cand[pool[j]].p;
        pmin = p < pmin ? p : pmin;
        pmax = p > pmax ? p : pmax;
    }
    double prange = pmax > pmin ? pmax - pmin : 1;
    /* Lazily: maxsim[j] covers the first upto[j] chosen items only. It
     * only grows as more are covered, so a stale value over-estimates
     * the candidate's worth; the best by stale values is brought up to
     * date, and taken when it is still the best. The same choices as
     * updating every candidate after every pick, with far fewer
     * similarities computed (the window's tail is rarely looked at). */
    size_t *upto = vt_arena_calloc(A, window ? window : 1, sizeof *upto);
    if (!upto) {
        m = finish_plain(e, s, u, cand, n, k, out);
        goto out;
    }
    while (nsel < nrank) {
        size_t best = SIZE_MAX;
        for (;;) {
            best = SIZE_MAX;
            double bestv = -INFINITY;
            for (size_t j = 0; j < window; j++) {
                const struct eng_cand *c = &cand[pool[j]];
                if (mark[c->item] == 2)
                    continue;
                int32_t ci = cat->items[c->item].cat;
                if (cap > 0 && ci >= 0 && ci < cat->ncats && catcount[ci] >= cap)
                    continue;
                double v = (1 - d) * (c->p - pmin) / prange - (nsel ? d * maxsim[j] : 0);
                if (v > bestv) {
                    bestv = v;
                    best = j;
                }
            }
            if (best == SIZE_MAX || d <= 0 || upto[best] == nsel)
                break;
            int32_t bi = cand[pool[best]].item;
            for (; upto[best] < nsel; upto[best]++) {
                double x = item_cos(cat, cand[pool[sel[upto[best]]]].item, bi);
                if (x > maxsim[best])
                    maxsim[best] = x;
            }
        }
        if (best == SIZE_MAX)
            break;
        int32_t item = cand[pool[best]].item;
        mark[item] = 2;
        sel[nsel++] = best;
        int32_t ci = cat->items[item].cat;
        if (ci >= 0 && ci < cat->ncats)
            catcount[ci]++;
    }
    /* Past the window, rank order under the cap; then without it. */
    for (int pass = 0; pass < 2 && nsel < nrank; pass++)
        for (size_t j = 0; j < npool && nsel < nrank; j++) {
            int32_t item = cand[pool[j]].item;
            int32_t ci = cat->items[item].cat;
            if (mark[item] == 2)
                continue;
            if (pass == 0 && cap > 0 && ci >= 0 && ci < cat->ncats && catcount[ci] >= cap)
                continue;
            mark[item] = 2;
            sel[nsel++] = j;
            if (ci >= 0 && ci < cat->ncats)
                catcount[ci]++;
        }

    /* Exploration: flagged candidates not chosen, else the catalog. */
    if (nexp && nflagged) {
        size_t left = 0;
        for (size_t j = 0; j < npool; j++)
            left += (cand[pool[j]].sources & ENG_SRC_EXPLORE) && mark[cand[pool[j]].item] != 2;
        while (nexp_got < nexp && left) {
            size_t pick = (size_t)(rng_next(&rng) % left), seen = 0;
            for (size_t j = 0; j < npool; j++) {
                const struct eng_cand *c = &cand[pool[j]];
                if (!(c->sources & ENG_SRC_EXPLORE) || mark[c->item] == 2)
                    continue;
                if (seen++ == pick) {
                    mark[c->item] = 2;
                    exp_from[nexp_got++] = (int64_t)j;
                    left--;
                    break;
                }
            }
        }
    } else if (nexp && nitems > 0) {
        for (int tries = 0; tries < 32 * (int)nexp && nexp_got < nexp; tries++) {
            int32_t i = (int32_t)(rng_next(&rng) % (uint64_t)nitems);
            if (mark[i] || !eng_rule_allowed(e, s, u, i))
                continue;
            mark[i] = 2;
            exp_from[nexp_got++] = -1 - (int64_t)i;
        }
        int32_t start = (int32_t)(rng_next(&rng) % (uint64_t)nitems);
        for (int32_t t = 0; t < nitems && nexp_got < nexp; t++) {
            int32_t i = (start + t) % nitems;
            if (mark[i] || !eng_rule_allowed(e, s, u, i))
                continue;
            mark[i] = 2;
            exp_from[nexp_got++] = -1 - (int64_t)i;
        }
    }
    /* Slots exploration could not fill go back to the ranking. */
    for (size_t j = 0; j < npool && nsel + nexp_got < k; j++) {
        int32_t item = cand[pool[j]].item;
        if (mark[item] == 2)
            continue;
        mark[item] = 2;
        sel[nsel++] = j;
    }

    /* The ranked part in order, each explore item inserted at a random
     * place in the second half of the list. */
    for (size_t j = 0; j < nsel; j++)
        out[m++] = cand[pool[sel[j]]];
    for (size_t x = 0; x < nexp_got; x++) {
        size_t lo = m / 2, pos = lo + (size_t)(rng_next(&rng) % (uint64_t)(m - lo + 1));
        memmove(out + pos + 1, out + pos, (m - pos) * sizeof *out);
        if (exp_from[x] >= 0)
            explore_entry(&out[pos], &cand[pool[exp_from[x]]], cand[pool[exp_from[x]]].item);
        else
            explore_entry(&out[pos], NULL, (int32_t)(-1 - exp_from[x]));
        m++;
    }
out:
    vt_arena_release(A, amark);
    return m;
}
