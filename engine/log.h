/*
 * log.h — closeloop's logging: levelled macros that check the level before
 * formatting and write through a sink that can be swapped (tests capture it).
 *
 * The default sink writes one line per record to stderr:
 *   2026-11-25T10:00:00.123Z WARN call c-17: no route
 * The level and the sink are the only process-wide logging state; they are set
 * once at start-up (main, tests) and only read afterwards.
 */
#ifndef CL_LOG_H
#define CL_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cl_log_level {
	CL_LOG_LEVEL_ERROR = 0,
	CL_LOG_LEVEL_WARN = 1,
	CL_LOG_LEVEL_INFO = 2,
	CL_LOG_LEVEL_DEBUG = 3,
};

/* Receives a formatted record; msg is valid only during the call. */
typedef void (*cl_log_sink_fn)(enum cl_log_level lvl, const char *msg, void *arg);

/* Set the threshold; records above it are not formatted. */
void cl_log_set_level(enum cl_log_level lvl);
enum cl_log_level cl_log_get_level(void);
/* Parse "error|warn|info|debug"; returns 0 or -1. */
int cl_log_parse_level(const char *s, enum cl_log_level *out);
/* NULL sink restores the stderr sink. */
void cl_log_set_sink(cl_log_sink_fn fn, void *arg);

void cl_log_write(enum cl_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define CL_LOG_AT(lvl, ...)                                                    \
	do {                                                                   \
		if ((lvl) <= cl_log_get_level())                               \
			cl_log_write((lvl), __VA_ARGS__);                      \
	} while (0)

#define CL_LOG_ERROR(...) CL_LOG_AT(CL_LOG_LEVEL_ERROR, __VA_ARGS__)
#define CL_LOG_WARN(...) CL_LOG_AT(CL_LOG_LEVEL_WARN, __VA_ARGS__)
#define CL_LOG_INFO(...) CL_LOG_AT(CL_LOG_LEVEL_INFO, __VA_ARGS__)
#define CL_LOG_DEBUG(...) CL_LOG_AT(CL_LOG_LEVEL_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif /* CL_LOG_H */
