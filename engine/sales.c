/*
 * sales.c — the sales module's object and glue (see sales.h): call records
 * built from the router's events, dispositions, erasure, the tick that runs
 * deadlines and retention, and the Redis resync of everything it publishes.
 *
 * Call records. Every router event updates the record of its call: created
 * on call.offered, filled on reservation, answer and end. An ended record is
 * appended to the ended list (ordered by end time, so expiry pops from the
 * front) and kept sales.record_retention_s, so dispositions, orders, leads
 * and QA scores can name calls that are over. An answered call also goes on
 * the watch list; still without a disposition disposition_timeout_s after its
 * end, it is flagged once (event call.undisposed, counter). Both lists make
 * the tick O(expired), never a scan. At max_records the oldest ended record
 * goes early (counted). Records are found by id in an open-addressing table
 * (sales_internal.h); router events need no lookup: the router's call
 * points at its live record (rt_call_set_user, set at the offer, cleared at
 * the end), so the per-event cost does not grow with the records kept.
 *
 * KPIs are counted from the same events, at the time of each event (see
 * sales_kpi.c); follow-up attempts, which the module itself offers, are kept
 * out of the inbound call figures (offered, answered, abandoned, handle
 * time, closure) and only count through their orders and task counters.
 *
 * Erasure removes a person's leads, call records (scrubbing the personal
 * fields of a call still live in the router) and follow-up tasks from
 * memory, and has the publisher scrub both streams; aggregates stay as they
 * are. Erasure scans all records and leads: O(records), admin-initiated.
 */
#include "sales.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "cfg.h"
#include "log.h"
#include "sales_internal.h"

#define DL_UNLINK(head, tail, x, P, N)                                                  \
	do {                                                                            \
		if ((x)->P)                                                             \
			(x)->P->N = (x)->N;                                             \
		else                                                                    \
			(head) = (x)->N;                                                \
		if ((x)->N)                                                             \
			(x)->N->P = (x)->P;                                             \
		else                                                                    \
			(tail) = (x)->P;                                                \
		(x)->P = (x)->N = NULL;                                                 \
	} while (0)

#define DL_APPEND2(head, tail, x, P, N)                                                 \
	do {                                                                            \
		(x)->N = NULL;                                                          \
		(x)->P = (tail);                                                        \
		if (tail)                                                               \
			(tail)->N = (x);                                                \
		else                                                                    \
			(head) = (x);                                                   \
		(tail) = (x);                                                           \
	} while (0)

static const char *const errnames[] = {
	"ok",	       "out of memory",	 "invalid argument", "unknown call", "forbidden",
	"bad state",   "not found",	 "conflicting id",   "limit reached",
};

const char *sales_strerror(int err)
{
	if (err < 0)
		err = -err;
	return err < (int)(sizeof errnames / sizeof errnames[0]) ? errnames[err] : "unknown error";
}

static const char *const outcome_names[SALES_OUT_COUNT] = {
	"none", "ordered", "no_order", "follow_up", "complaint", "wrong_number", "no_contact",
};

const char *sales_outcome_name(enum sales_outcome o)
{
	return (unsigned)o < SALES_OUT_COUNT ? outcome_names[o] : "?";
}

static const char *const order_state_names[SALES_ORD_COUNT] = {
	"?", "placed", "allocated", "backordered", "shipped", "delivered", "cancelled",
};

const char *sales_order_state_name(enum sales_order_state st)
{
	return (unsigned)st < SALES_ORD_COUNT ? order_state_names[st] : "?";
}

static const char *const dim_names[SALES_DIM_COUNT] = {
	"?", "all", "territory", "partner", "rep", "queue",
};

const char *sales_dim_name(enum sales_dim d)
{
	return (unsigned)d < SALES_DIM_COUNT ? dim_names[d] : "?";
}

/* ---- small helpers ---- */

static uint64_t real_now(void *arg)
{
	struct timeval tv;
	(void)arg;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

uint64_t sales_now(const struct sales *s) { return s->now_fn(s->now_arg); }

const char *sales_make_id(struct sales *s, const char *kind)
{
	snprintf(s->idbuf, sizeof s->idbuf, "%s-%" PRIu64 "-%" PRIu64, kind, s->boot_ms, ++s->seq);
	return s->idbuf;
}

char *sales_strdup0(const char *s) { return s && *s ? strdup(s) : NULL; }

/* 1..max bytes; word: no spaces or control characters; else printable text. */
bool sales_str_ok(const char *s, size_t max, bool word)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || (word && c == ' '))
			return false;
	}
	return true;
}

int sales_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -code;
}

#define EMIT_MAX 8

void sales_emit(struct sales *s, const char *type, const char *call, const char *target,
		const char *territory, const char *state, const char *reason, ...)
{
	struct pub_event ev = {
		.type = type,
		.call_id = call,
		.target_id = target,
		.territory = territory,
		.state = state,
		.reason = reason,
	};
	va_list ap;

	if (!s->pub)
		return;
	va_start(ap, reason);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		if (ev.n_extra < EMIT_MAX && v && *v)
			ev.extra[ev.n_extra++] = (struct pub_kv){k, v};
	}
	va_end(ap);
	ev.ts_ms = sales_now(s);
	int rc = pub_event(s->pub, &ev, NULL);
	if (rc < 0 && rc != -PUB_EDROP)
		CL_LOG_WARN("sales: event %s not published: %s", type, pub_strerror(rc));
}

/* ---- call records ---- */

/* FNV-1a, never 0 (0 marks an empty slot). */
static uint64_t ctab_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	h ^= h >> 29; /* the low bits pick the slot: mix the high ones in */
	return h ? h : 1;
}

