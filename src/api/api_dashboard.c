/*
 * api_dashboard.c - what the admin dashboard reads: events per minute by
 * type (GET /v1/admin/stats) and the newest events (GET /v1/admin/events).
 *
 * Both are computed from the store on every request; nothing is kept in
 * the server between requests, so several servers sharing a database show
 * the same figures and a restart loses nothing.
 *
 * Finding the window. The store lists events by id, ascending, from a given
 * id (vt_store_events_scan); it has no index on time. Ids are assigned in
 * the order events arrive, and an event's ts is its arrival time unless the
 * client sent one, so ts grows with id in practice. The first event of the
 * window is found by a galloping, then binary search over ids with one-row
 * scans (about 2 log2(last id) of them), and only the window is read. The
 * approximation this makes is documented in docs/api.md: an event sent
 * late with an old ts in the window is counted only if it arrived after
 * the first in-window event; one with a ts outside the window never is.
 * The window read is capped (STATS_SCAN_MAX events): past the cap the
 * answer says "truncated": true and counts what was read.
 *
 * Invariants: every count comes from events read in this request; the
 * per-minute list has exactly `minutes` entries, oldest first, the last
 * one being the current (partial) minute. Thread-safe: no shared state.
 */
#include <string.h>

#include "api/api_int.h"
#include "core/alloc.h"
#include "core/util.h"

#define MINUTE_MS 60000
#define STATS_MINUTES_MAX 1440          /* a day */
#define STATS_MINUTES_DEFAULT 60
#define STATS_SCAN_PAGE 2000
#define STATS_SCAN_MAX 500000
#define EVENTS_LIMIT_MAX 1000
#define EVENTS_LIMIT_DEFAULT 100
#define SEARCH_ID_MAX (INT64_MAX / 4)   /* galloping never overflows */

/* The first event with id > after_id: *found = 0 when there is none. */
static int probe(struct vt_store *s, int64_t after_id, int *found, int64_t *id, int64_t *ts)
{
    struct vt_event *ev = NULL;
    size_t n = 0;
    int rc = vt_store_events_scan(s, after_id, 1, &ev, &n);
    if (rc)
        return rc;
    *found = n > 0;
    if (n) {
        *id = ev[0].id;
        *ts = ev[0].ts_ms;
    }
    vt_events_free(ev, n);
    return 0;
}

/* Does scanning from after_id start at or past the boundary? With
 * since_ms >= 0: the first event after it has ts >= since_ms (or there is
 * none). With since_ms < 0: there is no event after it at all. False
 * below the boundary, true at and above it (when ts grows with id). */
static int past_boundary(struct vt_store *s, int64_t after_id, int64_t since_ms, int *yes)
{
    int found;
    int64_t id = 0, ts = 0;
    int rc = probe(s, after_id, &found, &id, &ts);
    if (rc)
        return rc;
    *yes = !found || (since_ms >= 0 && ts >= since_ms);
    return 0;
}

/* The smallest x for which past_boundary(x) holds: scanning from x then
 * starts at the first event with ts >= since_ms (or, with since_ms < 0,
 * x is the largest event id, 0 for an empty store). */
static int boundary_search(struct vt_store *s, int64_t since_ms, int64_t *out)
{
    int yes, rc = past_boundary(s, 0, since_ms, &yes);
    if (rc)
        return rc;
    if (yes) {
        *out = 0;
        return 0;
    }
    int64_t lo = 0, hi = 1; /* past_boundary(lo) is false */
    for (;;) {
        rc = past_boundary(s, hi, since_ms, &yes);
        if (rc)
            return rc;
        if (yes)
            break;
        lo = hi;
        if (hi >= SEARCH_ID_MAX) {
            *out = hi;
            return 0;
        }
        hi *= 2;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        rc = past_boundary(s, mid, since_ms, &yes);
        if (rc)
            return rc;
        if (yes)
            hi = mid;
        else
            lo = mid;
    }
    *out = hi;
    return 0;
}

