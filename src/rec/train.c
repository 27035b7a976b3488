/*
 * train.c - the full retrain of the ranker: training examples from stored
 * impressions and events, a time-ordered held-out check, and the decision
 * to swap (engine_int.h: eng_ranker_retrain; docs/ranker.md).
 *
 * Examples. Every stored impression whose features are the engine's
 * (ENG_NFEAT of them) and whose label window has fully passed is one
 * example. Its label follows the rule implog.c applies online: 1 when the
 * same user engaged with the same item (click, add_to_cart, purchase,
 * ar_session, ar_place, ar_dwell, rotate, zoom, tryon, showroom_view) from
 * SKEW_MS before the impression to rec.label_window_s after it; else 0,
 * at full weight when they dismissed the item in that span, at NEG_WEIGHT
 * otherwise (an item in a list is not always seen).
 *
 * Matching. (user, item) pairs are compared by a 64-bit hash (a false
 * match needs a collision among the pairs of one shop: negligible).
 * Impressions are read first (the newest MAX_EXAMPLES), then only events
 * whose pair some impression has are kept, sorted by (pair, time), and
 * each impression finds its events by binary search: O((I + E) log).
 *
 * The decision. The newest 20% of examples (by time) are held out. A model
 * trained from the prior on the rest is accepted when, on the held-out
 * part, (1) it ranks better than chance: AUC above 0.5 by two standard
 * errors of the AUC of a random ranking, sqrt((P + N + 1) / (12 P N)) for
 * P positives and N negatives, and (2) it is not worse than the serving
 * model: AUC not lower by more than AUC_SLACK and log loss not higher by
 * more than LOGLOSS_SLACK (relative). Too few examples (< MIN_EXAMPLES) or
 * a class missing is a refusal with its reason, not an error.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/util.h"
#include "rec/engine_int.h"

#define MAX_EXAMPLES 1000000   /* newest impressions learnt from */
#define MIN_EXAMPLES 100
#define SCAN_PAGE 10000        /* rows per store read (the store caps it too) */
#define HOLDOUT 0.2            /* newest share held out */
#define AUC_SLACK 0.005
#define LOGLOSS_SLACK 0.01
#define NEG_WEIGHT 0.2f        /* as implog.c */
#define DISMISS_WEIGHT 1.0f    /* as implog.c */
#define SKEW_MS 5000           /* as implog.c */
#define TRAIN_SEED 0x7261b4e5u /* example order: a retrain is reproducible */

struct row {
    int64_t id, ts;
    uint64_t key;
    float f[ENG_NFEAT];
    float label, weight;
};

struct ev {
    uint64_t key;
    int64_t ts;
    int kind; /* 1 engagement, 0 dismiss */
};

struct data {
    struct row *rows;
    size_t n, cap;
    struct ev *evs;
    size_t nev, evcap;
    size_t wrong_features, too_recent, dropped_old;
};

static void data_reset(struct data *d)
{
    vt_free(d->rows);
    vt_free(d->evs);
    memset(d, 0, sizeof *d);
}

/* FNV-1a of user, a separator byte no UTF-8 id holds, item (implog.c
 * hashes the same way, though the two never compare hashes). */
static uint64_t pair_hash(const char *user, const char *item)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)item; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static int engages(int type)
{
    switch (type) {
    case VT_EV_CLICK: case VT_EV_ADD_TO_CART: case VT_EV_PURCHASE: case VT_EV_AR_SESSION:
    case VT_EV_AR_PLACE: case VT_EV_AR_DWELL: case VT_EV_ROTATE: case VT_EV_ZOOM:
    case VT_EV_TRYON: case VT_EV_SHOWROOM_VIEW:
        return 1;
    default:
        return 0;
    }
}

static double window_ms(const struct vt_engine *e)
{
    double w = e->params.label_window_s;
    if (!(w > 0) && e->conf)
        w = vt_conf_double(e->conf, "rec.label_window_s");
    return (w > 0 ? w : 1800) * 1000.0;
}

/* ---- reading ------------------------------------------------------------------- */

static int read_impressions(struct vt_engine *e, struct data *d, double win, int64_t now,
                            struct vt_error *err)
{
    struct vt_progress pr;
    int64_t after = 0, total = 0, seen = 0;

