/*
 * fit.h - will a piece of furniture fit a space: the geometry behind
 * POST /v1/fit and the fits_* filters of search.
 *
 * A piece is a box w x d x h (width, depth, height in centimetres) that
 * stands on the floor; a space is the box it has to go into (a niche, the
 * wall between two windows, the room left under a sloping ceiling). The
 * piece may turn on the floor, so it fits "as is" (w along the space's
 * width, d along its depth) or "rotated" (d along the width, w along the
 * depth); it never lies on its side, so h always meets the space's height.
 *
 * Clearance c is the room a piece needs around it to be placed and used:
 * c on each side across the width and across the depth (2c per axis) and
 * c above it (the floor needs none). So a piece fits when, in one of the
 * two orientations,
 *     pw + 2c <= sw,   pd + 2c <= sd,   ph + c <= sh.
 * The margin of an axis is what is left after the clearance (space -
 * piece - clearance); a negative margin is how much too big the piece is
 * on that axis. When both orientations fit, the one as is is chosen (no
 * need to turn the piece); when neither does, the one with the smaller
 * total shortfall is reported, so "too big by" names the least work.
 *
 * All functions are pure and thread-safe.
 */
#ifndef VT_AR_FIT_H
#define VT_AR_FIT_H

#include "core/error.h"

enum { VT_FIT_W = 0, VT_FIT_D = 1, VT_FIT_H = 2 };

#define VT_FIT_CLEARANCE_MAX_CM 500.0 /* more is a unit error, not a wish */

struct vt_fit {
    int fits;            /* 1 when the piece fits in the orientation below */
    int rotated;         /* 1: the piece turned 90 degrees (its depth along
                            the space's width) */
    double margin_cm[3]; /* w, d, h of the space: space - piece - clearance
                            in the chosen orientation; negative = too big */
    double over_cm[3];   /* how much too big per axis (max(0, -margin)) */
};

/* Check piece_cm (w, d, h) against space_cm (w, d, h) with clearance_cm.
 * Every size must be finite and > 0 (the clearance finite and in
 * [0, VT_FIT_CLEARANCE_MAX_CM]); VT_EINVAL otherwise, with out zeroed. */
int vt_fit_check(const double piece_cm[3], const double space_cm[3], double clearance_cm,
                 struct vt_fit *out);

/* How snugly a fitting piece fills the space, in (0, 1]: the mean over
 * the three axes of (space - margin) / space, that is (piece + clearance)
 * / space in the chosen orientation. 1 is a perfect fit; f from
 * vt_fit_check() for the same space; a piece that does not fit gives 0. */
double vt_fit_snugness(const double space_cm[3], const struct vt_fit *f);

#endif
