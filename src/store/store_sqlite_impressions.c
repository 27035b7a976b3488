/*
 * store_sqlite_impressions.c - impressions in the SQLite back-end (table
 * impression_lists, schema version 4; see migrations[] in store_sqlite.c).
 *
 * One row per list shown, not per item: a list of ten items is one insert
 * and one entry in each index instead of ten of each and ten trigger steps,
 * which made logging impressions a fifth of a busy server's CPU. Callers
 * still see one vt_impression per item; this file packs and unpacks.
 *
 * Row format. Consecutive records of one append with the same rec_id,
 * user_id, surface, ts_ms and nfeatures form a row, at most ROW_MAX (128) of
 * them (a longer run, or a list split over two appends, is two rows):
 *   id         INTEGER, AUTOINCREMENT: the list id, never given twice, even
 *              after the newest rows were pruned
 *   rec_id     TEXT, 1..23 bytes      user_id  TEXT, 1..128 bytes
 *   surface    TEXT, 1..15 bytes      ts_ms    INTEGER
 *   n          INTEGER, 1..128: the records (items shown) in the row
 *   items      BLOB: the n item ids in order, each 1..128 bytes followed by
 *              one NUL byte (ids cannot hold a NUL: they are C strings)
 *   position   INTEGER >= 0: the first record's position
 *   positions  NULL when record k is at position + k (a whole list, or the
 *              rest of a split one); otherwise a BLOB of n int32 values,
 *              little-endian, one position per record
 *   nfeatures  INTEGER, 0..32: features per record
 *   features   BLOB of n * nfeatures float32 values, little-endian whatever
 *              the host's byte order, record after record
 * CHECK constraints bound every size. A blob that does not parse when read
 * is damage (VT_EDB).
 *
 * Record ids. Record k (0-based) of the row with list id L has id
 * L * ROW_MAX + k: ascending in the order appended, and a scan cursor (the
 * last id seen) stays valid across appends and prunes.
 *
 * Indexes: user_id (deleting a user) and ts_ms (pruning by time; the ids
 * grow with time too, but the times are the caller's and a clock may step
 * back, and an index entry per list is cheap now, see docs/ranker.md). The
 * counts row "impressions" counts records, kept here in the transaction
 * that changes them: once per append, prune chunk or user deletion (a
 * trigger per row cost a third of an append). user_id is deliberately not
 * a foreign key (a shopper may be shown lists before their first event);
 * deleting a user deletes their rows explicitly (sq_impressions_delete_user,
 * inside the user deletion's transaction).
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
#include "core/log.h"
#include "store/store_sqlite_int.h"

#define ROW_MAX 128       /* records in one row; the stride of record ids */
#define PRUNE_CHUNK 1000  /* rows (lists) deleted per transaction, so appends wait little */

_Static_assert(VT_IMPRESSION_MAX_FEATURES == 32, "the CHECK on nfeatures says 32");
_Static_assert(VT_ID_MAX == 128, "the CHECKs on ids say 128 bytes");

#define LIST_COLS                                                                      \
    "id, rec_id, user_id, surface, ts_ms, n, items, position, positions, nfeatures, "  \
    "features"

static const char sql_insert[] =
    "INSERT INTO impression_lists (rec_id, user_id, surface, ts_ms, n, items, position, "
    "positions, nfeatures, features) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_scan[] =
    "SELECT " LIST_COLS " FROM impression_lists WHERE id >= ?1 ORDER BY id LIMIT ?2";
static const char sql_prune[] =
    "DELETE FROM impression_lists WHERE id IN (SELECT id FROM impression_lists "
    "WHERE ts_ms < ?1 LIMIT ?2) RETURNING n";
static const char sql_count[] = "SELECT n FROM counts WHERE name = 'impressions'";
static const char sql_count_add[] = "UPDATE counts SET n = n + ?1 WHERE name = 'impressions'";
static const char sql_delete_user[] =
    "DELETE FROM impression_lists WHERE user_id = ?1 RETURNING n";

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct vt_error *err,
                   const char *what)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return sq_db_error(db, err, what);
    }
    return 0;
}

