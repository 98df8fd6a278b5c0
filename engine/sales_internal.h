/*
 * sales_internal.h — what the files of the sales module share: the module
 * object, the call records and the objects built on them, and the functions
 * each file offers the others. Private to the sales module.
 *
 * Files: sales.c (the object, call records from router events,
 * dispositions, erasure, Redis resync), sales_order.c (orders, backlog),
 * sales_lead.c (leads), sales_kpi.c (KPI buckets, rolling windows,
 * contracts, QA), sales_task.c (follow-up tasks, complaints), sales_json.c
 * (JSON views), sales_wire.c (the protocol messages).
 *
 * Ownership: struct sales owns every object below. Strings inside them are
 * heap copies owned by their object (a call record's fixed strings share its
 * allocation; its target id is borrowed from the module's target object). Personal data (caller numbers, lead
 * fields) lives only in call records, leads and follow-up tasks, which is
 * where erasure looks.
 */
#ifndef CL_SALES_INTERNAL_H
#define CL_SALES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) ((obj)->oom = true)
#include <uthash.h>

#include "owner.h"
#include "pub.h"
#include "rt_heap.h"
#include "sales.h"

struct event;
struct cl_config;

#define SALES_CALL_ID_MAX 96       /* attempt call ids: "<task id>-<attempt>" */
#define SALES_DIMS_CALL ((1u << SALES_DIM_ALL) | (1u << SALES_DIM_TERRITORY) | (1u << SALES_DIM_QUEUE))
#define SALES_DIMS_TARGET ((1u << SALES_DIM_PARTNER) | (1u << SALES_DIM_REP))
#define SALES_DIMS_EVERY (SALES_DIMS_CALL | SALES_DIMS_TARGET)

/* Call record flags. */
enum {
	SC_LIVE = 1u << 0,       /* the router still has the call */
	SC_ANSWERED = 1u << 1,   /* connected to a target */
	SC_FOLLOWUP = 1u << 2,   /* a follow-up attempt offered by the module */
	SC_CLOSED = 1u << 3,     /* the sale closed (order or ORDERED) */
	SC_FLAGGED = 1u << 4,    /* reported as undisposed */
	SC_IN_ENDED = 1u << 5,   /* on the ended list */
	SC_IN_UNDISP = 1u << 6,  /* on the undisposed-watch list */
	SC_ERASE = 1u << 7,      /* erasure: remove (second pass) */
};

/*
 * Call records by id: open addressing with linear probing, each slot holding
 * the id's hash next to the record. Up to max_records (200,000 by default)
 * records, almost all ended: the lookup every new call makes (is its id
 * reused?) nearly always misses, and a miss here reads one or two slots of
 * a contiguous array, where a chained table (uthash) walks records spread
 * over the heap, one cache miss per link. Removal shifts the cluster back
 * (no tombstones). Load stays under 3/4; 16 bytes per slot.
 */
struct sales_cslot {
	uint64_t h;                /* 0 = empty */
	struct sales_call *c;
};

struct sales_ctab {
	struct sales_cslot *v;
	size_t mask;               /* slots - 1; v == NULL: no slots yet */
	size_t n;
	size_t first_cap;          /* slots of the first allocation (power of 2) */
};

/* A QA score of a call (one per form). */
struct sales_qa_ent {
	struct sales_qa_ent *next;
	char *form;
	double score;
};

