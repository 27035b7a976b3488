/* test_ranker.c - the learned ranker (rec/ranker.h) and its retrain
 * (eng_ranker_retrain in rec/train.c): learning a synthetic problem, the
 * prior's monotonicity, online steps, contributions, AUC and log loss
 * against direct computations, the JSON round trip and what from_json
 * refuses, and a retrain that accepts a better model and refuses a worse
 * one. Databases live under build/ and are removed before each test. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/util.h"
#include "rec/engine_int.h"
#include "rec/ranker.h"
#include "store/store.h"
#include "test.h"

static const char *const xnames[] = {"sim", "cf", "pop"};
static const char *const ynames[] = {"ar_self", "ar_rate"};
#define NX 3
#define NY 2
#define NF (NX + NY)

static uint64_t rng_state = 42;
static double urand(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static double logit(double p) { return log(p / (1 - p)); }

/* n examples over NF features in [0, 1]; label 1 when
 * 2 sim - 1.5 pop + 2 ar_self > 1 (pop pulls the other way from its
 * prior, so the model must learn a sign). */
static void make_separable(float *f, float *label, struct vt_rank_example *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float *r = f + i * NF;
        for (int k = 0; k < NF; k++)
            r[k] = (float)urand();
        label[i] = 2 * r[0] - 1.5 * r[2] + 2 * r[3] > 1 ? 1.0f : 0.0f;
        ex[i] = (struct vt_rank_example){r, label[i], 1.0f};
    }
}

