/*
 * test_srv.c — the protocol server in process: a real event_base, a real
 * configuration, the real router and real loopback sockets. The test client
 * (tclient) pumps the loop while it waits, so server and clients share one
 * thread and every run is deterministic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>

#include "cfg.h"
#include "log.h"
#include "rt.h"
#include "srv.h"
#include "tclient.h"
#include "terr.h"
#include "wire.h"

#define T_WAIT 2000 /* ms: generous; every wait normally ends in a few ms */

#define ROLE_PBX CLOSELOOP__V1__ROLE__ROLE_PBX
#define ROLE_AGENT CLOSELOOP__V1__ROLE__ROLE_AGENT
#define ROLE_PARTNER CLOSELOOP__V1__ROLE__ROLE_PARTNER
#define ROLE_ADMIN CLOSELOOP__V1__ROLE__ROLE_ADMIN
#define ROLE_OBSERVER CLOSELOOP__V1__ROLE__ROLE_OBSERVER

#define E_BAD_FRAME CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_FRAME
#define E_DECODE CLOSELOOP__V1__ERROR_CODE__ERROR_DECODE
#define E_UNKNOWN_MESSAGE CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_MESSAGE
#define E_NOT_AUTH CLOSELOOP__V1__ERROR_CODE__ERROR_NOT_AUTHENTICATED
#define E_AUTH_FAILED CLOSELOOP__V1__ERROR_CODE__ERROR_AUTH_FAILED
#define E_FORBIDDEN CLOSELOOP__V1__ERROR_CODE__ERROR_FORBIDDEN
#define E_UNKNOWN_CALL CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_CALL
#define E_UNKNOWN_TARGET CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_TARGET
#define E_DUPLICATE CLOSELOOP__V1__ERROR_CODE__ERROR_DUPLICATE_CALL
#define E_BAD_STATE CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_STATE
#define E_INVALID CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT
#define E_LIMIT CLOSELOOP__V1__ERROR_CODE__ERROR_LIMIT
#define E_VERSION CLOSELOOP__V1__ERROR_CODE__ERROR_VERSION

#define M_ERROR CLOSELOOP__V1__ENVELOPE__MSG_ERROR
#define M_PONG CLOSELOOP__V1__ENVELOPE__MSG_PONG
#define M_ROUTE CLOSELOOP__V1__ENVELOPE__MSG_ROUTE_CALL
#define M_QUEUE CLOSELOOP__V1__ENVELOPE__MSG_QUEUE_CALL
#define M_REJECT CLOSELOOP__V1__ENVELOPE__MSG_REJECT_CALL
#define M_OFFER CLOSELOOP__V1__ENVELOPE__MSG_OFFER
#define M_REVOKED CLOSELOOP__V1__ENVELOPE__MSG_OFFER_REVOKED
#define M_STATUS CLOSELOOP__V1__ENVELOPE__MSG_AGENT_STATUS

#define ST_READY CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_READY
#define ST_NOT_READY CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_NOT_READY

#define EV_ANSWERED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED
#define EV_NO_ANSWER CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER
#define EV_ENDED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED
#define EV_ABANDONED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED

/* %s takes the limits section. */
static const char *const cfg_fmt =
	"engine:\n"
	"  listen: \"127.0.0.1:7400\"\n"
	"limits:\n"
	"%s"
	"router:\n"
	"  ring_timeout_ms: 10000\n"
	"  miss_pause_ms: 0\n"
	"auth:\n"
	"  pbx: pbx-secret\n"
	"  agent: agent-secret\n"
	"  admin: admin-secret\n"
	"  observer: observer-secret\n"
	"redis:\n"
	"  enabled: false\n"
	"skills: [printers, scanners, lang-de]\n"
	"territories:\n"
	"  - name: de\n"
	"    phone: [\"+49\"]\n"
	"  - name: de-south\n"
	"    parent: de\n"
	"    postal: [\"8\"]\n"
	"    phone: [\"+498\"]\n"
	"default_territory: de\n"
	"reps:\n"
	"  - id: rep-a\n"
	"    territories: [de]\n"
	"    skills: {printers: 5, lang-de: 5}\n"
	"    sip: \"sip:rep-a@pbx.test\"\n"
	"  - id: rep-b\n"
	"    territories: [de]\n"
	"    skills: {printers: 3, lang-de: 5}\n"
	"    sip: \"sip:rep-b@pbx.test\"\n"
	"partners:\n"
	"  - id: p-one\n"
	"    token: p-one-secret\n"
	"    territories: [de-south]\n"
	"    skills: {printers: 4}\n"
	"    seats: 2\n"
	"    sip: \"sip:sales@p-one.test\"\n"
	"    auto_ready: false\n"
	"  - id: p-two\n"
	"    token: p-two-secret\n"
	"    territories: [de-south]\n"
	"    skills: {printers: 4}\n"
	"    seats: 1\n"
	"    sip: \"sip:sales@p-two.test\"\n"
	"    auto_ready: false\n"
	"    needs_accept: true\n"
	"plans:\n"
	"  - name: soho\n"
	"    match: {segment: [soho]}\n"
	"    steps:\n"
	"      - {targets: partners, territory: caller, skills: all, strategy: longest-idle}\n"
	"  - name: default\n"
	"    steps:\n"
	"      - {targets: reps, territory: any, skills: all, strategy: longest-idle}\n";

static const char *const default_limits = "  max_sessions: 64\n";

