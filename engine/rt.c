/*
 * rt.c — the router's call and target lifecycle (see rt.h for the model).
 *
 * Two invariants keep every decision a heap operation:
 * 1. A target that could take a call (READY, not paused, draining or closed
 *    by its calendar, a free seat) is listed in every one of its queues' avail heaps with current
 *    keys; target_sync() restores this after anything that changes those
 *    conditions or keys. A target that cannot may stay listed until a pick
 *    pops it (lazy deletion, rt_queue.c).
 * 2. No queue holds both a waiting call and an available member: a call
 *    entering a queue takes its best available member if there is one, and a
 *    target becoming available takes the best waiting call among its queues
 *    before it is put in any avail heap (target_refresh()).
 *
 * Calls go QUEUED -> RESERVED -> CONNECTED -> WRAPUP -> freed, or leave early
 * (abandoned, rejected, owner lost). One libevent timer per call serves as
 * the step deadline while queued, the ring deadline while reserved and the
 * wrap-up timer after the end. Hooks tell the server what to send; they are
 * called after the router's state is consistent, and the call they name stays
 * valid until the hook returns.
 */
#include "cal.h"
#include "rt_internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "terr.h"

#define RT_STR_MAX 128

struct skill_ent {
	UT_hash_handle hh;
	int idx;
	char name[];
};

static const char *const rt_errors[] = {
	[RT_OK] = "ok",
	[RT_ENOMEM] = "out of memory",
	[RT_EINVAL] = "invalid argument",
	[RT_ENOCALL] = "unknown call",
	[RT_ENOTARGET] = "unknown target",
	[RT_EEXIST] = "call id already live",
	[RT_ESTATE] = "event out of order",
	[RT_EFORBIDDEN] = "not yours",
	[RT_ELIMIT] = "limit reached",
};

const char *rt_strerror(int err)
{
	if (err < 0)
		err = -err;
	if ((size_t)err >= sizeof rt_errors / sizeof rt_errors[0])
		return "unknown error";
	return rt_errors[err];
}

/* ------------------------------------------------------------------ events */

static void emit(struct rt *rt, enum rt_event_type type, const struct rt_call *c,
		 const struct rt_target *t, enum rt_end end, enum rt_reject rej, const char *reason)
{
	if (!rt->hooks.event)
		return;
	struct rt_event ev = {
		.type = type,
		.ts_ms = rt_now_wall(rt),
		.call = c,
		.target = t,
		.end = end,
		.reject = rej,
		.reason = reason,
	};
	rt->hooks.event(rt->hook_arg, &ev);
}

static void target_changed(struct rt *rt, struct rt_target *t)
{
	t->since_wall = rt_now_wall(rt);
	emit(rt, RT_EV_TARGET_STATE, NULL, t, 0, 0, t->reason[0] ? t->reason : NULL);
	if (rt->hooks.status)
		rt->hooks.status(rt->hook_arg, t);
}

/* ----------------------------------------------------------------- targets */

#define target_available rt_target_available

/* Invariant 1: an available target is listed, with current keys. */
static void target_sync(struct rt *rt, struct rt_target *t)
{
	if (target_available(t) && rt_target_avail_insert(rt, t) < 0)
		CL_LOG_ERROR("target %s: out of memory indexing it", t->cfg->id);
}

static void reserve(struct rt *rt, struct rt_call *c, struct rt_target *t);

/* The weights the strategies read: share for weighted-share, closure rate for
 * performance-weighted, both scaled by the contract penalty. */
static void target_weights(struct rt_target *t)
{
	double share = t->cfg->share > 0 ? t->cfg->share : 1.0;
	t->weight_share = share * t->penalty;
	t->score = (t->closure > 0.001 ? t->closure : 0.001) * t->penalty;
}

/* Invariant 2: a target that can take calls first serves the waiting ones. */
static void target_refresh(struct rt *rt, struct rt_target *t)
{
	while (target_available(t)) {
		struct rt_call *c = rt_target_best_waiting(rt, t);
		if (!c)
			break;
		reserve(rt, c, t);
	}
	target_sync(rt, t);
}

static void seat_link(struct rt_target *t, struct rt_call *c)
{
	c->seat_prev = NULL;
	c->seat_next = t->seats;
	if (t->seats)
		t->seats->seat_prev = c;
	t->seats = c;
	t->active++;
}

static void seat_unlink(struct rt_target *t, struct rt_call *c)
{
	if (c->seat_prev)
		c->seat_prev->seat_next = c->seat_next;
	else
		t->seats = c->seat_next;
	if (c->seat_next)
		c->seat_next->seat_prev = c->seat_prev;
	c->seat_next = c->seat_prev = NULL;
	t->active--;
}

static void pause_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rt_target *t = arg;
	struct rt *rt = t->rt;
	(void)fd;
	(void)what;
	rt_tick(rt);
	t->paused = false;
	target_refresh(rt, t);
}

static void target_pause(struct rt *rt, struct rt_target *t)
{
	uint32_t ms = rt->cfg->miss_pause_ms;
	if (!ms)
		return;
	if (!t->pause_ev) {
		t->pause_ev = evtimer_new(rt->base, pause_cb, t);
		if (!t->pause_ev)
			return;
	}
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	t->paused = true;
	evtimer_add(t->pause_ev, &tv);
}

/* ------------------------------------------------------------------- calls */

static void arm(struct rt_call *c, uint32_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(c->tmo, &tv);
}

static void disarm(struct rt_call *c) { evtimer_del(c->tmo); }

static void call_unwait(struct rt *rt, struct rt_call *c)
{
	if (!c->n_wait)
		return;
	for (uint32_t s = 0; s <= RT_PREF; s++) {
		struct rt_wait *w = &c->w[s];
		if (w->q && rt_hnode_in_heap(&w->hn))
			rt_heap_remove(&w->q->wait, &w->hn);
	}
	c->n_wait = 0;
	rt->n_waiting--;
}

/* Join the wait heaps of the preferred target and of the plan steps reached
 * (escalation is cumulative). Slots of steps not reached have no queue. */
static int call_wait(struct rt *rt, struct rt_call *c)
{
	uint32_t n = 0;
	for (uint32_t s = 0; s <= RT_PREF; s++) {
		struct rt_wait *w = &c->w[s];
		if (!w->q || rt_hnode_in_heap(&w->hn) || w->q->wait.n >= rt->cfg->max_queue)
			continue;
		w->c = c;
		if (rt_heap_push(&w->q->wait, &w->hn, c, 100u - c->priority, c->seq) == 0)
			n++;
	}
	if (n && !c->n_wait)
		rt->n_waiting++;
	c->n_wait += n;
	return n ? 0 : -1;
}

static void call_free(struct rt *rt, struct rt_call *c)
{
	call_unwait(rt, c);
	if (c->in_table) {
		HASH_DELETE(hh, rt->calls, c);
		c->in_table = false;
		rt->n_live--;
	}
	event_del(c->tmo);
	free(c);
}

/* The seat c holds is given back; the caller refreshes the target after it
 * has finished with c. */
static struct rt_target *release_seat(struct rt_call *c)
{
	struct rt_target *t = c->target;
	if (!t)
		return NULL;
	seat_unlink(t, c);
	c->target = NULL;
	c->resv_id = 0;
	return t;
}

