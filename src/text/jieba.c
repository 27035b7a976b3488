/*
 * jieba.c - dictionary segmentation (maximum-probability path over the
 * word DAG), compatible with jieba's cut(HMM=False).
 *
 * The trie: node 0 is the root; an edge (parent, code point) -> child lives
 * in one open-addressing hash table keyed by (parent << 21 | code point),
 * linear probing, load factor at most 0.7. Every prefix of a word is a node
 * (frequency 0 unless it is a word itself), which is what lets the DAG
 * builder stop as soon as a span is no longer a prefix of any word. A word's
 * log frequency is cached per node so the DP does one subtraction per edge
 * (log(freq) - log(total), in that order, to reproduce jieba's doubles bit
 * for bit: ties between paths are broken the same way).
 *
 * Invariants: key 0 marks an empty slot (code point 0 is never inserted);
 * at least one slot is always empty, so probes terminate; every stored
 * child id and every parent id in a key is < n_nodes.
 */
#include "text/jieba.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "text/datafile.h"
#include "text/normalize.h"

#define DICT_MAX_BYTES ((size_t)256 << 20)
#define WORD_MAX_CPS 64
#define CP_BITS 21

struct vt_jieba {
    uint64_t *keys;  /* slot -> (parent << 21 | cp), 0 = empty */
    uint32_t *vals;  /* slot -> child node */
    uint32_t bits;   /* table has 1 << bits slots */
    uint32_t used;   /* occupied slots = n_nodes - 1 */
    uint32_t *freq;  /* node -> frequency, 0 for a mere prefix */
    double *logf;    /* node -> log(freq) when freq > 0 */
    uint32_t n_nodes, cap_nodes;
    size_t n_words;
    int64_t total;
    double log_total;
};

/* ---- tokens ------------------------------------------------------------ */

void vt_tokens_init(struct vt_tokens *t)
{
    t->v = NULL;
    t->n = t->cap = 0;
}

void vt_tokens_reset(struct vt_tokens *t)
{
    vt_free(t->v);
    vt_tokens_init(t);
}

static int tokens_push(struct vt_tokens *t, size_t off, size_t len, int kind)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        size_t bytes;
        if (vt_mul_size(cap, sizeof *t->v, &bytes))
            return VT_ENOMEM;
        struct vt_token *v = vt_realloc(t->v, bytes);
        if (!v)
            return VT_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n].off = (uint32_t)off;
    t->v[t->n].len = (uint32_t)len;
    t->v[t->n].kind = (uint8_t)kind;
    t->n++;
    return 0;
}

/* ---- trie ------------------------------------------------------------- */

static inline uint64_t edge_key(uint32_t parent, uint32_t cp)
{
    return ((uint64_t)parent << CP_BITS) | cp;
}

static inline size_t slot_of(uint64_t key, uint32_t bits)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

/* Child of node under cp, or 0 (the root is never a child). */
static inline uint32_t trie_child(const struct vt_jieba *j, uint32_t node, uint32_t cp)
{
    uint64_t key = edge_key(node, cp);
    size_t mask = ((size_t)1 << j->bits) - 1;
    for (size_t s = slot_of(key, j->bits);; s = (s + 1) & mask) {
        if (j->keys[s] == key)
            return j->vals[s];
        if (j->keys[s] == 0)
            return 0;
    }
}

static int trie_grow_table(struct vt_jieba *j)
{
    uint32_t bits = j->bits + 1;
    size_t n = (size_t)1 << bits;
    uint64_t *keys = vt_calloc(n, sizeof *keys);
    uint32_t *vals = vt_calloc(n, sizeof *vals);
    if (!keys || !vals) {
        vt_free(keys);
        vt_free(vals);
        return VT_ENOMEM;
    }
    size_t old_n = j->keys ? (size_t)1 << j->bits : 0;
    for (size_t i = 0; i < old_n; i++) {
        if (!j->keys[i])
            continue;
        size_t s = slot_of(j->keys[i], bits);
        while (keys[s])
            s = (s + 1) & (n - 1);
        keys[s] = j->keys[i];
        vals[s] = j->vals[i];
    }
    vt_free(j->keys);
    vt_free(j->vals);
    j->keys = keys;
    j->vals = vals;
    j->bits = bits;
    return 0;
}

