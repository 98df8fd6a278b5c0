/*
 * sales_kpi.c — KPI buckets, rolling windows and partner contracts.
 *
 * KPIs. A series is one (dimension, name): all/all, territory/<name>,
 * partner/<id>, rep/<id>, queue/<plan>. It holds 15-minute buckets in an
 * array sorted by start time, at most sales.kpi_memory_buckets of them (the
 * oldest go first); events almost always land in the newest bucket, so an
 * update is O(1) and a late one a binary search. Every count goes to the
 * bucket of the moment it happens (offered at the offer, answered at the
 * answer, handle time at the end, an order when it is placed, a
 * cancellation when it is cancelled). Two gauges (open follow-ups, open
 * complaints) are copied into the current bucket whenever they change and
 * at each bucket boundary, so a bucket shows their value at its end.
 * Changed buckets are written to Redis by the tick (kpi:<dim>:<name>:<start>
 * hashes with a TTL of sales.kpi_ttl_s), all of them again on a resync.
 *
 * Windows. Each target that took calls has a ring of its last
 * sla.window_calls offers that ended answered or abandoned while ringing it
 * (answer time measured from the reservation), plus a ring of its last QA
 * scores. A contract figure counts the entries younger than sla.window_ms.
 * Entry n sits in slot (n - 1) % size, so a late "closed" finds its entry
 * without a search. Evaluation scans the ring (sla.window_calls <= 10,000):
 * for targets whose window changed (a dirty list), at the next tick, and for
 * every target every 10 s, a slice per tick (entries age out of the time
 * window without an event).
 *
 * Contracts: a partner breaches when a measure with a contract value is
 * outside it and the window holds enough data (sla.min_calls calls,
 * sla.min_scores scores). A breach raises contract.breach per measure and,
 * with sla.penalty < 1, scales the partner's routing weight until every
 * measure is back (contract.recovered). The measured closure rate (the
 * configured closure_rate while fewer than min_calls calls were answered)
 * is always given to the router.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "sales_internal.h"

#define EVAL_ALL_MS 10000u /* every target is re-evaluated this often */
/* Contract hashes: a partner's at most once a second (at once when a breach
 * begins or ends), and at most this many per tick, so a tick never spends
 * milliseconds formatting hundreds of them. */
#define CONTRACT_PUB_MS 1000u
#define CONTRACT_PUB_TICK 64u
/* A partner whose window changed is re-evaluated at most this often, and at
 * most this many per tick: the evaluation scans its window. */
#define CONTRACT_EVAL_MS 1000u
#define CONTRACT_EVAL_TICK 64u

/* ---- series and buckets ---- */

struct sales_series *sales_series_get(struct sales *s, enum sales_dim dim, const char *name)
{
	char key[2 * CFG_ID_MAX + 16];
	struct sales_series *x = NULL;

	int kl = snprintf(key, sizeof key, "%s:%s", sales_dim_name(dim), name);
	if (kl < 0 || (size_t)kl >= sizeof key)
		return NULL;
	HASH_FIND(hh, s->series, key, (size_t)kl, x);
	if (x)
		return x;
	if (!(x = calloc(1, sizeof *x)))
		return NULL;
	x->dim = dim;
	if (!(x->name = strdup(name)) || !(x->key = strdup(key)))
		goto fail;
	HASH_ADD_KEYPTR(hh, s->series, x->key, (size_t)kl, x);
	if (x->oom)
		goto fail;
	return x;
fail:
	free(x->name);
	free(x->key);
	free(x);
	return NULL;
}

static void mark_dirty(struct sales *s, struct sales_series *x, struct sales_bucket *b)
{
	b->dirty = true;
	if (!x->in_dirty) {
		x->in_dirty = true;
		x->dnext = s->dirty;
		s->dirty = x;
	}
}

