/*
 * implog.c - impressions: the in-memory log of what lists showed, its
 * flush to the store, and the online update of the ranker when what a
 * shopper does next labels an impression (engine_int.h, docs/ranker.md).
 *
 * Two bounded buffers, under one mutex:
 *   - pending: impressions not yet written, in the store's own record
 *     (at most PENDING_MAX; past that, new ones are dropped and counted:
 *     impressions are logs, never accepted data). eng_implog_flush moves
 *     them out under the lock and writes them without it.
 *   - recent: impressions waiting for a label, oldest first in a ring of
 *     at most RECENT_MAX (grown by doubling as needed). An impression
 *     leaves it when rec.label_window_s has passed (unlabelled: a negative
 *     SGD step of weight NEG_WEIGHT, since a shopper does not see every
 *     item of a list), or when the ring is full (dropped, no step).
 *
 * Finding the impressions an event labels. Each ring slot is chained into
 * a hash bucket of its (user, item), newest first; a link names a slot and
 * the sequence number the slot had when it was linked. Slots are reused
 * and retired oldest first, so the first link whose sequence no longer
 * matches ends the chain: everything past it is older and gone too.
 *
 * Labels: an engagement (click, add_to_cart, purchase, ar_session,
 * ar_place, ar_dwell, rotate, zoom, tryon, showroom_view) by the same user
 * on the same item at most the label window after an impression (and at
 * most SKEW_MS before it, for clocks that disagree) labels it 1; a dismiss
 * labels it 0 at full weight. An impression is labelled once. train.c
 * applies the same rule to stored impressions and events.
 *
 * SGD steps are collected under the log's mutex and applied after it is
 * released, under e->rank_lock held for writing: the two locks are never
 * held together.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "rec/engine_int.h"

#define PENDING_MAX 20000     /* impressions waiting to be written */
#define RECENT_MAX 131072     /* impressions waiting for a label (power of 2) */
#define RECENT_MIN 1024       /* the ring's first size (power of 2) */
#define WRITE_BATCH 2000      /* impressions per store transaction */
#define NEG_WEIGHT 0.2f       /* an impression that expired unlabelled */
#define DISMISS_WEIGHT 1.0f   /* an impression followed by a dismiss */
#define SKEW_MS 5000          /* an event may be this much older than the
                                 impression it labels (train.c: the same) */

_Static_assert(ENG_NFEAT <= VT_IMPRESSION_MAX_FEATURES, "features fit an impression");
_Static_assert(ENG_NFEAT <= VT_RANKER_MAX_FEATURES, "features fit the ranker");

struct recent {
    char *ids;           /* "user\0item\0" (one block), NULL once forgotten */
    const char *item;    /* into ids */
    uint64_t key;        /* hash of (user, item) */
    uint64_t seq;        /* this use of the slot; 0 = retired */
    uint32_t next;       /* the next older slot in the bucket ... */
    uint64_t next_seq;   /* ... valid while its seq is still this */
    int64_t ts_ms;
    float f[ENG_NFEAT];
    int labelled;
};

struct step {
    float f[ENG_NFEAT];
    float label, weight;
};

struct eng_implog {
    pthread_mutex_t lock;
    struct vt_impression *pending;
    size_t npending, pending_cap;
    struct recent *ring;         /* cap slots; live ones are head .. head+count */
    size_t cap, head, count;
    uint32_t *bucket;            /* 2 * cap buckets: newest slot ... */
    uint64_t *bucket_seq;        /* ... and its seq (0 = empty) */
    uint64_t seq;                /* last sequence number given */
    uint64_t dropped, evicted;   /* counters since the last flush's log line */
};