/* One call, from CallOffered until record_retention_s after its end. */
struct sales_call {
	uint64_t h;                /* hash of id: its slot in s->calls */
	struct sales_call *prev, *next;   /* ended list, oldest end first */
	struct sales_call *uprev, *unext; /* answered, ended, not disposed */
	/* id .. plan live in the record's own allocation (one malloc per call);
	 * "" is kept as NULL. Erasure wipes caller and postal in place. */
	char *id;
	char *caller;              /* personal: erasable */
	char *callback;            /* personal: callback number, heap, may be NULL */
	char *postal;              /* personal (with the number): erasable */
	char *dialed, *segment, *territory, *plan;
	const char *target;        /* reserved or answering target (tgt->id), NULL = none */
	struct sales_target *tgt;  /* that target's window; targets live as long as the module */
	int target_kind;           /* CFG_KIND_* of target */
	/* The router's call while the record is live and attached to it
	 * (rt_call_set_user points back here); NULL once ended. rc_gen is
	 * s->rt_gen at the time: a call of an older router is never touched. */
	const struct rt_call *rc;
	uint64_t rc_gen;
	uint64_t skills;
	uint32_t priority;
	uint32_t flags;
	uint64_t offered_ms, reserved_ms, answered_ms, ended_ms;
	int end;                   /* enum rt_end, 0 while live */
	enum sales_outcome outcome;
	uint32_t n_orders;
	uint64_t win_seq;          /* entry of the target's window, 0 = none */
	char *result_id;           /* task or complaint its disposition created */
	struct sales_qa_ent *qa;   /* scores by form */
	/* KPI series of the call (all, territory, queue, target), found once:
	 * series live as long as the module. NULL = not looked up yet. */
	struct sales_series *ser[4];
};

/* ---- KPIs ---- */

struct sales_bucket {
	uint64_t start_ms;
	struct sales_kpi k;
	bool dirty;
};

/* One time series: a dimension and a name (territory, target, plan). */
struct sales_series {
	UT_hash_handle hh;         /* s->series by key */
	bool oom;
	struct sales_series *dnext; /* dirty list */
	bool in_dirty;
	enum sales_dim dim;
	char *name;
	char *key;                 /* "<dim>:<name>" */
	struct sales_bucket *b;    /* sorted by start_ms */
	size_t n, cap;
	uint64_t g_followups, g_complaints; /* gauges now */
};

/* Rolling window entry of a target. */
struct sales_win {
	uint64_t seq;              /* 0 = empty */
	uint64_t ts_ms;
	uint32_t answer_ms;        /* reservation to answer */
	uint8_t answered, abandoned, closed;
};

struct sales_score {
	uint64_t ts_ms;
	double score;
};

/* Per target: windows, contract state, the weights fed to the router. */
struct sales_target {
	UT_hash_handle hh;         /* s->targets by id */
	bool oom;
	char *id;
	int kind;                  /* CFG_KIND_* */
	int cfg_idx;               /* in the current config, -1 = removed */
	struct sales_win *win;     /* ring of sla.window_calls */
	uint32_t win_cap, win_head; /* next slot */
	uint64_t win_seq;
	struct sales_score *qa;    /* ring of sla.window_calls scores */
	uint32_t qa_head;
	bool dirty;                /* on s->tdirty: re-evaluate at the next tick */
	struct sales_target *dnext;
	bool breach[4];            /* answer, abandon, closure, satisfaction */
	bool in_breach;
	uint64_t breach_since_ms;
	double penalty, closure;   /* last given to the router */
	bool perf_set;
	struct sales_series *ser;  /* its KPI series (partner or rep), NULL = not looked up */
	uint64_t contract_pub_ms;  /* its contract hash was last published then */
	uint64_t eval_ms;          /* its contract was last evaluated then */
};

/* ---- orders ---- */

struct sales_order {
	UT_hash_handle hh;         /* s->orders by id */
	bool oom;
	struct sales_order *prev, *next; /* open list, or closed list (oldest first) */
	char *id, *call_id, *target, *territory, *plan;
	int target_kind;
	int64_t amount, commission;
	char currency[4];
	struct sales_item *items;  /* sku strings owned */
	size_t n_items;
	uint32_t priority;
	bool expedite;
	bool followup;             /* taken on a follow-up call */
	enum sales_order_state state;
	uint64_t placed_ms, state_ms;
};

/* A backlog view (dim, name), recomputed from the open list. */
struct sales_blent {
	UT_hash_handle hh;         /* s->backlog by key "<dim>:<name>" */
	bool oom;
	char *key;
	const char *name;          /* inside key */
	enum sales_dim dim;
	struct sales_backlog bl;
};

