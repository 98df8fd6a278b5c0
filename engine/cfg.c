/*
 * cfg.c — the schema of closeloopd's configuration: reads the YAML tree into
 * struct cl_config section by section (engine, limits, router, auth, redis,
 * skills, territories, targets, strategy plugins, plans) and checks it; see cfg.h and
 * docs/config.md, the reference of every key.
 *
 * Design:
 * - Two stages. cfg_tree.c first builds a compact tree of the one YAML
 *   document and supplies the generic readers (strings, integers, booleans,
 *   lists, host:port) and the error reporting; this file then walks that tree
 *   in the order the schema needs, whatever order the file has. Every scalar
 *   is read as a string and converted by those readers, so YAML 1.1 typing
 *   (`no`, 0800) never reaches the config.
 * - Names are resolved to indexes through load-time lookup tables (skills,
 *   territories, target ids, plan names, tokens), so loading N targets costs
 *   O(N), not O(N^2). The tables live only while loading; the public lookups
 *   in cfg.h are linear scans for rare use.
 * - The first error wins: "file:line: path: what is wrong", line 1-based, path
 *   like reps[3].skills. Nothing is printed. On failure everything built so
 *   far is freed through cl_config_free, which copes with half-filled
 *   structures (arrays are zeroed when allocated and counted at once).
 *
 * Scalar fields of engine, limits, router and redis come from one table of
 * {key, type, offset, default, min, max} (fields[] below), so defaults and
 * ranges live in one place.
 *
 * Limits: one document per file; at most CFG_MAX_TARGETS targets. Loading
 * does blocking file I/O: call it at start-up or off the event loop (a reload
 * builds a new config and swaps it in).
 */
#include "cfg.h"

#include "cfg_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define CFG_MAX_UP 32        /* step `up` levels */
#define CFG_TOKEN_MAX 256    /* bytes */
#define CFG_TEXT_MAX 1024    /* reasons, paths, URIs, passwords */
#define CFG_POSTAL_MAX 16    /* characters after normalisation */
#define CFG_DIALED_MAX 32    /* dialed-number prefix digits */

/* ------------------------------------------------------ scalar sections */

enum ftype { F_U16, F_U32, F_U64, F_BOOL, F_WORD, F_TEXT, F_HOSTPORT, F_LEVEL };

/* One scalar setting: where it goes, its default and its range. */
struct field {
	const char *key;
	enum ftype type;
	size_t off;       /* in struct cl_config */
	uint64_t def;     /* numbers and booleans */
	uint64_t min, max;
	const char *sdef; /* strings: default, NULL = unset */
	size_t maxlen;    /* strings */
};

#define OFF(f) offsetof(struct cl_config, f)

static const struct field engine_fields[] = {
	{"listen", F_HOSTPORT, OFF(listen), 0, 0, 0, "127.0.0.1:7400", 0},
	{"http", F_HOSTPORT, OFF(http), 0, 0, 0, NULL, 0},
	{"log_level", F_LEVEL, OFF(log_level), 0, 0, 0, "info", 0},
};

static const struct field limits_fields[] = {
	{"max_frame", F_U32, OFF(max_frame), 65536, 256, 67108864, NULL, 0},
	{"max_calls", F_U32, OFF(max_calls), 200000, 1, 10000000, NULL, 0},
	{"max_queue", F_U32, OFF(max_queue), 10000, 1, 10000000, NULL, 0},
	{"max_sessions", F_U32, OFF(max_sessions), 1024, 1, 1000000, NULL, 0},
	{"read_timeout_ms", F_U32, OFF(read_timeout_ms), 120000, 0, 86400000, NULL, 0},
	{"write_timeout_ms", F_U32, OFF(write_timeout_ms), 10000, 1, 3600000, NULL, 0},
	{"max_output", F_U32, OFF(max_output), 8388608, 4096, 1073741824, NULL, 0},
};

static const struct field router_fields[] = {
	{"ring_timeout_ms", F_U32, OFF(ring_timeout_ms), 20000, 1, 3600000, NULL, 0},
	{"max_misses", F_U32, OFF(max_misses), 3, 1, 1000, NULL, 0},
	{"miss_pause_ms", F_U32, OFF(miss_pause_ms), 2000, 0, 3600000, NULL, 0},
	{"wrapup_ms", F_U32, OFF(wrapup_ms), 0, 0, 3600000, NULL, 0},
	{"random_seed", F_U64, OFF(random_seed), 0, 0, UINT64_MAX, NULL, 0},
};

static const struct field redis_fields[] = {
	{"enabled", F_BOOL, OFF(redis.enabled), 1, 0, 1, NULL, 0},
	{"host", F_WORD, OFF(redis.host), 0, 0, 0, "127.0.0.1", 255},
	{"port", F_U16, OFF(redis.port), 6379, 1, 65535, NULL, 0},
	{"unix", F_TEXT, OFF(redis.unix_path), 0, 0, 0, NULL, 107},
	{"user", F_WORD, OFF(redis.user), 0, 0, 0, NULL, 256},
	{"password", F_TEXT, OFF(redis.password), 0, 0, 0, NULL, 512},
	{"db", F_U32, OFF(redis.db), 0, 0, 65535, NULL, 0},
	{"prefix", F_WORD, OFF(redis.prefix), 0, 0, 0, "cl:", 64},
	{"stream_maxlen", F_U32, OFF(redis.stream_maxlen), 100000, 1, 1000000000, NULL, 0},
	{"call_ttl_s", F_U32, OFF(redis.call_ttl_s), 3600, 1, 2592000, NULL, 0},
	{"max_inflight", F_U32, OFF(redis.max_inflight), 10000, 1, 1000000, NULL, 0},
	{"buffer_events", F_U32, OFF(redis.buffer_events), 100000, 0, 100000000, NULL, 0},
	{"journal", F_TEXT, OFF(redis.journal), 0, 0, 0, NULL, CFG_TEXT_MAX},
	{"snapshot_ms", F_U32, OFF(redis.snapshot_ms), 1000, 10, 3600000, NULL, 0},
	{"lead_maxlen", F_U32, OFF(redis.lead_maxlen), 1000000, 1, 1000000000, NULL, 0},
	{"stream_batch", F_U32, OFF(redis.stream_batch), 64, 1, 1024, NULL, 0},
	{"state_flush_ms", F_U32, OFF(redis.state_flush_ms), 100, 0, 60000, NULL, 0},
};

static const struct field kamailio_fields[] = {
	{"evapi", F_HOSTPORT, OFF(kamailio.evapi), 0, 0, 0, NULL, 0},
	{"reconnect_min_ms", F_U32, OFF(kamailio.reconnect_min_ms), 200, 1, 3600000, NULL, 0},
	{"reconnect_max_ms", F_U32, OFF(kamailio.reconnect_max_ms), 5000, 1, 3600000, NULL, 0},
	{"max_message", F_U32, OFF(kamailio.max_message), 65536, 1024, 16777216, NULL, 0},
	{"notify_queued", F_BOOL, OFF(kamailio.notify_queued), 1, 0, 1, NULL, 0},
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static void *field_ptr(struct cl_config *cfg, const struct field *f)
{
	return (char *)cfg + f->off;
}

/* Defaults of a field table (strings are heap copies). Returns 0 or -1. */
static int fields_default(struct cfg_ld *ld, const struct field *fs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct field *f = &fs[i];
		void *p = field_ptr(ld->cfg, f);
		switch (f->type) {
		case F_U16:
			*(uint16_t *)p = (uint16_t)f->def;
			break;
		case F_U32:
			*(uint32_t *)p = (uint32_t)f->def;
			break;
		case F_U64:
			*(uint64_t *)p = f->def;
			break;
		case F_BOOL:
			*(bool *)p = f->def != 0;
			break;
		default:
			if (f->sdef && !(*(char **)p = cfg_strdup(ld, f->sdef, 1)))
				return -1;
			break;
		}
	}
	return 0;
}

/* Read one section made of scalar fields. v = 0: absent, defaults stay. */
static int fields_load(struct cfg_ld *ld, const char *section, uint32_t v, const struct field *fs,
		       size_t n)
{
	const char *keys[32];
	uint32_t vals[32];
	int rc = 0;

	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++)
		keys[i] = fs[i].key;
	size_t old = cfg_push_key(ld, section);
	if (cfg_map_fields(ld, v, keys, n, vals) < 0) {
		cfg_pop(ld, old);
		return -1;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const struct field *f = &fs[i];
		void *p = field_ptr(ld->cfg, f);
		uint32_t x = vals[i];
		uint64_t u;
		if (!x)
			continue;
		size_t o2 = cfg_push_key(ld, f->key);
		switch (f->type) {
		case F_U16:
		case F_U32:
		case F_U64:
			rc = cfg_scalar_u64(ld, x, f->min, f->max, &u);
			if (!rc && f->type == F_U16)
				*(uint16_t *)p = (uint16_t)u;
			else if (!rc && f->type == F_U32)
				*(uint32_t *)p = (uint32_t)u;
			else if (!rc)
				*(uint64_t *)p = u;
			break;
		case F_BOOL:
			rc = cfg_scalar_bool(ld, x, (bool *)p);
			break;
		case F_WORD:
		case F_TEXT:
			rc = cfg_check_str(ld, x, f->type == F_WORD ? CFG_STR_WORD : CFG_STR_TEXT,
					   f->maxlen);
			break;
		case F_HOSTPORT: {
			const char *why;
			char q[CFG_QUOTE_MAX + 4];
			rc = cfg_check_str(ld, x, CFG_STR_WORD, 262);
			if (!rc && (why = cfg_hostport_problem(S(ld, x))))
				rc = cfg_fail(ld, N(ld, x)->line, "\"%s\": %s",
					     cfg_qs(q, S(ld, x), N(ld, x)->len), why);
			break;
		}
		case F_LEVEL: {
			static const char *const lv[] = {"error", "warn", "info", "debug"};
			char q[CFG_QUOTE_MAX + 4];
			size_t k = 0;
			rc = cfg_check_str(ld, x, CFG_STR_WORD, 16);
			for (; !rc && k < 4; k++)
				if (strcasecmp(S(ld, x), lv[k]) == 0)
					break;
			if (!rc && k == 4)
				rc = cfg_fail(ld, N(ld, x)->line,
					     "\"%s\" is not a level (error, warn, info, debug)",
					     cfg_qs(q, S(ld, x), N(ld, x)->len));
			if (!rc) {
				char *s = cfg_strdup(ld, lv[k], N(ld, x)->line);
				if (!s)
					rc = -1;
				else {
					free(*(char **)p);
					*(char **)p = s;
				}
			}
			break;
		}
		}
		if (!rc && (f->type == F_WORD || f->type == F_TEXT || f->type == F_HOSTPORT)) {
			char *s = cfg_strdup(ld, S(ld, x), N(ld, x)->line);
			if (!s)
				rc = -1;
			else {
				free(*(char **)p);
				*(char **)p = s;
			}
		}
		cfg_pop(ld, o2);
	}
	cfg_pop(ld, old);
	return rc;
}

