/*
 * cedict.c - CC-CEDICT loading with gloss selection, and the Chinese →
 * English bridge.
 *
 * Loading makes two passes over the file. The first counts how often each
 * English word occurs anywhere in the glosses: a word that CC-CEDICT uses a
 * lot ("table", "black", "rock") is a common English word, one it uses once
 * or twice ("teapoy", "icebox") is not. It also counts, for each word, its
 * free uses: written in lower case and not right after a capitalised word
 * ("table" in "desk/table", not "multinervis" in "Salix multinervis"). The
 * second pass scores every usable gloss of every entry and keeps the best
 * per headword:
 *
 *   score = - position among the entry's usable glosses
 *           - 0.8 per word beyond the first
 *           - 1.5 per earlier usable entry of the same headword pair
 *           + 0.5 * min(log(1 + count of its rarest word), 4)
 *           - 50 for a sense marked with a register: "(classical)",
 *             "(archaic)", "(old)", "(literary)", "(dialect)", anywhere in
 *             the gloss ("you (classical)")
 *           - 100 for an entry of a proper noun (capitalised pinyin)
 *
 * so a marked sense or a proper noun is used only when the headword has
 * nothing else (台's "(classical) you" loses to "desk" and "platform",
 * while 亢旱 keeps its only sense, "severe drought (literary)"); the first
 * sense usually wins, but a later one-word sense beats a first multi-word
 * one, and a common word beats an obscure synonym (钟: "handleless cup" →
 * "clock"; 石: "ten pecks" → "rock"). The weights were set by comparing
 * choices over the 3,000 most frequent jieba words that CC-CEDICT has.
 *
 * A headword pair is the entry's traditional and simplified forms. Entries
 * that share a simplified form but not a traditional one are different
 * words that simplification merged (台 for 檯 "desk", 臺 "platform", 颱
 * "typhoon"); the file's order among them means nothing, so they compete
 * on their glosses alone. Every traditional form that differs from its
 * simplified one gets its own choice among its own entries (檯 → desk).
 *
 * Not usable (clean_gloss, is_scientific_name): classifiers, variants,
 * surnames, cross-references, abbreviations, figurative or literal
 * paraphrases; scientific names, i.e. a capitalised word CC-CEDICT uses at
 * most 30 times followed by one or two words it never uses freely ("Salix
 * multinervis", useless to an English sentence encoder); anything not
 * plain English of one to four words.
 *
 * GLOSS_RULES names this set of rules in the gloss cache: change it with
 * any rule or weight, so that a cache made by other rules is not read.
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
#define MUNCH_MAX_CPS 8 /* longest run of segments looked up as one word */
#define GLOSS_RULES 3   /* version of the choice rules, kept in the cache */
#define NAME_MAX_USES 30 /* a genus name is a capitalised word used at most this often */

/* Per headword (simplified, or traditional when it differs). */
struct head {
    double score;   /* of the chosen gloss, while loading */
    uint64_t gloss; /* pool offset in d->heads, UINT64_MAX for none */
};

struct vt_cedict {
    struct vt_strmap heads; /* simplified -> index into h[]; holds every gloss string */
    struct vt_strmap trad;  /* traditional differing from its simplified -> index into h[] */
    struct head *h;
    size_t nh, caph;
    size_t n_glossed;
};

/* Word counts of the first pass, one strmap value per lower-cased word. */
#define USES(v) ((uint32_t)(v))                /* occurrences */
#define FREE_USES(v) ((uint32_t)((v) >> 32))   /* in lower case, not after a name */
#define ONE_USE ((uint64_t)1)
#define ONE_FREE_USE (((uint64_t)1 << 32) | 1)

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
    "fig. ", "lit. ", "euphemism", "translit", "(Tw)", "(Internet slang)", "(slang)",
    "(onom.)", "(honorific)", "(polite)",
};

/* A parenthesised note saying that a sense belongs to a register modern
 * standard text does not use: "(classical)", "(old)", "(archaic)",
 * "(literary)", "(dialect)", "(Wu dialect)", ... It may sit anywhere in the
 * gloss ("you (classical)"). */