static struct sales_call *ctab_find(const struct sales_ctab *t, const char *id, uint64_t h)
{
	if (!t->v)
		return NULL;
	for (size_t i = h & t->mask; t->v[i].h; i = (i + 1) & t->mask)
		if (t->v[i].h == h && strcmp(t->v[i].c->id, id) == 0)
			return t->v[i].c;
	return NULL;
}

static void ctab_place(struct sales_ctab *t, struct sales_call *c)
{
	size_t i = c->h & t->mask;

	while (t->v[i].h)
		i = (i + 1) & t->mask;
	t->v[i] = (struct sales_cslot){c->h, c};
}

/* c->h set. 0, or -1 when growing failed (c not added). */
static int ctab_add(struct sales_ctab *t, struct sales_call *c)
{
	if (!t->v || (t->n + 1) * 4 > (t->mask + 1) * 3) {
		size_t cap = t->v ? (t->mask + 1) * 2 : t->first_cap ? t->first_cap : 1024;
		struct sales_cslot *old = t->v, *nv = calloc(cap, sizeof *nv);
		size_t old_cap = t->v ? t->mask + 1 : 0;
		if (!nv)
			return -1;
		t->v = nv;
		t->mask = cap - 1;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].h)
				ctab_place(t, old[i].c);
		free(old);
	}
	ctab_place(t, c);
	t->n++;
	return 0;
}

/* Remove c (present). The entries after it in its cluster move back so
 * that every entry stays reachable from its home slot. */
static void ctab_del(struct sales_ctab *t, const struct sales_call *c)
{
	size_t i = c->h & t->mask;

	while (t->v[i].c != c)
		i = (i + 1) & t->mask;
	for (size_t j = (i + 1) & t->mask; t->v[j].h; j = (j + 1) & t->mask) {
		size_t home = t->v[j].h & t->mask;
		/* j may fill the hole at i when its home is not in (i, j]. */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->v[i] = t->v[j];
			i = j;
		}
	}
	t->v[i] = (struct sales_cslot){0, NULL};
	t->n--;
}

void sales_call_prefetch(const struct sales *s, const char *id)
{
	if (!s || !id || !s->calls.v)
		return;
	__builtin_prefetch(&s->calls.v[ctab_hash(id) & s->calls.mask]);
	/* At max_records the offer also evicts the oldest ended record: its
	 * slot too (the record itself was prefetched when it became the
	 * oldest, see call_remove). */
	const struct sales_call *old = s->ended_head;
	if (old && s->n_calls >= s->cfg->sales.max_records)
		__builtin_prefetch(&s->calls.v[old->h & s->calls.mask]);
}

/* A call's events come in runs (offered, queued, reserved in one router
 * call): the last record found is checked first. */
struct sales_call *sales_call_find(struct sales *s, const char *id)
{
	struct sales_call *c;

	if (!id)
		return NULL;
	if (s->last_call && strcmp(s->last_call->id, id) == 0)
		return s->last_call;
	if ((c = ctab_find(&s->calls, id, ctab_hash(id))))
		s->last_call = c;
	return c;
}

static void call_free(struct sales_call *c)
{
	/* id .. plan are inside c; target is borrowed from its sales_target. */
	free(c->callback);
	free(c->result_id);
	while (c->qa) {
		struct sales_qa_ent *q = c->qa;
		c->qa = q->next;
		free(q->form);
		free(q);
	}
	free(c);
}

/* The router's call rc points back at c from now on (sales_event finds c
 * without a lookup). */
static void call_attach(struct sales *s, struct sales_call *c, const struct rt_call *rc)
{
	rt_call_set_user(s->rt, rc, c);
	c->rc = rc;
	c->rc_gen = s->rt_gen;
}

/* No router call points at c any more. A call of an older router is left
 * alone: that router is gone, or about to be, with its calls. */
static void call_detach(struct sales *s, struct sales_call *c)
{
	if (c->rc && c->rc_gen == s->rt_gen && s->rt)
		rt_call_set_user(s->rt, c->rc, NULL);
	c->rc = NULL;
}

/* Unlink c from everything and free it. */
static void call_remove(struct sales *s, struct sales_call *c)
{
	call_detach(s, c);
	if (s->last_call == c)
		s->last_call = NULL;
	ctab_del(&s->calls, c);
	if (c->flags & SC_IN_ENDED) {
		DL_UNLINK(s->ended_head, s->ended_tail, c, prev, next);
		if (s->ended_head) /* the next to expire or be evicted: see sales_call_prefetch */
			__builtin_prefetch(s->ended_head);
	}
	if (c->flags & SC_IN_UNDISP)
		DL_UNLINK(s->undisp_head, s->undisp_tail, c, uprev, unext);
	s->n_calls--;
	call_free(c);
}

static int set_str(char **dst, const char *src)
{
	char *n = sales_strdup0(src);
	if (src && *src && !n)
		return -1;
	free(*dst);
	*dst = n;
	return 0;
}

/* Wipe a personal string kept inside the record, then forget it. */
static void wipe(char **p)
{
	if (*p)
		memset(*p, 0, strlen(*p));
	*p = NULL;
}

/*
 * A record and its seven fixed strings (id, caller, postal, dialed, segment,
 * territory, plan) in one allocation: one malloc and one free per call
 * instead of eight of each. "" (and NULL) is kept as NULL, except the id.
 */
static struct sales_call *call_alloc(const struct rt_call_info *ci)
{
	const char *src[7] = {ci->id,	   ci->caller,	  ci->postal_code, ci->dialed,
			      ci->segment, ci->territory, ci->plan};
	size_t len[7], total = 0;

