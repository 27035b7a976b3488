/*
 * pipeline.c - the text-understanding front door (contract in pipeline.h).
 *
 * Three parts load lazily, each at most once, each behind its own mutex:
 * the model (encoder), the text data (segmenter, CC-CEDICT, bridge) and the
 * analysis (IDF table, attribute vocabulary; it needs the text data, so its
 * loader takes the text part's lock inside its own, always in that order).
 * A part's state is published with release/acquire so that the common case,
 * an already loaded part, costs one atomic load and no lock.
 *
 * After loading, the encoder, segmenter, dictionary and bridge are only
 * read. The keyword corpus and the attribute vocabulary keep growing as
 * items are learnt (vt_textenc_learn_item), so they sit behind a read-write
 * lock: analyses read, learning writes.
 */
#include "text/pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "text/attrs.h"
#include "text/cedict.h"
#include "text/jieba.h"
#include "text/keywords.h"
#include "text/normalize.h"

/* One lazily loaded part. state: 0 not tried, 1 ready, -1 failed (err). */
struct part {
    pthread_mutex_t lock;
    atomic_int state;
    struct vt_error err;
};

struct vt_textenc {
    char *model_path, *text_dir;
    int bridge_on;

    struct part model; /* enc, info, lacks_zh */
    struct vt_encoder *enc;
    struct vt_encoder_info info;
    int lacks_zh;

    struct part text; /* seg, dict, bridge */
    struct vt_jieba *seg;
    struct vt_cedict *dict;
    struct vt_bridge *bridge;

    struct part analysis; /* kw, vocab */
    struct vt_keywords *kw;
    struct vt_attr_vocab *vocab;
    pthread_rwlock_t learn; /* writers: learning; readers: analyses */
};

/* ---- loading ---------------------------------------------------------------- */

static void part_init(struct part *p)
{
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->state, 0);
    vt_error_clear(&p->err);
}

/* Makes sure part p is loaded by load(); copies its error to err if not. */
static int part_ensure(struct vt_textenc *te, struct part *p,
                       int (*load)(struct vt_textenc *, struct vt_error *), struct vt_error *err)
{
    int st = atomic_load_explicit(&p->state, memory_order_acquire);
    if (st == 0) {
        pthread_mutex_lock(&p->lock);
        st = atomic_load_explicit(&p->state, memory_order_relaxed);
        if (st == 0) {
            vt_error_clear(&p->err);
            int rc = load(te, &p->err);
            if (rc) {
                p->err.code = VT_EUNAVAIL;
                if (!p->err.message[0])
                    snprintf(p->err.message, sizeof p->err.message, "%s", vt_strerror(rc));
            }
            st = rc ? -1 : 1;
            atomic_store_explicit(&p->state, st, memory_order_release);
        }
        pthread_mutex_unlock(&p->lock);
    }
    if (st > 0)
        return 0;
    if (err)
        *err = p->err;
    return VT_EUNAVAIL;
}

/* The commonest Chinese characters: a vocabulary with Chinese pieces has
 * each of them, one without maps them all to its unknown token. */
static const char *const probe_chars[] = {"的", "一", "是", "不", "了", "人", "我",
                                          "在", "有", "这", "中", "大", "上", "国"};
#define NPROBE (sizeof probe_chars / sizeof probe_chars[0])

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* 1 if the model tokenises fewer than half the probe characters apart. */
static int model_lacks_chinese(struct vt_encoder *enc)
{
    int32_t *ids[NPROBE] = {0};
    size_t n[NPROBE] = {0}, distinct = 0;
    for (size_t i = 0; i < NPROBE; i++) {
        struct vt_error e;
        if (vt_encoder_tokenize(enc, probe_chars[i], strlen(probe_chars[i]), &ids[i], &n[i], &e)) {
            ids[i] = NULL;
            n[i] = 0;
        }
    }
    for (size_t i = 0; i < NPROBE; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = same_ids(ids[i], n[i], ids[j], n[j]);
        distinct += !seen;
    }
    for (size_t i = 0; i < NPROBE; i++)
        vt_free(ids[i]);
    return distinct < NPROBE / 2;
}

