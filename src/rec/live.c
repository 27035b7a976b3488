/*
 * live.c - what each shopper is doing now, kept in memory between
 * snapshot rebuilds: a session interest vector, recent events, dismissed
 * and purchased items, recent search and review texts.
 *
 * State lives in a hash map from user id to struct luser, with all users
 * on one least-recently-seen list. One mutex guards the map, the list and
 * every user's state; it is held only for lookups and short updates and
 * copies (a user's state is at most ENG_RECENT_MAX events, SET_MAX ids per
 * set and one vector), never across a store query: a user not in memory
 * is read from the store first and inserted afterwards (if another thread
 * was faster, its copy wins and the read one is dropped).
 *
 * Session vector: on each event about an item with an embedding in the
 * snapshot, v <- v * 2^(-dt / half-life) + w * emb(item), w the event's
 * weight (negative for a dismiss: the vector moves away). It is kept
 * unnormalised with the model id it was built with; eng_live_view hands
 * out a unit-length copy. When the snapshot's model is another one, the
 * vector is rebuilt from the recent events with the new embeddings.
 *
 * Loading: events reach eng_live_apply after the store committed them, so
 * the store always has at least what memory would. Events of a shopper
 * not in memory are not applied (ingesting a backlog costs no store
 * reads); the first request that asks for the shopper (eng_live_view)
 * loads them: their newest ENG_RECENT_MAX stored events, replayed oldest
 * first. A load reads the store without the lock, so an event or a forget
 * may land meanwhile: both bump a counter of the id's slot, and a load
 * that sees its slot's counter changed reads again (LOAD_ATTEMPTS at
 * most). For a shopper in memory, events already counted are skipped:
 * those with an id at or below the newest one the load read, and those
 * whose id is among the recent ones. Batches of one shopper applied out of
 * order by two threads are both counted; a late event's weight is decayed
 * by how much older it is than the session.
 *
 * Memory: at most USERS_MAX users and BYTES_MAX bytes (a session vector of
 * a 512-dimension model is 2 KiB); past either the least recently seen
 * are evicted (the store still has their events, so they come back by
 * loading). Bytes are what the wrappers allocated for the state.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/util.h"
#include "rec/engine_int.h"

#define USERS_MAX 100000
#define BYTES_MAX ((size_t)256 << 20)
#define SET_MAX 512          /* ids kept per dismissed / purchased set */
#define TEXT_MAX_BYTES 512   /* of one kept search or review text */
#define BUCKETS_MIN 1024
#define CHANGED_SLOTS 256
#define LOAD_ATTEMPTS 3      /* store reads of one load at most */

struct luser {
    char *id;
    uint64_t hash;
    struct luser *next_in_bucket;
    struct luser *newer, *older;    /* the recently-seen list */
    int64_t seen_ms;
    int64_t loaded_upto;            /* newest event id read from the store */

    char model_id[VT_MODEL_ID_MAX + 1];
    uint32_t dim;
    float *session;                 /* dim floats, unnormalised, or NULL */
    double session_weight;
    int64_t session_ms;             /* time the vector was last moved to */

    struct eng_recent *recent;      /* newest first, at most ENG_RECENT_MAX */
    int64_t *recent_id;             /* their event ids (0: not from the store) */
    size_t nrecent, recent_cap;
    char **dismissed, **purchased;  /* oldest first */
    size_t ndismissed, npurchased;
    char *texts[ENG_TEXTS_MAX];     /* newest first */
    /* The shopper folded into the serving iALS model (features.c), kept
     * for the next requests: valid for the inputs als_key names and for
     * ENG_ALS_MEMO_MS after als_ms (the history's weights decay slowly). */
    float *als;
    uint32_t als_f;
    uint64_t als_key;
    int64_t als_ms;
    size_t bytes;                   /* counted in the live total */
};

