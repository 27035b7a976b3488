/*
 * unigram_json.c - the tokenizer.json reader of the Unigram tokenizer (see
 * unigram.h for what is supported, unigram_int.h for the building steps).
 *
 * The file is a JSON object; the parts read here are:
 *   model           {"type": "Unigram", "unk_id": n, "vocab": [[piece,
 *                   score], ...], "byte_fallback": false}
 *   added_tokens    [{"id", "content", "lstrip", "rstrip", "single_word",
 *                   "normalized"}, ...] or null
 *   normalizer      {"type": ...} or null; "Sequence" nests "normalizers";
 *                   "Precompiled" holds the character map in base64 as
 *                   "precompiled_charsmap" (its byte layout is in unigram.c)
 *   pre_tokenizer   {"type": ...} or null; "Sequence" nests "pretokenizers"
 *   post_processor  {"type": ...} or null
 * Everything else (truncation, padding, decoder...) is ignored. The whole
 * file is untrusted: every value is type-checked, every count bounded
 * (MAX_PIECES pieces, MAX_STEPS steps, MAX_SPECIALS specials) and each
 * refusal names the JSON path of the value at fault.
 */
#include "text/unigram.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/util.h"
#include "text/unigram_int.h"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64, padding optional. *out is the caller's (vt_free). */
static int b64_decode(const char *s, size_t n, unsigned char **out, size_t *len, size_t *bad)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    unsigned char *o = vt_malloc(n / 4 * 3 + 3);
    if (!o)
        return VT_ENOMEM;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            vt_free(o);
            *bad = i;
            return VT_EFORMAT;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    *out = o;
    *len = k;
    return 0;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Bools that may be absent (def). */
static int jbool(json_t *o, const char *key, int def)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* A regular expression of Replace: a literal, or one character or \s
 * with an optional quantifier +, {n}, {n,}, {n,m}. */
static int parse_regex(struct nstep *st, const char *r)
{
    const char *meta = ".[]()|^$*+?{}\\";
    size_t n = strlen(r);
    if (!strpbrk(r, meta)) {
        st->pat = unigram_dup_bytes(r, n);
        st->pat_len = n;
        return st->pat && n ? 0 : n ? VT_ENOMEM : VT_EFORMAT;
    }
    const char *p = r;
    st->run = 1;
    if (*p == '\\') {
        p++;
        if (*p == 's')
            st->run_ws = 1;
        else if (*p == 'n' || *p == 't' || *p == 'r')
            st->run_cp = *p == 'n' ? '\n' : *p == 't' ? '\t' : '\r';
        else if (*p && strchr(meta, *p))
            st->run_cp = (unsigned char)*p;
        else if (*p == ' ')
            st->run_cp = ' ';
        else
            return VT_EFORMAT;
        p++;
    } else if (*p && !strchr(meta, *p)) {
        uint32_t c;
        size_t bad;
        size_t l = u8len((unsigned char)*p);
        if (l > n || !vt_utf8_valid(p, l, &bad))
            return VT_EFORMAT;
        vt_utf8_decode(p, l, &c);
        st->run_cp = c;
        p += l;
    } else {
        return VT_EFORMAT;
    }
    st->run_min = st->run_max = 1;
    if (*p == '+') {
        st->run_max = SIZE_MAX;
        p++;
    } else if (*p == '{') {
        char *end;
        errno = 0;
        unsigned long a = strtoul(p + 1, &end, 10), b = a;
        if (end == p + 1 || errno)
            return VT_EFORMAT;
        if (*end == ',') {
            if (end[1] == '}') {
                b = SIZE_MAX;
                end++;
            } else {
                const char *q = end + 1;
                b = strtoul(q, &end, 10);
                if (end == q || errno || b < a)
                    return VT_EFORMAT;
            }
        }
        if (*end != '}')
            return VT_EFORMAT;
        st->run_min = a;
        st->run_max = b;
        p = end + 1;
    }
    return *p || st->run_min == 0 ? VT_EFORMAT : 0;
}

struct jctx {
    struct vt_unigram *u;
    const char *name;
    struct vt_error *err;
};

