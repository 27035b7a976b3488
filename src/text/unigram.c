/*
 * unigram.c - Hugging Face Unigram tokenizer (see unigram.h): the
 * vocabulary, the normalizers, encoding and the GGUF constructor. The
 * tokenizer.json reader is unigram_json.c; the struct they share and the
 * building steps are in unigram_int.h.
 *
 * The vocabulary lives in one open-addressing hash table (FNV-1a, linear
 * probing, load at most 1/2) that holds every piece and every prefix of a
 * piece that ends on a character boundary. The Viterbi pass hashes a
 * candidate incrementally, one character at a time, and stops extending
 * it as soon as no piece starts with it, so a position costs a few probes
 * rather than one per possible length.
 *
 * The precompiled character map is SentencePiece's: a little-endian u32
 * byte length of the trie, the trie as an array of little-endian u32 units
 * (darts-clone layout: bits 0-7 the label, bit 8 "has a leaf", bit 9 "the
 * offset is shifted by 8", bits 10-31 the offset; a leaf unit has bit 31
 * set and the value in bits 0-30), then the replacement strings, each
 * ending with a NUL. A value is the byte offset of its replacement, which
 * runs to the next NUL. Every unit index is checked against the array and
 * every value against the strings (it must fall on the first byte of a
 * character) at lookup time, so a hostile map can only fail to match.
 *
 * Invariants of a built tokenizer: unk < n; every id in pre/suffixes and
 * added tokens < vocab_size; the replacement strings are valid UTF-8.
 */
#include "text/unigram.h"

#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/util.h"
#include "text/unigram_int.h"

#define MAX_POOL (1u << 30)
#define MAX_PIECE_BYTES 4096
#define MAX_ADDED 65536
#define UNK_PENALTY 10.0
#define FNV_SEED 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * FNV_PRIME;
    return h;
}

