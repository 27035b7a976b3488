/*
 * spm.c - SentencePiece unigram tokenizer matching USE-Lite's reference
 * tokenizer id for id (rules in spm.h).
 *
 * The pieces live in a character trie: each node has its children as a
 * range of edges sorted by code point (binary search) and the id of the
 * piece ending there, or -1. Matching from position i walks the trie along
 * the text and yields every piece that is a prefix of the text at i, in
 * increasing length.
 *
 * The reference builds a lattice, then for each end position visits the
 * candidate pieces by increasing start. Here the same relaxations run in
 * "push" order: for each start i (ascending), every piece starting at i
 * updates best[end]. For a given end the candidates still arrive by
 * increasing start, and best[i] is final when i is reached (all pieces
 * ending at i start before it), so the order-dependent update rule gives
 * the same result without storing the lattice.
 */
#include "text/spm.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/util.h"

#define SEP 0x2581u              /* U+2581 LOWER ONE EIGHTH BLOCK */
#define NO_NODE UINT32_MAX
#define MAX_SYMBOLS ((size_t)1 << 22) /* normalised code points per text */

struct tnode {
    int32_t piece;               /* id of the piece ending here, or -1 */
    uint32_t first, count;       /* children: edges[first .. first+count) */
};

struct tedge {
    uint32_t cp;
    uint32_t node;
};

struct vt_spm {
    size_t n_pieces;
    char *blob;                  /* pieces, NUL-terminated, back to back */
    uint32_t *piece_at;          /* offset of each piece in blob */
    double *scores;
    uint32_t *len16;             /* piece length in UTF-16 code units (symbols) */
    struct tnode *nodes;
    struct tedge *edges;         /* keyed by UTF-16 code unit */
    size_t n_nodes;
    int splits_at_spaces;
};

void vt_spm_free(struct vt_spm *sp)
{
    if (!sp)
        return;
    vt_free(sp->blob);
    vt_free(sp->piece_at);
    vt_free(sp->scores);
    vt_free(sp->len16);
    vt_free(sp->nodes);
    vt_free(sp->edges);
    vt_free(sp);
}

size_t vt_spm_vocab_size(const struct vt_spm *sp)
{
    return sp->n_pieces;
}

const char *vt_spm_piece(const struct vt_spm *sp, int32_t id)
{
    if (id < 0 || (size_t)id >= sp->n_pieces)
        return NULL;
    return sp->blob + sp->piece_at[id];
}

int vt_spm_splits_at_spaces(const struct vt_spm *sp)
{
    return sp->splits_at_spaces;
}

/* ---- building the trie -------------------------------------------------- */

/* While building, children are singly linked lists. */
struct bnode {
    uint32_t cp;
    int32_t piece;
    uint32_t child, next;
};

struct builder {
    struct bnode *n;
    size_t len, cap;
};

static uint32_t builder_add(struct builder *b, uint32_t cp)
{
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        struct bnode *nn = vt_realloc(b->n, cap * sizeof *nn);
        if (!nn)
            return NO_NODE;
        b->n = nn;
        b->cap = cap;
    }
    b->n[b->len] = (struct bnode){cp, -1, NO_NODE, NO_NODE};
    return (uint32_t)b->len++;
}

/* The reference iterates strings by UTF-16 code unit (its loop over a
 * string indexes it), so its symbols, pieces and lengths are code units: a
 * character beyond U+FFFF is two symbols, its surrogates. */
static int utf16_units(uint32_t cp, uint32_t *out)
{
    if (cp < 0x10000) {
        out[0] = cp;
        return 1;
    }
    cp -= 0x10000;
    out[0] = 0xD800 + (cp >> 10);
    out[1] = 0xDC00 + (cp & 0x3FF);
    return 2;
}

static int builder_insert(struct builder *b, const char *piece, int32_t id)
{
    size_t len = strlen(piece), at = 0;
    uint32_t node = 0;
    if (len == 0)
        return 0; /* the reference inserts nothing for an empty piece */
    while (at < len) {
        uint32_t cp;
        int k = vt_utf8_decode(piece + at, len - at, &cp);
        if (k <= 0)
            return VT_EINVAL;
        at += (size_t)k;
        uint32_t units[2];
        int nu = utf16_units(cp, units);
        for (int u = 0; u < nu; u++) {
            uint32_t c = b->n[node].child;
            while (c != NO_NODE && b->n[c].cp != units[u])
                c = b->n[c].next;
            if (c == NO_NODE) {
                c = builder_add(b, units[u]);
                if (c == NO_NODE)
                    return VT_ENOMEM;
                b->n[c].next = b->n[node].child;
                b->n[node].child = c;
            }
            node = c;
        }
    }
    b->n[node].piece = id; /* a later duplicate wins, as in the reference */
    return 0;
}

