/*
 * fuzz_unigram.c - libFuzzer target for the Unigram tokenizer's
 * tokenizer.json reader (text/unigram.h) and for encoding with whatever it
 * accepts.
 *
 * Input: a tokenizer.json, optionally followed by a NUL and a text (JSON
 * holds no raw NUL, so the split is unambiguous). Or, after a first byte
 * 0xFF (which no JSON text starts with), the SentencePiece form GGUF
 * carries: a flags byte (bit 0 add_space_prefix, bit 1
 * remove_extra_whitespaces, bit 2 bos and eos), a u16 little-endian
 * length, that many bytes of precompiled character map given raw (no
 * base64 in the way of the mutations), then a text; the pieces are fixed.
 * Checks, beyond "no crash, no sanitizer report":
 *   - a refused file returns a negative code, no tokenizer, and an error
 *     struct with the same code and a message;
 *   - with an accepted one, a few fixed texts and the input's text encode
 *     to ids inside the vocabulary, or are refused exactly when they are
 *     not valid UTF-8 (or hold a NUL); the normalizer's output is valid
 *     UTF-8 (NULs aside: a Replace content may hold one);
 *   - truncated to a few tokens, the ids are the untruncated ones with the
 *     middle cut out: a prefix and a suffix of them;
 *   - with one of our allocations failing, the parse gives VT_ENOMEM or
 *     the same result (same digest, or the same refusal), and encoding
 *     gives VT_ENOMEM or the same ids; nothing leaks.
 * jansson keeps the C allocator here: when one of its allocations fails
 * while it reads a string, jansson 2.14 can drop a byte of the string and
 * carry on, so a failing parse could not be told apart from a different
 * file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "text/unigram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "fuzz_unigram: check failed: %s (line %d)\n", #c, \
                    __LINE__);                                                \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define TRUNCATE_TO 5

static const char *const texts[] = {
    "",
    " ",
    "a",
    "black leather sofa",
    "  two   spaces\tand a tab\n",
    "<s>sofa</s> <mask> <unk><pad>",
    "\xef\xbc\xa1\xef\xbd\x82 \xef\xac\x81\xe2\x91\xa0\xe3\x80\x80x",   /* Ａｂ ﬁ①　x */
    "e\xcc\x81\xcc\xa7 \xc3\xa9 \xc4\xb0stanbul",                        /* combining marks */
    "\xe6\xb2\x99\xe5\x8f\x91\xe7\x9a\x84 sofa",                          /* 沙发的 */
    "\xf0\x9f\x9b\x8b\xf0\x9f\x87\xab\xf0\x9f\x87\xb7 \xe2\x96\x81x",      /* 🛋🇫🇷 ▁x */
};

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Valid UTF-8 but for NUL bytes, which a Replace content may hold. */
static int utf8_ok(const char *s, size_t n)
{
    size_t bad;
    while (n > 0) {
        size_t l = strnlen(s, n);
        if (l && !vt_utf8_valid(s, l, &bad))
            return 0;
        l += l < n;
        s += l;
        n -= l;
    }
    return 1;
}

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* b is a with a middle part cut out: a[0..p) followed by a[na-q..na). */
static int is_cut(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    if (nb > na)
        return 0;
    for (size_t p = 0; p <= nb; p++) {
        size_t q = nb - p;
        if ((p == 0 || memcmp(a, b, p * sizeof *a) == 0) &&
            (q == 0 || memcmp(a + na - q, b + p, q * sizeof *a) == 0))
            return 1;
    }
    return 0;
}

static void check_text(struct vt_unigram *u, const char *text, size_t len, uint32_t h)
{
    struct vt_error err;
    int32_t *ids = NULL, *cut = NULL, *again = NULL;
    size_t n = 0, ncut = 0, nagain = 0, bad;
    int valid = len <= VT_UNIGRAM_MAX_TEXT && (len == 0 || vt_utf8_valid(text, len, &bad));

    int rc = vt_unigram_encode(u, text, len, &ids, &n, &err);
    if (rc) {
        CHECK(ids == NULL && n == 0 && err.code == rc);
        CHECK(!valid && (rc == VT_EINVAL || rc == VT_ETOOBIG));
        return;
    }
    CHECK(valid && ids != NULL);
    size_t vs = vt_unigram_vocab_size(u);
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] >= 0 && (size_t)ids[i] < vs);

    char *norm = NULL;
    size_t nn = 0;
    CHECK(vt_unigram_normalize(u, text, len, &norm, &nn, &err) == 0);
    CHECK(norm != NULL && norm[nn] == '\0' && utf8_ok(norm, nn));
    vt_free(norm);

    vt_unigram_set_max_tokens(u, TRUNCATE_TO);
    CHECK(vt_unigram_encode(u, text, len, &cut, &ncut, &err) == 0);
    CHECK(is_cut(ids, n, cut, ncut));
    CHECK(n <= TRUNCATE_TO ? ncut == n : ncut >= TRUNCATE_TO);
    vt_unigram_set_max_tokens(u, 0);

    vt_alloc_fail_after(1 + (int64_t)(h % 24));
    rc = vt_unigram_encode(u, text, len, &again, &nagain, &err);
    vt_alloc_fail_after(0);
    CHECK(rc == 0 ? same_ids(ids, n, again, nagain) : rc == VT_ENOMEM && again == NULL);
    vt_free(ids);
    vt_free(cut);
    vt_free(again);
}

