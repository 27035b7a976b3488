/* test_use.c - Universal Sentence Encoder Lite against the TF.js reference,
 * the TF.js model reader and the SentencePiece tokenizer.
 *
 * Run from the repository root. The model comes from data/models/use-lite
 * (scripts/fetch-models is run when it is missing); the reference outputs
 * from tests/golden/use/golden.jsonl (see the README there). Tolerances:
 * token ids equal, cosine >= 0.99999 and max |difference| <= 1e-4 per
 * vector. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/util.h"
#include "nn/encoder.h"
#include "nn/kernels.h"
#include "nn/tfjs.h"
#include "nn/use_lite.h"
#include "text/spm.h"
#include "test.h"

#define MODEL_DIR "data/models/use-lite"
#define GOLDEN_DIR "tests/golden/use"
#define BAD_DIR "build/test-use"
#define DIM 512

static struct vt_encoder *enc;
static size_t n_golden;
static char **sentences;
static json_t **golden_ids;
static float *golden_vecs;

/* ---- helpers ------------------------------------------------------------ */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static json_t *load_jsonl(const char *path, size_t *count)
{
    json_error_t jerr;
    FILE *f = fopen(path, "r");
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (!f) {
        fprintf(stderr, "  cannot open %s\n", path);
        return arr;
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *v = json_loadb(line, (size_t)n, JSON_DECODE_ANY, &jerr);
        if (!v) {
            fprintf(stderr, "  %s: %s\n", path, jerr.text);
            break;
        }
        json_array_append_new(arr, v);
    }
    free(line);
    fclose(f);
    *count = json_array_size(arr);
    return arr;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static int copy_file(const char *from, const char *to, long truncate_by)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    int rc = -1;
    if (in && out) {
        fseek(in, 0, SEEK_END);
        long n = ftell(in) - truncate_by;
        fseek(in, 0, SEEK_SET);
        char buf[65536];
        while (n > 0) {
            size_t k = fread(buf, 1, n < (long)sizeof buf ? (size_t)n : sizeof buf, in);
            if (k == 0 || fwrite(buf, 1, k, out) != k)
                break;
            n -= (long)k;
        }
        rc = n == 0 ? 0 : -1;
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return rc;
}

static const char *model_files[] = {"model.json",       "vocab.json",       "group1-shard1of7",
                                    "group1-shard2of7", "group1-shard3of7", "group1-shard4of7",
                                    "group1-shard5of7", "group1-shard6of7", "group1-shard7of7"};

/* A fresh folder BAD_DIR/name whose files link to the real model's. */
static void make_model_copy(const char *name, char *dir, size_t size)
{
    char cwd[4096], from[8192], to[8192];
    mkdir("build", 0755);
    mkdir(BAD_DIR, 0755);
    snprintf(dir, size, BAD_DIR "/%s", name);
    mkdir(dir, 0755);
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    for (size_t i = 0; i < sizeof model_files / sizeof *model_files; i++) {
        snprintf(from, sizeof from, "%s/" MODEL_DIR "/%s", cwd, model_files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, model_files[i]);
        unlink(to);
        if (symlink(from, to) != 0)
            fprintf(stderr, "  symlink %s: %s\n", to, strerror(errno));
    }
}

/* Replace dir/model.json with the real one edited by fn. */
static void edit_model_json(const char *dir, void (*fn)(json_t *root))
{
    char path[8192];
    json_t *root = json_load_file(MODEL_DIR "/model.json", 0, NULL);
    CHECK(root != NULL);
    if (!root)
        return;
    fn(root);
    snprintf(path, sizeof path, "%s/model.json", dir);
    unlink(path);
    CHECK(json_dump_file(root, path, JSON_COMPACT) == 0);
    json_decref(root);
}

static json_t *manifest_weight(json_t *root, const char *name)
{
    json_t *ws = json_object_get(json_array_get(json_object_get(root, "weightsManifest"), 0),
                                 "weights");
    for (size_t i = 0; i < json_array_size(ws); i++) {
        json_t *w = json_array_get(ws, i);
        if (strcmp(json_string_value(json_object_get(w, "name")), name) == 0)
            return w;
    }
    return NULL;
}

static json_t *graph_node(json_t *root, const char *name)
{
    json_t *ns = json_object_get(json_object_get(root, "modelTopology"), "node");
    for (size_t i = 0; i < json_array_size(ns); i++) {
        json_t *n = json_array_get(ns, i);
        if (strcmp(json_string_value(json_object_get(n, "name")), name) == 0)
            return n;
    }
    return NULL;
}

static int open_fails_with(const char *dir, int code, const char *needle)
{
    struct vt_encoder *e = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_use_lite_open(dir, &e, &err);
    int ok = rc == code && e == NULL && strstr(err.message, needle) != NULL;
    if (!ok)
        fprintf(stderr, "  open(%s) = %d (%s), want %d with \"%s\"\n", dir, rc, err.message, code,
                needle);
    vt_encoder_free(e);
    return ok;
}

/* ---- the model against the reference ------------------------------------ */

TEST(model_info)
{
    struct vt_encoder_info info;
    vt_encoder_info(enc, &info);
    CHECK_STR(info.arch, "use-lite");
    CHECK_STR(info.model_id, "use-lite@0.2.0");
    CHECK_STR(info.license, "Apache-2.0");
    CHECK_STR(info.pooling, "mean");
    CHECK_EQ_INT(info.dim, DIM);
    CHECK_EQ_INT(info.vocab_size, 8000);
    CHECK_EQ_INT(info.max_tokens, 128);
    CHECK_EQ_INT(info.layers, 2);
    CHECK_EQ_INT(info.hidden, 512);
    CHECK_EQ_INT(info.heads, 4);
    CHECK_EQ_INT(info.normalized, 1);
}

TEST(golden_token_ids)
{
    size_t mismatches = 0;
    struct vt_error err;
    for (size_t i = 0; i < n_golden; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = vt_encoder_tokenize(enc, sentences[i], strlen(sentences[i]), &ids, &n, &err);
        int same = rc == 0 && n == json_array_size(golden_ids[i]);
        for (size_t k = 0; same && k < n; k++)
            same = ids[k] == json_integer_value(json_array_get(golden_ids[i], k));
        if (!same && mismatches++ < 5)
            fprintf(stderr, "  token ids differ for sentence %zu: \"%.60s\"\n", i, sentences[i]);
        vt_free(ids);
    }
    printf("use-lite tokens: %zu sentences, %zu token-id mismatches\n", n_golden, mismatches);
    CHECK(n_golden >= 300);
    CHECK_EQ_INT(mismatches, 0);
}

TEST(golden_vectors_batched)
{
    const size_t batch = 32;
    float *out = vt_calloc(n_golden ? n_golden : 1, DIM * sizeof *out);
    struct vt_error err;
    double worst_cos = 1, worst_diff = 0;
    size_t worst_i = 0;
    int64_t t0 = vt_time_mono_ns();
    for (size_t i = 0; i < n_golden; i += batch) {
        size_t k = n_golden - i < batch ? n_golden - i : batch;
        int rc = vt_encoder_encode(enc, (const char *const *)sentences + i, k, out + i * DIM, &err);
        CHECK_EQ_INT(rc, 0);
    }
    double secs = (double)(vt_time_mono_ns() - t0) / 1e9;
    for (size_t i = 0; i < n_golden; i++) {
        double c = cosine(out + i * DIM, golden_vecs + i * DIM, DIM);
        double d = max_abs_diff(out + i * DIM, golden_vecs + i * DIM, DIM);
        if (c < worst_cos)
            worst_cos = c, worst_i = i;
        worst_diff = fmax(worst_diff, d);
        if (c < 0.99999 || d > 1e-4)
            fprintf(stderr, "  sentence %zu off: cosine %.8f, max diff %.3g: \"%.60s\"\n", i, c,
                    d, sentences[i]);
    }
    printf("use-lite vectors: %zu sentences in batches of %zu (%.2f s), worst cosine %.12f "
           "(sentence %zu), max abs diff %.3g\n",
           n_golden, batch, secs, worst_cos, worst_i, worst_diff);
    CHECK(worst_cos >= 0.99999);
    CHECK(worst_diff <= 1e-4);
    /* Outputs are unit vectors. */
    for (size_t i = 0; i < n_golden; i++)
        CHECK_NEAR(sqrt(vt_dot(out + i * DIM, out + i * DIM, DIM)), 1.0, 1e-5);

    /* One at a time gives the same vectors as in a batch. */
    const size_t picks[] = {0, 1, 7, 100, 171, 250, 300, n_golden - 1};
    double batch_diff = 0;
    for (size_t p = 0; p < sizeof picks / sizeof *picks; p++) {
        size_t i = picks[p] < n_golden ? picks[p] : 0;
        float one[DIM];
        CHECK_EQ_INT(vt_encoder_encode(enc, (const char *const *)sentences + i, 1, one, &err), 0);
        batch_diff = fmax(batch_diff, max_abs_diff(one, out + i * DIM, DIM));
        CHECK(cosine(one, golden_vecs + i * DIM, DIM) >= 0.99999);
    }
    printf("use-lite batching: max abs diff between batched and single %.3g\n", batch_diff);
    CHECK(batch_diff <= 1e-6);
    vt_free(out);
}

/* The golden set's last sentence is "sofa" x 300: the model reads its
 * first 128 tokens, so any longer repetition gives the same vector. */
TEST(long_text)
{
    const size_t reps = 300000; /* 1.5 MB */
    char *big = malloc(reps * 5 + 1), *nospace = malloc(2 * 1024 * 1024 + 1);
    struct vt_error err;
    size_t ref = n_golden;
    for (size_t i = 0; i < n_golden; i++)
        if (strncmp(sentences[i], "sofa sofa sofa", 14) == 0 && strlen(sentences[i]) > 1000)
            ref = i;
    CHECK(ref < n_golden);
    for (size_t i = 0; i < reps; i++)
        memcpy(big + i * 5, "sofa ", 5);
    big[reps * 5 - 1] = '\0';
    float v[DIM];
    CHECK_EQ_INT(vt_encoder_encode(enc, (const char *const *)&big, 1, v, &err), 0);
    if (ref < n_golden)
        CHECK(cosine(v, golden_vecs + ref * DIM, DIM) >= 0.99999);

    /* The tokenizer itself refuses more than VT_SPM_MAX_TEXT bytes. */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_encoder_tokenize(enc, big, strlen(big), &ids, &n, &err), VT_ETOOBIG);
    CHECK(strstr(err.message, "over the tokenizer's limit") != NULL);
    CHECK(ids == NULL && n == 0);

    /* 2 MB without a space: cut at a character, no crash, a unit vector. */
    for (size_t i = 0; i + 3 <= 2 * 1024 * 1024; i += 3)
        memcpy(nospace + i, "\xe4\xb8\xad", 3); /* 中 */
    nospace[2 * 1024 * 1024 - 2 * 1024 * 1024 % 3] = '\0';
    CHECK_EQ_INT(vt_encoder_encode(enc, (const char *const *)&nospace, 1, v, &err), 0);
    CHECK_NEAR(sqrt(vt_dot(v, v, DIM)), 1.0, 1e-5);
    free(big);
    free(nospace);
}

