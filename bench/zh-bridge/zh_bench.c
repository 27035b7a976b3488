/*
 * zh_bench.c - how well Chinese text finds the catalog on an English-only
 * sentence encoder, with and without the Chinese → English bridge.
 *
 * Built and run by bench/zh-bridge/run against libvitrine.a. Reads a
 * catalog from a store, and measures two things for several ways of
 * preparing the text (the variants below):
 *
 *   names    for every item, hidden or not, whose Chinese title is a real
 *            translation (it has Han characters and differs from the English
 *            one), embed the Chinese title and rank every distinct English
 *            title of the catalog by cosine. A hit is the item's own English title (equal
 *            strings are one entry, so an identical title of another item
 *            counts too). Ties count against the item.
 *   queries  for every line {"id", "query", "relevant": [item ids]} of the
 *            queries file, embed the query and rank every item the shop
 *            shows (hidden ones, such as the demo's scale figures, are left
 *            out) by its best cosine over its texts (one per title language,
 *            nn/item_embed.h: title, description, category, tags). A hit at
 *            k is a relevant item among the first k; ties count against.
 *
 * Variants, applied alike to the Chinese side and to the catalog side:
 *
 *   raw                 the model reads the text as given (vitrine embed
 *                       --no-bridge)
 *   bridge_no_glossary_asis
 *                       as bridge_asis, with the built-in shopping glossary
 *                       switched off (vt_bridge_opts.no_glossary): CC-CEDICT
 *                       alone
 *   bridge_no_glossary  as bridge, with the glossary switched off
 *   bridge_asis         as bridge, but the English written as the tables
 *                       write it, mostly lower case (VT_BRIDGE_CASE_ASIS)
 *   bridge              the product's pipeline (vitrine embed): sentence
 *                       case (VT_BRIDGE_CASE_SENTENCE)
 *   bridge_casefold     as bridge_asis, but cleaned with case folding too,
 *                       so "Coffee table" and the bridge's "coffee table"
 *                       read the same pieces
 *
 * Two checks keep the numbers honest: every text the bridge variant
 * prepares must equal what the product's pipeline prepares
 * (vt_textenc_prepare), and its item vectors are compared with the ones
 * the store holds for the model (written at import). Both results go into
 * the report.
 *
 * Prints a table on stdout and writes a JSON report (--out).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/util.h"
#include "nn/item_embed.h"
#include "store/store.h"
#include "text/cedict.h"
#include "text/glossary.h"
#include "text/jieba.h"
#include "text/normalize.h"
#include "text/pipeline.h"

#define BATCH 64        /* texts per encoder call */
#define TOP 5           /* names and items listed per failure */

struct variant {
    const char *name;
    const char *label;
    int bridged;                 /* 0: the raw model */
    struct vt_bridge_opts opts;  /* the bridge's options */
    unsigned clean;              /* vt_text_clean flags */
};

static const struct variant variants[] = {
    {"raw", "raw model (--no-bridge)", 0, {0}, 0},
    {"bridge_no_glossary_asis", "CC-CEDICT only, case as is", 1,
     {.no_glossary = 1, .letter_case = VT_BRIDGE_CASE_ASIS}, VT_TEXT_FOLD_PUNCT},
    {"bridge_no_glossary", "CC-CEDICT only", 1,
     {.no_glossary = 1, .letter_case = VT_BRIDGE_CASE_SENTENCE}, VT_TEXT_FOLD_PUNCT},
    {"bridge_asis", "bridge, case as is", 1, {.letter_case = VT_BRIDGE_CASE_ASIS},
     VT_TEXT_FOLD_PUNCT},
    {"bridge", "bridge (default)", 1, {.letter_case = VT_BRIDGE_CASE_SENTENCE},
     VT_TEXT_FOLD_PUNCT},
    {"bridge_casefold", "bridge, case-folded", 1, {.letter_case = VT_BRIDGE_CASE_ASIS},
     VT_TEXT_CLEAN_DEFAULT},
};
#define NVARIANTS (sizeof variants / sizeof variants[0])
#define PRODUCT_VARIANT 4 /* the one that must match the product */