struct fx {
	struct event_base *base;
	struct cl_config *cfg;
	struct terr_index *ti;
	struct rt *rt;
	struct srv *srv;
	uint16_t port;
	struct tclient *cl[16];
	size_t n_cl;
};

static void pump(void *arg)
{
	event_base_loop(arg, EVLOOP_NONBLOCK);
}

/* Run the loop for about ms milliseconds. */
static void spin(struct fx *f, int ms)
{
	uint64_t end = tclient_now_ms() + (uint64_t)ms;
	while (tclient_now_ms() < end)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static struct fx *fx_open(const char *limits)
{
	struct fx *f = calloc(1, sizeof *f);
	char yaml[8192], err[512], addr[64];
	struct rt_hooks hooks;

	assert_non_null(f);
	snprintf(yaml, sizeof yaml, cfg_fmt, limits);
	if (cl_config_load_string(yaml, "test.yaml", &f->cfg, err, sizeof err) < 0)
		fail_msg("config: %s", err);
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->ti = terr_index_new(f->cfg));
	assert_non_null(f->srv = srv_new(f->base, f->cfg, "closeloopd test"));
	srv_rt_hooks(&hooks);
	assert_non_null(f->rt = rt_new(f->base, f->cfg, f->ti, &hooks, f->srv));
	srv_set_rt(f->srv, f->rt);
	assert_int_equal(srv_listen(f->srv, "127.0.0.1:0"), 0);
	assert_int_equal(srv_local_addr(f->srv, addr, sizeof addr), 0);
	const char *colon = strrchr(addr, ':');
	assert_non_null(colon);
	f->port = (uint16_t)atoi(colon + 1);
	assert_true(f->port > 0);
	return f;
}

static int setup(void **state)
{
	*state = fx_open(default_limits);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < f->n_cl; i++)
		tclient_free(f->cl[i]);
	srv_free(f->srv);
	rt_free(f->rt);
	terr_index_free(f->ti);
	cl_config_free(f->cfg);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* A connected client (not authenticated), freed by teardown. */
static struct tclient *fx_conn(struct fx *f, int rcvbuf)
{
	struct tclient *c = tclient_connect("127.0.0.1", f->port, rcvbuf);
	assert_non_null(c);
	tclient_set_pump(c, pump, f->base);
	assert_true(f->n_cl < sizeof f->cl / sizeof f->cl[0]);
	f->cl[f->n_cl++] = c;
	return c;
}

static struct tclient *fx_client(struct fx *f, int role, const char *token, const char *identity)
{
	struct tclient *c = fx_conn(f, 0);
	int rc = tclient_hello(c, role, token, identity, T_WAIT);
	if (rc != 0)
		fail_msg("hello role %d: %d %s", role, rc, tclient_last_error(c));
	return c;
}

/* Close one of the fixture's clients early. */
static void fx_drop(struct fx *f, struct tclient *c)
{
	for (size_t i = 0; i < f->n_cl; i++) {
		if (f->cl[i] == c) {
			tclient_free(c);
			f->cl[i] = f->cl[--f->n_cl];
			return;
		}
	}
}

static struct srv_stats stats(struct fx *f)
{
	struct srv_stats st;
	srv_stats(f->srv, &st);
	return st;
}

/* Wait for an Error reply to seq and return its code (-1 none). */
static int expect_error(struct tclient *c, uint64_t seq)
{
	wire_env *e = tclient_expect(c, M_ERROR, seq, T_WAIT);
	if (!e)
		return -1;
	int code = (int)e->error->code;
	wire_env_free(e);
	return code;
}

static void assert_alive(struct tclient *c)
{
	uint64_t seq = tclient_ping(c, 4242);
	assert_true(seq > 0);
	wire_env *e = tclient_expect(c, M_PONG, seq, T_WAIT);
	assert_non_null(e);
	assert_int_equal(e->pong->nonce, 4242);
	wire_env_free(e);
}

static enum rt_call_state call_state(struct fx *f, const char *id)
{
	struct rt_call *c = rt_call_find(f->rt, id);
	struct rt_call_info ci;
	if (!c)
		return RT_CALL_ENDED;
	rt_call_info(f->rt, c, &ci);
	return ci.state;
}

static enum rt_target_state target_state(struct fx *f, const char *id)
{
	struct rt_target_info ti;
	rt_target_info(f->rt, rt_target_find(f->rt, id), &ti);
	return ti.state;
}

static void put_hdr(unsigned char *p, uint32_t len)
{
	p[0] = (unsigned char)(len >> 24);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
}

/* ------------------------------------------------------------- sessions */

