/*
 * attrs_int.h - the attribute vocabulary's layout, shared by the builder
 * (attrs_vocab.c) and the extractor (attrs.c). Not part of the API.
 */
#ifndef VT_TEXT_ATTRS_INT_H
#define VT_TEXT_ATTRS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "text/strmap.h"

#define SURFACE_MAX_BYTES 64 /* longest surface or value, cleaned */
#define KIND_PREFIX 0xFF     /* a proper prefix of some surface, no value */

struct vocab_ent {
    uint8_t kind;   /* enum vt_attr_kind, or KIND_PREFIX */
    uint64_t value; /* pool offset of the canonical value */
};

struct vt_attr_vocab {
    struct vt_strmap surf; /* cleaned surface (or prefix) -> index into ent */
    struct vocab_ent *ent;
    size_t n, cap;
    size_t n_surfaces;
};

extern const char *const vt_attr_kind_names[];

/* Surface lookup: its entry, or NULL (prefix-only entries are not
 * surfaces). */
const struct vocab_ent *vt_attr_vocab_get(const struct vt_attr_vocab *v, const char *s, size_t n);

#endif
