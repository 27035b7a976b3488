/*
 * kernels_int.h - what the kernel sets (kernels.c) and the products built
 * on them (kernels_gemm.c) share. Private to those two files.
 *
 * A kernel set is a table of function pointers, one per kernel, filled by
 * kernels.c for the portable C code and for AVX2/FMA; kernels_set() is the
 * one chosen at run time (or by vt_kernels_select). Tables are constant:
 * any thread may use them.
 */
#ifndef VT_NN_KERNELS_INT_H
#define VT_NN_KERNELS_INT_H

#include <stddef.h>

/* The micro-kernel's tile: MR rows of A (a strip) by NR columns of B (a
 * panel). */
#define MR 6
#define NR 16

typedef void (*micro_fn)(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                         const float *init, const char *pf, size_t npf);

struct kernel_set {
    const char *name;
    /* micro[r - 1]: c[r,16] (row stride ldc) = a.b + init[16] when init,
     * else c += a.b, for a strip of r rows (a still packed 6 wide); on
     * the way, npf cache lines from pf on are prefetched into L2 (a hint
     * for what the next call reads) */
    micro_fn micro[MR];
    void (*layernorm)(float *x, const float *g, const float *b, size_t rows, size_t dim,
                      float eps);
    void (*softmax_rows)(float *x, size_t rows, size_t n);
    /* attention probabilities of a strip of mr (1..MR) query rows: the
     * softmax of each row of x[mr, n] * s (s > 0; rows ldx apart, each
     * with room for n rounded up to 8 floats; x is overwritten), written
     * into p as one MR-row strip of depth n (pack_a's layout): exactly
     * scale, softmax_rows, then pack_a */
    void (*softmax_strip)(float *x, size_t ldx, size_t mr, size_t n, float s, float *p);
    void (*relu)(float *x, size_t n);
    void (*gelu)(float *x, size_t n);
    /* c[rows, cols] += x[rows, cols] (rows ldc and ldx apart) */
    void (*add_tile)(float *c, size_t ldc, const float *x, size_t ldx, size_t rows, size_t cols);
    /* gelu on a tile c[rows, cols] with rows ldc apart */
    void (*gelu_tile)(float *c, size_t ldc, size_t rows, size_t cols);
    /* panels [p0, p1) of B[n,k] (row stride ldb) into dst, transposed:
     * element (p, c) of panel j at dst + (j - p0) * k * NR + p * NR + c,
     * from B[(16j + c) * ldb + p], zero past n */
    void (*pack_bt)(const float *B, size_t ldb, size_t n, size_t k, size_t p0, size_t p1,
                    float *dst);
    /* rows [0, mc) x depth [0, kc) of A (row stride lda) into MR-row
     * strips, p-major, the last strip zero-padded to MR rows */
    void (*pack_a)(const float *A, size_t lda, size_t mc, size_t kc, float *dst);
    void (*tanh_)(float *x, size_t n);
    void (*add)(float *y, const float *x, size_t n);
    void (*scale)(float *x, float s, size_t n);
    float (*dot)(const float *a, const float *b, size_t n);
    void (*l2_normalize)(float *x, size_t n);
};

static inline size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Ask for a cache line into L2 (a hint: no effect on results). */
static inline void prefetch_l2(const char *p)
{
#if defined(__GNUC__)
    __builtin_prefetch(p, 0, 2);
#else
    (void)p;
#endif
}

/* The kernel set in use (chosen once, at the first call). */
const struct kernel_set *kernels_set(void);

#endif
