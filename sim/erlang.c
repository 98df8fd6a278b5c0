/*
 * erlang.c — Erlang B, C and A (see erlang.h for the model and the limits).
 *
 * The chain is built in log space (log π_k relative to π_0) so that loads of
 * thousands of Erlangs neither overflow nor underflow, then normalized from
 * its peak. The tagged-caller quantities have closed forms per stage:
 * a caller who finds j others waiting advances through stages j, j−1, …, 0,
 * leaving stage i at rate r_i = Nμ + (i+1)θ (a service completion or an
 * abandonment ahead moves it forward, its own abandonment ends it), so
 *   P(served | j)           = Nμ / r_j                      (telescoping)
 *   E[time in queue | j]    = (j+1) / r_j
 *   E[wait | served, j]     = Σ_{i≤j} 1/r_i
 * and only the service level needs the transient solution, obtained by
 * uniformization at rate Λ = r_max with Poisson weights computed in log space.
 */
#include "erlang.h"

#include <math.h>
#include <stdlib.h>

#define ERLANG_MAX_STATES 10000000u
#define ERLANG_MAX_WORK 2e8
#define ERLANG_TAIL_LOG (-41.5) /* e^-41.5 ≈ 1e-18 of the peak */

const char *erlang_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "ok";
	case ERLANG_EINVAL:
		return "invalid argument";
	case ERLANG_EUNSTABLE:
		return "unstable: arrival rate at or above capacity and no abandonment";
	case ERLANG_ERANGE:
		return "system too large for the exact chain";
	default:
		return "unknown error";
	}
}

static int bad_rate(double x) { return !isfinite(x) || x < 0; }

double erlang_b(double a, unsigned n)
{
	if (bad_rate(a))
		return -1;
	double b = 1.0;
	for (unsigned k = 1; k <= n; k++)
		b = a * b / ((double)k + a * b);
	return b;
}

double erlang_c(double a, unsigned n)
{
	if (bad_rate(a) || n == 0)
		return -1;
	if (a >= (double)n)
		return 1.0;
	double b = erlang_b(a, n);
	return (double)n * b / ((double)n - a * (1.0 - b));
}

int erlang_c_figures(double lambda, double mu, unsigned n, double t, struct erlang_result *out)
{
	if (bad_rate(lambda) || bad_rate(t) || !isfinite(mu) || mu <= 0 || n == 0)
		return -ERLANG_EINVAL;
	double cap = (double)n * mu;
	if (lambda >= cap)
		return -ERLANG_EUNSTABLE;
	double c = erlang_c(lambda / mu, n);
	struct erlang_result r = {0};
	r.p_wait = c;
	r.asa = r.mean_wait = c / (cap - lambda);
	r.mean_queue = lambda * r.mean_wait;
	r.occupancy = lambda / cap;
	r.answered_within = r.service_level = 1.0 - c * exp(-(cap - lambda) * t);
	*out = r;
	return 0;
}

/* Departure rate out of state k. */
static double chain_rate(unsigned k, unsigned n, double mu, double theta)
{
	if (k <= n)
		return (double)k * mu;
	return (double)n * mu + (double)(k - n) * theta;
}

/*
 * Stationary distribution, normalized, into *pp (caller frees); returns the
 * number of states or a negative ERLANG_E* code.
 */
static long chain_solve(double lambda, double mu, double theta, unsigned n, double **pp)
{
	size_t cap = (size_t)n + 64, k = 0;
	double *lw = malloc(cap * sizeof *lw);
	if (!lw)
		return -ERLANG_ERANGE;
	double peak = 0.0;
	lw[0] = 0.0;
	for (k = 1;; k++) {
		if (k >= ERLANG_MAX_STATES) {
			free(lw);
			return -ERLANG_ERANGE;
		}
		if (k == cap) {
			cap *= 2;
			double *nlw = realloc(lw, cap * sizeof *lw);
			if (!nlw) {
				free(lw);
				return -ERLANG_ERANGE;
			}
			lw = nlw;
		}
		double rk = chain_rate((unsigned)k, n, mu, theta);
		lw[k] = lw[k - 1] + log(lambda / rk);
		if (lw[k] > peak)
			peak = lw[k];
		/* Past the agents and decreasing for good (the next rate only grows):
		 * stop once the tail is negligible. */
		if (k > n && lambda < rk && lw[k] - peak < ERLANG_TAIL_LOG)
			break;
	}
	size_t states = k + 1;
	double z = 0.0;
	for (size_t i = 0; i < states; i++) {
		lw[i] = exp(lw[i] - peak);
		z += lw[i];
	}
	for (size_t i = 0; i < states; i++)
		lw[i] /= z;
	*pp = lw;
	return (long)states;
}

/*
 * P(answered within t) and P(abandoned within t) for a caller arriving in
 * steady state: uniformization of the tagged-caller chain. v holds the mass
 * of stages 0..stages-1 (destroyed); served0 the mass served at once.
 */
