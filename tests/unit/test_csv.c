/* test_csv.c - the CSV reader: RFC 4180 cases, real-world variants and
 * malformed input with the line and column users are told. */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/csv.h"
#include "core/error.h"
#include "test.h"

/* A reader over a temporary file holding s (n bytes; -1 = strlen). */
struct src {
    FILE *f;
    struct vt_csv *c;
};

static struct src *open_src(const char *s, long n, const struct vt_csv_options *o)
{
    static struct src src;
    size_t len = n < 0 ? strlen(s) : (size_t)n;
    src.f = tmpfile();
    CHECK(src.f != NULL);
    CHECK_EQ_INT(fwrite(s, 1, len, src.f), len);
    rewind(src.f);
    CHECK(vt_csv_new(src.f, o, &src.c) == 0);
    return &src;
}

static void close_src(struct src *s)
{
    vt_csv_free(s->c);
    fclose(s->f);
}

TEST(plain_lf)
{
    struct src *s = open_src("id,title\na,Sofa\nb,Chair\n", -1, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(h.n, 2);
    CHECK_STR(h.fields[0], "id");
    CHECK_STR(h.fields[1], "title");
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[0], "a");
    CHECK_STR(r.fields[1], "Sofa");
    CHECK_EQ_INT(r.line, 2);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "Chair");
    CHECK_EQ_INT(r.line, 3);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 0);
    /* The header survives later records. */
    CHECK_STR(h.fields[1], "title");
    CHECK_EQ_INT(vt_csv_bytes_read(s->c), (long long)strlen("id,title\na,Sofa\nb,Chair\n"));
    close_src(s);
}

TEST(quoted_crlf_and_escapes)
{
    const char *in = "id,text,n\r\n"
                     "1,\"a, b\",x\r\n"
                     "2,\"she said \"\"hi\"\"\",y\r\n"
                     "3,\"two\r\nlines\",z\r\n"
                     "4,\"\",\r\n";
    struct src *s = open_src(in, -1, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "a, b");
    CHECK_EQ_INT(r.line, 2);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "she said \"hi\"");
    CHECK_EQ_INT(r.lens[1], 13);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "two\r\nlines");
    CHECK_STR(r.fields[2], "z");
    CHECK_EQ_INT(r.line, 4);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_EQ_INT(r.line, 6); /* the embedded CRLF counted as one line */
    CHECK_EQ_INT(r.n, 3);
    CHECK_STR(r.fields[1], "");
    CHECK_STR(r.fields[2], "");
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 0);
    close_src(s);
}

TEST(bom_blank_lines_no_final_newline)
{
    struct src *s = open_src("\xEF\xBB\xBFid,name\n\n1,\xE6\xB2\x99\xE5\x8F\x91\n\r\n\n2,x", -1,
                             NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_STR(h.fields[0], "id"); /* not "\xEF\xBB\xBFid" */
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "沙发");
    CHECK_EQ_INT(r.line, 3);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "x");
    CHECK_EQ_INT(r.line, 6);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 0);
    close_src(s);
}

TEST(lone_cr_line_ends)
{
    struct src *s = open_src("a,b\r1,2\r3,4\r", -1, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "2");
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_EQ_INT(r.line, 3);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 0);
    close_src(s);
}

TEST(no_header_any_field_count)
{
    struct src *s = open_src("a\nb,c,d\n,\n", -1, NULL);
    struct vt_csv_record r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_EQ_INT(r.n, 3);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 0);
    close_src(s);
}

TEST(unterminated_quote)
{
    struct src *s = open_src("id,t\n1,ok\n2,\"never\nclosed,3\n4,x\n", -1, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK(strstr(e.message, "unterminated") != NULL);
    CHECK_EQ_INT(e.line, 3);   /* where the quote opened */
    CHECK_EQ_INT(e.column, 3);
    CHECK_EQ_INT(e.offset, 12);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 0);
    close_src(s);
}

TEST(stray_quote_in_bare_field_recovers)
{
    struct src *s = open_src("id,t\n1,5\" screen\n2,fine\n", -1, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK(strstr(e.message, "stray quote") != NULL);
    CHECK_EQ_INT(e.line, 2);
    CHECK_EQ_INT(e.column, 4);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[0], "2");
    CHECK_STR(r.fields[1], "fine");
    CHECK_EQ_INT(r.line, 3);
    close_src(s);
}

TEST(unescaped_quote_in_quoted_field)
{
    /* Columns count characters: the two Chinese characters are 2, not 6. */
    struct src *s = open_src("id,t\n1,\"沙发\"x\",y\n2,z\n", -1, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK(strstr(e.message, "unescaped quote") != NULL);
    CHECK_EQ_INT(e.line, 2);
    CHECK_EQ_INT(e.column, 6);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "z");
    close_src(s);
}

TEST(field_count_against_header)
{
    struct src *s = open_src("a,b,c\n1,2\n1,2,3,4,5\n\"x,y\",\"\n\",z\n", -1, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK_STR(e.message, "2 fields where the header has 3");
    CHECK_EQ_INT(e.line, 2);
    CHECK_EQ_INT(e.column, 4); /* the end of the line */
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK_STR(e.message, "5 fields where the header has 3");
    CHECK_EQ_INT(e.line, 3);
    CHECK_EQ_INT(e.column, 7); /* where the 4th field starts */
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[0], "x,y");
    CHECK_STR(r.fields[1], "\n");
    CHECK_EQ_INT(r.line, 4);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 0);
    close_src(s);
}

