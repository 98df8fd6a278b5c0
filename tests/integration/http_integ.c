/*
 * http_integ.c — closeloopd's HTTP API against a real daemon (started by
 * http_run.sh with --http 127.0.0.1:0; argv: HTTP port, protocol port, pid,
 * configuration file). Agents and PBXs that speak the protocol use tclient;
 * HTTP goes through a small blocking HTTP/1.1 client below that keeps its
 * connection open between requests (keep-alive) unless told to close.
 *
 * Each scenario uses its own skill so the scenarios cannot route into each
 * other inside the one daemon. The last test sends SIGTERM while a request
 * is held and expects it answered "shutdown".
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>

#include "tclient.h"

#define T_WAIT 3000
#define N_TARGETS 9 /* in http_run.sh's configuration */

#define PBX "it-pbx-token"
#define ADMIN "it-admin-token"
#define OBSERVER "it-observer-token"
#define AGENT "it-agent-token"

#define ROLE_PBX CLOSELOOP__V1__ROLE__ROLE_PBX
#define ROLE_AGENT CLOSELOOP__V1__ROLE__ROLE_AGENT
#define M_QUEUE CLOSELOOP__V1__ENVELOPE__MSG_QUEUE_CALL
#define M_OFFER CLOSELOOP__V1__ENVELOPE__MSG_OFFER
#define EV_ABANDONED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED

struct it {
	uint16_t http, proto;
	pid_t daemon;
	const char *config;
};

static struct it the_it;

/* ------------------------------------------------------------ HTTP client */

struct conn {
	int fd;
	char buf[256 * 1024];
	size_t len;
};

struct resp {
	int status;
	char headers[8192];
	char *body;
	size_t blen;
	json_t *json; /* parsed when the body is JSON */
};

static struct conn *hconnect(uint16_t port)
{
	struct conn *c = calloc(1, sizeof *c);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_non_null(c);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		fail_msg("connect: %s", strerror(errno));
	return c;
}

static void hclose(struct conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fail_msg("send: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* Send one request; body may be NULL; extra is more header lines or NULL. */
static void hsend(struct conn *c, const char *method, const char *path, const char *token,
		  const char *body, const char *extra)
{
	char head[4096];
	int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, path);
	if (token)
		n += snprintf(head + n, sizeof head - (size_t)n, "Authorization: Bearer %s\r\n",
			      token);
	if (extra)
		n += snprintf(head + n, sizeof head - (size_t)n, "%s", extra);
	if (body)
		n += snprintf(head + n, sizeof head - (size_t)n,
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			      strlen(body));
	n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
	send_all(c->fd, head, (size_t)n);
	if (body)
		send_all(c->fd, body, strlen(body));
}

static void resp_free(struct resp *r)
{
	if (r->json)
		json_decref(r->json);
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* Read more into c->buf; 0 on EOF, -1 on timeout. */
static ssize_t fill(struct conn *c, int timeout_ms)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	int rc = poll(&p, 1, timeout_ms);
	if (rc <= 0)
		return -1;
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
	if (n > 0)
		c->len += (size_t)n;
	return n < 0 ? 0 : n;
}

/* The value of header name in r (case-insensitive), or NULL; into buf. */
static const char *header(const struct resp *r, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name);
	const char *p = r->headers;
	while ((p = strchr(p, '\n'))) {
		p++;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = strcspn(v, "\r\n");
			snprintf(buf, len, "%.*s", (int)vl, v);
			return buf;
		}
	}
	return NULL;
}

/* Read one response. Returns 0, or -1 when nothing complete came in time
 * (or the server closed first). */
static int hread(struct conn *c, struct resp *r, int timeout_ms)
{
	uint64_t end = tclient_now_ms() + (uint64_t)timeout_ms;
	char *eoh;
	memset(r, 0, sizeof *r);
	while (!(c->len && (eoh = memmem(c->buf, c->len, "\r\n\r\n", 4)))) {
		uint64_t now = tclient_now_ms();
		if (now >= end || fill(c, (int)(end - now)) <= 0)
			return -1;
	}
	size_t hl = (size_t)(eoh - c->buf) + 4;
	assert_true(hl < sizeof r->headers);
	memcpy(r->headers, c->buf, hl);
	r->headers[hl] = '\0';
	assert_int_equal(sscanf(r->headers, "HTTP/1.1 %d", &r->status), 1);
	char v[64];
	size_t blen = header(r, "Content-Length", v, sizeof v) ? strtoul(v, NULL, 10) : 0;
	while (c->len < hl + blen) {
		uint64_t now = tclient_now_ms();
		if (now >= end || fill(c, (int)(end - now)) <= 0)
			return -1;
	}
	r->body = malloc(blen + 1);
	assert_non_null(r->body);
	memcpy(r->body, c->buf + hl, blen);
	r->body[blen] = '\0';
	r->blen = blen;
	memmove(c->buf, c->buf + hl + blen, c->len - hl - blen);
	c->len -= hl + blen;
	if (header(r, "Content-Type", v, sizeof v) && strncmp(v, "application/json", 16) == 0) {
		json_error_t je;
		r->json = json_loadb(r->body, r->blen, 0, &je);
		if (!r->json)
			fail_msg("response is not JSON (%s): %s", je.text, r->body);
	}
	return 0;
}

/* One request on a fresh connection; the response must come in T_WAIT. */
static void call(struct it *it, const char *method, const char *path, const char *token,
		 const char *body, struct resp *r)
{
	struct conn *c = hconnect(it->http);
	hsend(c, method, path, token, body, NULL);
	if (hread(c, r, T_WAIT) < 0)
		fail_msg("%s %s: no response", method, path);
	hclose(c);
}

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		fail_msg("%s is not an integer", key);
	return json_integer_value(v);
}

