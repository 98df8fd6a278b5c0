/*
 * rt_strategy.c — the routing strategies: the eight built-in ones, and the
 * binding of every queue to its strategy (built-in or plugin).
 *
 * A strategy is nothing but the ordering key a member carries in its
 * queue's avail heap (smallest first), computed from read-only views of the
 * target and the queue (closeloop/plugin.h). The built-ins are entries of a
 * static table of struct cl_plugin_ops, the same shape a plugin exports, so
 * the router has one code path: a queue records its strategy's key function
 * and state when it is created, and rt_queue.c calls through them. The cost
 * over the former switch is one indirect call per queue and a small view
 * filled once per re-listing (its colder half only for the strategies that
 * read it, see rt_target_view).
 *
 * The built-in keys (k2 always ends in the target index, a unique
 * tie-breaker below 2^20):
 *   longest-idle          k1 = idle since (µs)
 *   round-robin           k1 = sequence number of the last offer
 *   fewest-calls          k1 = calls answered, k2 = idle since
 *   top-down              k1 = position in the configuration
 *   random                no order: a uniform pick (CL_STRATEGY_RANDOM_PICK)
 *   proficiency-first     k1 = -(sum of levels in the queue's skills), k2 = idle
 *   weighted-share        stride scheduling: k1 = (offers + 1) / share
 *   performance-weighted  stride with weight = closure score x proficiency,
 *                         so volume follows performance
 * Where k2 is "idle since", it is in milliseconds above a 20-bit target
 * index: ties on k1 go to the longest idle, then to configuration order.
 *
 * Plugin strategies come from the engine's plugin loader through
 * rt_set_strategies(); the router borrows them.
 */
#include "rt_internal.h"

#include <stddef.h>
#include <string.h>

#include "log.h"

/* ------------------------------------------------------------ built-ins */

/* Idle time as a secondary key with the target index as the final tie:
 * milliseconds since the epoch need 41 bits, the index 20 (CFG_MAX_TARGETS),
 * so both fit one uint64_t without wrapping. */
static inline uint64_t idle_tie(const struct cl_target_view *t)
{
	return (t->idle_since_us / 1000u) << 20 | t->index;
}

static inline unsigned prof_sum(const struct cl_target_view *t, uint64_t mask)
{
	unsigned s = 0;
	while (mask) {
		s += t->prof[__builtin_ctzll(mask)];
		mask &= mask - 1;
	}
	return s;
}

/* Stride scheduling's pass value: members with more weight advance slower. */
static inline uint64_t stride(uint64_t offered, double weight)
{
	if (weight < 1e-6)
		weight = 1e-6;
	double pass = ((double)offered + 1.0) / weight * 1048576.0;
	return pass > 1.8e19 ? UINT64_MAX : (uint64_t)pass;
}

static struct cl_plugin_key key_longest_idle(void *s, const struct cl_queue_view *q,
					     const struct cl_target_view *t)
{
	(void)s, (void)q;
	return (struct cl_plugin_key){t->idle_since_us, t->index};
}

static struct cl_plugin_key key_fewest_calls(void *s, const struct cl_queue_view *q,
					     const struct cl_target_view *t)
{
	(void)s, (void)q;
	return (struct cl_plugin_key){t->answered, idle_tie(t)};
}

static struct cl_plugin_key key_round_robin(void *s, const struct cl_queue_view *q,
					    const struct cl_target_view *t)
{
	(void)s, (void)q;
	return (struct cl_plugin_key){t->last_offer_seq, t->index};
}

static struct cl_plugin_key key_top_down(void *s, const struct cl_queue_view *q,
					 const struct cl_target_view *t)
{
	(void)s, (void)q;
	return (struct cl_plugin_key){t->index, 0};
}

static struct cl_plugin_key key_random(void *s, const struct cl_queue_view *q,
				       const struct cl_target_view *t)
{
	(void)s, (void)q;
	return (struct cl_plugin_key){0, t->index}; /* picked by position (rt_queue_pick) */
}

static struct cl_plugin_key key_proficiency_first(void *s, const struct cl_queue_view *q,
						  const struct cl_target_view *t)
{
	(void)s;
	return (struct cl_plugin_key){UINT32_MAX - prof_sum(t, q->skills), idle_tie(t)};
}

static struct cl_plugin_key key_weighted_share(void *s, const struct cl_queue_view *q,
					       const struct cl_target_view *t)
{
	(void)s, (void)q;
	return (struct cl_plugin_key){stride(t->offered, t->share), idle_tie(t)};
}

static struct cl_plugin_key key_performance_weighted(void *s, const struct cl_queue_view *q,
						     const struct cl_target_view *t)
{
	(void)s;
	unsigned n = (unsigned)__builtin_popcountll(q->skills);
	double prof = n ? (double)prof_sum(t, q->skills) / (n * (double)CL_PLUGIN_MAX_PROF) : 1.0;
	return (struct cl_plugin_key){stride(t->offered, t->closure_score * prof), idle_tie(t)};
}

