/*
 * plugin.h — the engine's loader of routing-strategy plugins (the ABI they
 * implement is closeloop/plugin.h; docs/plugins.md is the guide).
 *
 * One plugin set is loaded per configuration: for each `plugins:` entry the
 * loader dlopens the shared object (RTLD_NOW | RTLD_LOCAL), looks up the one
 * entry symbol, checks the ops table it returns (ABI major, size, name,
 * version, flags, required callbacks) before keeping a complete copy of it,
 * and initialises the instance with its options and a host table of its
 * own. The set then hands the router an array of struct rt_strategy
 * (rt_set_strategies), which the router borrows.
 *
 * The same shared object may back several entries (one per option set):
 * dlopen counts the references, each entry gets its own init and state.
 *
 * Loading does blocking file I/O and runs plugin code (init): start-up or
 * --check-config only, never on a running loop. Loop thread only afterwards.
 */
#ifndef CL_PLUGIN_H
#define CL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cl_config;
struct plugin_set;

enum {
	PLUGIN_OK = 0,
	PLUGIN_ENOMEM = 1,
	PLUGIN_EOPEN = 2,  /* dlopen failed: missing file, not a shared object, missing dependency */
	PLUGIN_ESYM = 3,   /* no cl_plugin_entry, or it returned NULL */
	PLUGIN_EABI = 4,   /* abi_major differs from the engine's */
	PLUGIN_ESIZE = 5,  /* ops smaller than the 1.0 table */
	PLUGIN_EOPS = 6,   /* a bad field: name, version, flags, a NULL callback, options without init */
	PLUGIN_EINIT = 7,  /* the plugin's init refused its options */
};

/*
 * Load every plugin of cfg (borrowed: must outlive the set). On success
 * returns 0 and *out (free with plugin_set_free; a config without plugins
 * gives an empty set). On failure returns -PLUGIN_E*, *out untouched,
 * everything loaded so far released, and err holds one line naming the
 * plugin, its path and what is wrong (NUL-terminated, truncated to errlen).
 */
int plugin_set_load(const struct cl_config *cfg, struct plugin_set **out, char *err,
		    size_t errlen);

/* fini every instance, then dlclose. NULL does nothing. Free the router
 * that borrows the strategies first. */
void plugin_set_free(struct plugin_set *ps);

/* The strategies for rt_set_strategies: index i serves cfg->plugins[i].
 * Borrowed from the set. *n receives the count. */
const struct rt_strategy *plugin_set_strategies(const struct plugin_set *ps, uint32_t *n);

/* What was loaded for entry i (for --check-config and logs); strings
 * borrowed from the set. Returns 0 or -PLUGIN_EOPS for a bad index. */
struct plugin_info {
	const char *name;        /* the configuration's name (plans use it) */
	const char *path;
	const char *plugin_name; /* the plugin's own name (ops->name) */
	const char *version;
	uint32_t abi_major;
	uint32_t size;           /* ops size the plugin declared */
};
int plugin_set_info(const struct plugin_set *ps, uint32_t i, struct plugin_info *out);

/* Short text for a PLUGIN_E* code (positive or negative). */
const char *plugin_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* CL_PLUGIN_H */
