/*
 * fuzz_index_load.c - libFuzzer target for vector index files
 * (index/index.h, vt_index_load_mem).
 *
 * Input: the bytes of an index file. One that fails to load must leave no
 * index and say why in a message naming the file. One that loads must
 * behave: searches (plain, filtered, with k past the size) return at most k
 * results, best first, only live labels that pass the filter; an insert, a
 * delete and a compaction keep it consistent. scripts/fuzz builds it with
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, under which the loader skips
 * its checksums so that mutations reach the structural checks behind them.
 *
 * Seeds (fuzz/corpus/index_load/): small flat and HNSW files of dimension
 * 4 and 8, empty ones, one with tombstones, written by vt_index_save.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int even_only(int64_t label, void *arg)
{
    (void)arg;
    return (label & 1) == 0;
}

static void check_search(struct vt_index *ix, const float *q, size_t k, int filtered)
{
    int64_t labels[16];
    float scores[16];
    size_t n = 99;
    int rc = vt_index_search(ix, q, k, filtered ? even_only : NULL, NULL, labels, scores, &n);
    assert(rc == 0 || rc == VT_ENOMEM || rc == VT_EINVAL);
    if (rc) {
        assert(n == 0);
        return;
    }
    assert(n <= k && n <= vt_index_size(ix));
    for (size_t i = 0; i < n; i++) {
        if (filtered)
            assert((labels[i] & 1) == 0);
        assert(!isnan(scores[i]));
        if (i) {
            if (vt_index_metric(ix) == VT_INDEX_L2)
                assert(scores[i] >= scores[i - 1]);
            else
                assert(scores[i] <= scores[i - 1]);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vt_index *ix = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_index_load_mem(data, size, "fuzz.vtx", &ix, &err);
    if (rc) {
        assert(ix == NULL && err.code == rc && err.message[0]);
        assert(strncmp(err.message, "fuzz.vtx: ", 10) == 0 || rc == VT_ENOMEM);
        return 0;
    }
    uint32_t dim = vt_index_dim(ix);
    float *q = calloc(dim, sizeof *q);
    for (uint32_t i = 0; i < dim; i++)
        q[i] = (float)((i * 7 + 3) % 11) - 5.0f;
    vt_index_set_ef(ix, 16);
    check_search(ix, q, 1, 0);
    check_search(ix, q, 16, 0);
    check_search(ix, q, 16, 1);
    struct vt_index_stats st;
    vt_index_stats(ix, &st);
    assert(st.live == vt_index_size(ix));
    /* writable: insert, search, delete, compact */
    rc = vt_index_add(ix, INT64_MIN + 2, q);
    assert(rc == 0 || rc == VT_ENOMEM || rc == VT_ETOOBIG);
    if (rc == 0) {
        int64_t lab[1];
        size_t n = 0;
        rc = vt_index_search(ix, q, 1, NULL, NULL, lab, NULL, &n);
        assert(rc == 0 || rc == VT_ENOMEM);
        assert(vt_index_delete(ix, INT64_MIN + 2) == 0);
    }
    rc = vt_index_compact(ix);
    assert(rc == 0 || rc == VT_ENOMEM);
    check_search(ix, q, 16, 0);
    free(q);
    vt_index_free(ix);
    return 0;
}

#ifdef FUZZ_STANDALONE
#include <stdio.h>
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
        size_t got = fread(b, 1, (size_t)(n > 0 ? n : 0), f);
        fclose(f);
        LLVMFuzzerTestOneInput(b, got);
        free(b);
    }
    return 0;
}
#endif