static void test_auth_failures(void **state)
{
	struct fx *f = *state;
	struct {
		int role;
		const char *token, *identity;
	} bad[] = {
		{ROLE_PBX, "wrong", NULL},
		{9, "pbx-secret", NULL},                /* no such role */
		{0, "pbx-secret", NULL},                /* unspecified */
		{ROLE_AGENT, "pbx-secret", NULL},       /* another role's token */
		{ROLE_PARTNER, "p-two-secret", "p-one"}, /* another partner's token */
		{ROLE_PARTNER, "p-one-secret", "p-on"},  /* no such partner */
		{ROLE_PARTNER, "agent-secret", "rep-a"}, /* a rep is not a partner */
		{ROLE_PBX, "pbx-secre", NULL},          /* prefix of the token */
		{ROLE_PBX, "pbx-secrett", NULL},        /* token plus a byte */
		{ROLE_PBX, "", NULL},
	};
	size_t n = sizeof bad / sizeof bad[0];

	for (size_t i = 0; i < n; i++) {
		struct tclient *c = fx_conn(f, 0);
		assert_int_equal(tclient_hello(c, bad[i].role, bad[i].token, bad[i].identity, T_WAIT),
				 E_AUTH_FAILED);
		assert_int_equal(tclient_wait_closed(c, T_WAIT), 1);
	}
	struct tclient *ok = fx_client(f, ROLE_PARTNER, "p-one-secret", "p-one");
	assert_alive(ok);
	spin(f, 20);
	struct srv_stats st = stats(f);
	assert_int_equal(st.errors[E_AUTH_FAILED], n);
	assert_int_equal(st.cut_error, n);
	assert_int_equal(st.auth_ok, 1);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.by_role[ROLE_PARTNER], 1);
	assert_int_equal(st.by_role[0], 0);
}

static void test_not_authenticated(void **state)
{
	struct fx *f = *state;
	struct tclient *c = fx_conn(f, 0);

	assert_int_equal(expect_error(c, tclient_ping(c, 1)), E_NOT_AUTH);
	assert_int_equal(expect_error(c, tclient_offer(c, "c-early", "+4930111", NULL, NULL, NULL)),
			 E_NOT_AUTH);
	assert_null(rt_call_find(f->rt, "c-early"));
	assert_false(tclient_is_closed(c));
	/* The connection was kept: Hello still works. */
	uint64_t seq = tclient_send_hello(c, ROLE_PBX, "pbx-secret", "pbx-1");
	wire_env *e = tclient_expect(c, CLOSELOOP__V1__ENVELOPE__MSG_HELLO_OK, seq, T_WAIT);
	assert_non_null(e);
	assert_int_equal(e->hello_ok->version, 1);
	assert_string_equal(e->hello_ok->engine, "closeloopd test");
	assert_int_equal(e->hello_ok->max_frame, 65536);
	wire_env_free(e);
	assert_alive(c);
	/* A second Hello is out of order but harmless. */
	assert_int_equal(tclient_hello(c, ROLE_PBX, "pbx-secret", NULL, T_WAIT), E_BAD_STATE);
	assert_alive(c);
	assert_int_equal(stats(f).errors[E_NOT_AUTH], 2);
}

static void test_forbidden_by_role(void **state)
{
	struct fx *f = *state;
	struct tclient *pbx = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *agent = fx_client(f, ROLE_AGENT, "agent-secret", NULL);
	struct tclient *obs = fx_client(f, ROLE_OBSERVER, "observer-secret", NULL);
	struct tclient *admin = fx_client(f, ROLE_ADMIN, "admin-secret", NULL);
	const char *printers[] = {"printers", NULL};

	/* Only a PBX offers calls. */
	assert_int_equal(expect_error(agent, tclient_offer(agent, "c-x", "+4930111", NULL, NULL,
							   printers)),
			 E_FORBIDDEN);
	assert_int_equal(expect_error(admin, tclient_offer(admin, "c-x", "+4930111", NULL, NULL,
							   printers)),
			 E_FORBIDDEN);
	assert_null(rt_call_find(f->rt, "c-x"));
	/* A PBX does not log in; an observer does nothing but Ping. */
	assert_int_equal(expect_error(pbx, tclient_login(pbx, "rep-a", true)), E_FORBIDDEN);
	assert_int_equal(expect_error(obs, tclient_set_state(obs, "rep-a", ST_READY, NULL)),
			 E_FORBIDDEN);
	assert_int_equal(expect_error(obs, tclient_login(obs, "rep-a", true)), E_FORBIDDEN);
	assert_alive(obs);
	assert_int_equal(target_state(f, "rep-a"), RT_TARGET_LOGGED_OUT);
	/* Admins change states, never offers. */
	assert_int_equal(expect_error(admin, tclient_offer_accept(admin, "c-x", 1)), E_FORBIDDEN);
	/* Engine-to-peer messages are never accepted from a peer. */
	Closeloop__V1__RouteCall rc = CLOSELOOP__V1__ROUTE_CALL__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	rc.call_id = "c-x";
	env.msg_case = M_ROUTE;
	env.route_call = &rc;
	assert_int_equal(expect_error(pbx, tclient_send(pbx, &env)), E_FORBIDDEN);

	/* An agent binds to one rep, never to a partner. */
	assert_int_equal(expect_error(agent, tclient_login(agent, "p-one", true)), E_FORBIDDEN);
	assert_int_equal(expect_error(agent, tclient_login(agent, "nobody", true)), E_UNKNOWN_TARGET);
	assert_int_equal(expect_error(agent, tclient_set_state(agent, "", ST_READY, NULL)),
			 E_BAD_STATE); /* not logged in yet */
	assert_int_equal(tclient_reply(agent, tclient_login(agent, "rep-a", false), T_WAIT), 0);
	assert_int_equal(target_state(f, "rep-a"), RT_TARGET_NOT_READY);
	assert_int_equal(expect_error(agent, tclient_login(agent, "rep-b", true)), E_BAD_STATE);
	assert_int_equal(expect_error(agent, tclient_set_state(agent, "rep-b", ST_READY, NULL)),
			 E_FORBIDDEN);
	assert_int_equal(expect_error(agent, tclient_logout(agent, "rep-b")), E_FORBIDDEN);
	assert_int_equal(target_state(f, "rep-b"), RT_TARGET_LOGGED_OUT);
	assert_int_equal(expect_error(agent, tclient_set_state(agent, "", 1 /* LOGGED_OUT */, NULL)),
			 E_INVALID);
	assert_int_equal(tclient_reply(agent, tclient_set_state(agent, "", ST_READY, NULL), T_WAIT),
			 0);
	assert_int_equal(target_state(f, "rep-a"), RT_TARGET_READY);
	wire_env *st = tclient_expect(agent, M_STATUS, 0, T_WAIT);
	assert_non_null(st);
	assert_string_equal(st->agent_status->target_id, "rep-a");
	wire_env_free(st);

	/* An admin may act on any target, and must name it. */
	assert_int_equal(
		tclient_reply(admin, tclient_set_state(admin, "rep-a", ST_NOT_READY, "training"), T_WAIT),
		0);
	assert_int_equal(target_state(f, "rep-a"), RT_TARGET_NOT_READY);
	struct rt_target_info ti;
	rt_target_info(f->rt, rt_target_find(f->rt, "rep-a"), &ti);
	assert_string_equal(ti.reason, "training");
	assert_int_equal(expect_error(admin, tclient_set_state(admin, "", ST_READY, NULL)), E_INVALID);
	assert_int_equal(expect_error(admin, tclient_set_state(admin, "ghost", ST_READY, NULL)),
			 E_UNKNOWN_TARGET);
	assert_int_equal(expect_error(admin, tclient_set_state(admin, "rep-b", ST_READY, NULL)),
			 E_BAD_STATE); /* logged out */
	assert_int_equal(tclient_reply(admin, tclient_logout(admin, "rep-a"), T_WAIT), 0);
	assert_int_equal(target_state(f, "rep-a"), RT_TARGET_LOGGED_OUT);
	/* The agent's session lost its binding with the logout. */
	assert_int_equal(expect_error(agent, tclient_set_state(agent, "", ST_READY, NULL)),
			 E_BAD_STATE);
	assert_int_equal(tclient_reply(agent, tclient_login(agent, "rep-b", true), T_WAIT), 0);
	assert_int_equal(target_state(f, "rep-b"), RT_TARGET_READY);
}