/* The bucket starting at start, created (gauges copied) when missing. */
static struct sales_bucket *bucket_get(struct sales *s, struct sales_series *x, uint64_t start)
{
	size_t max = s->cfg->sales.kpi_memory_buckets;
	size_t pos;

	if (x->n && x->b[x->n - 1].start_ms == start)
		return &x->b[x->n - 1];
	if (!x->n || x->b[x->n - 1].start_ms < start) {
		pos = x->n;
	} else {
		size_t lo = 0, hi = x->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (x->b[mid].start_ms < start)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < x->n && x->b[lo].start_ms == start)
			return &x->b[lo];
		if (lo == 0 && x->n >= max)
			return NULL; /* older than everything kept */
		pos = lo;
	}
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 4;
		if (cap > max + 1)
			cap = max + 1;
		struct sales_bucket *nb = realloc(x->b, cap * sizeof *nb);
		if (!nb)
			return NULL;
		x->b = nb;
		x->cap = cap;
	}
	memmove(&x->b[pos + 1], &x->b[pos], (x->n - pos) * sizeof *x->b);
	memset(&x->b[pos], 0, sizeof *x->b);
	x->b[pos].start_ms = start;
	x->n++;
	if (pos == x->n - 1) {
		x->b[pos].k.followups_open = x->g_followups;
		x->b[pos].k.complaints_open = x->g_complaints;
	}
	while (x->n > max) { /* drop the oldest (already in Redis, or never will be) */
		memmove(&x->b[0], &x->b[1], (x->n - 1) * sizeof *x->b);
		x->n--;
		pos--;
	}
	return &x->b[pos];
}

static uint64_t bucket_start(uint64_t t) { return t - t % SALES_BUCKET_MS; }

struct sales_kpi *sales_kpi_at(struct sales *s, enum sales_dim dim, const char *name, uint64_t t)
{
	struct sales_series *x = sales_series_get(s, dim, name && *name ? name : "none");
	struct sales_bucket *b = x ? bucket_get(s, x, bucket_start(t)) : NULL;

	if (!b)
		return NULL;
	mark_dirty(s, x, b);
	return &b->k;
}

struct sales_kpi *sales_series_at(struct sales *s, struct sales_series *x, uint64_t t)
{
	struct sales_bucket *b = x ? bucket_get(s, x, bucket_start(t)) : NULL;

	if (!b)
		return NULL;
	mark_dirty(s, x, b);
	return &b->k;
}

static enum sales_dim target_dim(int kind)
{
	return kind == CFG_KIND_PARTNER ? SALES_DIM_PARTNER : SALES_DIM_REP;
}

void sales_kpi_each(struct sales *s, unsigned dims, const char *territory, const char *plan,
		    const char *target, int target_kind, uint64_t t,
		    void (*fn)(struct sales_kpi *k, void *arg), void *arg)
{
	struct sales_kpi *k;

	if ((dims & (1u << SALES_DIM_ALL)) && (k = sales_kpi_at(s, SALES_DIM_ALL, "all", t)))
		fn(k, arg);
	if ((dims & (1u << SALES_DIM_TERRITORY)) &&
	    (k = sales_kpi_at(s, SALES_DIM_TERRITORY, territory, t)))
		fn(k, arg);
	if ((dims & (1u << SALES_DIM_QUEUE)) && (k = sales_kpi_at(s, SALES_DIM_QUEUE, plan, t)))
		fn(k, arg);
	if ((dims & SALES_DIMS_TARGET) && target && *target &&
	    (dims & (1u << target_dim(target_kind))) &&
	    (k = sales_kpi_at(s, target_dim(target_kind), target, t)))
		fn(k, arg);
}

