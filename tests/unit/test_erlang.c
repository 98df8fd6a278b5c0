/*
 * test_erlang.c — Erlang B/C/A against textbook values, exact special cases,
 * the Palm/Mandelbaum–Zeltyn closed forms and internal identities (Little's
 * law, the service level's integral giving the ASA).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "erlang.h"

#define near(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

static void test_erlang_b_textbook(void **state)
{
	(void)state;
	near(erlang_b(2.0, 3), 4.0 / 19.0, 1e-15);
	near(erlang_b(1.0, 1), 0.5, 1e-15);
	/* Erlang B tables: 5 Erlangs on 10 lines block 1.838 %. */
	near(erlang_b(5.0, 10), 0.0183846, 1e-7);
	near(erlang_b(0.0, 4), 0.0, 0);
	near(erlang_b(3.0, 0), 1.0, 0);
	assert_true(erlang_b(-1.0, 3) < 0);
	assert_true(erlang_b(NAN, 3) < 0);
	/* Large loads stay finite and in range. */
	double b = erlang_b(5000.0, 5100);
	assert_true(b > 0 && b < 0.01);
}

static void test_erlang_c_textbook(void **state)
{
	(void)state;
	near(erlang_c(2.0, 3), 4.0 / 9.0, 1e-15);
	near(erlang_c(1.0, 2), 1.0 / 3.0, 1e-15);
	/* The classic 10 Erlangs on 12 agents: 44.94 % wait. */
	near(erlang_c(10.0, 12), 0.449388, 1e-6);
	near(erlang_c(3.0, 3), 1.0, 0);
	near(erlang_c(4.0, 3), 1.0, 0);
	assert_true(erlang_c(1.0, 0) < 0);

	/* λ = 2/min, h = 1 min, 3 agents: ASA = C/(Nμ−λ) = 4/9 min,
	 * SL(30 s) = 1 − 4/9·e^(−0.5). */
	struct erlang_result r;
	assert_int_equal(erlang_c_figures(2.0, 1.0, 3, 0.5, &r), 0);
	near(r.p_wait, 4.0 / 9.0, 1e-15);
	near(r.asa, 4.0 / 9.0, 1e-15);
	near(r.service_level, 1.0 - 4.0 / 9.0 * exp(-0.5), 1e-15);
	near(r.occupancy, 2.0 / 3.0, 1e-15);
	assert_int_equal(erlang_c_figures(3.0, 1.0, 3, 0.5, &r), -ERLANG_EUNSTABLE);
	assert_int_equal(erlang_c_figures(1.0, 0.0, 3, 0.5, &r), -ERLANG_EINVAL);
}

/* The chain with θ = 0 is Erlang C: every figure, for several systems. */
static void test_chain_is_erlang_c(void **state)
{
	(void)state;
	static const struct {
		double lambda, mu, t;
		unsigned n;
	} sys[] = {
		{2.0, 1.0, 0.5, 3}, {10.0, 1.0, 0.2, 12}, {0.05, 1.0 / 180, 20, 12},
		{95.0, 1.0, 0.05, 100}, {0.9, 1.0, 3.0, 1},
	};
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
		struct erlang_result c, a;
		assert_int_equal(erlang_c_figures(sys[i].lambda, sys[i].mu, sys[i].n, sys[i].t, &c), 0);
		assert_int_equal(erlang_a(sys[i].lambda, sys[i].mu, 0.0, sys[i].n, sys[i].t, &a), 0);
		near(a.p_wait, c.p_wait, 1e-12);
		near(a.asa, c.asa, 1e-9 * c.asa + 1e-15);
		near(a.mean_wait, c.mean_wait, 1e-9 * c.mean_wait + 1e-15);
		near(a.service_level, c.service_level, 1e-10);
		near(a.occupancy, c.occupancy, 1e-12);
		assert_true(a.p_abandon == 0.0);
		assert_true(a.states > sys[i].n);
	}
	struct erlang_result r;
	assert_int_equal(erlang_a(3.0, 1.0, 0.0, 3, 1.0, &r), -ERLANG_EUNSTABLE);
}

