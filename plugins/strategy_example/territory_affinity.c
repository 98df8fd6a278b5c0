/*
 * territory_affinity.c — an example routing-strategy plugin for closeloopd:
 * "territory-affinity", longest-idle with a handicap for distance.
 *
 * A queue of a territory takes targets serving that territory, its
 * ancestors (a national partner serves every district) and, when a plan
 * widens to a region, the districts below it. Plain longest-idle treats
 * them all alike; this strategy prefers the ones closest to the caller: a
 * target's distance is the number of territory levels between the queue's
 * territory and the nearest territory the target serves (0 = it serves the
 * queue's territory itself), and its key is
 *
 *     k1 = idle since (µs) + distance x level_penalty_ms x 1000,  k2 = index
 *
 * so a target one level away goes first only when it has been idle
 * level_penalty_ms longer than the local one. level_penalty_ms: 0 is plain
 * longest-idle; a day (86400000) is strict nearest-first, longest idle
 * within each level. Queues of every territory (territory: any) have no
 * distance: they are longest-idle.
 *
 * Options (configuration `plugins: [{..., options: {...}}]`):
 *   level_penalty_ms   0..86400000, default 60000
 *
 * Cost: the distance walks the territory tree upwards from the queue's
 * territory and from each territory the target serves (at most
 * TA_MAX_DEPTH steps each), through the host's territory_parent service.
 * Keys are computed when a target becomes available again, not per
 * decision, so this does not slow the pick.
 *
 * It includes nothing of the engine but closeloop/plugin.h; build it in or
 * out of the tree (docs/plugins.md).
 */
#include <closeloop/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TA_MAX_DEPTH 64                 /* deeper than any sane territory tree */
#define TA_DEFAULT_PENALTY_MS 60000u
#define TA_MAX_PENALTY_MS 86400000u     /* one day */

struct ta_state {
	const struct cl_plugin_host *host;  /* valid until fini */
	uint64_t penalty_us;                /* per level of distance */
};

/* A decimal number in [0, max] with nothing around it; -1 when it is not. */
static int parse_ms(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

static int ta_init(const struct cl_plugin_host *host, const struct cl_plugin_option *opts,
		   uint32_t n_opts, void **state, char *err, size_t errlen)
{
	uint64_t penalty_ms = TA_DEFAULT_PENALTY_MS;

	for (uint32_t i = 0; i < n_opts; i++) {
		if (strcmp(opts[i].key, "level_penalty_ms") != 0) {
			snprintf(err, errlen, "unknown option \"%s\" (expected level_penalty_ms)",
				 opts[i].key);
			return -1;
		}
		if (parse_ms(opts[i].value, TA_MAX_PENALTY_MS, &penalty_ms) < 0) {
			snprintf(err, errlen, "level_penalty_ms \"%s\": expected 0..%u (milliseconds)",
				 opts[i].value, TA_MAX_PENALTY_MS);
			return -1;
		}
	}
	struct ta_state *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->host = host;
	s->penalty_us = penalty_ms * 1000u;
	host->log(host->ctx, CL_PLUGIN_LOG_INFO, "territory-affinity: %llu ms per level",
		  (unsigned long long)penalty_ms);
	*state = s;
	return 0;
}

static void ta_fini(void *state)
{
	free(state);
}

/* Levels from a to its ancestor b, or -1 when b is not a or above it. */
static int levels_up(const struct cl_plugin_host *h, int a, int b)
{
	for (int d = 0; a >= 0 && d <= TA_MAX_DEPTH; d++, a = h->territory_parent(h->ctx, a))
		if (a == b)
			return d;
	return -1;
}

static unsigned distance(const struct ta_state *s, const struct cl_queue_view *q,
			 const struct cl_target_view *t)
{
	unsigned best = TA_MAX_DEPTH;
	if (q->territory < 0)
		return 0; /* every territory: no place to be near */
	for (uint32_t i = 0; i < t->n_territories && best > 0; i++) {
		int served = t->territories[i];
		int up = levels_up(s->host, q->territory, served);  /* serves an ancestor */
		int down = levels_up(s->host, served, q->territory); /* serves a district below */
		if (up >= 0 && (unsigned)up < best)
			best = (unsigned)up;
		if (down >= 0 && (unsigned)down < best)
			best = (unsigned)down;
	}
	return best;
}

static struct cl_plugin_key ta_key(void *state, const struct cl_queue_view *q,
				   const struct cl_target_view *t)
{
	const struct ta_state *s = state;
	uint64_t handicap = distance(s, q, t) * s->penalty_us; /* < 2^43 */
	uint64_t k1 = t->idle_since_us + handicap;
	if (k1 < handicap)
		k1 = UINT64_MAX; /* saturate */
	return (struct cl_plugin_key){k1, t->index};
}

static const struct cl_plugin_ops ta_ops = {
	.abi_major = CL_PLUGIN_ABI_MAJOR,
	.size = sizeof(struct cl_plugin_ops),
	.name = "territory-affinity",
	.version = "1.0.0",
	.flags = 0,
	.init = ta_init,
	.fini = ta_fini,
	.key = ta_key,
};

CL_PLUGIN_EXPORT const struct cl_plugin_ops *cl_plugin_entry(void)
{
	return &ta_ops;
}
