/*
 * cal.c — see cal.h.
 */
#include "cal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool cal_zone_ok(const char *zone)
{
	if (!zone || !*zone || strlen(zone) > 64 || zone[0] == '/')
		return false;
	for (const char *p = zone; *p; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '+' || ch == '-' ||
			  (ch == '/' && p[1] && p[1] != '/');
		if (!ok)
			return false;
	}
	if (strstr(zone, ".."))
		return false;
	const char *dir = getenv("TZDIR");
	char path[512];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cal_localtime(const char *zone, time_t t, struct tm *out)
{
	if (!zone) {
		return gmtime_r(&t, out) ? 0 : -1;
	}
	const char *cur = getenv("TZ");
	char *saved = cur ? strdup(cur) : NULL;
	if (cur && !saved)
		return -1;
	int rc = -1;
	if (setenv("TZ", zone, 1) == 0) {
		tzset();
		rc = localtime_r(&t, out) ? 0 : -1;
	}
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
	return rc;
}

static bool holiday(const struct cfg_calendar *c, const struct tm *lt)
{
	uint32_t md = (uint32_t)(lt->tm_mon + 1) * 100u + (uint32_t)lt->tm_mday;
	uint32_t ymd = (uint32_t)(lt->tm_year + 1900) * 10000u + md;
	for (size_t i = 0; i < c->n_holidays; i++)
		if (c->holidays[i] == ymd || c->holidays[i] == md)
			return true;
	return false;
}

bool cal_open_local(const struct cfg_calendar *c, const struct tm *lt)
{
	if (holiday(c, lt))
		return false;
	int day = (lt->tm_wday + 6) % 7; /* tm: 0 = Sunday; here 0 = Monday */
	unsigned m = (unsigned)(lt->tm_hour * 60 + lt->tm_min);
	for (unsigned i = 0; i < c->n_hours[day]; i++)
		if (m >= c->hours[day][i].from && m < c->hours[day][i].to)
			return true;
	return false;
}

bool cal_open_at(const struct cfg_calendar *c, time_t t)
{
	struct tm lt;
	if (cal_localtime(c->timezone, t, &lt) < 0)
		return true;
	return cal_open_local(c, &lt);
}
