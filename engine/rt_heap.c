/*
 * rt_heap.c — indexed binary min-heap (see rt_heap.h).
 */
#include "rt_heap.h"

#include <stdlib.h>

void rt_heap_init(struct rt_heap *h)
{
	h->a = NULL;
	h->n = h->cap = 0;
}

void rt_heap_deinit(struct rt_heap *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		h->a[i]->pos = 0;
	free(h->a);
	rt_heap_init(h);
}

static inline void place(struct rt_heap *h, uint32_t i, struct rt_hnode *x)
{
	h->a[i] = x;
	x->pos = i + 1;
}

static void sift_up(struct rt_heap *h, uint32_t i)
{
	struct rt_hnode *x = h->a[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!rt_hnode_less(x, h->a[p]))
			break;
		place(h, i, h->a[p]);
		i = p;
	}
	place(h, i, x);
}

static void sift_down(struct rt_heap *h, uint32_t i)
{
	struct rt_hnode *x = h->a[i];
	for (;;) {
		uint32_t l = 2 * i + 1;
		if (l >= h->n)
			break;
		uint32_t m = l;
		if (l + 1 < h->n && rt_hnode_less(h->a[l + 1], h->a[l]))
			m = l + 1;
		if (!rt_hnode_less(h->a[m], x))
			break;
		place(h, i, h->a[m]);
		i = m;
	}
	place(h, i, x);
}

int rt_heap_push(struct rt_heap *h, struct rt_hnode *x)
{
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 8;
		struct rt_hnode **a = realloc(h->a, (size_t)cap * sizeof *a);
		if (!a)
			return -1;
		h->a = a;
		h->cap = cap;
	}
	place(h, h->n++, x);
	sift_up(h, h->n - 1);
	return 0;
}

void rt_heap_remove(struct rt_heap *h, struct rt_hnode *x)
{
	uint32_t i = x->pos - 1;
	struct rt_hnode *last = h->a[--h->n];
	x->pos = 0;
	if (last == x)
		return;
	place(h, i, last);
	rt_heap_fix(h, last);
}

void rt_heap_fix(struct rt_heap *h, struct rt_hnode *x)
{
	uint32_t i = x->pos - 1;
	if (i > 0 && rt_hnode_less(x, h->a[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}
