/*
 * ranker.c - the learned scorer of recommendation candidates (ranker.h;
 * the form, the prior and the training are explained in docs/ranker.md).
 *
 * Parameters live in one vector th[] so that training, L2 and JSON treat
 * them alike:
 *
 *     th[0 .. nx)            w, interest weights
 *     th[nx .. nx+ny)        v, AR weights
 *     th[P_B(m)]             b, interest bias
 *     th[P_C(m)]             c, AR bias
 *     th[P_ALPHA(m)]         alpha
 *     th[P_BETA(m)]          beta
 *     th[P_D(m)]             d, outer bias
 *
 * With s = alpha z + beta a + d the outer logit, the weighted log loss of
 * one example (label y, weight k) is k * (y softplus(-s) + (1-y) softplus(s))
 * and its derivative in s is g = k (p - y); the chain rule gives
 *
 *     dL/dalpha = g z            dL/dbeta = g a            dL/dd = g
 *     dL/dw_i = g alpha z (1-z) x_i      dL/db = g alpha z (1-z)
 *     dL/dv_j = g beta a (1-a) y_j       dL/dc = g beta a (1-a)
 *
 * L2 (strength l2) pulls w, v, alpha and beta toward 0; biases are free.
 * Online steps are plain SGD; batch training uses Adagrad (a per-parameter
 * step that shrinks with the squared gradients seen), with shuffled epochs.
 *
 * Invariants: every parameter is finite; features are read through
 * feat(), which maps non-finite values to 0 and clamps to +-FEAT_CLAMP, so
 * no input can make a score NaN.
 */
#include "rec/ranker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"

#define MAXF VT_RANKER_MAX_FEATURES
#define NPARAM_MAX (MAXF + 5)
#define FEAT_CLAMP 100.0f    /* features are about [-1, 1]; far outside is a bug */
#define PARAM_MAX 1e6        /* largest |parameter| a model file may hold */
#define NAME_MAX_BYTES 63    /* longest feature name */
#define ONLINE_L2 1e-4       /* L2 of online steps */
#define WEIGHT_MAX 100.0f    /* largest example weight taken as is */

struct vt_ranker {
    size_t nx, ny;
    char *names[MAXF];       /* x names then y names */
    double th[NPARAM_MAX];
    struct vt_ranker_meta meta;
};

static size_t nparam(const struct vt_ranker *m) { return m->nx + m->ny + 5; }
#define P_B(m) ((m)->nx + (m)->ny)
#define P_C(m) ((m)->nx + (m)->ny + 1)
#define P_ALPHA(m) ((m)->nx + (m)->ny + 2)
#define P_BETA(m) ((m)->nx + (m)->ny + 3)
#define P_D(m) ((m)->nx + (m)->ny + 4)

/* ---- the prior ------------------------------------------------------------ */

/* Weights before any data, by feature name (docs/ranker.md says why).
 * Every one is positive: more similarity, more collaborative signal and
 * more AR engagement each raise p. Names not listed get PRIOR_W. */
struct prior_w {
    const char *name;
    double w;
};
static const struct prior_w prior_weights[] = {
    {"sem_context", 2.0}, {"sem_session", 1.5}, {"sem_text", 1.0},  {"cf_als", 1.5},
    {"cf_knn", 1.5},      {"pop", 0.5},         {"trending", 0.5},  {"recency", 0.25},
    {"price_fit", 0.5},   {"category", 0.5},    {"seen", 0.25},     {"ar_self", 2.0},
    {"ar_near", 1.0},     {"ar_rate", 0.5},     {"manipulate", 1.0},
};
#define PRIOR_W 0.5
#define PRIOR_B (-2.0)     /* z = 0.12 with no interest signal */
#define PRIOR_C (-2.0)     /* a = 0.12 with no AR signal */
#define PRIOR_ALPHA 3.0
#define PRIOR_BETA 2.0
#define PRIOR_D (-3.0)     /* p = 0.08 for a candidate with no signal at all */

