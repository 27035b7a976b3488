/*
 * gguf.c - GGUF reader (see gguf.h).
 *
 * Byte layout (all integers little-endian):
 *   [0, 4)    magic "GGUF" (47 47 55 46)
 *   [4, 8)    u32 version: 2 or 3 (they share this layout; version 1 used
 *             32-bit counts and is refused)
 *   [8, 16)   u64 tensor_count
 *   [16, 24)  u64 kv_count
 *   kv_count metadata pairs:
 *             key    string = u64 byte length, then the bytes (no NUL)
 *             type   u32 (enum vt_gguf_vtype)
 *             value  U8/I8/BOOL 1 byte, U16/I16 2, U32/I32/F32 4,
 *                    U64/I64/F64 8, STRING as above, or ARRAY =
 *                    u32 element type, u64 count, count elements
 *                    (arrays of arrays are refused)
 *   tensor_count tensor infos:
 *             name   string
 *             u32    n_dims (1..4)
 *             u64    ne[n_dims], ne[0] the fastest-varying dimension
 *             u32    ggml type (enum vt_ggml_type)
 *             u64    offset of the data, relative to the data section,
 *                    a multiple of the alignment
 *   padding to a multiple of the alignment (metadata "general.alignment",
 *   u32, a power of two, default 32), then the data section to the end.
 *
 * Counts are checked against the bytes left before anything is allocated
 * for them: every pair, info or array element takes at least one byte, so
 * a count larger than what remains is reported, not trusted.
 */
#include "nn/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/mapfile.h"
#include "nn/kernels.h"

struct vt_gguf {
    const uint8_t *base;
    size_t len;
    struct vt_mapfile map;      /* the file when opened by path; zeroed otherwise */
    char *name;
    uint32_t version;
    struct vt_gguf_kv *kv;
    size_t nkv;
    struct vt_gguf_tensor *t;
    size_t nt;
    size_t alignment;
};

struct rd {
    const uint8_t *p;
    size_t len, pos;
    const char *fn;
    struct vt_error *err;
};

static const struct {
    uint32_t type;
    const char *name;
    uint32_t block;   /* elements per block */
    uint32_t size;    /* bytes per block */
} ggml_types[] = {
    {VT_GGML_F32, "F32", 1, 4},       {VT_GGML_F16, "F16", 1, 2},
    {VT_GGML_Q4_0, "Q4_0", 32, 18},   {VT_GGML_Q4_1, "Q4_1", 32, 20},
    {VT_GGML_Q5_0, "Q5_0", 32, 22},   {VT_GGML_Q5_1, "Q5_1", 32, 24},
    {VT_GGML_Q8_0, "Q8_0", 32, 34},   {VT_GGML_Q8_1, "Q8_1", 32, 36},
    {VT_GGML_Q2_K, "Q2_K", 256, 84},  {VT_GGML_Q3_K, "Q3_K", 256, 110},
    {VT_GGML_Q4_K, "Q4_K", 256, 144}, {VT_GGML_Q5_K, "Q5_K", 256, 176},
    {VT_GGML_Q6_K, "Q6_K", 256, 210}, {VT_GGML_Q8_K, "Q8_K", 256, 292},
    {VT_GGML_I8, "I8", 1, 1},         {VT_GGML_I16, "I16", 1, 2},
    {VT_GGML_I32, "I32", 1, 4},       {VT_GGML_I64, "I64", 1, 8},
    {VT_GGML_F64, "F64", 1, 8},       {VT_GGML_BF16, "BF16", 1, 2},
};

