/*
 * interactions.h - the user x item interaction matrix the recommenders
 * learn from, the maps between ids and dense indexes, and the weight of an
 * event.
 *
 * Users and items are numbered 0..n-1 by a struct vt_idmap (the order ids
 * were first added). The matrix holds one entry per (user, item) pair that
 * has a positive total weight: the sum of the weights of the pair's events
 * (confidence, in iALS terms), with the time of the pair's last event. It
 * is kept twice, by user (CSR: a user's items in ascending index order) and
 * by item (CSC: an item's users in ascending index order), with int32
 * indexes and float weights. A pair whose events sum to zero or less (a
 * dismiss outweighing a view) is not an entry: the models here read
 * presence and strength of interest, not dislike.
 *
 * Event weights come from the configuration keys weight.<type>: an event
 * of weight w and value v counts w * v (value is a count, a quantity or
 * seconds), except a rating, which counts w * (v - 2.5) (stars above the
 * middle of the scale count for, below against).
 *
 * Ownership: every _new/_build result is freed by its _free (NULL is a
 * no-op). Thread-safety: a built matrix and a filled idmap are read-only
 * and may be shared between threads; building and adding are not
 * thread-safe.
 */
#ifndef VT_REC_INTERACTIONS_H
#define VT_REC_INTERACTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "store/record.h"

#define VT_REC_MAX_INDEX (INT32_MAX - 1) /* most users or items in a matrix */

/* ---- ids <-> indexes ------------------------------------------------- */

struct vt_idmap;

int vt_idmap_new(struct vt_idmap **out);
void vt_idmap_free(struct vt_idmap *m);
/* The index of id, adding it (with the next index) when new; *created (may
 * be NULL) tells which. The map keeps its own copy of id. Returns 0,
 * VT_ENOMEM, or VT_ETOOBIG past VT_REC_MAX_INDEX ids. */
int vt_idmap_put(struct vt_idmap *m, const char *id, int32_t *index, int *created);
/* The index of id, or -1 when absent. */
int32_t vt_idmap_get(const struct vt_idmap *m, const char *id);
/* The id of index (0 <= index < count); owned by the map. */
const char *vt_idmap_id(const struct vt_idmap *m, int32_t index);
int32_t vt_idmap_count(const struct vt_idmap *m);

/* ---- event weights --------------------------------------------------- */

struct vt_event_weights {
    double w[VT_EV_COUNT];
};

/* Read weight.<type> for every event type. */
void vt_event_weights_from_conf(const struct vt_conf *c, struct vt_event_weights *out);
/* The weight one event of this type and value counts (see above). */
double vt_event_weight(const struct vt_event_weights *w, int type, double value);

/* ---- the matrix ------------------------------------------------------ */

/* One event's contribution, as the caller gathered it. */
struct vt_triplet {
    int32_t user, item;
    float w;       /* may be negative */
    int64_t ts_ms; /* event time */
};

struct vt_interactions_options {
    /* When > 0, an entry's weight is multiplied by 2^(-age / half-life),
     * age being the time from the pair's last event to the user's last
     * event: what a user did recently counts more than what they did
     * long ago. 0 leaves weights as summed. */
    double user_half_life_days;
};

struct vt_interactions {
    int32_t nusers, nitems;
    int64_t nnz;
    /* by user: entries of user u are [user_ptr[u], user_ptr[u + 1]) */
    int64_t *user_ptr;   /* nusers + 1 */
    int32_t *user_item;  /* nnz, ascending within a user */
    float *user_w;       /* nnz, > 0 */
    int64_t *user_ts;    /* nnz: time of the pair's last event, ms */
    /* by item: entries of item i are [item_ptr[i], item_ptr[i + 1]) */
    int64_t *item_ptr;   /* nitems + 1 */
    int32_t *item_user;  /* nnz, ascending within an item */
    float *item_w;       /* nnz, the same weights as by user */
    int64_t *item_ts;    /* nnz, the same times as by user */
    int64_t *user_last_ms; /* nusers: time of the user's last event (any
                              weight), INT64_MIN when they have none */
    int64_t last_ms;       /* the latest event time of all, INT64_MIN if none */
};

/* Build from n triplets over nusers x nitems (every index must lie in
 * range: VT_EINVAL otherwise). Triplets of one pair are summed; o may be
 * NULL. Returns 0, VT_EINVAL, VT_ETOOBIG or VT_ENOMEM. */
int vt_interactions_build(int32_t nusers, int32_t nitems, const struct vt_triplet *t, size_t n,
                          const struct vt_interactions_options *o,
                          struct vt_interactions **out);
void vt_interactions_free(struct vt_interactions *ix);

/* Number of entries of a user / an item. */
static inline int64_t vt_interactions_user_count(const struct vt_interactions *ix, int32_t u)
{
    return ix->user_ptr[u + 1] - ix->user_ptr[u];
}
static inline int64_t vt_interactions_item_count(const struct vt_interactions *ix, int32_t i)
{
    return ix->item_ptr[i + 1] - ix->item_ptr[i];
}

/* User u's entries as (item, weight) for scoring: *items points into the
 * matrix, w (room for the user's count) gets the weights, each multiplied
 * by 2^(-age / half-life) when half_life_days > 0, age being the time from
 * the entry's last event to the user's last event. Returns the count. */
size_t vt_interactions_history(const struct vt_interactions *ix, int32_t u,
                               double half_life_days, const int32_t **items, float *w);

/* A copy of ix with every weight reshaped BM25-style, users being the
 * documents: w' = w (k1 + 1) / (w + k1 (1 - b + b n_u / mean n)), n_u the
 * user's number of entries. Repeated events saturate, and a user who
 * touched thousands of items counts for less per item than one who chose
 * a few. k1 > 0, 0 <= b <= 1. Returns 0, VT_EINVAL or VT_ENOMEM. */
int vt_interactions_bm25(const struct vt_interactions *ix, float k1, float b,
                         struct vt_interactions **out);

/* Bytes held by the matrix. */
size_t vt_interactions_bytes(const struct vt_interactions *ix);

#endif
