/*
 * sim_run.c — one simulator run against one server (the engine, or the bare
 * transport server): open the connections, log every desk in, offer calls,
 * stop, wait for the live calls within the grace period, and finish.
 *
 * Phases: SETUP (connect, Hello, AgentLogin; bounded by --setup-ms) → RUN
 * (scenario: Poisson arrivals, drawn ahead in simulated time and sent from
 * a timer, late ones caught up in order; load: a fixed window of calls in
 * flight, each finished call making room for the next) → DRAIN (no new
 * calls; bounded by the grace period) → FLUSH (a short pause so the last
 * frames are written and answered, and, with the sales loop, until its
 * requests have their replies, bounded) → DONE (the loop is told to exit).
 *
 * The measurement window is [start + warm-up, stop]: only calls offered in
 * it count, and busy and logged-in seat time are clipped to it, so the
 * figures describe a steady state rather than the empty start.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cfg.h"
#include "sim_internal.h"

#define SIM_FLUSH_MS 300
#define SIM_PROGRESS_MS 500
#define SIM_ARRIVAL_BATCH 10000 /* offers per timer callback before yielding */

uint64_t sim_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sim_run_tick(const struct sim_run *r, uint64_t due)
{
	uint64_t t = r->o->tick_us;

	return t ? (due + t - 1) / t * t : due;
}

static struct timeval tv_ms(double ms)
{
	if (ms < 0)
		ms = 0;
	uint64_t us = (uint64_t)(ms * 1000.0);
	struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
	return tv;
}

static void finish(struct sim_run *r);

static void snapshot(struct sim_run *r, int i)
{
	r->snap_sent[i] = r->frames_sent;
	r->snap_recv[i] = r->frames_recv;
	r->snap_events[i] = r->call_events;
	r->snap_done[i] = r->completed;
	r->snap_offered[i] = r->next_num;
}

void sim_run_fail(struct sim_run *r, int status, const char *fmt, ...)
{
	if (r->why[0] == '\0') {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->why, sizeof r->why, fmt, ap);
		va_end(ap);
	}
	if (r->status == SIM_EXIT_OK || status == SIM_EXIT_CONNECT)
		r->status = status;
	if (r->phase == SIM_PH_DONE)
		return;
	if (r->t_stop == 0) {
		r->t_stop = sim_now_us();
		snapshot(r, 1);
	}
	if (r->we == UINT64_MAX || r->we > r->t_stop)
		r->we = r->t_stop;
	r->stopped = true;
	r->t_end = sim_now_us();
	r->phase = SIM_PH_DONE;
	event_base_loopexit(r->base, NULL);
}

double sim_run_clip_ms(const struct sim_run *r, uint64_t a, uint64_t b)
{
	uint64_t lo = r->ws, hi = r->we;
	if (hi == UINT64_MAX)
		hi = sim_now_us();
	if (a < lo)
		a = lo;
	if (b > hi)
		b = hi;
	return b > a ? (double)(b - a) / 1000.0 : 0.0;
}

int sim_run_terr(struct sim_run *r, const char *name)
{
	struct sim_terr *t = NULL;
	HASH_FIND_STR(r->terrs, name, t);
	if (t)
		return t->idx;
	if (r->n_terrs == r->terr_cap) {
		size_t ncap = r->terr_cap ? r->terr_cap * 2 : 16;
		struct sim_terr **n = realloc(r->terr_list, ncap * sizeof *n);
		if (!n)
			return -1;
		r->terr_list = n;
		r->terr_cap = ncap;
	}
	if (!(t = calloc(1, sizeof *t)) || !(t->name = strdup(name))) {
		free(t);
		return -1;
	}
	t->idx = (int)r->n_terrs;
	r->terr_list[r->n_terrs++] = t;
	HASH_ADD_KEYPTR(hh, r->terrs, t->name, strlen(t->name), t);
	return t->idx;
}

size_t sim_run_groups(struct sim_run *r, const struct sim_call *c, struct sim_kpi *out[4])
{
	size_t n = 0;
	if (!c->counted)
		return 0;
	out[n++] = &r->all;
	out[n++] = &r->qk[c->queue];
	if (c->terr >= 0)
		out[n++] = &r->terr_list[c->terr]->k;
	if (r->n_batches)
		out[n++] = &r->bk[c->batch];
	return n;
}

