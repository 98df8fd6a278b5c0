/*
 * sim_peer.c — how the simulated peers behave: the PBX that offers calls and
 * rings targets, and the desks of reps and partners that log in, accept or
 * decline offers and come back ready.
 *
 * A call's life at the PBX (states in sim_internal.h):
 *   CallOffered → QueueCall (waits; the caller may abandon) or RouteCall
 *   RouteCall   → ring for the target's ring time, then CallNoAnswer (with
 *                 the target's no-answer probability; the engine re-queues
 *                 the call) or CallAnswered, talk for the handle time,
 *                 CallEnded; an answered call closes an order with the
 *                 target's closure rate (the desk then reports it:
 *                 sim_sales.c)
 *   RejectCall  → done
 * A target that needs_accept gets an Offer on its desk first: the desk
 * answers OfferAccept after the ring time (or OfferDecline with the
 * no-answer probability) and the PBX connects the RouteCall that follows at
 * once. Callers abandon only while waiting (before a RouteCall or while an
 * offer is pending on a desk), never while a phone rings: that is the
 * Erlang A model.
 *
 * Races the protocol allows are expected, not failures: an offer revoked
 * while the desk's answer is on the wire, or a caller hanging up while the
 * engine's RouteCall or RejectCall is on the wire. An Error about a call the
 * simulator has already finished is counted as such a race; every other
 * Error is unexpected and fails the run (docs/sim.md).
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cfg.h"
#include "sim_internal.h"

static const char *const st_names[] = {"?", "offered", "queued", "offering", "ringing",
				       "connected"};

void sim_peer_call_id(const struct sim_run *r, uint64_t num, char *buf, size_t len)
{
	snprintf(buf, len, "%s%" PRIu64, r->prefix, num);
}

/* The number in one of our call ids; false for ids that are not ours. */
static bool call_num(const struct sim_run *r, const char *id, uint64_t *num)
{
	if (strncmp(id, r->prefix, r->prefix_len) != 0)
		return false;
	const char *p = id + r->prefix_len;
	char *end;
	if (*p < '0' || *p > '9')
		return false;
	*num = strtoull(p, &end, 10);
	return *end == '\0';
}

static struct sim_call *call_find(struct sim_run *r, const char *id)
{
	uint64_t num;
	if (!call_num(r, id, &num))
		return NULL;
	struct sim_call *c = NULL;
	HASH_FIND(hh, r->calls, &num, sizeof num, c);
	return c;
}

static struct sim_tgt *tgt_find(struct sim_run *r, const char *id)
{
	struct sim_tgt *t = NULL;
	HASH_FIND_STR(r->tgt_by_id, id, t);
	return t;
}

static double draw(struct sim_run *r, const struct sim_time_dist *d)
{
	switch (d->dist) {
	case SIM_DIST_EXP: return sim_rng_exp(&r->rng, d->mean_ms);
	case SIM_DIST_FIXED: return d->mean_ms;
	default: return 0;
	}
}

static void arm(struct sim_call *c, uint64_t due)
{
	due = sim_run_tick(c->run, due);
	uint64_t now = sim_now_us();
	uint64_t d = due > now ? due - now : 0;
	struct timeval tv = {(time_t)(d / 1000000), (suseconds_t)(d % 1000000)};
	c->timer_due = due;
	evtimer_add(c->timer, &tv);
}

static void arm_patience(struct sim_call *c)
{
	if (c->abandon_at)
		arm(c, c->abandon_at);
	else
		evtimer_del(c->timer);
}

/* Returns the frame's seq (0 when the connection is down). */
static uint64_t send_call_event(struct sim_run *r, struct sim_call *c,
				Closeloop__V1__Envelope__MsgCase mc, uint32_t talk_ms)
{
	char id[64];
	const char *tid = c->tgt >= 0 ? r->tgts[c->tgt].id : "";
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	Closeloop__V1__CallAnswered a = CLOSELOOP__V1__CALL_ANSWERED__INIT;
	Closeloop__V1__CallNoAnswer n = CLOSELOOP__V1__CALL_NO_ANSWER__INIT;
	Closeloop__V1__CallEnded e = CLOSELOOP__V1__CALL_ENDED__INIT;
	Closeloop__V1__CallAbandoned b = CLOSELOOP__V1__CALL_ABANDONED__INIT;

	sim_peer_call_id(r, c->num, id, sizeof id);
	env.msg_case = mc;
	switch (mc) {
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED:
		a.call_id = id;
		a.target_id = (char *)tid;
		env.call_answered = &a;
		break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER:
		n.call_id = id;
		n.target_id = (char *)tid;
		env.call_no_answer = &n;
		break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED:
		e.call_id = id;
		e.talk_ms = talk_ms;
		env.call_ended = &e;
		break;
	default:
		b.call_id = id;
		env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED;
		env.call_abandoned = &b;
		break;
	}
	uint64_t seq = sim_conn_send(c->pbx, &env);
	if (seq) {
		r->call_events++;
		if (r->bare)
			sim_conn_fifo_push(c->pbx, NULL);
	}
	return seq;
}

