/*
 * sim_check.c — the queueing-theory check (--check-erlang): with one queue,
 * N identical reps, Poisson arrivals and exponential handle times the engine
 * is an M/M/N system (Erlang C), with exponential patience M/M/N+M
 * (Erlang A); the measured figures must agree with the formulas.
 *
 * Statistical error: batch means. The measurement window is cut into B
 * equal batches by offer time; each figure is computed per batch and the
 * standard error of the overall figure is sd(batch values)/√B. Batches much
 * longer than a handle time are nearly independent, which is what makes
 * batch means robust to the strong correlation between successive callers'
 * waits (a plain binomial error would understate it several times). The
 * tolerance is Student's t at 99.9 % two-sided with B−1 degrees of freedom
 * times that error, so a correct engine fails one figure in about a
 * thousand runs.
 *
 * Model error: the engine and the loopback add a little to every service
 * (the RouteCall and the CallEnded each travel one way before the seat is
 * known busy or free again, and timers fire a little late) and to every
 * measured wait (the round trip before the RouteCall). So the theory is a
 * band, from the formula at the nominal handle time h to the formula at
 * h + δ, δ = mean timer lateness + 2 × mean routing latency, both measured
 * in the same run; the ASA's upper end also adds one mean routing latency.
 * A figure passes when it lies within the band widened by the tolerance.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "erlang.h"
#include "sim_internal.h"

int sim_check_precond(const struct sim_scn *s, const struct cl_config *cfg, char *err,
		      size_t errlen)
{
	const char *why = NULL;
	size_t reps = 0;
	if (s->n_queues != 1)
		why = "the scenario must have exactly one queue";
	else if (s->n_profile)
		why = "arrivals must be a constant rate_per_s (Poisson), not a profile";
	else if (s->duration_ms <= 0)
		why = "the run must be bounded by duration_ms (batches are cut by time)";
	else if (s->patience.dist == SIM_DIST_FIXED)
		why = "patience must be exponential (Erlang A) or none (Erlang C)";
	else if (cfg->n_plans != 1 || cfg->plans[0].n_steps != 1 ||
		 cfg->plans[0].steps[0].action != CFG_ACTION_ROUTE)
		why = "the engine config must have one plan with one routing step";
	if (why)
		goto fail;
	double h = NAN;
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct cfg_target *t = &cfg->targets[i];
		struct sim_beh b;
		if (t->kind != CFG_KIND_REP || t->capacity > 1) {
			why = "every target must be a rep with capacity 1 (no partners)";
			goto fail;
		}
		if (t->wrapup_ms || t->needs_accept) {
			why = "reps must have no wrap-up and no accept step";
			goto fail;
		}
		sim_scn_behaviour(s, t->id, t->kind, 0, &b);
		if (b.ring_ms > 0 || b.no_answer > 0) {
			why = "targets must answer at once (ring_ms 0, no_answer 0)";
			goto fail;
		}
		if (b.handle.dist != SIM_DIST_EXP || !(b.handle.mean_ms > 0)) {
			why = "handle times must be exponential with a mean above 0";
			goto fail;
		}
		if (!isnan(h) && b.handle.mean_ms != h) {
			why = "every rep must have the same mean handle time";
			goto fail;
		}
		h = b.handle.mean_ms;
		reps++;
	}
	if (reps == 0) {
		why = "the engine config has no reps";
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "--check-erlang: %s", why);
	return -1;
}

/* Theory at handle time h (ms); 0 or an ERLANG_E* code. */
static int theory(const struct sim_check *k, double h, struct erlang_result *out)
{
	double lambda = k->lambda_per_s / 1000.0, mu = 1.0 / h;
	if (k->patience_ms > 0)
		return erlang_a(lambda, mu, 1.0 / k->patience_ms, k->agents, k->sl_ms, out);
	return erlang_c_figures(lambda, mu, k->agents, k->sl_ms, out);
}

enum { F_PWAIT, F_ASA, F_SL, F_PAB, F_OCC };

static double fig_of(const struct erlang_result *e, int f)
{
	switch (f) {
	case F_PWAIT: return e->p_wait;
	case F_ASA: return e->asa;
	case F_SL: return e->service_level;
	case F_PAB: return e->p_abandon;
	default: return e->occupancy;
	}
}