static int edge_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct tedge *)a)->cp, y = ((const struct tedge *)b)->cp;
    return (x > y) - (x < y);
}

static int builder_finish(struct builder *b, struct vt_spm *sp)
{
    sp->nodes = vt_calloc(b->len, sizeof *sp->nodes);
    sp->edges = vt_calloc(b->len, sizeof *sp->edges);
    if (!sp->nodes || !sp->edges)
        return VT_ENOMEM;
    uint32_t at = 0;
    for (size_t i = 0; i < b->len; i++) {
        sp->nodes[i].piece = b->n[i].piece;
        sp->nodes[i].first = at;
        for (uint32_t c = b->n[i].child; c != NO_NODE; c = b->n[c].next)
            sp->edges[at++] = (struct tedge){b->n[c].cp, c};
        sp->nodes[i].count = at - sp->nodes[i].first;
        qsort(sp->edges + sp->nodes[i].first, sp->nodes[i].count, sizeof *sp->edges, edge_cmp);
    }
    sp->n_nodes = b->len;
    return 0;
}

static uint32_t trie_child(const struct vt_spm *sp, uint32_t node, uint32_t cp)
{
    const struct tedge *e = sp->edges + sp->nodes[node].first;
    size_t lo = 0, hi = sp->nodes[node].count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sp->nodes[node].count && e[lo].cp == cp ? e[lo].node : NO_NODE;
}

/* ---- loading the vocabulary --------------------------------------------- */

/* vocab.json: [[piece, score], ...]; piece a string, score a number or
 * null (the reference adds null as 0). */
int vt_spm_parse(const char *json, size_t len, const char *label, struct vt_spm **out,
                 struct vt_error *err)
{
    json_error_t jerr;
    json_t *root = NULL;
    struct builder b = {0};
    struct vt_spm *sp = NULL;
    int rc = 0;

    *out = NULL;
    label = label ? label : "vocab.json";
    if (len > VT_SPM_MAX_VOCAB_JSON)
        return vt_error_set(err, VT_ETOOBIG, "", "%s: %zu bytes, over the limit of %zu", label,
                            len, VT_SPM_MAX_VOCAB_JSON);
    root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        rc = vt_error_set(err, VT_EPARSE, "", "%s: bad JSON at line %d, column %d: %s", label,
                          jerr.line, jerr.column, jerr.text);
        if (err) {
            err->offset = jerr.position;
            err->line = jerr.line;
            err->column = jerr.column;
        }
        goto out;
    }
    size_t n = json_array_size(root);
    if (!json_is_array(root) || n == 0 || n > VT_SPM_MAX_PIECES) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: expected an array of 1 to %d [piece, score] "
                          "pairs",
                          label, VT_SPM_MAX_PIECES);
        goto out;
    }
    sp = vt_calloc(1, sizeof *sp);
    if (!sp)
        goto nomem;
    sp->n_pieces = n;
    sp->piece_at = vt_calloc(n, sizeof *sp->piece_at);
    sp->scores = vt_calloc(n, sizeof *sp->scores);
    sp->len16 = vt_calloc(n, sizeof *sp->len16);
    if (!sp->piece_at || !sp->scores || !sp->len16)
        goto nomem;
    size_t blob_len = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *pair = json_array_get(root, i);
        json_t *piece = json_array_get(pair, 0), *score = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(piece) ||
            !(json_is_number(score) || json_is_null(score))) {
            rc = vt_error_set(err, VT_EFORMAT, "", "%s: entry %zu is not a [string, number] pair",
                              label, i);
            if (err)
                err->line = (int)(i + 1);
            goto out;
        }
        size_t plen = json_string_length(piece);
        if (strlen(json_string_value(piece)) != plen) {
            rc = vt_error_set(err, VT_EFORMAT, "", "%s: piece %zu contains a NUL character",
                              label, i);
            goto out;
        }
        sp->scores[i] = json_is_null(score) ? 0.0 : json_number_value(score);
        /* The JSON document is at most VT_SPM_MAX_VOCAB_JSON bytes, so the
         * pieces' total length fits comfortably in 32 bits. */
        sp->piece_at[i] = (uint32_t)blob_len;
        blob_len += plen + 1;
    }
    sp->blob = vt_malloc(blob_len);
    if (!sp->blob || builder_add(&b, 0) == NO_NODE)
        goto nomem;
    sp->splits_at_spaces = 1;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(json_array_get(root, i), 0));
        size_t plen = strlen(s), at = 0;
        memcpy(sp->blob + sp->piece_at[i], s, plen + 1);
        uint32_t u16 = 0;
        while (at < plen) {
            uint32_t cp;
            int k = vt_utf8_decode(s + at, plen - at, &cp);
            if (k <= 0) {
                rc = vt_error_set(err, VT_EFORMAT, "", "%s: piece %zu is not valid UTF-8", label,
                                  i);
                goto out;
            }
            if (cp == SEP && at > 0 && i >= VT_SPM_RESERVED)
                sp->splits_at_spaces = 0;
            at += (size_t)k;
            u16 += cp >= 0x10000 ? 2 : 1;
        }
        sp->len16[i] = u16;
        if (i >= VT_SPM_RESERVED) {
            rc = builder_insert(&b, s, (int32_t)i);
            if (rc == VT_ENOMEM)
                goto nomem;
            if (rc) {
                rc = vt_error_set(err, VT_EFORMAT, "", "%s: piece %zu is not valid UTF-8", label,
                                  i);
                goto out;
            }
        }
    }
    /* The backward pass steps back by the unknown piece's length; an empty
     * one would never move (the reference loops forever). */
    if (sp->len16[0] == 0) {
        rc = vt_error_set(err, VT_EFORMAT, "", "%s: piece 0 (the unknown piece) is empty",
                          label);
        goto out;
    }
    /* A longer unknown piece makes the backward pass jump over a space. */
    if (sp->len16[0] != 1)
        sp->splits_at_spaces = 0;
    if (builder_finish(&b, sp))
        goto nomem;
    *out = sp;
    sp = NULL;
    goto out;
