/* arena.c - bump allocation for request work memory (arena.h). */
#include "core/arena.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"

#define ALIGN 32
#define CHUNK_DEFAULT (256 * 1024)

/* A chunk: its header, then its bytes. `base` is the arena offset of its
 * first byte, so a mark (an offset) finds its chunk. */
struct chunk {
    struct chunk *prev;     /* older chunk */
    size_t size, used;      /* bytes of data, bytes handed out */
    size_t base;
    unsigned char *data;    /* ALIGN-aligned start inside the block */
};

struct vt_arena {
    struct chunk *head;     /* newest */
    size_t chunk_bytes;
};

static struct chunk *chunk_new(struct chunk *prev, size_t size, size_t base)
{
    if (size > SIZE_MAX - sizeof(struct chunk) - ALIGN)
        return NULL;
    unsigned char *raw = vt_malloc(sizeof(struct chunk) + ALIGN + size);
    if (!raw)
        return NULL;
    struct chunk *c = (struct chunk *)raw;
    c->prev = prev;
    c->size = size;
    c->used = 0;
    c->base = base;
    uintptr_t d = (uintptr_t)(raw + sizeof *c);
    c->data = (unsigned char *)((d + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    return c;
}

struct vt_arena *vt_arena_new(size_t chunk_bytes)
{
    struct vt_arena *a = vt_calloc(1, sizeof *a);
    if (a)
        a->chunk_bytes = chunk_bytes ? chunk_bytes : CHUNK_DEFAULT;
    return a;
}

void vt_arena_free(struct vt_arena *a)
{
    if (!a)
        return;
    for (struct chunk *c = a->head, *p; c; c = p) {
        p = c->prev;
        vt_free(c);
    }
    vt_free(a);
}

static pthread_key_t thread_key;
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;
static int thread_key_ok;

static void thread_arena_free(void *p)
{
    vt_arena_free(p);
}

static void thread_key_make(void)
{
    thread_key_ok = pthread_key_create(&thread_key, thread_arena_free) == 0;
}

struct vt_arena *vt_arena_thread(void)
{
    pthread_once(&thread_once, thread_key_make);
    if (!thread_key_ok)
        return NULL;
    struct vt_arena *a = pthread_getspecific(thread_key);
    if (!a) {
        a = vt_arena_new(0);
        if (a && pthread_setspecific(thread_key, a) != 0) {
            vt_arena_free(a);
            a = NULL;
        }
    }
    return a;
}

void *vt_arena_alloc(struct vt_arena *a, size_t n)
{
    if (!a)
        return NULL;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need < n)
        return NULL;
    struct chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t size = need > a->chunk_bytes ? need : a->chunk_bytes;
        struct chunk *fresh = chunk_new(c, size, c ? c->base + c->used : 0);
        if (!fresh)
            return NULL;
        a->head = c = fresh;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

void *vt_arena_calloc(struct vt_arena *a, size_t count, size_t size)
{
    size_t n;
    if (vt_mul_size(count, size, &n) < 0)
        return NULL;
    void *p = vt_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *vt_arena_strdup(struct vt_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vt_arena_alloc(a, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

size_t vt_arena_mark(const struct vt_arena *a)
{
    return a && a->head ? a->head->base + a->head->used : 0;
}

size_t vt_arena_capacity(const struct vt_arena *a)
{
    size_t n = 0;
    for (const struct chunk *c = a ? a->head : NULL; c; c = c->prev)
        n += c->size;
    return n;
}

void vt_arena_release(struct vt_arena *a, size_t mark)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    if (mark == 0 && c && c->prev) {
        /* All released and several chunks held: one chunk of their total
         * size instead, so a request as large as this one bumps through a
         * single chunk next time (a failure leaves an empty arena). */
        size_t total = vt_arena_capacity(a);
        for (struct chunk *k = c, *p; k; k = p) {
            p = k->prev;
            vt_free(k);
        }
        a->head = chunk_new(NULL, total, 0);
        return;
    }
    while (c && c->base > mark) {
        struct chunk *p = c->prev;
        vt_free(c);
        c = p;
    }
    a->head = c;
    /* A chunk may have been left with space (a block too big for it went
     * to a new one): the mark still falls inside its own offsets. */
    if (c)
        c->used = mark - c->base < c->used ? mark - c->base : c->used;
}