static int trie_new_node(struct vt_jieba *j, uint32_t *id)
{
    if (j->n_nodes == j->cap_nodes) {
        if (j->cap_nodes >= UINT32_MAX / 2)
            return VT_ENOMEM;
        uint32_t cap = j->cap_nodes ? j->cap_nodes * 2 : 1024;
        uint32_t *freq = vt_realloc(j->freq, (size_t)cap * sizeof *freq);
        if (!freq)
            return VT_ENOMEM;
        j->freq = freq;
        double *logf = vt_realloc(j->logf, (size_t)cap * sizeof *logf);
        if (!logf)
            return VT_ENOMEM;
        j->logf = logf;
        j->cap_nodes = cap;
    }
    *id = j->n_nodes++;
    j->freq[*id] = 0;
    j->logf[*id] = 0;
    return 0;
}

/* Child of node under cp, created when missing. */
static int trie_child_add(struct vt_jieba *j, uint32_t node, uint32_t cp, uint32_t *child)
{
    uint32_t c = trie_child(j, node, cp);
    if (c) {
        *child = c;
        return 0;
    }
    /* Keep the load factor at or below 0.7 (and a free slot always). */
    if ((uint64_t)(j->used + 1) * 10 > ((uint64_t)1 << j->bits) * 7) {
        int rc = trie_grow_table(j);
        if (rc)
            return rc;
    }
    int rc = trie_new_node(j, &c);
    if (rc)
        return rc;
    uint64_t key = edge_key(node, cp);
    size_t mask = ((size_t)1 << j->bits) - 1;
    size_t s = slot_of(key, j->bits);
    while (j->keys[s])
        s = (s + 1) & mask;
    j->keys[s] = key;
    j->vals[s] = c;
    j->used++;
    *child = c;
    return 0;
}

/* Insert word (valid UTF-8, no NUL) with freq, as jieba's loader does: the
 * frequency replaces an earlier one, the total adds every line. */
static int trie_insert(struct vt_jieba *j, const char *w, size_t n, uint32_t freq)
{
    uint32_t node = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = vt_utf8_decode(w + i, n - i, &cp);
        if (len <= 0 || cp == 0)
            return VT_EINVAL;
        int rc = trie_child_add(j, node, cp, &node);
        if (rc)
            return rc;
        i += (size_t)len;
    }
    if (node == 0)
        return VT_EINVAL;
    if (j->freq[node] == 0)
        j->n_words++;
    j->freq[node] = freq;
    j->logf[node] = freq ? log((double)freq) : 0;
    j->total += freq;
    return 0;
}

/* An empty segmenter whose table suits a dictionary of about dict_bytes
 * (jieba's has one trie node per 10 bytes or so); it grows as needed. */
static int jieba_alloc(struct vt_jieba **out, size_t dict_bytes)
{
    struct vt_jieba *j = vt_calloc(1, sizeof *j);
    if (!j)
        return VT_ENOMEM;
    j->bits = 10;
    while (j->bits < 26 && ((size_t)1 << j->bits) * 7 / 10 < dict_bytes / 10)
        j->bits++;
    j->bits--; /* trie_grow_table() below doubles the table to 1 << bits */
    uint32_t root;
    if (trie_grow_table(j) || trie_new_node(j, &root)) {
        vt_jieba_free(j);
        return VT_ENOMEM;
    }
    *out = j;
    return 0;
}

void vt_jieba_free(struct vt_jieba *j)
{
    if (!j)
        return;
    vt_free(j->keys);
    vt_free(j->vals);
    vt_free(j->freq);
    vt_free(j->logf);
    vt_free(j);
}

size_t vt_jieba_size(const struct vt_jieba *j)
{
    return j->n_words;
}

int64_t vt_jieba_total(const struct vt_jieba *j)
{
    return j->total;
}

/* ---- dict.txt ------------------------------------------------------------ */

/* Parse dict.txt: "word freq [tag]" separated by single spaces; the tag is
 * ignored. Empty lines are skipped. */
