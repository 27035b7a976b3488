/* test_record.c - validation and JSON form of items, users and events. */
#include "core/alloc.h"
#include "core/util.h"
#include "store/record.h"
#include "test.h"

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (!j)
        fprintf(stderr, "  bad test JSON: %s\n", je.text);
    return j;
}

/* Validate an item given as JSON text; returns the code, fills err. */
static int item_rc(const char *s, struct vt_error *err)
{
    json_t *j = parse(s);
    struct vt_item it;
    vt_error_clear(err);
    int rc = vt_item_from_json(j, NULL, &it, err);
    if (rc == 0)
        vt_item_reset(&it);
    json_decref(j);
    return rc;
}

static int event_rc(const char *s, struct vt_error *err)
{
    json_t *j = parse(s);
    struct vt_event ev;
    vt_error_clear(err);
    int rc = vt_event_from_json(j, NULL, vt_time_now_ms(), &ev, err);
    if (rc == 0)
        vt_event_reset(&ev);
    json_decref(j);
    return rc;
}

TEST(item_full_round_trip)
{
    json_t *j = parse("{\"id\":\"sofa-1\",\"title\":{\"en\":\"Black leather sofa\",\"zh\":\"黑色真皮沙发\"},"
                      "\"description\":{\"en\":\"Three seats\"},\"category\":\"Living room/Sofas\","
                      "\"tags\":[\"leather\",\"black\"],\"attributes\":{\"colour\":\"black\",\"sizes\":[1,2]},"
                      "\"price\":1999.5,\"currency\":\"CNY\",\"stock\":3,"
                      "\"dims_cm\":{\"w\":210,\"d\":90,\"h\":80},\"model_url\":\"/assets/models/sofa-1.glb\","
                      "\"hidden\":false}");
    struct vt_item it;
    struct vt_error err;
    CHECK_EQ_INT(vt_item_from_json(j, NULL, &it, &err), 0);
    CHECK_STR(it.id, "sofa-1");
    CHECK_STR(json_string_value(json_object_get(it.title, "zh")), "黑色真皮沙发");
    CHECK_STR(it.category, "Living room/Sofas");
    CHECK_NEAR(it.price, 1999.5, 1e-9);
    CHECK_EQ_INT(it.stock, 3);
    CHECK(it.has_dims && it.dims_cm[0] == 210 && it.dims_cm[1] == 90 && it.dims_cm[2] == 80);
    json_t *out = vt_item_to_json(&it);
    struct vt_item again;
    CHECK_EQ_INT(vt_item_from_json(out, NULL, &again, &err), 0); /* export re-imports */
    CHECK_STR(again.model_url, "/assets/models/sofa-1.glb");
    CHECK(json_equal(again.attributes, it.attributes));
    struct vt_item copy;
    vt_item_init(&copy);
    CHECK_EQ_INT(vt_item_copy(&copy, &it), 0);
    CHECK(json_equal(copy.tags, it.tags) && copy.tags != it.tags);
    vt_item_reset(&copy);
    vt_item_reset(&again);
    vt_item_reset(&it);
    json_decref(out);
    json_decref(j);
}

