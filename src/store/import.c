/*
 * import.c - items and events from JSON Lines or CSV files (see import.h).
 *
 * The pipeline is: read one line or CSV record -> one JSON object (a CSV
 * row is mapped column by column, the text of each cell turned into the
 * JSON type its field needs) -> vt_*_from_json -> a batch -> the store.
 * This file decides nothing about what makes a record valid; it only
 * converts, batches and reports.
 *
 * When the store refuses a batch it names the first bad record (*bad). That
 * record is rejected and the rest of the batch is offered again, so one
 * bad line costs one extra store call and nothing valid is lost. An event
 * refused for an unknown item takes with it the other events of the batch
 * about the same item, which keeps a file with many events for a missing
 * item from costing one call per event.
 */
#include "store/import.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/csv.h"
#include "core/progress.h"
#include "core/util.h"

#define BATCH_DEFAULT 1000
#define RECORD_MAX_DEFAULT ((size_t)4 << 20)
#define KEEP_DEFAULT 20
#define CSV_MAX_COLUMNS 256

int vt_import_format_from_name(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot)
        return VT_IMPORT_AUTO;
    if (strcasecmp(dot, ".csv") == 0)
        return VT_IMPORT_CSV;
    if (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0 ||
        strcasecmp(dot, ".json-lines") == 0)
        return VT_IMPORT_JSONL;
    return VT_IMPORT_AUTO;
}

void vt_import_report_init(struct vt_import_report *r) { memset(r, 0, sizeof *r); }

void vt_import_report_reset(struct vt_import_report *r)
{
    if (!r)
        return;
    vt_free(r->rejects);
    vt_import_report_init(r);
}

/* ---- the state of one import ------------------------------------------ */

struct imp {
    struct vt_store *s;
    const struct vt_import_options *o;
    struct vt_import_report *r;
    size_t batch, keep;
    struct vt_progress bar;
    int show_bar;
    struct vt_item *items;  /* the pending batch (items or events) */
    struct vt_event *evs;
    int64_t *lines;         /* input line of each pending record */
    size_t n;
};

static int is_items(const struct imp *x) { return x->o->kind == VT_IMPORT_ITEMS; }

