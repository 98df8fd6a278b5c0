/*
 * cfg_tree.c — the generic half of the configuration loader: the YAML tree,
 * the value readers and the error reporting (contracts in cfg_internal.h).
 * The schema that walks the tree into struct cl_config is cfg.c.
 *
 * Design:
 * - libyaml's event parser builds a compact tree of the one document: nodes
 *   in one growable array (index 0 = none, children as first/next links),
 *   scalar text in one string arena. The tree exists because sections refer
 *   to each other (reps name skills and territories, plans name territories)
 *   in whatever order the file has them; a streaming loader would need
 *   forward references anyway.
 * - Every scalar is read as a string and converted here. YAML 1.1 would turn
 *   `no` into a boolean and 0800 into an octal number; postal prefixes and
 *   tokens must stay exactly as written. A plain `~`, `null` or empty value
 *   counts as "key not given".
 * - Aliases are rejected with the alias's line: they add nothing to a
 *   configuration file and are the classic way to make a small YAML file
 *   expand into a huge one. Nesting deeper than CFG_MAX_DEPTH is rejected.
 * - The first error wins: "file:line: path: what is wrong", line 1-based, path
 *   like reps[3].skills. Nothing is printed.
 * - The load-time lookup tables (name -> index) are uthash tables, so
 *   resolving N names costs O(N).
 *
 * Limits: one document per file; a scalar arena of at most 4 GiB; at most
 * 2^32 - 1 nodes.
 */
#include "cfg_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---------------------------------------------------------------- errors */

/* Copy of s fit to repeat in a message: truncated, control bytes as '?'. */
const char *cfg_qs(char buf[CFG_QUOTE_MAX + 4], const char *s, size_t len)
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

/* Record the first error as "file:line: path: message"; always returns -1. */
int cfg_fail(struct cfg_ld *ld, uint32_t line, const char *fmt, ...)
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

int cfg_oom(struct cfg_ld *ld, uint32_t line) { return cfg_fail(ld, line, "out of memory"); }

size_t cfg_push_key(struct cfg_ld *ld, const char *key)
{
	size_t old = ld->plen;
	int n = snprintf(ld->path + old, sizeof ld->path - old, "%s%s", old ? "." : "", key);
	if (n > 0)
		ld->plen = old + (size_t)n < sizeof ld->path ? old + (size_t)n : sizeof ld->path - 1;
	return old;
}

size_t cfg_push_idx(struct cfg_ld *ld, size_t i)
{
	size_t old = ld->plen;
	int n = snprintf(ld->path + old, sizeof ld->path - old, "[%zu]", i);
	if (n > 0)
		ld->plen = old + (size_t)n < sizeof ld->path ? old + (size_t)n : sizeof ld->path - 1;
	return old;
}

void cfg_pop(struct cfg_ld *ld, size_t old)
{
	ld->plen = old;
	ld->path[old] = '\0';
}

/* ------------------------------------------------------------ tree build */

