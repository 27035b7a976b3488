/*
 * cedict.c - CC-CEDICT loading with gloss selection, and the Chinese →
 * English bridge.
 *
 * Loading makes two passes over the file. The first counts how often each
 * English word occurs anywhere in the glosses: a word that CC-CEDICT uses a
 * lot ("table", "black", "rock") is a common English word, one it uses once
 * or twice ("teapoy", "icebox") is not. The second pass scores every usable
 * gloss of every entry and keeps the best per headword:
 *
 *   score = - position among the entry's usable glosses
 *           - 0.8 per word beyond the first
 *           - 1.5 per earlier usable entry of the same headword
 *           + 0.5 * min(log(1 + count of its rarest word), 4)
 *           - 100 for an entry of a proper noun (capitalised pinyin)
 *
 * so the first sense usually wins, but a later one-word sense beats a
 * first multi-word one, and a common word beats an obscure synonym
 * (钟: "handleless cup" → "clock"; 石: "ten pecks" → "rock"). The
 * weights were set by comparing choices over the 3,000 most frequent jieba
 * words that CC-CEDICT has.
 *
 * Invariant: every string handed out lives in a strmap pool owned by the
 * object that returned it.
 */
#include "text/cedict.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "text/datafile.h"
#include "text/glossary.h"
#include "text/normalize.h"
#include "text/strmap.h"

#define CEDICT_MAX_BYTES ((size_t)64 << 20)
#define GLOSS_MAX_WORDS 4
#define GLOSS_MAX_BYTES 96
#define SPLIT_MAX_CPS 8 /* longest piece tried when splitting an unknown word */

/* Per simplified headword, while loading. */
struct head {
    double score;
    uint64_t gloss; /* pool offset in d->heads */
    uint16_t n_lower, n_proper; /* usable entries seen so far */
};

struct vt_cedict {
    struct vt_strmap heads; /* simplified -> index into h[] */
    struct vt_strmap trad;  /* traditional -> index into h[] */
    struct head *h;
    size_t nh, caph;
    size_t n_glossed;
};

/* ---- one line ------------------------------------------------------------ */

struct entry {
    const char *trad, *simp, *pinyin, *glosses;
    size_t trad_n, simp_n, pinyin_n, glosses_n; /* glosses without the outer slashes */
};

/* "Trad Simp [pin yin] /g1/g2/" → fields; 0 or -1 when malformed. */
static int parse_entry(const char *s, size_t n, struct entry *e)
{
    const char *end = s + n, *p = s, *q;
    if (!(q = memchr(p, ' ', (size_t)(end - p))) || q == p)
        return -1;
    e->trad = p;
    e->trad_n = (size_t)(q - p);
    p = q + 1;
    if (!(q = memchr(p, ' ', (size_t)(end - p))) || q == p)
        return -1;
    e->simp = p;
    e->simp_n = (size_t)(q - p);
    p = q + 1;
    if (p >= end || *p != '[' || !(q = memchr(p, ']', (size_t)(end - p))))
        return -1;
    e->pinyin = p + 1;
    e->pinyin_n = (size_t)(q - p - 1);
    p = q + 1;
    if (end - p < 3 || p[0] != ' ' || p[1] != '/' || end[-1] != '/')
        return -1;
    e->glosses = p + 2;
    e->glosses_n = (size_t)(end - p - 3);
    return 0;
}

static const char *const skip_prefixes[] = {
    "CL:", "variant of", "old variant of", "see ", "surname ", "used in ", "abbr. ",
    "classifier for", "Japanese variant", "erhua variant", "also written", "also pr.",
    "fig. ", "lit. ", "euphemism", "translit", "(old)", "(archaic)", "(literary)",
    "(dialect)", "(Tw)", "(Internet slang)", "(slang)", "(onom.)", "(honorific)", "(polite)",
};

static int starts_with(const char *s, size_t n, const char *pfx)
{
    size_t k = strlen(pfx);
    return n >= k && memcmp(s, pfx, k) == 0;
}

static int is_filler(const char *w, size_t n)
{
    static const char *const fill[] = {"sth", "sb", "one's", "oneself", "something",
                                       "somebody", "someone"};
    for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++)
        if (strlen(fill[i]) == n && memcmp(fill[i], w, n) == 0)
            return 1;
    return 0;
}

