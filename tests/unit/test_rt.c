/*
 * test_rt.c — the router: territories, strategies, queue order, escalation,
 * reservations and their timeouts, capacity, wrap-up and bad input.
 *
 * Each test loads a small YAML configuration, builds a fresh event_base and
 * router, and records what the router tells the outside world through its
 * hooks. Timers run on the real event loop with short deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "cfg.h"
#include "rt.h"
#include "terr.h"

enum rec_kind { REC_ROUTE = 1, REC_QUEUED, REC_REJECT, REC_OFFER, REC_REVOKE, REC_STATUS };

struct rec {
	enum rec_kind kind;
	char call[64];
	char target[64];
	uint32_t position;
	int reject;
	bool needs_accept;
	uint64_t resv;
	char reason[64];
};

#define MAX_RECS 20000

struct fx {
	struct event_base *base;
	struct cl_config *cfg;
	struct terr_index *ti;
	struct rt *rt;
	struct rec recs[MAX_RECS];
	size_t n;
	size_t n_events;
	size_t ev_counts[16];
};

static void add_rec(struct fx *f, enum rec_kind k, const struct rt_call *c, const struct rt_target *t)
{
	assert_true(f->n < MAX_RECS);
	struct rec *r = &f->recs[f->n++];
	memset(r, 0, sizeof *r);
	r->kind = k;
	if (c) {
		struct rt_call_info ci;
		rt_call_info(f->rt, c, &ci);
		snprintf(r->call, sizeof r->call, "%s", ci.id);
		r->resv = ci.reservation_id;
		if (!t && ci.target_id)
			snprintf(r->target, sizeof r->target, "%s", ci.target_id);
	}
	if (t)
		snprintf(r->target, sizeof r->target, "%s", rt_target_id(t));
}

static void h_route(void *arg, const struct rt_call *c) { add_rec(arg, REC_ROUTE, c, NULL); }

static void h_queued(void *arg, const struct rt_call *c, uint32_t pos, uint32_t ewt)
{
	struct fx *f = arg;
	(void)ewt;
	add_rec(f, REC_QUEUED, c, NULL);
	f->recs[f->n - 1].position = pos;
}

static void h_reject(void *arg, const struct rt_call *c, enum rt_reject why, const char *text)
{
	struct fx *f = arg;
	add_rec(f, REC_REJECT, c, NULL);
	f->recs[f->n - 1].reject = why;
	snprintf(f->recs[f->n - 1].reason, sizeof f->recs[0].reason, "%s", text ? text : "");
}

static void h_offer(void *arg, const struct rt_call *c, const struct rt_target *t, bool na,
		    uint32_t timeout_ms)
{
	struct fx *f = arg;
	(void)timeout_ms;
	add_rec(f, REC_OFFER, c, t);
	f->recs[f->n - 1].needs_accept = na;
}

static void h_revoke(void *arg, const struct rt_call *c, const struct rt_target *t, const char *why)
{
	struct fx *f = arg;
	add_rec(f, REC_REVOKE, c, t);
	snprintf(f->recs[f->n - 1].reason, sizeof f->recs[0].reason, "%s", why);
}

static void h_status(void *arg, const struct rt_target *t) { add_rec(arg, REC_STATUS, NULL, t); }

static void h_event(void *arg, const struct rt_event *ev)
{
	struct fx *f = arg;
	f->n_events++;
	f->ev_counts[ev->type]++;
}

static const struct rt_hooks hooks = {
	.route = h_route,
	.queued = h_queued,
	.reject = h_reject,
	.offer = h_offer,
	.revoke = h_revoke,
	.status = h_status,
	.event = h_event,
};

/* Common head of every test configuration. */
#define CFG_HEAD                                                                                   \
	"auth: {pbx: [p]}\n"                                                                       \
	"skills: [printers, scanners, lang-de, lang-en]\n"                                         \
	"territories:\n"                                                                           \
	"  - {name: de, phone: ['+49']}\n"                                                         \
	"  - {name: south, parent: de, postal: ['8', '9'], phone: ['+498']}\n"                     \
	"  - {name: north, parent: de, postal: ['2'], phone: ['+494']}\n"                          \
	"  - {name: munich, parent: south, postal: ['80']}\n"

static struct fx *fx_new(const char *yaml)
{
	struct fx *f = calloc(1, sizeof *f);
	char err[512];
	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	int rc = cl_config_load_string(yaml, "test.yaml", &f->cfg, err, sizeof err);
	if (rc != 0)
		fail_msg("config: %s", err);
	f->ti = terr_index_new(f->cfg);
	assert_non_null(f->ti);
	f->rt = rt_new(f->base, f->cfg, f->ti, &hooks, f);
	assert_non_null(f->rt);
	return f;
}

static void fx_free(struct fx *f)
{
	rt_free(f->rt);
	terr_index_free(f->ti);
	cl_config_free(f->cfg);
	event_base_free(f->base);
	free(f);
}

static void run_for(struct fx *f, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

static int offer(struct fx *f, const char *id, const char *caller, const char *postal,
		 const char *skill, uint32_t prio)
{
	const char *skills[1] = {skill};
	struct rt_call_req req = {
		.id = id,
		.caller = caller,
		.dialed = "+49800100",
		.postal_code = postal,
		.skills = skill ? skills : NULL,
		.n_skills = skill ? 1 : 0,
		.priority = prio,
	};
	return rt_call_offer(f->rt, &req, f, 1);
}

static const struct rec *last(struct fx *f, enum rec_kind k)
{
	for (size_t i = f->n; i-- > 0;)
		if (f->recs[i].kind == k)
			return &f->recs[i];
	return NULL;
}

static size_t count(struct fx *f, enum rec_kind k, const char *target)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		if (f->recs[i].kind == k && (!target || strcmp(f->recs[i].target, target) == 0))
			n++;
	return n;
}

static enum rt_call_state call_state(struct fx *f, const char *id)
{
	struct rt_call *c = rt_call_find(f->rt, id);
	if (!c)
		return RT_CALL_ENDED;
	struct rt_call_info ci;
	rt_call_info(f->rt, c, &ci);
	return ci.state;
}

static struct rt_target_info tinfo(struct fx *f, const char *id)
{
	struct rt_target_info ti;
	struct rt_target *t = rt_target_find(f->rt, id);
	assert_non_null(t);
	rt_target_info(f->rt, t, &ti);
	return ti;
}

/* Answer and end a routed call at once. */
static void finish(struct fx *f, const char *id)
{
	assert_int_equal(rt_call_answered(f->rt, id, NULL, f), 0);
	assert_int_equal(rt_call_ended(f->rt, id, f), 0);
}

/* ------------------------------------------------------------------ tests */

