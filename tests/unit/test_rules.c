/*
 * test_rules.c - the engine's business rules (rules.c) and the ranker's
 * features (features.c), on a small catalog built by hand: visibility,
 * stock, dismissed and purchased items with repurchase categories, MMR
 * diversity, the category cap, exploration and its seed; the scaling of
 * every feature and the items reasons name.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "rec/engine_int.h"
#include "test.h"

#define DIM 4
#define NITEMS 12

/* A hand-made snapshot: items i0..i11; categories A (0), B (1), K/Cups (2).
 * Vectors: items 0-3 point along axis 0 (near duplicates), 4-7 along axis
 * 1, 8-11 along axis 2, each with a small tilt so none are identical. */
static struct eng_item items[NITEMS];
static char *cats[] = {"A", "B", "Kitchen/Cups"};
static int32_t cat_items[3];
static float emb[NITEMS * DIM];
static uint8_t has_emb[NITEMS];
static struct eng_catalog catalog;
static struct eng_snapshot snap;
static struct vt_engine engine;
static char ids[NITEMS][8];
static struct vt_idmap *idmap;

static void setup(void)
{
    memset(&catalog, 0, sizeof catalog);
    memset(&snap, 0, sizeof snap);
    memset(&engine, 0, sizeof engine);
    catalog.ids = idmap;
    for (int i = 0; i < NITEMS; i++) {
        snprintf(ids[i], sizeof ids[i], "i%d", i);
        struct eng_item *it = &items[i];
        memset(it, 0, sizeof *it);
        vt_item_init(&it->rec);
        it->rec.id = ids[i];
        it->rec.stock = -1;
        it->rec.price = 100 * (i + 1);
        it->rec.has_price = 1;
        it->cat = i < 4 ? 0 : i < 8 ? 1 : 2;
        it->rec.category = cats[it->cat];
        it->title = ids[i];
        it->visible = 1;
        int32_t idx;
        CHECK(vt_idmap_put(catalog.ids, ids[i], &idx, NULL) == 0);
        CHECK_EQ_INT(idx, i);
        float *v = emb + i * DIM;
        memset(v, 0, DIM * sizeof *v);
        v[i / 4] = 1.0f;
        v[3] = 0.05f * (float)(i % 4);
        float n = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
        for (int k = 0; k < DIM; k++)
            v[k] /= n;
        has_emb[i] = 1;
    }
    catalog.nitems = NITEMS;
    catalog.items = items;
    catalog.ncats = 3;
    catalog.cats = cats;
    catalog.cat_items = cat_items;
    catalog.dim = DIM;
    strcpy(catalog.model_id, "test@1");
    catalog.emb = emb;
    catalog.has_emb = has_emb;
    snap.cat = &catalog;
    engine.params.category_cap = 0;
    engine.params.diversity = 0;
    engine.params.exploration = 0;
    engine.params.repurchase = NULL;
    for (int t = 0; t < VT_EV_COUNT; t++)
        engine.params.weights.w[t] = 1;
    engine.params.weights.w[VT_EV_AR_PLACE] = 6;
    engine.params.weights.w[VT_EV_DISMISS] = -5;
    engine.params.session_half_life_s = 1800;
}

/* n candidates: items[k] with scores p[k] (sorted best first by caller). */
static void make_cands(struct eng_cand *c, const int32_t *it, const double *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        memset(&c[k], 0, sizeof c[k]);
        c[k].item = it[k];
        c[k].p = p[k];
        c[k].sources = ENG_SRC_SESSION;
        c[k].reason = -1;
        c[k].reason_item = -1;
    }
}

static int listed(const struct eng_cand *out, size_t m, int32_t item)
{
    for (size_t k = 0; k < m; k++)
        if (out[k].item == item)
            return 1;
    return 0;
}

TEST(allowed_visibility_and_stock)
{
    setup();
    CHECK(eng_rule_allowed(&engine, &snap, NULL, 0));
    items[1].rec.hidden = 1;
    items[1].visible = 0;
    CHECK(!eng_rule_allowed(&engine, &snap, NULL, 1));
    /* stock 0 is out, even if a stale visible flag says otherwise */
    items[2].rec.stock = 0;
    CHECK(!eng_rule_allowed(&engine, &snap, NULL, 2));
    items[3].rec.stock = 5;
    CHECK(eng_rule_allowed(&engine, &snap, NULL, 3));
    CHECK(!eng_rule_allowed(&engine, &snap, NULL, -1));
    CHECK(!eng_rule_allowed(&engine, &snap, NULL, NITEMS));
}

