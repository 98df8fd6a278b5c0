/*
 * kam.h — closeloopd as a client of Kamailio's evapi server: the SIP proxy
 * suspends each presales INVITE and asks the engine where it goes; the
 * engine answers when the router reserves a target, at once or after the
 * call waited in a queue (plugins/kamailio/closeloop-evapi.cfg is the route
 * script, docs/kamailio.md the integrator's view).
 *
 * One struct kam holds one TCP connection to one Kamailio, on the engine's
 * event_base, with bufferevents. Kamailio is the server; the engine
 * connects, and after a failure reconnects on a timer with a capped,
 * doubling delay and jitter (kamailio.reconnect_min_ms .. _max_ms). The
 * struct kam is the router's call owner for every call it offered (it
 * embeds struct cl_owner first, kind CL_OWNER_KAMAILIO); when the
 * connection drops its calls end as owner-lost, since the proxy's suspended
 * transactions are gone from the engine's reach (the script answers them
 * itself on its deadline).
 *
 * Per call the module remembers the suspended transaction (tindex, tlabel)
 * and whether Kamailio is waiting for an answer on it. A router decision
 * that arrives while the proxy is not waiting (the call is ringing a target)
 * is kept and sent with the next suspension (the proxy's "retry" after the
 * target failed); a second one before that retry ends the call (the proxy
 * lost it). Memory: one small entry per call that has not yet been
 * answered.
 *
 * Limits: a netstring above kamailio.max_message or malformed JSON framing
 * drops the connection (the stream cannot be resynchronised); a JSON event
 * with bad fields is logged and, when it names a suspended transaction,
 * answered with 400. Output queued to Kamailio above limits.max_output
 * drops the connection too. Each read callback handles at most KAM_BATCH
 * frames and continues on a zero-delay event.
 *
 * Loop thread only.
 */
#ifndef CL_KAM_H
#define CL_KAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct cl_engine;
struct kam;

/* Frames handled per read callback before yielding to other work. */
#define KAM_BATCH 256u

/* Counters since start. Plain data: copy it out with kam_stats. */
struct kam_stats {
	uint64_t connects;       /* connections established */
	uint64_t connect_fails;  /* attempts that failed */
	uint64_t disconnects;    /* established connections lost or cut */
	uint64_t frames_in, frames_out;
	uint64_t bad_frames;     /* framing errors (each one cut the connection) */
	uint64_t bad_events;     /* JSON or field errors (logged, answered when possible) */
	uint64_t invites;        /* calls offered to the router */
	uint64_t routes;         /* route replies sent */
	uint64_t rejects;        /* reject replies sent */
	uint64_t queued;         /* queued notices sent */
	uint64_t retries;        /* a target failed; the call went back to the router */
	uint64_t answered;       /* answers the router accepted */
	uint64_t ended;          /* ends the router accepted */
	uint64_t abandoned;      /* cancels the router accepted */
	uint64_t timeouts;       /* proxy deadlines the router accepted (counted abandoned) */
	uint64_t failed;         /* calls the proxy gave up on (counted abandoned) */
	uint64_t stale;          /* events for calls the router no longer has for us */
	uint64_t dropped;        /* replies not sent: no connection */
	uint32_t pending_calls;  /* calls not yet answered */
	bool connected;
};

/*
 * A client for Kamailio's evapi at addr ("HOST:PORT", numeric IPv4, [IPv6]
 * or "localhost"; copied). base and eng are borrowed and must outlive it;
 * the router and the configuration are fetched from eng each time they are
 * used (a reload swaps them). Nothing connects before kam_start. Returns
 * NULL (logged) for a bad address or on allocation failure.
 */
struct kam *kam_new(struct event_base *base, struct cl_engine *eng, const char *addr);

/* Start connecting (now, then on the retry schedule). Returns 0 or
 * -KAM_ESTATE when already started or stopped. */
int kam_start(struct kam *k);

/*
 * Stop: no more reading or reconnecting; what is already queued for
 * Kamailio (e.g. the rejections of waiting calls at shutdown) gets one
 * non-blocking write, then the connection closes and the module's calls end
 * in the router (owner lost). Safe to call twice.
 */
void kam_stop(struct kam *k);

/* Stop if needed, tell the router the owner is gone, free. NULL does
 * nothing. Call it before the router is freed. */
void kam_free(struct kam *k);

/* Router hooks, forwarded by the engine. Each one looks up the call's
 * owner and does nothing unless it is k. */
void kam_hook_route(struct kam *k, const struct rt_call *c);
void kam_hook_queued(struct kam *k, const struct rt_call *c, uint32_t position, uint32_t ewt_ms);
void kam_hook_reject(struct kam *k, const struct rt_call *c, enum rt_reject why, const char *text);

void kam_stats(const struct kam *k, struct kam_stats *out);

/* "HOST:PORT" it connects to (borrowed, valid for k's lifetime). */
const char *kam_addr(const struct kam *k);

#ifdef __cplusplus
}
#endif
#endif /* CL_KAM_H */