/* Clean one gloss into out (GLOSS_MAX_BYTES + 1); returns its word count,
 * 0 when the gloss is not usable. */
static int clean_gloss(const char *g, size_t n, char *out)
{
    for (size_t i = 0; i < sizeof skip_prefixes / sizeof skip_prefixes[0]; i++)
        if (starts_with(g, n, skip_prefixes[i]))
            return 0;
    /* Drop (...) and [...]; stop at ';' or ','; refuse anything that is not
     * plain English letters, spaces, hyphens and apostrophes. */
    char tmp[GLOSS_MAX_BYTES + 1];
    size_t t = 0;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = g[i];
        if (c == '(' || c == '[') {
            depth++;
            continue;
        }
        if (c == ')' || c == ']') {
            if (depth > 0)
                depth--;
            continue;
        }
        if (depth)
            continue;
        if (c == ';' || c == ',')
            break;
        int ok = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == ' ' || c == '-' ||
                 c == '\'' || c == '.';
        if (!ok || t == GLOSS_MAX_BYTES)
            return 0;
        tmp[t++] = c;
    }
    tmp[t] = '\0';
    /* Words: drop fillers, stop at " or ", drop a leading to/a/an/the. */
    size_t o = 0;
    int words = 0;
    char *save = NULL;
    for (char *w = strtok_r(tmp, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        size_t wl = strlen(w);
        while (wl && w[wl - 1] == '.') /* "etc." and trailing stops */
            w[--wl] = '\0';
        if (wl == 0 || is_filler(w, wl))
            continue;
        if (strcmp(w, "or") == 0 && words > 0)
            break;
        if (words == 0 && (!strcmp(w, "to") || !strcmp(w, "a") || !strcmp(w, "an") ||
                           !strcmp(w, "the")))
            continue;
        if (strcmp(w, "etc") == 0)
            continue;
        if (!(((w[0] | 0x20) >= 'a' && (w[0] | 0x20) <= 'z')))
            return 0;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, w, wl);
        o += wl;
        words++;
    }
    out[o] = '\0';
    if (words == 0 || words > GLOSS_MAX_WORDS)
        return 0;
    return words;
}

/* log(1 + count) of the rarest ASCII letter run of s, lower-cased. */
static double rarest_log_count(const struct vt_strmap *wc, const char *s)
{
    double best = INFINITY;
    char w[GLOSS_MAX_BYTES + 1];
    size_t k = 0;
    for (const char *p = s;; p++) {
        int letter = ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z');
        if (letter) {
            w[k++] = (char)(*p | 0x20);
            continue;
        }
        if (k) {
            uint64_t *c = vt_strmap_get(wc, w, k);
            double v = log(1.0 + (c ? (double)*c : 0.0));
            if (v < best)
                best = v;
            k = 0;
        }
        if (!*p)
            break;
    }
    return best == INFINITY ? 0 : best;
}

static int count_words(struct vt_strmap *wc, const struct entry *e)
{
    char w[64];
    size_t k = 0;
    for (size_t i = 0; i <= e->glosses_n; i++) {
        char c = i < e->glosses_n ? e->glosses[i] : ' ';
        if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
            if (k < sizeof w)
                w[k] = (char)(c | 0x20);
            k++;
            continue;
        }
        if (k && k <= sizeof w) {
            size_t idx;
            int added;
            if (vt_strmap_put(wc, w, k, 1, &idx, &added))
                return VT_ENOMEM;
            if (!added)
                wc->e[idx].val++;
        }
        k = 0;
    }
    return 0;
}

static int head_index(struct vt_cedict *d, const char *w, size_t n, size_t *out)
{
    int added;
    if (vt_strmap_put(&d->heads, w, n, d->nh, out, &added))
        return VT_ENOMEM;
    if (!added) {
        *out = (size_t)d->heads.e[*out].val;
        return 0;
    }
    if (d->nh == d->caph) {
        size_t cap = d->caph ? d->caph * 2 : 1024;
        struct head *h = vt_realloc(d->h, cap * sizeof *h);
        if (!h)
            return VT_ENOMEM;
        d->h = h;
        d->caph = cap;
    }
    d->h[d->nh].score = -INFINITY;
    d->h[d->nh].gloss = UINT64_MAX;
    d->h[d->nh].n_lower = d->h[d->nh].n_proper = 0;
    *out = d->nh++;
    return 0;
}

