/*
 * tfjs.c - TensorFlow.js graph-model reader (format described in tfjs.h).
 *
 * Parsing happens in three passes over model.json: the graph's nodes (kept
 * as pointers into the JSON document, which stays alive with the model),
 * then for each weight group the manifest (dtype, shape, byte size, each
 * product overflow-checked), then the shards: their sizes are compared with
 * what the manifest declares before anything is allocated, so a manifest
 * that claims gigabytes cannot make us allocate them. Weights are decoded
 * in place when they are float32/int32 at 4-byte-aligned offsets and copied
 * otherwise.
 */
#include "nn/tfjs.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tfjs.c decodes little-endian weight shards in place; port the decoder first"
#endif

struct tfjs_priv {
    json_t *root;
    const char **inputs;   /* all nodes' input names, one pool */
    void **bufs;           /* group buffers and decoded copies */
    size_t n_bufs, cap_bufs;
};

static int keep_buf(struct tfjs_priv *p, void *buf)
{
    if (p->n_bufs == p->cap_bufs) {
        size_t cap = p->cap_bufs ? p->cap_bufs * 2 : 16;
        void **nb = vt_realloc(p->bufs, cap * sizeof *nb);
        if (!nb)
            return VT_ENOMEM;
        p->bufs = nb;
        p->cap_bufs = cap;
    }
    p->bufs[p->n_bufs++] = buf;
    return 0;
}

void vt_tfjs_free(struct vt_tfjs_model *m)
{
    if (!m)
        return;
    struct tfjs_priv *p = m->priv;
    if (p) {
        for (size_t i = 0; i < p->n_bufs; i++)
            vt_free(p->bufs[i]);
        vt_free(p->bufs);
        vt_free(p->inputs);
        json_decref(p->root);
        vt_free(p);
    }
    vt_free(m->nodes);
    vt_free(m->weights);
    vt_free(m);
}

const char *vt_tfjs_dtype_name(enum vt_tfjs_dtype t)
{
    switch (t) {
    case VT_TFJS_FLOAT32: return "float32";
    case VT_TFJS_INT32: return "int32";
    case VT_TFJS_BOOL: return "bool";
    }
    return "?";
}

void vt_tfjs_shape_format(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "",
                                 (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* ---- the graph ---------------------------------------------------------- */

static int parse_nodes(struct vt_tfjs_model *m, struct tfjs_priv *p, json_t *topo,
                       const char *label, struct vt_error *err)
{
    json_t *nodes = json_object_get(topo, "node");
    if (!json_is_array(nodes))
        return vt_error_set(err, VT_EFORMAT, "modelTopology.node",
                            "%s: modelTopology has no \"node\" array (only TF.js graph models "
                            "are supported, not layers models)",
                            label);
    size_t n = json_array_size(nodes);
    if (n > VT_TFJS_MAX_NODES)
        return vt_error_set(err, VT_ETOOBIG, "modelTopology.node",
                            "%s: %zu graph nodes, over the limit of %d", label, n,
                            VT_TFJS_MAX_NODES);
    size_t total_inputs = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *nd = json_array_get(nodes, i);
        json_t *name = json_object_get(nd, "name"), *op = json_object_get(nd, "op");
        json_t *in = json_object_get(nd, "input"), *attr = json_object_get(nd, "attr");
        if (!json_is_object(nd) || !json_is_string(name) || !json_is_string(op))
            return vt_error_set(err, VT_EFORMAT, "modelTopology.node",
                                "%s: modelTopology.node[%zu] lacks a string \"name\" or \"op\"",
                                label, i);
        if (in && !json_is_array(in))
            return vt_error_set(err, VT_EFORMAT, "modelTopology.node",
                                "%s: node '%s': \"input\" is not an array", label,
                                json_string_value(name));
        if (attr && !json_is_object(attr))
            return vt_error_set(err, VT_EFORMAT, "modelTopology.node",
                                "%s: node '%s': \"attr\" is not an object", label,
                                json_string_value(name));
        size_t k = json_array_size(in);
        for (size_t j = 0; j < k; j++)
            if (!json_is_string(json_array_get(in, j)))
                return vt_error_set(err, VT_EFORMAT, "modelTopology.node",
                                    "%s: node '%s': input %zu is not a string", label,
                                    json_string_value(name), j);
        total_inputs += k; /* each input is its own JSON value: no overflow */
    }
    m->nodes = vt_calloc(n ? n : 1, sizeof *m->nodes);
    p->inputs = vt_calloc(total_inputs ? total_inputs : 1, sizeof *p->inputs);
    if (!m->nodes || !p->inputs)
        return vt_error_set(err, VT_ENOMEM, "", "%s: out of memory for %zu nodes", label, n);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *nd = json_array_get(nodes, i);
        json_t *in = json_object_get(nd, "input");
        struct vt_tfjs_node *node = &m->nodes[i];
        node->name = json_string_value(json_object_get(nd, "name"));
        node->op = json_string_value(json_object_get(nd, "op"));
        node->attr = json_object_get(nd, "attr");
        node->inputs = p->inputs + at;
        node->n_inputs = json_array_size(in);
        for (size_t j = 0; j < node->n_inputs; j++)
            p->inputs[at++] = json_string_value(json_array_get(in, j));
    }
    m->n_nodes = n;
    return 0;
}

