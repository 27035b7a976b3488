/*
 * test_bert.c - the BERT encoder, its file readers and its tokenizer.
 *
 * Goldens: tests/golden/bert/tiny was written by make_golden.py (PyTorch
 * forward in float32, reference tokenizer in Python). The C encoder must
 * reproduce every token id exactly and every vector to max |diff| <= 1e-4,
 * from the Hugging Face folder and from the GGUF file, with both kernel
 * sets. Bad files must fail with messages a user can act on.
 *
 * `test_bert --golden DIR...` compares larger models generated into DIR by
 * tests/golden/bert/check-large and prints the differences.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/util.h"
#include "nn/bert.h"
#include "nn/encoder.h"
#include "nn/gguf.h"
#include "nn/kernels.h"
#include "nn/safetensors.h"
#include "text/wordpiece.h"
#include "test.h"

#define TINY "tests/golden/bert/tiny"
#define TOL 1e-4

static char work[] = "/tmp/vitrine-test-bert-XXXXXX";

/* ---- golden comparison ---- */

struct cmp {
    int cases, id_mismatch;
    double max_diff, max_diff_cls, min_cos;
    double ms;
};

static double now_ms(void)
{
    return (double)vt_time_mono_ns() / 1e6;
}

static void compare_case_vectors(json_t *arr, const float *v, size_t dim, double *max_diff,
                                 double *min_cos)
{
    double dot = 0, na = 0, nb = 0;
    for (size_t j = 0; j < dim; j++) {
        double g = json_number_value(json_array_get(arr, j));
        double d = fabs(g - v[j]);
        if (d > *max_diff)
            *max_diff = d;
        dot += g * v[j];
        na += g * g;
        nb += (double)v[j] * v[j];
    }
    double cos = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 1.0;
    if (cos < *min_cos)
        *min_cos = cos;
}

/* Tokenize and encode every golden case with the model at path. */
static int compare_model(const char *path, json_t *golden, struct cmp *r)
{
    struct vt_error err;
    struct vt_encoder *enc = NULL, *enc_cls = NULL;
    memset(r, 0, sizeof *r);
    r->min_cos = 1;
    vt_error_clear(&err);
    if (vt_encoder_open(path, &enc, &err) != 0) {
        fprintf(stderr, "  %s: %s\n", path, err.message);
        return -1;
    }
    struct vt_bert_opts o;
    vt_bert_opts_default(&o);
    o.pooling = "cls";
    o.normalize = 0;
    if (vt_bert_open_ex(path, &o, &enc_cls, &err) != 0) {
        fprintf(stderr, "  %s: %s\n", path, err.message);
        vt_encoder_free(enc);
        return -1;
    }
    struct vt_encoder_info info;
    vt_encoder_info(enc, &info);
    json_t *cases = json_object_get(golden, "cases");
    size_t n = json_array_size(cases), dim = info.dim;
    const char **texts = calloc(n, sizeof *texts);
    float *out = calloc(n * dim, sizeof *out), *out_cls = calloc(n * dim, sizeof *out_cls);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cases, i);
        texts[i] = json_string_value(json_object_get(c, "text"));
        json_t *gids = json_object_get(c, "ids");
        int32_t *ids;
        size_t nids;
        if (vt_encoder_tokenize(enc, texts[i], strlen(texts[i]), &ids, &nids, &err) != 0) {
            r->id_mismatch++;
            continue;
        }
        int same = nids == json_array_size(gids);
        for (size_t j = 0; same && j < nids; j++)
            same = ids[j] == json_integer_value(json_array_get(gids, j));
        if (!same) {
            r->id_mismatch++;
            fprintf(stderr, "  ids differ for case %zu \"%.40s\" (%zu vs %zu ids)\n", i, texts[i],
                    nids, json_array_size(gids));
        }
        vt_free(ids);
    }
    double t0 = now_ms();
    int rc = vt_encoder_encode(enc, texts, n, out, &err);
    r->ms = now_ms() - t0;
    if (rc == 0)
        rc = vt_encoder_encode(enc_cls, texts, n, out_cls, &err);
    if (rc != 0) {
        fprintf(stderr, "  encode: %s\n", err.message);
    } else {
        for (size_t i = 0; i < n; i++) {
            json_t *c = json_array_get(cases, i);
            double unused = 1;
            compare_case_vectors(json_object_get(c, "embedding"), out + i * dim, dim,
                                 &r->max_diff, &r->min_cos);
            compare_case_vectors(json_object_get(c, "cls"), out_cls + i * dim, dim,
                                 &r->max_diff_cls, &unused);
        }
        r->cases = (int)n;
    }
    free(texts);
    free(out);
    free(out_cls);
    vt_encoder_free(enc);
    vt_encoder_free(enc_cls);
    return rc;
}

