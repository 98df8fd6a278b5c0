/*
 * bench_route.c — the routing decision in-process, at 100 / 10,000 / 100,000
 * targets with 1,000 territories and 64 skills.
 *
 *   bench_route [--targets N[,N...]] [--calls N] [--batch B] [--strategy S]
 *               [--zipf S] [--memory]
 *
 * For each size it generates a configuration (a 3-level territory tree of
 * 1,000 territories with E.164 prefixes, 64 skills, N reps each serving one
 * district with 4 skills, one plan step "reps in the caller's territory with
 * the call's skill"), logs every rep in, then offers calls in batches of B:
 * each call comes from the district of a rep that is free and needs one of
 * its skills, so nearly every decision finds a target. The offers of a batch are
 * timed (that is the decision: resolve territory and plan, find the queue,
 * pick and reserve the target, report it); answering and ending the batch's
 * calls is timed separately (the full cycle). Hooks are no-ops apart from
 * reading what a server reads to answer. With --zipf S the calls come from
 * targets drawn by a Zipf law (popular territories and product lines, as
 * real traffic is) instead of uniformly. Nothing here is asserted: the
 * figures go to docs/performance.md.
 */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "rt.h"
#include "terr.h"

#define N_TERR 1000
#define N_REGIONS 30
#define N_SKILLS 64
#define SKILLS_PER_TARGET 4

struct bench {
	struct rt *rt;
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

static void on_route(void *arg, const struct rt_call *c)
{
	struct bench *b = arg;
	struct rt_call_info ci;
	rt_call_info(b->rt, c, &ci); /* what a server reads to answer: target id, uri */
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

struct req_buf {
	char id[24];
	char caller[32];
	char skill[8];
};

struct runner {
	struct bench *b;
	double *zipf_cdf; /* NULL: uniform over targets */
	struct event *ev;
	uint32_t n_targets, batch;
	uint64_t goal, done, seq;
	double t_offer, t_release;
	struct req_buf *rb;
	uint8_t *picked;
	uint32_t *picks;
	int failed;
};

/* Uniform, or Zipf by rank: rank k (1-based) has weight 1/k^s; ranks are
 * scattered over the targets (and so over territories and skills) by a fixed
 * multiplicative permutation. */
static uint32_t pick_target(const struct runner *r)
{
	if (!r->zipf_cdf)
		return (uint32_t)(xrand() % r->n_targets);
	double u = (double)(xrand() >> 11) * (1.0 / 9007199254740992.0);
	uint32_t lo = 0, hi = r->n_targets - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (r->zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)(((uint64_t)lo * 2654435761u) % r->n_targets);
}

static double *zipf_new(uint32_t n, double s)
{
	double *cdf = malloc(n * sizeof *cdf), sum = 0;
	for (uint32_t k = 0; k < n; k++)
		cdf[k] = (sum += 1.0 / pow((double)(k + 1), s));
	for (uint32_t k = 0; k < n; k++)
		cdf[k] /= sum;
	return cdf;
}

static void prep(struct req_buf *r, uint32_t t, int k, const char *tag, uint64_t seq)
{
	snprintf(r->caller, sizeof r->caller, "+49%d5550%u", 1000 + district_of(t),
		 (unsigned)(seq % 1000));
	snprintf(r->skill, sizeof r->skill, "s%d", skill_of(t, k));
	snprintf(r->id, sizeof r->id, "%s%llu", tag, (unsigned long long)seq);
}

/*
 * One batch per loop iteration, as a server handles the frames of one read:
 * libevent's cached clock is read once per iteration. Building the requests
 * is not timed; offering them is (the decision); answering and ending them is
 * timed separately.
 */
static void batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner *r = arg;
	struct bench *b = r->b;
	(void)fd;
	(void)what;

	uint32_t nb = r->batch;
	for (uint32_t i = 0; i < nb; i++) {
		uint32_t t;
		do
			t = pick_target(r);
		while (r->picked[t]);
		r->picked[t] = 1;
		r->picks[i] = t;
		prep(&r->rb[i], t, (int)(xrand() % SKILLS_PER_TARGET), "c", r->seq++);
	}
	const char *skills[1];
	double t0 = now_s();
	for (uint32_t i = 0; i < nb; i++) {
		skills[0] = r->rb[i].skill;
		struct rt_call_req req = {.id = r->rb[i].id, .caller = r->rb[i].caller,
					  .skills = skills, .n_skills = 1};
		if (rt_call_offer(b->rt, &req, b, r->seq) != 0)
			r->failed = 1;
	}
	double t1 = now_s();
	for (uint32_t i = 0; i < nb; i++) {
		if (rt_call_answered(b->rt, r->rb[i].id, NULL, b) == 0)
			rt_call_ended(b->rt, r->rb[i].id, b);
		else
			rt_call_abandoned(b->rt, r->rb[i].id, b);
	}
	double t2 = now_s();
	for (uint32_t i = 0; i < nb; i++)
		r->picked[r->picks[i]] = 0;
	r->t_offer += t1 - t0;
	r->t_release += t2 - t1;
	r->done += nb;
	if (r->done < r->goal && !r->failed)
		event_active(r->ev, EV_TIMEOUT, 0);
}

static int run(uint32_t n_targets, uint64_t n_calls, uint32_t batch, const char *strategy,
	       double zipf)
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
	for (uint32_t t = 0; t < n_targets; t++) {
		char id[32];
		snprintf(id, sizeof id, "r%u", t);
		rt_target_login(b.rt, id, true, NULL);
	}
	if (batch > n_targets / 2)
		batch = n_targets / 2 ? n_targets / 2 : 1;