/* Unicode White_Space, as Rust's char::is_whitespace. */
static int is_ws(uint32_t c)
{
    if (c == ' ' || (c >= 0x09 && c <= 0x0D))
        return 1;
    if (c < 0x85)
        return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_word_char(uint32_t c)
{
    if (c == '_')
        return 1;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

/* Start of the character that ends just before s + i. */
static size_t u8prev(const char *s, size_t i)
{
    do
        i--;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
    return i;
}

struct sbuf {
    char *p;
    size_t n, cap;
};

static int sb_reserve(struct sbuf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->n)
        return VT_ENOMEM;
    if (b->n + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = vt_realloc(b->p, cap);
    if (!p)
        return VT_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (sb_reserve(b, n))
        return VT_ENOMEM;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int sb_putc(struct sbuf *b, uint32_t c)
{
    char tmp[4];
    return sb_put(b, tmp, (size_t)vt_utf8_encode(c, tmp));
}

char *unigram_dup_bytes(const char *s, size_t n)
{
    char *p = vt_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ------------------------------------------------------------------ */
/* Vocabulary                                                          */
/* ------------------------------------------------------------------ */

static const struct slot *find(const struct vt_unigram *u, uint64_t h, const char *s, size_t n)
{
    size_t i = (size_t)h & u->mask;
    for (;;) {
        const struct slot *sl = &u->slots[i];
        if (!sl->id1)
            return NULL;
        if (sl->len == n && memcmp(u->pool + u->off[sl->id1 - 1], s, n) == 0)
            return sl;
        i = (i + 1) & u->mask;
    }
}

/* A piece that is not valid UTF-8, is empty or is longer than
 * MAX_PIECE_BYTES is kept as an id but can never match text. A repeated
 * piece maps to its last id, as the reference's dictionary does. */
int unigram_vocab_build(struct vt_unigram *u, const char *const *s, const size_t *lens,
                        const double *scores, size_t n, const char *name, struct vt_error *err)
{
    if (n == 0 || n > MAX_PIECES)
        return vt_error_set(err, VT_EFORMAT, "model.vocab", "%s: vocabulary of %zu pieces "
                            "(1 to %u)", name, n, MAX_PIECES);
    size_t bytes = 0, entries = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += lens[i] + 1;
        if (bytes > MAX_POOL)
            return vt_error_set(err, VT_ETOOBIG, "model.vocab", "%s: vocabulary over %u bytes",
                                name, MAX_POOL);
        entries += lens[i] <= MAX_PIECE_BYTES ? lens[i] : 0;   /* at most one per byte */
    }
    size_t nslots = 16;
    while (nslots < 2 * entries)
        nslots *= 2;
    u->n = n;
    u->pool_len = bytes;
    u->pool = vt_malloc(bytes);
    u->off = vt_calloc(n, sizeof *u->off);
    u->plen = vt_calloc(n, sizeof *u->plen);
    u->score = vt_calloc(n, sizeof *u->score);
    u->slots = vt_calloc(nslots, sizeof *u->slots);
    if (!u->pool || !u->off || !u->plen || !u->score || !u->slots)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    u->mask = nslots - 1;
    size_t at = 0;
    for (size_t id = 0; id < n; id++) {
        size_t l = lens[id], bad;
        memcpy(u->pool + at, s[id], l);
        u->pool[at + l] = '\0';
        u->off[id] = (uint32_t)at;
        at += l + 1;
        u->score[id] = scores[id];
        if (l == 0 || l > MAX_PIECE_BYTES || !vt_utf8_valid(u->pool + u->off[id], l, &bad))
            continue;
        u->plen[id] = (uint32_t)l;
        if (l > u->max_piece)
            u->max_piece = l;
        const char *p = u->pool + u->off[id];
        uint64_t h = FNV_SEED;
        for (size_t k = 0; k < l;) {
            size_t cl = u8len((unsigned char)p[k]);
            h = fnv(p + k, cl, h);
            k += cl;
            size_t i = (size_t)h & u->mask;
            for (;;) {
                struct slot *sl = &u->slots[i];
                if (!sl->id1) {
                    sl->id1 = (uint32_t)id + 1;
                    sl->len = (uint32_t)k;
                    break;
                }
                if (sl->len == k && memcmp(u->pool + u->off[sl->id1 - 1], p, k) == 0) {
                    if (k == l)
                        sl->id1 = (uint32_t)id + 1;   /* the whole piece wins over a prefix */
                    break;
                }
                i = (i + 1) & u->mask;
            }
        }
    }
    return 0;
}

int32_t vt_unigram_id(const struct vt_unigram *u, const char *piece, size_t len)
{
    if (len == 0 || len > u->max_piece)
        return -1;
    const struct slot *sl = find(u, fnv(piece, len, FNV_SEED), piece, len);
    if (!sl || sl->len != u->plen[sl->id1 - 1])
        return -1;
    return (int32_t)sl->id1 - 1;
}

const char *vt_unigram_piece(const struct vt_unigram *u, int32_t id)
{
    if (id < 0)
        return NULL;
    if ((size_t)id < u->n)
        return u->pool + u->off[id];
    for (size_t i = 0; i < u->nadded; i++)
        if (u->added[i].id == id)
            return u->added[i].s;
    return NULL;
}

size_t vt_unigram_vocab_size(const struct vt_unigram *u)
{
    return u->vocab_size;
}

void vt_unigram_set_max_tokens(struct vt_unigram *u, size_t max_tokens)
{
    u->max_tokens = max_tokens;
}

size_t vt_unigram_max_tokens(const struct vt_unigram *u)
{
    return u->max_tokens;
}

uint64_t vt_unigram_digest(const struct vt_unigram *u)
{
    uint64_t h = u->digest;
    uint64_t m = u->max_tokens;
    return fnv(&m, sizeof m, h);
}

void vt_unigram_free(struct vt_unigram *u)
{
    if (!u)
        return;
    vt_free(u->pool);
    vt_free(u->off);
    vt_free(u->plen);
    vt_free(u->score);
    vt_free(u->slots);
    for (size_t i = 0; i < u->nsteps; i++) {
        vt_free(u->steps[i].units);
        vt_free(u->steps[i].strs);
        vt_free(u->steps[i].pat);
        vt_free(u->steps[i].content);
    }
    for (size_t i = 0; i < u->nadded; i++)
        vt_free(u->added[i].s);
    vt_free(u->added);
    vt_free(u);
}

/* ------------------------------------------------------------------ */
/* Precompiled character map                                           */
/* ------------------------------------------------------------------ */

int unigram_charsmap_init(struct nstep *st, const unsigned char *b, size_t n, const char *name,
                          struct vt_error *err)
{
    st->kind = N_PRECOMPILED;
    if (n == 0)
        return 0;   /* no map: the identity */
    if (n < 4)
        return vt_error_set(err, VT_EFORMAT, "precompiled_charsmap",
                            "%s: precompiled_charsmap of %zu bytes is truncated", name, n);
    uint32_t tl = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                  (uint32_t)b[3] << 24;
    if (tl % 4 || tl > n - 4)
        return vt_error_set(err, VT_EFORMAT, "precompiled_charsmap",
                            "%s: precompiled_charsmap declares a trie of %u bytes but holds %zu",
                            name, tl, n - 4);
    st->nunits = tl / 4;
    st->nstrs = n - 4 - tl;
    st->units = vt_calloc(st->nunits ? st->nunits : 1, sizeof *st->units);
    st->strs = vt_malloc(st->nstrs + 1);
    if (!st->units || !st->strs)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    for (size_t i = 0; i < st->nunits; i++) {
        const unsigned char *q = b + 4 + 4 * i;
        st->units[i] = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                       (uint32_t)q[3] << 24;
    }
    memcpy(st->strs, b + 4 + tl, st->nstrs);
    st->strs[st->nstrs] = '\0';
    /* every replacement (between NULs) must be UTF-8 we can hand on */
    for (size_t i = 0; i < st->nstrs;) {
        size_t l = strnlen(st->strs + i, st->nstrs - i), bad;
        if (!vt_utf8_valid(st->strs + i, l, &bad))
            return vt_error_set(err, VT_EFORMAT, "precompiled_charsmap",
                                "%s: precompiled_charsmap replacement at byte %zu is not valid "
                                "UTF-8",
                                name, 4 + tl + i + bad);
        i += l + 1;
    }
    return 0;
}

/* Replacement of the shortest prefix of s[0..n) in the map, or NULL. */
static const char *charsmap_find(const struct nstep *st, const char *s, size_t n)
{
    if (!st->nunits)
        return NULL;
    const uint32_t *u = st->units;
#define UNIT_OFFSET(x) (((x) >> 10) << (((x) & (1u << 9)) >> 6))
    size_t pos = UNIT_OFFSET(u[0]);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        pos ^= c;
        if (pos >= st->nunits)
            return NULL;
        uint32_t unit = u[pos];
        if ((unit & (0x80000000u | 0xFFu)) != c)
            return NULL;
        pos ^= UNIT_OFFSET(unit);
        if ((unit >> 8) & 1) {
            if (pos >= st->nunits)
                return NULL;
            /* every string is valid UTF-8, so is its tail from a
             * character's first byte, and only from there */
            uint32_t value = u[pos] & 0x7FFFFFFFu;
            if (value >= st->nstrs || ((unsigned char)st->strs[value] & 0xC0) == 0x80)
                return NULL;
            return st->strs + value;
        }
    }
#undef UNIT_OFFSET
    return NULL;
}

static int apply_precompiled(const struct nstep *st, const char *s, size_t n, struct sbuf *out)
{
    size_t i = 0;
    while (i < n) {
        /* one extended grapheme cluster: [i, j) */
        uint32_t prev, c;
        size_t j = i + (size_t)vt_utf8_decode(s + i, n - i, &prev);
        utf8proc_int32_t state = 0;
        while (j < n) {
            int l = vt_utf8_decode(s + j, n - j, &c);
            if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)c,
                                                 &state))
                break;
            prev = c;
            j += (size_t)l;
        }
        const char *r;
        if (j - i < 6 && (r = charsmap_find(st, s + i, j - i))) {
            if (sb_put(out, r, strlen(r)))
                return VT_ENOMEM;
            i = j;
            continue;
        }
        while (i < j) {
            size_t cl = u8len((unsigned char)s[i]);
            r = charsmap_find(st, s + i, cl);
            if (r ? sb_put(out, r, strlen(r)) : sb_put(out, s + i, cl))
                return VT_ENOMEM;
            i += cl;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Other normalizers                                                   */
/* ------------------------------------------------------------------ */

static int apply_strip(const struct nstep *st, const char *s, size_t n, struct sbuf *out)
{
    size_t a = 0, b = n;
    uint32_t c;
    while (st->left && a < b) {
        int l = vt_utf8_decode(s + a, b - a, &c);
        if (!is_ws(c))
            break;
        a += (size_t)l;
    }
    while (st->right && b > a) {
        size_t p = u8prev(s, b);
        vt_utf8_decode(s + p, b - p, &c);
        if (!is_ws(c))
            break;
        b = p;
    }
    return sb_put(out, s + a, b - a);
}

static int run_char(const struct nstep *st, uint32_t c)
{
    return st->run_ws ? is_ws(c) : c == st->run_cp;
}

static int apply_replace(const struct nstep *st, const char *s, size_t n, struct sbuf *out)
{
    size_t i = 0;
    if (!st->run) {
        while (i < n) {
            const char *hit = st->pat_len <= n - i ? memmem(s + i, n - i, st->pat, st->pat_len)
                                                   : NULL;
            size_t upto = hit ? (size_t)(hit - s) : n;
            if (sb_put(out, s + i, upto - i))
                return VT_ENOMEM;
            if (!hit)
                break;
            if (sb_put(out, st->content, st->content_len))
                return VT_ENOMEM;
            i = upto + st->pat_len;
        }
        return 0;
    }
    while (i < n) {
        uint32_t c;
        size_t l = (size_t)vt_utf8_decode(s + i, n - i, &c);
        if (!run_char(st, c)) {
            if (sb_put(out, s + i, l))
                return VT_ENOMEM;
            i += l;
            continue;
        }
        /* greedy: the longest run up to run_max characters */
        size_t j = i, count = 0;
        while (j < n && count < st->run_max) {
            size_t l2 = (size_t)vt_utf8_decode(s + j, n - j, &c);
            if (!run_char(st, c))
                break;
            j += l2;
            count++;
        }
        int rc = count >= st->run_min ? sb_put(out, st->content, st->content_len)
                                      : sb_put(out, s + i, j - i);
        if (rc)
            return VT_ENOMEM;
        i = j;
    }
    return 0;
}

/* NFC, NFD, NFKC, NFKD through utf8proc, into our own buffers. */
static int apply_nf(enum nkind k, const char *s, size_t n, struct sbuf *out)
{
    int opts = UTF8PROC_STABLE | (k == N_NFC || k == N_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE) |
               (k == N_NFKC || k == N_NFKD ? UTF8PROC_COMPAT : 0);
    if (n == 0)
        return 0;
    /* a code point decomposes into at most 18 (utf8proc's own bound is smaller) */
    size_t cap = n + 16, got;
    utf8proc_int32_t *cp = NULL;
    for (;;) {
        cp = vt_malloc(cap * sizeof *cp);
        if (!cp)
            return VT_ENOMEM;
        utf8proc_ssize_t r = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n,
                                                cp, (utf8proc_ssize_t)cap, (utf8proc_option_t)opts);
        if (r < 0) {
            vt_free(cp);
            return VT_EINVAL;
        }
        got = (size_t)r;
        if (got <= cap)
            break;
        vt_free(cp);
        cap = got;
    }
    if (k == N_NFC || k == N_NFKC) {
        utf8proc_ssize_t r = utf8proc_normalize_utf32(cp, (utf8proc_ssize_t)got,
                                                      (utf8proc_option_t)opts);
        if (r < 0) {
            vt_free(cp);
            return VT_EINVAL;
        }
        got = (size_t)r;
    }
    int rc = 0;
    for (size_t i = 0; i < got && !rc; i++)
        rc = sb_putc(out, (uint32_t)cp[i]);
    vt_free(cp);
    return rc;
}

static int apply_lower(const char *s, size_t n, struct sbuf *out)
{
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += (size_t)vt_utf8_decode(s + i, n - i, &c);
        int rc = c == 0x130 ? sb_put(out, "i\xcc\x87", 3)
                            : sb_putc(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
        if (rc)
            return rc;
    }
    return 0;
}

/* SentencePiece's remove_extra_whitespaces: no leading or trailing space,
 * no two spaces in a row. */
static int apply_spm_ws(const char *s, size_t n, struct sbuf *out)
{
    size_t start = out->n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' && (out->n == start || out->p[out->n - 1] == ' '))
            continue;
        if (sb_put(out, s + i, 1))
            return VT_ENOMEM;
    }
    if (out->n > start && out->p[out->n - 1] == ' ')
        out->p[--out->n] = '\0';
    return 0;
}

