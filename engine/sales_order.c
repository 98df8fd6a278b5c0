/*
 * sales_order.c — orders taken on calls, their fulfilment status, the open
 * order backlog and the commission they earn.
 *
 * An order belongs to the call it was taken on and so to the rep or partner
 * that answered it; only that target (or an admin) moves its status. Order
 * ids are the client's: placing the same id again with the same content is
 * acknowledged and changes nothing (a retry), with other content it is
 * refused. Status moves only along
 *
 *   placed -> allocated | backordered | cancelled
 *   backordered -> allocated | cancelled
 *   allocated -> shipped | backordered | cancelled
 *   shipped -> delivered
 *
 * and the current status again is acknowledged. Commission is fixed when
 * the order is placed (partner: contract.commission_pct, rep:
 * commission_pct, of the amount, rounded to the nearest minor unit) and
 * reversed, with the revenue, if the order is cancelled, in the bucket of
 * the cancellation.
 *
 * Open orders sit on one list; the backlog views (per territory and per
 * partner, by status, age and priority) walk it: O(open orders), for
 * queries and for the Redis backlog hashes, which are rewritten at most
 * twice a second and only after a change. Delivered and cancelled orders
 * stay sales.record_retention_s for idempotent retries, then go.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "sales_internal.h"

#define DAY_MS 86400000ull

static bool is_open(enum sales_order_state st)
{
	return st != SALES_ORD_DELIVERED && st != SALES_ORD_CANCELLED;
}

static bool transition_ok(enum sales_order_state from, enum sales_order_state to)
{
	switch (from) {
	case SALES_ORD_PLACED:
		return to == SALES_ORD_ALLOCATED || to == SALES_ORD_BACKORDERED ||
		       to == SALES_ORD_CANCELLED;
	case SALES_ORD_BACKORDERED:
		return to == SALES_ORD_ALLOCATED || to == SALES_ORD_CANCELLED;
	case SALES_ORD_ALLOCATED:
		return to == SALES_ORD_SHIPPED || to == SALES_ORD_BACKORDERED ||
		       to == SALES_ORD_CANCELLED;
	case SALES_ORD_SHIPPED:
		return to == SALES_ORD_DELIVERED;
	default:
		return false;
	}
}

int64_t sales_commission(const struct sales *s, const char *target, int kind, int64_t amount)
{
	int i = cl_config_target(s->cfg, target);
	double pct;

	if (i < 0)
		return 0;
	pct = kind == CFG_KIND_PARTNER ? s->cfg->targets[i].contract.commission_pct
				       : s->cfg->targets[i].commission_pct;
	return (int64_t)llround((double)amount * pct / 100.0);
}

static void order_free(struct sales_order *o)
{
	for (size_t i = 0; i < o->n_items; i++)
		free((char *)o->items[i].sku);
	free(o->items);
	free(o->id);
	free(o->call_id);
	free(o->target);
	free(o->territory);
	free(o->plan);
	free(o);
}

static void order_unlink(struct sales *s, struct sales_order *o)
{
	struct sales_order **head = is_open(o->state) ? &s->open_head : &s->closed_head;
	struct sales_order **tail = is_open(o->state) ? &s->open_tail : &s->closed_tail;

	if (o->prev)
		o->prev->next = o->next;
	else
		*head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		*tail = o->prev;
	o->prev = o->next = NULL;
}

static void order_append(struct sales *s, struct sales_order *o)
{
	struct sales_order **head = is_open(o->state) ? &s->open_head : &s->closed_head;
	struct sales_order **tail = is_open(o->state) ? &s->open_tail : &s->closed_tail;

	o->prev = *tail;
	o->next = NULL;
	if (*tail)
		(*tail)->next = o;
	else
		*head = o;
	*tail = o;
}

static void order_drop(struct sales *s, struct sales_order *o)
{
	order_unlink(s, o);
	HASH_DEL(s->orders, o);
	if (is_open(o->state))
		s->n_open--;
	s->n_orders--;
	order_free(o);
}

/* The order's Redis hash (order:<id>, listed in "orders" while open). */
static void order_publish(struct sales *s, const struct sales_order *o)
{
	char v[10][32];
	struct pub_kv f[16];
	size_t n = 0;

	if (!s->pub)
		return;
	f[n++] = (struct pub_kv){"id", o->id};
	f[n++] = (struct pub_kv){"call", o->call_id};
	f[n++] = (struct pub_kv){"target", o->target};
	f[n++] = (struct pub_kv){"territory", o->territory};
	f[n++] = (struct pub_kv){"state", sales_order_state_name(o->state)};
	snprintf(v[0], sizeof v[0], "%" PRId64, o->amount);
	f[n++] = (struct pub_kv){"amount_minor", v[0]};
	f[n++] = (struct pub_kv){"currency", o->currency};
	snprintf(v[1], sizeof v[1], "%" PRId64, o->commission);
	f[n++] = (struct pub_kv){"commission_minor", v[1]};
	snprintf(v[2], sizeof v[2], "%" PRIu32, o->priority);
	f[n++] = (struct pub_kv){"priority", v[2]};
	f[n++] = (struct pub_kv){"expedite", o->expedite ? "1" : "0"};
	f[n++] = (struct pub_kv){"followup", o->followup ? "1" : "0"};
	snprintf(v[3], sizeof v[3], "%zu", o->n_items);
	f[n++] = (struct pub_kv){"items", v[3]};
	snprintf(v[4], sizeof v[4], "%" PRIu64, o->placed_ms);
	f[n++] = (struct pub_kv){"placed_ms", v[4]};
	snprintf(v[5], sizeof v[5], "%" PRIu64, o->state_ms);
	f[n++] = (struct pub_kv){"state_ms", v[5]};
	bool done = !is_open(o->state);
	pub_hash_set(s->pub, s->ix_orders, o->id, f, n,
		     done ? s->cfg->sales.record_retention_s : 0, done);
}