	/* Warm-up: one call per (target, skill) creates every queue the timed
	 * loop can meet, so it measures steady state, not queue creation. */
	for (uint32_t t = 0; t < n_targets; t++) {
		for (int k = 0; k < SKILLS_PER_TARGET; k++) {
			struct req_buf w;
			prep(&w, t, k, "w", (uint64_t)t * SKILLS_PER_TARGET + (uint64_t)k);
			const char *skills[1] = {w.skill};
			struct rt_call_req req = {.id = w.id, .caller = w.caller, .skills = skills,
						  .n_skills = 1};
			rt_call_offer(b.rt, &req, &b, 0);
			if (rt_call_answered(b.rt, w.id, NULL, &b) == 0)
				rt_call_ended(b.rt, w.id, &b);
			else
				rt_call_abandoned(b.rt, w.id, &b);
		}
	}
	b.routed = b.queued = 0;

	struct runner r = {.b = &b, .n_targets = n_targets, .batch = batch, .goal = n_calls};
	r.rb = calloc(batch, sizeof *r.rb);
	r.picks = calloc(batch, sizeof *r.picks);
	r.picked = calloc(n_targets, 1);
	/* 2654435761 is prime and does not divide n: the permutation is a bijection. */
	if (zipf > 0)
		r.zipf_cdf = zipf_new(n_targets, zipf);
	r.ev = event_new(base, -1, 0, batch_cb, &r);
	event_active(r.ev, EV_TIMEOUT, 0);
	event_base_dispatch(base);

