/*
 * keywords.h - TF-IDF keyword extraction for Chinese and English text.
 *
 * A text is cleaned (vt_text_clean: NFKC, case folding), segmented
 * (jieba.h) and its terms scored tf(t) * idf(t) / (number of kept terms):
 *   - Chinese terms are jieba words of two or more characters; their IDF
 *     comes from jieba's idf.txt ("word idf" lines, 0.42.1: 277k words),
 *     and a word the table lacks gets the table's median IDF, as jieba's
 *     extract_tags does;
 *   - English terms are runs of letters and digits (an inner apostrophe
 *     kept: "don't"), at least two characters, not only digits; their IDF
 *     comes from a corpus the caller feeds in (the catalog's titles and
 *     descriptions): idf = ln((N + 1) / (df + 1)) + 1 over N documents, so
 *     an unseen word gets the largest value and, with no corpus, every word
 *     scores by frequency alone;
 *   - stop words of both languages (a short list in keywords.c) are never
 *     keywords.
 * Ties are broken by first occurrence.
 *
 * Ownership: vt_keywords_new() returns a table freed with vt_keywords_free();
 * results are arrays freed with vt_keywords_result_free(). The segmenter
 * passed to vt_keywords_extract() is only borrowed for the call.
 * Thread-safety: loading and adding documents need exclusive use;
 * vt_keywords_extract() only reads and may run concurrently.
 */
#ifndef VT_TEXT_KEYWORDS_H
#define VT_TEXT_KEYWORDS_H

#include <stddef.h>

#include "core/error.h"
#include "text/jieba.h"

struct vt_keywords;

struct vt_keyword {
    char *word;   /* cleaned (lower-case) form */
    double score; /* tf * idf / kept terms */
    int zh;       /* 1 for a Chinese term, 0 for an English one */
};

int vt_keywords_new(struct vt_keywords **out);
void vt_keywords_free(struct vt_keywords *kw);

/* Load jieba's idf.txt. Errors: VT_EIO, VT_EFORMAT (err->line), VT_ENOMEM. */
int vt_keywords_load_idf(struct vt_keywords *kw, const char *path, struct vt_error *err);

/* Count one English corpus document (each distinct word once). Returns 0,
 * VT_EINVAL (invalid UTF-8), VT_ETOOBIG or VT_ENOMEM. */
int vt_keywords_add_doc(struct vt_keywords *kw, const char *text, size_t n);

/* Number of corpus documents and of Chinese IDF entries. */
size_t vt_keywords_docs(const struct vt_keywords *kw);
size_t vt_keywords_idf_size(const struct vt_keywords *kw);

/* IDF a term would get ("沙发", "sofa"; cleaned form). */
double vt_keywords_idf(const struct vt_keywords *kw, const char *term, size_t n);

/* Top k keywords of text (k = 0: all), best first. seg may be NULL: Han
 * text is then cut into single characters, which are too short to count,
 * so only English terms come out. *out is NULL when nothing qualifies.
 * Errors: VT_EINVAL (invalid UTF-8), VT_ETOOBIG, VT_ENOMEM. */
int vt_keywords_extract(const struct vt_keywords *kw, const struct vt_jieba *seg,
                        const char *text, size_t n, size_t k, struct vt_keyword **out,
                        size_t *n_out, struct vt_error *err);
void vt_keywords_result_free(struct vt_keyword *v, size_t n);

#endif
