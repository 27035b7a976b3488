/*
 * kernels.c - dense float32 kernels with run-time CPU dispatch.
 *
 * Two kernel sets share one interface (struct kernel_set): the portable C
 * set, which any C11 compiler builds, and the AVX2/FMA set, compiled per
 * function with target attributes (the build passes no -mavx2) and chosen
 * when __builtin_cpu_supports reports both features.
 *
 * The kernels of the products live here too, one per set: the 6x16
 * micro-kernel (for strips of 1..6 rows), the packing of A into strips
 * and of B into panels, and the epilogues the products apply to a
 * finished tile (GELU, a residual, the attention softmax);
 * kernels_gemm.c builds the products and the attention kernel on them.
 */
#include "nn/kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/kernels_int.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_AVX2 1
#include <immintrin.h>
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

/* Loops over the rows of a strip must unroll fully so that the
 * accumulators stay in registers. */
#if defined(__clang__)
#define UNROLL_MR _Pragma("unroll")
#define UNROLL_8 _Pragma("unroll")
#elif defined(__GNUC__)
#define UNROLL_MR _Pragma("GCC unroll 6")
#define UNROLL_8 _Pragma("GCC unroll 8")
#else
#define UNROLL_MR
#define UNROLL_8
#endif
/* ------------------------------------------------------------------ */
/* Portable set                                                        */
/* ------------------------------------------------------------------ */

static inline void micro_portable_rows(int rows, size_t kc, const float *a, const float *b,
                                       float *c, size_t ldc, const float *init)
{
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (size_t p = 0; p < kc; p++) {
        for (int i = 0; i < rows; i++) {
            float av = a[i];
            for (int j = 0; j < NR; j++)
                acc[i][j] += av * b[j];
        }
        a += MR;
        b += NR;
    }
    for (int i = 0; i < rows; i++) {
        float *ci = c + (size_t)i * ldc;
        if (init)
            for (int j = 0; j < NR; j++)
                ci[j] = acc[i][j] + init[j];
        else
            for (int j = 0; j < NR; j++)
                ci[j] += acc[i][j];
    }
}

#define MICRO_PORTABLE(R)                                                                    \
    static void micro_portable_##R(size_t kc, const float *a, const float *b, float *c,      \
                                   size_t ldc, const float *init, const char *pf, size_t npf) \
    {                                                                                        \
        (void)pf;                                                                            \
        (void)npf;                                                                           \
        micro_portable_rows(R, kc, a, b, c, ldc, init);                                      \
    }
MICRO_PORTABLE(1)
MICRO_PORTABLE(2)
MICRO_PORTABLE(3)
MICRO_PORTABLE(4)
MICRO_PORTABLE(5)
MICRO_PORTABLE(6)

/* Rows [0, mc) x depth [0, kc) of A (row stride lda) into MR-row strips. */
static void pack_a_portable(const float *A, size_t lda, size_t mc, size_t kc, float *dst)
{
    for (size_t ir = 0; ir < mc; ir += MR) {
        size_t mr = min_sz(MR, mc - ir);
        float *d = dst + ir * kc;
        if (mr == MR) {
            const float *r0 = A + ir * lda, *r1 = r0 + lda, *r2 = r1 + lda;
            const float *r3 = r2 + lda, *r4 = r3 + lda, *r5 = r4 + lda;
            for (size_t p = 0; p < kc; p++) {
                d[0] = r0[p];
                d[1] = r1[p];
                d[2] = r2[p];
                d[3] = r3[p];
                d[4] = r4[p];
                d[5] = r5[p];
                d += MR;
            }
        } else {
            for (size_t p = 0; p < kc; p++) {
                size_t i = 0;
                for (; i < mr; i++)
                    d[i] = A[(ir + i) * lda + p];
                for (; i < MR; i++)
                    d[i] = 0;
                d += MR;
            }
        }
    }
}

static void pack_bt_portable(const float *B, size_t ldb, size_t n, size_t k, size_t p0,
                             size_t p1, float *dst)
{
    for (size_t jp = p0; jp < p1; jp++) {
        float *d = dst + (jp - p0) * k * NR;
        size_t col = jp * NR, nc = min_sz(NR, n - col);
        for (size_t c = 0; c < nc; c++) {
            const float *src = B + (col + c) * ldb;
            for (size_t p = 0; p < k; p++)
                d[p * NR + c] = src[p];
        }
        for (size_t c = nc; c < NR; c++)
            for (size_t p = 0; p < k; p++)
                d[p * NR + c] = 0;
    }
}