static uint64_t pair_hash(const char *user, const char *item)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* a byte no UTF-8 id holds */
    for (const unsigned char *p = (const unsigned char *)item; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

int eng_implog_new(struct eng_implog **out)
{
    struct eng_implog *l = vt_calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return VT_ENOMEM;
    pthread_mutex_init(&l->lock, NULL);
    *out = l;
    return 0;
}

static void recent_retire(struct recent *r)
{
    vt_free(r->ids);
    r->ids = NULL;
    r->seq = 0;
}

void eng_implog_free(struct eng_implog *l)
{
    if (!l)
        return;
    for (size_t k = 0; k < l->count; k++)
        recent_retire(&l->ring[(l->head + k) & (l->cap - 1)]);
    vt_free(l->ring);
    vt_free(l->bucket);
    vt_free(l->bucket_seq);
    vt_free(l->pending);
    pthread_mutex_destroy(&l->lock);
    vt_free(l);
}

/* ---- the ring and its buckets ------------------------------------------------ */

static void link_slot(struct eng_implog *l, uint32_t slot)
{
    struct recent *r = &l->ring[slot];
    size_t b = r->key & (2 * l->cap - 1);
    r->next = l->bucket[b];
    r->next_seq = l->bucket_seq[b];
    l->bucket[b] = slot;
    l->bucket_seq[b] = r->seq;
}

/* Doubles the ring (up to RECENT_MAX), laying the live slots out again
 * oldest first from 0 and rebuilding the chains. 0 or VT_ENOMEM. */
static int ring_grow(struct eng_implog *l)
{
    size_t ncap = l->cap ? 2 * l->cap : RECENT_MIN;
    struct recent *ring = vt_calloc(ncap, sizeof *ring);
    uint32_t *bucket = vt_calloc(2 * ncap, sizeof *bucket);
    uint64_t *bseq = vt_calloc(2 * ncap, sizeof *bseq);
    if (!ring || !bucket || !bseq) {
        vt_free(ring);
        vt_free(bucket);
        vt_free(bseq);
        return VT_ENOMEM;
    }
    for (size_t k = 0; k < l->count; k++)
        ring[k] = l->ring[(l->head + k) & (l->cap - 1)];
    vt_free(l->ring);
    vt_free(l->bucket);
    vt_free(l->bucket_seq);
    l->ring = ring;
    l->bucket = bucket;
    l->bucket_seq = bseq;
    l->cap = ncap;
    l->head = 0;
    for (size_t k = 0; k < l->count; k++)
        if (ring[k].seq)
            link_slot(l, (uint32_t)k);
    return 0;
}

/* The oldest live slot leaves the ring; its step, if it expired
 * unlabelled, is the caller's to collect first. */
static void ring_pop(struct eng_implog *l)
{
    recent_retire(&l->ring[l->head]);
    l->head = (l->head + 1) & (l->cap - 1);
    l->count--;
}

/* ---- adding ---------------------------------------------------------------------- */

static void add_one(struct eng_implog *l, const char *rec_id, const char *user,
                    const char *surface, const char *item, int32_t pos, const float *f,
                    int64_t now)
{
    size_t ul = strlen(user), il = strlen(item);
    struct recent *r;
    uint32_t slot;

    if (l->npending < PENDING_MAX) {
        if (l->npending == l->pending_cap) {
            size_t ncap = l->pending_cap ? 2 * l->pending_cap : 256;
            struct vt_impression *p;
            if (ncap > PENDING_MAX)
                ncap = PENDING_MAX;
            p = vt_realloc(l->pending, ncap * sizeof *p);
            if (p) {
                l->pending = p;
                l->pending_cap = ncap;
            }
        }
        if (l->npending < l->pending_cap) {
            struct vt_impression *m = &l->pending[l->npending++];
            memset(m, 0, sizeof *m);
            snprintf(m->rec_id, sizeof m->rec_id, "%s", rec_id);
            snprintf(m->user_id, sizeof m->user_id, "%s", user);
            snprintf(m->item_id, sizeof m->item_id, "%s", item);
            snprintf(m->surface, sizeof m->surface, "%s", surface);
            m->position = pos;
            m->nfeatures = ENG_NFEAT;
            memcpy(m->features, f, ENG_NFEAT * sizeof *f);
            m->ts_ms = now;
        } else {
            l->dropped++;
        }
    } else {
        l->dropped++;
    }

    if (l->count == l->cap && l->cap < RECENT_MAX)
        (void)ring_grow(l); /* out of memory: the oldest makes room below */
    if (l->cap == 0)
        return;
    if (l->count == l->cap) {
        ring_pop(l);
        l->evicted++;
    }
    slot = (uint32_t)((l->head + l->count) & (l->cap - 1));
    r = &l->ring[slot];
    memset(r, 0, sizeof *r);
    r->ids = vt_malloc(ul + il + 2);
    if (!r->ids)
        return; /* not counted: the slot is reused by the next one */
    memcpy(r->ids, user, ul + 1);
    memcpy(r->ids + ul + 1, item, il + 1);
    r->item = r->ids + ul + 1;
    r->key = pair_hash(user, item);
    r->seq = ++l->seq;
    r->ts_ms = now;
    memcpy(r->f, f, ENG_NFEAT * sizeof *f);
    l->count++;
    link_slot(l, slot);
}

void eng_implog_add(struct vt_engine *e, const char *rec_id, const char *user_id,
                    const char *surface, const struct eng_snapshot *s,
                    const struct eng_cand *list, size_t n)
{
    struct eng_implog *l = e->implog;
    int64_t now = vt_time_now_ms();

    /* An anonymous visitor's lists cannot be labelled: events need a user. */
    if (!l || !user_id || !user_id[0] || !rec_id || !rec_id[0] || !surface || !s)
        return;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < n; i++) {
        int32_t it = list[i].item;
        if (it < 0 || it >= s->cat->nitems)
            continue;
        add_one(l, rec_id, user_id, surface, s->cat->items[it].rec.id, (int32_t)i, list[i].f,
                now);
    }
    pthread_mutex_unlock(&l->lock);
}

