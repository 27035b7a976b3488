/*
 * store_sqlite_embed.c - item embeddings in the SQLite back-end (table
 * item_embeddings, schema version 2; see migrations[] in store_sqlite.c).
 *
 * Row format. vector is a BLOB of dim float32 values, little-endian
 * whatever the host's byte order (4 * dim bytes, which a CHECK constraint
 * enforces); text_hash is the caller's 64-bit fingerprint stored as the
 * signed integer with the same bits. Rows are keyed by (item_id, lang,
 * model_id); the index item_embeddings_model serves scans and deletions by
 * model.
 *
 * Writes run on the writer connection under wlock, like every write of
 * this back-end; reads take a reader connection from the pool. A put is one
 * transaction: for every (item, model) it names, the item's rows of that
 * model are deleted first, then the given rows are inserted, so the set
 * given is the set stored.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "store/store_sqlite_int.h"

#define EMB_COLS "item_id, lang, model_id, dim, vector, text_hash, updated_ms"

const char *const sq_embed_stmt_sql[ST_EMB_END - ST_EMB_FIRST] = {
    [ST_EMB_DELETE_SET - ST_EMB_FIRST] =
        "DELETE FROM item_embeddings WHERE item_id = ?1 AND model_id = ?2",
    [ST_EMB_INSERT - ST_EMB_FIRST] =
        "INSERT INTO item_embeddings (" EMB_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_EMB_ITEM - ST_EMB_FIRST] =
        "SELECT " EMB_COLS " FROM item_embeddings WHERE item_id = ?1 ORDER BY model_id, lang",
    [ST_EMB_SCAN - ST_EMB_FIRST] =
        "SELECT " EMB_COLS " FROM item_embeddings WHERE model_id = ?1 AND "
        "(item_id > ?2 OR (item_id = ?2 AND lang > ?3)) ORDER BY item_id, lang LIMIT ?4",
    [ST_EMB_HASH - ST_EMB_FIRST] =
        "SELECT text_hash FROM item_embeddings WHERE item_id = ?1 AND lang = ?2 AND "
        "model_id = ?3",
    [ST_EMB_COUNT_ITEM - ST_EMB_FIRST] =
        "SELECT count(*) FROM item_embeddings WHERE item_id = ?1 AND model_id = ?2",
    [ST_EMB_MISSING - ST_EMB_FIRST] =
        "SELECT id FROM items WHERE id > ?2 AND NOT EXISTS (SELECT 1 FROM item_embeddings e "
        "WHERE e.item_id = items.id AND e.model_id = ?1) ORDER BY id LIMIT ?3",
    [ST_EMB_COUNT_MODEL - ST_EMB_FIRST] =
        "SELECT count(*) FROM item_embeddings WHERE model_id = ?1",
    [ST_EMB_PRUNE - ST_EMB_FIRST] = "DELETE FROM item_embeddings WHERE model_id <> ?1",
};

/* ---- the vector's bytes ---------------------------------------------------- */

static void f32_to_le(const float *v, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        out[4 * i] = (unsigned char)u;
        out[4 * i + 1] = (unsigned char)(u >> 8);
        out[4 * i + 2] = (unsigned char)(u >> 16);
        out[4 * i + 3] = (unsigned char)(u >> 24);
    }
}

static void le_to_f32(const unsigned char *p, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(&out[i], &u, 4);
    }
}

/* ---- writing --------------------------------------------------------------- */

/* Order of indices into the put's array by (item_id, model_id), so that each
 * pair's old rows are deleted once, before any of its new rows go in. */
struct pair_sort {
    const struct vt_embedding *v;
    size_t i;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct pair_sort *x = a, *y = b;
    int c = strcmp(x->v[x->i].item_id, y->v[y->i].item_id);
    if (c == 0)
        c = strcmp(x->v[x->i].model_id, y->v[y->i].model_id);
    return c;
}

int sq_embeddings_put(void *impl, const struct vt_embedding *v, size_t n, size_t *bad,
                      struct vt_error *err)
{
    struct sq *s = impl;
    struct pair_sort *order = NULL;
    unsigned char *blob = NULL;
    sqlite3_stmt *del, *ins;
    uint32_t maxdim = 0;
    int locked = 0, in_tx = 0, rc = 0;
    int64_t now = vt_time_now_ms();

    if (s->read_only)
        return sq_read_only_error(err);
    for (size_t i = 0; i < n; i++)
        maxdim = v[i].dim > maxdim ? v[i].dim : maxdim;
    order = vt_calloc(n, sizeof *order);
    blob = vt_malloc((size_t)maxdim * 4);
    if (!order || !blob) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory storing %zu embeddings", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (struct pair_sort){v, i};
    qsort(order, n, sizeof *order, pair_cmp);

