/*
 * sales_integ.c — the sales loop end to end: a real closeloopd publishing to
 * a real redis-server (both started by sales_run.sh, which passes the
 * engine's and Redis's ports), driven over the protocol by a PBX, reps, a
 * partner, an admin and an observer.
 *
 * The scenarios run in order in one daemon and build on each other: the
 * KPI test checks every figure against what the scenarios before it sent
 * (the expected totals are spelled out there), and the erasure test checks
 * that the KPIs stay as they were while no key, stream entry or engine
 * structure keeps the person's data.
 *
 * The event stream is batched (tstream.h reads it and checks its format on
 * every read); counts of it are counts of events. State hashes are written
 * up to state_flush_ms after a change (the default here), so every hash is
 * polled with a deadline.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "tclient.h"
#include "tstream.h"

#define T_WAIT 3000

#define ROLE_PBX CLOSELOOP__V1__ROLE__ROLE_PBX
#define ROLE_AGENT CLOSELOOP__V1__ROLE__ROLE_AGENT
#define ROLE_PARTNER CLOSELOOP__V1__ROLE__ROLE_PARTNER
#define ROLE_ADMIN CLOSELOOP__V1__ROLE__ROLE_ADMIN
#define ROLE_OBSERVER CLOSELOOP__V1__ROLE__ROLE_OBSERVER

#define M(x) CLOSELOOP__V1__ENVELOPE__MSG_##x
#define E(x) CLOSELOOP__V1__ERROR_CODE__ERROR_##x
#define OUT(x) CLOSELOOP__V1__OUTCOME__OUTCOME_##x
#define ORD(x) CLOSELOOP__V1__ORDER_STATE__ORDER_STATE_##x
#define DIM(x) CLOSELOOP__V1__KPI_DIMENSION__KPI_DIMENSION_##x

struct it {
	uint16_t port, rport;
	redisContext *r;
	struct tclient *pbx, *admin, *obs, *partner, *rep_a;
	uint64_t pbx_seq;
	char fu_task[128];
};

static struct it g_it;

/* ---------------------------------------------------------------- helpers */

static struct tclient *conn(struct it *it, int role, const char *token, const char *identity)
{
	struct tclient *c = tclient_connect("127.0.0.1", it->port, 0);
	assert_non_null(c);
	int rc = tclient_hello(c, role, token, identity, T_WAIT);
	if (rc != 0)
		fail_msg("hello role %d: %d %s", role, rc, tclient_last_error(c));
	return c;
}

static void ok(struct tclient *c, uint64_t seq)
{
	int rc = tclient_reply(c, seq, T_WAIT);
	if (rc != 0)
		fail_msg("seq %" PRIu64 ": expected Ack, got %d %s", seq, rc, tclient_last_error(c));
}

static void err(struct tclient *c, uint64_t seq, int code)
{
	int rc = tclient_reply(c, seq, T_WAIT);
	if (rc != code)
		fail_msg("seq %" PRIu64 ": expected error %d, got %d %s", seq, code, rc,
			 tclient_last_error(c));
}

static struct tclient *agent(struct it *it, const char *rep)
{
	struct tclient *c = conn(it, ROLE_AGENT, "it-agent-token", rep);
	ok(c, tclient_login(c, rep, true));
	return c;
}

/* Offer a call and require a RouteCall to target; returns nothing. */
static void call_to(struct it *it, const char *id, const char *caller, const char *skill,
		    const char *target)
{
	const char *skills[] = {skill, NULL};
	uint64_t seq = tclient_offer(it->pbx, id, caller, NULL, NULL, skills);
	assert_true(seq > 0);
	wire_env *e = tclient_expect(it->pbx, TCLIENT_ANY, seq, T_WAIT);
	if (!e)
		fail_msg("call %s: no decision", id);
	if (e->msg_case != M(ROUTE_CALL))
		fail_msg("call %s: expected RouteCall, got %s", id, wire_msg_name(e));
	assert_string_equal(e->route_call->target_id, target);
	wire_env_free(e);
}

static void answered(struct it *it, const char *id, const char *target)
{
	ok(it->pbx, tclient_call_event(it->pbx, M(CALL_ANSWERED), id, target));
}

static void ended(struct it *it, const char *id)
{
	ok(it->pbx, tclient_call_event(it->pbx, M(CALL_ENDED), id, NULL));
}

static void dispose(struct tclient *c, const char *call, int outcome)
{
	int code;
	wire_env *e = tclient_reply_of(c, tclient_disposition(c, call, outcome, 0, NULL),
				       M(DISPOSITION_ACK), T_WAIT, &code);
	if (!e)
		fail_msg("disposition %s: %d %s", call, code, tclient_last_error(c));
	wire_env_free(e);
}

static void order(struct tclient *c, const char *oid, const char *call, int64_t amount,
		  const char *sku, int32_t qty, uint32_t prio, bool expedite)
{
	struct tclient_item it = {sku, qty, amount / qty};
	ok(c, tclient_order(c, oid, call, amount, "EUR", &it, 1, prio, expedite));
}

static uint64_t now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- Redis ---- */

static redisReply *rcmd(struct it *it, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(it->r, fmt, ap);
	va_end(ap);
	if (!r)
		fail_msg("redis: %s", it->r->errstr);
	return r;
}

/* HGET into buf ("" when missing). */
static const char *rhget(struct it *it, const char *key, const char *field, char *buf, size_t len)
{
	redisReply *r = rcmd(it, "HGET %s %s", key, field);
	snprintf(buf, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
	return buf;
}

static void read_events(struct it *it, struct tstream *s)
{
	char err[512];
	tstream_init(s);
	if (tstream_read(it->r, "cl:events", s, err, sizeof err) < 0) {
		tstream_free(s);
		fail_msg("cl:events: %s", err);
	}
}

/* Events (cl:events) or entries (the lead stream) whose fields include every
 * pair of kv (NULL terminated key, value list). */
static int stream_count(struct it *it, const char *stream, ...)
{
	const char *kv[16];
	int nkv = 0, n = 0;
	va_list ap;
	va_start(ap, stream);
	while (nkv < 16 && (kv[nkv] = va_arg(ap, const char *)))
		nkv++;
	va_end(ap);
	if (strcmp(stream, "cl:events") == 0) {
		struct tstream s;
		read_events(it, &s);
		n = (int)tstream_count(&s, kv, (size_t)nkv);
		tstream_free(&s);
		return n;
	}
	redisReply *r = rcmd(it, "XRANGE %s - +", stream);
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *f = r->element[i]->element[1];
		int match = 0;
		for (int k = 0; k + 1 < nkv; k += 2)
			for (size_t j = 0; j + 1 < f->elements; j += 2)
				if (strcmp(f->element[j]->str, kv[k]) == 0 &&
				    strcmp(f->element[j + 1]->str, kv[k + 1]) == 0)
					match++;
		n += match == nkv / 2;
	}
	freeReplyObject(r);
	return n;
}

