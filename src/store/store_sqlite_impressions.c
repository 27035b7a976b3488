/*
 * store_sqlite_impressions.c - impressions in the SQLite back-end (table
 * impressions, schema version 3; see migrations[] in store_sqlite.c).
 *
 * Row format. One row per item shown at one position of one list:
 * rec_id (1..23 bytes), user_id and item_id (1..128 bytes), surface
 * (1..15 bytes), position (>= 0), ts_ms, and features, a BLOB of
 * nfeatures float32 values, little-endian whatever the host's byte order
 * (0..128 bytes, a multiple of 4; CHECK constraints enforce both). id is
 * AUTOINCREMENT so that ids only grow, even after the newest rows were
 * pruned: a scan cursor stays valid. user_id is deliberately not a foreign
 * key (a shopper may be shown lists before their first event); deleting a
 * user deletes their rows explicitly (sq_impressions_delete_user, inside
 * the user deletion's transaction). The counts table keeps the row count
 * ("impressions", by triggers).
 *
 * Statements are prepared per call rather than cached on the connection:
 * impressions are written about once a second in batches and read in large
 * pages, so preparing costs nothing measurable. Writes run on the writer
 * connection under wlock; reads take a reader from the pool.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "core/alloc.h"
#include "store/store_sqlite_int.h"

#define IMP_COLS "id, rec_id, user_id, item_id, surface, position, features, ts_ms"
#define PRUNE_CHUNK 5000 /* rows deleted per transaction, so appends wait little */

static const char sql_insert[] =
    "INSERT INTO impressions (rec_id, user_id, item_id, surface, position, features, ts_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_scan[] =
    "SELECT " IMP_COLS " FROM impressions WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char sql_prune[] =
    "DELETE FROM impressions WHERE id IN (SELECT id FROM impressions WHERE ts_ms < ?1 "
    "LIMIT ?2)";
static const char sql_count[] = "SELECT n FROM counts WHERE name = 'impressions'";
static const char sql_delete_user[] = "DELETE FROM impressions WHERE user_id = ?1";

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct vt_error *err,
                   const char *what)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return sq_db_error(db, err, what);
    }
    return 0;
}

/* ---- writing --------------------------------------------------------------- */

static void features_to_le(const float *v, uint32_t n, unsigned char *out)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        out[4 * i] = (unsigned char)u;
        out[4 * i + 1] = (unsigned char)(u >> 8);
        out[4 * i + 2] = (unsigned char)(u >> 16);
        out[4 * i + 3] = (unsigned char)(u >> 24);
    }
}

int sq_impressions_append(void *impl, struct vt_impression *imps, size_t n, size_t *bad,
                          struct vt_error *err)
{
    struct sq *s = impl;
    sqlite3_stmt *ins = NULL;
    unsigned char blob[4 * VT_IMPRESSION_MAX_FEATURES];
    int in_tx = 0, rc;

