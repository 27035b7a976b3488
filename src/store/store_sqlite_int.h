/*
 * store_sqlite_int.h - what the files of the SQLite back-end share (private
 * to src/store/store_sqlite*.c, like SQLite's own btreeInt.h).
 *
 *   store_sqlite.c            connections, schema, statements, items, users,
 *                             keys, metadata, stats, open and close;
 *   store_sqlite_events.c     event appends (group commit on the writer
 *                             thread) and event reads;
 *   store_sqlite_checkpoint.c the thread that copies the write-ahead log
 *                             back into the database, off the commit path;
 *   store_sqlite_embed.c      item embeddings (their statements' SQL too);
 *   store_sqlite_impressions.c impressions (their statements' SQL too).
 *
 * Locks, always taken in this order: wlock, then ck.run, then ck.lock; qlock
 * and rlock are never held while taking another. Each field of struct sq
 * below names the lock that guards it; fields without one are set at open
 * and only read afterwards.
 */
#ifndef VT_STORE_STORE_SQLITE_INT_H
#define VT_STORE_STORE_SQLITE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "store/store_int.h"

#define N_READERS 4
#define BUSY_TIMEOUT_MS 10000  /* waiting for another process's write lock */
#define CHECKPOINT_WAIT_MS 250 /* waiting for readers before emptying the log */

/* Statements a connection prepares on first use (SQL in store_sqlite.c). */
enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_ITEM_GET,
    ST_ITEM_EXISTS,
    ST_ITEM_INSERT,
    ST_ITEM_UPSERT,
    ST_ITEM_DELETE,
    ST_USER_GET,
    ST_USER_PUT,
    ST_USER_ENSURE,
    ST_USER_DELETE,
    ST_USER_EVENTS_DELETE,
    ST_EVENT_INSERT,
    ST_USER_EVENTS,
    ST_EVENTS_SCAN,
    ST_COUNTS,
    ST_META_GET,
    ST_META_PUT,
    ST_KEY_ADD,
    ST_KEY_GET,
    ST_KEY_LIST,
    ST_KEY_REVOKE,
    /* item embeddings: SQL in sq_embed_stmt_sql (store_sqlite_embed.c) */
    ST_EMB_FIRST,
    ST_EMB_DELETE_SET = ST_EMB_FIRST,
    ST_EMB_INSERT,
    ST_EMB_ITEM,
    ST_EMB_SCAN,
    ST_EMB_HASH,
    ST_EMB_COUNT_ITEM,
    ST_EMB_MISSING,
    ST_EMB_COUNT_MODEL,
    ST_EMB_PRUNE,
    ST_EMB_END,
    ST_FIXED = ST_EMB_END,
    /* items_list: one statement per combination of its four filters */
    ST_LIST_FIRST = ST_FIXED,
    ST_COUNT = ST_LIST_FIRST + 16
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT]; /* prepared on first use, finalized at close */
};

struct append_req; /* one caller's batch of events (store_sqlite_events.c) */

/* The background checkpointer (store_sqlite_checkpoint.c). */
struct checkpointer {
    struct conn c;          /* its own connection, used by its thread only */
    pthread_mutex_t run;    /* held while any checkpoint runs, on any connection */
    pthread_mutex_t lock;   /* guards wake, dirty, truncate and stop */
    pthread_cond_t cond;    /* wakes the thread (monotonic clock) */
    int wake;               /* the writer asks for a checkpoint now */
    int dirty;              /* something was committed since the last one */
    int truncate;           /* a user deletion could not empty the log: do it */
    int stop;
    int running;
    pthread_t thread;
    int hook_pages;         /* log length at the last commit (wal hook, under wlock) */
    int hook_woken_at;      /* log length when the hook last woke the thread (ditto) */
};

/* One open store. */
struct sq {
    char *path;
    int read_only;
    int version;
    int64_t gather_us;

    pthread_mutex_t wlock; /* guards w and every write transaction */
    struct conn w;

    pthread_mutex_t rlock; /* guards rfree/nrfree */
    pthread_cond_t rcond;
    struct conn r[N_READERS];
    int rfree[N_READERS];
    int nrfree;

    pthread_mutex_t qlock; /* guards the queue and the counters below */
    pthread_cond_t qcond;  /* wakes the writer thread (monotonic clock) */
    struct append_req *qhead, *qtail;
    size_t announced;      /* callers inside events_append, not yet taken */
    size_t queued;         /* of those, how many have queued their batch */
    int stop;
    int writer_running;
    pthread_t writer;

    struct checkpointer ck;

    atomic_llong commits;
};

/* ---- store_sqlite.c: helpers ---- */

/* Fills err (may be NULL) with the connection's last error, logs it, returns
 * VT_EDB. */
int sq_db_error(sqlite3 *db, struct vt_error *err, const char *what);
int sq_read_only_error(struct vt_error *err);
/* Runs SQL (one or several statements), ignoring any rows; errors name path. */
int sq_exec_sql(sqlite3 *db, const char *sql, struct vt_error *err, const char *path);

