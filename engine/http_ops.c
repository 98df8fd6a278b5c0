/*
 * http_ops.c — the operators' endpoints: /healthz, /readyz, /metrics,
 * /v1/stats, /v1/targets, /v1/queues, /v1/reload and target drain.
 *
 * Everything here reads the router, the protocol server and the publisher
 * through the engine at the time of the request (a reload swaps the router
 * and the configuration). Listings are paged (offset, limit up to
 * HTTP_PAGE_MAX) so one request never builds an unbounded reply on the loop;
 * counting the total still walks every target or queue, which costs well
 * under a millisecond per 10,000. /metrics shows at most
 * HTTP_METRICS_MAX_QUEUES queues one by one.
 */
#include "http_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "pub.h"
#include "srv.h"

static uint64_t wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static const char *nz(const char *s) { return s && *s ? s : NULL; }

/* ---- health ---- */

void http_ep_healthz(struct http_ctx *x)
{
	http_send_json(x->h, x->req, 200,
		       json_pack("{s:s,s:s}", "status", "ok", "version", CL_VERSION));
}

static json_t *redis_json(struct http_api *h)
{
	const struct pub *p = cl_engine_pub(h->eng);
	if (!p)
		return json_pack("{s:s}", "state", "disabled");
	struct pub_stats ps;
	pub_get_stats(p, &ps);
	return json_pack(
		"{s:s,s:I,s:I,s:I,s:I}", "state", ps.connected ? "connected" : "disconnected",
		"backlog", (json_int_t)pub_backlog(p), "journaled", (json_int_t)ps.journaled,
		"dropped", (json_int_t)ps.dropped, "reconnects", (json_int_t)ps.reconnects);
}

/*
 * Ready: the configuration is loaded, both listeners are bound and the
 * engine is not stopping. Redis is reported, not required: the engine keeps
 * routing while Redis is away (it buffers), so a Redis outage must not take
 * the engine out of a load balancer.
 */
void http_ep_readyz(struct http_ctx *x)
{
	struct http_api *h = x->h;
	const struct cl_config *cfg = cl_engine_config(h->eng);
	char proto[128], web[128];
	bool has_proto = cl_engine_listen_addr(h->eng, proto, sizeof proto) == 0;
	bool has_http = http_local_addr(h, web, sizeof web) == 0;
	const char *why = NULL;

	if (h->shutting_down)
		why = "the engine is shutting down";
	else if (!cfg)
		why = "no configuration";
	else if (!has_proto)
		why = "the protocol listener is not bound";
	else if (!has_http)
		why = "the HTTP listener is not bound";
	json_t *o = json_pack("{s:b,s:s?,s:{s:s?,s:s?},s:o}", "ready", why == NULL, "reason", why,
			      "listeners", "protocol", has_proto ? proto : NULL, "http",
			      has_http ? web : NULL, "redis", redis_json(h));
	if (o && cfg)
		json_object_set_new(o, "config",
				    json_pack("{s:s?,s:I,s:I,s:I,s:I}", "path", cfg->path,
					      "territories", (json_int_t)cfg->n_territories,
					      "targets", (json_int_t)cfg->n_targets, "plans",
					      (json_int_t)cfg->n_plans, "skills",
					      (json_int_t)cfg->n_skills));
	http_send_json(h, x->req, why ? 503 : 200, o);
}

/* ---- /metrics ---- */

static const char *const srv_error_names[SRV_N_ERRORS] = {
	"none",        "bad_frame",        "decode",       "unknown_message", "not_authenticated",
	"auth_failed", "forbidden",        "unknown_call", "unknown_target",  "duplicate_call",
	"bad_state",   "invalid_argument", "limit",        "version",         "internal",
};

static const char *const srv_role_names[SRV_N_ROLES] = {
	"unauthenticated", "pbx", "agent", "partner", "admin", "observer",
};

static const char *const answer_names[HTTP_ANSWER_COUNT] = {"route", "reject", "queue_timeout",
							    "abandoned"};

struct render {
	struct evbuffer *b;
	int err;
};

static void fam(struct render *r, const char *name, const char *type, const char *help)
{
	r->err |= metrics_family(r->b, name, type, help);
}

static void u64(struct render *r, const char *name, const char *labels, uint64_t v)
{
	r->err |= metrics_sample_u64(r->b, name, labels, v);
}

static void dbl(struct render *r, const char *name, const char *labels, double v)
{
	r->err |= metrics_sample_double(r->b, name, labels, v);
}