struct ctx {
    struct vt_textenc *te;
    struct vt_jieba *seg;
    struct vt_cedict *dict;
    struct vt_bridge *bridge[NVARIANTS]; /* NULL for the raw variant */
    size_t dim;
    char model_id[VT_MODEL_ID_MAX + 1];
    size_t product_checked, product_mismatch;
};

static void die(const char *what, const struct vt_error *err, int rc)
{
    fprintf(stderr, "zh_bench: %s: %s\n", what,
            err && err->message[0] ? err->message : vt_strerror(rc));
    exit(1);
}

static void *xmalloc(size_t count, size_t size)
{
    void *p = vt_calloc(count ? count : 1, size);
    if (!p) {
        fprintf(stderr, "zh_bench: out of memory\n");
        exit(1);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = vt_strdup(s);
    if (!p) {
        fprintf(stderr, "zh_bench: out of memory\n");
        exit(1);
    }
    return p;
}

static void usage(void)
{
    fprintf(stderr, "usage: zh_bench --db PATH --model DIR --text-dir DIR --queries FILE\n"
                    "                --out FILE [--threads N]\n");
    exit(2);
}

/* ---- preparing and embedding ------------------------------------------------- */

/* The text the model reads for text under variant v (vt_free). */
static char *prepare(struct ctx *c, const struct variant *v, const char *text)
{
    struct vt_error err;
    char *clean = NULL, *out = NULL;
    size_t clen = 0;
    int rc;

    vt_error_clear(&err);
    if (!v->bridged)
        return xstrdup(text);
    rc = vt_text_clean(text, strlen(text), v->clean, &clean, &clen, &err);
    if (rc)
        die("clean", &err, rc);
    if (!vt_utf8_has_cjk(clean, clen))
        out = clean;
    else {
        rc = vt_bridge_zh_en(c->bridge[v - variants], clean, clen, &out, NULL, &err);
        vt_free(clean);
        if (rc)
            die("bridge", &err, rc);
    }
    if (v == &variants[PRODUCT_VARIANT]) {
        char *prod = NULL;
        rc = vt_textenc_prepare(c->te, text, strlen(text), NULL, &prod, NULL, NULL, &err);
        if (rc)
            die("prepare", &err, rc);
        c->product_checked++;
        if (strcmp(prod, out) != 0) {
            if (c->product_mismatch++ < 5)
                fprintf(stderr, "zh_bench: \"%s\": product reads \"%s\", bench \"%s\"\n", text,
                        prod, out);
        }
        vt_free(prod);
    }
    return out;
}

/* Prepare and embed n texts: *inputs gets what the model read (n strings),
 * the result n * dim floats, each row of unit length. */
static float *embed(struct ctx *c, const struct variant *v, char *const *texts, size_t n,
                    char ***inputs)
{
    struct vt_error err;
    float *out = xmalloc(n * c->dim, sizeof *out);
    char **in = xmalloc(n, sizeof *in);
    for (size_t i = 0; i < n; i++)
        in[i] = prepare(c, v, texts[i]);
    for (size_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? n - i : BATCH;
        vt_error_clear(&err);
        int rc = vt_textenc_embed_prepared(c->te, (const char *const *)in + i, k,
                                           out + i * c->dim, &err);
        if (rc)
            die("embed", &err, rc);
    }
    for (size_t i = 0; i < n; i++) {
        float *r = out + i * c->dim;
        double s = 0;
        for (size_t d = 0; d < c->dim; d++)
            s += (double)r[d] * r[d];
        if (s > 0) {
            float inv = (float)(1.0 / sqrt(s));
            for (size_t d = 0; d < c->dim; d++)
                r[d] *= inv;
        }
    }
    *inputs = in;
    return out;
}

static void free_strings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        vt_free(v[i]);
    vt_free(v);
}

static float dot(const float *a, const float *b, size_t dim)
{
    float s = 0;
    for (size_t d = 0; d < dim; d++)
        s += a[d] * b[d];
    return s;
}

/* ---- the catalog --------------------------------------------------------------- */

