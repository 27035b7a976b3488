/*
 * batcher.c - gathering concurrent encode calls into batches (see
 * batcher.h).
 *
 * Each call is a request on its caller's stack, linked into a FIFO queue.
 * A request is WAITING, LEAD (its thread must run the next batch) or DONE.
 *
 * Invariants, all under `mu`:
 *   - `running` is 1 from the moment some request is made LEAD until its
 *     thread has finished the batch and either handed LEAD to the new head
 *     of the queue or found the queue empty; at most one request is LEAD.
 *   - A non-empty queue implies running == 1 (the last batch to end hands
 *     on), so a caller that finds running == 0 finds the queue empty and
 *     runs its own request at once: no delay when idle.
 *   - The LEAD request is the head of the queue when its thread takes the
 *     batch, so the leader's own texts are always in the batch it runs.
 *   - `queued` is the number of texts in queued requests (<= max_queue,
 *     except for one request larger than the room left when the queue is
 *     empty, which cannot happen as max_call <= max_queue).
 *   - `inflight` counts calls between entry and return; vt_batcher_free
 *     waits for it to reach 0, so no request outlives the batcher.
 * A request's fields other than `state` and `next` are written by the
 * leader outside the lock while the request's thread sleeps, and read by
 * that thread after it sees DONE under the lock.
 */
#include "nn/batcher.h"

#include <pthread.h>
#include <string.h>

#include "core/alloc.h"

enum req_state { REQ_WAITING, REQ_LEAD, REQ_DONE };

struct request {
    const char *const *texts;
    size_t count;
    float *out;
    struct vt_error *err;
    int rc;
    enum req_state state;
    pthread_cond_t cv;
    struct request *next;
};

struct vt_batcher {
    vt_batch_fn fn;
    void *ctx;
    size_t dim;
    struct vt_batcher_opts o;

    pthread_mutex_t mu;
    pthread_cond_t cv_room, cv_idle;
    struct request *head, *tail;
    size_t queued;
    size_t inflight;
    int running;
    int closed;
    struct vt_batcher_stats stats;

    /* the leader's (one at a time, see `running`) */
    const char **texts;   /* max_batch text pointers */
    float *out;           /* max_batch * dim floats */
};

void vt_batcher_opts_default(struct vt_batcher_opts *o)
{
    o->max_batch = 64;
    o->max_call = 8;
    o->max_queue = 1024;
}

int vt_batcher_new(vt_batch_fn fn, void *ctx, size_t dim, const struct vt_batcher_opts *o,
                   struct vt_batcher **out)
{
    *out = NULL;
    struct vt_batcher *b = vt_calloc(1, sizeof *b);
    if (!b)
        return VT_ENOMEM;
    if (o)
        b->o = *o;
    else
        vt_batcher_opts_default(&b->o);
    struct vt_batcher_opts *p = &b->o;
    if (p->max_batch < 1)
        p->max_batch = 1;
    if (p->max_batch > VT_BATCHER_MAX_BATCH)
        p->max_batch = VT_BATCHER_MAX_BATCH;
    if (p->max_call < 1)
        p->max_call = 1;
    if (p->max_call > p->max_batch)
        p->max_call = p->max_batch;
    if (p->max_queue < p->max_batch)
        p->max_queue = p->max_batch;
    b->fn = fn;
    b->ctx = ctx;
    b->dim = dim;
    size_t floats;
    if (vt_mul_size(p->max_batch, dim ? dim : 1, &floats) < 0 ||
        !(b->texts = vt_calloc(p->max_batch, sizeof *b->texts)) ||
        !(b->out = vt_calloc(floats, sizeof *b->out))) {
        vt_free(b->texts);
        vt_free(b);
        return VT_ENOMEM;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv_room, NULL);
    pthread_cond_init(&b->cv_idle, NULL);
    *out = b;
    return 0;
}

/*
 * Run one batch: called with mu held by the thread whose request `self` is
 * LEAD and at the head of the queue; returns with mu held and `self` DONE.
 */