static const char *cfg_basic =
	CFG_HEAD
	"router: {ring_timeout_ms: 60, max_misses: 2, miss_pause_ms: 0}\n"
	"reps:\n"
	"  - {id: anna, territories: [de], skills: {printers: 5, lang-de: 5}}\n"
	"  - {id: ben, territories: [de], skills: {printers: 3, scanners: 4}}\n"
	"plans:\n"
	"  - name: all\n"
	"    steps:\n"
	"      - {targets: reps, territory: caller, strategy: longest-idle}\n";

static void test_route_and_lifecycle(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	assert_int_equal(rt_target_login(f->rt, "anna", true, NULL), 0);

	assert_int_equal(offer(f, "c1", "+4930123", NULL, "printers", 0), 0);
	const struct rec *r = last(f, REC_ROUTE);
	assert_non_null(r);
	assert_string_equal(r->call, "c1");
	assert_string_equal(r->target, "anna");
	assert_int_equal(call_state(f, "c1"), RT_CALL_RESERVED);
	assert_false(tinfo(f, "anna").available);

	assert_int_equal(rt_call_answered(f->rt, "c1", "anna", f), 0);
	assert_int_equal(call_state(f, "c1"), RT_CALL_CONNECTED);
	assert_int_equal(rt_call_ended(f->rt, "c1", f), 0);
	assert_int_equal(call_state(f, "c1"), RT_CALL_ENDED);
	assert_true(tinfo(f, "anna").available);
	assert_int_equal(tinfo(f, "anna").answered, 1);

	struct rt_stats st;
	rt_stats(f->rt, &st);
	assert_int_equal(st.offered, 1);
	assert_int_equal(st.routed, 1);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.live_calls, 0);
	assert_int_equal(f->ev_counts[RT_EV_CALL_OFFERED], 1);
	assert_int_equal(f->ev_counts[RT_EV_CALL_RESERVED], 1);
	assert_int_equal(f->ev_counts[RT_EV_CALL_CONNECTED], 1);
	assert_int_equal(f->ev_counts[RT_EV_CALL_ENDED], 1);
	fx_free(f);
}

/* A plan matching {open: false} takes the calls of territories whose
 * calendar (own or inherited) is closed; the others go on to the next. */
static void test_calendar_plans(void **state)
{
	(void)state;
	struct fx *f = fx_new(
		"auth: {pbx: [p]}\n"
		"skills: [printers]\n"
		"calendars:\n"
		"  - {name: always, timezone: Europe/Berlin, hours: {daily: ['00:00-24:00']}}\n"
		"  - {name: never, timezone: UTC, hours: {}}\n"
		"territories:\n"
		"  - {name: de, phone: ['+49'], calendar: always}\n"
		"  - {name: south, parent: de, postal: ['8'], calendar: never}\n"
		"  - {name: munich, parent: south, postal: ['80']}\n"
		"  - {name: at, phone: ['+43']}\n"
		"reps:\n"
		"  - {id: anna, territories: [de, at], skills: {printers: 5}}\n"
		"plans:\n"
		"  - name: after-hours\n"
		"    match: {open: false}\n"
		"    steps:\n"
		"      - {action: callback, reason: closed}\n"
		"  - name: all\n"
		"    steps:\n"
		"      - {targets: reps, territory: any}\n");
	assert_int_equal(rt_target_login(f->rt, "anna", true, NULL), 0);

	/* Munich inherits south's calendar, which never opens. */
	assert_int_equal(offer(f, "c1", "+4989123", "80331", "printers", 0), 0);
	const struct rec *r = last(f, REC_REJECT);
	assert_non_null(r);
	assert_string_equal(r->call, "c1");
	assert_int_equal(r->reject, RT_REJECT_CALLBACK);
	assert_string_equal(r->reason, "closed");
	/* Berlin is always open; Austria has no calendar: open too. */
	assert_int_equal(offer(f, "c2", "+4930123", NULL, "printers", 0), 0);
	r = last(f, REC_ROUTE);
	assert_non_null(r);
	assert_string_equal(r->call, "c2");
	struct rt_call_info ci;
	rt_call_info(f->rt, rt_call_find(f->rt, "c2"), &ci);
	assert_string_equal(ci.plan, "all");
	finish(f, "c2");
	assert_int_equal(offer(f, "c3", "+43123", NULL, "printers", 0), 0);
	r = last(f, REC_ROUTE);
	assert_non_null(r);
	assert_string_equal(r->call, "c3");
	fx_free(f);
}

/* A target whose calendar is closed takes no calls; when it opens it
 * serves the calls that waited for it. */
static void test_calendar_targets(void **state)
{
	(void)state;
	struct fx *f = fx_new(
		CFG_HEAD
		"calendars:\n"
		"  - {name: shop, timezone: Europe/Vienna, hours: {daily: ['00:00-24:00']}}\n"
		"partners:\n"
		"  - {id: p1, territories: [de], skills: {printers: 3}, sip: 'sip:p1@x', token: t1,\n"
		"     calendar: shop}\n"
		"plans:\n"
		"  - name: all\n"
		"    steps:\n"
		"      - {targets: partners, territory: any}\n");
	assert_false(tinfo(f, "p1").closed);
	assert_int_equal(offer(f, "c1", "+4930123", NULL, "printers", 0), 0);
	assert_int_equal(call_state(f, "c1"), RT_CALL_RESERVED);
	finish(f, "c1");

	/* Closed (the test edits the calendar it lent the router). */
	struct cfg_calendar *cal = &f->cfg->calendars[0];
	for (int d = 0; d < 7; d++)
		cal->n_hours[d] = 0;
	rt_calendars_refresh(f->rt);
	assert_true(tinfo(f, "p1").closed);
	assert_false(tinfo(f, "p1").available);
	assert_int_equal(tinfo(f, "p1").state, RT_TARGET_READY); /* its own state stays */
	assert_int_equal(offer(f, "c2", "+4930123", NULL, "printers", 0), 0);
	assert_int_equal(call_state(f, "c2"), RT_CALL_QUEUED);

	/* Open again: the waiting call goes to it at once. */
	for (int d = 0; d < 7; d++)
		cal->n_hours[d] = 1;
	rt_calendars_refresh(f->rt);
	assert_false(tinfo(f, "p1").closed);
	assert_int_equal(call_state(f, "c2"), RT_CALL_RESERVED);
	assert_string_equal(last(f, REC_ROUTE)->call, "c2");
	fx_free(f);
}

static void test_skill_filter(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	rt_target_login(f->rt, "anna", true, NULL);
	rt_target_login(f->rt, "ben", true, NULL);
	/* Only ben has scanners, even though anna has been idle longer. */
	assert_int_equal(offer(f, "c1", "+4930", NULL, "scanners", 0), 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "ben");
	/* Language adds lang-de: only anna. */
	const char *sk[1] = {"printers"};
	struct rt_call_req req = {.id = "c2", .caller = "+4930", .skills = sk, .n_skills = 1,
				  .language = "de"};
	assert_int_equal(rt_call_offer(f->rt, &req, f, 2), 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "anna");
	fx_free(f);
}

