/*
 * test_terr.c — territory resolution, hierarchy and coverage report.
 *
 * Configs are built by hand here (struct cl_config and its arrays, freed by
 * cfg_destroy below) so the tests exercise terr alone, not the YAML loader.
 * Two large-table tests check the tries at 1,000 territories: every configured
 * prefix resolves to its territory, and random keys agree with a brute-force
 * longest-prefix reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "terr.h"

/* ---- building configs by hand ------------------------------------------ */

#define MAXR 8

struct spec {
	const char *name;
	int parent;
	const char *postal[MAXR]; /* NULL-terminated */
	const char *phone[MAXR];
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	assert_non_null(d);
	return d;
}

static struct cl_config *cfg_create(size_t n, int def)
{
	struct cl_config *cfg = calloc(1, sizeof(*cfg));
	assert_non_null(cfg);
	cfg->territories = calloc(n ? n : 1, sizeof(*cfg->territories));
	assert_non_null(cfg->territories);
	cfg->n_territories = n;
	cfg->default_territory = def;
	for (size_t i = 0; i < n; i++)
		cfg->territories[i].parent = -1;
	return cfg;
}

static void add_rule(char ***arr, size_t *n, const char *s)
{
	char **a = realloc(*arr, (*n + 1) * sizeof(*a));
	assert_non_null(a);
	a[(*n)++] = xstrdup(s);
	*arr = a;
}

static void add_postal(struct cl_config *cfg, size_t t, const char *s)
{
	add_rule(&cfg->territories[t].postal, &cfg->territories[t].n_postal, s);
}

static void add_phone(struct cl_config *cfg, size_t t, const char *s)
{
	add_rule(&cfg->territories[t].phone, &cfg->territories[t].n_phone, s);
}

static struct cl_config *cfg_from(const struct spec *sp, size_t n, int def)
{
	struct cl_config *cfg = cfg_create(n, def);
	for (size_t i = 0; i < n; i++) {
		cfg->territories[i].name = xstrdup(sp[i].name);
		cfg->territories[i].parent = sp[i].parent;
		for (size_t j = 0; j < MAXR && sp[i].postal[j]; j++)
			add_postal(cfg, i, sp[i].postal[j]);
		for (size_t j = 0; j < MAXR && sp[i].phone[j]; j++)
			add_phone(cfg, i, sp[i].phone[j]);
	}
	return cfg;
}

static void cfg_destroy(struct cl_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_territories; i++) {
		struct cfg_territory *t = &cfg->territories[i];
		for (size_t j = 0; j < t->n_postal; j++)
			free(t->postal[j]);
		for (size_t j = 0; j < t->n_phone; j++)
			free(t->phone[j]);
		free(t->postal);
		free(t->phone);
		free(t->name);
	}
	free(cfg->territories);
	free(cfg);
}

/* Run the coverage report over a universe given as a string; returns the
 * report text (caller frees) and the return code in *rc. */
static char *run_coverage(const struct terr_index *ti, const char *universe, int *rc)
{
	char *ubuf = xstrdup(universe);
	FILE *in = fmemopen(ubuf, strlen(ubuf), "r");
	char *out = NULL;
	size_t out_len = 0;
	FILE *o = open_memstream(&out, &out_len);
	assert_non_null(in);
	assert_non_null(o);
	*rc = terr_coverage(ti, in, o);
	fclose(o);
	fclose(in);
	free(ubuf);
	assert_non_null(out);
	return out;
}

/* ---- a small German/Austrian tree --------------------------------------- */

enum { T_DACH, T_DE, T_DE_SOUTH, T_DE_MUNICH, T_DE_NORTH, T_AT, T_AT_VIENNA, T_N };

static const struct spec dach[T_N] = {
	[T_DACH] = { "dach", -1, { NULL }, { NULL } },
	[T_DE] = { "de", T_DACH, { NULL }, { "+49" } },
	[T_DE_SOUTH] = { "de-south", T_DE, { "8", "9" }, { "+498", "+499" } },
	[T_DE_MUNICH] = { "de-munich", T_DE_SOUTH, { "80", "81", "85" }, { "+4989" } },
	[T_DE_NORTH] = { "de-north", T_DE, { "2" }, { "+494" } },
	[T_AT] = { "at", T_DACH, { "A" }, { "+43" } },
	[T_AT_VIENNA] = { "at-vienna", T_AT, { "A1", "a 1 2" }, { "+431" } },
};

static int setup_dach(void **state)
{
	struct cl_config *cfg = cfg_from(dach, T_N, -1);
	struct terr_index *ti = terr_index_new(cfg);
	assert_non_null(ti);
	void **pair = calloc(2, sizeof(*pair));
	assert_non_null(pair);
	pair[0] = cfg;
	pair[1] = ti;
	*state = pair;
	return 0;
}

static int teardown_dach(void **state)
{
	void **pair = *state;
	terr_index_free(pair[1]);
	cfg_destroy(pair[0]);
	free(pair);
	return 0;
}

static struct terr_index *ti_of(void **state)
{
	return ((void **)*state)[1];
}

/* ---- resolution --------------------------------------------------------- */

