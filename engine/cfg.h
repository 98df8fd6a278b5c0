/*
 * cfg.h — the configuration model of closeloopd and its YAML loader.
 *
 * The loader (cfg.c, libyaml event parser) turns one YAML file into a plain,
 * fully checked struct cl_config: names are resolved to indexes (skills,
 * territories, targets) so the router never looks anything up by string, and
 * every error names file:line and what is wrong. A config is immutable once
 * loaded; a reload builds a new one. docs/config.md is the reference.
 */
#ifndef CL_CFG_H
#define CL_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CFG_MAX_SKILLS 64  /* skills are a uint64_t mask */
#define CFG_MAX_STEPS 8    /* steps per routing plan */
#define CFG_MAX_PROF 5     /* proficiency 1..5; 0 = lacks the skill */
#define CFG_ID_MAX 128     /* ids and names, bytes */
#define CFG_MAX_TARGETS (1u << 20)
#define CFG_MAX_PLUGINS 32  /* strategy plugins (plugins:) */
#define CFG_MAX_PLUGIN_OPTIONS 64
#define CFG_CAL_RANGES 8    /* opening ranges per weekday */
#define CFG_MAX_CALENDARS 256

enum cfg_kind {
	CFG_KIND_REP = 1,
	CFG_KIND_PARTNER = 2,
};

/* Which targets a plan step may use. */
enum cfg_set {
	CFG_SET_ANY = 0,
	CFG_SET_REPS = 1,
	CFG_SET_PARTNERS = 2,
};

/* Which territory a plan step looks in, relative to the caller's. */
enum cfg_scope {
	CFG_SCOPE_CALLER = 0, /* the caller's territory */
	CFG_SCOPE_UP = 1,     /* `up` levels above it (parent = 1) */
	CFG_SCOPE_ROOT = 2,   /* the top of the caller's territory tree */
	CFG_SCOPE_ANY = 3,    /* every territory */
	CFG_SCOPE_NAMED = 4,  /* one fixed territory (`territory_id`) */
};

/* Which of the call's required skills a step insists on. */
enum cfg_skills {
	CFG_SKILLS_ALL = 0,   /* every required skill (and language) */
	CFG_SKILLS_FIRST = 1, /* only the first required skill (product line) */
	CFG_SKILLS_NONE = 2,  /* any target of the set */
};

enum cfg_strategy {
	CFG_STRAT_LONGEST_IDLE = 0,
	CFG_STRAT_FEWEST_CALLS,
	CFG_STRAT_ROUND_ROBIN,
	CFG_STRAT_TOP_DOWN,
	CFG_STRAT_RANDOM,
	CFG_STRAT_PROFICIENCY_FIRST,
	CFG_STRAT_WEIGHTED_SHARE,
	CFG_STRAT_PERFORMANCE_WEIGHTED,
	CFG_STRAT_COUNT
};
/* A plan step whose strategy is a plugin: CFG_STRAT_PLUGIN0 + index in
 * cl_config.plugins (below CFG_STRAT_PLUGIN0 + CFG_MAX_PLUGINS). */
#define CFG_STRAT_PLUGIN0 CFG_STRAT_COUNT

enum cfg_action {
	CFG_ACTION_ROUTE = 0,    /* wait for a target of the set */
	CFG_ACTION_REJECT = 1,   /* reject the call (RejectCall PLAN) */
	CFG_ACTION_CALLBACK = 2, /* reject with a callback offer (RejectCall CALLBACK) */
};

/* Opening hours of one weekday: [from, to) in minutes after local midnight. */
struct cfg_cal_range {
	uint16_t from, to;   /* 0 <= from < to <= 1440 */
};

/*
 * A calendar: a time zone, weekly opening hours and holidays (closed all
 * day). A range that runs past midnight ("22:00-02:00") is stored as two:
 * to midnight on its day, from midnight on the next.
 */
struct cfg_calendar {
	char *name;
	char *timezone;      /* IANA name, checked against the zoneinfo database */
	struct cfg_cal_range hours[7][CFG_CAL_RANGES]; /* [0] = Monday, sorted */
	uint8_t n_hours[7];
	uint32_t *holidays;  /* YYYYMMDD, or MMDD for every year; sorted */
	size_t n_holidays;
	int line;
};

struct cfg_territory {
	char *name;
	int parent;          /* index into cl_config.territories, -1 = none */
	char *timezone;      /* IANA name, informational; may be NULL */
	int calendar;        /* index into cl_config.calendars, its own or its
	                        nearest ancestor's; -1 = none (always open) */
	char **postal;       /* postal-code prefixes (digits/letters) */
	size_t n_postal;
	char **phone;        /* E.164 prefixes, with the leading '+' */
	size_t n_phone;
	int line;            /* where it was defined */
};

/* Service levels a partner agreed to (0 = not set). */
struct cfg_contract {
	uint32_t answer_ms;        /* target average speed of answer */
	double max_abandon;        /* 0..1 */
	double min_closure;        /* 0..1 */
	double min_satisfaction;   /* 0..5 */
	double commission_pct;     /* of order value */
	double lead_fee;           /* per qualified lead */
};

