/*
 * http_route.c — /v1/route and /v1/calls: call routing over HTTP for SIP
 * proxies, with the request held open (long poll) while the call waits.
 *
 * A new call_id gets an owner record (struct http_call, see http.h) and is
 * offered to the router with the request attached to the record. The router
 * decides inside rt_call_offer: the route or reject hook answers the request
 * there and then; a queued call (or a reservation that waits for the
 * target's acceptance) keeps the request attached, with one event on the
 * client's socket and the wait deadline:
 * - the router routes or rejects it later: the hook answers;
 * - the deadline passes: the call is abandoned in the router and the request
 *   answered "queue_timeout", so no call outlives its last listener;
 * - the socket turns readable with EOF or an error (the client went away):
 *   the call is abandoned and the connection closed. evhttp does not read a
 *   connection while a request on it is unanswered, so this event is how a
 *   lost client is noticed. A readable socket with data (a pipelined
 *   request) is left to evhttp, and only the deadline is watched after that.
 *
 * A /v1/route for a call_id that is already live and ours answers from the
 * router's state: RESERVED and announced (the route hook ran for that
 * reservation) returns that routing at once; QUEUED, or RESERVED while the
 * target has not accepted yet, is held like a new request. That is how a
 * proxy learns the next target after reporting a no-answer.
 *
 * A router call can end a call (and release its record) from inside the
 * function that made it: records are marked busy around every router call
 * this file makes, and freed only once it has returned.
 */
#include "http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "engine.h"
#include "log.h"
#include "metrics.h"

/* ---- records ---- */

static struct http_call *call_new(struct http_api *h, const char *id)
{
	size_t n = strlen(id);
	struct http_call *hc = calloc(1, sizeof *hc + n + 1);
	if (!hc)
		return NULL;
	hc->owner.kind = CL_OWNER_HTTP;
	hc->h = h;
	memcpy(hc->id, id, n + 1);
	hc->next = h->calls;
	if (h->calls)
		h->calls->prev = hc;
	h->calls = hc;
	hc->linked = true;
	h->n_calls++;
	return hc;
}

static void call_unlink(struct http_call *hc)
{
	struct http_api *h = hc->h;
	if (!hc->linked)
		return;
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->calls = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	hc->prev = hc->next = NULL;
	hc->linked = false;
	h->n_calls--;
}

/* Stop holding the request; it is the caller's to answer (or drop). */
static struct evhttp_request *call_detach(struct http_call *hc)
{
	struct evhttp_request *req = hc->req;
	if (hc->watch) {
		event_free(hc->watch);
		hc->watch = NULL;
		hc->h->n_held--;
	}
	hc->req = NULL;
	return req;
}

/* The router let the call go: free the record, or only mark it while a
 * router call made by this file is still on the stack. */
static void call_release(struct http_call *hc)
{
	call_detach(hc);
	call_unlink(hc);
	if (hc->busy) {
		hc->ended = true;
		return;
	}
	free(hc);
}

static void call_busy(struct http_call *hc) { hc->busy++; }

/* Returns true when the record was freed. */
static bool call_unbusy(struct http_call *hc)
{
	if (--hc->busy == 0 && hc->ended) {
		free(hc);
		return true;
	}
	return false;
}

/* ---- answers ---- */

static const char *nz(const char *s) { return s && *s ? s : NULL; }

static json_int_t waited_ms(const struct http_call *hc)
{
	uint64_t now = http_now_us();
	return now > hc->t0_us ? (json_int_t)((now - hc->t0_us) / 1000u) : 0;
}

static void target_of(struct http_api *h, const char *target_id, const char **kind,
		      const char **uri)
{
	struct rt *rt = cl_engine_rt(h->eng);
	struct rt_target *t = target_id ? rt_target_find(rt, target_id) : NULL;
	*kind = *uri = NULL;
	if (t) {
		struct rt_target_info ti;
		rt_target_info(rt, t, &ti);
		*kind = ti.kind == CFG_KIND_PARTNER ? "partner" : "rep";
		*uri = nz(ti.sip_uri);
	}
}

static json_t *route_json(struct http_api *h, const struct rt_call_info *ci, json_int_t waited)
{
	const char *kind, *uri;
	target_of(h, ci->target_id, &kind, &uri);
	return json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:I,s:s?,s:I,s:I}", "action", "route",
			 "call_id", ci->id, "target_id", ci->target_id, "target_kind", kind,
			 "target_uri", uri, "territory", nz(ci->territory), "reservation_id",
			 (json_int_t)ci->reservation_id, "plan", nz(ci->plan), "step",
			 (json_int_t)ci->step, "waited_ms", waited);
}

