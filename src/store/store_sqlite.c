/*
 * store_sqlite.c - the SQLite back-end of the store (struct vt_store_ops).
 *
 * Files. This one holds connections, schema, statements, items, users, keys,
 * metadata, stats, and open/close; event appends and reads (group commit)
 * are in store_sqlite_events.c, the background checkpointer in
 * store_sqlite_checkpoint.c, item embeddings in store_sqlite_embed.c,
 * impressions in store_sqlite_impressions.c, and what they share in
 * store_sqlite_int.h.
 *
 * Connections. One writer connection, guarded by wlock, does every write;
 * a pool of N_READERS read-only connections serves reads concurrently (WAL
 * lets readers run while the writer commits); the checkpointer has one of
 * its own. Each connection prepares a statement the first time it needs it
 * and keeps it until close, so hot statements (event insert, item get) are
 * prepared once per connection.
 *
 * Durability. The database runs in WAL mode with synchronous=FULL: every
 * COMMIT fsyncs the log before returning. The writer connection never
 * checkpoints on its own (see store_sqlite_checkpoint.c), so no commit pays
 * for copying the log into the database.
 *
 * Memory. SQLite allocates through vt_malloc (sqlite_mem_methods below), so
 * vt_alloc_bytes_in_use() and /metrics count its page caches and statements
 * too, and the allocation-failure test hook reaches it.
 *
 * Schema. PRAGMA user_version is the schema version; migrations[] holds the
 * forward steps, applied in order at open inside one transaction. A database
 * newer than this code, or an SQLite file that is not a vitrine database
 * (PRAGMA application_id), is refused. Row counts are kept by triggers in
 * the counts table so that stats cost O(1) however many events there are;
 * the count of impressions, by store_sqlite_impressions.c in the same
 * transactions (one update per batch rather than a trigger per row).
 * events.item_id is deliberately not a foreign key: history outlives items.
 */
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store_sqlite_int.h"

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

    /* 2: item embeddings, one row per item, language and model. vector is
     * dim float32 values, little-endian; text_hash is a 64-bit fingerprint
     * of the text the model read (as a signed integer). Rows go with their
     * item (the writer runs with foreign_keys on). */
    "CREATE TABLE item_embeddings ("
    "  item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,"
    "  lang TEXT NOT NULL CHECK (length(CAST(lang AS BLOB)) BETWEEN 1 AND 15),"
    "  model_id TEXT NOT NULL CHECK (length(CAST(model_id AS BLOB)) BETWEEN 1 AND 127),"
    "  dim INTEGER NOT NULL CHECK (dim BETWEEN 1 AND 65536),"
    "  vector BLOB NOT NULL CHECK (length(vector) = 4 * dim),"
    "  text_hash INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (item_id, lang, model_id)"
    ");"
    "CREATE INDEX item_embeddings_model ON item_embeddings(model_id, item_id, lang);",

    /* 3: impressions, what lists showed, for training the ranker
     * (store_sqlite_impressions.c describes the row). */
    "CREATE TABLE impressions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  rec_id TEXT NOT NULL CHECK (length(CAST(rec_id AS BLOB)) BETWEEN 1 AND 23),"
    "  user_id TEXT NOT NULL CHECK (length(CAST(user_id AS BLOB)) BETWEEN 1 AND 128),"
    "  item_id TEXT NOT NULL CHECK (length(CAST(item_id AS BLOB)) BETWEEN 1 AND 128),"
    "  surface TEXT NOT NULL CHECK (length(CAST(surface AS BLOB)) BETWEEN 1 AND 15),"
    "  position INTEGER NOT NULL CHECK (position >= 0),"
    "  features BLOB NOT NULL"
    "    CHECK (length(features) % 4 = 0 AND length(features) <= 128),"
    "  ts_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX impressions_user ON impressions(user_id);"
    "CREATE INDEX impressions_ts ON impressions(ts_ms);"
    "INSERT INTO counts VALUES ('impressions', 0);"
    "CREATE TRIGGER impressions_count_ins AFTER INSERT ON impressions BEGIN"
    "  UPDATE counts SET n = n + 1 WHERE name = 'impressions'; END;"
    "CREATE TRIGGER impressions_count_del AFTER DELETE ON impressions BEGIN"
    "  UPDATE counts SET n = n - 1 WHERE name = 'impressions'; END;",

    /* 4: impressions as one row per list instead of one per item shown
     * (store_sqlite_impressions.c describes the row). Each row of version 3
     * becomes a one-item list that keeps its id as the list's id, so the
     * order stays; the sequence carries over, so no id is given twice. The
     * counts row "impressions" still counts items, now kept by the code
     * once per append, prune chunk or user deletion: a trigger per list cost
     * a third of an append. */
    "CREATE TABLE impression_lists ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  rec_id TEXT NOT NULL CHECK (length(CAST(rec_id AS BLOB)) BETWEEN 1 AND 23),"
    "  user_id TEXT NOT NULL CHECK (length(CAST(user_id AS BLOB)) BETWEEN 1 AND 128),"
    "  surface TEXT NOT NULL CHECK (length(CAST(surface AS BLOB)) BETWEEN 1 AND 15),"
    "  ts_ms INTEGER NOT NULL,"
    "  n INTEGER NOT NULL CHECK (n BETWEEN 1 AND 128),"
    "  items BLOB NOT NULL CHECK (length(items) BETWEEN 2 * n AND 129 * n),"
    "  position INTEGER NOT NULL CHECK (position >= 0),"
    "  positions BLOB CHECK (positions IS NULL OR length(positions) = 4 * n),"
    "  nfeatures INTEGER NOT NULL CHECK (nfeatures BETWEEN 0 AND 32),"
    "  features BLOB NOT NULL CHECK (length(features) = 4 * n * nfeatures)"
    ");"
    "CREATE INDEX impression_lists_user ON impression_lists(user_id);"
    "CREATE INDEX impression_lists_ts ON impression_lists(ts_ms);"
    "INSERT INTO sqlite_sequence (name, seq)"
    "  SELECT 'impression_lists', seq FROM sqlite_sequence WHERE name = 'impressions';"
    "INSERT INTO impression_lists (id, rec_id, user_id, surface, ts_ms, n, items, position,"
    "                              nfeatures, features)"
    "  SELECT id, rec_id, user_id, surface, ts_ms, 1, CAST(CAST(item_id AS BLOB) || x'00' AS BLOB),"
    "         position, length(features) / 4, features FROM impressions ORDER BY id;"
    "DROP TABLE impressions;" /* its indexes, triggers and sequence go with it */
    "UPDATE counts SET n = (SELECT coalesce(sum(n), 0) FROM impression_lists)"
    "  WHERE name = 'impressions';",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static const char *const scope_names[] = {"public", "read", "ingest", "admin"};

