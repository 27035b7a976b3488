/*
 * gguf.h - reader for GGUF model files (versions 2 and 3), the format the
 * llama.cpp tools write, including their BERT embedding models.
 *
 * The file is memory-mapped. Metadata values and tensor data point into the
 * mapping and live as long as the struct vt_gguf; keys and tensor names are
 * NUL-terminated copies. Every count, length and offset is checked against
 * the file size before anything is allocated for it, so a hostile file
 * costs at most memory proportional to its size. A file that opens can be
 * read without further bounds checks.
 *
 * Errors (VT_EIO, VT_EFORMAT, VT_ENOMEM) name the file, the key or tensor,
 * and the byte offset. A loaded file is read-only and may be shared between
 * threads. Assumes a little-endian host, as the format does.
 */
#ifndef VT_NN_GGUF_H
#define VT_NN_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum vt_gguf_vtype {
    VT_GGUF_U8 = 0, VT_GGUF_I8 = 1, VT_GGUF_U16 = 2, VT_GGUF_I16 = 3,
    VT_GGUF_U32 = 4, VT_GGUF_I32 = 5, VT_GGUF_F32 = 6, VT_GGUF_BOOL = 7,
    VT_GGUF_STRING = 8, VT_GGUF_ARRAY = 9, VT_GGUF_U64 = 10, VT_GGUF_I64 = 11,
    VT_GGUF_F64 = 12
};

/* Tensor element types this reader can size (ggml's numbering). */
enum vt_ggml_type {
    VT_GGML_F32 = 0, VT_GGML_F16 = 1, VT_GGML_Q4_0 = 2, VT_GGML_Q4_1 = 3,
    VT_GGML_Q5_0 = 6, VT_GGML_Q5_1 = 7, VT_GGML_Q8_0 = 8, VT_GGML_Q8_1 = 9,
    VT_GGML_Q2_K = 10, VT_GGML_Q3_K = 11, VT_GGML_Q4_K = 12, VT_GGML_Q5_K = 13,
    VT_GGML_Q6_K = 14, VT_GGML_Q8_K = 15, VT_GGML_I8 = 24, VT_GGML_I16 = 25,
    VT_GGML_I32 = 26, VT_GGML_I64 = 27, VT_GGML_F64 = 28, VT_GGML_BF16 = 30
};

#define VT_GGUF_MAX_DIMS 4
#define VT_GGUF_MAX_NAME 4096        /* longest key or tensor name accepted */
#define VT_GGUF_DEFAULT_ALIGNMENT 32

/* A string inside the mapping: not NUL-terminated, may hold any bytes. */
struct vt_gguf_str {
    const char *p;
    size_t len;
};

struct vt_gguf_kv {
    const char *key;
    enum vt_gguf_vtype type;
    /* scalars, widened; the member matching the type is set */
    uint64_t u;
    int64_t i;
    double f;
    struct vt_gguf_str s;
    /* arrays */
    enum vt_gguf_vtype arr_type;
    uint64_t arr_count;
    const uint8_t *arr_data;           /* first element, in the mapping */
    struct vt_gguf_str *arr_strs;      /* for arrays of strings */
};

struct vt_gguf_tensor {
    const char *name;
    enum vt_ggml_type type;
    uint32_t ndim;
    uint64_t ne[VT_GGUF_MAX_DIMS];     /* ne[0] varies fastest; unused dims are 1 */
    uint64_t numel;
    const void *data;                  /* into the mapping, aligned as the file says */
    size_t nbytes;
    uint64_t file_offset;
};

struct vt_gguf;

int vt_gguf_open(const char *path, struct vt_gguf **out, struct vt_error *err);
/* Over bytes the caller keeps alive until vt_gguf_free; name is for messages. */
int vt_gguf_open_mem(const void *data, size_t len, const char *name, struct vt_gguf **out,
                     struct vt_error *err);
void vt_gguf_free(struct vt_gguf *g);

uint32_t vt_gguf_version(const struct vt_gguf *g);
size_t vt_gguf_kv_count(const struct vt_gguf *g);
const struct vt_gguf_kv *vt_gguf_kv_at(const struct vt_gguf *g, size_t i);
const struct vt_gguf_kv *vt_gguf_find(const struct vt_gguf *g, const char *key);

/* Typed reads. 0, VT_ENOTFOUND when absent, VT_EFORMAT when the value has
 * another type or does not fit (with err naming the key). */
int vt_gguf_get_uint(const struct vt_gguf *g, const char *key, uint64_t *out,
                     struct vt_error *err);
int vt_gguf_get_float(const struct vt_gguf *g, const char *key, double *out,
                      struct vt_error *err);
int vt_gguf_get_bool(const struct vt_gguf *g, const char *key, int *out, struct vt_error *err);
int vt_gguf_get_str(const struct vt_gguf *g, const char *key, struct vt_gguf_str *out,
                    struct vt_error *err);
/* Equality of a string value with a C string (0 when absent or not a string). */
int vt_gguf_str_is(const struct vt_gguf *g, const char *key, const char *value);

size_t vt_gguf_tensor_count(const struct vt_gguf *g);
const struct vt_gguf_tensor *vt_gguf_tensor_at(const struct vt_gguf *g, size_t i);
const struct vt_gguf_tensor *vt_gguf_find_tensor(const struct vt_gguf *g, const char *name);
/* Convert an F32, F16, BF16 or Q8_0 tensor into out[t->numel]. */
int vt_gguf_to_f32(const struct vt_gguf *g, const struct vt_gguf_tensor *t, float *out,
                   struct vt_error *err);
/* The whole file, e.g. to hash it. */
const void *vt_gguf_bytes(const struct vt_gguf *g, size_t *len);
/* Name of a tensor type ("F16", "Q8_0"), "?" when unknown. */
const char *vt_ggml_type_name(uint32_t type);

#endif