static json_t *reject_json(const char *id, int code, const char *reason, const char *text,
			   json_int_t waited)
{
	return json_pack("{s:s,s:s,s:i,s:s,s:s?,s:I}", "action", "reject", "call_id", id, "code",
			 code, "reason", reason, "text", text, "waited_ms", waited);
}

/* Answer the held request of hc (if any) with body (stolen). */
static void answer(struct http_call *hc, json_t *body, enum http_answer what)
{
	struct http_api *h = hc->h;
	struct evhttp_request *req = call_detach(hc);
	if (!req) {
		json_decref(body);
		return;
	}
	h->st.answers[what]++;
	http_send_json(h, req, 200, body);
}

/* ---- held requests ---- */

static void on_watch(evutil_socket_t fd, short what, void *arg);

static evutil_socket_t request_fd(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	return bev ? bufferevent_getfd(bev) : -1;
}

static void watch_arm(struct http_call *hc)
{
	uint64_t now = http_now_us();
	uint64_t left = hc->deadline_us > now ? hc->deadline_us - now : 0;
	struct timeval tv = {(time_t)(left / 1000000u), (suseconds_t)(left % 1000000u)};
	event_add(hc->watch, &tv);
}

/* The wait is over without a decision: abandon the call, say so. */
static void give_up(struct http_call *hc)
{
	struct http_api *h = hc->h;
	struct evhttp_request *req = call_detach(hc);
	json_t *body = json_pack("{s:s,s:s,s:i,s:I,s:I,s:I}", "action", "queue_timeout", "call_id",
				 hc->id, "code", 480, "waited_ms", waited_ms(hc), "position",
				 (json_int_t)hc->position, "ewt_ms", (json_int_t)hc->ewt_ms);
	char id[HTTP_STR_MAX + 1];
	snprintf(id, sizeof id, "%s", hc->id);

	call_busy(hc);
	int rc = rt_call_abandoned(cl_engine_rt(h->eng), hc->id, &hc->owner);
	call_unbusy(hc); /* hc may be gone from here on */
	if (rc < 0)
		CL_LOG_WARN("http: call %s: abandoning after the wait failed: %s", id,
			    rt_strerror(rc));
	h->st.answers[HTTP_ANSWER_QUEUE_TIMEOUT]++;
	http_send_json(h, req, 200, body);
}

/* The client of a held request went away: abandon its call, drop the
 * connection (which frees the request). */
static void client_gone(struct http_call *hc)
{
	struct http_api *h = hc->h;
	struct evhttp_request *req = call_detach(hc);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char id[HTTP_STR_MAX + 1];
	snprintf(id, sizeof id, "%s", hc->id);

	h->st.client_gone++;
	call_busy(hc);
	int rc = rt_call_abandoned(cl_engine_rt(h->eng), hc->id, &hc->owner);
	call_unbusy(hc);
	CL_LOG_INFO("http: call %s: the client went away while waiting; call %s", id,
		    rc < 0 ? rt_strerror(rc) : "abandoned");
	if (evcon)
		evhttp_connection_free(evcon);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct http_call *hc = arg;

	if (!(what & EV_READ)) {
		/* libevent schedules from its cached clock, which can lag: a timer
		 * may fire a little before wait_ms has really passed. */
		if (http_now_us() < hc->deadline_us) {
			watch_arm(hc);
			return;
		}
		give_up(hc);
		return;
	}
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		watch_arm(hc);
		return;
	}
	if (n <= 0) {
		client_gone(hc);
		return;
	}
	/* Bytes of a next request: evhttp reads them after the answer. From
	 * now on only the deadline is watched. */
	event_free(hc->watch);
	if (!(hc->watch = evtimer_new(hc->h->base, on_watch, hc))) {
		hc->h->n_held--;
		give_up(hc);
		return;
	}
	watch_arm(hc);
}

/* Keep hc->req open until a decision, the deadline or the client's end. */
static void hold(struct http_call *hc, uint32_t wait_ms)
{
	struct http_api *h = hc->h;
	evutil_socket_t fd = request_fd(hc->req);

	hc->deadline_us = hc->t0_us + (uint64_t)wait_ms * 1000u;
	if (wait_ms == 0) {
		give_up(hc);
		return;
	}
	hc->watch = event_new(h->base, fd, fd >= 0 ? EV_READ : 0, on_watch, hc);
	if (!hc->watch) {
		give_up(hc);
		return;
	}
	h->n_held++;
	watch_arm(hc);
}

/* ---- router hooks (via http.c) ---- */

