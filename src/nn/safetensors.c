/*
 * safetensors.c - .safetensors reader (see safetensors.h).
 *
 * Byte layout:
 *   [0, 8)        N, the header length, unsigned 64-bit little-endian
 *   [8, 8 + N)    the header: a UTF-8 JSON object, possibly padded with
 *                 trailing spaces. Each key is a tensor name mapping to
 *                   {"dtype": "F32", "shape": [d0, d1, ...],
 *                    "data_offsets": [begin, end]}
 *                 except "__metadata__", a flat object of string values.
 *   [8 + N, end)  the data section; begin/end are relative to its start,
 *                 end - begin must equal numel * sizeof(dtype), and tensors
 *                 may not overlap. Values are little-endian, row-major.
 *
 * Invariant after a successful open: every tensor's [data, data + nbytes)
 * lies inside the data section and no two overlap.
 */
#include "nn/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/mapfile.h"
#include "nn/kernels.h"

struct vt_st {
    const uint8_t *base;
    size_t len;
    struct vt_mapfile map;      /* the file when opened by path; zeroed otherwise */
    char *name;                 /* for messages */
    struct vt_st_tensor *t;
    size_t count;
    char **meta;                /* key, value, key, value... */
    size_t nmeta;
};

static const struct {
    const char *name;
    enum vt_st_dtype dtype;
    size_t size;
} dtypes[] = {
    {"F32", VT_ST_F32, 4},   {"F16", VT_ST_F16, 2},   {"BF16", VT_ST_BF16, 2},
    {"F64", VT_ST_F64, 8},   {"I64", VT_ST_I64, 8},   {"I32", VT_ST_I32, 4},
    {"I16", VT_ST_I16, 2},   {"I8", VT_ST_I8, 1},     {"U64", VT_ST_U64, 8},
    {"U32", VT_ST_U32, 4},   {"U16", VT_ST_U16, 2},   {"U8", VT_ST_U8, 1},
    {"BOOL", VT_ST_BOOL, 1}, {"F8_E4M3", VT_ST_F8_E4M3, 1}, {"F8_E5M2", VT_ST_F8_E5M2, 1},
};

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int get_u64(json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const struct vt_st_tensor *x = *(const struct vt_st_tensor *const *)a;
    const struct vt_st_tensor *y = *(const struct vt_st_tensor *const *)b;
    if (x->file_offset != y->file_offset)
        return x->file_offset < y->file_offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* One tensor entry of the header. */
static int parse_tensor(struct vt_st *f, const char *key, json_t *v, uint64_t data_start,
                        uint64_t data_len, struct vt_st_tensor *t, struct vt_error *err)
{
    const char *fn = f->name;
    if (!json_is_object(v))
        return vt_error_set(err, VT_EFORMAT, key, "%s: header entry '%s' is not an object", fn,
                            key);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) ||
        json_array_size(jo) != 2)
        return vt_error_set(err, VT_EFORMAT, key,
                            "%s: tensor '%s' needs dtype, shape and data_offsets [begin, end]",
                            fn, key);
    const char *ds = json_string_value(jd);
    size_t esize = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(ds, dtypes[i].name) == 0) {
            t->dtype = dtypes[i].dtype;
            t->dtype_name = dtypes[i].name;
            esize = dtypes[i].size;
        }
    if (!esize)
        return vt_error_set(err, VT_EFORMAT, key, "%s: tensor '%s' has unknown dtype \"%.32s\"",
                            fn, key, ds);
    t->ndim = json_array_size(js);
    if (t->ndim > VT_ST_MAX_DIMS)
        return vt_error_set(err, VT_EFORMAT, key, "%s: tensor '%s' has %zu dimensions (max %d)",
                            fn, key, t->ndim, VT_ST_MAX_DIMS);
    uint64_t numel = 1;
    for (size_t i = 0; i < t->ndim; i++) {
        if (get_u64(json_array_get(js, i), &t->shape[i]) < 0)
            return vt_error_set(err, VT_EFORMAT, key,
                                "%s: tensor '%s' shape[%zu] is not a non-negative integer", fn,
                                key, i);
        if (t->shape[i] && numel > UINT64_MAX / t->shape[i])
            return vt_error_set(err, VT_EFORMAT, key, "%s: tensor '%s' shape overflows", fn,
                                key);
        numel *= t->shape[i];
    }
    uint64_t begin, end;
    if (get_u64(json_array_get(jo, 0), &begin) < 0 || get_u64(json_array_get(jo, 1), &end) < 0)
        return vt_error_set(err, VT_EFORMAT, key,
                            "%s: tensor '%s' data_offsets are not non-negative integers", fn,
                            key);
    if (begin > end || end > data_len) {
        vt_error_set(err, VT_EFORMAT, key,
                     "%s: tensor '%s' data_offsets [%llu, %llu] fall outside the data section "
                     "(%llu bytes)",
                     fn, key, (unsigned long long)begin, (unsigned long long)end,
                     (unsigned long long)data_len);
        if (err)
            err->offset = (int64_t)(data_start + (begin <= data_len ? begin : data_len));
        return VT_EFORMAT;
    }
    if (numel > UINT64_MAX / esize || numel * esize != end - begin)
        return vt_error_set(err, VT_EFORMAT, key,
                            "%s: tensor '%s' holds %llu bytes but its %s shape needs %llu", fn,
                            key, (unsigned long long)(end - begin), ds,
                            numel > UINT64_MAX / esize ? 0ULL
                                                       : (unsigned long long)(numel * esize));
    t->numel = numel;
    t->nbytes = (size_t)(end - begin);
    t->file_offset = data_start + begin;
    t->data = f->base + data_start + begin;
    return 0;
}

