/*
 * kernels.c - dense float32 kernels with run-time CPU dispatch.
 *
 * Two kernel sets share one interface (struct kernel_set): the portable C
 * set, which any C11 compiler builds, and the AVX2/FMA set, compiled per
 * function with target attributes (the build passes no -mavx2) and chosen
 * when __builtin_cpu_supports reports both features.
 *
 * Matrix products follow the usual blocked scheme. B is packed into panels
 * of NR = 16 columns, each stored k-major (panel j holds columns
 * [16j, 16j+16), element (p, c) at p*16 + c, zero-padded past n); A is
 * packed per block of MC rows x KC depth into strips of MR = 6 rows stored
 * p-major. A 6x16 micro-kernel then keeps its tile of C in twelve 8-float
 * registers while it walks the depth, so each loaded B vector feeds six
 * fused multiply-adds. Loop order (outer to inner): depth blocks of KC,
 * row blocks of MC, column panels, row strips: a 24 KB slice of a B panel
 * (384 x 16 floats) stays in L1 while the packed A block (72 x 384 floats,
 * 108 KB) stays in L2. The micro-kernel prefetches its C tile, which for
 * large products lives in memory. Short strips (m not a multiple of 6) use
 * kernels compiled for 1..5 rows, so a query of 8 tokens wastes nothing.
 * Large products are split over the shared thread pool by column panels
 * (or by rows when there are few panels); tasks write disjoint parts of C.
 */
#include "nn/kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_AVX2 1
#include <immintrin.h>
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

#define MR 6
/* Loops over the rows of a strip must unroll fully so that the
 * accumulators stay in registers. */
#if defined(__clang__)
#define UNROLL_MR _Pragma("unroll")
#elif defined(__GNUC__)
#define UNROLL_MR _Pragma("GCC unroll 6")
#else
#define UNROLL_MR
#endif
#define NR 16
/* Depth and row blocking (tuned on Zen 4/5 and checked against OpenBLAS;
 * may be set at build time when tuning for another cache hierarchy). */
#ifndef KC
#define KC 384
#endif
#ifndef MC
#define MC 72
#endif
/* Products below this many multiply-adds run on the calling thread. */
#define PAR_MIN_MACS (1u << 20)
/* B panels up to this many floats are packed on the stack. */
#define STACK_PACK_FLOATS 8192

typedef void (*micro_fn)(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                         const float *init);

struct kernel_set {
    const char *name;
    /* micro[r - 1]: c[r,16] (row stride ldc) = a.b + init[16] when init,
     * else c += a.b, for a strip of r rows (a still packed 6 wide) */
    micro_fn micro[MR];
    void (*layernorm)(float *x, const float *g, const float *b, size_t rows, size_t dim,
                      float eps);
    void (*softmax_rows)(float *x, size_t rows, size_t n);
    void (*relu)(float *x, size_t n);
    void (*gelu)(float *x, size_t n);
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
                                   size_t ldc, const float *init)                            \
    {                                                                                        \
        micro_portable_rows(R, kc, a, b, c, ldc, init);                                      \
    }
