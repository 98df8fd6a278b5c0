/*
 * cfg.c — the YAML loader of closeloopd's configuration (see cfg.h and
 * docs/config.md, the reference of every key).
 *
 * Design:
 * - Two stages. libyaml's event parser first builds a compact tree of the one
 *   document: nodes in one growable array (index 0 = none, children as
 *   first/next links), scalar text in one string arena. The schema walk then
 *   reads that tree into struct cl_config. The tree exists because sections
 *   refer to each other (reps name skills and territories, plans name
 *   territories) in whatever order the file has them; a streaming loader would
 *   need forward references anyway.
 * - Every scalar is read as a string and converted here. YAML 1.1 would turn
 *   `no` into a boolean and 0800 into an octal number; postal prefixes and
 *   tokens must stay exactly as written. A plain `~`, `null` or empty value
 *   counts as "key not given".
 * - Aliases are rejected with the alias's line: they add nothing to a
 *   configuration file and are the classic way to make a small YAML file
 *   expand into a huge one. Nesting deeper than CFG_MAX_DEPTH is rejected.
 * - Names are resolved to indexes through uthash tables (skills, territories,
 *   target ids, plan names, tokens), so loading N targets costs O(N), not
 *   O(N^2). The tables live only while loading; the public lookups in cfg.h
 *   are linear scans for rare use.
 * - The first error wins: "file:line: path: what is wrong", line 1-based, path
 *   like reps[3].skills. Nothing is printed. On failure everything built so
 *   far is freed through cl_config_free, which copes with half-filled
 *   structures (arrays are zeroed when allocated and counted at once).
 *
 * Scalar fields of engine, limits, router and redis come from one table of
 * {key, type, offset, default, min, max} (fields[] below), so defaults and
 * ranges live in one place.
 *
 * Limits: one document per file; at most CFG_MAX_TARGETS targets; a scalar
 * arena of at most 4 GiB. Loading does blocking file I/O: call it at start-up
 * or off the event loop (a reload builds a new config and swaps it in).
 */
#include "cfg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* uthash: report allocation failure through the element instead of exit(). */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) ((obj)->oom = true)
#include <uthash.h>

#define CFG_MAX_DEPTH 32     /* YAML nesting; the schema needs 5 */
#define CFG_MAX_UP 32        /* step `up` levels */
#define CFG_TOKEN_MAX 256    /* bytes */
#define CFG_TEXT_MAX 1024    /* reasons, paths, URIs, passwords */
#define CFG_POSTAL_MAX 16    /* characters after normalisation */
#define CFG_DIALED_MAX 32    /* dialed-number prefix digits */
#define CFG_QUOTE_MAX 60     /* bytes of a bad value repeated in an error */

/* ------------------------------------------------------------------ tree */

enum yn_type { YN_SCALAR = 1, YN_SEQ = 2, YN_MAP = 3 };

struct yn {
	uint32_t line;  /* 1-based */
	uint32_t first; /* first child; 0 = none */
	uint32_t next;  /* next sibling; 0 = none */
	uint32_t count; /* children; a map holds key, value, key, value, ... */
	uint32_t off;   /* scalar text in the arena (NUL-terminated) */
	uint32_t len;   /* scalar length in bytes (never holds a NUL) */
	uint8_t type;
	uint8_t plain;  /* unquoted plain scalar: may be null */
};

struct ytree {
	struct yn *n; /* n[0] is unused so that 0 means "none" */
	uint32_t nn, cap;
	char *arena;
	size_t alen, acap;
	uint32_t root;
};

/* One name -> index binding of a load-time lookup table. */
struct hent {
	const char *key; /* borrowed from the config being built */
	int idx;
	uint32_t line;
	bool oom;
	UT_hash_handle hh;
};

/* Loader state for one load. */
struct ld {
	const char *file;
	char *err;
	size_t errlen;
	bool failed;
	char path[256]; /* e.g. "reps[3].skills" */
	size_t plen;
	struct ytree t;
	struct cl_config *cfg;
	struct hent *h_skill, *h_terr, *h_target, *h_plan, *h_token;
};

/* ---------------------------------------------------------------- errors */

/* Copy of s fit to repeat in a message: truncated, control bytes as '?'. */
static const char *qs(char buf[CFG_QUOTE_MAX + 4], const char *s, size_t len)
{
	size_t n = len < CFG_QUOTE_MAX ? len : CFG_QUOTE_MAX;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (len > n)
		memcpy(buf + n, "...", 4);
	else
		buf[n] = '\0';
	return buf;
}

