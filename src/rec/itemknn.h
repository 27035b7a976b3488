/*
 * itemknn.h - item-to-item collaborative filtering: items are similar when
 * the same people engage with both.
 *
 * Fit: each entry's weight w (user u, item i) is first optionally reshaped
 * BM25-style, with users as the documents (vt_interactions_bm25):
 *     w' = w (k1 + 1) / (w + k1 (1 - b + b n_u / mean n))
 * (n_u = u's number of items), which saturates repeated events and makes
 * a user who touched thousands of items count for less than one who chose
 * a few. Then
 *     sim(i, j) = sum_u w'_ui w'_uj / (|i| |j| + shrink)
 * where |i| is the norm of item i's weight column: the cosine, pulled
 * towards zero for pairs seen together by few people when shrink > 0.
 * Only each item's `neighbours` most similar other items are kept (a
 * sparse matrix, best first).
 *
 * Scoring a user: score(j) = sum over their items i of w_ui sim(i, j),
 * from any list of (item, weight), so a shopper whose history is only a
 * session's events is scored without a refit.
 *
 * Cost of a fit: sum over users of n_u^2 multiply-adds, split across the
 * shared thread pool (core/pool.h).
 *
 * Ownership: vt_itemknn_fit's result is freed by vt_itemknn_free (NULL is
 * a no-op). A fitted model is read-only and may be shared between threads.
 */
#ifndef VT_REC_ITEMKNN_H
#define VT_REC_ITEMKNN_H

#include <stddef.h>
#include <stdint.h>

#include "rec/interactions.h"

struct vt_itemknn_options {
    int32_t neighbours;   /* kept per item (0 = 100) */
    float shrink;         /* >= 0 */
    int bm25;             /* 1: reshape weights as above */
    float k1, b;          /* BM25 parameters (used when bm25; both 0 = 1.2, 0.75) */
    const char *progress; /* label of a progress bar on stderr, or NULL */
};

struct vt_itemknn {
    int32_t nitems;
    /* neighbours of item i: nb[ptr[i] .. ptr[i + 1]), best first */
    int64_t *ptr; /* nitems + 1 */
    int32_t *nb;
    float *sim;
};

/* Returns 0, VT_EINVAL (a negative shrink or neighbours, BM25 parameters
 * out of range), VT_ETOOBIG or VT_ENOMEM. */
int vt_itemknn_fit(const struct vt_interactions *ix, const struct vt_itemknn_options *o,
                   struct vt_itemknn **out);
void vt_itemknn_free(struct vt_itemknn *m);

/* scores[0..nitems) = the scores of a user whose history is n (item,
 * weight) pairs; items out of range are ignored. */
void vt_itemknn_score(const struct vt_itemknn *m, const int32_t *items, const float *w,
                      size_t n, float *scores);

#endif