nomem:
    rc = vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", label);
out:
    vt_free(b.n);
    vt_spm_free(sp);
    json_decref(root);
    return rc;
}

int vt_spm_load(const char *path, struct vt_spm **out, struct vt_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vt_error_set(err, VT_EIO, "", "%s: cannot open the vocabulary", path);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return vt_error_set(err, VT_EIO, "", "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > VT_SPM_MAX_VOCAB_JSON) {
        fclose(f);
        return vt_error_set(err, VT_ETOOBIG, "", "%s: %lld bytes, over the limit of %zu", path,
                            (long long)st.st_size, VT_SPM_MAX_VOCAB_JSON);
    }
    size_t n = (size_t)st.st_size;
    char *buf = vt_malloc(n + 1);
    if (!buf) {
        fclose(f);
        return vt_error_set(err, VT_ENOMEM, "", "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    int rc = got == n ? vt_spm_parse(buf, n, path, out, err)
                      : vt_error_set(err, VT_EIO, "", "%s: short read", path);
    vt_free(buf);
    return rc;
}

/* ---- encoding ----------------------------------------------------------- */

void vt_spm_work_init(struct vt_spm_work *w)
{
    memset(w, 0, sizeof *w);
}

void vt_spm_work_reset(struct vt_spm_work *w)
{
    vt_free(w->cps);
    vt_free(w->best);
    vt_free(w->words);
    vt_free(w->ids);
    vt_spm_work_init(w);
}

static int work_reserve(struct vt_spm_work *w, size_t need)
{
    if (need <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap *= 2;
    int32_t *cps = vt_realloc(w->cps, cap * sizeof *cps);
    if (cps)
        w->cps = cps;
    double *best = vt_realloc(w->best, cap * sizeof *best);
    if (best)
        w->best = best;
    int32_t *words = vt_realloc(w->words, cap * sizeof *words);
    if (words)
        w->words = words;
    int32_t *ids = vt_realloc(w->ids, cap * sizeof *ids);
    if (ids)
        w->ids = ids;
    if (!cps || !best || !words || !ids)
        return VT_ENOMEM;
    w->cap = cap;
    return 0;
}

int vt_spm_encode_work(const struct vt_spm *sp, struct vt_spm_work *w, const char *text,
                       size_t len, const int32_t **ids, size_t *n, struct vt_error *err)
{
    const utf8proc_option_t nfkc = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    size_t bad;

    *ids = NULL;
    *n = 0;
    if (len > VT_SPM_MAX_TEXT)
        return vt_error_set(err, VT_ETOOBIG, "text",
                            "text is %zu bytes, over the tokenizer's limit of %zu", len,
                            VT_SPM_MAX_TEXT);
    if (!vt_utf8_valid(text, len, &bad)) {
        int rc = vt_error_set(err, VT_EINVAL, "text",
                              text[bad] ? "text is not valid UTF-8 (byte %zu)"
                                        : "text contains a NUL byte (byte %zu)",
                              bad);
        if (err)
            err->offset = (int64_t)bad;
        return rc;
    }
    if (len == 0) /* the reference adds no U+2581 to an empty text */
        return 0;

    /* NFKC: decompose (compatibility) into cps[1..], then compose. */
    if (work_reserve(w, len + 2))
        return vt_error_set(err, VT_ENOMEM, "", "out of memory tokenizing %zu bytes", len);
    utf8proc_ssize_t r;
    for (;;) {
        r = utf8proc_decompose((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
                               (utf8proc_int32_t *)w->cps + 1, (utf8proc_ssize_t)(w->cap - 2),
                               nfkc);
        if (r < 0)
            return vt_error_set(err, VT_EINVAL, "text", "text cannot be normalised: %s",
                                utf8proc_errmsg(r));
        if ((size_t)r > MAX_SYMBOLS)
            return vt_error_set(err, VT_ETOOBIG, "text",
                                "text grows to %lld characters under NFKC, over the limit of %zu",
                                (long long)r, MAX_SYMBOLS);
        if ((size_t)r <= w->cap - 2)
            break;
        if (work_reserve(w, (size_t)r + 2))
            return vt_error_set(err, VT_ENOMEM, "", "out of memory tokenizing %zu bytes", len);
    }
    r = utf8proc_normalize_utf32((utf8proc_int32_t *)w->cps + 1, r, nfkc);
    if (r < 0)
        return vt_error_set(err, VT_EINVAL, "text", "text cannot be normalised: %s",
                            utf8proc_errmsg(r));

    /* Symbols: U+2581, then the text as UTF-16 code units with every
     * U+0020 replaced by U+2581; astral characters expand in place, from
     * the back. */
    size_t astral = 0;
    for (size_t i = 1; i <= (size_t)r; i++)
        astral += w->cps[i] >= 0x10000;
    size_t m = 1 + (size_t)r + astral;
    if (work_reserve(w, m + 1))
        return vt_error_set(err, VT_ENOMEM, "", "out of memory tokenizing %zu bytes", len);
    int32_t *sym = w->cps;
    for (size_t src = (size_t)r, dst = m - 1; src >= 1; src--) {
        uint32_t units[2];
        int nu = utf16_units((uint32_t)sym[src], units);
        if (nu == 2) {
            sym[dst--] = (int32_t)units[1];
            sym[dst--] = (int32_t)units[0];
        } else {
            sym[dst--] = units[0] == 0x20 ? (int32_t)SEP : (int32_t)units[0];
        }
    }
    sym[0] = (int32_t)SEP;

    /* Viterbi, relaxing best[end] in the reference's order (see top). */
    double *best = w->best;
    int32_t *words = w->words;
    for (size_t i = 0; i <= m; i++) {
        best[i] = 0.0;
        words[i] = 0;
    }
    for (size_t i = 0; i < m; i++) {
        const double base = best[i];
        int matched = 0;
        uint32_t node = 0;
        for (size_t j = i; j < m; j++) {
            node = trie_child(sp, node, (uint32_t)sym[j]);
            if (node == NO_NODE)
                break;
            int32_t pc = sp->nodes[node].piece;
            if (pc < 0)
                continue;
            double score = sp->scores[pc] + base;
            matched = 1;
            if (best[j + 1] == 0.0 || score >= best[j + 1]) {
                best[j + 1] = score;
                words[j + 1] = pc;
            }
        }
        if (!matched) { /* one unknown character, id 0, score 0 */
            double score = 0.0 + base;
            if (best[i + 1] == 0.0 || score >= best[i + 1]) {
                best[i + 1] = score;
                words[i + 1] = 0;
            }
        }
    }

    /* Backward pass from the end, stepping by the chosen piece's UTF-16
     * length; then merge runs of unknown ids and reverse. */
    int32_t *res = w->ids;
    size_t k = 0;
    size_t it = m;
    while (it > 0) {
        int32_t id = words[it];
        res[k++] = id;
        uint32_t step = sp->len16[id];
        it = step >= it ? 0 : it - step;
    }
    size_t j = 0;
    int prev_unk = 0;
    for (size_t i = 0; i < k; i++) {
        int32_t id = res[i];
        if (!(prev_unk && id == 0))
            res[j++] = id;
        prev_unk = id == 0;
    }
    for (size_t a = 0, z = j ? j - 1 : 0; a < z; a++, z--) {
        int32_t t = res[a];
        res[a] = res[z];
        res[z] = t;
    }
    *ids = res;
    *n = j;
    return 0;
}

int vt_spm_encode(const struct vt_spm *sp, const char *text, size_t len, int32_t **ids,
                  size_t *n, struct vt_error *err)
{
    struct vt_spm_work w;
    const int32_t *r;
    vt_spm_work_init(&w);
    *ids = NULL;
    int rc = vt_spm_encode_work(sp, &w, text, len, &r, n, err);
    if (rc == 0 && *n > 0) {
        *ids = vt_malloc(*n * sizeof **ids);
        if (*ids)
            memcpy(*ids, r, *n * sizeof **ids);
        else
            rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
    }
    if (rc)
        *n = 0;
    vt_spm_work_reset(&w);
    return rc;
}
