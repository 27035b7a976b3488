/* test_props.c - the Java .properties parser: grammar, escapes, bad input. */
#include <stdlib.h>

#include "ar/props.h"
#include "core/alloc.h"
#include "core/error.h"
#include "test.h"

static struct vt_props *parse(const char *s, struct vt_error *err)
{
    struct vt_props *p = NULL;
    int rc = vt_props_parse(s, strlen(s), &p, err);
    if (rc)
        return NULL;
    return p;
}

TEST(separators_and_blanks)
{
    struct vt_error err;
    struct vt_props *p = parse("a=1\n"
                               "b : 2\n"
                               "  c\t3\n"
                               "d    =   four  \n"
                               "e\n"
                               "f=\n"
                               "g==x\n"
                               "h = = y\n"
                               "i:=z\n",
                               &err);
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_STR(vt_props_get(p, "a"), "1");
    CHECK_STR(vt_props_get(p, "b"), "2");
    CHECK_STR(vt_props_get(p, "c"), "3");
    CHECK_STR(vt_props_get(p, "d"), "four  "); /* trailing blanks are kept */
    CHECK_STR(vt_props_get(p, "e"), "");
    CHECK_STR(vt_props_get(p, "f"), "");
    CHECK_STR(vt_props_get(p, "g"), "=x");
    CHECK_STR(vt_props_get(p, "h"), "= y");
    CHECK_STR(vt_props_get(p, "i"), "=z");
    CHECK(vt_props_get(p, "missing") == NULL);
    CHECK_EQ_INT(vt_props_count(p), 9);
    CHECK_STR(vt_props_key_at(p, 0), "a");
    CHECK_STR(vt_props_value_at(p, 8), "=z");
    vt_props_free(p);
}

TEST(comments_and_line_ends)
{
    struct vt_error err;
    struct vt_props *p = parse("# comment = no\n"
                               "   ! also a comment\r\n"
                               "\n"
                               "  \t \n"
                               "x=1\r"
                               "y=2\r\n"
                               "# a comment ending in a backslash does not continue \\\n"
                               "z=3",
                               &err);
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_EQ_INT(vt_props_count(p), 3);
    CHECK_STR(vt_props_get(p, "x"), "1");
    CHECK_STR(vt_props_get(p, "y"), "2");
    CHECK_STR(vt_props_get(p, "z"), "3");
    CHECK(vt_props_get(p, "#") == NULL);
    vt_props_free(p);
}

TEST(continuations)
{
    struct vt_error err;
    struct vt_props *p = parse("fruits = apple, \\\n"
                               "         banana, \\\r\n"
                               "\t pear\n"
                               "path = c:\\\\dir\\\\\n" /* even backslashes: no continuation */
                               "next = 1\n"
                               "key\\\n"
                               "  part = joined\n"
                               "last = end\\",  /* lone backslash at the end of input */
                               &err);
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_STR(vt_props_get(p, "fruits"), "apple, banana, pear");
    CHECK_STR(vt_props_get(p, "path"), "c:\\dir\\");
    CHECK_STR(vt_props_get(p, "next"), "1");
    CHECK_STR(vt_props_get(p, "keypart"), "joined");
    CHECK_STR(vt_props_get(p, "last"), "end");
    vt_props_free(p);
}

TEST(escapes)
{
    struct vt_error err;
    struct vt_props *p = parse("tabs=a\\tb\\nc\\rd\\fe\n"
                               "name#1=\\u6276\\u624b\\u6905\n"
                               "emoji=\\uD83D\\uDE00!\n"
                               "upper=\\u00E9\\u00e9\n"
                               "other=\\q\\#\\!\\=\\:\\ x\n"
                               "key\\ with\\=odd\\:chars = v\n"
                               "\\#notcomment=1\n"
                               "\\u0041BC=letters\n",
                               &err);
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_STR(vt_props_get(p, "tabs"), "a\tb\nc\rd\fe");
    CHECK_STR(vt_props_get(p, "name#1"), "扶手椅");
    CHECK_STR(vt_props_get(p, "emoji"), "\xF0\x9F\x98\x80!");
    CHECK_STR(vt_props_get(p, "upper"), "éé");
    CHECK_STR(vt_props_get(p, "other"), "q#!=: x");
    CHECK_STR(vt_props_get(p, "key with=odd:chars"), "v");
    CHECK_STR(vt_props_get(p, "#notcomment"), "1");
    CHECK_STR(vt_props_get(p, "ABC"), "letters");
    vt_props_free(p);
}