/* ---- labels and steps ------------------------------------------------------------- */

static double window_ms(const struct vt_engine *e)
{
    double w = e->params.label_window_s;
    if (!(w > 0) && e->conf)
        w = vt_conf_double(e->conf, "rec.label_window_s");
    return (w > 0 ? w : 1800) * 1000.0;
}

/* 1 for the event types that mean interest in the item shown. */
static int engages(int type)
{
    switch (type) {
    case VT_EV_CLICK: case VT_EV_ADD_TO_CART: case VT_EV_PURCHASE: case VT_EV_AR_SESSION:
    case VT_EV_AR_PLACE: case VT_EV_AR_DWELL: case VT_EV_ROTATE: case VT_EV_ZOOM:
    case VT_EV_TRYON: case VT_EV_SHOWROOM_VIEW:
        return 1;
    default:
        return 0;
    }
}

struct steps {
    struct step *v;
    size_t n, cap;
};

static void steps_add(struct steps *st, const float *f, float label, float weight)
{
    if (st->n == st->cap) {
        size_t ncap = st->cap ? 2 * st->cap : 64;
        struct step *p = vt_realloc(st->v, ncap * sizeof *p);
        if (!p)
            return; /* a lost step: the model learns a little less */
        st->v = p;
        st->cap = ncap;
    }
    memcpy(st->v[st->n].f, f, ENG_NFEAT * sizeof *f);
    st->v[st->n].label = label;
    st->v[st->n].weight = weight;
    st->n++;
}

static void steps_apply(struct vt_engine *e, struct steps *st)
{
    float lr = (float)e->params.online_lr;
    if (st->n == 0 || !(lr > 0))
        return;
    pthread_rwlock_wrlock(&e->rank_lock);
    if (e->ranker && vt_ranker_nx(e->ranker) + vt_ranker_ny(e->ranker) == ENG_NFEAT)
        for (size_t i = 0; i < st->n; i++) {
            struct vt_rank_example ex = {st->v[i].f, st->v[i].label, st->v[i].weight};
            vt_ranker_sgd(e->ranker, &ex, lr);
        }
    pthread_rwlock_unlock(&e->rank_lock);
}

/* Labels the live, unlabelled impressions of (user, item) whose window
 * holds ts. */
static void label_pair(struct eng_implog *l, const char *user, const char *item, int64_t ts,
                       double win_ms, float label, float weight, struct steps *st)
{
    uint64_t key;
    uint32_t slot;
    uint64_t seq;

    if (l->cap == 0)
        return;
    key = pair_hash(user, item);
    slot = l->bucket[key & (2 * l->cap - 1)];
    seq = l->bucket_seq[key & (2 * l->cap - 1)];
    while (seq != 0 && l->ring[slot].seq == seq) {
        struct recent *r = &l->ring[slot];
        if (r->key == key && r->ids && !r->labelled && strcmp(r->ids, user) == 0 &&
            strcmp(r->item, item) == 0 && ts >= r->ts_ms - SKEW_MS &&
            (double)ts <= (double)r->ts_ms + win_ms) {
            r->labelled = 1;
            steps_add(st, r->f, label, weight);
        }
        slot = r->next;
        seq = r->next_seq;
    }
}