/* One label pair, value escaped (truncated to fit buf). */
static const char *lab1(char *buf, size_t len, const char *k, const char *v)
{
	int n = snprintf(buf, len, "%s=\"", k);
	if (n < 0 || (size_t)n + 2 >= len) {
		buf[0] = '\0';
		return buf;
	}
	/* Too long: the escaped value is truncated, still valid. */
	(void)metrics_label_escape(buf + n, len - (size_t)n - 1, v);
	size_t m = strlen(buf);
	buf[m] = '"';
	buf[m + 1] = '\0';
	return buf;
}

struct queue_walk {
	struct render *r;
	const char *metric;
	int which; /* 0 waiting, 1 available, 2 members, 3 oldest wait */
	uint64_t now_ms;
	uint32_t shown, total;
};

static int queue_sample(void *arg, const struct rt_queue_info *q)
{
	struct queue_walk *w = arg;
	char name[512], terr[512], lab[1100];
	w->total++;
	if (w->shown == HTTP_METRICS_MAX_QUEUES)
		return 0;
	w->shown++;
	metrics_label_escape(name, sizeof name, q->name);
	metrics_label_escape(terr, sizeof terr, q->territory);
	snprintf(lab, sizeof lab, "queue=\"%s\",territory=\"%s\"", name, terr);
	switch (w->which) {
	case 0: u64(w->r, w->metric, lab, q->waiting); break;
	case 1: u64(w->r, w->metric, lab, q->available); break;
	case 2: u64(w->r, w->metric, lab, q->members); break;
	default:
		dbl(w->r, w->metric, lab,
		    q->oldest_ms && w->now_ms > q->oldest_ms
			    ? (double)(w->now_ms - q->oldest_ms) / 1e3
			    : 0.0);
		break;
	}
	return 0;
}

static void render_router(struct render *r, struct http_api *h)
{
	struct rt *rt = cl_engine_rt(h->eng);
	struct rt_stats st;
	char lab[128];

	rt_stats(rt, &st);
	fam(r, "closeloop_calls_total", "counter", "Calls since start, by outcome.");
	u64(r, "closeloop_calls_total", "outcome=\"offered\"", st.offered);
	u64(r, "closeloop_calls_total", "outcome=\"routed\"", st.routed);
	u64(r, "closeloop_calls_total", "outcome=\"queued\"", st.queued);
	u64(r, "closeloop_calls_total", "outcome=\"rejected\"", st.rejected);
	u64(r, "closeloop_calls_total", "outcome=\"abandoned\"", st.abandoned);
	u64(r, "closeloop_calls_total", "outcome=\"completed\"", st.completed);
	u64(r, "closeloop_calls_total", "outcome=\"owner_lost\"", st.owner_lost);
	fam(r, "closeloop_reservations_total", "counter", "Targets reserved for calls.");
	u64(r, "closeloop_reservations_total", NULL, st.reservations);
	fam(r, "closeloop_no_answers_total", "counter", "Reservations that ended unanswered.");
	u64(r, "closeloop_no_answers_total", NULL, st.no_answers);
	fam(r, "closeloop_escalations_total", "counter", "Calls moved to a later plan step.");
	u64(r, "closeloop_escalations_total", NULL, st.escalations);
	fam(r, "closeloop_calls_live", "gauge", "Calls the router holds now.");
	u64(r, "closeloop_calls_live", NULL, st.live_calls);
	fam(r, "closeloop_calls_waiting", "gauge", "Calls waiting in a queue now (queue depth).");
	u64(r, "closeloop_calls_waiting", NULL, st.waiting_calls);
	fam(r, "closeloop_queues", "gauge", "Queues the router has created.");
	u64(r, "closeloop_queues", NULL, st.queues);
	fam(r, "closeloop_targets", "gauge", "Targets (reps and partners) by state.");
	for (int s = RT_TARGET_LOGGED_OUT; s <= RT_TARGET_WRAP_UP; s++)
		u64(r, "closeloop_targets",
		    lab1(lab, sizeof lab, "state", http_target_state_name((enum rt_target_state)s)),
		    st.targets_by_state[s]);
	fam(r, "closeloop_targets_busy", "gauge", "Ready targets with every seat taken.");
	u64(r, "closeloop_targets_busy", NULL, st.targets_busy);
	fam(r, "closeloop_router_events_total", "counter",
	    "Router events (the publisher's input).");
	u64(r, "closeloop_router_events_total", NULL, cl_engine_events(h->eng));

	static const struct {
		const char *metric, *help;
	} qm[] = {
		{"closeloop_queue_waiting", "Calls waiting in the queue."},
		{"closeloop_queue_available", "Members of the queue that could take a call now."},
		{"closeloop_queue_members", "Targets that serve the queue."},
		{"closeloop_queue_oldest_wait_seconds", "Age of the oldest waiting call."},
	};
	struct queue_walk w = {.r = r, .now_ms = wall_ms()};
	for (int i = 0; i < 4; i++) {
		fam(r, qm[i].metric, "gauge", qm[i].help);
		w.metric = qm[i].metric;
		w.which = i;
		w.shown = w.total = 0;
		rt_foreach_queue(rt, queue_sample, &w);
	}
	fam(r, "closeloop_queue_series_omitted", "gauge",
	    "Queues left out of the per-queue series (more than the cap).");
	u64(r, "closeloop_queue_series_omitted", NULL, w.total - w.shown);

	fam(r, "closeloop_wait_seconds", "histogram",
	    "Waiting time: from the offer to the first reservation of a target, every front end.");
	r->err |= metrics_hist_render(r->b, "closeloop_wait_seconds", NULL, h->wait_hist);
	fam(r, "closeloop_route_decision_seconds", "histogram",
	    "Routing latency: from a /v1/route request's arrival to the router's decision "
	    "(route, queue or reject).");
	r->err |= metrics_hist_render(r->b, "closeloop_route_decision_seconds", "frontend=\"http\"",
				      h->route_hist);
}

