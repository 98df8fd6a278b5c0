/*
 * engine.c — struct cl_engine (see engine.h): builds the modules in order
 * (territory index, strategy plugins, router, protocol server; a plugin that
 * fails to load stops the start with its reason), wires the router's hooks to
 * their consumers, owns the signals and the orderly shutdown.
 *
 * The router takes one hook table and one argument; the engine is that
 * argument and forwards each hook to the module that consumes it (the server
 * for everything a peer must be told, the publisher for the event stream,
 * the sales loop for every event: call records, KPIs, follow-up attempts).
 * The trampolines cost one indirect call per decision and keep the router,
 * the server and the publisher ignorant of each other.
 *
 * Shutdown order: reject the waiting calls (RejectCall SHUTDOWN, so each PBX
 * can play its fallback); stop accepting; stop reading; let queued output drain
 * (bounded by drain_ms); free the sessions (each one tells the router it is
 * gone); then the router, the territory index, the configuration and, when
 * owned, the event_base.
 */
#include "engine.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cfg.h"
#include "engine_pub.h"
#include "http.h"
#include "kam.h"
#include "log.h"
#include "pub.h"
#include "plugin.h"
#include "rt.h"
#include "sales.h"
#include "srv.h"
#include "terr.h"

#define ENGINE_DEFAULT_LISTEN "127.0.0.1:7400"
#define ENGINE_DEFAULT_DRAIN_MS 2000u

/* Modules that attach here later (see the struct below). */
struct engine_pub;
struct http_api;

struct cl_engine {
	struct event_base *base;
	bool own_base;
	struct cl_config *cfg;  /* owned */
	struct terr_index *ti;  /* owned; borrows cfg */
	struct rt *rt;          /* owned; borrows cfg, ti, plugins' strategies */
	struct plugin_set *plugins; /* owned; borrows cfg (strategy plugins) */
	struct srv *srv;        /* owned; borrows cfg, rt */
	struct kam *kam;        /* owned; NULL = no Kamailio link; reads rt and cfg through eng */
	struct sales *sales;    /* owned; borrows cfg, rt, the publisher; fed every router
				   event; owns the follow-up calls it offers (owner.h) */

	/*
	 * Attachment points, NULL until those modules exist:
	 * - pub: the Redis publisher. Built in cl_engine_new after the router
	 *   (it borrows cfg->redis, overridden by redis_addr), fed every router
	 *   event from eng_event() below, started (connect) in cl_engine_start,
	 *   flushed in cl_engine_stop before the loop ends, freed in
	 *   cl_engine_free right after the server.
	 * - http: the HTTP API (health, metrics from srv_stats / rt_stats,
	 *   stats, reload, drain). Bound in cl_engine_start on http_addr next
	 *   to the protocol listener and written to the ready file as
	 *   "http HOST:PORT"; shut down with the server.
	 */
	struct engine_pub *pub; /* NULL when Redis publishing is off */
	struct event *pub_flush; /* stop: wait for the publisher's backlog */
	uint64_t pub_flush_end;
	struct http_api *http;

	struct event *sigint, *sigterm, *sighup;
	char *listen_addr;  /* owned copies of the effective addresses */
	char *http_addr;    /* NULL = off */
	char *redis_addr;   /* NULL = from the config */
	char *ready_file;   /* NULL = none */
	uint32_t drain_ms;
	bool no_signals;
	bool started, stopping, stopped;
	uint64_t events;
};

/* ---- router hooks: forwarded to their consumers ---- */

static void eng_route(void *arg, const struct rt_call *c)
{
	struct cl_engine *eng = arg;
	if (eng->srv)
		srv_hook_route(eng->srv, c);
	if (eng->kam)
		kam_hook_route(eng->kam, c);
	if (eng->http) /* http's hooks skip calls that are not its own (owner.h) */
		http_hook_route(eng->http, c);
}

static void eng_queued(void *arg, const struct rt_call *c, uint32_t pos, uint32_t ewt_ms)
{
	struct cl_engine *eng = arg;
	if (eng->srv)
		srv_hook_queued(eng->srv, c, pos, ewt_ms);
	if (eng->kam)
		kam_hook_queued(eng->kam, c, pos, ewt_ms);
	if (eng->http)
		http_hook_queued(eng->http, c, pos, ewt_ms);
}

