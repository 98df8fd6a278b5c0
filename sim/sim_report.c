/*
 * sim_report.c — what a run tells its user: a one-line progress display on
 * stderr while it runs (only when stderr is a terminal), a table on stdout
 * at the end, and the same figures as JSON (jansson) for scripts.
 *
 * Times in the KPIs are converted back to the scenario's own milliseconds
 * (× --speed); latencies and rates are wall-clock, since they measure the
 * engine, not the simulated people. A figure that is undefined (a ratio over
 * zero calls) prints "-" and is null in JSON. docs/sim.md documents every
 * field.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"
#include "sim_internal.h"

static const char *const err_names[SIM_N_ERRCODES] = {
	"NONE",           "BAD_FRAME",        "DECODE", "UNKNOWN_MESSAGE", "NOT_AUTHENTICATED",
	"AUTH_FAILED",    "FORBIDDEN",        "UNKNOWN_CALL", "UNKNOWN_TARGET", "DUPLICATE_CALL",
	"BAD_STATE",      "INVALID_ARGUMENT", "LIMIT",  "VERSION",         "INTERNAL",
	"OTHER",
};

const char *sim_error_name(unsigned code)
{
	return err_names[code < SIM_N_ERRCODES ? code : SIM_N_ERRCODES - 1];
}

/* Seconds of the offering period (traffic start to stop), wall clock. */
static double run_secs(const struct sim_run *r)
{
	if (!r->t0 || !r->t_stop || r->t_stop <= r->t0)
		return 0;
	return (double)(r->t_stop - r->t0) / 1e6;
}

static double per_s(const struct sim_run *r, const uint64_t *snap)
{
	double s = run_secs(r);
	return s > 0 ? (double)(snap[1] - snap[0]) / s : NAN;
}

static double events_per_s(const struct sim_run *r)
{
	double s = run_secs(r);
	if (s <= 0)
		return NAN;
	return (double)(r->snap_sent[1] - r->snap_sent[0] + r->snap_recv[1] - r->snap_recv[0]) / s;
}

static uint64_t total_errors(const struct sim_run *r)
{
	uint64_t n = 0;
	for (unsigned i = 1; i < SIM_N_ERRCODES; i++)
		n += r->errors[i];
	return n;
}

void sim_report_progress(struct sim_run *r, bool final)
{
	if (final) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
		return;
	}
	uint64_t now = sim_now_us();
	uint64_t frames = r->frames_sent + r->frames_recv;
	double dt = (double)(now - r->last_progress_t) / 1e6;
	double evs = dt > 0 ? (double)(frames - r->last_progress_frames) / dt : 0;
	r->last_progress_t = now;
	r->last_progress_frames = frames;
	const char *ph = r->phase == SIM_PH_SETUP ? "log-in" : r->phase == SIM_PH_RUN ? "run" : "drain";
	double t = r->t0 ? (double)(now - r->t0) / 1e6 : 0;
	fprintf(stderr,
		"\r\033[K[%s %s] %.1f s  offered %" PRIu64 "  live %" PRIu64 "  answered %" PRIu64
		"  abandoned %" PRIu64 "  %.0f ev/s  p99 %" PRIu64 " us  errors %" PRIu64,
		r->label, ph, t, r->next_num, r->live, r->all.answered, r->all.abandoned, evs,
		sim_hist_percentile(r->lat, 99), total_errors(r));
	fflush(stderr);
}

/* ---- text ---- */

static void cell_pct(FILE *f, double v)
{
	if (isnan(v))
		fprintf(f, " %7s", "-");
	else
		fprintf(f, " %6.1f%%", 100 * v);
}

static void cell_ms(FILE *f, double v, double speed)
{
	if (isnan(v))
		fprintf(f, " %9s", "-");
	else
		fprintf(f, " %9.0f", v * speed);
}

