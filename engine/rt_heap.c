/*
 * rt_heap.c — indexed binary min-heap (see rt_heap.h).
 */
#include "rt_heap.h"

#include <stdlib.h>

void rt_heap_init(struct rt_heap *h)
{
	h->a = NULL;
	h->n = h->cap = 0;
	h->fixed = false;
}

void rt_heap_init_fixed(struct rt_heap *h, struct rt_hent *a, uint32_t cap)
{
	h->a = a;
	h->n = 0;
	h->cap = cap;
	h->fixed = true;
}

void rt_heap_deinit(struct rt_heap *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		h->a[i].node->pos = 0;
	if (!h->fixed)
		free(h->a);
	rt_heap_init(h);
}

int rt_heap_reserve(struct rt_heap *h, uint32_t n)
{
	if (n <= h->cap)
		return 0;
	if (h->fixed)
		return -1;
	struct rt_hent *a = realloc(h->a, (size_t)n * sizeof *a);
	if (!a)
		return -1;
	h->a = a;
	h->cap = n;
	return 0;
}

static inline void place(struct rt_heap *h, uint32_t i, const struct rt_hent *e)
{
	h->a[i] = *e;
	e->node->pos = i + 1;
}

static void sift_up(struct rt_heap *h, uint32_t i)
{
	struct rt_hent x = h->a[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!rt_hent_less(&x, &h->a[p]))
			break;
		place(h, i, &h->a[p]);
		i = p;
	}
	place(h, i, &x);
}

static void sift_down(struct rt_heap *h, uint32_t i)
{
	struct rt_hent x = h->a[i];
	for (;;) {
		uint32_t l = 2 * i + 1;
		if (l >= h->n)
			break;
		uint32_t m = l;
		if (l + 1 < h->n && rt_hent_less(&h->a[l + 1], &h->a[l]))
			m = l + 1;
		if (!rt_hent_less(&h->a[m], &x))
			break;
		place(h, i, &h->a[m]);
		i = m;
	}
	place(h, i, &x);
}

static void fix(struct rt_heap *h, uint32_t i)
{
	if (i > 0 && rt_hent_less(&h->a[i], &h->a[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

int rt_heap_push(struct rt_heap *h, struct rt_hnode *x, void *item, uint64_t k1, uint64_t k2)
{
	if (h->n == h->cap && rt_heap_reserve(h, h->cap ? h->cap * 2 : 4) < 0)
		return -1;
	struct rt_hent e = {k1, k2, x, item};
	place(h, h->n++, &e);
	sift_up(h, h->n - 1);
	return 0;
}

void rt_heap_remove(struct rt_heap *h, struct rt_hnode *x)
{
	uint32_t i = x->pos - 1;
	x->pos = 0;
	if (i == --h->n)
		return;
	place(h, i, &h->a[h->n]);
	fix(h, i);
}

void rt_heap_rekey(struct rt_heap *h, struct rt_hnode *x, uint64_t k1, uint64_t k2)
{
	uint32_t i = x->pos - 1;
	h->a[i].k1 = k1;
	h->a[i].k2 = k2;
	fix(h, i);
}
