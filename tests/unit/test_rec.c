/*
 * test_rec.c - the offline recommenders and the evaluation measures of
 * src/rec on small data whose answer is known: hand-built matrices for the
 * matrix, popularity, cosine and metric arithmetic (values worked out in
 * the comments), and two disjoint blocks of users and items for what the
 * learned models must find (a user of one block is recommended that
 * block's items).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "rec/content.h"
#include "rec/ials.h"
#include "rec/interactions.h"
#include "rec/itemknn.h"
#include "rec/metrics.h"
#include "rec/pop.h"
#include "test.h"

#define DAY_MS 86400000LL

/* ---- ids and the matrix ---------------------------------------------------- */

TEST(idmap_numbers_ids_in_order)
{
    struct vt_idmap *m = NULL;
    CHECK_EQ_INT(vt_idmap_new(&m), 0);
    char id[32];
    int created = -1;
    /* Past the first growths of both the slot table and the id array. */
    for (int k = 0; k < 1000; k++) {
        int32_t ix = -1;
        snprintf(id, sizeof id, "user-%d", k);
        CHECK_EQ_INT(vt_idmap_put(m, id, &ix, &created), 0);
        CHECK_EQ_INT(ix, k);
        CHECK_EQ_INT(created, 1);
    }
    int32_t again = -1;
    CHECK_EQ_INT(vt_idmap_put(m, "user-417", &again, &created), 0);
    CHECK_EQ_INT(again, 417);
    CHECK_EQ_INT(created, 0);
    CHECK_EQ_INT(vt_idmap_count(m), 1000);
    CHECK_EQ_INT(vt_idmap_get(m, "user-999"), 999);
    CHECK_EQ_INT(vt_idmap_get(m, "user-1000"), -1);
    CHECK_STR(vt_idmap_id(m, 5), "user-5");
    vt_idmap_free(m);
    vt_idmap_free(NULL);
}

TEST(event_weights_follow_the_types)
{
    struct vt_event_weights w;
    memset(&w, 0, sizeof w);
    w.w[VT_EV_RATING] = 2;
    w.w[VT_EV_DWELL] = 0.05;
    w.w[VT_EV_DISMISS] = -5;
    CHECK_NEAR(vt_event_weight(&w, VT_EV_RATING, 4.5), 4.0, 1e-12); /* 2 * (4.5 - 2.5) */
    CHECK_NEAR(vt_event_weight(&w, VT_EV_RATING, 1.0), -3.0, 1e-12);
    CHECK_NEAR(vt_event_weight(&w, VT_EV_DWELL, 60), 3.0, 1e-12);    /* per second */
    CHECK_NEAR(vt_event_weight(&w, VT_EV_DISMISS, 1), -5.0, 1e-12);
    CHECK_NEAR(vt_event_weight(&w, 999, 1), 0.0, 0);
}

TEST(matrix_sums_pairs_and_drops_dislikes)
{
    /* user 0: item 1 twice (1 + 2 = 3, last at 20), item 0 once (1 at 5);
     * user 1: item 0 at -3 + 1 = -2 (dropped), item 2 once. */
    struct vt_triplet t[] = {
        {0, 1, 1, 10}, {1, 0, -3, 1}, {0, 1, 2, 20}, {1, 2, 1, 3}, {0, 0, 1, 5}, {1, 0, 1, 2},
    };
    struct vt_interactions *ix = NULL;
    CHECK_EQ_INT(vt_interactions_build(2, 3, t, 6, NULL, &ix), 0);
    if (!ix)
        return;
    CHECK_EQ_INT(ix->nnz, 3);
    CHECK_EQ_INT(vt_interactions_user_count(ix, 0), 2);
    CHECK_EQ_INT(ix->user_item[0], 0);
    CHECK_NEAR(ix->user_w[0], 1.0, 0);
    CHECK_EQ_INT(ix->user_ts[0], 5);
    CHECK_EQ_INT(ix->user_item[1], 1);
    CHECK_NEAR(ix->user_w[1], 3.0, 0);
    CHECK_EQ_INT(ix->user_ts[1], 20);
    CHECK_EQ_INT(vt_interactions_user_count(ix, 1), 1);
    CHECK_EQ_INT(ix->user_item[2], 2);
    /* By item: 0 <- user 0, 1 <- user 0, 2 <- user 1. */
    CHECK_EQ_INT(vt_interactions_item_count(ix, 0), 1);
    CHECK_EQ_INT(ix->item_user[ix->item_ptr[2]], 1);
    CHECK_NEAR(ix->item_w[ix->item_ptr[1]], 3.0, 0);
    CHECK_EQ_INT(ix->item_ts[ix->item_ptr[1]], 20);
    /* The dropped pair's events still date the user. */
    CHECK_EQ_INT(ix->user_last_ms[0], 20);
    CHECK_EQ_INT(ix->user_last_ms[1], 3);
    CHECK_EQ_INT(ix->last_ms, 20);
    vt_interactions_free(ix);

    /* An index out of range is refused. */
    struct vt_triplet bad = {0, 3, 1, 0};
    ix = NULL;
    CHECK_EQ_INT(vt_interactions_build(2, 3, &bad, 1, NULL, &ix), VT_EINVAL);
    CHECK(ix == NULL);

    /* Recency: an item touched one half-life before the user's last event
     * counts half. */
    struct vt_triplet r[] = {{0, 0, 1, 0}, {0, 1, 1, DAY_MS}};
    struct vt_interactions_options o = {.user_half_life_days = 1};
    CHECK_EQ_INT(vt_interactions_build(1, 2, r, 2, &o, &ix), 0);
    if (ix) {
        CHECK_NEAR(ix->user_w[0], 0.5, 1e-6);
        CHECK_NEAR(ix->user_w[1], 1.0, 1e-6);
    }
    vt_interactions_free(ix);
}