void sim_run_add_busy(struct sim_run *r, struct sim_call *c, uint64_t a, uint64_t b)
{
	double d = sim_run_clip_ms(r, a, b);
	if (d <= 0)
		return;
	r->all.busy_ms += d;
	r->qk[c->queue].busy_ms += d;
	if (c->terr >= 0)
		r->terr_list[c->terr]->k.busy_ms += d;
	if (c->tgt >= 0)
		r->tgts[c->tgt].k.busy_ms += d;
	if (r->n_batches && r->we != UINT64_MAX) {
		double len = (double)(r->we - r->ws) / r->n_batches;
		for (unsigned i = 0; i < r->n_batches; i++) {
			uint64_t lo = r->ws + (uint64_t)(len * i), hi = r->ws + (uint64_t)(len * (i + 1));
			uint64_t x = a > lo ? a : lo, y = b < hi ? b : hi;
			if (y > x)
				r->bk[i].busy_ms += (double)(y - x) / 1000.0;
		}
	}
}

static size_t pick(struct sim_run *r, const double *cum, size_t n)
{
	double u = sim_rng_uniform(&r->rng) * cum[n - 1];
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cum[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static struct sim_call *call_alloc(struct sim_run *r)
{
	struct sim_call *c = r->free_calls;
	if (c) {
		r->free_calls = c->next_free;
		struct event *ev = c->timer;
		memset(c, 0, sizeof *c);
		c->timer = ev;
		c->run = r;
		return c;
	}
	if (!(c = calloc(1, sizeof *c)))
		return NULL;
	c->run = r;
	if (!(c->timer = evtimer_new(r->base, sim_peer_call_timer, c))) {
		free(c);
		return NULL;
	}
	return c;
}

static void stop(struct sim_run *r)
{
	if (r->stopped)
		return;
	r->stopped = true;
	r->t_stop = sim_now_us();
	snapshot(r, 1);
	if (r->we == UINT64_MAX || r->we > r->t_stop)
		r->we = r->t_stop;
	evtimer_del(r->ev_arrive);
	evtimer_del(r->ev_stop);
	r->phase = SIM_PH_DRAIN;
	if (r->live == 0) {
		finish(r);
		return;
	}
	struct timeval tv = tv_ms(r->scn->grace_ms);
	evtimer_add(r->ev_grace, &tv);
}

void sim_run_stop(struct sim_run *r)
{
	if (r->phase == SIM_PH_RUN)
		stop(r);
	else if (r->phase == SIM_PH_SETUP)
		sim_run_fail(r, SIM_EXIT_CONNECT, "interrupted during log-in");
	else if (r->phase == SIM_PH_DRAIN)
		finish(r);
}

void sim_run_offer(struct sim_run *r)
{
	const struct sim_scn *s = r->scn;
	struct sim_call *c = call_alloc(r);
	if (!c) {
		sim_run_fail(r, SIM_EXIT_RUN, "out of memory for calls");
		return;
	}
	uint64_t now = sim_now_us();
	c->num = ++r->next_num;
	c->terr = -1;
	c->tgt = -1;
	c->queue = (uint32_t)pick(r, r->queue_cum, s->n_queues);
	const struct sim_queue *q = &s->queues[c->queue];
	if (q->n_origins) {
		/* Restricted origins: weighted among the queue's list. */
		double tot = 0;
		for (size_t i = 0; i < q->n_origins; i++)
			tot += s->origins[q->origins[i]].weight;
		double u = sim_rng_uniform(&r->rng) * tot;
		size_t i = 0;
		for (; i + 1 < q->n_origins; i++) {
			u -= s->origins[q->origins[i]].weight;
			if (u < 0)
				break;
		}
		c->origin = (uint32_t)q->origins[i];
	} else {
		c->origin = (uint32_t)pick(r, r->origin_cum, s->n_origins);
	}
	c->pbx = &r->pbx[r->next_pbx];
	r->next_pbx = (r->next_pbx + 1) % r->n_pbx;
	c->counted = now >= r->ws && now < r->we;
	if (r->n_batches && c->counted) {
		double f = (double)(now - r->ws) / (double)(r->we - r->ws);
		unsigned b = (unsigned)(f * r->n_batches);
		c->batch = b < r->n_batches ? b : r->n_batches - 1;
	}
	HASH_ADD(hh, r->calls, num, sizeof c->num, c);
	r->live++;
	sim_peer_offer(r, c);
}

void sim_run_call_done(struct sim_run *r, struct sim_call *c)
{
	HASH_DEL(r->calls, c);
	evtimer_del(c->timer);
	c->next_free = r->free_calls;
	r->free_calls = c;
	r->live--;
	r->completed++;
	if (r->phase == SIM_PH_RUN && r->load) {
		if (r->scn->calls && r->next_num >= r->scn->calls)
			stop(r);
		else
			sim_run_offer(r);
		return;
	}
	if (r->phase == SIM_PH_DRAIN && r->live == 0)
		finish(r);
}

/* Next arrival after t (ms since start) under the rate profile; INFINITY when
 * the profile has ended. Piecewise-constant rates: an exponential gap that
 * crosses a rate change restarts at the change (memoryless, so exact). */
static double next_arrival(struct sim_run *r, double t)
{
	for (int guard = 0; guard < 1000000; guard++) {
		double until;
		double rate = sim_scn_rate_at(r->scn, t, &until);
		if (rate <= 0) {
			if (isinf(until))
				return INFINITY;
			t = until;
			continue;
		}
		double gap = sim_rng_exp(&r->rng, 1.0 / rate);
		if (t + gap < until)
			return t + gap;
		t = until;
	}
	return INFINITY;
}

static void on_arrive(evutil_socket_t fd, short what, void *arg)
{
	struct sim_run *r = arg;
	const struct sim_scn *s = r->scn;
	(void)fd;
	(void)what;
	if (r->phase != SIM_PH_RUN)
		return;
	double now_ms = (double)(sim_now_us() - r->t0) / 1000.0;
	for (int n = 0; n < SIM_ARRIVAL_BATCH && r->next_arrival_ms <= now_ms; n++) {
		sim_run_offer(r);
		if (r->phase != SIM_PH_RUN)
			return;
		if (s->calls && r->next_num >= s->calls) {
			stop(r);
			return;
		}
		r->next_arrival_ms = next_arrival(r, r->next_arrival_ms);
	}
	if (isinf(r->next_arrival_ms) ||
	    (s->duration_ms > 0 && r->next_arrival_ms >= s->duration_ms)) {
		if (s->duration_ms <= 0)
			stop(r); /* the profile ran out */
		return;          /* ev_stop ends the run at duration_ms */
	}
	uint64_t due = sim_run_tick(r, r->t0 + (uint64_t)(r->next_arrival_ms * 1000.0));
	struct timeval tv = tv_ms((double)((int64_t)(due - r->t0)) / 1000.0 - now_ms);
	evtimer_add(r->ev_arrive, &tv);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	stop(arg);
}

static void finalize_seats(struct sim_run *r)
{
	for (size_t i = 0; i < r->n_tgts; i++) {
		struct sim_tgt *t = &r->tgts[i];
		if (!t->t_login)
			continue;
		double s = (double)t->capacity * sim_run_clip_ms(r, t->t_login, r->we);
		t->k.seat_ms = s;
		r->all.seat_ms += s;
		for (unsigned b = 0; b < r->n_batches; b++) {
			double len = (double)(r->we - r->ws) / r->n_batches;
			uint64_t lo = r->ws + (uint64_t)(len * b), hi = r->ws + (uint64_t)(len * (b + 1));
			uint64_t x = t->t_login > lo ? t->t_login : lo;
			if (hi > x)
				r->bk[b].seat_ms += (double)t->capacity * (double)(hi - x) / 1000.0;
		}
	}
	/* A queue's or territory's occupancy is its share of all seat time. */
	for (size_t q = 0; q < r->scn->n_queues; q++)
		r->qk[q].seat_ms = r->all.seat_ms;
	for (size_t i = 0; i < r->n_terrs; i++)
		r->terr_list[i]->k.seat_ms = r->all.seat_ms;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct sim_run *r = arg;
	(void)fd;
	(void)what;
	if (sim_sales_busy(r) && sim_now_us() < r->t_flush_deadline) {
		/* The sales loop still waits for the engine's replies. */
		struct timeval tv = tv_ms(20);
		evtimer_add(r->ev_flush, &tv);
		return;
	}
	sim_sales_close(r);
	r->phase = SIM_PH_DONE;
	event_base_loopexit(r->base, NULL);
}

/* Stop everything that could act, end what is still live, then flush. */
static void finish(struct sim_run *r)
{
	if (r->phase >= SIM_PH_FLUSH)
		return;
	evtimer_del(r->ev_arrive);
	evtimer_del(r->ev_stop);
	evtimer_del(r->ev_grace);
	evtimer_del(r->ev_setup);
	r->phase = SIM_PH_FLUSH; /* before the aborts: call_done must not recurse */
	r->t_end = sim_now_us();
	if (!r->bare) {
		/* Grace ran out: end the rest on the engine, counted unfinished. */
		while (r->calls)
			sim_peer_abort_call(r, r->calls);
	}
	for (size_t i = 0; i < r->n_tgts; i++) {
		struct sim_tgt *t = &r->tgts[i];
		while (t->offers) {
			struct sim_offer *o = t->offers;
			t->offers = o->next;
			evtimer_del(o->timer);
			o->next = r->free_offers;
			r->free_offers = o;
		}
		if (t->recover)
			evtimer_del(t->recover);
	}
	sim_sales_finish(r);
	struct timeval tv = tv_ms(SIM_FLUSH_MS);
	evtimer_add(r->ev_flush, &tv);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg);
}

static void on_setup_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct sim_run *r = arg;
	(void)fd;
	(void)what;
	sim_run_fail(r, SIM_EXIT_CONNECT,
		     "%zu connection(s) to the %s not logged in after %.0f ms",
		     r->pending_setup, r->label, r->o->setup_ms);
}

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
	struct sim_run *r = arg;
	(void)fd;
	(void)what;
	if (r->phase >= SIM_PH_FLUSH)
		return;
	sim_report_progress(r, false);
	struct timeval tv = tv_ms(SIM_PROGRESS_MS);
	evtimer_add(r->ev_progress, &tv);
}