static const char *err_code(const struct resp *r)
{
	const json_t *e = json_object_get(r->json, "error");
	assert_non_null(e);
	assert_non_null(jstr(e, "message"));
	return jstr(e, "code");
}

/* An error reply with status and code. */
static void expect_error(struct it *it, const char *method, const char *path, const char *token,
			 const char *body, int status, const char *code)
{
	struct resp r;
	call(it, method, path, token, body, &r);
	if (r.status != status || !r.json || strcmp(err_code(&r), code) != 0)
		fail_msg("%s %s: expected %d %s, got %d %s", method, path, status, code, r.status,
			 r.body);
	resp_free(&r);
}

/* ------------------------------------------------------------ helpers */

static long long stat_of(struct it *it, const char *group, const char *key)
{
	struct resp r;
	call(it, "GET", "/v1/stats", OBSERVER, NULL, &r);
	assert_int_equal(r.status, 200);
	long long v = jint(json_object_get(r.json, group), key);
	resp_free(&r);
	return v;
}

/* Status of GET /v1/calls/{id} (observer), with the body in r when 200. */
static int call_state(struct it *it, const char *id, struct resp *r)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/calls/%s", id);
	call(it, "GET", path, OBSERVER, NULL, r);
	return r->status;
}

/* Wait until call id is held by a waiting /v1/route request. */
static void wait_held(struct it *it, const char *id)
{
	uint64_t end = tclient_now_ms() + T_WAIT;
	for (;;) {
		struct resp r;
		if (call_state(it, id, &r) == 200 &&
		    json_is_true(json_object_get(r.json, "waiting_request"))) {
			resp_free(&r);
			return;
		}
		resp_free(&r);
		if (tclient_now_ms() > end)
			fail_msg("call %s is not held", id);
		usleep(20000);
	}
}

static struct tclient *agent(struct it *it, const char *rep)
{
	struct tclient *c = tclient_connect("127.0.0.1", it->proto, 0);
	assert_non_null(c);
	int rc = tclient_hello(c, ROLE_AGENT, AGENT, rep, T_WAIT);
	if (rc != 0)
		fail_msg("hello %s: %d %s", rep, rc, tclient_last_error(c));
	rc = tclient_reply(c, tclient_login(c, rep, true), T_WAIT);
	if (rc != 0)
		fail_msg("login %s: %d %s", rep, rc, tclient_last_error(c));
	return c;
}

static void post_event(struct it *it, const char *id, const char *ev, const char *body,
		       struct resp *r)
{
	char path[256];
	snprintf(path, sizeof path, "/v1/calls/%s/%s", id, ev);
	call(it, "POST", path, PBX, body, r);
}

static void end_call(struct it *it, const char *id)
{
	struct resp r;
	post_event(it, id, "answered", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	post_event(it, id, "ended", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "state"), "ended");
	resp_free(&r);
}

/* ------------------------------------------------------------ scenarios */

static void test_health(void **state)
{
	struct it *it = *state;
	struct resp r;
	char v[128];

	call(it, "GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status"), "ok");
	assert_non_null(header(&r, "Content-Length", v, sizeof v));
	resp_free(&r);

	call(it, "GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "ready")));
	json_t *l = json_object_get(r.json, "listeners");
	char want[64];
	snprintf(want, sizeof want, "127.0.0.1:%u", it->http);
	assert_string_equal(jstr(l, "http"), want);
	snprintf(want, sizeof want, "127.0.0.1:%u", it->proto);
	assert_string_equal(jstr(l, "protocol"), want);
	assert_string_equal(jstr(json_object_get(r.json, "redis"), "state"), "disabled");
	assert_int_equal(jint(json_object_get(r.json, "config"), "targets"), N_TARGETS);
	resp_free(&r);
}

/* A target is free: the answer comes at once, in one response. */
static void test_route_immediate(void **state)
{
	struct it *it = *state;
	struct resp r;

	call(it, "POST", "/v1/route", PBX,
	     "{\"call_id\":\"now-1\",\"from\":\"+4930111\",\"to\":\"800\",\"skills\":[\"s-now\"]}",
	     &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "action"), "route");
	assert_string_equal(jstr(r.json, "call_id"), "now-1");
	assert_string_equal(jstr(r.json, "target_id"), "p-now");
	assert_string_equal(jstr(r.json, "target_kind"), "partner");
	assert_string_equal(jstr(r.json, "target_uri"), "sip:sales@p-now.test");
	assert_string_equal(jstr(r.json, "territory"), "de");
	assert_string_equal(jstr(r.json, "plan"), "default");
	assert_int_equal(jint(r.json, "step"), 0);
	assert_true(jint(r.json, "reservation_id") > 0);
	resp_free(&r);
	end_call(it, "now-1");

	/* GET with a query string; '+' stays '+'; the admin token may route too. */
	call(it, "GET", "/v1/route?call_id=now-2&from=+4930222&to=800&skills=s-now", ADMIN, NULL,
	     &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "action"), "route");
	resp_free(&r);
	struct resp s;
	assert_int_equal(call_state(it, "now-2", &s), 200);
	assert_string_equal(jstr(s.json, "caller"), "+4930222");
	assert_string_equal(jstr(s.json, "frontend"), "http");
	assert_true(json_is_true(json_object_get(s.json, "routed")));
	resp_free(&s);
	end_call(it, "now-2");
}