	for (int i = 0; i < 7; i++) {
		len[i] = src[i] ? strlen(src[i]) : 0;
		total += len[i] ? len[i] + 1 : 0;
	}
	if (!len[0])
		return NULL; /* the router never has a call without an id */
	struct sales_call *c = calloc(1, sizeof *c + total);
	if (!c)
		return NULL;
	char **dst[7] = {&c->id, &c->caller, &c->postal, &c->dialed, &c->segment, &c->territory,
			 &c->plan};
	char *p = (char *)(c + 1);
	for (int i = 0; i < 7; i++) {
		if (!len[i])
			continue;
		memcpy(p, src[i], len[i] + 1);
		*dst[i] = p;
		p += len[i] + 1;
	}
	return c;
}

static struct sales_call *call_new(struct sales *s, const struct rt_call_info *ci, bool followup,
				   uint64_t ts)
{
	uint64_t h = ctab_hash(ci->id);
	struct sales_call *old = ctab_find(&s->calls, ci->id, h), *c;

	if (old) { /* an ended record with a reused id: the new call wins */
		call_remove(s, old);
		s->st.records_evicted++;
	}
	if (s->n_calls >= s->cfg->sales.max_records && s->ended_head) {
		call_remove(s, s->ended_head);
		s->st.records_evicted++;
	}
	if (!(c = call_alloc(ci)))
		return NULL;
	c->skills = ci->skills;
	c->priority = ci->priority;
	c->offered_ms = ts;
	c->flags = SC_LIVE | (followup ? SC_FOLLOWUP : 0);
	c->h = h;
	if (ctab_add(&s->calls, c) < 0)
		goto fail;
	s->n_calls++;
	s->last_call = c; /* its next events follow at once */
	return c;
fail:
	call_free(c);
	return NULL;
}

/* ---- KPI increments (sales_kpi_each callbacks) ---- */

struct kinc {
	uint64_t ms;
	bool in_sl;
};

static void k_offered(struct sales_kpi *k, void *a) { (void)a, k->offered++; }
static void k_missed(struct sales_kpi *k, void *a) { (void)a, k->missed++; }
static void k_abandoned(struct sales_kpi *k, void *a) { (void)a, k->abandoned++; }
static void k_closed(struct sales_kpi *k, void *a) { (void)a, k->closed++; }

static void k_answered(struct sales_kpi *k, void *a)
{
	const struct kinc *x = a;
	k->answered++;
	k->answer_ms_sum += x->ms;
	k->answered_in_sl += x->in_sl;
}

static void k_handled(struct sales_kpi *k, void *a)
{
	const struct kinc *x = a;
	k->handled++;
	k->handle_ms_sum += x->ms;
}

/*
 * The series (dim d[i], name) of a new record. Consecutive calls mostly share
 * territory and plan, so the series used last for each of the three call
 * dimensions is tried first (a strcmp instead of a formatted key and a hash
 * lookup). Series live as long as the module.
 */
static struct sales_series *hot_series(struct sales *s, int i, enum sales_dim d, const char *name)
{
	struct sales_series *x = s->hot[i];

	if (x && x->dim == d && strcmp(x->name, name) == 0)
		return x;
	if ((x = sales_series_get(s, d, name)))
		s->hot[i] = x;
	return x;
}

/*
 * fn on the buckets at t of c's dimensions in dims (SALES_DIMS_*), through
 * the series cached in the record: the hot path of every router event
 * (sales_kpi_each finds series by name, for the rarer requests).
 */
static void call_kpi(struct sales *s, struct sales_call *c, unsigned dims, uint64_t t,
		     void (*fn)(struct sales_kpi *k, void *arg), void *arg)
{
	static const enum sales_dim d[3] = {SALES_DIM_ALL, SALES_DIM_TERRITORY, SALES_DIM_QUEUE};
	struct sales_kpi *k;

	for (int i = 0; i < 3; i++) {
		if (!(dims & (1u << d[i])))
			continue;
		if (!c->ser[i]) {
			const char *name = i == 0 ? "all"
					   : i == 1 ? (c->territory && *c->territory ? c->territory : "none")
						    : (c->plan && *c->plan ? c->plan : "none");
			c->ser[i] = hot_series(s, i, d[i], name);
		}
		if ((k = sales_series_at(s, c->ser[i], t)))
			fn(k, arg);
	}
	if ((dims & SALES_DIMS_TARGET) && c->target) {
		enum sales_dim td = c->target_kind == CFG_KIND_PARTNER ? SALES_DIM_PARTNER
								       : SALES_DIM_REP;
		if (!(dims & (1u << td)))
			return;
		if (!c->ser[3]) {
			/* The target keeps its series: found once per target. */
			struct sales_target *st = c->tgt;
			if (st && st->ser && st->ser->dim == td)
				c->ser[3] = st->ser;
			else if ((c->ser[3] = sales_series_get(s, td, c->target)) && st)
				st->ser = c->ser[3];
		}
		if ((k = sales_series_at(s, c->ser[3], t)))
			fn(k, arg);
	}
}

/* The record's target changed (t may be NULL: none); its cached series no
 * longer applies. The id is borrowed from t, which outlives every record. */
static void call_target(struct sales_call *c, struct sales_target *t, int kind)
{
	if (!t || c->tgt != t || c->target_kind != kind)
		c->ser[3] = NULL;
	c->tgt = t;
	c->target = t ? t->id : NULL;
	c->target_kind = t ? kind : 0;
}

