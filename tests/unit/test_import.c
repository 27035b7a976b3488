/* test_import.c - bulk import into a real store: CSV and JSON Lines turned
 * into records, rejections with their line numbers, retries of refused
 * batches that lose nothing valid, and header checks. */
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "store/import.h"
#include "store/store.h"
#include "test.h"

static char dir[] = "/tmp/vitrine-test-import-XXXXXX";
static int db_seq;

static struct vt_store *open_store(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/t%d.db", dir, ++db_seq);
    struct vt_store *s = NULL;
    struct vt_error e;
    CHECK_EQ_INT(vt_store_open(path, NULL, &s, &e), 0);
    return s;
}

/* Import text; returns vt_import_run's code and fills r. */
static int import(struct vt_store *s, int kind, int format, const char *text, size_t batch,
                  size_t keep, size_t max_record, struct vt_import_report *r,
                  struct vt_error *e)
{
    FILE *f = tmpfile();
    fputs(text, f);
    rewind(f);
    struct vt_import_options o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.format = format;
    vt_limits_default(&o.limits);
    o.batch = batch;
    o.keep_rejects = keep;
    o.max_record_bytes = max_record;
    int rc = vt_import_run(s, f, &o, r, e);
    fclose(f);
    return rc;
}

static int has_reject(const struct vt_import_report *r, int64_t line, const char *words)
{
    for (size_t i = 0; i < r->nrejects; i++)
        if (r->rejects[i].line == line && strstr(r->rejects[i].reason, words))
            return 1;
    return 0;
}

static size_t count_events(struct vt_store *s)
{
    size_t total = 0, n;
    int64_t after = 0;
    struct vt_event *evs;
    while (vt_store_events_scan(s, after, 500, &evs, &n) == 0 && n > 0) {
        total += n;
        after = evs[n - 1].id;
        vt_events_free(evs, n);
    }
    return total;
}

TEST(format_from_name)
{
    CHECK_EQ_INT(vt_import_format_from_name("a.csv"), VT_IMPORT_CSV);
    CHECK_EQ_INT(vt_import_format_from_name("dir.v2/A.CSV"), VT_IMPORT_CSV);
    CHECK_EQ_INT(vt_import_format_from_name("e.jsonl"), VT_IMPORT_JSONL);
    CHECK_EQ_INT(vt_import_format_from_name("e.ndjson"), VT_IMPORT_JSONL);
    CHECK_EQ_INT(vt_import_format_from_name("e.json-lines"), VT_IMPORT_JSONL);
    CHECK_EQ_INT(vt_import_format_from_name("e.json"), VT_IMPORT_AUTO);
    CHECK_EQ_INT(vt_import_format_from_name("csv"), VT_IMPORT_AUTO);
}

TEST(items_csv_cells_become_fields)
{
    struct vt_store *s = open_store();
    struct vt_import_report r;
    struct vt_error e;
    vt_import_report_init(&r);
    const char *csv = "id , title_en,title_zh,title_fr,description_en,category,tags,price,stock,"
                      "w_cm,d_cm,h_cm,hidden,attributes\n"
                      "sofa,Sofa,沙发,Canapé,\"Soft, \"\"deep\"\"\",Living room/Sofas,"
                      " soft | grey ||,1999.5,3,200,90,85,YES,\"{\"\"colour\"\":\"\"grey\"\"}\"\n"
                      "chair,Chair,,,,,,12abc,,,,,,\n"
                      "lamp,Lamp,,,,,,,2.5,,,,,\n"
                      "desk,Desk,,,,,,,,120,60,,,\n"
                      "rug,Rug,,,,,,,,,,,maybe,\n"
                      "bed,Bed,,,,,,,,,,,,[1]\n";
    CHECK_EQ_INT(import(s, VT_IMPORT_ITEMS, VT_IMPORT_CSV, csv, 0, 0, 0, &r, &e), 0);
    CHECK_EQ_INT(r.imported, 1);
    CHECK_EQ_INT(r.rejected, 5);
    CHECK(has_reject(&r, 3, "price must be a number"));
    CHECK(has_reject(&r, 4, "stock must be a whole number"));
    CHECK(has_reject(&r, 5, "dims_cm.h is missing"));
    CHECK(has_reject(&r, 6, "hidden must be true or false"));
    CHECK(has_reject(&r, 7, "attributes must be an object"));
    struct vt_item it;
    vt_item_init(&it);
    CHECK_EQ_INT(vt_store_item_get(s, "sofa", &it), 0);
    CHECK_STR(json_string_value(json_object_get(it.title, "zh")), "沙发");
    CHECK_STR(json_string_value(json_object_get(it.title, "fr")), "Canapé");
    CHECK_STR(json_string_value(json_object_get(it.description, "en")), "Soft, \"deep\"");
    CHECK_EQ_INT(json_array_size(it.tags), 2);
    CHECK_STR(json_string_value(json_array_get(it.tags, 1)), "grey");
    CHECK_NEAR(it.price, 1999.5, 1e-9);
    CHECK_EQ_INT(it.stock, 3);
    CHECK(it.has_dims && it.dims_cm[2] == 85);
    CHECK(it.hidden);
    CHECK_STR(json_string_value(json_object_get(it.attributes, "colour")), "grey");
    vt_item_reset(&it);
    vt_import_report_reset(&r);
    vt_store_close(s);
}

