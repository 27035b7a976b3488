/*
 * wordpiece.c - BERT basic tokenizer + WordPiece (see wordpiece.h).
 *
 * The text is read once, left to right. Runs of non-white-space characters
 * ("chunks") are cleaned, normalised as a unit (canonical decomposition
 * reorders marks only between starters, and white space is a starter, so a
 * chunk normalises the same alone as inside the whole text), split into
 * words at punctuation and CJK ideographs, and each word is matched against
 * the vocabulary. Encoding stops as soon as the truncation length is
 * reached, so a megabyte of text costs one UTF-8 check and a few hundred
 * words, not a full pass of normalisation.
 *
 * The vocabulary is an open-addressing hash table (linear probing, load at
 * most 1/2) of ids into one pool of NUL-terminated token strings.
 */
#include "text/wordpiece.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/util.h"

#define MAX_VOCAB (16u << 20)           /* ids accepted from a vocabulary file */
#define MAX_VOCAB_BYTES (1u << 30)
#define MAX_VOCAB_FILE (256u << 20)

struct vt_wordpiece {
    struct vt_wordpiece_opts o;
    char *names[5];                     /* owned copies of unk, cls, sep, pad, prefix */
    char *pool;
    uint32_t *off, *len;                /* per id; off == UINT32_MAX for a hole */
    size_t n;
    uint32_t *slots;                    /* id + 1, 0 = empty */
    size_t mask;
    size_t max_piece;                   /* longest token, bytes */
    int32_t unk, cls, sep, pad;
    uint64_t digest;
};

/* ---- character classes ---- */

