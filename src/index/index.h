/*
 * index.h - vector indexes: nearest-neighbour search over labelled float
 * vectors, behind one interface.
 *
 * Two back-ends implement struct vt_index_ops:
 *   - flat (flat.c): exact search, a scan of every vector with a top-k
 *     heap. The ground truth, and the right choice below a few thousand
 *     vectors.
 *   - hnsw (hnsw.c): a hierarchical navigable small-world graph,
 *     approximate, for large sets. docs/index.md explains it.
 * Callers hold a struct vt_index and use the vt_index_* functions below;
 * they never branch on the back-end.
 *
 * Vectors are float32 of a fixed dimension (1..VT_INDEX_DIM_MAX), each with
 * a caller-chosen int64 label (an item number). Metrics:
 *   VT_INDEX_IP      inner product; score = a.b, larger is closer
 *   VT_INDEX_COSINE  inner product of L2-normalised vectors: the index
 *                    normalises what it stores and each query; score =
 *                    cosine similarity
 *   VT_INDEX_L2      Euclidean; score = squared distance, smaller is closer
 * Results always come best first.
 *
 * Thread-safety: any number of searches may run at once with one writer
 * (add, delete, compact, save; writers are serialised among themselves by
 * the index). Searches hold a reader lock of a writer-preferring rwlock; a
 * writer does its expensive part (finding and pruning neighbours) without
 * blocking searches and takes the lock exclusively only to publish its
 * changes (a few memcpy's; growing the storage swaps pointers under it).
 * See docs/index.md, "Thread-safety". vt_index_free must not run
 * concurrently with anything else.
 *
 * Filters: a search may pass filter(label, arg); only labels for which it
 * returns non-zero are returned. It runs on the searching thread while the
 * index's reader lock is held, so it must not call back into the same
 * index. Deleted labels are never returned.
 *
 * Errors: 0 or a negative VT_E* code (core/error.h). Loaders fill a
 * struct vt_error with a message that names the file and what is wrong.
 *
 * Ownership: *_new and vt_index_load give an index freed by
 * vt_index_free (NULL is a no-op). Search results go into caller arrays.
 */
#ifndef VT_INDEX_INDEX_H
#define VT_INDEX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define VT_INDEX_DIM_MAX 65536
/* Most vectors one index holds (slots, deleted ones included). */
#define VT_INDEX_SLOTS_MAX ((uint64_t)1 << 31)

enum vt_index_metric { VT_INDEX_IP = 1, VT_INDEX_COSINE = 2, VT_INDEX_L2 = 3 };

enum vt_index_kind { VT_INDEX_FLAT = 1, VT_INDEX_HNSW = 2 };

/* Non-zero: the label may be returned. */
typedef int (*vt_index_filter_fn)(int64_t label, void *arg);

struct vt_index_stats {
    uint64_t live;         /* vectors that searches can return */
    uint64_t deleted;      /* tombstones awaiting compaction (HNSW) */
    uint64_t bytes;        /* heap bytes held by the index */
    uint32_t max_level;    /* HNSW: top layer (0 for flat) */
    uint64_t compactions;  /* HNSW: rebuilds since creation or load */
    uint64_t exact_scans;  /* HNSW: filtered searches that fell back to a scan */
};

/* HNSW parameters. vt_hnsw_params_init fills the defaults named here. */
struct vt_hnsw_params {
    uint32_t M;               /* links per node on upper layers, 2M on layer 0 (16) */
    uint32_t ef_construction; /* candidate list while inserting (200) */
    uint32_t ef_search;       /* candidate list while searching, >= k used (64) */
    uint64_t seed;            /* level generator seed (0x5eed) */
    float max_deleted_share;  /* compact when tombstones pass this share (0.25; 0 = never) */
    uint64_t capacity;        /* slots to reserve up front (0 = grow as needed) */
};