/* Count a rejection and keep it if it is among the first x->keep lines. */
static void reject(struct imp *x, int64_t line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reject(struct imp *x, int64_t line, int col, const char *fmt, ...)
{
    struct vt_import_report *r = x->r;
    r->rejected++;
    struct vt_import_reject *slot = NULL;
    if (r->nrejects < x->keep) {
        slot = &r->rejects[r->nrejects++];
    } else {
        /* Rejections from the store arrive after later lines' validation
         * errors; keep the lowest line numbers, whatever the order. */
        size_t worst = 0;
        for (size_t i = 1; i < r->nrejects; i++)
            if (r->rejects[i].line > r->rejects[worst].line)
                worst = i;
        if (r->nrejects == 0 || r->rejects[worst].line <= line)
            return;
        slot = &r->rejects[worst];
    }
    slot->line = line;
    slot->column = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(slot->reason, sizeof slot->reason, fmt, ap);
    va_end(ap);
}

static int cmp_reject(const void *a, const void *b)
{
    const struct vt_import_reject *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

static void drop_record(struct imp *x, size_t i)
{
    if (is_items(x))
        vt_item_reset(&x->items[i]);
    else
        vt_event_reset(&x->evs[i]);
}

static int record_error(int rc)
{
    return rc == VT_EINVAL || rc == VT_ERANGE || rc == VT_ECONFLICT || rc == VT_ETOOBIG;
}

/* The store numbers records within its call ("event 3: unknown item 'x'");
 * that index means nothing to someone reading the file, so drop it. */
static const char *strip_index(const char *msg)
{
    const char *p = msg;
    if (strncmp(p, "event ", 6) == 0)
        p += 6;
    else if (strncmp(p, "item ", 5) == 0)
        p += 5;
    else
        return msg;
    if (!isdigit((unsigned char)*p))
        return msg;
    while (isdigit((unsigned char)*p))
        p++;
    return strncmp(p, ": ", 2) == 0 ? p + 2 : msg;
}

/* Store the pending batch; see the top of the file for refusals. */
static int flush(struct imp *x, struct vt_error *err)
{
    size_t start = 0;
    int rc = 0;
    while (start < x->n) {
        size_t m = x->n - start, bad = SIZE_MAX;
        struct vt_error e;
        vt_error_clear(&e);
        if (is_items(x))
            rc = vt_store_items_put(x->s, x->items + start, m, VT_PUT_UPSERT, &bad, &e);
        else
            rc = vt_store_events_append(x->s, x->evs + start, m, &bad, &e);
        if (rc == 0) {
            x->r->imported += (int64_t)m;
            break;
        }
        if (!record_error(rc) || bad >= m) {
            if (err)
                *err = e;
            goto out;
        }
        size_t b = start + bad;
        char item[VT_ID_MAX + 1] = "";
        if (!is_items(x) && strcmp(e.field, "item_id") == 0 && x->evs[b].item_id)
            snprintf(item, sizeof item, "%s", x->evs[b].item_id);
        /* Remove the refused record(s), keeping the order of the rest:
         * with upserts a later line must still win over an earlier one. */
        size_t w = start;
        for (size_t i = start; i < x->n; i++) {
            int out = i == b || (item[0] && x->evs[i].item_id &&
                                 strcmp(x->evs[i].item_id, item) == 0);
            if (out) {
                reject(x, x->lines[i], 0, "%s", strip_index(e.message));
                drop_record(x, i);
                continue;
            }
            if (w != i) {
                if (is_items(x))
                    x->items[w] = x->items[i];
                else
                    x->evs[w] = x->evs[i];
                x->lines[w] = x->lines[i];
            }
            w++;
        }
        x->n = w;
        rc = 0;
    }
out:
    for (size_t i = 0; i < x->n; i++)
        drop_record(x, i);
    x->n = 0;
    return rc;
}

/* Validate one JSON object and queue it; 0 unless the import must stop. */
static int add_record(struct imp *x, const json_t *j, int64_t line, struct vt_error *err)
{
    struct vt_error e;
    vt_error_clear(&e);
    int rc;
    if (is_items(x))
        rc = vt_item_from_json(j, &x->o->limits, &x->items[x->n], &e);
    else
        rc = vt_event_from_json(j, &x->o->limits, vt_time_now_ms(), &x->evs[x->n], &e);
    if (rc == VT_ENOMEM)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    if (rc) {
        reject(x, line, 0, "%s", e.message);
        return 0;
    }
    x->lines[x->n++] = line;
    return x->n == x->batch ? flush(x, err) : 0;
}

static void progress(struct imp *x, int64_t bytes)
{
    if (x->show_bar)
        vt_progress_update(&x->bar, bytes);
}

/* ---- JSON Lines --------------------------------------------------------- */

struct line_reader {
    FILE *f;
    char in[1 << 16];
    size_t len, pos;
    int eof, started;
    int64_t bytes, lineno;
    struct vt_buf line;
};

/* 1 and the next line (without its LF) in lr->line; 0 at the end;
 * VT_ETOOBIG for a line over the cap (consumed); VT_EIO or VT_ENOMEM. */
static int next_line(struct line_reader *lr)
{
    int toolong = 0, any = 0;
    lr->line.len = 0;
    if (lr->line.data)
        lr->line.data[0] = '\0';
    for (;;) {
        if (lr->pos == lr->len) {
            if (lr->eof)
                break;
            lr->len = fread(lr->in, 1, sizeof lr->in, lr->f);
            lr->pos = 0;
            if (lr->len == 0) {
                lr->eof = 1;
                if (ferror(lr->f))
                    return VT_EIO;
                break;
            }
            if (!lr->started) {
                lr->started = 1;
                if (lr->len >= 3 && memcmp(lr->in, "\xEF\xBB\xBF", 3) == 0) {
                    lr->pos = 3;
                    lr->bytes = 3;
                    continue;
                }
            }
        }
        char *p = lr->in + lr->pos, *nl = memchr(p, '\n', lr->len - lr->pos);
        size_t take = nl ? (size_t)(nl - p) : lr->len - lr->pos;
        any = 1;
        if (!toolong) {
            int rc = vt_buf_append(&lr->line, p, take);
            if (rc == VT_ETOOBIG)
                toolong = 1;
            else if (rc)
                return rc;
        }
        lr->pos += take;
        lr->bytes += (int64_t)take;
        if (nl) {
            lr->pos++;
            lr->bytes++;
            break;
        }
    }
    if (!any)
        return 0;
    lr->lineno++;
    return toolong ? VT_ETOOBIG : 1;
}

static int run_jsonl(struct imp *x, FILE *in, struct vt_error *err)
{
    struct line_reader *lr = vt_calloc(1, sizeof *lr);
    if (!lr)
        return vt_error_set(err, VT_ENOMEM, "", "out of memory");
    lr->f = in;
    vt_buf_init(&lr->line, x->o->max_record_bytes ? x->o->max_record_bytes : RECORD_MAX_DEFAULT);
    int rc;
    while ((rc = next_line(lr)) != 0) {
        if (rc == VT_ETOOBIG) {
            reject(x, lr->lineno, 0, "line longer than %zu bytes", lr->line.max);
            continue;
        }
        if (rc == VT_EIO) {
            rc = vt_error_set(err, VT_EIO, "", "read error at line %lld: %s",
                              (long long)lr->lineno + 1, strerror(errno));
            break;
        }
        if (rc < 0) {
            rc = vt_error_set(err, rc, "", "out of memory");
            break;
        }
        rc = 0;
        size_t n = lr->line.len;
        const char *s = lr->line.data;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        size_t lead = 0;
        while (lead < n && isspace((unsigned char)s[lead]))
            lead++;
        if (lead == n)
            continue; /* blank line */
        json_error_t je;
        json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
        if (!j) {
            reject(x, lr->lineno, je.column > 0 ? je.column : 0, "invalid JSON: %s", je.text);
        } else {
            rc = add_record(x, j, lr->lineno, err);
            json_decref(j);
            if (rc)
                break;
        }
        progress(x, lr->bytes);
    }
    vt_buf_reset(&lr->line);
    vt_free(lr);
    return rc;
}

/* ---- CSV ---------------------------------------------------------------- */

enum col_kind {
    COL_ID, COL_TITLE, COL_DESC, COL_CATEGORY, COL_TAGS, COL_PRICE, COL_CURRENCY, COL_STOCK,
    COL_W, COL_D, COL_H, COL_MODEL_URL, COL_HIDDEN, COL_ATTRIBUTES,
    COL_USER_ID, COL_ITEM_ID, COL_TYPE, COL_VALUE, COL_TS, COL_CONTEXT
};

struct col_name {
    const char *name;
    int kind;
};

static const struct col_name item_cols[] = {
    {"id", COL_ID},         {"category", COL_CATEGORY},   {"tags", COL_TAGS},
    {"price", COL_PRICE},   {"currency", COL_CURRENCY},   {"stock", COL_STOCK},
    {"w_cm", COL_W},        {"d_cm", COL_D},              {"h_cm", COL_H},
    {"model_url", COL_MODEL_URL}, {"hidden", COL_HIDDEN}, {"attributes", COL_ATTRIBUTES},
    {NULL, 0},
};
static const struct col_name event_cols[] = {
    {"user_id", COL_USER_ID}, {"item_id", COL_ITEM_ID}, {"type", COL_TYPE},
    {"value", COL_VALUE},     {"ts", COL_TS},           {"context", COL_CONTEXT},
    {NULL, 0},
};

#define ITEM_COLUMNS_HELP                                                                  \
    "id, title_<lang>, description_<lang>, category, tags, price, currency, stock, w_cm, " \
    "d_cm, h_cm, model_url, hidden, attributes"
#define EVENT_COLUMNS_HELP "user_id, item_id, type, value, ts, context"

struct column {
    int kind;
    const char *lang;  /* for title_<lang> and description_<lang> */
};

/* A language suffix as title_<lang> allows: 2-8 letters, '-' or '_'. */
static int lang_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalpha((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

/* Trim ASCII blanks in place (header names only). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int map_header(struct imp *x, const struct vt_csv_record *h, struct column *cols,
                      struct vt_error *err)
{
    const struct col_name *table = is_items(x) ? item_cols : event_cols;
    struct vt_buf unknown;
    vt_buf_init(&unknown, 200);
    size_t nunknown = 0;
    int rc = 0;
    for (size_t i = 0; i < h->n; i++) {
        char *name = trim(h->fields[i]);
        h->fields[i] = name;
        cols[i].kind = -1;
        cols[i].lang = NULL;
        for (const struct col_name *c = table; c->name; c++)
            if (strcmp(c->name, name) == 0)
                cols[i].kind = c->kind;
        if (cols[i].kind < 0 && is_items(x)) {
            if (strncmp(name, "title_", 6) == 0 && lang_ok(name + 6)) {
                cols[i].kind = COL_TITLE;
                cols[i].lang = name + 6;
            } else if (strncmp(name, "description_", 12) == 0 && lang_ok(name + 12)) {
                cols[i].kind = COL_DESC;
                cols[i].lang = name + 12;
            }
        }
        if (cols[i].kind < 0) {
            if (nunknown++ < 8)
                vt_buf_printf(&unknown, "%s'%.40s'", nunknown > 1 ? ", " : "", name);
            continue;
        }
        for (size_t k = 0; k < i; k++) {
            if (cols[k].kind == cols[i].kind &&
                (!cols[i].lang || strcmp(cols[k].lang, cols[i].lang) == 0)) {
                vt_buf_reset(&unknown);
                return vt_error_set(err, VT_EFORMAT, "",
                                    "header: column '%.40s' appears twice (columns %zu and %zu)",
                                    name, k + 1, i + 1);
            }
        }
    }
    if (nunknown) {
        rc = vt_error_set(err, VT_EFORMAT, "", "header: unknown column%s %s%s; %s columns are: %s",
                          nunknown > 1 ? "s" : "", unknown.data ? unknown.data : "",
                          nunknown > 8 ? ", ..." : "", is_items(x) ? "item" : "event",
                          is_items(x) ? ITEM_COLUMNS_HELP : EVENT_COLUMNS_HELP);
        vt_buf_reset(&unknown);
        return rc;
    }
    vt_buf_reset(&unknown);
    /* Without these every row would be rejected for the same reason. */
    static const int items_need[] = {COL_ID, -1}, events_need[] = {COL_USER_ID, COL_TYPE, -1};
    static const char *const items_names[] = {"id"}, *const events_names[] = {"user_id", "type"};
    const int *need = is_items(x) ? items_need : events_need;
    for (int k = 0; need[k] >= 0; k++) {
        size_t i = 0;
        while (i < h->n && cols[i].kind != need[k])
            i++;
        if (i == h->n)
            return vt_error_set(err, VT_EFORMAT, "", "header: the column '%s' is missing",
                                (is_items(x) ? items_names : events_names)[k]);
    }
    return 0;
}

/* Parse s[0..n) (blanks around allowed) as a JSON number: 1 and *d, with
 * *is_int / *iv for an integer that fits; 0 if it is not a number. */
static int parse_number(const char *s, size_t n, double *d, long long *iv, int *is_int)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    size_t i = 0, digits = 0;
    int integer = 1;
    if (buf[i] == '-')
        i++;
    if (buf[i] == '0') {
        i++;
        digits = 1;
    } else {
        while (isdigit((unsigned char)buf[i])) {
            i++;
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (buf[i] == '.') {
        integer = 0;
        i++;
        if (!isdigit((unsigned char)buf[i]))
            return 0;
        while (isdigit((unsigned char)buf[i]))
            i++;
    }
    if (buf[i] == 'e' || buf[i] == 'E') {
        integer = 0;
        i++;
        if (buf[i] == '+' || buf[i] == '-')
            i++;
        if (!isdigit((unsigned char)buf[i]))
            return 0;
        while (isdigit((unsigned char)buf[i]))
            i++;
    }
    if (buf[i] != '\0')
        return 0;
    errno = 0;
    *d = strtod(buf, NULL);
    if (!isfinite(*d))
        return 0;
    *is_int = integer && digits <= 18;
    if (*is_int)
        *iv = strtoll(buf, NULL, 10);
    return 1;
}

/* A cell for a numeric field: a JSON number when it reads as one, else the
 * text itself, so that validation names the field and what is wrong. */
static json_t *cell_number(const char *s, size_t n)
{
    double d;
    long long iv;
    int is_int;
    if (!parse_number(s, n, &d, &iv, &is_int))
        return json_stringn(s, n);
    return is_int ? json_integer((json_int_t)iv) : json_real(d);
}

static json_t *cell_bool(const char *s, size_t n)
{
    static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no"};
    for (int i = 0; i < 3; i++) {
        if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0)
            return json_true();
        if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0)
            return json_false();
    }
    return json_stringn(s, n);
}

/* Epoch seconds (below 10^11, i.e. before the year 5138) or milliseconds
 * become an ISO-8601 string; any other text is passed on as it is. */
static json_t *cell_ts(const char *s, size_t n)
{
    double d;
    long long iv;
    int is_int;
    if (!parse_number(s, n, &d, &iv, &is_int) || fabs(d) >= 1e15)
        return json_stringn(s, n);
    double ms = fabs(d) < 1e11 ? d * 1000.0 : d;
    char iso[40];
    vt_time_format_iso((int64_t)llround(ms), iso, sizeof iso);
    return json_string(iso);
}

static json_t *cell_tags(const char *s, size_t n)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '|')
            j++;
        size_t b = i, e = j;
        while (b < e && (s[b] == ' ' || s[b] == '\t'))
            b++;
        while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
            e--;
        if (e > b && json_array_append_new(a, json_stringn(s + b, e - b))) {
            json_decref(a);
            return NULL;
        }
        i = j + 1;
    }
    return a;
}