static void test_queue_then_login(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	assert_int_equal(offer(f, "c1", "+4930", NULL, "printers", 0), 0);
	const struct rec *q = last(f, REC_QUEUED);
	assert_non_null(q);
	assert_int_equal(q->position, 1);
	assert_null(last(f, REC_ROUTE));
	assert_int_equal(offer(f, "c2", "+4930", NULL, "printers", 0), 0);
	assert_int_equal(last(f, REC_QUEUED)->position, 2);

	assert_int_equal(rt_target_login(f->rt, "ben", true, NULL), 0);
	assert_string_equal(last(f, REC_ROUTE)->call, "c1");
	assert_string_equal(last(f, REC_ROUTE)->target, "ben");
	assert_int_equal(call_state(f, "c2"), RT_CALL_QUEUED);
	finish(f, "c1");
	assert_string_equal(last(f, REC_ROUTE)->call, "c2");
	fx_free(f);
}

static void test_priority_then_age(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	offer(f, "old", "+4930", NULL, "printers", 0);
	offer(f, "new", "+4930", NULL, "printers", 0);
	offer(f, "vip", "+4930", NULL, "printers", 50);
	rt_target_login(f->rt, "anna", true, NULL);
	assert_string_equal(last(f, REC_ROUTE)->call, "vip");
	finish(f, "vip");
	assert_string_equal(last(f, REC_ROUTE)->call, "old");
	finish(f, "old");
	assert_string_equal(last(f, REC_ROUTE)->call, "new");
	fx_free(f);
}

static const char *cfg_terr =
	CFG_HEAD
	"partners:\n"
	"  - {id: p-south, token: t1, sip: 'sip:s@x', territories: [south], skills: [printers], seats: 5}\n"
	"  - {id: p-north, token: t2, sip: 'sip:n@x', territories: [north], skills: [printers], seats: 5}\n"
	"  - {id: p-munich, token: t3, sip: 'sip:m@x', territories: [munich], skills: [printers], seats: 5}\n"
	"plans:\n"
	"  - name: p\n"
	"    steps:\n"
	"      - {targets: partners, territory: caller, strategy: top-down}\n";

static void test_territory(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_terr);
	/* Postal code beats the caller's number. */
	offer(f, "c1", "+494011", "80331", "printers", 0);
	/* munich's own partner is listed after p-south, and p-south serves
	 * munich's parent: top-down picks p-south (configuration order). */
	assert_string_equal(last(f, REC_ROUTE)->target, "p-south");
	offer(f, "c2", "+494011", NULL, "printers", 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "p-north");
	offer(f, "c3", "+4989111", NULL, "printers", 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "p-south");
	/* A caller of south (not munich) reaches the partners inside south;
	 * a north caller never reaches them. */
	rt_target_drain(f->rt, "p-south", true);
	offer(f, "c4", "+4989111", "91000", "printers", 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "p-munich");
	rt_target_drain(f->rt, "p-north", true);
	offer(f, "c5", "+494011", NULL, "printers", 0);
	assert_int_equal(call_state(f, "c5"), RT_CALL_QUEUED);
	rt_target_drain(f->rt, "p-north", false);
	assert_string_equal(last(f, REC_ROUTE)->call, "c5");
	assert_string_equal(last(f, REC_ROUTE)->target, "p-north");
	fx_free(f);
}

static const char *cfg_strat_fmt =
	CFG_HEAD
	"reps:\n"
	"  - {id: r1, territories: [de], skills: {printers: 2}}\n"
	"  - {id: r2, territories: [de], skills: {printers: 5}}\n"
	"  - {id: r3, territories: [de], skills: {printers: 3}}\n"
	"plans:\n"
	"  - name: p\n"
	"    steps:\n"
	"      - {targets: reps, strategy: %s}\n";

static struct fx *strat_fx(const char *strategy)
{
	char yaml[2048];
	snprintf(yaml, sizeof yaml, cfg_strat_fmt, strategy);
	struct fx *f = fx_new(yaml);
	rt_target_login(f->rt, "r1", true, NULL);
	rt_target_login(f->rt, "r2", true, NULL);
	rt_target_login(f->rt, "r3", true, NULL);
	return f;
}

static const char *route_one(struct fx *f, int i)
{
	char id[32];
	snprintf(id, sizeof id, "c%d", i);
	assert_int_equal(offer(f, id, "+4930", NULL, "printers", 0), 0);
	const struct rec *r = last(f, REC_ROUTE);
	assert_string_equal(r->call, id);
	return r->target;
}

static void test_strategy_longest_idle(void **state)
{
	(void)state;
	struct fx *f = strat_fx("longest-idle");
	/* Logged in r1, r2, r3 in that order: r1 idle longest. */
	assert_string_equal(route_one(f, 1), "r1");
	finish(f, "c1"); /* r1 becomes the most recently idle */
	assert_string_equal(route_one(f, 2), "r2");
	assert_string_equal(route_one(f, 3), "r3");
	assert_string_equal(route_one(f, 4), "r1");
	fx_free(f);
}

static void test_strategy_top_down(void **state)
{
	(void)state;
	struct fx *f = strat_fx("top-down");
	for (int i = 0; i < 5; i++) {
		assert_string_equal(route_one(f, i), "r1");
		char id[32];
		snprintf(id, sizeof id, "c%d", i);
		finish(f, id);
	}
	fx_free(f);
}

static void test_strategy_round_robin(void **state)
{
	(void)state;
	struct fx *f = strat_fx("round-robin");
	const char *want[] = {"r1", "r2", "r3", "r1", "r2", "r3"};
	for (int i = 0; i < 6; i++) {
		assert_string_equal(route_one(f, i), want[i]);
		char id[32];
		snprintf(id, sizeof id, "c%d", i);
		finish(f, id);
	}
	fx_free(f);
}

static void test_strategy_fewest_calls(void **state)
{
	(void)state;
	struct fx *f = strat_fx("fewest-calls");
	/* r1 answers two, r2 one: then r3 (zero) goes first, then r2. */
	assert_string_equal(route_one(f, 1), "r1");
	finish(f, "c1");
	assert_string_equal(route_one(f, 2), "r2");
	finish(f, "c2");
	assert_string_equal(route_one(f, 3), "r3");
	finish(f, "c3");
	rt_target_set_ready(f->rt, "r2", false, "break");
	rt_target_set_ready(f->rt, "r3", false, "break");
	assert_string_equal(route_one(f, 4), "r1");
	finish(f, "c4");
	rt_target_set_ready(f->rt, "r2", true, NULL);
	rt_target_set_ready(f->rt, "r3", true, NULL);
	/* answered: r1=2, r2=1, r3=1; ties by idle time (r2 idled before r3). */
	assert_string_equal(route_one(f, 5), "r2");
	assert_string_equal(route_one(f, 6), "r3");
	assert_string_equal(route_one(f, 7), "r1");
	fx_free(f);
}