struct eng_live {
    pthread_mutex_t lock;
    struct luser **buckets;
    size_t nbuckets, nusers;
    struct luser *newest, *oldest;
    size_t bytes;                   /* users' state plus the table */
    size_t max_users, max_bytes;
    /* Bumped for every event of a shopper not in memory and every forget,
     * by a slot of their id's hash: a load that saw its slot change while
     * it read the store reads again. */
    uint32_t changed[CHANGED_SLOTS];
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- one user's state ------------------------------------------------------ */

static void luser_free(struct luser *u)
{
    if (!u)
        return;
    vt_free(u->id);
    vt_free(u->session);
    for (size_t k = 0; k < u->nrecent; k++)
        vt_free(u->recent[k].item_id);
    vt_free(u->recent);
    vt_free(u->recent_id);
    for (size_t k = 0; k < u->ndismissed; k++)
        vt_free(u->dismissed[k]);
    for (size_t k = 0; k < u->npurchased; k++)
        vt_free(u->purchased[k]);
    vt_free(u->dismissed);
    vt_free(u->purchased);
    for (int k = 0; k < ENG_TEXTS_MAX; k++)
        vt_free(u->texts[k]);
    vt_free(u->als);
    vt_free(u);
}

static size_t luser_bytes(const struct luser *u)
{
    size_t b = vt_alloc_size(u) + vt_alloc_size(u->id) + vt_alloc_size(u->session) +
               vt_alloc_size(u->recent) + vt_alloc_size(u->recent_id) +
               vt_alloc_size(u->dismissed) + vt_alloc_size(u->purchased) +
               vt_alloc_size(u->als);
    for (size_t k = 0; k < u->nrecent; k++)
        b += vt_alloc_size(u->recent[k].item_id);
    for (size_t k = 0; k < u->ndismissed; k++)
        b += vt_alloc_size(u->dismissed[k]);
    for (size_t k = 0; k < u->npurchased; k++)
        b += vt_alloc_size(u->purchased[k]);
    for (int k = 0; k < ENG_TEXTS_MAX; k++)
        b += vt_alloc_size(u->texts[k]);
    return b;
}

static struct luser *luser_new(const char *id)
{
    struct luser *u = vt_calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->id = vt_strdup(id);
    if (!u->id) {
        vt_free(u);
        return NULL;
    }
    u->hash = hash_id(id);
    return u;
}

/* The embedding of an item in the snapshot, or NULL. */
static const float *item_vec(const struct eng_snapshot *s, const char *item_id)
{
    const struct eng_catalog *c = s->cat;
    if (!item_id || c->dim == 0 || !c->has_emb)
        return NULL;
    int32_t i = vt_idmap_get(c->ids, item_id);
    if (i < 0 || !c->has_emb[i])
        return NULL;
    return c->emb + (size_t)i * c->dim;
}

/* Move the session vector for one event. Returns 0 or VT_ENOMEM. */
static int session_move(struct luser *u, const struct eng_snapshot *s, double half_life_s,
                        const char *item_id, double w, int64_t ts_ms)
{
    const float *x = item_vec(s, item_id);
    if (!x || w == 0 || !isfinite(w))
        return 0;
    uint32_t dim = s->cat->dim;
    if (!u->session) {
        u->session = vt_calloc(dim, sizeof *u->session);
        if (!u->session)
            return VT_ENOMEM;
        u->dim = dim;
        snprintf(u->model_id, sizeof u->model_id, "%s", s->cat->model_id);
        u->session_ms = ts_ms;
        u->session_weight = 0;
    }
    double dt = (double)(ts_ms - u->session_ms) / 1000.0;
    if (dt >= 0) {
        /* Later than everything so far: the old interest fades. */
        float decay = (float)exp2(-dt / half_life_s);
        for (uint32_t d = 0; d < dim; d++)
            u->session[d] *= decay;
        u->session_weight *= decay;
        u->session_ms = ts_ms;
    } else {
        /* Arrived late (events applied out of order): it counts as old. */
        w *= exp2(dt / half_life_s);
    }
    for (uint32_t d = 0; d < dim; d++)
        u->session[d] += (float)w * x[d];
    u->session_weight += fabs(w);
    return 0;
}

/* Rebuild the session vector from the recent events with s's embeddings. */
static int session_rebuild(struct luser *u, const struct eng_snapshot *s,
                           const struct eng_params *p)
{
    vt_free(u->session);
    u->session = NULL;
    u->dim = s->cat->dim;
    snprintf(u->model_id, sizeof u->model_id, "%s", s->cat->model_id);
    u->session_weight = 0;
    u->session_ms = 0;
    for (size_t k = u->nrecent; k-- > 0;) {
        const struct eng_recent *r = &u->recent[k];
        double w = vt_event_weight(&p->weights, r->type, r->value);
        int rc = session_move(u, s, p->session_half_life_s, r->item_id, w, r->ts_ms);
        if (rc)
            return rc;
    }
    return 0;
}

static int session_current(const struct luser *u, const struct eng_snapshot *s)
{
    return u->dim == s->cat->dim && strcmp(u->model_id, s->cat->model_id) == 0;
}

static int set_has(char **set, size_t n, const char *id)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(set[k], id) == 0)
            return 1;
    return 0;
}