struct catalog {
    struct vt_item *items;
    size_t n;
};

static void load_catalog(struct vt_store *s, struct catalog *cat)
{
    char after[VT_ID_MAX + 1] = "";
    size_t cap = 0;
    int more = 1;
    cat->items = NULL;
    cat->n = 0;
    while (more) {
        struct vt_item_query q = {
            .after_id = after[0] ? after : NULL, .limit = 1000, .include_hidden = 1};
        struct vt_item *page = NULL;
        size_t n = 0;
        int rc = vt_store_items_list(s, &q, &page, &n, &more);
        if (rc)
            die("listing items", NULL, rc);
        if (cat->n + n > cap) {
            cap = (cat->n + n) * 2;
            struct vt_item *grown = vt_realloc(cat->items, cap * sizeof *grown);
            if (!grown)
                die("listing items", NULL, VT_ENOMEM);
            cat->items = grown;
        }
        /* Move the records; the page array itself is freed empty. */
        memcpy(cat->items + cat->n, page, n * sizeof *page);
        cat->n += n;
        vt_free(page);
        if (n)
            snprintf(after, sizeof after, "%s", cat->items[cat->n - 1].id);
        else
            more = 0;
    }
}

static const char *title(const struct vt_item *it, const char *lang)
{
    const json_t *v = json_object_get(it->title, lang);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- ranking ------------------------------------------------------------------ */

struct rates {
    size_t n, hit1, hit5, hit10;
    double rr; /* sum of reciprocal ranks */
};

static void rates_add(struct rates *r, size_t rank /* 0-based */)
{
    r->n++;
    r->hit1 += rank < 1;
    r->hit5 += rank < 5;
    r->hit10 += rank < 10;
    r->rr += 1.0 / (double)(rank + 1);
}

static double pct(size_t k, size_t n)
{
    return n ? 100.0 * (double)k / (double)n : 0.0;
}

static json_t *rates_json(const struct rates *r)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)r->n, "top1",
                     pct(r->hit1, r->n), "top5", pct(r->hit5, r->n), "top10",
                     pct(r->hit10, r->n), "mrr", r->n ? r->rr / (double)r->n : 0.0);
}

/* Indexes of the `k` best scores, best first (equal scores: lower index first). */
static void best_k(const float *score, size_t n, size_t *out, size_t k)
{
    for (size_t j = 0; j < k; j++)
        out[j] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < k; j++) {
            if (out[j] == SIZE_MAX || score[i] > score[out[j]]) {
                memmove(out + j + 1, out + j, (k - j - 1) * sizeof *out);
                out[j] = i;
                break;
            }
        }
    }
}

/* ---- task 1: Chinese name → English name ------------------------------------------ */

struct names {
    char **en;       /* distinct English titles, sorted */
    size_t n_en;
    char **zh;       /* the Chinese titles probed */
    size_t *target;  /* index in en of each probe's English title */
    const char **id; /* each probe's item id */
    int *first;      /* 1 for the first probe of each distinct (Chinese, English) pair */
    size_t n_zh, n_pairs;
};

static size_t find_name(const struct names *nm, const char *s)
{
    char *const *hit = bsearch(&s, nm->en, nm->n_en, sizeof *nm->en, cmp_str);
    return hit ? (size_t)(hit - nm->en) : SIZE_MAX;
}