TEST(allowed_dismissed_and_purchased)
{
    setup();
    char *dis[] = {"i4"}, *bought[] = {"i5", "i9"};
    struct eng_user_view u;
    memset(&u, 0, sizeof u);
    u.known = 1;
    u.dismissed = dis, u.ndismissed = 1;
    u.purchased = bought, u.npurchased = 2;
    CHECK(!eng_rule_allowed(&engine, &snap, &u, 4));
    CHECK(!eng_rule_allowed(&engine, &snap, &u, 5));
    CHECK(!eng_rule_allowed(&engine, &snap, &u, 9));
    CHECK(eng_rule_allowed(&engine, &snap, &u, 6));
    /* "Kitchen" covers Kitchen/Cups; "Kitch" and "Kitchenware" do not */
    char rp1[] = "B/Sofas, Kitchen/";
    engine.params.repurchase = rp1;
    CHECK(eng_rule_allowed(&engine, &snap, &u, 9));
    CHECK(!eng_rule_allowed(&engine, &snap, &u, 5));
    CHECK(!eng_rule_allowed(&engine, &snap, &u, 4)); /* dismissed stays out */
    char rp2[] = "Kitch,Kitchenware";
    engine.params.repurchase = rp2;
    CHECK(!eng_rule_allowed(&engine, &snap, &u, 9));
    char rp3[] = "B";
    engine.params.repurchase = rp3;
    CHECK(eng_rule_allowed(&engine, &snap, &u, 5));
}

TEST(finish_drops_what_is_not_allowed)
{
    setup();
    items[0].rec.hidden = 1, items[0].visible = 0;
    items[5].rec.stock = 0;
    char *dis[] = {"i8"};
    struct eng_user_view u;
    memset(&u, 0, sizeof u);
    u.dismissed = dis, u.ndismissed = 1;
    int32_t it[] = {0, 5, 8, 1, 4, 4, 9};
    double p[] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.4};
    struct eng_cand c[7], out[10];
    make_cands(c, it, p, 7);
    size_t m = eng_rules_finish(&engine, &snap, &u, c, 7, 10, 1, out);
    CHECK_EQ_INT(m, 3); /* 1, 4 (once), 9 */
    CHECK_EQ_INT(out[0].item, 1);
    CHECK_EQ_INT(out[1].item, 4);
    CHECK_EQ_INT(out[2].item, 9);
    m = eng_rules_finish(&engine, &snap, &u, c, 7, 2, 1, out);
    CHECK_EQ_INT(m, 2);
    CHECK_EQ_INT(eng_rules_finish(&engine, &snap, &u, c, 7, 0, 1, out), 0);
}

TEST(mmr_spreads_near_duplicates)
{
    setup();
    /* 0, 1, 2 are near duplicates with the best scores; 4 and 8 differ */
    int32_t it[] = {0, 1, 2, 4, 8};
    double p[] = {0.90, 0.89, 0.88, 0.60, 0.55};
    struct eng_cand c[5], out[5];
    make_cands(c, it, p, 5);
    size_t m = eng_rules_finish(&engine, &snap, NULL, c, 5, 3, 7, out);
    CHECK_EQ_INT(m, 3);
    CHECK(out[0].item == 0 && out[1].item == 1 && out[2].item == 2); /* relevance only */
    engine.params.diversity = 0.5;
    m = eng_rules_finish(&engine, &snap, NULL, c, 5, 3, 7, out);
    CHECK_EQ_INT(m, 3);
    CHECK_EQ_INT(out[0].item, 0);
    CHECK(listed(out, m, 4) && listed(out, m, 8)); /* variety over the duplicates */
}

/* The list the rules pick, worked out the plain way: after every pick the
 * similarity of every remaining candidate to the picked items is brought
 * up to date (rules.c does it only for a candidate that may be picked
 * next; the choices must be the same). No exploration, every candidate
 * allowed, fewer candidates than the MMR window. */