/* Add id to a set (oldest dropped past SET_MAX). */
static int set_add(char ***set, size_t *n, const char *id)
{
    if (set_has(*set, *n, id))
        return 0;
    char *copy = vt_strdup(id);
    if (!copy)
        return VT_ENOMEM;
    if (*n == SET_MAX) {
        vt_free((*set)[0]);
        memmove(*set, *set + 1, (SET_MAX - 1) * sizeof **set);
        (*n)--;
    } else if (vt_alloc_size(*set) < (*n + 1) * sizeof **set) {
        size_t cap = *n ? *n * 2 : 8;
        if (cap > SET_MAX)
            cap = SET_MAX;
        char **g = vt_realloc(*set, cap * sizeof *g);
        if (!g) {
            vt_free(copy);
            return VT_ENOMEM;
        }
        *set = g;
    }
    (*set)[(*n)++] = copy;
    return 0;
}

/* Insert into the recent list, newest first by time. */
static int recent_add(struct luser *u, const struct vt_event *ev)
{
    char *id = NULL;
    if (ev->item_id && !(id = vt_strdup(ev->item_id)))
        return VT_ENOMEM;
    size_t pos = 0;
    while (pos < u->nrecent && u->recent[pos].ts_ms > ev->ts_ms)
        pos++;
    if (pos == ENG_RECENT_MAX) { /* older than all kept */
        vt_free(id);
        return 0;
    }
    if (u->nrecent == ENG_RECENT_MAX) {
        vt_free(u->recent[ENG_RECENT_MAX - 1].item_id);
        u->nrecent--;
    } else if (u->nrecent == u->recent_cap) {
        size_t cap = u->recent_cap ? u->recent_cap * 2 : 4;
        if (cap > ENG_RECENT_MAX)
            cap = ENG_RECENT_MAX;
        struct eng_recent *r = vt_realloc(u->recent, cap * sizeof *r);
        if (r)
            u->recent = r;
        int64_t *ids = r ? vt_realloc(u->recent_id, cap * sizeof *ids) : NULL;
        if (!r || !ids) {
            vt_free(id);
            return VT_ENOMEM;
        }
        u->recent_id = ids;
        u->recent_cap = cap;
    }
    memmove(&u->recent[pos + 1], &u->recent[pos], (u->nrecent - pos) * sizeof u->recent[0]);
    memmove(&u->recent_id[pos + 1], &u->recent_id[pos],
            (u->nrecent - pos) * sizeof u->recent_id[0]);
    u->recent[pos] = (struct eng_recent){
        .item_id = id, .type = ev->type, .value = (float)ev->value, .ts_ms = ev->ts_ms};
    u->recent_id[pos] = ev->id;
    u->nrecent++;
    return 0;
}

/* A copy of at most TEXT_MAX_BYTES of text, cut at a character boundary. */
static char *text_copy(const char *t)
{
    size_t n = strlen(t);
    if (n > TEXT_MAX_BYTES) {
        n = TEXT_MAX_BYTES;
        while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
            n--;
    }
    return vt_strndup(t, n);
}

static int texts_add(struct luser *u, const struct vt_event *ev)
{
    if (ev->type != VT_EV_SEARCH && ev->type != VT_EV_REVIEW)
        return 0;
    const char *t = json_string_value(json_object_get(ev->context, "text"));
    if (!t || !*t)
        return 0;
    char *copy = text_copy(t);
    if (!copy)
        return VT_ENOMEM;
    vt_free(u->texts[ENG_TEXTS_MAX - 1]);
    memmove(&u->texts[1], &u->texts[0], (ENG_TEXTS_MAX - 1) * sizeof u->texts[0]);
    u->texts[0] = copy;
    return 0;
}

/* 1 when the event is already in the state: read by the load, or among
 * the recent ones (ids are unique; 0 is an event not from the store). */