/* The one event of cl:events with type and field = value: the number of
 * events in its entry. */
static size_t event_entry_n(struct it *it, const char *type, const char *field,
			    const char *value)
{
	struct tstream s;
	size_t n = 0, found = 0;
	read_events(it, &s);
	for (size_t i = 0; i < s.n; i++) {
		const char *t = tstream_get(&s.ev[i], "type"), *v = tstream_get(&s.ev[i], field);
		if (strcmp(t, type) == 0 && v && strcmp(v, value) == 0) {
			n = s.ev[i].entry_n;
			found++;
		}
	}
	tstream_free(&s);
	if (found != 1)
		fail_msg("%zu %s events with %s = %s, want 1", found, type, field, value);
	return n;
}

/* Wait until HGET key field equals want (state hashes lag by up to
 * state_flush_ms); fail with what it holds after the deadline. */
#define WAIT_HASH(it, key, field, want)                                                 \
	do {                                                                            \
		char b_[256];                                                           \
		uint64_t end_ = tclient_now_ms() + 3000;                                \
		while (strcmp(rhget(it, key, field, b_, sizeof b_), want) != 0 &&       \
		       tclient_now_ms() < end_)                                         \
			nap_ms(20);                                                     \
		if (strcmp(b_, want) != 0)                                              \
			fail_msg("%s %s = '%s', want '%s' (line %d)", key, field, b_, want, \
				 __LINE__);                                             \
	} while (0)

/* Wait until SISMEMBER set member equals want (0 or 1). */
static void wait_member(struct it *it, const char *set, const char *member, long long want)
{
	uint64_t end = tclient_now_ms() + 3000;
	long long got;
	for (;;) {
		redisReply *r = rcmd(it, "SISMEMBER %s %s", set, member);
		got = r->integer;
		freeReplyObject(r);
		if (got == want || tclient_now_ms() >= end)
			break;
		nap_ms(20);
	}
	if (got != want)
		fail_msg("SISMEMBER %s %s = %lld, want %lld", set, member, got, want);
}

/* Wait until stream_count(...) >= want. */
#define WAIT_STREAM(it, want, ...)                                                       \
	do {                                                                             \
		uint64_t end_ = tclient_now_ms() + 5000;                                 \
		int got_ = 0;                                                            \
		while ((got_ = stream_count(it, __VA_ARGS__, NULL)) < (want) &&          \
		       tclient_now_ms() < end_)                                          \
			nap_ms(20);                                                      \
		if (got_ < (want))                                                       \
			fail_msg("stream: %d entries like that, want %d (line %d)", got_, \
				 (want), __LINE__);                                      \
	} while (0)

/* ---- KPIs ---- */

struct kpi {
	uint64_t offered, answered, abandoned, answered_in_sl, handled, closed, orders, cancelled;
	int64_t revenue, commission, lead_fees;
	uint64_t leads, qualified, followups_open, followups_done, complaints_open, qa_count;
	double qa_sum, avg_answer_ms;
	bool found;
};

/* Totals over every bucket of (dim, name), as an admin sees them. */
static struct kpi kpi_total(struct it *it, int dim, const char *name)
{
	struct kpi k = {0};
	int code;
	wire_env *e = tclient_reply_of(it->admin, tclient_kpi_query(it->admin, dim, name, 0, 0, true),
				       M(KPI_REPLY), T_WAIT, &code);
	if (!e)
		fail_msg("kpi_query: %d %s", code, tclient_last_error(it->admin));
	assert_int_equal(e->kpi_reply->bucket_ms, 900000);
	assert_string_equal(e->kpi_reply->currency, "EUR");
	for (size_t i = 0; i < e->kpi_reply->n_rows; i++) {
		const Closeloop__V1__KpiRow *r = e->kpi_reply->rows[i];
		if (strcmp(r->name, name) != 0 || (int)r->dimension != dim)
			continue;
		assert_false(k.found); /* one total row per series */
		assert_int_equal(r->bucket_ms, 0);
		k = (struct kpi){r->offered,	     r->answered,	  r->abandoned,
				 r->answered_in_sl,  r->handled,	  r->closed,
				 r->orders,	     r->cancelled,	  r->revenue_minor,
				 r->commission_minor, r->lead_fees_minor,  r->leads,
				 r->qualified_leads, r->followups_open,	  r->followups_done,
				 r->complaints_open, r->qa_count,	  r->qa_sum,
				 r->avg_answer_ms,   true};
	}
	wire_env_free(e);
	return k;
}

/* Sum a numeric field over the Redis KPI buckets of (dim, name). */
static int64_t redis_kpi_sum(struct it *it, const char *dim, const char *name, const char *field)
{
	int64_t sum = 0;
	redisReply *keys = rcmd(it, "KEYS cl:kpi:%s:%s:*", dim, name);
	for (size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
		char buf[64];
		rhget(it, keys->element[i]->str, field, buf, sizeof buf);
		sum += strtoll(buf, NULL, 10);
	}
	freeReplyObject(keys);
	return sum;
}

static void wait_redis_kpi(struct it *it, const char *dim, const char *name, const char *field,
			   int64_t want)
{
	uint64_t end = tclient_now_ms() + 3000;
	int64_t got;
	while ((got = redis_kpi_sum(it, dim, name, field)) != want && tclient_now_ms() < end)
		nap_ms(50);
	if (got != want)
		fail_msg("redis kpi %s:%s %s = %" PRId64 ", want %" PRId64, dim, name, field, got, want);
}

/* ---------------------------------------------------------------- setup */

static int group_setup(void **state)
{
	struct it *it = &g_it;
	it->r = redisConnect("127.0.0.1", it->rport);
	if (!it->r || it->r->err)
		return -1;
	*state = it;
	return 0;
}

static int group_teardown(void **state)
{
	struct it *it = *state;
	tclient_free(it->pbx);
	tclient_free(it->admin);
	tclient_free(it->obs);
	tclient_free(it->partner);
	tclient_free(it->rep_a);
	redisFree(it->r);
	return 0;
}

/* ---------------------------------------------------------------- tests */

