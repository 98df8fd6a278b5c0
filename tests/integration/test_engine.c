/*
 * test_engine.c — whole call lifecycles over TCP against a real closeloopd
 * (started by run_engine.sh, which passes its port and pid; the last test
 * stops it). Several PBX, agent and
 * partner connections are open at once; each scenario uses its own skill so
 * the scenarios cannot route into each other inside the one daemon.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "tclient.h"

#define T_WAIT 3000

#define ROLE_PBX CLOSELOOP__V1__ROLE__ROLE_PBX
#define ROLE_AGENT CLOSELOOP__V1__ROLE__ROLE_AGENT
#define ROLE_PARTNER CLOSELOOP__V1__ROLE__ROLE_PARTNER
#define ROLE_ADMIN CLOSELOOP__V1__ROLE__ROLE_ADMIN

#define M_ERROR CLOSELOOP__V1__ENVELOPE__MSG_ERROR
#define M_ROUTE CLOSELOOP__V1__ENVELOPE__MSG_ROUTE_CALL
#define M_QUEUE CLOSELOOP__V1__ENVELOPE__MSG_QUEUE_CALL
#define M_OFFER CLOSELOOP__V1__ENVELOPE__MSG_OFFER
#define M_REVOKED CLOSELOOP__V1__ENVELOPE__MSG_OFFER_REVOKED
#define M_STATUS CLOSELOOP__V1__ENVELOPE__MSG_AGENT_STATUS

#define EV_ANSWERED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED
#define EV_NO_ANSWER CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER
#define EV_ENDED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED
#define EV_ABANDONED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED

#define A_READY CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_READY
#define A_WRAP_UP CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_WRAP_UP

struct it {
	uint16_t port;
	pid_t daemon; /* closeloopd's pid: the last test stops it */
};

static struct tclient *conn(struct it *it, int role, const char *token, const char *identity)
{
	struct tclient *c = tclient_connect("127.0.0.1", it->port, 0);
	assert_non_null(c);
	int rc = tclient_hello(c, role, token, identity, T_WAIT);
	if (rc != 0)
		fail_msg("hello role %d: %d %s", role, rc, tclient_last_error(c));
	return c;
}

static struct tclient *pbx(struct it *it) { return conn(it, ROLE_PBX, "it-pbx-token", "pbx"); }

static struct tclient *agent(struct it *it, const char *rep, bool ready)
{
	struct tclient *c = conn(it, ROLE_AGENT, "it-agent-token", rep);
	int rc = tclient_reply(c, tclient_login(c, rep, ready), T_WAIT);
	if (rc != 0)
		fail_msg("login %s: %d %s", rep, rc, tclient_last_error(c));
	return c;
}

static void ok(struct tclient *c, uint64_t seq)
{
	int rc = tclient_reply(c, seq, T_WAIT);
	if (rc != 0)
		fail_msg("seq %" PRIu64 ": expected Ack, got %d %s", seq, rc, tclient_last_error(c));
}

static uint64_t offer(struct tclient *c, const char *id, const char *caller, const char *skill)
{
	const char *skills[] = {skill, NULL};
	uint64_t seq = tclient_offer(c, id, caller, NULL, NULL, skills);
	assert_true(seq > 0);
	return seq;
}

/* The reply to a CallOffered, which must be of kind; caller frees. */
static wire_env *decision(struct tclient *c, uint64_t seq, int kind)
{
	wire_env *e = tclient_expect(c, TCLIENT_ANY, seq, T_WAIT);
	if (!e)
		fail_msg("no reply to CallOffered seq %" PRIu64, seq);
	if ((int)e->msg_case != kind)
		fail_msg("seq %" PRIu64 ": expected %d, got %s", seq, kind, wire_msg_name(e));
	return e;
}

/* An unsolicited RouteCall for a queued call (seq = its CallOffered's). */
static wire_env *routed_later(struct tclient *c, uint64_t seq, int timeout_ms)
{
	return tclient_expect(c, M_ROUTE, seq, timeout_ms);
}

/* The next AgentStatus with state, skipping intermediate ones. */
static wire_env *status(struct tclient *c, int state, int timeout_ms)
{
	uint64_t end = tclient_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now = tclient_now_ms();
		if (now >= end)
			return NULL;
		wire_env *e = tclient_expect(c, M_STATUS, TCLIENT_ANY_SEQ, (int)(end - now));
		if (!e)
			return NULL;
		if ((int)e->agent_status->state == state)
			return e;
		wire_env_free(e);
	}
}