static int is_ws(uint32_t c)
{
    if (c == ' ' || (c >= 0x09 && c <= 0x0D))
        return 1;
    if (c < 0x85)
        return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_other(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_CC ||
           cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CS ||
           cat == UTF8PROC_CATEGORY_CO;
}

static int is_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return 1;
    if (c < 128)
        return 0;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* The CJK Unified Ideographs blocks and extensions BERT treats as words. */
static int is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ---- vocabulary ---- */

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

#define FNV_SEED 0xcbf29ce484222325ULL

static int32_t lookup(const struct vt_wordpiece *wp, const char *s, size_t n)
{
    size_t i = (size_t)fnv1a(s, n, FNV_SEED) & wp->mask;
    for (;;) {
        uint32_t v = wp->slots[i];
        if (!v)
            return -1;
        uint32_t id = v - 1;
        if (wp->len[id] == n && memcmp(wp->pool + wp->off[id], s, n) == 0)
            return (int32_t)id;
        i = (i + 1) & wp->mask;
    }
}

int32_t vt_wordpiece_id(const struct vt_wordpiece *wp, const char *token, size_t len)
{
    return lookup(wp, token, len);
}

const char *vt_wordpiece_token(const struct vt_wordpiece *wp, int32_t id)
{
    if (id < 0 || (size_t)id >= wp->n || wp->off[id] == UINT32_MAX)
        return NULL;
    return wp->pool + wp->off[id];
}

size_t vt_wordpiece_vocab_size(const struct vt_wordpiece *wp)
{
    return wp->n;
}

const struct vt_wordpiece_opts *vt_wordpiece_options(const struct vt_wordpiece *wp)
{
    return &wp->o;
}

int32_t vt_wordpiece_special(const struct vt_wordpiece *wp, const char *which)
{
    if (strcmp(which, "cls") == 0)
        return wp->cls;
    if (strcmp(which, "sep") == 0)
        return wp->sep;
    if (strcmp(which, "unk") == 0)
        return wp->unk;
    if (strcmp(which, "pad") == 0)
        return wp->pad;
    return -1;
}

uint64_t vt_wordpiece_digest(const struct vt_wordpiece *wp)
{
    return wp->digest;
}

void vt_wordpiece_opts_default(struct vt_wordpiece_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lowercase = 1;
    o->strip_accents = -1;
    o->handle_chinese = 1;
    o->clean_text = 1;
    o->max_chars_per_word = 100;
    o->max_tokens = 512;
    o->unk = "[UNK]";
    o->cls = "[CLS]";
    o->sep = "[SEP]";
    o->pad = "[PAD]";
    o->prefix = "##";
}

void vt_wordpiece_free(struct vt_wordpiece *wp)
{
    if (!wp)
        return;
    for (int i = 0; i < 5; i++)
        vt_free(wp->names[i]);
    vt_free(wp->pool);
    vt_free(wp->off);
    vt_free(wp->len);
    vt_free(wp->slots);
    vt_free(wp);
}

int vt_wordpiece_new(const char *const *tokens, size_t n, const struct vt_wordpiece_opts *o,
                     struct vt_wordpiece **out, struct vt_error *err)
{
    *out = NULL;
    if (n == 0 || n > MAX_VOCAB)
        return vt_error_set(err, VT_EFORMAT, "vocab", "vocabulary of %zu tokens (1 to %u)", n,
                            MAX_VOCAB);
    struct vt_wordpiece *wp = vt_calloc(1, sizeof *wp);
    if (!wp)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    wp->o = *o;
    const char *src[5] = {o->unk, o->cls, o->sep, o->pad, o->prefix};
    const char *def[5] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]", "##"};
    for (int i = 0; i < 5; i++)
        if (!(wp->names[i] = vt_strdup(src[i] ? src[i] : def[i])))
            goto nomem;
    wp->o.unk = wp->names[0];
    wp->o.cls = wp->names[1];
    wp->o.sep = wp->names[2];
    wp->o.pad = wp->names[3];
    wp->o.prefix = wp->names[4];
    if (wp->o.strip_accents < 0)
        wp->o.strip_accents = wp->o.lowercase != 0;
    if (!wp->o.max_chars_per_word)
        wp->o.max_chars_per_word = 100;

    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (tokens[i]) {
            bytes += strlen(tokens[i]) + 1;
            if (bytes > MAX_VOCAB_BYTES) {
                vt_wordpiece_free(wp);
                return vt_error_set(err, VT_ETOOBIG, "vocab", "vocabulary over %u bytes",
                                    MAX_VOCAB_BYTES);
            }
        }
    size_t nslots = 16;
    while (nslots < 2 * n)
        nslots *= 2;
    wp->n = n;
    wp->pool = vt_malloc(bytes ? bytes : 1);
    wp->off = vt_calloc(n, sizeof *wp->off);
    wp->len = vt_calloc(n, sizeof *wp->len);
    wp->slots = vt_calloc(nslots, sizeof *wp->slots);
    if (!wp->pool || !wp->off || !wp->len || !wp->slots)
        goto nomem;
    wp->mask = nslots - 1;
    uint64_t h = FNV_SEED;
    size_t at = 0;
    for (size_t id = 0; id < n; id++) {
        if (!tokens[id]) {
            wp->off[id] = UINT32_MAX;
            h = fnv1a("\xff", 1, h);
            continue;
        }
        size_t l = strlen(tokens[id]);
        memcpy(wp->pool + at, tokens[id], l + 1);
        wp->off[id] = (uint32_t)at;
        wp->len[id] = (uint32_t)l;
        at += l + 1;
        if (l > wp->max_piece)
            wp->max_piece = l;
        h = fnv1a(tokens[id], l + 1, h);
        size_t i = (size_t)fnv1a(tokens[id], l, FNV_SEED) & wp->mask;
        for (;;) {
            uint32_t v = wp->slots[i];
            if (!v) {
                wp->slots[i] = (uint32_t)id + 1;
                break;
            }
            if (wp->len[v - 1] == l && memcmp(wp->pool + wp->off[v - 1], tokens[id], l) == 0) {
                wp->slots[i] = (uint32_t)id + 1;   /* a repeated token keeps its last id */
                break;
            }
            i = (i + 1) & wp->mask;
        }
    }
    wp->unk = lookup(wp, wp->o.unk, strlen(wp->o.unk));
    wp->cls = lookup(wp, wp->o.cls, strlen(wp->o.cls));
    wp->sep = lookup(wp, wp->o.sep, strlen(wp->o.sep));
    wp->pad = lookup(wp, wp->o.pad, strlen(wp->o.pad));
    const char *missing = wp->unk < 0 ? wp->o.unk : wp->cls < 0 ? wp->o.cls
                          : wp->sep < 0 ? wp->o.sep : NULL;
    if (missing) {
        vt_error_set(err, VT_EFORMAT, "vocab", "vocabulary has no %s token", missing);
        vt_wordpiece_free(wp);
        return VT_EFORMAT;
    }
    int flags[4] = {wp->o.lowercase, wp->o.strip_accents, wp->o.handle_chinese,
                    wp->o.clean_text};
    h = fnv1a(flags, sizeof flags, h);
    uint64_t lim[2] = {wp->o.max_chars_per_word, wp->o.max_tokens};
    h = fnv1a(lim, sizeof lim, h);
    for (int i = 0; i < 5; i++)
        h = fnv1a(wp->names[i], strlen(wp->names[i]) + 1, h);
    wp->digest = h;
    *out = wp;
    return 0;
nomem:
    vt_wordpiece_free(wp);
    return vt_error_set(err, VT_ENOMEM, "", "out of memory");
}

