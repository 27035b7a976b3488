/*
 * spm.h - SentencePiece unigram tokenizer, as Universal Sentence Encoder
 * Lite's reference tokenizer runs it.
 *
 * The vocabulary is a JSON array of [piece, score] pairs; a piece's id is
 * its index. The tokenizer reproduces, id for id, the JavaScript Tokenizer
 * of @tensorflow-models/universal-sentence-encoder 1.3.3, which is not the
 * C++ SentencePiece:
 *   - text is NFKC-normalised; a non-empty result gets a leading U+2581
 *     and every U+0020 becomes U+2581 (no trimming, no collapsing);
 *   - pieces 0..5 (unknown, <s>, </s>, three extras) are never matched;
 *     a later duplicate of a piece replaces the earlier one;
 *   - at a position where no piece matches, one character becomes the
 *     unknown id 0 with score 0;
 *   - the Viterbi pass keeps, for each end, the last candidate whose total
 *     is >= the best so far, and takes any candidate while the best is
 *     exactly 0 (so a path of score 0 can be replaced by a worse one);
 *     a null score counts as 0;
 *   - symbols are UTF-16 code units (the reference walks strings by
 *     index), so a character beyond U+FFFF is two symbols, its surrogates;
 *   - the backward pass steps back by the length of the chosen piece's
 *     text, so an unknown character steps back by the length of piece 0
 *     (1 for USE-Lite's U+FFFD); consecutive unknown ids merge into one.
 * See docs/encoder.md for the consequences.
 *
 * Errors: invalid UTF-8 (or a NUL byte) is VT_EINVAL with the byte offset;
 * text longer than VT_SPM_MAX_TEXT bytes is VT_ETOOBIG. A loaded tokenizer
 * is read-only and may be shared by threads; a struct vt_spm_work belongs
 * to one thread at a time.
 */
#ifndef VT_TEXT_SPM_H
#define VT_TEXT_SPM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define VT_SPM_MAX_TEXT ((size_t)1 << 20)            /* bytes of input text */
#define VT_SPM_MAX_VOCAB_JSON ((size_t)64 << 20)     /* bytes of vocab.json */
#define VT_SPM_MAX_PIECES 1000000
#define VT_SPM_RESERVED 6                            /* ids never matched */

struct vt_spm;

/* Load a vocab.json file / parse one held in memory (label names it in
 * errors). Free with vt_spm_free. */
int vt_spm_load(const char *path, struct vt_spm **out, struct vt_error *err);
int vt_spm_parse(const char *json, size_t len, const char *label, struct vt_spm **out,
                 struct vt_error *err);
void vt_spm_free(struct vt_spm *sp);

size_t vt_spm_vocab_size(const struct vt_spm *sp);
/* The piece's text, or NULL for an id out of range. */
const char *vt_spm_piece(const struct vt_spm *sp, int32_t id);
/* 1 if no matchable piece holds U+2581 after its first character and the
 * unknown piece is one character long: then every space in the input is a
 * token boundary, and the tokens of a prefix cut just before a space are
 * exactly the first tokens of the whole text. */
int vt_spm_splits_at_spaces(const struct vt_spm *sp);

/* Reusable work memory for vt_spm_encode_work (grows, never shrinks). */
struct vt_spm_work {
    int32_t *cps;        /* symbols: U+2581, then the normalised text in UTF-16 units */
    double *best;        /* Viterbi score per end position */
    int32_t *words;      /* Viterbi piece per end position */
    int32_t *ids;        /* the result */
    size_t cap;          /* entries each array holds */
};

void vt_spm_work_init(struct vt_spm_work *w);
void vt_spm_work_reset(struct vt_spm_work *w);

/* Token ids of text[0..len). *ids points into w and stays valid until the
 * next call with w. */
int vt_spm_encode_work(const struct vt_spm *sp, struct vt_spm_work *w, const char *text,
                       size_t len, const int32_t **ids, size_t *n, struct vt_error *err);
/* Same, returning a copy the caller frees with vt_free (NULL when n is 0). */
int vt_spm_encode(const struct vt_spm *sp, const char *text, size_t len, int32_t **ids,
                  size_t *n, struct vt_error *err);

#endif
