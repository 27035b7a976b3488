/*
 * kernels_gemm.c - the matrix products and the attention kernel of
 * nn/kernels.h, built on the micro-kernels of the kernel set in use.
 *
 * Matrix products follow the usual blocked scheme. B is packed into panels
 * of NR = 16 columns, each stored k-major (panel j holds columns
 * [16j, 16j+16), element (p, c) at p*16 + c, zero-padded past n); A is
 * packed per block of MC rows x KC depth into strips of MR = 6 rows stored
 * p-major (or given in that "strip layout" by the product that made it,
 * kernels.h). A 6x16 micro-kernel then keeps its tile of C in twelve
 * 8-float registers while it walks the depth, unrolled by 8, so each
 * loaded B vector feeds six fused multiply-adds. Loop order (outer to
 * inner): depth blocks of KC, row blocks of MC, column panels, row strips:
 * a 24 KB slice of a B panel (384 x 16 floats) is read from memory once
 * per row block and serves every strip of it from L1 and L2, while the
 * packed A block (up to 132 x 384 floats, 198 KB) stays in L2. MC = 132
 * makes a batch-1 text of up to 128 tokens one row block, so the weights
 * stream once per product. While a panel's strips run, the micro-kernel
 * prefetches the next panel into L2, so the first strip over a panel does
 * not wait for memory. The micro-kernel also prefetches its C tile. Short
 * strips (m not a multiple of 6) use kernels compiled for 1..5 rows, so a
 * query of 8 tokens wastes nothing. Large products are split over the
 * shared thread pool (gemm_run says how); tasks write disjoint parts of C.
 *
 * The summation order of an element of C depends only on k (blocks of KC,
 * each summed in order): never on m, the row blocks, the split or the
 * thread count, so a text's vector is the same in any batch.
 *
 * vt_attention runs one head with the same micro-kernel: K and V packed
 * as B panels, then for each strip of 6 queries its scores (in L1), their
 * softmax, and their product with V, written straight into the output.
 */
#include "nn/kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "nn/kernels_int.h"

/* Depth and row blocking (may be set at build time when tuning for
 * another cache hierarchy). KC was tuned on Zen 4/5 and checked against
 * OpenBLAS; 256 and 192 measured no better on Zen 3. MC = 132 rather than
 * 72 made batch-1 products of 94 and 128 rows 2-6 % faster on Zen 3 (one
 * row block instead of two, so the weights are streamed once). */
#ifndef KC
#define KC 384
#endif
#ifndef MC
#define MC 132
#endif
/* Row blocks of at least this many rows prefetch the next panel of B. */
#define PF_MIN_ROWS 36
/* Products below this many multiply-adds run on the calling thread. */
#define PAR_MIN_MACS (1u << 20)
/* B panels up to this many floats are packed on the stack. */
#define STACK_PACK_FLOATS 8192

/* ------------------------------------------------------------------ */
/* Packing                                                             */
/* ------------------------------------------------------------------ */

struct vt_packed {
    size_t n, k, npanels;
    float *data;      /* 64-byte aligned, npanels * k * NR floats */
    void *raw;        /* what vt_malloc returned */
};

/* Panels [p0, p1) of B into dst (panel j at dst + (j - p0) * k * NR).
 * trans: B is [n,k] (element (p, col) at B[col * ldb + p]); else [k,n]
 * (element (p, col) at B[p * ldb + col]). */
static void pack_b(const float *B, size_t ldb, int trans, size_t n, size_t k, size_t p0,
                   size_t p1, float *dst)
{
    if (trans) {
        kernels_set()->pack_bt(B, ldb, n, k, p0, p1, dst);
        return;
    }
    for (size_t jp = p0; jp < p1; jp++) {
        float *d = dst + (jp - p0) * k * NR;
        size_t col = jp * NR, nc = min_sz(NR, n - col);
        for (size_t p = 0; p < k; p++) {
            const float *src = B + p * ldb + col;
            if (nc == NR) {
                memcpy(d + p * NR, src, NR * sizeof *d);   /* a constant size: inlined */
            } else {
                for (size_t c = 0; c < NR; c++)
                    d[p * NR + c] = c < nc ? src[c] : 0.0f;
            }
        }
    }
}