static void render_protocol(struct render *r, struct http_api *h, const struct srv_stats *ss)
{
	char lab[128];
	(void)h;
	fam(r, "closeloop_protocol_connections_total", "counter",
	    "Protocol connections: accepted, refused (max_sessions), closed.");
	u64(r, "closeloop_protocol_connections_total", "event=\"accepted\"", ss->accepted);
	u64(r, "closeloop_protocol_connections_total", "event=\"refused\"", ss->refused);
	u64(r, "closeloop_protocol_connections_total", "event=\"closed\"", ss->closed);
	fam(r, "closeloop_protocol_sessions", "gauge", "Open protocol sessions by role.");
	for (unsigned i = 0; i < SRV_N_ROLES; i++)
		u64(r, "closeloop_protocol_sessions",
		    lab1(lab, sizeof lab, "role", srv_role_names[i]), ss->by_role[i]);
	fam(r, "closeloop_protocol_frames_total", "counter", "Protocol frames.");
	u64(r, "closeloop_protocol_frames_total", "direction=\"in\"", ss->frames_in);
	u64(r, "closeloop_protocol_frames_total", "direction=\"out\"", ss->frames_out);
	fam(r, "closeloop_protocol_bytes_total", "counter", "Protocol bytes, framed.");
	u64(r, "closeloop_protocol_bytes_total", "direction=\"in\"", ss->bytes_in);
	u64(r, "closeloop_protocol_bytes_total", "direction=\"out\"", ss->bytes_out);
	fam(r, "closeloop_protocol_errors_total", "counter", "Error replies sent, by ErrorCode.");
	for (unsigned i = 1; i < SRV_N_ERRORS; i++)
		u64(r, "closeloop_protocol_errors_total",
		    lab1(lab, sizeof lab, "code", srv_error_names[i]), ss->errors[i]);
	fam(r, "closeloop_protocol_auth_ok_total", "counter", "Successful Hellos.");
	u64(r, "closeloop_protocol_auth_ok_total", NULL, ss->auth_ok);
	fam(r, "closeloop_protocol_cuts_total", "counter",
	    "Sessions the server closed, by reason.");
	u64(r, "closeloop_protocol_cuts_total", "reason=\"idle\"", ss->cut_idle);
	u64(r, "closeloop_protocol_cuts_total", "reason=\"write_timeout\"", ss->cut_write);
	u64(r, "closeloop_protocol_cuts_total", "reason=\"output\"", ss->cut_output);
	u64(r, "closeloop_protocol_cuts_total", "reason=\"error\"", ss->cut_error);
	fam(r, "closeloop_protocol_paused_total", "counter", "Reads paused by backpressure.");
	u64(r, "closeloop_protocol_paused_total", NULL, ss->paused);
	fam(r, "closeloop_protocol_dropped_total", "counter",
	    "Messages for sessions already closing.");
	u64(r, "closeloop_protocol_dropped_total", NULL, ss->dropped);
}