/* ---- leads ---- */

struct sales_lead {
	UT_hash_handle hh;         /* s->leads by id */
	bool oom;
	struct sales_lead *prev, *next; /* oldest first */
	char *id, *call_id, *target, *territory;
	char *f[8];                /* name, company, street, postal, city, country, phone, email */
	char *products;            /* comma-separated */
	bool consent[3];
	bool qualified;
	int64_t fee;
	uint64_t captured_ms;
};
enum { LF_NAME, LF_COMPANY, LF_STREET, LF_POSTAL, LF_CITY, LF_COUNTRY, LF_PHONE, LF_EMAIL };

/* ---- follow-up tasks ---- */

enum sales_task_state {
	ST_SCHEDULED = 1, /* waits for due_ms */
	ST_WAITING,       /* attempt offered, queued or ringing */
	ST_ACTIVE,        /* the target accepted: talking */
	ST_DONE,          /* reached the customer */
	ST_FAILED,        /* max attempts without contact */
	ST_CANCELLED,     /* erased */
};

struct sales_task {
	UT_hash_handle hh;         /* s->tasks by id */
	UT_hash_handle hc;         /* s->task_calls by attempt call id */
	bool oom;
	struct sales_task *prev, *next; /* finished list, oldest first */
	struct rt_hnode hn;        /* s->task_heap: due or attempt deadline */
	char *id;
	char *origin;              /* call the task came from */
	char *number;              /* personal: whom to call */
	char *postal;              /* personal */
	char *dialed, *segment, *territory, *plan;
	char *target;              /* preferred: who spoke to the customer */
	int target_kind;
	uint64_t skills;
	enum sales_task_state state;
	uint32_t attempts;         /* offered so far */
	uint32_t misses;           /* attempts in a row that did not reach the customer */
	uint64_t due_ms, created_ms, attempt_ms, finished_ms;
	char call_id[SALES_CALL_ID_MAX]; /* current attempt's call, "" = none */
	char *result;              /* outcome of the last attempt ("" none) */
};

/* ---- complaints ---- */

enum sales_complaint_state { SCMP_OPEN = 1, SCMP_ACKNOWLEDGED, SCMP_RESOLVED };

struct sales_complaint {
	UT_hash_handle hh;         /* s->complaints by id */
	bool oom;
	struct sales_complaint *prev, *next; /* resolved list */
	struct rt_hnode hn;        /* s->cmp_heap by deadline (open ones) */
	char *id, *call_id, *target, *territory, *plan, *category, *ack_by;
	int target_kind;
	uint32_t level;
	enum sales_complaint_state state;
	bool overdue;
	uint32_t escalations;
	uint64_t opened_ms, deadline_ms, resolved_ms;
};

/* An erasure whose Redis scrub has not finished. */
struct sales_erasing {
	struct sales_erasing *next;
	char id[64];
};

/* ---- the module ---- */

struct sales {
	struct cl_owner owner;     /* first: the owner of follow-up calls */
	struct event_base *base;
	const struct cl_config *cfg; /* borrowed */
	struct rt *rt;             /* borrowed */
	struct pub *pub;           /* borrowed, NULL = not publishing */
	int ix_followups, ix_complaints, ix_orders; /* pub index sets */
	struct event *tick;
	uint64_t (*now_fn)(void *arg);
	void *now_arg;
	uint64_t boot_ms;          /* ids made by the module: <kind>-<boot_ms>-<n> */
	uint64_t seq;

	struct sales_ctab calls;   /* records by id */
	struct sales_call *last_call; /* the record found last (cache) */
	uint64_t rt_gen;           /* bumped by sales_set_rt: see sales_call.rc */
	struct sales_series *hot[3]; /* series all / territory / queue used last */
	struct sales_call *ended_head, *ended_tail;
	struct sales_call *undisp_head, *undisp_tail;
	uint64_t n_calls;