static void test_longest_prefix_wins(void **state)
{
	struct terr_index *ti = ti_of(state);
	enum terr_how how = TERR_NONE;

	assert_int_equal(terr_resolve(ti, NULL, "+4989123456", &how), T_DE_MUNICH);
	assert_int_equal(how, TERR_PHONE);
	assert_int_equal(terr_resolve(ti, NULL, "+49811234", &how), T_DE_SOUTH);
	assert_int_equal(terr_resolve(ti, NULL, "+49301234", &how), T_DE);
	assert_int_equal(terr_resolve(ti, NULL, "+49", &how), T_DE);
	assert_int_equal(terr_resolve(ti, NULL, "+4940123", &how), T_DE_NORTH);
	assert_int_equal(terr_resolve(ti, NULL, "+43123", &how), T_AT_VIENNA);
	assert_int_equal(terr_resolve(ti, NULL, "+43512", &how), T_AT);
	/* a shorter number than any rule, and a rule longer than the number */
	assert_int_equal(terr_resolve(ti, NULL, "+4", &how), -1);
	assert_int_equal(how, TERR_NONE);
	assert_int_equal(terr_resolve(ti, NULL, "+498", &how), T_DE_SOUTH);

	assert_int_equal(terr_resolve(ti, "80331", NULL, &how), T_DE_MUNICH);
	assert_int_equal(how, TERR_POSTAL);
	assert_int_equal(terr_resolve(ti, "86150", NULL, &how), T_DE_SOUTH);
	assert_int_equal(terr_resolve(ti, "85", NULL, &how), T_DE_MUNICH);
	assert_int_equal(terr_resolve(ti, "8", NULL, &how), T_DE_SOUTH);
	assert_int_equal(terr_resolve(ti, "A1120", NULL, &how), T_AT_VIENNA);
	assert_int_equal(terr_resolve(ti, "A5020", NULL, &how), T_AT);
}

static void test_postal_beats_phone(void **state)
{
	struct terr_index *ti = ti_of(state);
	enum terr_how how = TERR_NONE;

	/* a Munich postal code with a Hamburg number: the postal code decides */
	assert_int_equal(terr_resolve(ti, "80331", "+494012345", &how), T_DE_MUNICH);
	assert_int_equal(how, TERR_POSTAL);
	/* even when the phone rule is longer than the postal rule */
	assert_int_equal(terr_resolve(ti, "2", "+4989123", &how), T_DE_NORTH);
	assert_int_equal(how, TERR_POSTAL);
}

static void test_postal_miss_falls_back_to_phone(void **state)
{
	struct terr_index *ti = ti_of(state);
	enum terr_how how = TERR_NONE;

	assert_int_equal(terr_resolve(ti, "10115", "+4989123", &how), T_DE_MUNICH);
	assert_int_equal(how, TERR_PHONE);
	assert_int_equal(terr_resolve(ti, "", "+4940", &how), T_DE_NORTH);
	assert_int_equal(how, TERR_PHONE);
	/* a postal code that ends at its first foreign character */
	assert_int_equal(terr_resolve(ti, "?80331", "+43662", &how), T_AT);
	assert_int_equal(how, TERR_PHONE);
	/* neither matches, no default */
	assert_int_equal(terr_resolve(ti, "10115", "+33140", &how), -1);
	assert_int_equal(how, TERR_NONE);
}

static void test_default_and_none(void **state)
{
	static const struct spec sp[] = {
		{ "de", -1, { "0", "1" }, { "+49" } },
		{ "fallback", -1, { NULL }, { NULL } },
	};
	struct cl_config *cfg = cfg_from(sp, 2, 1);
	struct terr_index *ti = terr_index_new(cfg);
	enum terr_how how = TERR_NONE;
	assert_non_null(ti);

	assert_int_equal(terr_resolve(ti, "99999", "+33140", &how), 1);
	assert_int_equal(how, TERR_DEFAULT);
	assert_int_equal(terr_resolve(ti, NULL, NULL, &how), 1);
	assert_int_equal(how, TERR_DEFAULT);
	assert_int_equal(terr_resolve(ti, "", "", &how), 1);
	assert_int_equal(how, TERR_DEFAULT);
	assert_int_equal(terr_resolve(ti, "01067", NULL, &how), 0);
	assert_int_equal(how, TERR_POSTAL);
	assert_int_equal(terr_resolve(ti, NULL, "+4930", NULL), 0); /* how may be NULL */
	terr_index_free(ti);

	/* same table without a default */
	cfg->default_territory = -1;
	assert_non_null(ti = terr_index_new(cfg));
	how = TERR_DEFAULT;
	assert_int_equal(terr_resolve(ti, "99999", "+33140", &how), -1);
	assert_int_equal(how, TERR_NONE);
	assert_int_equal(terr_resolve(ti, NULL, NULL, &how), -1);
	assert_int_equal(how, TERR_NONE);
	assert_int_equal(terr_resolve(NULL, "01067", "+49", &how), -1);
	assert_int_equal(how, TERR_NONE);
	terr_index_free(ti);
	cfg_destroy(cfg);
}

static void test_postal_spaces_and_case(void **state)
{
	static const struct spec sp[] = {
		{ "london-sw", -1, { "sw1a", "SW 1" }, { NULL } },
		{ "london-ec", -1, { "EC1A" }, { NULL } },
		{ "pl-warsaw", -1, { "00-9" }, { NULL } },
	};
	struct cl_config *cfg = cfg_from(sp, 3, -1);
	struct terr_index *ti = terr_index_new(cfg);
	enum terr_how how;
	assert_non_null(ti);

	assert_int_equal(terr_resolve(ti, "SW1A 1AA", NULL, &how), 0);
	assert_int_equal(how, TERR_POSTAL);
	assert_int_equal(terr_resolve(ti, "sw1a1aa", NULL, &how), 0);
	assert_int_equal(terr_resolve(ti, " s w 1 p", NULL, &how), 0); /* "SW1" rule */
	assert_int_equal(terr_resolve(ti, "ec1a 1bb", NULL, &how), 1);
	assert_int_equal(terr_resolve(ti, "Ec1A", NULL, &how), 1);
	assert_int_equal(terr_resolve(ti, "EC1", NULL, &how), -1); /* shorter than the rule */
	assert_int_equal(terr_resolve(ti, "00-950", NULL, &how), 2);
	assert_int_equal(terr_resolve(ti, "00950", NULL, &how), 2);
	/* non-alphanumerics end the key: "SW" matches nothing */
	assert_int_equal(terr_resolve(ti, "SW.1A", NULL, &how), -1);
	assert_int_equal(terr_resolve(ti, "SW1\xc3\xa4", NULL, &how), 0);
	terr_index_free(ti);
	cfg_destroy(cfg);
}