static double prior_weight(const char *name)
{
    for (size_t i = 0; i < sizeof prior_weights / sizeof prior_weights[0]; i++)
        if (strcmp(prior_weights[i].name, name) == 0)
            return prior_weights[i].w;
    return PRIOR_W;
}

static void set_prior(struct vt_ranker *m)
{
    for (size_t i = 0; i < m->nx + m->ny; i++)
        m->th[i] = prior_weight(m->names[i]);
    m->th[P_B(m)] = PRIOR_B;
    m->th[P_C(m)] = PRIOR_C;
    m->th[P_ALPHA(m)] = PRIOR_ALPHA;
    m->th[P_BETA(m)] = PRIOR_BETA;
    m->th[P_D(m)] = PRIOR_D;
}

/* ---- lifecycle --------------------------------------------------------------- */

static int names_ok(const char *const *names, size_t n)
{
    if (!names || n < 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!names[i] || !names[i][0] || strlen(names[i]) > NAME_MAX_BYTES)
            return 0;
    return 1;
}

void vt_ranker_free(struct vt_ranker *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < MAXF; i++)
        vt_free(m->names[i]);
    vt_free(m);
}

int vt_ranker_new(const char *const *x_names, size_t nx, const char *const *y_names, size_t ny,
                  struct vt_ranker **out)
{
    struct vt_ranker *m;

    *out = NULL;
    if (nx + ny > MAXF || !names_ok(x_names, nx) || !names_ok(y_names, ny))
        return VT_EINVAL;
    for (size_t i = 0; i < nx + ny; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(i < nx ? x_names[i] : y_names[i - nx],
                       k < nx ? x_names[k] : y_names[k - nx]) == 0)
                return VT_EINVAL; /* names key the JSON: they must differ */
    m = vt_calloc(1, sizeof *m);
    if (!m)
        return VT_ENOMEM;
    m->nx = nx;
    m->ny = ny;
    for (size_t i = 0; i < nx + ny; i++) {
        m->names[i] = vt_strdup(i < nx ? x_names[i] : y_names[i - nx]);
        if (!m->names[i]) {
            vt_ranker_free(m);
            return VT_ENOMEM;
        }
    }
    set_prior(m);
    *out = m;
    return 0;
}

int vt_ranker_copy(const struct vt_ranker *m, struct vt_ranker **out)
{
    struct vt_ranker *c;

    *out = NULL;
    c = vt_calloc(1, sizeof *c);
    if (!c)
        return VT_ENOMEM;
    memcpy(c->th, m->th, sizeof c->th);
    c->meta = m->meta;
    c->nx = m->nx;
    c->ny = m->ny;
    for (size_t i = 0; i < m->nx + m->ny; i++) {
        c->names[i] = vt_strdup(m->names[i]);
        if (!c->names[i]) {
            vt_ranker_free(c);
            return VT_ENOMEM;
        }
    }
    *out = c;
    return 0;
}

size_t vt_ranker_nx(const struct vt_ranker *m) { return m->nx; }
size_t vt_ranker_ny(const struct vt_ranker *m) { return m->ny; }

struct vt_ranker_meta *vt_ranker_meta(struct vt_ranker *m) { return &m->meta; }
const struct vt_ranker_meta *vt_ranker_meta_const(const struct vt_ranker *m)
{
    return &m->meta;
}

/* ---- scoring ----------------------------------------------------------------- */

static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* log(1 + e^x) without overflow. */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double feat(float v)
{
    if (!isfinite(v))
        return 0;
    return v > FEAT_CLAMP ? FEAT_CLAMP : v < -FEAT_CLAMP ? -FEAT_CLAMP : v;
}

/* The forward pass: inner logits u (interest) and t (AR), the inner
 * scores, and the outer logit s. */
struct fwd {
    double u, t, z, a, s;
};

