/*
 * kam_proto.c — netstring framing, event parsing and reply encoding for the
 * Kamailio evapi link (see kam_proto.h for the message catalogue).
 *
 * Parsing uses jansson: the events come from a route script, so they are
 * small and few fields are read; strings stay inside the jansson document
 * and are borrowed, never copied, except the skills list, which is split in
 * a buffer of the event. Replies are written by hand into the caller's
 * buffer (no allocation, one pass) because they are on the hot path: every
 * routed call costs one reply.
 */
#include "kam_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *const kam_errors[] = {
	"ok",
	"out of memory",
	"invalid argument",
	"malformed or oversized netstring",
	"not a JSON object",
	"missing or invalid field",
	"output buffer too small",
	"wrong state",
};

const char *kam_strerror(int err)
{
	if (err < 0)
		err = -err;
	if ((size_t)err >= sizeof kam_errors / sizeof kam_errors[0])
		return "unknown error";
	return kam_errors[err];
}

/* ---------------------------------------------------------------- framing */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int kam_ns_parse(const char *buf, size_t len, size_t max, size_t *skip, size_t *hdr,
		 size_t *plen)
{
	size_t i = 0, digits = 0;
	uint64_t n = 0;

	while (i < len && is_ws(buf[i]))
		i++;
	*skip = i;
	*hdr = 0;
	*plen = 0;
	for (; i < len; i++) {
		char c = buf[i];
		if (c == ':')
			break;
		if (c < '0' || c > '9' || ++digits > KAM_NS_DIGITS_MAX)
			return -KAM_EFRAME;
		n = n * 10 + (uint64_t)(c - '0');
	}
	if (i == len)
		return 0; /* no ':' yet */
	if (digits == 0 || n == 0 || n > max)
		return -KAM_EFRAME;
	size_t h = i + 1 - *skip;
	*hdr = h;
	*plen = (size_t)n;
	if (len - *skip - h < n + 1)
		return 0;
	if (buf[*skip + h + n] != ',')
		return -KAM_EFRAME;
	return 1;
}

size_t kam_ns_header(size_t plen, char *out)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + plen % 10);
		plen /= 10;
	} while (plen);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = ':';
	return n + 1;
}

/* ----------------------------------------------------------------- events */

static const char *const ev_names[] = {
	NULL, "invite", "retry", "answered", "ended", "cancel", "timeout", "failed",
};

const char *kam_ev_name(enum kam_ev_type t)
{
	if ((unsigned)t == 0 || (size_t)t >= sizeof ev_names / sizeof ev_names[0])
		return "?";
	return ev_names[t];
}

static int field_fail(char *err, size_t errlen, const char *fmt, const char *key)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, key);
	return -KAM_EFIELD;
}

/* A string field: absent, null or "" gives NULL; anything else must be a
 * string of at most max bytes. */
static int get_str(json_t *o, const char *key, bool required, size_t max, const char **out,
		   char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return field_fail(err, errlen, "missing \"%s\"", key);
		return 0;
	}
	if (!json_is_string(v))
		return field_fail(err, errlen, "\"%s\" is not a string", key);
	size_t n = json_string_length(v);
	if (n == 0) {
		if (required)
			return field_fail(err, errlen, "\"%s\" is empty", key);
		return 0;
	}
	if (n > max)
		return field_fail(err, errlen, "\"%s\" is too long", key);
	if (strlen(json_string_value(v)) != n)
		return field_fail(err, errlen, "\"%s\" holds a NUL byte", key);
	*out = json_string_value(v);
	return 0;
}

/* An integer field in [min, max]; a string of decimal digits is accepted
 * too (header values reach the script as strings). Absent: *present false. */