static void names_init(const struct catalog *cat, struct names *nm)
{
    memset(nm, 0, sizeof *nm);
    nm->en = xmalloc(cat->n, sizeof *nm->en);
    nm->zh = xmalloc(cat->n, sizeof *nm->zh);
    nm->target = xmalloc(cat->n, sizeof *nm->target);
    nm->id = xmalloc(cat->n, sizeof *nm->id);
    nm->first = xmalloc(cat->n, sizeof *nm->first);
    for (size_t i = 0; i < cat->n; i++) {
        const char *en = title(&cat->items[i], "en");
        if (en && en[0])
            nm->en[nm->n_en++] = xstrdup(en);
    }
    qsort(nm->en, nm->n_en, sizeof *nm->en, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < nm->n_en; i++) {
        if (k && strcmp(nm->en[k - 1], nm->en[i]) == 0)
            vt_free(nm->en[i]);
        else
            nm->en[k++] = nm->en[i];
    }
    nm->n_en = k;
    for (size_t i = 0; i < cat->n; i++) {
        const char *en = title(&cat->items[i], "en"), *zh = title(&cat->items[i], "zh");
        if (!en || !en[0] || !zh || !vt_utf8_has_cjk(zh, strlen(zh)) || strcmp(en, zh) == 0)
            continue;
        nm->zh[nm->n_zh] = xstrdup(zh);
        nm->target[nm->n_zh] = find_name(nm, en);
        nm->id[nm->n_zh] = cat->items[i].id;
        nm->first[nm->n_zh] = 1;
        for (size_t p = 0; p < nm->n_zh && nm->first[nm->n_zh]; p++)
            if (nm->target[p] == nm->target[nm->n_zh] && strcmp(nm->zh[p], zh) == 0)
                nm->first[nm->n_zh] = 0;
        nm->n_pairs += nm->first[nm->n_zh];
        nm->n_zh++;
    }
}

static json_t *run_names(struct ctx *c, const struct variant *v, const struct names *nm,
                         struct rates *r, struct rates *pairs)
{
    char **in_en = NULL, **in_zh = NULL;
    float *e_en = embed(c, v, nm->en, nm->n_en, &in_en);
    float *e_zh = embed(c, v, nm->zh, nm->n_zh, &in_zh);
    float *score = xmalloc(nm->n_en, sizeof *score);
    json_t *fails = json_array();
    memset(r, 0, sizeof *r);
    memset(pairs, 0, sizeof *pairs);
    for (size_t i = 0; i < nm->n_zh; i++) {
        const float *q = e_zh + i * c->dim;
        for (size_t j = 0; j < nm->n_en; j++)
            score[j] = dot(q, e_en + j * c->dim, c->dim);
        float t = score[nm->target[i]];
        size_t rank = 0;
        for (size_t j = 0; j < nm->n_en; j++)
            rank += j != nm->target[i] && score[j] >= t;
        rates_add(r, rank);
        if (nm->first[i])
            rates_add(pairs, rank);
        if (rank >= 5) {
            size_t top[TOP];
            json_t *best = json_array();
            best_k(score, nm->n_en, top, TOP);
            for (size_t j = 0; j < TOP; j++)
                json_array_append_new(best, json_string(nm->en[top[j]]));
            json_array_append_new(
                fails, json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "id", nm->id[i], "zh",
                                 nm->zh[i], "reads", in_zh[i], "en", nm->en[nm->target[i]],
                                 "rank", (json_int_t)(rank + 1), "top5", best));
        }
    }
    vt_free(score);
    vt_free(e_en);
    vt_free(e_zh);
    free_strings(in_en, nm->n_en);
    free_strings(in_zh, nm->n_zh);
    return fails;
}

/* ---- task 2: Chinese queries → catalog items ---------------------------------------- */

struct query {
    char *id, *text;
    size_t *rel; /* item indexes */
    size_t n_rel;
};

static size_t find_item(const struct catalog *cat, const char *id)
{
    for (size_t i = 0; i < cat->n; i++)
        if (strcmp(cat->items[i].id, id) == 0)
            return i;
    return SIZE_MAX;
}

