/*
 * http_internal.h — what the HTTP API's files share: the API object, the
 * per-call owner record, request parsing (pure functions, unit-tested) and
 * the reply helpers. Not for use outside engine/http*.c and their tests.
 *
 * Files: http.c (glue: listener, dispatch, auth, replies, hooks),
 * http_parse.c (query strings and /v1/route bodies), http_route.c (the
 * routing and call-progress endpoints, held requests), http_ops.c (health,
 * readiness, metrics, stats, targets, queues, reload, drain).
 */
#ifndef CL_HTTP_INTERNAL_H
#define CL_HTTP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cfg.h"
#include "http.h"
#include "owner.h"
#include "rt.h"

struct evhttp;
struct evhttp_bound_socket;
struct evhttp_request;
struct event;
struct event_base;
struct evbuffer;
struct metrics_hist;

/* Parameters in one query string, at most. */
#define HTTP_QUERY_MAX 32u
/* Longest id, number or name a request may carry (the router's own limit). */
#define HTTP_STR_MAX CFG_ID_MAX
/* Per-queue series in /metrics, at most (the rest is counted, not shown). */
#define HTTP_METRICS_MAX_QUEUES 1000u
/* /v1/targets and /v1/queues page size: default and cap. */
#define HTTP_PAGE_DEFAULT 1000u
#define HTTP_PAGE_MAX 10000u
/* Request headers, bytes at most. */
#define HTTP_MAX_HEADERS 16384

/* Roles that may call an endpoint (bit = protocol Role value). */
#define HTTP_ROLE_PBX (1u << 1)
#define HTTP_ROLE_ADMIN (1u << 4)
#define HTTP_ROLE_OBSERVER (1u << 5)

/* What /v1/route answered, for the counters. */
enum http_answer {
	HTTP_ANSWER_ROUTE = 0,
	HTTP_ANSWER_REJECT,
	HTTP_ANSWER_QUEUE_TIMEOUT,
	HTTP_ANSWER_ABANDONED,
	HTTP_ANSWER_COUNT
};

/* Response status codes counted one by one; anything else is "other". */
#define HTTP_N_STATUS 14u

struct http_counters {
	uint64_t requests;
	uint64_t by_status[HTTP_N_STATUS + 1]; /* http_status_index; last = other */
	uint64_t offers;                       /* new calls offered over HTTP */
	uint64_t answers[HTTP_ANSWER_COUNT];
	uint64_t client_gone; /* held request's client went away */
	uint64_t limit_calls; /* rt_call_offer said max_calls */
	uint64_t too_large;   /* bodies over max_frame (our own 413s) */
	uint64_t queue_full;  /* router-wide QUEUE_FULL rejections */
	uint64_t auth_failed; /* 401s */
	uint64_t reloads_ok, reloads_failed;
};

/*
 * The router's owner of a call offered over HTTP (see http.h). Lives from
 * the offer until RT_EV_CALL_ENDED (or http_free). `busy` is raised while
 * this module is inside a router function for the call: a call that ends
 * meanwhile is only marked, and freed by that code once the router returns.
 */
struct http_call {
	struct cl_owner owner; /* FIRST: the router's owner pointer */
	struct http_api *h;
	struct http_call *prev, *next; /* h->calls: every live record */
	struct evhttp_request *req;    /* the /v1/route request waiting for a decision */
	struct event *watch;           /* while held: the client's socket + the deadline */
	uint64_t t0_us;                /* monotonic arrival of req */
	uint64_t deadline_us;          /* monotonic end of the wait */
	uint64_t routed_resv;          /* reservation last announced by the route hook, 0 = none */
	uint32_t position, ewt_ms;     /* last queued report */
	int busy;
	bool linked; /* in h->calls (false once ended) */
	bool ended;  /* the router let the call go while busy */
	char id[];   /* the call id */
};