static void u32_to_le(uint32_t u, unsigned char *out)
{
    out[0] = (unsigned char)u;
    out[1] = (unsigned char)(u >> 8);
    out[2] = (unsigned char)(u >> 16);
    out[3] = (unsigned char)(u >> 24);
}

static uint32_t u32_from_le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Adds delta to the count of records (writer connection, wlock held,
 * inside the caller's transaction). */
static int count_add(struct sq *s, int64_t delta, struct vt_error *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s->w.db, sql_count_add, &st, err, what);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, delta);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sq_db_error(s->w.db, err, what);
    else if (sqlite3_changes(s->w.db) != 1)
        rc = vt_error_set(err, VT_EDB, NULL, "%s: the counts table has no row 'impressions'",
                          what);
    sqlite3_finalize(st);
    return rc;
}

/* ---- writing --------------------------------------------------------------- */

/* One row's blobs, packed from its records. */
struct row_blobs {
    unsigned char items[ROW_MAX * (VT_ID_MAX + 1)];
    unsigned char positions[4 * ROW_MAX];
    unsigned char features[4 * ROW_MAX * VT_IMPRESSION_MAX_FEATURES];
};

/* Whether b continues the row a started. */
static int same_row(const struct vt_impression *a, const struct vt_impression *b)
{
    return a->ts_ms == b->ts_ms && a->nfeatures == b->nfeatures &&
           strcmp(a->rec_id, b->rec_id) == 0 && strcmp(a->user_id, b->user_id) == 0 &&
           strcmp(a->surface, b->surface) == 0;
}

/* Binds the row of records m[0..k) to ins (blobs from rb, which must live
 * until the step). store.c validated every record: ids are terminated and
 * fit their arrays, so the blobs fit rb. */
static void bind_row(sqlite3_stmt *ins, const struct vt_impression *m, size_t k,
                     struct row_blobs *rb)
{
    size_t ni = 0, nf = m[0].nfeatures;
    int consecutive = 1;

    for (size_t r = 0; r < k; r++) {
        size_t len = strlen(m[r].item_id) + 1;
        memcpy(rb->items + ni, m[r].item_id, len);
        ni += len;
        u32_to_le((uint32_t)m[r].position, rb->positions + 4 * r);
        if ((int64_t)m[r].position != (int64_t)m[0].position + (int64_t)r)
            consecutive = 0;
        for (size_t f = 0; f < nf; f++) {
            uint32_t u;
            memcpy(&u, &m[r].features[f], 4);
            u32_to_le(u, rb->features + 4 * (r * nf + f));
        }
    }
    sqlite3_bind_text(ins, 1, m[0].rec_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, m[0].user_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, m[0].surface, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, m[0].ts_ms);
    sqlite3_bind_int64(ins, 5, (int64_t)k);
    sqlite3_bind_blob(ins, 6, rb->items, (int)ni, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 7, m[0].position);
    if (consecutive)
        sqlite3_bind_null(ins, 8);
    else
        sqlite3_bind_blob(ins, 8, rb->positions, (int)(4 * k), SQLITE_STATIC);
    sqlite3_bind_int64(ins, 9, (int64_t)nf);
    sqlite3_bind_blob(ins, 10, rb->features, (int)(4 * k * nf), SQLITE_STATIC);
}

int sq_impressions_append(void *impl, struct vt_impression *imps, size_t n, size_t *bad,
                          struct vt_error *err)
{
    struct sq *s = impl;
    sqlite3_stmt *ins = NULL;
    struct row_blobs *rb;
    int in_tx = 0, rc;

    if (s->read_only)
        return sq_read_only_error(err);
    rb = vt_malloc(sizeof *rb);
    if (!rb)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory storing impressions");
    pthread_mutex_lock(&s->wlock);
    rc = prepare(s->w.db, sql_insert, &ins, err, "storing impressions");
    if (rc < 0)
        goto out;
    rc = sq_conn_exec(&s->w, ST_BEGIN, err, "storing impressions");
    if (rc < 0)
        goto out;
    in_tx = 1;
    for (size_t i = 0, k; i < n; i += k) {
        int64_t list;
        for (k = 1; i + k < n && k < ROW_MAX && same_row(&imps[i], &imps[i + k]); k++)
            ;
        bind_row(ins, &imps[i], k, rb);
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
        list = sqlite3_last_insert_rowid(s->w.db);
        if (list <= 0 || list > INT64_MAX / ROW_MAX) {
            rc = vt_error_set(err, VT_EDB, NULL, "storing impressions: list id %lld is out "
                              "of the range of impression ids", (long long)list);
            goto out;
        }
        for (size_t r = 0; r < k; r++)
            imps[i + r].id = list * ROW_MAX + (int64_t)r;
    }
    rc = count_add(s, (int64_t)n, err, "storing impressions");
    if (rc < 0)
        goto out;
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
    vt_free(rb);
    return rc;
}

