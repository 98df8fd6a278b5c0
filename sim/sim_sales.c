/*
 * sim_sales.c — the sales loop the simulated desks play: after each answered
 * call, the rep's or partner's own connection reports the call's result the
 * way a desktop or a partner's CRM would (docs/sim.md, docs/sales.md).
 *
 *   CallEnded answered → Disposition ORDERED (with the target's closure
 *   rate, drawn where the call ends) or NO_ORDER; for an ordered call an
 *   OrderPlaced (amount exponential around the scenario's mean, whole
 *   multiples of amount_step_minor, the engine's currency, 1..3 items);
 *   with lead_rate a Lead (synthetic person; consent with consent_rate,
 *   0..2 products). Each order then moves placed → allocated → shipped →
 *   delivered, one step after an exponential delay of mean status_ms,
 *   cancelled instead of shipped with cancel_rate.
 *
 * Ordering. The PBX and the desk are two connections; the engine reads them
 * independently, so a Disposition sent at once could overtake the CallEnded
 * (or even the CallAnswered, after a very short talk). The desk therefore
 * waits until the engine has replied to the CallEnded on the PBX connection
 * (replies echo the request's seq and come in order), then sends. On the
 * desk connection the engine handles the Disposition, the order and the
 * lead in the order sent.
 *
 * Accounting. Everything sent is counted when sent (struct sim_sales_fig,
 * per target and overall), and every request is remembered until its reply:
 * an Error, or a reply of the wrong kind, or a LeadAck whose `qualified`
 * differs from the simulator's own reading of the rule, is a counted
 * failure that makes the run exit 1. When the run ends, order status timers
 * stop (those orders stay open in their last state: the backlog), and the
 * run waits a bounded time for the replies still due; requests left without
 * a reply are failures too.
 *
 * Uses its own random stream (seeded from the run's seed) so that turning
 * the sales loop on or off does not change the call traffic.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cfg.h"
#include "sim_internal.h"

#define SALES_FLUSH_WAIT_MS 5000 /* at the end, wait this long for replies */

enum sale_state {
	SALE_WAIT_END = 1, /* CallEnded not yet answered by the engine */
	SALE_ORDER,        /* an order in progress: status timer armed */
};

struct sim_sale {
	struct sim_sale *prev, *next; /* r->sales */
	struct sim_run *run;
	enum sale_state st;
	int tgt;
	bool closed;
	struct sim_conn *pbx;         /* where CallEnded went */
	uint64_t call_num, ended_seq;
	uint64_t order_num;
	int64_t amount, commission;
	int ostate;                   /* CLOSELOOP__V1__ORDER_STATE__* last sent */
	struct event *timer;          /* SALE_ORDER: next status change */
};

enum sreq_kind { SREQ_DISPOSITION = 1, SREQ_ORDER, SREQ_STATUS, SREQ_LEAD };

/* A sales request waiting for its reply. */
struct sim_sreq {
	struct sim_sreq *next;
	struct sim_conn *conn;
	uint64_t seq;
	enum sreq_kind kind;
	bool qualified;               /* SREQ_LEAD: what the simulator expects */
	char what[64];                /* for the failure message */
};

static const char *const skus[] = {"PRN-LJ-4100", "PRN-CL-2250", "SCN-DS-900", "SUP-TN-41A",
				   "SUP-PP-A4-5", "SVC-CARE-3Y"};
static const char *const products[] = {"printers", "scanners", "supplies", "service"};

int sim_sales_init(struct sim_run *r)
{
	const struct sim_sales_beh *b = &r->scn->sales;
	/* Not given: on for scenarios, off for load runs and the queueing check
	 * (their figures stay comparable with runs without it). */
	r->sales_on = !r->bare && r->cfg &&
		      (b->enabled == 1 || (b->enabled < 0 && r->o->mode == SIM_MODE_SCENARIO &&
					   !r->o->check_erlang));
	sim_rng_seed(&r->sales_rng, r->seed ^ UINT64_C(0x5a1e5a1e5a1e5a1e));
	for (size_t i = 0; i < r->n_tgts; i++) {
		const struct cfg_target *ct = &r->cfg->targets[i];
		struct sim_tgt *t = &r->tgts[i];
		if (ct->kind == CFG_KIND_PARTNER) {
			t->commission_pct = ct->contract.commission_pct;
			t->lead_fee_minor = (int64_t)llround(ct->contract.lead_fee * 100.0);
		} else {
			t->commission_pct = ct->commission_pct;
			t->lead_fee_minor = 0;
		}
	}
	return 0;
}