static void test_strategy_proficiency_first(void **state)
{
	(void)state;
	struct fx *f = strat_fx("proficiency-first");
	assert_string_equal(route_one(f, 1), "r2");
	assert_string_equal(route_one(f, 2), "r3");
	assert_string_equal(route_one(f, 3), "r1");
	fx_free(f);
}

static void test_strategy_random(void **state)
{
	(void)state;
	struct fx *f = strat_fx("random");
	size_t hits[3] = {0};
	for (int i = 0; i < 3000; i++) {
		const char *t = route_one(f, i);
		hits[t[1] - '1']++;
		char id[32];
		snprintf(id, sizeof id, "c%d", i);
		finish(f, id);
	}
	/* Uniform: each about 1000 (sd ~26); far from always-the-same. */
	for (int i = 0; i < 3; i++)
		assert_in_range(hits[i], 850, 1150);
	fx_free(f);
}

static const char *cfg_share =
	CFG_HEAD
	"partners:\n"
	"  - {id: big, token: a, sip: 'sip:a@x', territories: [de], skills: [printers], seats: 1000, share: 75, closure_rate: 0.2}\n"
	"  - {id: small, token: b, sip: 'sip:b@x', territories: [de], skills: [printers], seats: 1000, share: 25, closure_rate: 0.6}\n"
	"plans:\n"
	"  - name: share\n"
	"    match: {segment: [soho]}\n"
	"    steps: [{targets: partners, strategy: weighted-share}]\n"
	"  - name: perf\n"
	"    steps: [{targets: partners, strategy: performance-weighted}]\n";

static void share_run(struct fx *f, const char *segment, size_t *big)
{
	*big = 0;
	for (int i = 0; i < 400; i++) {
		char id[32];
		snprintf(id, sizeof id, "%s%d", segment, i);
		const char *sk[1] = {"printers"};
		struct rt_call_req req = {.id = id, .caller = "+4930", .segment = segment,
					  .skills = sk, .n_skills = 1};
		assert_int_equal(rt_call_offer(f->rt, &req, f, 1), 0);
		if (strcmp(last(f, REC_ROUTE)->target, "big") == 0)
			(*big)++;
		finish(f, id);
	}
}

static void test_strategy_weighted_share(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_share);
	size_t big;
	share_run(f, "soho", &big);
	/* Stride scheduling holds the 75:25 split exactly (within one call). */
	assert_in_range(big, 299, 301);
	fx_free(f);
}

static void test_strategy_performance_weighted(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_share);
	size_t big;
	share_run(f, "", &big);
	/* Closure 0.2 vs 0.6: volume follows performance 1:3. */
	assert_in_range(big, 99, 101);
	fx_free(f);
}

static const char *cfg_escalate =
	CFG_HEAD
	"router: {ring_timeout_ms: 5000}\n"
	"reps:\n"
	"  - {id: inhouse, territories: [de], skills: [printers]}\n"
	"partners:\n"
	"  - {id: p-munich, token: t, sip: 'sip:m@x', territories: [munich], skills: [printers], auto_ready: false}\n"
	"  - {id: p-south, token: u, sip: 'sip:s@x', territories: [south], skills: [printers], auto_ready: false}\n"
	"plans:\n"
	"  - name: p\n"
	"    steps:\n"
	"      - {targets: partners, territory: caller, timeout_ms: 40}\n"
	"      - {targets: partners, territory: parent, timeout_ms: 40}\n"
	"      - {targets: reps, territory: any, timeout_ms: 40}\n"
	"      - {action: callback, reason: 'call you back'}\n";

static void test_escalation_steps(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_escalate);
	/* Nobody logged in: the call walks every step and ends with a callback. */
	offer(f, "c1", "+49", "80331", "printers", 0);
	assert_int_equal(call_state(f, "c1"), RT_CALL_QUEUED);
	run_for(f, 70);
	struct rt_call_info ci;
	rt_call_info(f->rt, rt_call_find(f->rt, "c1"), &ci);
	assert_int_equal(ci.step, 1);
	run_for(f, 120);
	const struct rec *r = last(f, REC_REJECT);
	assert_non_null(r);
	assert_string_equal(r->call, "c1");
	assert_int_equal(r->reject, RT_REJECT_CALLBACK);
	assert_string_equal(r->reason, "call you back");
	/* Two escalations; the callback step ends the call. */
	assert_int_equal(f->ev_counts[RT_EV_CALL_ESCALATED], 2);
	assert_int_equal(f->ev_counts[RT_EV_CALL_ENDED], 1);
	assert_null(rt_call_find(f->rt, "c1"));
	fx_free(f);
}

static void test_escalation_cumulative(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_escalate);
	offer(f, "c1", "+49", "80331", "printers", 0);
	run_for(f, 100); /* now at step 2 (reps) */
	struct rt_call_info ci;
	rt_call_info(f->rt, rt_call_find(f->rt, "c1"), &ci);
	assert_int_equal(ci.step, 2);
	/* The step-0 partner still qualifies after escalation. */
	rt_target_login(f->rt, "p-munich", true, NULL);
	assert_string_equal(last(f, REC_ROUTE)->target, "p-munich");
	fx_free(f);
}

static void test_escalation_to_reps(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_escalate);
	rt_target_login(f->rt, "inhouse", true, NULL);
	offer(f, "c1", "+49", "80331", "printers", 0);
	/* The rep is ready from the start, but only step 2 may use it. */
	assert_null(last(f, REC_ROUTE));
	run_for(f, 60);
	assert_null(last(f, REC_ROUTE));
	run_for(f, 40);
	assert_non_null(last(f, REC_ROUTE));
	assert_string_equal(last(f, REC_ROUTE)->target, "inhouse");
	fx_free(f);
}

static void test_ring_timeout_and_misses(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic); /* ring 60 ms, 2 misses, no pause */
	rt_target_login(f->rt, "anna", true, NULL);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	offer(f, "c2", "+4930", NULL, "printers", 0);
	assert_string_equal(last(f, REC_ROUTE)->call, "c1");
	run_for(f, 90);
	/* c1 missed, re-queued ahead of c2 (older), offered again to anna. */
	assert_int_equal(count(f, REC_REVOKE, "anna"), 1);
	assert_string_equal(last(f, REC_ROUTE)->call, "c1");
	assert_int_equal(tinfo(f, "anna").misses, 1);
	run_for(f, 60);
	/* second miss: anna goes not-ready, c1 waits. */
	struct rt_target_info ti = tinfo(f, "anna");
	assert_int_equal(ti.state, RT_TARGET_NOT_READY);
	assert_string_equal(ti.reason, "no-answer");
	assert_int_equal(call_state(f, "c1"), RT_CALL_QUEUED);
	/* ben comes: c1 first (front of the queue). */
	rt_target_login(f->rt, "ben", true, NULL);
	assert_string_equal(last(f, REC_ROUTE)->call, "c1");
	assert_string_equal(last(f, REC_ROUTE)->target, "ben");
	fx_free(f);
}