struct cfg_target {
	char *id;
	char *name;                /* display name; defaults to id */
	enum cfg_kind kind;
	int *territories;          /* indexes; served with their whole subtree */
	size_t n_territories;
	uint64_t skills;           /* mask of skills held */
	uint8_t prof[CFG_MAX_SKILLS]; /* level per skill, 0 = lacks */
	uint32_t capacity;         /* concurrent calls: rep 1, partner seats */
	char *sip_uri;             /* where the PBX sends the call; may be NULL for reps */
	char *token;               /* partner's own Hello token; NULL for reps */
	double share;              /* weighted-share weight, > 0 (default 1) */
	double closure_rate;       /* prior closure rate 0..1 (default 0.5) */
	struct cfg_contract contract;
	double commission_pct;     /* reps: percent of order value (default
	                              sales.rep_commission_pct); partners use contract */
	uint32_t wrapup_ms;        /* after each call; default router.wrapup_ms */
	bool auto_ready;           /* READY at start without a login (partners default) */
	bool needs_accept;         /* RouteCall only after OfferAccept (default false) */
	int calendar;              /* index into cl_config.calendars; -1 = always open */
	int line;
};

struct cfg_match {
	char **dialed;             /* dialed-number prefixes; empty = any */
	size_t n_dialed;
	char **segments;           /* exact segments; empty = any */
	size_t n_segments;
	uint64_t skills_any;       /* call requires one of these; 0 = any */
	int *territories;          /* caller's territory or an ancestor; empty = any */
	size_t n_territories;
	int8_t open;               /* caller's territory's calendar: 1 open, 0 closed, -1 any */
};

struct cfg_step {
	enum cfg_action action;
	enum cfg_set set;
	enum cfg_scope scope;
	int up;                    /* CFG_SCOPE_UP: levels, >= 1 */
	int territory;             /* CFG_SCOPE_NAMED: index */
	enum cfg_skills skills;
	uint8_t min_prof;          /* minimum level in every insisted skill, 1..5 */
	enum cfg_strategy strategy;
	uint32_t timeout_ms;       /* before the next step; 0 = wait forever */
	char *reason;              /* reject/callback text; may be NULL */
};

struct cfg_plan {
	char *name;
	struct cfg_match match;    /* all given conditions must hold */
	struct cfg_step steps[CFG_MAX_STEPS];
	size_t n_steps;
	int line;
};

struct cfg_redis {
	bool enabled;              /* default true */
	char *host;                /* default 127.0.0.1 */
	uint16_t port;             /* default 6379 */
	char *unix_path;           /* when set, used instead of host:port */
	char *user;                /* ACL user; may be NULL */
	char *password;            /* may be NULL */
	uint32_t db;
	char *prefix;              /* key prefix, default "cl:" */
	uint32_t stream_maxlen;    /* approximate MAXLEN of the event stream */
	uint32_t call_ttl_s;       /* TTL of a call hash after the call ends */
	uint32_t max_inflight;     /* commands sent and not yet answered */
	uint32_t buffer_events;    /* kept in memory while Redis is away */
	char *journal;             /* spill file past buffer_events; NULL = none */
	uint32_t snapshot_ms;      /* totals hash period */
	uint32_t lead_maxlen;      /* approximate MAXLEN of the lead stream */
	uint32_t stream_batch;     /* events per entry of the event stream, at most */
	uint32_t state_flush_ms;   /* state hashes are written at most this often */
};

/* Kamailio evapi link (kamailio: in the configuration; docs/kamailio.md). */
struct cfg_kamailio {
	char *evapi;               /* "host:port" of Kamailio's evapi server; NULL = off */
	uint32_t reconnect_min_ms; /* first retry delay after a failure, default 200 */
	uint32_t reconnect_max_ms; /* cap of the doubling retry delay, default 5000 */
	uint32_t max_message;      /* bytes of one netstring from Kamailio, default 65536 */
	bool notify_queued;        /* send "queued" notices for waiting calls, default true */
};

/* One `key: value` of a plugin's options (both strings, as written). */
struct cfg_plugin_option {
	char *key;
	char *value;
};

/* A strategy plugin instance (plugins: in the configuration). */
struct cfg_plugin {
	char *name;                /* the strategy name plans use; unique, not a built-in */
	char *path;                /* shared object; relative paths resolved against
	                              the configuration file's directory */
	struct cfg_plugin_option *options;
	size_t n_options;
	int line;
};

/* The sales loop (sales: in the configuration; docs/sales.md). */
#define CFG_SALES_MAX_LEVELS 8

/* One level of the complaint escalation path. */
struct cfg_sales_level {
	char *name;                /* e.g. rep, supervisor, manager */
	uint32_t deadline_ms;      /* time a complaint may stay at this level */
};

