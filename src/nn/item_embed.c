/*
 * item_embed.c - the texts of items and keeping their vectors in step with
 * the catalog and the model (contract in item_embed.h).
 *
 * A sync walks the catalog in pages of PAGE items (keyset order, hidden
 * items included: they may be shown again). For each page it prepares every
 * text (pipeline.h), hashes what the model would read, asks the store which
 * items are stale, and embeds those in batches of VT_ITEM_EMBED_BATCH
 * texts; each batch is stored in one transaction. Preparing is cheap next
 * to the encoder, so unchanged items cost a cleaning, a bridge pass and a
 * hash lookup, not a forward pass.
 */
#include "nn/item_embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/util.h"

#define PAGE 256                          /* items read from the store at a time */
#define LOG_EVERY_NS (5 * 1000000000LL)   /* progress lines in the server's log */

/* ---- the text of an item ------------------------------------------------------ */

static int lang_usable(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > VT_LANG_MAX)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            return 0;
    return 1;
}

/* 1 if b ends a sentence: '.', '!', '?' or their full-width forms. */
static int ends_sentence(const struct vt_buf *b)
{
    static const char *const full[] = {"\xe3\x80\x82", "\xef\xbc\x81", "\xef\xbc\x9f"};
    char c = b->len ? b->data[b->len - 1] : 0;
    if (c == '.' || c == '!' || c == '?')
        return 1;
    for (size_t i = 0; b->len >= 3 && i < 3; i++)
        if (memcmp(b->data + b->len - 3, full[i], 3) == 0)
            return 1;
    return 0;
}

/* Appends ". " between parts (a space after a part that ends a sentence). */
static int part_sep(struct vt_buf *b)
{
    if (!b->len)
        return 0;
    return vt_buf_puts(b, ends_sentence(b) ? " " : ". ");
}

static int compose(const struct vt_item *it, const char *lang, struct vt_buf *b)
{
    const json_t *t = json_object_get(it->title, lang);
    const json_t *d = it->description ? json_object_get(it->description, lang) : NULL;
    const json_t *tag;
    size_t i;
    int rc = vt_buf_append(b, json_string_value(t), json_string_length(t));
    if (rc == 0 && json_is_string(d) && json_string_length(d) > 0) {
        rc = part_sep(b);
        if (rc == 0)
            rc = vt_buf_append(b, json_string_value(d), json_string_length(d));
    }
    if (rc == 0 && it->category && it->category[0]) {
        rc = part_sep(b);
        for (const char *p = it->category; rc == 0 && *p; p++)
            rc = *p == '/' ? vt_buf_puts(b, ", ") : vt_buf_append(b, p, 1);
    }
    int first = 1;
    json_array_foreach(it->tags, i, tag) {
        if (rc || !json_is_string(tag) || json_string_length(tag) == 0)
            continue;
        rc = first ? part_sep(b) : vt_buf_puts(b, ", ");
        if (rc == 0)
            rc = vt_buf_append(b, json_string_value(tag), json_string_length(tag));
        first = 0;
    }
    return rc;
}

static int text_cmp(const void *a, const void *b)
{
    return strcmp(((const struct vt_item_text *)a)->lang, ((const struct vt_item_text *)b)->lang);
}

int vt_item_texts(const struct vt_item *it, struct vt_item_text **out, size_t *n)
{
    const char *lang;
    const json_t *v;
    size_t k = 0, cap = json_object_size(it->title);
    struct vt_item_text *t;

    *out = NULL;
    *n = 0;
    if (cap == 0)
        return 0;
    t = vt_calloc(cap, sizeof *t);
    if (!t)
        return VT_ENOMEM;
    json_object_foreach(it->title, lang, v) {
        struct vt_buf b;
        if (!json_is_string(v) || json_string_length(v) == 0 || !lang_usable(lang))
            continue;
        vt_buf_init(&b, 0);
        if (compose(it, lang, &b) || !b.data) {
            vt_buf_reset(&b);
            vt_item_texts_free(t, k);
            return VT_ENOMEM;
        }
        snprintf(t[k].lang, sizeof t[k].lang, "%s", lang);
        t[k++].text = vt_buf_steal(&b, NULL);
    }
    if (k == 0) {
        vt_free(t);
        return 0;
    }
    qsort(t, k, sizeof *t, text_cmp);
    *out = t;
    *n = k;
    return 0;
}

void vt_item_texts_free(struct vt_item_text *t, size_t n)
{
    if (!t)
        return;
    for (size_t i = 0; i < n; i++)
        vt_free(t[i].text);
    vt_free(t);
}

