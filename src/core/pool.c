/*
 * pool.c - fixed-size thread pool (see pool.h).
 *
 * Invariants: `busy` is held by exactly the thread that published the
 * current job, from publication until every participating worker has
 * decremented `running` to zero. Job fields are written before the release
 * increment of `generation` and read after an acquire load of it, so a
 * worker that sees a new generation sees the whole job.
 */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

/* Spin iterations before a worker sleeps, and before the caller sleeps
 * waiting for the last worker. About 20-50 microseconds on current CPUs. */
#define SPIN_WAIT 20000

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
    atomic_size_t running;
    /* job counter << 8 | number of workers taking part in it: one word, so a
     * worker that wakes late never pairs one job's number with another's
     * participant count. */
    atomic_uint_least64_t generation;
    atomic_int stop;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
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

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct vt_pool *p = w->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int i = 0; gen == seen && i < SPIN_WAIT; i++) {
            if (atomic_load_explicit(&p->stop, memory_order_relaxed))
                return NULL;
            cpu_relax();
            gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mu);
            while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
                   !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_work, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = gen;
        if (w->index >= (gen & 0xFF))
            continue;
        take_tasks(p);
        if (atomic_fetch_sub_explicit(&p->running, 1, memory_order_acq_rel) == 1) {
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
    atomic_init(&p->running, 0);
    atomic_init(&p->generation, 0);
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
    atomic_store_explicit(&p->running, helpers, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    uint64_t job = (atomic_load_explicit(&p->generation, memory_order_relaxed) >> 8) + 1;
    atomic_store_explicit(&p->generation, job << 8 | helpers, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    take_tasks(p);

    for (int i = 0; i < SPIN_WAIT; i++) {
        if (atomic_load_explicit(&p->running, memory_order_acquire) == 0)
            break;
        cpu_relax();
    }
    if (atomic_load_explicit(&p->running, memory_order_acquire) != 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->running, memory_order_acquire) != 0)
            pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
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
