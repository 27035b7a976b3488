/*
 * hnsw.c - approximate nearest-neighbour search on a hierarchical
 * navigable small-world graph (Malkov & Yashunin), with tombstone deletes,
 * filtered search, compaction and persistence.
 *
 * Storage (struct graph), all indexed by slot 0..n-1:
 *   vecs     one 64-byte aligned array, slot i at i * stride floats
 *   labels   the caller's int64 label of each slot
 *   info     top layer of the slot (bits 0-4) and a deleted bit
 *   links0   layer-0 neighbours: (1 + M0) uint32 per slot, a count first
 *   upper    neighbours on layers 1..top, (1 + M) words per layer, for the
 *            slots that have them, at upper_off[i]
 *   map      label -> live slot
 * A node's layer is drawn as floor(-ln(U) / ln(M)) from a seeded
 * generator, so a build is reproducible. Neighbour lists are chosen with
 * the paper's heuristic (a candidate is kept only if it is closer to the
 * node than to every neighbour already kept), which keeps links spread
 * out in all directions.
 *
 * Deletes leave a tombstone: the node keeps routing searches but is never
 * returned. When tombstones pass max_deleted_share of the slots the graph
 * is rebuilt from the live nodes (compaction), keeping each node's layer.
 *
 * Filtered search keeps walking through nodes the filter rejects (they
 * stay in the candidate queue) and only admits accepted ones to the
 * result set, so it stops by the usual rule once ef accepted results are
 * closer than every candidate left. When a selective filter makes the walk
 * compute distances to half of the slots, the search switches to an exact
 * scan: scattered reads cost about twice a sequential one, so the walk has
 * then spent what the whole scan costs, and the scan's results are exact.
 *
 * Locking (see index.h): searches hold h->lock shared. Writers are
 * serialised by write_mu; an insert searches for and prunes neighbours
 * while holding only write_mu (searches run on; nothing else changes the
 * graph), writing the new node into an unpublished slot, then takes
 * h->lock exclusively to copy in the changed neighbour lists and publish
 * the slot (n++). Growing the arrays copies them outside the lock and
 * swaps pointers under it. Each search borrows a context (visited stamps,
 * heaps) from a small pool.
 *
 * Invariants: every link of a slot < n points to a slot < n whose top
 * layer is at least the link's layer; the entry point is a slot of the
 * top layer (IX_NONE iff n == 0); n_deleted counts the deleted bits.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "index/hnsw_int.h"

#define MAX_LEVEL 31
#define INFO_LEVEL 0x1f
#define INFO_DELETED 0x80

struct graph {
    uint32_t n, cap;
    uint32_t n_deleted;
    uint32_t entry;     /* IX_NONE when empty */
    uint32_t max_level;
    struct ix_fvec vecs;
    int64_t *labels;
    uint8_t *info;
    uint32_t *links0;
    uint64_t *upper_off;
    uint32_t *upper;
    uint64_t upper_len, upper_cap; /* words */
    struct ix_labelmap map;
};

/* What a search needs for itself; pooled, one per concurrent search. */
struct search_ctx {
    uint16_t *visited; /* visited[i] == epoch: slot i seen in this walk */
    size_t vcap;
    uint16_t epoch;
    struct ix_heap cand, res;
    uint32_t *fresh; /* unvisited neighbours of the node being expanded */
    size_t fresh_cap;
    struct ix_fvec q;
    size_t qcap;
    struct search_ctx *next;
};

struct hnsw;
struct accept;
/* A best-first walk of one layer (walk_layer_t), one per kernel set. */
typedef int (*walk_fn)(const struct hnsw *h, const struct graph *g, struct search_ctx *c,
                       const float *q, uint32_t ep, float d_ep, uint32_t ef, uint32_t level,
                       const struct accept *acc);

struct hnsw {
    struct vt_index base; /* first: vt_index_free frees the whole struct */
    uint32_t dim;
    size_t stride;
    int metric;
    ix_dist_fn dist;
    walk_fn walk;
    uint32_t M, M0, l0_words, up_words, ef_construction;
    _Atomic uint32_t ef_search;
    uint64_t seed, rng;
    double level_mult;
    float max_deleted_share;
    uint64_t compactions;
    atomic_uint_fast64_t exact_scans;

    pthread_rwlock_t lock;
    pthread_mutex_t write_mu;
    pthread_mutex_t ctx_mu;
    struct search_ctx *ctx_free;
    struct graph g;

    /* The writer's scratch, used under write_mu. */
    struct search_ctx wctx;
    struct ix_pair *cands; /* sorted candidates */
    size_t cands_cap;
    uint32_t *pend;        /* pending list updates: slot, layer, count, ids... */
    size_t pend_len, pend_cap;
    struct ix_fvec wvec;   /* the vector being inserted, prepared */
};

/* Which nodes may enter the result set of a walk; NULL admits all. */
struct accept {
    vt_index_filter_fn filter;
    void *arg;
    size_t budget; /* give up after this many distances (0 = never) */
};

static const struct vt_index_ops hnsw_ops;

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static inline const float *vec_at(const struct hnsw *h, const struct graph *g, uint32_t id)
{
    return g->vecs.p + (size_t)id * h->stride;
}

static inline uint32_t *links_at(const struct hnsw *h, const struct graph *g, uint32_t id,
                                 uint32_t level)
{
    if (level == 0)
        return g->links0 + (size_t)id * h->l0_words;
    return g->upper + g->upper_off[id] + (size_t)(level - 1) * h->up_words;
}

