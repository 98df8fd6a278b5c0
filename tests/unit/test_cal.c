/*
 * test_cal.c — calendars: opening hours, holidays, time zones (cal.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cal.h"
#include "cfg.h"

static struct tm local(int year, int mon, int mday, int hour, int min, int wday)
{
	struct tm t;
	memset(&t, 0, sizeof t);
	t.tm_year = year - 1900;
	t.tm_mon = mon - 1;
	t.tm_mday = mday;
	t.tm_hour = hour;
	t.tm_min = min;
	t.tm_wday = wday; /* 0 = Sunday */
	return t;
}

/* Monday to Friday 08:00-12:00 and 13:00-18:00; Saturday 22:00-02:00 (into
 * Sunday); closed on 2026-12-24 and every 25 December. */
static struct cfg_calendar office(void)
{
	static uint32_t hol[] = {1225, 20261224};
	struct cfg_calendar c;
	memset(&c, 0, sizeof c);
	c.timezone = "Europe/Berlin";
	for (int d = 0; d < 5; d++) {
		c.hours[d][0] = (struct cfg_cal_range){8 * 60, 12 * 60};
		c.hours[d][1] = (struct cfg_cal_range){13 * 60, 18 * 60};
		c.n_hours[d] = 2;
	}
	c.hours[5][0] = (struct cfg_cal_range){22 * 60, 1440};
	c.n_hours[5] = 1;
	c.hours[6][0] = (struct cfg_cal_range){0, 2 * 60};
	c.n_hours[6] = 1;
	c.holidays = hol;
	c.n_holidays = 2;
	return c;
}

static void test_open_local(void **state)
{
	(void)state;
	static const struct {
		int y, mo, d, h, mi, wday;
		bool open;
	} cases[] = {
		/* Wednesday 2026-11-25; the end of a range is excluded (lunch). */
		{2026, 11, 25, 7, 59, 3, false},  {2026, 11, 25, 8, 0, 3, true},
		{2026, 11, 25, 12, 0, 3, false},  {2026, 11, 25, 17, 59, 3, true},
		{2026, 11, 25, 18, 0, 3, false},
		/* Saturday night into Sunday. */
		{2026, 11, 28, 21, 59, 6, false}, {2026, 11, 28, 23, 30, 6, true},
		{2026, 11, 29, 1, 59, 0, true},   {2026, 11, 29, 2, 0, 0, false},
		{2026, 11, 29, 10, 0, 0, false},
		/* Holidays: a full date, and a day of every year. */
		{2026, 12, 24, 10, 0, 4, false},  {2027, 12, 24, 10, 0, 5, true},
		{2031, 12, 25, 10, 0, 4, false},
	};
	struct cfg_calendar c = office();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tm t = local(cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi,
				    cases[i].wday);
		if (cal_open_local(&c, &t) != cases[i].open)
			fail_msg("%04d-%02d-%02d %02d:%02d: expected %s", cases[i].y, cases[i].mo,
				 cases[i].d, cases[i].h, cases[i].mi,
				 cases[i].open ? "open" : "closed");
	}
}

static void test_localtime_zones(void **state)
{
	(void)state;
	struct tm t;
	setenv("TZ", "UTC", 1);

	/* 2026-01-15 12:00 UTC: 13:00 in Berlin (CET); 2026-07-15: 14:00 (CEST). */
	assert_int_equal(cal_localtime("Europe/Berlin", 1768478400, &t), 0);
	assert_int_equal(t.tm_hour, 13);
	assert_int_equal(t.tm_mday, 15);
	assert_int_equal(cal_localtime("Europe/Berlin", 1784116800, &t), 0);
	assert_int_equal(t.tm_hour, 14);
	/* New York, the day before in local time. */
	assert_int_equal(cal_localtime("America/New_York", 1768449600, &t), 0); /* 04:00 UTC */
	assert_int_equal(t.tm_mday, 14);
	assert_int_equal(t.tm_hour, 23);
	/* The process's own zone is left as it was. */
	assert_string_equal(getenv("TZ"), "UTC");
	assert_int_equal(cal_localtime(NULL, 1768478400, &t), 0);
	assert_int_equal(t.tm_hour, 12);
	unsetenv("TZ");
	assert_int_equal(cal_localtime("Asia/Tokyo", 1768478400, &t), 0);
	assert_int_equal(t.tm_hour, 21);
	assert_null(getenv("TZ"));
}

static void test_open_at(void **state)
{
	(void)state;
	struct cfg_calendar c = office();

	/* Wednesday 2026-11-25: 16:30 UTC is 17:30 in Berlin, 17:30 UTC 18:30. */
	assert_true(cal_open_at(&c, 1795624200));
	assert_false(cal_open_at(&c, 1795627800));
	/* 2026-12-24 09:00 UTC (10:00 local): a holiday. */
	assert_false(cal_open_at(&c, 1798102800));
	/* The same hour a day earlier: open. */
	assert_true(cal_open_at(&c, 1798016400));
}

static void test_zone_names(void **state)
{
	(void)state;
	assert_true(cal_zone_ok("Europe/Berlin"));
	assert_true(cal_zone_ok("UTC"));
	assert_true(cal_zone_ok("America/Argentina/Buenos_Aires"));
	assert_false(cal_zone_ok("Europe/Atlantis"));
	assert_false(cal_zone_ok("../etc/passwd"));
	assert_false(cal_zone_ok("/usr/share/zoneinfo/UTC"));
	assert_false(cal_zone_ok("Europe"));  /* a directory */
	assert_false(cal_zone_ok("Europe//Berlin"));
	assert_false(cal_zone_ok(""));
	assert_false(cal_zone_ok(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_local),
		cmocka_unit_test(test_localtime_zones),
		cmocka_unit_test(test_open_at),
		cmocka_unit_test(test_zone_names),
	};
	return cmocka_run_group_tests_name("unit_cal", tests, NULL, NULL);
}