static void gauge_one(struct sales *s, enum sales_dim dim, const char *name, int dfu, int dcmp,
		      uint64_t now)
{
	struct sales_series *x = sales_series_get(s, dim, name && *name ? name : "none");
	if (!x)
		return;
	x->g_followups = (uint64_t)((int64_t)x->g_followups + dfu);
	x->g_complaints = (uint64_t)((int64_t)x->g_complaints + dcmp);
	struct sales_bucket *b = bucket_get(s, x, bucket_start(now));
	if (b && b == &x->b[x->n - 1]) {
		b->k.followups_open = x->g_followups;
		b->k.complaints_open = x->g_complaints;
		mark_dirty(s, x, b);
	}
}

void sales_kpi_gauge(struct sales *s, const char *territory, const char *plan, const char *target,
		     int target_kind, int followups, int complaints)
{
	uint64_t now = sales_now(s);

	gauge_one(s, SALES_DIM_ALL, "all", followups, complaints, now);
	gauge_one(s, SALES_DIM_TERRITORY, territory, followups, complaints, now);
	gauge_one(s, SALES_DIM_QUEUE, plan, followups, complaints, now);
	if (target && *target)
		gauge_one(s, target_dim(target_kind), target, followups, complaints, now);
}

/* ---- Redis ---- */

static void bucket_publish(struct sales *s, const struct sales_series *x,
			   const struct sales_bucket *b, uint64_t now)
{
	char key[2 * CFG_ID_MAX + 64];
	char v[24][32];
	struct pub_kv f[24];
	size_t n = 0;
	const struct sales_kpi *k = &b->k;

#define U(name, val) (snprintf(v[n], sizeof v[n], "%" PRIu64, (uint64_t)(val)), \
		      f[n] = (struct pub_kv){name, v[n]}, n++)
#define I(name, val) (snprintf(v[n], sizeof v[n], "%" PRId64, (int64_t)(val)), \
		      f[n] = (struct pub_kv){name, v[n]}, n++)
	U("bucket_ms", b->start_ms);
	U("offered", k->offered);
	U("answered", k->answered);
	U("abandoned", k->abandoned);
	U("answered_in_sl", k->answered_in_sl);
	U("answer_ms_sum", k->answer_ms_sum);
	U("handled", k->handled);
	U("handle_ms_sum", k->handle_ms_sum);
	U("missed", k->missed);
	U("closed", k->closed);
	U("orders", k->orders);
	I("revenue_minor", k->revenue_minor);
	U("cancelled", k->cancelled);
	I("commission_minor", k->commission_minor);
	I("lead_fees_minor", k->lead_fees_minor);
	U("leads", k->leads);
	U("qualified_leads", k->qualified_leads);
	U("followups_open", k->followups_open);
	U("followups_done", k->followups_done);
	U("complaints_open", k->complaints_open);
	U("qa_count", k->qa_count);
	snprintf(v[n], sizeof v[n], "%.4f", k->qa_sum);
	f[n] = (struct pub_kv){"qa_sum", v[n]}, n++;
	f[n] = (struct pub_kv){"currency", s->cfg->sales.currency}, n++;
	U("ts_ms", now);
#undef U
#undef I
	snprintf(key, sizeof key, "kpi:%s:%s:%" PRIu64, sales_dim_name(x->dim), x->name, b->start_ms);
	int rc = pub_hash_set(s->pub, -1, key, f, n, s->cfg->sales.kpi_ttl_s, false);
	if (rc < 0)
		CL_LOG_WARN("sales: %s not published: %s", key, pub_strerror(rc));
}

