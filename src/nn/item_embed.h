/*
 * item_embed.h - item embeddings: which text of an item the model reads,
 * and keeping the store's vectors in step with the catalog and the model.
 *
 * The text of an item in language L (one per language of its title):
 *     title[L] ". " description[L] ". " category ". " tags
 * leaving out what is missing (and writing only " " after a part that
 * already ends a sentence); the category path's '/' becomes ", " and tags
 * are joined by ", ". Category and tags are shared by every language
 * (catalogs write them once). The text goes through the text pipeline as
 * any other (pipeline.h): cleaned, and for Chinese on a model without
 * Chinese pieces, bridged into English. Languages are tags of 1..15 ASCII
 * letters, digits and '-'; title entries under other keys, or empty, are
 * not embedded.
 *
 * Each stored vector carries the model's id and a 64-bit FNV-1a hash of
 * the exact text the model read. An item is (re)embedded when any of its
 * languages has no vector of the current model, when a hash differs (its
 * text changed, or the bridge now renders it differently), or when it lost
 * a language; it is then stored whole (store.h, vt_store_embeddings_put).
 * A full sync ends by deleting the vectors of every other model, so after a
 * model change the catalog is re-embedded and vectors of two models never
 * serve together.
 *
 * Work goes in batches of VT_ITEM_EMBED_BATCH texts (an item's languages
 * are never split across batches), each stored in one transaction, so an
 * interrupted sync keeps what it finished and the next one resumes.
 *
 * An item whose text cannot be prepared (the text data the bridge needs is
 * missing) is skipped whole and counted in report.failed; its stored
 * vectors are left alone. A model that cannot be loaded fails the call
 * (VT_EUNAVAIL) before anything is written.
 *
 * Thread-safety: the functions only share the store and the pipeline, both
 * thread-safe; two syncs of the same store at once do redundant work but
 * store consistent results.
 */
#ifndef VT_NN_ITEM_EMBED_H
#define VT_NN_ITEM_EMBED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "store/record.h"
#include "store/store.h"
#include "text/pipeline.h"

#define VT_ITEM_EMBED_BATCH 32 /* texts per encoder call and transaction */

/* One language's text of an item. */
struct vt_item_text {
    char lang[VT_LANG_MAX + 1];
    char *text; /* vt_malloc'ed */
};

/* The texts of it, one per usable title language, sorted by language.
 * *out is NULL when there is none. Free with vt_item_texts_free(). Returns 0
 * or VT_ENOMEM. */
int vt_item_texts(const struct vt_item *it, struct vt_item_text **out, size_t *n);
void vt_item_texts_free(struct vt_item_text *t, size_t n);

/* 64-bit FNV-1a of s[0..n): the text_hash stored with a vector. */
uint64_t vt_item_text_hash(const char *s, size_t n);

struct vt_item_embed_options {
    const char *progress;   /* label of a progress bar on stderr (core/progress.h), or NULL */
    int log_progress;       /* 1: log progress at info level every few seconds */
    const atomic_int *stop; /* when set (non-zero), stop after the current batch */
};

struct vt_item_embed_report {
    char model_id[VT_MODEL_ID_MAX + 1];
    size_t dim;
    size_t items;          /* items looked at */
    size_t items_embedded; /* items (re)embedded */
    size_t texts_embedded; /* vectors computed and stored */
    size_t failed;         /* items skipped: their text could not be prepared */
    int64_t pruned;        /* vectors of other models deleted */
    int stopped;           /* 1 if opt->stop ended the sync early */
    double seconds;
};

/* Embed every item that is missing or stale for the pipeline's model, then
 * delete other models' vectors (unless stopped early). opt and rep may be
 * NULL. Errors: VT_EUNAVAIL (no model), store errors, VT_ENOMEM; what was
 * stored before an error stays. */
int vt_item_embed_sync(struct vt_store *s, struct vt_textenc *te,
                       const struct vt_item_embed_options *opt,
                       struct vt_item_embed_report *rep, struct vt_error *err);

/* The same for the items with the given ids only (unknown ids are
 * skipped); other models' vectors are left alone. */
int vt_item_embed_ids(struct vt_store *s, struct vt_textenc *te, const char *const *ids,
                      size_t n, struct vt_item_embed_report *rep, struct vt_error *err);

#endif