/* Release the seat held since t_reserved: busy time, plus wrap-up after a
 * completed call. */
static void release_seat(struct sim_run *r, struct sim_call *c, uint64_t now, bool completed)
{
	if (c->tgt < 0 || c->t_reserved == 0)
		return;
	uint64_t until = now;
	if (completed)
		until += (uint64_t)(r->tgts[c->tgt].wrapup_ms * 1000.0);
	sim_run_add_busy(r, c, c->t_reserved, until);
	c->t_reserved = 0;
}

static void count_abandon(struct sim_run *r, struct sim_call *c, uint64_t now)
{
	struct sim_kpi *g[4];
	size_t n = sim_run_groups(r, c, g);
	double waited_ms = (double)(now - c->t_offer) / 1000.0;
	for (size_t i = 0; i < n; i++) {
		g[i]->abandoned++;
		if (waited_ms > r->scn->sl_threshold_ms)
			g[i]->abandoned_after_sl++;
	}
}

static void abandon(struct sim_run *r, struct sim_call *c, uint64_t now)
{
	/* An offer pending on a desk is revoked by the engine, not here. */
	if (c->st == SIM_CALL_OFFERING)
		release_seat(r, c, now, false);
	send_call_event(r, c, CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED, 0);
	count_abandon(r, c, now);
	sim_run_call_done(r, c);
}

static void answer(struct sim_run *r, struct sim_call *c, uint64_t now)
{
	struct sim_tgt *t = &r->tgts[c->tgt];
	struct sim_kpi *g[4];
	size_t n = sim_run_groups(r, c, g);
	double wait_ms = (double)(now - c->t_offer) / 1000.0;

	send_call_event(r, c, CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED, 0);
	c->st = SIM_CALL_CONNECTED;
	c->t_answer = now;
	for (size_t i = 0; i < n; i++) {
		g[i]->answered++;
		g[i]->wait_ms += wait_ms;
		if (wait_ms <= r->scn->sl_threshold_ms)
			g[i]->answered_in_sl++;
	}
	if (c->counted)
		t->k.answered++;
	if (r->sales_on) {
		t->sales.answered++;
		r->sales_all.answered++;
	}
	double talk = draw(r, &t->beh.handle);
	if (talk <= 0 && r->load) {
		/* Load mode: zero talk time, end in the same breath. */
		send_call_event(r, c, CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED, 0);
		release_seat(r, c, now, true);
		sim_run_call_done(r, c);
		return;
	}
	arm(c, now + (uint64_t)(talk * 1000.0));
}

static void end_call(struct sim_run *r, struct sim_call *c, uint64_t now)
{
	struct sim_tgt *t = &r->tgts[c->tgt];
	struct sim_kpi *g[4];
	size_t n = sim_run_groups(r, c, g);
	double talk_ms = (double)(now - c->t_answer) / 1000.0;
	bool closed = sim_rng_uniform(&r->rng) < t->beh.closure_rate;
	double wire_talk = talk_ms * r->o->speed;

	uint64_t seq = send_call_event(r, c, CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED,
				       wire_talk > UINT32_MAX ? UINT32_MAX : (uint32_t)wire_talk);
	sim_sales_call_ended(r, c, seq, closed);
	for (size_t i = 0; i < n; i++) {
		g[i]->talk_ms += talk_ms;
		g[i]->closures += closed;
	}
	if (c->counted) {
		t->k.talk_ms += talk_ms;
		t->k.closures += closed;
	}
	release_seat(r, c, now, true);
	sim_run_call_done(r, c);
}