static void render_limits(struct render *r, struct http_api *h, const struct srv_stats *ss)
{
	const char *m = "closeloop_limit_hits_total";
	fam(r, m, "counter", "Configured limits reached, by limit and where it was hit.");
	u64(r, m, "limit=\"max_calls\",source=\"http\"", h->st.limit_calls);
	u64(r, m, "limit=\"max_calls\",source=\"protocol\"", ss->errors[12]);
	u64(r, m, "limit=\"max_queue\",source=\"router\"", h->st.queue_full);
	u64(r, m, "limit=\"max_sessions\",source=\"protocol\"", ss->refused);
	u64(r, m, "limit=\"max_output\",source=\"protocol\"", ss->cut_output);
	u64(r, m, "limit=\"max_frame\",source=\"protocol\"", ss->errors[1]);
	u64(r, m, "limit=\"max_frame\",source=\"http\"", h->st.too_large);
}

static void render_http(struct render *r, struct http_api *h)
{
	char lab[64], code[8];
	fam(r, "closeloop_http_requests_total", "counter", "HTTP requests received.");
	u64(r, "closeloop_http_requests_total", NULL, h->st.requests);
	fam(r, "closeloop_http_responses_total", "counter", "HTTP responses sent, by status.");
	for (size_t i = 0; i <= HTTP_N_STATUS; i++) {
		if (i < HTTP_N_STATUS)
			snprintf(code, sizeof code, "%d", http_counted_status[i]);
		else
			snprintf(code, sizeof code, "other");
		u64(r, "closeloop_http_responses_total", lab1(lab, sizeof lab, "code", code),
		    h->st.by_status[i]);
	}
	fam(r, "closeloop_http_route_answers_total", "counter", "/v1/route answers, by action.");
	for (int i = 0; i < HTTP_ANSWER_COUNT; i++)
		u64(r, "closeloop_http_route_answers_total",
		    lab1(lab, sizeof lab, "action", answer_names[i]), h->st.answers[i]);
	fam(r, "closeloop_http_offers_total", "counter", "Calls offered over HTTP.");
	u64(r, "closeloop_http_offers_total", NULL, h->st.offers);
	fam(r, "closeloop_http_held_requests", "gauge",
	    "/v1/route requests waiting for a decision.");
	u64(r, "closeloop_http_held_requests", NULL, h->n_held);
	fam(r, "closeloop_http_calls", "gauge", "Live calls offered over HTTP.");
	u64(r, "closeloop_http_calls", NULL, h->n_calls);
	fam(r, "closeloop_http_client_gone_total", "counter",
	    "Waiting /v1/route clients that went away (their calls were abandoned).");
	u64(r, "closeloop_http_client_gone_total", NULL, h->st.client_gone);
	fam(r, "closeloop_http_auth_failures_total", "counter", "Requests refused with 401.");
	u64(r, "closeloop_http_auth_failures_total", NULL, h->st.auth_failed);
	fam(r, "closeloop_config_reloads_total", "counter", "Reloads asked over HTTP, by result.");
	u64(r, "closeloop_config_reloads_total", "result=\"ok\"", h->st.reloads_ok);
	u64(r, "closeloop_config_reloads_total", "result=\"failed\"", h->st.reloads_failed);
}

