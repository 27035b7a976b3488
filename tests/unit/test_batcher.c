/*
 * test_batcher.c - gathering concurrent encode calls (nn/batcher.h).
 *
 * With a synthetic encode function whose batches the test can hold open,
 * the checks below are deterministic: callers that arrive while a batch
 * runs form the next batch, every caller gets its own rows, a bad text
 * fails only its own caller (with an index into its own texts), the queue
 * stays within its bound, and closing refuses new calls while queued ones
 * are still served. With the real USE-Lite model (data/models/use-lite),
 * many threads encoding through vt_encoder_open's batcher get vectors
 * bit-identical to a direct encode of each text on its own.
 *
 * Run from the repository root.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"
#include "nn/batcher.h"
#include "nn/encoder.h"
#include "test.h"

#define MODEL_DIR "data/models/use-lite"
#define FDIM 4

/* ---- a synthetic encoder ----------------------------------------------- */

/* The vector of a text: its length, its first byte, a hash, and 1. A text
 * "bad..." is an error. While `hold` is set, a call waits (after counting
 * itself in `calls`) until it is cleared. */
struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hold;
    int calls;               /* calls of the function */
    size_t biggest;          /* most texts in one call */
};

static void fake_vector(const char *s, float *v)
{
    uint32_t h = 2166136261u;
    for (const char *p = s; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    v[0] = (float)strlen(s);
    v[1] = (float)(unsigned char)s[0];
    v[2] = (float)(h & 0xFFFF);
    v[3] = 1;
}

static int fake_encode(void *ctx, const char *const *texts, size_t count, float *out,
                       struct vt_error *err)
{
    struct fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->calls++;
    f->biggest = count > f->biggest ? count : f->biggest;
    pthread_cond_broadcast(&f->cv);
    while (f->hold)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < count; i++) {
        if (strncmp(texts[i], "bad", 3) == 0)
            return vt_error_set(err, VT_EINVAL, "texts", "text %zu is bad", i);
        fake_vector(texts[i], out + i * FDIM);
    }
    return 0;
}

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
}

