/*
 * test_kernels.c - every kernel of nn/kernels.h against a naive
 * double-precision reference, on odd sizes (1, 7, 33, 257, and sizes that
 * cross the blocking: k > 384, m > 132, partial 6-row strips and 16-column
 * panels), with both kernel sets; the products' epilogue and strip layout
 * against the plain product, bit for bit; and the thread pool behind the
 * products.
 *
 * Tolerances (x the reference value's scale, stated per check below):
 *   matrix products, dot: |err| <= (k + 2) * 2^-24 * sum_p |a_p * b_p|, the
 *     worst-case bound of a float32 sum of k products in any order; an
 *     indexing or packing mistake is off by O(1), far beyond it;
 *   layernorm 2e-5 (inputs offset by 3 to exercise cancellation);
 *   softmax 1e-6; GELU 1e-6 * max(1, |x|); tanh 5e-7; L2 normalise 1e-6;
 *   attention 1e-5 absolute (values of magnitude 1, L up to 129);
 *   ReLU, add, scale and the f16/bf16 conversions exactly.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"
#include "nn/kernels.h"
#include "test.h"

static uint64_t rng = 88172645463325252ULL;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_vec(size_t n, float scale, float offset)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = frand() * scale + offset;
    return v;
}

static const char *sets[2] = {"portable", "avx2-fma"};

/* Runs body once per kernel set this CPU has. */
#define FOR_EACH_SET(s)                                                    \
    for (int s = 0; s < 2; s++)                                            \
        if (vt_kernels_select(sets[s]) == 0)

static int check_gemm(size_t m, size_t n, size_t k, int trans, int packed, int with_bias)
{
    float *A = rand_vec(m * k, 1, 0), *B = rand_vec(n * k, 1, 0), *bias = rand_vec(n, 1, 0);
    float *C = malloc((m * n + 1) * sizeof *C);
    const float *bp = with_bias ? bias : NULL;
    struct vt_packed *P = NULL;
    if (packed) {
        int rc = trans ? vt_packed_new_nt(B, n, k, &P) : vt_packed_new_nn(B, k, n, &P);
        if (rc)
            return 0;
        vt_gemm_packed(A, P, bp, C, m);
    } else if (trans) {
        vt_gemm_nt(A, B, bp, C, m, n, k);
    } else {
        vt_gemm_nn(A, B, bp, C, m, n, k);
    }
    int ok = 1;
    for (size_t i = 0; i < m && ok; i++)
        for (size_t j = 0; j < n; j++) {
            double s = bp ? bp[j] : 0, mag = bp ? fabs(bp[j]) : 0;
            for (size_t p = 0; p < k; p++) {
                double b = trans ? B[j * k + p] : B[p * n + j];
                s += (double)A[i * k + p] * b;
                mag += fabs((double)A[i * k + p] * b);
            }
            double tol = (double)(k + 2) * ldexp(1.0, -24) * mag;
            if (fabs(C[i * n + j] - s) > tol) {
                fprintf(stderr, "  gemm %s m=%zu n=%zu k=%zu trans=%d packed=%d: C[%zu,%zu] %g vs %g\n",
                        vt_kernels_name(), m, n, k, trans, packed, i, j, C[i * n + j], s);
                ok = 0;
                break;
            }
        }
    vt_packed_free(P);
    free(A);
    free(B);
    free(bias);
    free(C);
    return ok;
}

TEST(gemm_all_layouts_odd_sizes)
{
    static const size_t sz[] = {1, 7, 33, 257};
    FOR_EACH_SET(s)
    {
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                for (int c = 0; c < 4; c++)
                    for (int v = 0; v < 6; v++)
                        CHECK(check_gemm(sz[a], sz[b], sz[c], v & 1, v >> 1 == 1, v >= 4 || (v & 1)));
        /* across the blocking: several depth blocks, row blocks, and the
         * threaded split (over 2^20 multiply-adds) */
        CHECK(check_gemm(150, 65, 777, 1, 1, 1));
        CHECK(check_gemm(13, 1537, 385, 1, 1, 1));
        CHECK(check_gemm(129, 257, 300, 0, 0, 1));
        CHECK(check_gemm(300, 40, 129, 1, 0, 0));
        /* k = 0: the result is the bias */
        CHECK(check_gemm(3, 5, 0, 1, 0, 1));
    }
    vt_kernels_select("auto");
}