static void render_redis(struct render *r, struct http_api *h)
{
	const struct pub *p = cl_engine_pub(h->eng);
	struct pub_stats ps;
	memset(&ps, 0, sizeof ps);
	if (p)
		pub_get_stats(p, &ps);
	fam(r, "closeloop_redis_enabled", "gauge", "1 when Redis publishing is on.");
	u64(r, "closeloop_redis_enabled", NULL, p != NULL);
	fam(r, "closeloop_redis_connected", "gauge", "1 while the publisher is connected.");
	u64(r, "closeloop_redis_connected", NULL, ps.connected);
	fam(r, "closeloop_redis_backlog", "gauge",
	    "Events accepted and not yet in the stream (memory and journal).");
	u64(r, "closeloop_redis_backlog", NULL, p ? pub_backlog(p) : 0);
	fam(r, "closeloop_redis_events_total", "counter", "Publisher events, by fate.");
	u64(r, "closeloop_redis_events_total", "fate=\"accepted\"", ps.accepted);
	u64(r, "closeloop_redis_events_total", "fate=\"published\"", ps.published);
	u64(r, "closeloop_redis_events_total", "fate=\"replayed\"", ps.replayed);
	u64(r, "closeloop_redis_events_total", "fate=\"duplicate_skipped\"", ps.dup_skipped);
	u64(r, "closeloop_redis_events_total", "fate=\"dropped\"", ps.dropped);
	fam(r, "closeloop_redis_stream_entries_total", "counter",
	    "Entries added to the event stream (each holds one or more events).");
	u64(r, "closeloop_redis_stream_entries_total", NULL, ps.entries);
	fam(r, "closeloop_redis_write_stalls_total", "counter",
	    "Writes to Redis that found its socket full (Redis reading too slowly).");
	u64(r, "closeloop_redis_write_stalls_total", NULL, ps.write_stalls);
	fam(r, "closeloop_redis_state_pending", "gauge",
	    "State hashes waiting for their flush or a command slot.");
	u64(r, "closeloop_redis_state_pending", NULL, ps.state_pending);
	fam(r, "closeloop_redis_inflight", "gauge", "Redis commands sent and not yet answered.");
	u64(r, "closeloop_redis_inflight", NULL, ps.inflight);
	fam(r, "closeloop_redis_journal_events", "gauge", "Events in the journal file.");
	u64(r, "closeloop_redis_journal_events", NULL, ps.journaled);
	fam(r, "closeloop_redis_reconnects_total", "counter", "Redis reconnections.");
	u64(r, "closeloop_redis_reconnects_total", NULL, ps.reconnects);
	fam(r, "closeloop_redis_errors_total", "counter",
	    "Redis error replies, failed connects and lost connections.");
	u64(r, "closeloop_redis_errors_total", NULL, ps.errors);
}

void http_ep_metrics(struct http_ctx *x)
{
	struct http_api *h = x->h;
	struct render r = {.b = evbuffer_new()};
	struct srv_stats ss;
	char lab[128];

	if (!r.b) {
		http_send_error(h, x->req, 503, "internal", "out of memory");
		return;
	}
	memset(&ss, 0, sizeof ss);
	if (cl_engine_srv(h->eng))
		srv_stats(cl_engine_srv(h->eng), &ss);
	fam(&r, "closeloop_build_info", "gauge", "The running closeloopd's version.");
	u64(&r, "closeloop_build_info", lab1(lab, sizeof lab, "version", CL_VERSION), 1);
	render_router(&r, h);
	render_limits(&r, h, &ss);
	render_protocol(&r, h, &ss);
	render_http(&r, h);
	render_redis(&r, h);
	if (r.err) {
		evbuffer_free(r.b);
		http_send_error(h, x->req, 503, "internal", "out of memory");
		return;
	}
	http_send_buffer(h, x->req, 200, "text/plain; version=0.0.4; charset=utf-8", r.b);
	evbuffer_free(r.b);
}

/* ---- /v1/stats ---- */

static json_t *hist_json(const struct metrics_hist *m)
{
	return json_pack(
		"{s:I,s:f,s:f,s:f,s:f}", "count", (json_int_t)metrics_hist_count(m), "mean",
		metrics_hist_count(m) ? (double)metrics_hist_sum(m) / (double)metrics_hist_count(m)
				      : 0.0,
		"p50", metrics_hist_quantile(m, 0.5), "p90", metrics_hist_quantile(m, 0.9), "p99",
		metrics_hist_quantile(m, 0.99));
}

