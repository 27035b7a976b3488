/*
 * fuzz_props.c - libFuzzer target for the Java .properties parser
 * (ar/props.h), which reads Sweet Home 3D catalogs from outside.
 *
 * Input: the bytes of a .properties file, as is.
 *
 * Checks beyond "no crash, no sanitizer report":
 *   - a failure returns no table, names its code and a message, and for a
 *     parse error points at a byte of the input whose line and column agree
 *     with the line terminators before it;
 *   - a parsed table's keys and values are valid UTF-8, keys are unique and
 *     each finds its own value;
 *   - written back out with every character but [A-Za-z0-9] as a \uXXXX
 *     escape, the table parses again to the same entries in the same order;
 *   - parsed again with one allocation failing, the parser either succeeds
 *     with the same table or returns VT_ENOMEM, and leaks nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ar/props.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "fuzz_props: check failed at line %d: %s\n", __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* Line and column (1-based, in bytes) of offset, counting "\r\n" once. */
static void position_of(const uint8_t *d, size_t size, size_t off, int *line, size_t *col)
{
    int ln = 1;
    size_t start = 0;
    for (size_t i = 0; i < off; i++) {
        int crlf = d[i] == '\r' && i + 1 < size && d[i + 1] == '\n';
        if ((d[i] == '\r' && !crlf) || d[i] == '\n') {
            ln++;
            start = i + 1;
        }
    }
    *line = ln;
    *col = off - start + 1;
}

static void check_failure(const uint8_t *data, size_t size, int rc, const struct vt_props *p,
                          const struct vt_error *err)
{
    CHECK(p == NULL);
    CHECK(rc == VT_EPARSE || rc == VT_ETOOBIG || rc == VT_ENOMEM);
    CHECK(err->code == rc);
    CHECK(err->message[0] != '\0');
    if (rc != VT_EPARSE)
        return;
    CHECK(err->offset >= 0 && (size_t)err->offset < size);
    int line;
    size_t col;
    position_of(data, size, (size_t)err->offset, &line, &col);
    CHECK(err->line == line);
    CHECK(err->column >= 1 && (size_t)err->column == col);
    if (strstr(err->message, "NUL byte"))
        CHECK(data[err->offset] == 0);
}

/* Append s with every code point but [A-Za-z0-9] as \uXXXX (a surrogate
 * pair above U+FFFF), which the grammar reads back as that code point
 * wherever it stands. */
static void escape_all(struct vt_buf *b, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        uint32_t cp;
        int k = vt_utf8_decode(s, n, &cp);
        CHECK(k > 0 && (size_t)k <= n);
        char u[16];
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) {
            CHECK(vt_buf_append(b, s, 1) == 0);
        } else if (cp < 0x10000) {
            snprintf(u, sizeof u, "\\u%04X", (unsigned)cp);
            CHECK(vt_buf_append(b, u, 6) == 0);
        } else {
            uint32_t v = cp - 0x10000;
            snprintf(u, sizeof u, "\\u%04X\\u%04x", 0xD800u + (v >> 10), 0xDC00u + (v & 0x3FF));
            CHECK(vt_buf_append(b, u, 12) == 0);
        }
        s += k;
        n -= (size_t)k;
    }
}

static int same_table(const struct vt_props *a, const struct vt_props *b)
{
    if (vt_props_count(a) != vt_props_count(b))
        return 0;
    for (size_t i = 0; i < vt_props_count(a); i++)
        if (strcmp(vt_props_key_at(a, i), vt_props_key_at(b, i)) != 0 ||
            strcmp(vt_props_value_at(a, i), vt_props_value_at(b, i)) != 0)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vt_props *p = NULL;
    struct vt_error err;
    int rc = vt_props_parse((const char *)data, size, &p, &err);
    if (rc) {
        check_failure(data, size, rc, p, &err);
        return 0;
    }
    CHECK(p != NULL);
    size_t n = vt_props_count(p), lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r';
    CHECK(n <= lines);
    for (size_t i = 0; i < n; i++) {
        const char *k = vt_props_key_at(p, i), *v = vt_props_value_at(p, i);
        size_t bad;
        CHECK(k && v);
        CHECK(vt_utf8_valid(k, strlen(k), &bad));
        CHECK(vt_utf8_valid(v, strlen(v), &bad));
        /* Keys are unique: the lookup finds this entry's own value. */
        CHECK(vt_props_get(p, k) == v);
    }
    CHECK(vt_props_key_at(p, n) == NULL && vt_props_value_at(p, n) == NULL);

    struct vt_buf out;
    vt_buf_init(&out, 0);
    CHECK(vt_buf_append(&out, "# written back\n", 15) == 0);
    for (size_t i = 0; i < n; i++) {
        escape_all(&out, vt_props_key_at(p, i));
        CHECK(vt_buf_append(&out, "=", 1) == 0);
        escape_all(&out, vt_props_value_at(p, i));
        CHECK(vt_buf_append(&out, "\r\n", 2) == 0);
    }
    struct vt_props *q = NULL;
    rc = vt_props_parse(out.data, out.len, &q, &err);
    if (rc)
        fprintf(stderr, "fuzz_props: written-back table fails: %s\n", err.message);
    CHECK(rc == 0 || (rc == VT_ETOOBIG && out.len > size));
    if (rc == 0)
        CHECK(same_table(p, q));
    vt_props_free(q);
    vt_buf_reset(&out);

    /* One allocation fails, somewhere in the first few dozen. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    vt_alloc_fail_after(1 + (int64_t)(h % 48));
    rc = vt_props_parse((const char *)data, size, &q, &err);
    vt_alloc_fail_after(0);
    if (rc) {
        CHECK(rc == VT_ENOMEM && q == NULL && err.code == VT_ENOMEM);
    } else {
        CHECK(same_table(p, q));
        vt_props_free(q);
    }
    vt_props_free(p);
    return 0;
}
