/*
 * pub_erase.c — erasure of personal data from the publisher's streams (see
 * pub_erase in pub.h): the GDPR side of the Redis contract.
 *
 * A job holds the values to remove (a phone number, an email address) and
 * the last stream ID handed out when it was requested. It waits until the
 * publisher is connected and nothing at or below that ID is still buffered
 * or journaled, so no entry carrying the values can reach Redis after the
 * scan. Then it walks the event stream and the lead stream with
 * XRANGE start end COUNT 256 (end = the newest ID handed out when the scan
 * starts) and removes every entry with a field value equal to one of the
 * values (ASCII case ignored) with one XDEL per batch. The walk is paced by
 * the replies: one XRANGE in flight per job, so a long stream costs many
 * short callbacks, never a long one. A lost connection starts the scan over
 * (XDEL of an entry already gone counts nothing).
 *
 * Limits: exact value matches only (the engine writes numbers and addresses
 * as whole field values); one job runs at a time; jobs live in memory only.
 */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "pub.h"
#include "pub_conn.h"
#include "pub_internal.h"

#define ERASE_BATCH 256u
#define ERASE_MAX_VALUES 8u

struct erase_job {
	struct erase_job *next;
	uint64_t id;
	uint32_t gen;         /* bumped at each restart: replies of older scans are ignored */
	void (*done)(void *arg, const struct pub_erase_result *r);
	void *arg;
	char *values[ERASE_MAX_VALUES];
	size_t vlen[ERASE_MAX_VALUES];
	size_t n;
	struct pub_stream_id upto; /* last ID handed out at the request */
	char end[PUB_STREAM_ID_LEN];
	char cursor[PUB_STREAM_ID_LEN];
	int stream;           /* stream being scanned; PUB_NSTREAMS = finished */
	uint32_t outstanding; /* commands of this scan without a reply */
	bool running;
	struct pub_erase_result res;
};

struct pub_erase_q {
	struct erase_job *head, *tail;
	uint64_t next_id;
};

static void job_free(struct erase_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->values[i]);
	free(j);
}

static uint64_t job_tag(const struct erase_job *j) { return (j->id << 16) | (j->gen & 0xffffu); }

/* The running job a reply belongs to, or NULL when it is stale. */
static struct erase_job *job_of(struct pub *p, uint64_t tag)
{
	struct pub_erase_q *q = *pub_conn_erase_slot(p);
	struct erase_job *j = q ? q->head : NULL;

	return j && j->running && job_tag(j) == tag ? j : NULL;
}

static bool value_matches(const struct erase_job *j, const char *s, size_t len)
{
	for (size_t i = 0; i < j->n; i++)
		if (len == j->vlen[i] && strncasecmp(s, j->values[i], len) == 0)
			return true;
	return false;
}

/*
 * An entry of the event stream holds its events as a JSON array (field
 * `events`): a value is there when some member is the JSON string of it,
 * i.e. `":"<escaped value>"` followed by `,` or `}`. Outside strings the
 * engine writes no `":"`, and inside one every `"` is escaped, so the pattern
 * cannot start in the middle of a string.
 */
static bool json_matches(const struct erase_job *j, const char *s, size_t len)
{
	char esc[6 * PUB_VALUE_MAX + 8];

	for (size_t i = 0; i < j->n; i++) {
		if (j->vlen[i] > PUB_VALUE_MAX)
			continue;
		size_t m = 0;
		memcpy(esc, "\":\"", 3);
		m = 3 + pub_json_escape(j->values[i], j->vlen[i], esc + 3);
		esc[m++] = '"';
		for (size_t o = 0; o + m < len; o++)
			if ((s[o + m] == ',' || s[o + m] == '}') && strncasecmp(s + o, esc, m) == 0)
				return true;
	}
	return false;
}

static void on_range(struct pub *p, void *reply, void *priv, uint64_t tag);