static int get_uint(json_t *o, const char *key, uint64_t max, uint64_t *out, bool *present,
		    char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < 0 || (uint64_t)x > max)
			return field_fail(err, errlen, "\"%s\" is out of range", key);
		*out = (uint64_t)x;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		if (!*s || *s < '0' || *s > '9')
			return field_fail(err, errlen, "\"%s\" is not a number", key);
		errno = 0;
		unsigned long long x = strtoull(s, &end, 10);
		if (*end || errno || x > max)
			return field_fail(err, errlen, "\"%s\" is not a number in range", key);
		*out = x;
	} else {
		return field_fail(err, errlen, "\"%s\" is not a number", key);
	}
	*present = true;
	return 0;
}

static int add_skill(struct kam_event *ev, const char *s, char *err, size_t errlen)
{
	if (ev->n_skills >= sizeof ev->skills / sizeof ev->skills[0])
		return field_fail(err, errlen, "too many %s", "skills");
	ev->skills[ev->n_skills++] = s;
	return 0;
}

/* skills: "a, b,c" (split in ev->skills_text) or ["a", "b"]. */
static int get_skills(json_t *o, struct kam_event *ev, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "skills");

	if (!v || json_is_null(v))
		return 0;
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			if (!json_is_string(x))
				return field_fail(err, errlen, "\"%s\" holds a non-string", "skills");
			size_t n = json_string_length(x);
			if (n == 0 || n > KAM_ID_MAX || strlen(json_string_value(x)) != n)
				return field_fail(err, errlen, "\"%s\" holds a bad name", "skills");
			if (add_skill(ev, json_string_value(x), err, errlen) < 0)
				return -KAM_EFIELD;
		}
		return 0;
	}
	if (!json_is_string(v))
		return field_fail(err, errlen, "\"%s\" is neither a string nor a list", "skills");
	size_t n = json_string_length(v);
	if (n > KAM_SKILLS_TEXT_MAX)
		return field_fail(err, errlen, "\"%s\" is too long", "skills");
	memcpy(ev->skills_text, json_string_value(v), n);
	ev->skills_text[n] = '\0';
	if (strlen(ev->skills_text) != n)
		return field_fail(err, errlen, "\"%s\" holds a NUL byte", "skills");
	for (char *p = ev->skills_text; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		char *start = p;
		while (*p && *p != ',')
			p++;
		char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (*p)
			p++;
		*end = '\0';
		if ((size_t)(end - start) > KAM_ID_MAX)
			return field_fail(err, errlen, "\"%s\" holds a name that is too long",
					  "skills");
		if (add_skill(ev, start, err, errlen) < 0)
			return -KAM_EFIELD;
	}
	return 0;
}

