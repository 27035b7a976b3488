/*
 * ranker.h - the learned scorer of recommendation candidates.
 *
 * Form (docs/ranker.md): a candidate's features are split in two groups,
 * interest features x (similarity to the shopper's text and session, CF
 * scores, popularity, recency, price fit, ...) and AR features y (the
 * shopper's AR engagement with the item and with its neighbours, the
 * item's AR engagement across shoppers, ...). Then
 *
 *     z = sigma(w . x + b)          interest
 *     a = sigma(v . y + c)          AR affinity
 *     p = sigma(alpha z + beta a + d)
 *
 * and p, the probability that the shopper engages with the item once it
 * is shown, orders the list. Every parameter (w, b, v, c, alpha, beta, d)
 * is learned by minimising the log loss of logged impressions and what
 * followed them, with L2 regularisation; nothing is hand-set except the
 * prior the model starts from before it has seen any data (its values and
 * why are in docs/ranker.md), under which more interest and more AR
 * engagement both raise p. Features are expected already scaled to about
 * [-1, 1] or [0, 1] (features.c does it); a non-finite feature counts as
 * 0 and any feature is clamped to +-100, so no input makes p NaN.
 *
 * Ownership: _new/_copy/_train/_from_json results are freed with
 * vt_ranker_free (NULL is a no-op); json results are new references.
 * Thread-safety: a model is plain data; concurrent vt_ranker_score calls
 * are safe, vt_ranker_sgd needs exclusive use (the engine holds a lock).
 */
#ifndef VT_REC_RANKER_H
#define VT_REC_RANKER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define VT_RANKER_MAX_FEATURES 32

struct vt_ranker;

/* A model over nx interest and ny AR features (names copied; used in JSON
 * and in reasons), at its prior. nx + ny <= VT_RANKER_MAX_FEATURES, each at
 * least 1; names non-empty, at most 63 bytes and distinct. Returns 0,
 * VT_EINVAL or VT_ENOMEM. */
int vt_ranker_new(const char *const *x_names, size_t nx, const char *const *y_names, size_t ny,
                  struct vt_ranker **out);
void vt_ranker_free(struct vt_ranker *m);
int vt_ranker_copy(const struct vt_ranker *m, struct vt_ranker **out);
size_t vt_ranker_nx(const struct vt_ranker *m);
size_t vt_ranker_ny(const struct vt_ranker *m);

/* p for features f[0..nx) interest then f[nx..nx+ny) AR; *z and *a (may be
 * NULL) get the two inner scores. */
double vt_ranker_score(const struct vt_ranker *m, const float *f, double *z, double *a);
/* How much each feature moved the final logit from the value it has at
 * f = 0, for reasons: contrib[0..nx+ny). Each group's inner logit moves by
 * exactly w_i x_i; the chain rule carries that through the group's sigmoid
 * at its mean slope between f = 0 and f, and the outer weight, so the
 * contributions add up to logit(p(f)) - logit(p(0)) exactly (and are the
 * first-order terms for small f). */
void vt_ranker_contrib(const struct vt_ranker *m, const float *f, float *contrib);

/* One example: features, label (1 engaged, 0 not) and a weight. */
struct vt_rank_example {
    const float *f;  /* nx + ny features */
    float label;     /* 0 or 1 (values between are allowed: soft labels) */
    float weight;    /* > 0 */
};

/* One online step of stochastic gradient descent on one example (weighted
 * log loss, L2 1e-4 on the weights, alpha and beta); increments
 * meta.online_updates. An example with a weight <= 0 or a non-finite
 * label or weight is ignored; weights above 100 count as 100. */
void vt_ranker_sgd(struct vt_ranker *m, const struct vt_rank_example *ex, float learning_rate);

struct vt_ranker_train_options {
    int epochs;          /* 0 = 20 */
    float learning_rate; /* 0 = 0.05 */
    float l2;            /* 0 = 1e-4 */
    uint64_t seed;       /* example order */
};

/* Held-out quality of a model. */
struct vt_ranker_eval {
    size_t examples, positives;
    double logloss;  /* mean weighted log loss */
    double auc;      /* ROC AUC (0.5 when one class is missing) */
};

/* Train a copy of start on ex[0..n) (Adagrad, shuffled epochs in an order
 * fixed by o->seed; o may be NULL for the defaults). To train from the
 * prior, pass a model fresh from vt_ranker_new. Sets meta.trained_ms,
 * training_seconds and train_examples, zeroes online_updates and
 * validation, keeps version. Returns 0, VT_EINVAL (start or ex NULL, no
 * usable example) or VT_ENOMEM. */
int vt_ranker_train(const struct vt_ranker *start, const struct vt_rank_example *ex, size_t n,
                    const struct vt_ranker_train_options *o, struct vt_ranker **out);
/* Weighted log loss and weighted AUC (a label >= 0.5 is a positive; ties
 * count one half) of m on ex[0..n); unusable examples are left out. auc is
 * NaN when memory ran out. */
void vt_ranker_evaluate(const struct vt_ranker *m, const struct vt_rank_example *ex, size_t n,
                        struct vt_ranker_eval *out);

/* Metadata kept with a model (shown by GET /v1/model). */
struct vt_ranker_meta {
    int64_t trained_ms;         /* 0: never trained (the prior) */
    double training_seconds;
    size_t train_examples;
    struct vt_ranker_eval validation;
    uint64_t online_updates;    /* SGD steps since trained_ms */
    uint64_t version;           /* increases with every swap */
};
struct vt_ranker_meta *vt_ranker_meta(struct vt_ranker *m);
const struct vt_ranker_meta *vt_ranker_meta_const(const struct vt_ranker *m);

/* {"form", "interest": {"bias", "weights": {name: w}}, "ar": {...},
 *  "alpha", "beta", "bias", "meta": {...}} */
json_t *vt_ranker_to_json(const struct vt_ranker *m);
/* The inverse, exact to the bit; feature names must match exactly those
 * given (a model saved with other features is refused: VT_EFORMAT, naming
 * the feature). j is outside bytes: any other damage (missing members,
 * non-numbers, values beyond +-1e6, negative counts) is VT_EFORMAT with
 * err->field and a message, never a crash. "meta" may be absent. Invalid
 * names given by the caller are VT_EINVAL. */
int vt_ranker_from_json(const json_t *j, const char *const *x_names, size_t nx,
                        const char *const *y_names, size_t ny, struct vt_ranker **out,
                        struct vt_error *err);

#endif
