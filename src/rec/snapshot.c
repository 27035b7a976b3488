/*
 * snapshot.c - building the two parts of an engine snapshot from the store.
 *
 * The catalog part holds every item (hidden ones too, marked not visible,
 * so that an event about a hidden item still names it), in id order: the
 * catalog index of an item is its rank by id. Beside the records it holds
 * the distinct category paths, one text embedding per item of the serving
 * model (the mean of the item's per-language vectors, L2-normalised) and
 * an ANN index over them whose labels are catalog indexes.
 *
 * The behaviour part is built from every stored event: the interaction
 * matrix (users and items numbered in the order events first name them),
 * popularity, trending, item-item CF, iALS and each item's AR rate.
 *
 * Invariants: a part is immutable once its builder returned it; its
 * reference count starts at 1 (the builder's caller). Builders run on one
 * thread and touch nothing shared but the store, which is thread-safe, so
 * requests keep being served meanwhile.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "rec/bm25.h"
#include "rec/engine_int.h"
#include "text/pipeline.h"

#define ITEMS_PAGE 1000
#define EVENTS_PAGE 10000
#define EMB_PAGE 2000
#define HNSW_FROM 2000        /* items: below, the exact flat index */
#define IALS_MIN_ENTRIES 50   /* fewer matrix entries: no iALS */
#define TRENDING_HALF_LIFE_DAYS 7.0
/* Tuned on MovieLens by vitrine eval (docs/evaluation.md). */
#define KNN_NEIGHBOURS 200
#define KNN_SHRINK 2.0f
#define IALS_LAMBDA 20.0f
#define IALS_ALPHA 2.0f
#define IALS_SEED 0x1a15u

static double seconds_since(int64_t t0_ns)
{
    return (double)(vt_time_mono_ns() - t0_ns) / 1e9;
}

/* ---- releasing ------------------------------------------------------------- */

static void catalog_free(struct eng_catalog *c)
{
    if (!c)
        return;
    for (int32_t i = 0; c->items && i < c->nitems; i++)
        vt_item_reset(&c->items[i].rec);
    vt_free(c->items);
    vt_idmap_free(c->ids);
    for (int32_t k = 0; c->cats && k < c->ncats; k++)
        vt_free(c->cats[k]);
    vt_free(c->cats);
    vt_free(c->cat_items);
    vt_free(c->emb);
    vt_free(c->has_emb);
    vt_index_free(c->ann);
    vt_bm25_free(c->bm25);
    for (int32_t i = 0; c->nbr && i < c->nitems; i++)
        vt_free(atomic_load(&c->nbr[i]));
    vt_free((void *)c->nbr);
    for (int32_t i = 0; c->summary && i < c->nitems; i++)
        vt_free(atomic_load(&c->summary[i]));
    vt_free((void *)c->summary);
    vt_free(c);
}

const int32_t *eng_catalog_neighbours(const struct eng_catalog *c, int32_t item, size_t *n)
{
    *n = 0;
    if (!c->nbr || !c->ann || item < 0 || item >= c->nitems || !c->has_emb[item])
        return NULL;
    int32_t *got = atomic_load_explicit(&c->nbr[item], memory_order_acquire);
    if (!got) {
        /* [count, neighbours...]; a racing request may compute the same
         * list: the first stored wins and the other is dropped. */
        int64_t labels[ENG_NBR_KEEP + 1];
        size_t m = 0;
        if (vt_index_search(c->ann, c->emb + (size_t)item * c->dim, ENG_NBR_KEEP + 1, NULL,
                            NULL, labels, NULL, &m))
            return NULL;
        int32_t *list = vt_malloc((m + 1) * sizeof *list);
        if (!list)
            return NULL;
        size_t k = 0;
        for (size_t j = 0; j < m && k < ENG_NBR_KEEP; j++)
            if (labels[j] != item)
                list[1 + k++] = (int32_t)labels[j];
        list[0] = (int32_t)k;
        int32_t *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(&c->nbr[item], &expect, list,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
            got = list;
        } else {
            vt_free(list);
            got = expect;
        }
    }
    *n = (size_t)got[0];
    return got + 1;
}

void eng_catalog_put(struct eng_catalog *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        catalog_free(c);
}