uint64_t vt_item_text_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ---- syncing ------------------------------------------------------------------ */

struct run {
    struct vt_store *s;
    struct vt_textenc *te;
    const struct vt_item_embed_options *opt;
    struct vt_item_embed_report *rep;
    struct vt_encoder_info info;
    struct vt_progress bar;
    int bar_on;
    int64_t total, done, last_log_ns;
    int warned;
};

/* One prepared text of the page. */
struct ptext {
    char lang[VT_LANG_MAX + 1];
    char *input; /* what the model reads */
    uint64_t hash;
};

/* One item of the page: its texts are ptexts[first .. first + count). */
struct pitem {
    const char *id;
    size_t first, count;
    int failed, stale;
};

struct page {
    struct ptext *t;
    size_t nt, cap;
    struct pitem *items;
    size_t n;
};

static void page_reset(struct page *p)
{
    for (size_t i = 0; i < p->nt; i++)
        vt_free(p->t[i].input);
    vt_free(p->t);
    vt_free(p->items);
    memset(p, 0, sizeof *p);
}

static int page_push(struct page *p, const char *lang, char *input, size_t len)
{
    if (p->nt == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        struct ptext *nt = vt_realloc(p->t, ncap * sizeof *nt);
        if (!nt)
            return VT_ENOMEM;
        p->t = nt;
        p->cap = ncap;
    }
    struct ptext *t = &p->t[p->nt++];
    snprintf(t->lang, sizeof t->lang, "%s", lang);
    t->input = input;
    t->hash = vt_item_text_hash(input, len);
    return 0;
}

static void report_progress(struct run *r)
{
    if (r->bar_on)
        vt_progress_update(&r->bar, r->done);
    if (r->opt && r->opt->log_progress) {
        int64_t now = vt_time_mono_ns();
        if (now - r->last_log_ns >= LOG_EVERY_NS) {
            r->last_log_ns = now;
            vt_info("embedding items", "done=%lld total=%lld model_id=%s", (long long)r->done,
                    (long long)r->total, r->info.model_id);
        }
    }
}

/* Prepares the texts of item it into the page; a text that cannot be
 * prepared marks the item failed (only out of memory is an error). */
static int prepare_item(struct run *r, struct page *p, const struct vt_item *it)
{
    struct pitem *pi = &p->items[p->n++];
    struct vt_item_text *texts = NULL;
    size_t nt = 0;
    int rc;

    pi->id = it->id;
    pi->first = p->nt;
    rc = vt_item_texts(it, &texts, &nt);
    for (size_t k = 0; rc == 0 && k < nt; k++) {
        char *input = NULL;
        size_t len = 0;
        struct vt_error e;
        vt_error_clear(&e);
        int prc = vt_textenc_prepare(r->te, texts[k].text, strlen(texts[k].text), NULL, &input,
                                     &len, NULL, &e);
        if (prc == VT_ENOMEM) {
            rc = prc;
        } else if (prc) {
            if (!r->warned++)
                vt_warn("an item's text cannot be embedded; such items are skipped",
                        "item=\"%.64s\" lang=%s reason=\"%.200s\"", it->id, texts[k].lang,
                        e.message);
            pi->failed = 1;
            break;
        } else if ((rc = page_push(p, texts[k].lang, input, len)) != 0) {
            vt_free(input);
        }
    }
    vt_item_texts_free(texts, nt);
    if (pi->failed) {
        /* The item's stored vectors stay as they are. */
        while (p->nt > pi->first)
            vt_free(p->t[--p->nt].input);
        r->rep->failed++;
    }
    pi->count = p->nt - pi->first;
    return rc;
}

/* Embeds and stores the texts of items[from .. to) of the page that are
 * stale, all in one encoder call and one transaction. */