static void test_phone_non_digits(void **state)
{
	struct terr_index *ti = ti_of(state);
	enum terr_how how;

	/* anything but a digit after '+' ends the number */
	assert_int_equal(terr_resolve(ti, NULL, "+49 89 123", &how), T_DE);
	assert_int_equal(terr_resolve(ti, NULL, "+49(89)123", &how), T_DE);
	assert_int_equal(terr_resolve(ti, NULL, "+4989x", &how), T_DE_MUNICH);
	/* no '+': not an E.164 number */
	assert_int_equal(terr_resolve(ti, NULL, "4989123", &how), -1);
	assert_int_equal(how, TERR_NONE);
	assert_int_equal(terr_resolve(ti, NULL, "004989123", &how), -1);
	assert_int_equal(terr_resolve(ti, NULL, "+", &how), -1);
	assert_int_equal(terr_resolve(ti, NULL, "++4989", &how), -1);
	assert_int_equal(terr_resolve(ti, NULL, " +4989", &how), -1);
}

static void test_duplicate_prefix_first_wins(void **state)
{
	static const struct spec sp[] = {
		{ "first", -1, { "12" }, { "+4989" } },
		{ "second", -1, { "12", "123" }, { "+4989", "+498" } },
		{ "third", -1, { "1 2" }, { "+4 989" } },
	};
	struct cl_config *cfg = cfg_from(sp, 3, -1);
	struct terr_index *ti = terr_index_new(cfg);
	assert_non_null(ti);

	assert_int_equal(terr_resolve(ti, NULL, "+4989555", NULL), 0);
	assert_int_equal(terr_resolve(ti, NULL, "+4980555", NULL), 1);
	assert_int_equal(terr_resolve(ti, "12000", NULL, NULL), 0);
	assert_int_equal(terr_resolve(ti, "12300", NULL, NULL), 1);
	terr_index_free(ti);

	/* swapping the file order swaps the winner */
	struct cfg_territory tmp = cfg->territories[0];
	cfg->territories[0] = cfg->territories[1];
	cfg->territories[1] = tmp;
	assert_non_null(ti = terr_index_new(cfg));
	assert_int_equal(terr_resolve(ti, NULL, "+4989555", NULL), 0);
	assert_int_equal(terr_resolve(ti, "12000", NULL, NULL), 0);
	assert_int_equal(terr_resolve(ti, "13000", NULL, NULL), -1);
	terr_index_free(ti);
	cfg_destroy(cfg);
}

/* ---- hierarchy ---------------------------------------------------------- */

static void test_hierarchy(void **state)
{
	struct terr_index *ti = ti_of(state);

	assert_int_equal(terr_depth(ti, T_DACH), 0);
	assert_int_equal(terr_depth(ti, T_DE), 1);
	assert_int_equal(terr_depth(ti, T_DE_SOUTH), 2);
	assert_int_equal(terr_depth(ti, T_DE_MUNICH), 3);
	assert_int_equal(terr_depth(ti, T_AT_VIENNA), 2);

	assert_int_equal(terr_ancestor(ti, T_DE_MUNICH, 0), T_DE_MUNICH);
	assert_int_equal(terr_ancestor(ti, T_DE_MUNICH, 1), T_DE_SOUTH);
	assert_int_equal(terr_ancestor(ti, T_DE_MUNICH, 2), T_DE);
	assert_int_equal(terr_ancestor(ti, T_DE_MUNICH, 3), T_DACH);
	assert_int_equal(terr_ancestor(ti, T_DE_MUNICH, 4), -1);
	assert_int_equal(terr_ancestor(ti, T_DE_MUNICH, -1), -1);
	assert_int_equal(terr_ancestor(ti, T_AT_VIENNA, 1), T_AT);

	for (int t = 0; t < T_N; t++)
		assert_int_equal(terr_root(ti, t), T_DACH);

	assert_true(terr_is_ancestor_or_self(ti, T_DE_MUNICH, T_DE_MUNICH));
	assert_true(terr_is_ancestor_or_self(ti, T_DE_SOUTH, T_DE_MUNICH));
	assert_true(terr_is_ancestor_or_self(ti, T_DE, T_DE_MUNICH));
	assert_true(terr_is_ancestor_or_self(ti, T_DACH, T_AT_VIENNA));
	assert_false(terr_is_ancestor_or_self(ti, T_DE_MUNICH, T_DE_SOUTH));
	assert_false(terr_is_ancestor_or_self(ti, T_DE_NORTH, T_DE_MUNICH));
	assert_false(terr_is_ancestor_or_self(ti, T_AT, T_DE_MUNICH));
	assert_false(terr_is_ancestor_or_self(ti, T_DE, T_AT_VIENNA));

	/* out of range */
	assert_int_equal(terr_depth(ti, -1), -1);
	assert_int_equal(terr_depth(ti, T_N), -1);
	assert_int_equal(terr_root(ti, T_N), -1);
	assert_int_equal(terr_ancestor(ti, -1, 0), -1);
	assert_false(terr_is_ancestor_or_self(ti, -1, T_DE));
	assert_false(terr_is_ancestor_or_self(ti, T_DE, 99));
}