void http_ep_stats(struct http_ctx *x)
{
	struct http_api *h = x->h;
	struct rt_stats st;
	struct srv_stats ss;

	rt_stats(cl_engine_rt(h->eng), &st);
	memset(&ss, 0, sizeof ss);
	if (cl_engine_srv(h->eng))
		srv_stats(cl_engine_srv(h->eng), &ss);
	uint64_t errors = 0;
	for (unsigned i = 1; i < SRV_N_ERRORS; i++)
		errors += ss.errors[i];
	json_t *o = json_pack(
		"{s:s,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
		"s:{s:I,s:I,s:I,s:I,s:I},"
		"s:{s:I,s:I,s:I,s:I,s:I},"
		"s:o,s:o,"
		"s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
		"s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
		"s:o}",
		"version", CL_VERSION, "calls", "offered", (json_int_t)st.offered, "routed",
		(json_int_t)st.routed, "queued", (json_int_t)st.queued, "rejected",
		(json_int_t)st.rejected, "abandoned", (json_int_t)st.abandoned, "completed",
		(json_int_t)st.completed, "owner_lost", (json_int_t)st.owner_lost, "live",
		(json_int_t)st.live_calls, "waiting", (json_int_t)st.waiting_calls, "router",
		"reservations", (json_int_t)st.reservations, "no_answers",
		(json_int_t)st.no_answers, "escalations", (json_int_t)st.escalations, "queues",
		(json_int_t)st.queues, "events", (json_int_t)cl_engine_events(h->eng), "targets",
		"logged_out", (json_int_t)st.targets_by_state[RT_TARGET_LOGGED_OUT], "ready",
		(json_int_t)st.targets_by_state[RT_TARGET_READY], "not_ready",
		(json_int_t)st.targets_by_state[RT_TARGET_NOT_READY], "wrap_up",
		(json_int_t)st.targets_by_state[RT_TARGET_WRAP_UP], "busy",
		(json_int_t)st.targets_busy, "wait_ms", hist_json(h->wait_hist), "route_latency_us",
		hist_json(h->route_hist), "protocol", "sessions", (json_int_t)ss.sessions,
		"accepted", (json_int_t)ss.accepted, "refused", (json_int_t)ss.refused, "frames_in",
		(json_int_t)ss.frames_in, "frames_out", (json_int_t)ss.frames_out, "bytes_in",
		(json_int_t)ss.bytes_in, "bytes_out", (json_int_t)ss.bytes_out, "errors",
		(json_int_t)errors, "http", "requests", (json_int_t)h->st.requests, "offers",
		(json_int_t)h->st.offers, "calls", (json_int_t)h->n_calls, "held",
		(json_int_t)h->n_held, "queue_timeouts",
		(json_int_t)h->st.answers[HTTP_ANSWER_QUEUE_TIMEOUT], "client_gone",
		(json_int_t)h->st.client_gone, "limit_hits", (json_int_t)h->st.limit_calls, "redis",
		redis_json(h));
	http_send_json(h, x->req, o ? 200 : 503, o);
}

/* ---- paging ---- */

struct page {
	uint64_t offset, limit;
	const char *state, *kind;
};

/* Only the keys in allowed (NULL-terminated) may appear, each once. */
static int parse_page(struct http_ctx *x, struct http_query *q, const char *const *allowed,
		      struct page *pg)
{
	struct http_err e;
	pg->offset = 0;
	pg->limit = HTTP_PAGE_DEFAULT;
	pg->state = pg->kind = NULL;
	if (http_query_parse(q, x->query, &e) < 0) {
		http_send_err(x->h, x->req, &e);
		return -1;
	}
	for (size_t i = 0; i < q->n; i++) {
		bool known = false, dup;
		for (size_t j = 0; allowed[j]; j++)
			known |= strcmp(allowed[j], q->key[i]) == 0;
		if (!known) {
			http_send_error(x->h, x->req, 400, "unknown_field",
					"unknown parameter '%.64s'", q->key[i]);
			return -1;
		}
		http_query_get(q, q->key[i], &dup);
		if (dup) {
			http_send_error(x->h, x->req, 400, "invalid_field",
					"%s is given more than once", q->key[i]);
			return -1;
		}
	}
	const char *v;
	if ((v = http_query_get(q, "offset", NULL)) &&
	    http_parse_uint(v, 0, UINT32_MAX, &pg->offset) < 0) {
		http_send_error(x->h, x->req, 400, "invalid_field",
				"offset must be an integer >= 0");
		return -1;
	}
	if ((v = http_query_get(q, "limit", NULL)) &&
	    http_parse_uint(v, 1, HTTP_PAGE_MAX, &pg->limit) < 0) {
		http_send_error(x->h, x->req, 400, "invalid_field", "limit must be 1..%u",
				HTTP_PAGE_MAX);
		return -1;
	}
	pg->state = http_query_get(q, "state", NULL);
	pg->kind = http_query_get(q, "kind", NULL);
	return 0;
}

/* ---- targets ---- */