/* ------------------------------------------------------------------ auth */

static int token_register(struct cfg_ld *ld, const char *tok, uint32_t line)
{
	const struct cfg_hent *e = cfg_h_find(ld->h_token, tok);
	if (e)
		return cfg_fail(ld, line, "this token is already used (line %" PRIu32
					 "): every role and partner needs its own",
			       e->line);
	return cfg_h_add(ld, &ld->h_token, tok, 0, line);
}

static int load_auth(struct cfg_ld *ld, uint32_t v, uint32_t root_line)
{
	/* Index in keys = protocol Role value; "partner" is refused below. */
	static const char *const keys[] = {"", "pbx", "agent", "partner", "admin", "observer"};
	uint32_t vals[6];
	struct cl_config *cfg = ld->cfg;
	int rc = 0;

	if (!v)
		return cfg_fail(ld, root_line, "missing required key \"auth\" (at least one pbx token)");
	size_t old = cfg_push_key(ld, "auth");
	if (cfg_map_fields(ld, v, keys + 1, 5, vals + 1) < 0)
		goto fail;
	if (vals[3]) {
		cfg_fail(ld, N(ld, vals[3])->line,
			"partners authenticate with their own token (partners[].token), not auth.partner");
		goto fail;
	}
	for (int role = 1; role <= 5; role++) {
		uint32_t first = 0, list = vals[role];
		if (!list || role == 3)
			continue;
		size_t o2 = cfg_push_key(ld, keys[role]);
		long n = cfg_list_items(ld, list, false, &first);
		if (n < 0)
			goto fail;
		cfg->tokens[role] = calloc((size_t)n, sizeof(char *));
		if (!cfg->tokens[role]) {
			cfg_oom(ld, N(ld, list)->line);
			goto fail;
		}
		cfg->n_tokens[role] = (size_t)n;
		size_t i = 0;
		for (uint32_t it = first; it; it = cfg_list_next(ld, list, it), i++) {
			size_t o3 = cfg_push_idx(ld, i);
			rc = cfg_check_str(ld, it, CFG_STR_WORD, CFG_TOKEN_MAX);
			if (!rc && !(cfg->tokens[role][i] = cfg_strdup(ld, S(ld, it), N(ld, it)->line)))
				rc = -1;
			if (!rc)
				rc = token_register(ld, cfg->tokens[role][i], N(ld, it)->line);
			cfg_pop(ld, o3);
			if (rc)
				goto fail;
		}
		cfg_pop(ld, o2);
	}
	if (!cfg->n_tokens[1]) {
		cfg_fail(ld, N(ld, v)->line, "at least one pbx token is required");
		goto fail;
	}
	cfg_pop(ld, old);
	return 0;
fail:
	cfg_pop(ld, old);
	return -1;
}

/* ---------------------------------------------------------------- skills */

static bool skill_name_ok(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '.' || *s == '-'))
			return false;
	return true;
}

static int load_skills(struct cfg_ld *ld, uint32_t v, uint32_t root_line)
{
	struct cl_config *cfg = ld->cfg;
	char q[CFG_QUOTE_MAX + 4];
	uint32_t first = 0;
	int rc = 0;

	if (!v)
		return cfg_fail(ld, root_line, "missing required key \"skills\"");
	size_t old = cfg_push_key(ld, "skills");
	long n = cfg_list_items(ld, v, false, &first);
	if (n < 0)
		goto fail;
	if (n > CFG_MAX_SKILLS) {
		cfg_fail(ld, N(ld, v)->line, "%ld names: at most %d skills are allowed", n, CFG_MAX_SKILLS);
		goto fail;
	}
	for (uint32_t it = first; it; it = cfg_list_next(ld, v, it)) {
		size_t o2 = cfg_push_idx(ld, cfg->n_skills);
		const struct cfg_hent *e;
		rc = cfg_check_str(ld, it, CFG_STR_WORD, CFG_ID_MAX);
		if (!rc && !skill_name_ok(S(ld, it)))
			rc = cfg_fail(ld, N(ld, it)->line,
				     "\"%s\" is not a skill name ([a-z0-9][a-z0-9_.-]*)",
				     cfg_qs(q, S(ld, it), N(ld, it)->len));
		if (!rc && (e = cfg_h_find(ld->h_skill, S(ld, it))))
			rc = cfg_fail(ld, N(ld, it)->line,
				     "duplicate skill \"%s\" (first at line %" PRIu32 ")", S(ld, it),
				     e->line);
		if (!rc && !(cfg->skills[cfg->n_skills] = cfg_strdup(ld, S(ld, it), N(ld, it)->line)))
			rc = -1;
		if (!rc)
			cfg->n_skills++;
		if (!rc)
			rc = cfg_h_add(ld, &ld->h_skill, cfg->skills[cfg->n_skills - 1],
				   (int)cfg->n_skills - 1, N(ld, it)->line);
		cfg_pop(ld, o2);
		if (rc)
			goto fail;
	}
	cfg_pop(ld, old);
	return 0;
fail:
	cfg_pop(ld, old);
	return -1;
}

/* Skill index of scalar node it, with "unknown skill" on failure. */
static int skill_ref(struct cfg_ld *ld, uint32_t it)
{
	char q[CFG_QUOTE_MAX + 4];
	const struct cfg_hent *e;
	if (N(ld, it)->type != CFG_YN_SCALAR)
		return cfg_fail(ld, N(ld, it)->line, "expected a skill name, got %s",
			       cfg_type_name(ld, it));
	if (!(e = cfg_h_find(ld->h_skill, S(ld, it))))
		return cfg_fail(ld, N(ld, it)->line, "unknown skill \"%s\"",
			       cfg_qs(q, S(ld, it), N(ld, it)->len));
	return e->idx;
}

/* Territory index of scalar node it, with "unknown territory" on failure. */
static int terr_ref(struct cfg_ld *ld, uint32_t it)
{
	char q[CFG_QUOTE_MAX + 4];
	const struct cfg_hent *e;
	if (N(ld, it)->type != CFG_YN_SCALAR)
		return cfg_fail(ld, N(ld, it)->line, "expected a territory name, got %s",
			       cfg_type_name(ld, it));
	if (!(e = cfg_h_find(ld->h_terr, S(ld, it))))
		return cfg_fail(ld, N(ld, it)->line, "unknown territory \"%s\"",
			       cfg_qs(q, S(ld, it), N(ld, it)->len));
	return e->idx;
}

/*
 * A list of territory names (or one name) into a fresh index array. Duplicates
 * are errors; `mark` is scratch of n_territories bytes, left zeroed.
 */
static int terr_list(struct cfg_ld *ld, const char *key, uint32_t v, uint8_t *mark, int **out,
		     size_t *n_out)
{
	uint32_t first = 0;
	size_t i = 0;
	int rc = 0;
	size_t old = cfg_push_key(ld, key);
	long n = cfg_list_items(ld, v, false, &first);
	if (n < 0) {
		cfg_pop(ld, old);
		return -1;
	}
	int *a = calloc((size_t)n, sizeof *a);
	if (!a) {
		cfg_pop(ld, old);
		return cfg_oom(ld, N(ld, v)->line);
	}
	for (uint32_t it = first; it && !rc; it = cfg_list_next(ld, v, it)) {
		int t = terr_ref(ld, it);
		if (t < 0)
			rc = -1;
		else if (mark[t])
			rc = cfg_fail(ld, N(ld, it)->line, "territory \"%s\" is listed twice",
				     ld->cfg->territories[t].name);
		else {
			mark[t] = 1;
			a[i++] = t;
		}
	}
	for (size_t k = 0; k < i; k++)
		mark[a[k]] = 0;
	cfg_pop(ld, old);
	if (rc) {
		free(a);
		return -1;
	}
	*out = a;
	*n_out = i;
	return 0;
}

/* ----------------------------------------------------------- territories */

static bool reserved_scope(const char *s)
{
	return !strcmp(s, "caller") || !strcmp(s, "parent") || !strcmp(s, "root") ||
	       !strcmp(s, "any");
}

/* Postal prefix: letters and digits; stored upper-case, spaces and '-' dropped. */
static int postal_norm(struct cfg_ld *ld, uint32_t it, char **out)
{
	char buf[CFG_POSTAL_MAX + 1], q[CFG_QUOTE_MAX + 4];
	const char *s = S(ld, it);
	size_t n = 0;

	if (cfg_check_str(ld, it, CFG_STR_TEXT, 64) < 0)
		return -1;
	for (size_t k = 0; k < N(ld, it)->len; k++) {
		char c = s[k];
		if (c == ' ' || c == '-')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return cfg_fail(ld, N(ld, it)->line,
				       "postal prefix \"%s\": only letters and digits are allowed",
				       cfg_qs(q, s, N(ld, it)->len));
		if (n == CFG_POSTAL_MAX)
			return cfg_fail(ld, N(ld, it)->line,
				       "postal prefix \"%s\" is longer than %d characters",
				       cfg_qs(q, s, N(ld, it)->len), CFG_POSTAL_MAX);
		buf[n++] = c;
	}
	if (!n)
		return cfg_fail(ld, N(ld, it)->line, "empty postal prefix");
	buf[n] = '\0';
	*out = cfg_strdup(ld, buf, N(ld, it)->line);
	return *out ? 0 : -1;
}