static json_t *load_golden(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/golden.json", dir);
    json_error_t jerr;
    json_t *g = json_load_file(path, 0, &jerr);
    if (!g)
        fprintf(stderr, "  %s: %s\n", path, jerr.text);
    return g;
}

TEST(tiny_matches_golden_both_formats_both_kernel_sets)
{
    json_t *g = load_golden(TINY);
    CHECK(g != NULL);
    if (!g)
        return;
    const char *sets[] = {"portable", "avx2-fma"};
    for (int s = 0; s < 2; s++) {
        if (vt_kernels_select(sets[s]) != 0)
            continue;   /* this CPU has no AVX2: the portable run covers it */
        const char *paths[] = {TINY "/hf", TINY "/model.gguf"};
        for (int p = 0; p < 2; p++) {
            struct cmp r;
            CHECK_EQ_INT(compare_model(paths[p], g, &r), 0);
            CHECK_EQ_INT(r.cases, 53);
            CHECK_EQ_INT(r.id_mismatch, 0);
            CHECK(r.max_diff <= TOL);
            CHECK(r.max_diff_cls <= TOL);
            if (r.max_diff > TOL || r.max_diff_cls > TOL)
                fprintf(stderr, "  %s [%s]: max diff %.3g, cls %.3g\n", paths[p], sets[s],
                        r.max_diff, r.max_diff_cls);
        }
    }
    vt_kernels_select("auto");
    json_decref(g);
}

TEST(batch_equals_one_by_one)
{
    struct vt_encoder *e;
    struct vt_error err;
    CHECK_EQ_INT(vt_encoder_open(TINY "/hf", &e, &err), 0);
    if (!e)
        return;
    const char *t[] = {"black leather sofa", "", "适合小客厅的茶几", "a b c d e f g h i j k"};
    float all[4 * 48], one[48];
    CHECK_EQ_INT(vt_encoder_encode(e, t, 4, all, &err), 0);
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(vt_encoder_encode(e, t + i, 1, one, &err), 0);
        for (int j = 0; j < 48; j++)
            worst = fmax(worst, fabs(one[j] - all[i * 48 + j]));
    }
    CHECK(worst < 1e-5);
    vt_encoder_free(e);
}

TEST(info_and_model_id)
{
    struct vt_encoder *a, *b, *c;
    struct vt_error err;
    CHECK_EQ_INT(vt_encoder_open(TINY "/hf", &a, &err), 0);
    CHECK_EQ_INT(vt_encoder_open(TINY "/hf", &b, &err), 0);
    CHECK_EQ_INT(vt_encoder_open(TINY "/model.gguf", &c, &err), 0);
    if (!a || !b || !c)
        return;
    struct vt_encoder_info ia, ib, ic;
    vt_encoder_info(a, &ia);
    vt_encoder_info(b, &ib);
    vt_encoder_info(c, &ic);
    CHECK_STR(ia.arch, "bert");
    CHECK_EQ_INT(ia.dim, 48);
    CHECK_EQ_INT(ia.layers, 2);
    CHECK_EQ_INT(ia.heads, 4);
    CHECK_EQ_INT(ia.max_tokens, 40);
    CHECK_EQ_INT(ia.vocab_size, 326);
    CHECK_STR(ia.pooling, "mean");
    CHECK_EQ_INT(ia.normalized, 1);
    CHECK_STR(ia.license, "apache-2.0");
    CHECK_STR(ic.license, "apache-2.0");
    CHECK_STR(ic.pooling, "mean");
    CHECK(strncmp(ia.model_id, "bert-", 5) == 0 && strlen(ia.model_id) == 21);
    CHECK_STR(ia.model_id, ib.model_id);
    CHECK(strcmp(ia.model_id, ic.model_id) != 0);
    /* a different pooling is a different model id: vectors would not mix */
    struct vt_bert_opts o;
    struct vt_encoder *d;
    vt_bert_opts_default(&o);
    o.pooling = "cls";
    CHECK_EQ_INT(vt_bert_open_ex(TINY "/hf", &o, &d, &err), 0);
    if (d) {
        struct vt_encoder_info id;
        vt_encoder_info(d, &id);
        CHECK(strcmp(ia.model_id, id.model_id) != 0);
        CHECK_STR(id.pooling, "cls");
        vt_encoder_free(d);
    }
    vt_encoder_free(a);
    vt_encoder_free(b);
    vt_encoder_free(c);
}

