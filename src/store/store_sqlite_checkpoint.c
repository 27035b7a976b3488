/*
 * store_sqlite_checkpoint.c - copying the write-ahead log back into the
 * database file, off the commit path.
 *
 * In WAL mode every commit appends pages to the -wal file, and a checkpoint
 * copies them back into the database file so that the log can start over.
 * Left to itself SQLite runs that checkpoint inside the commit that takes
 * the log past 1000 pages: that commit, and every append grouped into it,
 * waited for some 4 MB of copying and an fsync of the database. So the
 * writer connection has automatic checkpoints off, and a thread with a
 * connection of its own runs them. Each pass of that thread:
 *
 *   1. PASSIVE, alongside commits and reads (it waits for neither): copies
 *      what the log holds. The writer's wal hook wakes the thread once
 *      CKPT_PAGES more pages were logged since it last did; otherwise a pass
 *      runs every CKPT_INTERVAL_MS if anything at all was committed.
 *   2. When the log is CKPT_PAGES long or more: PASSIVE again, under wlock,
 *      to copy the few pages committed during step 1. The log starts over
 *      only when the writer begins a transaction with every page of it
 *      copied; under a steady stream of appends that moment never comes by
 *      itself and the -wal file grows to the cap. Holding wlock makes that
 *      moment, and costs the commits that wait about one fsync of the
 *      database instead of the whole copy.
 *   3. TRUNCATE, also under wlock, when the -wal file is past WAL_CAP_BYTES
 *      all the same (readers kept the log from starting over), or a user
 *      deletion could not empty it. It waits at most CHECKPOINT_WAIT_MS for
 *      readers, holding up commits meanwhile: the exception, not the rhythm.
 *
 * journal_size_limit (64 MiB) trims the file whenever the log starts over.
 *
 * A user's deletion empties the log itself (sq_log_truncate) so that the
 * deleted rows keep no copy in the -wal file. ck.run keeps that and this
 * thread's checkpoints apart: SQLite fails a checkpoint at once, without
 * waiting, while another connection runs one.
 *
 * Locks: the wal hook runs inside a commit, under wlock, and takes ck.lock;
 * this thread and user deletion take wlock before ck.run; nothing else is
 * taken while ck.lock is held.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "core/log.h"
#include "store/store_sqlite_int.h"

#define CKPT_PAGES 1000            /* newly logged pages that call for a pass */
#define CKPT_INTERVAL_MS 2000      /* otherwise a pass this often, if anything changed */
#define WAL_CAP_BYTES (64LL << 20) /* past this, empty the log even if commits wait */

/* After each commit on the writer connection (so under wlock): pages is the
 * length of the log. Wakes the thread once per CKPT_PAGES new pages and
 * notes that there is something to copy; never waits for a checkpoint. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sq *s = arg;
    int wake;

    (void)db;
    (void)name;
    if (pages < s->ck.hook_pages) /* the log started over */
        s->ck.hook_woken_at = 0;
    s->ck.hook_pages = pages;
    wake = pages - s->ck.hook_woken_at >= CKPT_PAGES;
    if (wake)
        s->ck.hook_woken_at = pages;
    pthread_mutex_lock(&s->ck.lock);
    s->ck.dirty = 1;
    if (wake) {
        s->ck.wake = 1;
        pthread_cond_signal(&s->ck.cond);
    }
    pthread_mutex_unlock(&s->ck.lock);
    return SQLITE_OK;
}

/* One pass (steps 1 to 3 above) on the thread's connection. empty asks
 * for a TRUNCATE. Returns 0, or -1 when a TRUNCATE was due and failed. */