/* ---- the weights -------------------------------------------------------- */

enum stored { ST_F32, ST_I32, ST_BOOL, ST_U8, ST_U16, ST_F16 };

struct wspec {
    enum stored st;
    size_t nbytes;
    double scale, min;
};

static int safe_path(const char *s)
{
    if (!*s || *s == '/' || strchr(s, '\\'))
        return 0;
    const char *c = s;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0 || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += n;
        if (*c == '/')
            c++;
    }
    return 1;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Reads one manifest entry's dtype, shape and quantisation into w and s. */
static int parse_weight_spec(json_t *js, size_t g, size_t j, const char *label,
                             struct vt_tfjs_weight *w, struct wspec *s, struct vt_error *err)
{
    json_t *name = json_object_get(js, "name"), *shape = json_object_get(js, "shape");
    json_t *dtype = json_object_get(js, "dtype"), *q = json_object_get(js, "quantization");
    if (!json_is_object(js) || !json_is_string(name))
        return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                            "%s: weightsManifest[%zu].weights[%zu] has no string \"name\"", label,
                            g, j);
    w->name = json_string_value(name);
    if (!json_is_string(dtype))
        return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                            "%s: weight '%s' has no string \"dtype\"", label, w->name);
    const char *dt = json_string_value(dtype);
    if (strcmp(dt, "float32") == 0)
        w->dtype = VT_TFJS_FLOAT32, s->st = ST_F32;
    else if (strcmp(dt, "int32") == 0)
        w->dtype = VT_TFJS_INT32, s->st = ST_I32;
    else if (strcmp(dt, "bool") == 0)
        w->dtype = VT_TFJS_BOOL, s->st = ST_BOOL;
    else
        return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                            "%s: weight '%s' has dtype '%.40s'; supported: float32, int32, bool",
                            label, w->name, dt);
    w->stored_as = vt_tfjs_dtype_name(w->dtype);
    if (!json_is_array(shape) || json_array_size(shape) > VT_TFJS_MAX_DIMS)
        return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                            "%s: weight '%s': \"shape\" must be an array of at most %d sizes",
                            label, w->name, VT_TFJS_MAX_DIMS);
    w->ndim = (int)json_array_size(shape);
    size_t count = 1;
    for (int d = 0; d < w->ndim; d++) {
        json_t *v = json_array_get(shape, (size_t)d);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                                "%s: weight '%s': shape[%d] is not a size", label, w->name, d);
        w->shape[d] = (int64_t)json_integer_value(v);
        if ((uint64_t)w->shape[d] > SIZE_MAX || vt_mul_size(count, (size_t)w->shape[d], &count))
            return vt_error_set(err, VT_ETOOBIG, "weightsManifest",
                                "%s: weight '%s': shape overflows", label, w->name);
    }
    w->count = count;
    size_t esize = s->st == ST_BOOL ? 1 : 4;
    s->scale = 1, s->min = 0;
    if (q) {
        json_t *qd = json_object_get(q, "dtype");
        const char *qs = json_is_string(qd) ? json_string_value(qd) : "";
        if (!json_is_object(q) || !json_is_string(qd))
            return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                                "%s: weight '%s': \"quantization\" has no string \"dtype\"", label,
                                w->name);
        if (strcmp(qs, "uint8") == 0 || strcmp(qs, "uint16") == 0) {
            json_t *sc = json_object_get(q, "scale"), *mn = json_object_get(q, "min");
            if (!json_is_number(sc) || !json_is_number(mn))
                return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                                    "%s: weight '%s': %s quantization needs numbers \"scale\" "
                                    "and \"min\"",
                                    label, w->name, qs);
            s->scale = json_number_value(sc);
            s->min = json_number_value(mn);
            s->st = qs[4] == '8' ? ST_U8 : ST_U16;
            esize = s->st == ST_U8 ? 1 : 2;
        } else if (strcmp(qs, "float16") == 0) {
            s->st = ST_F16;
            esize = 2;
        } else {
            return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                                "%s: weight '%s' has quantization dtype '%.40s'; supported: "
                                "uint8, uint16, float16",
                                label, w->name, qs);
        }
        if (w->dtype == VT_TFJS_BOOL || (s->st == ST_F16 && w->dtype != VT_TFJS_FLOAT32))
            return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                                "%s: weight '%s': %s cannot be quantised as %s", label, w->name,
                                dt, qs);
        w->stored_as = s->st == ST_U8 ? "uint8" : s->st == ST_U16 ? "uint16" : "float16";
    }
    if (vt_mul_size(count, esize, &s->nbytes))
        return vt_error_set(err, VT_ETOOBIG, "weightsManifest",
                            "%s: weight '%s': byte size overflows", label, w->name);
    return 0;
}

