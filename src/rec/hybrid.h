/*
 * hybrid.h - a blend of recommenders' scores.
 *
 * Scores of different models live on different scales (iALS predicts
 * about 0..1, item-item sums cosines, popularity counts people), so each
 * source is first standardised over the items that may be recommended
 * (those not excluded): z = (s - mean) / standard deviation, a constant
 * source becoming all zeros. The blend is sum_m weight_m z_m. Weights are
 * chosen by the caller (vitrine eval tunes them on a validation slice).
 *
 * Thread-safety: no state.
 */
#ifndef VT_REC_HYBRID_H
#define VT_REC_HYBRID_H

#include <stddef.h>
#include <stdint.h>

/* out[0..nitems) = the blend of nsrc score arrays (each nitems long) with
 * the given weights; items listed in exclude (ascending) get -INFINITY and
 * do not enter the means. out may not alias a source. */
void vt_hybrid_blend(const float *const *scores, const float *weights, size_t nsrc,
                     int32_t nitems, const int32_t *exclude, size_t nexclude, float *out);

#endif