static int path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int load_model(struct vt_textenc *te, struct vt_error *err)
{
    struct vt_error e;
    int64_t t0 = vt_time_mono_ns();
    vt_error_clear(&e);
    int rc = vt_encoder_open(te->model_path, &te->enc, &e);
    if (rc) {
        te->enc = NULL;
        return vt_error_set(err, VT_EUNAVAIL, "model", "no usable model: %s%s",
                            e.message[0] ? e.message : vt_strerror(rc),
                            path_exists(te->model_path)
                                ? ""
                                : " (scripts/fetch-models fetches the default model; the "
                                  "configuration key model names another)");
    }
    vt_encoder_info(te->enc, &te->info);
    te->lacks_zh = model_lacks_chinese(te->enc);
    vt_info("model loaded", "path=\"%s\" model_id=%s arch=%s dim=%zu chinese=%s ms=%.0f",
            te->model_path, te->info.model_id, te->info.arch, te->info.dim,
            te->lacks_zh ? (te->bridge_on ? "bridge" : "none") : "model",
            (double)(vt_time_mono_ns() - t0) / 1e6);
    return 0;
}

/* dir/sub into buf; 0 or VT_EINVAL when it does not fit. */
static int join(char *buf, size_t size, const char *dir, const char *sub)
{
    return snprintf(buf, size, "%s/%s", dir, sub) < (int)size ? 0 : VT_EINVAL;
}

/* The error for a text data file that did not load. */
static int text_data_error(struct vt_error *err, const char *path, const struct vt_error *e,
                           int rc)
{
    if (!path_exists(path))
        return vt_error_set(err, VT_EUNAVAIL, "text_dir",
                            "no usable text data: %s: no such file (scripts/fetch-text-data "
                            "fetches it; the configuration key text_dir names its folder)",
                            path);
    return vt_error_set(err, VT_EUNAVAIL, "text_dir", "no usable text data: %s",
                        e->message[0] ? e->message : vt_strerror(rc));
}

static int load_text(struct vt_textenc *te, struct vt_error *err)
{
    char path[4096], cache[4096];
    struct vt_error e;
    int64_t t0 = vt_time_mono_ns();
    int rc;

    vt_error_clear(&e);
    if (join(path, sizeof path, te->text_dir, "jieba/dict.txt") ||
        join(cache, sizeof cache, te->text_dir, "jieba/dict.bin"))
        return vt_error_set(err, VT_EINVAL, "text_dir", "text_dir is too long");
    rc = vt_jieba_load(path, cache, &te->seg, &e);
    if (rc) {
        te->seg = NULL;
        return text_data_error(err, path, &e, rc);
    }
    if (join(path, sizeof path, te->text_dir, "cedict/cedict_ts.u8") ||
        join(cache, sizeof cache, te->text_dir, "cedict/glosses.tsv"))
        return vt_error_set(err, VT_EINVAL, "text_dir", "text_dir is too long");
    rc = vt_cedict_load(path, cache, &te->dict, &e);
    if (rc) {
        te->dict = NULL;
        return text_data_error(err, path, &e, rc);
    }
    /* USE-Lite is cased and catalogs write names in sentence case
     * ("Corner sofa"), so bridged Chinese that starts a text or a sentence
     * starts with a capital too (docs/text.md; measured against the other
     * conventions in docs/benchmarks.md). */
    struct vt_bridge_opts bo = {.letter_case = VT_BRIDGE_CASE_SENTENCE};
    rc = vt_bridge_new_opts(te->seg, te->dict, &bo, &te->bridge);
    if (rc) {
        te->bridge = NULL;
        return vt_error_set(err, rc, NULL, "out of memory building the bridge");
    }
    vt_info("text data loaded", "dir=\"%s\" words=%zu cedict=%zu ms=%.0f", te->text_dir,
            vt_jieba_size(te->seg), vt_cedict_size(te->dict),
            (double)(vt_time_mono_ns() - t0) / 1e6);
    return 0;
}

