/*
 * fuzz_tfjs.c - libFuzzer target for the TF.js graph-model reader
 * (nn/tfjs.h).
 *
 * Input: a model.json, then optionally a NUL byte and shard bytes. Every
 * shard path the manifest names is served the same shard bytes from
 * memory, so small manifests whose sizes add up get decoded too. After a
 * successful parse every node's inputs and attributes and every weight's
 * data are read, so a bad pointer or size shows up under the sanitizers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/tfjs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct blob {
    const uint8_t *p;
    size_t n;
};

static int blob_size(void *ctx, const char *path, uint64_t *size, struct vt_error *err)
{
    (void)path;
    (void)err;
    *size = ((struct blob *)ctx)->n;
    return 0;
}

static int blob_read(void *ctx, const char *path, void *dst, size_t n, struct vt_error *err)
{
    struct blob *b = ctx;
    if (n != b->n)
        return vt_error_set(err, VT_EIO, "", "%s: size changed", path);
    if (n)
        memcpy(dst, b->p, n);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    struct blob b = {nul ? nul + 1 : data + size, nul ? size - json_len - 1 : 0};
    struct vt_tfjs_source src = {blob_size, blob_read, &b};
    struct vt_tfjs_model *m = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    if (vt_tfjs_parse((const char *)data, json_len, "fuzz.json", &src, &m, &err) != 0) {
        if (m != NULL || err.message[0] == '\0')
            abort(); /* failures return nothing and say why */
        return 0;
    }
    volatile uint32_t sink = 0;
    static const char *keys[] = {"T", "dtype", "value", "strides", "padding", "data_format",
                                 "squeeze_dims", "num_split", "adj_y", "shrink_axis_mask"};
    for (size_t i = 0; i < m->n_nodes; i++) {
        const struct vt_tfjs_node *n = &m->nodes[i];
        sink += (uint32_t)strlen(n->name) + (uint32_t)strlen(n->op);
        for (size_t j = 0; j < n->n_inputs; j++)
            sink += (uint32_t)strlen(n->inputs[j]);
        if (vt_tfjs_node_find(m, n->name) == NULL)
            abort();
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            int64_t iv, list[8];
            double d;
            int bv;
            size_t cnt;
            char s[32];
            vt_tfjs_attr_int(n, keys[k], &iv);
            vt_tfjs_attr_type(n, keys[k], &iv);
            vt_tfjs_attr_float(n, keys[k], &d);
            vt_tfjs_attr_bool(n, keys[k], &bv);
            vt_tfjs_attr_str(n, keys[k], s, sizeof s);
            vt_tfjs_attr_ints(n, keys[k], list, 8, &cnt);
        }
    }
    for (size_t i = 0; i < m->n_weights; i++) {
        const struct vt_tfjs_weight *w = &m->weights[i];
        size_t esize = w->dtype == VT_TFJS_BOOL ? 1 : 4;
        const uint8_t *p = w->data;
        for (size_t k = 0; k < w->count * esize; k++)
            sink += p[k];
        char shape[128];
        vt_tfjs_shape_format(w->shape, w->ndim, shape, sizeof shape);
        if (vt_tfjs_weight_find(m, w->name) == NULL)
            abort();
    }
    (void)sink;
    vt_tfjs_free(m);
    return 0;
}

#ifdef FUZZ_STANDALONE
/* Without libFuzzer: run each file named on the command line once. */
#include <stdio.h>
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 22];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