static int parse_dict(struct vt_jieba *j, const char *path, const char *data, size_t len,
                      struct vt_error *err)
{
    struct vt_lines it;
    const char *s;
    size_t n;
    vt_lines_init(&it, data, len);
    while (vt_lines_next(&it, &s, &n)) {
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0)
            continue;
        const char *sp = memchr(s, ' ', n);
        size_t wlen = sp ? (size_t)(sp - s) : 0;
        uint64_t f = 0;
        int digits = 0;
        if (sp) {
            for (const char *p = sp + 1; p < s + n && *p != ' '; p++, digits++) {
                if (*p < '0' || *p > '9' || f > UINT32_MAX) {
                    digits = 0;
                    break;
                }
                f = f * 10 + (uint64_t)(*p - '0');
            }
        }
        size_t bad;
        if (wlen == 0 || digits == 0 || f > UINT32_MAX || !vt_utf8_valid(s, wlen, &bad)) {
            int rc = vt_error_set(err, VT_EFORMAT, "dict",
                                  "%s:%d: expected \"word frequency [tag]\"", path, it.line);
            if (err)
                err->line = it.line;
            return rc;
        }
        int rc = trie_insert(j, s, wlen, (uint32_t)f);
        if (rc)
            return vt_error_set(err, rc, "dict", "%s:%d: cannot add the word", path, it.line);
    }
    if (j->total <= 0)
        return vt_error_set(err, VT_EFORMAT, "dict", "%s: no word with a frequency", path);
    return 0;
}

/* ---- binary cache ----------------------------------------------------------
 * Little-endian image of the trie, written by the machine that reads it:
 *   0   8  magic "VTJIEBA1"
 *   8   4  u32 0x01020304 (byte order check)
 *  12   4  u32 bits (table has 1 << bits slots)
 *  16   8  u64 size of the dict.txt it was built from
 *  24   8  i64 its modification time, seconds
 *  32   8  i64 its modification time, nanoseconds
 *  40   8  i64 total frequency
 *  48   8  u64 number of words
 *  56   4  u32 number of nodes
 *  60   4  u32 occupied slots
 *  64      u64 keys[1 << bits], u32 vals[1 << bits], u32 freq[nodes]
 * Everything read back is range-checked before use.
 */
#define CACHE_MAGIC "VTJIEBA1"
#define CACHE_HDR 64

struct cache_hdr {
    char magic[8];
    uint32_t order, bits;
    uint64_t src_size;
    int64_t src_sec, src_nsec;
    int64_t total;
    uint64_t n_words;
    uint32_t n_nodes, used;
};

static int cache_read(struct vt_jieba **out, const char *cache_path, const struct stat *src)
{
    struct vt_jieba *j = NULL;
    struct cache_hdr h;
    struct stat st;
    int rc = VT_EFORMAT;

    _Static_assert(sizeof h == CACHE_HDR, "cache header layout");
    FILE *f = fopen(cache_path, "rb");
    if (!f)
        return VT_EIO;
    if (fstat(fileno(f), &st) != 0 || fread(&h, sizeof h, 1, f) != 1)
        goto out;
    if (memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.order != 0x01020304 || h.bits < 10 ||
        h.bits > 30 || h.src_size != (uint64_t)src->st_size ||
        h.src_sec != (int64_t)src->st_mtim.tv_sec || h.src_nsec != (int64_t)src->st_mtim.tv_nsec ||
        h.n_nodes == 0 || h.used != h.n_nodes - 1 || h.used >= ((uint32_t)1 << h.bits) ||
        h.total <= 0)
        goto out;
    size_t slots = (size_t)1 << h.bits;
    if ((uint64_t)st.st_size != CACHE_HDR + (uint64_t)slots * 12 + (uint64_t)h.n_nodes * 4)
        goto out;
    j = vt_calloc(1, sizeof *j);
    if (!j) {
        rc = VT_ENOMEM;
        goto out;
    }
    j->keys = vt_malloc(slots * sizeof *j->keys);
    j->vals = vt_malloc(slots * sizeof *j->vals);
    j->freq = vt_malloc((size_t)h.n_nodes * sizeof *j->freq);
    j->logf = vt_malloc((size_t)h.n_nodes * sizeof *j->logf);
    if (!j->keys || !j->vals || !j->freq || !j->logf) {
        rc = VT_ENOMEM;
        goto out;
    }
    if (fread(j->keys, 8, slots, f) != slots || fread(j->vals, 4, slots, f) != slots ||
        fread(j->freq, 4, h.n_nodes, f) != h.n_nodes)
        goto out;
    /* A damaged image must not send a lookup out of bounds. */
    size_t occupied = 0;
    for (size_t i = 0; i < slots; i++) {
        if (!j->keys[i])
            continue;
        occupied++;
        if ((j->keys[i] >> CP_BITS) >= h.n_nodes || j->vals[i] == 0 ||
            j->vals[i] >= h.n_nodes || (j->keys[i] & ((1u << CP_BITS) - 1)) == 0)
            goto out;
    }
    if (occupied != h.used)
        goto out;
    size_t words = 0;
    for (uint32_t i = 0; i < h.n_nodes; i++) {
        j->logf[i] = j->freq[i] ? log((double)j->freq[i]) : 0;
        words += j->freq[i] != 0;
    }
    j->bits = h.bits;
    j->used = h.used;
    j->n_nodes = j->cap_nodes = h.n_nodes;
    j->n_words = words;
    j->total = h.total;
    *out = j;
    j = NULL;
    rc = 0;
out:
    fclose(f);
    vt_jieba_free(j);
    return rc;
}

