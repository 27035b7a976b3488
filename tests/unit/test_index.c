/*
 * test_index.c - the vector indexes (index/index.h).
 *
 * The flat index is checked against a naive double-precision scan; HNSW
 * against the flat index on 20,000 random unit vectors of dimension 64
 * (an unforgiving set: no clusters to exploit). What is asserted:
 *   - flat: the exact top-k, scores within float rounding, all metrics,
 *     filters, deletes, replacement;
 *   - HNSW recall@10 >= 0.95 at ef 256 (M 16, ef_construction 100; with
 *     ef_construction 200 this index and hnswlib both measured 0.976 at
 *     ef 256 on such data);
 *   - deleted labels are never returned, before and after compaction, and
 *     recall holds on what is left;
 *   - filtered search returns only allowed labels, with recall >= 0.9 at a
 *     10% filter and exact results (fallback scan) at a 0.1% filter;
 *   - save -> load gives identical labels and scores, and stays writable;
 *   - truncated, corrupt and foreign files give VT_EFORMAT with a message
 *     naming the problem; a structurally bad file with valid checksums is
 *     caught by the structure checks;
 *   - searches on three threads while a writer inserts and deletes finish
 *     with sane results (run under -fsanitize=thread too, see docs/index.md).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "index/hnsw_int.h"
#include "index/index.h"
#include "test.h"

#define DIM 64
#define NBASE 20000
#define NQ 200
#define K 10

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static void rand_unit(float *v, size_t dim)
{
    double ss = 0;
    for (size_t i = 0; i < dim; i++) {
        /* Box-Muller: isotropic directions */
        double g = sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand());
        v[i] = (float)g;
        ss += g * g;
    }
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sqrt(ss));
}

static float *base_vecs, *query_vecs;
static struct vt_index *shared_hnsw, *shared_flat;

static void make_data(void)
{
    base_vecs = malloc(sizeof(float) * NBASE * DIM);
    query_vecs = malloc(sizeof(float) * NQ * DIM);
    for (size_t i = 0; i < NBASE; i++)
        rand_unit(base_vecs + i * DIM, DIM);
    for (size_t i = 0; i < NQ; i++)
        rand_unit(query_vecs + i * DIM, DIM);
}

/* Label of base vector i: not the slot number, to catch mix-ups. */
static int64_t label_of(size_t i)
{
    return (int64_t)i * 7 + 1000003;
}

static int contains(const int64_t *a, size_t n, int64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] == x)
            return 1;
    return 0;
}

/* recall@K of ix against truth over the queries, with an optional filter. */
static double recall_vs(struct vt_index *ix, struct vt_index *truth, vt_index_filter_fn f,
                        void *arg, size_t nq)
{
    size_t hit = 0, total = 0;
    for (size_t q = 0; q < nq; q++) {
        int64_t a[K], b[K];
        size_t na = 0, nb = 0;
        vt_index_search(ix, query_vecs + q * DIM, K, f, arg, a, NULL, &na);
        vt_index_search(truth, query_vecs + q * DIM, K, f, arg, b, NULL, &nb);
        for (size_t i = 0; i < nb; i++)
            hit += contains(a, na, b[i]);
        total += nb;
    }
    return total ? (double)hit / (double)total : 1.0;
}

/* ---- flat ---------------------------------------------------------------- */

static int only_odd(int64_t label, void *arg)
{
    (void)arg;
    return label & 1;
}

