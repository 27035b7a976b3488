/*
 * store_sqlite_events.c - events in the SQLite back-end: appends through
 * group commit, and reads.
 *
 * Durability. Every COMMIT fsyncs the log before returning (WAL mode,
 * synchronous=FULL). Callers check their batch, queue it and sleep on their
 * own condition variable; a single writer thread takes everything queued,
 * writes it in one transaction (each caller's batch inside its own
 * SAVEPOINT, so one batch failing never fails another), commits once, and
 * wakes each caller with its own result. The writer waits for more batches
 * (at most gather_us) only while other callers have announced an append that
 * is not queued yet, so a lone append is committed at once. Copying the log
 * back into the database is not this thread's work: see
 * store_sqlite_checkpoint.c.
 *
 * Invariants: event ids only grow (AUTOINCREMENT: never reused, even after a
 * user's newest events are deleted), and are assigned in commit order by the
 * single writer, so a scan by id never skips an event committed later.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store_sqlite_int.h"

/* One caller's batch waiting for the writer thread. Lives on the caller's
 * stack; the writer touches it only between taking it and setting done. */
struct append_req {
    struct vt_event *evs;
    size_t n;
    char **ctx;              /* serialised contexts (NULL entries: none) */
    int rc;                  /* result, set by the writer */
    char msg[256];           /* message when rc < 0 */
    int done;                /* guarded by qlock */
    pthread_cond_t cond;     /* signalled when done */
    struct append_req *next;
};

/* ---- group commit ------------------------------------------------------------ */

/* Writes one caller's batch in the open transaction (writer thread, wlock
 * held). Returns 0 or VT_EDB with the message in r->msg. */
static int write_batch(struct sq *s, struct append_req *r, int64_t now)
{
    sqlite3_stmt *ensure = sq_conn_stmt(&s->w, ST_USER_ENSURE);
    sqlite3_stmt *ins = sq_conn_stmt(&s->w, ST_EVENT_INSERT);
    const char *last_user = NULL;

    if (!ensure || !ins)
        goto fail;
    for (size_t i = 0; i < r->n; i++) {
        struct vt_event *ev = &r->evs[i];
        if (!last_user || strcmp(last_user, ev->user_id) != 0) {
            sqlite3_bind_text(ensure, 1, ev->user_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ensure, 2, now);
            if (sq_stmt_run(ensure) != SQLITE_DONE)
                goto fail;
            last_user = ev->user_id;
        }
        sqlite3_bind_text(ins, 1, ev->user_id, -1, SQLITE_STATIC);
        sq_bind_text(ins, 2, ev->item_id);
        sqlite3_bind_text(ins, 3, vt_event_type_info(ev->type)->name, -1, SQLITE_STATIC);
        sqlite3_bind_double(ins, 4, ev->value);
        sq_bind_text(ins, 5, r->ctx[i]);
        sqlite3_bind_int64(ins, 6, ev->ts_ms);
        if (sq_stmt_run(ins) != SQLITE_DONE)
            goto fail;
        ev->id = sqlite3_last_insert_rowid(s->w.db);
    }
    return 0;
fail:
    snprintf(r->msg, sizeof r->msg, "storing events: %s", sqlite3_errmsg(s->w.db));
    vt_errorlog("database error", "what=\"storing events\" sqlite=\"%s\"",
                sqlite3_errmsg(s->w.db));
    return VT_EDB;
}

/* Marks r failed (msg NULL: keep the message it has) and clears its ids. */
static void batch_fail(struct append_req *r, const char *msg)
{
    r->rc = VT_EDB;
    if (msg)
        snprintf(r->msg, sizeof r->msg, "%s", msg);
    for (size_t i = 0; i < r->n; i++)
        r->evs[i].id = 0;
}