static int ld_fail(struct ld *ld, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record the first error as "file:line: path: message"; always returns -1. */
static int ld_fail(struct ld *ld, uint32_t line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (ld->failed)
		return -1;
	ld->failed = true;
	if (!ld->err || !ld->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ld->plen)
		snprintf(ld->err, ld->errlen, "%s:%" PRIu32 ": %s: %s", ld->file, line, ld->path,
			 msg);
	else
		snprintf(ld->err, ld->errlen, "%s:%" PRIu32 ": %s", ld->file, line, msg);
	return -1;
}

static int ld_oom(struct ld *ld, uint32_t line) { return ld_fail(ld, line, "out of memory"); }

static size_t ld_push_key(struct ld *ld, const char *key)
{
	size_t old = ld->plen;
	int n = snprintf(ld->path + old, sizeof ld->path - old, "%s%s", old ? "." : "", key);
	if (n > 0)
		ld->plen = old + (size_t)n < sizeof ld->path ? old + (size_t)n : sizeof ld->path - 1;
	return old;
}

static size_t ld_push_idx(struct ld *ld, size_t i)
{
	size_t old = ld->plen;
	int n = snprintf(ld->path + old, sizeof ld->path - old, "[%zu]", i);
	if (n > 0)
		ld->plen = old + (size_t)n < sizeof ld->path ? old + (size_t)n : sizeof ld->path - 1;
	return old;
}

static void ld_pop(struct ld *ld, size_t old)
{
	ld->plen = old;
	ld->path[old] = '\0';
}

/* ------------------------------------------------------------ tree build */

static struct yn *N(const struct ld *ld, uint32_t i) { return &ld->t.n[i]; }

static const char *S(const struct ld *ld, uint32_t i) { return ld->t.arena + ld->t.n[i].off; }

/* Append a node; returns its index or 0 on allocation failure / overflow. */
static uint32_t tree_add(struct ytree *t, uint8_t type, uint32_t line, const char *s, size_t len,
			 bool plain)
{
	if (t->nn + 1 >= t->cap) {
		uint32_t cap = t->cap ? t->cap : 256;
		if (cap > UINT32_MAX / 2)
			return 0;
		cap *= 2;
		struct yn *n = realloc(t->n, (size_t)cap * sizeof *n);
		if (!n)
			return 0;
		t->n = n;
		t->cap = cap;
		if (t->nn == 0) {
			memset(&n[0], 0, sizeof n[0]); /* index 0 = "none" */
			t->nn = 1;
		}
	}
	uint32_t i = t->nn++;
	struct yn *y = &t->n[i];
	memset(y, 0, sizeof *y);
	y->type = type;
	y->line = line;
	y->plain = plain;
	if (type == YN_SCALAR) {
		if (len >= UINT32_MAX || t->alen + len + 1 > UINT32_MAX)
			return 0;
		if (t->alen + len + 1 > t->acap) {
			size_t cap = t->acap ? t->acap : 4096;
			while (cap < t->alen + len + 1)
				cap *= 2;
			char *a = realloc(t->arena, cap);
			if (!a)
				return 0;
			t->arena = a;
			t->acap = cap;
		}
		if (len)
			memcpy(t->arena + t->alen, s, len);
		t->arena[t->alen + len] = '\0';
		y->off = (uint32_t)t->alen;
		y->len = (uint32_t)len;
		t->alen += len + 1;
	}
	return i;
}

static void tree_free(struct ytree *t)
{
	free(t->n);
	free(t->arena);
	memset(t, 0, sizeof *t);
}

static int yaml_fail(struct ld *ld, const yaml_parser_t *p)
{
	uint32_t line = (uint32_t)p->problem_mark.line + 1;
	if (p->error == YAML_MEMORY_ERROR)
		return ld_oom(ld, line);
	if (p->error == YAML_READER_ERROR)
		return ld_fail(ld, line, "cannot read the file: %s (byte offset %zu)",
			       p->problem ? p->problem : "unknown error", p->problem_offset);
	if (p->context)
		return ld_fail(ld, line, "YAML syntax error: %s %s", p->problem ? p->problem : "",
			       p->context);
	return ld_fail(ld, line, "YAML syntax error: %s", p->problem ? p->problem : "unknown");
}

/* Build the tree from the parser's events. One document; no aliases. */
static int tree_build(struct ld *ld, yaml_parser_t *p)
{
	uint32_t stack[CFG_MAX_DEPTH], last[CFG_MAX_DEPTH];
	int depth = 0, docs = 0;
	bool done = false;
	yaml_event_t ev;

	while (!done) {
		if (!yaml_parser_parse(p, &ev))
			return yaml_fail(ld, p);
		uint32_t line = (uint32_t)ev.start_mark.line + 1;
		uint32_t idx = 0;
		int rc = 0;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = ld_fail(ld, line, "only one YAML document is allowed");
			break;
		case YAML_ALIAS_EVENT:
			rc = ld_fail(ld, line,
				     "YAML aliases (*%s) are not supported: write the value out",
				     (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			/* Every value is also a C string: refuse "\0" escapes. */
			if (memchr(ev.data.scalar.value, 0, ev.data.scalar.length)) {
				rc = ld_fail(ld, line, "NUL bytes (\\0) are not allowed in values");
				break;
			}
			idx = tree_add(&ld->t, YN_SCALAR, line, (const char *)ev.data.scalar.value,
				       ev.data.scalar.length,
				       ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
			if (!idx)
				rc = ld_oom(ld, line);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth == CFG_MAX_DEPTH) {
				rc = ld_fail(ld, line, "nested deeper than %d levels", CFG_MAX_DEPTH);
				break;
			}
			idx = tree_add(&ld->t,
				       ev.type == YAML_SEQUENCE_START_EVENT ? YN_SEQ : YN_MAP, line,
				       NULL, 0, false);
			if (!idx)
				rc = ld_oom(ld, line);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (idx) {
			if (depth > 0) {
				uint32_t parent = stack[depth - 1];
				if (last[depth - 1])
					N(ld, last[depth - 1])->next = idx;
				else
					N(ld, parent)->first = idx;
				last[depth - 1] = idx;
				N(ld, parent)->count++;
			} else {
				ld->t.root = idx;
			}
			if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
				stack[depth] = idx;
				last[depth] = 0;
				depth++;
			}
		}
		yaml_event_delete(&ev);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------- node readers */

static bool is_null(const struct ld *ld, uint32_t i)
{
	const struct yn *y = N(ld, i);
	if (y->type != YN_SCALAR || !y->plain)
		return false;
	const char *s = S(ld, i);
	return y->len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *type_name(const struct ld *ld, uint32_t i)
{
	switch (N(ld, i)->type) {
	case YN_MAP:
		return "a mapping";
	case YN_SEQ:
		return "a list";
	default:
		return "a scalar";
	}
}

/*
 * Check a mapping against its allowed keys. vals[k] receives the value node
 * of keys[k], or 0 when the key is absent or its value is null. Unknown keys,
 * duplicate keys and non-scalar keys are errors.
 */
static int map_fields(struct ld *ld, uint32_t map, const char *const *keys, size_t nk,
		      uint32_t *vals)
{
	uint64_t seen = 0;
	memset(vals, 0, nk * sizeof *vals);
	if (N(ld, map)->type != YN_MAP)
		return ld_fail(ld, N(ld, map)->line, "expected a mapping, got %s",
			       type_name(ld, map));
	for (uint32_t k = N(ld, map)->first; k; k = N(ld, N(ld, k)->next)->next) {
		uint32_t v = N(ld, k)->next;
		char q[CFG_QUOTE_MAX + 4];
		size_t i;
		if (N(ld, k)->type != YN_SCALAR)
			return ld_fail(ld, N(ld, k)->line, "keys must be plain strings, got %s",
				       type_name(ld, k));
		for (i = 0; i < nk; i++)
			if (strcmp(S(ld, k), keys[i]) == 0)
				break;
		if (i == nk) {
			char expect[512];
			size_t el = 0;
			expect[0] = '\0';
			for (size_t j = 0; j < nk && el < sizeof expect; j++) {
				int n = snprintf(expect + el, sizeof expect - el, "%s%s",
						 j ? ", " : "", keys[j]);
				if (n > 0)
					el += (size_t)n;
			}
			return ld_fail(ld, N(ld, k)->line, "unknown key \"%s\" (expected one of: %s)",
				       qs(q, S(ld, k), N(ld, k)->len), expect);
		}
		if (seen & (UINT64_C(1) << i))
			return ld_fail(ld, N(ld, k)->line, "duplicate key \"%s\"", keys[i]);
		seen |= UINT64_C(1) << i;
		if (!is_null(ld, v))
			vals[i] = v;
	}
	return 0;
}

/* Value node of key in map, or 0 (absent or not a map). */
static uint32_t map_lookup(const struct ld *ld, uint32_t map, const char *key)
{
	if (!map || N(ld, map)->type != YN_MAP)
		return 0;
	for (uint32_t k = N(ld, map)->first; k; k = N(ld, N(ld, k)->next)->next)
		if (N(ld, k)->type == YN_SCALAR && strcmp(S(ld, k), key) == 0)
			return N(ld, k)->next;
	return 0;
}

/* Text rules for strings. */
enum str_kind {
	STR_WORD, /* no spaces or control characters: ids, names, tokens, hosts */
	STR_TEXT, /* no control characters: display names, reasons, passwords */
};

/* Check scalar i as a string of 1..maxlen bytes of the given kind. */
static int check_str(struct ld *ld, uint32_t i, enum str_kind kind, size_t maxlen)
{
	const struct yn *y = N(ld, i);
	const unsigned char *s = (const unsigned char *)S(ld, i);
	char q[CFG_QUOTE_MAX + 4];

	if (y->type != YN_SCALAR)
		return ld_fail(ld, y->line, "expected a string, got %s", type_name(ld, i));
	if (y->len == 0)
		return ld_fail(ld, y->line, "must not be empty");
	if (y->len > maxlen)
		return ld_fail(ld, y->line, "\"%s\" is longer than %zu bytes",
			       qs(q, (const char *)s, y->len), maxlen);
	for (size_t k = 0; k < y->len; k++) {
		if (s[k] < 0x20 || s[k] == 0x7f)
			return ld_fail(ld, y->line, "\"%s\" contains a control character",
				       qs(q, (const char *)s, y->len));
		if (kind == STR_WORD && s[k] == ' ')
			return ld_fail(ld, y->line, "\"%s\" must not contain spaces",
				       qs(q, (const char *)s, y->len));
	}
	return 0;
}

static char *xstrdup(struct ld *ld, const char *s, uint32_t line)
{
	char *d = strdup(s);
	if (!d)
		ld_oom(ld, line);
	return d;
}

/* Checked string copy of node v (under key, for the error path) into *dst. */
static int get_str(struct ld *ld, const char *key, uint32_t v, enum str_kind kind, size_t maxlen,
		   char **dst)
{
	size_t old = ld_push_key(ld, key);
	int rc = check_str(ld, v, kind, maxlen);
	if (!rc) {
		char *s = xstrdup(ld, S(ld, v), N(ld, v)->line);
		if (!s)
			rc = -1;
		else {
			free(*dst);
			*dst = s;
		}
	}
	ld_pop(ld, old);
	return rc;
}

static int scalar_u64(struct ld *ld, uint32_t v, uint64_t min, uint64_t max, uint64_t *out)
{
	const struct yn *y = N(ld, v);
	const char *s = S(ld, v);
	char q[CFG_QUOTE_MAX + 4];
	uint64_t x = 0;

	if (y->type != YN_SCALAR)
		return ld_fail(ld, y->line, "expected an integer, got %s", type_name(ld, v));
	if (y->len == 0)
		goto bad;
	for (size_t k = 0; k < y->len; k++) {
		unsigned d = (unsigned)(unsigned char)s[k] - '0';
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			goto bad;
		x = x * 10 + d;
	}
	if (x < min || x > max)
		goto bad;
	*out = x;
	return 0;
bad:
	return ld_fail(ld, y->line, "expected an integer in %" PRIu64 "..%" PRIu64 ", got \"%s\"",
		       min, max, qs(q, s, y->len));
}

static int get_u32(struct ld *ld, const char *key, uint32_t v, uint32_t min, uint32_t max,
		   uint32_t *dst)
{
	uint64_t x = 0;
	if (!v)
		return 0;
	size_t old = ld_push_key(ld, key);
	int rc = scalar_u64(ld, v, min, max, &x);
	if (!rc)
		*dst = (uint32_t)x;
	ld_pop(ld, old);
	return rc;
}

/* A decimal number in [min, max] (min excluded when min_open). */
static int get_double(struct ld *ld, const char *key, uint32_t v, double min, double max,
		      bool min_open, double *dst)
{
	const struct yn *y;
	const char *s;
	char q[CFG_QUOTE_MAX + 4], *end;
	int rc = 0;

	if (!v)
		return 0;
	y = N(ld, v);
	s = S(ld, v);
	size_t old = ld_push_key(ld, key);
	if (y->type != YN_SCALAR) {
		rc = ld_fail(ld, y->line, "expected a number, got %s", type_name(ld, v));
		goto out;
	}
	/* strtod also takes hex, inf and nan: allow only plain decimals. */
	bool ok = y->len > 0 && strspn(s, "0123456789.eE+-") == y->len;
	errno = 0;
	double x = ok ? strtod(s, &end) : 0;
	if (!ok || errno || *end || !isfinite(x) || x > max || x < min || (min_open && x == min))
		rc = ld_fail(ld, y->line, "expected a number %s %.15g and <= %.15g, got \"%s\"",
			     min_open ? ">" : ">=", min, max, qs(q, s, y->len));
	else
		*dst = x;
out:
	ld_pop(ld, old);
	return rc;
}

/* true/false (also yes/no, on/off: YAML 1.1 spellings), any case. */
static int scalar_bool(struct ld *ld, uint32_t v, bool *dst)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	char q[CFG_QUOTE_MAX + 4];

	if (N(ld, v)->type != YN_SCALAR)
		return ld_fail(ld, N(ld, v)->line, "expected true or false, got %s",
			       type_name(ld, v));
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(S(ld, v), yes[i]) == 0) {
			*dst = true;
			return 0;
		}
		if (strcasecmp(S(ld, v), no[i]) == 0) {
			*dst = false;
			return 0;
		}
	}
	return ld_fail(ld, N(ld, v)->line, "expected true or false, got \"%s\"",
		       qs(q, S(ld, v), N(ld, v)->len));
}

static int get_bool(struct ld *ld, const char *key, uint32_t v, bool *dst)
{
	if (!v)
		return 0;
	size_t old = ld_push_key(ld, key);
	int rc = scalar_bool(ld, v, dst);
	ld_pop(ld, old);
	return rc;
}

/*
 * Elements of a string list: a list of scalars, or one scalar standing for a
 * list of one. Returns the count (*first = first element node) or -1.
 */
static long list_items(struct ld *ld, uint32_t v, bool allow_empty, uint32_t *first)
{
	const struct yn *y = N(ld, v);
	if (y->type == YN_SCALAR) {
		*first = v;
		return 1;
	}
	if (y->type != YN_SEQ)
		return ld_fail(ld, y->line, "expected a list, got %s", type_name(ld, v));
	if (!y->count && !allow_empty)
		return ld_fail(ld, y->line, "must not be an empty list");
	*first = y->first;
	return (long)y->count;
}

/* Next element of a list_items() walk (a lone scalar has none). */
static uint32_t list_next(const struct ld *ld, uint32_t list, uint32_t cur)
{
	return N(ld, list)->type == YN_SCALAR ? 0 : N(ld, cur)->next;
}

/* ------------------------------------------------------- lookup tables */

static int h_add(struct ld *ld, struct hent **head, const char *key, int idx, uint32_t line)
{
	struct hent *e = calloc(1, sizeof *e);
	if (!e)
		return ld_oom(ld, line);
	e->key = key;
	e->idx = idx;
	e->line = line;
	HASH_ADD_KEYPTR(hh, *head, e->key, strlen(e->key), e);
	if (e->oom) {
		/* A failed add leaves e out of the table; a failed expand leaves it in. */
		struct hent *f = NULL;
		HASH_FIND_STR(*head, key, f);
		if (f == e)
			HASH_DEL(*head, e);
		free(e);
		return ld_oom(ld, line);
	}
	return 0;
}

static const struct hent *h_find(struct hent *head, const char *key)
{
	struct hent *e = NULL;
	HASH_FIND_STR(head, key, e);
	return e;
}

static void h_clear(struct hent **head)
{
	struct hent *e, *tmp;
	HASH_ITER(hh, *head, e, tmp)
	{
		HASH_DEL(*head, e);
		free(e);
	}
}

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
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* "host:port": a name or IPv4 address, or [IPv6]; port 0..65535 (0 = any). */
static const char *hostport_problem(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon)
		return "expected host:port";
	size_t hl = (size_t)(colon - s);
	if (hl == 0)
		return "the host is missing (expected host:port)";
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return "an IPv6 host is written [address]:port";
		for (size_t i = 1; i + 1 < hl; i++)
			if (!strchr("0123456789abcdefABCDEF:.", s[i]))
				return "bad character in the IPv6 address";
	} else {
		for (size_t i = 0; i < hl; i++) {
			char c = s[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
				return c == ':' ? "an IPv6 host is written [address]:port"
						: "bad character in the host";
		}
	}
	const char *p = colon + 1;
	size_t pl = strlen(p);
	if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl || atol(p) > 65535)
		return "the port must be a number 0..65535";
	return NULL;
}