/* ----------------------------------------------------------------- scenarios */

/* offered -> routed -> answered -> ended -> wrap-up -> ready; a call that
 * arrives during wrap-up waits and is routed when wrap-up ends. */
static void test_lifecycle_wrapup(void **state)
{
	struct it *it = *state;
	struct tclient *p = pbx(it);
	struct tclient *a = agent(it, "rep-life", true);

	uint64_t seq = offer(p, "life-1", "+4930111222", "s-life");
	wire_env *r = decision(p, seq, M_ROUTE);
	assert_string_equal(r->route_call->call_id, "life-1");
	assert_string_equal(r->route_call->target_id, "rep-life");
	assert_string_equal(r->route_call->sip_uri, "sip:life@pbx.test");
	assert_string_equal(r->route_call->territory, "de-north");
	assert_string_equal(r->route_call->plan, "default");
	uint64_t resv = r->route_call->reservation_id;
	wire_env_free(r);
	wire_env *o = tclient_expect(a, M_OFFER, 0, T_WAIT);
	assert_non_null(o);
	assert_string_equal(o->offer->call_id, "life-1");
	assert_int_equal(o->offer->reservation_id, resv);
	wire_env_free(o);

	ok(p, tclient_call_event(p, EV_ANSWERED, "life-1", "rep-life"));
	ok(p, tclient_call_event(p, EV_ENDED, "life-1", NULL));
	uint64_t t0 = tclient_now_ms();
	wire_env *w = status(a, A_WRAP_UP, T_WAIT);
	assert_non_null(w);
	assert_int_equal(w->agent_status->active_calls, 1);
	wire_env_free(w);

	/* During wrap-up the rep takes nothing. */
	uint64_t seq2 = offer(p, "life-2", "+4930111333", "s-life");
	wire_env *q = decision(p, seq2, M_QUEUE);
	assert_int_equal(q->queue_call->position, 1);
	wire_env_free(q);

	wire_env *rd = status(a, A_READY, T_WAIT);
	assert_non_null(rd);
	wire_env_free(rd);
	uint64_t waited = tclient_now_ms() - t0;
	assert_true(waited >= 250); /* wrapup_ms: 300 */
	r = routed_later(p, seq2, T_WAIT);
	assert_non_null(r);
	assert_string_equal(r->route_call->target_id, "rep-life");
	wire_env_free(r);
	ok(p, tclient_call_event(p, EV_ANSWERED, "life-2", NULL));
	ok(p, tclient_call_event(p, EV_ENDED, "life-2", NULL));
	/* Ended is final: a repeat is an unknown call. */
	assert_int_equal(tclient_reply(p, tclient_call_event(p, EV_ENDED, "life-2", NULL), T_WAIT),
			 CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_CALL);
	tclient_free(a);
	tclient_free(p);
}

/* queued -> routed when an agent logs in ready. */
static void test_queue_then_login(void **state)
{
	struct it *it = *state;
	struct tclient *p1 = pbx(it), *p2 = pbx(it);

	/* One after the other: two connections give no order between them. */
	uint64_t s1 = offer(p1, "q-1", "+4930100001", "s-queue");
	wire_env *q1 = decision(p1, s1, M_QUEUE);
	uint64_t s2 = offer(p2, "q-2", "+4930100002", "s-queue");
	wire_env *q2 = decision(p2, s2, M_QUEUE);
	assert_int_equal(q1->queue_call->position, 1);
	assert_int_equal(q2->queue_call->position, 2);
	wire_env_free(q1);
	wire_env_free(q2);

	/* Logged in but not ready: still nothing. */
	struct tclient *a = agent(it, "rep-q", false);
	assert_null(routed_later(p1, s1, 200));
	ok(a, tclient_set_state(a, "", A_READY, NULL));
	/* The oldest call first, to its own PBX connection. */
	wire_env *r = routed_later(p1, s1, T_WAIT);
	assert_non_null(r);
	assert_string_equal(r->route_call->target_id, "rep-q");
	wire_env_free(r);
	assert_null(routed_later(p2, s2, 100));
	ok(p1, tclient_call_event(p1, EV_ANSWERED, "q-1", NULL));
	ok(p1, tclient_call_event(p1, EV_ENDED, "q-1", NULL));
	r = routed_later(p2, s2, T_WAIT);
	assert_non_null(r);
	assert_string_equal(r->route_call->call_id, "q-2");
	wire_env_free(r);
	ok(p2, tclient_call_event(p2, EV_ANSWERED, "q-2", NULL));
	ok(p2, tclient_call_event(p2, EV_ENDED, "q-2", NULL));
	tclient_free(a);
	tclient_free(p1);
	tclient_free(p2);
}