/* Decodes w from its stored bytes at base (alignment-safe). */
static int decode_weight(struct tfjs_priv *p, struct vt_tfjs_weight *w, const struct wspec *s,
                         unsigned char *base)
{
    if ((s->st == ST_F32 || s->st == ST_I32) && ((uintptr_t)base % 4) == 0) {
        w->data = base;
        return 0;
    }
    if (s->st == ST_BOOL) {
        w->data = base;
        return 0;
    }
    size_t out_size = 4, bytes;
    if (vt_mul_size(w->count ? w->count : 1, out_size, &bytes))
        return VT_ENOMEM;
    unsigned char *dst = vt_malloc(bytes);
    if (!dst || keep_buf(p, dst)) {
        vt_free(dst);
        return VT_ENOMEM;
    }
    for (size_t i = 0; i < w->count; i++) {
        if (s->st == ST_F32 || s->st == ST_I32) {
            memcpy(dst + i * 4, base + i * 4, 4);
        } else if (s->st == ST_F16) {
            uint16_t h;
            memcpy(&h, base + i * 2, 2);
            float f = half_to_float(h);
            memcpy(dst + i * 4, &f, 4);
        } else {
            double q;
            if (s->st == ST_U8) {
                q = base[i];
            } else {
                uint16_t u;
                memcpy(&u, base + i * 2, 2);
                q = u;
            }
            double v = q * s->scale + s->min;
            if (w->dtype == VT_TFJS_INT32) {
                double r = round(v);
                int32_t iv = r >= 2147483647.0 ? INT32_MAX : r <= -2147483648.0 ? INT32_MIN
                                                                                 : (int32_t)r;
                memcpy(dst + i * 4, &iv, 4);
            } else {
                float f = (float)v;
                memcpy(dst + i * 4, &f, 4);
            }
        }
    }
    w->data = dst;
    return 0;
}