TEST(gemm_threads_give_identical_results)
{
    size_t m = 100, n = 700, k = 500;
    float *A = rand_vec(m * k, 1, 0), *B = rand_vec(n * k, 1, 0);
    float *C1 = malloc(m * n * sizeof *C1), *C2 = malloc(m * n * sizeof *C2);
    struct vt_packed *P;
    CHECK_EQ_INT(vt_packed_new_nt(B, n, k, &P), 0);
    vt_pool_shared_set_threads(1);
    vt_gemm_packed(A, P, NULL, C1, m);
    vt_pool_shared_set_threads(2);
    vt_gemm_packed(A, P, NULL, C2, m);
    CHECK(memcmp(C1, C2, m * n * sizeof *C1) == 0);
    vt_pool_shared_set_threads(0);
    CHECK_EQ_INT(vt_packed_n(P), n);
    CHECK_EQ_INT(vt_packed_k(P), k);
    CHECK(vt_packed_bytes(P) >= n * k * sizeof(float));
    vt_packed_free(P);
    vt_packed_free(NULL);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

/*
 * vt_gemm_packed_ex: the GELU epilogue gives exactly vt_gelu of the plain
 * product, and the residual exactly vt_add after it, bit for bit; C
 * written in the strip layout holds exactly the plain product's floats at
 * (i / 6) * 6 * n + j * 6 + i % 6 (padding rows zero); a product reading A
 * in the strip layout gives exactly the plain product's C. Sizes cross a
 * depth block (k > 384) and a row block (m > 132), with partial strips and
 * panels, on one thread and on two.
 */
static int check_gemm_ex(size_t m, size_t n, size_t k, size_t threads)
{
    float *A = rand_vec(m * k, 1, 0), *B = rand_vec(n * k, 1, 0), *bias = rand_vec(n, 1, 0);
    size_t lda = k + 3, ldc = n + 5;   /* row strides wider than the rows */
    float *Aw = calloc(m * lda, sizeof *Aw), *ref = malloc(m * n * sizeof *ref);
    float *Cw = calloc(m * ldc, sizeof *Cw);
    size_t sf = vt_strips_floats(m, n);
    float *S = malloc(sf * sizeof *S);
    struct vt_packed *P, *Q;
    int ok = vt_packed_new_nt(B, n, k, &P) == 0 && vt_packed_new_nt(B, k, n, &Q) == 0;
    if (!ok)
        return 0;
    vt_pool_shared_set_threads(threads);
    for (size_t i = 0; i < m; i++)
        memcpy(Aw + i * lda, A + i * k, k * sizeof *A);
    /* residual: rows of R ldc floats apart */
    float *R = rand_vec(m * ldc, 1, 0);
    vt_gemm_packed(A, P, bias, ref, m);
    for (size_t i = 0; i < m; i++)
        vt_add(ref + i * n, R + i * ldc, n);
    struct vt_gemm_ex ex = {.lda = lda, .ldc = ldc, .add = R, .ldadd = ldc};
    vt_gemm_packed_ex(Aw, P, bias, Cw, m, &ex);
    for (size_t i = 0; i < m; i++)
        ok &= memcmp(Cw + i * ldc, ref + i * n, n * sizeof *ref) == 0;
    /* GELU */
    vt_gemm_packed(A, P, bias, ref, m);
    vt_gelu(ref, m * n);
    ex = (struct vt_gemm_ex){.lda = lda, .ldc = ldc, .flags = VT_GEMM_GELU};
    vt_gemm_packed_ex(Aw, P, bias, Cw, m, &ex);
    for (size_t i = 0; i < m; i++)
        ok &= memcmp(Cw + i * ldc, ref + i * n, n * sizeof *ref) == 0;
    for (size_t i = 0; i < sf; i++)
        S[i] = NAN;
    ex = (struct vt_gemm_ex){.lda = lda, .flags = VT_GEMM_GELU | VT_GEMM_C_STRIPS};
    vt_gemm_packed_ex(Aw, P, bias, S, m, &ex);
    for (size_t i = 0; i < (m + 5) / 6 * 6; i++)
        for (size_t j = 0; j < n; j++) {
            float v = S[(i / 6) * 6 * n + j * 6 + i % 6];
            ok &= i < m ? memcmp(&v, &ref[i * n + j], sizeof v) == 0 : v == 0.0f;
        }
    /* the strips as A of a second product (depth n), against the plain
     * product of the row-major matrix */
    float *ref2 = malloc(m * k * sizeof *ref2), *D = malloc(m * k * sizeof *D);
    vt_gemm_packed(ref, Q, NULL, ref2, m);
    ex = (struct vt_gemm_ex){.flags = VT_GEMM_A_STRIPS};
    vt_gemm_packed_ex(S, Q, NULL, D, m, &ex);
    ok &= memcmp(D, ref2, m * k * sizeof *D) == 0;
    if (!ok)
        fprintf(stderr, "  gemm_ex %s m=%zu n=%zu k=%zu threads=%zu differs\n", vt_kernels_name(),
                m, n, k, threads);
    vt_pool_shared_set_threads(0);
    vt_packed_free(P);
    vt_packed_free(Q);
    free(A);
    free(B);
    free(bias);
    free(Aw);
    free(ref);
    free(Cw);
    free(S);
    free(ref2);
    free(D);
    free(R);
    return ok;
}

TEST(gemm_epilogue_and_strip_layout)
{
    FOR_EACH_SET(s)
    {
        CHECK(check_gemm_ex(1, 1, 1, 1));
        CHECK(check_gemm_ex(7, 33, 5, 1));
        CHECK(check_gemm_ex(94, 1536, 384, 1));
        CHECK(check_gemm_ex(95, 53, 777, 2));
        CHECK(check_gemm_ex(301, 300, 129, 2));
        CHECK(check_gemm_ex(4, 20, 0, 1));   /* k = 0: GELU of the bias */
    }
    vt_kernels_select("auto");
}

/* vt_attention against softmax(scale q k^T) v in double, for head sizes
 * with and without a whole number of 16-wide panels, token counts around
 * the 6-row strips, and q, k, v, out as column slices of wider rows. */
static double check_attention(size_t L, size_t d)
{
    size_t ld = 3 * d + 2, ldo = d + 3;
    float *qkv = rand_vec(L * ld, 2, 0), *out = malloc(L * ldo * sizeof *out);
    float *work = malloc(vt_attention_work_floats(L, d) * sizeof *work);
    float scale = (float)(1.0 / sqrt((double)d));
    vt_attention(qkv, qkv + d, qkv + 2 * d, ld, L, d, scale, out, ldo, work);
    double worst = 0, *p = malloc(L * sizeof *p);
    for (size_t i = 0; i < L; i++) {
        double mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < L; j++) {
            double s = 0;
            for (size_t c = 0; c < d; c++)
                s += (double)qkv[i * ld + c] * qkv[j * ld + d + c];
            p[j] = s * scale;
            mx = fmax(mx, p[j]);
        }
        for (size_t j = 0; j < L; j++)
            sum += p[j] = exp(p[j] - mx);
        for (size_t c = 0; c < d; c++) {
            double o = 0;
            for (size_t j = 0; j < L; j++)
                o += p[j] / sum * qkv[j * ld + 2 * d + c];
            worst = fmax(worst, fabs(o - out[i * ldo + c]));
        }
    }
    free(qkv);
    free(out);
    free(work);
    free(p);
    return worst;
}

