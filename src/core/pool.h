/*
 * pool.h - a small fixed-size thread pool for data-parallel loops.
 *
 * A job is "run fn(arg, t) for every t in [0, ntasks)". The calling thread
 * takes tasks too, so a pool of N threads starts N-1 workers. Tasks are
 * handed out one at a time from an atomic counter; vt_pool_run returns once
 * every task has finished.
 *
 * One job at a time: when the pool is already running a job (another thread
 * called vt_pool_run, or a task calls it again), the new job runs inline on
 * the calling thread. Concurrent callers therefore never wait on each other
 * and nested parallel loops cannot deadlock.
 *
 * Workers spin briefly (tens of microseconds) after a job before sleeping
 * on a condition variable, so a burst of small jobs (one per matrix product
 * of an encoder) does not pay a wake-up each time. A worker joins a job
 * only while it still has tasks to hand out: vt_pool_run waits for the
 * workers that joined, never for one that had not woken up by the time the
 * caller ran out of tasks, so a worker whose core is taken by another
 * process delays nothing but the tasks it already took.
 *
 * Ownership: vt_pool_new's pool is freed by vt_pool_free (no job may be
 * running). The shared pool lives until the process exits.
 */
#ifndef VT_CORE_POOL_H
#define VT_CORE_POOL_H

#include <stddef.h>

struct vt_pool;

/* Largest thread count accepted; larger requests are clamped. */
#define VT_POOL_MAX_THREADS 64

/* threads counts the caller; 0 or 1 means every job runs inline.
 * Returns 0, VT_ENOMEM, or VT_EINTERNAL when a thread cannot be started. */
int vt_pool_new(size_t threads, struct vt_pool **out);
void vt_pool_free(struct vt_pool *p);

/* Threads that take part in a job, caller included (>= 1). */
size_t vt_pool_threads(const struct vt_pool *p);

/* Use at most n of the pool's threads from the next job on (1..created). */
void vt_pool_set_active(struct vt_pool *p, size_t n);

/* Run fn(arg, t) for t in [0, ntasks). p may be NULL (inline). */
void vt_pool_run(struct vt_pool *p, void (*fn)(void *arg, size_t task), void *arg,
                 size_t ntasks);

/* The process-wide pool used by the kernels. Created on first use with
 * vt_pool_shared_set_threads' value, else the environment variable
 * VITRINE_COMPUTE_THREADS (the configuration key compute_threads), else the number of online CPUs (at most 8). Returns NULL
 * if it could not be created (callers then run inline). Thread-safe. */
struct vt_pool *vt_pool_shared(void);

/* Set how many threads the shared pool uses (0 = default). Before the first
 * vt_pool_shared() call this sizes the pool; afterwards it changes how many
 * of its threads take part, up to the number it was created with (more is
 * clamped). Thread-safe. */
void vt_pool_shared_set_threads(size_t n);

#endif
