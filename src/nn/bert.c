/*
 * bert.c - BERT encoder back-end (see bert.h): loading from a Hugging Face
 * folder or a GGUF file, tokenizing, and the encoder operations.
 *
 * Loading reads the hyper-parameters, then every tensor by its logical
 * role through one table that names it in both formats, checks its shape,
 * converts it to float32 and packs the linear layers (Q, K and V are packed
 * as one [3H, H] matrix so the projection is one product). Nothing from
 * the file is kept: the mapping is closed before vt_bert_open returns.
 *
 * BERT (WordPiece) and XLM-RoBERTa (Unigram) differ only in the tokenizer
 * and in how positions are numbered (roberta_pos); the network is one.
 *
 * The forward pass itself is in bert_pass.c; bert_int.h holds the struct
 * both files share.
 *
 * Invariants of a loaded model: hidden % heads == 0; max_tokens <=
 * max_positions (less pad_id + 1 with roberta_pos, so every position row
 * a text can reach exists); every tokenizer id < vocab (rows of the word
 * embeddings).
 */
#include "nn/bert.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/util.h"
#include "nn/gguf.h"
#include "nn/bert_int.h"
#include "nn/kernels.h"
#include "nn/safetensors.h"
#include "text/unigram.h"
#include "text/wordpiece.h"

#define MAX_HIDDEN 16384
#define MAX_LAYERS 256
#define MAX_INTER 65536
#define MAX_POSITIONS 65536
#define MAX_TYPES 1024

static const char *const pool_names[] = {"mean", "cls", "max", "last"};

/* ------------------------------------------------------------------ */
/* Weights by role, in both formats                                    */
/* ------------------------------------------------------------------ */

enum role {
    R_WORD, R_POS, R_TYPE, R_ELN_W, R_ELN_B,
    R_Q_W, R_Q_B, R_K_W, R_K_B, R_V_W, R_V_B, R_QKV_W, R_QKV_B,
    R_O_W, R_O_B, R_LN1_W, R_LN1_B, R_UP_W, R_UP_B, R_DOWN_W, R_DOWN_B, R_LN2_W, R_LN2_B,
    R_COUNT
};

/* %d is the layer number. Hugging Face names may carry a "bert." prefix. */
static const char *const hf_names[R_COUNT] = {
    "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight",
    "embeddings.LayerNorm.weight",
    "embeddings.LayerNorm.bias",
    "encoder.layer.%d.attention.self.query.weight",
    "encoder.layer.%d.attention.self.query.bias",
    "encoder.layer.%d.attention.self.key.weight",
    "encoder.layer.%d.attention.self.key.bias",
    "encoder.layer.%d.attention.self.value.weight",
    "encoder.layer.%d.attention.self.value.bias",
    NULL,
    NULL,
    "encoder.layer.%d.attention.output.dense.weight",
    "encoder.layer.%d.attention.output.dense.bias",
    "encoder.layer.%d.attention.output.LayerNorm.weight",
    "encoder.layer.%d.attention.output.LayerNorm.bias",
    "encoder.layer.%d.intermediate.dense.weight",
    "encoder.layer.%d.intermediate.dense.bias",
    "encoder.layer.%d.output.dense.weight",
    "encoder.layer.%d.output.dense.bias",
    "encoder.layer.%d.output.LayerNorm.weight",
    "encoder.layer.%d.output.LayerNorm.bias",
};

/* The llama.cpp converter's names. */
static const char *const gguf_names[R_COUNT] = {
    "token_embd.weight",
    "position_embd.weight",
    "token_types.weight",
    "token_embd_norm.weight",
    "token_embd_norm.bias",
    "blk.%d.attn_q.weight",
    "blk.%d.attn_q.bias",
    "blk.%d.attn_k.weight",
    "blk.%d.attn_k.bias",
    "blk.%d.attn_v.weight",
    "blk.%d.attn_v.bias",
    "blk.%d.attn_qkv.weight",
    "blk.%d.attn_qkv.bias",
    "blk.%d.attn_output.weight",
    "blk.%d.attn_output.bias",
    "blk.%d.attn_output_norm.weight",
    "blk.%d.attn_output_norm.bias",
    "blk.%d.ffn_up.weight",
    "blk.%d.ffn_up.bias",
    "blk.%d.ffn_down.weight",
    "blk.%d.ffn_down.bias",
    "blk.%d.layer_output_norm.weight",
    "blk.%d.layer_output_norm.bias",
};

struct wsrc {
    struct vt_st *st;           /* one of st, gg */
    struct vt_gguf *gg;
    const char *prefix;         /* "" or "bert." for Hugging Face */
    const char *file;           /* for messages */
};

static void role_name(const struct wsrc *w, enum role r, int layer, char *out, size_t n)
{
    const char *fmt = w->gg ? gguf_names[r] : hf_names[r];
    char tmp[160];
    snprintf(tmp, sizeof tmp, fmt ? fmt : "?", layer);
    snprintf(out, n, "%s%s", w->gg ? "" : w->prefix, tmp);
}

/* Shape of a tensor as [rows, cols] (cols 0 for a vector); 0 if absent. */
static int find_tensor(const struct wsrc *w, const char *name, uint64_t *rows, uint64_t *cols,
                       const void **handle)
{
    if (w->gg) {
        const struct vt_gguf_tensor *t = vt_gguf_find_tensor(w->gg, name);
        if (!t)
            return 0;
        /* ne[0] is the row length: a [out, in] matrix has ne = {in, out} */
        int nd = t->ndim;
        while (nd > 1 && t->ne[nd - 1] == 1)
            nd--;
        *rows = nd == 1 ? t->ne[0] : t->ne[1];
        *cols = nd == 1 ? 0 : t->ne[0];
        if (nd > 2)
            *rows = UINT64_MAX;   /* reported as a shape mismatch */
        *handle = t;
        return 1;
    }
    const struct vt_st_tensor *t = vt_st_find(w->st, name);
    if (!t && strstr(name, "LayerNorm.")) {
        /* checkpoints converted from TensorFlow say gamma/beta */
        char alt[200];
        const char *dot = strrchr(name, '.');
        snprintf(alt, sizeof alt, "%.*s.%s", (int)(dot - name), name,
                 strcmp(dot, ".weight") == 0 ? "gamma" : "beta");
        t = vt_st_find(w->st, alt);
    }
    if (!t)
        return 0;
    *rows = t->ndim >= 1 ? t->shape[0] : 1;
    *cols = t->ndim == 2 ? t->shape[1] : 0;
    if (t->ndim > 2 || t->ndim == 0)
        *rows = UINT64_MAX;
    *handle = t;
    return 1;
}