static void send_range(struct pub *p, struct erase_job *j)
{
	const char *key = pub_conn_stream_key(p, j->stream);
	const char *argv[6] = {"XRANGE", key, j->cursor, j->end, "COUNT", "256"};
	size_t len[6] = {6, strlen(key), strlen(j->cursor), strlen(j->end), 5, 3};

	if (pub_conn_cmd(p, on_range, NULL, job_tag(j), 6, argv, len) == 0)
		j->outstanding++;
	/* else: not connected any more; conn_lost restarts the job */
}

static void job_finish(struct pub *p, struct erase_job *j)
{
	struct pub_erase_q *q = *pub_conn_erase_slot(p);

	q->head = j->next;
	if (!q->head)
		q->tail = NULL;
	pub_conn_count_erasure(p, j->res.events_removed + j->res.leads_removed);
	CL_LOG_INFO("redis: erasure %" PRIu64 " done: %" PRIu64 " event and %" PRIu64
		    " lead entries removed",
		    j->id, j->res.events_removed, j->res.leads_removed);
	if (j->done)
		j->done(j->arg, &j->res);
	job_free(j);
	pub_erase_kick(p);
}

static void on_xdel(struct pub *p, void *reply, void *priv, uint64_t tag)
{
	struct erase_job *j = job_of(p, tag);
	redisReply *r = reply;
	int stream = (int)(uintptr_t)priv;

	if (!j || !r)
		return;
	j->outstanding--;
	if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
		if (stream == PUB_STREAM_LEADS)
			j->res.leads_removed += (uint64_t)r->integer;
		else
			j->res.events_removed += (uint64_t)r->integer;
	}
	if (j->stream == PUB_NSTREAMS && j->outstanding == 0)
		job_finish(p, j);
}

/* Next stream (or the end) after the current one is walked. */
static void next_stream(struct pub *p, struct erase_job *j)
{
	j->stream++;
	if (j->stream < PUB_NSTREAMS) {
		snprintf(j->cursor, sizeof j->cursor, "-");
		send_range(p, j);
	} else if (j->outstanding == 0) {
		job_finish(p, j);
	}
}

static void on_range(struct pub *p, void *reply, void *priv, uint64_t tag)
{
	struct erase_job *j = job_of(p, tag);
	redisReply *r = reply;
	const char *argv[2 + ERASE_BATCH];
	size_t len[2 + ERASE_BATCH];
	int argc = 2;
	(void)priv;

	if (!j || !r)
		return;
	j->outstanding--;
	if (r->type != REDIS_REPLY_ARRAY) {
		/* No such stream is an empty array; an error means this stream
		 * cannot be walked (logged by pub.c): go on with the next. */
		next_stream(p, j);
		return;
	}
	const char *key = pub_conn_stream_key(p, j->stream);
	argv[0] = "XDEL";
	len[0] = 4;
	argv[1] = key;
	len[1] = strlen(key);
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		redisReply *f = e->element[1];
		bool hit = false;
		for (size_t k = 1; f->type == REDIS_REPLY_ARRAY && k < f->elements && !hit; k += 2) {
			redisReply *v = f->element[k];
			if (v->type != REDIS_REPLY_STRING)
				continue;
			if (j->stream == PUB_STREAM_EVENTS)
				hit = json_matches(j, v->str, v->len);
			else
				hit = value_matches(j, v->str, v->len);
		}
		if (hit && argc < (int)(2 + ERASE_BATCH)) {
			argv[argc] = e->element[0]->str;
			len[argc++] = e->element[0]->len;
		}
	}
	if (argc > 2 && pub_conn_cmd(p, on_xdel, (void *)(uintptr_t)j->stream, job_tag(j), argc,
				     argv, len) == 0)
		j->outstanding++;
	if (r->elements == ERASE_BATCH) {
		/* Go on after the last entry: its ID + 1. */
		redisReply *last = r->element[r->elements - 1];
		struct pub_stream_id id;
		if (last->type == REDIS_REPLY_ARRAY && last->elements == 2 &&
		    last->element[0]->type == REDIS_REPLY_STRING &&
		    pub_stream_id_parse(last->element[0]->str, last->element[0]->len, &id) == 0) {
			if (id.seq == UINT64_MAX) {
				id.ms++;
				id.seq = 0;
			} else {
				id.seq++;
			}
			pub_stream_id_format(&id, j->cursor, sizeof j->cursor);
			send_range(p, j);
			return;
		}
	}
	next_stream(p, j);
}