struct vt_index_ops {
    const char *name; /* "flat", "hnsw" */
    /* Insert a copy of vec under label; an existing label is replaced.
     * VT_EINVAL: non-finite values (or a zero vector under COSINE);
     * VT_ETOOBIG: VT_INDEX_SLOTS_MAX reached; VT_ENOMEM. */
    int (*add)(void *impl, int64_t label, const float *vec);
    /* VT_ENOTFOUND if the label is not in the index. */
    int (*remove)(void *impl, int64_t label);
    /* Up to k results into labels[k] and scores[k] (either may be NULL),
     * *n = how many. k = 0 gives *n = 0; HNSW returns at most
     * VT_HNSW_EF_MAX. VT_EINVAL for a non-finite query (or a zero one under
     * COSINE), VT_ENOMEM. */
    int (*search)(void *impl, const float *query, size_t k, vt_index_filter_fn filter,
                  void *arg, int64_t *labels, float *scores, size_t *n);
    uint64_t (*size)(void *impl);
    void (*stats)(void *impl, struct vt_index_stats *st);
    /* Drop tombstones now (HNSW rebuilds its graph; flat has none). */
    int (*compact)(void *impl);
    /* ef for later searches (HNSW; ignored by flat). */
    void (*set_ef)(void *impl, uint32_t ef);
    /* Write the whole index to path (through path.tmp and a rename). */
    int (*save)(void *impl, const char *path, struct vt_error *err);
    void (*free)(void *impl);
};

struct vt_index {
    const struct vt_index_ops *ops;
    void *impl;
    uint32_t dim;
    int metric; /* enum vt_index_metric */
    int kind;   /* enum vt_index_kind */
};

/* 0, VT_EINVAL (dim out of 1..VT_INDEX_DIM_MAX, unknown metric) or VT_ENOMEM. */
int vt_index_flat_new(uint32_t dim, int metric, struct vt_index **out);

void vt_hnsw_params_init(struct vt_hnsw_params *p);
/* p NULL = defaults. VT_EINVAL also for M outside 2..VT_HNSW_M_MAX,
 * ef_construction or ef_search outside 1..VT_HNSW_EF_MAX, a share outside
 * [0, 1). */
#define VT_HNSW_M_MAX 128
#define VT_HNSW_EF_MAX 65536
int vt_index_hnsw_new(uint32_t dim, int metric, const struct vt_hnsw_params *p,
                      struct vt_index **out);

/* Read an index written by vt_index_save (either kind). Every count and
 * size is checked against the file before anything is allocated; a short,
 * corrupt or foreign file gives VT_EFORMAT (VT_EIO when it cannot be read)
 * and err says what and where. */
int vt_index_load(const char *path, struct vt_index **out, struct vt_error *err);
/* The same from bytes in memory (copied); name is used in messages. */
int vt_index_load_mem(const void *data, size_t size, const char *name, struct vt_index **out,
                      struct vt_error *err);

/* Name of the distance kernels chosen at run time: "avx512", "avx2-fma"
 * or "portable" (VITRINE_KERNELS=portable forces the last). */
const char *vt_index_kernels_name(void);

static inline int vt_index_add(struct vt_index *ix, int64_t label, const float *vec)
{
    return ix->ops->add(ix->impl, label, vec);
}
static inline int vt_index_delete(struct vt_index *ix, int64_t label)
{
    return ix->ops->remove(ix->impl, label);
}
static inline int vt_index_search(struct vt_index *ix, const float *query, size_t k,
                                  vt_index_filter_fn filter, void *arg, int64_t *labels,
                                  float *scores, size_t *n)
{
    return ix->ops->search(ix->impl, query, k, filter, arg, labels, scores, n);
}
/* Live vectors (deleted ones not counted). */
static inline uint64_t vt_index_size(struct vt_index *ix)
{
    return ix->ops->size(ix->impl);
}
static inline uint32_t vt_index_dim(const struct vt_index *ix)
{
    return ix->dim;
}
static inline int vt_index_metric(const struct vt_index *ix)
{
    return ix->metric;
}
static inline const char *vt_index_kind_name(const struct vt_index *ix)
{
    return ix->ops->name;
}
static inline void vt_index_stats(struct vt_index *ix, struct vt_index_stats *st)
{
    ix->ops->stats(ix->impl, st);
}
static inline int vt_index_compact(struct vt_index *ix)
{
    return ix->ops->compact(ix->impl);
}
static inline void vt_index_set_ef(struct vt_index *ix, uint32_t ef)
{
    ix->ops->set_ef(ix->impl, ef);
}
static inline int vt_index_save(struct vt_index *ix, const char *path, struct vt_error *err)
{
    return ix->ops->save(ix->impl, path, err);
}
static inline void vt_index_free(struct vt_index *ix)
{
    if (ix)
        ix->ops->free(ix->impl); /* frees ix too: it is allocated with impl */
}

#endif