    vt_store_impressions_count(e->store, &total);
    if (e->opt.progress)
        vt_progress_start(&pr, "impressions", total);
    for (;;) {
        struct vt_impression *v = NULL;
        size_t k = 0;
        int rc = vt_store_impressions_scan(e->store, after, SCAN_PAGE, &v, &k);
        if (rc < 0)
            return vt_error_set(err, rc, NULL, "reading impressions: %s", vt_strerror(rc));
        if (k == 0) {
            vt_free(v);
            break;
        }
        after = v[k - 1].id;
        for (size_t i = 0; i < k; i++) {
            const struct vt_impression *m = &v[i];
            struct row *r;
            if (m->nfeatures != ENG_NFEAT) {
                d->wrong_features++;
                continue;
            }
            if ((double)m->ts_ms + win > (double)now) {
                d->too_recent++; /* its label is not known yet */
                continue;
            }
            if (d->n == MAX_EXAMPLES) {
                /* keep the newest: the oldest quarter goes */
                size_t drop = MAX_EXAMPLES / 4;
                memmove(d->rows, d->rows + drop, (d->n - drop) * sizeof *d->rows);
                d->n -= drop;
                d->dropped_old += drop;
            }
            if (d->n == d->cap) {
                size_t ncap = d->cap ? 2 * d->cap : 4096;
                struct row *p;
                if (ncap > MAX_EXAMPLES)
                    ncap = MAX_EXAMPLES;
                p = vt_realloc(d->rows, ncap * sizeof *p);
                if (!p) {
                    vt_free(v);
                    return vt_error_set(err, VT_ENOMEM, NULL,
                                        "out of memory reading %zu impressions", d->n);
                }
                d->rows = p;
                d->cap = ncap;
            }
            r = &d->rows[d->n++];
            r->id = m->id;
            r->ts = m->ts_ms;
            r->key = pair_hash(m->user_id, m->item_id);
            memcpy(r->f, m->features, sizeof r->f);
        }
        seen += (int64_t)k;
        if (e->opt.progress)
            vt_progress_update(&pr, seen);
        vt_free(v);
    }
    if (e->opt.progress)
        vt_progress_finish(&pr);
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

/* The engagements and dismissals of pairs some impression has. */
static int read_events(struct vt_engine *e, struct data *d, struct vt_error *err)
{
    uint64_t *keys = vt_calloc(d->n ? d->n : 1, sizeof *keys);
    size_t nkeys = 0;
    int64_t after = 0;
    int rc = 0;

    if (!keys)
        return vt_error_set(err, VT_ENOMEM, NULL, "out of memory reading events");
    for (size_t i = 0; i < d->n; i++)
        keys[i] = d->rows[i].key;
    qsort(keys, d->n, sizeof *keys, key_cmp);
    for (size_t i = 0; i < d->n; i++)
        if (nkeys == 0 || keys[nkeys - 1] != keys[i])
            keys[nkeys++] = keys[i];
    while (nkeys > 0) {
        struct vt_event *v = NULL;
        size_t k = 0;
        rc = vt_store_events_scan(e->store, after, SCAN_PAGE, &v, &k);
        if (rc < 0) {
            rc = vt_error_set(err, rc, NULL, "reading events: %s", vt_strerror(rc));
            break;
        }
        if (k == 0) {
            vt_events_free(v, k);
            break;
        }
        after = v[k - 1].id;
        for (size_t i = 0; i < k && rc == 0; i++) {
            uint64_t key;
            int kind = engages(v[i].type) ? 1 : v[i].type == VT_EV_DISMISS ? 0 : -1;
            if (kind < 0 || !v[i].item_id || !v[i].user_id)
                continue;
            key = pair_hash(v[i].user_id, v[i].item_id);
            if (!bsearch(&key, keys, nkeys, sizeof *keys, key_cmp))
                continue;
            if (d->nev == d->evcap) {
                size_t ncap = d->evcap ? 2 * d->evcap : 4096;
                struct ev *p = vt_realloc(d->evs, ncap * sizeof *p);
                if (!p) {
                    rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory reading events");
                    break;
                }
                d->evs = p;
                d->evcap = ncap;
            }
            d->evs[d->nev++] = (struct ev){key, v[i].ts_ms, kind};
        }
        vt_events_free(v, k);
        if (rc < 0)
            break;
    }
    vt_free(keys);
    if (rc == 0 && d->nev > 1)
        qsort(d->evs, d->nev, sizeof *d->evs, ev_cmp);
    return rc;
}

/* Labels every row from the sorted events (rule at the top). */
static void label_rows(struct data *d, double win)
{
    for (size_t i = 0; i < d->n; i++) {
        struct row *r = &d->rows[i];
        struct ev probe = {r->key, r->ts - SKEW_MS, 0};
        size_t lo = 0, hi = d->nev;
        int engaged = 0, dismissed = 0;
        while (lo < hi) { /* first event >= probe */
            size_t mid = lo + (hi - lo) / 2;
            if (ev_cmp(&d->evs[mid], &probe) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t k = lo; k < d->nev && d->evs[k].key == r->key &&
                            (double)d->evs[k].ts <= (double)r->ts + win;
             k++) {
            if (d->evs[k].kind)
                engaged = 1;
            else
                dismissed = 1;
        }
        r->label = engaged ? 1.0f : 0.0f;
        r->weight = engaged ? 1.0f : dismissed ? DISMISS_WEIGHT : NEG_WEIGHT;
    }
}

static int row_time_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* ---- the report --------------------------------------------------------------------- */

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *eval_json(const struct vt_ranker_eval *ev)
{
    return json_pack("{s:I,s:I,s:o,s:o}", "examples", (json_int_t)ev->examples, "positives",
                     (json_int_t)ev->positives, "auc", num(ev->auc), "logloss",
                     num(ev->logloss));
}

static void report_set(json_t *rep, const char *key, json_t *v)
{
    if (rep)
        json_object_set_new(rep, key, v);
    else
        json_decref(v);
}

/* ---- the retrain ------------------------------------------------------------------------- */

int eng_ranker_retrain(struct vt_engine *e, const struct vt_ranker *serving,
                       struct vt_ranker **out, json_t *report, struct vt_error *err)
{
    struct data d = {0};
    struct vt_rank_example *ex = NULL;
    struct vt_ranker *prior = NULL, *fresh = NULL;
    struct vt_ranker_eval ev_new = {0}, ev_old = {0};
    size_t pos = 0, ntrain, nval, trpos = 0;
    int64_t t0 = vt_time_mono_ns(), now = vt_time_now_ms();
    double win = window_ms(e);
    char reason[320] = "";
    int have_old = 0, rc;

    *out = NULL;
    vt_error_clear(err);
    rc = read_impressions(e, &d, win, now, err);
    if (rc == 0)
        rc = read_events(e, &d, err);
    if (rc < 0)
        goto out;
    label_rows(&d, win);
    if (d.n > 1)
        qsort(d.rows, d.n, sizeof *d.rows, row_time_cmp);
    for (size_t i = 0; i < d.n; i++)
        pos += d.rows[i].label > 0.5f;
    nval = (size_t)((double)d.n * HOLDOUT);
    ntrain = d.n - nval;
    for (size_t i = 0; i < ntrain; i++)
        trpos += d.rows[i].label > 0.5f;

    report_set(report, "examples", json_integer((json_int_t)d.n));
    report_set(report, "positives", json_integer((json_int_t)pos));
    report_set(report, "train_examples", json_integer((json_int_t)ntrain));
    report_set(report, "skipped",
               json_pack("{s:I,s:I,s:I}", "label_pending", (json_int_t)d.too_recent,
                         "other_features", (json_int_t)d.wrong_features, "oldest_over_cap",
                         (json_int_t)d.dropped_old));

    if (d.n < MIN_EXAMPLES) {
        snprintf(reason, sizeof reason,
                 "too few impressions with a known label to train on: %zu (at least %d)", d.n,
                 MIN_EXAMPLES);
        goto refuse;
    }
    if (pos == 0 || trpos == 0) {
        snprintf(reason, sizeof reason,
                 "no impression was followed by an engagement%s: nothing to learn from",
                 pos ? " in the training part" : "");
        goto refuse;
    }
    if (trpos == ntrain) {
        snprintf(reason, sizeof reason, "every impression was engaged with: nothing to learn");
        goto refuse;
    }

    ex = vt_calloc(d.n, sizeof *ex);
    if (!ex) {
        rc = vt_error_set(err, VT_ENOMEM, NULL, "out of memory for %zu examples", d.n);
        goto out;
    }
    for (size_t i = 0; i < d.n; i++)
        ex[i] = (struct vt_rank_example){d.rows[i].f, d.rows[i].label, d.rows[i].weight};

    rc = vt_ranker_new(eng_x_names, ENG_NX, eng_y_names, ENG_NY, &prior);
    if (rc == 0) {
        struct vt_ranker_train_options o = {0};
        /* about 4 million steps at most: 20 epochs up to 200,000 examples */
        o.epochs = ntrain <= 200000 ? 20 : (int)(4000000 / ntrain) + 1;
        o.seed = TRAIN_SEED;
        rc = vt_ranker_train(prior, ex, ntrain, &o, &fresh);
    }
    if (rc < 0) {
        rc = vt_error_set(err, rc, NULL, "training the ranker: %s", vt_strerror(rc));
        goto out;
    }
    vt_ranker_evaluate(fresh, ex + ntrain, nval, &ev_new);
    vt_ranker_meta(fresh)->validation = ev_new;
    report_set(report, "validation", eval_json(&ev_new));
    if (serving && vt_ranker_nx(serving) == ENG_NX && vt_ranker_ny(serving) == ENG_NY) {
        vt_ranker_evaluate(serving, ex + ntrain, nval, &ev_old);
        have_old = 1;
        report_set(report, "serving", eval_json(&ev_old));
    } else {
        report_set(report, "serving", json_null());
    }

    {
        double np = (double)ev_new.positives, nn = (double)(ev_new.examples - ev_new.positives);
        double se = np > 0 && nn > 0 ? sqrt((np + nn + 1) / (12 * np * nn)) : INFINITY;
        if (!isfinite(se)) {
            snprintf(reason, sizeof reason,
                     "the held-out part has %s: it cannot tell a good model from a bad one",
                     np > 0 ? "no impression without engagement" : "no engagement");
            goto refuse;
        }
        if (!(ev_new.auc > 0.5 + 2 * se)) {
            snprintf(reason, sizeof reason,
                     "validation AUC %.4f is not better than chance (it must exceed %.4f with "
                     "%.0f positives and %.0f negatives held out)",
                     ev_new.auc, 0.5 + 2 * se, np, nn);
            goto refuse;
        }
    }
    if (have_old && ev_new.auc < ev_old.auc - AUC_SLACK) {
        snprintf(reason, sizeof reason,
                 "validation AUC %.4f is lower than the serving model's %.4f by more than %.3f",
                 ev_new.auc, ev_old.auc, AUC_SLACK);
        goto refuse;
    }
    if (have_old && ev_new.logloss > ev_old.logloss * (1 + LOGLOSS_SLACK)) {
        snprintf(reason, sizeof reason,
                 "validation log loss %.4f is higher than the serving model's %.4f by more "
                 "than %.0f%%",
                 ev_new.logloss, ev_old.logloss, LOGLOSS_SLACK * 100);
        goto refuse;
    }
    if (have_old)
        snprintf(reason, sizeof reason,
                 "validation AUC %.4f and log loss %.4f (serving: %.4f and %.4f)", ev_new.auc,
                 ev_new.logloss, ev_old.auc, ev_old.logloss);
    else
        snprintf(reason, sizeof reason,
                 "validation AUC %.4f and log loss %.4f (no serving model)", ev_new.auc,
                 ev_new.logloss);
    report_set(report, "accepted", json_true());
    report_set(report, "model", vt_ranker_to_json(fresh));
    *out = fresh;
    fresh = NULL;
    goto done;
refuse:
    report_set(report, "accepted", json_false());
    if (report && !json_object_get(report, "validation"))
        report_set(report, "validation", json_null());
    if (report && !json_object_get(report, "serving"))
        report_set(report, "serving", json_null());
done:
    report_set(report, "reason", json_string(reason));
    report_set(report, "seconds", json_real((double)(vt_time_mono_ns() - t0) / 1e9));
    vt_info("ranker retrain", "examples=%zu positives=%zu accepted=%d reason=\"%s\"", d.n, pos,
            *out != NULL, reason);
    rc = 0;
out:
    vt_ranker_free(prior);
    vt_ranker_free(fresh);
    vt_free(ex);
    data_reset(&d);
    return rc;
}