static int add_entry(struct vt_cedict *d, const struct vt_strmap *wc, const struct entry *e)
{
    int proper = e->pinyin_n > 0 && e->pinyin[0] >= 'A' && e->pinyin[0] <= 'Z';
    size_t hi = SIZE_MAX;
    int k = 0; /* usable glosses of this entry so far */
    const char *g = e->glosses, *end = e->glosses + e->glosses_n;
    while (g <= end) {
        const char *slash = memchr(g, '/', (size_t)(end - g));
        const char *ge = slash ? slash : end;
        char clean[GLOSS_MAX_BYTES + 1];
        int words = clean_gloss(g, (size_t)(ge - g), clean);
        g = ge + 1;
        if (!words)
            continue;
        if (hi == SIZE_MAX) {
            int rc = head_index(d, e->simp, e->simp_n, &hi);
            if (rc)
                return rc;
            if (e->trad_n != e->simp_n || memcmp(e->trad, e->simp, e->simp_n) != 0)
                if (vt_strmap_put(&d->trad, e->trad, e->trad_n, hi, NULL, NULL))
                    return VT_ENOMEM;
        }
        struct head *h = &d->h[hi];
        int ei = proper ? h->n_proper : h->n_lower;
        double score = -(double)k - 0.8 * (words - 1) - 1.5 * ei +
                       0.5 * fmin(rarest_log_count(wc, clean), 4.0) - (proper ? 100.0 : 0.0);
        if (score > h->score) {
            uint64_t off;
            if (vt_strmap_intern(&d->heads, clean, strlen(clean), &off))
                return VT_ENOMEM;
            h = &d->h[hi];
            h->score = score;
            h->gloss = off;
        }
        k++;
    }
    if (hi != SIZE_MAX) {
        if (proper)
            d->h[hi].n_proper++;
        else
            d->h[hi].n_lower++;
    }
    return 0;
}

/* ---- the gloss cache ---------------------------------------------------------
 * Choosing glosses reads the whole dictionary twice (~200 ms); the result is
 * small, so it is kept as a text file next to the dictionary:
 *   line 1   "vitrine-cedict-glosses 1 SIZE MTIME_SEC MTIME_NSEC" of the source
 *   "s\tSIMPLIFIED\tGLOSS"      one per headword with a gloss
 *   "t\tTRADITIONAL\tSIMPLIFIED" a traditional form and its simplified head
 * It doubles as a readable list of every choice the rules made. A cache
 * that does not match the source's size and time is ignored and rewritten.
 */
#define CACHE_TAG "vitrine-cedict-glosses 1"

static int cache_load(struct vt_cedict *d, const char *cache_path, const struct stat *src)
{
    char *data = NULL;
    size_t len;
    struct vt_lines it;
    const char *s;
    size_t n;
    int rc = VT_EFORMAT;

    if (vt_datafile_read(cache_path, CEDICT_MAX_BYTES, &data, &len, NULL))
        return VT_EIO;
    char want[128];
    snprintf(want, sizeof want, "%s %lld %lld %lld", CACHE_TAG, (long long)src->st_size,
             (long long)src->st_mtim.tv_sec, (long long)src->st_mtim.tv_nsec);
    vt_lines_init(&it, data, len);
    if (!vt_lines_next(&it, &s, &n) || n != strlen(want) || memcmp(s, want, n) != 0)
        goto out;
    while (vt_lines_next(&it, &s, &n)) {
        const char *t1 = n > 2 && s[1] == '\t' ? memchr(s + 2, '\t', n - 2) : NULL;
        size_t bad;
        if (!t1 || !vt_utf8_valid(s, n, &bad))
            goto out;
        const char *a = s + 2, *b = t1 + 1;
        size_t an = (size_t)(t1 - a), bn = (size_t)(s + n - b);
        if (an == 0 || bn == 0 || bn > GLOSS_MAX_BYTES)
            goto out;
        size_t hi;
        if (s[0] == 's') {
            uint64_t off;
            if (head_index(d, a, an, &hi) || vt_strmap_intern(&d->heads, b, bn, &off)) {
                rc = VT_ENOMEM;
                goto out;
            }
            d->h[hi].gloss = off;
            d->h[hi].score = 0;
        } else if (s[0] == 't') {
            uint64_t *v = vt_strmap_get(&d->heads, b, bn);
            if (!v)
                goto out;
            if (vt_strmap_put(&d->trad, a, an, *v, NULL, NULL)) {
                rc = VT_ENOMEM;
                goto out;
            }
        } else {
            goto out;
        }
    }
    rc = 0;
out:
    vt_free(data);
    return rc;
}