const char *vt_ggml_type_name(uint32_t type)
{
    for (size_t i = 0; i < sizeof ggml_types / sizeof *ggml_types; i++)
        if (ggml_types[i].type == type)
            return ggml_types[i].name;
    return "?";
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int truncated(struct rd *r, const char *what)
{
    vt_error_set(r->err, VT_EFORMAT, "", "%s: truncated at byte %zu while reading %s", r->fn,
                 r->pos, what);
    if (r->err)
        r->err->offset = (int64_t)r->pos;
    return VT_EFORMAT;
}

static int bad(struct rd *r, size_t at, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(struct rd *r, size_t at, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vt_error_set(r->err, VT_EFORMAT, field, "%s: %s (byte %zu)", r->fn, msg, at);
    if (r->err)
        r->err->offset = (int64_t)at;
    return VT_EFORMAT;
}

static int rd_bytes(struct rd *r, void *out, size_t n, const char *what)
{
    if (r->len - r->pos < n)
        return truncated(r, what);
    memcpy(out, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
    return rd_bytes(r, v, 4, what);
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what)
{
    return rd_bytes(r, v, 8, what);
}

static int rd_str(struct rd *r, struct vt_gguf_str *s, const char *what)
{
    uint64_t n;
    size_t at = r->pos;
    if (rd_u64(r, &n, what))
        return VT_EFORMAT;
    if (n > r->len - r->pos)
        return bad(r, at, "", "%s has length %llu, more than the %zu bytes left", what,
                   (unsigned long long)n, r->len - r->pos);
    s->p = (const char *)r->p + r->pos;
    s->len = (size_t)n;
    r->pos += (size_t)n;
    return 0;
}

/* A key or tensor name: bounded, no NUL inside, copied NUL-terminated. */
static int rd_name(struct rd *r, char **out, const char *what)
{
    struct vt_gguf_str s;
    size_t at = r->pos;
    if (rd_str(r, &s, what))
        return VT_EFORMAT;
    if (s.len > VT_GGUF_MAX_NAME)
        return bad(r, at, "", "%s is %zu bytes long (max %d)", what, s.len, VT_GGUF_MAX_NAME);
    if (memchr(s.p, 0, s.len))
        return bad(r, at, "", "%s contains a NUL byte", what);
    *out = vt_strndup(s.p, s.len);
    if (!*out)
        return vt_error_set(r->err, VT_ENOMEM, "", "%s: out of memory", r->fn);
    return 0;
}

static size_t scalar_size(uint32_t type)
{
    switch (type) {
    case VT_GGUF_U8:
    case VT_GGUF_I8:
    case VT_GGUF_BOOL:
        return 1;
    case VT_GGUF_U16:
    case VT_GGUF_I16:
        return 2;
    case VT_GGUF_U32:
    case VT_GGUF_I32:
    case VT_GGUF_F32:
        return 4;
    case VT_GGUF_U64:
    case VT_GGUF_I64:
    case VT_GGUF_F64:
        return 8;
    default:
        return 0;
    }
}

static void decode_scalar(struct vt_gguf_kv *kv, const uint8_t *p)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    float f32;
    double f64;
    switch (kv->type) {
    case VT_GGUF_U8:
    case VT_GGUF_BOOL:
        u8 = p[0];
        kv->u = u8;
        kv->i = u8;
        break;
    case VT_GGUF_I8:
        kv->i = (int8_t)p[0];
        break;
    case VT_GGUF_U16:
        memcpy(&u16, p, 2);
        kv->u = u16;
        kv->i = u16;
        break;
    case VT_GGUF_I16:
        memcpy(&u16, p, 2);
        kv->i = (int16_t)u16;
        break;
    case VT_GGUF_U32:
        memcpy(&u32, p, 4);
        kv->u = u32;
        kv->i = u32;
        break;
    case VT_GGUF_I32:
        memcpy(&u32, p, 4);
        kv->i = (int32_t)u32;
        break;
    case VT_GGUF_U64:
        memcpy(&u64, p, 8);
        kv->u = u64;
        kv->i = (int64_t)(u64 >> 1);   /* not used for U64; keeps i non-negative */
        break;
    case VT_GGUF_I64:
        memcpy(&u64, p, 8);
        kv->i = (int64_t)u64;
        break;
    case VT_GGUF_F32:
        memcpy(&f32, p, 4);
        kv->f = f32;
        break;
    case VT_GGUF_F64:
        memcpy(&f64, p, 8);
        kv->f = f64;
        break;
    default:
        break;
    }
    if (kv->type == VT_GGUF_I8 || kv->type == VT_GGUF_I16 || kv->type == VT_GGUF_I32 ||
        kv->type == VT_GGUF_I64)
        kv->u = kv->i >= 0 ? (uint64_t)kv->i : 0;
}

static int parse_kv(struct rd *r, struct vt_gguf_kv *kv)
{
    size_t at = r->pos;
    char *key = NULL;
    int rc = rd_name(r, &key, "a metadata key");
    if (rc)
        return rc;
    kv->key = key;
    uint32_t type;
    if (rd_u32(r, &type, "a metadata type"))
        return VT_EFORMAT;
    kv->type = (enum vt_gguf_vtype)type;
    size_t sz = scalar_size(type);
    if (sz) {
        if (r->len - r->pos < sz)
            return truncated(r, key);
        decode_scalar(kv, r->p + r->pos);
        r->pos += sz;
        return 0;
    }
    if (type == VT_GGUF_STRING)
        return rd_str(r, &kv->s, key);
    if (type != VT_GGUF_ARRAY)
        return bad(r, at, key, "metadata '%s' has unknown type %u", key, type);
    uint32_t et;
    uint64_t count;
    if (rd_u32(r, &et, key) || rd_u64(r, &count, key))
        return VT_EFORMAT;
    kv->arr_type = (enum vt_gguf_vtype)et;
    kv->arr_count = count;
    size_t left = r->len - r->pos;
    if (et == VT_GGUF_STRING) {
        if (count > left / 8)
            return bad(r, at, key, "array '%s' claims %llu strings, more than %zu bytes can hold",
                       key, (unsigned long long)count, left);
        kv->arr_data = r->p + r->pos;
        kv->arr_strs = vt_calloc((size_t)count ? (size_t)count : 1, sizeof *kv->arr_strs);
        if (!kv->arr_strs)
            return vt_error_set(r->err, VT_ENOMEM, key, "%s: out of memory", r->fn);
        for (uint64_t i = 0; i < count; i++)
            if (rd_str(r, &kv->arr_strs[i], key))
                return VT_EFORMAT;
        return 0;
    }
    size_t es = scalar_size(et);
    if (!es)
        return bad(r, at, key, "array '%s' has element type %u (arrays of %s are not read)",
                   key, et, et == VT_GGUF_ARRAY ? "arrays" : "unknown types");
    if (count > left / es)
        return bad(r, at, key, "array '%s' claims %llu elements, more than %zu bytes can hold",
                   key, (unsigned long long)count, left);
    kv->arr_data = r->p + r->pos;
    r->pos += (size_t)count * es;
    return 0;
}

static int parse_tensor_info(struct rd *r, struct vt_gguf_tensor *t)
{
    size_t at = r->pos;
    char *name = NULL;
    int rc = rd_name(r, &name, "a tensor name");
    if (rc)
        return rc;
    t->name = name;
    uint32_t nd, type;
    if (rd_u32(r, &nd, name))
        return VT_EFORMAT;
    if (nd < 1 || nd > VT_GGUF_MAX_DIMS)
        return bad(r, at, name, "tensor '%s' has %u dimensions (1 to %d allowed)", name, nd,
                   VT_GGUF_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < VT_GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < nd && rd_u64(r, &ne, name))
            return VT_EFORMAT;
        if (ne && numel > UINT64_MAX / ne)
            return bad(r, at, name, "tensor '%s' has an element count that overflows", name);
        t->ne[d] = ne;
        numel *= ne;
    }
    t->numel = numel;
    if (rd_u32(r, &type, name) || rd_u64(r, &t->file_offset, name))
        return VT_EFORMAT;
    t->type = (enum vt_ggml_type)type;
    size_t k = 0;
    while (k < sizeof ggml_types / sizeof *ggml_types && ggml_types[k].type != type)
        k++;
    if (k == sizeof ggml_types / sizeof *ggml_types)
        return bad(r, at, name, "tensor '%s' has unknown ggml type %u", name, type);
    if (t->ne[0] % ggml_types[k].block)
        return bad(r, at, name, "tensor '%s': rows of %llu elements do not fill %s blocks of %u",
                   name, (unsigned long long)t->ne[0], ggml_types[k].name, ggml_types[k].block);
    uint64_t blocks = numel / ggml_types[k].block;
    if (blocks > SIZE_MAX / ggml_types[k].size)
        return bad(r, at, name, "tensor '%s' is too large", name);
    t->nbytes = (size_t)blocks * ggml_types[k].size;
    return 0;
}

static int cmp_offset(const void *a, const void *b)
{
    const struct vt_gguf_tensor *x = *(const struct vt_gguf_tensor *const *)a;
    const struct vt_gguf_tensor *y = *(const struct vt_gguf_tensor *const *)b;
    if (x->file_offset != y->file_offset)
        return x->file_offset < y->file_offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(const struct vt_gguf_kv *const *)a)->key,
                  (*(const struct vt_gguf_kv *const *)b)->key);
}

