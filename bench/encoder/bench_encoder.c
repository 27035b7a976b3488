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
 * Other modes: --ids prints, for every text, the token ids the model reads
 * as a JSON array per line (the peers read these); --count prints the
 * number of those ids per text; --vectors FILE writes every text's
 * embedding as raw float32 (to check that the peers compute the same
 * function on the same weights).
 */
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
                    "                     [--reps N] [--seconds S] [--warmup S]\n"
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

int main(int argc, char **argv)
{
    const char *model = NULL, *texts_path = NULL, *vectors = NULL;
    size_t batch = 1, threads = 1, reps = 3;
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
        else if (strcmp(a, "--vectors") == 0)
            vectors = v;
        else
            usage();
        i++;
    }
    if (!model || !texts_path || batch == 0 || threads == 0 || reps == 0 || reps > 100)
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

    for (size_t r = 0; r <= reps; r++) {
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
    printf("RESULT runtime=vitrine batch=%zu threads=%zu sent_s=%.1f p50_ms=%.3f p99_ms=%.3f "
           "reps=%zu kernels=%s\n",
           batch, threads, median(rate, reps), median(p50, reps), median(p99, reps), reps,
           vt_kernels_name());
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
