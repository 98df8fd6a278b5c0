/*
 * http.c — the HTTP API's glue: the evhttp server on the engine's loop, the
 * listener, request dispatch (path, method, bearer token), JSON replies and
 * the router hooks. The endpoints live in http_route.c and http_ops.c.
 *
 * Every reply is built completely (headers and body) before evhttp queues it
 * on the connection's bufferevent, which writes it with one writev; the
 * sockets run with TCP_NODELAY. A reply split over two segments would wait
 * for the client's delayed ACK (about 40 ms with Nagle), which a SIP proxy
 * doing one lookup per INVITE cannot afford. Keep-alive is evhttp's: HTTP/1.1
 * connections stay open unless the client says "Connection: close".
 *
 * Limits: request bodies up to the configuration's max_frame (see
 * http_apply_limits), headers up to HTTP_MAX_HEADERS, idle connections
 * closed after read_timeout_ms.
 */
#include "http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "srv.h"

/* Histograms: waiting time 10 ms .. ~2.9 h, routing latency 5 µs .. ~5 s,
 * both with two buckets per doubling. */
#define HTTP_WAIT_FIRST_MS 10u
#define HTTP_ROUTE_FIRST_US 5u
#define HTTP_HIST_PER_OCTAVE 2u
#define HTTP_HIST_BUCKETS 40u

const int http_counted_status[HTTP_N_STATUS] = {
	200, 400, 401, 403, 404, 405, 409, 413, 422, 500, 501, 503, 504, 408,
};

uint64_t http_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

size_t http_status_index(int status)
{
	for (size_t i = 0; i < HTTP_N_STATUS; i++)
		if (http_counted_status[i] == status)
			return i;
	return HTTP_N_STATUS;
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Content";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

/* ---- replies ---- */

static int dump_cb(const char *buf, size_t size, void *data)
{
	return evbuffer_add(data, buf, size);
}

void http_send_json(struct http_api *h, struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	if (b) {
		if (!body || json_dump_callback(body, dump_cb, b,
						JSON_COMPACT | JSON_REAL_PRECISION(9)) < 0) {
			evbuffer_drain(b, evbuffer_get_length(b));
			evbuffer_add(b, "{}", 2);
		}
		evbuffer_add(b, "\n", 1);
	}
	if (body)
		json_decref(body);
	evhttp_add_header(oh, "Content-Type", "application/json");
	evhttp_add_header(oh, "Cache-Control", "no-store");
	h->st.by_status[http_status_index(status)]++;
	evhttp_send_reply(req, status, status_text(status), b);
	if (b)
		evbuffer_free(b);
}

void http_send_buffer(struct http_api *h, struct evhttp_request *req, int status,
		      const char *content_type, struct evbuffer *buf)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	evhttp_add_header(oh, "Content-Type", content_type);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	h->st.by_status[http_status_index(status)]++;
	evhttp_send_reply(req, status, status_text(status), buf);
}

static void send_error_v(struct http_api *h, struct evhttp_request *req, int status,
			 const char *code, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
	http_send_json(h, req, status, o);
}

void http_send_error(struct http_api *h, struct evhttp_request *req, int status, const char *code,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_error_v(h, req, status, code, fmt, ap);
	va_end(ap);
}

void http_send_err(struct http_api *h, struct evhttp_request *req, const struct http_err *e)
{
	http_send_error(h, req, e->status, e->code, "%s", e->msg);
}

void http_send_method(struct http_api *h, struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	http_send_error(h, req, 405, "method_not_allowed", "allowed: %s", allow);
}

const char *http_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	*len = in ? evbuffer_get_length(in) : 0;
	if (!*len)
		return NULL;
	return (const char *)evbuffer_pullup(in, -1);
}

/* ---- dispatch ---- */

#define M_GET EVHTTP_REQ_GET
#define M_POST EVHTTP_REQ_POST
#define ROLES_PBX (HTTP_ROLE_PBX | HTTP_ROLE_ADMIN)
#define ROLES_READ (HTTP_ROLE_ADMIN | HTTP_ROLE_OBSERVER)
#define ROLES_CALL_READ (HTTP_ROLE_PBX | HTTP_ROLE_ADMIN | HTTP_ROLE_OBSERVER)