static int packed_alloc(size_t n, size_t k, struct vt_packed **out)
{
    *out = NULL;
    struct vt_packed *p = vt_calloc(1, sizeof *p);
    if (!p)
        return VT_ENOMEM;
    p->n = n;
    p->k = k;
    p->npanels = (n + NR - 1) / NR;
    size_t floats, bytes;
    if (vt_mul_size(p->npanels * NR, k ? k : 1, &floats) < 0 ||
        vt_mul_size(floats, sizeof(float), &bytes) < 0 || bytes > SIZE_MAX - 64) {
        vt_free(p);
        return VT_ENOMEM;
    }
    p->raw = vt_malloc(bytes + 64);
    if (!p->raw) {
        vt_free(p);
        return VT_ENOMEM;
    }
    p->data = (float *)(((uintptr_t)p->raw + 63) & ~(uintptr_t)63);
    *out = p;
    return 0;
}

int vt_packed_new_nt(const float *B, size_t n, size_t k, struct vt_packed **out)
{
    int rc = packed_alloc(n, k, out);
    if (rc == 0)
        pack_b(B, k, 1, n, k, 0, (*out)->npanels, (*out)->data);
    return rc;
}

int vt_packed_new_nn(const float *B, size_t k, size_t n, struct vt_packed **out)
{
    int rc = packed_alloc(n, k, out);
    if (rc == 0)
        pack_b(B, n, 0, n, k, 0, (*out)->npanels, (*out)->data);
    return rc;
}

void vt_packed_free(struct vt_packed *p)
{
    if (!p)
        return;
    vt_free(p->raw);
    vt_free(p);
}

size_t vt_packed_n(const struct vt_packed *p)
{
    return p->n;
}

size_t vt_packed_k(const struct vt_packed *p)
{
    return p->k;
}

size_t vt_packed_bytes(const struct vt_packed *p)
{
    return p->npanels * NR * p->k * sizeof(float);
}

/* ------------------------------------------------------------------ */
/* Blocked product                                                     */
/* ------------------------------------------------------------------ */

struct gemm_job {
    const struct kernel_set *ks;
    const float *A;        /* [m,k], row stride lda */
    const float *Bp;       /* packed panels */
    const float *bias;
    float *C;              /* [m,n], row stride ldc */
    size_t lda, ldc, m, n, k, npanels;
    int flags;             /* VT_GEMM_* */
    const float *add;      /* added to C after the bias, rows ldadd apart */
    size_t ldadd;
    /* task grid: rows in steps of mstep, panels in steps of pstep */
    size_t mstep, pstep, tasks_n;
};

/* The epilogue on a finished tile c[rows, cols] (row stride ldc) of C at
 * row i, column col, while it is still in L1: the residual, then GELU. */
static void gemm_post(const struct gemm_job *j, float *c, size_t ldc, size_t i, size_t col,
                      size_t rows, size_t cols)
{
    if (j->add)
        j->ks->add_tile(c, ldc, j->add + i * j->ldadd + col, j->ldadd, rows, cols);
    if (j->flags & VT_GEMM_GELU)
        j->ks->gelu_tile(c, ldc, rows, cols);
}

/* Rows [i0, i1) x panels [p0, p1) of C. The packed block of A (MC x KC
 * floats, 198 KB) lives on the stack: no allocation per product. */
