/*
 * test_cfg.c — the YAML configuration loader.
 *
 * - The example deploy/closeloop.yaml loads, with its names resolved to the
 *   right indexes (the path comes from CL_SOURCE_DIR, set by CMake).
 * - Defaults of every section, step and target kind.
 * - YAML 1.1 typing does not leak in: postal codes, dialed numbers, tokens and
 *   words like `no` stay strings.
 * - Every validation error: a table of bad configs, each with the text the
 *   error must contain. The expected line is marked in the YAML itself with
 *   "#<" so the test cannot drift from the text.
 * - A generated config of 20,000 targets and 1,000 territories loads (the time
 *   is printed, not asserted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cfg.h"

#ifndef CL_SOURCE_DIR
#error "CL_SOURCE_DIR must name the source tree"
#endif

#define EXAMPLE CL_SOURCE_DIR "/deploy/closeloop.yaml"
#define DATA CL_SOURCE_DIR "/tests/unit/data/"

/* A small valid config; cases below add to it or swap parts of it. */
#define AUTH "auth: {pbx: tok-pbx}\n"
#define SKILLS "skills: [printers, scanners, lang-de]\n"
#define TERRS                                                                  \
	"territories:\n"                                                       \
	"  - {name: de, phone: [\"+49\"]}\n"                                   \
	"  - {name: de-south, parent: de, postal: [\"8\"], phone: [\"+498\"]}\n"
#define PLANS                                                                  \
	"plans:\n"                                                             \
	"  - name: all\n"                                                      \
	"    steps:\n"                                                         \
	"      - {targets: any}\n"
#define BASE AUTH SKILLS TERRS PLANS

static struct cl_config *load_ok(const char *yaml)
{
	struct cl_config *cfg = NULL;
	char err[512] = "";
	int rc = cl_config_load_string(yaml, "t.yaml", &cfg, err, sizeof err);
	if (rc != 0)
		fail_msg("expected success, got: %s", err);
	assert_non_null(cfg);
	return cfg;
}

/* 1-based line holding the "#<" marker, or 0. */
static int marked_line(const char *yaml)
{
	const char *m = strstr(yaml, "#<");
	int line = 1;
	if (!m)
		return 0;
	for (const char *p = yaml; p < m; p++)
		line += *p == '\n';
	return line;
}

/*
 * Load must fail with "t.yaml:<marked line>: ..." containing frag. Returns
 * true when it did; otherwise prints why (so one run lists every bad case).
 */
static bool check_err(const char *yaml, const char *frag)
{
	struct cl_config *cfg = (struct cl_config *)0x1;
	char err[512] = "", prefix[32];
	int rc = cl_config_load_string(yaml, "t.yaml", &cfg, err, sizeof err);
	if (rc != -1) {
		print_error("expected an error containing '%s', but it loaded:\n%s\n", frag, yaml);
		if (rc == 0)
			cl_config_free(cfg);
		return false;
	}
	if (cfg != (struct cl_config *)0x1) {
		print_error("*out was changed on failure\n");
		return false;
	}
	int line = marked_line(yaml);
	if (line) {
		snprintf(prefix, sizeof prefix, "t.yaml:%d: ", line);
		if (strncmp(err, prefix, strlen(prefix)) != 0) {
			print_error("expected '%s...', got '%s'\n", prefix, err);
			return false;
		}
	} else if (strncmp(err, "t.yaml:", 7) != 0) {
		print_error("error does not name the file: '%s'\n", err);
		return false;
	}
	if (!strstr(err, frag)) {
		print_error("expected '%s' in '%s'\n", frag, err);
		return false;
	}
	return true;
}

static void expect_err(const char *yaml, const char *frag)
{
	if (!check_err(yaml, frag))
		fail();
}

/* ---- the example file ---------------------------------------------------- */

