/*
 * sales.h — the sales loop: what happens after a call is routed, and whether
 * the sale closed on it (docs/sales.md).
 *
 * The module keeps a record of every call from the router's events, and on
 * top of those records: dispositions, orders and their fulfilment status
 * (backlog), the leads a rep or partner captured (to a Redis stream for the
 * CRM, erasable on request), follow-up tasks that are routed back to the same
 * target, complaints with an escalation path, commission and lead fees, QA
 * scores, partner contracts measured on rolling windows (breaches lower the
 * partner's routing weight), and KPIs in 15-minute buckets per territory,
 * partner, rep and queue.
 *
 * It knows the router through its public API (it is the owner, kind
 * CL_OWNER_SALES, of the follow-up calls it offers) and Redis through the
 * publisher; peers reach it through the protocol server (sales_wire.c turns
 * the sales messages into the requests below). Every request checks its
 * input completely and changes nothing when it fails; the error text says
 * what is wrong.
 *
 * Time: the module reads the wall clock through a hook (sales_set_clock) so
 * tests can drive it; call times come from the router's events. Its timer
 * runs sales_tick every SALES_TICK_MS: deadlines (complaints, follow-ups,
 * unanswered dispositions), retention, contract evaluation and the Redis
 * writes of changed aggregates.
 *
 * Loop thread only. Strings passed in are borrowed for the call; strings
 * handed out are valid until the next call into the module.
 */
#ifndef CL_SALES_H
#define CL_SALES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct cl_config;
struct pub;
struct sales;

#define SALES_TICK_MS 100u
#define SALES_KPI_PUB_TICK 64u /* KPI series published per tick, at most */
#define SALES_BUCKET_MS 900000u /* 15 minutes */
#define SALES_TEXT_MAX 256      /* error texts */
#define SALES_MAX_ITEMS 100     /* order lines */
#define SALES_MAX_PRODUCTS 32   /* products of interest per lead */
#define SALES_MAX_PRIORITY 9    /* order priority 0..9 */

enum {
	SALES_OK = 0,
	SALES_ENOMEM = 1,
	SALES_EINVAL = 2,     /* a field is missing, malformed or out of range */
	SALES_ENOCALL = 3,    /* no record of this call (never seen, or past retention) */
	SALES_EFORBIDDEN = 4, /* the call, order or lead belongs to another target */
	SALES_ESTATE = 5,     /* out of order: bad status transition, already disposed, ... */
	SALES_ENOENT = 6,     /* unknown order, complaint or target */
	SALES_EEXIST = 7,     /* the id is taken by a different order, lead or score */
	SALES_ELIMIT = 8,     /* a configured limit (max_orders, ...) is reached */
};

const char *sales_strerror(int err);

/* Call outcomes; the numbers are those of the protocol's Outcome. */
enum sales_outcome {
	SALES_OUT_NONE = 0,
	SALES_OUT_ORDERED = 1,
	SALES_OUT_NO_ORDER = 2,
	SALES_OUT_FOLLOW_UP = 3,
	SALES_OUT_COMPLAINT = 4,
	SALES_OUT_WRONG_NUMBER = 5,
	SALES_OUT_NO_CONTACT = 6,
	SALES_OUT_COUNT
};

/* Order states; the numbers are those of the protocol's OrderState. */
enum sales_order_state {
	SALES_ORD_PLACED = 1,
	SALES_ORD_ALLOCATED = 2,
	SALES_ORD_BACKORDERED = 3,
	SALES_ORD_SHIPPED = 4,
	SALES_ORD_DELIVERED = 5,
	SALES_ORD_CANCELLED = 6,
	SALES_ORD_COUNT
};

/* KPI dimensions; the numbers are those of the protocol's KpiDimension. */
enum sales_dim {
	SALES_DIM_ALL = 1,
	SALES_DIM_TERRITORY = 2,
	SALES_DIM_PARTNER = 3,
	SALES_DIM_REP = 4,
	SALES_DIM_QUEUE = 5,
	SALES_DIM_COUNT
};

const char *sales_outcome_name(enum sales_outcome o);
const char *sales_order_state_name(enum sales_order_state st);
const char *sales_dim_name(enum sales_dim d);

/*
 * Who sends a request. target is the rep or partner the session acts for
 * (NULL for admin: it may act on anything). Partners and reps act only on
 * calls they answered and on orders and leads of those calls.
 */
struct sales_actor {
	const char *target;
	const char *who; /* for logs and events: reviewer, admin identity; may be NULL */
};

/* ---- lifetime ---- */

/* cfg and rt are borrowed (see sales_set_config / sales_set_rt). Starts the
 * tick timer on base. Returns NULL on allocation failure. */
struct sales *sales_new(struct event_base *base, const struct cl_config *cfg, struct rt *rt);
/* Frees everything; the router must not call the hooks any more (free the
 * router first, or never again offer through it). NULL does nothing. */
void sales_free(struct sales *s);