static void layernorm_portable(float *x, const float *gamma, const float *beta, size_t rows,
                               size_t dim, float eps)
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

static void softmax_portable(float *x, size_t rows, size_t n)
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


static void softmax_strip_portable(float *x, size_t ldx, size_t mr, size_t n, float s, float *p)
{
    for (size_t r = 0; r < mr; r++) {
        for (size_t i = 0; i < n; i++)
            x[r * ldx + i] *= s;
        softmax_portable(x + r * ldx, 1, n);
    }
    pack_a_portable(x, ldx, mr, n, p);
}

static void relu_portable(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

static void gelu_portable(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

static void gelu_tile_portable(float *c, size_t ldc, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        gelu_portable(c + r * ldc, cols);
}

static void tanh_portable(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tanhf(x[i]);
}

static void add_portable(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void add_tile_portable(float *c, size_t ldc, const float *x, size_t ldx, size_t rows,
                              size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        add_portable(c + r * ldc, x + r * ldx, cols);
}

static void scale_portable(float *x, float s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= s;
}

static float dot_portable(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void l2_normalize_portable(float *x, size_t n)
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

static const struct kernel_set portable_set = {
    "portable",
    {micro_portable_1, micro_portable_2, micro_portable_3, micro_portable_4, micro_portable_5,
     micro_portable_6},
    layernorm_portable,
    softmax_portable,
    softmax_strip_portable,
    relu_portable,
    gelu_portable,
    add_tile_portable,
    gelu_tile_portable,
    pack_bt_portable,
    pack_a_portable,
    tanh_portable,
    add_portable,
    scale_portable,
    dot_portable,
    l2_normalize_portable,
};

/* ------------------------------------------------------------------ */
/* AVX2 / FMA set                                                      */
/* ------------------------------------------------------------------ */

#ifdef HAVE_AVX2

/*
 * The 6x16 micro-kernel, written once for a strip of `rows` (1..6) rows:
 * the wrappers below pass a constant, so each one compiles to straight-line
 * code without the rows it does not need. Short strips (a query of 8
 * tokens is one strip of 6 and one of 2) then cost only what they compute.
 */
TARGET_AVX2 static inline __attribute__((always_inline)) void
micro_avx2_rows(const int rows, size_t kc, const float *a, const float *b, float *c, size_t ldc,
                const float *init, const char *pf, size_t npf)
{
    __m256 acc[MR][2];
    UNROLL_MR
    for (int i = 0; i < rows; i++) {
        acc[i][0] = _mm256_setzero_ps();
        acc[i][1] = _mm256_setzero_ps();
    }
    /* C usually lives in memory, not cache: ask for the tile now so the
     * misses overlap with the depth loop. */
    UNROLL_MR
    for (int i = 0; i < rows; i++) {
        _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)i * ldc + 15), _MM_HINT_T0);
    }
    /* the depth loop unrolled by 8: measured 4 % faster on Zen 3 than
     * the plain loop (the loop's own instructions, and the loads of
     * consecutive steps, overlap better) */
    size_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        if (npf) {
            prefetch_l2(pf);
            pf += 64;
            npf--;
        }
        UNROLL_8
        for (int u = 0; u < 8; u++) {
            __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
            UNROLL_MR
            for (int i = 0; i < rows; i++) {
                __m256 av = _mm256_broadcast_ss(a + i);
                acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
            }
            a += MR;
            b += NR;
        }
    }
    for (; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        UNROLL_MR
        for (int i = 0; i < rows; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
        a += MR;
        b += NR;
    }
    for (; npf; npf--, pf += 64)
        prefetch_l2(pf);
    if (init) {
        __m256 i0 = _mm256_loadu_ps(init), i1 = _mm256_loadu_ps(init + 8);
        UNROLL_MR
        for (int i = 0; i < rows; i++) {
            _mm256_storeu_ps(c + (size_t)i * ldc, _mm256_add_ps(acc[i][0], i0));
            _mm256_storeu_ps(c + (size_t)i * ldc + 8, _mm256_add_ps(acc[i][1], i1));
        }
    } else {
        UNROLL_MR
        for (int i = 0; i < rows; i++) {
            float *ci = c + (size_t)i * ldc;
            _mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), acc[i][0]));
            _mm256_storeu_ps(ci + 8, _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc[i][1]));
        }
    }
}