/* ---- files for the error tests ---- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)sz + 1);
    *n = fread(p, 1, (size_t)sz, f);
    fclose(f);
    return p;
}

/* A copy of the tiny Hugging Face folder in which one file is replaced. */
static void hf_copy(const char *dst, const char *replace, const void *data, size_t n)
{
    static const char *files[] = {"config.json", "model.safetensors", "vocab.txt",
                                  "tokenizer_config.json", "sentence_bert_config.json",
                                  "modules.json", "1_Pooling/config.json", "README.md"};
    char p[600], q[600];
    snprintf(p, sizeof p, "%s/1_Pooling", dst);
    mkdir(dst, 0755);
    mkdir(p, 0755);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(q, sizeof q, "%s/%s", dst, files[i]);
        if (replace && strcmp(files[i], replace) == 0) {
            write_file(q, data, n);
            continue;
        }
        snprintf(p, sizeof p, TINY "/hf/%s", files[i]);
        size_t len;
        char *d = read_all(p, &len);
        if (d)
            write_file(q, d, len);
        free(d);
    }
}

static int open_err(const char *path, struct vt_error *err)
{
    struct vt_encoder *e = NULL;
    vt_error_clear(err);
    int rc = vt_encoder_open(path, &e, err);
    vt_encoder_free(e);
    if (rc == 0)
        fprintf(stderr, "  %s opened but should not have\n", path);
    return rc;
}

TEST(bad_hugging_face_folders)
{
    struct vt_error err;
    char dir[600];
    size_t n;
    char *st = read_all(TINY "/hf/model.safetensors", &n);
    CHECK(st != NULL);
    if (!st)
        return;
    /* truncated weights: the header is intact, the data is short */
    snprintf(dir, sizeof dir, "%s/trunc", work);
    hf_copy(dir, "model.safetensors", st, n / 2);
    CHECK_EQ_INT(open_err(dir, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "model.safetensors") && strstr(err.message, "outside the data"));
    /* truncated inside the 8-byte length */
    snprintf(dir, sizeof dir, "%s/trunc8", work);
    hf_copy(dir, "model.safetensors", st, 5);
    CHECK_EQ_INT(open_err(dir, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "truncated") != NULL);
    /* header cut off */
    snprintf(dir, sizeof dir, "%s/trunch", work);
    hf_copy(dir, "model.safetensors", st, 100);
    CHECK_EQ_INT(open_err(dir, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "truncated: header length") != NULL);
    /* unknown architecture */
    snprintf(dir, sizeof dir, "%s/arch", work);
    const char *cfg = "{\"model_type\": \"gpt2\", \"hidden_size\": 48}";
    hf_copy(dir, "config.json", cfg, strlen(cfg));
    CHECK_EQ_INT(open_err(dir, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "unknown architecture") && strstr(err.message, "gpt2"));
    /* a shape that does not match config.json */
    snprintf(dir, sizeof dir, "%s/shape", work);
    cfg = "{\"model_type\":\"bert\",\"hidden_size\":48,\"num_hidden_layers\":2,"
          "\"num_attention_heads\":4,\"intermediate_size\":64,\"vocab_size\":326,"
          "\"max_position_embeddings\":40}";
    hf_copy(dir, "config.json", cfg, strlen(cfg));
    CHECK_EQ_INT(open_err(dir, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "intermediate.dense.weight' has shape [96, 48], expected [64, 48]"));
    /* unsupported pooling */
    snprintf(dir, sizeof dir, "%s/pool", work);
    const char *pc = "{\"pooling_mode_mean_sqrt_len_tokens\": true}";
    hf_copy(dir, "1_Pooling/config.json", pc, strlen(pc));
    CHECK_EQ_INT(open_err(dir, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "pooling_mode_mean_sqrt_len_tokens is not supported") != NULL);
    /* real tokenizer_config.json files say model_max_length 1e30 as an integer */
    snprintf(dir, sizeof dir, "%s/bigmax", work);
    const char *tc = "{\"do_lower_case\": true, \"model_max_length\": "
                     "1000000000000000019884624838656}";
    hf_copy(dir, "tokenizer_config.json", tc, strlen(tc));
    struct vt_encoder *ok = NULL;
    CHECK_EQ_INT(vt_encoder_open(dir, &ok, &err), 0);
    if (ok) {
        struct vt_encoder_info info;
        vt_encoder_info(ok, &info);
        CHECK_EQ_INT(info.max_tokens, 40);
        vt_encoder_free(ok);
    }
    /* no model folder at all */
    CHECK_EQ_INT(open_err("/nonexistent/model", &err), VT_EIO);
    free(st);
}