static int cmp_tname(const void *a, const void *b)
{
    return strcmp((*(const struct vt_gguf_tensor *const *)a)->name,
                  (*(const struct vt_gguf_tensor *const *)b)->name);
}

static int parse(struct vt_gguf *g, struct vt_error *err)
{
    struct rd r = {g->base, g->len, 0, g->name, err};
    void **order = NULL;
    int rc;
    char magic[4];
    if (rd_bytes(&r, magic, 4, "the magic"))
        return VT_EFORMAT;
    if (memcmp(magic, "GGUF", 4) != 0)
        return bad(&r, 0, "", "not a GGUF file (magic %02x %02x %02x %02x)",
                   (unsigned char)magic[0], (unsigned char)magic[1], (unsigned char)magic[2],
                   (unsigned char)magic[3]);
    uint64_t nt, nkv;
    if (rd_u32(&r, &g->version, "the version"))
        return VT_EFORMAT;
    if (g->version != 2 && g->version != 3) {
        if (g->version && !(g->version & 0xFFFF))
            return bad(&r, 4, "", "version field %u looks byte-swapped: big-endian GGUF files "
                       "are not supported", g->version);
        return bad(&r, 4, "", "GGUF version %u is not supported (2 and 3 are)", g->version);
    }
    if (rd_u64(&r, &nt, "the tensor count") || rd_u64(&r, &nkv, "the metadata count"))
        return VT_EFORMAT;
    /* smallest kv: 8-byte key length + 4-byte type + 1-byte value;
     * smallest tensor info: 8 + 4 + 8 (one dim) + 4 + 8 */
    size_t left = g->len - r.pos;
    if (nkv > left / 13)
        return bad(&r, 16, "", "metadata count %llu is absurd for a file of %zu bytes (or the file is "
                   "truncated)",
                   (unsigned long long)nkv, g->len);
    if (nt > left / 32)
        return bad(&r, 8, "", "tensor count %llu is absurd for a file of %zu bytes (or the file is "
                   "truncated)",
                   (unsigned long long)nt, g->len);
    g->kv = vt_calloc(nkv ? (size_t)nkv : 1, sizeof *g->kv);
    g->t = vt_calloc(nt ? (size_t)nt : 1, sizeof *g->t);
    order = vt_calloc((nkv > nt ? (size_t)nkv : (size_t)nt) + 1, sizeof *order);
    if (!g->kv || !g->t || !order) {
        rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", g->name);
        goto out;
    }
    for (uint64_t i = 0; i < nkv; i++) {
        g->nkv++;
        if ((rc = parse_kv(&r, &g->kv[i])))
            goto out;
    }
    for (size_t i = 0; i < g->nkv; i++)
        order[i] = &g->kv[i];
    qsort(order, g->nkv, sizeof *order, cmp_kv);
    for (size_t i = 1; i < g->nkv; i++)
        if (cmp_kv(&order[i - 1], &order[i]) == 0) {
            rc = bad(&r, r.pos, ((struct vt_gguf_kv *)order[i])->key,
                     "metadata key '%s' appears twice", ((struct vt_gguf_kv *)order[i])->key);
            goto out;
        }
    g->alignment = VT_GGUF_DEFAULT_ALIGNMENT;
    const struct vt_gguf_kv *al = vt_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != VT_GGUF_U32 || al->u == 0 || (al->u & (al->u - 1)) || al->u > (1u << 20)) {
            rc = bad(&r, r.pos, "general.alignment",
                     "general.alignment must be a u32 power of two up to 1 MiB");
            goto out;
        }
        g->alignment = (size_t)al->u;
    }
    for (uint64_t i = 0; i < nt; i++) {
        g->nt++;
        if ((rc = parse_tensor_info(&r, &g->t[i])))
            goto out;
    }
    size_t data_start = (r.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (nt && data_start > g->len) {
        rc = truncated(&r, "the padding before the tensor data");
        goto out;
    }
    size_t data_len = data_start <= g->len ? g->len - data_start : 0;
    for (size_t i = 0; i < g->nt; i++) {
        struct vt_gguf_tensor *t = &g->t[i];
        if (t->file_offset % g->alignment) {
            rc = bad(&r, data_start, t->name, "tensor '%s' offset %llu is not a multiple of the "
                     "alignment %zu", t->name, (unsigned long long)t->file_offset, g->alignment);
            goto out;
        }
        if (t->file_offset > data_len || t->nbytes > data_len - t->file_offset) {
            rc = bad(&r, data_start, t->name,
                     "tensor '%s' [%llu, +%zu) runs past the end of the data section "
                     "(%zu bytes): file truncated or offsets corrupt",
                     t->name, (unsigned long long)t->file_offset, t->nbytes, data_len);
            goto out;
        }
        t->data = g->base + data_start + t->file_offset;
        t->file_offset += data_start;
    }
    for (size_t i = 0; i < g->nt; i++)
        order[i] = &g->t[i];
    qsort(order, g->nt, sizeof *order, cmp_tname);
    for (size_t i = 1; i < g->nt; i++)
        if (cmp_tname(&order[i - 1], &order[i]) == 0) {
            const char *nm = ((struct vt_gguf_tensor *)order[i])->name;
            rc = bad(&r, data_start, nm, "tensor '%s' appears twice", nm);
            goto out;
        }
    qsort(order, g->nt, sizeof *order, cmp_offset);
    for (size_t i = 1; i < g->nt; i++) {
        const struct vt_gguf_tensor *a = order[i - 1], *b = order[i];
        if (a->nbytes && b->nbytes && a->file_offset + a->nbytes > b->file_offset) {
            rc = bad(&r, (size_t)b->file_offset, b->name, "tensors '%s' and '%s' overlap",
                     a->name, b->name);
            goto out;
        }
    }
    rc = 0;
out:
    vt_free(order);
    return rc;
}

