/*
 * jieba.h - Chinese word segmentation by dictionary, as jieba's accurate
 * mode without its HMM for unknown words.
 *
 * Dictionary: jieba's dict.txt, one "word freq [tag]" line per word (349,046
 * lines in Debian's python3-jieba 0.42.1). The words go into a trie over
 * code points; a word's probability is freq / total, total being the sum of
 * all frequencies.
 *
 * Algorithm (docs/text.md has the long form):
 *   1. The text is split into blocks. A "Han block" is a run of CJK unified
 *      ideographs U+4E00..U+9FD5, ASCII letters and digits and the symbols
 *      + # & . _ % -; everything else is cut one code point per token, except
 *      whitespace, which is one token per character ("\r\n" is one token).
 *   2. In a Han block of N characters, every span [i, j] that is a
 *      dictionary word with a non-zero frequency is an edge of a DAG from i
 *      to j + 1; a position that starts no word gets a one-character edge.
 *   3. Dynamic programming from the right: best(N) = 0 and
 *      best(i) = max over edges (i, j) of log(freq(i..j)) - log(total) +
 *      best(j + 1), with freq 1 for a one-character edge that is not a word.
 *      Ties go to the longer word. The segmentation follows the argmax edges
 *      from position 0.
 *   4. Consecutive one-character ASCII letters or digits that the path left
 *      alone are glued back into one token ("Mate60", "80cm").
 * With the same dictionary this gives exactly jieba.cut(s, HMM=False).
 *
 * Ownership: vt_jieba_load() returns a segmenter freed with vt_jieba_free().
 * Tokens point into the caller's text by byte offset; the token array is
 * owned by the caller's struct vt_tokens (vt_tokens_reset frees it).
 * Thread-safety: vt_jieba_cut() only reads the segmenter and may run from
 * many threads at once; vt_jieba_add_word() must not run concurrently with
 * anything else on the same segmenter.
 */
#ifndef VT_TEXT_JIEBA_H
#define VT_TEXT_JIEBA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct vt_jieba;

enum vt_tok_kind {
    VT_TOK_HAN = 0,   /* a word with at least one Han character */
    VT_TOK_ALNUM = 1, /* ASCII letters and digits ("iPhone", "80cm", "42") */
    VT_TOK_SPACE = 2, /* one whitespace character, or "\r\n" */
    VT_TOK_PUNCT = 3  /* any other single character: punctuation, symbols,
                         emoji, letters of other scripts */
};

struct vt_token {
    uint32_t off; /* byte offset into the text */
    uint32_t len; /* bytes */
    uint8_t kind; /* enum vt_tok_kind */
};

struct vt_tokens {
    struct vt_token *v;
    size_t n, cap;
};

void vt_tokens_init(struct vt_tokens *t);
void vt_tokens_reset(struct vt_tokens *t);

/* Load dict.txt. When cache_path is not NULL it names a binary image of the
 * loaded trie (format in jieba.c): it is read instead of the text when it
 * exists and was written from a dictionary of the same size and
 * modification time, and (re)written otherwise (a failure to write it is
 * only logged). Errors: VT_EIO (cannot read dict_path), VT_EFORMAT (a bad
 * line, with err->line), VT_ENOMEM. */
int vt_jieba_load(const char *dict_path, const char *cache_path, struct vt_jieba **out,
                  struct vt_error *err);
void vt_jieba_free(struct vt_jieba *j);

/* Add a word (a shop's category or brand names), or change its frequency.
 * freq 0 asks for the smallest frequency that keeps the word whole when it
 * is segmented on its own (jieba's suggest_freq). The word must be valid
 * UTF-8 of 1..64 code points without whitespace. Returns 0, VT_EINVAL or
 * VT_ENOMEM. */
int vt_jieba_add_word(struct vt_jieba *j, const char *word, size_t n, uint32_t freq);

/* Frequency of a word, 0 when it is not in the dictionary. */
uint32_t vt_jieba_freq(const struct vt_jieba *j, const char *word, size_t n);

/* Number of words and sum of their frequencies. */
size_t vt_jieba_size(const struct vt_jieba *j);
int64_t vt_jieba_total(const struct vt_jieba *j);

/* Segment s[0..n) into out (cleared first; every byte of s belongs to
 * exactly one token, in order). s must be valid UTF-8 of at most
 * VT_TEXT_MAX_BYTES (see normalize.h). Returns 0, VT_EINVAL (invalid UTF-8,
 * with err->offset), VT_ETOOBIG or VT_ENOMEM. */
int vt_jieba_cut(const struct vt_jieba *j, const char *s, size_t n, struct vt_tokens *out,
                 struct vt_error *err);

#endif