bool sales_kpi_flush(struct sales *s, uint64_t now, bool all)
{
	uint32_t budget = SALES_KPI_PUB_TICK;

	uint64_t cur = bucket_start(now);

	/* A new bucket began: every series with an open gauge gets one, so
	 * its gauges show in every bucket. */
	if (cur != s->gauge_bucket) {
		struct sales_series *x, *tmp;
		s->gauge_bucket = cur;
		HASH_ITER(hh, s->series, x, tmp) {
			if (!x->g_followups && !x->g_complaints)
				continue;
			struct sales_bucket *b = bucket_get(s, x, cur);
			if (b) {
				b->k.followups_open = x->g_followups;
				b->k.complaints_open = x->g_complaints;
				mark_dirty(s, x, b);
			}
		}
	}
	if (all) {
		struct sales_series *x, *tmp;
		HASH_ITER(hh, s->series, x, tmp) {
			for (size_t i = 0; i < x->n; i++) {
				x->b[i].dirty = false;
				bucket_publish(s, x, &x->b[i], now);
			}
			x->in_dirty = false;
		}
		s->dirty = NULL;
		return false;
	}
	while (s->dirty && budget) {
		struct sales_series *x = s->dirty;
		s->dirty = x->dnext;
		x->in_dirty = false;
		for (size_t i = 0; i < x->n; i++) {
			if (!x->b[i].dirty)
				continue;
			x->b[i].dirty = false;
			if (s->pub)
				bucket_publish(s, x, &x->b[i], now);
		}
		budget--;
	}
	return s->dirty != NULL;
}

void sales_kpi_free(struct sales *s)
{
	struct sales_series *x, *tmp;

	HASH_ITER(hh, s->series, x, tmp) {
		HASH_DEL(s->series, x);
		free(x->b);
		free(x->name);
		free(x->key);
		free(x);
	}
	s->dirty = NULL;
}

/* ---- queries ---- */

static void kpi_add(struct sales_kpi *t, const struct sales_kpi *k)
{
	t->offered += k->offered;
	t->answered += k->answered;
	t->abandoned += k->abandoned;
	t->answered_in_sl += k->answered_in_sl;
	t->answer_ms_sum += k->answer_ms_sum;
	t->handled += k->handled;
	t->handle_ms_sum += k->handle_ms_sum;
	t->closed += k->closed;
	t->orders += k->orders;
	t->cancelled += k->cancelled;
	t->missed += k->missed;
	t->revenue_minor += k->revenue_minor;
	t->commission_minor += k->commission_minor;
	t->lead_fees_minor += k->lead_fees_minor;
	t->leads += k->leads;
	t->qualified_leads += k->qualified_leads;
	t->followups_done += k->followups_done;
	t->qa_count += k->qa_count;
	t->qa_sum += k->qa_sum;
	/* Gauges of a total: their value at the end of the range. */
	t->followups_open = k->followups_open;
	t->complaints_open = k->complaints_open;
}

static int row_cmp(const void *a, const void *b)
{
	const struct sales_kpi_row *x = a, *y = b;
	if (x->dim != y->dim)
		return x->dim < y->dim ? -1 : 1;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->bucket_ms < y->bucket_ms ? -1 : x->bucket_ms > y->bucket_ms;
}

long sales_kpi_query(struct sales *s, const struct sales_kpi_query *q, struct sales_kpi_row **out)
{
	struct sales_kpi_row *rows = NULL;
	size_t n = 0, cap = 0;
	uint64_t to = q->to_ms ? q->to_ms : sales_now(s) + 1;
	struct sales_series *x, *tmp;

	*out = NULL;
	if ((unsigned)q->dim >= SALES_DIM_COUNT || q->from_ms > to)
		return -SALES_EINVAL;
	HASH_ITER(hh, s->series, x, tmp) {
		if (q->dim && x->dim != q->dim)
			continue;
		if (q->name && *q->name && strcmp(q->name, x->name) != 0)
			continue;
		struct sales_kpi_row tot = {.dim = x->dim, .name = x->name};
		bool any = false;
		for (size_t i = 0; i < x->n; i++) {
			const struct sales_bucket *b = &x->b[i];
			if (b->start_ms < q->from_ms || b->start_ms >= to)
				continue;
			if (q->total) {
				kpi_add(&tot.k, &b->k);
				any = true;
				continue;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct sales_kpi_row *nr = realloc(rows, nc * sizeof *nr);
				if (!nr)
					goto oom;
				rows = nr;
				cap = nc;
			}
			rows[n++] = (struct sales_kpi_row){x->dim, x->name, b->start_ms, b->k};
		}
		if (q->total && any) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct sales_kpi_row *nr = realloc(rows, nc * sizeof *nr);
				if (!nr)
					goto oom;
				rows = nr;
				cap = nc;
			}
			rows[n++] = tot;
		}
	}
	if (n)
		qsort(rows, n, sizeof *rows, row_cmp);
	*out = rows;
	return (long)n;
