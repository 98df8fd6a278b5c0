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
 * heap (smallest first). A queue is bound to its strategy when it is
 * created (rt_strategy.c: the built-ins and the plugins share one shape,
 * closeloop/plugin.h); member keys are computed through that binding from a
 * view of the target filled once per re-listing. A strategy flagged
 * CL_STRATEGY_RANDOM_PICK (the built-in random) is a uniform pick from the
 * heap's array instead of its top.
 * Queues, member nodes and the avail heaps (sized once: a queue's members
 * never change) live in the router's huge-page arena (rt_arena.h) for as
 * long as the router.
 */
#include "rt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <event2/event.h>

#include "terr.h"

void rt_tick(struct rt *rt)
{
	/* libevent caches the time once per loop iteration: every event the
	 * server handles in one read callback shares one clock reading. */
	struct timeval tv;
	event_base_gettimeofday_cached(rt->base, &tv);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	/* idle_since keys must grow even when the clock does not (same cached
	 * reading, or a step back of the wall clock). */
	rt->now_mono = us > rt->now_mono ? us : rt->now_mono + 1;
	rt->now_wall = us / 1000u;
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

/* The key of m under its queue's strategy; tv is m->t's view, completed
 * here (once: *full) when the strategy reads more than the lean part. */
static inline struct cl_plugin_key member_key(const struct rt *rt, const struct rt_member *m,
					      struct cl_target_view *tv, bool *full)
{
	const struct rt_queue *q = m->q;
	if (!*full && !((rt->lean_view >> q->key.strategy) & 1)) {
		rt_target_view_full(m->t, tv);
		*full = true;
	}
	return q->skey(q->sstate, &q->view, tv);
}

int rt_target_avail_insert(struct rt *rt, struct rt_target *t)
{
	struct cl_target_view tv;
	bool full = false;
	rt_target_view(rt, t, &tv);
	for (uint32_t i = 0; i < t->n_mem; i++) {
		struct rt_member *m = t->mem[i];
		struct cl_plugin_key k = member_key(rt, m, &tv, &full);
		if (rt_hnode_in_heap(&m->hn))
			rt_heap_rekey(&m->q->avail, &m->hn, k.k1, k.k2);
		else if (rt_heap_push(&m->q->avail, &m->hn, t, k.k1, k.k2) < 0)
			return -RT_ENOMEM;
	}
	return 0;
}

struct rt_target *rt_queue_pick(struct rt *rt, struct rt_queue *q)
{
	while (q->avail.n) {
		bool random = (rt->random_pick >> q->key.strategy) & 1;
		const struct rt_hent *e = random ? &q->avail.a[rt_rand(rt) % q->avail.n] : &q->avail.a[0];
		struct rt_target *t = e->item;
		if (rt_target_available(t))
			return t;
		rt_heap_remove(&q->avail, e->node); /* stale: busy since it was listed */
	}
	return NULL;
}

uint32_t rt_queue_available(const struct rt_queue *q)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->avail.n; i++)
		n += rt_target_available(q->avail.a[i].item);
	return n;
}

struct rt_call *rt_target_best_waiting(const struct rt *rt, const struct rt_target *t)
{
	const struct rt_hent *best = NULL;
	if (!rt->n_waiting)
		return NULL; /* the common case under light load: touch no queue */
	for (uint32_t i = 0; i < t->n_mem; i++) {
		const struct rt_hent *top = rt_heap_top(&t->mem[i]->q->wait);
		if (top && (!best || rt_hent_less(top, best)))
			best = top;
	}
	return best ? best->item : NULL;
}