/* Sessions, and what each role may not send. */
static void test_roles(void **state)
{
	struct it *it = *state;

	it->pbx = conn(it, ROLE_PBX, "it-pbx-token", "pbx");
	it->admin = conn(it, ROLE_ADMIN, "it-admin-token", "ops");
	it->obs = conn(it, ROLE_OBSERVER, "it-observer-token", "board");
	it->partner = conn(it, ROLE_PARTNER, "it-partner-south", "p-south");
	ok(it->partner, tclient_login(it->partner, "p-south", true));
	it->rep_a = agent(it, "rep-a");

	/* Roles: an observer may only query, a PBX sends no sales messages,
	 * a partner may not erase, QA or drain. */
	err(it->obs, tclient_disposition(it->obs, "x", OUT(ORDERED), 0, NULL), E(FORBIDDEN));
	err(it->pbx, tclient_lead(it->pbx, &(struct tclient_lead){.call_id = "x"}), E(FORBIDDEN));
	err(it->partner, tclient_erasure(it->partner, "+4930123456", NULL, NULL), E(FORBIDDEN));
	err(it->partner, tclient_qa(it->partner, "x", 3, "f", NULL), E(FORBIDDEN));
	err(it->partner, tclient_partner_drain(it->partner, "p-south", true, NULL), E(FORBIDDEN));
	err(it->obs, tclient_order_status(it->obs, "o", ORD(SHIPPED), NULL), E(FORBIDDEN));
	/* An agent that is not logged in as a rep. */
	struct tclient *loose = conn(it, ROLE_AGENT, "it-agent-token", "nobody");
	err(loose, tclient_disposition(loose, "x", OUT(ORDERED), 0, NULL), E(BAD_STATE));
	tclient_free(loose);
	/* A partner sees only its own figures. */
	err(it->partner, tclient_kpi_query(it->partner, DIM(ALL), NULL, 0, 0, true), E(FORBIDDEN));
	err(it->partner, tclient_contract_query(it->partner, "p-other"), E(FORBIDDEN));
	/* Unknown calls and bad fields. */
	err(it->rep_a, tclient_disposition(it->rep_a, "no-such-call", OUT(ORDERED), 0, NULL),
	    E(UNKNOWN_CALL));
	err(it->rep_a, tclient_disposition(it->rep_a, "no-such-call", 0, 0, NULL),
	    E(INVALID_ARGUMENT));
	err(it->admin, tclient_erasure(it->admin, NULL, NULL, NULL), E(INVALID_ARGUMENT));
	err(it->admin, tclient_erasure(it->admin, "12345", NULL, NULL), E(INVALID_ARGUMENT));
	err(it->admin, tclient_order_status(it->admin, "no-such-order", ORD(SHIPPED), NULL),
	    E(INVALID_ARGUMENT));
	err(it->admin, tclient_partner_drain(it->admin, "nobody", true, NULL), E(UNKNOWN_TARGET));
	err(it->admin, tclient_contract_query(it->admin, "rep-a"), E(UNKNOWN_TARGET));
}

/* A partner closes a sale: orders (idempotent), disposition, lead, status. */
static void test_partner_sale(void **state)
{
	struct it *it = *state;
	struct tclient *p = it->partner;
	int code;

	call_to(it, "a1", "+49891111111", "s-sale", "p-south");
	answered(it, "a1", "p-south");

	/* Validation: nothing of these is kept. */
	struct tclient_item item = {"sku-p1", 2, 5000};
	err(p, tclient_order(p, "o-bad", "a1", -5, "EUR", &item, 1, 0, false), E(INVALID_ARGUMENT));
	err(p, tclient_order(p, "o-bad", "a1", 200000000, "EUR", &item, 1, 0, false),
	    E(INVALID_ARGUMENT));
	err(p, tclient_order(p, "o-bad", "a1", 10000, "USD", &item, 1, 0, false), E(INVALID_ARGUMENT));
	err(p, tclient_order(p, "o-bad", "a1", 9999, "EUR", &item, 1, 0, false), E(INVALID_ARGUMENT));
	err(p, tclient_order(p, "o-bad", "a1", 10000, "EUR", &item, 1, 10, false), E(INVALID_ARGUMENT));
	struct tclient_item neg = {"sku-p1", -2, 0};
	err(p, tclient_order(p, "o-bad", "a1", 10000, "EUR", &neg, 1, 0, false), E(INVALID_ARGUMENT));
	err(p, tclient_order(p, "o-bad", "no-call", 10000, "EUR", &item, 1, 0, false), E(UNKNOWN_CALL));
	err(p, tclient_order(p, "o-bad", "a1", 10000, "EUR", NULL, 0, 0, false), E(INVALID_ARGUMENT));

	ok(p, tclient_order(p, "o-a1", "a1", 10000, "EUR", &item, 1, 2, false));
	/* The same order again is one order; other content under its id is refused. */
	ok(p, tclient_order(p, "o-a1", "a1", 10000, "EUR", &item, 1, 2, false));
	struct tclient_item item3 = {"sku-p1", 3, 5000};
	err(p, tclient_order(p, "o-a1", "a1", 15000, "EUR", &item3, 1, 2, false), E(INVALID_ARGUMENT));
	order(p, "o-a2", "a1", 1000, "sku-p2", 1, 9, false);

	/* A disposition that contradicts the orders is refused. */
	err(p, tclient_disposition(p, "a1", OUT(NO_ORDER), 0, NULL), E(BAD_STATE));
	dispose(p, "a1", OUT(ORDERED));
	/* Again the same: acknowledged; another outcome: refused. */
	dispose(p, "a1", OUT(ORDERED));
	err(p, tclient_disposition(p, "a1", OUT(WRONG_NUMBER), 0, NULL), E(BAD_STATE));

	const char *products[] = {"printer-x", "toner-y", NULL};
	struct tclient_lead lead = {
		.lead_id = "lead-a1", .call_id = "a1", .name = "Erika Beispiel",
		.company = "Beispiel GmbH", .city = "Muenchen", .country = "DE",
		.phone = "+49 89 1111111", .email = "Erika@Beispiel.example",
		.consent_contact = true, .products = products,
	};
	wire_env *e = tclient_reply_of(p, tclient_lead(p, &lead), M(LEAD_ACK), T_WAIT, &code);
	if (!e)
		fail_msg("lead: %d %s", code, tclient_last_error(p));
	assert_string_equal(e->lead_ack->lead_id, "lead-a1");
	assert_true(e->lead_ack->qualified);
	wire_env_free(e);
	/* A retry is one lead; other content under the id is refused. */
	e = tclient_reply_of(p, tclient_lead(p, &lead), M(LEAD_ACK), T_WAIT, &code);
	assert_non_null(e);
	wire_env_free(e);
	lead.city = "Augsburg";
	err(p, tclient_lead(p, &lead), E(INVALID_ARGUMENT));
	lead.city = "Muenchen";
	lead.lead_id = "lead-bad";
	lead.email = "not-an-address";
	err(p, tclient_lead(p, &lead), E(INVALID_ARGUMENT));
	ended(it, "a1");

	/* Status: valid transitions only; the current one again is fine. */
	ok(p, tclient_order_status(p, "o-a1", ORD(ALLOCATED), NULL));
	ok(p, tclient_order_status(p, "o-a1", ORD(ALLOCATED), NULL));
	err(p, tclient_order_status(p, "o-a1", ORD(DELIVERED), NULL), E(BAD_STATE));
	ok(p, tclient_order_status(p, "o-a1", ORD(SHIPPED), "DHL 0042"));
	ok(p, tclient_order_status(p, "o-a1", ORD(DELIVERED), NULL));
	err(p, tclient_order_status(p, "o-a1", ORD(CANCELLED), NULL), E(BAD_STATE));
	err(p, tclient_order_status(p, "o-a1", ORD(PLACED), NULL), E(INVALID_ARGUMENT));

	/* Redis: the lead stream has the customer's data, normalised; the
	 * event stream and the order hash do not. */
	WAIT_STREAM(it, 1, "cl:leads", "lead", "lead-a1", "phone", "+49891111111", "email",
		    "erika@beispiel.example", "qualified", "1", "fee_minor", "500", "products",
		    "printer-x,toner-y");
	assert_int_equal(stream_count(it, "cl:leads", "lead", "lead-a1", NULL), 1);
	WAIT_STREAM(it, 1, "cl:events", "type", "order.placed", "call", "a1", "order", "o-a1",
		    "amount_minor", "10000", "commission_minor", "1000");
	WAIT_STREAM(it, 1, "cl:events", "type", "order.status", "order", "o-a1", "state", "delivered");
	WAIT_STREAM(it, 1, "cl:events", "type", "lead.captured", "lead", "lead-a1");
	assert_int_equal(stream_count(it, "cl:events", "type", "order.placed", "order", "o-a1", NULL),
			 1);
	/* Sales events have entries of their own. */
	assert_int_equal(event_entry_n(it, "order.placed", "order", "o-a1"), 1);
	assert_int_equal(event_entry_n(it, "lead.captured", "lead", "lead-a1"), 1);
	WAIT_HASH(it, "cl:order:o-a1", "state", "delivered");
	wait_member(it, "cl:orders", "o-a2", 1);
}