static void test_no_answer_from_pbx(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	rt_target_login(f->rt, "anna", true, NULL);
	rt_target_login(f->rt, "ben", true, NULL);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "anna");
	assert_int_equal(rt_call_no_answer(f->rt, "c1", "anna", f), 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "ben");
	assert_int_equal(tinfo(f, "anna").misses, 1);
	fx_free(f);
}

static const char *cfg_accept =
	CFG_HEAD
	"router: {miss_pause_ms: 1000}\n"
	"reps:\n"
	"  - {id: anna, territories: [de], skills: [printers], needs_accept: true}\n"
	"  - {id: ben, territories: [de], skills: [printers], needs_accept: true}\n"
	"plans: [{name: p, steps: [{targets: reps}]}]\n";

static void test_offer_accept_decline(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_accept);
	rt_target_login(f->rt, "anna", true, (void *)0x1);
	rt_target_login(f->rt, "ben", true, (void *)0x2);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	const struct rec *o = last(f, REC_OFFER);
	assert_string_equal(o->target, "anna");
	assert_true(o->needs_accept);
	assert_null(last(f, REC_ROUTE));
	uint64_t resv = o->resv;
	/* The PBX cannot answer a call it was not told to route. */
	assert_int_equal(rt_call_answered(f->rt, "c1", NULL, f), -RT_ESTATE);
	/* Another target cannot touch anna's reservation. */
	assert_int_equal(rt_offer_accept(f->rt, "c1", resv, "ben"), -RT_EFORBIDDEN);
	assert_int_equal(rt_offer_accept(f->rt, "c1", resv + 7, "anna"), -RT_ESTATE);
	assert_int_equal(rt_offer_decline(f->rt, "c1", resv, "anna", "busy"), 0);
	o = last(f, REC_OFFER);
	assert_string_equal(o->target, "ben");
	assert_int_equal(rt_offer_accept(f->rt, "c1", o->resv, "ben"), 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "ben");
	assert_int_equal(rt_call_answered(f->rt, "c1", "ben", f), 0);
	/* A decline is not a miss but anna rests before the next offer. */
	assert_int_equal(tinfo(f, "anna").misses, 0);
	offer(f, "c2", "+4930", NULL, "printers", 0);
	assert_int_equal(call_state(f, "c2"), RT_CALL_QUEUED);
	fx_free(f);
}

static const char *cfg_seats =
	CFG_HEAD
	"partners:\n"
	"  - {id: p, token: t, sip: 'sip:p@x', territories: [de], skills: [printers], seats: 2, wrapup_ms: 40}\n"
	"plans: [{name: p, steps: [{targets: partners}]}]\n";

static void test_capacity_and_wrapup(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_seats);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	offer(f, "c2", "+4930", NULL, "printers", 0);
	offer(f, "c3", "+4930", NULL, "printers", 0);
	assert_int_equal(count(f, REC_ROUTE, "p"), 2);
	assert_int_equal(call_state(f, "c3"), RT_CALL_QUEUED);
	assert_int_equal(tinfo(f, "p").active, 2);
	finish(f, "c1");
	/* The seat is in wrap-up for 40 ms: c3 still waits. */
	assert_int_equal(call_state(f, "c3"), RT_CALL_QUEUED);
	assert_int_equal(tinfo(f, "p").active, 2);
	run_for(f, 70);
	assert_int_equal(call_state(f, "c3"), RT_CALL_RESERVED);
	assert_int_equal(f->ev_counts[RT_EV_CALL_WRAPUP_DONE], 1);
	fx_free(f);
}

static const char *cfg_wrap_rep =
	CFG_HEAD
	"reps: [{id: anna, territories: [de], skills: [printers], wrapup_ms: 10000}]\n"
	"plans: [{name: p, steps: [{targets: reps}]}]\n";

static void test_wrapup_ready_early(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_wrap_rep);
	rt_target_login(f->rt, "anna", true, NULL);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	finish(f, "c1");
	assert_int_equal(tinfo(f, "anna").state, RT_TARGET_WRAP_UP);
	offer(f, "c2", "+4930", NULL, "printers", 0);
	assert_int_equal(call_state(f, "c2"), RT_CALL_QUEUED);
	assert_int_equal(rt_target_set_ready(f->rt, "anna", true, NULL), 0);
	assert_int_equal(call_state(f, "c2"), RT_CALL_RESERVED);
	fx_free(f);
}

static void test_abandon(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	offer(f, "c2", "+4930", NULL, "printers", 0);
	assert_int_equal(rt_call_abandoned(f->rt, "c1", f), 0);
	assert_int_equal(call_state(f, "c1"), RT_CALL_ENDED);
	rt_target_login(f->rt, "anna", true, NULL);
	assert_string_equal(last(f, REC_ROUTE)->call, "c2");
	/* Abandoned while ringing: the target is freed, not penalised. */
	assert_int_equal(rt_call_abandoned(f->rt, "c2", f), 0);
	assert_string_equal(last(f, REC_REVOKE)->reason, "abandoned");
	assert_true(tinfo(f, "anna").available);
	assert_int_equal(tinfo(f, "anna").misses, 0);
	struct rt_stats st;
	rt_stats(f->rt, &st);
	assert_int_equal(st.abandoned, 2);
	assert_int_equal(st.waiting_calls, 0);
	assert_int_equal(st.live_calls, 0);
	fx_free(f);
}