/* The 0xFF form: a raw character map under a fixed vocabulary. */
static void fuzz_spm(const uint8_t *data, size_t size)
{
    static const char *const pieces[] = {
        "<unk>", "<s>", "</s>", "\xe2\x96\x81", "\xe2\x96\x81\x61", "a", "b", "e", "fi", "A",
        "\xe2\x96\x81sofa", "1", "\xcc\x81", "\xe6\xb2\x99\xe5\x8f\x91", "<mask>"};
    enum { N = sizeof pieces / sizeof *pieces };
    static const float scores[N] = {0, 0, 0, -2, -3, -4, -4, -4, -5, -5, -6, -5, -7, -8, 0};
    static const int32_t types[N] = {VT_UNIGRAM_UNKNOWN, VT_UNIGRAM_CONTROL, VT_UNIGRAM_CONTROL,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, VT_UNIGRAM_USER};
    size_t lens[N];
    for (size_t i = 0; i < N; i++)
        lens[i] = strlen(pieces[i]);
    if (size < 4)
        return;
    size_t maplen = (size_t)data[2] | (size_t)data[3] << 8;
    if (maplen > size - 4)
        maplen = size - 4;
    struct vt_unigram_spm s = {
        .n = N, .pieces = pieces, .piece_lens = lens, .scores = scores, .types = types,
        .charsmap = data + 4, .charsmap_len = maplen,
        .add_space_prefix = data[1] & 1, .remove_extra_whitespaces = (data[1] >> 1) & 1,
        .unk = 0, .bos = 1, .eos = 2, .add_bos = (data[1] >> 2) & 1,
        .add_eos = (data[1] >> 2) & 1};
    uint32_t h = hash_bytes(data, size);
    struct vt_unigram *u = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_unigram_new_spm(&s, &u, &err);
    if (rc) {
        CHECK(rc < 0 && u == NULL && err.code == rc && err.message[0]);
        return;
    }
    CHECK(vt_unigram_vocab_size(u) == N);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        check_text(u, texts[i], strlen(texts[i]), h + (uint32_t)i);
    check_text(u, (const char *)data + 4 + maplen, size - 4 - maplen, h);
    vt_unigram_free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 0xFF) {
        fuzz_spm(data, size);
        return 0;
    }
    const char *json = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : NULL;
    size_t tlen = nul ? size - jlen - 1 : 0;
    uint32_t h = hash_bytes(data, size);

    struct vt_unigram *u = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_unigram_parse_json(json, jlen, "fuzz.json", 0, &u, &err);
    if (rc) {
        CHECK(rc < 0 && u == NULL && err.code == rc && err.message[0]);
    } else {
        CHECK(u != NULL && vt_unigram_vocab_size(u) > 0);
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
            check_text(u, texts[i], strlen(texts[i]), h + (uint32_t)i);
        if (text)
            check_text(u, text, tlen, h);
    }

    /* The same file with one allocation failing, somewhere in the parse. */
    struct vt_unigram *v = NULL;
    struct vt_error err2;
    vt_error_clear(&err2);
    vt_alloc_fail_after(1 + (int64_t)(h % 64));
    int rc2 = vt_unigram_parse_json(json, jlen, "fuzz.json", 0, &v, &err2);
    vt_alloc_fail_after(0);
    if (rc2 != VT_ENOMEM && (rc2 != rc || (rc && strcmp(err.message, err2.message))))
        fprintf(stderr, "fuzz_unigram: with an allocation failing: %d %s\n  instead of: %s\n",
                rc2, rc2 ? err2.message : "accepted", err.message);
    if (rc2 == VT_ENOMEM) {
        CHECK(v == NULL && err2.code == VT_ENOMEM);
    } else if (rc) {
        CHECK(rc2 == rc && v == NULL && strcmp(err.message, err2.message) == 0);
    } else {
        CHECK(rc2 == 0 && vt_unigram_digest(u) == vt_unigram_digest(v));
    }
    vt_unigram_free(v);
    vt_unigram_free(u);
    return 0;
}
