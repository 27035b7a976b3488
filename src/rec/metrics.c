/*
 * metrics.c - top-k selection and ranking measures (see metrics.h).
 *
 * Top-k keeps a binary min-heap of the k best so far whose root is the
 * worst of them, so a pass over n scores costs O(n log k).
 */
#include "rec/metrics.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

struct cand {
    float s;
    int32_t i;
};

/* 1 when a ranks below b: lower score, or equal score and higher index. */
static int worse(struct cand a, struct cand b)
{
    return a.s < b.s || (a.s == b.s && a.i > b.i);
}

static void sift_down(struct cand *h, size_t n, size_t at)
{
    for (;;) {
        size_t l = 2 * at + 1, r = l + 1, m = at;
        if (l < n && worse(h[l], h[m]))
            m = l;
        if (r < n && worse(h[r], h[m]))
            m = r;
        if (m == at)
            return;
        struct cand t = h[at];
        h[at] = h[m];
        h[m] = t;
        at = m;
    }
}

static void sift_up(struct cand *h, size_t at)
{
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (!worse(h[at], h[parent]))
            return;
        struct cand t = h[at];
        h[at] = h[parent];
        h[parent] = t;
        at = parent;
    }
}

int vt_rank_top(const float *scores, int32_t nitems, const int32_t *exclude, size_t nexclude,
                size_t k, int32_t *out, size_t *nout)
{
    *nout = 0;
    if (k == 0 || nitems <= 0)
        return 0;
    struct cand local[256], *h = local;
    if (k > sizeof local / sizeof local[0]) {
        h = vt_malloc(k * sizeof *h);
        if (!h)
            return VT_ENOMEM;
    }
    size_t n = 0, e = 0;
    for (int32_t i = 0; i < nitems; i++) {
        while (e < nexclude && exclude[e] < i)
            e++;
        if (e < nexclude && exclude[e] == i)
            continue;
        struct cand c = {scores[i] == scores[i] ? scores[i] : -INFINITY, i};
        if (n < k) {
            h[n] = c;
            sift_up(h, n++);
        } else if (worse(h[0], c)) {
            h[0] = c;
            sift_down(h, n, 0);
        }
    }
    /* Pop the worst to the back: out ends up best first. */
    for (size_t m = n; m > 0; m--) {
        out[m - 1] = h[0].i;
        h[0] = h[m - 1];
        sift_down(h, m - 1, 0);
    }
    if (h != local)
        vt_free(h);
    *nout = n;
    return 0;
}

