/*
 * cal.h — whether a calendar (cfg.h: time zone, weekly opening hours,
 * holidays) is open at a given time.
 *
 * Local time comes from the C library's time-zone database (TZ and tzset:
 * process-wide state, so callers in one thread only; the router asks once
 * a minute per calendar and keeps the answer).
 */
#ifndef CL_CAL_H
#define CL_CAL_H

#include <stdbool.h>
#include <time.h>

#include "cfg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether zone names a zone of the zoneinfo database (TZDIR, else
 * /usr/share/zoneinfo): a relative path of [A-Za-z0-9_+-] parts, no "..". */
bool cal_zone_ok(const char *zone);

/* The local time of t in zone (NULL = UTC). 0, or -1 when the conversion
 * fails. Restores the process's own TZ afterwards. */
int cal_localtime(const char *zone, time_t t, struct tm *out);

/* Whether c is open at local time lt (its weekday, date, hour and minute). */
bool cal_open_local(const struct cfg_calendar *c, const struct tm *lt);

/* Whether c is open at t. A failed conversion counts as open: a calendar
 * must not close a contact centre by accident. */
bool cal_open_at(const struct cfg_calendar *c, time_t t);

#ifdef __cplusplus
}
#endif
#endif /* CL_CAL_H */