/* no-answer -> the offer is revoked, the call re-queued and routed to the
 * other rep (the one that missed rests for miss_pause_ms). */
static void test_no_answer_rerouted(void **state)
{
	struct it *it = *state;
	struct tclient *p = pbx(it);
	struct tclient *a1 = agent(it, "rep-na1", true);
	struct tclient *a2 = agent(it, "rep-na2", true);

	uint64_t seq = offer(p, "na-1", "+4930200001", "s-noans");
	wire_env *r = decision(p, seq, M_ROUTE);
	char first[32];
	snprintf(first, sizeof first, "%s", r->route_call->target_id);
	uint64_t resv1 = r->route_call->reservation_id;
	wire_env_free(r);
	struct tclient *missed = strcmp(first, "rep-na1") == 0 ? a1 : a2;
	struct tclient *other = missed == a1 ? a2 : a1;
	const char *other_id = missed == a1 ? "rep-na2" : "rep-na1";

	ok(p, tclient_call_event(p, EV_NO_ANSWER, "na-1", first));
	wire_env *rv = tclient_expect(missed, M_REVOKED, 0, T_WAIT);
	assert_non_null(rv);
	assert_string_equal(rv->offer_revoked->call_id, "na-1");
	assert_int_equal(rv->offer_revoked->reservation_id, resv1);
	wire_env_free(rv);
	r = routed_later(p, seq, T_WAIT);
	assert_non_null(r);
	assert_string_equal(r->route_call->target_id, other_id);
	assert_true(r->route_call->reservation_id != resv1);
	wire_env_free(r);
	wire_env *o = tclient_expect(other, M_OFFER, 0, T_WAIT);
	assert_non_null(o);
	wire_env_free(o);
	/* The no-answer for the old reservation's target is now out of place. */
	assert_int_equal(tclient_reply(p, tclient_call_event(p, EV_ANSWERED, "na-1", first), T_WAIT),
			 CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT);
	ok(p, tclient_call_event(p, EV_ANSWERED, "na-1", other_id));
	ok(p, tclient_call_event(p, EV_ENDED, "na-1", NULL));
	tclient_free(a1);
	tclient_free(a2);
	tclient_free(p);
}

/* abandoned while queued: gone, never routed. */
static void test_abandoned_in_queue(void **state)
{
	struct it *it = *state;
	struct tclient *p = pbx(it);

	uint64_t seq = offer(p, "ab-1", "+4930300001", "s-aband");
	wire_env *q = decision(p, seq, M_QUEUE);
	wire_env_free(q);
	ok(p, tclient_call_event(p, EV_ABANDONED, "ab-1", NULL));
	struct tclient *a = agent(it, "rep-ab", true);
	assert_null(routed_later(p, seq, 300));
	assert_null(tclient_expect(a, M_OFFER, TCLIENT_ANY_SEQ, 0));
	assert_int_equal(tclient_reply(p, tclient_call_event(p, EV_ANSWERED, "ab-1", NULL), T_WAIT),
			 CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_CALL);
	/* The rep is still free for the next one. */
	seq = offer(p, "ab-2", "+4930300002", "s-aband");
	wire_env *r = decision(p, seq, M_ROUTE);
	assert_string_equal(r->route_call->target_id, "rep-ab");
	wire_env_free(r);
	ok(p, tclient_call_event(p, EV_ABANDONED, "ab-2", NULL));
	tclient_free(a);
	tclient_free(p);
}

/* decline: reps that confirm offers (needs_accept); the PBX hears nothing
 * until one accepts. */
