/*
 * terr.h — territory resolution: which territory a caller belongs to, and the
 * coverage report over a universe of prefixes.
 *
 * Built once per configuration from cl_config.territories. Resolution is a
 * longest-prefix match on two tries (postal codes, E.164 numbers): the postal
 * code, when the call has one and it matches, beats the caller number; with
 * neither, the configured default. Cost is O(length of the key), independent
 * of the number of territories and rules.
 */
#ifndef CL_TERR_H
#define CL_TERR_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cl_config;
struct terr_index;

/* How a territory was found. */
enum terr_how {
	TERR_NONE = 0,     /* no territory and no default */
	TERR_POSTAL = 1,
	TERR_PHONE = 2,
	TERR_DEFAULT = 3,
};

/*
 * Build the tries. Borrows cfg (must outlive the index). Returns NULL on
 * allocation failure. Two territories claiming the same prefix: the first in
 * file order wins (the coverage report lists such overlaps).
 */
struct terr_index *terr_index_new(const struct cl_config *cfg);
void terr_index_free(struct terr_index *ti);

/*
 * Territory index for a caller, or -1. postal and e164 may be NULL or empty.
 * Postal codes are matched ignoring spaces and case; E.164 numbers must start
 * with '+', other characters than digits after it end the match.
 * *how (may be NULL) says which rule decided.
 */
int terr_resolve(const struct terr_index *ti, const char *postal, const char *e164,
		 enum terr_how *how);

/* Ancestor `up` levels above t (0 = t itself), or -1 past the root. */
int terr_ancestor(const struct terr_index *ti, int t, int up);
/* The top of t's tree. */
int terr_root(const struct terr_index *ti, int t);
/* 1 if a is t or an ancestor of t. */
int terr_is_ancestor_or_self(const struct terr_index *ti, int a, int t);
/* Depth of t (root = 0). */
int terr_depth(const struct terr_index *ti, int t);

/*
 * Coverage report. Reads a universe of prefixes from `universe`, one per line:
 *   postal:80331      or   phone:+4989     (blank lines and # comments skipped)
 * and writes to `out` one line per finding:
 *   gap postal:80331                       no territory claims it
 *   overlap phone:+4989 de-munich de-east  conflicting claims (winner first)
 * then a summary line "checked N: G gaps, O overlaps".
 * The claimants of an entry are the territories with a rule that is a prefix
 * of it. The entry is an overlap when two of its claimants are not on one
 * root path (neither is an ancestor-or-self of the other: siblings, cousins,
 * separate trees), or when two territories claim the very same prefix of it
 * (the first in file order silently wins, even over a descendant). Claims
 * nested along one root path (de-munich "80" inside de-south "8" inside de)
 * are the hierarchy working as intended and no finding. An overlap line names
 * every claimant, the winner (the one terr_resolve picks) first, then the
 * others in resolution order. Returns the number of gaps + overlaps, or -1 on
 * a malformed universe line (message on `out` with the line number).
 */
int terr_coverage(const struct terr_index *ti, FILE *universe, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* CL_TERR_H */