TEST(attention_vs_double)
{
    static const size_t Ls[] = {1, 5, 6, 7, 94, 129}, ds[] = {32, 24, 64};
    FOR_EACH_SET(s)
    {
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 3; b++) {
                double worst = check_attention(Ls[a], ds[b]);
                CHECK(worst <= 1e-5);
                if (worst > 1e-5)
                    fprintf(stderr, "  attention %s L=%zu d=%zu: max diff %g\n",
                            vt_kernels_name(), Ls[a], ds[b], worst);
            }
    }
    vt_kernels_select("auto");
}

TEST(layernorm_vs_double)
{
    static const size_t dims[] = {1, 7, 33, 257, 384};
    FOR_EACH_SET(s)
    {
        for (int d = 0; d < 5; d++) {
            size_t dim = dims[d], rows = 3;
            float *x = rand_vec(rows * dim, 2, 3), *g = rand_vec(dim, 1, 1), *b = rand_vec(dim, 1, 0);
            float *y = malloc(rows * dim * sizeof *y);
            memcpy(y, x, rows * dim * sizeof *y);
            vt_layernorm(y, g, b, rows, dim, 1e-5f);
            double worst = 0;
            for (size_t r = 0; r < rows; r++) {
                double mean = 0, var = 0;
                for (size_t i = 0; i < dim; i++)
                    mean += x[r * dim + i];
                mean /= dim;
                for (size_t i = 0; i < dim; i++)
                    var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
                var /= dim;
                for (size_t i = 0; i < dim; i++) {
                    double ref = (x[r * dim + i] - mean) / sqrt(var + 1e-5) * g[i] + b[i];
                    worst = fmax(worst, fabs(ref - y[r * dim + i]));
                }
            }
            CHECK(worst <= 2e-5);
            /* no gamma/beta */
            memcpy(y, x, dim * sizeof *y);
            vt_layernorm(y, NULL, NULL, 1, dim, 1e-5f);
            double sum = 0;
            for (size_t i = 0; i < dim; i++)
                sum += y[i];
            CHECK(fabs(sum / dim) < 1e-5);
            free(x);
            free(g);
            free(b);
            free(y);
        }
    }
    vt_kernels_select("auto");
}