static void test_unknown_message(void **state)
{
	struct fx *f = *state;
	struct tclient *c = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	/* An Envelope with no member at all. */
	env.seq = 77;
	assert_true(tclient_send(c, &env));
	assert_int_equal(expect_error(c, 77), E_UNKNOWN_MESSAGE);
	/* A member from a newer protocol (field 99): decodes, unknown. */
	unsigned char frame[] = {0, 0, 0, 6, 0x10, 0x05, 0x9a, 0x06, 0x01, 0x00};
	assert_int_equal(tclient_send_raw(c, frame, sizeof frame), 0);
	assert_int_equal(expect_error(c, 5), E_UNKNOWN_MESSAGE);
	assert_alive(c);
	assert_int_equal(stats(f).errors[E_UNKNOWN_MESSAGE], 2);
}

static void test_version(void **state)
{
	struct fx *f = *state;
	struct tclient *c = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	Closeloop__V1__Ping p = CLOSELOOP__V1__PING__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	env.version = 2;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_PING;
	env.ping = &p;
	uint64_t seq = tclient_send(c, &env);
	assert_int_equal(expect_error(c, seq), E_VERSION);
	assert_int_equal(tclient_wait_closed(c, T_WAIT), 1);
	assert_null(tclient_expect(c, M_PONG, TCLIENT_ANY_SEQ, 0));
}

/* ---------------------------------------------------------------- framing */

static void test_oversized_frame_isolated(void **state)
{
	struct fx *f = *state;
	struct tclient *bad = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *zero = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *good = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	unsigned char hdr[4];

	put_hdr(hdr, 65537);
	assert_int_equal(tclient_send_raw(bad, hdr, sizeof hdr), 0);
	assert_int_equal(expect_error(bad, 0), E_BAD_FRAME);
	assert_int_equal(tclient_wait_closed(bad, T_WAIT), 1);
	put_hdr(hdr, 0);
	assert_int_equal(tclient_send_raw(zero, hdr, sizeof hdr), 0);
	assert_int_equal(expect_error(zero, 0), E_BAD_FRAME);
	assert_int_equal(tclient_wait_closed(zero, T_WAIT), 1);
	/* The others never noticed. */
	assert_alive(good);
	spin(f, 20);
	struct srv_stats st = stats(f);
	assert_int_equal(st.errors[E_BAD_FRAME], 2);
	assert_int_equal(st.sessions, 1);
}

static void test_truncated_frame(void **state)
{
	struct fx *f = *state;
	struct tclient *a = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *b = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	unsigned char part[] = {0, 0, 0, 40, 0x08, 0x01, 0x10};

	/* Half a frame, then half-close: the server answers what was whole
	 * (the Ping), drops the partial frame and closes. */
	uint64_t seq = tclient_ping(a, 9);
	assert_int_equal(tclient_send_raw(a, part, sizeof part), 0);
	assert_int_equal(tclient_shutdown_write(a), 0);
	assert_int_equal(tclient_wait_closed(a, T_WAIT), 1);
	wire_env *e = tclient_expect(a, M_PONG, seq, 0);
	assert_non_null(e);
	wire_env_free(e);
	/* Half a frame, then a hard close. */
	assert_int_equal(tclient_send_raw(b, part, sizeof part), 0);
	spin(f, 10);
	fx_drop(f, b);
	spin(f, 50);
	struct srv_stats st = stats(f);
	assert_int_equal(st.sessions, 0);
	assert_int_equal(st.closed, 2);
}

