/*
 * test_plugin.c — routing-strategy plugins: the loader and its checks, the
 * configuration's plugins: section, plugin strategies in a real router, and
 * the engine refusing to start on a bad plugin.
 *
 * Every plugin here is a real shared object loaded through the real loader
 * (plugin_set_load: dlopen, entry symbol, checks, init): the example
 * territory-affinity plugin and the fixtures of plugins/tp_fixture.c, one
 * object per defect (wrong ABI major, a table too small, no key, ...).
 * Routing tests build the router the way the engine does: configuration,
 * territory index, rt_new, rt_set_strategies.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <closeloop/plugin.h>

#include "cfg.h"
#include "engine.h"
#include "log.h"
#include "plugin.h"
#include "rt.h"
#include "terr.h"
#include "tp_fixture.h"

#define TP(name) TP_DIR "/tp_" name ".so"

/* ----------------------------------------------------------- log capture */

struct logcap {
	char text[8192];
	size_t len;
};

static void cap_sink(enum cl_log_level lvl, const char *msg, void *arg)
{
	struct logcap *c = arg;
	(void)lvl;
	int n = snprintf(c->text + c->len, sizeof c->text - c->len, "%s\n", msg);
	if (n > 0)
		c->len = c->len + (size_t)n < sizeof c->text ? c->len + (size_t)n : sizeof c->text - 1;
}

static void cap_start(struct logcap *c)
{
	memset(c, 0, sizeof *c);
	cl_log_set_level(CL_LOG_LEVEL_INFO);
	cl_log_set_sink(cap_sink, c);
}

static void cap_stop(void)
{
	cl_log_set_sink(NULL, NULL);
	cl_log_set_level(CL_LOG_LEVEL_WARN);
}

/* ------------------------------------------------------------- fixtures */

/* Territories: de > south > munich, de > north. */
#define HEAD                                                                                       \
	"auth: {pbx: [p]}\n"                                                                       \
	"router: {random_seed: 42, ring_timeout_ms: 60000}\n"                                      \
	"skills: [printers, scanners]\n"                                                           \
	"territories:\n"                                                                           \
	"  - {name: de, phone: ['+49']}\n"                                                         \
	"  - {name: south, parent: de, postal: ['8']}\n"                                           \
	"  - {name: north, parent: de, postal: ['2']}\n"                                           \
	"  - {name: munich, parent: south, postal: ['80']}\n"

/* Reps in file order r-de, r-north, r-south, r-munich (indexes 0..3). */
#define REPS                                                                                       \
	"reps:\n"                                                                                  \
	"  - {id: r-de, territories: [de], skills: {printers: 2}}\n"                               \
	"  - {id: r-north, territories: [north], skills: {printers: 3}}\n"                         \
	"  - {id: r-south, territories: [south], skills: {printers: 4}}\n"                         \
	"  - {id: r-munich, territories: [munich], skills: {printers: 5, scanners: 1}}\n"

struct fx {
	struct event_base *base;
	struct cl_config *cfg;
	struct terr_index *ti;
	struct plugin_set *ps;
	struct rt *rt;
	char routed[64][32]; /* target of each route, in order */
	size_t n_routed;
	size_t n_queued;
};

static void h_route(void *arg, const struct rt_call *c)
{
	struct fx *f = arg;
	struct rt_call_info ci;
	rt_call_info(f->rt, c, &ci);
	assert_true(f->n_routed < 64);
	snprintf(f->routed[f->n_routed++], sizeof f->routed[0], "%s", ci.target_id);
}

static void h_queued(void *arg, const struct rt_call *c, uint32_t pos, uint32_t ewt)
{
	struct fx *f = arg;
	(void)c, (void)pos, (void)ewt;
	f->n_queued++;
}

static const struct rt_hooks hooks = {.route = h_route, .queued = h_queued};

static struct cl_config *load_cfg(const char *yaml)
{
	struct cl_config *cfg = NULL;
	char err[1024];
	if (cl_config_load_string(yaml, "test.yaml", &cfg, err, sizeof err) != 0)
		fail_msg("config: %s", err);
	return cfg;
}