TEST(softmax_vs_double)
{
    static const size_t ns[] = {1, 7, 33, 257};
    FOR_EACH_SET(s)
    {
        for (int t = 0; t < 4; t++) {
            size_t n = ns[t], rows = 2;
            float *x = rand_vec(rows * n, 20, 0), *y = malloc(rows * n * sizeof *y);
            x[0] = 80.0f;            /* large logits must not overflow */
            if (n > 3)
                x[2] = -INFINITY;    /* a masked position gives exactly 0 */
            memcpy(y, x, rows * n * sizeof *y);
            vt_softmax_rows(y, rows, n);
            double worst = 0;
            for (size_t r = 0; r < rows; r++) {
                double mx = -INFINITY, sum = 0;
                for (size_t i = 0; i < n; i++)
                    mx = fmax(mx, x[r * n + i]);
                for (size_t i = 0; i < n; i++)
                    sum += exp(x[r * n + i] - mx);
                for (size_t i = 0; i < n; i++)
                    worst = fmax(worst, fabs(exp(x[r * n + i] - mx) / sum - y[r * n + i]));
            }
            CHECK(worst <= 1e-6);
            if (n > 3)
                CHECK(y[2] == 0.0f);
            free(x);
            free(y);
        }
    }
    vt_kernels_select("auto");
}