/* Queued: the request is held until an agent logs in over the protocol. */
static void test_long_poll_released_by_login(void **state)
{
	struct it *it = *state;
	struct conn *c = hconnect(it->http);
	struct resp r;

	hsend(c, "GET",
	      "/v1/route?call_id=hold-1&from=%2B4930333&to=800&skills=s-hold&wait_ms=20000", PBX,
	      NULL, NULL);
	wait_held(it, "hold-1");
	/* A pipelined request behind the held one waits its turn and does not
	 * count as the client going away. */
	hsend(c, "GET", "/healthz", NULL, NULL, NULL);
	assert_int_equal(hread(c, &r, 200), -1); /* nothing yet */
	wait_held(it, "hold-1");
	struct tclient *a = agent(it, "rep-hold");
	if (hread(c, &r, T_WAIT) < 0)
		fail_msg("held request not answered after the login");
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "action"), "route");
	assert_string_equal(jstr(r.json, "target_id"), "rep-hold");
	assert_string_equal(jstr(r.json, "target_kind"), "rep");
	assert_string_equal(jstr(r.json, "target_uri"), "sip:hold@pbx.test");
	assert_true(jint(r.json, "waited_ms") >= 150);
	resp_free(&r);
	assert_int_equal(hread(c, &r, T_WAIT), 0); /* the pipelined one */
	assert_string_equal(jstr(r.json, "status"), "ok");
	resp_free(&r);

	/* The connection stays usable (keep-alive after a held answer). */
	hsend(c, "GET", "/healthz", NULL, NULL, NULL);
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	hclose(c);
	end_call(it, "hold-1");
	tclient_free(a);
}

/* A target that must accept: the request waits for the acceptance. */
static void test_wait_for_accept(void **state)
{
	struct it *it = *state;
	struct tclient *a = agent(it, "rep-acc");
	struct conn *c = hconnect(it->http);
	struct resp r;

	hsend(c, "GET", "/v1/route?call_id=acc-1&from=1&to=2&skills=s-acc&wait_ms=20000", PBX, NULL,
	      NULL);
	wire_env *o = tclient_expect(a, M_OFFER, TCLIENT_ANY_SEQ, T_WAIT);
	assert_non_null(o);
	assert_string_equal(o->offer->call_id, "acc-1");
	uint64_t resv = o->offer->reservation_id;
	wire_env_free(o);
	wait_held(it, "acc-1");
	assert_int_equal(call_state(it, "acc-1", &r), 200);
	assert_string_equal(jstr(r.json, "state"), "reserved");
	assert_true(json_is_false(json_object_get(r.json, "routed")));
	resp_free(&r);
	/* One waiting request per call. */
	expect_error(it, "GET", "/v1/route?call_id=acc-1", PBX, NULL, 409, "conflict");
	assert_int_equal(hread(c, &r, 100), -1);

	assert_int_equal(tclient_reply(a, tclient_offer_accept(a, "acc-1", resv), T_WAIT), 0);
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_string_equal(jstr(r.json, "action"), "route");
	assert_string_equal(jstr(r.json, "target_id"), "rep-acc");
	assert_int_equal(jint(r.json, "reservation_id"), (long long)resv);
	resp_free(&r);
	hclose(c);
	end_call(it, "acc-1");
	tclient_free(a);
}

/* Nobody comes: queue_timeout after wait_ms, and the call is gone. */
static void test_queue_timeout(void **state)
{
	struct it *it = *state;
	struct resp r;
	long long live = stat_of(it, "calls", "live");
	long long abandoned = stat_of(it, "calls", "abandoned");

	uint64_t t0 = tclient_now_ms();
	call(it, "GET", "/v1/route?call_id=tmo-1&from=%2B4930444&to=800&skills=s-tmo&wait_ms=300",
	     PBX, NULL, &r);
	uint64_t took = tclient_now_ms() - t0;
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "action"), "queue_timeout");
	assert_string_equal(jstr(r.json, "call_id"), "tmo-1");
	assert_int_equal(jint(r.json, "code"), 480);
	assert_int_equal(jint(r.json, "position"), 1);
	assert_true(jint(r.json, "waited_ms") >= 300);
	assert_true(took >= 290);
	resp_free(&r);
	assert_int_equal(call_state(it, "tmo-1", &r), 404);
	resp_free(&r);
	assert_int_equal(stat_of(it, "calls", "live"), live);
	assert_int_equal(stat_of(it, "calls", "abandoned"), abandoned + 1);

	/* wait_ms 0: never wait. */
	call(it, "POST", "/v1/route", PBX,
	     "{\"call_id\":\"tmo-2\",\"from\":\"+49\",\"to\":\"800\",\"skills\":\"s-tmo\","
	     "\"wait_ms\":0}",
	     &r);
	assert_string_equal(jstr(r.json, "action"), "queue_timeout");
	resp_free(&r);
	assert_int_equal(call_state(it, "tmo-2", &r), 404);
	resp_free(&r);
	assert_int_equal(stat_of(it, "calls", "live"), live);
}

/* The client goes away while held: the call is abandoned. */
static void test_client_gone(void **state)
{
	struct it *it = *state;
	struct resp r;
	long long gone = stat_of(it, "http", "client_gone");
	long long abandoned = stat_of(it, "calls", "abandoned");

	struct conn *c = hconnect(it->http);
	hsend(c, "GET",
	      "/v1/route?call_id=gone-1&from=%2B4930555&to=800&skills=s-gone&wait_ms=30000", PBX,
	      NULL, NULL);
	wait_held(it, "gone-1");
	hclose(c);
	uint64_t end = tclient_now_ms() + T_WAIT;
	while (call_state(it, "gone-1", &r) != 404) {
		resp_free(&r);
		if (tclient_now_ms() > end)
			fail_msg("gone-1 still live after its client left");
		usleep(20000);
	}
	resp_free(&r);
	assert_int_equal(stat_of(it, "http", "client_gone"), gone + 1);
	assert_int_equal(stat_of(it, "calls", "abandoned"), abandoned + 1);
	assert_int_equal(stat_of(it, "http", "held"), 0);
}