static void eng_reject(void *arg, const struct rt_call *c, enum rt_reject why, const char *text)
{
	struct cl_engine *eng = arg;
	if (eng->srv)
		srv_hook_reject(eng->srv, c, why, text);
	if (eng->kam)
		kam_hook_reject(eng->kam, c, why, text);
	if (eng->http)
		http_hook_reject(eng->http, c, why, text);
}

static void eng_offer(void *arg, const struct rt_call *c, const struct rt_target *t,
		      bool needs_accept, uint32_t timeout_ms)
{
	struct cl_engine *eng = arg;
	if (eng->srv)
		srv_hook_offer(eng->srv, c, t, needs_accept, timeout_ms);
}

static void eng_revoke(void *arg, const struct rt_call *c, const struct rt_target *t,
		       const char *reason)
{
	struct cl_engine *eng = arg;
	if (eng->srv)
		srv_hook_revoke(eng->srv, c, t, reason);
}

static void eng_status(void *arg, const struct rt_target *t)
{
	struct cl_engine *eng = arg;
	if (eng->srv)
		srv_hook_status(eng->srv, t);
}

static void eng_event(void *arg, const struct rt_event *ev)
{
	struct cl_engine *eng = arg;
	(void)ev;
	eng->events++;
	engine_pub_event(eng->pub, ev);
	sales_event(eng->sales, ev); /* call records, KPIs, follow-up attempts */
	if (eng->http) /* waiting-time histogram; ends of HTTP-owned calls */
		http_hook_event(eng->http, ev);
}

static const struct rt_hooks eng_hooks = {
	.route = eng_route,
	.queued = eng_queued,
	.reject = eng_reject,
	.offer = eng_offer,
	.revoke = eng_revoke,
	.status = eng_status,
	.event = eng_event,
};

/* ---- lifetime ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Give a new router the strategy plugins of its configuration. */
static int bind_strategies(struct rt *rt, const struct plugin_set *ps)
{
	uint32_t n;
	const struct rt_strategy *s = plugin_set_strategies(ps, &n);
	return rt_set_strategies(rt, s, n);
}

struct cl_engine *cl_engine_new(struct event_base *base, struct cl_config *cfg,
				const struct cl_engine_opts *opts)
{
	struct cl_engine_opts none = {0};
	struct cl_engine *eng = NULL;

	if (!cfg)
		return NULL;
	if (!opts)
		opts = &none;
	if (!(eng = calloc(1, sizeof *eng)))
		goto fail;
	eng->cfg = cfg;
	cfg = NULL; /* owned by eng from here */
	if (base) {
		eng->base = base;
	} else {
		if (!(eng->base = event_base_new()) || event_base_priority_init(eng->base, 3) < 0)
			goto fail;
		eng->own_base = true;
	}
	const char *listen = opts->listen ? opts->listen : eng->cfg->listen;
	if (!(eng->listen_addr = strdup(listen ? listen : ENGINE_DEFAULT_LISTEN)))
		goto fail;
	const char *http = opts->http ? opts->http : eng->cfg->http;
	if (http && !(eng->http_addr = strdup(http)))
		goto fail;
	if (opts->redis && !(eng->redis_addr = dup_or_null(opts->redis)))
		goto fail;
	if (opts->ready_file && !(eng->ready_file = dup_or_null(opts->ready_file)))
		goto fail;
	eng->drain_ms = opts->drain_ms ? opts->drain_ms : ENGINE_DEFAULT_DRAIN_MS;
	eng->no_signals = opts->no_signals;

	if (!(eng->ti = terr_index_new(eng->cfg)))
		goto fail;
	char perr[512];
	if (plugin_set_load(eng->cfg, &eng->plugins, perr, sizeof perr) < 0) {
		CL_LOG_ERROR("engine: %s", perr);
		goto fail_logged;
	}
	if (!(eng->rt = rt_new(eng->base, eng->cfg, eng->ti, &eng_hooks, eng)) ||
	    bind_strategies(eng->rt, eng->plugins) < 0)
		goto fail;
	if (!(eng->srv = srv_new(eng->base, eng->cfg, "closeloopd " CL_VERSION)))
		goto fail;
	srv_set_rt(eng->srv, eng->rt);
	if (!(eng->sales = sales_new(eng->base, eng->cfg, eng->rt)))
		goto fail;
	srv_set_sales(eng->srv, eng->sales);
	const char *kamailio = opts->kamailio ? opts->kamailio : eng->cfg->kamailio.evapi;
	if (kamailio && !(eng->kam = kam_new(eng->base, eng, kamailio)))
		goto fail_logged; /* kam_new logged why */
	return eng;
fail:
	CL_LOG_ERROR("engine: out of memory while starting");
fail_logged:
	if (eng)
		cl_engine_free(eng);
	else
		cl_config_free(cfg);
	return NULL;
}

