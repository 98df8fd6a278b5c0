/*
 * http_parse.c — request parsing for the HTTP API: query strings, /v1/route
 * requests (JSON body or query string), call-progress bodies, bearer tokens.
 *
 * Pure functions: no I/O, no engine state, so every rule is unit-tested
 * (tests/unit/test_http.c). Everything a client sends is checked here before
 * the router sees it, so a refusal can name the field that is wrong; the
 * router's own checks stay as the last line.
 */
#include "http_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_err_set(struct http_err *e, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
}

/* ---- query strings ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode [s, s+n) into dst (NUL-terminated); '+' stays '+'. Returns the
 * length, or -1 for a malformed escape or an encoded NUL. */
static long pct_decode(const char *s, size_t n, char *dst)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			dst[o++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		dst[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	dst[o] = '\0';
	return (long)o;
}

int http_query_parse(struct http_query *q, const char *s, struct http_err *e)
{
	memset(q, 0, sizeof *q);
	if (!s || !*s)
		return 0;
	size_t len = strlen(s);
	/* Decoded text never outgrows its encoding; each key and value gets a
	 * NUL where the encoding had '=' and '&' (or the end). */
	if (!(q->pool = malloc(len + 2))) {
		http_err_set(e, 503, "internal", "out of memory");
		return -1;
	}
	char *w = q->pool;
	const char *p = s;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n == 0) { /* "a=1&&b=2": skip empty pieces */
			p += amp ? 1 : 0;
			if (!amp)
				break;
			continue;
		}
		if (q->n == HTTP_QUERY_MAX) {
			http_err_set(e, 400, "invalid_query", "more than %u query parameters",
				     HTTP_QUERY_MAX);
			return -1;
		}
		const char *eq = memchr(p, '=', n);
		size_t kn = eq ? (size_t)(eq - p) : n;
		const char *v = eq ? eq + 1 : p + n;
		size_t vn = eq ? n - kn - 1 : 0;
		char *key = w;
		long kl = pct_decode(p, kn, key);
		if (kl <= 0) {
			http_err_set(e, 400, "invalid_query",
				     kl == 0 ? "empty query parameter name"
					     : "malformed %%-escape in a query parameter name");
			return -1;
		}
		w += kl + 1;
		char *val = w;
		long vl = pct_decode(v, vn, val);
		if (vl < 0) {
			http_err_set(e, 400, "invalid_query", "malformed %%-escape in '%s'", key);
			return -1;
		}
		w += vl + 1;
		q->key[q->n] = key;
		q->val[q->n] = val;
		q->n++;
		if (!amp)
			break;
		p = amp + 1;
	}
	return 0;
}

void http_query_clear(struct http_query *q)
{
	free(q->pool);
	memset(q, 0, sizeof *q);
}

const char *http_query_get(const struct http_query *q, const char *key, bool *dup)
{
	const char *found = NULL;
	if (dup)
		*dup = false;
	for (size_t i = 0; i < q->n; i++) {
		if (strcmp(q->key[i], key) != 0)
			continue;
		if (found && dup)
			*dup = true;
		if (!found)
			found = q->val[i];
	}
	return found;
}

int http_path_split(const char *path, char *buf, size_t len, const char **seg, size_t max,
		    size_t *n)
{
	size_t w = 0;

	*n = 0;
	if (!path || !*path || strcmp(path, "/") == 0)
		return 0;
	if (path[0] != '/')
		return -1;
	const char *p = path + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t sl = slash ? (size_t)(slash - p) : strlen(p);
		if (sl == 0 || *n == max || w + sl + 1 > len)
			return -1;
		long dl = pct_decode(p, sl, buf + w);
		if (dl <= 0)
			return -1;
		seg[(*n)++] = buf + w;
		w += (size_t)dl + 1;
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

int http_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ---- /v1/route ---- */

static const char *const route_fields[] = {
	"call_id",  "from",     "to",      "postal_code",      "segment",      "skills",
	"language", "priority", "wait_ms", "preferred_target", "preferred_ms", NULL,
};

static bool known_field(const char *k)
{
	for (size_t i = 0; route_fields[i]; i++)
		if (strcmp(route_fields[i], k) == 0)
			return true;
	return false;
}

/* Printable text of 1..HTTP_STR_MAX bytes (UTF-8 passes; control bytes do not). */
static int check_text(const char *field, const char *s, bool allow_empty, struct http_err *e)
{
	size_t n = strnlen(s, HTTP_STR_MAX + 1);
	if (n > HTTP_STR_MAX) {
		http_err_set(e, 400, "invalid_field", "%s is longer than %d bytes", field,
			     HTTP_STR_MAX);
		return -1;
	}
	if (!n && !allow_empty) {
		http_err_set(e, 400, "invalid_field", "%s is empty", field);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f) {
			http_err_set(e, 400, "invalid_field", "%s contains a control character",
				     field);
			return -1;
		}
	}
	return 0;
}