static void test_undecodable(void **state)
{
	struct fx *f = *state;
	struct tclient *c = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *other = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	unsigned char junk[] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff};

	assert_int_equal(tclient_send_raw(c, junk, sizeof junk), 0);
	assert_int_equal(expect_error(c, 0), E_DECODE);
	assert_int_equal(tclient_wait_closed(c, T_WAIT), 1);
	assert_alive(other);
	assert_int_equal(stats(f).errors[E_DECODE], 1);
}

/* ------------------------------------------------------------------ calls */

/* Offer a call and expect it routed; returns the RouteCall (caller frees). */
static wire_env *offer_routed(struct tclient *pbx, const char *id, const char *caller,
			      const char *segment)
{
	const char *printers[] = {"printers", NULL};
	uint64_t seq = tclient_offer(pbx, id, caller, NULL, segment, printers);
	wire_env *e = tclient_expect(pbx, TCLIENT_ANY, seq, T_WAIT);
	assert_non_null(e);
	if (e->msg_case != M_ROUTE)
		fail_msg("call %s: expected RouteCall, got %s", id, wire_msg_name(e));
	return e;
}

static void test_call_errors(void **state)
{
	struct fx *f = *state;
	struct tclient *pbx = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *pbx2 = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *agent = fx_client(f, ROLE_AGENT, "agent-secret", NULL);
	const char *printers[] = {"printers", NULL};

	assert_int_equal(tclient_reply(agent, tclient_login(agent, "rep-a", true), T_WAIT), 0);
	wire_env *r = offer_routed(pbx, "c-1", "+4930111", NULL);
	assert_string_equal(r->route_call->call_id, "c-1");
	assert_string_equal(r->route_call->target_id, "rep-a");
	assert_string_equal(r->route_call->sip_uri, "sip:rep-a@pbx.test");
	assert_int_equal(r->route_call->target_kind, CLOSELOOP__V1__TARGET_KIND__TARGET_KIND_REP);
	assert_string_equal(r->route_call->territory, "de");
	assert_string_equal(r->route_call->plan, "default");
	uint64_t resv = r->route_call->reservation_id;
	assert_true(resv > 0);
	wire_env_free(r);
	wire_env *o = tclient_expect(agent, M_OFFER, 0, T_WAIT);
	assert_non_null(o);
	assert_string_equal(o->offer->call_id, "c-1");
	assert_int_equal(o->offer->reservation_id, resv);
	assert_string_equal(o->offer->caller, "+4930111");
	assert_int_equal(o->offer->n_skills, 1);
	assert_string_equal(o->offer->skills[0], "printers");
	assert_false(o->offer->needs_accept);
	wire_env_free(o);

	/* Duplicate id, unknown id, missing id, unknown skill. */
	uint64_t seq = tclient_offer(pbx, "c-1", "+4930111", NULL, NULL, printers);
	wire_env *e = tclient_expect(pbx, M_ERROR, seq, T_WAIT);
	assert_non_null(e);
	assert_int_equal(e->error->code, E_DUPLICATE);
	assert_string_equal(e->error->call_id, "c-1");
	wire_env_free(e);
	assert_int_equal(expect_error(pbx, tclient_call_event(pbx, EV_ANSWERED, "c-404", NULL)),
			 E_UNKNOWN_CALL);
	assert_int_equal(expect_error(pbx, tclient_call_event(pbx, EV_ENDED, "", NULL)), E_INVALID);
	const char *bogus[] = {"telepathy", NULL};
	assert_int_equal(expect_error(pbx, tclient_offer(pbx, "c-2", "+4930111", NULL, NULL, bogus)),
			 E_INVALID);
	assert_null(rt_call_find(f->rt, "c-2"));

	/* Out of order: ended before answered. Nothing changes. */
	assert_int_equal(expect_error(pbx, tclient_call_event(pbx, EV_ENDED, "c-1", NULL)),
			 E_BAD_STATE);
	assert_int_equal(call_state(f, "c-1"), RT_CALL_RESERVED);
	/* Answered by the wrong target; by another PBX's connection. */
	assert_int_equal(expect_error(pbx, tclient_call_event(pbx, EV_ANSWERED, "c-1", "rep-b")),
			 E_INVALID);
	assert_int_equal(expect_error(pbx2, tclient_call_event(pbx2, EV_ANSWERED, "c-1", NULL)),
			 E_FORBIDDEN);
	assert_int_equal(call_state(f, "c-1"), RT_CALL_RESERVED);

	/* The right order works. */
	assert_int_equal(tclient_reply(pbx, tclient_call_event(pbx, EV_ANSWERED, "c-1", "rep-a"),
				       T_WAIT),
			 0);
	assert_int_equal(call_state(f, "c-1"), RT_CALL_CONNECTED);
	assert_int_equal(expect_error(pbx, tclient_call_event(pbx, EV_ABANDONED, "c-1", NULL)),
			 E_BAD_STATE);
	assert_int_equal(call_state(f, "c-1"), RT_CALL_CONNECTED);
	assert_int_equal(tclient_reply(pbx, tclient_call_event(pbx, EV_ENDED, "c-1", NULL), T_WAIT),
			 0);
	assert_null(rt_call_find(f->rt, "c-1"));
	assert_int_equal(expect_error(pbx, tclient_call_event(pbx, EV_ENDED, "c-1", NULL)),
			 E_UNKNOWN_CALL);
	/* The rep is free again: the next call goes to it. */
	r = offer_routed(pbx, "c-3", "+4930111", NULL);
	assert_string_equal(r->route_call->target_id, "rep-a");
	wire_env_free(r);
}

