/*
 * metrics.h - ranking quality measures of offline evaluation, and the
 * top-k selection they are computed on.
 *
 * For one user with a ranked list r_1, r_2, ... and a set P of relevant
 * (held-out positive) items, rel_i = 1 when r_i is in P, else 0, and
 * m = min(k, |P|), the most hits a list of k can hold:
 *   Recall@k = (sum_{i<=k} rel_i) / m
 *   NDCG@k   = DCG@k / IDCG@k, DCG@k = sum_{i<=k} rel_i / log2(i + 1),
 *              IDCG@k = sum_{i<=m} 1 / log2(i + 1) (binary gains)
 *   AP@k     = (1/m) sum_{i<=k} P@i * rel_i, P@i = (sum_{j<=i} rel_j) / i
 *   MAP@k    = the mean of AP@k over users
 * Recall and AP divide by m rather than |P|, so a perfect list scores 1
 * even for a user with more positives than k. A user with no positives
 * is not evaluated (the functions return 0 for P empty). A list shorter
 * than k counts the missing places as misses.
 *   Coverage@k = distinct items in all users' top-k / catalog size.
 * docs/evaluation.md states the same definitions; reference/ computes them
 * independently.
 *
 * Thread-safety: the functions keep no state; a struct vt_coverage has one
 * owner.
 */
#ifndef VT_REC_METRICS_H
#define VT_REC_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* The k best of nitems scores into out, best first: score descending, ties
 * by index ascending; NaN ranks last. Items listed in exclude (nexclude
 * indexes, ascending) are skipped. *nout gets how many were written:
 * min(k, nitems - excluded). Returns 0, or VT_ENOMEM (k over 256 needs a
 * heap allocation). */
int vt_rank_top(const float *scores, int32_t nitems, const int32_t *exclude, size_t nexclude,
                size_t k, int32_t *out, size_t *nout);

/* The measures above for one user. ranked holds nranked items, best first;
 * pos holds npos distinct items, ascending. */
double vt_metric_recall(const int32_t *ranked, size_t nranked, const int32_t *pos, size_t npos,
                        size_t k);
double vt_metric_ndcg(const int32_t *ranked, size_t nranked, const int32_t *pos, size_t npos,
                      size_t k);
double vt_metric_ap(const int32_t *ranked, size_t nranked, const int32_t *pos, size_t npos,
                    size_t k);

/* Distinct items seen in top-k lists. */
struct vt_coverage {
    int32_t nitems;
    int64_t distinct;
    uint8_t *seen; /* nitems */
};
/* Returns 0 or VT_ENOMEM. */
int vt_coverage_init(struct vt_coverage *c, int32_t nitems);
void vt_coverage_reset(struct vt_coverage *c);
/* Count the first min(k, n) items of a list. */
void vt_coverage_add(struct vt_coverage *c, const int32_t *ranked, size_t n, size_t k);
/* distinct / nitems (0 for an empty catalog). */
double vt_coverage_value(const struct vt_coverage *c);

/* ---- means over users at several cut-offs -------------------------------- */

#define VT_METRICS_MAX_CUTS 8

/* Sums while users are added; after vt_metrics_acc_finish the arrays hold
 * the means over the users added (and the coverage fractions). */
struct vt_metrics_acc {
    size_t cuts[VT_METRICS_MAX_CUTS]; /* ascending, distinct */
    int ncuts;
    size_t users;
    double recall[VT_METRICS_MAX_CUTS], ndcg[VT_METRICS_MAX_CUTS], map[VT_METRICS_MAX_CUTS],
        coverage[VT_METRICS_MAX_CUTS];
    struct vt_coverage cov[VT_METRICS_MAX_CUTS];
};

/* Cut-offs may come in any order and repeat (at most VT_METRICS_MAX_CUTS
 * given, each >= 1). Returns 0, VT_EINVAL or VT_ENOMEM (then a is reset). */
int vt_metrics_acc_init(struct vt_metrics_acc *a, const size_t *cuts, int ncuts,
                        int32_t nitems);
/* One user's ranked list (best first) and positives (ascending). */
void vt_metrics_acc_add(struct vt_metrics_acc *a, const int32_t *ranked, size_t nranked,
                        const int32_t *pos, size_t npos);
/* Turn the sums into means and fractions; frees the coverage sets. */
void vt_metrics_acc_finish(struct vt_metrics_acc *a);
/* Frees what init allocated (a finished accumulator holds nothing). */
void vt_metrics_acc_reset(struct vt_metrics_acc *a);
/* The index of cut-off k in a->cuts, or -1. */
int vt_metrics_acc_cut(const struct vt_metrics_acc *a, size_t k);

#endif
