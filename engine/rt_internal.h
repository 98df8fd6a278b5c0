/*
 * rt_internal.h — the router's data structures, shared by rt.c (call and
 * target lifecycle) and rt_queue.c (queues, membership, strategy keys).
 * Engine-private: nothing outside rt*.c includes it.
 */
#ifndef CL_RT_INTERNAL_H
#define CL_RT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uthash.h>

#include <closeloop/plugin.h>

#include "cfg.h"
#include "rt.h"
#include "rt_arena.h"
#include "rt_heap.h"

struct event;

#define RT_PREF CFG_MAX_STEPS /* w[] slot of the preferred-target queue */
#define RT_SET_TARGET 3       /* rt_qkey.set: one target, index in terr */

/* Identity of a queue: every plan step of every call maps onto one. */
struct rt_qkey {
	int32_t terr;      /* territory index, -1 = any; target index for RT_SET_TARGET */
	uint8_t set;       /* enum cfg_set, or RT_SET_TARGET */
	uint8_t min_prof;  /* 1..5 */
	uint8_t strategy;  /* enum cfg_strategy */
	uint8_t pad;       /* zero: the key is hashed as bytes */
	uint64_t mask;     /* skills every member holds */
};

struct rt_queue {
	/* First cache line (64 bytes, the arena aligns): what a lookup, a
	 * pick and a re-listing touch. */
	struct rt_qkey key;
	struct rt_heap avail;   /* available members, by the strategy's key */
	cl_plugin_key_fn skey;  /* the strategy (rt_strategy.c): key of a member */
	void *sstate;           /* its state, borrowed */
	/* The rest. */
	char *name;
	struct rt_heap wait;    /* waiting calls, by priority then age */
	uint32_t n_members;
	uint32_t idx;           /* position in rt->queues_v */
	struct cl_queue_view view; /* what the strategy sees of the queue; passed by
	                              address, read only by strategies that need it */
};

struct rt_qslot {
	uint64_t h; /* 0 = empty */
	struct rt_queue *q;
};

/* A target's membership of one queue. */
struct rt_member {
	struct rt_hnode hn;     /* in q->avail while the target is available */
	struct rt_queue *q;
	struct rt_target *t;
};

struct rt_target {
	/* First cache line: everything a pick and a reservation touch. */
	enum rt_target_state state; /* LOGGED_OUT, READY or NOT_READY */
	bool paused;            /* resting after a miss */
	bool draining;
	bool closed;            /* its calendar is closed now */
	bool needs_accept;      /* copies of cfg fields read on every decision */
	uint32_t active;        /* seats held: reserved + connected + wrap-up */
	uint32_t capacity;
	uint32_t idx;
	uint32_t wrapup_ms;
	uint64_t idle_since;    /* monotonic µs: ready, seat freed or last offer */
	uint64_t offered;
	uint64_t last_offer_seq;
	struct rt_call *seats;  /* calls holding a seat (list via seat_next/prev) */
	const char *id;         /* cfg->id */
	void *session;
	/* Second line: re-listing after a call, and the colder rest. */
	uint64_t answered;
	struct rt_member **mem; /* mem_inline, or malloc'd past 4; nodes in the arena */
	uint32_t n_mem, cap_mem;
	struct rt_member *mem_inline[4];
	const struct cfg_target *cfg;
	struct rt *rt;
	uint32_t wrapping;      /* seats in wrap-up */
	uint32_t misses;        /* consecutive no-answers */
	uint32_t mark;          /* queue-build stamp (dedupe) */
	double weight_share;    /* > 0 */
	double score;           /* performance: closure x proficiency x penalty */
	double closure;         /* measured (or configured prior) closure rate */
	double penalty;         /* 0 < penalty <= 1: contract breach lowers weights */
	uint64_t since_wall, last_end_wall;
	struct event *pause_ev;
	UT_hash_handle hh;      /* by cfg->id */
	char reason[64];
} __attribute__((aligned(64)));

/* A call's place in one queue's wait heap. */
struct rt_wait {
	struct rt_hnode hn;
	struct rt_queue *q;
	struct rt_call *c;
};

struct rt_call {
	UT_hash_handle hh;      /* by id, while live (not in wrap-up) */
	char *id, *caller, *dialed, *postal, *segment; /* in the same allocation */
	uint64_t mask;          /* required skills incl. language */
	int first_skill;        /* the first named skill, -1 = none */
	uint32_t priority;
	int terr;
	const struct cfg_plan *plan;
	uint32_t step;
	enum rt_call_state state;
	/* w[s].q: queue of plan step s (NULL = skipped or not reached);
	 * w[RT_PREF].q: the preferred target's own queue, if any. */
	struct rt_wait w[CFG_MAX_STEPS + 1];
	uint32_t n_wait;
	struct rt_target *target;
	uint64_t resv_id;
	bool needs_accept, accepted;
	bool routed;            /* the owner has the RouteCall of this reservation */
	bool counted_routed;    /* counted in st.routed (once per call) */
	bool in_plan;           /* plan steps entered (false while only the preferred target) */
	bool callback;          /* the caller hung up and waits for a call back */
	char callback_number[40];
	uint32_t misses;
	uint64_t seq;           /* offer order: age key */
	uint64_t offered_mono;
	uint64_t offered_wall, answered_wall, ended_wall;
	void *owner;
	uint64_t owner_seq;
	struct event *tmo;      /* step, ring or wrap-up deadline; inside this allocation */
	struct rt_call *seat_next, *seat_prev;
	bool in_table;
	struct rt *rt;
	void *user;             /* rt_call_set_user: borrowed, never read here */
};