static void gemm_block(const struct gemm_job *j, size_t i0, size_t i1, size_t p0, size_t p1)
{
    _Alignas(64) float abuf[MC * KC];
    _Alignas(64) float tile[MR * NR];
    _Alignas(64) float binit[NR];
    static const float zeros[NR];
    const micro_fn *micro = j->ks->micro;
    size_t n = j->n, k = j->k, ldc = j->ldc;
    int a_strips = j->flags & VT_GEMM_A_STRIPS, c_strips = j->flags & VT_GEMM_C_STRIPS;
    for (size_t pc = 0; pc < k; pc += KC) {
        size_t kc = min_sz(KC, k - pc);
        int last = pc + kc == k;
        for (size_t ic = i0; ic < i1; ic += MC) {
            size_t mc = min_sz(MC, i1 - ic);
            /* the block's strips: in A itself when A is in the strip
             * layout (ic is a multiple of MR), else packed here */
            const float *ablk = abuf;
            size_t astride = kc;
            if (a_strips) {
                ablk = j->A + ic * k + pc * MR;
                astride = k;
            } else {
                j->ks->pack_a(j->A + ic * j->lda + pc, j->lda, mc, kc, abuf);
            }
            for (size_t jp = p0; jp < p1; jp++) {
                const float *bp = j->Bp + jp * k * NR + pc * NR;
                size_t col = jp * NR, nc = min_sz(NR, n - col);
                const float *init = NULL;
                if (pc == 0) {
                    if (!j->bias) {
                        init = zeros;
                    } else if (nc == NR) {
                        init = j->bias + col;
                    } else {
                        memset(binit, 0, sizeof binit);
                        memcpy(binit, j->bias + col, nc * sizeof *binit);
                        init = binit;
                    }
                }
                /* The next panel's slice of B (kc lines of 64 bytes) is
                 * asked for into L2 while this panel's strips run, a share
                 * of it by each strip, one line per eight depth steps: B,
                 * the weights, comes from L3 or memory, and the first
                 * strip over a panel would otherwise wait for it (3-5 %
                 * of a batch-1 product; issued in a burst before each
                 * strip instead, the prefetches stall and give back half
                 * of that). Not for a few strips, where the hardware's own
                 * prefetch keeps up and the extra work costs more than it
                 * saves. */
                size_t pf_lines = jp + 1 < p1 && mc >= PF_MIN_ROWS ? kc : 0;
                size_t pf_step = (pf_lines * MR + mc - 1) / mc;
                const char *pf = pf_lines ? (const char *)(bp + k * NR) : NULL;
                for (size_t ir = 0; ir < mc; ir += MR) {
                    size_t mr = min_sz(MR, mc - ir);
                    const float *a = ablk + ir * astride;
                    size_t l0 = min_sz(pf_lines, ir / MR * pf_step);
                    size_t npf = min_sz(pf_lines - l0, pf_step);
                    const char *pfs = npf ? pf + l0 * 64 : NULL;
                    if (c_strips) {
                        /* C in the strip layout: the tile goes through
                         * `tile` and is stored transposed, 16 depth steps
                         * of one strip, contiguous */
                        float *cs = j->C + (ic + ir) * n + col * MR;
                        if (!init) {
                            memset(tile, 0, sizeof tile);
                            for (size_t r = 0; r < mr; r++)
                                for (size_t q = 0; q < nc; q++)
                                    tile[r * NR + q] = cs[q * MR + r];
                        }
                        micro[mr - 1](kc, a, bp, tile, NR, init, pfs, npf);
                        if (last)
                            gemm_post(j, tile, NR, ic + ir, col, mr, nc);
                        j->ks->pack_a(tile, NR, mr, nc, cs);
                        continue;
                    }
                    float *c = j->C + (ic + ir) * ldc + col;
                    if (nc == NR) {
                        micro[mr - 1](kc, a, bp, c, ldc, init, pfs, npf);
                        if (last)
                            gemm_post(j, c, ldc, ic + ir, col, mr, NR);
                        continue;
                    }
                    if (!init) {
                        memset(tile, 0, sizeof tile);
                        for (size_t r = 0; r < mr; r++)
                            memcpy(tile + r * NR, c + r * ldc, nc * sizeof *tile);
                    }
                    micro[mr - 1](kc, a, bp, tile, NR, init, pfs, npf);
                    if (last)
                        gemm_post(j, tile, NR, ic + ir, col, mr, nc);
                    for (size_t r = 0; r < mr; r++)
                        memcpy(c + r * ldc, tile + r * NR, nc * sizeof *tile);
                }
            }
        }
    }
}

static void gemm_task(void *arg, size_t t)
{
    const struct gemm_job *j = arg;
    size_t tm = t / j->tasks_n, tn = t % j->tasks_n;
    size_t i0 = tm * j->mstep, p0 = tn * j->pstep;
    if (i0 >= j->m || p0 >= j->npanels)
        return;
    gemm_block(j, i0, min_sz(j->m, i0 + j->mstep), p0, min_sz(j->npanels, p0 + j->pstep));
}