static void fake_set_hold(struct fake *f, int hold)
{
    pthread_mutex_lock(&f->mu);
    f->hold = hold;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Wait until the function has been called n times. */
static void fake_wait_calls(struct fake *f, int n)
{
    pthread_mutex_lock(&f->mu);
    while (f->calls < n)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait (at most 10 s) until `texts` texts are queued. */
static int wait_queued(struct vt_batcher *b, size_t texts)
{
    struct vt_batcher_stats s;
    for (int i = 0; i < 10000; i++) {
        vt_batcher_stats(b, &s);
        if (s.queued == texts)
            return 1;
        sleep_ms(1);
    }
    return 0;
}

/* One caller thread of the synthetic tests. */
struct call {
    pthread_t thread;
    struct vt_batcher *b;
    const char *texts[4];
    size_t count;
    float out[4 * FDIM];
    int rc;
    struct vt_error err;
};

static void *call_main(void *arg)
{
    struct call *c = arg;
    vt_error_clear(&c->err);
    c->rc = vt_batcher_encode(c->b, c->texts, c->count, c->out, &c->err);
    return NULL;
}

static int rows_right(const struct call *c)
{
    for (size_t i = 0; i < c->count; i++) {
        float v[FDIM];
        fake_vector(c->texts[i], v);
        if (memcmp(v, c->out + i * FDIM, sizeof v) != 0)
            return 0;
    }
    return 1;
}

/* ---- synthetic tests --------------------------------------------------- */

static const char *words[] = {"sofa", "oak table", "lamp", "rug", "grey armchair", "bed",
                              "desk", "shelf", "mirror", "stool", "wardrobe", "bench"};

TEST(arrivals_during_a_batch_form_the_next)
{
    struct fake f;
    fake_init(&f);
    struct vt_batcher *b;
    CHECK_EQ_INT(vt_batcher_new(fake_encode, &f, FDIM, NULL, &b), 0);

    /* alone: runs at once, no waiting for company */
    struct call solo = {.b = b, .texts = {"solo"}, .count = 1};
    call_main(&solo);
    CHECK_EQ_INT(solo.rc, 0);
    CHECK(rows_right(&solo));

    /* a held batch, then 8 callers of 1-3 texts: one batch of all 8 */
    fake_set_hold(&f, 1);
    struct call first = {.b = b, .texts = {"first"}, .count = 1};
    pthread_create(&first.thread, NULL, call_main, &first);
    fake_wait_calls(&f, 2);
    struct call c[8];
    size_t texts = 0;
    for (int i = 0; i < 8; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].b = b;
        c[i].count = 1 + (size_t)i % 3;
        for (size_t k = 0; k < c[i].count; k++)
            c[i].texts[k] = words[(i + k * 5) % 12];
        texts += c[i].count;
        pthread_create(&c[i].thread, NULL, call_main, &c[i]);
    }
    CHECK(wait_queued(b, texts));
    fake_set_hold(&f, 0);
    pthread_join(first.thread, NULL);
    for (int i = 0; i < 8; i++) {
        pthread_join(c[i].thread, NULL);
        CHECK_EQ_INT(c[i].rc, 0);
        CHECK(rows_right(&c[i]));
    }
    CHECK_EQ_INT(first.rc, 0);
    CHECK(rows_right(&first));
    struct vt_batcher_stats s;
    vt_batcher_stats(b, &s);
    CHECK_EQ_INT(s.calls, 10);
    CHECK_EQ_INT(s.batches, 3);       /* solo, first, the eight together */
    CHECK_EQ_INT(f.calls, 3);
    CHECK_EQ_INT(f.biggest, texts);
    CHECK_EQ_INT(s.queued, 0);

    /* a call above max_call goes straight through */
    const char *many[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    float out[9 * FDIM];
    CHECK_EQ_INT(vt_batcher_encode(b, many, 9, out, NULL), 0);
    vt_batcher_stats(b, &s);
    CHECK_EQ_INT(s.bypass, 1);
    float v[FDIM];
    fake_vector("i", v);
    CHECK(memcmp(v, out + 8 * FDIM, sizeof v) == 0);
    CHECK_EQ_INT(vt_batcher_encode(b, many, 0, out, NULL), 0);
    vt_batcher_free(b);
}

TEST(a_bad_text_fails_only_its_caller)
{
    struct fake f;
    fake_init(&f);
    struct vt_batcher *b;
    CHECK_EQ_INT(vt_batcher_new(fake_encode, &f, FDIM, NULL, &b), 0);
    fake_set_hold(&f, 1);
    struct call first = {.b = b, .texts = {"first"}, .count = 1};
    pthread_create(&first.thread, NULL, call_main, &first);
    fake_wait_calls(&f, 1);
    struct call good1 = {.b = b, .texts = {"sofa", "lamp"}, .count = 2};
    struct call bad = {.b = b, .texts = {"rug", "bad text", "desk"}, .count = 3};
    struct call good2 = {.b = b, .texts = {"bench"}, .count = 1};
    pthread_create(&good1.thread, NULL, call_main, &good1);
    CHECK(wait_queued(b, 2));
    pthread_create(&bad.thread, NULL, call_main, &bad);
    CHECK(wait_queued(b, 5));
    pthread_create(&good2.thread, NULL, call_main, &good2);
    CHECK(wait_queued(b, 6));
    fake_set_hold(&f, 0);
    pthread_join(first.thread, NULL);
    pthread_join(good1.thread, NULL);
    pthread_join(bad.thread, NULL);
    pthread_join(good2.thread, NULL);
    CHECK_EQ_INT(first.rc, 0);
    CHECK_EQ_INT(good1.rc, 0);
    CHECK_EQ_INT(good2.rc, 0);
    CHECK(rows_right(&good1));
    CHECK(rows_right(&good2));
    CHECK_EQ_INT(bad.rc, VT_EINVAL);
    /* the index is into the caller's own texts, not the batch's */
    CHECK_STR(bad.err.message, "text 1 is bad");
    CHECK_STR(good1.err.message, "");
    struct vt_batcher_stats s;
    vt_batcher_stats(b, &s);
    CHECK_EQ_INT(s.batches, 2);
    CHECK_EQ_INT(s.retries, 1);
    vt_batcher_free(b);
}

TEST(queue_is_bounded)
{
    struct fake f;
    fake_init(&f);
    struct vt_batcher_opts o = {.max_batch = 4, .max_call = 2, .max_queue = 5};
    struct vt_batcher *b;
    CHECK_EQ_INT(vt_batcher_new(fake_encode, &f, FDIM, &o, &b), 0);
    fake_set_hold(&f, 1);
    enum { N = 24 };
    struct call c[N];
    for (int i = 0; i < N; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].b = b;
        c[i].count = 1 + (size_t)i % 2;
        c[i].texts[0] = words[i % 12];
        c[i].texts[1] = words[(i + 7) % 12];
        pthread_create(&c[i].thread, NULL, call_main, &c[i]);
    }
    /* they pile up against the bound: 4 or 5 texts wait (a caller of 2
     * does not fit beside 4), the rest wait for room */
    struct vt_batcher_stats s;
    int full = 0;
    for (int i = 0; i < 10000 && !full; i++) {
        vt_batcher_stats(b, &s);
        full = s.queued >= 4;
        if (!full)
            sleep_ms(1);
    }
    CHECK(full);
    sleep_ms(20);
    vt_batcher_stats(b, &s);
    CHECK(s.queued <= 5);
    fake_set_hold(&f, 0);
    for (int i = 0; i < N; i++) {
        pthread_join(c[i].thread, NULL);
        CHECK_EQ_INT(c[i].rc, 0);
        CHECK(rows_right(&c[i]));
    }
    vt_batcher_stats(b, &s);
    CHECK(s.peak_queued <= 5);
    CHECK(f.biggest <= 4);
    CHECK_EQ_INT(s.calls, N);
    CHECK(s.batches < N); /* some batches held several callers */
    vt_batcher_free(b);
}

struct freer {
    pthread_t thread;
    struct vt_batcher *b;
    atomic_int done;
};

static void *free_main(void *arg)
{
    struct freer *fr = arg;
    vt_batcher_free(fr->b);
    atomic_store(&fr->done, 1);
    return NULL;
}

TEST(shutdown_serves_waiters_and_refuses_newcomers)
{
    struct fake f;
    fake_init(&f);
    struct vt_batcher *b;
    CHECK_EQ_INT(vt_batcher_new(fake_encode, &f, FDIM, NULL, &b), 0);
    fake_set_hold(&f, 1);
    struct call c[6];
    for (int i = 0; i < 6; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].b = b;
        c[i].count = 1;
        c[i].texts[0] = words[i];
        pthread_create(&c[i].thread, NULL, call_main, &c[i]);
        if (i == 0)
            fake_wait_calls(&f, 1);
    }
    CHECK(wait_queued(b, 5));
    /* free while one batch runs and five callers wait */
    struct freer fr = {.b = b};
    atomic_init(&fr.done, 0);
    pthread_create(&fr.thread, NULL, free_main, &fr);
    sleep_ms(30);
    CHECK_EQ_INT(atomic_load(&fr.done), 0); /* still waiting for the callers */
    /* closed (free closes too; closing again here makes the order certain):
     * a newcomer is refused at once */
    vt_batcher_close(b);
    struct call late = {.b = b, .texts = {"late"}, .count = 1};
    call_main(&late);
    CHECK_EQ_INT(late.rc, VT_EUNAVAIL);
    fake_set_hold(&f, 0);
    for (int i = 0; i < 6; i++) {
        pthread_join(c[i].thread, NULL);
        CHECK_EQ_INT(c[i].rc, 0);
        CHECK(rows_right(&c[i]));
    }
    pthread_join(fr.thread, NULL);
    CHECK_EQ_INT(atomic_load(&fr.done), 1);
    CHECK_EQ_INT(f.calls, 2); /* the first alone, the five waiters together */
    vt_batcher_free(NULL);
}