/* A no-answer (PBX ring or desk decline): back to waiting. */
static void missed(struct sim_run *r, struct sim_call *c, uint64_t now)
{
	struct sim_kpi *g[4];
	size_t n = sim_run_groups(r, c, g);
	for (size_t i = 0; i < n; i++)
		g[i]->no_answers++;
	if (c->counted && c->tgt >= 0)
		r->tgts[c->tgt].k.no_answers++;
	release_seat(r, c, now, false);
	c->tgt = -1;
	c->reservation = 0;
	c->st = SIM_CALL_QUEUED;
	if (c->abandon_at && c->abandon_at <= now)
		abandon(r, c, now);
	else
		arm_patience(c);
}

void sim_peer_call_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_call *c = arg;
	struct sim_run *r = c->run;
	uint64_t now = sim_now_us();

	(void)fd;
	(void)what;
	if (r->phase >= SIM_PH_FLUSH)
		return;
	switch (c->st) {
	case SIM_CALL_OFFERED:
	case SIM_CALL_QUEUED:
	case SIM_CALL_OFFERING:
		abandon(r, c, now);
		return;
	case SIM_CALL_RINGING: {
		r->timer_late_us += (double)now - (double)c->timer_due; /* may be < 0 */
		r->timer_fires++;
		struct sim_tgt *t = &r->tgts[c->tgt];
		if (t->beh.no_answer > 0 && sim_rng_uniform(&r->rng) < t->beh.no_answer) {
			send_call_event(r, c, CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER, 0);
			missed(r, c, now);
		} else {
			answer(r, c, now);
		}
		return;
	}
	case SIM_CALL_CONNECTED:
		r->timer_late_us += (double)now - (double)c->timer_due; /* may be < 0 */
		r->timer_fires++;
		end_call(r, c, now);
		return;
	}
}

/* The first answer to CallOffered: latency and the territory group. */
static void first_reply(struct sim_run *r, struct sim_call *c, uint64_t now, const char *terr)
{
	if (c->replied)
		return;
	c->replied = true;
	sim_hist_record(r->lat, now - c->t_offer);
	if (!c->counted)
		return;
	c->terr = sim_run_terr(r, terr && *terr ? terr : "?");
	if (c->terr >= 0)
		r->terr_list[c->terr]->k.offered++;
}

void sim_peer_offer(struct sim_run *r, struct sim_call *c)
{
	const struct sim_scn *s = r->scn;
	const struct sim_queue *q = &s->queues[c->queue];
	const struct sim_origin *org = &s->origins[c->origin];
	char id[64], caller[24], postal[40] = "";
	Closeloop__V1__CallOffered m = CLOSELOOP__V1__CALL_OFFERED__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	sim_peer_call_id(r, c->num, id, sizeof id);
	size_t pl = strlen(org->caller_prefix);
	memcpy(caller, org->caller_prefix, pl);
	while (pl < (size_t)org->caller_digits + 1 && pl + 1 < sizeof caller)
		caller[pl++] = (char)('0' + sim_rng_below(&r->rng, 10));
	caller[pl] = '\0';
	if (org->n_postal) {
		const char *pp = org->postal[sim_rng_below(&r->rng, (uint32_t)org->n_postal)];
		size_t n = strlen(pp);
		if (n >= sizeof postal)
			n = sizeof postal - 1;
		memcpy(postal, pp, n);
		while (n < org->postal_len && n + 1 < sizeof postal)
			postal[n++] = (char)('0' + sim_rng_below(&r->rng, 10));
		postal[n] = '\0';
	}
	m.call_id = id;
	m.caller = caller;
	m.postal_code = postal;
	m.dialed = q->dialed ? q->dialed : "";
	m.segment = q->segment ? q->segment : "";
	m.language = q->language ? q->language : "";
	m.skills = q->skills;
	m.n_skills = q->n_skills;
	m.priority = q->priority;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_CALL_OFFERED;
	env.call_offered = &m;

	c->st = SIM_CALL_OFFERED;
	c->t_offer = sim_now_us();
	if (!sim_conn_send(c->pbx, &env))
		return;
	r->call_events++;
	if (r->bare)
		sim_conn_fifo_push(c->pbx, c);
	struct sim_kpi *g[4];
	size_t n = sim_run_groups(r, c, g);
	for (size_t i = 0; i < n; i++)
		g[i]->offered++;
	if (!r->load && s->patience.dist != SIM_DIST_NONE) {
		double p = draw(r, &s->patience);
		c->abandon_at = c->t_offer + (uint64_t)(p * 1000.0) + 1;
		arm(c, c->abandon_at);
	}
}