/* E.164 prefix: '+' then 1..15 digits. */
static int phone_check(struct cfg_ld *ld, uint32_t it, char **out)
{
	char q[CFG_QUOTE_MAX + 4];
	const char *s = S(ld, it);
	size_t len = N(ld, it)->len;

	if (cfg_check_str(ld, it, CFG_STR_WORD, 64) < 0)
		return -1;
	if (s[0] != '+' || len < 2 || len > 16 || strspn(s + 1, "0123456789") != len - 1)
		return cfg_fail(ld, N(ld, it)->line,
			       "phone prefix \"%s\": expected '+' and 1 to 15 digits",
			       cfg_qs(q, s, len));
	*out = cfg_strdup(ld, s, N(ld, it)->line);
	return *out ? 0 : -1;
}

/* A list (or one) of postal / phone prefixes into a fresh string array. */
static int prefix_list(struct cfg_ld *ld, const char *key, uint32_t v, bool postal, char ***out,
		       size_t *n_out)
{
	uint32_t first = 0;
	size_t i = 0;
	int rc = 0;

	if (!v)
		return 0;
	size_t old = cfg_push_key(ld, key);
	long n = cfg_list_items(ld, v, true, &first);
	if (n < 0)
		goto fail;
	if (n && !(*out = calloc((size_t)n, sizeof(char *)))) {
		cfg_oom(ld, N(ld, v)->line);
		goto fail;
	}
	*n_out = (size_t)n;
	for (uint32_t it = first; it; it = cfg_list_next(ld, v, it), i++) {
		size_t o2 = cfg_push_idx(ld, i);
		rc = postal ? postal_norm(ld, it, &(*out)[i]) : phone_check(ld, it, &(*out)[i]);
		cfg_pop(ld, o2);
		if (rc)
			goto fail;
	}
	cfg_pop(ld, old);
	return 0;
fail:
	cfg_pop(ld, old);
	return -1;
}

/* Find parent cycles in O(n): each territory is walked up at most once. */
static int terr_cycles(struct cfg_ld *ld)
{
	struct cl_config *cfg = ld->cfg;
	uint8_t *st = calloc(cfg->n_territories, 1); /* 0 new, 1 on this walk, 2 done */
	int rc = 0;

	if (!st)
		return cfg_oom(ld, 1);
	for (size_t t = 0; t < cfg->n_territories && !rc; t++) {
		int u = (int)t;
		while (u >= 0 && st[u] == 0) {
			st[u] = 1;
			u = cfg->territories[u].parent;
		}
		if (u >= 0 && st[u] == 1) {
			char chain[256];
			size_t cl = 0;
			int w = u;
			do {
				int n = snprintf(chain + cl, sizeof chain - cl, "%s -> ",
						 cfg->territories[w].name);
				if (n > 0)
					cl = cl + (size_t)n < sizeof chain ? cl + (size_t)n
									   : sizeof chain - 1;
				w = cfg->territories[w].parent;
			} while (w != u);
			snprintf(chain + cl, sizeof chain - cl, "%s", cfg->territories[u].name);
			size_t old = cfg_push_key(ld, "territories");
			cfg_push_idx(ld, (size_t)u);
			rc = cfg_fail(ld, (uint32_t)cfg->territories[u].line, "parent cycle: %s", chain);
			cfg_pop(ld, old);
		}
		for (u = (int)t; u >= 0 && st[u] == 1; u = cfg->territories[u].parent)
			st[u] = 2;
	}
	free(st);
	return rc;
}

static int load_territories(struct cfg_ld *ld, uint32_t v, uint32_t dflt, uint32_t root_line)
{
	static const char *const keys[] = {"name", "parent", "timezone", "postal", "phone",
					   "calendar"};
	struct cl_config *cfg = ld->cfg;
	uint32_t *parent_node = NULL;
	size_t i = 0;

	if (!v)
		return cfg_fail(ld, root_line, "missing required key \"territories\"");
	size_t old = cfg_push_key(ld, "territories");
	if (N(ld, v)->type != CFG_YN_SEQ) {
		cfg_fail(ld, N(ld, v)->line, "expected a list, got %s", cfg_type_name(ld, v));
		goto fail;
	}
	size_t n = N(ld, v)->count;
	if (!n) {
		cfg_fail(ld, N(ld, v)->line, "at least one territory is required");
		goto fail;
	}
	cfg->territories = calloc(n, sizeof *cfg->territories);
	parent_node = calloc(n, sizeof *parent_node);
	if (!cfg->territories || !parent_node) {
		cfg_oom(ld, N(ld, v)->line);
		goto fail;
	}
	cfg->n_territories = n;
	for (size_t k = 0; k < n; k++)
		cfg->territories[k].parent = cfg->territories[k].calendar = -1;

	/* Pass 1: names and prefixes; parents may name later territories. */
	for (uint32_t it = N(ld, v)->first; it; it = N(ld, it)->next, i++) {
		struct cfg_territory *t = &cfg->territories[i];
		uint32_t f[6];
		const struct cfg_hent *e;
		size_t o2 = cfg_push_idx(ld, i);
		t->line = (int)N(ld, it)->line;
		if (cfg_map_fields(ld, it, keys, 6, f) < 0)
			goto fail;
		if (!f[0]) {
			cfg_fail(ld, N(ld, it)->line, "missing required key \"name\"");
			goto fail;
		}
		if (cfg_get_str(ld, "name", f[0], CFG_STR_WORD, CFG_ID_MAX, &t->name) < 0)
			goto fail;
		if (reserved_scope(t->name)) {
			cfg_push_key(ld, "name");
			cfg_fail(ld, N(ld, f[0])->line,
				"\"%s\" is reserved (caller, parent, root, any) and cannot name a territory",
				t->name);
			goto fail;
		}
		if ((e = cfg_h_find(ld->h_terr, t->name))) {
			cfg_push_key(ld, "name");
			cfg_fail(ld, N(ld, f[0])->line,
				"duplicate territory \"%s\" (first at line %" PRIu32 ")", t->name,
				e->line);
			goto fail;
		}
		if (cfg_h_add(ld, &ld->h_terr, t->name, (int)i, N(ld, f[0])->line) < 0)
			goto fail;
		parent_node[i] = f[1];
		if (f[2] && cfg_get_str(ld, "timezone", f[2], CFG_STR_WORD, 64, &t->timezone) < 0)
			goto fail;
		if (prefix_list(ld, "postal", f[3], true, &t->postal, &t->n_postal) < 0 ||
		    prefix_list(ld, "phone", f[4], false, &t->phone, &t->n_phone) < 0)
			goto fail;
		if (f[5]) {
			size_t o3 = cfg_push_key(ld, "calendar");
			t->calendar = cfg_calendar_ref(ld, f[5]);
			cfg_pop(ld, o3);
			if (t->calendar < 0)
				goto fail;
		}
		cfg_pop(ld, o2);
	}

	/* Pass 2: resolve parents, then look for cycles. */
	for (i = 0; i < n; i++) {
		if (!parent_node[i])
			continue;
		size_t o2 = cfg_push_idx(ld, i);
		cfg_push_key(ld, "parent");
		int p = terr_ref(ld, parent_node[i]);
		if (p >= 0 && (size_t)p == i)
			p = cfg_fail(ld, N(ld, parent_node[i])->line, "a territory cannot be its own parent");
		cfg_pop(ld, o2);
		if (p < 0)
			goto fail;
		cfg->territories[i].parent = p;
	}
	cfg_pop(ld, old);
	free(parent_node);
	parent_node = NULL;
	if (terr_cycles(ld) < 0)
		return -1;
	/* A territory without a calendar follows its nearest ancestor's. */
	for (size_t k = 0; k < n; k++)
		for (int u = cfg->territories[k].parent;
		     cfg->territories[k].calendar < 0 && u >= 0; u = cfg->territories[u].parent)
			cfg->territories[k].calendar = cfg->territories[u].calendar;

	cfg->default_territory = -1;
	if (dflt) {
		old = cfg_push_key(ld, "default_territory");
		int t = N(ld, dflt)->type == CFG_YN_SCALAR ? terr_ref(ld, dflt)
						       : cfg_fail(ld, N(ld, dflt)->line,
								 "expected a territory name, got %s",
								 cfg_type_name(ld, dflt));
		cfg_pop(ld, old);
		if (t < 0)
			return -1;
		cfg->default_territory = t;
	}
	return 0;
fail:
	free(parent_node);
	cfg_pop(ld, old);
	return -1;
}

/* --------------------------------------------------------------- targets */

/* Target skills: a map name -> level 1..5, or a list of names (level 3). */
static int target_skills(struct cfg_ld *ld, uint32_t v, struct cfg_target *tg)
{
	size_t old = cfg_push_key(ld, "skills");
	int rc = 0;

	if (N(ld, v)->type == CFG_YN_MAP) {
		for (uint32_t k = N(ld, v)->first; k && !rc; k = N(ld, N(ld, k)->next)->next) {
			uint32_t val = N(ld, k)->next;
			uint64_t lvl;
			int s = skill_ref(ld, k);
			if (s < 0)
				rc = -1;
			else if (tg->prof[s])
				rc = cfg_fail(ld, N(ld, k)->line, "skill \"%s\" is listed twice",
					     ld->cfg->skills[s]);
			else if (cfg_is_null(ld, val))
				rc = cfg_fail(ld, N(ld, val)->line,
					     "skill \"%s\" needs a level 1..%d", ld->cfg->skills[s],
					     CFG_MAX_PROF);
			else {
				size_t o2 = cfg_push_key(ld, ld->cfg->skills[s]);
				rc = cfg_scalar_u64(ld, val, 1, CFG_MAX_PROF, &lvl);
				cfg_pop(ld, o2);
				if (!rc) {
					tg->prof[s] = (uint8_t)lvl;
					tg->skills |= UINT64_C(1) << s;
				}
			}
		}
	} else {
		uint32_t first = 0;
		long n = cfg_list_items(ld, v, true, &first);
		if (n < 0)
			rc = -1;
		for (uint32_t it = n > 0 ? first : 0; it && !rc; it = cfg_list_next(ld, v, it)) {
			int s = skill_ref(ld, it);
			if (s < 0)
				rc = -1;
			else if (tg->prof[s])
				rc = cfg_fail(ld, N(ld, it)->line, "skill \"%s\" is listed twice",
					     ld->cfg->skills[s]);
			else {
				tg->prof[s] = 3;
				tg->skills |= UINT64_C(1) << s;
			}
		}
	}
	cfg_pop(ld, old);
	return rc;
}