/* Explains a mismatch between the shards' sizes and the manifest's total.
 * The converter cuts a group into shards of one size S except the last, so
 * the shard that deviates from that layout is the one to name. */
static int shard_mismatch(const char *label, size_t g, json_t *paths, const uint64_t *sizes,
                          size_t k, uint64_t total, uint64_t want, struct vt_error *err)
{
    uint64_t S = 0;
    for (size_t i = 0; i + 1 < k; i++)
        S = sizes[i] > S ? sizes[i] : S;
    uint64_t head = 0;
    int layout_ok = k == 1 || (S != 0 && S <= want / (k - 1));
    if (layout_ok && k > 1) {
        head = S * (k - 1);
        layout_ok = want > head && want - head <= S;
    }
    if (layout_ok) {
        for (size_t i = 0; i < k; i++) {
            uint64_t exp = i + 1 < k ? S : want - head;
            if (sizes[i] == exp)
                continue;
            const char *name = base_name(json_string_value(json_array_get(paths, i)));
            if (sizes[i] < exp)
                return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                                    "%s: %s is %llu bytes short of what the manifest declares "
                                    "(%llu of %llu bytes for weight group %zu)",
                                    label, name, (unsigned long long)(exp - sizes[i]),
                                    (unsigned long long)total, (unsigned long long)want, g);
            return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                                "%s: %s is %llu bytes longer than the manifest declares "
                                "(%llu of %llu bytes for weight group %zu)",
                                label, name, (unsigned long long)(sizes[i] - exp),
                                (unsigned long long)total, (unsigned long long)want, g);
        }
    }
    return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                        "%s: the %zu shards of weight group %zu hold %llu bytes but the "
                        "manifest declares %llu",
                        label, k, g, (unsigned long long)total, (unsigned long long)want);
}

static int parse_group(struct vt_tfjs_model *m, struct tfjs_priv *p, json_t *grp, size_t g,
                       size_t first, const char *label, const struct vt_tfjs_source *src,
                       struct vt_error *err)
{
    json_t *paths = json_object_get(grp, "paths"), *ws = json_object_get(grp, "weights");
    size_t nw = json_array_size(ws), k = json_array_size(paths);
    uint64_t *sizes = NULL;
    struct wspec *specs = NULL;
    int rc = 0;

    specs = vt_calloc(nw ? nw : 1, sizeof *specs);
    sizes = vt_calloc(k ? k : 1, sizeof *sizes);
    if (!specs || !sizes) {
        rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", label);
        goto out;
    }
    uint64_t want = 0;
    for (size_t j = 0; j < nw; j++) {
        struct vt_tfjs_weight *w = &m->weights[first + j];
        rc = parse_weight_spec(json_array_get(ws, j), g, j, label, w, &specs[j], err);
        if (rc)
            goto out;
        w->group = g;
        w->offset = (size_t)want;
        if (specs[j].nbytes > VT_TFJS_MAX_WEIGHT_BYTES - want) {
            rc = vt_error_set(err, VT_ETOOBIG, "weightsManifest",
                              "%s: weight group %zu declares more than %llu bytes", label, g,
                              (unsigned long long)VT_TFJS_MAX_WEIGHT_BYTES);
            goto out;
        }
        want += specs[j].nbytes;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < k; i++) {
        const char *path = json_string_value(json_array_get(paths, i));
        if (!path || !safe_path(path)) {
            rc = vt_error_set(err, VT_EFORMAT, "weightsManifest",
                              "%s: weightsManifest[%zu].paths[%zu] is not a plain relative "
                              "file name",
                              label, g, i);
            goto out;
        }
        rc = src->size(src->ctx, path, &sizes[i], err);
        if (rc)
            goto out;
        if (sizes[i] > VT_TFJS_MAX_WEIGHT_BYTES - total) {
            rc = vt_error_set(err, VT_ETOOBIG, "weightsManifest",
                              "%s: the shards of weight group %zu hold more than %llu bytes",
                              label, g, (unsigned long long)VT_TFJS_MAX_WEIGHT_BYTES);
            goto out;
        }
        total += sizes[i];
    }
    if (total != want) {
        rc = shard_mismatch(label, g, paths, sizes, k, total, want, err);
        goto out;
    }
    if (want == 0)
        goto out;
    unsigned char *buf = vt_malloc((size_t)want);
    if (!buf || keep_buf(p, buf)) {
        vt_free(buf);
        rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory for %llu bytes of weights",
                          label, (unsigned long long)want);
        goto out;
    }
    size_t at = 0;
    for (size_t i = 0; i < k; i++) {
        rc = src->read(src->ctx, json_string_value(json_array_get(paths, i)), buf + at,
                       (size_t)sizes[i], err);
        if (rc)
            goto out;
        at += (size_t)sizes[i];
    }
    for (size_t j = 0; j < nw; j++) {
        struct vt_tfjs_weight *w = &m->weights[first + j];
        if (decode_weight(p, w, &specs[j], buf + w->offset)) {
            rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory decoding '%s'", label,
                              w->name);
            goto out;
        }
    }