/* ---- popularity --------------------------------------------------------------- */

TEST(pop_orders_by_users_then_by_recency)
{
    /* item 2: users 0, 1, 2 (100 days ago); items 0 and 3: two users each
     * (a tie, broken by index); item 1: one user today. */
    int64_t now = 1000 * DAY_MS, old = now - 100 * DAY_MS;
    struct vt_triplet t[] = {
        {0, 2, 1, old}, {1, 2, 1, old}, {2, 2, 5, old}, {0, 0, 1, old},
        {1, 0, 1, old}, {2, 3, 1, old}, {3, 3, 1, old}, {3, 1, 1, now},
    };
    struct vt_interactions *ix = NULL;
    CHECK_EQ_INT(vt_interactions_build(4, 4, t, 8, NULL, &ix), 0);
    if (!ix)
        return;
    int32_t cat[4] = {0, 0, 1, 1};
    struct vt_pop *p = NULL;
    CHECK_EQ_INT(vt_pop_fit(ix, cat, 2, NULL, &p), 0);
    if (p) {
        int32_t want[4] = {2, 0, 3, 1};
        for (int k = 0; k < 4; k++)
            CHECK_EQ_INT(p->order[k], want[k]);
        CHECK_NEAR(p->score[2], 3.0, 0);
        int32_t top[4];
        /* A user who has item 2 gets the rest. */
        int32_t seen[1] = {2};
        CHECK_EQ_INT(vt_pop_top(p, -1, seen, 1, 2, top), 2);
        CHECK_EQ_INT(top[0], 0);
        CHECK_EQ_INT(top[1], 3);
        /* Per category: {0, 1} and {2, 3}. */
        CHECK_EQ_INT(vt_pop_top(p, 0, NULL, 0, 4, top), 2);
        CHECK_EQ_INT(top[0], 0);
        CHECK_EQ_INT(top[1], 1);
        CHECK_EQ_INT(vt_pop_top(p, 1, seen, 1, 4, top), 1);
        CHECK_EQ_INT(top[0], 3);
        CHECK_EQ_INT(vt_pop_top(p, 7, NULL, 0, 4, top), 0);
    }
    vt_pop_free(p);

    /* Weighted: item 2 = 1 + 1 + 5 = 7. */
    struct vt_pop_options ow = {.weighted = 1};
    CHECK_EQ_INT(vt_pop_fit(ix, NULL, 0, &ow, &p), 0);
    if (p)
        CHECK_NEAR(p->score[2], 7.0, 0);
    vt_pop_free(p);

    /* Trending with a 10-day half-life: the 100-day-old items weigh
     * 2^-10 per user; item 1, touched today, comes first. */
    struct vt_pop_options o = {.half_life_days = 10};
    CHECK_EQ_INT(vt_pop_fit(ix, NULL, 0, &o, &p), 0);
    if (p) {
        CHECK_EQ_INT(p->order[0], 1);
        CHECK_NEAR(p->score[1], 1.0, 1e-6);
        CHECK_NEAR(p->score[2], 3.0 / 1024, 1e-6);
    }
    vt_pop_free(p);
    vt_interactions_free(ix);
}

