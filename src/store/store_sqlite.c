/*
 * store_sqlite.c - the SQLite back-end of the store (struct vt_store_ops).
 *
 * Connections. One writer connection, guarded by wlock, does every write;
 * a pool of N_READERS read-only connections serves reads concurrently (WAL
 * lets readers run while the writer commits). Each connection prepares a
 * statement the first time it needs it and keeps it until close, so hot
 * statements (event insert, item get) are prepared once per connection.
 *
 * Durability. The database runs in WAL mode with synchronous=FULL: every
 * COMMIT fsyncs the log before returning. Event appends are group-committed:
 * callers check their batch, queue it and sleep on their own condition
 * variable; a single writer thread takes everything queued, writes it in one
 * transaction (each caller's batch inside its own SAVEPOINT, so one batch
 * failing never fails another), commits once, and wakes each caller with its
 * own result. The writer waits for more batches (at most group_commit_us)
 * only while other callers have announced an append that is not queued yet,
 * so a lone append is committed at once.
 *
 * Schema. PRAGMA user_version is the schema version; migrations[] holds the
 * forward steps, applied in order at open inside one transaction. A database
 * newer than this code, or an SQLite file that is not a vitrine database
 * (PRAGMA application_id), is refused. Row counts are kept by triggers in
 * the counts table so that stats cost O(1) however many events there are.
 *
 * Invariants: event ids only grow (AUTOINCREMENT: never reused, even after a
 * user's newest events are deleted), and are assigned in commit order by the
 * single writer, so a scan by id never skips an event committed later.
 * events.item_id is deliberately not a foreign key: history outlives items.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store_int.h"

#define N_READERS 4
#define BUSY_TIMEOUT_MS 10000  /* waiting for another process's write lock */
#define CHECKPOINT_WAIT_MS 250 /* waiting for readers before emptying the log */
#define APPLICATION_ID 0x56545231 /* "VTR1" in the database header */

/* ---- schema ------------------------------------------------------------ */

/* migrations[v] takes a database from version v to v + 1. Never edit a
 * released step: append a new one. */
static const char *const migrations[] = {
    /* 1: the initial schema. JSON columns hold compact JSON text. */
    "CREATE TABLE items ("
    "  id TEXT PRIMARY KEY NOT NULL"
    "    CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 128),"
    "  title TEXT NOT NULL,"          /* {"en": "...", "zh": "..."} */
    "  description TEXT,"             /* same shape, or NULL */
    "  category TEXT,"                /* "Living room/Sofas" */
    "  tags TEXT,"                    /* ["...", ...] */
    "  attributes TEXT,"              /* free-form object */
    "  price REAL,"
    "  currency TEXT NOT NULL DEFAULT '',"
    "  stock INTEGER NOT NULL DEFAULT -1," /* -1: not tracked */
    "  w_cm REAL, d_cm REAL, h_cm REAL,"
    "  model_url TEXT,"
    "  assets TEXT,"
    "  hidden INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  search TEXT NOT NULL"          /* lower-cased id, titles, tags: for q */
    ");"
    "CREATE INDEX items_category ON items(category);"
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  attributes TEXT,"
    "  consent TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  item_id TEXT,"
    "  type TEXT NOT NULL,"
    "  value REAL NOT NULL,"
    "  context TEXT,"
    "  ts_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX events_user ON events(user_id, id);"
    "CREATE INDEX events_item ON events(item_id) WHERE item_id IS NOT NULL;"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  scope TEXT NOT NULL CHECK (scope IN ('public', 'read', 'ingest', 'admin')),"
    "  hash BLOB NOT NULL CHECK (length(hash) = 32),"
    "  label TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);"
    "CREATE TABLE counts (name TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO counts VALUES ('items', 0), ('users', 0), ('events', 0);"
    "CREATE TRIGGER items_count_ins AFTER INSERT ON items BEGIN"
    "  UPDATE counts SET n = n + 1 WHERE name = 'items'; END;"
    "CREATE TRIGGER items_count_del AFTER DELETE ON items BEGIN"
    "  UPDATE counts SET n = n - 1 WHERE name = 'items'; END;"
    "CREATE TRIGGER users_count_ins AFTER INSERT ON users BEGIN"
    "  UPDATE counts SET n = n + 1 WHERE name = 'users'; END;"
    "CREATE TRIGGER users_count_del AFTER DELETE ON users BEGIN"
    "  UPDATE counts SET n = n - 1 WHERE name = 'users'; END;"
    "CREATE TRIGGER events_count_ins AFTER INSERT ON events BEGIN"
    "  UPDATE counts SET n = n + 1 WHERE name = 'events'; END;"
    "CREATE TRIGGER events_count_del AFTER DELETE ON events BEGIN"
    "  UPDATE counts SET n = n - 1 WHERE name = 'events'; END;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static const char *const scope_names[] = {"public", "read", "ingest", "admin"};

/* ---- statements ---------------------------------------------------------- */

#define ITEM_COLS                                                                      \
    "id, title, description, category, tags, attributes, price, currency, stock, "    \
    "w_cm, d_cm, h_cm, model_url, assets, hidden, created_ms, updated_ms"
#define EVENT_COLS "id, user_id, item_id, type, value, context, ts_ms"
#define KEY_COLS "id, scope, hash, label, created_ms, revoked"

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
    ST_FIXED,
    /* items_list: one statement per combination of filters (LIST_*) */
    ST_LIST_FIRST = ST_FIXED,
    ST_COUNT = ST_LIST_FIRST + 16
};

enum { LIST_AFTER = 1, LIST_CATEGORY = 2, LIST_Q = 4, LIST_HIDDEN = 8 };

