/*
 * content.c - profiles from item vectors and cosine scores (see content.h).
 */
#include "rec/content.h"

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "nn/kernels.h"

int vt_content_new(const float *vectors, int32_t nitems, size_t dim, const uint8_t *has,
                   struct vt_content **out)
{
    size_t total;
    if (dim == 0 || nitems < 0)
        return VT_EINVAL;
    if (vt_mul_size((size_t)nitems, dim, &total))
        return VT_ETOOBIG;
    struct vt_content *m = vt_calloc(1, sizeof *m);
    if (!m)
        return VT_ENOMEM;
    m->nitems = nitems;
    m->dim = dim;
    m->vec = vt_calloc(total + 1, sizeof *m->vec);
    m->has = vt_calloc((size_t)nitems + 1, 1);
    if (!m->vec || !m->has) {
        vt_content_free(m);
        return VT_ENOMEM;
    }
    for (int32_t i = 0; i < nitems; i++) {
        if (has && !has[i])
            continue;
        float *v = m->vec + (size_t)i * dim;
        memcpy(v, vectors + (size_t)i * dim, dim * sizeof *v);
        vt_l2_normalize(v, dim);
        m->has[i] = vt_dot(v, v, dim) > 0;
    }
    *out = m;
    return 0;
}

void vt_content_free(struct vt_content *m)
{
    if (!m)
        return;
    vt_free(m->vec);
    vt_free(m->has);
    vt_free(m);
}

int vt_content_profile(const struct vt_content *m, const int32_t *items, const float *w,
                       size_t n, float *profile)
{
    int any = 0;
    memset(profile, 0, m->dim * sizeof *profile);
    for (size_t k = 0; k < n; k++) {
        int32_t i = items[k];
        if (i < 0 || i >= m->nitems || !m->has[i])
            continue;
        float wk = w ? w[k] : 1.0f;
        const float *v = m->vec + (size_t)i * m->dim;
        for (size_t a = 0; a < m->dim; a++)
            profile[a] += wk * v[a];
        any = 1;
    }
    /* The mean's direction is the sum's: normalising is enough. */
    vt_l2_normalize(profile, m->dim);
    return any && vt_dot(profile, profile, m->dim) > 0;
}

void vt_content_score(const struct vt_content *m, const float *profile, float *scores)
{
    for (int32_t i = 0; i < m->nitems; i++)
        scores[i] = vt_dot(profile, m->vec + (size_t)i * m->dim, m->dim);
}