/* ---- GET /v1/admin/stats?minutes=60 ---- */

static json_t *iso_string(int64_t ms)
{
    char buf[32];
    vt_time_format_iso(ms, buf, sizeof buf);
    return json_string(buf);
}

/* Render the counts ([minutes][VT_EV_COUNT]) as the answer. */
static json_t *stats_json(const uint64_t *counts, int64_t minutes, int64_t first_ms,
                          int64_t now_ms, uint64_t scanned, int truncated)
{
    uint64_t totals[VT_EV_COUNT] = {0};
    uint64_t total = 0;
    json_t *per = json_array();
    json_t *out = NULL;
    if (!per)
        return NULL;
    for (int64_t m = 0; m < minutes; m++) {
        json_t *c = json_object();
        if (!c)
            goto fail;
        for (int t = 0; t < VT_EV_COUNT; t++) {
            uint64_t k = counts[m * VT_EV_COUNT + t];
            totals[t] += k;
            total += k;
            if (k && json_object_set_new(c, vt_event_type_info(t)->name,
                                         json_integer((json_int_t)k))) {
                json_decref(c);
                goto fail;
            }
        }
        if (json_array_append_new(per, json_pack("{s:o,s:o}", "minute",
                                                 iso_string(first_ms + m * MINUTE_MS),
                                                 "counts", c)))
            goto fail;
    }
    json_t *tot = json_object();
    if (!tot)
        goto fail;
    for (int t = 0; t < VT_EV_COUNT; t++)
        if (json_object_set_new(tot, vt_event_type_info(t)->name,
                                json_integer((json_int_t)totals[t]))) {
            json_decref(tot);
            goto fail;
        }
    out = json_pack("{s:I,s:o,s:o,s:o,s:o,s:I,s:I,s:b}", "minutes", (json_int_t)minutes,
                    "from", iso_string(first_ms), "to", iso_string(now_ms), "per_minute", per,
                    "totals", tot, "total", (json_int_t)total, "scanned", (json_int_t)scanned,
                    "truncated", truncated);
    return out;
fail:
    json_decref(per);
    return NULL;
}

void api_h_admin_stats(struct api_req *r)
{
    struct vt_store *s = r->srv->store;
    int64_t minutes;
    if (api_query_int(r, "minutes", 1, STATS_MINUTES_MAX, STATS_MINUTES_DEFAULT, &minutes))
        return;
    int64_t now = vt_time_now_ms();
    int64_t first_ms = (now / MINUTE_MS - (minutes - 1)) * MINUTE_MS; /* oldest bucket */
    int64_t end_ms = (now / MINUTE_MS + 1) * MINUTE_MS;               /* past the newest */
    uint64_t *counts = vt_calloc((size_t)minutes * VT_EV_COUNT, sizeof *counts);
    if (!counts) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    int64_t after = 0;
    int rc = boundary_search(s, first_ms, &after);
    uint64_t scanned = 0;
    int truncated = 0;
    while (!rc) {
        struct vt_event *evs = NULL;
        size_t n = 0;
        rc = vt_store_events_scan(s, after, STATS_SCAN_PAGE, &evs, &n);
        if (rc)
            break;
        for (size_t i = 0; i < n; i++) {
            const struct vt_event *e = &evs[i];
            if (e->ts_ms >= first_ms && e->ts_ms < end_ms && e->type >= 0 &&
                e->type < VT_EV_COUNT)
                counts[(e->ts_ms - first_ms) / MINUTE_MS * VT_EV_COUNT + e->type]++;
        }
        scanned += n;
        if (n)
            after = evs[n - 1].id;
        vt_events_free(evs, n);
        if (n < STATS_SCAN_PAGE)
            break;
        if (scanned >= STATS_SCAN_MAX) {
            truncated = 1;
            break;
        }
    }
    if (rc) {
        vt_free(counts);
        api_reply_error(r, rc, NULL, "reading the events failed: %s", vt_strerror(rc));
        return;
    }
    json_t *out = stats_json(counts, minutes, first_ms, now, scanned, truncated);
    vt_free(counts);
    if (!out) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    api_reply_json(r, MHD_HTTP_OK, out);
}

