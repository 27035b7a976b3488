/*
 * ann_bench.c - the vitrine side of bench/ann: builds an index over a set
 * of vectors and times single-threaded queries. Compiled by bench/ann/run
 * against libvitrine.a.
 *
 *   ann_bench gt BASE.fvecs QUERY.fvecs K OUT.ivecs
 *       exact top-K of every query with the flat index (the ground truth),
 *       and OUT.ivecs.ties: per query, how many of those K score at least
 *       the 10th best (ties, e.g. items with the same text, make it > 10)
 *   ann_bench hnsw BASE.fvecs QUERY.fvecs GT.ivecs M EFC EF1,EF2,... REPS
 *       build HNSW (inner product) and, for each ef, run every query REPS
 *       times; prints one JSON line per ef with the median queries/s
 *   ann_bench export DB MODEL_ID LANG OUT.fvecs
 *       the item embeddings of one model and language from a vitrine
 *       database, in item id order (labels are the row numbers)
 *
 * .fvecs: per vector an int32 dimension then that many float32; .ivecs
 * the same with int32 values. Recall@10 = (returned labels among the true
 * 10 nearest) / 10, where a label tied with the 10th nearest counts as one
 * of them (GT.ivecs.ties, when present, says how far the ties reach).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"
#include "index/index.h"
#include "store/store.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Resident set size in bytes, from /proc/self/statm. */
static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (double)res * 4096.0;
}

static void *read_vecs(const char *path, size_t *n, uint32_t *dim)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    int32_t d;
    if (fread(&d, 4, 1, f) != 1 || d <= 0 || len % (4 + 4L * d)) {
        fprintf(stderr, "%s: not a .fvecs/.ivecs file\n", path);
        exit(2);
    }
    *dim = (uint32_t)d;
    *n = (size_t)(len / (4 + 4L * d));
    float *out = malloc(*n * (size_t)d * 4);
    fseek(f, 0, SEEK_SET);
    for (size_t i = 0; i < *n; i++) {
        if (fread(&d, 4, 1, f) != 1 || fread(out + i * *dim, 4, *dim, f) != *dim) {
            fprintf(stderr, "%s: short read\n", path);
            exit(2);
        }
    }
    fclose(f);
    return out;
}

static void write_vecs(const char *path, const void *data, size_t n, uint32_t dim)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    int32_t d = (int32_t)dim;
    for (size_t i = 0; i < n; i++) {
        fwrite(&d, 4, 1, f);
        fwrite((const char *)data + i * dim * 4, 4, dim, f);
    }
    if (fclose(f)) {
        perror(path);
        exit(2);
    }
}

static int cmd_gt(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    size_t nb, nq;
    uint32_t d, dq;
    float *base = read_vecs(argv[2], &nb, &d), *qs = read_vecs(argv[3], &nq, &dq);
    size_t k = (size_t)atoi(argv[4]);
    struct vt_index *ix;
    if (dq != d || vt_index_flat_new(d, VT_INDEX_IP, &ix))
        return 1;
    for (size_t i = 0; i < nb; i++)
        if (vt_index_add(ix, (int64_t)i, base + i * d))
            return 1;
    int32_t *gt = malloc(nq * k * 4), *ties = malloc(nq * 4);
    int64_t *lab = malloc(k * 8);
    float *score = malloc(k * 4);
    double t0 = now();
    for (size_t q = 0; q < nq; q++) {
        size_t n;
        vt_index_search(ix, qs + q * d, k, NULL, NULL, lab, score, &n);
        for (size_t j = 0; j < k; j++)
            gt[q * k + j] = j < n ? (int32_t)lab[j] : -1;
        size_t t = n < 10 ? n : 10;
        while (n >= 10 && t < n && score[t] >= score[9] - 1e-6f)
            t++;
        ties[q] = (int32_t)t;
    }
    fprintf(stderr, "ground truth: %zu queries over %zu vectors in %.2f s (flat, %s)\n", nq,
            nb, now() - t0, vt_index_kernels_name());
    write_vecs(argv[5], gt, nq, (uint32_t)k);
    char path[4096];
    snprintf(path, sizeof path, "%s.ties", argv[5]);
    write_vecs(path, ties, nq, 1);
    vt_index_free(ix);
    return 0;
}