/* Set obj[key] = v, creating obj; -1 when out of memory (v is consumed). */
static int put(json_t **obj, const char *key, json_t *v)
{
    if (!v)
        return -1;
    if (!*obj && !(*obj = json_object())) {
        json_decref(v);
        return -1;
    }
    return json_object_set_new(*obj, key, v);
}

/* Turn one CSV row into the JSON object of its record. 0 and *out; or
 * VT_EINVAL with why (a cell that is not even JSON); or VT_ENOMEM. */
static int row_to_json(const struct column *cols, const struct vt_csv_record *rec,
                       json_t **out, char *why, size_t whysz)
{
    json_t *o = json_object(), *title = NULL, *desc = NULL, *dims = NULL;
    int bad = 0, rc = 0;
    if (!o)
        return VT_ENOMEM;
    for (size_t i = 0; i < rec->n && !bad && !rc; i++) {
        const char *s = rec->fields[i];
        size_t n = rec->lens[i];
        if (n == 0)
            continue; /* an empty cell leaves the field out */
        switch (cols[i].kind) {
        case COL_ID: rc = put(&o, "id", json_stringn(s, n)); break;
        case COL_TITLE: rc = put(&title, cols[i].lang, json_stringn(s, n)); break;
        case COL_DESC: rc = put(&desc, cols[i].lang, json_stringn(s, n)); break;
        case COL_CATEGORY: rc = put(&o, "category", json_stringn(s, n)); break;
        case COL_TAGS: rc = put(&o, "tags", cell_tags(s, n)); break;
        case COL_PRICE: rc = put(&o, "price", cell_number(s, n)); break;
        case COL_CURRENCY: rc = put(&o, "currency", json_stringn(s, n)); break;
        case COL_STOCK: rc = put(&o, "stock", cell_number(s, n)); break;
        case COL_W: rc = put(&dims, "w", cell_number(s, n)); break;
        case COL_D: rc = put(&dims, "d", cell_number(s, n)); break;
        case COL_H: rc = put(&dims, "h", cell_number(s, n)); break;
        case COL_MODEL_URL: rc = put(&o, "model_url", json_stringn(s, n)); break;
        case COL_HIDDEN: rc = put(&o, "hidden", cell_bool(s, n)); break;
        case COL_USER_ID: rc = put(&o, "user_id", json_stringn(s, n)); break;
        case COL_ITEM_ID: rc = put(&o, "item_id", json_stringn(s, n)); break;
        case COL_TYPE: rc = put(&o, "type", json_stringn(s, n)); break;
        case COL_VALUE: rc = put(&o, "value", cell_number(s, n)); break;
        case COL_TS: rc = put(&o, "ts", cell_ts(s, n)); break;
        case COL_ATTRIBUTES:
        case COL_CONTEXT: {
            const char *key = cols[i].kind == COL_CONTEXT ? "context" : "attributes";
            json_error_t je;
            json_t *v = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
            if (!v) {
                snprintf(why, whysz, "%s is not valid JSON (at character %d of the cell): %s",
                         key, je.column > 0 ? je.column : je.position + 1, je.text);
                bad = 1;
            } else {
                rc = put(&o, key, v);
            }
            break;
        }
        }
    }
    if (!bad && !rc && title)
        rc = json_object_set(o, "title", title);
    if (!bad && !rc && desc)
        rc = json_object_set(o, "description", desc);
    if (!bad && !rc && dims)
        rc = json_object_set(o, "dims_cm", dims);
    json_decref(title);
    json_decref(desc);
    json_decref(dims);
    if (bad || rc) {
        json_decref(o);
        return bad ? VT_EINVAL : VT_ENOMEM;
    }
    *out = o;
    return 0;
}