void http_route_on_route(struct http_api *h, struct http_call *hc, const struct rt_call_info *ci)
{
	hc->routed_resv = ci->reservation_id;
	if (hc->req)
		answer(hc, route_json(h, ci, waited_ms(hc)), HTTP_ANSWER_ROUTE);
}

void http_route_on_queued(struct http_api *h, struct http_call *hc, uint32_t position,
			  uint32_t ewt_ms)
{
	(void)h;
	hc->position = position;
	hc->ewt_ms = ewt_ms;
}

void http_route_on_reject(struct http_api *h, struct http_call *hc, const struct rt_call_info *ci,
			  enum rt_reject why, const char *text)
{
	(void)h;
	if (hc->req)
		answer(hc,
		       reject_json(ci->id, http_reject_sip_code(why), http_reject_name(why), text,
				   waited_ms(hc)),
		       HTTP_ANSWER_REJECT);
}

void http_route_on_ended(struct http_api *h, struct http_call *hc, const struct rt_event *ev)
{
	(void)h;
	if (hc->req) {
		/* Rejections were answered by the reject hook; what is left is a
		 * caller who hung up (POST .../abandoned) while the request waited. */
		if (ev->end == RT_END_ABANDONED)
			answer(hc,
			       json_pack("{s:s,s:s,s:I}", "action", "abandoned", "call_id", hc->id,
					 "waited_ms", waited_ms(hc)),
			       HTTP_ANSWER_ABANDONED);
		else
			answer(hc, reject_json(hc->id, 480, "ended", ev->reason, waited_ms(hc)),
			       HTTP_ANSWER_REJECT);
	}
	call_release(hc);
}

void http_route_shutdown(struct http_api *h)
{
	for (struct http_call *hc = h->calls; hc; hc = hc->next)
		if (hc->req)
			answer(hc,
			       reject_json(hc->id, http_reject_sip_code(RT_REJECT_SHUTDOWN),
					   http_reject_name(RT_REJECT_SHUTDOWN),
					   "engine shutting down", waited_ms(hc)),
			       HTTP_ANSWER_REJECT);
}

void http_route_free_calls(struct http_api *h)
{
	while (h->calls) {
		struct http_call *hc = h->calls;
		call_detach(hc); /* the request goes with its connection (evhttp_free) */
		call_unlink(hc);
		free(hc);
	}
}

/* ---- /v1/route ---- */

static void offer_failed(struct http_api *h, struct evhttp_request *req, int rc, const char *id)
{
	switch (-rc) {
	case RT_EINVAL:
		http_send_error(h, req, 400, "invalid_field", "call %s: %s", id, rt_strerror(rc));
		break;
	case RT_ENOTARGET:
		http_send_error(h, req, 400, "unknown_target", "call %s: preferred_target: %s", id,
				rt_strerror(rc));
		break;
	case RT_EEXIST:
		http_send_error(h, req, 409, "conflict", "call %s is already live", id);
		break;
	case RT_ELIMIT:
		h->st.limit_calls++;
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		http_send_error(h, req, 503, "limit",
				"the engine's limit of live calls is reached");
		break;
	case RT_ENOMEM: http_send_error(h, req, 503, "internal", "out of memory"); break;
	default:
		http_send_error(h, req, 500, "internal", "call %s: %s", id, rt_strerror(rc));
		break;
	}
}

static void new_call(struct http_ctx *x, const struct http_route_req *r)
{
	struct http_api *h = x->h;
	const struct cl_config *cfg = cl_engine_config(h->eng);

	if (!r->from || !r->to) {
		http_send_error(h, x->req, 400, "missing_field", "%s is required for a new call",
				!r->from ? "from" : "to");
		return;
	}
	for (size_t i = 0; i < r->n_skills; i++) {
		if (cl_config_skill(cfg, r->skills[i]) < 0) {
			http_send_error(h, x->req, 400, "unknown_skill", "unknown skill '%s'",
					r->skills[i]);
			return;
		}
	}
	struct http_call *hc = call_new(h, r->call_id);
	if (!hc) {
		http_send_error(h, x->req, 503, "internal", "out of memory");
		return;
	}
	struct rt_call_req q = {
		.id = r->call_id,
		.caller = r->from,
		.dialed = r->to,
		.postal_code = r->postal_code,
		.segment = r->segment,
		.skills = r->skills,
		.n_skills = r->n_skills,
		.language = r->language,
		.priority = r->priority,
		.preferred_target = r->preferred_target,
		.preferred_ms = r->preferred_ms,
	};
	hc->req = x->req;
	hc->t0_us = x->t0_us;
	call_busy(hc);
	int rc = rt_call_offer(cl_engine_rt(h->eng), &q, &hc->owner, 0);
	if (rc < 0) { /* the router never saw the record: no hook ran */
		struct evhttp_request *req = call_detach(hc);
		call_unlink(hc);
		free(hc);
		offer_failed(h, req, rc, r->call_id);
		return;
	}
	h->st.offers++;
	metrics_hist_observe(h->route_hist, http_now_us() - x->t0_us);
	/* Routed or rejected inside rt_call_offer: already answered. */
	if (!hc->ended && hc->req)
		hold(hc, r->wait_ms);
	call_unbusy(hc);
}

