/*
 * tstream.c — the integration tests' reader of the batched event stream
 * (see tstream.h for the format and the rules it checks).
 *
 * Every rule is checked on every read, so each test that looks at the stream
 * also checks its shape. Each entry's JSON is parsed once with jansson; the
 * events point into those parsed arrays, which the struct owns.
 */
#include "tstream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSTREAM_PAGE 500

void tstream_init(struct tstream *s)
{
	memset(s, 0, sizeof *s);
}

void tstream_free(struct tstream *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->entries; i++)
		json_decref(s->arrays[i]);
	free(s->arrays);
	free(s->ev);
	tstream_init(s);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* "<ms>-<seq>", both decimal without sign; 0 or -1. */
static int parse_id(const char *s, uint64_t *ms, uint64_t *seq)
{
	char *end;
	const char *dash = strchr(s, '-');

	if (!dash || dash == s || !dash[1] || strlen(s) >= TSTREAM_ID_LEN)
		return -1;
	for (const char *c = s; *c; c++)
		if (c != dash && (*c < '0' || *c > '9'))
			return -1;
	errno = 0;
	*ms = strtoull(s, &end, 10);
	if (errno || end != dash)
		return -1;
	*seq = strtoull(dash + 1, &end, 10);
	if (errno || *end)
		return -1;
	return 0;
}

/* Types that may share an entry; every other type is alone. */
static int batchable_type(const char *type)
{
	return strncmp(type, "call.", 5) == 0 || strncmp(type, "target.", 7) == 0;
}

static int grow(struct tstream *s, size_t more_ev)
{
	if (s->entries == s->cap_arr) {
		size_t cap = s->cap_arr ? s->cap_arr * 2 : 64;
		json_t **a = realloc(s->arrays, cap * sizeof *a);
		if (!a)
			return -1;
		s->arrays = a;
		s->cap_arr = cap;
	}
	if (s->n + more_ev > s->cap_ev) {
		size_t cap = s->cap_ev ? s->cap_ev : 256;
		while (cap < s->n + more_ev)
			cap *= 2;
		struct tstream_event *e = realloc(s->ev, cap * sizeof *e);
		if (!e)
			return -1;
		s->ev = e;
		s->cap_ev = cap;
	}
	return 0;
}