	struct sales_series *series;
	struct sales_series *dirty;
	struct sales_target *targets;

	struct sales_order *orders;
	struct sales_order *open_head, *open_tail;
	struct sales_order *closed_head, *closed_tail;
	uint64_t n_orders, n_open;
	struct sales_blent *backlog;
	bool backlog_dirty;

	struct sales_lead *leads;
	struct sales_lead *lead_head, *lead_tail;
	uint64_t n_leads;

	struct sales_task *tasks, *task_calls;
	struct sales_task *tdone_head, *tdone_tail;
	struct rt_heap task_heap;
	uint64_t n_tasks;

	struct sales_complaint *complaints;
	struct sales_complaint *cdone_head, *cdone_tail;
	struct rt_heap cmp_heap;
	uint64_t n_complaints;

	struct sales_erasing *erasing_head, *erasing_tail;
	uint64_t gauge_bucket;     /* bucket the gauges were last carried into */
	struct sales_target *tdirty; /* targets to evaluate at the next tick */
	struct sales_target *eval_cursor; /* ageing pass: next target */

	struct sales_stats st;
	char idbuf[64];            /* ids handed out by the last request */
	uint64_t last_flush_ms;
	bool kpi_more;             /* dirty KPI series left by the last flush */
	uint32_t contract_pubs;    /* contract hashes published this tick */
};

/* ---- sales.c ---- */

uint64_t sales_now(const struct sales *s);
/* "<kind>-<boot_ms>-<n>" into s->idbuf; returns it. */
const char *sales_make_id(struct sales *s, const char *kind);
struct sales_call *sales_call_find(struct sales *s, const char *id);
/* Publish an event on the stream; extra is a NULL-terminated key, value list. */
void sales_emit(struct sales *s, const char *type, const char *call, const char *target,
		const char *territory, const char *state, const char *reason, ...);
/* Error text helper: formats into err (may be NULL); returns -code. */
int sales_fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The call a rep or partner acts on: known, answered by it (or admin). */
int sales_own_call(struct sales *s, const struct sales_actor *a, const char *call_id,
		   const char *what, struct sales_call **out, char *err, size_t errlen);
/* Mark a call closed (first order or ORDERED): KPIs and the target's window. */
void sales_call_closed(struct sales *s, struct sales_call *c, uint64_t now);
char *sales_strdup0(const char *s); /* NULL and "" give NULL */
bool sales_str_ok(const char *s, size_t max, bool word);

/* ---- sales_kpi.c ---- */

/* The bucket of (dim, name) holding t; created as needed. NULL = no memory
 * or older than the buckets kept. */
struct sales_kpi *sales_kpi_at(struct sales *s, enum sales_dim dim, const char *name, uint64_t t);
struct sales_series *sales_series_get(struct sales *s, enum sales_dim dim, const char *name);
/* The bucket of series x holding t, marked changed; NULL as sales_kpi_at. */
struct sales_kpi *sales_series_at(struct sales *s, struct sales_series *x, uint64_t t);
/* Apply fn to the buckets of a call's dimensions: all, territory, queue and
 * (when target is set) partner or rep. */
void sales_kpi_each(struct sales *s, unsigned dims, const char *territory, const char *plan,
		    const char *target, int target_kind, uint64_t t,
		    void (*fn)(struct sales_kpi *k, void *arg), void *arg);
/* Gauges (open follow-ups, open complaints) of a call's dimensions. */
void sales_kpi_gauge(struct sales *s, const char *territory, const char *plan, const char *target,
		     int target_kind, int followups, int complaints);
/* Publish the dirty KPI buckets (all: every bucket, for a resync). At most
 * SALES_KPI_PUB_TICK series per call unless all; returns true when dirty
 * series are left for the next call. */
bool sales_kpi_flush(struct sales *s, uint64_t now, bool all);
void sales_kpi_free(struct sales *s);