static int load_analysis(struct vt_textenc *te, struct vt_error *err)
{
    char path[4096];
    struct vt_error e;
    int rc = part_ensure(te, &te->text, load_text, err);
    if (rc)
        return rc;
    vt_error_clear(&e);
    if (join(path, sizeof path, te->text_dir, "jieba/idf.txt"))
        return vt_error_set(err, VT_EINVAL, "text_dir", "text_dir is too long");
    if (vt_keywords_new(&te->kw) || vt_attr_vocab_new(&te->vocab))
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory loading the analysis");
    rc = vt_keywords_load_idf(te->kw, path, &e);
    if (rc)
        return text_data_error(err, path, &e, rc);
    return 0;
}

/* ---- life ------------------------------------------------------------------- */

int vt_textenc_new(const struct vt_textenc_config *cfg, struct vt_textenc **out)
{
    *out = NULL;
    if (!cfg || !cfg->model || !cfg->model[0] || !cfg->text_dir || !cfg->text_dir[0])
        return VT_EINVAL;
    struct vt_textenc *te = vt_calloc(1, sizeof *te);
    if (!te)
        return VT_ENOMEM;
    te->model_path = vt_strdup(cfg->model);
    te->text_dir = vt_strdup(cfg->text_dir);
    if (!te->model_path || !te->text_dir) {
        vt_free(te->model_path);
        vt_free(te->text_dir);
        vt_free(te);
        return VT_ENOMEM;
    }
    te->bridge_on = cfg->bridge != 0;
    part_init(&te->model);
    part_init(&te->text);
    part_init(&te->analysis);
    pthread_rwlock_init(&te->learn, NULL);
    *out = te;
    return 0;
}

void vt_textenc_free(struct vt_textenc *te)
{
    if (!te)
        return;
    vt_attr_vocab_free(te->vocab);
    vt_keywords_free(te->kw);
    vt_bridge_free(te->bridge);
    vt_cedict_free(te->dict);
    vt_jieba_free(te->seg);
    vt_encoder_free(te->enc);
    pthread_rwlock_destroy(&te->learn);
    pthread_mutex_destroy(&te->model.lock);
    pthread_mutex_destroy(&te->text.lock);
    pthread_mutex_destroy(&te->analysis.lock);
    vt_free(te->model_path);
    vt_free(te->text_dir);
    vt_free(te);
}

int vt_textenc_load_model(struct vt_textenc *te, struct vt_error *err)
{
    return part_ensure(te, &te->model, load_model, err);
}

int vt_textenc_load_text(struct vt_textenc *te, struct vt_error *err)
{
    return part_ensure(te, &te->text, load_text, err);
}

int vt_textenc_info(struct vt_textenc *te, struct vt_encoder_info *info, struct vt_error *err)
{
    int rc = vt_textenc_load_model(te, err);
    if (rc)
        return rc;
    *info = te->info;
    return 0;
}

int vt_textenc_reads_chinese(struct vt_textenc *te, struct vt_error *err)
{
    int rc = vt_textenc_load_model(te, err);
    if (rc)
        return rc;
    return !te->lacks_zh;
}

int vt_textenc_bridges(struct vt_textenc *te, struct vt_error *err)
{
    int rc = vt_textenc_load_model(te, err);
    if (rc)
        return rc;
    return te->lacks_zh && te->bridge_on;
}

/* ---- embedding -------------------------------------------------------------- */

static int too_big(struct vt_error *err, size_t n)
{
    return vt_error_set(err, VT_ETOOBIG, "text", "the text is %zu bytes; the limit is %zu", n,
                        VT_TEXTENC_MAX_TEXT);
}