/* Whole small file into memory (NUL-terminated). */
static int read_file(const char *path, size_t max, char **data, size_t *len,
                     struct vt_error *err)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vt_error_set(err, VT_EIO, "", "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = vt_malloc(cap + 1);
    int rc = 0;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap >= max) {
            rc = vt_error_set(err, VT_ETOOBIG, "", "%s: larger than %zu bytes", path, max);
            break;
        }
        char *nb = vt_realloc(buf, cap * 2 + 1);
        if (!nb) {
            vt_free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf)
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
    else if (!rc && ferror(f))
        rc = vt_error_set(err, VT_EIO, "", "%s: read error", path);
    fclose(f);
    if (rc) {
        vt_free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int vt_wordpiece_load_vocab(const char *path, const struct vt_wordpiece_opts *o,
                            struct vt_wordpiece **out, struct vt_error *err)
{
    char *data;
    size_t len;
    *out = NULL;
    int rc = read_file(path, MAX_VOCAB_FILE, &data, &len, err);
    if (rc)
        return rc;
    size_t bad;
    if (!vt_utf8_valid(data, len, &bad)) {
        vt_free(data);
        vt_error_set(err, VT_EFORMAT, "", "%s: invalid UTF-8 at byte %zu", path, bad);
        if (err)
            err->offset = (int64_t)bad;
        return VT_EFORMAT;
    }
    /* One token per line; only the '\n' is removed, as the reference does. */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    if (len && data[len - 1] != '\n')
        lines++;
    const char **tok = vt_calloc(lines ? lines : 1, sizeof *tok);
    if (!tok) {
        vt_free(data);
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    }
    size_t k = 0;
    char *s = data;
    while (k < lines) {
        char *nl = memchr(s, '\n', len - (size_t)(s - data));
        if (nl)
            *nl = '\0';
        tok[k++] = s;
        if (!nl)
            break;
        s = nl + 1;
    }
    rc = vt_wordpiece_new(tok, k, o, out, err);
    if (rc && err) {
        char msg[200], field[sizeof err->field];
        size_t l = strnlen(err->message, sizeof msg - 1);
        memcpy(msg, err->message, l);
        msg[l] = '\0';
        memcpy(field, err->field, sizeof field);
        vt_error_set(err, rc, field, "%.100s: %s", path, msg);
    }
    vt_free(tok);
    vt_free(data);
    return rc;
}

static const char *special_from_processor(json_t *pp, const char *which)
{
    /* BertProcessing: {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]} */
    json_t *v = json_object_get(pp, which);
    if (json_is_array(v) && json_is_string(json_array_get(v, 0)))
        return json_string_value(json_array_get(v, 0));
    /* TemplateProcessing: single = [{SpecialToken}, {Sequence}, {SpecialToken}] */
    json_t *single = json_object_get(pp, "single");
    if (!json_is_array(single))
        return NULL;
    int seen_seq = 0;
    size_t i;
    json_t *e;
    json_array_foreach(single, i, e) {
        if (json_object_get(e, "Sequence"))
            seen_seq = 1;
        json_t *st = json_object_get(e, "SpecialToken");
        json_t *id = st ? json_object_get(st, "id") : NULL;
        if (json_is_string(id) && seen_seq == (strcmp(which, "sep") == 0))
            return json_string_value(id);
    }
    return NULL;
}

int vt_wordpiece_load_json(const char *path, const struct vt_wordpiece_opts *o,
                           struct vt_wordpiece **out, struct vt_error *err)
{
    *out = NULL;
    char *data;
    size_t len;
    int rc = read_file(path, MAX_VOCAB_FILE, &data, &len, err);
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    vt_free(data);
    const char **tok = NULL;
    if (!root) {
        vt_error_set(err, VT_EFORMAT, "", "%s: not valid JSON: %s (line %d)", path, jerr.text,
                     jerr.line);
        if (err) {
            err->offset = jerr.position;
            err->line = jerr.line;
            err->column = jerr.column;
        }
        return VT_EFORMAT;
    }
    struct vt_wordpiece_opts opts = *o;
    json_t *model = json_object_get(root, "model");
    json_t *type = json_object_get(model, "type");
    json_t *vocab = json_object_get(model, "vocab");
    if (json_is_string(type) && strcmp(json_string_value(type), "WordPiece") != 0) {
        rc = vt_error_set(err, VT_EFORMAT, "model.type",
                          "%s: tokenizer model is %.40s; only WordPiece is supported", path,
                          json_string_value(type));
        goto out;
    }
    if (!json_is_object(vocab) || json_object_size(vocab) == 0) {
        rc = vt_error_set(err, VT_EFORMAT, "model.vocab",
                          "%s: model.vocab is missing or not an object of token ids", path);
        goto out;
    }
    json_t *v;
    if (json_is_string(v = json_object_get(model, "unk_token")))
        opts.unk = json_string_value(v);
    if (json_is_string(v = json_object_get(model, "continuing_subword_prefix")))
        opts.prefix = json_string_value(v);
    if (json_is_integer(v = json_object_get(model, "max_input_chars_per_word")) &&
        json_integer_value(v) > 0)
        opts.max_chars_per_word = (size_t)json_integer_value(v);

    json_t *norm = json_object_get(root, "normalizer");
    if (json_is_object(norm)) {
        json_t *nt = json_object_get(norm, "type");
        if (!json_is_string(nt) || strcmp(json_string_value(nt), "BertNormalizer") != 0) {
            rc = vt_error_set(err, VT_EFORMAT, "normalizer",
                              "%s: normalizer %.40s is not supported (BertNormalizer is)", path,
                              json_is_string(nt) ? json_string_value(nt) : "?");
            goto out;
        }
        if (json_is_boolean(v = json_object_get(norm, "lowercase")))
            opts.lowercase = json_is_true(v);
        v = json_object_get(norm, "strip_accents");
        opts.strip_accents = json_is_boolean(v) ? json_is_true(v) : -1;
        if (json_is_boolean(v = json_object_get(norm, "handle_chinese_chars")))
            opts.handle_chinese = json_is_true(v);
        if (json_is_boolean(v = json_object_get(norm, "clean_text")))
            opts.clean_text = json_is_true(v);
    } else {
        /* no normalizer: nothing but the pre-tokenizer's splitting */
        opts.lowercase = 0;
        opts.strip_accents = 0;
        opts.handle_chinese = 0;
        opts.clean_text = 0;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (json_is_object(pre)) {
        json_t *pt = json_object_get(pre, "type");
        if (!json_is_string(pt) || strcmp(json_string_value(pt), "BertPreTokenizer") != 0) {
            rc = vt_error_set(err, VT_EFORMAT, "pre_tokenizer",
                              "%s: pre-tokenizer %.40s is not supported (BertPreTokenizer is)",
                              path, json_is_string(pt) ? json_string_value(pt) : "?");
            goto out;
        }
    }
    json_t *pp = json_object_get(root, "post_processor");
    if (json_is_object(pp)) {
        const char *s;
        if ((s = special_from_processor(pp, "cls")))
            opts.cls = s;
        if ((s = special_from_processor(pp, "sep")))
            opts.sep = s;
    }
    /* ids may have holes; the largest id sizes the table */
    size_t n = 0;
    const char *key;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (json_int_t)MAX_VOCAB) {
            rc = vt_error_set(err, VT_EFORMAT, "model.vocab",
                              "%s: token id of \"%.40s\" is not an integer in [0, %u)", path, key,
                              MAX_VOCAB);
            goto out;
        }
        if ((size_t)json_integer_value(v) + 1 > n)
            n = (size_t)json_integer_value(v) + 1;
    }
    tok = vt_calloc(n, sizeof *tok);
    if (!tok) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    json_object_foreach(vocab, key, v)
        tok[json_integer_value(v)] = key;
    rc = vt_wordpiece_new(tok, n, &opts, out, err);
out:
    vt_free(tok);
    json_decref(root);
    return rc;
}

