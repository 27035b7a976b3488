/*
 * import.h - bulk import of a shop's own items and events from files.
 *
 * Two formats, one record per line or row:
 *   JSON Lines  one JSON object per line, exactly the API's item or event
 *               object (docs/api.md); blank lines are skipped.
 *   CSV         RFC 4180 with a header row (core/csv.h). Each row becomes
 *               the same JSON object: an empty cell leaves the field out.
 *     items:  id, title_<lang>, description_<lang> (title_en, title_zh, ...),
 *             category, tags (separated by '|'), price, currency, stock,
 *             w_cm, d_cm, h_cm (together dims_cm), model_url, hidden
 *             (true/false/1/0/yes/no), attributes (a JSON object as text)
 *     events: user_id, item_id, type, value, ts (ISO-8601, or integer epoch
 *             seconds or milliseconds), context (a JSON object as text)
 *   A header naming any other column stops the import before anything is
 *   stored.
 *
 * Every record goes through the one validation path (vt_item_from_json /
 * vt_event_from_json) and is stored in batches. A record that is malformed,
 * invalid, or refused by the store (an event about an unknown item) is
 * rejected with its line number and the rest go on: nothing valid is lost.
 * Items are upserted (a later line with the same id replaces the earlier).
 *
 * Ownership: the caller owns the store and the FILE; the report's rejects
 * are freed by vt_import_report_reset(). Not thread-safe per call; calls on
 * different inputs may run at once (the store is thread-safe).
 */
#ifndef VT_STORE_IMPORT_H
#define VT_STORE_IMPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "store/record.h"
#include "store/store.h"

enum vt_import_kind { VT_IMPORT_ITEMS, VT_IMPORT_EVENTS };
enum vt_import_format { VT_IMPORT_AUTO, VT_IMPORT_JSONL, VT_IMPORT_CSV };

/* The format a file name implies: .jsonl/.ndjson/.json-lines -> JSONL,
 * .csv -> CSV (case-insensitive); VT_IMPORT_AUTO when it implies none. */
int vt_import_format_from_name(const char *name);

struct vt_import_options {
    int kind;                 /* enum vt_import_kind */
    int format;               /* VT_IMPORT_JSONL or VT_IMPORT_CSV */
    struct vt_limits limits;  /* for validation */
    size_t batch;             /* records per store call (0 = 1000) */
    size_t max_record_bytes;  /* longest line or CSV record (0 = 4 MiB) */
    int64_t total_bytes;      /* input size for the progress bar (0 = unknown) */
    const char *progress;     /* progress bar label, NULL for none; the bar is
                                 drawn only on a terminal (core/progress.h) */
    size_t keep_rejects;      /* rejections kept in the report (0 = 20) */
};

struct vt_import_reject {
    int64_t line;         /* 1-based line in the input */
    int column;           /* 1-based, 0 when the problem is the whole record */
    char reason[320];
};

struct vt_import_report {
    int64_t imported, rejected;
    struct vt_import_reject *rejects; /* the first few rejections, in order */
    size_t nrejects;
};

void vt_import_report_init(struct vt_import_report *r);
void vt_import_report_reset(struct vt_import_report *r);

/* Read in to its end and store what is valid. Returns 0 when the whole
 * input was read, even with rejections (see r->rejected). Returns a
 * negative code with err filled when the import had to stop: a CSV header
 * with unknown, repeated or missing columns (VT_EFORMAT, nothing stored),
 * a read error (VT_EIO), a database failure (VT_EDB) or VT_ENOMEM; what was
 * stored before the stop stays stored and is counted in r->imported. */
int vt_import_run(struct vt_store *s, FILE *in, const struct vt_import_options *o,
                  struct vt_import_report *r, struct vt_error *err);

#endif
