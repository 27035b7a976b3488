/*
 * bench_encoder.c - sentences per second and latency of one encoder.
 *
 * Built and run by bench/encoder/run against libvitrine.a. Loads a model
 * (USE-Lite folder, Hugging Face BERT folder or GGUF file), reads texts one
 * per line, and calls vt_encoder_encode with `batch` consecutive texts at a
 * time (cycling through the file) on one calling thread, with the shared
 * kernel pool set to `threads` threads (the caller counts as one). After a
 * warm-up, each repetition runs calls for `seconds`; it records every
 * call's wall time. Prints one line per repetition on stderr and a summary
 * on stdout:
 *
 *   RESULT runtime=vitrine sent_s=<median> p50_ms=<median> p99_ms=<median> ...
 *
 * sent_s is texts encoded per second; p50_ms and p99_ms are percentiles of
 * the latency of one call (a call encodes `batch` texts), each the median
 * over the repetitions.
 *
 * --callers N runs N calling threads at once instead of one, each making
 * calls of `batch` texts back to back (the i-th starts at text i * count /
 * N), as concurrent search requests do; sent_s then counts the texts of
 * every call that finished within the timed seconds, and the latencies
 * are those of all callers' calls. The shared pool still has `threads`
 * threads, so the callers compete for it (and, through vt_encoder_encode,
 * are gathered into batches).
 *
 * Other modes: --ids prints, for every text, the token ids the model reads
 * as a JSON array per line (the peers read these); --count prints the
 * number of those ids per text; --vectors FILE writes every text's
 * embedding as raw float32 (to check that the peers compute the same
 * function on the same weights).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/util.h"
#include "nn/encoder.h"
#include "nn/kernels.h"

static void usage(void)
{
    fprintf(stderr, "usage: bench_encoder --model PATH --texts FILE [--batch N] [--threads N]\n"
                    "                     [--reps N] [--seconds S] [--warmup S] [--callers N]\n"
                    "                     [--ids | --count | --vectors FILE]\n");
    exit(2);
}

static char **read_lines(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    char **v = NULL, *line = NULL;
    size_t n = 0, cap = 0, lcap = 0;
    ssize_t len;
    if (!f) {
        perror(path);
        exit(1);
    }
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = realloc(v, cap * sizeof *v);
            if (!v)
                exit(1);
        }
        v[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    *count = n;
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of sorted v[0..n), nearest rank. */
static double quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)n + 0.999999);
    if (i == 0)
        i = 1;
    return v[(i > n ? n : i) - 1];
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One calling thread of --callers: calls until `stop`, recording the
 * latency of every call that starts and ends inside the current window
 * [win_start, win_end] (win_start 0: no window open). */
