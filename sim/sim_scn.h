/*
 * sim_scn.h — a traffic scenario for closeloop-sim: arrivals, the caller mix,
 * the callers' patience and how each target behaves.
 *
 * A scenario is a YAML file (docs/sim.md has the reference and
 * deploy/scenario.yaml an example) read with libyaml's document API into a
 * plain struct; unknown keys, wrong types and out-of-range values are errors
 * that name file:line. The scenario says nothing about the engine's own
 * configuration: reps, partners, skills and tokens come from the engine's
 * YAML (struct cl_config), and sim_scn_bind() checks the scenario against it
 * (target ids and skills must exist) and fills what the scenario leaves out
 * (one caller origin per territory, one catch-all queue).
 *
 * All times are milliseconds of simulated time; sim_scn_scale() divides them
 * by a speed factor to get wall-clock time. Immutable after bind/scale; read
 * from the loop thread.
 */
#ifndef CL_SIM_SCN_H
#define CL_SIM_SCN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cl_config;

enum sim_dist {
	SIM_DIST_INHERIT = 0, /* behaviour fields only: take the wider default */
	SIM_DIST_EXP = 1,     /* exponential with mean_ms */
	SIM_DIST_FIXED = 2,   /* always mean_ms */
	SIM_DIST_NONE = 3,    /* patience only: callers never abandon */
};

struct sim_time_dist {
	enum sim_dist dist;
	double mean_ms;
};

/* How a target behaves. In overrides, NAN / SIM_DIST_INHERIT = inherit. */
struct sim_beh {
	double ring_ms;           /* ring (or offer) time before answer, accept or miss */
	double no_answer;         /* probability a ringing call is not answered, 0..1 */
	struct sim_time_dist handle; /* talk time once answered */
	double closure_rate;      /* probability an answered call closes an order;
				   * NAN at the end = the engine config's closure_rate */
	double recover_ms;        /* engine set it not-ready (misses): ready again after */
};

/* Where callers come from: their number and postal code. */
struct sim_origin {
	char *name;
	double weight;            /* relative, > 0 */
	char *caller_prefix;      /* E.164 prefix with '+', e.g. "+4989" */
	unsigned caller_digits;   /* digits after '+' in the full number (default 12) */
	char **postal;            /* postal-code prefixes, one picked at random; may be empty */
	size_t n_postal;
	unsigned postal_len;      /* pad with random digits to this length (0 = as given) */
	int line;
};

/* What callers want: a call class, reported as a queue. */
struct sim_queue {
	char *name;
	double weight;            /* relative, > 0 */
	char *dialed;             /* may be NULL */
	char *segment;            /* may be NULL */
	char **skills;            /* skill names of the engine config */
	size_t n_skills;
	char *language;           /* may be NULL */
	uint32_t priority;        /* 0..100 */
	size_t *origins;          /* indexes into origins; empty = every origin */
	size_t n_origins;
	char **origin_names;      /* as written, resolved by bind */
	int line;
};

/* The sales loop the desks play after each answered call (docs/sim.md). */
struct sim_sales_beh {
	int enabled;              /* 1 on, 0 off, -1 not given: on in scenario mode,
				   * off in load mode */
	double order_mean_minor;  /* mean order amount (exponential), minor units */
	uint64_t amount_step_minor; /* amounts are whole multiples of this, >= 1 */
	double lead_rate;         /* probability an answered call yields a lead, 0..1 */
	double consent_rate;      /* probability a lead agrees to be contacted, 0..1 */
	double cancel_rate;       /* probability an allocated order is cancelled, 0..1 */
	double status_ms;         /* mean delay before each order status change */
};

struct sim_beh_override {
	char *target_id;
	struct sim_beh beh;
	int line;
};

struct sim_scn {
	char *name;
	char *path;               /* file it came from, or the name given to load_string */

	double rate_per_s;        /* Poisson arrivals; 0 when a profile is given */
	double *profile;          /* calls per hour, one entry per hour */
	size_t n_profile;
	double hour_ms;           /* how long one profile hour lasts */

	uint64_t calls;           /* stop offering after this many; 0 = no limit */
	double duration_ms;       /* stop offering after this long; 0 = no limit */
	double warmup_ms;         /* calls offered before this are not counted */
	double grace_ms;          /* after stopping, wait this long for live calls */
	double sl_threshold_ms;   /* service level: answered within this */
	unsigned pbx;             /* PBX connections, 1..64 */
	uint64_t seed;            /* 0 = from the clock */

	struct sim_time_dist patience; /* SIM_DIST_EXP, _FIXED or _NONE */

	struct sim_beh beh_default;    /* every field set */
	struct sim_beh beh_reps;       /* overrides for reps */
	struct sim_beh beh_partners;   /* overrides for partners */
	struct sim_beh_override *overrides; /* per target id */
	size_t n_overrides;

	struct sim_sales_beh sales;

	struct sim_origin *origins;
	size_t n_origins;
	struct sim_queue *queues;
	size_t n_queues;

	bool bound;               /* sim_scn_bind done */
};

/*
 * A scenario with the defaults (docs/sim.md): 5 calls/s for 30 s,
 * exponential 3 s talk, no ring time, no misses, no abandonment, 2 s service
 * level threshold, one PBX connection; no origins or queues yet (bind adds
 * them). NULL on allocation failure.
 */
struct sim_scn *sim_scn_new_default(void);

/*
 * Load a scenario file over the defaults. Returns 0 and *out (free with
 * sim_scn_free) or -1 with "path:line: what is wrong" in err (*out untouched).
 */
int sim_scn_load(const char *path, struct sim_scn **out, char *err, size_t errlen);
int sim_scn_load_string(const char *yaml, const char *name, struct sim_scn **out, char *err,
			size_t errlen);

/* NULL does nothing. */
void sim_scn_free(struct sim_scn *scn);

/*
 * Check against the engine config (borrowed) and complete: override ids
 * must be targets, queue skills must be skills, queue origin names must be
 * origins. Without origins, one per territory that has phone prefixes (its
 * first prefix, its postal prefixes); without queues, one "default" queue
 * with no skills. Returns 0, or -1 with the reason in err (scn may be
 * partly completed; free it).
 */
int sim_scn_bind(struct sim_scn *scn, const struct cl_config *cfg, char *err, size_t errlen);

/* The behaviour of one target: default, then reps/partners (by kind, 1 = rep,
 * 2 = partner), then its own override; a closure rate left unset takes
 * cfg_closure. */
void sim_scn_behaviour(const struct sim_scn *scn, const char *target_id, int kind,
		       double cfg_closure, struct sim_beh *out);

/* Run `speed` times faster: divide every duration, multiply the rates.
 * speed must be > 0. */
void sim_scn_scale(struct sim_scn *scn, double speed);

/* Arrival rate (calls per ms) at time t_ms since the start; 0 past the end
 * of a profile. *until_ms receives when this rate changes (INFINITY if never). */
double sim_scn_rate_at(const struct sim_scn *scn, double t_ms, double *until_ms);

#ifdef __cplusplus
}
#endif
#endif /* CL_SIM_SCN_H */
