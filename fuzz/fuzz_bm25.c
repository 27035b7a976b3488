/*
 * fuzz_bm25.c - libFuzzer target for the search index (rec/bm25.h): the
 * shopper's query and the catalog's text are both outside bytes.
 *
 * Input: lines. Every line but the last is a document's text, added to the
 * field (line number % 3) of document (line number % 8); the last line is
 * the query. A small built-in jieba dictionary segments Chinese.
 * Checks: adding fails exactly when the line is not valid UTF-8 (or too
 * long), and then only with VT_EINVAL or VT_ETOOBIG; every term is
 * non-empty valid UTF-8 of at most VT_BM25_TERM_MAX bytes; scores are
 * finite and >= 0 and *matched counts the positive ones; a document holds
 * the words of every line added to it (vt_bm25_doc_has); nothing leaks.
 * Any crash, sanitizer report or abort() is a bug.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/util.h"
#include "rec/bm25.h"
#include "text/jieba.h"
#include "text/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char builtin_dict[] = "沙发 3000 n\n真皮 800 n\n真皮沙发 50 n\n黑色 2000 n\n"
                                   "拐角 300 n\n沙发床 200 n\n床 900 n\n餐桌 400 n\n";
static struct vt_jieba *seg;

#define DOCS 8
#define LINES 48

static void init(void)
{
    char path[] = "/tmp/vt-fuzz-bm25-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    if (write(fd, builtin_dict, sizeof builtin_dict - 1) != (ssize_t)(sizeof builtin_dict - 1))
        abort();
    close(fd);
    struct vt_error err;
    if (vt_jieba_load(path, NULL, &seg, &err))
        abort();
    unlink(path);
}

static void check_terms(const char *s, size_t n)
{
    struct vt_bm25_terms t;
    struct vt_error err;
    vt_bm25_terms_init(&t);
    int rc = vt_bm25_tokenize(seg, s, n, 0.3f, &t, &err);
    int ok = vt_text_check(s, n, NULL) == 0;
    if ((rc == 0) != ok && rc != VT_ETOOBIG)
        abort();
    for (size_t i = 0; rc == 0 && i < t.n; i++) {
        size_t len = strlen(t.term[i]), bad;
        if (len == 0 || len > VT_BM25_TERM_MAX || !vt_utf8_valid(t.term[i], len, &bad))
            abort();
        if (!(t.weight[i] == 1.0f || t.weight[i] == 0.3f))
            abort();
    }
    vt_bm25_terms_reset(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!seg)
        init();
    int64_t before = vt_alloc_bytes_in_use();
    const char *s = (const char *)data;
    const char *line[LINES];
    size_t len[LINES], nl = 0, start = 0;
    for (size_t i = 0; i <= size && nl < LINES; i++)
        if (i == size || s[i] == '\n') {
            line[nl] = s + start;
            len[nl++] = i - start;
            start = i + 1;
        }
    struct vt_bm25 *ix = NULL;
    if (vt_bm25_new(NULL, seg, &ix))
        abort();
    int added[LINES] = {0};
    for (size_t k = 0; k + 1 < nl; k++) {
        struct vt_error err;
        check_terms(line[k], len[k]);
        int rc = vt_bm25_add(ix, (int32_t)(k % DOCS), (int)(k % 3), line[k], len[k], &err);
        if (rc != 0 && rc != VT_EINVAL && rc != VT_ETOOBIG)
            abort();
        added[k] = rc == 0;
    }
    if (vt_bm25_finish(ix))
        abort();
    int32_t nd = vt_bm25_docs(ix);
    float *sc = malloc(((size_t)nd + 1) * sizeof *sc);
    size_t matched = 0;
    struct vt_error err;
    const char *q = nl ? line[nl - 1] : "";
    size_t qn = nl ? len[nl - 1] : 0;
    int rc = vt_bm25_query(ix, q, qn, sc, &matched, &err);
    if (rc == 0) {
        size_t pos = 0;
        for (int32_t d = 0; d < nd; d++) {
            if (!isfinite(sc[d]) || sc[d] < 0)
                abort();
            pos += sc[d] > 0;
        }
        if (pos != matched)
            abort();
    }
    for (size_t k = 0; k + 1 < nl; k++) {
        if (!added[k])
            continue;
        /* a document holds the words of every line added to it */
        struct vt_bm25_terms t;
        vt_bm25_terms_init(&t);
        int trc = vt_bm25_tokenize(seg, line[k], len[k], 0.3f, &t, NULL);
        int has = vt_bm25_doc_has(ix, (int32_t)(k % DOCS), line[k], len[k]);
        if (trc == 0 && t.n > 0 && has != 1)
            abort();
        vt_bm25_terms_reset(&t);
    }
    free(sc);
    vt_bm25_free(ix);
    if (vt_alloc_bytes_in_use() != before)
        abort();
    return 0;
}