static int parse(struct vt_st *f, struct vt_error *err)
{
    const char *fn = f->name;
    json_t *root = NULL;
    struct vt_st_tensor **order = NULL;
    int rc = 0;
    if (f->len < 8)
        return vt_error_set(err, VT_EFORMAT, "", "%s: truncated: %zu bytes, the 8-byte header "
                            "length is missing", fn, f->len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | f->base[i];
    if (n > VT_ST_MAX_HEADER)
        return vt_error_set(err, VT_EFORMAT, "", "%s: header length %llu is absurd (max %u)", fn,
                            (unsigned long long)n, VT_ST_MAX_HEADER);
    if (n > f->len - 8)
        return vt_error_set(err, VT_EFORMAT, "",
                            "%s: truncated: header length %llu but only %zu bytes follow", fn,
                            (unsigned long long)n, f->len - 8);
    json_error_t jerr;
    root = json_loadb((const char *)f->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        vt_error_set(err, VT_EFORMAT, "", "%s: header is not valid JSON: %s", fn, jerr.text);
        if (err)
            err->offset = 8 + jerr.position;
        return VT_EFORMAT;
    }
    if (!json_is_object(root)) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: header is not a JSON object", fn);
        goto out;
    }
    uint64_t data_start = 8 + n, data_len = f->len - data_start;
    size_t cap = json_object_size(root);
    f->t = vt_calloc(cap ? cap : 1, sizeof *f->t);
    if (!f->t) {
        rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", fn);
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                rc = vt_error_set(err, VT_EFORMAT, key, "%s: __metadata__ is not an object", fn);
                goto out;
            }
            f->meta = vt_calloc(json_object_size(v) * 2 + 1, sizeof *f->meta);
            if (!f->meta) {
                rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", fn);
                goto out;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv))
                    continue;
                f->meta[f->nmeta * 2] = vt_strdup(mk);
                f->meta[f->nmeta * 2 + 1] = vt_strdup(json_string_value(mv));
                f->nmeta++;
                if (!f->meta[f->nmeta * 2 - 2] || !f->meta[f->nmeta * 2 - 1]) {
                    rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", fn);
                    goto out;
                }
            }
            continue;
        }
        struct vt_st_tensor *t = &f->t[f->count];
        t->name = vt_strdup(key);
        if (!t->name) {
            rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", fn);
            goto out;
        }
        f->count++;
        rc = parse_tensor(f, key, v, data_start, data_len, t, err);
        if (rc)
            goto out;
    }
    /* Overlap check: sort by start; each tensor must end before the next. */
    order = vt_calloc(f->count ? f->count : 1, sizeof *order);
    if (!order) {
        rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", fn);
        goto out;
    }
    for (size_t i = 0; i < f->count; i++)
        order[i] = &f->t[i];
    qsort(order, f->count, sizeof *order, cmp_begin);
    for (size_t i = 1; i < f->count; i++) {
        const struct vt_st_tensor *a = order[i - 1], *b = order[i];
        if (a->nbytes && b->nbytes && a->file_offset + a->nbytes > b->file_offset) {
            rc = vt_error_set(err, VT_EFORMAT, b->name,
                              "%s: tensors '%s' and '%s' overlap in the data section", fn,
                              a->name, b->name);
            if (err)
                err->offset = (int64_t)b->file_offset;
            goto out;
        }
    }