struct cfg_sales {
	uint32_t record_retention_s;   /* call records, closed orders, tasks kept after the end */
	uint32_t disposition_timeout_s; /* answered call without a disposition is flagged; 0 = off */
	uint32_t max_records;      /* call records in memory */
	uint32_t max_orders;       /* orders in memory (open + recently closed) */
	uint32_t max_leads;        /* leads in memory (erasure lookups) */
	uint32_t max_tasks;        /* follow-up tasks and complaints in memory */
	uint32_t service_level_ms; /* answered within this counts for the service level */
	uint32_t kpi_memory_buckets; /* 15-minute buckets kept in memory per series */
	uint32_t kpi_ttl_s;        /* TTL of KPI bucket hashes in Redis */
	uint64_t max_amount_minor; /* largest order amount accepted, minor units */
	char *currency;            /* ISO 4217 code of every amount */
	double rep_commission_pct; /* default commission of reps, percent of order value */
	struct {
		uint32_t delay_ms;     /* due time when a disposition names none */
		uint32_t retry_ms;     /* after an attempt that did not reach the customer */
		uint32_t max_attempts;
		uint32_t preferred_ms; /* offered to the same target alone this long */
		uint32_t priority;     /* routing priority of follow-up calls, 0..100 */
		uint32_t attempt_timeout_ms; /* an attempt still open this long is given up */
	} followup;
	struct {
		uint32_t window_calls; /* rolling window: the last N calls ... */
		uint32_t window_ms;    /* ... no older than this */
		uint32_t min_calls;    /* fewer calls in the window: no judgement */
		uint32_t min_scores;   /* fewer QA scores: satisfaction not judged */
		double penalty;        /* routing weight factor while in breach; 1 = none */
	} sla;
	struct cfg_sales_level levels[CFG_SALES_MAX_LEVELS]; /* complaint escalation path */
	size_t n_levels;
};

struct cl_config {
	char *path;

	/* engine: */
	char *listen;              /* "host:port" of the protocol listener */
	char *http;                /* "host:port" of the HTTP API; NULL = off */
	char *log_level;           /* error|warn|info|debug */

	/* limits: */
	uint32_t max_frame;        /* bytes, default 65536 */
	uint32_t max_calls;        /* live calls, default 200000 */
	uint32_t max_queue;        /* waiting calls per queue, default 10000 */
	uint32_t max_sessions;     /* connections, default 1024 */
	uint32_t read_timeout_ms;  /* idle peer cut, default 120000; 0 = none */
	uint32_t write_timeout_ms; /* stuck writer cut, default 10000 */
	uint32_t max_output;       /* bytes queued to one peer, default 8 MiB */

	/* router: */
	uint32_t ring_timeout_ms;  /* reservation answer deadline, default 20000 */
	uint32_t max_misses;       /* no-answers in a row before not-ready, default 3 */
	uint32_t miss_pause_ms;    /* a target that missed rests this long, default 2000 */
	uint32_t wrapup_ms;        /* default wrap-up, default 0 */
	uint64_t random_seed;      /* 0 = from the clock */

	/* auth: tokens per role (index = Role enum of the protocol) */
	char **tokens[6];
	size_t n_tokens[6];

	char *skills[CFG_MAX_SKILLS];
	size_t n_skills;

	struct cfg_calendar *calendars;
	size_t n_calendars;

	struct cfg_territory *territories;
	size_t n_territories;
	int default_territory;     /* index or -1 */

	struct cfg_target *targets; /* reps and partners, in file order */
	size_t n_targets;

	struct cfg_plan *plans;    /* first match wins; a plan without match matches all */
	size_t n_plans;

	struct cfg_redis redis;

	struct cfg_kamailio kamailio;

	struct cfg_plugin *plugins; /* strategy plugins, in file order */
	size_t n_plugins;

	struct cfg_sales sales;
};

/*
 * Load and check path. On success returns 0 and *out (caller frees with
 * cl_config_free). On failure returns -1, *out untouched, and err holds
 * "path:line: what is wrong" (NUL-terminated, truncated to errlen).
 */
int cl_config_load(const char *path, struct cl_config **out, char *err, size_t errlen);

/* Same, from a string (tests); name is used in error messages. */
int cl_config_load_string(const char *yaml, const char *name, struct cl_config **out,
			  char *err, size_t errlen);

/* NULL does nothing. */
void cl_config_free(struct cl_config *cfg);

/* Index of a name, or -1. Linear: used at load and for rare lookups only. */
int cl_config_skill(const struct cl_config *cfg, const char *name);
int cl_config_territory(const struct cl_config *cfg, const char *name);
int cl_config_target(const struct cl_config *cfg, const char *id);

const char *cl_strategy_name(enum cfg_strategy s);
/* Name of strategy s as plans write it: a built-in, or a plugin instance of
 * cfg (CFG_STRAT_PLUGIN0 + i); "unknown" otherwise. */
const char *cl_config_strategy_name(const struct cl_config *cfg, unsigned s);

#ifdef __cplusplus
}
#endif
#endif /* CL_CFG_H */