/* The router as the engine builds it, with the configuration's plugins. */
static struct fx *fx_new(const char *yaml)
{
	struct fx *f = calloc(1, sizeof *f);
	char err[1024];
	assert_non_null(f);
	assert_non_null(f->base = event_base_new());
	f->cfg = load_cfg(yaml);
	assert_non_null(f->ti = terr_index_new(f->cfg));
	if (plugin_set_load(f->cfg, &f->ps, err, sizeof err) != 0)
		fail_msg("plugins: %s", err);
	assert_non_null(f->rt = rt_new(f->base, f->cfg, f->ti, &hooks, f));
	uint32_t n;
	const struct rt_strategy *s = plugin_set_strategies(f->ps, &n);
	assert_int_equal(n, f->cfg->n_plugins);
	assert_int_equal(rt_set_strategies(f->rt, s, n), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	rt_free(f->rt);
	plugin_set_free(f->ps);
	terr_index_free(f->ti);
	cl_config_free(f->cfg);
	event_base_free(f->base);
	free(f);
}

static int offer(struct fx *f, const char *id, const char *postal, const char *skill)
{
	const char *sk[1] = {skill};
	struct rt_call_req req = {
		.id = id,
		.caller = "+4930",
		.postal_code = postal,
		.skills = sk,
		.n_skills = 1,
	};
	return rt_call_offer(f->rt, &req, f, 1);
}

/* Offer n calls from postal and return the target of call i in got[i]
 * ("" when it waited). */
static void route_n(struct fx *f, const char *postal, int n, const char **got)
{
	for (int i = 0; i < n; i++) {
		char id[32];
		size_t before = f->n_routed;
		snprintf(id, sizeof id, "c%zu-%d", f->n_routed + f->n_queued, i);
		assert_int_equal(offer(f, id, postal, "printers"), 0);
		got[i] = f->n_routed > before ? f->routed[f->n_routed - 1] : "";
	}
}

static char *yaml_with(const char *plugins, const char *strategy, const char *scope)
{
	static const char *fmt = HEAD REPS "%s"
				 "plans:\n"
				 "  - name: p\n"
				 "    steps: [{targets: reps, territory: %s, skills: first, strategy: %s}]\n";
	size_t n = strlen(fmt) + strlen(plugins) + strlen(strategy) + strlen(scope) + 1;
	char *y = malloc(n);
	assert_non_null(y);
	snprintf(y, n, fmt, plugins, scope, strategy);
	return y;
}

static void login_all(struct fx *f, const char *const *ids, int n, unsigned gap_us)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal(rt_target_login(f->rt, ids[i], true, NULL), 0);
		if (gap_us)
			usleep(gap_us);
	}
}

/* ------------------------------------------------ the example: affinity */

static const char *const by_idle[] = {"r-de", "r-south", "r-north", "r-munich"};

static void test_example_loads(void **state)
{
	(void)state;
	char *y = yaml_with("plugins:\n  - {name: affinity, path: '" CL_EXAMPLE_PLUGIN "'}\n",
			    "affinity", "caller");
	struct cl_config *cfg = load_cfg(y);
	struct plugin_set *ps = NULL;
	char err[512];
	assert_int_equal(plugin_set_load(cfg, &ps, err, sizeof err), 0);
	struct plugin_info pi;
	assert_int_equal(plugin_set_info(ps, 0, &pi), 0);
	assert_string_equal(pi.name, "affinity");
	assert_string_equal(pi.plugin_name, "territory-affinity");
	assert_string_equal(pi.version, "1.0.0");
	assert_string_equal(pi.path, CL_EXAMPLE_PLUGIN);
	assert_int_equal(pi.abi_major, CL_PLUGIN_ABI_MAJOR);
	assert_int_equal(pi.size, sizeof(struct cl_plugin_ops));
	assert_int_equal(plugin_set_info(ps, 1, &pi), -PLUGIN_EOPS);
	uint32_t n;
	const struct rt_strategy *s = plugin_set_strategies(ps, &n);
	assert_int_equal(n, 1);
	assert_non_null(s[0].ops->key);
	assert_int_equal(cfg->plans[0].steps[0].strategy, CFG_STRAT_PLUGIN0);
	assert_string_equal(cl_config_strategy_name(cfg, CFG_STRAT_PLUGIN0), "affinity");
	plugin_set_free(ps);
	cl_config_free(cfg);
	free(y);
}

static int queue_name_fn(void *arg, const struct rt_queue_info *q)
{
	snprintf(arg, 128, "%s", q->name);
	return 1;
}

/* A day per level: strictly nearest first, whoever idled longest. */
static void test_affinity_strict(void **state)
{
	(void)state;
	char *y = yaml_with("plugins:\n  - name: affinity\n    path: '" CL_EXAMPLE_PLUGIN "'\n"
			    "    options: {level_penalty_ms: 86400000}\n",
			    "affinity", "caller");
	struct fx *f = fx_new(y);
	login_all(f, by_idle, 4, 0); /* r-munich idle the shortest */
	const char *got[4];
	route_n(f, "80331", 4, got); /* munich */
	assert_string_equal(got[0], "r-munich"); /* serves munich: distance 0 */
	assert_string_equal(got[1], "r-south");  /* its parent: 1 */
	assert_string_equal(got[2], "r-de");     /* the root: 2 */
	assert_string_equal(got[3], "");         /* r-north is no member */
	char name[128] = "";
	rt_foreach_queue(f->rt, queue_name_fn, name);
	assert_string_equal(name, "munich/reps/printers/affinity");
	fx_free(f);
	free(y);
}

