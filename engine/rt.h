/*
 * rt.h — the router: calls, targets, queues, strategies, reservations and
 * escalation, on one libevent loop.
 *
 * The router knows nothing of sockets or Redis. Callers (the server, tests,
 * the benchmark) feed it events with rt_call_* / rt_target_* and learn what it
 * decided through the hooks in struct rt_hooks, which it calls synchronously
 * from inside those functions and from its own timers. Every function here
 * returns 0 or a negative RT_E* code and changes nothing when it fails.
 *
 * Model (docs/routing.md has the long version):
 * - A call resolves to a territory and a plan; each plan step names a target
 *   set (territory scope, kind, required skills, minimum proficiency) and a
 *   strategy. Each distinct (territory, kind, skills, min proficiency,
 *   strategy) is a queue, created on first use; a target is a member of every
 *   queue it qualifies for.
 * - Each queue keeps its available members in a heap ordered by the
 *   strategy's key and its waiting calls in a heap ordered by priority then
 *   age, so a decision never scans targets.
 * - Escalation is cumulative: at step k a call waits in the queues of steps
 *   0..k, so widening never loses the targets that were eligible before.
 *
 * Loop thread only. Pointers passed to hooks are valid only during the hook.
 */
#ifndef CL_RT_H
#define CL_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct cl_config;
struct terr_index;
struct rt;
struct rt_call;
struct rt_target;
struct cl_plugin_ops;
struct cl_plugin_option;

enum {
	RT_OK = 0,
	RT_ENOMEM = 1,
	RT_EINVAL = 2,     /* malformed argument (empty id, unknown skill, ...) */
	RT_ENOCALL = 3,    /* unknown call id */
	RT_ENOTARGET = 4,  /* unknown target id */
	RT_EEXIST = 5,     /* call id already live */
	RT_ESTATE = 6,     /* event out of order */
	RT_EFORBIDDEN = 7, /* the call or target belongs to someone else */
	RT_ELIMIT = 8,     /* max_calls reached */
};

/* Short text for an RT_E* code (positive or negative). */
const char *rt_strerror(int err);

enum rt_call_state {
	RT_CALL_QUEUED = 1,    /* waiting for a target */
	RT_CALL_RESERVED = 2,  /* a target is reserved; offered / ringing */
	RT_CALL_CONNECTED = 3, /* answered */
	RT_CALL_WRAPUP = 4,    /* ended; the target's seat is in wrap-up */
	RT_CALL_ENDED = 5,     /* gone (reported in events only) */
};

enum rt_target_state {
	RT_TARGET_LOGGED_OUT = 1,
	RT_TARGET_READY = 2,
	RT_TARGET_NOT_READY = 3,
	RT_TARGET_WRAP_UP = 4, /* reported only: READY with every busy seat in wrap-up */
};

enum rt_reject {
	RT_REJECT_NO_ROUTE = 1,
	RT_REJECT_PLAN = 2,
	RT_REJECT_CALLBACK = 3,
	RT_REJECT_QUEUE_FULL = 4,
	RT_REJECT_SHUTDOWN = 5,
	RT_REJECT_DRAINED = 6,
};

/* Why a call ended (events and counters). */
enum rt_end {
	RT_END_COMPLETED = 1, /* CallEnded after answer */
	RT_END_ABANDONED = 2, /* caller hung up before answer */
	RT_END_REJECTED = 3,
	RT_END_OWNER_LOST = 4, /* the PBX connection that owned it went away */
};

/* Every state change, for the publisher and the event stream. */
enum rt_event_type {
	RT_EV_CALL_OFFERED = 1,
	RT_EV_CALL_QUEUED,
	RT_EV_CALL_ESCALATED,
	RT_EV_CALL_RESERVED,
	RT_EV_CALL_ACCEPTED,   /* the target accepted an offer that needed it */
	RT_EV_CALL_NO_ANSWER,  /* declined, no-answer or ring timeout */
	RT_EV_CALL_CONNECTED,
	RT_EV_CALL_ENDED,      /* end reason in rt_event.end */
	RT_EV_CALL_WRAPUP_DONE,
	RT_EV_TARGET_STATE,    /* login, logout, ready, not-ready, wrap-up, capacity */
	RT_EV_CALL_CALLBACK,   /* a waiting caller asked to be called back (reason: number) */
};

