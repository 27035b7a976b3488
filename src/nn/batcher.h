/*
 * batcher.h - gathers concurrent small encode calls into batched passes.
 *
 * Many threads asking for one short query's vector each (search requests,
 * /v1/embed) would each run a forward pass of a few tokens, where the
 * matrix products are too thin to use the machine well. A batcher sits in
 * front of an encode function and turns those calls into fewer, larger
 * calls: a caller's texts join a queue; when no batch is running, the
 * caller runs one itself at once (so an idle encoder adds no delay); while
 * a batch runs, new callers wait, and when it ends the first of them runs
 * the next batch, made of whatever arrived meanwhile (up to max_batch
 * texts). No thread of its own: a batch always runs on the thread of one
 * of the callers in it.
 *
 * Results: each caller gets exactly what the encode function gives for
 * its own texts alone, provided the function computes every text's vector
 * independently of the others in its call (true of every encoder here:
 * rows never mix). Errors are per caller: when a batched call fails, each
 * caller's texts are encoded again on their own, so only the caller whose
 * text is bad sees an error, with indices into its own texts.
 *
 * Bounded: at most max_queue texts wait at once; a caller that finds the
 * queue full waits for room. A call of more than max_call texts is already
 * a batch and goes straight to the encode function (concurrently with the
 * batches). After vt_batcher_close (or during vt_batcher_free) new calls
 * fail with VT_EUNAVAIL; calls already queued are still served.
 *
 * Thread-safety: vt_batcher_encode may be called from any number of
 * threads. vt_batcher_free waits for queued and running batches to finish;
 * no call may start after it begins (they would touch freed memory), so
 * close first and let callers drain, or free only once they are done.
 */
#ifndef VT_NN_BATCHER_H
#define VT_NN_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The function batched: texts[0..count) into out (count * dim floats);
 * 0 or a negative code with err filled. Must be thread-safe. */
typedef int (*vt_batch_fn)(void *ctx, const char *const *texts, size_t count, float *out,
                           struct vt_error *err);

struct vt_batcher_opts {
    size_t max_batch;   /* texts in one batched call (default 64) */
    size_t max_call;    /* larger calls bypass the queue (default 8) */
    size_t max_queue;   /* texts waiting at once (default 1024) */
};

#define VT_BATCHER_MAX_BATCH 1024

struct vt_batcher;

void vt_batcher_opts_default(struct vt_batcher_opts *o);

/* dim: floats per text. o may be NULL (defaults); values are clamped:
 * 1 <= max_call <= max_batch <= VT_BATCHER_MAX_BATCH, max_queue >= max_batch.
 * Returns 0 or VT_ENOMEM. Free with vt_batcher_free. */
int vt_batcher_new(vt_batch_fn fn, void *ctx, size_t dim, const struct vt_batcher_opts *o,
                   struct vt_batcher **out);

/* Encode texts[0..count) into out as fn would, blocking until done.
 * 0, fn's error for these texts, or VT_EUNAVAIL when the batcher is closed. */
int vt_batcher_encode(struct vt_batcher *b, const char *const *texts, size_t count, float *out,
                      struct vt_error *err);

/* Refuse new calls (VT_EUNAVAIL); queued ones are still served. */
void vt_batcher_close(struct vt_batcher *b);

/* Close, wait until the queue is empty and no batch runs, free.
 * NULL is a no-op. */
void vt_batcher_free(struct vt_batcher *b);

/* Counters since creation, for tests and benchmarks. */
struct vt_batcher_stats {
    uint64_t calls;       /* calls that went through the queue */
    uint64_t batches;     /* batched calls of fn */
    uint64_t texts;       /* texts in those batches */
    uint64_t retries;     /* failed batches re-run caller by caller */
    uint64_t bypass;      /* calls larger than max_call */
    size_t queued;        /* texts waiting now (not in a running batch) */
    size_t peak_queued;   /* the most texts that ever waited at once */
};
void vt_batcher_stats(struct vt_batcher *b, struct vt_batcher_stats *s);

#endif