/* ---- statements ---------------------------------------------------------- */

#define ITEM_COLS                                                                      \
    "id, title, description, category, tags, attributes, price, currency, stock, "    \
    "w_cm, d_cm, h_cm, model_url, assets, hidden, created_ms, updated_ms"
#define EVENT_COLS "id, user_id, item_id, type, value, context, ts_ms"
#define KEY_COLS "id, scope, hash, label, created_ms, revoked"

enum { LIST_AFTER = 1, LIST_CATEGORY = 2, LIST_Q = 4, LIST_HIDDEN = 8 };
_Static_assert(ST_COUNT - ST_LIST_FIRST == 2 * LIST_HIDDEN,
               "one items_list statement per combination of filters");

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

/* ---- small helpers ------------------------------------------------------- */

/* Fills err with the connection's last error, logs it, returns VT_EDB. */
int sq_db_error(sqlite3 *db, struct vt_error *err, const char *what)
{
    const char *m = db ? sqlite3_errmsg(db) : "out of memory";
    vt_errorlog("database error", "what=\"%s\" sqlite=\"%s\"", what, m);
    return vt_error_set(err, VT_EDB, NULL, "%s: %s", what, m);
}

int sq_read_only_error(struct vt_error *err)
{
    return vt_error_set(err, VT_EINVAL, NULL, "the store was opened read-only");
}

/* The statement id of c, prepared on first use; NULL on error (logged). */
sqlite3_stmt *sq_conn_stmt(struct conn *c, int id)
{
    char sql[1024];
    const char *text = sql;

    if (c->st[id])
        return c->st[id];
    if (id >= ST_EMB_FIRST && id < ST_EMB_END) {
        text = sq_embed_stmt_sql[id - ST_EMB_FIRST];
    } else if (id < ST_FIXED) {
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
        sq_db_error(c->db, NULL, "preparing a statement");
        c->st[id] = NULL;
    }
    return c->st[id];
}