#define MICRO_AVX2(R)                                                                        \
    TARGET_AVX2 static void micro_avx2_##R(size_t kc, const float *a, const float *b,        \
                                           float *c, size_t ldc, const float *init,          \
                                           const char *pf, size_t npf)                       \
    {                                                                                        \
        micro_avx2_rows(R, kc, a, b, c, ldc, init, pf, npf);                                 \
    }
MICRO_AVX2(1)
MICRO_AVX2(2)
MICRO_AVX2(3)
MICRO_AVX2(4)
MICRO_AVX2(5)
MICRO_AVX2(6)

TARGET_AVX2 static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TARGET_AVX2 static inline float hmax256(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane mask with the first r (0..8) lanes set, for tails. */
TARGET_AVX2 static inline __m256i tail_mask(size_t r)
{
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - r));
}

/*
 * exp(x): x = n ln2 + r with |r| <= ln2/2 (ln2 split in a high part exact
 * in float and a low correction), e^r by its Taylor polynomial to degree 7
 * (truncation error below 6e-9 relative), 2^n built in the exponent bits.
 * exp256: inputs below ln(FLT_MIN) give 0; inputs above 88 are clamped
 * to 88. exp256_in_range is the same without the clamping, for arguments
 * known to lie in [ln(FLT_MIN), 88] (there both give the same floats).
 */
TARGET_AVX2 static inline __m256 exp256_in_range(__m256 x)
{
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                                  23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

TARGET_AVX2 static inline __m256 exp256(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.0f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    return _mm256_andnot_ps(under, exp256_in_range(x));
}

/*
 * erf(x) = sign(x) (1 - t exp(-z^2 + P(t))), z = |x|, t = 1 / (1 + z/2).
 * P is a degree-9 polynomial fitted by least squares (weighted by erfc) to
 * log(erfc(z) / t) + z^2 on z in [0, 7]; with float coefficients the
 * error of the formula is below 2e-8 before float rounding.
 */
TARGET_AVX2 static inline __m256 erf256(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 s = _mm256_and_ps(x, sign);
    __m256 z = _mm256_min_ps(_mm256_andnot_ps(sign, x), _mm256_set1_ps(7.0f));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(0.039164604278788234f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.1467219703677461f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.079657765941582f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.316207443357992f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.31225403178960726f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.4357700553339664f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.5190649136812764f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.1591138601418416f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.0521319561574614f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.2705944842010715f));
    /* -z^2 + P(t) lies in [-51, 0] (z <= 7): no clamping needed */
    __m256 e = exp256_in_range(_mm256_fnmadd_ps(z, z, p));
    __m256 y = _mm256_fnmadd_ps(t, e, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(y, s);
}

TARGET_AVX2 static void layernorm_avx2(float *x, const float *gamma, const float *beta,
                                       size_t rows, size_t dim, float eps)
{
    size_t nv = dim / 8 * 8;
    __m256i tm = tail_mask(dim - nv);
    for (size_t r = 0; r < rows; r++) {
        float *v = x + r * dim;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= nv; i += 16) {
            s0 = _mm256_add_ps(s0, _mm256_loadu_ps(v + i));
            s1 = _mm256_add_ps(s1, _mm256_loadu_ps(v + i + 8));
        }
        for (; i < nv; i += 8)
            s0 = _mm256_add_ps(s0, _mm256_loadu_ps(v + i));
        if (nv < dim)
            s1 = _mm256_add_ps(s1, _mm256_maskload_ps(v + nv, tm));
        float mean = (float)((double)hsum256(_mm256_add_ps(s0, s1)) / (double)dim);
        __m256 mv = _mm256_set1_ps(mean);
        s0 = _mm256_setzero_ps();
        s1 = _mm256_setzero_ps();
        for (i = 0; i < nv; i += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(v + i), mv);
            s0 = _mm256_fmadd_ps(d, d, s0);
        }
        if (nv < dim) {
            __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(v + nv, tm), mv),
                                     _mm256_castsi256_ps(tm));
            s1 = _mm256_fmadd_ps(d, d, s1);
        }
        double var = (double)hsum256(_mm256_add_ps(s0, s1)) / (double)dim;
        __m256 inv = _mm256_set1_ps((float)(1.0 / sqrt(var + eps)));
        for (i = 0; i < nv; i += 8) {
            __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(v + i), mv), inv);
            if (gamma)
                y = _mm256_mul_ps(y, _mm256_loadu_ps(gamma + i));
            if (beta)
                y = _mm256_add_ps(y, _mm256_loadu_ps(beta + i));
            _mm256_storeu_ps(v + i, y);
        }
        for (; i < dim; i++) {
            float y = (v[i] - mean) * _mm256_cvtss_f32(inv);
            v[i] = y * (gamma ? gamma[i] : 1.0f) + (beta ? beta[i] : 0.0f);
        }
    }
}