static int parse_normalizer(struct jctx *c, json_t *nz, const char *where)
{
    struct vt_unigram *u = c->u;
    char sub[128];
    const char *type = jstr(nz, "type");
    if (!type)
        return vt_error_set(c->err, VT_EFORMAT, "normalizer", "%s: %s has no type", c->name,
                            where);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(nz, "normalizers");
        if (!json_is_array(list))
            return vt_error_set(c->err, VT_EFORMAT, "normalizer",
                                "%s: %s.normalizers is not an array", c->name, where);
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) {
            snprintf(sub, sizeof sub, "%.60s.normalizers[%zu]", where, i);
            int rc = parse_normalizer(c, e, sub);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (u->nsteps == MAX_STEPS)
        return vt_error_set(c->err, VT_EFORMAT, "normalizer", "%s: more than %d normalizers",
                            c->name, MAX_STEPS);
    struct nstep *st = &u->steps[u->nsteps++];
    static const struct {
        const char *name;
        enum nkind kind;
    } simple[] = {{"NFC", N_NFC}, {"NFD", N_NFD}, {"NFKC", N_NFKC}, {"NFKD", N_NFKD},
                  {"Lowercase", N_LOWER}};
    for (size_t i = 0; i < sizeof simple / sizeof *simple; i++)
        if (strcmp(type, simple[i].name) == 0) {
            st->kind = simple[i].kind;
            return 0;
        }
    if (strcmp(type, "Strip") == 0) {
        st->kind = N_STRIP;
        st->left = jbool(nz, "strip_left", 1);
        st->right = jbool(nz, "strip_right", 1);
        return 0;
    }
    if (strcmp(type, "Precompiled") == 0) {
        json_t *v = json_object_get(nz, "precompiled_charsmap");
        st->kind = N_PRECOMPILED;
        if (!v || json_is_null(v))
            return 0;   /* no map: nothing to apply */
        if (!json_is_string(v))
            return vt_error_set(c->err, VT_EFORMAT, "precompiled_charsmap",
                                "%s: %s.precompiled_charsmap is not a base64 string", c->name,
                                where);
        unsigned char *b;
        size_t len, bad = 0;
        int rc = b64_decode(json_string_value(v), json_string_length(v), &b, &len, &bad);
        if (rc == VT_ENOMEM)
            return vt_error_set(c->err, rc, "", "out of memory");
        if (rc)
            return vt_error_set(c->err, VT_EFORMAT, "precompiled_charsmap",
                                "%s: %s.precompiled_charsmap is not base64 (character %zu)",
                                c->name, where, bad);
        rc = unigram_charsmap_init(st, b, len, c->name, c->err);
        vt_free(b);
        return rc;
    }
    if (strcmp(type, "Replace") == 0) {
        st->kind = N_REPLACE;
        json_t *pat = json_object_get(nz, "pattern");
        json_t *content = json_object_get(nz, "content");
        const char *lit = jstr(pat, "String"), *re = jstr(pat, "Regex");
        if (!json_is_string(content) || (!lit && !re))
            return vt_error_set(c->err, VT_EFORMAT, "normalizer",
                                "%s: %s needs a pattern (String or Regex) and a content string",
                                c->name, where);
        st->content_len = json_string_length(content);
        if (!(st->content = unigram_dup_bytes(json_string_value(content), st->content_len)))
            return vt_error_set(c->err, VT_ENOMEM, "", "out of memory");
        if (lit) {
            st->pat_len = json_string_length(json_object_get(pat, "String"));
            if (!st->pat_len)
                return vt_error_set(c->err, VT_EFORMAT, "normalizer",
                                    "%s: %s replaces an empty string", c->name, where);
            if (!(st->pat = unigram_dup_bytes(lit, st->pat_len)))
                return vt_error_set(c->err, VT_ENOMEM, "", "out of memory");
            return 0;
        }
        int rc = parse_regex(st, re);
        if (rc == VT_ENOMEM)
            return vt_error_set(c->err, rc, "", "out of memory");
        if (rc)
            return vt_error_set(c->err, VT_EFORMAT, "normalizer",
                                "%s: %s pattern /%.40s/ is not supported (a literal, or one "
                                "character or \\s with +, {n}, {n,} or {n,m})",
                                c->name, where, re);
        return 0;
    }
    return vt_error_set(c->err, VT_EFORMAT, "normalizer",
                        "%s: %s type \"%.40s\" is not supported (Precompiled, Strip, Replace, NFC, "
                        "NFD, NFKC, NFKD, Lowercase and Sequence are)",
                        c->name, where, type);
}

