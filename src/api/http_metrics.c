/*
 * http_metrics.c - HTTP request counters and latency histograms.
 *
 * Layout: one flat array of atomic counters per kind. requests[] is indexed
 * by ((route * nmethods) + method) * NSTATUS + status_index; statuses the
 * server does not answer with fall in the last slot, rendered "other".
 * Histograms are per route with the fixed bucket bounds below (seconds);
 * counts per bucket are stored non-cumulative and summed when rendering.
 */
#include "api/http_metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

static const unsigned statuses[] = {200, 201, 204, 304, 400, 401, 403, 404, 405,
                                    409, 413, 414, 415, 422, 429, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1) /* + "other" */

static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKET (sizeof bounds / sizeof bounds[0] + 1) /* + "+Inf" */

struct api_metrics {
    const char *const *routes;
    const char *const *methods;
    size_t nroutes, nmethods;
    atomic_uint_fast64_t *requests;     /* nroutes * nmethods * NSTATUS */
    atomic_uint_fast64_t *buckets;      /* nroutes * NBUCKET */
    atomic_uint_fast64_t *sum_us;       /* nroutes: total duration, microseconds */
    atomic_uint_fast64_t events_stored;
};

int api_metrics_new(const char *const *route_labels, size_t nroutes,
                    const char *const *method_labels, size_t nmethods,
                    struct api_metrics **out)
{
    struct api_metrics *m = vt_calloc(1, sizeof *m);
    if (!m)
        return VT_ENOMEM;
    m->routes = route_labels;
    m->methods = method_labels;
    m->nroutes = nroutes;
    m->nmethods = nmethods;
    size_t nreq;
    if (vt_mul_size(nroutes * nmethods, NSTATUS, &nreq) < 0)
        goto oom;
    m->requests = vt_calloc(nreq, sizeof *m->requests);
    m->buckets = vt_calloc(nroutes * NBUCKET, sizeof *m->buckets);
    m->sum_us = vt_calloc(nroutes, sizeof *m->sum_us);
    if (!m->requests || !m->buckets || !m->sum_us)
        goto oom;
    /* Zeroed memory is a valid zero for these lock-free atomics on every
     * platform we build for; initialise explicitly all the same. */
    for (size_t i = 0; i < nreq; i++)
        atomic_init(&m->requests[i], 0);
    for (size_t i = 0; i < nroutes * NBUCKET; i++)
        atomic_init(&m->buckets[i], 0);
    for (size_t i = 0; i < nroutes; i++)
        atomic_init(&m->sum_us[i], 0);
    atomic_init(&m->events_stored, 0);
    *out = m;
    return 0;
oom:
    api_metrics_free(m);
    return VT_ENOMEM;
}

void api_metrics_free(struct api_metrics *m)
{
    if (!m)
        return;
    vt_free(m->requests);
    vt_free(m->buckets);
    vt_free(m->sum_us);
    vt_free(m);
}

static size_t status_index(unsigned status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

void api_metrics_record(struct api_metrics *m, size_t route, size_t method, unsigned status,
                        int64_t duration_ns)
{
    if (!m || route >= m->nroutes || method >= m->nmethods)
        return;
    size_t i = (route * m->nmethods + method) * NSTATUS + status_index(status);
    atomic_fetch_add_explicit(&m->requests[i], 1, memory_order_relaxed);
    double secs = duration_ns > 0 ? (double)duration_ns / 1e9 : 0;
    size_t b = 0;
    while (b < NBUCKET - 1 && secs > bounds[b])
        b++;
    atomic_fetch_add_explicit(&m->buckets[route * NBUCKET + b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us[route],
                              duration_ns > 0 ? (uint64_t)(duration_ns / 1000) : 0,
                              memory_order_relaxed);
}

void api_metrics_events_stored(struct api_metrics *m, uint64_t n)
{
    if (m)
        atomic_fetch_add_explicit(&m->events_stored, n, memory_order_relaxed);
}

int api_metrics_render(struct api_metrics *m, struct vt_buf *out)
{
    int rc = 0;
    rc |= vt_buf_puts(out, "# HELP vitrine_http_requests_total HTTP requests answered, by "
                           "route, method and status.\n"
                           "# TYPE vitrine_http_requests_total counter\n");
    for (size_t r = 0; r < m->nroutes; r++)
        for (size_t me = 0; me < m->nmethods; me++)
            for (size_t s = 0; s < NSTATUS; s++) {
                uint64_t v = atomic_load_explicit(
                    &m->requests[(r * m->nmethods + me) * NSTATUS + s], memory_order_relaxed);
                if (!v)
                    continue;
                char st[8];
                if (s < NSTATUS - 1)
                    snprintf(st, sizeof st, "%u", statuses[s]);
                else
                    snprintf(st, sizeof st, "other");
                rc |= vt_buf_printf(out,
                                    "vitrine_http_requests_total{route=\"%s\",method=\"%s\","
                                    "status=\"%s\"} %llu\n",
                                    m->routes[r], m->methods[me], st, (unsigned long long)v);
            }
    rc |= vt_buf_puts(out, "# HELP vitrine_http_request_duration_seconds Time from the start "
                           "of a request to its response, by route.\n"
                           "# TYPE vitrine_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < m->nroutes; r++) {
        uint64_t counts[NBUCKET], total = 0;
        for (size_t b = 0; b < NBUCKET; b++) {
            counts[b] = atomic_load_explicit(&m->buckets[r * NBUCKET + b], memory_order_relaxed);
            total += counts[b];
        }
        if (!total)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKET; b++) {
            cum += counts[b];
            if (b < NBUCKET - 1)
                rc |= vt_buf_printf(out,
                                    "vitrine_http_request_duration_seconds_bucket{route=\"%s\","
                                    "le=\"%g\"} %llu\n",
                                    m->routes[r], bounds[b], (unsigned long long)cum);
            else
                rc |= vt_buf_printf(out,
                                    "vitrine_http_request_duration_seconds_bucket{route=\"%s\","
                                    "le=\"+Inf\"} %llu\n",
                                    m->routes[r], (unsigned long long)cum);
        }
        uint64_t sum = atomic_load_explicit(&m->sum_us[r], memory_order_relaxed);
        rc |= vt_buf_printf(out,
                            "vitrine_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                            "vitrine_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                            m->routes[r], (double)sum / 1e6, m->routes[r],
                            (unsigned long long)total);
    }
    rc |= vt_buf_printf(out,
                        "# HELP vitrine_events_stored_total Events stored through the API since "
                        "the server started.\n"
                        "# TYPE vitrine_events_stored_total counter\n"
                        "vitrine_events_stored_total %llu\n",
                        (unsigned long long)atomic_load(&m->events_stored));
    return rc ? VT_ENOMEM : 0;
}