static void test_queue_then_route(void **state)
{
	struct fx *f = *state;
	struct tclient *pbx = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	const char *printers[] = {"printers", NULL};

	uint64_t seq = tclient_offer(pbx, "c-q", "+4930111", NULL, NULL, printers);
	wire_env *q = tclient_expect(pbx, TCLIENT_ANY, seq, T_WAIT);
	assert_non_null(q);
	assert_int_equal(q->msg_case, M_QUEUE);
	assert_int_equal(q->queue_call->position, 1);
	wire_env_free(q);
	assert_int_equal(call_state(f, "c-q"), RT_CALL_QUEUED);

	struct tclient *agent = fx_client(f, ROLE_AGENT, "agent-secret", NULL);
	assert_int_equal(tclient_reply(agent, tclient_login(agent, "rep-b", true), T_WAIT), 0);
	/* The later RouteCall is unsolicited but echoes the CallOffered's seq. */
	wire_env *r = tclient_expect(pbx, M_ROUTE, TCLIENT_ANY_SEQ, T_WAIT);
	assert_non_null(r);
	assert_int_equal(r->seq, seq);
	assert_string_equal(r->route_call->target_id, "rep-b");
	wire_env_free(r);
	/* Abandon while ringing: the offer is revoked. */
	assert_int_equal(tclient_reply(pbx, tclient_call_event(pbx, EV_ABANDONED, "c-q", NULL), T_WAIT),
			 0);
	wire_env *rv = tclient_expect(agent, M_REVOKED, 0, T_WAIT);
	assert_non_null(rv);
	assert_string_equal(rv->offer_revoked->call_id, "c-q");
	assert_string_equal(rv->offer_revoked->reason, "abandoned");
	wire_env_free(rv);
	assert_null(rt_call_find(f->rt, "c-q"));
}

static void test_partner_reservations(void **state)
{
	struct fx *f = *state;
	struct tclient *pbx = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *one = fx_client(f, ROLE_PARTNER, "p-one-secret", "p-one");
	struct tclient *two = fx_client(f, ROLE_PARTNER, "p-two-secret", "p-two");
	const char *printers[] = {"printers", NULL};

	/* Only p-two is ready: the soho call in de-south is reserved for it,
	 * and it must accept before the PBX hears anything. */
	assert_int_equal(tclient_reply(two, tclient_login(two, "", true), T_WAIT), 0);
	assert_int_equal(tclient_reply(one, tclient_login(one, "p-one", false), T_WAIT), 0);
	uint64_t seq = tclient_offer(pbx, "c-p", "+49891234", NULL, "soho", printers);
	wire_env *o = tclient_expect(two, M_OFFER, 0, T_WAIT);
	assert_non_null(o);
	assert_true(o->offer->needs_accept);
	assert_string_equal(o->offer->territory, "de-south");
	uint64_t resv = o->offer->reservation_id;
	wire_env_free(o);
	assert_null(tclient_expect(pbx, M_ROUTE, seq, 50));

	/* p-one may not touch p-two's reservation, state or login. */
	assert_int_equal(expect_error(one, tclient_offer_accept(one, "c-p", resv)), E_FORBIDDEN);
	assert_int_equal(expect_error(one, tclient_offer_decline(one, "c-p", resv, "mine")),
			 E_FORBIDDEN);
	assert_int_equal(expect_error(one, tclient_set_state(one, "p-two", ST_NOT_READY, NULL)),
			 E_FORBIDDEN);
	assert_int_equal(expect_error(one, tclient_login(one, "p-two", true)), E_FORBIDDEN);
	assert_int_equal(expect_error(one, tclient_logout(one, "p-two")), E_FORBIDDEN);
	assert_int_equal(call_state(f, "c-p"), RT_CALL_RESERVED);
	assert_int_equal(target_state(f, "p-two"), RT_TARGET_READY);

	/* A stale reservation id is refused; the right one routes the call. */
	assert_int_equal(expect_error(two, tclient_offer_accept(two, "c-p", resv + 100)), E_BAD_STATE);
	assert_int_equal(tclient_reply(two, tclient_offer_accept(two, "c-p", resv), T_WAIT), 0);
	wire_env *r = tclient_expect(pbx, M_ROUTE, seq, T_WAIT);
	assert_non_null(r);
	assert_string_equal(r->route_call->target_id, "p-two");
	assert_int_equal(r->route_call->target_kind, CLOSELOOP__V1__TARGET_KIND__TARGET_KIND_PARTNER);
	assert_string_equal(r->route_call->sip_uri, "sip:sales@p-two.test");
	assert_int_equal(r->route_call->reservation_id, resv);
	wire_env_free(r);
}