static void lead(struct vt_batcher *b, struct request *self)
{
    /* take requests from the head while they fit in max_batch texts */
    struct request *first = b->head, *last = first;
    size_t total = first->count, nreq = 1;
    while (last->next && total + last->next->count <= b->o.max_batch) {
        last = last->next;
        total += last->count;
        nreq++;
    }
    b->head = last->next;
    if (!b->head)
        b->tail = NULL;
    last->next = NULL;
    b->queued -= total;
    pthread_cond_broadcast(&b->cv_room);
    pthread_mutex_unlock(&b->mu);

    int retried = 0;
    if (nreq == 1) {
        first->rc = b->fn(b->ctx, first->texts, first->count, first->out, first->err);
    } else {
        size_t k = 0;
        for (struct request *r = first; r; r = r->next)
            for (size_t i = 0; i < r->count; i++)
                b->texts[k++] = r->texts[i];
        struct vt_error e = {0};
        int rc = b->fn(b->ctx, b->texts, total, b->out, &e);
        if (rc == 0) {
            const float *src = b->out;
            for (struct request *r = first; r; r = r->next) {
                memcpy(r->out, src, r->count * b->dim * sizeof *src);
                src += r->count * b->dim;
                r->rc = 0;
            }
        } else {
            /* Someone's text is bad (or memory ran out): encode each
             * request on its own so that every caller gets its own
             * result, and errors that name its own texts. */
            retried = 1;
            for (struct request *r = first; r; r = r->next)
                r->rc = b->fn(b->ctx, r->texts, r->count, r->out, r->err);
        }
    }

    pthread_mutex_lock(&b->mu);
    b->stats.batches++;
    b->stats.texts += total;
    b->stats.retries += (uint64_t)retried;
    for (struct request *r = first, *next; r; r = next) {
        next = r->next;
        r->state = REQ_DONE;
        if (r != self)
            pthread_cond_signal(&r->cv);
    }
    if (b->head) {
        b->head->state = REQ_LEAD;
        pthread_cond_signal(&b->head->cv);
    } else {
        b->running = 0;
    }
}

static void leave(struct vt_batcher *b)
{
    if (--b->inflight == 0 && b->closed)
        pthread_cond_broadcast(&b->cv_idle);
}

int vt_batcher_encode(struct vt_batcher *b, const char *const *texts, size_t count, float *out,
                      struct vt_error *err)
{
    if (count == 0)
        return 0;
    pthread_mutex_lock(&b->mu);
    if (b->closed) {
        pthread_mutex_unlock(&b->mu);
        return vt_error_set(err, VT_EUNAVAIL, "", "the encoder is shutting down");
    }
    b->inflight++;
    if (count > b->o.max_call) {
        /* already a batch: straight to the encoder */
        b->stats.bypass++;
        pthread_mutex_unlock(&b->mu);
        int rc = b->fn(b->ctx, texts, count, out, err);
        pthread_mutex_lock(&b->mu);
        leave(b);
        pthread_mutex_unlock(&b->mu);
        return rc;
    }

    struct request req = {texts, count, out, err, 0, REQ_WAITING, PTHREAD_COND_INITIALIZER,
                          NULL};
    while (b->head && b->queued + count > b->o.max_queue)
        pthread_cond_wait(&b->cv_room, &b->mu);
    if (b->tail)
        b->tail->next = &req;
    else
        b->head = &req;
    b->tail = &req;
    b->queued += count;
    if (b->queued > b->stats.peak_queued)
        b->stats.peak_queued = b->queued;
    b->stats.calls++;
    if (!b->running) {
        b->running = 1;
        req.state = REQ_LEAD;
    }
    for (;;) {
        if (req.state == REQ_LEAD)
            lead(b, &req);
        if (req.state == REQ_DONE)
            break;
        pthread_cond_wait(&req.cv, &b->mu);
    }
    int rc = req.rc;
    leave(b);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&req.cv);
    return rc;
}

void vt_batcher_close(struct vt_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->closed = 1;
    pthread_mutex_unlock(&b->mu);
}

void vt_batcher_free(struct vt_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->closed = 1;
    while (b->inflight)
        pthread_cond_wait(&b->cv_idle, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&b->cv_room);
    pthread_cond_destroy(&b->cv_idle);
    pthread_mutex_destroy(&b->mu);
    vt_free(b->texts);
    vt_free(b->out);
    vt_free(b);
}

void vt_batcher_stats(struct vt_batcher *b, struct vt_batcher_stats *s)
{
    pthread_mutex_lock(&b->mu);
    *s = b->stats;
    s->queued = b->queued;
    pthread_mutex_unlock(&b->mu);
}
