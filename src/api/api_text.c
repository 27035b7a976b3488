/*
 * api_text.c - text understanding in the server: POST /v1/embed, POST
 * /v1/analyze, and the worker thread that keeps the catalog's embeddings in
 * step.
 *
 * At start (api_text_start) the server creates the text pipeline from its
 * configuration (model, text_dir, bridge) and starts one worker thread; the
 * server listens at once. The worker loads the model and the text data
 * (failures are logged as warnings: the text routes then answer 503 with
 * the reason, everything else is served), teaches the analysis the
 * catalog's vocabulary, and embeds every item missing or stale for the
 * model, logging progress; then it waits for work.
 *
 * Items created or changed through the API (POST /v1/items, PATCH
 * /v1/items/{id}) are queued, not embedded in the request: the answer does
 * not wait for the model, and the worker embeds them moments later, in
 * order of arrival. The queue holds at most QUEUE_MAX ids; past that the
 * worker runs a full sync instead, which finds every change anyway. Items
 * deleted are gone with their vectors (store.h).
 *
 * Limits: at most EMBED_MAX_TEXTS texts per /v1/embed (413 beyond), each at
 * most TEXT_MAX_BYTES (422 beyond), the same for the text of /v1/analyze.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "api/api_int.h"
#include "core/alloc.h"
#include "core/log.h"
#include "nn/item_embed.h"
#include "rec/engine.h"
#include "text/pipeline.h"

#define EMBED_MAX_TEXTS 64
#define TEXT_MAX_BYTES (64 * 1024)
#define QUEUE_MAX 100000
#define LEARN_PAGE 500

struct api_text {
    struct vt_textenc *te;
    struct vt_store *store;
    struct api_server *srv; /* to tell the engine what was embedded */
    pthread_t thread;
    int running;
    atomic_int stop;

    pthread_mutex_t lock; /* guards queue, nq, cap, overflow */
    pthread_cond_t cond;
    char **queue;         /* item ids to embed, oldest first */
    size_t nq, cap;
    int overflow;         /* ids were dropped: sync the whole catalog */
};

/* ---- the worker ------------------------------------------------------------ */

/* Teaches the analysis every item of the catalog. */
static void learn_catalog(struct api_text *t)
{
    char after[VT_ID_MAX + 1] = "";
    int more = 1;
    size_t learnt = 0;
    while (more && !atomic_load(&t->stop)) {
        struct vt_item_query q;
        struct vt_item *items = NULL;
        size_t n = 0;
        memset(&q, 0, sizeof q);
        q.after_id = after[0] ? after : NULL;
        q.limit = LEARN_PAGE;
        q.include_hidden = 1;
        int rc = vt_store_items_list(t->store, &q, &items, &n, &more);
        if (rc) {
            vt_warn("reading the catalog for the analysis failed", "code=%s", vt_strerror(rc));
            return;
        }
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = vt_textenc_learn_item(t->te, &items[i]);
        learnt += n;
        if (n > 0)
            snprintf(after, sizeof after, "%s", items[n - 1].id);
        vt_items_free(items, n);
        if (rc)
            return; /* text data missing: analyze answers 503, already logged */
    }
    vt_info("catalog vocabulary learnt", "items=%zu", learnt);
}

static void sync_all(struct api_text *t)
{
    struct vt_item_embed_options o;
    struct vt_error e;
    memset(&o, 0, sizeof o);
    o.log_progress = 1;
    o.stop = &t->stop;
    vt_error_clear(&e);
    if (vt_item_embed_sync(t->store, t->te, &o, NULL, &e))
        vt_warn("embedding the catalog failed", "reason=\"%s\"", e.message);
}

static void embed_queued(struct api_text *t, char **ids, size_t n)
{
    struct vt_item_embed_report rep;
    struct vt_error e;
    for (size_t i = 0; i < n; i++) {
        struct vt_item it;
        if (vt_store_item_get(t->store, ids[i], &it) == 0) {
            vt_textenc_learn_item(t->te, &it);
            vt_item_reset(&it);
        }
    }
    vt_error_clear(&e);
    if (vt_item_embed_ids(t->store, t->te, (const char *const *)ids, n, &rep, &e))
        vt_warn("embedding changed items failed", "items=%zu reason=\"%s\"", n, e.message);
    else
        vt_debug("changed items embedded", "items=%zu vectors=%zu", n, rep.texts_embedded);
}