/* The same targets under plain longest-idle go the other way round. */
static void test_affinity_zero_is_longest_idle(void **state)
{
	(void)state;
	char *y = yaml_with("plugins:\n  - name: affinity\n    path: '" CL_EXAMPLE_PLUGIN "'\n"
			    "    options: {level_penalty_ms: 0}\n",
			    "affinity", "caller");
	struct fx *f = fx_new(y);
	login_all(f, by_idle, 4, 0);
	const char *got[3];
	route_n(f, "80331", 3, got);
	assert_string_equal(got[0], "r-de");
	assert_string_equal(got[1], "r-south");
	assert_string_equal(got[2], "r-munich");
	fx_free(f);
	free(y);
}

/* A soft penalty: one level away wins only after idling longer than it. */
static void test_affinity_soft(void **state)
{
	(void)state;
	static const char *const order[] = {"r-south", "r-munich"};
	for (int strict = 0; strict < 2; strict++) {
		char *y = yaml_with(strict ? "plugins:\n  - name: affinity\n    path: '" CL_EXAMPLE_PLUGIN
					     "'\n    options: {level_penalty_ms: 10000}\n"
					   : "plugins:\n  - name: affinity\n    path: '" CL_EXAMPLE_PLUGIN
					     "'\n    options: {level_penalty_ms: 40}\n",
				    "affinity", "caller");
		struct fx *f = fx_new(y);
		login_all(f, order, 2, 150000); /* r-south idles 150 ms longer */
		const char *got[1];
		route_n(f, "80331", 1, got);
		/* 150 ms idle beats a 40 ms handicap, not a 10 s one. */
		assert_string_equal(got[0], strict ? "r-munich" : "r-south");
		fx_free(f);
		free(y);
	}
}

/* A queue of a region reaches the districts below it: they are one level away. */
static void test_affinity_widened_queue(void **state)
{
	(void)state;
	char *y = yaml_with("plugins:\n  - name: affinity\n    path: '" CL_EXAMPLE_PLUGIN "'\n"
			    "    options: {level_penalty_ms: 86400000}\n",
			    "affinity", "south");
	struct fx *f = fx_new(y);
	static const char *const order[] = {"r-munich", "r-de", "r-south"};
	login_all(f, order, 3, 0);
	const char *got[3];
	route_n(f, "20095", 3, got); /* a northern caller, but the step names south */
	assert_string_equal(got[0], "r-south");  /* serves south */
	assert_string_equal(got[1], "r-munich"); /* one below (idled longer than r-de) */
	assert_string_equal(got[2], "r-de");     /* one above */
	fx_free(f);
	free(y);
}

static void expect_load_error(const char *plugins, int code, const char *const *parts)
{
	char *y = yaml_with(plugins, "longest-idle", "caller");
	struct cl_config *cfg = load_cfg(y);
	struct plugin_set *ps = (struct plugin_set *)0x1; /* must stay untouched */
	char err[1024];
	int rc = plugin_set_load(cfg, &ps, err, sizeof err);
	if (rc != -code)
		fail_msg("expected %s, got %d (%s): %s", plugin_strerror(code), rc,
			 plugin_strerror(rc), err);
	assert_ptr_equal(ps, (struct plugin_set *)0x1);
	for (; *parts; parts++)
		if (!strstr(err, *parts))
			fail_msg("error \"%s\" lacks \"%s\"", err, *parts);
	cl_config_free(cfg);
	free(y);
}

static void test_affinity_bad_options(void **state)
{
	(void)state;
	expect_load_error("plugins:\n  - {name: aff, path: '" CL_EXAMPLE_PLUGIN
			  "', options: {level_penalty_ms: soon}}\n",
			  PLUGIN_EINIT,
			  (const char *const[]){"plugin \"aff\" (" CL_EXAMPLE_PLUGIN "): ",
						"territory-affinity 1.0.0",
						"level_penalty_ms \"soon\": expected 0..86400000", NULL});
	expect_load_error("plugins:\n  - {name: aff, path: '" CL_EXAMPLE_PLUGIN
			  "', options: {level_penalty_ms: 86400001}}\n",
			  PLUGIN_EINIT, (const char *const[]){"expected 0..86400000", NULL});
	expect_load_error("plugins:\n  - {name: aff, path: '" CL_EXAMPLE_PLUGIN
			  "', options: {penalty: 5}}\n",
			  PLUGIN_EINIT,
			  (const char *const[]){"unknown option \"penalty\" (expected level_penalty_ms)",
						NULL});
}

/* ------------------------------------------------------ loader checks */