/* ---- encoding ---- */

struct u32vec {
    uint32_t *v;
    size_t n, cap;
};

static int vec_push(struct u32vec *a, uint32_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        uint32_t *nv = vt_realloc(a->v, cap * sizeof *nv);
        if (!nv)
            return VT_ENOMEM;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

struct enc {
    const struct vt_wordpiece *wp;
    struct u32vec chunk, norm, word, ids;
    char *scratch;                /* UTF-8 of a chunk or a candidate piece */
    size_t scratch_cap;
    size_t *cp_off;               /* byte offset of each code point of a word */
    size_t cp_off_cap;
    size_t limit;                 /* pieces allowed between [CLS] and [SEP] */
    int full;
};

static int reserve_scratch(struct enc *e, size_t n)
{
    if (n <= e->scratch_cap)
        return 0;
    size_t cap = n > 256 ? n * 2 : 512;
    char *p = vt_realloc(e->scratch, cap);
    if (!p)
        return VT_ENOMEM;
    e->scratch = p;
    e->scratch_cap = cap;
    return 0;
}

static int push_id(struct enc *e, int32_t id)
{
    if (e->ids.n - 1 >= e->limit) {
        e->full = 1;
        return 0;
    }
    int rc = vec_push(&e->ids, (uint32_t)id);
    if (!rc && e->ids.n - 1 >= e->limit)
        e->full = 1;
    return rc;
}

/* Greedy longest-match-first over e->word. */
static int emit_word(struct enc *e)
{
    const struct vt_wordpiece *wp = e->wp;
    size_t n = e->word.n;
    if (n == 0 || e->full)
        return 0;
    e->word.n = 0;
    if (n > wp->o.max_chars_per_word)
        return push_id(e, wp->unk);
    if (n + 1 > e->cp_off_cap) {
        size_t *p = vt_realloc(e->cp_off, (n + 1) * sizeof *p);
        if (!p)
            return VT_ENOMEM;
        e->cp_off = p;
        e->cp_off_cap = n + 1;
    }
    size_t plen = strlen(wp->o.prefix);
    /* word bytes after the prefix room: [plen, plen + bytes) */
    if (reserve_scratch(e, plen + n * 4 + 1))
        return VT_ENOMEM;
    char *w = e->scratch + plen;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        e->cp_off[i] = bytes;
        bytes += (size_t)vt_utf8_encode(e->word.v[i], w + bytes);
    }
    e->cp_off[n] = bytes;
    int32_t pieces[128];
    size_t np = 0, start = 0;
    struct u32vec many = {0};     /* for words of more than 128 pieces */
    int rc = 0;
    while (start < n) {
        int32_t found = -1;
        size_t end = n;
        for (; end > start; end--) {
            size_t len = e->cp_off[end] - e->cp_off[start];
            if (len > wp->max_piece)
                continue;
            const char *s = w + e->cp_off[start];
            if (start > 0) {
                /* Write the prefix over the bytes just before the substring:
                 * they belong to pieces already matched (or to the room
                 * kept at the front), which are never read again. */
                s -= plen;
                memcpy((char *)s, wp->o.prefix, plen);
                found = lookup(wp, s, plen + len);
            } else {
                found = lookup(wp, s, len);
            }
            if (found >= 0)
                break;
        }
        if (found < 0) {
            vt_free(many.v);
            return push_id(e, wp->unk);
        }
        if (np < 128)
            pieces[np] = found;
        else if ((rc = vec_push(&many, (uint32_t)found)))
            break;
        np++;
        start = end;
    }
    for (size_t i = 0; !rc && i < np && !e->full; i++)
        rc = push_id(e, i < 128 ? pieces[i] : (int32_t)many.v[i - 128]);
    vt_free(many.v);
    return rc;
}