static void test_forest_and_file_order(void **state)
{
	/* children before their parents in file order, two separate trees */
	static const struct spec sp[] = {
		{ "leaf", 2, { NULL }, { NULL } },  /* 0 */
		{ "other", -1, { NULL }, { NULL } }, /* 1 */
		{ "mid", 3, { NULL }, { NULL } },   /* 2 */
		{ "top", -1, { NULL }, { NULL } },  /* 3 */
		{ "leaf2", 2, { NULL }, { NULL } }, /* 4 */
	};
	struct cl_config *cfg = cfg_from(sp, 5, -1);
	struct terr_index *ti = terr_index_new(cfg);
	assert_non_null(ti);
	assert_int_equal(terr_depth(ti, 0), 2);
	assert_int_equal(terr_depth(ti, 4), 2);
	assert_int_equal(terr_depth(ti, 2), 1);
	assert_int_equal(terr_root(ti, 0), 3);
	assert_int_equal(terr_root(ti, 4), 3);
	assert_int_equal(terr_root(ti, 1), 1);
	assert_int_equal(terr_ancestor(ti, 0, 2), 3);
	assert_false(terr_is_ancestor_or_self(ti, 1, 0));
	assert_false(terr_is_ancestor_or_self(ti, 0, 4));
	assert_true(terr_is_ancestor_or_self(ti, 2, 4));
	terr_index_free(ti);
	cfg_destroy(cfg);
}