/* The engine cuts peers that send nothing for read_timeout_ms; desks only
 * listen, so every connection pings at a third of that. */
static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct sim_run *r = arg;
	(void)fd;
	(void)what;
	if (r->phase >= SIM_PH_FLUSH)
		return;
	Closeloop__V1__Ping p = CLOSELOOP__V1__PING__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_PING;
	env.ping = &p;
	for (unsigned i = 0; i < r->n_pbx; i++) {
		p.nonce = ++r->ping_nonce;
		sim_conn_send(&r->pbx[i], &env);
	}
	for (size_t i = 0; i < r->n_tgts; i++) {
		p.nonce = ++r->ping_nonce;
		sim_conn_send(&r->desks[i], &env);
	}
}

static void start_traffic(struct sim_run *r)
{
	const struct sim_scn *s = r->scn;
	evtimer_del(r->ev_setup);
	r->phase = SIM_PH_RUN;
	r->t0 = sim_now_us();
	snapshot(r, 0);
	r->ws = r->t0 + (uint64_t)(s->warmup_ms * 1000.0);
	r->we = s->duration_ms > 0 ? r->t0 + (uint64_t)(s->duration_ms * 1000.0) : UINT64_MAX;
	r->last_progress_t = r->t0;
	if (s->duration_ms > 0) {
		struct timeval tv = tv_ms(s->duration_ms);
		evtimer_add(r->ev_stop, &tv);
	}
	if (r->load) {
		for (unsigned i = 0; i < r->o->window && r->phase == SIM_PH_RUN; i++) {
			if (s->calls && r->next_num >= s->calls)
				break;
			sim_run_offer(r);
		}
		return;
	}
	r->next_arrival_ms = next_arrival(r, 0);
	if (isinf(r->next_arrival_ms)) {
		stop(r);
		return;
	}
	struct timeval tv = tv_ms(r->next_arrival_ms);
	evtimer_add(r->ev_arrive, &tv);
}