/* Both figure sets a target's sales add to. */
static void figs(struct sim_run *r, int tgt, struct sim_sales_fig *f[2])
{
	f[0] = &r->tgts[tgt].sales;
	f[1] = &r->sales_all;
}

static void sales_failure(struct sim_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sales_failure(struct sim_run *r, const char *fmt, ...)
{
	r->err_unexpected++;
	if (r->why[0] == '\0') {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->why, sizeof r->why, fmt, ap);
		va_end(ap);
	}
	if (r->status == SIM_EXIT_OK)
		r->status = SIM_EXIT_RUN;
}

static void sale_unlink(struct sim_run *r, struct sim_sale *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		r->sales = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void sale_free(struct sim_run *r, struct sim_sale *s)
{
	sale_unlink(r, s);
	if (s->timer)
		event_free(s->timer);
	free(s);
}

/* Send env on the target's desk and remember the request until its reply. */
static void sreq_send(struct sim_run *r, struct sim_tgt *t, wire_env *env, enum sreq_kind kind,
		      bool qualified, const char *what)
{
	struct sim_sreq *q = calloc(1, sizeof *q);
	if (!q) {
		sim_run_fail(r, SIM_EXIT_RUN, "out of memory");
		return;
	}
	uint64_t seq = sim_conn_send(t->conn, env);
	if (!seq) {
		free(q); /* the connection is down: the run fails for that already */
		return;
	}
	q->conn = t->conn;
	q->seq = seq;
	q->kind = kind;
	q->qualified = qualified;
	snprintf(q->what, sizeof q->what, "%s", what);
	if (r->sreqs_tail)
		r->sreqs_tail->next = q;
	else
		r->sreqs = q;
	r->sreqs_tail = q;
	r->sales_pending++;
}

static void on_status_timer(evutil_socket_t fd, short what, void *arg);

static void arm_status(struct sim_run *r, struct sim_sale *s)
{
	double ms = sim_rng_exp(&r->sales_rng, r->scn->sales.status_ms);
	uint64_t us = (uint64_t)(ms * 1000.0);
	struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
	if (!s->timer && !(s->timer = evtimer_new(r->base, on_status_timer, s))) {
		sim_run_fail(r, SIM_EXIT_RUN, "out of memory");
		sale_free(r, s);
		return;
	}
	evtimer_add(s->timer, &tv);
}

static int64_t draw_amount(struct sim_run *r)
{
	const struct sim_sales_beh *b = &r->scn->sales;
	uint64_t step = b->amount_step_minor ? b->amount_step_minor : 1;
	uint64_t max = r->cfg->sales.max_amount_minor;
	double x = sim_rng_exp(&r->sales_rng, b->order_mean_minor);
	double k = ceil(x / (double)step);
	if (k < 1)
		k = 1;
	uint64_t amt = k * (double)step > 9e18 ? UINT64_MAX : (uint64_t)k * step;
	if (max && amt > max)
		amt = max >= step ? max / step * step : max;
	return (int64_t)amt;
}

static void send_order(struct sim_run *r, struct sim_sale *s, const char *call_id)
{
	struct sim_tgt *t = &r->tgts[s->tgt];
	char oid[64];
	Closeloop__V1__OrderPlaced m = CLOSELOOP__V1__ORDER_PLACED__INIT;
	Closeloop__V1__OrderItem it[3], *itp[3];
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	s->order_num = ++r->next_order;
	snprintf(oid, sizeof oid, "%so%" PRIu64, r->prefix, s->order_num);
	s->amount = draw_amount(r);
	s->commission = (int64_t)llround((double)s->amount * t->commission_pct / 100.0);
	s->ostate = CLOSELOOP__V1__ORDER_STATE__ORDER_STATE_PLACED;
	size_t n = 1 + sim_rng_below(&r->sales_rng, 3);
	for (size_t i = 0; i < n; i++) {
		closeloop__v1__order_item__init(&it[i]);
		it[i].sku = (char *)skus[sim_rng_below(&r->sales_rng,
						       (uint32_t)(sizeof skus / sizeof skus[0]))];
		it[i].quantity = (int32_t)(1 + sim_rng_below(&r->sales_rng, 3));
		itp[i] = &it[i];
	}
	m.order_id = oid;
	m.call_id = (char *)call_id;
	m.amount_minor = s->amount;
	m.currency = r->cfg->sales.currency;
	m.items = itp;
	m.n_items = n;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ORDER_PLACED;
	env.order_placed = &m;
	sreq_send(r, t, &env, SREQ_ORDER, false, oid);
	struct sim_sales_fig *f[2];
	figs(r, s->tgt, f);
	for (int i = 0; i < 2; i++) {
		f[i]->orders++;
		f[i]->revenue_minor += s->amount;
		f[i]->commission_minor += s->commission;
		f[i]->open_placed++;
	}
}

static void send_lead(struct sim_run *r, struct sim_tgt *t, int tgt, const char *call_id)
{
	struct sim_rng *g = &r->sales_rng;
	char lid[64], name[48], phone[24], email[64];
	const char *prods[2];
	Closeloop__V1__Lead m = CLOSELOOP__V1__LEAD__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	uint64_t n = ++r->next_lead;

	snprintf(lid, sizeof lid, "%sl%" PRIu64, r->prefix, n);
	snprintf(name, sizeof name, "Kunde %" PRIu64, n);
	/* +49 and 10 digits */
	snprintf(phone, sizeof phone, "+49%010" PRIu64, sim_rng_next(g) % UINT64_C(10000000000));
	snprintf(email, sizeof email, "kunde%" PRIu64 "@example.com", n);
	uint32_t contact = sim_rng_below(g, 3); /* 0 both, 1 phone only, 2 email only */
	m.lead_id = lid;
	m.call_id = (char *)call_id;
	m.name = name;
	m.country = "DE";
	m.phone = contact == 2 ? "" : phone;
	m.email = contact == 1 ? "" : email;
	m.consent_contact = sim_rng_uniform(g) < r->scn->sales.consent_rate;
	m.consent_marketing = sim_rng_uniform(g) < 0.5;
	m.consent_share = sim_rng_uniform(g) < 0.5;
	/* none with 1/4, else one or two distinct products */
	size_t np = sim_rng_uniform(g) < 0.25 ? 0 : 1 + sim_rng_below(g, 2);
	uint32_t p0 = sim_rng_below(g, 4);
	for (size_t i = 0; i < np; i++)
		prods[i] = products[(p0 + i) % 4];
	m.products = (char **)prods;
	m.n_products = np;
	/* The engine's rule (docs/sales.md): contact consent, a product, a way
	 * to reach them (always given here). */
	bool qualified = m.consent_contact && np > 0;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_LEAD;
	env.lead = &m;
	sreq_send(r, t, &env, SREQ_LEAD, qualified, lid);
	struct sim_sales_fig *f[2];
	figs(r, tgt, f);
	for (int i = 0; i < 2; i++) {
		f[i]->leads++;
		if (qualified) {
			f[i]->qualified_leads++;
			f[i]->lead_fees_minor += t->lead_fee_minor;
		}
	}
}

/* The engine has the CallEnded: the desk reports the call. */
static void sale_start(struct sim_run *r, struct sim_sale *s)
{
	struct sim_tgt *t = &r->tgts[s->tgt];
	char id[64];
	Closeloop__V1__Disposition d = CLOSELOOP__V1__DISPOSITION__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	sim_peer_call_id(r, s->call_num, id, sizeof id);
	d.call_id = id;
	d.outcome = s->closed ? CLOSELOOP__V1__OUTCOME__OUTCOME_ORDERED
			      : CLOSELOOP__V1__OUTCOME__OUTCOME_NO_ORDER;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_DISPOSITION;
	env.disposition = &d;
	sreq_send(r, t, &env, SREQ_DISPOSITION, false, id);
	struct sim_sales_fig *f[2];
	figs(r, s->tgt, f);
	for (int i = 0; i < 2; i++) {
		f[i]->ordered += s->closed;
		f[i]->no_order += !s->closed;
	}
	if (s->closed)
		send_order(r, s, id);
	if (sim_rng_uniform(&r->sales_rng) < r->scn->sales.lead_rate)
		send_lead(r, t, s->tgt, id);
	if (!s->closed || r->phase >= SIM_PH_FLUSH) {
		sale_free(r, s); /* nothing more to do (at the end: the order stays placed) */
		return;
	}
	s->st = SALE_ORDER;
	arm_status(r, s);
}

void sim_sales_call_ended(struct sim_run *r, struct sim_call *c, uint64_t ended_seq, bool closed)
{
	if (!r->sales_on || c->tgt < 0 || ended_seq == 0)
		return;
	struct sim_tgt *t = &r->tgts[c->tgt];
	if (t->trunk || !t->conn || !t->conn->ready)
		return; /* no desk to report from */
	struct sim_sale *s = calloc(1, sizeof *s);
	if (!s) {
		sim_run_fail(r, SIM_EXIT_RUN, "out of memory");
		return;
	}
	s->run = r;
	s->st = SALE_WAIT_END;
	s->tgt = c->tgt;
	s->closed = closed;
	s->pbx = c->pbx;
	s->call_num = c->num;
	s->ended_seq = ended_seq;
	s->next = r->sales;
	if (r->sales)
		r->sales->prev = s;
	r->sales = s;
}

static void on_status_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_sale *s = arg;
	struct sim_run *r = s->run;
	struct sim_tgt *t = &r->tgts[s->tgt];
	char oid[64];
	Closeloop__V1__OrderStatus m = CLOSELOOP__V1__ORDER_STATUS__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	struct sim_sales_fig *f[2];
	(void)fd;
	(void)what;
	if (r->phase >= SIM_PH_FLUSH)
		return;
	figs(r, s->tgt, f);
	snprintf(oid, sizeof oid, "%so%" PRIu64, r->prefix, s->order_num);
	m.order_id = oid;
	bool done = false;
	switch (s->ostate) {
	case CLOSELOOP__V1__ORDER_STATE__ORDER_STATE_PLACED:
		m.state = CLOSELOOP__V1__ORDER_STATE__ORDER_STATE_ALLOCATED;
		for (int i = 0; i < 2; i++) {
			f[i]->open_placed--;
			f[i]->open_allocated++;
		}
		break;
	case CLOSELOOP__V1__ORDER_STATE__ORDER_STATE_ALLOCATED:
		if (sim_rng_uniform(&r->sales_rng) < r->scn->sales.cancel_rate) {
			m.state = CLOSELOOP__V1__ORDER_STATE__ORDER_STATE_CANCELLED;
			m.reason = "customer withdrew";
			for (int i = 0; i < 2; i++) {
				f[i]->open_allocated--;
				f[i]->cancelled++;
				f[i]->revenue_minor -= s->amount;
				f[i]->commission_minor -= s->commission;
			}
			done = true;
		} else {
			m.state = CLOSELOOP__V1__ORDER_STATE__ORDER_STATE_SHIPPED;
			for (int i = 0; i < 2; i++) {
				f[i]->open_allocated--;
				f[i]->open_shipped++;
			}
		}
		break;
	default: /* shipped */
		m.state = CLOSELOOP__V1__ORDER_STATE__ORDER_STATE_DELIVERED;
		for (int i = 0; i < 2; i++) {
			f[i]->open_shipped--;
			f[i]->delivered++;
		}
		done = true;
		break;
	}
	s->ostate = m.state;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ORDER_STATUS;
	env.order_status = &m;
	sreq_send(r, t, &env, SREQ_STATUS, false, oid);
	if (done)
		sale_free(r, s);
	else
		arm_status(r, s);
}

