/*
 * sim_internal.h — the state of one closeloop-sim run, shared by the
 * program's modules (private: not a library interface).
 *
 *   sim_main.c    command line, phases (engine run, bare run), exit status
 *   sim_run.c     one run: connections, log-in, arrivals, stop, grace, finish
 *   sim_conn.c    one TCP connection: connect, Hello, framing, counters
 *   sim_peer.c    the peers' behaviour: the PBX's calls, the reps' and
 *                 partners' desks (offers, accept/decline, ready again)
 *   sim_sales.c   the sales loop the desks play after an answered call:
 *                 disposition, order and its status changes, lead
 *   sim_check.c   the queueing-theory check (Erlang C / A, batch means)
 *   sim_report.c  the text table, the progress line and the JSON file
 *
 * A run owns everything it allocates; one event_base (borrowed from main)
 * drives it. Calls are kept in a hash by number and recycled through a free
 * list together with their timer, so a long load run allocates nothing per
 * call once warm. All times are CLOCK_MONOTONIC microseconds.
 */
#ifndef CL_SIM_INTERNAL_H
#define CL_SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <event2/util.h>
#include <uthash.h>

#include "sim_rng.h"
#include "sim_scn.h"
#include "sim_stats.h"
#include "wire.h"

struct event;
struct event_base;
struct bufferevent;
struct cl_config;

/* Exit status of the program. */
enum {
	SIM_EXIT_OK = 0,
	SIM_EXIT_RUN = 1,    /* unexpected protocol errors, lost connection, check failed */
	SIM_EXIT_USAGE = 2,  /* bad arguments, config or scenario */
	SIM_EXIT_CONNECT = 3 /* could not connect or log in */
};

enum sim_mode {
	SIM_MODE_SCENARIO = 1,
	SIM_MODE_LOAD = 2,
};

#define SIM_N_ERRCODES 16 /* ErrorCode values 0..14, 15 = anything else */
#define SIM_MAX_BATCHES 1000

struct sim_opts {
	enum sim_mode mode;
	const char *engine;       /* HOST:PORT */
	const char *config;       /* engine YAML */
	const char *scenario;     /* may be NULL: defaults */
	const char *json;         /* may be NULL */
	const char *bare;         /* load: HOST:PORT of bare_server, or NULL */
	bool bare_only;           /* load: only the bare server */
	double speed;             /* > 0 */
	unsigned window;          /* load: calls in flight */
	bool check_erlang;
	unsigned batches;         /* check: batch count */
	double setup_ms;          /* connect + log-in deadline */
	bool progress;            /* live line on stderr */
	const char *client;       /* Hello.client */
	bool trunk_partners;      /* partners that start ready answer on their SIP
				   * trunk: no desk connection (PBX traffic only) */
	unsigned tick_us;         /* arrival and call timers fire on this grid
				   * (µs of the wall clock); 0 = exactly */
};

enum sim_conn_kind {
	SIM_CONN_PBX = 0,
	SIM_CONN_AGENT = 1,
	SIM_CONN_PARTNER = 2,
};

struct sim_run;
struct sim_call;
struct sim_sale;
struct sim_sreq;

/* What the desks sent in the sales loop, for one target or overall: every
 * answered call counts, not only those in the measurement window (these are
 * totals to compare with the engine's, not a steady-state sample). */
struct sim_sales_fig {
	uint64_t answered;        /* CallAnswered sent */
	uint64_t ordered, no_order; /* Disposition outcomes sent */
	uint64_t orders;          /* OrderPlaced sent (one per ORDERED call) */
	uint64_t cancelled;       /* orders moved to cancelled */
	uint64_t delivered;       /* orders moved to delivered */
	int64_t revenue_minor;    /* amounts of the orders not cancelled */
	int64_t commission_minor; /* their commission, per order as the engine rounds it */
	uint64_t leads, qualified_leads;
	int64_t lead_fees_minor;  /* partners' contract.lead_fee per qualified lead */
	uint64_t open_placed, open_allocated, open_shipped; /* orders by last state sent */
};