static size_t mmr_reference(const struct eng_cand *c, size_t n, size_t k, double d, int cap,
                            int32_t *out)
{
    double pmin = INFINITY, pmax = -INFINITY, maxsim[NITEMS] = {0};
    int picked[NITEMS] = {0}, catcount[3] = {0};
    for (size_t j = 0; j < n; j++) {
        pmin = fmin(pmin, c[j].p);
        pmax = fmax(pmax, c[j].p);
    }
    double prange = pmax > pmin ? pmax - pmin : 1;
    size_t m = 0;
    while (m < k) {
        size_t best = SIZE_MAX;
        double bestv = -INFINITY;
        for (size_t j = 0; j < n; j++) {
            int ci = items[c[j].item].cat;
            if (picked[j] || (cap > 0 && catcount[ci] >= cap))
                continue;
            double v = (1 - d) * (c[j].p - pmin) / prange - (m ? d * maxsim[j] : 0);
            if (v > bestv)
                bestv = v, best = j;
        }
        if (best == SIZE_MAX)
            break;
        picked[best] = 1;
        out[m++] = c[best].item;
        catcount[items[c[best].item].cat]++;
        for (size_t j = 0; j < n; j++) {
            const float *x = emb + c[best].item * DIM, *y = emb + c[j].item * DIM;
            double sim = 0;
            for (int q = 0; q < DIM; q++)
                sim += (double)x[q] * y[q];
            if (!picked[j] && sim > maxsim[j])
                maxsim[j] = sim;
        }
    }
    for (int pass = 0; pass < 2 && m < k; pass++) /* past the cap, rank order */
        for (size_t j = 0; j < n && m < k; j++) {
            int ci = items[c[j].item].cat;
            if (picked[j] || (pass == 0 && cap > 0 && catcount[ci] >= cap))
                continue;
            picked[j] = 1;
            out[m++] = c[j].item;
            catcount[ci]++;
        }
    return m;
}

TEST(mmr_lazy_matches_plain)
{
    setup();
    uint64_t rng = 12345;
    int cases = 0, differ = 0;
    for (int t = 0; t < 400; t++) {
        int32_t it[NITEMS];
        double p[NITEMS];
        for (int i = 0; i < NITEMS; i++)
            it[i] = i;
        for (int i = NITEMS - 1; i > 0; i--) { /* a shuffle */
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int j = (int)((rng >> 33) % (uint64_t)(i + 1));
            int32_t x = it[i];
            it[i] = it[j], it[j] = x;
        }
        for (int i = 0; i < NITEMS; i++) { /* scores best first, some ties */
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            p[i] = (i ? p[i - 1] : 1.0) - (double)((rng >> 40) % 4) * 0.05;
        }
        size_t n = 4 + (size_t)t % (NITEMS - 3), k = 1 + (size_t)t % 7;
        engine.params.diversity = (double)(t % 5) * 0.25;
        engine.params.category_cap = t % 3;
        struct eng_cand c[NITEMS], out[NITEMS];
        int32_t want[NITEMS];
        make_cands(c, it, p, n);
        size_t m = eng_rules_finish(&engine, &snap, NULL, c, n, k, 9, out);
        size_t mw = mmr_reference(c, n, k, engine.params.diversity,
                                  engine.params.category_cap, want);
        int same = m == mw;
        for (size_t j = 0; same && j < m; j++)
            same = out[j].item == want[j];
        differ += !same;
        cases++;
    }
    CHECK_EQ_INT(differ, 0);
    CHECK_EQ_INT(cases, 400);
}