static int run_csv(struct imp *x, FILE *in, struct vt_error *err)
{
    size_t cap = x->o->max_record_bytes ? x->o->max_record_bytes : RECORD_MAX_DEFAULT;
    struct vt_csv_options co = {cap, cap, CSV_MAX_COLUMNS};
    struct vt_csv *csv = NULL;
    struct column *cols = NULL;
    int rc = vt_csv_new(in, &co, &csv);
    if (rc)
        return vt_error_set(err, rc, "", "out of memory");
    struct vt_csv_record rec;
    struct vt_error e;
    vt_error_clear(&e);
    rc = vt_csv_header(csv, &rec, &e);
    if (rc) {
        if (e.line)
            rc = vt_error_set(err, rc, "", "header: line %d, column %d: %s", e.line, e.column,
                              e.message);
        else
            rc = vt_error_set(err, rc, "", "%s", rc == VT_ENOMEM ? "out of memory" : e.message);
        goto out;
    }
    cols = vt_calloc(rec.n, sizeof *cols);
    if (!cols) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    if ((rc = map_header(x, &rec, cols, err)))
        goto out;
    for (;;) {
        vt_error_clear(&e);
        rc = vt_csv_next(csv, &rec, &e);
        if (rc == 0)
            break;
        if (rc == VT_ENOMEM || rc == VT_EIO) {
            rc = vt_error_set(err, rc, "", "%s", rc == VT_EIO ? e.message : "out of memory");
            goto out;
        }
        if (rc < 0) {
            reject(x, e.line, e.column, "%s", e.message);
            rc = 0;
            continue;
        }
        json_t *j = NULL;
        char why[300];
        rc = row_to_json(cols, &rec, &j, why, sizeof why);
        if (rc == VT_ENOMEM) {
            rc = vt_error_set(err, rc, "", "out of memory");
            goto out;
        }
        if (rc) {
            reject(x, rec.line, 0, "%s", why);
            rc = 0;
        } else {
            rc = add_record(x, j, rec.line, err);
            json_decref(j);
            if (rc)
                goto out;
        }
        progress(x, vt_csv_bytes_read(csv));
    }
out:
    vt_free(cols);
    vt_csv_free(csv);
    return rc;
}

