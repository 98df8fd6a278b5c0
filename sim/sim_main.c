/*
 * sim_main.c — the closeloop-sim command line.
 *
 *   closeloop-sim scenario (--engine HOST:PORT | --ready-file F) --config FILE
 *                 [--scenario FILE] [--check-erlang] [options]
 *   closeloop-sim load (--engine HOST:PORT | --ready-file F) --config FILE
 *                 [--window N] [--bare HOST:PORT] [options]
 *   closeloop-sim load --bare HOST:PORT --bare-only [--config FILE] [options]
 *   closeloop-sim erlang --rate R --handle-ms H --agents N [--patience-ms P]
 *                 [--sl-threshold-ms T]
 *
 * Exit status: 0 the run went through without unexpected errors (and the
 * check, when asked, passed); 1 unexpected protocol errors, a lost
 * connection or a failed check; 2 bad arguments, configuration or scenario;
 * 3 could not connect or log in. The report goes to stdout, errors and the
 * progress line to stderr. docs/sim.md is the manual.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "cfg.h"
#include "erlang.h"
#include "sim_internal.h"

#define ERR_LEN 1024
#define SIM_VERSION "0.1.0"

enum {
	O_ENGINE = 256, O_READY, O_CONFIG, O_SCENARIO, O_JSON, O_CALLS, O_DURATION, O_WARMUP,
	O_GRACE, O_RATE, O_HANDLE, O_PATIENCE, O_SL, O_PBX, O_SEED, O_SPEED, O_SETUP, O_QUIET,
	O_PROGRESS, O_CHECK, O_BATCHES, O_WINDOW, O_BARE, O_BARE_ONLY, O_AGENTS, O_TRUNKS, O_TICK,
	O_HELP,
	O_VERSION,
};

static const struct option long_opts[] = {
	{"engine", required_argument, NULL, O_ENGINE},
	{"ready-file", required_argument, NULL, O_READY},
	{"config", required_argument, NULL, O_CONFIG},
	{"scenario", required_argument, NULL, O_SCENARIO},
	{"json", required_argument, NULL, O_JSON},
	{"calls", required_argument, NULL, O_CALLS},
	{"duration-ms", required_argument, NULL, O_DURATION},
	{"warmup-ms", required_argument, NULL, O_WARMUP},
	{"grace-ms", required_argument, NULL, O_GRACE},
	{"rate", required_argument, NULL, O_RATE},
	{"handle-ms", required_argument, NULL, O_HANDLE},
	{"patience-ms", required_argument, NULL, O_PATIENCE},
	{"sl-threshold-ms", required_argument, NULL, O_SL},
	{"pbx", required_argument, NULL, O_PBX},
	{"seed", required_argument, NULL, O_SEED},
	{"speed", required_argument, NULL, O_SPEED},
	{"setup-ms", required_argument, NULL, O_SETUP},
	{"quiet", no_argument, NULL, O_QUIET},
	{"progress", no_argument, NULL, O_PROGRESS},
	{"check-erlang", no_argument, NULL, O_CHECK},
	{"batches", required_argument, NULL, O_BATCHES},
	{"window", required_argument, NULL, O_WINDOW},
	{"bare", required_argument, NULL, O_BARE},
	{"bare-only", no_argument, NULL, O_BARE_ONLY},
	{"agents", required_argument, NULL, O_AGENTS},
	{"trunk-partners", no_argument, NULL, O_TRUNKS},
	{"tick-us", required_argument, NULL, O_TICK},
	{"help", no_argument, NULL, O_HELP},
	{"version", no_argument, NULL, O_VERSION},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: closeloop-sim scenario (--engine HOST:PORT | --ready-file F) --config FILE\n"
		"                     [--scenario FILE] [--check-erlang [--batches B]] [options]\n"
		"       closeloop-sim load (--engine HOST:PORT | --ready-file F) --config FILE\n"
		"                     [--window N] [--bare HOST:PORT] [options]\n"
		"       closeloop-sim load --bare HOST:PORT --bare-only [--config FILE] [options]\n"
		"       closeloop-sim erlang --rate R --handle-ms H --agents N [--patience-ms P]\n"
		"                     [--sl-threshold-ms T]\n"
		"       closeloop-sim --help | --version\n"
		"\n"
		"  --engine HOST:PORT     the engine's protocol listener (numeric address)\n"
		"  --ready-file F         or: read \"listen HOST:PORT\" from closeloopd's ready file\n"
		"  --config FILE          the engine's YAML: reps, partners, skills, tokens\n"
		"  --scenario FILE        traffic scenario (YAML); defaults without it\n"
		"  --json FILE            also write the report as JSON\n"
		"  --calls N              stop offering after N calls\n"
		"  --duration-ms MS       stop offering after MS (scenario time)\n"
		"  --warmup-ms MS         do not count calls offered before MS\n"
		"  --grace-ms MS          after stopping, wait up to MS for live calls\n"
		"  --rate R               Poisson arrivals, calls per second (replaces the profile)\n"
		"  --handle-ms MS         exponential talk time with mean MS, for every target\n"
		"  --patience-ms MS       exponential caller patience with mean MS (0 = none)\n"
		"  --sl-threshold-ms MS   service level threshold\n"
		"  --pbx N                PBX connections (1..64)\n"
		"  --seed N               random seed (0 = from the clock)\n"
		"  --speed S              run S times faster than scenario time (default 1)\n"
		"  --setup-ms MS          connect and log-in deadline (default 10000, wall clock)\n"
		"  --quiet | --progress   no live line / a live line even when stderr is no tty\n"
		"  --check-erlang         compare p_wait, ASA, service level (and abandonment,\n"
		"                         occupancy) with Erlang C / Erlang A; exit 1 on mismatch\n"
		"  --batches B            batch-means batches for the check (default 20)\n"
		"  --window N             load: calls in flight (default 256)\n"
		"  --bare HOST:PORT       load: then drive tests/bench bare_server the same way\n"
		"  --bare-only            load: drive only the bare server\n"
		"  --agents N             erlang: number of agents\n"
		"  --trunk-partners       partners that start ready get no desk connection: they\n"
		"                         answer on their SIP trunk (only PBX traffic; the load\n"
		"                         comparison with bare_server)\n"
		"  --tick-us US           arrival and call timers fire on a US-microsecond grid\n"
		"                         (one wakeup per tick, not per call; 0 = exact timers)\n");
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "closeloop-sim: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return SIM_EXIT_USAGE;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* "listen HOST:PORT" from a closeloopd ready file. */
static int read_ready(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int rc = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "listen ", 7) == 0) {
			line[strcspn(line, "\r\n")] = '\0';
			snprintf(out, len, "%s", line + 7);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

struct cli {
	struct sim_opts o;
	const char *ready;
	double calls, duration, warmup, grace, rate, handle, patience, sl, pbx, seed, agents;
	bool progress_forced, quiet;
};

static int erlang_cmd(const struct cli *c)
{
	if (isnan(c->rate) || isnan(c->handle) || isnan(c->agents))
		return bad("%s", "erlang needs --rate, --handle-ms and --agents");
	if (c->agents < 1 || c->agents != floor(c->agents) || c->handle <= 0)
		return bad("%s", "erlang: --agents must be a whole number >= 1, --handle-ms > 0");
	double lambda = c->rate / 1000.0, mu = 1.0 / c->handle;
	double t = isnan(c->sl) ? 20000 : c->sl;
	double patience = isnan(c->patience) ? 0 : c->patience;
	unsigned n = (unsigned)c->agents;
	double a = lambda / mu;
	struct erlang_result r;
	int rc = patience > 0 ? erlang_a(lambda, mu, 1.0 / patience, n, t, &r)
			      : erlang_c_figures(lambda, mu, n, t, &r);
	printf("%s: %g calls/s, handle %g ms, %u agents: offered load %.4g Erlangs (%.1f%% per "
	       "agent)\n",
	       patience > 0 ? "M/M/N+M (Erlang A)" : "M/M/N (Erlang C)", c->rate, c->handle, n, a,
	       100 * a / n);
	if (patience > 0)
		printf("  patience: exponential, mean %g ms\n", patience);
	printf("  Erlang B blocking (no queue)   %.6f\n", erlang_b(a, n));
	if (rc < 0) {
		printf("  %s\n", erlang_strerror(rc));
		return rc == -ERLANG_EUNSTABLE ? SIM_EXIT_OK : SIM_EXIT_USAGE;
	}
	printf("  P(wait)                        %.6f\n", r.p_wait);
	if (patience > 0)
		printf("  P(abandon)                     %.6f\n", r.p_abandon);
	printf("  ASA, answered calls            %.3f ms\n", r.asa);
	printf("  mean wait, all calls           %.3f ms\n", r.mean_wait);
	printf("  mean queue length              %.4f\n", r.mean_queue);
	printf("  occupancy                      %.6f\n", r.occupancy);
	printf("  answered within %g ms        %.6f\n", t, r.answered_within);
	printf("  service level (%g ms)         %.6f  (answered within T / (answered + "
	       "abandoned after T))\n",
	       t, r.service_level);
	return SIM_EXIT_OK;
}

/* Command-line values over the scenario's, in scenario time. */
static int apply_cli(const struct cli *c, struct sim_scn *s)
{
	if (!isnan(c->calls))
		s->calls = (uint64_t)c->calls;
	if (!isnan(c->duration))
		s->duration_ms = c->duration;
	if (!isnan(c->warmup))
		s->warmup_ms = c->warmup;
	if (!isnan(c->grace))
		s->grace_ms = c->grace;
	if (!isnan(c->sl))
		s->sl_threshold_ms = c->sl;
	if (!isnan(c->pbx))
		s->pbx = (unsigned)c->pbx;
	if (!isnan(c->seed))
		s->seed = (uint64_t)c->seed;
	if (!isnan(c->rate)) {
		s->rate_per_s = c->rate;
		free(s->profile);
		s->profile = NULL;
		s->n_profile = 0;
	}
	if (!isnan(c->handle)) {
		s->beh_default.handle = (struct sim_time_dist){SIM_DIST_EXP, c->handle};
		s->beh_reps.handle.dist = SIM_DIST_INHERIT;
		s->beh_partners.handle.dist = SIM_DIST_INHERIT;
		for (size_t i = 0; i < s->n_overrides; i++)
			s->overrides[i].beh.handle.dist = SIM_DIST_INHERIT;
	}
	if (!isnan(c->patience))
		s->patience = c->patience > 0 ? (struct sim_time_dist){SIM_DIST_EXP, c->patience}
					      : (struct sim_time_dist){SIM_DIST_NONE, 0};
	if (s->calls == 0 && s->duration_ms <= 0)
		return bad("%s", "the run must end: give --calls or --duration-ms");
	return 0;
}

/* SIGINT: stop offering and finish the run in hand (report included).
 * arg is main's slot for the run being executed. */
static void on_sigint(evutil_socket_t sig, short what, void *arg)
{
	struct sim_run **cur = arg;
	(void)sig;
	(void)what;
	if (*cur)
		sim_run_stop(*cur);
}

int main(int argc, char **argv)
{
	struct cli c;
	memset(&c, 0, sizeof c);
	c.calls = c.duration = c.warmup = c.grace = c.rate = c.handle = c.patience = c.sl = NAN;
	c.pbx = c.seed = c.agents = NAN;
	c.o.speed = 1;
	c.o.window = 256;
	c.o.batches = 20;
	c.o.setup_ms = 10000;
	c.o.client = "closeloop-sim/" SIM_VERSION;

	if (argc < 2) {
		usage(stderr);
		return SIM_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("closeloop-sim %s\n", SIM_VERSION);
		return 0;
	}
	bool erlang = strcmp(cmd, "erlang") == 0;
	if (strcmp(cmd, "scenario") == 0)
		c.o.mode = SIM_MODE_SCENARIO;
	else if (strcmp(cmd, "load") == 0)
		c.o.mode = SIM_MODE_LOAD;
	else if (!erlang)
		return bad("unknown command '%s' (scenario, load, erlang; --help)", cmd);

	optind = 2;
	int opt;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		double v;
		const char *a = optarg;
		switch (opt) {
		case O_ENGINE: c.o.engine = a; break;
		case O_READY: c.ready = a; break;
		case O_CONFIG: c.o.config = a; break;
		case O_SCENARIO: c.o.scenario = a; break;
		case O_JSON: c.o.json = a; break;
		case O_BARE: c.o.bare = a; break;
		case O_BARE_ONLY: c.o.bare_only = true; break;
		case O_CHECK: c.o.check_erlang = true; break;
		case O_QUIET: c.quiet = true; break;
		case O_PROGRESS: c.progress_forced = true; break;
		case O_HELP: usage(stdout); return 0;
		case O_VERSION: printf("closeloop-sim %s\n", SIM_VERSION); return 0;
		case O_CALLS:
			if (parse_num(a, 1, 1e15, &c.calls) < 0 || c.calls != floor(c.calls))
				return bad("--calls: '%s' is not a whole number >= 1", a);
			break;
		case O_DURATION:
		case O_WARMUP:
		case O_GRACE:
		case O_HANDLE:
		case O_PATIENCE:
		case O_SL:
			if (parse_num(a, 0, 1e12, &v) < 0)
				return bad("'%s' is not a duration in ms >= 0", a);
			*(opt == O_DURATION  ? &c.duration
			  : opt == O_WARMUP  ? &c.warmup
			  : opt == O_GRACE   ? &c.grace
			  : opt == O_HANDLE  ? &c.handle
			  : opt == O_PATIENCE ? &c.patience
					      : &c.sl) = v;
			break;
		case O_RATE:
			if (parse_num(a, 1e-9, 1e7, &c.rate) < 0)
				return bad("--rate: '%s' is not a rate > 0 (calls per second)", a);
			break;
		case O_PBX:
			if (parse_num(a, 1, 64, &c.pbx) < 0 || c.pbx != floor(c.pbx))
				return bad("--pbx: '%s' is not 1..64", a);
			break;
		case O_SEED:
			if (parse_num(a, 0, 1.8e19, &c.seed) < 0 || c.seed != floor(c.seed))
				return bad("--seed: '%s' is not a whole number", a);
			break;
		case O_SPEED:
			if (parse_num(a, 1e-3, 1e6, &c.o.speed) < 0)
				return bad("--speed: '%s' is not a factor in [0.001, 1e6]", a);
			break;
		case O_SETUP:
			if (parse_num(a, 1, 1e7, &c.o.setup_ms) < 0)
				return bad("--setup-ms: '%s' is not a duration in ms", a);
			break;
		case O_BATCHES:
			if (parse_num(a, 2, SIM_MAX_BATCHES, &v) < 0 || v != floor(v))
				return bad("--batches: '%s' is not 2..1000", a);
			c.o.batches = (unsigned)v;
			break;
		case O_WINDOW:
			if (parse_num(a, 1, 1e6, &v) < 0 || v != floor(v))
				return bad("--window: '%s' is not 1..1000000", a);
			c.o.window = (unsigned)v;
			break;
		case O_AGENTS:
			if (parse_num(a, 1, 1e6, &c.agents) < 0)
				return bad("--agents: '%s' is not a number of agents", a);
			break;
		case O_TRUNKS:
			c.o.trunk_partners = true;
			break;
		case O_TICK:
			if (parse_num(a, 0, 100000, &v) < 0 || v != floor(v))
				return bad("--tick-us: '%s' is not 0..100000 microseconds", a);
			c.o.tick_us = (unsigned)v;
			break;
		default: usage(stderr); return SIM_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (erlang)
		return erlang_cmd(&c);

	if (c.o.mode != SIM_MODE_LOAD && (c.o.bare || c.o.bare_only))
		return bad("%s", "--bare and --bare-only belong to the load command");
	if (c.o.bare_only && !c.o.bare)
		return bad("%s", "--bare-only needs --bare HOST:PORT");
	if (c.o.check_erlang && c.o.mode != SIM_MODE_SCENARIO)
		return bad("%s", "--check-erlang belongs to the scenario command");
	char addr[256] = "";
	if (!c.o.bare_only) {
		if (c.ready && c.o.engine)
			return bad("%s", "give --engine or --ready-file, not both");
		if (c.ready) {
			if (read_ready(c.ready, addr, sizeof addr) < 0)
				return bad("%s: no \"listen HOST:PORT\" line (is closeloopd running?)",
					   c.ready);
			c.o.engine = addr;
		}
		if (!c.o.engine)
			return bad("%s", "give --engine HOST:PORT or --ready-file FILE");
		if (!c.o.config)
			return bad("%s", "give --config FILE (the engine's configuration)");
	}
	c.o.progress = !c.quiet && (c.progress_forced || isatty(STDERR_FILENO));

	int status = SIM_EXIT_USAGE;
	char err[ERR_LEN];
	struct cl_config *cfg = NULL, empty_cfg;
	struct sim_scn *scn = NULL;
	struct event_base *base = NULL;
	struct event *sigev = NULL;
	struct sim_run *run = NULL, *bare = NULL, *cur = NULL;
	struct sim_check chk;
	bool have_chk = false;

	if (c.o.config && cl_config_load(c.o.config, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "closeloop-sim: %s\n", err);
		goto out;
	}
	if (c.o.scenario) {
		if (sim_scn_load(c.o.scenario, &scn, err, sizeof err) < 0) {
			fprintf(stderr, "closeloop-sim: %s\n", err);
			goto out;
		}
	} else if (!cfg) {
		/* Bare server only, no engine config: a fixed caller mix. */
		static const char builtin[] =
			"name: bare\n"
			"callers: {origins: [{name: bare, caller_prefix: \"+4989\"}]}\n";
		if (sim_scn_load_string(builtin, "(built-in)", &scn, err, sizeof err) < 0) {
			fprintf(stderr, "closeloop-sim: %s\n", err);
			goto out;
		}
	} else if (!(scn = sim_scn_new_default()) || !(scn->name = strdup("default")) ||
		   !(scn->path = strdup("(defaults)"))) {
		fprintf(stderr, "closeloop-sim: out of memory\n");
		goto out;
	}
	if (c.o.mode == SIM_MODE_LOAD && !c.o.scenario) {
		/* Load defaults: a short measurement, a short grace. */
		scn->duration_ms = 5000;
		scn->grace_ms = 5000;
	}
	if (apply_cli(&c, scn) < 0)
		goto out;
	memset(&empty_cfg, 0, sizeof empty_cfg);
	if (sim_scn_bind(scn, cfg ? cfg : &empty_cfg, err, sizeof err) < 0) {
		fprintf(stderr, "closeloop-sim: %s\n", err);
		goto out;
	}
	if (c.o.check_erlang) {
		if (sim_check_precond(scn, cfg, err, sizeof err) < 0) {
			fprintf(stderr, "closeloop-sim: %s\n", err);
			goto out;
		}
		if (scn->warmup_ms <= 0) {
			/* The queue starts empty: skip ten mean handle times. */
			struct sim_beh b;
			sim_scn_behaviour(scn, cfg->targets[0].id, CFG_KIND_REP, 0, &b);
			scn->warmup_ms = 10 * b.handle.mean_ms;
		}
		if (scn->warmup_ms >= scn->duration_ms) {
			bad("%s", "--check-erlang: the warm-up is as long as the run");
			goto out;
		}
	}
	sim_scn_scale(scn, c.o.speed);

	signal(SIGPIPE, SIG_IGN);
	/* One connection per target: a config with thousands of reps needs more
	 * descriptors than the usual soft limit of 1024. */
	struct rlimit nofile;
	size_t want = (cfg ? cfg->n_targets : 0) + scn->pbx + 64;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < want) {
		nofile.rlim_cur = nofile.rlim_max < want ? nofile.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	struct event_config *ec = event_config_new();
	if (ec) {
		/* timerfd: talk and ring times to the microsecond, not the millisecond. */
		event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
		base = event_base_new_with_config(ec);
		event_config_free(ec);
	}
	if (!base) {
		fprintf(stderr, "closeloop-sim: cannot create the event loop\n");
		goto out;
	}
	sigev = evsignal_new(base, SIGINT, on_sigint, &cur);
	if (sigev)
		evsignal_add(sigev, NULL);

	status = SIM_EXIT_OK;
	if (!c.o.bare_only) {
		if (!(run = sim_run_new(base, cfg, scn, &c.o, false, c.o.engine, err, sizeof err))) {
			fprintf(stderr, "closeloop-sim: %s\n", err);
			status = SIM_EXIT_USAGE;
			goto out;
		}
		cur = run;
		status = sim_run_exec(run);
		cur = NULL;
		if (c.o.check_erlang && status != SIM_EXIT_CONNECT) {
			sim_check_eval(run, &chk);
			have_chk = true;
			if (!chk.pass || chk.why[0])
				status = status ? status : SIM_EXIT_RUN;
		}
	}
	if (c.o.bare && status != SIM_EXIT_CONNECT) {
		if (!(bare = sim_run_new(base, cfg, scn, &c.o, true, c.o.bare, err, sizeof err))) {
			fprintf(stderr, "closeloop-sim: %s\n", err);
			status = SIM_EXIT_USAGE;
			goto out;
		}
		cur = bare;
		int bs = sim_run_exec(bare);
		cur = NULL;
		if (bs != SIM_EXIT_OK && (status == SIM_EXIT_OK || bs == SIM_EXIT_CONNECT))
			status = bs;
	}
	/* The main run is the engine's; with --bare-only it is the bare one. */
	const struct sim_run *shown = run ? run : bare, *second = run ? bare : NULL;
	if (shown) {
		sim_report_text(stdout, shown, second, have_chk ? &chk : NULL);
		fflush(stdout);
		if (shown->status != SIM_EXIT_OK && shown->why[0])
			fprintf(stderr, "closeloop-sim: %s\n", shown->why);
	}
	if (c.o.json && shown &&
	    sim_report_json(c.o.json, shown, second, have_chk ? &chk : NULL, err, sizeof err) < 0) {
		fprintf(stderr, "closeloop-sim: %s\n", err);
		if (status == SIM_EXIT_OK)
			status = SIM_EXIT_RUN;
	}
out:
	sim_run_free(bare);
	sim_run_free(run);
	if (sigev)
		event_free(sigev);
	if (base)
		event_base_free(base);
	sim_scn_free(scn);
	cl_config_free(cfg);
	return status;
}