TEST(category_cap_and_its_limit)
{
    setup();
    engine.params.category_cap = 2;
    int32_t it[] = {0, 1, 2, 3, 4, 5};
    double p[] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4};
    struct eng_cand c[6], out[6];
    make_cands(c, it, p, 6);
    size_t m = eng_rules_finish(&engine, &snap, NULL, c, 6, 4, 1, out);
    CHECK_EQ_INT(m, 4);
    int in_a = 0;
    for (size_t k = 0; k < m; k++)
        in_a += items[out[k].item].cat == 0;
    CHECK_EQ_INT(in_a, 2);
    CHECK(out[0].item == 0 && out[1].item == 1 && out[2].item == 4 && out[3].item == 5);
    /* only category A allowed: the cap gives way rather than cut the list */
    make_cands(c, it, p, 4);
    m = eng_rules_finish(&engine, &snap, NULL, c, 4, 4, 1, out);
    CHECK_EQ_INT(m, 4);
    CHECK(out[2].item == 2 && out[3].item == 3);
}

TEST(exploration_share_and_seed)
{
    setup();
    engine.params.exploration = 0.3;
    int32_t it[] = {0, 1, 2, 3, 4, 5, 6, 7};
    double p[] = {0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55};
    struct eng_cand c[8], out[10], again[10];
    make_cands(c, it, p, 8);
    items[10].rec.hidden = 1, items[10].visible = 0;
    int differs = 0, total_exp = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        size_t m = eng_rules_finish(&engine, &snap, NULL, c, 8, 6, seed, out);
        CHECK_EQ_INT(m, 6);
        size_t nexp = 0;
        for (size_t k = 0; k < m; k++) {
            if (out[k].sources != ENG_SRC_EXPLORE)
                continue;
            nexp++;
            /* from outside the candidates, allowed, no ranker reason (-2) */
            CHECK(out[k].item >= 8 && out[k].item != 10);
            CHECK_EQ_INT(out[k].reason, -2);
            CHECK(k >= 1); /* never the top slot */
        }
        CHECK(nexp == 1 || nexp == 2); /* 6 x 0.3 = 1.8 */
        total_exp += (int)nexp;
        CHECK_EQ_INT(out[0].item, 0);
        size_t m2 = eng_rules_finish(&engine, &snap, NULL, c, 8, 6, seed, again);
        CHECK_EQ_INT(m2, m);
        CHECK(memcmp(out, again, m * sizeof *out) == 0); /* same seed, same list */
        eng_rules_finish(&engine, &snap, NULL, c, 8, 6, seed + 1000, again);
        differs += memcmp(out, again, m * sizeof *out) != 0;
    }
    /* about 1.8 per list: 1 or 2, 2 four times in five */
    for (uint64_t seed = 21; seed <= 200; seed++) {
        size_t m = eng_rules_finish(&engine, &snap, NULL, c, 8, 6, seed, out);
        for (size_t k = 0; k < m; k++)
            total_exp += out[k].sources == ENG_SRC_EXPLORE;
    }
    CHECK(total_exp > 330 && total_exp < 390);
    CHECK(differs > 0);
    /* candidates flagged EXPLORE are the pool when there are any */
    c[7].sources = ENG_SRC_EXPLORE;
    c[6].sources = ENG_SRC_EXPLORE;
    engine.params.exploration = 0.5;
    size_t m = eng_rules_finish(&engine, &snap, NULL, c, 8, 4, 3, out);
    CHECK_EQ_INT(m, 4);
    for (size_t k = 0; k < m; k++)
        if (out[k].sources == ENG_SRC_EXPLORE)
            CHECK(out[k].item == 6 || out[k].item == 7);
    /* exploration 0: the ranking alone */
    engine.params.exploration = 0;
    make_cands(c, it, p, 8);
    m = eng_rules_finish(&engine, &snap, NULL, c, 8, 6, 3, out);
    for (size_t k = 0; k < m; k++)
        CHECK_EQ_INT(out[k].item, (int32_t)k);
}

/* ---- features ------------------------------------------------------------------ */

static struct eng_recent rec(const char *id, int type, float value, int64_t ts)
{
    struct eng_recent r;
    r.item_id = (char *)id;
    r.type = type;
    r.value = value;
    r.ts_ms = ts;
    return r;
}

