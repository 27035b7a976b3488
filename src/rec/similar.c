/*
 * similar.c - GET /v1/items/{id}/similar: items like this one.
 *
 * Two signals, blended:
 *   content  the cosine between the items' text embeddings (candidates
 *            from the ANN index), so a new item with no events has
 *            neighbours as soon as its vector is in the catalog part;
 *   cf       the item-item CF similarity (shoppers who engaged with both;
 *            candidates from the item's kept neighbours).
 * Each is standardised over the union of candidates, z = (x - mean) / sd
 * (a signal that does not vary, or is absent, contributes 0), and
 *     score = w z_content + (1 - w) z_cf,    w = similar.content_weight.
 * Every candidate gets both raw values: the content cosine is computed
 * exactly for CF candidates, a content candidate not among the item's CF
 * neighbours has cf 0.
 *
 * Hidden and out-of-stock items never appear. The item asked about must
 * exist and not be hidden (VT_ENOTFOUND otherwise); an out-of-stock item
 * still has similar items, which is when a shopper needs them most.
 * Thread-safety: one snapshot reference per request, no shared state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "rec/engine_int.h"

#define SIMILAR_ANN_MIN 50

struct sim_cand {
    int32_t item;
    float content, cf;
    double score;
};

struct sim_filter {
    const struct eng_catalog *cat;
    int32_t self;
};

static int sim_ok(int64_t label, void *arg)
{
    const struct sim_filter *f = arg;
    return label >= 0 && label < f->cat->nitems && label != f->self &&
           f->cat->items[label].visible;
}

static int cmp_sim(const void *a, const void *b)
{
    const struct sim_cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->item > y->item) - (x->item < y->item);
}

static void standardise(const struct sim_cand *c, size_t n, int which, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for (size_t j = 0; j < n; j++) {
        double x = which ? c[j].cf : c[j].content;
        s += x;
        ss += x * x;
    }
    *mean = n ? s / (double)n : 0;
    double var = n ? ss / (double)n - *mean * *mean : 0;
    *sd = var > 1e-12 ? sqrt(var) : 0;
}

static const float *row(const struct eng_catalog *c, int32_t i)
{
    if (!c->dim || !c->has_emb || !c->has_emb[i])
        return NULL;
    return c->emb + (size_t)i * c->dim;
}

int vt_engine_similar(struct vt_engine *e, const char *item_id, size_t n, json_t **out,
                      struct vt_error *err)
{
    struct vt_buf b;
    vt_buf_init(&b, 0);
    return eng_answer_json(vt_engine_similar_text(e, item_id, n, &b, err), &b, out, err);
}

int vt_engine_similar_text(struct vt_engine *e, const char *item_id, size_t n,
                           struct vt_buf *out, struct vt_error *err)
{
    if (!n || n > 100)
        return vt_error_set(err, VT_EINVAL, "n", "n must be from 1 to 100");
    struct eng_snapshot *s = eng_snapshot_get(e);
    const struct eng_catalog *cat = s->cat;
    struct sim_cand *c = NULL;
    int64_t *labels = NULL;
    int32_t *slot = NULL;
    size_t at = out->len;
    int rc = 0;
    int32_t self = vt_idmap_get(cat->ids, item_id);
    if (self < 0 || cat->items[self].rec.hidden) {
        rc = vt_error_set(err, VT_ENOTFOUND, NULL, "no item %s", item_id);
        goto out;
    }
    const struct vt_itemknn *knn = s->beh ? s->beh->knn : NULL;
    int32_t b = s->beh_of ? s->beh_of[self] : -1;
    size_t nknn = knn && b >= 0 && b < knn->nitems ? (size_t)(knn->ptr[b + 1] - knn->ptr[b]) : 0;
    size_t kann = 3 * n > SIMILAR_ANN_MIN ? 3 * n : SIMILAR_ANN_MIN;
    c = vt_malloc((kann + nknn + 1) * sizeof *c);
    labels = vt_malloc(kann * sizeof *labels);
    slot = vt_malloc((size_t)cat->nitems * sizeof *slot);
    if (!c || !labels || !slot)
        goto oom;
    for (int32_t i = 0; i < cat->nitems; i++)
        slot[i] = -1;
    size_t nc = 0;
    const float *v = row(cat, self);
    if (v && cat->ann) {
        struct sim_filter f = {cat, self};
        size_t got = 0;
        if (vt_index_search(cat->ann, v, kann, sim_ok, &f, labels, NULL, &got) == VT_ENOMEM)
            goto oom;
        for (size_t j = 0; j < got; j++) {
            int32_t i = (int32_t)labels[j];
            slot[i] = (int32_t)nc;
            c[nc++] = (struct sim_cand){i, 0, 0, 0};
        }
    }
    for (size_t j = 0; j < nknn; j++) {
        int32_t i = s->cat_of[knn->nb[knn->ptr[b] + (int64_t)j]];
        if (i < 0 || i == self || !cat->items[i].visible)
            continue;
        if (slot[i] < 0) {
            slot[i] = (int32_t)nc;
            c[nc++] = (struct sim_cand){i, 0, 0, 0};
        }
        c[slot[i]].cf = knn->sim[knn->ptr[b] + (int64_t)j];
    }
    for (size_t j = 0; j < nc; j++) {
        const float *u = row(cat, c[j].item);
        double d = 0;
        if (v && u)
            for (uint32_t k = 0; k < cat->dim; k++)
                d += (double)v[k] * u[k];
        c[j].content = (float)d;
    }
    double w = e->params.similar_content;
    w = w < 0 ? 0 : w > 1 ? 1 : w;
    double mc, sc, mf, sf;
    standardise(c, nc, 0, &mc, &sc);
    standardise(c, nc, 1, &mf, &sf);
    for (size_t j = 0; j < nc; j++)
        c[j].score = (sc > 0 ? w * (c[j].content - mc) / sc : 0) +
                     (sf > 0 ? (1 - w) * (c[j].cf - mf) / sf : 0);
    qsort(c, nc, sizeof *c, cmp_sim);

    /* The answer as JSON text: the memoised summaries with the scores. */
    int bad = vt_buf_puts(out, "{\"item_id\":");
    bad = bad ? bad : vt_buf_json_str(out, cat->items[self].rec.id);
    bad = bad ? bad : vt_buf_puts(out, ",\"items\":[");
    for (size_t j = 0; !bad && j < nc && j < n; j++) {
        size_t len = 0;
        const char *sum = eng_item_summary_text(s, c[j].item, &len);
        if (!sum || len < 2 || sum[len - 1] != '}')
            goto oom;
        if (j)
            bad = vt_buf_append(out, ",", 1);
        bad = bad ? bad : vt_buf_append(out, sum, len - 1); /* the object, still open */
        bad = bad ? bad : vt_buf_puts(out, ",\"score\":");
        bad = bad ? bad : vt_buf_json_real(out, c[j].score, 15);
        bad = bad ? bad : vt_buf_puts(out, ",\"content\":");
        bad = bad ? bad : vt_buf_json_real(out, c[j].content, 9);
        bad = bad ? bad : vt_buf_puts(out, ",\"cf\":");
        bad = bad ? bad : vt_buf_json_real(out, c[j].cf, 9);
        bad = bad ? bad : vt_buf_append(out, "}", 1);
    }
    bad = bad ? bad : vt_buf_puts(out, "]}");
    if (bad)
        goto oom;
    goto out;
oom:
    out->len = at; /* nothing half-written stays */
    if (out->data)
        out->data[at] = '\0';
    rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory while finding similar items");
out:
    vt_free(c);
    vt_free(labels);
    vt_free(slot);
    eng_snapshot_put(s);
    return rc;
}