/* "*" matches any one segment. roles 0 = open. */
struct http_ep {
	const char *seg[4];
	size_t n;
	unsigned methods;
	const char *allow;
	unsigned roles;
	void (*fn)(struct http_ctx *x);
};

static const struct http_ep endpoints[] = {
	{{"healthz"}, 1, M_GET, "GET", 0, http_ep_healthz},
	{{"readyz"}, 1, M_GET, "GET", 0, http_ep_readyz},
	{{"metrics"}, 1, M_GET, "GET", 0, http_ep_metrics},
	{{"v1", "route"}, 2, M_GET | M_POST, "GET, POST", ROLES_PBX, http_ep_route},
	{{"v1", "calls", "*"}, 3, M_GET, "GET", ROLES_CALL_READ, http_ep_call},
	{{"v1", "calls", "*", "*"}, 4, M_POST, "POST", ROLES_PBX, http_ep_call_event},
	{{"v1", "stats"}, 2, M_GET, "GET", ROLES_READ, http_ep_stats},
	{{"v1", "targets"}, 2, M_GET, "GET", ROLES_READ, http_ep_targets},
	{{"v1", "targets", "*"}, 3, M_GET, "GET", ROLES_READ, http_ep_target},
	{{"v1", "targets", "*", "*"}, 4, M_POST, "POST", HTTP_ROLE_ADMIN, http_ep_target_drain},
	{{"v1", "queues"}, 2, M_GET, "GET", ROLES_READ, http_ep_queues},
	{{"v1", "reload"}, 2, M_POST, "POST", HTTP_ROLE_ADMIN, http_ep_reload},
};

static const struct http_ep *find_ep(const struct http_ctx *x)
{
	for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
		const struct http_ep *ep = &endpoints[i];
		if (ep->n != x->n_seg)
			continue;
		size_t j = 0;
		while (j < ep->n &&
		       (strcmp(ep->seg[j], "*") == 0 || strcmp(ep->seg[j], x->seg[j]) == 0))
			j++;
		if (j == ep->n)
			return ep;
	}
	return NULL;
}

/*
 * Small replies must leave at once (see the file comment). Linux copies
 * TCP_NODELAY from the listener to accepted sockets; elsewhere it is set
 * here, per request (libevent 2.1 has no hook for new connections), which
 * costs one system call next to parsing the request.
 */
static void set_nodelay(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct http_api *h = arg;
	struct http_ctx x = {.h = h, .req = req, .t0_us = http_now_us()};
	char segbuf[1024];

	h->st.requests++;
	set_nodelay(req);
	x.method = (int)evhttp_request_get_command(req);
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	x.query = u ? evhttp_uri_get_query(u) : NULL;
	if (http_path_split(path, segbuf, sizeof segbuf, x.seg, sizeof x.seg / sizeof x.seg[0],
			    &x.n_seg) < 0) {
		http_send_error(h, req, 404, "not_found", "no such endpoint");
		return;
	}
	const struct http_ep *ep = find_ep(&x);
	if (!ep) {
		http_send_error(h, req, 404, "not_found", "no such endpoint");
		return;
	}
	if (!((unsigned)x.method & ep->methods)) {
		http_send_method(h, req, ep->allow);
		return;
	}
	if (h->shutting_down && ep->fn != http_ep_healthz && ep->fn != http_ep_readyz) {
		http_send_error(h, req, 503, "shutting_down", "the engine is shutting down");
		return;
	}
	if (ep->roles) {
		const struct cl_config *cfg = cl_engine_config(h->eng);
		const char *authz =
			evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
		const char *token = http_bearer(authz);
		x.roles = token ? http_token_roles(cfg, token) : 0;
		if (!x.roles) {
			h->st.auth_failed++;
			evhttp_add_header(evhttp_request_get_output_headers(req),
					  "WWW-Authenticate", "Bearer realm=\"closeloop\"");
			http_send_error(h, req, 401, "unauthorized",
					token ? "the bearer token is not valid"
					      : "an Authorization: Bearer token is required");
			return;
		}
		if (!(x.roles & ep->roles)) {
			http_send_error(h, req, 403, "forbidden",
					"the token's role may not use this endpoint");
			return;
		}
	}
	ep->fn(&x);
}