static void behaviour_free(struct eng_behaviour *b)
{
    if (!b)
        return;
    vt_idmap_free(b->users);
    vt_idmap_free(b->items);
    vt_interactions_free(b->ix);
    vt_pop_free(b->pop);
    vt_pop_free(b->trending);
    vt_itemknn_free(b->knn);
    vt_ials_free(b->ials);
    vt_index_free(b->als_ann);
    vt_free(b->ar_rate);
    vt_free(b->pop_feat);
    vt_free(b->trend_feat);
    vt_free(b);
}

void eng_behaviour_put(struct eng_behaviour *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        behaviour_free(b);
}

void eng_snapshot_put(struct eng_snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    eng_catalog_put(s->cat);
    eng_behaviour_put(s->beh);
    vt_free(s->beh_of);
    vt_free(s->cat_of);
    vt_free(s);
}

/* ---- the catalog part -------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Titles and visibility of one item, pointing into its record. */
static void item_derive(struct eng_item *it)
{
    const json_t *t = it->rec.title;
    const char *en = json_string_value(json_object_get(t, "en"));
    const char *zh = json_string_value(json_object_get(t, "zh"));
    it->title_en = en;
    it->title_zh = zh && (!en || strcmp(zh, en) != 0) ? zh : NULL;
    it->title = en ? en : zh;
    if (!it->title) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)t, key, v) {
            if (json_is_string(v)) {
                it->title = json_string_value(v);
                break;
            }
        }
    }
    if (!it->title)
        it->title = it->rec.id;
    it->visible = !it->rec.hidden && (it->rec.stock < 0 || it->rec.stock > 0);
    it->cat = -1;
}

static int catalog_items(struct vt_engine *e, struct eng_catalog *c, struct vt_error *err)
{
    size_t cap = 0;
    char *after = NULL;
    int rc = 0;
    for (;;) {
        struct vt_item_query q = {.after_id = after, .limit = ITEMS_PAGE, .include_hidden = 1};
        struct vt_item *page = NULL;
        size_t n = 0;
        int more = 0;
        rc = vt_store_items_list(e->store, &q, &page, &n, &more);
        if (rc) {
            vt_error_set(err, rc, NULL, "listing items for the catalog: %s", vt_strerror(rc));
            break;
        }
        if ((size_t)c->nitems + n > (size_t)VT_REC_MAX_INDEX) {
            vt_items_free(page, n);
            rc = vt_error_set(err, VT_ETOOBIG, NULL, "the catalog has too many items");
            break;
        }
        if ((size_t)c->nitems + n > cap) {
            size_t ncap = cap ? cap * 2 : 256;
            while (ncap < (size_t)c->nitems + n)
                ncap *= 2;
            struct eng_item *grown = vt_realloc(c->items, ncap * sizeof *grown);
            if (!grown) {
                vt_items_free(page, n);
                rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory reading items");
                break;
            }
            c->items = grown;
            cap = ncap;
        }
        /* The records move into the catalog; only the page array is freed. */
        for (size_t k = 0; k < n; k++) {
            struct eng_item *it = &c->items[c->nitems];
            memset(it, 0, sizeof *it);
            it->rec = page[k];
            c->nitems++;
            item_derive(it);
        }
        vt_free(page);
        vt_free(after);
        after = NULL;
        if (!more || n == 0)
            break;
        after = vt_strdup(c->items[c->nitems - 1].rec.id);
        if (!after) {
            rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory reading items");
            break;
        }
    }
    vt_free(after);
    if (rc)
        return rc;
    for (int32_t i = 0; i < c->nitems; i++) {
        int32_t idx;
        rc = vt_idmap_put(c->ids, c->items[i].rec.id, &idx, NULL);
        if (rc)
            return vt_error_set(err, rc, NULL, "indexing item ids: %s", vt_strerror(rc));
    }
    return 0;
}

