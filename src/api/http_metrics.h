/*
 * http_metrics.h - request counters and latency histograms for GET /metrics.
 *
 * Counters are lock-free atomics indexed by (route, method, status), so
 * recording a request costs a few atomic adds. Routes are small integers
 * chosen by the caller (the route table's index plus a few extras), each
 * with a label given at creation.
 *
 * Thread-safe: api_metrics_record() and api_metrics_render() may run on
 * any thread at once. api_metrics_free(NULL) is a no-op.
 */
#ifndef VT_API_HTTP_METRICS_H
#define VT_API_HTTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct api_metrics;

/* route_labels: nroutes labels, borrowed (must outlive the metrics);
 * method_labels likewise, nmethods of them. */
int api_metrics_new(const char *const *route_labels, size_t nroutes,
                    const char *const *method_labels, size_t nmethods,
                    struct api_metrics **out);
void api_metrics_free(struct api_metrics *m);

void api_metrics_record(struct api_metrics *m, size_t route, size_t method, unsigned status,
                        int64_t duration_ns);
void api_metrics_events_stored(struct api_metrics *m, uint64_t n);

/* Append the HTTP metrics in Prometheus text format 0.0.4. */
int api_metrics_render(struct api_metrics *m, struct vt_buf *out);

#endif