void sq_stmt_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* Runs a prepared statement that returns no rows. Returns the SQLite code
 * of the step (SQLITE_DONE on success); the message stays in the handle. */
int sq_stmt_run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Runs one of the argument-less statements (BEGIN, COMMIT, ...) on c. */
int sq_conn_exec(struct conn *c, int id, struct vt_error *err, const char *what)
{
    sqlite3_stmt *st = sq_conn_stmt(c, id);
    if (!st)
        return sq_db_error(c->db, err, what);
    if (sq_stmt_run(st) != SQLITE_DONE)
        return sq_db_error(c->db, err, what);
    return 0;
}

void sq_conn_close(struct conn *c)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        vt_warn("database close failed", "sqlite=\"%s\"", sqlite3_errmsg(c->db));
    c->db = NULL;
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
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
int sq_col_str(sqlite3_stmt *st, int col, char **out)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    *out = NULL;
    if (!t)
        return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : VT_ENOMEM;
    *out = vt_strndup((const char *)t, (size_t)sqlite3_column_bytes(st, col));
    return *out ? 0 : VT_ENOMEM;
}

/* A JSON column parsed (NULL stays NULL). Bad JSON is database damage. */
int sq_col_json(sqlite3_stmt *st, int col, json_t **out)
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
int sq_json_text(const json_t *j, char **out)
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

struct conn *sq_reader_get(struct sq *s)
{
    struct conn *c;
    pthread_mutex_lock(&s->rlock);
    while (s->nrfree == 0)
        pthread_cond_wait(&s->rcond, &s->rlock);
    c = &s->r[s->rfree[--s->nrfree]];
    pthread_mutex_unlock(&s->rlock);
    return c;
}

void sq_reader_put(struct sq *s, struct conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&s->rlock);
    s->rfree[s->nrfree++] = (int)(c - s->r);
    pthread_cond_signal(&s->rcond);
    pthread_mutex_unlock(&s->rlock);
}

/* The first row that read statement id gives for ?1 = key, through row().
 * VT_ENOTFOUND when there is none. */
static int read_one(struct sq *s, int id, const char *key, sq_row_fn row, void *out,
                    const char *what)
{
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, id);
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            rc = row(st, out);
        else if (rc == SQLITE_DONE)
            rc = VT_ENOTFOUND;
        else
            rc = sq_db_error(c->db, NULL, what);
    }
    sq_stmt_done(st);
    sq_reader_put(s, c);
    return rc;
}

/* Steps the bound statement st of c and appends one element (elem bytes,
 * zeroed, then filled by row()) per row to *arr, at most max of them; *more
 * (if not NULL) tells whether a further row exists. On error the elements
 * read so far stay in *arr and *n for the caller to free. */
int sq_read_rows(struct conn *c, sqlite3_stmt *st, size_t max, size_t elem, sq_row_fn row,
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
    return r == SQLITE_DONE ? 0 : sq_db_error(c->db, NULL, what);
}

/* Runs write statement id with ?1 = key (wlock held). VT_ENOTFOUND if it
 * changed no row. */
static int write_key(struct sq *s, int id, const char *key, const char *what)
{
    sqlite3_stmt *st = sq_conn_stmt(&s->w, id);
    if (!st)
        return sq_db_error(s->w.db, NULL, what);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sq_stmt_run(st) != SQLITE_DONE)
        return sq_db_error(s->w.db, NULL, what);
    return sqlite3_changes(s->w.db) > 0 ? 0 : VT_ENOTFOUND;
}

/* ---- opening --------------------------------------------------------------- */

/* Runs SQL (one or several statements), ignoring any rows. */
int sq_exec_sql(sqlite3 *db, const char *sql, struct vt_error *err, const char *path)
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