TEST(caps)
{
    struct vt_csv_options o = {8, 20, 4};
    struct src *s = open_src("a,b\n123456789,x\n1,2\n12345678,\"12345678\"\n1,\"a\nb\n"
                             "1,2,3,4,5,6\n",
                             -1, &o);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_ETOOBIG);
    CHECK(strstr(e.message, "field longer than 8 bytes") != NULL);
    CHECK_EQ_INT(e.line, 2);
    CHECK_EQ_INT(e.column, 1);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "2");
    /* 8 + 8 bytes of content fit in 20 with the separators. */
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "12345678");
    /* A quoted field over its cap runs to the end: the unterminated quote
     * is the more useful report. */
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK(strstr(e.message, "unterminated") != NULL);
    close_src(s);

    s = open_src("1,2,3,4,5,6\n1,2\n", -1, &o);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_ETOOBIG);
    CHECK(strstr(e.message, "more than 4 fields") != NULL);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_EQ_INT(r.n, 2);
    close_src(s);

    struct vt_csv_options o2 = {100, 10, 4};
    s = open_src("aaaaaa,bbbbbb\nc\n", -1, &o2);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_ETOOBIG);
    CHECK(strstr(e.message, "record longer than 10 bytes") != NULL);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[0], "c");
    close_src(s);

    /* The cap is exact: 10 content bytes pass, 11 do not; an empty first
     * field is fine. */
    s = open_src(",aaaaaaaaaa\naaaaa,aaaaaa\n", -1, &o2);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_EQ_INT(r.n, 2);
    CHECK_STR(r.fields[0], "");
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_ETOOBIG);
    close_src(s);
}

TEST(invalid_utf8_and_nul)
{
    struct src *s = open_src("a,b\n1,ab\xC3(\n2,\"x\"\"\xFF\"\n3,a\0b\n4,ok\n", 31, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK_STR(e.message, "invalid UTF-8");
    CHECK_EQ_INT(e.line, 2);
    CHECK_EQ_INT(e.column, 5);
    CHECK_EQ_INT(e.offset, 8);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK_STR(e.message, "invalid UTF-8");
    CHECK_EQ_INT(e.line, 3);
    CHECK_EQ_INT(e.column, 7); /* 2,"x""<FF>: the escaped quote is two characters */
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), VT_EFORMAT);
    CHECK_STR(e.message, "NUL byte");
    CHECK_EQ_INT(e.line, 4);
    CHECK_EQ_INT(e.column, 4);
    CHECK_EQ_INT(vt_csv_next(s->c, &r, &e), 1);
    CHECK_STR(r.fields[1], "ok");
    close_src(s);
}

TEST(empty_input)
{
    struct src *s = open_src("", 0, NULL);
    struct vt_csv_record h;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), VT_EFORMAT);
    CHECK(strstr(e.message, "header") != NULL);
    close_src(s);
    s = open_src("\xEF\xBB\xBF\n\n", -1, NULL);
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), VT_EFORMAT);
    close_src(s);
}

/* Records that straddle the 64 KiB read buffer, and many of them. */
TEST(large_input)
{
    struct vt_buf_like {
        char *p;
        size_t n, cap;
    } b = {NULL, 0, 0};
    b.cap = 4 << 20;
    b.p = malloc(b.cap);
    b.n += (size_t)snprintf(b.p, b.cap, "user_id,item_id,value\n");
    for (int i = 0; i < 50000; i++)
        b.n += (size_t)snprintf(b.p + b.n, b.cap - b.n, "u%d,\"it,em\n%d\",%d.5\r\n", i % 97, i,
                                i % 5);
    struct src *s = open_src(b.p, (long)b.n, NULL);
    struct vt_csv_record h, r;
    struct vt_error e;
    CHECK_EQ_INT(vt_csv_header(s->c, &h, &e), 0);
    int n = 0, ok = 1, rc;
    while ((rc = vt_csv_next(s->c, &r, &e)) == 1) {
        char want[32];
        snprintf(want, sizeof want, "it,em\n%d", n);
        if (strcmp(r.fields[1], want) != 0 || r.line != 2 + 2 * n)
            ok = 0;
        n++;
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(n, 50000);
    CHECK(ok);
    CHECK_EQ_INT(vt_csv_bytes_read(s->c), (long long)b.n);
    close_src(s);
    free(b.p);
}

/* Every allocation failing in turn: an error, never a crash or a leak. */
TEST(out_of_memory)
{
    int64_t before = vt_alloc_bytes_in_use();
    for (int k = 1; k < 12; k++) {
        FILE *f = tmpfile();
        fputs("a,b\n\"1\",2\n3,4\n", f);
        rewind(f);
        struct vt_csv *c = NULL;
        vt_alloc_fail_after(k);
        int rc = vt_csv_new(f, NULL, &c);
        if (rc == 0) {
            struct vt_csv_record h, r;
            struct vt_error e;
            rc = vt_csv_header(c, &h, &e);
            while (rc == 0 && (rc = vt_csv_next(c, &r, &e)) == 1)
                rc = 0;
            CHECK(rc == 0 || rc == VT_ENOMEM);
        } else {
            CHECK_EQ_INT(rc, VT_ENOMEM);
        }
        vt_alloc_fail_after(0);
        vt_csv_free(c);
        fclose(f);
    }
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
}

int main(void)
{
    RUN(plain_lf);
    RUN(quoted_crlf_and_escapes);
    RUN(bom_blank_lines_no_final_newline);
    RUN(lone_cr_line_ends);
    RUN(no_header_any_field_count);
    RUN(unterminated_quote);
    RUN(stray_quote_in_bare_field_recovers);
    RUN(unescaped_quote_in_quoted_field);
    RUN(field_count_against_header);
    RUN(caps);
    RUN(invalid_utf8_and_nul);
    RUN(empty_input);
    RUN(large_input);
    RUN(out_of_memory);
    return TEST_SUMMARY();
}