/* Leave for good before connecting: abandoned, rejected or owner lost. */
static void call_finish(struct rt *rt, struct rt_call *c, enum rt_end end, enum rt_reject rej,
			const char *text)
{
	struct rt_target *t = c->target;

	disarm(c);
	call_unwait(rt, c);
	c->state = RT_CALL_ENDED;
	c->ended_wall = rt_now_wall(rt);
	if (t && rt->hooks.revoke)
		rt->hooks.revoke(rt->hook_arg, c, t, end == RT_END_ABANDONED ? "abandoned" : "ended");
	if (end == RT_END_REJECTED && rt->hooks.reject)
		rt->hooks.reject(rt->hook_arg, c, rej, text);
	switch (end) {
	case RT_END_ABANDONED: rt->st.abandoned++; break;
	case RT_END_REJECTED: rt->st.rejected++; break;
	case RT_END_OWNER_LOST: rt->st.owner_lost++; break;
	default: break;
	}
	emit(rt, RT_EV_CALL_ENDED, c, t, end, rej, text);
	release_seat(c);
	call_free(rt, c);
	if (t)
		target_refresh(rt, t);
}

/* Tell the owner where the call goes (RouteCall) for the current reservation. */
static void route_now(struct rt *rt, struct rt_call *c)
{
	c->routed = true;
	if (!c->counted_routed) {
		c->counted_routed = true;
		rt->st.routed++;
	}
	if (rt->hooks.route)
		rt->hooks.route(rt->hook_arg, c);
}

static void reserve(struct rt *rt, struct rt_call *c, struct rt_target *t)
{
	call_unwait(rt, c);
	disarm(c);
	c->state = RT_CALL_RESERVED;
	c->target = t;
	c->resv_id = ++rt->resv_seq;
	c->needs_accept = t->needs_accept;
	c->accepted = false;
	c->routed = false; /* the PBX has not been told about this reservation yet */
	seat_link(t, c);
	t->offered++;
	t->last_offer_seq = ++rt->offer_seq;
	t->idle_since = rt_now_mono(rt);
	rt->st.reservations++;
	target_sync(rt, t);

	emit(rt, RT_EV_CALL_RESERVED, c, t, 0, 0, NULL);
	if (rt->hooks.offer)
		rt->hooks.offer(rt->hook_arg, c, t, c->needs_accept, rt->cfg->ring_timeout_ms);
	if (!c->needs_accept) {
		route_now(rt, c);
	}
	/* A single-seat desk learns from the Offer that it is busy; a partner
	 * with several seats is also told when the last one is taken. */
	if (t->active == t->capacity && t->capacity > 1 && rt->hooks.status)
		rt->hooks.status(rt->hook_arg, t);
	arm(c, rt->cfg->ring_timeout_ms);
}

/* Resolve the queue of a route step for c; false when the step cannot apply
 * (no territory at that scope). */
static bool step_key(const struct rt *rt, const struct rt_call *c, const struct cfg_step *st,
		     struct rt_qkey *k)
{
	memset(k, 0, sizeof *k);
	switch (st->scope) {
	case CFG_SCOPE_CALLER: k->terr = c->terr; break;
	case CFG_SCOPE_UP: k->terr = c->terr < 0 ? -1 : terr_ancestor(rt->ti, c->terr, st->up); break;
	case CFG_SCOPE_ROOT: k->terr = c->terr < 0 ? -1 : terr_root(rt->ti, c->terr); break;
	case CFG_SCOPE_NAMED: k->terr = st->territory; break;
	case CFG_SCOPE_ANY: k->terr = -1; break;
	}
	if (st->scope != CFG_SCOPE_ANY && k->terr < 0)
		return false;
	switch (st->skills) {
	case CFG_SKILLS_ALL: k->mask = c->mask; break;
	case CFG_SKILLS_FIRST: k->mask = c->first_skill < 0 ? 0 : 1ULL << c->first_skill; break;
	case CFG_SKILLS_NONE: k->mask = 0; break;
	}
	k->set = (uint8_t)st->set;
	k->min_prof = (uint8_t)(k->mask && st->min_prof > 1 ? st->min_prof : 1);
	k->strategy = (uint8_t)st->strategy;
	return true;
}

static void step_timer(struct rt *rt, struct rt_call *c)
{
	const struct cfg_step *st = &c->plan->steps[c->step];
	if (st->timeout_ms && c->step + 1 < c->plan->n_steps)
		arm(c, st->timeout_ms);
}

static uint32_t estimated_wait(const struct rt *rt, const struct rt_queue *q)
{
	uint32_t members = q->n_members ? q->n_members : 1;
	double ewt = (double)q->wait.n * rt->avg_handle_ms / members;
	return ewt > 86400000.0 ? 86400000u : (uint32_t)ewt;
}

/*
 * Move c to step `from` or the first usable step after it. Routes at once if
 * that step's queue has an available member, otherwise waits there (and in
 * every earlier step's queue). Returns 1 when c was rejected and freed.
 */
static int call_enter_step(struct rt *rt, struct rt_call *c, uint32_t from)
{
	const struct cfg_plan *p = c->plan;
	bool full = false;

	for (uint32_t s = from; s < p->n_steps; s++) {
		const struct cfg_step *st = &p->steps[s];
		if (st->action != CFG_ACTION_ROUTE) {
			c->step = s;
			call_finish(rt, c, RT_END_REJECTED,
				    st->action == CFG_ACTION_CALLBACK ? RT_REJECT_CALLBACK
								      : RT_REJECT_PLAN,
				    st->reason ? st->reason : "rejected by plan");
			return 1;
		}
		struct rt_qkey k;
		if (!step_key(rt, c, st, &k))
			continue;
		struct rt_queue *q = rt_queue_get(rt, &k);
		if (!q || q->n_members == 0)
			continue; /* nobody can ever serve it: skip */
		struct rt_target *t = rt_queue_pick(rt, q);
		if (!t && q->wait.n >= rt->cfg->max_queue) {
			full = true;
			continue;
		}
		bool was_waiting = c->n_wait > 0;
		c->w[s].q = q;
		c->step = s;
		c->in_plan = true;
		if (t) {
			reserve(rt, c, t);
			return 0;
		}
		call_wait(rt, c);
		if (!was_waiting) {
			rt->st.queued++;
			emit(rt, RT_EV_CALL_QUEUED, c, NULL, 0, 0, NULL);
			if (rt->hooks.queued)
				rt->hooks.queued(rt->hook_arg, c, q->wait.n, estimated_wait(rt, q));
		}
		step_timer(rt, c);
		return 0;
	}
	if (c->n_wait)
		return 0; /* no later step applies: keep waiting where it is */
	call_finish(rt, c, RT_END_REJECTED, full ? RT_REJECT_QUEUE_FULL : RT_REJECT_NO_ROUTE,
		    full ? "queue full" : "no target can serve this call");
	return 1;
}

/* Leave the preferred-target-only phase (or skip it): the plan's first step,
 * or NO_ROUTE when no plan matched. Returns 1 when c was freed. */