/* A rep's sale: commission at the rep's rate, a cancellation reverses it;
 * the backlog lists expedited orders first. */
static void test_rep_sale_and_backlog(void **state)
{
	struct it *it = *state;
	struct tclient *a = it->rep_a;
	int code;

	call_to(it, "b1", "+49301000001", "s-sale", "rep-a");
	answered(it, "b1", "rep-a");
	order(a, "o-b1", "b1", 20000, "sku-r1", 4, 0, false);
	order(a, "o-b2", "b1", 3000, "sku-r2", 1, 5, true);
	/* The partner may not touch a rep's call or order. */
	err(it->partner, tclient_disposition(it->partner, "b1", OUT(ORDERED), 0, NULL), E(FORBIDDEN));
	err(it->partner, tclient_order_status(it->partner, "o-b1", ORD(CANCELLED), NULL),
	    E(FORBIDDEN));
	struct tclient_item item = {"sku-x", 1, 0};
	err(it->partner, tclient_order(it->partner, "o-x", "b1", 100, "EUR", &item, 1, 0, false),
	    E(FORBIDDEN));
	dispose(a, "b1", OUT(ORDERED));
	ended(it, "b1");
	ok(a, tclient_order_status(a, "o-b1", ORD(CANCELLED), "customer changed mind"));
	WAIT_STREAM(it, 1, "cl:events", "type", "order.placed", "order", "o-b1", "commission_minor",
		    "500");
	WAIT_STREAM(it, 1, "cl:events", "type", "order.status", "order", "o-b1", "state", "cancelled");

	/* Open: o-a2 (partner, priority 9) and o-b2 (rep, priority 5, expedited). */
	wire_env *e = tclient_reply_of(it->obs, tclient_backlog_query(it->obs, DIM(ALL), NULL, 0),
				       M(BACKLOG_REPLY), T_WAIT, &code);
	if (!e)
		fail_msg("backlog: %d %s", code, tclient_last_error(it->obs));
	Closeloop__V1__BacklogReply *b = e->backlog_reply;
	assert_int_equal(b->n_orders, 2);
	assert_string_equal(b->orders[0]->order_id, "o-b2"); /* expedited first */
	assert_true(b->orders[0]->expedite);
	assert_string_equal(b->orders[1]->order_id, "o-a2");
	assert_int_equal(b->n_summaries, 1);
	assert_int_equal(b->summaries[0]->open, 2);
	assert_int_equal(b->summaries[0]->placed, 2);
	assert_int_equal(b->summaries[0]->expedited, 1);
	assert_int_equal(b->summaries[0]->age_under_1d, 2);
	assert_int_equal(b->summaries[0]->n_by_priority, 10);
	assert_int_equal(b->summaries[0]->by_priority[5], 1);
	assert_int_equal(b->summaries[0]->by_priority[9], 1);
	assert_int_equal(b->summaries[0]->open_amount_minor, 4000);
	wire_env_free(e);

	/* Per territory, and the partner's own view. */
	e = tclient_reply_of(it->obs, tclient_backlog_query(it->obs, DIM(TERRITORY), "de-north", 0),
			     M(BACKLOG_REPLY), T_WAIT, &code);
	assert_non_null(e);
	assert_int_equal(e->backlog_reply->n_summaries, 1);
	assert_int_equal(e->backlog_reply->summaries[0]->open, 1);
	assert_string_equal(e->backlog_reply->summaries[0]->oldest_order, "o-b2");
	wire_env_free(e);
	e = tclient_reply_of(it->partner, tclient_backlog_query(it->partner, 0, NULL, 0),
			     M(BACKLOG_REPLY), T_WAIT, &code);
	assert_non_null(e);
	assert_int_equal(e->backlog_reply->n_orders, 1);
	assert_string_equal(e->backlog_reply->orders[0]->order_id, "o-a2");
	wire_env_free(e);

	/* The backlog hashes in Redis. */
	WAIT_HASH(it, "cl:backlog:all:all", "open", "2");
	WAIT_HASH(it, "cl:backlog:partner:p-south", "open", "1");
	WAIT_HASH(it, "cl:backlog:all:all", "expedited", "1");
}

/* The next Offer with followup set, skipping ordinary offers. */
static wire_env *followup_offer(struct tclient *c, int timeout_ms)
{
	uint64_t end = tclient_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now = tclient_now_ms();
		if (now >= end)
			return NULL;
		wire_env *e = tclient_expect(c, M(OFFER), TCLIENT_ANY_SEQ, (int)(end - now));
		if (!e || e->offer->followup)
			return e;
		wire_env_free(e);
	}
}

/* A follow-up goes back to the rep that spoke to the customer, twice (the
 * first attempt reaches nobody), then completes. */
