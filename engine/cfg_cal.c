/*
 * cfg_cal.c — the `calendars:` section of the configuration (cfg.h,
 * docs/config.md): a time zone, weekly opening hours and holidays per
 * calendar, referred to by name from territories.
 *
 *   calendars:
 *     - name: de-office
 *       timezone: Europe/Berlin
 *       hours: {mon-fri: ["08:00-12:00", "13:00-18:00"], sat: ["09:00-13:00"]}
 *       holidays: ["2026-12-24", "12-25"]
 *
 * Days are mon..sun, a range of them ("mon-fri", "fri-mon") or "daily"; a
 * day given no ranges, or not given, is closed. A time range whose end is
 * before its start runs past midnight into the next day.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cal.h"
#include "cfg_internal.h"

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int day_index(const char *s, size_t n)
{
	for (int d = 0; d < 7; d++)
		if (n == 3 && strncmp(s, day_names[d], 3) == 0)
			return d;
	return -1;
}

/* "mon", "mon-fri", "daily" -> mask of weekdays (bit 0 = Monday); 0 = bad. */
static unsigned day_mask(const char *key)
{
	if (strcmp(key, "daily") == 0)
		return 0x7f;
	const char *dash = strchr(key, '-');
	int a = day_index(key, dash ? (size_t)(dash - key) : strlen(key));
	int b = dash ? day_index(dash + 1, strlen(dash + 1)) : a;
	if (a < 0 || b < 0)
		return 0;
	unsigned m = 0;
	for (int d = a;; d = (d + 1) % 7) {
		m |= 1u << d;
		if (d == b)
			break;
	}
	return m;
}

/* "HH:MM" (00:00..24:00) -> minutes, or -1. */
static int parse_hhmm(const char *s)
{
	if (strlen(s) != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m))
		return -1;
	return h * 60 + m;
}

static int add_range(struct cfg_ld *ld, struct cfg_calendar *c, int day, int from, int to,
		     uint32_t line)
{
	if (c->n_hours[day] == CFG_CAL_RANGES)
		return cfg_fail(ld, line, "more than %d opening ranges on %s", CFG_CAL_RANGES,
				day_names[day]);
	struct cfg_cal_range *r = c->hours[day];
	unsigned n = c->n_hours[day]++;
	/* Sorted by start: insertion into a handful. */
	while (n && r[n - 1].from > from) {
		r[n] = r[n - 1];
		n--;
	}
	r[n] = (struct cfg_cal_range){(uint16_t)from, (uint16_t)to};
	return 0;
}