static int catalog_categories(struct eng_catalog *c, struct vt_error *err)
{
    size_t n = 0;
    char **all = vt_malloc(((size_t)c->nitems + 1) * sizeof *all);
    if (!all)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory listing categories");
    for (int32_t i = 0; i < c->nitems; i++)
        if (c->items[i].rec.category && *c->items[i].rec.category)
            all[n++] = c->items[i].rec.category;
    qsort(all, n, sizeof *all, cmp_str);
    size_t distinct = 0;
    for (size_t k = 0; k < n; k++)
        if (k == 0 || strcmp(all[k], all[k - 1]) != 0)
            all[distinct++] = all[k];
    c->cats = vt_calloc(distinct ? distinct : 1, sizeof *c->cats);
    c->cat_items = vt_calloc(distinct ? distinct : 1, sizeof *c->cat_items);
    if (!c->cats || !c->cat_items) {
        vt_free(all);
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory listing categories");
    }
    for (size_t k = 0; k < distinct; k++) {
        c->cats[k] = vt_strdup(all[k]);
        if (!c->cats[k]) {
            vt_free(all);
            return vt_error_set(err, VT_ENOMEM, NULL, "out of memory listing categories");
        }
        c->ncats = (int32_t)(k + 1);
    }
    vt_free(all);
    for (int32_t i = 0; i < c->nitems; i++) {
        const char *cat = c->items[i].rec.category;
        if (!cat || !*cat)
            continue;
        char **hit = bsearch(&cat, c->cats, (size_t)c->ncats, sizeof *c->cats, cmp_str);
        if (hit) {
            c->items[i].cat = (int32_t)(hit - c->cats);
            if (c->items[i].visible)
                c->cat_items[c->items[i].cat]++;
        }
    }
    return 0;
}

/* The serving model's id and dimension; 0 with dim 0 when there is no
 * model or it does not load (search is then lexical only). */
static void serving_model(struct vt_engine *e, struct eng_catalog *c)
{
    c->dim = 0;
    c->model_id[0] = 0;
    if (!e->te)
        return;
    struct vt_encoder_info info;
    struct vt_error err;
    vt_error_clear(&err);
    if (vt_textenc_info(e->te, &info, &err) != 0) {
        vt_warn("the catalog has no embeddings: the text model does not load",
                "reason=\"%s\"", err.message);
        return;
    }
    if (!info.model_id || !*info.model_id || strlen(info.model_id) > VT_MODEL_ID_MAX ||
        info.dim == 0 || info.dim > VT_EMBED_DIM_MAX)
        return;
    snprintf(c->model_id, sizeof c->model_id, "%s", info.model_id);
    c->dim = (uint32_t)info.dim;
}

static int catalog_embeddings(struct vt_engine *e, struct eng_catalog *c, struct vt_error *err)
{
    serving_model(e, c);
    if (c->dim == 0 || c->nitems == 0)
        return 0;
    size_t cells;
    if (vt_mul_size((size_t)c->nitems, c->dim, &cells) ||
        vt_mul_size(cells, sizeof(float), &cells))
        return vt_error_set(err, VT_ETOOBIG, NULL, "the catalog's embeddings are too large");
    c->emb = vt_calloc(1, cells);
    c->has_emb = vt_calloc((size_t)c->nitems, 1);
    uint32_t *nvec = vt_calloc((size_t)c->nitems, sizeof *nvec);
    if (!c->emb || !c->has_emb || !nvec) {
        vt_free(nvec);
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory for the catalog's embeddings");
    }
    char after_item[VT_ID_MAX + 1] = "", after_lang[VT_LANG_MAX + 1] = "";
    int rc = 0;
    size_t mismatched = 0;
    for (;;) {
        struct vt_embedding *page = NULL;
        size_t n = 0;
        int more = 0;
        rc = vt_store_embeddings_scan(e->store, c->model_id, after_item, after_lang, EMB_PAGE,
                                      &page, &n, &more);
        if (rc) {
            vt_error_set(err, rc, NULL, "reading embeddings: %s", vt_strerror(rc));
            break;
        }
        for (size_t k = 0; k < n; k++) {
            int32_t i = vt_idmap_get(c->ids, page[k].item_id);
            if (i < 0)
                continue; /* deleted since the item page was read */
            if (page[k].dim != c->dim || !page[k].vector) {
                mismatched++;
                continue;
            }
            float *row = c->emb + (size_t)i * c->dim;
            for (uint32_t d = 0; d < c->dim; d++)
                row[d] += page[k].vector[d];
            nvec[i]++;
        }
        if (n > 0) {
            snprintf(after_item, sizeof after_item, "%s", page[n - 1].item_id);
            snprintf(after_lang, sizeof after_lang, "%s", page[n - 1].lang);
        }
        vt_embeddings_free(page, n);
        if (!more || n == 0)
            break;
    }
    if (mismatched)
        vt_warn("embeddings of the wrong dimension were skipped", "model=\"%s\" count=%zu",
                c->model_id, mismatched);
    /* The mean of the languages, normalised: the mean's direction is what
     * the cosine reads, so dividing by the count first changes nothing. */
    for (int32_t i = 0; rc == 0 && i < c->nitems; i++) {
        if (!nvec[i])
            continue;
        float *row = c->emb + (size_t)i * c->dim;
        double ss = 0;
        for (uint32_t d = 0; d < c->dim; d++)
            ss += (double)row[d] * row[d];
        if (!(ss > 1e-24) || !isfinite(ss)) {
            memset(row, 0, c->dim * sizeof *row);
            continue;
        }
        float inv = (float)(1.0 / sqrt(ss));
        for (uint32_t d = 0; d < c->dim; d++)
            row[d] *= inv;
        c->has_emb[i] = 1;
    }
    vt_free(nvec);
    return rc;
}

