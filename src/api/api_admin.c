/*
 * api_admin.c - operations routes: /healthz, /metrics and API keys under
 * /v1/admin/keys.
 *
 * /healthz is open (load balancers carry no keys) and says little: status,
 * schema version and uptime. /metrics and the key routes need an admin key.
 * A key created here is shown once in the response and never again; a
 * revoked key stops working at once on this server (the key cache drops
 * it) and within a second on other servers sharing the database.
 */
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"

void api_h_healthz(struct api_req *r)
{
    struct api_server *srv = r->srv;
    api_reply_json(r, MHD_HTTP_OK,
                   json_pack("{s:s,s:i,s:I}", "status", "ok", "schema_version",
                             vt_store_schema_version(srv->store), "uptime_s",
                             (json_int_t)((vt_time_now_ms() - srv->start_ms) / 1000)));
}

void api_h_metrics(struct api_req *r)
{
    struct api_server *srv = r->srv;
    struct vt_buf b;
    vt_buf_init(&b, 0);
    int rc = api_metrics_render(srv->metrics, &b);
    struct vt_store_stats st;
    memset(&st, 0, sizeof st);
    int src = vt_store_stats(srv->store, &st);
    if (!rc && !src)
        rc = vt_buf_printf(&b,
                           "# HELP vitrine_items Items in the catalog.\n"
                           "# TYPE vitrine_items gauge\nvitrine_items %lld\n"
                           "# HELP vitrine_users Users known to the store.\n"
                           "# TYPE vitrine_users gauge\nvitrine_users %lld\n"
                           "# HELP vitrine_events Events in the store.\n"
                           "# TYPE vitrine_events gauge\nvitrine_events %lld\n"
                           "# HELP vitrine_db_bytes Size of the database and its log on disk.\n"
                           "# TYPE vitrine_db_bytes gauge\nvitrine_db_bytes %lld\n"
                           "# HELP vitrine_store_commits_total Durable commits since start.\n"
                           "# TYPE vitrine_store_commits_total counter\n"
                           "vitrine_store_commits_total %lld\n",
                           (long long)st.items, (long long)st.users, (long long)st.events,
                           (long long)st.db_bytes, (long long)st.commits);
    if (!rc)
        rc = vt_buf_printf(
            &b,
            "# HELP vitrine_memory_bytes Heap bytes in use through vitrine's allocator.\n"
            "# TYPE vitrine_memory_bytes gauge\nvitrine_memory_bytes %lld\n"
            "# HELP vitrine_http_requests_in_flight Requests received and not yet complete.\n"
            "# TYPE vitrine_http_requests_in_flight gauge\n"
            "vitrine_http_requests_in_flight %d\n"
            "# HELP process_start_time_seconds Start time of the server, Unix seconds.\n"
            "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n"
            "# HELP vitrine_uptime_seconds Seconds since the server started.\n"
            "# TYPE vitrine_uptime_seconds gauge\nvitrine_uptime_seconds %.3f\n",
            (long long)vt_alloc_bytes_in_use(), atomic_load(&srv->active),
            (double)srv->start_ms / 1000, (double)(vt_time_now_ms() - srv->start_ms) / 1000);
    if (rc) {
        vt_buf_reset(&b);
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    if (src)
        vt_warn("store stats unavailable", "rid=%s code=%s", r->rid, vt_strerror(src));
    size_t len;
    char *data = vt_buf_steal(&b, &len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, data, vt_free);
    if (!resp) {
        vt_free(data);
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    api_reply_queue(r, MHD_HTTP_OK, resp, len);
}

static json_t *key_json(const struct vt_key *k)
{
    char ts[32];
    vt_time_format_iso(k->created_ms, ts, sizeof ts);
    return json_pack("{s:s,s:s,s:s%,s:s,s:b}", "id", k->id, "scope", vt_scope_name(k->scope),
                     "label", k->label, strnlen(k->label, sizeof k->label), "created_at", ts,
                     "revoked", k->revoked);
}

void api_h_keys_list(struct api_req *r)
{
    struct vt_key *keys = NULL;
    size_t n = 0;
    int rc = vt_store_key_list(r->srv->store, &keys, &n);
    if (rc) {
        api_reply_error(r, rc, NULL, "listing keys failed: %s", vt_strerror(rc));
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, key_json(&keys[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    vt_keys_free(keys);
    if (!arr) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "keys", arr));
}

/* Body: {"scope": "public|read|ingest|admin", "label": "..."}. */
void api_h_keys_create(struct api_req *r)
{
    json_t *body = r->json;
    if (!json_is_object(body)) {
        api_reply_error(r, VT_EINVAL, "", "the body must be an object {\"scope\", \"label\"}");
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "scope") != 0 && strcmp(k, "label") != 0) {
            api_reply_error(r, VT_EINVAL, k, "unknown field '%s'; expected scope and label", k);
            return;
        }
    }
    json_t *js = json_object_get(body, "scope");
    int scope = json_is_string(js) ? vt_scope_parse(json_string_value(js)) : VT_EINVAL;
    if (scope < 0) {
        api_reply_error(r, VT_EINVAL, "scope", "scope must be one of public, read, ingest, admin");
        return;
    }
    json_t *jl = json_object_get(body, "label");
    const char *label = "";
    if (jl && !json_is_null(jl)) {
        if (!json_is_string(jl) || json_string_length(jl) >= 64 ||
            strlen(json_string_value(jl)) != json_string_length(jl)) {
            api_reply_error(r, VT_EINVAL, "label", "label must be a string under 64 bytes");
            return;
        }
        label = json_string_value(jl);
    }
    char key[VT_KEY_MAX];
    struct vt_key rec;
    int rc = vt_auth_key_create(r->srv->store, scope, label, key, &rec);
    if (rc) {
        api_reply_error(r, rc, NULL, "creating the key failed: %s", vt_strerror(rc));
        return;
    }
    json_t *o = key_json(&rec);
    if (o && json_object_set_new(o, "key", json_string(key))) {
        json_decref(o);
        o = NULL;
    }
    memset(key, 0, sizeof key);
    vt_info("key created", "rid=%s id=%s scope=%s by=%s", r->rid, rec.id,
            vt_scope_name(rec.scope), r->key_id);
    api_reply_json(r, MHD_HTTP_CREATED, o);
}

void api_h_key_revoke(struct api_req *r)
{
    const char *id = r->params[0];
    if (strlen(id) >= sizeof((struct vt_key *)0)->id) {
        api_reply_error(r, VT_ENOTFOUND, "id", "no key '%.30s'", id);
        return;
    }
    int rc = vt_store_key_revoke(r->srv->store, id);
    if (rc == VT_ENOTFOUND || rc == VT_EINVAL) {
        api_reply_error(r, VT_ENOTFOUND, "id", "no key '%s'", id);
        return;
    }
    if (rc) {
        api_reply_error(r, rc, NULL, "revoking the key failed: %s", vt_strerror(rc));
        return;
    }
    vt_auth_cache_forget(r->srv->keys, id);
    vt_info("key revoked", "rid=%s id=%s by=%s", r->rid, id, r->key_id);
    api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}