static void engine_done(struct cl_engine *eng)
{
	eng->stopped = true;
	CL_LOG_INFO("engine: stopped");
	event_base_loopexit(eng->base, NULL);
}

/* Let the publisher deliver what it holds (bounded by drain_ms); what is
 * left goes to its journal when it is freed. */
static void on_pub_flush(evutil_socket_t fd, short what, void *arg)
{
	struct cl_engine *eng = arg;
	struct pub *p = engine_pub_publisher(eng->pub);
	struct timeval now;
	(void)fd;
	(void)what;
	evutil_gettimeofday(&now, NULL);
	uint64_t ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_usec / 1000u;
	if (pub_idle(p) || !pub_connected(p) || ms >= eng->pub_flush_end) {
		if (pub_backlog(p))
			CL_LOG_WARN("engine: %llu events not yet in Redis at stop; kept in the "
				    "journal if one is configured",
				    (unsigned long long)pub_backlog(p));
		engine_done(eng);
		return;
	}
	struct timeval tv = {0, 10 * 1000};
	evtimer_add(eng->pub_flush, &tv);
}

static void on_srv_done(void *arg)
{
	struct cl_engine *eng = arg;
	struct timeval now;

	if (!eng->pub || !(eng->pub_flush = evtimer_new(eng->base, on_pub_flush, eng))) {
		engine_done(eng);
		return;
	}
	evutil_gettimeofday(&now, NULL);
	eng->pub_flush_end = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_usec / 1000u +
			     eng->drain_ms;
	pub_flush(engine_pub_publisher(eng->pub)); /* state hashes too, not after the delay */
	on_pub_flush(-1, 0, eng);
}

void cl_engine_stop(struct cl_engine *eng)
{
	if (eng->stopping) {
		CL_LOG_WARN("engine: stop requested again; ending the loop now");
		event_base_loopbreak(eng->base);
		return;
	}
	eng->stopping = true;
	uint32_t n = rt_reject_waiting(eng->rt, RT_REJECT_SHUTDOWN, "engine shutting down");
	kam_stop(eng->kam); /* sends those rejections, then closes the Kamailio link */
	http_shutdown(eng->http); /* answers the requests still waiting; refuses new ones */
	CL_LOG_INFO("engine: stopping (%u waiting calls rejected; draining for at most %u ms)", n,
		    eng->drain_ms);
	srv_shutdown(eng->srv, eng->drain_ms, on_srv_done, eng);
}

/*
 * Reload: load and check the file, build a territory index and a router from
 * it, let the new router adopt the old one's targets and live calls
 * (rt_adopt), then swap. Any failure before the swap leaves everything as it
 * was. Addresses (listen, http, redis) are bound at start and need a restart;
 * a change to them is reported and not applied.
 */