static json_t *target_json(const struct rt_target_info *ti)
{
	json_t *o =
		json_pack("{s:s,s:s,s:s,s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:b,s:s?}", "id",
			  ti->id, "name", ti->name ? ti->name : ti->id, "kind",
			  ti->kind == CFG_KIND_PARTNER ? "partner" : "rep", "state",
			  http_target_state_name(ti->state), "reason", nz(ti->reason), "active",
			  (json_int_t)ti->active, "capacity", (json_int_t)ti->capacity, "misses",
			  (json_int_t)ti->misses, "offered", (json_int_t)ti->offered, "answered",
			  (json_int_t)ti->answered, "since_ms", (json_int_t)ti->since_ms,
			  "available", ti->available, "draining", ti->draining, "connected",
			  ti->session != NULL, "sip_uri", nz(ti->sip_uri));
	if (o) {
		json_object_set_new(o, "last_end_ms",
				    ti->last_end_ms ? json_integer((json_int_t)ti->last_end_ms)
						    : json_null());
		json_object_set_new(o, "closed", json_boolean(ti->closed));
	}
	return o;
}

struct target_walk {
	const struct rt *rt;
	const struct page *pg;
	int state; /* 0 = any */
	int kind;  /* 0 = any */
	uint64_t matched;
	json_t *arr;
	bool oom;
};

static int target_visit(void *arg, const struct rt_target *t)
{
	struct target_walk *w = arg;
	struct rt_target_info ti;
	rt_target_info(w->rt, t, &ti);
	if ((w->state && (int)ti.state != w->state) || (w->kind && ti.kind != w->kind))
		return 0;
	uint64_t i = w->matched++;
	if (i >= w->pg->offset && i - w->pg->offset < w->pg->limit) {
		json_t *o = target_json(&ti);
		if (!o || json_array_append_new(w->arr, o) < 0)
			w->oom = true;
	}
	return 0;
}

static int state_by_name(const char *s)
{
	for (int i = RT_TARGET_LOGGED_OUT; i <= RT_TARGET_WRAP_UP; i++)
		if (strcmp(s, http_target_state_name((enum rt_target_state)i)) == 0)
			return i;
	return -1;
}

void http_ep_targets(struct http_ctx *x)
{
	static const char *const allowed[] = {"offset", "limit", "state", "kind", NULL};
	struct http_query q;
	struct page pg;
	struct target_walk w = {.pg = &pg};

	if (parse_page(x, &q, allowed, &pg) < 0)
		goto out;
	if (pg.state && (w.state = state_by_name(pg.state)) < 0) {
		http_send_error(x->h, x->req, 400, "invalid_field",
				"state must be logged_out, ready, not_ready or wrap_up");
		goto out;
	}
	if (pg.kind) {
		if (strcmp(pg.kind, "rep") == 0)
			w.kind = CFG_KIND_REP;
		else if (strcmp(pg.kind, "partner") == 0)
			w.kind = CFG_KIND_PARTNER;
		else {
			http_send_error(x->h, x->req, 400, "invalid_field",
					"kind must be rep or partner");
			goto out;
		}
	}
	w.rt = cl_engine_rt(x->h->eng);
	if (!(w.arr = json_array())) {
		http_send_error(x->h, x->req, 503, "internal", "out of memory");
		goto out;
	}
	rt_foreach_target(w.rt, target_visit, &w);
	if (w.oom) {
		json_decref(w.arr);
		http_send_error(x->h, x->req, 503, "internal", "out of memory");
		goto out;
	}
	http_send_json(x->h, x->req, 200,
		       json_pack("{s:I,s:I,s:I,s:o}", "total", (json_int_t)w.matched, "offset",
				 (json_int_t)pg.offset, "limit", (json_int_t)pg.limit, "targets",
				 w.arr));
out:
	http_query_clear(&q);
}

void http_ep_target(struct http_ctx *x)
{
	struct rt *rt = cl_engine_rt(x->h->eng);
	struct rt_target *t = rt_target_find(rt, x->seg[2]);
	struct rt_target_info ti;

	if (!t) {
		http_send_error(x->h, x->req, 404, "unknown_target", "no target %s", x->seg[2]);
		return;
	}
	rt_target_info(rt, t, &ti);
	http_send_json(x->h, x->req, 200, target_json(&ti));
}