void sim_run_conn_ready(struct sim_run *r, struct sim_conn *c)
{
	if (c->ready)
		return;
	c->ready = true;
	if (r->pending_setup && --r->pending_setup == 0 && r->phase == SIM_PH_SETUP)
		start_traffic(r);
}

struct sim_run *sim_run_new(struct event_base *base, const struct cl_config *cfg,
			    const struct sim_scn *scn, const struct sim_opts *o, bool bare,
			    const char *addr, char *err, size_t errlen)
{
	struct sim_run *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->base = base;
	r->cfg = bare ? NULL : cfg;
	r->scn = scn;
	r->o = o;
	r->bare = bare;
	r->load = o->mode == SIM_MODE_LOAD;
	r->label = bare ? "bare server" : "engine";
	r->phase = SIM_PH_SETUP;
	r->we = UINT64_MAX;
	r->addrlen = (int)sizeof r->addr;
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&r->addr, &r->addrlen) < 0) {
		snprintf(err, errlen, "'%s' is not a numeric HOST:PORT", addr);
		goto fail;
	}
	r->seed = scn->seed;
	if (!r->seed) {
		/* From the clock, but printed: any run can be repeated with --seed. */
		uint64_t x = sim_now_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
		r->seed = sim_rng_splitmix(&x) % 1000000000u + 1;
	}
	sim_rng_seed(&r->rng, r->seed);
	{
		/* Call ids unique across runs on one engine: a random tag. */
		struct sim_rng tag;
		sim_rng_seed(&tag, sim_now_us() ^ ((uint64_t)getpid() << 20) ^ (uintptr_t)r);
		snprintf(r->prefix, sizeof r->prefix, "sim-%08" PRIx32 "-",
			 (uint32_t)sim_rng_next(&tag));
		r->prefix_len = strlen(r->prefix);
	}
	if (!(r->lat = sim_hist_new()))
		goto oom;
	if (!(r->qk = calloc(scn->n_queues, sizeof *r->qk)) ||
	    !(r->queue_cum = calloc(scn->n_queues, sizeof *r->queue_cum)) ||
	    !(r->origin_cum = calloc(scn->n_origins, sizeof *r->origin_cum)))
		goto oom;
	for (size_t i = 0; i < scn->n_queues; i++)
		r->queue_cum[i] = (i ? r->queue_cum[i - 1] : 0) + scn->queues[i].weight;
	for (size_t i = 0; i < scn->n_origins; i++)
		r->origin_cum[i] = (i ? r->origin_cum[i - 1] : 0) + scn->origins[i].weight;
	if (o->check_erlang && !bare) {
		r->n_batches = o->batches;
		if (!(r->bk = calloc(r->n_batches, sizeof *r->bk)))
			goto oom;
	}
	r->n_pbx = scn->pbx ? scn->pbx : 1;
	if (!(r->pbx = calloc(r->n_pbx, sizeof *r->pbx)))
		goto oom;
	if (!bare) {
		r->n_tgts = cfg->n_targets;
		if (r->n_tgts && (!(r->tgts = calloc(r->n_tgts, sizeof *r->tgts)) ||
				  !(r->desks = calloc(r->n_tgts, sizeof *r->desks))))
			goto oom;
		for (size_t i = 0; i < r->n_tgts; i++) {
			const struct cfg_target *ct = &cfg->targets[i];
			struct sim_tgt *t = &r->tgts[i];
			t->id = ct->id;
			t->kind = ct->kind;
			t->trunk = o->trunk_partners && ct->kind == CFG_KIND_PARTNER &&
				   ct->auto_ready && !ct->needs_accept;
			t->capacity = ct->capacity ? ct->capacity : 1;
			t->needs_accept = ct->needs_accept;
			t->wrapup_ms = ct->wrapup_ms;
			sim_scn_behaviour(scn, ct->id, ct->kind, ct->closure_rate, &t->beh);
			if (r->load) {
				/* Load: the engine is measured, not the people. */
				t->beh.ring_ms = 0;
				t->beh.no_answer = 0;
				t->beh.handle = (struct sim_time_dist){SIM_DIST_FIXED, 0};
			}
			if (!(t->recover = evtimer_new(base, sim_peer_recover_timer, t)))
				goto oom;
			HASH_ADD_KEYPTR(hh, r->tgt_by_id, t->id, strlen(t->id), t);
		}
	}
	if (!(r->ev_arrive = evtimer_new(base, on_arrive, r)) ||
	    !(r->ev_stop = evtimer_new(base, on_stop, r)) ||
	    !(r->ev_grace = evtimer_new(base, on_grace, r)) ||
	    !(r->ev_progress = evtimer_new(base, on_progress, r)) ||
	    !(r->ev_setup = evtimer_new(base, on_setup_timeout, r)) ||
	    !(r->ev_flush = evtimer_new(base, on_flush, r)) ||
	    !(r->ev_keepalive = event_new(base, -1, EV_PERSIST, on_keepalive, r)) ||
	    !(r->ev_write = event_new(base, -1, 0, sim_conn_write_all, r)))
		goto oom;
	if (!bare && sim_sales_init(r) < 0)
		goto oom;
	return r;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	sim_run_free(r);
	return NULL;
}