/* One entry [id, [n, N, events, JSON]]: check it and append its events. */
static int add_entry(struct tstream *s, const redisReply *e, char *err, size_t errlen)
{
	uint64_t ems, eseq;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return fail(err, errlen, "entry %zu: not [id, fields]", s->entries);
	const char *eid = e->element[0]->str;
	const redisReply *f = e->element[1];
	if (parse_id(eid, &ems, &eseq) < 0)
		return fail(err, errlen, "entry %zu: bad stream ID '%s'", s->entries, eid);
	if (f->type != REDIS_REPLY_ARRAY || f->elements != 4)
		return fail(err, errlen, "entry %s: %zu field strings, want n and events", eid,
			    f->type == REDIS_REPLY_ARRAY ? f->elements : 0);
	for (size_t i = 0; i < 4; i++)
		if (f->element[i]->type != REDIS_REPLY_STRING)
			return fail(err, errlen, "entry %s: field %zu is not a string", eid, i);
	if (strcmp(f->element[0]->str, "n") != 0 || strcmp(f->element[2]->str, "events") != 0)
		return fail(err, errlen, "entry %s: fields '%s', '%s', want 'n', 'events'", eid,
			    f->element[0]->str, f->element[2]->str);
	const char *ns = f->element[1]->str;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(ns, &end, 10);
	if (!*ns || *end || errno || ns[0] < '0' || ns[0] > '9' || (ns[0] == '0' && ns[1]) ||
	    n == 0)
		return fail(err, errlen, "entry %s: n '%s' is not a positive decimal", eid, ns);

	json_error_t je;
	json_t *arr = json_loadb(f->element[3]->str, f->element[3]->len, 0, &je);
	if (!arr)
		return fail(err, errlen, "entry %s: events is not JSON: %s", eid, je.text);
	if (!json_is_array(arr) || json_array_size(arr) != n) {
		size_t got = json_is_array(arr) ? json_array_size(arr) : 0;
		json_decref(arr);
		return fail(err, errlen, "entry %s: n = %llu, events holds %zu", eid, n, got);
	}
	if (grow(s, (size_t)n) < 0) {
		json_decref(arr);
		return fail(err, errlen, "out of memory");
	}
	s->arrays[s->entries] = arr; /* owned from here, whatever follows */
	size_t first = s->n;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, i);
		struct tstream_event *ev = &s->ev[s->n];
		const char *k;
		json_t *v;

		if (!json_is_object(o))
			goto bad_obj;
		json_object_foreach(o, k, v) {
			if (!json_is_string(v)) {
				s->entries++;
				return fail(err, errlen, "entry %s, event %zu: field %s is not a string",
					    eid, i, k);
			}
		}
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *type = json_string_value(json_object_get(o, "type"));
		if (!id || !type || !*type)
			goto bad_obj;
		memset(ev, 0, sizeof *ev);
		if (parse_id(id, &ev->ms, &ev->seq) < 0) {
			s->entries++;
			return fail(err, errlen, "entry %s, event %zu: bad id '%s'", eid, i, id);
		}
		if (s->have_last && (ev->ms < s->last_ms ||
				     (ev->ms == s->last_ms && ev->seq <= s->last_seq))) {
			s->entries++;
			return fail(err, errlen,
				    "entry %s, event %zu: id %s not above the previous %llu-%llu",
				    eid, i, id, (unsigned long long)s->last_ms,
				    (unsigned long long)s->last_seq);
		}
		if (!batchable_type(type) && n != 1) {
			s->entries++;
			return fail(err, errlen, "entry %s: %s event shares an entry of %llu", eid,
				    type, n);
		}
		s->last_ms = ev->ms;
		s->last_seq = ev->seq;
		s->have_last = 1;
		snprintf(ev->id, sizeof ev->id, "%s", id);
		snprintf(ev->entry, sizeof ev->entry, "%s", eid);
		ev->entry_index = s->entries;
		ev->entry_n = (size_t)n;
		ev->pos = i;
		ev->obj = o;
		s->n++;
	}
	s->entries++;
	if (s->ev[s->n - 1].ms != ems || s->ev[s->n - 1].seq != eseq)
		return fail(err, errlen, "entry %s: last event's id is %s", eid, s->ev[s->n - 1].id);
	return 0;

bad_obj:
	s->entries++;
	return fail(err, errlen, "entry %s: event %zu is not an object with id and type", eid,
		    s->n - first);
}

int tstream_add_entries(struct tstream *s, const redisReply *entries, char *err, size_t errlen)
{
	if (!entries || entries->type != REDIS_REPLY_ARRAY)
		return fail(err, errlen, "not an array of entries");
	for (size_t i = 0; i < entries->elements; i++)
		if (add_entry(s, entries->element[i], err, errlen) < 0)
			return -1;
	return 0;
}

int tstream_read(redisContext *c, const char *key, struct tstream *s, char *err, size_t errlen)
{
	char start[TSTREAM_ID_LEN + 1] = "-";

	for (;;) {
		redisReply *r = redisCommand(c, "XRANGE %s %s + COUNT %d", key, start, TSTREAM_PAGE);
		if (!r)
			return fail(err, errlen, "XRANGE %s: %s", key, c->errstr);
		if (r->type == REDIS_REPLY_ERROR) {
			int rc = fail(err, errlen, "XRANGE %s: %s", key, r->str);
			freeReplyObject(r);
			return rc;
		}
		size_t got = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
		if (tstream_add_entries(s, r, err, errlen) < 0) {
			freeReplyObject(r);
			return -1;
		}
		if (got)
			snprintf(start, sizeof start, "(%s", s->ev[s->n - 1].entry);
		freeReplyObject(r);
		if (got < TSTREAM_PAGE)
			return 0;
	}
}

const char *tstream_get(const struct tstream_event *e, const char *field)
{
	return json_string_value(json_object_get(e->obj, field));
}

size_t tstream_count(const struct tstream *s, const char *const *kv, size_t nkv)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		size_t k = 0;
		for (; k + 1 < nkv; k += 2) {
			const char *v = tstream_get(&s->ev[i], kv[k]);
			if (!v || strcmp(v, kv[k + 1]) != 0)
				break;
		}
		n += k + 1 >= nkv;
	}
	return n;
}