/* A calendar's open state, valid until the next wall-clock minute. */
struct rt_cal {
	uint64_t until_ms;              /* wall clock, ms; 0 = not known yet */
	bool open;
};

struct rt {
	struct event_base *base;
	const struct cl_config *cfg;
	const struct terr_index *ti;
	struct rt_hooks hooks;
	void *hook_arg;

	struct rt_target *targets;      /* array in the arena, cfg order */
	uint32_t n_targets;
	struct rt_target *by_id;        /* uthash head */
	uint32_t **serving;             /* per territory: target indexes serving it */
	uint32_t *n_serving;
	uint32_t **children;            /* per territory: child territories */
	uint32_t *n_children;
	struct skill_ent *skills_by_name;

	struct rt_qslot *qtab;          /* open-addressing table of queues */
	uint32_t qtab_mask;
	struct rt_queue **queues_v;     /* all queues, creation order */
	uint32_t n_queues, cap_queues;
	uint32_t mark;
	struct rt_arena arena;          /* targets, queues, members, avail heaps */
	struct rt_target **scratch;     /* queue build: candidate members */
	uint32_t scratch_cap;

	struct rt_call *calls;          /* uthash head: live calls */
	uint32_t n_live;
	uint32_t n_waiting;
	uint64_t call_seq, resv_seq, offer_seq;
	uint64_t now_mono, now_wall;    /* µs (never decreasing) and ms, read by rt_tick */
	struct rt_cal *cals;            /* per calendar of the config: its state, cached */
	struct event *cal_ev;           /* each minute: targets' calendars (none without) */
	uint32_t *cal_targets;          /* indexes of the targets with a calendar */
	uint32_t n_cal_targets;
	size_t event_size;              /* struct event, allocated inside each call */
	uint64_t rng;
	double avg_handle_ms;           /* EWMA, for the estimated wait */

	struct rt_stats st;

	const struct rt_strategy *strats; /* plugin strategies (rt_set_strategies), borrowed */
	uint32_t n_strats;
	uint64_t random_pick;   /* bit s: strategy s picks at random (CL_STRATEGY_RANDOM_PICK) */
	uint64_t lean_view;     /* bit s: strategy s reads only the lean target view */
};

static inline bool rt_target_available(const struct rt_target *t)
{
	return t->state == RT_TARGET_READY && !t->paused && !t->draining && !t->closed &&
	       t->active < t->capacity && (!t->needs_accept || t->session);
}

/* ---- rt_queue.c ---- */
/* Read the clocks once per router entry point; rt_now_* return that reading. */
void rt_tick(struct rt *rt);
static inline uint64_t rt_now_mono(const struct rt *rt) { return rt->now_mono; }
static inline uint64_t rt_now_wall(const struct rt *rt) { return rt->now_wall; }
uint64_t rt_rand(struct rt *rt);

/* Queue for key (created, with its members, on first use); NULL on ENOMEM. */
struct rt_queue *rt_queue_get(struct rt *rt, const struct rt_qkey *key);
void rt_queues_free(struct rt *rt);
/* Put every member of t in its avail heap, or re-key them if already there. */
int rt_target_avail_insert(struct rt *rt, struct rt_target *t);
/* The member q would give a call now (popping stale entries), or NULL. */
struct rt_target *rt_queue_pick(struct rt *rt, struct rt_queue *q);
/* Members of q that could take a call now (a scan: views only). */
uint32_t rt_queue_available(const struct rt_queue *q);
/* Best waiting call among t's queues, or NULL. */
struct rt_call *rt_target_best_waiting(const struct rt *rt, const struct rt_target *t);

/* ---- rt_strategy.c ---- */
/* The built-in strategy s (enum cfg_strategy), or NULL. */
const struct cl_plugin_ops *rt_strategy_builtin(unsigned s);
/* Bind a new queue (key and name set) to its strategy and fill its view. */
void rt_queue_strategy_init(struct rt *rt, struct rt_queue *q);

/*
 * What a strategy sees of t, at the router's current clock, in two parts.
 * The lean part comes from the target's first two cache lines, which a
 * re-listing touches anyway (prof is an address, not a read). The rest
 * (kind, territories, share, closure score) lives in its configuration and
 * its third line: rt_target_view_full adds it, once per re-listing, before
 * the first queue whose strategy is not lean (rt->lean_view): every plugin
 * and the share and performance built-ins. No copies are kept.
 */
static inline void rt_target_view(const struct rt *rt, const struct rt_target *t,
				  struct cl_target_view *v)
{
	v->size = sizeof *v;
	v->index = t->idx;
	v->id = t->id;
	v->kind = 0;
	v->capacity = t->capacity;
	v->active = t->active;
	v->n_territories = 0;
	v->territories = NULL;
	v->prof = t->cfg->prof;
	v->now_us = rt->now_mono;
	v->idle_since_us = t->idle_since;
	v->last_offer_seq = t->last_offer_seq;
	v->offered = t->offered;
	v->answered = t->answered;
	v->share = 0;
	v->closure_score = 0;
}

static inline void rt_target_view_full(const struct rt_target *t, struct cl_target_view *v)
{
	const struct cfg_target *c = t->cfg;
	v->kind = (uint32_t)c->kind;
	v->n_territories = (uint32_t)c->n_territories;
	v->territories = c->territories;
	v->share = t->weight_share;
	v->closure_score = t->score;
}

#endif /* CL_RT_INTERNAL_H */