/* Steps a DELETE ... RETURNING n to its end; *records gets the sum of n
 * (records deleted), *rows the rows. SQLITE_DONE or the failing code. */
static int delete_returning(sqlite3_stmt *st, int64_t *records, int64_t *rows)
{
    int r;
    *records = *rows = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        *records += sqlite3_column_int64(st, 0);
        (*rows)++;
    }
    return r;
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
        int64_t records = 0, rows = 0;
        int in_tx;
        /* One chunk per hold of wlock, in a transaction with its count:
         * event appends wait for one chunk at most, however much there is
         * to delete. */
        pthread_mutex_lock(&s->wlock);
        rc = sq_conn_exec(&s->w, ST_BEGIN, NULL, "pruning impressions");
        in_tx = rc == 0;
        if (rc == 0)
            rc = prepare(s->w.db, sql_prune, &st, NULL, "pruning impressions");
        if (rc == 0) {
            sqlite3_bind_int64(st, 1, before_ms);
            sqlite3_bind_int64(st, 2, PRUNE_CHUNK);
            if (delete_returning(st, &records, &rows) != SQLITE_DONE)
                rc = sq_db_error(s->w.db, NULL, "pruning impressions");
        }
        sqlite3_finalize(st);
        if (rc == 0 && rows > 0)
            rc = count_add(s, -records, NULL, "pruning impressions");
        if (rc == 0)
            rc = sq_conn_exec(&s->w, ST_COMMIT, NULL, "pruning impressions");
        if (rc < 0 && in_tx)
            sq_conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back a prune of impressions");
        pthread_mutex_unlock(&s->wlock);
        if (rc < 0)
            break;
        total += records;
        if (rows < PRUNE_CHUNK)
            break;
    }
    if (deleted)
        *deleted = total;
    return rc;
}

/* Called by sq_user_delete with wlock held, inside its transaction; returns
 * the number of records deleted. */
