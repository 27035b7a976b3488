/*
 * pop.c - popularity and trending counts (see pop.h).
 */
#include "rec/pop.h"

#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"

struct scored {
    float s;
    int32_t i;
};

/* Score descending, then index ascending. */
static int cmp_scored(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

void vt_pop_free(struct vt_pop *p)
{
    if (!p)
        return;
    vt_free(p->score);
    vt_free(p->order);
    vt_free(p->cat_ptr);
    vt_free(p->cat_order);
    vt_free(p);
}

int vt_pop_fit(const struct vt_interactions *ix, const int32_t *item_category,
               int32_t ncategories, const struct vt_pop_options *o, struct vt_pop **out)
{
    struct vt_pop *p = NULL;
    struct scored *sc = NULL;
    int32_t *fill = NULL;
    int rc = VT_ENOMEM;
    int32_t n = ix->nitems;

    if (!item_category)
        ncategories = 0;
    if (ncategories < 0)
        return VT_EINVAL;
    for (int32_t i = 0; item_category && i < n; i++)
        if (item_category[i] < -1 || item_category[i] >= ncategories)
            return VT_EINVAL;

    p = vt_calloc(1, sizeof *p);
    if (!p)
        goto out;
    p->nitems = n;
    p->ncategories = ncategories;
    p->score = vt_calloc((size_t)n + 1, sizeof *p->score);
    p->order = vt_malloc(((size_t)n + 1) * sizeof *p->order);
    p->cat_ptr = vt_calloc((size_t)ncategories + 1, sizeof *p->cat_ptr);
    p->cat_order = vt_malloc(((size_t)n + 1) * sizeof *p->cat_order);
    sc = vt_malloc(((size_t)n + 1) * sizeof *sc);
    fill = vt_calloc((size_t)ncategories + 1, sizeof *fill);
    if (!p->score || !p->order || !p->cat_ptr || !p->cat_order || !sc || !fill)
        goto out;

    double half_life_ms = o && o->half_life_days > 0 ? o->half_life_days * 86400e3 : 0;
    int64_t now = o && o->now_ms ? o->now_ms : ix->last_ms;
    int weighted = o && o->weighted;
    for (int32_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t k = ix->item_ptr[i]; k < ix->item_ptr[i + 1]; k++) {
            double w = weighted ? ix->item_w[k] : 1.0;
            if (half_life_ms > 0) {
                double age = (double)(now - ix->item_ts[k]);
                if (age < 0)
                    age = 0; /* an event after now counts as now */
                w *= exp2(-age / half_life_ms);
            }
            s += w;
        }
        p->score[i] = (float)s;
        sc[i].s = (float)s;
        sc[i].i = i;
    }
    qsort(sc, (size_t)n, sizeof *sc, cmp_scored);
    for (int32_t k = 0; k < n; k++)
        p->order[k] = sc[k].i;

    /* Per category, in the global order. */
    for (int32_t i = 0; i < n && ncategories; i++)
        if (item_category[i] >= 0)
            p->cat_ptr[item_category[i] + 1]++;
    for (int32_t c = 0; c < ncategories; c++)
        p->cat_ptr[c + 1] += p->cat_ptr[c];
    for (int32_t k = 0; k < n && ncategories; k++) {
        int32_t i = p->order[k], c = item_category[i];
        if (c >= 0)
            p->cat_order[p->cat_ptr[c] + fill[c]++] = i;
    }
    *out = p;
    p = NULL;
    rc = 0;
out:
    vt_free(sc);
    vt_free(fill);
    vt_pop_free(p);
    return rc;
}

void vt_pop_scores_at(const struct vt_interactions *ix, const struct vt_pop_options *o,
                      int64_t now_ms, float *scores)
{
    double half_life_ms = o && o->half_life_days > 0 ? o->half_life_days * 86400e3 : 0;
    int weighted = o && o->weighted;
    for (int32_t i = 0; i < ix->nitems; i++) {
        double s = 0;
        for (int64_t k = ix->item_ptr[i]; k < ix->item_ptr[i + 1]; k++) {
            if (ix->item_ts[k] > now_ms)
                continue;
            double w = weighted ? ix->item_w[k] : 1.0;
            if (half_life_ms > 0)
                w *= exp2(-(double)(now_ms - ix->item_ts[k]) / half_life_ms);
            s += w;
        }
        scores[i] = (float)s;
    }
}

static int contains(const int32_t *a, size_t n, int32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == x;
}

size_t vt_pop_top(const struct vt_pop *p, int32_t category, const int32_t *exclude,
                  size_t nexclude, size_t n, int32_t *out)
{
    const int32_t *list = p->order;
    size_t len = (size_t)p->nitems;
    if (category >= 0) {
        if (category >= p->ncategories)
            return 0;
        list = p->cat_order + p->cat_ptr[category];
        len = (size_t)(p->cat_ptr[category + 1] - p->cat_ptr[category]);
    }
    size_t k = 0;
    for (size_t j = 0; j < len && k < n; j++)
        if (!exclude || !contains(exclude, nexclude, list[j]))
            out[k++] = list[j];
    return k;
}
