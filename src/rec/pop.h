/*
 * pop.h - popularity and trending: the recommender of last resort, which
 * needs no history from the shopper and never returns an empty list while
 * the catalog has items.
 *
 * An item's score is the sum over the users who interacted with it of
 * either 1 (o.weighted = 0: how many people) or the pair's weight
 * (o.weighted = 1: how strongly), each multiplied, when a half-life is
 * given, by 2^(-age / half-life), age being the time from the pair's last
 * event to o.now_ms. With a half-life this is "trending": a burst of
 * interest this week outranks a steady trickle over years. Items are also
 * ranked within each category.
 *
 * Order: score descending, ties by item index ascending (deterministic).
 *
 * Ownership: vt_pop_fit's result is freed by vt_pop_free (NULL is a
 * no-op). A fitted model is read-only and may be shared between threads.
 */
#ifndef VT_REC_POP_H
#define VT_REC_POP_H

#include <stddef.h>
#include <stdint.h>

#include "rec/interactions.h"

struct vt_pop_options {
    double half_life_days; /* 0: plain counts, no decay */
    int64_t now_ms;        /* time decay is measured to; 0 = the matrix's last event */
    int weighted;          /* 1: sum of weights; 0: each user counts one */
};

struct vt_pop {
    int32_t nitems, ncategories;
    float *score;     /* nitems */
    int32_t *order;   /* nitems: every item, best first */
    /* items of category c, best first: cat_order[cat_ptr[c] .. cat_ptr[c + 1]) */
    int32_t *cat_ptr; /* ncategories + 1 */
    int32_t *cat_order;
};

/* Fit on ix. item_category (may be NULL) gives each item's category in
 * 0..ncategories-1, or -1 for none. o may be NULL (plain counts). Returns
 * 0, VT_EINVAL (a category out of range) or VT_ENOMEM. */
int vt_pop_fit(const struct vt_interactions *ix, const int32_t *item_category,
               int32_t ncategories, const struct vt_pop_options *o, struct vt_pop **out);
void vt_pop_free(struct vt_pop *p);

/* Trending as one shopper sees it at now_ms: scores[0..nitems) as above,
 * counting only pairs whose last event is at or before now_ms (what had
 * happened by then), with o.now_ms ignored. For a recommendation made at a
 * given moment (vitrine eval: each user's last training event). */
void vt_pop_scores_at(const struct vt_interactions *ix, const struct vt_pop_options *o,
                      int64_t now_ms, float *scores);

/* The n best items of a category (-1: of the whole catalog) into out,
 * skipping the nexclude indexes of exclude (ascending: a user's row of the
 * matrix). Returns how many were written (fewer than n only when the
 * category runs out). */
size_t vt_pop_top(const struct vt_pop *p, int32_t category, const int32_t *exclude,
                  size_t nexclude, size_t n, int32_t *out);

#endif