TEST(elementwise_vs_double)
{
    size_t n = 1001;   /* a tail of 1 after the 8-wide body */
    FOR_EACH_SET(s)
    {
        float *x = rand_vec(n, 10, 0), *y = malloc(n * sizeof *y), *z = rand_vec(n, 1, 0);
        x[0] = 0.0f;
        x[1] = -0.0f;
        x[2] = 1e-8f;
        x[3] = 30.0f;
        x[4] = -30.0f;
        memcpy(y, x, n * sizeof *y);
        vt_gelu(y, n);
        int ok = 1;
        for (size_t i = 0; i < n; i++) {
            double ref = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
            ok &= fabs(ref - y[i]) <= 1e-6 * fmax(1.0, fabs(x[i]));
        }
        CHECK(ok);
        memcpy(y, x, n * sizeof *y);
        vt_tanh_inplace(y, n);
        ok = 1;
        for (size_t i = 0; i < n; i++)
            ok &= fabs(tanh(x[i]) - y[i]) <= 5e-7;
        CHECK(ok);
        memcpy(y, x, n * sizeof *y);
        vt_relu(y, n);
        ok = 1;
        for (size_t i = 0; i < n; i++)
            ok &= y[i] == (x[i] > 0 ? x[i] : 0.0f);
        CHECK(ok);
        memcpy(y, x, n * sizeof *y);
        vt_add(y, z, n);
        ok = 1;
        for (size_t i = 0; i < n; i++)
            ok &= y[i] == x[i] + z[i];
        CHECK(ok);
        memcpy(y, x, n * sizeof *y);
        vt_scale(y, 0.37f, n);
        ok = 1;
        for (size_t i = 0; i < n; i++)
            ok &= y[i] == x[i] * 0.37f;
        CHECK(ok);
        static const size_t dn[] = {1, 7, 33, 257, 1001};
        for (int d = 0; d < 5; d++) {
            double ref = 0, mag = 0;
            for (size_t i = 0; i < dn[d]; i++) {
                ref += (double)x[i] * z[i];
                mag += fabs((double)x[i] * z[i]);
            }
            CHECK(fabs(vt_dot(x, z, dn[d]) - ref) <= (dn[d] + 2) * ldexp(1.0, -24) * mag);
            memcpy(y, x, dn[d] * sizeof *y);
            vt_l2_normalize(y, dn[d]);
            double norm = 0;
            for (size_t i = 0; i < dn[d]; i++)
                norm += (double)x[i] * x[i];
            norm = sqrt(norm);
            ok = 1;
            for (size_t i = 0; i < dn[d]; i++)
                ok &= norm > 0 ? fabs(y[i] - x[i] / norm) <= 1e-6 : y[i] == 0;
            CHECK(ok);
        }
        float zero[9] = {0};
        vt_l2_normalize(zero, 9);
        CHECK(zero[0] == 0 && zero[8] == 0);
        free(x);
        free(y);
        free(z);
    }
    vt_kernels_select("auto");
}

TEST(half_conversions_exhaustive)
{
    int ok = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        int e = (h >> 10) & 31, m = h & 1023;
        double ref = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY)
                                                      : ldexp(1024 + m, e - 25);
        if (h & 0x8000)
            ref = -ref;
        float got = vt_f16_one((uint16_t)h);
        ok &= isnan(ref) ? isnan(got) : (double)got == ref && !!signbit(got) == !!(h & 0x8000);
    }
    CHECK(ok);
    uint16_t in[3] = {0x3F80, 0x4049, 0xFF80};   /* 1, 3.140625, -inf */
    float out[3];
    vt_bf16_to_f32(in, out, 3);
    CHECK(out[0] == 1.0f && out[1] == 3.140625f && isinf(out[2]) && out[2] < 0);
}

TEST(dispatch_names_and_env)
{
    CHECK_EQ_INT(vt_kernels_select("portable"), 0);
    CHECK_STR(vt_kernels_name(), "portable");
    CHECK_EQ_INT(vt_kernels_select("sse9"), VT_ENOTFOUND);
    int has = vt_kernels_select("avx2-fma") == 0;
    setenv("VITRINE_KERNELS", "portable", 1);
    CHECK_EQ_INT(vt_kernels_select("auto"), 0);
    CHECK_STR(vt_kernels_name(), "portable");
    unsetenv("VITRINE_KERNELS");
    CHECK_EQ_INT(vt_kernels_select("auto"), 0);
    CHECK_STR(vt_kernels_name(), has ? "avx2-fma" : "portable");
    printf("kernel sets: %s%s\n", "portable", has ? ", avx2-fma" : "");
}

