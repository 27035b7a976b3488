/*
 * api_items.c - the catalog: /v1/items and /v1/items/{id}.
 *
 * Validation is record.c's (vt_item_from_json, vt_item_patch); this file
 * maps its errors to statuses and names the failing element of a batch in
 * the error's field ("[3].price"). Public keys never see hidden items: a
 * hidden item is "not found" to them, and lists leave it out.
 *
 * Pagination is keyset on the item id: next_cursor is the base64url
 * encoding (no padding) of the last id returned, and the next page starts
 * strictly after it. Clients must treat it as opaque.
 */
#include <sodium.h>
#include <string.h>

#include "api/api_int.h"
#include "rec/engine.h"
#include "core/alloc.h"

#define LIST_DEFAULT 20
#define LIST_MAX 1000

static int flag_param(struct api_req *r, const char *name, int *out)
{
    const char *v = api_query_get(r, name);
    *out = 0;
    if (!v || strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        return 0;
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || *v == '\0') {
        *out = 1;
        return 0;
    }
    api_reply_error(r, VT_EINVAL, name, "%s must be 1, 0, true or false", name);
    return -1;
}

void api_h_items_post(struct api_req *r)
{
    struct api_server *srv = r->srv;
    int upsert;
    if (flag_param(r, "upsert", &upsert))
        return;
    json_t *body = r->json;
    int is_array = json_is_array(body);
    if (!is_array && !json_is_object(body)) {
        api_reply_error(r, VT_EINVAL, "", "the body must be an item object or an array of items");
        return;
    }
    size_t n = is_array ? json_array_size(body) : 1;
    if (n > srv->max_batch_items) {
        api_reply_error(r, VT_ETOOBIG, "", "%zu items in one request; the limit is %zu", n,
                        srv->max_batch_items);
        return;
    }
    if (n == 0) {
        api_reply_json(r, upsert ? MHD_HTTP_OK : MHD_HTTP_CREATED,
                       json_pack("{s:i}", upsert ? "upserted" : "created", 0));
        return;
    }
    struct vt_item *items = vt_calloc(n, sizeof *items);
    if (!items) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    struct vt_error err;
    vt_error_clear(&err);
    size_t done = 0;
    int rc = 0;
    for (; done < n; done++) {
        json_t *el = is_array ? json_array_get(body, done) : body;
        rc = vt_item_from_json(el, &srv->limits, &items[done], &err);
        if (rc) {
            if (rc == VT_ENOMEM)
                vt_error_set(&err, VT_ENOMEM, NULL, "out of memory");
            api_error_in_batch(&err, is_array, done);
            api_reply_invalid(r, &err);
            goto out;
        }
    }
    size_t bad = 0;
    rc = vt_store_items_put(srv->store, items, n, upsert ? VT_PUT_UPSERT : VT_PUT_CREATE, &bad,
                            &err);
    if (rc == VT_ECONFLICT) {
        char field[32] = "id";
        if (is_array)
            snprintf(field, sizeof field, "[%zu].id", bad);
        api_reply_error(r, VT_ECONFLICT, field,
                        "item '%s' already exists (send ?upsert=1 to replace it)",
                        bad < n ? items[bad].id : "?");
    } else if (rc) {
        if (!err.code)
            vt_error_set(&err, rc, NULL, "storing the items failed: %s", vt_strerror(rc));
        if (bad < n && rc == VT_EINVAL)
            api_error_in_batch(&err, is_array, bad);
        api_reply_invalid(r, &err);
    } else {
        api_reply_json(r, upsert ? MHD_HTTP_OK : MHD_HTTP_CREATED,
                       json_pack("{s:I}", upsert ? "upserted" : "created", (json_int_t)n));
    }
out:
    vt_items_free(items, n);
}

void api_h_item_get(struct api_req *r)
{
    const char *id;
    if (api_param_id(r, 0, &id))
        return;
    struct vt_item it;
    vt_item_init(&it);
    int rc = vt_store_item_get(r->srv->store, id, &it);
    if (rc == 0 && it.hidden && r->scope < VT_SCOPE_READ)
        rc = VT_ENOTFOUND;
    if (rc == VT_ENOTFOUND)
        api_reply_error(r, VT_ENOTFOUND, "id", "no item '%s'", id);
    else if (rc)
        api_reply_error(r, rc, NULL, "reading the item failed: %s", vt_strerror(rc));
    else
        api_reply_json(r, MHD_HTTP_OK, vt_item_to_json(&it));
    vt_item_reset(&it);
}