/* max_calls (6 here): the next offer is refused with 503 and Retry-After;
 * the waiting clients then leave and their calls go with them. */
static void test_limit(void **state)
{
	struct it *it = *state;
	struct conn *held[6];
	struct resp r;
	char path[160], v[32];
	long long gone = stat_of(it, "http", "client_gone");

	assert_int_equal(stat_of(it, "calls", "live"), 0);
	for (int i = 0; i < 6; i++) {
		held[i] = hconnect(it->http);
		snprintf(path, sizeof path,
			 "/v1/route?call_id=lim-%d&from=1&to=2&skills=s-tmo&wait_ms=20000", i);
		hsend(held[i], "GET", path, PBX, NULL, NULL);
		snprintf(path, sizeof path, "lim-%d", i);
		wait_held(it, path);
	}
	call(it, "GET", "/v1/route?call_id=lim-6&from=1&to=2&skills=s-tmo", PBX, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(err_code(&r), "limit");
	assert_non_null(header(&r, "Retry-After", v, sizeof v));
	resp_free(&r);
	assert_int_equal(call_state(it, "lim-6", &r), 404);
	resp_free(&r);
	for (int i = 0; i < 6; i++)
		hclose(held[i]);
	uint64_t end = tclient_now_ms() + T_WAIT;
	while (stat_of(it, "calls", "live") != 0) {
		if (tclient_now_ms() > end)
			fail_msg("calls of departed clients still live");
		usleep(20000);
	}
	assert_int_equal(stat_of(it, "http", "client_gone"), gone + 6);
	assert_int_equal(stat_of(it, "http", "calls"), 0);
}

/* The caller hangs up while the proxy waits: the held request learns it. */
static void test_abandoned_while_held(void **state)
{
	struct it *it = *state;
	struct conn *c = hconnect(it->http);
	struct resp r;

	hsend(c, "POST", "/v1/route", PBX,
	      "{\"call_id\":\"ab-1\",\"from\":\"+4930666\",\"to\":\"800\",\"skills\":[\"s-aband\"]"
	      "}",
	      NULL);
	wait_held(it, "ab-1");
	post_event(it, "ab-1", "abandoned", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "state"), "ended");
	resp_free(&r);
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_string_equal(jstr(r.json, "action"), "abandoned");
	assert_string_equal(jstr(r.json, "call_id"), "ab-1");
	resp_free(&r);
	hclose(c);
	post_event(it, "ab-1", "abandoned", NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(err_code(&r), "unknown_call");
	resp_free(&r);
}

/* answered / noanswer / ended, and the re-route a no-answer causes. */
static void test_call_progress(void **state)
{
	struct it *it = *state;
	struct tclient *a1 = agent(it, "rep-p1"), *a2 = agent(it, "rep-p2");
	struct resp r;
	char body[256];

	call(it, "GET", "/v1/route?call_id=pr-1&from=%2B4930777&to=800&skills=s-prog", PBX, NULL,
	     &r);
	assert_string_equal(jstr(r.json, "action"), "route");
	char first[32], other[32];
	snprintf(first, sizeof first, "%s", jstr(r.json, "target_id"));
	snprintf(other, sizeof other, "%s", strcmp(first, "rep-p1") == 0 ? "rep-p2" : "rep-p1");
	long long resv1 = jint(r.json, "reservation_id");
	resp_free(&r);

	/* Asking again while the reservation stands returns the same routing. */
	call(it, "GET", "/v1/route?call_id=pr-1", PBX, NULL, &r);
	assert_string_equal(jstr(r.json, "target_id"), first);
	assert_int_equal(jint(r.json, "reservation_id"), resv1);
	resp_free(&r);

	/* A target_id that is not the reserved one changes nothing. */
	snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", other);
	post_event(it, "pr-1", "noanswer", body, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_code(&r), "wrong_target");
	resp_free(&r);

	snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", first);
	post_event(it, "pr-1", "noanswer", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "state"), "reserved");
	assert_string_equal(jstr(r.json, "target_id"), other);
	resp_free(&r);

	/* The proxy learns the new target on its next /v1/route. */
	call(it, "POST", "/v1/route", PBX, "{\"call_id\":\"pr-1\"}", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "action"), "route");
	assert_string_equal(jstr(r.json, "target_id"), other);
	assert_true(jint(r.json, "reservation_id") > resv1);
	resp_free(&r);

	post_event(it, "pr-1", "ended", NULL, &r); /* not answered yet */
	assert_int_equal(r.status, 409);
	assert_string_equal(err_code(&r), "bad_state");
	resp_free(&r);
	snprintf(body, sizeof body, "{\"target_id\":\"%s\"}", other);
	post_event(it, "pr-1", "answered", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "state"), "connected");
	resp_free(&r);
	post_event(it, "pr-1", "answered", NULL, &r);
	assert_int_equal(r.status, 409);
	resp_free(&r);
	call(it, "GET", "/v1/route?call_id=pr-1", PBX, NULL, &r); /* connected: no routing */
	assert_int_equal(r.status, 409);
	assert_string_equal(err_code(&r), "bad_state");
	resp_free(&r);
	post_event(it, "pr-1", "ended", "  ", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "state"), "ended");
	resp_free(&r);
	post_event(it, "pr-1", "ended", NULL, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	tclient_free(a1);
	tclient_free(a2);
}