static int flush(struct run *r, struct page *p, size_t from, size_t to, struct vt_error *err)
{
    size_t count = 0, k = 0, dim = r->info.dim;
    const char **inputs = NULL;
    float *vec = NULL;
    struct vt_embedding *emb = NULL;
    int rc = 0;

    for (size_t i = from; i < to; i++)
        if (p->items[i].stale)
            count += p->items[i].count;
    if (count == 0)
        return 0;
    size_t floats;
    if (vt_mul_size(count, dim, &floats) < 0)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
    inputs = vt_calloc(count, sizeof *inputs);
    vec = vt_calloc(floats, sizeof *vec);
    emb = vt_calloc(count, sizeof *emb);
    if (!inputs || !vec || !emb) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory embedding %zu texts", count);
        goto out;
    }
    for (size_t i = from; i < to; i++) {
        const struct pitem *pi = &p->items[i];
        if (!pi->stale)
            continue;
        for (size_t j = 0; j < pi->count; j++, k++) {
            const struct ptext *t = &p->t[pi->first + j];
            inputs[k] = t->input;
            snprintf(emb[k].item_id, sizeof emb[k].item_id, "%s", pi->id);
            snprintf(emb[k].lang, sizeof emb[k].lang, "%s", t->lang);
            snprintf(emb[k].model_id, sizeof emb[k].model_id, "%s", r->info.model_id);
            emb[k].dim = (uint32_t)dim;
            emb[k].vector = vec + k * dim;
            emb[k].text_hash = t->hash;
        }
    }
    rc = vt_textenc_embed_prepared(r->te, inputs, count, vec, err);
    if (rc == 0) {
        size_t bad = 0;
        rc = vt_store_embeddings_put(r->s, emb, count, &bad, err);
        /* An item deleted since it was read is no longer ours to embed:
         * store the others item by item (each item's rows together). */
        if (rc == VT_ENOTFOUND) {
            rc = 0;
            for (size_t g = 0; g < count && rc == 0;) {
                size_t e = g + 1;
                while (e < count && strcmp(emb[e].item_id, emb[g].item_id) == 0)
                    e++;
                rc = vt_store_embeddings_put(r->s, &emb[g], e - g, &bad, err);
                if (rc == VT_ENOTFOUND) {
                    vt_debug("item deleted while being embedded", "item=\"%.64s\"",
                             emb[g].item_id);
                    rc = 0;
                }
                g = e;
            }
        }
    }
    if (rc == 0) {
        for (size_t i = from; i < to; i++)
            r->rep->items_embedded += p->items[i].stale && p->items[i].count > 0;
        r->rep->texts_embedded += count;
    }
out:
    vt_free(inputs);
    vt_free(vec);
    vt_free(emb);
    return rc;
}

static int stop_asked(const struct run *r)
{
    return r->opt && r->opt->stop && atomic_load(r->opt->stop);
}

/* Prepares, checks and embeds one page of items. */
static int process(struct run *r, const struct vt_item *items, size_t n, struct vt_error *err)
{
    struct page p;
    struct vt_embedding_ref *refs = NULL;
    uint8_t *stale = NULL;
    int rc = 0;

    memset(&p, 0, sizeof p);
    if (n == 0)
        return 0;
    p.items = vt_calloc(n, sizeof *p.items);
    if (!p.items) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = prepare_item(r, &p, &items[i]);
    if (rc) {
        vt_error_set(err, rc, NULL, "out of memory preparing item texts");
        goto out;
    }
    if (p.nt > 0) {
        refs = vt_calloc(p.nt, sizeof *refs);
        stale = vt_calloc(p.nt, 1);
        if (!refs || !stale) {
            rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < p.n; i++)
            for (size_t j = 0; j < p.items[i].count; j++) {
                struct ptext *t = &p.t[p.items[i].first + j];
                refs[p.items[i].first + j] =
                    (struct vt_embedding_ref){p.items[i].id, t->lang, t->hash};
            }
        rc = vt_store_embeddings_stale(r->s, r->info.model_id, refs, p.nt, stale);
        if (rc) {
            vt_error_set(err, rc, NULL, "checking stored embeddings failed: %s",
                         vt_strerror(rc));
            goto out;
        }
        for (size_t i = 0; i < p.n; i++)
            for (size_t j = 0; j < p.items[i].count; j++)
                p.items[i].stale |= stale[p.items[i].first + j];
    }
    /* Batches of up to VT_ITEM_EMBED_BATCH texts, whole items each. */
    size_t from = 0, texts = 0;
    for (size_t i = 0; i <= p.n; i++) {
        size_t c = i < p.n && p.items[i].stale ? p.items[i].count : 0;
        if (i == p.n || (texts > 0 && texts + c > VT_ITEM_EMBED_BATCH)) {
            if (stop_asked(r)) {
                r->rep->stopped = 1;
                break;
            }
            rc = flush(r, &p, from, i, err);
            if (rc)
                goto out;
            r->done += (int64_t)(i - from);
            report_progress(r);
            from = i;
            texts = 0;
        }
        texts += c;
    }
out:
    r->rep->items += n;
    vt_free(refs);
    vt_free(stale);
    page_reset(&p);
    return rc;
}

