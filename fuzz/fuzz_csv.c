/*
 * fuzz_csv.c - libFuzzer target for the streaming CSV reader (core/csv.h),
 * which reads catalog and event files handed to `vitrine import`.
 *
 * Input: one mode byte, then the file's bytes. Mode bits:
 *   bit 0    read the first record as the header (vt_csv_header), as the
 *            importer does; otherwise records may have any field count
 *   bits 1-2 caps: 0 the defaults, 1 fields of at most 8 bytes, 2 records
 *            of at most 16 bytes, 3 at most 3 fields
 *   bit 3    the file ends in a read error instead of end-of-file
 *
 * Checks beyond "no crash, no sanitizer report":
 *   - the reader always terminates: every call consumes input, and after
 *     the end it keeps answering 0;
 *   - each record has its fields NUL-terminated with the stated length,
 *     valid UTF-8, within the caps and, after a header, as many as it has;
 *     record lines never go back;
 *   - each error names its code, a message and a position inside the input;
 *   - when no record failed, writing the records back (every field quoted)
 *     and reading that gives the same records;
 *   - read again with one allocation failing, the reader gives the same
 *     records until it returns VT_ENOMEM, and leaks nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/alloc.h"
#include "core/csv.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "fuzz_csv: check failed at line %d: %s\n", __LINE__, #c); \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* A FILE over memory that can end in a read error. */
struct src {
    const uint8_t *p;
    size_t n, pos;
    int fail_at_end;
};

static ssize_t src_read(void *cookie, char *buf, size_t size)
{
    struct src *s = cookie;
    if (s->pos == s->n)
        return s->fail_at_end ? -1 : 0;
    size_t k = s->n - s->pos < size ? s->n - s->pos : size;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    return (ssize_t)k;
}

static FILE *src_open(struct src *s)
{
    cookie_io_functions_t io = {src_read, NULL, NULL, NULL};
    FILE *f = fopencookie(s, "r", io);
    CHECK(f != NULL);
    return f;
}

/* The harness's own growing buffer: plain malloc, so that the failing
 * allocation injected below always lands in the reader. */
