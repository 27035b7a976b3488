/*
 * hybrid.c - standardise and blend score arrays (see hybrid.h).
 */
#include "rec/hybrid.h"

#include <math.h>

void vt_hybrid_blend(const float *const *scores, const float *weights, size_t nsrc,
                     int32_t nitems, const int32_t *exclude, size_t nexclude, float *out)
{
    for (int32_t i = 0; i < nitems; i++)
        out[i] = 0;
    for (size_t m = 0; m < nsrc; m++) {
        const float *s = scores[m];
        double sum = 0, sq = 0;
        size_t n = 0, e = 0;
        for (int32_t i = 0; i < nitems; i++) {
            while (e < nexclude && exclude[e] < i)
                e++;
            if (e < nexclude && exclude[e] == i)
                continue;
            sum += s[i];
            sq += (double)s[i] * s[i];
            n++;
        }
        if (n == 0 || weights[m] == 0)
            continue;
        double mean = sum / (double)n, var = sq / (double)n - mean * mean;
        if (!(var > 0))
            continue;
        float scale = (float)(weights[m] / sqrt(var)), shift = (float)mean;
        for (int32_t i = 0; i < nitems; i++)
            out[i] += scale * (s[i] - shift);
    }
    size_t e = 0;
    for (int32_t i = 0; i < nitems && e < nexclude; i++) {
        while (e < nexclude && exclude[e] < i)
            e++;
        if (e < nexclude && exclude[e] == i)
            out[i] = -INFINITY;
    }
}