TEST(learns_a_separable_problem)
{
    enum { N = 4000, NTRAIN = 3000 };
    float *f = vt_malloc(N * NF * sizeof *f), label[N];
    struct vt_rank_example *ex = vt_malloc(N * sizeof *ex);
    struct vt_ranker *prior = NULL, *m = NULL;
    struct vt_ranker_eval before, after;
    struct vt_ranker_train_options o = {0};

    CHECK(f && ex);
    if (!f || !ex)
        return;
    make_separable(f, label, ex, N);
    CHECK_EQ_INT(vt_ranker_new(xnames, NX, ynames, NY, &prior), 0);
    vt_ranker_evaluate(prior, ex + NTRAIN, N - NTRAIN, &before);
    o.seed = 7;
    CHECK_EQ_INT(vt_ranker_train(prior, ex, NTRAIN, &o, &m), 0);
    CHECK(m != NULL);
    if (m) {
        vt_ranker_evaluate(m, ex + NTRAIN, N - NTRAIN, &after);
        printf("  held out: prior AUC %.4f log loss %.4f, trained AUC %.4f log loss %.4f\n",
               before.auc, before.logloss, after.auc, after.logloss);
        CHECK(after.auc > 0.95);
        CHECK(after.logloss < before.logloss);
        CHECK_EQ_INT(after.examples, N - NTRAIN);
        CHECK_EQ_INT(vt_ranker_meta_const(m)->train_examples, NTRAIN);
        CHECK(vt_ranker_meta_const(m)->trained_ms > 0);
        /* the learnt signs: sim and ar_self up, pop down */
        float lo[NF] = {0}, hi[NF] = {0};
        hi[0] = 1;
        CHECK(vt_ranker_score(m, hi, NULL, NULL) > vt_ranker_score(m, lo, NULL, NULL));
        memset(hi, 0, sizeof hi);
        hi[2] = 1;
        CHECK(vt_ranker_score(m, hi, NULL, NULL) < vt_ranker_score(m, lo, NULL, NULL));
        memset(hi, 0, sizeof hi);
        hi[3] = 1;
        CHECK(vt_ranker_score(m, hi, NULL, NULL) > vt_ranker_score(m, lo, NULL, NULL));
    }
    /* the same seed gives the same model */
    struct vt_ranker *again = NULL;
    CHECK_EQ_INT(vt_ranker_train(prior, ex, NTRAIN, &o, &again), 0);
    if (m && again) {
        json_t *a = vt_ranker_to_json(m), *b = vt_ranker_to_json(again);
        json_object_del(json_object_get(a, "meta"), "trained_ms");
        json_object_del(json_object_get(a, "meta"), "trained_at");
        json_object_del(json_object_get(a, "meta"), "training_seconds");
        json_object_del(json_object_get(b, "meta"), "trained_ms");
        json_object_del(json_object_get(b, "meta"), "trained_at");
        json_object_del(json_object_get(b, "meta"), "training_seconds");
        CHECK(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    struct vt_ranker *none = (struct vt_ranker *)1;
    CHECK_EQ_INT(vt_ranker_train(prior, ex, 0, &o, &none), VT_EINVAL);
    CHECK(none == NULL);
    vt_ranker_free(again);
    vt_ranker_free(m);
    vt_ranker_free(prior);
    vt_free(f);
    vt_free(ex);
}

/* Before any data, more of any interest or AR signal raises p, and z or a
 * alone move with their own group. */
TEST(prior_is_monotone)
{
    struct vt_ranker *m = NULL;
    CHECK_EQ_INT(vt_ranker_new(eng_x_names, ENG_NX, eng_y_names, ENG_NY, &m), 0);
    if (!m)
        return;
    CHECK_EQ_INT(vt_ranker_nx(m), ENG_NX);
    CHECK_EQ_INT(vt_ranker_ny(m), ENG_NY);
    CHECK_EQ_INT(vt_ranker_meta_const(m)->trained_ms, 0);
    for (int base = 0; base < 3; base++) {
        float f[ENG_NFEAT];
        for (int k = 0; k < ENG_NFEAT; k++)
            f[k] = base * 0.3f;
        for (int k = 0; k < ENG_NFEAT; k++) {
            double z0, a0, z1, a1;
            float g[ENG_NFEAT];
            memcpy(g, f, sizeof g);
            g[k] += 0.25f;
            double p0 = vt_ranker_score(m, f, &z0, &a0);
            double p1 = vt_ranker_score(m, g, &z1, &a1);
            CHECK(p1 > p0);
            if (k < ENG_NX)
                CHECK(z1 > z0 && a1 == a0);
            else
                CHECK(a1 > a0 && z1 == z0);
        }
    }
    float zero[ENG_NFEAT] = {0};
    double p = vt_ranker_score(m, zero, NULL, NULL);
    CHECK(p > 0.01 && p < 0.2); /* a candidate with no signal is unlikely, not impossible */
    /* outside bytes cannot make a score NaN */
    float bad[ENG_NFEAT] = {0};
    bad[0] = NAN;
    bad[1] = INFINITY;
    bad[ENG_NX] = -1e30f;
    p = vt_ranker_score(m, bad, NULL, NULL);
    CHECK(isfinite(p) && p >= 0 && p <= 1);
    vt_ranker_free(m);
}

TEST(sgd_moves_p_toward_the_label)
{
    struct vt_ranker *m = NULL;
    CHECK_EQ_INT(vt_ranker_new(xnames, NX, ynames, NY, &m), 0);
    if (!m)
        return;
    float f[NF] = {0.5f, 0.2f, 0.1f, 0.8f, 0.3f};
    for (int label = 0; label <= 1; label++) {
        struct vt_rank_example ex = {f, (float)label, 1.0f};
        for (int i = 0; i < 5; i++) {
            double before = vt_ranker_score(m, f, NULL, NULL);
            uint64_t n = vt_ranker_meta_const(m)->online_updates;
            vt_ranker_sgd(m, &ex, 0.1f);
            double after = vt_ranker_score(m, f, NULL, NULL);
            CHECK(label ? after > before : after < before);
            CHECK_EQ_INT(vt_ranker_meta_const(m)->online_updates, n + 1);
        }
    }
    /* a larger weight moves it further */
    struct vt_ranker *a = NULL, *b = NULL;
    CHECK_EQ_INT(vt_ranker_copy(m, &a), 0);
    CHECK_EQ_INT(vt_ranker_copy(m, &b), 0);
    if (a && b) {
        double p0 = vt_ranker_score(m, f, NULL, NULL);
        struct vt_rank_example light = {f, 1.0f, 0.2f}, heavy = {f, 1.0f, 1.0f};
        vt_ranker_sgd(a, &light, 0.1f);
        vt_ranker_sgd(b, &heavy, 0.1f);
        double pa = vt_ranker_score(a, f, NULL, NULL), pb = vt_ranker_score(b, f, NULL, NULL);
        CHECK(pa > p0 && pb > pa);
        /* examples that cannot be learnt from are ignored */
        struct vt_rank_example zero_w = {f, 1.0f, 0.0f}, nan_l = {f, NAN, 1.0f};
        vt_ranker_sgd(a, &zero_w, 0.1f);
        vt_ranker_sgd(a, &nan_l, 0.1f);
        CHECK(vt_ranker_score(a, f, NULL, NULL) == pa);
    }
    vt_ranker_free(a);
    vt_ranker_free(b);
    vt_ranker_free(m);
}

/* The contributions add up to the change of the final logit from f = 0,
 * and each has the sign of its weight times its feature. */
TEST(contributions_sum_to_the_logit_change)
{
    struct vt_ranker *prior = NULL, *m = NULL;
    enum { N = 600 };
    float *f = vt_malloc(N * NF * sizeof *f), label[N];
    struct vt_rank_example *ex = vt_malloc(N * sizeof *ex);
    CHECK(f && ex);
    if (!f || !ex)
        return;
    make_separable(f, label, ex, N);
    CHECK_EQ_INT(vt_ranker_new(xnames, NX, ynames, NY, &prior), 0);
    CHECK_EQ_INT(vt_ranker_train(prior, ex, N, NULL, &m), 0);
    float zero[NF] = {0};
    for (int which = 0; which < 2 && m; which++) {
        const struct vt_ranker *r = which ? m : prior;
        double s0 = logit(vt_ranker_score(r, zero, NULL, NULL));
        for (int t = 0; t < 50; t++) {
            float g[NF], c[NF];
            double sum = 0;
            for (int k = 0; k < NF; k++)
                g[k] = (float)(urand() * 1.5 - 0.25);
            vt_ranker_contrib(r, g, c);
            for (int k = 0; k < NF; k++)
                sum += c[k];
            CHECK_NEAR(sum, logit(vt_ranker_score(r, g, NULL, NULL)) - s0, 1e-4);
        }
        float c[NF];
        vt_ranker_contrib(r, zero, c);
        for (int k = 0; k < NF; k++)
            CHECK(c[k] == 0);
    }
    /* under the prior, the AR feature that is on explains the score */
    float g[NF] = {0, 0, 0, 1, 0}, c[NF];
    vt_ranker_contrib(prior, g, c);
    CHECK(c[3] > 0 && c[0] == 0 && c[4] == 0);
    vt_ranker_free(m);
    vt_ranker_free(prior);
    vt_free(f);
    vt_free(ex);
}

/* AUC and log loss against direct computations: all pairs, ties half. */
TEST(evaluation_matches_direct_computation)
{
    enum { N = 300 };
    struct vt_ranker *m = NULL;
    CHECK_EQ_INT(vt_ranker_new(xnames, NX, ynames, NY, &m), 0);
    if (!m)
        return;
    static float f[N][NF];
    struct vt_rank_example ex[N];
    double p[N];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < NF; k++)
            f[i][k] = (float)(int)(urand() * 3) / 2; /* few values: many ties */
        float label = urand() < 0.3 + 0.1 * f[i][0] ? 1.0f : 0.0f;
        float w = urand() < 0.5 ? 1.0f : 0.2f;
        ex[i] = (struct vt_rank_example){f[i], label, w};
        p[i] = vt_ranker_score(m, f[i], NULL, NULL);
    }
    double num = 0, den = 0, loss = 0, wsum = 0;
    size_t pos = 0;
    for (int i = 0; i < N; i++) {
        double y = ex[i].label, k = ex[i].weight;
        loss += -k * (y * log(p[i]) + (1 - y) * log(1 - p[i]));
        wsum += k;
        pos += y > 0.5;
        if (y < 0.5)
            continue;
        for (int j = 0; j < N; j++) {
            if (ex[j].label > 0.5)
                continue;
            double w = k * ex[j].weight;
            den += w;
            num += p[i] > p[j] ? w : p[i] == p[j] ? 0.5 * w : 0;
        }
    }
    struct vt_ranker_eval ev;
    vt_ranker_evaluate(m, ex, N, &ev);
    CHECK_EQ_INT(ev.examples, N);
    CHECK_EQ_INT(ev.positives, pos);
    CHECK_NEAR(ev.auc, num / den, 1e-9);
    CHECK_NEAR(ev.logloss, loss / wsum, 1e-9);
    /* one class only: AUC 0.5 by convention */
    for (int i = 0; i < N; i++)
        ex[i].label = 0;
    vt_ranker_evaluate(m, ex, N, &ev);
    CHECK_EQ_INT(ev.positives, 0);
    CHECK(ev.auc == 0.5);
    vt_ranker_free(m);
}