static int load_hours(struct cfg_ld *ld, uint32_t v, struct cfg_calendar *c)
{
	char q[CFG_QUOTE_MAX + 4];
	unsigned given = 0;
	int rc = -1;
	size_t old = cfg_push_key(ld, "hours");

	if (N(ld, v)->type != CFG_YN_MAP) {
		cfg_fail(ld, N(ld, v)->line, "expected a mapping of days to time ranges, got %s",
			 cfg_type_name(ld, v));
		goto out;
	}
	for (uint32_t k = N(ld, v)->first; k; k = N(ld, N(ld, k)->next)->next) {
		uint32_t val = N(ld, k)->next;
		unsigned mask = N(ld, k)->type == CFG_YN_SCALAR ? day_mask(S(ld, k)) : 0;
		if (!mask) {
			cfg_fail(ld, N(ld, k)->line,
				 "unknown day \"%s\" (expected mon..sun, a range such as mon-fri, "
				 "or daily)",
				 N(ld, k)->type == CFG_YN_SCALAR ? cfg_qs(q, S(ld, k), N(ld, k)->len) : "");
			goto out;
		}
		if (given & mask) {
			for (int d = 0; d < 7; d++)
				if (given & mask & (1u << d)) {
					cfg_fail(ld, N(ld, k)->line, "%s is given twice", day_names[d]);
					goto out;
				}
		}
		given |= mask;
		size_t o2 = cfg_push_key(ld, S(ld, k));
		uint32_t first = 0;
		long n = cfg_is_null(ld, val) ? 0 : cfg_list_items(ld, val, true, &first);
		size_t i = 0;
		for (uint32_t it = n > 0 ? first : 0; it; it = cfg_list_next(ld, val, it), i++) {
			size_t o3 = cfg_push_idx(ld, i);
			char from_s[8] = "", to_s[8] = "";
			const char *s = S(ld, it);
			const char *dash = N(ld, it)->type == CFG_YN_SCALAR ? strchr(s, '-') : NULL;
			if (dash && (size_t)(dash - s) < sizeof from_s && strlen(dash + 1) < sizeof to_s) {
				memcpy(from_s, s, (size_t)(dash - s));
				from_s[dash - s] = '\0';
				strcpy(to_s, dash + 1);
			}
			int from = parse_hhmm(from_s), to = parse_hhmm(to_s);
			if (from < 0 || to < 0 || from == to || from == 1440) {
				cfg_fail(ld, N(ld, it)->line,
					 "time range \"%s\": expected HH:MM-HH:MM (00:00 to 24:00, "
					 "start and end different)",
					 N(ld, it)->type == CFG_YN_SCALAR ? cfg_qs(q, s, N(ld, it)->len)
									   : "");
				n = -1;
			}
			for (int d = 0; d < 7 && n >= 0; d++) {
				if (!(mask & (1u << d)))
					continue;
				int r = from < to ? add_range(ld, c, d, from, to, N(ld, it)->line)
						  : add_range(ld, c, d, from, 1440, N(ld, it)->line);
				/* Past midnight: the rest opens the next day. */
				if (r == 0 && to < from && to > 0)
					r = add_range(ld, c, (d + 1) % 7, 0, to, N(ld, it)->line);
				if (r < 0)
					n = -1;
			}
			cfg_pop(ld, o3);
			if (n < 0)
				break;
		}
		cfg_pop(ld, o2);
		if (n < 0)
			goto out;
	}
	rc = 0;
out:
	cfg_pop(ld, old);
	return rc;
}

static bool leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* "YYYY-MM-DD" -> YYYYMMDD, "MM-DD" -> MMDD (every year); 0 = bad. */
static uint32_t parse_date(const char *s)
{
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned y = 0, mo, d;
	size_t n = strlen(s);
	const char *md = s;
	if (n == 10) {
		if (s[4] != '-')
			return 0;
		for (int i = 0; i < 4; i++) {
			if (s[i] < '0' || s[i] > '9')
				return 0;
			y = y * 10 + (unsigned)(s[i] - '0');
		}
		if (y < 1970)
			return 0;
		md = s + 5;
	} else if (n != 5) {
		return 0;
	}
	if (md[2] != '-' || md[0] < '0' || md[0] > '9' || md[1] < '0' || md[1] > '9' ||
	    md[3] < '0' || md[3] > '9' || md[4] < '0' || md[4] > '9')
		return 0;
	mo = (unsigned)(md[0] - '0') * 10 + (unsigned)(md[1] - '0');
	d = (unsigned)(md[3] - '0') * 10 + (unsigned)(md[4] - '0');
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (y && mo == 2 && d == 29 && !leap(y)))
		return 0;
	return y * 10000u + mo * 100u + d;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int load_holidays(struct cfg_ld *ld, uint32_t v, struct cfg_calendar *c)
{
	char q[CFG_QUOTE_MAX + 4];
	uint32_t first = 0;
	size_t i = 0;
	int rc = -1;
	size_t old = cfg_push_key(ld, "holidays");
	long n = cfg_list_items(ld, v, true, &first);

	if (n < 0)
		goto out;
	if (n && !(c->holidays = calloc((size_t)n, sizeof *c->holidays))) {
		cfg_oom(ld, N(ld, v)->line);
		goto out;
	}
	for (uint32_t it = n > 0 ? first : 0; it; it = cfg_list_next(ld, v, it), i++) {
		uint32_t d = N(ld, it)->type == CFG_YN_SCALAR ? parse_date(S(ld, it)) : 0;
		if (!d) {
			size_t o2 = cfg_push_idx(ld, i);
			cfg_fail(ld, N(ld, it)->line,
				 "holiday \"%s\": expected YYYY-MM-DD, or MM-DD for every year",
				 N(ld, it)->type == CFG_YN_SCALAR ? cfg_qs(q, S(ld, it), N(ld, it)->len)
								   : "");
			cfg_pop(ld, o2);
			goto out;
		}
		c->holidays[c->n_holidays++] = d;
	}
	if (c->n_holidays)
		qsort(c->holidays, c->n_holidays, sizeof *c->holidays, cmp_u32);
	rc = 0;
out:
	cfg_pop(ld, old);
	return rc;
}