/* ---- GET /v1/admin/events?after_id=&limit= ---- */

/* The newest `limit` events, ascending, into a new array (*evs, *n). Ids
 * have gaps where users were deleted, so the span read grows until it
 * holds limit events or reaches the first id. */
static int newest_events(struct vt_store *s, size_t limit, struct vt_event **evs, size_t *n)
{
    int64_t last = 0;
    int rc = boundary_search(s, -1, &last);
    *evs = NULL;
    *n = 0;
    if (rc || last == 0)
        return rc;
    struct vt_event *ring = vt_calloc(limit, sizeof *ring);
    if (!ring)
        return VT_ENOMEM;
    size_t kept = 0, head = 0; /* ring of the newest read; head is the oldest
                                  once full, 0 before */
    int64_t span = (int64_t)limit;
    for (int attempt = 0; attempt < 6; attempt++, span *= 4) {
        for (size_t i = 0; i < kept; i++)
            vt_event_reset(&ring[i]);
        kept = head = 0;
        int64_t after = last > span ? last - span : 0;
        while (!rc) {
            struct vt_event *page = NULL;
            size_t got = 0;
            rc = vt_store_events_scan(s, after, STATS_SCAN_PAGE, &page, &got);
            if (rc)
                break;
            for (size_t i = 0; i < got; i++) {
                size_t slot;
                if (kept < limit) {
                    slot = kept++;
                } else { /* full: the oldest kept makes room */
                    slot = head;
                    head = (head + 1) % limit;
                    vt_event_reset(&ring[slot]);
                }
                ring[slot] = page[i];
                vt_event_init(&page[i]);
            }
            if (got)
                after = page[got - 1].id;
            vt_events_free(page, got);
            if (got < STATS_SCAN_PAGE)
                break;
        }
        if (rc || kept >= limit || last <= span)
            break;
    }
    if (rc) {
        vt_events_free(ring, limit);
        return rc;
    }
    /* Unroll the ring, oldest first. */
    struct vt_event *ordered = vt_calloc(limit, sizeof *ordered);
    if (!ordered) {
        vt_events_free(ring, limit);
        return VT_ENOMEM;
    }
    for (size_t i = 0; i < kept; i++)
        ordered[i] = ring[(head + i) % limit];
    vt_free(ring);
    *evs = ordered;
    *n = kept;
    return 0;
}

void api_h_admin_events(struct api_req *r)
{
    struct vt_store *s = r->srv->store;
    int64_t limit, after_id;
    if (api_query_int(r, "limit", 1, EVENTS_LIMIT_MAX, EVENTS_LIMIT_DEFAULT, &limit) ||
        api_query_int(r, "after_id", 0, INT64_MAX, -1, &after_id))
        return;
    struct vt_event *evs = NULL;
    size_t n = 0;
    int more = 0, rc;
    if (after_id >= 0) {
        /* One more than asked tells whether the client is behind. */
        rc = vt_store_events_scan(s, after_id, (size_t)limit + 1, &evs, &n);
        if (!rc && n > (size_t)limit) {
            more = 1;
            vt_event_reset(&evs[n - 1]);
            n--;
        }
    } else {
        rc = newest_events(s, (size_t)limit, &evs, &n);
    }
    if (rc) {
        api_reply_error(r, rc, NULL, "reading the events failed: %s", vt_strerror(rc));
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, vt_event_to_json(&evs[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    int64_t last = n ? evs[n - 1].id : (after_id > 0 ? after_id : 0);
    vt_events_free(evs, n);
    if (!arr) {
        api_reply_error(r, VT_ENOMEM, NULL, "out of memory");
        return;
    }
    api_reply_json(r, MHD_HTTP_OK,
                   json_pack("{s:o,s:I,s:b}", "events", arr, "last_id", (json_int_t)last,
                             "more", more));
}
