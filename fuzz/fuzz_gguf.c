/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader.
 *
 * Input: the bytes of a file. A file that opens must expose only metadata
 * and tensors inside the input, every F32/F16/BF16/Q8_0 tensor must
 * convert, and the typed getters must agree with the stored types; one
 * that does not open must say why, without allocating more than the input
 * could describe. Build: see fuzz/README-bert.md.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const void *p, size_t n, const uint8_t *base, size_t size)
{
    const uint8_t *q = p;
    return q >= base && q <= base + size && n <= (size_t)(base + size - q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct vt_gguf *g = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    if (vt_gguf_open_mem(copy, size, "fuzz.gguf", &g, &err) != 0) {
        assert(g == NULL && err.code != 0 && err.message[0]);
        free(copy);
        return 0;
    }
    for (size_t i = 0; i < vt_gguf_kv_count(g); i++) {
        const struct vt_gguf_kv *kv = vt_gguf_kv_at(g, i);
        assert(vt_gguf_find(g, kv->key) != NULL);
        if (kv->type == VT_GGUF_STRING)
            assert(inside(kv->s.p, kv->s.len, copy, size));
        if (kv->type == VT_GGUF_ARRAY && kv->arr_type == VT_GGUF_STRING)
            for (uint64_t j = 0; j < kv->arr_count; j++)
                assert(inside(kv->arr_strs[j].p, kv->arr_strs[j].len, copy, size));
        uint64_t u;
        double f;
        struct vt_gguf_str s;
        int rc = vt_gguf_get_uint(g, kv->key, &u, &err);
        assert(rc == 0 || rc == VT_EFORMAT);
        rc = vt_gguf_get_float(g, kv->key, &f, &err);
        assert((rc == 0) == (kv->type == VT_GGUF_F32 || kv->type == VT_GGUF_F64));
        rc = vt_gguf_get_str(g, kv->key, &s, &err);
        assert((rc == 0) == (kv->type == VT_GGUF_STRING));
    }
    for (size_t i = 0; i < vt_gguf_tensor_count(g); i++) {
        const struct vt_gguf_tensor *t = vt_gguf_tensor_at(g, i);
        assert(inside(t->data, t->nbytes, copy, size));
        if (t->type == VT_GGML_F32 || t->type == VT_GGML_F16 || t->type == VT_GGML_BF16 ||
            t->type == VT_GGML_Q8_0) {
            float *out = vt_malloc(t->numel * sizeof *out + 1);
            assert(vt_gguf_to_f32(g, t, out, &err) == 0);
            vt_free(out);
        } else {
            float one;
            assert(t->numel == 0 || vt_gguf_to_f32(g, t, &one, &err) == VT_EFORMAT);
        }
    }
    vt_gguf_free(g);
    free(copy);
    return 0;
}

#ifdef FUZZ_STANDALONE
#include <stdio.h>
int main(int argc, char **argv)
{
    static uint8_t buf[1 << 22];
    for (int i = 1; i < argc; i++) {
        FILE *in = fopen(argv[i], "rb");
        if (!in)
            continue;
        size_t n = fread(buf, 1, sizeof buf, in);
        fclose(in);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
