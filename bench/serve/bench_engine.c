/*
 * bench_engine.c - CPU time of one engine call, in process, without HTTP.
 *
 * Opens a shop's store and its engine (no background thread, the
 * configured text model), asks once for every shopper's recommendations
 * (so their state is in memory), then calls a route's engine function
 * for random shoppers of the benchmark's data (bench-u<k>), one thread, and
 * prints the median and p99 thread CPU time per call in microseconds,
 * split into the engine's answer and its serialisation to the bytes the
 * server sends. Thread CPU time (not wall time) so that the figure holds
 * on a machine busy with other work.
 *
 * Usage: bench_engine DB [ROUTE [CALLS [USERS]]]
 *   ROUTE: recommend (default), recommend_ctx (context=product:<random>),
 *          similar, search (20 repeated queries)
 * Environment: as vitrine serve (VITRINE_* keys, VITRINE_DATA_DIR).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/conf.h"
#include "rec/engine.h"
#include "store/store.h"
#include "text/pipeline.h"

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return vt_buf_append(data, buf, size) ? -1 : 0;
}

static const char *const queries[] = {
    "sofa", "black leather sofa", "沙发", "餐桌", "bed for a small room", "lamp", "书架",
    "office chair", "outdoor table", "kitchen", "儿童床", "wardrobe", "mirror", "rug",
    "bathroom", "wooden chair", "衣柜", "tv stand", "plant", "desk"};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_engine DB [ROUTE [CALLS [USERS]]]\n");
        return 2;
    }
    const char *route = argc > 2 ? argv[2] : "recommend";
    int calls = argc > 3 ? atoi(argv[3]) : 3000, users = argc > 4 ? atoi(argv[4]) : 2000;
    struct vt_error err;
    vt_error_clear(&err);
    vt_alloc_install_json();
    struct vt_conf *conf = NULL;
    struct vt_store *store = NULL;
    struct vt_textenc *te = NULL;
    struct vt_engine *e = NULL;
    if (vt_conf_load(NULL, 0, &conf, &err) || vt_store_open(argv[1], NULL, &store, &err)) {
        fprintf(stderr, "bench_engine: %s\n", err.message);
        return 1;
    }
    struct vt_textenc_config tc;
    memset(&tc, 0, sizeof tc);
    tc.model = vt_conf_str(conf, "model");
    tc.text_dir = vt_conf_str(conf, "text_dir");
    tc.bridge = vt_conf_int(conf, "bridge") != 0;
    if (vt_textenc_new(&tc, &te))
        te = NULL;
    struct vt_engine_options opt = {.no_thread = 1};
    if (vt_engine_new(conf, store, te, &opt, &e, &err)) {
        fprintf(stderr, "bench_engine: %s\n", err.message);
        return 1;
    }
    json_t *cat = NULL;
    vt_engine_categories(e, &cat);
    json_decref(cat);

    double *t_eng = calloc((size_t)calls, sizeof *t_eng), *t_ser = calloc((size_t)calls, sizeof *t_ser);
    unsigned seed = 20261123;
    size_t bytes = 0;
    char user[64], ctx[160];
    /* items for context= and similar: from a recommendation */
    char items[64][129];
    int nitems = 0;
    {
        struct vt_rec_request q = {.n = 64, .user_id = NULL};
        json_t *out = NULL;
        if (vt_engine_recommend(e, &q, &out, &err) == 0) {
            json_t *arr = json_object_get(out, "items");
            for (size_t i = 0; i < json_array_size(arr) && nitems < 64; i++)
                snprintf(items[nitems++], sizeof items[0], "%s",
                         json_string_value(json_object_get(json_array_get(arr, i), "id")));
        }
        json_decref(out);
    }
    if (!nitems) {
        fprintf(stderr, "bench_engine: the catalog gave no items\n");
        return 1;
    }
    /* Warm-up, as bench/serve/run does: every shopper asks once (their
     * state is then in memory, as on a server that has been up a while). */
    for (int u = 0; u < users; u++) {
        snprintf(user, sizeof user, "bench-u%d", u);
        struct vt_rec_request q = {.n = 10, .user_id = user};
        json_t *out = NULL;
        if (vt_engine_recommend(e, &q, &out, &err) == 0)
            json_decref(out);
    }
    for (int k = -200; k < calls; k++) { /* and 200 calls of the route */
        snprintf(user, sizeof user, "bench-u%d", rand_r(&seed) % users);
        json_t *out = NULL;
        struct vt_buf text;
        vt_buf_init(&text, 0);
        int rc;
        double t0 = cpu_us();
        if (!strcmp(route, "similar")) {
            rc = vt_engine_similar_text(e, items[rand_r(&seed) % nitems], 10, &text, &err);
        } else if (!strcmp(route, "search")) {
            struct vt_search_request q;
            memset(&q, 0, sizeof q);
            q.n = 10;
            q.q = queries[rand_r(&seed) % (sizeof queries / sizeof *queries)];
            q.price_min = q.price_max = q.fits_cm[0] = q.fits_cm[1] = q.fits_cm[2] = NAN;
            rc = vt_engine_search_text(e, &q, &text, &err);
        } else {
            struct vt_rec_request q = {.n = 10, .user_id = user, .log_impression = 1};
            if (!strcmp(route, "recommend_ctx")) {
                snprintf(ctx, sizeof ctx, "product:%s", items[rand_r(&seed) % nitems]);
                q.context = ctx;
            }
            rc = vt_engine_recommend_text(e, &q, &text, &err);
        }
        double t1 = cpu_us();
        if (rc) {
            fprintf(stderr, "bench_engine: call failed: %s\n", err.message);
            return 1;
        }
        /* what the server does with the answer: a tree is dumped, text is
         * sent as it is */
        struct vt_buf b;
        vt_buf_init(&b, 0);
        if (out)
            json_dump_callback(out, dump_cb, &b, JSON_COMPACT | JSON_REAL_PRECISION(15));
        else
            vt_buf_append(&b, text.data, text.len);
        json_decref(out);
        vt_buf_reset(&text);
        double t2 = cpu_us();
        if (k >= 0) {
            t_eng[k] = t1 - t0;
            t_ser[k] = t2 - t1;
            bytes += b.len;
        }
        vt_buf_reset(&b);
    }
    double *t_all = calloc((size_t)calls, sizeof *t_all);
    for (int k = 0; k < calls; k++)
        t_all[k] = t_eng[k] + t_ser[k];
    qsort(t_eng, (size_t)calls, sizeof *t_eng, cmp_d);
    qsort(t_ser, (size_t)calls, sizeof *t_ser, cmp_d);
    qsort(t_all, (size_t)calls, sizeof *t_all, cmp_d);
    int p50 = calls / 2, p99 = (int)(calls * 0.99);
    printf("%s: %d calls, %zu bytes per answer; CPU us per call, median / p99: engine %.0f / %.0f, "
           "serialise %.0f / %.0f, total %.0f / %.0f\n",
           route, calls, bytes / (size_t)calls, t_eng[p50], t_eng[p99], t_ser[p50], t_ser[p99],
           t_all[p50], t_all[p99]);
    vt_engine_free(e);
    vt_textenc_free(te);
    vt_store_close(store);
    vt_conf_free(conf);
    free(t_eng);
    free(t_ser);
    free(t_all);
    return 0;
}