/* Tensor of role r as float32 [rows, cols] (cols 0: a vector of rows). */
static int load_f32(const struct wsrc *w, enum role r, int layer, size_t rows, size_t cols,
                    float **out, struct vt_error *err)
{
    char name[200];
    uint64_t tr, tc;
    const void *h;
    *out = NULL;
    role_name(w, r, layer, name, sizeof name);
    if (!find_tensor(w, name, &tr, &tc, &h))
        return vt_error_set(err, VT_EFORMAT, name, "%s: tensor '%s' is missing", w->file, name);
    if (rows == 1 && cols && tc == 0 && tr == cols) {
        tr = 1;   /* a one-row matrix (XLM-R's token types) that GGUF stores as ne {cols, 1} */
        tc = cols;
    }
    if (tr != rows || tc != cols) {
        if (cols)
            return vt_error_set(err, VT_EFORMAT, name,
                                "%s: tensor '%s' has shape [%llu, %llu], expected [%zu, %zu]",
                                w->file, name, (unsigned long long)tr, (unsigned long long)tc,
                                rows, cols);
        return vt_error_set(err, VT_EFORMAT, name,
                            "%s: tensor '%s' has shape [%llu%s], expected [%zu]", w->file, name,
                            (unsigned long long)tr, tc ? ", ..." : "", rows);
    }
    float *f = vt_calloc(rows, (cols ? cols : 1) * sizeof *f);
    if (!f)
        return vt_error_set(err, VT_ENOMEM, name, "%s: out of memory for '%s'", w->file, name);
    int rc = w->gg ? vt_gguf_to_f32(w->gg, h, f, err) : vt_st_to_f32(w->st, h, f, err);
    if (rc) {
        vt_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

static int has_role(const struct wsrc *w, enum role r, int layer)
{
    char name[200];
    uint64_t a, b;
    const void *h;
    role_name(w, r, layer, name, sizeof name);
    return find_tensor(w, name, &a, &b, &h);
}

static int pack_role(const struct wsrc *w, enum role r, int layer, size_t n, size_t k,
                     struct vt_packed **out, struct vt_error *err)
{
    float *f;
    int rc = load_f32(w, r, layer, n, k, &f, err);
    if (rc)
        return rc;
    rc = vt_packed_new_nt(f, n, k, out);
    vt_free(f);
    if (rc)
        return vt_error_set(err, VT_ENOMEM, "", "%s: out of memory packing weights", w->file);
    return 0;
}

static int load_layer(const struct wsrc *w, struct bert *m, int i, struct vt_error *err)
{
    struct bert_layer *L = &m->l[i];
    size_t H = m->hidden, I = m->inter;
    int rc;
    if (has_role(w, R_Q_W, i)) {
        float *q = NULL, *k = NULL, *v = NULL, *qkv = NULL;
        rc = load_f32(w, R_Q_W, i, H, H, &q, err);
        if (!rc)
            rc = load_f32(w, R_K_W, i, H, H, &k, err);
        if (!rc)
            rc = load_f32(w, R_V_W, i, H, H, &v, err);
        if (!rc && !(qkv = vt_calloc(3 * H, H * sizeof *qkv)))
            rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", w->file);
        if (!rc) {
            memcpy(qkv, q, H * H * sizeof *qkv);
            memcpy(qkv + H * H, k, H * H * sizeof *qkv);
            memcpy(qkv + 2 * H * H, v, H * H * sizeof *qkv);
            if (vt_packed_new_nt(qkv, 3 * H, H, &L->qkv))
                rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", w->file);
        }
        vt_free(q);
        vt_free(k);
        vt_free(v);
        vt_free(qkv);
        if (rc)
            return rc;
        float *bq = NULL, *bk = NULL, *bv = NULL;
        rc = load_f32(w, R_Q_B, i, H, 0, &bq, err);
        if (!rc)
            rc = load_f32(w, R_K_B, i, H, 0, &bk, err);
        if (!rc)
            rc = load_f32(w, R_V_B, i, H, 0, &bv, err);
        if (!rc && !(L->b_qkv = vt_calloc(3 * H, sizeof *L->b_qkv)))
            rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", w->file);
        if (!rc) {
            memcpy(L->b_qkv, bq, H * sizeof *bq);
            memcpy(L->b_qkv + H, bk, H * sizeof *bk);
            memcpy(L->b_qkv + 2 * H, bv, H * sizeof *bv);
        }
        vt_free(bq);
        vt_free(bk);
        vt_free(bv);
        if (rc)
            return rc;
    } else if (w->gg && has_role(w, R_QKV_W, i)) {
        if ((rc = pack_role(w, R_QKV_W, i, 3 * H, H, &L->qkv, err)) ||
            (rc = load_f32(w, R_QKV_B, i, 3 * H, 0, &L->b_qkv, err)))
            return rc;
    } else {
        char name[200];
        role_name(w, R_Q_W, i, name, sizeof name);
        return vt_error_set(err, VT_EFORMAT, name, "%s: tensor '%s' is missing", w->file, name);
    }
    if ((rc = pack_role(w, R_O_W, i, H, H, &L->out, err)) ||
        (rc = load_f32(w, R_O_B, i, H, 0, &L->b_out, err)) ||
        (rc = load_f32(w, R_LN1_W, i, H, 0, &L->ln1_g, err)) ||
        (rc = load_f32(w, R_LN1_B, i, H, 0, &L->ln1_b, err)) ||
        (rc = pack_role(w, R_UP_W, i, I, H, &L->up, err)) ||
        (rc = load_f32(w, R_UP_B, i, I, 0, &L->b_up, err)) ||
        (rc = pack_role(w, R_DOWN_W, i, H, I, &L->down, err)) ||
        (rc = load_f32(w, R_DOWN_B, i, H, 0, &L->b_down, err)) ||
        (rc = load_f32(w, R_LN2_W, i, H, 0, &L->ln2_g, err)) ||
        (rc = load_f32(w, R_LN2_B, i, H, 0, &L->ln2_b, err)))
        return rc;
    return 0;
}

static int load_weights(const struct wsrc *w, struct bert *m, size_t type_vocab,
                        struct vt_error *err)
{
    size_t H = m->hidden;
    int rc;
    if ((rc = load_f32(w, R_WORD, 0, m->vocab, H, &m->word, err)) ||
        (rc = load_f32(w, R_POS, 0, m->max_pos, H, &m->pos, err)) ||
        (rc = load_f32(w, R_ELN_W, 0, H, 0, &m->eln_g, err)) ||
        (rc = load_f32(w, R_ELN_B, 0, H, 0, &m->eln_b, err)))
        return rc;
    /* Token type 0 is the only one used; a model without the table adds 0. */
    if (type_vocab && has_role(w, R_TYPE, 0)) {
        float *types;
        if ((rc = load_f32(w, R_TYPE, 0, type_vocab, H, &types, err)))
            return rc;
        m->type0 = vt_realloc(types, H * sizeof *types);
        if (!m->type0) {
            vt_free(types);
            return vt_error_set(err, VT_ENOMEM, "", "out of memory");
        }
    } else if (!(m->type0 = vt_calloc(H, sizeof *m->type0))) {
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    }
    m->l = vt_calloc(m->layers, sizeof *m->l);
    if (!m->l)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    for (size_t i = 0; i < m->layers; i++)
        if ((rc = load_layer(w, m, (int)i, err)))
            return rc;
    return 0;
}

static void bert_free(void *impl)
{
    struct bert *m = impl;
    if (!m)
        return;
    if (m->l)
        for (size_t i = 0; i < m->layers; i++) {
            struct bert_layer *L = &m->l[i];
            vt_packed_free(L->qkv);
            vt_packed_free(L->out);
            vt_packed_free(L->up);
            vt_packed_free(L->down);
            vt_free(L->b_qkv);
            vt_free(L->b_out);
            vt_free(L->ln1_g);
            vt_free(L->ln1_b);
            vt_free(L->b_up);
            vt_free(L->b_down);
            vt_free(L->ln2_g);
            vt_free(L->ln2_b);
        }
    vt_free(m->l);
    vt_free(m->word);
    vt_free(m->pos);
    vt_free(m->type0);
    vt_free(m->eln_g);
    vt_free(m->eln_b);
    vt_wordpiece_free(m->tok);
    vt_unigram_free(m->ug);
    bert_pass_cache_free(m);
    pthread_mutex_destroy(&m->work_mu);
    vt_free(m);
}

/* A 64-bit digest of a whole file, four independent lanes so it runs at
 * memory speed (a weights file is read in full while loading anyway). */
static uint64_t digest_bytes(const void *data, size_t len, uint64_t seed)
{
    const uint64_t K = 0x9E3779B97F4A7C15ULL;
    uint64_t h[4] = {seed ^ len, seed + K, seed - K, ~seed};
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 32 <= len; i += 32)
        for (int j = 0; j < 4; j++) {
            uint64_t v;
            memcpy(&v, p + i + 8 * j, 8);
            h[j] ^= v;
            h[j] = (h[j] << 29 | h[j] >> 35) * K;
        }
    uint64_t r = 0;
    for (int j = 0; j < 4; j++)
        r = (r ^ h[j]) * 0xff51afd7ed558ccdULL;
    for (; i < len; i++)
        r = (r ^ p[i]) * 0x100000001b3ULL;
    return r ^ r >> 33;
}

/* ------------------------------------------------------------------ */
/* Encoder operations                                                  */
/* ------------------------------------------------------------------ */

static int tok_encode(const struct bert *m, const char *text, size_t len, int32_t **ids,
                      size_t *n, struct vt_error *err)
{
    if (m->ug)
        return vt_unigram_encode(m->ug, text, len, ids, n, err);
    return vt_wordpiece_encode(m->tok, text, len, ids, n, err);
}

static size_t tok_vocab_size(const struct bert *m)
{
    return m->ug ? vt_unigram_vocab_size(m->ug) : vt_wordpiece_vocab_size(m->tok);
}

static int bert_tokenize(void *impl, const char *text, size_t len, int32_t **ids, size_t *n,
                         struct vt_error *err)
{
    return tok_encode(impl, text, len, ids, n, err);
}

static int bert_encode(void *impl, const char *const *texts, size_t count, float *out,
                       struct vt_error *err)
{
    struct bert *m = impl;
    int32_t **ids = vt_calloc(count ? count : 1, sizeof *ids);
    size_t *len = vt_calloc(count ? count : 1, sizeof *len);
    int rc = 0;
    if (!ids || !len) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const char *t = texts[i] ? texts[i] : "";
        if ((rc = tok_encode(m, t, strlen(t), &ids[i], &len[i], err))) {
            if (err) {
                char msg[200];
                size_t l = strnlen(err->message, sizeof msg - 1);
                memcpy(msg, err->message, l);
                msg[l] = '\0';
                vt_error_set(err, rc, "text", "text %zu: %s", i, msg);
            }
            goto out;
        }
    }
    rc = bert_pass_encode(m, ids, len, count, out);
    if (rc)
        rc = vt_error_set(err, rc, "", "out of memory encoding %zu texts", count);
out:
    if (ids)
        for (size_t i = 0; i < count; i++)
            vt_free(ids[i]);
    vt_free(ids);
    vt_free(len);
    return rc;
}