/* Append a node; returns its index or 0 on allocation failure / overflow. */
static uint32_t tree_add(struct cfg_ytree *t, uint8_t type, uint32_t line, const char *s,
			 size_t len, bool plain)
{
	if (t->nn + 1 >= t->cap) {
		uint32_t cap = t->cap ? t->cap : 256;
		if (cap > UINT32_MAX / 2)
			return 0;
		cap *= 2;
		struct cfg_yn *n = realloc(t->n, (size_t)cap * sizeof *n);
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
	struct cfg_yn *y = &t->n[i];
	memset(y, 0, sizeof *y);
	y->type = type;
	y->line = line;
	y->plain = plain;
	if (type == CFG_YN_SCALAR) {
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

void cfg_tree_free(struct cfg_ytree *t)
{
	free(t->n);
	free(t->arena);
	memset(t, 0, sizeof *t);
}

static int yaml_fail(struct cfg_ld *ld, const yaml_parser_t *p)
{
	uint32_t line = (uint32_t)p->problem_mark.line + 1;
	if (p->error == YAML_MEMORY_ERROR)
		return cfg_oom(ld, line);
	if (p->error == YAML_READER_ERROR)
		return cfg_fail(ld, line, "cannot read the file: %s (byte offset %zu)",
			       p->problem ? p->problem : "unknown error", p->problem_offset);
	if (p->context)
		return cfg_fail(ld, line, "YAML syntax error: %s %s", p->problem ? p->problem : "",
			       p->context);
	return cfg_fail(ld, line, "YAML syntax error: %s", p->problem ? p->problem : "unknown");
}

/* Build the tree from the parser's events. One document; no aliases. */
int cfg_tree_build(struct cfg_ld *ld, yaml_parser_t *p)
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
				rc = cfg_fail(ld, line, "only one YAML document is allowed");
			break;
		case YAML_ALIAS_EVENT:
			rc = cfg_fail(ld, line,
				     "YAML aliases (*%s) are not supported: write the value out",
				     (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			/* Every value is also a C string: refuse "\0" escapes. */
			if (memchr(ev.data.scalar.value, 0, ev.data.scalar.length)) {
				rc = cfg_fail(ld, line, "NUL bytes (\\0) are not allowed in values");
				break;
			}
			idx = tree_add(&ld->t, CFG_YN_SCALAR, line,
				       (const char *)ev.data.scalar.value, ev.data.scalar.length,
				       ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
			if (!idx)
				rc = cfg_oom(ld, line);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth == CFG_MAX_DEPTH) {
				rc = cfg_fail(ld, line, "nested deeper than %d levels", CFG_MAX_DEPTH);
				break;
			}
			idx = tree_add(&ld->t,
				       ev.type == YAML_SEQUENCE_START_EVENT ? CFG_YN_SEQ : CFG_YN_MAP, line,
				       NULL, 0, false);
			if (!idx)
				rc = cfg_oom(ld, line);
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

bool cfg_is_null(const struct cfg_ld *ld, uint32_t i)
{
	const struct cfg_yn *y = N(ld, i);
	if (y->type != CFG_YN_SCALAR || !y->plain)
		return false;
	const char *s = S(ld, i);
	return y->len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const char *cfg_type_name(const struct cfg_ld *ld, uint32_t i)
{
	switch (N(ld, i)->type) {
	case CFG_YN_MAP:
		return "a mapping";
	case CFG_YN_SEQ:
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
int cfg_map_fields(struct cfg_ld *ld, uint32_t map, const char *const *keys, size_t nk,
		   uint32_t *vals)
{
	uint64_t seen = 0;
	memset(vals, 0, nk * sizeof *vals);
	if (N(ld, map)->type != CFG_YN_MAP)
		return cfg_fail(ld, N(ld, map)->line, "expected a mapping, got %s",
			       cfg_type_name(ld, map));
	for (uint32_t k = N(ld, map)->first; k; k = N(ld, N(ld, k)->next)->next) {
		uint32_t v = N(ld, k)->next;
		char q[CFG_QUOTE_MAX + 4];
		size_t i;
		if (N(ld, k)->type != CFG_YN_SCALAR)
			return cfg_fail(ld, N(ld, k)->line, "keys must be plain strings, got %s",
				       cfg_type_name(ld, k));
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
			return cfg_fail(ld, N(ld, k)->line, "unknown key \"%s\" (expected one of: %s)",
				       cfg_qs(q, S(ld, k), N(ld, k)->len), expect);
		}
		if (seen & (UINT64_C(1) << i))
			return cfg_fail(ld, N(ld, k)->line, "duplicate key \"%s\"", keys[i]);
		seen |= UINT64_C(1) << i;
		if (!cfg_is_null(ld, v))
			vals[i] = v;
	}
	return 0;
}

/* Value node of key in map, or 0 (absent or not a map). */
uint32_t cfg_map_lookup(const struct cfg_ld *ld, uint32_t map, const char *key)
{
	if (!map || N(ld, map)->type != CFG_YN_MAP)
		return 0;
	for (uint32_t k = N(ld, map)->first; k; k = N(ld, N(ld, k)->next)->next)
		if (N(ld, k)->type == CFG_YN_SCALAR && strcmp(S(ld, k), key) == 0)
			return N(ld, k)->next;
	return 0;
}

/* Check scalar i as a string of 1..maxlen bytes of the given kind. */
int cfg_check_str(struct cfg_ld *ld, uint32_t i, enum cfg_str_kind kind, size_t maxlen)
{
	const struct cfg_yn *y = N(ld, i);
	const unsigned char *s = (const unsigned char *)S(ld, i);
	char q[CFG_QUOTE_MAX + 4];

	if (y->type != CFG_YN_SCALAR)
		return cfg_fail(ld, y->line, "expected a string, got %s", cfg_type_name(ld, i));
	if (y->len == 0)
		return cfg_fail(ld, y->line, "must not be empty");
	if (y->len > maxlen)
		return cfg_fail(ld, y->line, "\"%s\" is longer than %zu bytes",
			       cfg_qs(q, (const char *)s, y->len), maxlen);
	for (size_t k = 0; k < y->len; k++) {
		if (s[k] < 0x20 || s[k] == 0x7f)
			return cfg_fail(ld, y->line, "\"%s\" contains a control character",
				       cfg_qs(q, (const char *)s, y->len));
		if (kind == CFG_STR_WORD && s[k] == ' ')
			return cfg_fail(ld, y->line, "\"%s\" must not contain spaces",
				       cfg_qs(q, (const char *)s, y->len));
	}
	return 0;
}

char *cfg_strdup(struct cfg_ld *ld, const char *s, uint32_t line)
{
	char *d = strdup(s);
	if (!d)
		cfg_oom(ld, line);
	return d;
}

/* Checked string copy of node v (under key, for the error path) into *dst. */
int cfg_get_str(struct cfg_ld *ld, const char *key, uint32_t v, enum cfg_str_kind kind,
		size_t maxlen, char **dst)
{
	size_t old = cfg_push_key(ld, key);
	int rc = cfg_check_str(ld, v, kind, maxlen);
	if (!rc) {
		char *s = cfg_strdup(ld, S(ld, v), N(ld, v)->line);
		if (!s)
			rc = -1;
		else {
			free(*dst);
			*dst = s;
		}
	}
	cfg_pop(ld, old);
	return rc;
}

int cfg_scalar_u64(struct cfg_ld *ld, uint32_t v, uint64_t min, uint64_t max, uint64_t *out)
{
	const struct cfg_yn *y = N(ld, v);
	const char *s = S(ld, v);
	char q[CFG_QUOTE_MAX + 4];
	uint64_t x = 0;

	if (y->type != CFG_YN_SCALAR)
		return cfg_fail(ld, y->line, "expected an integer, got %s", cfg_type_name(ld, v));
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
	return cfg_fail(ld, y->line, "expected an integer in %" PRIu64 "..%" PRIu64 ", got \"%s\"",
		       min, max, cfg_qs(q, s, y->len));
}

int cfg_get_u32(struct cfg_ld *ld, const char *key, uint32_t v, uint32_t min, uint32_t max,
		uint32_t *dst)
{
	uint64_t x = 0;
	if (!v)
		return 0;
	size_t old = cfg_push_key(ld, key);
	int rc = cfg_scalar_u64(ld, v, min, max, &x);
	if (!rc)
		*dst = (uint32_t)x;
	cfg_pop(ld, old);
	return rc;
}

/* A decimal number in [min, max] (min excluded when min_open). */
int cfg_get_double(struct cfg_ld *ld, const char *key, uint32_t v, double min, double max,
		   bool min_open, double *dst)
{
	const struct cfg_yn *y;
	const char *s;
	char q[CFG_QUOTE_MAX + 4], *end;
	int rc = 0;

	if (!v)
		return 0;
	y = N(ld, v);
	s = S(ld, v);
	size_t old = cfg_push_key(ld, key);
	if (y->type != CFG_YN_SCALAR) {
		rc = cfg_fail(ld, y->line, "expected a number, got %s", cfg_type_name(ld, v));
		goto out;
	}
	/* strtod also takes hex, inf and nan: allow only plain decimals. */
	bool ok = y->len > 0 && strspn(s, "0123456789.eE+-") == y->len;
	errno = 0;
	double x = ok ? strtod(s, &end) : 0;
	if (!ok || errno || *end || !isfinite(x) || x > max || x < min || (min_open && x == min))
		rc = cfg_fail(ld, y->line, "expected a number %s %.15g and <= %.15g, got \"%s\"",
			     min_open ? ">" : ">=", min, max, cfg_qs(q, s, y->len));
	else
		*dst = x;
out:
	cfg_pop(ld, old);
	return rc;
}

/* true/false (also yes/no, on/off: YAML 1.1 spellings), any case. */
int cfg_scalar_bool(struct cfg_ld *ld, uint32_t v, bool *dst)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	char q[CFG_QUOTE_MAX + 4];

	if (N(ld, v)->type != CFG_YN_SCALAR)
		return cfg_fail(ld, N(ld, v)->line, "expected true or false, got %s",
			       cfg_type_name(ld, v));
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
	return cfg_fail(ld, N(ld, v)->line, "expected true or false, got \"%s\"",
		       cfg_qs(q, S(ld, v), N(ld, v)->len));
}

int cfg_get_bool(struct cfg_ld *ld, const char *key, uint32_t v, bool *dst)
{
	if (!v)
		return 0;
	size_t old = cfg_push_key(ld, key);
	int rc = cfg_scalar_bool(ld, v, dst);
	cfg_pop(ld, old);
	return rc;
}

/*
 * Elements of a string list: a list of scalars, or one scalar standing for a
 * list of one. Returns the count (*first = first element node) or -1.
 */
long cfg_list_items(struct cfg_ld *ld, uint32_t v, bool allow_empty, uint32_t *first)
{
	const struct cfg_yn *y = N(ld, v);
	if (y->type == CFG_YN_SCALAR) {
		*first = v;
		return 1;
	}
	if (y->type != CFG_YN_SEQ)
		return cfg_fail(ld, y->line, "expected a list, got %s", cfg_type_name(ld, v));
	if (!y->count && !allow_empty)
		return cfg_fail(ld, y->line, "must not be an empty list");
	*first = y->first;
	return (long)y->count;
}

/* Next element of a cfg_list_items() walk (a lone scalar has none). */
uint32_t cfg_list_next(const struct cfg_ld *ld, uint32_t list, uint32_t cur)
{
	return N(ld, list)->type == CFG_YN_SCALAR ? 0 : N(ld, cur)->next;
}

/* "host:port": a name or IPv4 address, or [IPv6]; port 0..65535 (0 = any). */
const char *cfg_hostport_problem(const char *s)
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

/* Index of s in names[0..n), or -1. */
static int word_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Scalar v must be one of names: its index, or an error listing them. */
int cfg_get_word(struct cfg_ld *ld, const char *key, uint32_t v, const char *const *names,
		 int n)
{
	char q[CFG_QUOTE_MAX + 4], expect[256];
	size_t el = 0;
	int r = -1;
	size_t old = cfg_push_key(ld, key);

	if (N(ld, v)->type != CFG_YN_SCALAR) {
		cfg_fail(ld, N(ld, v)->line, "expected a word, got %s", cfg_type_name(ld, v));
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
	cfg_fail(ld, N(ld, v)->line, "\"%s\" is not one of: %s", cfg_qs(q, S(ld, v), N(ld, v)->len),
		expect);
out:
	cfg_pop(ld, old);
	return r;
}

/* ------------------------------------------------------- lookup tables */

int cfg_h_add(struct cfg_ld *ld, struct cfg_hent **head, const char *key, int idx,
	      uint32_t line)
{
	struct cfg_hent *e = calloc(1, sizeof *e);
	if (!e)
		return cfg_oom(ld, line);
	e->key = key;
	e->idx = idx;
	e->line = line;
	HASH_ADD_KEYPTR(hh, *head, e->key, strlen(e->key), e);
	if (e->oom) {
		/* A failed add leaves e out of the table; a failed expand leaves it in. */
		struct cfg_hent *f = NULL;
		HASH_FIND_STR(*head, key, f);
		if (f == e)
			HASH_DEL(*head, e);
		free(e);
		return cfg_oom(ld, line);
	}
	return 0;
}

const struct cfg_hent *cfg_h_find(struct cfg_hent *head, const char *key)
{
	struct cfg_hent *e = NULL;
	HASH_FIND_STR(head, key, e);
	return e;
}

void cfg_h_clear(struct cfg_hent **head)
{
	struct cfg_hent *e, *tmp;
	HASH_ITER(hh, *head, e, tmp)
	{
		HASH_DEL(*head, e);
		free(e);
	}
}