static const char *const stmt_sql[ST_FIXED] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT batch",
    [ST_RELEASE] = "RELEASE batch",
    [ST_ROLLBACK_TO] = "ROLLBACK TO batch",
    [ST_ITEM_GET] = "SELECT " ITEM_COLS " FROM items WHERE id = ?1",
    [ST_ITEM_EXISTS] = "SELECT 1 FROM items WHERE id = ?1",
    [ST_ITEM_INSERT] = "INSERT INTO items (" ITEM_COLS ", search) VALUES "
                       "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                       "?16, ?17, ?18)",
    [ST_ITEM_UPSERT] = "INSERT INTO items (" ITEM_COLS ", search) VALUES "
                       "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                       "?16, ?17, ?18) ON CONFLICT (id) DO UPDATE SET "
                       "title = excluded.title, description = excluded.description, "
                       "category = excluded.category, tags = excluded.tags, "
                       "attributes = excluded.attributes, price = excluded.price, "
                       "currency = excluded.currency, stock = excluded.stock, "
                       "w_cm = excluded.w_cm, d_cm = excluded.d_cm, h_cm = excluded.h_cm, "
                       "model_url = excluded.model_url, assets = excluded.assets, "
                       "hidden = excluded.hidden, updated_ms = excluded.updated_ms, "
                       "search = excluded.search",
    [ST_ITEM_DELETE] = "DELETE FROM items WHERE id = ?1",
    [ST_USER_GET] = "SELECT id, attributes, consent, created_ms, updated_ms FROM users "
                    "WHERE id = ?1",
    [ST_USER_PUT] = "INSERT INTO users (id, attributes, consent, created_ms, updated_ms) "
                    "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO UPDATE SET "
                    "attributes = coalesce(excluded.attributes, attributes), "
                    "consent = coalesce(excluded.consent, consent), "
                    "updated_ms = excluded.updated_ms",
    [ST_USER_ENSURE] = "INSERT OR IGNORE INTO users (id, created_ms, updated_ms) "
                       "VALUES (?1, ?2, ?2)",
    [ST_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
    [ST_USER_EVENTS_DELETE] = "DELETE FROM events WHERE user_id = ?1",
    [ST_EVENT_INSERT] = "INSERT INTO events (user_id, item_id, type, value, context, ts_ms) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_USER_EVENTS] = "SELECT " EVENT_COLS " FROM events WHERE user_id = ?1 AND id < ?2 "
                       "ORDER BY id DESC LIMIT ?3",
    [ST_EVENTS_SCAN] = "SELECT " EVENT_COLS " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    [ST_COUNTS] = "SELECT name, n FROM counts",
    [ST_META_GET] = "SELECT value FROM meta WHERE name = ?1",
    [ST_META_PUT] = "INSERT INTO meta (name, value) VALUES (?1, ?2) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    [ST_KEY_ADD] = "INSERT INTO api_keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_KEY_GET] = "SELECT " KEY_COLS " FROM api_keys WHERE id = ?1",
    [ST_KEY_LIST] = "SELECT " KEY_COLS " FROM api_keys ORDER BY created_ms, id",
    [ST_KEY_REVOKE] = "UPDATE api_keys SET revoked = 1 WHERE id = ?1",
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT]; /* prepared on first use, finalized at close */
};

/* ---- the store ----------------------------------------------------------- */

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

    atomic_llong commits;
};

/* ---- small helpers ------------------------------------------------------- */

/* Fills err with the connection's last error, logs it, returns VT_EDB. */
static int db_error(sqlite3 *db, struct vt_error *err, const char *what)
{
    const char *m = db ? sqlite3_errmsg(db) : "out of memory";
    vt_errorlog("database error", "what=\"%s\" sqlite=\"%s\"", what, m);
    return vt_error_set(err, VT_EDB, NULL, "%s: %s", what, m);
}

static int read_only_error(struct vt_error *err)
{
    return vt_error_set(err, VT_EINVAL, NULL, "the store was opened read-only");
}

/* The statement id of c, prepared on first use; NULL on error (logged). */
static sqlite3_stmt *conn_stmt(struct conn *c, int id)
{
    char sql[1024];
    const char *text = sql;

    if (c->st[id])
        return c->st[id];
    if (id < ST_FIXED) {
        text = stmt_sql[id];
    } else {
        int m = id - ST_LIST_FIRST;
        snprintf(sql, sizeof sql, "SELECT " ITEM_COLS " FROM items WHERE 1%s%s%s%s "
                 "ORDER BY id LIMIT :lim",
                 m & LIST_AFTER ? " AND id > :after" : "",
                 /* '0' follows '/': [cat/, cat0) holds exactly the paths below cat */
                 m & LIST_CATEGORY ? " AND (category = :cat OR (category >= :cat || '/' "
                                     "AND category < :cat || '0'))" : "",
                 m & LIST_Q ? " AND instr(search, :q) > 0" : "",
                 m & LIST_HIDDEN ? "" : " AND hidden = 0");
    }
    if (sqlite3_prepare_v3(c->db, text, -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL) !=
        SQLITE_OK) {
        db_error(c->db, NULL, "preparing a statement");
        c->st[id] = NULL;
    }
    return c->st[id];
}

static void stmt_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Runs a prepared statement that returns no rows. Returns the SQLite code
 * of the step (SQLITE_DONE on success); the message stays in the handle. */
static int stmt_run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Runs one of the argument-less statements (BEGIN, COMMIT, ...) on c. */
static int conn_exec(struct conn *c, int id, struct vt_error *err, const char *what)
{
    sqlite3_stmt *st = conn_stmt(c, id);
    if (!st)
        return db_error(c->db, err, what);
    if (stmt_run(st) != SQLITE_DONE)
        return db_error(c->db, err, what);
    return 0;
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        vt_warn("database close failed", "sqlite=\"%s\"", sqlite3_errmsg(c->db));
    c->db = NULL;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int bind_named_text(sqlite3_stmt *st, const char *name, const char *s)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i > 0 ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : SQLITE_OK;
}

/* A copy of a text column (NULL stays NULL). */
static int col_str(sqlite3_stmt *st, int col, char **out)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    *out = NULL;
    if (!t)
        return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : VT_ENOMEM;
    *out = vt_strndup((const char *)t, (size_t)sqlite3_column_bytes(st, col));
    return *out ? 0 : VT_ENOMEM;
}