/* ---- safetensors in memory ---- */

static unsigned char *st_kept;   /* bytes behind the last vt_st returned by st_mem */

static int st_mem(const char *header, size_t data_len, struct vt_error *err, struct vt_st **out)
{
    size_t hl = strlen(header), n = 8 + hl + data_len;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + hl + i] = (unsigned char)(i * 7);
    struct vt_st *f = NULL;
    vt_error_clear(err);
    int rc = vt_st_open_mem(buf, n, "t.safetensors", &f, err);
    if (out && rc == 0) {
        *out = f;   /* the caller frees f, then st_kept */
        st_kept = buf;
        return 0;
    }
    vt_st_free(f);
    free(buf);
    return rc;
}

TEST(safetensors_header_checks)
{
    struct vt_error err;
    CHECK_EQ_INT(st_mem("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
                        &err, NULL),
                 VT_EFORMAT);
    CHECK(strstr(err.message, "t.safetensors: tensor 'a' data_offsets [0, 16] fall outside the "
                              "data section (8 bytes)") != NULL);
    CHECK_EQ_INT(err.offset,
                 8 + strlen("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"));
    CHECK_EQ_INT(st_mem("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                        12, &err, NULL),
                 VT_EFORMAT);
    CHECK(strstr(err.message, "overlap") != NULL);
    CHECK_EQ_INT(st_mem("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                        &err, NULL),
                 VT_EFORMAT);
    CHECK(strstr(err.message, "holds 8 bytes but its F32 shape needs 12") != NULL);
    CHECK_EQ_INT(st_mem("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
                        &err, NULL),
                 VT_EFORMAT);
    CHECK(strstr(err.message, "unknown dtype") != NULL);
    CHECK_EQ_INT(st_mem("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
                        &err, NULL),
                 VT_EFORMAT);
    CHECK_EQ_INT(st_mem("{\"a\": [1, 2", 0, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "not valid JSON") != NULL);
    CHECK_EQ_INT(st_mem("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                        "\"data_offsets\":[0,4]}}", 4, &err, NULL),
                 VT_EFORMAT);
    /* absurd header length */
    unsigned char big[16] = {0, 0, 0, 0, 0, 0, 0, 0x10, '{', '}'};
    struct vt_st *f = NULL;
    CHECK_EQ_INT(vt_st_open_mem(big, sizeof big, "big.safetensors", &f, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "header length 1152921504606846976 is absurd") != NULL);
    /* F16 and BF16 convert exactly; I64 is listed but not converted */
    CHECK_EQ_INT(st_mem("{\"__metadata__\":{\"format\":\"pt\"},"
                        "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
                        "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}",
                        16, &err, &f),
                 0);
    if (f) {
        CHECK_STR(vt_st_meta(f, "format"), "pt");
        CHECK_EQ_INT(vt_st_count(f), 3);
        float v[2];
        const struct vt_st_tensor *t = vt_st_find(f, "h");
        /* bytes 0,7,14,21: f16 0x0700 = 2^-14 * (0x300/1024 + ...) etc. */
        CHECK(t && vt_st_to_f32(f, t, v, &err) == 0);
        CHECK(v[0] == vt_f16_one(0x0700) && v[1] == vt_f16_one(0x150E));
        t = vt_st_find(f, "b");
        CHECK(t && vt_st_to_f32(f, t, v, &err) == 0);
        uint32_t bits = (uint32_t)0x231C << 16;   /* bytes 28, 35 */
        float want;
        memcpy(&want, &bits, 4);
        CHECK(v[0] == want);
        t = vt_st_find(f, "i");
        CHECK(t && vt_st_to_f32(f, t, v, &err) == VT_EFORMAT);
        CHECK(strstr(err.message, "is I64; only F32, F16 and BF16") != NULL);
        vt_st_free(f);
        free(st_kept);
    }
}

TEST(half_precision_conversion)
{
    CHECK(vt_f16_one(0x3C00) == 1.0f);
    CHECK(vt_f16_one(0xC000) == -2.0f);
    CHECK(vt_f16_one(0x7BFF) == 65504.0f);
    CHECK(vt_f16_one(0x0001) == ldexpf(1.0f, -24));   /* smallest subnormal */
    CHECK(vt_f16_one(0x03FF) == ldexpf(1023.0f, -24));
    CHECK(isinf(vt_f16_one(0x7C00)) && isnan(vt_f16_one(0x7E00)));
    CHECK(vt_f16_one(0x8000) == 0.0f && signbit(vt_f16_one(0x8000)));
    uint16_t b[2] = {0x3F80, 0xC2F7};
    float f[2];
    vt_bf16_to_f32(b, f, 2);
    CHECK(f[0] == 1.0f && f[1] == -123.5f);
}

/* ---- GGUF built in memory ---- */

static void put(struct vt_buf *b, const void *p, size_t n)
{
    vt_buf_append(b, p, n);
}

static void put_u32(struct vt_buf *b, uint32_t v)
{
    put(b, &v, 4);
}

static void put_u64(struct vt_buf *b, uint64_t v)
{
    put(b, &v, 8);
}

static void put_str(struct vt_buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void gguf_head(struct vt_buf *b, uint64_t nt, uint64_t nkv)
{
    vt_buf_init(b, 0);
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, nt);
    put_u64(b, nkv);
}

static int gguf_mem(struct vt_buf *b, struct vt_error *err, struct vt_gguf **out)
{
    struct vt_gguf *g = NULL;
    vt_error_clear(err);
    int rc = vt_gguf_open_mem(b->data, b->len, "t.gguf", &g, err);
    if (out && rc == 0) {
        *out = g;
        return 0;
    }
    vt_gguf_free(g);
    return rc;
}

TEST(gguf_absurd_counts_and_lengths)
{
    struct vt_buf b;
    struct vt_error err;
    gguf_head(&b, 1ULL << 40, 0);
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "tensor count 1099511627776 is absurd for a file of 24 bytes"));
    vt_buf_reset(&b);

    gguf_head(&b, 0, 1ULL << 62);
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "metadata count") && strstr(err.message, "absurd"));
    vt_buf_reset(&b);

    gguf_head(&b, 0, 1);
    put_u64(&b, 1ULL << 62);   /* key length */
    put(&b, "general.name", 12);
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "a metadata key has length 4611686018427387904, more than the 12 "
                              "bytes left (byte 24)") != NULL);
    CHECK_EQ_INT(err.offset, 24);
    vt_buf_reset(&b);

    gguf_head(&b, 0, 1);
    put_str(&b, "general.name");
    put_u32(&b, VT_GGUF_STRING);
    put_u64(&b, 1000000);
    put(&b, "bert", 4);
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "general.name has length 1000000, more than the 4 bytes left"));
    vt_buf_reset(&b);

    gguf_head(&b, 0, 1);
    put_str(&b, "tokenizer.ggml.tokens");
    put_u32(&b, VT_GGUF_ARRAY);
    put_u32(&b, VT_GGUF_STRING);
    put_u64(&b, 1ULL << 50);
    put_str(&b, "a");
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "claims 1125899906842624 strings") != NULL);
    vt_buf_reset(&b);

    gguf_head(&b, 0, 0);
    b.data[4] = 1;   /* version 1 */
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "version 1 is not supported") != NULL);
    b.data[0] = 'X';
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "not a GGUF file") != NULL);
    vt_buf_reset(&b);

    /* truncated in the middle of a tensor info */
    gguf_head(&b, 1, 0);
    put_str(&b, "w");
    put_u32(&b, 4);
    put_u64(&b, 4);
    put_u64(&b, 4);
    put_u64(&b, 4);
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "truncated at byte") && strstr(err.message, "w"));
    vt_buf_reset(&b);

    /* tensor data past the end of the file */
    gguf_head(&b, 1, 0);
    put_str(&b, "w");
    put_u32(&b, 1);
    put_u64(&b, 64);
    put_u32(&b, VT_GGML_F32);
    put_u64(&b, 0);
    while (b.len % 32)
        put(&b, "", 1);
    put(&b, "0123456789abcdef", 16);
    CHECK_EQ_INT(gguf_mem(&b, &err, NULL), VT_EFORMAT);
    CHECK(strstr(err.message, "tensor 'w' [0, +256) runs past the end") != NULL);
    vt_buf_reset(&b);
}

