/*
 * safetensors.h - reader for Hugging Face .safetensors weight files.
 *
 * The file is memory-mapped; tensors point into the mapping, so they live
 * as long as the struct vt_st. Every offset and size in the header is
 * checked against the file before any tensor is exposed: a file that opens
 * can be read without further bounds checks. Conversion to float32 covers
 * F32, F16 and BF16; other dtypes (an I64 position_ids buffer, say) are
 * listed but cannot be converted.
 *
 * Errors (VT_EIO, VT_EFORMAT, VT_ENOMEM) name the file and, for header
 * problems, the tensor and the byte offset in the file.
 * A loaded file is read-only and may be shared between threads. Assumes a
 * little-endian host, as the format does.
 */
#ifndef VT_NN_SAFETENSORS_H
#define VT_NN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define VT_ST_MAX_DIMS 8
/* Largest JSON header accepted (the format's own readers use the same cap). */
#define VT_ST_MAX_HEADER (100u << 20)

enum vt_st_dtype {
    VT_ST_F32, VT_ST_F16, VT_ST_BF16, VT_ST_F64,
    VT_ST_I64, VT_ST_I32, VT_ST_I16, VT_ST_I8,
    VT_ST_U64, VT_ST_U32, VT_ST_U16, VT_ST_U8,
    VT_ST_BOOL, VT_ST_F8_E4M3, VT_ST_F8_E5M2
};

struct vt_st_tensor {
    const char *name;
    enum vt_st_dtype dtype;
    const char *dtype_name;        /* as in the file: "F32", "BF16", ... */
    size_t ndim;
    uint64_t shape[VT_ST_MAX_DIMS];
    uint64_t numel;
    const void *data;              /* into the mapping; not aligned */
    size_t nbytes;
    uint64_t file_offset;          /* of the first byte, for messages */
};

struct vt_st;

/* Map and validate path. *out is freed with vt_st_free. */
int vt_st_open(const char *path, struct vt_st **out, struct vt_error *err);
/* Same over bytes the caller keeps alive until vt_st_free; name is used in
 * messages. */
int vt_st_open_mem(const void *data, size_t len, const char *name, struct vt_st **out,
                   struct vt_error *err);
void vt_st_free(struct vt_st *f);

size_t vt_st_count(const struct vt_st *f);
const struct vt_st_tensor *vt_st_at(const struct vt_st *f, size_t i);
/* NULL when absent. */
const struct vt_st_tensor *vt_st_find(const struct vt_st *f, const char *name);
/* A string from "__metadata__", or NULL. */
const char *vt_st_meta(const struct vt_st *f, const char *key);
/* The whole file, e.g. to hash it. */
const void *vt_st_bytes(const struct vt_st *f, size_t *len);

/* Convert t (F32, F16 or BF16) into out[t->numel]. VT_EFORMAT otherwise. */
int vt_st_to_f32(const struct vt_st *f, const struct vt_st_tensor *t, float *out,
                 struct vt_error *err);

#endif