static void forward(const struct vt_ranker *m, const float *f, struct fwd *o)
{
    double u = m->th[P_B(m)], t = m->th[P_C(m)];
    for (size_t i = 0; i < m->nx; i++)
        u += m->th[i] * feat(f[i]);
    for (size_t j = m->nx; j < m->nx + m->ny; j++)
        t += m->th[j] * feat(f[j]);
    o->u = u;
    o->t = t;
    o->z = sigmoid(u);
    o->a = sigmoid(t);
    o->s = m->th[P_ALPHA(m)] * o->z + m->th[P_BETA(m)] * o->a + m->th[P_D(m)];
}

double vt_ranker_score(const struct vt_ranker *m, const float *f, double *z, double *a)
{
    struct fwd o;
    forward(m, f, &o);
    if (z)
        *z = o.z;
    if (a)
        *a = o.a;
    return sigmoid(o.s);
}

/* The slope of sigmoid between x0 and x (the secant), or at x when they
 * are too close to divide. */
static double secant(double x0, double x)
{
    double d = x - x0;
    if (fabs(d) < 1e-6) {
        double s = sigmoid(x);
        return s * (1 - s);
    }
    return (sigmoid(x) - sigmoid(x0)) / d;
}

/* Within a group the inner logit is linear, so feature i moved it by
 * exactly w_i x_i; the chain rule carries that through the group's
 * sigmoid (its mean slope between f = 0 and f) and the outer weight. The
 * contributions therefore add up to s(f) - s(0) exactly. */
void vt_ranker_contrib(const struct vt_ranker *m, const float *f, float *contrib)
{
    struct fwd o;
    forward(m, f, &o);
    double kz = m->th[P_ALPHA(m)] * secant(m->th[P_B(m)], o.u);
    double ka = m->th[P_BETA(m)] * secant(m->th[P_C(m)], o.t);
    for (size_t i = 0; i < m->nx; i++)
        contrib[i] = (float)(kz * m->th[i] * feat(f[i]));
    for (size_t j = m->nx; j < m->nx + m->ny; j++)
        contrib[j] = (float)(ka * m->th[j] * feat(f[j]));
}

/* ---- learning ---------------------------------------------------------------- */

/* 1 when the example can be learnt from; its label clamped to [0, 1] and
 * weight capped in *y and *k. */
static int example_ok(const struct vt_rank_example *ex, double *y, double *k)
{
    if (!ex->f || !isfinite(ex->label) || !isfinite(ex->weight) || !(ex->weight > 0))
        return 0;
    *y = ex->label < 0 ? 0 : ex->label > 1 ? 1 : ex->label;
    *k = ex->weight > WEIGHT_MAX ? WEIGHT_MAX : ex->weight;
    return 1;
}

/* Gradient of the example's loss (without L2) into g[0 .. nparam). */
static void gradient(const struct vt_ranker *m, const float *f, double y, double k, double *g)
{
    struct fwd o;
    forward(m, f, &o);
    double gs = k * (sigmoid(o.s) - y);
    double gu = gs * m->th[P_ALPHA(m)] * o.z * (1 - o.z);
    double gt = gs * m->th[P_BETA(m)] * o.a * (1 - o.a);
    for (size_t i = 0; i < m->nx; i++)
        g[i] = gu * feat(f[i]);
    for (size_t j = m->nx; j < m->nx + m->ny; j++)
        g[j] = gt * feat(f[j]);
    g[P_B(m)] = gu;
    g[P_C(m)] = gt;
    g[P_ALPHA(m)] = gs * o.z;
    g[P_BETA(m)] = gs * o.a;
    g[P_D(m)] = gs;
}

static int regularised(const struct vt_ranker *m, size_t i)
{
    return i < m->nx + m->ny || i == P_ALPHA(m) || i == P_BETA(m);
}

/* Keeps every parameter finite and within PARAM_MAX (a step can only
 * reach past it with absurd learning rates). */
