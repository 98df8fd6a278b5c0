/*
 * test_sim_stats.c — the simulator's histogram, KPI ratios and batch means.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_rng.h"
#include "sim_stats.h"

static int setup(void **state)
{
	*state = sim_hist_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	sim_hist_free(*state);
	return 0;
}

static void test_hist_empty(void **state)
{
	struct sim_hist *h = *state;
	assert_int_equal(sim_hist_count(h), 0);
	assert_int_equal(sim_hist_percentile(h, 50), 0);
	assert_int_equal(sim_hist_min(h), 0);
	assert_true(isnan(sim_hist_mean(h)));
	sim_hist_free(NULL);
}

static void test_hist_small_values_exact(void **state)
{
	struct sim_hist *h = *state;
	for (uint64_t v = 1; v <= 100; v++)
		sim_hist_record(h, v);
	assert_int_equal(sim_hist_percentile(h, 50), 50);
	assert_int_equal(sim_hist_percentile(h, 90), 90);
	assert_int_equal(sim_hist_percentile(h, 99), 99);
	assert_int_equal(sim_hist_percentile(h, 100), 100);
	assert_int_equal(sim_hist_percentile(h, 0), 1);
	assert_int_equal(sim_hist_min(h), 1);
	assert_int_equal(sim_hist_max(h), 100);
	assert_true(fabs(sim_hist_mean(h) - 50.5) < 1e-12);
}

/* Every percentile is within the bucket resolution (1/64) above the true
 * order statistic, never below it. */
static void test_hist_relative_error(void **state)
{
	struct sim_hist *h = *state;
	const uint64_t n = 200000;
	for (uint64_t v = 1; v <= n; v++)
		sim_hist_record(h, v * 37); /* 37 .. 7.4e6 */
	static const double pcts[] = {10, 50, 90, 99, 99.9, 99.99};
	for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
		double exact = ceil(pcts[i] / 100.0 * (double)n) * 37.0;
		double got = (double)sim_hist_percentile(h, pcts[i]);
		assert_true(got >= exact);
		assert_true(got <= exact * (1.0 + 1.0 / 64.0) + 1);
	}
	assert_int_equal(sim_hist_percentile(h, 100), n * 37);
}

static void test_hist_huge_and_merge(void **state)
{
	struct sim_hist *h = *state;
	struct sim_hist *g = sim_hist_new();
	assert_non_null(g);
	sim_hist_record(h, UINT64_MAX);
	sim_hist_record(h, 0);
	sim_hist_record(g, 1000);
	sim_hist_record(g, 3000);
	sim_hist_merge(h, g);
	assert_int_equal(sim_hist_count(h), 4);
	assert_int_equal(sim_hist_min(h), 0);
	assert_int_equal(sim_hist_max(h), UINT64_MAX);
	uint64_t p50 = sim_hist_percentile(h, 50); /* the 2nd value: 1000 */
	assert_true(p50 >= 1000 && p50 < 1016);
	assert_int_equal(sim_hist_percentile(h, 100), UINT64_MAX);
	sim_hist_reset(g);
	assert_int_equal(sim_hist_count(g), 0);
	sim_hist_free(g);
}

/* Exponential samples: the histogram's median matches mean·ln 2. */
static void test_hist_exponential(void **state)
{
	struct sim_hist *h = *state;
	struct sim_rng r;
	sim_rng_seed(&r, 42);
	for (int i = 0; i < 400000; i++)
		sim_hist_record(h, (uint64_t)sim_rng_exp(&r, 100000.0));
	double med = (double)sim_hist_percentile(h, 50);
	assert_true(fabs(med / (100000.0 * log(2.0)) - 1.0) < 0.02);
	double p99 = (double)sim_hist_percentile(h, 99);
	assert_true(fabs(p99 / (100000.0 * log(100.0)) - 1.0) < 0.03);
	assert_true(fabs(sim_hist_mean(h) / 100000.0 - 1.0) < 0.01);
}

static void test_kpi_ratios(void **state)
{
	(void)state;
	struct sim_kpi k = {0};
	assert_true(isnan(sim_kpi_p_wait(&k)));
	assert_true(isnan(sim_kpi_service_level(&k)));
	assert_true(isnan(sim_kpi_occupancy(&k)));
	k.offered = 100;
	k.waited = 40;
	k.answered = 80;
	k.answered_in_sl = 60;
	k.abandoned = 15;
	k.abandoned_after_sl = 10; /* 5 short abandons do not count */
	k.wait_ms = 8000;
	k.talk_ms = 24000;
	k.busy_ms = 30;
	k.seat_ms = 40;
	k.closures = 20;
	assert_true(fabs(sim_kpi_p_wait(&k) - 0.4) < 1e-15);
	assert_true(fabs(sim_kpi_asa_ms(&k) - 100) < 1e-12);
	assert_true(fabs(sim_kpi_service_level(&k) - 60.0 / 90.0) < 1e-15);
	assert_true(fabs(sim_kpi_abandon_rate(&k) - 0.15) < 1e-15);
	assert_true(fabs(sim_kpi_occupancy(&k) - 0.75) < 1e-15);
	assert_true(fabs(sim_kpi_aht_ms(&k) - 300) < 1e-12);
	assert_true(fabs(sim_kpi_closure_rate(&k) - 0.25) < 1e-15);
	struct sim_kpi sum = {0};
	sim_kpi_add(&sum, &k);
	sim_kpi_add(&sum, &k);
	assert_int_equal(sum.offered, 200);
	assert_int_equal(sum.abandoned_after_sl, 20);
	assert_true(fabs(sim_kpi_service_level(&sum) - 60.0 / 90.0) < 1e-15);
}

static void test_batch_means(void **state)
{
	(void)state;
	const double x[] = {1, 2, 3, 4, NAN, 5};
	double mean, se;
	size_t used;
	assert_int_equal(sim_batch_means(x, 6, &mean, &se, &used), 0);
	assert_int_equal(used, 5);
	assert_true(fabs(mean - 3) < 1e-15);
	/* sample sd of 1..5 is √2.5 */
	assert_true(fabs(se - sqrt(2.5) / sqrt(5.0)) < 1e-15);
	const double one[] = {NAN, 7, NAN};
	assert_int_equal(sim_batch_means(one, 3, &mean, &se, &used), -1);
	assert_int_equal(used, 1);
}

static void test_t_quantile(void **state)
{
	(void)state;
	/* Student t, two-sided 99.9 % (tables). */
	static const struct {
		unsigned dof;
		double t;
	} tab[] = {{1, 636.619}, {5, 6.869},   {11, 4.437},  {15, 4.073},
		   {19, 3.883},  {30, 3.646},  {120, 3.373}, {1000, 3.300}};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		assert_true(fabs(sim_t999(tab[i].dof) / tab[i].t - 1) < 0.001);
	assert_true(isinf(sim_t999(0)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hist_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_small_values_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_relative_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_huge_and_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_exponential, setup, teardown),
		cmocka_unit_test(test_kpi_ratios),
		cmocka_unit_test(test_batch_means),
		cmocka_unit_test(test_t_quantile),
	};
	return cmocka_run_group_tests_name("sim_stats", tests, NULL, NULL);
}