struct rt_event {
	enum rt_event_type type;
	uint64_t ts_ms;                  /* wall clock, ms since the epoch */
	const struct rt_call *call;      /* NULL for target events */
	const struct rt_target *target;  /* may be NULL for call events */
	enum rt_end end;                 /* RT_EV_CALL_ENDED */
	enum rt_reject reject;           /* when end == RT_END_REJECTED */
	const char *reason;              /* free text, may be NULL */
};

/* Read-only views filled by rt_call_info / rt_target_info. Strings are
 * borrowed from the router: valid until the next router call. */
struct rt_call_info {
	const char *id;
	const char *caller;
	const char *dialed;
	const char *postal_code;
	const char *segment;
	const char *territory;    /* resolved name, "" when none */
	const char *plan;         /* "" when none */
	const char *target_id;    /* reserved/connected target, NULL when none */
	const struct rt_target *target; /* the same target, NULL when none */
	enum rt_call_state state;
	uint32_t step;            /* current plan step */
	uint32_t priority;
	uint64_t skills;          /* required mask */
	uint64_t reservation_id;  /* 0 when none */
	uint64_t offered_ms;      /* wall clock */
	uint64_t answered_ms;     /* 0 until connected */
	uint64_t ended_ms;        /* 0 until ended */
	uint32_t misses;          /* no-answers on this call */
	void *owner;              /* as given to rt_call_offer */
	uint64_t owner_seq;
	bool callback;            /* call back callback_number when routed */
	const char *callback_number;
	const char *preferred_target; /* NULL when none */
	void *user;               /* as given to rt_call_set_user, NULL when none */
};

struct rt_target_info {
	const char *id;
	const char *name;
	const char *sip_uri;      /* may be NULL */
	int kind;                 /* CFG_KIND_* */
	enum rt_target_state state; /* as reported (WRAP_UP derived) */
	const char *reason;       /* not-ready reason, "" when none */
	uint32_t active;          /* reserved + connected + wrap-up seats */
	uint32_t capacity;
	uint32_t misses;          /* consecutive no-answers */
	uint64_t offered;         /* reservations since start */
	uint64_t answered;
	uint64_t since_ms;        /* wall clock of the last state change */
	uint64_t last_end_ms;     /* wall clock of the last call end, 0 = none */
	bool available;           /* could take a call now */
	bool draining;
	bool closed;              /* its calendar is closed now: no calls */
	void *session;            /* as given to rt_target_login, may be NULL */
	double closure;           /* closure rate the strategies use */
	double penalty;           /* contract penalty factor, 1 = none */
};

struct rt_queue_info {
	const char *name;         /* e.g. "de-south/partners/printers+lang-de/weighted-share" */
	const char *territory;    /* "*" for any */
	uint32_t waiting;
	uint32_t available;       /* members that could take a call now */
	uint32_t members;
	uint64_t oldest_ms;       /* wall clock of the oldest waiting call's offer, 0 = none */
	const char *oldest_call;  /* NULL when none */
};

struct rt_stats {
	uint64_t offered, routed, queued, rejected, abandoned, completed, owner_lost;
	uint64_t reservations, no_answers, escalations;
	uint32_t live_calls, waiting_calls, queues;
	uint32_t targets_by_state[5];  /* index rt_target_state */
	uint32_t targets_busy;         /* of the READY ones: every seat taken */
};

/*
 * What the router tells the outside world. Every hook may be NULL. Hooks must
 * not call back into the router (queue work on a timer instead).
 * - route:  send RouteCall for c to its owner (c's target is set).
 * - queued: send QueueCall for c (position 1 = next; estimated wait in ms).
 * - reject: send RejectCall for c; c is freed after the hook returns.
 * - offer:  send Offer to the target's session (needs_accept tells whether the
 *           PBX waits for OfferAccept).
 * - revoke: send OfferRevoked to the target's session.
 * - status: the target's state changed (AgentStatus to its session).
 * - event:  every transition (publisher).
 */