/* Commits every batch of list in one transaction, each in a savepoint. */
static void group_commit(struct sq *s, struct append_req *list)
{
    char msg[256];
    struct append_req *r;
    int64_t now = vt_time_now_ms();

    pthread_mutex_lock(&s->wlock);
    if (sq_conn_exec(&s->w, ST_BEGIN, NULL, "storing events") < 0) {
        snprintf(msg, sizeof msg, "storing events: %s", sqlite3_errmsg(s->w.db));
        for (r = list; r; r = r->next)
            batch_fail(r, msg);
        goto out;
    }
    for (r = list; r; r = r->next) {
        /* An I/O error or a full disk can roll back the whole transaction;
         * a SAVEPOINT now would start (and RELEASE commit) a new one. */
        if (sqlite3_get_autocommit(s->w.db)) {
            batch_fail(r, "storing events: the transaction was rolled back");
            continue;
        }
        r->rc = sq_conn_exec(&s->w, ST_SAVEPOINT, NULL, "storing events");
        if (r->rc == 0) {
            r->rc = write_batch(s, r, now);
            if (r->rc == 0)
                r->rc = sq_conn_exec(&s->w, ST_RELEASE, NULL, "storing events");
            if (r->rc < 0) {
                /* undo this batch only; the others stay in the transaction */
                sq_conn_exec(&s->w, ST_ROLLBACK_TO, NULL, "storing events");
                sq_conn_exec(&s->w, ST_RELEASE, NULL, "storing events");
            }
        }
        if (r->rc < 0) {
            if (!r->msg[0])
                snprintf(r->msg, sizeof r->msg, "storing events: %s", sqlite3_errmsg(s->w.db));
            batch_fail(r, NULL);
        }
    }
    if (sq_conn_exec(&s->w, ST_COMMIT, NULL, "committing events") < 0) {
        snprintf(msg, sizeof msg, "committing events: %s", sqlite3_errmsg(s->w.db));
        sq_conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back events");
        for (r = list; r; r = r->next)
            if (r->rc == 0)
                batch_fail(r, msg);
        goto out;
    }
    atomic_fetch_add(&s->commits, 1);
out:
    pthread_mutex_unlock(&s->wlock);
}

static void *writer_main(void *arg)
{
    struct sq *s = arg;

    pthread_mutex_lock(&s->qlock);
    for (;;) {
        struct append_req *list, *r, *next;
        size_t taken = 0;

        while (!s->qhead && !s->stop)
            pthread_cond_wait(&s->qcond, &s->qlock);
        if (!s->qhead)
            break; /* stopping, and nothing left to write */
        /* Others have announced a batch they are still checking: give them
         * up to gather_us to join this commit. A lone caller never waits. */
        if (s->gather_us > 0 && s->announced > s->queued) {
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            dl.tv_nsec += (long)(s->gather_us % 1000000) * 1000;
            dl.tv_sec += (time_t)(s->gather_us / 1000000) + dl.tv_nsec / 1000000000;
            dl.tv_nsec %= 1000000000;
            while (s->announced > s->queued && !s->stop)
                if (pthread_cond_timedwait(&s->qcond, &s->qlock, &dl) == ETIMEDOUT)
                    break;
        }
        list = s->qhead;
        s->qhead = s->qtail = NULL;
        for (r = list; r; r = r->next)
            taken++;
        s->announced -= taken;
        s->queued -= taken;
        pthread_mutex_unlock(&s->qlock);

        group_commit(s, list);

        pthread_mutex_lock(&s->qlock);
        for (r = list; r; r = next) {
            next = r->next; /* r belongs to its caller once done is set */
            r->done = 1;
            pthread_cond_signal(&r->cond);
        }
    }
    pthread_mutex_unlock(&s->qlock);
    return NULL;
}

int sq_writer_start(struct sq *s, struct vt_error *err)
{
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0)
        return vt_error_set(err, VT_EINTERNAL, NULL, "cannot start the event writer thread");
    s->writer_running = 1;
    return 0;
}