static void test_followup_same_rep(void **state)
{
	struct it *it = *state;
	struct tclient *a = it->rep_a;
	int code;

	call_to(it, "c1", "+49302000002", "s-fu", "rep-a");
	answered(it, "c1", "rep-a");
	/* Another rep with the skill is ready too: the task must still go to rep-a. */
	struct tclient *b = agent(it, "rep-b");
	uint64_t due = now_wall_ms() + 800;
	err(a, tclient_disposition(a, "c1", OUT(FOLLOW_UP), now_wall_ms() - 3600000, NULL),
	    E(INVALID_ARGUMENT));
	err(a, tclient_disposition(a, "c1", OUT(NO_CONTACT), 0, NULL), E(INVALID_ARGUMENT));
	wire_env *e = tclient_reply_of(a, tclient_disposition(a, "c1", OUT(FOLLOW_UP), due, NULL),
				       M(DISPOSITION_ACK), T_WAIT, &code);
	if (!e)
		fail_msg("disposition: %d %s", code, tclient_last_error(a));
	assert_true(e->disposition_ack->task_id[0] != '\0');
	snprintf(it->fu_task, sizeof it->fu_task, "%s", e->disposition_ack->task_id);
	wire_env_free(e);
	ended(it, "c1");
	char key[160], buf[64];
	snprintf(key, sizeof key, "cl:followup:%s", it->fu_task);
	WAIT_HASH(it, key, "state", "scheduled");
	wait_member(it, "cl:followups", it->fu_task, 1);
	/* The hash says nothing personal. */
	assert_string_equal(rhget(it, key, "origin_call", buf, sizeof buf), "c1");

	for (int attempt = 1; attempt <= 2; attempt++) {
		e = followup_offer(a, 3000);
		if (!e)
			fail_msg("attempt %d: no follow-up offer for rep-a", attempt);
		const Closeloop__V1__Offer *o = e->offer;
		assert_string_equal(o->task_id, it->fu_task);
		assert_string_equal(o->callback_number, "+49302000002");
		assert_string_equal(o->origin_call_id, "c1");
		assert_int_equal(o->attempt, attempt);
		char call[128];
		snprintf(call, sizeof call, "%s", o->call_id);
		uint64_t resv = o->reservation_id;
		wire_env_free(e);
		ok(a, tclient_offer_accept(a, call, resv));
		if (attempt == 1) {
			dispose(a, call, OUT(NO_CONTACT));
			WAIT_STREAM(it, 1, "cl:events", "type", "followup.retry", "task", it->fu_task);
		} else {
			dispose(a, call, OUT(NO_ORDER));
		}
	}
	/* rep-b never saw the task. */
	assert_null(followup_offer(b, 100));
	WAIT_HASH(it, key, "state", "done");
	assert_string_equal(rhget(it, key, "attempts", buf, sizeof buf), "2");
	assert_string_equal(rhget(it, key, "result", buf, sizeof buf), "no_order");
	wait_member(it, "cl:followups", it->fu_task, 0);
	WAIT_STREAM(it, 1, "cl:events", "type", "followup.done", "task", it->fu_task);
	ok(b, tclient_logout(b, "rep-b"));
	tclient_free(b);
}

/* A complaint nobody resolves climbs the path on its deadlines. */
static void test_complaint_escalates(void **state)
{
	struct it *it = *state;
	struct tclient *a = it->rep_a;
	int code;

	call_to(it, "d1", "+49303000003", "s-cmp", "rep-a");
	answered(it, "d1", "rep-a");
	err(a, tclient_disposition(a, "d1", OUT(COMPLAINT), 0, NULL), E(INVALID_ARGUMENT));
	wire_env *e = tclient_reply_of(a, tclient_disposition(a, "d1", OUT(COMPLAINT), 0, "delivery"),
				       M(DISPOSITION_ACK), T_WAIT, &code);
	if (!e)
		fail_msg("complaint: %d %s", code, tclient_last_error(a));
	char id[128], key[160], buf[64];
	snprintf(id, sizeof id, "%s", e->disposition_ack->complaint_id);
	wire_env_free(e);
	assert_true(id[0] != '\0');
	ended(it, "d1");
	snprintf(key, sizeof key, "cl:complaint:%s", id);

	/* Deadlines 300 ms per level: supervisor, then manager, then overdue. */
	WAIT_STREAM(it, 1, "cl:events", "type", "complaint.escalated", "complaint", id,
		    "level_name", "supervisor");
	WAIT_STREAM(it, 1, "cl:events", "type", "complaint.escalated", "complaint", id,
		    "level_name", "manager");
	WAIT_STREAM(it, 1, "cl:events", "type", "complaint.overdue", "complaint", id);
	WAIT_HASH(it, key, "overdue", "1");
	assert_string_equal(rhget(it, key, "level_name", buf, sizeof buf), "manager");
	assert_string_equal(rhget(it, key, "escalations", buf, sizeof buf), "2");
	assert_string_equal(rhget(it, key, "category", buf, sizeof buf), "delivery");
	wait_member(it, "cl:complaints", id, 1);
	/* Overdue once, not on every tick. */
	nap_ms(400);
	assert_int_equal(stream_count(it, "cl:events", "type", "complaint.overdue", "complaint", id,
				      NULL),
			 1);

	struct kpi k = kpi_total(it, DIM(REP), "rep-a");
	assert_int_equal(k.complaints_open, 1);
	ok(it->admin, tclient_complaint_update(it->admin, id, 1, "anna.lead"));
	ok(it->admin, tclient_complaint_update(it->admin, id, 2, "anna.lead"));
	ok(it->admin, tclient_complaint_update(it->admin, id, 2, NULL)); /* again: fine */
	err(it->admin, tclient_complaint_update(it->admin, id, 1, NULL), E(BAD_STATE));
	err(it->admin, tclient_complaint_update(it->admin, "cmp-none", 2, NULL), E(INVALID_ARGUMENT));
	err(it->admin, tclient_complaint_update(it->admin, id, 7, NULL), E(INVALID_ARGUMENT));
	WAIT_HASH(it, key, "state", "resolved");
	wait_member(it, "cl:complaints", id, 0);
	k = kpi_total(it, DIM(REP), "rep-a");
	assert_int_equal(k.complaints_open, 0);
}

static const Closeloop__V1__ContractState *contract(wire_env *e)
{
	assert_int_equal(e->contract_reply->n_contracts, 1);
	return e->contract_reply->contracts[0];
}

static wire_env *contract_of(struct it *it, struct tclient *c, const char *id)
{
	int code;
	wire_env *e = tclient_reply_of(c, tclient_contract_query(c, id), M(CONTRACT_REPLY), T_WAIT,
				       &code);
	if (!e)
		fail_msg("contract_query: %d %s", code, tclient_last_error(c));
	return e;
}

/* The partner's closure falls below its contract: breach, routing penalty;
 * more closed sales: recovered. QA scores feed its satisfaction. */
