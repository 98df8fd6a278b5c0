/*
 * test_sim_scn.c — scenario loading, checking against the engine config,
 * behaviour resolution, time scaling and the arrival-rate profile. Also
 * keeps the shipped example (deploy/scenario.yaml for deploy/closeloop.yaml)
 * valid.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "sim_scn.h"

#ifndef CL_SOURCE_DIR
#error "CL_SOURCE_DIR must name the source tree"
#endif

static const char *const engine_yaml =
	"auth: {pbx: tp, agent: ta}\n"
	"redis: {enabled: false}\n"
	"skills: [printers, scanners, lang-de]\n"
	"territories:\n"
	"  - {name: de, phone: [\"+49\"]}\n"
	"  - {name: de-south, parent: de, postal: [\"8\", \"9\"], phone: [\"+498\", \"+499\"]}\n"
	"  - {name: nowhere}\n"
	"reps:\n"
	"  - {id: r1, territories: [de], skills: [printers]}\n"
	"  - {id: r2, territories: [de], skills: [scanners]}\n"
	"partners:\n"
	"  - {id: p1, token: tk, sip: \"sip:p@x\", territories: [de-south], closure_rate: 0.4}\n"
	"plans:\n"
	"  - name: all\n"
	"    steps:\n"
	"      - {targets: any, territory: caller, strategy: longest-idle}\n";

struct fx {
	struct cl_config *cfg;
	struct sim_scn *scn;
	char err[512];
};

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof f);
	if (cl_config_load_string(engine_yaml, "engine.yaml", &f.cfg, f.err, sizeof f.err) < 0) {
		print_error("engine config: %s\n", f.err);
		return -1;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sim_scn_free(f->scn);
	cl_config_free(f->cfg);
	return 0;
}

static const char *const full =
	"name: test\n"
	"seed: 9\n"
	"arrivals:\n"
	"  profile: {hour_ms: 1000, calls_per_hour: [3600, 0, 7200]}\n"
	"duration_ms: 3000\n"
	"calls: 500\n"
	"warmup_ms: 100\n"
	"grace_ms: 2000\n"
	"sl_threshold_ms: 250\n"
	"pbx_connections: 3\n"
	"callers:\n"
	"  patience: {dist: exponential, mean_ms: 900}\n"
	"  origins:\n"
	"    - {name: south, weight: 3, caller_prefix: \"+4989\", postal: [\"80\"], postal_len: 5}\n"
	"    - {name: north, caller_prefix: \"+4930\", caller_digits: 11}\n"
	"queues:\n"
	"  - {name: printers, weight: 2, skills: [printers], language: de, segment: soho,\n"
	"     dialed: \"+49800\", priority: 7, origins: [north]}\n"
	"  - {name: scanners, skills: [scanners]}\n"
	"targets:\n"
	"  default: {ring_ms: 100, no_answer: 0.1, handle: {dist: fixed, mean_ms: 500}}\n"
	"  partners: {ring_ms: 300}\n"
	"  by_id:\n"
	"    r2: {handle: {dist: exponential, mean_ms: 800}, closure_rate: 0.9}\n";

static void test_load_full(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sim_scn_load_string(full, "s.yaml", &f->scn, f->err, sizeof f->err), 0);
	struct sim_scn *s = f->scn;
	assert_string_equal(s->name, "test");
	assert_int_equal(s->seed, 9);
	assert_int_equal(s->n_profile, 3);
	assert_true(s->rate_per_s == 0);
	assert_true(s->duration_ms == 3000 && s->calls == 500 && s->warmup_ms == 100);
	assert_int_equal(s->pbx, 3);
	assert_int_equal(s->patience.dist, SIM_DIST_EXP);
	assert_int_equal(s->n_origins, 2);
	assert_int_equal(s->origins[1].caller_digits, 11);
	assert_int_equal(s->n_queues, 2);
	assert_int_equal(s->queues[0].priority, 7);
	assert_string_equal(s->queues[0].segment, "soho");

	assert_int_equal(sim_scn_bind(s, f->cfg, f->err, sizeof f->err), 0);
	assert_int_equal(s->queues[0].n_origins, 1);
	assert_int_equal(s->queues[0].origins[0], 1); /* north */

	struct sim_beh b;
	sim_scn_behaviour(s, "r1", CFG_KIND_REP, 0.5, &b);
	assert_true(b.ring_ms == 100 && b.no_answer == 0.1);
	assert_int_equal(b.handle.dist, SIM_DIST_FIXED);
	assert_true(b.closure_rate == 0.5); /* from the engine config */
	sim_scn_behaviour(s, "r2", CFG_KIND_REP, 0.5, &b);
	assert_int_equal(b.handle.dist, SIM_DIST_EXP);
	assert_true(b.handle.mean_ms == 800 && b.closure_rate == 0.9);
	sim_scn_behaviour(s, "p1", CFG_KIND_PARTNER, 0.4, &b);
	assert_true(b.ring_ms == 300 && b.no_answer == 0.1 && b.closure_rate == 0.4);
}

