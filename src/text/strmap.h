/*
 * strmap.h - a string-keyed hash map for the text layer's dictionaries
 * (CC-CEDICT glosses, IDF tables, attribute vocabularies).
 *
 * Keys are byte strings copied into the map's own pool; each key carries a
 * 64-bit value the caller interprets (a pool offset, a double's bits, an
 * index). The pool also stores value strings (vt_strmap_intern) so one
 * object owns everything. Open addressing, linear probing, load <= 0.5.
 *
 * Ownership: the map owns its pool; a pointer from vt_strmap_str() stays
 * valid until the next insertion or intern (offsets stay valid forever).
 * Thread-safety: concurrent readers are fine; writers need exclusive use.
 */
#ifndef VT_TEXT_STRMAP_H
#define VT_TEXT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct vt_strmap_entry {
    uint32_t koff, klen; /* key bytes in the pool */
    uint32_t hash;
    uint64_t val;
};

struct vt_strmap {
    uint64_t *slots; /* hash << 32 | (entry index + 1); 0 = empty */
    size_t nslots;   /* power of two, or 0 before the first insertion */
    struct vt_strmap_entry *e;
    size_t n, cap;
    char *pool; /* NUL-terminated strings */
    size_t pool_len, pool_cap;
};

void vt_strmap_init(struct vt_strmap *m);
void vt_strmap_reset(struct vt_strmap *m);

/* Insert key with val, or find it. *idx (may be NULL) receives the entry
 * index; *added (may be NULL) 1 if the key was new (its val is then set),
 * 0 if it existed (its val is left alone). Returns 0 or VT_ENOMEM. */
int vt_strmap_put(struct vt_strmap *m, const char *key, size_t klen, uint64_t val,
                  size_t *idx, int *added);

/* Pointer to the value of key, or NULL. */
uint64_t *vt_strmap_get(const struct vt_strmap *m, const char *key, size_t klen);

/* Copy s[0..n) and a NUL into the pool; *off receives its offset.
 * Returns 0 or VT_ENOMEM. */
int vt_strmap_intern(struct vt_strmap *m, const char *s, size_t n, uint64_t *off);

/* The string at a pool offset. */
static inline const char *vt_strmap_str(const struct vt_strmap *m, uint64_t off)
{
    return m->pool + off;
}

#endif