static void cache_save(const struct vt_cedict *d, const char *cache_path, const struct stat *src)
{
    size_t plen = strlen(cache_path);
    char *tmp = vt_malloc(plen + 32);
    if (!tmp)
        return;
    snprintf(tmp, plen + 32, "%s.%ld.tmp", cache_path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL;
    if (ok)
        ok = fprintf(f, "%s %lld %lld %lld\n", CACHE_TAG, (long long)src->st_size,
                     (long long)src->st_mtim.tv_sec, (long long)src->st_mtim.tv_nsec) > 0;
    for (size_t i = 0; ok && i < d->heads.n; i++) {
        const struct vt_strmap_entry *e = &d->heads.e[i];
        const struct head *h = &d->h[e->val];
        if (h->gloss != UINT64_MAX)
            ok = fprintf(f, "s\t%.*s\t%s\n", (int)e->klen, d->heads.pool + e->koff,
                         vt_strmap_str(&d->heads, h->gloss)) > 0;
    }
    for (size_t i = 0; ok && i < d->trad.n; i++) {
        const struct vt_strmap_entry *e = &d->trad.e[i];
        const struct vt_strmap_entry *se = NULL;
        /* The head's simplified key: heads are numbered in insertion order,
         * so head index k is heads entry k. */
        if (e->val < d->heads.n)
            se = &d->heads.e[e->val];
        if (se && d->h[e->val].gloss != UINT64_MAX)
            ok = fprintf(f, "t\t%.*s\t%.*s\n", (int)e->klen, d->trad.pool + e->koff,
                         (int)se->klen, d->heads.pool + se->koff) > 0;
    }
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, cache_path) == 0) {
        vt_free(tmp);
        return;
    }
    vt_warn("cedict gloss cache not written", "path=\"%s\"", cache_path);
    remove(tmp);
    vt_free(tmp);
}

static int parse_source(struct vt_cedict *d, const char *path, struct vt_error *err)
{
    char *data = NULL;
    size_t len;
    struct vt_strmap wc;
    struct vt_lines it;
    const char *s;
    size_t n;
    struct entry e;
    int rc;

    vt_strmap_init(&wc);
    rc = vt_datafile_read(path, CEDICT_MAX_BYTES, &data, &len, err);
    if (rc)
        goto out;
    for (int pass = 0; pass < 2; pass++) {
        vt_lines_init(&it, data, len);
        while (vt_lines_next(&it, &s, &n)) {
            if (n == 0 || s[0] == '#')
                continue;
            size_t bad;
            if (parse_entry(s, n, &e) != 0 || !vt_utf8_valid(s, n, &bad)) {
                rc = vt_error_set(err, VT_EFORMAT, "cedict",
                                  "%s:%d: expected \"Traditional Simplified [pinyin] /gloss/\"",
                                  path, it.line);
                if (err)
                    err->line = it.line;
                goto out;
            }
            rc = pass == 0 ? count_words(&wc, &e) : add_entry(d, &wc, &e);
            if (rc) {
                vt_error_set(err, rc, "cedict", "%s:%d: out of memory", path, it.line);
                goto out;
            }
        }
    }
    rc = 0;
out:
    vt_strmap_reset(&wc);
    vt_free(data);
    return rc;
}

static int cedict_alloc(struct vt_cedict **out)
{
    struct vt_cedict *d = vt_calloc(1, sizeof *d);
    if (!d)
        return VT_ENOMEM;
    vt_strmap_init(&d->heads);
    vt_strmap_init(&d->trad);
    *out = d;
    return 0;
}