struct rt_hooks {
	void (*route)(void *arg, const struct rt_call *c);
	void (*queued)(void *arg, const struct rt_call *c, uint32_t position, uint32_t ewt_ms);
	void (*reject)(void *arg, const struct rt_call *c, enum rt_reject why, const char *text);
	void (*offer)(void *arg, const struct rt_call *c, const struct rt_target *t,
		      bool needs_accept, uint32_t timeout_ms);
	void (*revoke)(void *arg, const struct rt_call *c, const struct rt_target *t,
		       const char *reason);
	void (*status)(void *arg, const struct rt_target *t);
	void (*event)(void *arg, const struct rt_event *ev);
};

/* A call as the PBX offered it. Strings are borrowed for the call only. */
struct rt_call_req {
	const char *id;
	const char *caller;
	const char *dialed;
	const char *postal_code;
	const char *segment;
	const char *const *skills;   /* names */
	size_t n_skills;
	const char *language;        /* adds skill "lang-<language>" when configured */
	uint32_t priority;           /* clamped to 0..100 */
	/* Optional: offer the call to this target first (follow-ups go back to
	 * whoever spoke to the customer). The call waits preferred_ms for it
	 * alone, then the plan's steps take over, the preferred target staying
	 * eligible. Unknown id: -RT_ENOTARGET. */
	const char *preferred_target;
	uint32_t preferred_ms;
};

/*
 * Build a router for cfg (borrowed; must outlive it) and ti (borrowed). The
 * targets start LOGGED_OUT, or READY when cfg says auto_ready. hooks is
 * copied. Returns NULL on allocation failure.
 */
struct rt *rt_new(struct event_base *base, const struct cl_config *cfg,
		  const struct terr_index *ti, const struct rt_hooks *hooks, void *hook_arg);
/* Frees every call (no hooks are called) and target. NULL does nothing. */
void rt_free(struct rt *rt);

/* A plugin strategy as the router calls it (closeloop/plugin.h). */
struct rt_strategy {
	const struct cl_plugin_ops *ops;   /* complete table, key not NULL */
	void *state;                       /* what its init returned */
	const struct cl_plugin_option *options; /* shown in the queue view */
	uint32_t n_options;
};

/*
 * Bind the configuration's plugin strategies: strats[i] serves the plan
 * steps whose strategy is CFG_STRAT_PLUGIN0 + i (cfg->plugins[i]); n must
 * be cfg->n_plugins. Borrowed: must outlive rt. Call right after rt_new,
 * before any event or rt_adopt (queues bind their strategy when created).
 * Returns 0, -RT_EINVAL (count, or an entry without key) or -RT_ESTATE (a
 * queue exists already). The engine's plugin loader provides the array.
 */
int rt_set_strategies(struct rt *rt, const struct rt_strategy *strats, uint32_t n);

/*
 * Configuration reload: take over the live state of `old` (built from the
 * previous configuration) into `rt` (built from the new one, not used yet).
 * Targets are matched by id: state, session, counters and drain carry over.
 * Calls keep their ids, owners, age and priority:
 * - reserved, connected and wrap-up calls keep their target when it still
 *   exists; a reserved call whose target is gone is routed afresh, a
 *   connected one goes on without a seat, a wrap-up one ends;
 * - waiting calls are routed afresh under the new plans, oldest first (they
 *   may be routed at once: the hooks fire).
 * Skills are matched by name; a skill the new configuration lacks is dropped
 * from the call. No hook of `old` is called; free it with rt_free after.
 * Returns the number of calls carried over.
 */
uint32_t rt_adopt(struct rt *rt, struct rt *old);

/* ---- call events (PBX) ---- */

/*
 * A new call. owner/owner_seq are kept and reported in rt_call_info (the
 * server answers through them). On success the decision has already been
 * reported through route/queued/reject before this returns.
 * Errors: -RT_EINVAL (empty/long id, unknown skill), -RT_EEXIST, -RT_ELIMIT.
 */
int rt_call_offer(struct rt *rt, const struct rt_call_req *req, void *owner, uint64_t owner_seq);

/* owner must be the call's owner (-RT_EFORBIDDEN otherwise); NULL skips the check.
 * target_id may be NULL; when given it must be the reserved target. */
int rt_call_answered(struct rt *rt, const char *call_id, const char *target_id, void *owner);
int rt_call_no_answer(struct rt *rt, const char *call_id, const char *target_id, void *owner);
int rt_call_ended(struct rt *rt, const char *call_id, void *owner);
int rt_call_abandoned(struct rt *rt, const char *call_id, void *owner);