TARGET_AVX2 static void softmax_avx2(float *x, size_t rows, size_t n)
{
    size_t nv = n / 8 * 8;
    __m256i tm = tail_mask(n - nv);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (size_t r = 0; r < rows; r++) {
        float *v = x + r * n;
        __m256 mx = ninf;
        for (size_t i = 0; i < nv; i += 8)
            mx = _mm256_max_ps(mx, _mm256_loadu_ps(v + i));
        if (nv < n)
            mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, _mm256_maskload_ps(v + nv, tm),
                                                    _mm256_castsi256_ps(tm)));
        __m256 m = _mm256_set1_ps(hmax256(mx)), sum = _mm256_setzero_ps();
        for (size_t i = 0; i < nv; i += 8) {
            __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(v + i), m));
            _mm256_storeu_ps(v + i, e);
            sum = _mm256_add_ps(sum, e);
        }
        if (nv < n) {
            __m256 e = exp256(_mm256_sub_ps(_mm256_maskload_ps(v + nv, tm), m));
            e = _mm256_and_ps(e, _mm256_castsi256_ps(tm));
            _mm256_maskstore_ps(v + nv, tm, e);
            sum = _mm256_add_ps(sum, e);
        }
        __m256 inv = _mm256_set1_ps(1.0f / hsum256(sum));
        for (size_t i = 0; i < nv; i += 8)
            _mm256_storeu_ps(v + i, _mm256_mul_ps(_mm256_loadu_ps(v + i), inv));
        if (nv < n)
            _mm256_maskstore_ps(v + nv, tm, _mm256_mul_ps(_mm256_maskload_ps(v + nv, tm), inv));
    }
}

/*
 * softmax_strip: the rows of the strip side by side, so that their
 * exponentials (long dependency chains) overlap. Each row has room for n
 * rounded up to 8 floats: the padding lanes of its last vector are set to
 * -inf before the exponential (so they give exactly 0) instead of masked
 * loads and stores, which are slow on AMD cores. The last pass multiplies
 * by the reciprocal sums and transposes eight columns of the six rows at a
 * time straight into the packed strip. The same floats as scale, softmax
 * and pack_a.
 */
