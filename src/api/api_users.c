/*
 * api_users.c - shoppers: /v1/users/{id} and their events.
 *
 * PUT replaces what it is given (attributes, consent) and leaves the rest;
 * DELETE forgets the user and every event of theirs. Events are listed
 * newest first; next_before, when not null, is passed back as ?before= to
 * get the next older page.
 */
#include <string.h>

#include "api/api_int.h"
#include "rec/engine.h"
#include "core/alloc.h"

#define EVENTS_DEFAULT 50
#define EVENTS_MAX 1000

static void reply_user(struct api_req *r, const char *id, unsigned status)
{
    struct vt_user u;
    vt_user_init(&u);
    int rc = vt_store_user_get(r->srv->store, id, &u);
    if (rc == VT_ENOTFOUND)
        api_reply_error(r, VT_ENOTFOUND, "id", "no user '%s'", id);
    else if (rc)
        api_reply_error(r, rc, NULL, "reading the user failed: %s", vt_strerror(rc));
    else
        api_reply_json(r, status, vt_user_to_json(&u));
    vt_user_reset(&u);
}

void api_h_user_get(struct api_req *r)
{
    const char *id;
    if (api_param_id(r, 0, &id))
        return;
    reply_user(r, id, MHD_HTTP_OK);
}

void api_h_user_put(struct api_req *r)
{
    const char *id;
    if (api_param_id(r, 0, &id))
        return;
    struct vt_user u;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_user_from_json(id, r->json, &r->srv->limits, &u, &err);
    if (rc) {
        if (rc == VT_ENOMEM)
            vt_error_set(&err, VT_ENOMEM, NULL, "out of memory");
        api_reply_invalid(r, &err);
        return;
    }
    rc = vt_store_user_put(r->srv->store, &u);
    vt_user_reset(&u);
    if (rc) {
        api_reply_error(r, rc, NULL, "storing the user failed: %s", vt_strerror(rc));
        return;
    }
    reply_user(r, id, MHD_HTTP_OK);
}

void api_h_user_delete(struct api_req *r)
{
    const char *id;
    if (api_param_id(r, 0, &id))
        return;
    int rc = vt_store_user_delete(r->srv->store, id);
    if (rc == VT_ENOTFOUND)
        api_reply_error(r, VT_ENOTFOUND, "id", "no user '%s'", id);
    else if (rc)
        api_reply_error(r, rc, NULL, "deleting the user failed: %s", vt_strerror(rc));
    else {
        struct vt_engine *eng = atomic_load(&r->srv->engine);
        if (eng)
            vt_engine_forget_user(eng, id);
        api_reply_empty(r, MHD_HTTP_NO_CONTENT);
    }
}

void api_h_user_events(struct api_req *r)
{
    struct api_server *srv = r->srv;
    const char *id;
    if (api_param_id(r, 0, &id))
        return;
    int64_t limit, before;
    if (api_query_int(r, "limit", 1, EVENTS_MAX, EVENTS_DEFAULT, &limit) ||
        api_query_int(r, "before", 1, INT64_MAX, 0, &before))
        return;
    struct vt_user u;
    vt_user_init(&u);
    int rc = vt_store_user_get(srv->store, id, &u);
    vt_user_reset(&u);
    if (rc == VT_ENOTFOUND) {
        api_reply_error(r, VT_ENOTFOUND, "id", "no user '%s'", id);
        return;
    }
    if (rc) {
        api_reply_error(r, rc, NULL, "reading the user failed: %s", vt_strerror(rc));
        return;
    }
    struct vt_event *evs = NULL;
    size_t n = 0;
    /* One more than asked tells whether an older page exists. */
    rc = vt_store_user_events(srv->store, id, before, (size_t)limit + 1, &evs, &n);
    if (rc) {
        api_reply_error(r, rc, NULL, "reading the events failed: %s", vt_strerror(rc));
        return;
    }
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < shown; i++)
        if (json_array_append_new(arr, vt_event_to_json(&evs[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    json_t *next = n > shown ? json_integer(evs[shown - 1].id) : json_null();
    vt_events_free(evs, n);
    if (!arr || !next) {
        json_decref(arr);
        json_decref(next);
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    api_reply_json(r, MHD_HTTP_OK,
                   json_pack("{s:s,s:o,s:o}", "user_id", id, "events", arr, "next_before", next));
}
