/*
 * cmd_export.c - `vitrine export events` and `vitrine export items`: every
 * event (or item) as JSON Lines on standard output, in id order, read in
 * pages so memory stays flat whatever the size of the shop. The database
 * is opened read-only, so an export can run next to a live server.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"

#define PAGE 1000

int cmd_export_events(struct cli *c)
{
    int64_t after = 0;
    const char *a = cli_opt(c, "--after");
    if (a) {
        size_t v;
        if (cli_parse_size(a, &v) || v > (size_t)INT64_MAX)
            return cli_usage_error(c, "--after needs an event id (a whole number), not '%.40s'",
                                   a);
        after = (int64_t)v;
    }
    int rc = cli_open_store(c, 1);
    if (rc)
        return rc;
    for (;;) {
        struct vt_event *evs = NULL;
        size_t n = 0;
        rc = vt_store_events_scan(c->store, after, PAGE, &evs, &n);
        if (rc)
            return cli_fail("reading events after id %lld: %s", (long long)after,
                            vt_strerror(rc));
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_t *j = vt_event_to_json(&evs[i]);
            char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            if (!s) {
                rc = VT_ENOMEM;
                break;
            }
            fputs(s, stdout);
            putchar('\n');
            vt_free(s); /* json_dumps allocates through the project's allocator */
            after = evs[i].id;
        }
        vt_events_free(evs, n);
        if (rc)
            return cli_fail("out of memory");
        if (ferror(stdout))
            return cli_fail("writing standard output: %s", strerror(errno));
        if (n == 0)
            break;
    }
    return CLI_OK;
}

/* Writes one record as a line; VT_ENOMEM when it cannot be serialised. */
static int put_json_line(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return VT_ENOMEM;
    fputs(s, stdout);
    putchar('\n');
    vt_free(s);
    return 0;
}

int cmd_export_items(struct cli *c)
{
    int rc = cli_open_store(c, 1);
    if (rc)
        return rc;
    char after[VT_ID_MAX + 1] = "";
    int more = 1;
    while (more) {
        struct vt_item_query q;
        struct vt_item *items = NULL;
        size_t n = 0;
        memset(&q, 0, sizeof q);
        q.after_id = after[0] ? after : NULL;
        q.limit = PAGE;
        q.include_hidden = 1;
        rc = vt_store_items_list(c->store, &q, &items, &n, &more);
        if (rc)
            return cli_fail("reading items after '%s': %s", after, vt_strerror(rc));
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = put_json_line(vt_item_to_json(&items[i]));
        if (n > 0)
            snprintf(after, sizeof after, "%s", items[n - 1].id);
        vt_items_free(items, n);
        if (rc)
            return cli_fail("out of memory");
        if (ferror(stdout))
            return cli_fail("writing standard output: %s", strerror(errno));
        if (n == 0)
            break;
    }
    return CLI_OK;
}
