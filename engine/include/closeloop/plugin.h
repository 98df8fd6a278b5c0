/*
 * closeloop/plugin.h — the routing-strategy plugin ABI of closeloopd.
 *
 * This is the only header a plugin includes. A plugin is a shared object
 * that exports one function, cl_plugin_entry(), returning a pointer to a
 * constant struct cl_plugin_ops that lives as long as the object is loaded.
 * The engine loads it with dlopen(path, RTLD_NOW | RTLD_LOCAL), calls the
 * entry once, checks the table and then calls the plugin only through it.
 * The eight built-in strategies are entries of exactly this shape, so a
 * plugin strategy sits in the router where a built-in one would.
 *
 * What a strategy is: each queue keeps its available members in a min-heap
 * ordered by a two-part key (k1, then k2; smallest first). A strategy is the
 * function that computes that key for one member of one queue, from
 * read-only views of the target and of the queue. The router calls it when
 * a target becomes available again (after a call, a break, a login) and, for
 * targets with several seats that stay available, after each offer; never
 * on the pick itself, which only reads the top of the heap. So a decision
 * costs the same with 100 or 100,000 targets whatever the strategy computes.
 *
 * Versioning (the rules the host enforces; docs/plugins.md has the long
 * version):
 * - Every struct that crosses the boundary starts with its size (struct
 *   cl_plugin_ops starts with abi_major, then size). Fields are only ever
 *   appended; a field is present when it lies inside the size given.
 * - The host refuses a plugin whose abi_major differs from its own, or whose
 *   ops are smaller than CL_PLUGIN_OPS_MIN_SIZE (the 1.0 fields), and reads
 *   only the fields of the ops that fit in ops->size.
 * - A plugin built for a newer minor version runs on an older host: before
 *   reading a field added after 1.0 in a view or in the host table, check
 *   CL_PLUGIN_HAS(struct_type, ptr, field).
 * - Removing, reordering or changing the type of a field is a new major.
 *
 * Threads and lifetimes: every callback runs on the engine's event-loop
 * thread, one at a time. Callbacks must not block (no I/O, no sleeping, no
 * locks held by other threads), must return quickly and must not keep the
 * view pointers they are given (valid only during the call). The ops table,
 * and the strings it points to, must stay valid until the object is
 * unloaded. C11; no symbol of the engine is visible to the plugin except
 * through the host table.
 */
#ifndef CLOSELOOP_PLUGIN_H
#define CLOSELOOP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CL_PLUGIN_ABI_MAJOR 1
#define CL_PLUGIN_ABI_MINOR 0

/* The one symbol a plugin exports. */
#define CL_PLUGIN_ENTRY_SYMBOL "cl_plugin_entry"

#if defined(__GNUC__)
#define CL_PLUGIN_EXPORT __attribute__((visibility("default")))
#define CL_PLUGIN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CL_PLUGIN_EXPORT
#define CL_PLUGIN_PRINTF(f, a)
#endif

