/*
 * use_lite.h - Universal Sentence Encoder Lite, read from its TF.js files.
 *
 * A model folder holds model.json and its weight shards (nn/tfjs.h) and
 * vocab.json (text/spm.h). vt_use_lite_open (declared in nn/encoder.h)
 * reads them, checks that the graph is the one implemented here, node by
 * node, and returns a struct vt_encoder with:
 *   tokenize: the tokenizer's ids for the whole text (up to VT_SPM_MAX_TEXT
 *             bytes); the model reads only the first max_tokens (128);
 *   encode:   512 floats per text, L2-normalised. Texts are batched
 *             VT_USE_LITE_BATCH_TOKENS tokens at a time. A text of any
 *             length is accepted: only the prefix that yields the first
 *             128 tokens is tokenized (cut before a space, which gives
 *             exactly the whole text's first tokens; see docs/encoder.md).
 *   info:     arch "use-lite", dim 512, license "Apache-2.0", model_id
 *             "use-lite@0.2.0" for the published weights, otherwise
 *             "use-lite-" and a 64-bit hash of weights and vocabulary.
 * The forward pass is the graph's, op by op (docs/encoder.md); results
 * match the TF.js runtime to cosine >= 0.99999 (tests/unit/test_use.c).
 *
 * Speed: the dense kernels are packed once at open (about 20 MB next to
 * the 28 MB of weights). A call with at least as many texts as the shared
 * pool has threads (core/pool.h) is split into one run of texts per
 * thread; a smaller call parallelises inside its matrix products. Results
 * do not depend on the batch, the split or the thread count.
 *
 * Thread-safety: encode may run on many threads at once. The weights are
 * read-only after opening; work memory (about 15 KB per batched token)
 * comes from a small cache of work areas in the encoder, guarded by a
 * mutex: a call takes one (or allocates it), and gives it back at the
 * end; the cache keeps at most VT_USE_LITE_WORK_CACHE of them until the
 * encoder is freed, so a steady stream of calls allocates nothing.
 */
#ifndef VT_NN_USE_LITE_H
#define VT_NN_USE_LITE_H

#include "nn/encoder.h"

/* Largest number of tokens one forward pass holds (plus one text's worth);
 * more texts are encoded in several passes. */
#define VT_USE_LITE_BATCH_TOKENS 1024
#define VT_USE_LITE_BATCH_TEXTS 64
/* Work areas kept between calls (each at most about 18 MB, for a pass of
 * VT_USE_LITE_BATCH_TOKENS + 128 tokens). */
#define VT_USE_LITE_WORK_CACHE 4

#endif