/* A JSON column parsed (NULL stays NULL). Bad JSON is database damage. */
static int col_json(sqlite3_stmt *st, int col, json_t **out)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    json_error_t jerr;
    *out = NULL;
    if (!t)
        return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : VT_ENOMEM;
    *out = json_loadb(t, (size_t)sqlite3_column_bytes(st, col), 0, &jerr);
    if (!*out) {
        vt_errorlog("bad JSON in the database", "column=\"%s\" error=\"%s\"",
                    sqlite3_column_name(st, col), jerr.text);
        return VT_EDB;
    }
    return 0;
}

static int dump_to_buf(const char *p, size_t n, void *data)
{
    return vt_buf_append(data, p, n) == 0 ? 0 : -1;
}

/* Compact JSON text of j in *out (vt_malloc'ed); NULL j gives NULL. */
static int json_text(const json_t *j, char **out)
{
    struct vt_buf b;
    *out = NULL;
    if (!j)
        return 0;
    vt_buf_init(&b, 0);
    if (json_dump_callback(j, dump_to_buf, &b, JSON_COMPACT | JSON_ENCODE_ANY) != 0 ||
        !b.data) {
        vt_buf_reset(&b);
        return VT_ENOMEM;
    }
    *out = vt_buf_steal(&b, NULL);
    return 0;
}

/* Appends s[0..n) lower-cased (Unicode simple case mapping). Bytes that are
 * not valid UTF-8 are copied unchanged. */
static int fold_append(struct vt_buf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        int rc;
        if (k <= 0) {
            rc = vt_buf_append(b, s + i, 1);
            k = 1;
        } else {
            utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), enc);
            rc = vt_buf_append(b, enc, (size_t)m);
        }
        if (rc < 0)
            return rc;
        i += (size_t)k;
    }
    return 0;
}

/* The search column: id, every title and every tag, lower-cased, one per line. */
static int search_text(const struct vt_item *it, char **out)
{
    struct vt_buf b;
    const char *key;
    json_t *v;
    size_t i;
    int rc;

    *out = NULL;
    vt_buf_init(&b, 0);
    rc = fold_append(&b, it->id, strlen(it->id));
    json_object_foreach(it->title, key, v) {
        if (rc == 0 && json_is_string(v)) {
            rc = vt_buf_puts(&b, "\n");
            if (rc == 0)
                rc = fold_append(&b, json_string_value(v), json_string_length(v));
        }
    }
    json_array_foreach(it->tags, i, v) {
        if (rc == 0 && json_is_string(v)) {
            rc = vt_buf_puts(&b, "\n");
            if (rc == 0)
                rc = fold_append(&b, json_string_value(v), json_string_length(v));
        }
    }
    if (rc < 0) {
        vt_buf_reset(&b);
        return rc;
    }
    *out = vt_buf_steal(&b, NULL);
    return 0;
}

/* Grows *arr (elements of size elem) so that it holds at least need. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap, bytes;
    void *p;
    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    if (ncap < need)
        ncap = need;
    if (vt_mul_size(ncap, elem, &bytes) < 0)
        return VT_ENOMEM;
    p = vt_realloc(*arr, bytes);
    if (!p)
        return VT_ENOMEM;
    memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ---- reader pool ----------------------------------------------------------- */

static struct conn *reader_get(struct sq *s)
{
    struct conn *c;
    pthread_mutex_lock(&s->rlock);
    while (s->nrfree == 0)
        pthread_cond_wait(&s->rcond, &s->rlock);
    c = &s->r[s->rfree[--s->nrfree]];
    pthread_mutex_unlock(&s->rlock);
    return c;
}

static void reader_put(struct sq *s, struct conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->rlock);
    s->rfree[s->nrfree++] = (int)(c - s->r);
    pthread_cond_signal(&s->rcond);
    pthread_mutex_unlock(&s->rlock);
}

/* Fills out from the current row of st; returns 0 or a VT_E* code. */
typedef int (*row_fn)(sqlite3_stmt *st, void *out);

/* The first row that read statement id gives for ?1 = key, through row().
 * VT_ENOTFOUND when there is none. */
static int read_one(struct sq *s, int id, const char *key, row_fn row, void *out,
                    const char *what)
{
    struct conn *c = reader_get(s);
    sqlite3_stmt *st = conn_stmt(c, id);
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            rc = row(st, out);
        else if (rc == SQLITE_DONE)
            rc = VT_ENOTFOUND;
        else
            rc = db_error(c->db, NULL, what);
    }
    stmt_done(st);
    reader_put(s, c);
    return rc;
}

/* Steps the bound statement st of c and appends one element (elem bytes,
 * zeroed, then filled by row()) per row to *arr, at most max of them; *more
 * (if not NULL) tells whether a further row exists. On error the elements
 * read so far stay in *arr and *n for the caller to free. */
static int read_rows(struct conn *c, sqlite3_stmt *st, size_t max, size_t elem, row_fn row,
                     void **arr, size_t *n, int *more, const char *what)
{
    size_t cap = 0;
    int r;

    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int rc;
        if (*n == max) {
            if (more)
                *more = 1;
            return 0;
        }
        rc = grow(arr, &cap, *n + 1, elem);
        if (rc < 0)
            return rc;
        rc = row(st, (char *)*arr + *n * elem);
        (*n)++;
        if (rc < 0)
            return rc;
    }
    return r == SQLITE_DONE ? 0 : db_error(c->db, NULL, what);
}

/* Runs write statement id with ?1 = key (wlock held). VT_ENOTFOUND if it
 * changed no row. */
static int write_key(struct sq *s, int id, const char *key, const char *what)
{
    sqlite3_stmt *st = conn_stmt(&s->w, id);
    if (!st)
        return db_error(s->w.db, NULL, what);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (stmt_run(st) != SQLITE_DONE)
        return db_error(s->w.db, NULL, what);
    return sqlite3_changes(s->w.db) > 0 ? 0 : VT_ENOTFOUND;
}

/* ---- opening --------------------------------------------------------------- */

