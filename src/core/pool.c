/*
 * pool.c - fixed-size thread pool (see pool.h).
 *
 * A job is published in one atomic word, `state`:
 *
 *   bits 63..32  job number (generation)
 *   bits 23..16  helpers wanted: workers with index below it may join
 *   bit  15      closed: the caller has run out of tasks; nobody may join
 *   bits 14..0   workers that joined and have not finished
 *
 * The job's fields (fn, arg, ntasks, next) are written before the release
 * store that publishes a new generation. A worker joins with a CAS that
 * increments the count only while the word still names that generation and
 * is open, so a worker that joined reads fields that stay put until it
 * leaves: the caller closes the job once its own task loop finds no task,
 * and waits only for the workers that joined. A worker that wakes late (its
 * core taken by another process, or asleep) finds the job closed and is not
 * waited for; the tasks it would have run were taken by the threads that
 * were there. That is what keeps a busy machine from stalling every job on
 * one descheduled thread.
 *
 * `busy` is held by exactly the thread that published the current job,
 * from publication until the joined count is 0 after closing.
 *
 * Waiting: idle workers spin for SPIN_NS, then sleep on cv_work (counted in
 * `sleepers`, so a job only pays a wake-up when some worker sleeps; the
 * store of the new generation and the load of `sleepers` are sequentially
 * consistent, as are the increment of `sleepers` and the load of the
 * generation before the worker sleeps, so one of the two always sees the
 * other). The caller waits for joined workers the same way on cv_done.
 */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

/* How long an idle worker spins before it sleeps, and how long the caller
 * spins for the last joined worker: long enough to bridge the gap between
 * the matrix products of one forward pass (microseconds), short enough not
 * to hold a core another process needs. May be set at build time (250 µs
 * measured the same as 30 on the encoders). */
#ifndef SPIN_NS
#define SPIN_NS 30000
#endif

#define ST_GEN_SHIFT 32
#define ST_HELPERS_SHIFT 16
#define ST_CLOSED ((uint64_t)1 << 15)
#define ST_COUNT_MASK ((uint64_t)0x7FFF)

struct worker {
    struct vt_pool *pool;
    size_t index;          /* 0-based among workers; the caller is not one */
    pthread_t thread;
};

struct vt_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    pthread_mutex_t busy;
    size_t nworkers;
    struct worker *workers;
    atomic_size_t active;           /* participating threads, caller included */

    /* current job */
    void (*fn)(void *arg, size_t task);
    void *arg;
    size_t ntasks;
    atomic_size_t next;
    _Atomic uint64_t state;
    atomic_int sleepers;
    atomic_int stop;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint64_t st_gen(uint64_t s)
{
    return s >> ST_GEN_SHIFT;
}

static void take_tasks(struct vt_pool *p)
{
    for (;;) {
        size_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= p->ntasks)
            break;
        p->fn(p->arg, t);
    }
}