/* ---- lifetime ---- */

/*
 * evhttp refuses bodies above twice max_frame (413 with its own HTML page)
 * before buffering them; the handlers refuse anything above max_frame with
 * a JSON error. So the JSON answer covers every body a client plausibly
 * sends, and a connection never buffers more than 2 * max_frame.
 */
void http_apply_limits(struct http_api *h)
{
	const struct cl_config *cfg = cl_engine_config(h->eng);
	uint64_t frame = cfg->max_frame ? cfg->max_frame : 65536;
	evhttp_set_max_body_size(h->evh, (ev_ssize_t)(2 * frame));
}

/*
 * Accept errors (EMFILE and friends) leave the connection in the backlog, so
 * accepting again at once would spin. evhttp owns the listener's callback
 * argument, so the error callback cannot reach this object: it only pauses
 * the listener, and a one-second timer owned by this object resumes it. At
 * most one failed accept (and one log line) per second.
 */
static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct http_api *h = arg;
	(void)fd;
	(void)what;
	if (h->bound)
		evconnlistener_enable(evhttp_bound_socket_get_listener(h->bound));
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)arg; /* the evhttp */
	CL_LOG_ERROR("http: accept: %s; pausing the listener for a second",
		     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(l);
}

struct http_api *http_new(struct cl_engine *eng)
{
	struct http_api *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->eng = eng;
	h->base = cl_engine_base(eng);
	const struct cl_config *cfg = cl_engine_config(eng);
	if (!(h->evh = evhttp_new(h->base)))
		goto fail;
	/* Every method reaches the dispatcher, which answers 405 in JSON. */
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						   EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						   EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(h->evh, HTTP_MAX_HEADERS);
	http_apply_limits(h);
	if (cfg->read_timeout_ms) {
		struct timeval tv = {cfg->read_timeout_ms / 1000,
				     (cfg->read_timeout_ms % 1000) * 1000};
		evhttp_set_timeout_tv(h->evh, &tv);
	}
	if (!(h->accept_retry = event_new(h->base, -1, EV_PERSIST, on_accept_retry, h)))
		goto fail;
	evhttp_set_gencb(h->evh, on_request, h);
	h->wait_hist =
		metrics_hist_new(HTTP_WAIT_FIRST_MS, HTTP_HIST_PER_OCTAVE, HTTP_HIST_BUCKETS, 1e-3);
	h->route_hist = metrics_hist_new(HTTP_ROUTE_FIRST_US, HTTP_HIST_PER_OCTAVE,
					 HTTP_HIST_BUCKETS, 1e-6);
	if (!h->wait_hist || !h->route_hist)
		goto fail;
	return h;
fail:
	http_free(h);
	return NULL;
}