static int luser_has(const struct luser *u, const struct vt_event *ev)
{
    if (ev->id <= 0)
        return 0;
    if (ev->id <= u->loaded_upto)
        return 1;
    for (size_t k = 0; k < u->nrecent; k++)
        if (u->recent_id[k] == ev->id)
            return 1;
    return 0;
}

/* Apply one event to a user's state. */
static int luser_apply(struct luser *u, const struct eng_snapshot *s,
                       const struct eng_params *p, const struct vt_event *ev)
{
    int rc = recent_add(u, ev);
    if (rc == 0 && ev->item_id && ev->type == VT_EV_DISMISS)
        rc = set_add(&u->dismissed, &u->ndismissed, ev->item_id);
    if (rc == 0 && ev->item_id && ev->type == VT_EV_PURCHASE)
        rc = set_add(&u->purchased, &u->npurchased, ev->item_id);
    if (rc == 0)
        rc = texts_add(u, ev);
    if (rc == 0 && ev->item_id) {
        if (!session_current(u, s))
            rc = session_rebuild(u, s, p);
        else
            rc = session_move(u, s, p->session_half_life_s, ev->item_id,
                              vt_event_weight(&p->weights, ev->type, ev->value), ev->ts_ms);
    }
    return rc;
}

/* A user's state read from the store (no lock held). *out NULL with rc 0:
 * the store has no events of theirs. */