static void test_bad_input(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	rt_target_login(f->rt, "anna", true, NULL);
	assert_int_equal(offer(f, "c1", "+4930", NULL, "teleporters", 0), -RT_EINVAL);
	assert_int_equal(offer(f, "", "+4930", NULL, "printers", 0), -RT_EINVAL);
	char longid[300];
	memset(longid, 'x', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	assert_int_equal(offer(f, longid, "+4930", NULL, "printers", 0), -RT_EINVAL);
	assert_int_equal(offer(f, "bad\nid", "+4930", NULL, "printers", 0), -RT_EINVAL);
	assert_int_equal(f->n_events, 1); /* only anna's login */
	assert_true(tinfo(f, "anna").available);

	assert_int_equal(offer(f, "c1", "+4930", NULL, "printers", 0), 0);
	size_t n = f->n;
	assert_int_equal(offer(f, "c1", "+4930", NULL, "printers", 0), -RT_EEXIST);
	assert_int_equal(rt_call_ended(f->rt, "c1", f), -RT_ESTATE);
	assert_int_equal(call_state(f, "c1"), RT_CALL_RESERVED);
	assert_int_equal(rt_call_answered(f->rt, "nope", NULL, f), -RT_ENOCALL);
	assert_int_equal(rt_call_answered(f->rt, "c1", "ben", f), -RT_EINVAL);
	assert_int_equal(rt_call_answered(f->rt, "c1", NULL, (void *)0x77), -RT_EFORBIDDEN);
	assert_int_equal(rt_target_login(f->rt, "nobody", true, NULL), -RT_ENOTARGET);
	assert_int_equal(rt_target_set_ready(f->rt, "ben", true, NULL), -RT_ESTATE);
	assert_int_equal(f->n, n); /* nothing was told to anyone */
	assert_int_equal(call_state(f, "c1"), RT_CALL_RESERVED);
	assert_int_equal(rt_call_answered(f->rt, "c1", NULL, f), 0);
	assert_int_equal(rt_call_answered(f->rt, "c1", NULL, f), -RT_ESTATE);
	assert_int_equal(rt_call_abandoned(f->rt, "c1", f), -RT_ESTATE);
	assert_int_equal(call_state(f, "c1"), RT_CALL_CONNECTED);
	fx_free(f);
}

static const char *cfg_limits =
	CFG_HEAD
	"limits: {max_calls: 3, max_queue: 2}\n"
	"reps: [{id: anna, territories: [north], skills: [printers]}]\n"
	"plans:\n"
	"  - {name: north, match: {territory: [north]}, steps: [{targets: reps}]}\n"
	"  - {name: cb, match: {segment: [late]}, steps: [{action: callback}]}\n";

static void test_limits_and_rejects(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_limits);
	/* No plan for south callers. */
	offer(f, "s1", "+4989", NULL, "printers", 0);
	assert_int_equal(last(f, REC_REJECT)->reject, RT_REJECT_NO_ROUTE);
	offer(f, "n1", "+4940", NULL, "printers", 0);
	offer(f, "n2", "+4940", NULL, "printers", 0);
	offer(f, "n3", "+4940", NULL, "printers", 0);
	assert_int_equal(last(f, REC_REJECT)->reject, RT_REJECT_QUEUE_FULL);
	assert_string_equal(last(f, REC_REJECT)->call, "n3");
	/* No member has scanners: nobody could ever serve it. */
	offer(f, "n4", "+4940", NULL, "scanners", 0);
	assert_int_equal(last(f, REC_REJECT)->reject, RT_REJECT_NO_ROUTE);
	const char *sk[1] = {"printers"};
	struct rt_call_req req = {.id = "l1", .caller = "+4930", .segment = "late", .skills = sk,
				  .n_skills = 1};
	rt_call_offer(f->rt, &req, f, 1);
	assert_int_equal(last(f, REC_REJECT)->reject, RT_REJECT_CALLBACK);
	/* Neither fits: n5 has no plan, n6 finds the queue full. */
	offer(f, "n5", "+4930", NULL, "printers", 0);
	assert_int_equal(offer(f, "n6", "+4940", NULL, "printers", 0), 0);
	struct rt_stats st;
	rt_stats(f->rt, &st);
	assert_int_equal(st.live_calls, 2);
	fx_free(f);
}

static void test_max_calls(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	rt_target_login(f->rt, "anna", true, NULL);
	char id[32];
	uint32_t max = f->cfg->max_calls;
	f->cfg->max_calls = 2;
	offer(f, "a", "+4930", NULL, "printers", 0);
	offer(f, "b", "+4930", NULL, "printers", 0);
	snprintf(id, sizeof id, "c");
	assert_int_equal(offer(f, id, "+4930", NULL, "printers", 0), -RT_ELIMIT);
	f->cfg->max_calls = max;
	fx_free(f);
}

static void test_owner_and_session_gone(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	void *sess = (void *)0x5;
	rt_target_login(f->rt, "anna", true, sess);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	offer(f, "c2", "+4930", NULL, "printers", 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "anna");
	/* anna's desktop goes away: logged out, c1 goes back to the queue. */
	rt_session_gone(f->rt, sess);
	assert_int_equal(tinfo(f, "anna").state, RT_TARGET_LOGGED_OUT);
	assert_int_equal(call_state(f, "c1"), RT_CALL_QUEUED);
	/* The PBX goes away: both calls end as owner-lost. */
	rt_owner_gone(f->rt, f);
	struct rt_stats st;
	rt_stats(f->rt, &st);
	assert_int_equal(st.owner_lost, 2);
	assert_int_equal(st.live_calls, 0);
	assert_int_equal(st.waiting_calls, 0);
	fx_free(f);
}

struct qv {
	int n;
	struct rt_queue_info last;
	char oldest[16];
	char name[128];
};

static int qv_fn(void *arg, const struct rt_queue_info *q)
{
	struct qv *v = arg;
	v->n++;
	v->last = *q;
	snprintf(v->name, sizeof v->name, "%s", q->name);
	snprintf(v->oldest, sizeof v->oldest, "%s", q->oldest_call ? q->oldest_call : "");
	return 0;
}

static void test_reject_waiting(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	rt_target_login(f->rt, "anna", true, NULL);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	offer(f, "c2", "+4930", NULL, "printers", 0);
	offer(f, "c3", "+4930", NULL, "printers", 0);
	assert_int_equal(rt_reject_waiting(f->rt, RT_REJECT_SHUTDOWN, "shutting down"), 2);
	assert_int_equal(last(f, REC_REJECT)->reject, RT_REJECT_SHUTDOWN);
	assert_int_equal(count(f, REC_REJECT, NULL), 2);
	/* The reserved call is left to finish. */
	assert_int_equal(call_state(f, "c1"), RT_CALL_RESERVED);
	struct rt_stats st;
	rt_stats(f->rt, &st);
	assert_int_equal(st.waiting_calls, 0);
	assert_int_equal(st.rejected, 2);
	fx_free(f);
}

static void test_needs_accept_requires_session(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_accept);
	/* anna logs in without a session: nobody could accept her offers. */
	rt_target_login(f->rt, "anna", true, NULL);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	assert_int_equal(call_state(f, "c1"), RT_CALL_QUEUED);
	assert_null(last(f, REC_OFFER));
	rt_target_login(f->rt, "ben", true, (void *)0x2);
	assert_string_equal(last(f, REC_OFFER)->target, "ben");
	fx_free(f);
}

static const char *cfg_reload =
	CFG_HEAD
	"router: {miss_pause_ms: 0}\n"
	"reps:\n"
	"  - {id: anna, territories: [de], skills: {printers: 5, lang-de: 5}}\n"
	"  - {id: cara, territories: [de], skills: [printers]}\n"
	"plans:\n"
	"  - name: all\n"
	"    steps:\n"
	"      - {targets: reps, territory: caller, strategy: longest-idle}\n";

