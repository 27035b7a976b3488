/*
 * fuzz_wordpiece.c - libFuzzer target for the BERT tokenizer.
 *
 * Input: one option byte, then text. The option byte picks lower-casing,
 * accent stripping, CJK splitting, cleaning, a short or long truncation and
 * a short word limit; the text is tokenized with a built-in vocabulary
 * (Latin, CJK, "##" pieces). Checks: valid UTF-8 always tokenizes, the
 * result is [CLS] ... [SEP] within the truncation length with every id in
 * the vocabulary; invalid UTF-8 is refused with the offset of a bad byte.
 * Option bit 7 instead reads the text as a vocab.txt (one piece per line)
 * and tokenizes a fixed sentence with it. Build: see fuzz/README-bert.md.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "text/wordpiece.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "e", "i", "o", "s", "t",
    "sofa", "black", "leather", "chair", "cafe", "un", "##aff", "##able", "##s", "##ing",
    "##a", "##e", "##i", "##o", "##t", ",", ".", "!", "?", "，", "。", "沙", "发", "黑", "色",
    "椅", "子", "ß", "##ß", "é", "##é", "\xcc\x81", "1", "##1", "##2",
};

static void check(const struct vt_wordpiece *wp, const char *text, size_t len, size_t max_tokens)
{
    int32_t *ids = NULL;
    size_t n = 0, bad;
    struct vt_error err;
    vt_error_clear(&err);
    int valid = vt_utf8_valid(text, len, &bad) || len == 0;
    int rc = vt_wordpiece_encode(wp, text, len, &ids, &n, &err);
    if (!valid) {
        assert(rc == VT_EINVAL && ids == NULL && err.offset >= 0 && (size_t)err.offset < len);
        return;
    }
    assert(rc == 0 && n >= 2);
    assert(ids[0] == vt_wordpiece_special(wp, "cls"));
    assert(ids[n - 1] == vt_wordpiece_special(wp, "sep"));
    assert(max_tokens == 0 || n <= max_tokens);
    for (size_t i = 0; i < n; i++)
        assert(ids[i] >= 0 && (size_t)ids[i] < vt_wordpiece_vocab_size(wp) &&
               vt_wordpiece_token(wp, ids[i]) != NULL);
    vt_free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    size_t len = size - 1;
    struct vt_wordpiece_opts o;
    vt_wordpiece_opts_default(&o);
    o.lowercase = opt & 1;
    o.strip_accents = (opt >> 1) & 1 ? -1 : (opt >> 2) & 1;
    o.handle_chinese = (opt >> 3) & 1;
    o.clean_text = (opt >> 4) & 1;
    o.max_tokens = (opt >> 5) & 1 ? 7 : 512;
    o.max_chars_per_word = (opt >> 6) & 1 ? 5 : 100;
    struct vt_wordpiece *wp = NULL;
    if (opt & 0x80) {
        /* the text as a vocabulary: NUL-split lines, specials appended */
        size_t lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        const char **tok = calloc(lines + 3, sizeof *tok);
        char *v = malloc(len + 1);
        memcpy(v, text, len);
        v[len] = '\0';
        size_t k = 0;
        for (char *s = v;;) {
            char *nl = strchr(s, '\n');
            if (nl)
                *nl = '\0';
            tok[k++] = s;
            if (!nl)
                break;
            s = nl + 1;
        }
        tok[k++] = "[UNK]";
        tok[k++] = "[CLS]";
        tok[k++] = "[SEP]";
        if (vt_wordpiece_new(tok, k, &o, &wp, NULL) == 0) {
            static const char s[] = "Black leather sofa, 黑色沙发! unaffable";
            check(wp, s, sizeof s - 1, o.max_tokens);
            vt_wordpiece_free(wp);
        }
        free(tok);
        free(v);
    } else if (vt_wordpiece_new(vocab, sizeof vocab / sizeof *vocab, &o, &wp, NULL) == 0) {
        check(wp, text, len, o.max_tokens);
        vt_wordpiece_free(wp);
    }
    free(text);
    return 0;
}

#ifdef FUZZ_STANDALONE
#include <stdio.h>
int main(int argc, char **argv)
{
    static uint8_t buf[1 << 22];
    for (int i = 1; i < argc; i++) {
        FILE *in = fopen(argv[i], "rb");
        if (!in)
            continue;
        size_t n = fread(buf, 1, sizeof buf, in);
        fclose(in);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
