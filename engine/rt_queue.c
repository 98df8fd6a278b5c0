/*
 * rt_queue.c — queues, queue membership and the strategies' ordering keys.
 *
 * A queue is created the first time a call's plan step needs its key
 * (territory, target set, skills, minimum proficiency, strategy). Creation
 * gathers candidates from the territories on the queue territory's root path
 * and in its subtree (a target serving a region serves its districts, and a
 * step that widens to the region reaches the partners of its other
 * districts), keeps those of the right kind with every skill at the minimum
 * level, and links a member node into each. That costs one pass over the
 * candidates, once per queue; afterwards every decision is a heap operation.
 *
 * Avail heaps delete lazily: a target that becomes busy stays listed in its
 * other queues and is popped when a pick meets it at the top, so a
 * reservation touches one queue, not every queue of the target. A target
 * that becomes available again re-keys the entries still listed.
 *
 * Strategies are nothing but the key a member carries in its queue's avail
 * heap (smallest first; k2 always ends in a unique tie-breaker):
 *   longest-idle          k1 = idle since (µs)
 *   round-robin           k1 = sequence number of the last offer
 *   fewest-calls          k1 = calls answered, k2 = idle since
 *   top-down              k1 = position in the configuration
 *   random                no order: a uniform pick from the heap's array
 *   proficiency-first     k1 = -(sum of levels in the queue's skills), k2 = idle
 *   weighted-share        stride scheduling: k1 = (offers + 1) / share
 *   performance-weighted  stride with weight = closure rate x proficiency x
 *                         contract penalty, so volume follows performance
 * Member nodes come from slabs that never move (heaps point into them) and
 * live as long as the router.
 */
#include "rt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "terr.h"

#define MEMBER_SLAB 4096

struct member_slab {
	struct member_slab *next;
	uint32_t used;
	struct rt_member m[MEMBER_SLAB];
};

void rt_tick(struct rt *rt)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t mono = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	/* idle_since keys must grow: two ticks in the same microsecond still
	 * order the targets freed in them. */
	rt->now_mono = mono > rt->now_mono ? mono : rt->now_mono + 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	rt->now_wall = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* xorshift64*: fast, good enough for tie-breaking and random picks. */
uint64_t rt_rand(struct rt *rt)
{
	uint64_t x = rt->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rt->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static unsigned prof_sum(const struct rt_target *t, uint64_t mask)
{
	unsigned s = 0;
	while (mask) {
		int b = __builtin_ctzll(mask);
		s += t->cfg->prof[b];
		mask &= mask - 1;
	}
	return s;
}

static uint64_t stride(uint64_t offered, double weight)
{
	if (weight < 1e-6)
		weight = 1e-6;
	double pass = ((double)offered + 1.0) / weight * 1048576.0;
	return pass > 1.8e19 ? UINT64_MAX : (uint64_t)pass;
}

static void member_key(struct rt *rt, struct rt_member *m)
{
	const struct rt_target *t = m->t;
	const struct rt_qkey *k = &m->q->key;
	uint64_t tie = t->idx;

	switch ((enum cfg_strategy)k->strategy) {
	case CFG_STRAT_ROUND_ROBIN:
		m->hn.k1 = t->last_offer_seq;
		m->hn.k2 = tie;
		break;
	case CFG_STRAT_FEWEST_CALLS:
		m->hn.k1 = t->answered;
		m->hn.k2 = t->idle_since << 20 | tie;
		break;
	case CFG_STRAT_TOP_DOWN:
		m->hn.k1 = tie;
		m->hn.k2 = 0;
		break;
	case CFG_STRAT_RANDOM: /* picked by position, not by key (rt.c) */
		m->hn.k1 = 0;
		m->hn.k2 = tie;
		break;
	case CFG_STRAT_PROFICIENCY_FIRST:
		m->hn.k1 = UINT32_MAX - prof_sum(t, k->mask);
		m->hn.k2 = t->idle_since << 20 | tie;
		break;
	case CFG_STRAT_WEIGHTED_SHARE:
		m->hn.k1 = stride(t->offered, t->weight_share);
		m->hn.k2 = t->idle_since << 20 | tie;
		break;
	case CFG_STRAT_PERFORMANCE_WEIGHTED: {
		unsigned n = (unsigned)__builtin_popcountll(k->mask);
		double prof = n ? (double)prof_sum(t, k->mask) / (n * (double)CFG_MAX_PROF) : 1.0;
		m->hn.k1 = stride(t->offered, t->score * prof);
		m->hn.k2 = t->idle_since << 20 | tie;
		break;
	}
	case CFG_STRAT_LONGEST_IDLE:
	default:
		m->hn.k1 = t->idle_since;
		m->hn.k2 = tie;
		break;
	}
}

int rt_target_avail_insert(struct rt *rt, struct rt_target *t)
{
	for (uint32_t i = 0; i < t->n_mem; i++) {
		struct rt_member *m = t->mem[i];
		member_key(rt, m);
		if (rt_hnode_in_heap(&m->hn))
			rt_heap_fix(&m->q->avail, &m->hn);
		else if (rt_heap_push(&m->q->avail, &m->hn) < 0)
			return -RT_ENOMEM;
	}
	return 0;
}

struct rt_target *rt_queue_pick(struct rt *rt, struct rt_queue *q)
{
	while (q->avail.n) {
		struct rt_hnode *h = q->key.strategy == CFG_STRAT_RANDOM
					     ? q->avail.a[rt_rand(rt) % q->avail.n]
					     : q->avail.a[0];
		struct rt_target *t = ((struct rt_member *)h)->t;
		if (rt_target_available(t))
			return t;
		rt_heap_remove(&q->avail, h); /* stale: busy since it was listed */
	}
	return NULL;
}

uint32_t rt_queue_available(const struct rt_queue *q)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->avail.n; i++)
		n += rt_target_available(((const struct rt_member *)q->avail.a[i])->t);
	return n;
}

