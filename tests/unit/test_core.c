/* test_core.c - clocks, ISO-8601, UTF-8, buffers, JSON text, arenas, allocator,
 * configuration. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/conf.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "core/util.h"
#include "test.h"

TEST(iso_round_trip)
{
    int64_t ms;
    CHECK_EQ_INT(vt_time_parse_iso("1970-01-01T00:00:00Z", &ms), 0);
    CHECK_EQ_INT(ms, 0);
    CHECK_EQ_INT(vt_time_parse_iso("2026-11-22T19:20:01.123Z", &ms), 0);
    char s[32];
    vt_time_format_iso(ms, s, sizeof s);
    CHECK_STR(s, "2026-11-22T19:20:01.123Z");
    CHECK_EQ_INT(vt_time_parse_iso("2026-11-23T03:20:01.123+08:00", &ms), 0);
    vt_time_format_iso(ms, s, sizeof s);
    CHECK_STR(s, "2026-11-22T19:20:01.123Z");
    CHECK_EQ_INT(vt_time_parse_iso("2000-02-29", &ms), 0);
    CHECK_EQ_INT(ms, 951782400000LL);
    CHECK_EQ_INT(vt_time_parse_iso("2026-13-01", &ms), VT_EINVAL);
    CHECK_EQ_INT(vt_time_parse_iso("yesterday", &ms), VT_EINVAL);
    CHECK_EQ_INT(vt_time_parse_iso("2026-11-22T19:20:01Zjunk", &ms), VT_EINVAL);
    CHECK_EQ_INT(vt_time_parse_iso("", &ms), VT_EINVAL);
}

TEST(utf8_checks)
{
    size_t bad = 99;
    CHECK(vt_utf8_valid("sofa 沙发 🛋", strlen("sofa 沙发 🛋"), &bad));
    CHECK(!vt_utf8_valid("ab\xC0\xAF", 4, &bad)); /* overlong '/' */
    CHECK_EQ_INT(bad, 2);
    CHECK(!vt_utf8_valid("\xED\xA0\x80", 3, &bad)); /* surrogate */
    CHECK(!vt_utf8_valid("a\0b", 3, &bad));
    CHECK_EQ_INT(bad, 1);
    CHECK(!vt_utf8_valid("\xE6\xB2", 2, &bad)); /* truncated */
    CHECK_EQ_INT(vt_utf8_len("沙发ab", strlen("沙发ab")), 4);
    CHECK(vt_utf8_has_cjk("black 沙发", strlen("black 沙发")));
    CHECK(!vt_utf8_has_cjk("Sofa (2 seats)", 14));
    char out[4];
    uint32_t cp;
    CHECK_EQ_INT(vt_utf8_encode(0x6C99, out), 3);
    CHECK_EQ_INT(vt_utf8_decode(out, 3, &cp), 3);
    CHECK_EQ_INT(cp, 0x6C99);
}

TEST(buf_cap)
{
    struct vt_buf b;
    vt_buf_init(&b, 10);
    CHECK_EQ_INT(vt_buf_puts(&b, "hello"), 0);
    CHECK_EQ_INT(vt_buf_printf(&b, "%d", 1234), 0);
    CHECK_STR(b.data, "hello1234");
    CHECK_EQ_INT(vt_buf_puts(&b, "xy"), VT_ETOOBIG);
    CHECK_STR(b.data, "hello1234");
    vt_buf_reset(&b);
}

/* The JSON writer against jansson's reader: every string it writes reads
 * back as the same string (invalid UTF-8 as U+FFFD), numbers as reals. */