/* Run every step over in (in place: in ends up holding the result). */
static int normalize_buf(const struct vt_unigram *u, struct sbuf *in, struct sbuf *tmp)
{
    for (size_t k = 0; k < u->nsteps; k++) {
        const struct nstep *st = &u->steps[k];
        int rc = 0;
        tmp->n = 0;
        if (sb_reserve(tmp, in->n))
            return VT_ENOMEM;
        tmp->p[0] = '\0';
        switch (st->kind) {
        case N_PRECOMPILED:
            rc = apply_precompiled(st, in->p, in->n, tmp);
            break;
        case N_STRIP:
            rc = apply_strip(st, in->p, in->n, tmp);
            break;
        case N_REPLACE:
            rc = apply_replace(st, in->p, in->n, tmp);
            break;
        case N_LOWER:
            rc = apply_lower(in->p, in->n, tmp);
            break;
        case N_SPM_WS:
            rc = apply_spm_ws(in->p, in->n, tmp);
            break;
        default:
            rc = apply_nf(st->kind, in->p, in->n, tmp);
            break;
        }
        if (rc)
            return rc;
        struct sbuf t = *in;
        *in = *tmp;
        *tmp = t;
    }
    return 0;
}

int unigram_normalize_bytes(const struct vt_unigram *u, const char *s, size_t n, char **out,
                            size_t *out_len)
{
    struct sbuf a = {0}, b = {0};
    int rc = sb_put(&a, s, n);
    if (!rc)
        rc = normalize_buf(u, &a, &b);
    vt_free(b.p);
    if (rc) {
        vt_free(a.p);
        return rc;
    }
    *out = a.p;
    *out_len = a.n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

struct span {
    size_t off, len;
    int origin;                     /* starts the text (for the "first" scheme) */
};

struct spans {
    struct span *v;
    size_t n, cap;
};

static int spans_push(struct spans *a, size_t off, size_t len, int origin)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        struct span *nv = vt_realloc(a->v, cap * sizeof *nv);
        if (!nv)
            return VT_ENOMEM;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = (struct span){off, len, origin};
    return 0;
}

