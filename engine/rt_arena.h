/*
 * rt_arena.h — bump allocation in 2 MiB chunks advised for transparent huge
 * pages, for the router's long-lived bulk: targets, queues, memberships and
 * the queues' fixed-size heaps.
 *
 * With 100,000 targets the router touches a few cache lines per decision
 * spread over ~100 MB; on 4 KiB pages nearly every one of them also misses
 * the TLB. Packing the bulk into huge pages roughly halved the cost of a
 * decision at that size (docs/performance.md). Objects are never freed one by
 * one: everything goes with the arena (the router's lifetime).
 */
#ifndef CL_RT_ARENA_H
#define CL_RT_ARENA_H

#include <stddef.h>

struct rt_arena_chunk;

struct rt_arena {
	struct rt_arena_chunk *chunks;
	char *cur;
	size_t left;
};

void rt_arena_init(struct rt_arena *a);
/* Frees every chunk. */
void rt_arena_deinit(struct rt_arena *a);
/* Zeroed, 16-byte aligned memory valid until rt_arena_deinit; NULL on ENOMEM. */
void *rt_arena_alloc(struct rt_arena *a, size_t size);
/* The same with a power-of-two alignment up to 64 (cache-line for hot
 * structures: targets, queues). */
void *rt_arena_alloc_aligned(struct rt_arena *a, size_t size, size_t align);

#endif /* CL_RT_ARENA_H */