struct kord {
	int64_t amount, commission;
	bool cancel;
};

static void k_order(struct sales_kpi *k, void *a)
{
	const struct kord *x = a;
	if (x->cancel) {
		k->cancelled++;
		k->revenue_minor -= x->amount;
		k->commission_minor -= x->commission;
	} else {
		k->orders++;
		k->revenue_minor += x->amount;
		k->commission_minor += x->commission;
	}
}

static bool same_order(const struct sales_order *o, const struct sales_order_req *r)
{
	if (strcmp(o->call_id, r->call_id) != 0 || o->amount != r->amount_minor ||
	    strcmp(o->currency, r->currency) != 0 || o->priority != (uint32_t)r->priority ||
	    o->expedite != r->expedite || o->n_items != r->n_items)
		return false;
	for (size_t i = 0; i < r->n_items; i++)
		if (strcmp(o->items[i].sku, r->items[i].sku) != 0 ||
		    o->items[i].quantity != r->items[i].quantity ||
		    o->items[i].unit_price_minor != r->items[i].unit_price_minor)
			return false;
	return true;
}

static int order_check(const struct sales *s, const struct sales_order_req *r, char *err,
		       size_t errlen)
{
	const struct cfg_sales *cs = &s->cfg->sales;

	if (!r->order_id || !sales_str_ok(r->order_id, CFG_ID_MAX, true))
		return sales_fail(err, errlen, SALES_EINVAL,
				  "order_placed: order_id is required (1..%d characters, no spaces)",
				  CFG_ID_MAX);
	if (r->amount_minor <= 0)
		return sales_fail(err, errlen, SALES_EINVAL,
				  "order_placed: amount_minor must be positive (got %" PRId64 ")",
				  r->amount_minor);
	if ((uint64_t)r->amount_minor > cs->max_amount_minor)
		return sales_fail(err, errlen, SALES_EINVAL,
				  "order_placed: amount_minor %" PRId64 " is above the limit %" PRIu64
				  " (sales.max_amount_minor)",
				  r->amount_minor, cs->max_amount_minor);
	if (!r->currency || strcmp(r->currency, cs->currency) != 0)
		return sales_fail(err, errlen, SALES_EINVAL,
				  "order_placed: currency must be %s (got '%s')", cs->currency,
				  r->currency ? r->currency : "");
	if (r->priority < 0 || r->priority > SALES_MAX_PRIORITY)
		return sales_fail(err, errlen, SALES_EINVAL, "order_placed: priority must be 0..%d",
				  SALES_MAX_PRIORITY);
	if (r->n_items == 0 || r->n_items > SALES_MAX_ITEMS)
		return sales_fail(err, errlen, SALES_EINVAL, "order_placed: 1..%d items are required",
				  SALES_MAX_ITEMS);
	int64_t sum = 0;
	bool priced = true;
	for (size_t i = 0; i < r->n_items; i++) {
		const struct sales_item *it = &r->items[i];
		if (!it->sku || !sales_str_ok(it->sku, 64, true))
			return sales_fail(err, errlen, SALES_EINVAL,
					  "order_placed: item %zu: sku is required (1..64 "
					  "characters, no spaces)",
					  i + 1);
		if (it->quantity < 1 || it->quantity > 1000000)
			return sales_fail(err, errlen, SALES_EINVAL,
					  "order_placed: item %zu: quantity must be 1..1000000 (got %" PRId64
					  ")",
					  i + 1, it->quantity);
		if (it->unit_price_minor < 0 || (uint64_t)it->unit_price_minor > cs->max_amount_minor)
			return sales_fail(err, errlen, SALES_EINVAL,
					  "order_placed: item %zu: unit_price_minor out of range",
					  i + 1);
		int64_t line;
		if (it->unit_price_minor == 0)
			priced = false;
		else if (__builtin_mul_overflow(it->quantity, it->unit_price_minor, &line) ||
			 __builtin_add_overflow(sum, line, &sum))
			sum = INT64_MAX; /* cannot match any amount */
	}
	if (priced && sum != r->amount_minor)
		return sales_fail(err, errlen, SALES_EINVAL,
				  "order_placed: amount_minor %" PRId64
				  " differs from the items' total %" PRId64,
				  r->amount_minor, sum);
	return 0;
}