static void test_load_errors(void **state)
{
	(void)state;
	expect_load_error("plugins: [{name: x, path: '" TP_DIR "/nope.so'}]\n", PLUGIN_EOPEN,
			  (const char *const[]){"plugin \"x\" (" TP_DIR "/nope.so): cannot load: ",
						"No such file", NULL});
	/* A file that is no shared object. */
	char tmp[] = "/tmp/cl-plugin-XXXXXX";
	int fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not elf\n", 8), 8);
	close(fd);
	char plugins[256];
	snprintf(plugins, sizeof plugins, "plugins: [{name: txt, path: '%s'}]\n", tmp);
	expect_load_error(plugins, PLUGIN_EOPEN,
			  (const char *const[]){"plugin \"txt\" (", tmp, "): cannot load", NULL});
	unlink(tmp);

	expect_load_error("plugins: [{name: x, path: '" TP("no_entry") "'}]\n", PLUGIN_ESYM,
			  (const char *const[]){"(" TP("no_entry") "): no symbol cl_plugin_entry",
						NULL});
	expect_load_error("plugins: [{name: x, path: '" TP("entry_null") "'}]\n", PLUGIN_ESYM,
			  (const char *const[]){"cl_plugin_entry returned NULL", NULL});
	expect_load_error("plugins: [{name: old, path: '" TP("bad_abi") "'}]\n", PLUGIN_EABI,
			  (const char *const[]){"plugin \"old\" (" TP("bad_abi") "): ",
						"built for plugin ABI 2, this engine speaks ABI 1",
						NULL});
	expect_load_error("plugins: [{name: s, path: '" TP("small") "'}]\n", PLUGIN_ESIZE,
			  (const char *const[]){"(" TP("small") "): its ops table declares 24 bytes",
						NULL});
	expect_load_error("plugins: [{name: k, path: '" TP("null_key") "'}]\n", PLUGIN_EOPS,
			  (const char *const[]){"(" TP("null_key") "): its key callback is NULL",
						NULL});
	expect_load_error("plugins: [{name: f, path: '" TP("bad_flags") "'}]\n", PLUGIN_EOPS,
			  (const char *const[]){"unknown flags 0x80", NULL});
	expect_load_error("plugins: [{name: n, path: '" TP("noinit") "', options: {a: b}}]\n",
			  PLUGIN_EOPS, (const char *const[]){"options are given but", "takes none",
							     NULL});
	expect_load_error("plugins: [{name: g, path: '" TP("good") "', options: {fail: nope}}]\n",
			  PLUGIN_EINIT,
			  (const char *const[]){"plugin \"g\" (" TP("good") "): tp-good 0.1 test: "
						"refused: nope",
						NULL});
}

/* A failure after a good plugin releases it: fini once, object closed. */
static void test_load_error_releases_earlier(void **state)
{
	(void)state;
	void *h = dlopen(TP("good"), RTLD_NOW | RTLD_LOCAL); /* keeps the record alive */
	assert_non_null(h);
	tp_record_fn recf;
	void *sym = dlsym(h, "tp_record");
	assert_non_null(sym);
	memcpy(&recf, &sym, sizeof recf);
	struct tp_rec *rec = recf();
	int inits = rec->inits, finis = rec->finis;
	expect_load_error("plugins:\n"
			  "  - {name: g, path: '" TP("good") "'}\n"
			  "  - {name: old, path: '" TP("bad_abi") "'}\n",
			  PLUGIN_EABI, (const char *const[]){"plugin \"old\"", NULL});
	assert_int_equal(rec->inits, inits + 1);
	assert_int_equal(rec->finis, finis + 1);
	dlclose(h);
}

/* ------------------------------------------- views, services, instances */

