/*
 * api_events.c - POST /v1/events: one event or a batch, stored durably.
 *
 * The whole batch is validated first (record.c) and then handed to the
 * store in one vt_store_events_append() call, which returns only once the
 * events are on disk; only then is the client told {"accepted": N}. A batch
 * is all or nothing: one bad event rejects the request, named by its index.
 *
 * Keys below ingest (public, read) send events for one anonymous shopper
 * only: the request must carry X-Vitrine-Session with a token from POST
 * /v1/session, and every event's user_id must be that token's user (403
 * otherwise). Ingest and admin keys send events for anyone.
 *
 * navigator.sendBeacon() cannot set headers, so a public key may instead
 * come as ?key= (server.c) and the token as ?session=; the header wins when
 * both are present.
 */
#include <string.h>

#include "api/api_int.h"
#include "core/alloc.h"
#include "core/util.h"
#include "rec/engine.h"

#define SESSION_HEADER "X-Vitrine-Session"

void api_h_events_post(struct api_req *r)
{
    struct api_server *srv = r->srv;
    char session_user[64] = "";
    if (r->scope < VT_SCOPE_INGEST) {
        const char *tok = api_header(r, SESSION_HEADER);
        if (!tok && r->scope == VT_SCOPE_PUBLIC)
            tok = api_query_get(r, "session");
        if (!tok) {
            api_reply_error(r, VT_EFORBIDDEN, NULL,
                            "a %s key may only send events with an " SESSION_HEADER
                            " header (or ?session=) from POST /v1/session",
                            vt_scope_name(r->scope));
            return;
        }
        if (api_session_check(srv->session_key, tok, session_user, sizeof session_user)) {
            api_reply_error(r, VT_EFORBIDDEN, NULL,
                            "the " SESSION_HEADER " token is not one this server issued");
            return;
        }
    }
    json_t *body = r->json;
    int is_array = json_is_array(body);
    if (!is_array && !json_is_object(body)) {
        api_reply_error(r, VT_EINVAL, "",
                        "the body must be an event object or an array of events");
        return;
    }
    size_t n = is_array ? json_array_size(body) : 1;
    if (n > srv->max_batch_events) {
        api_reply_error(r, VT_ETOOBIG, "", "%zu events in one request; the limit is %zu", n,
                        srv->max_batch_events);
        return;
    }
    if (n == 0) {
        api_reply_json(r, MHD_HTTP_OK, json_pack("{s:i}", "accepted", 0));
        return;
    }
    struct vt_event *evs = vt_calloc(n, sizeof *evs);
    if (!evs) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    struct vt_error err;
    vt_error_clear(&err);
    int64_t now = vt_time_now_ms();
    for (size_t i = 0; i < n; i++) {
        json_t *el = is_array ? json_array_get(body, i) : body;
        int rc = vt_event_from_json(el, &srv->limits, now, &evs[i], &err);
        if (rc) {
            if (rc == VT_ENOMEM)
                vt_error_set(&err, VT_ENOMEM, NULL, "out of memory");
            api_error_in_batch(&err, is_array, i);
            api_reply_invalid(r, &err);
            goto out;
        }
        if (session_user[0] && strcmp(evs[i].user_id, session_user) != 0) {
            vt_error_set(&err, VT_EFORBIDDEN, "user_id",
                         "a %s key may only send events for its session's user '%s'",
                         vt_scope_name(r->scope), session_user);
            api_error_in_batch(&err, is_array, i);
            api_reply_invalid(r, &err);
            goto out;
        }
    }
    size_t bad = n;
    vt_error_clear(&err);
    int rc = vt_store_events_append(srv->store, evs, n, &bad, &err);
    if (rc) {
        if (!err.code)
            vt_error_set(&err, rc, rc == VT_EINVAL ? "item_id" : NULL, "storing the events "
                         "failed: %s", vt_strerror(rc));
        if (rc == VT_EINVAL && bad < n)
            api_error_in_batch(&err, is_array, bad);
        api_reply_invalid(r, &err);
        goto out;
    }
    api_metrics_events_stored(srv->metrics, n);
    /* Before the answer, so the shopper's next request sees the events. */
    struct vt_engine *eng = atomic_load(&srv->engine);
    if (eng)
        vt_engine_on_events(eng, evs, n);
    api_reply_json(r, MHD_HTTP_OK, json_pack("{s:I}", "accepted", (json_int_t)n));
out:
    vt_events_free(evs, n);
}
