/*
 * normalize.h - text cleaning before any tokeniser, segmenter or matcher,
 * and a guess of the text's language from its scripts.
 *
 * vt_text_clean() turns arbitrary shopper or catalog text into one line of
 * canonical UTF-8:
 *   1. the input must be well-formed UTF-8 (no overlong forms, surrogates or
 *      truncated sequences) of at most VT_TEXT_MAX_BYTES bytes;
 *   2. Unicode NFKC (utf8proc): full-width letters, digits and ASCII
 *      punctuation (U+FF01..U+FF5E), the ideographic space U+3000, full-width
 *      currency signs, ligatures and circled digits fold to their plain forms;
 *      dashes of every kind become '-', curly single quotes '\'' (utf8proc's
 *      "lump" table); default-ignorable characters (zero-width space, soft
 *      hyphen, joiners) are removed;
 *   3. with VT_TEXT_CASEFOLD, Unicode case folding (not only ASCII);
 *   4. with VT_TEXT_FOLD_PUNCT, CJK punctuation that NFKC leaves alone gets
 *      its ASCII counterpart: 。→ .  、→ ,  “”「」『』《》 → "  【】〔〕〖〗 → [ ];
 *   5. control characters (C0, DEL, C1) are dropped; tabs, line breaks and
 *      every Unicode space collapse, by runs, into one U+0020; leading and
 *      trailing spaces are trimmed.
 * NUL bytes count as control characters: an explicit length lets them in
 * and step 5 drops them.
 *
 * Limits: input up to VT_TEXT_MAX_BYTES (1 MiB) bytes, else VT_ETOOBIG.
 * NFKC can lengthen text (one code point may expand to 18); a result of
 * more than VT_TEXT_MAX_CODEPOINTS code points also fails with VT_ETOOBIG.
 *
 * Thread-safety: no shared state; every function may run concurrently.
 */
#ifndef VT_TEXT_NORMALIZE_H
#define VT_TEXT_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define VT_TEXT_MAX_BYTES ((size_t)1 << 20)       /* largest accepted input */
#define VT_TEXT_MAX_CODEPOINTS ((size_t)4 << 20)  /* largest NFKC expansion */

enum vt_text_flags {
    VT_TEXT_CASEFOLD = 1u << 0,   /* Unicode case folding */
    VT_TEXT_FOLD_PUNCT = 1u << 1  /* CJK punctuation to ASCII */
};
#define VT_TEXT_CLEAN_DEFAULT (VT_TEXT_CASEFOLD | VT_TEXT_FOLD_PUNCT)

/* Clean s[0..n) as described above. On success *out is a NUL-terminated
 * string the caller frees with vt_free() and *out_len (may be NULL) its
 * length. Errors: VT_EINVAL for invalid UTF-8 (err->offset = first bad
 * byte), VT_ETOOBIG, VT_ENOMEM; *out is then NULL. An empty input gives "". */
int vt_text_clean(const char *s, size_t n, unsigned flags, char **out, size_t *out_len,
                  struct vt_error *err);

/* Check that s[0..n) is well-formed UTF-8 (NUL bytes allowed) and within
 * VT_TEXT_MAX_BYTES. Returns 0, VT_EINVAL (with the offset) or VT_ETOOBIG. */
int vt_text_check(const char *s, size_t n, struct vt_error *err);

enum vt_lang {
    VT_LANG_UNKNOWN = 0, /* neither Han characters nor Latin letters */
    VT_LANG_EN,          /* Latin script only (or nearly) */
    VT_LANG_ZH,          /* Han characters only (or nearly) */
    VT_LANG_MIXED        /* a substantial share of both */
};

/* Guess the language of well-formed UTF-8 by script counts. Han characters
 * (CJK unified ideographs, extension A and B, compatibility ideographs)
 * count one each; a run of Latin letters (one English word) counts 1.5,
 * about the meaning a Chinese character carries. The text is "zh" when Han
 * holds at least 85% of the weight, "en" at most 15%, "mixed" in between,
 * "unknown" with no weight (digits, punctuation, emoji only, empty).
 * Malformed bytes are skipped. */
enum vt_lang vt_text_lang(const char *s, size_t n);

/* "en", "zh", "mixed", "unknown". */
const char *vt_lang_name(enum vt_lang lang);

/* Script classes of a code point, shared by the segmenter and matchers. */
int vt_is_han(uint32_t cp);          /* CJK ideograph (ranges above) */
int vt_is_latin_letter(uint32_t cp); /* ASCII, Latin-1 and Latin Extended letters */
int vt_is_space(uint32_t cp);        /* Unicode White_Space */

#endif