struct sim_conn {
	struct sim_run *run;
	struct bufferevent *bev;
	enum sim_conn_kind kind;
	int tgt;                  /* target index (agents, partners); -1 for a PBX */
	bool connected, ready;    /* ready: HelloOk (PBX) or log-in acknowledged */
	uint64_t seq;             /* last seq sent */
	uint64_t hello_seq, login_seq;
	uint64_t sent, recv;      /* frames */
	struct sim_conn *wnext;   /* in the run's list of connections to write */
	bool wlisted;
	/* Bare server: every frame gets one reply, in order. fifo[] holds the
	 * call whose CallOffered each pending reply answers (NULL otherwise). */
	struct sim_call **fifo;
	size_t fifo_cap, fifo_head, fifo_len;
	char name[64];
};

enum sim_call_state {
	SIM_CALL_OFFERED = 1,  /* CallOffered sent, no answer yet */
	SIM_CALL_QUEUED,       /* QueueCall received (or no-answer sent): waiting */
	SIM_CALL_OFFERING,     /* the target's desk holds an offer it must accept */
	SIM_CALL_RINGING,      /* RouteCall received, target ringing */
	SIM_CALL_CONNECTED,    /* CallAnswered sent, talking */
};

struct sim_call {
	UT_hash_handle hh;
	uint64_t num;             /* key; the call id is prefix + num */
	struct sim_run *run;
	struct sim_conn *pbx;
	struct event *timer;      /* patience, ring or talk: one at a time */
	struct sim_call *next_free;
	enum sim_call_state st;
	bool counted;             /* offered inside the measurement window */
	bool replied;             /* first answer to CallOffered seen */
	uint32_t queue, origin, batch;
	int terr;                 /* index into run->terrs, -1 until known */
	int tgt;                  /* target ringing or connected, -1 */
	uint64_t reservation;
	uint64_t t_offer, t_reserved, t_answer; /* µs */
	uint64_t abandon_at;      /* µs; 0 = never */
	uint64_t timer_due;       /* µs the timer was set for (lateness statistics) */
};

/* A pending offer on a desk that must accept it. */
struct sim_offer {
	struct sim_offer *next;
	struct sim_run *run;
	int tgt;
	uint64_t call_num, reservation;
	bool accept;
	struct event *timer;
};

struct sim_tgt {
	UT_hash_handle hh;        /* by id */
	const char *id;           /* borrowed from the config */
	int kind;                 /* CFG_KIND_* */
	bool trunk;               /* no desk connection (--trunk-partners) */
	uint32_t capacity;
	bool needs_accept;
	double wrapup_ms;
	struct sim_beh beh;       /* resolved, wall-clock ms */
	struct sim_conn *conn;
	struct sim_offer *offers;
	struct event *recover;    /* ready again after the engine set it not-ready */
	bool recover_armed;
	uint64_t t_login;         /* µs */
	struct sim_kpi k;
	struct sim_sales_fig sales;
	double commission_pct;    /* contract's (partner) or own (rep), from the config */
	int64_t lead_fee_minor;   /* partners: per qualified lead; reps 0 */
};

struct sim_terr {
	UT_hash_handle hh;
	int idx;                  /* in run->terr_list */
	char *name;
	struct sim_kpi k;
};

enum sim_phase {
	SIM_PH_SETUP = 1,
	SIM_PH_RUN,
	SIM_PH_DRAIN,
	SIM_PH_FLUSH,
	SIM_PH_DONE,
};

struct sim_run {
	struct event_base *base;          /* borrowed */
	const struct cl_config *cfg;      /* borrowed; NULL against the bare server */
	const struct sim_scn *scn;        /* borrowed, bound and scaled */
	const struct sim_opts *o;         /* borrowed */
	bool bare, load;
	const char *label;                /* "engine" or "bare" */
	struct sockaddr_storage addr;
	int addrlen;
	struct sim_rng rng;
	uint64_t seed;                    /* the one used (the scenario's, or drawn) */
	char prefix[32];                  /* call id prefix */
	size_t prefix_len;

	enum sim_phase phase;
	int status;                       /* SIM_EXIT_* */
	char why[256];                    /* first failure */

	struct sim_conn *pbx;
	unsigned n_pbx, next_pbx;
	struct sim_conn *desks;           /* one per target (agents and partners) */
	struct sim_tgt *tgts;
	size_t n_tgts;
	struct sim_tgt *tgt_by_id;        /* uthash over tgts */
	size_t pending_setup;             /* connections not ready yet */

	double *origin_cum, *queue_cum;   /* cumulative weights */
	struct sim_call *calls, *free_calls;
	uint64_t next_num, live;
	struct sim_offer *free_offers;