static void test_views_and_host_services(void **state)
{
	(void)state;
	void *h = dlopen(TP("good"), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	tp_record_fn recf;
	void *sym = dlsym(h, "tp_record");
	memcpy(&recf, &sym, sizeof recf);
	struct tp_rec *rec = recf();
	memset(rec, 0, sizeof *rec);

	struct logcap cap;
	cap_start(&cap);
	char *y = yaml_with("plugins:\n  - name: bu\n    path: '" TP("good") "'\n"
			    "    options: {mode: strict, note: 'two words'}\n",
			    "bu", "caller");
	struct fx *f = fx_new(y);
	cap_stop();
	assert_non_null(strstr(cap.text, "plugin bu: hello from bu\n"));
	assert_non_null(strstr(cap.text, "plugin bu: tp-good 0.1 test loaded from " TP("good")));
	assert_int_equal(rec->inits, 1);
	assert_string_equal(rec->instance, "bu");
	assert_int_equal(rec->host_size, sizeof(struct cl_plugin_host));
	assert_int_equal(rec->host_abi_major, CL_PLUGIN_ABI_MAJOR);
	assert_int_equal(rec->host_abi_minor, CL_PLUGIN_ABI_MINOR);
	/* de(0) root; north(2) and south(1) under de; munich(3) under south. */
	assert_int_equal(rec->parent_of[0], -1);
	assert_int_equal(rec->parent_of[1], 0);
	assert_int_equal(rec->parent_of[2], 0);
	assert_int_equal(rec->parent_of[3], 1);
	assert_int_equal(rec->parent_of[4], -1); /* no such territory */
	assert_true(rec->rnd[0] != rec->rnd[1]);
	assert_true(rec->now_us > 1600000000000000ull);
	assert_int_equal(rec->n_opts, 2);
	assert_string_equal(rec->opt_key[0], "mode");
	assert_string_equal(rec->opt_val[0], "strict");
	assert_string_equal(rec->opt_key[1], "note");
	assert_string_equal(rec->opt_val[1], "two words");

	/* Bottom-up: the member listed last in the configuration first. */
	login_all(f, by_idle, 4, 0);
	const char *got[3];
	route_n(f, "80331", 3, got);
	assert_string_equal(got[0], "r-munich");
	assert_string_equal(got[1], "r-south");
	assert_string_equal(got[2], "r-de");
	assert_true(rec->keys >= 3);

	/* The last view it saw: r-munich re-listed at the end of its call. */
	assert_int_equal(rt_call_answered(f->rt, "c0-0", NULL, f), 0);
	assert_int_equal(rt_call_ended(f->rt, "c0-0", f), 0);
	assert_int_equal(rec->tv.size, sizeof(struct cl_target_view));
	assert_string_equal(rec->tv.id, "r-munich");
	assert_int_equal(rec->tv.index, 3);
	assert_int_equal(rec->tv.kind, CL_TARGET_REP);
	assert_int_equal(rec->tv.capacity, 1);
	assert_int_equal(rec->tv.active, 0);
	assert_int_equal(rec->tv.n_territories, 1);
	assert_int_equal(rec->tv.terr0, 3);
	assert_int_equal(rec->tv.prof[0], 5); /* printers */
	assert_int_equal(rec->tv.prof[1], 1); /* scanners */
	assert_int_equal(rec->tv.offered, 1);
	assert_int_equal(rec->tv.answered, 1);
	assert_true(rec->tv.now_us >= rec->tv.idle_since_us);
	assert_true(rec->tv.share > 0.99 && rec->tv.share < 1.01);
	assert_true(rec->tv.closure_score > 0);
	assert_int_equal(rec->qv.size, sizeof(struct cl_queue_view));
	assert_int_equal(rec->qv.territory, 3);
	assert_string_equal(rec->qv.territory_name, "munich");
	assert_string_equal(rec->qv.name, "munich/reps/printers/bu");
	assert_int_equal(rec->qv.skills, 1); /* bit 0: printers */
	assert_int_equal(rec->qv.min_prof, 1);
	assert_int_equal(rec->qv.set, CL_SET_REPS);
	assert_int_equal(rec->qv.n_options, 2);
	assert_string_equal(rec->qv.opt0_key, "mode");

	fx_free(f);
	assert_int_equal(rec->finis, 1); /* fini ran when the set was freed */
	free(y);
	dlclose(h);
}

/* Seeded runs repeat: the same seed and instance name give the same numbers. */
static void test_random_is_seeded(void **state)
{
	(void)state;
	void *h = dlopen(TP("good"), RTLD_NOW | RTLD_LOCAL);
	tp_record_fn recf;
	void *sym = dlsym(h, "tp_record");
	memcpy(&recf, &sym, sizeof recf);
	struct tp_rec *rec = recf();
	uint64_t first[2], other[2];
	const char *names[3] = {"bu", "bu", "other"};
	for (int i = 0; i < 3; i++) {
		char plugins[256];
		snprintf(plugins, sizeof plugins, "plugins: [{name: %s, path: '" TP("good") "'}]\n",
			 names[i]);
		char *y = yaml_with(plugins, "longest-idle", "caller");
		struct fx *f = fx_new(y);
		if (i == 0)
			memcpy(first, rec->rnd, sizeof first);
		else if (i == 1)
			assert_memory_equal(first, rec->rnd, sizeof first);
		else
			memcpy(other, rec->rnd, sizeof other);
		fx_free(f);
		free(y);
	}
	assert_memory_not_equal(first, other, sizeof first);
	dlclose(h);
}

/* One object, two instances with their own options and state. */
static void test_two_instances(void **state)
{
	(void)state;
	void *h = dlopen(TP("good"), RTLD_NOW | RTLD_LOCAL);
	tp_record_fn recf;
	void *sym = dlsym(h, "tp_record");
	memcpy(&recf, &sym, sizeof recf);
	struct tp_rec *rec = recf();
	int inits = rec->inits, finis = rec->finis;
	const char *yaml = HEAD REPS
		"plugins:\n"
		"  - {name: one, path: '" TP("good") "', options: {k: '1'}}\n"
		"  - {name: two, path: '" TP("good") "', options: {k: '2'}}\n"
		"plans:\n"
		"  - name: scan\n"
		"    match: {skills: [scanners]}\n"
		"    steps: [{targets: reps, territory: any, strategy: two}]\n"
		"  - name: p\n"
		"    steps: [{targets: reps, territory: any, strategy: one}]\n";
	struct fx *f = fx_new(yaml);
	assert_int_equal(rec->inits, inits + 2);
	assert_int_equal(f->cfg->plans[0].steps[0].strategy, CFG_STRAT_PLUGIN0 + 1);
	assert_int_equal(f->cfg->plans[1].steps[0].strategy, CFG_STRAT_PLUGIN0);
	login_all(f, by_idle, 4, 0);
	assert_int_equal(offer(f, "s1", "80331", "scanners"), 0);
	assert_string_equal(f->routed[0], "r-munich");
	assert_string_equal(rec->qv.name, "*/reps/scanners/two");
	assert_int_equal(offer(f, "p1", "80331", "printers"), 0);
	assert_string_equal(f->routed[1], "r-south");
	assert_string_equal(rec->qv.name, "*/reps/printers/one");
	fx_free(f);
	assert_int_equal(rec->finis, finis + 2);
	dlclose(h);
}

/* A plugin built for a later 1.x (a larger table) loads; the extra is ignored. */
static void test_newer_minor_and_stateless(void **state)
{
	(void)state;
	const char *names[2] = {TP("newer"), TP("noinit")};
	for (int i = 0; i < 2; i++) {
		char plugins[512];
		snprintf(plugins, sizeof plugins, "plugins: [{name: bu, path: '%s'}]\n", names[i]);
		char *y = yaml_with(plugins, "bu", "caller");
		struct fx *f = fx_new(y);
		struct plugin_info pi;
		assert_int_equal(plugin_set_info(f->ps, 0, &pi), 0);
		if (i == 0)
			assert_true(pi.size > sizeof(struct cl_plugin_ops));
		login_all(f, by_idle, 4, 0);
		const char *got[2];
		route_n(f, "80331", 2, got);
		assert_string_equal(got[0], "r-munich");
		assert_string_equal(got[1], "r-south");
		fx_free(f);
		free(y);
	}
}

/* --------------------------------------------------------- configuration */

static void expect_cfg_error(const char *yaml, const char *name, const char *part)
{
	struct cl_config *cfg = NULL;
	char err[1024];
	assert_int_equal(cl_config_load_string(yaml, name, &cfg, err, sizeof err), -1);
	assert_null(cfg);
	if (!strstr(err, part))
		fail_msg("error \"%s\" lacks \"%s\"", err, part);
}

static void test_config_plugins(void **state)
{
	(void)state;
	const char *plans = "plans: [{name: p, steps: [{targets: reps}]}]\n";
	char y[4096];

#define CASE(plugins, part)                                                                        \
	do {                                                                                       \
		snprintf(y, sizeof y, "%s%s%s", HEAD REPS, plugins, plans);                        \
		expect_cfg_error(y, "c.yaml", part);                                               \
	} while (0)
	CASE("plugins:\n  - {name: a, path: /x/a.so}\n  - {name: a, path: /x/b.so}\n",
	     "c.yaml:16: plugins[1].name: duplicate plugin name \"a\" (first at line 15, path "
	     "/x/a.so)");
	CASE("plugins: [{name: random, path: /x/a.so}]\n",
	     "plugins[0].name: \"random\" is a built-in strategy");
	CASE("plugins: [{name: Bad, path: /x/a.so}]\n", "\"Bad\" is not a strategy name");
	CASE("plugins: [{name: a}]\n", "plugins[0]: plugin \"a\": missing required key \"path\"");
	CASE("plugins: [{path: /x/a.so}]\n", "plugins[0]: missing required key \"name\"");
	CASE("plugins: [{name: a, path: /x/a.so, options: [1, 2]}]\n",
	     "plugins[0].options: expected a mapping");
	CASE("plugins: [{name: a, path: /x/a.so, options: {k: }}]\n",
	     "plugins[0].options.k: needs a value");
	CASE("plugins: [{name: a, path: /x/a.so, options: {k: [1]}}]\n",
	     "plugins[0].options.k: expected a scalar value");
	CASE("plugins: [{name: a, path: /x/a.so, options: {k: 1, k: 2}}]\n", "duplicate");
	CASE("plugins: [{name: a, path: /x/a.so, extra: 1}]\n", "unknown key \"extra\"");
	CASE("plugins: {name: a}\n", "plugins: expected a list");
#undef CASE

	/* A plan step naming a strategy that is neither built in nor a plugin. */
	expect_cfg_error(HEAD REPS "plugins: [{name: aff, path: /x/a.so}]\n"
				   "plans: [{name: p, steps: [{targets: reps, strategy: afff}]}]\n",
			 "c.yaml",
			 "plans[0].steps[0].strategy: \"afff\" is not one of: "
			 "longest-idle, fewest-calls, round-robin, top-down, random, "
			 "proficiency-first, weighted-share, performance-weighted, aff (plugin)");
	expect_cfg_error(HEAD REPS "plans: [{name: p, steps: [{targets: reps, strategy: aff}]}]\n",
			 "c.yaml", "(a strategy plugin must be listed under plugins:)");

	/* Relative paths are relative to the configuration file's directory. */
	struct cl_config *cfg = NULL;
	char err[512];
	snprintf(y, sizeof y, "%s%s%s", HEAD REPS,
		 "plugins:\n  - {name: a, path: lib/a.so, options: {x: '1', y: two}}\n"
		 "  - {name: b, path: /abs/b.so}\n",
		 plans);
	assert_int_equal(cl_config_load_string(y, "/etc/closeloop/c.yaml", &cfg, err, sizeof err), 0);
	assert_int_equal(cfg->n_plugins, 2);
	assert_string_equal(cfg->plugins[0].path, "/etc/closeloop/lib/a.so");
	assert_string_equal(cfg->plugins[1].path, "/abs/b.so");
	assert_int_equal(cfg->plugins[0].n_options, 2);
	assert_string_equal(cfg->plugins[0].options[1].key, "y");
	assert_string_equal(cfg->plugins[0].options[1].value, "two");
	assert_string_equal(cl_config_strategy_name(cfg, CFG_STRAT_PLUGIN0 + 1), "b");
	assert_string_equal(cl_config_strategy_name(cfg, CFG_STRAT_PLUGIN0 + 2), "unknown");
	assert_string_equal(cl_config_strategy_name(cfg, CFG_STRAT_RANDOM), "random");
	cl_config_free(cfg);
}

/* ------------------------------------------------ router binding rules */

static void test_set_strategies_rules(void **state)
{
	(void)state;
	char *y = yaml_with("plugins: [{name: bu, path: '" TP("noinit") "'}]\n", "bu", "caller");
	struct cl_config *cfg = load_cfg(y);
	struct event_base *base = event_base_new();
	struct terr_index *ti = terr_index_new(cfg);
	struct plugin_set *ps = NULL;
	char err[512];
	assert_int_equal(plugin_set_load(cfg, &ps, err, sizeof err), 0);
	uint32_t n;
	const struct rt_strategy *s = plugin_set_strategies(ps, &n);
	struct fx f = {0};
	struct rt *rt = rt_new(base, cfg, ti, &hooks, &f);
	assert_non_null(rt);
	f.rt = rt;
	assert_int_equal(rt_set_strategies(rt, s, 0), -RT_EINVAL); /* count */
	const struct cl_plugin_ops nokey = {.abi_major = CL_PLUGIN_ABI_MAJOR,
					    .size = sizeof nokey, .name = "x", .version = "0"};
	const struct rt_strategy bad = {.ops = &nokey};
	assert_int_equal(rt_set_strategies(rt, &bad, 1), -RT_EINVAL); /* would call NULL */
	assert_int_equal(rt_set_strategies(rt, s, n), 0);
	assert_int_equal(rt_target_login(rt, "r-de", true, NULL), 0);
	assert_int_equal(offer(&f, "c1", "80331", "printers"), 0);
	assert_string_equal(f.routed[0], "r-de");
	/* The queue exists and carries its strategy: too late to change. */
	assert_int_equal(rt_set_strategies(rt, s, n), -RT_ESTATE);
	rt_free(rt);
	plugin_set_free(ps);
	terr_index_free(ti);
	event_base_free(base);
	cl_config_free(cfg);
	free(y);
}

/* A router whose owner did not bind the plugins still routes, and says so. */
static void test_unbound_plugin_falls_back(void **state)
{
	(void)state;
	char *y = yaml_with("plugins: [{name: bu, path: '" TP("noinit") "'}]\n", "bu", "caller");
	struct cl_config *cfg = load_cfg(y);
	struct event_base *base = event_base_new();
	struct terr_index *ti = terr_index_new(cfg);
	struct fx f = {0};
	f.rt = rt_new(base, cfg, ti, &hooks, &f);
	login_all(&f, by_idle, 4, 0);
	struct logcap cap;
	cap_start(&cap);
	const char *got[2];
	route_n(&f, "80331", 2, got);
	cap_stop();
	assert_string_equal(got[0], "r-de"); /* longest-idle, not bottom-up */
	assert_string_equal(got[1], "r-south");
	assert_non_null(strstr(cap.text, "queue munich/reps/printers/bu: strategy bu is not loaded; "
					 "ordering by longest-idle"));
	rt_free(f.rt);
	terr_index_free(ti);
	event_base_free(base);
	cl_config_free(cfg);
	free(y);
}

/* ------------------------------------------------------------ the engine */

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static void test_engine_plugins(void **state)
{
	(void)state;
	struct cl_engine_opts o = {.listen = "127.0.0.1:0", .no_signals = true};
	struct logcap cap;

	/* A bad plugin: the engine refuses to start and says which and why. */
	char *bad = yaml_with("plugins: [{name: old, path: '" TP("bad_abi") "'}]\n", "old", "caller");
	cap_start(&cap);
	struct cl_engine *eng = cl_engine_new(NULL, load_cfg(bad), &o); /* cfg transferred */
	cap_stop();
	assert_null(eng);
	assert_non_null(strstr(cap.text, "plugin \"old\" (" TP("bad_abi") "): built for plugin ABI 2"));

	/* A good one: the engine's router routes with it. */
	char *good = yaml_with("plugins: [{name: bu, path: '" TP("noinit") "'}]\n", "bu", "caller");
	assert_non_null(eng = cl_engine_new(NULL, load_cfg(good), &o));
	struct rt *rt = cl_engine_rt(eng);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rt_target_login(rt, by_idle[i], true, NULL), 0);
	struct rt_target_info before;
	rt_target_info(rt, rt_target_find(rt, "r-munich"), &before);
	const char *sk[1] = {"printers"};
	struct rt_call_req req = {.id = "e1", .caller = "+4930", .postal_code = "80331",
				  .skills = sk, .n_skills = 1};
	assert_int_equal(rt_call_offer(rt, &req, NULL, 1), 0);
	struct rt_target_info after;
	rt_target_info(rt, rt_target_find(rt, "r-munich"), &after);
	assert_int_equal(after.offered, before.offered + 1); /* bottom-up: listed last */

	/* Reload: a bad plugin is refused and the running set stays ... */
	char dir[] = "/tmp/cl-plugin-dir-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p1[128], p2[128], err[1024];
	snprintf(p1, sizeof p1, "%s/bad.yaml", dir);
	snprintf(p2, sizeof p2, "%s/good.yaml", dir);
	write_file(p1, bad);
	cap_start(&cap);
	assert_int_equal(cl_engine_reload(eng, p1, err, sizeof err), -1);
	cap_stop();
	assert_non_null(strstr(err, "plugin \"old\" (" TP("bad_abi") "): built for plugin ABI 2"));
	assert_string_equal(cl_engine_config(eng)->plugins[0].name, "bu");
	/* ... and a good one is taken, with its plugins (relative path). */
	char *rel = yaml_with("plugins: [{name: aff, path: rel.so}]\n", "aff", "caller");
	char relso[160];
	snprintf(relso, sizeof relso, "%s/rel.so", dir);
	assert_int_equal(symlink(CL_EXAMPLE_PLUGIN, relso), 0);
	write_file(p2, rel);
	cap_start(&cap);
	int rc = cl_engine_reload(eng, p2, err, sizeof err);
	cap_stop();
	if (rc != 0)
		fail_msg("reload: %s", err);
	assert_string_equal(cl_engine_config(eng)->plugins[0].path, relso);
	assert_non_null(strstr(cap.text, "plugin aff: territory-affinity 1.0.0 loaded from"));
	cl_engine_free(eng);
	unlink(relso);
	unlink(p1);
	unlink(p2);
	rmdir(dir);
	free(bad);
	free(good);
	free(rel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_affinity_strict),
		cmocka_unit_test(test_affinity_zero_is_longest_idle),
		cmocka_unit_test(test_affinity_soft),
		cmocka_unit_test(test_affinity_widened_queue),
		cmocka_unit_test(test_affinity_bad_options),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_error_releases_earlier),
		cmocka_unit_test(test_views_and_host_services),
		cmocka_unit_test(test_random_is_seeded),
		cmocka_unit_test(test_two_instances),
		cmocka_unit_test(test_newer_minor_and_stateless),
		cmocka_unit_test(test_config_plugins),
		cmocka_unit_test(test_set_strategies_rules),
		cmocka_unit_test(test_unbound_plugin_falls_back),
		cmocka_unit_test(test_engine_plugins),
	};
	cl_log_set_level(CL_LOG_LEVEL_WARN);
	return cmocka_run_group_tests_name("plugin", tests, NULL, NULL);
}