/* A call offered over the protocol is not the HTTP client's. */
static void test_foreign_call(void **state)
{
	struct it *it = *state;
	struct tclient *p = tclient_connect("127.0.0.1", it->proto, 0);
	struct resp r;
	assert_non_null(p);
	assert_int_equal(tclient_hello(p, ROLE_PBX, PBX, "pbx", T_WAIT), 0);
	const char *skills[] = {"s-proto", NULL};
	uint64_t seq = tclient_offer(p, "pc-1", "+4930888", NULL, NULL, skills);
	wire_env *q = tclient_expect(p, M_QUEUE, seq, T_WAIT);
	assert_non_null(q);
	wire_env_free(q);

	expect_error(it, "GET", "/v1/route?call_id=pc-1&from=1&to=2", PBX, NULL, 409, "conflict");
	expect_error(it, "POST", "/v1/calls/pc-1/abandoned", PBX, NULL, 403, "forbidden");
	expect_error(it, "GET", "/v1/calls/pc-1", PBX, NULL, 403, "forbidden");
	assert_int_equal(call_state(it, "pc-1", &r), 200); /* observers see every call */
	assert_string_equal(jstr(r.json, "frontend"), "protocol");
	assert_string_equal(jstr(r.json, "state"), "queued");
	resp_free(&r);
	assert_int_equal(
		tclient_reply(p, tclient_call_event(p, EV_ABANDONED, "pc-1", NULL), T_WAIT), 0);
	tclient_free(p);
}