int cfg_load_calendars(struct cfg_ld *ld, uint32_t v)
{
	static const char *const keys[] = {"name", "timezone", "hours", "holidays"};
	struct cl_config *cfg = ld->cfg;
	uint32_t first = 0;
	size_t i = 0;
	int rc = -1;

	if (!v)
		return 0;
	size_t old = cfg_push_key(ld, "calendars");
	long n = cfg_list_items(ld, v, true, &first);
	if (n < 0)
		goto out;
	if (n > CFG_MAX_CALENDARS) {
		cfg_fail(ld, N(ld, v)->line, "%ld calendars; at most %d", n, CFG_MAX_CALENDARS);
		goto out;
	}
	if (n && !(cfg->calendars = calloc((size_t)n, sizeof *cfg->calendars))) {
		cfg_oom(ld, N(ld, v)->line);
		goto out;
	}
	for (uint32_t it = n > 0 ? first : 0; it; it = cfg_list_next(ld, v, it), i++) {
		struct cfg_calendar *c = &cfg->calendars[i];
		uint32_t f[4];
		size_t o2 = cfg_push_idx(ld, i);
		cfg->n_calendars = i + 1;
		c->line = (int)N(ld, it)->line;
		if (cfg_map_fields(ld, it, keys, 4, f) < 0)
			goto out;
		if (!f[0] || !f[1] || !f[2]) {
			cfg_fail(ld, N(ld, it)->line, "missing required key \"%s\"",
				 !f[0] ? "name" : !f[1] ? "timezone" : "hours");
			goto out;
		}
		if (cfg_get_str(ld, "name", f[0], CFG_STR_WORD, CFG_ID_MAX, &c->name) < 0)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->calendars[j].name, c->name) == 0) {
				cfg_push_key(ld, "name");
				cfg_fail(ld, N(ld, f[0])->line,
					 "duplicate calendar \"%s\" (first at line %d)", c->name,
					 cfg->calendars[j].line);
				goto out;
			}
		if (cfg_get_str(ld, "timezone", f[1], CFG_STR_WORD, 64, &c->timezone) < 0)
			goto out;
		if (!cal_zone_ok(c->timezone)) {
			cfg_push_key(ld, "timezone");
			cfg_fail(ld, N(ld, f[1])->line,
				 "unknown time zone \"%s\" (an IANA name such as Europe/Berlin; "
				 "is tzdata installed?)",
				 c->timezone);
			goto out;
		}
		if (load_hours(ld, f[2], c) < 0 || (f[3] && load_holidays(ld, f[3], c) < 0))
			goto out;
		cfg_pop(ld, o2);
	}
	rc = 0;
out:
	cfg_pop(ld, old);
	return rc;
}

int cfg_calendar_ref(struct cfg_ld *ld, uint32_t v)
{
	char q[CFG_QUOTE_MAX + 4];
	const struct cl_config *cfg = ld->cfg;

	if (cfg_check_str(ld, v, CFG_STR_WORD, CFG_ID_MAX) < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_calendars; i++)
		if (strcmp(cfg->calendars[i].name, S(ld, v)) == 0)
			return (int)i;
	return cfg_fail(ld, N(ld, v)->line, "unknown calendar \"%s\"",
			cfg_qs(q, S(ld, v), N(ld, v)->len));
}

void cfg_calendars_free(struct cl_config *cfg)
{
	for (size_t i = 0; i < cfg->n_calendars; i++) {
		free(cfg->calendars[i].name);
		free(cfg->calendars[i].timezone);
		free(cfg->calendars[i].holidays);
	}
	free(cfg->calendars);
	cfg->calendars = NULL;
	cfg->n_calendars = 0;
}