/* New vectors are stored: the engine rebuilds its catalog index. */
static void catalog_changed(struct api_text *t)
{
    struct vt_engine *eng = atomic_load(&t->srv->engine);
    if (eng)
        vt_engine_on_catalog_changed(eng);
}

static void *worker(void *arg)
{
    struct api_text *t = arg;
    struct vt_error e;

    vt_error_clear(&e);
    int model_ok = vt_textenc_load_model(t->te, &e) == 0;
    if (!model_ok)
        vt_warn("no model: POST /v1/embed answers 503 and items are not embedded",
                "reason=\"%s\"", e.message);
    vt_error_clear(&e);
    if (vt_textenc_load_text(t->te, &e))
        vt_warn("no text data: POST /v1/analyze answers 503 and Chinese text is not bridged",
                "reason=\"%s\"", e.message);
    else
        learn_catalog(t);
    if (model_ok && !atomic_load(&t->stop)) {
        sync_all(t);
        catalog_changed(t);
    }

    for (;;) {
        pthread_mutex_lock(&t->lock);
        while (!atomic_load(&t->stop) && t->nq == 0 && !t->overflow)
            pthread_cond_wait(&t->cond, &t->lock);
        if (atomic_load(&t->stop)) {
            pthread_mutex_unlock(&t->lock);
            break;
        }
        char **ids = t->queue;
        size_t n = t->nq;
        int full = t->overflow;
        t->queue = NULL;
        t->nq = t->cap = 0;
        t->overflow = 0;
        pthread_mutex_unlock(&t->lock);
        if (model_ok) {
            if (full)
                sync_all(t);
            else
                embed_queued(t, ids, n);
            catalog_changed(t);
        }
        for (size_t i = 0; i < n; i++)
            vt_free(ids[i]);
        vt_free(ids);
    }
    return NULL;
}

/* Queues item ids for the worker; a full queue turns into a full sync. */
static void queue_ids(struct api_text *t, const char *const *ids, size_t n)
{
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < n && !t->overflow; i++) {
        if (t->nq == t->cap) {
            size_t ncap = t->cap ? t->cap * 2 : 64;
            char **q = ncap <= QUEUE_MAX ? vt_realloc(t->queue, ncap * sizeof *q) : NULL;
            if (!q) {
                t->overflow = 1;
                break;
            }
            t->queue = q;
            t->cap = ncap;
        }
        char *id = vt_strdup(ids[i]);
        if (!id) {
            t->overflow = 1;
            break;
        }
        t->queue[t->nq++] = id;
    }
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