/* ---- thread pool ---- */

struct count_job {
    atomic_int *hits;
    struct vt_pool *pool;
    atomic_int nested;
};

static void count_task(void *arg, size_t t)
{
    struct count_job *j = arg;
    atomic_fetch_add(&j->hits[t], 1);
}

static void nested_task(void *arg, size_t t)
{
    struct count_job *j = arg;
    atomic_int inner[5];
    for (int i = 0; i < 5; i++)
        atomic_init(&inner[i], 0);
    struct count_job ij = {inner, NULL, 0};
    vt_pool_run(j->pool, count_task, &ij, 5);   /* runs inline: the pool is busy */
    int all = 1;
    for (int i = 0; i < 5; i++)
        all &= atomic_load(&inner[i]) == 1;
    if (all)
        atomic_fetch_add(&j->nested, 1);
    atomic_fetch_add(&j->hits[t], 1);
}

static void *caller_thread(void *arg)
{
    struct count_job *j = arg;
    for (int r = 0; r < 200; r++)
        vt_pool_run(j->pool, count_task, j, 64);
    return NULL;
}

TEST(pool_runs_every_task_once)
{
    struct vt_pool *p;
    CHECK_EQ_INT(vt_pool_new(3, &p), 0);
    CHECK_EQ_INT(vt_pool_threads(p), 3);
    atomic_int hits[1000];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 1000; i++)
            atomic_init(&hits[i], 0);
        struct count_job j = {hits, p, 0};
        vt_pool_run(p, count_task, &j, 1000);
        int ok = 1;
        for (int i = 0; i < 1000; i++)
            ok &= atomic_load(&hits[i]) == 1;
        CHECK(ok);
    }
    /* nested jobs run inline instead of deadlocking */
    for (int i = 0; i < 16; i++)
        atomic_init(&hits[i], 0);
    struct count_job nj = {hits, p, 0};
    vt_pool_run(p, nested_task, &nj, 16);
    CHECK_EQ_INT(atomic_load(&nj.nested), 16);
    /* two threads submitting at once: every job still completes */
    atomic_int h2[2][64];
    for (int i = 0; i < 64; i++) {
        atomic_init(&h2[0][i], 0);
        atomic_init(&h2[1][i], 0);
    }
    struct count_job a = {h2[0], p, 0}, b = {h2[1], p, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, caller_thread, &a);
    pthread_create(&tb, NULL, caller_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    int ok = 1;
    for (int i = 0; i < 64; i++)
        ok &= atomic_load(&h2[0][i]) == 200 && atomic_load(&h2[1][i]) == 200;
    CHECK(ok);
    vt_pool_set_active(p, 1);
    CHECK_EQ_INT(vt_pool_threads(p), 1);
    vt_pool_free(p);
    vt_pool_free(NULL);
    /* a NULL pool runs inline */
    atomic_init(&hits[0], 0);
    struct count_job nulljob = {hits, NULL, 0};
    vt_pool_run(NULL, count_task, &nulljob, 1);
    CHECK_EQ_INT(atomic_load(&hits[0]), 1);
}

int main(void)
{
    RUN(dispatch_names_and_env);
    RUN(gemm_all_layouts_odd_sizes);
    RUN(gemm_threads_give_identical_results);
    RUN(gemm_epilogue_and_strip_layout);
    RUN(attention_vs_double);
    RUN(layernorm_vs_double);
    RUN(softmax_vs_double);
    RUN(elementwise_vs_double);
    RUN(half_conversions_exhaustive);
    RUN(pool_runs_every_task_once);
    return TEST_SUMMARY();
}