void http_ep_target_drain(struct http_ctx *x)
{
	struct http_api *h = x->h;
	const char *id = x->seg[2], *what = x->seg[3];
	bool drain;

	if (strcmp(what, "drain") == 0)
		drain = true;
	else if (strcmp(what, "undrain") == 0)
		drain = false;
	else {
		http_send_error(h, x->req, 404, "not_found",
				"unknown target action '%s' (drain, undrain)", what);
		return;
	}
	struct rt *rt = cl_engine_rt(h->eng);
	int rc = rt_target_drain(rt, id, drain);
	if (rc == -RT_ENOTARGET || rc == -RT_EINVAL) {
		http_send_error(h, x->req, 404, "unknown_target", "no target %s", id);
		return;
	}
	if (rc < 0) {
		http_send_error(h, x->req, 500, "internal", "target %s: %s", id, rt_strerror(rc));
		return;
	}
	CL_LOG_INFO("http: target %s %s by an operator", id, drain ? "drained" : "undrained");
	struct rt_target_info ti;
	rt_target_info(rt, rt_target_find(rt, id), &ti);
	http_send_json(h, x->req, 200, target_json(&ti));
}

/* ---- queues ---- */

struct queue_list {
	const struct page *pg;
	uint64_t now_ms, n;
	json_t *arr;
	bool oom;
};

static int queue_visit(void *arg, const struct rt_queue_info *q)
{
	struct queue_list *w = arg;
	uint64_t i = w->n++;
	if (i < w->pg->offset || i - w->pg->offset >= w->pg->limit)
		return 0;
	json_t *o =
		json_pack("{s:s,s:s?,s:I,s:I,s:I,s:s?}", "name", q->name, "territory", q->territory,
			  "waiting", (json_int_t)q->waiting, "available", (json_int_t)q->available,
			  "members", (json_int_t)q->members, "oldest_call", q->oldest_call);
	if (o) {
		json_object_set_new(o, "oldest_ms",
				    q->oldest_ms ? json_integer((json_int_t)q->oldest_ms)
						 : json_null());
		json_object_set_new(o, "oldest_wait_ms",
				    json_integer(q->oldest_ms && w->now_ms > q->oldest_ms
							 ? (json_int_t)(w->now_ms - q->oldest_ms)
							 : 0));
	}
	if (!o || json_array_append_new(w->arr, o) < 0)
		w->oom = true;
	return 0;
}

void http_ep_queues(struct http_ctx *x)
{
	static const char *const allowed[] = {"offset", "limit", NULL};
	struct http_query q;
	struct page pg;
	struct queue_list w = {.pg = &pg, .now_ms = wall_ms()};

	if (parse_page(x, &q, allowed, &pg) < 0)
		goto out;
	if (!(w.arr = json_array())) {
		http_send_error(x->h, x->req, 503, "internal", "out of memory");
		goto out;
	}
	rt_foreach_queue(cl_engine_rt(x->h->eng), queue_visit, &w);
	if (w.oom) {
		json_decref(w.arr);
		http_send_error(x->h, x->req, 503, "internal", "out of memory");
		goto out;
	}
	http_send_json(x->h, x->req, 200,
		       json_pack("{s:I,s:I,s:I,s:o}", "total", (json_int_t)w.n, "offset",
				 (json_int_t)pg.offset, "limit", (json_int_t)pg.limit, "queues",
				 w.arr));
out:
	http_query_clear(&q);
}

/* ---- reload ---- */

/*
 * Reload the file the engine was started with (a path from the request is
 * not accepted: the API must not make the engine read arbitrary files).
 * Blocking file I/O on the loop, like SIGHUP: it is rare and operator-driven.
 */
void http_ep_reload(struct http_ctx *x)
{
	struct http_api *h = x->h;
	char err[512] = "";
	size_t len;

	http_body(x->req, &len);
	if (len) {
		http_send_error(h, x->req, 400, "invalid_field",
				"reload takes no body: the engine reloads the file it was started "
				"with");
		return;
	}
	if (cl_engine_reload(h->eng, NULL, err, sizeof err) < 0) {
		h->st.reloads_failed++;
		http_send_error(h, x->req, 422, "reload_failed", "%s", err);
		return;
	}
	h->st.reloads_ok++;
	const struct cl_config *cfg = cl_engine_config(h->eng);
	http_apply_limits(h);
	struct rt_stats st;
	rt_stats(cl_engine_rt(h->eng), &st);
	http_send_json(h, x->req, 200,
		       json_pack("{s:b,s:s?,s:I,s:I,s:I,s:I}", "reloaded", 1, "path", cfg->path,
				 "territories", (json_int_t)cfg->n_territories, "targets",
				 (json_int_t)cfg->n_targets, "plans", (json_int_t)cfg->n_plans,
				 "live_calls", (json_int_t)st.live_calls));
}