static int is_register_note(const char *s, size_t n)
{
    static const char *const notes[] = {
        "old", "old term", "old name", "old usage", "old meaning", "archaic", "archaic term",
        "arch.", "classical", "classical chinese", "in classical chinese", "literary",
        "dialect", "dialectal", "obsolete", "ancient",
    };
    char low[32];
    if (n >= sizeof low)
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] | 0x20) : s[i];
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (strlen(notes[i]) == n && memcmp(notes[i], low, n) == 0)
            return 1;
    return (n > 8 && memcmp(low + n - 8, " dialect", 8) == 0) ||
           (n > 9 && memcmp(low + n - 9, " dialects", 9) == 0);
}

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
 * 0 when the gloss is not usable. *marked is set when it carries a
 * register note. */
static int clean_gloss(const char *g, size_t n, char *out, int *marked)
{
    *marked = 0;
    for (size_t i = 0; i < sizeof skip_prefixes / sizeof skip_prefixes[0]; i++)
        if (starts_with(g, n, skip_prefixes[i]))
            return 0;
    /* Drop (...) and [...], noting a register note; stop at ';' or ',';
     * refuse anything that is not plain English letters, spaces, hyphens
     * and apostrophes. */
    char tmp[GLOSS_MAX_BYTES + 1];
    size_t t = 0, note = 0;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = g[i];
        if (c == '(' || c == '[') {
            if (depth++ == 0)
                note = i + 1;
            continue;
        }
        if (c == ')' || c == ']') {
            if (depth > 0 && --depth == 0 && c == ')' && is_register_note(g + note, i - note))
                *marked = 1;
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

/* "Salix multinervis", "Raphanus sativus longipinnatus": a capitalised
 * word CC-CEDICT uses at most NAME_MAX_USES times, then one or two
 * lower-case words it never writes except right after a capitalised word.
 * An English name with a proper adjective ("Chinese cabbage") has a common
 * first word or a freely used second one. */
static int is_scientific_name(const struct vt_strmap *wc, const char *g)
{
    char w[GLOSS_MAX_BYTES + 1];
    int words = 0;
    const char *p = g;
    while (*p) {
        size_t k = strcspn(p, " ");
        if (k == 0 || k > GLOSS_MAX_BYTES || words == 3)
            return 0;
        for (size_t i = 0; i < k; i++) {
            char c = p[i];
            int upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
            if (!(lower || (upper && i == 0 && words == 0)))
                return 0;
            w[i] = (char)(c | 0x20);
        }
        if (words == 0 && !(p[0] >= 'A' && p[0] <= 'Z'))
            return 0;
        uint64_t *v = vt_strmap_get(wc, w, k);
        uint64_t c = v ? *v : 0;
        if (words == 0 ? USES(c) > NAME_MAX_USES : FREE_USES(c) > 0)
            return 0;
        words++;
        p += k;
        p += *p == ' ';
    }
    return words >= 2;
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
            double v = log(1.0 + (c ? (double)USES(*c) : 0.0));
            if (v < best)
                best = v;
            k = 0;
        }
        if (!*p)
            break;
    }
    return best == INFINITY ? 0 : best;
}

/* Count the entry's words (USES) and their free uses (FREE_USES): a word
 * is bound when only a space separates it from a capitalised word, or from
 * a word bound to one ("Raphanus sativus longipinnatus"); any other
 * character breaks the chain. */
static int count_words(struct vt_strmap *wc, const struct entry *e)
{
    char w[64];
    size_t k = 0;
    int capital = 0, named = 0; /* the word read starts with a capital; the last one was a name */
    for (size_t i = 0; i <= e->glosses_n; i++) {
        char c = i < e->glosses_n ? e->glosses[i] : '/';
        if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
            if (k == 0)
                capital = c >= 'A' && c <= 'Z';
            if (k < sizeof w)
                w[k] = (char)(c | 0x20);
            k++;
            continue;
        }
        if (k) {
            int bound = named;
            named = capital || bound;
            if (k <= sizeof w) {
                uint64_t add = capital || bound ? ONE_USE : ONE_FREE_USE;
                size_t idx;
                int added;
                if (vt_strmap_put(wc, w, k, add, &idx, &added))
                    return VT_ENOMEM;
                if (!added)
                    wc->e[idx].val += add;
            }
        }
        if (c != ' ')
            named = 0;
        k = 0;
    }
    return 0;
}