static void row_head(FILE *f, const char *first, double sl_ms)
{
	char sl[32];
	snprintf(sl, sizeof sl, "SL@%.0fms", sl_ms);
	fprintf(f, "%-26s %8s %8s %8s %7s %7s %9s %8s %7s %8s\n", first, "offered", "answered",
		"abandon", "reject", "p_wait", "asa_ms", sl, "occup", "closures");
}

static void row(FILE *f, const char *name, const struct sim_kpi *k, double speed)
{
	fprintf(f, "%-26.26s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %7" PRIu64, name, k->offered,
		k->answered, k->abandoned, k->rejected);
	cell_pct(f, sim_kpi_p_wait(k));
	cell_ms(f, sim_kpi_asa_ms(k), speed);
	cell_pct(f, sim_kpi_service_level(k));
	cell_pct(f, sim_kpi_occupancy(k));
	fprintf(f, " %8" PRIu64 "\n", k->closures);
}

static void traffic_text(FILE *f, const struct sim_run *r)
{
	double s = run_secs(r);
	const struct sim_hist *h = r->lat;
	fprintf(f,
		"  %s %s: %.2f s of traffic: %" PRIu64 " calls offered, %" PRIu64
		" finished (%.0f/s), %.0f call events/s\n",
		r->label, r->engine_name[0] ? r->engine_name : "?", s,
		r->snap_offered[1] - r->snap_offered[0], r->snap_done[1] - r->snap_done[0],
		per_s(r, r->snap_done), per_s(r, r->snap_events));
	fprintf(f, "    events %.0f/s (%.0f/s sent + %.0f/s received, every frame on every connection)\n",
		events_per_s(r), per_s(r, r->snap_sent), per_s(r, r->snap_recv));
	if (sim_hist_count(h))
		fprintf(f,
			"    routing latency us: p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64
			"  p99.9 %" PRIu64 "  max %" PRIu64 "  mean %.0f  (n %" PRIu64 ")\n",
			sim_hist_percentile(h, 50), sim_hist_percentile(h, 90),
			sim_hist_percentile(h, 99), sim_hist_percentile(h, 99.9), sim_hist_max(h),
			sim_hist_mean(h), sim_hist_count(h));
}

static void errors_text(FILE *f, const struct sim_run *r)
{
	uint64_t n = total_errors(r);
	if (n == 0 && r->err_unexpected == 0) {
		fprintf(f, "  errors: none");
	} else {
		fprintf(f, "  errors: %" PRIu64 " unexpected, %" PRIu64 " expected races (", r->err_unexpected,
			r->err_expected);
		bool first = true;
		for (unsigned i = 1; i < SIM_N_ERRCODES; i++) {
			if (!r->errors[i])
				continue;
			fprintf(f, "%s%s %" PRIu64, first ? "" : ", ", sim_error_name(i), r->errors[i]);
			first = false;
		}
		fprintf(f, ")");
	}
	if (r->late_answers)
		fprintf(f, "; %" PRIu64 " answers after the caller hung up", r->late_answers);
	if (r->not_ready_events)
		fprintf(f, "; targets paused by the engine %" PRIu64 " times", r->not_ready_events);
	fprintf(f, "\n");
}

static void sales_row(FILE *f, const char *name, const struct sim_sales_fig *g)
{
	fprintf(f, "%-26.26s %8" PRIu64 " %7" PRIu64, name, g->answered, g->orders);
	if (g->answered)
		fprintf(f, " %6.1f%%", 100.0 * (double)g->orders / (double)g->answered);
	else
		fprintf(f, " %7s", "-");
	fprintf(f,
		" %6" PRIu64 " %13.2f %11.2f %6" PRIu64 "/%-5" PRIu64 " %9.2f %6" PRIu64 "/%" PRIu64
		"/%" PRIu64 "\n",
		g->cancelled, (double)g->revenue_minor / 100.0, (double)g->commission_minor / 100.0,
		g->leads, g->qualified_leads, (double)g->lead_fees_minor / 100.0, g->open_placed,
		g->open_allocated, g->open_shipped);
}