static void test_bad_config_rejected(void **state)
{
	static const struct spec cycle[] = {
		{ "a", 2, { NULL }, { NULL } },
		{ "b", 0, { NULL }, { NULL } },
		{ "c", 1, { NULL }, { NULL } },
	};
	static const struct spec self[] = { { "a", 0, { NULL }, { NULL } } };
	static const struct spec range[] = { { "a", 5, { NULL }, { NULL } } };
	static const struct spec bad_phone[] = { { "a", -1, { NULL }, { "+49", "4989" } } };
	static const struct spec bad_digit[] = { { "a", -1, { NULL }, { "+49a" } } };
	static const struct spec empty_phone[] = { { "a", -1, { NULL }, { "+" } } };
	static const struct spec bad_postal[] = { { "a", -1, { "80!" }, { NULL } } };
	static const struct spec empty_postal[] = { { "a", -1, { " " }, { NULL } } };
	static const struct spec long_postal[] = {
		{ "a", -1,
		  { "0123456789012345678901234567890123456789012345678901234567890123456789" },
		  { NULL } },
	};
	static const struct {
		const struct spec *sp;
		size_t n;
	} cases[] = {
		{ cycle, 3 },     { self, 1 },        { range, 1 },       { bad_phone, 1 },
		{ bad_digit, 1 }, { empty_phone, 1 }, { bad_postal, 1 },  { empty_postal, 1 },
		{ long_postal, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cl_config *cfg = cfg_from(cases[i].sp, cases[i].n, -1);
		struct terr_index *ti = terr_index_new(cfg);
		if (ti)
			fail_msg("case %zu accepted", i);
		cfg_destroy(cfg);
	}

	/* default out of range */
	struct cl_config *cfg = cfg_from(dach, T_N, T_N);
	assert_null(terr_index_new(cfg));
	cfg->default_territory = -2;
	assert_null(terr_index_new(cfg));
	cfg->default_territory = T_N - 1;
	struct terr_index *ti = terr_index_new(cfg);
	assert_non_null(ti);
	terr_index_free(ti);
	cfg_destroy(cfg);

	assert_null(terr_index_new(NULL));
	terr_index_free(NULL);
}

static void test_empty_config(void **state)
{
	struct cl_config *cfg = cfg_create(0, -1);
	struct terr_index *ti = terr_index_new(cfg);
	enum terr_how how;
	int rc;
	assert_non_null(ti);
	assert_int_equal(terr_resolve(ti, "80331", "+4989", &how), -1);
	assert_int_equal(how, TERR_NONE);
	assert_int_equal(terr_root(ti, 0), -1);
	char *rep = run_coverage(ti, "postal:8\nphone:+49\n", &rc);
	assert_int_equal(rc, 2);
	assert_string_equal(rep, "gap postal:8\ngap phone:+49\nchecked 2: 2 gaps, 0 overlaps\n");
	free(rep);
	terr_index_free(ti);
	cfg_destroy(cfg);
}

/* ---- coverage ----------------------------------------------------------- */

static void test_coverage_report(void **state)
{
	struct terr_index *ti = ti_of(state);
	int rc;
	char *rep = run_coverage(ti,
				 "# DACH universe\n"
				 "\n"
				 "postal:80331\n"    /* de-south "8" + de-munich "80": nested */
				 "postal:70173\n"    /* gap */
				 "  postal: 2 0 095   # Hamburg\n" /* de-north only */
				 "postal:a1010\n"    /* at "A" + at-vienna "A1": nested */
				 "phone:+4989\n"     /* de, de-south, de-munich: nested */
				 "phone:+4930\r\n"   /* de only */
				 "phone:+33\n"       /* gap */
				 "\t\n"
				 "phone:+4\n",       /* gap: shorter than every rule */
				 &rc);
	/* every claim in this tree is nested along one root path: only gaps */
	assert_string_equal(rep, "gap postal:70173\n"
				 "gap phone:+33\n"
				 "gap phone:+4\n"
				 "checked 8: 3 gaps, 0 overlaps\n");
	assert_int_equal(rc, 3);
	free(rep);

	/* nothing to report */
	rep = run_coverage(ti, "phone:+4930\npostal:20095\n", &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(rep, "checked 2: 0 gaps, 0 overlaps\n");
	free(rep);

	/* an empty universe */
	rep = run_coverage(ti, "# nothing\n\n", &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(rep, "checked 0: 0 gaps, 0 overlaps\n");
	free(rep);
}

static void test_coverage_order_and_default(void **state)
{
	/* same prefix claimed twice: file order; one territory claiming two
	 * prefixes of the entry counts once; the default is no coverage. */
	static const struct spec sp[] = {
		{ "a", -1, { "1" }, { "+1" } },
		{ "b", -1, { "12", "123" }, { "+12", "+123" } },
		{ "c", -1, { "12" }, { "+12" } },
		{ "d", -1, { "5", "55" }, { "+5", "+55" } },
		{ "fallback", -1, { NULL }, { NULL } },
	};
	struct cl_config *cfg = cfg_from(sp, 5, 4);
	struct terr_index *ti = terr_index_new(cfg);
	int rc;
	assert_non_null(ti);
	char *rep = run_coverage(ti,
				 "postal:1234\n"
				 "postal:125\n"
				 "postal:555\n"
				 "postal:9\n"
				 "phone:+1234\n"
				 "phone:+125\n"
				 "phone:+555\n"
				 "phone:+9\n",
				 &rc);
	assert_string_equal(rep, "overlap postal:1234 b c a\n"
				 "overlap postal:125 b c a\n"
				 "gap postal:9\n"
				 "overlap phone:+1234 b c a\n"
				 "overlap phone:+125 b c a\n"
				 "gap phone:+9\n"
				 "checked 8: 2 gaps, 4 overlaps\n");
	assert_int_equal(rc, 6);
	/* and the winner listed first is the one resolution picks */
	assert_int_equal(terr_resolve(ti, "125", NULL, NULL), 1);
	assert_int_equal(terr_resolve(ti, NULL, "+1234", NULL), 1);
	free(rep);
	terr_index_free(ti);
	cfg_destroy(cfg);
}

static void test_coverage_hierarchy(void **state)
{
	/* Which multiple claims are findings: not those nested along one root
	 * path, but claims from different branches or trees, and one prefix
	 * claimed twice whatever the two territories' relation. */
	enum { HAMBURG, NORTH, DE, SOUTH, MUNICH, EAST, CH, NH };
	static const struct spec sp[NH] = {
		/* listed before its parent, and repeating the parent's "20", "+494" */
		[HAMBURG] = { "de-hamburg", NORTH, { "20" }, { "+494" } },
		[NORTH] = { "de-north", DE, { "2", "20" }, { "+494" } },
		[DE] = { "de", -1, { NULL }, { "+49" } },
		/* de-south has no "+498": de-munich's "+4989" nests two levels down */
		[SOUTH] = { "de-south", DE, { "8" }, { "+499" } },
		/* repeats its parent's "+499", after it in the file */
		[MUNICH] = { "de-munich", SOUTH, { "80" }, { "+4989", "+499" } },
		/* a sibling of de-south reaching into its area and de-munich's */
		[EAST] = { "de-east", DE, { "85", "801" }, { "+493" } },
		/* a separate tree */
		[CH] = { "ch", -1, { "89" }, { "+41" } },
	};
	struct cl_config *cfg = cfg_from(sp, NH, -1);
	struct terr_index *ti = terr_index_new(cfg);
	int rc;
	assert_non_null(ti);
	char *rep = run_coverage(ti,
				 "postal:80331\n"  /* parent/child: nested */
				 "phone:+49891\n"  /* grandparent/grandchild: nested */
				 "phone:+4930\n"   /* de-east inside de: nested */
				 "postal:21000\n"  /* de-north alone */
				 "phone:+41\n"     /* ch alone */
				 "postal:85000\n"  /* siblings de-east, de-south */
				 "postal:80123\n"  /* de-east vs de-munich (its nephew) */
				 "postal:89000\n"  /* two trees: ch, de-south */
				 "postal:20095\n"  /* "20" by child then parent */
				 "phone:+4940\n"   /* "+494" by child then parent */
				 "phone:+4991\n"   /* "+499" by parent then child */
				 "phone:+33\n",    /* gap */
				 &rc);
	assert_string_equal(rep, "overlap postal:85000 de-east de-south\n"
				 "overlap postal:80123 de-east de-munich de-south\n"
				 "overlap postal:89000 ch de-south\n"
				 "overlap postal:20095 de-hamburg de-north\n"
				 "overlap phone:+4940 de-hamburg de-north de\n"
				 "overlap phone:+4991 de-south de-munich de\n"
				 "gap phone:+33\n"
				 "checked 12: 1 gaps, 6 overlaps\n");
	assert_int_equal(rc, 7);
	free(rep);
	/* the winner named first is the one resolution picks: for a repeated
	 * prefix, the first in the file, child or parent */
	assert_int_equal(terr_resolve(ti, "20095", NULL, NULL), HAMBURG);
	assert_int_equal(terr_resolve(ti, NULL, "+4940", NULL), HAMBURG);
	assert_int_equal(terr_resolve(ti, NULL, "+4991", NULL), SOUTH);
	assert_int_equal(terr_resolve(ti, "85000", NULL, NULL), EAST);
	assert_int_equal(terr_resolve(ti, "89000", NULL, NULL), CH);
	terr_index_free(ti);

	/* drop the repeated prefixes: the nested claims alone are no finding */
	cfg->territories[HAMBURG].n_phone = 0;   /* "+494" */
	cfg->territories[NORTH].n_postal = 1;    /* keep "2", drop "20" */
	cfg->territories[MUNICH].n_phone = 1;    /* keep "+4989", drop "+499" */
	assert_non_null(ti = terr_index_new(cfg));
	rep = run_coverage(ti, "postal:20095\nphone:+4940\nphone:+4991\n", &rc);
	assert_string_equal(rep, "checked 3: 0 gaps, 0 overlaps\n");
	assert_int_equal(rc, 0);
	free(rep);
	terr_index_free(ti);
	/* restore the counts so cfg_destroy frees every rule */
	cfg->territories[HAMBURG].n_phone = 1;
	cfg->territories[NORTH].n_postal = 2;
	cfg->territories[MUNICH].n_phone = 2;
	cfg_destroy(cfg);
}

static void test_coverage_malformed(void **state)
{
	struct terr_index *ti = ti_of(state);
	static const struct {
		const char *universe;
		const char *want; /* must appear in the message */
	} cases[] = {
		{ "postal:80331\nfax:+4989\n", "universe line 2:" },
		{ "postal:80331\n\n# c\n80331\n", "universe line 4:" },
		{ "phone:4989\n", "universe line 1: bad phone prefix" },
		{ "phone:+49a9\n", "universe line 1: bad phone prefix" },
		{ "phone:+\n", "universe line 1: bad phone prefix" },
		{ "postal:\n", "universe line 1: bad postal prefix" },
		{ "postal:80/331\n", "universe line 1: bad postal prefix" },
		{ "Postal:80331\n", "universe line 1:" },
		{ "postal 80331\n", "universe line 1:" },
		{ "phone:+4989\npostal:70173\npostal:" /* no newline at the end */, "universe line 3:" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = 0;
		char *rep = run_coverage(ti, cases[i].universe, &rc);
		if (rc != -1)
			fail_msg("case %zu: rc %d", i, rc);
		if (!strstr(rep, cases[i].want))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, rep, cases[i].want);
		/* only the error: no findings, no summary */
		if (strncmp(rep, "universe line", 13) != 0 || strchr(rep, '\n') != rep + strlen(rep) - 1)
			fail_msg("case %zu: report \"%s\"", i, rep);
		free(rep);
	}

	/* a NUL byte inside a line */
	static const char nul[] = "postal:80\0" "331\n";
	FILE *in = fmemopen((void *)nul, sizeof(nul) - 1, "r");
	char *out = NULL;
	size_t out_len = 0;
	FILE *o = open_memstream(&out, &out_len);
	assert_non_null(in);
	assert_non_null(o);
	assert_int_equal(terr_coverage(ti, in, o), -1);
	fclose(o);
	fclose(in);
	assert_non_null(strstr(out, "universe line 1: NUL byte"));
	free(out);
}

/* ---- large tables ------------------------------------------------------- */

#define BIG_T 1000
#define BIG_R 10

static void test_big_table_every_prefix(void **state)
{
	/* 1,000 territories × 10 phone + 10 postal prefixes, all distinct and none
	 * a prefix of another; then every prefix, and every prefix extended with
	 * more characters, must resolve to its own territory. */
	struct cl_config *cfg = cfg_create(BIG_T, -1);
	char buf[64];
	enum terr_how how;

	for (int t = 0; t < BIG_T; t++) {
		snprintf(buf, sizeof(buf), "t%04d", t);
		cfg->territories[t].name = xstrdup(buf);
		cfg->territories[t].parent = t < 10 ? -1 : t / 10; /* a 3-level tree */
		for (int j = 0; j < BIG_R; j++) {
			/* "+" 3 digits of t, 1 of j, then 0..3 more: lengths vary */
			snprintf(buf, sizeof(buf), "+%03d%d%.*s", t, j, (t + j) % 4, "765");
			add_phone(cfg, (size_t)t, buf);
			snprintf(buf, sizeof(buf), "%c%03d%c%.*s", 'A' + t % 26, t, 'A' + j,
				 (t * 7 + j) % 3, "Z9");
			add_postal(cfg, (size_t)t, buf);
		}
	}
	struct terr_index *ti = terr_index_new(cfg);
	assert_non_null(ti);
	for (int t = 0; t < BIG_T; t++) {
		const struct cfg_territory *ct = &cfg->territories[t];
		for (size_t j = 0; j < ct->n_phone; j++) {
			assert_int_equal(terr_resolve(ti, NULL, ct->phone[j], &how), t);
			assert_int_equal(how, TERR_PHONE);
			snprintf(buf, sizeof(buf), "%s0123", ct->phone[j]);
			assert_int_equal(terr_resolve(ti, NULL, buf, NULL), t);
		}
		for (size_t j = 0; j < ct->n_postal; j++) {
			assert_int_equal(terr_resolve(ti, ct->postal[j], NULL, &how), t);
			assert_int_equal(how, TERR_POSTAL);
			/* lower case, spaced, longer */
			size_t k = 0;
			for (const char *s = ct->postal[j]; *s && k + 3 < sizeof(buf); s++) {
				buf[k++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
				buf[k++] = ' ';
			}
			memcpy(buf + k, "1X", 3);
			assert_int_equal(terr_resolve(ti, buf, NULL, NULL), t);
		}
		assert_int_equal(terr_depth(ti, t), t < 10 ? 0 : t < 100 ? 1 : 2);
		assert_true(terr_is_ancestor_or_self(ti, terr_root(ti, t), t));
	}
	/* keys one digit short of every rule match nothing */
	assert_int_equal(terr_resolve(ti, NULL, "+123", &how), -1);
	assert_int_equal(terr_resolve(ti, "B001", NULL, &how), -1);
	assert_int_equal(how, TERR_NONE);
	terr_index_free(ti);
	cfg_destroy(cfg);
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: deterministic and good enough for test data */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Brute force: longest rule that is a prefix of key, ties by file order. */
static int ref_resolve(const struct cl_config *cfg, int phone, const char *key)
{
	int best = -1;
	size_t best_len = 0;
	for (size_t t = 0; t < cfg->n_territories; t++) {
		const struct cfg_territory *ct = &cfg->territories[t];
		size_t n = phone ? ct->n_phone : ct->n_postal;
		for (size_t j = 0; j < n; j++) {
			const char *r = phone ? ct->phone[j] : ct->postal[j];
			size_t len = strlen(r);
			if (len > best_len && strncmp(r, key, len) == 0) {
				best = (int)t;
				best_len = len;
			}
		}
	}
	return best;
}

static void test_big_table_random(void **state)
{
	/* random, heavily nested and duplicated prefixes (short ones collide
	 * often); random keys must agree with the brute-force reference. */
	static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	struct cl_config *cfg = cfg_create(BIG_T, -1);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char buf[32];

	for (int t = 0; t < BIG_T; t++) {
		snprintf(buf, sizeof(buf), "r%d", t);
		cfg->territories[t].name = xstrdup(buf);
		for (int j = 0; j < BIG_R; j++) {
			int len = 1 + (int)(rng_next(&seed) % 5);
			buf[0] = '+';
			for (int k = 0; k < len; k++)
				buf[1 + k] = (char)('0' + rng_next(&seed) % 4); /* digits 0-3 */
			buf[1 + len] = '\0';
			add_phone(cfg, (size_t)t, buf);
			len = 1 + (int)(rng_next(&seed) % 4);
			for (int k = 0; k < len; k++)
				buf[k] = alnum[rng_next(&seed) % 12]; /* 0-9 A B */
			buf[len] = '\0';
			add_postal(cfg, (size_t)t, buf);
		}
	}
	struct terr_index *ti = terr_index_new(cfg);
	assert_non_null(ti);
	for (int i = 0; i < 3000; i++) {
		int len = 1 + (int)(rng_next(&seed) % 8);
		buf[0] = '+';
		for (int k = 0; k < len; k++)
			buf[1 + k] = (char)('0' + rng_next(&seed) % 5);
		buf[1 + len] = '\0';
		int want = ref_resolve(cfg, 1, buf);
		assert_int_equal(terr_resolve(ti, NULL, buf, NULL), want);

		len = 1 + (int)(rng_next(&seed) % 6);
		for (int k = 0; k < len; k++)
			buf[k] = alnum[rng_next(&seed) % 13];
		buf[len] = '\0';
		want = ref_resolve(cfg, 0, buf);
		assert_int_equal(terr_resolve(ti, buf, "+", NULL), want);
	}
	terr_index_free(ti);
	cfg_destroy(cfg);
}

/* 1 if a is t or one of its ancestors, by walking the config's parents. */
static int ref_anc(const struct cl_config *cfg, int a, int t)
{
	for (; t >= 0; t = cfg->territories[t].parent)
		if (t == a)
			return 1;
	return 0;
}

/* Longest rule of territory t that is a prefix of key (0 = none). */
static size_t ref_longest(const struct cfg_territory *ct, int phone, const char *key)
{
	size_t n = phone ? ct->n_phone : ct->n_postal, best = 0;
	for (size_t j = 0; j < n; j++) {
		const char *r = phone ? ct->phone[j] : ct->postal[j];
		size_t len = strlen(r);
		if (len > best && strncmp(r, key, len) == 0)
			best = len;
	}
	return best;
}

/* Brute-force report line of one entry (key with its '+' for phones), from
 * the definition: claimants in (longest rule, file order); an overlap when
 * some pair is not on one root path or some prefix is claimed twice. */
struct ref_counts {
	int gaps, overlaps;
	int nested;      /* several claimants, all on one root path: no finding */
	int dup_on_path; /* overlaps only because one prefix is claimed twice */
};

static void ref_entry(const struct cl_config *cfg, int phone, const char *key, FILE *o,
		      struct ref_counts *rc)
{
	int n = (int)cfg->n_territories, nc = 0, dup = 0, split = 0;
	int *list = calloc((size_t)n, sizeof(*list));
	size_t *len = calloc((size_t)n, sizeof(*len));
	assert_non_null(list);
	assert_non_null(len);
	for (int t = 0; t < n; t++)
		if ((len[t] = ref_longest(&cfg->territories[t], phone, key)))
			list[nc++] = t;
	/* insertion sort by rule length, longest first; stable keeps file order */
	for (int i = 1; i < nc; i++)
		for (int j = i; j > 0 && len[list[j]] > len[list[j - 1]]; j--) {
			int x = list[j];
			list[j] = list[j - 1];
			list[j - 1] = x;
		}
	for (int i = 0; i < nc; i++)
		for (int j = i + 1; j < nc; j++)
			if (!ref_anc(cfg, list[i], list[j]) && !ref_anc(cfg, list[j], list[i]))
				split = 1;
	/* the same prefix string in two territories */
	for (size_t l = phone ? 2 : 1; l <= strlen(key) && !dup; l++) {
		int owners = 0;
		for (int t = 0; t < n && owners < 2; t++) {
			const struct cfg_territory *ct = &cfg->territories[t];
			size_t nr = phone ? ct->n_phone : ct->n_postal;
			for (size_t j = 0; j < nr; j++) {
				const char *r = phone ? ct->phone[j] : ct->postal[j];
				if (strlen(r) == l && strncmp(r, key, l) == 0) {
					owners++;
					break;
				}
			}
		}
		dup = owners >= 2;
	}
	const char *tag = phone ? "phone:" : "postal:";
	if (nc == 0) {
		fprintf(o, "gap %s%s\n", tag, key);
		rc->gaps++;
	} else if (nc > 1 && (split || dup)) {
		fprintf(o, "overlap %s%s", tag, key);
		for (int i = 0; i < nc; i++)
			fprintf(o, " %s", cfg->territories[list[i]].name);
		fputc('\n', o);
		rc->overlaps++;
		rc->dup_on_path += !split;
	} else if (nc > 1) {
		rc->nested++;
	}
	free(len);
	free(list);
}

/* One random symbol: a digit, or for postal codes one of 0-9 A-F. */
static char rnd_sym(uint64_t *seed, int phone)
{
	return phone ? (char)('0' + rng_next(seed) % 10) : "0123456789ABCDEF"[rng_next(seed) % 16];
}

static void test_coverage_random_reference(void **state)
{
	/* A random forest (parents earlier in the file, so no cycles). Roots get
	 * short fresh rules (separate trees collide now and then); other
	 * territories mostly extend one of their parent's rules by a symbol (the
	 * hierarchy at work; siblings sometimes pick the same one), sometimes
	 * repeat it verbatim or take a fresh rule (a stray claim into another
	 * branch). The universe is
	 * mostly rules extended further, plus random keys. The report must equal
	 * the brute-force one. */
	enum { RT = 150, RR = 3, RU = 1500 };
	struct cl_config *cfg = cfg_create(RT, -1);
	uint64_t seed = 0x2545f4914f6cdd1dull;
	char buf[32], *uni = NULL, *want = NULL;
	size_t uni_len = 0, want_len = 0;
	struct ref_counts n = { 0 };
	int rc;

	for (int t = 0; t < RT; t++) {
		snprintf(buf, sizeof(buf), "h%d", t);
		cfg->territories[t].name = xstrdup(buf);
		int p = t == 0 || rng_next(&seed) % 8 == 0 ? -1 : (int)(rng_next(&seed) % (uint64_t)t);
		cfg->territories[t].parent = p;
		for (int j = 0; j < RR; j++) {
			for (int phone = 0; phone < 2; phone++) {
				const struct cfg_territory *pt = &cfg->territories[p < 0 ? 0 : p];
				uint64_t how = rng_next(&seed) % 10; /* 0 fresh, 1 copy, else extend */
				size_t k = 0;
				if (p >= 0 && how != 0) {
					const char *r = phone ? pt->phone[rng_next(&seed) % pt->n_phone]
							      : pt->postal[rng_next(&seed) % pt->n_postal];
					k = strlen(r);
					memcpy(buf, r, k);
				} else {
					if (phone)
						buf[k++] = '+';
					buf[k++] = rnd_sym(&seed, phone);
				}
				if (k < 10 && (p < 0 || how != 1))
					buf[k++] = rnd_sym(&seed, phone);
				buf[k] = '\0';
				if (phone)
					add_phone(cfg, (size_t)t, buf);
				else
					add_postal(cfg, (size_t)t, buf);
			}
		}
	}
	struct terr_index *ti = terr_index_new(cfg);
	assert_non_null(ti);

	FILE *u = open_memstream(&uni, &uni_len), *w = open_memstream(&want, &want_len);
	assert_non_null(u);
	assert_non_null(w);
	for (int i = 0; i < RU; i++) {
		int phone = i % 2;
		size_t k = 0;
		if (rng_next(&seed) % 4 != 0) {
			const struct cfg_territory *ct = &cfg->territories[rng_next(&seed) % RT];
			const char *r = phone ? ct->phone[rng_next(&seed) % ct->n_phone]
					      : ct->postal[rng_next(&seed) % ct->n_postal];
			k = strlen(r);
			memcpy(buf, r, k);
		} else if (phone) {
			buf[k++] = '+';
		}
		for (int more = 1 + (int)(rng_next(&seed) % 3); more > 0 && k < 16; more--)
			buf[k++] = rnd_sym(&seed, phone);
		buf[k] = '\0';
		fprintf(u, "%s:%s\n", phone ? "phone" : "postal", buf);
		ref_entry(cfg, phone, buf, w, &n);
	}
	fprintf(w, "checked %d: %d gaps, %d overlaps\n", RU, n.gaps, n.overlaps);
	fclose(u);
	fclose(w);
	/* the draw must exercise every verdict (gap, overlap, several claimants
	 * on one path), or the comparison proves little */
	assert_true(n.gaps > 20);
	assert_true(n.overlaps > 20);
	assert_true(n.nested > 20);
	assert_true(n.dup_on_path > 5);

	char *rep = run_coverage(ti, uni, &rc);
	assert_string_equal(rep, want);
	assert_int_equal(rc, n.gaps + n.overlaps);
	free(rep);
	free(uni);
	free(want);
	terr_index_free(ti);
	cfg_destroy(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_longest_prefix_wins, setup_dach, teardown_dach),
		cmocka_unit_test_setup_teardown(test_postal_beats_phone, setup_dach, teardown_dach),
		cmocka_unit_test_setup_teardown(test_postal_miss_falls_back_to_phone, setup_dach,
						teardown_dach),
		cmocka_unit_test(test_default_and_none),
		cmocka_unit_test(test_postal_spaces_and_case),
		cmocka_unit_test_setup_teardown(test_phone_non_digits, setup_dach, teardown_dach),
		cmocka_unit_test(test_duplicate_prefix_first_wins),
		cmocka_unit_test_setup_teardown(test_hierarchy, setup_dach, teardown_dach),
		cmocka_unit_test(test_forest_and_file_order),
		cmocka_unit_test(test_bad_config_rejected),
		cmocka_unit_test(test_empty_config),
		cmocka_unit_test_setup_teardown(test_coverage_report, setup_dach, teardown_dach),
		cmocka_unit_test(test_coverage_order_and_default),
		cmocka_unit_test(test_coverage_hierarchy),
		cmocka_unit_test(test_coverage_random_reference),
		cmocka_unit_test_setup_teardown(test_coverage_malformed, setup_dach, teardown_dach),
		cmocka_unit_test(test_big_table_every_prefix),
		cmocka_unit_test(test_big_table_random),
	};
	return cmocka_run_group_tests_name("terr", tests, NULL, NULL);
}