/* ---- driver ------------------------------------------------------------- */

int vt_import_run(struct vt_store *s, FILE *in, const struct vt_import_options *o,
                  struct vt_import_report *r, struct vt_error *err)
{
    struct imp x;
    memset(&x, 0, sizeof x);
    x.s = s;
    x.o = o;
    x.r = r;
    x.batch = o->batch ? o->batch : BATCH_DEFAULT;
    x.keep = o->keep_rejects ? o->keep_rejects : KEEP_DEFAULT;
    vt_error_clear(err);
    int rc = 0;
    if (o->format != VT_IMPORT_JSONL && o->format != VT_IMPORT_CSV)
        return vt_error_set(err, VT_EINVAL, "format", "no input format given");
    vt_free(r->rejects);
    vt_import_report_init(r);
    r->rejects = vt_calloc(x.keep, sizeof *r->rejects);
    x.lines = vt_calloc(x.batch, sizeof *x.lines);
    if (is_items(&x))
        x.items = vt_calloc(x.batch, sizeof *x.items);
    else
        x.evs = vt_calloc(x.batch, sizeof *x.evs);
    if (!r->rejects || !x.lines || (!x.items && !x.evs)) {
        rc = vt_error_set(err, VT_ENOMEM, "", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < x.batch; i++) {
        if (x.items)
            vt_item_init(&x.items[i]);
        else
            vt_event_init(&x.evs[i]);
    }
    if (o->progress) {
        x.show_bar = 1;
        vt_progress_start(&x.bar, o->progress, o->total_bytes);
    }
    rc = o->format == VT_IMPORT_CSV ? run_csv(&x, in, err) : run_jsonl(&x, in, err);
    if (rc == 0)
        rc = flush(&x, err);
    if (x.show_bar) {
        if (rc == 0 && o->total_bytes > 0)
            x.bar.done = o->total_bytes;
        vt_progress_finish(&x.bar);
    }
out:
    for (size_t i = 0; i < x.n; i++)
        drop_record(&x, i);
    vt_free(x.items);
    vt_free(x.evs);
    vt_free(x.lines);
    if (r->rejects)
        qsort(r->rejects, r->nrejects, sizeof *r->rejects, cmp_reject);
    return rc;
}