static void bert_info(void *impl, struct vt_encoder_info *info)
{
    const struct bert *m = impl;
    info->arch = m->arch;
    info->model_id = m->model_id;
    info->dim = m->hidden;
    info->vocab_size = tok_vocab_size(m);
    info->layers = m->layers;
    info->hidden = m->hidden;
    info->heads = m->heads;
    info->max_tokens = m->max_tokens;
    info->pooling = pool_names[m->pool];
    info->normalized = m->normalize;
    info->license = m->license;
}

static const struct vt_encoder_ops bert_ops = {bert_tokenize, bert_encode, bert_info, bert_free};

/* ------------------------------------------------------------------ */
/* Hugging Face folder                                                 */
/* ------------------------------------------------------------------ */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static json_t *load_json(const char *dir, const char *name, int required, size_t flags, int *rc,
                         struct vt_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *rc = 0;
    if (!file_exists(path)) {
        if (required)
            *rc = vt_error_set(err, VT_EIO, name, "%s: missing", path);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_load_file(path, flags, &jerr);
    if (!j || !json_is_object(j)) {
        *rc = vt_error_set(err, VT_EFORMAT, name, "%s: not a JSON object%s%s (line %d)", path,
                           j ? "" : ": ", j ? "" : jerr.text, jerr.line);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A non-negative integer field, with a default when absent. */
static int json_size(json_t *o, const char *key, size_t def, size_t max, size_t *out,
                     const char *file, struct vt_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return vt_error_set(err, VT_EFORMAT, key, "%s: %s must be an integer in [0, %zu]", file,
                            key, max);
    *out = (size_t)json_integer_value(v);
    return 0;
}

static int parse_pooling_config(json_t *pc, enum pooling *out, const char *file,
                                struct vt_error *err)
{
    static const struct {
        const char *key;
        int pool;    /* -1: a mode vitrine does not implement */
    } modes[] = {
        {"pooling_mode_cls_token", POOL_CLS},          {"pooling_mode_mean_tokens", POOL_MEAN},
        {"pooling_mode_max_tokens", POOL_MAX},         {"pooling_mode_lasttoken", POOL_LAST},
        {"pooling_mode_mean_sqrt_len_tokens", -1},     {"pooling_mode_weightedmean_tokens", -1},
    };
    int found = -1, count = 0;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        if (!json_is_true(json_object_get(pc, modes[i].key)))
            continue;
        if (modes[i].pool < 0)
            return vt_error_set(err, VT_EFORMAT, modes[i].key,
                                "%s: %s is not supported (cls, mean, max or last token are)",
                                file, modes[i].key);
        found = modes[i].pool;
        count++;
    }
    if (count > 1)
        return vt_error_set(err, VT_EFORMAT, "pooling",
                            "%s: several pooling modes at once (concatenated outputs) are not "
                            "supported",
                            file);
    if (count == 1)
        *out = (enum pooling)found;
    return 0;
}

/* Pooling and normalisation as sentence-transformers would apply them. */
static int hf_pooling(const char *dir, struct bert *m, struct vt_error *err)
{
    int rc;
    char sub[4096];
    m->pool = POOL_MEAN;
    m->normalize = 0;
    const char *pool_dir = NULL;
    json_t *modules = NULL;
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/modules.json", dir);
    if (file_exists(mpath)) {
        json_error_t jerr;
        modules = json_load_file(mpath, 0, &jerr);
        if (!json_is_array(modules)) {
            json_decref(modules);
            return vt_error_set(err, VT_EFORMAT, "modules.json", "%s: not a JSON array", mpath);
        }
        size_t i;
        json_t *e;
        json_array_foreach(modules, i, e) {
            const char *type = json_string_value(json_object_get(e, "type"));
            const char *path = json_string_value(json_object_get(e, "path"));
            if (!type)
                continue;
            size_t tl = strlen(type);
            if (tl >= 7 && strcmp(type + tl - 7, "Pooling") == 0 && path)
                pool_dir = path;
            else if (tl >= 9 && strcmp(type + tl - 9, "Normalize") == 0)
                m->normalize = 1;
        }
    } else {
        pool_dir = "1_Pooling";
    }
    if (pool_dir) {
        snprintf(sub, sizeof sub, "%s/config.json", pool_dir);
        json_t *pc = load_json(dir, sub, modules != NULL, 0, &rc, err);
        if (pc) {
            char file[4200];
            snprintf(file, sizeof file, "%s/%s", dir, sub);
            rc = parse_pooling_config(pc, &m->pool, file, err);
            json_decref(pc);
        }
        if (rc) {
            json_decref(modules);
            return rc;
        }
    }
    json_decref(modules);
    return 0;
}

static void hf_license(const char *dir, char *out, size_t n)
{
    char path[4096], line[256];
    snprintf(out, n, "unknown");
    snprintf(path, sizeof path, "%s/README.md", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    /* the model card's YAML front matter: "license: apache-2.0" */
    int in_front = 0;
    for (int i = 0; i < 200 && fgets(line, sizeof line, f); i++) {
        if (strncmp(line, "---", 3) == 0) {
            if (in_front)
                break;
            in_front = 1;
            continue;
        }
        if (in_front && strncmp(line, "license:", 8) == 0) {
            char *v = line + 8;
            while (*v == ' ' || *v == '"' || *v == '\'')
                v++;
            size_t l = strcspn(v, "\"'\r\n");
            snprintf(out, n, "%.*s", (int)l, v);
            break;
        }
    }
    fclose(f);
}

static int open_hf(const char *dir, struct bert *m, uint64_t *hash, struct vt_error *err)
{
    int rc;
    char path[4096];
    json_t *cfg = NULL, *tcfg = NULL, *sbc = NULL;
    struct wsrc w = {0};
    size_t type_vocab = 0;
    cfg = load_json(dir, "config.json", 1, 0, &rc, err);
    if (!cfg)
        goto out;
    const char *mt = json_string_value(json_object_get(cfg, "model_type"));
    const char *arch0 =
        json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
    if (mt ? strcmp(mt, "xlm-roberta") == 0 : arch0 && strncmp(arch0, "XLMRoberta", 10) == 0) {
        m->arch = "xlm-roberta";
        m->roberta_pos = 1;
    } else if (mt && strcmp(mt, "bert") != 0) {
        rc = vt_error_set(err, VT_EFORMAT, "model_type",
                          "%s/config.json: unknown architecture: model_type \"%.40s\" (vitrine "
                          "reads bert and xlm-roberta)",
                          dir, mt);
        goto out;
    }
    const char *act = json_string_value(json_object_get(cfg, "hidden_act"));
    if (act && strcmp(act, "gelu") != 0) {
        rc = vt_error_set(err, VT_EFORMAT, "hidden_act",
                          "%s/config.json: hidden_act \"%.40s\" is not supported (gelu is)", dir,
                          act);
        goto out;
    }
    const char *pet = json_string_value(json_object_get(cfg, "position_embedding_type"));
    if (pet && strcmp(pet, "absolute") != 0) {
        rc = vt_error_set(err, VT_EFORMAT, "position_embedding_type",
                          "%s/config.json: position_embedding_type \"%.40s\" is not supported",
                          dir, pet);
        goto out;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = json_size(cfg, "hidden_size", 0, MAX_HIDDEN, &m->hidden, path, err)) ||
        (rc = json_size(cfg, "num_hidden_layers", 0, MAX_LAYERS, &m->layers, path, err)) ||
        (rc = json_size(cfg, "num_attention_heads", 0, MAX_HIDDEN, &m->heads, path, err)) ||
        (rc = json_size(cfg, "intermediate_size", 0, MAX_INTER, &m->inter, path, err)) ||
        (rc = json_size(cfg, "max_position_embeddings", 512, MAX_POSITIONS, &m->max_pos, path,
                        err)) ||
        (rc = json_size(cfg, "type_vocab_size", 2, MAX_TYPES, &type_vocab, path, err)) ||
        (rc = json_size(cfg, "vocab_size", 0, 1u << 24, &m->vocab, path, err)))
        goto out;
    size_t pad = 1;
    if (m->roberta_pos &&
        (rc = json_size(cfg, "pad_token_id", 1, MAX_POSITIONS, &pad, path, err)))
        goto out;
    m->pad_id = (int32_t)pad;
    json_t *eps = json_object_get(cfg, "layer_norm_eps");
    m->eps = json_is_number(eps) ? (float)json_number_value(eps) : 1e-12f;
    if (!m->hidden || !m->layers || !m->heads || !m->inter || !m->vocab || m->max_pos < 2 ||
        m->hidden % m->heads) {
        rc = vt_error_set(err, VT_EFORMAT, "hidden_size",
                          "%s: needs hidden_size, num_hidden_layers, num_attention_heads "
                          "(dividing hidden_size), intermediate_size and vocab_size",
                          path);
        goto out;
    }
    if (m->roberta_pos && (pad >= m->vocab || pad + 3 > m->max_pos)) {
        rc = vt_error_set(err, VT_EFORMAT, "pad_token_id",
                          "%s: pad_token_id %zu leaves no positions (max_position_embeddings "
                          "%zu, vocab_size %zu)", path, pad, m->max_pos, m->vocab);
        goto out;
    }

    /* weights */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!file_exists(path)) {
        char alt[4200];
        snprintf(alt, sizeof alt, "%s/model.safetensors.index.json", dir);
        if (file_exists(alt))
            rc = vt_error_set(err, VT_EFORMAT, "model.safetensors",
                              "%s: sharded checkpoints are not supported; save the model as "
                              "one model.safetensors",
                              dir);
        else
            rc = vt_error_set(err, VT_EIO, "model.safetensors",
                              "%s: model.safetensors is missing (pytorch_model.bin is not read; "
                              "convert it to safetensors)",
                              dir);
        goto out;
    }
    if ((rc = vt_st_open(path, &w.st, err)))
        goto out;
    w.file = "model.safetensors";
    w.prefix = vt_st_find(w.st, "bert.embeddings.word_embeddings.weight")      ? "bert."
               : vt_st_find(w.st, "roberta.embeddings.word_embeddings.weight") ? "roberta."
                                                                                : "";
    if ((rc = load_weights(&w, m, type_vocab, err)))
        goto out;
    size_t flen;
    const void *fbytes = vt_st_bytes(w.st, &flen);
    *hash = digest_bytes(fbytes, flen, 0x62657274ULL);

    /* tokenizer: settings from tokenizer_config.json, vocabulary from
     * tokenizer.json (whose normalizer wins) or vocab.txt */
    struct vt_wordpiece_opts to;
    vt_wordpiece_opts_default(&to);
    /* Its model_max_length is often 1e30 written as an integer: read
     * integers as doubles so the file parses. */
    tcfg = load_json(dir, "tokenizer_config.json", 0, JSON_DECODE_INT_AS_REAL, &rc, err);
    if (rc)
        goto out;
    size_t model_max = 0;
    if (tcfg) {
        json_t *v;
        if (json_is_boolean(v = json_object_get(tcfg, "do_lower_case")))
            to.lowercase = json_is_true(v);
        if (json_is_boolean(v = json_object_get(tcfg, "strip_accents")))
            to.strip_accents = json_is_true(v);
        if (json_is_boolean(v = json_object_get(tcfg, "tokenize_chinese_chars")))
            to.handle_chinese = json_is_true(v);
        if (json_is_number(v = json_object_get(tcfg, "model_max_length")) &&
            json_number_value(v) > 2 && json_number_value(v) < (double)MAX_POSITIONS)
            model_max = (size_t)json_number_value(v);
        const char *s;
        if ((s = json_string_value(json_object_get(tcfg, "unk_token"))))
            to.unk = s;
        if ((s = json_string_value(json_object_get(tcfg, "cls_token"))))
            to.cls = s;
        if ((s = json_string_value(json_object_get(tcfg, "sep_token"))))
            to.sep = s;
    }
    sbc = load_json(dir, "sentence_bert_config.json", 0, 0, &rc, err);
    if (rc)
        goto out;
    size_t seq = 0;
    if (sbc) {
        json_t *v = json_object_get(sbc, "max_seq_length");
        if (json_is_integer(v) && json_integer_value(v) > 2)
            seq = (size_t)json_integer_value(v);
        if (json_is_true(json_object_get(sbc, "do_lower_case")))
            to.lowercase = 1;
    }
    /* the positions a text may use: RoBERTa's start after pad_id */
    size_t npos = m->roberta_pos ? m->max_pos - (size_t)m->pad_id - 1 : m->max_pos;
    m->max_tokens = seq ? seq : model_max && model_max < npos ? model_max : npos;
    if (m->max_tokens > npos)
        m->max_tokens = npos;
    to.max_tokens = m->max_tokens;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (m->roberta_pos) {
        /* XLM-RoBERTa: the Unigram tokenizer of tokenizer.json, nothing else */
        if (sbc && json_is_true(json_object_get(sbc, "do_lower_case"))) {
            rc = vt_error_set(err, VT_EFORMAT, "do_lower_case",
                              "%s/sentence_bert_config.json: do_lower_case is not supported "
                              "with a Unigram tokenizer", dir);
            goto out;
        }
        if (!file_exists(path)) {
            rc = vt_error_set(err, VT_EIO, "tokenizer.json",
                              "%s: tokenizer.json is missing (an xlm-roberta model needs it; "
                              "sentencepiece.bpe.model is not read)", dir);
            goto out;
        }
        rc = vt_unigram_load_json(path, m->max_tokens, &m->ug, err);
    } else if (file_exists(path)) {
        rc = vt_wordpiece_load_json(path, &to, &m->tok, err);
    } else {
        snprintf(path, sizeof path, "%s/vocab.txt", dir);
        if (!file_exists(path)) {
            rc = vt_error_set(err, VT_EIO, "vocab.txt", "%s: no tokenizer.json or vocab.txt",
                              dir);
            goto out;
        }
        rc = vt_wordpiece_load_vocab(path, &to, &m->tok, err);
    }
    if (rc)
        goto out;
    if ((rc = hf_pooling(dir, m, err)))
        goto out;
    hf_license(dir, m->license, sizeof m->license);
out:
    json_decref(cfg);
    json_decref(tcfg);
    json_decref(sbc);
    vt_st_free(w.st);
    return rc;
}

/* ------------------------------------------------------------------ */
/* GGUF                                                                */
/* ------------------------------------------------------------------ */

static int gguf_size(const struct vt_gguf *g, const char *key, int required, size_t max,
                     size_t *out, struct vt_error *err)
{
    uint64_t v;
    int rc = vt_gguf_get_uint(g, key, &v, err);
    if (rc == VT_ENOTFOUND) {
        if (required)
            return vt_error_set(err, VT_EFORMAT, key, "GGUF metadata '%s' is missing", key);
        return 0;
    }
    if (rc)
        return rc;
    if (v > max)
        return vt_error_set(err, VT_EFORMAT, key, "GGUF metadata '%s' = %llu is out of range "
                            "(max %zu)", key, (unsigned long long)v, max);
    *out = (size_t)v;
    return 0;
}

/*
 * The llama.cpp converter rewrites a WordPiece vocabulary with "phantom
 * spaces": a word-initial piece "foo" becomes "\u2581foo", a continuation
 * "##foo" becomes "foo", and bracketed specials stay. Undo it so the
 * WordPiece matcher sees the original pieces.
 */
static int gguf_vocab(const struct vt_gguf *g, char ***out, size_t *n, int *cased,
                      struct vt_error *err)
{
    const struct vt_gguf_kv *kv = vt_gguf_find(g, "tokenizer.ggml.tokens");
    *out = NULL;
    if (!kv || kv->type != VT_GGUF_ARRAY || kv->arr_type != VT_GGUF_STRING || !kv->arr_count)
        return vt_error_set(err, VT_EFORMAT, "tokenizer.ggml.tokens",
                            "GGUF has no tokenizer.ggml.tokens array of strings");
    static const char phantom[] = "\xe2\x96\x81";
    int is_phantom = 0;
    for (uint64_t i = 0; i < kv->arr_count && !is_phantom; i++)
        is_phantom = kv->arr_strs[i].len >= 3 && memcmp(kv->arr_strs[i].p, phantom, 3) == 0;
    char **tok = vt_calloc((size_t)kv->arr_count, sizeof *tok);
    if (!tok)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    *cased = 0;
    for (uint64_t i = 0; i < kv->arr_count; i++) {
        const char *p = kv->arr_strs[i].p;
        size_t l = kv->arr_strs[i].len;
        if (memchr(p, 0, l)) {
            tok[i] = NULL;    /* a piece with a NUL can never match text */
            continue;
        }
        int special = l >= 2 && p[0] == '[' && p[l - 1] == ']';
        if (!is_phantom || special) {
            tok[i] = vt_strndup(p, l);
        } else if (l >= 3 && memcmp(p, phantom, 3) == 0) {
            tok[i] = vt_strndup(p + 3, l - 3);
        } else if ((tok[i] = vt_malloc(l + 3))) {
            memcpy(tok[i], "##", 2);
            memcpy(tok[i] + 2, p, l);
            tok[i][l + 2] = '\0';
        }
        if (!tok[i]) {
            for (uint64_t j = 0; j < i; j++)
                vt_free(tok[j]);
            vt_free(tok);
            return vt_error_set(err, VT_ENOMEM, "", "out of memory");
        }
        /* an upper-case letter outside the specials means a cased model */
        for (size_t j = 0; !special && !*cased && j < l;) {
            uint32_t c;
            int cl = vt_utf8_decode(p + j, l - j, &c);
            if (cl <= 0)
                break;
            *cased = utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_LU;
            j += (size_t)cl;
        }
    }
    *out = tok;
    *n = (size_t)kv->arr_count;
    return 0;
}

static const char *gguf_token_name(char **tok, size_t n, const struct vt_gguf *g,
                                   const char *key, const char *def)
{
    uint64_t id;
    if (vt_gguf_get_uint(g, key, &id, NULL) == 0 && id < n && tok[id])
        return tok[id];
    return def;
}

/* A numeric or string array of count elements of one of two types, or NULL. */
static const struct vt_gguf_kv *gguf_array(const struct vt_gguf *g, const char *key,
                                           enum vt_gguf_vtype t1, enum vt_gguf_vtype t2,
                                           uint64_t count)
{
    const struct vt_gguf_kv *kv = vt_gguf_find(g, key);
    if (!kv || kv->type != VT_GGUF_ARRAY || (kv->arr_type != t1 && kv->arr_type != t2) ||
        (count && kv->arr_count != count))
        return NULL;
    return kv;
}

static int gguf_flag(const struct vt_gguf *g, const char *key, int def)
{
    int b;
    return vt_gguf_get_bool(g, key, &b, NULL) == 0 ? b : def;
}

static int32_t gguf_id(const struct vt_gguf *g, const char *key, uint64_t n)
{
    uint64_t v;
    return vt_gguf_get_uint(g, key, &v, NULL) == 0 && v < n ? (int32_t)v : -1;
}

/*
 * The SentencePiece model the llama.cpp converter writes for XLM-RoBERTa
 * (tokenizer.ggml.model "t5"): tokenizer.ggml.tokens, .scores (F32),
 * .token_type (I32), .precompiled_charsmap (U8), .add_space_prefix,
 * .remove_extra_whitespaces, the bos/eos/unknown ids and
 * .add_bos_token/.add_eos_token. Ids are in the Hugging Face order.
 */
static int gguf_unigram(const struct vt_gguf *g, size_t max_tokens, const char *file,
                        struct vt_unigram **out, struct vt_error *err)
{
    const struct vt_gguf_kv *tk =
        gguf_array(g, "tokenizer.ggml.tokens", VT_GGUF_STRING, VT_GGUF_STRING, 0);
    if (!tk || !tk->arr_count || tk->arr_count > (1u << 24))
        return vt_error_set(err, VT_EFORMAT, "tokenizer.ggml.tokens",
                            "%s: no tokenizer.ggml.tokens array of strings", file);
    size_t n = (size_t)tk->arr_count;
    const struct vt_gguf_kv *sc =
        gguf_array(g, "tokenizer.ggml.scores", VT_GGUF_F32, VT_GGUF_F32, n);
    const struct vt_gguf_kv *ty =
        gguf_array(g, "tokenizer.ggml.token_type", VT_GGUF_I32, VT_GGUF_U32, n);
    const struct vt_gguf_kv *cm = gguf_array(g, "tokenizer.ggml.precompiled_charsmap",
                                             VT_GGUF_U8, VT_GGUF_I8, 0);
    if (!sc)
        return vt_error_set(err, VT_EFORMAT, "tokenizer.ggml.scores",
                            "%s: tokenizer.ggml.scores must be %zu F32 scores", file, n);
    if (!ty && vt_gguf_find(g, "tokenizer.ggml.token_type"))
        return vt_error_set(err, VT_EFORMAT, "tokenizer.ggml.token_type",
                            "%s: tokenizer.ggml.token_type must be %zu I32 types", file, n);
    if (!cm && vt_gguf_find(g, "tokenizer.ggml.precompiled_charsmap"))
        return vt_error_set(err, VT_EFORMAT, "tokenizer.ggml.precompiled_charsmap",
                            "%s: tokenizer.ggml.precompiled_charsmap must be an array of bytes",
                            file);
    const char **pieces = vt_calloc(n, sizeof *pieces);
    size_t *lens = vt_calloc(n, sizeof *lens);
    float *scores = vt_calloc(n, sizeof *scores);
    int32_t *types = ty ? vt_calloc(n, sizeof *types) : NULL;
    int rc = 0;
    if (!pieces || !lens || !scores || (ty && !types)) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    struct vt_unigram_spm spm = {0};
    spm.unk = -1;
    for (size_t i = 0; i < n; i++) {
        pieces[i] = tk->arr_strs[i].p;
        lens[i] = tk->arr_strs[i].len;
        memcpy(&scores[i], sc->arr_data + 4 * i, 4);
        if (types) {
            memcpy(&types[i], ty->arr_data + 4 * i, 4);
            if (types[i] == VT_UNIGRAM_UNKNOWN && spm.unk < 0)
                spm.unk = (int32_t)i;
        }
    }
    spm.n = n;
    spm.pieces = pieces;
    spm.piece_lens = lens;
    spm.scores = scores;
    spm.types = types;
    spm.charsmap = cm ? cm->arr_data : NULL;
    spm.charsmap_len = cm ? (size_t)cm->arr_count : 0;
    spm.add_space_prefix = gguf_flag(g, "tokenizer.ggml.add_space_prefix", 1);
    spm.remove_extra_whitespaces = gguf_flag(g, "tokenizer.ggml.remove_extra_whitespaces", 1);
    int32_t unk = gguf_id(g, "tokenizer.ggml.unknown_token_id", n);
    if (unk >= 0)
        spm.unk = unk;
    spm.bos = gguf_id(g, "tokenizer.ggml.bos_token_id", n);
    spm.eos = gguf_id(g, "tokenizer.ggml.eos_token_id", n);
    spm.add_bos = gguf_flag(g, "tokenizer.ggml.add_bos_token", 1);
    spm.add_eos = gguf_flag(g, "tokenizer.ggml.add_eos_token", 1);
    spm.max_tokens = max_tokens;
    rc = vt_unigram_new_spm(&spm, out, err);
    if (rc && err) {
        char msg[200], field[sizeof err->field];
        size_t l = strnlen(err->message, sizeof msg - 1);
        memcpy(msg, err->message, l);
        msg[l] = '\0';
        memcpy(field, err->field, sizeof field);
        field[sizeof field - 1] = '\0';
        vt_error_set(err, rc, field, "%s: %s", file, msg);
    }
out:
    vt_free(pieces);
    vt_free(lens);
    vt_free(scores);
    vt_free(types);
    return rc;
}

static int open_gguf(const char *path, struct bert *m, uint64_t *hash, struct vt_error *err)
{
    struct wsrc w = {0};
    char **tok = NULL;
    size_t ntok = 0;
    int rc;
    if ((rc = vt_gguf_open(path, &w.gg, err)))
        return rc;
    w.file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct vt_gguf_str arch;
    if (vt_gguf_get_str(w.gg, "general.architecture", &arch, NULL) != 0) {
        rc = vt_error_set(err, VT_EFORMAT, "general.architecture",
                          "%s: no general.architecture string", w.file);
        goto out;
    }
    if (arch.len != 4 || memcmp(arch.p, "bert", 4) != 0) {
        rc = vt_error_set(err, VT_EFORMAT, "general.architecture",
                          "%s: unknown architecture \"%.*s\" (vitrine reads bert)", w.file,
                          (int)(arch.len > 40 ? 40 : arch.len), arch.p);
        goto out;
    }
    size_t pooling = 1;
    if ((rc = gguf_size(w.gg, "bert.embedding_length", 1, MAX_HIDDEN, &m->hidden, err)) ||
        (rc = gguf_size(w.gg, "bert.block_count", 1, MAX_LAYERS, &m->layers, err)) ||
        (rc = gguf_size(w.gg, "bert.attention.head_count", 1, MAX_HIDDEN, &m->heads, err)) ||
        (rc = gguf_size(w.gg, "bert.feed_forward_length", 1, MAX_INTER, &m->inter, err)) ||
        (rc = gguf_size(w.gg, "bert.context_length", 1, MAX_POSITIONS, &m->max_pos, err)) ||
        (rc = gguf_size(w.gg, "bert.pooling_type", 0, 16, &pooling, err)))
        goto out;
    if (!m->hidden || !m->layers || !m->heads || !m->inter || m->max_pos < 2 ||
        m->hidden % m->heads) {
        rc = vt_error_set(err, VT_EFORMAT, "bert.embedding_length",
                          "%s: inconsistent sizes (hidden %zu, heads %zu, layers %zu)", w.file,
                          m->hidden, m->heads, m->layers);
        goto out;
    }
    double eps = 1e-12;
    rc = vt_gguf_get_float(w.gg, "bert.attention.layer_norm_epsilon", &eps, err);
    if (rc && rc != VT_ENOTFOUND)
        goto out;
    m->eps = (float)eps;
    /* llama.cpp: 0 none, 1 mean, 2 cls, 3 last, 4 rank */
    switch (pooling) {
    case 0:
    case 1:
        m->pool = POOL_MEAN;
        break;
    case 2:
        m->pool = POOL_CLS;
        break;
    case 3:
        m->pool = POOL_LAST;
        break;
    default:
        rc = vt_error_set(err, VT_EFORMAT, "bert.pooling_type",
                          "%s: bert.pooling_type %zu is not supported (1 mean, 2 cls, 3 last)",
                          w.file, pooling);
        goto out;
    }
    m->normalize = 1;
    int b;
    if (vt_gguf_get_bool(w.gg, "vitrine.normalize", &b, NULL) == 0)
        m->normalize = b;

    if (vt_gguf_str_is(w.gg, "tokenizer.ggml.model", "t5")) {
        /* XLM-RoBERTa: the converter cut the position table to start at
         * the first real position, so positions count from 0 here */
        m->arch = "xlm-roberta";
        const struct vt_gguf_kv *tk = vt_gguf_find(w.gg, "tokenizer.ggml.tokens");
        m->vocab = tk && tk->type == VT_GGUF_ARRAY ? (size_t)tk->arr_count : 0;
        size_t types = 1;
        if ((rc = gguf_size(w.gg, "tokenizer.ggml.token_type_count", 0, MAX_TYPES, &types,
                            err)))
            goto out;
        const struct vt_gguf_tensor *t1 = vt_gguf_find_tensor(w.gg, "token_types.weight");
        if (t1 && t1->ndim >= 2)
            types = (size_t)t1->ne[1];
        if (!m->vocab) {
            rc = vt_error_set(err, VT_EFORMAT, "tokenizer.ggml.tokens",
                              "%s: no tokenizer.ggml.tokens array", w.file);
            goto out;
        }
        if ((rc = load_weights(&w, m, types, err)))
            goto out;
        size_t flen;
        const void *fbytes = vt_gguf_bytes(w.gg, &flen);
        *hash = digest_bytes(fbytes, flen, 0x67677566ULL);
        m->max_tokens = m->max_pos;
        size_t mt = 0;
        if ((rc = gguf_size(w.gg, "vitrine.max_tokens", 0, MAX_POSITIONS, &mt, err)))
            goto out;
        if (mt > 2 && mt < m->max_pos)
            m->max_tokens = mt;
        if ((rc = gguf_unigram(w.gg, m->max_tokens, w.file, &m->ug, err)))
            goto out;
        goto license;
    }
    if (!vt_gguf_str_is(w.gg, "tokenizer.ggml.model", "bert")) {
        rc = vt_error_set(err, VT_EFORMAT, "tokenizer.ggml.model",
                          "%s: tokenizer.ggml.model is neither \"bert\" (WordPiece) nor \"t5\" "
                          "(SentencePiece unigram)", w.file);
        goto out;
    }
    int cased = 0;
    if ((rc = gguf_vocab(w.gg, &tok, &ntok, &cased, err)))
        goto out;
    m->vocab = ntok;
    size_t type_vocab = 2;
    if ((rc = gguf_size(w.gg, "tokenizer.ggml.token_type_count", 0, MAX_TYPES, &type_vocab,
                        err)))
        goto out;
    const struct vt_gguf_tensor *tt = vt_gguf_find_tensor(w.gg, "token_types.weight");
    if (tt && tt->ndim >= 2)
        type_vocab = (size_t)tt->ne[1];
    if ((rc = load_weights(&w, m, type_vocab, err)))
        goto out;
    size_t flen;
    const void *fbytes = vt_gguf_bytes(w.gg, &flen);
    *hash = digest_bytes(fbytes, flen, 0x67677566ULL);

    struct vt_wordpiece_opts to;
    vt_wordpiece_opts_default(&to);
    to.lowercase = !cased;
    if (vt_gguf_get_bool(w.gg, "vitrine.lowercase", &b, NULL) == 0)
        to.lowercase = b;
    to.strip_accents = -1;
    m->max_tokens = m->max_pos;
    size_t mt = 0;
    if ((rc = gguf_size(w.gg, "vitrine.max_tokens", 0, MAX_POSITIONS, &mt, err)))
        goto out;
    if (mt > 2 && mt < m->max_pos)
        m->max_tokens = mt;
    to.max_tokens = m->max_tokens;
    to.unk = gguf_token_name(tok, ntok, w.gg, "tokenizer.ggml.unknown_token_id", "[UNK]");
    to.cls = gguf_token_name(tok, ntok, w.gg, "tokenizer.ggml.cls_token_id", "[CLS]");
    to.sep = gguf_token_name(tok, ntok, w.gg, "tokenizer.ggml.seperator_token_id", "[SEP]");
    to.sep = gguf_token_name(tok, ntok, w.gg, "tokenizer.ggml.separator_token_id", to.sep);
    to.pad = gguf_token_name(tok, ntok, w.gg, "tokenizer.ggml.padding_token_id", "[PAD]");
    if ((rc = vt_wordpiece_new((const char *const *)tok, ntok, &to, &m->tok, err))) {
        char msg[200];
        size_t l = err ? strnlen(err->message, sizeof msg - 1) : 0;
        if (err) {
            memcpy(msg, err->message, l);
            msg[l] = '\0';
            vt_error_set(err, rc, "tokenizer.ggml.tokens", "%s: %s", w.file, msg);
        }
        goto out;
    }
license:;
    struct vt_gguf_str lic;
    if (vt_gguf_get_str(w.gg, "general.license", &lic, NULL) == 0)
        snprintf(m->license, sizeof m->license, "%.*s", (int)(lic.len > 60 ? 60 : lic.len),
                 lic.p);
    else
        snprintf(m->license, sizeof m->license, "unknown");
out:
    if (tok)
        for (size_t i = 0; i < ntok; i++)
            vt_free(tok[i]);
    vt_free(tok);
    vt_gguf_free(w.gg);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

void vt_bert_opts_default(struct vt_bert_opts *o)
{
    o->pooling = NULL;
    o->normalize = -1;
    o->max_tokens = 0;
}

int vt_bert_open_ex(const char *path, const struct vt_bert_opts *o, struct vt_encoder **out,
                    struct vt_error *err)
{
    *out = NULL;
    struct bert *m = vt_calloc(1, sizeof *m);
    if (!m)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    pthread_mutex_init(&m->work_mu, NULL);
    m->arch = "bert";
    struct stat st;
    uint64_t hash = 0;
    int rc;
    if (stat(path, &st) != 0)
        rc = vt_error_set(err, VT_EIO, "", "%s: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = open_hf(path, m, &hash, err);
    else
        rc = open_gguf(path, m, &hash, err);
    if (rc)
        goto fail;
    if (tok_vocab_size(m) > m->vocab) {
        rc = vt_error_set(err, VT_EFORMAT, "vocab",
                          "%s: the tokenizer has %zu tokens but the model embeds only %zu", path,
                          tok_vocab_size(m), m->vocab);
        goto fail;
    }
    if (o && o->pooling) {
        size_t i = 0;
        while (i < 4 && strcmp(pool_names[i], o->pooling) != 0)
            i++;
        if (i == 4) {
            rc = vt_error_set(err, VT_EINVAL, "pooling",
                              "pooling \"%.40s\" is not one of cls, mean, max, last", o->pooling);
            goto fail;
        }
        m->pool = (enum pooling)i;
    }
    if (o && o->normalize >= 0)
        m->normalize = o->normalize != 0;
    if (o && o->max_tokens && o->max_tokens < m->max_tokens) {
        if (o->max_tokens < 2) {
            rc = vt_error_set(err, VT_EINVAL, "max_tokens", "max_tokens must be at least 2");
            goto fail;
        }
    }
    if (o && o->max_tokens && o->max_tokens < m->max_tokens && m->ug) {
        /* not shared yet: the truncation may change in place */
        vt_unigram_set_max_tokens(m->ug, o->max_tokens);
        m->max_tokens = o->max_tokens;
    } else if (o && o->max_tokens && o->max_tokens < m->max_tokens) {
        /* rebuild the tokenizer's truncation through its options */
        struct vt_wordpiece_opts to = *vt_wordpiece_options(m->tok);
        struct vt_wordpiece *nt;
        size_t nv = vt_wordpiece_vocab_size(m->tok);
        const char **names = vt_calloc(nv, sizeof *names);
        if (!names) {
            rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < nv; i++)
            names[i] = vt_wordpiece_token(m->tok, (int32_t)i);
        to.max_tokens = o->max_tokens;
        rc = vt_wordpiece_new(names, nv, &to, &nt, err);
        vt_free(names);
        if (rc)
            goto fail;
        vt_wordpiece_free(m->tok);
        m->tok = nt;
        m->max_tokens = o->max_tokens;
    }
    uint64_t meta[4] = {m->ug ? vt_unigram_digest(m->ug) : vt_wordpiece_digest(m->tok),
                        (uint64_t)m->pool, (uint64_t)m->normalize, (uint64_t)m->max_tokens};
    hash = digest_bytes(meta, sizeof meta, hash);
    snprintf(m->model_id, sizeof m->model_id, "%s-%016llx", m->ug ? "xlmr" : "bert",
             (unsigned long long)hash);
    struct vt_encoder *e = vt_calloc(1, sizeof *e);
    if (!e) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto fail;
    }
    e->ops = &bert_ops;
    e->impl = m;
    *out = e;
    return 0;
fail:
    bert_free(m);
    return rc;
}

int vt_bert_open(const char *path, struct vt_encoder **out, struct vt_error *err)
{
    return vt_bert_open_ex(path, NULL, out, err);
}