static void clamp_params(struct vt_ranker *m)
{
    for (size_t i = 0; i < nparam(m); i++) {
        if (!isfinite(m->th[i]))
            m->th[i] = 0;
        else if (m->th[i] > PARAM_MAX)
            m->th[i] = PARAM_MAX;
        else if (m->th[i] < -PARAM_MAX)
            m->th[i] = -PARAM_MAX;
    }
}

void vt_ranker_sgd(struct vt_ranker *m, const struct vt_rank_example *ex, float learning_rate)
{
    double g[NPARAM_MAX], y, k;
    if (!example_ok(ex, &y, &k) || !(learning_rate > 0) || !isfinite(learning_rate))
        return;
    gradient(m, ex->f, y, k, g);
    for (size_t i = 0; i < nparam(m); i++)
        m->th[i] -= learning_rate * (g[i] + (regularised(m, i) ? ONLINE_L2 * m->th[i] : 0));
    clamp_params(m);
    m->meta.online_updates++;
}

/* splitmix64: the example order of each epoch. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int vt_ranker_train(const struct vt_ranker *start, const struct vt_rank_example *ex, size_t n,
                    const struct vt_ranker_train_options *o, struct vt_ranker **out)
{
    struct vt_ranker_train_options opt = {0};
    struct vt_ranker *m = NULL;
    size_t *order = NULL, usable = 0;
    double acc[NPARAM_MAX], g[NPARAM_MAX];
    uint64_t rng;
    int64_t t0 = vt_time_mono_ns();
    int rc;

    *out = NULL;
    if (!start || !ex || n == 0)
        return VT_EINVAL;
    if (o)
        opt = *o;
    if (opt.epochs <= 0)
        opt.epochs = 20;
    if (!(opt.learning_rate > 0) || !isfinite(opt.learning_rate))
        opt.learning_rate = 0.05f;
    if (!(opt.l2 > 0) || !isfinite(opt.l2))
        opt.l2 = 1e-4f;
    rng = opt.seed;

    rc = vt_ranker_copy(start, &m);
    if (rc < 0)
        return rc;
    order = vt_calloc(n, sizeof *order);
    if (!order) {
        vt_ranker_free(m);
        return VT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        double y, k;
        if (example_ok(&ex[i], &y, &k))
            order[usable++] = i;
    }
    if (usable == 0) {
        vt_free(order);
        vt_ranker_free(m);
        return VT_EINVAL;
    }
    for (size_t i = 0; i < nparam(m); i++)
        acc[i] = 1e-8;
    for (int e = 0; e < opt.epochs; e++) {
        for (size_t i = usable; i > 1; i--) {
            size_t r = (size_t)(next_rand(&rng) % i), tmp = order[i - 1];
            order[i - 1] = order[r];
            order[r] = tmp;
        }
        for (size_t k = 0; k < usable; k++) {
            const struct vt_rank_example *x = &ex[order[k]];
            double y = 0, wt = 0;
            example_ok(x, &y, &wt); /* true: order[] holds usable examples only */
            gradient(m, x->f, y, wt, g);
            for (size_t i = 0; i < nparam(m); i++) {
                double gi = g[i] + (regularised(m, i) ? opt.l2 * m->th[i] : 0);
                acc[i] += gi * gi;
                m->th[i] -= opt.learning_rate * gi / sqrt(acc[i]);
            }
            clamp_params(m);
        }
    }
    vt_free(order);
    m->meta.trained_ms = vt_time_now_ms();
    m->meta.training_seconds = (double)(vt_time_mono_ns() - t0) / 1e9;
    m->meta.train_examples = usable;
    m->meta.online_updates = 0;
    memset(&m->meta.validation, 0, sizeof m->meta.validation);
    *out = m;
    return 0;
}

/* ---- evaluation --------------------------------------------------------------- */

struct scored {
    double p, k;  /* score, weight */
    int pos;
};