static const char *kind_name(enum sreq_kind k)
{
	switch (k) {
	case SREQ_DISPOSITION: return "Disposition";
	case SREQ_ORDER: return "OrderPlaced";
	case SREQ_STATUS: return "OrderStatus";
	default: return "Lead";
	}
}

bool sim_sales_reply(struct sim_conn *c, const wire_env *env)
{
	struct sim_run *r = c->run;
	Closeloop__V1__Envelope__MsgCase mc = env->msg_case;

	if (mc != CLOSELOOP__V1__ENVELOPE__MSG_ACK && mc != CLOSELOOP__V1__ENVELOPE__MSG_ERROR &&
	    mc != CLOSELOOP__V1__ENVELOPE__MSG_DISPOSITION_ACK &&
	    mc != CLOSELOOP__V1__ENVELOPE__MSG_LEAD_ACK)
		return false;
	if (c->kind == SIM_CONN_PBX) {
		/* The engine has read every frame up to env->seq on this PBX
		 * connection: the desks of calls that ended there may report. */
		for (;;) {
			/* sale_start may free the sale: look again from the head */
			struct sim_sale *s = r->sales;
			while (s && !(s->st == SALE_WAIT_END && s->pbx == c &&
				      s->ended_seq <= env->seq))
				s = s->next;
			if (!s)
				break;
			sale_start(r, s);
		}
		return false;
	}
	struct sim_sreq *q = r->sreqs, *prev = NULL;
	while (q && !(q->conn == c && q->seq == env->seq)) {
		prev = q;
		q = q->next;
	}
	if (!q)
		return false;
	if (prev)
		prev->next = q->next;
	else
		r->sreqs = q->next;
	if (r->sreqs_tail == q)
		r->sreqs_tail = prev;
	r->sales_pending--;

	if (mc == CLOSELOOP__V1__ENVELOPE__MSG_ERROR) {
		const Closeloop__V1__Error *e = env->error;
		unsigned code = (unsigned)e->code < SIM_N_ERRCODES - 1 ? (unsigned)e->code
								      : SIM_N_ERRCODES - 1;
		r->errors[code]++;
		r->sales_errors++;
		sales_failure(r, "%s: Error %s from the %s to %s %s: %s", c->name,
			      sim_error_name(code), r->label, kind_name(q->kind), q->what, e->text);
	} else {
		Closeloop__V1__Envelope__MsgCase want =
			q->kind == SREQ_DISPOSITION ? CLOSELOOP__V1__ENVELOPE__MSG_DISPOSITION_ACK
			: q->kind == SREQ_LEAD      ? CLOSELOOP__V1__ENVELOPE__MSG_LEAD_ACK
						    : CLOSELOOP__V1__ENVELOPE__MSG_ACK;
		if (mc != want) {
			r->sales_errors++;
			sales_failure(r, "%s: %s answered %s %s", c->name, wire_msg_name(env),
				      kind_name(q->kind), q->what);
		} else if (q->kind == SREQ_LEAD && env->lead_ack->qualified != q->qualified) {
			r->sales_errors++;
			sales_failure(r, "%s: lead %s is %squalified for the %s, not for the "
				      "simulator",
				      c->name, q->what, env->lead_ack->qualified ? "" : "not ",
				      r->label);
		}
	}
	free(q);
	return true;
}

