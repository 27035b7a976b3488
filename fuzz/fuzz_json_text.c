/*
 * fuzz_json_text.c - libFuzzer target for the JSON writer the serving
 * paths use instead of jansson's trees (core/buf.h: vt_buf_json_str,
 * vt_buf_json_real). Item titles, ids, search text and reasons are
 * outside bytes that end up in answers through it.
 *
 * Input: mode byte, then bytes.
 *   mode even: the bytes (up to the first NUL) written as a JSON string;
 *   mode odd:  the first 8 bytes as a double, 1 + (mode >> 1) % 17 digits.
 * Checks beyond "no crash, no sanitizer report":
 *   - a string reads back with jansson as a string equal to the input
 *     with every byte that does not start a valid UTF-8 sequence (as
 *     utf8proc decodes it: no overlong forms, surrogates or code points
 *     past U+10FFFF) replaced by U+FFFD, one per byte;
 *   - a finite double reads back as a JSON real within the precision
 *     asked for; a NaN or an infinity is written as null;
 *   - what was in the buffer before stays, and an allocation failure
 *     leaves a valid prefix (checked by capping the buffer).
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                             \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_json_text: check failed: %s (line %d)\n", #c, __LINE__);  \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* The expected decoded string: valid sequences kept, every other byte
 * U+FFFD (EF BF BD). */
static size_t expected(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

static void check_string(const uint8_t *data, size_t size)
{
    size_t n = strnlen((const char *)data, size);
    char *s = malloc(n + 1);
    uint8_t *want = malloc(3 * n + 1);
    CHECK(s && want);
    memcpy(s, data, n);
    s[n] = '\0';
    size_t wn = expected((const uint8_t *)s, n, want);

    struct vt_buf b;
    vt_buf_init(&b, 0);
    CHECK(vt_buf_puts(&b, "[1,") == 0);
    CHECK(vt_buf_json_str(&b, s) == 0);
    CHECK(vt_buf_puts(&b, "]") == 0);
    json_error_t je;
    json_t *j = json_loadb(b.data, b.len, JSON_ALLOW_NUL, &je);
    CHECK(j && json_is_array(j) && json_array_size(j) == 2);
    json_t *str = json_array_get(j, 1);
    CHECK(json_is_string(str));
    CHECK(json_string_length(str) == wn && memcmp(json_string_value(str), want, wn) == 0);
    json_decref(j);

    /* A cap that cuts the string: an error, and what was written is a
     * prefix of the full text (nothing else appended). */
    if (b.len > 8) {
        struct vt_buf c;
        vt_buf_init(&c, b.len / 2);
        int rc = vt_buf_puts(&c, "[1,");
        rc = rc ? rc : vt_buf_json_str(&c, s);
        CHECK(rc != 0);
        CHECK(c.len <= b.len && memcmp(c.data, b.data, c.len) == 0);
        vt_buf_reset(&c);
    }
    vt_buf_reset(&b);
    free(s);
    free(want);
}

static void check_real(uint8_t mode, const uint8_t *data, size_t size)
{
    double x = 0;
    memcpy(&x, data, size < sizeof x ? size : sizeof x);
    int digits = 1 + (mode >> 1) % 17;
    struct vt_buf b;
    vt_buf_init(&b, 0);
    CHECK(vt_buf_json_real(&b, x, digits) == 0);
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
    if (!isfinite(x)) {
        CHECK(j && json_is_null(j));
    } else {
        CHECK(j && json_is_real(j));
        double y = json_real_value(j);
        /* %.*g keeps `digits` significant digits: relative error below
         * 10^(1 - digits) (and y = 0 only for x = 0 or an underflow) */
        double tol = pow(10.0, 1 - digits) * fabs(x);
        CHECK(fabs(y - x) <= tol || (fabs(x) < 1e-300 && fabs(y) < 1e-300));
    }
    json_decref(j);
    vt_buf_reset(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    if (mode & 1)
        check_real(mode, data + 1, size - 1);
    else
        check_string(data + 1, size - 1);
    return 0;
}

#ifdef FUZZ_STANDALONE
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        static uint8_t buf[1 << 20];
        size_t n;
        if (!f)
            continue;
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
