/*
 * api_rec.c - the engine's routes: GET /v1/search, GET /v1/recommend,
 * GET /v1/items/{id}/similar, POST /v1/fit, GET /v1/categories,
 * GET /v1/model and POST /v1/admin/retrain.
 *
 * Handlers only read parameters, check them and hand over to the engine
 * (rec/engine.h), which answers in the shapes docs/api.md gives. Without
 * an engine (it failed to start; the log says why) they answer 503.
 *
 * Whose recommendations: a caller with a read key (or above) names any
 * user_id. Below read (the storefront's public key) the shopper is the one
 * of the X-Vitrine-Session token; a user_id naming anyone else is refused
 * (403), and without a token the visitor is anonymous.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "core/alloc.h"
#include "rec/engine.h"

#define SESSION_HEADER "X-Vitrine-Session"
#define LIST_MAX 100
#define LIST_DEFAULT 10

static struct vt_engine *engine(struct api_req *r)
{
    struct vt_engine *e = atomic_load(&r->srv->engine);
    if (!e)
        api_reply_error(r, VT_EUNAVAIL, NULL,
                        "the recommendation engine is not running (the server log says why)");
    return e;
}

static void reply_result(struct api_req *r, int rc, json_t *out, const struct vt_error *err)
{
    if (rc) {
        json_decref(out);
        api_reply_verror(r, err);
        return;
    }
    api_reply_json(r, MHD_HTTP_OK, out);
}

/* A decimal number parameter; NAN when absent. Answers 422 and returns -1
 * when it does not parse, is not finite or lies outside [lo, hi]. */