/* Runs SQL (one or several statements), ignoring any rows. */
static int exec_sql(sqlite3 *db, const char *sql, struct vt_error *err, const char *path)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = vt_error_set(err, VT_EDB, NULL, "%s: %s", path,
                              msg ? msg : sqlite3_errmsg(db));
        vt_errorlog("database error", "path=\"%s\" sql=\"%.60s\" sqlite=\"%s\"", path, sql,
                    msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* The single integer a query returns, in *v. */
static int query_int(sqlite3 *db, const char *sql, int64_t *v, struct vt_error *err,
                     const char *path)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = vt_error_set(err, VT_EDB, NULL, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    *v = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

static int conn_open(struct conn *c, const char *path, int read_only, struct vt_error *err)
{
    int flags = SQLITE_OPEN_NOMUTEX |
                (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        int rc = vt_error_set(err, VT_EDB, "db", "%s: %s", path,
                              c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        c->db = NULL;
        return rc;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    return 0;
}

/* Checks the database is a vitrine one at a version this code knows, and
 * migrates it forward (writer connection, one transaction). */
static int migrate(struct sq *s, struct vt_error *err)
{
    sqlite3 *db = s->w.db;
    int64_t app = 0, ver = 0, objects = 0;
    int in_tx = 0, rc;
    char sql[64];

    rc = exec_sql(db, "BEGIN IMMEDIATE", err, s->path);
    if (rc < 0)
        goto out;
    in_tx = 1;
    rc = query_int(db, "PRAGMA application_id", &app, err, s->path);
    if (rc == 0)
        rc = query_int(db, "PRAGMA user_version", &ver, err, s->path);
    if (rc == 0)
        rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &objects, err, s->path);
    if (rc < 0)
        goto out;
    if ((app != 0 && app != APPLICATION_ID) || (app == 0 && (ver != 0 || objects != 0))) {
        rc = vt_error_set(err, VT_EFORMAT, "db",
                          "%s: an SQLite database, but not a vitrine one", s->path);
        goto out;
    }
    if (ver > SCHEMA_VERSION) {
        rc = vt_error_set(err, VT_EFORMAT, "db",
                          "%s: schema version %lld is newer than this vitrine knows (%d); "
                          "use a newer vitrine", s->path, (long long)ver, SCHEMA_VERSION);
        goto out;
    }
    for (int v = (int)ver; v < SCHEMA_VERSION; v++) {
        rc = exec_sql(db, migrations[v], err, s->path);
        if (rc < 0)
            goto out;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        rc = exec_sql(db, sql, err, s->path);
        if (rc < 0)
            goto out;
        vt_info("database migrated", "path=\"%s\" version=%d", s->path, v + 1);
    }
    if (app == 0) {
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d", APPLICATION_ID);
        rc = exec_sql(db, sql, err, s->path);
        if (rc < 0)
            goto out;
    }
    rc = exec_sql(db, "COMMIT", err, s->path);
    if (rc < 0)
        goto out;
    in_tx = 0;
    s->version = SCHEMA_VERSION;
out:
    if (in_tx)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Read-only opening: the database must already be at the current version. */
static int check_version(struct sq *s, struct vt_error *err)
{
    int64_t app = 0, ver = 0;
    int rc = query_int(s->r[0].db, "PRAGMA application_id", &app, err, s->path);
    if (rc == 0)
        rc = query_int(s->r[0].db, "PRAGMA user_version", &ver, err, s->path);
    if (rc < 0)
        return rc;
    if (app != APPLICATION_ID)
        return vt_error_set(err, VT_EFORMAT, "db", "%s: not a vitrine database", s->path);
    if (ver != SCHEMA_VERSION)
        return vt_error_set(err, VT_EFORMAT, "db",
                            "%s: schema version %lld, this vitrine reads %d only%s", s->path,
                            (long long)ver, SCHEMA_VERSION,
                            ver < SCHEMA_VERSION ? " (open it once read-write to migrate)" : "");
    s->version = (int)ver;
    return 0;
}

static int open_writer(struct sq *s, struct vt_error *err)
{
    sqlite3_stmt *st = NULL;
    const char *mode;
    int rc = conn_open(&s->w, s->path, 0, err);
    if (rc < 0)
        return rc;
    /* journal_mode answers with the mode now in force. */
    if (sqlite3_prepare_v2(s->w.db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = vt_error_set(err, VT_EDB, "db", "%s: %s", s->path, sqlite3_errmsg(s->w.db));
        goto out;
    }
    mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
        rc = vt_error_set(err, VT_EDB, "db", "%s: cannot switch to WAL mode (got %s)", s->path,
                          mode ? mode : "nothing");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = exec_sql(s->w.db,
                  "PRAGMA synchronous = FULL;"
                  "PRAGMA foreign_keys = ON;"
                  "PRAGMA secure_delete = ON;"
                  "PRAGMA temp_store = MEMORY;" /* savepoint journals stay in memory */
                  "PRAGMA journal_size_limit = 67108864;", /* 64 MiB */
                  err, s->path);
    if (rc == 0)
        rc = migrate(s, err);
out:
    sqlite3_finalize(st);
    return rc;
}

static void *writer_main(void *arg);

static void sq_close(void *impl);

static int sq_open(const char *target, const struct vt_store_options *opt, void **impl,
                   struct vt_error *err)
{
    struct sq *s;
    pthread_condattr_t ca;
    int rc;

    *impl = NULL;
    if (!sqlite3_threadsafe())
        return vt_error_set(err, VT_EINTERNAL, NULL,
                            "this SQLite library was built without thread support");
    s = vt_calloc(1, sizeof *s);
    if (!s)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory opening the store");
    pthread_mutex_init(&s->wlock, NULL);
    pthread_mutex_init(&s->rlock, NULL);
    pthread_cond_init(&s->rcond, NULL);
    pthread_mutex_init(&s->qlock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->qcond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->commits, 0);
    s->read_only = opt->read_only;
    s->gather_us = opt->group_commit_us;
    s->path = vt_strdup(target);
    if (!s->path) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory opening the store");
        goto out;
    }

    if (!s->read_only) {
        rc = open_writer(s, err);
        if (rc < 0)
            goto out;
    }
    for (int i = 0; i < N_READERS; i++) {
        rc = conn_open(&s->r[i], s->path, 1, err);
        if (rc < 0)
            goto out;
        s->rfree[s->nrfree++] = i;
    }
    if (s->read_only) {
        rc = check_version(s, err);
        if (rc < 0)
            goto out;
    } else {
        if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
            rc = vt_error_set(err, VT_EINTERNAL, NULL, "cannot start the event writer thread");
            goto out;
        }
        s->writer_running = 1;
    }
    *impl = s;
    rc = 0;
out:
    if (rc < 0)
        sq_close(s);
    return rc;
}

static void sq_close(void *impl)
{
    struct sq *s = impl;
    if (!s)
        return;
    if (s->writer_running) {
        pthread_mutex_lock(&s->qlock);
        s->stop = 1;
        pthread_cond_broadcast(&s->qcond);
        pthread_mutex_unlock(&s->qlock);
        pthread_join(s->writer, NULL);
    }
    for (int i = 0; i < N_READERS; i++)
        conn_close(&s->r[i]);
    conn_close(&s->w); /* last: checkpoints and removes the -wal file */
    pthread_cond_destroy(&s->qcond);
    pthread_mutex_destroy(&s->qlock);
    pthread_cond_destroy(&s->rcond);
    pthread_mutex_destroy(&s->rlock);
    pthread_mutex_destroy(&s->wlock);
    vt_free(s->path);
    vt_free(s);
}

static int sq_schema_version(void *impl)
{
    return ((struct sq *)impl)->version;
}

/* ---- items ----------------------------------------------------------------- */

/* An item's columns as text, made before taking the write lock. */
struct item_text {
    char *title, *description, *tags, *attributes, *assets, *search;
};

static void item_text_reset(struct item_text *t)
{
    vt_free(t->title);
    vt_free(t->description);
    vt_free(t->tags);
    vt_free(t->attributes);
    vt_free(t->assets);
    vt_free(t->search);
    memset(t, 0, sizeof *t);
}

static int item_text_make(const struct vt_item *it, struct item_text *t)
{
    int rc = json_text(it->title, &t->title);
    if (rc == 0)
        rc = json_text(it->description, &t->description);
    if (rc == 0)
        rc = json_text(it->tags, &t->tags);
    if (rc == 0)
        rc = json_text(it->attributes, &t->attributes);
    if (rc == 0)
        rc = json_text(it->assets, &t->assets);
    if (rc == 0)
        rc = search_text(it, &t->search);
    return rc;
}

static void item_bind(sqlite3_stmt *st, const struct vt_item *it, const struct item_text *t,
                      int64_t now)
{
    char cur[4];
    snprintf(cur, sizeof cur, "%.3s", it->currency);
    sqlite3_bind_text(st, 1, it->id, -1, SQLITE_STATIC);
    bind_text(st, 2, t->title);
    bind_text(st, 3, t->description);
    bind_text(st, 4, it->category);
    bind_text(st, 5, t->tags);
    bind_text(st, 6, t->attributes);
    if (it->has_price)
        sqlite3_bind_double(st, 7, it->price);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_text(st, 8, cur, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 9, it->stock < 0 ? -1 : it->stock);
    for (int d = 0; d < 3; d++) {
        if (it->has_dims)
            sqlite3_bind_double(st, 10 + d, it->dims_cm[d]);
        else
            sqlite3_bind_null(st, 10 + d);
    }
    bind_text(st, 13, it->model_url);
    bind_text(st, 14, t->assets);
    sqlite3_bind_int(st, 15, it->hidden ? 1 : 0);
    sqlite3_bind_int64(st, 16, it->created_ms > 0 ? it->created_ms : now);
    sqlite3_bind_int64(st, 17, now);
    bind_text(st, 18, t->search);
}

static int item_row(sqlite3_stmt *st, void *out)
{
    struct vt_item *it = out;
    int rc;

    vt_item_init(it);
    rc = col_str(st, 0, &it->id);
    if (rc == 0)
        rc = col_json(st, 1, &it->title);
    if (rc == 0)
        rc = col_json(st, 2, &it->description);
    if (rc == 0)
        rc = col_str(st, 3, &it->category);
    if (rc == 0)
        rc = col_json(st, 4, &it->tags);
    if (rc == 0)
        rc = col_json(st, 5, &it->attributes);
    if (rc == 0)
        rc = col_str(st, 12, &it->model_url);
    if (rc == 0)
        rc = col_json(st, 13, &it->assets);
    if (rc < 0)
        return rc;
    it->has_price = sqlite3_column_type(st, 6) != SQLITE_NULL;
    it->price = it->has_price ? sqlite3_column_double(st, 6) : 0;
    snprintf(it->currency, sizeof it->currency, "%.3s",
             sqlite3_column_text(st, 7) ? (const char *)sqlite3_column_text(st, 7) : "");
    it->stock = sqlite3_column_int64(st, 8);
    it->has_dims = 1;
    for (int d = 0; d < 3; d++) {
        if (sqlite3_column_type(st, 9 + d) == SQLITE_NULL)
            it->has_dims = 0;
        it->dims_cm[d] = sqlite3_column_double(st, 9 + d);
    }
    if (!it->has_dims)
        memset(it->dims_cm, 0, sizeof it->dims_cm);
    it->hidden = sqlite3_column_int(st, 14) != 0;
    it->created_ms = sqlite3_column_int64(st, 15);
    it->updated_ms = sqlite3_column_int64(st, 16);
    return 0;
}

static int sq_items_put(void *impl, const struct vt_item *items, size_t n, int mode,
                        size_t *bad, struct vt_error *err)
{
    struct sq *s = impl;
    struct item_text *tx = NULL;
    sqlite3_stmt *st;
    int locked = 0, in_tx = 0, rc = 0;
    int64_t now;

    if (s->read_only)
        return read_only_error(err);
    tx = vt_calloc(n, sizeof *tx);
    if (!tx) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory storing %zu items", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (item_text_make(&items[i], &tx[i]) < 0) {
            rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory storing %zu items", n);
            goto out;
        }
    }
    now = vt_time_now_ms();
    pthread_mutex_lock(&s->wlock);
    locked = 1;
    rc = conn_exec(&s->w, ST_BEGIN, err, "storing items");
    if (rc < 0)
        goto out;
    in_tx = 1;
    st = conn_stmt(&s->w, mode == VT_PUT_CREATE ? ST_ITEM_INSERT : ST_ITEM_UPSERT);
    if (!st) {
        rc = db_error(s->w.db, err, "storing items");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        item_bind(st, &items[i], &tx[i], now);
        if (stmt_run(st) != SQLITE_DONE) {
            if (bad)
                *bad = i;
            if (sqlite3_extended_errcode(s->w.db) == SQLITE_CONSTRAINT_PRIMARYKEY)
                rc = vt_error_set(err, VT_ECONFLICT, "id", "item '%s' already exists",
                                  items[i].id);
            else
                rc = db_error(s->w.db, err, "storing items");
            goto out;
        }
    }
    rc = conn_exec(&s->w, ST_COMMIT, err, "storing items");
    if (rc < 0)
        goto out;
    in_tx = 0;
out:
    if (in_tx)
        conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back items");
    if (locked)
        pthread_mutex_unlock(&s->wlock);
    for (size_t i = 0; tx && i < n; i++)
        item_text_reset(&tx[i]);
    vt_free(tx);
    return rc;
}

static int sq_item_get(void *impl, const char *id, struct vt_item *out)
{
    int rc = read_one(impl, ST_ITEM_GET, id, item_row, out, "reading an item");
    if (rc < 0)
        vt_item_reset(out);
    return rc;
}

static int sq_item_delete(void *impl, const char *id)
{
    struct sq *s = impl;
    int rc;

    if (s->read_only)
        return read_only_error(NULL);
    pthread_mutex_lock(&s->wlock);
    rc = write_key(s, ST_ITEM_DELETE, id, "deleting an item");
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

static int sq_items_list(void *impl, const struct vt_item_query *q, struct vt_item **out,
                         size_t *n, int *more)
{
    struct sq *s = impl;
    struct conn *c = NULL;
    sqlite3_stmt *st = NULL;
    struct vt_item *items = NULL;
    size_t count = 0, catlen = 0;
    struct vt_buf qb;
    int mask = 0, rc = 0;

    vt_buf_init(&qb, 0);
    if (q->category) {
        catlen = strlen(q->category);
        while (catlen > 0 && q->category[catlen - 1] == '/')
            catlen--;
    }
    if (catlen > 0)
        mask |= LIST_CATEGORY;
    if (q->q && q->q[0]) {
        rc = fold_append(&qb, q->q, strlen(q->q));
        if (rc < 0)
            goto out;
        mask |= LIST_Q;
    }
    if (q->after_id && q->after_id[0])
        mask |= LIST_AFTER;
    if (q->include_hidden)
        mask |= LIST_HIDDEN;

    c = reader_get(s);
    st = conn_stmt(c, ST_LIST_FIRST + mask);
    if (!st) {
        rc = VT_EDB;
        goto out;
    }
    if (mask & LIST_AFTER)
        bind_named_text(st, ":after", q->after_id);
    if (mask & LIST_CATEGORY)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":cat"), q->category,
                          (int)catlen, SQLITE_STATIC);
    if (mask & LIST_Q)
        bind_named_text(st, ":q", qb.data);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":lim"), (int64_t)q->limit + 1);

    rc = read_rows(c, st, q->limit, sizeof *items, item_row, (void **)&items, &count, more,
                   "listing items");