int cl_engine_reload(struct cl_engine *eng, const char *path, char *err, size_t errlen)
{
	char buf[512];
	struct cl_config *cfg = NULL;
	struct terr_index *ti = NULL;
	struct plugin_set *ps = NULL;
	struct rt *rt = NULL;

	if (!err || !errlen) {
		err = buf;
		errlen = sizeof buf;
	}
	const char *file = path ? path : eng->cfg->path;
	if (cl_config_load(file, &cfg, err, errlen) < 0) {
		CL_LOG_WARN("engine: reload refused, the running configuration stays: %s", err);
		return -1;
	}
	if (plugin_set_load(cfg, &ps, err, errlen) < 0) {
		CL_LOG_WARN("engine: reload refused, the running configuration stays: %s", err);
		cl_config_free(cfg);
		return -1;
	}
	if (!(ti = terr_index_new(cfg)) || !(rt = rt_new(eng->base, cfg, ti, &eng_hooks, eng)) ||
	    bind_strategies(rt, ps) < 0) {
		snprintf(err, errlen, "out of memory building the new router");
		CL_LOG_ERROR("engine: reload failed: %s", err);
		rt_free(rt);
		terr_index_free(ti);
		plugin_set_free(ps);
		cl_config_free(cfg);
		return -1;
	}
	const char *why = NULL;
	if (cfg->listen && eng->cfg->listen && strcmp(cfg->listen, eng->cfg->listen) != 0)
		why = "engine.listen";
	else if ((cfg->http == NULL) != (eng->cfg->http == NULL) ||
		 (cfg->http && strcmp(cfg->http, eng->cfg->http) != 0))
		why = "engine.http";
	if (why)
		CL_LOG_WARN("engine: reload: %s changed; it takes effect at the next restart", why);

	/* Swap first: the adoption fires hooks (calls routed at once under the
	 * new plans), and every hook reads the engine's current router. */
	struct cl_config *old_cfg = eng->cfg; /* `file` may point into it */
	struct terr_index *old_ti = eng->ti;
	struct plugin_set *old_ps = eng->plugins;
	struct rt *old_rt = eng->rt;
	eng->cfg = cfg;
	eng->ti = ti;
	eng->plugins = ps;
	eng->rt = rt;
	srv_set_config(eng->srv, cfg);
	srv_set_rt(eng->srv, rt);
	sales_set_config(eng->sales, cfg);
	sales_set_rt(eng->sales, rt);
	uint32_t carried = rt_adopt(rt, old_rt);
	rt_free(old_rt);
	terr_index_free(old_ti);
	plugin_set_free(old_ps); /* after its router, before its config */
	CL_LOG_INFO("engine: configuration reloaded from %s (%zu targets, %zu plans, %u live calls "
		    "carried over)",
		    cfg->path, cfg->n_targets, cfg->n_plans, carried);
	cl_config_free(old_cfg);
	return 0;
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct cl_engine *eng = arg;
	char err[512];
	(void)sig;
	(void)what;
	CL_LOG_INFO("engine: SIGHUP received, reloading the configuration");
	cl_engine_reload(eng, NULL, err, sizeof err);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct cl_engine *eng = arg;
	(void)what;

	CL_LOG_INFO("engine: %s received", sig == SIGINT ? "SIGINT" : "SIGTERM");
	cl_engine_stop(eng);
}

/*
 * Write the ready file through a temporary file and rename(2), so a reader
 * never sees it half written. Start-up only (blocking file I/O).
 */
static int write_ready_file(struct cl_engine *eng)
{
	char tmp[4096], addr[128];
	FILE *f = NULL;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", eng->ready_file, (long)getpid()) >=
	    (int)sizeof tmp)
		goto fail;
	if (cl_engine_listen_addr(eng, addr, sizeof addr) < 0)
		goto fail;
	if (!(f = fopen(tmp, "w")))
		goto fail;
	if (fprintf(f, "listen %s\n", addr) < 0)
		goto fail;
	if (eng->http && (http_local_addr(eng->http, addr, sizeof addr) < 0 ||
			  fprintf(f, "http %s\n", addr) < 0))
		goto fail;
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, eng->ready_file) < 0)
		goto fail;
	return 0;
fail:
	CL_LOG_ERROR("ready file %s: %s", eng->ready_file, strerror(errno));
	if (f)
		fclose(f);
	unlink(tmp);
	return -CL_ENGINE_EIO;
}

