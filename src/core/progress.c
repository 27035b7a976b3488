/* progress.c - terminal progress bar. */
#include "core/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/util.h"

static void draw(struct vt_progress *p, int final)
{
    double secs = (double)(vt_time_mono_ns() - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)p->done / secs : 0;
    char bar[32];
    if (p->total > 0) {
        int width = 30, fill = (int)((double)p->done * width / (double)p->total);
        if (fill > width)
            fill = width;
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
        fprintf(stderr, "\r%s [%s] %lld/%lld %3d%%  %.1f/s  %s %.0fs  ", p->label, bar,
                (long long)p->done, (long long)p->total, (int)(100.0 * p->done / p->total), rate,
                final ? "in" : "eta", final ? secs : eta);
    } else {
        fprintf(stderr, "\r%s %lld  %.1f/s  %.0fs  ", p->label, (long long)p->done, rate, secs);
    }
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

void vt_progress_start(struct vt_progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start_ns = p->last_draw_ns = vt_time_mono_ns();
    const char *force = getenv("VITRINE_PROGRESS");
    p->enabled = force ? atoi(force) != 0 : isatty(STDERR_FILENO);
}

void vt_progress_update(struct vt_progress *p, int64_t done)
{
    p->done = done;
    if (!p->enabled)
        return;
    int64_t now = vt_time_mono_ns();
    if (now - p->last_draw_ns < 100000000LL)
        return;
    p->last_draw_ns = now;
    draw(p, 0);
}

void vt_progress_finish(struct vt_progress *p)
{
    if (p->enabled)
        draw(p, 1);
}