oom:
	free(rows);
	return -SALES_ENOMEM;
}

/* ---- targets: windows ---- */

/* Evaluate t at the next tick (dirty list: the tick costs O(changed)). */
void sales_target_dirty(struct sales *s, struct sales_target *t)
{
	if (t->dirty)
		return;
	t->dirty = true;
	t->dnext = s->tdirty;
	s->tdirty = t;
}

static int target_rings(struct sales *s, struct sales_target *t)
{
	uint32_t cap = s->cfg->sales.sla.window_calls;

	if (t->win_cap == cap)
		return 0;
	struct sales_win *w = calloc(cap, sizeof *w);
	struct sales_score *q = calloc(cap, sizeof *q);
	if (!w || !q) {
		free(w);
		free(q);
		return -1;
	}
	free(t->win);
	free(t->qa);
	t->win = w;
	t->qa = q;
	t->win_cap = cap;
	t->win_head = t->qa_head = 0;
	return 0;
}

struct sales_target *sales_target_get(struct sales *s, const char *id, int kind)
{
	struct sales_target *t = NULL;

	if (!id || !*id)
		return NULL;
	HASH_FIND_STR(s->targets, id, t);
	if (t)
		return t;
	if (!(t = calloc(1, sizeof *t)) || !(t->id = strdup(id)))
		goto fail;
	t->kind = kind;
	t->penalty = 1;
	t->cfg_idx = cl_config_target(s->cfg, id);
	if (target_rings(s, t) < 0)
		goto fail;
	HASH_ADD_KEYPTR(hh, s->targets, t->id, strlen(t->id), t);
	if (t->oom)
		goto fail;
	sales_target_dirty(s, t);
	return t;
fail:
	if (t) {
		free(t->win);
		free(t->qa);
		free(t->id);
		free(t);
	}
	CL_LOG_ERROR("sales: target %s: out of memory for its window", id);
	return NULL;
}

uint64_t sales_win_add(struct sales *s, const char *target, int kind, uint64_t now,
		       bool answered, uint32_t answer_ms)
{
	return sales_win_add_t(s, sales_target_get(s, target, kind), now, answered, answer_ms);
}

uint64_t sales_win_add_t(struct sales *s, struct sales_target *t, uint64_t now, bool answered,
			 uint32_t answer_ms)
{
	if (!t)
		return 0;
	uint64_t seq = ++t->win_seq;
	struct sales_win *w = &t->win[(seq - 1) % t->win_cap];
	*w = (struct sales_win){.seq = seq, .ts_ms = now, .answer_ms = answer_ms,
				.answered = answered, .abandoned = !answered};
	sales_target_dirty(s, t);
	return seq;
}

void sales_win_closed(struct sales *s, const char *target, uint64_t seq)
{
	struct sales_target *t = NULL;

	if (target)
		HASH_FIND_STR(s->targets, target, t);
	sales_win_closed_t(s, t, seq);
}

void sales_win_closed_t(struct sales *s, struct sales_target *t, uint64_t seq)
{
	if (!t || !seq)
		return;
	struct sales_win *w = &t->win[(seq - 1) % t->win_cap];
	if (w->seq == seq && w->answered) {
		w->closed = 1;
		sales_target_dirty(s, t);
	}
}

void sales_win_score(struct sales *s, const char *target, int kind, uint64_t now, double score)
{
	struct sales_target *t = sales_target_get(s, target, kind);

	if (!t)
		return;
	t->qa[t->qa_head] = (struct sales_score){.ts_ms = now ? now : 1, .score = score};
	t->qa_head = (t->qa_head + 1) % t->win_cap;
	sales_target_dirty(s, t);
}