/* Asks the worker for a full sync (when the ids cannot be queued). */
static void queue_full_sync(struct api_text *t)
{
    pthread_mutex_lock(&t->lock);
    t->overflow = 1;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

void api_text_start(struct api_server *srv)
{
    struct vt_textenc_config cfg;
    struct api_text *t = vt_calloc(1, sizeof *t);
    if (!t) {
        vt_warn("out of memory starting the text pipeline", NULL);
        return;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.model = vt_conf_str(srv->conf, "model");
    cfg.text_dir = vt_conf_str(srv->conf, "text_dir");
    cfg.bridge = vt_conf_int(srv->conf, "bridge") != 0;
    if (vt_textenc_new(&cfg, &t->te)) {
        vt_warn("the text pipeline is not configured: the text routes answer 503",
                "model=\"%s\" text_dir=\"%s\"", cfg.model, cfg.text_dir);
        vt_free(t);
        return;
    }
    t->store = srv->store;
    t->srv = srv;
    atomic_init(&t->stop, 0);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    srv->text = t;
    /* Stop signals are for the thread that waits for them (server.c): the
     * worker starts with them blocked. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    if (pthread_create(&t->thread, NULL, worker, t) != 0)
        vt_warn("cannot start the embedding thread: items are not embedded by this server",
                NULL);
    else
        t->running = 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void api_text_stop(struct api_server *srv)
{
    struct api_text *t = srv->text;
    if (!t)
        return;
    if (t->running) {
        pthread_mutex_lock(&t->lock);
        atomic_store(&t->stop, 1);
        pthread_cond_signal(&t->cond);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
    }
    for (size_t i = 0; i < t->nq; i++)
        vt_free(t->queue[i]);
    vt_free(t->queue);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    vt_textenc_free(t->te);
    vt_free(t);
    srv->text = NULL;
}

struct vt_textenc *api_text_pipeline(struct api_server *srv)
{
    return srv->text ? srv->text->te : NULL;
}

/* ---- replies ------------------------------------------------------------------ */

/* Queues data[0..len) (vt_malloc'ed; taken) as a JSON answer. */
static void reply_json_text(struct api_req *r, unsigned status, char *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, data, vt_free);
    if (!resp) {
        vt_free(data);
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    api_reply_queue(r, status, resp, len);
}

/* The pipeline, or an answer of 503 and NULL. */
static struct vt_textenc *pipeline(struct api_req *r)
{
    if (r->srv->text)
        return r->srv->text->te;
    api_reply_error(r, VT_EUNAVAIL, NULL, "text understanding is not available on this server");
    return NULL;
}

/* Answers an error from the pipeline: 503 for a missing model or text
 * data, 422 for a text it cannot read (field names it), else by code. */
static void reply_text_error(struct api_req *r, const struct vt_error *e, const char *field)
{
    struct vt_error x = *e;
    if (x.code != VT_EUNAVAIL && x.code != VT_ENOMEM && field)
        snprintf(x.field, sizeof x.field, "%s", field);
    if (x.code == VT_ETOOBIG || x.code == VT_EINVAL)
        api_reply_invalid(r, &x);
    else
        api_reply_verror(r, &x);
}

/* Checks that body is an object whose members are all in allowed. */
static int only_fields(struct api_req *r, const json_t *body, const char *const *allowed)
{
    const char *key;
    const json_t *v;
    if (!json_is_object(body)) {
        api_reply_error(r, VT_EINVAL, "", "the body must be a JSON object");
        return -1;
    }
    json_object_foreach((json_t *)body, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(key, *a) == 0;
        if (!ok) {
            api_reply_error(r, VT_EINVAL, key, "unknown field '%.64s'", key);
            return -1;
        }
    }
    return 0;
}

/* A text member: a string of at most TEXT_MAX_BYTES; answers 422 if not. */
static int text_value(struct api_req *r, const json_t *v, const char *field, const char **s,
                      size_t *n)
{
    if (!json_is_string(v)) {
        api_reply_error(r, VT_EINVAL, field, "%s must be a string", field);
        return -1;
    }
    *n = json_string_length(v);
    if (*n > TEXT_MAX_BYTES) {
        struct vt_error e;
        vt_error_set(&e, VT_ETOOBIG, field, "%s is %zu bytes; the limit is %d bytes", field, *n,
                     TEXT_MAX_BYTES);
        api_reply_invalid(r, &e);
        return -1;
    }
    *s = json_string_value(v);
    return 0;
}

/* ---- POST /v1/embed ------------------------------------------------------------- */

void api_h_embed(struct api_req *r)
{
    static const char *const fields[] = {"texts", "no_bridge", NULL};
    struct vt_textenc *te = pipeline(r);
    const json_t *texts, *nb;
    struct vt_textenc_opts opts = {0};
    struct vt_encoder_info info;
    struct vt_error e;
    char **inputs = NULL;
    float *vec = NULL;
    size_t n = 0, done = 0;
    struct vt_buf b;

    vt_buf_init(&b, 0);
    if (!te || only_fields(r, r->json, fields))
        return;
    texts = json_object_get(r->json, "texts");
    nb = json_object_get(r->json, "no_bridge");
    if (!json_is_array(texts)) {
        api_reply_error(r, VT_EINVAL, "texts", "texts must be an array of strings");
        return;
    }
    if (nb && !json_is_boolean(nb)) {
        api_reply_error(r, VT_EINVAL, "no_bridge", "no_bridge must be true or false");
        return;
    }
    opts.no_bridge = json_is_true(nb);
    n = json_array_size(texts);
    if (n > EMBED_MAX_TEXTS) {
        api_reply_error(r, VT_ETOOBIG, "texts", "%zu texts in one request; the limit is %d", n,
                        EMBED_MAX_TEXTS);
        return;
    }
    vt_error_clear(&e);
    if (vt_textenc_info(te, &info, &e)) {
        reply_text_error(r, &e, NULL);
        return;
    }
    inputs = vt_calloc(n ? n : 1, sizeof *inputs);
    vec = vt_calloc(n ? n * info.dim : 1, sizeof *vec);
    if (!inputs || !vec) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    for (; done < n; done++) {
        char field[32];
        const char *s;
        size_t len;
        snprintf(field, sizeof field, "texts[%zu]", done);
        if (text_value(r, json_array_get(texts, done), field, &s, &len))
            goto out;
        if (vt_textenc_prepare(te, s, len, &opts, &inputs[done], NULL, NULL, &e)) {
            reply_text_error(r, &e, field);
            goto out;
        }
    }
    if (vt_textenc_embed_prepared(te, (const char *const *)inputs, n, vec, &e)) {
        reply_text_error(r, &e, NULL);
        goto out;
    }
    int w = vt_buf_printf(&b, "{\"model_id\":\"%s\",\"dim\":%zu,\"embeddings\":[",
                          info.model_id, info.dim);
    for (size_t i = 0; w == 0 && i < n; i++) {
        w = vt_buf_puts(&b, i ? ",[" : "[");
        for (size_t k = 0; w == 0 && k < info.dim; k++)
            w = vt_buf_printf(&b, "%s%.7g", k ? "," : "", (double)vec[i * info.dim + k]);
        if (w == 0)
            w = vt_buf_puts(&b, "]");
    }
    if (w == 0)
        w = vt_buf_puts(&b, "]}\n");
    if (w) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        goto out;
    }
    size_t len;
    char *data = vt_buf_steal(&b, &len);
    reply_json_text(r, MHD_HTTP_OK, data, len);
out:
    for (size_t i = 0; i < done; i++)
        vt_free(inputs[i]);
    vt_free(inputs);
    vt_free(vec);
    vt_buf_reset(&b);
}

/* ---- POST /v1/analyze ------------------------------------------------------------- */

void api_h_analyze(struct api_req *r)
{
    static const char *const fields[] = {"text", NULL};
    struct vt_textenc *te = pipeline(r);
    struct vt_error e;
    json_t *out = NULL;
    const char *s;
    size_t n;

    if (!te || only_fields(r, r->json, fields))
        return;
    if (!json_object_get(r->json, "text")) {
        api_reply_error(r, VT_EINVAL, "text", "text is required");
        return;
    }
    if (text_value(r, json_object_get(r->json, "text"), "text", &s, &n))
        return;
    vt_error_clear(&e);
    if (vt_textenc_analyze(te, s, n, &out, &e)) {
        reply_text_error(r, &e, "text");
        return;
    }
    /* Scores with 7 significant digits, not 17. */
    char *data = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(out);
    if (!data) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    reply_json_text(r, MHD_HTTP_OK, data, strlen(data));
}

/* ---- items written through the API ------------------------------------------------ */

void api_h_items_post_embed(struct api_req *r)
{
    api_h_items_post(r);
    if (r->status != MHD_HTTP_OK && r->status != MHD_HTTP_CREATED)
        return;
    struct vt_engine *eng = atomic_load(&r->srv->engine);
    if (eng)
        vt_engine_on_catalog_changed(eng); /* titles and words, before vectors */
    struct api_text *t = r->srv->text;
    if (!t)
        return;
    /* Stored, so every element had a valid id. */
    const json_t *body = r->json;
    size_t n = json_is_array(body) ? json_array_size(body) : 1;
    const char **ids = vt_calloc(n ? n : 1, sizeof *ids);
    if (!ids) {
        queue_full_sync(t);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *el = json_is_array(body) ? json_array_get(body, i) : body;
        const char *id = json_string_value(json_object_get(el, "id"));
        if (id)
            ids[k++] = id;
    }
    queue_ids(t, ids, k);
    vt_free(ids);
}

void api_h_item_patch_embed(struct api_req *r)
{
    api_h_item_patch(r);
    struct vt_engine *eng = atomic_load(&r->srv->engine);
    if (eng && r->status == MHD_HTTP_OK)
        vt_engine_on_catalog_changed(eng);
    struct api_text *t = r->srv->text;
    if (t && r->status == MHD_HTTP_OK && r->params[0]) {
        const char *id = r->params[0];
        queue_ids(t, &id, 1);
    }
}
