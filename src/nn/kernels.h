/*
 * kernels.h - dense float32 kernels for the encoders.
 *
 * Row-major everywhere. Two matrix-product layouts because model formats
 * disagree: TF.js stores a dense kernel as [in, out] (vt_gemm_nn), PyTorch
 * and GGUF store a Linear weight as [out, in] (vt_gemm_nt).
 * Implementations pick AVX2/FMA at run time when the CPU has it and fall
 * back to portable C; results agree to float rounding. All functions are
 * thread-safe (no state); large products may split across the pool given.
 */
#ifndef VT_NN_KERNELS_H
#define VT_NN_KERNELS_H

#include <stddef.h>

/* C[m,n] = A[m,k] . B[k,n] (+ bias[n] if bias) */
void vt_gemm_nn(const float *A, const float *B, const float *bias, float *C, size_t m, size_t n,
                size_t k);
/* C[m,n] = A[m,k] . B[n,k]^T (+ bias[n] if bias) */
void vt_gemm_nt(const float *A, const float *B, const float *bias, float *C, size_t m, size_t n,
                size_t k);

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
/* Dot product and L2 normalisation (a zero vector stays zero). */
float vt_dot(const float *a, const float *b, size_t n);
void vt_l2_normalize(float *x, size_t n);

/* Name of the kernel set chosen at run time: "avx2-fma" or "portable". */
const char *vt_kernels_name(void);

#endif