/* After a reload (call both before rt_adopt runs, so its events find them).
 * These and sales_set_pub accept s == NULL (nothing happens). */
void sales_set_config(struct sales *s, const struct cl_config *cfg);
void sales_set_rt(struct sales *s, struct rt *rt);
/* Attach the publisher (NULL detaches: do that before freeing it). On
 * attaching, the module registers its index sets and a resync listener. */
void sales_set_pub(struct sales *s, struct pub *p);
/* Wall clock in ms (tests). NULL restores the real clock. */
void sales_set_clock(struct sales *s, uint64_t (*now_ms)(void *arg), void *arg);

/* ---- router side ---- */

/* Every router event (the engine forwards them all; s may be NULL). The
 * module's own follow-up calls need nothing from the route / queued /
 * reject hooks: their events say it all (a reject ends the call). */
void sales_event(struct sales *s, const struct rt_event *ev);

/*
 * A call with this id is about to be offered: start loading the part of the
 * record table its offer will probe (a hint; nothing changes). Every new
 * call checks whether its id names a kept record, a probe that lands
 * anywhere in a table of up to max_records entries and mostly misses the
 * caches; the server calls this before rt_call_offer so the load overlaps
 * the routing decision. s and id may be NULL. Loop thread only.
 */
void sales_call_prefetch(const struct sales *s, const char *id);

/* What an Offer for a follow-up call carries. Strings borrowed from the module. */
struct sales_offer_info {
	const char *task_id;
	const char *number;
	const char *origin_call;
	uint32_t attempt;
};
/* True when c is a follow-up attempt; fills out. */
bool sales_offer_info(const struct sales *s, const struct rt_call *c, struct sales_offer_info *out);
/* The target accepted a follow-up offer (OfferAccept): the attempt is in
 * progress (the call is connected). Not a follow-up call: 0, nothing done. */
int sales_followup_accepted(struct sales *s, const char *call_id, const char *target_id);

/* Run what is due now (the timer does it every SALES_TICK_MS). */
void sales_tick(struct sales *s);

/* ---- requests ---- */

struct sales_disposition {
	const char *call_id;
	enum sales_outcome outcome;
	uint64_t due_ms;           /* FOLLOW_UP: wall clock; 0 = followup.delay_ms from now */
	const char *category;      /* COMPLAINT */
};
/* Out: the follow-up task or complaint created (ids borrowed). */
struct sales_disposition_result {
	const char *task_id;
	const char *complaint_id;
};
int sales_dispose(struct sales *s, const struct sales_actor *a, const struct sales_disposition *d,
		  struct sales_disposition_result *out, char *err, size_t errlen);

struct sales_item {
	const char *sku;
	int64_t quantity;
	int64_t unit_price_minor;
};

struct sales_order_req {
	const char *order_id;
	const char *call_id;
	int64_t amount_minor;
	const char *currency;
	const struct sales_item *items;
	size_t n_items;
	int64_t priority;          /* 0..SALES_MAX_PRIORITY */
	bool expedite;
};
/* Same id and same content as a known order: 0 (nothing changes). */
int sales_order_place(struct sales *s, const struct sales_actor *a,
		      const struct sales_order_req *r, char *err, size_t errlen);
/* Only valid transitions; the current state again: 0, nothing changes. */
int sales_order_status(struct sales *s, const struct sales_actor *a, const char *order_id,
		       enum sales_order_state st, const char *reason, char *err, size_t errlen);

struct sales_lead_req {
	const char *lead_id;       /* may be NULL: the engine assigns one */
	const char *call_id;
	const char *name, *company, *street, *postal_code, *city, *country;
	const char *phone, *email;
	bool consent_contact, consent_marketing, consent_share;
	const char *const *products;
	size_t n_products;
};
struct sales_lead_result {
	const char *lead_id;
	bool qualified;
};
int sales_lead(struct sales *s, const struct sales_actor *a, const struct sales_lead_req *r,
	       struct sales_lead_result *out, char *err, size_t errlen);

/* QA / survey score 0..5 for a call (admin). One per call and form. */
int sales_qa(struct sales *s, const struct sales_actor *a, const char *call_id, double score,
	     const char *form_id, const char *reviewer, char *err, size_t errlen);

enum sales_complaint_action { SALES_CMP_ACK = 1, SALES_CMP_RESOLVE = 2 };
int sales_complaint_update(struct sales *s, const struct sales_actor *a, const char *id,
			   enum sales_complaint_action act, const char *by, char *err,
			   size_t errlen);

/* Take a partner out of routing (drain) or back (admin). */
int sales_drain(struct sales *s, const struct sales_actor *a, const char *target_id, bool drain,
		const char *reason, char *err, size_t errlen);

struct sales_erase_result {
	const char *erasure_id;
	uint32_t leads, calls, followups;
	bool redis_pending;
};
/* Erase a person's data by phone and/or email (admin). */
int sales_erase(struct sales *s, const struct sales_actor *a, const char *phone,
		const char *email, const char *reference, struct sales_erase_result *out,
		char *err, size_t errlen);