void sim_peer_abort_call(struct sim_run *r, struct sim_call *c)
{
	uint64_t now = sim_now_us();
	struct sim_kpi *g[4];
	size_t n = sim_run_groups(r, c, g);
	for (size_t i = 0; i < n; i++)
		g[i]->unfinished++;
	if (c->st == SIM_CALL_CONNECTED) {
		send_call_event(r, c, CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED, 0);
		release_seat(r, c, now, true);
	} else {
		send_call_event(r, c, CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED, 0);
		release_seat(r, c, now, false);
	}
	sim_run_call_done(r, c);
}

/* ---- engine → PBX ---- */

static void on_route(struct sim_run *r, const Closeloop__V1__RouteCall *m)
{
	uint64_t now = sim_now_us();
	struct sim_call *c = call_find(r, m->call_id);
	if (!c) {
		r->late_answers++; /* we hung up while it was on the wire */
		return;
	}
	struct sim_tgt *t = tgt_find(r, m->target_id);
	if (!t) {
		r->err_unexpected++;
		sim_run_fail(r, SIM_EXIT_RUN, "RouteCall for %s names unknown target '%s'",
			     m->call_id, m->target_id);
		return;
	}
	if (c->st == SIM_CALL_RINGING || c->st == SIM_CALL_CONNECTED) {
		r->err_unexpected++;
		sim_run_fail(r, SIM_EXIT_RUN, "RouteCall for %s while it is %s", m->call_id,
			     st_names[c->st]);
		return;
	}
	bool was_offering = c->st == SIM_CALL_OFFERING;
	first_reply(r, c, now, m->territory);
	if (c->counted) {
		struct sim_kpi *g[4];
		size_t n = sim_run_groups(r, c, g);
		for (size_t i = 0; i < n; i++)
			g[i]->routed++;
		t->k.routed++;
		if (!t->needs_accept)
			t->k.offered++;
	}
	c->tgt = (int)(t - r->tgts);
	c->reservation = m->reservation_id;
	if (c->t_reserved == 0)
		c->t_reserved = now;
	evtimer_del(c->timer);
	/* A desk that accepted has already rung: connect at once. */
	if ((was_offering && t->needs_accept) || t->beh.ring_ms <= 0) {
		if (!was_offering && t->beh.no_answer > 0 &&
		    sim_rng_uniform(&r->rng) < t->beh.no_answer) {
			send_call_event(r, c, CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER, 0);
			missed(r, c, now);
			return;
		}
		answer(r, c, now);
		return;
	}
	c->st = SIM_CALL_RINGING;
	arm(c, now + (uint64_t)(t->beh.ring_ms * 1000.0));
}

static void on_queue(struct sim_run *r, const Closeloop__V1__QueueCall *m)
{
	uint64_t now = sim_now_us();
	struct sim_call *c = call_find(r, m->call_id);
	if (!c) {
		r->late_answers++;
		return;
	}
	if (!c->replied && c->counted) {
		struct sim_kpi *g[4];
		size_t n = sim_run_groups(r, c, g);
		for (size_t i = 0; i < n; i++)
			g[i]->waited++;
	}
	bool first = !c->replied;
	first_reply(r, c, now, m->territory);
	if (first && c->counted && c->terr >= 0)
		r->terr_list[c->terr]->k.waited++;
	if (c->st == SIM_CALL_OFFERED)
		c->st = SIM_CALL_QUEUED;
}

static void on_reject(struct sim_run *r, const Closeloop__V1__RejectCall *m)
{
	uint64_t now = sim_now_us();
	struct sim_call *c = call_find(r, m->call_id);
	if (!c) {
		r->late_answers++;
		return;
	}
	first_reply(r, c, now, m->territory);
	struct sim_kpi *g[4];
	size_t n = sim_run_groups(r, c, g);
	for (size_t i = 0; i < n; i++)
		g[i]->rejected++;
	if (c->st == SIM_CALL_OFFERING || c->st == SIM_CALL_RINGING)
		release_seat(r, c, now, false);
	sim_run_call_done(r, c);
}

