/*
 * metrics.h — log-bucketed histograms and the Prometheus text exposition
 * format (version 0.0.4), for the HTTP API's /metrics and /v1/stats.
 *
 * A histogram counts integer observations in a native unit (microseconds,
 * milliseconds) into buckets whose upper bounds grow geometrically:
 * first * 2^(i / per_octave), rounded to integers and strictly increasing,
 * plus an overflow bucket (+Inf). Recording costs a binary search over at
 * most METRICS_MAX_BUCKETS bounds and three additions; nothing allocates
 * after metrics_hist_new. The relative error of a quantile read from it is
 * at most one bucket's width (2^(1/per_octave) - 1: 41 % at two buckets per
 * octave), which is what a dashboard needs and keeps the series count small.
 *
 * The renderer writes families (# HELP / # TYPE) and samples
 * (`name{labels} value`) into an evbuffer. Label values are escaped here
 * (backslash, double quote, newline); metric and label names are the
 * caller's constants and are not checked.
 *
 * Not thread-safe: one loop thread records and renders.
 */
#ifndef CL_METRICS_H
#define CL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct evbuffer;
struct metrics_hist;

/* Finite buckets per histogram, at most. */
#define METRICS_MAX_BUCKETS 64u

/*
 * New histogram with n finite buckets (1..METRICS_MAX_BUCKETS), the first
 * bound `first` (>= 1, native units), per_octave buckets per doubling (1..8)
 * and `scale`, the factor from native units to the unit rendered (1e-6 for
 * microseconds shown as seconds). Bounds that round to the same integer are
 * merged, so a histogram may have fewer buckets than asked. Returns NULL on
 * a bad argument or no memory.
 */
struct metrics_hist *metrics_hist_new(uint64_t first, unsigned per_octave, unsigned n,
				      double scale);
/* NULL does nothing. */
void metrics_hist_free(struct metrics_hist *h);

/* Count one observation of v native units. */
void metrics_hist_observe(struct metrics_hist *h, uint64_t v);

uint64_t metrics_hist_count(const struct metrics_hist *h);
/* Smallest and largest observation; 0 when empty. */
uint64_t metrics_hist_min(const struct metrics_hist *h);
uint64_t metrics_hist_max(const struct metrics_hist *h);
/* Sum of the observations, native units (wraps after 2^64). */
uint64_t metrics_hist_sum(const struct metrics_hist *h);
/* Number of finite buckets. */
size_t metrics_hist_buckets(const struct metrics_hist *h);
/* Upper bound of finite bucket i, native units (0 when i is out of range). */
uint64_t metrics_hist_bound(const struct metrics_hist *h, size_t i);
/* Observations in bucket i (not cumulative); i == metrics_hist_buckets()
 * is the overflow bucket. 0 when out of range. */
uint64_t metrics_hist_bucket_count(const struct metrics_hist *h, size_t i);

/*
 * Estimate the q-quantile (0 <= q <= 1) in native units, interpolating
 * linearly inside the bucket that holds it and keeping the estimate within
 * the smallest and largest observation (an estimate in the overflow bucket
 * is the largest observation). 0 when the histogram is empty.
 */
double metrics_hist_quantile(const struct metrics_hist *h, double q);

/* ---- Prometheus text format ---- */

/*
 * Escape a label value into dst (NUL-terminated). Returns the length, or -1
 * when dst is too small (dst then holds a truncated, still valid prefix).
 */
int metrics_label_escape(char *dst, size_t len, const char *value);

/*
 * "# HELP name help\n# TYPE name type\n". type is "counter", "gauge" or
 * "histogram"; help must not contain a newline. Returns 0 or -1 (no memory).
 */
int metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help);

/*
 * One sample line. labels is NULL or the inside of the braces, already
 * escaped, e.g. `code="bad_frame"` (metrics_label_escape). Returns 0 or -1.
 * Doubles are written with up to 17 significant digits; NaN and infinities
 * as Prometheus spells them.
 */
int metrics_sample_u64(struct evbuffer *out, const char *name, const char *labels, uint64_t v);
int metrics_sample_double(struct evbuffer *out, const char *name, const char *labels, double v);

/*
 * The samples of a histogram (cumulative name_bucket{...,le="..."} lines, the
 * +Inf bucket, name_sum and name_count), in the rendered unit. labels as
 * above, may be NULL. The family header is the caller's (metrics_family).
 * Returns 0 or -1.
 */
int metrics_hist_render(struct evbuffer *out, const char *name, const char *labels,
			const struct metrics_hist *h);

#ifdef __cplusplus
}
#endif
#endif /* CL_METRICS_H */
