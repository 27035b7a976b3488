/*
 * itemknn.c - item-item cosine co-occurrence with top-N pruning (see
 * itemknn.h).
 *
 * Each pool task takes a block of items and, for every item i of it,
 * accumulates the co-occurrence row sum_u w'_ui w'_u. into a dense
 * scratch array (only the touched columns are visited again and cleared),
 * divides by the norms and keeps the best `neighbours` into item i's fixed
 * slot of a full-size table. A final pass packs the slots into the sparse
 * form. Results do not depend on the number of threads.
 */
#include "rec/itemknn.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "core/progress.h"
#include "rec/metrics.h"

#define BLOCK 32 /* items per pool task */

struct fit_job {
    const struct vt_interactions *ix;
    const float *wu; /* reshaped weights in by-user order */
    const float *wi; /* the same in by-item order */
    const float *norm;
    float shrink;
    int32_t keep;
    int32_t *slot_nb; /* nitems * keep */
    float *slot_sim;
    int32_t *slot_n;  /* nitems */
    atomic_int failed;
    atomic_llong done;
};

static void fit_block(void *arg, size_t task)
{
    struct fit_job *j = arg;
    const struct vt_interactions *ix = j->ix;
    int32_t n = ix->nitems;
    int32_t first = (int32_t)(task * BLOCK);
    int32_t last = first + BLOCK < n ? first + BLOCK : n;
    float *acc = vt_calloc((size_t)n, sizeof *acc);
    float *cs = vt_malloc((size_t)n * sizeof *cs);
    int32_t *touched = vt_malloc((size_t)n * sizeof *touched);
    uint8_t *mark = vt_calloc((size_t)n, 1);
    int32_t *best = vt_malloc((size_t)j->keep * sizeof *best);
    if (!acc || !cs || !touched || !mark || !best) {
        atomic_store(&j->failed, 1);
        goto out;
    }
    for (int32_t i = first; i < last; i++) {
        size_t nt = 0;
        for (int64_t k = ix->item_ptr[i]; k < ix->item_ptr[i + 1]; k++) {
            int32_t u = ix->item_user[k];
            float wui = j->wi[k];
            for (int64_t q = ix->user_ptr[u]; q < ix->user_ptr[u + 1]; q++) {
                int32_t c = ix->user_item[q];
                if (!mark[c] && c != i) {
                    mark[c] = 1;
                    touched[nt++] = c;
                }
                acc[c] += wui * j->wu[q];
            }
        }
        acc[i] = 0;
        for (size_t t = 0; t < nt; t++) {
            int32_t c = touched[t];
            float d = j->norm[i] * j->norm[c] + j->shrink;
            cs[t] = d > 0 ? acc[c] / d : 0;
            acc[c] = 0;
            mark[c] = 0;
        }
        size_t got = 0;
        if (vt_rank_top(cs, (int32_t)nt, NULL, 0, (size_t)j->keep, best, &got)) {
            atomic_store(&j->failed, 1);
            goto out;
        }
        int32_t kept = 0;
        for (size_t t = 0; t < got; t++) {
            if (!(cs[best[t]] > 0))
                break;
            j->slot_nb[(size_t)i * (size_t)j->keep + (size_t)kept] = touched[best[t]];
            j->slot_sim[(size_t)i * (size_t)j->keep + (size_t)kept] = cs[best[t]];
            kept++;
        }
        j->slot_n[i] = kept;
    }
    atomic_fetch_add(&j->done, last - first);
out:
    vt_free(acc);
    vt_free(cs);
    vt_free(touched);
    vt_free(mark);
    vt_free(best);
}

/* Tasks of one wave: base + t. */
struct wave {
    struct fit_job *job;
    size_t base;
};

static void wave_task(void *arg, size_t t)
{
    struct wave *w = arg;
    fit_block(w->job, w->base + t);
}

void vt_itemknn_free(struct vt_itemknn *m)
{
    if (!m)
        return;
    vt_free(m->ptr);
    vt_free(m->nb);
    vt_free(m->sim);
    vt_free(m);
}

/* Progress is drawn by the calling thread between waves of tasks. */
#define WAVE 64

int vt_itemknn_fit(const struct vt_interactions *ix, const struct vt_itemknn_options *o,
                   struct vt_itemknn **out)
{
    struct vt_itemknn_options opt = {0};
    struct vt_itemknn *m = NULL;
    struct vt_interactions *shaped = NULL;
    float *norm = NULL;
    struct fit_job job;
    int rc = VT_ENOMEM;
    int32_t n = ix->nitems;
    size_t slots;