static void test_example_loads(void **state)
{
	struct cl_config *cfg = NULL;
	char err[512] = "";
	(void)state;

	if (cl_config_load(EXAMPLE, &cfg, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg->path, EXAMPLE);
	assert_string_equal(cfg->listen, "127.0.0.1:7400");
	assert_string_equal(cfg->http, "127.0.0.1:7480");
	assert_string_equal(cfg->log_level, "info");
	assert_true(cfg->redis.enabled);
	assert_string_equal(cfg->redis.host, "127.0.0.1");
	assert_int_equal(cfg->redis.port, 6379);
	assert_string_equal(cfg->redis.prefix, "cl:");

	/* Tokens by protocol role: pbx 1, agent 2, admin 4, observer 5. */
	assert_int_equal(cfg->n_tokens[1], 1);
	assert_int_equal(cfg->n_tokens[2], 1);
	assert_int_equal(cfg->n_tokens[3], 0);
	assert_int_equal(cfg->n_tokens[4], 1);
	assert_int_equal(cfg->n_tokens[5], 2);
	assert_string_equal(cfg->tokens[1][0], "demo-pbx-7f3a91");

	assert_int_equal(cfg->n_skills, 7);
	assert_int_equal(cl_config_skill(cfg, "printers"), 0);
	assert_int_equal(cl_config_skill(cfg, "enterprise"), 6);
	assert_int_equal(cl_config_skill(cfg, "fax"), -1);

	assert_int_equal(cfg->n_territories, 9);
	int de = cl_config_territory(cfg, "de");
	int south = cl_config_territory(cfg, "de-south");
	int munich = cl_config_territory(cfg, "de-munich");
	int at = cl_config_territory(cfg, "at");
	int at_east = cl_config_territory(cfg, "at-east");
	int vienna = cl_config_territory(cfg, "at-vienna");
	assert_true(de >= 0 && south >= 0 && munich >= 0 && at >= 0 && vienna >= 0);
	assert_int_equal(cfg->territories[de].parent, -1);
	assert_int_equal(cfg->territories[south].parent, de);
	assert_int_equal(cfg->territories[munich].parent, south);
	assert_int_equal(cfg->territories[vienna].parent, at_east);
	assert_int_equal(cfg->territories[at_east].parent, at);
	assert_int_equal(cfg->default_territory, de);
	assert_string_equal(cfg->territories[de].timezone, "Europe/Berlin");
	assert_int_equal(cfg->territories[at].n_postal, 0);
	assert_int_equal(cfg->territories[munich].n_postal, 3);
	assert_string_equal(cfg->territories[munich].postal[0], "80");
	assert_string_equal(cfg->territories[munich].phone[0], "+4989");
	/* Three levels: every district's grandparent is a country. */
	assert_int_equal(cfg->territories[cfg->territories[vienna].parent].parent, at);

	size_t reps = 0, partners = 0;
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct cfg_target *t = &cfg->targets[i];
		reps += t->kind == CFG_KIND_REP;
		partners += t->kind == CFG_KIND_PARTNER;
		assert_non_null(t->sip_uri);
		if (t->kind == CFG_KIND_PARTNER) {
			assert_non_null(t->token);
			assert_true(t->auto_ready);
			assert_true(t->share > 0);
			assert_true(t->contract.answer_ms > 0);
		} else {
			assert_null(t->token);
			assert_int_equal(t->capacity, 1);
		}
	}
	assert_int_equal(reps, 6);
	assert_int_equal(partners, 4);
	assert_int_equal(cfg->n_targets, 10);

	int anna = cl_config_target(cfg, "rep-anna");
	assert_int_equal(anna, 0);
	const struct cfg_target *t = &cfg->targets[anna];
	assert_string_equal(t->name, "Anna Weber");
	assert_int_equal(t->n_territories, 1);
	assert_int_equal(t->territories[0], de);
	assert_int_equal(t->prof[cl_config_skill(cfg, "printers")], 5);
	assert_int_equal(t->prof[cl_config_skill(cfg, "supplies")], 0);
	assert_false(t->skills & (UINT64_C(1) << cl_config_skill(cfg, "supplies")));
	assert_int_equal(t->wrapup_ms, 3000);

	t = &cfg->targets[cl_config_target(cfg, "rep-tom")];
	assert_int_equal(t->n_territories, 2);
	assert_int_equal(t->territories[1], at);
	assert_int_equal(t->prof[cl_config_skill(cfg, "scanners")], 3); /* list form */
	assert_true(t->needs_accept);
	assert_false(t->auto_ready);

	int wien = cl_config_target(cfg, "wien-office");
	assert_int_equal(wien, 9);
	t = &cfg->targets[wien];
	assert_int_equal(t->kind, CFG_KIND_PARTNER);
	assert_string_equal(t->name, "Wien Office Solutions GmbH");
	assert_string_equal(t->sip_uri, "sips:anfragen@wien-office.example");
	assert_int_equal(t->capacity, 4);
	assert_int_equal(t->wrapup_ms, 2000);
	assert_true(t->share == 40);
	assert_true(t->closure_rate == 0.33);
	assert_int_equal(t->contract.answer_ms, 25000);
	assert_true(t->contract.commission_pct == 7.5);
	assert_true(t->contract.min_satisfaction == 3.8);
	assert_true(t->contract.lead_fee == 4);

	assert_int_equal(cfg->n_plans, 4);
	const struct cfg_plan *p = &cfg->plans[0];
	assert_string_equal(p->name, "enterprise");
	assert_int_equal(p->match.n_segments, 1);
	assert_string_equal(p->match.segments[0], "enterprise");
	assert_int_equal(p->steps[0].set, CFG_SET_REPS);
	assert_int_equal(p->steps[0].min_prof, 3);
	assert_int_equal(p->steps[0].strategy, CFG_STRAT_PROFICIENCY_FIRST);

	p = &cfg->plans[1];
	assert_string_equal(p->name, "soho");
	assert_int_equal(p->n_steps, 4);
	assert_int_equal(p->steps[0].set, CFG_SET_PARTNERS);
	assert_int_equal(p->steps[0].scope, CFG_SCOPE_CALLER);
	assert_int_equal(p->steps[0].strategy, CFG_STRAT_WEIGHTED_SHARE);
	assert_int_equal(p->steps[0].timeout_ms, 20000);
	assert_int_equal(p->steps[1].scope, CFG_SCOPE_UP);
	assert_int_equal(p->steps[1].up, 1);
	assert_int_equal(p->steps[1].strategy, CFG_STRAT_PERFORMANCE_WEIGHTED);
	assert_int_equal(p->steps[2].set, CFG_SET_REPS);
	assert_int_equal(p->steps[2].scope, CFG_SCOPE_ANY);
	assert_int_equal(p->steps[2].skills, CFG_SKILLS_FIRST);
	assert_int_equal(p->steps[3].action, CFG_ACTION_CALLBACK);
	assert_string_equal(p->steps[3].reason, "all partners busy");

	p = &cfg->plans[2];
	assert_int_equal(p->match.n_dialed, 2);
	assert_string_equal(p->match.dialed[0], "+4980055501");
	assert_int_equal(p->match.skills_any, UINT64_C(1) << cl_config_skill(cfg, "supplies"));

	p = &cfg->plans[3];
	assert_string_equal(p->name, "default");
	assert_int_equal(p->match.n_dialed + p->match.n_segments + p->match.n_territories, 0);
	assert_int_equal(p->match.skills_any, 0);
	assert_int_equal(p->steps[1].scope, CFG_SCOPE_ROOT);
	assert_int_equal(p->steps[2].skills, CFG_SKILLS_NONE);
	assert_int_equal(p->steps[p->n_steps - 1].action, CFG_ACTION_CALLBACK);

	cl_config_free(cfg);
}

/* ---- defaults ------------------------------------------------------------ */

static void test_defaults(void **state)
{
	(void)state;
	struct cl_config *cfg = load_ok(BASE "reps:\n  - {id: r1, territories: [de]}\n"
					     "partners:\n  - {id: p1, token: tp, sip: \"sip:p@x\", "
					     "territories: [de-south]}\n");
	assert_string_equal(cfg->path, "t.yaml");
	assert_string_equal(cfg->listen, "127.0.0.1:7400");
	assert_null(cfg->http);
	assert_string_equal(cfg->log_level, "info");
	assert_int_equal(cfg->max_frame, 65536);
	assert_int_equal(cfg->max_calls, 200000);
	assert_int_equal(cfg->max_queue, 10000);
	assert_int_equal(cfg->max_sessions, 1024);
	assert_int_equal(cfg->read_timeout_ms, 120000);
	assert_int_equal(cfg->write_timeout_ms, 10000);
	assert_int_equal(cfg->max_output, 8388608);
	assert_int_equal(cfg->ring_timeout_ms, 20000);
	assert_int_equal(cfg->max_misses, 3);
	assert_int_equal(cfg->miss_pause_ms, 2000);
	assert_int_equal(cfg->wrapup_ms, 0);
	assert_int_equal(cfg->random_seed, 0);
	assert_true(cfg->redis.enabled);
	assert_string_equal(cfg->redis.host, "127.0.0.1");
	assert_int_equal(cfg->redis.port, 6379);
	assert_null(cfg->redis.unix_path);
	assert_null(cfg->redis.user);
	assert_null(cfg->redis.password);
	assert_int_equal(cfg->redis.db, 0);
	assert_string_equal(cfg->redis.prefix, "cl:");
	assert_int_equal(cfg->redis.stream_maxlen, 100000);
	assert_int_equal(cfg->redis.call_ttl_s, 3600);
	assert_int_equal(cfg->redis.max_inflight, 10000);
	assert_int_equal(cfg->redis.buffer_events, 100000);
	assert_null(cfg->redis.journal);
	assert_int_equal(cfg->redis.snapshot_ms, 1000);
	assert_int_equal(cfg->redis.stream_batch, 64);
	assert_int_equal(cfg->redis.state_flush_ms, 100);
	assert_int_equal(cfg->default_territory, -1);
	assert_null(cfg->territories[0].timezone);
	assert_int_equal(cfg->territories[0].n_postal, 0);

	const struct cfg_target *r = &cfg->targets[0], *p = &cfg->targets[1];
	assert_int_equal(r->kind, CFG_KIND_REP);
	assert_string_equal(r->name, "r1");
	assert_int_equal(r->capacity, 1);
	assert_int_equal(r->skills, 0);
	assert_null(r->sip_uri);
	assert_null(r->token);
	assert_false(r->auto_ready);
	assert_false(r->needs_accept);
	assert_true(r->share == 1.0);
	assert_true(r->closure_rate == 0.5);
	assert_int_equal(p->kind, CFG_KIND_PARTNER);
	assert_int_equal(p->capacity, 1);
	assert_true(p->auto_ready);
	assert_false(p->needs_accept);
	assert_true(p->share == 1.0);
	assert_true(p->closure_rate == 0.5);
	assert_int_equal(p->contract.answer_ms, 0);
	assert_true(p->contract.max_abandon == 0);

	const struct cfg_step *s = &cfg->plans[0].steps[0];
	assert_int_equal(cfg->plans[0].n_steps, 1);
	assert_int_equal(s->action, CFG_ACTION_ROUTE);
	assert_int_equal(s->set, CFG_SET_ANY);
	assert_int_equal(s->scope, CFG_SCOPE_CALLER);
	assert_int_equal(s->skills, CFG_SKILLS_ALL);
	assert_int_equal(s->min_prof, 1);
	assert_int_equal(s->strategy, CFG_STRAT_LONGEST_IDLE);
	assert_int_equal(s->timeout_ms, 0);
	assert_null(s->reason);
	cl_config_free(cfg);
}

