/*
 * pipeline.h - the front door to text understanding: one object that holds
 * the sentence encoder, the Chinese segmenter, CC-CEDICT with the
 * Chinese-to-English bridge, the keyword extractor and the attribute
 * vocabulary, and runs text through them in the right order.
 *
 * Embedding a text (vt_textenc_embed):
 *   1. the text is checked (well-formed UTF-8, at most VT_TEXTENC_MAX_TEXT
 *      bytes) and cleaned: vt_text_clean() with VT_TEXT_FOLD_PUNCT (NFKC,
 *      CJK punctuation to ASCII, control characters dropped, spaces
 *      collapsed). Case is kept: USE-Lite's vocabulary tells "Apple" from
 *      "apple";
 *   2. when the model lacks Chinese pieces, the text has Han characters and
 *      the bridge is on, vt_bridge_zh_en() rewrites it into English words
 *      (sentence case where a Chinese run starts the text or a sentence);
 *   3. the encoder reads the result.
 * With opts.no_bridge the text goes to the encoder exactly as given (only
 * the size is checked first): the model's raw output, the same as
 * vt_encoder_encode().
 *
 * Whether a model lacks Chinese pieces is found by asking its tokenizer:
 * fourteen of the commonest Chinese characters are tokenised one by one; a
 * model whose vocabulary has them gives each its own tokens, a model
 * without them gives them all the same unknown token. Fewer than seven
 * distinct tokenisations means the model needs the bridge (USE-Lite: one;
 * a BERT with a CJK vocabulary: fourteen).
 *
 * Loading is lazy and happens once: the encoder on the first call that
 * needs it (or vt_textenc_load_model), the segmenter, CC-CEDICT and the
 * bridge when Chinese text first needs them (or vt_textenc_load_text), the
 * IDF table and the attribute vocabulary on the first analysis. A part that
 * fails to load is not tried again: every later call that needs it fails
 * with the same error (VT_EUNAVAIL, with the reason), so a server without
 * its model answers 503 quickly and goes on serving everything else.
 *
 * Files under text_dir: jieba/dict.txt (and the cache jieba/dict.bin
 * written beside it), jieba/idf.txt, cedict/cedict_ts.u8 (and the cache
 * cedict/glosses.tsv); scripts/fetch-text-data fetches them.
 *
 * Ownership: vt_textenc_new() copies the configuration; the object and all
 * it loads are freed by vt_textenc_free(). Strings in a struct
 * vt_encoder_info filled here belong to the object. Results (*out) belong
 * to the caller: vt_free() for strings and id arrays, json_decref() for
 * JSON.
 * Thread-safety: every function but vt_textenc_free() may run on many
 * threads at once; loading is serialised inside. vt_textenc_learn_item()
 * excludes analyses while it runs (a read-write lock).
 */
#ifndef VT_TEXT_PIPELINE_H
#define VT_TEXT_PIPELINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "nn/encoder.h"
#include "store/record.h"

#define VT_TEXTENC_MAX_TEXT ((size_t)1 << 20) /* bytes of one text (1 MiB) */
#define VT_TEXTENC_KEYWORDS 10                /* keywords an analysis lists */

struct vt_textenc;

struct vt_textenc_config {
    const char *model;    /* model path as vt_encoder_open() takes it */
    const char *text_dir; /* folder holding jieba/ and cedict/ */
    int bridge;           /* 1: bridge Chinese for models without Chinese pieces */
};

struct vt_textenc_opts {
    int no_bridge; /* 1: the model reads the text exactly as given */
};

/* Records the configuration; loads nothing. Returns 0, VT_EINVAL (no model
 * or text_dir) or VT_ENOMEM. */
int vt_textenc_new(const struct vt_textenc_config *cfg, struct vt_textenc **out);
void vt_textenc_free(struct vt_textenc *te);

/* Load the encoder now (no-op once loaded). Errors: VT_EUNAVAIL with the
 * loader's message (missing or bad model files), VT_ENOMEM. */