/* Sentence encoders put unrelated texts well above cosine 0 (USE-Lite:
 * about 0.3-0.5 between pieces of furniture), so "how close" only means
 * something above what two random items score. The mean over up to
 * FLOOR_PAIRS random pairs (a fixed generator: the same catalog gives the
 * same floor) is that level. */
#define FLOOR_PAIRS 20000
static void catalog_cos_floor(struct eng_catalog *c)
{
    c->cos_floor = 0;
    if (c->dim == 0)
        return;
    int32_t *with = vt_malloc((size_t)c->nitems * sizeof *with);
    if (!with)
        return;
    int32_t n = 0;
    for (int32_t i = 0; i < c->nitems; i++)
        if (c->has_emb[i])
            with[n++] = i;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    double sum = 0;
    int64_t pairs = 0;
    int64_t want = (int64_t)n * (n - 1) / 2 < FLOOR_PAIRS ? (int64_t)n * (n - 1) / 2 : FLOOR_PAIRS;
    for (int64_t k = 0; n > 1 && k < want * 2 && pairs < want; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int32_t a = with[(x >> 11) % (uint64_t)n];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int32_t b = with[(x >> 11) % (uint64_t)n];
        if (a == b)
            continue;
        const float *va = c->emb + (size_t)a * c->dim, *vb = c->emb + (size_t)b * c->dim;
        double d = 0;
        for (uint32_t j = 0; j < c->dim; j++)
            d += (double)va[j] * vb[j];
        sum += d;
        pairs++;
    }
    vt_free(with);
    if (pairs > 0) {
        double m = sum / (double)pairs;
        c->cos_floor = (float)(m > 0 && m < 0.95 ? m : 0);
    }
}

static int catalog_ann(struct eng_catalog *c, struct vt_error *err)
{
    if (c->dim == 0)
        return 0;
    int32_t with = 0;
    for (int32_t i = 0; i < c->nitems; i++)
        with += c->has_emb[i];
    if (with == 0)
        return 0;
    int rc;
    if (with < HNSW_FROM) {
        rc = vt_index_flat_new(c->dim, VT_INDEX_COSINE, &c->ann);
    } else {
        struct vt_hnsw_params p;
        vt_hnsw_params_init(&p);
        p.capacity = (uint64_t)with;
        rc = vt_index_hnsw_new(c->dim, VT_INDEX_COSINE, &p, &c->ann);
    }
    if (rc)
        return vt_error_set(err, rc, NULL, "creating the vector index: %s", vt_strerror(rc));
    for (int32_t i = 0; i < c->nitems; i++) {
        if (!c->has_emb[i])
            continue;
        rc = vt_index_add(c->ann, i, c->emb + (size_t)i * c->dim);
        if (rc)
            return vt_error_set(err, rc, NULL, "indexing the embedding of %s: %s",
                                c->items[i].rec.id, vt_strerror(rc));
    }
    return 0;
}

static int catalog_nbr_memo(struct eng_catalog *c, struct vt_error *err)
{
    c->summary = vt_calloc((size_t)c->nitems ? (size_t)c->nitems : 1, sizeof *c->summary);
    if (!c->summary)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory for the summary memo");
    if (!c->ann)
        return 0;
    c->nbr = vt_calloc((size_t)c->nitems ? (size_t)c->nitems : 1, sizeof *c->nbr);
    if (!c->nbr)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory for the neighbour memo");
    return 0;
}