void sales_call_closed(struct sales *s, struct sales_call *c, uint64_t now)
{
	if (c->flags & SC_CLOSED)
		return;
	c->flags |= SC_CLOSED;
	if (c->flags & SC_FOLLOWUP)
		return;
	call_kpi(s, c, SALES_DIMS_EVERY, now, k_closed, NULL);
	if (c->win_seq)
		sales_win_closed_t(s, c->tgt, c->win_seq);
}

/* ---- router events ---- */

static void on_offered(struct sales *s, const struct rt_event *ev, const struct rt_call_info *ci)
{
	bool fu = ci->owner && cl_owner_kind(ci->owner) == CL_OWNER_SALES;
	struct sales_call *c = call_new(s, ci, fu, ev->ts_ms);

	if (!c) {
		CL_LOG_ERROR("sales: call %s: out of memory for its record", ci->id);
		return;
	}
	call_attach(s, c, ev->call);
	s->st.records = s->n_calls;
	if (!fu)
		call_kpi(s, c, SALES_DIMS_CALL, ev->ts_ms, k_offered, NULL);
}

static void on_ended(struct sales *s, struct sales_call *c, const struct rt_event *ev)
{
	bool fu = c->flags & SC_FOLLOWUP;

	c->flags &= ~(uint32_t)SC_LIVE;
	call_detach(s, c); /* the router frees its call after this event */
	c->ended_ms = ev->ts_ms;
	c->end = ev->end;
	if (!fu && ev->end == RT_END_ABANDONED) {
		/* Abandoned while ringing counts against the target too. */
		bool t = ev->target && c->target;
		call_kpi(s, c, SALES_DIMS_CALL | (t ? SALES_DIMS_TARGET : 0u), ev->ts_ms, k_abandoned,
			 NULL);
		if (t)
			sales_win_add_t(s, c->tgt, ev->ts_ms, false, 0);
	}
	if (!fu && (c->flags & SC_ANSWERED)) {
		struct kinc x = {.ms = c->ended_ms > c->answered_ms ? c->ended_ms - c->answered_ms : 0};
		call_kpi(s, c, SALES_DIMS_EVERY, ev->ts_ms, k_handled, &x);
	}
	if (!(c->flags & SC_ANSWERED) && !(c->flags & SC_CLOSED))
		call_target(c, NULL, 0); /* never connected: nobody owns it any more */
	DL_APPEND2(s->ended_head, s->ended_tail, c, prev, next);
	c->flags |= SC_IN_ENDED;
	if ((c->flags & SC_ANSWERED) && c->outcome == SALES_OUT_NONE && !fu &&
	    s->cfg->sales.disposition_timeout_s) {
		DL_APPEND2(s->undisp_head, s->undisp_tail, c, uprev, unext);
		c->flags |= SC_IN_UNDISP;
	}
}

/*
 * The live record of an event's call. The router's call points at it
 * (call_attach at the offer): no lookup. A call without the pointer (carried
 * over from the router before a reload) is looked up by id once and
 * attached. NULL when there is no live record.
 */
static struct sales_call *event_call(struct sales *s, const struct rt_call *rc)
{
	struct sales_call *c = rt_call_user(rc);

	if (c)
		return c; /* attached records are live: detached at their end */
	if (!(c = sales_call_find(s, rt_call_id(rc))) || !(c->flags & SC_LIVE))
		return NULL;
	call_attach(s, c, rc);
	return c;
}

void sales_event(struct sales *s, const struct rt_event *ev)
{
	struct sales_call *c;

	if (!s || !ev->call || !s->rt)
		return;
	if (ev->type == RT_EV_CALL_OFFERED) {
		struct rt_call_info ci;
		rt_call_info(s->rt, ev->call, &ci);
		on_offered(s, ev, &ci);
		return;
	}
	/* Wrap-up ends after CALL_ENDED, which closed the record: nothing to do. */
	if (ev->type == RT_EV_CALL_WRAPUP_DONE || !(c = event_call(s, ev->call)))
		return;
	bool fu = c->flags & SC_FOLLOWUP;
	switch (ev->type) {
	case RT_EV_CALL_RESERVED:
		if (ev->target) {
			struct rt_target_info ti;
			rt_target_info(s->rt, ev->target, &ti);
			call_target(c, sales_target_get(s, ti.id, ti.kind), ti.kind);
			c->reserved_ms = ev->ts_ms;
			if (!fu)
				call_kpi(s, c, SALES_DIMS_TARGET, ev->ts_ms, k_offered, NULL);
		}
		break;
	case RT_EV_CALL_NO_ANSWER:
		if (!fu && c->target)
			call_kpi(s, c, SALES_DIMS_TARGET, ev->ts_ms, k_missed, NULL);
		call_target(c, NULL, 0);
		break;
	case RT_EV_CALL_CONNECTED: {
		if (ev->target) {
			struct rt_target_info ti;
			rt_target_info(s->rt, ev->target, &ti);
			struct sales_target *st = c->tgt && strcmp(c->tgt->id, ti.id) == 0
							  ? c->tgt
							  : sales_target_get(s, ti.id, ti.kind);
			call_target(c, st, ti.kind);
		}
		c->flags |= SC_ANSWERED;
		c->answered_ms = ev->ts_ms;
		if (!fu && c->target) {
			uint64_t wait = c->answered_ms > c->offered_ms ? c->answered_ms - c->offered_ms : 0;
			struct kinc x = {.ms = wait, .in_sl = wait <= s->cfg->sales.service_level_ms};
			call_kpi(s, c, SALES_DIMS_EVERY, ev->ts_ms, k_answered, &x);
			uint64_t ring = c->answered_ms > c->reserved_ms ? c->answered_ms - c->reserved_ms : 0;
			c->win_seq = sales_win_add_t(s, c->tgt, ev->ts_ms, true,
						     ring > UINT32_MAX ? UINT32_MAX : (uint32_t)ring);
			if (c->flags & SC_CLOSED) /* an order came before the answer event */
				sales_win_closed_t(s, c->tgt, c->win_seq);
		}
		break;
	}
	case RT_EV_CALL_CALLBACK:
		if (ev->reason)
			set_str(&c->callback, ev->reason);
		break;
	case RT_EV_CALL_ENDED:
		on_ended(s, c, ev);
		break;
	default:
		break;
	}
	if (fu)
		sales_task_event(s, c, ev);
}