static int parse_pre(struct jctx *c, json_t *pt, const char *where)
{
    struct vt_unigram *u = c->u;
    char sub[128];
    const char *type = jstr(pt, "type");
    if (!type)
        return vt_error_set(c->err, VT_EFORMAT, "pre_tokenizer", "%s: %s has no type", c->name,
                            where);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pt, "pretokenizers");
        if (!json_is_array(list))
            return vt_error_set(c->err, VT_EFORMAT, "pre_tokenizer",
                                "%s: %s.pretokenizers is not an array", c->name, where);
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) {
            snprintf(sub, sizeof sub, "%.60s.pretokenizers[%zu]", where, i);
            int rc = parse_pre(c, e, sub);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (u->npre == MAX_STEPS)
        return vt_error_set(c->err, VT_EFORMAT, "pre_tokenizer",
                            "%s: more than %d pre-tokenizers", c->name, MAX_STEPS);
    struct pstep *ps = &u->pre[u->npre++];
    if (strcmp(type, "WhitespaceSplit") == 0)
        return 0;
    if (strcmp(type, "Metaspace") != 0)
        return vt_error_set(c->err, VT_EFORMAT, "pre_tokenizer",
                            "%s: %s type \"%.40s\" is not supported (Metaspace, WhitespaceSplit "
                            "and Sequence are)",
                            c->name, where, type);
    ps->metaspace = 1;
    const char *r = jstr(pt, "replacement");
    if (!r)
        r = "\xe2\x96\x81";
    size_t rl = strlen(r), bad;
    if (rl == 0 || rl != u8len((unsigned char)r[0]) || !vt_utf8_valid(r, rl, &bad))
        return vt_error_set(c->err, VT_EFORMAT, "pre_tokenizer",
                            "%s: %s.replacement must be one character", c->name, where);
    memcpy(ps->repl, r, rl + 1);
    ps->repl_len = rl;
    vt_utf8_decode(r, rl, &ps->repl_cp);
    ps->split = jbool(pt, "split", 1);
    const char *scheme = jstr(pt, "prepend_scheme");
    if (!scheme)
        ps->prepend = jbool(pt, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
    else if (strcmp(scheme, "always") == 0)
        ps->prepend = PREPEND_ALWAYS;
    else if (strcmp(scheme, "first") == 0)
        ps->prepend = PREPEND_FIRST;
    else if (strcmp(scheme, "never") == 0)
        ps->prepend = PREPEND_NEVER;
    else
        return vt_error_set(c->err, VT_EFORMAT, "pre_tokenizer",
                            "%s: %s.prepend_scheme \"%.20s\" is not always, first or never",
                            c->name, where, scheme);
    return 0;
}

/* The ids of a special token named by a post-processor. */
static int special_ids(struct jctx *c, json_t *specials, const char *tok, int32_t *ids,
                       size_t *n, json_t *fallback_id)
{
    json_t *sp = json_object_get(specials, tok);
    json_t *arr = json_object_get(sp, "ids");
    if (json_is_array(arr) && json_array_size(arr) > 0) {
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > INT32_MAX || *n == MAX_SPECIALS)
                return vt_error_set(c->err, VT_EFORMAT, "post_processor",
                                    "%s: post_processor special token \"%.40s\" has bad ids",
                                    c->name, tok);
            ids[(*n)++] = (int32_t)json_integer_value(v);
        }
        return 0;
    }
    int32_t id = -1;
    if (json_is_integer(fallback_id) && json_integer_value(fallback_id) >= 0 &&
        json_integer_value(fallback_id) <= INT32_MAX)
        id = (int32_t)json_integer_value(fallback_id);
    for (size_t i = 0; id < 0 && i < c->u->nadded; i++)
        if (strcmp(c->u->added[i].s, tok) == 0)
            id = c->u->added[i].id;
    if (id < 0)
        id = vt_unigram_id(c->u, tok, strlen(tok));
    if (id < 0 || *n == MAX_SPECIALS)
        return vt_error_set(c->err, VT_EFORMAT, "post_processor",
                            "%s: post_processor names \"%.40s\", which is not in the vocabulary",
                            c->name, tok);
    ids[(*n)++] = id;
    return 0;
}