static double fig_measured(const struct sim_kpi *k, int f)
{
	switch (f) {
	case F_PWAIT: return sim_kpi_p_wait(k);
	case F_ASA: return sim_kpi_asa_ms(k);
	case F_SL: return sim_kpi_service_level(k);
	case F_PAB: return sim_kpi_abandon_rate(k);
	default: return sim_kpi_occupancy(k);
	}
}

void sim_check_eval(const struct sim_run *r, struct sim_check *k)
{
	const struct sim_scn *s = r->scn;
	const double speed = r->o->speed;
	static const char *const names[] = {"p_wait", "asa_ms", "service_level", "p_abandon",
					    "occupancy"};

	memset(k, 0, sizeof *k);
	k->agents = (unsigned)r->n_tgts;
	k->lambda_per_s = s->rate_per_s;
	k->patience_ms = s->patience.dist == SIM_DIST_EXP ? s->patience.mean_ms : 0;
	k->sl_ms = s->sl_threshold_ms;
	k->handle_ms = r->n_tgts ? r->tgts[0].beh.handle.mean_ms : 0;
	snprintf(k->model, sizeof k->model, "%s", k->patience_ms > 0 ? "Erlang A" : "Erlang C");

	double lat_ms = sim_hist_count(r->lat) ? sim_hist_mean(r->lat) / 1000.0 : 0;
	double late_ms = r->timer_fires ? r->timer_late_us / (double)r->timer_fires / 1000.0 : 0;
	k->delta_ms = late_ms + 2 * lat_ms;

	struct erlang_result lo, hi;
	int rc = theory(k, k->handle_ms, &lo);
	if (rc == 0)
		rc = theory(k, k->handle_ms + k->delta_ms, &hi);
	if (rc < 0) {
		snprintf(k->why, sizeof k->why, "no theory for these parameters: %s",
			 erlang_strerror(rc));
		goto scale;
	}
	if (r->n_batches < 2 || r->all.offered == 0) {
		snprintf(k->why, sizeof k->why, "no calls measured");
		goto scale;
	}
	k->pass = true;
	int figs[5], nf = 0;
	figs[nf++] = F_PWAIT;
	figs[nf++] = F_ASA;
	figs[nf++] = F_SL;
	if (k->patience_ms > 0)
		figs[nf++] = F_PAB;
	figs[nf++] = F_OCC;
	for (int i = 0; i < nf; i++) {
		int f = figs[i];
		struct sim_check_fig *g = &k->fig[k->n_fig++];
		double vals[SIM_MAX_BATCHES];
		for (unsigned b = 0; b < r->n_batches; b++)
			vals[b] = fig_measured(&r->bk[b], f);
		double mean;
		g->name = names[f];
		g->measured = fig_measured(&r->all, f);
		double a = fig_of(&lo, f), b = fig_of(&hi, f);
		g->lo = a < b ? a : b;
		g->hi = a < b ? b : a;
		if (f == F_ASA)
			g->hi += lat_ms;
		if (sim_batch_means(vals, r->n_batches, &mean, &g->se, &g->batches) < 0 ||
		    isnan(g->measured)) {
			g->se = g->tol = NAN;
			g->pass = false;
		} else {
			g->tol = sim_t999((unsigned)g->batches - 1) * g->se;
			g->pass = g->measured >= g->lo - g->tol && g->measured <= g->hi + g->tol;
		}
		k->pass = k->pass && g->pass;
	}
scale:
	/* Report in the scenario's own time (undo --speed). */
	k->lambda_per_s /= speed;
	k->handle_ms *= speed;
	k->patience_ms *= speed;
	k->sl_ms *= speed;
	k->delta_ms *= speed;
	for (size_t i = 0; i < k->n_fig; i++) {
		struct sim_check_fig *g = &k->fig[i];
		if (strcmp(g->name, "asa_ms") == 0) {
			g->measured *= speed;
			g->lo *= speed;
			g->hi *= speed;
			g->tol *= speed;
			g->se *= speed;
		}
	}
}