	uint64_t t_setup, t0, ws, we, t_stop, t_end;
	double next_arrival_ms;           /* since t0 */
	bool stopped;                     /* no more offers */
	struct event *ev_arrive, *ev_stop, *ev_grace, *ev_progress, *ev_setup, *ev_flush;
	struct event *ev_keepalive;       /* Ping on every connection (engine read timeout) */
	struct event *ev_write;           /* end of the pass: write what it queued */
	struct sim_conn *wlist;           /* connections with frames to write */
	uint64_t ping_nonce;

	/* measurements */
	struct sim_hist *lat;             /* µs, CallOffered → first answer */
	struct sim_kpi all;
	struct sim_kpi *qk;               /* per scenario queue */
	struct sim_terr *terrs;           /* by name (uthash) */
	struct sim_terr **terr_list;      /* in order of first sight */
	size_t n_terrs, terr_cap;
	struct sim_kpi *bk;               /* per batch (check) */
	unsigned n_batches;
	uint64_t frames_sent, frames_recv, call_events; /* call_events: PBX → server */
	/* the same counters when traffic started ([0]) and when offering stopped ([1]) */
	uint64_t snap_sent[2], snap_recv[2], snap_events[2], snap_done[2], snap_offered[2];
	uint64_t completed;               /* calls that ended one way or another */
	uint64_t errors[SIM_N_ERRCODES], err_expected, err_unexpected;
	uint64_t late_answers;            /* answers for calls already gone */
	double timer_late_us;             /* Σ lateness of talk/ring timers */
	uint64_t timer_fires;
	uint64_t not_ready_events;        /* the engine set a target not-ready */

	/* sales loop (sim_sales.c) */
	bool sales_on;
	struct sim_rng sales_rng;         /* its own stream: traffic is the same with or without */
	struct sim_sales_fig sales_all;
	struct sim_sale *sales;           /* waiting for CallEnded's reply, or an order in progress */
	struct sim_sreq *sreqs, *sreqs_tail; /* sales requests sent, reply not yet read */
	uint64_t sales_pending;           /* length of sreqs */
	uint64_t sales_errors;            /* Error replies and wrong replies to sales requests */
	uint64_t sales_unanswered;        /* requests still unanswered when the run ended */
	uint64_t next_order, next_lead;
	uint64_t t_flush_deadline;        /* µs: FLUSH waits for sales replies until then */
	char engine_name[64];
	uint64_t last_progress_frames;
	uint64_t last_progress_t;
};

/* CLOCK_MONOTONIC in µs. */
uint64_t sim_now_us(void);
/* due (µs, sim_now_us's clock) rounded up to the --tick-us grid, so timers
 * due within one tick fire together; due itself without a tick. */
uint64_t sim_run_tick(const struct sim_run *r, uint64_t due);

/* ---- sim_run.c ---- */
struct sim_run *sim_run_new(struct event_base *base, const struct cl_config *cfg,
			    const struct sim_scn *scn, const struct sim_opts *o, bool bare,
			    const char *addr, char *err, size_t errlen);
