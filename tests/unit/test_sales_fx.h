/*
 * test_sales_fx.h — the fixture of the sales module's unit tests: a real
 * router built from a small configuration, whose events go to a sales module
 * with a fake clock, and a fake PBX that offers, answers and ends calls.
 * No Redis (the publisher is NULL); the event loop is never dispatched:
 * sales_tick runs on demand after sfx_advance.
 */
#ifndef CL_TEST_SALES_FX_H
#define CL_TEST_SALES_FX_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "owner.h"
#include "rt.h"
#include "sales.h"

/*
 * The configuration: skills s1 s2 s3 s4; territories de > de-south (+498),
 * de-north (+493); reps rep-a (s1 s2, commission 5 %), rep-b (s2), rep-c
 * (s3); partner p-1 in de-south (s1, 3 seats, contract: min_closure 0.5,
 * max_abandon 0.3, answer_ms 10000, min_satisfaction 3, commission 10 %,
 * lead fee 2.5, prior closure 0.4). Plans: s1 -> partners of the caller's
 * territory (300 ms), then reps; s3 -> rep-c, then a callback step after
 * 100 ms; s4 -> callback at once; anything else -> reps.
 */
struct sfx {
	struct event_base *base;
	struct cl_config *cfg;
	struct terr_index *ti;
	struct rt *rt;
	struct sales *s;
	uint64_t now;          /* the sales module's clock, ms */
	struct cl_owner pbx;   /* owner of the test's calls */
	unsigned offers, routes, rejects;
	char last_offer_call[128], last_offer_target[128];
	bool last_offer_followup;
	char last_route_call[128], last_route_target[128];
};

/* sales: the text of the configuration's sales: section (NULL = none). */
struct sfx *sfx_new(const char *sales_yaml);
void sfx_free(struct sfx *f);

/* Advance the fake clock and run the module's tick. */
void sfx_advance(struct sfx *f, uint64_t ms);

/* Run the router's timers (plan steps, ring timeouts) for ms of real time. */
void sfx_run(struct sfx *f, int ms);

/* Log targets in (ready, no session). */
void sfx_login(struct sfx *f, const char *target);

/* Offer a call from the fake PBX: returns the target it was reserved for,
 * or "" (queued / rejected). */
const char *sfx_call(struct sfx *f, const char *id, const char *caller, const char *skill);
void sfx_answer(struct sfx *f, const char *id);
void sfx_end(struct sfx *f, const char *id);
void sfx_abandon(struct sfx *f, const char *id);
/* Offer, check the target, answer. */
void sfx_answered(struct sfx *f, const char *id, const char *caller, const char *skill,
		  const char *target);

/* The KPI total of one series over every bucket (zeros when none). */
struct sales_kpi sfx_kpi(struct sfx *f, enum sales_dim dim, const char *name);

#endif