struct sales_target *sales_target_get(struct sales *s, const char *id, int kind);
void sales_target_dirty(struct sales *s, struct sales_target *t);
/* Window entries: a reservation that ended answered or abandoned. Returns
 * the entry's seq (for sales_win_closed). */
uint64_t sales_win_add(struct sales *s, const char *target, int kind, uint64_t now,
		       bool answered, uint32_t answer_ms);
void sales_win_closed(struct sales *s, const char *target, uint64_t seq);
/* The same on a target already found (the call records keep theirs). t may be NULL. */
uint64_t sales_win_add_t(struct sales *s, struct sales_target *t, uint64_t now, bool answered,
			 uint32_t answer_ms);
void sales_win_closed_t(struct sales *s, struct sales_target *t, uint64_t seq);
void sales_win_score(struct sales *s, const char *target, int kind, uint64_t now, double score);
/* Evaluate dirty targets: contracts, breaches, router weights. */
void sales_contracts_eval(struct sales *s, uint64_t now);
void sales_targets_config(struct sales *s); /* after a config change */
void sales_targets_free(struct sales *s);
void sales_contract_fill(struct sales *s, struct sales_target *t, uint64_t now,
			 struct sales_contract *out);

/* ---- sales_order.c ---- */

int64_t sales_commission(const struct sales *s, const char *target, int kind, int64_t amount);
void sales_orders_expire(struct sales *s, uint64_t now);
void sales_orders_publish(struct sales *s, bool all);
void sales_orders_free(struct sales *s);

/* ---- sales_lead.c ---- */

/* Normalise a phone number to E.164 (+ and 6..15 digits, spaces, dots,
 * dashes and parentheses dropped) into out (at least 17 bytes). 0 or -1. */
int sales_phone_norm(const char *in, char *out, size_t len);
/* Lower-case a plausible email address into out. 0 or -1. */
int sales_email_norm(const char *in, char *out, size_t len);
void sales_leads_expire(struct sales *s, uint64_t now);

/* Whose data an erasure removes: normalised phones and emails, and the
 * calls found to be theirs. Lists of heap strings, without repeats. */
struct sales_person {
	char **phones, **emails, **calls;
	size_t n_phones, n_emails, n_calls;
};
/* what: 0 phone, 1 email, 2 call id. 0 or -1 (no memory). */
int sales_person_add(struct sales_person *p, int what, const char *v);
bool sales_person_has(char *const *l, size_t n, const char *v);
void sales_person_free(struct sales_person *p);
/* Remove the person's leads, adding the phones, emails and calls they name
 * to p. Returns how many leads. */
uint32_t sales_leads_erase(struct sales *s, struct sales_person *p);
void sales_leads_free(struct sales *s);

/* ---- sales_task.c ---- */

int sales_task_create(struct sales *s, struct sales_call *c, uint64_t due_ms, const char **id,
		      char *err, size_t errlen);
/* The task whose current attempt is call_id, or NULL. */
const char *sales_task_id_of_call(const struct sales *s, const char *call_id);
/* A disposition on a follow-up attempt call. */
void sales_task_result(struct sales *s, struct sales_call *c, enum sales_outcome o, uint64_t due);
/* Router events of attempt calls. */
void sales_task_event(struct sales *s, struct sales_call *c, const struct rt_event *ev);
void sales_tasks_tick(struct sales *s, uint64_t now);
/* Remove the tasks of a person (by number or origin call); their attempt
 * calls join p->calls. */
uint32_t sales_tasks_erase(struct sales *s, struct sales_person *p);
void sales_tasks_publish(struct sales *s);
void sales_tasks_free(struct sales *s);

int sales_complaint_open(struct sales *s, struct sales_call *c, const char *category,
			 const char **id, char *err, size_t errlen);
void sales_complaints_tick(struct sales *s, uint64_t now);
void sales_complaints_publish(struct sales *s);
void sales_complaints_free(struct sales *s);

#endif /* CL_SALES_INTERNAL_H */
