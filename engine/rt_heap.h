/*
 * rt_heap.h — an indexed binary min-heap of intrusive nodes, the ordering
 * structure behind every queue of the router.
 *
 * A node carries its own two-part key (compared k1 first, then k2) and its
 * position in the heap, so removing or re-keying an arbitrary node is
 * O(log n) without a search. The heap stores pointers only; it never owns the
 * nodes. Keys are unique in practice because every strategy puts a unique
 * tie-breaker (target index, call sequence) in k2, which makes selection
 * deterministic.
 */
#ifndef CL_RT_HEAP_H
#define CL_RT_HEAP_H

#include <stdbool.h>
#include <stdint.h>

struct rt_hnode {
	uint64_t k1, k2;
	uint32_t pos; /* index + 1 while in a heap, 0 when not */
};

struct rt_heap {
	struct rt_hnode **a;
	uint32_t n, cap;
};

static inline bool rt_hnode_less(const struct rt_hnode *x, const struct rt_hnode *y)
{
	return x->k1 < y->k1 || (x->k1 == y->k1 && x->k2 < y->k2);
}

static inline struct rt_hnode *rt_heap_top(const struct rt_heap *h)
{
	return h->n ? h->a[0] : 0;
}

static inline bool rt_hnode_in_heap(const struct rt_hnode *x) { return x->pos != 0; }

void rt_heap_init(struct rt_heap *h);
void rt_heap_deinit(struct rt_heap *h);
/* Returns 0 or -1 (allocation). x must not be in a heap. */
int rt_heap_push(struct rt_heap *h, struct rt_hnode *x);
/* x must be in h. */
void rt_heap_remove(struct rt_heap *h, struct rt_hnode *x);
/* Restore order after x's key changed. x must be in h. */
void rt_heap_fix(struct rt_heap *h, struct rt_hnode *x);

#endif /* CL_RT_HEAP_H */