int eng_catalog_build(struct vt_engine *e, struct eng_catalog **out, struct vt_error *err)
{
    int64_t t0 = vt_time_mono_ns();
    *out = NULL;
    struct eng_catalog *c = vt_calloc(1, sizeof *c);
    if (!c)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory for the catalog");
    atomic_init(&c->refs, 1);
    int rc = vt_idmap_new(&c->ids);
    if (rc) {
        vt_error_set(err, rc, NULL, "out of memory for the catalog");
        goto out;
    }
    if ((rc = catalog_items(e, c, err)) || (rc = catalog_categories(c, err)) ||
        (rc = catalog_embeddings(e, c, err)) || (rc = catalog_ann(c, err)) ||
        (rc = catalog_nbr_memo(c, err)) ||
        (catalog_cos_floor(c), 0) ||
        (rc = eng_search_index_build(e, c, err)))
        goto out;
    c->built_ms = vt_time_now_ms();
    c->build_seconds = seconds_since(t0);
    *out = c;
    return 0;
out:
    catalog_free(c);
    return rc;
}

/* ---- the behaviour part ------------------------------------------------------- */

static int is_ar(int type)
{
    return type == VT_EV_AR_SESSION || type == VT_EV_AR_PLACE || type == VT_EV_AR_DWELL ||
           type == VT_EV_TRYON;
}

/* A growable triplet array. */
struct trips {
    struct vt_triplet *t;
    size_t n, cap;
};

static int trips_push(struct trips *a, int32_t u, int32_t i, float w, int64_t ts)
{
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 4096, bytes;
        if (vt_mul_size(ncap, sizeof *a->t, &bytes))
            return VT_ETOOBIG;
        struct vt_triplet *g = vt_realloc(a->t, bytes);
        if (!g)
            return VT_ENOMEM;
        a->t = g;
        a->cap = ncap;
    }
    a->t[a->n++] = (struct vt_triplet){.user = u, .item = i, .w = w, .ts_ms = ts};
    return 0;
}

/* ar_rate[i] = shoppers with an AR event on item i / shoppers interested
 * in it (a positive entry in the matrix, or an AR event): the AR pairs
 * are counted as a matrix of ones, so a shopper counts once. */
static int behaviour_ar_rate(struct eng_behaviour *b, const struct trips *ar)
{
    int32_t nu = vt_idmap_count(b->users), ni = vt_idmap_count(b->items);
    struct vt_interactions *mar = NULL;
    b->ar_rate = vt_calloc(ni ? (size_t)ni : 1, sizeof *b->ar_rate);
    if (!b->ar_rate)
        return VT_ENOMEM;
    int rc = vt_interactions_build(nu, ni, ar->t, ar->n, NULL, &mar);
    for (int32_t i = 0; rc == 0 && i < ni; i++) {
        int64_t with_ar = vt_interactions_item_count(mar, i);
        int64_t all = vt_interactions_item_count(b->ix, i);
        if (all < with_ar)
            all = with_ar; /* AR weighed down to nothing by a dismiss */
        b->ar_rate[i] = all > 0 ? (float)with_ar / (float)all : 0.0f;
    }
    vt_interactions_free(mar);
    return rc;
}

/* log(1 + s) / log(1 + s_max), in [0, 1], of a popularity order (0 for
 * items without a score): the pop and trending features of every item. */
static float *pop_feature(const struct vt_pop *p, int32_t ni)
{
    float *f = vt_calloc(ni ? (size_t)ni : 1, sizeof *f);
    if (!f || !p || p->nitems == 0)
        return f;
    double top = p->score[p->order[0]];
    if (!(top > 0))
        return f;
    double inv = 1.0 / log1p(top);
    for (int32_t i = 0; i < ni && i < p->nitems; i++) {
        double x = p->score[i] > 0 ? log1p(p->score[i]) * inv : 0;
        f[i] = (float)(x < 0 ? 0 : x > 1 ? 1 : x);
    }
    return f;
}

/* The CF embedding space gets its own index, as the text one does: a
 * shopper's iALS candidates are the items of largest inner product with
 * their folded-in vector (what iALS scores), found in logarithmic time
 * instead of by scoring the whole catalog. A graph search by inner
 * product misses items (norms differ, so the nearest by angle are not the
 * best), so the items are indexed in the usual reduction of inner product
 * to angle: y becomes (y, sqrt(M^2 - |y|^2)), M the largest norm, every
 * vector then has length M, and the query (x, 0) has the same inner
 * products as before with vectors of equal length: the best by cosine are
 * the best by inner product. An item whose factors are all zero (no
 * entries) is left out. */