static int query_number(struct api_req *r, const char *name, double lo, double hi, double *out)
{
    const char *v = api_query_get(r, name);
    *out = NAN;
    if (!v)
        return 0;
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || v[0] == ' ' || !isfinite(x) || x < lo || x > hi) {
        api_reply_error(r, VT_EINVAL, name, "%s must be a number from %g to %g", name, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* The shopper a request speaks for (see the top of the file): *user is
 * NULL for an anonymous visitor. Answers and returns -1 on refusal. */
static int request_user(struct api_req *r, char *buf, size_t bufsz, const char **user)
{
    const char *named = api_query_get(r, "user_id");
    *user = NULL;
    if (r->scope >= VT_SCOPE_READ) {
        if (named && *named) {
            struct vt_error err;
            vt_error_clear(&err);
            if (vt_id_check(named, "user_id", &err)) {
                api_reply_invalid(r, &err);
                return -1;
            }
            *user = named;
        }
        return 0;
    }
    const char *tok = api_header(r, SESSION_HEADER);
    if (tok) {
        if (api_session_check(r->srv->session_key, tok, buf, bufsz)) {
            api_reply_error(r, VT_EFORBIDDEN, NULL,
                            "the " SESSION_HEADER " token is not one this server issued");
            return -1;
        }
        *user = buf;
    }
    if (named && *named && (!*user || strcmp(named, *user) != 0)) {
        api_reply_error(r, VT_EFORBIDDEN, "user_id",
                        "a %s key may only ask for the shopper of its " SESSION_HEADER
                        " token",
                        vt_scope_name(r->scope));
        return -1;
    }
    return 0;
}

void api_h_search(struct api_req *r)
{
    struct vt_engine *e = engine(r);
    if (!e)
        return;
    struct vt_search_request q;
    memset(&q, 0, sizeof q);
    int64_t n;
    if (api_query_int(r, "n", 1, LIST_MAX, LIST_DEFAULT, &n))
        return;
    q.n = (size_t)n;
    q.q = api_query_get(r, "q");
    q.category = api_query_get(r, "category");
    q.ignore = api_query_get(r, "ignore");
    q.lang = api_query_get(r, "lang");
    if (query_number(r, "price_min", 0, VT_PRICE_MAX, &q.price_min) ||
        query_number(r, "price_max", 0, VT_PRICE_MAX, &q.price_max) ||
        query_number(r, "fits_w", 0, VT_DIM_MAX_CM, &q.fits_cm[0]) ||
        query_number(r, "fits_d", 0, VT_DIM_MAX_CM, &q.fits_cm[1]) ||
        query_number(r, "fits_h", 0, VT_DIM_MAX_CM, &q.fits_cm[2]))
        return;
    char user[VT_ID_MAX + 1];
    if (request_user(r, user, sizeof user, &q.user_id))
        return;
    struct vt_buf out;
    vt_buf_init(&out, 0);
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_engine_search_text(e, &q, &out, &err);
    if (rc) {
        vt_buf_reset(&out);
        api_reply_verror(r, &err);
        return;
    }
    api_reply_json_buf(r, MHD_HTTP_OK, &out);
}

void api_h_recommend(struct api_req *r)
{
    struct vt_engine *e = engine(r);
    if (!e)
        return;
    struct vt_rec_request q;
    memset(&q, 0, sizeof q);
    int64_t n;
    if (api_query_int(r, "n", 1, LIST_MAX, LIST_DEFAULT, &n))
        return;
    q.n = (size_t)n;
    q.context = api_query_get(r, "context");
    q.category = api_query_get(r, "category");
    q.log_impression = 1;
    char user[VT_ID_MAX + 1];
    if (request_user(r, user, sizeof user, &q.user_id))
        return;
    struct vt_buf out;
    vt_buf_init(&out, 0);
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_engine_recommend_text(e, &q, &out, &err);
    if (rc) {
        vt_buf_reset(&out);
        api_reply_verror(r, &err);
        return;
    }
    api_reply_json_buf(r, MHD_HTTP_OK, &out);
}

void api_h_similar(struct api_req *r)
{
    struct vt_engine *e = engine(r);
    if (!e)
        return;
    const char *id;
    if (api_param_id(r, 0, &id))
        return;
    int64_t n;
    if (api_query_int(r, "n", 1, LIST_MAX, LIST_DEFAULT, &n))
        return;
    struct vt_buf out;
    vt_buf_init(&out, 0);
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_engine_similar_text(e, id, (size_t)n, &out, &err);
    if (rc) {
        vt_buf_reset(&out);
        api_reply_verror(r, &err);
        return;
    }
    api_reply_json_buf(r, MHD_HTTP_OK, &out);
}

void api_h_fit(struct api_req *r)
{
    struct vt_engine *e = engine(r);
    if (!e)
        return;
    if (!json_is_object(r->json)) {
        api_reply_error(r, VT_EINVAL, "", "the body must be a JSON object");
        return;
    }
    json_t *out = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_engine_fit(e, r->json, &out, &err);
    reply_result(r, rc, out, &err);
}

void api_h_categories(struct api_req *r)
{
    struct vt_engine *e = engine(r);
    if (!e)
        return;
    json_t *out = NULL;
    int rc = vt_engine_categories(e, &out);
    if (rc) {
        api_reply_error(r, rc, NULL, "listing categories failed: %s", vt_strerror(rc));
        return;
    }
    api_reply_json(r, MHD_HTTP_OK, out);
}

void api_h_model(struct api_req *r)
{
    struct vt_engine *e = engine(r);
    if (!e)
        return;
    json_t *out = NULL;
    int rc = vt_engine_model_info(e, &out);
    if (rc) {
        api_reply_error(r, rc, NULL, "describing the model failed: %s", vt_strerror(rc));
        return;
    }
    api_reply_json(r, MHD_HTTP_OK, out);
}

/* POST /v1/admin/retrain: 202 and a retrain in the background; with
 * ?wait=1 the request waits and answers the retrain's report. */
void api_h_retrain(struct api_req *r)
{
    struct vt_engine *e = engine(r);
    if (!e)
        return;
    int64_t wait;
    if (api_query_int(r, "wait", 0, 1, 0, &wait))
        return;
    if (!wait) {
        int rc = vt_engine_retrain_async(e);
        if (rc) {
            api_reply_error(r, rc, NULL, "a retrain is already running or queued");
            return;
        }
        api_reply_json(r, MHD_HTTP_ACCEPTED, json_pack("{s:b}", "queued", 1));
        return;
    }
    json_t *report = NULL;
    struct vt_error err;
    vt_error_clear(&err);
    int rc = vt_engine_retrain(e, &report, &err);
    reply_result(r, rc, report, &err);
}