static int parse_post(struct jctx *c, json_t *pp)
{
    struct vt_unigram *u = c->u;
    const char *type = jstr(pp, "type");
    if (!type)
        return vt_error_set(c->err, VT_EFORMAT, "post_processor", "%s: post_processor has no "
                            "type", c->name);
    if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        json_t *cls = json_object_get(pp, "cls"), *sep = json_object_get(pp, "sep");
        const char *cn = json_string_value(json_array_get(cls, 0));
        const char *sn = json_string_value(json_array_get(sep, 0));
        if (!cn || !sn)
            return vt_error_set(c->err, VT_EFORMAT, "post_processor",
                                "%s: %s needs cls and sep as [token, id]", c->name, type);
        int rc = special_ids(c, NULL, cn, u->prefix, &u->nprefix, json_array_get(cls, 1));
        return rc ? rc : special_ids(c, NULL, sn, u->suffix, &u->nsuffix, json_array_get(sep, 1));
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return vt_error_set(c->err, VT_EFORMAT, "post_processor",
                            "%s: post_processor type \"%.40s\" is not supported "
                            "(TemplateProcessing, RobertaProcessing and BertProcessing are)",
                            c->name, type);
    json_t *single = json_object_get(pp, "single");
    json_t *specials = json_object_get(pp, "special_tokens");
    if (!json_is_array(single))
        return vt_error_set(c->err, VT_EFORMAT, "post_processor",
                            "%s: post_processor.single is not an array", c->name);
    int seen_seq = 0;
    size_t i;
    json_t *e;
    json_array_foreach(single, i, e) {
        if (json_object_get(e, "Sequence")) {
            seen_seq = 1;
            continue;
        }
        const char *tok = jstr(json_object_get(e, "SpecialToken"), "id");
        if (!tok)
            return vt_error_set(c->err, VT_EFORMAT, "post_processor",
                                "%s: post_processor.single[%zu] is neither a Sequence nor a "
                                "SpecialToken", c->name, i);
        int rc = seen_seq ? special_ids(c, specials, tok, u->suffix, &u->nsuffix, NULL)
                          : special_ids(c, specials, tok, u->prefix, &u->nprefix, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_root(struct jctx *c, json_t *root)
{
    struct vt_unigram *u = c->u;
    int rc;
    json_t *model = json_object_get(root, "model");
    const char *mtype = jstr(model, "type");
    if (!json_is_object(model) || !mtype)
        return vt_error_set(c->err, VT_EFORMAT, "model", "%s: no model object with a type",
                            c->name);
    if (strcmp(mtype, "Unigram") != 0)
        return vt_error_set(c->err, VT_EFORMAT, "model.type",
                            "%s: tokenizer model is %.40s, not Unigram", c->name, mtype);
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return vt_error_set(c->err, VT_EFORMAT, "model.byte_fallback",
                            "%s: byte fallback (model.byte_fallback true) is not supported",
                            c->name);
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_array(vocab) || json_array_size(vocab) == 0)
        return vt_error_set(c->err, VT_EFORMAT, "model.vocab",
                            "%s: model.vocab is missing or not an array of [piece, score]",
                            c->name);
    size_t n = json_array_size(vocab);
    if (n > MAX_PIECES)
        return vt_error_set(c->err, VT_EFORMAT, "model.vocab", "%s: %zu pieces (max %u)",
                            c->name, n, MAX_PIECES);
    const char **s = vt_calloc(n, sizeof *s);
    size_t *lens = vt_calloc(n, sizeof *lens);
    double *scores = vt_calloc(n, sizeof *scores);
    double min_score = 0;
    if (!s || !lens || !scores) {
        rc = vt_error_set(c->err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(vocab, i);
        json_t *p = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_array(e) || !json_is_string(p) || !json_is_number(sc)) {
            rc = vt_error_set(c->err, VT_EFORMAT, "model.vocab",
                              "%s: model.vocab[%zu] is not [piece, score]", c->name, i);
            goto out;
        }
        s[i] = json_string_value(p);
        lens[i] = json_string_length(p);
        scores[i] = json_number_value(sc);
        if (i == 0 || scores[i] < min_score)
            min_score = scores[i];
    }
    if ((rc = unigram_vocab_build(u, s, lens, scores, n, c->name, c->err)))
        goto out;
    json_t *unk = json_object_get(model, "unk_id");
    if (!json_is_integer(unk) || json_integer_value(unk) < 0 ||
        (size_t)json_integer_value(unk) >= n) {
        rc = vt_error_set(c->err, VT_EFORMAT, "model.unk_id",
                          "%s: model.unk_id must be the id of a piece (0 to %zu)", c->name,
                          n - 1);
        goto out;
    }
    u->unk = (int32_t)json_integer_value(unk);

    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added)) {
        rc = vt_error_set(c->err, VT_EFORMAT, "added_tokens", "%s: added_tokens is not an array",
                          c->name);
        goto out;
    }
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= (json_int_t)MAX_PIECES || !json_is_string(content)) {
            rc = vt_error_set(c->err, VT_EFORMAT, "added_tokens",
                              "%s: added_tokens[%zu] needs an id and a content string", c->name,
                              i);
            goto out;
        }
        /* a token the model already has keeps the model's id, as the
         * reference assigns it */
        int32_t known = vt_unigram_id(u, json_string_value(content), json_string_length(content));
        rc = unigram_add_added(u, json_string_value(content), json_string_length(content),
                               known >= 0 ? known : (int32_t)json_integer_value(id),
                               jbool(a, "lstrip", 0), jbool(a, "rstrip", 0),
                               jbool(a, "single_word", 0), jbool(a, "normalized", 0));
        if (rc) {
            rc = vt_error_set(c->err, rc, "added_tokens", "%s: %s", c->name,
                              rc == VT_ENOMEM ? "out of memory" : "too many added tokens");
            goto out;
        }
    }
    json_t *nz = json_object_get(root, "normalizer");
    if (nz && !json_is_null(nz) && (rc = parse_normalizer(c, nz, "normalizer")))
        goto out;
    json_t *pt = json_object_get(root, "pre_tokenizer");
    if (pt && !json_is_null(pt) && (rc = parse_pre(c, pt, "pre_tokenizer")))
        goto out;
    /* added tokens matched in normalised text are normalised themselves */
    memset(u->first_norm, 0, sizeof u->first_norm);
    for (size_t k = 0; k < u->nadded; k++) {
        struct added *ad = &u->added[k];
        if (!ad->normalized)
            continue;
        char *ns;
        size_t nlen;
        if ((rc = unigram_normalize_bytes(u, ad->s, ad->len, &ns, &nlen))) {
            rc = vt_error_set(c->err, rc, "added_tokens", "%s: added token \"%.40s\" could "
                              "not be normalised", c->name, ad->s);
            goto out;
        }
        if (!nlen) {
            vt_free(ns);
            ad->len = 0;   /* normalised to nothing: never matches */
            continue;
        }
        vt_free(ad->s);
        ad->s = ns;
        ad->len = nlen;
        u->first_norm[(unsigned char)ns[0]] = 1;
    }
    json_t *pp = json_object_get(root, "post_processor");
    if (pp && !json_is_null(pp) && (rc = parse_post(c, pp)))
        goto out;
    rc = unigram_finish(u, min_score, c->name, c->err);