static void test_adopt_on_reload(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic); /* anna, ben */
	rt_target_login(f->rt, "anna", true, (void *)0x1);
	rt_target_login(f->rt, "ben", true, (void *)0x2);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	offer(f, "c2", "+4930", NULL, "printers", 0);
	assert_int_equal(rt_call_answered(f->rt, "c1", NULL, f), 0);
	rt_target_set_ready(f->rt, "anna", false, "break");
	/* c2 rings at ben, c3 waits. */
	offer(f, "c3", "+4930", NULL, "printers", 7);
	assert_int_equal(call_state(f, "c3"), RT_CALL_QUEUED);
	struct rt_call_info ci;
	rt_call_info(f->rt, rt_call_find(f->rt, "c1"), &ci);
	assert_string_equal(ci.target_id, "anna");

	/* New configuration: ben is gone, cara is new (logged out). */
	char err[256];
	struct cl_config *cfg2 = NULL;
	assert_int_equal(cl_config_load_string(cfg_reload, "new.yaml", &cfg2, err, sizeof err), 0);
	struct terr_index *ti2 = terr_index_new(cfg2);
	struct rt *rt2 = rt_new(f->base, cfg2, ti2, &hooks, f);
	/* Hooks fired by the adoption read f->rt: swap first, as the engine does. */
	struct rt *old_rt = f->rt;
	struct terr_index *old_ti = f->ti;
	struct cl_config *old_cfg = f->cfg;
	f->rt = rt2;
	f->ti = ti2;
	f->cfg = cfg2;
	assert_int_equal(rt_adopt(rt2, old_rt), 3);
	rt_free(old_rt);
	terr_index_free(old_ti);
	cl_config_free(old_cfg);

	/* anna keeps her call and her state; c2 lost ben and waits with c3. */
	rt_call_info(f->rt, rt_call_find(f->rt, "c1"), &ci);
	assert_int_equal(ci.state, RT_CALL_CONNECTED);
	assert_string_equal(ci.target_id, "anna");
	struct rt_target_info ti = tinfo(f, "anna");
	assert_int_equal(ti.state, RT_TARGET_NOT_READY);
	assert_string_equal(ti.reason, "break");
	assert_ptr_equal(ti.session, (void *)0x1);
	assert_int_equal(call_state(f, "c2"), RT_CALL_QUEUED);
	assert_int_equal(call_state(f, "c3"), RT_CALL_QUEUED);
	/* Priority still counts: cara takes c3 first. */
	rt_target_login(f->rt, "cara", true, NULL);
	assert_string_equal(last(f, REC_ROUTE)->call, "c3");
	assert_string_equal(last(f, REC_ROUTE)->target, "cara");
	/* The carried call ends normally and frees anna's seat. */
	assert_int_equal(rt_call_ended(f->rt, "c1", f), 0);
	assert_int_equal(tinfo(f, "anna").active, 0);
	struct rt_stats st;
	rt_stats(f->rt, &st);
	assert_int_equal(st.offered, 3); /* counters carried, not re-counted */
	assert_int_equal(st.completed, 1);
	fx_free(f);
}

/* The per-call user pointer: NULL at the offer, as set afterwards, untouched
 * by the router's own changes, reported by rt_call_info; adopted calls start
 * without it. */
static void test_call_user_pointer(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	int a, b;
	struct rt_call_info ci;

	rt_target_login(f->rt, "anna", true, NULL);
	assert_int_equal(offer(f, "u1", "+4930", NULL, "printers", 0), 0);
	assert_int_equal(offer(f, "u2", "+4930", NULL, "printers", 0), 0); /* waits */
	struct rt_call *c1 = rt_call_find(f->rt, "u1"), *c2 = rt_call_find(f->rt, "u2");
	rt_call_info(f->rt, c1, &ci);
	assert_null(ci.user);
	assert_null(rt_call_user(c1));
	rt_call_set_user(f->rt, c1, &a);
	rt_call_set_user(f->rt, c2, &b);
	assert_ptr_equal(rt_call_user(c1), &a);
	assert_ptr_equal(rt_call_user(c2), &b);
	/* State changes keep it. */
	assert_int_equal(rt_call_answered(f->rt, "u1", NULL, f), 0);
	rt_call_info(f->rt, c1, &ci);
	assert_ptr_equal(ci.user, &a);
	assert_int_equal(ci.state, RT_CALL_CONNECTED);
	rt_call_set_user(f->rt, c1, NULL);
	assert_null(rt_call_user(c1));
	rt_call_set_user(f->rt, c1, &a);

	/* A reload carries the calls, not the pointers. */
	struct rt *rt2 = rt_new(f->base, f->cfg, f->ti, &hooks, f);
	struct rt *old_rt = f->rt;
	assert_non_null(rt2);
	f->rt = rt2;
	assert_int_equal(rt_adopt(rt2, old_rt), 2);
	rt_free(old_rt);
	assert_null(rt_call_user(rt_call_find(f->rt, "u1")));
	assert_null(rt_call_user(rt_call_find(f->rt, "u2")));
	fx_free(f);
}

static int offer_pref(struct fx *f, const char *id, const char *pref, uint32_t pref_ms)
{
	const char *skills[1] = {"printers"};
	struct rt_call_req req = {.id = id, .caller = "+4930", .skills = skills, .n_skills = 1,
				  .preferred_target = pref, .preferred_ms = pref_ms};
	return rt_call_offer(f->rt, &req, f, 1);
}

static void test_preferred_target(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	rt_target_login(f->rt, "anna", true, NULL);
	rt_target_login(f->rt, "ben", true, NULL);
	/* anna is idle longest, but the follow-up goes back to ben. */
	assert_int_equal(offer_pref(f, "f1", "ben", 1000), 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "ben");
	struct rt_call_info ci;
	rt_call_info(f->rt, rt_call_find(f->rt, "f1"), &ci);
	assert_string_equal(ci.preferred_target, "ben");
	/* ben busy: f2 waits for him although anna is free... */
	assert_int_equal(offer_pref(f, "f2", "ben", 60), 0);
	assert_int_equal(call_state(f, "f2"), RT_CALL_QUEUED);
	assert_true(tinfo(f, "anna").available);
	/* ...and gets him when he frees up within the window. */
	finish(f, "f1");
	assert_string_equal(last(f, REC_ROUTE)->call, "f2");
	assert_string_equal(last(f, REC_ROUTE)->target, "ben");
	/* f3 waits for busy ben; after the window the plan gives it to anna. */
	assert_int_equal(rt_call_answered(f->rt, "f2", NULL, f), 0);
	assert_int_equal(offer_pref(f, "f3", "ben", 40), 0);
	assert_int_equal(call_state(f, "f3"), RT_CALL_QUEUED);
	run_for(f, 80);
	assert_string_equal(last(f, REC_ROUTE)->call, "f3");
	assert_string_equal(last(f, REC_ROUTE)->target, "anna");
	assert_int_equal(offer_pref(f, "f4", "nobody", 40), -RT_ENOTARGET);
	assert_null(rt_call_find(f->rt, "f4"));
	fx_free(f);
}

