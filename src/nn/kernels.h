/*
 * kernels.h - dense float32 kernels for the encoders.
 *
 * Row-major everywhere. Two matrix-product layouts because model formats
 * disagree: TF.js stores a dense kernel as [in, out] (vt_gemm_nn), PyTorch
 * and GGUF store a Linear weight as [out, in] (vt_gemm_nt).
 * Implementations pick AVX2/FMA at run time when the CPU has it and fall
 * back to portable C; results agree to float rounding. All functions are
 * thread-safe (no state); large products may split across the pool given.
 *
 * Kernel sets: "avx2-fma" when the CPU reports both AVX2 and FMA, else
 * "portable". The environment variable VITRINE_KERNELS=portable forces the
 * portable set (read once, at the first kernel call). Large matrix products
 * split across the shared thread pool (core/pool.h: VITRINE_COMPUTE_THREADS or
 * vt_pool_shared_set_threads); a product issued while the pool is busy runs
 * on the calling thread. A product uses about 230 KB of the stack of the
 * thread that runs it (its block of A, packed); threads with the default
 * stack size (8 MB on Debian) have plenty.
 *
 * Accuracy: every product accumulates in float32 along k, in blocks of 384;
 * elementwise functions (exp in softmax, erf in GELU, tanh) of the AVX2 set
 * use polynomial approximations with absolute error below 3e-7 over the
 * float range (tests/unit/test_kernels.c states each tolerance).
 */
#ifndef VT_NN_KERNELS_H
#define VT_NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* C[m,n] = A[m,k] . B[k,n] (+ bias[n] if bias) */
void vt_gemm_nn(const float *A, const float *B, const float *bias, float *C, size_t m, size_t n,
                size_t k);
/* C[m,n] = A[m,k] . B[n,k]^T (+ bias[n] if bias) */
void vt_gemm_nt(const float *A, const float *B, const float *bias, float *C, size_t m, size_t n,
                size_t k);

/*
 * Weights packed once for many products (a Linear layer's matrix): the
 * products then skip the per-call repacking of B, which dominates for
 * small m (a single short query). The packed form does not depend on the
 * kernel set. vt_packed_free(NULL) is a no-op. A packed matrix is
 * read-only and may be shared between threads.
 */
struct vt_packed;
/* From B[n,k] (PyTorch/GGUF Linear weight, y = x B^T). 0 or VT_ENOMEM. */
int vt_packed_new_nt(const float *B, size_t n, size_t k, struct vt_packed **out);
/* From B[k,n] (TF.js dense kernel, y = x B). 0 or VT_ENOMEM. */
int vt_packed_new_nn(const float *B, size_t k, size_t n, struct vt_packed **out);
void vt_packed_free(struct vt_packed *p);
size_t vt_packed_n(const struct vt_packed *p);
size_t vt_packed_k(const struct vt_packed *p);
/* Bytes held by the packed matrix. */
size_t vt_packed_bytes(const struct vt_packed *p);
/* C[m,n] = A[m,k] . B (+ bias[n] if bias), B packed. */
void vt_gemm_packed(const float *A, const struct vt_packed *B, const float *bias, float *C,
                    size_t m);

/*
 * vt_gemm_packed with more control, for chaining products without extra
 * passes over memory. Flags, or-ed:
 *   VT_GEMM_GELU      gelu on each tile of C as it is finished, while it is
 *                     in cache: exactly what vt_gelu on the result gives;
 *   VT_GEMM_C_STRIPS  C is written in the strip layout (ldc is ignored);
 *   VT_GEMM_A_STRIPS  A is read in the strip layout of depth k (lda is
 *                     ignored).
 * The strip layout of an [m, k] matrix is the form the product's kernel
 * reads A in: rows in strips of 6, the last one zero-padded, each strip
 * stored k-major, so element (i, p) is at (i / 6) * 6 * k + p * 6 + i % 6,
 * vt_strips_floats(m, k) floats in all. A product whose A is another's C
 * in this layout (a feed-forward block: up-projection, GELU,
 * down-projection) then copies nothing, on any number of threads.
 * With add, C = A.B + bias + add (a residual connection; add may not
 * overlap C): exactly what vt_add after the plain product gives. Strides
 * of 0 mean rows packed end to end (k for A, n for C and add).
 */
enum { VT_GEMM_PLAIN = 0, VT_GEMM_GELU = 1, VT_GEMM_C_STRIPS = 2, VT_GEMM_A_STRIPS = 4 };
struct vt_gemm_ex {
    size_t lda, ldc;       /* row strides of A and C (0: k and n) */
    int flags;             /* VT_GEMM_* */
    const float *add;      /* NULL, or [m, n] added to C, rows ldadd apart */
    size_t ldadd;          /* 0: n */
};
void vt_gemm_packed_ex(const float *A, const struct vt_packed *B, const float *bias, float *C,
                       size_t m, const struct vt_gemm_ex *ex);
size_t vt_strips_floats(size_t m, size_t k);

/*
 * Attention of one head over L tokens of dimension d: out = softmax(scale
 * . q k^T) v, the softmax over each row of L keys. q, k and v are [L, d]
 * with rows ld floats apart (so they can be column slices of one fused
 * QKV matrix); out is [L, d] with rows ldo floats apart. work holds
 * vt_attention_work_floats(L, d) floats (any alignment). The scores of a
 * few query rows at a time are all that is kept, so the work memory grows
 * with L, not L^2. Single-threaded.
 */
size_t vt_attention_work_floats(size_t L, size_t d);
void vt_attention(const float *q, const float *k, const float *v, size_t ld, size_t L, size_t d,
                  float scale, float *out, size_t ldo, float *work);

/* x[rows,dim] = (x - mean) / sqrt(var + eps) * gamma + beta, per row. */
void vt_layernorm(float *x, const float *gamma, const float *beta, size_t rows, size_t dim,
                  float eps);
/* Softmax of each row of x[rows,n] in place. */
void vt_softmax_rows(float *x, size_t rows, size_t n);

void vt_relu(float *x, size_t n);
void vt_gelu(float *x, size_t n);       /* exact erf form, as BERT */
void vt_tanh_inplace(float *x, size_t n);
/* y[i] += x[i] */
void vt_add(float *y, const float *x, size_t n);
/* x[i] *= s */
void vt_scale(float *x, float s, size_t n);
/* Dot product and L2 normalisation (a zero vector stays zero). */
float vt_dot(const float *a, const float *b, size_t n);
void vt_l2_normalize(float *x, size_t n);

/* IEEE half and bfloat16 to float (exact; NaN and infinities kept). */
void vt_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void vt_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
float vt_f16_one(uint16_t h);

/* Name of the kernel set chosen at run time: "avx2-fma" or "portable". */
const char *vt_kernels_name(void);

/* Switch kernel sets ("avx2-fma", "portable" or "auto"), for tests and
 * benchmarks; call while no kernel runs. Returns 0, VT_ENOTFOUND for an
 * unknown name, VT_EUNAVAIL when this CPU lacks the instructions. */
int vt_kernels_select(const char *name);

#endif