/* ---- queries ---- */

/* One KPI bucket (or a total over buckets). */
struct sales_kpi {
	uint64_t offered, answered, abandoned, answered_in_sl, answer_ms_sum;
	uint64_t handled, handle_ms_sum, closed, orders, cancelled, missed;
	int64_t revenue_minor, commission_minor, lead_fees_minor;
	uint64_t leads, qualified_leads, followups_open, complaints_open, followups_done;
	uint64_t qa_count;
	double qa_sum;
};

struct sales_kpi_row {
	enum sales_dim dim;
	const char *name;
	uint64_t bucket_ms;        /* 0 in totals */
	struct sales_kpi k;
};

struct sales_kpi_query {
	enum sales_dim dim;        /* 0 = every dimension */
	const char *name;          /* NULL or "" = every name */
	uint64_t from_ms, to_ms;   /* bucket starts in [from, to); to 0 = now */
	bool total;                /* one row per series, summed */
};

/* Rows matching q, sorted by dimension, name, bucket (heap array, caller
 * frees with free(); names borrowed until the next call into the module).
 * Returns the count or -SALES_EINVAL / -SALES_ENOMEM. */
long sales_kpi_query(struct sales *s, const struct sales_kpi_query *q, struct sales_kpi_row **out);

/* The same as JSON text ({"bucket_ms":900000,"currency":"EUR","rows":[...]}),
 * heap (caller frees), for the HTTP API. NULL on error. */
char *sales_kpi_json(struct sales *s, const struct sales_kpi_query *q);

/* Open-order backlog of one territory / partner (or all). */
struct sales_backlog {
	enum sales_dim dim;
	const char *name;
	uint32_t open;
	uint32_t by_state[SALES_ORD_COUNT];
	uint32_t age[4];           /* < 1 day, 1-3 days, 3-7 days, > 7 days */
	uint32_t by_priority[SALES_MAX_PRIORITY + 1];
	uint32_t expedited;
	const char *oldest_order;  /* NULL when none */
	uint64_t oldest_ms;
	int64_t open_amount_minor;
};

struct sales_backlog_order {
	const char *order_id, *call_id, *target_id, *territory;
	enum sales_order_state state;
	uint32_t priority;
	bool expedite;
	int64_t amount_minor;
	uint64_t placed_ms;
	uint64_t age_ms;
};

/*
 * Backlog summaries for dim (ALL, TERRITORY or PARTNER; name NULL = every
 * name) and up to limit open orders, expedited first, then by priority
 * (highest first), then oldest first. Heap arrays, caller frees both;
 * strings borrowed until the next call. Returns 0 or -SALES_EINVAL / -ENOMEM.
 */
int sales_backlog_query(struct sales *s, enum sales_dim dim, const char *name, uint32_t limit,
			struct sales_backlog **sums, size_t *n_sums,
			struct sales_backlog_order **orders, size_t *n_orders);
char *sales_backlog_json(struct sales *s, enum sales_dim dim, const char *name, uint32_t limit);

/* A partner's contract measured on its rolling window. */
struct sales_contract {
	const char *target_id;
	uint32_t window_calls, answered, abandoned, closed, qa_count;
	double avg_answer_ms, abandon_rate, closure_rate, satisfaction;
	uint32_t target_answer_ms;
	double max_abandon, min_closure, min_satisfaction;
	bool breach_answer, breach_abandon, breach_closure, breach_satisfaction, in_breach;
	uint64_t breach_since_ms;
	double penalty, routing_closure;
	bool draining;
};
/* Every partner (target_id NULL) or one: heap array, caller frees. Returns
 * the count or -SALES_ENOENT (not a partner) / -SALES_ENOMEM. */
long sales_contracts(struct sales *s, const char *target_id, struct sales_contract **out);
char *sales_contracts_json(struct sales *s, const char *target_id);

/* Counters for metrics and tests. */
struct sales_stats {
	uint64_t records;          /* call records in memory */
	uint64_t records_expired, records_evicted;
	uint64_t dispositions, undisposed;  /* flagged: no disposition in time */
	uint64_t orders, orders_open, orders_cancelled;
	uint64_t leads, leads_in_memory, leads_qualified, leads_dropped;
	uint64_t followups_created, followups_open, followups_done, followups_failed;
	uint64_t followup_attempts;
	uint64_t complaints_opened, complaints_open, complaints_escalated, complaints_overdue;
	uint64_t qa_scores;
	uint64_t breaches, recoveries;
	uint64_t erasures, erasures_done;
	uint64_t kpi_series;
};
void sales_stats(const struct sales *s, struct sales_stats *out);

/* The currency of every amount (sales.currency). */
const char *sales_currency(const struct sales *s);

#ifdef __cplusplus
}
#endif
#endif /* CL_SALES_H */