int vt_cedict_load(const char *path, const char *cache_path, struct vt_cedict **out,
                   struct vt_error *err)
{
    struct vt_cedict *d = NULL;
    struct stat st;
    int rc;

    *out = NULL;
    if (stat(path, &st) != 0)
        return vt_error_set(err, VT_EIO, "cedict", "%s: %s", path, strerror(errno));
    if (cedict_alloc(&d))
        return vt_error_set(err, VT_ENOMEM, "cedict", "out of memory");
    if (cache_path) {
        rc = cache_load(d, cache_path, &st);
        if (rc == 0)
            goto done;
        vt_cedict_free(d);
        if (cedict_alloc(&d))
            return vt_error_set(err, VT_ENOMEM, "cedict", "out of memory");
    }
    rc = parse_source(d, path, err);
    if (rc) {
        vt_cedict_free(d);
        return rc;
    }
    if (cache_path)
        cache_save(d, cache_path, &st);
done:
    for (size_t i = 0; i < d->nh; i++)
        d->n_glossed += d->h[i].gloss != UINT64_MAX;
    *out = d;
    return 0;
}

void vt_cedict_free(struct vt_cedict *d)
{
    if (!d)
        return;
    vt_strmap_reset(&d->heads);
    vt_strmap_reset(&d->trad);
    vt_free(d->h);
    vt_free(d);
}

size_t vt_cedict_size(const struct vt_cedict *d)
{
    return d->n_glossed;
}

const char *vt_cedict_gloss(const struct vt_cedict *d, const char *word, size_t n)
{
    uint64_t *v = vt_strmap_get(&d->heads, word, n);
    if (!v)
        v = vt_strmap_get(&d->trad, word, n);
    if (!v || d->h[*v].gloss == UINT64_MAX)
        return NULL;
    return vt_strmap_str(&d->heads, d->h[*v].gloss);
}

/* ---- the bridge ------------------------------------------------------------ */

struct vt_bridge {
    const struct vt_jieba *seg;
    const struct vt_cedict *dict;
    struct vt_strmap words; /* zh -> pool offset of en: glossary, then additions */
};

static int bridge_put(struct vt_bridge *b, const char *zh, size_t zn, const char *en,
                      size_t enn)
{
    uint64_t off;
    size_t idx;
    int added;
    if (vt_strmap_intern(&b->words, en, enn, &off) ||
        vt_strmap_put(&b->words, zh, zn, off, &idx, &added))
        return VT_ENOMEM;
    b->words.e[idx].val = off;
    return 0;
}

int vt_bridge_new(const struct vt_jieba *seg, const struct vt_cedict *dict,
                  struct vt_bridge **out)
{
    *out = NULL;
    struct vt_bridge *b = vt_calloc(1, sizeof *b);
    if (!b)
        return VT_ENOMEM;
    b->seg = seg;
    b->dict = dict;
    vt_strmap_init(&b->words);
    size_t n;
    const struct vt_gloss_entry *g = vt_glossary_zh_en(&n);
    for (size_t i = 0; i < n; i++) {
        if (bridge_put(b, g[i].zh, strlen(g[i].zh), g[i].en, strlen(g[i].en))) {
            vt_bridge_free(b);
            return VT_ENOMEM;
        }
    }
    *out = b;
    return 0;
}

void vt_bridge_free(struct vt_bridge *b)
{
    if (!b)
        return;
    vt_strmap_reset(&b->words);
    vt_free(b);
}

int vt_bridge_add(struct vt_bridge *b, const char *zh, const char *en)
{
    size_t bad, zn = zh ? strlen(zh) : 0, enn = en ? strlen(en) : 0;
    if (!zn || !en || !vt_utf8_valid(zh, zn, &bad) || vt_utf8_len(zh, zn) > 32 || enn > 256 ||
        !vt_utf8_valid(en, enn, &bad))
        return VT_EINVAL;
    return bridge_put(b, zh, zn, en, enn);
}

const char *vt_bridge_word(const struct vt_bridge *b, const char *word, size_t n)
{
    uint64_t *v = vt_strmap_get(&b->words, word, n);
    if (v)
        return vt_strmap_str(&b->words, *v);
    return b->dict ? vt_cedict_gloss(b->dict, word, n) : NULL;
}