TEST(header_problems_store_nothing)
{
    struct vt_store *s = open_store();
    struct vt_import_report r;
    struct vt_error e;
    vt_import_report_init(&r);
    CHECK_EQ_INT(import(s, VT_IMPORT_ITEMS, VT_IMPORT_CSV, "id,title_en,colour,size\na,A,r,s\n",
                        0, 0, 0, &r, &e),
                 VT_EFORMAT);
    CHECK(strstr(e.message, "'colour', 'size'") != NULL);
    CHECK_EQ_INT(import(s, VT_IMPORT_ITEMS, VT_IMPORT_CSV, "title_en\nA\n", 0, 0, 0, &r, &e),
                 VT_EFORMAT);
    CHECK(strstr(e.message, "'id' is missing") != NULL);
    CHECK_EQ_INT(import(s, VT_IMPORT_EVENTS, VT_IMPORT_CSV, "user_id,type,type\n", 0, 0, 0, &r,
                        &e),
                 VT_EFORMAT);
    CHECK(strstr(e.message, "twice") != NULL);
    CHECK_EQ_INT(import(s, VT_IMPORT_EVENTS, VT_IMPORT_CSV, "", 0, 0, 0, &r, &e), VT_EFORMAT);
    CHECK_EQ_INT(r.imported, 0);
    struct vt_item it;
    vt_item_init(&it);
    CHECK_EQ_INT(vt_store_item_get(s, "a", &it), VT_ENOTFOUND);
    vt_import_report_reset(&r);
    vt_store_close(s);
}

/* Small batches, events about unknown items in several of them: each bad
 * one is rejected with its line, every valid one is stored. */
TEST(refused_batches_are_retried)
{
    struct vt_store *s = open_store();
    struct vt_import_report r;
    struct vt_error e;
    vt_import_report_init(&r);
    CHECK_EQ_INT(import(s, VT_IMPORT_ITEMS, VT_IMPORT_JSONL,
                        "{\"id\":\"a\",\"title\":{\"en\":\"A\"}}\n"
                        "{\"id\":\"b\",\"title\":{\"en\":\"B\"}}\n",
                        0, 0, 0, &r, &e),
                 0);
    char text[8192] = "";
    size_t len = 0;
    int bad = 0, good = 0;
    for (int i = 0; i < 60; i++) {
        const char *item = i % 7 == 3 ? "ghost" : i % 11 == 4 ? "phantom" : i % 2 ? "a" : "b";
        if (item[0] == 'g' || item[0] == 'p')
            bad++;
        else
            good++;
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "{\"user_id\":\"u%d\",\"item_id\":\"%s\",\"type\":\"view\"}\n",
                                i % 4, item);
    }
    CHECK_EQ_INT(import(s, VT_IMPORT_EVENTS, VT_IMPORT_JSONL, text, 8, 100, 0, &r, &e), 0);
    CHECK_EQ_INT(r.imported, good);
    CHECK_EQ_INT(r.rejected, bad);
    CHECK_EQ_INT(count_events(s), good);
    CHECK(has_reject(&r, 4, "unknown item 'ghost'"));
    CHECK(has_reject(&r, 5, "unknown item 'phantom'"));
    CHECK(r.nrejects == (size_t)bad);
    for (size_t i = 0; i < r.nrejects; i++) {
        CHECK(strncmp(r.rejects[i].reason, "event ", 6) != 0); /* no batch index */
        if (i)
            CHECK(r.rejects[i - 1].line < r.rejects[i].line);
    }
    vt_import_report_reset(&r);
    vt_store_close(s);
}