TEST(features_scaled_and_ar_near)
{
    setup();
    int64_t now = vt_time_now_ms();
    struct eng_recent recent[] = {
        rec("i4", VT_EV_AR_PLACE, 1, now - 1000), rec("i0", VT_EV_VIEW, 1, now - 2000),
        rec("i1", VT_EV_VIEW, 1, now - 3000),     rec("i4", VT_EV_ROTATE, 1, now - 4000),
        rec("i9", VT_EV_VIEW, 1, now - 5000),     rec("i9", VT_EV_DISMISS, 1, now - 1000),
    };
    float session[DIM] = {1, 0, 0, 0};
    struct eng_user_view u;
    memset(&u, 0, sizeof u);
    u.known = 1;
    u.recent = recent, u.nrecent = 6;
    u.session = session, u.dim = DIM;
    strcpy(u.model_id, "test@1");
    struct eng_feature_ctx ctx;
    CHECK(eng_feature_ctx_init(&ctx, &engine, &snap, &u, NULL, NULL, NULL) == 0);
    CHECK_EQ_INT(ctx.nhist, 3); /* i9's dismiss outweighs its view */
    CHECK_EQ_INT(ctx.nar, 1);
    CHECK_EQ_INT(ctx.ar_items[0], 4);
    CHECK(ctx.ar_w[0] > 0.99 && ctx.ar_w[0] <= 1.0);
    /* median of the prices of i4 (500), i0 (100), i1 (200) */
    CHECK_NEAR(ctx.price_median, 200, 1e-9);

    struct eng_cand c5 = {.item = 5}, c8 = {.item = 8}, c4 = {.item = 4}, c2 = {.item = 2};
    eng_features(&ctx, &c5);
    eng_features(&ctx, &c8);
    eng_features(&ctx, &c4);
    eng_features(&ctx, &c2);
    /* placing i4 pulls its neighbour i5, not i8 */
    CHECK(c5.f[ENG_Y_AR_NEAR] > 0.9);
    CHECK(c8.f[ENG_Y_AR_NEAR] < 0.1);
    CHECK_EQ_INT(c5.reason_item, 4);
    CHECK_EQ_INT(eng_feature_item(&ctx, &c5, ENG_Y_AR_NEAR), 4);
    /* the placed item itself: ar_self and manipulate, no ar_near to itself */
    CHECK_NEAR(c4.f[ENG_Y_AR_SELF], 1 - exp(-ctx.ar_w[0]), 1e-6);
    CHECK(c4.f[ENG_Y_MANIPULATE] > 0.6);
    CHECK_EQ_INT(c4.f[ENG_Y_AR_NEAR], 0);
    CHECK_EQ_INT(c5.f[ENG_Y_AR_SELF], 0);
    /* session cosine: i2 lies along axis 0 */
    CHECK(c2.f[ENG_X_SEM_SESSION] > 0.99);
    CHECK(fabsf(c5.f[ENG_X_SEM_SESSION]) < 0.01);
    /* category share: history weights i4 (6 + 1), i0 (1), i1 (1) */
    CHECK_NEAR(c2.f[ENG_X_CATEGORY], 2.0 / 9.0, 1e-3);
    CHECK_NEAR(c5.f[ENG_X_CATEGORY], 7.0 / 9.0, 1e-3);
    CHECK_EQ_INT(eng_feature_item(&ctx, &c2, ENG_X_CATEGORY) >= 0, 1);
    CHECK(items[eng_feature_item(&ctx, &c2, ENG_X_CATEGORY)].cat == 0);
    /* price fit: i2 costs 300, the median is 200 */
    CHECK_NEAR(c2.f[ENG_X_PRICE_FIT], 200.0 / 300.0, 1e-6);
    /* seen: viewed items only */
    struct eng_cand c0 = {.item = 0};
    eng_features(&ctx, &c0);
    CHECK_EQ_INT(c0.f[ENG_X_SEEN], 1);
    CHECK_EQ_INT(c2.f[ENG_X_SEEN], 0);
    /* no behaviour part: CF and popularity are 0; every feature in range */
    const struct eng_cand *all[] = {&c0, &c2, &c4, &c5, &c8};
    for (int k = 0; k < 5; k++)
        for (int f = 0; f < ENG_NFEAT; f++)
            CHECK(all[k]->f[f] >= -1 && all[k]->f[f] <= 1);
    CHECK_EQ_INT(c2.f[ENG_X_CF_KNN], 0);
    CHECK_EQ_INT(c2.f[ENG_X_POP], 0);
    eng_feature_ctx_reset(&ctx);
    CHECK(ctx.hist_items == NULL && ctx.nhist == 0);
}