/* Append an English word, a space before it unless at the start or after
 * a space or an opening bracket or quote. */
static int put_word(struct vt_buf *o, const char *w)
{
    if (!*w)
        return 0;
    if (o->len) {
        char last = o->data[o->len - 1];
        if (last != ' ' && last != '(' && last != '[' && last != '"' && last != '\'') {
            int rc = vt_buf_append(o, " ", 1);
            if (rc)
                return rc;
        }
    }
    return vt_buf_puts(o, w);
}

/* A word no table knows: the longest known pieces from the left; a
 * character nobody knows is dropped. */
static int put_split(const struct vt_bridge *b, struct vt_buf *o, const char *w, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Byte ends of the next SPLIT_MAX_CPS code points. */
        size_t ends[SPLIT_MAX_CPS];
        int k = 0;
        for (size_t j = i; j < n && k < SPLIT_MAX_CPS; k++) {
            uint32_t cp;
            j += (size_t)vt_utf8_decode(w + j, n - j, &cp);
            ends[k] = j;
        }
        size_t next = ends[0];
        for (int m = k - 1; m >= 0; m--) {
            const char *t = vt_bridge_word(b, w + i, ends[m] - i);
            if (t) {
                int rc = put_word(o, t);
                if (rc)
                    return rc;
                next = ends[m];
                break;
            }
        }
        i = next;
    }
    return 0;
}

/* A control character other than whitespace (NUL included). */
static int has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
            return 1;
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F && (unsigned char)s[i + 1] != 0x85)
            return 1; /* C1 controls but NEL, a line break */
    }
    return 0;
}

int vt_bridge_zh_en(const struct vt_bridge *b, const char *text, size_t n, char **out,
                    size_t *out_len, struct vt_error *err)
{
    struct vt_tokens toks;
    struct vt_buf o;
    int rc;

    *out = NULL;
    if (out_len)
        *out_len = 0;
    vt_tokens_init(&toks);
    /* English is at most a few times longer than the Chinese it replaces. */
    vt_buf_init(&o, 8 * n + 64);
    if (!text)
        n = 0;
    rc = vt_text_check(text, n, err);
    if (rc)
        goto out;
    if (!vt_utf8_has_cjk(text, n) && !has_control(text, n)) {
        rc = vt_buf_append(&o, text ? text : "", n);
        if (rc)
            goto oom;
        goto done;
    }
    rc = vt_jieba_cut(b->seg, text, n, &toks, err);
    if (rc)
        goto out;
    int prev_translated = 0;
    for (size_t i = 0; i < toks.n; i++) {
        const char *w = text + toks.v[i].off;
        size_t wn = toks.v[i].len;
        switch (toks.v[i].kind) {
        case VT_TOK_HAN: {
            const char *t = vt_bridge_word(b, w, wn);
            rc = t ? put_word(&o, t) : put_split(b, &o, w, wn);
            prev_translated = 1;
            break;
        }
        case VT_TOK_SPACE:
            if (o.len && o.data[o.len - 1] != ' ')
                rc = vt_buf_append(&o, " ", 1);
            prev_translated = 0;
            break;
        case VT_TOK_ALNUM:
            if (prev_translated && o.len && o.data[o.len - 1] != ' ')
                rc = vt_buf_append(&o, " ", 1);
            if (!rc)
                rc = vt_buf_append(&o, w, wn);
            prev_translated = 0;
            break;
        default:
            if (!has_control(w, wn))
                rc = vt_buf_append(&o, w, wn);
            prev_translated = 0;
            break;
        }
        if (rc)
            goto oom;
    }
    while (o.len && o.data[o.len - 1] == ' ')
        o.data[--o.len] = '\0';
done:
    if (!o.data && (rc = vt_buf_append(&o, "", 0)) != 0)
        goto oom;
    *out = vt_buf_steal(&o, out_len);
    rc = 0;
    goto out;
oom:
    rc = vt_error_set(err, rc, "text", rc == VT_ETOOBIG ? "translation too long"
                                                        : "out of memory translating text");
out:
    vt_buf_reset(&o);
    vt_tokens_reset(&toks);
    return rc;
}
