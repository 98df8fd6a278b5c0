/*
 * plugin.c — loading routing-strategy plugins (see plugin.h for the
 * contract, closeloop/plugin.h for the ABI).
 *
 * Checks, in the order they are safe to make: the file loads (RTLD_NOW, so a
 * missing dependency fails here and not in the middle of a call); the entry
 * symbol exists and returns a table; its abi_major is ours (read before
 * anything else, as kamailio reads its module version before its exports);
 * its size covers the 1.0 fields. Only then is the table read, and only the
 * bytes its size declares: they are copied into a zeroed host-sized copy,
 * so every later read by the router is in bounds whatever the plugin was
 * built with. The copy's strings (name, version) stay in the plugin's
 * memory, valid while it is loaded. Then name, version, flags and the
 * required callback are checked, so the router never calls through NULL,
 * and init runs with the entry's options.
 *
 * Each instance gets a host table of its own whose ctx is the instance: its
 * log lines carry the instance name, and its random generator is its own
 * (seeded from router.random_seed and the name, so seeded runs repeat).
 */
#include "plugin.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <closeloop/plugin.h>

#include "cfg.h"
#include "log.h"

#define PLUGIN_VERSION_MAX 64 /* bytes of ops->version */
#define PLUGIN_REASON_MAX 256 /* what init may say when it refuses */

struct plugin_inst {
	const struct cfg_plugin *cp;  /* borrowed from the config */
	const struct cl_config *cfg;
	void *dl;                     /* dlopen handle, NULL before/after */
	struct cl_plugin_ops ops;     /* host-sized copy; fields past declared_size are 0 */
	uint32_t declared_size;
	bool inited;                  /* init succeeded (or there is none): fini is due */
	void *state;
	struct cl_plugin_option *opts; /* views of cp->options */
	struct cl_plugin_host host;   /* ctx = this instance */
	uint64_t rng;
};

struct plugin_set {
	struct plugin_inst *inst;
	uint32_t n;                   /* instances allocated (all of cfg->plugins) */
	struct rt_strategy *strats;
};

static const char *const plugin_errors[] = {
	[PLUGIN_OK] = "ok",
	[PLUGIN_ENOMEM] = "out of memory",
	[PLUGIN_EOPEN] = "cannot load the shared object",
	[PLUGIN_ESYM] = "no plugin entry",
	[PLUGIN_EABI] = "wrong plugin ABI",
	[PLUGIN_ESIZE] = "plugin table too small",
	[PLUGIN_EOPS] = "bad plugin table",
	[PLUGIN_EINIT] = "plugin init failed",
};

const char *plugin_strerror(int err)
{
	if (err < 0)
		err = -err;
	if ((size_t)err >= sizeof plugin_errors / sizeof plugin_errors[0])
		return "unknown error";
	return plugin_errors[err];
}

/* ---------------------------------------------------------- host services */