/* Huge patience: Erlang A tends to Erlang C. */
static void test_huge_patience_is_erlang_c(void **state)
{
	(void)state;
	struct erlang_result c, a;
	assert_int_equal(erlang_c_figures(10.0, 1.0, 12, 0.2, &c), 0);
	assert_int_equal(erlang_a(10.0, 1.0, 1e-9, 12, 0.2, &a), 0);
	near(a.p_wait, c.p_wait, 1e-6);
	near(a.asa, c.asa, 1e-6);
	near(a.service_level, c.service_level, 1e-6);
	assert_true(a.p_abandon > 0 && a.p_abandon < 1e-6);
}

/*
 * N = 1 and θ = μ: every state k leaves at rate kμ, so the chain is the
 * M/M/∞ one and π is Poisson(a). Then P(wait) = 1 − e^−a and, from the
 * abandonment flow θ·E[(k−1)+] = λ·P(ab), P(ab) = 1 − (1 − e^−a)/a.
 */
static void test_exact_poisson_case(void **state)
{
	(void)state;
	for (double a = 0.25; a < 20; a *= 2) {
		struct erlang_result r;
		assert_int_equal(erlang_a(a, 1.0, 1.0, 1, 1.0, &r), 0);
		near(r.p_wait, 1.0 - exp(-a), 1e-12);
		near(r.p_abandon, 1.0 - (1.0 - exp(-a)) / a, 1e-12);
		near(r.mean_queue, a - (1.0 - exp(-a)), 1e-10);
	}
}

/* Chain vs the closed forms with the incomplete gamma function. */
static void test_chain_vs_closed_form(void **state)
{
	(void)state;
	static const struct {
		double lambda, mu, theta;
		unsigned n;
	} sys[] = {
		{2.0, 1.0, 0.5, 3},   {10.0, 1.0, 0.1, 12},   {12.0, 1.0, 0.2, 10},
		{48.0, 1.0, 1.0, 50}, {0.3, 1.0, 3.0, 1},     {200.0, 1.0, 0.05, 180},
		{5.0, 0.5, 2.0, 8},
	};
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
		struct erlang_result r;
		double pw, pab;
		assert_int_equal(erlang_a(sys[i].lambda, sys[i].mu, sys[i].theta, sys[i].n, 1.0, &r), 0);
		assert_int_equal(erlang_a_closed(sys[i].lambda, sys[i].mu, sys[i].theta, sys[i].n, &pw,
						 &pab), 0);
		near(r.p_wait, pw, 1e-9);
		near(r.p_abandon, pab, 1e-9);
		/* Little's law on the queue: E[Q] = λ·E[time in queue], and
		 * abandonments θ·E[Q] = λ·P(ab). Both sides come from different
		 * sums of the chain. */
		near(r.mean_queue, sys[i].lambda * r.mean_wait, 1e-9 * (1 + r.mean_queue));
		near(sys[i].theta * r.mean_queue, sys[i].lambda * r.p_abandon, 1e-9);
		/* Served work fits the agents. */
		assert_true(r.occupancy < 1.0);
	}
	double pw, pab;
	assert_int_equal(erlang_a_closed(1.0, 1.0, 0.0, 2, &pw, &pab), -ERLANG_EINVAL);
}

/*
 * The service-level curve against the ASA: for answered callers,
 * E[W·1{served}] = ∫_0^∞ (P(served) − P(answered within t)) dt.
 * The left side comes from the stage sums, the right from uniformization.
 */