int sq_conn_open(struct conn *c, const char *path, int read_only, struct vt_error *err)
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

    rc = sq_exec_sql(db, "BEGIN IMMEDIATE", err, s->path);
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
        rc = sq_exec_sql(db, migrations[v], err, s->path);
        if (rc < 0)
            goto out;
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        rc = sq_exec_sql(db, sql, err, s->path);
        if (rc < 0)
            goto out;
        vt_info("database migrated", "path=\"%s\" version=%d", s->path, v + 1);
    }
    if (app == 0) {
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d", APPLICATION_ID);
        rc = sq_exec_sql(db, sql, err, s->path);
        if (rc < 0)
            goto out;
    }
    rc = sq_exec_sql(db, "COMMIT", err, s->path);
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
    int rc = sq_conn_open(&s->w, s->path, 0, err);
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
    rc = sq_exec_sql(s->w.db,
                     "PRAGMA synchronous = FULL;"
                     "PRAGMA foreign_keys = ON;"
                     "PRAGMA secure_delete = ON;"
                     "PRAGMA temp_store = MEMORY;" /* savepoint journals stay in memory */
                     "PRAGMA journal_size_limit = 67108864;", /* 64 MiB */
                     err, s->path);
    /* No checkpoint inside a commit: the checkpointer thread runs them
     * (store_sqlite_checkpoint.c). */
    if (rc == 0 && sqlite3_wal_autocheckpoint(s->w.db, 0) != SQLITE_OK)
        rc = sq_db_error(s->w.db, err, "turning off automatic checkpoints");
    if (rc == 0)
        rc = migrate(s, err);
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- SQLite's memory --------------------------------------------------------- */

/* SQLite asks for xRoundup(n) bytes and later reads the size back through
 * xSize; vt_malloc records exactly the size asked for, so rounding to 8
 * bytes here keeps the two in agreement. SQLite never asks for 0 bytes, nor
 * for 2 GiB or more. */
static void *sqlite_mem_malloc(int n)
{
    return n > 0 ? vt_malloc((size_t)n) : NULL;
}

static void sqlite_mem_free(void *p)
{
    vt_free(p);
}

static void *sqlite_mem_realloc(void *p, int n)
{
    return n > 0 ? vt_realloc(p, (size_t)n) : NULL;
}

static int sqlite_mem_size(void *p)
{
    return (int)vt_alloc_size(p);
}

static int sqlite_mem_roundup(int n)
{
    return n > INT_MAX - 7 ? n : (n + 7) & ~7;
}

static int sqlite_mem_init(void *app)
{
    (void)app;
    return SQLITE_OK;
}

static void sqlite_mem_shutdown(void *app)
{
    (void)app;
}

/* Not const: sqlite3_config() reads it through a plain pointer (and copies
 * it). */
static sqlite3_mem_methods sqlite_mem_methods = {
    .xMalloc = sqlite_mem_malloc,
    .xFree = sqlite_mem_free,
    .xRealloc = sqlite_mem_realloc,
    .xSize = sqlite_mem_size,
    .xRoundup = sqlite_mem_roundup,
    .xInit = sqlite_mem_init,
    .xShutdown = sqlite_mem_shutdown,
};

static pthread_once_t sqlite_mem_once = PTHREAD_ONCE_INIT;

/* Runs once, before this process's first other SQLite call: sqlite3_config()
 * works only before SQLite initialises itself (at the first open). */
static void sqlite_mem_install(void)
{
    int rc = sqlite3_config(SQLITE_CONFIG_MALLOC, &sqlite_mem_methods);
    if (rc != SQLITE_OK)
        vt_warn("SQLite's memory is not counted in bytes in use",
                "sqlite=\"%s\"", sqlite3_errstr(rc));
}

static void sq_close(void *impl);

static int sq_open(const char *target, const struct vt_store_options *opt, void **impl,
                   struct vt_error *err)
{
    struct sq *s;
    pthread_condattr_t ca;
    int rc;

