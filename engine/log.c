/*
 * log.c — level check and sink for the CL_LOG_* macros (see log.h).
 *
 * Process-wide state, on purpose: logging is configured once before the loop
 * starts and then only read; passing a logger through every call would add a
 * parameter to every function for no behaviour.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static enum cl_log_level log_level = CL_LOG_LEVEL_INFO;
static cl_log_sink_fn log_sink;
static void *log_sink_arg;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void cl_log_set_level(enum cl_log_level lvl) { log_level = lvl; }

enum cl_log_level cl_log_get_level(void) { return log_level; }

int cl_log_parse_level(const char *s, enum cl_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum cl_log_level)i;
			return 0;
		}
	}
	return -1;
}

void cl_log_set_sink(cl_log_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

void cl_log_write(enum cl_log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_sink) {
		log_sink(lvl, msg, log_sink_arg);
		return;
	}
	struct timeval tv;
	struct tm tm;
	char ts[32];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03dZ %s %s\n", ts, (int)(tv.tv_usec / 1000),
		level_names[lvl], msg);
}
