/*
 * main.c — the closeloopd command line.
 *
 *   closeloopd --config FILE [--listen HOST:PORT] [--http HOST:PORT]
 *              [--redis HOST:PORT] [--log-level L] [--ready-file FILE]
 *              [--kamailio HOST:PORT]
 *   closeloopd --check-config FILE
 *   closeloopd --config FILE --coverage UNIVERSE
 *   closeloopd --help | --version
 *
 * Exit status: 0 success; 1 a bad configuration, a failed start, or coverage
 * findings; 2 bad arguments (usage on stderr) or an unreadable/malformed
 * coverage universe. Logs go to stderr; reports go to stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "engine.h"
#include "log.h"
#include "plugin.h"
#include "terr.h"

#define ERR_LEN 1024

enum {
	OPT_CONFIG = 'c',
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_LISTEN = 256,
	OPT_HTTP,
	OPT_REDIS,
	OPT_KAMAILIO,
	OPT_LOG_LEVEL,
	OPT_READY_FILE,
	OPT_CHECK_CONFIG,
	OPT_COVERAGE,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: closeloopd --config FILE [--listen HOST:PORT] [--http HOST:PORT]\n"
		"                  [--redis HOST:PORT] [--log-level error|warn|info|debug]\n"
		"                  [--ready-file FILE] [--kamailio HOST:PORT]\n"
		"       closeloopd --check-config FILE\n"
		"       closeloopd --config FILE --coverage UNIVERSE\n"
		"       closeloopd --help | --version\n"
		"\n"
		"  -c, --config FILE        configuration (YAML) to run with\n"
		"      --listen HOST:PORT   protocol listener (overrides the config; port 0 = any)\n"
		"      --http HOST:PORT     HTTP API listener (overrides the config)\n"
		"      --redis HOST:PORT    Redis server (overrides the config)\n"
		"      --kamailio HOST:PORT Kamailio evapi server to connect to (overrides\n"
		"                           kamailio.evapi)\n"
		"      --log-level L        error, warn, info or debug (overrides the config)\n"
		"      --ready-file FILE    written once the listeners are bound:\n"
		"                           one line per listener, e.g. \"listen 127.0.0.1:7400\"\n"
		"      --check-config FILE  check FILE, print a summary and exit (0 ok, 1 error)\n"
		"      --coverage UNIVERSE  report territory gaps and overlaps over the prefixes\n"
		"                           in UNIVERSE (\"-\" = stdin); exit 0 none, 1 findings\n"
		"  -h, --help               this text\n"
		"  -V, --version            print the version\n");
}

/* "HOST:PORT" with a non-empty host and a port 0..65535. */
static int addr_ok(const char *s)
{
	const char *c = strrchr(s, ':');
	char *end;

	if (!c || c == s || !c[1])
		return 0;
	long port = strtol(c + 1, &end, 10);
	return *end == '\0' && port >= 0 && port <= 65535;
}

static int bad_args(const char *fmt, const char *what)
{
	fprintf(stderr, "closeloopd: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n");
	usage(stderr);
	return 2;
}

static void count_targets(const struct cl_config *cfg, size_t *reps, size_t *partners)
{
	*reps = *partners = 0;
	for (size_t i = 0; i < cfg->n_targets; i++) {
		if (cfg->targets[i].kind == CFG_KIND_PARTNER)
			(*partners)++;
		else
			(*reps)++;
	}
}