static void on_error(struct sim_conn *conn, const Closeloop__V1__Error *e)
{
	struct sim_run *r = conn->run;
	unsigned code = (unsigned)e->code < SIM_N_ERRCODES - 1 ? (unsigned)e->code
							      : SIM_N_ERRCODES - 1;
	r->errors[code]++;
	if (!conn->ready) {
		sim_run_fail(r, SIM_EXIT_CONNECT, "%s: %s refused the log-in: %s %s", conn->name,
			     r->label, sim_error_name(code), e->text);
		return;
	}
	struct sim_call *c = e->call_id[0] ? call_find(r, e->call_id) : NULL;
	bool race = false;
	if (e->call_id[0] && !c &&
	    (e->code == CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_CALL ||
	     e->code == CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_STATE ||
	     e->code == CLOSELOOP__V1__ERROR_CODE__ERROR_FORBIDDEN))
		race = true; /* about a call we already finished */
	/* A desk's late answer to an offer that has moved on. */
	if (c && conn->kind != SIM_CONN_PBX && c->tgt != conn->tgt &&
	    (e->code == CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_STATE ||
	     e->code == CLOSELOOP__V1__ERROR_CODE__ERROR_FORBIDDEN ||
	     e->code == CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_CALL))
		race = true;
	if (race) {
		r->err_expected++;
		return;
	}
	r->err_unexpected++;
	if (c) {
		struct sim_kpi *g[4];
		size_t n = sim_run_groups(r, c, g);
		for (size_t i = 0; i < n; i++)
			g[i]->errors++;
	}
	/* The first one is the story: name it. Later ones are counted. */
	if (r->status == SIM_EXIT_OK && r->why[0] == '\0')
		snprintf(r->why, sizeof r->why, "%s: Error %s from the %s: %s%s%s", conn->name,
			 sim_error_name(code), r->label, e->text, c ? " (call " : "",
			 c ? e->call_id : "");
	r->status = SIM_EXIT_RUN;
	if (c && conn->kind == SIM_CONN_PBX && (c->st == SIM_CALL_OFFERED))
		sim_run_call_done(r, c); /* the engine never took it */
}

/* ---- engine → desks ---- */

static void desk_send_answer(struct sim_run *r, struct sim_offer *o)
{
	struct sim_tgt *t = &r->tgts[o->tgt];
	char id[64];
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	Closeloop__V1__OfferAccept a = CLOSELOOP__V1__OFFER_ACCEPT__INIT;
	Closeloop__V1__OfferDecline d = CLOSELOOP__V1__OFFER_DECLINE__INIT;

	sim_peer_call_id(r, o->call_num, id, sizeof id);
	if (o->accept) {
		a.call_id = id;
		a.reservation_id = o->reservation;
		env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_OFFER_ACCEPT;
		env.offer_accept = &a;
	} else {
		d.call_id = id;
		d.reservation_id = o->reservation;
		d.reason = "no answer";
		env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_OFFER_DECLINE;
		env.offer_decline = &d;
	}
	sim_conn_send(t->conn, &env);
	if (!o->accept) {
		uint64_t num = o->call_num;
		struct sim_call *c = NULL;
		HASH_FIND(hh, r->calls, &num, sizeof num, c);
		if (c && c->st == SIM_CALL_OFFERING && c->tgt == o->tgt)
			missed(r, c, sim_now_us());
	}
}

static void offer_unlink(struct sim_offer *o)
{
	struct sim_tgt *t = &o->run->tgts[o->tgt];
	for (struct sim_offer **p = &t->offers; *p; p = &(*p)->next) {
		if (*p == o) {
			*p = o->next;
			break;
		}
	}
}

void sim_peer_offer_free(struct sim_offer *o)
{
	if (!o)
		return;
	if (o->timer)
		event_free(o->timer);
	free(o);
}

static void offer_recycle(struct sim_offer *o)
{
	struct sim_run *r = o->run;
	offer_unlink(o);
	evtimer_del(o->timer);
	o->next = r->free_offers;
	r->free_offers = o;
}

static void on_offer_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_offer *o = arg;
	struct sim_run *r = o->run;
	(void)fd;
	(void)what;
	if (r->phase >= SIM_PH_FLUSH)
		return;
	offer_unlink(o);
	desk_send_answer(r, o);
	o->next = r->free_offers;
	r->free_offers = o;
}