static int load_contract(struct cfg_ld *ld, uint32_t v, struct cfg_contract *c)
{
	static const char *const keys[] = {"answer_ms",	    "max_abandon",    "min_closure",
					   "min_satisfaction", "commission_pct", "lead_fee"};
	uint32_t f[6];
	int rc = -1;
	size_t old = cfg_push_key(ld, "contract");
	if (cfg_map_fields(ld, v, keys, 6, f) < 0)
		goto out;
	if (cfg_get_u32(ld, "answer_ms", f[0], 0, 3600000, &c->answer_ms) < 0 ||
	    cfg_get_double(ld, "max_abandon", f[1], 0, 1, false, &c->max_abandon) < 0 ||
	    cfg_get_double(ld, "min_closure", f[2], 0, 1, false, &c->min_closure) < 0 ||
	    cfg_get_double(ld, "min_satisfaction", f[3], 0, 5, false, &c->min_satisfaction) < 0 ||
	    cfg_get_double(ld, "commission_pct", f[4], 0, 100, false, &c->commission_pct) < 0 ||
	    cfg_get_double(ld, "lead_fee", f[5], 0, 1e9, false, &c->lead_fee) < 0)
		goto out;
	rc = 0;
out:
	cfg_pop(ld, old);
	return rc;
}

enum {
	TK_ID, TK_NAME, TK_TERR, TK_SKILLS, TK_CAP, TK_WRAPUP, TK_ACCEPT, TK_AUTO, TK_SIP,
	TK_SHARE, TK_CLOSURE, TK_CALENDAR, TK_TOKEN, TK_CONTRACT, TK_N
};
/* Reps have no token or contract; their slot TK_TOKEN holds commission_pct. */
#define TK_REP_COMMISSION TK_TOKEN

static int load_target(struct cfg_ld *ld, uint32_t it, enum cfg_kind kind, struct cfg_target *tg,
		       int idx, uint8_t *mark)
{
	/* Same order as TK_*; reps have "capacity", partners "seats". */
	const char *keys[TK_N] = {"id",	      "name",	      "territories", "skills",
				  kind == CFG_KIND_REP ? "capacity" : "seats",
				  "wrapup_ms",  "needs_accept", "auto_ready",  "sip",
				  "share",      "closure_rate", "calendar",
				  kind == CFG_KIND_REP ? "commission_pct" : "token", "contract"};
	size_t nk = kind == CFG_KIND_REP ? TK_REP_COMMISSION + 1 : TK_N;
	uint32_t f[TK_N];
	const struct cfg_hent *e;
	char q[CFG_QUOTE_MAX + 4];
	uint32_t line = N(ld, it)->line;

	tg->kind = kind;
	tg->line = (int)line;
	tg->calendar = -1;
	tg->capacity = 1;
	tg->share = 1;
	tg->closure_rate = 0.5;
	tg->wrapup_ms = ld->cfg->wrapup_ms;
	tg->auto_ready = kind == CFG_KIND_PARTNER;
	tg->commission_pct = kind == CFG_KIND_REP ? ld->cfg->sales.rep_commission_pct : 0;
	if (cfg_map_fields(ld, it, keys, nk, f) < 0)
		return -1;
	if (!f[TK_ID])
		return cfg_fail(ld, line, "missing required key \"id\"");
	if (cfg_get_str(ld, "id", f[TK_ID], CFG_STR_WORD, CFG_ID_MAX, &tg->id) < 0)
		return -1;
	if ((e = cfg_h_find(ld->h_target, tg->id))) {
		size_t old = cfg_push_key(ld, "id");
		cfg_fail(ld, N(ld, f[TK_ID])->line,
			"duplicate id \"%s\" (first at line %" PRIu32 ")", cfg_qs(q, tg->id, strlen(tg->id)),
			e->line);
		cfg_pop(ld, old);
		return -1;
	}
	if (cfg_h_add(ld, &ld->h_target, tg->id, idx, N(ld, f[TK_ID])->line) < 0)
		return -1;
	if (f[TK_NAME]) {
		if (cfg_get_str(ld, "name", f[TK_NAME], CFG_STR_TEXT, CFG_ID_MAX, &tg->name) < 0)
			return -1;
	} else if (!(tg->name = cfg_strdup(ld, tg->id, line))) {
		return -1;
	}
	if (!f[TK_TERR])
		return cfg_fail(ld, line, "missing required key \"territories\"");
	if (terr_list(ld, "territories", f[TK_TERR], mark, &tg->territories, &tg->n_territories) < 0)
		return -1;
	if (f[TK_SKILLS] && target_skills(ld, f[TK_SKILLS], tg) < 0)
		return -1;
	if (cfg_get_u32(ld, keys[TK_CAP], f[TK_CAP], 1, kind == CFG_KIND_REP ? 1000 : 10000,
		    &tg->capacity) < 0 ||
	    cfg_get_u32(ld, "wrapup_ms", f[TK_WRAPUP], 0, 3600000, &tg->wrapup_ms) < 0 ||
	    cfg_get_bool(ld, "needs_accept", f[TK_ACCEPT], &tg->needs_accept) < 0 ||
	    cfg_get_bool(ld, "auto_ready", f[TK_AUTO], &tg->auto_ready) < 0 ||
	    cfg_get_double(ld, "share", f[TK_SHARE], 0, 1e6, true, &tg->share) < 0 ||
	    cfg_get_double(ld, "closure_rate", f[TK_CLOSURE], 0, 1, false, &tg->closure_rate) < 0)
		return -1;
	if (f[TK_SIP]) {
		if (cfg_get_str(ld, "sip", f[TK_SIP], CFG_STR_WORD, CFG_TEXT_MAX, &tg->sip_uri) < 0)
			return -1;
		if (strncmp(tg->sip_uri, "sip:", 4) != 0 && strncmp(tg->sip_uri, "sips:", 5) != 0) {
			size_t old = cfg_push_key(ld, "sip");
			cfg_fail(ld, N(ld, f[TK_SIP])->line, "\"%s\" is not a sip: or sips: URI",
				cfg_qs(q, tg->sip_uri, strlen(tg->sip_uri)));
			cfg_pop(ld, old);
			return -1;
		}
	}
	if (f[TK_CALENDAR]) {
		size_t old = cfg_push_key(ld, "calendar");
		tg->calendar = cfg_calendar_ref(ld, f[TK_CALENDAR]);
		cfg_pop(ld, old);
		if (tg->calendar < 0)
			return -1;
	}
	if (kind == CFG_KIND_REP &&
	    cfg_get_double(ld, "commission_pct", f[TK_REP_COMMISSION], 0, 100, false,
			   &tg->commission_pct) < 0)
		return -1;
	if (kind == CFG_KIND_PARTNER) {
		if (!f[TK_TOKEN])
			return cfg_fail(ld, line, "missing required key \"token\" (the partner's Hello token)");
		if (cfg_get_str(ld, "token", f[TK_TOKEN], CFG_STR_WORD, CFG_TOKEN_MAX,
				&tg->token) < 0)
			return -1;
		size_t old = cfg_push_key(ld, "token");
		int rc = token_register(ld, tg->token, N(ld, f[TK_TOKEN])->line);
		cfg_pop(ld, old);
		if (rc < 0)
			return -1;
		if (!f[TK_SIP])
			return cfg_fail(ld, line, "missing required key \"sip\" (where the PBX sends the call)");
		if (f[TK_CONTRACT] && load_contract(ld, f[TK_CONTRACT], &tg->contract) < 0)
			return -1;
	}
	return 0;
}