static void test_contract_and_qa(void **state)
{
	struct it *it = *state;
	struct tclient *p = it->partner;

	/* QA on the first sale. */
	ok(it->admin, tclient_qa(it->admin, "a1", 4.5, "form-1", "qa.team"));
	ok(it->admin, tclient_qa(it->admin, "a1", 4.5, "form-1", "qa.team"));
	err(it->admin, tclient_qa(it->admin, "a1", 3.0, "form-1", "qa.team"), E(INVALID_ARGUMENT));
	err(it->admin, tclient_qa(it->admin, "a1", 7.0, "form-2", "qa.team"), E(INVALID_ARGUMENT));
	err(it->admin, tclient_qa(it->admin, "a1", 4.0, "", "qa.team"), E(INVALID_ARGUMENT));
	err(it->admin, tclient_qa(it->admin, "nope", 4.0, "form-1", NULL), E(UNKNOWN_CALL));

	/* a1 closed; e1..e3 answered without a sale: 1 of 4 closed < 0.5. */
	char id[16];
	for (int i = 1; i <= 3; i++) {
		snprintf(id, sizeof id, "e%d", i);
		char caller[32];
		snprintf(caller, sizeof caller, "+4989400000%d", i);
		call_to(it, id, caller, "s-sla", "p-south");
		answered(it, id, "p-south");
		dispose(p, id, OUT(NO_ORDER));
		ended(it, id);
	}
	/* No order on a call disposed as no_order. */
	struct tclient_item item = {"sku-p1", 1, 1000};
	err(p, tclient_order(p, "o-e1", "e1", 1000, "EUR", &item, 1, 0, false), E(BAD_STATE));

	uint64_t end = tclient_now_ms() + 3000;
	wire_env *e;
	for (;;) {
		e = contract_of(it, it->admin, "p-south");
		if (contract(e)->in_breach || tclient_now_ms() > end)
			break;
		wire_env_free(e);
		nap_ms(50);
	}
	const Closeloop__V1__ContractState *c = contract(e);
	assert_true(c->in_breach);
	assert_true(c->breach_closure);
	assert_false(c->breach_answer);
	assert_int_equal(c->window_calls, 4);
	assert_int_equal(c->answered, 4);
	assert_int_equal(c->closed, 1);
	assert_true(fabs(c->closure_rate - 0.25) < 1e-9);
	assert_true(fabs(c->routing_closure - 0.25) < 1e-9);
	assert_true(fabs(c->penalty - 0.5) < 1e-9);
	assert_true(fabs(c->min_closure - 0.5) < 1e-9);
	assert_int_equal(c->qa_count, 1);
	assert_true(fabs(c->satisfaction - 4.5) < 1e-9);
	wire_env_free(e);
	WAIT_STREAM(it, 1, "cl:events", "type", "contract.breach", "target", "p-south", "measure",
		    "closure_rate");
	WAIT_HASH(it, "cl:contract:p-south", "in_breach", "1");

	/* Two sales: 3 of 6 closed = 0.5, within the contract again. */
	for (int i = 4; i <= 5; i++) {
		snprintf(id, sizeof id, "e%d", i);
		char caller[32];
		snprintf(caller, sizeof caller, "+4989400000%d", i);
		call_to(it, id, caller, "s-sla", "p-south");
		answered(it, id, "p-south");
		dispose(p, id, OUT(ORDERED));
		ended(it, id);
	}
	WAIT_STREAM(it, 1, "cl:events", "type", "contract.recovered", "target", "p-south");
	e = contract_of(it, p, NULL); /* the partner sees its own contract */
	c = contract(e);
	assert_string_equal(c->target_id, "p-south");
	assert_false(c->in_breach);
	assert_true(fabs(c->penalty - 1.0) < 1e-9);
	assert_true(fabs(c->closure_rate - 0.5) < 1e-9);
	wire_env_free(e);
}

/* An answered call nobody disposed of is flagged once. */
static void test_undisposed(void **state)
{
	struct it *it = *state;

	call_to(it, "f1", "+49305000005", "s-und", "rep-a");
	answered(it, "f1", "rep-a");
	ended(it, "f1");
	WAIT_STREAM(it, 1, "cl:events", "type", "call.undisposed", "call", "f1", "target", "rep-a");
	nap_ms(300);
	assert_int_equal(stream_count(it, "cl:events", "type", "call.undisposed", "call", "f1", NULL),
			 1);
	/* A late disposition is still taken. */
	dispose(it->rep_a, "f1", OUT(NO_ORDER));
}

/*
 * Every figure, against what the scenarios sent:
 *   p-south: a1 (orders 10000 + 1000, lead with fee 500, QA 4.5), e1..e5
 *            (e4, e5 ORDERED): 6 offered/answered/handled, 3 closed,
 *            revenue 11000, commission 10 % = 1100.
 *   rep-a:   b1 (orders 20000 at 2.5 % = 500, cancelled, and 3000 at 2.5 % =
 *            75), c1 (follow-up done), d1 (complaint), f1: 4 offered /
 *            answered / handled, 1 closed, revenue 3000, commission 75.
 *   all:     10 inbound calls (follow-up attempts are not inbound calls).
 */
static void test_kpis_exact(void **state)
{
	struct it *it = *state;

	struct kpi p = kpi_total(it, DIM(PARTNER), "p-south");
	assert_true(p.found);
	assert_int_equal(p.offered, 6);
	assert_int_equal(p.answered, 6);
	assert_int_equal(p.answered_in_sl, 6);
	assert_int_equal(p.handled, 6);
	assert_int_equal(p.abandoned, 0);
	assert_int_equal(p.closed, 3);
	assert_int_equal(p.orders, 2);
	assert_int_equal(p.revenue, 11000);
	assert_int_equal(p.commission, 1100);
	assert_int_equal(p.cancelled, 0);
	assert_int_equal(p.leads, 1);
	assert_int_equal(p.qualified, 1);
	assert_int_equal(p.lead_fees, 500);
	assert_int_equal(p.qa_count, 1);
	assert_true(fabs(p.qa_sum - 4.5) < 1e-9);
	assert_true(p.avg_answer_ms < 20000);

	struct kpi a = kpi_total(it, DIM(REP), "rep-a");
	assert_int_equal(a.offered, 4);
	assert_int_equal(a.answered, 4);
	assert_int_equal(a.handled, 4);
	assert_int_equal(a.closed, 1);
	assert_int_equal(a.orders, 2);
	assert_int_equal(a.cancelled, 1);
	assert_int_equal(a.revenue, 3000);
	assert_int_equal(a.commission, 75);
	assert_int_equal(a.leads, 0);
	assert_int_equal(a.followups_done, 1);
	assert_int_equal(a.followups_open, 0);
	assert_int_equal(a.complaints_open, 0);

	struct kpi all = kpi_total(it, DIM(ALL), "all");
	assert_int_equal(all.offered, 10);
	assert_int_equal(all.answered, 10);
	assert_int_equal(all.handled, 10);
	assert_int_equal(all.closed, 4);
	assert_int_equal(all.orders, 4);
	assert_int_equal(all.revenue, 14000);
	assert_int_equal(all.commission, 1175);
	assert_int_equal(all.cancelled, 1);
	assert_int_equal(all.leads, 1);
	assert_int_equal(all.lead_fees, 500);
	assert_int_equal(all.followups_done, 1);

	/* Queue = plan: b1 and a1 went through "sales". */
	struct kpi q = kpi_total(it, DIM(QUEUE), "sales");
	assert_int_equal(q.offered, 2);
	assert_int_equal(q.orders, 4);
	assert_int_equal(q.revenue, 14000);
	struct kpi t = kpi_total(it, DIM(TERRITORY), "de-south");
	assert_int_equal(t.offered, 6);
	assert_int_equal(t.revenue, 11000);

	/* The same figures in Redis, summed over the buckets. */
	wait_redis_kpi(it, "partner", "p-south", "orders", 2);
	wait_redis_kpi(it, "partner", "p-south", "revenue_minor", 11000);
	wait_redis_kpi(it, "partner", "p-south", "commission_minor", 1100);
	wait_redis_kpi(it, "partner", "p-south", "lead_fees_minor", 500);
	wait_redis_kpi(it, "rep", "rep-a", "commission_minor", 75);
	wait_redis_kpi(it, "rep", "rep-a", "cancelled", 1);
	wait_redis_kpi(it, "all", "all", "answered", 10);
	redisReply *r = rcmd(it, "KEYS cl:kpi:all:all:*");
	assert_true(r->elements >= 1);
	redisReply *ttl = rcmd(it, "TTL %s", r->element[0]->str);
	assert_true(ttl->integer > 0); /* buckets expire (kpi_ttl_s) */
	freeReplyObject(ttl);
	freeReplyObject(r);

	/* A partner's own KPI query is scoped to it. */
	int code;
	wire_env *e = tclient_reply_of(it->partner,
				       tclient_kpi_query(it->partner, 0, NULL, 0, 0, true),
				       M(KPI_REPLY), T_WAIT, &code);
	assert_non_null(e);
	assert_int_equal(e->kpi_reply->n_rows, 1);
	assert_string_equal(e->kpi_reply->rows[0]->name, "p-south");
	assert_int_equal(e->kpi_reply->rows[0]->commission_minor, 1100);
	wire_env_free(e);
}