/* ---- two blocks --------------------------------------------------------------- */

#define NU 40
#define NI 30

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static int block_of_user(int32_t u) { return u < NU / 2 ? 0 : 1; }
static int block_of_item(int32_t i) { return i < NI / 2 ? 0 : 1; }

/* Users 0-19 touch about half of items 0-14, users 20-39 half of items
 * 15-29; nothing crosses. skip_user's events are left out (-1: none). */
static struct vt_interactions *blocks(int32_t skip_user)
{
    static struct vt_triplet t[NU * NI];
    static int made;
    static size_t n;
    if (!made) {
        rng_state = 0x2545F4914F6CDD1DULL;
        for (int32_t u = 0; u < NU; u++)
            for (int32_t i = 0; i < NI; i++)
                if (block_of_user(u) == block_of_item(i) && urand() < 0.5)
                    t[n++] = (struct vt_triplet){u, i, (float)(1 + (int)(urand() * 3)), 0};
        made = 1;
    }
    struct vt_triplet *keep = malloc(n * sizeof *keep);
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        if (t[k].user != skip_user)
            keep[m++] = t[k];
    struct vt_interactions *ix = NULL;
    if (vt_interactions_build(NU, NI, keep, m, NULL, &ix))
        ix = NULL;
    free(keep);
    return ix;
}

/* 1 when every user's best unseen item lies in their block. */
static int best_unseen_in_block(const struct vt_interactions *ix, const float *scores_all)
{
    for (int32_t u = 0; u < NU; u++) {
        int32_t top[1];
        size_t got = 0;
        const int32_t *seen = ix->user_item + ix->user_ptr[u];
        if (vt_rank_top(scores_all + (size_t)u * NI, NI, seen,
                        (size_t)vt_interactions_user_count(ix, u), 1, top, &got) ||
            got != 1)
            return 0;
        if (block_of_item(top[0]) != block_of_user(u)) {
            fprintf(stderr, "  user %d: best unseen item %d is in the other block\n", u,
                    top[0]);
            return 0;
        }
    }
    return 1;
}

/* ---- item-item ------------------------------------------------------------------ */

TEST(itemknn_cosines_by_hand)
{
    /* user 0: {0, 1}; user 1: {0, 1, 2}; user 2: {2}. Columns: item 0 =
     * (1, 1, 0), item 1 = (1, 1, 0), item 2 = (0, 1, 1).
     * cos(0, 1) = 2 / (sqrt2 sqrt2) = 1; cos(0, 2) = cos(1, 2) = 1 / 2. */
    struct vt_triplet t[] = {{0, 0, 1, 0}, {0, 1, 1, 0}, {1, 0, 1, 0},
                             {1, 1, 1, 0}, {1, 2, 1, 0}, {2, 2, 1, 0}};
    struct vt_interactions *ix = NULL;
    CHECK_EQ_INT(vt_interactions_build(3, 3, t, 6, NULL, &ix), 0);
    struct vt_itemknn *m = NULL;
    struct vt_itemknn_options o = {.neighbours = 5};
    CHECK_EQ_INT(vt_itemknn_fit(ix, &o, &m), 0);
    if (m) {
        CHECK_EQ_INT(m->ptr[1] - m->ptr[0], 2);
        CHECK_EQ_INT(m->nb[m->ptr[0]], 1);
        CHECK_NEAR(m->sim[m->ptr[0]], 1.0, 1e-6);
        CHECK_EQ_INT(m->nb[m->ptr[0] + 1], 2);
        CHECK_NEAR(m->sim[m->ptr[0] + 1], 0.5, 1e-6);
        /* A history of item 0 with weight 2: scores 2 * sim. */
        int32_t h[1] = {0};
        float w[1] = {2}, s[3];
        vt_itemknn_score(m, h, w, 1, s);
        CHECK_NEAR(s[0], 0.0, 0);
        CHECK_NEAR(s[1], 2.0, 1e-6);
        CHECK_NEAR(s[2], 1.0, 1e-6);
    }
    vt_itemknn_free(m);

    /* Shrink 1: cos(0, 2) = 1 / (2 + 1). One neighbour kept. */
    m = NULL;
    struct vt_itemknn_options o2 = {.neighbours = 1, .shrink = 1};
    CHECK_EQ_INT(vt_itemknn_fit(ix, &o2, &m), 0);
    if (m) {
        CHECK_EQ_INT(m->ptr[3] - m->ptr[2], 1);
        CHECK_NEAR(m->sim[m->ptr[2]], 1.0 / 3, 1e-6);
    }
    vt_itemknn_free(m);
    vt_interactions_free(ix);
}