int sales_order_place(struct sales *s, const struct sales_actor *a,
		      const struct sales_order_req *r, char *err, size_t errlen)
{
	struct sales_call *c;
	struct sales_order *o = NULL;
	int rc;

	if ((rc = order_check(s, r, err, errlen)) < 0)
		return rc;
	HASH_FIND_STR(s->orders, r->order_id, o);
	if (o) {
		if (a && a->target && strcmp(a->target, o->target) != 0)
			return sales_fail(err, errlen, SALES_EFORBIDDEN,
					  "order_placed: order %s belongs to another target", o->id);
		if (same_order(o, r))
			return 0;
		return sales_fail(err, errlen, SALES_EEXIST,
				  "order_placed: order %s exists with other content", o->id);
	}
	if ((rc = sales_own_call(s, a, r->call_id, "order_placed", &c, err, errlen)) < 0)
		return rc;
	if (c->outcome == SALES_OUT_NO_ORDER || c->outcome == SALES_OUT_WRONG_NUMBER ||
	    c->outcome == SALES_OUT_NO_CONTACT)
		return sales_fail(err, errlen, SALES_ESTATE,
				  "order_placed: the call is disposed as %s",
				  sales_outcome_name(c->outcome));
	if (s->n_orders >= s->cfg->sales.max_orders) {
		if (!s->closed_head)
			return sales_fail(err, errlen, SALES_ELIMIT,
					  "order_placed: %" PRIu32 " open orders (sales.max_orders)",
					  s->cfg->sales.max_orders);
		order_drop(s, s->closed_head);
	}
	uint64_t now = sales_now(s);
	if (!(o = calloc(1, sizeof *o)) || !(o->items = calloc(r->n_items, sizeof *o->items)))
		goto oom;
	if (!(o->id = strdup(r->order_id)) || !(o->call_id = strdup(c->id)) ||
	    !(o->target = strdup(c->target)) || (c->territory && !(o->territory = strdup(c->territory))) ||
	    (c->plan && !(o->plan = strdup(c->plan))))
		goto oom;
	for (size_t i = 0; i < r->n_items; i++) {
		o->items[i] = r->items[i];
		if (!(o->items[i].sku = strdup(r->items[i].sku)))
			goto oom;
		o->n_items = i + 1;
	}
	o->target_kind = c->target_kind;
	o->amount = r->amount_minor;
	o->commission = sales_commission(s, c->target, c->target_kind, r->amount_minor);
	snprintf(o->currency, sizeof o->currency, "%s", r->currency);
	o->priority = (uint32_t)r->priority;
	o->expedite = r->expedite;
	o->followup = c->flags & SC_FOLLOWUP;
	o->state = SALES_ORD_PLACED;
	o->placed_ms = o->state_ms = now;
	HASH_ADD_KEYPTR(hh, s->orders, o->id, strlen(o->id), o);
	if (o->oom)
		goto oom;
	order_append(s, o);
	s->n_orders++;
	s->n_open++;
	s->st.orders++;
	s->backlog_dirty = true;
	c->n_orders++;
	struct kord x = {o->amount, o->commission, false};
	sales_kpi_each(s, SALES_DIMS_EVERY, o->territory, o->plan, o->target, o->target_kind, now,
		       k_order, &x);
	sales_call_closed(s, c, now);
	order_publish(s, o);
	char am[24], cm[24], pr[8], ni[8];
	snprintf(am, sizeof am, "%" PRId64, o->amount);
	snprintf(cm, sizeof cm, "%" PRId64, o->commission);
	snprintf(pr, sizeof pr, "%" PRIu32, o->priority);
	snprintf(ni, sizeof ni, "%zu", o->n_items);
	sales_emit(s, "order.placed", o->call_id, o->target, o->territory, "placed", NULL, "order",
		   o->id, "amount_minor", am, "currency", o->currency, "commission_minor", cm,
		   "priority", pr, "expedite", o->expedite ? "1" : NULL, "items", ni, NULL);
	return 0;
oom:
	if (o)
		order_free(o);
	return sales_fail(err, errlen, SALES_ENOMEM, "order_placed: out of memory");
}