TEST(bad_text)
{
    struct vt_error err;
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(vt_encoder_tokenize(enc, "sofa \xff", 6, &ids, &n, &err), VT_EINVAL);
    CHECK(strstr(err.message, "not valid UTF-8 (byte 5)") != NULL);
    CHECK_EQ_INT(err.offset, 5);
    CHECK_EQ_INT(vt_encoder_tokenize(enc, "a\0b", 3, &ids, &n, &err), VT_EINVAL);
    CHECK(strstr(err.message, "NUL") != NULL);
    CHECK_EQ_INT(vt_encoder_tokenize(enc, "\xed\xa0\x80", 3, &ids, &n, &err), VT_EINVAL);
    CHECK(ids == NULL);
    const char *texts[] = {"fine", "bro\xc3", "also fine"};
    float out[3 * DIM];
    CHECK_EQ_INT(vt_encoder_encode(enc, texts, 3, out, &err), VT_EINVAL);
    CHECK(strstr(err.message, "text 1: text is not valid UTF-8 (byte 3)") != NULL);
    const char *null_text[] = {"ok", NULL};
    CHECK_EQ_INT(vt_encoder_encode(enc, null_text, 2, out, &err), VT_EINVAL);
    CHECK_EQ_INT(vt_encoder_encode(enc, texts, 0, out, &err), 0);
}