static const char **text_slot(struct http_route_req *r, const char *k)
{
	if (strcmp(k, "call_id") == 0)
		return &r->call_id;
	if (strcmp(k, "from") == 0)
		return &r->from;
	if (strcmp(k, "to") == 0)
		return &r->to;
	if (strcmp(k, "postal_code") == 0)
		return &r->postal_code;
	if (strcmp(k, "segment") == 0)
		return &r->segment;
	if (strcmp(k, "language") == 0)
		return &r->language;
	if (strcmp(k, "preferred_target") == 0)
		return &r->preferred_target;
	return NULL;
}

/* Split a comma list in place (spaces around names trimmed; empty pieces
 * refused, an all-empty list is no skill) and append to r->skills. */
static int add_skill_list(struct http_route_req *r, char *list, struct http_err *e)
{
	char *p = list;
	while (*p == ' ')
		p++;
	if (!*p)
		return 0;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		while (*p == ' ')
			p++;
		char *end = p + strlen(p);
		while (end > p && end[-1] == ' ')
			*--end = '\0';
		if (!*p) {
			http_err_set(e, 400, "invalid_field", "skills has an empty name");
			return -1;
		}
		if (check_text("a skill name", p, false, e) < 0)
			return -1;
		if (r->n_skills == CFG_MAX_SKILLS) {
			http_err_set(e, 400, "invalid_field", "more than %d skills",
				     CFG_MAX_SKILLS);
			return -1;
		}
		r->skills[r->n_skills++] = p;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int set_uint(struct http_route_req *r, const char *k, uint64_t v, struct http_err *e)
{
	if (strcmp(k, "priority") == 0) {
		if (v > 100) {
			http_err_set(e, 400, "invalid_field", "priority must be 0..100");
			return -1;
		}
		r->priority = (uint32_t)v;
	} else if (strcmp(k, "preferred_ms") == 0) {
		r->preferred_ms = v > HTTP_WAIT_MAX_MS ? HTTP_WAIT_MAX_MS : (uint32_t)v;
	} else {
		r->wait_ms = v > HTTP_WAIT_MAX_MS ? HTTP_WAIT_MAX_MS : (uint32_t)v;
	}
	return 0;
}

static int finish_route(struct http_route_req *r, struct http_err *e)
{
	if (!r->call_id) {
		http_err_set(e, 400, "missing_field", "call_id is required");
		return -1;
	}
	return 0;
}

static void route_init(struct http_route_req *r)
{
	memset(r, 0, sizeof *r);
	r->wait_ms = HTTP_WAIT_DEFAULT_MS;
}

int http_route_parse_json(struct http_route_req *r, const char *body, size_t len,
			  struct http_err *e)
{
	json_error_t jerr;
	const char *k;
	json_t *v;

	route_init(r);
	if (!body || !len) {
		http_err_set(e, 400, "bad_json",
			     "the request body is empty (a JSON object is expected)");
		return -1;
	}
	if (!(r->json = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr))) {
		http_err_set(e, 400, "bad_json", "line %d column %d: %s", jerr.line, jerr.column,
			     jerr.text);
		return -1;
	}
	if (!json_is_object(r->json)) {
		http_err_set(e, 400, "bad_json", "the body must be a JSON object");
		return -1;
	}
	json_object_foreach(r->json, k, v)
	{
		if (!known_field(k)) {
			http_err_set(e, 400, "unknown_field", "unknown field '%.64s'", k);
			return -1;
		}
		if (json_is_null(v) && strcmp(k, "call_id") != 0)
			continue; /* an optional field given as null is absent */
		const char **slot = text_slot(r, k);
		if (slot) {
			if (!json_is_string(v)) {
				http_err_set(e, 400, "invalid_field", "%s must be a string", k);
				return -1;
			}
			/* jansson refuses \u0000 unless asked, so s has no NUL inside. */
			const char *s = json_string_value(v);
			if (check_text(k, s, strcmp(k, "call_id") != 0, e) < 0)
				return -1;
			*slot = *s ? s : NULL;
		} else if (strcmp(k, "skills") == 0) {
			if (json_is_string(v)) {
				free(r->pool);
				if (!(r->pool = strdup(json_string_value(v)))) {
					http_err_set(e, 503, "internal", "out of memory");
					return -1;
				}
				r->n_skills = 0;
				if (add_skill_list(r, r->pool, e) < 0)
					return -1;
			} else if (json_is_array(v)) {
				size_t i;
				json_t *it;
				if (json_array_size(v) > CFG_MAX_SKILLS) {
					http_err_set(e, 400, "invalid_field", "more than %d skills",
						     CFG_MAX_SKILLS);
					return -1;
				}
				json_array_foreach(v, i, it)
				{
					if (!json_is_string(it)) {
						http_err_set(e, 400, "invalid_field",
							     "skills must be strings");
						return -1;
					}
					const char *s = json_string_value(it);
					if (check_text("a skill name", s, false, e) < 0)
						return -1;
					r->skills[r->n_skills++] = s;
				}
			} else {
				http_err_set(
					e, 400, "invalid_field",
					"skills must be a comma-separated string or an array of "
					"strings");
				return -1;
			}
		} else { /* priority, wait_ms, preferred_ms */
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				http_err_set(e, 400, "invalid_field",
					     "%s must be a non-negative integer", k);
				return -1;
			}
			if (set_uint(r, k, (uint64_t)json_integer_value(v), e) < 0)
				return -1;
		}
	}
	return finish_route(r, e);
}