static void gemm_run(const float *A, size_t lda, const float *Bp, size_t npanels,
                     const float *bias, float *C, size_t ldc, size_t m, size_t n, size_t k,
                     int flags, const float *add, size_t ldadd)
{
    if (m == 0 || n == 0)
        return;
    const struct kernel_set *ks = kernels_set();
    struct gemm_job j = {ks, A, Bp, bias, C, lda, ldc, m, n, k, npanels, flags, add, ldadd,
                         m, npanels, 1};
    if (k == 0) {
        /* C = bias (or 0), through the epilogue, in C's layout */
        _Alignas(64) float row[NR];
        for (size_t i = 0; i < m; i += MR) {
            size_t mr = min_sz(MR, m - i);
            for (size_t col = 0; col < n; col += NR) {
                size_t nc = min_sz(NR, n - col);
                float t[MR * NR];
                memset(row, 0, sizeof row);
                if (bias)
                    memcpy(row, bias + col, nc * sizeof *row);
                for (size_t r = 0; r < mr; r++)
                    memcpy(t + r * NR, row, sizeof row);
                gemm_post(&j, t, NR, i, col, mr, nc);
                if (flags & VT_GEMM_C_STRIPS)
                    ks->pack_a(t, NR, mr, nc, C + i * n + col * MR);
                else
                    for (size_t r = 0; r < mr; r++)
                        memcpy(C + (i + r) * ldc + col, t + r * NR, nc * sizeof *C);
            }
        }
        return;
    }
    double macs = (double)m * (double)n * (double)k;
    struct vt_pool *pool = macs >= PAR_MIN_MACS ? vt_pool_shared() : NULL;
    size_t threads = vt_pool_threads(pool);
    if (threads <= 1) {
        gemm_block(&j, 0, m, 0, npanels);
        return;
    }
    /*
     * Tasks. Each task packs the rows of A it covers, and streams the
     * panels of B it covers once per block of MC rows. A product of at
     * most MC rows (a batch-1 call: one text of up to 128 tokens) is
     * split by columns only: every panel of B, the weights, is read once
     * from memory, by one thread, and feeds all the rows, while A, small,
     * is packed by every task (a few microseconds against a few hundred).
     * Two tasks per thread, so that a thread that starts late (the
     * machine busy with other work) still gets its share, and one held
     * up delays the product by half its share. Taller products are cut
     * into blocks of rows (MC each, the block a B panel is streamed for
     * anyway), and their columns split as well when that gives too few
     * tasks for four per thread.
     */
    size_t strips = (m + MR - 1) / MR, tasks_m, tasks_n;
    if (m <= MC) {
        tasks_m = 1;
        tasks_n = min_sz(npanels, 2 * threads);
    } else {
        size_t want = 4 * threads;
        tasks_m = min_sz((m + MC - 1) / MC, strips);
        tasks_n = tasks_m >= want ? 1 : min_sz(npanels, (want + tasks_m - 1) / tasks_m);
    }
    j.pstep = (npanels + tasks_n - 1) / tasks_n;
    j.tasks_n = (npanels + j.pstep - 1) / j.pstep;
    j.mstep = ((strips + tasks_m - 1) / tasks_m) * MR;
    tasks_m = (m + j.mstep - 1) / j.mstep;
    vt_pool_run(pool, gemm_task, &j, tasks_m * j.tasks_n);
}

void vt_gemm_packed(const float *A, const struct vt_packed *B, const float *bias, float *C,
                    size_t m)
{
    gemm_run(A, B->k, B->data, B->npanels, bias, C, B->n, m, B->n, B->k, VT_GEMM_PLAIN, NULL, 0);
}

void vt_gemm_packed_ex(const float *A, const struct vt_packed *B, const float *bias, float *C,
                       size_t m, const struct vt_gemm_ex *ex)
{
    size_t n = B->n, k = B->k;
    gemm_run(A, ex->lda ? ex->lda : k, B->data, B->npanels, bias, C, ex->ldc ? ex->ldc : n, m, n,
             k, ex->flags, ex->add, ex->ldadd ? ex->ldadd : n);
}

size_t vt_strips_floats(size_t m, size_t k)
{
    return (m + MR - 1) / MR * MR * k;
}

static void gemm_naive(const float *A, const float *B, int trans, const float *bias, float *C,
                       size_t m, size_t n, size_t k)
{
    for (size_t i = 0; i < m; i++)
        for (size_t c = 0; c < n; c++) {
            float s = 0;
            for (size_t p = 0; p < k; p++)
                s += A[i * k + p] * (trans ? B[c * k + p] : B[p * n + c]);
            C[i * n + c] = s + (bias ? bias[c] : 0.0f);
        }
}