static void on_offer(struct sim_conn *conn, const Closeloop__V1__Offer *m)
{
	struct sim_run *r = conn->run;
	struct sim_tgt *t = &r->tgts[conn->tgt];
	uint64_t now = sim_now_us();
	struct sim_call *c = call_find(r, m->call_id);

	if (!m->needs_accept) {
		/* Informational: the PBX gets the RouteCall. The seat is held from
		 * whichever of the two arrives first. */
		if (c && c->t_reserved == 0 && c->st != SIM_CALL_CONNECTED)
			c->t_reserved = now;
		return;
	}
	if (!c)
		return; /* the caller has gone; the engine revokes the offer */
	/* For such a target the Offer is the routing decision: the PBX hears
	 * nothing until the desk accepts. */
	first_reply(r, c, now, m->territory);
	c->st = SIM_CALL_OFFERING;
	c->tgt = conn->tgt;
	c->reservation = m->reservation_id;
	c->t_reserved = now;
	if (c->counted)
		t->k.offered++;
	struct sim_offer *o = r->free_offers;
	if (o) {
		r->free_offers = o->next;
	} else {
		if (!(o = calloc(1, sizeof *o))) {
			sim_run_fail(r, SIM_EXIT_RUN, "out of memory");
			return;
		}
		o->run = r;
		if (!(o->timer = evtimer_new(r->base, on_offer_timer, o))) {
			free(o);
			sim_run_fail(r, SIM_EXIT_RUN, "out of memory");
			return;
		}
	}
	o->tgt = conn->tgt;
	o->call_num = c->num;
	o->reservation = m->reservation_id;
	o->accept = !(t->beh.no_answer > 0 && sim_rng_uniform(&r->rng) < t->beh.no_answer);
	if (t->beh.ring_ms <= 0) {
		o->next = NULL;
		desk_send_answer(r, o);
		o->next = r->free_offers;
		r->free_offers = o;
		return;
	}
	o->next = t->offers;
	t->offers = o;
	uint64_t d = (uint64_t)(t->beh.ring_ms * 1000.0);
	struct timeval tv = {(time_t)(d / 1000000), (suseconds_t)(d % 1000000)};
	evtimer_add(o->timer, &tv);
}

static void on_revoked(struct sim_conn *conn, const Closeloop__V1__OfferRevoked *m)
{
	struct sim_run *r = conn->run;
	struct sim_tgt *t = &r->tgts[conn->tgt];
	struct sim_call *c = call_find(r, m->call_id);
	uint64_t num;

	/* The desk stops ringing, whether or not the caller is still there. */
	if (call_num(r, m->call_id, &num)) {
		for (struct sim_offer *o = t->offers; o; o = o->next) {
			if (o->call_num == num && o->reservation == m->reservation_id) {
				offer_recycle(o);
				break;
			}
		}
	}
	/* Still ours and still offering: the engine took it back (ring timeout,
	 * drain); the call waits again. */
	if (c && c->st == SIM_CALL_OFFERING && c->tgt == conn->tgt &&
	    c->reservation == m->reservation_id)
		missed(r, c, sim_now_us());
}

void sim_peer_recover_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sim_tgt *t = arg;
	struct sim_run *r = t->conn->run;
	(void)fd;
	(void)what;
	t->recover_armed = false;
	if (r->phase >= SIM_PH_FLUSH)
		return;
	Closeloop__V1__AgentSetState s = CLOSELOOP__V1__AGENT_SET_STATE__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	s.target_id = (char *)t->id;
	s.state = CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_READY;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_AGENT_SET_STATE;
	env.agent_set_state = &s;
	sim_conn_send(t->conn, &env);
}

static void on_status(struct sim_conn *conn, const Closeloop__V1__AgentStatus *m)
{
	struct sim_run *r = conn->run;
	struct sim_tgt *t = &r->tgts[conn->tgt];

	if (m->state == CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_NOT_READY && !t->recover_armed &&
	    r->phase < SIM_PH_FLUSH) {
		/* The engine paused the target (missed offers): back after a while,
		 * as a person at the desk would be. */
		r->not_ready_events++;
		uint64_t d = (uint64_t)(t->beh.recover_ms * 1000.0);
		struct timeval tv = {(time_t)(d / 1000000), (suseconds_t)(d % 1000000)};
		t->recover_armed = true;
		evtimer_add(t->recover, &tv);
	} else if (m->state == CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_LOGGED_OUT && conn->ready &&
		   r->phase < SIM_PH_FLUSH) {
		r->err_unexpected++;
		sim_run_fail(r, SIM_EXIT_RUN, "%s: logged out by the engine (%s)", conn->name,
			     m->reason);
	}
}

