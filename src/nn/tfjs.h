/*
 * tfjs.h - reader of TensorFlow.js graph models: model.json plus its binary
 * weight shards.
 *
 * model.json is a JSON object with two members this reader uses:
 *   "modelTopology": a TensorFlow GraphDef as JSON; "node" is an array of
 *       {"name", "op", "input": [names], "attr": {key: AttrValue}}.
 *       Inputs name other nodes, optionally with ":k" for output k, or
 *       "^name" for a control dependency.
 *   "weightsManifest": an array of groups {"paths": [shard files],
 *       "weights": [{"name", "shape": [dims], "dtype", "quantization"?}]}.
 *       A group's shards, concatenated in "paths" order, hold its weights
 *       back to back in "weights" order, little-endian, with no padding:
 *       float32 and int32 take 4 bytes per element, bool 1. A quantised
 *       weight {"quantization": {"dtype": "uint8"|"uint16", "scale", "min"}}
 *       stores q and means q * scale + min (rounded for int32); "float16"
 *       stores IEEE half floats. Every weight is returned decoded.
 * Every size is checked against overflow and against the shard files: a
 * shard that is missing, short or long is an error naming the shard.
 *
 * Ownership: vt_tfjs_load/parse return a model the caller frees with
 * vt_tfjs_free; nodes, weights and their data live until then. A loaded
 * model is read-only and may be shared by threads.
 */
#ifndef VT_NN_TFJS_H
#define VT_NN_TFJS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define VT_TFJS_MAX_DIMS 8
/* Limits on untrusted input. */
#define VT_TFJS_MAX_JSON_BYTES ((size_t)64 << 20)
#define VT_TFJS_MAX_NODES 1000000
#define VT_TFJS_MAX_WEIGHT_BYTES ((uint64_t)8 << 30) /* per group */

enum vt_tfjs_dtype { VT_TFJS_FLOAT32, VT_TFJS_INT32, VT_TFJS_BOOL };

struct vt_tfjs_weight {
    const char *name;
    enum vt_tfjs_dtype dtype;  /* of the decoded data */
    int ndim;
    int64_t shape[VT_TFJS_MAX_DIMS];
    size_t count;              /* elements: product of shape (1 for a scalar) */
    const void *data;          /* count floats, int32_t or uint8_t (bool); aligned */
    const char *stored_as;     /* "float32", "int32", "bool", "uint8", "uint16", "float16" */
    size_t group;              /* index in weightsManifest */
    size_t offset;             /* byte offset in the group's concatenated shards */
};

struct vt_tfjs_node {
    const char *name;
    const char *op;
    const char *const *inputs;
    size_t n_inputs;
    const void *attr;          /* private: the node's "attr" object, may be NULL */
};

struct vt_tfjs_model {
    struct vt_tfjs_node *nodes;
    size_t n_nodes;
    struct vt_tfjs_weight *weights;
    size_t n_weights;
    void *priv;                /* JSON document and buffers */
};

/* Where the shards come from: a folder (vt_tfjs_load) or memory (fuzzing).
 * size() reports a shard's length; read() fills dst with exactly n bytes.
 * Both return 0 or a VT_E* code and fill err. */
struct vt_tfjs_source {
    int (*size)(void *ctx, const char *path, uint64_t *size, struct vt_error *err);
    int (*read)(void *ctx, const char *path, void *dst, size_t n, struct vt_error *err);
    void *ctx;
};

/* Load dir/model.json and the shards it names (paths relative to dir). */
int vt_tfjs_load(const char *dir, struct vt_tfjs_model **out, struct vt_error *err);

/* Parse a model.json held in memory; label prefixes error messages
 * ("model.json"). Shard paths with "..", a leading '/' or a backslash are
 * refused. */
int vt_tfjs_parse(const char *json, size_t len, const char *label,
                  const struct vt_tfjs_source *src, struct vt_tfjs_model **out,
                  struct vt_error *err);

void vt_tfjs_free(struct vt_tfjs_model *m);

/* Lookups by exact name; NULL when absent. Linear in the count. */
const struct vt_tfjs_weight *vt_tfjs_weight_find(const struct vt_tfjs_model *m, const char *name);
const struct vt_tfjs_node *vt_tfjs_node_find(const struct vt_tfjs_model *m, const char *name);

/* Node attributes, as the converter writes them ({"i": "1"}, {"f": 0.5},
 * {"b": true}, {"s": base64 or byte list}, {"type": 1}, {"list": {"i": [..]}}).
 * Each returns 0, VT_ENOTFOUND when the key is absent, or VT_EFORMAT when
 * the value has another kind. */
int vt_tfjs_attr_int(const struct vt_tfjs_node *n, const char *key, int64_t *out);
int vt_tfjs_attr_float(const struct vt_tfjs_node *n, const char *key, double *out);
int vt_tfjs_attr_bool(const struct vt_tfjs_node *n, const char *key, int *out);
int vt_tfjs_attr_type(const struct vt_tfjs_node *n, const char *key, int64_t *out);
/* Copies at most size-1 bytes and a NUL; VT_ETOOBIG if it did not fit. */
int vt_tfjs_attr_str(const struct vt_tfjs_node *n, const char *key, char *buf, size_t size);
/* Fills up to cap values and sets *n to the list's length. */
int vt_tfjs_attr_ints(const struct vt_tfjs_node *n, const char *key, int64_t *vals, size_t cap,
                      size_t *count);

/* "float32" etc.; a shape as "[8002,256]" into buf. */
const char *vt_tfjs_dtype_name(enum vt_tfjs_dtype t);
void vt_tfjs_shape_format(const int64_t *shape, int ndim, char *buf, size_t size);

#endif