int sales_order_status(struct sales *s, const struct sales_actor *a, const char *order_id,
		       enum sales_order_state st, const char *reason, char *err, size_t errlen)
{
	struct sales_order *o = NULL;

	if (!order_id || !*order_id)
		return sales_fail(err, errlen, SALES_EINVAL, "order_status: order_id is required");
	if (st <= SALES_ORD_PLACED || st >= SALES_ORD_COUNT)
		return sales_fail(err, errlen, SALES_EINVAL,
				  "order_status: state must be allocated, backordered, shipped, "
				  "delivered or cancelled");
	if (reason && *reason && !sales_str_ok(reason, 256, false))
		return sales_fail(err, errlen, SALES_EINVAL,
				  "order_status: reason is too long or has control characters");
	HASH_FIND_STR(s->orders, order_id, o);
	if (!o)
		return sales_fail(err, errlen, SALES_ENOENT, "order_status: no order %s", order_id);
	if (a && a->target && strcmp(a->target, o->target) != 0)
		return sales_fail(err, errlen, SALES_EFORBIDDEN,
				  "order_status: order %s belongs to another target", order_id);
	if (o->state == st)
		return 0;
	if (!transition_ok(o->state, st))
		return sales_fail(err, errlen, SALES_ESTATE, "order_status: order %s is %s; it cannot "
							     "become %s",
				  order_id, sales_order_state_name(o->state),
				  sales_order_state_name(st));
	uint64_t now = sales_now(s);
	enum sales_order_state from = o->state;
	bool closes = !is_open(st);
	if (closes) {
		order_unlink(s, o);
		s->n_open--;
	}
	o->state = st;
	o->state_ms = now;
	if (closes)
		order_append(s, o); /* now on the closed list */
	s->backlog_dirty = true;
	if (st == SALES_ORD_CANCELLED) {
		struct kord x = {o->amount, o->commission, true};
		s->st.orders_cancelled++;
		sales_kpi_each(s, SALES_DIMS_EVERY, o->territory, o->plan, o->target, o->target_kind,
			       now, k_order, &x);
	}
	order_publish(s, o);
	sales_emit(s, "order.status", o->call_id, o->target, o->territory,
		   sales_order_state_name(st), reason, "order", o->id, "from",
		   sales_order_state_name(from), NULL);
	return 0;
}

void sales_orders_expire(struct sales *s, uint64_t now)
{
	uint64_t keep = (uint64_t)s->cfg->sales.record_retention_s * 1000u;

	while (s->closed_head && s->closed_head->state_ms + keep <= now)
		order_drop(s, s->closed_head);
}

void sales_orders_free(struct sales *s)
{
	struct sales_order *o, *tmp;

	HASH_ITER(hh, s->orders, o, tmp) {
		HASH_DEL(s->orders, o);
		order_free(o);
	}
	s->open_head = s->open_tail = s->closed_head = s->closed_tail = NULL;
	struct sales_blent *b, *bt;
	HASH_ITER(hh, s->backlog, b, bt) {
		HASH_DEL(s->backlog, b);
		free(b->key);
		free(b);
	}
}