TEST(json_round_trip_is_exact)
{
    enum { N = 500 };
    float *f = vt_malloc(N * NF * sizeof *f), label[N];
    struct vt_rank_example *ex = vt_malloc(N * sizeof *ex);
    struct vt_ranker *prior = NULL, *m = NULL, *back = NULL;
    struct vt_error err;
    CHECK(f && ex);
    if (!f || !ex)
        return;
    make_separable(f, label, ex, N);
    CHECK_EQ_INT(vt_ranker_new(xnames, NX, ynames, NY, &prior), 0);
    CHECK_EQ_INT(vt_ranker_train(prior, ex, N, NULL, &m), 0);
    if (!m)
        goto out;
    vt_ranker_evaluate(m, ex, N, &vt_ranker_meta(m)->validation);
    vt_ranker_meta(m)->online_updates = 12345;
    vt_ranker_meta(m)->version = 9;
    json_t *j = vt_ranker_to_json(m);
    CHECK(j != NULL);
    /* through text, as the store keeps it */
    char *text = json_dumps(j, JSON_COMPACT);
    json_error_t jerr;
    json_t *j2 = json_loads(text, 0, &jerr);
    CHECK(j2 != NULL);
    CHECK_EQ_INT(vt_ranker_from_json(j2, xnames, NX, ynames, NY, &back, &err), 0);
    if (back) {
        json_t *j3 = vt_ranker_to_json(back);
        CHECK(json_equal(j, j3));
        json_decref(j3);
        for (int i = 0; i < N; i++)
            CHECK(vt_ranker_score(m, ex[i].f, NULL, NULL) ==
                  vt_ranker_score(back, ex[i].f, NULL, NULL));
        CHECK_EQ_INT(vt_ranker_meta_const(back)->online_updates, 12345);
        CHECK_EQ_INT(vt_ranker_meta_const(back)->version, 9);
        CHECK(vt_ranker_meta_const(back)->validation.auc == vt_ranker_meta_const(m)->validation.auc);
    }
    CHECK_STR(json_string_value(json_object_get(j, "form")),
              "p = sigmoid(alpha * sigmoid(w . x + b) + beta * sigmoid(v . y + c) + bias)");
    CHECK(json_is_number(json_object_get(json_object_get(json_object_get(j, "ar"), "weights"),
                                         "ar_self")));
    vt_free(text);
    json_decref(j);
    json_decref(j2);
out:
    vt_ranker_free(back);
    vt_ranker_free(m);
    vt_ranker_free(prior);
    vt_free(f);
    vt_free(ex);
}