static void test_decline(void **state)
{
	struct it *it = *state;
	struct tclient *p = pbx(it);
	struct tclient *d1 = agent(it, "rep-d1", true);
	struct tclient *d2 = agent(it, "rep-d2", true);

	uint64_t seq = offer(p, "dc-1", "+4930400001", "s-decl");
	/* Whoever gets it first declines. */
	struct tclient *first = NULL, *second = NULL;
	wire_env *o = NULL;
	uint64_t end = tclient_now_ms() + T_WAIT;
	while (!o && tclient_now_ms() < end) {
		if ((o = tclient_expect(d1, M_OFFER, 0, 20)))
			first = d1, second = d2;
		else if ((o = tclient_expect(d2, M_OFFER, 0, 20)))
			first = d2, second = d1;
	}
	assert_non_null(o);
	assert_true(o->offer->needs_accept);
	wire_env *nothing = tclient_expect(p, TCLIENT_ANY, seq, 100);
	assert_null(nothing);
	ok(first, tclient_offer_decline(first, "dc-1", o->offer->reservation_id, "busy"));
	wire_env_free(o);
	o = tclient_expect(second, M_OFFER, 0, T_WAIT);
	assert_non_null(o);
	assert_string_equal(o->offer->call_id, "dc-1");
	ok(second, tclient_offer_accept(second, "dc-1", o->offer->reservation_id));
	wire_env *r = routed_later(p, seq, T_WAIT);
	assert_non_null(r);
	assert_string_equal(r->route_call->target_id, second == d1 ? "rep-d1" : "rep-d2");
	assert_int_equal(r->route_call->reservation_id, o->offer->reservation_id);
	wire_env_free(o);
	wire_env_free(r);
	ok(p, tclient_call_event(p, EV_ANSWERED, "dc-1", NULL));
	ok(p, tclient_call_event(p, EV_ENDED, "dc-1", NULL));
	tclient_free(d1);
	tclient_free(d2);
	tclient_free(p);
}

/* escalation: step 0 (partners in the caller's territory, 300 ms) has
 * nobody ready, so the call moves to step 1 (any rep). */
static void test_escalation(void **state)
{
	struct it *it = *state;
	struct tclient *p = pbx(it);
	struct tclient *a = agent(it, "rep-esc", true);

	uint64_t t0 = tclient_now_ms();
	uint64_t seq = offer(p, "esc-1", "+49891234567", "s-esc");
	wire_env *q = decision(p, seq, M_QUEUE);
	assert_string_equal(q->queue_call->plan, "escalate");
	assert_string_equal(q->queue_call->territory, "de-south");
	wire_env_free(q);
	wire_env *r = routed_later(p, seq, T_WAIT);
	assert_non_null(r);
	uint64_t waited = tclient_now_ms() - t0;
	assert_true(waited >= 250);
	assert_string_equal(r->route_call->target_id, "rep-esc");
	assert_int_equal(r->route_call->step, 1);
	wire_env_free(r);
	ok(p, tclient_call_event(p, EV_ANSWERED, "esc-1", NULL));
	ok(p, tclient_call_event(p, EV_ENDED, "esc-1", NULL));

	/* With the partner ready, step 0 serves at once. */
	struct tclient *pt = conn(it, ROLE_PARTNER, "it-partner-esc", "p-esc");
	ok(pt, tclient_login(pt, "", true));
	seq = offer(p, "esc-2", "+49891234568", "s-esc");
	r = decision(p, seq, M_ROUTE);
	assert_string_equal(r->route_call->target_id, "p-esc");
	assert_int_equal(r->route_call->target_kind, CLOSELOOP__V1__TARGET_KIND__TARGET_KIND_PARTNER);
	assert_int_equal(r->route_call->step, 0);
	wire_env_free(r);
	ok(p, tclient_call_event(p, EV_ABANDONED, "esc-2", NULL));
	tclient_free(pt);
	tclient_free(a);
	tclient_free(p);
}