struct enc {
    const struct vt_unigram *u;
    struct sbuf norm, tmp, pa, pb;
    struct spans sa, sb;
    double *best;                   /* Viterbi lattice, per byte position */
    uint32_t *from;
    int32_t *lid, *path;
    size_t lat_cap;
    int32_t *ids;
    size_t nids, cap_ids;
    size_t limit;                   /* pieces allowed between the specials */
    size_t count;
    int full;
};

static int push_id(struct enc *e, int32_t id)
{
    if (e->count >= e->limit) {
        e->full = 1;
        return 0;
    }
    if (e->nids == e->cap_ids) {
        size_t cap = e->cap_ids ? e->cap_ids * 2 : 64;
        int32_t *nv = vt_realloc(e->ids, cap * sizeof *nv);
        if (!nv)
            return VT_ENOMEM;
        e->ids = nv;
        e->cap_ids = cap;
    }
    e->ids[e->nids++] = id;
    if (++e->count >= e->limit)
        e->full = 1;
    return 0;
}

#define UNSET UINT32_MAX

/* Best segmentation of one pre-token s[0..n). */
static int viterbi(struct enc *e, const char *s, size_t n)
{
    const struct vt_unigram *u = e->u;
    if (n + 1 > e->lat_cap) {
        size_t cap = n + 1;
        vt_free(e->best);
        vt_free(e->from);
        vt_free(e->lid);
        vt_free(e->path);
        e->best = vt_malloc(cap * sizeof *e->best);
        e->from = vt_malloc(cap * sizeof *e->from);
        e->lid = vt_malloc(cap * sizeof *e->lid);
        e->path = vt_malloc(cap * sizeof *e->path);
        e->lat_cap = e->best && e->from && e->lid && e->path ? cap : 0;
        if (!e->lat_cap)
            return VT_ENOMEM;
    }
    double *best = e->best;
    uint32_t *from = e->from;
    int32_t *lid = e->lid;
    for (size_t i = 0; i <= n; i++)
        from[i] = UNSET;
    best[0] = 0;
    from[0] = 0;
    for (size_t start = 0; start < n;) {
        double base = best[start];
        size_t mblen = u8len((unsigned char)s[start]);
        int single = 0;
        uint64_t h = FNV_SEED;
        for (size_t k = start; k < n && k - start < u->max_piece;) {
            size_t cl = u8len((unsigned char)s[k]);
            h = fnv(s + k, cl, h);
            k += cl;
            const struct slot *sl = find(u, h, s + start, k - start);
            if (!sl)
                break;
            uint32_t id = sl->id1 - 1;
            if (sl->len != u->plen[id])
                continue;   /* only a prefix of longer pieces */
            double cand = base + u->score[id];
            if (from[k] == UNSET || cand > best[k]) {
                best[k] = cand;
                from[k] = (uint32_t)start;
                lid[k] = (int32_t)id;
            }
            if (k - start == mblen)
                single = 1;
        }
        if (!single) {
            size_t k = start + mblen;
            double cand = base + u->unk_score;
            if (from[k] == UNSET || cand > best[k]) {
                best[k] = cand;
                from[k] = (uint32_t)start;
                lid[k] = u->unk;
            }
        }
        start += mblen;
    }
    /* Walk back from the end; path[] holds the ids in reverse. */
    int32_t *path = e->path;
    size_t cnt = 0;
    for (size_t end = n; end > 0; end = from[end]) {
        int32_t id = lid[end];
        if (id == u->unk && cnt > 0 && path[cnt - 1] == u->unk)
            continue;   /* consecutive unknowns fuse into one */
        path[cnt++] = id;
    }
    int rc = 0;
    for (size_t i = cnt; i-- > 0 && !rc && !e->full;)
        rc = push_id(e, path[i]);
    return rc;
}