/* The head of w in map (d->heads or d->trad), created when new. */
static int head_index(struct vt_cedict *d, struct vt_strmap *map, const char *w, size_t n,
                      size_t *out)
{
    int added;
    if (vt_strmap_put(map, w, n, d->nh, out, &added))
        return VT_ENOMEM;
    if (!added) {
        *out = (size_t)map->e[*out].val;
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
    *out = d->nh++;
    return 0;
}

/* Keep gloss as head hi's choice if it scores better; *off is its pool
 * offset once interned (UINT64_MAX before). */
static int offer(struct vt_cedict *d, size_t hi, double score, const char *gloss, uint64_t *off)
{
    if (score <= d->h[hi].score)
        return 0;
    if (*off == UINT64_MAX && vt_strmap_intern(&d->heads, gloss, strlen(gloss), off))
        return VT_ENOMEM;
    d->h[hi].score = score;
    d->h[hi].gloss = *off;
    return 0;
}

/* Score the entry's glosses for its simplified head and, when it differs,
 * its traditional one. pairs counts the usable entries seen so far per
 * (simplified, traditional) pair: the low 32 bits of common nouns, the
 * high 32 of proper ones. */
static int add_entry(struct vt_cedict *d, const struct vt_strmap *wc, struct vt_strmap *pairs,
                     const struct entry *e)
{
    int proper = e->pinyin_n > 0 && e->pinyin[0] >= 'A' && e->pinyin[0] <= 'Z';
    int distinct = e->trad_n != e->simp_n || memcmp(e->trad, e->simp, e->simp_n) != 0;
    size_t hs = SIZE_MAX, ht = SIZE_MAX, pair = SIZE_MAX;
    double earlier = 0;
    int k = 0; /* usable glosses of this entry so far */
    const char *g = e->glosses, *end = e->glosses + e->glosses_n;
    char key[256];
    int rc;

    while (g <= end) {
        const char *slash = memchr(g, '/', (size_t)(end - g));
        const char *ge = slash ? slash : end;
        char clean[GLOSS_MAX_BYTES + 1];
        int marked;
        int words = clean_gloss(g, (size_t)(ge - g), clean, &marked);
        g = ge + 1;
        if (!words || is_scientific_name(wc, clean))
            continue;
        if (hs == SIZE_MAX) {
            if ((rc = head_index(d, &d->heads, e->simp, e->simp_n, &hs)) != 0)
                return rc;
            if (distinct && (rc = head_index(d, &d->trad, e->trad, e->trad_n, &ht)) != 0)
                return rc;
            /* Over-long headwords (none in CC-CEDICT) go uncounted. */
            if (e->simp_n + 1 + e->trad_n <= sizeof key) {
                int added;
                memcpy(key, e->simp, e->simp_n);
                key[e->simp_n] = '\t';
                memcpy(key + e->simp_n + 1, e->trad, e->trad_n);
                if (vt_strmap_put(pairs, key, e->simp_n + 1 + e->trad_n, 0, &pair, &added))
                    return VT_ENOMEM;
                uint64_t v = pairs->e[pair].val;
                earlier = (double)(proper ? (uint32_t)(v >> 32) : (uint32_t)v);
            }
        }
        double score = -(double)k - 0.8 * (words - 1) - 1.5 * earlier +
                       0.5 * fmin(rarest_log_count(wc, clean), 4.0) - (marked ? 50.0 : 0.0) -
                       (proper ? 100.0 : 0.0);
        uint64_t off = UINT64_MAX;
        if ((rc = offer(d, hs, score, clean, &off)) != 0 ||
            (ht != SIZE_MAX && (rc = offer(d, ht, score, clean, &off)) != 0))
            return rc;
        k++;
    }
    if (pair != SIZE_MAX)
        pairs->e[pair].val += proper ? (uint64_t)1 << 32 : 1;
    return 0;
}

/* ---- the gloss cache ---------------------------------------------------------
 * Choosing glosses reads the whole dictionary twice (~200 ms); the result is
 * small, so it is kept as a text file next to the dictionary:
 *   line 1   "vitrine-cedict-glosses 2 rules R SIZE MTIME_SEC MTIME_NSEC":
 *            the layout (2), the choice rules (GLOSS_RULES) and the source's
 *            size and modification time
 *   "s\tSIMPLIFIED\tGLOSS"   one per simplified headword with a gloss
 *   "t\tTRADITIONAL\tGLOSS"  one per traditional headword that differs
 *                            from its simplified form and has a gloss
 * It doubles as a readable list of every choice the rules made. A cache
 * whose first line differs in any field is ignored and rewritten.
 */
#define CACHE_TAG "vitrine-cedict-glosses 2 rules"

static int cache_header(char *buf, size_t size, const struct stat *src)
{
    return snprintf(buf, size, "%s %d %lld %lld %lld", CACHE_TAG, GLOSS_RULES,
                    (long long)src->st_size, (long long)src->st_mtim.tv_sec,
                    (long long)src->st_mtim.tv_nsec);
}

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
    char want[160];
    cache_header(want, sizeof want, src);
    vt_lines_init(&it, data, len);
    if (!vt_lines_next(&it, &s, &n) || n != strlen(want) || memcmp(s, want, n) != 0)
        goto out;
    while (vt_lines_next(&it, &s, &n)) {
        const char *t1 = n > 2 && s[1] == '\t' ? memchr(s + 2, '\t', n - 2) : NULL;
        size_t bad;
        if (!t1 || !vt_utf8_valid(s, n, &bad) || (s[0] != 's' && s[0] != 't'))
            goto out;
        const char *a = s + 2, *b = t1 + 1;
        size_t an = (size_t)(t1 - a), bn = (size_t)(s + n - b);
        if (an == 0 || bn == 0 || bn > GLOSS_MAX_BYTES)
            goto out;
        size_t hi;
        uint64_t off;
        if (head_index(d, s[0] == 's' ? &d->heads : &d->trad, a, an, &hi) ||
            vt_strmap_intern(&d->heads, b, bn, &off)) {
            rc = VT_ENOMEM;
            goto out;
        }
        d->h[hi].gloss = off;
        d->h[hi].score = 0;
    }
    rc = 0;
out:
    vt_free(data);
    return rc;
}