static void test_service_level_integrates_to_asa(void **state)
{
	(void)state;
	const double lambda = 4.0, mu = 1.0, theta = 0.5;
	const unsigned n = 4;
	struct erlang_result r0;
	assert_int_equal(erlang_a(lambda, mu, theta, n, 0.0, &r0), 0);
	double served = 1.0 - r0.p_abandon;
	near(r0.answered_within, 1.0 - r0.p_wait, 1e-12); /* t = 0: only the immediate */
	/* Simpson on [0, 40] (the tail beyond is < 1e-12 here). */
	const int steps = 400;
	const double h = 40.0 / steps;
	double integral = 0.0;
	for (int i = 0; i <= steps; i++) {
		struct erlang_result r;
		assert_int_equal(erlang_a(lambda, mu, theta, n, i * h, &r), 0);
		double f = served - r.answered_within;
		double w = (i == 0 || i == steps) ? 1 : (i % 2 ? 4 : 2);
		integral += w * f;
		if (i == steps) {
			near(r.answered_within, served, 1e-10);
			near(r.abandoned_within, r0.p_abandon, 1e-10);
			near(r.service_level, 1.0, 1e-9); /* nobody abandons after ∞ */
		}
	}
	integral *= h / 3.0;
	near(integral, r0.asa * served, 1e-6);
	/* More time, more answered: the curve is monotone. */
	struct erlang_result a, b;
	assert_int_equal(erlang_a(lambda, mu, theta, n, 0.5, &a), 0);
	assert_int_equal(erlang_a(lambda, mu, theta, n, 1.0, &b), 0);
	assert_true(b.answered_within > a.answered_within);
	assert_true(b.abandoned_within > a.abandoned_within);
}

static void test_incomplete_gamma(void **state)
{
	(void)state;
	for (double x = 0.1; x < 50; x *= 1.7) {
		near(erlang_gamma_p(1.0, x), 1.0 - exp(-x), 1e-13);
		/* P(3, x) = 1 − e^−x (1 + x + x²/2) */
		near(erlang_gamma_p(3.0, x), 1.0 - exp(-x) * (1 + x + x * x / 2), 1e-13);
	}
	/* P(1/2, x) = erf(√x) */
	for (double x = 0.01; x < 30; x *= 2.3)
		near(erlang_gamma_p(0.5, x), erf(sqrt(x)), 1e-13);
	assert_true(erlang_gamma_p(0.0, 1.0) < 0);
	assert_true(erlang_gamma_p(1.0, -1.0) < 0);
	near(erlang_gamma_p(2.0, 0.0), 0.0, 0);
}

static void test_bad_input(void **state)
{
	(void)state;
	struct erlang_result r = {.p_wait = 42};
	assert_int_equal(erlang_a(-1.0, 1.0, 0.1, 3, 1.0, &r), -ERLANG_EINVAL);
	assert_int_equal(erlang_a(1.0, 0.0, 0.1, 3, 1.0, &r), -ERLANG_EINVAL);
	assert_int_equal(erlang_a(1.0, 1.0, -0.1, 3, 1.0, &r), -ERLANG_EINVAL);
	assert_int_equal(erlang_a(1.0, 1.0, 0.1, 0, 1.0, &r), -ERLANG_EINVAL);
	assert_int_equal(erlang_a(1.0, 1.0, 0.1, 3, INFINITY, &r), -ERLANG_EINVAL);
	near(r.p_wait, 42, 0); /* untouched */
	/* Overload with a tiny abandonment rate needs an enormous chain. */
	assert_int_equal(erlang_a(1e6, 1.0, 1e-9, 10, 1.0, &r), -ERLANG_ERANGE);
	/* No traffic: nobody waits. */
	assert_int_equal(erlang_a(0.0, 1.0, 0.1, 3, 1.0, &r), 0);
	near(r.p_wait, 0, 0);
	near(r.service_level, 1, 0);
	assert_string_equal(erlang_strerror(-ERLANG_EUNSTABLE),
			    "unstable: arrival rate at or above capacity and no abandonment");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_erlang_b_textbook),
		cmocka_unit_test(test_erlang_c_textbook),
		cmocka_unit_test(test_chain_is_erlang_c),
		cmocka_unit_test(test_huge_patience_is_erlang_c),
		cmocka_unit_test(test_exact_poisson_case),
		cmocka_unit_test(test_chain_vs_closed_form),
		cmocka_unit_test(test_service_level_integrates_to_asa),
		cmocka_unit_test(test_incomplete_gamma),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests_name("erlang", tests, NULL, NULL);
}