/* ---- requests: dispositions ---- */

int sales_own_call(struct sales *s, const struct sales_actor *a, const char *call_id,
		   const char *what, struct sales_call **out, char *err, size_t errlen)
{
	struct sales_call *c;

	if (!call_id || !*call_id)
		return sales_fail(err, errlen, SALES_EINVAL, "%s: call_id is required", what);
	if (!(c = sales_call_find(s, call_id)))
		return sales_fail(err, errlen, SALES_ENOCALL,
				  "%s: no record of this call (unknown, or ended more than %" PRIu32
				  " s ago)",
				  what, s->cfg->sales.record_retention_s);
	if (!(c->flags & SC_ANSWERED) || !c->target)
		return sales_fail(err, errlen, SALES_ESTATE, "%s: the call was never answered", what);
	if (a && a->target && strcmp(a->target, c->target) != 0)
		return sales_fail(err, errlen, SALES_EFORBIDDEN,
				  "%s: the call was answered by another target", what);
	*out = c;
	return 0;
}

int sales_dispose(struct sales *s, const struct sales_actor *a, const struct sales_disposition *d,
		  struct sales_disposition_result *out, char *err, size_t errlen)
{
	struct sales_call *c;
	const char *id = NULL;
	uint64_t now = sales_now(s);
	uint64_t due = d->due_ms;
	int rc;

	memset(out, 0, sizeof *out);
	if (d->outcome <= SALES_OUT_NONE || d->outcome >= SALES_OUT_COUNT)
		return sales_fail(err, errlen, SALES_EINVAL, "disposition: outcome is missing or unknown");
	if ((rc = sales_own_call(s, a, d->call_id, "disposition", &c, err, errlen)) < 0)
		return rc;
	bool fu = c->flags & SC_FOLLOWUP;
	if (d->outcome == SALES_OUT_NO_CONTACT && !fu)
		return sales_fail(err, errlen, SALES_EINVAL,
				  "disposition: no_contact is only for follow-up calls");
	if (d->outcome == SALES_OUT_COMPLAINT &&
	    (!d->category || !sales_str_ok(d->category, 64, true)))
		return sales_fail(err, errlen, SALES_EINVAL,
				  "disposition: a complaint needs complaint_category (1..64 "
				  "characters, no spaces)");
	if (d->outcome == SALES_OUT_FOLLOW_UP) {
		if (!due)
			due = now + s->cfg->sales.followup.delay_ms;
		if (due + 60000u < now)
			return sales_fail(err, errlen, SALES_EINVAL,
					  "disposition: followup_due_ms is in the past");
		if (due > now + 366ull * 86400000u)
			return sales_fail(err, errlen, SALES_EINVAL,
					  "disposition: followup_due_ms is more than a year ahead");
		if (!c->caller)
			return sales_fail(err, errlen, SALES_EINVAL,
					  "disposition: the call has no caller number to call back");
	}
	if (c->outcome != SALES_OUT_NONE) {
		if (c->outcome == d->outcome) { /* a repeat: same answer */
			if (c->outcome == SALES_OUT_FOLLOW_UP)
				out->task_id = c->result_id;
			else if (c->outcome == SALES_OUT_COMPLAINT)
				out->complaint_id = c->result_id;
			return 0;
		}
		return sales_fail(err, errlen, SALES_ESTATE, "disposition: the call is already "
							     "disposed as %s",
				  sales_outcome_name(c->outcome));
	}
	if (c->n_orders && (d->outcome == SALES_OUT_NO_ORDER || d->outcome == SALES_OUT_WRONG_NUMBER ||
			    d->outcome == SALES_OUT_NO_CONTACT))
		return sales_fail(err, errlen, SALES_ESTATE,
				  "disposition: the call has %" PRIu32 " orders; %s does not fit",
				  c->n_orders, sales_outcome_name(d->outcome));
	if (d->outcome == SALES_OUT_FOLLOW_UP && !fu) {
		if ((rc = sales_task_create(s, c, due, &id, err, errlen)) < 0)
			return rc;
		out->task_id = id;
	} else if (d->outcome == SALES_OUT_FOLLOW_UP) {
		out->task_id = sales_task_id_of_call(s, c->id); /* rescheduled below */
	}
	if (d->outcome == SALES_OUT_COMPLAINT) {
		if ((rc = sales_complaint_open(s, c, d->category, &id, err, errlen)) < 0)
			return rc; /* a follow-up cannot have been made for a complaint */
		out->complaint_id = id;
	}
	if (id && !(c->result_id = strdup(id)))
		CL_LOG_WARN("sales: call %s: out of memory keeping %s", c->id, id);
	c->outcome = d->outcome;
	s->st.dispositions++;
	if (c->flags & SC_IN_UNDISP) {
		DL_UNLINK(s->undisp_head, s->undisp_tail, c, uprev, unext);
		c->flags &= ~(uint32_t)SC_IN_UNDISP;
	}
	if (d->outcome == SALES_OUT_ORDERED)
		sales_call_closed(s, c, now);
	char due_s[24] = "";
	if (d->outcome == SALES_OUT_FOLLOW_UP)
		snprintf(due_s, sizeof due_s, "%" PRIu64, due);
	sales_emit(s, "call.disposition", c->id, c->target, c->territory,
		   sales_outcome_name(d->outcome), NULL, "plan", c->plan, "category",
		   d->outcome == SALES_OUT_COMPLAINT ? d->category : NULL, "due_ms", due_s, "task",
		   out->task_id, "complaint", out->complaint_id, "followup", fu ? "1" : NULL, NULL);
	if (fu) /* may end the attempt's router call: c stays (ended list) */
		sales_task_result(s, c, d->outcome, due);
	return 0;
}