static void test_profile_and_scale(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sim_scn_load_string(full, "s.yaml", &f->scn, f->err, sizeof f->err), 0);
	struct sim_scn *s = f->scn;
	double until;
	/* 3600 calls per 1000 ms "hour": 3.6 per ms. */
	assert_true(fabs(sim_scn_rate_at(s, 500, &until) - 3.6) < 1e-12);
	assert_true(until == 1000);
	assert_true(sim_scn_rate_at(s, 1500, &until) == 0 && until == 2000);
	assert_true(fabs(sim_scn_rate_at(s, 2999, &until) - 7.2) < 1e-12);
	assert_true(sim_scn_rate_at(s, 3000, &until) == 0 && isinf(until));

	sim_scn_scale(s, 10);
	assert_true(s->duration_ms == 300 && s->warmup_ms == 10 && s->sl_threshold_ms == 25);
	assert_true(fabs(s->patience.mean_ms - 90) < 1e-12);
	assert_true(fabs(sim_scn_rate_at(s, 50, &until) - 36) < 1e-9); /* 10× the rate */
	assert_true(until == 100);
	struct sim_beh b;
	sim_scn_behaviour(s, "r2", CFG_KIND_REP, 0.5, &b);
	assert_true(fabs(b.handle.mean_ms - 80) < 1e-12 && fabs(b.ring_ms - 10) < 1e-12);
}

static void test_defaults_from_config(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sim_scn_load_string("duration_ms: 1000\n", "d.yaml", &f->scn, f->err,
					     sizeof f->err),
			 0);
	struct sim_scn *s = f->scn;
	assert_true(s->rate_per_s == 5 && s->patience.dist == SIM_DIST_NONE);
	assert_int_equal(sim_scn_bind(s, f->cfg, f->err, sizeof f->err), 0);
	/* One origin per territory with a phone prefix; "nowhere" has none. */
	assert_int_equal(s->n_origins, 2);
	assert_string_equal(s->origins[0].caller_prefix, "+49");
	assert_string_equal(s->origins[1].name, "de-south");
	assert_int_equal(s->origins[1].n_postal, 2);
	assert_int_equal(s->n_queues, 1);
	assert_string_equal(s->queues[0].name, "default");
	assert_int_equal(s->queues[0].n_skills, 0);
}

/* The sales block: defaults (on unless the mode says otherwise), values,
 * and its delay scaled with the rest. */
static void test_sales(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sim_scn_load_string("duration_ms: 1000\n", "d.yaml", &f->scn, f->err,
					     sizeof f->err),
			 0);
	const struct sim_sales_beh *d = &f->scn->sales;
	assert_int_equal(d->enabled, -1);
	assert_true(d->order_mean_minor == 25000 && d->amount_step_minor == 100);
	assert_true(d->lead_rate == 0.3 && d->cancel_rate == 0.05 && d->status_ms == 2000);
	sim_scn_free(f->scn);
	f->scn = NULL;
	assert_int_equal(sim_scn_load_string("duration_ms: 1000\n"
					     "sales: {enabled: false, order_mean_minor: 9000,\n"
					     "        amount_step_minor: 250, lead_rate: 1,\n"
					     "        consent_rate: 0, cancel_rate: 0.5, status_ms: 800}\n",
					     "s.yaml", &f->scn, f->err, sizeof f->err),
			 0);
	const struct sim_sales_beh *b = &f->scn->sales;
	assert_int_equal(b->enabled, 0);
	assert_true(b->order_mean_minor == 9000 && b->amount_step_minor == 250);
	assert_true(b->lead_rate == 1 && b->consent_rate == 0 && b->cancel_rate == 0.5);
	sim_scn_scale(f->scn, 4);
	assert_true(b->status_ms == 200);
	assert_true(b->order_mean_minor == 9000); /* money is not time */
}

