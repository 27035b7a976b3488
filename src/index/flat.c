/*
 * flat.c - exact nearest-neighbour search, and the parts every index kind
 * shares (hnsw_int.h): distance kernels, the label map, heaps and the file
 * format.
 *
 * The flat index keeps its vectors in one contiguous, 64-byte aligned
 * array (slot i at i * stride floats, zero-padded from dim to stride) with
 * a parallel array of labels and a label -> slot map. A search scans every
 * slot with the SIMD distance kernel and keeps the k best in a max-heap;
 * the filter is asked only about a vector that would enter the heap. A
 * delete moves the last slot into the hole, so the slots stay dense and
 * there are no tombstones.
 *
 * Locking: a writer-preferring rwlock. Searches take it shared; add and
 * delete take it exclusively (they are short: one vector copy). Save holds
 * it shared, which keeps writers out while the file is written.
 *
 * Invariants: slots [0, n) are live; map holds exactly labels[0..n) with
 * their slots; the padding floats of every slot are zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "index/hnsw_int.h"


/* ------------------------------------------------------------------ */
/* Distance kernels                                                    */
/* ------------------------------------------------------------------ */

/* The SIMD kernels are in hnsw_int.h, where the graph walk inlines them.
 * n is a multiple of IX_STRIDE_ALIGN (16) in every kernel. */
static float ndot_portable(const float *a, const float *b, size_t n)
{
    float s[8] = {0};
    for (size_t i = 0; i < n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    return -(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
}

static float l2_portable(const float *a, const float *b, size_t n)
{
    float s[8] = {0};
    for (size_t i = 0; i < n; i += 8)
        for (int j = 0; j < 8; j++) {
            float d = a[i + j] - b[i + j];
            s[j] += d * d;
        }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

struct kernel_choice {
    const char *name;
    int set; /* enum ix_kernels */
    ix_dist_fn ndot, l2;
};

static struct kernel_choice kernels;
static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;

static void kernels_pick(void)
{
    const char *force = getenv("VITRINE_KERNELS");
    kernels = (struct kernel_choice){"portable", IX_KERNELS_PORTABLE, ndot_portable, l2_portable};
    if (force && strcmp(force, "portable") == 0)
        return;
#ifdef IX_HAVE_X86
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int avx512 = __builtin_cpu_supports("avx512f");
    if (avx2)
        kernels = (struct kernel_choice){"avx2-fma", IX_KERNELS_AVX2, ix_ndot_avx2, ix_l2_avx2};
    if (avx512 && !(force && strcmp(force, "avx2-fma") == 0))
        kernels = (struct kernel_choice){"avx512", IX_KERNELS_AVX512, ix_ndot_avx512,
                                         ix_l2_avx512};
#endif
}

const char *vt_index_kernels_name(void)
{
    pthread_once(&kernels_once, kernels_pick);
    return kernels.name;
}

int ix_kernels(void)
{
    pthread_once(&kernels_once, kernels_pick);
    return kernels.set;
}

ix_dist_fn ix_dist_for(int metric)
{
    pthread_once(&kernels_once, kernels_pick);
    return metric == VT_INDEX_L2 ? kernels.l2 : kernels.ndot;
}

size_t ix_stride(uint32_t dim)
{
    return ((size_t)dim + IX_STRIDE_ALIGN - 1) / IX_STRIDE_ALIGN * IX_STRIDE_ALIGN;
}

int ix_prepare(int metric, uint32_t dim, size_t stride, const float *in, float *out)
{
    double ss = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(in[i]))
            return VT_EINVAL;
        ss += (double)in[i] * in[i];
    }
    if (metric == VT_INDEX_COSINE) {
        if (!(ss > 0) || !isfinite(ss))
            return VT_EINVAL;
        float inv = (float)(1.0 / sqrt(ss));
        for (uint32_t i = 0; i < dim; i++)
            out[i] = in[i] * inv;
    } else {
        if (!isfinite(ss)) /* squares overflow: distances would be infinite */
            return VT_EINVAL;
        if (out != in)
            memmove(out, in, (size_t)dim * sizeof *out);
    }
    for (size_t i = dim; i < stride; i++)
        out[i] = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Aligned arrays, label map, heaps                                     */
/* ------------------------------------------------------------------ */

int ix_fvec_alloc(struct ix_fvec *v, size_t n)
{
    size_t bytes;
    v->p = NULL;
    v->raw = NULL;
    if (vt_mul_size(n, sizeof(float), &bytes) || bytes > SIZE_MAX - 64)
        return VT_ENOMEM;
    v->raw = vt_malloc(bytes + 64);
    if (!v->raw)
        return VT_ENOMEM;
    v->p = (float *)(((uintptr_t)v->raw + 63) & ~(uintptr_t)63);
    return 0;
}

void ix_fvec_free(struct ix_fvec *v)
{
    vt_free(v->raw);
    v->raw = NULL;
    v->p = NULL;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int labelmap_alloc(struct ix_labelmap *m, size_t cap)
{
    int64_t *keys = vt_calloc(cap, sizeof *keys);
    uint32_t *vals = vt_calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        vt_free(keys);
        vt_free(vals);
        return VT_ENOMEM;
    }
    memset(vals, 0xff, cap * sizeof *vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->count = 0;
    return 0;
}

int ix_labelmap_init(struct ix_labelmap *m, size_t expect)
{
    size_t cap = 16;
    while (cap / 2 <= expect) {
        if (cap > SIZE_MAX / 4)
            return VT_ENOMEM;
        cap *= 2;
    }
    return labelmap_alloc(m, cap);
}

void ix_labelmap_reset(struct ix_labelmap *m)
{
    vt_free(m->keys);
    vt_free(m->vals);
    memset(m, 0, sizeof *m);
}

uint32_t ix_labelmap_get(const struct ix_labelmap *m, int64_t key)
{
    if (!m->cap)
        return IX_NONE;
    size_t mask = m->cap - 1;
    for (size_t i = mix64((uint64_t)key) & mask;; i = (i + 1) & mask) {
        if (m->vals[i] == IX_NONE)
            return IX_NONE;
        if (m->keys[i] == key)
            return m->vals[i];
    }
}

int ix_labelmap_put(struct ix_labelmap *m, int64_t key, uint32_t val)
{
    if ((m->count + 1) * 2 > m->cap) {
        struct ix_labelmap bigger;
        if (m->cap > SIZE_MAX / 4 || labelmap_alloc(&bigger, m->cap ? m->cap * 2 : 16))
            return VT_ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->vals[i] != IX_NONE)
                ix_labelmap_put(&bigger, m->keys[i], m->vals[i]); /* has room */
        ix_labelmap_reset(m);
        *m = bigger;
    }
    size_t mask = m->cap - 1;
    for (size_t i = mix64((uint64_t)key) & mask;; i = (i + 1) & mask) {
        if (m->vals[i] == IX_NONE) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->count++;
            return 0;
        }
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return 0;
        }
    }
}