static int is_pos(const int32_t *pos, size_t npos, int32_t x)
{
    size_t lo = 0, hi = npos;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pos[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < npos && pos[lo] == x;
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

double vt_metric_recall(const int32_t *ranked, size_t nranked, const int32_t *pos, size_t npos,
                        size_t k)
{
    size_t m = min_size(k, npos), hits = 0;
    if (m == 0)
        return 0;
    for (size_t i = 0; i < min_size(k, nranked); i++)
        hits += (size_t)is_pos(pos, npos, ranked[i]);
    return (double)hits / (double)m;
}

double vt_metric_ndcg(const int32_t *ranked, size_t nranked, const int32_t *pos, size_t npos,
                      size_t k)
{
    size_t m = min_size(k, npos);
    if (m == 0)
        return 0;
    double dcg = 0, idcg = 0;
    /* Place i (0-based) is rank i + 1, discounted by log2(rank + 1). */
    for (size_t i = 0; i < min_size(k, nranked); i++)
        if (is_pos(pos, npos, ranked[i]))
            dcg += 1.0 / log2((double)i + 2.0);
    for (size_t i = 0; i < m; i++)
        idcg += 1.0 / log2((double)i + 2.0);
    return dcg / idcg;
}

double vt_metric_ap(const int32_t *ranked, size_t nranked, const int32_t *pos, size_t npos,
                    size_t k)
{
    size_t m = min_size(k, npos), hits = 0;
    if (m == 0)
        return 0;
    double sum = 0;
    for (size_t i = 0; i < min_size(k, nranked); i++) {
        if (is_pos(pos, npos, ranked[i])) {
            hits++;
            sum += (double)hits / (double)(i + 1);
        }
    }
    return sum / (double)m;
}

int vt_coverage_init(struct vt_coverage *c, int32_t nitems)
{
    memset(c, 0, sizeof *c);
    c->nitems = nitems > 0 ? nitems : 0;
    c->seen = vt_calloc((size_t)c->nitems + 1, 1);
    return c->seen ? 0 : VT_ENOMEM;
}

void vt_coverage_reset(struct vt_coverage *c)
{
    vt_free(c->seen);
    memset(c, 0, sizeof *c);
}

void vt_coverage_add(struct vt_coverage *c, const int32_t *ranked, size_t n, size_t k)
{
    for (size_t i = 0; i < min_size(k, n); i++) {
        int32_t x = ranked[i];
        if (x >= 0 && x < c->nitems && !c->seen[x]) {
            c->seen[x] = 1;
            c->distinct++;
        }
    }
}

double vt_coverage_value(const struct vt_coverage *c)
{
    return c->nitems ? (double)c->distinct / (double)c->nitems : 0;
}

int vt_metrics_acc_init(struct vt_metrics_acc *a, const size_t *cuts, int ncuts,
                        int32_t nitems)
{
    memset(a, 0, sizeof *a);
    if (ncuts < 1 || ncuts > VT_METRICS_MAX_CUTS)
        return VT_EINVAL;
    for (int q = 0; q < ncuts; q++) {
        if (cuts[q] < 1)
            return VT_EINVAL;
        /* Insertion into the sorted, distinct list. */
        int at = 0;
        while (at < a->ncuts && a->cuts[at] < cuts[q])
            at++;
        if (at < a->ncuts && a->cuts[at] == cuts[q])
            continue;
        memmove(a->cuts + at + 1, a->cuts + at, (size_t)(a->ncuts - at) * sizeof *a->cuts);
        a->cuts[at] = cuts[q];
        a->ncuts++;
    }
    for (int q = 0; q < a->ncuts; q++) {
        if (vt_coverage_init(&a->cov[q], nitems)) {
            vt_metrics_acc_reset(a);
            return VT_ENOMEM;
        }
    }
    return 0;
}

void vt_metrics_acc_add(struct vt_metrics_acc *a, const int32_t *ranked, size_t nranked,
                        const int32_t *pos, size_t npos)
{
    a->users++;
    for (int q = 0; q < a->ncuts; q++) {
        a->recall[q] += vt_metric_recall(ranked, nranked, pos, npos, a->cuts[q]);
        a->ndcg[q] += vt_metric_ndcg(ranked, nranked, pos, npos, a->cuts[q]);
        a->map[q] += vt_metric_ap(ranked, nranked, pos, npos, a->cuts[q]);
        vt_coverage_add(&a->cov[q], ranked, nranked, a->cuts[q]);
    }
}

void vt_metrics_acc_finish(struct vt_metrics_acc *a)
{
    double n = a->users ? (double)a->users : 1;
    for (int q = 0; q < a->ncuts; q++) {
        a->recall[q] /= n;
        a->ndcg[q] /= n;
        a->map[q] /= n;
        a->coverage[q] = vt_coverage_value(&a->cov[q]);
        vt_coverage_reset(&a->cov[q]);
    }
}

void vt_metrics_acc_reset(struct vt_metrics_acc *a)
{
    for (int q = 0; q < VT_METRICS_MAX_CUTS; q++)
        vt_coverage_reset(&a->cov[q]);
}

int vt_metrics_acc_cut(const struct vt_metrics_acc *a, size_t k)
{
    for (int q = 0; q < a->ncuts; q++)
        if (a->cuts[q] == k)
            return q;
    return -1;
}