/* ---- QA ---- */

static void k_qa(struct sales_kpi *k, void *a)
{
	k->qa_count++;
	k->qa_sum += *(const double *)a;
}

int sales_qa(struct sales *s, const struct sales_actor *a, const char *call_id, double score,
	     const char *form_id, const char *reviewer, char *err, size_t errlen)
{
	struct sales_call *c;
	int rc;

	if (!(score >= 0.0 && score <= 5.0)) /* NaN fails too */
		return sales_fail(err, errlen, SALES_EINVAL, "qa_score: score must be 0..5");
	if (!form_id || !sales_str_ok(form_id, 64, true))
		return sales_fail(err, errlen, SALES_EINVAL,
				  "qa_score: form_id is required (1..64 characters, no spaces)");
	if (reviewer && *reviewer && !sales_str_ok(reviewer, 128, false))
		return sales_fail(err, errlen, SALES_EINVAL, "qa_score: reviewer is too long or "
							     "has control characters");
	if ((rc = sales_own_call(s, a, call_id, "qa_score", &c, err, errlen)) < 0)
		return rc;
	/* One score per call and form: a repeat is acknowledged, another
	 * score for the same form is refused (a correction is a new form id). */
	for (struct sales_qa_ent *q = c->qa; q; q = q->next) {
		if (strcmp(q->form, form_id) != 0)
			continue;
		if (q->score == score)
			return 0;
		return sales_fail(err, errlen, SALES_EEXIST,
				  "qa_score: the call already has a score %.2f for form %s", q->score,
				  form_id);
	}
	struct sales_qa_ent *q = malloc(sizeof *q);
	if (!q || !(q->form = strdup(form_id))) {
		free(q);
		return sales_fail(err, errlen, SALES_ENOMEM, "qa_score: out of memory");
	}
	q->score = score;
	q->next = c->qa;
	c->qa = q;
	uint64_t now = sales_now(s);
	call_kpi(s, c, SALES_DIMS_EVERY, now, k_qa, &score);
	sales_win_score(s, c->target, c->target_kind, now, score);
	s->st.qa_scores++;
	char sc[32];
	snprintf(sc, sizeof sc, "%.2f", score);
	sales_emit(s, "qa.scored", c->id, c->target, c->territory, NULL, NULL, "score", sc, "form",
		   form_id, "reviewer", reviewer, NULL);
	return 0;
}

/* ---- drain ---- */

int sales_drain(struct sales *s, const struct sales_actor *a, const char *target_id, bool drain,
		const char *reason, char *err, size_t errlen)
{
	(void)a;
	if (!target_id || !*target_id)
		return sales_fail(err, errlen, SALES_EINVAL, "partner_drain: target_id is required");
	if (reason && *reason && !sales_str_ok(reason, 256, false))
		return sales_fail(err, errlen, SALES_EINVAL,
				  "partner_drain: reason is too long or has control characters");
	struct rt_target *t = s->rt ? rt_target_find(s->rt, target_id) : NULL;
	if (!t)
		return sales_fail(err, errlen, SALES_ENOENT, "partner_drain: no target %s", target_id);
	struct rt_target_info ti;
	rt_target_info(s->rt, t, &ti);
	int rc = rt_target_drain(s->rt, target_id, drain);
	if (rc < 0)
		return sales_fail(err, errlen, SALES_ESTATE, "partner_drain: %s", rt_strerror(rc));
	struct sales_target *st = sales_target_get(s, ti.id, ti.kind);
	if (st)
		sales_target_dirty(s, st); /* its contract view shows the drain */
	CL_LOG_INFO("sales: target %s %s%s%s", ti.id, drain ? "drained" : "back in routing",
		    reason && *reason ? ": " : "", reason && *reason ? reason : "");
	sales_emit(s, "target.drain", NULL, ti.id, NULL, drain ? "draining" : "routing", reason,
		   "by", a && a->who ? a->who : NULL, NULL);
	return 0;
}

/* ---- erasure ---- */

/* Jobs finish in the order they were asked for: the oldest pending id is
 * the one that finished. */
static void on_erased(void *arg, const struct pub_erase_result *r)
{
	struct sales *s = arg;
	struct sales_erasing *x = s->erasing_head;
	char ev[24], ld[24];

	if (!x)
		return;
	s->erasing_head = x->next;
	if (!s->erasing_head)
		s->erasing_tail = NULL;

	snprintf(ev, sizeof ev, "%" PRIu64, r->events_removed);
	snprintf(ld, sizeof ld, "%" PRIu64, r->leads_removed);
	s->st.erasures_done++;
	CL_LOG_INFO("sales: erasure %s finished in Redis (%s event and %s lead entries removed)",
		    x->id, ev, ld);
	sales_emit(s, "erasure.done", NULL, NULL, NULL, "done", NULL, "erasure", x->id,
		   "events_removed", ev, "leads_removed", ld, NULL);
	free(x);
}