void ix_labelmap_del(struct ix_labelmap *m, int64_t key)
{
    if (!m->cap)
        return;
    size_t mask = m->cap - 1, i = mix64((uint64_t)key) & mask;
    for (;; i = (i + 1) & mask) {
        if (m->vals[i] == IX_NONE)
            return;
        if (m->keys[i] == key)
            break;
    }
    /* Backward shift: pull later entries of the probe run into the hole
     * unless their home slot lies cyclically in (hole, j]. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->vals[j] != IX_NONE; j = (j + 1) & mask) {
        size_t home = mix64((uint64_t)m->keys[j]) & mask;
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->vals[hole] = IX_NONE;
    m->count--;
}

size_t ix_labelmap_bytes(const struct ix_labelmap *m)
{
    return m->cap * (sizeof *m->keys + sizeof *m->vals);
}

int ix_heap_reserve(struct ix_heap *h, size_t cap)
{
    if (cap <= h->cap)
        return 0;
    size_t want = h->cap ? h->cap : 64;
    while (want < cap)
        want *= 2;
    size_t bytes;
    if (vt_mul_size(want, sizeof *h->a, &bytes))
        return VT_ENOMEM;
    struct ix_pair *a = vt_realloc(h->a, bytes);
    if (!a)
        return VT_ENOMEM;
    h->a = a;
    h->cap = want;
    return 0;
}

void ix_heap_free(struct ix_heap *h)
{
    vt_free(h->a);
    memset(h, 0, sizeof *h);
}

void ix_maxheap_push(struct ix_heap *h, float d, uint32_t id)
{
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!(h->a[p].d < d))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = (struct ix_pair){d, id};
}

void ix_maxheap_pop(struct ix_heap *h)
{
    struct ix_pair last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h->a[c + 1].d > h->a[c].d)
            c++;
        if (!(h->a[c].d > last.d))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (n)
        h->a[i] = last;
}

void ix_minheap_push(struct ix_heap *h, float d, uint32_t id)
{
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!(h->a[p].d > d))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = (struct ix_pair){d, id};
}

void ix_minheap_pop(struct ix_heap *h)
{
    struct ix_pair last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h->a[c + 1].d < h->a[c].d)
            c++;
        if (!(h->a[c].d < last.d))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (n)
        h->a[i] = last;
}

void ix_maxheap_drain_sorted(struct ix_heap *h, struct ix_pair *out)
{
    /* Heapsort in place (out may be h->a), then copy. */
    size_t total = h->n;
    while (h->n > 1) {
        struct ix_pair top = h->a[0];
        ix_maxheap_pop(h);
        h->a[h->n] = top;
    }
    if (out != h->a && total)
        memcpy(out, h->a, total * sizeof *out);
    h->n = 0;
}