/* A model file is outside bytes: every kind of damage is refused with
 * VT_EFORMAT and a message, never a crash or a half-read model. */
TEST(from_json_refuses_bad_models)
{
    struct vt_ranker *m = NULL;
    CHECK_EQ_INT(vt_ranker_new(xnames, NX, ynames, NY, &m), 0);
    if (!m)
        return;
    json_t *good = vt_ranker_to_json(m);
    static const struct {
        const char *path; /* where to change the good model; "" = replace it */
        const char *value; /* JSON text, or NULL to delete the member */
        const char *expect; /* in the message */
    } cases[] = {
        {"", "[1, 2, 3]", "not a JSON object"},
        {"interest", NULL, "\"interest\" must be an object"},
        {"ar", "\"weights\"", "\"ar\" must be an object"},
        {"interest.weights.cf", NULL, "no weight for feature 'cf'"},
        {"ar.weights.ar_near", "0.5", "'ar_near', a feature this vitrine does not compute"},
        {"interest.weights.sim", "\"high\"", "interest.weights.sim must be a number"},
        {"interest.bias", NULL, "interest.bias is missing"},
        {"alpha", "1e300", "alpha = 1e+300 is out of range"},
        {"beta", "null", "beta must be a number"},
        {"bias", NULL, "bias is missing"},
        {"meta", "7", "\"meta\" must be an object"},
        {"meta.online_updates", "-3", "meta.online_updates must be a whole number >= 0"},
        {"meta.validation.positives", "999", "more validation positives than examples"},
        {"ar.weights", "[0.5, 0.5]", "ar.weights must be an object"},
        {"form", "12", "\"form\" must be a string"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_t *j = json_deep_copy(good), *parent = j, *v = NULL;
        char path[64], *last = path, *dot;
        snprintf(path, sizeof path, "%s", cases[c].path);
        while ((dot = strchr(last, '.')) != NULL) {
            *dot = '\0';
            parent = json_object_get(parent, last);
            last = dot + 1;
        }
        if (cases[c].value) {
            json_error_t jerr;
            v = json_loads(cases[c].value, JSON_DECODE_ANY, &jerr);
            CHECK(v != NULL);
        }
        if (!path[0]) {
            json_decref(j);
            j = v;
        } else if (v) {
            json_object_set_new(parent, last, v);
        } else {
            json_object_del(parent, last);
        }
        struct vt_ranker *out = (struct vt_ranker *)1;
        struct vt_error err;
        int rc = vt_ranker_from_json(j, xnames, NX, ynames, NY, &out, &err);
        CHECK_EQ_INT(rc, VT_EFORMAT);
        CHECK(out == NULL);
        CHECK_EQ_INT(err.code, VT_EFORMAT);
        if (!strstr(err.message, cases[c].expect)) {
            fprintf(stderr, "  case %zu (%s): message \"%s\"\n", c, cases[c].path, err.message);
            CHECK(strstr(err.message, cases[c].expect) != NULL);
        }
        json_decref(j);
    }
    /* a model of other features: its names tell */
    static const char *const other[] = {"sim", "cf", "price"};
    struct vt_ranker *out = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_ranker_from_json(good, other, 3, ynames, NY, &out, &err), VT_EFORMAT);
    CHECK(strstr(err.message, "'price'") != NULL);
    CHECK(strstr(err.message, "other features") != NULL);
    /* bad names given by the caller are the caller's error */
    static const char *const dup[] = {"sim", "sim", "pop"};
    CHECK_EQ_INT(vt_ranker_from_json(good, dup, 3, ynames, NY, &out, &err), VT_EINVAL);
    CHECK_EQ_INT(vt_ranker_new(dup, 3, ynames, NY, &out), VT_EINVAL);
    CHECK_EQ_INT(vt_ranker_new(xnames, 0, ynames, NY, &out), VT_EINVAL);
    /* the good one still loads */
    CHECK_EQ_INT(vt_ranker_from_json(good, xnames, NX, ynames, NY, &out, &err), 0);
    vt_ranker_free(out);
    json_decref(good);
    vt_ranker_free(m);
}