int sales_erase(struct sales *s, const struct sales_actor *a, const char *phone,
		const char *email, const char *reference, struct sales_erase_result *out,
		char *err, size_t errlen)
{
	char ph[24] = "", em[256] = "";
	struct sales_person who = {0};
	struct sales_erasing *x = NULL;

	memset(out, 0, sizeof *out);
	if ((!phone || !*phone) && (!email || !*email))
		return sales_fail(err, errlen, SALES_EINVAL, "erasure: phone or email is required");
	if (phone && *phone && sales_phone_norm(phone, ph, sizeof ph) < 0)
		return sales_fail(err, errlen, SALES_EINVAL,
				  "erasure: phone is not an E.164 number (+ and 6 to 15 digits)");
	if (email && *email && sales_email_norm(email, em, sizeof em) < 0)
		return sales_fail(err, errlen, SALES_EINVAL, "erasure: email is not an address");
	if (reference && *reference && !sales_str_ok(reference, 128, false))
		return sales_fail(err, errlen, SALES_EINVAL,
				  "erasure: reference is too long or has control characters");
	if ((s->pub && !(x = calloc(1, sizeof *x))) || sales_person_add(&who, 0, ph) < 0 ||
	    sales_person_add(&who, 1, em) < 0) {
		free(x);
		sales_person_free(&who);
		return sales_fail(err, errlen, SALES_ENOMEM, "erasure: out of memory");
	}

	/* Leads first: they tie an email to a number and to calls. */
	out->leads = sales_leads_erase(s, &who);
	/* Tasks before records: ending an attempt's router call updates its record. */
	out->followups = sales_tasks_erase(s, &who);
	/* Two passes: removing moves entries of the table, so the first one
	 * only marks. */
	struct sales_ctab *tab = &s->calls;
	for (size_t i = 0; tab->v && i <= tab->mask; i++) {
		struct sales_call *c = tab->v[i].c;
		if (!c || !(sales_person_has(who.phones, who.n_phones, c->caller) ||
			    sales_person_has(who.phones, who.n_phones, c->callback) ||
			    sales_person_has(who.calls, who.n_calls, c->id)))
			continue;
		out->calls++;
		if (c->flags & SC_LIVE) {
			/* The router still has the call: keep the record for its
			 * figures, without the personal fields. */
			wipe(&c->caller);
			wipe(&c->postal);
			free(c->callback);
			c->callback = NULL;
		} else {
			c->flags |= SC_ERASE;
		}
	}
	for (size_t i = 0; out->calls && tab->v && i <= tab->mask;) {
		struct sales_call *c = tab->v[i].c;
		if (c && (c->flags & SC_ERASE))
			call_remove(s, c); /* slot i may now hold a later entry: look again */
		else
			i++;
	}
	s->st.records = s->n_calls;

	const char *eid = sales_make_id(s, "erasure");
	out->erasure_id = eid;
	s->st.erasures++;
	char nl[16], nc[16], nf[16];
	snprintf(nl, sizeof nl, "%" PRIu32, out->leads);
	snprintf(nc, sizeof nc, "%" PRIu32, out->calls);
	snprintf(nf, sizeof nf, "%" PRIu32, out->followups);
	/* The request is recorded without the data it erases. */
	sales_emit(s, "erasure.requested", NULL, NULL, NULL, "requested", NULL, "erasure", eid,
		   "reference", reference, "leads", nl, "calls", nc, "followups", nf, "by",
		   a && a->who ? a->who : NULL, NULL);
	CL_LOG_INFO("sales: erasure %s (reference %s): %u leads, %u call records, %u follow-ups "
		    "removed from memory",
		    eid, reference && *reference ? reference : "-", out->leads, out->calls,
		    out->followups);
	if (x) {
		const char *vals[8];
		size_t nv = 0;
		for (size_t i = 0; i < who.n_phones && nv < 8; i++)
			vals[nv++] = who.phones[i];
		for (size_t i = 0; i < who.n_emails && nv < 8; i++)
			vals[nv++] = who.emails[i];
		if (who.n_phones + who.n_emails > nv)
			CL_LOG_WARN("sales: erasure %s: %zu numbers and addresses, Redis is scrubbed "
				    "of the first 8",
				    eid, who.n_phones + who.n_emails);
		snprintf(x->id, sizeof x->id, "%s", eid);
		int rc = pub_erase(s->pub, vals, nv, on_erased, s);
		if (rc < 0) {
			free(x);
			CL_LOG_ERROR("sales: erasure %s: Redis scrub not started: %s", eid,
				     pub_strerror(rc));
		} else {
			if (s->erasing_tail)
				s->erasing_tail->next = x;
			else
				s->erasing_head = x;
			s->erasing_tail = x;
			out->redis_pending = true;
		}
	}
	sales_person_free(&who);
	return 0;
}

/* ---- the tick ---- */