TARGET_AVX2 static void softmax_strip_avx2(float *x, size_t ldx, size_t mr, size_t n, float s,
                                           float *p)
{
    const __m256 ninf = _mm256_set1_ps(-INFINITY), sv = _mm256_set1_ps(s), z = _mm256_setzero_ps();
    size_t nv = (n + 7) / 8 * 8;
    __m256 pad = _mm256_castsi256_ps(tail_mask(n - (nv - 8)));
    __m256 mx[MR], sum[MR];
    for (size_t r = 0; r < mr; r++) {
        const float *v = x + r * ldx;
        __m256 m = _mm256_blendv_ps(ninf, _mm256_mul_ps(_mm256_loadu_ps(v + nv - 8), sv), pad);
        for (size_t i = 0; i + 8 < nv; i += 8)
            m = _mm256_max_ps(m, _mm256_mul_ps(_mm256_loadu_ps(v + i), sv));
        mx[r] = _mm256_set1_ps(hmax256(m));
        sum[r] = _mm256_setzero_ps();
    }
    for (size_t i = 0; i < nv; i += 8) {
        for (size_t r = 0; r < mr; r++) {
            float *v = x + r * ldx + i;
            __m256 a = _mm256_mul_ps(_mm256_loadu_ps(v), sv);
            if (i + 8 == nv)
                a = _mm256_blendv_ps(ninf, a, pad);
            __m256 e = exp256(_mm256_sub_ps(a, mx[r]));
            _mm256_storeu_ps(v, e);
            sum[r] = _mm256_add_ps(sum[r], e);
        }
    }
    __m256 inv[MR];
    for (size_t r = 0; r < MR; r++)
        inv[r] = r < mr ? _mm256_set1_ps(1.0f / hsum256(sum[r])) : z;
    const float *rows[MR];
    for (size_t r = 0; r < MR; r++)
        rows[r] = x + (r < mr ? r : 0) * ldx;
    _Alignas(32) float last[8 * MR + 2];
    for (size_t i = 0; i < nv; i += 8) {
        __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(rows[0] + i), inv[0]);
        __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(rows[1] + i), inv[1]);
        __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(rows[2] + i), inv[2]);
        __m256 a3 = _mm256_mul_ps(_mm256_loadu_ps(rows[3] + i), inv[3]);
        __m256 a4 = _mm256_mul_ps(_mm256_loadu_ps(rows[4] + i), inv[4]);
        __m256 a5 = _mm256_mul_ps(_mm256_loadu_ps(rows[5] + i), inv[5]);
        __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
        __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
        __m256 t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5);
        __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        __m256 s4 = _mm256_shuffle_ps(t4, z, 0x44), s5 = _mm256_shuffle_ps(t4, z, 0xEE);
        __m256 s6 = _mm256_shuffle_ps(t5, z, 0x44), s7 = _mm256_shuffle_ps(t5, z, 0xEE);
        /* the last block may hold fewer than 8 steps: through `last` */
        float *o = i + 8 <= n ? p + i * MR : last;
        _mm256_storeu_ps(o, _mm256_permute2f128_ps(s0, s4, 0x20));
        _mm256_storeu_ps(o + 6, _mm256_permute2f128_ps(s1, s5, 0x20));
        _mm256_storeu_ps(o + 12, _mm256_permute2f128_ps(s2, s6, 0x20));
        _mm256_storeu_ps(o + 18, _mm256_permute2f128_ps(s3, s7, 0x20));
        _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(s0, s4, 0x31));
        _mm256_storeu_ps(o + 30, _mm256_permute2f128_ps(s1, s5, 0x31));
        _mm256_storeu_ps(o + 36, _mm256_permute2f128_ps(s2, s6, 0x31));
        __m256 l7 = _mm256_permute2f128_ps(s3, s7, 0x31);
        if (o == last || i + 8 < n) {
            _mm256_storeu_ps(o + 42, l7);
        } else {
            _mm_storeu_ps(o + 42, _mm256_castps256_ps128(l7));
            _mm_storel_pi((__m64 *)(void *)(o + 46), _mm256_extractf128_ps(l7, 1));
        }
        if (o == last)
            memcpy(p + i * MR, last, (n - i) * MR * sizeof *p);
    }
}

TARGET_AVX2 static void relu_avx2(float *x, size_t n)
{
    size_t nv = n / 8 * 8;
    for (size_t i = 0; i < nv; i += 8)
        _mm256_storeu_ps(x + i, _mm256_max_ps(_mm256_loadu_ps(x + i), _mm256_setzero_ps()));
    for (size_t i = nv; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

TARGET_AVX2 static inline __m256 gelu256(__m256 v)
{
    __m256 e = erf256(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(0.5f)),
                         _mm256_add_ps(e, _mm256_set1_ps(1.0f)));
}

TARGET_AVX2 static void gelu_avx2(float *x, size_t n)
{
    size_t nv = n / 8 * 8;
    for (size_t i = 0; i < nv; i += 8)
        _mm256_storeu_ps(x + i, gelu256(_mm256_loadu_ps(x + i)));
    if (nv < n) {
        __m256i tm = tail_mask(n - nv);
        _mm256_maskstore_ps(x + nv, tm, gelu256(_mm256_maskload_ps(x + nv, tm)));
    }
}

TARGET_AVX2 static void add_tile_avx2(float *c, size_t ldc, const float *x, size_t ldx,
                                      size_t rows, size_t cols)
{
    if (cols != NR) {
        for (size_t r = 0; r < rows; r++)
            for (size_t q = 0; q < cols; q++)
                c[r * ldc + q] += x[r * ldx + q];
        return;
    }
    for (size_t r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        const float *xr = x + r * ldx;
        _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), _mm256_loadu_ps(xr)));
        _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), _mm256_loadu_ps(xr + 8)));
    }
}