/* True when the struct at p (which starts with uint32_t size) holds field. */
#define CL_PLUGIN_HAS(type, p, field)                                                              \
	((p)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

#define CL_PLUGIN_MAX_SKILLS 64 /* skills are bits 0..63 of a mask */
#define CL_PLUGIN_MAX_PROF 5    /* proficiency levels 1..5; 0 = lacks the skill */
#define CL_PLUGIN_NAME_MAX 64   /* bytes of cl_plugin_ops.name */

enum cl_plugin_log_level {
	CL_PLUGIN_LOG_ERROR = 0,
	CL_PLUGIN_LOG_WARN = 1,
	CL_PLUGIN_LOG_INFO = 2,
	CL_PLUGIN_LOG_DEBUG = 3,
};

/* cl_target_view.kind */
enum cl_plugin_target_kind {
	CL_TARGET_REP = 1,
	CL_TARGET_PARTNER = 2,
};

/* cl_queue_view.set: which targets the queue takes. */
enum cl_plugin_target_set {
	CL_SET_ANY = 0,
	CL_SET_REPS = 1,
	CL_SET_PARTNERS = 2,
	CL_SET_ONE = 3, /* one target's own queue (a call asking for that target) */
};

/* cl_plugin_ops.flags */
enum cl_plugin_flags {
	/* Pick uniformly at random among the available members instead of
	 * taking the smallest key (the built-in `random`). The key still
	 * orders the heap, so return something cheap and unique. */
	CL_STRATEGY_RANDOM_PICK = 1u << 0,
};
#define CL_STRATEGY_KNOWN_FLAGS 0x1u

/* One `key: value` of the plugin's `options:` in the configuration. Both
 * strings are NUL-terminated and borrowed from the host (see init). */
struct cl_plugin_option {
	const char *key;
	const char *value;
};

/*
 * Services of the host, passed to init. The table and ctx stay valid until
 * fini returns; keep the pointer rather than a copy. Call every service
 * with ctx as its first argument.
 */
struct cl_plugin_host {
	uint32_t size;             /* sizeof the host's table */
	uint32_t abi_major;        /* the host's CL_PLUGIN_ABI_MAJOR */
	uint32_t abi_minor;        /* the host's CL_PLUGIN_ABI_MINOR */
	uint32_t reserved;         /* 0 */
	void *ctx;
	const char *instance;      /* this instance's `name:` in the configuration */
	/* One log record (printf format) at a level, prefixed with the
	 * instance name, through the engine's log sink. */
	void (*log)(void *ctx, int level, const char *fmt, ...) CL_PLUGIN_PRINTF(3, 4);
	/* Microseconds since the epoch: the clock of the views' times. Inside
	 * key() prefer cl_target_view.now_us, the reading of the decision. */
	uint64_t (*now_us)(void *ctx);
	/* 64 random bits from the instance's generator (seeded from
	 * router.random_seed when set: runs are then repeatable). */
	uint64_t (*random)(void *ctx);
	/* Parent of a territory index (cl_queue_view.territory,
	 * cl_target_view.territories[]), or -1 for a root or a bad index. */
	int (*territory_parent)(void *ctx, int territory);
};

/*
 * A candidate target as the key function sees it. Filled by the host for
 * each call; valid only during the call.
 */
struct cl_target_view {
	uint32_t size;             /* sizeof the host's view */
	uint32_t index;            /* position in the configuration: unique and
	                              below 2^20, the tie-breaker */
	const char *id;
	uint32_t kind;             /* CL_TARGET_REP or CL_TARGET_PARTNER */
	uint32_t capacity;         /* seats (reps usually 1) */
	uint32_t active;           /* seats in use: reserved, connected, wrap-up */
	uint32_t n_territories;
	const int *territories;    /* territory indexes it serves (with their subtrees) */
	const uint8_t *prof;       /* CL_PLUGIN_MAX_SKILLS levels, by skill index */
	uint64_t now_us;           /* the router's clock for this decision */
	uint64_t idle_since_us;    /* ready, seat freed, or (several seats) last offer */
	uint64_t last_offer_seq;   /* router-wide sequence of its last offer; 0 = never */
	uint64_t offered;          /* reservations since start */
	uint64_t answered;         /* calls answered since start */
	double share;              /* configured `share`, > 0 */
	double closure_score;      /* closure rate x contract penalty, > 0 */
};

/*
 * The queue the key is for. Built once when the queue is created and kept
 * by the host; valid only during the call (do not keep the pointer).
 */
struct cl_queue_view {
	uint32_t size;             /* sizeof the host's view */
	int32_t territory;         /* index; -1 = every territory */
	const char *territory_name; /* "*" for every territory */
	const char *name;          /* e.g. "munich/partners/printers/affinity" */
	uint64_t skills;           /* mask: every member holds each skill ... */
	uint32_t min_prof;         /* ... at this level or above (1..5) */
	uint32_t set;              /* CL_SET_* */
	const struct cl_plugin_option *options; /* this instance's options */
	uint32_t n_options;
	uint32_t reserved;         /* 0 */
};

/* The ordering key: smallest (k1, then k2) first. */
struct cl_plugin_key {
	uint64_t k1;
	uint64_t k2;
};

/*
 * Compute the key of target t in queue q. Must not fail and must not block;
 * equal keys leave the order between those members undefined, so end k2
 * with t->index (below 2^20) to keep the order deterministic. state is what
 * init stored (NULL without init).
 */
typedef struct cl_plugin_key (*cl_plugin_key_fn)(void *state, const struct cl_queue_view *q,
						  const struct cl_target_view *t);

struct cl_plugin_ops {
	uint32_t abi_major;        /* CL_PLUGIN_ABI_MAJOR the plugin was built with */
	uint32_t size;             /* sizeof(struct cl_plugin_ops) it was built with */
	const char *name;          /* the plugin's own name: 1..CL_PLUGIN_NAME_MAX
	                              printable bytes, no spaces */
	const char *version;       /* the plugin's version, free text; not NULL */
	uint32_t flags;            /* CL_STRATEGY_*; unknown bits are refused */
	uint32_t reserved;         /* 0 */
	/*
	 * Optional (NULL: the plugin takes no options and has no state).
	 * Called once per configured instance, before any key. Parse and check
	 * opts (borrowed until fini), allocate *state. Return 0, or a negative
	 * number after writing a one-line reason into err (errlen bytes, NUL
	 * terminated): the engine then refuses to start. host: see above.
	 */
	int (*init)(const struct cl_plugin_host *host, const struct cl_plugin_option *opts,
		    uint32_t n_opts, void **state, char *err, size_t errlen);
	/* Optional. Release state; called once, after the last key. Not called
	 * when init failed. */
	void (*fini)(void *state);
	/* Required: the strategy. */
	cl_plugin_key_fn key;
	/* Fields of later 1.x versions are appended here. */
};

/* Size of the 1.0 table: smaller ops are refused. */
#define CL_PLUGIN_OPS_MIN_SIZE (offsetof(struct cl_plugin_ops, key) + sizeof(cl_plugin_key_fn))

/*
 * The entry point a plugin defines (and the host looks up by name). Returns
 * the plugin's ops, or NULL to refuse loading. Called once per dlopen.
 */
CL_PLUGIN_EXPORT const struct cl_plugin_ops *cl_plugin_entry(void);

typedef const struct cl_plugin_ops *(*cl_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif /* CLOSELOOP_PLUGIN_H */