static int cache_write_map(FILE *f, const struct vt_cedict *d, const struct vt_strmap *map,
                           char kind)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct vt_strmap_entry *e = &map->e[i];
        const struct head *h = &d->h[e->val];
        if (h->gloss != UINT64_MAX &&
            fprintf(f, "%c\t%.*s\t%s\n", kind, (int)e->klen, map->pool + e->koff,
                    vt_strmap_str(&d->heads, h->gloss)) < 0)
            return 0;
    }
    return 1;
}

static void cache_save(const struct vt_cedict *d, const char *cache_path, const struct stat *src)
{
    size_t plen = strlen(cache_path);
    char *tmp = vt_malloc(plen + 32), head[160];
    if (!tmp)
        return;
    snprintf(tmp, plen + 32, "%s.%ld.tmp", cache_path, (long)getpid());
    cache_header(head, sizeof head, src);
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL && fprintf(f, "%s\n", head) > 0 && cache_write_map(f, d, &d->heads, 's') &&
             cache_write_map(f, d, &d->trad, 't');
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
    struct vt_strmap wc, pairs;
    struct vt_lines it;
    const char *s;
    size_t n;
    struct entry e;
    int rc;

    vt_strmap_init(&wc);
    vt_strmap_init(&pairs);
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
            rc = pass == 0 ? count_words(&wc, &e) : add_entry(d, &wc, &pairs, &e);
            if (rc) {
                vt_error_set(err, rc, "cedict", "%s:%d: out of memory", path, it.line);
                goto out;
            }
        }
    }
    rc = 0;
