/*
 * bench_route.c — the routing decision in-process, at 100 / 10,000 / 100,000
 * targets with 1,000 territories and 64 skills.
 *
 *   bench_route [--targets N[,N...]] [--calls N] [--batch B] [--strategy S]
 *
 * For each size it generates a configuration (a 3-level territory tree of
 * 1,000 territories with E.164 prefixes, 64 skills, N reps each serving one
 * district with 4 skills, one plan step "reps in the caller's territory with
 * the call's skill"), logs every rep in, then offers calls in batches of B:
 * each call comes from the district of a rep that is free and needs one of
 * its skills, so every decision finds a target. The offers of a batch are
 * timed (that is the decision: resolve territory and plan, find the queue,
 * pick and reserve the target, report it); answering and ending the batch's
 * calls is timed separately (the full cycle). Hooks are no-ops apart from
 * noting the chosen target. Nothing here is asserted: the figures go to
 * docs/performance.md.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "rt.h"
#include "terr.h"

#define N_TERR 1000
#define N_REGIONS 30
#define N_SKILLS 64
#define SKILLS_PER_TARGET 4

struct bench {
	struct rt *rt;
	uint32_t *free_list; /* free target indexes */
	uint32_t *free_pos;  /* index -> position in free_list, UINT32_MAX = busy */
	uint32_t n_free;
	uint32_t last_target;
	uint64_t routed, queued;
};

static uint64_t rng = 88172645463325252ULL;
static uint64_t xrand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Territory layout: 0 = root, 1..30 regions, 31..999 districts. */
static int district_of(uint32_t target) { return N_REGIONS + 1 + (int)(target % (N_TERR - N_REGIONS - 1)); }
static int skill_of(uint32_t target, int k) { return (int)((target * 7u + (uint32_t)k * 13u) % N_SKILLS); }

static char *gen_config(uint32_t n_targets, const char *strategy)
{
	size_t cap = 1 << 20, len = 0;
	char *y = malloc(cap);
#define PUT(...)                                                                                   \
	do {                                                                                       \
		int w_ = snprintf(y + len, cap - len, __VA_ARGS__);                                \
		while ((size_t)w_ >= cap - len) {                                                  \
			cap *= 2;                                                                  \
			y = realloc(y, cap);                                                       \
			w_ = snprintf(y + len, cap - len, __VA_ARGS__);                            \
		}                                                                                  \
		len += (size_t)w_;                                                                 \
	} while (0)
	PUT("auth: {pbx: [bench]}\nlimits: {max_calls: 1000000, max_queue: 1000000}\n");
	PUT("router: {ring_timeout_ms: 600000, random_seed: 7}\nskills: [");
	for (int i = 0; i < N_SKILLS; i++)
		PUT("%ss%d", i ? ", " : "", i);
	PUT("]\nterritories:\n  - {name: t0, phone: ['+49']}\n");
	for (int i = 1; i <= N_REGIONS; i++)
		PUT("  - {name: t%d, parent: t0}\n", i);
	for (int i = N_REGIONS + 1; i < N_TERR; i++)
		PUT("  - {name: t%d, parent: t%d, phone: ['+49%d']}\n", i, 1 + i % N_REGIONS, 1000 + i);
	PUT("reps:\n");
	for (uint32_t t = 0; t < n_targets; t++) {
		PUT("  - {id: r%u, territories: [t%d], skills: [", t, district_of(t));
		for (int k = 0; k < SKILLS_PER_TARGET; k++)
			PUT("%ss%d", k ? ", " : "", skill_of(t, k));
		PUT("]}\n");
	}
	PUT("plans:\n  - name: bench\n    steps: [{targets: reps, territory: caller, strategy: %s}]\n",
	    strategy);
#undef PUT
	return y;
}

static void take(struct bench *b, uint32_t t)
{
	uint32_t p = b->free_pos[t];
	if (p == UINT32_MAX)
		return;
	uint32_t lastv = b->free_list[--b->n_free];
	b->free_list[p] = lastv;
	b->free_pos[lastv] = p;
	b->free_pos[t] = UINT32_MAX;
}

static void give(struct bench *b, uint32_t t)
{
	if (b->free_pos[t] != UINT32_MAX)
		return;
	b->free_pos[t] = b->n_free;
	b->free_list[b->n_free++] = t;
}

static void on_route(void *arg, const struct rt_call *c)
{
	struct bench *b = arg;
	struct rt_call_info ci;
	rt_call_info(b->rt, c, &ci);
	uint32_t t = 0;
	for (const char *p = ci.target_id + 1; *p; p++)
		t = t * 10 + (uint32_t)(*p - '0');
	b->last_target = t;
	take(b, b->last_target);
	b->routed++;
}

static void on_queued(void *arg, const struct rt_call *c, uint32_t pos, uint32_t ewt)
{
	struct bench *b = arg;
	(void)c;
	(void)pos;
	(void)ewt;
	b->queued++;
}