/* ---- backlog ---- */

static void backlog_add(struct sales_backlog *b, const struct sales_order *o, uint64_t now)
{
	uint64_t age = now > o->placed_ms ? now - o->placed_ms : 0;

	b->open++;
	b->by_state[o->state]++;
	b->age[age < DAY_MS ? 0 : age < 3 * DAY_MS ? 1 : age < 7 * DAY_MS ? 2 : 3]++;
	b->by_priority[o->priority <= SALES_MAX_PRIORITY ? o->priority : SALES_MAX_PRIORITY]++;
	b->expedited += o->expedite;
	b->open_amount_minor += o->amount;
	if (!b->oldest_order || o->placed_ms < b->oldest_ms) {
		b->oldest_order = o->id;
		b->oldest_ms = o->placed_ms;
	}
}

/* Backlog entry of (dim, name), created; NULL on allocation failure. */
static struct sales_blent *blent_get(struct sales *s, enum sales_dim dim, const char *name)
{
	char key[CFG_ID_MAX + 32];
	struct sales_blent *b = NULL;

	int kl = snprintf(key, sizeof key, "%s:%s", sales_dim_name(dim), name);
	if (kl < 0 || (size_t)kl >= sizeof key)
		return NULL;
	HASH_FIND(hh, s->backlog, key, (size_t)kl, b);
	if (b)
		return b;
	if (!(b = calloc(1, sizeof *b)) || !(b->key = strdup(key))) {
		free(b);
		return NULL;
	}
	b->dim = dim;
	b->name = b->key + strlen(sales_dim_name(dim)) + 1;
	HASH_ADD_KEYPTR(hh, s->backlog, b->key, (size_t)kl, b);
	if (b->oom) {
		free(b->key);
		free(b);
		return NULL;
	}
	return b;
}

static const char *terr_name(const struct sales_order *o)
{
	return o->territory && *o->territory ? o->territory : "none";
}

/* Recompute every backlog entry from the open list. */
static void backlog_compute(struct sales *s, uint64_t now)
{
	struct sales_blent *b, *bt;

	HASH_ITER(hh, s->backlog, b, bt)
		memset(&b->bl, 0, sizeof b->bl);
	for (struct sales_order *o = s->open_head; o; o = o->next) {
		struct sales_blent *e[3] = {blent_get(s, SALES_DIM_ALL, "all"),
					    blent_get(s, SALES_DIM_TERRITORY, terr_name(o)),
					    o->target_kind == CFG_KIND_PARTNER
						    ? blent_get(s, SALES_DIM_PARTNER, o->target)
						    : NULL};
		for (int i = 0; i < 3; i++)
			if (e[i])
				backlog_add(&e[i]->bl, o, now);
	}
	HASH_ITER(hh, s->backlog, b, bt) {
		b->bl.dim = b->dim;
		b->bl.name = b->name;
	}
}

void sales_orders_publish(struct sales *s, bool all)
{
	uint64_t now = sales_now(s);
	struct sales_blent *b, *bt;

	if (all) {
		for (struct sales_order *o = s->open_head; o; o = o->next)
			order_publish(s, o);
		for (struct sales_order *o = s->closed_head; o; o = o->next)
			order_publish(s, o);
	}
	s->backlog_dirty = false;
	if (!s->pub)
		return;
	backlog_compute(s, now);
	HASH_ITER(hh, s->backlog, b, bt) {
		const struct sales_backlog *x = &b->bl;
		char v[22][24];
		struct pub_kv f[22];
		size_t n = 0;
#define U(nm, val) (snprintf(v[n], sizeof v[n], "%" PRIu64, (uint64_t)(val)), \
		    f[n] = (struct pub_kv){nm, v[n]}, n++)
		U("open", x->open);
		U("placed", x->by_state[SALES_ORD_PLACED]);
		U("allocated", x->by_state[SALES_ORD_ALLOCATED]);
		U("backordered", x->by_state[SALES_ORD_BACKORDERED]);
		U("shipped", x->by_state[SALES_ORD_SHIPPED]);
		U("age_under_1d", x->age[0]);
		U("age_1d_3d", x->age[1]);
		U("age_3d_7d", x->age[2]);
		U("age_over_7d", x->age[3]);
		U("expedited", x->expedited);
		/* priorities as one field: "p0,p1,...,p9" counts */
		size_t off = 0;
		for (int p = 0; p <= SALES_MAX_PRIORITY && off < sizeof v[n]; p++)
			off += (size_t)snprintf(v[n] + off, sizeof v[n] - off, "%s%" PRIu32,
						p ? "," : "", x->by_priority[p]);
		f[n] = (struct pub_kv){"by_priority", v[n]}, n++;
		f[n++] = (struct pub_kv){"oldest_order", x->oldest_order ? x->oldest_order : ""};
		U("oldest_ms", x->oldest_ms);
		snprintf(v[n], sizeof v[n], "%" PRId64, x->open_amount_minor);
		f[n] = (struct pub_kv){"open_amount_minor", v[n]}, n++;
		f[n++] = (struct pub_kv){"currency", s->cfg->sales.currency};
		U("ts_ms", now);
#undef U
		char key[CFG_ID_MAX + 48];
		snprintf(key, sizeof key, "backlog:%s", b->key);
		pub_hash_set(s->pub, -1, key, f, n, 0, false);
	}
}