static void sales_text(FILE *f, const struct sim_run *r)
{
	fprintf(f, "\nsales loop sent by the desks (every answered call; money in %s)\n",
		r->cfg && r->cfg->sales.currency ? r->cfg->sales.currency : "?");
	fprintf(f, "%-26s %8s %7s %7s %6s %13s %11s %12s %9s %s\n", "target", "answered", "orders",
		"close%", "cancel", "revenue", "commission", "leads/qual", "lead_fees",
		"open placed/alloc/shipped");
	for (size_t i = 0; i < r->n_tgts; i++)
		sales_row(f, r->tgts[i].id, &r->tgts[i].sales);
	sales_row(f, "overall", &r->sales_all);
	fprintf(f, "  delivered %" PRIu64 "; sales failures: %" PRIu64 " error replies, %" PRIu64
		   " unanswered\n",
		r->sales_all.delivered, r->sales_errors, r->sales_unanswered);
}

void sim_report_text(FILE *f, const struct sim_run *r, const struct sim_run *bare,
		     const struct sim_check *chk)
{
	const struct sim_scn *s = r->scn;
	const double sp = r->o->speed;

	fprintf(f, "closeloop-sim %s, scenario \"%s\", seed %" PRIu64 ", speed %g\n",
		r->o->mode == SIM_MODE_LOAD ? "load" : "scenario", s->name, r->seed, sp);
	if (r->t0) {
		traffic_text(f, r);
		errors_text(f, r);
	}
	if (bare && bare->t0) {
		traffic_text(f, bare);
		double a = per_s(r, r->snap_events), b = per_s(bare, bare->snap_events);
		fprintf(f, "  engine / bare: call events/s %.3f, events/s %.3f\n", a / b,
			events_per_s(r) / events_per_s(bare));
	}
	if (r->status != SIM_EXIT_OK && r->why[0])
		fprintf(f, "  FAILED: %s\n", r->why);
	if (bare && bare->status != SIM_EXIT_OK && bare->why[0])
		fprintf(f, "  FAILED (bare server): %s\n", bare->why);
	if (r->bare || !r->t0)
		return;
	const struct sim_run *main_run = r;

	double win = main_run->we > main_run->ws && main_run->we != UINT64_MAX
			     ? (double)(main_run->we - main_run->ws) / 1000.0 * sp
			     : 0;
	fprintf(f, "\nmeasured window %.1f s (after %.1f s warm-up); times in scenario ms\n",
		win / 1000.0, s->warmup_ms * sp / 1000.0);
	row_head(f, "", s->sl_threshold_ms * sp);
	row(f, "overall", &r->all, sp);
	if (r->all.unfinished)
		fprintf(f, "  (%" PRIu64 " calls still live when the grace period ran out)\n",
			r->all.unfinished);
	if (s->n_queues > 1 || r->o->mode == SIM_MODE_SCENARIO) {
		for (size_t i = 0; i < s->n_queues; i++) {
			char name[64];
			snprintf(name, sizeof name, "queue %s", s->queues[i].name);
			row(f, name, &r->qk[i], sp);
		}
		for (size_t i = 0; i < r->n_terrs; i++) {
			char name[64];
			snprintf(name, sizeof name, "territory %s", r->terr_list[i]->name);
			row(f, name, &r->terr_list[i]->k, sp);
		}
	}
	if (r->n_tgts && r->o->mode == SIM_MODE_SCENARIO) {
		fprintf(f, "\n%-26s %8s %8s %8s %7s %9s %8s %8s\n", "target", "offered", "answered",
			"no-ans", "occup", "aht_ms", "closures", "close%");
		for (size_t i = 0; i < r->n_tgts; i++) {
			const struct sim_tgt *t = &r->tgts[i];
			fprintf(f, "%-26.26s %8" PRIu64 " %8" PRIu64 " %8" PRIu64, t->id, t->k.offered,
				t->k.answered, t->k.no_answers);
			double occ = sim_kpi_occupancy(&t->k);
			if (isnan(occ))
				fprintf(f, " %7s", "-");
			else
				fprintf(f, " %6.1f%%", 100 * occ);
			cell_ms(f, sim_kpi_aht_ms(&t->k), sp);
			fprintf(f, " %8" PRIu64, t->k.closures);
			cell_pct(f, sim_kpi_closure_rate(&t->k));
			fprintf(f, "\n");
		}
	}
	if (r->sales_on)
		sales_text(f, r);
	if (chk) {
		fprintf(f, "\nqueueing-theory check (%s): lambda %.4g/s, handle %.4g ms, %u agents",
			chk->model, chk->lambda_per_s, chk->handle_ms, chk->agents);
		if (chk->patience_ms > 0)
			fprintf(f, ", patience %.4g ms", chk->patience_ms);
		fprintf(f, ", SL threshold %.4g ms\n", chk->sl_ms);
		if (chk->why[0]) {
			fprintf(f, "  cannot check: %s\n", chk->why);
		} else {
			fprintf(f,
				"  theory band = formula at handle h .. h + %.3f ms (engine + timer "
				"delay); tolerance = t(99.9%%) x batch-means standard error\n",
				chk->delta_ms);
			fprintf(f, "  %-14s %12s %25s %12s %8s %s\n", "figure", "measured",
				"theory", "tolerance", "batches", "result");
			for (size_t i = 0; i < chk->n_fig; i++) {
				const struct sim_check_fig *g = &chk->fig[i];
				char band[64];
				snprintf(band, sizeof band, "%.4f .. %.4f", g->lo, g->hi);
				fprintf(f, "  %-14s %12.4f %25s %12.4f %8zu %s\n", g->name,
					g->measured, band, g->tol, g->batches,
					g->pass ? "pass" : "FAIL");
			}
			fprintf(f, "  check: %s\n", chk->pass ? "PASS" : "FAIL");
		}
	}
}