static int run_start(struct run *r, struct vt_store *s, struct vt_textenc *te,
                     const struct vt_item_embed_options *opt, struct vt_item_embed_report *rep,
                     struct vt_error *err)
{
    memset(r, 0, sizeof *r);
    memset(rep, 0, sizeof *rep);
    r->s = s;
    r->te = te;
    r->opt = opt;
    r->rep = rep;
    int rc = vt_textenc_info(te, &r->info, err);
    if (rc)
        return rc;
    snprintf(rep->model_id, sizeof rep->model_id, "%s", r->info.model_id);
    rep->dim = r->info.dim;
    r->last_log_ns = vt_time_mono_ns();
    return 0;
}

int vt_item_embed_sync(struct vt_store *s, struct vt_textenc *te,
                       const struct vt_item_embed_options *opt,
                       struct vt_item_embed_report *rep, struct vt_error *err)
{
    struct vt_item_embed_report local;
    struct vt_store_stats st;
    struct run r;
    char after[VT_ID_MAX + 1] = "";
    int64_t t0 = vt_time_mono_ns();
    int more = 1, rc;

    if (!rep)
        rep = &local;
    rc = run_start(&r, s, te, opt, rep, err);
    if (rc)
        return rc;
    memset(&st, 0, sizeof st);
    if (vt_store_stats(s, &st) == 0)
        r.total = st.items;
    if (opt && opt->progress) {
        vt_progress_start(&r.bar, opt->progress, r.total);
        r.bar_on = 1;
    }
    while (more && rc == 0 && !rep->stopped) {
        struct vt_item_query q;
        struct vt_item *items = NULL;
        size_t n = 0;
        memset(&q, 0, sizeof q);
        q.after_id = after[0] ? after : NULL;
        q.limit = PAGE;
        q.include_hidden = 1;
        rc = vt_store_items_list(s, &q, &items, &n, &more);
        if (rc) {
            vt_error_set(err, rc, NULL, "reading the catalog failed: %s", vt_strerror(rc));
            break;
        }
        rc = process(&r, items, n, err);
        if (n > 0)
            snprintf(after, sizeof after, "%s", items[n - 1].id);
        vt_items_free(items, n);
    }
    if (rc == 0 && !rep->stopped) {
        rc = vt_store_embeddings_prune(s, r.info.model_id, &rep->pruned);
        if (rc)
            vt_error_set(err, rc, NULL, "deleting other models' embeddings failed: %s",
                         vt_strerror(rc));
    }
    if (r.bar_on)
        vt_progress_finish(&r.bar);
    rep->seconds = (double)(vt_time_mono_ns() - t0) / 1e9;
    if (rc == 0)
        vt_info("items embedded",
                "model_id=%s items=%zu embedded=%zu vectors=%zu failed=%zu pruned=%lld "
                "stopped=%d seconds=%.2f",
                rep->model_id, rep->items, rep->items_embedded, rep->texts_embedded,
                rep->failed, (long long)rep->pruned, rep->stopped, rep->seconds);
    return rc;
}

int vt_item_embed_ids(struct vt_store *s, struct vt_textenc *te, const char *const *ids,
                      size_t n, struct vt_item_embed_report *rep, struct vt_error *err)
{
    struct vt_item_embed_report local;
    struct vt_item *items = NULL;
    struct run r;
    int64_t t0 = vt_time_mono_ns();
    int rc;

    if (!rep)
        rep = &local;
    rc = run_start(&r, s, te, NULL, rep, err);
    if (rc)
        return rc;
    items = vt_calloc(n < PAGE ? (n ? n : 1) : PAGE, sizeof *items);
    if (!items)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory");
    for (size_t at = 0; at < n && rc == 0; at += PAGE) {
        size_t m = 0;
        for (size_t i = at; i < n && i < at + PAGE && rc == 0; i++) {
            int g = vt_store_item_get(s, ids[i], &items[m]);
            if (g == 0)
                m++;
            else if (g != VT_ENOTFOUND && g != VT_EINVAL)
                rc = vt_error_set(err, g, NULL, "reading item '%.64s' failed: %s", ids[i],
                                  vt_strerror(g));
        }
        if (rc == 0)
            rc = process(&r, items, m, err);
        for (size_t i = 0; i < m; i++)
            vt_item_reset(&items[i]);
    }
    vt_free(items);
    rep->seconds = (double)(vt_time_mono_ns() - t0) / 1e9;
    return rc;
}