static int order_cmp(const void *a, const void *b)
{
	const struct sales_backlog_order *x = a, *y = b;
	if (x->expedite != y->expedite)
		return x->expedite ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->placed_ms != y->placed_ms)
		return x->placed_ms < y->placed_ms ? -1 : 1;
	return strcmp(x->order_id, y->order_id);
}

static int sum_cmp(const void *a, const void *b)
{
	const struct sales_backlog *x = a, *y = b;
	if (x->dim != y->dim)
		return x->dim < y->dim ? -1 : 1;
	return strcmp(x->name, y->name);
}

int sales_backlog_query(struct sales *s, enum sales_dim dim, const char *name, uint32_t limit,
			struct sales_backlog **sums, size_t *n_sums,
			struct sales_backlog_order **orders, size_t *n_orders)
{
	uint64_t now = sales_now(s);
	bool any_name = !name || !*name;

	*sums = NULL;
	*orders = NULL;
	*n_sums = *n_orders = 0;
	if (dim != SALES_DIM_ALL && dim != SALES_DIM_TERRITORY && dim != SALES_DIM_PARTNER)
		return -SALES_EINVAL;
	if (limit == 0)
		limit = 100;
	if (limit > 1000)
		limit = 1000;
	backlog_compute(s, now);
	size_t ns = 0;
	struct sales_blent *b, *bt;
	HASH_ITER(hh, s->backlog, b, bt)
		if (b->dim == dim && (any_name || strcmp(b->name, name) == 0))
			ns++;
	struct sales_backlog *sv = calloc(ns ? ns : 1, sizeof *sv);
	struct sales_backlog_order *ov = calloc(s->n_open ? s->n_open : 1, sizeof *ov);
	if (!sv || !ov) {
		free(sv);
		free(ov);
		return -SALES_ENOMEM;
	}
	size_t i = 0;
	HASH_ITER(hh, s->backlog, b, bt)
		if (b->dim == dim && (any_name || strcmp(b->name, name) == 0))
			sv[i++] = b->bl;
	size_t no = 0;
	for (struct sales_order *o = s->open_head; o; o = o->next) {
		bool in = dim == SALES_DIM_ALL ||
			  (dim == SALES_DIM_TERRITORY && (any_name || strcmp(terr_name(o), name) == 0)) ||
			  (dim == SALES_DIM_PARTNER && o->target_kind == CFG_KIND_PARTNER &&
			   (any_name || strcmp(o->target, name) == 0));
		if (!in)
			continue;
		ov[no++] = (struct sales_backlog_order){
			.order_id = o->id,
			.call_id = o->call_id,
			.target_id = o->target,
			.territory = terr_name(o),
			.state = o->state,
			.priority = o->priority,
			.expedite = o->expedite,
			.amount_minor = o->amount,
			.placed_ms = o->placed_ms,
			.age_ms = now > o->placed_ms ? now - o->placed_ms : 0,
		};
	}
	qsort(sv, ns, sizeof *sv, sum_cmp);
	qsort(ov, no, sizeof *ov, order_cmp);
	*sums = sv;
	*n_sums = ns;
	*orders = ov;
	*n_orders = no < limit ? no : limit;
	return 0;
}