static int parse_fields(json_t *o, struct kam_event *ev, char *err, size_t errlen)
{
	const char *name;
	uint64_t u = 0;
	bool has_i = false, has_l = false, present;
	int rc;

	if ((rc = get_str(o, "event", true, 32, &name, err, errlen)) < 0)
		return rc;
	for (size_t i = 1; i < sizeof ev_names / sizeof ev_names[0]; i++)
		if (strcmp(name, ev_names[i]) == 0)
			ev->type = (enum kam_ev_type)i;
	if (!ev->type)
		return field_fail(err, errlen, "unknown event \"%s\"", name);

	/* The transaction first: with it, even a bad event can be answered. */
	if (ev->type == KAM_EV_INVITE || ev->type == KAM_EV_RETRY) {
		if ((rc = get_uint(o, "tindex", UINT32_MAX, &u, &has_i, err, errlen)) < 0)
			return rc;
		ev->tindex = (uint32_t)u;
		if ((rc = get_uint(o, "tlabel", UINT32_MAX, &u, &has_l, err, errlen)) < 0)
			return rc;
		ev->tlabel = (uint32_t)u;
		ev->has_tx = has_i && has_l;
	}
	if ((rc = get_str(o, "call_id", true, KAM_ID_MAX, &ev->call_id, err, errlen)) < 0)
		return rc;
	if ((ev->type == KAM_EV_INVITE || ev->type == KAM_EV_RETRY) && !ev->has_tx)
		return field_fail(err, errlen, "missing \"%s\"", has_i ? "tlabel" : "tindex");

	switch (ev->type) {
	case KAM_EV_INVITE:
		if ((rc = get_str(o, "from", false, KAM_ID_MAX, &ev->from, err, errlen)) < 0 ||
		    (rc = get_str(o, "to", false, KAM_ID_MAX, &ev->to, err, errlen)) < 0 ||
		    (rc = get_str(o, "postal_code", false, KAM_ID_MAX, &ev->postal_code, err,
				  errlen)) < 0 ||
		    (rc = get_str(o, "segment", false, KAM_ID_MAX, &ev->segment, err, errlen)) < 0 ||
		    (rc = get_str(o, "language", false, KAM_ID_MAX, &ev->language, err, errlen)) <
			    0 ||
		    (rc = get_skills(o, ev, err, errlen)) < 0)
			return rc;
		if ((rc = get_uint(o, "priority", UINT32_MAX, &u, &present, err, errlen)) < 0)
			return rc;
		ev->priority = present ? (uint32_t)u : 0;
		break;
	case KAM_EV_RETRY:
	case KAM_EV_FAILED:
		if ((rc = get_uint(o, "code", 699, &u, &present, err, errlen)) < 0)
			return rc;
		ev->code = present ? (int)u : 0;
		/* fall through */
	case KAM_EV_ANSWERED:
		if ((rc = get_str(o, "target_id", false, KAM_ID_MAX, &ev->target_id, err, errlen)) <
		    0)
			return rc;
		break;
	default:
		break;
	}
	return 0;
}

int kam_event_parse(const char *payload, size_t len, struct kam_event *ev, struct json_t **doc,
		    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;

	memset(ev, 0, offsetof(struct kam_event, skills_text));
	ev->skills_text[0] = '\0';
	*doc = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!payload || !len) {
		if (err && errlen)
			snprintf(err, errlen, "empty message");
		return -KAM_EJSON;
	}
	o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		if (err && errlen)
			snprintf(err, errlen, "bad JSON at byte %d: %s", jerr.position, jerr.text);
		return -KAM_EJSON;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		if (err && errlen)
			snprintf(err, errlen, "not a JSON object");
		return -KAM_EJSON;
	}
	*doc = o;
	return parse_fields(o, ev, err, errlen);
}

void kam_event_free(struct json_t *doc)
{
	if (doc)
		json_decref(doc);
}

/* ---------------------------------------------------------------- replies */

struct wr {
	char *p;
	size_t cap, len;
	bool full;
};