int http_route_parse_query(struct http_route_req *r, const char *query, struct http_err *e)
{
	route_init(r);
	if (http_query_parse(&r->q, query, e) < 0)
		return -1;
	for (size_t i = 0; i < r->q.n; i++) {
		const char *k = r->q.key[i];
		char *v = (char *)r->q.val[i]; /* our pool: writable */
		if (!known_field(k)) {
			http_err_set(e, 400, "unknown_field", "unknown parameter '%.64s'", k);
			return -1;
		}
		if (strcmp(k, "skills") == 0) { /* repeatable: lists add up */
			if (add_skill_list(r, v, e) < 0)
				return -1;
			continue;
		}
		bool dup;
		http_query_get(&r->q, k, &dup);
		if (dup) {
			http_err_set(e, 400, "invalid_field", "%s is given more than once", k);
			return -1;
		}
		const char **slot = text_slot(r, k);
		if (slot) {
			bool is_id = strcmp(k, "call_id") == 0;
			if (check_text(k, v, !is_id, e) < 0)
				return -1;
			*slot = *v ? v : NULL;
		} else { /* priority, wait_ms, preferred_ms */
			uint64_t n;
			if (http_parse_uint(v, 0, UINT64_MAX, &n) < 0) {
				http_err_set(e, 400, "invalid_field",
					     "%s must be a non-negative integer", k);
				return -1;
			}
			if (set_uint(r, k, n, e) < 0)
				return -1;
		}
	}
	return finish_route(r, e);
}

void http_route_req_clear(struct http_route_req *r)
{
	if (r->json)
		json_decref(r->json);
	free(r->pool);
	http_query_clear(&r->q);
	memset(r, 0, sizeof *r);
}

int http_progress_parse(const char *body, size_t len, json_t **json, const char **target,
			struct http_err *e)
{
	json_error_t jerr;
	const char *k;
	json_t *v;