/* Pre-tokenize s[0..n) and run the model on each pre-token. */
static int pretok_and_model(struct enc *e, const char *s, size_t n, int origin)
{
    const struct vt_unigram *u = e->u;
    int rc;
    if (n == 0)
        return 0;
    struct sbuf *cur = &e->pa, *nxt = &e->pb;
    struct spans *sc = &e->sa, *sn = &e->sb;
    cur->n = 0;
    sc->n = 0;
    if ((rc = sb_put(cur, s, n)) || (rc = spans_push(sc, 0, n, origin)))
        return rc;
    for (size_t k = 0; k < u->npre; k++) {
        const struct pstep *ps = &u->pre[k];
        sn->n = 0;
        if (!ps->metaspace) {
            for (size_t i = 0; i < sc->n; i++) {
                const char *p = cur->p + sc->v[i].off;
                size_t len = sc->v[i].len, a = 0;
                while (a < len) {
                    uint32_t c;
                    size_t b = a;
                    while (b < len) {
                        int l = vt_utf8_decode(p + b, len - b, &c);
                        if (is_ws(c))
                            break;
                        b += (size_t)l;
                    }
                    if (b > a && (rc = spans_push(sn, sc->v[i].off + a, b - a,
                                                  sc->v[i].origin && a == 0)))
                        return rc;
                    if (b < len)
                        b += (size_t)vt_utf8_decode(p + b, len - b, &c);
                    a = b;
                }
            }
            struct spans *t = sc;
            sc = sn;
            sn = t;
            continue;
        }
        nxt->n = 0;
        for (size_t i = 0; i < sc->n; i++) {
            const char *p = cur->p + sc->v[i].off;
            size_t len = sc->v[i].len, start = nxt->n;
            int starts = (len && p[0] == ' ') ||
                         (len >= ps->repl_len && memcmp(p, ps->repl, ps->repl_len) == 0);
            if (!starts && (ps->prepend == PREPEND_ALWAYS ||
                            (ps->prepend == PREPEND_FIRST && sc->v[i].origin)) &&
                (rc = sb_put(nxt, ps->repl, ps->repl_len)))
                return rc;
            for (size_t j = 0; j < len; j++)
                if ((rc = p[j] == ' ' ? sb_put(nxt, ps->repl, ps->repl_len)
                                      : sb_put(nxt, p + j, 1)))
                    return rc;
            if (!ps->split) {
                if (nxt->n > start && (rc = spans_push(sn, start, nxt->n - start,
                                                       sc->v[i].origin)))
                    return rc;
                continue;
            }
            /* cut before every replacement character (merged with next) */
            size_t a = start;
            for (size_t j = start; j < nxt->n;) {
                if (j > a && nxt->n - j >= ps->repl_len &&
                    memcmp(nxt->p + j, ps->repl, ps->repl_len) == 0) {
                    if ((rc = spans_push(sn, a, j - a, sc->v[i].origin && a == start)))
                        return rc;
                    a = j;
                }
                j += u8len((unsigned char)nxt->p[j]);
            }
            if (nxt->n > a && (rc = spans_push(sn, a, nxt->n - a,
                                               sc->v[i].origin && a == start)))
                return rc;
        }
        struct sbuf *t = cur;
        cur = nxt;
        nxt = t;
        struct spans *ts = sc;
        sc = sn;
        sn = ts;
    }
    for (size_t i = 0; i < sc->n && !e->full; i++)
        if ((rc = viterbi(e, cur->p + sc->v[i].off, sc->v[i].len)))
            return rc;
    return 0;
}