static void w_raw(struct wr *w, const char *s, size_t n)
{
	if (w->full || w->cap - w->len < n + 1) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void w_lit(struct wr *w, const char *s)
{
	w_raw(w, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control bytes escaped; other bytes
 * (UTF-8 included) as they are. */
static void w_str(struct wr *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	w_raw(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		w_raw(w, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"')
			w_raw(w, "\\\"", 2);
		else if (c == '\\')
			w_raw(w, "\\\\", 2);
		else if (c == '\n')
			w_raw(w, "\\n", 2);
		else if (c == '\r')
			w_raw(w, "\\r", 2);
		else if (c == '\t')
			w_raw(w, "\\t", 2);
		else {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			w_raw(w, u, 6);
		}
	}
	w_raw(w, run, (size_t)(s - run));
	w_raw(w, "\"", 1);
}

static void w_u64(struct wr *w, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
	w_raw(w, tmp, (size_t)n);
}

static void w_key_str(struct wr *w, const char *key, const char *v)
{
	if (!v)
		return;
	w_lit(w, ",\"");
	w_lit(w, key);
	w_lit(w, "\":");
	w_str(w, v);
}

static void w_key_u64(struct wr *w, const char *key, uint64_t v)
{
	w_lit(w, ",\"");
	w_lit(w, key);
	w_lit(w, "\":");
	w_u64(w, v);
}

int kam_reply_encode(const struct kam_reply *r, char *out, size_t cap)
{
	struct wr w = {out, cap, 0, false};

	if (!r || !out || !cap || !r->call_id)
		return -KAM_EINVAL;
	switch (r->action) {
	case KAM_ACT_ROUTE:
		if (!r->uri || !r->target_id)
			return -KAM_EINVAL;
		w_lit(&w, "{\"action\":\"route\"");
		w_key_str(&w, "call_id", r->call_id);
		w_key_u64(&w, "tindex", r->tindex);
		w_key_u64(&w, "tlabel", r->tlabel);
		w_key_str(&w, "uri", r->uri);
		w_key_str(&w, "target_id", r->target_id);
		w_key_u64(&w, "reservation_id", r->reservation_id);
		w_key_str(&w, "territory", r->territory);
		if (r->ring_ms)
			w_key_u64(&w, "ring_ms", r->ring_ms);
		break;
	case KAM_ACT_REJECT:
		if (r->code < 300 || r->code > 699 || !r->reason)
			return -KAM_EINVAL;
		w_lit(&w, "{\"action\":\"reject\"");
		w_key_str(&w, "call_id", r->call_id);
		w_key_u64(&w, "tindex", r->tindex);
		w_key_u64(&w, "tlabel", r->tlabel);
		w_key_u64(&w, "code", (uint64_t)r->code);
		w_key_str(&w, "reason", r->reason);
		w_key_str(&w, "text", r->text);
		break;
	case KAM_ACT_QUEUED:
		w_lit(&w, "{\"action\":\"queued\"");
		w_key_str(&w, "call_id", r->call_id);
		w_key_u64(&w, "position", r->position);
		w_key_u64(&w, "ewt_ms", r->ewt_ms);
		break;
	default:
		return -KAM_EINVAL;
	}
	w_raw(&w, "}", 1);
	if (w.full)
		return -KAM_ESPACE;
	out[w.len] = '\0';
	return (int)w.len;
}

/* ------------------------------------------------------------ SIP mapping */

void kam_reject_sip(enum rt_reject why, int *code, const char **reason)
{
	switch (why) {
	case RT_REJECT_NO_ROUTE:
		*code = 404;
		*reason = "No Route";
		break;
	case RT_REJECT_PLAN:
		*code = 480;
		*reason = "Temporarily Unavailable";
		break;
	case RT_REJECT_CALLBACK:
		*code = 480;
		*reason = "Callback Offered";
		break;
	case RT_REJECT_QUEUE_FULL:
		*code = 486;
		*reason = "Busy Here";
		break;
	case RT_REJECT_SHUTDOWN:
		*code = 503;
		*reason = "Service Unavailable";
		break;
	case RT_REJECT_DRAINED:
		*code = 480;
		*reason = "Temporarily Unavailable";
		break;
	default:
		*code = 500;
		*reason = "Server Internal Error";
		break;
	}
}

void kam_offer_error_sip(int rt_err, int *code, const char **reason)
{
	switch (rt_err < 0 ? -rt_err : rt_err) {
	case RT_EINVAL:
		*code = 400;
		*reason = "Bad Request";
		break;
	case RT_EEXIST:
		*code = 482;
		*reason = "Loop Detected";
		break;
	case RT_ELIMIT:
		*code = 503;
		*reason = "Service Unavailable";
		break;
	default:
		*code = 500;
		*reason = "Server Internal Error";
		break;
	}
}

uint32_t kam_ring_ms(uint32_t ring_timeout_ms)
{
	uint32_t margin = ring_timeout_ms / 10;

	if (margin < 200)
		margin = 200;
	if (margin > 2000)
		margin = 2000;
	if (margin >= ring_timeout_ms)
		return ring_timeout_ms / 2 ? ring_timeout_ms / 2 : 1;
	return ring_timeout_ms - margin;
}
