/*
 * fuzz_jieba.c - libFuzzer target for text cleaning, jieba segmentation,
 * the dictionary loaders and the Chinese → English bridge (text/normalize.h,
 * text/jieba.h, text/cedict.h).
 *
 * Input: one mode byte, then the payload.
 *   mode % 4 == 0 or 2: the payload is text. It is cleaned, segmented raw
 *     and cleaned, and bridged, with jieba's dictionary and CC-CEDICT from
 *     data/text when present (else a small built-in dictionary and the
 *     glossary alone). Checks: segmentation fails exactly when the bytes are
 *     not valid UTF-8 (or too long); tokens tile the text in order, each of
 *     a valid kind, a Han token holding a Han character; the bridge's output
 *     is valid UTF-8 and equals the input when the input has no Han.
 *   mode % 4 == 1: the payload is a dict.txt; when it loads, fixed
 *     sentences and the payload are segmented with it (same checks).
 *   mode % 4 == 3: the payload is a CC-CEDICT file; when it loads, a few
 *     lookups and a bridge run use it.
 * Any crash, sanitizer report or abort() is a bug.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/util.h"
#include "text/cedict.h"
#include "text/jieba.h"
#include "text/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char builtin_dict[] = "沙发 3000 n\n真皮 800 n\n真皮沙发 50 n\n黑色 2000 n\n"
                                   "茶几 900 n\n客厅 1500 n\n小 9000 a\n的 300000 uj\n"
                                   "适合 4000 v\nc++ 3 nz\nT恤 20 n\n";

static struct vt_jieba *seg;
static struct vt_cedict *dict;
static struct vt_bridge *bridge;
static char scratch[64]; /* a file for payloads that are dictionaries */

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void init(void)
{
    struct vt_error err;
    snprintf(scratch, sizeof scratch, "/tmp/fuzz_jieba.%ld", (long)getpid());
    if (exists("data/text/jieba/dict.txt")) {
        if (vt_jieba_load("data/text/jieba/dict.txt", "data/text/jieba/dict.bin", &seg, &err))
            abort();
    } else {
        if (write_file(scratch, builtin_dict, sizeof builtin_dict - 1) ||
            vt_jieba_load(scratch, NULL, &seg, &err))
            abort();
    }
    if (exists("data/text/cedict/cedict_ts.u8") &&
        vt_cedict_load("data/text/cedict/cedict_ts.u8", "data/text/cedict/glosses.tsv", &dict,
                       &err))
        abort();
    if (vt_bridge_new(seg, dict, &bridge))
        abort();
}

static void check_cut(const struct vt_jieba *j, const char *s, size_t n)
{
    struct vt_tokens t;
    struct vt_error err;
    vt_tokens_init(&t);
    int valid = vt_text_check(s, n, NULL) == 0;
    int rc = vt_jieba_cut(j, s, n, &t, &err);
    if (rc == VT_ENOMEM) {
        vt_tokens_reset(&t);
        return;
    }
    if ((rc == 0) != valid)
        abort();
    if (rc == 0) {
        size_t at = 0;
        for (size_t i = 0; i < t.n; i++) {
            const struct vt_token *k = &t.v[i];
            if (k->off != at || k->len == 0 || k->kind > VT_TOK_PUNCT)
                abort();
            if (k->kind == VT_TOK_HAN && !vt_utf8_has_cjk(s + k->off, k->len))
                abort();
            at += k->len;
        }
        if (at != n)
            abort();
    }
    vt_tokens_reset(&t);
}

static void check_bridge(const struct vt_bridge *b, const char *s, size_t n)
{
    char *out = NULL;
    size_t len, bad;
    struct vt_error err;
    int rc = vt_bridge_zh_en(b, s, n, &out, &len, &err);
    if (rc == 0) {
        if (!out || strlen(out) != len || (len && !vt_utf8_valid(out, len, &bad)))
            abort();
        int plain = !vt_utf8_has_cjk(s, n) && !memchr(s, 0, n);
        for (size_t i = 0; plain && i < n; i++)
            plain = (unsigned char)s[i] >= 0x20 || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
        if (plain && (len != n || memcmp(out, s, n) != 0) && !memchr(s, 0x7F, n) &&
            !memmem(s, n, "\xC2", 1))
            abort(); /* text without Han or controls comes back as it was */
    } else if (out) {
        abort();
    }
    vt_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!seg)
        init();
    if (size == 0)
        return 0;
    int mode = data[0] % 4;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    struct vt_error err;

    if (mode == 0 || mode == 2) {
        check_cut(seg, p, n);
        char *c = NULL;
        size_t cn;
        unsigned flags = mode == 0 ? VT_TEXT_CLEAN_DEFAULT : VT_TEXT_FOLD_PUNCT;
        if (vt_text_clean(p, n, flags, &c, &cn, &err) == 0) {
            size_t bad;
            if (strlen(c) != cn || (cn && !vt_utf8_valid(c, cn, &bad)))
                abort();
            if (cn && (c[0] == ' ' || c[cn - 1] == ' ' || strstr(c, "  ")))
                abort(); /* spaces are collapsed and trimmed */
            check_cut(seg, c, cn);
            check_bridge(bridge, c, cn);
            vt_free(c);
        }
        check_bridge(bridge, p, n);
        return 0;
    }

    if (write_file(scratch, p, n))
        return 0;
    static const char *const sentences[] = {"黑色真皮沙发", "适合小客厅的茶几", "c++ T恤 abc"};
    if (mode == 1) {
        struct vt_jieba *j = NULL;
        if (vt_jieba_load(scratch, NULL, &j, &err) == 0) {
            for (size_t i = 0; i < 3; i++)
                check_cut(j, sentences[i], strlen(sentences[i]));
            check_cut(j, p, n);
            vt_jieba_free(j);
        } else if (j) {
            abort();
        }
    } else {
        struct vt_cedict *d = NULL;
        struct vt_bridge *b = NULL;
        if (vt_cedict_load(scratch, NULL, &d, &err) == 0) {
            const char *g = vt_cedict_gloss(d, "沙发", strlen("沙发"));
            if (g && !*g)
                abort(); /* a chosen gloss is never empty */
            if (vt_bridge_new(seg, d, &b) == 0) {
                for (size_t i = 0; i < 3; i++)
                    check_bridge(b, sentences[i], strlen(sentences[i]));
                vt_bridge_free(b);
            }
            vt_cedict_free(d);
        } else if (d) {
            abort();
        }
    }
    return 0;
}

#ifdef FUZZ_STANDALONE
/* Run each file named on the command line through the target once. */
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz_jieba: %d inputs ran\n", argc - 1);
    return 0;
}
#endif