/* The next added token of the given kind at or after from: [*ms, *me) and
 * its index in u->added; 0 when there is none. */
static int next_added(const struct vt_unigram *u, int normalized, const char *s, size_t n,
                      size_t from, size_t *ms, size_t *me, size_t *which)
{
    const uint8_t *first = normalized ? u->first_norm : u->first_raw;
    for (size_t i = from; i < n; i++) {
        if (!first[(unsigned char)s[i]])
            continue;
        size_t best = SIZE_MAX, blen = 0;
        for (size_t k = 0; k < u->nadded; k++) {
            const struct added *a = &u->added[k];
            if (a->normalized == normalized && a->len > blen && a->len <= n - i &&
                memcmp(s + i, a->s, a->len) == 0) {
                best = k;
                blen = a->len;
            }
        }
        if (best != SIZE_MAX) {
            *ms = i;
            *me = i + blen;
            *which = best;
            return 1;
        }
    }
    return 0;
}

/* Cut s[0..n) at added tokens of one kind; text between them goes to
 * emit_text, in order. */
static int split_added(struct enc *e, int normalized, const char *s, size_t n, int origin,
                       int (*emit_text)(struct enc *, const char *, size_t, int))
{
    const struct vt_unigram *u = e->u;
    size_t done = 0, scan = 0, ms, me, k;
    int rc;
    while (!e->full && next_added(u, normalized, s, n, scan, &ms, &me, &k)) {
        const struct added *a = &u->added[k];
        scan = me;
        uint32_t c;
        if (a->single_word) {
            size_t p = ms > 0 ? u8prev(s, ms) : 0;
            int before = ms > 0 && (vt_utf8_decode(s + p, n - p, &c), is_word_char(c));
            int after = me < n && (vt_utf8_decode(s + me, n - me, &c), is_word_char(c));
            if (before || after)
                continue;
        }
        if (a->lstrip) {
            while (ms > done) {
                size_t p = u8prev(s, ms);
                vt_utf8_decode(s + p, n - p, &c);
                if (!is_ws(c))
                    break;
                ms = p;
            }
        }
        if (a->rstrip) {
            while (me < n) {
                int l = vt_utf8_decode(s + me, n - me, &c);
                if (!is_ws(c))
                    break;
                me += (size_t)l;
            }
            scan = me;
        }
        if (ms > done && (rc = emit_text(e, s + done, ms - done, origin && done == 0)))
            return rc;
        if (!e->full && (rc = push_id(e, a->id)))
            return rc;
        done = me;
    }
    if (done < n && !e->full)
        return emit_text(e, s + done, n - done, origin && done == 0);
    return 0;
}

/* A piece of raw text between added tokens: normalise, then cut at the
 * added tokens that match normalised text, then pre-tokenize. */
static int emit_raw(struct enc *e, const char *s, size_t n, int origin)
{
    struct sbuf *nb = &e->norm;
    nb->n = 0;
    int rc = sb_put(nb, s, n);
    if (!rc)
        rc = normalize_buf(e->u, nb, &e->tmp);
    if (rc)
        return rc;
    /* split_added reads nb while pretok_and_model writes pa/pb only */
    return split_added(e, 1, nb->p, nb->n, origin, pretok_and_model);
}

static void enc_free(struct enc *e)
{
    vt_free(e->norm.p);
    vt_free(e->tmp.p);
    vt_free(e->pa.p);
    vt_free(e->pb.p);
    vt_free(e->sa.v);
    vt_free(e->sb.v);
    vt_free(e->best);
    vt_free(e->from);
    vt_free(e->lid);
    vt_free(e->path);
}