/* ------------------------------------------------------------------ */
/* File format                                                          */
/* ------------------------------------------------------------------ */
/*
 * All integers little-endian. A file is a 256-byte header, then the
 * sections in this order, each starting at a multiple of 64 bytes (zero
 * padding between them), the file ending right after the last non-empty
 * one:
 *
 *   off  size  field
 *     0     8  magic "VTVINDEX"
 *     8     4  format version (1)
 *    12     4  header size (256)
 *    16     4  kind: 1 flat, 2 hnsw
 *    20     4  metric: 1 inner product, 2 cosine, 3 L2
 *    24     4  dim
 *    28     4  stride: floats per stored vector, dim rounded up to 16
 *    32     8  slots: vectors stored, deleted ones included
 *    40     8  deleted: tombstones among them (0 for flat)
 *    48     4  M           (hnsw; 0 for flat)
 *    52     4  M0: links per node on layer 0 (hnsw)
 *    56     4  ef_construction (hnsw)
 *    60     4  ef_search (hnsw)
 *    64     8  seed of the level generator (hnsw)
 *    72     8  level generator state at save time (hnsw)
 *    80     4  entry point slot, 0xffffffff when empty (hnsw)
 *    84     4  top layer (hnsw)
 *    88     4  max deleted share, float32 (hnsw)
 *    92     4  zero
 *    96     8  upper words: uint32 words of the upper-layer links section
 *   104   120  section table, 5 x { offset u64, size u64, checksum u64 }:
 *              labels, info, vectors, links0, upper
 *   224    24  zero
 *   248     8  checksum of bytes 0..247
 *
 * Sections (sizes follow from the header; the table must agree):
 *   labels   slots x int64
 *   info     slots x uint8: bits 0-4 the node's top layer, bit 7 deleted
 *            (hnsw only)
 *   vectors  slots x stride float32 (as stored: normalised under cosine,
 *            padding zero)
 *   links0   slots x (1 + M0) uint32: a count, then that many neighbour
 *            slots, then unused words (hnsw only)
 *   upper    for each slot in order, for each of its layers 1..top:
 *            (1 + M) uint32, laid out as links0 (hnsw only)
 * A checksum is ix_checksum() of the section's bytes.
 */

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static inline void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

static const char *const section_names[IX_NSEC] = {"labels", "info", "vectors", "links0",
                                                   "upper"};

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

uint64_t ix_checksum(const void *p, uint64_t n)
{
    const uint64_t K1 = 0x9e3779b97f4a7c15ull, K2 = 0xd6e8feb86659fd93ull;
    const uint8_t *b = p;
    uint64_t h[4] = {K1, K2, ~K1, ~K2}, w[4];
    uint64_t left = n;
    while (left >= 32) {
        memcpy(w, b, 32);
        for (int i = 0; i < 4; i++)
            h[i] = rotl64(h[i] ^ (w[i] * K1), 31) * K2;
        b += 32;
        left -= 32;
    }
    uint8_t tail[32] = {0};
    memcpy(tail, b, (size_t)left);
    memcpy(w, tail, 32);
    for (int i = 0; i < 4; i++)
        h[i] = rotl64(h[i] ^ (w[i] * K1), 31) * K2;
    return mix64(h[0] ^ rotl64(h[1], 17) ^ rotl64(h[2], 29) ^ rotl64(h[3], 43) ^ n);
}

static void header_encode(const struct ix_header *h, uint8_t *p)
{
    memset(p, 0, IX_HEADER_SIZE);
    memcpy(p, IX_MAGIC, 8);
    wr32(p + 8, IX_VERSION);
    wr32(p + 12, IX_HEADER_SIZE);
    wr32(p + 16, h->kind);
    wr32(p + 20, h->metric);
    wr32(p + 24, h->dim);
    wr32(p + 28, h->stride);
    wr64(p + 32, h->slots);
    wr64(p + 40, h->deleted);
    wr32(p + 48, h->M);
    wr32(p + 52, h->M0);
    wr32(p + 56, h->ef_construction);
    wr32(p + 60, h->ef_search);
    wr64(p + 64, h->seed);
    wr64(p + 72, h->rng);
    wr32(p + 80, h->entry);
    wr32(p + 84, h->max_level);
    uint32_t share;
    memcpy(&share, &h->max_deleted_share, 4);
    wr32(p + 88, share);
    wr64(p + 96, h->upper_words);
    for (int s = 0; s < IX_NSEC; s++) {
        wr64(p + 104 + 24 * s, h->sec_off[s]);
        wr64(p + 112 + 24 * s, h->sec_size[s]);
        wr64(p + 120 + 24 * s, h->sec_sum[s]);
    }
    wr64(p + 248, ix_checksum(p, 248));
}

