/*
 * test_metrics.c — log-bucketed histograms (bounds, bucketing, quantiles)
 * and the Prometheus text renderer (families, samples, label escaping,
 * number formatting, histogram series).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "metrics.h"

/* The buffer's text, NUL-terminated; caller frees. */
static char *text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_copyout(b, s, n);
	s[n] = '\0';
	return s;
}

static void test_hist_bad_args(void **state)
{
	(void)state;
	assert_null(metrics_hist_new(0, 1, 10, 1.0));
	assert_null(metrics_hist_new(1, 0, 10, 1.0));
	assert_null(metrics_hist_new(1, 9, 10, 1.0));
	assert_null(metrics_hist_new(1, 1, 0, 1.0));
	assert_null(metrics_hist_new(1, 1, METRICS_MAX_BUCKETS + 1, 1.0));
	assert_null(metrics_hist_new(1, 1, 10, 0.0));
	assert_null(metrics_hist_new(1, 1, 10, NAN));
	metrics_hist_free(NULL);
}

static void test_hist_bounds(void **state)
{
	(void)state;
	struct metrics_hist *h = metrics_hist_new(10, 2, 6, 1e-3);
	assert_non_null(h);
	/* 10 * 2^(i/2), rounded */
	static const uint64_t want[] = {10, 14, 20, 28, 40, 57};
	assert_int_equal(metrics_hist_buckets(h), 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(metrics_hist_bound(h, i), want[i]);
	assert_int_equal(metrics_hist_bound(h, 6), 0);
	metrics_hist_free(h);

	/* Bounds that round onto the previous one are merged: 1, 1.19, 1.41,
	 * 1.68, 2, ... at four per octave start as 1, 2, 3, 4. */
	h = metrics_hist_new(1, 4, 8, 1.0);
	assert_non_null(h);
	assert_true(metrics_hist_buckets(h) < 8);
	for (size_t i = 1; i < metrics_hist_buckets(h); i++)
		assert_true(metrics_hist_bound(h, i) > metrics_hist_bound(h, i - 1));
	metrics_hist_free(h);

	/* All 64 buckets at one per octave from 1 stay within 64 bits. */
	h = metrics_hist_new(1, 1, METRICS_MAX_BUCKETS, 1.0);
	assert_non_null(h);
	assert_true(metrics_hist_buckets(h) <= METRICS_MAX_BUCKETS);
	assert_int_equal(metrics_hist_bound(h, 63), UINT64_C(1) << 63);
	metrics_hist_observe(h, UINT64_MAX);
	assert_int_equal(metrics_hist_bucket_count(h, metrics_hist_buckets(h)), 1);
	metrics_hist_free(h);
}

static void test_hist_observe(void **state)
{
	(void)state;
	struct metrics_hist *h = metrics_hist_new(10, 2, 6, 1e-3);
	assert_non_null(h);
	/* Upper bounds are inclusive (Prometheus "le"). */
	metrics_hist_observe(h, 0);
	metrics_hist_observe(h, 10);
	metrics_hist_observe(h, 11);
	metrics_hist_observe(h, 14);
	metrics_hist_observe(h, 57);
	metrics_hist_observe(h, 58);
	metrics_hist_observe(h, 1000000);
	assert_int_equal(metrics_hist_bucket_count(h, 0), 2);
	assert_int_equal(metrics_hist_bucket_count(h, 1), 2);
	assert_int_equal(metrics_hist_bucket_count(h, 2), 0);
	assert_int_equal(metrics_hist_bucket_count(h, 5), 1);
	assert_int_equal(metrics_hist_bucket_count(h, 6), 2); /* overflow */
	assert_int_equal(metrics_hist_bucket_count(h, 7), 0); /* out of range */
	assert_int_equal(metrics_hist_count(h), 7);
	assert_int_equal(metrics_hist_sum(h), 0 + 10 + 11 + 14 + 57 + 58 + 1000000);
	assert_int_equal(metrics_hist_min(h), 0);
	assert_int_equal(metrics_hist_max(h), 1000000);
	metrics_hist_free(h);
}

static void test_hist_quantile(void **state)
{
	(void)state;
	struct metrics_hist *h = metrics_hist_new(1, 1, 10, 1.0); /* 1,2,4,...,512 */
	assert_non_null(h);
	assert_true(metrics_hist_quantile(h, 0.5) == 0.0); /* empty */
	for (uint64_t v = 1; v <= 100; v++)
		metrics_hist_observe(h, v);
	/* The true median, 50, is in (32, 64]; the estimate must be there. */
	double p50 = metrics_hist_quantile(h, 0.5);
	assert_true(p50 > 32.0 && p50 <= 64.0);
	/* Within one bucket's width of the truth (factor 2 here). */
	double p90 = metrics_hist_quantile(h, 0.9);
	assert_true(p90 >= 45.0 && p90 <= 100.0);
	/* Never beyond what was observed. */
	assert_true(metrics_hist_quantile(h, 1.0) == 100.0);
	assert_true(metrics_hist_quantile(h, 2.0) == 100.0);
	assert_true(metrics_hist_quantile(h, 0.0) >= 1.0);
	assert_true(metrics_hist_quantile(h, -1.0) == 0.0);
	metrics_hist_free(h);

	/* All observations equal: every quantile is that value, not the
	 * bucket's middle. */
	h = metrics_hist_new(10, 2, 8, 1.0);
	for (int i = 0; i < 5; i++)
		metrics_hist_observe(h, 3);
	assert_true(metrics_hist_quantile(h, 0.5) == 3.0);
	assert_true(metrics_hist_quantile(h, 0.99) == 3.0);
	/* In the overflow bucket: the largest observation. */
	metrics_hist_observe(h, 1000);
	assert_true(metrics_hist_quantile(h, 1.0) == 1000.0);
	metrics_hist_free(h);
}

static void test_label_escape(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(metrics_label_escape(buf, sizeof buf, "plain"), 5);
	assert_string_equal(buf, "plain");
	assert_int_equal(metrics_label_escape(buf, sizeof buf, "a\"b\\c\nd"), 10);
	assert_string_equal(buf, "a\\\"b\\\\c\\nd");
	assert_int_equal(metrics_label_escape(buf, sizeof buf, NULL), 0);
	assert_string_equal(buf, "");
	/* Too small: -1 and a truncated prefix that never splits an escape. */
	char small[4];
	assert_int_equal(metrics_label_escape(small, sizeof small, "ab\"c"), -1);
	assert_string_equal(small, "ab");
	assert_int_equal(metrics_label_escape(small, 0, "x"), -1);
}

static void test_samples(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	assert_int_equal(metrics_family(b, "x_total", "counter", "Things seen."), 0);
	assert_int_equal(metrics_sample_u64(b, "x_total", NULL, 0), 0);
	assert_int_equal(metrics_sample_u64(b, "x_total", "", UINT64_MAX), 0);
	assert_int_equal(metrics_sample_u64(b, "x_total", "k=\"v\"", 42), 0);
	assert_int_equal(metrics_sample_double(b, "y", NULL, 0.5), 0);
	assert_int_equal(metrics_sample_double(b, "y", NULL, 1e-6), 0);
	assert_int_equal(metrics_sample_double(b, "y", NULL, 0.1), 0);
	assert_int_equal(metrics_sample_double(b, "y", NULL, 123456789.0), 0);
	assert_int_equal(metrics_sample_double(b, "y", NULL, NAN), 0);
	assert_int_equal(metrics_sample_double(b, "y", NULL, INFINITY), 0);
	assert_int_equal(metrics_sample_double(b, "y", NULL, -INFINITY), 0);
	char *s = text_of(b);
	assert_string_equal(s, "# HELP x_total Things seen.\n"
			       "# TYPE x_total counter\n"
			       "x_total 0\n"
			       "x_total 18446744073709551615\n"
			       "x_total{k=\"v\"} 42\n"
			       "y 0.5\n"
			       "y 1e-06\n"
			       "y 0.1\n"
			       "y 123456789\n"
			       "y NaN\n"
			       "y +Inf\n"
			       "y -Inf\n");
	free(s);
	evbuffer_free(b);
}

static void test_hist_render(void **state)
{
	(void)state;
	struct metrics_hist *h = metrics_hist_new(5, 1, 3, 1e-6); /* 5, 10, 20 µs */
	struct evbuffer *b = evbuffer_new();
	metrics_hist_observe(h, 3);
	metrics_hist_observe(h, 7);
	metrics_hist_observe(h, 8);
	metrics_hist_observe(h, 100);
	assert_int_equal(metrics_hist_render(b, "lat_seconds", "fe=\"http\"", h), 0);
	assert_int_equal(metrics_hist_render(b, "lat_seconds", NULL, h), 0);
	char *s = text_of(b);
	assert_string_equal(s, "lat_seconds_bucket{fe=\"http\",le=\"5e-06\"} 1\n"
			       "lat_seconds_bucket{fe=\"http\",le=\"1e-05\"} 3\n"
			       "lat_seconds_bucket{fe=\"http\",le=\"2e-05\"} 3\n"
			       "lat_seconds_bucket{fe=\"http\",le=\"+Inf\"} 4\n"
			       "lat_seconds_sum{fe=\"http\"} 0.000118\n"
			       "lat_seconds_count{fe=\"http\"} 4\n"
			       "lat_seconds_bucket{le=\"5e-06\"} 1\n"
			       "lat_seconds_bucket{le=\"1e-05\"} 3\n"
			       "lat_seconds_bucket{le=\"2e-05\"} 3\n"
			       "lat_seconds_bucket{le=\"+Inf\"} 4\n"
			       "lat_seconds_sum 0.000118\n"
			       "lat_seconds_count 4\n");
	free(s);
	evbuffer_free(b);
	metrics_hist_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_bad_args), cmocka_unit_test(test_hist_bounds),
		cmocka_unit_test(test_hist_observe),  cmocka_unit_test(test_hist_quantile),
		cmocka_unit_test(test_label_escape),  cmocka_unit_test(test_samples),
		cmocka_unit_test(test_hist_render),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
