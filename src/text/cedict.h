/*
 * cedict.h - CC-CEDICT as a Chinese → English word list, and the bridge
 * that rewrites Chinese text into English words so that an English-only
 * sentence encoder (USE-Lite has no CJK piece at all) can embed it:
 * "黑色真皮沙发" → "black leather sofa".
 *
 * CC-CEDICT (CC BY-SA 4.0, published by MDBG) has one entry per line:
 *     Traditional Simplified [pin1 yin1] /gloss 1/gloss 2/.../
 * Lines starting with '#' are comments. For each headword one short English
 * gloss is chosen at load time (rules in cedict.c and docs/text.md): entries
 * for proper nouns (capitalised pinyin) only when nothing else exists;
 * glosses that are classifiers, variants, surnames, cross-references,
 * abbreviations, scientific names or marked classical, archaic, old,
 * literary or dialect skipped; parentheses, "to " before verbs, "sth"/"sb"
 * removed; among what is left the earliest, shortest, commonest gloss wins.
 * Entries that share a simplified form but not a traditional one compete
 * on equal terms (台: 檯 "desk", 臺 "platform"). A traditional headword
 * that differs from its simplified form has its own choice from its own
 * entries (檯 → "desk"); lookups try the simplified headwords first.
 *
 * The bridge looks words up in order: words the caller added
 * (vt_bridge_add), the built-in shopping glossary (glossary.h, unless
 * switched off), CC-CEDICT. Over the segmenter's words it takes the longest
 * run of whole words that one of these tables knows as one word (jieba's
 * 上下/铺 is CC-CEDICT's 上下铺 "bunk bed"), else each word alone. A word in
 * none of them is split greedily into the longest known pieces; a
 * character nobody knows is dropped (the English encoder would only see
 * its unknown token).
 *
 * Ownership: vt_cedict_load() and vt_bridge_new() return objects freed with
 * their _free(). The bridge borrows the segmenter and the dictionary: they
 * must outlive it. Strings returned by lookups belong to the object.
 * Thread-safety: lookups and vt_bridge_zh_en() only read and may run
 * concurrently; vt_bridge_add() must not run concurrently with them.
 */
#ifndef VT_TEXT_CEDICT_H
#define VT_TEXT_CEDICT_H

#include <stddef.h>

#include "core/error.h"
#include "text/jieba.h"

struct vt_cedict;

/* Load cedict_ts.u8. Choosing the glosses takes a few hundred
 * milliseconds; when cache_path is not NULL the choices are read from that
 * text file if it was written by the same choice rules from a source of
 * the same size and modification time, and (re)written otherwise (a
 * failure to write is only logged). Errors: VT_EIO, VT_EFORMAT (a malformed entry line, with
 * err->line; comment and blank lines are fine), VT_ENOMEM. */
int vt_cedict_load(const char *path, const char *cache_path, struct vt_cedict **out,
                   struct vt_error *err);
void vt_cedict_free(struct vt_cedict *d);

/* The chosen English gloss of a headword (simplified or traditional), or
 * NULL when CC-CEDICT has no usable gloss for it. */
const char *vt_cedict_gloss(const struct vt_cedict *d, const char *word, size_t n);

/* Number of headwords with a gloss, simplified and traditional. */
size_t vt_cedict_size(const struct vt_cedict *d);

struct vt_bridge;

/* How the bridge writes the first letter of the English it produces. */
enum vt_bridge_case {
    /* As the tables write it: CC-CEDICT and the glossary in lower case but
     * for names ("sofa", "TV stand", "Huawei"). */
    VT_BRIDGE_CASE_ASIS = 0,
    /* Sentence case: the first English word of a Chinese run that starts
     * the text or a sentence (after '.', '!', '?', their full-width forms
     * or a line break; opening brackets and quotes may come between)
     * begins with a capital, as a catalog writes "Corner sofa": "转角沙发"
     * → "Corner sofa", "iPhone手机壳" → "iPhone cell phone shell".
     * Everything else as the tables write it. For cased encoders. */
    VT_BRIDGE_CASE_SENTENCE = 1,
};

struct vt_bridge_opts {
    int no_glossary;                 /* 1: leave the built-in glossary out */
    enum vt_bridge_case letter_case; /* VT_BRIDGE_CASE_ASIS by default */
};

/* dict may be NULL (glossary and added words only). opts may be NULL: the
 * glossary on, case as is. Returns 0, VT_EINVAL (an unknown letter_case)
 * or VT_ENOMEM. vt_bridge_new() is vt_bridge_new_opts() with NULL. */
int vt_bridge_new_opts(const struct vt_jieba *seg, const struct vt_cedict *dict,
                       const struct vt_bridge_opts *opts, struct vt_bridge **out);
int vt_bridge_new(const struct vt_jieba *seg, const struct vt_cedict *dict,
                  struct vt_bridge **out);
void vt_bridge_free(struct vt_bridge *b);

/* Add or replace a translation (a shop's own names: "宜家" → "IKEA"); en ""
 * drops the word. zh: valid UTF-8 of 1..32 code points; en: valid UTF-8 of
 * at most 256 bytes. Returns 0, VT_EINVAL or VT_ENOMEM. */
int vt_bridge_add(struct vt_bridge *b, const char *zh, const char *en);

/* English for one Chinese word, without splitting, as the tables write it
 * (no case convention): NULL if unknown, "" for a dropped word. */
const char *vt_bridge_word(const struct vt_bridge *b, const char *word, size_t n);

/* Rewrite text: every run of Chinese is segmented and replaced by English
 * words (longest known run of segments first, see above; first letter as
 * the bridge's letter_case says), separated by single spaces; everything else (Latin words, digits,
 * punctuation) is kept as it is, but for control characters (NUL included),
 * which are dropped. Text with neither Han nor control characters comes
 * back unchanged. Pass cleaned text (vt_text_clean) for best results. *out is
 * NUL-terminated, freed by the caller with vt_free(). Errors: VT_EINVAL
 * (invalid UTF-8), VT_ETOOBIG (over VT_TEXT_MAX_BYTES), VT_ENOMEM. */
int vt_bridge_zh_en(const struct vt_bridge *b, const char *text, size_t n, char **out,
                    size_t *out_len, struct vt_error *err);

#endif