void eng_implog_on_events(struct vt_engine *e, const struct vt_event *evs, size_t n)
{
    struct eng_implog *l = e->implog;
    struct steps st = {0};
    double win = window_ms(e);

    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < n; i++) {
        const struct vt_event *ev = &evs[i];
        if (!ev->user_id || !ev->item_id)
            continue;
        if (engages(ev->type))
            label_pair(l, ev->user_id, ev->item_id, ev->ts_ms, win, 1.0f, 1.0f, &st);
        else if (ev->type == VT_EV_DISMISS)
            label_pair(l, ev->user_id, ev->item_id, ev->ts_ms, win, 0.0f, DISMISS_WEIGHT,
                       &st);
    }
    pthread_mutex_unlock(&l->lock);
    steps_apply(e, &st);
    vt_free(st.v);
}

/* ---- flushing --------------------------------------------------------------------- */

/* Writes imps[0..n) in batches; a refused impression is dropped and the
 * rest of its batch retried; any other failure drops what is left. */
static void write_all(struct vt_store *store, struct vt_impression *imps, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < WRITE_BATCH ? n - done : WRITE_BATCH, bad = SIZE_MAX;
        struct vt_error err;
        int rc = vt_store_impressions_append(store, imps + done, k, &bad, &err);
        if (rc == 0) {
            done += k;
        } else if (rc == VT_EINVAL && bad < k) {
            vt_warn("impression not stored", "error=\"%s\"", err.message);
            /* the first of the batch takes the refused one's place */
            imps[done + bad] = imps[done];
            done++;
        } else {
            vt_warn("impressions not stored", "count=%zu error=\"%s\"", n - done,
                    err.message[0] ? err.message : vt_strerror(rc));
            return;
        }
    }
}

void eng_implog_flush(struct vt_engine *e)
{
    struct eng_implog *l = e->implog;
    struct vt_impression *pend;
    struct steps st = {0};
    size_t npend;
    uint64_t dropped, evicted;
    int64_t now = vt_time_now_ms();
    double win = window_ms(e);

    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    pend = l->pending;
    npend = l->npending;
    l->pending = NULL;
    l->npending = l->pending_cap = 0;
    while (l->count > 0 && (double)l->ring[l->head].ts_ms + win < (double)now) {
        struct recent *r = &l->ring[l->head];
        if (r->seq && r->ids && !r->labelled)
            steps_add(&st, r->f, 0.0f, NEG_WEIGHT);
        ring_pop(l);
    }
    dropped = l->dropped;
    evicted = l->evicted;
    l->dropped = l->evicted = 0;
    pthread_mutex_unlock(&l->lock);

    if (dropped || evicted)
        vt_warn("impression log full", "not_stored=%llu unlabelled_dropped=%llu",
                (unsigned long long)dropped, (unsigned long long)evicted);
    if (npend && e->store)
        write_all(e->store, pend, npend);
    vt_free(pend);
    steps_apply(e, &st);
    vt_free(st.v);
}

void eng_implog_forget(struct eng_implog *l, const char *user_id)
{
    size_t keep = 0;
    if (!l || !user_id)
        return;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->npending; i++)
        if (strcmp(l->pending[i].user_id, user_id) != 0)
            l->pending[keep++] = l->pending[i];
    if (keep < l->npending)
        memset(l->pending + keep, 0, (l->npending - keep) * sizeof *l->pending);
    l->npending = keep;
    for (size_t k = 0; k < l->count; k++) {
        struct recent *r = &l->ring[(l->head + k) & (l->cap - 1)];
        if (r->ids && strcmp(r->ids, user_id) == 0) {
            memset(r->f, 0, sizeof r->f);
            vt_free(r->ids);
            r->ids = NULL; /* stays linked (seq kept), skipped by lookups */
            r->item = NULL;
        }
    }
    pthread_mutex_unlock(&l->lock);
}