static int cache_write(const struct vt_jieba *j, const char *cache_path, const struct stat *src)
{
    struct cache_hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.order = 0x01020304;
    h.bits = j->bits;
    h.src_size = (uint64_t)src->st_size;
    h.src_sec = (int64_t)src->st_mtim.tv_sec;
    h.src_nsec = (int64_t)src->st_mtim.tv_nsec;
    h.total = j->total;
    h.n_words = j->n_words;
    h.n_nodes = j->n_nodes;
    h.used = j->used;

    size_t plen = strlen(cache_path);
    char *tmp = vt_malloc(plen + 16);
    if (!tmp)
        return VT_ENOMEM;
    snprintf(tmp, plen + 16, "%s.%ld.tmp", cache_path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int rc = VT_EIO;
    if (f) {
        size_t slots = (size_t)1 << j->bits;
        int ok = fwrite(&h, sizeof h, 1, f) == 1 &&
                 fwrite(j->keys, 8, slots, f) == slots &&
                 fwrite(j->vals, 4, slots, f) == slots &&
                 fwrite(j->freq, 4, j->n_nodes, f) == j->n_nodes;
        if (fclose(f) == 0 && ok && rename(tmp, cache_path) == 0)
            rc = 0;
    }
    if (rc) {
        vt_warn("jieba cache not written", "path=\"%s\" error=\"%s\"", cache_path,
                strerror(errno));
        remove(tmp);
    }
    vt_free(tmp);
    return rc;
}

int vt_jieba_load(const char *dict_path, const char *cache_path, struct vt_jieba **out,
                  struct vt_error *err)
{
    struct vt_jieba *j = NULL;
    char *data = NULL;
    size_t len;
    struct stat st;
    int rc;

    *out = NULL;
    if (stat(dict_path, &st) != 0)
        return vt_error_set(err, VT_EIO, "dict", "%s: %s", dict_path, strerror(errno));
    if (cache_path && cache_read(&j, cache_path, &st) == 0) {
        j->log_total = log((double)j->total);
        *out = j;
        return 0;
    }
    rc = vt_datafile_read(dict_path, DICT_MAX_BYTES, &data, &len, err);
    if (rc)
        goto out;
    rc = jieba_alloc(&j, len);
    if (rc) {
        vt_error_set(err, rc, "dict", "out of memory loading %s", dict_path);
        goto out;
    }
    rc = parse_dict(j, dict_path, data, len, err);
    if (rc)
        goto out;
    j->log_total = log((double)j->total);
    if (cache_path)
        cache_write(j, cache_path, &st);
    *out = j;
    j = NULL;
out:
    vt_jieba_free(j);
    vt_free(data);
    return rc;
}

/* ---- segmentation ---------------------------------------------------------- */

/* jieba's Han-block class: [\u4E00-\u9FD5a-zA-Z0-9+#&._%-] */
static int in_han_block(uint32_t cp)
{
    if (cp >= 0x4E00 && cp <= 0x9FD5)
        return 1;
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return 1;
        if (cp >= '0' && cp <= '9')
            return 1;
        return cp == '+' || cp == '#' || cp == '&' || cp == '.' || cp == '_' || cp == '%' ||
               cp == '-';
    }
    return 0;
}