out:
    vt_free(specs);
    vt_free(sizes);
    return rc;
}

static int parse_manifest(struct vt_tfjs_model *m, struct tfjs_priv *p, json_t *man,
                          const char *label, const struct vt_tfjs_source *src,
                          struct vt_error *err)
{
    if (!json_is_array(man))
        return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                            "%s: \"weightsManifest\" is missing or not an array", label);
    size_t ng = json_array_size(man), nw = 0;
    for (size_t g = 0; g < ng; g++) {
        json_t *grp = json_array_get(man, g);
        json_t *paths = json_object_get(grp, "paths"), *ws = json_object_get(grp, "weights");
        if (!json_is_object(grp) || !json_is_array(paths) || !json_is_array(ws))
            return vt_error_set(err, VT_EFORMAT, "weightsManifest",
                                "%s: weightsManifest[%zu] needs arrays \"paths\" and \"weights\"",
                                label, g);
        nw += json_array_size(ws);
    }
    m->weights = vt_calloc(nw ? nw : 1, sizeof *m->weights);
    if (!m->weights)
        return vt_error_set(err, VT_ENOMEM, "", "%s: out of memory for %zu weights", label, nw);
    m->n_weights = nw;
    size_t first = 0;
    for (size_t g = 0; g < ng; g++) {
        json_t *grp = json_array_get(man, g);
        int rc = parse_group(m, p, grp, g, first, label, src, err);
        if (rc)
            return rc;
        first += json_array_size(json_object_get(grp, "weights"));
    }
    return 0;
}

int vt_tfjs_parse(const char *json, size_t len, const char *label,
                  const struct vt_tfjs_source *src, struct vt_tfjs_model **out,
                  struct vt_error *err)
{
    *out = NULL;
    label = label ? label : "model.json";
    if (len > VT_TFJS_MAX_JSON_BYTES)
        return vt_error_set(err, VT_ETOOBIG, "", "%s: %zu bytes, over the limit of %zu", label,
                            len, VT_TFJS_MAX_JSON_BYTES);
    struct vt_tfjs_model *m = vt_calloc(1, sizeof *m);
    struct tfjs_priv *p = vt_calloc(1, sizeof *p);
    if (!m || !p) {
        vt_free(m);
        vt_free(p);
        return vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", label);
    }
    m->priv = p;
    json_error_t jerr;
    int rc;
    p->root = json_loadb(json, len, 0, &jerr);
    if (!p->root) {
        rc = vt_error_set(err, VT_EPARSE, "", "%s: bad JSON at line %d, column %d: %s", label,
                          jerr.line, jerr.column, jerr.text);
        if (err) {
            err->offset = jerr.position;
            err->line = jerr.line;
            err->column = jerr.column;
        }
        goto fail;
    }
    if (!json_is_object(p->root)) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: not a JSON object", label);
        goto fail;
    }
    json_t *topo = json_object_get(p->root, "modelTopology");
    if (!json_is_object(topo)) {
        rc = vt_error_set(err, VT_EFORMAT, "modelTopology",
                          "%s: \"modelTopology\" is missing or not an object", label);
        goto fail;
    }
    rc = parse_nodes(m, p, topo, label, err);
    if (rc)
        goto fail;
    rc = parse_manifest(m, p, json_object_get(p->root, "weightsManifest"), label, src, err);
    if (rc)
        goto fail;
    *out = m;
    return 0;