static int luser_load(struct vt_engine *e, const struct eng_snapshot *s, const char *user_id,
                      struct luser **out)
{
    *out = NULL;
    struct vt_event *evs = NULL;
    size_t n = 0;
    int rc = vt_store_user_events(e->store, user_id, 0, ENG_RECENT_MAX, &evs, &n);
    if (rc)
        return rc;
    if (n == 0) {
        vt_events_free(evs, n);
        return 0;
    }
    struct luser *u = luser_new(user_id);
    if (!u) {
        vt_events_free(evs, n);
        return VT_ENOMEM;
    }
    for (size_t k = n; rc == 0 && k-- > 0;) { /* oldest first */
        rc = luser_apply(u, s, &e->params, &evs[k]);
        if (evs[k].id > u->loaded_upto)
            u->loaded_upto = evs[k].id;
    }
    vt_events_free(evs, n);
    if (rc) {
        luser_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

/* ---- the map (lock held) ------------------------------------------------------ */

static struct luser *map_find(struct eng_live *l, const char *id, uint64_t h)
{
    for (struct luser *u = l->buckets[h & (l->nbuckets - 1)]; u; u = u->next_in_bucket)
        if (u->hash == h && strcmp(u->id, id) == 0)
            return u;
    return NULL;
}

static void lru_unlink(struct eng_live *l, struct luser *u)
{
    if (u->newer)
        u->newer->older = u->older;
    else
        l->newest = u->older;
    if (u->older)
        u->older->newer = u->newer;
    else
        l->oldest = u->newer;
    u->newer = u->older = NULL;
}

static void lru_front(struct eng_live *l, struct luser *u)
{
    if (l->newest == u)
        return;
    if (u->newer || u->older || l->oldest == u)
        lru_unlink(l, u);
    u->older = l->newest;
    if (l->newest)
        l->newest->newer = u;
    l->newest = u;
    if (!l->oldest)
        l->oldest = u;
}

static void map_unlink(struct eng_live *l, struct luser *u)
{
    struct luser **pp = &l->buckets[u->hash & (l->nbuckets - 1)];
    while (*pp && *pp != u)
        pp = &(*pp)->next_in_bucket;
    if (*pp)
        *pp = u->next_in_bucket;
    lru_unlink(l, u);
    l->nusers--;
    l->bytes -= u->bytes;
}

static void map_grow(struct eng_live *l)
{
    size_t n = l->nbuckets * 2;
    struct luser **b = vt_calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t k = 0; k < l->nbuckets; k++) {
        struct luser *u = l->buckets[k];
        while (u) {
            struct luser *next = u->next_in_bucket;
            u->next_in_bucket = b[u->hash & (n - 1)];
            b[u->hash & (n - 1)] = u;
            u = next;
        }
    }
    l->bytes -= vt_alloc_size(l->buckets);
    vt_free(l->buckets);
    l->buckets = b;
    l->nbuckets = n;
    l->bytes += vt_alloc_size(b);
}

/* Evict the least recently seen users, never keep, past either limit. */
static void map_evict(struct eng_live *l, const struct luser *keep)
{
    while ((l->nusers > l->max_users || l->bytes > l->max_bytes) && l->oldest &&
           l->oldest != keep) {
        struct luser *old = l->oldest;
        map_unlink(l, old);
        luser_free(old);
    }
}

/* Insert u (not present). */
static void map_insert(struct eng_live *l, struct luser *u, int64_t now_ms)
{
    if (l->nusers + 1 > l->nbuckets)
        map_grow(l);
    size_t k = u->hash & (l->nbuckets - 1);
    u->next_in_bucket = l->buckets[k];
    l->buckets[k] = u;
    u->seen_ms = now_ms;
    lru_front(l, u);
    l->nusers++;
    u->bytes = luser_bytes(u);
    l->bytes += u->bytes;
    map_evict(l, u);
}

/* A user's state changed size: recount, and evict others if it grew
 * past the limit. */
static void recount(struct eng_live *l, struct luser *u)
{
    l->bytes -= u->bytes;
    u->bytes = luser_bytes(u);
    l->bytes += u->bytes;
    map_evict(l, u);
}

/* ---- the interface ------------------------------------------------------------- */

int eng_live_new(struct eng_live **out)
{
    *out = NULL;
    struct eng_live *l = vt_calloc(1, sizeof *l);
    if (!l)
        return VT_ENOMEM;
    l->nbuckets = BUCKETS_MIN;
    l->buckets = vt_calloc(l->nbuckets, sizeof *l->buckets);
    if (!l->buckets) {
        vt_free(l);
        return VT_ENOMEM;
    }
    l->max_users = USERS_MAX;
    l->max_bytes = BYTES_MAX;
    l->bytes = vt_alloc_size(l) + vt_alloc_size(l->buckets);
    pthread_mutex_init(&l->lock, NULL);
    *out = l;
    return 0;
}

void eng_live_free(struct eng_live *l)
{
    if (!l)
        return;
    struct luser *u = l->newest;
    while (u) {
        struct luser *next = u->older;
        luser_free(u);
        u = next;
    }
    vt_free(l->buckets);
    pthread_mutex_destroy(&l->lock);
    vt_free(l);
}

/* The user's state, loaded from the store when not in memory: on return
 * with *out set the lock is held; with rc != 0 or *out NULL (the store
 * knows nothing of them) it is not. A load that raced with an event or a
 * forget of a user of the same slot (see `changed`) is read again. */
static int find_or_load(struct vt_engine *e, const struct eng_snapshot *s, const char *id,
                        struct luser **out)
{
    struct eng_live *l = e->live;
    uint64_t h = hash_id(id);
    int64_t now = vt_time_now_ms();
    *out = NULL;
    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&l->lock);
        struct luser *u = map_find(l, id, h);
        if (u) {
            u->seen_ms = now;
            lru_front(l, u);
            *out = u;
            return 0;
        }
        uint32_t gen = l->changed[h % CHANGED_SLOTS];
        pthread_mutex_unlock(&l->lock);

        struct luser *loaded = NULL;
        int rc = luser_load(e, s, id, &loaded);
        if (rc)
            return rc;
        pthread_mutex_lock(&l->lock);
        u = map_find(l, id, h);
        if (u) {
            luser_free(loaded); /* another thread loaded it first */
            u->seen_ms = now;
            lru_front(l, u);
            *out = u;
            return 0;
        }
        if (l->changed[h % CHANGED_SLOTS] != gen && attempt < LOAD_ATTEMPTS) {
            pthread_mutex_unlock(&l->lock);
            luser_free(loaded);
            continue;
        }
        if (!loaded) {
            pthread_mutex_unlock(&l->lock);
            return 0;
        }
        map_insert(l, loaded, now);
        *out = loaded;
        return 0;
    }
}