int vt_textenc_prepare(struct vt_textenc *te, const char *text, size_t n,
                       const struct vt_textenc_opts *opts, char **out, size_t *out_len,
                       int *bridged, struct vt_error *err)
{
    char *clean = NULL;
    size_t clen = 0;
    int rc;

    *out = NULL;
    if (bridged)
        *bridged = 0;
    if (n > VT_TEXTENC_MAX_TEXT)
        return too_big(err, n);
    if (opts && opts->no_bridge) {
        const char *nul = memchr(text, '\0', n);
        rc = vt_text_check(text, n, err);
        if (rc)
            return rc;
        if (nul) {
            rc = vt_error_set(err, VT_EINVAL, "text", "the text has a NUL byte at offset %zu",
                              (size_t)(nul - text));
            if (err)
                err->offset = nul - text;
            return rc;
        }
        *out = vt_strndup(text, n);
        if (!*out)
            return vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
        if (out_len)
            *out_len = n;
        return 0;
    }
    rc = vt_text_clean(text, n, VT_TEXT_FOLD_PUNCT, &clean, &clen, err);
    if (rc)
        return rc;
    if (te->bridge_on && vt_utf8_has_cjk(clean, clen)) {
        rc = vt_textenc_load_model(te, err);
        if (rc == 0 && te->lacks_zh)
            rc = vt_textenc_load_text(te, err);
        if (rc) {
            vt_free(clean);
            return rc;
        }
        if (te->lacks_zh) {
            char *en = NULL;
            size_t elen = 0;
            rc = vt_bridge_zh_en(te->bridge, clean, clen, &en, &elen, err);
            vt_free(clean);
            if (rc)
                return rc;
            clean = en;
            clen = elen;
            if (bridged)
                *bridged = 1;
        }
    }
    *out = clean;
    if (out_len)
        *out_len = clen;
    return 0;
}

/* Puts "text i: " before err's message. */
static void name_text(struct vt_error *err, size_t i)
{
    char msg[sizeof err->message];
    if (!err)
        return;
    snprintf(msg, sizeof msg, "text %zu: %.*s", i, (int)sizeof msg - 32, err->message);
    memcpy(err->message, msg, sizeof msg);
}

int vt_textenc_embed_prepared(struct vt_textenc *te, const char *const *inputs, size_t count,
                              float *out, struct vt_error *err)
{
    int rc = vt_textenc_load_model(te, err);
    if (rc || count == 0)
        return rc;
    return vt_encoder_encode(te->enc, inputs, count, out, err);
}

int vt_textenc_embed(struct vt_textenc *te, const char *const *texts, size_t count, float *out,
                     const struct vt_textenc_opts *opts, struct vt_error *err)
{
    char **inputs = NULL;
    size_t done = 0;
    int rc = vt_textenc_load_model(te, err);
    if (rc || count == 0)
        return rc;
    if (opts && opts->no_bridge) {
        /* The model's own input checks apply; only the size is ours. */
        for (size_t i = 0; i < count; i++) {
            size_t n = texts[i] ? strlen(texts[i]) : 0;
            if (n > VT_TEXTENC_MAX_TEXT) {
                too_big(err, n);
                name_text(err, i);
                return VT_ETOOBIG;
            }
        }
        return vt_encoder_encode(te->enc, texts, count, out, err);
    }
    inputs = vt_calloc(count, sizeof *inputs);
    if (!inputs)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
    for (; done < count; done++) {
        if (!texts[done]) {
            rc = vt_error_set(err, VT_EINVAL, "texts", "text %zu is missing", done);
            goto out;
        }
        rc = vt_textenc_prepare(te, texts[done], strlen(texts[done]), opts, &inputs[done], NULL,
                                NULL, err);
        if (rc) {
            name_text(err, done);
            goto out;
        }
    }
    rc = vt_encoder_encode(te->enc, (const char *const *)inputs, count, out, err);
out:
    for (size_t i = 0; i < done; i++)
        vt_free(inputs[i]);
    vt_free(inputs);
    return rc;
}

int vt_textenc_tokenize(struct vt_textenc *te, const char *text, size_t n,
                        const struct vt_textenc_opts *opts, int32_t **ids, size_t *nids,
                        struct vt_error *err)
{
    char *input = NULL;
    size_t len = 0;
    *ids = NULL;
    *nids = 0;
    int rc = vt_textenc_load_model(te, err);
    if (rc == 0)
        rc = vt_textenc_prepare(te, text, n, opts, &input, &len, NULL, err);
    if (rc == 0)
        rc = vt_encoder_tokenize(te->enc, input, len, ids, nids, err);
    vt_free(input);
    return rc;
}