TEST(itemknn_bm25_discounts_heavy_users)
{
    /* Item 0 meets item 1 through user 0 (2 items) and item 2 through user
     * 1 (items 0 and 2-8). Plain cosine ties them at 1/sqrt2; BM25 weights user 0
     * more, so item 1 becomes item 0's nearest. */
    struct vt_triplet t[10] = {{0, 0, 1, 0}, {0, 1, 1, 0}};
    size_t n = 2;
    for (int32_t i = 0; i < 8; i++)
        t[n++] = (struct vt_triplet){1, i == 0 ? 0 : i + 1, 1, 0};
    struct vt_interactions *ix = NULL;
    CHECK_EQ_INT(vt_interactions_build(2, 9, t, n, NULL, &ix), 0);
    struct vt_itemknn *plain = NULL, *bm = NULL;
    struct vt_itemknn_options op = {.neighbours = 10}, ob = {.neighbours = 10, .bm25 = 1};
    CHECK_EQ_INT(vt_itemknn_fit(ix, &op, &plain), 0);
    CHECK_EQ_INT(vt_itemknn_fit(ix, &ob, &bm), 0);
    if (plain && bm) {
        float sp[9], sb[9];
        int32_t h[1] = {0};
        vt_itemknn_score(plain, h, NULL, 1, sp);
        vt_itemknn_score(bm, h, NULL, 1, sb);
        CHECK_NEAR(sp[1], 1 / sqrt(2.0), 1e-6);
        CHECK_NEAR(sp[2], 1 / sqrt(2.0), 1e-6);
        CHECK(sb[1] > sb[2] + 0.2);
        CHECK_EQ_INT(bm->nb[bm->ptr[0]], 1);
    }
    vt_itemknn_free(plain);
    vt_itemknn_free(bm);
    vt_interactions_free(ix);
}

TEST(itemknn_stays_in_block)
{
    struct vt_interactions *ix = blocks(-1);
    struct vt_itemknn *m = NULL;
    CHECK_EQ_INT(vt_itemknn_fit(ix, NULL, &m), 0);
    if (!m || !ix) {
        vt_interactions_free(ix);
        return;
    }
    for (int32_t i = 0; i < NI; i++) {
        CHECK(m->ptr[i + 1] > m->ptr[i]);
        for (int64_t q = m->ptr[i]; q < m->ptr[i + 1]; q++) {
            CHECK(block_of_item(m->nb[q]) == block_of_item(i));
            if (q > m->ptr[i])
                CHECK(m->sim[q] <= m->sim[q - 1]); /* best first */
        }
    }
    float *s = malloc((size_t)NU * NI * sizeof *s);
    for (int32_t u = 0; u < NU; u++)
        vt_itemknn_score(m, ix->user_item + ix->user_ptr[u], ix->user_w + ix->user_ptr[u],
                         (size_t)vt_interactions_user_count(ix, u), s + (size_t)u * NI);
    CHECK(best_unseen_in_block(ix, s));
    free(s);
    vt_itemknn_free(m);
    vt_interactions_free(ix);
}

/* ---- iALS ------------------------------------------------------------------------- */

static const struct vt_ials_options ials_opts = {
    .factors = 4, .lambda = 0.1f, .alpha = 10, .iterations = 20, .cg_steps = 3, .seed = 7,
    .compute_loss = 1,
};