/* The target wrap-up defaults to router.wrapup_ms; null values mean "not given". */
static void test_defaults_inherit_and_null(void **state)
{
	(void)state;
	struct cl_config *cfg = load_ok(BASE "engine: {http: ~, log_level: DEBUG}\n"
					     "router: {wrapup_ms: 4000}\n"
					     "limits:\n"
					     "redis:\n  enabled: off\n  user: cl\n  password: s3cret pass\n"
					     "reps:\n  - {id: r1, territories: [de], wrapup_ms: 10, capacity: null}\n"
					     "  - {id: r2, territories: de}\n");
	assert_null(cfg->http);
	assert_string_equal(cfg->log_level, "debug");
	assert_int_equal(cfg->max_frame, 65536);
	assert_false(cfg->redis.enabled);
	assert_string_equal(cfg->redis.password, "s3cret pass");
	assert_int_equal(cfg->targets[0].wrapup_ms, 10);
	assert_int_equal(cfg->targets[0].capacity, 1);
	assert_int_equal(cfg->targets[1].wrapup_ms, 4000);
	assert_int_equal(cfg->targets[1].n_territories, 1);
	cl_config_free(cfg);
}

/* ---- values -------------------------------------------------------------- */

static void test_scalar_typing(void **state)
{
	(void)state;
	/* YAML 1.1 would read 80331 and 0800 as ints, yes/no/on as booleans. */
	struct cl_config *cfg = load_ok(
		"auth: {pbx: yes, agent: [\"no\", 0800]}\n" SKILLS
		"territories:\n"
		"  - {name: de, postal: [80331, \"80\", 0800, \"ab 12\", sw1a-1aa], phone: \"+49\"}\n"
		"plans:\n"
		"  - name: on\n"
		"    match: {dialed: [0800123, \"+49800\"], segment: [no, soho]}\n"
		"    steps: [{targets: any}]\n"
		"reps: [{id: '0123', territories: [de], auto_ready: on, needs_accept: Yes}]\n"
		"router: {random_seed: 18446744073709551615}\n");
	assert_string_equal(cfg->tokens[1][0], "yes");
	assert_string_equal(cfg->tokens[2][0], "no");
	assert_string_equal(cfg->tokens[2][1], "0800");
	const struct cfg_territory *t = &cfg->territories[0];
	assert_int_equal(t->n_postal, 5);
	assert_string_equal(t->postal[0], "80331");
	assert_string_equal(t->postal[1], "80");
	assert_string_equal(t->postal[2], "0800");
	assert_string_equal(t->postal[3], "AB12");
	assert_string_equal(t->postal[4], "SW1A1AA");
	assert_int_equal(t->n_phone, 1);
	assert_string_equal(t->phone[0], "+49");
	assert_string_equal(cfg->plans[0].name, "on");
	assert_string_equal(cfg->plans[0].match.dialed[0], "0800123");
	assert_string_equal(cfg->plans[0].match.segments[0], "no");
	assert_string_equal(cfg->targets[0].id, "0123");
	assert_true(cfg->targets[0].auto_ready);
	assert_true(cfg->targets[0].needs_accept);
	assert_true(cfg->random_seed == UINT64_MAX);
	cl_config_free(cfg);
}

static void test_skills_list_and_map(void **state)
{
	(void)state;
	struct cl_config *cfg = load_ok(BASE
		"reps:\n"
		"  - {id: a, territories: [de], skills: [printers, lang-de]}\n"
		"  - {id: b, territories: [de], skills: {printers: 5, scanners: 1}}\n"
		"  - {id: c, territories: [de], skills: scanners}\n"
		"  - {id: d, territories: [de], skills: []}\n");
	const struct cfg_target *a = &cfg->targets[0], *b = &cfg->targets[1];
	int pr = cl_config_skill(cfg, "printers"), sc = cl_config_skill(cfg, "scanners"),
	    de = cl_config_skill(cfg, "lang-de");
	assert_int_equal(a->skills, (UINT64_C(1) << pr) | (UINT64_C(1) << de));
	assert_int_equal(a->prof[pr], 3);
	assert_int_equal(a->prof[de], 3);
	assert_int_equal(a->prof[sc], 0);
	assert_int_equal(b->skills, (UINT64_C(1) << pr) | (UINT64_C(1) << sc));
	assert_int_equal(b->prof[pr], 5);
	assert_int_equal(b->prof[sc], 1);
	assert_int_equal(b->prof[de], 0);
	assert_int_equal(cfg->targets[2].skills, UINT64_C(1) << sc);
	assert_int_equal(cfg->targets[3].skills, 0);
	cl_config_free(cfg);
}