static struct query *load_queries(const char *path, const struct catalog *cat, size_t *count)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t lcap = 0, n = 0, cap = 0, lineno = 0;
    struct query *q = NULL;
    if (!f) {
        perror(path);
        exit(1);
    }
    while (getline(&line, &lcap, f) >= 0) {
        json_error_t je;
        json_t *j, *rel;
        const char *id, *text;
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        j = json_loads(line, 0, &je);
        if (!j || json_unpack(j, "{s:s, s:s, s:o}", "id", &id, "query", &text, "relevant",
                              &rel) ||
            !json_is_array(rel) || json_array_size(rel) == 0) {
            fprintf(stderr, "%s:%zu: expected {\"id\", \"query\", \"relevant\": [ids]}\n", path,
                    lineno);
            exit(1);
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct query *grown = vt_realloc(q, cap * sizeof *grown);
            if (!grown)
                die("queries", NULL, VT_ENOMEM);
            q = grown;
        }
        q[n].id = xstrdup(id);
        q[n].text = xstrdup(text);
        q[n].n_rel = json_array_size(rel);
        q[n].rel = xmalloc(q[n].n_rel, sizeof *q[n].rel);
        for (size_t k = 0; k < q[n].n_rel; k++) {
            const char *rid = json_string_value(json_array_get(rel, k));
            q[n].rel[k] = rid ? find_item(cat, rid) : SIZE_MAX;
            if (q[n].rel[k] == SIZE_MAX || cat->items[q[n].rel[k]].hidden) {
                fprintf(stderr, "%s:%zu: no item \"%s\" in the shop\n", path, lineno,
                        rid ? rid : "(not a string)");
                exit(1);
            }
        }
        n++;
        json_decref(j);
    }
    free(line); /* getline's buffer comes from the C library */
    fclose(f);
    *count = n;
    return q;
}

/* Every text of every item: text k belongs to item owner[k]. */
struct item_texts {
    char **text;
    char (*lang)[VT_LANG_MAX + 1];
    size_t *owner;
    size_t n;
};

static void item_texts_init(const struct catalog *cat, struct item_texts *t)
{
    size_t cap = 2 * cat->n + 1;
    memset(t, 0, sizeof *t);
    t->text = xmalloc(cap, sizeof *t->text);
    t->lang = xmalloc(cap, sizeof *t->lang);
    t->owner = xmalloc(cap, sizeof *t->owner);
    for (size_t i = 0; i < cat->n; i++) {
        struct vt_item_text *v = NULL;
        size_t k = 0;
        if (vt_item_texts(&cat->items[i], &v, &k))
            die("item texts", NULL, VT_ENOMEM);
        for (size_t j = 0; j < k; j++) {
            if (t->n == cap) {
                fprintf(stderr, "zh_bench: an item has more than two title languages\n");
                exit(1);
            }
            t->text[t->n] = xstrdup(v[j].text);
            memcpy(t->lang[t->n], v[j].lang, sizeof t->lang[t->n]);
            t->owner[t->n++] = i;
        }
        vt_item_texts_free(v, k);
    }
}

/* Compare the bridge variant's item vectors with the stored ones. */
static json_t *check_stored(struct ctx *c, struct vt_store *s, const struct catalog *cat,
                            const struct item_texts *t, const float *vec)
{
    size_t compared = 0, missing = 0;
    double worst = 1.0;
    for (size_t k = 0; k < t->n; k++) {
        struct vt_embedding *e = NULL;
        size_t n = 0, found = 0;
        if (vt_store_item_embeddings(s, cat->items[t->owner[k]].id, &e, &n))
            die("stored embeddings", NULL, VT_EDB);
        for (size_t j = 0; j < n; j++) {
            if (strcmp(e[j].model_id, c->model_id) || strcmp(e[j].lang, t->lang[k]) ||
                e[j].dim != c->dim)
                continue;
            double d = 0, na = 0;
            for (size_t x = 0; x < c->dim; x++) {
                d += (double)e[j].vector[x] * vec[k * c->dim + x];
                na += (double)e[j].vector[x] * e[j].vector[x];
            }
            d = na > 0 ? d / sqrt(na) : 0;
            if (d < worst)
                worst = d;
            found = 1;
        }
        compared += found;
        missing += !found;
        vt_embeddings_free(e, n);
    }
    return json_pack("{s:I, s:I, s:f}", "compared", (json_int_t)compared, "missing",
                     (json_int_t)missing, "min_cosine", compared ? worst : 0.0);
}