static void test_bad_input(void **state)
{
	struct it *it = *state;
	struct resp r;
	long long offered = stat_of(it, "calls", "offered");

	expect_error(it, "POST", "/v1/route", PBX, "{", 400, "bad_json");
	expect_error(it, "POST", "/v1/route", PBX, "", 400, "bad_json");
	expect_error(it, "POST", "/v1/route", PBX, "[]", 400, "bad_json");
	expect_error(it, "POST", "/v1/route", PBX, "{\"from\":\"+49\",\"to\":\"1\"}", 400,
		     "missing_field");
	expect_error(it, "GET", "/v1/route?call_id=bad-1&from=%2B49", PBX, NULL, 400,
		     "missing_field");
	expect_error(it, "GET", "/v1/route?call_id=bad-1&from=1&to=2&skills=nope", PBX, NULL, 400,
		     "unknown_skill");
	expect_error(it, "GET", "/v1/route?call_id=bad-1&from=1&to=2&postcode=1", PBX, NULL, 400,
		     "unknown_field");
	expect_error(it, "GET", "/v1/route?call_id=bad-1&from=1&to=2&priority=500", PBX, NULL, 400,
		     "invalid_field");
	expect_error(it, "GET", "/v1/route?call_id=bad%ZZ", PBX, NULL, 400, "invalid_query");
	expect_error(it, "GET", "/nope", NULL, NULL, 404, "not_found");
	expect_error(it, "GET", "/v1/route/", PBX, NULL, 404, "not_found");
	expect_error(it, "POST", "/v1/calls/nope-1/answered", PBX, NULL, 404, "unknown_call");
	expect_error(it, "POST", "/v1/calls/nope-1/frobnicate", PBX, NULL, 404, "not_found");
	expect_error(it, "POST", "/v1/calls/nope-1/answered", PBX, "{\"target\":1}", 400,
		     "unknown_field");

	/* Wrong method: 405 with Allow. */
	call(it, "DELETE", "/v1/route", PBX, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(err_code(&r), "method_not_allowed");
	char v[64];
	assert_non_null(header(&r, "Allow", v, sizeof v));
	assert_string_equal(v, "GET, POST");
	resp_free(&r);
	expect_error(it, "POST", "/healthz", NULL, "{}", 405, "method_not_allowed");

	/* Bodies over max_frame (4096 here). */
	char *big = malloc(20000);
	assert_non_null(big);
	memset(big, ' ', 5000);
	strcpy(big + 5000, "{}");
	expect_error(it, "POST", "/v1/route", PBX, big, 413, "body_too_large");
	memset(big, ' ', 19000);
	strcpy(big + 19000, "{}");
	call(it, "POST", "/v1/route", PBX, big, &r); /* evhttp's own refusal */
	assert_int_equal(r.status, 413);
	resp_free(&r);
	free(big);

	/* None of that offered a call. */
	assert_int_equal(stat_of(it, "calls", "offered"), offered);
}

static void test_auth(void **state)
{
	struct it *it = *state;
	struct resp r;
	char v[128];

	call(it, "GET", "/v1/stats", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(err_code(&r), "unauthorized");
	assert_non_null(header(&r, "WWW-Authenticate", v, sizeof v));
	assert_true(strncmp(v, "Bearer", 6) == 0);
	resp_free(&r);
	expect_error(it, "GET", "/v1/stats", "wrong-token", NULL, 401, "unauthorized");
	expect_error(it, "GET", "/v1/stats", AGENT, NULL, 401, "unauthorized");
	expect_error(it, "GET", "/v1/stats", PBX, NULL, 403, "forbidden");
	expect_error(it, "GET", "/v1/targets", PBX, NULL, 403, "forbidden");
	expect_error(it, "GET", "/v1/route?call_id=x&from=1&to=2", OBSERVER, NULL, 403,
		     "forbidden");
	expect_error(it, "GET", "/v1/route?call_id=x&from=1&to=2", NULL, NULL, 401, "unauthorized");
	expect_error(it, "POST", "/v1/reload", PBX, NULL, 403, "forbidden");
	expect_error(it, "POST", "/v1/reload", OBSERVER, NULL, 403, "forbidden");
	expect_error(it, "POST", "/v1/targets/p-drain/drain", OBSERVER, NULL, 403, "forbidden");
	expect_error(it, "POST", "/v1/targets/p-drain/drain", PBX, NULL, 403, "forbidden");

	/* Not a bearer token. */
	struct conn *c = hconnect(it->http);
	hsend(c, "GET", "/v1/stats", NULL, NULL, "Authorization: Basic aXQ6aXQ=\r\n");
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	hclose(c);

	call(it, "GET", "/v1/stats", OBSERVER, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(it, "GET", "/v1/stats", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	call(it, "GET", "/metrics", NULL, NULL, &r); /* open, like /healthz */
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* Refused requests changed nothing. */
	call(it, "GET", "/v1/targets/p-drain", ADMIN, NULL, &r);
	assert_true(json_is_false(json_object_get(r.json, "draining")));
	resp_free(&r);
}

static void test_drain(void **state)
{
	struct it *it = *state;
	struct resp r;

	call(it, "POST", "/v1/targets/p-drain/drain", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "id"), "p-drain");
	assert_true(json_is_true(json_object_get(r.json, "draining")));
	resp_free(&r);
	call(it, "GET", "/v1/targets/p-drain", OBSERVER, NULL, &r);
	assert_true(json_is_true(json_object_get(r.json, "draining")));
	assert_true(json_is_false(json_object_get(r.json, "available")));
	resp_free(&r);

	call(it, "GET", "/v1/route?call_id=dr-1&from=1&to=2&skills=s-drain&wait_ms=200", PBX, NULL,
	     &r);
	assert_string_equal(jstr(r.json, "action"), "queue_timeout");
	resp_free(&r);

	call(it, "POST", "/v1/targets/p-drain/undrain", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_false(json_object_get(r.json, "draining")));
	resp_free(&r);
	call(it, "GET", "/v1/route?call_id=dr-2&from=1&to=2&skills=s-drain", PBX, NULL, &r);
	assert_string_equal(jstr(r.json, "action"), "route");
	assert_string_equal(jstr(r.json, "target_id"), "p-drain");
	resp_free(&r);
	end_call(it, "dr-2");

	expect_error(it, "POST", "/v1/targets/nobody/drain", ADMIN, NULL, 404, "unknown_target");
	expect_error(it, "POST", "/v1/targets/p-drain/melt", ADMIN, NULL, 404, "not_found");
	expect_error(it, "GET", "/v1/targets/nobody", ADMIN, NULL, 404, "unknown_target");
}

static void test_listings(void **state)
{
	struct it *it = *state;
	struct resp r;

	call(it, "GET", "/v1/targets?limit=2", OBSERVER, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(jint(r.json, "total"), N_TARGETS);
	assert_int_equal(json_array_size(json_object_get(r.json, "targets")), 2);
	resp_free(&r);
	call(it, "GET", "/v1/targets?kind=partner", OBSERVER, NULL, &r);
	assert_int_equal(jint(r.json, "total"), 2);
	json_t *t0 = json_array_get(json_object_get(r.json, "targets"), 0);
	assert_string_equal(jstr(t0, "kind"), "partner");
	assert_non_null(jstr(t0, "sip_uri"));
	resp_free(&r);
	call(it, "GET", "/v1/targets?state=logged_out&offset=1&limit=1", OBSERVER, NULL, &r);
	assert_int_equal(r.status, 200);
	long long lo = jint(r.json, "total");
	assert_true(lo >= 1);
	assert_int_equal(json_array_size(json_object_get(r.json, "targets")), lo > 1 ? 1 : 0);
	resp_free(&r);
	call(it, "GET", "/v1/targets?offset=100", OBSERVER, NULL, &r);
	assert_int_equal(jint(r.json, "total"), N_TARGETS);
	assert_int_equal(json_array_size(json_object_get(r.json, "targets")), 0);
	resp_free(&r);
	expect_error(it, "GET", "/v1/targets?state=sleepy", OBSERVER, NULL, 400, "invalid_field");
	expect_error(it, "GET", "/v1/targets?limit=0", OBSERVER, NULL, 400, "invalid_field");
	expect_error(it, "GET", "/v1/targets?foo=1", OBSERVER, NULL, 400, "unknown_field");

	call(it, "GET", "/v1/queues", OBSERVER, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(jint(r.json, "total") >= 1);
	json_t *q0 = json_array_get(json_object_get(r.json, "queues"), 0);
	assert_non_null(jstr(q0, "name"));
	resp_free(&r);
}

/* ---- /metrics: every line is a comment or `name{labels} value` ---- */

static bool name_char(int ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' ||
	       (!first && ch >= '0' && ch <= '9');
}

/* Parse one sample line; fills name and value. Returns 0 or -1. */
static int parse_sample(const char *line, char *name, size_t nlen, char *labels, size_t llen,
			double *value)
{
	const char *p = line;
	size_t n = 0;
	if (!name_char((unsigned char)*p, true))
		return -1;
	while (name_char((unsigned char)*p, false)) {
		if (n + 1 >= nlen)
			return -1;
		name[n++] = *p++;
	}
	name[n] = '\0';
	labels[0] = '\0';
	if (*p == '{') {
		const char *start = ++p;
		for (;;) {
			if (!name_char((unsigned char)*p, true))
				return -1;
			while (name_char((unsigned char)*p, false))
				p++;
			if (*p++ != '=' || *p++ != '"')
				return -1;
			while (*p && *p != '"') {
				if (*p == '\\') {
					p++;
					if (*p != '\\' && *p != '"' && *p != 'n')
						return -1;
				}
				p++;
			}
			if (*p++ != '"')
				return -1;
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p == '}')
				break;
			return -1;
		}
		snprintf(labels, llen, "%.*s", (int)(p - start), start);
		p++;
	}
	if (*p++ != ' ')
		return -1;
	if (strcmp(p, "+Inf") == 0) {
		*value = INFINITY;
		return 0;
	}
	if (strcmp(p, "-Inf") == 0) {
		*value = -INFINITY;
		return 0;
	}
	if (strcmp(p, "NaN") == 0) {
		*value = NAN;
		return 0;
	}
	char *end;
	*value = strtod(p, &end);
	return (end != p && *end == '\0') ? 0 : -1;
}

/* Value of the sample `name{labels}` (labels exact, "" for none), or -1. */
static double sample_value(const char *text, const char *want_name, const char *want_labels)
{
	char *copy = strdup(text), *save = NULL;
	double out = -1;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[256], labels[1024];
		double v;
		if (line[0] == '#' ||
		    parse_sample(line, name, sizeof name, labels, sizeof labels, &v))
			continue;
		if (strcmp(name, want_name) == 0 && strcmp(labels, want_labels) == 0) {
			out = v;
			break;
		}
	}
	free(copy);
	return out;
}

static void test_metrics(void **state)
{
	struct it *it = *state;
	struct resp r;
	char v[128];

	call(it, "GET", "/metrics", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(header(&r, "Content-Type", v, sizeof v));
	assert_true(strncmp(v, "text/plain; version=0.0.4", 25) == 0);
	assert_true(r.blen > 0 && r.body[r.blen - 1] == '\n');

	char *copy = strdup(r.body), *save = NULL;
	size_t lines = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[256], labels[1024], type[32];
		double val;
		lines++;
		if (line[0] == '#') {
			if (strncmp(line, "# HELP ", 7) == 0)
				continue;
			if (sscanf(line, "# TYPE %255s %31s", name, type) == 2 &&
			    (strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
			     strcmp(type, "histogram") == 0))
				continue;
			fail_msg("bad comment line: %s", line);
		}
		if (parse_sample(line, name, sizeof name, labels, sizeof labels, &val) < 0)
			fail_msg("bad sample line: %s", line);
		if (strncmp(name, "closeloop_", 10) != 0)
			fail_msg("metric outside the closeloop_ namespace: %s", line);
	}
	free(copy);
	assert_true(lines > 50);

	/* Values that the scenarios above must have produced. */
	assert_true(sample_value(r.body, "closeloop_calls_total", "outcome=\"offered\"") >= 8);
	assert_true(sample_value(r.body, "closeloop_http_client_gone_total", "") >= 1);
	assert_true(sample_value(r.body, "closeloop_http_route_answers_total",
				 "action=\"queue_timeout\"") >= 3);
	assert_true(sample_value(r.body, "closeloop_targets", "state=\"ready\"") >= 1);
	assert_true(sample_value(r.body, "closeloop_limit_hits_total",
				 "limit=\"max_frame\",source=\"http\"") >= 1);
	assert_true(sample_value(r.body, "closeloop_limit_hits_total",
				 "limit=\"max_calls\",source=\"http\"") >= 1);
	assert_true(sample_value(r.body, "closeloop_http_responses_total", "code=\"401\"") >= 1);
	assert_true(sample_value(r.body, "closeloop_protocol_sessions", "role=\"pbx\"") >= 0);

	/* Histograms: cumulative buckets, +Inf equals _count. */
	static const struct {
		const char *name, *labels;
	} hists[] = {
		{"closeloop_wait_seconds", ""},
		{"closeloop_route_decision_seconds", "frontend=\"http\""},
	};
	for (size_t h = 0; h < 2; h++) {
		char bucket[128], count[128];
		snprintf(bucket, sizeof bucket, "%s_bucket", hists[h].name);
		snprintf(count, sizeof count, "%s_count", hists[h].name);
		double n = sample_value(r.body, count, hists[h].labels);
		assert_true(n >= 1);
		double prev = 0, inf = -1;
		size_t buckets = 0;
		copy = strdup(r.body);
		save = NULL;
		for (char *line = strtok_r(copy, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char name[256], labels[1024];
			double val;
			if (line[0] == '#' ||
			    parse_sample(line, name, sizeof name, labels, sizeof labels, &val) ||
			    strcmp(name, bucket) != 0)
				continue;
			buckets++;
			assert_true(val >= prev);
			prev = val;
			if (strstr(labels, "le=\"+Inf\""))
				inf = val;
		}
		free(copy);
		assert_true(buckets > 10);
		assert_true(inf == n);
	}
	resp_free(&r);
}

/* Two requests on one connection; Connection: close is honoured. */
static void test_keep_alive(void **state)
{
	struct it *it = *state;
	struct conn *c = hconnect(it->http);
	struct resp r;

	hsend(c, "GET", "/healthz", NULL, NULL, NULL);
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	hsend(c, "POST", "/v1/route", PBX,
	      "{\"call_id\":\"ka-1\",\"from\":\"+4930999\",\"to\":\"800\",\"skills\":[\"s-now\"]}",
	      NULL);
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_string_equal(jstr(r.json, "action"), "route");
	resp_free(&r);
	/* Pipelined: two requests in one write, two answers in order. */
	hsend(c, "GET", "/healthz", NULL, NULL, NULL);
	hsend(c, "GET", "/v1/calls/ka-1", PBX, NULL, NULL);
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_string_equal(jstr(r.json, "status"), "ok");
	resp_free(&r);
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_string_equal(jstr(r.json, "call_id"), "ka-1");
	resp_free(&r);
	hsend(c, "GET", "/healthz", NULL, NULL, "Connection: close\r\n");
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(fill(c, T_WAIT), 0); /* closed by the server */
	hclose(c);
	end_call(it, "ka-1");
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *s = calloc(1, 1 << 16);
	assert_non_null(s);
	size_t n = fread(s, 1, (1 << 16) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* POST /v1/reload: refused with the reason, applied, and a request held
 * across it still gets its answer. */
static void test_reload(void **state)
{
	struct it *it = *state;
	struct resp r;
	struct conn *c = hconnect(it->http);
	char *orig = read_file(it->config);

	hsend(c, "GET", "/v1/route?call_id=rl-1&from=1&to=2&skills=s-tmo&wait_ms=20000", PBX, NULL,
	      NULL);
	wait_held(it, "rl-1");

	char *broken = malloc(strlen(orig) + 64);
	assert_non_null(broken);
	sprintf(broken, "%sbogus_key: 1\n", orig);
	write_file(it->config, broken);
	free(broken);
	call(it, "POST", "/v1/reload", ADMIN, NULL, &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(err_code(&r), "reload_failed");
	assert_non_null(strstr(jstr(json_object_get(r.json, "error"), "message"), "bogus_key"));
	resp_free(&r);
	expect_error(it, "POST", "/v1/reload", ADMIN, "{\"path\":\"/etc/passwd\"}", 400,
		     "invalid_field");

	write_file(it->config, orig);
	free(orig);
	call(it, "POST", "/v1/reload", ADMIN, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "reloaded")));
	assert_int_equal(jint(r.json, "targets"), N_TARGETS);
	resp_free(&r);

	/* The held call survived the reload with its owner. */
	post_event(it, "rl-1", "abandoned", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(hread(c, &r, T_WAIT), 0);
	assert_string_equal(jstr(r.json, "action"), "abandoned");
	resp_free(&r);
	hclose(c);

	/* Routing works on the new router. */
	call(it, "GET", "/v1/route?call_id=rl-2&from=1&to=2&skills=s-now", PBX, NULL, &r);
	assert_string_equal(jstr(r.json, "action"), "route");
	resp_free(&r);
	end_call(it, "rl-2");
}

/* SIGTERM with a request held: it is answered "shutdown" before the exit. */
static void test_shutdown_with_held_request(void **state)
{
	struct it *it = *state;
	struct conn *c = hconnect(it->http);
	struct resp r;

	hsend(c, "GET", "/v1/route?call_id=bye-1&from=1&to=2&skills=s-bye&wait_ms=60000", PBX, NULL,
	      NULL);
	wait_held(it, "bye-1");
	/* A second one waits for a target's acceptance: the router does not
	 * reject reserved calls at shutdown, the HTTP API answers it itself. */
	struct tclient *a = agent(it, "rep-acc2");
	struct conn *c2 = hconnect(it->http);
	hsend(c2, "GET", "/v1/route?call_id=bye-2&from=1&to=2&skills=s-acc2&wait_ms=60000", PBX,
	      NULL, NULL);
	wire_env *o = tclient_expect(a, M_OFFER, TCLIENT_ANY_SEQ, T_WAIT);
	assert_non_null(o);
	wire_env_free(o);
	wait_held(it, "bye-2");
	/* A third client only connects: it must not keep the engine up. */
	struct conn *c3 = hconnect(it->http);

	assert_int_equal(kill(it->daemon, SIGTERM), 0);
	struct conn *cs[] = {c, c2};
	for (int i = 0; i < 2; i++) {
		if (hread(cs[i], &r, T_WAIT) < 0)
			fail_msg("held request %d not answered at shutdown", i + 1);
		assert_int_equal(r.status, 200);
		assert_string_equal(jstr(r.json, "action"), "reject");
		assert_int_equal(jint(r.json, "code"), 503);
		assert_string_equal(jstr(r.json, "reason"), "shutdown");
		resp_free(&r);
	}
	hclose(c);
	hclose(c2);
	hclose(c3);
	tclient_free(a);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_health, &the_it),
		cmocka_unit_test_prestate(test_route_immediate, &the_it),
		cmocka_unit_test_prestate(test_long_poll_released_by_login, &the_it),
		cmocka_unit_test_prestate(test_wait_for_accept, &the_it),
		cmocka_unit_test_prestate(test_queue_timeout, &the_it),
		cmocka_unit_test_prestate(test_client_gone, &the_it),
		cmocka_unit_test_prestate(test_limit, &the_it),
		cmocka_unit_test_prestate(test_abandoned_while_held, &the_it),
		cmocka_unit_test_prestate(test_call_progress, &the_it),
		cmocka_unit_test_prestate(test_foreign_call, &the_it),
		cmocka_unit_test_prestate(test_bad_input, &the_it),
		cmocka_unit_test_prestate(test_auth, &the_it),
		cmocka_unit_test_prestate(test_drain, &the_it),
		cmocka_unit_test_prestate(test_listings, &the_it),
		cmocka_unit_test_prestate(test_keep_alive, &the_it),
		cmocka_unit_test_prestate(test_metrics, &the_it),
		cmocka_unit_test_prestate(test_reload, &the_it),
		cmocka_unit_test_prestate(test_shutdown_with_held_request, &the_it),
	};
	long http = argc == 5 ? strtol(argv[1], NULL, 10) : 0;
	long proto = argc == 5 ? strtol(argv[2], NULL, 10) : 0;
	long pid = argc == 5 ? strtol(argv[3], NULL, 10) : 0;

	if (http <= 0 || http > 65535 || proto <= 0 || proto > 65535 || pid <= 1) {
		fprintf(stderr,
			"usage: %s HTTP_PORT PROTO_PORT DAEMON_PID CONFIG (run by http_run.sh)\n",
			argv[0]);
		return 2;
	}
	the_it.http = (uint16_t)http;
	the_it.proto = (uint16_t)proto;
	the_it.daemon = (pid_t)pid;
	the_it.config = argv[4];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("integ_http", tests, NULL, NULL);
}
