/*
 * interactions.c - id maps, event weights and the CSR/CSC interaction
 * matrix (see interactions.h).
 *
 * The id map is an open-addressing hash table (linear probing, FNV-1a,
 * load at most one half) of indexes into an array of owned id strings.
 *
 * Building sorts the triplets by user with a counting pass, then each
 * user's run by item, merges runs of one pair, drops pairs whose total is
 * not positive, and derives the by-item copy with a second counting pass,
 * which visits users in order and so leaves each item's users ascending.
 */
#include "rec/interactions.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

/* ---- id map -------------------------------------------------------------- */

struct vt_idmap {
    char **ids;       /* count, owned */
    int32_t count, ids_cap;
    int32_t *slots;   /* cap entries: index + 1, 0 = empty */
    size_t cap;       /* power of two */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

int vt_idmap_new(struct vt_idmap **out)
{
    struct vt_idmap *m = vt_calloc(1, sizeof *m);
    if (!m)
        return VT_ENOMEM;
    m->cap = 64;
    m->slots = vt_calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        vt_free(m);
        return VT_ENOMEM;
    }
    *out = m;
    return 0;
}

void vt_idmap_free(struct vt_idmap *m)
{
    if (!m)
        return;
    for (int32_t i = 0; i < m->count; i++)
        vt_free(m->ids[i]);
    vt_free(m->ids);
    vt_free(m->slots);
    vt_free(m);
}

static size_t find_slot(const struct vt_idmap *m, const char *id)
{
    size_t mask = m->cap - 1, s = (size_t)hash_str(id) & mask;
    while (m->slots[s] && strcmp(m->ids[m->slots[s] - 1], id) != 0)
        s = (s + 1) & mask;
    return s;
}

static int grow_slots(struct vt_idmap *m)
{
    size_t cap = m->cap * 2;
    int32_t *slots = vt_calloc(cap, sizeof *slots);
    if (!slots)
        return VT_ENOMEM;
    vt_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    for (int32_t i = 0; i < m->count; i++)
        m->slots[find_slot(m, m->ids[i])] = i + 1;
    return 0;
}

int vt_idmap_put(struct vt_idmap *m, const char *id, int32_t *index, int *created)
{
    size_t s = find_slot(m, id);
    if (m->slots[s]) {
        *index = m->slots[s] - 1;
        if (created)
            *created = 0;
        return 0;
    }
    if (m->count >= VT_REC_MAX_INDEX)
        return VT_ETOOBIG;
    if (m->count == m->ids_cap) {
        int32_t ncap = !m->ids_cap ? 64
                       : m->ids_cap > VT_REC_MAX_INDEX / 2 ? VT_REC_MAX_INDEX
                                                           : m->ids_cap * 2;
        char **ids = vt_realloc(m->ids, (size_t)ncap * sizeof *ids);
        if (!ids)
            return VT_ENOMEM;
        m->ids = ids;
        m->ids_cap = ncap;
    }
    if (((size_t)m->count + 1) * 2 > m->cap) {
        if (grow_slots(m))
            return VT_ENOMEM;
        s = find_slot(m, id);
    }
    char *copy = vt_strdup(id);
    if (!copy)
        return VT_ENOMEM;
    m->ids[m->count] = copy;
    m->slots[s] = m->count + 1;
    *index = m->count++;
    if (created)
        *created = 1;
    return 0;
}

int32_t vt_idmap_get(const struct vt_idmap *m, const char *id)
{
    size_t s = find_slot(m, id);
    return m->slots[s] ? m->slots[s] - 1 : -1;
}

const char *vt_idmap_id(const struct vt_idmap *m, int32_t index) { return m->ids[index]; }

int32_t vt_idmap_count(const struct vt_idmap *m) { return m->count; }

/* ---- event weights ---------------------------------------------------------- */

void vt_event_weights_from_conf(const struct vt_conf *c, struct vt_event_weights *out)
{
    for (int t = 0; t < VT_EV_COUNT; t++) {
        char key[64];
        snprintf(key, sizeof key, "weight.%s", vt_event_type_info(t)->name);
        out->w[t] = vt_conf_double(c, key);
    }
}

double vt_event_weight(const struct vt_event_weights *w, int type, double value)
{
    if (type < 0 || type >= VT_EV_COUNT)
        return 0;
    if (type == VT_EV_RATING)
        return w->w[type] * (value - 2.5);
    return w->w[type] * value;
}

/* ---- the matrix ------------------------------------------------------------- */

struct entry {
    int32_t item;
    float w;
    int64_t ts;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return (x->item > y->item) - (x->item < y->item);
}

void vt_interactions_free(struct vt_interactions *ix)
{
    if (!ix)
        return;
    vt_free(ix->user_ptr);
    vt_free(ix->user_item);
    vt_free(ix->user_w);
    vt_free(ix->user_ts);
    vt_free(ix->item_ptr);
    vt_free(ix->item_user);
    vt_free(ix->item_w);
    vt_free(ix->item_ts);
    vt_free(ix->user_last_ms);
    vt_free(ix);
}