void eng_live_apply(struct vt_engine *e, const struct eng_snapshot *s,
                    const struct vt_event *evs, size_t n)
{
    if (!e || !e->live || !s)
        return;
    struct eng_live *l = e->live;
    for (size_t k = 0; k < n; k++) {
        const struct vt_event *ev = &evs[k];
        if (!ev->user_id)
            continue;
        uint64_t h = hash_id(ev->user_id);
        pthread_mutex_lock(&l->lock);
        struct luser *u = map_find(l, ev->user_id, h);
        if (!u) {
            /* Not in memory: the store has the event, and the first
             * request for this shopper loads it from there. */
            l->changed[h % CHANGED_SLOTS]++;
        } else if (!luser_has(u, ev)) {
            luser_apply(u, s, &e->params, ev);
            recount(l, u);
        }
        pthread_mutex_unlock(&l->lock);
    }
}

void eng_user_view_reset(struct eng_user_view *v)
{
    if (!v)
        return;
    if (!v->arena) { /* arena blocks go when the arena is released */
        vt_free(v->session);
        for (size_t k = 0; k < v->nrecent; k++)
            vt_free(v->recent[k].item_id);
        vt_free(v->recent);
        for (size_t k = 0; k < v->ndismissed; k++)
            vt_free(v->dismissed[k]);
        vt_free(v->dismissed);
        for (size_t k = 0; k < v->npurchased; k++)
            vt_free(v->purchased[k]);
        vt_free(v->purchased);
        for (int k = 0; k < ENG_TEXTS_MAX; k++)
            vt_free(v->texts[k]);
        vt_free(v->als);
    }
    memset(v, 0, sizeof *v);
}

int eng_user_view_index(struct eng_user_view *v, const struct eng_catalog *c,
                        struct vt_arena *arena)
{
    v->item_flags = NULL;
    if (!v->ndismissed && !v->npurchased)
        return 0; /* nothing listed: every test passes without the array */
    uint8_t *f = vt_arena_calloc(arena, c->nitems ? (size_t)c->nitems : 1, 1);
    if (!f)
        return VT_ENOMEM;
    for (size_t k = 0; k < v->ndismissed; k++) {
        int32_t i = v->dismissed[k] ? vt_idmap_get(c->ids, v->dismissed[k]) : -1;
        if (i >= 0)
            f[i] |= ENG_ITEM_DISMISSED;
    }
    for (size_t k = 0; k < v->npurchased; k++) {
        int32_t i = v->purchased[k] ? vt_idmap_get(c->ids, v->purchased[k]) : -1;
        if (i >= 0)
            f[i] |= ENG_ITEM_PURCHASED;
    }
    v->item_flags = f;
    return 0;
}

/* The view's memory: its arena when it has one, else the heap. */
static void *view_alloc(struct eng_user_view *v, size_t n)
{
    return v->arena ? vt_arena_alloc(v->arena, n) : vt_malloc(n);
}

static char *view_strdup(struct eng_user_view *v, const char *s)
{
    return v->arena ? vt_arena_strdup(v->arena, s) : vt_strdup(s);
}

static int strs_copy(struct eng_user_view *v, char **src, size_t n, char ***out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    char **d = view_alloc(v, n * sizeof *d);
    if (!d)
        return VT_ENOMEM;
    memset(d, 0, n * sizeof *d);
    *out = d;
    for (size_t k = 0; k < n; k++)
        if (!(d[k] = view_strdup(v, src[k])))
            return VT_ENOMEM; /* the caller resets the view */
    return 0;
}

/* Copy u into v (lock held). */
static int view_copy(const struct luser *u, struct eng_user_view *v)
{
    v->known = 1;
    if (u->session && u->session_weight > 0) {
        double ss = 0;
        for (uint32_t d = 0; d < u->dim; d++)
            ss += (double)u->session[d] * u->session[d];
        if (ss > 1e-24 && isfinite(ss)) {
            v->session = view_alloc(v, u->dim * sizeof *v->session);
            if (!v->session)
                return VT_ENOMEM;
            float inv = (float)(1.0 / sqrt(ss));
            for (uint32_t d = 0; d < u->dim; d++)
                v->session[d] = u->session[d] * inv;
            v->dim = u->dim;
            snprintf(v->model_id, sizeof v->model_id, "%s", u->model_id);
            v->session_weight = u->session_weight;
        }
    }
    if (u->nrecent) {
        v->recent = view_alloc(v, u->nrecent * sizeof *v->recent);
        if (!v->recent)
            return VT_ENOMEM;
        memset(v->recent, 0, u->nrecent * sizeof *v->recent);
        for (size_t k = 0; k < u->nrecent; k++) {
            v->recent[k] = u->recent[k];
            v->recent[k].item_id = NULL;
            v->nrecent = k + 1;
            if (u->recent[k].item_id &&
                !(v->recent[k].item_id = view_strdup(v, u->recent[k].item_id)))
                return VT_ENOMEM;
        }
    }
    int rc = strs_copy(v, u->dismissed, u->ndismissed, &v->dismissed);
    v->ndismissed = v->dismissed ? u->ndismissed : 0;
    if (rc)
        return rc;
    rc = strs_copy(v, u->purchased, u->npurchased, &v->purchased);
    v->npurchased = v->purchased ? u->npurchased : 0;
    if (rc)
        return rc;
    for (int k = 0; k < ENG_TEXTS_MAX; k++)
        if (u->texts[k] && !(v->texts[k] = view_strdup(v, u->texts[k])))
            return VT_ENOMEM;
    if (u->als && vt_time_now_ms() - u->als_ms < ENG_ALS_MEMO_MS) {
        v->als = view_alloc(v, u->als_f * sizeof *v->als);
        if (!v->als)
            return VT_ENOMEM;
        memcpy(v->als, u->als, u->als_f * sizeof *v->als);
        v->als_f = u->als_f;
        v->als_key = u->als_key;
    }
    return 0;
}