/* Normalise e->chunk into e->norm, then split into words. */
static int flush_chunk(struct enc *e)
{
    const struct vt_wordpiece *wp = e->wp;
    int rc;
    if (e->chunk.n == 0 || e->full)
        return 0;
    e->norm.n = 0;
    if (wp->o.strip_accents) {
        size_t bytes = 0;
        if (reserve_scratch(e, e->chunk.n * 4 + 1))
            return VT_ENOMEM;
        for (size_t i = 0; i < e->chunk.n; i++)
            bytes += (size_t)vt_utf8_encode(e->chunk.v[i], e->scratch + bytes);
        for (;;) {
            utf8proc_ssize_t got = utf8proc_decompose(
                (const utf8proc_uint8_t *)e->scratch, (utf8proc_ssize_t)bytes,
                (utf8proc_int32_t *)e->norm.v, (utf8proc_ssize_t)e->norm.cap, UTF8PROC_DECOMPOSE);
            if (got < 0)
                return VT_EINVAL;
            if ((size_t)got <= e->norm.cap) {
                e->norm.n = (size_t)got;
                break;
            }
            uint32_t *nv = vt_realloc(e->norm.v, (size_t)got * sizeof *nv);
            if (!nv)
                return VT_ENOMEM;
            e->norm.v = nv;
            e->norm.cap = (size_t)got;
        }
        size_t k = 0;
        for (size_t i = 0; i < e->norm.n; i++)
            if (utf8proc_category((utf8proc_int32_t)e->norm.v[i]) != UTF8PROC_CATEGORY_MN)
                e->norm.v[k++] = e->norm.v[i];
        e->norm.n = k;
    } else {
        for (size_t i = 0; i < e->chunk.n; i++)
            if ((rc = vec_push(&e->norm, e->chunk.v[i])))
                return rc;
    }
    e->chunk.n = 0;
    if (wp->o.lowercase) {
        /* U+0130 is the one character whose lower case is two: i + U+0307 */
        size_t extra = 0;
        for (size_t i = 0; i < e->norm.n; i++)
            extra += e->norm.v[i] == 0x130;
        if (extra) {
            size_t n = e->norm.n;
            for (size_t i = 0; i < extra; i++)
                if ((rc = vec_push(&e->norm, 0)))
                    return rc;
            for (size_t i = n, j = n + extra; i-- > 0;) {
                if (e->norm.v[i] == 0x130) {
                    e->norm.v[--j] = 0x307;
                    e->norm.v[--j] = 'i';
                } else {
                    e->norm.v[--j] = e->norm.v[i];
                }
            }
        }
        for (size_t i = 0; i < e->norm.n; i++)
            e->norm.v[i] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)e->norm.v[i]);
    }
    for (size_t i = 0; i < e->norm.n && !e->full; i++) {
        uint32_t c = e->norm.v[i];
        if (is_punct(c) || (wp->o.handle_chinese && is_cjk(c))) {
            if ((rc = emit_word(e)) || (rc = vec_push(&e->word, c)) || (rc = emit_word(e)))
                return rc;
        } else if (is_ws(c)) {
            if ((rc = emit_word(e)))
                return rc;
        } else if ((rc = vec_push(&e->word, c))) {
            return rc;
        }
    }
    return emit_word(e);
}