static inline void prefetch_vec(const struct hnsw *h, const float *v)
{
    const char *p = (const char *)v;
    size_t bytes = h->stride * sizeof(float);
    for (size_t off = 0; off < bytes && off < 512; off += 64)
        __builtin_prefetch(p + off);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t random_level(struct hnsw *h)
{
    double u = ((double)(rng_next(&h->rng) >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
    double l = -log(u) * h->level_mult;
    return l >= MAX_LEVEL ? MAX_LEVEL : (uint32_t)l;
}

static void graph_reset(struct graph *g)
{
    ix_fvec_free(&g->vecs);
    vt_free(g->labels);
    vt_free(g->info);
    vt_free(g->links0);
    vt_free(g->upper_off);
    vt_free(g->upper);
    ix_labelmap_reset(&g->map);
    memset(g, 0, sizeof *g);
    g->entry = IX_NONE;
}

static void ctx_free_one(struct search_ctx *c)
{
    vt_free(c->visited);
    ix_heap_free(&c->cand);
    ix_heap_free(&c->res);
    vt_free(c->fresh);
    ix_fvec_free(&c->q);
}

/* Size the context for a walk over slots < nslots with result list ef and
 * start a new epoch. */
static int ctx_ready(struct search_ctx *c, size_t nslots, size_t fresh, size_t ef)
{
    if (c->vcap < nslots) {
        size_t cap = nslots < 1024 ? 1024 : nslots + nslots / 2;
        uint16_t *v = vt_calloc(cap, sizeof *v);
        if (!v)
            return VT_ENOMEM;
        vt_free(c->visited);
        c->visited = v;
        c->vcap = cap;
        c->epoch = 0;
    }
    if (c->fresh_cap < fresh) {
        uint32_t *f = vt_realloc(c->fresh, fresh * sizeof *f);
        if (!f)
            return VT_ENOMEM;
        c->fresh = f;
        c->fresh_cap = fresh;
    }
    if (ix_heap_reserve(&c->res, ef + 1) || ix_heap_reserve(&c->cand, ef + 1))
        return VT_ENOMEM;
    return 0;
}

static void ctx_new_epoch(struct search_ctx *c)
{
    if (++c->epoch == 0) {
        memset(c->visited, 0, c->vcap * sizeof *c->visited);
        c->epoch = 1;
    }
}

static struct search_ctx *ctx_get(struct hnsw *h)
{
    pthread_mutex_lock(&h->ctx_mu);
    struct search_ctx *c = h->ctx_free;
    if (c)
        h->ctx_free = c->next;
    pthread_mutex_unlock(&h->ctx_mu);
    return c ? c : vt_calloc(1, sizeof *c);
}

static void ctx_put(struct hnsw *h, struct search_ctx *c)
{
    pthread_mutex_lock(&h->ctx_mu);
    c->next = h->ctx_free;
    h->ctx_free = c;
    pthread_mutex_unlock(&h->ctx_mu);
}

/* ------------------------------------------------------------------ */
/* Walking the graph                                                    */
/* ------------------------------------------------------------------ */

/* Greedy descent on one upper layer: move to the closest neighbour until
 * none is closer. */
static uint32_t greedy(const struct hnsw *h, const struct graph *g, const float *q, uint32_t ep,
                       float *d_ep, uint32_t level)
{
    float best = *d_ep;
    for (int changed = 1; changed;) {
        changed = 0;
        const uint32_t *ln = links_at(h, g, ep, level);
        uint32_t cnt = ln[0];
        for (uint32_t i = 1; i <= cnt; i++)
            prefetch_vec(h, vec_at(h, g, ln[i]));
        for (uint32_t i = 1; i <= cnt; i++) {
            float d = h->dist(q, vec_at(h, g, ln[i]), h->stride);
            if (d < best) {
                best = d;
                ep = ln[i];
                changed = 1;
            }
        }
    }
    *d_ep = best;
    return ep;
}

static inline int admits(const struct accept *acc, const struct graph *g, uint32_t id)
{
    if (!acc)
        return 1;
    if (g->info[id] & INFO_DELETED)
        return 0;
    return !acc->filter || acc->filter(g->labels[id], acc->arg);
}

/*
 * Best-first walk of one layer from ep (distance d_ep) keeping the ef
 * closest admitted nodes in c->res (a max-heap). Every node reached is a
 * candidate for expansion whether admitted or not. Returns 0, 1 when the
 * distance budget ran out, or VT_ENOMEM. c must be ready, in a new epoch.
 *
 * Written once and instantiated per kernel set below (walk_fn), so that
 * the distance kernel, where most of the time goes, is inlined into the
 * loop instead of called through a pointer (about 10% more queries/s on
 * GloVe-100).
 */
static inline __attribute__((always_inline)) int
walk_layer_t(const struct hnsw *h, const struct graph *g, struct search_ctx *c, const float *q,
             uint32_t ep, float d_ep, uint32_t ef, uint32_t level, const struct accept *acc,
             ix_dist_fn dist)
{
    uint16_t *vis = c->visited;
    const uint16_t epoch = c->epoch;
    struct ix_heap *cand = &c->cand, *res = &c->res;
    uint32_t *fresh = c->fresh;
    size_t evals = 1;
    cand->n = res->n = 0;
    vis[ep] = epoch;
    ix_minheap_push(cand, d_ep, ep);
    if (admits(acc, g, ep))
        ix_maxheap_push(res, d_ep, ep);
    while (cand->n) {
        struct ix_pair cur = cand->a[0];
        if (res->n >= ef && cur.d > res->a[0].d)
            break;
        ix_minheap_pop(cand);
        if (cand->n)
            __builtin_prefetch(links_at(h, g, cand->a[0].id, level));
        /* Gather the unseen neighbours, asking for the first line of each
         * vector; then compute distances with the whole vector two ahead
         * on its way (measured best of the orders tried on GloVe). */
        const uint32_t *ln = links_at(h, g, cur.id, level);
        uint32_t cnt = ln[0], m = 0;
        for (uint32_t i = 1; i <= cnt; i++) {
            uint32_t t = ln[i];
            if (vis[t] != epoch) {
                vis[t] = epoch;
                fresh[m++] = t;
                __builtin_prefetch(vec_at(h, g, t));
            }
        }
        for (uint32_t j = 0; j < m && j < 2; j++)
            prefetch_vec(h, vec_at(h, g, fresh[j]));
        for (uint32_t j = 0; j < m; j++) {
            uint32_t t = fresh[j];
            if (j + 2 < m)
                prefetch_vec(h, vec_at(h, g, fresh[j + 2]));
            float d = dist(q, vec_at(h, g, t), h->stride);
            if (res->n < ef || d < res->a[0].d) {
                if (cand->n == cand->cap && ix_heap_reserve(cand, cand->n + 1))
                    return VT_ENOMEM;
                ix_minheap_push(cand, d, t);
                if (admits(acc, g, t)) {
                    ix_maxheap_push(res, d, t);
                    if (res->n > ef)
                        ix_maxheap_pop(res);
                }
            }
        }
        evals += m;
        if (acc && acc->budget && evals > acc->budget)
            return 1;
    }
    return 0;
}

#define WALK_ARGS                                                                        \
    const struct hnsw *h, const struct graph *g, struct search_ctx *c, const float *q,    \
        uint32_t ep, float d_ep, uint32_t ef, uint32_t level, const struct accept *acc

static int walk_any(WALK_ARGS)
{
    return walk_layer_t(h, g, c, q, ep, d_ep, ef, level, acc, h->dist);
}
#ifdef IX_HAVE_X86
IX_TARGET_AVX2 static int walk_avx2_ip(WALK_ARGS)
{
    return walk_layer_t(h, g, c, q, ep, d_ep, ef, level, acc, ix_ndot_avx2);
}
IX_TARGET_AVX2 static int walk_avx2_l2(WALK_ARGS)
{
    return walk_layer_t(h, g, c, q, ep, d_ep, ef, level, acc, ix_l2_avx2);
}
IX_TARGET_AVX512 static int walk_avx512_ip(WALK_ARGS)
{
    return walk_layer_t(h, g, c, q, ep, d_ep, ef, level, acc, ix_ndot_avx512);
}
IX_TARGET_AVX512 static int walk_avx512_l2(WALK_ARGS)
{
    return walk_layer_t(h, g, c, q, ep, d_ep, ef, level, acc, ix_l2_avx512);
}
#endif

static walk_fn walk_for(int metric)
{
#ifdef IX_HAVE_X86
    int l2 = metric == VT_INDEX_L2;
    switch (ix_kernels()) {
    case IX_KERNELS_AVX2: return l2 ? walk_avx2_l2 : walk_avx2_ip;
    case IX_KERNELS_AVX512: return l2 ? walk_avx512_l2 : walk_avx512_ip;
    default: break;
    }
#else
    (void)metric;
#endif
    return walk_any;
}

/* Exact scan of every live, admitted slot; the k best go to c->res. */
static void scan_all(const struct hnsw *h, const struct graph *g, struct search_ctx *c,
                     const float *q, size_t k, const struct accept *acc)
{
    struct ix_heap *res = &c->res;
    res->n = 0;
    for (uint32_t id = 0; id < g->n; id++) {
        if (g->info[id] & INFO_DELETED)
            continue;
        float d = h->dist(q, vec_at(h, g, id), h->stride);
        if (res->n == k && !(d < res->a[0].d))
            continue;
        if (acc && acc->filter && !acc->filter(g->labels[id], acc->arg))
            continue;
        if (res->n == k)
            ix_maxheap_pop(res);
        ix_maxheap_push(res, d, id);
    }
}

/* ------------------------------------------------------------------ */
/* Storage growth                                                       */
/* ------------------------------------------------------------------ */

/* Room for slot g->n and `words` more upper-layer words. Arrays of a live
 * graph are copied aside and swapped in under the write lock. */
static int graph_reserve(struct hnsw *h, struct graph *g, uint64_t words, int live)
{
    if (g->n == g->cap) {
        if ((uint64_t)g->n + 1 > VT_INDEX_SLOTS_MAX)
            return VT_ETOOBIG;
        uint64_t cap = g->cap < 512 ? 1024 : (uint64_t)g->cap * 2;
        if (cap > VT_INDEX_SLOTS_MAX)
            cap = VT_INDEX_SLOTS_MAX;
        size_t c = (size_t)cap, floats, l0;
        struct ix_fvec vecs = {0};
        int64_t *labels = vt_calloc(c, sizeof *labels);
        uint8_t *info = vt_calloc(c, 1);
        uint64_t *uoff = vt_calloc(c, sizeof *uoff);
        uint32_t *links0 = NULL;
        int bad = !labels || !info || !uoff || vt_mul_size(c, h->stride, &floats) ||
                  ix_fvec_alloc(&vecs, floats) || vt_mul_size(c, h->l0_words, &l0) ||
                  !(links0 = vt_calloc(l0, sizeof *links0));
        if (bad) {
            vt_free(labels);
            vt_free(info);
            vt_free(uoff);
            vt_free(links0);
            ix_fvec_free(&vecs);
            return VT_ENOMEM;
        }
        size_t n = g->n;
        if (n) {
            memcpy(vecs.p, g->vecs.p, n * h->stride * sizeof(float));
            memcpy(labels, g->labels, n * sizeof *labels);
            memcpy(info, g->info, n);
            memcpy(uoff, g->upper_off, n * sizeof *uoff);
            memcpy(links0, g->links0, n * h->l0_words * sizeof *links0);
        }
        struct graph old = *g;
        if (live)
            pthread_rwlock_wrlock(&h->lock);
        g->vecs = vecs;
        g->labels = labels;
        g->info = info;
        g->upper_off = uoff;
        g->links0 = links0;
        g->cap = (uint32_t)cap;
        if (live)
            pthread_rwlock_unlock(&h->lock);
        ix_fvec_free(&old.vecs);
        vt_free(old.labels);
        vt_free(old.info);
        vt_free(old.upper_off);
        vt_free(old.links0);
    }
    if (words > g->upper_cap - g->upper_len) {
        uint64_t cap = g->upper_cap < 1024 ? 4096 : g->upper_cap * 2;
        while (cap - g->upper_len < words)
            cap *= 2;
        size_t bytes;
        if (cap > SIZE_MAX || vt_mul_size((size_t)cap, sizeof(uint32_t), &bytes))
            return VT_ENOMEM;
        uint32_t *up = vt_malloc(bytes);
        if (!up)
            return VT_ENOMEM;
        if (g->upper_len)
            memcpy(up, g->upper, (size_t)g->upper_len * sizeof *up);
        uint32_t *old = g->upper;
        if (live)
            pthread_rwlock_wrlock(&h->lock);
        g->upper = up;
        g->upper_cap = cap;
        if (live)
            pthread_rwlock_unlock(&h->lock);
        vt_free(old);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Insertion                                                            */
/* ------------------------------------------------------------------ */

/* The heuristic: from candidates c[0..nc) sorted by distance to the base
 * point, keep one only if it is closer to the base than to every one kept
 * so far, up to maxn. Fewer than maxn candidates are all kept. */
static uint32_t select_neighbours(const struct hnsw *h, const struct graph *g,
                                  const struct ix_pair *c, uint32_t nc, uint32_t maxn,
                                  uint32_t *out)
{
    uint32_t m = 0;
    if (nc < maxn) {
        for (uint32_t i = 0; i < nc; i++)
            out[i] = c[i].id;
        return nc;
    }
    for (uint32_t i = 0; i < nc && m < maxn; i++) {
        const float *ve = vec_at(h, g, c[i].id);
        int keep = 1;
        for (uint32_t j = 0; j < m && keep; j++)
            if (h->dist(ve, vec_at(h, g, out[j]), h->stride) < c[i].d)
                keep = 0;
        if (keep)
            out[m++] = c[i].id;
    }
    return m;
}

static int pend_reserve(struct hnsw *h, size_t more)
{
    if (h->pend_cap - h->pend_len >= more)
        return 0;
    size_t cap = h->pend_cap ? h->pend_cap * 2 : 1024;
    while (cap - h->pend_len < more)
        cap *= 2;
    uint32_t *p = vt_realloc(h->pend, cap * sizeof *p);
    if (!p)
        return VT_ENOMEM;
    h->pend = p;
    h->pend_cap = cap;
    return 0;
}

/* Queue the new link id -> ... on node s at `level`: appended when there is
 * room, else s's list is re-chosen with the heuristic among its links and
 * the new node. */
static int queue_backlink(struct hnsw *h, const struct graph *g, uint32_t s, uint32_t level,
                          uint32_t id)
{
    const uint32_t *ln = links_at(h, g, s, level);
    uint32_t cnt = ln[0], maxc = level ? h->M : h->M0;
    if (pend_reserve(h, 3 + (size_t)maxc))
        return VT_ENOMEM;
    uint32_t *rec = h->pend + h->pend_len;
    rec[0] = s;
    rec[1] = level;
    if (cnt < maxc) {
        memcpy(rec + 3, ln + 1, cnt * sizeof *ln);
        rec[3 + cnt] = id;
        rec[2] = cnt + 1;
    } else {
        struct ix_heap heap = {h->cands, 0, h->cands_cap};
        const float *vs = vec_at(h, g, s);
        for (uint32_t i = 1; i <= cnt; i++)
            ix_maxheap_push(&heap, h->dist(vs, vec_at(h, g, ln[i]), h->stride), ln[i]);
        ix_maxheap_push(&heap, h->dist(vs, vec_at(h, g, id), h->stride), id);
        uint32_t nc = (uint32_t)heap.n;
        ix_maxheap_drain_sorted(&heap, h->cands);
        rec[2] = select_neighbours(h, g, h->cands, nc, maxc, rec + 3);
    }
    h->pend_len += 3 + (size_t)rec[2];
    return 0;
}

/*
 * Insert the prepared vector v as a new slot of top layer `level`. For the
 * live graph (live = 1) the new slot and the changed lists are published
 * under the write lock; `replaces` (or IX_NONE) is the slot this one
 * supersedes, marked deleted in the same step. The caller holds write_mu.
 */
static int graph_insert(struct hnsw *h, struct graph *g, int64_t label, const float *v,
                        uint32_t level, uint32_t replaces, int live)
{
    uint64_t words = (uint64_t)level * h->up_words;
    int rc = graph_reserve(h, g, words, live);
    if (rc)
        return rc;
    if (h->cands_cap < h->ef_construction + (size_t)h->M0 + 2) {
        size_t want = h->ef_construction + (size_t)h->M0 + 2;
        struct ix_pair *c = vt_realloc(h->cands, want * sizeof *c);
        if (!c)
            return VT_ENOMEM;
        h->cands = c;
        h->cands_cap = want;
    }
    rc = ctx_ready(&h->wctx, g->cap, h->M0 + 1, h->ef_construction);
    if (rc)
        return rc;
    rc = ix_labelmap_put(&g->map, label, g->n);
    if (rc)
        return rc;

    /* The new slot: not reachable until published, so written freely. */
    uint32_t id = g->n;
    memcpy(g->vecs.p + (size_t)id * h->stride, v, h->stride * sizeof(float));
    g->labels[id] = label;
    g->info[id] = (uint8_t)level;
    g->links0[(size_t)id * h->l0_words] = 0;
    g->upper_off[id] = g->upper_len;
    for (uint32_t l = 0; l < level; l++)
        g->upper[g->upper_len + (uint64_t)l * h->up_words] = 0;
    g->upper_len += words;

    h->pend_len = 0;
    uint32_t entry = g->entry, top = g->max_level;
    if (entry != IX_NONE) {
        float d = h->dist(v, vec_at(h, g, entry), h->stride);
        uint32_t ep = entry;
        for (uint32_t l = top; l > level; l--)
            ep = greedy(h, g, v, ep, &d, l);
        for (uint32_t l = level < top ? level : top;; l--) {
            ctx_new_epoch(&h->wctx);
            rc = h->walk(h, g, &h->wctx, v, ep, d, h->ef_construction, l, NULL);
            if (rc)
                goto fail;
            uint32_t nc = (uint32_t)h->wctx.res.n;
            ix_maxheap_drain_sorted(&h->wctx.res, h->cands);
            ep = h->cands[0].id;
            d = h->cands[0].d;
            uint32_t *mine = links_at(h, g, id, l);
            mine[0] = select_neighbours(h, g, h->cands, nc, h->M, mine + 1);
            for (uint32_t i = 1; i <= mine[0]; i++)
                if ((rc = queue_backlink(h, g, mine[i], l, id)))
                    goto fail;
            if (l == 0)
                break;
        }
    }

    if (live)
        pthread_rwlock_wrlock(&h->lock);
    for (size_t p = 0; p < h->pend_len;) {
        const uint32_t *rec = h->pend + p;
        uint32_t *ln = links_at(h, g, rec[0], rec[1]);
        memcpy(ln + 1, rec + 3, rec[2] * sizeof *ln);
        ln[0] = rec[2];
        p += 3 + (size_t)rec[2];
    }
    if (entry == IX_NONE || level > top) {
        g->entry = id;
        g->max_level = level;
    }
    if (replaces != IX_NONE) {
        g->info[replaces] |= INFO_DELETED;
        g->n_deleted++;
    }
    g->n = id + 1;
    if (live)
        pthread_rwlock_unlock(&h->lock);
    return 0;
fail:
    g->upper_len -= words;
    if (replaces != IX_NONE)
        ix_labelmap_put(&g->map, label, replaces); /* the entry exists: no growth */
    else
        ix_labelmap_del(&g->map, label);
    return rc;
}

/* Rebuild the graph from its live nodes, keeping their layers; searches
 * run on the old graph meanwhile. Caller holds write_mu. */
static int compact_locked(struct hnsw *h)
{
    struct graph ng;
    memset(&ng, 0, sizeof ng);
    ng.entry = IX_NONE;
    struct graph *g = &h->g;
    int rc = ix_labelmap_init(&ng.map, g->n - g->n_deleted);
    for (uint32_t id = 0; !rc && id < g->n; id++)
        if (!(g->info[id] & INFO_DELETED))
            rc = graph_insert(h, &ng, g->labels[id], vec_at(h, g, id), g->info[id] & INFO_LEVEL,
                              IX_NONE, 0);
    if (rc) {
        graph_reset(&ng);
        return rc;
    }
    pthread_rwlock_wrlock(&h->lock);
    struct graph old = *g;
    *g = ng;
    pthread_rwlock_unlock(&h->lock);
    graph_reset(&old);
    h->compactions++;
    return 0;
}

static void maybe_compact(struct hnsw *h)
{
    const struct graph *g = &h->g;
    if (h->max_deleted_share > 0 && g->n_deleted > 0 &&
        (double)g->n_deleted > (double)h->max_deleted_share * g->n)
        compact_locked(h); /* on failure the tombstones stay, still correct */
}

/* ------------------------------------------------------------------ */
/* The interface                                                        */
/* ------------------------------------------------------------------ */

static int hnsw_add(void *impl, int64_t label, const float *vec)
{
    struct hnsw *h = impl;
    pthread_mutex_lock(&h->write_mu);
    int rc = ix_prepare(h->metric, h->dim, h->stride, vec, h->wvec.p);
    if (!rc) {
        uint32_t old = ix_labelmap_get(&h->g.map, label);
        uint64_t rng = h->rng;
        rc = graph_insert(h, &h->g, label, h->wvec.p, random_level(h), old, 1);
        if (rc)
            h->rng = rng;
        else if (old != IX_NONE)
            maybe_compact(h);
    }
    pthread_mutex_unlock(&h->write_mu);
    return rc;
}

static int hnsw_remove(void *impl, int64_t label)
{
    struct hnsw *h = impl;
    pthread_mutex_lock(&h->write_mu);
    uint32_t slot = ix_labelmap_get(&h->g.map, label);
    int rc = VT_ENOTFOUND;
    if (slot != IX_NONE) {
        ix_labelmap_del(&h->g.map, label);
        pthread_rwlock_wrlock(&h->lock);
        h->g.info[slot] |= INFO_DELETED;
        h->g.n_deleted++;
        pthread_rwlock_unlock(&h->lock);
        maybe_compact(h);
        rc = 0;
    }
    pthread_mutex_unlock(&h->write_mu);
    return rc;
}

static int hnsw_search(void *impl, const float *query, size_t k, vt_index_filter_fn filter,
                       void *arg, int64_t *labels, float *scores, size_t *n_out)
{
    struct hnsw *h = impl;
    *n_out = 0;
    if (k == 0)
        return 0;
    struct search_ctx *c = ctx_get(h);
    if (!c)
        return VT_ENOMEM;
    int rc = 0;
    if (c->qcap < h->stride) {
        ix_fvec_free(&c->q);
        if ((rc = ix_fvec_alloc(&c->q, h->stride)))
            goto out_ctx;
        c->qcap = h->stride;
    }
    const float *q = c->q.p;
    if ((rc = ix_prepare(h->metric, h->dim, h->stride, query, c->q.p)))
        goto out_ctx;
    if (k > VT_HNSW_EF_MAX)
        k = VT_HNSW_EF_MAX;
    uint32_t ef = atomic_load_explicit(&h->ef_search, memory_order_relaxed);
    if (ef < k)
        ef = (uint32_t)k;

    pthread_rwlock_rdlock(&h->lock);
    const struct graph *g = &h->g;
    if (g->entry == IX_NONE || g->n_deleted == g->n)
        goto out_unlock;
    if ((rc = ctx_ready(c, g->cap, h->M0 + 1, ef)))
        goto out_unlock;
    struct accept acc = {filter, arg, filter ? g->n / 2 + 1 : 0};
    const struct accept *ap = filter || g->n_deleted ? &acc : NULL;
    uint32_t ep = g->entry;
    float d = h->dist(q, vec_at(h, g, ep), h->stride);
    for (uint32_t l = g->max_level; l > 0; l--)
        ep = greedy(h, g, q, ep, &d, l);
    ctx_new_epoch(c);
    rc = h->walk(h, g, c, q, ep, d, ef, 0, ap);
    if (rc == 1) {
        atomic_fetch_add_explicit(&h->exact_scans, 1, memory_order_relaxed);
        scan_all(h, g, c, q, k, ap);
        rc = 0;
    }
    if (rc)
        goto out_unlock;
    size_t got = c->res.n;
    /* Drain into the candidate heap's storage (at least ef + 1 long). */
    ix_maxheap_drain_sorted(&c->res, c->cand.a);
    if (got > k)
        got = k;
    for (size_t i = 0; i < got; i++) {
        if (labels)
            labels[i] = g->labels[c->cand.a[i].id];
        if (scores)
            scores[i] = ix_score(h->metric, c->cand.a[i].d);
    }
    *n_out = got;
out_unlock:
    pthread_rwlock_unlock(&h->lock);
out_ctx:
    ctx_put(h, c);
    return rc;
}

static uint64_t hnsw_size(void *impl)
{
    struct hnsw *h = impl;
    pthread_rwlock_rdlock(&h->lock);
    uint64_t n = (uint64_t)h->g.n - h->g.n_deleted;
    pthread_rwlock_unlock(&h->lock);
    return n;
}

static void hnsw_stats(void *impl, struct vt_index_stats *st)
{
    struct hnsw *h = impl;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&h->write_mu); /* the map and writer scratch */
    pthread_rwlock_rdlock(&h->lock);
    const struct graph *g = &h->g;
    st->live = (uint64_t)g->n - g->n_deleted;
    st->deleted = g->n_deleted;
    st->max_level = g->entry == IX_NONE ? 0 : g->max_level;
    st->compactions = h->compactions;
    st->exact_scans = atomic_load_explicit(&h->exact_scans, memory_order_relaxed);
    st->bytes = sizeof *h + (uint64_t)g->cap * (h->stride * sizeof(float) + 64 + 8 + 1 + 8 +
                                                (uint64_t)h->l0_words * 4) +
                g->upper_cap * 4 + ix_labelmap_bytes(&g->map) +
                h->wctx.vcap * 2 + h->cands_cap * sizeof(struct ix_pair) + h->pend_cap * 4;
    pthread_rwlock_unlock(&h->lock);
    pthread_mutex_unlock(&h->write_mu);
}

static int hnsw_compact(void *impl)
{
    struct hnsw *h = impl;
    pthread_mutex_lock(&h->write_mu);
    int rc = h->g.n_deleted ? compact_locked(h) : 0;
    pthread_mutex_unlock(&h->write_mu);
    return rc;
}

static void hnsw_set_ef(void *impl, uint32_t ef)
{
    struct hnsw *h = impl;
    if (ef < 1)
        ef = 1;
    if (ef > VT_HNSW_EF_MAX)
        ef = VT_HNSW_EF_MAX;
    atomic_store_explicit(&h->ef_search, ef, memory_order_relaxed);
}

static void hnsw_free(void *impl)
{
    struct hnsw *h = impl;
    if (!h)
        return;
    graph_reset(&h->g);
    while (h->ctx_free) {
        struct search_ctx *c = h->ctx_free;
        h->ctx_free = c->next;
        ctx_free_one(c);
        vt_free(c);
    }
    ctx_free_one(&h->wctx);
    vt_free(h->cands);
    vt_free(h->pend);
    ix_fvec_free(&h->wvec);
    pthread_rwlock_destroy(&h->lock);
    pthread_mutex_destroy(&h->write_mu);
    pthread_mutex_destroy(&h->ctx_mu);
    vt_free(h);
}

void vt_hnsw_params_init(struct vt_hnsw_params *p)
{
    memset(p, 0, sizeof *p);
    p->M = 16;
    p->ef_construction = 200;
    p->ef_search = 64;
    p->seed = 0x5eed;
    p->max_deleted_share = 0.25f;
}

static int params_valid(const struct vt_hnsw_params *p)
{
    return p->M >= 2 && p->M <= VT_HNSW_M_MAX && p->ef_construction >= 1 &&
           p->ef_construction <= VT_HNSW_EF_MAX && p->ef_search >= 1 &&
           p->ef_search <= VT_HNSW_EF_MAX && p->max_deleted_share >= 0 &&
           p->max_deleted_share < 1;
}

static int hnsw_create(uint32_t dim, int metric, const struct vt_hnsw_params *p, uint32_t M0,
                       struct hnsw **out)
{
    *out = NULL;
    if (dim == 0 || dim > VT_INDEX_DIM_MAX || metric < VT_INDEX_IP || metric > VT_INDEX_L2 ||
        !params_valid(p) || M0 < p->M || M0 > 2 * VT_HNSW_M_MAX)
        return VT_EINVAL;
    struct hnsw *h = vt_calloc(1, sizeof *h);
    if (!h)
        return VT_ENOMEM;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
#ifdef __GLIBC__
    /* Without this a steady stream of searches could starve a writer. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    int bad = pthread_rwlock_init(&h->lock, &a);
    pthread_rwlockattr_destroy(&a);
    if (bad) {
        vt_free(h);
        return VT_EINTERNAL;
    }
    pthread_mutex_init(&h->write_mu, NULL);
    pthread_mutex_init(&h->ctx_mu, NULL);
    h->dim = dim;
    h->stride = ix_stride(dim);
    h->metric = metric;
    h->dist = ix_dist_for(metric);
    h->walk = walk_for(metric);
    h->M = p->M;
    h->M0 = M0;
    h->l0_words = M0 + 1;
    h->up_words = p->M + 1;
    h->ef_construction = p->ef_construction;
    atomic_init(&h->ef_search, p->ef_search);
    h->seed = p->seed;
    h->rng = p->seed;
    h->level_mult = 1.0 / log((double)p->M);
    h->max_deleted_share = p->max_deleted_share;
    h->g.entry = IX_NONE;
    h->base = (struct vt_index){&hnsw_ops, h, dim, metric, VT_INDEX_HNSW};
    if (ix_fvec_alloc(&h->wvec, h->stride) || ix_labelmap_init(&h->g.map, 16)) {
        hnsw_free(h);
        return VT_ENOMEM;
    }
    *out = h;
    return 0;
}

int vt_index_hnsw_new(uint32_t dim, int metric, const struct vt_hnsw_params *p,
                      struct vt_index **out)
{
    struct vt_hnsw_params def;
    struct hnsw *h;
    *out = NULL;
    if (!p) {
        vt_hnsw_params_init(&def);
        p = &def;
    }
    int rc = hnsw_create(dim, metric, p, 2 * p->M, &h);
    if (rc)
        return rc;
    if (p->capacity) {
        /* Reserve by growing once to the asked size. */
        uint64_t want = p->capacity > VT_INDEX_SLOTS_MAX ? VT_INDEX_SLOTS_MAX : p->capacity;
        h->g.cap = 0;
        struct graph *g = &h->g;
        size_t floats, l0;
        size_t c = (size_t)want;
        g->labels = vt_calloc(c, sizeof *g->labels);
        g->info = vt_calloc(c, 1);
        g->upper_off = vt_calloc(c, sizeof *g->upper_off);
        if (!g->labels || !g->info || !g->upper_off || vt_mul_size(c, h->stride, &floats) ||
            ix_fvec_alloc(&g->vecs, floats) || vt_mul_size(c, h->l0_words, &l0) ||
            !(g->links0 = vt_calloc(l0, sizeof *g->links0)) ||
            (ix_labelmap_reset(&g->map), ix_labelmap_init(&g->map, c))) {
            hnsw_free(h);
            return VT_ENOMEM;
        }
        g->cap = (uint32_t)want;
    }
    *out = &h->base;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Persistence                                                          */
/* ------------------------------------------------------------------ */

static int hnsw_save(void *impl, const char *path, struct vt_error *err)
{
    struct hnsw *h = impl;
    const uint16_t one = 1;
    uint8_t little;
    memcpy(&little, &one, 1);
    if (little != 1)
        return vt_error_set(err, VT_EINTERNAL, NULL, "index files need a little-endian host");
    pthread_mutex_lock(&h->write_mu); /* writers wait; searches go on */
    const struct graph *g = &h->g;
    struct ix_header hd;
    memset(&hd, 0, sizeof hd);
    hd.kind = VT_INDEX_HNSW;
    hd.metric = (uint32_t)h->metric;
    hd.dim = h->dim;
    hd.stride = (uint32_t)h->stride;
    hd.slots = g->n;
    hd.deleted = g->n_deleted;
    hd.M = h->M;
    hd.M0 = h->M0;
    hd.ef_construction = h->ef_construction;
    hd.ef_search = atomic_load(&h->ef_search);
    hd.seed = h->seed;
    hd.rng = h->rng;
    hd.entry = g->entry;
    hd.max_level = g->entry == IX_NONE ? 0 : g->max_level;
    hd.max_deleted_share = h->max_deleted_share;
    hd.upper_words = g->upper_len;
    struct ix_writer w;
    int rc = ix_writer_open(&w, path, &hd, err);
    if (!rc)
        rc = ix_writer_section(&w, IX_SEC_LABELS, g->labels, (uint64_t)g->n * 8, err);
    if (!rc)
        rc = ix_writer_section(&w, IX_SEC_INFO, g->info, g->n, err);
    if (!rc)
        rc = ix_writer_section(&w, IX_SEC_VECTORS, g->vecs.p,
                               (uint64_t)g->n * h->stride * sizeof(float), err);
    if (!rc)
        rc = ix_writer_section(&w, IX_SEC_LINKS0, g->links0,
                               (uint64_t)g->n * h->l0_words * 4, err);
    if (!rc)
        rc = ix_writer_section(&w, IX_SEC_UPPER, g->upper, g->upper_len * 4, err);
    if (w.tmp_path) {
        int rc2 = ix_writer_close(&w, rc == 0, err);
        rc = rc ? rc : rc2;
    }
    pthread_mutex_unlock(&h->write_mu);
    return rc;
}

/* Check one neighbour list of slot id on `level`. */
static int check_links(const struct hnsw *h, const struct graph *g, const char *name,
                       uint32_t id, uint32_t level, struct vt_error *err)
{
    const uint32_t *ln = links_at(h, g, id, level);
    uint32_t maxc = level ? h->M : h->M0;
    if (ln[0] > maxc)
        return vt_error_set(err, VT_EFORMAT, level ? "upper" : "links0",
                            "%s: node %u has %u links on layer %u, at most %u allowed", name,
                            id, ln[0], level, maxc);
    for (uint32_t i = 1; i <= ln[0]; i++) {
        uint32_t t = ln[i];
        if (t >= g->n || t == id)
            return vt_error_set(err, VT_EFORMAT, level ? "upper" : "links0",
                                "%s: node %u links to %s %u on layer %u", name, id,
                                t == id ? "itself," : "node", t, level);
        if ((g->info[t] & INFO_LEVEL) < level)
            return vt_error_set(err, VT_EFORMAT, level ? "upper" : "links0",
                                "%s: node %u links on layer %u to node %u, which tops out at "
                                "layer %u", name, id, level, t, g->info[t] & INFO_LEVEL);
    }
    return 0;
}

int hnsw_load(struct ix_reader *r, const struct ix_header *hd, struct vt_index **out,
              struct vt_error *err)
{
    const char *name = r->name;
    struct vt_hnsw_params p = {hd->M, hd->ef_construction, hd->ef_search, hd->seed,
                               hd->max_deleted_share, 0};
    if (!params_valid(&p) || hd->M0 < hd->M || hd->M0 > 2 * VT_HNSW_M_MAX)
        return vt_error_set(err, VT_EFORMAT, "params",
                            "%s: parameters out of range (M %u, M0 %u, ef_construction %u, "
                            "ef_search %u, max deleted share %g)", name, hd->M, hd->M0,
                            hd->ef_construction, hd->ef_search,
                            (double)hd->max_deleted_share);
    if (hd->max_level > MAX_LEVEL)
        return vt_error_set(err, VT_EFORMAT, "max_level", "%s: top layer %u, at most %u",
                            name, hd->max_level, MAX_LEVEL);
    if (hd->slots == 0 ? hd->entry != IX_NONE || hd->upper_words || hd->max_level
                       : hd->entry >= hd->slots)
        return vt_error_set(err, VT_EFORMAT, "entry",
                            "%s: entry point %u does not fit %llu nodes", name, hd->entry,
                            (unsigned long long)hd->slots);
    struct hnsw *h;
    int rc = hnsw_create(hd->dim, (int)hd->metric, &p, hd->M0, &h);
    if (rc)
        return vt_error_set(err, rc, NULL, "%s: cannot create the index", name);
    h->rng = hd->rng;
    struct graph *g = &h->g;
    size_t c = hd->slots ? (size_t)hd->slots : 1, floats, l0;
    g->labels = vt_malloc(c * sizeof *g->labels);
    g->info = vt_malloc(c);
    g->upper_off = vt_malloc(c * sizeof *g->upper_off);
    g->upper = vt_malloc(hd->upper_words ? (size_t)hd->upper_words * 4 : 4);
    if (!g->labels || !g->info || !g->upper_off || !g->upper ||
        vt_mul_size(c, h->stride, &floats) || ix_fvec_alloc(&g->vecs, floats) ||
        vt_mul_size(c, h->l0_words, &l0) || !(g->links0 = vt_malloc(l0 * 4)) ||
        (ix_labelmap_reset(&g->map), ix_labelmap_init(&g->map, c))) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "%s: out of memory for %llu nodes", name,
                          (unsigned long long)hd->slots);
        goto fail;
    }
    g->cap = (uint32_t)c;
    g->upper_cap = hd->upper_words ? hd->upper_words : 1;
    if ((rc = ix_read_section(r, hd, IX_SEC_LABELS, g->labels, err)) ||
        (rc = ix_read_section(r, hd, IX_SEC_INFO, g->info, err)) ||
        (rc = ix_read_section(r, hd, IX_SEC_VECTORS, g->vecs.p, err)) ||
        (rc = ix_read_section(r, hd, IX_SEC_LINKS0, g->links0, err)) ||
        (rc = ix_read_section(r, hd, IX_SEC_UPPER, g->upper, err)))
        goto fail;
    g->n = (uint32_t)hd->slots;

    /* Node records: layers, tombstones, upper-link offsets, vectors. */
    uint64_t words = 0, deleted = 0;
    for (uint32_t id = 0; id < g->n; id++) {
        uint8_t info = g->info[id];
        if ((info & ~(INFO_LEVEL | INFO_DELETED)) || (info & INFO_LEVEL) > hd->max_level) {
            rc = vt_error_set(err, VT_EFORMAT, "info",
                              "%s: node %u has layer byte 0x%02x (top layer is %u)", name, id,
                              info, hd->max_level);
            goto fail;
        }
        g->upper_off[id] = words;
        words += (uint64_t)(info & INFO_LEVEL) * h->up_words;
        if (info & INFO_DELETED) {
            deleted++;
        } else {
            if (ix_labelmap_get(&g->map, g->labels[id]) != IX_NONE) {
                rc = vt_error_set(err, VT_EFORMAT, "labels",
                                  "%s: label %lld belongs to two live nodes", name,
                                  (long long)g->labels[id]);
                goto fail;
            }
            if ((rc = ix_labelmap_put(&g->map, g->labels[id], id))) {
                vt_error_set(err, rc, NULL, "%s: out of memory", name);
                goto fail;
            }
        }
        float *v = g->vecs.p + (size_t)id * h->stride;
        for (uint32_t j = 0; j < h->dim; j++)
            if (!isfinite(v[j])) {
                rc = vt_error_set(err, VT_EFORMAT, "vectors",
                                  "%s: vector of node %u holds a non-finite value", name, id);
                goto fail;
            }
        for (size_t j = h->dim; j < h->stride; j++)
            v[j] = 0;
    }
    if (words != hd->upper_words) {
        rc = vt_error_set(err, VT_EFORMAT, "upper_words",
                          "%s: the nodes' layers need %llu upper-link words, the header says "
                          "%llu", name, (unsigned long long)words,
                          (unsigned long long)hd->upper_words);
        goto fail;
    }
    if (deleted != hd->deleted) {
        rc = vt_error_set(err, VT_EFORMAT, "deleted",
                          "%s: %llu nodes are marked deleted, the header says %llu", name,
                          (unsigned long long)deleted, (unsigned long long)hd->deleted);
        goto fail;
    }
    if (g->n && (g->info[hd->entry] & INFO_LEVEL) != hd->max_level) {
        rc = vt_error_set(err, VT_EFORMAT, "entry",
                          "%s: entry point %u is not on the top layer %u", name, hd->entry,
                          hd->max_level);
        goto fail;
    }
    for (uint32_t id = 0; id < g->n; id++)
        for (uint32_t l = 0; l <= (g->info[id] & INFO_LEVEL); l++)
            if ((rc = check_links(h, g, name, id, l, err)))
                goto fail;
    g->upper_len = hd->upper_words;
    g->n_deleted = (uint32_t)deleted;
    g->entry = g->n ? hd->entry : IX_NONE;
    g->max_level = hd->max_level;
    *out = &h->base;
    return 0;
fail:
    hnsw_free(h);
    return rc;
}

static const struct vt_index_ops hnsw_ops = {
    .name = "hnsw",
    .add = hnsw_add,
    .remove = hnsw_remove,
    .search = hnsw_search,
    .size = hnsw_size,
    .stats = hnsw_stats,
    .compact = hnsw_compact,
    .set_ef = hnsw_set_ef,
    .save = hnsw_save,
    .free = hnsw_free,
};
