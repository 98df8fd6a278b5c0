/*
 * tp_fixture.c — fixture plugins for test_plugin.c, one source built into
 * several real shared objects (tests/unit/CMakeLists.txt), one per
 * TP_VARIANT:
 *   TP_GOOD        "bottom-up": the member listed last in the configuration
 *                  first; init/fini, options, host services, and a record of
 *                  what it saw (tp_record, tp_fixture.h)
 *   TP_NOINIT      the same order without init or fini (takes no options)
 *   TP_NEWER       built for a later 1.x: a larger ops table with unknown
 *                  trailing fields (the host must ignore them)
 *   TP_BAD_ABI     abi_major 2
 *   TP_SMALL       an ops table of 24 bytes: only abi_major, size, name,
 *                  version exist in memory (ASan catches any read past it)
 *   TP_NULL_KEY    no key callback
 *   TP_BAD_FLAGS   a flag this engine does not know
 *   TP_NO_ENTRY    exports tp_other but no cl_plugin_entry
 *   TP_ENTRY_NULL  cl_plugin_entry returns NULL
 */
#include <closeloop/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tp_fixture.h"

#define TP_GOOD 1
#define TP_NOINIT 2
#define TP_NEWER 3
#define TP_BAD_ABI 4
#define TP_SMALL 5
#define TP_NULL_KEY 6
#define TP_BAD_FLAGS 7
#define TP_NO_ENTRY 8
#define TP_ENTRY_NULL 9

#ifndef TP_VARIANT
#error "build with -DTP_VARIANT=TP_<variant>"
#endif

/* The highest configuration index first. */
__attribute__((unused)) static struct cl_plugin_key key_bottom_up(void *state, const struct cl_queue_view *q,
					  const struct cl_target_view *t)
{
	(void)state, (void)q;
	return (struct cl_plugin_key){UINT32_MAX - t->index, t->index};
}

#if TP_VARIANT == TP_GOOD

/* Test fixture only: see tp_fixture.h. */
static struct tp_rec rec;

CL_PLUGIN_EXPORT struct tp_rec *tp_record(void);
CL_PLUGIN_EXPORT struct tp_rec *tp_record(void)
{
	return &rec;
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "(null)");
}

static int good_init(const struct cl_plugin_host *host, const struct cl_plugin_option *opts,
		     uint32_t n_opts, void **state, char *err, size_t errlen)
{
	rec.n_opts = n_opts;
	for (uint32_t i = 0; i < n_opts && i < TP_MAX_OPTS; i++) {
		copy(rec.opt_key[i], sizeof rec.opt_key[i], opts[i].key);
		copy(rec.opt_val[i], sizeof rec.opt_val[i], opts[i].value);
	}
	for (uint32_t i = 0; i < n_opts; i++)
		if (strcmp(opts[i].key, "fail") == 0) {
			snprintf(err, errlen, "refused: %s", opts[i].value);
			return -1;
		}
	copy(rec.instance, sizeof rec.instance, host->instance);
	rec.host_size = host->size;
	rec.host_abi_major = host->abi_major;
	rec.host_abi_minor = host->abi_minor;
	for (int i = 0; i < 4; i++)
		rec.parent_of[i] = host->territory_parent(host->ctx, i);
	rec.parent_of[4] = host->territory_parent(host->ctx, 99);
	rec.rnd[0] = host->random(host->ctx);
	rec.rnd[1] = host->random(host->ctx);
	rec.now_us = host->now_us(host->ctx);
	host->log(host->ctx, CL_PLUGIN_LOG_INFO, "hello from %s", host->instance);
	int *n = malloc(sizeof *n); /* freed by fini: LSan checks that fini runs */
	if (!n)
		return -1;
	*n = ++rec.inits;
	*state = n;
	return 0;
}

static void good_fini(void *state)
{
	free(state);
	rec.finis++;
}