#define BUILTIN(nm, fn, fl)                                                                        \
	{                                                                                          \
		.abi_major = CL_PLUGIN_ABI_MAJOR, .size = sizeof(struct cl_plugin_ops), .name = nm,  \
		.version = "builtin", .flags = fl, .key = fn,                                       \
	}

/* Indexed by enum cfg_strategy; names as in the configuration. */
static const struct cl_plugin_ops builtin[CFG_STRAT_COUNT] = {
	[CFG_STRAT_LONGEST_IDLE] = BUILTIN("longest-idle", key_longest_idle, 0),
	[CFG_STRAT_FEWEST_CALLS] = BUILTIN("fewest-calls", key_fewest_calls, 0),
	[CFG_STRAT_ROUND_ROBIN] = BUILTIN("round-robin", key_round_robin, 0),
	[CFG_STRAT_TOP_DOWN] = BUILTIN("top-down", key_top_down, 0),
	[CFG_STRAT_RANDOM] = BUILTIN("random", key_random, CL_STRATEGY_RANDOM_PICK),
	[CFG_STRAT_PROFICIENCY_FIRST] = BUILTIN("proficiency-first", key_proficiency_first, 0),
	[CFG_STRAT_WEIGHTED_SHARE] = BUILTIN("weighted-share", key_weighted_share, 0),
	[CFG_STRAT_PERFORMANCE_WEIGHTED] =
		BUILTIN("performance-weighted", key_performance_weighted, 0),
};

/* Built-ins that read only the lean part of the target view (rt_internal.h):
 * the router then skips the rest, two cache lines per re-listing. */
static const bool builtin_lean[CFG_STRAT_COUNT] = {
	[CFG_STRAT_LONGEST_IDLE] = true,  [CFG_STRAT_FEWEST_CALLS] = true,
	[CFG_STRAT_ROUND_ROBIN] = true,	  [CFG_STRAT_TOP_DOWN] = true,
	[CFG_STRAT_RANDOM] = true,	  [CFG_STRAT_PROFICIENCY_FIRST] = true,
};

const struct cl_plugin_ops *rt_strategy_builtin(unsigned s)
{
	return s < CFG_STRAT_COUNT ? &builtin[s] : NULL;
}

/* -------------------------------------------------------------- binding */

_Static_assert(CFG_STRAT_PLUGIN0 + CFG_MAX_PLUGINS <= 64, "rt.random_pick has a bit per strategy");
_Static_assert(offsetof(struct rt_queue, sstate) + sizeof(void *) <= 64,
	       "a pick and a re-listing touch one cache line of a queue");

int rt_set_strategies(struct rt *rt, const struct rt_strategy *strats, uint32_t n)
{
	if (n != rt->cfg->n_plugins || (n && !strats))
		return -RT_EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!strats[i].ops || !strats[i].ops->key)
			return -RT_EINVAL;
	if (rt->n_queues)
		return -RT_ESTATE; /* queues already carry their strategy */
	rt->strats = strats;
	rt->n_strats = n;
	return 0;
}

void rt_queue_strategy_init(struct rt *rt, struct rt_queue *q)
{
	const struct rt_qkey *k = &q->key;
	const struct cl_plugin_ops *ops = rt_strategy_builtin(k->strategy);
	void *state = NULL;
	struct cl_queue_view *v = &q->view;

	memset(v, 0, sizeof *v);
	v->size = sizeof *v;
	if (!ops) {
		uint32_t i = (uint32_t)k->strategy - CFG_STRAT_PLUGIN0;
		if (i < rt->n_strats) {
			ops = rt->strats[i].ops;
			state = rt->strats[i].state;
			v->options = rt->strats[i].options;
			v->n_options = rt->strats[i].n_options;
		} else {
			/* Only when the owner of the router did not bind the
			 * configuration's plugins: order it somehow, and say so. */
			CL_LOG_ERROR("queue %s: strategy %s is not loaded; ordering by longest-idle",
				     q->name, cl_config_strategy_name(rt->cfg, k->strategy));
			ops = &builtin[CFG_STRAT_LONGEST_IDLE];
		}
	}
	q->skey = ops->key;
	q->sstate = state;
	/* The flag is the strategy's, so one bit per strategy serves every
	 * queue of it; the pick reads it from the router, not the queue. */
	if (ops->flags & CL_STRATEGY_RANDOM_PICK)
		rt->random_pick |= UINT64_C(1) << k->strategy;
	if (k->strategy < CFG_STRAT_COUNT && ops == &builtin[k->strategy] && builtin_lean[k->strategy])
		rt->lean_view |= UINT64_C(1) << k->strategy;
	if (k->set == RT_SET_TARGET) {
		v->territory = -1;
		v->territory_name = "*";
		v->set = CL_SET_ONE;
	} else {
		v->territory = k->terr;
		v->territory_name = k->terr < 0 ? "*" : rt->cfg->territories[k->terr].name;
		v->set = k->set;
	}
	v->name = q->name;
	v->skills = k->mask;
	v->min_prof = k->min_prof;
}