size_t vt_interactions_bytes(const struct vt_interactions *ix)
{
    size_t n = sizeof *ix;
    n += ((size_t)ix->nusers + 1 + (size_t)ix->nitems + 1) * sizeof(int64_t);
    n += (size_t)ix->nusers * sizeof(int64_t);
    n += (size_t)ix->nnz * (2 * sizeof(int32_t) + 2 * sizeof(float) + 2 * sizeof(int64_t));
    return n;
}

int vt_interactions_build(int32_t nusers, int32_t nitems, const struct vt_triplet *t, size_t n,
                          const struct vt_interactions_options *o,
                          struct vt_interactions **out)
{
    struct vt_interactions *ix = NULL;
    struct entry *e = NULL;
    int64_t *fill = NULL;
    int rc = VT_ENOMEM;

    if (nusers < 0 || nitems < 0 || nusers > VT_REC_MAX_INDEX || nitems > VT_REC_MAX_INDEX)
        return VT_EINVAL;
    if (n > (size_t)INT64_MAX / sizeof(struct entry))
        return VT_ETOOBIG;
    for (size_t k = 0; k < n; k++)
        if (t[k].user < 0 || t[k].user >= nusers || t[k].item < 0 || t[k].item >= nitems)
            return VT_EINVAL;

    ix = vt_calloc(1, sizeof *ix);
    if (!ix)
        goto out;
    ix->nusers = nusers;
    ix->nitems = nitems;
    ix->last_ms = INT64_MIN;
    ix->user_ptr = vt_calloc((size_t)nusers + 1, sizeof *ix->user_ptr);
    ix->item_ptr = vt_calloc((size_t)nitems + 1, sizeof *ix->item_ptr);
    ix->user_last_ms = vt_malloc(((size_t)nusers + 1) * sizeof *ix->user_last_ms);
    fill = vt_calloc((size_t)nusers + 1, sizeof *fill);
    e = vt_malloc((n ? n : 1) * sizeof *e);
    if (!ix->user_ptr || !ix->item_ptr || !ix->user_last_ms || !fill || !e)
        goto out;

    /* Counting sort by user. */
    for (int32_t u = 0; u < nusers; u++)
        ix->user_last_ms[u] = INT64_MIN;
    for (size_t k = 0; k < n; k++) {
        ix->user_ptr[t[k].user + 1]++;
        if (t[k].ts_ms > ix->user_last_ms[t[k].user])
            ix->user_last_ms[t[k].user] = t[k].ts_ms;
        if (t[k].ts_ms > ix->last_ms)
            ix->last_ms = t[k].ts_ms;
    }
    for (int32_t u = 0; u < nusers; u++)
        ix->user_ptr[u + 1] += ix->user_ptr[u];
    for (size_t k = 0; k < n; k++) {
        int64_t at = ix->user_ptr[t[k].user] + fill[t[k].user]++;
        e[at].item = t[k].item;
        e[at].w = t[k].w;
        e[at].ts = t[k].ts_ms;
    }

    /* Per user: sort by item, merge pairs, keep positive totals (in place). */
    double half_life_ms = o && o->user_half_life_days > 0 ? o->user_half_life_days * 86400e3 : 0;
    int64_t kept = 0;
    for (int32_t u = 0; u < nusers; u++) {
        int64_t a = ix->user_ptr[u], b = ix->user_ptr[u + 1];
        qsort(e + a, (size_t)(b - a), sizeof *e, cmp_entry);
        ix->user_ptr[u] = kept;
        for (int64_t k = a; k < b;) {
            struct entry m = e[k];
            double w = m.w;
            for (k++; k < b && e[k].item == m.item; k++) {
                w += e[k].w;
                if (e[k].ts > m.ts)
                    m.ts = e[k].ts;
            }
            if (half_life_ms > 0)
                w *= exp2(-(double)(ix->user_last_ms[u] - m.ts) / half_life_ms);
            if (!(w > 0))
                continue;
            m.w = (float)w;
            if (!(m.w > 0)) /* underflow of a tiny decayed weight */
                continue;
            e[kept++] = m;
        }
    }
    ix->user_ptr[nusers] = kept;
    ix->nnz = kept;