int vt_gguf_open_mem(const void *data, size_t len, const char *name, struct vt_gguf **out,
                     struct vt_error *err)
{
    *out = NULL;
    struct vt_gguf *g = vt_calloc(1, sizeof *g);
    if (!g)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    g->base = data;
    g->len = len;
    g->name = vt_strdup(name ? name : "gguf");
    if (!g->name) {
        vt_free(g);
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    }
    int rc = parse(g, err);
    if (rc) {
        vt_gguf_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int vt_gguf_open(const char *path, struct vt_gguf **out, struct vt_error *err)
{
    *out = NULL;
    struct vt_mapfile map;
    int rc = vt_mapfile_open(path, &map, err);
    if (rc)
        return rc;
    if (map.len < 24) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: truncated: %zu bytes, shorter than a GGUF "
                          "header", base_name(path), map.len);
        goto out;
    }
    if ((rc = vt_gguf_open_mem(map.data, map.len, base_name(path), out, err)))
        goto out;
    (*out)->map = map;
    return 0;
out:
    vt_mapfile_close(&map);
    return rc;
}

void vt_gguf_free(struct vt_gguf *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nkv; i++) {
        vt_free((char *)g->kv[i].key);
        vt_free(g->kv[i].arr_strs);
    }
    vt_free(g->kv);
    for (size_t i = 0; i < g->nt; i++)
        vt_free((char *)g->t[i].name);
    vt_free(g->t);
    vt_mapfile_close(&g->map);
    vt_free(g->name);
    vt_free(g);
}