void sq_writer_stop(struct sq *s)
{
    if (!s->writer_running)
        return;
    pthread_mutex_lock(&s->qlock);
    s->stop = 1;
    pthread_cond_broadcast(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
    pthread_join(s->writer, NULL);
    s->writer_running = 0;
}

/* Checks that every item an event names exists (read connection). */
static int check_items(struct sq *s, const struct vt_event *evs, size_t n, size_t *bad,
                       struct vt_error *err)
{
    struct conn *c;
    sqlite3_stmt *st;
    const char *last_ok = NULL;
    size_t first = 0;
    int rc = 0;

    while (first < n && !evs[first].item_id)
        first++;
    if (first == n)
        return 0; /* nothing to check: no connection needed */
    c = sq_reader_get(s);
    st = sq_conn_stmt(c, ST_ITEM_EXISTS);
    if (!st) {
        rc = sq_db_error(c->db, err, "checking items");
        goto out;
    }
    for (size_t i = first; i < n; i++) {
        const char *id = evs[i].item_id;
        int r;
        if (!id || (last_ok && strcmp(id, last_ok) == 0))
            continue;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        r = sqlite3_step(st);
        sqlite3_reset(st);
        if (r == SQLITE_ROW) {
            last_ok = id;
            continue;
        }
        if (bad)
            *bad = i;
        if (r == SQLITE_DONE)
            rc = vt_error_set(err, VT_EINVAL, "item_id", "event %zu: unknown item '%s'", i, id);
        else
            rc = sq_db_error(c->db, err, "checking items");
        goto out;
    }
out:
    sq_stmt_done(st);
    sq_reader_put(s, c);
    return rc;
}

int sq_events_append(void *impl, struct vt_event *evs, size_t n, size_t *bad,
                     struct vt_error *err)
{
    struct sq *s = impl;
    struct append_req req;
    char **ctx = NULL;
    int announced = 0, rc = 0;

    if (s->read_only)
        return sq_read_only_error(err);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(evs[i].value)) {
            if (bad)
                *bad = i;
            return vt_error_set(err, VT_EINVAL, "value", "event %zu: value is not a number", i);
        }
    }
    /* Announce first, so the writer knows a batch is on its way. */
    pthread_mutex_lock(&s->qlock);
    s->announced++;
    pthread_mutex_unlock(&s->qlock);
    announced = 1;

    ctx = vt_calloc(n, sizeof *ctx);
    if (!ctx) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory storing %zu events", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (sq_json_text(evs[i].context, &ctx[i]) < 0) {
            rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory storing %zu events", n);
            goto out;
        }
    }
    rc = check_items(s, evs, n, bad, err);
    if (rc < 0)
        goto out;

    memset(&req, 0, sizeof req);
    req.evs = evs;
    req.n = n;
    req.ctx = ctx;
    pthread_cond_init(&req.cond, NULL);
    pthread_mutex_lock(&s->qlock);
    if (s->qtail)
        s->qtail->next = &req;
    else
        s->qhead = &req;
    s->qtail = &req;
    s->queued++;
    announced = 0; /* the writer accounts for it when it takes the batch */
    pthread_cond_signal(&s->qcond);
    while (!req.done)
        pthread_cond_wait(&req.cond, &s->qlock);
    pthread_mutex_unlock(&s->qlock);
    pthread_cond_destroy(&req.cond);
    rc = req.rc;
    if (rc < 0)
        vt_error_set(err, rc, NULL, "%s", req.msg);
out:
    if (announced) {
        pthread_mutex_lock(&s->qlock);
        s->announced--;
        pthread_cond_signal(&s->qcond); /* the writer may be waiting for us */
        pthread_mutex_unlock(&s->qlock);
    }
    for (size_t i = 0; ctx && i < n; i++)
        vt_free(ctx[i]);
    vt_free(ctx);
    return rc;
}

/* ---- reading --------------------------------------------------------------- */

static int event_row(sqlite3_stmt *st, void *out)
{
    struct vt_event *ev = out;
    const char *type = (const char *)sqlite3_column_text(st, 3);
    int rc;

    vt_event_init(ev);
    ev->id = sqlite3_column_int64(st, 0);
    rc = sq_col_str(st, 1, &ev->user_id);
    if (rc == 0)
        rc = sq_col_str(st, 2, &ev->item_id);
    if (rc == 0)
        rc = sq_col_json(st, 5, &ev->context);
    if (rc < 0)
        return rc;
    ev->type = type ? vt_event_type_parse(type) : VT_EINVAL;
    if (ev->type < 0) {
        vt_errorlog("unknown event type in the database", "event=%lld type=\"%s\"",
                    (long long)ev->id, type ? type : "");
        return VT_EDB;
    }
    ev->value = sqlite3_column_double(st, 4);
    ev->ts_ms = sqlite3_column_int64(st, 6);
    return 0;
}

/* The rows of a bound event query. */
static int events_read(struct conn *c, sqlite3_stmt *st, size_t limit, struct vt_event **out,
                       size_t *n)
{
    struct vt_event *evs = NULL;
    size_t count = 0;
    int rc = sq_read_rows(c, st, limit, sizeof *evs, event_row, (void **)&evs, &count, NULL,
                          "reading events");
    if (rc < 0) {
        vt_events_free(evs, count);
        return rc;
    }
    *out = evs;
    *n = count;
    return 0;
}

int sq_user_events(void *impl, const char *user_id, int64_t before_id, size_t limit,
                   struct vt_event **out, size_t *n)
{
    struct sq *s = impl;
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, ST_USER_EVENTS);
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, before_id > 0 ? before_id : INT64_MAX);
        sqlite3_bind_int64(st, 3, (int64_t)limit);
        rc = events_read(c, st, limit, out, n);
    }
    sq_stmt_done(st);
    sq_reader_put(s, c);
    return rc;
}

int sq_events_scan(void *impl, int64_t after_id, size_t limit, struct vt_event **out,
                   size_t *n)
{
    struct sq *s = impl;
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, ST_EVENTS_SCAN);
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_int64(st, 1, after_id);
        sqlite3_bind_int64(st, 2, (int64_t)limit);
        rc = events_read(c, st, limit, out, n);
    }
    sq_stmt_done(st);
    sq_reader_put(s, c);
    return rc;
}
