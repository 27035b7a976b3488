/* test_fit.c - the fit check of src/ar/fit.c: both floor orientations,
 * clearance on the sides and above, margins and shortfalls, snugness, and
 * refusal of sizes that are not sizes. */
#include <math.h>

#include "ar/fit.h"
#include "test.h"

TEST(fits_as_is_with_margins)
{
    struct vt_fit f;
    double piece[3] = {200, 90, 80}, space[3] = {220, 100, 250};
    CHECK_EQ_INT(vt_fit_check(piece, space, 2, &f), 0);
    CHECK_EQ_INT(f.fits, 1);
    CHECK_EQ_INT(f.rotated, 0);
    CHECK_NEAR(f.margin_cm[VT_FIT_W], 220 - 200 - 4, 1e-9);
    CHECK_NEAR(f.margin_cm[VT_FIT_D], 100 - 90 - 4, 1e-9);
    CHECK_NEAR(f.margin_cm[VT_FIT_H], 250 - 80 - 2, 1e-9);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(f.over_cm[i], 0, 0);
}

TEST(fits_only_rotated)
{
    /* A 60-wide, 180-deep bed goes into a 190 x 70 alcove only turned. */
    struct vt_fit f;
    double piece[3] = {60, 180, 50}, space[3] = {190, 70, 100};
    CHECK_EQ_INT(vt_fit_check(piece, space, 2, &f), 0);
    CHECK_EQ_INT(f.fits, 1);
    CHECK_EQ_INT(f.rotated, 1);
    CHECK_NEAR(f.margin_cm[VT_FIT_W], 190 - 180 - 4, 1e-9);
    CHECK_NEAR(f.margin_cm[VT_FIT_D], 70 - 60 - 4, 1e-9);
}

TEST(both_orientations_prefers_as_is)
{
    struct vt_fit f;
    double piece[3] = {50, 50, 50}, space[3] = {100, 100, 100};
    CHECK_EQ_INT(vt_fit_check(piece, space, 0, &f), 0);
    CHECK_EQ_INT(f.fits, 1);
    CHECK_EQ_INT(f.rotated, 0);
}

TEST(too_big_reports_least_shortfall)
{
    struct vt_fit f;
    /* As is: 30 too wide; turned: 10 too deep. Turned is reported. */
    double piece[3] = {130, 60, 70}, space[3] = {100, 120, 200};
    CHECK_EQ_INT(vt_fit_check(piece, space, 0, &f), 0);
    CHECK_EQ_INT(f.fits, 0);
    CHECK_EQ_INT(f.rotated, 1);
    CHECK_NEAR(f.over_cm[VT_FIT_W], 0, 0);
    CHECK_NEAR(f.over_cm[VT_FIT_D], 10, 1e-9);
    CHECK_NEAR(f.margin_cm[VT_FIT_W], 40, 1e-9);
    CHECK_NEAR(f.margin_cm[VT_FIT_D], -10, 1e-9);
    /* Height cannot be fixed by turning. */
    double tall[3] = {50, 50, 210}, low[3] = {300, 300, 200};
    CHECK_EQ_INT(vt_fit_check(tall, low, 1, &f), 0);
    CHECK_EQ_INT(f.fits, 0);
    CHECK_NEAR(f.over_cm[VT_FIT_H], 11, 1e-9);
    CHECK_NEAR(f.over_cm[VT_FIT_W], 0, 0);
    /* Turning makes it worse: as is 5 too wide, turned 45 too deep. */
    double p2[3] = {105, 40, 10}, s2[3] = {100, 60, 20};
    CHECK_EQ_INT(vt_fit_check(p2, s2, 0, &f), 0);
    CHECK_EQ_INT(f.fits, 0);
    CHECK_EQ_INT(f.rotated, 0);
    CHECK_NEAR(f.over_cm[VT_FIT_W], 5, 1e-9);
}

TEST(clearance_decides)
{
    struct vt_fit f;
    double piece[3] = {96, 50, 98}, space[3] = {100, 100, 100};
    CHECK_EQ_INT(vt_fit_check(piece, space, 2, &f), 0);
    CHECK_EQ_INT(f.fits, 1); /* exactly: 96 + 2 * 2 = 100, 98 + 2 = 100 */
    CHECK_NEAR(f.margin_cm[VT_FIT_W], 0, 1e-9);
    CHECK_NEAR(f.margin_cm[VT_FIT_H], 0, 1e-9);
    CHECK_EQ_INT(vt_fit_check(piece, space, 2.5, &f), 0);
    CHECK_EQ_INT(f.fits, 0);
    CHECK_NEAR(f.over_cm[VT_FIT_W], 1, 1e-9);
    CHECK_NEAR(f.over_cm[VT_FIT_H], 0.5, 1e-9);
}

TEST(bad_sizes_refused)
{
    struct vt_fit f;
    double ok[3] = {10, 10, 10};
    double zero[3] = {0, 10, 10}, neg[3] = {10, -1, 10}, inf[3] = {10, 10, INFINITY},
           nan3[3] = {NAN, 10, 10};
    CHECK_EQ_INT(vt_fit_check(zero, ok, 0, &f), VT_EINVAL);
    CHECK_EQ_INT(vt_fit_check(ok, neg, 0, &f), VT_EINVAL);
    CHECK_EQ_INT(vt_fit_check(inf, ok, 0, &f), VT_EINVAL);
    CHECK_EQ_INT(vt_fit_check(ok, nan3, 0, &f), VT_EINVAL);
    CHECK_EQ_INT(vt_fit_check(ok, ok, -1, &f), VT_EINVAL);
    CHECK_EQ_INT(vt_fit_check(ok, ok, NAN, &f), VT_EINVAL);
    CHECK_EQ_INT(vt_fit_check(ok, ok, VT_FIT_CLEARANCE_MAX_CM + 1, &f), VT_EINVAL);
    CHECK_EQ_INT(f.fits, 0);
}

TEST(snugness_orders_fits)
{
    struct vt_fit a, b, c;
    double space[3] = {100, 100, 100};
    double tight[3] = {98, 98, 99}, loose[3] = {20, 20, 20}, big[3] = {120, 20, 20};
    CHECK_EQ_INT(vt_fit_check(tight, space, 1, &a), 0);
    CHECK_EQ_INT(vt_fit_check(loose, space, 1, &b), 0);
    CHECK_EQ_INT(vt_fit_check(big, space, 1, &c), 0);
    double sa = vt_fit_snugness(space, &a), sb = vt_fit_snugness(space, &b);
    CHECK_NEAR(sa, 1.0, 1e-9);
    CHECK_NEAR(sb, (22 + 22 + 21) / 300.0, 1e-9);
    CHECK(sa > sb);
    CHECK_NEAR(vt_fit_snugness(space, &c), 0, 0);
}

int main(void)
{
    RUN(fits_as_is_with_margins);
    RUN(fits_only_rotated);
    RUN(both_orientations_prefers_as_is);
    RUN(too_big_reports_least_shortfall);
    RUN(clearance_decides);
    RUN(bad_sizes_refused);
    RUN(snugness_orders_fits);
    return TEST_SUMMARY();
}