static int check_config(const char *path)
{
	struct cl_config *cfg = NULL;
	char err[ERR_LEN];
	size_t reps, partners;

	if (cl_config_load(path, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* The strategy plugins are loaded and initialised with their options,
	 * as a start would, so a plugin that would stop the start fails here. */
	struct plugin_set *ps = NULL;
	if (plugin_set_load(cfg, &ps, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		cl_config_free(cfg);
		return 1;
	}
	count_targets(cfg, &reps, &partners);
	printf("%s: ok (%zu territories, %zu reps, %zu partners, %zu plans)\n", path,
	       cfg->n_territories, reps, partners, cfg->n_plans);
	struct plugin_info pi;
	for (uint32_t i = 0; plugin_set_info(ps, i, &pi) == 0; i++)
		printf("  plugin %s: %s %s (ABI %u) from %s\n", pi.name, pi.plugin_name, pi.version,
		       pi.abi_major, pi.path);
	plugin_set_free(ps);
	cl_config_free(cfg);
	return 0;
}

static int coverage(struct cl_config *cfg, const char *universe)
{
	struct terr_index *ti = NULL;
	FILE *f = NULL;
	int rc = 2;

	if (!(ti = terr_index_new(cfg))) {
		fprintf(stderr, "closeloopd: out of memory\n");
		goto out;
	}
	if (strcmp(universe, "-") == 0) {
		f = stdin;
	} else if (!(f = fopen(universe, "r"))) {
		fprintf(stderr, "closeloopd: %s: %s\n", universe, strerror(errno));
		goto out;
	}
	int n = terr_coverage(ti, f, stdout);
	fflush(stdout);
	rc = n < 0 ? 2 : n > 0 ? 1 : 0;
out:
	if (f && f != stdin)
		fclose(f);
	if (ti)
		terr_index_free(ti);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, OPT_CONFIG},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"http", required_argument, NULL, OPT_HTTP},
		{"redis", required_argument, NULL, OPT_REDIS},
		{"kamailio", required_argument, NULL, OPT_KAMAILIO},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"ready-file", required_argument, NULL, OPT_READY_FILE},
		{"check-config", required_argument, NULL, OPT_CHECK_CONFIG},
		{"coverage", required_argument, NULL, OPT_COVERAGE},
		{"help", no_argument, NULL, OPT_HELP},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *check = NULL, *universe = NULL, *level = NULL;
	struct cl_engine_opts opts = {0};
	enum cl_log_level lvl;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG: config = optarg; break;
		case OPT_LISTEN: opts.listen = optarg; break;
		case OPT_HTTP: opts.http = optarg; break;
		case OPT_REDIS: opts.redis = optarg; break;
		case OPT_KAMAILIO: opts.kamailio = optarg; break;
		case OPT_LOG_LEVEL: level = optarg; break;
		case OPT_READY_FILE: opts.ready_file = optarg; break;
		case OPT_CHECK_CONFIG: check = optarg; break;
		case OPT_COVERAGE: universe = optarg; break;
		case OPT_HELP: usage(stdout); return 0;
		case OPT_VERSION: printf("closeloopd %s\n", CL_VERSION); return 0;
		case ':': return bad_args("%s needs an argument", argv[optind - 1]);
		default: return bad_args("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad_args("unexpected argument %s", argv[optind]);
	if (level) {
		if (cl_log_parse_level(level, &lvl) < 0)
			return bad_args("bad --log-level %s (error, warn, info or debug)", level);
		cl_log_set_level(lvl);
	}
	if (opts.listen && !addr_ok(opts.listen))
		return bad_args("bad --listen %s (HOST:PORT)", opts.listen);
	if (opts.http && !addr_ok(opts.http))
		return bad_args("bad --http %s (HOST:PORT)", opts.http);
	if (opts.redis && !addr_ok(opts.redis))
		return bad_args("bad --redis %s (HOST:PORT)", opts.redis);
	if (opts.kamailio && !addr_ok(opts.kamailio))
		return bad_args("bad --kamailio %s (HOST:PORT)", opts.kamailio);

	if (check) {
		if (config || universe || opts.listen || opts.http || opts.redis || opts.ready_file ||
		    opts.kamailio)
			return bad_args("%s takes no other option but --log-level", "--check-config");
		return check_config(check);
	}
	if (!config)
		return bad_args("%s is required", "--config");

	struct cl_config *cfg = NULL;
	char err[ERR_LEN];
	if (cl_config_load(config, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return universe ? 2 : 1;
	}
	if (universe) {
		if (opts.listen || opts.http || opts.redis || opts.ready_file || opts.kamailio) {
			cl_config_free(cfg);
			return bad_args("%s takes only --config (and --log-level)", "--coverage");
		}
		int rc = coverage(cfg, universe);
		cl_config_free(cfg);
		return rc;
	}
	if (!level && cfg->log_level) {
		if (cl_log_parse_level(cfg->log_level, &lvl) == 0)
			cl_log_set_level(lvl);
		else
			CL_LOG_WARN("%s: log_level '%s' is not error|warn|info|debug; keeping info",
				    config, cfg->log_level);
	}

	/* A peer that disappears must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);

	struct cl_engine *eng = cl_engine_new(NULL, cfg, &opts); /* cfg transferred */
	if (!eng)
		return 1;
	int rc = cl_engine_start(eng);
	if (rc == 0)
		rc = cl_engine_run(eng);
	cl_engine_free(eng);
	return rc == 0 ? 0 : 1;
}