TEST(item_rejections_name_the_field)
{
    struct vt_error e;
    CHECK_EQ_INT(item_rc("{\"title\":{\"en\":\"x\"}}", &e), VT_EINVAL);
    CHECK_STR(e.field, "id");
    CHECK_EQ_INT(item_rc("{\"id\":\"a\"}", &e), VT_EINVAL);
    CHECK_STR(e.field, "title");
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"colour\":\"red\"}", &e),
                 VT_EINVAL);
    CHECK(strstr(e.message, "unknown field 'colour'") != NULL);
    char longid[300];
    memset(longid, 'x', 129);
    longid[129] = '\0';
    char buf[600];
    snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"title\":{\"en\":\"x\"}}", longid);
    CHECK_EQ_INT(item_rc(buf, &e), VT_EINVAL);
    CHECK(strstr(e.message, "129 bytes") != NULL);
    CHECK_EQ_INT(e.code, VT_EINVAL); /* the returned code and err->code agree */
    longid[128] = '\0';
    snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"title\":{\"en\":\"x\"}}", longid);
    CHECK_EQ_INT(item_rc(buf, &e), 0);
    CHECK_EQ_INT(item_rc("{\"id\":\"a/b\",\"title\":{\"en\":\"x\"}}", &e), VT_EINVAL);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"price\":-1}", &e), VT_ERANGE);
    CHECK_STR(e.field, "price");
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"price\":1e300}", &e), VT_ERANGE);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"stock\":1.5}", &e), VT_EINVAL);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"dims_cm\":{\"w\":1,\"d\":2}}", &e),
                 VT_EINVAL);
    CHECK_STR(e.field, "dims_cm.h");
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"dims_cm\":{\"w\":1,\"d\":2,\"h\":0}}", &e),
                 VT_ERANGE);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"currency\":\"yuan\"}", &e),
                 VT_EINVAL);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"english\":\"x\"}}", &e), 0);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"e n\":\"x\"}}", &e), VT_EINVAL);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"\"}}", &e), VT_EINVAL);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"model_url\":\"javascript:x\"}", &e),
                 VT_EINVAL);
    CHECK_EQ_INT(item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"category\":\"/a//b\"}", &e),
                 VT_EINVAL);
    CHECK_EQ_INT(item_rc("[1,2]", &e), VT_EINVAL);
}

TEST(item_string_limits)
{
    struct vt_limits lim = {.max_string_bytes = 10, .max_context_bytes = 10};
    json_t *j = parse("{\"id\":\"a\",\"title\":{\"en\":\"eleven chars\"}}");
    struct vt_item it;
    struct vt_error e;
    CHECK_EQ_INT(vt_item_from_json(j, &lim, &it, &e), VT_ETOOBIG);
    CHECK_STR(e.field, "title.en");
    json_decref(j);
    /* A string with a NUL built in memory (jansson's parser refuses \u0000). */
    j = json_pack("{s:s,s:{s:s#}}", "id", "a", "title", "en", "a\0b", (size_t)3);
    CHECK_EQ_INT(vt_item_from_json(j, NULL, &it, &e), VT_EINVAL);
    json_decref(j);
}

TEST(item_patch_is_merge_patch)
{
    json_t *j = parse("{\"id\":\"t\",\"title\":{\"en\":\"Table\"},\"price\":100,\"stock\":2,"
                      "\"attributes\":{\"colour\":\"oak\",\"brand\":\"B\"}}");
    struct vt_item it;
    struct vt_error e;
    CHECK_EQ_INT(vt_item_from_json(j, NULL, &it, &e), 0);
    it.created_ms = 1234;
    json_t *p = parse("{\"title\":{\"zh\":\"桌子\"},\"price\":null,\"attributes\":{\"brand\":null}}");
    CHECK_EQ_INT(vt_item_patch(&it, p, NULL, &e), 0);
    CHECK_STR(json_string_value(json_object_get(it.title, "en")), "Table");
    CHECK_STR(json_string_value(json_object_get(it.title, "zh")), "桌子");
    CHECK(!it.has_price);
    CHECK_EQ_INT(it.stock, 2);
    CHECK(json_object_get(it.attributes, "brand") == NULL);
    CHECK(json_object_get(it.attributes, "colour") != NULL);
    CHECK_EQ_INT(it.created_ms, 1234);
    json_decref(p);
    p = parse("{\"id\":\"other\"}");
    CHECK_EQ_INT(vt_item_patch(&it, p, NULL, &e), VT_EINVAL);
    json_decref(p);
    p = parse("{\"stock\":-4}");
    CHECK_EQ_INT(vt_item_patch(&it, p, NULL, &e), VT_ERANGE);
    CHECK_EQ_INT(it.stock, 2); /* unchanged on error */
    json_decref(p);
    vt_item_reset(&it);
    json_decref(j);
}

