/*
 * unigram.h - the Unigram tokenizer of Hugging Face `tokenizers` as
 * XLM-RoBERTa models ship it in tokenizer.json (paraphrase-multilingual-
 * MiniLM and the like), and the same SentencePiece model as the llama.cpp
 * converter writes it into GGUF (tokenizer.ggml.model "t5").
 *
 * Encoding a text, step by step as the reference library does it:
 *   1. added tokens: the tokenizer.json "added_tokens" (<s>, </s>, <pad>,
 *      <unk>, <mask>...) are cut out of the raw text first, leftmost
 *      match first, the longest at one position; lstrip/rstrip swallow the
 *      white space beside a match; each becomes its own id;
 *   2. normalizer, on each piece of text between them: "Precompiled" (the
 *      SentencePiece character map: a double-array trie of strings and
 *      their replacements, applied per extended grapheme cluster: a
 *      cluster under 6 bytes is replaced whole by the replacement of its
 *      shortest prefix found in the map; otherwise each character is
 *      looked up alone), "Strip", "Replace" (a literal, or a regular
 *      expression of the form X, X+, X{n}, X{n,} or X{n,m} for one
 *      character or \s), "NFC"/"NFD"/"NFKC"/"NFKD", "Lowercase", and
 *      "Sequence" of these;
 *   3. pre-tokenizer: "Metaspace" (every U+0020 becomes the replacement,
 *      "▁"; the prefix is prepended where the prepend scheme says unless
 *      the text already starts with it; with split, the text is cut before
 *      every replacement character), "WhitespaceSplit", or a "Sequence";
 *   4. model: per pre-token, the segmentation into vocabulary pieces with
 *      the highest sum of log-probabilities (Viterbi over byte positions,
 *      candidates in order of start then length, a later candidate
 *      replacing an earlier one only when strictly better); where no piece
 *      covers a character, that character alone is the unknown piece, with
 *      score (lowest piece score - 10); consecutive unknown characters are
 *      fused into one unknown id;
 *   5. post-processor: "TemplateProcessing" (single sequence) or
 *      "RobertaProcessing"/"BertProcessing" put the special ids around the
 *      pieces, after the pieces are cut to max_tokens less the specials.
 * Byte fallback (<0x41> pieces) is not supported and refused at load.
 * Character classes, normalisation forms and grapheme clusters come from
 * utf8proc; where its Unicode version differs from the reference's, rare
 * new characters may segment differently.
 *
 * GGUF (vt_unigram_new_spm): the pieces, scores and types of the file;
 * CONTROL and USER_DEFINED pieces are cut out of the raw text like added
 * tokens; the character map of the file; remove_extra_whitespaces drops
 * leading and trailing spaces and squeezes runs of spaces (as
 * SentencePiece does); add_space_prefix prepends "▁" to every piece of
 * text between special tokens; the unknown score is the lowest NORMAL
 * piece's less 10.
 *
 * Thread-safety: a built tokenizer is read-only; encode may run on many
 * threads. Ownership: vt_unigram_free frees everything; *ids and *out from
 * encode and normalize are the caller's (vt_free).
 */
#ifndef VT_TEXT_UNIGRAM_H
#define VT_TEXT_UNIGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Texts longer than this are refused (VT_ETOOBIG). The Viterbi lattice
 * costs 20 bytes per byte of a pre-token (unspaced Chinese is one
 * pre-token), so this bounds one call's work memory to about 100 MB. */
#define VT_UNIGRAM_MAX_TEXT (4u << 20)
/* tokenizer.json files larger than this are refused. */
#define VT_UNIGRAM_MAX_FILE (256u << 20)

struct vt_unigram;

/* Piece types of a SentencePiece model (GGUF tokenizer.ggml.token_type). */
enum vt_unigram_type {
    VT_UNIGRAM_NORMAL = 1,
    VT_UNIGRAM_UNKNOWN = 2,
    VT_UNIGRAM_CONTROL = 3,
    VT_UNIGRAM_USER = 4,
    VT_UNIGRAM_UNUSED = 5,
    VT_UNIGRAM_BYTE = 6
};

/* A SentencePiece unigram model as GGUF carries it. Nothing is kept: the
 * constructor copies what it needs. */
struct vt_unigram_spm {
    size_t n;                       /* pieces */
    const char *const *pieces;      /* n pieces, not NUL-terminated... */
    const size_t *piece_lens;       /* ...of these byte lengths */
    const float *scores;            /* n log-probabilities */
    const int32_t *types;           /* n enum vt_unigram_type, or NULL: all normal */
    const void *charsmap;           /* precompiled character map, or NULL */
    size_t charsmap_len;
    int add_space_prefix;           /* "▁" before each text (SentencePiece default 1) */
    int remove_extra_whitespaces;   /* SentencePiece default 1 */
    int32_t unk, bos, eos;          /* ids, -1 when absent; unk is required */
    int add_bos, add_eos;           /* put bos / eos around the pieces */
    size_t max_tokens;              /* with bos and eos; 0 = no truncation */
};

/* tokenizer.json with model.type "Unigram". max_tokens counts the special
 * tokens of the post-processor too; 0 = no truncation. Errors name the
 * file and the JSON path of the offending value ("normalizer.normalizers[1]
 * type \"Nmt\" is not supported"). */
int vt_unigram_load_json(const char *path, size_t max_tokens, struct vt_unigram **out,
                         struct vt_error *err);
/* The same over bytes in memory; name is used in messages. */
int vt_unigram_parse_json(const char *data, size_t len, const char *name, size_t max_tokens,
                          struct vt_unigram **out, struct vt_error *err);
int vt_unigram_new_spm(const struct vt_unigram_spm *s, struct vt_unigram **out,
                       struct vt_error *err);
void vt_unigram_free(struct vt_unigram *u);

/* Token ids of text[0..len): specials and pieces, truncated to max_tokens.
 * VT_EINVAL (with err->offset) for invalid UTF-8 or a NUL byte,
 * VT_ETOOBIG past VT_UNIGRAM_MAX_TEXT, VT_ENOMEM. */
int vt_unigram_encode(const struct vt_unigram *u, const char *text, size_t len, int32_t **ids,
                      size_t *n, struct vt_error *err);
/* The normalizer alone over text (no added tokens, no pre-tokenizer), as
 * UTF-8 in *out (NUL-terminated, *n bytes). For tests and diagnostics. */
int vt_unigram_normalize(const struct vt_unigram *u, const char *text, size_t len, char **out,
                         size_t *n, struct vt_error *err);

/* Change the truncation length (with the specials; 0 = none). Only before
 * the tokenizer is shared between threads. */
void vt_unigram_set_max_tokens(struct vt_unigram *u, size_t max_tokens);
size_t vt_unigram_max_tokens(const struct vt_unigram *u);
/* Ids of the vocabulary are [0, size); added tokens count too. */
size_t vt_unigram_vocab_size(const struct vt_unigram *u);
/* -1 when absent. */
int32_t vt_unigram_id(const struct vt_unigram *u, const char *piece, size_t len);
/* NULL for an id out of range. */
const char *vt_unigram_piece(const struct vt_unigram *u, int32_t id);
/* 64-bit digest of the vocabulary, scores and every setting, for model ids. */
uint64_t vt_unigram_digest(const struct vt_unigram *u);

#endif