int sim_run_exec(struct sim_run *r)
{
	char name[96];
	r->t_setup = sim_now_us();
	struct timeval tv = tv_ms(r->o->setup_ms);
	evtimer_add(r->ev_setup, &tv);
	r->pending_setup = r->n_pbx;
	for (size_t i = 0; i < r->n_tgts; i++)
		r->pending_setup += !r->tgts[i].trunk;
	for (unsigned i = 0; i < r->n_pbx && r->phase == SIM_PH_SETUP; i++) {
		snprintf(name, sizeof name, "pbx-%u", i + 1);
		if (sim_conn_open(r, &r->pbx[i], SIM_CONN_PBX, -1, name) < 0)
			sim_run_fail(r, SIM_EXIT_CONNECT, "%s: cannot connect to the %s: %s", name,
				     r->label, strerror(errno));
	}
	for (size_t i = 0; i < r->n_tgts && r->phase == SIM_PH_SETUP; i++) {
		bool partner = r->tgts[i].kind == CFG_KIND_PARTNER;
		r->desks[i].run = r;
		r->tgts[i].conn = &r->desks[i];
		if (r->tgts[i].trunk) {
			r->tgts[i].t_login = r->t_setup; /* ready from the start */
			continue;
		}
		snprintf(name, sizeof name, "%s %s", partner ? "partner" : "agent", r->tgts[i].id);
		if (sim_conn_open(r, &r->desks[i], partner ? SIM_CONN_PARTNER : SIM_CONN_AGENT,
				  (int)i, name) < 0)
			sim_run_fail(r, SIM_EXIT_CONNECT, "%s: cannot connect to the %s: %s", name,
				     r->label, strerror(errno));
		r->tgts[i].conn = &r->desks[i];
	}
	if (r->o->progress) {
		struct timeval p = tv_ms(SIM_PROGRESS_MS);
		evtimer_add(r->ev_progress, &p);
	}
	if (!r->bare && r->cfg->read_timeout_ms) {
		struct timeval k = tv_ms(r->cfg->read_timeout_ms / 3.0);
		event_add(r->ev_keepalive, &k);
	}
	while (r->phase != SIM_PH_DONE) {
		if (event_base_loop(r->base, EVLOOP_ONCE) < 0) {
			sim_run_fail(r, SIM_EXIT_RUN, "event loop failed");
			break;
		}
	}
	evtimer_del(r->ev_progress);
	event_del(r->ev_keepalive);
	if (r->o->progress)
		sim_report_progress(r, true);
	if (r->t_end == 0)
		r->t_end = sim_now_us();
	if (r->t0)
		finalize_seats(r);
	return r->status;
}