static int scored_cmp(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    return (x->p > y->p) - (x->p < y->p);
}

/* Weighted ROC AUC: the weighted share of (positive, negative) pairs the
 * scores order correctly, ties counting one half. Sorted once by score;
 * each run of equal scores is one step of the sweep. */
static double auc_sorted(const struct scored *v, size_t n)
{
    double wneg_below = 0, wpos = 0, wneg = 0, num = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        double tp = 0, tn = 0;
        while (e < n && v[e].p == v[i].p) {
            if (v[e].pos)
                tp += v[e].k;
            else
                tn += v[e].k;
            e++;
        }
        num += tp * (wneg_below + 0.5 * tn);
        wneg_below += tn;
        wpos += tp;
        wneg += tn;
        i = e;
    }
    return wpos > 0 && wneg > 0 ? num / (wpos * wneg) : 0.5;
}

void vt_ranker_evaluate(const struct vt_ranker *m, const struct vt_rank_example *ex, size_t n,
                        struct vt_ranker_eval *out)
{
    struct scored *v = vt_calloc(n ? n : 1, sizeof *v);
    double loss = 0, wsum = 0;
    size_t used = 0, pos = 0;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        struct fwd o;
        double y, k;
        if (!example_ok(&ex[i], &y, &k))
            continue;
        forward(m, ex[i].f, &o);
        loss += k * (y * softplus(-o.s) + (1 - y) * softplus(o.s));
        wsum += k;
        if (v)
            v[used] = (struct scored){o.s, k, y >= 0.5};
        pos += y >= 0.5;
        used++;
    }
    out->examples = used;
    out->positives = pos;
    out->logloss = wsum > 0 ? loss / wsum : 0;
    if (v) {
        qsort(v, used, sizeof *v, scored_cmp);
        out->auc = auc_sorted(v, used);
    } else {
        out->auc = NAN; /* out of memory: unknown */
    }
    vt_free(v);
}

/* ---- JSON ------------------------------------------------------------------------- */

#define FORM "p = sigmoid(alpha * sigmoid(w . x + b) + beta * sigmoid(v . y + c) + bias)"

/* A real, or null for a value JSON cannot hold (NaN after an out-of-memory
 * evaluation). */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *group_json(const struct vt_ranker *m, size_t from, size_t to, double bias)
{
    json_t *w = json_object();
    for (size_t i = from; w && i < to; i++)
        if (json_object_set_new(w, m->names[i], json_real(m->th[i])) < 0) {
            json_decref(w);
            return NULL;
        }
    return w ? json_pack("{s:o,s:o}", "bias", num(bias), "weights", w) : NULL;
}

json_t *vt_ranker_to_json(const struct vt_ranker *m)
{
    const struct vt_ranker_meta *mt = &m->meta;
    char when[32] = "";
    json_t *interest = group_json(m, 0, m->nx, m->th[P_B(m)]);
    json_t *ar = group_json(m, m->nx, m->nx + m->ny, m->th[P_C(m)]);
    json_t *meta;

    if (mt->trained_ms > 0)
        vt_time_format_iso(mt->trained_ms, when, sizeof when);
    meta = json_pack("{s:I,s:o,s:o,s:I,s:{s:I,s:I,s:o,s:o},s:I,s:I}", "trained_ms",
                     (json_int_t)mt->trained_ms, "trained_at",
                     when[0] ? json_string(when) : json_null(), "training_seconds",
                     num(mt->training_seconds), "train_examples",
                     (json_int_t)mt->train_examples, "validation", "examples",
                     (json_int_t)mt->validation.examples, "positives",
                     (json_int_t)mt->validation.positives, "logloss",
                     num(mt->validation.logloss), "auc", num(mt->validation.auc),
                     "online_updates", (json_int_t)mt->online_updates, "version",
                     (json_int_t)mt->version);
    if (!interest || !ar || !meta) {
        json_decref(interest);
        json_decref(ar);
        json_decref(meta);
        return NULL;
    }
    return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "form", FORM, "interest", interest, "ar",
                     ar, "alpha", num(m->th[P_ALPHA(m)]), "beta", num(m->th[P_BETA(m)]), "bias",
                     num(m->th[P_D(m)]), "meta", meta);
}