static int enter_plan(struct rt *rt, struct rt_call *c)
{
	c->in_plan = true;
	if (!c->plan) {
		call_finish(rt, c, RT_END_REJECTED, RT_REJECT_NO_ROUTE, "no routing plan matches");
		return 1;
	}
	return call_enter_step(rt, c, 0);
}

/* After a no-answer or a decline: the best available target of the steps the
 * call has reached, else wait again with its original age (at the front of
 * its priority). */
static void call_requeue(struct rt *rt, struct rt_call *c)
{
	c->state = RT_CALL_QUEUED;
	for (uint32_t i = 0; i <= c->step + 1; i++) {
		uint32_t s = i == 0 ? RT_PREF : i - 1; /* the preferred target first */
		struct rt_target *t = c->w[s].q ? rt_queue_pick(rt, c->w[s].q) : NULL;
		if (t) {
			reserve(rt, c, t);
			return;
		}
	}
	if (call_wait(rt, c) < 0) {
		call_finish(rt, c, RT_END_REJECTED, RT_REJECT_QUEUE_FULL, "queue full");
		return;
	}
	rt->st.queued++;
	emit(rt, RT_EV_CALL_QUEUED, c, NULL, 0, 0, NULL);
	struct rt_queue *q = c->in_plan ? c->w[c->step].q : c->w[RT_PREF].q;
	if (rt->hooks.queued)
		rt->hooks.queued(rt->hook_arg, c, q ? q->wait.n : c->n_wait,
				 q ? estimated_wait(rt, q) : 0);
	step_timer(rt, c);
}

static void no_answer(struct rt *rt, struct rt_call *c, const char *why, bool miss, bool declined)
{
	struct rt_target *t = c->target;

	disarm(c);
	if (!declined && rt->hooks.revoke)
		rt->hooks.revoke(rt->hook_arg, c, t, why);
	emit(rt, RT_EV_CALL_NO_ANSWER, c, t, 0, 0, why);
	rt->st.no_answers++;
	c->misses++;
	release_seat(c);
	if (miss && ++t->misses >= rt->cfg->max_misses && rt->cfg->max_misses) {
		t->state = RT_TARGET_NOT_READY;
		snprintf(t->reason, sizeof t->reason, "no-answer");
		CL_LOG_INFO("target %s: not ready after %u missed calls", t->cfg->id, t->misses);
		target_sync(rt, t);
		target_changed(rt, t);
	} else {
		target_pause(rt, t);
		target_sync(rt, t);
	}
	call_requeue(rt, c);
	target_refresh(rt, t);
}

static void wrapup_done(struct rt *rt, struct rt_call *c)
{
	struct rt_target *t = c->target;
	bool wrapped = c->state == RT_CALL_WRAPUP;

	disarm(c);
	if (t && wrapped)
		t->wrapping--;
	release_seat(c);
	c->state = RT_CALL_ENDED;
	if (wrapped)
		emit(rt, RT_EV_CALL_WRAPUP_DONE, c, t, 0, 0, NULL);
	call_free(rt, c);
	if (t) {
		t->idle_since = rt_now_mono(rt);
		t->last_end_wall = rt_now_wall(rt);
		target_refresh(rt, t);
		if (wrapped && rt->hooks.status)
			rt->hooks.status(rt->hook_arg, t);
	}
}