static int tagged_transient(double *v, size_t stages, double served0, unsigned n, double mu,
			    double theta, double t, double *ans_within, double *ab_within)
{
	double nmu = (double)n * mu;
	if (stages == 0 || t <= 0) {
		*ans_within = served0;
		*ab_within = 0.0;
		return 0;
	}
	double big = nmu + (double)stages * theta; /* the largest stage rate */
	double x = big * t;
	double kmax = ceil(x + 10.0 * sqrt(x) + 30.0);
	if (kmax * (double)stages > ERLANG_MAX_WORK)
		return -ERLANG_ERANGE;
	double s = served0, ab = 0.0, acc_s = 0.0, acc_ab = 0.0, wsum = 0.0;
	double left = 1.0 - served0; /* mass still waiting */
	double lx = log(x);
	for (long k = 0; k <= (long)kmax; k++) {
		double w = exp(-x + (double)k * lx - lgamma((double)k + 1.0));
		acc_s += w * s;
		acc_ab += w * ab;
		wsum += w;
		if (left < 1e-17)
			break;
		/* One uniformized step: stage j keeps 1 − r_j/Λ, passes
		 * (Nμ + jθ)/Λ down (stage 0 passes to service), loses θ/Λ. */
		double gone_ab = 0.0;
		for (size_t j = 0; j < stages; j++) {
			double vj = v[j];
			double rj = nmu + (double)(j + 1) * theta;
			double stay = vj * (1.0 - rj / big);
			double down = (j + 1 < stages) ? v[j + 1] * (nmu + (double)(j + 1) * theta) / big
						       : 0.0;
			if (j == 0)
				s += vj * nmu / big;
			gone_ab += vj * theta / big;
			v[j] = stay + down;
		}
		ab += gone_ab;
		left = 1.0 - s - ab;
	}
	/* The Poisson mass not summed (tail or early stop) sees the last state. */
	if (wsum < 1.0) {
		acc_s += (1.0 - wsum) * s;
		acc_ab += (1.0 - wsum) * ab;
	}
	*ans_within = acc_s;
	*ab_within = acc_ab;
	return 0;
}

int erlang_a(double lambda, double mu, double theta, unsigned n, double t,
	     struct erlang_result *out)
{
	if (bad_rate(lambda) || bad_rate(theta) || bad_rate(t) || !isfinite(mu) || mu <= 0 ||
	    n == 0)
		return -ERLANG_EINVAL;
	double nmu = (double)n * mu;
	if (theta == 0 && lambda >= nmu)
		return -ERLANG_EUNSTABLE;
	struct erlang_result r = {0};
	if (lambda == 0) {
		r.answered_within = r.service_level = 1.0;
		r.states = 1;
		*out = r;
		return 0;
	}
	double *p = NULL;
	long states = chain_solve(lambda, mu, theta, n, &p);
	if (states < 0)
		return (int)states;
	size_t ns = (size_t)states;
	double served_w = 0.0; /* E[wait · 1{served}] */
	double hj = 0.0;       /* Σ_{i≤j} 1/r_i */
	for (size_t k = n; k < ns; k++) {
		size_t j = k - n;
		double rj = nmu + (double)(j + 1) * theta;
		double served = nmu / rj;
		hj += 1.0 / rj;
		r.p_wait += p[k];
		r.p_abandon += p[k] * (1.0 - served);
		r.mean_wait += p[k] * (double)(j + 1) / rj;
		r.mean_queue += p[k] * (double)j;
		served_w += p[k] * served * hj;
	}
	double p_served = 1.0 - r.p_abandon;
	r.asa = p_served > 0 ? served_w / p_served : 0.0;
	r.occupancy = lambda * p_served / nmu;
	r.states = (unsigned)ns;
	size_t stages = ns > n ? ns - n : 0;
	int rc = tagged_transient(p + n, stages, 1.0 - r.p_wait, n, mu, theta, t,
				  &r.answered_within, &r.abandoned_within);
	free(p);
	if (rc < 0)
		return rc;
	double denom = 1.0 - r.abandoned_within;
	r.service_level = denom > 0 ? r.answered_within / denom : 1.0;
	*out = r;
	return 0;
}

double erlang_gamma_p(double s, double x)
{
	if (!isfinite(s) || !isfinite(x) || s <= 0 || x < 0)
		return -1;
	if (x == 0)
		return 0.0;
	double lead = -x + s * log(x) - lgamma(s);
	if (x < s + 1.0) {
		/* Series: γ(s,x) e^x x^-s = Σ x^k / (s (s+1) … (s+k)). */
		double ap = s, del = 1.0 / s, sum = del;
		for (int i = 0; i < 1000000; i++) {
			ap += 1.0;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * 1e-16)
				break;
		}
		return sum * exp(lead);
	}
	/* Continued fraction for Q(s,x) (modified Lentz). */
	const double tiny = 1e-300;
	double b = x + 1.0 - s, c = 1.0 / tiny, d = 1.0 / b, h = d;
	for (int i = 1; i < 1000000; i++) {
		double an = -(double)i * ((double)i - s);
		b += 2.0;
		d = an * d + b;
		if (fabs(d) < tiny)
			d = tiny;
		c = b + an / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1.0) < 1e-16)
			break;
	}
	return 1.0 - exp(lead) * h;
}

int erlang_a_closed(double lambda, double mu, double theta, unsigned n, double *p_wait,
		    double *p_abandon)
{
	if (bad_rate(lambda) || !isfinite(theta) || theta <= 0 || !isfinite(mu) || mu <= 0 ||
	    n == 0)
		return -ERLANG_EINVAL;
	if (lambda == 0) {
		*p_wait = *p_abandon = 0.0;
		return 0;
	}
	double x = (double)n * mu / theta, y = lambda / theta;
	double gp = erlang_gamma_p(x, y);
	if (gp < 0)
		return -ERLANG_EINVAL;
	/* A(x,y) = Γ(x+1) e^y y^-x P(x,y), in log space. */
	double big_a = exp(y - x * log(y) + lgamma(x + 1.0) + log(gp));
	double e = erlang_b(lambda / mu, n);
	double rho = lambda / ((double)n * mu);
	double pw = big_a * e / (1.0 + (big_a - 1.0) * e);
	*p_wait = pw;
	*p_abandon = pw * (1.0 / (rho * big_a) + 1.0 - 1.0 / rho);
	return 0;
}