    size_t nnz = (size_t)(kept ? kept : 1);
    ix->user_item = vt_malloc(nnz * sizeof *ix->user_item);
    ix->user_w = vt_malloc(nnz * sizeof *ix->user_w);
    ix->user_ts = vt_malloc(nnz * sizeof *ix->user_ts);
    ix->item_user = vt_malloc(nnz * sizeof *ix->item_user);
    ix->item_w = vt_malloc(nnz * sizeof *ix->item_w);
    ix->item_ts = vt_malloc(nnz * sizeof *ix->item_ts);
    if (!ix->user_item || !ix->user_w || !ix->user_ts || !ix->item_user || !ix->item_w ||
        !ix->item_ts)
        goto out;
    for (int64_t k = 0; k < kept; k++) {
        ix->user_item[k] = e[k].item;
        ix->user_w[k] = e[k].w;
        ix->user_ts[k] = e[k].ts;
        ix->item_ptr[e[k].item + 1]++;
    }
    for (int32_t i = 0; i < nitems; i++)
        ix->item_ptr[i + 1] += ix->item_ptr[i];
    vt_free(fill);
    fill = vt_calloc((size_t)nitems + 1, sizeof *fill);
    if (!fill)
        goto out;
    for (int32_t u = 0; u < nusers; u++) {
        for (int64_t k = ix->user_ptr[u]; k < ix->user_ptr[u + 1]; k++) {
            int32_t i = ix->user_item[k];
            int64_t at = ix->item_ptr[i] + fill[i]++;
            ix->item_user[at] = u;
            ix->item_w[at] = ix->user_w[k];
            ix->item_ts[at] = ix->user_ts[k];
        }
    }
    *out = ix;
    ix = NULL;
    rc = 0;
out:
    vt_free(e);
    vt_free(fill);
    vt_interactions_free(ix);
    return rc;
}

int vt_interactions_bm25(const struct vt_interactions *ix, float k1, float b,
                         struct vt_interactions **out)
{
    if (!(k1 > 0) || !(b >= 0) || b > 1)
        return VT_EINVAL;
    struct vt_interactions *c = vt_calloc(1, sizeof *c);
    if (!c)
        return VT_ENOMEM;
    *c = *ix;
    size_t nu = (size_t)ix->nusers + 1, ni = (size_t)ix->nitems + 1, nnz = (size_t)ix->nnz + 1;
    c->user_ptr = vt_malloc(nu * sizeof *c->user_ptr);
    c->user_item = vt_malloc(nnz * sizeof *c->user_item);
    c->user_w = vt_malloc(nnz * sizeof *c->user_w);
    c->user_ts = vt_malloc(nnz * sizeof *c->user_ts);
    c->item_ptr = vt_malloc(ni * sizeof *c->item_ptr);
    c->item_user = vt_malloc(nnz * sizeof *c->item_user);
    c->item_w = vt_malloc(nnz * sizeof *c->item_w);
    c->item_ts = vt_malloc(nnz * sizeof *c->item_ts);
    c->user_last_ms = vt_malloc(nu * sizeof *c->user_last_ms);
    if (!c->user_ptr || !c->user_item || !c->user_w || !c->user_ts || !c->item_ptr ||
        !c->item_user || !c->item_w || !c->item_ts || !c->user_last_ms) {
        vt_interactions_free(c);
        return VT_ENOMEM;
    }
    memcpy(c->user_ptr, ix->user_ptr, nu * sizeof *c->user_ptr);
    memcpy(c->item_ptr, ix->item_ptr, ni * sizeof *c->item_ptr);
    memcpy(c->user_last_ms, ix->user_last_ms, (nu - 1) * sizeof *c->user_last_ms);
    memcpy(c->user_item, ix->user_item, (size_t)ix->nnz * sizeof *c->user_item);
    memcpy(c->user_ts, ix->user_ts, (size_t)ix->nnz * sizeof *c->user_ts);
    memcpy(c->item_user, ix->item_user, (size_t)ix->nnz * sizeof *c->item_user);
    memcpy(c->item_ts, ix->item_ts, (size_t)ix->nnz * sizeof *c->item_ts);

    double mean_n = ix->nusers ? (double)ix->nnz / (double)ix->nusers : 0;
    float *factor = vt_malloc(nu * sizeof *factor); /* k1 (1 - b + b n_u / mean) per user */
    if (!factor) {
        vt_interactions_free(c);
        return VT_ENOMEM;
    }
    for (int32_t u = 0; u < ix->nusers; u++) {
        double len = mean_n > 0 ? (double)vt_interactions_user_count(ix, u) / mean_n : 0;
        factor[u] = (float)(k1 * (1 - b + b * len));
        for (int64_t k = ix->user_ptr[u]; k < ix->user_ptr[u + 1]; k++)
            c->user_w[k] = ix->user_w[k] * (k1 + 1) / (ix->user_w[k] + factor[u]);
    }
    for (int32_t i = 0; i < ix->nitems; i++)
        for (int64_t k = ix->item_ptr[i]; k < ix->item_ptr[i + 1]; k++)
            c->item_w[k] = ix->item_w[k] * (k1 + 1) / (ix->item_w[k] + factor[ix->item_user[k]]);
    vt_free(factor);
    *out = c;
    return 0;
}

size_t vt_interactions_history(const struct vt_interactions *ix, int32_t u,
                               double half_life_days, const int32_t **items, float *w)
{
    int64_t a = ix->user_ptr[u], n = ix->user_ptr[u + 1] - a;
    double h = half_life_days * 86400e3;
    *items = ix->user_item + a;
    for (int64_t k = 0; k < n; k++) {
        double x = ix->user_w[a + k];
        if (h > 0)
            x *= exp2(-(double)(ix->user_last_ms[u] - ix->user_ts[a + k]) / h);
        w[k] = (float)x;
    }
    return (size_t)n;
}