/* A tile of the up-projection's product, GELU applied while it is in L1:
 * four vectors at a time (two rows of 16), so that their long dependency
 * chains (a division, two polynomials, an exponential) overlap. */
TARGET_AVX2 static void gelu_tile_avx2(float *c, size_t ldc, size_t rows, size_t cols)
{
    if (cols != NR) {
        for (size_t r = 0; r < rows; r++)
            gelu_avx2(c + r * ldc, cols);
        return;
    }
    size_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        float *c0 = c + r * ldc, *c1 = c0 + ldc;
        __m256 x0 = _mm256_loadu_ps(c0), x1 = _mm256_loadu_ps(c0 + 8);
        __m256 x2 = _mm256_loadu_ps(c1), x3 = _mm256_loadu_ps(c1 + 8);
        _mm256_storeu_ps(c0, gelu256(x0));
        _mm256_storeu_ps(c0 + 8, gelu256(x1));
        _mm256_storeu_ps(c1, gelu256(x2));
        _mm256_storeu_ps(c1 + 8, gelu256(x3));
    }
    if (r < rows) {
        float *c0 = c + r * ldc;
        __m256 x0 = _mm256_loadu_ps(c0), x1 = _mm256_loadu_ps(c0 + 8);
        _mm256_storeu_ps(c0, gelu256(x0));
        _mm256_storeu_ps(c0 + 8, gelu256(x1));
    }
}

/* pack_bt: 8 x 8 blocks (8 columns of B, 8 depth steps) transposed in
 * registers, each written as 8 aligned halves of panel rows. */
