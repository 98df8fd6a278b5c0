/*
 * sim_rng.h — the simulator's random numbers: xoshiro256** seeded through
 * splitmix64, and the few distributions a traffic model needs.
 *
 * One generator per run, passed explicitly (no global state), so a run is
 * reproducible from its seed. Not for cryptography.
 */
#ifndef CL_SIM_RNG_H
#define CL_SIM_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sim_rng {
	uint64_t s[4];
};

static inline uint64_t sim_rng_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = sim_rng_splitmix(&seed);
}

static inline uint64_t sim_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = sim_rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sim_rng_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1). */
static inline double sim_rng_uniform(struct sim_rng *r)
{
	return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Exponential with the given mean (inverse transform on (0, 1]). */
static inline double sim_rng_exp(struct sim_rng *r, double mean)
{
	return -log(1.0 - sim_rng_uniform(r)) * mean;
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply, bias < 2^-32 for
 * the small n used here). */
static inline uint32_t sim_rng_below(struct sim_rng *r, uint32_t n)
{
	return (uint32_t)(((sim_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

#ifdef __cplusplus
}
#endif
#endif /* CL_SIM_RNG_H */
