/*
 * arena.h - bump allocation for work memory that dies with a request.
 *
 * A request of the engine allocates a few dozen arrays (per-item slots,
 * candidates, a copy of the shopper's state, feature scratch) and frees
 * them all when it answers. Taking them from an arena costs a pointer
 * bump each and nothing to free: the arena keeps its memory for the next
 * request of the same thread, so a busy server allocates nothing per
 * request once warm.
 *
 *     struct vt_arena *a = vt_arena_thread();
 *     size_t mark = vt_arena_mark(a);
 *     float *x = vt_arena_alloc(a, n * sizeof *x);   // NULL when out of memory
 *     ...
 *     vt_arena_release(a, mark);                     // everything since mark
 *
 * Marks nest (a function may take its own mark inside a caller's), and
 * must be released in reverse order. Blocks are 32-byte aligned (AVX
 * loads). Chunks come from vt_malloc, so /metrics counts them and the
 * allocation-failure hook of the tests reaches them. An arena belongs to
 * one thread; vt_arena_thread() gives the calling thread its own, freed
 * when the thread exits.
 */
#ifndef VT_CORE_ARENA_H
#define VT_CORE_ARENA_H

#include <stddef.h>

struct vt_arena;

struct vt_arena *vt_arena_new(size_t chunk_bytes);
void vt_arena_free(struct vt_arena *a);

/* The calling thread's arena (created on first use; NULL when out of
 * memory). */
struct vt_arena *vt_arena_thread(void);

void *vt_arena_alloc(struct vt_arena *a, size_t n);
void *vt_arena_calloc(struct vt_arena *a, size_t count, size_t size);
char *vt_arena_strdup(struct vt_arena *a, const char *s);

/* A position to release back to: bytes handed out so far. */
size_t vt_arena_mark(const struct vt_arena *a);
/* Forget every block allocated since mark. Releasing to 0 also merges
 * the chunks a large request needed into one, so the next request of
 * that size bumps through a single chunk. */
void vt_arena_release(struct vt_arena *a, size_t mark);
/* Bytes of chunks held (for the memory figures). */
size_t vt_arena_capacity(const struct vt_arena *a);

#endif