out:
    vt_strmap_reset(&wc);
    vt_strmap_reset(&pairs);
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
    enum vt_bridge_case letter_case;
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

int vt_bridge_new_opts(const struct vt_jieba *seg, const struct vt_cedict *dict,
                       const struct vt_bridge_opts *opts, struct vt_bridge **out)
{
    struct vt_bridge_opts none = {0};
    *out = NULL;
    if (!opts)
        opts = &none;
    if (opts->letter_case != VT_BRIDGE_CASE_ASIS && opts->letter_case != VT_BRIDGE_CASE_SENTENCE)
        return VT_EINVAL;
    struct vt_bridge *b = vt_calloc(1, sizeof *b);
    if (!b)
        return VT_ENOMEM;
    b->seg = seg;
    b->dict = dict;
    b->letter_case = opts->letter_case;
    vt_strmap_init(&b->words);
    size_t n = 0;
    const struct vt_gloss_entry *g = opts->no_glossary ? NULL : vt_glossary_zh_en(&n);
    for (size_t i = 0; i < n; i++) {
        if (bridge_put(b, g[i].zh, strlen(g[i].zh), g[i].en, strlen(g[i].en))) {
            vt_bridge_free(b);
            return VT_ENOMEM;
        }
    }
    *out = b;
    return 0;
}

