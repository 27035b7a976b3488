/*
 * hnsw_int.h - private to src/index: what the HNSW graph (hnsw.c) shares
 * with the flat index (flat.c), which holds the common parts.
 *
 *   - distance kernels with run-time dispatch (portable, AVX2/FMA, AVX-512);
 *     a "distance" is smaller-is-closer: the negated inner product, or the
 *     squared Euclidean distance. Stored vectors are padded with zeros to a
 *     stride of IX_STRIDE_ALIGN floats so that kernels need no tail loop
 *     and every vector starts on a cache line;
 *   - the label map (int64 label -> uint32 slot);
 *   - the file format's header and section I/O, shared by both kinds
 *     (docs/index.md describes it byte by byte, and so does flat.c where it
 *     is parsed);
 *   - small helpers: aligned float arrays, the binary heap of (distance,
 *     slot) pairs used by both searches.
 */
#ifndef VT_INDEX_HNSW_INT_H
#define VT_INDEX_HNSW_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "index/index.h"

#define IX_STRIDE_ALIGN 16 /* floats: 64 bytes, one cache line */
#define IX_NONE UINT32_MAX

/* ---- distance kernels ---- */
typedef float (*ix_dist_fn)(const float *a, const float *b, size_t stride);
enum ix_kernels { IX_KERNELS_PORTABLE, IX_KERNELS_AVX2, IX_KERNELS_AVX512 };
/* The set chosen at run time (once; VITRINE_KERNELS=portable or avx2-fma
 * narrows the choice). */
int ix_kernels(void);
/* Distance function for a metric (COSINE and IP share the negated dot). */
ix_dist_fn ix_dist_for(int metric);
size_t ix_stride(uint32_t dim);
/* Copy dim floats into a stride-long slot, zero-padded; normalise under
 * COSINE. VT_EINVAL for a non-finite value or a zero vector under COSINE. */
int ix_prepare(int metric, uint32_t dim, size_t stride, const float *in, float *out);
/* The score callers see from an internal distance. */
static inline float ix_score(int metric, float dist)
{
    return metric == VT_INDEX_L2 ? dist : -dist;
}

/* The SIMD kernels, here so that hot loops compiled for the same target
 * can inline them (hnsw.c's graph walk); each is also reachable through
 * ix_dist_for. Only call them when ix_kernels() says the CPU has them. */
#if defined(__GNUC__) && defined(__x86_64__)
#define IX_HAVE_X86 1
#include <immintrin.h>
#define IX_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define IX_TARGET_AVX512 __attribute__((target("avx512f")))


IX_TARGET_AVX2 static inline float ix_hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Four accumulators over blocks of 32 floats, then one block of 16: the
 * fused multiply-adds of one vector do not wait on each other. */
IX_TARGET_AVX2 static inline float ix_ndot_avx2(const float *a, const float *b, size_t n)
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
    if (i < n) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    return -ix_hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

IX_TARGET_AVX2 static inline float ix_l2_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    if (i < n) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    return ix_hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

IX_TARGET_AVX512 static inline float ix_ndot_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    if (i < n)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    return -_mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

IX_TARGET_AVX512 static inline float ix_l2_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    if (i < n) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
#endif

/* ---- 64-byte aligned float arrays ---- */
struct ix_fvec {
    float *p;   /* aligned */
    void *raw;  /* what vt_malloc returned */
};
/* n floats; contents undefined. 0 or VT_ENOMEM (also on size overflow). */
int ix_fvec_alloc(struct ix_fvec *v, size_t n);
void ix_fvec_free(struct ix_fvec *v);

/* ---- label map: open addressing, linear probing, backward-shift delete ---- */
struct ix_labelmap {
    int64_t *keys;
    uint32_t *vals; /* IX_NONE = empty */
    size_t cap;     /* power of two, or 0 */
    size_t count;
};
int ix_labelmap_init(struct ix_labelmap *m, size_t expect);
void ix_labelmap_reset(struct ix_labelmap *m);
uint32_t ix_labelmap_get(const struct ix_labelmap *m, int64_t key); /* IX_NONE if absent */
/* Insert or overwrite. 0 or VT_ENOMEM. */
int ix_labelmap_put(struct ix_labelmap *m, int64_t key, uint32_t val);
void ix_labelmap_del(struct ix_labelmap *m, int64_t key);
size_t ix_labelmap_bytes(const struct ix_labelmap *m);