/* With room for two rejections, the two lowest lines are kept even when
 * the store refuses an early line after later lines failed validation. */
TEST(report_keeps_the_first_lines)
{
    struct vt_store *s = open_store();
    struct vt_import_report r;
    struct vt_error e;
    vt_import_report_init(&r);
    const char *text = "{\"id\":\"a\",\"title\":{\"en\":\"A\"}}\n";
    CHECK_EQ_INT(import(s, VT_IMPORT_ITEMS, VT_IMPORT_JSONL, text, 0, 0, 0, &r, &e), 0);
    text = "user_id,item_id,type,value,ts\n"
           "u1,a,view,,\n"
           "u1,nope,view,,\n"        /* 3: refused by the store at the flush */
           "u1,a,view,,\n"
           "u1,a,rating,,\n"         /* 5: no value */
           "u1,a,bogus,,\n"          /* 6: bad type */
           "u1,a,view,,1700000000\n"
           "u1,a,view,,1700000000123\n"
           "u1,a,view,,yesterday\n"; /* 9: bad ts */
    CHECK_EQ_INT(import(s, VT_IMPORT_EVENTS, VT_IMPORT_CSV, text, 0, 2, 0, &r, &e), 0);
    CHECK_EQ_INT(r.imported, 4);
    CHECK_EQ_INT(r.rejected, 4);
    CHECK_EQ_INT(r.nrejects, 2);
    CHECK_EQ_INT(r.rejects[0].line, 3);
    CHECK_EQ_INT(r.rejects[1].line, 5);
    struct vt_event *evs;
    size_t n;
    CHECK_EQ_INT(vt_store_events_scan(s, 0, 10, &evs, &n), 0);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK_EQ_INT(evs[2].ts_ms, 1700000000000LL); /* seconds */
        CHECK_EQ_INT(evs[3].ts_ms, 1700000000123LL); /* milliseconds */
    }
    vt_events_free(evs, n);
    vt_import_report_reset(&r);
    vt_store_close(s);
}

TEST(jsonl_lines_blank_long_and_broken)
{
    struct vt_store *s = open_store();
    struct vt_import_report r;
    struct vt_error e;
    vt_import_report_init(&r);
    char text[2048];
    char pad[300];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    snprintf(text, sizeof text,
             "\xEF\xBB\xBF{\"id\":\"a\",\"title\":{\"en\":\"A\"}}\r\n"
             "   \n"
             "{\"id\":\"b\",\"title\":{\"en\":\"%s\"}}\n"   /* 3: over the 256-byte cap */
             "{\"id\":\"c\",\"title\":{\"en\":\"C\"}} trailing\n"
             "{\"id\":\"d\",\"id\":\"e\",\"title\":{\"en\":\"D\"}}\n"
             "[1,2]\n"
             "{\"id\":\"f\",\"title\":{\"zh\":\"椅子\"}}",     /* no final newline */
             pad);
    CHECK_EQ_INT(import(s, VT_IMPORT_ITEMS, VT_IMPORT_JSONL, text, 0, 0, 256, &r, &e), 0);
    CHECK_EQ_INT(r.imported, 2);
    CHECK_EQ_INT(r.rejected, 4);
    CHECK(has_reject(&r, 3, "longer than 256 bytes"));
    CHECK(has_reject(&r, 4, "invalid JSON"));
    CHECK(has_reject(&r, 5, "invalid JSON"));
    CHECK(has_reject(&r, 6, "must be a JSON object"));
    struct vt_item it;
    vt_item_init(&it);
    CHECK_EQ_INT(vt_store_item_get(s, "f", &it), 0);
    vt_item_reset(&it);
    vt_import_report_reset(&r);
    vt_store_close(s);
}

int main(void)
{
    vt_alloc_install_json();
    vt_log_set_level(VT_LOG_WARN); /* no "database migrated" lines */
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(format_from_name);
    RUN(items_csv_cells_become_fields);
    RUN(header_problems_store_nothing);
    RUN(refused_batches_are_retried);
    RUN(report_keeps_the_first_lines);
    RUN(jsonl_lines_blank_long_and_broken);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