struct rt_call *rt_target_best_waiting(const struct rt *rt, const struct rt_target *t)
{
	const struct rt_hnode *best = NULL;
	if (!rt->n_waiting)
		return NULL; /* the common case under light load: touch no queue */
	for (uint32_t i = 0; i < t->n_mem; i++) {
		const struct rt_hnode *top = rt_heap_top(&t->mem[i]->q->wait);
		if (top && (!best || rt_hnode_less(top, best)))
			best = top;
	}
	return best ? ((const struct rt_wait *)best)->c : NULL;
}

static struct rt_member *member_alloc(struct rt *rt)
{
	struct member_slab *s = rt->member_slabs;
	if (!s || s->used == MEMBER_SLAB) {
		s = calloc(1, sizeof *s);
		if (!s)
			return NULL;
		s->next = rt->member_slabs;
		rt->member_slabs = s;
	}
	return &s->m[s->used++];
}

static bool qualifies(const struct rt_target *t, const struct rt_qkey *k)
{
	if (k->set == CFG_SET_REPS && t->cfg->kind != CFG_KIND_REP)
		return false;
	if (k->set == CFG_SET_PARTNERS && t->cfg->kind != CFG_KIND_PARTNER)
		return false;
	if ((t->cfg->skills & k->mask) != k->mask)
		return false;
	for (uint64_t m = k->mask; m && k->min_prof > 1; m &= m - 1)
		if (t->cfg->prof[__builtin_ctzll(m)] < k->min_prof)
			return false;
	return true;
}

static int add_member(struct rt *rt, struct rt_queue *q, struct rt_target *t)
{
	if (t->mark == rt->mark || !qualifies(t, &q->key))
		return 0;
	t->mark = rt->mark;
	if (t->n_mem == t->cap_mem) {
		uint32_t cap = t->cap_mem ? t->cap_mem * 2 : 4;
		struct rt_member **a = realloc(t->mem, cap * sizeof *a);
		if (!a)
			return -RT_ENOMEM;
		t->mem = a;
		t->cap_mem = cap;
	}
	struct rt_member *m = member_alloc(rt);
	if (!m)
		return -RT_ENOMEM;
	m->q = q;
	m->t = t;
	t->mem[t->n_mem++] = m;
	q->n_members++;
	if (rt_target_available(t)) {
		member_key(rt, m);
		if (rt_heap_push(&q->avail, &m->hn) < 0)
			return -RT_ENOMEM;
	}
	return 0;
}