static void test_callback_keeps_place(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	offer(f, "c1", "+4930111", NULL, "printers", 0);
	offer(f, "c2", "+4930222", NULL, "printers", 0);
	assert_int_equal(rt_call_callback(f->rt, "c1", "+4930999", f), 0);
	assert_int_equal(rt_call_callback(f->rt, "c1", NULL, f), -RT_ESTATE);
	assert_int_equal(rt_call_callback(f->rt, "c1", "+49\n1", f), -RT_EINVAL);
	assert_int_equal(f->ev_counts[RT_EV_CALL_CALLBACK], 1);
	rt_target_login(f->rt, "anna", true, NULL);
	assert_string_equal(last(f, REC_ROUTE)->call, "c1"); /* kept its place */
	struct rt_call_info ci;
	rt_call_info(f->rt, rt_call_find(f->rt, "c1"), &ci);
	assert_true(ci.callback);
	assert_string_equal(ci.callback_number, "+4930999");
	/* Only a waiting call can ask. */
	assert_int_equal(rt_call_callback(f->rt, "c1", NULL, f), -RT_ESTATE);
	fx_free(f);
}

static void test_performance_update(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_share);
	/* Measured closure: big 0.6, small 0.2, small also breached (x0.5):
	 * weights 0.6 : 0.1, big gets 6 of every 7. */
	assert_int_equal(rt_target_set_performance(f->rt, "big", 0.6, 1.0), 0);
	assert_int_equal(rt_target_set_performance(f->rt, "small", 0.2, 0.5), 0);
	assert_int_equal(rt_target_set_performance(f->rt, "small", 1.5, 1.0), -RT_EINVAL);
	assert_int_equal(rt_target_set_performance(f->rt, "small", 0.5, 0.0), -RT_EINVAL);
	assert_int_equal(rt_target_set_performance(f->rt, "nobody", 0.5, 1.0), -RT_ENOTARGET);
	size_t big;
	share_run(f, "", &big);
	assert_in_range(big, 341, 345); /* 400 x 6/7 = 342.9 */
	fx_free(f);
}

static const char *cfg_mixed_accept =
	CFG_HEAD
	"router: {miss_pause_ms: 1000}\n"
	"reps:\n"
	"  - {id: plain, territories: [de], skills: [printers]}\n"
	"  - {id: desk, territories: [de], skills: [printers], needs_accept: true}\n"
	"plans: [{name: p, steps: [{targets: reps, strategy: top-down}]}]\n";

/* A call that rang out at a plain target and is then accepted at a target
 * that needs an accept must reach the PBX again (a new RouteCall). */
static void test_accept_after_no_answer(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_mixed_accept);
	rt_target_login(f->rt, "plain", true, NULL);
	rt_target_login(f->rt, "desk", true, (void *)0x9);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	assert_string_equal(last(f, REC_ROUTE)->target, "plain");
	assert_int_equal(rt_call_no_answer(f->rt, "c1", "plain", f), 0);
	const struct rec *o = last(f, REC_OFFER);
	assert_string_equal(o->target, "desk");
	assert_true(o->needs_accept);
	assert_int_equal(count(f, REC_ROUTE, NULL), 1);
	/* Not yet accepted: the PBX may not answer it. */
	assert_int_equal(rt_call_answered(f->rt, "c1", NULL, f), -RT_ESTATE);
	assert_int_equal(rt_offer_accept(f->rt, "c1", o->resv, "desk"), 0);
	assert_int_equal(count(f, REC_ROUTE, NULL), 2);
	assert_string_equal(last(f, REC_ROUTE)->target, "desk");
	assert_int_equal(rt_call_answered(f->rt, "c1", "desk", f), 0);
	struct rt_stats st;
	rt_stats(f->rt, &st);
	assert_int_equal(st.routed, 1); /* one call routed, twice */
	fx_free(f);
}

static void test_queue_views(void **state)
{
	(void)state;
	struct fx *f = fx_new(cfg_basic);
	offer(f, "c1", "+4930", NULL, "printers", 0);
	offer(f, "c2", "+4930", NULL, "printers", 9);
	struct qv v = {0};
	rt_foreach_queue(f->rt, qv_fn, &v);
	assert_int_equal(v.n, 1);
	assert_string_equal(v.name, "de/reps/printers/longest-idle");
	assert_string_equal(v.last.territory, "de");
	assert_int_equal(v.last.waiting, 2);
	assert_int_equal(v.last.members, 2);
	assert_int_equal(v.last.available, 0);
	/* c2 is served first (priority) but c1 has waited longest. */
	assert_string_equal(v.oldest, "c1");
	rt_target_login(f->rt, "anna", true, NULL);
	assert_string_equal(last(f, REC_ROUTE)->call, "c2");
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_and_lifecycle),
		cmocka_unit_test(test_calendar_plans),
		cmocka_unit_test(test_calendar_targets),
		cmocka_unit_test(test_skill_filter),
		cmocka_unit_test(test_queue_then_login),
		cmocka_unit_test(test_priority_then_age),
		cmocka_unit_test(test_territory),
		cmocka_unit_test(test_strategy_longest_idle),
		cmocka_unit_test(test_strategy_top_down),
		cmocka_unit_test(test_strategy_round_robin),
		cmocka_unit_test(test_strategy_fewest_calls),
		cmocka_unit_test(test_strategy_proficiency_first),
		cmocka_unit_test(test_strategy_random),
		cmocka_unit_test(test_strategy_weighted_share),
		cmocka_unit_test(test_strategy_performance_weighted),
		cmocka_unit_test(test_escalation_steps),
		cmocka_unit_test(test_escalation_cumulative),
		cmocka_unit_test(test_escalation_to_reps),
		cmocka_unit_test(test_ring_timeout_and_misses),
		cmocka_unit_test(test_no_answer_from_pbx),
		cmocka_unit_test(test_offer_accept_decline),
		cmocka_unit_test(test_capacity_and_wrapup),
		cmocka_unit_test(test_wrapup_ready_early),
		cmocka_unit_test(test_abandon),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_limits_and_rejects),
		cmocka_unit_test(test_max_calls),
		cmocka_unit_test(test_owner_and_session_gone),
		cmocka_unit_test(test_reject_waiting),
		cmocka_unit_test(test_needs_accept_requires_session),
		cmocka_unit_test(test_adopt_on_reload),
		cmocka_unit_test(test_call_user_pointer),
		cmocka_unit_test(test_preferred_target),
		cmocka_unit_test(test_callback_keeps_place),
		cmocka_unit_test(test_performance_update),
		cmocka_unit_test(test_accept_after_no_answer),
		cmocka_unit_test(test_queue_views),
	};
	return cmocka_run_group_tests_name("rt", tests, NULL, NULL);
}
