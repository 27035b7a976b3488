/* encoder.c - pick an encoder back-end by what the model path holds. */
#include "nn/encoder.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"

static int exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int vt_encoder_open(const char *path, struct vt_encoder **out, struct vt_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return vt_error_set(err, VT_EIO, "", "%s: no such model file or folder", path);
    size_t n = strlen(path);
    if (S_ISREG(st.st_mode) && n > 5 && strcmp(path + n - 5, ".gguf") == 0)
        return vt_bert_open(path, out, err);
    if (S_ISREG(st.st_mode) && n > 10 && strcmp(path + n - 10, "model.json") == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(n > 11 ? n - 11 : 1), n > 11 ? path : ".");
        return vt_use_lite_open(dir, out, err);
    }
    if (S_ISDIR(st.st_mode)) {
        if (exists(path, "model.json"))
            return vt_use_lite_open(path, out, err);
        if (exists(path, "config.json"))
            return vt_bert_open(path, out, err);
    }
    return vt_error_set(err, VT_EFORMAT, "",
                        "%s: not a model (expected a folder with model.json or config.json, "
                        "or a .gguf file)",
                        path);
}

void vt_encoder_free(struct vt_encoder *e)
{
    if (!e)
        return;
    e->ops->free(e->impl);
    vt_free(e);
}

void vt_encoder_info(struct vt_encoder *e, struct vt_encoder_info *info)
{
    memset(info, 0, sizeof *info);
    e->ops->info(e->impl, info);
}

int vt_encoder_tokenize(struct vt_encoder *e, const char *text, size_t len, int32_t **ids,
                        size_t *n, struct vt_error *err)
{
    return e->ops->tokenize(e->impl, text, len, ids, n, err);
}

int vt_encoder_encode(struct vt_encoder *e, const char *const *texts, size_t count, float *out,
                      struct vt_error *err)
{
    return e->ops->encode(e->impl, texts, count, out, err);
}