/* ---- JSON ---- */

static json_t *num(double v) { return isnan(v) || isinf(v) ? json_null() : json_real(v); }

static json_t *kpi_json(const struct sim_kpi *k, double speed, double sl_ms)
{
	json_t *o = json_object();
	json_object_set_new(o, "offered", json_integer((json_int_t)k->offered));
	json_object_set_new(o, "answered", json_integer((json_int_t)k->answered));
	json_object_set_new(o, "abandoned", json_integer((json_int_t)k->abandoned));
	json_object_set_new(o, "rejected", json_integer((json_int_t)k->rejected));
	json_object_set_new(o, "unfinished", json_integer((json_int_t)k->unfinished));
	json_object_set_new(o, "waited", json_integer((json_int_t)k->waited));
	json_object_set_new(o, "no_answers", json_integer((json_int_t)k->no_answers));
	json_object_set_new(o, "p_wait", num(sim_kpi_p_wait(k)));
	json_object_set_new(o, "asa_ms", num(sim_kpi_asa_ms(k) * speed));
	json_object_set_new(o, "service_level", num(sim_kpi_service_level(k)));
	json_object_set_new(o, "sl_threshold_ms", json_real(sl_ms));
	json_object_set_new(o, "abandon_rate", num(sim_kpi_abandon_rate(k)));
	json_object_set_new(o, "occupancy", num(sim_kpi_occupancy(k)));
	json_object_set_new(o, "aht_ms", num(sim_kpi_aht_ms(k) * speed));
	json_object_set_new(o, "closures", json_integer((json_int_t)k->closures));
	json_object_set_new(o, "closure_rate", num(sim_kpi_closure_rate(k)));
	json_object_set_new(o, "errors", json_integer((json_int_t)k->errors));
	return o;
}