static void test_steps_and_match(void **state)
{
	(void)state;
	struct cl_config *cfg = load_ok(AUTH SKILLS TERRS
		"plans:\n"
		"  - name: p1\n"
		"    match: {territory: [de-south, de], skills: [scanners, lang-de], segment: soho}\n"
		"    steps:\n"
		"      - {territory: de-south, strategy: top-down, timeout_ms: 100}\n"
		"      - {territory: caller, up: 2, strategy: random, timeout_ms: 100}\n"
		"      - {up: 1, strategy: fewest-calls, timeout_ms: 100}\n"
		"      - {territory: any, skills: none, strategy: round-robin, timeout_ms: 5}\n"
		"      - {action: reject, reason: closed}\n"
		"  - name: p2\n"
		"    steps: [{action: callback}]\n");
	const struct cfg_plan *p = &cfg->plans[0];
	int south = cl_config_territory(cfg, "de-south");
	assert_int_equal(p->match.n_territories, 2);
	assert_int_equal(p->match.territories[0], south);
	assert_int_equal(p->match.territories[1], cl_config_territory(cfg, "de"));
	assert_int_equal(p->match.skills_any, (UINT64_C(1) << 1) | (UINT64_C(1) << 2));
	assert_int_equal(p->match.n_segments, 1);
	assert_int_equal(p->n_steps, 5);
	assert_int_equal(p->steps[0].scope, CFG_SCOPE_NAMED);
	assert_int_equal(p->steps[0].territory, south);
	assert_int_equal(p->steps[0].strategy, CFG_STRAT_TOP_DOWN);
	assert_int_equal(p->steps[1].scope, CFG_SCOPE_UP);
	assert_int_equal(p->steps[1].up, 2);
	assert_int_equal(p->steps[1].strategy, CFG_STRAT_RANDOM);
	assert_int_equal(p->steps[2].scope, CFG_SCOPE_UP);
	assert_int_equal(p->steps[2].up, 1);
	assert_int_equal(p->steps[3].scope, CFG_SCOPE_ANY);
	assert_int_equal(p->steps[3].skills, CFG_SKILLS_NONE);
	assert_int_equal(p->steps[3].timeout_ms, 5);
	assert_int_equal(p->steps[4].action, CFG_ACTION_REJECT);
	assert_string_equal(p->steps[4].reason, "closed");
	assert_int_equal(cfg->plans[1].steps[0].action, CFG_ACTION_CALLBACK);
	assert_null(cfg->plans[1].steps[0].reason);
	cl_config_free(cfg);
}

/* Targets keep file order: here partners come before reps. */
static void test_target_file_order(void **state)
{
	(void)state;
	struct cl_config *cfg = load_ok(BASE
		"partners:\n  - {id: p1, token: t1, sip: \"sip:a@b\", territories: [de], seats: 10000}\n"
		"reps:\n  - {id: r1, territories: [de], capacity: 1000}\n");
	assert_int_equal(cfg->n_targets, 2);
	assert_int_equal(cfg->targets[0].kind, CFG_KIND_PARTNER);
	assert_int_equal(cfg->targets[0].capacity, 10000);
	assert_int_equal(cfg->targets[1].kind, CFG_KIND_REP);
	assert_int_equal(cfg->targets[1].capacity, 1000);
	assert_int_equal(cl_config_target(cfg, "r1"), 1);
	assert_int_equal(cl_config_target(cfg, "nobody"), -1);
	cl_config_free(cfg);
}

static void test_hostports(void **state)
{
	(void)state;
	static const char *const good[] = {"127.0.0.1:7400", "[::1]:7400", "localhost:0",
					   "0.0.0.0:65535", "cl-1.example.org:80"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char y[512];
		snprintf(y, sizeof y, BASE "engine: {listen: \"%s\", http: \"%s\"}\n", good[i],
			 good[i]);
		struct cl_config *cfg = load_ok(y);
		assert_string_equal(cfg->listen, good[i]);
		assert_string_equal(cfg->http, good[i]);
		cl_config_free(cfg);
	}
}

static void test_strategy_names(void **state)
{
	(void)state;
	assert_string_equal(cl_strategy_name(CFG_STRAT_LONGEST_IDLE), "longest-idle");
	assert_string_equal(cl_strategy_name(CFG_STRAT_PERFORMANCE_WEIGHTED),
			    "performance-weighted");
	assert_string_equal(cl_strategy_name(CFG_STRAT_COUNT), "unknown");
	/* Every name round-trips through the loader. */
	for (int s = 0; s < CFG_STRAT_COUNT; s++) {
		char y[512];
		snprintf(y, sizeof y, AUTH SKILLS TERRS "plans: [{name: x, steps: [{strategy: %s}]}]\n",
			 cl_strategy_name((enum cfg_strategy)s));
		struct cl_config *cfg = load_ok(y);
		assert_int_equal(cfg->plans[0].steps[0].strategy, s);
		cl_config_free(cfg);
	}
	assert_int_equal(cl_config_skill(NULL, "x"), -1);
	assert_int_equal(cl_config_territory(NULL, "x"), -1);
	assert_int_equal(cl_config_target(NULL, "x"), -1);
	cl_config_free(NULL);
}

/* ---- errors -------------------------------------------------------------- */

struct bad {
	const char *yaml; /* "#<" marks the line the error must name */
	const char *frag; /* must appear in the message */
};