static int run(uint32_t n_targets, uint64_t n_calls, uint32_t batch, const char *strategy)
{
	char err[512];
	struct cl_config *cfg = NULL;
	char *yaml = gen_config(n_targets, strategy);
	if (cl_config_load_string(yaml, "bench.yaml", &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "config: %s\n", err);
		free(yaml);
		return 1;
	}
	free(yaml);
	struct event_base *base = event_base_new();
	struct terr_index *ti = terr_index_new(cfg);
	struct bench b = {0};
	struct rt_hooks hooks = {.route = on_route, .queued = on_queued};
	b.rt = rt_new(base, cfg, ti, &hooks, &b);
	b.free_list = malloc(n_targets * sizeof *b.free_list);
	b.free_pos = malloc(n_targets * sizeof *b.free_pos);
	for (uint32_t t = 0; t < n_targets; t++) {
		char id[32];
		snprintf(id, sizeof id, "r%u", t);
		rt_target_login(b.rt, id, true, NULL);
		b.free_pos[t] = t;
		b.free_list[t] = t;
	}
	b.n_free = n_targets;
	if (batch > n_targets / 2)
		batch = n_targets / 2 ? n_targets / 2 : 1;

	char (*ids)[24] = malloc(batch * sizeof *ids);
	uint32_t *held = malloc(batch * sizeof *held);
	char caller[32], skill[8];
	const char *skills[1] = {skill};
	double t_offer = 0, t_release = 0;
	uint64_t done = 0, seq = 0;

	/* Warm-up: one call per (target, skill) creates every queue the timed
	 * loop can meet, so it measures steady state, not queue creation. */
	for (uint32_t t = 0; t < n_targets; t++) {
		for (int k = 0; k < SKILLS_PER_TARGET; k++) {
			snprintf(caller, sizeof caller, "+49%d5550%u", 1000 + district_of(t), t % 1000);
			snprintf(skill, sizeof skill, "s%d", skill_of(t, k));
			snprintf(ids[0], sizeof ids[0], "w%u.%d", t, k);
			struct rt_call_req req = {.id = ids[0], .caller = caller, .skills = skills,
						  .n_skills = 1};
			if (rt_call_offer(b.rt, &req, &b, 0) != 0)
				return 1;
			rt_call_answered(b.rt, ids[0], NULL, &b);
			rt_call_ended(b.rt, ids[0], &b);
			give(&b, b.last_target);
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		uint64_t goal = pass == 0 ? (n_calls / 10 ? n_calls / 10 : batch) : n_calls;
		double off = 0, rel = 0;
		done = 0;
		while (done < goal) {
			uint32_t nb = 0;
			double t0 = now_s();
			for (; nb < batch; nb++) {
				uint32_t t = b.free_list[xrand() % b.n_free];
				snprintf(caller, sizeof caller, "+49%d5550%u", 1000 + district_of(t),
					 (unsigned)(seq % 1000));
				snprintf(skill, sizeof skill, "s%d",
					 skill_of(t, (int)(xrand() % SKILLS_PER_TARGET)));
				snprintf(ids[nb], sizeof ids[nb], "c%llu", (unsigned long long)seq++);
				struct rt_call_req req = {.id = ids[nb], .caller = caller,
							  .skills = skills, .n_skills = 1};
				if (rt_call_offer(b.rt, &req, &b, seq) != 0) {
					fprintf(stderr, "offer failed\n");
					return 1;
				}
				held[nb] = b.last_target;
			}
			double t1 = now_s();
			for (uint32_t i = 0; i < nb; i++) {
				rt_call_answered(b.rt, ids[i], NULL, &b);
				rt_call_ended(b.rt, ids[i], &b);
				give(&b, held[i]);
			}
			double t2 = now_s();
			off += t1 - t0;
			rel += t2 - t1;
			done += nb;
		}
		t_offer = off;
		t_release = rel;
	}
	printf("%9u targets %6u territories %3d skills %-14s  %8.0f ns/decision  %10.0f "
	       "decisions/s  %8.0f ns/full cycle  (%llu routed, %llu queued)\n",
	       n_targets, N_TERR, N_SKILLS, strategy, t_offer / (double)done * 1e9,
	       (double)done / t_offer, (t_offer + t_release) / (double)done * 1e9,
	       (unsigned long long)b.routed, (unsigned long long)b.queued);
	fflush(stdout);
	free(ids);
	free(held);
	free(b.free_list);
	free(b.free_pos);
	rt_free(b.rt);
	terr_index_free(ti);
	cl_config_free(cfg);
	event_base_free(base);
	return 0;
}

int main(int argc, char **argv)
{
	const char *sizes = "100,10000,100000", *strategy = "longest-idle";
	uint64_t calls = 2000000;
	uint32_t batch = 50;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--targets") && i + 1 < argc)
			sizes = argv[++i];
		else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--strategy") && i + 1 < argc)
			strategy = argv[++i];
		else {
			fprintf(stderr,
				"usage: bench_route [--targets N,N..] [--calls N] [--batch B] "
				"[--strategy S]\n");
			return 2;
		}
	}
	char *list = strdup(sizes), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(list, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save))
		rc = run((uint32_t)strtoul(tok, NULL, 10), calls, batch, strategy);
	free(list);
	return rc;
}