    if (o)
        opt = *o;
    if (opt.neighbours < 0 || opt.shrink < 0 || opt.k1 < 0 || opt.b < 0 || opt.b > 1)
        return VT_EINVAL;
    if (opt.neighbours == 0)
        opt.neighbours = 100;
    if (opt.k1 == 0 && opt.b == 0) {
        opt.k1 = 1.2f;
        opt.b = 0.75f;
    }
    if (opt.neighbours > n)
        opt.neighbours = n > 0 ? n : 1;
    memset(&job, 0, sizeof job);
    if (vt_mul_size((size_t)n, (size_t)opt.neighbours, &slots))
        return VT_ETOOBIG;

    m = vt_calloc(1, sizeof *m);
    norm = vt_calloc((size_t)n + 1, sizeof *norm);
    job.slot_nb = vt_malloc((slots + 1) * sizeof *job.slot_nb);
    job.slot_sim = vt_malloc((slots + 1) * sizeof *job.slot_sim);
    job.slot_n = vt_calloc((size_t)n + 1, sizeof *job.slot_n);
    if (!m || !norm || !job.slot_nb || !job.slot_sim || !job.slot_n)
        goto out;
    m->nitems = n;

    /* The weights, reshaped or not, in both orders. */
    if (opt.bm25 && (rc = vt_interactions_bm25(ix, opt.k1, opt.b, &shaped)))
        goto out;
    rc = VT_ENOMEM;
    const float *wu = shaped ? shaped->user_w : ix->user_w;
    const float *wi = shaped ? shaped->item_w : ix->item_w;
    for (int32_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t k = ix->item_ptr[i]; k < ix->item_ptr[i + 1]; k++)
            s += (double)wi[k] * wi[k];
        norm[i] = (float)sqrt(s);
    }

    job.ix = ix;
    job.wu = wu;
    job.wi = wi;
    job.norm = norm;
    job.shrink = opt.shrink;
    job.keep = opt.neighbours;
    atomic_init(&job.failed, 0);
    atomic_init(&job.done, 0);
    size_t ntasks = ((size_t)n + BLOCK - 1) / BLOCK;
    struct vt_progress bar;
    if (opt.progress)
        vt_progress_start(&bar, opt.progress, n);
    for (size_t t0 = 0; t0 < ntasks; t0 += WAVE) {
        size_t nt = ntasks - t0 < WAVE ? ntasks - t0 : WAVE;
        struct wave wv = {&job, t0};
        vt_pool_run(vt_pool_shared(), wave_task, &wv, nt);
        if (opt.progress)
            vt_progress_update(&bar, atomic_load(&job.done));
    }
    if (opt.progress)
        vt_progress_finish(&bar);
    if (atomic_load(&job.failed))
        goto out;

    m->ptr = vt_malloc(((size_t)n + 1) * sizeof *m->ptr);
    if (!m->ptr)
        goto out;
    m->ptr[0] = 0;
    for (int32_t i = 0; i < n; i++)
        m->ptr[i + 1] = m->ptr[i] + job.slot_n[i];
    size_t total = (size_t)m->ptr[n] + 1;
    m->nb = vt_malloc(total * sizeof *m->nb);
    m->sim = vt_malloc(total * sizeof *m->sim);
    if (!m->nb || !m->sim)
        goto out;
    for (int32_t i = 0; i < n; i++) {
        size_t from = (size_t)i * (size_t)opt.neighbours;
        memcpy(m->nb + m->ptr[i], job.slot_nb + from, (size_t)job.slot_n[i] * sizeof *m->nb);
        memcpy(m->sim + m->ptr[i], job.slot_sim + from, (size_t)job.slot_n[i] * sizeof *m->sim);
    }
    *out = m;
    m = NULL;
    rc = 0;
out:
    vt_interactions_free(shaped);
    vt_free(norm);
    vt_free(job.slot_nb);
    vt_free(job.slot_sim);
    vt_free(job.slot_n);
    vt_itemknn_free(m);
    return rc;
}

void vt_itemknn_score(const struct vt_itemknn *m, const int32_t *items, const float *w,
                      size_t n, float *scores)
{
    memset(scores, 0, (size_t)m->nitems * sizeof *scores);
    for (size_t k = 0; k < n; k++) {
        int32_t i = items[k];
        if (i < 0 || i >= m->nitems)
            continue;
        float wk = w ? w[k] : 1.0f;
        for (int64_t q = m->ptr[i]; q < m->ptr[i + 1]; q++)
            scores[m->nb[q]] += wk * m->sim[q];
    }
}
