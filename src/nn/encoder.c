/*
 * encoder.c - pick an encoder back-end by what the model path holds, and
 * put a batcher in front of it.
 *
 * vt_encoder_open wraps the back-end it opened: the returned encoder's ops
 * forward tokenize and info, and send encode calls of up to a few texts
 * through a batcher (nn/batcher.h), so that concurrent callers asking for
 * one query each (search requests on many server threads) share batched
 * forward passes. Every back-end computes each text's vector from that text
 * alone, so a caller gets the same floats as a direct call would give.
 * Encoders opened through a back-end's own constructor (vt_use_lite_open,
 * vt_bert_open) are not wrapped.
 *
 * VITRINE_ENCODE_BATCH (environment, read at open): the largest call, in
 * texts, that is gathered with others (default 8); 0 turns gathering off.
 */
#include "nn/encoder.h"

#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "nn/batcher.h"

static int exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- the batched wrapper ---- */

struct batched {
    struct vt_encoder inner;      /* the back-end's ops and impl */
    struct vt_batcher *batcher;
};

static int batched_tokenize(void *impl, const char *text, size_t len, int32_t **ids, size_t *n,
                            struct vt_error *err)
{
    struct batched *w = impl;
    return w->inner.ops->tokenize(w->inner.impl, text, len, ids, n, err);
}

static int batched_direct(void *ctx, const char *const *texts, size_t count, float *out,
                          struct vt_error *err)
{
    struct vt_encoder *inner = ctx;
    return inner->ops->encode(inner->impl, texts, count, out, err);
}

static int batched_encode(void *impl, const char *const *texts, size_t count, float *out,
                          struct vt_error *err)
{
    struct batched *w = impl;
    return vt_batcher_encode(w->batcher, texts, count, out, err);
}

static void batched_info(void *impl, struct vt_encoder_info *info)
{
    struct batched *w = impl;
    w->inner.ops->info(w->inner.impl, info);
}

static void batched_free(void *impl)
{
    struct batched *w = impl;
    vt_batcher_free(w->batcher);
    w->inner.ops->free(w->inner.impl);
    vt_free(w);
}

static const struct vt_encoder_ops batched_ops = {batched_tokenize, batched_encode, batched_info,
                                                  batched_free};

/* Set by vt_encoder_set_gather_limit (the configuration key
 * encode_batch), -1 until then. */
static _Atomic long gather_setting = -1;

void vt_encoder_set_gather_limit(long n)
{
    atomic_store(&gather_setting, n < 0 ? 0 : n);
}

/* The largest call gathered with others: the configured limit, else
 * VITRINE_ENCODE_BATCH, default 8. */
static size_t gather_limit(void)
{
    long set = atomic_load(&gather_setting);
    if (set >= 0)
        return set > VT_BATCHER_MAX_BATCH ? VT_BATCHER_MAX_BATCH : (size_t)set;
    const char *s = getenv("VITRINE_ENCODE_BATCH");
    if (!s || !*s)
        return 8;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 0)
        return 8;
    return v > VT_BATCHER_MAX_BATCH ? VT_BATCHER_MAX_BATCH : (size_t)v;
}

/* Put a batcher in front of e (on failure e is freed). */
static int wrap(struct vt_encoder *e, struct vt_encoder **out, struct vt_error *err)
{
    size_t limit = gather_limit();
    if (limit == 0) {
        *out = e;
        return 0;
    }
    struct batched *w = vt_calloc(1, sizeof *w);
    struct vt_encoder_info info;
    vt_encoder_info(e, &info);
    struct vt_batcher_opts o;
    vt_batcher_opts_default(&o);
    o.max_call = limit;
    if (o.max_batch < limit)
        o.max_batch = limit;
    if (!w || vt_batcher_new(batched_direct, &w->inner, info.dim, &o, &w->batcher) != 0) {
        vt_free(w);
        vt_encoder_free(e);
        *out = NULL;
        return vt_error_set(err, VT_ENOMEM, "", "out of memory for the encoder's batcher");
    }
    w->inner = *e;
    e->ops = &batched_ops;
    e->impl = w;
    *out = e;
    return 0;
}

static int open_backend(const char *path, struct vt_encoder **out, struct vt_error *err)
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

int vt_encoder_open(const char *path, struct vt_encoder **out, struct vt_error *err)
{
    struct vt_encoder *e = NULL;
    *out = NULL;
    int rc = open_backend(path, &e, err);
    if (rc)
        return rc;
    return wrap(e, out, err);
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