struct bytes {
    char *data;
    size_t len, cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        CHECK(b->data != NULL);
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Everything read from one input: the records as one buffer of
 * "<n>\0" then n times (length, bytes), and how reading ended. */
struct result {
    struct bytes recs;
    size_t nrecs;
    int errors;      /* a record failed (the caller could go on) */
    int final_code;  /* VT_EIO / VT_ENOMEM / VT_EFORMAT that ended it, or 0 */
};

static void put_record(struct result *res, const struct vt_csv_record *rec)
{
    char head[32];
    int k = snprintf(head, sizeof head, "%zu", rec->n);
    bytes_add(&res->recs, head, (size_t)k + 1);
    for (size_t i = 0; i < rec->n; i++) {
        bytes_add(&res->recs, &rec->lens[i], sizeof rec->lens[i]);
        bytes_add(&res->recs, rec->fields[i], rec->lens[i]);
    }
    res->nrecs++;
}

static void check_record(const struct vt_csv_record *rec, const struct vt_csv_options *o,
                         size_t expect)
{
    CHECK(rec->n >= 1);
    CHECK(rec->n <= (o->max_fields ? o->max_fields : 1024));
    if (expect)
        CHECK(rec->n == expect);
    size_t total = 0;
    for (size_t i = 0; i < rec->n; i++) {
        size_t bad;
        CHECK(rec->fields[i] != NULL);
        CHECK(strlen(rec->fields[i]) == rec->lens[i]);
        CHECK(vt_utf8_valid(rec->fields[i], rec->lens[i], &bad));
        CHECK(rec->lens[i] <= (o->max_field_bytes ? o->max_field_bytes : 1u << 20));
        total += rec->lens[i];
    }
    /* The record cap counts one separator between fields (csv.h, tests). */
    CHECK(total + rec->n - 1 <= (o->max_record_bytes ? o->max_record_bytes : 4u << 20));
}

static void check_error(int rc, const struct vt_error *err, size_t size)
{
    CHECK(rc == VT_EFORMAT || rc == VT_ETOOBIG || rc == VT_EIO || rc == VT_ENOMEM);
    if (rc == VT_ENOMEM)
        return; /* final, and may come without a message */
    CHECK(err->code == rc);
    CHECK(err->message[0] != '\0');
    if (rc == VT_EIO)
        return;
    CHECK(err->line >= 1);
    CHECK(err->column >= 0);
    CHECK(err->offset >= 0 && (size_t)err->offset < size);
}

/* Read the whole input; with strict, check every contract above. */
static void read_all(const uint8_t *data, size_t size, int mode, const struct vt_csv_options *o,
                     int strict, struct result *res)
{
    memset(res, 0, sizeof *res);
    struct src s = {data, size, 0, (mode & 8) != 0};
    FILE *f = src_open(&s);
    struct vt_csv *c = NULL;
    int rc = vt_csv_new(f, o, &c);
    if (rc) {
        CHECK(!strict && rc == VT_ENOMEM);
        res->final_code = rc;
        fclose(f);
        return;
    }
    struct vt_error err;
    size_t expect = 0;
    if (mode & 1) {
        struct vt_csv_record hdr;
        vt_error_clear(&err);
        rc = vt_csv_header(c, &hdr, &err);
        if (rc) {
            if (strict) {
                CHECK(rc == VT_EFORMAT || rc == VT_ETOOBIG || rc == VT_EIO || rc == VT_ENOMEM);
                CHECK(err.code == rc || rc == VT_ENOMEM);
            }
            res->final_code = rc;
            res->errors = 1;
            goto out;
        }
        if (strict)
            check_record(&hdr, o, 0);
        put_record(res, &hdr);
        expect = hdr.n;
    }
    int64_t last_line = 0, last_bytes = vt_csv_bytes_read(c);
    size_t calls = 0;
    for (;;) {
        struct vt_csv_record rec;
        vt_error_clear(&err);
        rc = vt_csv_next(c, &rec, &err);
        int64_t bytes = vt_csv_bytes_read(c);
        CHECK(bytes >= last_bytes && bytes <= (int64_t)size);
        /* Every record or error consumes at least one byte. */
        CHECK(++calls <= size + 1);
        last_bytes = bytes;
        if (rc == 0)
            break;
        if (rc == 1) {
            if (strict) {
                check_record(&rec, o, expect);
                CHECK(rec.line >= last_line && rec.line >= 1);
            }
            last_line = rec.line;
            put_record(res, &rec);
            continue;
        }
        if (strict)
            check_error(rc, &err, size);
        res->errors = 1;
        if (rc == VT_EIO || rc == VT_ENOMEM) {
            res->final_code = rc;
            goto out;
        }
    }
    /* The end stays the end. */
    struct vt_csv_record rec;
    CHECK(vt_csv_next(c, &rec, &err) == 0);
out:
    vt_csv_free(c);
    fclose(f);
}

/* The records of res as CSV with every field quoted. */
static void write_back(const struct result *res, struct bytes *out)
{
    if (!res->recs.data)
        return;
    const char *p = res->recs.data, *end = p + res->recs.len;
    while (p < end) {
        size_t n = (size_t)strtoull(p, NULL, 10);
        p += strlen(p) + 1;
        for (size_t i = 0; i < n; i++) {
            size_t len;
            memcpy(&len, p, sizeof len);
            p += sizeof len;
            bytes_add(out, i ? ",\"" : "\"", i ? 2 : 1);
            for (size_t k = 0; k < len; k++)
                bytes_add(out, p[k] == '"' ? "\"\"" : p + k, p[k] == '"' ? 2 : 1);
            bytes_add(out, "\"", 1);
            p += len;
        }
        bytes_add(out, "\r\n", 2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0];
    data++;
    size--;
    struct vt_csv_options o = {0, 0, 0};
    switch ((mode >> 1) & 3) {
    case 1: o.max_field_bytes = 8; break;
    case 2: o.max_record_bytes = 16; break;
    case 3: o.max_fields = 3; break;
    }
    struct result res;
    read_all(data, size, mode, &o, 1, &res);

    if (!res.errors) {
        struct bytes out = {NULL, 0, 0};
        write_back(&res, &out);
        struct result again;
        read_all((const uint8_t *)(out.data ? out.data : ""), out.len, mode & 1, &o, 1, &again);
        CHECK(!again.errors);
        CHECK(again.nrecs == res.nrecs);
        CHECK(again.recs.len == res.recs.len &&
              (res.recs.len == 0 || memcmp(again.recs.data, res.recs.data, res.recs.len) == 0));
        free(again.recs.data);
        free(out.data);
    }

    /* One allocation fails: the same records up to a VT_ENOMEM, or all of
     * them when the reader needed fewer allocations. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    struct result faulty;
    vt_alloc_fail_after(1 + (int64_t)(h % 12));
    read_all(data, size, mode, &o, 0, &faulty);
    vt_alloc_fail_after(0);
    if (faulty.final_code == VT_ENOMEM) {
        CHECK(faulty.nrecs <= res.nrecs && faulty.recs.len <= res.recs.len);
    } else {
        CHECK(faulty.final_code == res.final_code && faulty.errors == res.errors);
        CHECK(faulty.nrecs == res.nrecs && faulty.recs.len == res.recs.len);
    }
    CHECK(faulty.recs.len == 0 || memcmp(faulty.recs.data, res.recs.data, faulty.recs.len) == 0);
    free(faulty.recs.data);
    free(res.recs.data);
    return 0;
}
