/*
 * wordpiece.h - BERT's tokenizer: the basic tokenizer, then greedy
 * longest-match-first WordPiece, then [CLS] ... [SEP] and truncation.
 *
 * Behaviour follows the Hugging Face tokenizers' BertNormalizer and
 * BertPreTokenizer, character by character:
 *   1. clean: drop U+0000, U+FFFD and every Other (C*) character except
 *      tab, LF and CR; map white space (the Unicode White_Space property)
 *      to a space;
 *   2. split around every CJK ideograph (so Chinese becomes one word per
 *      character);
 *   3. strip accents (canonical decomposition, then drop nonspacing marks,
 *      Mn) and lower-case, each as configured (lower-casing is the simple
 *      per-character mapping plus U+0130 -> "i" U+0307, as the reference
 *      does it; no context-dependent final sigma);
 *   4. split on white space and around every punctuation character (ASCII
 *      !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ and Unicode P*);
 *   5. each word: longer than max_chars_per_word code points -> [UNK];
 *      else the longest vocabulary piece from the start, then "##" pieces
 *      for the rest; a word with an unmatched remainder is one [UNK].
 * Character classes come from utf8proc's Unicode tables.
 *
 * Thread-safety: a built tokenizer is read-only; encode may run on many
 * threads. Ownership: vt_wordpiece_free frees everything; *ids from encode
 * is the caller's (vt_free).
 */
#ifndef VT_TEXT_WORDPIECE_H
#define VT_TEXT_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Texts longer than this are refused (VT_ETOOBIG) rather than scanned. */
#define VT_WORDPIECE_MAX_TEXT (16u << 20)

struct vt_wordpiece_opts {
    int lowercase;            /* default 1 */
    int strip_accents;        /* -1 (default): same as lowercase; 0; 1 */
    int handle_chinese;       /* default 1 */
    int clean_text;           /* default 1 */
    size_t max_chars_per_word;/* default 100 */
    size_t max_tokens;        /* with [CLS] and [SEP]; 0 = no truncation; default 512 */
    const char *unk, *cls, *sep, *pad;   /* default "[UNK]", "[CLS]", "[SEP]", "[PAD]" */
    const char *prefix;       /* continuation prefix, default "##" */
};

struct vt_wordpiece;

void vt_wordpiece_opts_default(struct vt_wordpiece_opts *o);

/* From tokens[id] for id < n (NULL entries are holes). A token appearing
 * twice maps to its last id, as the reference's dictionary does. The
 * vocabulary must contain the unk, cls and sep tokens. Copies everything. */
int vt_wordpiece_new(const char *const *tokens, size_t n, const struct vt_wordpiece_opts *o,
                     struct vt_wordpiece **out, struct vt_error *err);
/* vocab.txt: one token per line, the line number is the id. */
int vt_wordpiece_load_vocab(const char *path, const struct vt_wordpiece_opts *o,
                            struct vt_wordpiece **out, struct vt_error *err);
/* tokenizer.json: model.vocab (a WordPiece model), with the normalizer's
 * settings (BertNormalizer) and the post-processor's [CLS]/[SEP] overriding
 * o's. */
int vt_wordpiece_load_json(const char *path, const struct vt_wordpiece_opts *o,
                           struct vt_wordpiece **out, struct vt_error *err);
void vt_wordpiece_free(struct vt_wordpiece *wp);

/* Token ids of text[0..len): [CLS] pieces [SEP], truncated to max_tokens.
 * VT_EINVAL (with err->offset) for invalid UTF-8, VT_ETOOBIG past
 * VT_WORDPIECE_MAX_TEXT, VT_ENOMEM. */
int vt_wordpiece_encode(const struct vt_wordpiece *wp, const char *text, size_t len,
                        int32_t **ids, size_t *n, struct vt_error *err);

size_t vt_wordpiece_vocab_size(const struct vt_wordpiece *wp);
/* -1 when absent. */
int32_t vt_wordpiece_id(const struct vt_wordpiece *wp, const char *token, size_t len);
/* NULL for an id out of range or a hole. */
const char *vt_wordpiece_token(const struct vt_wordpiece *wp, int32_t id);
/* The options in force (after tokenizer.json settings were applied). */
const struct vt_wordpiece_opts *vt_wordpiece_options(const struct vt_wordpiece *wp);
int32_t vt_wordpiece_special(const struct vt_wordpiece *wp, const char *which); /* "cls"... */
/* 64-bit digest of the vocabulary and options, for model ids. */
uint64_t vt_wordpiece_digest(const struct vt_wordpiece *wp);

#endif