/* A waiting caller asks to be called back at number (NULL = the caller id):
 * the call keeps its place; when it is routed, RouteCall says callback.
 * Only for QUEUED calls (-RT_ESTATE otherwise). */
int rt_call_callback(struct rt *rt, const char *call_id, const char *number, void *owner);

/* The owner connection went away: its live calls end (RT_END_OWNER_LOST). */
void rt_owner_gone(struct rt *rt, void *owner);

/* Shutdown: every waiting call is rejected (reject hook with `why`, ended as
 * RT_END_REJECTED); reserved and connected calls are left to finish. Returns
 * how many were rejected. */
uint32_t rt_reject_waiting(struct rt *rt, enum rt_reject why, const char *text);

/* ---- targets (agents, partners) ---- */

/* Bind session (may be NULL) and log in. Already logged in: rebinds.
 * A target with needs_accept is offered calls only while it has a session
 * (someone must be there to accept). */
int rt_target_login(struct rt *rt, const char *target_id, bool ready, void *session);
/* Log out: reserved calls are re-queued; connected calls go on to their end. */
int rt_target_logout(struct rt *rt, const char *target_id);
/* ready=false: not-ready with reason (may be NULL). READY also ends wrap-up. */
int rt_target_set_ready(struct rt *rt, const char *target_id, bool ready, const char *reason);
/* Measured closure rate (0..1) and contract penalty (0 < p <= 1, 1 = none):
 * performance-weighted routes by closure x proficiency x penalty, and
 * weighted-share by share x penalty. Takes effect at once. */
int rt_target_set_performance(struct rt *rt, const char *target_id, double closure,
			      double penalty);
/* Drain: no new calls, current ones finish. */
int rt_target_drain(struct rt *rt, const char *target_id, bool drain);
/* Read every calendar again now (the router does every minute by itself):
 * targets whose calendar closed take no new calls, those whose calendar
 * opened serve the calls waiting for them. */
void rt_calendars_refresh(struct rt *rt);
/* The session went away: every target bound to it is unbound and logged out. */
void rt_session_gone(struct rt *rt, void *session);

/* Offer answers from the target's session. target_id is the session's target:
 * a reservation of another target is -RT_EFORBIDDEN. */
int rt_offer_accept(struct rt *rt, const char *call_id, uint64_t reservation_id,
		    const char *target_id);
int rt_offer_decline(struct rt *rt, const char *call_id, uint64_t reservation_id,
		     const char *target_id, const char *reason);

/* ---- lookups and views ---- */

struct rt_call *rt_call_find(const struct rt *rt, const char *call_id);
struct rt_target *rt_target_find(const struct rt *rt, const char *target_id);
void rt_call_info(const struct rt *rt, const struct rt_call *c, struct rt_call_info *out);

/*
 * One opaque pointer per call for the module that keeps its own record of
 * each call (the engine gives it to the sales module), so that module finds
 * its record from an event in O(1) instead of by id. NULL when the call is
 * offered; reported in rt_call_info.user; never read by the router. It goes
 * with the call and is not carried over by rt_adopt (adopted calls start with
 * NULL). Borrowed: whoever sets it owns what it points to and must clear it
 * (or stop trusting it) before freeing that. c may be a call handed to a hook
 * or an event (the router owns it; only this slot changes).
 */
void rt_call_set_user(struct rt *rt, const struct rt_call *c, void *user);
/* The pointer set by rt_call_set_user, NULL when none: rt_call_info's
 * `user` without filling the whole view. */
void *rt_call_user(const struct rt_call *c);
void rt_target_info(const struct rt *rt, const struct rt_target *t, struct rt_target_info *out);
const char *rt_call_id(const struct rt_call *c);
const char *rt_target_id(const struct rt_target *t);
void rt_stats(const struct rt *rt, struct rt_stats *out);

/* Iterate; fn returns non-zero to stop. Do not change the router inside. */
void rt_foreach_call(const struct rt *rt, int (*fn)(void *arg, const struct rt_call *c), void *arg);
void rt_foreach_target(const struct rt *rt, int (*fn)(void *arg, const struct rt_target *t),
		       void *arg);
void rt_foreach_queue(const struct rt *rt, int (*fn)(void *arg, const struct rt_queue_info *q),
		      void *arg);

#ifdef __cplusplus
}
#endif
#endif /* CL_RT_H */