static bool qualifies(const struct rt_target *t, const struct rt_qkey *k)
{
	if (k->set == RT_SET_TARGET)
		return t->idx == (uint32_t)k->terr;
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

/* Queue build, pass 1: note t as a candidate member once. */
static int add_member(struct rt *rt, struct rt_queue *q, struct rt_target *t)
{
	if (t->mark == rt->mark || !qualifies(t, &q->key))
		return 0;
	t->mark = rt->mark;
	if (q->n_members == rt->scratch_cap) {
		uint32_t cap = rt->scratch_cap ? rt->scratch_cap * 2 : 256;
		struct rt_target **a = realloc(rt->scratch, cap * sizeof *a);
		if (!a)
			return -RT_ENOMEM;
		rt->scratch = a;
		rt->scratch_cap = cap;
	}
	rt->scratch[q->n_members++] = t;
	return 0;
}

/* Queue build, pass 2: link the members and list the available ones. */
static int link_members(struct rt *rt, struct rt_queue *q)
{
	struct rt_hent *ents = q->n_members ? rt_arena_alloc(&rt->arena, q->n_members * sizeof *ents)
					    : NULL;
	struct rt_member *ms = q->n_members ? rt_arena_alloc(&rt->arena, q->n_members * sizeof *ms)
					    : NULL;
	if (q->n_members && (!ents || !ms))
		return -RT_ENOMEM;
	rt_heap_init_fixed(&q->avail, ents, q->n_members);
	for (uint32_t i = 0; i < q->n_members; i++) {
		struct rt_target *t = rt->scratch[i];
		struct rt_member *m = &ms[i];
		if (t->n_mem == t->cap_mem) {
			uint32_t cap = t->cap_mem * 2;
			struct rt_member **a = malloc(cap * sizeof *a);
			if (!a) {
				/* Unlink what this queue linked so far (always the last). */
				for (uint32_t j = 0; j < i; j++)
					rt->scratch[j]->n_mem--;
				rt_heap_init(&q->avail);
				return -RT_ENOMEM;
			}
			memcpy(a, t->mem, t->n_mem * sizeof *a);
			if (t->mem != t->mem_inline)
				free(t->mem);
			t->mem = a;
			t->cap_mem = cap;
		}
		m->q = q;
		m->t = t;
		t->mem[t->n_mem++] = m;
		if (rt_target_available(t)) {
			struct cl_target_view tv;
			bool full = false;
			rt_target_view(rt, t, &tv);
			struct cl_plugin_key k = member_key(rt, m, &tv, &full);
			rt_heap_push(&q->avail, &m->hn, t, k.k1, k.k2); /* sized: cannot fail */
		}
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

static char *queue_name(struct rt *rt, const struct rt_qkey *k)
{
	static const char *const sets[] = {"any", "reps", "partners"};
	char buf[1024];
	if (k->set == RT_SET_TARGET) {
		snprintf(buf, sizeof buf, "target/%s", rt->targets[k->terr].id);
		char *name = rt_arena_alloc(&rt->arena, strlen(buf) + 1);
		if (name)
			strcpy(name, buf);
		return name;
	}
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
			 cl_config_strategy_name(rt->cfg, k->strategy));
	char *name = rt_arena_alloc(&rt->arena, strlen(buf) + 1);
	if (name)
		strcpy(name, buf);
	return name;
}

/*
 * The queue table: open addressing with linear probing over {hash, queue},
 * at most half full. A lookup touches one slot line and the queue itself;
 * uthash's chains (up to ten entries before it grows) cost a cache miss per
 * link, which was the largest single cost of a decision at 100,000 targets.
 */
static uint64_t qkey_hash(const struct rt_qkey *k)
{
	uint64_t a;
	memcpy(&a, k, sizeof a);
	uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ k->mask;
	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 29;
	h *= 0x94D049BB133111EBULL;
	h ^= h >> 32;
	return h | 1; /* 0 marks an empty slot */
}

static struct rt_queue *qtab_find(const struct rt *rt, const struct rt_qkey *key, uint64_t h)
{
	if (!rt->qtab)
		return NULL;
	for (uint32_t i = (uint32_t)h & rt->qtab_mask;; i = (i + 1) & rt->qtab_mask) {
		const struct rt_qslot *s = &rt->qtab[i];
		if (!s->h)
			return NULL;
		if (s->h == h && memcmp(&s->q->key, key, sizeof *key) == 0)
			return s->q;
	}
}

static void qtab_put(struct rt_qslot *tab, uint32_t mask, uint64_t h, struct rt_queue *q)
{
	uint32_t i = (uint32_t)h & mask;
	while (tab[i].h)
		i = (i + 1) & mask;
	tab[i].h = h;
	tab[i].q = q;
}

static struct rt_qslot *qtab_alloc(uint32_t cap)
{
	size_t bytes = (size_t)cap * sizeof(struct rt_qslot);
	const size_t huge = 2u << 20;
	if (bytes < huge)
		return calloc(cap, sizeof(struct rt_qslot));
	/* Large tables on huge pages, like the arena (rt_arena.h). */
	struct rt_qslot *tab = aligned_alloc(huge, (bytes + huge - 1) / huge * huge);
	if (tab) {
		(void)madvise(tab, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
		memset(tab, 0, bytes);
	}
	return tab;
}

static int qtab_grow(struct rt *rt)
{
	uint32_t cap = rt->qtab ? (rt->qtab_mask + 1) * 2 : 64;
	struct rt_qslot *tab = qtab_alloc(cap);
	if (!tab)
		return -RT_ENOMEM;
	for (uint32_t i = 0; rt->qtab && i <= rt->qtab_mask; i++)
		if (rt->qtab[i].h)
			qtab_put(tab, cap - 1, rt->qtab[i].h, rt->qtab[i].q);
	free(rt->qtab);
	rt->qtab = tab;
	rt->qtab_mask = cap - 1;
	return 0;
}

struct rt_queue *rt_queue_get(struct rt *rt, const struct rt_qkey *key)
{
	uint64_t h = qkey_hash(key);
	struct rt_queue *q = qtab_find(rt, key, h);
	if (q)
		return q;
	if ((!rt->qtab || (rt->n_queues + 1) * 2 > rt->qtab_mask + 1) && qtab_grow(rt) < 0)
		return NULL;
	if (rt->n_queues == rt->cap_queues) {
		uint32_t cap = rt->cap_queues ? rt->cap_queues * 2 : 16;
		struct rt_queue **v = realloc(rt->queues_v, cap * sizeof *v);
		if (!v)
			return NULL;
		rt->queues_v = v;
		rt->cap_queues = cap;
	}
	q = rt_arena_alloc_aligned(&rt->arena, sizeof *q, 64);
	if (!q)
		return NULL;
	q->key = *key;
	rt_heap_init(&q->avail);
	rt_heap_init(&q->wait);
	if (!(q->name = queue_name(rt, key)))
		return NULL;
	rt_queue_strategy_init(rt, q);

	/* Candidates: the territories on the root path and in the subtree. A
	 * failure part-way leaves a queue with fewer members, still consistent. */
	rt->mark++;
	int rc = 0;
	if (key->set == RT_SET_TARGET) {
		rc = add_member(rt, q, &rt->targets[key->terr]);
	} else if (key->terr < 0) {
		for (uint32_t i = 0; i < rt->n_targets && rc == 0; i++)
			rc = add_member(rt, q, &rt->targets[i]);
	} else {
		for (int a = key->terr; a >= 0 && rc == 0; a = rt->cfg->territories[a].parent)
			rc = add_serving(rt, q, (uint32_t)a);
		if (rc == 0)
			rc = add_subtree(rt, q, (uint32_t)key->terr, 0);
	}
	if (rc < 0 || link_members(rt, q) < 0)
		q->n_members = 0; /* degraded, consistent: every call skips an empty queue */
	q->idx = rt->n_queues;
	rt->queues_v[rt->n_queues++] = q;
	qtab_put(rt->qtab, rt->qtab_mask, h, q);
	return q;
}

void rt_queues_free(struct rt *rt)
{
	free(rt->qtab);
	rt->qtab = NULL;
	rt->qtab_mask = 0;
	for (uint32_t i = 0; i < rt->n_queues; i++) {
		rt_heap_deinit(&rt->queues_v[i]->avail);
		rt_heap_deinit(&rt->queues_v[i]->wait);
	}
	free(rt->queues_v);
	rt->queues_v = NULL;
	rt->n_queues = rt->cap_queues = 0;
	free(rt->scratch);
	rt->scratch = NULL;
	rt->scratch_cap = 0;
}