out:
    stmt_done(st);
    reader_put(s, c);
    vt_buf_reset(&qb);
    if (rc < 0) {
        vt_items_free(items, count);
        *more = 0;
        return rc;
    }
    *out = items;
    *n = count;
    return 0;
}

/* ---- users ----------------------------------------------------------------- */

static int user_row(sqlite3_stmt *st, void *out)
{
    struct vt_user *u = out;
    int rc = col_str(st, 0, &u->id);
    if (rc == 0)
        rc = col_json(st, 1, &u->attributes);
    if (rc == 0)
        rc = col_json(st, 2, &u->consent);
    u->created_ms = sqlite3_column_int64(st, 3);
    u->updated_ms = sqlite3_column_int64(st, 4);
    return rc;
}

static int sq_user_get(void *impl, const char *id, struct vt_user *out)
{
    int rc = read_one(impl, ST_USER_GET, id, user_row, out, "reading a user");
    if (rc < 0)
        vt_user_reset(out);
    return rc;
}

static int sq_user_put(void *impl, const struct vt_user *u)
{
    struct sq *s = impl;
    char *attrs = NULL, *consent = NULL;
    sqlite3_stmt *st;
    int rc;

    if (s->read_only)
        return read_only_error(NULL);
    rc = json_text(u->attributes, &attrs);
    if (rc == 0)
        rc = json_text(u->consent, &consent);
    if (rc < 0)
        goto out;
    pthread_mutex_lock(&s->wlock);
    st = conn_stmt(&s->w, ST_USER_PUT);
    if (!st) {
        rc = VT_EDB;
    } else {
        sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
        bind_text(st, 2, attrs);
        bind_text(st, 3, consent);
        sqlite3_bind_int64(st, 4, vt_time_now_ms());
        if (stmt_run(st) != SQLITE_DONE)
            rc = db_error(s->w.db, NULL, "storing a user");
    }
    pthread_mutex_unlock(&s->wlock);
out:
    vt_free(attrs);
    vt_free(consent);
    return rc;
}

