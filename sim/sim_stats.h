/*
 * sim_stats.h — the simulator's measurements: a log-bucketed latency
 * histogram, contact-centre KPI counters and batch-means statistics.
 *
 * The histogram is HDR-style: values below 2^SIM_HIST_SUB_BITS are exact,
 * larger ones fall into 2^(SIM_HIST_SUB_BITS-1) linear sub-buckets per power
 * of two, so every recorded value is known to within 1/64 (1.6 %) relative,
 * at a fixed 30 KiB per histogram and O(1) per record, whatever the run's
 * length. Percentiles report the highest value of the bucket the rank falls
 * in (clamped to the largest value recorded), as HdrHistogram does: a
 * percentile is never under-reported.
 *
 * The KPI counters are plain sums; the ratios are computed on demand and are
 * NAN when their denominator is zero (the report prints "-" / JSON null).
 * Definitions (docs/sim.md has the long version):
 *   p_wait        = waited / offered
 *   asa_ms        = wait_ms / answered
 *   service_level = answered_in_sl / (answered + abandoned_after_sl)
 *   abandon_rate  = abandoned / offered
 *   occupancy     = busy_ms / seat_ms
 * Single-threaded; no hidden state.
 */
#ifndef CL_SIM_STATS_H
#define CL_SIM_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIM_HIST_SUB_BITS 7

struct sim_hist;

/* Returns NULL on allocation failure. sim_hist_free(NULL) does nothing. */
struct sim_hist *sim_hist_new(void);
void sim_hist_free(struct sim_hist *h);
void sim_hist_reset(struct sim_hist *h);

void sim_hist_record(struct sim_hist *h, uint64_t v);
/* dst += src. */
void sim_hist_merge(struct sim_hist *dst, const struct sim_hist *src);

uint64_t sim_hist_count(const struct sim_hist *h);
uint64_t sim_hist_min(const struct sim_hist *h); /* 0 when empty */
uint64_t sim_hist_max(const struct sim_hist *h);
double sim_hist_mean(const struct sim_hist *h);  /* exact (sum / count); NAN when empty */
/* pct in [0, 100]: the smallest bucket holding at least ceil(pct% · count)
 * values, reported as its highest value (≤ max). 0 when empty. */
uint64_t sim_hist_percentile(const struct sim_hist *h, double pct);

struct sim_kpi {
	uint64_t offered;            /* CallOffered sent */
	uint64_t waited;             /* first answer to CallOffered was QueueCall */
	uint64_t routed;             /* got at least one RouteCall */
	uint64_t rejected;           /* ended by RejectCall */
	uint64_t answered;           /* CallAnswered sent */
	uint64_t answered_in_sl;     /* of those, wait <= the threshold */
	uint64_t abandoned;          /* CallAbandoned sent (caller's patience ran out) */
	uint64_t abandoned_after_sl; /* of those, after waiting more than the threshold */
	uint64_t no_answers;         /* CallNoAnswer sent or offer declined */
	uint64_t unfinished;         /* still live when the grace period ran out */
	uint64_t closures;           /* orders closed on answered calls */
	uint64_t errors;             /* Error frames naming one of these calls */
	double wait_ms;              /* Σ offered → answered, answered calls */
	double talk_ms;              /* Σ answered → ended */
	double busy_ms;              /* seat time held: reservation → release, + wrap-up */
	double seat_ms;              /* logged-in seat time (capacity × time) */
};

void sim_kpi_add(struct sim_kpi *dst, const struct sim_kpi *src);
double sim_kpi_p_wait(const struct sim_kpi *k);
double sim_kpi_asa_ms(const struct sim_kpi *k);
double sim_kpi_service_level(const struct sim_kpi *k);
double sim_kpi_abandon_rate(const struct sim_kpi *k);
double sim_kpi_occupancy(const struct sim_kpi *k);
double sim_kpi_aht_ms(const struct sim_kpi *k);      /* talk_ms / answered */
double sim_kpi_closure_rate(const struct sim_kpi *k); /* closures / answered */

/*
 * Batch means: the mean of x[0..n) and the standard error of that mean,
 * sd(x)/√n with the sample standard deviation. NAN entries (a batch where the
 * figure is undefined) are skipped; *used receives how many counted (may be
 * NULL). Returns 0, or -1 with fewer than 2 usable batches.
 */
int sim_batch_means(const double *x, size_t n, double *mean, double *se, size_t *used);

/* Two-sided 99.9 % quantile of Student's t with dof degrees of freedom:
 * the tables up to 10, a Cornish–Fisher expansion above (within 0.1 % of the
 * tables there). INFINITY for 0. */
double sim_t999(unsigned dof);

#ifdef __cplusplus
}
#endif
#endif /* CL_SIM_STATS_H */