void pub_erase_kick(struct pub *p)
{
	struct pub_erase_q *q = *pub_conn_erase_slot(p);
	struct erase_job *j = q ? q->head : NULL;

	if (!j || j->running || !pub_conn_settled(p, &j->upto))
		return;
	struct pub_stream_id end;
	pub_conn_last_id(p, &end);
	if (pub_stream_id_cmp(&end, &j->upto) < 0)
		end = j->upto;
	pub_stream_id_format(&end, j->end, sizeof j->end);
	j->running = true;
	j->stream = PUB_STREAM_EVENTS;
	j->outstanding = 0;
	snprintf(j->cursor, sizeof j->cursor, "-");
	send_range(p, j);
}

void pub_erase_conn_lost(struct pub *p)
{
	struct pub_erase_q *q = *pub_conn_erase_slot(p);
	struct erase_job *j = q ? q->head : NULL;

	if (j && j->running) {
		j->running = false;
		j->gen++;
		j->res.restarts++;
	}
}

void pub_erase_free_all(struct pub *p)
{
	struct pub_erase_q **slot = pub_conn_erase_slot(p);
	struct pub_erase_q *q = *slot;

	if (!q)
		return;
	while (q->head) {
		struct erase_job *j = q->head;
		q->head = j->next;
		job_free(j);
	}
	free(q);
	*slot = NULL;
}

int pub_erase(struct pub *p, const char *const *values, size_t n,
	      void (*done)(void *arg, const struct pub_erase_result *r), void *arg)
{
	struct erase_job *j = NULL;

	if (!p)
		return 0;
	if (!values || n == 0 || n > ERASE_MAX_VALUES)
		return -PUB_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!values[i] || !*values[i] || strnlen(values[i], PUB_VALUE_MAX + 1) > PUB_VALUE_MAX)
			return -PUB_EINVAL;
	struct pub_erase_q **slot = pub_conn_erase_slot(p);
	if (!*slot && !(*slot = calloc(1, sizeof **slot)))
		return -PUB_ENOMEM;
	if (!(j = calloc(1, sizeof *j)))
		return -PUB_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!(j->values[i] = strdup(values[i]))) {
			job_free(j);
			return -PUB_ENOMEM;
		}
		j->vlen[i] = strlen(values[i]);
		j->n = i + 1;
	}
	struct pub_erase_q *q = *slot;
	j->id = ++q->next_id;
	j->done = done;
	j->arg = arg;
	pub_conn_last_id(p, &j->upto);
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	pub_erase_kick(p);
	return 0;
}

void pub_erase_cancel(struct pub *p, void *arg)
{
	struct pub_erase_q *q = p ? *pub_conn_erase_slot(p) : NULL;
	struct erase_job **pp, *prev = NULL;

	if (!q)
		return;
	for (pp = &q->head; *pp;) {
		struct erase_job *j = *pp;
		if (j->arg == arg) {
			*pp = j->next;
			job_free(j); /* replies of a running scan find no job: ignored */
			continue;
		}
		prev = j;
		pp = &j->next;
	}
	q->tail = prev;
	pub_erase_kick(p);
}

size_t pub_erase_pending(const struct pub *p)
{
	struct pub_erase_q *q = p ? *pub_conn_erase_slot((struct pub *)p) : NULL;
	size_t n = 0;

	for (struct erase_job *j = q ? q->head : NULL; j; j = j->next)
		n++;
	return n;
}