static int is_ascii_alnum(uint32_t cp)
{
    return (cp < 0x80) && (((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || (cp >= '0' && cp <= '9'));
}

/* Python's str.isspace(), which jieba's \s means: Unicode White_Space plus
 * the information separators U+001C..U+001F. */
static int py_isspace(uint32_t cp)
{
    return vt_is_space(cp) || (cp >= 0x1C && cp <= 0x1F);
}

static int token_kind(const char *s, size_t n)
{
    int all_alnum = 1;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = vt_utf8_decode(s + i, n - i, &cp);
        if (len <= 0)
            break;
        if (vt_is_han(cp))
            return VT_TOK_HAN;
        if (!is_ascii_alnum(cp))
            all_alnum = 0;
        i += (size_t)len;
    }
    return all_alnum ? VT_TOK_ALNUM : VT_TOK_PUNCT;
}

/* Work arrays for one Han block, sized for the longest block. */
struct cut_work {
    uint32_t *cp;   /* code points */
    uint32_t *off;  /* byte offset of each code point, plus one past the end */
    double *best;   /* best log probability from position i to the end */
    uint32_t *next; /* end (exclusive) of the word chosen at i */
};

static int emit(struct vt_tokens *out, const char *s, size_t off, size_t len)
{
    return tokens_push(out, off, len, token_kind(s + off, len));
}

static int cut_block(const struct vt_jieba *j, const char *s, struct cut_work *w, size_t nb,
                     struct vt_tokens *out)
{
    /* DP from the right over the word DAG. */
    w->best[nb] = 0;
    for (size_t i = nb; i-- > 0;) {
        double best = -INFINITY;
        size_t arg = i + 1;
        int found = 0;
        uint32_t node = 0;
        for (size_t k = i; k < nb; k++) {
            node = trie_child(j, node, w->cp[k]);
            if (!node)
                break;
            if (j->freq[node] == 0)
                continue;
            found = 1;
            double v = (j->logf[node] - j->log_total) + w->best[k + 1];
            if (v >= best) { /* ties: the longer word, as jieba's max() */
                best = v;
                arg = k + 1;
            }
        }
        if (!found) {
            best = (0.0 - j->log_total) + w->best[i + 1]; /* freq 1 */
            arg = i + 1;
        }
        w->best[i] = best;
        w->next[i] = (uint32_t)arg;
    }
    /* Follow the path, gluing single ASCII letters/digits back together. */
    size_t glue_start = 0, glue_end = 0; /* code-point span, empty when equal */
    for (size_t i = 0; i < nb;) {
        size_t e = w->next[i];
        if (e == i + 1 && is_ascii_alnum(w->cp[i])) {
            if (glue_start == glue_end)
                glue_start = i;
            glue_end = e;
        } else {
            if (glue_start != glue_end) {
                int rc = emit(out, s, w->off[glue_start], w->off[glue_end] - w->off[glue_start]);
                if (rc)
                    return rc;
                glue_start = glue_end = 0;
            }
            int rc = emit(out, s, w->off[i], w->off[e] - w->off[i]);
            if (rc)
                return rc;
        }
        i = e;
    }
    if (glue_start != glue_end)
        return emit(out, s, w->off[glue_start], w->off[glue_end] - w->off[glue_start]);
    return 0;
}

int vt_jieba_cut(const struct vt_jieba *j, const char *s, size_t n, struct vt_tokens *out,
                 struct vt_error *err)
{
    struct cut_work w = {0};
    int rc;

    out->n = 0;
    rc = vt_text_check(s, n, err);
    if (rc)
        return rc;
    if (n == 0)
        return 0;
    /* At most n code points; +1 for the end sentinels. */
    w.cp = vt_malloc((n + 1) * sizeof *w.cp);
    w.off = vt_malloc((n + 1) * sizeof *w.off);
    w.best = vt_malloc((n + 1) * sizeof *w.best);
    w.next = vt_malloc((n + 1) * sizeof *w.next);
    if (!w.cp || !w.off || !w.best || !w.next) {
        rc = vt_error_set(err, VT_ENOMEM, "text", "out of memory segmenting text");
        goto out;
    }
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = vt_utf8_decode(s + i, n - i, &cp);
        if (in_han_block(cp)) {
            size_t nb = 0;
            while (i < n) {
                len = vt_utf8_decode(s + i, n - i, &cp);
                if (!in_han_block(cp))
                    break;
                w.cp[nb] = cp;
                w.off[nb++] = (uint32_t)i;
                i += (size_t)len;
            }
            w.off[nb] = (uint32_t)i;
            rc = cut_block(j, s, &w, nb, out);
        } else if (cp == '\r' && i + 1 < n && s[i + 1] == '\n') {
            rc = tokens_push(out, i, 2, VT_TOK_SPACE);
            i += 2;
        } else {
            rc = tokens_push(out, i, (size_t)len, py_isspace(cp) ? VT_TOK_SPACE
                                                   : vt_is_han(cp) ? VT_TOK_HAN
                                                                   : VT_TOK_PUNCT);
            i += (size_t)len;
        }
        if (rc) {
            vt_error_set(err, rc, "text", "out of memory segmenting text");
            goto out;
        }
    }
    rc = 0;
out:
    vt_free(w.cp);
    vt_free(w.off);
    vt_free(w.best);
    vt_free(w.next);
    return rc;
}