static bool has_pii(const char *s, size_t n)
{
	static const char *const needles[] = {"+4989777777", "max.muster", "muster@", "Max Muster",
					      "Hauptstr"};
	for (size_t k = 0; k < sizeof needles / sizeof needles[0]; k++) {
		size_t m = strlen(needles[k]);
		for (size_t i = 0; i + m <= n; i++)
			if (strncasecmp(s + i, needles[k], m) == 0)
				return true;
	}
	return false;
}

static bool reply_has_pii(const redisReply *r)
{
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		return has_pii(r->str, r->len);
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (reply_has_pii(r->element[i]))
			return true;
	return false;
}

/* Every key name and value in Redis; the number of keys holding the data
 * (listed when verbose). */
static int redis_pii_keys(struct it *it, bool verbose)
{
	int bad = 0;
	redisReply *keys = rcmd(it, "KEYS *");
	for (size_t i = 0; i < keys->elements; i++) {
		const char *k = keys->element[i]->str;
		redisReply *t = rcmd(it, "TYPE %s", k), *v = NULL;
		if (strcmp(t->str, "string") == 0)
			v = rcmd(it, "GET %s", k);
		else if (strcmp(t->str, "hash") == 0)
			v = rcmd(it, "HGETALL %s", k);
		else if (strcmp(t->str, "set") == 0)
			v = rcmd(it, "SMEMBERS %s", k);
		else if (strcmp(t->str, "zset") == 0)
			v = rcmd(it, "ZRANGE %s 0 -1", k);
		else if (strcmp(t->str, "list") == 0)
			v = rcmd(it, "LRANGE %s 0 -1", k);
		else if (strcmp(t->str, "stream") == 0)
			v = rcmd(it, "XRANGE %s - +", k);
		if (has_pii(k, strlen(k)) || (v && reply_has_pii(v))) {
			if (verbose)
				print_message("personal data left in %s (%s)\n", k, t->str);
			bad++;
		}
		freeReplyObject(t);
		if (v)
			freeReplyObject(v);
	}
	freeReplyObject(keys);
	return bad;
}

static void assert_kpi_same(const struct kpi *a, const struct kpi *b, int fu_open_delta)
{
	assert_int_equal(a->offered, b->offered);
	assert_int_equal(a->answered, b->answered);
	assert_int_equal(a->abandoned, b->abandoned);
	assert_int_equal(a->handled, b->handled);
	assert_int_equal(a->closed, b->closed);
	assert_int_equal(a->orders, b->orders);
	assert_int_equal(a->revenue, b->revenue);
	assert_int_equal(a->commission, b->commission);
	assert_int_equal(a->leads, b->leads);
	assert_int_equal(a->qualified, b->qualified);
	assert_int_equal(a->lead_fees, b->lead_fees);
	assert_int_equal(a->followups_done, b->followups_done);
	assert_int_equal(a->qa_count, b->qa_count);
	/* The erased task is no longer open: the one gauge that moves. */
	assert_int_equal((int64_t)b->followups_open, (int64_t)a->followups_open + fu_open_delta);
}

/* Erasure by email: the lead ties it to a number, the number to calls, a
 * waiting call's callback event and a follow-up task. Afterwards no Redis
 * key, stream entry or engine structure has any of it; KPIs are unchanged. */