MICRO_PORTABLE(1)
MICRO_PORTABLE(2)
MICRO_PORTABLE(3)
MICRO_PORTABLE(4)
MICRO_PORTABLE(5)
MICRO_PORTABLE(6)

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
    relu_portable,
    gelu_portable,
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
                const float *init)
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
    for (size_t p = 0; p < kc; p++) {
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
                                           float *c, size_t ldc, const float *init)          \
    {                                                                                        \
        micro_avx2_rows(R, kc, a, b, c, ldc, init);                                          \
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
 * Inputs below ln(FLT_MIN) give 0; inputs above 88 are clamped to 88.
 */
TARGET_AVX2 static inline __m256 exp256(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.0f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
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
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, y);
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
    __m256 e = exp256(_mm256_fnmadd_ps(z, z, p));
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
    relu_avx2,
    gelu_avx2,
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

static const struct kernel_set *kset(void)
{
    pthread_once(&choose_once, choose_set);
    return atomic_load_explicit(&current_set, memory_order_relaxed);
}

const char *vt_kernels_name(void)
{
    return kset()->name;
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
/* Packing                                                             */
/* ------------------------------------------------------------------ */

struct vt_packed {
    size_t n, k, npanels;
    float *data;      /* 64-byte aligned, npanels * k * NR floats */
    void *raw;        /* what vt_malloc returned */
};

/* Panels [p0, p1) of B into dst (panel j at dst + (j - p0) * k * NR).
 * trans: B is [n,k] (element (p, col) at B[col * k + p]); else [k,n]. */
static void pack_b(const float *B, int trans, size_t n, size_t k, size_t p0, size_t p1,
                   float *dst)
{
    for (size_t jp = p0; jp < p1; jp++) {
        float *d = dst + (jp - p0) * k * NR;
        size_t col = jp * NR, nc = min_sz(NR, n - col);
        if (trans) {
            for (size_t c = 0; c < nc; c++) {
                const float *src = B + (col + c) * k;
                for (size_t p = 0; p < k; p++)
                    d[p * NR + c] = src[p];
            }
            for (size_t c = nc; c < NR; c++)
                for (size_t p = 0; p < k; p++)
                    d[p * NR + c] = 0;
        } else {
            for (size_t p = 0; p < k; p++) {
                memcpy(d + p * NR, B + p * n + col, nc * sizeof *d);
                if (nc < NR)
                    memset(d + p * NR + nc, 0, (NR - nc) * sizeof *d);
            }
        }
    }
}

/* Rows [0, mc) x depth [0, kc) of A (row stride lda) into MR-row strips. */
static void pack_a(const float *A, size_t lda, size_t mc, size_t kc, float *dst)
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
        pack_b(B, 1, n, k, 0, (*out)->npanels, (*out)->data);
    return rc;
}

int vt_packed_new_nn(const float *B, size_t k, size_t n, struct vt_packed **out)
{
    int rc = packed_alloc(n, k, out);
    if (rc == 0)
        pack_b(B, 0, n, k, 0, (*out)->npanels, (*out)->data);
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
    const micro_fn *micro;
    const float *A;        /* [m,k], row stride k */
    const float *Bp;       /* packed panels */
    const float *bias;
    float *C;              /* [m,n], row stride n */
    size_t m, n, k, npanels;
    /* task grid: rows in steps of mstep, panels in steps of pstep */
    size_t mstep, pstep, tasks_n;
};

static void gemm_block(const struct gemm_job *j, size_t i0, size_t i1, size_t p0, size_t p1)
{
    _Alignas(64) float abuf[MC * KC];
    _Alignas(64) float tile[MR * NR];
    _Alignas(64) float binit[NR];
    static const float zeros[NR];
    size_t n = j->n, k = j->k;
    for (size_t pc = 0; pc < k; pc += KC) {
        size_t kc = min_sz(KC, k - pc);
        for (size_t ic = i0; ic < i1; ic += MC) {
            size_t mc = min_sz(MC, i1 - ic);
            pack_a(j->A + ic * k + pc, k, mc, kc, abuf);
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
                for (size_t ir = 0; ir < mc; ir += MR) {
                    size_t mr = min_sz(MR, mc - ir);
                    float *c = j->C + (ic + ir) * n + col;
                    if (nc == NR) {
                        j->micro[mr - 1](kc, abuf + ir * kc, bp, c, n, init);
                        continue;
                    }
                    if (!init) {
                        memset(tile, 0, sizeof tile);
                        for (size_t r = 0; r < mr; r++)
                            memcpy(tile + r * NR, c + r * n, nc * sizeof *tile);
                    }
                    j->micro[mr - 1](kc, abuf + ir * kc, bp, tile, NR, init);
                    for (size_t r = 0; r < mr; r++)
                        memcpy(c + r * n, tile + r * NR, nc * sizeof *tile);
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

static void gemm_run(const float *A, const float *Bp, size_t npanels, const float *bias,
                     float *C, size_t m, size_t n, size_t k)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        for (size_t i = 0; i < m; i++) {
            if (bias)
                memcpy(C + i * n, bias, n * sizeof *C);
            else
                memset(C + i * n, 0, n * sizeof *C);
        }
        return;
    }
    struct gemm_job j = {kset()->micro, A, Bp, bias, C, m, n, k, npanels, m, npanels, 1};
    double macs = (double)m * (double)n * (double)k;
    struct vt_pool *pool = macs >= PAR_MIN_MACS ? vt_pool_shared() : NULL;
    size_t threads = vt_pool_threads(pool);
    if (threads <= 1) {
        gemm_block(&j, 0, m, 0, npanels);
        return;
    }
    /* About four tasks per thread, so that a thread that falls behind is
     * made up for. Every task packs the rows of A it covers, once for its
     * panels: splitting the columns n ways packs A n times. So the columns are split once per
     * thread when there are enough panels, and the rows make up the rest
     * of the tasks (each row chunk streams its column chunk of B again,
     * from cache). A row chunk keeps at least two strips: with one, each B
     * panel would feed a single strip, and B, the weights, would stream
     * from L3 at twice the rate; so a product of a few rows (a short
     * query) splits the columns only. Otherwise (few panels) the rows are
     * split. */
    size_t want = threads * 4, strips = (m + MR - 1) / MR;
    size_t tasks_m = 1, tasks_n = 1;
    if (npanels >= threads * 2) {
        tasks_m = min_sz(want / threads, strips / 2);
        tasks_m = tasks_m ? tasks_m : 1;
        tasks_n = tasks_m > 1 ? threads : min_sz(want, npanels / 2);
    } else {
        tasks_m = min_sz(want, strips);
        tasks_n = npanels >= 2 ? 2 : 1;
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
    gemm_run(A, B->data, B->npanels, bias, C, m, B->n, B->k);
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
    if (vt_mul_size(npanels * NR, k, &floats) < 0) {
        gemm_naive(A, B, trans, bias, C, m, n, k);
        return;
    }
    if (floats <= STACK_PACK_FLOATS) {
        pack_b(B, trans, n, k, 0, npanels, sbuf);
        gemm_run(A, sbuf, npanels, bias, C, m, n, k);
        return;
    }
    struct vt_packed *p;
    if (packed_alloc(n, k, &p) != 0) {
        /* no memory for the packed copy: slow but allocation-free */
        gemm_naive(A, B, trans, bias, C, m, n, k);
        return;
    }
    pack_b(B, trans, n, k, 0, npanels, p->data);
    gemm_run(A, p->data, npanels, bias, C, m, n, k);
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
/* Elementwise entry points                                            */
/* ------------------------------------------------------------------ */

void vt_layernorm(float *x, const float *gamma, const float *beta, size_t rows, size_t dim,
                  float eps)
{
    if (dim)
        kset()->layernorm(x, gamma, beta, rows, dim, eps);
}

void vt_softmax_rows(float *x, size_t rows, size_t n)
{
    if (n)
        kset()->softmax_rows(x, rows, n);
}

void vt_relu(float *x, size_t n)
{
    kset()->relu(x, n);
}

void vt_gelu(float *x, size_t n)
{
    kset()->gelu(x, n);
}

void vt_tanh_inplace(float *x, size_t n)
{
    kset()->tanh_(x, n);
}

void vt_add(float *y, const float *x, size_t n)
{
    kset()->add(y, x, n);
}

void vt_scale(float *x, float s, size_t n)
{
    kset()->scale(x, s, n);
}

float vt_dot(const float *a, const float *b, size_t n)
{
    return kset()->dot(a, b, n);
}

void vt_l2_normalize(float *x, size_t n)
{
    kset()->l2_normalize(x, n);
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