TEST(gguf_values_and_q8_0)
{
    struct vt_buf b;
    struct vt_error err;
    gguf_head(&b, 1, 3);
    put_str(&b, "general.alignment");
    put_u32(&b, VT_GGUF_U32);
    put_u32(&b, 64);
    put_str(&b, "x.eps");
    put_u32(&b, VT_GGUF_F32);
    float eps = 1e-5f;
    put(&b, &eps, 4);
    put_str(&b, "x.list");
    put_u32(&b, VT_GGUF_ARRAY);
    put_u32(&b, VT_GGUF_STRING);
    put_u64(&b, 2);
    put_str(&b, "[CLS]");
    put_str(&b, "\xe2\x96\x81sofa");
    put_str(&b, "q");
    put_u32(&b, 2);
    put_u64(&b, 32);
    put_u64(&b, 2);
    put_u32(&b, VT_GGML_Q8_0);
    put_u64(&b, 0);
    while (b.len % 64)
        put(&b, "", 1);
    for (int blk = 0; blk < 2; blk++) {
        uint16_t d = blk ? 0xB800 : 0x3800;   /* +0.5, -0.5 */
        put(&b, &d, 2);
        for (int i = 0; i < 32; i++) {
            signed char q = (signed char)(i - 16);
            put(&b, &q, 1);
        }
    }
    struct vt_gguf *g = NULL;
    CHECK_EQ_INT(gguf_mem(&b, &err, &g), 0);
    if (g) {
        double f;
        uint64_t u;
        CHECK_EQ_INT(vt_gguf_get_float(g, "x.eps", &f, &err), 0);
        CHECK(fabs(f - 1e-5) < 1e-9);
        CHECK_EQ_INT(vt_gguf_get_uint(g, "general.alignment", &u, &err), 0);
        CHECK_EQ_INT(u, 64);
        CHECK_EQ_INT(vt_gguf_get_uint(g, "x.eps", &u, &err), VT_EFORMAT);
        CHECK(strstr(err.message, "metadata 'x.eps' is not an integer") != NULL);
        CHECK_EQ_INT(vt_gguf_get_uint(g, "missing", &u, &err), VT_ENOTFOUND);
        const struct vt_gguf_kv *kv = vt_gguf_find(g, "x.list");
        CHECK(kv && kv->arr_count == 2 && kv->arr_strs[1].len == 7);
        const struct vt_gguf_tensor *t = vt_gguf_find_tensor(g, "q");
        CHECK(t && t->ne[0] == 32 && t->ne[1] == 2 && t->nbytes == 68);
        float v[64];
        CHECK(t && vt_gguf_to_f32(g, t, v, &err) == 0);
        CHECK(v[0] == -8.0f && v[31] == 7.5f && v[32] == 8.0f && v[63] == -7.5f);
        vt_gguf_free(g);
    }
    vt_buf_reset(&b);
}