/* ---- the real encoder --------------------------------------------------- */

static const char *queries[] = {
    "grey fabric sofa",        "oak dining table for six", "黑色真皮沙发",
    "small desk lamp",         "king size bed frame",      "coffee table for a small living room",
    "white bookshelf",         "outdoor bench",            "velvet armchair, green",
    "",                        "kids bunk bed with storage", "round mirror 60 cm",
    "wardrobe with sliding doors", "bar stool",            "rug 200x300",
    "standing desk, electric", "pendant light brass",     "TV stand walnut",
};
#define NQ (sizeof queries / sizeof *queries)

struct worker {
    pthread_t thread;
    struct vt_encoder *enc;
    const float *want;         /* NQ x dim, each text encoded alone */
    size_t dim, seed;
    int mismatches, errors;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    float out[3 * 512];
    for (size_t r = 0; r < 30; r++) {
        size_t n = 1 + (w->seed + r) % 3, first = (w->seed * 7 + r * 5) % NQ;
        const char *in[3];
        for (size_t k = 0; k < n; k++)
            in[k] = queries[(first + k) % NQ];
        struct vt_error err;
        if (vt_encoder_encode(w->enc, in, n, out, &err) != 0) {
            w->errors++;
            continue;
        }
        for (size_t k = 0; k < n; k++)
            if (memcmp(out + k * w->dim, w->want + ((first + k) % NQ) * w->dim,
                       w->dim * sizeof *out) != 0)
                w->mismatches++;
    }
    return NULL;
}