/* A finite number within +-max at key of object o (path names o in
 * messages). */
static int get_num(const json_t *o, const char *path, const char *key, double max, double *out,
                   struct vt_error *err)
{
    json_t *v = json_object_get(o, key);
    char field[64];
    snprintf(field, sizeof field, "%s%s%s", path, path[0] ? "." : "", key);
    if (!v)
        return vt_error_set(err, VT_EFORMAT, field, "ranker model: %s is missing", field);
    if (!json_is_number(v))
        return vt_error_set(err, VT_EFORMAT, field, "ranker model: %s must be a number", field);
    *out = json_number_value(v);
    if (!isfinite(*out) || fabs(*out) > max)
        return vt_error_set(err, VT_EFORMAT, field,
                            "ranker model: %s = %g is out of range (at most %g in magnitude)",
                            field, *out, max);
    return 0;
}

/* A whole number in [0, INT64_MAX] at key (absent: 0 when optional). */
static int get_count(const json_t *o, const char *path, const char *key, int64_t *out,
                     struct vt_error *err)
{
    json_t *v = json_object_get(o, key);
    char field[64];
    snprintf(field, sizeof field, "%s.%s", path, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return vt_error_set(err, VT_EFORMAT, field,
                            "ranker model: %s must be a whole number >= 0", field);
    *out = json_integer_value(v);
    return 0;
}

/* One group ("interest" or "ar"): its bias and exactly the given names. */
static int group_from_json(const json_t *j, const char *key, const char *const *names, size_t n,
                           double *w, double *bias, struct vt_error *err)
{
    json_t *g = json_object_get(j, key), *ws;
    char path[64];
    int rc;

    if (!json_is_object(g))
        return vt_error_set(err, VT_EFORMAT, key, "ranker model: \"%s\" must be an object", key);
    rc = get_num(g, key, "bias", PARAM_MAX, bias, err);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s.weights", key);
    ws = json_object_get(g, "weights");
    if (!json_is_object(ws))
        return vt_error_set(err, VT_EFORMAT, path, "ranker model: %s must be an object", path);
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(ws, names[i]))
            return vt_error_set(err, VT_EFORMAT, path,
                                "ranker model: %s has no weight for feature '%s': the model "
                                "was trained on other features and cannot be used",
                                path, names[i]);
        rc = get_num(ws, path, names[i], PARAM_MAX, &w[i], err);
        if (rc < 0)
            return rc;
    }
    if (json_object_size(ws) != n) {
        const char *k;
        json_t *v;
        json_object_foreach(ws, k, v) {
            size_t i = 0;
            while (i < n && strcmp(names[i], k) != 0)
                i++;
            if (i == n)
                return vt_error_set(err, VT_EFORMAT, path,
                                    "ranker model: %s has a weight for '%.40s', a feature this "
                                    "vitrine does not compute: the model was trained on other "
                                    "features and cannot be used",
                                    path, k);
        }
    }
    return 0;
}