static void test_owner_gone(void **state)
{
	struct fx *f = *state;
	struct tclient *pbx = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *agent = fx_client(f, ROLE_AGENT, "agent-secret", NULL);

	assert_int_equal(tclient_reply(agent, tclient_login(agent, "rep-a", true), T_WAIT), 0);
	wire_env *r = offer_routed(pbx, "c-g", "+4930111", NULL);
	wire_env_free(r);
	fx_drop(f, pbx);
	wire_env *rv = tclient_expect(agent, M_REVOKED, 0, T_WAIT);
	assert_non_null(rv);
	assert_string_equal(rv->offer_revoked->call_id, "c-g");
	wire_env_free(rv);
	assert_null(rt_call_find(f->rt, "c-g"));
	struct rt_stats rs;
	rt_stats(f->rt, &rs);
	assert_int_equal(rs.owner_lost, 1);

	/* And an agent that goes away is logged out. */
	fx_drop(f, agent);
	spin(f, 50);
	assert_int_equal(target_state(f, "rep-a"), RT_TARGET_LOGGED_OUT);
}

static void test_takeover(void **state)
{
	struct fx *f = *state;
	struct tclient *old = fx_client(f, ROLE_AGENT, "agent-secret", NULL);
	struct tclient *neu = fx_client(f, ROLE_AGENT, "agent-secret", NULL);

	assert_int_equal(tclient_reply(old, tclient_login(old, "rep-a", true), T_WAIT), 0);
	tclient_drop(old, TCLIENT_ANY);
	assert_int_equal(tclient_reply(neu, tclient_login(neu, "rep-a", true), T_WAIT), 0);
	wire_env *st = tclient_expect(old, M_STATUS, 0, T_WAIT);
	assert_non_null(st);
	assert_int_equal(st->agent_status->state, CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_LOGGED_OUT);
	wire_env_free(st);
	/* The old session is unbound; closing it does not log the rep out. */
	assert_int_equal(expect_error(old, tclient_set_state(old, "", ST_NOT_READY, NULL)),
			 E_BAD_STATE);
	fx_drop(f, old);
	spin(f, 50);
	assert_int_equal(target_state(f, "rep-a"), RT_TARGET_READY);
}

/* ----------------------------------------------------------------- limits */

static void test_max_sessions(void **state)
{
	struct fx *f = fx_open("  max_sessions: 2\n");
	(void)state;
	struct tclient *a = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *b = fx_conn(f, 0);
	struct tclient *c = fx_conn(f, 0);

	assert_int_equal(expect_error(c, 0), E_LIMIT);
	assert_int_equal(tclient_wait_closed(c, T_WAIT), 1);
	assert_alive(a);
	fx_drop(f, b);
	spin(f, 50);
	struct tclient *d = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	assert_alive(d);
	struct srv_stats st = stats(f);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.sessions, 2);
	void *s = f;
	teardown(&s);
}

static void test_idle_timeout(void **state)
{
	struct fx *f = fx_open("  read_timeout_ms: 300\n");
	(void)state;
	struct tclient *idle = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct tclient *busy = fx_client(f, ROLE_PBX, "pbx-secret", NULL);

	for (int i = 0; i < 8; i++) {
		assert_alive(busy);
		spin(f, 100);
	}
	assert_int_equal(tclient_wait_closed(idle, T_WAIT), 1);
	assert_false(tclient_is_closed(busy));
	assert_alive(busy);
	assert_int_equal(stats(f).cut_idle, 1);
	void *s = f;
	teardown(&s);
}

/* A peer that sends but does not read is paused, not cut, and gets every
 * reply once it reads. */
static void test_backpressure_pause(void **state)
{
	struct fx *f = fx_open("  max_output: 4096\n  max_frame: 1024\n");
	(void)state;
	struct tclient *c = fx_conn(f, 4096);
	struct tclient *other = fx_client(f, ROLE_OBSERVER, "observer-secret", NULL);
	uint64_t sent = 0, first = 0;

	assert_int_equal(tclient_hello(c, ROLE_PBX, "pbx-secret", NULL, T_WAIT), 0);
	while (stats(f).paused == 0 && sent < 200000) {
		for (int i = 0; i < 200; i++) {
			uint64_t seq = tclient_ping(c, sent + 1);
			assert_true(seq > 0);
			if (!first)
				first = seq;
			sent++;
		}
		spin(f, 1);
	}
	assert_true(stats(f).paused >= 1);
	/* Others are served while c is paused. */
	assert_alive(other);
	for (uint64_t i = 0; i < sent; i++) {
		wire_env *e = tclient_expect(c, M_PONG, TCLIENT_ANY_SEQ, T_WAIT);
		if (!e)
			fail_msg("pong %" PRIu64 " of %" PRIu64 " missing", i + 1, sent);
		assert_int_equal(e->pong->nonce, i + 1);
		assert_int_equal(e->seq, first + i);
		wire_env_free(e);
	}
	struct srv_stats st = stats(f);
	assert_int_equal(st.cut_output, 0);
	assert_false(tclient_is_closed(c));
	void *s = f;
	teardown(&s);
}

/* A burst of output past max_output/2 that the peer's socket takes at once
 * (it reads) pauses reading only until it is written: the peer's next
 * request is answered. */