void sales_targets_config(struct sales *s)
{
	struct sales_target *t, *tmp;

	HASH_ITER(hh, s->targets, t, tmp) {
		t->cfg_idx = cl_config_target(s->cfg, t->id);
		t->perf_set = false; /* a new router, or new priors: give it again */
		sales_target_dirty(s, t);
		if (target_rings(s, t) < 0)
			CL_LOG_ERROR("sales: target %s: out of memory resizing its window", t->id);
	}
}

void sales_targets_free(struct sales *s)
{
	struct sales_target *t, *tmp;

	HASH_ITER(hh, s->targets, t, tmp) {
		HASH_DEL(s->targets, t);
		free(t->win);
		free(t->qa);
		free(t->id);
		free(t);
	}
}

/* ---- contracts ---- */

void sales_contract_fill(struct sales *s, struct sales_target *t, uint64_t now,
			 struct sales_contract *o)
{
	const struct cfg_sales *cs = &s->cfg->sales;
	const struct cfg_target *ct = t && t->cfg_idx >= 0 ? &s->cfg->targets[t->cfg_idx] : NULL;
	uint64_t since = now > cs->sla.window_ms ? now - cs->sla.window_ms : 0;
	uint64_t ans_sum = 0;
	double qsum = 0;

	memset(o, 0, sizeof *o);
	o->penalty = 1;
	if (!t)
		return;
	o->target_id = t->id;
	for (uint32_t i = 0; i < t->win_cap; i++) {
		const struct sales_win *w = &t->win[i];
		if (!w->seq || w->ts_ms < since)
			continue;
		o->window_calls++;
		o->answered += w->answered;
		o->abandoned += w->abandoned;
		o->closed += w->closed;
		if (w->answered)
			ans_sum += w->answer_ms;
	}
	for (uint32_t i = 0; i < t->win_cap; i++) {
		if (t->qa[i].ts_ms && t->qa[i].ts_ms >= since) {
			o->qa_count++;
			qsum += t->qa[i].score;
		}
	}
	if (o->answered) {
		o->avg_answer_ms = (double)ans_sum / o->answered;
		o->closure_rate = (double)o->closed / o->answered;
	}
	if (o->answered + o->abandoned)
		o->abandon_rate = (double)o->abandoned / (o->answered + o->abandoned);
	if (o->qa_count)
		o->satisfaction = qsum / o->qa_count;
	if (ct && ct->kind == CFG_KIND_PARTNER) {
		const struct cfg_contract *k = &ct->contract;
		o->target_answer_ms = k->answer_ms;
		o->max_abandon = k->max_abandon;
		o->min_closure = k->min_closure;
		o->min_satisfaction = k->min_satisfaction;
		bool calls = o->window_calls >= cs->sla.min_calls;
		bool ans = o->answered >= cs->sla.min_calls;
		o->breach_answer = k->answer_ms && ans && o->avg_answer_ms > k->answer_ms;
		o->breach_abandon = k->max_abandon > 0 && calls && o->abandon_rate > k->max_abandon;
		o->breach_closure = k->min_closure > 0 && ans && o->closure_rate < k->min_closure;
		o->breach_satisfaction = k->min_satisfaction > 0 &&
					 o->qa_count >= cs->sla.min_scores &&
					 o->satisfaction < k->min_satisfaction;
		o->in_breach = o->breach_answer || o->breach_abandon || o->breach_closure ||
			       o->breach_satisfaction;
	}
	o->routing_closure = o->answered >= cs->sla.min_calls ? o->closure_rate
			     : ct				   ? ct->closure_rate
								   : 0.5;
	o->penalty = o->in_breach ? cs->sla.penalty : 1.0;
	o->breach_since_ms = o->in_breach ? (t->in_breach ? t->breach_since_ms : now) : 0;
	struct rt_target *rtt = s->rt ? rt_target_find(s->rt, t->id) : NULL;
	if (rtt) {
		struct rt_target_info ti;
		rt_target_info(s->rt, rtt, &ti);
		o->draining = ti.draining;
	}
}