    pthread_mutex_lock(&s->wlock);
    locked = 1;
    rc = sq_conn_exec(&s->w, ST_BEGIN, err, "storing embeddings");
    if (rc < 0)
        goto out;
    in_tx = 1;
    del = sq_conn_stmt(&s->w, ST_EMB_DELETE_SET);
    ins = sq_conn_stmt(&s->w, ST_EMB_INSERT);
    if (!del || !ins) {
        rc = sq_db_error(s->w.db, err, "storing embeddings");
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        const struct vt_embedding *e = &v[order[k].i];
        if (k > 0 && pair_cmp(&order[k - 1], &order[k]) == 0)
            continue;
        sqlite3_bind_text(del, 1, e->item_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(del, 2, e->model_id, -1, SQLITE_STATIC);
        if (sq_stmt_run(del) != SQLITE_DONE) {
            rc = sq_db_error(s->w.db, err, "storing embeddings");
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct vt_embedding *e = &v[i];
        f32_to_le(e->vector, e->dim, blob);
        sqlite3_bind_text(ins, 1, e->item_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, e->lang, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, e->model_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, e->dim);
        sqlite3_bind_blob(ins, 5, blob, (int)(e->dim * 4), SQLITE_STATIC);
        sqlite3_bind_int64(ins, 6, (int64_t)e->text_hash);
        sqlite3_bind_int64(ins, 7, now);
        if (sq_stmt_run(ins) != SQLITE_DONE) {
            int ext = sqlite3_extended_errcode(s->w.db);
            if (bad)
                *bad = i;
            if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
                rc = vt_error_set(err, VT_ENOTFOUND, "item_id", "embedding %zu: no item '%s'", i,
                                  e->item_id);
            else if (ext == SQLITE_CONSTRAINT_PRIMARYKEY)
                rc = vt_error_set(err, VT_EINVAL, "lang",
                                  "embedding %zu: item '%s', language '%s' and model '%s' are "
                                  "given twice",
                                  i, e->item_id, e->lang, e->model_id);
            else
                rc = sq_db_error(s->w.db, err, "storing embeddings");
            goto out;
        }
    }
    rc = sq_conn_exec(&s->w, ST_COMMIT, err, "storing embeddings");
    if (rc < 0)
        goto out;
    in_tx = 0;
out:
    if (in_tx)
        sq_conn_exec(&s->w, ST_ROLLBACK, NULL, "rolling back embeddings");
    if (locked)
        pthread_mutex_unlock(&s->wlock);
    vt_free(order);
    vt_free(blob);
    return rc;
}

int sq_embeddings_prune(void *impl, const char *keep_model_id, int64_t *deleted)
{
    struct sq *s = impl;
    sqlite3_stmt *st;
    int rc = 0;

    if (s->read_only)
        return sq_read_only_error(NULL);
    pthread_mutex_lock(&s->wlock);
    st = sq_conn_stmt(&s->w, ST_EMB_PRUNE);
    if (!st) {
        rc = VT_EDB;
    } else {
        sqlite3_bind_text(st, 1, keep_model_id, -1, SQLITE_STATIC);
        if (sq_stmt_run(st) != SQLITE_DONE)
            rc = sq_db_error(s->w.db, NULL, "deleting embeddings of other models");
        else if (deleted)
            *deleted = sqlite3_changes64(s->w.db);
    }
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

/* ---- reading --------------------------------------------------------------- */

static void copy_col(sqlite3_stmt *st, int col, char *dst, size_t size)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

static int emb_row(sqlite3_stmt *st, void *out)
{
    struct vt_embedding *e = out;
    int64_t dim = sqlite3_column_int64(st, 3);
    const void *p;

    copy_col(st, 0, e->item_id, sizeof e->item_id);
    copy_col(st, 1, e->lang, sizeof e->lang);
    copy_col(st, 2, e->model_id, sizeof e->model_id);
    e->text_hash = (uint64_t)sqlite3_column_int64(st, 5);
    e->updated_ms = sqlite3_column_int64(st, 6);
    if (dim < 1 || dim > VT_EMBED_DIM_MAX)
        return VT_EDB;
    p = sqlite3_column_blob(st, 4);
    if (!p)
        return sqlite3_column_type(st, 4) == SQLITE_NULL ? VT_EDB : VT_ENOMEM;
    if (sqlite3_column_bytes(st, 4) != (int)(4 * dim))
        return VT_EDB;
    e->vector = vt_malloc((size_t)dim * sizeof *e->vector);
    if (!e->vector)
        return VT_ENOMEM;
    le_to_f32(p, (size_t)dim, e->vector);
    e->dim = (uint32_t)dim;
    return 0;
}

int sq_item_embeddings(void *impl, const char *item_id, struct vt_embedding **out, size_t *n)
{
    struct sq *s = impl;
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, ST_EMB_ITEM);
    struct vt_embedding *v = NULL;
    size_t count = 0;
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_text(st, 1, item_id, -1, SQLITE_STATIC);
        rc = sq_read_rows(c, st, SIZE_MAX, sizeof *v, emb_row, (void **)&v, &count, NULL,
                          "reading an item's embeddings");
    }
    sq_stmt_done(st);
    sq_reader_put(s, c);
    if (rc < 0) {
        vt_embeddings_free(v, count);
        return rc;
    }
    *out = v;
    *n = count;
    return 0;
}

int sq_embeddings_scan(void *impl, const char *model_id, const char *after_item,
                       const char *after_lang, size_t limit, struct vt_embedding **out,
                       size_t *n, int *more)
{
    struct sq *s = impl;
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, ST_EMB_SCAN);
    struct vt_embedding *v = NULL;
    size_t count = 0;
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_text(st, 1, model_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, after_item, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, after_lang, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (int64_t)limit + 1);
        rc = sq_read_rows(c, st, limit, sizeof *v, emb_row, (void **)&v, &count, more,
                          "scanning embeddings");
    }
    sq_stmt_done(st);
    sq_reader_put(s, c);
    if (rc < 0) {
        vt_embeddings_free(v, count);
        *more = 0;
        return rc;
    }
    *out = v;
    *n = count;
    return 0;
}