static int check_text(const char *text, size_t len, struct vt_error *err)
{
    if (len > VT_UNIGRAM_MAX_TEXT)
        return vt_error_set(err, VT_ETOOBIG, "text", "text of %zu bytes is over the %u-byte limit",
                            len, VT_UNIGRAM_MAX_TEXT);
    size_t bad;
    if (len && !vt_utf8_valid(text, len, &bad)) {
        vt_error_set(err, VT_EINVAL, "text", "text is not valid UTF-8 (or holds a NUL) at byte %zu",
                     bad);
        if (err)
            err->offset = (int64_t)bad;
        return VT_EINVAL;
    }
    return 0;
}

int vt_unigram_encode(const struct vt_unigram *u, const char *text, size_t len, int32_t **ids,
                      size_t *n, struct vt_error *err)
{
    *ids = NULL;
    *n = 0;
    int rc = check_text(text, len, err);
    if (rc)
        return rc;
    struct enc e = {0};
    e.u = u;
    size_t specials = u->nprefix + u->nsuffix;
    e.limit = !u->max_tokens ? SIZE_MAX : u->max_tokens > specials ? u->max_tokens - specials : 0;
    for (size_t i = 0; !rc && i < u->nprefix; i++) {
        size_t keep = e.limit;
        e.limit = SIZE_MAX;
        rc = push_id(&e, u->prefix[i]);
        e.limit = keep;
        e.count = 0;
    }
    e.full = e.limit == 0;
    if (!rc && !e.full)
        rc = split_added(&e, 0, text, len, 1, emit_raw);
    e.limit = SIZE_MAX;
    e.full = 0;
    for (size_t i = 0; !rc && i < u->nsuffix; i++)
        rc = push_id(&e, u->suffix[i]);
    int32_t *out = e.ids;
    size_t nout = e.nids;
    e.ids = NULL;
    enc_free(&e);
    if (rc) {
        vt_free(out);
        if (rc == VT_ENOMEM)
            return vt_error_set(err, VT_ENOMEM, "", "out of memory");
        return vt_error_set(err, rc, "text", "text could not be normalised");
    }
    if (!out && !(out = vt_malloc(sizeof *out)))
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    *ids = out;
    *n = nout;
    return 0;
}

int vt_unigram_normalize(const struct vt_unigram *u, const char *text, size_t len, char **out,
                         size_t *n, struct vt_error *err)
{
    *out = NULL;
    *n = 0;
    int rc = check_text(text, len, err);
    if (!rc && (rc = unigram_normalize_bytes(u, text, len, out, n)))
        vt_error_set(err, rc, "text", rc == VT_ENOMEM ? "out of memory"
                                                      : "text could not be normalised");
    return rc;
}

/* ------------------------------------------------------------------ */
/* Building                                                            */
/* ------------------------------------------------------------------ */

int unigram_add_added(struct vt_unigram *u, const char *s, size_t len, int32_t id, int lstrip,
                      int rstrip, int single_word, int normalized)
{
    if (len == 0)
        return 0;   /* an empty token can never be cut out */
    if (u->nadded >= MAX_ADDED)
        return VT_ETOOBIG;
    if (!u->added || (u->nadded & (u->nadded - 1)) == 0) {
        size_t cap = u->nadded ? u->nadded * 2 : 8;
        struct added *nv = vt_realloc(u->added, cap * sizeof *nv);
        if (!nv)
            return VT_ENOMEM;
        u->added = nv;
    }
    struct added *a = &u->added[u->nadded];
    if (!(a->s = unigram_dup_bytes(s, len)))
        return VT_ENOMEM;
    a->len = len;
    a->id = id;
    a->lstrip = lstrip != 0;
    a->rstrip = rstrip != 0;
    a->single_word = single_word != 0;
    a->normalized = normalized != 0;
    (normalized ? u->first_norm : u->first_raw)[(unsigned char)s[0]] = 1;
    u->nadded++;
    return 0;
}