static json_t *traffic_json(const struct sim_run *r)
{
	json_t *o = json_object();
	const struct sim_hist *h = r->lat;
	json_object_set_new(o, "server", json_string(r->engine_name[0] ? r->engine_name : "?"));
	json_object_set_new(o, "traffic_s", num(run_secs(r)));
	json_object_set_new(o, "calls_offered",
			    json_integer((json_int_t)(r->snap_offered[1] - r->snap_offered[0])));
	json_object_set_new(o, "calls_finished",
			    json_integer((json_int_t)(r->snap_done[1] - r->snap_done[0])));
	json_object_set_new(o, "calls_per_s", num(per_s(r, r->snap_done)));
	json_object_set_new(o, "call_events_per_s", num(per_s(r, r->snap_events)));
	json_object_set_new(o, "frames_sent",
			    json_integer((json_int_t)(r->snap_sent[1] - r->snap_sent[0])));
	json_object_set_new(o, "frames_received",
			    json_integer((json_int_t)(r->snap_recv[1] - r->snap_recv[0])));
	json_object_set_new(o, "events_per_s", num(events_per_s(r)));
	json_t *l = json_object();
	json_object_set_new(l, "count", json_integer((json_int_t)sim_hist_count(h)));
	json_object_set_new(l, "p50", json_integer((json_int_t)sim_hist_percentile(h, 50)));
	json_object_set_new(l, "p90", json_integer((json_int_t)sim_hist_percentile(h, 90)));
	json_object_set_new(l, "p99", json_integer((json_int_t)sim_hist_percentile(h, 99)));
	json_object_set_new(l, "p999", json_integer((json_int_t)sim_hist_percentile(h, 99.9)));
	json_object_set_new(l, "max", json_integer((json_int_t)sim_hist_max(h)));
	json_object_set_new(l, "mean", num(sim_hist_mean(h)));
	json_object_set_new(o, "latency_us", l);
	json_object_set_new(o, "status", json_string(r->status == SIM_EXIT_OK ? "ok" : "failed"));
	json_object_set_new(o, "failure", r->why[0] ? json_string(r->why) : json_null());
	return o;
}

static json_t *sales_json(const struct sim_sales_fig *g)
{
	json_t *o = json_object(), *b = json_object();
	json_object_set_new(o, "answered", json_integer((json_int_t)g->answered));
	json_object_set_new(o, "ordered", json_integer((json_int_t)g->ordered));
	json_object_set_new(o, "no_order", json_integer((json_int_t)g->no_order));
	json_object_set_new(o, "orders", json_integer((json_int_t)g->orders));
	json_object_set_new(o, "closure_rate",
			    g->answered ? json_real((double)g->orders / (double)g->answered)
					: json_null());
	json_object_set_new(o, "cancelled", json_integer((json_int_t)g->cancelled));
	json_object_set_new(o, "delivered", json_integer((json_int_t)g->delivered));
	json_object_set_new(o, "revenue_minor", json_integer((json_int_t)g->revenue_minor));
	json_object_set_new(o, "commission_minor", json_integer((json_int_t)g->commission_minor));
	json_object_set_new(o, "leads", json_integer((json_int_t)g->leads));
	json_object_set_new(o, "qualified_leads", json_integer((json_int_t)g->qualified_leads));
	json_object_set_new(o, "lead_fees_minor", json_integer((json_int_t)g->lead_fees_minor));
	json_object_set_new(b, "open", json_integer((json_int_t)(g->open_placed + g->open_allocated +
								  g->open_shipped)));
	json_object_set_new(b, "placed", json_integer((json_int_t)g->open_placed));
	json_object_set_new(b, "allocated", json_integer((json_int_t)g->open_allocated));
	json_object_set_new(b, "shipped", json_integer((json_int_t)g->open_shipped));
	json_object_set_new(o, "backlog", b);
	return o;
}

