/*
 * ials.c - weighted ALS with conjugate-gradient row solves (see ials.h).
 *
 * A half-step solves the rows of one side ("target", T) with the other
 * side ("fixed", F) held still, reading the target's entries in CSR form
 * (by user to solve users, by item to solve items). For a row with
 * entries (j, w_j) and G = F'F:
 *     A v = G v + lambda_r v + sum_j alpha w_j (f_j . v) f_j
 *     b   = sum_j (1 + alpha w_j) f_j
 * and CG runs from the row's current value (lambda_r: ials.h). A is
 * symmetric positive definite whenever lambda > 0 (or F has full column rank), so each CG step
 * lowers that row's share of L; a step whose curvature p'Ap is not
 * positive ends the solve.
 */
#include "rec/ials.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "core/progress.h"
#include "core/util.h"
#include "nn/kernels.h"

#define ROWS_PER_TASK 64

/* ---- random initial values ---------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Standard normal by Box-Muller from two uniforms in (0, 1]. */
static double normal(uint64_t *s)
{
    double u1 = ((double)(splitmix64(s) >> 11) + 1.0) / 9007199254740992.0;
    double u2 = (double)(splitmix64(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* ---- vector helpers --------------------------------------------------------- */

/* y += a x. Written as blocks of eight independent statements, which the
 * compiler's straight-line (SLP) vectoriser turns into SIMD code at -O2,
 * where it would leave a plain loop scalar; this loop is most of the time
 * of an iteration. */
static void axpy(float *restrict y, float a, const float *restrict x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        y[i] += a * x[i];
        y[i + 1] += a * x[i + 1];
        y[i + 2] += a * x[i + 2];
        y[i + 3] += a * x[i + 3];
        y[i + 4] += a * x[i + 4];
        y[i + 5] += a * x[i + 5];
        y[i + 6] += a * x[i + 6];
        y[i + 7] += a * x[i + 7];
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* p = r + b p (the CG direction update). */
static void xpby(float *restrict p, const float *restrict r, float b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        p[i] = r[i] + b * p[i];
        p[i + 1] = r[i + 1] + b * p[i + 1];
        p[i + 2] = r[i + 2] + b * p[i + 2];
        p[i + 3] = r[i + 3] + b * p[i + 3];
        p[i + 4] = r[i + 4] + b * p[i + 4];
        p[i + 5] = r[i + 5] + b * p[i + 5];
        p[i + 6] = r[i + 6] + b * p[i + 6];
        p[i + 7] = r[i + 7] + b * p[i + 7];
    }
    for (; i < n; i++)
        p[i] = r[i] + b * p[i];
}

/* ---- Gram matrix -------------------------------------------------------- */

/* G (f x f) = F'F for F (n x f), through the GEMM kernel on F transposed. */
static int gram(const float *F, int32_t n, int32_t f, float *G)
{
    if (n == 0) {
        memset(G, 0, (size_t)f * (size_t)f * sizeof *G);
        return 0;
    }
    float *Ft = vt_malloc((size_t)n * (size_t)f * sizeof *Ft);
    if (!Ft)
        return VT_ENOMEM;
    for (int32_t r = 0; r < n; r++)
        for (int32_t a = 0; a < f; a++)
            Ft[(size_t)a * (size_t)n + (size_t)r] = F[(size_t)r * (size_t)f + (size_t)a];
    vt_gemm_nt(Ft, Ft, NULL, G, (size_t)f, (size_t)f, (size_t)n);
    vt_free(Ft);
    return 0;
}

/* ---- the system of a row -------------------------------------------------- */

struct system {
    const float *G;     /* f x f */
    const struct vt_packed *Gp; /* G packed for the GEMM kernel, or NULL */
    const float *F;     /* fixed side, rows of f */
    int32_t f;
    float lambda, alpha;
    float reg_exponent; /* lambda_r = lambda (n_r / reg_mean)^reg_exponent */
    double reg_mean;    /* mean entries per non-empty row of the target side */
};

/* The regularisation of a row with n entries. */
static float row_lambda(const struct system *s, size_t n)
{
    if (s->reg_exponent == 0 || n == 0 || !(s->reg_mean > 0))
        return s->lambda;
    return (float)(s->lambda * pow((double)n / s->reg_mean, s->reg_exponent));
}

/* ---- conjugate gradient on a block of rows ---------------------------------- */

/*
 * The rows of a block are solved together, in lock step: the products G p
 * of all their search directions are one GEMM (R x f by f x f; G is
 * symmetric, so P G' = P G), which the AVX2 kernel runs many times faster
 * than R separate matrix-vector products. The rest of each row's step (its
 * entries, its step lengths) is per row, and a row whose residual fell to
 * tol stops moving while the others go on.
 */

/* out[r] += lambda_r v + sum_j alpha w_j (f_j . v) f_j for one row. */
static void add_entries(const struct system *s, const int32_t *idx, const float *w, size_t n,
                        const float *v, float *out)
{
    size_t f = (size_t)s->f;
    axpy(out, row_lambda(s, n), v, f);
    for (size_t k = 0; k < n; k++) {
        const float *fj = s->F + (size_t)idx[k] * f;
        axpy(out, s->alpha * w[k] * vt_dot(fj, v, f), fj, f);
    }
}

/* out (R x f) = V G for R rows V (G is symmetric: V G' = V G). */
static void gram_times(const struct system *s, const float *V, size_t R, float *out)
{
    if (s->Gp)
        vt_gemm_packed(V, s->Gp, NULL, out, R);
    else
        vt_gemm_nt(V, s->G, NULL, out, R, (size_t)s->f, (size_t)s->f);
}

/* Up to steps CG steps on the R rows of X (R x f, their current values);
 * row r's entries are idx/w[off[r] .. off[r] + cnt[r]). Returns 0 or
 * VT_ENOMEM. */
static int cg_rows(const struct system *s, float *X, size_t R, const int64_t *off,
                   const int64_t *cnt, const int32_t *idx, const float *w, int steps, double tol)
{
    size_t f = (size_t)s->f;
    float *buf = vt_malloc((3 * R * f + 1) * sizeof *buf);
    double *rs = vt_malloc((R + 1) * sizeof *rs);
    if (!buf || !rs) {
        vt_free(buf);
        vt_free(rs);
        return VT_ENOMEM;
    }
    float *Rm = buf, *P = buf + R * f, *AP = buf + 2 * R * f;

    /* r = b - A x, b = sum_j (1 + alpha w_j) f_j; p = r. */
    gram_times(s, X, R, AP);
    for (size_t r = 0; r < R; r++) {
        const int32_t *ri = idx + off[r];
        const float *rw = w + off[r];
        float *rr = Rm + r * f, *ap = AP + r * f;
        add_entries(s, ri, rw, (size_t)cnt[r], X + r * f, ap);
        memset(rr, 0, f * sizeof *rr);
        for (int64_t k = 0; k < cnt[r]; k++)
            axpy(rr, 1.0f + s->alpha * rw[k], s->F + (size_t)ri[k] * f, f);
        axpy(rr, -1.0f, ap, f);
        memcpy(P + r * f, rr, f * sizeof *rr);
        rs[r] = vt_dot(rr, rr, f);
    }
    for (int step = 0; step < steps; step++) {
        int live = 0;
        for (size_t r = 0; r < R; r++)
            live |= rs[r] > tol;
        if (!live)
            break;
        gram_times(s, P, R, AP);
        for (size_t r = 0; r < R; r++) {
            if (!(rs[r] > tol))
                continue;
            float *x = X + r * f, *rr = Rm + r * f, *p = P + r * f, *ap = AP + r * f;
            add_entries(s, idx + off[r], w + off[r], (size_t)cnt[r], p, ap);
            double pAp = vt_dot(p, ap, f);
            if (!(pAp > 0)) {
                rs[r] = 0; /* no descent left along p: this row is done */
                continue;
            }
            float alpha = (float)(rs[r] / pAp);
            axpy(x, alpha, p, f);
            axpy(rr, -alpha, ap, f);
            double rs_new = vt_dot(rr, rr, f);
            xpby(p, rr, (float)(rs_new / rs[r]), f);
            rs[r] = rs_new;
        }
    }
    vt_free(buf);
    vt_free(rs);
    return 0;
}

/* ---- half-steps ----------------------------------------------------------- */

struct half {
    struct system sys;
    float *T;             /* target side, rows of f */
    int32_t nrows;
    const int64_t *ptr;   /* target's CSR */
    const int32_t *idx;
    const float *w;
    int steps;
    atomic_int failed;
};

/* One block of rows: those without entries are solved at once (b = 0, so
 * x = 0), the others gathered into a contiguous block for cg_rows. */
static void half_task(void *arg, size_t task)
{
    struct half *h = arg;
    size_t f = (size_t)h->sys.f, R = 0;
    int32_t first = (int32_t)(task * ROWS_PER_TASK);
    int32_t last = first + ROWS_PER_TASK < h->nrows ? first + ROWS_PER_TASK : h->nrows;
    int32_t rows[ROWS_PER_TASK];
    int64_t off[ROWS_PER_TASK], cnt[ROWS_PER_TASK];

    for (int32_t r = first; r < last; r++) {
        if (h->ptr[r + 1] > h->ptr[r]) {
            rows[R] = r;
            off[R] = h->ptr[r];
            cnt[R++] = h->ptr[r + 1] - h->ptr[r];
        } else {
            memset(h->T + (size_t)r * f, 0, f * sizeof *h->T);
        }
    }
    if (R == 0)
        return;
    float *X = vt_malloc(R * f * sizeof *X);
    if (!X) {
        atomic_store(&h->failed, 1);
        return;
    }
    for (size_t r = 0; r < R; r++)
        memcpy(X + r * f, h->T + (size_t)rows[r] * f, f * sizeof *X);
    if (cg_rows(&h->sys, X, R, off, cnt, h->idx, h->w, h->steps, 0.0))
        atomic_store(&h->failed, 1);
    else
        for (size_t r = 0; r < R; r++)
            memcpy(h->T + (size_t)rows[r] * f, X + r * f, f * sizeof *X);
    vt_free(X);
}

/* Mean entries per non-empty row of a CSR side. */
static double mean_count(const int64_t *ptr, int32_t n)
{
    int64_t rows = 0;
    for (int32_t r = 0; r < n; r++)
        rows += ptr[r + 1] > ptr[r];
    return rows ? (double)ptr[n] / (double)rows : 0;
}

/* Solve every row of T against F (G = F'F is computed into G). */
static int half_step(float *T, int32_t nt, const float *F, int32_t nf, const int64_t *ptr,
                     const int32_t *idx, const float *w, const struct vt_ials *m, int steps,
                     float *G)
{
    struct vt_packed *Gp = NULL;
    int rc = gram(F, nf, m->factors, G);
    if (rc || (rc = vt_packed_new_nt(G, (size_t)m->factors, (size_t)m->factors, &Gp)))
        return rc;
    struct half h;
    memset(&h, 0, sizeof h);
    h.sys.G = G;
    h.sys.Gp = Gp;
    h.sys.F = F;
    h.sys.f = m->factors;
    h.sys.lambda = m->lambda;
    h.sys.alpha = m->alpha;
    h.sys.reg_exponent = m->reg_exponent;
    h.sys.reg_mean = mean_count(ptr, nt);
    h.T = T;
    h.nrows = nt;
    h.ptr = ptr;
    h.idx = idx;
    h.w = w;
    h.steps = steps;
    atomic_init(&h.failed, 0);
    size_t ntasks = ((size_t)nt + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
    vt_pool_run(vt_pool_shared(), half_task, &h, ntasks);
    vt_packed_free(Gp);
    return atomic_load(&h.failed) ? VT_ENOMEM : 0;
}

/* ---- the model ------------------------------------------------------------ */

void vt_ials_free(struct vt_ials *m)
{
    if (!m)
        return;
    vt_free(m->user_f);
    vt_free(m->item_f);
    vt_free(m->item_gram);
    vt_free(m->iter_seconds);
    vt_free(m->iter_loss);
    vt_free(m);
}

double vt_ials_loss(const struct vt_ials *m, const struct vt_interactions *ix)
{
    size_t f = (size_t)m->factors;
    double loss = 0, reg = 0;
    struct system su = {NULL, NULL, NULL, m->factors, m->lambda, m->alpha, m->reg_exponent,
                        mean_count(ix->user_ptr, ix->nusers)};
    struct system si = su;
    si.reg_mean = mean_count(ix->item_ptr, ix->nitems);
    /* Every pair as a "no" (x_u' G x_u with G = Y'Y), then the entries'
     * correction: c (1 - s)^2 instead of s^2. */
    float *Gx = vt_malloc(f * sizeof *Gx);
    if (!Gx)
        return NAN;
    for (int32_t u = 0; u < m->nusers; u++) {
        const float *x = m->user_f + (size_t)u * f;
        for (size_t a = 0; a < f; a++)
            Gx[a] = vt_dot(m->item_gram + a * f, x, f);
        loss += vt_dot(x, Gx, f);
        reg += row_lambda(&su, (size_t)vt_interactions_user_count(ix, u)) * vt_dot(x, x, f);
        for (int64_t k = ix->user_ptr[u]; k < ix->user_ptr[u + 1]; k++) {
            double s = vt_dot(x, m->item_f + (size_t)ix->user_item[k] * f, f);
            double c = 1.0 + (double)m->alpha * ix->user_w[k];
            loss += c * (1 - s) * (1 - s) - s * s;
        }
    }
    vt_free(Gx);
    for (int32_t i = 0; i < m->nitems; i++) {
        const float *y = m->item_f + (size_t)i * f;
        reg += row_lambda(&si, (size_t)vt_interactions_item_count(ix, i)) * vt_dot(y, y, f);
    }
    return loss + reg;
}

int vt_ials_fit(const struct vt_interactions *ix, const struct vt_ials_options *o,
                struct vt_ials **out)
{
    struct vt_ials_options opt = {0};
    struct vt_ials *m = NULL;
    float *G = NULL;
    int rc = VT_ENOMEM;

    if (o)
        opt = *o;
    if (opt.factors == 0)
        opt.factors = 64;
    if (opt.iterations == 0)
        opt.iterations = 15;
    if (opt.cg_steps == 0)
        opt.cg_steps = 3;
    if (opt.init_scale == 0)
        opt.init_scale = 0.01f;
    if (opt.factors < 1 || opt.factors > VT_IALS_MAX_FACTORS || opt.iterations < 0 ||
        opt.iterations > 100000 || opt.cg_steps < 1 || !(opt.lambda >= 0) ||
        !(opt.alpha >= 0) || !(opt.init_scale > 0) || !(opt.reg_exponent >= 0) ||
        opt.reg_exponent > 4)
        return VT_EINVAL;

    size_t f = (size_t)opt.factors, nu, ni;
    if (vt_mul_size((size_t)ix->nusers, f, &nu) || vt_mul_size((size_t)ix->nitems, f, &ni))
        return VT_ETOOBIG;
    m = vt_calloc(1, sizeof *m);
    if (!m)
        goto out;
    m->nusers = ix->nusers;
    m->nitems = ix->nitems;
    m->factors = opt.factors;
    m->lambda = opt.lambda;
    m->alpha = opt.alpha;
    m->reg_exponent = opt.reg_exponent;
    m->user_reg_mean = mean_count(ix->user_ptr, ix->nusers);
    m->iterations = opt.iterations;
    m->user_f = vt_malloc((nu + 1) * sizeof *m->user_f);
    m->item_f = vt_malloc((ni + 1) * sizeof *m->item_f);
    m->item_gram = vt_calloc(f * f, sizeof *m->item_gram);
    m->iter_seconds = vt_calloc((size_t)opt.iterations + 1, sizeof *m->iter_seconds);
    m->iter_loss = vt_calloc((size_t)opt.iterations + 1, sizeof *m->iter_loss);
    G = vt_malloc(f * f * sizeof *G);
    if (!m->user_f || !m->item_f || !m->item_gram || !m->iter_seconds || !m->iter_loss || !G)
        goto out;

    uint64_t seed = opt.seed;
    for (size_t k = 0; k < nu; k++)
        m->user_f[k] = (float)(opt.init_scale * normal(&seed));
    for (size_t k = 0; k < ni; k++)
        m->item_f[k] = (float)(opt.init_scale * normal(&seed));

    struct vt_progress bar;
    if (opt.progress)
        vt_progress_start(&bar, opt.progress, opt.iterations);
    for (int it = 0; it < opt.iterations; it++) {
        int64_t t0 = vt_time_mono_ns();
        rc = half_step(m->item_f, m->nitems, m->user_f, m->nusers, ix->item_ptr, ix->item_user,
                       ix->item_w, m, opt.cg_steps, G);
        if (rc == 0)
            rc = half_step(m->user_f, m->nusers, m->item_f, m->nitems, ix->user_ptr,
                           ix->user_item, ix->user_w, m, opt.cg_steps, m->item_gram);
        if (rc) {
            if (opt.progress)
                vt_progress_finish(&bar);
            goto out;
        }
        m->iter_seconds[it] = (double)(vt_time_mono_ns() - t0) / 1e9;
        m->iter_loss[it] = opt.compute_loss ? vt_ials_loss(m, ix) : NAN;
        if (opt.progress)
            vt_progress_update(&bar, it + 1);
    }
    if (opt.progress)
        vt_progress_finish(&bar);
    /* With no iterations the Gram matrix is still that of the initial items. */
    if (opt.iterations == 0 && (rc = gram(m->item_f, m->nitems, m->factors, m->item_gram)))
        goto out;
    *out = m;
    m = NULL;
    rc = 0;
out:
    vt_free(G);
    vt_ials_free(m);
    return rc;
}

/*
 * One row solved directly: A x = b with A = G + lambda_r I + sum_j alpha
 * w_j f_j f_j' and b = sum_j (1 + alpha w_j) f_j, the same system the
 * training's CG solves for a row, here by a Cholesky factorisation whose
 * inner loops are the SIMD dot product and axpy (f^3/6 + n f^2/2
 * multiply-adds: a few microseconds at 64 factors, where CG needs up to
 * 2f + 4 products with G). A request folds the shopper in on every
 * recommendation, so this is on the serving path. Returns 0, 1 when A is
 * not numerically positive definite (lambda 0 with a singular G: the
 * caller falls back to CG), or VT_ENOMEM.
 */
static int fold_in_direct(const struct system *s, const int32_t *idx, const float *w,
                          size_t n, float *x)
{
    size_t f = (size_t)s->f;
    float *A = vt_malloc((f * f + f) * sizeof *A);
    if (!A)
        return VT_ENOMEM;
    float *b = A + f * f;
    float lambda = row_lambda(s, n);
    memcpy(A, s->G, f * f * sizeof *A);
    memset(b, 0, f * sizeof *b);
    for (size_t r = 0; r < f; r++)
        A[r * f + r] += lambda;
    for (size_t j = 0; j < n; j++) {
        const float *fj = s->F + (size_t)idx[j] * f;
        float cw = s->alpha * w[j];
        for (size_t r = 0; r < f; r++) /* the lower triangle, row r to column r */
            axpy(A + r * f, cw * fj[r], fj, r + 1);
        axpy(b, 1.0f + cw, fj, f);
    }
    /* A = L L' in the lower triangle, row by row: L_ij = (A_ij - L_i. L_j.) / L_jj. */
    for (size_t i = 0; i < f; i++) {
        float *Li = A + i * f;
        for (size_t j = 0; j < i; j++) {
            const float *Lj = A + j * f;
            Li[j] = (Li[j] - vt_dot(Li, Lj, j)) / Lj[j];
        }
        float d = Li[i] - vt_dot(Li, Li, i);
        if (!(d > 1e-6f * (A[i * f + i] > 0 ? A[i * f + i] : 1.0f)) || !isfinite(d)) {
            vt_free(A);
            return 1;
        }
        Li[i] = sqrtf(d);
    }
    /* L y = b, then L' x = y (in b). */
    for (size_t i = 0; i < f; i++)
        b[i] = (b[i] - vt_dot(A + i * f, b, i)) / A[i * f + i];
    for (size_t i = f; i-- > 0;) {
        float v = b[i];
        for (size_t k = i + 1; k < f; k++)
            v -= A[k * f + i] * b[k];
        b[i] = v / A[i * f + i];
    }
    memcpy(x, b, f * sizeof *x);
    vt_free(A);
    return 0;
}

int vt_ials_fold_in(const struct vt_ials *m, const int32_t *items, const float *w, size_t n,
                    float *x)
{
    size_t f = (size_t)m->factors;
    int32_t *idx = vt_malloc((n + 1) * sizeof *idx);
    float *ww = vt_malloc((n + 1) * sizeof *ww);
    int rc = VT_ENOMEM;
    if (!idx || !ww)
        goto out;
    int64_t k = 0, off = 0;
    for (size_t j = 0; j < n; j++) {
        if (items[j] < 0 || items[j] >= m->nitems)
            continue;
        idx[k] = items[j];
        ww[k++] = w ? w[j] : 1.0f;
    }
    struct system s = {m->item_gram, NULL, m->item_f, m->factors, m->lambda, m->alpha,
                       m->reg_exponent, m->user_reg_mean};
    memset(x, 0, f * sizeof *x);
    /* A history of no known item leaves x = 0 (b = 0). */
    rc = k ? fold_in_direct(&s, idx, ww, (size_t)k, x) : 0;
    /* Not positive definite: CG from zero; exact arithmetic converges in
     * f steps, a few more absorb rounding. */
    if (rc == 1) {
        memset(x, 0, f * sizeof *x);
        rc = cg_rows(&s, x, 1, &off, &k, idx, ww, 2 * m->factors + 4, 1e-12);
    }
out:
    vt_free(idx);
    vt_free(ww);
    return rc;
}

void vt_ials_score(const struct vt_ials *m, const float *x, float *scores)
{
    size_t f = (size_t)m->factors;
    for (int32_t i = 0; i < m->nitems; i++)
        scores[i] = vt_dot(x, m->item_f + (size_t)i * f, f);
}

int vt_ials_score_users(const struct vt_ials *m, const int32_t *users, size_t n, float *scores)
{
    size_t f = (size_t)m->factors;
    if (n == 0)
        return 0;
    float *X = vt_malloc(n * f * sizeof *X);
    if (!X)
        return VT_ENOMEM;
    for (size_t k = 0; k < n; k++)
        memcpy(X + k * f, m->user_f + (size_t)users[k] * f, f * sizeof *X);
    vt_gemm_nt(X, m->item_f, NULL, scores, n, (size_t)m->nitems, f);
    vt_free(X);
    return 0;
}