/* ---- the retrain (train.c) against a real store ------------------------------ */

static void rm_db(const char *path)
{
    char p[512];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

#define NITEMS 40
#define NUSERS 60

/* A store with NITEMS items and, per user, impressions over time whose
 * click follows rule(features) (0 or 1). The oldest (1 - split) follow
 * rule_old, the newest split follow rule_new. */
typedef int (*rule_fn)(const float *f);

static struct vt_store *shop(const char *path, int n, double split, rule_fn rule_old,
                             rule_fn rule_new)
{
    struct vt_store *s = NULL;
    struct vt_error err;
    size_t bad;
    mkdir("build", 0755);
    rm_db(path);
    if (vt_store_open(path, NULL, &s, &err) != 0) {
        fprintf(stderr, "  open %s: %s\n", path, err.message);
        return NULL;
    }
    struct vt_item items[NITEMS];
    char id[32];
    for (int i = 0; i < NITEMS; i++) {
        vt_item_init(&items[i]);
        snprintf(id, sizeof id, "item-%02d", i);
        items[i].id = vt_strdup(id);
        items[i].title = json_pack("{s:s}", "en", id);
    }
    CHECK_EQ_INT(vt_store_items_put(s, items, NITEMS, VT_PUT_UPSERT, &bad, &err), 0);
    for (int i = 0; i < NITEMS; i++)
        vt_item_reset(&items[i]);

    struct vt_impression *imps = vt_calloc((size_t)n, sizeof *imps);
    struct vt_event *evs = vt_calloc((size_t)n, sizeof *evs);
    size_t nev = 0;
    int64_t t0 = vt_time_now_ms() - 10LL * 86400 * 1000;
    for (int i = 0; i < n; i++) {
        struct vt_impression *m = &imps[i];
        int u = (int)(urand() * NUSERS), it = (int)(urand() * NITEMS);
        snprintf(m->rec_id, sizeof m->rec_id, "r%016x", i / 10);
        snprintf(m->user_id, sizeof m->user_id, "user-%d", u);
        snprintf(m->item_id, sizeof m->item_id, "item-%02d", it);
        snprintf(m->surface, sizeof m->surface, "recommend");
        m->position = i % 10;
        m->nfeatures = ENG_NFEAT;
        for (int k = 0; k < ENG_NFEAT; k++)
            m->features[k] = (float)urand();
        m->ts_ms = t0 + (int64_t)i * 60000; /* a minute apart */
        rule_fn rule = i < (int)(n * (1 - split)) ? rule_old : rule_new;
        vt_event_init(&evs[nev]);
        evs[nev].user_id = vt_strdup(m->user_id);
        evs[nev].item_id = vt_strdup(m->item_id);
        evs[nev].ts_ms = m->ts_ms + 20000;
        evs[nev].value = 1;
        /* a view is not an engagement: it must not label */
        evs[nev].type = rule(m->features) ? VT_EV_CLICK : VT_EV_VIEW;
        nev++;
    }
    CHECK_EQ_INT(vt_store_impressions_append(s, imps, (size_t)n, &bad, &err), 0);
    CHECK_EQ_INT(vt_store_events_append(s, evs, nev, &bad, &err), 0);
    vt_events_free(evs, nev);
    vt_free(imps);
    return s;
}

/* Clicks follow the shopper's AR engagement with the item, and similarity. */
static int rule_ar(const float *f)
{
    return f[ENG_Y_AR_SELF] + 0.5f * f[ENG_X_SEM_CONTEXT] > 1.0f;
}
/* Clicks follow popularity most, AR engagement a little. */
static int rule_pop(const float *f)
{
    return f[ENG_X_POP] + 0.4f * f[ENG_Y_AR_SELF] > 0.8f;
}

/* Clicks at random, whatever the features. */
static int rule_coin(const float *f)
{
    (void)f;
    return urand() < 0.3;
}

static void fake_engine(struct vt_engine *e, struct vt_store *s)
{
    memset(e, 0, sizeof *e);
    e->store = s;
    e->params.label_window_s = 1800;
}

TEST(retrain_accepts_a_better_model)
{
    const char *path = "build/test_ranker_accept.db";
    struct vt_store *s = shop(path, 3000, 0.2, rule_ar, rule_ar);
    if (!s)
        return;
    struct vt_engine e;
    fake_engine(&e, s);
    struct vt_ranker *prior = NULL, *out = NULL;
    CHECK_EQ_INT(vt_ranker_new(eng_x_names, ENG_NX, eng_y_names, ENG_NY, &prior), 0);
    json_t *rep = json_object();
    struct vt_error err;
    CHECK_EQ_INT(eng_ranker_retrain(&e, prior, &out, rep, &err), 0);
    CHECK(out != NULL);
    CHECK(json_is_true(json_object_get(rep, "accepted")));
    CHECK_EQ_INT(json_integer_value(json_object_get(rep, "examples")), 3000);
    CHECK_EQ_INT(json_integer_value(json_object_get(rep, "train_examples")), 2400);
    double auc = json_number_value(json_object_get(json_object_get(rep, "validation"), "auc"));
    double sauc = json_number_value(json_object_get(json_object_get(rep, "serving"), "auc"));
    printf("  accepted: validation AUC %.4f, the prior's %.4f\n", auc, sauc);
    CHECK(auc > 0.9 && auc > sauc);
    if (out) {
        CHECK(vt_ranker_meta_const(out)->validation.auc == auc);
        /* AR engagement raised p, popularity learnt to count for little */
        float lo[ENG_NFEAT] = {0}, hi[ENG_NFEAT] = {0};
        hi[ENG_Y_AR_SELF] = 1;
        CHECK(vt_ranker_score(out, hi, NULL, NULL) > vt_ranker_score(out, lo, NULL, NULL));
    }
    json_decref(rep);
    vt_ranker_free(out);
    vt_ranker_free(prior);
    vt_store_close(s);
    rm_db(path);
}

/* The newest 20% follow another rule than the rest (which they share a
 * little of), one the serving model knows: the model trained on the older
 * data is better than chance there but worse than the serving one. */
TEST(retrain_refuses_a_worse_model)
{
    const char *path = "build/test_ranker_refuse.db";
    struct vt_store *s = shop(path, 3000, 0.2, rule_ar, rule_pop);
    if (!s)
        return;
    struct vt_engine e;
    fake_engine(&e, s);
    /* the serving model: trained on what the newest data follow */
    enum { N = 3000 };
    static float f[N][ENG_NFEAT];
    struct vt_rank_example *ex = vt_malloc(N * sizeof *ex);
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < ENG_NFEAT; k++)
            f[i][k] = (float)urand();
        ex[i] = (struct vt_rank_example){f[i], (float)rule_pop(f[i]), 1.0f};
    }
    struct vt_ranker *prior = NULL, *serving = NULL, *out = (struct vt_ranker *)1;
    CHECK_EQ_INT(vt_ranker_new(eng_x_names, ENG_NX, eng_y_names, ENG_NY, &prior), 0);
    CHECK_EQ_INT(vt_ranker_train(prior, ex, N, NULL, &serving), 0);
    json_t *rep = json_object();
    struct vt_error err;
    CHECK_EQ_INT(eng_ranker_retrain(&e, serving, &out, rep, &err), 0);
    CHECK(out == NULL);
    CHECK(json_is_false(json_object_get(rep, "accepted")));
    const char *why = json_string_value(json_object_get(rep, "reason"));
    printf("  refused: %s\n", why ? why : "(no reason)");
    CHECK(why && strstr(why, "serving model"));
    double auc = json_number_value(json_object_get(json_object_get(rep, "validation"), "auc"));
    double sauc = json_number_value(json_object_get(json_object_get(rep, "serving"), "auc"));
    CHECK(sauc > auc + 0.005);
    json_decref(rep);

    /* clicks that nothing predicts: refused as no better than chance, even
     * with no serving model to compare with */
    vt_store_close(s);
    s = shop(path, 3000, 0.2, rule_coin, rule_coin);
    fake_engine(&e, s);
    rep = json_object();
    out = (struct vt_ranker *)1;
    CHECK_EQ_INT(eng_ranker_retrain(&e, NULL, &out, rep, &err), 0);
    CHECK(out == NULL);
    why = json_string_value(json_object_get(rep, "reason"));
    printf("  refused: %s\n", why ? why : "(no reason)");
    CHECK(why && strstr(why, "not better than chance"));
    CHECK(json_is_null(json_object_get(rep, "serving")));
    json_decref(rep);

    /* too few examples: refused with the reason, not an error */
    vt_store_close(s);
    s = shop(path, 60, 0.2, rule_ar, rule_ar);
    fake_engine(&e, s);
    rep = json_object();
    out = (struct vt_ranker *)1;
    CHECK_EQ_INT(eng_ranker_retrain(&e, serving, &out, rep, &err), 0);
    CHECK(out == NULL);
    CHECK(json_is_false(json_object_get(rep, "accepted")));
    why = json_string_value(json_object_get(rep, "reason"));
    CHECK(why && strstr(why, "too few"));
    json_decref(rep);

    vt_ranker_free(serving);
    vt_ranker_free(prior);
    vt_free(ex);
    vt_store_close(s);
    rm_db(path);
}

int main(void)
{
    vt_alloc_install_json();
    vt_log_set_level(VT_LOG_WARN);
    RUN(learns_a_separable_problem);
    RUN(prior_is_monotone);
    RUN(sgd_moves_p_toward_the_label);
    RUN(contributions_sum_to_the_logit_change);
    RUN(evaluation_matches_direct_computation);
    RUN(json_round_trip_is_exact);
    RUN(from_json_refuses_bad_models);
    RUN(retrain_accepts_a_better_model);
    RUN(retrain_refuses_a_worse_model);
    return TEST_SUMMARY();
}