struct caller {
    pthread_t thread;
    pthread_mutex_t mu;          /* guards lat, nlat, cap, done */
    struct vt_encoder *enc;
    char **texts;
    size_t ntexts, next, batch, dim;
    _Atomic int64_t *win_start, *win_end;
    atomic_int *stop;
    double *lat;
    size_t nlat, cap, done;
    int failed;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    const char **in = malloc(c->batch * sizeof *in);
    float *out = malloc(c->batch * c->dim * sizeof *out);
    struct vt_error err = {0};
    if (!in || !out) {
        c->failed = 1;
        goto out;
    }
    while (!atomic_load(c->stop)) {
        for (size_t b = 0; b < c->batch; b++) {
            in[b] = c->texts[c->next];
            c->next = (c->next + 1) % c->ntexts;
        }
        int64_t c0 = vt_time_mono_ns();
        if (vt_encoder_encode(c->enc, in, c->batch, out, &err)) {
            fprintf(stderr, "encode: %s\n", err.message);
            c->failed = 1;
            break;
        }
        int64_t now = vt_time_mono_ns();
        pthread_mutex_lock(&c->mu);
        int64_t ws = atomic_load(c->win_start), we = atomic_load(c->win_end);
        if (ws != 0 && c0 >= ws && now <= we) {
            if (c->nlat == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 4096;
                double *l = realloc(c->lat, cap * sizeof *l);
                if (!l) {
                    c->failed = 1;
                    pthread_mutex_unlock(&c->mu);
                    break;
                }
                c->lat = l;
                c->cap = cap;
            }
            c->lat[c->nlat++] = (double)(now - c0) / 1e6;
            c->done += c->batch;
        }
        pthread_mutex_unlock(&c->mu);
    }
out:
    free(in);
    free(out);
    return NULL;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* n callers: warm-up, then `reps` timed windows of `seconds`; fills rate,
 * p50 and p99 per repetition. Returns 0, or 1 on a failure. */
static int run_callers(struct vt_encoder *enc, char **texts, size_t ntexts, size_t batch,
                       size_t dim, size_t n, size_t reps, double seconds, double warmup,
                       double *rate, double *p50, double *p99)
{
    struct caller *c = calloc(n, sizeof *c);
    _Atomic int64_t win_start, win_end;
    atomic_int stop;
    atomic_init(&win_start, 0);
    atomic_init(&win_end, 0);
    atomic_init(&stop, 0);
    if (!c)
        return 1;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_init(&c[i].mu, NULL);
        c[i].enc = enc;
        c[i].texts = texts;
        c[i].ntexts = ntexts;
        c[i].next = i * ntexts / n;
        c[i].batch = batch;
        c[i].dim = dim;
        c[i].win_start = &win_start;
        c[i].win_end = &win_end;
        c[i].stop = &stop;
        if (pthread_create(&c[i].thread, NULL, caller_main, &c[i]) != 0)
            return 1;
    }
    sleep_s(warmup);
    for (size_t r = 0; r < reps; r++) {
        atomic_store(&win_end, INT64_MAX);
        int64_t start = vt_time_mono_ns();
        atomic_store(&win_start, start);
        sleep_s(seconds);
        int64_t end = vt_time_mono_ns();
        atomic_store(&win_end, end);
        size_t total = 0, done = 0;
        for (size_t i = 0; i < n; i++) {
            pthread_mutex_lock(&c[i].mu);
            total += c[i].nlat;
        }
        atomic_store(&win_start, 0);
        double *lat = malloc((total ? total : 1) * sizeof *lat);
        for (size_t i = 0, k = 0; i < n; i++) {
            if (lat)
                memcpy(lat + k, c[i].lat, c[i].nlat * sizeof *lat);
            k += c[i].nlat;
            done += c[i].done;
            c[i].nlat = 0;
            c[i].done = 0;
            pthread_mutex_unlock(&c[i].mu);
        }
        if (!lat)
            return 1;
        qsort(lat, total, sizeof *lat, cmp_double);
        rate[r] = (double)done / ((double)(end - start) / 1e9);
        p50[r] = total ? quantile(lat, total, 0.50) : 0;
        p99[r] = total ? quantile(lat, total, 0.99) : 0;
        fprintf(stderr, "  rep %zu: %zu calls by %zu callers, %.1f texts/s, p50 %.3f ms, "
                        "p99 %.3f ms\n",
                r + 1, total, n, rate[r], p50[r], p99[r]);
        free(lat);
    }
    atomic_store(&stop, 1);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_join(c[i].thread, NULL);
        failed |= c[i].failed;
        free(c[i].lat);
        pthread_mutex_destroy(&c[i].mu);
    }
    free(c);
    return failed;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *texts_path = NULL, *vectors = NULL;
    size_t batch = 1, threads = 1, reps = 3, callers = 0;
    double seconds = 3, warmup = 1;
    int mode_ids = 0, mode_count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--ids") == 0) {
            mode_ids = 1;
            continue;
        }
        if (strcmp(a, "--count") == 0) {
            mode_count = 1;
            continue;
        }
        if (!v)
            usage();
        if (strcmp(a, "--model") == 0)
            model = v;
        else if (strcmp(a, "--texts") == 0)
            texts_path = v;
        else if (strcmp(a, "--batch") == 0)
            batch = strtoul(v, NULL, 10);
        else if (strcmp(a, "--threads") == 0)
            threads = strtoul(v, NULL, 10);
        else if (strcmp(a, "--reps") == 0)
            reps = strtoul(v, NULL, 10);
        else if (strcmp(a, "--seconds") == 0)
            seconds = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            warmup = atof(v);
        else if (strcmp(a, "--callers") == 0)
            callers = strtoul(v, NULL, 10);
        else if (strcmp(a, "--vectors") == 0)
            vectors = v;
        else
            usage();
        i++;
    }
    if (!model || !texts_path || batch == 0 || threads == 0 || reps == 0 || reps > 100 ||
        callers > 256)
        usage();

    /* Size the shared pool before anything uses it. */
    vt_pool_shared_set_threads(threads);

    size_t ntexts;
    char **texts = read_lines(texts_path, &ntexts);
    if (ntexts == 0) {
        fprintf(stderr, "%s: no texts\n", texts_path);
        return 1;
    }
    struct vt_encoder *enc;
    struct vt_error err = {0};
    int64_t t0 = vt_time_mono_ns();
    if (vt_encoder_open(model, &enc, &err)) {
        fprintf(stderr, "%s: %s\n", model, err.message);
        return 1;
    }
    double open_ms = (double)(vt_time_mono_ns() - t0) / 1e6;
    struct vt_encoder_info info;
    vt_encoder_info(enc, &info);

    if (mode_ids || mode_count) {
        for (size_t i = 0; i < ntexts; i++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (vt_encoder_tokenize(enc, texts[i], strlen(texts[i]), &ids, &n, &err)) {
                fprintf(stderr, "text %zu: %s\n", i + 1, err.message);
                return 1;
            }
            if (n > info.max_tokens)
                n = info.max_tokens;
            if (mode_count) {
                printf("%zu\n", n);
            } else {
                putchar('[');
                for (size_t j = 0; j < n; j++)
                    printf(j ? ",%d" : "%d", ids[j]);
                puts("]");
            }
            vt_free(ids);
        }
        vt_encoder_free(enc);
        return 0;
    }

    if (vectors) {
        FILE *f = fopen(vectors, "wb");
        float *v = malloc(batch * info.dim * sizeof *v);
        if (!f || !v) {
            perror(vectors);
            return 1;
        }
        for (size_t i = 0; i < ntexts; i += batch) {
            size_t n = ntexts - i < batch ? ntexts - i : batch;
            if (vt_encoder_encode(enc, (const char *const *)texts + i, n, v, &err)) {
                fprintf(stderr, "encode: %s\n", err.message);
                return 1;
            }
            fwrite(v, sizeof *v, n * info.dim, f);
        }
        free(v);
        vt_encoder_free(enc);
        return fclose(f) ? 1 : 0;
    }

    const char **in = malloc(batch * sizeof *in);
    float *out = malloc(batch * info.dim * sizeof *out);
    size_t cap = 1 << 16;
    double *lat = malloc(cap * sizeof *lat);
    double *rate = malloc(reps * sizeof *rate), *p50 = malloc(reps * sizeof *p50);
    double *p99 = malloc(reps * sizeof *p99);
    if (!in || !out || !lat || !rate || !p50 || !p99)
        return 1;
    size_t next = 0;
    fprintf(stderr, "model %s (%s, %zu layers, hidden %zu), kernels %s, pool %zu thread(s), "
                    "opened in %.0f ms\n",
            model, info.arch, info.layers, info.hidden, vt_kernels_name(),
            vt_pool_threads(vt_pool_shared()), open_ms);

    if (callers) {
        if (run_callers(enc, texts, ntexts, batch, info.dim, callers, reps, seconds, warmup, rate,
                        p50, p99))
            return 1;
    }
    for (size_t r = 0; !callers && r <= reps; r++) {
        /* r == 0 is the warm-up, not recorded */
        double budget = r == 0 ? warmup : seconds;
        size_t calls = 0, done = 0;
        int64_t start = vt_time_mono_ns(), now = start;
        while (calls == 0 || (double)(now - start) / 1e9 < budget) {
            for (size_t b = 0; b < batch; b++) {
                in[b] = texts[next];
                next = (next + 1) % ntexts;
            }
            int64_t c0 = vt_time_mono_ns();
            if (vt_encoder_encode(enc, in, batch, out, &err)) {
                fprintf(stderr, "encode: %s\n", err.message);
                return 1;
            }
            now = vt_time_mono_ns();
            if (calls == cap) {
                cap *= 2;
                lat = realloc(lat, cap * sizeof *lat);
                if (!lat)
                    return 1;
            }
            lat[calls++] = (double)(now - c0) / 1e6;
            done += batch;
        }
        if (r == 0)
            continue;
        double secs = (double)(now - start) / 1e9;
        qsort(lat, calls, sizeof *lat, cmp_double);
        rate[r - 1] = (double)done / secs;
        p50[r - 1] = quantile(lat, calls, 0.50);
        p99[r - 1] = quantile(lat, calls, 0.99);
        fprintf(stderr, "  rep %zu: %zu calls, %.1f texts/s, p50 %.3f ms, p99 %.3f ms\n", r,
                calls, rate[r - 1], p50[r - 1], p99[r - 1]);
    }
    printf("RESULT runtime=vitrine batch=%zu threads=%zu callers=%zu sent_s=%.1f p50_ms=%.3f "
           "p99_ms=%.3f reps=%zu kernels=%s\n",
           batch, threads, callers ? callers : 1, median(rate, reps), median(p50, reps),
           median(p99, reps), reps, vt_kernels_name());
    vt_encoder_free(enc);
    for (size_t i = 0; i < ntexts; i++)
        free(texts[i]);
    free(texts);
    free(in);
    free(out);
    free(lat);
    free(rate);
    free(p50);
    free(p99);
    return 0;
}
