/*
 * progress.h - a progress bar on standard error for long work.
 *
 * Draws "label [#####.....] 412/820  50%  12.3/s  eta 33s" in place, at
 * most ten times a second, only when stderr is a terminal (or when forced);
 * otherwise it stays silent so logs and CI output stay clean.
 * One owner thread; not thread-safe.
 */
#ifndef VT_CORE_PROGRESS_H
#define VT_CORE_PROGRESS_H

#include <stdint.h>

struct vt_progress {
    const char *label;
    int64_t total;        /* 0 if unknown: shows a count and a rate only */
    int64_t done;
    int64_t start_ns, last_draw_ns;
    int enabled;
};

void vt_progress_start(struct vt_progress *p, const char *label, int64_t total);
void vt_progress_update(struct vt_progress *p, int64_t done);
/* Draw the final state and end the line. */
void vt_progress_finish(struct vt_progress *p);

#endif