/* Fuzzing builds skip checksum checks so that mutated files reach the
 * structural checks behind them. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CHECKSUMS_ENFORCED 0
#else
#define CHECKSUMS_ENFORCED 1
#endif

static int header_decode(const uint8_t *p, const char *name, struct ix_header *h,
                         struct vt_error *err)
{
    memset(h, 0, sizeof *h);
    if (memcmp(p, IX_MAGIC, 8) != 0)
        return vt_error_set(err, VT_EFORMAT, "magic", "%s: not a vitrine vector index "
                            "(no \"VTVINDEX\" at the start)", name);
    if (CHECKSUMS_ENFORCED && rd64(p + 248) != ix_checksum(p, 248))
        return vt_error_set(err, VT_EFORMAT, "header",
                            "%s: the header is corrupt (checksum mismatch)", name);
    h->version = rd32(p + 8);
    if (h->version != IX_VERSION)
        return vt_error_set(err, VT_EFORMAT, "version",
                            "%s: format version %u is not supported (this build reads %u)",
                            name, h->version, IX_VERSION);
    if (rd32(p + 12) != IX_HEADER_SIZE)
        return vt_error_set(err, VT_EFORMAT, "header_size",
                            "%s: header size %u, expected %u", name, rd32(p + 12),
                            IX_HEADER_SIZE);
    h->kind = rd32(p + 16);
    h->metric = rd32(p + 20);
    h->dim = rd32(p + 24);
    h->stride = rd32(p + 28);
    h->slots = rd64(p + 32);
    h->deleted = rd64(p + 40);
    h->M = rd32(p + 48);
    h->M0 = rd32(p + 52);
    h->ef_construction = rd32(p + 56);
    h->ef_search = rd32(p + 60);
    h->seed = rd64(p + 64);
    h->rng = rd64(p + 72);
    h->entry = rd32(p + 80);
    h->max_level = rd32(p + 84);
    uint32_t share = rd32(p + 88);
    memcpy(&h->max_deleted_share, &share, 4);
    h->upper_words = rd64(p + 96);
    for (int s = 0; s < IX_NSEC; s++) {
        h->sec_off[s] = rd64(p + 104 + 24 * s);
        h->sec_size[s] = rd64(p + 112 + 24 * s);
        h->sec_sum[s] = rd64(p + 120 + 24 * s);
    }
    if (h->kind != VT_INDEX_FLAT && h->kind != VT_INDEX_HNSW)
        return vt_error_set(err, VT_EFORMAT, "kind", "%s: unknown index kind %u", name,
                            h->kind);
    if (h->metric < VT_INDEX_IP || h->metric > VT_INDEX_L2)
        return vt_error_set(err, VT_EFORMAT, "metric", "%s: unknown metric %u", name,
                            h->metric);
    if (h->dim == 0 || h->dim > VT_INDEX_DIM_MAX)
        return vt_error_set(err, VT_EFORMAT, "dim", "%s: dimension %u is outside 1..%u",
                            name, h->dim, VT_INDEX_DIM_MAX);
    if (h->stride != ix_stride(h->dim))
        return vt_error_set(err, VT_EFORMAT, "stride",
                            "%s: stride %u does not match dimension %u (expected %zu)", name,
                            h->stride, h->dim, ix_stride(h->dim));
    if (h->slots > VT_INDEX_SLOTS_MAX)
        return vt_error_set(err, VT_EFORMAT, "slots",
                            "%s: %llu vectors, more than an index holds (%llu)", name,
                            (unsigned long long)h->slots,
                            (unsigned long long)VT_INDEX_SLOTS_MAX);
    if (h->deleted > h->slots)
        return vt_error_set(err, VT_EFORMAT, "deleted",
                            "%s: %llu deleted of %llu vectors", name,
                            (unsigned long long)h->deleted, (unsigned long long)h->slots);
    return 0;
}

static int add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a > UINT64_MAX - b)
        return -1;
    *out = a + b;
    return 0;
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a && b > UINT64_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int ix_header_layout(struct ix_header *h, const char *name, struct vt_error *err)
{
    uint64_t size[IX_NSEC] = {0}, off[IX_NSEC];
    int hnsw = h->kind == VT_INDEX_HNSW;
    int bad = mul_u64(h->slots, 8, &size[IX_SEC_LABELS]);
    size[IX_SEC_INFO] = hnsw ? h->slots : 0;
    bad |= mul_u64(h->slots, (uint64_t)h->stride * 4, &size[IX_SEC_VECTORS]);
    if (hnsw) {
        bad |= mul_u64(h->slots, ((uint64_t)h->M0 + 1) * 4, &size[IX_SEC_LINKS0]);
        bad |= mul_u64(h->upper_words, 4, &size[IX_SEC_UPPER]);
    }
    uint64_t pos = IX_HEADER_SIZE;
    for (int s = 0; s < IX_NSEC && !bad; s++) {
        off[s] = size[s] ? pos : 0;
        if (size[s]) {
            bad |= add_u64(pos, size[s], &pos);
            if (!bad && s + 1 < IX_NSEC)
                bad |= add_u64(pos, (IX_SECTION_ALIGN - pos % IX_SECTION_ALIGN) %
                                        IX_SECTION_ALIGN, &pos);
        }
    }
    if (bad)
        return vt_error_set(err, VT_EFORMAT, "slots",
                            "%s: the header's counts overflow a 64-bit file size", name);
    for (int s = 0; s < IX_NSEC; s++) {
        h->sec_off[s] = off[s];
        h->sec_size[s] = size[s];
    }
    return 0;
}

/* The end of the last non-empty section (the file's expected size). */
static uint64_t layout_end(const struct ix_header *h)
{
    uint64_t end = IX_HEADER_SIZE;
    for (int s = 0; s < IX_NSEC; s++)
        if (h->sec_size[s])
            end = h->sec_off[s] + h->sec_size[s];
    return end;
}