/* Runs a bound statement that answers one integer (or no row: *found = 0). */
static int step_int(struct conn *c, sqlite3_stmt *st, int64_t *v, int *found, const char *what)
{
    int r = sqlite3_step(st);
    *found = r == SQLITE_ROW;
    if (r == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    sq_stmt_done(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : sq_db_error(c->db, NULL, what);
}

static int ref_item_cmp(const void *a, const void *b)
{
    const struct vt_embedding_ref *const *x = a, *const *y = b;
    return strcmp((*x)->item_id, (*y)->item_id);
}

int sq_embeddings_stale(void *impl, const char *model_id, const struct vt_embedding_ref *refs,
                        size_t n, uint8_t *stale)
{
    struct sq *s = impl;
    const struct vt_embedding_ref **by_item = vt_calloc(n, sizeof *by_item);
    uint8_t *found = vt_calloc(n, 1);
    struct conn *c = NULL;
    sqlite3_stmt *hash, *count;
    int rc = 0;

    if (!by_item || !found) {
        rc = VT_ENOMEM;
        goto out;
    }
    c = sq_reader_get(s);
    hash = sq_conn_stmt(c, ST_EMB_HASH);
    count = sq_conn_stmt(c, ST_EMB_COUNT_ITEM);
    if (!hash || !count) {
        rc = VT_EDB;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t h = 0;
        int f = 0;
        sqlite3_bind_text(hash, 1, refs[i].item_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(hash, 2, refs[i].lang, -1, SQLITE_STATIC);
        sqlite3_bind_text(hash, 3, model_id, -1, SQLITE_STATIC);
        rc = step_int(c, hash, &h, &f, "checking embeddings");
        if (rc < 0)
            goto out;
        found[i] = (uint8_t)f;
        stale[i] = !f || (uint64_t)h != refs[i].text_hash;
        by_item[i] = &refs[i];
    }
    /* An item with more stored languages than the refs found has lost one. */
    qsort(by_item, n, sizeof *by_item, ref_item_cmp);
    for (size_t g = 0; g < n;) {
        size_t e = g + 1, distinct = 0;
        int64_t stored = 0;
        int f = 0;
        while (e < n && strcmp(by_item[e]->item_id, by_item[g]->item_id) == 0)
            e++;
        for (size_t k = g; k < e; k++) {
            int dup = 0;
            for (size_t j = g; j < k && !dup; j++)
                dup = strcmp(by_item[j]->lang, by_item[k]->lang) == 0;
            distinct += !dup && found[by_item[k] - refs];
        }
        sqlite3_bind_text(count, 1, by_item[g]->item_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(count, 2, model_id, -1, SQLITE_STATIC);
        rc = step_int(c, count, &stored, &f, "checking embeddings");
        if (rc < 0)
            goto out;
        if (stored > (int64_t)distinct)
            for (size_t k = g; k < e; k++)
                stale[by_item[k] - refs] = 1;
        g = e;
    }
out:
    sq_reader_put(s, c);
    vt_free(by_item);
    vt_free(found);
    return rc;
}

static int id_row(sqlite3_stmt *st, void *out)
{
    return sq_col_str(st, 0, (char **)out);
}

int sq_embeddings_missing(void *impl, const char *model_id, const char *after_id, size_t limit,
                          char ***ids, size_t *n, int *more)
{
    struct sq *s = impl;
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, ST_EMB_MISSING);
    char **v = NULL;
    size_t count = 0;
    int rc = VT_EDB;

    if (st) {
        sqlite3_bind_text(st, 1, model_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, after_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)limit + 1);
        rc = sq_read_rows(c, st, limit, sizeof *v, id_row, (void **)&v, &count, more,
                          "listing items without embeddings");
    }
    sq_stmt_done(st);
    sq_reader_put(s, c);
    if (rc < 0) {
        vt_ids_free(v, count);
        *more = 0;
        return rc;
    }
    *ids = v;
    *n = count;
    return 0;
}

int sq_embeddings_count(void *impl, const char *model_id, int64_t *count)
{
    struct sq *s = impl;
    struct conn *c = sq_reader_get(s);
    sqlite3_stmt *st = sq_conn_stmt(c, ST_EMB_COUNT_MODEL);
    int found = 0, rc = VT_EDB;

    if (st) {
        sqlite3_bind_text(st, 1, model_id, -1, SQLITE_STATIC);
        rc = step_int(c, st, count, &found, "counting embeddings");
    }
    sq_reader_put(s, c);
    return rc;
}