int eng_live_view(struct vt_engine *e, const struct eng_snapshot *s, const char *user_id,
                  struct eng_user_view *out)
{
    return eng_live_view_in(e, s, user_id, NULL, out);
}

int eng_live_view_in(struct vt_engine *e, const struct eng_snapshot *s, const char *user_id,
                     struct vt_arena *arena, struct eng_user_view *out)
{
    memset(out, 0, sizeof *out);
    out->arena = arena;
    out->user_id = user_id;
    if (!e || !e->live || !s || !user_id || !*user_id)
        return 0;
    struct luser *u;
    int rc = find_or_load(e, s, user_id, &u);
    if (rc == VT_ENOMEM)
        return rc;
    if (rc || !u)
        return 0; /* the store failed (logged there) or nothing known */
    struct eng_live *l = e->live;
    if (!session_current(u, s))
        rc = session_rebuild(u, s, &e->params);
    if (rc == 0)
        rc = view_copy(u, out);
    recount(l, u);
    pthread_mutex_unlock(&l->lock);
    if (rc)
        eng_user_view_reset(out);
    return rc;
}

void eng_live_remember_als(struct eng_live *l, const char *user_id, uint64_t key,
                           const float *x, uint32_t f)
{
    if (!l || !user_id || !x || !f)
        return;
    uint64_t h = hash_id(user_id);
    pthread_mutex_lock(&l->lock);
    struct luser *u = map_find(l, user_id, h);
    if (u) {
        if (u->als_f != f) {
            vt_free(u->als);
            u->als = vt_malloc(f * sizeof *u->als);
            u->als_f = u->als ? f : 0;
        }
        if (u->als) {
            memcpy(u->als, x, f * sizeof *u->als);
            u->als_key = key;
            u->als_ms = vt_time_now_ms();
        }
        l->bytes -= u->bytes;
        u->bytes = luser_bytes(u);
        l->bytes += u->bytes;
    }
    pthread_mutex_unlock(&l->lock);
}

void eng_live_forget(struct eng_live *l, const char *user_id)
{
    if (!l || !user_id)
        return;
    uint64_t h = hash_id(user_id);
    pthread_mutex_lock(&l->lock);
    struct luser *u = map_find(l, user_id, h);
    if (u)
        map_unlink(l, u);
    l->changed[h % CHANGED_SLOTS]++; /* a load in flight reads again */
    pthread_mutex_unlock(&l->lock);
    luser_free(u);
}

void eng_live_set_limits(struct eng_live *l, size_t max_users, size_t max_bytes)
{
    pthread_mutex_lock(&l->lock);
    l->max_users = max_users ? max_users : 1;
    l->max_bytes = max_bytes;
    map_evict(l, NULL);
    pthread_mutex_unlock(&l->lock);
}

void eng_live_stats(struct eng_live *l, size_t *users, size_t *bytes)
{
    if (!l) {
        *users = 0, *bytes = 0;
        return;
    }
    pthread_mutex_lock(&l->lock);
    *users = l->nusers;
    *bytes = l->bytes;
    pthread_mutex_unlock(&l->lock);
}