/* reps and partners, appended to cfg->targets in the order of the lists. */
static int load_targets(struct cfg_ld *ld, uint32_t reps, uint32_t partners)
{
	struct cl_config *cfg = ld->cfg;
	uint32_t lists[2] = {reps, partners};
	enum cfg_kind kinds[2] = {CFG_KIND_REP, CFG_KIND_PARTNER};
	const char *names[2] = {"reps", "partners"};
	uint64_t total = 0;
	uint8_t *mark = NULL;
	int rc = -1;

	/* "In file order": whichever list the file has first comes first. */
	if (reps && partners && partners < reps) {
		lists[0] = partners, lists[1] = reps;
		kinds[0] = CFG_KIND_PARTNER, kinds[1] = CFG_KIND_REP;
		names[0] = "partners", names[1] = "reps";
	}
	for (int l = 0; l < 2; l++) {
		if (!lists[l])
			continue;
		if (N(ld, lists[l])->type != CFG_YN_SEQ) {
			size_t old = cfg_push_key(ld, names[l]);
			cfg_fail(ld, N(ld, lists[l])->line, "expected a list, got %s",
				cfg_type_name(ld, lists[l]));
			cfg_pop(ld, old);
			return -1;
		}
		total += N(ld, lists[l])->count;
	}
	if (total > CFG_MAX_TARGETS)
		return cfg_fail(ld, N(ld, lists[1] ? lists[1] : lists[0])->line,
			       "%" PRIu64 " targets: at most %u are allowed", total, CFG_MAX_TARGETS);
	if (!total)
		return 0;
	cfg->targets = calloc(total, sizeof *cfg->targets);
	mark = calloc(cfg->n_territories, 1);
	if (!cfg->targets || !mark) {
		free(mark);
		return cfg_oom(ld, 1);
	}
	cfg->n_targets = total;
	size_t idx = 0;
	for (int l = 0; l < 2; l++) {
		if (!lists[l])
			continue;
		size_t i = 0;
		for (uint32_t it = N(ld, lists[l])->first; it; it = N(ld, it)->next, i++, idx++) {
			size_t old = cfg_push_key(ld, names[l]);
			cfg_push_idx(ld, i);
			int r = load_target(ld, it, kinds[l], &cfg->targets[idx], (int)idx, mark);
			cfg_pop(ld, old);
			if (r < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(mark);
	return rc;
}

/* ----------------------------------------------------------------- sales */

static int load_sales_levels(struct cfg_ld *ld, uint32_t v, struct cfg_sales *sa)
{
	static const char *const keys[] = {"level", "deadline_ms"};
	size_t i = 0;

	if (N(ld, v)->type != CFG_YN_SEQ || N(ld, v)->count == 0)
		return cfg_fail(ld, N(ld, v)->line, "expected a non-empty list of {level, deadline_ms}");
	if (N(ld, v)->count > CFG_SALES_MAX_LEVELS)
		return cfg_fail(ld, N(ld, v)->line, "%" PRIu32 " levels: at most %d are allowed",
			       N(ld, v)->count, CFG_SALES_MAX_LEVELS);
	for (size_t k = 0; k < sa->n_levels; k++)
		free(sa->levels[k].name); /* the defaults */
	memset(sa->levels, 0, sizeof sa->levels);
	sa->n_levels = 0;
	for (uint32_t it = N(ld, v)->first; it; it = N(ld, it)->next, i++) {
		uint32_t f[2];
		struct cfg_sales_level *lv = &sa->levels[i];
		size_t o2 = cfg_push_idx(ld, i);
		int rc = cfg_map_fields(ld, it, keys, 2, f);
		if (!rc && (!f[0] || !f[1]))
			rc = cfg_fail(ld, N(ld, it)->line, "each level needs \"level\" and \"deadline_ms\"");
		if (!rc)
			rc = cfg_get_str(ld, "level", f[0], CFG_STR_WORD, CFG_ID_MAX, &lv->name);
		if (!rc)
			sa->n_levels = i + 1;
		if (!rc)
			rc = cfg_get_u32(ld, "deadline_ms", f[1], 1, 31u * 86400000u, &lv->deadline_ms);
		for (size_t k = 0; !rc && k < i; k++)
			if (strcmp(sa->levels[k].name, lv->name) == 0)
				rc = cfg_fail(ld, N(ld, f[0])->line, "level \"%s\" appears twice", lv->name);
		cfg_pop(ld, o2);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* sales: defaults always (the engine reads them even without the section). */
static int load_sales(struct cfg_ld *ld, uint32_t v)
{
	static const char *const keys[] = {
		"record_retention_s", "disposition_timeout_s", "max_records", "max_orders",
		"max_leads",	      "max_tasks",	       "service_level_ms", "kpi_memory_buckets",
		"kpi_ttl_s",	      "max_amount_minor",      "currency",	   "rep_commission_pct",
		"followup",	      "sla",		       "complaints"};
	static const char *const fu_keys[] = {"delay_ms",     "retry_ms", "max_attempts",
					      "preferred_ms", "priority", "attempt_timeout_ms"};
	static const char *const sla_keys[] = {"window_calls", "window_ms", "min_calls",
					       "min_scores", "penalty"};
	static const char *const dflt_levels[] = {"rep", "supervisor", "manager"};
	static const uint32_t dflt_deadlines[] = {86400000u, 28800000u, 14400000u};
	struct cfg_sales *sa = &ld->cfg->sales;
	uint32_t f[15], g[6];
	int rc = -1;

	sa->record_retention_s = 86400;
	sa->disposition_timeout_s = 600;
	sa->max_records = 200000;
	sa->max_orders = 200000;
	sa->max_leads = 100000;
	sa->max_tasks = 100000;
	sa->service_level_ms = 20000;
	sa->kpi_memory_buckets = 96;
	sa->kpi_ttl_s = 8 * 86400;
	sa->max_amount_minor = 100000000000ull; /* 1e9 in major units */
	sa->followup.delay_ms = 86400000;
	sa->followup.retry_ms = 3600000;
	sa->followup.max_attempts = 3;
	sa->followup.preferred_ms = 60000;
	sa->followup.priority = 50;
	sa->followup.attempt_timeout_ms = 1800000;
	sa->sla.window_calls = 100;
	sa->sla.window_ms = 3600000;
	sa->sla.min_calls = 20;
	sa->sla.min_scores = 3;
	sa->sla.penalty = 1;
	for (size_t i = 0; i < 3; i++) {
		if (!(sa->levels[i].name = cfg_strdup(ld, dflt_levels[i], 1)))
			return -1;
		sa->levels[i].deadline_ms = dflt_deadlines[i];
		sa->n_levels = i + 1;
	}
	if (!(sa->currency = cfg_strdup(ld, "EUR", 1)))
		return -1;
	if (!v)
		return 0;
	size_t old = cfg_push_key(ld, "sales");
	if (cfg_map_fields(ld, v, keys, 15, f) < 0)
		goto out;
	uint64_t amt = sa->max_amount_minor;
	if (cfg_get_u32(ld, keys[0], f[0], 1, 366u * 86400u, &sa->record_retention_s) < 0 ||
	    cfg_get_u32(ld, keys[1], f[1], 0, 31u * 86400u, &sa->disposition_timeout_s) < 0 ||
	    cfg_get_u32(ld, keys[2], f[2], 1, 100000000, &sa->max_records) < 0 ||
	    cfg_get_u32(ld, keys[3], f[3], 1, 100000000, &sa->max_orders) < 0 ||
	    cfg_get_u32(ld, keys[4], f[4], 1, 100000000, &sa->max_leads) < 0 ||
	    cfg_get_u32(ld, keys[5], f[5], 1, 100000000, &sa->max_tasks) < 0 ||
	    cfg_get_u32(ld, keys[6], f[6], 1, 3600000, &sa->service_level_ms) < 0 ||
	    cfg_get_u32(ld, keys[7], f[7], 1, 35040, &sa->kpi_memory_buckets) < 0 ||
	    cfg_get_u32(ld, keys[8], f[8], 60, 400u * 86400u, &sa->kpi_ttl_s) < 0 ||
	    cfg_get_double(ld, keys[11], f[11], 0, 100, false, &sa->rep_commission_pct) < 0)
		goto out;
	if (f[9]) {
		size_t o2 = cfg_push_key(ld, keys[9]);
		int r = cfg_scalar_u64(ld, f[9], 1, 1000000000000000ull, &amt);
		cfg_pop(ld, o2);
		if (r < 0)
			goto out;
		sa->max_amount_minor = amt;
	}
	if (f[10]) {
		if (cfg_get_str(ld, keys[10], f[10], CFG_STR_WORD, 3, &sa->currency) < 0)
			goto out;
		const char *c = sa->currency;
		if (strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
		    c[2] < 'A' || c[2] > 'Z') {
			size_t o2 = cfg_push_key(ld, keys[10]);
			cfg_fail(ld, N(ld, f[10])->line, "expected an ISO 4217 code such as EUR");
			cfg_pop(ld, o2);
			goto out;
		}
	}
	if (f[12]) {
		size_t o2 = cfg_push_key(ld, keys[12]);
		int r = cfg_map_fields(ld, f[12], fu_keys, 6, g);
		if (!r)
			r = cfg_get_u32(ld, fu_keys[0], g[0], 0, 31u * 86400000u, &sa->followup.delay_ms) |
			    cfg_get_u32(ld, fu_keys[1], g[1], 1, 31u * 86400000u, &sa->followup.retry_ms) |
			    cfg_get_u32(ld, fu_keys[2], g[2], 1, 100, &sa->followup.max_attempts) |
			    cfg_get_u32(ld, fu_keys[3], g[3], 0, 86400000, &sa->followup.preferred_ms) |
			    cfg_get_u32(ld, fu_keys[4], g[4], 0, 100, &sa->followup.priority) |
			    cfg_get_u32(ld, fu_keys[5], g[5], 100, 86400000,
					&sa->followup.attempt_timeout_ms);
		cfg_pop(ld, o2);
		if (r)
			goto out;
	}
	if (f[13]) {
		size_t o2 = cfg_push_key(ld, keys[13]);
		int r = cfg_map_fields(ld, f[13], sla_keys, 5, g);
		if (!r)
			r = cfg_get_u32(ld, sla_keys[0], g[0], 1, 10000, &sa->sla.window_calls) |
			    cfg_get_u32(ld, sla_keys[1], g[1], 1000, 31u * 86400000u, &sa->sla.window_ms) |
			    cfg_get_u32(ld, sla_keys[2], g[2], 1, 10000, &sa->sla.min_calls) |
			    cfg_get_u32(ld, sla_keys[3], g[3], 1, 10000, &sa->sla.min_scores) |
			    cfg_get_double(ld, sla_keys[4], g[4], 0, 1, true, &sa->sla.penalty);
		if (!r && sa->sla.min_calls > sa->sla.window_calls)
			r = cfg_fail(ld, N(ld, g[2] ? g[2] : f[13])->line,
				    "min_calls (%" PRIu32 ") must not exceed window_calls (%" PRIu32 ")",
				    sa->sla.min_calls, sa->sla.window_calls);
		cfg_pop(ld, o2);
		if (r)
			goto out;
	}
	if (f[14]) {
		size_t o2 = cfg_push_key(ld, keys[14]);
		int r = load_sales_levels(ld, f[14], sa);
		cfg_pop(ld, o2);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	cfg_pop(ld, old);
	return rc;
}

/* ----------------------------------------------------------------- plans */

static const char *const strat_names[CFG_STRAT_COUNT] = {
	"longest-idle", "fewest-calls",      "round-robin",    "top-down",
	"random",	"proficiency-first", "weighted-share", "performance-weighted",
};

/* --------------------------------------------------------------- plugins */

#define CFG_PLUGIN_NAME_MAX 64 /* strategy names of plugin instances */

static int builtin_strategy(const char *s)
{
	for (int i = 0; i < CFG_STRAT_COUNT; i++)
		if (strcmp(s, strat_names[i]) == 0)
			return i;
	return -1;
}

/* A plugin's options: a mapping of word keys to scalar values (kept as text). */
static int load_plugin_options(struct cfg_ld *ld, uint32_t v, struct cfg_plugin *p)
{
	char q[CFG_QUOTE_MAX + 4];
	size_t old = cfg_push_key(ld, "options");
	int rc = -1;

	if (N(ld, v)->type != CFG_YN_MAP) {
		cfg_fail(ld, N(ld, v)->line, "expected a mapping of option: value, got %s",
			cfg_type_name(ld, v));
		goto out;
	}
	size_t n = N(ld, v)->count / 2;
	if (n > CFG_MAX_PLUGIN_OPTIONS) {
		cfg_fail(ld, N(ld, v)->line, "%zu options: at most %d are allowed", n,
			CFG_MAX_PLUGIN_OPTIONS);
		goto out;
	}
	if (n && !(p->options = calloc(n, sizeof *p->options))) {
		cfg_oom(ld, N(ld, v)->line);
		goto out;
	}
	for (uint32_t k = N(ld, v)->first; k; k = N(ld, N(ld, k)->next)->next) {
		uint32_t val = N(ld, k)->next;
		struct cfg_plugin_option *o = &p->options[p->n_options];
		if (cfg_check_str(ld, k, CFG_STR_WORD, CFG_ID_MAX) < 0)
			goto out;
		for (size_t j = 0; j < p->n_options; j++)
			if (strcmp(p->options[j].key, S(ld, k)) == 0) {
				cfg_fail(ld, N(ld, k)->line, "duplicate option \"%s\"",
					cfg_qs(q, S(ld, k), N(ld, k)->len));
				goto out;
			}
		size_t o2 = cfg_push_key(ld, S(ld, k));
		int r;
		if (cfg_is_null(ld, val))
			r = cfg_fail(ld, N(ld, val)->line, "needs a value");
		else if (N(ld, val)->type != CFG_YN_SCALAR)
			r = cfg_fail(ld, N(ld, val)->line, "expected a scalar value, got %s",
				    cfg_type_name(ld, val));
		else
			r = cfg_check_str(ld, val, CFG_STR_TEXT, CFG_TEXT_MAX);
		cfg_pop(ld, o2);
		if (r < 0)
			goto out;
		if (!(o->key = cfg_strdup(ld, S(ld, k), N(ld, k)->line)))
			goto out;
		p->n_options++; /* counted now: cl_config_free frees the key */
		if (!(o->value = cfg_strdup(ld, S(ld, val), N(ld, val)->line)))
			goto out;
	}
	rc = 0;
out:
	cfg_pop(ld, old);
	return rc;
}

/* path as given, or joined to the configuration file's directory when relative. */
static char *plugin_path(struct cfg_ld *ld, const char *path, uint32_t line)
{
	const char *slash = strrchr(ld->file, '/');
	if (path[0] == '/' || !slash)
		return cfg_strdup(ld, path, line);
	size_t dl = (size_t)(slash - ld->file) + 1, pl = strlen(path);
	char *s = malloc(dl + pl + 1);
	if (!s) {
		cfg_oom(ld, line);
		return NULL;
	}
	memcpy(s, ld->file, dl);
	memcpy(s + dl, path, pl + 1);
	return s;
}

static int load_plugin(struct cfg_ld *ld, uint32_t it, size_t i)
{
	static const char *const keys[] = {"name", "path", "options"};
	struct cl_config *cfg = ld->cfg;
	struct cfg_plugin *p = &cfg->plugins[i];
	char q[CFG_QUOTE_MAX + 4];
	uint32_t f[3];
	int rc = -1;

	p->line = (int)N(ld, it)->line;
	if (cfg_map_fields(ld, it, keys, 3, f) < 0)
		return -1;
	if (!f[0])
		return cfg_fail(ld, N(ld, it)->line,
			       "missing required key \"name\" (the strategy name plans use)");
	if (cfg_get_str(ld, "name", f[0], CFG_STR_WORD, CFG_PLUGIN_NAME_MAX, &p->name) < 0)
		return -1;
	size_t old = cfg_push_key(ld, "name");
	if (!skill_name_ok(p->name)) {
		cfg_fail(ld, N(ld, f[0])->line, "\"%s\" is not a strategy name ([a-z0-9][a-z0-9_.-]*)",
			cfg_qs(q, p->name, strlen(p->name)));
		goto out;
	}
	if (builtin_strategy(p->name) >= 0) {
		cfg_fail(ld, N(ld, f[0])->line,
			"\"%s\" is a built-in strategy: give the plugin a name of its own", p->name);
		goto out;
	}
	for (size_t j = 0; j < i; j++)
		if (strcmp(cfg->plugins[j].name, p->name) == 0) {
			cfg_fail(ld, N(ld, f[0])->line,
				"duplicate plugin name \"%s\" (first at line %d, path %s)", p->name,
				cfg->plugins[j].line, cfg->plugins[j].path);
			goto out;
		}
	cfg_pop(ld, old);
	if (!f[1])
		return cfg_fail(ld, N(ld, it)->line,
			       "plugin \"%s\": missing required key \"path\" (its shared object)",
			       p->name);
	old = cfg_push_key(ld, "path");
	if (cfg_check_str(ld, f[1], CFG_STR_TEXT, CFG_TEXT_MAX) < 0)
		goto out;
	cfg_pop(ld, old);
	if (!(p->path = plugin_path(ld, S(ld, f[1]), N(ld, f[1])->line)))
		return -1;
	if (f[2] && load_plugin_options(ld, f[2], p) < 0)
		return -1;
	return 0;
out:
	cfg_pop(ld, old);
	return rc;
}

static int load_plugins(struct cfg_ld *ld, uint32_t v)
{
	struct cl_config *cfg = ld->cfg;
	size_t i = 0;

	if (!v)
		return 0;
	size_t old = cfg_push_key(ld, "plugins");
	if (N(ld, v)->type != CFG_YN_SEQ) {
		cfg_fail(ld, N(ld, v)->line, "expected a list, got %s", cfg_type_name(ld, v));
		goto fail;
	}
	size_t n = N(ld, v)->count;
	if (n > CFG_MAX_PLUGINS) {
		cfg_fail(ld, N(ld, v)->line, "%zu plugins: at most %d are allowed", n, CFG_MAX_PLUGINS);
		goto fail;
	}
	if (n && !(cfg->plugins = calloc(n, sizeof *cfg->plugins))) {
		cfg_oom(ld, N(ld, v)->line);
		goto fail;
	}
	cfg->n_plugins = n;
	for (uint32_t it = N(ld, v)->first; it; it = N(ld, it)->next, i++) {
		size_t o2 = cfg_push_idx(ld, i);
		int r = load_plugin(ld, it, i);
		cfg_pop(ld, o2);
		if (r < 0)
			goto fail;
	}
	cfg_pop(ld, old);
	return 0;
fail:
	cfg_pop(ld, old);
	return -1;
}

/* A step's strategy: a built-in name or the name of a plugins: entry. */
static int strategy_ref(struct cfg_ld *ld, uint32_t v)
{
	const struct cl_config *cfg = ld->cfg;
	char q[CFG_QUOTE_MAX + 4], expect[512];
	size_t el = 0;
	int r = -1;
	size_t old = cfg_push_key(ld, "strategy");

	if (N(ld, v)->type != CFG_YN_SCALAR) {
		cfg_fail(ld, N(ld, v)->line, "expected a strategy name, got %s", cfg_type_name(ld, v));
		goto out;
	}
	if ((r = builtin_strategy(S(ld, v))) >= 0)
		goto out;
	for (size_t i = 0; i < cfg->n_plugins; i++)
		if (strcmp(S(ld, v), cfg->plugins[i].name) == 0) {
			r = CFG_STRAT_PLUGIN0 + (int)i;
			goto out;
		}
	expect[0] = '\0';
	for (int i = 0; i < CFG_STRAT_COUNT && el < sizeof expect; i++) {
		int k = snprintf(expect + el, sizeof expect - el, "%s%s", i ? ", " : "", strat_names[i]);
		if (k > 0)
			el += (size_t)k;
	}
	for (size_t i = 0; i < cfg->n_plugins && el < sizeof expect; i++) {
		int k = snprintf(expect + el, sizeof expect - el, ", %s (plugin)", cfg->plugins[i].name);
		if (k > 0)
			el += (size_t)k;
	}
	cfg_fail(ld, N(ld, v)->line, "\"%s\" is not one of: %s%s",
		cfg_qs(q, S(ld, v), N(ld, v)->len), expect,
		cfg->n_plugins ? "" : " (a strategy plugin must be listed under plugins:)");
	r = -1;
out:
	cfg_pop(ld, old);
	return r;
}

/* ----------------------------------------------------------------- steps */

enum {
	SK_ACTION, SK_TARGETS, SK_TERR, SK_UP, SK_SKILLS, SK_MINPROF, SK_STRAT, SK_TIMEOUT,
	SK_REASON, SK_N
};

static int load_step(struct cfg_ld *ld, uint32_t it, bool last, struct cfg_step *st)
{
	static const char *const keys[SK_N] = {"action",	  "targets",	   "territory",
					       "up",		  "skills",	   "min_proficiency",
					       "strategy",	  "timeout_ms",	   "reason"};
	static const char *const actions[] = {"route", "reject", "callback"};
	static const char *const sets[] = {"any", "reps", "partners"};
	static const char *const skills[] = {"all", "first", "none"};
	uint32_t f[SK_N];
	uint32_t line = N(ld, it)->line;
	int r;

	st->min_prof = 1;
	st->territory = -1;
	if (cfg_map_fields(ld, it, keys, SK_N, f) < 0)
		return -1;
	if (f[SK_ACTION]) {
		if ((r = cfg_get_word(ld, "action", f[SK_ACTION], actions, 3)) < 0)
			return -1;
		st->action = (enum cfg_action)r;
	}
	if (st->action != CFG_ACTION_ROUTE) {
		for (int k = SK_TARGETS; k < SK_REASON; k++)
			if (f[k])
				return cfg_fail(ld, N(ld, f[k])->line,
					       "a %s step takes only action and reason, not \"%s\"",
					       actions[st->action], keys[k]);
		if (!last)
			return cfg_fail(ld, line,
				       "a %s step ends the plan: it must be the last step",
				       actions[st->action]);
		if (f[SK_REASON] &&
		    cfg_get_str(ld, "reason", f[SK_REASON], CFG_STR_TEXT, CFG_TEXT_MAX,
				&st->reason) < 0)
			return -1;
		return 0;
	}
	if (f[SK_REASON])
		return cfg_fail(ld, N(ld, f[SK_REASON])->line,
			       "reason is only for reject and callback steps");
	if (f[SK_TARGETS]) {
		if ((r = cfg_get_word(ld, "targets", f[SK_TARGETS], sets, 3)) < 0)
			return -1;
		st->set = (enum cfg_set)r;
	}
	st->scope = CFG_SCOPE_CALLER;
	if (f[SK_TERR]) {
		uint32_t v = f[SK_TERR];
		size_t old = cfg_push_key(ld, "territory");
		if (N(ld, v)->type != CFG_YN_SCALAR)
			r = cfg_fail(ld, N(ld, v)->line, "expected caller, parent, root, any or a territory name, got %s",
				    cfg_type_name(ld, v));
		else if (!strcmp(S(ld, v), "caller"))
			r = 0;
		else if (!strcmp(S(ld, v), "parent")) {
			st->scope = CFG_SCOPE_UP;
			st->up = 1;
			r = 0;
		} else if (!strcmp(S(ld, v), "root")) {
			st->scope = CFG_SCOPE_ROOT;
			r = 0;
		} else if (!strcmp(S(ld, v), "any")) {
			st->scope = CFG_SCOPE_ANY;
			r = 0;
		} else if ((r = terr_ref(ld, v)) >= 0) {
			st->scope = CFG_SCOPE_NAMED;
			st->territory = r;
		}
		cfg_pop(ld, old);
		if (r < 0)
			return -1;
	}
	if (f[SK_UP]) {
		uint32_t up = 0;
		if (st->scope != CFG_SCOPE_CALLER)
			return cfg_fail(ld, N(ld, f[SK_UP])->line,
				       "up counts levels above the caller's territory: use it "
				       "with territory: caller or without territory");
		if (cfg_get_u32(ld, "up", f[SK_UP], 1, CFG_MAX_UP, &up) < 0)
			return -1;
		st->scope = CFG_SCOPE_UP;
		st->up = (int)up;
	}
	if (f[SK_SKILLS]) {
		if ((r = cfg_get_word(ld, "skills", f[SK_SKILLS], skills, 3)) < 0)
			return -1;
		st->skills = (enum cfg_skills)r;
	}
	if (f[SK_MINPROF]) {
		uint32_t p = 1;
		if (cfg_get_u32(ld, "min_proficiency", f[SK_MINPROF], 1, CFG_MAX_PROF, &p) < 0)
			return -1;
		if (st->skills == CFG_SKILLS_NONE && p > 1)
			return cfg_fail(ld, N(ld, f[SK_MINPROF])->line,
				       "min_proficiency needs skills: all or first");
		st->min_prof = (uint8_t)p;
	}
	if (f[SK_STRAT]) {
		if ((r = strategy_ref(ld, f[SK_STRAT])) < 0)
			return -1;
		st->strategy = (enum cfg_strategy)r;
	}
	if (cfg_get_u32(ld, "timeout_ms", f[SK_TIMEOUT], 0, 86400000, &st->timeout_ms) < 0)
		return -1;
	if (st->timeout_ms == 0 && !last)
		return cfg_fail(ld, f[SK_TIMEOUT] ? N(ld, f[SK_TIMEOUT])->line : line,
			       "timeout_ms 0 waits forever, so the steps after this one are unreachable");
	return 0;
}

/* A list (or one) of strings into a fresh array; check(s) validates one. */
static int str_list(struct cfg_ld *ld, const char *key, uint32_t v, bool dialed, char ***out,
		    size_t *n_out)
{
	char q[CFG_QUOTE_MAX + 4];
	uint32_t first = 0;
	size_t i = 0;
	int rc = 0;
	size_t old = cfg_push_key(ld, key);
	long n = cfg_list_items(ld, v, false, &first);

	if (n < 0)
		goto fail;
	if (!(*out = calloc((size_t)n, sizeof(char *)))) {
		cfg_oom(ld, N(ld, v)->line);
		goto fail;
	}
	*n_out = (size_t)n;
	for (uint32_t it = first; it; it = cfg_list_next(ld, v, it), i++) {
		size_t o2 = cfg_push_idx(ld, i);
		rc = cfg_check_str(ld, it, CFG_STR_WORD, dialed ? CFG_DIALED_MAX + 1 : CFG_ID_MAX);
		if (!rc && dialed) {
			const char *s = S(ld, it);
			const char *d = s[0] == '+' ? s + 1 : s;
			if (!*d || strspn(d, "0123456789") != strlen(d))
				rc = cfg_fail(ld, N(ld, it)->line,
					     "dialed prefix \"%s\": expected digits, optionally after '+'",
					     cfg_qs(q, s, N(ld, it)->len));
		}
		if (!rc && !((*out)[i] = cfg_strdup(ld, S(ld, it), N(ld, it)->line)))
			rc = -1;
		cfg_pop(ld, o2);
		if (rc)
			goto fail;
	}
	cfg_pop(ld, old);
	return 0;
fail:
	cfg_pop(ld, old);
	return -1;
}

static int load_match(struct cfg_ld *ld, uint32_t v, struct cfg_match *m, uint8_t *mark)
{
	static const char *const keys[] = {"dialed", "segment", "skills", "territory", "open"};
	uint32_t f[5], first = 0;
	int rc = -1;
	size_t old = cfg_push_key(ld, "match");

	if (cfg_map_fields(ld, v, keys, 5, f) < 0)
		goto out;
	if (f[4]) {
		bool open = false;
		if (cfg_get_bool(ld, "open", f[4], &open) < 0)
			goto out;
		m->open = open ? 1 : 0;
	}
	if (f[0] && str_list(ld, "dialed", f[0], true, &m->dialed, &m->n_dialed) < 0)
		goto out;
	if (f[1] && str_list(ld, "segment", f[1], false, &m->segments, &m->n_segments) < 0)
		goto out;
	if (f[2]) {
		size_t o2 = cfg_push_key(ld, "skills");
		long n = cfg_list_items(ld, f[2], false, &first);
		for (uint32_t it = n > 0 ? first : 0; it; it = cfg_list_next(ld, f[2], it)) {
			int s = skill_ref(ld, it);
			if (s < 0) {
				n = -1;
				break;
			}
			m->skills_any |= UINT64_C(1) << s;
		}
		cfg_pop(ld, o2);
		if (n < 0)
			goto out;
	}
	if (f[3] && terr_list(ld, "territory", f[3], mark, &m->territories, &m->n_territories) < 0)
		goto out;
	rc = 0;
out:
	cfg_pop(ld, old);
	return rc;
}

static bool match_empty(const struct cfg_match *m)
{
	return !m->n_dialed && !m->n_segments && !m->skills_any && !m->n_territories &&
	       m->open < 0;
}

static int load_plans(struct cfg_ld *ld, uint32_t v, uint32_t root_line)
{
	static const char *const keys[] = {"name", "match", "steps"};
	struct cl_config *cfg = ld->cfg;
	uint8_t *mark = NULL;
	size_t i = 0;
	int catch_all = -1;

	if (!v)
		return cfg_fail(ld, root_line, "missing required key \"plans\" (at least one plan)");
	size_t old = cfg_push_key(ld, "plans");
	if (N(ld, v)->type != CFG_YN_SEQ) {
		cfg_fail(ld, N(ld, v)->line, "expected a list, got %s", cfg_type_name(ld, v));
		goto fail;
	}
	if (!N(ld, v)->count) {
		cfg_fail(ld, N(ld, v)->line, "at least one plan is required");
		goto fail;
	}
	cfg->plans = calloc(N(ld, v)->count, sizeof *cfg->plans);
	mark = calloc(cfg->n_territories, 1);
	if (!cfg->plans || !mark) {
		cfg_oom(ld, N(ld, v)->line);
		goto fail;
	}
	cfg->n_plans = N(ld, v)->count;
	for (uint32_t it = N(ld, v)->first; it; it = N(ld, it)->next, i++) {
		struct cfg_plan *p = &cfg->plans[i];
		const struct cfg_hent *e;
		uint32_t f[3];
		size_t o2 = cfg_push_idx(ld, i);
		p->line = (int)N(ld, it)->line;
		p->match.open = -1;
		if (cfg_map_fields(ld, it, keys, 3, f) < 0)
			goto fail;
		if (catch_all >= 0) {
			cfg_fail(ld, N(ld, it)->line,
				"unreachable: plans[%d] \"%s\" has no match and takes every call",
				catch_all, cfg->plans[catch_all].name);
			goto fail;
		}
		if (!f[0]) {
			cfg_fail(ld, N(ld, it)->line, "missing required key \"name\"");
			goto fail;
		}
		if (cfg_get_str(ld, "name", f[0], CFG_STR_WORD, CFG_ID_MAX, &p->name) < 0)
			goto fail;
		if ((e = cfg_h_find(ld->h_plan, p->name))) {
			cfg_push_key(ld, "name");
			cfg_fail(ld, N(ld, f[0])->line,
				"duplicate plan name \"%s\" (first at line %" PRIu32 ")", p->name,
				e->line);
			goto fail;
		}
		if (cfg_h_add(ld, &ld->h_plan, p->name, (int)i, N(ld, f[0])->line) < 0)
			goto fail;
		if (f[1] && load_match(ld, f[1], &p->match, mark) < 0)
			goto fail;
		if (match_empty(&p->match))
			catch_all = (int)i;
		if (!f[2]) {
			cfg_fail(ld, N(ld, it)->line, "missing required key \"steps\"");
			goto fail;
		}
		uint32_t sv = f[2];
		cfg_push_key(ld, "steps");
		if (N(ld, sv)->type != CFG_YN_SEQ) {
			cfg_fail(ld, N(ld, sv)->line, "expected a list, got %s", cfg_type_name(ld, sv));
			goto fail;
		}
		if (N(ld, sv)->count < 1 || N(ld, sv)->count > CFG_MAX_STEPS) {
			cfg_fail(ld, N(ld, sv)->line, "a plan has 1..%d steps, this one %" PRIu32,
				CFG_MAX_STEPS, N(ld, sv)->count);
			goto fail;
		}
		for (uint32_t s = N(ld, sv)->first; s; s = N(ld, s)->next) {
			size_t o3 = cfg_push_idx(ld, p->n_steps);
			bool last = N(ld, s)->next == 0;
			if (load_step(ld, s, last, &p->steps[p->n_steps++]) < 0)
				goto fail;
			cfg_pop(ld, o3);
		}
		cfg_pop(ld, o2);
	}
	free(mark);
	cfg_pop(ld, old);
	return 0;
fail:
	free(mark);
	cfg_pop(ld, old);
	return -1;
}

/* ------------------------------------------------------------------ load */

enum {
	TOP_ENGINE, TOP_LIMITS, TOP_ROUTER, TOP_AUTH, TOP_REDIS, TOP_SKILLS, TOP_TERR,
	TOP_DEFAULT, TOP_REPS, TOP_PARTNERS, TOP_PLANS, TOP_KAMAILIO, TOP_PLUGINS, TOP_SALES,
	TOP_CALENDARS, TOP_N
};

static int load_root(struct cfg_ld *ld)
{
	static const char *const keys[TOP_N] = {"engine", "limits", "router", "auth",
						"redis",  "skills", "territories",
						"default_territory", "reps", "partners", "plans",
						"kamailio", "plugins", "sales", "calendars"};
	struct cl_config *cfg = ld->cfg;
	uint32_t f[TOP_N];
	uint32_t root = ld->t.root;

	if (!root || cfg_is_null(ld, root))
		return cfg_fail(ld, 1, "the configuration is empty: expected a mapping with at "
				      "least auth, skills, territories and plans");
	if (N(ld, root)->type != CFG_YN_MAP)
		return cfg_fail(ld, N(ld, root)->line, "the top level must be a mapping, not %s",
			       cfg_type_name(ld, root));
	if (cfg_map_fields(ld, root, keys, TOP_N, f) < 0)
		return -1;
	uint32_t line = N(ld, root)->line;

	if (fields_default(ld, engine_fields, NFIELDS(engine_fields)) < 0 ||
	    fields_default(ld, limits_fields, NFIELDS(limits_fields)) < 0 ||
	    fields_default(ld, router_fields, NFIELDS(router_fields)) < 0 ||
	    fields_default(ld, redis_fields, NFIELDS(redis_fields)) < 0 ||
	    fields_default(ld, kamailio_fields, NFIELDS(kamailio_fields)) < 0)
		return -1;
	if (fields_load(ld, "engine", f[TOP_ENGINE], engine_fields, NFIELDS(engine_fields)) < 0 ||
	    fields_load(ld, "limits", f[TOP_LIMITS], limits_fields, NFIELDS(limits_fields)) < 0 ||
	    fields_load(ld, "router", f[TOP_ROUTER], router_fields, NFIELDS(router_fields)) < 0 ||
	    fields_load(ld, "redis", f[TOP_REDIS], redis_fields, NFIELDS(redis_fields)) < 0 ||
	    fields_load(ld, "kamailio", f[TOP_KAMAILIO], kamailio_fields,
			NFIELDS(kamailio_fields)) < 0)
		return -1;
	if (cfg->kamailio.reconnect_min_ms > cfg->kamailio.reconnect_max_ms) {
		uint32_t at = cfg_map_lookup(ld, f[TOP_KAMAILIO], "reconnect_min_ms");
		cfg_push_key(ld, "kamailio");
		return cfg_fail(ld, N(ld, at ? at : f[TOP_KAMAILIO])->line,
			       "reconnect_min_ms (%" PRIu32 ") must not exceed reconnect_max_ms (%" PRIu32
			       ")",
			       cfg->kamailio.reconnect_min_ms, cfg->kamailio.reconnect_max_ms);
	}
	if (cfg->max_output < cfg->max_frame) {
		uint32_t at = cfg_map_lookup(ld, f[TOP_LIMITS], "max_output");
		cfg_push_key(ld, "limits");
		return cfg_fail(ld, N(ld, at ? at : f[TOP_LIMITS])->line,
			       "max_output (%" PRIu32 ") must be at least max_frame (%" PRIu32 ")",
			       cfg->max_output, cfg->max_frame);
	}
	if (cfg->redis.user && !cfg->redis.password) {
		cfg_push_key(ld, "redis");
		return cfg_fail(ld, N(ld, cfg_map_lookup(ld, f[TOP_REDIS], "user"))->line,
			       "user needs a password");
	}
	if (load_auth(ld, f[TOP_AUTH], line) < 0 || load_skills(ld, f[TOP_SKILLS], line) < 0 ||
	    cfg_load_calendars(ld, f[TOP_CALENDARS]) < 0 ||
	    load_territories(ld, f[TOP_TERR], f[TOP_DEFAULT], line) < 0 ||
	    load_sales(ld, f[TOP_SALES]) < 0 || /* before targets: rep commission default */
	    load_targets(ld, f[TOP_REPS], f[TOP_PARTNERS]) < 0 ||
	    load_plugins(ld, f[TOP_PLUGINS]) < 0 || load_plans(ld, f[TOP_PLANS], line) < 0)
		return -1;
	return 0;
}

/* Parse with p (input already set), build and check; owns nothing of p. */
static int load(yaml_parser_t *p, const char *name, struct cl_config **out, char *err,
		size_t errlen)
{
	struct cfg_ld ld;
	int rc = -1;

	memset(&ld, 0, sizeof ld);
	ld.file = name;
	ld.err = err;
	ld.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (!(ld.cfg = calloc(1, sizeof *ld.cfg)) || !(ld.cfg->path = strdup(name))) {
		cfg_oom(&ld, 1);
		goto out;
	}
	ld.cfg->default_territory = -1;
	if (cfg_tree_build(&ld, p) < 0 || load_root(&ld) < 0)
		goto out;
	*out = ld.cfg;
	ld.cfg = NULL;
	rc = 0;
out:
	cfg_h_clear(&ld.h_skill);
	cfg_h_clear(&ld.h_terr);
	cfg_h_clear(&ld.h_target);
	cfg_h_clear(&ld.h_plan);
	cfg_h_clear(&ld.h_token);
	cfg_tree_free(&ld.t);
	cl_config_free(ld.cfg);
	return rc;
}

int cl_config_load_string(const char *yaml, const char *name, struct cl_config **out,
			  char *err, size_t errlen)
{
	yaml_parser_t p;
	int rc;

	if (!name)
		name = "<string>";
	if (!yaml || !out) {
		if (err && errlen)
			snprintf(err, errlen, "%s: no configuration text", name);
		return -1;
	}
	if (!yaml_parser_initialize(&p)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, strlen(yaml));
	rc = load(&p, name, out, err, errlen);
	yaml_parser_delete(&p);
	return rc;
}

int cl_config_load(const char *path, struct cl_config **out, char *err, size_t errlen)
{
	yaml_parser_t p;
	FILE *f;
	int rc;

	if (!path || !out) {
		if (err && errlen)
			snprintf(err, errlen, "no configuration path");
		return -1;
	}
	if (!(f = fopen(path, "rb"))) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (!yaml_parser_initialize(&p)) {
		fclose(f);
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	yaml_parser_set_input_file(&p, f);
	rc = load(&p, path, out, err, errlen);
	yaml_parser_delete(&p);
	fclose(f);
	return rc;
}

static void free_strs(char **a, size_t n)
{
	for (size_t i = 0; i < n && a; i++)
		free(a[i]);
	free(a);
}

void cl_config_free(struct cl_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->listen);
	free(cfg->http);
	free(cfg->log_level);
	for (size_t r = 0; r < 6; r++)
		free_strs(cfg->tokens[r], cfg->n_tokens[r]);
	for (size_t i = 0; i < cfg->n_skills; i++)
		free(cfg->skills[i]);
	cfg_calendars_free(cfg);
	for (size_t i = 0; i < cfg->n_territories && cfg->territories; i++) {
		struct cfg_territory *t = &cfg->territories[i];
		free(t->name);
		free(t->timezone);
		free_strs(t->postal, t->n_postal);
		free_strs(t->phone, t->n_phone);
	}
	free(cfg->territories);
	for (size_t i = 0; i < cfg->n_targets && cfg->targets; i++) {
		struct cfg_target *t = &cfg->targets[i];
		free(t->id);
		free(t->name);
		free(t->territories);
		free(t->sip_uri);
		free(t->token);
	}
	free(cfg->targets);
	for (size_t i = 0; i < cfg->n_plans && cfg->plans; i++) {
		struct cfg_plan *p = &cfg->plans[i];
		free(p->name);
		free_strs(p->match.dialed, p->match.n_dialed);
		free_strs(p->match.segments, p->match.n_segments);
		free(p->match.territories);
		for (size_t s = 0; s < p->n_steps; s++)
			free(p->steps[s].reason);
	}
	free(cfg->plans);
	free(cfg->redis.host);
	free(cfg->redis.unix_path);
	free(cfg->redis.user);
	free(cfg->redis.password);
	free(cfg->redis.prefix);
	free(cfg->redis.journal);
	for (size_t i = 0; i < cfg->n_plugins && cfg->plugins; i++) {
		struct cfg_plugin *p = &cfg->plugins[i];
		free(p->name);
		free(p->path);
		for (size_t k = 0; k < p->n_options; k++) {
			free(p->options[k].key);
			free(p->options[k].value);
		}
		free(p->options);
	}
	free(cfg->plugins);
	free(cfg->kamailio.evapi);
	free(cfg->sales.currency);
	for (size_t i = 0; i < cfg->sales.n_levels; i++)
		free(cfg->sales.levels[i].name);
	free(cfg);
}

/* ---------------------------------------------------------------- lookups */

int cl_config_skill(const struct cl_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->n_skills; i++)
		if (strcmp(cfg->skills[i], name) == 0)
			return (int)i;
	return -1;
}

int cl_config_territory(const struct cl_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->n_territories; i++)
		if (strcmp(cfg->territories[i].name, name) == 0)
			return (int)i;
	return -1;
}

int cl_config_target(const struct cl_config *cfg, const char *id)
{
	for (size_t i = 0; cfg && id && i < cfg->n_targets; i++)
		if (strcmp(cfg->targets[i].id, id) == 0)
			return (int)i;
	return -1;
}

const char *cl_strategy_name(enum cfg_strategy s)
{
	return (unsigned)s < CFG_STRAT_COUNT ? strat_names[s] : "unknown";
}

const char *cl_config_strategy_name(const struct cl_config *cfg, unsigned s)
{
	if (s < CFG_STRAT_COUNT)
		return strat_names[s];
	if (cfg && s - CFG_STRAT_PLUGIN0 < cfg->n_plugins)
		return cfg->plugins[s - CFG_STRAT_PLUGIN0].name;
	return "unknown";
}
