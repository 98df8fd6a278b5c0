/*
 * rt_heap.h — an indexed binary min-heap, the ordering structure behind every
 * queue of the router.
 *
 * Entries live in the heap's array and carry the two-part key (k1 first, then
 * k2) and the item they stand for, so sifting never dereferences anything
 * and the top's item (a target, a call) is one load away. Each entry points
 * back to a small node owned by the item's side that records the entry's
 * position, which makes removing or re-keying an arbitrary item O(log n)
 * without a search. The heap never owns nodes or items. Keys are unique in
 * practice because every strategy puts a unique tie-breaker (target index,
 * call sequence) in k2, which makes selection deterministic.
 */
#ifndef CL_RT_HEAP_H
#define CL_RT_HEAP_H

#include <stdbool.h>
#include <stdint.h>

struct rt_hnode {
	uint32_t pos; /* index + 1 while in a heap, 0 when not */
};

struct rt_hent {
	uint64_t k1, k2;
	struct rt_hnode *node;
	void *item;
};

struct rt_heap {
	struct rt_hent *a;
	uint32_t n, cap;
	bool fixed; /* a is borrowed storage of exactly cap entries */
};

static inline bool rt_hent_less(const struct rt_hent *x, const struct rt_hent *y)
{
	return x->k1 < y->k1 || (x->k1 == y->k1 && x->k2 < y->k2);
}

static inline const struct rt_hent *rt_heap_top(const struct rt_heap *h)
{
	return h->n ? &h->a[0] : 0;
}

static inline bool rt_hnode_in_heap(const struct rt_hnode *x) { return x->pos != 0; }

/* The entry of a node that is in h. */
static inline const struct rt_hent *rt_heap_entry(const struct rt_heap *h, const struct rt_hnode *x)
{
	return &h->a[x->pos - 1];
}

void rt_heap_init(struct rt_heap *h);
/* A heap in caller-owned storage that never grows (push past cap fails). */
void rt_heap_init_fixed(struct rt_heap *h, struct rt_hent *a, uint32_t cap);
void rt_heap_deinit(struct rt_heap *h);
/* Room for n entries without growing. Returns 0 or -1. */
int rt_heap_reserve(struct rt_heap *h, uint32_t n);
/* Returns 0 or -1 (allocation). x must not be in a heap. */
int rt_heap_push(struct rt_heap *h, struct rt_hnode *x, void *item, uint64_t k1, uint64_t k2);
/* x must be in h. */
void rt_heap_remove(struct rt_heap *h, struct rt_hnode *x);
/* Give x (in h) a new key and restore the order. */
void rt_heap_rekey(struct rt_heap *h, struct rt_hnode *x, uint64_t k1, uint64_t k2);

#endif /* CL_RT_HEAP_H */