int vt_wordpiece_encode(const struct vt_wordpiece *wp, const char *text, size_t len,
                        int32_t **ids, size_t *n, struct vt_error *err)
{
    *ids = NULL;
    *n = 0;
    if (len > VT_WORDPIECE_MAX_TEXT)
        return vt_error_set(err, VT_ETOOBIG, "text", "text of %zu bytes is over the %u-byte limit",
                            len, VT_WORDPIECE_MAX_TEXT);
    size_t bad;
    if (len && !vt_utf8_valid(text, len, &bad)) {
        vt_error_set(err, VT_EINVAL, "text", "text is not valid UTF-8 (or holds a NUL) at byte %zu",
                     bad);
        if (err)
            err->offset = (int64_t)bad;
        return VT_EINVAL;
    }
    struct enc e = {0};
    e.wp = wp;
    e.limit = wp->o.max_tokens ? (wp->o.max_tokens > 2 ? wp->o.max_tokens - 2 : 0) : SIZE_MAX;
    int rc = vec_push(&e.ids, (uint32_t)wp->cls);
    if (!rc && e.limit == 0)
        e.full = 1;
    size_t i = 0;
    while (!rc && i < len && !e.full) {
        uint32_t c;
        int l = vt_utf8_decode(text + i, len - i, &c);
        i += (size_t)l;
        if (wp->o.clean_text && (c == 0xFFFD || is_other(c)))
            continue;
        if (is_ws(c)) {
            rc = flush_chunk(&e);
            continue;
        }
        if (wp->o.handle_chinese && is_cjk(c)) {
            /* An ideograph is a starter: decomposition never reorders
             * across it, so the chunk may end here. Keeps chunks of
             * unspaced Chinese short, and truncation early. */
            rc = flush_chunk(&e);
        }
        if (!rc)
            rc = vec_push(&e.chunk, c);
    }
    if (!rc)
        rc = flush_chunk(&e);
    if (!rc) {
        e.full = 0;
        e.limit = SIZE_MAX;
        rc = vec_push(&e.ids, (uint32_t)wp->sep);
    }
    vt_free(e.chunk.v);
    vt_free(e.norm.v);
    vt_free(e.word.v);
    vt_free(e.scratch);
    vt_free(e.cp_off);
    if (rc) {
        vt_free(e.ids.v);
        if (rc == VT_ENOMEM)
            return vt_error_set(err, VT_ENOMEM, "", "out of memory");
        return vt_error_set(err, rc, "text", "text could not be normalised");
    }
    *ids = (int32_t *)e.ids.v;
    *n = e.ids.n;
    return 0;
}