    *impl = NULL;
    pthread_once(&sqlite_mem_once, sqlite_mem_install);
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
    pthread_mutex_init(&s->ck.run, NULL);
    pthread_mutex_init(&s->ck.lock, NULL);
    pthread_cond_init(&s->ck.cond, &ca);
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
        rc = sq_conn_open(&s->r[i], s->path, 1, err);
        if (rc < 0)
            goto out;
        s->rfree[s->nrfree++] = i;
    }
    if (s->read_only) {
        rc = check_version(s, err);
        if (rc < 0)
            goto out;
    } else {
        rc = sq_checkpointer_start(s, err);
        if (rc == 0)
            rc = sq_writer_start(s, err);
        if (rc < 0)
            goto out;
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
    sq_writer_stop(s); /* commits what is queued */
    sq_checkpointer_stop(s);
    for (int i = 0; i < N_READERS; i++)
        sq_conn_close(&s->r[i]);
    sq_conn_close(&s->w); /* last: checkpoints and removes the -wal file */
    pthread_cond_destroy(&s->ck.cond);
    pthread_mutex_destroy(&s->ck.lock);
    pthread_mutex_destroy(&s->ck.run);
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
    int rc = sq_json_text(it->title, &t->title);
    if (rc == 0)
        rc = sq_json_text(it->description, &t->description);
    if (rc == 0)
        rc = sq_json_text(it->tags, &t->tags);
    if (rc == 0)
        rc = sq_json_text(it->attributes, &t->attributes);
    if (rc == 0)
        rc = sq_json_text(it->assets, &t->assets);
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
    sq_bind_text(st, 2, t->title);
    sq_bind_text(st, 3, t->description);
    sq_bind_text(st, 4, it->category);
    sq_bind_text(st, 5, t->tags);
    sq_bind_text(st, 6, t->attributes);
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
    sq_bind_text(st, 13, it->model_url);
    sq_bind_text(st, 14, t->assets);
    sqlite3_bind_int(st, 15, it->hidden ? 1 : 0);
    sqlite3_bind_int64(st, 16, it->created_ms > 0 ? it->created_ms : now);
    sqlite3_bind_int64(st, 17, now);
    sq_bind_text(st, 18, t->search);
}

static int item_row(sqlite3_stmt *st, void *out)
{
    struct vt_item *it = out;
    int rc;

    vt_item_init(it);
    rc = sq_col_str(st, 0, &it->id);
    if (rc == 0)
        rc = sq_col_json(st, 1, &it->title);
    if (rc == 0)
        rc = sq_col_json(st, 2, &it->description);
    if (rc == 0)
        rc = sq_col_str(st, 3, &it->category);
    if (rc == 0)
        rc = sq_col_json(st, 4, &it->tags);
    if (rc == 0)
        rc = sq_col_json(st, 5, &it->attributes);
    if (rc == 0)
        rc = sq_col_str(st, 12, &it->model_url);
    if (rc == 0)
        rc = sq_col_json(st, 13, &it->assets);
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
        return sq_read_only_error(err);
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
    rc = sq_conn_exec(&s->w, ST_BEGIN, err, "storing items");
    if (rc < 0)
        goto out;
    in_tx = 1;
    st = sq_conn_stmt(&s->w, mode == VT_PUT_CREATE ? ST_ITEM_INSERT : ST_ITEM_UPSERT);
    if (!st) {
        rc = sq_db_error(s->w.db, err, "storing items");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        item_bind(st, &items[i], &tx[i], now);
        if (sq_stmt_run(st) != SQLITE_DONE) {
            if (bad)
                *bad = i;
            if (sqlite3_extended_errcode(s->w.db) == SQLITE_CONSTRAINT_PRIMARYKEY)
                rc = vt_error_set(err, VT_ECONFLICT, "id", "item '%s' already exists",
                                  items[i].id);
            else
                rc = sq_db_error(s->w.db, err, "storing items");
            goto out;
        }
    }
    rc = sq_conn_exec(&s->w, ST_COMMIT, err, "storing items");
    if (rc < 0)
        goto out;
    in_tx = 0;
out:
    if (in_tx)
        sq_conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back items");
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
        return sq_read_only_error(NULL);
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

    c = sq_reader_get(s);
    st = sq_conn_stmt(c, ST_LIST_FIRST + mask);
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

    rc = sq_read_rows(c, st, q->limit, sizeof *items, item_row, (void **)&items, &count, more,
                      "listing items");
out:
    sq_stmt_done(st);
    sq_reader_put(s, c);
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
    int rc = sq_col_str(st, 0, &u->id);
    if (rc == 0)
        rc = sq_col_json(st, 1, &u->attributes);
    if (rc == 0)
        rc = sq_col_json(st, 2, &u->consent);
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
        return sq_read_only_error(NULL);
    rc = sq_json_text(u->attributes, &attrs);
    if (rc == 0)
        rc = sq_json_text(u->consent, &consent);
    if (rc < 0)
        goto out;
    pthread_mutex_lock(&s->wlock);
    st = sq_conn_stmt(&s->w, ST_USER_PUT);
    if (!st) {
        rc = VT_EDB;
    } else {
        sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
        sq_bind_text(st, 2, attrs);
        sq_bind_text(st, 3, consent);
        sqlite3_bind_int64(st, 4, vt_time_now_ms());
        if (sq_stmt_run(st) != SQLITE_DONE)
            rc = sq_db_error(s->w.db, NULL, "storing a user");
    }
    pthread_mutex_unlock(&s->wlock);
out:
    vt_free(attrs);
    vt_free(consent);
    return rc;
}

