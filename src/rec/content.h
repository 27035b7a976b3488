/*
 * content.h - the content recommender: items like the ones a shopper
 * engaged with, by what the items are (their text's embeddings), not by
 * who else engaged with them. It needs no other shopper's events, so a new
 * item is recommendable from its first minute.
 *
 * A user's profile is the weighted mean of the L2-normalised vectors of
 * their items (weights as in the interaction matrix); an item's score is
 * the cosine between its vector and the profile. Items without a vector
 * score 0 and are left out of profiles.
 *
 * Ownership: vt_content_new copies the vectors; the model is freed by
 * vt_content_free (NULL is a no-op). A model is read-only and may be
 * shared between threads.
 */
#ifndef VT_REC_CONTENT_H
#define VT_REC_CONTENT_H

#include <stddef.h>
#include <stdint.h>

struct vt_content {
    int32_t nitems;
    size_t dim;
    float *vec;      /* nitems x dim, L2-normalised; zero rows for no vector */
    uint8_t *has;    /* nitems: 1 when the item has a vector */
};

/* vectors: nitems x dim floats; has (may be NULL: every item) marks the
 * rows that hold a vector. Returns 0, VT_EINVAL (dim 0) or VT_ENOMEM. */
int vt_content_new(const float *vectors, int32_t nitems, size_t dim, const uint8_t *has,
                   struct vt_content **out);
void vt_content_free(struct vt_content *m);

/* profile (dim floats) of a history of n (item, weight) pairs (w NULL:
 * weights 1), L2-normalised; all zero when no item of it has a vector.
 * Returns 1 when the profile is non-zero, else 0. */
int vt_content_profile(const struct vt_content *m, const int32_t *items, const float *w,
                       size_t n, float *profile);
/* scores[0..nitems) = cosine of each item to the profile. */
void vt_content_score(const struct vt_content *m, const float *profile, float *scores);

#endif