/* ---- analysis ---------------------------------------------------------------- */

static json_t *keywords_json(const struct vt_keyword *k, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_pack("{s:s,s:f}", "word", k[i].word, "score", k[i].score);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int vt_textenc_analyze(struct vt_textenc *te, const char *text, size_t n, json_t **out,
                       struct vt_error *err)
{
    char *clean = NULL, *en = NULL;
    size_t clen = 0, nk = 0;
    struct vt_keyword *kws = NULL;
    json_t *attrs = NULL, *kj = NULL, *res = NULL;
    int locked = 0, rc;

    *out = NULL;
    if (n > VT_TEXTENC_MAX_TEXT)
        return too_big(err, n);
    rc = vt_text_clean(text, n, VT_TEXT_CLEAN_DEFAULT, &clean, &clen, err);
    if (rc)
        return rc;
    rc = part_ensure(te, &te->analysis, load_analysis, err);
    if (rc)
        goto out;
    pthread_rwlock_rdlock(&te->learn);
    locked = 1;
    rc = vt_keywords_extract(te->kw, te->seg, text, n, VT_TEXTENC_KEYWORDS, &kws, &nk, err);
    if (rc == 0)
        rc = vt_attr_extract(te->vocab, te->seg, text, n, &attrs, NULL, err);
    pthread_rwlock_unlock(&te->learn);
    locked = 0;
    if (rc)
        goto out;
    if (vt_utf8_has_cjk(clean, clen)) {
        rc = vt_bridge_zh_en(te->bridge, clean, clen, &en, NULL, err);
        if (rc)
            goto out;
    }
    kj = keywords_json(kws, nk);
    res = json_object();
    if (!kj || !res ||
        json_object_set_new(res, "language", json_string(vt_lang_name(vt_text_lang(clean,
                                                                                   clen)))) ||
        json_object_set_new(res, "clean", json_stringn(clean, clen)) ||
        json_object_set(res, "keywords", kj) || json_object_set(res, "attributes", attrs) ||
        (en && json_object_set_new(res, "bridged", json_string(en)))) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    *out = res;
    res = NULL;
out:
    if (locked)
        pthread_rwlock_unlock(&te->learn);
    json_decref(res);
    json_decref(kj);
    json_decref(attrs);
    vt_keywords_result_free(kws, nk);
    vt_free(clean);
    vt_free(en);
    return rc;
}

int vt_textenc_segmenter(struct vt_textenc *te, const struct vt_jieba **out,
                         struct vt_error *err)
{
    *out = NULL;
    int rc = vt_textenc_load_text(te, err);
    if (rc == 0)
        *out = te->seg;
    return rc;
}

/* The item's English title and description, for the keyword corpus. */
static int english_text(const struct vt_item *it, struct vt_buf *b)
{
    const json_t *parts[2] = {it->title, it->description};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        const json_t *v = parts[i] ? json_object_get(parts[i], "en") : NULL;
        if (json_is_string(v)) {
            if (b->len)
                rc = vt_buf_puts(b, " ");
            if (rc == 0)
                rc = vt_buf_append(b, json_string_value(v), json_string_length(v));
        }
    }
    return rc;
}

int vt_textenc_learn_item(struct vt_textenc *te, const struct vt_item *it)
{
    struct vt_buf b;
    int rc = part_ensure(te, &te->analysis, load_analysis, NULL);
    if (rc)
        return rc;
    vt_buf_init(&b, VT_TEXTENC_MAX_TEXT);
    int doc = english_text(it, &b);
    if (doc == VT_ENOMEM) {
        vt_buf_reset(&b);
        return VT_ENOMEM;
    }
    pthread_rwlock_wrlock(&te->learn);
    rc = vt_attr_vocab_add_item(te->vocab, it);
    /* An over-long or unusable text teaches the corpus nothing. */
    if (rc == 0 && doc == 0 && b.len > 0 && vt_keywords_add_doc(te->kw, b.data, b.len) == VT_ENOMEM)
        rc = VT_ENOMEM;
    pthread_rwlock_unlock(&te->learn);
    vt_buf_reset(&b);
    return rc;
}