/* The loss and block checks for one set of options. */
static void check_ials_fit(const struct vt_ials_options *o)
{
    struct vt_interactions *ix = blocks(-1);
    struct vt_ials *m = NULL;
    CHECK_EQ_INT(vt_ials_fit(ix, o, &m), 0);
    if (!m || !ix) {
        vt_interactions_free(ix);
        return;
    }
    /* Every CG step lowers its row's quadratic, so every iteration lowers
     * L; 1e-5 relative absorbs float rounding near convergence. */
    double first = m->iter_loss[0];
    for (int it = 1; it < m->iterations; it++) {
        CHECK(m->iter_loss[it] <= m->iter_loss[it - 1] * (1 + 1e-5));
        if (m->iter_loss[it] > m->iter_loss[it - 1] * (1 + 1e-5))
            fprintf(stderr, "  iteration %d: loss %.6f after %.6f\n", it, m->iter_loss[it],
                    m->iter_loss[it - 1]);
    }
    CHECK(m->iter_loss[m->iterations - 1] < 0.5 * first);
    CHECK_NEAR(vt_ials_loss(m, ix), m->iter_loss[m->iterations - 1], 1e-3 * first);
    for (int it = 0; it < m->iterations; it++)
        CHECK(m->iter_seconds[it] >= 0);

    /* Block structure: each user's best unseen item is in their block, and
     * their mean score over their block's items beats the other block's. */
    float *s = malloc((size_t)NU * NI * sizeof *s);
    int32_t users[NU];
    for (int32_t u = 0; u < NU; u++)
        users[u] = u;
    CHECK_EQ_INT(vt_ials_score_users(m, users, NU, s), 0);
    CHECK(best_unseen_in_block(ix, s));
    for (int32_t u = 0; u < NU; u++) {
        double in = 0, outside = 0;
        for (int32_t i = 0; i < NI; i++)
            *(block_of_item(i) == block_of_user(u) ? &in : &outside) += s[(size_t)u * NI + i];
        if (!(in / (NI / 2) > outside / (NI / 2) + 0.1))
            fprintf(stderr, "  user %d: mean %.3f in block, %.3f outside\n", u, in / (NI / 2),
                    outside / (NI / 2));
        CHECK(in / (NI / 2) > outside / (NI / 2) + 0.1);
    }
    /* One user scored alone agrees with the batch. */
    float one[NI];
    vt_ials_score(m, m->user_f + 5 * 4, one);
    for (int32_t i = 0; i < NI; i++)
        CHECK_NEAR(one[i], s[5 * NI + i], 1e-5);
    free(s);

    /* Same seed, same model. */
    struct vt_ials *again = NULL;
    CHECK_EQ_INT(vt_ials_fit(ix, o, &again), 0);
    if (again)
        CHECK(memcmp(again->item_f, m->item_f, (size_t)NI * 4 * sizeof(float)) == 0);
    vt_ials_free(again);
    vt_ials_free(m);
    vt_interactions_free(ix);
}

TEST(ials_loss_falls_and_blocks_emerge) { check_ials_fit(&ials_opts); }

/* Regularisation in proportion to each row's data: the same guarantees. */
TEST(ials_scaled_regularisation)
{
    struct vt_ials_options o = ials_opts;
    o.reg_exponent = 1;
    check_ials_fit(&o);
}