void sim_sales_finish(struct sim_run *r)
{
	struct sim_sale *s = r->sales, *nx;
	for (; s; s = nx) {
		nx = s->next;
		if (s->st == SALE_ORDER)
			sale_free(r, s); /* the order stays open in its state */
	}
	r->t_flush_deadline = sim_now_us() + SALES_FLUSH_WAIT_MS * UINT64_C(1000);
}

bool sim_sales_busy(const struct sim_run *r)
{
	return r->sales_on && (r->sales || r->sreqs);
}

void sim_sales_close(struct sim_run *r)
{
	if (!r->sales_on)
		return;
	uint64_t waiting = 0;
	for (struct sim_sale *s = r->sales; s; s = s->next)
		waiting += s->st == SALE_WAIT_END;
	if (r->sales_pending || waiting) {
		r->sales_unanswered = r->sales_pending + waiting;
		sales_failure(r,
			      "%" PRIu64 " sales request(s) and %" PRIu64
			      " ended call(s) still without a reply from the %s",
			      r->sales_pending, waiting, r->label);
	}
}

void sim_sales_free(struct sim_run *r)
{
	while (r->sales)
		sale_free(r, r->sales);
	struct sim_sreq *q;
	while ((q = r->sreqs)) {
		r->sreqs = q->next;
		free(q);
	}
	r->sreqs_tail = NULL;
}