static int behaviour_als_ann(struct eng_behaviour *b)
{
    const struct vt_ials *m = b->ials;
    if (!m || m->nitems < ENG_ALS_ANN_FROM)
        return 0;
    size_t f = (size_t)m->factors;
    double max2 = 0;
    for (int32_t i = 0; i < m->nitems; i++) {
        const float *y = m->item_f + (size_t)i * f;
        double n2 = 0;
        for (size_t k = 0; k < f; k++)
            n2 += (double)y[k] * y[k];
        if (n2 > max2)
            max2 = n2;
    }
    if (!(max2 > 0))
        return 0;
    float *v = vt_malloc((f + 1) * sizeof *v);
    if (!v)
        return VT_ENOMEM;
    struct vt_hnsw_params p;
    vt_hnsw_params_init(&p);
    p.capacity = (uint64_t)m->nitems;
    p.ef_search = 256; /* a list of 200 candidates is asked for at once */
    int rc = vt_index_hnsw_new((uint32_t)(f + 1), VT_INDEX_COSINE, &p, &b->als_ann);
    for (int32_t i = 0; rc == 0 && i < m->nitems; i++) {
        const float *y = m->item_f + (size_t)i * f;
        double n2 = 0;
        for (size_t k = 0; k < f; k++)
            n2 += (double)y[k] * y[k];
        if (!(n2 > 0))
            continue;
        memcpy(v, y, f * sizeof *v);
        v[f] = (float)sqrt(max2 - n2 > 0 ? max2 - n2 : 0);
        rc = vt_index_add(b->als_ann, i, v);
    }
    vt_free(v);
    return rc;
}

int eng_als_search(const struct eng_behaviour *b, const float *user, size_t k, int64_t *labels,
                   size_t *n)
{
    *n = 0;
    if (!b->als_ann || !b->ials)
        return VT_EINVAL;
    size_t f = (size_t)b->ials->factors;
    float q[VT_IALS_MAX_FACTORS + 1];
    memcpy(q, user, f * sizeof *q);
    q[f] = 0;
    return vt_index_search(b->als_ann, q, k, NULL, NULL, labels, NULL, n);
}

static int behaviour_models(struct vt_engine *e, struct eng_behaviour *b,
                            struct vt_error *err)
{
    int rc = vt_pop_fit(b->ix, NULL, 0, NULL, &b->pop);
    if (rc)
        return vt_error_set(err, rc, NULL, "popularity: %s", vt_strerror(rc));
    struct vt_pop_options tr = {.half_life_days = TRENDING_HALF_LIFE_DAYS,
                                .now_ms = vt_time_now_ms(),
                                .weighted = 1};
    rc = vt_pop_fit(b->ix, NULL, 0, &tr, &b->trending);
    if (rc)
        return vt_error_set(err, rc, NULL, "trending: %s", vt_strerror(rc));
    struct vt_itemknn_options ko = {.neighbours = KNN_NEIGHBOURS,
                                    .shrink = KNN_SHRINK,
                                    .bm25 = 1,
                                    .progress = e->opt.progress ? "item-item" : NULL};
    rc = vt_itemknn_fit(b->ix, &ko, &b->knn);
    if (rc)
        return vt_error_set(err, rc, NULL, "item-item model: %s", vt_strerror(rc));
    if (b->ix->nnz >= IALS_MIN_ENTRIES) {
        int64_t t0 = vt_time_mono_ns();
        struct vt_ials_options io = {.factors = e->params.ials_factors,
                                     .lambda = IALS_LAMBDA,
                                     .alpha = IALS_ALPHA,
                                     .iterations = e->params.ials_iterations,
                                     .seed = IALS_SEED,
                                     .progress = e->opt.progress ? "iALS" : NULL};
        rc = vt_ials_fit(b->ix, &io, &b->ials);
        if (rc)
            return vt_error_set(err, rc, NULL, "iALS: %s", vt_strerror(rc));
        b->ials_seconds = seconds_since(t0);
        if ((rc = behaviour_als_ann(b)))
            return vt_error_set(err, rc, NULL, "the index of iALS item factors: %s",
                                vt_strerror(rc));
    }
    return 0;
}

