/*
 * fit.c - the fit check (contract and geometry in fit.h).
 *
 * Two orientations are tried; each gives three margins. The orientation
 * reported is the first that fits (as is before rotated), else the one
 * whose summed shortfall is smaller (as is on a tie), so the answer is a
 * pure function of its inputs.
 */
#include "ar/fit.h"

#include <math.h>
#include <string.h>

static int size_ok(double x)
{
    return isfinite(x) && x > 0;
}

/* Margins of piece (pw, pd, ph) in space s. */
static void margins(double pw, double pd, double ph, const double s[3], double c, double m[3])
{
    m[VT_FIT_W] = s[VT_FIT_W] - pw - 2 * c;
    m[VT_FIT_D] = s[VT_FIT_D] - pd - 2 * c;
    m[VT_FIT_H] = s[VT_FIT_H] - ph - c;
}

static int all_fit(const double m[3])
{
    return m[0] >= 0 && m[1] >= 0 && m[2] >= 0;
}

static double shortfall(const double m[3])
{
    double t = 0;
    for (int i = 0; i < 3; i++)
        t += m[i] < 0 ? -m[i] : 0;
    return t;
}

int vt_fit_check(const double piece_cm[3], const double space_cm[3], double clearance_cm,
                 struct vt_fit *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 3; i++)
        if (!size_ok(piece_cm[i]) || !size_ok(space_cm[i]))
            return VT_EINVAL;
    if (!isfinite(clearance_cm) || clearance_cm < 0 || clearance_cm > VT_FIT_CLEARANCE_MAX_CM)
        return VT_EINVAL;

    double as_is[3], turned[3];
    margins(piece_cm[VT_FIT_W], piece_cm[VT_FIT_D], piece_cm[VT_FIT_H], space_cm, clearance_cm,
            as_is);
    margins(piece_cm[VT_FIT_D], piece_cm[VT_FIT_W], piece_cm[VT_FIT_H], space_cm, clearance_cm,
            turned);
    const double *m = as_is;
    if (all_fit(as_is)) {
        out->fits = 1;
    } else if (all_fit(turned)) {
        out->fits = 1;
        out->rotated = 1;
        m = turned;
    } else if (shortfall(turned) < shortfall(as_is)) {
        out->rotated = 1;
        m = turned;
    }
    for (int i = 0; i < 3; i++) {
        out->margin_cm[i] = m[i];
        out->over_cm[i] = m[i] < 0 ? -m[i] : 0;
    }
    return 0;
}

double vt_fit_snugness(const double space_cm[3], const struct vt_fit *f)
{
    if (!f->fits)
        return 0;
    double t = 0;
    for (int i = 0; i < 3; i++) {
        if (!size_ok(space_cm[i]))
            return 0;
        t += (space_cm[i] - f->margin_cm[i]) / space_cm[i];
    }
    return t / 3;
}