int sq_impressions_delete_user(struct sq *s, const char *user_id)
{
    sqlite3_stmt *st = NULL;
    int64_t records = 0, rows = 0;
    int rc = prepare(s->w.db, sql_delete_user, &st, NULL, "deleting a user's impressions");
    if (rc < 0)
        return rc;
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    if (delete_returning(st, &records, &rows) != SQLITE_DONE)
        rc = sq_db_error(s->w.db, NULL, "deleting a user's impressions");
    sqlite3_finalize(st);
    if (rc == 0 && rows > 0)
        rc = count_add(s, -records, NULL, "deleting a user's impressions");
    if (rc < 0)
        return rc;
    return records > INT32_MAX ? INT32_MAX : (int)records;
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

/* A row as it was read, its blobs checked against its n and nfeatures. */
struct row {
    int64_t list;
    size_t n;
    uint32_t nfeatures;
    int64_t position;
    const unsigned char *items, *positions, *features;
    size_t items_bytes;
};

/* Reads and checks the current row of st: 0, VT_EDB when a size or a blob
 * is wrong (damage), or VT_ENOMEM. */
static int row_read(sqlite3_stmt *st, struct row *w)
{
    int64_t n = sqlite3_column_int64(st, 5), nf = sqlite3_column_int64(st, 9);
    int has_positions = sqlite3_column_type(st, 8) != SQLITE_NULL, ib, pb, fb;

    w->list = sqlite3_column_int64(st, 0);
    w->position = sqlite3_column_int64(st, 7);
    if (n < 1 || n > ROW_MAX || nf < 0 || nf > VT_IMPRESSION_MAX_FEATURES || w->list <= 0 ||
        w->list > INT64_MAX / ROW_MAX || w->position < 0 || w->position > INT32_MAX)
        return VT_EDB;
    w->n = (size_t)n;
    w->nfeatures = (uint32_t)nf;
    w->items = sqlite3_column_blob(st, 6);
    ib = sqlite3_column_bytes(st, 6);
    w->positions = sqlite3_column_blob(st, 8);
    pb = sqlite3_column_bytes(st, 8);
    w->features = sqlite3_column_blob(st, 10);
    fb = sqlite3_column_bytes(st, 10);
    if ((ib > 0 && !w->items) || (fb > 0 && !w->features) || (has_positions && !w->positions))
        return sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM ? VT_ENOMEM : VT_EDB;
    if (ib < 2 * (int)n || (w->positions && pb != 4 * (int)n) || fb != 4 * (int)(n * nf))
        return VT_EDB;
    w->items_bytes = (size_t)ib;
    return 0;
}

/* Fills m with record k of row w (*at: where its item id starts in the
 * items blob, advanced past it). VT_EDB when the blob is malformed. */
static int row_record(const struct row *w, size_t k, size_t *at, struct vt_impression *m)
{
    const unsigned char *p = w->items + *at;
    const unsigned char *end = memchr(p, '\0', w->items_bytes - *at);
    size_t len = end ? (size_t)(end - p) : 0;
    int64_t pos;

    if (len < 1 || len > VT_ID_MAX)
        return VT_EDB;
    memcpy(m->item_id, p, len);
    m->item_id[len] = '\0';
    *at += len + 1;
    if (k + 1 == w->n && *at != w->items_bytes)
        return VT_EDB; /* bytes past the last id */
    pos = w->positions ? (int64_t)u32_from_le(w->positions + 4 * k) : w->position + (int64_t)k;
    if (pos > INT32_MAX) /* a negative int32 read as unsigned, or past int32 */
        return VT_EDB;
    m->position = (int32_t)pos;
    m->id = w->list * ROW_MAX + (int64_t)k;
    m->nfeatures = w->nfeatures;
    for (uint32_t f = 0; f < w->nfeatures; f++) {
        uint32_t u = u32_from_le(w->features + 4 * (k * w->nfeatures + f));
        memcpy(&m->features[f], &u, 4);
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
    size_t count = 0, cap = 0;
    int r = SQLITE_DONE, rc = prepare(c->db, sql_scan, &st, NULL, "scanning impressions");

    if (rc == 0) {
        /* The row holding after_id first (its records up to after_id are
         * skipped), then at most limit rows: each holds one record or more. */
        sqlite3_bind_int64(st, 1, after_id / ROW_MAX);
        sqlite3_bind_int64(st, 2, limit > INT64_MAX - 1 ? INT64_MAX : (int64_t)limit + 1);
    }
    while (rc == 0 && count < limit && (r = sqlite3_step(st)) == SQLITE_ROW) {
        struct row w;
        size_t at = 0;
        rc = row_read(st, &w);
        for (size_t k = 0; rc == 0 && k < w.n; k++) {
            struct vt_impression *m;
            if (count == cap) {
                size_t ncap = cap ? 2 * cap : 256;
                if (ncap > limit)
                    ncap = limit;
                m = vt_realloc(v, ncap * sizeof *v);
                if (!m) {
                    rc = VT_ENOMEM;
                    break;
                }
                v = m;
                cap = ncap;
            }
            m = &v[count];
            memset(m, 0, sizeof *m);
            rc = row_record(&w, k, &at, m);
            if (rc < 0)
                break;
            if (m->id <= after_id)
                continue; /* at or before the cursor: already read */
            copy_text(st, 1, m->rec_id, sizeof m->rec_id);
            copy_text(st, 2, m->user_id, sizeof m->user_id);
            copy_text(st, 3, m->surface, sizeof m->surface);
            m->ts_ms = sqlite3_column_int64(st, 4);
            if (++count == limit)
                break;
        }
        if (rc == VT_EDB)
            vt_errorlog("damaged impression row", "list=%lld", (long long)w.list);
    }
    if (rc == 0 && r != SQLITE_ROW && r != SQLITE_DONE)
        rc = sq_db_error(c->db, NULL, "scanning impressions");
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