/* partner seat capacity: two seats, the third call waits for a seat. */
static void test_partner_seats(void **state)
{
	struct it *it = *state;
	struct tclient *p1 = pbx(it), *p2 = pbx(it);
	struct tclient *pt = conn(it, ROLE_PARTNER, "it-partner-seat", "p-seat");

	ok(pt, tclient_login(pt, "p-seat", true));
	uint64_t s1 = offer(p1, "seat-1", "+4989100001", "s-seat");
	uint64_t s2 = offer(p2, "seat-2", "+4989100002", "s-seat");
	wire_env *r1 = decision(p1, s1, M_ROUTE), *r2 = decision(p2, s2, M_ROUTE);
	assert_string_equal(r1->route_call->target_id, "p-seat");
	assert_string_equal(r2->route_call->target_id, "p-seat");
	assert_string_equal(r2->route_call->sip_uri, "sip:sales@p-seat.test");
	wire_env_free(r1);
	wire_env_free(r2);
	uint64_t s3 = offer(p1, "seat-3", "+4989100003", "s-seat");
	wire_env *q = decision(p1, s3, M_QUEUE);
	wire_env_free(q);
	/* The partner's desk saw two offers and a full house. */
	for (int i = 0; i < 2; i++) {
		wire_env *o = tclient_expect(pt, M_OFFER, 0, T_WAIT);
		assert_non_null(o);
		wire_env_free(o);
	}
	wire_env *full = NULL;
	uint64_t end = tclient_now_ms() + T_WAIT;
	while (!full && tclient_now_ms() < end) {
		wire_env *st = tclient_expect(pt, M_STATUS, 0, (int)(end - tclient_now_ms()));
		if (!st)
			break;
		if (st->agent_status->active_calls == 2)
			full = st;
		else
			wire_env_free(st);
	}
	assert_non_null(full);
	assert_int_equal(full->agent_status->capacity, 2);
	wire_env_free(full);

	ok(p2, tclient_call_event(p2, EV_ANSWERED, "seat-2", "p-seat"));
	assert_null(routed_later(p1, s3, 100));
	ok(p2, tclient_call_event(p2, EV_ENDED, "seat-2", NULL));
	wire_env *r3 = routed_later(p1, s3, T_WAIT);
	assert_non_null(r3);
	assert_string_equal(r3->route_call->target_id, "p-seat");
	wire_env_free(r3);
	ok(p1, tclient_call_event(p1, EV_ABANDONED, "seat-1", NULL));
	ok(p1, tclient_call_event(p1, EV_ABANDONED, "seat-3", NULL));
	tclient_free(pt);
	tclient_free(p1);
	tclient_free(p2);
}

/* Many calls from three PBX connections over three reps: every call is
 * routed exactly once, answered and ended; nobody gets two calls at once. */
static void test_concurrent(void **state)
{
	struct it *it = *state;
	enum { NP = 3, NA = 3, PER = 12, N = NP * PER };
	struct tclient *p[NP], *a[NA];
	uint64_t seq[N];
	int routed[N] = {0};
	char id[N][16];
	const char *reps[NA] = {"rep-c1", "rep-c2", "rep-c3"};

	for (int i = 0; i < NP; i++)
		p[i] = pbx(it);
	for (int i = 0; i < NA; i++)
		a[i] = agent(it, reps[i], true);
	for (int i = 0; i < N; i++) {
		snprintf(id[i], sizeof id[i], "cc-%d", i);
		seq[i] = offer(p[i % NP], id[i], "+4930555000", "s-conc");
	}
	/* Rounds: collect every RouteCall that has arrived (a rep never holds
	 * two at once), then answer and end them, which frees the reps for the
	 * next round. */
	int done = 0, busy[NA];
	for (int k = 0; k < NA; k++)
		busy[k] = -1;
	uint64_t end = tclient_now_ms() + 10000;
	while (done < N && tclient_now_ms() < end) {
		int got = 0;
		for (int i = 0; i < N; i++) {
			if (routed[i])
				continue;
			wire_env *r = tclient_expect(p[i % NP], M_ROUTE, seq[i], 0);
			if (!r)
				continue;
			routed[i]++;
			int k = -1;
			for (int j = 0; j < NA; j++)
				if (strcmp(r->route_call->target_id, reps[j]) == 0)
					k = j;
			wire_env_free(r);
			assert_true(k >= 0);
			if (busy[k] >= 0)
				fail_msg("%s got %s while it holds %s", reps[k], id[i], id[busy[k]]);
			busy[k] = i;
			got++;
		}
		if (!got) {
			tclient_poll(p[0], 5);
			continue;
		}
		for (int k = 0; k < NA; k++) {
			int i = busy[k];
			if (i < 0)
				continue;
			ok(p[i % NP], tclient_call_event(p[i % NP], EV_ANSWERED, id[i], reps[k]));
			ok(p[i % NP], tclient_call_event(p[i % NP], EV_ENDED, id[i], NULL));
			busy[k] = -1;
			done++;
		}
	}
	assert_int_equal(done, N);
	/* No call was routed twice. */
	for (int i = 0; i < NP; i++)
		assert_null(tclient_expect(p[i], M_ROUTE, TCLIENT_ANY_SEQ, 50));
	for (int i = 0; i < NA; i++)
		tclient_free(a[i]);
	for (int i = 0; i < NP; i++)
		tclient_free(p[i]);
}