/* ---- (distance, slot) heaps ---- */
struct ix_pair {
    float d;
    uint32_t id;
};
struct ix_heap {
    struct ix_pair *a;
    size_t n, cap;
};
int ix_heap_reserve(struct ix_heap *h, size_t cap);
void ix_heap_free(struct ix_heap *h);
/* Max-heap (largest distance on top): the result set. */
void ix_maxheap_push(struct ix_heap *h, float d, uint32_t id); /* needs room */
void ix_maxheap_pop(struct ix_heap *h);
/* Min-heap (smallest on top): the candidate queue. */
void ix_minheap_push(struct ix_heap *h, float d, uint32_t id);
void ix_minheap_pop(struct ix_heap *h);
/* Empty a max-heap into out[0..n) in ascending order of distance; out may
 * be the heap's own array. */
void ix_maxheap_drain_sorted(struct ix_heap *h, struct ix_pair *out);

/* ---- file format ---- */
#define IX_MAGIC "VTVINDEX"
#define IX_VERSION 1u
#define IX_HEADER_SIZE 256u
#define IX_SECTION_ALIGN 64u
enum ix_section { IX_SEC_LABELS, IX_SEC_INFO, IX_SEC_VECTORS, IX_SEC_LINKS0, IX_SEC_UPPER,
                  IX_NSEC };

struct ix_header {
    uint32_t version, kind, metric, dim, stride;
    uint64_t slots, deleted;
    uint32_t M, M0, ef_construction, ef_search;
    uint64_t seed, rng;
    uint32_t entry, max_level;
    float max_deleted_share;
    uint64_t upper_words;
    uint64_t sec_off[IX_NSEC], sec_size[IX_NSEC], sec_sum[IX_NSEC];
};

/* Section sizes implied by the header's counts, and their offsets, with
 * overflow checks. Returns 0, or VT_EFORMAT with err naming the field. */
int ix_header_layout(struct ix_header *h, const char *name, struct vt_error *err);

/* Where a file is read from: a descriptor or memory. */
struct ix_reader {
    const char *name;
    int fd;                 /* -1 when reading memory */
    const uint8_t *mem;
    uint64_t size, pos;
};
/* Read n bytes of section `what` into dst; a short file is VT_EFORMAT
 * ("name: truncated: ..."), a failing read VT_EIO. */
int ix_read(struct ix_reader *r, void *dst, uint64_t n, const char *what, struct vt_error *err);
/* Read a section (after skipping to its offset) and check its checksum. */
int ix_read_section(struct ix_reader *r, const struct ix_header *h, int sec, void *dst,
                    struct vt_error *err);

/* Checksum of a section (64-bit, four interleaved multiply-rotate lanes). */
uint64_t ix_checksum(const void *p, uint64_t n);

/* Writing: the caller fills h (counts and parameters), then calls
 * ix_writer_open, ix_writer_section for each non-empty section in order,
 * then ix_writer_close, which writes the header (with checksums), syncs
 * and renames path.tmp to path. */
struct ix_writer {
    int fd;
    char *tmp_path;
    const char *path;
    uint64_t pos;
    struct ix_header *h;
};
int ix_writer_open(struct ix_writer *w, const char *path, struct ix_header *h,
                   struct vt_error *err);
/* The section may be written in pieces: call repeatedly with the same sec. */
int ix_writer_section(struct ix_writer *w, int sec, const void *p, uint64_t n,
                      struct vt_error *err);
int ix_writer_close(struct ix_writer *w, int ok, struct vt_error *err);

/* The HNSW part of loading: hnsw.c reads the sections of a kind-2 file
 * whose header has been parsed and laid out. */
int hnsw_load(struct ix_reader *r, const struct ix_header *h, struct vt_index **out,
              struct vt_error *err);

#endif
