/*
 * ials.h - implicit-feedback matrix factorisation (Hu, Koren and Volinsky's
 * weighted ALS), each row solved by a few conjugate-gradient steps (the
 * approach of Takacs, Pilaszy and Tikk).
 *
 * Every user u and item i gets a vector of `factors` numbers, x_u and y_i,
 * chosen to minimise
 *     L = sum over all (u, i) of c_ui (p_ui - x_u . y_i)^2
 *         + sum_u lambda_u |x_u|^2 + sum_i lambda_i |y_i|^2
 * where p_ui = 1 and c_ui = 1 + alpha w_ui when the matrix has an entry of
 * weight w_ui, else p_ui = 0 and c_ui = 1: everything a user did not touch
 * counts as a weak "no", what they did as a "yes" as confident as its
 * events are strong. lambda_r = lambda (n_r / mean n)^reg_exponent, n_r
 * being the row's number of entries and mean n the mean over the non-empty
 * rows of its side: with reg_exponent = 0 every row gets lambda (the
 * original form), with 1 a row is regularised in proportion to its data
 * (as in weighted-lambda ALS), so heavy users and popular items are not
 * under-regularised.
 *
 * Alternating: with the item vectors fixed, each user's best x_u solves
 *     (Y'Y + sum_{i in u} alpha w_ui y_i y_i' + lambda_u I) x_u
 *         = sum_{i in u} (1 + alpha w_ui) y_i
 * Y'Y (factors x factors) is computed once per half-step with the GEMM
 * kernel, so a row costs O(factors^2 + n_u factors) per CG step instead of
 * the O(factors^3) of a direct solve; starting each row from its previous
 * vector, cg_steps = 3 is enough. One iteration solves every item (users
 * fixed), then every user (items fixed), rows spread over the shared thread
 * pool. Solving users last means the stored user vectors are fitted to the
 * final item vectors, as a fold-in is.
 *
 * Fold-in: a user the model has not seen (or whose events changed) gets
 * x_u from the same equation with the items fixed, solved by CG from zero
 * to convergence, without a retrain.
 *
 * Initial vectors are drawn from a seeded generator (same seed, same
 * data, same thread count: the same model; the thread count changes only
 * the float summation order inside the GEMM kernel).
 *
 * Ownership: vt_ials_fit's result is freed by vt_ials_free (NULL is a
 * no-op). A fitted model is read-only and may be shared between threads.
 */
#ifndef VT_REC_IALS_H
#define VT_REC_IALS_H

#include <stddef.h>
#include <stdint.h>

#include "rec/interactions.h"

#define VT_IALS_MAX_FACTORS 1024

struct vt_ials_options {
    int32_t factors;      /* 1..VT_IALS_MAX_FACTORS (0 = 64) */
    float lambda;         /* >= 0 */
    float alpha;          /* >= 0 */
    float reg_exponent;   /* 0..4 (0: the same lambda for every row) */
    int iterations;       /* 0 = 15 */
    int cg_steps;         /* per row and half-step (0 = 3) */
    uint64_t seed;
    float init_scale;     /* standard deviation of initial values (0 = 0.01) */
    int compute_loss;     /* 1: record L after every iteration (not timed) */
    const char *progress; /* label of a progress bar on stderr, or NULL */
};

struct vt_ials {
    int32_t nusers, nitems, factors;
    float lambda, alpha, reg_exponent;
    double user_reg_mean; /* mean entries per user with any, for fold-in */
    float *user_f;    /* nusers x factors, row-major */
    float *item_f;    /* nitems x factors */
    float *item_gram; /* factors x factors: Y'Y of item_f, for fold-in */
    int iterations;
    double *iter_seconds; /* per iteration: time of the two half-steps */
    double *iter_loss;    /* per iteration: L, or NAN when not computed */
};

/* Returns 0, VT_EINVAL (an option out of range) or VT_ENOMEM. */
int vt_ials_fit(const struct vt_interactions *ix, const struct vt_ials_options *o,
                struct vt_ials **out);
void vt_ials_free(struct vt_ials *m);

/* The loss L of the model on ix (the matrix it was fitted on); NAN when
 * out of memory. */
double vt_ials_loss(const struct vt_ials *m, const struct vt_interactions *ix);

/* x (factors floats) = the vector of a user whose history is n (item,
 * weight) pairs (w NULL: all weights 1); items out of range are ignored.
 * Returns 0 or VT_ENOMEM. */
int vt_ials_fold_in(const struct vt_ials *m, const int32_t *items, const float *w, size_t n,
                    float *x);

/* scores[0..nitems) = x . y_i. */
void vt_ials_score(const struct vt_ials *m, const float *x, float *scores);
/* scores[k * nitems + i] = x_users[k] . y_i for n users at once (the GEMM
 * kernel). Returns 0 or VT_ENOMEM. */
int vt_ials_score_users(const struct vt_ials *m, const int32_t *users, size_t n, float *scores);

#endif