int http_listen(struct http_api *h, const char *addr)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;

	if (h->bound || h->shutting_down)
		return -HTTP_ESTATE;
	if (!addr)
		return -HTTP_EINVAL;
	if (srv_parse_addr(addr, "http", &ss, &sslen) < 0)
		return -HTTP_EINVAL;
	struct evconnlistener *l = evconnlistener_new_bind(
		h->base, NULL, NULL,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, -1,
		(struct sockaddr *)&ss, sslen);
	if (!l) {
		CL_LOG_ERROR("http: listen %s: %s", addr, strerror(errno));
		return -HTTP_EBIND;
	}
	int one = 1;
	setsockopt(evconnlistener_get_fd(l), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (!(h->bound = evhttp_bind_listener(h->evh, l))) {
		evconnlistener_free(l);
		return -HTTP_ENOMEM;
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	struct timeval sec = {1, 0};
	evtimer_add(h->accept_retry, &sec);
	char local[128];
	http_local_addr(h, local, sizeof local);
	CL_LOG_INFO("http API on %s", local);
	return 0;
}

int http_local_addr(const struct http_api *h, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN];
	uint16_t port;

	if (!h->bound)
		return -HTTP_ESTATE;
	if (getsockname(evhttp_bound_socket_get_fd(h->bound), (struct sockaddr *)&ss, &sl) < 0)
		return -HTTP_ESTATE;
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		evutil_inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		port = ntohs(s6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		evutil_inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		port = ntohs(s4->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	}
	return 0;
}

void http_shutdown(struct http_api *h)
{
	if (!h || h->shutting_down)
		return;
	h->shutting_down = true;
	http_route_shutdown(h);
	/* New connections are refused from now on (a proxy fails over at
	 * once); open keep-alive connections get 503 until they close. */
	if (h->bound) {
		evtimer_del(h->accept_retry);
		evhttp_del_accept_socket(h->evh, h->bound);
		h->bound = NULL;
	}
	CL_LOG_INFO("http: shutting down");
}

void http_free(struct http_api *h)
{
	if (!h)
		return;
	h->freeing = true;
	/* Records first (their watch events use the connections' sockets),
	 * then evhttp, which frees every connection and the requests still
	 * waiting on them. */
	http_route_free_calls(h);
	if (h->evh)
		evhttp_free(h->evh);
	if (h->accept_retry)
		event_free(h->accept_retry);
	metrics_hist_free(h->wait_hist);
	metrics_hist_free(h->route_hist);
	free(h);
}

/* ---- router hooks ---- */

struct http_call *http_call_of(struct http_api *h, const struct rt_call *c, struct rt_call_info *ci)
{
	/* Every call of ours has a linked record until it ends: with none, skip
	 * the lookup (deployments that route only over the protocol). */
	if (!h || h->freeing || !h->n_calls)
		return NULL;
	rt_call_info(cl_engine_rt(h->eng), c, ci);
	if (!ci->owner || cl_owner_kind(ci->owner) != CL_OWNER_HTTP)
		return NULL;
	struct http_call *hc = ci->owner;
	return hc->h == h ? hc : NULL;
}

void http_hook_route(struct http_api *h, const struct rt_call *c)
{
	struct rt_call_info ci;
	struct http_call *hc = http_call_of(h, c, &ci);
	if (hc)
		http_route_on_route(h, hc, &ci);
}

void http_hook_queued(struct http_api *h, const struct rt_call *c, uint32_t position,
		      uint32_t ewt_ms)
{
	struct rt_call_info ci;
	struct http_call *hc = http_call_of(h, c, &ci);
	if (hc)
		http_route_on_queued(h, hc, position, ewt_ms);
}

void http_hook_reject(struct http_api *h, const struct rt_call *c, enum rt_reject why,
		      const char *text)
{
	struct rt_call_info ci;
	struct http_call *hc = http_call_of(h, c, &ci);
	if (hc)
		http_route_on_reject(h, hc, &ci, why, text);
}

void http_hook_event(struct http_api *h, const struct rt_event *ev)
{
	struct rt_call_info ci;

	if (!h || h->freeing || !ev->call)
		return;
	switch (ev->type) {
	case RT_EV_CALL_RESERVED:
		/* Waiting time: offer to the first reservation. A call that
		 * missed a target was reserved before: not counted again. */
		rt_call_info(cl_engine_rt(h->eng), ev->call, &ci);
		if (ci.misses == 0 && ev->ts_ms >= ci.offered_ms)
			metrics_hist_observe(h->wait_hist, ev->ts_ms - ci.offered_ms);
		break;
	case RT_EV_CALL_ENDED: {
		if (ev->end == RT_END_REJECTED && ev->reject == RT_REJECT_QUEUE_FULL)
			h->st.queue_full++;
		struct http_call *hc = http_call_of(h, ev->call, &ci);
		if (hc)
			http_route_on_ended(h, hc, ev);
		break;
	}
	default: break;
	}
}
