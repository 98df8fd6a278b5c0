/*
 * srv.h — the protocol server: TCP sessions speaking the closeloop wire
 * protocol (wire.h framing), authentication, role checks, dispatch into the
 * router and the replies the router's hooks produce.
 *
 * One srv owns its listener and every session. Sessions are bufferevents on
 * the engine's event_base; each one is bound by Hello to a role and, for
 * agents and partners, to at most one target. The router keeps sessions only
 * as opaque pointers (call owners, target sessions); when a session goes away
 * the server tells the router (rt_owner_gone, rt_session_gone) before the
 * memory is released, so the router never holds a dangling session.
 *
 * Limits (from the configuration): max_frame, max_sessions, read_timeout_ms,
 * write_timeout_ms, max_output. A peer whose queued output passes half of
 * max_output is not read until the output drains below a quarter; a peer
 * whose output passes max_output is cut. Each read callback handles at most
 * SRV_BATCH frames and continues on a zero-delay event, so one busy peer
 * cannot stall the others. docs/protocol.md is the peer-facing description.
 *
 * Loop thread only.
 */
#ifndef CL_SRV_H
#define CL_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct cl_config;
struct srv;

/* Frames handled per read callback before yielding to other peers. */
#define SRV_BATCH 64u

enum {
	SRV_OK = 0,
	SRV_ENOMEM = 1,
	SRV_EINVAL = 2,  /* malformed listen address, or no router attached */
	SRV_EBIND = 3,   /* could not bind or listen (errno logged) */
	SRV_ESTATE = 4,  /* already listening, or shut down */
};

/* Error codes of the protocol (ErrorCode in closeloop.proto), for counters. */
#define SRV_N_ERRORS 15u
/* Roles of the protocol; index 0 counts sessions not yet authenticated. */
#define SRV_N_ROLES 6u

/* Counters for metrics. Plain data: copy it out with srv_stats. */
struct srv_stats {
	uint64_t accepted;             /* connections accepted since start */
	uint64_t refused;              /* accepted then closed: max_sessions reached */
	uint64_t closed;               /* sessions freed since start */
	uint64_t frames_in, frames_out;
	uint64_t bytes_in, bytes_out;  /* framed bytes decoded / queued */
	uint64_t errors[SRV_N_ERRORS]; /* Error replies sent, by ErrorCode */
	uint64_t auth_ok;              /* successful Hellos */
	uint64_t cut_idle;             /* read timeout */
	uint64_t cut_write;            /* write timeout */
	uint64_t cut_output;           /* output passed max_output */
	uint64_t cut_error;            /* closed after BAD_FRAME / DECODE / VERSION / AUTH_FAILED */
	uint64_t paused;               /* times a peer's reading was paused by backpressure */
	uint64_t dropped;              /* messages for a session already closing */
	uint32_t sessions;             /* live sessions, all roles */
	uint32_t by_role[SRV_N_ROLES]; /* live sessions by role (0 = before Hello) */
};

/*
 * New server on base (borrowed) for cfg (borrowed; must outlive the server).
 * engine_name (copied; may be NULL) is reported in HelloOk. Attach a router
 * with srv_set_rt before srv_listen. Returns NULL on allocation failure.
 */
struct srv *srv_new(struct event_base *base, const struct cl_config *cfg, const char *engine_name);

/* Borrowed; must outlive the server's sessions (free the server first). */
void srv_set_rt(struct srv *srv, struct rt *rt);
/* The sales module (sales.h) the sales messages go to; borrowed like the
 * router. NULL (the default): they are refused with INTERNAL. */
struct sales;
void srv_set_sales(struct srv *srv, struct sales *sales);
/* After a reload: limits and tokens from cfg (borrowed) apply from now on;
 * timeouts and watermarks of open connections stay as they were set. */
void srv_set_config(struct srv *srv, const struct cl_config *cfg);

/*
 * Fill hooks with the server's router hooks (route, queued, reject, offer,
 * revoke, status); hook_arg must be the srv. event is left NULL: the engine
 * or the publisher owns it. Used by tests and by the engine's trampolines.
 */
void srv_rt_hooks(struct rt_hooks *hooks);

/* The hooks, callable one by one (arg = srv); safe while the srv is alive. */
void srv_hook_route(void *srv, const struct rt_call *c);
void srv_hook_queued(void *srv, const struct rt_call *c, uint32_t position, uint32_t ewt_ms);
void srv_hook_reject(void *srv, const struct rt_call *c, enum rt_reject why, const char *text);
void srv_hook_offer(void *srv, const struct rt_call *c, const struct rt_target *t,
		    bool needs_accept, uint32_t timeout_ms);
void srv_hook_revoke(void *srv, const struct rt_call *c, const struct rt_target *t,
		     const char *reason);
void srv_hook_status(void *srv, const struct rt_target *t);

/*
 * Bind and listen on addr, "HOST:PORT" with HOST a numeric IPv4 address,
 * "[v6]", "localhost" or "*" (any). Port 0 picks a free port: read it back
 * with srv_local_addr. Returns 0, -SRV_EINVAL, -SRV_EBIND or -SRV_ESTATE.
 * Startup only (no name lookups are done).
 */
int srv_listen(struct srv *srv, const char *addr);

struct sockaddr_storage;
/*
 * The address of a listener, as srv_listen takes it (also the HTTP API's):
 * fills *ss and *sslen (its size on entry). Returns 0, or -1 after logging
 * "<what> address '<addr>': ..." when it is not HOST:PORT with a numeric,
 * "localhost" or "*" host.
 */
int srv_parse_addr(const char *addr, const char *what, struct sockaddr_storage *ss, int *sslen);

/* "127.0.0.1:43211" of the listener into buf. Returns 0 or -SRV_ESTATE. */
int srv_local_addr(const struct srv *srv, char *buf, size_t len);

/*
 * Graceful shutdown: stop accepting, stop reading from every session, let
 * what is already queued flush, then close each session. on_done(arg) runs
 * (from the loop, never inside this call) once every session is gone or
 * after deadline_ms, whichever comes first; sessions still open then are
 * cut. Calling it twice does nothing.
 */
void srv_shutdown(struct srv *srv, uint32_t deadline_ms, void (*on_done)(void *arg), void *arg);

/*
 * Close every session (telling the router), free the listener and the
 * server. Hooks fired by the router during this are dropped. NULL does
 * nothing. Call it before rt_free.
 */
void srv_free(struct srv *srv);

void srv_stats(const struct srv *srv, struct srv_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CL_SRV_H */
