/*
 * http.h — closeloopd's HTTP API (libevent evhttp on the engine's loop): call
 * routing for SIP proxies that do not speak the protobuf protocol
 * (/v1/route, /v1/calls/...), and operations (/healthz, /readyz, /metrics,
 * /v1/stats, /v1/targets, /v1/queues, /v1/reload, drain). docs/http.md is the
 * client-facing reference.
 *
 * Calls offered over HTTP are owned, in the router, by a small per-call
 * record of this module that embeds struct cl_owner (kind CL_OWNER_HTTP) as
 * its first member (owner.h). The record, not the HTTP request, is the owner
 * because the router reports a call's later decisions (a new target after a
 * no-answer) after the request that offered it has been answered; the record
 * lives until the router reports the call's end (RT_EV_CALL_ENDED), or until
 * http_free. While a /v1/route request waits for a queued call it hangs off
 * that record, with one event that watches its socket (the client going away
 * abandons the call) and its deadline (wait_ms: the call is abandoned and the
 * request answered "queue_timeout").
 *
 * The module never keeps the router or configuration pointers: a reload
 * swaps them, so each request and each hook fetches cl_engine_rt /
 * cl_engine_config afresh.
 *
 * Loop thread only.
 */
#ifndef CL_HTTP_H
#define CL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cl_engine;
struct http_api;

enum {
	HTTP_OK = 0,
	HTTP_ENOMEM = 1,
	HTTP_EINVAL = 2, /* malformed listen address */
	HTTP_EBIND = 3,  /* could not bind or listen (logged) */
	HTTP_ESTATE = 4, /* already listening, or not listening */
};

/* /v1/route's wait_ms: the default and the cap (larger values are capped). */
#define HTTP_WAIT_DEFAULT_MS 30000u
#define HTTP_WAIT_MAX_MS 120000u

/*
 * New API for eng (borrowed; it owns the result and must outlive it), on
 * cl_engine_base(eng). Binds nothing. Returns NULL on allocation failure.
 */
struct http_api *http_new(struct cl_engine *eng);

/*
 * Bind and listen on addr, "HOST:PORT" with HOST a numeric IPv4 address,
 * "[v6]", "localhost" or "*" (any); port 0 picks a free port (read it back
 * with http_local_addr). Start-up only. Returns 0, -HTTP_EINVAL, -HTTP_EBIND
 * or -HTTP_ESTATE.
 */
int http_listen(struct http_api *h, const char *addr);

/* "127.0.0.1:43212" of the bound listener into buf. Returns 0 or -HTTP_ESTATE. */
int http_local_addr(const struct http_api *h, char *buf, size_t len);

/*
 * The engine is stopping: /readyz turns 503, new requests are refused with
 * 503, and every request still waiting is answered now (reject, code 503,
 * reason "shutdown"). The engine should have rejected its waiting calls
 * first (rt_reject_waiting), which answers most of them. Idempotent.
 */
void http_shutdown(struct http_api *h);

/*
 * Close every connection (requests still waiting are dropped, not answered),
 * free every call record and the API. The router may still hold the records'
 * addresses as owners: free this after anything that can fire router hooks
 * (the protocol server) and call no router hook afterwards (rt_free calls
 * none). NULL does nothing.
 */
void http_free(struct http_api *h);

/*
 * Router hooks, forwarded by the engine for every call; each one returns at
 * once unless the call's owner is an HTTP record (cl_owner_kind ==
 * CL_OWNER_HTTP). c is valid only during the call.
 */
void http_hook_route(struct http_api *h, const struct rt_call *c);
void http_hook_queued(struct http_api *h, const struct rt_call *c, uint32_t position,
		      uint32_t ewt_ms);
void http_hook_reject(struct http_api *h, const struct rt_call *c, enum rt_reject why,
		      const char *text);

/*
 * Every router event: feeds the waiting-time histogram (RT_EV_CALL_RESERVED),
 * counts queue-full rejections and releases the record of an HTTP call that
 * ended (RT_EV_CALL_ENDED). ev is valid only during the call.
 */
void http_hook_event(struct http_api *h, const struct rt_event *ev);

#ifdef __cplusplus
}
#endif
#endif /* CL_HTTP_H */