static void gemm_unpacked(const float *A, const float *B, int trans, const float *bias,
                          float *C, size_t m, size_t n, size_t k)
{
    _Alignas(64) float sbuf[STACK_PACK_FLOATS];
    size_t npanels = (n + NR - 1) / NR, floats;
    size_t ldb = trans ? k : n;
    if (vt_mul_size(npanels * NR, k, &floats) < 0) {
        gemm_naive(A, B, trans, bias, C, m, n, k);
        return;
    }
    if (floats <= STACK_PACK_FLOATS) {
        pack_b(B, ldb, trans, n, k, 0, npanels, sbuf);
        gemm_run(A, k, sbuf, npanels, bias, C, n, m, n, k, VT_GEMM_PLAIN, NULL, 0);
        return;
    }
    struct vt_packed *p;
    if (packed_alloc(n, k, &p) != 0) {
        /* no memory for the packed copy: slow but allocation-free */
        gemm_naive(A, B, trans, bias, C, m, n, k);
        return;
    }
    pack_b(B, ldb, trans, n, k, 0, npanels, p->data);
    gemm_run(A, k, p->data, npanels, bias, C, n, m, n, k, VT_GEMM_PLAIN, NULL, 0);
    vt_packed_free(p);
}

void vt_gemm_nn(const float *A, const float *B, const float *bias, float *C, size_t m, size_t n,
                size_t k)
{
    gemm_unpacked(A, B, 0, bias, C, m, n, k);
}

void vt_gemm_nt(const float *A, const float *B, const float *bias, float *C, size_t m, size_t n,
                size_t k)
{
    gemm_unpacked(A, B, 1, bias, C, m, n, k);
}

/* ------------------------------------------------------------------ */
/* Attention of one head                                               */
/* ------------------------------------------------------------------ */

static size_t round_up16(size_t x)
{
    return (x + NR - 1) / NR * NR;
}

size_t vt_attention_work_floats(size_t L, size_t d)
{
    /* K packed as panels of 16 keys, V as panels of 16 dimensions, the
     * scores of one strip of queries as computed and packed, that strip's
     * queries packed, and 64 bytes to align the panels */
    return round_up16(L) * d + round_up16(d) * L + MR * round_up16(L) + MR * L + MR * d + NR;
}

void vt_attention(const float *q, const float *k, const float *v, size_t ld, size_t L, size_t d,
                  float scale, float *out, size_t ldo, float *work)
{
    static const float zeros[NR];
    _Alignas(64) float tile[MR * NR];
    if (L == 0 || d == 0)
        return;
    const struct kernel_set *ks = kernels_set();
    size_t lp = round_up16(L), kpanels = lp / NR, dpanels = round_up16(d) / NR;
    float *kp = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    float *vp = kp + lp * d, *s = vp + dpanels * NR * L, *qa = s + MR * lp, *sa = qa + MR * d;
    /* scores = q k^T: B is k as [L, d] (trans); context = p v: B is v as
     * [L, d] (not trans), both with row stride ld */
    pack_b(k, ld, 1, L, d, 0, kpanels, kp);
    pack_b(v, ld, 0, d, L, 0, dpanels, vp);
    for (size_t i = 0; i < L; i += MR) {
        size_t mr = min_sz(MR, L - i);
        const micro_fn micro = ks->micro[mr - 1];
        /* one strip of query rows at a time: its scores (MR x lp floats)
         * stay in L1 from the product through the softmax to the product
         * with v */
        ks->pack_a(q + i * ld, ld, mr, d, qa);
        for (size_t jp = 0; jp < kpanels; jp++)
            micro(d, qa, kp + jp * d * NR, s + jp * NR, lp, zeros, NULL, 0);
        ks->softmax_strip(s, lp, mr, L, scale, sa);
        for (size_t jp = 0; jp < dpanels; jp++) {
            size_t col = jp * NR, nc = min_sz(NR, d - col);
            if (nc == NR) {
                micro(L, sa, vp + jp * L * NR, out + i * ldo + col, ldo, zeros, NULL, 0);
                continue;
            }
            micro(L, sa, vp + jp * L * NR, tile, NR, zeros, NULL, 0);
            for (size_t r = 0; r < mr; r++)
                memcpy(out + (i + r) * ldo + col, tile + r * NR, nc * sizeof *tile);
        }
    }
}