int eng_behaviour_build(struct vt_engine *e, struct eng_behaviour **out, struct vt_error *err)
{
    int64_t t0 = vt_time_mono_ns();
    struct trips w = {0}, ar = {0};
    *out = NULL;
    struct eng_behaviour *b = vt_calloc(1, sizeof *b);
    if (!b)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory for the behaviour models");
    atomic_init(&b->refs, 1);
    int rc;
    if ((rc = vt_idmap_new(&b->users)) || (rc = vt_idmap_new(&b->items))) {
        vt_error_set(err, rc, NULL, "out of memory for the behaviour models");
        goto out;
    }
    int64_t after = 0;
    for (;;) {
        struct vt_event *evs = NULL;
        size_t n = 0;
        rc = vt_store_events_scan(e->store, after, EVENTS_PAGE, &evs, &n);
        if (rc) {
            vt_error_set(err, rc, NULL, "reading events: %s", vt_strerror(rc));
            goto out;
        }
        for (size_t k = 0; k < n && rc == 0; k++) {
            const struct vt_event *ev = &evs[k];
            int32_t u, i;
            b->nevents++;
            if (ev->id > b->last_event_id)
                b->last_event_id = ev->id;
            if (!ev->item_id || !ev->user_id)
                continue;
            if ((rc = vt_idmap_put(b->users, ev->user_id, &u, NULL)) ||
                (rc = vt_idmap_put(b->items, ev->item_id, &i, NULL)))
                break;
            double wt = vt_event_weight(&e->params.weights, ev->type, ev->value);
            if (wt != 0 && isfinite(wt))
                rc = trips_push(&w, u, i, (float)wt, ev->ts_ms);
            if (rc == 0 && is_ar(ev->type))
                rc = trips_push(&ar, u, i, 1.0f, ev->ts_ms);
        }
        if (n > 0)
            after = evs[n - 1].id;
        vt_events_free(evs, n);
        if (rc) {
            vt_error_set(err, rc, NULL, "gathering events: %s", vt_strerror(rc));
            goto out;
        }
        if (n < EVENTS_PAGE)
            break;
    }
    rc = vt_interactions_build(vt_idmap_count(b->users), vt_idmap_count(b->items), w.t, w.n,
                               NULL, &b->ix);
    if (rc) {
        vt_error_set(err, rc, NULL, "interaction matrix: %s", vt_strerror(rc));
        goto out;
    }
    vt_free(w.t);
    w.t = NULL;
    rc = behaviour_ar_rate(b, &ar);
    if (rc) {
        vt_error_set(err, rc, NULL, "AR rates: %s", vt_strerror(rc));
        goto out;
    }
    vt_free(ar.t);
    ar.t = NULL;
    rc = behaviour_models(e, b, err);
    if (rc)
        goto out;
    b->pop_feat = pop_feature(b->pop, vt_idmap_count(b->items));
    b->trend_feat = pop_feature(b->trending, vt_idmap_count(b->items));
    if (!b->pop_feat || !b->trend_feat) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory for the popularity features");
        goto out;
    }
    b->built_ms = vt_time_now_ms();
    b->build_seconds = seconds_since(t0);
    *out = b;
    return 0;
out:
    vt_free(ar.t), vt_free(w.t);
    behaviour_free(b);
    return rc;
}

/* ---- the pair ---------------------------------------------------------------- */

int eng_snapshot_new(struct eng_catalog *c, struct eng_behaviour *b, uint64_t version,
                     struct eng_snapshot **out)
{
    *out = NULL;
    int32_t nb = vt_idmap_count(b->items);
    struct eng_snapshot *s = vt_calloc(1, sizeof *s);
    if (!s)
        return VT_ENOMEM;
    s->beh_of = vt_malloc((c->nitems ? (size_t)c->nitems : 1) * sizeof *s->beh_of);
    s->cat_of = vt_malloc((nb ? (size_t)nb : 1) * sizeof *s->cat_of);
    if (!s->beh_of || !s->cat_of) {
        vt_free(s->beh_of);
        vt_free(s->cat_of);
        vt_free(s);
        return VT_ENOMEM;
    }
    for (int32_t i = 0; i < c->nitems; i++)
        s->beh_of[i] = vt_idmap_get(b->items, c->items[i].rec.id);
    for (int32_t j = 0; j < nb; j++)
        s->cat_of[j] = vt_idmap_get(c->ids, vt_idmap_id(b->items, j));
    atomic_init(&s->refs, 1);
    s->cat = c;
    s->beh = b;
    s->version = version;
    *out = s;
    return 0;
}
