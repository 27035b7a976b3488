/*
 * fuzz_spm.c - libFuzzer target for the SentencePiece tokenizer (text/spm.h).
 *
 * Input: one mode byte, then the payload.
 *   mode even: the payload is text, tokenized with USE-Lite's vocabulary
 *              (data/models/use-lite/vocab.json when present, else a small
 *              built-in one). Checks: every id is in range; the tokens of a
 *              prefix cut just before a space are the first tokens of the
 *              whole text when the vocabulary splits at spaces (the property
 *              the encoder relies on for long texts).
 *   mode odd:  the payload is a vocab.json; when it parses, a few fixed
 *              texts and the payload itself are tokenized with it.
 * Any crash, sanitizer report or abort() is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "text/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char builtin_vocab[] =
    "[[\"\xef\xbf\xbd\",0],[\"<s>\",0],[\"</s>\",0],[\"x1\",0],[\"x2\",0],[\"x3\",0],"
    "[\"\xe2\x96\x81\",-3],[\"\xe2\x96\x81the\",-3.5],[\"s\",-3.3],[\"a\",-4],[\"b\",-4.5],"
    "[\":\",null],[\":30\",30],[\"\xe2\x96\x81so\",-6],[\"fa\",-7],[\"\xe2\x96\x81sofa\",-9]]";

static struct vt_spm *use_vocab;

static void check_ids(const struct vt_spm *sp, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= vt_spm_vocab_size(sp))
            abort();
}

static void tokenize_text(const struct vt_spm *sp, const char *text, size_t len)
{
    struct vt_spm_work w, w2;
    const int32_t *ids, *pre;
    size_t n, m;
    struct vt_error err;
    vt_spm_work_init(&w);
    vt_spm_work_init(&w2);
    if (vt_spm_encode_work(sp, &w, text, len, &ids, &n, &err) == 0) {
        check_ids(sp, ids, n);
        const char *sp_at = memchr(text + (len > 0), ' ', len > 0 ? len - 1 : 0);
        if (sp_at && vt_spm_splits_at_spaces(sp)) {
            size_t cut = (size_t)(sp_at - text);
            if (vt_spm_encode_work(sp, &w2, text, cut, &pre, &m, &err) != 0 || m > n ||
                memcmp(pre, ids, m * sizeof *ids) != 0)
                abort();
        }
    }
    vt_spm_work_reset(&w);
    vt_spm_work_reset(&w2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vt_error err;
    if (!use_vocab && vt_spm_load("data/models/use-lite/vocab.json", &use_vocab, &err) != 0 &&
        vt_spm_parse(builtin_vocab, sizeof builtin_vocab - 1, "builtin", &use_vocab, &err) != 0)
        abort();
    if (size == 0)
        return 0;
    const char *payload = (const char *)data + 1;
    size_t len = size - 1;
    if ((data[0] & 1) == 0) {
        tokenize_text(use_vocab, payload, len);
        return 0;
    }
    struct vt_spm *sp = NULL;
    if (vt_spm_parse(payload, len, "fuzz", &sp, &err) == 0) {
        static const char *texts[] = {"", " ", "sofa", "the sofa:30", "\xf0\x9f\x98\x80 a b",
                                      "\xef\xbd\x93\xef\xbd\x8f\xef\xbd\x86\xef\xbd\x81"};
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
            tokenize_text(sp, texts[i], strlen(texts[i]));
        tokenize_text(sp, payload, len);
        vt_spm_free(sp);
    } else if (sp != NULL) {
        abort(); /* a failed parse must not return a tokenizer */
    }
    return 0;
}

#ifdef FUZZ_STANDALONE
/* Without libFuzzer: run each file named on the command line once. */
#include <stdio.h>
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 21];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    vt_spm_free(use_vocab);
    return 0;
}
#endif