fail:
    vt_tfjs_free(m);
    return rc;
}

/* ---- shards from a folder ----------------------------------------------- */

struct dir_ctx {
    const char *dir;
};

static int join(const char *dir, const char *name, char *buf, size_t size, struct vt_error *err)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        return vt_error_set(err, VT_EINVAL, "", "%s/%s: path too long", dir, name);
    return 0;
}

static int dir_size(void *ctx, const char *path, uint64_t *size, struct vt_error *err)
{
    struct dir_ctx *d = ctx;
    char full[4096];
    struct stat st;
    int rc = join(d->dir, path, full, sizeof full, err);
    if (rc)
        return rc;
    if (stat(full, &st) != 0)
        return vt_error_set(err, VT_EIO, "", "%s: weight shard missing: %s", full,
                            strerror(errno));
    if (!S_ISREG(st.st_mode))
        return vt_error_set(err, VT_EIO, "", "%s: weight shard is not a regular file", full);
    *size = (uint64_t)st.st_size;
    return 0;
}

static int dir_read(void *ctx, const char *path, void *dst, size_t n, struct vt_error *err)
{
    struct dir_ctx *d = ctx;
    char full[4096];
    int rc = join(d->dir, path, full, sizeof full, err);
    if (rc)
        return rc;
    FILE *f = fopen(full, "rb");
    if (!f)
        return vt_error_set(err, VT_EIO, "", "%s: cannot open: %s", full, strerror(errno));
    size_t got = fread(dst, 1, n, f);
    int extra = got == n ? fgetc(f) : EOF;
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n || extra != EOF)
        return vt_error_set(err, VT_EIO, "", "%s: changed size while being read", full);
    return 0;
}