struct http_api {
	struct cl_engine *eng;   /* borrowed: owns this */
	struct event_base *base; /* borrowed: the engine's */
	struct evhttp *evh;
	struct evhttp_bound_socket *bound; /* NULL before listen and after shutdown */
	struct event *accept_retry;        /* re-enables the listener after an accept error */
	struct http_call *calls;           /* live records (doubly linked) */
	uint32_t n_calls, n_held;
	bool shutting_down;
	bool freeing;
	struct metrics_hist *wait_hist;  /* ms: offer -> first reservation, every front end */
	struct metrics_hist *route_hist; /* µs: /v1/route arrival -> router decision */
	struct http_counters st;
};

/* One request being handled (stack object of the dispatcher). */
struct http_ctx {
	struct http_api *h;
	struct evhttp_request *req;
	uint64_t t0_us;     /* monotonic arrival */
	int method;         /* EVHTTP_REQ_* */
	const char *query;  /* raw query string, NULL when none */
	const char *seg[6]; /* decoded path segments */
	size_t n_seg;
	unsigned roles; /* HTTP_ROLE_* the bearer token matched */
};

/* ---- parsing (http_parse.c; no I/O, unit-tested) ---- */

/* Why a request was refused: a stable code for clients and a message. */
struct http_err {
	int status;       /* HTTP status */
	const char *code; /* e.g. "bad_json", "invalid_field" */
	char msg[256];
};