void api_h_item_patch(struct api_req *r)
{
    struct api_server *srv = r->srv;
    const char *id;
    if (api_param_id(r, 0, &id))
        return;
    struct vt_item it;
    vt_item_init(&it);
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_store_item_get(srv->store, id, &it);
    if (rc == VT_ENOTFOUND) {
        api_reply_error(r, VT_ENOTFOUND, "id", "no item '%s'", id);
        goto out;
    }
    if (rc) {
        api_reply_error(r, rc, NULL, "reading the item failed: %s", vt_strerror(rc));
        goto out;
    }
    rc = vt_item_patch(&it, r->json, &srv->limits, &err);
    if (rc) {
        if (rc == VT_ENOMEM)
            vt_error_set(&err, VT_ENOMEM, NULL, "out of memory");
        api_reply_invalid(r, &err);
        goto out;
    }
    size_t bad;
    rc = vt_store_items_put(srv->store, &it, 1, VT_PUT_UPSERT, &bad, &err);
    if (rc) {
        if (!err.code)
            vt_error_set(&err, rc, NULL, "storing the item failed: %s", vt_strerror(rc));
        api_reply_invalid(r, &err);
        goto out;
    }
    vt_item_reset(&it);
    rc = vt_store_item_get(srv->store, id, &it);
    if (rc)
        api_reply_error(r, rc, NULL, "reading the item back failed: %s", vt_strerror(rc));
    else
        api_reply_json(r, MHD_HTTP_OK, vt_item_to_json(&it));
out:
    vt_item_reset(&it);
}

void api_h_item_delete(struct api_req *r)
{
    const char *id;
    if (api_param_id(r, 0, &id))
        return;
    int rc = vt_store_item_delete(r->srv->store, id);
    if (rc == VT_ENOTFOUND)
        api_reply_error(r, VT_ENOTFOUND, "id", "no item '%s'", id);
    else if (rc)
        api_reply_error(r, rc, NULL, "deleting the item failed: %s", vt_strerror(rc));
    else {
        struct vt_engine *eng = atomic_load(&r->srv->engine);
        if (eng)
            vt_engine_on_catalog_changed(eng);
        api_reply_empty(r, MHD_HTTP_NO_CONTENT);
    }
}

/* A short text query parameter: at most the string limit. */
static int text_param(struct api_req *r, const char *name, const char **out)
{
    *out = api_query_get(r, name);
    if (*out && **out == '\0')
        *out = NULL;
    if (*out && strlen(*out) > r->srv->limits.max_string_bytes) {
        api_reply_error(r, VT_EINVAL, name, "%s is over %zu bytes", name,
                        r->srv->limits.max_string_bytes);
        return -1;
    }
    return 0;
}

void api_h_items_list(struct api_req *r)
{
    struct api_server *srv = r->srv;
    int64_t limit;
    if (api_query_int(r, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit))
        return;
    struct vt_item_query q;
    memset(&q, 0, sizeof q);
    if (text_param(r, "category", &q.category) || text_param(r, "q", &q.q))
        return;
    q.limit = (size_t)limit;
    q.include_hidden = r->scope >= VT_SCOPE_READ;
    char after[VT_ID_MAX + 1];
    const char *cursor = api_query_get(r, "cursor");
    if (cursor && *cursor) {
        size_t len = 0;
        struct vt_error err;
        vt_error_clear(&err);
        int bad = sodium_base642bin((unsigned char *)after, sizeof after - 1, cursor,
                                    strlen(cursor), NULL, &len, NULL,
                                    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0;
        if (!bad) {
            after[len] = '\0';
            bad = strlen(after) != len || vt_id_check(after, "cursor", &err) != 0;
        }
        if (bad) {
            api_reply_error(r, VT_EINVAL, "cursor",
                            "cursor is not one this server issued; pass next_cursor unchanged");
            return;
        }
        q.after_id = after;
    }
    struct vt_item *items = NULL;
    size_t n = 0;
    int more = 0;
    int rc = vt_store_items_list(srv->store, &q, &items, &n, &more);
    if (rc) {
        api_reply_error(r, rc, NULL, "listing items failed: %s", vt_strerror(rc));
        return;
    }
    json_t *arr = json_array();
    json_t *next = json_null();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, vt_item_to_json(&items[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    if (more && n > 0) {
        const char *last = items[n - 1].id;
        size_t elen = sodium_base64_ENCODED_LEN(strlen(last),
                                                sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        char *enc = vt_malloc(elen);
        if (enc) {
            sodium_bin2base64(enc, elen, (const unsigned char *)last, strlen(last),
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            next = json_string(enc);
            vt_free(enc);
        } else {
            next = NULL;
        }
    }
    vt_items_free(items, n);
    if (!arr || !next) {
        json_decref(arr);
        json_decref(next);
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o,s:o}", "items", arr, "next_cursor", next));
}