TEST(flat_matches_naive_scan)
{
    const int metrics[3] = {VT_INDEX_IP, VT_INDEX_COSINE, VT_INDEX_L2};
    enum { N = 500, D = 37 };
    float *v = malloc(sizeof(float) * N * D);
    for (size_t i = 0; i < (size_t)N * D; i++)
        v[i] = (float)(urand() * 2 - 1);
    for (int mi = 0; mi < 3; mi++) {
        int metric = metrics[mi];
        struct vt_index *ix = NULL;
        CHECK_EQ_INT(vt_index_flat_new(D, metric, &ix), 0);
        if (!ix)
            continue;
        for (size_t i = 0; i < N; i++)
            CHECK_EQ_INT(vt_index_add(ix, (int64_t)i, v + i * D), 0);
        CHECK_EQ_INT(vt_index_size(ix), N);
        for (int q = 0; q < 20; q++) {
            const float *qv = v + (size_t)(q * 13) * D;
            int64_t lab[20];
            float sc[20];
            size_t n = 0;
            int filtered = q & 1;
            CHECK_EQ_INT(vt_index_search(ix, qv, 20, filtered ? only_odd : NULL, NULL, lab, sc, &n), 0);
            CHECK_EQ_INT(n, 20);
            /* naive scores */
            double best[N];
            double qn = 0;
            for (int j = 0; j < D; j++)
                qn += (double)qv[j] * qv[j];
            for (size_t i = 0; i < N; i++) {
                double dot = 0, l2 = 0, vn = 0;
                for (int j = 0; j < D; j++) {
                    double a = qv[j], b = v[i * D + j];
                    dot += a * b;
                    l2 += (a - b) * (a - b);
                    vn += b * b;
                }
                best[i] = metric == VT_INDEX_IP ? dot
                          : metric == VT_INDEX_COSINE ? dot / sqrt(qn * vn)
                                                      : -l2;
            }
            for (size_t r = 0; r < n; r++) {
                int64_t l = lab[r];
                CHECK(l >= 0 && l < N);
                if (l < 0 || l >= N)
                    continue;
                if (filtered)
                    CHECK(l & 1);
                double want = metric == VT_INDEX_L2 ? -best[l] : best[l];
                CHECK_NEAR(sc[r], want, 1e-4 * (1 + fabs(want)));
                /* nothing allowed is strictly better than the r-th result by
                 * more than rounding, unless it is already listed */
                size_t better = 0;
                for (size_t i = 0; i < N; i++)
                    if ((!filtered || (i & 1)) && best[i] > best[l] + 1e-5)
                        better++;
                CHECK(better <= r);
            }
        }
        vt_index_free(ix);
    }
    free(v);
}

TEST(flat_delete_and_replace)
{
    struct vt_index *ix = NULL;
    CHECK_EQ_INT(vt_index_flat_new(DIM, VT_INDEX_COSINE, &ix), 0);
    for (size_t i = 0; i < 1000; i++)
        vt_index_add(ix, label_of(i), base_vecs + i * DIM);
    for (size_t i = 0; i < 1000; i += 3)
        CHECK_EQ_INT(vt_index_delete(ix, label_of(i)), 0);
    CHECK_EQ_INT(vt_index_delete(ix, label_of(0)), VT_ENOTFOUND);
    CHECK_EQ_INT(vt_index_size(ix), 1000 - 334);
    for (size_t q = 0; q < 1000; q += 3) {
        int64_t lab[5];
        size_t n;
        vt_index_search(ix, base_vecs + q * DIM, 5, NULL, NULL, lab, NULL, &n);
        CHECK(!contains(lab, n, label_of(q)));
    }
    /* replacing a label moves it to the new vector; size unchanged */
    CHECK_EQ_INT(vt_index_add(ix, label_of(1), base_vecs + 5000 * DIM), 0);
    CHECK_EQ_INT(vt_index_size(ix), 666);
    int64_t lab[1];
    float sc[1];
    size_t n;
    vt_index_search(ix, base_vecs + 5000 * DIM, 1, NULL, NULL, lab, sc, &n);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(lab[0], label_of(1));
    CHECK_NEAR(sc[0], 1.0, 1e-5);
    vt_index_free(ix);
}