static double correlation(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

TEST(ials_fold_in_matches_a_retrain)
{
    const int32_t who = 3;
    struct vt_interactions *all = blocks(-1), *without = blocks(who);
    struct vt_ials *full = NULL, *partial = NULL;
    CHECK_EQ_INT(vt_ials_fit(all, &ials_opts, &full), 0);
    CHECK_EQ_INT(vt_ials_fit(without, &ials_opts, &partial), 0);
    if (!full || !partial) {
        vt_ials_free(full);
        vt_ials_free(partial);
        vt_interactions_free(all);
        vt_interactions_free(without);
        return;
    }
    const int32_t *items = all->user_item + all->user_ptr[who];
    const float *w = all->user_w + all->user_ptr[who];
    size_t n = (size_t)vt_interactions_user_count(all, who);
    float x[4], s_fold[NI], s_full[NI];

    /* Into the model that saw the user: the same vector as training gave. */
    CHECK_EQ_INT(vt_ials_fold_in(full, items, w, n, x), 0);
    for (int a = 0; a < 4; a++)
        CHECK_NEAR(x[a], full->user_f[who * 4 + a], 1e-3);

    /* Into a model that never saw the user: scores agree with the full
     * retrain's for that user (correlation over the catalog), and the best
     * unseen item is in the user's block. */
    CHECK_EQ_INT(vt_ials_fold_in(partial, items, w, n, x), 0);
    vt_ials_score(partial, x, s_fold);
    vt_ials_score(full, full->user_f + who * 4, s_full);
    CHECK(correlation(s_fold, s_full, NI) > 0.97);
    int32_t top[1];
    size_t got = 0;
    CHECK_EQ_INT(vt_rank_top(s_fold, NI, items, n, 1, top, &got), 0);
    CHECK(got == 1 && block_of_item(top[0]) == block_of_user(who));

    /* No history: the zero vector. */
    CHECK_EQ_INT(vt_ials_fold_in(partial, NULL, NULL, 0, x), 0);
    for (int a = 0; a < 4; a++)
        CHECK_NEAR(x[a], 0.0, 0);

    vt_ials_free(full);
    vt_ials_free(partial);
    vt_interactions_free(all);
    vt_interactions_free(without);
}

TEST(ials_refuses_bad_options)
{
    struct vt_interactions *ix = blocks(-1);
    struct vt_ials *m = NULL;
    struct vt_ials_options o = ials_opts;
    o.factors = VT_IALS_MAX_FACTORS + 1;
    CHECK_EQ_INT(vt_ials_fit(ix, &o, &m), VT_EINVAL);
    o = ials_opts;
    o.lambda = -1;
    CHECK_EQ_INT(vt_ials_fit(ix, &o, &m), VT_EINVAL);
    CHECK(m == NULL);
    vt_interactions_free(ix);
}

/* ---- content ----------------------------------------------------------------------- */

TEST(content_profile_is_the_mean_direction)
{
    /* Items along x, y and the diagonal; a user of items 0 and 1 (equal
     * weights) points along the diagonal: item 2 scores 1, items 0 and 1
     * cos 45 degrees; item 3 has no vector and scores 0. */
    float v[4 * 2] = {3, 0, 0, 2, 1, 1, 0, 0};
    uint8_t has[4] = {1, 1, 1, 0};
    struct vt_content *m = NULL;
    CHECK_EQ_INT(vt_content_new(v, 4, 2, has, &m), 0);
    if (!m)
        return;
    int32_t h[2] = {0, 1};
    float p[2], s[4];
    CHECK_EQ_INT(vt_content_profile(m, h, NULL, 2, p), 1);
    vt_content_score(m, p, s);
    CHECK_NEAR(s[2], 1.0, 1e-6);
    CHECK_NEAR(s[0], sqrt(0.5), 1e-6);
    CHECK_NEAR(s[1], sqrt(0.5), 1e-6);
    CHECK_NEAR(s[3], 0.0, 0);
    int32_t none[1] = {3};
    CHECK_EQ_INT(vt_content_profile(m, none, NULL, 1, p), 0);
    vt_content_free(m);
}

/* ---- metrics ------------------------------------------------------------------------ */

TEST(top_k_breaks_ties_by_index_and_skips_excluded)
{
    float s[6] = {0.5f, 0.9f, 0.9f, NAN, 0.1f, 0.7f};
    int32_t ex[1] = {5}, out[10];
    size_t got = 0;
    CHECK_EQ_INT(vt_rank_top(s, 6, ex, 1, 4, out, &got), 0);
    CHECK_EQ_INT(got, 4);
    int32_t want[5] = {1, 2, 0, 4, 3};
    for (size_t k = 0; k < got; k++)
        CHECK_EQ_INT(out[k], want[k]);
    CHECK_EQ_INT(vt_rank_top(s, 6, ex, 1, 10, out, &got), 0);
    CHECK_EQ_INT(got, 5); /* NaN last, the excluded item not at all */
    CHECK_EQ_INT(out[4], 3);

    /* k beyond the on-stack heap, on a larger catalog. */
    enum { N = 1000 };
    float *big = malloc(N * sizeof *big);
    int32_t *o2 = malloc(N * sizeof *o2);
    for (int i = 0; i < N; i++)
        big[i] = (float)((i * 37) % N);
    CHECK_EQ_INT(vt_rank_top(big, N, NULL, 0, 300, o2, &got), 0);
    CHECK_EQ_INT(got, 300);
    for (size_t k = 0; k < got; k++)
        CHECK_NEAR(big[o2[k]], (double)(N - 1 - (int)k), 0);
    free(big);
    free(o2);
}

TEST(metrics_by_hand)
{
    /* ranked 5 3 8 1 9, positives {3, 7, 9}: rel = 0 1 0 0 1.
     * k = 5: m = min(5, 3) = 3.
     *   Recall = 2 / 3.
     *   DCG = 1/log2(3) + 1/log2(6) = 0.6309298 + 0.3868528 = 1.0177826;
     *   IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.1309298; NDCG = 0.4776237.
     *   AP = (P@2 + P@5) / 3 = (1/2 + 2/5) / 3 = 0.3.
     * k = 2: m = 2. Recall = 1/2; NDCG = 0.6309298 / 1.6309298 = 0.3868528;
     *   AP = (1/2) / 2 = 0.25.
     * k = 1: nothing. */
    int32_t r[5] = {5, 3, 8, 1, 9}, pos[3] = {3, 7, 9};
    CHECK_NEAR(vt_metric_recall(r, 5, pos, 3, 5), 2.0 / 3, 1e-12);
    CHECK_NEAR(vt_metric_ndcg(r, 5, pos, 3, 5), 0.4776237, 1e-7);
    CHECK_NEAR(vt_metric_ap(r, 5, pos, 3, 5), 0.3, 1e-12);
    CHECK_NEAR(vt_metric_recall(r, 5, pos, 3, 2), 0.5, 1e-12);
    CHECK_NEAR(vt_metric_ndcg(r, 5, pos, 3, 2), 0.3868528, 1e-7);
    CHECK_NEAR(vt_metric_ap(r, 5, pos, 3, 2), 0.25, 1e-12);
    CHECK_NEAR(vt_metric_recall(r, 5, pos, 3, 1), 0.0, 0);
    CHECK_NEAR(vt_metric_ndcg(r, 5, pos, 3, 1), 0.0, 0);
    /* A list of 3 cut at k = 5: the missing places are misses. */
    CHECK_NEAR(vt_metric_recall(r, 3, pos, 3, 5), 1.0 / 3, 1e-12);
    /* A perfect list scores 1 even with more positives than k: positives
     * {1, 3, 5, 8, 9}, k = 2, list 5 3. */
    int32_t many[5] = {1, 3, 5, 8, 9};
    CHECK_NEAR(vt_metric_recall(r, 5, many, 5, 2), 1.0, 1e-12);
    CHECK_NEAR(vt_metric_ndcg(r, 5, many, 5, 2), 1.0, 1e-12);
    CHECK_NEAR(vt_metric_ap(r, 5, many, 5, 2), 1.0, 1e-12);
    /* No positives: 0, not a division by zero. */
    CHECK_NEAR(vt_metric_ndcg(r, 5, pos, 0, 5), 0.0, 0);

    /* Coverage: top-2 lists {5, 3} and {3, 1} in a catalog of 10 = 3/10. */
    struct vt_coverage c;
    CHECK_EQ_INT(vt_coverage_init(&c, 10), 0);
    int32_t l1[3] = {5, 3, 8}, l2[2] = {3, 1};
    vt_coverage_add(&c, l1, 3, 2);
    vt_coverage_add(&c, l2, 2, 2);
    CHECK_NEAR(vt_coverage_value(&c), 0.3, 1e-12);
    vt_coverage_reset(&c);
}

TEST(metrics_means_over_users)
{
    /* User A: the list above (k = 5: recall 2/3, NDCG 0.4776237, AP 0.3;
     * k = 2: 0.5, 0.3868528, 0.25). User B: list 1 3 5, positives
     * {1, 3, 5, 8, 9}. k = 2: all three 1. k = 5: m = 5, hits 3: recall
     * 0.6; DCG = 1 + 0.6309298 + 0.5 = 2.1309298, IDCG = 2.9484591, NDCG
     * 0.7227266; AP = (1 + 1 + 1) / 5 = 0.6.
     * Means, k = 5: recall 0.6333333, NDCG 0.6001751, MAP 0.45; k = 2:
     * 0.75, 0.6934264, 0.625. Coverage in 10 items: top 2 {5, 3} and {1, 3}
     * = 0.3; top 5 {5, 3, 8, 1, 9} and {1, 3, 5} = 0.5. Cut-offs 5, 2, 5
     * become 2, 5. */
    int32_t ra[5] = {5, 3, 8, 1, 9}, pa[3] = {3, 7, 9};
    int32_t rb[3] = {1, 3, 5}, pb[5] = {1, 3, 5, 8, 9};
    size_t cuts[3] = {5, 2, 5};
    struct vt_metrics_acc a;
    CHECK_EQ_INT(vt_metrics_acc_init(&a, cuts, 3, 10), 0);
    CHECK_EQ_INT(a.ncuts, 2);
    CHECK_EQ_INT(a.cuts[0], 2);
    CHECK_EQ_INT(vt_metrics_acc_cut(&a, 5), 1);
    CHECK_EQ_INT(vt_metrics_acc_cut(&a, 10), -1);
    vt_metrics_acc_add(&a, ra, 5, pa, 3);
    vt_metrics_acc_add(&a, rb, 3, pb, 5);
    vt_metrics_acc_finish(&a);
    CHECK_EQ_INT(a.users, 2);
    CHECK_NEAR(a.recall[1], 0.6333333, 1e-7);
    CHECK_NEAR(a.ndcg[1], 0.6001751, 1e-7);
    CHECK_NEAR(a.map[1], 0.45, 1e-12);
    CHECK_NEAR(a.coverage[1], 0.5, 1e-12);
    CHECK_NEAR(a.recall[0], 0.75, 1e-12);
    CHECK_NEAR(a.ndcg[0], 0.6934264, 1e-7);
    CHECK_NEAR(a.map[0], 0.625, 1e-12);
    CHECK_NEAR(a.coverage[0], 0.3, 1e-12);
    vt_metrics_acc_reset(&a);
    size_t zero = 0;
    CHECK_EQ_INT(vt_metrics_acc_init(&a, &zero, 1, 10), VT_EINVAL);
}

TEST(bm25_and_history_reshape_weights)
{
    /* User 0 has 1 entry, user 1 has 3: mean 2. With k1 = 1.2, b = 0.75:
     * user 0: 1 * 2.2 / (1 + 1.2 (0.25 + 0.75 * 0.5)) = 2.2 / 1.75
     *   = 1.2571429; user 1: 2.2 / (1 + 1.2 (0.25 + 0.75 * 1.5)) = 2.2 / 2.65
     *   = 0.8301887. */
    struct vt_triplet t[] = {{0, 0, 1, 0}, {1, 0, 1, 0}, {1, 1, 1, DAY_MS}, {1, 2, 1, 2 * DAY_MS}};
    struct vt_interactions *ix = NULL, *b = NULL;
    CHECK_EQ_INT(vt_interactions_build(2, 3, t, 4, NULL, &ix), 0);
    CHECK_EQ_INT(vt_interactions_bm25(ix, 1.2f, 0.75f, &b), 0);
    if (b) {
        CHECK_NEAR(b->user_w[0], 1.2571429, 1e-6);
        CHECK_NEAR(b->user_w[1], 0.8301887, 1e-6);
        /* By item: item 0 holds users 0 then 1. */
        CHECK_NEAR(b->item_w[0], 1.2571429, 1e-6);
        CHECK_NEAR(b->item_w[1], 0.8301887, 1e-6);
        CHECK_NEAR(ix->user_w[1], 1.0, 0); /* the original is untouched */
    }
    CHECK_EQ_INT(vt_interactions_bm25(ix, 0, 0.75f, &b), VT_EINVAL);
    /* User 1's history with a one-day half-life: 1/4, 1/2, 1. */
    const int32_t *items;
    float w[3];
    CHECK_EQ_INT(vt_interactions_history(ix, 1, 1, &items, w), 3);
    CHECK_EQ_INT(items[0], 0);
    CHECK_NEAR(w[0], 0.25, 1e-6);
    CHECK_NEAR(w[1], 0.5, 1e-6);
    CHECK_NEAR(w[2], 1.0, 1e-6);
    vt_interactions_free(b);
    vt_interactions_free(ix);
}

int main(void)
{
    RUN(idmap_numbers_ids_in_order);
    RUN(event_weights_follow_the_types);
    RUN(matrix_sums_pairs_and_drops_dislikes);
    RUN(pop_orders_by_users_then_by_recency);
    RUN(itemknn_cosines_by_hand);
    RUN(itemknn_bm25_discounts_heavy_users);
    RUN(itemknn_stays_in_block);
    RUN(ials_loss_falls_and_blocks_emerge);
    RUN(ials_scaled_regularisation);
    RUN(ials_fold_in_matches_a_retrain);
    RUN(ials_refuses_bad_options);
    RUN(content_profile_is_the_mean_direction);
    RUN(top_k_breaks_ties_by_index_and_skips_excluded);
    RUN(metrics_by_hand);
    RUN(metrics_means_over_users);
    RUN(bm25_and_history_reshape_weights);
    return TEST_SUMMARY();
}