static void *field_ptr(struct cl_config *cfg, const struct field *f)
{
	return (char *)cfg + f->off;
}

/* Defaults of a field table (strings are heap copies). Returns 0 or -1. */
static int fields_default(struct ld *ld, const struct field *fs, size_t n)
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
			if (f->sdef && !(*(char **)p = xstrdup(ld, f->sdef, 1)))
				return -1;
			break;
		}
	}
	return 0;
}

/* Read one section made of scalar fields. v = 0: absent, defaults stay. */
static int fields_load(struct ld *ld, const char *section, uint32_t v, const struct field *fs,
		       size_t n)
{
	const char *keys[32];
	uint32_t vals[32];
	int rc = 0;

	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++)
		keys[i] = fs[i].key;
	size_t old = ld_push_key(ld, section);
	if (map_fields(ld, v, keys, n, vals) < 0) {
		ld_pop(ld, old);
		return -1;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const struct field *f = &fs[i];
		void *p = field_ptr(ld->cfg, f);
		uint32_t x = vals[i];
		uint64_t u;
		if (!x)
			continue;
		size_t o2 = ld_push_key(ld, f->key);
		switch (f->type) {
		case F_U16:
		case F_U32:
		case F_U64:
			rc = scalar_u64(ld, x, f->min, f->max, &u);
			if (!rc && f->type == F_U16)
				*(uint16_t *)p = (uint16_t)u;
			else if (!rc && f->type == F_U32)
				*(uint32_t *)p = (uint32_t)u;
			else if (!rc)
				*(uint64_t *)p = u;
			break;
		case F_BOOL:
			rc = scalar_bool(ld, x, (bool *)p);
			break;
		case F_WORD:
		case F_TEXT:
			rc = check_str(ld, x, f->type == F_WORD ? STR_WORD : STR_TEXT, f->maxlen);
			break;
		case F_HOSTPORT: {
			const char *why;
			char q[CFG_QUOTE_MAX + 4];
			rc = check_str(ld, x, STR_WORD, 262);
			if (!rc && (why = hostport_problem(S(ld, x))))
				rc = ld_fail(ld, N(ld, x)->line, "\"%s\": %s",
					     qs(q, S(ld, x), N(ld, x)->len), why);
			break;
		}
		case F_LEVEL: {
			static const char *const lv[] = {"error", "warn", "info", "debug"};
			char q[CFG_QUOTE_MAX + 4];
			size_t k = 0;
			rc = check_str(ld, x, STR_WORD, 16);
			for (; !rc && k < 4; k++)
				if (strcasecmp(S(ld, x), lv[k]) == 0)
					break;
			if (!rc && k == 4)
				rc = ld_fail(ld, N(ld, x)->line,
					     "\"%s\" is not a level (error, warn, info, debug)",
					     qs(q, S(ld, x), N(ld, x)->len));
			if (!rc) {
				char *s = xstrdup(ld, lv[k], N(ld, x)->line);
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
			char *s = xstrdup(ld, S(ld, x), N(ld, x)->line);
			if (!s)
				rc = -1;
			else {
				free(*(char **)p);
				*(char **)p = s;
			}
		}
		ld_pop(ld, o2);
	}
	ld_pop(ld, old);
	return rc;
}

/* ------------------------------------------------------------------ auth */

static int token_register(struct ld *ld, const char *tok, uint32_t line)
{
	const struct hent *e = h_find(ld->h_token, tok);
	if (e)
		return ld_fail(ld, line, "this token is already used (line %" PRIu32
					 "): every role and partner needs its own",
			       e->line);
	return h_add(ld, &ld->h_token, tok, 0, line);
}

static int load_auth(struct ld *ld, uint32_t v, uint32_t root_line)
{
	/* Index in keys = protocol Role value; "partner" is refused below. */
	static const char *const keys[] = {"", "pbx", "agent", "partner", "admin", "observer"};
	uint32_t vals[6];
	struct cl_config *cfg = ld->cfg;
	int rc = 0;

	if (!v)
		return ld_fail(ld, root_line, "missing required key \"auth\" (at least one pbx token)");
	size_t old = ld_push_key(ld, "auth");
	if (map_fields(ld, v, keys + 1, 5, vals + 1) < 0)
		goto fail;
	if (vals[3]) {
		ld_fail(ld, N(ld, vals[3])->line,
			"partners authenticate with their own token (partners[].token), not auth.partner");
		goto fail;
	}
	for (int role = 1; role <= 5; role++) {
		uint32_t first = 0, list = vals[role];
		if (!list || role == 3)
			continue;
		size_t o2 = ld_push_key(ld, keys[role]);
		long n = list_items(ld, list, false, &first);
		if (n < 0)
			goto fail;
		cfg->tokens[role] = calloc((size_t)n, sizeof(char *));
		if (!cfg->tokens[role]) {
			ld_oom(ld, N(ld, list)->line);
			goto fail;
		}
		cfg->n_tokens[role] = (size_t)n;
		size_t i = 0;
		for (uint32_t it = first; it; it = list_next(ld, list, it), i++) {
			size_t o3 = ld_push_idx(ld, i);
			rc = check_str(ld, it, STR_WORD, CFG_TOKEN_MAX);
			if (!rc && !(cfg->tokens[role][i] = xstrdup(ld, S(ld, it), N(ld, it)->line)))
				rc = -1;
			if (!rc)
				rc = token_register(ld, cfg->tokens[role][i], N(ld, it)->line);
			ld_pop(ld, o3);
			if (rc)
				goto fail;
		}
		ld_pop(ld, o2);
	}
	if (!cfg->n_tokens[1]) {
		ld_fail(ld, N(ld, v)->line, "at least one pbx token is required");
		goto fail;
	}
	ld_pop(ld, old);
	return 0;
fail:
	ld_pop(ld, old);
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

static int load_skills(struct ld *ld, uint32_t v, uint32_t root_line)
{
	struct cl_config *cfg = ld->cfg;
	char q[CFG_QUOTE_MAX + 4];
	uint32_t first = 0;
	int rc = 0;

	if (!v)
		return ld_fail(ld, root_line, "missing required key \"skills\"");
	size_t old = ld_push_key(ld, "skills");
	long n = list_items(ld, v, false, &first);
	if (n < 0)
		goto fail;
	if (n > CFG_MAX_SKILLS) {
		ld_fail(ld, N(ld, v)->line, "%ld names: at most %d skills are allowed", n, CFG_MAX_SKILLS);
		goto fail;
	}
	for (uint32_t it = first; it; it = list_next(ld, v, it)) {
		size_t o2 = ld_push_idx(ld, cfg->n_skills);
		const struct hent *e;
		rc = check_str(ld, it, STR_WORD, CFG_ID_MAX);
		if (!rc && !skill_name_ok(S(ld, it)))
			rc = ld_fail(ld, N(ld, it)->line,
				     "\"%s\" is not a skill name ([a-z0-9][a-z0-9_.-]*)",
				     qs(q, S(ld, it), N(ld, it)->len));
		if (!rc && (e = h_find(ld->h_skill, S(ld, it))))
			rc = ld_fail(ld, N(ld, it)->line,
				     "duplicate skill \"%s\" (first at line %" PRIu32 ")", S(ld, it),
				     e->line);
		if (!rc && !(cfg->skills[cfg->n_skills] = xstrdup(ld, S(ld, it), N(ld, it)->line)))
			rc = -1;
		if (!rc)
			cfg->n_skills++;
		if (!rc)
			rc = h_add(ld, &ld->h_skill, cfg->skills[cfg->n_skills - 1],
				   (int)cfg->n_skills - 1, N(ld, it)->line);
		ld_pop(ld, o2);
		if (rc)
			goto fail;
	}
	ld_pop(ld, old);
	return 0;
fail:
	ld_pop(ld, old);
	return -1;
}

/* Skill index of scalar node it, with "unknown skill" on failure. */
static int skill_ref(struct ld *ld, uint32_t it)
{
	char q[CFG_QUOTE_MAX + 4];
	const struct hent *e;
	if (N(ld, it)->type != YN_SCALAR)
		return ld_fail(ld, N(ld, it)->line, "expected a skill name, got %s",
			       type_name(ld, it));
	if (!(e = h_find(ld->h_skill, S(ld, it))))
		return ld_fail(ld, N(ld, it)->line, "unknown skill \"%s\"",
			       qs(q, S(ld, it), N(ld, it)->len));
	return e->idx;
}

/* Territory index of scalar node it, with "unknown territory" on failure. */
static int terr_ref(struct ld *ld, uint32_t it)
{
	char q[CFG_QUOTE_MAX + 4];
	const struct hent *e;
	if (N(ld, it)->type != YN_SCALAR)
		return ld_fail(ld, N(ld, it)->line, "expected a territory name, got %s",
			       type_name(ld, it));
	if (!(e = h_find(ld->h_terr, S(ld, it))))
		return ld_fail(ld, N(ld, it)->line, "unknown territory \"%s\"",
			       qs(q, S(ld, it), N(ld, it)->len));
	return e->idx;
}

/*
 * A list of territory names (or one name) into a fresh index array. Duplicates
 * are errors; `mark` is scratch of n_territories bytes, left zeroed.
 */
static int terr_list(struct ld *ld, const char *key, uint32_t v, uint8_t *mark, int **out,
		     size_t *n_out)
{
	uint32_t first = 0;
	size_t i = 0;
	int rc = 0;
	size_t old = ld_push_key(ld, key);
	long n = list_items(ld, v, false, &first);
	if (n < 0) {
		ld_pop(ld, old);
		return -1;
	}
	int *a = calloc((size_t)n, sizeof *a);
	if (!a) {
		ld_pop(ld, old);
		return ld_oom(ld, N(ld, v)->line);
	}
	for (uint32_t it = first; it && !rc; it = list_next(ld, v, it)) {
		int t = terr_ref(ld, it);
		if (t < 0)
			rc = -1;
		else if (mark[t])
			rc = ld_fail(ld, N(ld, it)->line, "territory \"%s\" is listed twice",
				     ld->cfg->territories[t].name);
		else {
			mark[t] = 1;
			a[i++] = t;
		}
	}
	for (size_t k = 0; k < i; k++)
		mark[a[k]] = 0;
	ld_pop(ld, old);
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
static int postal_norm(struct ld *ld, uint32_t it, char **out)
{
	char buf[CFG_POSTAL_MAX + 1], q[CFG_QUOTE_MAX + 4];
	const char *s = S(ld, it);
	size_t n = 0;

	if (check_str(ld, it, STR_TEXT, 64) < 0)
		return -1;
	for (size_t k = 0; k < N(ld, it)->len; k++) {
		char c = s[k];
		if (c == ' ' || c == '-')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return ld_fail(ld, N(ld, it)->line,
				       "postal prefix \"%s\": only letters and digits are allowed",
				       qs(q, s, N(ld, it)->len));
		if (n == CFG_POSTAL_MAX)
			return ld_fail(ld, N(ld, it)->line,
				       "postal prefix \"%s\" is longer than %d characters",
				       qs(q, s, N(ld, it)->len), CFG_POSTAL_MAX);
		buf[n++] = c;
	}
	if (!n)
		return ld_fail(ld, N(ld, it)->line, "empty postal prefix");
	buf[n] = '\0';
	*out = xstrdup(ld, buf, N(ld, it)->line);
	return *out ? 0 : -1;
}

/* E.164 prefix: '+' then 1..15 digits. */
static int phone_check(struct ld *ld, uint32_t it, char **out)
{
	char q[CFG_QUOTE_MAX + 4];
	const char *s = S(ld, it);
	size_t len = N(ld, it)->len;

	if (check_str(ld, it, STR_WORD, 64) < 0)
		return -1;
	if (s[0] != '+' || len < 2 || len > 16 || strspn(s + 1, "0123456789") != len - 1)
		return ld_fail(ld, N(ld, it)->line,
			       "phone prefix \"%s\": expected '+' and 1 to 15 digits",
			       qs(q, s, len));
	*out = xstrdup(ld, s, N(ld, it)->line);
	return *out ? 0 : -1;
}

/* A list (or one) of postal / phone prefixes into a fresh string array. */
static int prefix_list(struct ld *ld, const char *key, uint32_t v, bool postal, char ***out,
		       size_t *n_out)
{
	uint32_t first = 0;
	size_t i = 0;
	int rc = 0;

	if (!v)
		return 0;
	size_t old = ld_push_key(ld, key);
	long n = list_items(ld, v, true, &first);
	if (n < 0)
		goto fail;
	if (n && !(*out = calloc((size_t)n, sizeof(char *)))) {
		ld_oom(ld, N(ld, v)->line);
		goto fail;
	}
	*n_out = (size_t)n;
	for (uint32_t it = first; it; it = list_next(ld, v, it), i++) {
		size_t o2 = ld_push_idx(ld, i);
		rc = postal ? postal_norm(ld, it, &(*out)[i]) : phone_check(ld, it, &(*out)[i]);
		ld_pop(ld, o2);
		if (rc)
			goto fail;
	}
	ld_pop(ld, old);
	return 0;
fail:
	ld_pop(ld, old);
	return -1;
}

/* Find parent cycles in O(n): each territory is walked up at most once. */
static int terr_cycles(struct ld *ld)
{
	struct cl_config *cfg = ld->cfg;
	uint8_t *st = calloc(cfg->n_territories, 1); /* 0 new, 1 on this walk, 2 done */
	int rc = 0;

	if (!st)
		return ld_oom(ld, 1);
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
			size_t old = ld_push_key(ld, "territories");
			ld_push_idx(ld, (size_t)u);
			rc = ld_fail(ld, (uint32_t)cfg->territories[u].line, "parent cycle: %s", chain);
			ld_pop(ld, old);
		}
		for (u = (int)t; u >= 0 && st[u] == 1; u = cfg->territories[u].parent)
			st[u] = 2;
	}
	free(st);
	return rc;
}

static int load_territories(struct ld *ld, uint32_t v, uint32_t dflt, uint32_t root_line)
{
	static const char *const keys[] = {"name", "parent", "timezone", "postal", "phone"};
	struct cl_config *cfg = ld->cfg;
	uint32_t *parent_node = NULL;
	size_t i = 0;

	if (!v)
		return ld_fail(ld, root_line, "missing required key \"territories\"");
	size_t old = ld_push_key(ld, "territories");
	if (N(ld, v)->type != YN_SEQ) {
		ld_fail(ld, N(ld, v)->line, "expected a list, got %s", type_name(ld, v));
		goto fail;
	}
	size_t n = N(ld, v)->count;
	if (!n) {
		ld_fail(ld, N(ld, v)->line, "at least one territory is required");
		goto fail;
	}
	cfg->territories = calloc(n, sizeof *cfg->territories);
	parent_node = calloc(n, sizeof *parent_node);
	if (!cfg->territories || !parent_node) {
		ld_oom(ld, N(ld, v)->line);
		goto fail;
	}
	cfg->n_territories = n;
	for (size_t k = 0; k < n; k++)
		cfg->territories[k].parent = -1;

	/* Pass 1: names and prefixes; parents may name later territories. */
	for (uint32_t it = N(ld, v)->first; it; it = N(ld, it)->next, i++) {
		struct cfg_territory *t = &cfg->territories[i];
		uint32_t f[5];
		const struct hent *e;
		size_t o2 = ld_push_idx(ld, i);
		t->line = (int)N(ld, it)->line;
		if (map_fields(ld, it, keys, 5, f) < 0)
			goto fail;
		if (!f[0]) {
			ld_fail(ld, N(ld, it)->line, "missing required key \"name\"");
			goto fail;
		}
		if (get_str(ld, "name", f[0], STR_WORD, CFG_ID_MAX, &t->name) < 0)
			goto fail;
		if (reserved_scope(t->name)) {
			ld_push_key(ld, "name");
			ld_fail(ld, N(ld, f[0])->line,
				"\"%s\" is reserved (caller, parent, root, any) and cannot name a territory",
				t->name);
			goto fail;
		}
		if ((e = h_find(ld->h_terr, t->name))) {
			ld_push_key(ld, "name");
			ld_fail(ld, N(ld, f[0])->line,
				"duplicate territory \"%s\" (first at line %" PRIu32 ")", t->name,
				e->line);
			goto fail;
		}
		if (h_add(ld, &ld->h_terr, t->name, (int)i, N(ld, f[0])->line) < 0)
			goto fail;
		parent_node[i] = f[1];
		if (f[2] && get_str(ld, "timezone", f[2], STR_WORD, 64, &t->timezone) < 0)
			goto fail;
		if (prefix_list(ld, "postal", f[3], true, &t->postal, &t->n_postal) < 0 ||
		    prefix_list(ld, "phone", f[4], false, &t->phone, &t->n_phone) < 0)
			goto fail;
		ld_pop(ld, o2);
	}

	/* Pass 2: resolve parents, then look for cycles. */
	for (i = 0; i < n; i++) {
		if (!parent_node[i])
			continue;
		size_t o2 = ld_push_idx(ld, i);
		ld_push_key(ld, "parent");
		int p = terr_ref(ld, parent_node[i]);
		if (p >= 0 && (size_t)p == i)
			p = ld_fail(ld, N(ld, parent_node[i])->line, "a territory cannot be its own parent");
		ld_pop(ld, o2);
		if (p < 0)
			goto fail;
		cfg->territories[i].parent = p;
	}
	ld_pop(ld, old);
	free(parent_node);
	parent_node = NULL;
	if (terr_cycles(ld) < 0)
		return -1;

	cfg->default_territory = -1;
	if (dflt) {
		old = ld_push_key(ld, "default_territory");
		int t = N(ld, dflt)->type == YN_SCALAR ? terr_ref(ld, dflt)
						       : ld_fail(ld, N(ld, dflt)->line,
								 "expected a territory name, got %s",
								 type_name(ld, dflt));
		ld_pop(ld, old);
		if (t < 0)
			return -1;
		cfg->default_territory = t;
	}
	return 0;
fail:
	free(parent_node);
	ld_pop(ld, old);
	return -1;
}

/* --------------------------------------------------------------- targets */

/* Target skills: a map name -> level 1..5, or a list of names (level 3). */
static int target_skills(struct ld *ld, uint32_t v, struct cfg_target *tg)
{
	size_t old = ld_push_key(ld, "skills");
	int rc = 0;

	if (N(ld, v)->type == YN_MAP) {
		for (uint32_t k = N(ld, v)->first; k && !rc; k = N(ld, N(ld, k)->next)->next) {
			uint32_t val = N(ld, k)->next;
			uint64_t lvl;
			int s = skill_ref(ld, k);
			if (s < 0)
				rc = -1;
			else if (tg->prof[s])
				rc = ld_fail(ld, N(ld, k)->line, "skill \"%s\" is listed twice",
					     ld->cfg->skills[s]);
			else if (is_null(ld, val))
				rc = ld_fail(ld, N(ld, val)->line,
					     "skill \"%s\" needs a level 1..%d", ld->cfg->skills[s],
					     CFG_MAX_PROF);
			else {
				size_t o2 = ld_push_key(ld, ld->cfg->skills[s]);
				rc = scalar_u64(ld, val, 1, CFG_MAX_PROF, &lvl);
				ld_pop(ld, o2);
				if (!rc) {
					tg->prof[s] = (uint8_t)lvl;
					tg->skills |= UINT64_C(1) << s;
				}
			}
		}
	} else {
		uint32_t first = 0;
		long n = list_items(ld, v, true, &first);
		if (n < 0)
			rc = -1;
		for (uint32_t it = n > 0 ? first : 0; it && !rc; it = list_next(ld, v, it)) {
			int s = skill_ref(ld, it);
			if (s < 0)
				rc = -1;
			else if (tg->prof[s])
				rc = ld_fail(ld, N(ld, it)->line, "skill \"%s\" is listed twice",
					     ld->cfg->skills[s]);
			else {
				tg->prof[s] = 3;
				tg->skills |= UINT64_C(1) << s;
			}
		}
	}
	ld_pop(ld, old);
	return rc;
}

static int load_contract(struct ld *ld, uint32_t v, struct cfg_contract *c)
{
	static const char *const keys[] = {"answer_ms",	    "max_abandon",    "min_closure",
					   "min_satisfaction", "commission_pct", "lead_fee"};
	uint32_t f[6];
	int rc = -1;
	size_t old = ld_push_key(ld, "contract");
	if (map_fields(ld, v, keys, 6, f) < 0)
		goto out;
	if (get_u32(ld, "answer_ms", f[0], 0, 3600000, &c->answer_ms) < 0 ||
	    get_double(ld, "max_abandon", f[1], 0, 1, false, &c->max_abandon) < 0 ||
	    get_double(ld, "min_closure", f[2], 0, 1, false, &c->min_closure) < 0 ||
	    get_double(ld, "min_satisfaction", f[3], 0, 5, false, &c->min_satisfaction) < 0 ||
	    get_double(ld, "commission_pct", f[4], 0, 100, false, &c->commission_pct) < 0 ||
	    get_double(ld, "lead_fee", f[5], 0, 1e9, false, &c->lead_fee) < 0)
		goto out;
	rc = 0;
out:
	ld_pop(ld, old);
	return rc;
}

enum {
	TK_ID, TK_NAME, TK_TERR, TK_SKILLS, TK_CAP, TK_WRAPUP, TK_ACCEPT, TK_AUTO, TK_SIP,
	TK_SHARE, TK_CLOSURE, TK_TOKEN, TK_CONTRACT, TK_N
};

static int load_target(struct ld *ld, uint32_t it, enum cfg_kind kind, struct cfg_target *tg,
		       int idx, uint8_t *mark)
{
	/* Same order as TK_*; reps have "capacity", partners "seats". */
	const char *keys[TK_N] = {"id",	      "name",	      "territories", "skills",
				  kind == CFG_KIND_REP ? "capacity" : "seats",
				  "wrapup_ms",  "needs_accept", "auto_ready",  "sip",
				  "share",      "closure_rate", "token",       "contract"};
	size_t nk = kind == CFG_KIND_REP ? TK_TOKEN : TK_N;
	uint32_t f[TK_N];
	const struct hent *e;
	char q[CFG_QUOTE_MAX + 4];
	uint32_t line = N(ld, it)->line;

	tg->kind = kind;
	tg->line = (int)line;
	tg->capacity = 1;
	tg->share = 1;
	tg->closure_rate = 0.5;
	tg->wrapup_ms = ld->cfg->wrapup_ms;
	tg->auto_ready = kind == CFG_KIND_PARTNER;
	if (map_fields(ld, it, keys, nk, f) < 0)
		return -1;
	if (!f[TK_ID])
		return ld_fail(ld, line, "missing required key \"id\"");
	if (get_str(ld, "id", f[TK_ID], STR_WORD, CFG_ID_MAX, &tg->id) < 0)
		return -1;
	if ((e = h_find(ld->h_target, tg->id))) {
		size_t old = ld_push_key(ld, "id");
		ld_fail(ld, N(ld, f[TK_ID])->line,
			"duplicate id \"%s\" (first at line %" PRIu32 ")", qs(q, tg->id, strlen(tg->id)),
			e->line);
		ld_pop(ld, old);
		return -1;
	}
	if (h_add(ld, &ld->h_target, tg->id, idx, N(ld, f[TK_ID])->line) < 0)
		return -1;
	if (f[TK_NAME]) {
		if (get_str(ld, "name", f[TK_NAME], STR_TEXT, CFG_ID_MAX, &tg->name) < 0)
			return -1;
	} else if (!(tg->name = xstrdup(ld, tg->id, line))) {
		return -1;
	}
	if (!f[TK_TERR])
		return ld_fail(ld, line, "missing required key \"territories\"");
	if (terr_list(ld, "territories", f[TK_TERR], mark, &tg->territories, &tg->n_territories) < 0)
		return -1;
	if (f[TK_SKILLS] && target_skills(ld, f[TK_SKILLS], tg) < 0)
		return -1;
	if (get_u32(ld, keys[TK_CAP], f[TK_CAP], 1, kind == CFG_KIND_REP ? 1000 : 10000,
		    &tg->capacity) < 0 ||
	    get_u32(ld, "wrapup_ms", f[TK_WRAPUP], 0, 3600000, &tg->wrapup_ms) < 0 ||
	    get_bool(ld, "needs_accept", f[TK_ACCEPT], &tg->needs_accept) < 0 ||
	    get_bool(ld, "auto_ready", f[TK_AUTO], &tg->auto_ready) < 0 ||
	    get_double(ld, "share", f[TK_SHARE], 0, 1e6, true, &tg->share) < 0 ||
	    get_double(ld, "closure_rate", f[TK_CLOSURE], 0, 1, false, &tg->closure_rate) < 0)
		return -1;
	if (f[TK_SIP]) {
		if (get_str(ld, "sip", f[TK_SIP], STR_WORD, CFG_TEXT_MAX, &tg->sip_uri) < 0)
			return -1;
		if (strncmp(tg->sip_uri, "sip:", 4) != 0 && strncmp(tg->sip_uri, "sips:", 5) != 0) {
			size_t old = ld_push_key(ld, "sip");
			ld_fail(ld, N(ld, f[TK_SIP])->line, "\"%s\" is not a sip: or sips: URI",
				qs(q, tg->sip_uri, strlen(tg->sip_uri)));
			ld_pop(ld, old);
			return -1;
		}
	}
	if (kind == CFG_KIND_PARTNER) {
		if (!f[TK_TOKEN])
			return ld_fail(ld, line, "missing required key \"token\" (the partner's Hello token)");
		if (get_str(ld, "token", f[TK_TOKEN], STR_WORD, CFG_TOKEN_MAX, &tg->token) < 0)
			return -1;
		size_t old = ld_push_key(ld, "token");
		int rc = token_register(ld, tg->token, N(ld, f[TK_TOKEN])->line);
		ld_pop(ld, old);
		if (rc < 0)
			return -1;
		if (!f[TK_SIP])
			return ld_fail(ld, line, "missing required key \"sip\" (where the PBX sends the call)");
		if (f[TK_CONTRACT] && load_contract(ld, f[TK_CONTRACT], &tg->contract) < 0)
			return -1;
	}
	return 0;
}

/* reps and partners, appended to cfg->targets in the order of the lists. */
static int load_targets(struct ld *ld, uint32_t reps, uint32_t partners)
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
		if (N(ld, lists[l])->type != YN_SEQ) {
			size_t old = ld_push_key(ld, names[l]);
			ld_fail(ld, N(ld, lists[l])->line, "expected a list, got %s",
				type_name(ld, lists[l]));
			ld_pop(ld, old);
			return -1;
		}
		total += N(ld, lists[l])->count;
	}
	if (total > CFG_MAX_TARGETS)
		return ld_fail(ld, N(ld, lists[1] ? lists[1] : lists[0])->line,
			       "%" PRIu64 " targets: at most %u are allowed", total, CFG_MAX_TARGETS);
	if (!total)
		return 0;
	cfg->targets = calloc(total, sizeof *cfg->targets);
	mark = calloc(cfg->n_territories, 1);
	if (!cfg->targets || !mark) {
		free(mark);
		return ld_oom(ld, 1);
	}
	cfg->n_targets = total;
	size_t idx = 0;
	for (int l = 0; l < 2; l++) {
		if (!lists[l])
			continue;
		size_t i = 0;
		for (uint32_t it = N(ld, lists[l])->first; it; it = N(ld, it)->next, i++, idx++) {
			size_t old = ld_push_key(ld, names[l]);
			ld_push_idx(ld, i);
			int r = load_target(ld, it, kinds[l], &cfg->targets[idx], (int)idx, mark);
			ld_pop(ld, old);
			if (r < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(mark);
	return rc;
}

/* ----------------------------------------------------------------- plans */

static const char *const strat_names[CFG_STRAT_COUNT] = {
	"longest-idle", "fewest-calls",      "round-robin",    "top-down",
	"random",	"proficiency-first", "weighted-share", "performance-weighted",
};

/* Index of s in names[0..n), or -1. */
static int word_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Scalar v must be one of names: its index, or an error listing them. */
static int get_word(struct ld *ld, const char *key, uint32_t v, const char *const *names, int n)
{
	char q[CFG_QUOTE_MAX + 4], expect[256];
	size_t el = 0;
	int r = -1;
	size_t old = ld_push_key(ld, key);

	if (N(ld, v)->type != YN_SCALAR) {
		ld_fail(ld, N(ld, v)->line, "expected a word, got %s", type_name(ld, v));
		goto out;
	}
	if ((r = word_index(S(ld, v), names, n)) >= 0)
		goto out;
	expect[0] = '\0';
	for (int i = 0; i < n && el < sizeof expect; i++) {
		int k = snprintf(expect + el, sizeof expect - el, "%s%s", i ? ", " : "", names[i]);
		if (k > 0)
			el += (size_t)k;
	}
	ld_fail(ld, N(ld, v)->line, "\"%s\" is not one of: %s", qs(q, S(ld, v), N(ld, v)->len),
		expect);
out:
	ld_pop(ld, old);
	return r;
}

enum {
	SK_ACTION, SK_TARGETS, SK_TERR, SK_UP, SK_SKILLS, SK_MINPROF, SK_STRAT, SK_TIMEOUT,
	SK_REASON, SK_N
};

static int load_step(struct ld *ld, uint32_t it, bool last, struct cfg_step *st)
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
	if (map_fields(ld, it, keys, SK_N, f) < 0)
		return -1;
	if (f[SK_ACTION]) {
		if ((r = get_word(ld, "action", f[SK_ACTION], actions, 3)) < 0)
			return -1;
		st->action = (enum cfg_action)r;
	}
	if (st->action != CFG_ACTION_ROUTE) {
		for (int k = SK_TARGETS; k < SK_REASON; k++)
			if (f[k])
				return ld_fail(ld, N(ld, f[k])->line,
					       "a %s step takes only action and reason, not \"%s\"",
					       actions[st->action], keys[k]);
		if (!last)
			return ld_fail(ld, line,
				       "a %s step ends the plan: it must be the last step",
				       actions[st->action]);
		if (f[SK_REASON] &&
		    get_str(ld, "reason", f[SK_REASON], STR_TEXT, CFG_TEXT_MAX, &st->reason) < 0)
			return -1;
		return 0;
	}
	if (f[SK_REASON])
		return ld_fail(ld, N(ld, f[SK_REASON])->line,
			       "reason is only for reject and callback steps");
	if (f[SK_TARGETS]) {
		if ((r = get_word(ld, "targets", f[SK_TARGETS], sets, 3)) < 0)
			return -1;
		st->set = (enum cfg_set)r;
	}
	st->scope = CFG_SCOPE_CALLER;
	if (f[SK_TERR]) {
		uint32_t v = f[SK_TERR];
		size_t old = ld_push_key(ld, "territory");
		if (N(ld, v)->type != YN_SCALAR)
			r = ld_fail(ld, N(ld, v)->line, "expected caller, parent, root, any or a territory name, got %s",
				    type_name(ld, v));
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
		ld_pop(ld, old);
		if (r < 0)
			return -1;
	}
	if (f[SK_UP]) {
		uint32_t up = 0;
		if (st->scope != CFG_SCOPE_CALLER)
			return ld_fail(ld, N(ld, f[SK_UP])->line,
				       "up counts levels above the caller's territory: use it "
				       "with territory: caller or without territory");
		if (get_u32(ld, "up", f[SK_UP], 1, CFG_MAX_UP, &up) < 0)
			return -1;
		st->scope = CFG_SCOPE_UP;
		st->up = (int)up;
	}
	if (f[SK_SKILLS]) {
		if ((r = get_word(ld, "skills", f[SK_SKILLS], skills, 3)) < 0)
			return -1;
		st->skills = (enum cfg_skills)r;
	}
	if (f[SK_MINPROF]) {
		uint32_t p = 1;
		if (get_u32(ld, "min_proficiency", f[SK_MINPROF], 1, CFG_MAX_PROF, &p) < 0)
			return -1;
		if (st->skills == CFG_SKILLS_NONE && p > 1)
			return ld_fail(ld, N(ld, f[SK_MINPROF])->line,
				       "min_proficiency needs skills: all or first");
		st->min_prof = (uint8_t)p;
	}
	if (f[SK_STRAT]) {
		if ((r = get_word(ld, "strategy", f[SK_STRAT], strat_names, CFG_STRAT_COUNT)) < 0)
			return -1;
		st->strategy = (enum cfg_strategy)r;
	}
	if (get_u32(ld, "timeout_ms", f[SK_TIMEOUT], 0, 86400000, &st->timeout_ms) < 0)
		return -1;
	if (st->timeout_ms == 0 && !last)
		return ld_fail(ld, f[SK_TIMEOUT] ? N(ld, f[SK_TIMEOUT])->line : line,
			       "timeout_ms 0 waits forever, so the steps after this one are unreachable");
	return 0;
}

/* A list (or one) of strings into a fresh array; check(s) validates one. */
static int str_list(struct ld *ld, const char *key, uint32_t v, bool dialed, char ***out,
		    size_t *n_out)
{
	char q[CFG_QUOTE_MAX + 4];
	uint32_t first = 0;
	size_t i = 0;
	int rc = 0;
	size_t old = ld_push_key(ld, key);
	long n = list_items(ld, v, false, &first);

	if (n < 0)
		goto fail;
	if (!(*out = calloc((size_t)n, sizeof(char *)))) {
		ld_oom(ld, N(ld, v)->line);
		goto fail;
	}
	*n_out = (size_t)n;
	for (uint32_t it = first; it; it = list_next(ld, v, it), i++) {
		size_t o2 = ld_push_idx(ld, i);
		rc = check_str(ld, it, STR_WORD, dialed ? CFG_DIALED_MAX + 1 : CFG_ID_MAX);
		if (!rc && dialed) {
			const char *s = S(ld, it);
			const char *d = s[0] == '+' ? s + 1 : s;
			if (!*d || strspn(d, "0123456789") != strlen(d))
				rc = ld_fail(ld, N(ld, it)->line,
					     "dialed prefix \"%s\": expected digits, optionally after '+'",
					     qs(q, s, N(ld, it)->len));
		}
		if (!rc && !((*out)[i] = xstrdup(ld, S(ld, it), N(ld, it)->line)))
			rc = -1;
		ld_pop(ld, o2);
		if (rc)
			goto fail;
	}
	ld_pop(ld, old);
	return 0;
fail:
	ld_pop(ld, old);
	return -1;
}

static int load_match(struct ld *ld, uint32_t v, struct cfg_match *m, uint8_t *mark)
{
	static const char *const keys[] = {"dialed", "segment", "skills", "territory"};
	uint32_t f[4], first = 0;
	int rc = -1;
	size_t old = ld_push_key(ld, "match");

	if (map_fields(ld, v, keys, 4, f) < 0)
		goto out;
	if (f[0] && str_list(ld, "dialed", f[0], true, &m->dialed, &m->n_dialed) < 0)
		goto out;
	if (f[1] && str_list(ld, "segment", f[1], false, &m->segments, &m->n_segments) < 0)
		goto out;
	if (f[2]) {
		size_t o2 = ld_push_key(ld, "skills");
		long n = list_items(ld, f[2], false, &first);
		for (uint32_t it = n > 0 ? first : 0; it; it = list_next(ld, f[2], it)) {
			int s = skill_ref(ld, it);
			if (s < 0) {
				n = -1;
				break;
			}
			m->skills_any |= UINT64_C(1) << s;
		}
		ld_pop(ld, o2);
		if (n < 0)
			goto out;
	}
	if (f[3] && terr_list(ld, "territory", f[3], mark, &m->territories, &m->n_territories) < 0)
		goto out;
	rc = 0;
out:
	ld_pop(ld, old);
	return rc;
}

static bool match_empty(const struct cfg_match *m)
{
	return !m->n_dialed && !m->n_segments && !m->skills_any && !m->n_territories;
}

static int load_plans(struct ld *ld, uint32_t v, uint32_t root_line)
{
	static const char *const keys[] = {"name", "match", "steps"};
	struct cl_config *cfg = ld->cfg;
	uint8_t *mark = NULL;
	size_t i = 0;
	int catch_all = -1;

	if (!v)
		return ld_fail(ld, root_line, "missing required key \"plans\" (at least one plan)");
	size_t old = ld_push_key(ld, "plans");
	if (N(ld, v)->type != YN_SEQ) {
		ld_fail(ld, N(ld, v)->line, "expected a list, got %s", type_name(ld, v));
		goto fail;
	}
	if (!N(ld, v)->count) {
		ld_fail(ld, N(ld, v)->line, "at least one plan is required");
		goto fail;
	}
	cfg->plans = calloc(N(ld, v)->count, sizeof *cfg->plans);
	mark = calloc(cfg->n_territories, 1);
	if (!cfg->plans || !mark) {
		ld_oom(ld, N(ld, v)->line);
		goto fail;
	}
	cfg->n_plans = N(ld, v)->count;
	for (uint32_t it = N(ld, v)->first; it; it = N(ld, it)->next, i++) {
		struct cfg_plan *p = &cfg->plans[i];
		const struct hent *e;
		uint32_t f[3];
		size_t o2 = ld_push_idx(ld, i);
		p->line = (int)N(ld, it)->line;
		if (map_fields(ld, it, keys, 3, f) < 0)
			goto fail;
		if (catch_all >= 0) {
			ld_fail(ld, N(ld, it)->line,
				"unreachable: plans[%d] \"%s\" has no match and takes every call",
				catch_all, cfg->plans[catch_all].name);
			goto fail;
		}
		if (!f[0]) {
			ld_fail(ld, N(ld, it)->line, "missing required key \"name\"");
			goto fail;
		}
		if (get_str(ld, "name", f[0], STR_WORD, CFG_ID_MAX, &p->name) < 0)
			goto fail;
		if ((e = h_find(ld->h_plan, p->name))) {
			ld_push_key(ld, "name");
			ld_fail(ld, N(ld, f[0])->line,
				"duplicate plan name \"%s\" (first at line %" PRIu32 ")", p->name,
				e->line);
			goto fail;
		}
		if (h_add(ld, &ld->h_plan, p->name, (int)i, N(ld, f[0])->line) < 0)
			goto fail;
		if (f[1] && load_match(ld, f[1], &p->match, mark) < 0)
			goto fail;
		if (match_empty(&p->match))
			catch_all = (int)i;
		if (!f[2]) {
			ld_fail(ld, N(ld, it)->line, "missing required key \"steps\"");
			goto fail;
		}
		uint32_t sv = f[2];
		ld_push_key(ld, "steps");
		if (N(ld, sv)->type != YN_SEQ) {
			ld_fail(ld, N(ld, sv)->line, "expected a list, got %s", type_name(ld, sv));
			goto fail;
		}
		if (N(ld, sv)->count < 1 || N(ld, sv)->count > CFG_MAX_STEPS) {
			ld_fail(ld, N(ld, sv)->line, "a plan has 1..%d steps, this one %" PRIu32,
				CFG_MAX_STEPS, N(ld, sv)->count);
			goto fail;
		}
		for (uint32_t s = N(ld, sv)->first; s; s = N(ld, s)->next) {
			size_t o3 = ld_push_idx(ld, p->n_steps);
			bool last = N(ld, s)->next == 0;
			if (load_step(ld, s, last, &p->steps[p->n_steps++]) < 0)
				goto fail;
			ld_pop(ld, o3);
		}
		ld_pop(ld, o2);
	}
	free(mark);
	ld_pop(ld, old);
	return 0;
fail:
	free(mark);
	ld_pop(ld, old);
	return -1;
}

/* ------------------------------------------------------------------ load */

enum {
	TOP_ENGINE, TOP_LIMITS, TOP_ROUTER, TOP_AUTH, TOP_REDIS, TOP_SKILLS, TOP_TERR,
	TOP_DEFAULT, TOP_REPS, TOP_PARTNERS, TOP_PLANS, TOP_N
};

static int load_root(struct ld *ld)
{
	static const char *const keys[TOP_N] = {"engine", "limits", "router", "auth",
						"redis",  "skills", "territories",
						"default_territory", "reps", "partners", "plans"};
	struct cl_config *cfg = ld->cfg;
	uint32_t f[TOP_N];
	uint32_t root = ld->t.root;

	if (!root || is_null(ld, root))
		return ld_fail(ld, 1, "the configuration is empty: expected a mapping with at "
				      "least auth, skills, territories and plans");
	if (N(ld, root)->type != YN_MAP)
		return ld_fail(ld, N(ld, root)->line, "the top level must be a mapping, not %s",
			       type_name(ld, root));
	if (map_fields(ld, root, keys, TOP_N, f) < 0)
		return -1;
	uint32_t line = N(ld, root)->line;

	if (fields_default(ld, engine_fields, NFIELDS(engine_fields)) < 0 ||
	    fields_default(ld, limits_fields, NFIELDS(limits_fields)) < 0 ||
	    fields_default(ld, router_fields, NFIELDS(router_fields)) < 0 ||
	    fields_default(ld, redis_fields, NFIELDS(redis_fields)) < 0)
		return -1;
	if (fields_load(ld, "engine", f[TOP_ENGINE], engine_fields, NFIELDS(engine_fields)) < 0 ||
	    fields_load(ld, "limits", f[TOP_LIMITS], limits_fields, NFIELDS(limits_fields)) < 0 ||
	    fields_load(ld, "router", f[TOP_ROUTER], router_fields, NFIELDS(router_fields)) < 0 ||
	    fields_load(ld, "redis", f[TOP_REDIS], redis_fields, NFIELDS(redis_fields)) < 0)
		return -1;
	if (cfg->max_output < cfg->max_frame) {
		uint32_t at = map_lookup(ld, f[TOP_LIMITS], "max_output");
		ld_push_key(ld, "limits");
		return ld_fail(ld, N(ld, at ? at : f[TOP_LIMITS])->line,
			       "max_output (%" PRIu32 ") must be at least max_frame (%" PRIu32 ")",
			       cfg->max_output, cfg->max_frame);
	}
	if (cfg->redis.user && !cfg->redis.password) {
		ld_push_key(ld, "redis");
		return ld_fail(ld, N(ld, map_lookup(ld, f[TOP_REDIS], "user"))->line,
			       "user needs a password");
	}
	if (load_auth(ld, f[TOP_AUTH], line) < 0 || load_skills(ld, f[TOP_SKILLS], line) < 0 ||
	    load_territories(ld, f[TOP_TERR], f[TOP_DEFAULT], line) < 0 ||
	    load_targets(ld, f[TOP_REPS], f[TOP_PARTNERS]) < 0 ||
	    load_plans(ld, f[TOP_PLANS], line) < 0)
		return -1;
	return 0;
}

/* Parse with p (input already set), build and check; owns nothing of p. */
static int load(yaml_parser_t *p, const char *name, struct cl_config **out, char *err,
		size_t errlen)
{
	struct ld ld;
	int rc = -1;

	memset(&ld, 0, sizeof ld);
	ld.file = name;
	ld.err = err;
	ld.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (!(ld.cfg = calloc(1, sizeof *ld.cfg)) || !(ld.cfg->path = strdup(name))) {
		ld_oom(&ld, 1);
		goto out;
	}
	ld.cfg->default_territory = -1;
	if (tree_build(&ld, p) < 0 || load_root(&ld) < 0)
		goto out;
	*out = ld.cfg;
	ld.cfg = NULL;
	rc = 0;
out:
	h_clear(&ld.h_skill);
	h_clear(&ld.h_terr);
	h_clear(&ld.h_target);
	h_clear(&ld.h_plan);
	h_clear(&ld.h_token);
	tree_free(&ld.t);
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
