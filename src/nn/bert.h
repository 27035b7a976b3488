/*
 * bert.h - BERT-family sentence encoders from Hugging Face folders or GGUF.
 *
 * vt_bert_open (declared in encoder.h) reads
 *   - a folder with config.json (model_type "bert"), model.safetensors and
 *     tokenizer.json or vocab.txt, plus the sentence-transformers files
 *     when present (modules.json, 1_Pooling/config.json,
 *     sentence_bert_config.json, tokenizer_config.json), or
 *   - the same with model_type "xlm-roberta" (paraphrase-multilingual-
 *     MiniLM and the like): the Unigram tokenizer of tokenizer.json
 *     (text/unigram.h), positions numbered from pad_token_id + 1, one
 *     token type, or
 *   - a .gguf file as the llama.cpp converter writes BERT embedding models
 *     (general.architecture "bert", tokenizer.ggml.model "bert"), and
 *     XLM-RoBERTa ones (the same architecture with tokenizer.ggml.model
 *     "t5": a SentencePiece unigram vocabulary, the position table cut to
 *     start at the first real position).
 * docs/models.md lists every file and key read and the rules for pooling,
 * normalisation and truncation.
 *
 * The forward pass is the post-LayerNorm BERT encoder in float32 (XLM-R
 * is the same network): token + position + token-type-0 embeddings and
 * LayerNorm; per layer multi-head
 * self-attention over the sequence's own tokens (texts of one batch are
 * packed end to end, so no padding is computed and none can leak in),
 * output projection, residual, LayerNorm, GELU (erf) feed-forward,
 * residual, LayerNorm; then CLS, mean, max or last-token pooling and
 * optional L2 normalisation.
 *
 * Memory: weights are converted to float32 once and linear layers packed
 * for the matrix kernels (about 4 bytes per parameter); the model file is
 * unmapped after loading. Each concurrent encode call has its own work
 * memory, at most about 64 MB per pass, reused across calls (bert_pass.c).
 */
#ifndef VT_NN_BERT_H
#define VT_NN_BERT_H

#include <stddef.h>

#include "core/error.h"
#include "nn/encoder.h"

struct vt_bert_opts {
    const char *pooling;    /* "cls", "mean", "max", "last"; NULL = as the model declares */
    int normalize;          /* 1, 0, or -1 = as the model declares */
    size_t max_tokens;      /* 0 = as the model declares; never above its positions */
};

void vt_bert_opts_default(struct vt_bert_opts *o);

/* vt_bert_open with overrides (tests, `vitrine embed`). */
int vt_bert_open_ex(const char *path, const struct vt_bert_opts *o, struct vt_encoder **out,
                    struct vt_error *err);

#endif