static int meta_from_json(const json_t *j, struct vt_ranker_meta *mt, struct vt_error *err)
{
    json_t *meta = json_object_get(j, "meta"), *val, *val_null;
    int64_t v;
    int rc;

    memset(mt, 0, sizeof *mt);
    if (!meta)
        return 0;
    if (!json_is_object(meta))
        return vt_error_set(err, VT_EFORMAT, "meta", "ranker model: \"meta\" must be an object");
    if ((rc = get_count(meta, "meta", "trained_ms", &v, err)) < 0)
        return rc;
    mt->trained_ms = v;
    if ((rc = get_count(meta, "meta", "train_examples", &v, err)) < 0)
        return rc;
    mt->train_examples = (size_t)v;
    if ((rc = get_count(meta, "meta", "online_updates", &v, err)) < 0)
        return rc;
    mt->online_updates = (uint64_t)v;
    if ((rc = get_count(meta, "meta", "version", &v, err)) < 0)
        return rc;
    mt->version = (uint64_t)v;
    if (json_object_get(meta, "training_seconds")) {
        rc = get_num(meta, "meta", "training_seconds", 1e9, &mt->training_seconds, err);
        if (rc < 0)
            return rc;
        if (mt->training_seconds < 0)
            return vt_error_set(err, VT_EFORMAT, "meta.training_seconds",
                                "ranker model: meta.training_seconds is negative");
    }
    val = json_object_get(meta, "validation");
    if (!val || json_is_null(val))
        return 0;
    if (!json_is_object(val))
        return vt_error_set(err, VT_EFORMAT, "meta.validation",
                            "ranker model: meta.validation must be an object");
    if ((rc = get_count(val, "meta.validation", "examples", &v, err)) < 0)
        return rc;
    mt->validation.examples = (size_t)v;
    if ((rc = get_count(val, "meta.validation", "positives", &v, err)) < 0)
        return rc;
    mt->validation.positives = (size_t)v;
    /* null stands for a value that was not a number (NaN) when saved */
    mt->validation.logloss = NAN;
    mt->validation.auc = NAN;
    val_null = json_object_get(val, "logloss");
    if (val_null && !json_is_null(val_null)) {
        rc = get_num(val, "meta.validation", "logloss", 1e9, &mt->validation.logloss, err);
        if (rc < 0)
            return rc;
    }
    val_null = json_object_get(val, "auc");
    if (val_null && !json_is_null(val_null)) {
        rc = get_num(val, "meta.validation", "auc", 1, &mt->validation.auc, err);
        if (rc < 0)
            return rc;
    }
    if (mt->validation.positives > mt->validation.examples)
        return vt_error_set(err, VT_EFORMAT, "meta.validation.positives",
                            "ranker model: more validation positives than examples");
    return 0;
}

int vt_ranker_from_json(const json_t *j, const char *const *x_names, size_t nx,
                        const char *const *y_names, size_t ny, struct vt_ranker **out,
                        struct vt_error *err)
{
    struct vt_ranker *m = NULL;
    json_t *form;
    int rc;

    *out = NULL;
    vt_error_clear(err);
    rc = vt_ranker_new(x_names, nx, y_names, ny, &m);
    if (rc < 0)
        return vt_error_set(err, rc, NULL, "ranker model: %s",
                            rc == VT_ENOMEM ? "out of memory" : "invalid feature names");
    if (!json_is_object(j)) {
        rc = vt_error_set(err, VT_EFORMAT, NULL, "ranker model: not a JSON object");
        goto out;
    }
    form = json_object_get(j, "form");
    if (form && !json_is_string(form)) {
        rc = vt_error_set(err, VT_EFORMAT, "form", "ranker model: \"form\" must be a string");
        goto out;
    }
    rc = group_from_json(j, "interest", x_names, nx, m->th, &m->th[P_B(m)], err);
    if (rc == 0)
        rc = group_from_json(j, "ar", y_names, ny, m->th + nx, &m->th[P_C(m)], err);
    if (rc == 0)
        rc = get_num(j, "", "alpha", PARAM_MAX, &m->th[P_ALPHA(m)], err);
    if (rc == 0)
        rc = get_num(j, "", "beta", PARAM_MAX, &m->th[P_BETA(m)], err);
    if (rc == 0)
        rc = get_num(j, "", "bias", PARAM_MAX, &m->th[P_D(m)], err);
    if (rc == 0)
        rc = meta_from_json(j, &m->meta, err);
out:
    if (rc < 0) {
        vt_ranker_free(m);
        return rc;
    }
    *out = m;
    return 0;
}