static const char *const measure_names[4] = {"answer_ms", "abandon_rate", "closure_rate",
					     "satisfaction"};

static void contract_publish(struct sales *s, const struct sales_contract *o, uint64_t now)
{
	char v[20][64];
	struct pub_kv f[20];
	size_t n = 0;
#define U(name, val) (snprintf(v[n], sizeof v[n], "%" PRIu64, (uint64_t)(val)), \
		      f[n] = (struct pub_kv){name, v[n]}, n++)
#define D(name, val) (snprintf(v[n], sizeof v[n], "%.4f", (double)(val)), \
		      f[n] = (struct pub_kv){name, v[n]}, n++)
	U("window_calls", o->window_calls);
	U("answered", o->answered);
	U("abandoned", o->abandoned);
	U("closed", o->closed);
	D("avg_answer_ms", o->avg_answer_ms);
	D("abandon_rate", o->abandon_rate);
	D("closure_rate", o->closure_rate);
	U("qa_count", o->qa_count);
	D("satisfaction", o->satisfaction);
	U("target_answer_ms", o->target_answer_ms);
	D("max_abandon", o->max_abandon);
	D("min_closure", o->min_closure);
	D("min_satisfaction", o->min_satisfaction);
	U("in_breach", o->in_breach);
	U("breach_since_ms", o->breach_since_ms);
	f[n] = (struct pub_kv){"breaches", ""};
	snprintf(v[n], sizeof v[n], "%s%s%s%s", o->breach_answer ? "answer_ms," : "",
		 o->breach_abandon ? "abandon_rate," : "", o->breach_closure ? "closure_rate," : "",
		 o->breach_satisfaction ? "satisfaction," : "");
	size_t bl = strlen(v[n]);
	if (bl)
		v[n][bl - 1] = '\0';
	f[n].value = v[n], n++;
	D("penalty", o->penalty);
	D("routing_closure", o->routing_closure);
	U("draining", o->draining);
	U("ts_ms", now);
#undef U
#undef D
	char key[CFG_ID_MAX + 16];
	snprintf(key, sizeof key, "contract:%s", o->target_id);
	pub_hash_set(s->pub, -1, key, f, n, 0, false);
}

static void eval_one(struct sales *s, struct sales_target *t, uint64_t now)
{
	struct sales_contract o;
	bool was[4];

	t->eval_ms = now;
	sales_contract_fill(s, t, now, &o);
	memcpy(was, t->breach, sizeof was);
	bool b[4] = {o.breach_answer, o.breach_abandon, o.breach_closure, o.breach_satisfaction};
	double val[4] = {o.avg_answer_ms, o.abandon_rate, o.closure_rate, o.satisfaction};
	double lim[4] = {o.target_answer_ms, o.max_abandon, o.min_closure, o.min_satisfaction};
	for (int i = 0; i < 4; i++) {
		if (b[i] && !was[i]) {
			char vs[32], ls[32], ps[32];
			snprintf(vs, sizeof vs, "%.4f", val[i]);
			snprintf(ls, sizeof ls, "%.4f", lim[i]);
			snprintf(ps, sizeof ps, "%.4f", o.penalty);
			s->st.breaches++;
			CL_LOG_WARN("sales: partner %s breaches its contract: %s %s (limit %s)", t->id,
				    measure_names[i], vs, ls);
			sales_emit(s, "contract.breach", NULL, t->id, NULL, "breach", NULL, "measure",
				   measure_names[i], "value", vs, "limit", ls, "penalty", ps, NULL);
		}
		t->breach[i] = b[i];
	}
	if (t->in_breach && !o.in_breach) {
		s->st.recoveries++;
		CL_LOG_INFO("sales: partner %s is back within its contract", t->id);
		sales_emit(s, "contract.recovered", NULL, t->id, NULL, "ok", NULL, NULL);
	}
	if (o.in_breach && !t->in_breach)
		t->breach_since_ms = now;
	t->in_breach = o.in_breach;
	if (s->rt && t->cfg_idx >= 0 &&
	    (!t->perf_set || fabs(t->closure - o.routing_closure) > 1e-9 ||
	     fabs(t->penalty - o.penalty) > 1e-9)) {
		int rc = rt_target_set_performance(s->rt, t->id, o.routing_closure, o.penalty);
		if (rc == 0) {
			t->closure = o.routing_closure;
			t->penalty = o.penalty;
			t->perf_set = true;
		}
	}
	bool changed = memcmp(was, t->breach, sizeof was) != 0;
	if (s->pub && t->kind == CFG_KIND_PARTNER &&
	    (changed || (s->contract_pubs < CONTRACT_PUB_TICK &&
			 (now >= t->contract_pub_ms + CONTRACT_PUB_MS || now < t->contract_pub_ms)))) {
		contract_publish(s, &o, now);
		t->contract_pub_ms = now;
		s->contract_pubs++;
	}
}