static void send_login(struct sim_conn *c)
{
	struct sim_run *r = c->run;
	Closeloop__V1__AgentLogin l = CLOSELOOP__V1__AGENT_LOGIN__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	l.target_id = (char *)r->tgts[c->tgt].id;
	l.ready = true;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_AGENT_LOGIN;
	env.agent_login = &l;
	c->login_seq = sim_conn_send(c, &env);
}

void sim_peer_frame(struct sim_conn *c, const wire_env *env)
{
	struct sim_run *r = c->run;

	/* Replies to the sales loop's requests (and the PBX replies it waits for). */
	if (r->sales_on && c->ready && sim_sales_reply(c, env))
		return;
	switch (env->msg_case) {
	case CLOSELOOP__V1__ENVELOPE__MSG_HELLO_OK:
		if (c->kind == SIM_CONN_PBX) {
			if (!r->engine_name[0])
				snprintf(r->engine_name, sizeof r->engine_name, "%s",
					 env->hello_ok->engine);
			sim_run_conn_ready(r, c);
		} else {
			send_login(c);
		}
		return;
	case CLOSELOOP__V1__ENVELOPE__MSG_ACK:
		if (!c->ready && c->kind != SIM_CONN_PBX && env->seq == c->login_seq) {
			r->tgts[c->tgt].t_login = sim_now_us();
			sim_run_conn_ready(r, c);
		}
		return;
	case CLOSELOOP__V1__ENVELOPE__MSG_ERROR:
		on_error(c, env->error);
		return;
	case CLOSELOOP__V1__ENVELOPE__MSG_PING: {
		Closeloop__V1__Pong p = CLOSELOOP__V1__PONG__INIT;
		wire_env out = CLOSELOOP__V1__ENVELOPE__INIT;
		p.nonce = env->ping->nonce;
		out.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_PONG;
		out.pong = &p;
		sim_conn_send(c, &out);
		return;
	}
	case CLOSELOOP__V1__ENVELOPE__MSG_PONG:
		return;
	default:
		break;
	}
	if (r->phase == SIM_PH_DONE)
		return;
	if (c->kind == SIM_CONN_PBX) {
		switch (env->msg_case) {
		case CLOSELOOP__V1__ENVELOPE__MSG_ROUTE_CALL: on_route(r, env->route_call); return;
		case CLOSELOOP__V1__ENVELOPE__MSG_QUEUE_CALL: on_queue(r, env->queue_call); return;
		case CLOSELOOP__V1__ENVELOPE__MSG_REJECT_CALL: on_reject(r, env->reject_call); return;
		default: break;
		}
	} else {
		switch (env->msg_case) {
		case CLOSELOOP__V1__ENVELOPE__MSG_OFFER: on_offer(c, env->offer); return;
		case CLOSELOOP__V1__ENVELOPE__MSG_OFFER_REVOKED:
			on_revoked(c, env->offer_revoked);
			return;
		case CLOSELOOP__V1__ENVELOPE__MSG_AGENT_STATUS: on_status(c, env->agent_status); return;
		default: break;
		}
	}
	r->err_unexpected++;
	sim_run_fail(r, SIM_EXIT_RUN, "%s: unexpected %s from the %s", c->name, wire_msg_name(env),
		     r->label);
}

void sim_peer_bare_reply(struct sim_conn *c, struct sim_call *call)
{
	struct sim_run *r = c->run;
	if (!c->ready) {
		snprintf(r->engine_name, sizeof r->engine_name, "bare_server");
		sim_run_conn_ready(r, c);
		return;
	}
	if (!call || r->phase == SIM_PH_DONE)
		return;
	/* The reply to CallOffered stands for the routing decision: the call is
	 * answered and ended at once, as in load mode against the engine. */
	uint64_t now = sim_now_us();
	call->replied = true;
	sim_hist_record(r->lat, now - call->t_offer);
	struct sim_kpi *g[4];
	size_t n = sim_run_groups(r, call, g);
	for (size_t i = 0; i < n; i++) {
		g[i]->routed++;
		g[i]->answered++;
		g[i]->answered_in_sl++;
		g[i]->wait_ms += (double)(now - call->t_offer) / 1000.0;
	}
	call->tgt = -1;
	send_call_event(r, call, CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED, 0);
	send_call_event(r, call, CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED, 0);
	sim_run_call_done(r, call);
}