	*json = NULL;
	*target = NULL;
	if (!body || !len)
		return 0;
	/* Whitespace only counts as no body. */
	size_t i = 0;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i == len)
		return 0;
	if (!(*json = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr))) {
		http_err_set(e, 400, "bad_json", "line %d column %d: %s", jerr.line, jerr.column,
			     jerr.text);
		return -1;
	}
	if (!json_is_object(*json)) {
		http_err_set(e, 400, "bad_json", "the body must be a JSON object");
		return -1;
	}
	json_object_foreach(*json, k, v)
	{
		if (strcmp(k, "target_id") != 0) {
			http_err_set(e, 400, "unknown_field", "unknown field '%.64s'", k);
			return -1;
		}
		if (json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			http_err_set(e, 400, "invalid_field", "target_id must be a string");
			return -1;
		}
		if (check_text("target_id", json_string_value(v), true, e) < 0)
			return -1;
		*target = *json_string_value(v) ? json_string_value(v) : NULL;
	}
	return 0;
}

/* ---- auth ---- */

const char *http_bearer(const char *authorization)
{
	if (!authorization || strncasecmp(authorization, "Bearer", 6) != 0 ||
	    (authorization[6] != ' ' && authorization[6] != '\t'))
		return NULL;
	const char *t = authorization + 6;
	while (*t == ' ' || *t == '\t')
		t++;
	if (!*t)
		return NULL;
	for (const char *p = t; *p; p++)
		if (*p == ' ' || *p == '\t')
			return NULL;
	return t;
}

/* Time depends on the configured token's length only, never on where the
 * first difference is. */
static bool token_equal(const char *given, const char *want)
{
	size_t gl = strlen(given), wl = strlen(want);
	volatile unsigned char d = (unsigned char)(gl != wl);

	if (wl == 0)
		return false;
	for (size_t i = 0; i < wl; i++) {
		unsigned char g = i < gl ? (unsigned char)given[i] : 0;
		d |= (unsigned char)(g ^ (unsigned char)want[i]);
	}
	return d == 0;
}

unsigned http_token_roles(const struct cl_config *cfg, const char *token)
{
	static const int roles[] = {1, 4, 5}; /* pbx, admin, observer */
	unsigned out = 0;
	if (!token)
		return 0;
	for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
		int role = roles[r];
		bool ok = false;
		for (size_t i = 0; i < cfg->n_tokens[role]; i++)
			ok |= token_equal(token, cfg->tokens[role][i]);
		if (ok)
			out |= 1u << role;
	}
	return out;
}

/* ---- names ---- */

int http_reject_sip_code(enum rt_reject why)
{
	switch (why) {
	case RT_REJECT_NO_ROUTE: return 404;
	case RT_REJECT_QUEUE_FULL: return 486;
	case RT_REJECT_SHUTDOWN: return 503;
	case RT_REJECT_PLAN:
	case RT_REJECT_CALLBACK:
	case RT_REJECT_DRAINED:
	default: return 480;
	}
}

const char *http_reject_name(enum rt_reject why)
{
	switch (why) {
	case RT_REJECT_NO_ROUTE: return "no_route";
	case RT_REJECT_PLAN: return "plan";
	case RT_REJECT_CALLBACK: return "callback";
	case RT_REJECT_QUEUE_FULL: return "queue_full";
	case RT_REJECT_SHUTDOWN: return "shutdown";
	case RT_REJECT_DRAINED: return "drained";
	default: return "rejected";
	}
}

const char *http_call_state_name(enum rt_call_state s)
{
	switch (s) {
	case RT_CALL_QUEUED: return "queued";
	case RT_CALL_RESERVED: return "reserved";
	case RT_CALL_CONNECTED: return "connected";
	case RT_CALL_WRAPUP: return "wrapup";
	case RT_CALL_ENDED: return "ended";
	default: return "unknown";
	}
}

const char *http_target_state_name(enum rt_target_state s)
{
	switch (s) {
	case RT_TARGET_LOGGED_OUT: return "logged_out";
	case RT_TARGET_READY: return "ready";
	case RT_TARGET_NOT_READY: return "not_ready";
	case RT_TARGET_WRAP_UP: return "wrap_up";
	default: return "unknown";
	}
}