void sales_contracts_eval(struct sales *s, uint64_t now)
{
	struct sales_target *later = NULL;
	uint32_t nev = 0;

	s->contract_pubs = 0;
	/* What changed (not yet re-evaluated recently: those wait, dirty). */
	while (s->tdirty) {
		struct sales_target *t = s->tdirty;
		s->tdirty = t->dnext;
		if (nev >= CONTRACT_EVAL_TICK ||
		    (now >= t->eval_ms && now < t->eval_ms + CONTRACT_EVAL_MS)) {
			t->dnext = later;
			later = t;
			continue;
		}
		t->dirty = false;
		eval_one(s, t, now);
		nev++;
	}
	s->tdirty = later;
	/* Ageing: a slice of every target per tick, so each is seen every
	 * EVAL_ALL_MS (entries leave the time window without an event). */
	uint64_t n = HASH_CNT(hh, s->targets);
	uint64_t slice = n * SALES_TICK_MS / EVAL_ALL_MS + 1;
	for (uint64_t i = 0; i < slice && n; i++) {
		if (!s->eval_cursor)
			s->eval_cursor = s->targets;
		struct sales_target *t = s->eval_cursor;
		s->eval_cursor = t->hh.next;
		eval_one(s, t, now);
	}
}

long sales_contracts(struct sales *s, const char *target_id, struct sales_contract **out)
{
	const struct cl_config *cfg = s->cfg;
	uint64_t now = sales_now(s);
	size_t n = 0;

	*out = NULL;
	if (target_id && *target_id) {
		int i = cl_config_target(cfg, target_id);
		if (i < 0 || cfg->targets[i].kind != CFG_KIND_PARTNER)
			return -SALES_ENOENT;
	}
	struct sales_contract *o = calloc(cfg->n_targets ? cfg->n_targets : 1, sizeof *o);
	if (!o)
		return -SALES_ENOMEM;
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct cfg_target *ct = &cfg->targets[i];
		if (ct->kind != CFG_KIND_PARTNER ||
		    (target_id && *target_id && strcmp(target_id, ct->id) != 0))
			continue;
		struct sales_target *t = NULL;
		HASH_FIND_STR(s->targets, ct->id, t);
		if (t) {
			sales_contract_fill(s, t, now, &o[n]);
		} else {
			/* No call yet: the contract with an empty window. */
			struct sales_target tmp = {.id = ct->id, .kind = ct->kind, .cfg_idx = (int)i};
			sales_contract_fill(s, &tmp, now, &o[n]);
		}
		o[n].target_id = ct->id;
		n++;
	}
	*out = o;
	return (long)n;
}