int ix_read(struct ix_reader *r, void *dst, uint64_t n, const char *what, struct vt_error *err)
{
    if (n > r->size || r->pos > r->size - n)
        return vt_error_set(err, VT_EFORMAT, what,
                            "%s: truncated: the %s need %llu bytes at offset %llu, the file "
                            "has %llu", r->name, what, (unsigned long long)n,
                            (unsigned long long)r->pos, (unsigned long long)r->size);
    if (r->fd < 0) {
        memcpy(dst, r->mem + r->pos, (size_t)n);
        r->pos += n;
        return 0;
    }
    uint8_t *d = dst;
    while (n) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t got = pread(r->fd, d, chunk, (off_t)r->pos);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return vt_error_set(err, VT_EIO, what, "%s: reading the %s: %s", r->name, what,
                                strerror(errno));
        if (got == 0)
            return vt_error_set(err, VT_EFORMAT, what,
                                "%s: truncated while reading the %s at offset %llu", r->name,
                                what, (unsigned long long)r->pos);
        d += got;
        n -= (uint64_t)got;
        r->pos += (uint64_t)got;
    }
    return 0;
}

int ix_read_section(struct ix_reader *r, const struct ix_header *h, int sec, void *dst,
                    struct vt_error *err)
{
    char what[32];
    snprintf(what, sizeof what, "%s section", section_names[sec]);
    if (!h->sec_size[sec])
        return 0;
    r->pos = h->sec_off[sec];
    int rc = ix_read(r, dst, h->sec_size[sec], what, err);
    if (rc)
        return rc;
    if (CHECKSUMS_ENFORCED && ix_checksum(dst, h->sec_size[sec]) != h->sec_sum[sec])
        return vt_error_set(err, VT_EFORMAT, section_names[sec],
                            "%s: the %s is corrupt (checksum mismatch)", r->name, what);
    return 0;
}

static int write_all(int fd, const void *p, uint64_t n)
{
    const uint8_t *b = p;
    while (n) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t put = write(fd, b, chunk);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        b += put;
        n -= (uint64_t)put;
    }
    return 0;
}

int ix_writer_open(struct ix_writer *w, const char *path, struct ix_header *h,
                   struct vt_error *err)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->path = path;
    w->h = h;
    if (ix_header_layout(h, path, err))
        return VT_EINTERNAL;
    size_t len = strlen(path);
    w->tmp_path = vt_malloc(len + 5);
    if (!w->tmp_path)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
    memcpy(w->tmp_path, path, len);
    memcpy(w->tmp_path + len, ".tmp", 5);
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        vt_free(w->tmp_path);
        w->tmp_path = NULL;
        return vt_error_set(err, VT_EIO, NULL, "%s.tmp: %s", path, strerror(e));
    }
    uint8_t zero[IX_HEADER_SIZE] = {0};
    if (write_all(w->fd, zero, sizeof zero)) {
        int e = errno;
        ix_writer_close(w, 0, NULL);
        return vt_error_set(err, VT_EIO, NULL, "%s.tmp: %s", path, strerror(e));
    }
    w->pos = IX_HEADER_SIZE;
    return 0;
}

int ix_writer_section(struct ix_writer *w, int sec, const void *p, uint64_t n,
                      struct vt_error *err)
{
    static const uint8_t zero[IX_SECTION_ALIGN];
    if (n == 0 && w->h->sec_size[sec] == 0)
        return 0; /* an empty section takes no room */
    if (n != w->h->sec_size[sec] || w->pos > w->h->sec_off[sec] ||
        w->h->sec_off[sec] - w->pos >= IX_SECTION_ALIGN)
        return vt_error_set(err, VT_EINTERNAL, section_names[sec],
                            "%s: the %s section does not match the layout", w->path,
                            section_names[sec]);
    if (write_all(w->fd, zero, w->h->sec_off[sec] - w->pos) || write_all(w->fd, p, n))
        return vt_error_set(err, VT_EIO, section_names[sec], "%s.tmp: %s", w->path,
                            strerror(errno));
    w->h->sec_sum[sec] = ix_checksum(p, n);
    w->pos = w->h->sec_off[sec] + n;
    return 0;
}