/* Each bad scenario is refused with the line and the reason. */
static void test_errors(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *yaml, *want;
	} bad[] = {
		{"duration_ms: 10\nfoo: 1\n", "s.yaml:2: unknown key 'foo'"},
		{"duration_ms: -5\n", "s.yaml:1: duration_ms must be in [0, 1e+12], not -5"},
		{"duration_ms: ten\n", "s.yaml:1: duration_ms: 'ten' is not a number"},
		{"duration_ms: 0\n", "give calls or duration_ms"},
		{"duration_ms: 9\narrivals: {rate_per_s: 1, profile: {hour_ms: 1, calls_per_hour: [1]}}\n",
		 "s.yaml:2: arrivals: give exactly one of rate_per_s and profile"},
		{"duration_ms: 9\ntargets:\n  default: {no_answer: 1.5}\n",
		 "s.yaml:3: no_answer must be in [0, 1], not 1.5"},
		{"duration_ms: 9\ncallers:\n  origins:\n    - {name: x, caller_prefix: \"4989\"}\n",
		 "s.yaml:4: caller_prefix must be '+' and up to 15 digits"},
		{"duration_ms: 9\ncallers: {patience: {dist: fixed}}\n",
		 "s.yaml:2: patience: mean_ms is required"},
		{"duration_ms: 9\nqueues: {name: x}\n", "s.yaml:2: queues must be a list"},
		{"duration_ms: 9\npbx_connections: 65\n", "pbx_connections must be in [1, 64]"},
		{"duration_ms: 9\n---\nduration_ms: 8\n", "more than one YAML document"},
		{"duration_ms: [9\n", "s.yaml:"},
		{"duration_ms: 9\nsales: {enabled: yes}\n", "s.yaml:2: enabled must be true or false"},
		{"duration_ms: 9\nsales: {lead_rate: 2}\n", "lead_rate must be in [0, 1], not 2"},
		{"duration_ms: 9\nsales: {amount_step_minor: 0}\n", "amount_step_minor must be in [1,"},
		{"duration_ms: 9\nsales:\n  order_mean: 5\n", "s.yaml:3: sales: unknown key 'order_mean'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sim_scn *s = NULL;
		f->err[0] = '\0';
		assert_int_equal(sim_scn_load_string(bad[i].yaml, "s.yaml", &s, f->err, sizeof f->err),
				 -1);
		assert_null(s);
		if (!strstr(f->err, bad[i].want))
			fail_msg("case %zu: got '%s', want '%s'", i, f->err, bad[i].want);
	}
}

static void test_bind_errors(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *yaml, *want;
	} bad[] = {
		{"duration_ms: 9\ntargets:\n  by_id:\n    ghost: {ring_ms: 1}\n",
		 "b.yaml:4: targets.by_id: 'ghost' is not a target of engine.yaml"},
		{"duration_ms: 9\nqueues:\n  - {name: q, skills: [faxes]}\n",
		 "b.yaml:3: queue q: skill 'faxes' is not in the engine config"},
		{"duration_ms: 9\nqueues:\n  - {name: q, origins: [mars]}\n",
		 "b.yaml:3: queue q: origin 'mars' is not defined"},
		{"duration_ms: 9\nqueues:\n  - {name: q}\n  - {name: q}\n",
		 "b.yaml:4: queue 'q' defined twice"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sim_scn *s = NULL;
		assert_int_equal(sim_scn_load_string(bad[i].yaml, "b.yaml", &s, f->err, sizeof f->err),
				 0);
		f->err[0] = '\0';
		int rc = sim_scn_bind(s, f->cfg, f->err, sizeof f->err);
		sim_scn_free(s);
		assert_int_equal(rc, -1);
		if (!strstr(f->err, bad[i].want))
			fail_msg("case %zu: got '%s', want '%s'", i, f->err, bad[i].want);
	}
}

static void test_shipped_example(void **state)
{
	(void)state;
	struct cl_config *cfg = NULL;
	struct sim_scn *s = NULL;
	char err[512];
	if (cl_config_load(CL_SOURCE_DIR "/deploy/closeloop.yaml", &cfg, err, sizeof err) < 0)
		fail_msg("%s", err);
	if (sim_scn_load(CL_SOURCE_DIR "/deploy/scenario.yaml", &s, err, sizeof err) < 0 ||
	    sim_scn_bind(s, cfg, err, sizeof err) < 0) {
		sim_scn_free(s);
		cl_config_free(cfg);
		fail_msg("%s", err);
	}
	assert_true(s->duration_ms > 0 && s->n_queues > 1 && s->n_origins > 1);
	sim_scn_free(s);
	cl_config_free(cfg);
	assert_int_equal(sim_scn_load("/nonexistent/scenario.yaml", &s, err, sizeof err), -1);
	assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_and_scale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_from_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sales, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_errors, setup, teardown),
		cmocka_unit_test(test_shipped_example),
	};
	return cmocka_run_group_tests_name("sim_scn", tests, NULL, NULL);
}