/* Runs the loop until the run is done; returns the run's exit status. */
int sim_run_exec(struct sim_run *r);
void sim_run_free(struct sim_run *r);
/* Stop offering now (SIGINT): drain, grace, finish as at the planned end. */
void sim_run_stop(struct sim_run *r);
/* Record the first failure, stop the run (status as given). */
void sim_run_fail(struct sim_run *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A connection reached its ready state (setup bookkeeping). */
void sim_run_conn_ready(struct sim_run *r, struct sim_conn *c);
/* A call is finished: account, recycle, maybe offer the next (load) or finish. */
void sim_run_call_done(struct sim_run *r, struct sim_call *c);
/* Offer one new call now (load window, arrivals). */
void sim_run_offer(struct sim_run *r);
/* Window bookkeeping: [ws, we] clip of an interval, in ms. */
double sim_run_clip_ms(const struct sim_run *r, uint64_t a, uint64_t b);
/* Add busy time [a, b] µs to every group the call belongs to (clipped). */
void sim_run_add_busy(struct sim_run *r, struct sim_call *c, uint64_t a, uint64_t b);
/* Territory group by name (created on first sight); index or -1 (no memory). */
int sim_run_terr(struct sim_run *r, const char *name);
/* The KPI groups a counted call adds to (overall, queue, territory once
 * known, batch when checking) into out[]; returns how many (0 if not counted). */
size_t sim_run_groups(struct sim_run *r, const struct sim_call *c, struct sim_kpi *out[4]);

/* ---- sim_conn.c ---- */
int sim_conn_open(struct sim_run *r, struct sim_conn *c, enum sim_conn_kind kind, int tgt,
		  const char *name);
void sim_conn_close(struct sim_conn *c);
/* The run's ev_write callback: write every connection sim_conn_send listed. */
void sim_conn_write_all(evutil_socket_t fd, short what, void *arg);
/* Frame env out on c (seq assigned, returned; 0 when the connection is down). */
uint64_t sim_conn_send(struct sim_conn *c, wire_env *env);
/* Bare server: remember which call the next reply answers. */
int sim_conn_fifo_push(struct sim_conn *c, struct sim_call *call);

/* ---- sim_peer.c ---- */
/* Dispatch one frame received on c (env valid during the call only). */
void sim_peer_frame(struct sim_conn *c, const wire_env *env);
/* Bare server: a reply to the frame whose call is call (may be NULL). */
void sim_peer_bare_reply(struct sim_conn *c, struct sim_call *call);
/* Send CallOffered for a fresh call. */
void sim_peer_offer(struct sim_run *r, struct sim_call *c);
/* Grace ran out: end c on the engine and count it unfinished. */
void sim_peer_abort_call(struct sim_run *r, struct sim_call *c);
void sim_peer_call_id(const struct sim_run *r, uint64_t num, char *buf, size_t len);
void sim_peer_offer_free(struct sim_offer *o);
/* Timer callbacks (evtimer_new in sim_run.c): a call's timer, arg = call;
 * a target's ready-again timer, arg = target. */
void sim_peer_call_timer(evutil_socket_t fd, short what, void *arg);
void sim_peer_recover_timer(evutil_socket_t fd, short what, void *arg);

/* ---- sim_sales.c ---- */
/* Set up the sales loop for a run (after the targets); 0 or -1 (no memory). */
int sim_sales_init(struct sim_run *r);
/* An answered call ended; its CallEnded went out on pbx with seq. Once the
 * engine has answered that frame, the target's desk sends its disposition,
 * the order (closed) and maybe a lead. */
void sim_sales_call_ended(struct sim_run *r, struct sim_call *c, uint64_t ended_seq, bool closed);
/* A reply read on c. Returns true when it answered a sales request (or let
 * a waiting call go ahead and is otherwise ignored: false). */
bool sim_sales_reply(struct sim_conn *c, const wire_env *env);
/* The run is finishing: order status timers stop (orders stay in their state). */
void sim_sales_finish(struct sim_run *r);
/* Anything still waiting for the engine (calls or replies). */
bool sim_sales_busy(const struct sim_run *r);
/* The run is over: count what is still unanswered as a failure. */
void sim_sales_close(struct sim_run *r);
void sim_sales_free(struct sim_run *r);

/* ---- sim_check.c ---- */
struct sim_check_fig {
	const char *name;
	double measured, lo, hi, tol, se;
	size_t batches;
	bool pass;
};
struct sim_check {
	char model[16];           /* "Erlang C" or "Erlang A" */
	double lambda_per_s, handle_ms, patience_ms, sl_ms, delta_ms;
	unsigned agents;
	struct sim_check_fig fig[5];
	size_t n_fig;
	bool pass;
	char why[256];            /* set when the check could not be made */
};
/* Preconditions of --check-erlang on the scenario and config; 0 or -1 with err. */
int sim_check_precond(const struct sim_scn *scn, const struct cl_config *cfg, char *err,
		      size_t errlen);
/* Compare a finished run with the theory. */
void sim_check_eval(const struct sim_run *r, struct sim_check *out);

/* ---- sim_report.c ---- */
void sim_report_progress(struct sim_run *r, bool final);
void sim_report_text(FILE *f, const struct sim_run *r, const struct sim_run *bare,
		     const struct sim_check *chk);
int sim_report_json(const char *path, const struct sim_run *r, const struct sim_run *bare,
		    const struct sim_check *chk, char *err, size_t errlen);
const char *sim_error_name(unsigned code);

#endif /* CL_SIM_INTERNAL_H */