int ix_writer_close(struct ix_writer *w, int ok, struct vt_error *err)
{
    int rc = 0;
    if (ok) {
        uint8_t hdr[IX_HEADER_SIZE];
        header_encode(w->h, hdr);
        if (w->pos != layout_end(w->h))
            rc = vt_error_set(err, VT_EINTERNAL, NULL, "%s: sections missing", w->path);
        else if (pwrite(w->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || fsync(w->fd))
            rc = vt_error_set(err, VT_EIO, NULL, "%s.tmp: %s", w->path, strerror(errno));
    }
    if (w->fd >= 0 && close(w->fd) && ok && !rc)
        rc = vt_error_set(err, VT_EIO, NULL, "%s.tmp: %s", w->path, strerror(errno));
    w->fd = -1;
    if (ok && !rc && rename(w->tmp_path, w->path))
        rc = vt_error_set(err, VT_EIO, NULL, "%s: %s", w->path, strerror(errno));
    if (!ok || rc)
        unlink(w->tmp_path);
    vt_free(w->tmp_path);
    w->tmp_path = NULL;
    return rc;
}

/* ------------------------------------------------------------------ */
/* The flat index                                                       */
/* ------------------------------------------------------------------ */

struct flat {
    struct vt_index base; /* first: vt_index_free frees the whole struct */
    uint32_t dim;
    size_t stride;
    int metric;
    ix_dist_fn dist;
    pthread_rwlock_t lock;
    uint32_t n, cap;
    struct ix_fvec vecs;
    int64_t *labels;
    struct ix_labelmap map;
};

static const struct vt_index_ops flat_ops;

static int rwlock_init_writer_first(pthread_rwlock_t *l)
{
    pthread_rwlockattr_t a;
    if (pthread_rwlockattr_init(&a))
        return VT_EINTERNAL;
#ifdef __GLIBC__
    /* Without this a steady stream of searches could starve a writer. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int rc = pthread_rwlock_init(l, &a);
    pthread_rwlockattr_destroy(&a);
    return rc ? VT_EINTERNAL : 0;
}

static int flat_create(uint32_t dim, int metric, struct flat **out)
{
    *out = NULL;
    if (dim == 0 || dim > VT_INDEX_DIM_MAX || metric < VT_INDEX_IP || metric > VT_INDEX_L2)
        return VT_EINVAL;
    struct flat *f = vt_calloc(1, sizeof *f);
    if (!f)
        return VT_ENOMEM;
    if (rwlock_init_writer_first(&f->lock)) {
        vt_free(f);
        return VT_EINTERNAL;
    }
    f->dim = dim;
    f->stride = ix_stride(dim);
    f->metric = metric;
    f->dist = ix_dist_for(metric);
    f->base = (struct vt_index){&flat_ops, f, dim, metric, VT_INDEX_FLAT};
    *out = f;
    return 0;
}

static void flat_free(void *impl)
{
    struct flat *f = impl;
    if (!f)
        return;
    pthread_rwlock_destroy(&f->lock);
    ix_fvec_free(&f->vecs);
    vt_free(f->labels);
    ix_labelmap_reset(&f->map);
    vt_free(f);
}

int vt_index_flat_new(uint32_t dim, int metric, struct vt_index **out)
{
    struct flat *f;
    *out = NULL;
    int rc = flat_create(dim, metric, &f);
    if (rc)
        return rc;
    if (ix_labelmap_init(&f->map, 16)) {
        flat_free(f);
        return VT_ENOMEM;
    }
    *out = &f->base;
    return 0;
}

/* Room for one more slot. Called with the write lock held. */
static int flat_reserve(struct flat *f, uint32_t want)
{
    if (want <= f->cap)
        return 0;
    if (want > VT_INDEX_SLOTS_MAX)
        return VT_ETOOBIG;
    uint64_t cap = f->cap ? (uint64_t)f->cap * 2 : 64;
    if (cap < want)
        cap = want;
    if (cap > VT_INDEX_SLOTS_MAX)
        cap = VT_INDEX_SLOTS_MAX;
    struct ix_fvec nv;
    size_t floats;
    if (vt_mul_size((size_t)cap, f->stride, &floats) || ix_fvec_alloc(&nv, floats))
        return VT_ENOMEM;
    int64_t *labels = vt_realloc(f->labels, (size_t)cap * sizeof *labels);
    if (!labels) {
        ix_fvec_free(&nv);
        return VT_ENOMEM;
    }
    f->labels = labels;
    if (f->n)
        memcpy(nv.p, f->vecs.p, (size_t)f->n * f->stride * sizeof(float));
    ix_fvec_free(&f->vecs);
    f->vecs = nv;
    f->cap = (uint32_t)cap;
    return 0;
}

static int flat_add(void *impl, int64_t label, const float *vec)
{
    struct flat *f = impl;
    pthread_rwlock_wrlock(&f->lock);
    uint32_t slot = ix_labelmap_get(&f->map, label);
    int rc = 0;
    if (slot == IX_NONE) {
        rc = flat_reserve(f, f->n + 1);
        if (rc)
            goto out;
        slot = f->n;
    }
    float *dst = f->vecs.p + (size_t)slot * f->stride;
    if (slot == f->n) {
        rc = ix_prepare(f->metric, f->dim, f->stride, vec, dst);
        if (rc)
            goto out;
        rc = ix_labelmap_put(&f->map, label, slot);
        if (rc)
            goto out;
        f->labels[slot] = label;
        f->n++;
    } else {
        /* Replace in place only once the new vector is known to be valid. */
        float *tmp = vt_malloc(f->stride * sizeof(float));
        if (!tmp) {
            rc = VT_ENOMEM;
            goto out;
        }
        rc = ix_prepare(f->metric, f->dim, f->stride, vec, tmp);
        if (!rc)
            memcpy(dst, tmp, f->stride * sizeof(float));
        vt_free(tmp);
    }
out:
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

static int flat_remove(void *impl, int64_t label)
{
    struct flat *f = impl;
    pthread_rwlock_wrlock(&f->lock);
    uint32_t slot = ix_labelmap_get(&f->map, label);
    int rc = VT_ENOTFOUND;
    if (slot != IX_NONE) {
        uint32_t last = f->n - 1;
        ix_labelmap_del(&f->map, label);
        if (slot != last) {
            memcpy(f->vecs.p + (size_t)slot * f->stride, f->vecs.p + (size_t)last * f->stride,
                   f->stride * sizeof(float));
            f->labels[slot] = f->labels[last];
            ix_labelmap_put(&f->map, f->labels[slot], slot); /* overwrites: no growth */
        }
        f->n--;
        rc = 0;
    }
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

/* Queries up to this many floats are prepared on the stack. */
#define QUERY_STACK_FLOATS 1024
/* k up to this many uses a heap on the stack. */
#define K_STACK 256

static int flat_search(void *impl, const float *query, size_t k, vt_index_filter_fn filter,
                       void *arg, int64_t *labels, float *scores, size_t *n_out)
{
    struct flat *f = impl;
    _Alignas(64) float qstack[QUERY_STACK_FLOATS];
    struct ix_pair hstack[K_STACK];
    float *q = qstack;
    struct ix_heap heap = {hstack, 0, K_STACK};
    int rc = 0;
    *n_out = 0;
    if (k == 0)
        return 0;
    if (f->stride > QUERY_STACK_FLOATS) {
        q = vt_malloc(f->stride * sizeof(float));
        if (!q)
            return VT_ENOMEM;
    }
    rc = ix_prepare(f->metric, f->dim, f->stride, query, q);
    if (rc)
        goto out;
    pthread_rwlock_rdlock(&f->lock);
    size_t kk = k < f->n ? k : f->n;
    if (kk > K_STACK) {
        heap.a = NULL;
        heap.cap = 0;
        if (ix_heap_reserve(&heap, kk)) {
            pthread_rwlock_unlock(&f->lock);
            rc = VT_ENOMEM;
            goto out;
        }
    }
    const float *v = f->vecs.p;
    for (uint32_t i = 0; i < f->n; i++, v += f->stride) {
        float d = f->dist(q, v, f->stride);
        if (heap.n == kk && !(d < heap.a[0].d))
            continue;
        if (filter && !filter(f->labels[i], arg))
            continue;
        if (heap.n == kk)
            ix_maxheap_pop(&heap);
        ix_maxheap_push(&heap, d, i);
    }
    size_t got = heap.n;
    struct ix_pair sorted[K_STACK], *s = got <= K_STACK ? sorted : vt_malloc(got * sizeof *s);
    if (!s) {
        rc = VT_ENOMEM;
    } else {
        ix_maxheap_drain_sorted(&heap, s);
        for (size_t i = 0; i < got; i++) {
            if (labels)
                labels[i] = f->labels[s[i].id];
            if (scores)
                scores[i] = ix_score(f->metric, s[i].d);
        }
        *n_out = got;
        if (s != sorted)
            vt_free(s);
    }
    pthread_rwlock_unlock(&f->lock);
    if (heap.a != hstack)
        ix_heap_free(&heap);
out:
    if (q != qstack)
        vt_free(q);
    return rc;
}

static uint64_t flat_size(void *impl)
{
    struct flat *f = impl;
    pthread_rwlock_rdlock(&f->lock);
    uint64_t n = f->n;
    pthread_rwlock_unlock(&f->lock);
    return n;
}

static void flat_stats(void *impl, struct vt_index_stats *st)
{
    struct flat *f = impl;
    memset(st, 0, sizeof *st);
    pthread_rwlock_rdlock(&f->lock);
    st->live = f->n;
    st->bytes = sizeof *f + (uint64_t)f->cap * (f->stride * sizeof(float) + 8) + 64 +
                ix_labelmap_bytes(&f->map);
    pthread_rwlock_unlock(&f->lock);
}

static int flat_compact(void *impl)
{
    (void)impl;
    return 0;
}

static void flat_set_ef(void *impl, uint32_t ef)
{
    (void)impl;
    (void)ef;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static int flat_save(void *impl, const char *path, struct vt_error *err)
{
    struct flat *f = impl;
    if (!host_is_little_endian())
        return vt_error_set(err, VT_EINTERNAL, NULL, "index files need a little-endian host");
    struct ix_header h;
    memset(&h, 0, sizeof h);
    h.kind = VT_INDEX_FLAT;
    h.metric = (uint32_t)f->metric;
    h.dim = f->dim;
    h.stride = (uint32_t)f->stride;
    h.entry = IX_NONE;
    pthread_rwlock_rdlock(&f->lock);
    h.slots = f->n;
    struct ix_writer w;
    int rc = ix_writer_open(&w, path, &h, err);
    if (!rc)
        rc = ix_writer_section(&w, IX_SEC_LABELS, f->labels, (uint64_t)f->n * 8, err);
    if (!rc)
        rc = ix_writer_section(&w, IX_SEC_VECTORS, f->vecs.p,
                               (uint64_t)f->n * f->stride * sizeof(float), err);
    if (w.tmp_path) {
        int rc2 = ix_writer_close(&w, rc == 0, err);
        rc = rc ? rc : rc2;
    }
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

static const struct vt_index_ops flat_ops = {
    .name = "flat",
    .add = flat_add,
    .remove = flat_remove,
    .search = flat_search,
    .size = flat_size,
    .stats = flat_stats,
    .compact = flat_compact,
    .set_ef = flat_set_ef,
    .save = flat_save,
    .free = flat_free,
};

static int flat_load(struct ix_reader *r, const struct ix_header *h, struct vt_index **out,
                     struct vt_error *err)
{
    struct flat *f;
    int rc = flat_create(h->dim, (int)h->metric, &f);
    if (rc)
        return vt_error_set(err, rc, NULL, "%s: cannot create the index", r->name);
    if (h->deleted)
        rc = vt_error_set(err, VT_EFORMAT, "deleted", "%s: a flat index has no deleted "
                          "vectors, the header says %llu", r->name,
                          (unsigned long long)h->deleted);
    if (!rc && (rc = flat_reserve(f, h->slots ? (uint32_t)h->slots : 1)))
        vt_error_set(err, rc, NULL, "%s: out of memory for %llu vectors", r->name,
                     (unsigned long long)h->slots);
    if (!rc && (rc = ix_labelmap_init(&f->map, (size_t)h->slots)))
        vt_error_set(err, rc, NULL, "%s: out of memory", r->name);
    if (!rc)
        rc = ix_read_section(r, h, IX_SEC_LABELS, f->labels, err);
    if (!rc)
        rc = ix_read_section(r, h, IX_SEC_VECTORS, f->vecs.p, err);
    for (uint64_t i = 0; !rc && i < h->slots; i++) {
        float *v = f->vecs.p + i * f->stride;
        for (uint32_t j = 0; j < f->dim; j++)
            if (!isfinite(v[j])) {
                rc = vt_error_set(err, VT_EFORMAT, "vectors",
                                  "%s: vector %llu holds a non-finite value", r->name,
                                  (unsigned long long)i);
                break;
            }
        for (size_t j = f->dim; j < f->stride; j++)
            v[j] = 0;
        if (!rc && ix_labelmap_get(&f->map, f->labels[i]) != IX_NONE)
            rc = vt_error_set(err, VT_EFORMAT, "labels", "%s: label %lld appears twice",
                              r->name, (long long)f->labels[i]);
        if (!rc && (rc = ix_labelmap_put(&f->map, f->labels[i], (uint32_t)i)))
            vt_error_set(err, rc, NULL, "%s: out of memory", r->name);
    }
    if (rc) {
        flat_free(f);
        return rc;
    }
    f->n = (uint32_t)h->slots;
    *out = &f->base;
    return 0;
}

/* Parse the header, check the file's size against it, dispatch on kind. */
static int load_from(struct ix_reader *r, struct vt_index **out, struct vt_error *err)
{
    uint8_t raw[IX_HEADER_SIZE];
    struct ix_header h;
    *out = NULL;
    if (!host_is_little_endian())
        return vt_error_set(err, VT_EINTERNAL, NULL, "index files need a little-endian host");
    if (r->size < IX_HEADER_SIZE)
        return vt_error_set(err, VT_EFORMAT, "header",
                            "%s: truncated: %llu bytes, shorter than the %u-byte header",
                            r->name, (unsigned long long)r->size, IX_HEADER_SIZE);
    int rc = ix_read(r, raw, IX_HEADER_SIZE, "header", err);
    if (rc)
        return rc;
    rc = header_decode(raw, r->name, &h, err);
    if (rc)
        return rc;
    struct ix_header want = h;
    rc = ix_header_layout(&want, r->name, err);
    if (rc)
        return rc;
    for (int s = 0; s < IX_NSEC; s++)
        if (want.sec_off[s] != h.sec_off[s] || want.sec_size[s] != h.sec_size[s])
            return vt_error_set(err, VT_EFORMAT, section_names[s],
                                "%s: the section table places the %s section at %llu (%llu "
                                "bytes), the counts say %llu (%llu bytes)", r->name,
                                section_names[s], (unsigned long long)h.sec_off[s],
                                (unsigned long long)h.sec_size[s],
                                (unsigned long long)want.sec_off[s],
                                (unsigned long long)want.sec_size[s]);
    uint64_t end = layout_end(&h);
    if (r->size < end)
        return vt_error_set(err, VT_EFORMAT, "size",
                            "%s: truncated: the file is %llu bytes, %llu short of what the "
                            "header declares", r->name, (unsigned long long)r->size,
                            (unsigned long long)(end - r->size));
    if (r->size > end)
        return vt_error_set(err, VT_EFORMAT, "size",
                            "%s: %llu unexpected bytes after the last section", r->name,
                            (unsigned long long)(r->size - end));
    if (h.kind == VT_INDEX_FLAT)
        return flat_load(r, &h, out, err);
    return hnsw_load(r, &h, out, err);
}

int vt_index_load(const char *path, struct vt_index **out, struct vt_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vt_error_set(err, VT_EIO, NULL, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return vt_error_set(err, VT_EIO, NULL, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vt_error_set(err, VT_EIO, NULL, "%s: not a regular file", path);
    }
    struct ix_reader r = {path, fd, NULL, (uint64_t)st.st_size, 0};
    int rc = load_from(&r, out, err);
    close(fd);
    return rc;
}

int vt_index_load_mem(const void *data, size_t size, const char *name, struct vt_index **out,
                      struct vt_error *err)
{
    struct ix_reader r = {name ? name : "index", -1, data, size, 0};
    return load_from(&r, out, err);
}
