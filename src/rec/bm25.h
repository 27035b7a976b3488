/*
 * bm25.h - a lexical inverted index over the catalog's words with BM25
 * scoring (the lexical half of search; the semantic half is the
 * embeddings' ANN index).
 *
 * Words. Text is cleaned (vt_text_clean: NFKC, case folding, CJK
 * punctuation to ASCII) and cut into terms:
 *   - a run of letters (Latin script) and digits is one word; English
 *     plurals are reduced by a light stemmer ("sofas" -> "sofa",
 *     "shelves" -> "shelf", "benches" -> "bench", "libraries" ->
 *     "library"; "glass", "bus", "chaise" stay), so "sofas" finds "Sofa";
 *   - a run of Han characters is segmented into words by jieba when a
 *     segmenter is given ("拐角沙发" -> "拐角" "沙发"), and each of its Han
 *     characters is also a term of its own ("拐" "角" "沙" "发"), so a
 *     query word the segmenter cuts differently from the catalog ("沙发床"
 *     against "沙发") still meets it character by character. Without a
 *     segmenter only the characters are terms;
 *   - everything else (punctuation, symbols, emoji) separates terms.
 * Query terms weigh 1, character terms char_weight (0.3 by default) so a
 * whole-word match counts more than scattered characters.
 *
 * Fields. A document has three fields: the title (every language), the
 * meta field (category path, tags, attribute values) and the description.
 * Scoring is BM25F's simple form: a term's frequency in a document is the
 * sum over fields of field weight x count, the document's length the same
 * sum over its terms, and
 *     score(q, d) = sum over query terms t of
 *                   qw(t) * idf(t) * tf(t,d) * (k1 + 1) /
 *                   (tf(t,d) + k1 * (1 - b + b * len(d) / avglen))
 *     idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
 * with N the number of documents and df(t) the documents holding t.
 * Defaults: k1 1.2, b 0.75, weights title 3, meta 1.5, description 1.
 *
 * Building: vt_bm25_new, vt_bm25_add for each document's fields (documents
 * numbered 0..n-1, added in any order, a number may be skipped: an empty
 * document), then vt_bm25_finish. After finishing the index is read-only.
 *
 * Limits: a text is at most VT_TEXT_MAX_BYTES (normalize.h); a term at
 * most VT_BM25_TERM_MAX bytes (longer runs are cut); a query keeps its
 * first VT_BM25_QUERY_TERMS distinct terms.
 *
 * Ownership: the index is freed by vt_bm25_free (NULL is a no-op). It
 * keeps a pointer to the segmenter (vt_bm25_add, vt_bm25_query and
 * vt_bm25_doc_has cut text with it), which must outlive the index.
 * Term lists are freed with vt_bm25_terms_reset.
 * Thread-safety: building needs one owner; a finished index may be
 * searched from many threads at once.
 */
#ifndef VT_REC_BM25_H
#define VT_REC_BM25_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct vt_jieba;
struct vt_bm25;

enum vt_bm25_field { VT_BM25_TITLE = 0, VT_BM25_META = 1, VT_BM25_DESC = 2, VT_BM25_FIELDS };

#define VT_BM25_TERM_MAX 64
#define VT_BM25_QUERY_TERMS 64
#define VT_BM25_DOCS_MAX ((int32_t)1 << 30)

struct vt_bm25_params {
    float k1, b;
    float field_weight[VT_BM25_FIELDS];
    float char_weight; /* query weight of a single Han character term */
};

/* The defaults above. */
void vt_bm25_params_init(struct vt_bm25_params *p);

/* Terms of a text, in text order, repeats kept; weight per term (1 for
 * words, char_weight for Han characters that are not a word by
 * themselves). */
struct vt_bm25_terms {
    char **term;
    float *weight;
    size_t n, cap;
};
void vt_bm25_terms_init(struct vt_bm25_terms *t);
void vt_bm25_terms_reset(struct vt_bm25_terms *t);

/* Cut text[0..n) into terms appended to out (seg may be NULL; char_weight
 * as in the params). Errors: VT_EINVAL (invalid UTF-8, err->offset),
 * VT_ETOOBIG, VT_ENOMEM. */
int vt_bm25_tokenize(const struct vt_jieba *seg, const char *text, size_t n, float char_weight,
                     struct vt_bm25_terms *out, struct vt_error *err);

/* The light English plural stemmer: reduces word[0..*n) in place (ASCII
 * lower case expected) by updating *n. */
void vt_bm25_stem(char *word, size_t *n);

/* A new, empty index. p NULL = defaults; seg may be NULL (characters
 * only). Returns 0, VT_EINVAL (negative or non-finite parameters) or
 * VT_ENOMEM. */
int vt_bm25_new(const struct vt_bm25_params *p, const struct vt_jieba *seg,
                struct vt_bm25 **out);
void vt_bm25_free(struct vt_bm25 *ix);

/* Add text[0..n) to field of document doc (0 <= doc < VT_BM25_DOCS_MAX).
 * May be called several times for one document and field (several
 * titles, tags). Errors as vt_bm25_tokenize, VT_EINVAL for a bad doc or
 * field or after vt_bm25_finish. */
int vt_bm25_add(struct vt_bm25 *ix, int32_t doc, int field, const char *text, size_t n,
                struct vt_error *err);

/* Build the postings. Returns 0 or VT_ENOMEM. */
int vt_bm25_finish(struct vt_bm25 *ix);

/* Documents in the index (the highest number added + 1). */
int32_t vt_bm25_docs(const struct vt_bm25 *ix);
/* Distinct terms. */
size_t vt_bm25_vocab(const struct vt_bm25 *ix);
/* Heap bytes held. */
size_t vt_bm25_bytes(const struct vt_bm25 *ix);

/* Score every document for terms q (as vt_bm25_tokenize gives them, a
 * term's weights summed over repeats) into scores[0..vt_bm25_docs())
 * (zeroed first); *matched (may be NULL) gets how many documents scored
 * above 0. Returns 0 or VT_ENOMEM. */
int vt_bm25_score(const struct vt_bm25 *ix, const struct vt_bm25_terms *q, float *scores,
                  size_t *matched);

/* Cut text[0..n) with the index's segmenter and character weight and
 * append its terms to out, every weight multiplied by weight (a query
 * made of several texts: the shopper's words and their translation).
 * Errors as vt_bm25_tokenize. */
int vt_bm25_query_terms(const struct vt_bm25 *ix, const char *text, size_t n, float weight,
                        struct vt_bm25_terms *out, struct vt_error *err);

/* Tokenize text with the index's segmenter and score it (above). */
int vt_bm25_query(const struct vt_bm25 *ix, const char *text, size_t n, float *scores,
                  size_t *matched, struct vt_error *err);

/* 1 when document doc holds every term of text[0..n) (character terms of
 * a segmented word not required: the word itself is), in any field; 0
 * when not or when text has no terms. For boosts: does this item say
 * "black"? */
int vt_bm25_doc_has(const struct vt_bm25 *ix, int32_t doc, const char *text, size_t n);

#endif
