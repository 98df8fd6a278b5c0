/*
 * sim_stats.c — histogram, KPI ratios and batch means (see sim_stats.h).
 */
#include "sim_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUB (1u << SIM_HIST_SUB_BITS) /* exact values below this */
#define HALF (SUB / 2)                /* sub-buckets per power of two above */
#define BUCKETS (SUB + (64 - SIM_HIST_SUB_BITS) * HALF)

struct sim_hist {
	uint64_t count, min, max;
	double sum;
	uint64_t b[BUCKETS];
};

struct sim_hist *sim_hist_new(void)
{
	struct sim_hist *h = calloc(1, sizeof *h);
	return h;
}

void sim_hist_free(struct sim_hist *h) { free(h); }

void sim_hist_reset(struct sim_hist *h) { memset(h, 0, sizeof *h); }

static size_t bucket_of(uint64_t v)
{
	if (v < SUB)
		return (size_t)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* ≥ SUB_BITS */
	uint64_t m = v >> (e - (SIM_HIST_SUB_BITS - 1)); /* in [HALF, SUB) */
	return SUB + (size_t)(e - SIM_HIST_SUB_BITS) * HALF + (size_t)(m - HALF);
}

static uint64_t bucket_high(size_t b)
{
	if (b < SUB)
		return b;
	size_t i = b - SUB;
	unsigned e = SIM_HIST_SUB_BITS + (unsigned)(i / HALF);
	uint64_t m = HALF + i % HALF;
	unsigned shift = e - (SIM_HIST_SUB_BITS - 1);
	uint64_t low = m << shift;
	return low + ((1ull << shift) - 1);
}

void sim_hist_record(struct sim_hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += (double)v;
	h->b[bucket_of(v)]++;
}

void sim_hist_merge(struct sim_hist *dst, const struct sim_hist *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	for (size_t i = 0; i < BUCKETS; i++)
		dst->b[i] += src->b[i];
}

uint64_t sim_hist_count(const struct sim_hist *h) { return h->count; }
uint64_t sim_hist_min(const struct sim_hist *h) { return h->count ? h->min : 0; }
uint64_t sim_hist_max(const struct sim_hist *h) { return h->max; }

double sim_hist_mean(const struct sim_hist *h)
{
	return h->count ? h->sum / (double)h->count : NAN;
}

uint64_t sim_hist_percentile(const struct sim_hist *h, double pct)
{
	if (h->count == 0)
		return 0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->count);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = bucket_high(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

void sim_kpi_add(struct sim_kpi *d, const struct sim_kpi *s)
{
	d->offered += s->offered;
	d->waited += s->waited;
	d->routed += s->routed;
	d->rejected += s->rejected;
	d->answered += s->answered;
	d->answered_in_sl += s->answered_in_sl;
	d->abandoned += s->abandoned;
	d->abandoned_after_sl += s->abandoned_after_sl;
	d->no_answers += s->no_answers;
	d->unfinished += s->unfinished;
	d->closures += s->closures;
	d->errors += s->errors;
	d->wait_ms += s->wait_ms;
	d->talk_ms += s->talk_ms;
	d->busy_ms += s->busy_ms;
	d->seat_ms += s->seat_ms;
}

static double ratio(double num, double den) { return den > 0 ? num / den : NAN; }

double sim_kpi_p_wait(const struct sim_kpi *k)
{
	return ratio((double)k->waited, (double)k->offered);
}
double sim_kpi_asa_ms(const struct sim_kpi *k) { return ratio(k->wait_ms, (double)k->answered); }
double sim_kpi_abandon_rate(const struct sim_kpi *k)
{
	return ratio((double)k->abandoned, (double)k->offered);
}
double sim_kpi_occupancy(const struct sim_kpi *k) { return ratio(k->busy_ms, k->seat_ms); }
double sim_kpi_aht_ms(const struct sim_kpi *k) { return ratio(k->talk_ms, (double)k->answered); }
double sim_kpi_closure_rate(const struct sim_kpi *k)
{
	return ratio((double)k->closures, (double)k->answered);
}

double sim_kpi_service_level(const struct sim_kpi *k)
{
	return ratio((double)k->answered_in_sl, (double)(k->answered + k->abandoned_after_sl));
}

int sim_batch_means(const double *x, size_t n, double *mean, double *se, size_t *used)
{
	double sum = 0.0;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i]))
			continue;
		sum += x[i];
		m++;
	}
	if (used)
		*used = m;
	if (m < 2)
		return -1;
	double mu = sum / (double)m, ss = 0.0;
	for (size_t i = 0; i < n; i++) {
		if (!isnan(x[i]))
			ss += (x[i] - mu) * (x[i] - mu);
	}
	*mean = mu;
	*se = sqrt(ss / (double)(m - 1)) / sqrt((double)m);
	return 0;
}

double sim_t999(unsigned dof)
{
	const double z = 3.290526731491926; /* normal 0.9995 quantile */
	/* Tables for few degrees of freedom, where the expansion is poor. */
	static const double small[] = {INFINITY, 636.619, 31.599, 12.924, 8.610, 6.869,
				       5.959,    5.408,   5.041,  4.781,  4.587};
	if (dof <= 10)
		return small[dof];
	double v = (double)dof, z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2,
	       z9 = z7 * z2;
	return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) +
	       (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v) +
	       (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * v * v * v * v);
}
