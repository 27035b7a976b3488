/*
 * encoder.h - sentence encoders behind one interface.
 *
 * An encoder turns UTF-8 texts into L2-normalised (when the model says so)
 * float vectors of a fixed dimension. Back-ends: Universal Sentence Encoder
 * Lite read from its TF.js files (use_lite.c) and BERT-family models read
 * from Hugging Face safetensors or GGUF (bert.c). Callers hold a
 * struct vt_encoder and never learn which back-end is behind it, like the
 * store's back-ends.
 *
 * Thread-safety: vt_encoder_encode may run on many threads at once. An
 * encoder from vt_encoder_open gathers concurrent calls of a few texts into
 * batched passes (nn/batcher.h, encoder.c): a call may wait for the batch
 * running when it arrives, and gets the same floats as a call made alone.
 */
#ifndef VT_NN_ENCODER_H
#define VT_NN_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct vt_encoder;

struct vt_encoder_info {
    const char *arch;        /* "use-lite", "bert" */
    const char *model_id;    /* stable id of the weights, stored with vectors */
    size_t dim;              /* output dimension */
    size_t vocab_size;
    size_t layers, hidden, heads, max_tokens;
    const char *pooling;     /* "mean", "cls" */
    int normalized;          /* 1 if outputs are L2-normalised */
    const char *license;     /* e.g. "Apache-2.0" */
};

struct vt_encoder_ops {
    int (*tokenize)(void *impl, const char *text, size_t len, int32_t **ids, size_t *n,
                    struct vt_error *err);
    int (*encode)(void *impl, const char *const *texts, size_t count, float *out,
                  struct vt_error *err);
    void (*info)(void *impl, struct vt_encoder_info *info);
    void (*free)(void *impl);
};

struct vt_encoder {
    const struct vt_encoder_ops *ops;
    void *impl;
};

/* Open a model: a folder with model.json (TF.js USE-Lite), a folder with
 * config.json (Hugging Face BERT), or a .gguf file. */
int vt_encoder_open(const char *path, struct vt_encoder **out, struct vt_error *err);
/* The largest call that encoders opened from now on gather with
 * concurrent ones (0: none; capped at the batcher's largest batch). Until
 * set, the environment variable VITRINE_ENCODE_BATCH, default 8. */
void vt_encoder_set_gather_limit(long n);
void vt_encoder_free(struct vt_encoder *e);
void vt_encoder_info(struct vt_encoder *e, struct vt_encoder_info *info);
/* Token ids of one text (vt_free *ids). */
int vt_encoder_tokenize(struct vt_encoder *e, const char *text, size_t len, int32_t **ids,
                        size_t *n, struct vt_error *err);
/* out holds count * dim floats. */
int vt_encoder_encode(struct vt_encoder *e, const char *const *texts, size_t count, float *out,
                      struct vt_error *err);

/* Back-end constructors (use_lite.c, bert.c); vt_encoder_open picks one. */
int vt_use_lite_open(const char *dir, struct vt_encoder **out, struct vt_error *err);
int vt_bert_open(const char *path, struct vt_encoder **out, struct vt_error *err);

#endif
