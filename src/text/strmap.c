/* strmap.c - string-keyed open-addressing hash map with an owned pool. */
#include "text/strmap.h"

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

#define POOL_MAX ((size_t)UINT32_MAX)

void vt_strmap_init(struct vt_strmap *m)
{
    memset(m, 0, sizeof *m);
}

void vt_strmap_reset(struct vt_strmap *m)
{
    vt_free(m->slots);
    vt_free(m->e);
    vt_free(m->pool);
    vt_strmap_init(m);
}

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return (uint32_t)(h ^ (h >> 32));
}

int vt_strmap_intern(struct vt_strmap *m, const char *s, size_t n, uint64_t *off)
{
    if (n > POOL_MAX || m->pool_len > POOL_MAX - n - 1)
        return VT_ENOMEM;
    size_t need = m->pool_len + n + 1;
    if (need > m->pool_cap) {
        size_t cap = m->pool_cap ? m->pool_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *p = vt_realloc(m->pool, cap);
        if (!p)
            return VT_ENOMEM;
        m->pool = p;
        m->pool_cap = cap;
    }
    if (n)
        memcpy(m->pool + m->pool_len, s, n);
    m->pool[m->pool_len + n] = '\0';
    *off = m->pool_len;
    m->pool_len = need;
    return 0;
}

/* The slot holding key, or the empty slot where it would go. The hash in
 * the slot spares a visit to the entry on most mismatches. */
static size_t find_slot(const struct vt_strmap *m, const char *key, size_t klen, uint32_t h)
{
    size_t mask = m->nslots - 1;
    for (size_t s = h & mask;; s = (s + 1) & mask) {
        uint64_t v = m->slots[s];
        if (v == 0)
            return s;
        if ((uint32_t)(v >> 32) != h)
            continue;
        const struct vt_strmap_entry *e = &m->e[(uint32_t)v - 1];
        if (e->klen == klen && memcmp(m->pool + e->koff, key, klen) == 0)
            return s;
    }
}

static inline uint32_t slot_index(uint64_t v)
{
    return (uint32_t)v - 1;
}

static int rehash(struct vt_strmap *m, size_t nslots)
{
    uint64_t *slots = vt_calloc(nslots, sizeof *slots);
    if (!slots)
        return VT_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        size_t s = m->e[i].hash & (nslots - 1);
        while (slots[s])
            s = (s + 1) & (nslots - 1);
        slots[s] = (uint64_t)m->e[i].hash << 32 | (uint32_t)(i + 1);
    }
    vt_free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return 0;
}

uint64_t *vt_strmap_get(const struct vt_strmap *m, const char *key, size_t klen)
{
    if (!m->nslots)
        return NULL;
    size_t s = find_slot(m, key, klen, hash_bytes(key, klen));
    return m->slots[s] ? &m->e[slot_index(m->slots[s])].val : NULL;
}

int vt_strmap_put(struct vt_strmap *m, const char *key, size_t klen, uint64_t val,
                  size_t *idx, int *added)
{
    uint32_t h = hash_bytes(key, klen);
    if ((m->n + 1) * 2 > m->nslots) {
        if (m->n >= UINT32_MAX / 4)
            return VT_ENOMEM;
        int rc = rehash(m, m->nslots ? m->nslots * 2 : 64);
        if (rc)
            return rc;
    }
    size_t s = find_slot(m, key, klen, h);
    if (m->slots[s]) {
        if (idx)
            *idx = slot_index(m->slots[s]);
        if (added)
            *added = 0;
        return 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct vt_strmap_entry *e = vt_realloc(m->e, cap * sizeof *e);
        if (!e)
            return VT_ENOMEM;
        m->e = e;
        m->cap = cap;
    }
    uint64_t koff;
    int rc = vt_strmap_intern(m, key, klen, &koff);
    if (rc)
        return rc;
    struct vt_strmap_entry *e = &m->e[m->n];
    e->koff = (uint32_t)koff;
    e->klen = (uint32_t)klen;
    e->hash = h;
    e->val = val;
    m->slots[s] = (uint64_t)h << 32 | (uint32_t)(m->n + 1);
    if (idx)
        *idx = m->n;
    if (added)
        *added = 1;
    m->n++;
    return 0;
}
