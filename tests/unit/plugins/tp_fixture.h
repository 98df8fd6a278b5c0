/*
 * tp_fixture.h — what the fixture plugin tp_good records for test_plugin.c.
 *
 * The test dlopens the same shared object the engine loaded (dlopen counts
 * references, so it is the same copy) and reads this record through the
 * exported tp_record(). A record in the plugin's static storage is fine for
 * a test fixture; real plugins keep their state in what init returns.
 */
#ifndef CL_TP_FIXTURE_H
#define CL_TP_FIXTURE_H

#include <stdint.h>

#define TP_MAX_OPTS 4

struct tp_rec {
	int inits, finis;            /* over every instance */
	uint64_t keys;               /* key calls */
	char instance[64];           /* host->instance of the last init */
	uint32_t host_size, host_abi_major, host_abi_minor;
	int parent_of[5];            /* host->territory_parent of 0..3 and of 99 */
	uint64_t rnd[2];             /* two host->random values at init */
	uint64_t now_us;             /* host->now_us at init */
	uint32_t n_opts;
	char opt_key[TP_MAX_OPTS][32], opt_val[TP_MAX_OPTS][64];
	struct {                     /* the last target view */
		uint32_t size, index, kind, capacity, active, n_territories;
		int terr0;
		uint8_t prof[4];
		char id[32];
		uint64_t now_us, idle_since_us, offered, answered;
		double share, closure_score;
	} tv;
	struct {                     /* the last queue view */
		uint32_t size, min_prof, set, n_options;
		int32_t territory;
		uint64_t skills;
		char territory_name[32], name[128], opt0_key[32];
	} qv;
};

typedef struct tp_rec *(*tp_record_fn)(void);

#endif /* CL_TP_FIXTURE_H */