static void test_burst_resumes(void **state)
{
	struct fx *f = fx_open("  max_output: 4096\n  max_frame: 1024\n");
	(void)state;
	struct tclient *desk = fx_conn(f, 0);
	struct tclient *admin = fx_client(f, ROLE_ADMIN, "admin-secret", NULL);

	assert_int_equal(tclient_hello(desk, ROLE_AGENT, "agent-secret", NULL, T_WAIT), 0);
	assert_int_equal(tclient_reply(desk, tclient_login(desk, "rep-a", true), T_WAIT), 0);
	/* Sent without running the server, which then handles 64 of these per
	 * loop pass: 64 AgentStatus frames for the desk at once. */
	tclient_set_pump(admin, NULL, NULL);
	for (int n = 0; n < 256; n++)
		tclient_set_state(admin, "rep-a", (n & 1) ? ST_READY : ST_NOT_READY, "a reason thirty-two bytes long, or so");
	tclient_set_pump(admin, pump, f->base);
	spin(f, 200);
	tclient_poll(admin, 0);
	tclient_drop(admin, TCLIENT_ANY);
	tclient_poll(desk, 0);
	tclient_drop(desk, TCLIENT_ANY);
	assert_true(stats(f).paused >= 1);
	wire_env *e = tclient_expect(desk, M_PONG, tclient_ping(desk, 77), T_WAIT);
	assert_non_null(e);
	assert_int_equal(e->pong->nonce, 77);
	wire_env_free(e);
	assert_int_equal(stats(f).cut_output, 0);
	void *s = f;
	teardown(&s);
}

/* A peer whose unsolicited output passes max_output is cut; the router
 * forgets it (its rep is logged out); everyone else carries on. */
static void test_slow_reader_cut(void **state)
{
	struct fx *f = fx_open("  max_output: 4096\n  max_frame: 1024\n");
	(void)state;
	struct tclient *slow = fx_conn(f, 4096);
	struct tclient *admin = fx_client(f, ROLE_ADMIN, "admin-secret", NULL);
	uint64_t n = 0;

	assert_int_equal(tclient_hello(slow, ROLE_AGENT, "agent-secret", NULL, T_WAIT), 0);
	assert_int_equal(tclient_reply(slow, tclient_login(slow, "rep-a", true), T_WAIT), 0);
	/* Each state change sends the rep's desktop an AgentStatus it never reads. */
	while (stats(f).cut_output == 0 && n < 400000) {
		for (int i = 0; i < 100; i++, n++)
			tclient_set_state(admin, "rep-a", (n & 1) ? ST_READY : ST_NOT_READY, "x");
		tclient_poll(admin, 0);
		tclient_drop(admin, TCLIENT_ANY);
	}
	assert_int_equal(stats(f).cut_output, 1);
	spin(f, 20);
	assert_int_equal(target_state(f, "rep-a"), RT_TARGET_LOGGED_OUT);
	assert_int_equal(tclient_wait_closed(slow, 5000), 1);
	assert_alive(admin);
	void *s = f;
	teardown(&s);
}

/* A peer that stops reading while output is queued is cut after
 * write_timeout_ms, even below max_output. */
static void test_write_timeout(void **state)
{
	struct fx *f = fx_open("  write_timeout_ms: 300\n");
	(void)state;
	struct tclient *slow = fx_conn(f, 4096);
	struct tclient *admin = fx_client(f, ROLE_ADMIN, "admin-secret", NULL);
	uint64_t n = 0, end = tclient_now_ms() + 20000;

	assert_int_equal(tclient_hello(slow, ROLE_AGENT, "agent-secret", NULL, T_WAIT), 0);
	assert_int_equal(tclient_reply(slow, tclient_login(slow, "rep-b", true), T_WAIT), 0);
	while (stats(f).cut_write == 0 && tclient_now_ms() < end) {
		for (int i = 0; i < 100; i++, n++)
			tclient_set_state(admin, "rep-b", (n & 1) ? ST_READY : ST_NOT_READY, NULL);
		tclient_poll(admin, 0);
		tclient_drop(admin, TCLIENT_ANY);
	}
	struct srv_stats st = stats(f);
	assert_int_equal(st.cut_write, 1);
	assert_int_equal(st.cut_output, 0);
	spin(f, 20);
	assert_int_equal(target_state(f, "rep-b"), RT_TARGET_LOGGED_OUT);
	assert_alive(admin);
	void *s = f;
	teardown(&s);
}

/* ------------------------------------------------------------------ logging */

struct log_count {
	int warn;
	int mentions;
};

static void count_sink(enum cl_log_level lvl, const char *msg, void *arg)
{
	struct log_count *lc = arg;
	if (lvl == CL_LOG_LEVEL_WARN) {
		lc->warn++;
		if (strstr(msg, "c-ghost"))
			lc->mentions++;
	}
}

static void test_log_once(void **state)
{
	struct fx *f = *state;
	struct tclient *pbx = fx_client(f, ROLE_PBX, "pbx-secret", NULL);
	struct log_count lc = {0, 0};
	enum cl_log_level was = cl_log_get_level();

	cl_log_set_level(CL_LOG_LEVEL_DEBUG);
	cl_log_set_sink(count_sink, &lc);
	assert_int_equal(expect_error(pbx, tclient_call_event(pbx, EV_ENDED, "c-ghost", NULL)),
			 E_UNKNOWN_CALL);
	cl_log_set_sink(NULL, NULL);
	cl_log_set_level(was);
	assert_int_equal(lc.warn, 1);
	assert_int_equal(lc.mentions, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_auth_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_authenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forbidden_by_role, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_frame_isolated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undecodable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_then_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partner_reservations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_once, setup, teardown),
		cmocka_unit_test(test_max_sessions),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_backpressure_pause),
		cmocka_unit_test(test_burst_resumes),
		cmocka_unit_test(test_slow_reader_cut),
		cmocka_unit_test(test_write_timeout),
	};
	signal(SIGPIPE, SIG_IGN);
	cl_log_set_level(CL_LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("srv", tests, NULL, NULL);
}