/* Deletes the user's events and the user in one transaction. secure_delete
 * zeroes the freed bytes in the database file; the TRUNCATE checkpoint then
 * empties the -wal file, which still held the old pages. */
static int sq_user_delete(void *impl, const char *id)
{
    struct sq *s = impl;
    int in_tx = 0, rc;

    if (s->read_only)
        return read_only_error(NULL);
    pthread_mutex_lock(&s->wlock);
    rc = conn_exec(&s->w, ST_BEGIN, NULL, "deleting a user");
    if (rc < 0)
        goto out;
    in_tx = 1;
    rc = write_key(s, ST_USER_EVENTS_DELETE, id, "deleting a user's events");
    if (rc < 0 && rc != VT_ENOTFOUND)
        goto out;
    rc = write_key(s, ST_USER_DELETE, id, "deleting a user");
    if (rc == 0)
        rc = conn_exec(&s->w, ST_COMMIT, NULL, "deleting a user");
    if (rc < 0)
        goto out;
    in_tx = 0;
    /* Bounded: readers may hold the log a moment, and appends wait on wlock. */
    sqlite3_busy_timeout(s->w.db, CHECKPOINT_WAIT_MS);
    if (sqlite3_wal_checkpoint_v2(s->w.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
        SQLITE_OK)
        vt_warn("checkpoint after a user deletion failed; the old pages stay in the log "
                "until the next checkpoint", "sqlite=\"%s\"", sqlite3_errmsg(s->w.db));
    sqlite3_busy_timeout(s->w.db, BUSY_TIMEOUT_MS);
out:
    if (in_tx)
        conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back a user deletion");
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

/* ---- events: group commit -------------------------------------------------- */

/* Writes one caller's batch in the open transaction (writer thread, wlock
 * held). Returns 0 or VT_EDB with the message in r->msg. */
static int write_batch(struct sq *s, struct append_req *r, int64_t now)
{
    sqlite3_stmt *ensure = conn_stmt(&s->w, ST_USER_ENSURE);
    sqlite3_stmt *ins = conn_stmt(&s->w, ST_EVENT_INSERT);
    const char *last_user = NULL;

    if (!ensure || !ins)
        goto fail;
    for (size_t i = 0; i < r->n; i++) {
        struct vt_event *ev = &r->evs[i];
        if (!last_user || strcmp(last_user, ev->user_id) != 0) {
            sqlite3_bind_text(ensure, 1, ev->user_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ensure, 2, now);
            if (stmt_run(ensure) != SQLITE_DONE)
                goto fail;
            last_user = ev->user_id;
        }
        sqlite3_bind_text(ins, 1, ev->user_id, -1, SQLITE_STATIC);
        bind_text(ins, 2, ev->item_id);
        sqlite3_bind_text(ins, 3, vt_event_type_info(ev->type)->name, -1, SQLITE_STATIC);
        sqlite3_bind_double(ins, 4, ev->value);
        bind_text(ins, 5, r->ctx[i]);
        sqlite3_bind_int64(ins, 6, ev->ts_ms);
        if (stmt_run(ins) != SQLITE_DONE)
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
    if (conn_exec(&s->w, ST_BEGIN, NULL, "storing events") < 0) {
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
        r->rc = conn_exec(&s->w, ST_SAVEPOINT, NULL, "storing events");
        if (r->rc == 0) {
            r->rc = write_batch(s, r, now);
            if (r->rc == 0)
                r->rc = conn_exec(&s->w, ST_RELEASE, NULL, "storing events");
            if (r->rc < 0) {
                /* undo this batch only; the others stay in the transaction */
                conn_exec(&s->w, ST_ROLLBACK_TO, NULL, "storing events");
                conn_exec(&s->w, ST_RELEASE, NULL, "storing events");
            }
        }
        if (r->rc < 0) {
            if (!r->msg[0])
                snprintf(r->msg, sizeof r->msg, "storing events: %s", sqlite3_errmsg(s->w.db));
            batch_fail(r, NULL);
        }
    }
    if (conn_exec(&s->w, ST_COMMIT, NULL, "committing events") < 0) {
        snprintf(msg, sizeof msg, "committing events: %s", sqlite3_errmsg(s->w.db));
        conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back events");
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
    c = reader_get(s);
    st = conn_stmt(c, ST_ITEM_EXISTS);
    if (!st) {
        rc = db_error(c->db, err, "checking items");
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
            rc = db_error(c->db, err, "checking items");
        goto out;
    }
out:
    stmt_done(st);
    reader_put(s, c);
    return rc;
}

static int sq_events_append(void *impl, struct vt_event *evs, size_t n, size_t *bad,
                            struct vt_error *err)
{
    struct sq *s = impl;
    struct append_req req;
    char **ctx = NULL;
    int announced = 0, rc = 0;

    if (s->read_only)
        return read_only_error(err);
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
        if (json_text(evs[i].context, &ctx[i]) < 0) {
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

/* ---- events: reading ------------------------------------------------------- */

static int event_row(sqlite3_stmt *st, void *out)
{
    struct vt_event *ev = out;
    const char *type = (const char *)sqlite3_column_text(st, 3);
    int rc;

    vt_event_init(ev);
    ev->id = sqlite3_column_int64(st, 0);
    rc = col_str(st, 1, &ev->user_id);
    if (rc == 0)
        rc = col_str(st, 2, &ev->item_id);
    if (rc == 0)
        rc = col_json(st, 5, &ev->context);
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
    int rc = read_rows(c, st, limit, sizeof *evs, event_row, (void **)&evs, &count, NULL,
                       "reading events");
    if (rc < 0) {
        vt_events_free(evs, count);
        return rc;
    }
    *out = evs;
    *n = count;
    return 0;
}

static int sq_user_events(void *impl, const char *user_id, int64_t before_id, size_t limit,
                          struct vt_event **out, size_t *n)
{
    struct sq *s = impl;
    struct conn *c = reader_get(s);
    sqlite3_stmt *st = conn_stmt(c, ST_USER_EVENTS);
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, before_id > 0 ? before_id : INT64_MAX);
        sqlite3_bind_int64(st, 3, (int64_t)limit);
        rc = events_read(c, st, limit, out, n);
    }
    stmt_done(st);
    reader_put(s, c);
    return rc;
}

static int sq_events_scan(void *impl, int64_t after_id, size_t limit, struct vt_event **out,
                          size_t *n)
{
    struct sq *s = impl;
    struct conn *c = reader_get(s);
    sqlite3_stmt *st = conn_stmt(c, ST_EVENTS_SCAN);
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_int64(st, 1, after_id);
        sqlite3_bind_int64(st, 2, (int64_t)limit);
        rc = events_read(c, st, limit, out, n);
    }
    stmt_done(st);
    reader_put(s, c);
    return rc;
}

/* ---- stats ------------------------------------------------------------------ */

static int64_t file_size(const char *path, const char *suffix)
{
    char p[4096];
    struct stat sb;
    if ((size_t)snprintf(p, sizeof p, "%s%s", path, suffix) >= sizeof p)
        return 0;
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static int sq_stats(void *impl, struct vt_store_stats *st_out)
{
    struct sq *s = impl;
    struct conn *c = reader_get(s);
    sqlite3_stmt *st = conn_stmt(c, ST_COUNTS);
    int rc = 0, r;

    if (!st) {
        rc = VT_EDB;
        goto out;
    }
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);
        if (!name)
            continue;
        if (strcmp(name, "items") == 0)
            st_out->items = v;
        else if (strcmp(name, "users") == 0)
            st_out->users = v;
        else if (strcmp(name, "events") == 0)
            st_out->events = v;
    }
    if (r != SQLITE_DONE)
        rc = db_error(c->db, NULL, "reading counts");
out:
    stmt_done(st);
    reader_put(s, c);
    st_out->db_bytes = file_size(s->path, "") + file_size(s->path, "-wal");
    st_out->commits = atomic_load(&s->commits);
    return rc;
}

/* ---- metadata ----------------------------------------------------------------- */

struct meta_out {
    char **data;
    size_t *len;
};

static int meta_row(sqlite3_stmt *st, void *out)
{
    struct meta_out *m = out;
    const void *p = sqlite3_column_blob(st, 0);
    size_t k = (size_t)sqlite3_column_bytes(st, 0);

    *m->data = vt_malloc(k + 1);
    if (!*m->data)
        return VT_ENOMEM;
    if (k)
        memcpy(*m->data, p, k);
    (*m->data)[k] = '\0';
    if (m->len)
        *m->len = k;
    return 0;
}

static int sq_meta_get(void *impl, const char *name, char **out, size_t *len)
{
    struct meta_out m = {out, len};
    return read_one(impl, ST_META_GET, name, meta_row, &m, "reading metadata");
}

static int sq_meta_put(void *impl, const char *name, const void *data, size_t len)
{
    struct sq *s = impl;
    sqlite3_stmt *st;
    int rc = 0;

    if (s->read_only)
        return read_only_error(NULL);
    if (len > INT32_MAX)
        return VT_ETOOBIG;
    pthread_mutex_lock(&s->wlock);
    st = conn_stmt(&s->w, ST_META_PUT);
    if (!st) {
        rc = VT_EDB;
    } else {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
        if (stmt_run(st) != SQLITE_DONE)
            rc = db_error(s->w.db, NULL, "storing metadata");
    }
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

/* ---- keys ---------------------------------------------------------------------- */

static int key_row(sqlite3_stmt *st, void *out)
{
    struct vt_key *k = out;
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *scope = (const char *)sqlite3_column_text(st, 1);
    const char *label = (const char *)sqlite3_column_text(st, 3);

    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", id ? id : "");
    k->scope = -1;
    for (int i = 0; scope && i < 4; i++)
        if (strcmp(scope, scope_names[i]) == 0)
            k->scope = i;
    if (k->scope < 0 || sqlite3_column_bytes(st, 2) != (int)sizeof k->hash)
        return VT_EDB;
    memcpy(k->hash, sqlite3_column_blob(st, 2), sizeof k->hash);
    snprintf(k->label, sizeof k->label, "%s", label ? label : "");
    k->created_ms = sqlite3_column_int64(st, 4);
    k->revoked = sqlite3_column_int(st, 5) != 0;
    return 0;
}

static int sq_key_add(void *impl, const struct vt_key *k)
{
    struct sq *s = impl;
    sqlite3_stmt *st;
    int rc = 0;

    if (s->read_only)
        return read_only_error(NULL);
    pthread_mutex_lock(&s->wlock);
    st = conn_stmt(&s->w, ST_KEY_ADD);
    if (!st) {
        rc = VT_EDB;
        goto out;
    }
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, scope_names[k->scope], -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, k->hash, (int)sizeof k->hash, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->label, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, k->created_ms > 0 ? k->created_ms : vt_time_now_ms());
    sqlite3_bind_int(st, 6, k->revoked ? 1 : 0);
    if (stmt_run(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(s->w.db) == SQLITE_CONSTRAINT_PRIMARYKEY)
            rc = VT_ECONFLICT;
        else
            rc = db_error(s->w.db, NULL, "storing a key");
    }
out:
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

static int sq_key_get(void *impl, const char *id, struct vt_key *out)
{
    return read_one(impl, ST_KEY_GET, id, key_row, out, "reading a key");
}

static int sq_key_list(void *impl, struct vt_key **out, size_t *n)
{
    struct sq *s = impl;
    struct conn *c = reader_get(s);
    sqlite3_stmt *st = conn_stmt(c, ST_KEY_LIST);
    struct vt_key *keys = NULL;
    size_t count = 0;
    int rc = VT_EDB;

    if (st)
        rc = read_rows(c, st, SIZE_MAX, sizeof *keys, key_row, (void **)&keys, &count, NULL,
                       "listing keys");
    stmt_done(st);
    reader_put(s, c);
    if (rc < 0) {
        vt_free(keys);
        return rc;
    }
    *out = keys;
    *n = count;
    return 0;
}

static int sq_key_revoke(void *impl, const char *id)
{
    struct sq *s = impl;
    int rc;

    if (s->read_only)
        return read_only_error(NULL);
    pthread_mutex_lock(&s->wlock);
    rc = write_key(s, ST_KEY_REVOKE, id, "revoking a key");
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

const struct vt_store_ops vt_store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .schema_version = sq_schema_version,
    .items_put = sq_items_put,
    .item_get = sq_item_get,
    .item_delete = sq_item_delete,
    .items_list = sq_items_list,
    .user_get = sq_user_get,
    .user_put = sq_user_put,
    .user_delete = sq_user_delete,
    .events_append = sq_events_append,
    .user_events = sq_user_events,
    .events_scan = sq_events_scan,
    .stats = sq_stats,
    .meta_get = sq_meta_get,
    .meta_put = sq_meta_put,
    .key_add = sq_key_add,
    .key_get = sq_key_get,
    .key_list = sq_key_list,
    .key_revoke = sq_key_revoke,
};