int cl_engine_start(struct cl_engine *eng)
{
	if (eng->started)
		return -CL_ENGINE_ESTATE;
	int rc = srv_listen(eng->srv, eng->listen_addr);
	if (rc == -SRV_EINVAL)
		return -CL_ENGINE_EINVAL;
	if (rc < 0)
		return -CL_ENGINE_EBIND;
	if (eng->http_addr) {
		if (!(eng->http = http_new(eng)))
			return -CL_ENGINE_ENOMEM;
		rc = http_listen(eng->http, eng->http_addr);
		if (rc == -HTTP_EINVAL)
			return -CL_ENGINE_EINVAL;
		if (rc < 0)
			return -CL_ENGINE_EBIND;
	}
	/* --redis turns publishing on even when the file has it off. */
	if (eng->cfg->redis.enabled || eng->redis_addr) {
		if (!(eng->pub = engine_pub_new(eng, &eng->cfg->redis, eng->redis_addr)))
			return -CL_ENGINE_EINVAL;
		sales_set_pub(eng->sales, cl_engine_pub(eng));
	}
	if (!eng->no_signals) {
		eng->sigint = evsignal_new(eng->base, SIGINT, on_signal, eng);
		eng->sigterm = evsignal_new(eng->base, SIGTERM, on_signal, eng);
		eng->sighup = evsignal_new(eng->base, SIGHUP, on_sighup, eng);
		if (!eng->sigint || !eng->sigterm || !eng->sighup ||
		    evsignal_add(eng->sigint, NULL) < 0 || evsignal_add(eng->sigterm, NULL) < 0 ||
		    evsignal_add(eng->sighup, NULL) < 0) {
			CL_LOG_ERROR("engine: cannot install signal handlers");
			return -CL_ENGINE_ENOMEM;
		}
	}
	if (eng->ready_file && (rc = write_ready_file(eng)) < 0)
		return rc;
	if (eng->kam)
		kam_start(eng->kam); /* connects in the background, retrying */
	eng->started = true;
	CL_LOG_INFO("engine: closeloopd %s ready (%zu territories, %zu targets, %zu plans)",
		    CL_VERSION, eng->cfg->n_territories, eng->cfg->n_targets, eng->cfg->n_plans);
	return 0;
}

int cl_engine_run(struct cl_engine *eng)
{
	if (!eng->started)
		return -CL_ENGINE_ESTATE;
	while (!eng->stopped) {
		if (event_base_dispatch(eng->base) != 0)
			break; /* error, or nothing left to wait for */
		if (event_base_got_break(eng->base))
			break;
	}
	return 0;
}

bool cl_engine_stopped(const struct cl_engine *eng) { return eng->stopped; }

void cl_engine_free(struct cl_engine *eng)
{
	if (!eng)
		return;
	if (eng->sigint)
		event_free(eng->sigint);
	if (eng->sigterm)
		event_free(eng->sigterm);
	if (eng->sighup)
		event_free(eng->sighup);
	/*
	 * Front ends first, while everything their calls' last hooks reach is
	 * still there: the Kamailio link and the protocol sessions end their
	 * calls in the router, whose hooks go to the server, the HTTP API and the
	 * publisher. Each pointer is cleared once freed so the forwarders skip
	 * it. The HTTP API's call records are owners the router still points at:
	 * it goes after the last hook and before the router (which calls none).
	 * The publisher goes last of all: what Redis has not acknowledged is
	 * written to its journal.
	 */
	kam_free(eng->kam);
	eng->kam = NULL;
	srv_free(eng->srv);
	eng->srv = NULL;
	http_free(eng->http);
	eng->http = NULL;
	sales_set_pub(eng->sales, NULL);
	engine_pub_free(eng->pub);
	eng->pub = NULL;
	if (eng->pub_flush)
		event_free(eng->pub_flush);
	rt_free(eng->rt);
	sales_free(eng->sales); /* after the router: it owned calls there */
	if (eng->ti)
		terr_index_free(eng->ti);
	plugin_set_free(eng->plugins); /* the router borrowed its strategies */
	cl_config_free(eng->cfg);
	free(eng->listen_addr);
	free(eng->http_addr);
	free(eng->redis_addr);
	free(eng->ready_file);
	if (eng->own_base && eng->base)
		event_base_free(eng->base);
	free(eng);
}

struct event_base *cl_engine_base(const struct cl_engine *eng) { return eng->base; }
const struct cl_config *cl_engine_config(const struct cl_engine *eng) { return eng->cfg; }
const struct terr_index *cl_engine_terr(const struct cl_engine *eng) { return eng->ti; }
struct rt *cl_engine_rt(const struct cl_engine *eng) { return eng->rt; }
struct srv *cl_engine_srv(const struct cl_engine *eng) { return eng->srv; }
struct kam *cl_engine_kam(const struct cl_engine *eng) { return eng->kam; }
struct sales *cl_engine_sales(const struct cl_engine *eng) { return eng->sales; }
struct pub *cl_engine_pub(const struct cl_engine *eng) { return engine_pub_publisher(eng->pub); }
uint64_t cl_engine_events(const struct cl_engine *eng) { return eng->events; }

int cl_engine_listen_addr(const struct cl_engine *eng, char *buf, size_t len)
{
	return srv_local_addr(eng->srv, buf, len) < 0 ? -CL_ENGINE_ESTATE : 0;
}
