/*
 * fuzz_record.c - libFuzzer target for record validation (store/record.h):
 * the JSON bodies of POST /v1/items, PATCH /v1/items/{id}, POST /v1/events
 * and PUT /v1/users/{id}, and every line of an import file.
 *
 * Input: one mode byte, then JSON text parsed as the server parses a body
 * (json_loadb, duplicates refused, any value at the top). Mode:
 *   mode % 4 == 0  an item (vt_item_from_json)
 *   mode % 4 == 1  an event (vt_event_from_json, at a fixed "now")
 *   mode % 4 == 2  a user: the bytes up to the first newline are the id
 *                  from the URL, the rest the body (vt_user_from_json)
 *   mode % 4 == 3  an item, a NUL byte, then a patch (vt_item_patch)
 *   mode & 4       small limits (32-byte strings, 64-byte contexts)
 *
 * Checks beyond "no crash, no sanitizer report":
 *   - a refusal leaves the output struct empty and names a code and a
 *     message; a refused patch leaves the item as it was;
 *   - an accepted record's strings are valid UTF-8 within the limits, and
 *     its JSON form (what the API returns and `vitrine export` writes) is
 *     accepted again and gives the same JSON form ("exports re-import");
 *   - validated again with one allocation failing, the result is either
 *     the same record or VT_ENOMEM, with nothing leaked.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "store/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(c)                                                                    \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "fuzz_record: check failed at line %d: %s\n", __LINE__, #c); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* 2033-05-18T03:33:20Z: events may be up to a day later than this. */
#define NOW_MS 2000000000000LL

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* As the server does, so that jansson's allocations can fail too; a
     * fixed hash seed keeps a saved input reproducible. */
    vt_alloc_install_json();
    json_object_seed(1);
    return 0;
}

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void check_refusal(int rc, const struct vt_error *err)
{
    CHECK(rc == VT_EINVAL || rc == VT_ERANGE || rc == VT_ETOOBIG || rc == VT_ENOMEM);
    if (rc != VT_ENOMEM) {
        CHECK(err->code == rc);
        CHECK(err->message[0] != '\0');
    }
}

static void check_str(const char *s, size_t max)
{
    size_t bad;
    if (!s)
        return;
    CHECK(vt_utf8_valid(s, strlen(s), &bad));
    CHECK(strlen(s) <= max);
}

static int item_empty(const struct vt_item *it)
{
    return !it->id && !it->title && !it->description && !it->category && !it->tags &&
           !it->attributes && !it->model_url && !it->assets;
}

static void check_item(const struct vt_item *it, const struct vt_limits *lim)
{
    CHECK(it->id && it->title && json_is_object(it->title));
    struct vt_error err;
    CHECK(vt_id_check(it->id, "id", &err) == 0);
    check_str(it->category, 1024);
    check_str(it->model_url, 2048);
    const char *lang;
    json_t *text;
    json_object_foreach(it->title, lang, text)
    {
        check_str(json_string_value(text), lim->max_string_bytes);
    }
    CHECK(!it->has_price || (it->price >= 0 && it->price <= VT_PRICE_MAX && it->currency[0]));
    CHECK(it->stock >= -1 && it->stock <= VT_STOCK_MAX);
    for (int a = 0; a < 3 && it->has_dims; a++)
        CHECK(it->dims_cm[a] > 0 && it->dims_cm[a] <= VT_DIM_MAX_CM);
}

/* The item's JSON form is accepted again and is a fixed point. */
static void check_item_round_trip(const struct vt_item *it, const struct vt_limits *lim)
{
    json_t *j = vt_item_to_json(it);
    CHECK(j != NULL);
    struct vt_item again;
    struct vt_error err;
    int rc = vt_item_from_json(j, lim, &again, &err);
    if (rc)
        fprintf(stderr, "fuzz_record: exported item refused: %s: %s\n", err.field, err.message);
    CHECK(rc == 0);
    /* The times are the store's to keep, not read back from the JSON. */
    again.created_ms = it->created_ms;
    again.updated_ms = it->updated_ms;
    json_t *j2 = vt_item_to_json(&again);
    CHECK(j2 != NULL && json_equal(j, j2));
    json_decref(j2);
    json_decref(j);
    vt_item_reset(&again);
}