static void test_erasure(void **state)
{
	struct it *it = *state;
	struct tclient *p = it->partner;
	int code;

	/* A call that waits (nobody with s-wait is logged in); the caller asks
	 * to be called back at the same number, then hangs up. */
	const char *wait_skills[] = {"s-wait", NULL};
	uint64_t seq = tclient_offer(it->pbx, "g0", "+4989777777", NULL, NULL, wait_skills);
	wire_env *e = tclient_expect(it->pbx, TCLIENT_ANY, seq, T_WAIT);
	assert_non_null(e);
	assert_int_equal(e->msg_case, M(QUEUE_CALL));
	wire_env_free(e);
	Closeloop__V1__CallbackRequested cb = CLOSELOOP__V1__CALLBACK_REQUESTED__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	cb.call_id = "g0";
	env.msg_case = M(CALLBACK_REQUESTED);
	env.callback_requested = &cb;
	ok(it->pbx, tclient_send(it->pbx, &env));
	ok(it->pbx, tclient_call_event(it->pbx, M(CALL_ABANDONED), "g0", NULL));

	/* The same person buys from the partner and leaves a lead. */
	call_to(it, "g1", "+4989777777", "s-sale", "p-south");
	answered(it, "g1", "p-south");
	const char *products[] = {"printer-x", NULL};
	struct tclient_lead lead = {
		.lead_id = "lead-g1", .call_id = "g1", .name = "Max Muster", .street = "Hauptstr. 1",
		.postal_code = "80331", .city = "Muenchen", .country = "DE",
		.phone = "+49 89 777777", .email = "Max.Muster@Example.com",
		.consent_contact = true, .consent_marketing = true, .products = products,
	};
	e = tclient_reply_of(p, tclient_lead(p, &lead), M(LEAD_ACK), T_WAIT, &code);
	if (!e)
		fail_msg("lead: %d %s", code, tclient_last_error(p));
	wire_env_free(e);
	e = tclient_reply_of(p, tclient_disposition(p, "g1", OUT(FOLLOW_UP), now_wall_ms() + 3600000,
						    NULL),
			     M(DISPOSITION_ACK), T_WAIT, &code);
	assert_non_null(e);
	char task[128], key[160];
	snprintf(task, sizeof task, "%s", e->disposition_ack->task_id);
	wire_env_free(e);
	ended(it, "g1");
	snprintf(key, sizeof key, "cl:followup:%s", task);

	/* It is all in Redis now. */
	WAIT_STREAM(it, 1, "cl:leads", "lead", "lead-g1", "email", "max.muster@example.com");
	WAIT_STREAM(it, 1, "cl:events", "type", "call.callback", "call", "g0", "reason",
		    "+4989777777");
	/* It carries the number: an entry of its own, so erasure takes it alone. */
	assert_int_equal(event_entry_n(it, "call.callback", "call", "g0"), 1);
	uint64_t end = tclient_now_ms() + 2000;
	redisReply *r;
	for (;;) {
		r = rcmd(it, "EXISTS %s", key);
		if (r->integer || tclient_now_ms() > end)
			break;
		freeReplyObject(r);
		nap_ms(20);
	}
	assert_int_equal(r->integer, 1);
	freeReplyObject(r);
	assert_true(redis_pii_keys(it, false) > 0);
	wait_redis_kpi(it, "partner", "p-south", "leads", 2);

	struct kpi before[4] = {kpi_total(it, DIM(ALL), "all"), kpi_total(it, DIM(PARTNER), "p-south"),
				kpi_total(it, DIM(TERRITORY), "de-south"),
				kpi_total(it, DIM(QUEUE), "sales")};
	assert_int_equal(before[1].followups_open, 1);
	int leads_before = stream_count(it, "cl:leads", "qualified", "1", NULL);

	e = tclient_reply_of(it->admin, tclient_erasure(it->admin, NULL, "MAX.MUSTER@example.com",
							"ticket-77"),
			     M(ERASURE_RESULT), T_WAIT, &code);
	if (!e)
		fail_msg("erasure: %d %s", code, tclient_last_error(it->admin));
	const Closeloop__V1__ErasureResult *er = e->erasure_result;
	assert_int_equal(er->leads, 1);
	assert_int_equal(er->calls, 2); /* g0 and g1 */
	assert_int_equal(er->followups, 1);
	assert_true(er->redis_pending);
	char eid[128];
	snprintf(eid, sizeof eid, "%s", er->erasure_id);
	wire_env_free(e);

	WAIT_STREAM(it, 1, "cl:events", "type", "erasure.done", "erasure", eid);
	WAIT_STREAM(it, 1, "cl:events", "type", "erasure.requested", "erasure", eid, "reference",
		    "ticket-77", "leads", "1");
	/* Hashes are deleted through the state queue: give it a moment. */
	end = tclient_now_ms() + 2000;
	while (redis_pii_keys(it, false) && tclient_now_ms() < end)
		nap_ms(50);
	assert_int_equal(redis_pii_keys(it, true), 0);
	wait_member(it, "cl:followups", task, 0);
	end = tclient_now_ms() + 3000;
	for (;;) {
		r = rcmd(it, "EXISTS %s", key);
		if (!r->integer || tclient_now_ms() > end)
			break;
		freeReplyObject(r);
		nap_ms(20);
	}
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);
	/* Only that lead left the lead stream. */
	assert_int_equal(stream_count(it, "cl:leads", "qualified", "1", NULL), leads_before - 1);
	assert_int_equal(stream_count(it, "cl:leads", "lead", "lead-a1", NULL), 1);

	/* The aggregates did not move. */
	struct kpi after[4] = {kpi_total(it, DIM(ALL), "all"), kpi_total(it, DIM(PARTNER), "p-south"),
			       kpi_total(it, DIM(TERRITORY), "de-south"),
			       kpi_total(it, DIM(QUEUE), "sales")};
	for (int i = 0; i < 4; i++)
		assert_kpi_same(&before[i], &after[i], -1);
	assert_int_equal(after[1].leads, 2);
	wait_redis_kpi(it, "partner", "p-south", "leads", 2);

	/* The engine holds nothing of it: the calls are unknown, a second
	 * erasure by the number finds nothing. */
	err(p, tclient_disposition(p, "g1", OUT(ORDERED), 0, NULL), E(UNKNOWN_CALL));
	lead.lead_id = "lead-g1b";
	err(p, tclient_lead(p, &lead), E(UNKNOWN_CALL));
	e = tclient_reply_of(it->admin, tclient_erasure(it->admin, "+49 89 777777", NULL, NULL),
			     M(ERASURE_RESULT), T_WAIT, &code);
	assert_non_null(e);
	assert_int_equal(e->erasure_result->leads, 0);
	assert_int_equal(e->erasure_result->calls, 0);
	assert_int_equal(e->erasure_result->followups, 0);
	wire_env_free(e);
}

/* An admin takes the partner out of routing for an exit, and back. */
static void test_drain(void **state)
{
	struct it *it = *state;

	ok(it->admin, tclient_partner_drain(it->admin, "p-south", true, "contract ends"));
	wire_env *e = contract_of(it, it->obs, "p-south");
	assert_true(contract(e)->draining);
	wire_env_free(e);
	/* Drained: a de-south sale waits out the partner step, then goes to a rep. */
	const char *skills[] = {"s-sale", NULL};
	uint64_t seq = tclient_offer(it->pbx, "h1", "+49898000001", NULL, NULL, skills);
	e = tclient_expect(it->pbx, M(ROUTE_CALL), seq, T_WAIT);
	if (!e)
		fail_msg("h1: no RouteCall");
	assert_string_equal(e->route_call->target_id, "rep-a");
	wire_env_free(e);
	ok(it->pbx, tclient_call_event(it->pbx, M(CALL_ABANDONED), "h1", NULL));
	WAIT_STREAM(it, 1, "cl:events", "type", "target.drain", "target", "p-south", "state",
		    "draining");
	ok(it->admin, tclient_partner_drain(it->admin, "p-south", false, NULL));
	e = contract_of(it, it->obs, "p-south");
	assert_false(contract(e)->draining);
	wire_env_free(e);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s ENGINE_PORT REDIS_PORT\n", argv[0]);
		return 2;
	}
	g_it.port = (uint16_t)atoi(argv[1]);
	g_it.rport = (uint16_t)atoi(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_partner_sale),
		cmocka_unit_test(test_rep_sale_and_backlog),
		cmocka_unit_test(test_followup_same_rep),
		cmocka_unit_test(test_complaint_escalates),
		cmocka_unit_test(test_contract_and_qa),
		cmocka_unit_test(test_undisposed),
		cmocka_unit_test(test_kpis_exact),
		cmocka_unit_test(test_erasure),
		cmocka_unit_test(test_drain),
	};
	return cmocka_run_group_tests_name("sales_integ", tests, group_setup, group_teardown);
}