TEST(iso_8859_1_bytes_become_utf8)
{
    /* "caf\xE9 \xA9 2008": Latin-1 bytes as found in the catalogs' licence lines */
    const char in[] = "license=caf\xE9 \xA9 2008\nk\xFC=v\n";
    struct vt_props *p = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_props_parse(in, sizeof in - 1, &p, &err), 0);
    if (!p)
        return;
    CHECK_STR(vt_props_get(p, "license"), "café © 2008");
    CHECK_STR(vt_props_get(p, "kü"), "v");
    vt_props_free(p);
}

TEST(duplicate_key_keeps_last)
{
    struct vt_error err;
    struct vt_props *p = parse("a=1\nb=2\na=3\n", &err);
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_EQ_INT(vt_props_count(p), 2);
    CHECK_STR(vt_props_get(p, "a"), "3");
    CHECK_STR(vt_props_key_at(p, 0), "a");
    vt_props_free(p);
}

TEST(many_entries)
{
    /* enough keys to grow the table several times */
    char line[64];
    size_t cap = 20000 * 32, len = 0;
    char *s = malloc(cap);
    for (int i = 0; i < 20000; i++)
        len += (size_t)snprintf(s + len, cap - len, "k%d=v%d\n", i, i * 7);
    struct vt_props *p = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_props_parse(s, len, &p, &err), 0);
    free(s);
    if (!p)
        return;
    CHECK_EQ_INT(vt_props_count(p), 20000);
    int bad = 0;
    for (int i = 0; i < 20000; i += 1) {
        snprintf(line, sizeof line, "k%d", i);
        const char *v = vt_props_get(p, line);
        char want[32];
        snprintf(want, sizeof want, "v%d", i * 7);
        if (!v || strcmp(v, want) != 0)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    vt_props_free(p);
}

/* Parse s and expect failure with code and the error on line/column. */
static void expect_error(const char *s, size_t len, int code, int line, int column,
                         const char *in_message)
{
    struct vt_props *p = (struct vt_props *)1;
    struct vt_error err;
    int rc = vt_props_parse(s, len, &p, &err);
    CHECK_EQ_INT(rc, code);
    CHECK(p == NULL);
    CHECK_EQ_INT(err.code, code);
    CHECK_EQ_INT(err.line, line);
    if (column)
        CHECK_EQ_INT(err.column, column);
    if (!strstr(err.message, in_message)) {
        fprintf(stderr, "  message was: %s\n", err.message);
        CHECK(strstr(err.message, in_message) != NULL);
    }
}