static void host_log(void *ctx, int level, const char *fmt, ...)
{
	const struct plugin_inst *in = ctx;
	char msg[1024];
	va_list ap;

	if (level < CL_PLUGIN_LOG_ERROR)
		level = CL_PLUGIN_LOG_ERROR;
	if (level > CL_PLUGIN_LOG_DEBUG)
		level = CL_PLUGIN_LOG_DEBUG;
	if ((enum cl_log_level)level > cl_log_get_level() || !fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cl_log_write((enum cl_log_level)level, "plugin %s: %s", in->cp->name, msg);
}

static uint64_t host_now_us(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*, per instance. */
static uint64_t host_random(void *ctx)
{
	struct plugin_inst *in = ctx;
	uint64_t x = in->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	in->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static int host_territory_parent(void *ctx, int territory)
{
	const struct plugin_inst *in = ctx;
	if (territory < 0 || (size_t)territory >= in->cfg->n_territories)
		return -1;
	return in->cfg->territories[territory].parent;
}

static uint64_t seed_for(const struct cl_config *cfg, const char *name)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a of the name */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	uint64_t s = cfg->random_seed ? cfg->random_seed : host_now_us(NULL);
	s ^= h;
	return s ? s : 0x9E3779B97F4A7C15ULL;
}

/* ----------------------------------------------------------------- loading */

static int fail(char *err, size_t errlen, const struct cfg_plugin *cp, int code,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "plugin "name" (path): what": always returns -code. */
static int fail(char *err, size_t errlen, const struct cfg_plugin *cp, int code,
		const char *fmt, ...)
{
	if (err && errlen) {
		int n = snprintf(err, errlen, "plugin \"%s\" (%s): ", cp->name, cp->path);
		if (n >= 0 && (size_t)n < errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -code;
}

/* NULL when s is a fine name/version of at most max bytes, else the problem. */
static const char *text_problem(const char *s, size_t max, bool spaces)
{
	if (!s)
		return "is NULL";
	size_t n = strnlen(s, max + 1);
	if (n == 0)
		return "is empty";
	if (n > max)
		return "is too long";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || (c == ' ' && !spaces))
			return spaces ? "contains a control character"
				      : "contains a space or a control character";
	}
	return NULL;
}

static int load_one(struct plugin_inst *in, char *err, size_t errlen)
{
	const struct cfg_plugin *cp = in->cp;
	const char *why;

	if (!(in->dl = dlopen(cp->path, RTLD_NOW | RTLD_LOCAL))) {
		const char *e = dlerror();
		return fail(err, errlen, cp, PLUGIN_EOPEN, "cannot load: %s", e ? e : "unknown error");
	}
	dlerror();
	void *sym = dlsym(in->dl, CL_PLUGIN_ENTRY_SYMBOL);
	if (!sym)
		return fail(err, errlen, cp, PLUGIN_ESYM,
			    "no symbol %s: not a closeloop plugin, or it does not export its entry",
			    CL_PLUGIN_ENTRY_SYMBOL);
	cl_plugin_entry_fn entry;
	memcpy(&entry, &sym, sizeof entry); /* object to function pointer, as POSIX allows */
	const struct cl_plugin_ops *ops = entry();
	if (!ops)
		return fail(err, errlen, cp, PLUGIN_ESYM, "%s returned NULL (the plugin refused to load)",
			    CL_PLUGIN_ENTRY_SYMBOL);

	/* The first two fields are all that may be read before these checks. */
	if (ops->abi_major != CL_PLUGIN_ABI_MAJOR)
		return fail(err, errlen, cp, PLUGIN_EABI,
			    "built for plugin ABI %u, this engine speaks ABI %d: rebuild it against "
			    "this engine's closeloop/plugin.h",
			    ops->abi_major, CL_PLUGIN_ABI_MAJOR);
	if (ops->size < CL_PLUGIN_OPS_MIN_SIZE)
		return fail(err, errlen, cp, PLUGIN_ESIZE,
			    "its ops table declares %u bytes, less than the %zu of ABI %d.0",
			    ops->size, (size_t)CL_PLUGIN_OPS_MIN_SIZE, CL_PLUGIN_ABI_MAJOR);
	in->declared_size = ops->size;
	memset(&in->ops, 0, sizeof in->ops);
	memcpy(&in->ops, ops, ops->size < sizeof in->ops ? ops->size : sizeof in->ops);

	if ((why = text_problem(in->ops.name, CL_PLUGIN_NAME_MAX, false)))
		return fail(err, errlen, cp, PLUGIN_EOPS, "its name %s", why);
	if ((why = text_problem(in->ops.version, PLUGIN_VERSION_MAX, true)))
		return fail(err, errlen, cp, PLUGIN_EOPS, "its version %s", why);
	if (in->ops.flags & ~(uint32_t)CL_STRATEGY_KNOWN_FLAGS)
		return fail(err, errlen, cp, PLUGIN_EOPS,
			    "unknown flags 0x%x (built for a newer engine?)",
			    in->ops.flags & ~(uint32_t)CL_STRATEGY_KNOWN_FLAGS);
	if (!in->ops.key)
		return fail(err, errlen, cp, PLUGIN_EOPS, "its key callback is NULL");
	if (cp->n_options && !in->ops.init)
		return fail(err, errlen, cp, PLUGIN_EOPS,
			    "options are given but %s %s takes none (it has no init)", in->ops.name,
			    in->ops.version);

	if (cp->n_options && !(in->opts = calloc(cp->n_options, sizeof *in->opts)))
		return fail(err, errlen, cp, PLUGIN_ENOMEM, "out of memory");
	for (size_t k = 0; k < cp->n_options; k++) {
		in->opts[k].key = cp->options[k].key;
		in->opts[k].value = cp->options[k].value;
	}
	in->rng = seed_for(in->cfg, cp->name);
	in->host = (struct cl_plugin_host){
		.size = sizeof in->host,
		.abi_major = CL_PLUGIN_ABI_MAJOR,
		.abi_minor = CL_PLUGIN_ABI_MINOR,
		.ctx = in,
		.instance = cp->name,
		.log = host_log,
		.now_us = host_now_us,
		.random = host_random,
		.territory_parent = host_territory_parent,
	};
	if (in->ops.init) {
		char reason[PLUGIN_REASON_MAX] = "";
		int rc = in->ops.init(&in->host, in->opts, (uint32_t)cp->n_options, &in->state, reason,
				      sizeof reason);
		reason[sizeof reason - 1] = '\0';
		if (rc < 0)
			return fail(err, errlen, cp, PLUGIN_EINIT, "%s %s: %s", in->ops.name,
				    in->ops.version, reason[0] ? reason : "init failed (no reason given)");
	}
	in->inited = true;
	return 0;
}

int plugin_set_load(const struct cl_config *cfg, struct plugin_set **out, char *err,
		    size_t errlen)
{
	struct plugin_set *ps = NULL;
	int rc = -PLUGIN_ENOMEM;

	if (err && errlen)
		err[0] = '\0';
	if (!cfg || !out) {
		if (err && errlen)
			snprintf(err, errlen, "plugins: no configuration");
		return -PLUGIN_EOPS;
	}
	if (!(ps = calloc(1, sizeof *ps)))
		goto oom;
	if (cfg->n_plugins) {
		ps->inst = calloc(cfg->n_plugins, sizeof *ps->inst);
		ps->strats = calloc(cfg->n_plugins, sizeof *ps->strats);
		if (!ps->inst || !ps->strats)
			goto oom;
	}
	for (uint32_t i = 0; i < cfg->n_plugins; i++) {
		struct plugin_inst *in = &ps->inst[i];
		in->cp = &cfg->plugins[i];
		in->cfg = cfg;
		ps->n = i + 1;
		if ((rc = load_one(in, err, errlen)) < 0)
			goto fail;
		ps->strats[i] = (struct rt_strategy){
			.ops = &in->ops,
			.state = in->state,
			.options = in->opts,
			.n_options = (uint32_t)in->cp->n_options,
		};
		CL_LOG_INFO("plugin %s: %s %s loaded from %s", in->cp->name, in->ops.name,
			    in->ops.version, in->cp->path);
	}
	*out = ps;
	return 0;
oom:
	if (err && errlen)
		snprintf(err, errlen, "plugins: out of memory");
fail:
	plugin_set_free(ps);
	return rc;
}

void plugin_set_free(struct plugin_set *ps)
{
	if (!ps)
		return;
	for (uint32_t i = ps->n; i-- > 0;) {
		struct plugin_inst *in = &ps->inst[i];
		if (in->inited && in->ops.fini)
			in->ops.fini(in->state);
		if (in->dl)
			dlclose(in->dl);
		free(in->opts);
	}
	free(ps->inst);
	free(ps->strats);
	free(ps);
}

const struct rt_strategy *plugin_set_strategies(const struct plugin_set *ps, uint32_t *n)
{
	*n = ps ? ps->n : 0;
	return ps ? ps->strats : NULL;
}

int plugin_set_info(const struct plugin_set *ps, uint32_t i, struct plugin_info *out)
{
	if (!ps || i >= ps->n || !ps->inst[i].inited)
		return -PLUGIN_EOPS;
	const struct plugin_inst *in = &ps->inst[i];
	*out = (struct plugin_info){
		.name = in->cp->name,
		.path = in->cp->path,
		.plugin_name = in->ops.name,
		.version = in->ops.version,
		.abi_major = in->ops.abi_major,
		.size = in->declared_size,
	};
	return 0;
}