TEST(event_rules)
{
    struct vt_error e;
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"ar_place\","
                          "\"context\":{\"surface\":\"floor\"}}", &e), 0);
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"teleport\"}", &e),
                 VT_EINVAL);
    CHECK(strstr(e.message, "unknown event type 'teleport'") != NULL);
    CHECK(strstr(e.message, "showroom_view") != NULL);
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"rating\",\"value\":7}", &e),
                 VT_ERANGE);
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"rating\"}", &e), VT_EINVAL);
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"rating\",\"value\":4.5}", &e), 0);
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"type\":\"click\"}", &e), VT_EINVAL);
    CHECK_STR(e.field, "item_id");
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"type\":\"search\"}", &e), VT_EINVAL);
    CHECK_STR(e.field, "context.text");
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"type\":\"search\",\"context\":{\"text\":\"沙发\"}}", &e), 0);
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"dwell\",\"value\":-3}", &e),
                 VT_ERANGE);
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"ts\":\"tuesday\"}", &e),
                 VT_EINVAL);
    CHECK_STR(e.field, "ts");
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"ts\":\"2999-01-01T00:00:00Z\"}", &e),
                 VT_ERANGE);
    CHECK_EQ_INT(event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"extra\":1}", &e),
                 VT_EINVAL);
    CHECK_EQ_INT(event_rc("{\"item_id\":\"i\",\"type\":\"view\"}", &e), VT_EINVAL);
    CHECK_STR(e.field, "user_id");
}

TEST(event_json_round_trip)
{
    json_t *j = parse("{\"user_id\":\"u1\",\"item_id\":\"sofa\",\"type\":\"ar_dwell\",\"value\":12.5,"
                      "\"context\":{\"session\":\"s1\"},\"ts\":\"2026-11-22T10:00:00Z\"}");
    struct vt_event ev;
    struct vt_error e;
    CHECK_EQ_INT(vt_event_from_json(j, NULL, vt_time_now_ms(), &ev, &e), 0);
    CHECK_EQ_INT(ev.type, VT_EV_AR_DWELL);
    ev.id = 42;
    json_t *out = vt_event_to_json(&ev);
    CHECK_EQ_INT(json_integer_value(json_object_get(out, "id")), 42);
    CHECK_STR(json_string_value(json_object_get(out, "ts")), "2026-11-22T10:00:00.000Z");
    CHECK_STR(json_string_value(json_object_get(out, "type")), "ar_dwell");
    struct vt_event again;
    CHECK_EQ_INT(vt_event_from_json(out, NULL, vt_time_now_ms(), &again, &e), 0);
    CHECK_EQ_INT(again.ts_ms, ev.ts_ms);
    CHECK_NEAR(again.value, 12.5, 1e-12);
    vt_event_reset(&again);
    vt_event_reset(&ev);
    json_decref(out);
    json_decref(j);
}

TEST(user_rules)
{
    struct vt_user u;
    struct vt_error e;
    json_t *j = parse("{\"attributes\":{\"city\":\"上海\"},\"consent\":{\"personalisation\":true}}");
    CHECK_EQ_INT(vt_user_from_json("u1", j, NULL, &u, &e), 0);
    json_t *out = vt_user_to_json(&u);
    CHECK(json_is_true(json_object_get(json_object_get(out, "consent"), "personalisation")));
    json_decref(out);
    vt_user_reset(&u);
    json_decref(j);
    j = parse("{\"consent\":{\"personalisation\":\"yes\"}}");
    CHECK_EQ_INT(vt_user_from_json("u1", j, NULL, &u, &e), VT_EINVAL);
    json_decref(j);
    j = parse("{}");
    CHECK_EQ_INT(vt_user_from_json("", j, NULL, &u, &e), VT_EINVAL);
    json_decref(j);
}

TEST(no_leaks)
{
    int64_t before = vt_alloc_bytes_in_use();
    struct vt_error e;
    for (int i = 0; i < 50; i++) {
        item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"tags\":[\"a\"],\"attributes\":{\"k\":[1]}}", &e);
        item_rc("{\"id\":\"a\",\"title\":{\"en\":\"x\"},\"stock\":-1}", &e);
        event_rc("{\"user_id\":\"u\",\"item_id\":\"i\",\"type\":\"view\",\"context\":{\"a\":1}}", &e);
    }
    CHECK_EQ_INT(vt_alloc_bytes_in_use(), before);
}

int main(void)
{
    vt_alloc_install_json();
    RUN(item_full_round_trip);
    RUN(item_rejections_name_the_field);
    RUN(item_string_limits);
    RUN(item_patch_is_merge_patch);
    RUN(event_rules);
    RUN(event_json_round_trip);
    RUN(user_rules);
    RUN(no_leaks);
    return TEST_SUMMARY();
}