/* Opens c on path with the busy timeout set; read_only 0 creates the file. */
int sq_conn_open(struct conn *c, const char *path, int read_only, struct vt_error *err);
/* Finalizes c's statements and closes it; c->db may be NULL. */
void sq_conn_close(struct conn *c);
/* The statement id of c, prepared on first use; NULL on error (logged). */
sqlite3_stmt *sq_conn_stmt(struct conn *c, int id);
/* Runs one of the argument-less statements (BEGIN, COMMIT, ...) on c. */
int sq_conn_exec(struct conn *c, int id, struct vt_error *err, const char *what);
/* Resets st and clears its bindings; NULL is a no-op. */
void sq_stmt_done(sqlite3_stmt *st);
/* Runs a statement that returns no rows, then resets it. Returns the SQLite
 * code of the step (SQLITE_DONE on success); the message stays in the handle. */
int sq_stmt_run(sqlite3_stmt *st);

/* Binds s, or NULL when s is NULL; s must outlive the step. */
void sq_bind_text(sqlite3_stmt *st, int i, const char *s);
/* A vt_malloc'ed copy of a text column (NULL stays NULL). */
int sq_col_str(sqlite3_stmt *st, int col, char **out);
/* A JSON column parsed (NULL stays NULL). Bad JSON is database damage. */
int sq_col_json(sqlite3_stmt *st, int col, json_t **out);
/* Compact JSON text of j in *out (vt_malloc'ed); NULL j gives NULL. */
int sq_json_text(const json_t *j, char **out);

/* A reader connection from the pool (waits for one), and its return. */
struct conn *sq_reader_get(struct sq *s);
void sq_reader_put(struct sq *s, struct conn *c);

/* Fills out from the current row of st; returns 0 or a VT_E* code. */
typedef int (*sq_row_fn)(sqlite3_stmt *st, void *out);
/* Steps the bound statement st of c and appends one element (elem bytes,
 * zeroed, then filled by row()) per row to *arr, at most max of them; *more
 * (if not NULL) tells whether a further row exists. On error the elements
 * read so far stay in *arr and *n for the caller to free. */
int sq_read_rows(struct conn *c, sqlite3_stmt *st, size_t max, size_t elem, sq_row_fn row,
                 void **arr, size_t *n, int *more, const char *what);

/* Size in bytes of the file path + suffix, 0 if there is none. */
int64_t sq_file_size(const char *path, const char *suffix);

/* ---- store_sqlite_events.c ---- */

/* The writer thread: started once the writer connection is ready; stopping
 * commits everything already queued first. */
int sq_writer_start(struct sq *s, struct vt_error *err);
void sq_writer_stop(struct sq *s);

/* The vt_store_ops members (contracts in store.h and store_int.h). */
int sq_events_append(void *impl, struct vt_event *evs, size_t n, size_t *bad,
                     struct vt_error *err);
int sq_user_events(void *impl, const char *user_id, int64_t before_id, size_t limit,
                   struct vt_event **out, size_t *n);
int sq_events_scan(void *impl, int64_t after_id, size_t limit, struct vt_event **out,
                   size_t *n);

/* ---- store_sqlite_embed.c ---- */

/* SQL of statements ST_EMB_FIRST .. ST_EMB_END - 1, by id - ST_EMB_FIRST. */
extern const char *const sq_embed_stmt_sql[ST_EMB_END - ST_EMB_FIRST];

/* The vt_store_ops members (contracts in store.h and store_int.h). */
int sq_embeddings_put(void *impl, const struct vt_embedding *v, size_t n, size_t *bad,
                      struct vt_error *err);
int sq_item_embeddings(void *impl, const char *item_id, struct vt_embedding **out, size_t *n);
int sq_embeddings_scan(void *impl, const char *model_id, const char *after_item,
                       const char *after_lang, size_t limit, struct vt_embedding **out,
                       size_t *n, int *more);
int sq_embeddings_stale(void *impl, const char *model_id, const struct vt_embedding_ref *refs,
                        size_t n, uint8_t *stale);
int sq_embeddings_missing(void *impl, const char *model_id, const char *after_id, size_t limit,
                          char ***ids, size_t *n, int *more);
int sq_embeddings_count(void *impl, const char *model_id, int64_t *count);
int sq_embeddings_prune(void *impl, const char *keep_model_id, int64_t *deleted);

/* ---- store_sqlite_impressions.c ---- */

/* The vt_store_ops members (contracts in store.h and store_int.h). */
int sq_impressions_append(void *impl, struct vt_impression *imps, size_t n, size_t *bad,
                          struct vt_error *err);
int sq_impressions_scan(void *impl, int64_t after_id, size_t limit, struct vt_impression **out,
                        size_t *n);
int sq_impressions_prune(void *impl, int64_t before_ms, int64_t *deleted);
int sq_impressions_count(void *impl, int64_t *count);
/* Deletes the user's impressions: wlock held, inside the caller's
 * transaction. Returns how many (>= 0) or VT_EDB. */
int sq_impressions_delete_user(struct sq *s, const char *user_id);

/* ---- store_sqlite_checkpoint.c ---- */

/* Opens the checkpointer's connection, takes over the writer connection's
 * checkpoints (wal hook) and starts the thread. Call before the writer thread
 * starts: it installs a hook on s->w. */
int sq_checkpointer_start(struct sq *s, struct vt_error *err);
/* Stops the thread and closes its connection; safe after a failed or no
 * start. Call after sq_writer_stop(). */
void sq_checkpointer_stop(struct sq *s);
/* Copies the whole log into the database and truncates the -wal file to
 * zero bytes, on the writer connection (wlock held), waiting at most
 * CHECKPOINT_WAIT_MS for readers. Returns the SQLite result code. */
int sq_log_truncate(struct sq *s);

#endif
