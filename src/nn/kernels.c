/*
 * kernels.c - portable reference implementations of kernels.h.
 * Accumulation is in float with the inner loop over contiguous memory.
 */
#include "nn/kernels.h"

#include <math.h>
#include <string.h>

void vt_gemm_nn(const float *A, const float *B, const float *bias, float *C, size_t m, size_t n,
                size_t k)
{
    for (size_t i = 0; i < m; i++) {
        float *c = C + i * n;
        if (bias)
            memcpy(c, bias, n * sizeof *c);
        else
            memset(c, 0, n * sizeof *c);
        const float *a = A + i * k;
        for (size_t p = 0; p < k; p++) {
            float av = a[p];
            const float *b = B + p * n;
            for (size_t j = 0; j < n; j++)
                c[j] += av * b[j];
        }
    }
}

void vt_gemm_nt(const float *A, const float *B, const float *bias, float *C, size_t m, size_t n,
                size_t k)
{
    for (size_t i = 0; i < m; i++) {
        const float *a = A + i * k;
        for (size_t j = 0; j < n; j++) {
            const float *b = B + j * k;
            float s = 0;
            for (size_t p = 0; p < k; p++)
                s += a[p] * b[p];
            C[i * n + j] = s + (bias ? bias[j] : 0.0f);
        }
    }
}

void vt_layernorm(float *x, const float *gamma, const float *beta, size_t rows, size_t dim,
                  float eps)
{
    for (size_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        double mean = 0, var = 0;
        for (size_t i = 0; i < dim; i++)
            mean += v[i];
        mean /= (double)dim;
        for (size_t i = 0; i < dim; i++)
            var += (v[i] - mean) * (v[i] - mean);
        var /= (double)dim;
        float inv = (float)(1.0 / sqrt(var + eps));
        for (size_t i = 0; i < dim; i++) {
            float y = (float)(v[i] - mean) * inv;
            v[i] = y * (gamma ? gamma[i] : 1.0f) + (beta ? beta[i] : 0.0f);
        }
    }
}

void vt_softmax_rows(float *x, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++) {
        float *v = x + r * n, mx = -INFINITY, sum = 0;
        for (size_t i = 0; i < n; i++)
            mx = v[i] > mx ? v[i] : mx;
        for (size_t i = 0; i < n; i++) {
            v[i] = expf(v[i] - mx);
            sum += v[i];
        }
        for (size_t i = 0; i < n; i++)
            v[i] /= sum;
    }
}

void vt_relu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

void vt_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void vt_tanh_inplace(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tanhf(x[i]);
}

void vt_add(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

float vt_dot(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void vt_l2_normalize(float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    if (s <= 0)
        return;
    float inv = (float)(1.0 / sqrt(s));
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
}

const char *vt_kernels_name(void)
{
    return "portable";
}