/* ---- bad model folders -------------------------------------------------- */

static void shape_same_count(json_t *root)
{
    json_t *w = manifest_weight(root, "module/Encoder_en/hidden_layers/tanh_layer_0/weights");
    CHECK(w != NULL);
    json_object_set_new(w, "shape", json_pack("[ii]", 256, 1024));
}

static void shape_fewer_bytes(json_t *root)
{
    json_t *w = manifest_weight(root, "module/Embeddings_en");
    CHECK(w != NULL);
    json_object_set_new(w, "shape", json_pack("[ii]", 8002, 255));
}

static void dtype_unknown(json_t *root)
{
    json_t *w = manifest_weight(root, "module/Embeddings_en");
    json_object_set_new(w, "dtype", json_string("float64"));
}

static void op_changed(json_t *root)
{
    json_t *n = graph_node(root, "module_apply_default/Encoder_en/KonaTransformer/Encode/"
                                 "TransformerStack/Layer_0/TransformerLayer/FFN/conv1/Relu");
    CHECK(n != NULL);
    json_object_set_new(n, "op", json_string("Elu"));
}

static void path_escapes(json_t *root)
{
    json_t *paths = json_object_get(json_array_get(json_object_get(root, "weightsManifest"), 0),
                                    "paths");
    json_array_set_new(paths, 0, json_string("../../../etc/passwd"));
}