int sim_report_json(const char *path, const struct sim_run *r, const struct sim_run *bare,
		    const struct sim_check *chk, char *err, size_t errlen)
{
	const struct sim_scn *s = r->scn;
	const double sp = r->o->speed;
	const double sl = s->sl_threshold_ms * sp;
	json_t *root = json_object();
	if (!root) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_object_set_new(root, "tool", json_string("closeloop-sim"));
	json_object_set_new(root, "mode",
			    json_string(r->o->mode == SIM_MODE_LOAD ? "load" : "scenario"));
	json_object_set_new(root, "scenario", json_string(s->name));
	json_object_set_new(root, "config", r->o->config ? json_string(r->o->config) : json_null());
	json_object_set_new(root, "seed", json_integer((json_int_t)r->seed));
	json_object_set_new(root, "speed", json_real(sp));
	json_object_set_new(root, "sl_threshold_ms", json_real(sl));
	json_object_set_new(root, "warmup_ms", json_real(s->warmup_ms * sp));
	double win = r->t0 && r->we > r->ws && r->we != UINT64_MAX
			     ? (double)(r->we - r->ws) / 1000.0 * sp
			     : 0;
	json_object_set_new(root, "window_ms", json_real(win));
	if (r->o->mode == SIM_MODE_LOAD)
		json_object_set_new(root, "window_calls", json_integer(r->o->window));

	json_t *t = traffic_json(r);
	/* The headline figures also at the top level. */
	json_object_set(root, "events_per_s", json_object_get(t, "events_per_s"));
	json_object_set(root, "call_events_per_s", json_object_get(t, "call_events_per_s"));
	json_object_set(root, "calls_per_s", json_object_get(t, "calls_per_s"));
	json_object_set(root, "latency_us", json_object_get(t, "latency_us"));
	json_object_set(root, "status", json_object_get(t, "status"));
	json_object_set_new(root, r->bare ? "bare" : "engine", t);

	json_t *e = json_object(), *by = json_object();
	json_object_set_new(e, "unexpected", json_integer((json_int_t)r->err_unexpected));
	json_object_set_new(e, "expected", json_integer((json_int_t)r->err_expected));
	for (unsigned i = 1; i < SIM_N_ERRCODES; i++)
		if (r->errors[i])
			json_object_set_new(by, sim_error_name(i), json_integer((json_int_t)r->errors[i]));
	json_object_set_new(e, "by_code", by);
	json_object_set_new(e, "late_answers", json_integer((json_int_t)r->late_answers));
	json_object_set_new(root, "errors", e);
	if (bare) {
		json_object_set_new(root, "bare", traffic_json(bare));
		json_t *ratio = json_object();
		json_object_set_new(ratio, "call_events_per_s",
				    num(per_s(r, r->snap_events) / per_s(bare, bare->snap_events)));
		json_object_set_new(ratio, "events_per_s", num(events_per_s(r) / events_per_s(bare)));
		json_object_set_new(root, "engine_vs_bare", ratio);
	}
	if (!r->bare) {
		json_object_set_new(root, "overall", kpi_json(&r->all, sp, sl));
		json_t *q = json_object();
		for (size_t i = 0; i < s->n_queues; i++)
			json_object_set_new(q, s->queues[i].name, kpi_json(&r->qk[i], sp, sl));
		json_object_set_new(root, "queues", q);
		json_t *tr = json_object();
		for (size_t i = 0; i < r->n_terrs; i++)
			json_object_set_new(tr, r->terr_list[i]->name,
					    kpi_json(&r->terr_list[i]->k, sp, sl));
		json_object_set_new(root, "territories", tr);
		json_t *tg = json_object();
		for (size_t i = 0; i < r->n_tgts; i++) {
			const struct sim_tgt *tt = &r->tgts[i];
			json_t *o = json_object();
			json_object_set_new(o, "kind",
					    json_string(tt->kind == CFG_KIND_PARTNER ? "partner" : "rep"));
			json_object_set_new(o, "capacity", json_integer(tt->capacity));
			json_object_set_new(o, "offered", json_integer((json_int_t)tt->k.offered));
			json_object_set_new(o, "answered", json_integer((json_int_t)tt->k.answered));
			json_object_set_new(o, "no_answers", json_integer((json_int_t)tt->k.no_answers));
			json_object_set_new(o, "occupancy", num(sim_kpi_occupancy(&tt->k)));
			json_object_set_new(o, "aht_ms", num(sim_kpi_aht_ms(&tt->k) * sp));
			json_object_set_new(o, "closures", json_integer((json_int_t)tt->k.closures));
			json_object_set_new(o, "closure_rate", num(sim_kpi_closure_rate(&tt->k)));
			json_object_set_new(tg, tt->id, o);
		}
		json_object_set_new(root, "targets", tg);
		json_t *sa = json_object(), *st = json_object();
		json_object_set_new(sa, "enabled", json_boolean(r->sales_on));
		if (r->sales_on) {
			json_object_set_new(sa, "currency", json_string(r->cfg->sales.currency));
			json_object_set_new(sa, "errors", json_integer((json_int_t)r->sales_errors));
			json_object_set_new(sa, "unanswered",
					    json_integer((json_int_t)r->sales_unanswered));
			json_object_set_new(sa, "overall", sales_json(&r->sales_all));
			for (size_t i = 0; i < r->n_tgts; i++) {
				const struct sim_tgt *tt = &r->tgts[i];
				json_t *o = sales_json(&tt->sales);
				json_object_set_new(o, "kind", json_string(tt->kind == CFG_KIND_PARTNER
										  ? "partner"
										  : "rep"));
				json_object_set_new(o, "commission_pct", json_real(tt->commission_pct));
				json_object_set_new(o, "lead_fee_minor",
						    json_integer((json_int_t)tt->lead_fee_minor));
				json_object_set_new(st, tt->id, o);
			}
		}
		json_object_set_new(sa, "targets", st);
		json_object_set_new(root, "sales", sa);
	}
	if (chk) {
		json_t *c = json_object(), *figs = json_object();
		json_object_set_new(c, "model", json_string(chk->model));
		json_object_set_new(c, "lambda_per_s", json_real(chk->lambda_per_s));
		json_object_set_new(c, "handle_ms", json_real(chk->handle_ms));
		json_object_set_new(c, "patience_ms",
				    chk->patience_ms > 0 ? json_real(chk->patience_ms) : json_null());
		json_object_set_new(c, "agents", json_integer(chk->agents));
		json_object_set_new(c, "sl_threshold_ms", json_real(chk->sl_ms));
		json_object_set_new(c, "delta_ms", json_real(chk->delta_ms));
		json_object_set_new(c, "batches", json_integer(r->n_batches));
		for (size_t i = 0; i < chk->n_fig; i++) {
			const struct sim_check_fig *g = &chk->fig[i];
			json_t *o = json_object();
			json_object_set_new(o, "measured", num(g->measured));
			json_object_set_new(o, "theory_lo", num(g->lo));
			json_object_set_new(o, "theory_hi", num(g->hi));
			json_object_set_new(o, "tolerance", num(g->tol));
			json_object_set_new(o, "std_error", num(g->se));
			json_object_set_new(o, "pass", json_boolean(g->pass));
			json_object_set_new(figs, g->name, o);
		}
		json_object_set_new(c, "figures", figs);
		json_object_set_new(c, "pass", json_boolean(chk->pass && !chk->why[0]));
		json_object_set_new(c, "error", chk->why[0] ? json_string(chk->why) : json_null());
		json_object_set_new(root, "erlang_check", c);
	}
	int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	json_decref(root);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot write the JSON report", path);
		return -1;
	}
	return 0;
}
