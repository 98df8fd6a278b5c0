/*
 * rt_arena.c — huge-page bump arena (see rt_arena.h).
 */
#include "rt_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK (2u << 20)

struct rt_arena_chunk {
	struct rt_arena_chunk *next;
};

void rt_arena_init(struct rt_arena *a) { memset(a, 0, sizeof *a); }

void rt_arena_deinit(struct rt_arena *a)
{
	while (a->chunks) {
		struct rt_arena_chunk *c = a->chunks;
		a->chunks = c->next;
		free(c);
	}
	rt_arena_init(a);
}

static struct rt_arena_chunk *chunk_new(struct rt_arena *a, size_t bytes)
{
	size_t size = (bytes + CHUNK - 1) / CHUNK * CHUNK;
	struct rt_arena_chunk *c = aligned_alloc(CHUNK, size);
	if (!c)
		return NULL;
	/* A hint: without THP the memory still works, on 4 KiB pages. */
	(void)madvise(c, size, MADV_HUGEPAGE);
	memset(c, 0, size);
	c->next = a->chunks;
	a->chunks = c;
	return c;
}

void *rt_arena_alloc(struct rt_arena *a, size_t size)
{
	return rt_arena_alloc_aligned(a, size, 16);
}

void *rt_arena_alloc_aligned(struct rt_arena *a, size_t size, size_t align)
{
	size_t hdr = 64; /* chunk header, padded to a cache line */
	size = (size + 15) & ~(size_t)15;
	/* Skip to the alignment (chunks start 2 MiB aligned, so offsets do). */
	size_t pad = a->left ? (align - ((uintptr_t)a->cur & (align - 1))) & (align - 1) : 0;
	if (pad && pad <= a->left) {
		a->cur += pad;
		a->left -= pad;
	}
	if (size > CHUNK / 2) {
		/* Large: a chunk of its own, the current one stays in use. */
		struct rt_arena_chunk *c = chunk_new(a, hdr + size);
		return c ? (char *)c + hdr : NULL;
	}
	if (size > a->left) {
		struct rt_arena_chunk *c = chunk_new(a, CHUNK);
		if (!c)
			return NULL;
		a->cur = (char *)c + hdr;
		a->left = CHUNK - hdr;
	}
	void *p = a->cur;
	a->cur += size;
	a->left -= size;
	return p;
}
