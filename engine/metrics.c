/*
 * metrics.c — log-bucketed histograms and Prometheus text rendering (see
 * metrics.h for the model and its error bound).
 *
 * The bounds are computed once, as integers in the native unit, so recording
 * never touches floating point; rendering converts to the display unit with
 * the histogram's scale and prints the shortest decimal that reads back as
 * the same double.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

struct metrics_hist {
	size_t n;       /* finite buckets */
	double scale;   /* native unit -> rendered unit */
	double divisor; /* 1/scale when that is a whole number, else 0 */
	uint64_t count, sum;
	uint64_t min, max;                        /* of the observations */
	uint64_t bound[METRICS_MAX_BUCKETS];      /* upper bounds, strictly increasing */
	uint64_t bucket[METRICS_MAX_BUCKETS + 1]; /* [n] = overflow */
};

struct metrics_hist *metrics_hist_new(uint64_t first, unsigned per_octave, unsigned n, double scale)
{
	if (first < 1 || per_octave < 1 || per_octave > 8 || n < 1 || n > METRICS_MAX_BUCKETS ||
	    !(scale > 0) || !isfinite(scale))
		return NULL;
	struct metrics_hist *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->scale = scale;
	/* Dividing by 1e6 gives the correctly rounded 5e-06 where multiplying
	 * by 1e-6 gives 4.9999999999999996e-06: divide when we can. */
	double inv = 1.0 / scale;
	if (inv >= 1.0 && fabs(inv - floor(inv + 0.5)) < 1e-9 * inv)
		h->divisor = floor(inv + 0.5);
	for (unsigned i = 0; i < n; i++) {
		double b = (double)first * exp2((double)i / per_octave);
		if (b >= 1.8e19)
			break; /* the next bound would not fit in 64 bits */
		uint64_t v = (uint64_t)floor(b + 0.5);
		if (h->n && v <= h->bound[h->n - 1])
			continue; /* rounds onto the previous bound: merge */
		h->bound[h->n++] = v;
	}
	return h;
}

void metrics_hist_free(struct metrics_hist *h) { free(h); }

void metrics_hist_observe(struct metrics_hist *h, uint64_t v)
{
	/* First bound >= v; n when v is above every bound (overflow). */
	size_t lo = 0, hi = h->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (h->bound[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	h->bucket[lo]++;
	if (!h->count || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
}

uint64_t metrics_hist_count(const struct metrics_hist *h) { return h->count; }
uint64_t metrics_hist_sum(const struct metrics_hist *h) { return h->sum; }
uint64_t metrics_hist_min(const struct metrics_hist *h) { return h->min; }
uint64_t metrics_hist_max(const struct metrics_hist *h) { return h->max; }
size_t metrics_hist_buckets(const struct metrics_hist *h) { return h->n; }

uint64_t metrics_hist_bound(const struct metrics_hist *h, size_t i)
{
	return i < h->n ? h->bound[i] : 0;
}

uint64_t metrics_hist_bucket_count(const struct metrics_hist *h, size_t i)
{
	return i <= h->n ? h->bucket[i] : 0;
}

/* The estimate inside a bucket, kept within what was actually observed. */
static double clamp_seen(const struct metrics_hist *h, double v)
{
	if (v < (double)h->min)
		return (double)h->min;
	if (v > (double)h->max)
		return (double)h->max;
	return v;
}

double metrics_hist_quantile(const struct metrics_hist *h, double q)
{
	if (!h->count || !(q >= 0))
		return 0;
	if (q > 1)
		q = 1;
	double rank = q * (double)h->count;
	uint64_t seen = 0;
	for (size_t i = 0; i <= h->n; i++) {
		uint64_t in = h->bucket[i];
		if (!in || (double)(seen + in) < rank) {
			seen += in;
			continue;
		}
		if (i == h->n)
			return (double)h->max;
		double lo = i ? (double)h->bound[i - 1] : 0, hi = (double)h->bound[i];
		double frac = (rank - (double)seen) / (double)in;
		if (frac < 0)
			frac = 0;
		return clamp_seen(h, lo + (hi - lo) * frac);
	}
	return (double)h->max;
}

/* ---- text format ---- */

int metrics_label_escape(char *dst, size_t len, const char *value)
{
	size_t o = 0;

	if (!len)
		return -1;
	for (const char *p = value ? value : ""; *p; p++) {
		const char *rep = NULL;
		char one[2] = {*p, 0};
		switch (*p) {
		case '\\': rep = "\\\\"; break;
		case '"': rep = "\\\""; break;
		case '\n': rep = "\\n"; break;
		default: rep = one; break;
		}
		size_t rl = strlen(rep);
		if (o + rl >= len) {
			dst[o] = '\0';
			return -1;
		}
		memcpy(dst + o, rep, rl);
		o += rl;
	}
	dst[o] = '\0';
	return (int)o;
}

/* Shortest "%.*g" that reads back as v; Prometheus spellings of the rest. */
static void format_double(char *buf, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

int metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	return evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type) < 0
		       ? -1
		       : 0;
}

static int sample_text(struct evbuffer *out, const char *name, const char *labels,
		       const char *value)
{
	int rc = labels && *labels ? evbuffer_add_printf(out, "%s{%s} %s\n", name, labels, value)
				   : evbuffer_add_printf(out, "%s %s\n", name, value);
	return rc < 0 ? -1 : 0;
}

int metrics_sample_u64(struct evbuffer *out, const char *name, const char *labels, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%" PRIu64, v);
	return sample_text(out, name, labels, buf);
}

int metrics_sample_double(struct evbuffer *out, const char *name, const char *labels, double v)
{
	char buf[40];
	format_double(buf, sizeof buf, v);
	return sample_text(out, name, labels, buf);
}

static double rendered(const struct metrics_hist *h, uint64_t v)
{
	return h->divisor ? (double)v / h->divisor : (double)v * h->scale;
}

int metrics_hist_render(struct evbuffer *out, const char *name, const char *labels,
			const struct metrics_hist *h)
{
	char metric[256], lab[512], le[40];
	const char *sep = labels && *labels ? "," : "";
	const char *pre = labels && *labels ? labels : "";
	uint64_t cum = 0;

	if ((size_t)snprintf(metric, sizeof metric, "%s_bucket", name) >= sizeof metric)
		return -1;
	for (size_t i = 0; i <= h->n; i++) {
		cum += h->bucket[i];
		if (i < h->n)
			format_double(le, sizeof le, rendered(h, h->bound[i]));
		else
			snprintf(le, sizeof le, "+Inf");
		if ((size_t)snprintf(lab, sizeof lab, "%s%sle=\"%s\"", pre, sep, le) >= sizeof lab)
			return -1;
		if (metrics_sample_u64(out, metric, lab, cum) < 0)
			return -1;
	}
	snprintf(metric, sizeof metric, "%s_sum", name);
	if (metrics_sample_double(out, metric, labels, rendered(h, h->sum)) < 0)
		return -1;
	snprintf(metric, sizeof metric, "%s_count", name);
	return metrics_sample_u64(out, metric, labels, h->count);
}