void http_err_set(struct http_err *e, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A decoded query string: keys and values point into pool (owned). */
struct http_query {
	size_t n;
	const char *key[HTTP_QUERY_MAX];
	const char *val[HTTP_QUERY_MAX];
	char *pool;
};

/*
 * Split and percent-decode "a=1&b=%2B49" (s may be NULL or ""). '+' is kept
 * as '+', not read as a space, so E.164 numbers need no escaping. Refuses a
 * malformed escape, an encoded NUL, an empty key or more than HTTP_QUERY_MAX
 * parameters. Returns 0, or -1 with e filled (400). Free with
 * http_query_clear, also after a failure.
 */
int http_query_parse(struct http_query *q, const char *s, struct http_err *e);
void http_query_clear(struct http_query *q);
/* The value of key, or NULL; *dup is set when key appears more than once. */
const char *http_query_get(const struct http_query *q, const char *key, bool *dup);

/* A /v1/route request, validated. Strings are NULL when absent. */
struct http_route_req {
	const char *call_id;
	const char *from, *to, *postal_code, *segment, *language;
	const char *skills[CFG_MAX_SKILLS];
	size_t n_skills;
	uint32_t priority;
	uint32_t wait_ms;             /* HTTP_WAIT_DEFAULT_MS when absent; capped */
	const char *preferred_target; /* offer to this target first (rt_call_req) */
	uint32_t preferred_ms;        /* capped at HTTP_WAIT_MAX_MS */
	/* storage */
	json_t *json;        /* owned (JSON body): strings point into it */
	char *pool;          /* owned: split skills */
	struct http_query q; /* owned (query string) */
};

/*
 * Parse and check a /v1/route request from a JSON object body or a query
 * string. call_id is required; from and to are required only for a new
 * call (the caller checks). Unknown fields, wrong types, control
 * characters, over-long strings, priority outside 0..100, negative wait_ms
 * and more than CFG_MAX_SKILLS skills are refused. Returns 0, or -1 with e
 * filled. Free with http_route_req_clear, also after a failure.
 */
int http_route_parse_json(struct http_route_req *r, const char *body, size_t len,
			  struct http_err *e);
int http_route_parse_query(struct http_route_req *r, const char *query, struct http_err *e);
void http_route_req_clear(struct http_route_req *r);

/*
 * Parse an optional call-progress body: empty, or {"target_id": "..."}
 * (null allowed). *target is NULL or points into *json (caller frees with
 * json_decref, also on failure). Returns 0 or -1 with e filled.
 */
int http_progress_parse(const char *body, size_t len, json_t **json, const char **target,
			struct http_err *e);

/*
 * Split an URI path ("/v1/calls/c%401/answered") into at most max
 * percent-decoded segments stored in buf. "/" and "" have none. Returns 0,
 * or -1 when the path does not start with '/', has an empty segment ("//",
 * a trailing '/'), a malformed escape or an encoded NUL, too many segments,
 * or does not fit in buf.
 */
int http_path_split(const char *path, char *buf, size_t len, const char **seg, size_t max,
		    size_t *n);

/* A decimal unsigned integer in [min, max] ("" and signs refused). */
int http_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Bearer token of an Authorization header value, or NULL. */
const char *http_bearer(const char *authorization);

/* Roles (HTTP_ROLE_*) whose configured tokens equal token; constant time per token. */
unsigned http_token_roles(const struct cl_config *cfg, const char *token);

/* The SIP response code a proxy should send for a router rejection. */
int http_reject_sip_code(enum rt_reject why);
/* Stable name of a rejection ("no_route", "plan", ...). */
const char *http_reject_name(enum rt_reject why);
const char *http_call_state_name(enum rt_call_state s);
const char *http_target_state_name(enum rt_target_state s);

/* ---- glue (http.c) ---- */

uint64_t http_now_us(void);
/* Body size limit from the current configuration (start, reload). */
void http_apply_limits(struct http_api *h);
/* Index of status in the counters table (HTTP_N_STATUS = other). */
size_t http_status_index(int status);
extern const int http_counted_status[HTTP_N_STATUS];

/* Send body (stolen; NULL sends {}) as application/json, in one write. */
void http_send_json(struct http_api *h, struct evhttp_request *req, int status, json_t *body);
/* {"error":{"code":code,"message":...}} */
void http_send_error(struct http_api *h, struct evhttp_request *req, int status, const char *code,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void http_send_err(struct http_api *h, struct evhttp_request *req, const struct http_err *e);
/* 405 with an Allow header. */
void http_send_method(struct http_api *h, struct evhttp_request *req, const char *allow);

/* Send a prepared body (its content moves out of buf) with content_type. */
void http_send_buffer(struct http_api *h, struct evhttp_request *req, int status,
		      const char *content_type, struct evbuffer *buf);

/* Request body as contiguous bytes (not NUL-terminated), or NULL when
 * empty; *len its length. Points into the request's input buffer. */
const char *http_body(struct evhttp_request *req, size_t *len);

/* The record behind a call's owner when it is one of ours, else NULL. ci
 * is filled when the result is not NULL (and may be left untouched when it
 * is: with no HTTP call live, the router is not asked). */
struct http_call *http_call_of(struct http_api *h, const struct rt_call *c,
			       struct rt_call_info *ci);

/* ---- endpoints ---- */

/* http_route.c */
void http_ep_route(struct http_ctx *x);
void http_ep_call(struct http_ctx *x);          /* GET /v1/calls/{id} */
void http_ep_call_event(struct http_ctx *x);    /* POST /v1/calls/{id}/{event} */
void http_route_shutdown(struct http_api *h);   /* answer every held request */
void http_route_free_calls(struct http_api *h); /* drop records (http_free) */
void http_route_on_route(struct http_api *h, struct http_call *hc, const struct rt_call_info *ci);
void http_route_on_queued(struct http_api *h, struct http_call *hc, uint32_t position,
			  uint32_t ewt_ms);
void http_route_on_reject(struct http_api *h, struct http_call *hc, const struct rt_call_info *ci,
			  enum rt_reject why, const char *text);
void http_route_on_ended(struct http_api *h, struct http_call *hc, const struct rt_event *ev);

/* http_ops.c */
void http_ep_healthz(struct http_ctx *x);
void http_ep_readyz(struct http_ctx *x);
void http_ep_metrics(struct http_ctx *x);
void http_ep_stats(struct http_ctx *x);
void http_ep_targets(struct http_ctx *x);      /* GET /v1/targets */
void http_ep_target(struct http_ctx *x);       /* GET /v1/targets/{id} */
void http_ep_target_drain(struct http_ctx *x); /* POST /v1/targets/{id}/drain|undrain */
void http_ep_queues(struct http_ctx *x);
void http_ep_reload(struct http_ctx *x);

#endif /* CL_HTTP_INTERNAL_H */