TEST(bad_models)
{
    char dir[1024], path[2048];

    make_model_copy("truncated", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/group1-shard3of7", dir);
    unlink(path);
    CHECK(copy_file(MODEL_DIR "/group1-shard3of7", path, 12) == 0);
    CHECK(open_fails_with(dir, VT_EFORMAT,
                          "group1-shard3of7 is 12 bytes short of what the manifest declares"));

    make_model_copy("last-truncated", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/group1-shard7of7", dir);
    unlink(path);
    CHECK(copy_file(MODEL_DIR "/group1-shard7of7", path, 1000) == 0);
    CHECK(open_fails_with(dir, VT_EFORMAT, "group1-shard7of7 is 1000 bytes short"));

    make_model_copy("missing", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/group1-shard5of7", dir);
    unlink(path);
    CHECK(open_fails_with(dir, VT_EIO, "group1-shard5of7: weight shard missing"));

    make_model_copy("bad-json", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.json", dir);
    unlink(path);
    CHECK(copy_file(MODEL_DIR "/model.json", path, 100000) == 0);
    CHECK(open_fails_with(dir, VT_EPARSE, "model.json: bad JSON at line"));

    make_model_copy("shape", dir, sizeof dir);
    edit_model_json(dir, shape_same_count);
    CHECK(open_fails_with(dir, VT_EFORMAT,
                          "weight 'module/Encoder_en/hidden_layers/tanh_layer_0/weights' is "
                          "float32 [256,1024], expected float32 [512,"));

    make_model_copy("size", dir, sizeof dir);
    edit_model_json(dir, shape_fewer_bytes);
    CHECK(open_fails_with(dir, VT_EFORMAT,
                          "group1-shard7of7 is 32008 bytes longer than the manifest declares"));

    make_model_copy("dtype", dir, sizeof dir);
    edit_model_json(dir, dtype_unknown);
    CHECK(open_fails_with(dir, VT_EFORMAT, "weight 'module/Embeddings_en' has dtype 'float64'"));

    make_model_copy("graph", dir, sizeof dir);
    edit_model_json(dir, op_changed);
    CHECK(open_fails_with(dir, VT_EFORMAT, "not the USE-Lite graph this encoder implements: "
                                           "graph node 'KonaTransformer/Encode/TransformerStack/"
                                           "Layer_0/TransformerLayer/FFN/conv1/Relu' is op Elu, "
                                           "expected Relu"));

    make_model_copy("path", dir, sizeof dir);
    edit_model_json(dir, path_escapes);
    CHECK(open_fails_with(dir, VT_EFORMAT, "is not a plain relative file name"));

    make_model_copy("vocab", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    unlink(path);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("[[\"\xef\xbf\xbd\", 0], [\"<s>\", \"zero\"]]", f);
        fclose(f);
    }
    CHECK(open_fails_with(dir, VT_EFORMAT, "vocab.json: entry 1 is not a [string, number] pair"));

    CHECK(open_fails_with(BAD_DIR "/no-such-model", VT_EIO, "cannot open"));
}

/* ---- TF.js reader on small models in memory ----------------------------- */

struct mem_shards {
    const char *names[4];
    const unsigned char *data[4];
    size_t len[4];
};

static int mem_size(void *ctx, const char *path, uint64_t *size, struct vt_error *err)
{
    struct mem_shards *m = ctx;
    for (int i = 0; i < 4 && m->names[i]; i++)
        if (strcmp(m->names[i], path) == 0) {
            *size = m->len[i];
            return 0;
        }
    return vt_error_set(err, VT_EIO, "", "%s: weight shard missing", path);
}

static int mem_read(void *ctx, const char *path, void *dst, size_t n, struct vt_error *err)
{
    struct mem_shards *m = ctx;
    for (int i = 0; i < 4 && m->names[i]; i++)
        if (strcmp(m->names[i], path) == 0 && m->len[i] == n) {
            memcpy(dst, m->data[i], n);
            return 0;
        }
    return vt_error_set(err, VT_EIO, "", "%s: read failed", path);
}

TEST(tfjs_formats)
{
    /* w8: uint8 quantised [3] (scale 0.5, min -1); h: float16 [2];
     * b: bool [3]; i: int32 [2] at an odd offset (copied to be aligned). */
    static const char json[] =
        "{\"modelTopology\": {\"node\": ["
        "{\"name\": \"x\", \"op\": \"Placeholder\", \"attr\": {\"dtype\": {\"type\": 1},"
        " \"axis\": {\"i\": \"-3\"}, \"f\": {\"f\": 0.25}, \"fmt\": {\"s\": \"TkhXQw==\"},"
        " \"bytes\": {\"s\": [86, 65, 76, 73, 68]}, \"strides\": {\"list\": {\"i\": [\"1\", \"2\"]}},"
        " \"keep\": {\"b\": true}}},"
        "{\"name\": \"y\", \"op\": \"Add\", \"input\": [\"x\", \"w8\", \"^ctl\"]}]},"
        " \"weightsManifest\": [{\"paths\": [\"s1\", \"s2\"], \"weights\": ["
        "{\"name\": \"w8\", \"shape\": [3], \"dtype\": \"float32\","
        " \"quantization\": {\"dtype\": \"uint8\", \"scale\": 0.5, \"min\": -1}},"
        "{\"name\": \"h\", \"shape\": [2], \"dtype\": \"float32\","
        " \"quantization\": {\"dtype\": \"float16\"}},"
        "{\"name\": \"b\", \"shape\": [3], \"dtype\": \"bool\"},"
        "{\"name\": \"i\", \"shape\": [1, 2], \"dtype\": \"int32\"}]}]}";
    unsigned char bytes[3 + 4 + 3 + 8] = {0, 2, 255, 0x00, 0x3c, 0x00, 0xc0, 1, 0, 1};
    int32_t iv[2] = {-7, 123456};
    memcpy(bytes + 10, iv, 8);
    struct mem_shards ms = {{"s1", "s2"}, {bytes, bytes + 5}, {5, 13}};
    struct vt_tfjs_source src = {mem_size, mem_read, &ms};
    struct vt_tfjs_model *m = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_tfjs_parse(json, strlen(json), "t.json", &src, &m, &err), 0);
    if (!m) {
        fprintf(stderr, "  %s\n", err.message);
        return;
    }
    const struct vt_tfjs_weight *w = vt_tfjs_weight_find(m, "w8");
    CHECK(w && w->count == 3 && w->dtype == VT_TFJS_FLOAT32 && strcmp(w->stored_as, "uint8") == 0);
    if (w) {
        const float *f = w->data;
        CHECK(f[0] == -1.0f && f[1] == 0.0f && f[2] == 126.5f);
    }
    w = vt_tfjs_weight_find(m, "h");
    if (w) {
        const float *f = w->data;
        CHECK(f[0] == 1.0f && f[1] == -2.0f);
    }
    w = vt_tfjs_weight_find(m, "b");
    CHECK(w && w->dtype == VT_TFJS_BOOL && ((const uint8_t *)w->data)[0] == 1 &&
          ((const uint8_t *)w->data)[1] == 0);
    w = vt_tfjs_weight_find(m, "i");
    CHECK(w && w->ndim == 2 && w->shape[1] == 2 && w->offset == 10 && (uintptr_t)w->data % 4 == 0);
    if (w)
        CHECK(((const int32_t *)w->data)[0] == -7 && ((const int32_t *)w->data)[1] == 123456);
    CHECK(vt_tfjs_weight_find(m, "nope") == NULL);

    const struct vt_tfjs_node *x = vt_tfjs_node_find(m, "x"), *y = vt_tfjs_node_find(m, "y");
    CHECK(x && y && y->n_inputs == 3 && strcmp(y->inputs[2], "^ctl") == 0);
    int64_t i64, list[4];
    double d;
    int b;
    size_t cnt;
    char s[16];
    if (x) {
        CHECK(vt_tfjs_attr_int(x, "axis", &i64) == 0 && i64 == -3);
        CHECK(vt_tfjs_attr_type(x, "dtype", &i64) == 0 && i64 == 1);
        CHECK(vt_tfjs_attr_float(x, "f", &d) == 0 && d == 0.25);
        CHECK(vt_tfjs_attr_bool(x, "keep", &b) == 0 && b == 1);
        CHECK(vt_tfjs_attr_str(x, "fmt", s, sizeof s) == 0 && strcmp(s, "NHWC") == 0);
        CHECK(vt_tfjs_attr_str(x, "bytes", s, sizeof s) == 0 && strcmp(s, "VALID") == 0);
        CHECK(vt_tfjs_attr_str(x, "bytes", s, 3) == VT_ETOOBIG && strcmp(s, "VA") == 0);
        CHECK(vt_tfjs_attr_ints(x, "strides", list, 4, &cnt) == 0 && cnt == 2 && list[1] == 2);
        CHECK(vt_tfjs_attr_int(x, "missing", &i64) == VT_ENOTFOUND);
        CHECK(vt_tfjs_attr_int(x, "f", &i64) == VT_EFORMAT);
    }
    vt_tfjs_free(m);

    /* A shape whose byte size overflows is refused before any shard is read. */
    static const char huge[] =
        "{\"modelTopology\": {\"node\": []}, \"weightsManifest\": [{\"paths\": [\"s1\"],"
        " \"weights\": [{\"name\": \"w\", \"shape\": [4294967296, 4294967296, 16],"
        " \"dtype\": \"float32\"}]}]}";
    CHECK_EQ_INT(vt_tfjs_parse(huge, strlen(huge), "t.json", &src, &m, &err), VT_ETOOBIG);
    CHECK(m == NULL && strstr(err.message, "overflows") != NULL);
    static const char neg[] =
        "{\"modelTopology\": {\"node\": []}, \"weightsManifest\": [{\"paths\": [\"s1\"],"
        " \"weights\": [{\"name\": \"w\", \"shape\": [-1], \"dtype\": \"float32\"}]}]}";
    CHECK_EQ_INT(vt_tfjs_parse(neg, strlen(neg), "t.json", &src, &m, &err), VT_EFORMAT);
    static const char layers[] = "{\"modelTopology\": {\"class_name\": \"Sequential\"}}";
    CHECK_EQ_INT(vt_tfjs_parse(layers, strlen(layers), "t.json", &src, &m, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "only TF.js graph models") != NULL);
    CHECK_EQ_INT(vt_tfjs_parse("[1,", 3, "t.json", &src, &m, &err), VT_EPARSE);
}

/* ---- tokenizer rules on a small vocabulary ------------------------------ */

/* Expected ids come from the reference Tokenizer of
 * @tensorflow-models/universal-sentence-encoder 1.3.3 run on this vocab. */
TEST(spm_reference_quirks)
{
    static const char vocab[] =
        "[[\"<unk>\",0],[\"<s>\",0],[\"</s>\",0],[\"e1\",0],[\"e2\",0],[\"e3\",0],"
        "[\"\xe2\x96\x81\",-1],[\"a\",-2],[\"b\",-2],[\"ab\",-3],[\"\xe2\x96\x81" "a\",-1.5],"
        "[\"abc\",null],[\"c\",-5],[\"bc\",-2.5],[\"x\",-1],[\"xy\",-2],[\"y\",-1],"
        "[\"\xf0\x9f\x98\x80\",-1],[\"\xf0\x9f\x98\x80" "b\",-1],[\"q\",-1],[\"q\",-9],"
        "[\"e1x\",-0.5]]";
    static const struct {
        const char *text;
        int n;
        int32_t ids[6];
    } cases[] = {
        {"ab", 2, {10, 8}},          /* "▁a" + "b" beats "▁" + "ab" */
        {"abc", 2, {6, 11}},         /* null score counts as 0 */
        {"xy", 3, {6, 14, 16}},      /* a tie goes to the later candidate */
        {"a b", 3, {10, 6, 8}},
        {"zz", 1, {0}},              /* unknowns step back by len("<unk>") = 5 */
        {"zzab", 2, {0, 9}},
        {"\xf0\x9f\x98\x80" "b", 2, {0, 8}}, /* surrogate halves are symbols */
        {"a\xf0\x9f\x98\x80" "b", 2, {0, 8}},
        {"", 0, {0}},
        {" ", 2, {6, 6}},
        {"\xc3\xa9", 1, {0}},
        {"\xef\xbd\x98\xef\xbd\x99", 3, {6, 14, 16}}, /* NFKC: full-width xy */
        {"c c", 4, {6, 12, 6, 12}},
        {"q", 2, {6, 20}},           /* a later duplicate piece wins */
        {"e1x", 2, {0, 14}},         /* reserved pieces never match */
        {"abcabc", 3, {6, 11, 11}},
        {"b\xf0\x9f\x98\x80" "bx", 3, {0, 8, 14}},
        {"zz zz", 2, {6, 0}},
        {"<s>", 1, {0}},
    };
    struct vt_spm *sp = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_spm_parse(vocab, strlen(vocab), "tiny", &sp, &err), 0);
    if (!sp)
        return;
    CHECK_EQ_INT(vt_spm_vocab_size(sp), 22);
    CHECK_STR(vt_spm_piece(sp, 9), "ab");
    CHECK(vt_spm_piece(sp, 22) == NULL && vt_spm_piece(sp, -1) == NULL);
    struct vt_spm_work w;
    vt_spm_work_init(&w);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int32_t *ids;
        size_t n;
        int rc = vt_spm_encode_work(sp, &w, cases[c].text, strlen(cases[c].text), &ids, &n, &err);
        int same = rc == 0 && n == (size_t)cases[c].n;
        for (size_t k = 0; same && k < n; k++)
            same = ids[k] == cases[c].ids[k];
        if (!same)
            fprintf(stderr, "  tokens of \"%s\" differ from the reference\n", cases[c].text);
        CHECK(same);
    }
    vt_spm_work_reset(&w);
    vt_spm_free(sp);

    /* Vocabularies the tokenizer refuses. */
    static const char *bad[] = {"{}", "[]", "[[\"\", 0]]", "[[\"a\"]]", "[[\"a\", true]]",
                                "[[1, 0]]", "[[\"a\", 0, 1]]", "[[\"a\\u0000b\", 0]]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sp = NULL;
        CHECK(vt_spm_parse(bad[i], strlen(bad[i]), "v", &sp, &err) != 0);
        CHECK(sp == NULL);
    }
}

/* ---- setup -------------------------------------------------------------- */

static int load_golden(void)
{
    size_t ns = 0, ng = 0;
    json_t *s = load_jsonl(GOLDEN_DIR "/sentences.jsonl", &ns);
    json_t *g = load_jsonl(GOLDEN_DIR "/golden.jsonl", &ng);
    int ok = ns == ng && ns > 0;
    if (!ok)
        fprintf(stderr, "  %zu sentences but %zu golden lines\n", ns, ng);
    n_golden = ok ? ns : 0;
    sentences = calloc(n_golden + 1, sizeof *sentences);
    golden_ids = calloc(n_golden + 1, sizeof *golden_ids);
    golden_vecs = calloc((n_golden + 1) * DIM, sizeof *golden_vecs);
    for (size_t i = 0; i < n_golden; i++) {
        json_t *line = json_array_get(g, i), *emb = json_object_get(line, "embedding");
        sentences[i] = strdup(json_string_value(json_array_get(s, i)));
        golden_ids[i] = json_incref(json_object_get(line, "ids"));
        if (json_array_size(emb) != DIM || !json_is_array(golden_ids[i]))
            ok = 0;
        for (size_t k = 0; k < DIM; k++)
            golden_vecs[i * DIM + k] = (float)json_number_value(json_array_get(emb, k));
    }
    json_decref(s);
    json_decref(g);
    return ok;
}

int main(void)
{
    struct vt_error err;
    if (!file_exists(MODEL_DIR "/model.json")) {
        fprintf(stderr, "test_use: %s missing, running scripts/fetch-models\n", MODEL_DIR);
        if (system("scripts/fetch-models") != 0)
            fprintf(stderr, "test_use: scripts/fetch-models failed\n");
    }
    int64_t t0 = vt_time_mono_ns();
    int rc = vt_use_lite_open(MODEL_DIR, &enc, &err);
    if (rc != 0) {
        fprintf(stderr, "test_use: cannot open %s: %s\n", MODEL_DIR, err.message);
        tests_failed++;
        return TEST_SUMMARY();
    }
    printf("use-lite: opened in %.0f ms\n", (double)(vt_time_mono_ns() - t0) / 1e6);
    if (!load_golden()) {
        fprintf(stderr, "test_use: cannot read the golden files under %s\n", GOLDEN_DIR);
        tests_failed++;
    }
    RUN(model_info);
    RUN(golden_token_ids);
    RUN(golden_vectors_batched);
    RUN(long_text);
    RUN(bad_text);
    RUN(bad_models);
    RUN(tfjs_formats);
    RUN(spm_reference_quirks);
    vt_encoder_free(enc);
    for (size_t i = 0; i < n_golden; i++) {
        free(sentences[i]);
        json_decref(golden_ids[i]);
    }
    free(sentences);
    free(golden_ids);
    free(golden_vecs);
    return TEST_SUMMARY();
}