static int read_file(const char *path, char **data, size_t *len, size_t max, struct vt_error *err)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vt_error_set(err, VT_EIO, "", "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return vt_error_set(err, VT_EIO, "", "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        fclose(f);
        return vt_error_set(err, VT_ETOOBIG, "", "%s: %lld bytes, over the limit of %zu", path,
                            (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size;
    char *buf = vt_malloc(n + 1);
    if (!buf) {
        fclose(f);
        return vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        vt_free(buf);
        return vt_error_set(err, VT_EIO, "", "%s: short read", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int vt_tfjs_load(const char *dir, struct vt_tfjs_model **out, struct vt_error *err)
{
    char path[4096];
    char *json;
    size_t len = 0;
    *out = NULL;
    int rc = join(dir, "model.json", path, sizeof path, err);
    if (rc)
        return rc;
    rc = read_file(path, &json, &len, VT_TFJS_MAX_JSON_BYTES, err);
    if (rc)
        return rc;
    struct dir_ctx ctx = {dir};
    struct vt_tfjs_source src = {dir_size, dir_read, &ctx};
    rc = vt_tfjs_parse(json, len, path, &src, out, err);
    vt_free(json);
    return rc;
}

/* ---- lookups and attributes --------------------------------------------- */

const struct vt_tfjs_weight *vt_tfjs_weight_find(const struct vt_tfjs_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_weights; i++)
        if (strcmp(m->weights[i].name, name) == 0)
            return &m->weights[i];
    return NULL;
}

const struct vt_tfjs_node *vt_tfjs_node_find(const struct vt_tfjs_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return &m->nodes[i];
    return NULL;
}

static json_t *attr_get(const struct vt_tfjs_node *n, const char *key, const char *kind)
{
    json_t *a = json_object_get((const json_t *)n->attr, key);
    return json_is_object(a) ? json_object_get(a, kind) : NULL;
}

static int attr_present(const struct vt_tfjs_node *n, const char *key)
{
    return json_object_get((const json_t *)n->attr, key) != NULL;
}

/* int64 values arrive as JSON strings ("1") or numbers. */
static int json_to_i64(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno || end == s || *end)
            return VT_EFORMAT;
        *out = x;
        return 0;
    }
    return VT_EFORMAT;
}

int vt_tfjs_attr_int(const struct vt_tfjs_node *n, const char *key, int64_t *out)
{
    json_t *v = attr_get(n, key, "i");
    if (!v)
        return attr_present(n, key) ? VT_EFORMAT : VT_ENOTFOUND;
    return json_to_i64(v, out);
}

int vt_tfjs_attr_type(const struct vt_tfjs_node *n, const char *key, int64_t *out)
{
    json_t *v = attr_get(n, key, "type");
    if (!v)
        return attr_present(n, key) ? VT_EFORMAT : VT_ENOTFOUND;
    return json_to_i64(v, out);
}

int vt_tfjs_attr_float(const struct vt_tfjs_node *n, const char *key, double *out)
{
    json_t *v = attr_get(n, key, "f");
    if (!v)
        return attr_present(n, key) ? VT_EFORMAT : VT_ENOTFOUND;
    if (!json_is_number(v))
        return VT_EFORMAT;
    *out = json_number_value(v);
    return 0;
}

int vt_tfjs_attr_bool(const struct vt_tfjs_node *n, const char *key, int *out)
{
    json_t *v = attr_get(n, key, "b");
    if (!v)
        return attr_present(n, key) ? VT_EFORMAT : VT_ENOTFOUND;
    if (!json_is_boolean(v))
        return VT_EFORMAT;
    *out = json_is_true(v);
    return 0;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int vt_tfjs_attr_str(const struct vt_tfjs_node *n, const char *key, char *buf, size_t size)
{
    json_t *v = attr_get(n, key, "s");
    size_t at = 0;
    int full = 0;
    if (!v)
        return attr_present(n, key) ? VT_EFORMAT : VT_ENOTFOUND;
    if (size == 0)
        return VT_ETOOBIG;
    if (json_is_array(v)) { /* a list of byte values */
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *b = json_array_get(v, i);
            if (!json_is_integer(b) || json_integer_value(b) < 0 || json_integer_value(b) > 255)
                return VT_EFORMAT;
            if (at + 1 < size)
                buf[at++] = (char)json_integer_value(b);
            else
                full = 1;
        }
    } else if (json_is_string(v)) { /* base64 */
        const char *s = json_string_value(v);
        uint32_t acc = 0;
        int bits = 0;
        for (; *s && *s != '='; s++) {
            int d = b64_value((unsigned char)*s);
            if (d < 0)
                return VT_EFORMAT;
            acc = (acc << 6) | (uint32_t)d;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                if (at + 1 < size)
                    buf[at++] = (char)((acc >> bits) & 0xff);
                else
                    full = 1;
            }
        }
    } else {
        return VT_EFORMAT;
    }
    buf[at] = '\0';
    return full ? VT_ETOOBIG : 0;
}

int vt_tfjs_attr_ints(const struct vt_tfjs_node *n, const char *key, int64_t *vals, size_t cap,
                      size_t *count)
{
    json_t *l = attr_get(n, key, "list");
    if (!l)
        return attr_present(n, key) ? VT_EFORMAT : VT_ENOTFOUND;
    json_t *is = json_object_get(l, "i");
    if (!is) {
        *count = 0;
        return 0;
    }
    if (!json_is_array(is))
        return VT_EFORMAT;
    *count = json_array_size(is);
    for (size_t i = 0; i < *count && i < cap; i++)
        if (json_to_i64(json_array_get(is, i), &vals[i]))
            return VT_EFORMAT;
    return 0;
}