static struct cl_plugin_key good_key(void *state, const struct cl_queue_view *q,
				     const struct cl_target_view *t)
{
	(void)state;
	rec.keys++;
	rec.tv.size = t->size;
	rec.tv.index = t->index;
	rec.tv.kind = t->kind;
	rec.tv.capacity = t->capacity;
	rec.tv.active = t->active;
	rec.tv.n_territories = t->n_territories;
	rec.tv.terr0 = t->n_territories ? t->territories[0] : -1;
	memcpy(rec.tv.prof, t->prof, sizeof rec.tv.prof);
	copy(rec.tv.id, sizeof rec.tv.id, t->id);
	rec.tv.now_us = t->now_us;
	rec.tv.idle_since_us = t->idle_since_us;
	rec.tv.offered = t->offered;
	rec.tv.answered = t->answered;
	rec.tv.share = t->share;
	rec.tv.closure_score = t->closure_score;
	rec.qv.size = q->size;
	rec.qv.min_prof = q->min_prof;
	rec.qv.set = q->set;
	rec.qv.n_options = q->n_options;
	rec.qv.territory = q->territory;
	rec.qv.skills = q->skills;
	copy(rec.qv.territory_name, sizeof rec.qv.territory_name, q->territory_name);
	copy(rec.qv.name, sizeof rec.qv.name, q->name);
	copy(rec.qv.opt0_key, sizeof rec.qv.opt0_key, q->n_options ? q->options[0].key : "");
	return key_bottom_up(state, q, t);
}

static const struct cl_plugin_ops ops = {
	.abi_major = CL_PLUGIN_ABI_MAJOR,
	.size = sizeof(struct cl_plugin_ops),
	.name = "tp-good",
	.version = "0.1 test",
	.init = good_init,
	.fini = good_fini,
	.key = good_key,
};

#elif TP_VARIANT == TP_NEWER

/* As a later 1.x header would have it: the same fields, then new ones. */
struct ops_v1_9 {
	struct cl_plugin_ops v1_0;
	void (*on_answered)(void *state, uint32_t target);
	uint64_t future[4];
};

static const struct ops_v1_9 newer = {
	.v1_0 = {
		.abi_major = CL_PLUGIN_ABI_MAJOR,
		.size = sizeof(struct ops_v1_9),
		.name = "tp-newer",
		.version = "1.9",
		.key = key_bottom_up,
	},
	.future = {1, 2, 3, 4},
};
#define ops newer.v1_0

#elif TP_VARIANT == TP_SMALL

/* Genuinely 24 bytes in memory. */
struct ops_small {
	uint32_t abi_major, size;
	const char *name, *version;
};

static const struct ops_small small = {
	.abi_major = CL_PLUGIN_ABI_MAJOR,
	.size = sizeof(struct ops_small),
	.name = "tp-small",
	.version = "0",
};

CL_PLUGIN_EXPORT const struct cl_plugin_ops *cl_plugin_entry(void)
{
	return (const struct cl_plugin_ops *)(const void *)&small;
}

#else

static const struct cl_plugin_ops ops = {
#if TP_VARIANT == TP_BAD_ABI
	.abi_major = CL_PLUGIN_ABI_MAJOR + 1,
#else
	.abi_major = CL_PLUGIN_ABI_MAJOR,
#endif
	.size = sizeof(struct cl_plugin_ops),
	.name = "tp-variant",
	.version = "0",
#if TP_VARIANT == TP_BAD_FLAGS
	.flags = 0x80,
#endif
#if TP_VARIANT != TP_NULL_KEY
	.key = key_bottom_up,
#endif
};

#endif

#if TP_VARIANT == TP_NO_ENTRY
CL_PLUGIN_EXPORT const struct cl_plugin_ops *tp_other(void);
CL_PLUGIN_EXPORT const struct cl_plugin_ops *tp_other(void)
{
	return &ops;
}
#elif TP_VARIANT == TP_ENTRY_NULL
CL_PLUGIN_EXPORT const struct cl_plugin_ops *cl_plugin_entry(void)
{
	return ops.name ? NULL : &ops;
}
#elif TP_VARIANT != TP_SMALL
CL_PLUGIN_EXPORT const struct cl_plugin_ops *cl_plugin_entry(void)
{
	return &ops;
}
#endif