TEST(features_cf_and_popularity)
{
    setup();
    /* behaviour part: items in reverse order (beh b = catalog 11 - b) */
    struct vt_idmap *bitems;
    CHECK(vt_idmap_new(&bitems) == 0);
    int32_t beh_of[NITEMS], cat_of[NITEMS];
    for (int b = 0; b < NITEMS; b++) {
        int32_t idx;
        vt_idmap_put(bitems, ids[NITEMS - 1 - b], &idx, NULL);
        cat_of[b] = NITEMS - 1 - b;
        beh_of[NITEMS - 1 - b] = b;
    }
    /* knn: catalog 0 -> {1: 0.8, 2: 0.2}, catalog 3 -> {1: 0.4} */
    int64_t ptr[NITEMS + 1];
    int32_t nb[3];
    float sim[3];
    int64_t at = 0;
    for (int b = 0; b < NITEMS; b++) {
        ptr[b] = at;
        if (cat_of[b] == 0) {
            nb[at] = beh_of[1], sim[at++] = 0.8f;
            nb[at] = beh_of[2], sim[at++] = 0.2f;
        } else if (cat_of[b] == 3) {
            nb[at] = beh_of[1], sim[at++] = 0.4f;
        }
    }
    ptr[NITEMS] = at;
    struct vt_itemknn knn = {.nitems = NITEMS, .ptr = ptr, .nb = nb, .sim = sim};
    float score[NITEMS] = {0};
    int32_t order[NITEMS];
    for (int b = 0; b < NITEMS; b++)
        order[b] = b;
    score[0] = 99; /* catalog 11 is the most popular */
    score[1] = 9;
    struct vt_pop pop = {.nitems = NITEMS, .score = score, .order = order};
    struct eng_behaviour beh;
    memset(&beh, 0, sizeof beh);
    beh.items = bitems;
    beh.knn = &knn;
    beh.pop = &pop;
    snap.beh = &beh;
    snap.beh_of = beh_of;
    snap.cat_of = cat_of;

    int64_t now = vt_time_now_ms();
    struct eng_recent recent[] = {rec("i0", VT_EV_VIEW, 1, now), rec("i3", VT_EV_VIEW, 1, now)};
    struct eng_user_view u;
    memset(&u, 0, sizeof u);
    u.recent = recent, u.nrecent = 2;
    struct eng_feature_ctx ctx;
    CHECK(eng_feature_ctx_init(&ctx, &engine, &snap, &u, NULL, NULL, NULL) == 0);
    struct eng_cand c1 = {.item = 1}, c11 = {.item = 11}, c10 = {.item = 10};
    eng_features(&ctx, &c1);
    eng_features(&ctx, &c11);
    eng_features(&ctx, &c10);
    /* weighted mean of sims: (0.8 + 0.4) / 2 */
    CHECK_NEAR(c1.f[ENG_X_CF_KNN], 0.6, 1e-6);
    CHECK_EQ_INT(c1.reason_item, 0);
    CHECK_EQ_INT(eng_feature_item(&ctx, &c1, ENG_X_CF_KNN), 0);
    CHECK_NEAR(c11.f[ENG_X_POP], 1.0, 1e-6);
    CHECK_NEAR(c10.f[ENG_X_POP], log1p(9) / log1p(99), 1e-6);
    CHECK_EQ_INT(c1.f[ENG_X_POP], 0);
    eng_feature_ctx_reset(&ctx);
    vt_idmap_free(bitems);
}

int main(void)
{
    if (vt_idmap_new(&idmap))
        return 1;
    RUN(allowed_visibility_and_stock);
    RUN(allowed_dismissed_and_purchased);
    RUN(finish_drops_what_is_not_allowed);
    RUN(mmr_spreads_near_duplicates);
    RUN(mmr_lazy_matches_plain);
    RUN(category_cap_and_its_limit);
    RUN(exploration_share_and_seed);
    RUN(features_scaled_and_ar_near);
    RUN(features_cf_and_popularity);
    vt_idmap_free(idmap);
    return TEST_SUMMARY();
}