static const struct bad bad_cases[] = {
	/* structure and YAML */
	{"", "the configuration is empty"},
	{"- a\n- b\n", "the top level must be a mapping"},
	{BASE "skils: [x] #<\n", "unknown key \"skils\" (expected one of: engine,"},
	{BASE "engine:\n  listen: \"127.0.0.1:1\"\n  lissten: x #<\n",
	 "engine: unknown key \"lissten\""},
	{BASE "engine: [a] #<\n", "engine: expected a mapping, got a list"},
	{BASE "limits: {max_frame: 1024,\n  max_frame: 2048} #<\n",
	 "limits: duplicate key \"max_frame\""},
	{BASE "engine: a: b #<\n", "YAML syntax error: mapping values are not allowed"},
	{BASE "plans: [\n", "YAML syntax error"},
	{BASE "--- #<\nengine: {}\n", "only one YAML document"},
	{BASE "engine: {log_level: \"info\\0debug\"} #<\n", "NUL bytes (\\0) are not allowed"},
	{AUTH "skills: &s [printers]\n" TERRS PLANS "x: *s #<\n", "aliases (*s) are not supported"},
	/* types and ranges */
	{BASE "limits: {max_frame: abc} #<\n", "limits.max_frame: expected an integer in 256..67108864, got \"abc\""},
	{BASE "limits: {max_calls: -1} #<\n", "limits.max_calls: expected an integer"},
	{BASE "limits: {max_sessions: 1.5} #<\n", "limits.max_sessions: expected an integer"},
	{BASE "limits: {max_queue: [1]} #<\n", "limits.max_queue: expected an integer, got a list"},
	{BASE "limits: {max_output: 99999999999999999999999} #<\n", "limits.max_output: expected an integer"},
	{BASE "limits:\n  max_frame: 1048576\n  max_output: 65536 #<\n", "max_output (65536) must be at least max_frame"},
	{BASE "router: {max_misses: 0} #<\n", "router.max_misses: expected an integer in 1..1000, got \"0\""},
	{BASE "router: {ring_timeout_ms: 3600001} #<\n", "router.ring_timeout_ms: expected an integer in 1..3600000"},
	{BASE "redis: {port: 70000} #<\n", "redis.port: expected an integer in 1..65535"},
	{BASE "redis: {stream_batch: 0} #<\n", "redis.stream_batch: expected an integer in 1..1024"},
	{BASE "redis: {state_flush_ms: 60001} #<\n",
	 "redis.state_flush_ms: expected an integer in 0..60000"},
	{BASE "redis: {enabled: maybe} #<\n", "redis.enabled: expected true or false, got \"maybe\""},
	{BASE "redis:\n  user: cl #<\n", "redis: user needs a password"},
	{BASE "redis: {host: \"a b\"} #<\n", "redis.host: \"a b\" must not contain spaces"},
	{BASE "engine: {log_level: loud} #<\n", "engine.log_level: \"loud\" is not a level"},
	/* engine listen / http */
	{BASE "engine: {listen: \"127.0.0.1\"} #<\n", "engine.listen: \"127.0.0.1\": expected host:port"},
	{BASE "engine: {listen: \":7400\"} #<\n", "the host is missing"},
	{BASE "engine: {http: \"127.0.0.1:99999\"} #<\n", "engine.http: \"127.0.0.1:99999\": the port must be a number 0..65535"},
	{BASE "engine: {http: \"localhost:http\"} #<\n", "the port must be a number"},
	{BASE "engine: {listen: \"::1:7400\"} #<\n", "an IPv6 host is written [address]:port"},
	{BASE "engine: {listen: \"[::1:7400\"} #<\n", "an IPv6 host is written [address]:port"},
	{BASE "engine: {listen: \"ho/st:1\"} #<\n", "bad character in the host"},
	/* auth */
	{SKILLS TERRS PLANS, "t.yaml:1: missing required key \"auth\""},
	{"auth: {admin: adm} #<\n" SKILLS TERRS PLANS, "auth: at least one pbx token is required"},
	{"auth: {pbx: []} #<\n" SKILLS TERRS PLANS, "auth.pbx: must not be an empty list"},
	{"auth: {pbx: a, partner: b} #<\n" SKILLS TERRS PLANS, "partners authenticate with their own token"},
	{"auth: {pbx: a, admin: [b,\n  a]} #<\n" SKILLS TERRS PLANS, "auth.admin[1]: this token is already used (line 1)"},
	{"auth: {pbx: \"a b\"} #<\n" SKILLS TERRS PLANS, "auth.pbx[0]: \"a b\" must not contain spaces"},
	{BASE "partners:\n  - {id: p, token: tok-pbx, sip: \"sip:x\", territories: [de]} #<\n",
	 "partners[0].token: this token is already used (line 1)"},
	/* skills */
	{AUTH TERRS PLANS, "missing required key \"skills\""},
	{AUTH "skills: [printers, Scanners] #<\n" TERRS PLANS, "skills[1]: \"Scanners\" is not a skill name"},
	{AUTH "skills:\n  - printers\n  - printers #<\n" TERRS PLANS, "skills[1]: duplicate skill \"printers\" (first at line 3)"},
	{AUTH "skills: [] #<\n" TERRS PLANS, "skills: must not be an empty list"},
	/* territories */
	{AUTH SKILLS PLANS, "missing required key \"territories\""},
	{AUTH SKILLS "territories: [] #<\n" PLANS, "territories: at least one territory is required"},
	{AUTH SKILLS "territories:\n  - {name: de}\n  - {name: at, parent: xx} #<\n" PLANS,
	 "territories[1].parent: unknown territory \"xx\""},
	{AUTH SKILLS "territories:\n  - {name: de}\n  - {name: de} #<\n" PLANS,
	 "territories[1].name: duplicate territory \"de\" (first at line 4)"},
	{AUTH SKILLS "territories:\n  - {name: any} #<\n" PLANS, "territories[0].name: \"any\" is reserved"},
	{AUTH SKILLS "territories:\n  - {name: parent} #<\n" PLANS, "\"parent\" is reserved"},
	{AUTH SKILLS "territories:\n  - {name: a, parent: c} #<\n  - {name: b, parent: a}\n"
	 "  - {name: c, parent: b}\n" PLANS,
	 "territories[0]: parent cycle: a -> c -> b -> a"},
	{AUTH SKILLS "territories:\n  - {name: a, parent: a} #<\n" PLANS, "cannot be its own parent"},
	{AUTH SKILLS "territories:\n  - {name: a, postal: [\"80-33x!\"]} #<\n" PLANS,
	 "territories[0].postal[0]: postal prefix \"80-33x!\": only letters and digits"},
	{AUTH SKILLS "territories:\n  - {name: a, postal: [\" \"]} #<\n" PLANS, "empty postal prefix"},
	{AUTH SKILLS "territories:\n  - {name: a, phone: [\"+49\", \"49\"]} #<\n" PLANS,
	 "territories[0].phone[1]: phone prefix \"49\": expected '+' and 1 to 15 digits"},
	{AUTH SKILLS "territories:\n  - {name: a, phone: [\"+49a\"]} #<\n" PLANS, "phone prefix \"+49a\""},
	{AUTH SKILLS "territories:\n  - {name: a, phone: [\"+1234567890123456\"]} #<\n" PLANS, "phone prefix \"+1234567890123456\": expected '+' and 1 to 15 digits"},
	{AUTH SKILLS "territories:\n  - {name: a, phone: [\"+\"]} #<\n" PLANS, "phone prefix \"+\""},
	{AUTH SKILLS "territories:\n  - {name: a, timezone: Europe/Berlin, colour: red} #<\n" PLANS,
	 "territories[0]: unknown key \"colour\""},
	{AUTH SKILLS "territories:\n  - {parent: a} #<\n" PLANS, "territories[0]: missing required key \"name\""},
	{BASE "default_territory: nowhere #<\n", "default_territory: unknown territory \"nowhere\""},
	/* skill count */
	{AUTH "skills: [s0,s1,s2,s3,s4,s5,s6,s7,s8,s9,s10,s11,s12,s13,s14,s15,s16,s17,s18,s19,"
	      "s20,s21,s22,s23,s24,s25,s26,s27,s28,s29,s30,s31,s32,s33,s34,s35,s36,s37,s38,s39,"
	      "s40,s41,s42,s43,s44,s45,s46,s47,s48,s49,s50,s51,s52,s53,s54,s55,s56,s57,s58,s59,"
	      "s60,s61,s62,s63,s64] #<\n" TERRS PLANS,
	 "skills: 65 names: at most 64 skills are allowed"},
	/* targets */
	{BASE "reps:\n  - {id: a, territories: [de]}\n  - {id: b, territories: [de],\n"
	      "     skills: {printers: 4, scaners: 2}} #<\n",
	 "reps[1].skills: unknown skill \"scaners\""},
	{BASE "reps:\n  - {id: a, territories: [de], skills: [printers, scaners]} #<\n",
	 "reps[0].skills: unknown skill \"scaners\""},
	{BASE "reps:\n  - {id: a, territories: [de], skills: [printers, printers]} #<\n",
	 "reps[0].skills: skill \"printers\" is listed twice"},
	{BASE "reps:\n  - {id: a, territories: [de], skills: {printers: 6}} #<\n",
	 "reps[0].skills.printers: expected an integer in 1..5, got \"6\""},
	{BASE "reps:\n  - {id: a, territories: [de], skills: {printers: 0}} #<\n",
	 "expected an integer in 1..5, got \"0\""},
	{BASE "reps:\n  - {id: a, territories: [de], skills: {printers: }} #<\n",
	 "skill \"printers\" needs a level 1..5"},
	{BASE "reps:\n  - {id: a, territories: [dee]} #<\n", "reps[0].territories: unknown territory \"dee\""},
	{BASE "reps:\n  - {id: a, territories: [de, de]} #<\n", "territory \"de\" is listed twice"},
	{BASE "reps:\n  - {id: a, territories: []} #<\n", "reps[0].territories: must not be an empty list"},
	{BASE "reps:\n  - {id: a} #<\n", "reps[0]: missing required key \"territories\""},
	{BASE "reps:\n  - {name: A, territories: [de]} #<\n", "reps[0]: missing required key \"id\""},
	{BASE "reps:\n  - {id: \"a b\", territories: [de]} #<\n", "reps[0].id: \"a b\" must not contain spaces"},
	{BASE "reps:\n  - {id: \"a\\tb\", territories: [de]} #<\n", "contains a control character"},
	{BASE "reps:\n  - {id: \"\", territories: [de]} #<\n", "reps[0].id: must not be empty"},
	{BASE "reps:\n  - {id: a, territories: [de], capacity: 0} #<\n", "reps[0].capacity: expected an integer in 1..1000"},
	{BASE "reps:\n  - {id: a, territories: [de], seats: 2} #<\n", "reps[0]: unknown key \"seats\""},
	{BASE "reps:\n  - {id: a, territories: [de], token: x} #<\n", "reps[0]: unknown key \"token\""},
	{BASE "reps:\n  - {id: a, territories: [de], sip: \"http://x\"} #<\n", "is not a sip: or sips: URI"},
	{BASE "reps:\n  - {id: a, territories: [de], needs_accept: 2} #<\n", "reps[0].needs_accept: expected true or false"},
	{BASE "reps:\n  - {id: acme, territories: [de]}\npartners:\n"
	      "  - {id: acme, token: t, sip: \"sip:x\", territories: [de]} #<\n",
	 "partners[0].id: duplicate id \"acme\" (first at line 11)"},
	{BASE "partners:\n  - {id: p, sip: \"sip:x\", territories: [de]} #<\n",
	 "partners[0]: missing required key \"token\""},
	{BASE "partners:\n  - {id: p, token: t, territories: [de]} #<\n",
	 "partners[0]: missing required key \"sip\""},
	{BASE "partners:\n  - {id: p, token: t, sip: \"sip:x\", territories: [de], share: 0} #<\n",
	 "partners[0].share: expected a number > 0 and <= 1000000, got \"0\""},
	{BASE "partners:\n  - {id: p, token: t, sip: \"sip:x\", territories: [de], closure_rate: 1.5} #<\n",
	 "partners[0].closure_rate: expected a number >= 0 and <= 1, got \"1.5\""},
	{BASE "partners:\n  - {id: p, token: t, sip: \"sip:x\", territories: [de], share: nan} #<\n",
	 "partners[0].share: expected a number"},
	{BASE "partners:\n  - {id: p, token: t, sip: \"sip:x\", territories: [de], seats: 10001} #<\n",
	 "partners[0].seats: expected an integer in 1..10000"},
	{BASE "partners:\n  - {id: p, token: t, sip: \"sip:x\", territories: [de], capacity: 2} #<\n",
	 "partners[0]: unknown key \"capacity\""},
	{BASE "partners:\n  - id: p\n    token: t\n    sip: \"sip:x\"\n    territories: [de]\n"
	      "    contract: {answer_ms: 1000, max_abandon: 2} #<\n",
	 "partners[0].contract.max_abandon: expected a number >= 0 and <= 1"},
	{BASE "partners:\n  - id: p\n    token: t\n    sip: \"sip:x\"\n    territories: [de]\n"
	      "    contract: {answer: 1000} #<\n",
	 "partners[0].contract: unknown key \"answer\""},
	{BASE "reps: {id: a} #<\n", "reps: expected a list, got a mapping"},
	/* plans */
	{AUTH SKILLS TERRS, "missing required key \"plans\""},
	{AUTH SKILLS TERRS "plans: [] #<\n", "plans: at least one plan is required"},
	{AUTH SKILLS TERRS "plans:\n  - name: p #<\n", "plans[0]: missing required key \"steps\""},
	{AUTH SKILLS TERRS "plans:\n  - {name: p, steps: []} #<\n", "plans[0].steps: a plan has 1..8 steps, this one 0"},
	{AUTH SKILLS TERRS "plans:\n  - {steps: [{}]} #<\n", "plans[0]: missing required key \"name\""},
	{AUTH SKILLS TERRS "plans:\n  - {name: p, steps: [{timeout_ms: 1}, {timeout_ms: 1}, {timeout_ms: 1},"
	 " {timeout_ms: 1}, {timeout_ms: 1}, {timeout_ms: 1}, {timeout_ms: 1}, {timeout_ms: 1}, {}]} #<\n",
	 "a plan has 1..8 steps, this one 9"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {action: reject} #<\n      - {targets: any}\n",
	 "plans[0].steps[0]: a reject step ends the plan: it must be the last step"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {targets: reps} #<\n      - {targets: any}\n",
	 "plans[0].steps[0]: timeout_ms 0 waits forever, so the steps after this one are unreachable"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {targets: reps, timeout_ms: 0} #<\n"
	 "      - {targets: any}\n", "unreachable"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {action: callback, strategy: random} #<\n",
	 "plans[0].steps[0]: a callback step takes only action and reason, not \"strategy\""},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {action: reject, targets: reps} #<\n",
	 "a reject step takes only action and reason, not \"targets\""},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {targets: reps, reason: x} #<\n",
	 "reason is only for reject and callback steps"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {action: hangup} #<\n",
	 "plans[0].steps[0].action: \"hangup\" is not one of: route, reject, callback"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {strategy: cheapest} #<\n",
	 "plans[0].steps[0].strategy: \"cheapest\" is not one of: longest-idle, fewest-calls"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {targets: bots} #<\n",
	 "\"bots\" is not one of: any, reps, partners"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {skills: some} #<\n",
	 "\"some\" is not one of: all, first, none"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {territory: mars} #<\n",
	 "plans[0].steps[0].territory: unknown territory \"mars\""},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {territory: parent, up: 2} #<\n",
	 "up counts levels above the caller's territory"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {up: 0} #<\n",
	 "plans[0].steps[0].up: expected an integer in 1..32"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {min_proficiency: 6} #<\n",
	 "plans[0].steps[0].min_proficiency: expected an integer in 1..5"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {skills: none, min_proficiency: 2} #<\n",
	 "min_proficiency needs skills: all or first"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps:\n      - {strategy2: random} #<\n",
	 "plans[0].steps[0]: unknown key \"strategy2\""},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    steps: {targets: any} #<\n",
	 "plans[0].steps: expected a list, got a mapping"},
	{AUTH SKILLS TERRS "plans:\n  - {name: p, match: {segment: x}, steps: [{}]}\n  - {name: p, steps: [{}]} #<\n",
	 "duplicate plan name \"p\""},
	{AUTH SKILLS TERRS "plans:\n  - {name: a, steps: [{}]}\n  - {name: b, steps: [{}]} #<\n",
	 "plans[1]: unreachable: plans[0] \"a\" has no match and takes every call"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    match: {skills: [fax]} #<\n    steps: [{}]\n",
	 "plans[0].match.skills: unknown skill \"fax\""},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    match: {territory: [mars]} #<\n    steps: [{}]\n",
	 "plans[0].match.territory: unknown territory \"mars\""},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    match: {dialed: [\"+49-800\"]} #<\n    steps: [{}]\n",
	 "plans[0].match.dialed[0]: dialed prefix \"+49-800\": expected digits"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    match: {segment: []} #<\n    steps: [{}]\n",
	 "plans[0].match.segment: must not be an empty list"},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    match: {campaign: x} #<\n    steps: [{}]\n",
	 "plans[0].match: unknown key \"campaign\""},
	{AUTH SKILLS TERRS "plans:\n  - name: p\n    match: {open: maybe} #<\n    steps: [{}]\n",
	 "plans[0].match.open"},
	/* calendars */
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, hours: {}} #<\n",
	 "calendars[0]: missing required key \"timezone\""},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: Europe/Atlantis, hours: {}} #<\n",
	 "calendars[0].timezone: unknown time zone \"Europe/Atlantis\""},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: ../../etc/passwd, hours: {}} #<\n",
	 "unknown time zone"},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: UTC, hours: {monday: []}} #<\n",
	 "calendars[0].hours: unknown day \"monday\""},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - name: c\n    timezone: UTC\n    hours:\n      mon-fri: []\n      wed: [] #<\n",
	 "calendars[0].hours: wed is given twice"},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: UTC, hours: {mon: [\"08:00-25:00\"]}} #<\n",
	 "calendars[0].hours.mon[0]: time range \"08:00-25:00\": expected HH:MM-HH:MM"},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: UTC, hours: {mon: [\"08:00-08:00\"]}} #<\n",
	 "start and end different"},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: UTC, hours: {mon: [\"8-18\"]}} #<\n",
	 "time range \"8-18\""},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: UTC, hours: {}, holidays: [\"2026-02-29\"]} #<\n",
	 "calendars[0].holidays[0]: holiday \"2026-02-29\": expected YYYY-MM-DD"},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: UTC, hours: {}, holidays: [\"13-01\"]} #<\n",
	 "holiday \"13-01\""},
	{AUTH SKILLS TERRS PLANS "calendars:\n  - {name: c, timezone: UTC, hours: {}}\n  - {name: c, timezone: UTC, hours: {}} #<\n",
	 "calendars[1].name: duplicate calendar \"c\""},
	{AUTH SKILLS PLANS "territories:\n  - {name: de, calendar: nope} #<\n",
	 "territories[0].calendar: unknown calendar \"nope\""},
	{AUTH SKILLS TERRS PLANS "reps:\n  - {id: r, territories: [de], calendar: nope} #<\n",
	 "reps[0].calendar: unknown calendar \"nope\""},
};

/* Calendars: days, ranges past midnight, holidays; territories inherit
 * their parent's; plans may match on it. */
static void test_calendars(void **state)
{
	(void)state;
	struct cl_config *cfg = load_ok(
		AUTH SKILLS
		"calendars:\n"
		"  - name: office\n"
		"    timezone: Europe/Berlin\n"
		"    hours:\n"
		"      mon-fri: [\"13:00-18:00\", \"08:00-12:00\"]\n"
		"      sat: [\"22:00-02:00\"]\n"
		"    holidays: [\"2026-12-24\", \"12-25\"]\n"
		"  - {name: closed, timezone: UTC, hours: {}}\n"
		"territories:\n"
		"  - {name: de, phone: [\"+49\"], calendar: office}\n"
		"  - {name: de-south, parent: de, postal: [\"8\"]}\n"
		"  - {name: at, phone: [\"+43\"]}\n"
		"reps:\n"
		"  - {id: r1, territories: [de], calendar: closed}\n"
		"  - {id: r2, territories: [de]}\n"
		"plans:\n"
		"  - {name: night, match: {open: false}, steps: [{action: callback}]}\n"
		"  - {name: day, match: {open: true, segment: [soho]}, steps: [{}]}\n"
		"  - {name: all, steps: [{}]}\n");
	assert_int_equal(cfg->n_calendars, 2);
	const struct cfg_calendar *c = &cfg->calendars[0];
	assert_string_equal(c->name, "office");
	assert_string_equal(c->timezone, "Europe/Berlin");
	for (int d = 0; d < 5; d++) {
		assert_int_equal(c->n_hours[d], 2);
		assert_int_equal(c->hours[d][0].from, 8 * 60); /* sorted */
		assert_int_equal(c->hours[d][0].to, 12 * 60);
		assert_int_equal(c->hours[d][1].from, 13 * 60);
		assert_int_equal(c->hours[d][1].to, 18 * 60);
	}
	/* Saturday to midnight, then Sunday from midnight. */
	assert_int_equal(c->n_hours[5], 1);
	assert_int_equal(c->hours[5][0].from, 22 * 60);
	assert_int_equal(c->hours[5][0].to, 1440);
	assert_int_equal(c->n_hours[6], 1);
	assert_int_equal(c->hours[6][0].from, 0);
	assert_int_equal(c->hours[6][0].to, 2 * 60);
	assert_int_equal(c->n_holidays, 2);
	assert_int_equal(c->holidays[0], 1225);
	assert_int_equal(c->holidays[1], 20261224);
	for (int d = 0; d < 7; d++)
		assert_int_equal(cfg->calendars[1].n_hours[d], 0);
	/* Own, inherited, none. */
	assert_int_equal(cfg->territories[0].calendar, 0);
	assert_int_equal(cfg->territories[1].calendar, 0);
	assert_int_equal(cfg->territories[2].calendar, -1);
	assert_int_equal(cfg->plans[0].match.open, 0);
	assert_int_equal(cfg->plans[1].match.open, 1);
	assert_int_equal(cfg->plans[2].match.open, -1);
	assert_int_equal(cfg->targets[0].calendar, 1);
	assert_int_equal(cfg->targets[1].calendar, -1);
	cl_config_free(cfg);
}

static void test_errors(void **state)
{
	(void)state;
	size_t failed = 0;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
		failed += !check_err(bad_cases[i].yaml, bad_cases[i].frag);
	assert_int_equal(failed, 0);
}

/* Deep nesting and huge values are refused, not crashed on. */
static void test_hostile_input(void **state)
{
	(void)state;
	size_t n = 100000;
	char *y = malloc(2 * n + 64);
	assert_non_null(y);
	strcpy(y, "x: ");
	memset(y + 3, '[', n);
	memset(y + 3 + n, ']', n);
	y[3 + 2 * n] = '\0';
	expect_err(y, "nested deeper than");
	free(y);

	/* A long bad value is cut in the message, not overflowing it. */
	size_t big = 10000;
	char *id = malloc(big + 1);
	assert_non_null(id);
	memset(id, 'x', big);
	id[big] = '\0';
	char *yy = malloc(big + 512);
	assert_non_null(yy);
	snprintf(yy, big + 512, BASE "reps: [{id: %s, territories: [de]}] #<\n", id);
	expect_err(yy, "...\" is longer than 128 bytes");
	free(yy);
	free(id);

	/* Small and absent error buffers. */
	struct cl_config *cfg = NULL;
	char err[16];
	assert_int_equal(cl_config_load_string("x: 1\n", "t.yaml", &cfg, err, sizeof err), -1);
	assert_int_equal(strlen(err), sizeof err - 1);
	assert_int_equal(cl_config_load_string("x: 1\n", "t.yaml", &cfg, NULL, 0), -1);
	assert_int_equal(cl_config_load_string(NULL, "t.yaml", &cfg, NULL, 0), -1);
	assert_null(cfg);
}

static void test_files(void **state)
{
	struct cl_config *cfg = NULL;
	char err[512];
	(void)state;

	assert_int_equal(cl_config_load(DATA "no-such-file.yaml", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "no-such-file.yaml: cannot open:"));

	assert_int_equal(cl_config_load(DATA "cfg_bad_skill.yaml", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "cfg_bad_skill.yaml:42: reps[3].skills: unknown skill \"scaners\""));
	assert_null(cfg);

	assert_int_equal(cl_config_load(DATA "cfg_minimal.yaml", &cfg, err, sizeof err), 0);
	assert_int_equal(cfg->n_plans, 1);
	assert_int_equal(cfg->n_targets, 0);
	cl_config_free(cfg);
}

/* ---- scale ------------------------------------------------------------- */

/* Appends to a growing buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
}

static void test_large_config(void **state)
{
	const size_t n_terr = 1000, n_targets = 20000;
	struct buf b = {malloc(1 << 20), 0, 1 << 20};
	struct timespec t0, t1;
	(void)state;

	assert_non_null(b.p);
	bprintf(&b, "auth: {pbx: p}\nskills: [");
	for (int s = 0; s < CFG_MAX_SKILLS; s++)
		bprintf(&b, "%ss%d", s ? ", " : "", s);
	bprintf(&b, "]\nterritories:\n");
	for (size_t t = 0; t < n_terr; t++) {
		if (t < 10)
			bprintf(&b, "  - {name: t%zu, phone: [\"+%zu\"]}\n", t, t + 1);
		else
			bprintf(&b, "  - {name: t%zu, parent: t%zu, postal: [\"%zu\"], phone: [\"+%zu\"]}\n",
				t, t / 10, t, t + 1);
	}
	bprintf(&b, "reps:\n");
	for (size_t i = 0; i < n_targets / 2; i++)
		bprintf(&b, "  - {id: rep-%zu, territories: [t%zu], skills: {s%zu: 4, s%zu: 2}}\n", i,
			i % n_terr, i % 64, (i + 1) % 64);
	bprintf(&b, "partners:\n");
	for (size_t i = 0; i < n_targets / 2; i++)
		bprintf(&b,
			"  - {id: partner-%zu, token: tok-%zu, sip: \"sip:p%zu@x\", territories: [t%zu, t%zu],"
			" skills: [s%zu], seats: 5, share: 2.5}\n",
			i, i, i, i % n_terr, (i + 1) % n_terr, i % 64);
	bprintf(&b, "plans: [{name: all, steps: [{strategy: weighted-share}]}]\n");

	struct cl_config *cfg = NULL;
	char err[512] = "";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = cl_config_load_string(b.p, "big.yaml", &cfg, err, sizeof err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc)
		fail_msg("%s", err);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("loaded %zu targets, %zu territories (%zu KiB of YAML) in %.1f ms\n",
		      cfg->n_targets, cfg->n_territories, b.len / 1024, ms);

	assert_int_equal(cfg->n_targets, n_targets);
	assert_int_equal(cfg->n_territories, n_terr);
	assert_int_equal(cfg->n_skills, 64);
	const struct cfg_target *last = &cfg->targets[n_targets - 1];
	assert_string_equal(last->id, "partner-9999");
	assert_int_equal(last->territories[0], 9999 % n_terr);
	assert_int_equal(last->territories[1], 0);
	assert_int_equal(last->prof[9999 % 64], 3);
	assert_int_equal(cfg->territories[999].parent, 99);
	assert_int_equal(cfg->targets[4321].prof[4321 % 64], 4);
	assert_int_equal(cfg->targets[4321].prof[4322 % 64], 2);
	cl_config_free(cfg);

	/* A duplicate at the very end is still found. */
	char *dup = strstr(b.p, "  - {id: partner-9999,");
	assert_non_null(dup);
	memcpy(dup + 9, "rep-9999    ", 12); /* plain scalars drop trailing spaces */
	cfg = NULL;
	assert_int_equal(cl_config_load_string(b.p, "big.yaml", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "partners[9999].id: duplicate id \"rep-9999\""));
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_inherit_and_null),
		cmocka_unit_test(test_scalar_typing),
		cmocka_unit_test(test_skills_list_and_map),
		cmocka_unit_test(test_steps_and_match),
		cmocka_unit_test(test_target_file_order),
		cmocka_unit_test(test_hostports),
		cmocka_unit_test(test_strategy_names),
		cmocka_unit_test(test_calendars),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_hostile_input),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_large_config),
	};
	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