TEST(gguf_unknown_architecture_and_missing_tensor)
{
    struct vt_buf b;
    struct vt_error err;
    char path[600];
    gguf_head(&b, 0, 1);
    put_str(&b, "general.architecture");
    put_u32(&b, VT_GGUF_STRING);
    put_str(&b, "llama");
    snprintf(path, sizeof path, "%s/llama.gguf", work);
    write_file(path, b.data, b.len);
    CHECK_EQ_INT(open_err(path, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "llama.gguf: unknown architecture \"llama\"") != NULL);
    vt_buf_reset(&b);

    /* a BERT header whose tensors are missing */
    const char *keys[] = {"bert.embedding_length", "bert.block_count",
                          "bert.attention.head_count", "bert.feed_forward_length",
                          "bert.context_length"};
    uint32_t vals[] = {8, 1, 2, 16, 8};
    gguf_head(&b, 0, 7);
    put_str(&b, "general.architecture");
    put_u32(&b, VT_GGUF_STRING);
    put_str(&b, "bert");
    for (int i = 0; i < 5; i++) {
        put_str(&b, keys[i]);
        put_u32(&b, VT_GGUF_U32);
        put_u32(&b, vals[i]);
    }
    put_str(&b, "tokenizer.ggml.model");
    put_u32(&b, VT_GGUF_STRING);
    put_str(&b, "bert");
    snprintf(path, sizeof path, "%s/empty.gguf", work);
    write_file(path, b.data, b.len);
    CHECK_EQ_INT(open_err(path, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "no tokenizer.ggml.tokens") != NULL);
    vt_buf_reset(&b);

    /* the real file, truncated */
    size_t n;
    char *gg = read_all(TINY "/model.gguf", &n);
    CHECK(gg != NULL);
    if (gg) {
        snprintf(path, sizeof path, "%s/trunc.gguf", work);
        write_file(path, gg, n - 1000);
        CHECK_EQ_INT(open_err(path, &err), VT_EFORMAT);
        CHECK(strstr(err.message, "runs past the end of the data section") != NULL);
        free(gg);
    }
}