static void fuzz_item(const json_t *j, const struct vt_limits *lim, const uint8_t *data,
                      size_t size)
{
    struct vt_item it;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_item_from_json(j, lim, &it, &err);
    if (rc) {
        check_refusal(rc, &err);
        CHECK(item_empty(&it));
        return;
    }
    check_item(&it, lim);
    check_item_round_trip(&it, lim);

    json_t *want = vt_item_to_json(&it);
    CHECK(want != NULL);
    struct vt_item again;
    vt_alloc_fail_after(1 + (int64_t)(hash_bytes(data, size) % 24));
    rc = vt_item_from_json(j, lim, &again, &err);
    vt_alloc_fail_after(0);
    if (rc) {
        CHECK(rc == VT_ENOMEM && item_empty(&again));
    } else {
        json_t *got = vt_item_to_json(&again);
        CHECK(got && json_equal(got, want));
        json_decref(got);
        vt_item_reset(&again);
    }
    json_decref(want);
    vt_item_reset(&it);
}

static void fuzz_patch(const json_t *item, const json_t *patch, const struct vt_limits *lim,
                       const uint8_t *data, size_t size)
{
    struct vt_item it;
    struct vt_error err;
    if (vt_item_from_json(item, lim, &it, &err))
        return;
    it.created_ms = 1700000000000LL;
    it.updated_ms = 1700000001000LL;
    json_t *before = vt_item_to_json(&it);
    CHECK(before != NULL);
    char *id = vt_strdup(it.id);
    CHECK(id != NULL);
    vt_error_clear(&err);
    int rc = vt_item_patch(&it, patch, lim, &err);
    json_t *after = vt_item_to_json(&it);
    CHECK(after != NULL);
    if (rc) {
        check_refusal(rc, &err);
        CHECK(json_equal(before, after));
    } else {
        CHECK(strcmp(it.id, id) == 0);
        CHECK(it.created_ms == 1700000000000LL && it.updated_ms == 1700000001000LL);
        check_item(&it, lim);
        check_item_round_trip(&it, lim);
    }

    /* Again from the original, with one allocation failing. */
    struct vt_item orig;
    CHECK(vt_item_from_json(item, lim, &orig, &err) == 0);
    orig.created_ms = 1700000000000LL;
    orig.updated_ms = 1700000001000LL;
    vt_alloc_fail_after(1 + (int64_t)(hash_bytes(data, size) % 48));
    int rc2 = vt_item_patch(&orig, patch, lim, &err);
    vt_alloc_fail_after(0);
    json_t *got = vt_item_to_json(&orig);
    CHECK(got != NULL);
    if (rc2 == VT_ENOMEM)
        CHECK(json_equal(got, before));
    else
        CHECK(rc2 == rc && json_equal(got, after));
    json_decref(got);
    vt_item_reset(&orig);
    json_decref(before);
    json_decref(after);
    vt_free(id);
    vt_item_reset(&it);
}

static void fuzz_event(const json_t *j, const struct vt_limits *lim, const uint8_t *data,
                       size_t size)
{
    struct vt_event ev;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_event_from_json(j, lim, NOW_MS, &ev, &err);
    if (rc) {
        check_refusal(rc, &err);
        CHECK(!ev.user_id && !ev.item_id && !ev.context);
        return;
    }
    const struct vt_event_type_info *ti = vt_event_type_info(ev.type);
    CHECK(ti != NULL);
    CHECK(ev.user_id && vt_id_check(ev.user_id, "user_id", &err) == 0);
    CHECK(!ev.item_id || vt_id_check(ev.item_id, "item_id", &err) == 0);
    CHECK(!ti->needs_item || ev.item_id);
    CHECK(ev.value >= ti->value_min && ev.value <= ti->value_max);
    CHECK(ev.ts_ms >= 0 && ev.ts_ms <= NOW_MS + 86400000LL);
    CHECK(!ev.context || json_is_object(ev.context));

    json_t *out = vt_event_to_json(&ev);
    CHECK(out != NULL);
    struct vt_event again;
    rc = vt_event_from_json(out, lim, NOW_MS, &again, &err);
    if (rc)
        fprintf(stderr, "fuzz_record: exported event refused: %s: %s\n", err.field, err.message);
    CHECK(rc == 0);
    json_t *out2 = vt_event_to_json(&again);
    CHECK(out2 && json_equal(out, out2));
    json_decref(out2);
    vt_event_reset(&again);

    vt_alloc_fail_after(1 + (int64_t)(hash_bytes(data, size) % 16));
    rc = vt_event_from_json(j, lim, NOW_MS, &again, &err);
    vt_alloc_fail_after(0);
    if (rc) {
        CHECK(rc == VT_ENOMEM && !again.user_id && !again.item_id && !again.context);
    } else {
        out2 = vt_event_to_json(&again);
        CHECK(out2 && json_equal(out, out2));
        json_decref(out2);
        vt_event_reset(&again);
    }
    json_decref(out);
    vt_event_reset(&ev);
}