out:
    vt_free(s);
    vt_free(lens);
    vt_free(scores);
    return rc;
}

int vt_unigram_parse_json(const char *data, size_t len, const char *name, size_t max_tokens,
                          struct vt_unigram **out, struct vt_error *err)
{
    *out = NULL;
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr);
    json_t *root = json_loadb(data, len, 0, &jerr);
    /* jansson reports a failed allocation by code, or, on some paths, by
     * returning NULL with no message at all; a syntax error always has one */
    if (!root && (json_error_code(&jerr) == json_error_out_of_memory || !jerr.text[0]))
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    if (!root || !json_is_object(root)) {
        vt_error_set(err, VT_EFORMAT, "", "%s: not a JSON object%s%s (line %d)", name,
                     root ? "" : ": ", root ? "" : jerr.text, root ? 0 : jerr.line);
        if (err && !root) {
            err->offset = jerr.position;
            err->line = jerr.line;
            err->column = jerr.column;
        }
        json_decref(root);
        return VT_EFORMAT;
    }
    struct vt_unigram *u = vt_calloc(1, sizeof *u);
    if (!u) {
        json_decref(root);
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    }
    u->unk = -1;
    struct jctx c = {u, name, err};
    int rc = parse_root(&c, root);
    json_decref(root);
    if (rc) {
        vt_unigram_free(u);
        return rc;
    }
    u->max_tokens = max_tokens;
    *out = u;
    return 0;
}

int vt_unigram_load_json(const char *path, size_t max_tokens, struct vt_unigram **out,
                         struct vt_error *err)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return vt_error_set(err, VT_EIO, "", "%s: %s", path, strerror(errno));
    if ((uint64_t)st.st_size > VT_UNIGRAM_MAX_FILE)
        return vt_error_set(err, VT_ETOOBIG, "", "%s: larger than %u bytes", path,
                            VT_UNIGRAM_MAX_FILE);
    FILE *f = fopen(path, "rb");
    if (!f)
        return vt_error_set(err, VT_EIO, "", "%s: cannot open: %s", path, strerror(errno));
    size_t cap = (size_t)st.st_size;
    char *data = vt_malloc(cap + 1);
    size_t got = data ? fread(data, 1, cap, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!data)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    if (bad) {
        vt_free(data);
        return vt_error_set(err, VT_EIO, "", "%s: read error", path);
    }
    int rc = vt_unigram_parse_json(data, got, path, max_tokens, out, err);
    vt_free(data);
    return rc;
}