out:
    vt_free(order);
    json_decref(root);
    return rc;
}

int vt_st_open_mem(const void *data, size_t len, const char *name, struct vt_st **out,
                   struct vt_error *err)
{
    *out = NULL;
    struct vt_st *f = vt_calloc(1, sizeof *f);
    if (!f)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    f->base = data;
    f->len = len;
    f->name = vt_strdup(name ? name : "safetensors");
    if (!f->name) {
        vt_free(f);
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    }
    int rc = parse(f, err);
    if (rc) {
        vt_st_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int vt_st_open(const char *path, struct vt_st **out, struct vt_error *err)
{
    *out = NULL;
    const char *fn = base_name(path);
    struct vt_mapfile map;
    int rc = vt_mapfile_open(path, &map, err);
    if (rc)
        return rc;
    if (map.len < 8) {
        rc = vt_error_set(err, VT_EFORMAT, "",
                          "%s: truncated: %zu bytes, the 8-byte header length is missing", fn,
                          map.len);
        goto out;
    }
    if ((rc = vt_st_open_mem(map.data, map.len, fn, out, err)))
        goto out;
    (*out)->map = map;
    return 0;
out:
    vt_mapfile_close(&map);
    return rc;
}

void vt_st_free(struct vt_st *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++)
        vt_free((char *)f->t[i].name);
    vt_free(f->t);
    for (size_t i = 0; i < f->nmeta * 2; i++)
        vt_free(f->meta[i]);
    vt_free(f->meta);
    vt_mapfile_close(&f->map);
    vt_free(f->name);
    vt_free(f);
}

size_t vt_st_count(const struct vt_st *f)
{
    return f->count;
}

const struct vt_st_tensor *vt_st_at(const struct vt_st *f, size_t i)
{
    return i < f->count ? &f->t[i] : NULL;
}

const struct vt_st_tensor *vt_st_find(const struct vt_st *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i];
    return NULL;
}

const char *vt_st_meta(const struct vt_st *f, const char *key)
{
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i * 2], key) == 0)
            return f->meta[i * 2 + 1];
    return NULL;
}

const void *vt_st_bytes(const struct vt_st *f, size_t *len)
{
    *len = f->len;
    return f->base;
}

int vt_st_to_f32(const struct vt_st *f, const struct vt_st_tensor *t, float *out,
                 struct vt_error *err)
{
    /* The mapping is only byte-aligned: convert through small aligned chunks. */
    uint16_t h[256];
    const uint8_t *src = t->data;
    switch (t->dtype) {
    case VT_ST_F32:
        memcpy(out, src, t->nbytes);
        return 0;
    case VT_ST_F16:
    case VT_ST_BF16:
        for (uint64_t i = 0; i < t->numel; i += 256) {
            size_t n = (size_t)(t->numel - i < 256 ? t->numel - i : 256);
            memcpy(h, src + i * 2, n * 2);
            if (t->dtype == VT_ST_F16)
                vt_f16_to_f32(h, out + i, n);
            else
                vt_bf16_to_f32(h, out + i, n);
        }
        return 0;
    default:
        return vt_error_set(err, VT_EFORMAT, t->name,
                            "%s: tensor '%s' is %s; only F32, F16 and BF16 weights can be read",
                            f->name, t->name, t->dtype_name);
    }
}
