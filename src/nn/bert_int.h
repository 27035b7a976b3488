/*
 * bert_int.h - the BERT model struct shared by its loader (bert.c) and its
 * forward pass (bert_pass.c). Private to those two files.
 *
 * A loaded struct bert is read-only except for its cache of work areas,
 * which bert_pass.c guards with work_mu (initialised by the loader right
 * after allocating the struct, destroyed by bert_free).
 */
#ifndef VT_NN_BERT_INT_H
#define VT_NN_BERT_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/kernels.h"
#include "text/unigram.h"
#include "text/wordpiece.h"

/* Work areas kept between calls (about one per concurrent pass). */
#define BERT_WORK_CACHE 4

struct bert_work;

enum pooling { POOL_MEAN, POOL_CLS, POOL_MAX, POOL_LAST };

struct bert_layer {
    struct vt_packed *qkv, *out, *up, *down;
    float *b_qkv, *b_out, *ln1_g, *ln1_b, *b_up, *b_down, *ln2_g, *ln2_b;
};

struct bert {
    size_t vocab, hidden, heads, layers, inter, max_pos, max_tokens;
    float eps;
    float *word, *pos, *type0, *eln_g, *eln_b;
    struct bert_layer *l;
    enum pooling pool;
    int normalize;
    struct vt_wordpiece *tok;   /* one of tok, ug */
    struct vt_unigram *ug;
    /* XLM-RoBERTa numbers positions from pad_id + 1 and gives a literal
     * <pad> the position pad_id (RoBERTa's rule); BERT and GGUF from 0. */
    int roberta_pos;
    int32_t pad_id;
    const char *arch;           /* "bert" or "xlm-roberta" */
    char model_id[40];
    char license[64];
    pthread_mutex_t work_mu;    /* guards work and n_work */
    struct bert_work *work[BERT_WORK_CACHE];
    size_t n_work;
};


/* The vectors of count tokenized texts (ids[i] has len[i] ids, each below
 * m->vocab; len[i] <= m->max_tokens) into out (count * hidden floats).
 * Thread-safe. 0 or VT_ENOMEM. */
int bert_pass_encode(struct bert *m, int32_t **ids, const size_t *len, size_t count,
                     float *out);

/* Free the cached work areas (when the model is freed). */
void bert_pass_cache_free(struct bert *m);

#endif