/* Wait until the generation differs from seen (or stop); returns the state. */
static uint64_t wait_job(struct vt_pool *p, uint64_t seen)
{
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    if (st_gen(s) != seen)
        return s;
    int64_t until = now_ns() + SPIN_NS;
    for (unsigned i = 1;; i++) {
        cpu_relax();
        s = atomic_load_explicit(&p->state, memory_order_acquire);
        if (st_gen(s) != seen || atomic_load_explicit(&p->stop, memory_order_relaxed))
            return s;
        if ((i & 63) == 0 && now_ns() > until)
            break;
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    while (st_gen(s = atomic_load(&p->state)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv_work, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct vt_pool *p = w->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t s = wait_job(p, seen);
        if (atomic_load(&p->stop))
            return NULL;
        seen = st_gen(s);
        if (w->index >= ((s >> ST_HELPERS_SHIFT) & 0xFF))
            continue;
        /* join while the job is open and still this one */
        int joined = 0;
        while (st_gen(s) == seen && !(s & ST_CLOSED)) {
            if (atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1,
                                                      memory_order_acq_rel,
                                                      memory_order_acquire)) {
                joined = 1;
                break;
            }
        }
        if (!joined)
            continue;
        take_tasks(p);
        uint64_t before = atomic_fetch_sub_explicit(&p->state, 1, memory_order_acq_rel);
        if ((before & ST_CLOSED) && (before & ST_COUNT_MASK) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int vt_pool_new(size_t threads, struct vt_pool **out)
{
    *out = NULL;
    if (threads < 1)
        threads = 1;
    if (threads > VT_POOL_MAX_THREADS)
        threads = VT_POOL_MAX_THREADS;
    struct vt_pool *p = vt_calloc(1, sizeof *p);
    if (!p)
        return VT_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->busy, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->active, threads);
    atomic_init(&p->next, 0);
    atomic_init(&p->state, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    if (threads > 1) {
        p->workers = vt_calloc(threads - 1, sizeof *p->workers);
        if (!p->workers) {
            vt_pool_free(p);
            return VT_ENOMEM;
        }
        for (size_t i = 0; i < threads - 1; i++) {
            p->workers[i].pool = p;
            p->workers[i].index = i;
            if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
                vt_pool_free(p);
                return VT_EINTERNAL;
            }
            p->nworkers++;
        }
    }
    *out = p;
    return 0;
}

void vt_pool_free(struct vt_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i].thread, NULL);
    vt_free(p->workers);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    pthread_mutex_destroy(&p->busy);
    pthread_mutex_destroy(&p->mu);
    vt_free(p);
}

size_t vt_pool_threads(const struct vt_pool *p)
{
    if (!p)
        return 1;
    size_t a = atomic_load_explicit(&((struct vt_pool *)p)->active, memory_order_relaxed);
    return a < p->nworkers + 1 ? a : p->nworkers + 1;
}

void vt_pool_set_active(struct vt_pool *p, size_t n)
{
    if (!p)
        return;
    if (n < 1)
        n = 1;
    if (n > p->nworkers + 1)
        n = p->nworkers + 1;
    atomic_store(&p->active, n);
}

void vt_pool_run(struct vt_pool *p, void (*fn)(void *arg, size_t task), void *arg,
                 size_t ntasks)
{
    if (ntasks == 0)
        return;
    size_t helpers = p ? vt_pool_threads(p) - 1 : 0;
    if (helpers > ntasks - 1)
        helpers = ntasks - 1;
    if (helpers == 0 || pthread_mutex_trylock(&p->busy) != 0) {
        for (size_t t = 0; t < ntasks; t++)
            fn(arg, t);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->ntasks = ntasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    uint64_t gen = st_gen(atomic_load_explicit(&p->state, memory_order_relaxed)) + 1;
    atomic_store(&p->state, gen << ST_GEN_SHIFT | (uint64_t)helpers << ST_HELPERS_SHIFT);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
    }

    take_tasks(p);

    /* no task left: close the job and wait for the workers that joined */
    uint64_t s = atomic_fetch_or_explicit(&p->state, ST_CLOSED, memory_order_acq_rel);
    if (s & ST_COUNT_MASK) {
        int64_t until = now_ns() + SPIN_NS;
        for (unsigned i = 1; atomic_load_explicit(&p->state, memory_order_acquire) &
                             ST_COUNT_MASK;
             i++) {
            cpu_relax();
            if ((i & 63) == 0 && now_ns() > until) {
                pthread_mutex_lock(&p->mu);
                while (atomic_load_explicit(&p->state, memory_order_acquire) & ST_COUNT_MASK)
                    pthread_cond_wait(&p->cv_done, &p->mu);
                pthread_mutex_unlock(&p->mu);
                break;
            }
        }
    }
    pthread_mutex_unlock(&p->busy);
}

/* ---- the shared pool ---- */

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vt_pool *shared_pool;
static size_t shared_requested;
static int shared_failed;

static size_t default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > 8 ? 8 : (size_t)n;
}

static size_t env_threads(void)
{
    const char *s = getenv("VITRINE_COMPUTE_THREADS");
    if (!s || !*s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1)
        return 0;
    return v > VT_POOL_MAX_THREADS ? VT_POOL_MAX_THREADS : (size_t)v;
}

struct vt_pool *vt_pool_shared(void)
{
    pthread_mutex_lock(&shared_mu);
    if (!shared_pool && !shared_failed) {
        size_t want = shared_requested ? shared_requested : env_threads();
        size_t def = default_threads();
        if (!want)
            want = def;
        /* Created with room for the default too, so a later request can grow
         * up to the CPU count without replacing a pool that may be in use. */
        if (vt_pool_new(want > def ? want : def, &shared_pool) != 0)
            shared_failed = 1;
        else
            vt_pool_set_active(shared_pool, want);
    }
    struct vt_pool *p = shared_pool;
    pthread_mutex_unlock(&shared_mu);
    return p;
}

void vt_pool_shared_set_threads(size_t n)
{
    pthread_mutex_lock(&shared_mu);
    shared_requested = n > VT_POOL_MAX_THREADS ? VT_POOL_MAX_THREADS : n;
    if (shared_pool) {
        size_t want = n ? n : env_threads();
        vt_pool_set_active(shared_pool, want ? want : default_threads());
    }
    pthread_mutex_unlock(&shared_mu);
}