/* Deletes the user's events, impressions and the user in one transaction. secure_delete
 * zeroes the freed bytes in the database file; emptying the log (a TRUNCATE
 * checkpoint) then removes the old pages the -wal file still held. */
static int sq_user_delete(void *impl, const char *id)
{
    struct sq *s = impl;
    int in_tx = 0, shown, rc;

    if (s->read_only)
        return sq_read_only_error(NULL);
    pthread_mutex_lock(&s->wlock);
    rc = sq_conn_exec(&s->w, ST_BEGIN, NULL, "deleting a user");
    if (rc < 0)
        goto out;
    in_tx = 1;
    rc = write_key(s, ST_USER_EVENTS_DELETE, id, "deleting a user's events");
    if (rc < 0 && rc != VT_ENOTFOUND)
        goto out;
    shown = rc = sq_impressions_delete_user(s, id);
    if (rc < 0)
        goto out;
    rc = write_key(s, ST_USER_DELETE, id, "deleting a user");
    if (rc == VT_ENOTFOUND && shown > 0)
        rc = 0; /* shown lists before any event or profile: still theirs to erase */
    if (rc == 0)
        rc = sq_conn_exec(&s->w, ST_COMMIT, NULL, "deleting a user");
    if (rc < 0)
        goto out;
    in_tx = 0;
    /* Bounded: readers may hold the log a moment, and appends wait on wlock. */
    if (sq_log_truncate(s) != SQLITE_OK)
        vt_warn("emptying the log after a user deletion failed; the old pages stay in it "
                "until the checkpointer empties it", "sqlite=\"%s\"", sqlite3_errmsg(s->w.db));
out:
    if (in_tx)
        sq_conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back a user deletion");
    pthread_mutex_unlock(&s->wlock);
    return rc;
}


/* ---- stats ------------------------------------------------------------------ */

int64_t sq_file_size(const char *path, const char *suffix)
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
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, ST_COUNTS);
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
        rc = sq_db_error(c->db, NULL, "reading counts");
out:
    sq_stmt_done(st);
    sq_reader_put(s, c);
    st_out->db_bytes = sq_file_size(s->path, "") + sq_file_size(s->path, "-wal");
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
        return sq_read_only_error(NULL);
    if (len > INT32_MAX)
        return VT_ETOOBIG;
    pthread_mutex_lock(&s->wlock);
    st = sq_conn_stmt(&s->w, ST_META_PUT);
    if (!st) {
        rc = VT_EDB;
    } else {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
        if (sq_stmt_run(st) != SQLITE_DONE)
            rc = sq_db_error(s->w.db, NULL, "storing metadata");
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
        return sq_read_only_error(NULL);
    pthread_mutex_lock(&s->wlock);
    st = sq_conn_stmt(&s->w, ST_KEY_ADD);
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
    if (sq_stmt_run(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(s->w.db) == SQLITE_CONSTRAINT_PRIMARYKEY)
            rc = VT_ECONFLICT;
        else
            rc = sq_db_error(s->w.db, NULL, "storing a key");
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
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, ST_KEY_LIST);
    struct vt_key *keys = NULL;
    size_t count = 0;
    int rc = VT_EDB;

    if (st)
        rc = sq_read_rows(c, st, SIZE_MAX, sizeof *keys, key_row, (void **)&keys, &count, NULL,
                          "listing keys");
    sq_stmt_done(st);
    sq_reader_put(s, c);
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
        return sq_read_only_error(NULL);
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
    .embeddings_put = sq_embeddings_put,
    .item_embeddings = sq_item_embeddings,
    .embeddings_scan = sq_embeddings_scan,
    .embeddings_stale = sq_embeddings_stale,
    .embeddings_missing = sq_embeddings_missing,
    .embeddings_count = sq_embeddings_count,
    .embeddings_prune = sq_embeddings_prune,
    .impressions_append = sq_impressions_append,
    .impressions_scan = sq_impressions_scan,
    .impressions_prune = sq_impressions_prune,
    .impressions_count = sq_impressions_count,
};