/* Bad input over the real daemon: an error, no crash, the rest goes on. */
static void test_bad_input(void **state)
{
	struct it *it = *state;
	struct tclient *p = pbx(it);
	struct tclient *bad = tclient_connect("127.0.0.1", it->port, 0);
	unsigned char huge[4] = {0x7f, 0xff, 0xff, 0xff};

	assert_non_null(bad);
	assert_int_equal(tclient_hello(bad, ROLE_ADMIN, "it-pbx-token", NULL, T_WAIT),
			 CLOSELOOP__V1__ERROR_CODE__ERROR_AUTH_FAILED);
	assert_int_equal(tclient_wait_closed(bad, T_WAIT), 1);
	tclient_free(bad);
	bad = tclient_connect("127.0.0.1", it->port, 0);
	assert_non_null(bad);
	assert_int_equal(tclient_send_raw(bad, huge, sizeof huge), 0);
	wire_env *e = tclient_expect(bad, M_ERROR, 0, T_WAIT);
	assert_non_null(e);
	assert_int_equal(e->error->code, CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_FRAME);
	wire_env_free(e);
	assert_int_equal(tclient_wait_closed(bad, T_WAIT), 1);
	tclient_free(bad);
	uint64_t seq = tclient_ping(p, 31337);
	e = tclient_expect(p, CLOSELOOP__V1__ENVELOPE__MSG_PONG, seq, T_WAIT);
	assert_non_null(e);
	assert_int_equal(e->pong->nonce, 31337);
	wire_env_free(e);
	tclient_free(p);
}

/* Last: SIGTERM while calls are live and sessions open. The daemon flushes,
 * closes every session and exits 0 (run_engine.sh checks the status, and
 * under ASan that nothing leaked). */
static void test_shutdown_with_live_calls(void **state)
{
	struct it *it = *state;
	struct tclient *p = pbx(it);
	struct tclient *a = agent(it, "rep-c1", true);

	uint64_t s1 = offer(p, "end-1", "+4930555001", "s-conc");
	wire_env *r = decision(p, s1, M_ROUTE);
	wire_env_free(r);
	ok(p, tclient_call_event(p, EV_ANSWERED, "end-1", NULL));
	uint64_t s2 = offer(p, "end-2", "+4930555002", "s-conc");
	wire_env *q = decision(p, s2, M_QUEUE);
	wire_env_free(q);
	assert_int_equal(kill(it->daemon, SIGTERM), 0);
	assert_int_equal(tclient_wait_closed(p, 5000), 1);
	assert_int_equal(tclient_wait_closed(a, 5000), 1);
	tclient_free(a);
	tclient_free(p);
}

static struct it the_it;

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_lifecycle_wrapup, &the_it),
		cmocka_unit_test_prestate(test_queue_then_login, &the_it),
		cmocka_unit_test_prestate(test_no_answer_rerouted, &the_it),
		cmocka_unit_test_prestate(test_abandoned_in_queue, &the_it),
		cmocka_unit_test_prestate(test_decline, &the_it),
		cmocka_unit_test_prestate(test_escalation, &the_it),
		cmocka_unit_test_prestate(test_partner_seats, &the_it),
		cmocka_unit_test_prestate(test_concurrent, &the_it),
		cmocka_unit_test_prestate(test_bad_input, &the_it),
		cmocka_unit_test_prestate(test_shutdown_with_live_calls, &the_it),
	};
	long port = argc == 3 ? strtol(argv[1], NULL, 10) : 0;
	long pid = argc == 3 ? strtol(argv[2], NULL, 10) : 0;

	if (port <= 0 || port > 65535 || pid <= 1) {
		fprintf(stderr, "usage: %s PORT DAEMON_PID (run by run_engine.sh)\n", argv[0]);
		return 2;
	}
	the_it.port = (uint16_t)port;
	the_it.daemon = (pid_t)pid;
	return cmocka_run_group_tests_name("integ_engine", tests, NULL, NULL);
}