/* GT.ties (written by "gt"), or 10 for every query when absent. */
static int32_t *read_ties(const char *gt_path, size_t nq, uint32_t gk)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.ties", gt_path);
    int32_t *t = malloc(nq * 4);
    for (size_t q = 0; q < nq; q++)
        t[q] = 10;
    FILE *f = fopen(path, "rb");
    if (!f)
        return t;
    fclose(f);
    size_t n;
    uint32_t one;
    int32_t *got = read_vecs(path, &n, &one);
    if (n != nq || one != 1) {
        fprintf(stderr, "%s: does not match the ground truth\n", path);
        exit(2);
    }
    for (size_t q = 0; q < nq; q++)
        t[q] = got[q] < 10 ? 10 : got[q] > (int32_t)gk ? (int32_t)gk : got[q];
    free(got);
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_hnsw(int argc, char **argv)
{
    if (argc != 9)
        return 2;
    size_t nb, nq, ng;
    uint32_t d, dq, gk;
    float *base = read_vecs(argv[2], &nb, &d), *qs = read_vecs(argv[3], &nq, &dq);
    int32_t *gt = read_vecs(argv[4], &ng, &gk);
    if (dq != d || ng != nq || gk < 10) {
        fprintf(stderr, "inputs disagree\n");
        return 1;
    }
    int32_t *ties = read_ties(argv[4], nq, gk);
    struct vt_hnsw_params p;
    vt_hnsw_params_init(&p);
    p.M = (uint32_t)atoi(argv[5]);
    p.ef_construction = (uint32_t)atoi(argv[6]);
    int reps = atoi(argv[8]);
    struct vt_index *ix;
    double rss0 = rss_bytes();
    int64_t heap0 = vt_alloc_bytes_in_use();
    if (vt_index_hnsw_new(d, VT_INDEX_IP, &p, &ix))
        return 1;
    double t0 = now();
    for (size_t i = 0; i < nb; i++)
        if (vt_index_add(ix, (int64_t)i, base + i * d))
            return 1;
    double build = now() - t0;
    double rss = rss_bytes() - rss0;
    int64_t heap = vt_alloc_bytes_in_use() - heap0;
    int64_t lab[10];
    char *list = strdup(argv[7]);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        uint32_t ef = (uint32_t)atoi(tok);
        vt_index_set_ef(ix, ef);
        double *qps = malloc(sizeof *qps * (size_t)reps);
        size_t hits = 0;
        for (int r = 0; r < reps; r++) {
            size_t h = 0;
            double t = now();
            for (size_t q = 0; q < nq; q++) {
                size_t n;
                vt_index_search(ix, qs + q * d, 10, NULL, NULL, lab, NULL, &n);
                for (size_t j = 0; j < n; j++)
                    for (size_t g = 0; g < (size_t)ties[q]; g++)
                        h += lab[j] == gt[q * gk + g];
            }
            qps[r] = (double)nq / (now() - t);
            hits = h;
        }
        qsort(qps, (size_t)reps, sizeof *qps, cmp_double);
        printf("{\"system\": \"vitrine\", \"M\": %u, \"ef_construction\": %u, \"ef\": %u, "
               "\"recall\": %.4f, \"qps\": %.1f, \"build_s\": %.2f, \"rss_mb\": %.1f, "
               "\"index_mb\": %.1f, \"n\": %zu, \"kernels\": \"%s\"}\n",
               p.M, p.ef_construction, ef, (double)hits / (10.0 * (double)nq),
               qps[reps / 2], build, rss / 1048576.0, (double)heap / 1048576.0, nb,
               vt_index_kernels_name());
        fflush(stdout);
        free(qps);
    }
    free(list);
    vt_index_free(ix);
    return 0;
}

static int cmd_export(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    struct vt_store *s;
    struct vt_error err;
    struct vt_store_options opt = {0, 1};
    if (vt_store_open(argv[2], &opt, &s, &err)) {
        fprintf(stderr, "%s: %s\n", argv[2], err.message);
        return 1;
    }
    float *out = NULL;
    size_t n = 0;
    uint32_t dim = 0;
    char after_item[VT_ID_MAX + 1] = "", after_lang[VT_LANG_MAX + 1] = "";
    for (int more = 1; more;) {
        struct vt_embedding *e;
        size_t got;
        if (vt_store_embeddings_scan(s, argv[3], after_item, after_lang, 500, &e, &got,
                                     &more)) {
            fprintf(stderr, "%s: cannot read embeddings\n", argv[2]);
            return 1;
        }
        for (size_t i = 0; i < got; i++) {
            if (strcmp(e[i].lang, argv[4]) == 0) {
                dim = e[i].dim;
                out = realloc(out, (n + 1) * dim * sizeof *out);
                memcpy(out + n * dim, e[i].vector, dim * sizeof *out);
                n++;
            }
        }
        if (got) {
            snprintf(after_item, sizeof after_item, "%s", e[got - 1].item_id);
            snprintf(after_lang, sizeof after_lang, "%s", e[got - 1].lang);
        }
        vt_embeddings_free(e, got);
        if (!got)
            break;
    }
    vt_store_close(s);
    if (!n) {
        fprintf(stderr, "%s: no embeddings of model %s in language %s\n", argv[2], argv[3],
                argv[4]);
        return 1;
    }
    write_vecs(argv[5], out, n, dim);
    fprintf(stderr, "exported %zu vectors of dimension %u\n", n, dim);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc > 1 && !strcmp(argv[1], "gt"))
        rc = cmd_gt(argc, argv);
    else if (argc > 1 && !strcmp(argv[1], "hnsw"))
        rc = cmd_hnsw(argc, argv);
    else if (argc > 1 && !strcmp(argv[1], "export"))
        rc = cmd_export(argc, argv);
    if (rc == 2)
        fprintf(stderr, "usage: see the comment at the top of bench/ann/ann_bench.c\n");
    return rc;
}