uint32_t vt_gguf_version(const struct vt_gguf *g)
{
    return g->version;
}

size_t vt_gguf_kv_count(const struct vt_gguf *g)
{
    return g->nkv;
}

const struct vt_gguf_kv *vt_gguf_kv_at(const struct vt_gguf *g, size_t i)
{
    return i < g->nkv ? &g->kv[i] : NULL;
}

const struct vt_gguf_kv *vt_gguf_find(const struct vt_gguf *g, const char *key)
{
    for (size_t i = 0; i < g->nkv; i++)
        if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0)
            return &g->kv[i];
    return NULL;
}

static int wrong_type(const struct vt_gguf *g, const char *key, const char *want,
                      struct vt_error *err)
{
    return vt_error_set(err, VT_EFORMAT, key, "%s: metadata '%s' is not %s", g->name, key, want);
}

int vt_gguf_get_uint(const struct vt_gguf *g, const char *key, uint64_t *out,
                     struct vt_error *err)
{
    const struct vt_gguf_kv *kv = vt_gguf_find(g, key);
    if (!kv)
        return VT_ENOTFOUND;
    switch (kv->type) {
    case VT_GGUF_U8:
    case VT_GGUF_U16:
    case VT_GGUF_U32:
    case VT_GGUF_U64:
        *out = kv->u;
        return 0;
    case VT_GGUF_I8:
    case VT_GGUF_I16:
    case VT_GGUF_I32:
    case VT_GGUF_I64:
        if (kv->i < 0)
            return wrong_type(g, key, "a non-negative integer", err);
        *out = (uint64_t)kv->i;
        return 0;
    default:
        return wrong_type(g, key, "an integer", err);
    }
}