TEST(bad_input_is_refused)
{
    struct vt_index *ix = NULL;
    float v[DIM] = {0};
    CHECK_EQ_INT(vt_index_flat_new(0, VT_INDEX_IP, &ix), VT_EINVAL);
    CHECK_EQ_INT(vt_index_hnsw_new(DIM, 9, NULL, &ix), VT_EINVAL);
    struct vt_hnsw_params p;
    vt_hnsw_params_init(&p);
    p.M = 1;
    CHECK_EQ_INT(vt_index_hnsw_new(DIM, VT_INDEX_IP, &p, &ix), VT_EINVAL);
    CHECK_EQ_INT(vt_index_hnsw_new(DIM, VT_INDEX_COSINE, NULL, &ix), 0);
    if (!ix)
        return;
    int64_t lab[3];
    size_t n = 99;
    CHECK_EQ_INT(vt_index_search(ix, base_vecs, 3, NULL, NULL, lab, NULL, &n), 0);
    CHECK_EQ_INT(n, 0); /* empty index */
    CHECK_EQ_INT(vt_index_add(ix, 1, v), VT_EINVAL); /* zero vector under cosine */
    v[3] = NAN;
    CHECK_EQ_INT(vt_index_add(ix, 1, v), VT_EINVAL);
    CHECK_EQ_INT(vt_index_add(ix, 1, base_vecs), 0);
    CHECK_EQ_INT(vt_index_search(ix, v, 3, NULL, NULL, lab, NULL, &n), VT_EINVAL);
    CHECK_EQ_INT(vt_index_search(ix, base_vecs, 0, NULL, NULL, lab, NULL, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(vt_index_search(ix, base_vecs, 3, NULL, NULL, lab, NULL, &n), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(vt_index_delete(ix, 2), VT_ENOTFOUND);
    CHECK_EQ_INT(vt_index_delete(ix, 1), 0);
    CHECK_EQ_INT(vt_index_search(ix, base_vecs, 3, NULL, NULL, lab, NULL, &n), 0);
    CHECK_EQ_INT(n, 0); /* only a tombstone left */
    CHECK_EQ_INT(vt_index_size(ix), 0);
    vt_index_free(ix);
    vt_index_free(NULL);
}

/* ---- HNSW ------------------------------------------------------------------ */

TEST(hnsw_recall_on_random_vectors)
{
    struct vt_hnsw_params p;
    vt_hnsw_params_init(&p);
    p.ef_construction = 100;
    CHECK_EQ_INT(vt_index_hnsw_new(DIM, VT_INDEX_COSINE, &p, &shared_hnsw), 0);
    CHECK_EQ_INT(vt_index_flat_new(DIM, VT_INDEX_COSINE, &shared_flat), 0);
    if (!shared_hnsw || !shared_flat)
        return;
    for (size_t i = 0; i < NBASE; i++) {
        CHECK_EQ_INT(vt_index_add(shared_hnsw, label_of(i), base_vecs + i * DIM), 0);
        vt_index_add(shared_flat, label_of(i), base_vecs + i * DIM);
    }
    CHECK_EQ_INT(vt_index_size(shared_hnsw), NBASE);
    struct vt_index_stats st;
    vt_index_stats(shared_hnsw, &st);
    CHECK(st.max_level >= 2 && st.max_level <= 8);
    double r16, r256;
    vt_index_set_ef(shared_hnsw, 16);
    r16 = recall_vs(shared_hnsw, shared_flat, NULL, NULL, NQ);
    vt_index_set_ef(shared_hnsw, 256);
    r256 = recall_vs(shared_hnsw, shared_flat, NULL, NULL, NQ);
    printf("  hnsw recall@10 on %d random unit vectors (dim %d): ef 16 %.3f, ef 256 %.3f "
           "(kernels %s)\n", NBASE, DIM, r16, r256, vt_index_kernels_name());
    CHECK(r256 >= 0.95);
    CHECK(r256 > r16 + 0.2); /* ef matters: the graph is really searched */
    /* a stored vector finds itself with score 1 */
    int64_t lab[K];
    float sc[K];
    size_t n;
    for (size_t i = 0; i < NBASE; i += 997) {
        vt_index_search(shared_hnsw, base_vecs + i * DIM, K, NULL, NULL, lab, sc, &n);
        CHECK_EQ_INT(n, K);
        CHECK_EQ_INT(lab[0], label_of(i));
        CHECK_NEAR(sc[0], 1.0, 1e-5);
        for (size_t j = 1; j < n; j++)
            CHECK(sc[j] <= sc[j - 1]);
    }
}

TEST(hnsw_same_seed_same_graph)
{
    struct vt_index *a = NULL, *b = NULL;
    vt_index_hnsw_new(DIM, VT_INDEX_L2, NULL, &a);
    vt_index_hnsw_new(DIM, VT_INDEX_L2, NULL, &b);
    if (!a || !b)
        return;
    for (size_t i = 0; i < 2000; i++) {
        vt_index_add(a, (int64_t)i, base_vecs + i * DIM);
        vt_index_add(b, (int64_t)i, base_vecs + i * DIM);
    }
    int same = 1;
    for (size_t q = 0; q < 50; q++) {
        int64_t la[K], lb[K];
        float sa[K], sb[K];
        size_t na, nb;
        vt_index_search(a, query_vecs + q * DIM, K, NULL, NULL, la, sa, &na);
        vt_index_search(b, query_vecs + q * DIM, K, NULL, NULL, lb, sb, &nb);
        same &= na == nb && !memcmp(la, lb, na * sizeof *la) && !memcmp(sa, sb, na * sizeof *sa);
        for (size_t j = 1; j < na; j++)
            CHECK(sa[j] >= sa[j - 1]); /* L2: ascending distances */
    }
    CHECK(same);
    vt_index_free(a);
    vt_index_free(b);
}

struct mod_filter {
    int64_t mod, rem;
    atomic_int calls;
};

static int by_mod(int64_t label, void *arg)
{
    struct mod_filter *f = arg;
    atomic_fetch_add(&f->calls, 1);
    return ((label - 1000003) / 7) % f->mod == f->rem;
}

TEST(hnsw_filtered_search)
{
    if (!shared_hnsw)
        return;
    vt_index_set_ef(shared_hnsw, 128);
    struct mod_filter f2 = {2, 1, 0}, f10 = {10, 3, 0}, f1000 = {1000, 7, 0},
                      none = {NBASE + 1, NBASE, 0};
    int all_allowed = 1;
    for (size_t q = 0; q < NQ; q++) {
        int64_t lab[K];
        size_t n;
        vt_index_search(shared_hnsw, query_vecs + q * DIM, K, by_mod, &f10, lab, NULL, &n);
        all_allowed &= n == K;
        for (size_t i = 0; i < n; i++)
            all_allowed &= ((lab[i] - 1000003) / 7) % 10 == 3;
    }
    CHECK(all_allowed);
    /* Half allowed: the graph walk finds them. A tenth: the walk or, when
     * it would reach half of the slots, the exact scan. A thousandth:
     * always the scan. */
    struct vt_index_stats st0, st1, st2, st3;
    vt_index_stats(shared_hnsw, &st0);
    double r2 = recall_vs(shared_hnsw, shared_flat, by_mod, &f2, NQ);
    vt_index_stats(shared_hnsw, &st1);
    double r10 = recall_vs(shared_hnsw, shared_flat, by_mod, &f10, NQ);
    vt_index_stats(shared_hnsw, &st2);
    double r1000 = recall_vs(shared_hnsw, shared_flat, by_mod, &f1000, 50);
    vt_index_stats(shared_hnsw, &st3);
    printf("  filtered recall@10 (ef 128): 50%% allowed %.3f (%llu of %d by exact scan), "
           "10%% %.3f (%llu), 0.1%% %.3f (%llu of 50)\n", r2,
           (unsigned long long)(st1.exact_scans - st0.exact_scans), NQ, r10,
           (unsigned long long)(st2.exact_scans - st1.exact_scans), r1000,
           (unsigned long long)(st3.exact_scans - st2.exact_scans));
    CHECK(r2 >= 0.90);
    CHECK(st1.exact_scans - st0.exact_scans < NQ / 10); /* the graph walk did the work */
    CHECK(r10 >= 0.90);
    CHECK(r1000 >= 0.999);
    CHECK_EQ_INT(st3.exact_scans - st2.exact_scans, 50);
    int64_t lab[K];
    size_t n = 99;
    CHECK_EQ_INT(vt_index_search(shared_hnsw, query_vecs, K, by_mod, &none, lab, NULL, &n), 0);
    CHECK_EQ_INT(n, 0);
}

TEST(hnsw_deletes_never_returned)
{
    struct vt_hnsw_params p;
    vt_hnsw_params_init(&p);
    p.max_deleted_share = 0.3f;
    p.ef_construction = 100;
    struct vt_index *ix = NULL, *flat = NULL;
    enum { N = 6000 };
    vt_index_hnsw_new(DIM, VT_INDEX_COSINE, &p, &ix);
    vt_index_flat_new(DIM, VT_INDEX_COSINE, &flat);
    if (!ix || !flat)
        return;
    for (size_t i = 0; i < N; i++) {
        vt_index_add(ix, label_of(i), base_vecs + i * DIM);
        vt_index_add(flat, label_of(i), base_vecs + i * DIM);
    }
    vt_index_set_ef(ix, 256);
    /* delete every 4th (25%: below the share, tombstones stay) */
    for (size_t i = 0; i < N; i += 4) {
        CHECK_EQ_INT(vt_index_delete(ix, label_of(i)), 0);
        vt_index_delete(flat, label_of(i));
    }
    struct vt_index_stats st;
    vt_index_stats(ix, &st);
    CHECK_EQ_INT(st.deleted, N / 4);
    CHECK_EQ_INT(st.compactions, 0);
    CHECK_EQ_INT(vt_index_size(ix), N - N / 4);
    int clean = 1;
    for (size_t q = 0; q < N; q += 4) { /* query with the deleted vectors themselves */
        int64_t lab[K];
        size_t n;
        vt_index_search(ix, base_vecs + q * DIM, K, NULL, NULL, lab, NULL, &n);
        clean &= n == K;
        for (size_t i = 0; i < n; i++)
            clean &= ((lab[i] - 1000003) / 7) % 4 != 0;
    }
    CHECK(clean);
    double r = recall_vs(ix, flat, NULL, NULL, NQ);
    /* past the share: the graph is rebuilt without tombstones */
    for (size_t i = 1; i < N; i += 4) {
        vt_index_delete(ix, label_of(i));
        vt_index_delete(flat, label_of(i));
    }
    vt_index_stats(ix, &st);
    CHECK(st.compactions >= 1);
    CHECK(st.deleted < (uint64_t)(0.3 * N));
    CHECK_EQ_INT(vt_index_size(ix), N / 2);
    double rc = recall_vs(ix, flat, NULL, NULL, NQ);
    printf("  recall@10 with 25%% tombstones %.3f, after compaction %.3f\n", r, rc);
    CHECK(r >= 0.95);
    CHECK(rc >= 0.95);
    clean = 1;
    for (size_t q = 0; q < N; q += 2) {
        int64_t lab[K];
        size_t n;
        vt_index_search(ix, base_vecs + q * DIM, K, NULL, NULL, lab, NULL, &n);
        for (size_t i = 0; i < n; i++)
            clean &= ((lab[i] - 1000003) / 7) % 4 >= 2;
    }
    CHECK(clean);
    /* a deleted label can come back */
    CHECK_EQ_INT(vt_index_add(ix, label_of(0), base_vecs), 0);
    int64_t lab[1];
    size_t n;
    vt_index_search(ix, base_vecs, 1, NULL, NULL, lab, NULL, &n);
    CHECK_EQ_INT(lab[0], label_of(0));
    /* replacing through add tombstones the old vector */
    CHECK_EQ_INT(vt_index_add(ix, label_of(0), base_vecs + 3 * DIM), 0);
    vt_index_search(ix, base_vecs, 1, NULL, NULL, lab, NULL, &n);
    CHECK(lab[0] != label_of(0));
    CHECK_EQ_INT(vt_index_size(ix), N / 2 + 1);
    CHECK_EQ_INT(vt_index_compact(ix), 0);
    vt_index_stats(ix, &st);
    CHECK_EQ_INT(st.deleted, 0);
    vt_index_free(ix);
    vt_index_free(flat);
}

/* ---- persistence ----------------------------------------------------------- */

static char tmpdir[] = "/tmp/vt-test-index-XXXXXX";

static void path_in_tmp(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static int same_results(struct vt_index *a, struct vt_index *b, size_t nq)
{
    for (size_t q = 0; q < nq; q++) {
        int64_t la[K], lb[K];
        float sa[K], sb[K];
        size_t na = 0, nb = 0;
        vt_index_search(a, query_vecs + q * DIM, K, NULL, NULL, la, sa, &na);
        vt_index_search(b, query_vecs + q * DIM, K, NULL, NULL, lb, sb, &nb);
        if (na != nb || memcmp(la, lb, na * sizeof *la) || memcmp(sa, sb, na * sizeof *sa))
            return 0;
    }
    return 1;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

TEST(save_load_gives_identical_results)
{
    if (!shared_hnsw)
        return;
    char path[256];
    path_in_tmp(path, sizeof path, "hnsw.vtx");
    /* some tombstones too, so they round-trip */
    for (size_t i = 0; i < 50; i++)
        vt_index_delete(shared_hnsw, label_of(i * 31));
    vt_index_set_ef(shared_hnsw, 100); /* saved with the index */
    struct vt_error err;
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_index_save(shared_hnsw, path, &err), 0);
    struct vt_index *back = NULL;
    CHECK_EQ_INT(vt_index_load(path, &back, &err), 0);
    if (!back) {
        fprintf(stderr, "  load: %s\n", err.message);
        return;
    }
    CHECK_STR(vt_index_kind_name(back), "hnsw");
    CHECK_EQ_INT(vt_index_dim(back), DIM);
    CHECK_EQ_INT(vt_index_metric(back), VT_INDEX_COSINE);
    CHECK_EQ_INT(vt_index_size(back), vt_index_size(shared_hnsw));
    CHECK(same_results(shared_hnsw, back, NQ));
    /* still writable, and both evolve the same way (the level generator's
     * state was saved) */
    for (size_t i = 0; i < 100; i++) {
        CHECK_EQ_INT(vt_index_add(back, -(int64_t)i - 1, query_vecs + i * DIM), 0);
        vt_index_add(shared_hnsw, -(int64_t)i - 1, query_vecs + i * DIM);
    }
    CHECK(same_results(shared_hnsw, back, NQ));
    vt_index_free(back);

    /* empty indexes round-trip too */
    struct vt_index *empty = NULL;
    vt_index_hnsw_new(3, VT_INDEX_L2, NULL, &empty);
    path_in_tmp(path, sizeof path, "empty.vtx");
    CHECK_EQ_INT(vt_index_save(empty, path, &err), 0);
    vt_index_free(empty);
    empty = NULL;
    CHECK_EQ_INT(vt_index_load(path, &empty, &err), 0);
    if (empty) {
        float v3[3] = {1, 2, 3};
        CHECK_EQ_INT(vt_index_size(empty), 0);
        CHECK_EQ_INT(vt_index_add(empty, 5, v3), 0);
        int64_t l5[1];
        size_t n5 = 0;
        vt_index_search(empty, v3, 1, NULL, NULL, l5, NULL, &n5);
        CHECK(n5 == 1 && l5[0] == 5);
        vt_index_free(empty);
    }

    /* flat */
    path_in_tmp(path, sizeof path, "flat.vtx");
    CHECK_EQ_INT(vt_index_save(shared_flat, path, &err), 0);
    CHECK_EQ_INT(vt_index_load(path, &back, &err), 0);
    if (back) {
        CHECK_STR(vt_index_kind_name(back), "flat");
        CHECK(same_results(shared_flat, back, 50));
        vt_index_free(back);
    }
}

static int load_fails(const uint8_t *b, size_t n, const char *needle)
{
    struct vt_index *ix = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_index_load_mem(b, n, "x.vtx", &ix, &err);
    int ok = rc == VT_EFORMAT && !ix && strstr(err.message, needle) &&
             strncmp(err.message, "x.vtx: ", 7) == 0;
    if (!ok)
        fprintf(stderr, "  load of %zu bytes: rc %d, message \"%s\", wanted \"%s\"\n", n, rc,
                err.message, needle);
    vt_index_free(ix);
    return ok;
}

/* Rewrite the checksums of a file image, as if it had been written so. */
static void reseal(uint8_t *b)
{
    for (int s = 0; s < IX_NSEC; s++) {
        uint64_t off, size, sum;
        memcpy(&off, b + 104 + 24 * s, 8);
        memcpy(&size, b + 112 + 24 * s, 8);
        sum = ix_checksum(b + off, size);
        memcpy(b + 120 + 24 * s, &sum, 8);
    }
    uint64_t h = ix_checksum(b, 248);
    memcpy(b + 248, &h, 8);
}

TEST(corrupt_files_give_clear_errors)
{
    char path[256];
    struct vt_index *small = NULL;
    struct vt_hnsw_params p;
    vt_hnsw_params_init(&p);
    p.M = 4;
    vt_index_hnsw_new(DIM, VT_INDEX_IP, &p, &small);
    if (!small)
        return;
    for (size_t i = 0; i < 300; i++)
        vt_index_add(small, (int64_t)i, base_vecs + i * DIM);
    path_in_tmp(path, sizeof path, "small.vtx");
    struct vt_error err;
    CHECK_EQ_INT(vt_index_save(small, path, &err), 0);
    size_t n = 0;
    uint8_t *b = slurp(path, &n);
    CHECK(b && n > 300 * DIM * 4);
    if (!b)
        return;
    struct vt_index *ix = NULL;
    CHECK_EQ_INT(vt_index_load_mem(b, n, "x.vtx", &ix, &err), 0);
    vt_index_free(ix);

    CHECK(load_fails(b, 0, "truncated"));
    CHECK(load_fails(b, 100, "truncated"));
    CHECK(load_fails(b, 256, "truncated"));
    CHECK(load_fails(b, n / 2, "short of what the header declares"));
    CHECK(load_fails(b, n - 1, "1 short"));
    uint8_t *c = malloc(n + 64);
    memcpy(c, b, n);
    memset(c + n, 0, 64);
    CHECK(load_fails(c, n + 64, "64 unexpected bytes"));
    memcpy(c, b, n);
    c[0] = 'X';
    CHECK(load_fails(c, n, "not a vitrine vector index"));
    memcpy(c, b, n);
    c[30] ^= 1; /* stride */
    CHECK(load_fails(c, n, "header is corrupt"));
    memcpy(c, b, n);
    c[8] = 9; /* version */
    reseal(c);
    CHECK(load_fails(c, n, "version 9"));
    memcpy(c, b, n);
    c[n - 5] ^= 0x40; /* inside the last section */
    CHECK(load_fails(c, n, "checksum mismatch"));
    /* slots so large the sizes overflow */
    memcpy(c, b, n);
    memset(c + 32, 0xff, 8);
    reseal(c);
    CHECK(load_fails(c, n, "more than an index holds"));
    /* structure, with valid checksums: a layer-0 link past the last node */
    uint64_t off;
    memcpy(c, b, n);
    memcpy(&off, c + 104 + 24 * IX_SEC_LINKS0, 8);
    uint32_t cnt, bad = 100000;
    memcpy(&cnt, c + off, 4);
    CHECK(cnt > 0);
    memcpy(c + off + 4, &bad, 4);
    reseal(c);
    CHECK(load_fails(c, n, "links to node 100000"));
    /* a link count beyond M0 */
    memcpy(c, b, n);
    cnt = 9;
    memcpy(c + off, &cnt, 4);
    reseal(c);
    CHECK(load_fails(c, n, "9 links on layer 0"));
    /* a NaN in a vector */
    memcpy(c, b, n);
    memcpy(&off, c + 104 + 24 * IX_SEC_VECTORS, 8);
    float nan = NAN;
    memcpy(c + off + 8, &nan, 4);
    reseal(c);
    CHECK(load_fails(c, n, "non-finite"));
    /* a node claiming a higher layer than the file's top */
    memcpy(c, b, n);
    memcpy(&off, c + 104 + 24 * IX_SEC_INFO, 8);
    c[off + 7] = 30;
    reseal(c);
    CHECK(load_fails(c, n, "layer byte"));

    CHECK_EQ_INT(vt_index_load("/nonexistent/dir/x.vtx", &ix, &err), VT_EIO);
    CHECK(strstr(err.message, "/nonexistent/dir/x.vtx") != NULL);
    path_in_tmp(path, sizeof path, "trunc.vtx");
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n - 100, f);
    fclose(f);
    CHECK_EQ_INT(vt_index_load(path, &ix, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "100 short") != NULL);
    free(c);
    free(b);
    vt_index_free(small);
}

/* ---- concurrency ----------------------------------------------------------- */

struct reader_arg {
    struct vt_index *ix;
    atomic_int *stop;
    int bad;
    long searches;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    size_t q = 0;
    while (!atomic_load(a->stop)) {
        int64_t lab[K];
        float sc[K];
        size_t n = 0;
        int rc = vt_index_search(a->ix, query_vecs + (q++ % NQ) * DIM, K, NULL, NULL, lab, sc,
                                 &n);
        if (rc || n > K)
            a->bad++;
        for (size_t i = 1; i < n; i++)
            if (sc[i] > sc[i - 1] || lab[i] < 0)
                a->bad++;
        a->searches++;
    }
    return NULL;
}

TEST(concurrent_searches_while_inserting)
{
    struct vt_hnsw_params p;
    vt_hnsw_params_init(&p);
    p.ef_construction = 64;
    p.max_deleted_share = 0.1f;
    struct vt_index *ix = NULL;
    vt_index_hnsw_new(DIM, VT_INDEX_COSINE, &p, &ix);
    if (!ix)
        return;
    for (size_t i = 0; i < 200; i++)
        vt_index_add(ix, (int64_t)i, base_vecs + i * DIM);
    atomic_int stop = 0;
    struct reader_arg args[3];
    pthread_t th[3];
    for (int t = 0; t < 3; t++) {
        args[t] = (struct reader_arg){ix, &stop, 0, 0};
        pthread_create(&th[t], NULL, reader, &args[t]);
    }
    /* inserts that grow the arrays several times, deletes that trigger
     * compactions, a save in between */
    int wrote = 1;
    for (size_t i = 200; i < 3000; i++) {
        wrote &= vt_index_add(ix, (int64_t)i, base_vecs + i * DIM) == 0;
        if (i % 5 == 0)
            wrote &= vt_index_delete(ix, (int64_t)(i - 100)) == 0;
        if (i == 2000) {
            char path[256];
            struct vt_error err;
            path_in_tmp(path, sizeof path, "live.vtx");
            wrote &= vt_index_save(ix, path, &err) == 0;
        }
    }
    atomic_store(&stop, 1);
    long searches = 0;
    for (int t = 0; t < 3; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ_INT(args[t].bad, 0);
        searches += args[t].searches;
    }
    CHECK(wrote);
    CHECK(searches > 0);
    struct vt_index_stats st;
    vt_index_stats(ix, &st);
    CHECK(st.compactions >= 1);
    CHECK_EQ_INT(vt_index_size(ix), 3000 - 560);
    printf("  %ld searches on 3 threads during 2800 inserts and 560 deletes, %llu "
           "compactions\n", searches, (unsigned long long)st.compactions);
    vt_index_free(ix);
}

TEST(allocation_failures_are_errors)
{
    struct vt_index *ix = NULL;
    vt_index_hnsw_new(DIM, VT_INDEX_COSINE, NULL, &ix);
    if (!ix)
        return;
    int failed = 0;
    for (size_t i = 0; i < 1500; i++) {
        if (i % 100 == 7)
            vt_alloc_fail_after(1);
        int rc = vt_index_add(ix, (int64_t)i, base_vecs + i * DIM);
        vt_alloc_fail_after(0);
        CHECK(rc == 0 || rc == VT_ENOMEM);
        failed += rc != 0;
    }
    CHECK_EQ_INT(vt_index_size(ix), 1500 - failed);
    /* whatever failed left the index consistent */
    int64_t lab[K];
    size_t n;
    for (size_t q = 0; q < 1500; q += 50) {
        CHECK_EQ_INT(vt_index_search(ix, base_vecs + q * DIM, K, NULL, NULL, lab, NULL, &n), 0);
        CHECK(n == K);
    }
    vt_index_free(ix);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    make_data();
    RUN(flat_matches_naive_scan);
    RUN(flat_delete_and_replace);
    RUN(bad_input_is_refused);
    RUN(hnsw_recall_on_random_vectors);
    RUN(hnsw_same_seed_same_graph);
    RUN(hnsw_filtered_search);
    RUN(save_load_gives_identical_results);
    RUN(hnsw_deletes_never_returned);
    RUN(corrupt_files_give_clear_errors);
    RUN(concurrent_searches_while_inserting);
    RUN(allocation_failures_are_errors);
    vt_index_free(shared_hnsw);
    vt_index_free(shared_flat);
    free(base_vecs);
    free(query_vecs);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_SUMMARY();
}