int vt_bridge_new(const struct vt_jieba *seg, const struct vt_cedict *dict,
                  struct vt_bridge **out)
{
    return vt_bridge_new_opts(seg, dict, NULL, out);
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

/* The English being written, and whether its next word starts with a
 * capital (the case convention). */
struct writer {
    struct vt_buf buf;
    int capital;
};

/* Append an English word, a space before it unless at the start or after
 * a space or an opening bracket or quote. A pending capital goes on the
 * first word written. */
static int put_word(struct writer *o, const char *w)
{
    int rc;
    if (!*w)
        return 0;
    if (o->buf.len) {
        char last = o->buf.data[o->buf.len - 1];
        if (last != ' ' && last != '(' && last != '[' && last != '"' && last != '\'' &&
            (rc = vt_buf_append(&o->buf, " ", 1)) != 0)
            return rc;
    }
    if (o->capital) {
        o->capital = 0;
        if (*w >= 'a' && *w <= 'z') {
            char c = (char)(*w - 'a' + 'A');
            if ((rc = vt_buf_append(&o->buf, &c, 1)) != 0)
                return rc;
            w++;
        }
    }
    return vt_buf_puts(&o->buf, w);
}

/* A word no table knows: the longest known pieces from the left; a
 * character nobody knows is dropped. */
static int put_split(const struct vt_bridge *b, struct writer *o, const char *w, size_t n)
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

/* Maximal munch over the segmenter's words: the longest run of Han tokens
 * i..j-1 (j > i + 1), adjacent in the text and at most MUNCH_MAX_CPS code
 * points, that a table knows as one word. Returns j, with its English in
 * *en, or i + 1 when no such run exists (the token stands alone). Only
 * whole tokens combine, so a word the segmenter found is never cut. */
static size_t longest_known(const struct vt_bridge *b, const char *text,
                            const struct vt_tokens *toks, size_t i, const char **en)
{
    size_t best = i + 1, start = toks->v[i].off, end = start + toks->v[i].len;
    size_t cps = vt_utf8_len(text + start, toks->v[i].len);
    for (size_t j = i + 1; j < toks->n; j++) {
        const struct vt_token *t = &toks->v[j];
        if (t->kind != VT_TOK_HAN || t->off != end)
            break;
        cps += vt_utf8_len(text + t->off, t->len);
        if (cps > MUNCH_MAX_CPS)
            break;
        end += t->len;
        const char *w = vt_bridge_word(b, text + start, end - start);
        if (w) {
            best = j + 1;
            *en = w;
        }
    }
    return best;
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

/* What punctuation token w does to sentence case: 1 when it ends a
 * sentence (. ! ? and the full-width 。！？ that uncleaned text may hold),
 * 2 when it leaves the state as it was (an opening bracket or quote), 0
 * when what follows is inside a sentence. */
static int ends_sentence(const char *w, size_t n)
{
    static const char *const full[] = {"\xe3\x80\x82", "\xef\xbc\x81", "\xef\xbc\x9f"};
    if (n == 1 && (*w == '.' || *w == '!' || *w == '?'))
        return 1;
    if (n == 1 && (*w == '(' || *w == '[' || *w == '"' || *w == '\''))
        return 2;
    for (size_t i = 0; i < sizeof full / sizeof full[0]; i++)
        if (n == 3 && memcmp(w, full[i], 3) == 0)
            return 1;
    return 0;
}

int vt_bridge_zh_en(const struct vt_bridge *b, const char *text, size_t n, char **out,
                    size_t *out_len, struct vt_error *err)
{
    struct vt_tokens toks;
    struct writer o = {.capital = 0};
    int rc;

    *out = NULL;
    if (out_len)
        *out_len = 0;
    vt_tokens_init(&toks);
    /* English is at most a few times longer than the Chinese it replaces. */
    vt_buf_init(&o.buf, 8 * n + 64);
    if (!text)
        n = 0;
    rc = vt_text_check(text, n, err);
    if (rc)
        goto out;
    if (!vt_utf8_has_cjk(text, n) && !has_control(text, n)) {
        rc = vt_buf_append(&o.buf, text ? text : "", n);
        if (rc)
            goto oom;
        goto done;
    }
    rc = vt_jieba_cut(b->seg, text, n, &toks, err);
    if (rc)
        goto out;
    int prev_translated = 0, sentence_start = 1;
    for (size_t i = 0; i < toks.n; i++) {
        const char *w = text + toks.v[i].off;
        size_t wn = toks.v[i].len;
        switch (toks.v[i].kind) {
        case VT_TOK_HAN: {
            const char *t = NULL;
            size_t next = longest_known(b, text, &toks, i, &t);
            if (!prev_translated) /* a Chinese run starts */
                o.capital = b->letter_case == VT_BRIDGE_CASE_SENTENCE && sentence_start;
            if (next > i + 1) {
                wn = toks.v[next - 1].off + toks.v[next - 1].len - toks.v[i].off;
                i = next - 1;
            } else {
                t = vt_bridge_word(b, w, wn);
            }
            size_t before = o.buf.len;
            rc = t ? put_word(&o, t) : put_split(b, &o, w, wn);
            if (o.buf.len > before)
                sentence_start = 0;
            prev_translated = 1;
            break;
        }
        case VT_TOK_SPACE:
            o.capital = 0;
            if (o.buf.len && o.buf.data[o.buf.len - 1] != ' ')
                rc = vt_buf_append(&o.buf, " ", 1);
            if (memchr(w, '\n', wn))
                sentence_start = 1;
            prev_translated = 0;
            break;
        case VT_TOK_ALNUM:
            o.capital = 0;
            if (prev_translated && o.buf.len && o.buf.data[o.buf.len - 1] != ' ')
                rc = vt_buf_append(&o.buf, " ", 1);
            if (!rc)
                rc = vt_buf_append(&o.buf, w, wn);
            prev_translated = 0;
            sentence_start = 0;
            break;
        default: {
            int e = ends_sentence(w, wn);
            o.capital = 0;
            if (e != 2)
                sentence_start = e;
            if (!has_control(w, wn))
                rc = vt_buf_append(&o.buf, w, wn);
            prev_translated = 0;
            break;
        }
        }
        if (rc)
            goto oom;
    }
    while (o.buf.len && o.buf.data[o.buf.len - 1] == ' ')
        o.buf.data[--o.buf.len] = '\0';
done:
    if (!o.buf.data && (rc = vt_buf_append(&o.buf, "", 0)) != 0)
        goto oom;
    *out = vt_buf_steal(&o.buf, out_len);
    rc = 0;
    goto out;
oom:
    rc = vt_error_set(err, rc, "text", rc == VT_ETOOBIG ? "translation too long"
                                                        : "out of memory translating text");
out:
    vt_buf_reset(&o.buf);
    vt_tokens_reset(&toks);
    return rc;
}