	char mix[32];
	if (zipf > 0)
		snprintf(mix, sizeof mix, "zipf %.2f", zipf);
	else
		snprintf(mix, sizeof mix, "uniform");
	printf("%9u targets %6u territories %3d skills %-14s %-10s %7.0f ns/decision %9.0f "
	       "decisions/s %7.0f ns/full cycle  (%llu routed, %llu queued)\n",
	       n_targets, N_TERR, N_SKILLS, strategy, mix, r.t_offer / (double)r.done * 1e9,
	       (double)r.done / r.t_offer, (r.t_offer + r.t_release) / (double)r.done * 1e9,
	       (unsigned long long)b.routed, (unsigned long long)b.queued);
	fflush(stdout);
	event_free(r.ev);
	free(r.rb);
	free(r.picks);
	free(r.picked);
	free(r.zipf_cdf);
	rt_free(b.rt);
	terr_index_free(ti);
	cl_config_free(cfg);
	event_base_free(base);
	return r.failed;
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * Memory per target and per waiting call: resident memory grown by the
 * router (not the configuration) for n targets after every queue exists,
 * then by n_wait calls that all wait (nobody logged in).
 */
static int memory(uint32_t n_targets, uint32_t n_wait)
{
	char err[512];
	struct cl_config *cfg = NULL;
	char *yaml = gen_config(n_targets, "longest-idle");
	if (cl_config_load_string(yaml, "bench.yaml", &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "config: %s\n", err);
		free(yaml);
		return 1;
	}
	free(yaml);
	struct event_base *base = event_base_new();
	struct terr_index *ti = terr_index_new(cfg);
	long r0 = rss_kib();
	struct rt *rt = rt_new(base, cfg, ti, NULL, NULL);
	for (uint32_t t = 0; t < n_targets; t++) {
		char id[32];
		snprintf(id, sizeof id, "r%u", t);
		rt_target_login(rt, id, true, NULL);
	}
	struct req_buf w;
	for (uint32_t t = 0; t < n_targets; t++) {
		for (int k = 0; k < SKILLS_PER_TARGET; k++) {
			prep(&w, t, k, "w", (uint64_t)t * SKILLS_PER_TARGET + (uint64_t)k);
			const char *skills[1] = {w.skill};
			struct rt_call_req req = {.id = w.id, .caller = w.caller, .skills = skills,
						  .n_skills = 1};
			rt_call_offer(rt, &req, rt, 0);
			rt_call_answered(rt, w.id, NULL, rt);
			rt_call_ended(rt, w.id, rt);
		}
	}
	long r1 = rss_kib();
	for (uint32_t t = 0; t < n_targets; t++) {
		char id[32];
		snprintf(id, sizeof id, "r%u", t);
		rt_target_logout(rt, id);
	}
	for (uint32_t i = 0; i < n_wait; i++) {
		uint32_t t = (uint32_t)(xrand() % n_targets);
		prep(&w, t, (int)(xrand() % SKILLS_PER_TARGET), "q", i);
		const char *skills[1] = {w.skill};
		struct rt_call_req req = {.id = w.id, .caller = w.caller, .skills = skills,
					  .n_skills = 1};
		rt_call_offer(rt, &req, rt, 0);
	}
	long r2 = rss_kib();
	struct rt_stats st;
	rt_stats(rt, &st);
	printf("%9u targets: router %.0f bytes/target (%u queues); %u waiting calls: %.0f "
	       "bytes/waiting call\n",
	       n_targets, (double)(r1 - r0) * 1024.0 / n_targets, st.queues, st.waiting_calls,
	       (double)(r2 - r1) * 1024.0 / (st.waiting_calls ? st.waiting_calls : 1));
	rt_free(rt);
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
	double zipf = 0;
	int mem = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--targets") && i + 1 < argc)
			sizes = argv[++i];
		else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--strategy") && i + 1 < argc)
			strategy = argv[++i];
		else if (!strcmp(argv[i], "--zipf") && i + 1 < argc)
			zipf = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--memory"))
			mem = 1;
		else {
			fprintf(stderr,
				"usage: bench_route [--targets N,N..] [--calls N] [--batch B] "
				"[--strategy S] [--zipf S] [--memory]\n");
			return 2;
		}
	}
	char *list = strdup(sizes), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(list, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save))
		rc = mem ? memory((uint32_t)strtoul(tok, NULL, 10), 100000)
			 : run((uint32_t)strtoul(tok, NULL, 10), calls, batch, strategy, zipf);
	free(list);
	return rc;
}