static int add_serving(struct rt *rt, struct rt_queue *q, uint32_t terr)
{
	for (uint32_t i = 0; i < rt->n_serving[terr]; i++) {
		int rc = add_member(rt, q, &rt->targets[rt->serving[terr][i]]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_subtree(struct rt *rt, struct rt_queue *q, uint32_t terr, int depth)
{
	/* The territory tree is checked for cycles at load; depth is a guard. */
	if (depth > 64)
		return 0;
	for (uint32_t i = 0; i < rt->n_children[terr]; i++) {
		uint32_t c = rt->children[terr][i];
		int rc = add_serving(rt, q, c);
		if (rc == 0)
			rc = add_subtree(rt, q, c, depth + 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static char *queue_name(const struct rt *rt, const struct rt_qkey *k)
{
	static const char *const sets[] = {"any", "reps", "partners"};
	char buf[1024];
	size_t n = (size_t)snprintf(buf, sizeof buf, "%s/%s/",
				    k->terr < 0 ? "*" : rt->cfg->territories[k->terr].name,
				    sets[k->set]);
	if (!k->mask)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "*");
	for (uint64_t m = k->mask; m && n < sizeof buf; m &= m - 1)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", m == k->mask ? "" : "+",
				      rt->cfg->skills[__builtin_ctzll(m)]);
	if (n < sizeof buf && k->min_prof > 1)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "/min%u", k->min_prof);
	if (n < sizeof buf)
		snprintf(buf + n, sizeof buf - n, "/%s",
			 cl_strategy_name((enum cfg_strategy)k->strategy));
	return strdup(buf);
}

static void queue_free(struct rt_queue *q)
{
	if (!q)
		return;
	rt_heap_deinit(&q->avail);
	rt_heap_deinit(&q->wait);
	free(q->name);
	free(q);
}

struct rt_queue *rt_queue_get(struct rt *rt, const struct rt_qkey *key)
{
	struct rt_queue *q;

	HASH_FIND(hh, rt->queues, key, sizeof *key, q);
	if (q)
		return q;
	if (rt->n_queues == rt->cap_queues) {
		uint32_t cap = rt->cap_queues ? rt->cap_queues * 2 : 16;
		struct rt_queue **v = realloc(rt->queues_v, cap * sizeof *v);
		if (!v)
			return NULL;
		rt->queues_v = v;
		rt->cap_queues = cap;
	}
	q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->key = *key;
	rt_heap_init(&q->avail);
	rt_heap_init(&q->wait);
	if (!(q->name = queue_name(rt, key)))
		goto fail;

	/* Members: a failure here leaves some members linked to q, so q is kept
	 * (registered) either way and simply has fewer members. */
	rt->mark++;
	int rc = 0;
	if (key->terr < 0) {
		for (uint32_t i = 0; i < rt->n_targets && rc == 0; i++)
			rc = add_member(rt, q, &rt->targets[i]);
	} else {
		for (int a = key->terr; a >= 0 && rc == 0; a = rt->cfg->territories[a].parent)
			rc = add_serving(rt, q, (uint32_t)a);
		if (rc == 0)
			rc = add_subtree(rt, q, (uint32_t)key->terr, 0);
	}
	q->idx = rt->n_queues;
	rt->queues_v[rt->n_queues++] = q;
	HASH_ADD(hh, rt->queues, key, sizeof q->key, q);
	return q;
fail:
	queue_free(q);
	return NULL;
}

void rt_queues_free(struct rt *rt)
{
	HASH_CLEAR(hh, rt->queues);
	for (uint32_t i = 0; i < rt->n_queues; i++)
		queue_free(rt->queues_v[i]);
	free(rt->queues_v);
	rt->queues_v = NULL;
	rt->n_queues = rt->cap_queues = 0;
	while (rt->member_slabs) {
		struct member_slab *s = rt->member_slabs;
		rt->member_slabs = s->next;
		free(s);
	}
}