static json_t *run_queries(struct ctx *c, const struct variant *v, const struct catalog *cat,
                           const struct item_texts *t, const struct query *q, size_t nq,
                           struct rates *r, struct vt_store *s, json_t **stored)
{
    char **in_items = NULL, **in_q = NULL, **texts = xmalloc(nq, sizeof *texts);
    for (size_t i = 0; i < nq; i++)
        texts[i] = q[i].text;
    float *e_items = embed(c, v, t->text, t->n, &in_items);
    float *e_q = embed(c, v, texts, nq, &in_q);
    float *score = xmalloc(cat->n, sizeof *score);
    json_t *per = json_array();
    memset(r, 0, sizeof *r);
    if (stored)
        *stored = check_stored(c, s, cat, t, e_items);
    for (size_t i = 0; i < nq; i++) {
        for (size_t j = 0; j < cat->n; j++)
            score[j] = -3.0f;
        for (size_t k = 0; k < t->n; k++) {
            float d = dot(e_q + i * c->dim, e_items + k * c->dim, c->dim);
            if (d > score[t->owner[k]] && !cat->items[t->owner[k]].hidden)
                score[t->owner[k]] = d;
        }
        /* Rank of the best relevant item: items scoring at least as high
         * that are not relevant (ties count against). */
        float best = -2.0f;
        for (size_t k = 0; k < q[i].n_rel; k++)
            if (score[q[i].rel[k]] > best)
                best = score[q[i].rel[k]];
        size_t rank = 0;
        for (size_t j = 0; j < cat->n; j++) {
            int relevant = 0;
            for (size_t k = 0; k < q[i].n_rel && !relevant; k++)
                relevant = q[i].rel[k] == j;
            rank += !relevant && !cat->items[j].hidden && score[j] >= best;
        }
        rates_add(r, rank);
        size_t top[TOP];
        json_t *ids = json_array();
        best_k(score, cat->n, top, TOP);
        for (size_t j = 0; j < TOP; j++)
            json_array_append_new(ids, json_string(cat->items[top[j]].id));
        json_array_append_new(per, json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", q[i].id,
                                             "query", q[i].text, "reads", in_q[i],
                                             "first_relevant_rank", (json_int_t)(rank + 1),
                                             "top5", ids));
    }
    vt_free(score);
    vt_free(e_items);
    vt_free(e_q);
    vt_free(texts);
    free_strings(in_items, t->n);
    free_strings(in_q, nq);
    return per;
}

/* ---- main ------------------------------------------------------------------------ */

