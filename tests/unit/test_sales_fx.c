/*
 * test_sales_fx.c — the sales unit tests' fixture (test_sales_fx.h).
 */
#include "test_sales_fx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "terr.h"

static const char *const base_yaml =
	"auth: {pbx: t-pbx}\n"
	"router: {ring_timeout_ms: 60000, miss_pause_ms: 0, wrapup_ms: 0}\n"
	"redis: {enabled: false}\n"
	"skills: [s1, s2, s3, s4]\n"
	"territories:\n"
	"  - {name: de, phone: [\"+49\"]}\n"
	"  - {name: de-south, parent: de, phone: [\"+498\"]}\n"
	"  - {name: de-north, parent: de, phone: [\"+493\"]}\n"
	"default_territory: de\n"
	"reps:\n"
	"  - {id: rep-a, territories: [de], skills: [s1, s2], commission_pct: 5}\n"
	"  - {id: rep-b, territories: [de], skills: [s2]}\n"
	"  - {id: rep-c, territories: [de], skills: [s3]}\n"
	"partners:\n"
	"  - id: p-1\n"
	"    token: tok-p1\n"
	"    territories: [de-south]\n"
	"    skills: [s1]\n"
	"    seats: 3\n"
	"    sip: \"sip:p1@p.test\"\n"
	"    closure_rate: 0.4\n"
	"    contract: {min_closure: 0.5, max_abandon: 0.3, answer_ms: 10000,\n"
	"               min_satisfaction: 3, commission_pct: 10, lead_fee: 2.5}\n"
	"plans:\n"
	"  - name: sales\n"
	"    match: {skills: [s1]}\n"
	"    steps:\n"
	"      - {targets: partners, territory: caller, timeout_ms: 300}\n"
	"      - {targets: reps, territory: any}\n"
	"  - name: service\n"
	"    match: {skills: [s3]}\n"
	"    steps:\n"
	"      - {targets: reps, territory: any, timeout_ms: 100}\n"
	"      - {action: callback, reason: closed}\n"
	"  - name: closed\n"
	"    match: {skills: [s4]}\n"
	"    steps:\n"
	"      - {action: callback, reason: closed}\n"
	"  - name: default\n"
	"    steps:\n"
	"      - {targets: reps, territory: any}\n";

static uint64_t fake_now(void *arg) { return ((struct sfx *)arg)->now; }

static void h_event(void *arg, const struct rt_event *ev)
{
	struct sfx *f = arg;
	sales_event(f->s, ev);
}

static void h_offer(void *arg, const struct rt_call *c, const struct rt_target *t,
		    bool needs_accept, uint32_t timeout_ms)
{
	struct sfx *f = arg;
	struct sales_offer_info fi;
	(void)needs_accept;
	(void)timeout_ms;
	f->offers++;
	snprintf(f->last_offer_call, sizeof f->last_offer_call, "%s", rt_call_id(c));
	snprintf(f->last_offer_target, sizeof f->last_offer_target, "%s", rt_target_id(t));
	f->last_offer_followup = sales_offer_info(f->s, c, &fi);
}

static void h_route(void *arg, const struct rt_call *c)
{
	struct sfx *f = arg;
	struct rt_call_info ci;
	rt_call_info(f->rt, c, &ci);
	f->routes++;
	snprintf(f->last_route_call, sizeof f->last_route_call, "%s", ci.id);
	snprintf(f->last_route_target, sizeof f->last_route_target, "%s",
		 ci.target_id ? ci.target_id : "");
}

static void h_reject(void *arg, const struct rt_call *c, enum rt_reject why, const char *text)
{
	struct sfx *f = arg;
	(void)c;
	(void)why;
	(void)text;
	f->rejects++;
}

struct sfx *sfx_new(const char *sales_yaml)
{
	struct sfx *f = calloc(1, sizeof *f);
	char err[512];
	struct timeval tv;
	size_t len = strlen(base_yaml) + (sales_yaml ? strlen(sales_yaml) : 0) + 16;
	char *yaml = malloc(len);

	assert_non_null(f);
	assert_non_null(yaml);
	snprintf(yaml, len, "%s%s%s", base_yaml, sales_yaml ? "sales:\n" : "",
		 sales_yaml ? sales_yaml : "");
	if (cl_config_load_string(yaml, "sfx", &f->cfg, err, sizeof err) < 0)
		fail_msg("config: %s", err);
	free(yaml);
	gettimeofday(&tv, NULL);
	f->now = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
	f->pbx.kind = CL_OWNER_SESSION;
	struct rt_hooks hooks = {.route = h_route, .reject = h_reject, .offer = h_offer,
				 .event = h_event};
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->ti = terr_index_new(f->cfg));
	assert_non_null(f->rt = rt_new(f->base, f->cfg, f->ti, &hooks, f));
	assert_non_null(f->s = sales_new(NULL, f->cfg, f->rt));
	sales_set_clock(f->s, fake_now, f);
	return f;
}

void sfx_free(struct sfx *f)
{
	rt_free(f->rt);
	sales_free(f->s);
	terr_index_free(f->ti);
	cl_config_free(f->cfg);
	event_base_free(f->base);
	free(f);
}

void sfx_advance(struct sfx *f, uint64_t ms)
{
	f->now += ms;
	sales_tick(f->s);
}

void sfx_run(struct sfx *f, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

void sfx_login(struct sfx *f, const char *target)
{
	assert_int_equal(rt_target_login(f->rt, target, true, NULL), 0);
}

const char *sfx_call(struct sfx *f, const char *id, const char *caller, const char *skill)
{
	const char *skills[] = {skill};
	struct rt_call_req req = {.id = id, .caller = caller, .skills = skills, .n_skills = 1};
	static char target[128];

	assert_int_equal(rt_call_offer(f->rt, &req, &f->pbx, 1), 0);
	struct rt_call *c = rt_call_find(f->rt, id);
	struct rt_call_info ci;
	target[0] = '\0';
	if (c) {
		rt_call_info(f->rt, c, &ci);
		if (ci.state == RT_CALL_RESERVED && ci.target_id)
			snprintf(target, sizeof target, "%s", ci.target_id);
	}
	return target;
}

void sfx_answer(struct sfx *f, const char *id)
{
	assert_int_equal(rt_call_answered(f->rt, id, NULL, &f->pbx), 0);
}

void sfx_end(struct sfx *f, const char *id)
{
	assert_int_equal(rt_call_ended(f->rt, id, &f->pbx), 0);
}

void sfx_abandon(struct sfx *f, const char *id)
{
	assert_int_equal(rt_call_abandoned(f->rt, id, &f->pbx), 0);
}

void sfx_answered(struct sfx *f, const char *id, const char *caller, const char *skill,
		  const char *target)
{
	assert_string_equal(sfx_call(f, id, caller, skill), target);
	sfx_answer(f, id);
}

struct sales_kpi sfx_kpi(struct sfx *f, enum sales_dim dim, const char *name)
{
	struct sales_kpi_query q = {.dim = dim, .name = name, .to_ms = UINT64_MAX, .total = true};
	struct sales_kpi_row *rows = NULL;
	struct sales_kpi k;
	long n = sales_kpi_query(f->s, &q, &rows);

	memset(&k, 0, sizeof k);
	assert_true(n >= 0 && n <= 1);
	if (n == 1)
		k = rows[0].k;
	free(rows);
	return k;
}