/* ---- user words ------------------------------------------------------------- */

static uint32_t lookup(const struct vt_jieba *j, const char *w, size_t n)
{
    uint32_t node = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int len = vt_utf8_decode(w + i, n - i, &cp);
        if (len <= 0)
            return 0;
        node = trie_child(j, node, cp);
        if (!node)
            return 0;
        i += (size_t)len;
    }
    return node;
}

uint32_t vt_jieba_freq(const struct vt_jieba *j, const char *word, size_t n)
{
    uint32_t node = n ? lookup(j, word, n) : 0;
    return node ? j->freq[node] : 0;
}

int vt_jieba_add_word(struct vt_jieba *j, const char *word, size_t n, uint32_t freq)
{
    size_t bad;
    if (!word || n == 0 || !vt_utf8_valid(word, n, &bad) || vt_utf8_len(word, n) > WORD_MAX_CPS)
        return VT_EINVAL;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = vt_utf8_decode(word + i, n - i, &cp);
        if (py_isspace(cp))
            return VT_EINVAL;
        i += (size_t)len;
    }
    if (freq == 0) {
        /* Smallest frequency that beats the current cut of the word:
         * total * prod(P(piece)) + 1, and never below its own. */
        struct vt_tokens t;
        vt_tokens_init(&t);
        int rc = vt_jieba_cut(j, word, n, &t, NULL);
        if (rc) {
            vt_tokens_reset(&t);
            return rc;
        }
        double p = 1;
        for (size_t k = 0; k < t.n; k++) {
            uint32_t f = vt_jieba_freq(j, word + t.v[k].off, t.v[k].len);
            p *= (double)(f ? f : 1) / (double)j->total;
        }
        vt_tokens_reset(&t);
        double want = floor(p * (double)j->total) + 1;
        uint32_t own = vt_jieba_freq(j, word, n);
        freq = want > (double)UINT32_MAX ? UINT32_MAX : (uint32_t)want;
        if (own > freq)
            freq = own;
    }
    uint32_t node = lookup(j, word, n);
    if (node && j->freq[node]) {
        /* Replace: keep the total a sum over distinct words' last values;
         * trie_insert counts the word again. */
        j->total -= j->freq[node];
        j->freq[node] = 0;
        j->n_words--;
    }
    int rc = trie_insert(j, word, n, freq);
    j->log_total = log((double)j->total);
    return rc;
}