static double seconds_since(int64_t t0)
{
    return (double)(vt_time_mono_ns() - t0) / 1e9;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *model = NULL, *text_dir = NULL, *queries = NULL, *out = NULL;
    size_t threads = 2;
    struct ctx c;
    struct vt_error err;
    struct vt_store *s = NULL;
    struct vt_store_options so = {.read_only = 1};
    char path[4096], cache[4096];
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(a, "--db") == 0)
            db = v;
        else if (strcmp(a, "--model") == 0)
            model = v;
        else if (strcmp(a, "--text-dir") == 0)
            text_dir = v;
        else if (strcmp(a, "--queries") == 0)
            queries = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--threads") == 0)
            threads = strtoul(v, NULL, 10);
        else
            usage();
        i++;
    }
    if (!db || !model || !text_dir || !queries || !out || threads == 0)
        usage();
    vt_pool_shared_set_threads(threads);
    int64_t t_start = vt_time_mono_ns();

    memset(&c, 0, sizeof c);
    vt_error_clear(&err);
    struct vt_textenc_config tc = {.model = model, .text_dir = text_dir, .bridge = 1};
    if ((rc = vt_textenc_new(&tc, &c.te)) != 0)
        die("pipeline", NULL, rc);
    struct vt_encoder_info info;
    if ((rc = vt_textenc_info(c.te, &info, &err)) != 0 ||
        (rc = vt_textenc_load_text(c.te, &err)) != 0)
        die("pipeline", &err, rc);
    c.dim = info.dim;
    snprintf(c.model_id, sizeof c.model_id, "%s", info.model_id);
    if (vt_textenc_bridges(c.te, &err) != 1) {
        fprintf(stderr, "zh_bench: the model reads Chinese itself; this bench is for models "
                        "that need the bridge\n");
        return 1;
    }
    snprintf(path, sizeof path, "%s/jieba/dict.txt", text_dir);
    snprintf(cache, sizeof cache, "%s/jieba/dict.bin", text_dir);
    if ((rc = vt_jieba_load(path, cache, &c.seg, &err)) != 0)
        die(path, &err, rc);
    snprintf(path, sizeof path, "%s/cedict/cedict_ts.u8", text_dir);
    snprintf(cache, sizeof cache, "%s/cedict/glosses.tsv", text_dir);
    if ((rc = vt_cedict_load(path, cache, &c.dict, &err)) != 0)
        die(path, &err, rc);
    for (size_t v = 0; v < NVARIANTS; v++)
        if (variants[v].bridged &&
            (rc = vt_bridge_new_opts(c.seg, c.dict, &variants[v].opts, &c.bridge[v])) != 0)
            die("bridge", NULL, rc);
    size_t gloss_n, gloss_lacking = 0;
    const struct vt_gloss_entry *gloss = vt_glossary_zh_en(&gloss_n);
    for (size_t i = 0; i < gloss_n; i++)
        gloss_lacking += !vt_cedict_gloss(c.dict, gloss[i].zh, strlen(gloss[i].zh));

    if ((rc = vt_store_open(db, &so, &s, &err)) != 0)
        die(db, &err, rc);
    struct catalog cat;
    load_catalog(s, &cat);
    struct names nm;
    names_init(&cat, &nm);
    size_t nq = 0;
    struct query *q = load_queries(queries, &cat, &nq);
    struct item_texts it;
    item_texts_init(&cat, &it);
    double load_s = seconds_since(t_start);

    fprintf(stderr,
            "zh_bench: model %s (dim %zu), %zu items, %zu distinct English names, %zu real "
            "Chinese names, %zu queries, %zu item texts; glossary %zu words (%zu not in "
            "CC-CEDICT)\n",
            c.model_id, c.dim, cat.n, nm.n_en, nm.n_zh, nq, it.n, gloss_n, gloss_lacking);

    json_t *report = json_object(), *jnames = json_object(), *jq = json_object();
    struct rates rn[NVARIANTS], rp[NVARIANTS], rq[NVARIANTS];
    double secs[NVARIANTS];
    json_t *stored = NULL;
    for (size_t v = 0; v < NVARIANTS; v++) {
        int64_t t0 = vt_time_mono_ns();
        json_t *fails = run_names(&c, &variants[v], &nm, &rn[v], &rp[v]);
        json_t *per = run_queries(&c, &variants[v], &cat, &it, q, nq, &rq[v], s,
                                  v == PRODUCT_VARIANT ? &stored : NULL);
        secs[v] = seconds_since(t0);
        json_t *a = rates_json(&rn[v]), *b = rates_json(&rq[v]);
        json_object_set_new(a, "distinct_pairs", rates_json(&rp[v]));
        json_object_set_new(a, "failures", fails);
        json_object_set_new(a, "label", json_string(variants[v].label));
        json_object_set_new(b, "queries", per);
        json_object_set_new(b, "label", json_string(variants[v].label));
        json_object_set_new(jnames, variants[v].name, a);
        json_object_set_new(jq, variants[v].name, b);
        fprintf(stderr, "zh_bench: %s done in %.1f s\n", variants[v].name, secs[v]);
    }

    printf("Chinese name -> English name: %zu items with a real Chinese name, ranked against "
           "%zu distinct English names\n",
           nm.n_zh, nm.n_en);
    printf("  %-26s %7s %7s %7s %7s\n", "variant", "top-1", "top-5", "top-10", "MRR");
    for (size_t v = 0; v < NVARIANTS; v++)
        printf("  %-26s %6.1f%% %6.1f%% %6.1f%% %7.3f\n", variants[v].label,
               pct(rn[v].hit1, rn[v].n), pct(rn[v].hit5, rn[v].n), pct(rn[v].hit10, rn[v].n),
               rn[v].n ? rn[v].rr / (double)rn[v].n : 0.0);
    printf("  the same, counting each of the %zu distinct (Chinese, English) pairs once:\n",
           nm.n_pairs);
    for (size_t v = 0; v < NVARIANTS; v++)
        printf("  %-26s %6.1f%% %6.1f%% %6.1f%% %7.3f\n", variants[v].label,
               pct(rp[v].hit1, rp[v].n), pct(rp[v].hit5, rp[v].n), pct(rp[v].hit10, rp[v].n),
               rp[v].n ? rp[v].rr / (double)rp[v].n : 0.0);
    size_t shown = 0;
    for (size_t i = 0; i < cat.n; i++)
        shown += !cat.items[i].hidden;
    printf("\nChinese queries -> catalog items: %zu queries, %zu items the shop shows (best of "
           "each item's texts)\n",
           nq, shown);
    printf("  %-26s %7s %7s %7s %7s\n", "variant", "hit@1", "hit@5", "hit@10", "MRR");
    for (size_t v = 0; v < NVARIANTS; v++)
        printf("  %-26s %6.1f%% %6.1f%% %6.1f%% %7.3f\n", variants[v].label,
               pct(rq[v].hit1, rq[v].n), pct(rq[v].hit5, rq[v].n), pct(rq[v].hit10, rq[v].n),
               rq[v].n ? rq[v].rr / (double)rq[v].n : 0.0);
    printf("\nchecks: %zu texts prepared as the product does (%zu differ); stored item "
           "vectors: %lld compared, min cosine %.6f\n",
           c.product_checked, c.product_mismatch,
           (long long)json_integer_value(json_object_get(stored, "compared")),
           json_real_value(json_object_get(stored, "min_cosine")));
    double total_s = seconds_since(t_start);
    printf("time: %.1f s (loading %.1f s)\n", total_s, load_s);

    json_object_set_new(report, "model_id", json_string(c.model_id));
    json_object_set_new(
        report, "catalog",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "items", (json_int_t)cat.n, "items_shown",
                  (json_int_t)shown, "item_texts",
                  (json_int_t)it.n, "distinct_english_names", (json_int_t)nm.n_en,
                  "real_chinese_names", (json_int_t)nm.n_zh, "distinct_pairs", (json_int_t)nm.n_pairs,
                  "queries", (json_int_t)nq));
    json_object_set_new(report, "glossary",
                        json_pack("{s:I, s:I}", "entries", (json_int_t)gloss_n,
                                  "not_in_cedict", (json_int_t)gloss_lacking));
    json_object_set_new(report, "names", jnames);
    json_object_set_new(report, "queries", jq);
    json_object_set_new(report, "checks",
                        json_pack("{s:I, s:I, s:o}", "prepared_as_product",
                                  (json_int_t)c.product_checked, "prepared_differently",
                                  (json_int_t)c.product_mismatch, "stored_vectors", stored));
    json_t *jt = json_pack("{s:f, s:f}", "total", total_s, "loading", load_s);
    for (size_t v = 0; v < NVARIANTS; v++)
        json_object_set_new(jt, variants[v].name, json_real(secs[v]));
    json_object_set_new(report, "seconds", jt);
    json_object_set_new(report, "threads", json_integer((json_int_t)threads));
    if (json_dump_file(report, out, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "zh_bench: cannot write %s\n", out);
        return 1;
    }
    json_decref(report);

    for (size_t i = 0; i < nq; i++) {
        vt_free(q[i].id);
        vt_free(q[i].text);
        vt_free(q[i].rel);
    }
    vt_free(q);
    free_strings(it.text, it.n);
    vt_free(it.lang);
    vt_free(it.owner);
    free_strings(nm.en, nm.n_en);
    free_strings(nm.zh, nm.n_zh);
    vt_free(nm.target);
    vt_free(nm.id);
    vt_free(nm.first);
    for (size_t i = 0; i < cat.n; i++)
        vt_item_reset(&cat.items[i]);
    vt_free(cat.items);
    vt_store_close(s);
    for (size_t v = 0; v < NVARIANTS; v++)
        vt_bridge_free(c.bridge[v]);
    vt_cedict_free(c.dict);
    vt_jieba_free(c.seg);
    vt_textenc_free(c.te);
    return c.product_mismatch ? 1 : 0;
}