/* ---- WordPiece ---- */

static struct vt_wordpiece *small_vocab(size_t max_tokens)
{
    static const char *tok[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able",
                                "play", "##ing", "sofa", ",", "沙", "发", "cafe", "a", "##a"};
    struct vt_wordpiece_opts o;
    struct vt_wordpiece *wp = NULL;
    vt_wordpiece_opts_default(&o);
    o.max_tokens = max_tokens;
    vt_wordpiece_new(tok, sizeof tok / sizeof *tok, &o, &wp, NULL);
    return wp;
}

static int ids_are(const struct vt_wordpiece *wp, const char *text, const int32_t *want,
                   size_t nwant)
{
    int32_t *ids;
    size_t n;
    if (vt_wordpiece_encode(wp, text, strlen(text), &ids, &n, NULL) != 0)
        return 0;
    int ok = n == nwant && memcmp(ids, want, n * sizeof *ids) == 0;
    if (!ok) {
        fprintf(stderr, "  \"%s\" ->", text);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    vt_free(ids);
    return ok;
}

TEST(wordpiece_rules)
{
    struct vt_wordpiece *wp = small_vocab(512);
    CHECK(wp != NULL);
    if (!wp)
        return;
    CHECK(ids_are(wp, "unaffable", (int32_t[]){2, 4, 5, 6, 3}, 5));
    CHECK(ids_are(wp, "UnAffable, PLAYING", (int32_t[]){2, 4, 5, 6, 10, 7, 8, 3}, 8));
    CHECK(ids_are(wp, "Café沙发", (int32_t[]){2, 13, 11, 12, 3}, 5));
    CHECK(ids_are(wp, "unknownword sofa", (int32_t[]){2, 1, 9, 3}, 4));
    CHECK(ids_are(wp, "", (int32_t[]){2, 3}, 2));
    char longw[120];
    memset(longw, 'a', 101);
    longw[101] = '\0';
    CHECK(ids_are(wp, longw, (int32_t[]){2, 1, 3}, 3));   /* over 100 characters */
    longw[100] = '\0';
    int32_t want[102];
    want[0] = 2;
    want[1] = 14;
    for (int i = 2; i < 101; i++)
        want[i] = 15;
    want[101] = 3;
    CHECK(ids_are(wp, longw, want, 102));                   /* exactly 100: a ##a ##a... */
    struct vt_error err;
    int32_t *ids;
    size_t n;
    CHECK_EQ_INT(vt_wordpiece_encode(wp, "sofa \xff", 6, &ids, &n, &err), VT_EINVAL);
    CHECK_EQ_INT(err.offset, 5);
    CHECK(strstr(err.message, "not valid UTF-8") != NULL);
    vt_wordpiece_free(wp);

    /* truncation keeps the first max_tokens - 2 pieces, even inside a word */
    wp = small_vocab(5);
    CHECK(ids_are(wp, "sofa unaffable sofa", (int32_t[]){2, 9, 4, 5, 3}, 5));
    /* a megabyte of text stops at the limit */
    size_t big = 1 << 20;
    char *t = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        t[i] = i % 5 == 4 ? ' ' : "sofa"[i % 5];
    t[big] = '\0';
    double t0 = now_ms();
    CHECK_EQ_INT(vt_wordpiece_encode(wp, t, big, &ids, &n, &err), 0);
    CHECK(now_ms() - t0 < 200);
    CHECK_EQ_INT(n, 5);
    vt_free(ids);
    free(t);
    vt_wordpiece_free(wp);

    /* a vocabulary without [CLS] is refused */
    const char *bad[] = {"[UNK]", "[SEP]", "a"};
    struct vt_wordpiece_opts o;
    vt_wordpiece_opts_default(&o);
    CHECK_EQ_INT(vt_wordpiece_new(bad, 3, &o, &wp, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "no [CLS] token") != NULL);
}

TEST(wordpiece_tokenizer_json)
{
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer.json", work);
    const char *j =
        "{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":false,"
        "\"strip_accents\":null,\"handle_chinese_chars\":true,\"clean_text\":true},"
        "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
        "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"<s>\",7],"
        "\"cls\":[\"<c>\",6]},"
        "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"<u>\","
        "\"continuing_subword_prefix\":\"@@\",\"max_input_chars_per_word\":5,"
        "\"vocab\":{\"<u>\":0,\"Sofa\":2,\"@@s\":3,\"<c>\":6,\"<s>\":7,\"é\":9}}}";
    write_file(path, j, strlen(j));
    struct vt_wordpiece_opts o;
    struct vt_wordpiece *wp;
    struct vt_error err;
    vt_wordpiece_opts_default(&o);
    CHECK_EQ_INT(vt_wordpiece_load_json(path, &o, &wp, &err), 0);
    if (!wp)
        return;
    CHECK_EQ_INT(vt_wordpiece_vocab_size(wp), 10);
    CHECK(vt_wordpiece_token(wp, 4) == NULL);   /* a hole in the ids */
    /* cased, accents kept, custom prefix and specials, 5-character words */
    CHECK(ids_are(wp, "Sofas é sofa Sofasss", (int32_t[]){6, 2, 3, 9, 0, 0, 7}, 7));
    vt_wordpiece_free(wp);
    j = "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}";
    write_file(path, j, strlen(j));
    CHECK_EQ_INT(vt_wordpiece_load_json(path, &o, &wp, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "tokenizer model is Unigram; only WordPiece") != NULL);
}

/* ---- larger goldens (tests/golden/bert/check-large) ---- */

static int golden_dirs(int argc, char **argv)
{
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        json_t *g = load_golden(argv[i]);
        if (!g) {
            bad++;
            continue;
        }
        char hf[600], gg[600];
        snprintf(hf, sizeof hf, "%s/hf", argv[i]);
        snprintf(gg, sizeof gg, "%s/model.gguf", argv[i]);
        const char *paths[] = {hf, gg};
        for (int p = 0; p < 2; p++) {
            struct cmp r;
            double t0 = now_ms();
            int rc = compare_model(paths[p], g, &r);
            double total = now_ms() - t0;
            int ok = rc == 0 && r.id_mismatch == 0 && r.max_diff <= TOL && r.max_diff_cls <= TOL;
            printf("%-40s %s: %d texts, ids %s, max |diff| %.2e (declared pooling), %.2e (cls), "
                   "min cosine %.8f, encode %.0f ms, load+check %.0f ms [%s]\n",
                   paths[p], json_string_value(json_object_get(g, "shape")), r.cases,
                   r.id_mismatch ? "DIFFER" : "exact", r.max_diff, r.max_diff_cls, r.min_cos,
                   r.ms, total, vt_kernels_name());
            bad += !ok;
        }
        json_decref(g);
    }
    printf("golden check: %s\n", bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    vt_alloc_install_json();
    if (argc > 1 && strcmp(argv[1], "--golden") == 0)
        return golden_dirs(argc - 2, argv + 2);
    if (!mkdtemp(work)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(tiny_matches_golden_both_formats_both_kernel_sets);
    RUN(batch_equals_one_by_one);
    RUN(info_and_model_id);
    RUN(bad_hugging_face_folders);
    RUN(safetensors_header_checks);
    RUN(half_precision_conversion);
    RUN(gguf_absurd_counts_and_lengths);
    RUN(gguf_values_and_q8_0);
    RUN(gguf_unknown_architecture_and_missing_tensor);
    RUN(wordpiece_rules);
    RUN(wordpiece_tokenizer_json);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", work);
    return TEST_SUMMARY();
}