int vt_gguf_get_float(const struct vt_gguf *g, const char *key, double *out,
                      struct vt_error *err)
{
    const struct vt_gguf_kv *kv = vt_gguf_find(g, key);
    if (!kv)
        return VT_ENOTFOUND;
    if (kv->type == VT_GGUF_F32 || kv->type == VT_GGUF_F64) {
        *out = kv->f;
        return 0;
    }
    return wrong_type(g, key, "a float", err);
}

int vt_gguf_get_bool(const struct vt_gguf *g, const char *key, int *out, struct vt_error *err)
{
    const struct vt_gguf_kv *kv = vt_gguf_find(g, key);
    if (!kv)
        return VT_ENOTFOUND;
    if (kv->type != VT_GGUF_BOOL)
        return wrong_type(g, key, "a bool", err);
    *out = kv->u != 0;
    return 0;
}

int vt_gguf_get_str(const struct vt_gguf *g, const char *key, struct vt_gguf_str *out,
                    struct vt_error *err)
{
    const struct vt_gguf_kv *kv = vt_gguf_find(g, key);
    if (!kv)
        return VT_ENOTFOUND;
    if (kv->type != VT_GGUF_STRING)
        return wrong_type(g, key, "a string", err);
    *out = kv->s;
    return 0;
}

int vt_gguf_str_is(const struct vt_gguf *g, const char *key, const char *value)
{
    const struct vt_gguf_kv *kv = vt_gguf_find(g, key);
    size_t n = strlen(value);
    return kv && kv->type == VT_GGUF_STRING && kv->s.len == n && memcmp(kv->s.p, value, n) == 0;
}

size_t vt_gguf_tensor_count(const struct vt_gguf *g)
{
    return g->nt;
}

const struct vt_gguf_tensor *vt_gguf_tensor_at(const struct vt_gguf *g, size_t i)
{
    return i < g->nt ? &g->t[i] : NULL;
}

const struct vt_gguf_tensor *vt_gguf_find_tensor(const struct vt_gguf *g, const char *name)
{
    for (size_t i = 0; i < g->nt; i++)
        if (strcmp(g->t[i].name, name) == 0)
            return &g->t[i];
    return NULL;
}

const void *vt_gguf_bytes(const struct vt_gguf *g, size_t *len)
{
    *len = g->len;
    return g->base;
}

int vt_gguf_to_f32(const struct vt_gguf *g, const struct vt_gguf_tensor *t, float *out,
                   struct vt_error *err)
{
    const uint8_t *src = t->data;
    uint16_t h[256];
    switch (t->type) {
    case VT_GGML_F32:
        memcpy(out, src, t->nbytes);
        return 0;
    case VT_GGML_F16:
    case VT_GGML_BF16:
        for (uint64_t i = 0; i < t->numel; i += 256) {
            size_t n = (size_t)(t->numel - i < 256 ? t->numel - i : 256);
            memcpy(h, src + i * 2, n * 2);
            if (t->type == VT_GGML_F16)
                vt_f16_to_f32(h, out + i, n);
            else
                vt_bf16_to_f32(h, out + i, n);
        }
        return 0;
    case VT_GGML_Q8_0:
        /* blocks of 32: f16 scale d, then 32 int8 q; value = d * q */
        for (uint64_t b = 0; b < t->numel / 32; b++) {
            const uint8_t *blk = src + b * 34;
            uint16_t dh;
            memcpy(&dh, blk, 2);
            float d = vt_f16_one(dh);
            for (int i = 0; i < 32; i++)
                out[b * 32 + (uint64_t)i] = d * (float)(int8_t)blk[2 + i];
        }
        return 0;
    default:
        return vt_error_set(err, VT_EFORMAT, t->name,
                            "%s: tensor '%s' is %s; vitrine reads F32, F16, BF16 and Q8_0 "
                            "weights",
                            g->name, t->name, vt_ggml_type_name(t->type));
    }
}