void sim_run_free(struct sim_run *r)
{
	if (!r)
		return;
	sim_sales_free(r);
	r->wlist = NULL;
	for (unsigned i = 0; r->pbx && i < r->n_pbx; i++)
		sim_conn_close(&r->pbx[i]);
	for (size_t i = 0; r->desks && i < r->n_tgts; i++)
		sim_conn_close(&r->desks[i]);
	struct sim_call *c, *tmp;
	HASH_ITER(hh, r->calls, c, tmp)
	{
		HASH_DEL(r->calls, c);
		c->next_free = r->free_calls;
		r->free_calls = c;
	}
	while ((c = r->free_calls)) {
		r->free_calls = c->next_free;
		event_free(c->timer);
		free(c);
	}
	for (size_t i = 0; r->tgts && i < r->n_tgts; i++) {
		struct sim_offer *o;
		while ((o = r->tgts[i].offers)) {
			r->tgts[i].offers = o->next;
			sim_peer_offer_free(o);
		}
		if (r->tgts[i].recover)
			event_free(r->tgts[i].recover);
	}
	struct sim_offer *o;
	while ((o = r->free_offers)) {
		r->free_offers = o->next;
		sim_peer_offer_free(o);
	}
	HASH_CLEAR(hh, r->tgt_by_id);
	struct sim_terr *t, *ttmp;
	HASH_ITER(hh, r->terrs, t, ttmp)
	{
		HASH_DEL(r->terrs, t);
		free(t->name);
		free(t);
	}
	free(r->terr_list);
	struct event *evs[] = {r->ev_arrive, r->ev_stop,  r->ev_grace,    r->ev_progress,
			       r->ev_setup,  r->ev_flush, r->ev_keepalive, r->ev_write};
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i])
			event_free(evs[i]);
	sim_hist_free(r->lat);
	free(r->qk);
	free(r->bk);
	free(r->queue_cum);
	free(r->origin_cum);
	free(r->pbx);
	free(r->desks);
	free(r->tgts);
	free(r);
}