void sales_tick(struct sales *s)
{
	uint64_t now = sales_now(s);
	const struct cfg_sales *cs = &s->cfg->sales;
	uint64_t keep = (uint64_t)cs->record_retention_s * 1000u;

	while (s->ended_head && s->ended_head->ended_ms + keep <= now) {
		call_remove(s, s->ended_head);
		s->st.records_expired++;
	}
	s->st.records = s->n_calls;
	uint64_t grace = (uint64_t)cs->disposition_timeout_s * 1000u;
	while (s->undisp_head && (grace == 0 || s->undisp_head->ended_ms + grace <= now)) {
		struct sales_call *c = s->undisp_head;
		DL_UNLINK(s->undisp_head, s->undisp_tail, c, uprev, unext);
		c->flags &= ~(uint32_t)SC_IN_UNDISP;
		if (grace == 0)
			continue; /* the check was switched off by a reload */
		c->flags |= SC_FLAGGED;
		s->st.undisposed++;
		CL_LOG_INFO("sales: call %s (target %s): no disposition %" PRIu32 " s after its end",
			    c->id, c->target ? c->target : "-", cs->disposition_timeout_s);
		sales_emit(s, "call.undisposed", c->id, c->target, c->territory, "undisposed", NULL,
			   "plan", c->plan, NULL);
	}
	sales_tasks_tick(s, now);
	sales_complaints_tick(s, now);
	sales_orders_expire(s, now);
	sales_leads_expire(s, now);
	sales_contracts_eval(s, now);
	if (s->kpi_more || now >= s->last_flush_ms + 500u || now < s->last_flush_ms) {
		/* A flush's series go SALES_KPI_PUB_TICK per tick. */
		if (!s->kpi_more)
			s->last_flush_ms = now;
		s->kpi_more = sales_kpi_flush(s, now, false);
		if (s->backlog_dirty)
			sales_orders_publish(s, false);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sales_tick(arg);
}

/* ---- Redis ---- */

static void on_resync(void *arg, struct pub *p)
{
	struct sales *s = arg;
	(void)p;
	sales_kpi_flush(s, sales_now(s), true);
	sales_orders_publish(s, true);
	sales_tasks_publish(s);
	sales_complaints_publish(s);
}

void sales_set_pub(struct sales *s, struct pub *p)
{
	if (!s || s->pub == p)
		return;
	if (s->pub) {
		pub_remove_resync(s->pub, s);
		pub_erase_cancel(s->pub, s);
	}
	while (s->erasing_head) {
		struct sales_erasing *x = s->erasing_head;
		s->erasing_head = x->next;
		CL_LOG_WARN("sales: erasure %s: Redis scrub abandoned (publisher detached)", x->id);
		free(x);
	}
	s->erasing_tail = NULL;
	s->pub = p;
	s->ix_followups = s->ix_complaints = s->ix_orders = -1;
	if (!p)
		return;
	s->ix_followups = pub_index_add(p, "followups", "followup:");
	s->ix_complaints = pub_index_add(p, "complaints", "complaint:");
	s->ix_orders = pub_index_add(p, "orders", "order:");
	if (s->ix_followups < 0 || s->ix_complaints < 0 || s->ix_orders < 0 ||
	    pub_add_resync(p, on_resync, s) < 0) {
		CL_LOG_ERROR("sales: cannot register with the publisher; sales data is not published");
		s->pub = NULL;
	}
}

/* ---- lifetime ---- */

struct sales *sales_new(struct event_base *base, const struct cl_config *cfg, struct rt *rt)
{
	struct sales *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->owner.kind = CL_OWNER_SALES;
	s->base = base;
	s->cfg = cfg;
	s->rt = rt;
	s->now_fn = real_now;
	s->boot_ms = real_now(NULL);
	s->ix_followups = s->ix_complaints = s->ix_orders = -1;
	rt_heap_init(&s->task_heap);
	rt_heap_init(&s->cmp_heap);
	/* Sized for max_records at the start (up to 2^21 slots, 32 MiB): growing
	 * while loaded rehashes every record at once, a stall of milliseconds.
	 * calloc leaves the pages unmapped until used. */
	s->calls.first_cap = 1024;
	while (s->calls.first_cap < (1u << 21) &&
	       s->calls.first_cap * 3 < (size_t)cfg->sales.max_records * 4 + 4)
		s->calls.first_cap *= 2;
	if (base) {
		struct timeval tv = {0, SALES_TICK_MS * 1000};
		if (!(s->tick = event_new(base, -1, EV_PERSIST, on_tick, s)) ||
		    event_add(s->tick, &tv) < 0)
			goto fail;
	}
	sales_targets_config(s);
	return s;
fail:
	sales_free(s);
	return NULL;
}

void sales_free(struct sales *s)
{
	if (!s)
		return;
	sales_set_pub(s, NULL);
	if (s->tick)
		event_free(s->tick);
	for (size_t i = 0; s->calls.v && i <= s->calls.mask; i++)
		if (s->calls.v[i].c)
			call_free(s->calls.v[i].c);
	free(s->calls.v);
	/* The heaps first: deinit clears the nodes inside tasks and complaints. */
	rt_heap_deinit(&s->task_heap);
	rt_heap_deinit(&s->cmp_heap);
	sales_orders_free(s);
	sales_leads_free(s);
	sales_tasks_free(s);
	sales_complaints_free(s);
	sales_kpi_free(s);
	sales_targets_free(s);
	free(s);
}

void sales_set_config(struct sales *s, const struct cl_config *cfg)
{
	if (!s)
		return;
	s->cfg = cfg;
	sales_targets_config(s);
}

void sales_set_rt(struct sales *s, struct rt *rt)
{
	if (!s || s->rt == rt)
		return;
	/* Records attached to the old router's calls stay as they are; the new
	 * router's calls start unattached (event_call attaches them). */
	s->rt = rt;
	s->rt_gen++;
}

void sales_set_clock(struct sales *s, uint64_t (*now_ms)(void *arg), void *arg)
{
	s->now_fn = now_ms ? now_ms : real_now;
	s->now_arg = now_ms ? arg : NULL;
}

void sales_stats(const struct sales *s, struct sales_stats *out)
{
	*out = s->st;
	out->records = s->n_calls;
	out->orders_open = s->n_open;
	out->leads_in_memory = s->n_leads;
	out->kpi_series = HASH_CNT(hh, s->series);
}

const char *sales_currency(const struct sales *s) { return s->cfg->sales.currency; }