static int checkpoint_pass(struct sq *s, int empty)
{
    sqlite3 *db = s->ck.c.db;
    int log = -1, copied = -1, rc, mode;
    int64_t wal;

    pthread_mutex_lock(&s->ck.run);
    rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    pthread_mutex_unlock(&s->ck.run);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        vt_warn("checkpoint failed", "sqlite=\"%s\"", sqlite3_errmsg(db));
    wal = sq_file_size(s->path, "-wal");
    vt_debug("checkpoint", "log_pages=%d copied_pages=%d wal_bytes=%lld", log, copied,
             (long long)wal);
    if (empty || wal > WAL_CAP_BYTES)
        mode = SQLITE_CHECKPOINT_TRUNCATE;
    else if (rc == SQLITE_OK && log >= CKPT_PAGES)
        mode = SQLITE_CHECKPOINT_PASSIVE;
    else
        return 0;

    pthread_mutex_lock(&s->wlock);
    pthread_mutex_lock(&s->ck.run);
    rc = sqlite3_wal_checkpoint_v2(db, NULL, mode, NULL, NULL);
    pthread_mutex_unlock(&s->ck.run);
    pthread_mutex_unlock(&s->wlock);
    if (rc == SQLITE_OK || mode != SQLITE_CHECKPOINT_TRUNCATE)
        return 0;
    vt_warn("cannot empty the log yet; trying again at the next checkpoint",
            "wal_bytes=%lld sqlite=\"%s\"", (long long)wal, sqlite3_errmsg(db));
    return -1;
}

static void *checkpointer_main(void *arg)
{
    struct sq *s = arg;

    pthread_mutex_lock(&s->ck.lock);
    for (;;) {
        struct timespec dl;
        int empty, rc;

        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += CKPT_INTERVAL_MS / 1000;
        dl.tv_nsec += (long)(CKPT_INTERVAL_MS % 1000) * 1000000;
        dl.tv_sec += dl.tv_nsec / 1000000000;
        dl.tv_nsec %= 1000000000;
        while (!s->ck.wake && !s->ck.stop)
            if (pthread_cond_timedwait(&s->ck.cond, &s->ck.lock, &dl) == ETIMEDOUT)
                break;
        if (s->ck.stop)
            break; /* closing: the writer connection's close checkpoints last */
        if (!s->ck.wake && !s->ck.dirty && !s->ck.truncate)
            continue; /* a quiet interval */
        empty = s->ck.truncate;
        s->ck.wake = s->ck.dirty = s->ck.truncate = 0;
        pthread_mutex_unlock(&s->ck.lock);
        rc = checkpoint_pass(s, empty);
        pthread_mutex_lock(&s->ck.lock);
        if (rc < 0 && empty)
            s->ck.truncate = 1;
    }
    pthread_mutex_unlock(&s->ck.lock);
    return NULL;
}

int sq_checkpointer_start(struct sq *s, struct vt_error *err)
{
    int rc = sq_conn_open(&s->ck.c, s->path, 0, err);
    /* A connection opens the log at its first read, and a checkpoint on one
     * that has not read yet does nothing at all. */
    if (rc == 0)
        rc = sq_exec_sql(s->ck.c.db,
                         "PRAGMA synchronous = FULL;" /* fsync the database after copying */
                         "SELECT count(*) FROM sqlite_schema;",
                         err, s->path);
    if (rc < 0)
        return rc;
    sqlite3_busy_timeout(s->ck.c.db, CHECKPOINT_WAIT_MS); /* only TRUNCATE ever waits */
    sqlite3_wal_hook(s->w.db, wal_hook, s);
    s->ck.dirty = 1; /* the migrations may have logged pages */
    if (pthread_create(&s->ck.thread, NULL, checkpointer_main, s) != 0)
        return vt_error_set(err, VT_EINTERNAL, NULL, "cannot start the checkpointer thread");
    s->ck.running = 1;
    return 0;
}

void sq_checkpointer_stop(struct sq *s)
{
    if (s->ck.running) {
        pthread_mutex_lock(&s->ck.lock);
        s->ck.stop = 1;
        pthread_cond_signal(&s->ck.cond);
        pthread_mutex_unlock(&s->ck.lock);
        pthread_join(s->ck.thread, NULL);
        s->ck.running = 0;
    }
    if (s->w.db)
        sqlite3_wal_hook(s->w.db, NULL, NULL);
    sq_conn_close(&s->ck.c);
}

int sq_log_truncate(struct sq *s)
{
    int rc;

    pthread_mutex_lock(&s->ck.run);
    sqlite3_busy_timeout(s->w.db, CHECKPOINT_WAIT_MS);
    rc = sqlite3_wal_checkpoint_v2(s->w.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(s->w.db, BUSY_TIMEOUT_MS);
    pthread_mutex_unlock(&s->ck.run);
    if (rc != SQLITE_OK) {
        pthread_mutex_lock(&s->ck.lock);
        s->ck.truncate = 1;
        pthread_mutex_unlock(&s->ck.lock);
    }
    return rc;
}