TEST(use_lite_concurrent_callers_match_direct_encoding)
{
    struct stat st;
    if (stat(MODEL_DIR "/model.json", &st) != 0) {
        fprintf(stderr, "test_batcher: %s missing (scripts/fetch-models)\n", MODEL_DIR);
        CHECK(0);
        return;
    }
    struct vt_encoder *direct = NULL, *batched = NULL;
    struct vt_error err;
    CHECK_EQ_INT(vt_use_lite_open(MODEL_DIR, &direct, &err), 0);
    CHECK_EQ_INT(vt_encoder_open(MODEL_DIR, &batched, &err), 0);
    if (!direct || !batched) {
        vt_encoder_free(direct);
        vt_encoder_free(batched);
        return;
    }
    struct vt_encoder_info info;
    vt_encoder_info(batched, &info);
    CHECK_EQ_INT(info.dim, 512);
    CHECK_STR(info.arch, "use-lite");
    float *want = vt_calloc(NQ, 512 * sizeof *want);
    for (size_t i = 0; i < NQ; i++)
        CHECK_EQ_INT(vt_encoder_encode(direct, &queries[i], 1, want + i * 512, &err), 0);

    enum { W = 8 };
    struct worker w[W];
    for (size_t i = 0; i < W; i++) {
        w[i] = (struct worker){.enc = batched, .want = want, .dim = 512, .seed = i};
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    int mismatches = 0, errors = 0;
    for (size_t i = 0; i < W; i++) {
        pthread_join(w[i].thread, NULL);
        mismatches += w[i].mismatches;
        errors += w[i].errors;
    }
    CHECK_EQ_INT(errors, 0);
    CHECK_EQ_INT(mismatches, 0);

    /* a bad text (invalid UTF-8) fails its own call only */
    const char *bad[2] = {"sofa", "\xff\xfe broken"};
    float out[2 * 512];
    CHECK(vt_encoder_encode(batched, bad, 2, out, &err) != 0);
    CHECK(strstr(err.message, "text 1") != NULL);
    CHECK_EQ_INT(vt_encoder_encode(batched, queries, 1, out, &err), 0);
    CHECK(memcmp(out, want, 512 * sizeof *out) == 0);

    vt_free(want);
    vt_encoder_free(direct);
    vt_encoder_free(batched);
}

int main(void)
{
    RUN(arrivals_during_a_batch_form_the_next);
    RUN(a_bad_text_fails_only_its_caller);
    RUN(queue_is_bounded);
    RUN(shutdown_serves_waiters_and_refuses_newcomers);
    RUN(use_lite_concurrent_callers_match_direct_encoding);
    return TEST_SUMMARY();
}