static void fuzz_user(const char *id, const json_t *j, const struct vt_limits *lim,
                      const uint8_t *data, size_t size)
{
    struct vt_user u;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_user_from_json(id, j, lim, &u, &err);
    if (rc) {
        check_refusal(rc, &err);
        CHECK(!u.id && !u.attributes && !u.consent);
        return;
    }
    CHECK(u.id && strcmp(u.id, id) == 0);
    CHECK(!u.attributes || json_is_object(u.attributes));
    CHECK(!u.consent || json_is_object(u.consent));

    json_t *out = vt_user_to_json(&u);
    CHECK(out != NULL);
    struct vt_user again;
    rc = vt_user_from_json(id, out, lim, &again, &err);
    if (rc)
        fprintf(stderr, "fuzz_record: exported user refused: %s: %s\n", err.field, err.message);
    CHECK(rc == 0);
    json_t *out2 = vt_user_to_json(&again);
    CHECK(out2 && json_equal(out, out2));
    json_decref(out2);
    vt_user_reset(&again);

    vt_alloc_fail_after(1 + (int64_t)(hash_bytes(data, size) % 16));
    rc = vt_user_from_json(id, j, lim, &again, &err);
    vt_alloc_fail_after(0);
    if (rc) {
        CHECK(rc == VT_ENOMEM && !again.id && !again.attributes && !again.consent);
    } else {
        out2 = vt_user_to_json(&again);
        CHECK(out2 && json_equal(out, out2));
        json_decref(out2);
        vt_user_reset(&again);
    }
    json_decref(out);
    vt_user_reset(&u);
}

static json_t *load(const uint8_t *p, size_t n)
{
    json_error_t jerr;
    return json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0];
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    struct vt_limits lim;
    vt_limits_default(&lim);
    if (mode & 4) {
        lim.max_string_bytes = 32;
        lim.max_context_bytes = 64;
    }
    if (mode % 4 == 2) {
        const uint8_t *nl = memchr(body, '\n', n);
        size_t idn = nl ? (size_t)(nl - body) : n;
        char *id = malloc(idn + 1);
        CHECK(id != NULL);
        memcpy(id, body, idn);
        id[idn] = '\0'; /* an id with a NUL is cut there, as a C string would be */
        json_t *j = nl ? load(nl + 1, n - idn - 1) : json_object();
        if (j)
            fuzz_user(id, j, &lim, data, size);
        json_decref(j);
        free(id);
        return 0;
    }
    if (mode % 4 == 3) {
        const uint8_t *nul = memchr(body, 0, n);
        if (!nul)
            return 0;
        json_t *item = load(body, (size_t)(nul - body));
        json_t *patch = load(nul + 1, n - (size_t)(nul - body) - 1);
        if (item && patch)
            fuzz_patch(item, patch, &lim, data, size);
        json_decref(item);
        json_decref(patch);
        return 0;
    }
    json_t *j = load(body, n);
    if (!j)
        return 0;
    if (mode % 4 == 0)
        fuzz_item(j, &lim, data, size);
    else
        fuzz_event(j, &lim, data, size);
    json_decref(j);
    return 0;
}