TARGET_AVX2 static void pack_bt_avx2(const float *B, size_t ldb, size_t n, size_t k, size_t p0,
                                     size_t p1, float *dst)
{
    const __m256 z = _mm256_setzero_ps();
    for (size_t jp = p0; jp < p1; jp++) {
        float *d = dst + (jp - p0) * k * NR;
        size_t col = jp * NR, nc = min_sz(NR, n - col);
        for (size_t h = 0; h < NR; h += 8) {
            const float *r[8];
            size_t have = nc > h ? min_sz(8, nc - h) : 0;
            for (size_t c = 0; c < 8; c++)
                r[c] = c < have ? B + (col + h + c) * ldb : NULL;
            size_t p = 0;
            for (; p + 8 <= k; p += 8) {
                __m256 a[8];
                for (size_t c = 0; c < 8; c++)
                    a[c] = r[c] ? _mm256_loadu_ps(r[c] + p) : z;
                __m256 t0 = _mm256_unpacklo_ps(a[0], a[1]), t1 = _mm256_unpackhi_ps(a[0], a[1]);
                __m256 t2 = _mm256_unpacklo_ps(a[2], a[3]), t3 = _mm256_unpackhi_ps(a[2], a[3]);
                __m256 t4 = _mm256_unpacklo_ps(a[4], a[5]), t5 = _mm256_unpackhi_ps(a[4], a[5]);
                __m256 t6 = _mm256_unpacklo_ps(a[6], a[7]), t7 = _mm256_unpackhi_ps(a[6], a[7]);
                __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
                __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
                __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
                __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
                float *o = d + p * NR + h;
                _mm256_storeu_ps(o + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
                _mm256_storeu_ps(o + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
                _mm256_storeu_ps(o + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
                _mm256_storeu_ps(o + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
                _mm256_storeu_ps(o + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
                _mm256_storeu_ps(o + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
                _mm256_storeu_ps(o + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
                _mm256_storeu_ps(o + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
            }
            for (; p < k; p++)
                for (size_t c = 0; c < 8; c++)
                    d[p * NR + h + c] = r[c] ? r[c][p] : 0.0f;
        }
    }
}

/*
 * pack_a eight depth steps of a strip's six rows at a time, transposed in
 * registers (an 8 x 8 transpose with two zero rows) and written as eight
 * overlapping 8-float stores of which the next one overwrites the two
 * padding floats; the last store of a strip writes only its six floats.
 * Rows missing from the last strip are zeros. The same floats as
 * pack_a_portable, 3-4x faster.
 */
TARGET_AVX2 static void pack_a_avx2(const float *A, size_t lda, size_t mc, size_t kc, float *dst)
{
    const __m256 z = _mm256_setzero_ps();
    for (size_t ir = 0; ir < mc; ir += MR) {
        size_t mr = min_sz(MR, mc - ir);
        const float *r[MR];
        for (size_t i = 0; i < MR; i++)
            r[i] = A + (ir + (i < mr ? i : 0)) * lda;
        float *d = dst + ir * kc;
        size_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 a0 = _mm256_loadu_ps(r[0] + p);
            __m256 a1 = mr > 1 ? _mm256_loadu_ps(r[1] + p) : z;
            __m256 a2 = mr > 2 ? _mm256_loadu_ps(r[2] + p) : z;
            __m256 a3 = mr > 3 ? _mm256_loadu_ps(r[3] + p) : z;
            __m256 a4 = mr > 4 ? _mm256_loadu_ps(r[4] + p) : z;
            __m256 a5 = mr > 5 ? _mm256_loadu_ps(r[5] + p) : z;
            __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
            __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
            __m256 t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5);
            __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            __m256 s4 = _mm256_shuffle_ps(t4, z, 0x44), s5 = _mm256_shuffle_ps(t4, z, 0xEE);
            __m256 s6 = _mm256_shuffle_ps(t5, z, 0x44), s7 = _mm256_shuffle_ps(t5, z, 0xEE);
            float *o = d + p * MR;
            _mm256_storeu_ps(o, _mm256_permute2f128_ps(s0, s4, 0x20));
            _mm256_storeu_ps(o + 6, _mm256_permute2f128_ps(s1, s5, 0x20));
            _mm256_storeu_ps(o + 12, _mm256_permute2f128_ps(s2, s6, 0x20));
            _mm256_storeu_ps(o + 18, _mm256_permute2f128_ps(s3, s7, 0x20));
            _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(s0, s4, 0x31));
            _mm256_storeu_ps(o + 30, _mm256_permute2f128_ps(s1, s5, 0x31));
            _mm256_storeu_ps(o + 36, _mm256_permute2f128_ps(s2, s6, 0x31));
            __m256 last = _mm256_permute2f128_ps(s3, s7, 0x31);
            if (p + 8 < kc) {
                _mm256_storeu_ps(o + 42, last);
            } else {
                /* the strip's last step: exactly six floats */
                _mm_storeu_ps(o + 42, _mm256_castps256_ps128(last));
                _mm_storel_pi((__m64 *)(void *)(o + 46), _mm256_extractf128_ps(last, 1));
            }
        }
        for (; p < kc; p++)
            for (size_t i = 0; i < MR; i++)
                d[p * MR + i] = i < mr ? r[i][p] : 0.0f;
    }
}

/* tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)); |x| >= 9 gives +-1. */
TARGET_AVX2 static inline __m256 tanh256(__m256 v)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 s = _mm256_and_ps(v, sign);
    __m256 a = _mm256_min_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(9.0f));
    __m256 e = exp256(_mm256_add_ps(a, a));
    __m256 y = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                             _mm256_div_ps(_mm256_set1_ps(2.0f),
                                           _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    return _mm256_or_ps(y, s);
}

TARGET_AVX2 static void tanh_avx2(float *x, size_t n)
{
    size_t nv = n / 8 * 8;
    for (size_t i = 0; i < nv; i += 8)
        _mm256_storeu_ps(x + i, tanh256(_mm256_loadu_ps(x + i)));
    if (nv < n) {
        __m256i tm = tail_mask(n - nv);
        _mm256_maskstore_ps(x + nv, tm, tanh256(_mm256_maskload_ps(x + nv, tm)));
    }
}

TARGET_AVX2 static void add_avx2(float *y, const float *x, size_t n)
{
    size_t nv = n / 8 * 8;
    for (size_t i = 0; i < nv; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (size_t i = nv; i < n; i++)
        y[i] += x[i];
}

TARGET_AVX2 static void scale_avx2(float *x, float s, size_t n)
{
    size_t nv = n / 8 * 8;
    __m256 sv = _mm256_set1_ps(s);
    for (size_t i = 0; i < nv; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), sv));
    for (size_t i = nv; i < n; i++)
        x[i] *= s;
}

TARGET_AVX2 static float dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i tm = tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, tm), _mm256_maskload_ps(b + i, tm), s1);
    }
    return hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

