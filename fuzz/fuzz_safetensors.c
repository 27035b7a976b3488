/*
 * fuzz_safetensors.c - libFuzzer target for the .safetensors reader.
 *
 * Input: the bytes of a file. A file that opens must expose only tensors
 * inside the input, and every float tensor must convert; one that does not
 * open must say why. Build: see fuzz/README-bert.md.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "nn/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy, so a read past the end is caught by the sanitizer */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct vt_st *f = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    if (vt_st_open_mem(copy, size, "fuzz.safetensors", &f, &err) != 0) {
        assert(f == NULL && err.code != 0 && err.message[0]);
        free(copy);
        return 0;
    }
    for (size_t i = 0; i < vt_st_count(f); i++) {
        const struct vt_st_tensor *t = vt_st_at(f, i);
        const uint8_t *p = t->data;
        assert(p >= copy && p + t->nbytes <= copy + size);
        assert(vt_st_find(f, t->name) != NULL);
        if (t->dtype == VT_ST_F32 || t->dtype == VT_ST_F16 || t->dtype == VT_ST_BF16) {
            float *out = vt_malloc(t->numel * sizeof *out + 1);
            assert(vt_st_to_f32(f, t, out, &err) == 0);
            vt_free(out);
        }
    }
    (void)vt_st_meta(f, "format");
    vt_st_free(f);
    free(copy);
    return 0;
}

#ifdef FUZZ_STANDALONE
/* Without libFuzzer: run each file named on the command line once. */
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