TEST(buf_json_text)
{
    static const char *const cases[] = {"", "plain", "quote \" and \\ slash /", "tab\tnl\ncr\r",
                                        "\x01\x1f ctl", "沙发 black sofa", "emoji \xF0\x9F\x9B\x8B",
                                        "\xE2\x80\x9Cquoted\xE2\x80\x9D"};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        struct vt_buf b;
        vt_buf_init(&b, 0);
        CHECK_EQ_INT(vt_buf_json_str(&b, cases[k]), 0);
        json_error_t je;
        json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, &je);
        CHECK(json_is_string(j));
        if (j)
            CHECK_STR(json_string_value(j), cases[k]);
        json_decref(j);
        vt_buf_reset(&b);
    }
    /* bytes outside UTF-8: a stray continuation, a cut sequence, an
     * overlong '/', a surrogate, past U+10FFFF */
    static const char *const bad[][2] = {{"a\x80" "b", "a\xEF\xBF\xBD" "b"},
                                         {"\xE6\xB2", "\xEF\xBF\xBD\xEF\xBF\xBD"},
                                         {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},
                                         {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
                                         {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        struct vt_buf b;
        vt_buf_init(&b, 0);
        CHECK_EQ_INT(vt_buf_json_str(&b, bad[k][0]), 0);
        json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
        CHECK(json_is_string(j));
        if (j)
            CHECK_STR(json_string_value(j), bad[k][1]);
        json_decref(j);
        vt_buf_reset(&b);
    }
    struct vt_buf b;
    vt_buf_init(&b, 0);
    CHECK_EQ_INT(vt_buf_json_str(&b, NULL), 0);
    CHECK_EQ_INT(vt_buf_append(&b, ",", 1), 0);
    CHECK_EQ_INT(vt_buf_json_real(&b, 1.0, 9), 0);
    CHECK_EQ_INT(vt_buf_append(&b, ",", 1), 0);
    CHECK_EQ_INT(vt_buf_json_real(&b, 0.516061481f, 9), 0);
    CHECK_EQ_INT(vt_buf_append(&b, ",", 1), 0);
    CHECK_EQ_INT(vt_buf_json_real(&b, 1e-30, 9), 0);
    CHECK_EQ_INT(vt_buf_append(&b, ",", 1), 0);
    CHECK_EQ_INT(vt_buf_json_real(&b, NAN, 9), 0);
    CHECK_STR(b.data, "null,1.0,0.516061485,1e-30,null");
    vt_buf_reset(&b);
}

/* Marks nest, big blocks get their own chunk, release merges chunks, and
 * blocks are aligned for AVX loads. */
TEST(arena_marks)
{
    struct vt_arena *a = vt_arena_new(1024);
    CHECK(a != NULL);
    if (!a)
        return;
    char *x = vt_arena_alloc(a, 10);
    CHECK(x && ((uintptr_t)x & 31) == 0);
    memset(x, 'x', 10);
    size_t m1 = vt_arena_mark(a);
    char *y = vt_arena_alloc(a, 5000); /* bigger than a chunk */
    CHECK(y && ((uintptr_t)y & 31) == 0);
    memset(y, 'y', 5000);
    size_t m2 = vt_arena_mark(a);
    char *z = vt_arena_strdup(a, "zed");
    CHECK_STR(z, "zed");
    vt_arena_release(a, m2);
    CHECK_EQ_INT(vt_arena_mark(a), m2);
    vt_arena_release(a, m1);
    CHECK_EQ_INT(vt_arena_mark(a), m1);
    CHECK(x[0] == 'x' && x[9] == 'x'); /* below the mark: kept */
    char *w = vt_arena_calloc(a, 100, 4);
    CHECK(w && w[0] == 0 && w[399] == 0);
    vt_arena_release(a, 0);
    CHECK_EQ_INT(vt_arena_mark(a), 0);
    /* merged: the next request as large as the last fits one chunk */
    size_t cap = vt_arena_capacity(a);
    CHECK(cap >= 5000);
    CHECK(vt_arena_alloc(a, 5000) != NULL);
    CHECK_EQ_INT(vt_arena_capacity(a), cap);
    vt_arena_release(a, 0);
    /* out of memory: NULL, and the arena still works */
    vt_alloc_fail_after(1);
    CHECK(vt_arena_alloc(a, 1 << 20) == NULL);
    vt_alloc_fail_after(0);
    CHECK(vt_arena_alloc(a, 16) != NULL);
    vt_arena_free(a);
    CHECK(vt_arena_thread() != NULL && vt_arena_thread() == vt_arena_thread());
}

TEST(alloc_counts_and_fails)
{
    int64_t before = vt_alloc_bytes_in_use();
    char *p = vt_malloc(1000);
    CHECK(p != NULL);
    CHECK_EQ_INT(vt_alloc_bytes_in_use() - before, 1000);
    p = vt_realloc(p, 50);
    CHECK_EQ_INT(vt_alloc_bytes_in_use() - before, 50);
    vt_free(p);
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
    vt_alloc_fail_after(2);
    void *a = vt_malloc(8), *b = vt_malloc(8), *c = vt_malloc(8);
    CHECK(a != NULL && b == NULL && c != NULL);
    vt_free(a);
    vt_free(c);
    CHECK(vt_calloc(SIZE_MAX / 2, 4) == NULL);
}

TEST(conf_file_and_env)
{
    const char *path = "build/test_core.conf";
    FILE *f = fopen(path, "w");
    fprintf(f, "# comment\nlisten = 0.0.0.0:9000\nweight.ar_place = 7.5  # inline\n");
    fclose(f);
    setenv("VITRINE_THREADS", "3", 1);
    struct vt_conf *c = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    CHECK_EQ_INT(vt_conf_load(path, 1, &c, &err), 0);
    CHECK_STR(vt_conf_str(c, "listen"), "0.0.0.0:9000");
    CHECK_NEAR(vt_conf_double(c, "weight.ar_place"), 7.5, 1e-12);
    CHECK_EQ_INT(vt_conf_int(c, "threads"), 3);
    CHECK_STR(vt_conf_str(c, "db"), "./vitrine.db");
    vt_conf_free(c);
    unsetenv("VITRINE_THREADS");

    f = fopen(path, "w");
    fprintf(f, "listen = x\nbogus = 1\n");
    fclose(f);
    CHECK_EQ_INT(vt_conf_load(path, 1, &c, &err), VT_EINVAL);
    CHECK(strstr(err.message, ":2: unknown key 'bogus'") != NULL);

    f = fopen(path, "w");
    fprintf(f, "threads = many\n");
    fclose(f);
    CHECK_EQ_INT(vt_conf_load(path, 1, &c, &err), VT_EINVAL);
    CHECK(strstr(err.message, "needs a number") != NULL);
    CHECK_EQ_INT(vt_conf_load("build/does-not-exist.conf", 1, &c, &err), VT_EIO);
    CHECK_EQ_INT(vt_conf_load("build/does-not-exist.conf", 0, &c, &err), 0);
    vt_conf_free(c);
}

TEST(mapfile_open_close)
{
    const char *path = "build/test_core.map";
    struct vt_mapfile m;
    struct vt_error err;
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    fputs("GGUF and more", f);
    fclose(f);
    CHECK_EQ_INT(vt_mapfile_open(path, &m, &err), 0);
    CHECK_EQ_INT(m.len, 13);
    CHECK(m.data && memcmp(m.data, "GGUF and more", 13) == 0);
    vt_mapfile_close(&m);
    CHECK(m.data == NULL && m.len == 0);
    vt_mapfile_close(&m);   /* twice is harmless */
    vt_mapfile_close(NULL);

    /* an empty file opens, with no mapping behind it */
    f = fopen(path, "wb");
    fclose(f);
    CHECK_EQ_INT(vt_mapfile_open(path, &m, &err), 0);
    CHECK(m.data != NULL && m.len == 0);
    vt_mapfile_close(&m);
    CHECK(m.data == NULL);

    vt_error_clear(&err);
    CHECK_EQ_INT(vt_mapfile_open("build/does-not-exist.gguf", &m, &err), VT_EIO);
    CHECK(m.data == NULL && m.len == 0 && err.code == VT_EIO);
    CHECK(strstr(err.message, "build/does-not-exist.gguf: cannot open: ") != NULL);
    CHECK_EQ_INT(vt_mapfile_open("build", &m, &err), VT_EIO);
    CHECK(strstr(err.message, "build: not a regular file") != NULL);
    CHECK(m.data == NULL);

    /* unreadable (root reads everything, so only checked for others) */
    f = fopen(path, "wb");
    fputs("x", f);
    fclose(f);
    CHECK_EQ_INT(chmod(path, 0), 0);
    if (geteuid() != 0) {
        CHECK_EQ_INT(vt_mapfile_open(path, &m, &err), VT_EIO);
        CHECK(strstr(err.message, "cannot open: ") != NULL && m.data == NULL);
    }
    CHECK_EQ_INT(remove(path), 0);
}

int main(void)
{
    RUN(iso_round_trip);
    RUN(utf8_checks);
    RUN(buf_cap);
    RUN(buf_json_text);
    RUN(arena_marks);
    RUN(alloc_counts_and_fails);
    RUN(conf_file_and_env);
    RUN(mapfile_open_close);
    return TEST_SUMMARY();
}