static void live_call(struct http_ctx *x, const struct rt_call *c, const struct http_route_req *r)
{
	struct http_api *h = x->h;
	struct rt_call_info ci;
	struct http_call *hc = http_call_of(h, c, &ci);

	if (!hc) {
		http_send_error(h, x->req, 409, "conflict",
				"call %s is live and belongs to another front end", r->call_id);
		return;
	}
	if (hc->req) {
		http_send_error(h, x->req, 409, "conflict",
				"a /v1/route request for call %s is already waiting", hc->id);
		return;
	}
	switch (ci.state) {
	case RT_CALL_RESERVED:
		if (hc->routed_resv == ci.reservation_id) {
			h->st.answers[HTTP_ANSWER_ROUTE]++;
			http_send_json(h, x->req, 200, route_json(h, &ci, 0));
			return;
		}
		/* The reserved target has not accepted yet: wait like a queued call. */
		/* fall through */
	case RT_CALL_QUEUED:
		hc->req = x->req;
		hc->t0_us = x->t0_us;
		call_busy(hc);
		hold(hc, r->wait_ms);
		call_unbusy(hc);
		return;
	default:
		http_send_error(h, x->req, 409, "bad_state", "call %s is %s", hc->id,
				http_call_state_name(ci.state));
		return;
	}
}

static bool body_ok(struct http_ctx *x, size_t len)
{
	const struct cl_config *cfg = cl_engine_config(x->h->eng);
	if (cfg->max_frame && len > cfg->max_frame) {
		x->h->st.too_large++;
		http_send_error(x->h, x->req, 413, "body_too_large",
				"the body is larger than %u bytes", cfg->max_frame);
		return false;
	}
	return true;
}

void http_ep_route(struct http_ctx *x)
{
	struct http_api *h = x->h;
	struct http_route_req r;
	struct http_err e;
	int rc;

	if (x->method == EVHTTP_REQ_POST) {
		size_t len;
		const char *body = http_body(x->req, &len);
		if (!body_ok(x, len))
			return;
		rc = http_route_parse_json(&r, body, len, &e);
	} else {
		rc = http_route_parse_query(&r, x->query, &e);
	}
	if (rc < 0) {
		http_send_err(h, x->req, &e);
		http_route_req_clear(&r);
		return;
	}
	const struct rt_call *c = rt_call_find(cl_engine_rt(h->eng), r.call_id);
	if (c)
		live_call(x, c, &r);
	else
		new_call(x, &r);
	http_route_req_clear(&r);
}

/* ---- /v1/calls ---- */

static const char *frontend_name(const void *owner)
{
	if (!owner)
		return NULL;
	switch (cl_owner_kind(owner)) {
	case CL_OWNER_SESSION: return "protocol";
	case CL_OWNER_HTTP: return "http";
	case CL_OWNER_KAMAILIO: return "kamailio";
	default: return NULL;
	}
}

static json_t *call_json(struct http_api *h, const struct rt_call_info *ci)
{
	const char *kind, *uri;
	target_of(h, ci->target_id, &kind, &uri);
	json_t *o = json_pack(
		"{s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:I,s:I,s:s?,s:s?,s:s?,s:I,s:I,s:I,s:I}",
		"call_id", ci->id, "state", http_call_state_name(ci->state), "frontend",
		frontend_name(ci->owner), "caller", nz(ci->caller), "dialed", nz(ci->dialed),
		"postal_code", nz(ci->postal_code), "segment", nz(ci->segment), "territory",
		nz(ci->territory), "step", (json_int_t)ci->step, "priority",
		(json_int_t)ci->priority, "plan", nz(ci->plan), "target_id", ci->target_id,
		"target_kind", kind, "reservation_id", (json_int_t)ci->reservation_id, "offered_ms",
		(json_int_t)ci->offered_ms, "answered_ms", (json_int_t)ci->answered_ms, "misses",
		(json_int_t)ci->misses);
	if (o && uri)
		json_object_set_new(o, "target_uri", json_string(uri));
	if (o && ci->owner && cl_owner_kind(ci->owner) == CL_OWNER_HTTP) {
		const struct http_call *hc = ci->owner;
		bool routed = ci->state == RT_CALL_RESERVED && hc->routed_resv &&
			      hc->routed_resv == ci->reservation_id;
		json_object_set_new(o, "routed",
				    json_boolean(routed || ci->state == RT_CALL_CONNECTED));
		json_object_set_new(o, "waiting_request", json_boolean(hc->req != NULL));
	}
	return o;
}

