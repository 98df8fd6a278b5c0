/*
 * erlang.h — queueing theory for contact centres: Erlang B, Erlang C (M/M/N)
 * and Erlang A (M/M/N+M, exponential patience).
 *
 * Erlang B and C use the closed forms (the stable Erlang B recursion, then
 * C = N·B / (N − a·(1 − B))). Erlang A is computed exactly, to numerical
 * precision, from the birth–death chain of the number of callers in the
 * system (arrival λ, departures min(n,N)·μ + max(n−N,0)·θ), truncated where
 * the stationary probabilities fall below 1e-18 of the peak; the waiting-time
 * figures follow one tagged caller through the queue (an acyclic chain of
 * "callers ahead of me" stages), and the service level uses uniformization
 * of that chain. The same code with θ = 0 gives Erlang C, which is how the
 * unit test cross-checks the two. erlang_a_closed() gives the Palm /
 * Mandelbaum–Zeltyn closed forms (incomplete gamma function) for P(wait) and
 * P(abandon), as an independent check of the chain.
 *
 * Units: any time unit, as long as rates and times agree (the simulator uses
 * calls per millisecond and milliseconds). Pure functions, no state, any
 * thread.
 */
#ifndef CL_ERLANG_H
#define CL_ERLANG_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	ERLANG_EINVAL = 1,    /* negative or non-finite rate, zero agents, ... */
	ERLANG_EUNSTABLE = 2, /* no abandonment and λ ≥ N·μ: the queue grows forever */
	ERLANG_ERANGE = 3,    /* the chain or the uniformization would be too large */
};

/* Figures of one M/M/N(+M) system in steady state. Times are in the unit of
 * the rates' inverse. */
struct erlang_result {
	double p_wait;        /* P(an arriving caller finds every agent busy) */
	double p_abandon;     /* P(a caller abandons); 0 without patience */
	double asa;           /* mean wait of answered callers (zero waits included) */
	double mean_wait;     /* mean time in queue of all callers (abandoners too) */
	double mean_queue;    /* mean number waiting */
	double occupancy;     /* busy fraction of an agent: λ(1 − p_abandon)/(N·μ) */
	double answered_within; /* P(answered within sl_threshold) */
	double abandoned_within;/* P(abandoned within sl_threshold) */
	double service_level; /* answered_within / (1 − abandoned_within): answered
			       * within T over answered plus abandoned after T */
	unsigned states;      /* chain states used (0 for erlang_c_figures) */
};

/* Blocking probability of M/M/N/N with offered load a = λ/μ Erlangs.
 * Returns a value in [0,1], or -1 for a < 0 or non-finite. n = 0 gives 1. */
double erlang_b(double a, unsigned n);

/* Probability of waiting in M/M/N with load a. Returns 1 when a ≥ n (every
 * caller waits, the queue is unstable), -1 for bad input or n = 0. */
double erlang_c(double a, unsigned n);

/*
 * Closed-form Erlang C figures for arrival rate lambda, service rate mu,
 * n agents and service-level threshold t: p_wait = C, asa = mean_wait =
 * C / (nμ − λ), service_level = answered_within = 1 − C·e^{−(nμ−λ)t}.
 * Returns 0, -ERLANG_EINVAL or -ERLANG_EUNSTABLE.
 */
int erlang_c_figures(double lambda, double mu, unsigned n, double t, struct erlang_result *out);

/*
 * Erlang A (theta > 0) or Erlang C (theta = 0) from the birth–death chain:
 * every field of out. Cost O(K · steps) where K is the number of chain states
 * (about N + a few times the queue's spread) and steps ≈ Λ·t + 10·√(Λ·t) for
 * the uniformization rate Λ = N·μ + (K − N)·θ; refused with -ERLANG_ERANGE
 * past 2·10^8 operations or 10^7 states. Returns 0, -ERLANG_EINVAL,
 * -ERLANG_EUNSTABLE or -ERLANG_ERANGE; out is untouched on failure.
 */
int erlang_a(double lambda, double mu, double theta, unsigned n, double t,
	     struct erlang_result *out);

/*
 * Palm / Mandelbaum–Zeltyn closed forms for M/M/N+M (theta > 0):
 * with x = Nμ/θ, y = λ/θ, A(x,y) = x·e^y·y^(−x)·γ(x,y) (γ the lower
 * incomplete gamma function), E = erlang_b(λ/μ, N) and ρ = λ/(Nμ):
 *   P(wait)              = A·E / (1 + (A − 1)·E)
 *   P(abandon | wait)    = 1/(ρ·A) + 1 − 1/ρ
 * Returns 0 or -ERLANG_EINVAL (theta <= 0 or bad input).
 */
int erlang_a_closed(double lambda, double mu, double theta, unsigned n, double *p_wait,
		    double *p_abandon);

/* Regularized lower incomplete gamma P(s, x) = γ(s,x)/Γ(s), s > 0, x ≥ 0.
 * Series below x < s + 1, continued fraction above; relative error ~1e-14.
 * Returns -1 for bad input. */
double erlang_gamma_p(double s, double x);

/* Short text for an ERLANG_E* code (positive or negative). */
const char *erlang_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* CL_ERLANG_H */