/* Connected call ends: the seat goes to wrap-up, then back. */
static void call_complete(struct rt *rt, struct rt_call *c, enum rt_end end)
{
	struct rt_target *t = c->target;

	disarm(c);
	c->ended_wall = rt_now_wall(rt);
	if (end == RT_END_OWNER_LOST)
		rt->st.owner_lost++;
	else
		rt->st.completed++;
	if (c->answered_wall && c->ended_wall >= c->answered_wall) {
		double h = (double)(c->ended_wall - c->answered_wall);
		rt->avg_handle_ms = rt->avg_handle_ms ? 0.95 * rt->avg_handle_ms + 0.05 * h : h;
	}
	if (c->in_table) {
		HASH_DELETE(hh, rt->calls, c);
		c->in_table = false;
		rt->n_live--;
	}
	emit(rt, RT_EV_CALL_ENDED, c, t, end, 0, NULL);
	uint32_t wrap = t ? t->wrapup_ms : 0;
	if (!wrap) {
		wrapup_done(rt, c);
		return;
	}
	c->state = RT_CALL_WRAPUP;
	t->wrapping++;
	if (rt->hooks.status)
		rt->hooks.status(rt->hook_arg, t);
	arm(c, wrap);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rt_call *c = arg;
	struct rt *rt = c->rt;
	(void)fd;
	(void)what;
	rt_tick(rt);

	switch (c->state) {
	case RT_CALL_QUEUED: {
		if (!c->in_plan) {
			/* The preferred target had its time: the plan takes over. */
			enter_plan(rt, c);
			break;
		}
		uint32_t old = c->step;
		if (call_enter_step(rt, c, old + 1) == 0 && c->step != old) {
			rt->st.escalations++;
			emit(rt, RT_EV_CALL_ESCALATED, c, c->target, 0, 0, NULL);
		}
		break;
	}
	case RT_CALL_RESERVED:
		no_answer(rt, c, "ring timeout", true, false);
		break;
	case RT_CALL_WRAPUP:
		wrapup_done(rt, c);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------- lifecycle */

/* ------------------------------------------------------------- calendars */

/* Whether calendar k (-1: none) is open now. Asked of the time-zone
 * database at most once a wall-clock minute per calendar. */
static bool cal_is_open(struct rt *rt, int k)
{
	if (k < 0 || !rt->cals)
		return true;
	struct rt_cal *s = &rt->cals[k];
	uint64_t now = rt_now_wall(rt);
	if (now >= s->until_ms || now + 60000 < s->until_ms) { /* or the clock stepped back */
		s->open = cal_open_at(&rt->cfg->calendars[k], (time_t)(now / 1000));
		s->until_ms = (now / 60000 + 1) * 60000;
	}
	return s->open;
}

static bool terr_open(struct rt *rt, int terr)
{
	return cal_is_open(rt, terr >= 0 ? rt->cfg->territories[terr].calendar : -1);
}

/* Targets with a calendar take no calls while it is closed; when it opens
 * they serve the calls waiting for them. Checked at rt_new (silently: no
 * hook runs inside rt_new), then every minute (just past the minute, when
 * the cached states expire). */
static void targets_calendars(struct rt *rt, bool notify)
{
	for (uint32_t i = 0; i < rt->n_cal_targets; i++) {
		struct rt_target *t = &rt->targets[rt->cal_targets[i]];
		bool closed = !cal_is_open(rt, t->cfg->calendar);
		if (closed == t->closed)
			continue;
		t->closed = closed;
		if (!notify)
			continue;
		target_changed(rt, t);
		if (!closed)
			target_refresh(rt, t);
	}
}

void rt_calendars_refresh(struct rt *rt)
{
	rt_tick(rt);
	for (size_t k = 0; k < rt->cfg->n_calendars && rt->cals; k++)
		rt->cals[k].until_ms = 0;
	targets_calendars(rt, true);
}

static void arm_cal(struct rt *rt)
{
	uint64_t now = rt_now_wall(rt), next = (now / 60000 + 1) * 60000 + 50;
	struct timeval tv = {(time_t)((next - now) / 1000), (suseconds_t)((next - now) % 1000) * 1000};
	evtimer_add(rt->cal_ev, &tv);
}

static void on_cal(evutil_socket_t fd, short what, void *arg)
{
	struct rt *rt = arg;
	(void)fd;
	(void)what;
	rt_tick(rt);
	targets_calendars(rt, true);
	arm_cal(rt);
}

struct rt *rt_new(struct event_base *base, const struct cl_config *cfg,
		  const struct terr_index *ti, const struct rt_hooks *hooks, void *hook_arg)
{
	struct rt *rt = calloc(1, sizeof *rt);
	if (!rt)
		return NULL;
	rt->base = base;
	rt->cfg = cfg;
	rt->ti = ti;
	if (hooks)
		rt->hooks = *hooks;
	rt->hook_arg = hook_arg;
	rt->event_size = (event_get_struct_event_size() + 15) & ~(size_t)15;
	rt_tick(rt);
	rt->rng = cfg->random_seed ? cfg->random_seed : rt_now_mono(rt) | 1;

	if (cfg->n_calendars && !(rt->cals = calloc(cfg->n_calendars, sizeof *rt->cals)))
		goto fail;
	size_t nt = cfg->n_territories;
	rt->serving = calloc(nt ? nt : 1, sizeof *rt->serving);
	rt->n_serving = calloc(nt ? nt : 1, sizeof *rt->n_serving);
	rt->children = calloc(nt ? nt : 1, sizeof *rt->children);
	rt->n_children = calloc(nt ? nt : 1, sizeof *rt->n_children);
	rt_arena_init(&rt->arena);
	rt->targets = rt_arena_alloc_aligned(
		&rt->arena, (cfg->n_targets ? cfg->n_targets : 1) * sizeof *rt->targets, 64);
	if (!rt->serving || !rt->n_serving || !rt->children || !rt->n_children || !rt->targets)
		goto fail;

	for (size_t i = 0; i < cfg->n_skills; i++) {
		size_t len = strlen(cfg->skills[i]);
		struct skill_ent *e = malloc(sizeof *e + len + 1);
		if (!e)
			goto fail;
		e->idx = (int)i;
		memcpy(e->name, cfg->skills[i], len + 1);
		HASH_ADD_KEYPTR(hh, rt->skills_by_name, e->name, len, e);
	}
	for (size_t i = 0; i < nt; i++) {
		int p = cfg->territories[i].parent;
		if (p >= 0)
			rt->n_children[p]++;
	}
	for (size_t i = 0; i < nt; i++) {
		if (rt->n_children[i] && !(rt->children[i] = malloc(rt->n_children[i] * sizeof(uint32_t))))
			goto fail;
		rt->n_children[i] = 0;
	}
	for (size_t i = 0; i < nt; i++) {
		int p = cfg->territories[i].parent;
		if (p >= 0)
			rt->children[p][rt->n_children[p]++] = (uint32_t)i;
	}

	uint64_t now = rt_now_mono(rt), wall = rt_now_wall(rt);
	rt->n_targets = (uint32_t)cfg->n_targets;
	for (uint32_t i = 0; i < rt->n_targets; i++) {
		struct rt_target *t = &rt->targets[i];
		t->cfg = &cfg->targets[i];
		t->idx = i;
		t->rt = rt;
		t->id = t->cfg->id;
		t->mem = t->mem_inline;
		t->cap_mem = 4;
		t->capacity = t->cfg->capacity ? t->cfg->capacity : 1;
		t->wrapup_ms = t->cfg->wrapup_ms;
		t->needs_accept = t->cfg->needs_accept;
		t->state = t->cfg->auto_ready ? RT_TARGET_READY : RT_TARGET_LOGGED_OUT;
		t->idle_since = now;
		t->since_wall = wall;
		t->closure = t->cfg->closure_rate;
		t->penalty = 1.0;
		target_weights(t);
		HASH_ADD_KEYPTR(hh, rt->by_id, t->cfg->id, strlen(t->cfg->id), t);
		for (size_t j = 0; j < t->cfg->n_territories; j++) {
			int terr = t->cfg->territories[j];
			uint32_t n = rt->n_serving[terr];
			uint32_t *a = realloc(rt->serving[terr], (n + 1) * sizeof *a);
			if (!a)
				goto fail;
			a[n] = i;
			rt->serving[terr] = a;
			rt->n_serving[terr] = n + 1;
		}
	}
	/* Only the targets with a calendar are read each minute. */
	for (uint32_t i = 0; i < rt->n_targets; i++) {
		if (rt->targets[i].cfg->calendar < 0)
			continue;
		if (!rt->cal_targets &&
		    !(rt->cal_targets = malloc(rt->n_targets * sizeof *rt->cal_targets)))
			goto fail;
		rt->cal_targets[rt->n_cal_targets++] = i;
	}
	if (rt->n_cal_targets) {
		if (!(rt->cal_ev = evtimer_new(base, on_cal, rt)))
			goto fail;
		targets_calendars(rt, false); /* no queue, no call yet */
		arm_cal(rt);
	}
	return rt;
fail:
	rt_free(rt);
	return NULL;
}

void rt_free(struct rt *rt)
{
	if (!rt)
		return;
	/* Calls holding seats first (wrap-up calls are only there), then the
	 * waiting ones left in the table. No hooks are called. */
	for (uint32_t i = 0; rt->targets && i < rt->n_targets; i++) {
		struct rt_target *t = &rt->targets[i];
		while (t->seats) {
			struct rt_call *s = t->seats;
			seat_unlink(t, s);
			call_free(rt, s);
		}
	}
	struct rt_call *c, *tmp;
	HASH_ITER(hh, rt->calls, c, tmp) {
		call_free(rt, c);
	}
	for (uint32_t i = 0; rt->targets && i < rt->n_targets; i++) {
		struct rt_target *t = &rt->targets[i];
		if (t->pause_ev)
			event_free(t->pause_ev);
		if (t->mem != t->mem_inline)
			free(t->mem);
	}
	HASH_CLEAR(hh, rt->by_id);
	struct skill_ent *e, *etmp;
	HASH_ITER(hh, rt->skills_by_name, e, etmp) {
		HASH_DELETE(hh, rt->skills_by_name, e);
		free(e);
	}
	rt_queues_free(rt);
	if (rt->cal_ev)
		event_free(rt->cal_ev);
	free(rt->cal_targets);
	free(rt->cals);
	size_t nt = rt->cfg->n_territories;
	for (size_t i = 0; rt->serving && i < nt; i++)
		free(rt->serving[i]);
	for (size_t i = 0; rt->children && i < nt; i++)
		free(rt->children[i]);
	free(rt->serving);
	free(rt->n_serving);
	free(rt->children);
	free(rt->n_children);
	rt_arena_deinit(&rt->arena);
	free(rt);
}

/* -------------------------------------------------------------- PBX side */

static int skill_find(const struct rt *rt, const char *name)
{
	struct skill_ent *e;
	HASH_FIND_STR(rt->skills_by_name, name, e);
	return e ? e->idx : -1;
}

static bool valid_str(const char *s, bool required)
{
	if (!s || !*s)
		return !required;
	size_t n = strnlen(s, RT_STR_MAX + 1);
	if (n > RT_STR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const struct cfg_plan *plan_match(struct rt *rt, const struct rt_call *c)
{
	for (size_t i = 0; i < rt->cfg->n_plans; i++) {
		const struct cfg_plan *p = &rt->cfg->plans[i];
		const struct cfg_match *m = &p->match;
		bool ok = true;
		if (m->n_dialed) {
			ok = false;
			for (size_t j = 0; j < m->n_dialed && !ok; j++)
				ok = has_prefix(c->dialed, m->dialed[j]);
		}
		if (ok && m->n_segments) {
			ok = false;
			for (size_t j = 0; j < m->n_segments && !ok; j++)
				ok = strcmp(c->segment, m->segments[j]) == 0;
		}
		if (ok && m->skills_any)
			ok = (c->mask & m->skills_any) != 0;
		if (ok && m->n_territories) {
			ok = false;
			for (size_t j = 0; j < m->n_territories && !ok && c->terr >= 0; j++)
				ok = terr_is_ancestor_or_self(rt->ti, m->territories[j], c->terr);
		}
		if (ok && m->open >= 0)
			ok = terr_open(rt, c->terr) == (m->open == 1);
		if (ok)
			return p;
	}
	return NULL;
}

/* One allocation: the call, its timer event, and its five strings (id,
 * caller, dialed, postal code, segment; NULL = ""). Not yet in the table. */
static struct rt_call *call_alloc(struct rt *rt, const char *const strs[5])
{
	size_t lens[5], total = 0;
	for (int i = 0; i < 5; i++) {
		lens[i] = strs[i] ? strlen(strs[i]) : 0;
		total += lens[i] + 1;
	}
	size_t ev_off = (sizeof(struct rt_call) + 15) & ~(size_t)15;
	struct rt_call *c = calloc(1, ev_off + rt->event_size + total);
	if (!c)
		return NULL;
	c->tmo = (struct event *)((char *)c + ev_off);
	char *p = (char *)c->tmo + rt->event_size;
	char **dst[5] = {&c->id, &c->caller, &c->dialed, &c->postal, &c->segment};
	for (int i = 0; i < 5; i++) {
		*dst[i] = p;
		if (lens[i])
			memcpy(p, strs[i], lens[i]);
		p[lens[i]] = '\0';
		p += lens[i] + 1;
	}
	if (event_assign(c->tmo, rt->base, -1, 0, call_timer_cb, c) < 0) {
		free(c);
		return NULL;
	}
	c->rt = rt;
	return c;
}

int rt_call_offer(struct rt *rt, const struct rt_call_req *req, void *owner, uint64_t owner_seq)
{
	rt_tick(rt);
	if (!valid_str(req->id, true) || !valid_str(req->caller, false) ||
	    !valid_str(req->dialed, false) || !valid_str(req->postal_code, false) ||
	    !valid_str(req->segment, false) || !valid_str(req->language, false) ||
	    req->n_skills > CFG_MAX_SKILLS)
		return -RT_EINVAL;

	uint64_t mask = 0;
	int first = -1;
	for (size_t i = 0; i < req->n_skills; i++) {
		int s = req->skills[i] ? skill_find(rt, req->skills[i]) : -1;
		if (s < 0)
			return -RT_EINVAL;
		if (first < 0)
			first = s;
		mask |= 1ULL << s;
	}
	if (req->language && *req->language) {
		char name[RT_STR_MAX + 8];
		snprintf(name, sizeof name, "lang-%s", req->language);
		int s = skill_find(rt, name);
		if (s >= 0)
			mask |= 1ULL << s;
	}

	struct rt_target *pref = NULL;
	if (req->preferred_target && *req->preferred_target) {
		if (!valid_str(req->preferred_target, true))
			return -RT_EINVAL;
		HASH_FIND_STR(rt->by_id, req->preferred_target, pref);
		if (!pref)
			return -RT_ENOTARGET;
	}

	struct rt_call *c;
	HASH_FIND_STR(rt->calls, req->id, c);
	if (c)
		return -RT_EEXIST;
	if (rt->n_live >= rt->cfg->max_calls)
		return -RT_ELIMIT;

	const char *strs[5] = {req->id, req->caller, req->dialed, req->postal_code, req->segment};
	if (!(c = call_alloc(rt, strs)))
		return -RT_ENOMEM;
	c->mask = mask;
	c->first_skill = first;
	c->priority = req->priority > 100 ? 100 : req->priority;
	c->owner = owner;
	c->owner_seq = owner_seq;
	c->seq = ++rt->call_seq;
	c->offered_mono = rt_now_mono(rt);
	c->offered_wall = rt_now_wall(rt);
	c->state = RT_CALL_QUEUED;
	c->terr = terr_resolve(rt->ti, c->postal, c->caller, NULL);
	c->plan = plan_match(rt, c);

	HASH_ADD_KEYPTR(hh, rt->calls, c->id, strlen(c->id), c);
	c->in_table = true;
	rt->n_live++;
	rt->st.offered++;
	emit(rt, RT_EV_CALL_OFFERED, c, NULL, 0, 0, NULL);

	if (pref) {
		/* Wait for the preferred target alone for preferred_ms, then the
		 * plan (the preferred target stays eligible: cumulative). */
		struct rt_qkey k = {.terr = (int32_t)pref->idx, .set = RT_SET_TARGET, .min_prof = 1};
		struct rt_queue *q = rt_queue_get(rt, &k);
		if (q) {
			c->w[RT_PREF].q = q;
			struct rt_target *t = rt_queue_pick(rt, q);
			if (t) {
				reserve(rt, c, t);
				return 0;
			}
			if (req->preferred_ms && call_wait(rt, c) == 0) {
				rt->st.queued++;
				emit(rt, RT_EV_CALL_QUEUED, c, NULL, 0, 0, NULL);
				if (rt->hooks.queued)
					rt->hooks.queued(rt->hook_arg, c, q->wait.n, estimated_wait(rt, q));
				arm(c, req->preferred_ms);
				return 0;
			}
		}
	}
	enter_plan(rt, c);
	return 0;
}


static int call_lookup(struct rt *rt, const char *id, void *owner, struct rt_call **out)
{
	struct rt_call *c;
	if (!valid_str(id, true))
		return -RT_EINVAL;
	HASH_FIND_STR(rt->calls, id, c);
	if (!c)
		return -RT_ENOCALL;
	if (owner && c->owner != owner)
		return -RT_EFORBIDDEN;
	*out = c;
	return 0;
}

static bool target_matches(const struct rt_call *c, const char *target_id)
{
	return !target_id || !*target_id || (c->target && strcmp(c->target->cfg->id, target_id) == 0);
}

int rt_call_answered(struct rt *rt, const char *call_id, const char *target_id, void *owner)
{
	rt_tick(rt);
	struct rt_call *c;
	int rc = call_lookup(rt, call_id, owner, &c);
	if (rc < 0)
		return rc;
	if (c->state != RT_CALL_RESERVED || !c->routed)
		return -RT_ESTATE;
	if (!target_matches(c, target_id))
		return -RT_EINVAL;
	struct rt_target *t = c->target;
	disarm(c);
	c->state = RT_CALL_CONNECTED;
	c->answered_wall = rt_now_wall(rt);
	t->misses = 0;
	t->answered++;
	target_sync(rt, t); /* fewest-calls keys changed */
	emit(rt, RT_EV_CALL_CONNECTED, c, t, 0, 0, NULL);
	return 0;
}

int rt_call_no_answer(struct rt *rt, const char *call_id, const char *target_id, void *owner)
{
	rt_tick(rt);
	struct rt_call *c;
	int rc = call_lookup(rt, call_id, owner, &c);
	if (rc < 0)
		return rc;
	if (c->state != RT_CALL_RESERVED || !c->routed)
		return -RT_ESTATE;
	if (!target_matches(c, target_id))
		return -RT_EINVAL;
	no_answer(rt, c, "no answer", true, false);
	return 0;
}

int rt_call_ended(struct rt *rt, const char *call_id, void *owner)
{
	rt_tick(rt);
	struct rt_call *c;
	int rc = call_lookup(rt, call_id, owner, &c);
	if (rc < 0)
		return rc;
	if (c->state != RT_CALL_CONNECTED)
		return -RT_ESTATE;
	call_complete(rt, c, RT_END_COMPLETED);
	return 0;
}

int rt_call_abandoned(struct rt *rt, const char *call_id, void *owner)
{
	rt_tick(rt);
	struct rt_call *c;
	int rc = call_lookup(rt, call_id, owner, &c);
	if (rc < 0)
		return rc;
	if (c->state != RT_CALL_QUEUED && c->state != RT_CALL_RESERVED)
		return -RT_ESTATE;
	call_finish(rt, c, RT_END_ABANDONED, 0, NULL);
	return 0;
}

void rt_owner_gone(struct rt *rt, void *owner)
{
	rt_tick(rt);
	struct rt_call *c, *tmp;
	if (!owner)
		return;
	HASH_ITER(hh, rt->calls, c, tmp) {
		if (c->owner != owner)
			continue;
		if (c->state == RT_CALL_CONNECTED)
			call_complete(rt, c, RT_END_OWNER_LOST);
		else
			call_finish(rt, c, RT_END_OWNER_LOST, 0, "pbx connection lost");
	}
}

uint32_t rt_reject_waiting(struct rt *rt, enum rt_reject why, const char *text)
{
	struct rt_call *c, *tmp;
	uint32_t n = 0;
	rt_tick(rt);
	HASH_ITER(hh, rt->calls, c, tmp) {
		if (c->state != RT_CALL_QUEUED)
			continue;
		call_finish(rt, c, RT_END_REJECTED, why, text);
		n++;
	}
	return n;
}

/* ----------------------------------------------------------- target side */

static int target_lookup(struct rt *rt, const char *id, struct rt_target **out)
{
	struct rt_target *t;
	if (!valid_str(id, true))
		return -RT_EINVAL;
	HASH_FIND_STR(rt->by_id, id, t);
	if (!t)
		return -RT_ENOTARGET;
	*out = t;
	return 0;
}

/* Give back every seat still only reserved (logout, drain of a session). */
static void revoke_reservations(struct rt *rt, struct rt_target *t, const char *why)
{
	struct rt_call *c = t->seats, *next;
	for (; c; c = next) {
		next = c->seat_next;
		if (c->state != RT_CALL_RESERVED)
			continue;
		disarm(c);
		if (rt->hooks.revoke)
			rt->hooks.revoke(rt->hook_arg, c, t, why);
		emit(rt, RT_EV_CALL_NO_ANSWER, c, t, 0, 0, why);
		release_seat(c);
		call_requeue(rt, c);
	}
}

int rt_target_login(struct rt *rt, const char *target_id, bool ready, void *session)
{
	rt_tick(rt);
	struct rt_target *t;
	int rc = target_lookup(rt, target_id, &t);
	if (rc < 0)
		return rc;
	t->session = session;
	enum rt_target_state want = ready ? RT_TARGET_READY : RT_TARGET_NOT_READY;
	if (t->state == RT_TARGET_LOGGED_OUT || (ready && t->state != RT_TARGET_READY)) {
		t->state = want;
		t->reason[0] = '\0';
		t->misses = 0;
		t->idle_since = rt_now_mono(rt);
	}
	target_changed(rt, t);
	target_refresh(rt, t);
	return 0;
}

int rt_target_logout(struct rt *rt, const char *target_id)
{
	rt_tick(rt);
	struct rt_target *t;
	int rc = target_lookup(rt, target_id, &t);
	if (rc < 0)
		return rc;
	if (t->state == RT_TARGET_LOGGED_OUT && !t->session)
		return 0;
	t->state = RT_TARGET_LOGGED_OUT;
	t->reason[0] = '\0';
	t->session = NULL;
	target_sync(rt, t);
	revoke_reservations(rt, t, "logged out");
	target_changed(rt, t);
	return 0;
}

int rt_target_set_ready(struct rt *rt, const char *target_id, bool ready, const char *reason)
{
	rt_tick(rt);
	struct rt_target *t;
	int rc = target_lookup(rt, target_id, &t);
	if (rc < 0)
		return rc;
	if (t->state == RT_TARGET_LOGGED_OUT)
		return -RT_ESTATE;
	if (reason && !valid_str(reason, false))
		return -RT_EINVAL;
	if (ready) {
		t->state = RT_TARGET_READY;
		t->reason[0] = '\0';
		t->misses = 0;
		/* READY ends wrap-up early. */
		struct rt_call *c = t->seats, *next;
		for (; c; c = next) {
			next = c->seat_next;
			if (c->state == RT_CALL_WRAPUP) {
				t->wrapping--;
				c->state = RT_CALL_ENDED;
				disarm(c);
				seat_unlink(t, c);
				c->target = NULL;
				emit(rt, RT_EV_CALL_WRAPUP_DONE, c, t, 0, 0, "ready");
				call_free(rt, c);
			}
		}
		t->idle_since = rt_now_mono(rt);
	} else {
		t->state = RT_TARGET_NOT_READY;
		snprintf(t->reason, sizeof t->reason, "%s", reason && *reason ? reason : "not-ready");
	}
	target_changed(rt, t);
	target_refresh(rt, t);
	return 0;
}

int rt_target_drain(struct rt *rt, const char *target_id, bool drain)
{
	rt_tick(rt);
	struct rt_target *t;
	int rc = target_lookup(rt, target_id, &t);
	if (rc < 0)
		return rc;
	if (t->draining == drain)
		return 0;
	t->draining = drain;
	target_changed(rt, t);
	target_refresh(rt, t);
	return 0;
}

void rt_session_gone(struct rt *rt, void *session)
{
	rt_tick(rt);
	if (!session)
		return;
	/* A scan, but only for sessions that were bound to a target, which the
	 * server knows; targets are few per session. */
	for (uint32_t i = 0; i < rt->n_targets; i++) {
		struct rt_target *t = &rt->targets[i];
		if (t->session != session)
			continue;
		t->session = NULL;
		/* A rep's presence is its desktop; a partner's is its SIP trunk,
		 * which works without a session. */
		if (t->cfg->kind == CFG_KIND_REP)
			rt_target_logout(rt, t->cfg->id);
		else
			revoke_reservations(rt, t, "session lost");
	}
}

static int offer_lookup(struct rt *rt, const char *call_id, uint64_t resv, const char *target_id,
			struct rt_call **out)
{
	struct rt_call *c;
	int rc = call_lookup(rt, call_id, NULL, &c);
	if (rc < 0)
		return rc;
	if (!c->target || !target_id || strcmp(c->target->cfg->id, target_id) != 0)
		return c->state == RT_CALL_RESERVED ? -RT_EFORBIDDEN : -RT_ESTATE;
	if (c->state != RT_CALL_RESERVED || (resv && resv != c->resv_id))
		return -RT_ESTATE;
	*out = c;
	return 0;
}

int rt_offer_accept(struct rt *rt, const char *call_id, uint64_t reservation_id,
		    const char *target_id)
{
	rt_tick(rt);
	struct rt_call *c;
	int rc = offer_lookup(rt, call_id, reservation_id, target_id, &c);
	if (rc < 0)
		return rc;
	if (c->accepted)
		return 0;
	c->accepted = true;
	emit(rt, RT_EV_CALL_ACCEPTED, c, c->target, 0, 0, NULL);
	if (!c->routed) {
		route_now(rt, c);
		arm(c, rt->cfg->ring_timeout_ms);
	}
	return 0;
}

int rt_offer_decline(struct rt *rt, const char *call_id, uint64_t reservation_id,
		     const char *target_id, const char *reason)
{
	rt_tick(rt);
	struct rt_call *c;
	int rc = offer_lookup(rt, call_id, reservation_id, target_id, &c);
	if (rc < 0)
		return rc;
	if (reason && !valid_str(reason, false))
		return -RT_EINVAL;
	no_answer(rt, c, reason && *reason ? reason : "declined", false, true);
	return 0;
}

/* ----------------------------------------------------------------- views */

struct rt_call *rt_call_find(const struct rt *rt, const char *call_id)
{
	struct rt_call *c = NULL;
	if (call_id)
		HASH_FIND_STR(rt->calls, call_id, c);
	return c;
}

struct rt_target *rt_target_find(const struct rt *rt, const char *target_id)
{
	struct rt_target *t = NULL;
	if (target_id)
		HASH_FIND_STR(rt->by_id, target_id, t);
	return t;
}

const char *rt_call_id(const struct rt_call *c) { return c->id; }
const char *rt_target_id(const struct rt_target *t) { return t->cfg->id; }

void rt_call_info(const struct rt *rt, const struct rt_call *c, struct rt_call_info *o)
{
	memset(o, 0, sizeof *o);
	o->id = c->id;
	o->caller = c->caller;
	o->dialed = c->dialed;
	o->postal_code = c->postal;
	o->segment = c->segment;
	o->territory = c->terr >= 0 ? rt->cfg->territories[c->terr].name : "";
	o->plan = c->plan ? c->plan->name : "";
	o->target_id = c->target ? c->target->id : NULL;
	o->target = c->target;
	o->state = c->state;
	o->step = c->step;
	o->priority = c->priority;
	o->skills = c->mask;
	o->reservation_id = c->resv_id;
	o->offered_ms = c->offered_wall;
	o->answered_ms = c->answered_wall;
	o->ended_ms = c->ended_wall;
	o->misses = c->misses;
	o->owner = c->owner;
	o->owner_seq = c->owner_seq;
	o->callback = c->callback;
	o->callback_number = c->callback ? c->callback_number : NULL;
	o->preferred_target = c->w[RT_PREF].q ? rt->targets[c->w[RT_PREF].q->key.terr].id : NULL;
	o->user = c->user;
}

void rt_call_set_user(struct rt *rt, const struct rt_call *c, void *user)
{
	(void)rt;
	/* The router owns every call; hooks only see them as const. */
	((struct rt_call *)c)->user = user;
}

void *rt_call_user(const struct rt_call *c) { return c->user; }

void rt_target_info(const struct rt *rt, const struct rt_target *t, struct rt_target_info *o)
{
	(void)rt;
	memset(o, 0, sizeof *o);
	o->id = t->cfg->id;
	o->name = t->cfg->name ? t->cfg->name : t->cfg->id;
	o->sip_uri = t->cfg->sip_uri;
	o->kind = t->cfg->kind;
	o->state = t->state;
	if (t->state == RT_TARGET_READY && t->active && t->wrapping == t->active)
		o->state = RT_TARGET_WRAP_UP;
	o->reason = t->reason;
	o->active = t->active;
	o->capacity = t->capacity;
	o->misses = t->misses;
	o->offered = t->offered;
	o->answered = t->answered;
	o->since_ms = t->since_wall;
	o->last_end_ms = t->last_end_wall;
	o->available = target_available(t);
	o->draining = t->draining;
	o->closed = t->closed;
	o->session = t->session;
	o->closure = t->closure;
	o->penalty = t->penalty;
}

void rt_stats(const struct rt *rt, struct rt_stats *out)
{
	*out = rt->st;
	out->live_calls = rt->n_live;
	out->waiting_calls = rt->n_waiting;
	out->queues = rt->n_queues;
	memset(out->targets_by_state, 0, sizeof out->targets_by_state);
	out->targets_busy = 0;
	for (uint32_t i = 0; i < rt->n_targets; i++) {
		struct rt_target_info ti;
		rt_target_info(rt, &rt->targets[i], &ti);
		out->targets_by_state[ti.state]++;
		if (ti.state == RT_TARGET_READY && ti.active >= ti.capacity)
			out->targets_busy++;
	}
}

void rt_foreach_call(const struct rt *rt, int (*fn)(void *arg, const struct rt_call *c), void *arg)
{
	const struct rt_call *c, *tmp;
	HASH_ITER(hh, rt->calls, c, tmp) {
		if (fn(arg, c))
			return;
	}
}

void rt_foreach_target(const struct rt *rt, int (*fn)(void *arg, const struct rt_target *t),
		       void *arg)
{
	for (uint32_t i = 0; i < rt->n_targets; i++)
		if (fn(arg, &rt->targets[i]))
			return;
}

void rt_foreach_queue(const struct rt *rt, int (*fn)(void *arg, const struct rt_queue_info *q),
		      void *arg)
{
	for (uint32_t i = 0; i < rt->n_queues; i++) {
		const struct rt_queue *q = rt->queues_v[i];
		struct rt_queue_info qi = {
			.name = q->name,
			.territory = q->key.terr < 0 || q->key.set == RT_SET_TARGET
					     ? "*"
					     : rt->cfg->territories[q->key.terr].name,
			.waiting = q->wait.n,
			.available = rt_queue_available(q),
			.members = q->n_members,
		};
		const struct rt_call *oldest = NULL;
		for (uint32_t j = 0; j < q->wait.n; j++) {
			const struct rt_call *c = q->wait.a[j].item;
			if (!oldest || c->seq < oldest->seq)
				oldest = c;
		}
		if (oldest) {
			qi.oldest_ms = oldest->offered_wall;
			qi.oldest_call = oldest->id;
		}
		if (fn(arg, &qi))
			return;
	}
}

int rt_call_callback(struct rt *rt, const char *call_id, const char *number, void *owner)
{
	struct rt_call *c;
	rt_tick(rt);
	int rc = call_lookup(rt, call_id, owner, &c);
	if (rc < 0)
		return rc;
	if (!valid_str(number, false) || (number && strlen(number) >= sizeof c->callback_number))
		return -RT_EINVAL;
	if (c->state != RT_CALL_QUEUED || c->callback)
		return -RT_ESTATE;
	c->callback = true;
	snprintf(c->callback_number, sizeof c->callback_number, "%s",
		 number && *number ? number : c->caller);
	emit(rt, RT_EV_CALL_CALLBACK, c, NULL, 0, 0, c->callback_number);
	return 0;
}

int rt_target_set_performance(struct rt *rt, const char *target_id, double closure, double penalty)
{
	struct rt_target *t;
	rt_tick(rt);
	int rc = target_lookup(rt, target_id, &t);
	if (rc < 0)
		return rc;
	if (!(closure >= 0 && closure <= 1) || !(penalty > 0 && penalty <= 1))
		return -RT_EINVAL;
	t->closure = closure;
	t->penalty = penalty;
	target_weights(t);
	target_sync(rt, t); /* re-key where it is listed */
	return 0;
}

/* ---------------------------------------------------------------- reload */

static uint64_t remap_mask(const struct rt *rt, const struct rt *old, uint64_t mask)
{
	uint64_t m = 0;
	for (; mask; mask &= mask - 1) {
		int s = skill_find(rt, old->cfg->skills[__builtin_ctzll(mask)]);
		if (s >= 0)
			m |= 1ULL << s;
	}
	return m;
}

/* A copy of oc in rt, re-resolved under rt's configuration; not in the table. */
static struct rt_call *adopt_call(struct rt *rt, const struct rt *old, const struct rt_call *oc)
{
	const char *strs[5] = {oc->id, oc->caller, oc->dialed, oc->postal, oc->segment};
	struct rt_call *c = call_alloc(rt, strs);
	if (!c)
		return NULL;
	c->mask = remap_mask(rt, old, oc->mask);
	c->first_skill = oc->first_skill >= 0 ? skill_find(rt, old->cfg->skills[oc->first_skill]) : -1;
	c->priority = oc->priority;
	c->owner = oc->owner;
	c->owner_seq = oc->owner_seq;
	c->seq = oc->seq;
	c->offered_mono = oc->offered_mono;
	c->offered_wall = oc->offered_wall;
	c->answered_wall = oc->answered_wall;
	c->ended_wall = oc->ended_wall;
	c->misses = oc->misses;
	c->counted_routed = oc->counted_routed;
	c->state = RT_CALL_QUEUED;
	c->terr = terr_resolve(rt->ti, c->postal, c->caller, NULL);
	c->plan = plan_match(rt, c);
	return c;
}

static void table_add(struct rt *rt, struct rt_call *c)
{
	HASH_ADD_KEYPTR(hh, rt->calls, c->id, strlen(c->id), c);
	c->in_table = true;
	rt->n_live++;
}

static int by_seq(const void *a, const void *b)
{
	const struct rt_call *x = *(const struct rt_call *const *)a;
	const struct rt_call *y = *(const struct rt_call *const *)b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

uint32_t rt_adopt(struct rt *rt, struct rt *old)
{
	uint32_t n = 0, n_wait = 0;
	struct rt_call **waiting = NULL;

	rt_tick(rt);
	rt->st = old->st;
	rt->call_seq = old->call_seq;
	rt->resv_seq = old->resv_seq;
	rt->offer_seq = old->offer_seq;
	rt->avg_handle_ms = old->avg_handle_ms;

	for (uint32_t i = 0; i < old->n_targets; i++) {
		const struct rt_target *ot = &old->targets[i];
		struct rt_target *t = rt_target_find(rt, ot->id);
		if (!t)
			continue;
		t->state = ot->state;
		memcpy(t->reason, ot->reason, sizeof t->reason);
		t->session = ot->session;
		t->misses = ot->misses;
		t->offered = ot->offered;
		t->answered = ot->answered;
		t->last_offer_seq = ot->last_offer_seq;
		t->idle_since = ot->idle_since;
		t->since_wall = ot->since_wall;
		t->last_end_wall = ot->last_end_wall;
		t->draining = ot->draining;
		t->closure = ot->closure;
		t->penalty = ot->penalty;
		target_weights(t);
	}

	/* Live calls: the old table (queued, reserved, connected) plus the
	 * wrap-up calls, which only the targets' seats know. */
	uint32_t cap = old->n_live + 1;
	for (uint32_t i = 0; i < old->n_targets; i++)
		cap += old->targets[i].wrapping;
	waiting = calloc(cap, sizeof *waiting);
	if (!waiting)
		return 0;

	for (uint32_t i = 0; i < old->n_targets; i++) {
		const struct rt_target *ot = &old->targets[i];
		struct rt_target *t = rt_target_find(rt, ot->id);
		for (const struct rt_call *oc = ot->seats; oc; oc = oc->seat_next) {
			struct rt_call *c = adopt_call(rt, old, oc);
			if (!c)
				continue;
			n++;
			switch (oc->state) {
			case RT_CALL_RESERVED:
				if (!t) { /* its target is gone: route it afresh */
					waiting[n_wait++] = c;
					break;
				}
				table_add(rt, c);
				c->state = RT_CALL_RESERVED;
				c->target = t;
				c->resv_id = oc->resv_id;
				c->needs_accept = oc->needs_accept;
				c->accepted = oc->accepted;
				c->routed = oc->routed;
				seat_link(t, c);
				arm(c, rt->cfg->ring_timeout_ms);
				break;
			case RT_CALL_CONNECTED:
				table_add(rt, c);
				c->state = RT_CALL_CONNECTED;
				if (t) {
					c->target = t;
					seat_link(t, c);
				}
				break;
			case RT_CALL_WRAPUP:
				if (!t) {
					call_free(rt, c);
					break;
				}
				c->state = RT_CALL_WRAPUP;
				c->target = t;
				seat_link(t, c);
				t->wrapping++;
				uint64_t done = c->ended_wall + t->wrapup_ms;
				arm(c, done > rt_now_wall(rt) ? (uint32_t)(done - rt_now_wall(rt)) : 0);
				break;
			default:
				call_free(rt, c);
				break;
			}
		}
	}
	const struct rt_call *oc, *tmp;
	HASH_ITER(hh, old->calls, oc, tmp) {
		if (oc->state != RT_CALL_QUEUED)
			continue;
		struct rt_call *c = adopt_call(rt, old, oc);
		if (c) {
			waiting[n_wait++] = c;
			n++;
		}
	}

	/* Waiting calls oldest first, under the new plans; they may be routed
	 * at once (hooks fire) and are not counted as offered or queued again. */
	qsort(waiting, n_wait, sizeof *waiting, by_seq);
	uint64_t queued = rt->st.queued;
	for (uint32_t i = 0; i < n_wait; i++) {
		struct rt_call *c = waiting[i];
		table_add(rt, c);
		if (!c->plan)
			call_finish(rt, c, RT_END_REJECTED, RT_REJECT_NO_ROUTE,
				    "no routing plan matches after reload");
		else
			call_enter_step(rt, c, 0);
	}
	rt->st.queued = queued;
	free(waiting);

	for (uint32_t i = 0; i < rt->n_targets; i++)
		target_refresh(rt, &rt->targets[i]);
	return n;
}