void http_ep_call(struct http_ctx *x)
{
	struct http_api *h = x->h;
	struct rt *rt = cl_engine_rt(h->eng);
	const struct rt_call *c = rt_call_find(rt, x->seg[2]);
	struct rt_call_info ci;

	if (!c) {
		http_send_error(h, x->req, 404, "unknown_call", "no live call %s", x->seg[2]);
		return;
	}
	rt_call_info(rt, c, &ci);
	bool ours = ci.owner && cl_owner_kind(ci.owner) == CL_OWNER_HTTP;
	if (!ours && !(x->roles & (HTTP_ROLE_ADMIN | HTTP_ROLE_OBSERVER))) {
		http_send_error(h, x->req, 403, "forbidden", "call %s belongs to another front end",
				x->seg[2]);
		return;
	}
	http_send_json(h, x->req, 200, call_json(h, &ci));
}

enum call_event { EV_ANSWERED, EV_NOANSWER, EV_ENDED, EV_ABANDONED };

void http_ep_call_event(struct http_ctx *x)
{
	static const char *const names[] = {"answered", "noanswer", "ended", "abandoned"};
	struct http_api *h = x->h;
	const char *id = x->seg[2];
	struct http_err e;
	json_t *json = NULL;
	const char *target = NULL;
	int ev = -1;

	for (int i = 0; i < 4; i++)
		if (strcmp(x->seg[3], names[i]) == 0)
			ev = i;
	if (ev < 0) {
		http_send_error(h, x->req, 404, "not_found",
				"unknown call event '%s' (answered, noanswer, ended, abandoned)",
				x->seg[3]);
		return;
	}
	size_t len;
	const char *body = http_body(x->req, &len);
	if (!body_ok(x, len))
		return;
	if (http_progress_parse(body, len, &json, &target, &e) < 0) {
		http_send_err(h, x->req, &e);
		goto out;
	}
	struct rt *rt = cl_engine_rt(h->eng);
	const struct rt_call *c = rt_call_find(rt, id);
	if (!c) {
		http_send_error(h, x->req, 404, "unknown_call", "no live call %s", id);
		goto out;
	}
	struct rt_call_info ci;
	struct http_call *hc = http_call_of(h, c, &ci);
	if (!hc) {
		http_send_error(h, x->req, 403, "forbidden", "call %s belongs to another front end",
				id);
		goto out;
	}
	call_busy(hc);
	int rc;
	switch (ev) {
	case EV_ANSWERED: rc = rt_call_answered(rt, id, target, &hc->owner); break;
	case EV_NOANSWER: rc = rt_call_no_answer(rt, id, target, &hc->owner); break;
	case EV_ENDED: rc = rt_call_ended(rt, id, &hc->owner); break;
	default: rc = rt_call_abandoned(rt, id, &hc->owner); break;
	}
	call_unbusy(hc); /* hc may be gone */
	if (rc < 0) {
		switch (-rc) {
		case RT_ENOCALL:
			http_send_error(h, x->req, 404, "unknown_call", "no live call %s", id);
			break;
		case RT_ESTATE:
			http_send_error(h, x->req, 409, "bad_state",
					"call %s is %s: %s does not apply", id,
					http_call_state_name(ci.state), names[ev]);
			break;
		case RT_EINVAL:
			http_send_error(h, x->req, 409, "wrong_target",
					"target %s is not the target call %s is reserved for",
					target ? target : "?", id);
			break;
		case RT_EFORBIDDEN:
			http_send_error(h, x->req, 403, "forbidden",
					"call %s belongs to another front end", id);
			break;
		default:
			http_send_error(h, x->req, 500, "internal", "call %s: %s", id,
					rt_strerror(rc));
			break;
		}
		goto out;
	}
	c = rt_call_find(rt, id);
	if (c) {
		rt_call_info(rt, c, &ci);
		http_send_json(h, x->req, 200, call_json(h, &ci));
	} else {
		http_send_json(h, x->req, 200,
			       json_pack("{s:s,s:s}", "call_id", id, "state", "ended"));
	}
out:
	if (json)
		json_decref(json);
}