int unigram_finish(struct vt_unigram *u, double min_score, const char *name,
                   struct vt_error *err)
{
    u->unk_score = min_score - UNK_PENALTY;
    size_t vs = u->n;
    for (size_t i = 0; i < u->nadded; i++) {
        if (u->added[i].id < 0)
            return vt_error_set(err, VT_EFORMAT, "added_tokens", "%s: added token \"%.40s\" has "
                                "a negative id", name, u->added[i].s);
        if ((size_t)u->added[i].id + 1 > vs)
            vs = (size_t)u->added[i].id + 1;
    }
    u->vocab_size = vs;
    if (u->unk < 0 || (size_t)u->unk >= u->n)
        return vt_error_set(err, VT_EFORMAT, "model.unk_id",
                            "%s: the unknown piece is missing or out of range (unk_id %d of %zu "
                            "pieces)", name, (int)u->unk, u->n);
    for (size_t i = 0; i < u->nprefix + u->nsuffix; i++) {
        int32_t id = i < u->nprefix ? u->prefix[i] : u->suffix[i - u->nprefix];
        if (id < 0 || (size_t)id >= vs)
            return vt_error_set(err, VT_EFORMAT, "post_processor",
                                "%s: special token id %d is outside the vocabulary (%zu)", name,
                                (int)id, vs);
    }
    uint64_t h = FNV_SEED;
    h = fnv(u->pool, u->pool_len, h);
    h = fnv(u->score, u->n * sizeof *u->score, h);
    for (size_t k = 0; k < u->nsteps; k++) {
        const struct nstep *st = &u->steps[k];
        uint64_t f[7] = {st->kind, (uint64_t)st->left, (uint64_t)st->right, (uint64_t)st->run,
                         st->run_cp, st->run_min, st->run_max};
        h = fnv(f, sizeof f, h);
        h = fnv(st->units, st->nunits * sizeof *st->units, h);
        h = fnv(st->strs, st->nstrs, h);
        h = fnv(st->pat, st->pat_len, h);
        h = fnv(st->content, st->content_len, h);
    }
    for (size_t k = 0; k < u->npre; k++) {
        const struct pstep *ps = &u->pre[k];
        uint64_t f[4] = {(uint64_t)ps->metaspace, ps->repl_cp, ps->prepend, (uint64_t)ps->split};
        h = fnv(f, sizeof f, h);
    }
    for (size_t i = 0; i < u->nadded; i++) {
        const struct added *a = &u->added[i];
        h = fnv(a->s, a->len + 1, h);
        uint8_t f[4] = {a->lstrip, a->rstrip, a->single_word, a->normalized};
        h = fnv(&a->id, sizeof a->id, h);
        h = fnv(f, sizeof f, h);
    }
    h = fnv(u->prefix, u->nprefix * sizeof *u->prefix, h);
    h = fnv("|", 1, h);
    h = fnv(u->suffix, u->nsuffix * sizeof *u->suffix, h);
    h = fnv(&u->unk, sizeof u->unk, h);
    u->digest = h;
    return 0;
}

int vt_unigram_new_spm(const struct vt_unigram_spm *s, struct vt_unigram **out,
                       struct vt_error *err)
{
    *out = NULL;
    struct vt_unigram *u = vt_calloc(1, sizeof *u);
    double *scores = vt_calloc(s->n ? s->n : 1, sizeof *scores);
    int rc = 0;
    if (!u || !scores) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    double min_normal = 0, min_all = 0;
    int any_normal = 0;
    for (size_t i = 0; i < s->n; i++) {
        scores[i] = (double)s->scores[i];
        int32_t t = s->types ? s->types[i] : VT_UNIGRAM_NORMAL;
        if (scores[i] < min_all || i == 0)
            min_all = scores[i];
        if (t == VT_UNIGRAM_NORMAL && (!any_normal || scores[i] < min_normal)) {
            min_normal = scores[i];
            any_normal = 1;
        }
        if (t == VT_UNIGRAM_BYTE) {
            rc = vt_error_set(err, VT_EFORMAT, "tokenizer.ggml.token_type",
                              "byte pieces (byte fallback) are not supported");
            goto out;
        }
    }
    if ((rc = unigram_vocab_build(u, s->pieces, s->piece_lens, scores, s->n,
                                  "tokenizer.ggml.tokens", err)))
        goto out;
    u->unk = s->unk;
    for (size_t i = 0; s->types && i < s->n; i++) {
        int32_t t = s->types[i];
        if ((t == VT_UNIGRAM_CONTROL || t == VT_UNIGRAM_USER || t == VT_UNIGRAM_UNKNOWN) &&
            u->plen[i] &&
            (rc = unigram_add_added(u, s->pieces[i], s->piece_lens[i], (int32_t)i, 0, 0, 0,
                                    0))) {
            rc = vt_error_set(err, rc, "", "out of memory");
            goto out;
        }
    }
    if (s->charsmap && s->charsmap_len) {
        if ((rc = unigram_charsmap_init(&u->steps[u->nsteps++], s->charsmap, s->charsmap_len,
                                        "tokenizer.ggml.precompiled_charsmap", err)))
            goto out;
    }
    if (s->remove_extra_whitespaces)
        u->steps[u->nsteps++].kind = N_SPM_WS;
    struct pstep *ps = &u->pre[u->npre++];
    ps->metaspace = 1;
    memcpy(ps->repl, "\xe2\x96\x81", 4);
    ps->repl_len = 3;
    ps->repl_cp = 0x2581;
    ps->prepend = s->add_space_prefix ? PREPEND_ALWAYS : PREPEND_NEVER;
    ps->split = 1;
    if (s->add_bos && s->bos >= 0)
        u->prefix[u->nprefix++] = s->bos;
    if (s->add_eos && s->eos >= 0)
        u->suffix[u->nsuffix++] = s->eos;
    u->max_tokens = s->max_tokens;
    rc = unigram_finish(u, any_normal ? min_normal : min_all, "tokenizer.ggml.tokens", err);
out:
    vt_free(scores);
    if (rc) {
        vt_unigram_free(u);
        return rc;
    }
    *out = u;
    return 0;
}