TARGET_AVX2 static void l2_normalize_avx2(float *x, size_t n)
{
    double s = (double)dot_avx2(x, x, n);
    if (s <= 0)
        return;
    scale_avx2(x, (float)(1.0 / sqrt(s)), n);
}

static const struct kernel_set avx2_set = {
    "avx2-fma",
    {micro_avx2_1, micro_avx2_2, micro_avx2_3, micro_avx2_4, micro_avx2_5, micro_avx2_6},
    layernorm_avx2,
    softmax_avx2,
    softmax_strip_avx2,
    relu_avx2,
    gelu_avx2,
    add_tile_avx2,
    gelu_tile_avx2,
    pack_bt_avx2,
    pack_a_avx2,
    tanh_avx2,
    add_avx2,
    scale_avx2,
    dot_avx2,
    l2_normalize_avx2,
};

static int cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static int cpu_has_avx2(void)
{
    return 0;
}
#endif

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static pthread_once_t choose_once = PTHREAD_ONCE_INIT;
static const struct kernel_set *_Atomic current_set;

static void choose_set(void)
{
    const struct kernel_set *ks = &portable_set;
#ifdef HAVE_AVX2
    const char *env = getenv("VITRINE_KERNELS");
    if (!(env && strcmp(env, "portable") == 0) && cpu_has_avx2())
        ks = &avx2_set;
#endif
    atomic_store(&current_set, ks);
}

const struct kernel_set *kernels_set(void)
{
    pthread_once(&choose_once, choose_set);
    return atomic_load_explicit(&current_set, memory_order_relaxed);
}

const char *vt_kernels_name(void)
{
    return kernels_set()->name;
}

int vt_kernels_select(const char *name)
{
    pthread_once(&choose_once, choose_set);
    if (strcmp(name, "portable") == 0) {
        atomic_store(&current_set, &portable_set);
        return 0;
    }
    if (strcmp(name, "auto") == 0) {
        choose_set();
        return 0;
    }
    if (strcmp(name, "avx2-fma") == 0) {
#ifdef HAVE_AVX2
        if (cpu_has_avx2()) {
            atomic_store(&current_set, &avx2_set);
            return 0;
        }
#endif
        return VT_EUNAVAIL;
    }
    return VT_ENOTFOUND;
}

/* ------------------------------------------------------------------ */
/* Elementwise entry points                                            */
/* ------------------------------------------------------------------ */

void vt_layernorm(float *x, const float *gamma, const float *beta, size_t rows, size_t dim,
                  float eps)
{
    if (dim)
        kernels_set()->layernorm(x, gamma, beta, rows, dim, eps);
}

void vt_softmax_rows(float *x, size_t rows, size_t n)
{
    if (n)
        kernels_set()->softmax_rows(x, rows, n);
}

void vt_relu(float *x, size_t n)
{
    kernels_set()->relu(x, n);
}

void vt_gelu(float *x, size_t n)
{
    kernels_set()->gelu(x, n);
}

void vt_tanh_inplace(float *x, size_t n)
{
    kernels_set()->tanh_(x, n);
}

void vt_add(float *y, const float *x, size_t n)
{
    kernels_set()->add(y, x, n);
}

void vt_scale(float *x, float s, size_t n)
{
    kernels_set()->scale(x, s, n);
}

float vt_dot(const float *a, const float *b, size_t n)
{
    return kernels_set()->dot(a, b, n);
}

void vt_l2_normalize(float *x, size_t n)
{
    kernels_set()->l2_normalize(x, n);
}

/* ------------------------------------------------------------------ */
/* Half and bfloat16                                                   */
/* ------------------------------------------------------------------ */

static inline float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. */
float vt_f16_one(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0) {
        if (mant == 0)
            return bits_to_f32(sign);
        /* subnormal: value = mant * 2^-24; renormalise */
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400u));
        mant &= 0x3FFu;
        return bits_to_f32(sign | (uint32_t)(112 - e) << 23 | mant << 13);
    }
    if (exp == 31)
        return bits_to_f32(sign | 0x7F800000u | mant << 13);
    return bits_to_f32(sign | (exp + 112) << 23 | mant << 13);
}

void vt_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = vt_f16_one(src[i]);
}

/* bfloat16 is the upper half of a binary32. */
void vt_bf16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = bits_to_f32((uint32_t)src[i] << 16);
}