    if (s->read_only)
        return sq_read_only_error(err);
    pthread_mutex_lock(&s->wlock);
    rc = prepare(s->w.db, sql_insert, &ins, err, "storing impressions");
    if (rc < 0)
        goto out;
    rc = sq_conn_exec(&s->w, ST_BEGIN, err, "storing impressions");
    if (rc < 0)
        goto out;
    in_tx = 1;
    for (size_t i = 0; i < n; i++) {
        struct vt_impression *m = &imps[i];
        features_to_le(m->features, m->nfeatures, blob);
        sqlite3_bind_text(ins, 1, m->rec_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, m->user_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, m->item_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, m->surface, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 5, m->position);
        sqlite3_bind_blob(ins, 6, blob, (int)(4 * m->nfeatures), SQLITE_STATIC);
        sqlite3_bind_int64(ins, 7, m->ts_ms);
        if (sq_stmt_run(ins) != SQLITE_DONE) {
            if (bad)
                *bad = i;
            if ((sqlite3_extended_errcode(s->w.db) & 0xff) == SQLITE_CONSTRAINT)
                rc = vt_error_set(err, VT_EINVAL, NULL, "impression %zu: %s", i,
                                  sqlite3_errmsg(s->w.db));
            else
                rc = sq_db_error(s->w.db, err, "storing impressions");
            goto out;
        }
        m->id = sqlite3_last_insert_rowid(s->w.db);
    }
    rc = sq_conn_exec(&s->w, ST_COMMIT, err, "storing impressions");
    if (rc < 0)
        goto out;
    in_tx = 0;
out:
    if (in_tx) {
        sq_conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back impressions");
        for (size_t i = 0; i < n; i++)
            imps[i].id = 0;
    }
    sqlite3_finalize(ins);
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

int sq_impressions_prune(void *impl, int64_t before_ms, int64_t *deleted)
{
    struct sq *s = impl;
    int64_t total = 0;
    int rc = 0;

    if (s->read_only)
        return sq_read_only_error(NULL);
    for (;;) {
        sqlite3_stmt *st = NULL;
        int64_t k = 0;
        /* One chunk per hold of wlock: event appends wait for one chunk at
         * most, however much there is to delete. */
        pthread_mutex_lock(&s->wlock);
        rc = prepare(s->w.db, sql_prune, &st, NULL, "pruning impressions");
        if (rc == 0) {
            sqlite3_bind_int64(st, 1, before_ms);
            sqlite3_bind_int64(st, 2, PRUNE_CHUNK);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = sq_db_error(s->w.db, NULL, "pruning impressions");
            else
                k = sqlite3_changes64(s->w.db);
        }
        sqlite3_finalize(st);
        pthread_mutex_unlock(&s->wlock);
        if (rc < 0)
            break;
        total += k;
        if (k < PRUNE_CHUNK)
            break;
    }
    if (deleted)
        *deleted = total;
    return rc;
}

/* Called by sq_user_delete with wlock held, inside its transaction; returns
 * the number of rows deleted. */
int sq_impressions_delete_user(struct sq *s, const char *user_id)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s->w.db, sql_delete_user, &st, NULL, "deleting a user's impressions");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sq_db_error(s->w.db, NULL, "deleting a user's impressions");
    else
        rc = (int)(sqlite3_changes64(s->w.db) > INT32_MAX ? INT32_MAX
                                                          : sqlite3_changes64(s->w.db));
    sqlite3_finalize(st);
    return rc;
}

/* ---- reading --------------------------------------------------------------- */

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t size)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

/* The row's columns; a features blob of the wrong length is damage. */
static int imp_row(sqlite3_stmt *st, void *out)
{
    struct vt_impression *m = out;
    const unsigned char *p;
    int bytes;

    m->id = sqlite3_column_int64(st, 0);
    copy_text(st, 1, m->rec_id, sizeof m->rec_id);
    copy_text(st, 2, m->user_id, sizeof m->user_id);
    copy_text(st, 3, m->item_id, sizeof m->item_id);
    copy_text(st, 4, m->surface, sizeof m->surface);
    m->position = (int32_t)sqlite3_column_int64(st, 5);
    m->ts_ms = sqlite3_column_int64(st, 7);
    p = sqlite3_column_blob(st, 6);
    bytes = sqlite3_column_bytes(st, 6);
    if (bytes < 0 || bytes % 4 != 0 || bytes > 4 * VT_IMPRESSION_MAX_FEATURES)
        return VT_EDB;
    if (bytes > 0 && !p)
        return VT_ENOMEM;
    m->nfeatures = (uint32_t)bytes / 4;
    for (uint32_t i = 0; i < m->nfeatures; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(&m->features[i], &u, 4);
    }
    return 0;
}

int sq_impressions_scan(void *impl, int64_t after_id, size_t limit, struct vt_impression **out,
                        size_t *n)
{
    struct sq *s = impl;
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = NULL;
    struct vt_impression *v = NULL;
    size_t count = 0;
    int rc = prepare(c->db, sql_scan, &st, NULL, "scanning impressions");

    if (rc == 0) {
        sqlite3_bind_int64(st, 1, after_id);
        sqlite3_bind_int64(st, 2, (int64_t)limit);
        rc = sq_read_rows(c, st, limit, sizeof *v, imp_row, (void **)&v, &count, NULL,
                          "scanning impressions");
    }
    sqlite3_finalize(st);
    sq_reader_put(s, c);
    if (rc < 0) {
        vt_free(v);
        return rc;
    }
    *out = v;
    *n = count;
    return 0;
}

int sq_impressions_count(void *impl, int64_t *count)
{
    struct sq *s = impl;
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = NULL;
    int rc = prepare(c->db, sql_count, &st, NULL, "counting impressions");

    if (rc == 0) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            *count = sqlite3_column_int64(st, 0);
        else
            rc = r == SQLITE_DONE ? VT_EDB : sq_db_error(c->db, NULL, "counting impressions");
    }
    sqlite3_finalize(st);
    sq_reader_put(s, c);
    return rc;
}