TEST(bad_escapes)
{
    const char *s;
    s = "ok=1\nbad=\\u12G4\n";
    expect_error(s, strlen(s), VT_EPARSE, 2, 9, "'G' is not a hex digit");
    s = "ok=1\n\nbad=ab\\u12\nnext=1\n";  /* \u cut short by the line end */
    expect_error(s, strlen(s), VT_EPARSE, 3, 7, "cut short");
    s = "a=1\nb=\\u00";                    /* truncated escape at the end of input */
    expect_error(s, strlen(s), VT_EPARSE, 2, 3, "cut short");
    s = "a=\\uD83Dx\n";                    /* lone high surrogate */
    expect_error(s, strlen(s), VT_EPARSE, 1, 3, "high surrogate");
    s = "a=\\uD83D\\u0041\n";
    expect_error(s, strlen(s), VT_EPARSE, 1, 3, "high surrogate");
    s = "a=\\uDE00\n";                     /* lone low surrogate */
    expect_error(s, strlen(s), VT_EPARSE, 1, 3, "low surrogate");
    s = "a=\\u0000\n";
    expect_error(s, strlen(s), VT_EPARSE, 1, 3, "U+0000");
    s = "k\\u004=v\n";   /* the unescaped '=' ends the key, cutting the escape short */
    expect_error(s, strlen(s), VT_EPARSE, 1, 2, "cut short");
    s = "long = first \\\n   second \\u00Z1\n"; /* error on a continuation line */
    expect_error(s, strlen(s), VT_EPARSE, 2, 15, "'Z' is not a hex digit");
    const char nul[] = "a=1\nb=x\0y\n";
    expect_error(nul, sizeof nul - 1, VT_EPARSE, 2, 4, "NUL");
}

TEST(huge_line)
{
    size_t n = VT_PROPS_MAX_LINE + 100;
    char *s = malloc(n + 8);
    memcpy(s, "a=1\nbig=", 8);
    memset(s + 8, 'x', n);
    struct vt_props *p = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_props_parse(s, n + 8, &p, &err), VT_ETOOBIG);
    CHECK(p == NULL);
    CHECK_EQ_INT(err.line, 2);
    /* a line just under the cap is fine */
    memset(s + 8, 'y', 1000);
    CHECK_EQ_INT(vt_props_parse(s, 8 + 1000, &p, &err), 0);
    CHECK_EQ_INT(strlen(vt_props_get(p, "big")), 1000);
    vt_props_free(p);
    free(s);
}

TEST(empty_and_load_errors)
{
    struct vt_props *p = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_props_parse("", 0, &p, &err), 0);
    CHECK_EQ_INT(vt_props_count(p), 0);
    CHECK(vt_props_get(p, "a") == NULL);
    vt_props_free(p);
    vt_props_free(NULL);
    CHECK_EQ_INT(vt_props_load("build/no/such/file.properties", &p, &err), VT_ENOTFOUND);
    CHECK(strstr(err.message, "build/no/such/file.properties") != NULL);
}

TEST(load_names_file_in_error)
{
    const char *path = "build/tests/props-bad.properties";
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("# x\nname#1=\\u62G6\n", f);
    fclose(f);
    struct vt_props *p = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_props_load(path, &p, &err), VT_EPARSE);
    CHECK(strstr(err.message, "props-bad.properties: line 2, column 12") != NULL);
    remove(path);
}

TEST(no_leak)
{
    int64_t before = vt_alloc_bytes_in_use();
    struct vt_props *p = NULL;
    struct vt_error err;
    const char *s = "a=1\nb=\\u6276\nc=bad\\u00\n";
    vt_props_parse(s, strlen(s), &p, &err);
    s = "a=1\nb=\\u6276\n";
    vt_props_parse(s, strlen(s), &p, &err);
    vt_props_free(p);
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
    /* failed allocations at every step leave nothing behind */
    for (int n = 1; n < 12; n++) {
        vt_alloc_fail_after(n);
        int rc = vt_props_parse(s, strlen(s), &p, &err);
        vt_alloc_fail_after(0);
        if (rc == 0)
            vt_props_free(p);
        else
            CHECK_EQ_INT(rc, VT_ENOMEM);
        CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
    }
}

int main(void)
{
    RUN(separators_and_blanks);
    RUN(comments_and_line_ends);
    RUN(continuations);
    RUN(escapes);
    RUN(iso_8859_1_bytes_become_utf8);
    RUN(duplicate_key_keeps_last);
    RUN(many_entries);
    RUN(bad_escapes);
    RUN(huge_line);
    RUN(empty_and_load_errors);
    RUN(load_names_file_in_error);
    RUN(no_leak);
    return TEST_SUMMARY();
}
