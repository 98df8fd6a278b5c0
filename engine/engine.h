/*
 * engine.h — struct cl_engine, the one object that owns a running closeloopd:
 * the event_base (its own, or one it borrows), the configuration, the
 * territory index, the router and the protocol server, and (later) the Redis
 * publisher and the HTTP API. Nothing in the engine is global: everything is
 * reached from this object, which is passed down explicitly.
 *
 * Lifetime: cl_engine_new builds everything but binds nothing;
 * cl_engine_start binds the listeners, writes the ready file and installs the
 * SIGINT/SIGTERM handlers; cl_engine_run dispatches the loop until
 * cl_engine_stop (or a signal) has drained the sessions; cl_engine_free
 * releases everything in reverse order.
 *
 * Loop thread only.
 */
#ifndef CL_ENGINE_H
#define CL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CL_VERSION
#define CL_VERSION "0.1.0"
#endif

struct event_base;
struct cl_config;
struct terr_index;
struct rt;
struct srv;
struct kam;
struct pub;
struct cl_engine;

enum {
	CL_ENGINE_OK = 0,
	CL_ENGINE_ENOMEM = 1,
	CL_ENGINE_EINVAL = 2, /* bad listen address or option */
	CL_ENGINE_EBIND = 3,  /* a listener could not be bound */
	CL_ENGINE_EIO = 4,    /* the ready file could not be written */
	CL_ENGINE_ESTATE = 5, /* started twice, or not started */
};

/* Start-up choices that override the configuration (command line). Every
 * string is borrowed for the duration of cl_engine_new and copied. */
struct cl_engine_opts {
	const char *listen;     /* "HOST:PORT" of the protocol listener; NULL = cfg->listen */
	const char *http;       /* "HOST:PORT" of the HTTP API; NULL = cfg->http */
	const char *redis;      /* "HOST:PORT" of Redis; NULL = the config's redis section */
	const char *ready_file; /* written once the listeners are bound; NULL = none */
	const char *kamailio;   /* "HOST:PORT" of Kamailio's evapi; NULL = cfg kamailio.evapi */
	uint32_t drain_ms;      /* shutdown: how long queued output may take; 0 = 2000 */
	bool no_signals;        /* do not install SIGINT/SIGTERM handlers (tests) */
};

/*
 * Build an engine. base may be NULL (the engine makes and owns one) or
 * borrowed (must outlive the engine). cfg is transferred: the engine frees
 * it, also when this fails. opts may be NULL. Returns NULL on failure
 * (logged).
 */
struct cl_engine *cl_engine_new(struct event_base *base, struct cl_config *cfg,
				const struct cl_engine_opts *opts);

/*
 * Bind the listeners, then write the ready file (temp file + rename) with
 * one line per listener: "listen 127.0.0.1:43211". Returns 0 or
 * -CL_ENGINE_E* (logged).
 */
int cl_engine_start(struct cl_engine *eng);

/*
 * Dispatch the loop until the engine has stopped. Returns 0, or
 * -CL_ENGINE_ESTATE when it was not started.
 */
int cl_engine_run(struct cl_engine *eng);

/*
 * Graceful stop: stop accepting, flush what is queued to every peer (at most
 * opts.drain_ms), close the sessions, then end the loop (event_base_loopexit,
 * also on a borrowed base). Safe to call from any loop callback; a second
 * call, or a second signal, ends the loop at once.
 */
void cl_engine_stop(struct cl_engine *eng);

/*
 * Reload the configuration from path (NULL = the file it was loaded from):
 * applied atomically — targets keep their state and sessions, calls in
 * progress keep their targets (rt_adopt) — or, on any error, refused with
 * the reason in err ("file:line: ...") and nothing changed. SIGHUP does the
 * same. Listen addresses need a restart. Returns 0 or -1. Loop thread only.
 */
int cl_engine_reload(struct cl_engine *eng, const char *path, char *err, size_t errlen);

/* True once cl_engine_stop has finished draining. */
bool cl_engine_stopped(const struct cl_engine *eng);

/* Free everything (sessions first, then the router, the index, the config,
 * then the base if owned). NULL does nothing. */
void cl_engine_free(struct cl_engine *eng);

/* Borrowed views, valid for the engine's lifetime. */
struct event_base *cl_engine_base(const struct cl_engine *eng);
const struct cl_config *cl_engine_config(const struct cl_engine *eng);
const struct terr_index *cl_engine_terr(const struct cl_engine *eng);
struct rt *cl_engine_rt(const struct cl_engine *eng);
struct srv *cl_engine_srv(const struct cl_engine *eng);
/* The Kamailio evapi client, NULL when none is configured (kam.h). */
struct kam *cl_engine_kam(const struct cl_engine *eng);
/* The sales loop (sales.h): KPIs, backlog and contracts as JSON for the HTTP API. */
struct sales;
struct sales *cl_engine_sales(const struct cl_engine *eng);
/* The Redis publisher (pub.h), NULL when publishing is off. */
struct pub *cl_engine_pub(const struct cl_engine *eng);

/* Router events seen since start (what the publisher will be fed). */
uint64_t cl_engine_events(const struct cl_engine *eng);

/* "host:port" of the bound protocol listener into buf. Returns 0 or -CL_ENGINE_ESTATE. */
int cl_engine_listen_addr(const struct cl_engine *eng, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CL_ENGINE_H */