int vt_textenc_load_model(struct vt_textenc *te, struct vt_error *err);
/* Load the segmenter, CC-CEDICT and the bridge now. VT_EUNAVAIL when the
 * text data is missing or bad. */
int vt_textenc_load_text(struct vt_textenc *te, struct vt_error *err);

/* The model's description (loads the model). */
int vt_textenc_info(struct vt_textenc *te, struct vt_encoder_info *info, struct vt_error *err);
/* 1 when the model's vocabulary has Chinese pieces (the probe above), 0
 * when not, or a negative code when the model cannot be loaded. */
int vt_textenc_reads_chinese(struct vt_textenc *te, struct vt_error *err);
/* 1 when Chinese text goes through the bridge for this model (the model
 * lacks Chinese pieces and the bridge is on), 0 when not, or a negative
 * code when the model cannot be loaded. */
int vt_textenc_bridges(struct vt_textenc *te, struct vt_error *err);

/* The text the encoder reads for text[0..n) (steps 1-2 above). *out is
 * NUL-terminated (vt_free); *out_len and *bridged (1 if the bridge rewrote
 * it) may be NULL. Errors: VT_EINVAL (invalid UTF-8, err->offset; a NUL
 * byte with no_bridge), VT_ETOOBIG (over VT_TEXTENC_MAX_TEXT),
 * VT_EUNAVAIL (the model or the text data the text needs is missing),
 * VT_ENOMEM. */
int vt_textenc_prepare(struct vt_textenc *te, const char *text, size_t n,
                       const struct vt_textenc_opts *opts, char **out, size_t *out_len,
                       int *bridged, struct vt_error *err);

/* Embed count NUL-terminated texts into out (count * dim floats; dim from
 * vt_textenc_info). opts may be NULL (bridge as configured). Errors as
 * vt_textenc_prepare and vt_encoder_encode, with the failing text's index
 * at the start of err->message ("text 3: ..."). */
int vt_textenc_embed(struct vt_textenc *te, const char *const *texts, size_t count, float *out,
                     const struct vt_textenc_opts *opts, struct vt_error *err);
/* Embed texts that vt_textenc_prepare() already produced. */
int vt_textenc_embed_prepared(struct vt_textenc *te, const char *const *inputs, size_t count,
                              float *out, struct vt_error *err);
/* The model's token ids for text[0..n) after preparation (vt_free *ids). */
int vt_textenc_tokenize(struct vt_textenc *te, const char *text, size_t n,
                        const struct vt_textenc_opts *opts, int32_t **ids, size_t *nids,
                        struct vt_error *err);

/* Analyse shopper text: a new JSON object
 *   {"language": "en"|"zh"|"mixed"|"unknown",
 *    "clean": text after vt_text_clean(VT_TEXT_CLEAN_DEFAULT),
 *    "keywords": [{"word", "score"}...] (at most VT_TEXTENC_KEYWORDS, best first),
 *    "attributes": {...} (attrs.h; offsets into "clean"),
 *    "bridged": English words (only when the text has Han characters)}
 * Needs the text data, not the model. Errors: VT_EINVAL, VT_ETOOBIG,
 * VT_EUNAVAIL (text data missing), VT_ENOMEM. */
int vt_textenc_analyze(struct vt_textenc *te, const char *text, size_t n, json_t **out,
                       struct vt_error *err);

/* The Chinese segmenter the analyses use (loads the text data first if
 * needed), for indexes that must cut words the same way (the search
 * index). It belongs to te and is only read after loading: any thread may
 * use it until vt_textenc_free. Returns 0 or VT_EUNAVAIL (text data
 * missing, with the reason in err). */
struct vt_jieba;
int vt_textenc_segmenter(struct vt_textenc *te, const struct vt_jieba **out,
                         struct vt_error *err);

/* Teach the analysis the catalog's words: the item's attributes, category,
 * tags and titles join the attribute vocabulary, its English title and
 * description the keyword corpus. Loads the analysis parts if needed.
 * Returns 0, VT_EUNAVAIL (text data missing) or VT_ENOMEM. */
int vt_textenc_learn_item(struct vt_textenc *te, const struct vt_item *it);

#endif
