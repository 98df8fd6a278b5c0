/*
 * pub_integ.c — the Redis publisher against a real redis-server.
 *
 * Started by pub_run.sh, which passes PORT DIR CTL: the server listens on
 * 127.0.0.1:PORT and DIR/redis.sock, keeps its AOF in DIR, and
 * "CTL --ctl kill|start DIR PORT" kills it (SIGKILL) or starts it again.
 * Each test drives a fresh event_base with the publisher on it and checks
 * what landed in Redis through a separate blocking hiredis connection.
 * The event stream is read through tstream, which checks its batched format
 * (n events per entry as JSON, entry ID = last event's id, ids increasing,
 * non-routing events alone) on every read; counts are of events unless they
 * say entries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "pub.h"
#include "tstream.h"

/* Set once in main from argv, read-only afterwards. */
static struct {
	int port;
	const char *dir;
	const char *ctl;
} env;

struct fx {
	struct event_base *base;
	redisContext *rc;
	struct cfg_redis cfg;
	char sock[256];
	char journal[256];
};

static redisContext *rc_open(void)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", env.port, tv);

	assert_non_null(c);
	assert_int_equal(c->err, 0);
	redisSetTimeout(c, tv);
	return c;
}

static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	return r;
}

static long long cmd_int(redisContext *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

/* HGET as a string into buf ("" when missing). */
static const char *hget(redisContext *c, const char *key, const char *field, char *buf,
			size_t len)
{
	redisReply *r = cmd(c, "HGET %s %s", key, field);

	buf[0] = '\0';
	if (r->type == REDIS_REPLY_STRING)
		snprintf(buf, len, "%s", r->str);
	freeReplyObject(r);
	return buf;
}

static void ctl(const char *what)
{
	char line[1024];

	snprintf(line, sizeof line, "'%s' --ctl %s '%s' %d", env.ctl, what, env.dir, env.port);
	assert_int_equal(system(line), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	f->base = event_base_new();
	f->rc = rc_open();
	freeReplyObject(cmd(f->rc, "FLUSHALL"));
	snprintf(f->sock, sizeof f->sock, "%s/redis.sock", env.dir);
	snprintf(f->journal, sizeof f->journal, "%s/journal", env.dir);
	unlink(f->journal);
	f->cfg.enabled = true;
	f->cfg.host = "127.0.0.1";
	f->cfg.port = (uint16_t)env.port;
	f->cfg.prefix = "t:";
	f->cfg.stream_maxlen = 100000;
	f->cfg.call_ttl_s = 600;
	f->cfg.max_inflight = 1000;
	f->cfg.buffer_events = 10000;
	f->cfg.snapshot_ms = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	redisFree(f->rc);
	event_base_free(f->base);
	unlink(f->journal);
	free(f);
	return 0;
}

/* ---- running the loop until something holds ---- */

struct waiter {
	bool (*pred)(void *);
	void *arg;
	bool ok;
	struct event_base *base;
};

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;

	if (w->pred(w->arg)) {
		w->ok = true;
		event_base_loopbreak(w->base);
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Run the loop until pred holds or timeout_ms passed. The deadline is an
 * event of its own (freed here), not event_base_loopexit, whose pending exit
 * would end a later run early. */
static bool run_until(struct event_base *base, bool (*pred)(void *), void *arg, int timeout_ms)
{
	struct waiter w = {pred, arg, false, base};
	struct event *poll = event_new(base, -1, EV_PERSIST, on_poll, &w);
	struct event *dl = evtimer_new(base, on_deadline, base);
	struct timeval tick = {0, 2000}, to = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	if (pred(arg))
		w.ok = true;
	else {
		evtimer_add(poll, &tick);
		evtimer_add(dl, &to);
		event_base_dispatch(base);
	}
	event_free(poll);
	event_free(dl);
	return w.ok;
}

static void run_for(struct event_base *base, int ms)
{
	struct event *dl = evtimer_new(base, on_deadline, base);
	struct timeval to = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(dl, &to);
	event_base_dispatch(base);
	event_free(dl);
}

static bool is_connected(void *p) { return pub_connected(p); }

/* Everything accepted is in the stream and nothing is in flight. */
static bool is_drained(void *arg)
{
	struct pub_stats s;

	pub_get_stats(arg, &s);
	return s.connected && pub_backlog(arg) == 0 && s.inflight == 0 && s.state_pending == 0;
}

/* ---- checks on the stream ---- */

/* Read the event stream key of the selected db (format checked) into s. */
static void read_events(redisContext *c, const char *key, struct tstream *s)
{
	char err[512];

	tstream_init(s);
	if (tstream_read(c, key, s, err, sizeof err) < 0) {
		tstream_free(s);
		fail_msg("%s: %s", key, err);
	}
}

/* The whole stream t:events must hold exactly the events ids[0..n), in
 * order, once each, event i carrying n=first+i, in entries of at most
 * max_batch events; XLEN counts its entries. Returns the entries. */
static size_t check_stream(redisContext *c, const struct pub_stream_id *ids, size_t n,
			   size_t first, size_t max_batch)
{
	char want[PUB_STREAM_ID_LEN], num[24];
	struct tstream s;

	read_events(c, "t:events", &s);
	assert_int_equal(s.n, n);
	for (size_t i = 0; i < n; i++) {
		const struct tstream_event *e = &s.ev[i];
		pub_stream_id_format(&ids[i], want, sizeof want);
		assert_string_equal(e->id, want);
		snprintf(num, sizeof num, "%zu", first + i);
		const char *got = tstream_get(e, "n");
		assert_non_null(got);
		assert_string_equal(got, num);
		assert_true(e->entry_n >= 1 && e->entry_n <= max_batch);
	}
	size_t entries = s.entries;
	assert_int_equal(cmd_int(c, "XLEN t:events"), (long long)entries);
	tstream_free(&s);
	return entries;
}

/* ---- tests ---- */

static void test_events(void **state)
{
	struct fx *f = *state;
	const size_t N = 2000;
	struct pub_stream_id *ids = calloc(N, sizeof *ids);
	char num[24];
	struct pub_stats st;

	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_non_null(p);
	assert_true(run_until(f->base, is_connected, p, 5000));
	for (size_t i = 0; i < N; i++) {
		snprintf(num, sizeof num, "%zu", i);
		struct pub_event ev = {
			.type = i % 2 ? "call.queued" : "call.offered",
			.ts_ms = 1700000000000ull + i,
			.call_id = "c-42",
			.territory = "de-south",
			.queue = i % 2 ? "de-south/partners" : NULL,
			.reason = "",
			.n_extra = 2,
			.extra = {{"n", num}, {"skill", "printers"}},
		};
		assert_int_equal(pub_event(p, &ev, &ids[i]), 0);
	}
	assert_true(run_until(f->base, is_drained, p, 10000));
	pub_get_stats(p, &st);
	assert_int_equal(st.accepted, N);
	assert_int_equal(st.published, N);
	assert_int_equal(st.dup_skipped, 0);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.errors, 0);
	size_t entries = check_stream(f->rc, ids, N, 0, 64);
	/* Events queued behind the command cap went out in shared entries. */
	assert_int_equal(st.entries, entries);
	assert_true(entries < N);

	/* The fields of one event, exactly and in order. */
	char id[PUB_STREAM_ID_LEN];
	struct tstream s;
	pub_stream_id_format(&ids[7], id, sizeof id);
	read_events(f->rc, "t:events", &s);
	const struct tstream_event *e7 = &s.ev[7];
	assert_string_equal(e7->id, id);
	const char *want[] = {"id", id, "type", "call.queued", "ts", "1700000000007",
			      "call", "c-42", "territory", "de-south", "queue",
			      "de-south/partners", "n", "7", "skill", "printers"};
	assert_int_equal(json_object_size(e7->obj) * 2, sizeof want / sizeof want[0]);
	size_t k = 0;
	const char *key;
	json_t *val;
	json_object_foreach(e7->obj, key, val) {
		assert_string_equal(key, want[k]);
		assert_string_equal(json_string_value(val), want[k + 1]);
		k += 2;
	}
	/* Event 6 (call.offered) has no queue: the empty field is left out. */
	assert_null(tstream_get(&s.ev[6], "queue"));
	assert_null(tstream_get(&s.ev[6], "reason"));
	tstream_free(&s);

	/* A consumer group reads them all, in order: every entry once, and
	 * in them every event. */
	freeReplyObject(cmd(f->rc, "XGROUP CREATE t:events crm 0"));
	redisReply *r = cmd(f->rc, "XREADGROUP GROUP crm worker-1 COUNT 5000 STREAMS t:events >");
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->element[0]->element[1]->elements, entries);
	char err[512];
	tstream_init(&s);
	if (tstream_add_entries(&s, r->element[0]->element[1], err, sizeof err) < 0)
		fail_msg("XREADGROUP: %s", err);
	freeReplyObject(r);
	assert_int_equal(s.n, N);
	for (size_t i = 0; i < N; i++) {
		pub_stream_id_format(&ids[i], id, sizeof id);
		assert_string_equal(s.ev[i].id, id);
	}
	tstream_free(&s);
	pub_free(p);
	free(ids);
}

/* MAXLEN trims whole entries, oldest first: what stays is the newest
 * events, in order, none missing in between. */
static void check_tail(redisContext *c, const struct pub_stream_id *ids, size_t sent,
		       size_t max_batch, size_t *events, size_t *entries)
{
	struct tstream s;
	char want[PUB_STREAM_ID_LEN];

	read_events(c, "t:events", &s);
	assert_true(s.n > 0 && s.n <= sent);
	for (size_t i = 0; i < s.n; i++) {
		pub_stream_id_format(&ids[sent - s.n + i], want, sizeof want);
		assert_string_equal(s.ev[i].id, want);
		assert_true(s.ev[i].entry_n <= max_batch);
	}
	assert_int_equal(cmd_int(c, "XLEN t:events"), (long long)s.entries);
	*events = s.n;
	*entries = s.entries;
	tstream_free(&s);
}

static void test_maxlen(void **state)
{
	struct fx *f = *state;
	const size_t N = 3000;
	struct pub_stream_id *ids = calloc(N, sizeof *ids);
	size_t events, entries;

	f->cfg.stream_maxlen = 100;
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_true(run_until(f->base, is_connected, p, 5000));
	/* Events of their own: one entry each. */
	for (size_t i = 0; i < 1000; i++) {
		struct pub_event ev = {.type = "x"};
		assert_int_equal(pub_event(p, &ev, &ids[i]), 0);
	}
	assert_true(run_until(f->base, is_drained, p, 10000));
	check_tail(f->rc, ids, 1000, 1, &events, &entries);
	/* Approximate trimming: whole nodes go, so a bit over 100 stays. */
	assert_true(entries >= 100 && entries < 400);
	assert_int_equal(events, entries);
	pub_free(p);

	/* Routing events share entries (at most stream_batch): the cap is on
	 * entries, so more events than that stay. */
	freeReplyObject(cmd(f->rc, "DEL t:events"));
	f->cfg.stream_batch = 4;
	p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_true(run_until(f->base, is_connected, p, 5000));
	for (size_t i = 0; i < N; i++) {
		struct pub_event ev = {.type = "call.x"};
		assert_int_equal(pub_event(p, &ev, &ids[i]), 0);
	}
	assert_true(run_until(f->base, is_drained, p, 10000));
	check_tail(f->rc, ids, N, 4, &events, &entries);
	assert_true(entries >= 100 && entries < 400);
	assert_true(events > entries);
	pub_free(p);
	free(ids);
}

static void test_state(void **state)
{
	struct fx *f = *state;
	char b[128];

	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_true(run_until(f->base, is_connected, p, 5000));
	struct pub_target t = {.id = "rep-1", .name = "Ann", .kind = "rep", .state = "not_ready",
			       .reason = "lunch", .since_ms = 111, .active = 0, .capacity = 1,
			       .calls_today = 7, .last_end_ms = 99, .closed = true};
	assert_int_equal(pub_target(p, &t), 0);
	struct pub_queue q = {.name = "de/partners", .territory = "de", .waiting = 3,
			      .available = 0, .members = 12, .oldest_ms = 5,
			      .oldest_call = "c-1"};
	assert_int_equal(pub_queue(p, &q), 0);
	struct pub_call live = {.id = "c-1", .territory = "de", .plan = "soho", .state = "queued",
				.queue = "de/partners", .step = 1, .priority = 5,
				.offered_ms = 1000, .queued_ms = 1001};
	struct pub_call done = {.id = "c-2", .territory = "de", .plan = "soho", .state = "ended",
				.target_id = "rep-1", .reason = "completed", .offered_ms = 900,
				.answered_ms = 950, .ended_ms = 1200, .ended = true};
	struct pub_call done_live = done;
	done_live.ended = false;
	done_live.state = "connected";
	done_live.ended_ms = 0;
	assert_int_equal(pub_call(p, &live), 0);
	assert_int_equal(pub_call(p, &done_live), 0);
	assert_true(run_until(f->base, is_drained, p, 5000));
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:calls c-2"), 1);
	assert_int_equal(pub_call(p, &done), 0);
	assert_true(run_until(f->base, is_drained, p, 5000));

	assert_string_equal(hget(f->rc, "t:target:rep-1", "name", b, sizeof b), "Ann");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "kind", b, sizeof b), "rep");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "state", b, sizeof b), "not_ready");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "reason", b, sizeof b), "lunch");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "since_ms", b, sizeof b), "111");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "capacity", b, sizeof b), "1");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "calls_today", b, sizeof b), "7");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "last_end_ms", b, sizeof b), "99");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "closed", b, sizeof b), "1");
	assert_int_equal(cmd_int(f->rc, "HLEN t:target:rep-1"), 12);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:targets rep-1"), 1);
	assert_string_equal(hget(f->rc, "t:queue:de/partners", "waiting", b, sizeof b), "3");
	assert_string_equal(hget(f->rc, "t:queue:de/partners", "members", b, sizeof b), "12");
	assert_string_equal(hget(f->rc, "t:queue:de/partners", "oldest_call", b, sizeof b), "c-1");
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:queues de/partners"), 1);
	assert_string_equal(hget(f->rc, "t:call:c-1", "state", b, sizeof b), "queued");
	assert_string_equal(hget(f->rc, "t:call:c-1", "step", b, sizeof b), "1");
	assert_string_equal(hget(f->rc, "t:call:c-1", "ended", b, sizeof b), "0");
	assert_int_equal(cmd_int(f->rc, "TTL t:call:c-1"), -1);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:calls c-1"), 1);
	/* The ended call: final state, a TTL, out of the live set. */
	assert_string_equal(hget(f->rc, "t:call:c-2", "state", b, sizeof b), "ended");
	assert_string_equal(hget(f->rc, "t:call:c-2", "ended", b, sizeof b), "1");
	assert_string_equal(hget(f->rc, "t:call:c-2", "ended_ms", b, sizeof b), "1200");
	assert_string_equal(hget(f->rc, "t:call:c-2", "target", b, sizeof b), "rep-1");
	long long ttl = cmd_int(f->rc, "TTL t:call:c-2");
	assert_true(ttl > 590 && ttl <= 600);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:calls c-2"), 0);

	/* An update rewrites every field: the reason is cleared. */
	t.state = "ready";
	t.reason = NULL;
	assert_int_equal(pub_target(p, &t), 0);
	assert_true(run_until(f->base, is_drained, p, 5000));
	assert_string_equal(hget(f->rc, "t:target:rep-1", "state", b, sizeof b), "ready");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "reason", b, sizeof b), "");

	/* Deletion. */
	assert_int_equal(pub_target_del(p, "rep-1"), 0);
	assert_int_equal(pub_queue_del(p, "de/partners"), 0);
	assert_true(run_until(f->base, is_drained, p, 5000));
	assert_int_equal(cmd_int(f->rc, "EXISTS t:target:rep-1"), 0);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:targets rep-1"), 0);
	assert_int_equal(cmd_int(f->rc, "EXISTS t:queue:de/partners"), 0);
	pub_free(p);
}

/* With one command slot, updates of one object coalesce: the last wins. */
static void test_latest_wins(void **state)
{
	struct fx *f = *state;
	struct pub_stats st;
	char b[64], reason[16];

	f->cfg.max_inflight = 1;
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_true(run_until(f->base, is_connected, p, 5000));
	run_for(f->base, 150); /* the first health write is answered */
	for (int i = 0; i < 100; i++) {
		snprintf(reason, sizeof reason, "r%d", i);
		struct pub_target t = {.id = "rep-9", .state = "not_ready", .reason = reason};
		assert_int_equal(pub_target(p, &t), 0);
	}
	pub_get_stats(p, &st);
	assert_true(st.state_pending <= 1);
	assert_true(run_until(f->base, is_drained, p, 5000));
	assert_string_equal(hget(f->rc, "t:target:rep-9", "reason", b, sizeof b), "r99");
	pub_free(p);
}

struct hwant {
	redisContext *rc;
	const char *key, *field, *want;
};

static bool hash_has(void *arg)
{
	struct hwant *w = arg;
	char b[128];

	return strcmp(hget(w->rc, w->key, w->field, b, sizeof b), w->want) == 0;
}

static bool idle(void *arg) { return pub_idle(arg); }

/*
 * With state_flush_ms, updates wait for their delay: a hash is not
 * written at once, then once with its latest state. pub_flush sends what
 * waits without waiting for the delay (a clean stop).
 */
static void test_state_flush(void **state)
{
	struct fx *f = *state;
	struct pub_stats st;
	char b[64], reason[16];

	f->cfg.state_flush_ms = 1000;
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_true(run_until(f->base, is_connected, p, 5000));
	assert_true(run_until(f->base, idle, p, 5000));
	for (int i = 0; i < 50; i++) {
		snprintf(reason, sizeof reason, "r%d", i);
		struct pub_target t = {.id = "rep-7", .state = "not_ready", .reason = reason};
		assert_int_equal(pub_target(p, &t), 0);
	}
	pub_get_stats(p, &st);
	assert_int_equal(st.state_pending, 1);
	assert_false(pub_idle(p));
	run_for(f->base, 200); /* well before the delay */
	assert_int_equal(cmd_int(f->rc, "EXISTS t:target:rep-7"), 0);
	pub_get_stats(p, &st);
	assert_int_equal(st.state_pending, 1);
	struct hwant w = {f->rc, "t:target:rep-7", "reason", "r49"};
	assert_true(run_until(f->base, hash_has, &w, 5000));
	assert_string_equal(hget(f->rc, "t:target:rep-7", "state", b, sizeof b), "not_ready");
	assert_true(run_until(f->base, idle, p, 5000));
	pub_get_stats(p, &st);
	assert_int_equal(st.state_pending, 0);

	/* pub_flush: written well within the delay. */
	struct pub_target t = {.id = "rep-7", .state = "ready"};
	assert_int_equal(pub_target(p, &t), 0);
	pub_flush(p);
	assert_true(run_until(f->base, idle, p, 500));
	assert_string_equal(hget(f->rc, "t:target:rep-7", "state", b, sizeof b), "ready");
	assert_string_equal(hget(f->rc, "t:target:rep-7", "reason", b, sizeof b), "");
	pub_free(p);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Each update waits state_flush_ms from its own first change, not for a
 * tick common to all: an update made half a period after another is written
 * half a period after it, so Redis gets the writes spread out as the
 * changes came, not all of a period's at once.
 */
static void test_state_paced(void **state)
{
	struct fx *f = *state;

	f->cfg.state_flush_ms = 1000;
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_true(run_until(f->base, is_connected, p, 5000));
	assert_true(run_until(f->base, idle, p, 5000));

	struct pub_target a = {.id = "rep-a", .state = "ready"};
	uint64_t t0 = mono_ms();
	assert_int_equal(pub_target(p, &a), 0);
	run_for(f->base, 500);
	struct pub_target b = {.id = "rep-b", .state = "not_ready"};
	uint64_t t1 = mono_ms();
	assert_int_equal(pub_target(p, &b), 0);

	struct hwant wa = {f->rc, "t:target:rep-a", "state", "ready"};
	assert_true(run_until(f->base, hash_has, &wa, 5000));
	uint64_t ta = mono_ms();
	/* Not before its delay (less the timer's few milliseconds of grain)... */
	assert_true(ta - t0 >= 900);
	/* ...and the later update still waits for its own. */
	assert_int_equal(cmd_int(f->rc, "EXISTS t:target:rep-b"), 0);
	struct hwant wb = {f->rc, "t:target:rep-b", "state", "not_ready"};
	assert_true(run_until(f->base, hash_has, &wb, 5000));
	assert_true(mono_ms() - t1 >= 900);
	assert_true(run_until(f->base, idle, p, 5000));
	pub_free(p);
}

/*
 * Redis stalls (SIGSTOP) while the publisher has far more to write than its
 * socket holds: the rest waits in memory, the stall is counted, and once
 * Redis goes on every event lands, once and in order.
 */
static void test_stalled_server(void **state)
{
	struct fx *f = *state;
	const size_t N = 6000; /* about 4 KB each: far beyond the socket buffers */
	struct pub_stream_id *ids = calloc(N, sizeof *ids);
	char big[1001], num[24];
	struct pub_stats st;

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_non_null(p);
	assert_true(run_until(f->base, is_connected, p, 5000));
	ctl("stop");
	for (size_t i = 0; i < N; i++) {
		snprintf(num, sizeof num, "%zu", i);
		struct pub_event ev = {
			.type = "call.offered",
			.ts_ms = 1700000000000ull + i,
			.call_id = "c-1",
			.reason = big,
			.n_extra = 4,
			.extra = {{"n", num}, {"a", big}, {"b", big}, {"c", big}},
		};
		assert_int_equal(pub_event(p, &ev, &ids[i]), 0);
	}
	run_for(f->base, 1000);
	pub_get_stats(p, &st);
	ctl("cont");
	assert_true(st.write_stalls >= 1);
	assert_true(st.published < N);
	assert_true(run_until(f->base, is_drained, p, 30000));
	pub_get_stats(p, &st);
	assert_int_equal(st.published, N);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.reconnects, 0);
	check_stream(f->rc, ids, N, 0, 64);
	pub_free(p);
	free(ids);
}

/* Hooks of the dirty marks: what the engine's router would say now. */
struct dirty_state {
	int target_calls, call_calls;
	bool call_gone;
};

static bool dirty_target(void *arg, const char *id, struct pub_target *out)
{
	struct dirty_state *d = arg;

	d->target_calls++;
	*out = (struct pub_target){.id = id, .kind = "rep", .state = "busy", .active = 1};
	return true;
}

static bool dirty_call(void *arg, const char *id, struct pub_call *out)
{
	struct dirty_state *d = arg;

	d->call_calls++;
	if (d->call_gone)
		return false;
	*out = (struct pub_call){.id = id, .state = "connected", .target_id = "rep-9"};
	return true;
}

/*
 * pub_target_dirty / pub_call_dirty: bad ids and missing hooks are refused;
 * many marks make one hook call and one write, with the state at the write;
 * an object gone by then is not written at all.
 */
static void test_dirty_marks(void **state)
{
	struct fx *f = *state;
	struct dirty_state d = {0};
	char b[64];

	struct pub *bare = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_non_null(bare);
	assert_int_equal(pub_target_dirty(bare, "rep-9"), -PUB_EINVAL); /* no hook */
	assert_int_equal(pub_call_dirty(bare, "c-1"), -PUB_EINVAL);
	pub_free(bare);

	struct pub_hooks h = {.target = dirty_target, .call = dirty_call};
	struct pub *p = pub_new(f->base, &f->cfg, &h, &d);
	assert_true(run_until(f->base, is_connected, p, 5000));
	assert_int_equal(pub_target_dirty(p, ""), -PUB_EINVAL);
	assert_int_equal(pub_target_dirty(p, NULL), -PUB_EINVAL);
	char longid[PUB_ID_MAX + 2];
	memset(longid, 'x', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	assert_int_equal(pub_call_dirty(p, longid), -PUB_EINVAL);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(pub_target_dirty(p, "rep-9"), 0);
		assert_int_equal(pub_call_dirty(p, "c-1"), 0);
	}
	assert_true(run_until(f->base, idle, p, 5000));
	assert_int_equal(d.target_calls, 1);
	assert_int_equal(d.call_calls, 1);
	assert_string_equal(hget(f->rc, "t:target:rep-9", "state", b, sizeof b), "busy");
	assert_string_equal(hget(f->rc, "t:call:c-1", "target", b, sizeof b), "rep-9");
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:calls c-1"), 1);

	/* Gone when written: nothing is written, the old hash stays. */
	d.call_gone = true;
	assert_int_equal(pub_call_dirty(p, "c-2"), 0);
	assert_true(run_until(f->base, idle, p, 5000));
	assert_int_equal(d.call_calls, 2);
	assert_int_equal(cmd_int(f->rc, "EXISTS t:call:c-2"), 0);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:calls c-2"), 0);
	pub_free(p);
}

static void totals_hook(void *arg, struct pub_totals *out)
{
	int *calls = arg;

	(*calls)++;
	out->offered = 1000;
	out->routed = 900;
	out->queued = 300;
	out->rejected = 20;
	out->abandoned = 30;
	out->completed = 800;
	out->live_calls = 50;
	out->waiting_calls = 4;
	out->targets_ready = 10;
	out->targets_busy = 40;
	out->targets_not_ready = 3;
	out->targets_wrap_up = 2;
	out->targets_logged_out = 5;
}

static bool totals_seen(void *arg)
{
	redisContext *c = arg;

	return cmd_int(c, "EXISTS t:totals") == 1;
}

static void test_totals_health(void **state)
{
	struct fx *f = *state;
	int calls = 0;
	char b[64];
	struct pub_hooks h = {.totals = totals_hook};

	struct pub *p = pub_new(f->base, &f->cfg, &h, &calls);
	assert_true(run_until(f->base, is_connected, p, 5000));
	struct pub_event ev = {.type = "x"};
	assert_int_equal(pub_event(p, &ev, NULL), 0);
	run_for(f->base, 350);
	assert_true(totals_seen(f->rc));
	assert_true(calls >= 2); /* at connect, then every snapshot_ms (100) */
	assert_string_equal(hget(f->rc, "t:totals", "offered", b, sizeof b), "1000");
	assert_string_equal(hget(f->rc, "t:totals", "abandoned", b, sizeof b), "30");
	assert_string_equal(hget(f->rc, "t:totals", "waiting_calls", b, sizeof b), "4");
	assert_string_equal(hget(f->rc, "t:totals", "targets_logged_out", b, sizeof b), "5");
	uint64_t ts = strtoull(hget(f->rc, "t:totals", "ts_ms", b, sizeof b), NULL, 10);
	struct timeval now;
	gettimeofday(&now, NULL);
	uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000;
	assert_true(ts <= now_ms && now_ms - ts < 1000);

	assert_string_equal(hget(f->rc, "t:pub", "connected", b, sizeof b), "1");
	assert_string_equal(hget(f->rc, "t:pub", "published", b, sizeof b), "1");
	assert_string_equal(hget(f->rc, "t:pub", "accepted", b, sizeof b), "1");
	assert_string_equal(hget(f->rc, "t:pub", "dropped", b, sizeof b), "0");
	assert_string_equal(hget(f->rc, "t:pub", "backlog", b, sizeof b), "0");
	assert_string_equal(hget(f->rc, "t:pub", "journaled", b, sizeof b), "0");
	assert_string_equal(hget(f->rc, "t:pub", "connects", b, sizeof b), "1");
	assert_string_equal(hget(f->rc, "t:pub", "entries", b, sizeof b), "1");
	assert_string_equal(hget(f->rc, "t:pub", "write_stalls", b, sizeof b), "0");
	struct tstream s;
	read_events(f->rc, "t:events", &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(hget(f->rc, "t:pub", "last_id", b, sizeof b), s.ev[0].id);
	tstream_free(&s);
	pub_free(p);
}

static void test_pubsub(void **state)
{
	struct fx *f = *state;
	const int N = 300;
	struct pub_stream_id ids[300];
	char num[16], idtxt[PUB_STREAM_ID_LEN + 16];

	redisContext *sub = rc_open();
	redisReply *r = cmd(sub, "SUBSCRIBE t:events:live");
	freeReplyObject(r);
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_true(run_until(f->base, is_connected, p, 5000));
	for (int i = 0; i < N; i++) {
		snprintf(num, sizeof num, "%d", i);
		struct pub_event ev = {.type = "call.offered", .call_id = "c\"1",
				       .n_extra = 1, .extra = {{"n", num}}};
		assert_int_equal(pub_event(p, &ev, &ids[i]), 0);
	}
	assert_true(run_until(f->base, is_drained, p, 5000));
	run_for(f->base, 50);

	/* Messages are JSON arrays of events, in stream order, each once. */
	int seen = 0;
	while (seen < N) {
		void *vr = NULL;
		assert_int_equal(redisGetReply(sub, &vr), REDIS_OK);
		r = vr;
		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		assert_string_equal(r->element[0]->str, "message");
		assert_string_equal(r->element[1]->str, "t:events:live");
		const char *js = r->element[2]->str;
		assert_true(js[0] == '[' && js[r->element[2]->len - 1] == ']');
		const char *at = js;
		for (;;) {
			const char *o = strstr(at, "{\"id\":\"");
			if (!o)
				break;
			assert_true(seen < N);
			char want[PUB_STREAM_ID_LEN];
			pub_stream_id_format(&ids[seen], want, sizeof want);
			snprintf(idtxt, sizeof idtxt, "{\"id\":\"%s\",", want);
			assert_memory_equal(o, idtxt, strlen(idtxt));
			snprintf(idtxt, sizeof idtxt, "\"n\":\"%d\"}", seen);
			assert_non_null(strstr(o, idtxt));
			assert_non_null(strstr(o, "\"call\":\"c\\\"1\""));
			seen++;
			at = o + 1;
		}
		freeReplyObject(r);
	}
	assert_int_equal(seen, N);
	redisFree(sub);
	pub_free(p);
}

/* ---- resync ---- */

struct rs {
	int count;
	char gen[16];
};

static void resync_hook(void *arg, struct pub *p)
{
	struct rs *s = arg;

	s->count++;
	snprintf(s->gen, sizeof s->gen, "gen-%d", s->count);
	const char *ids[] = {"rep-1", "rep-2", "partner-9"};
	for (int i = 0; i < 3; i++) {
		struct pub_target t = {.id = ids[i], .kind = i == 2 ? "partner" : "rep",
				       .state = s->gen, .capacity = i == 2 ? 20 : 1};
		assert_int_equal(pub_target(p, &t), 0);
	}
	struct pub_queue q = {.name = "q1", .territory = "de", .waiting = 1,
			      .oldest_call = "c-live"};
	assert_int_equal(pub_queue(p, &q), 0);
	struct pub_call c = {.id = "c-live", .state = "queued", .queue = "q1", .plan = s->gen};
	assert_int_equal(pub_call(p, &c), 0);
}

static bool resynced(void *arg)
{
	void **a = arg;
	struct rs *s = a[1];

	return s->count >= 1 && is_drained(a[0]);
}

/* SMEMBERS as a sorted, comma-joined string. */
static const char *members(redisContext *c, const char *key, char *buf, size_t len)
{
	redisReply *r = cmd(c, "SORT %s ALPHA", key);
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->elements; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", r->element[i]->str);
	freeReplyObject(r);
	return buf;
}

static void test_resync(void **state)
{
	struct fx *f = *state;
	struct rs s = {0};
	struct pub_hooks h = {.resync = resync_hook};
	char b[128];

	/* Left over from an earlier run: stale objects and a stale field. */
	freeReplyObject(cmd(f->rc, "HSET t:target:gone state ready"));
	freeReplyObject(cmd(f->rc, "SADD t:targets gone rep-1"));
	freeReplyObject(cmd(f->rc, "HSET t:target:rep-1 state busy reason old old_field x"));
	freeReplyObject(cmd(f->rc, "HSET t:call:c-old state connected"));
	freeReplyObject(cmd(f->rc, "SADD t:calls c-old c-live"));
	freeReplyObject(cmd(f->rc, "HSET t:queue:q-old waiting 9"));
	freeReplyObject(cmd(f->rc, "SADD t:queues q-old"));

	struct pub *p = pub_new(f->base, &f->cfg, &h, &s);
	void *arg[2] = {p, &s};
	assert_true(run_until(f->base, resynced, arg, 5000));
	run_for(f->base, 50);
	assert_true(is_drained(p));
	assert_int_equal(s.count, 1);
	assert_string_equal(members(f->rc, "t:targets", b, sizeof b), "partner-9,rep-1,rep-2");
	assert_string_equal(members(f->rc, "t:queues", b, sizeof b), "q1");
	assert_string_equal(members(f->rc, "t:calls", b, sizeof b), "c-live");
	assert_int_equal(cmd_int(f->rc, "EXISTS t:target:gone"), 0);
	assert_int_equal(cmd_int(f->rc, "EXISTS t:call:c-old"), 0);
	assert_int_equal(cmd_int(f->rc, "EXISTS t:queue:q-old"), 0);
	/* Rewritten whole: the old state, reason and unknown field are gone. */
	assert_string_equal(hget(f->rc, "t:target:rep-1", "state", b, sizeof b), "gen-1");
	assert_string_equal(hget(f->rc, "t:target:rep-1", "reason", b, sizeof b), "");
	assert_int_equal(cmd_int(f->rc, "HEXISTS t:target:rep-1 old_field"), 0);
	assert_string_equal(hget(f->rc, "t:target:partner-9", "capacity", b, sizeof b), "20");
	assert_string_equal(hget(f->rc, "t:call:c-live", "plan", b, sizeof b), "gen-1");
	pub_free(p);
}

/* ---- outages ---- */

struct drive {
	struct pub *p;
	struct pub_stream_id *ids;
	size_t n, total, per_tick;
	size_t kill_at, start_at; /* kill Redis after kill_at events, start after start_at */
	bool killed, started;
	struct pub_stats at_restart;
	struct event *ev;
};

static void on_drive(evutil_socket_t fd, short what, void *arg)
{
	struct drive *d = arg;
	char num[24];

	for (size_t k = 0; k < d->per_tick && d->n < d->total; k++) {
		snprintf(num, sizeof num, "%zu", d->n);
		/* Routing events (shared entries) with a sales-like one now and
		 * then (an entry of its own). */
		struct pub_event ev = {.type = d->n % 7 == 3 ? "order.tick" : "call.tick",
				       .call_id = "c-x", .n_extra = 1, .extra = {{"n", num}}};
		assert_int_equal(pub_event(d->p, &ev, &d->ids[d->n]), 0);
		d->n++;
	}
	if (!d->killed && d->n >= d->kill_at) {
		ctl("kill"); /* with commands in flight */
		d->killed = true;
	}
	if (d->killed && !d->started && d->n >= d->start_at) {
		pub_get_stats(d->p, &d->at_restart);
		ctl("start");
		d->started = true;
	}
	if (d->n >= d->total)
		event_del(d->ev);
}

static bool drive_done(void *arg)
{
	struct drive *d = arg;

	return d->n >= d->total && d->started && is_drained(d->p);
}

static void test_fault(void **state)
{
	struct fx *f = *state;
	struct rs s = {0};
	struct pub_hooks h = {.resync = resync_hook};
	struct pub_stats st;
	char b[128];
	struct stat sb;

	f->cfg.max_inflight = 20;
	f->cfg.buffer_events = 50;
	f->cfg.journal = f->journal;
	struct pub *p = pub_new(f->base, &f->cfg, &h, &s);
	assert_non_null(p);
	assert_true(run_until(f->base, is_connected, p, 5000));

	struct drive d = {.p = p, .total = 1500, .per_tick = 10, .kill_at = 400,
			  .start_at = 1100};
	d.ids = calloc(d.total, sizeof *d.ids);
	d.ev = event_new(f->base, -1, EV_PERSIST, on_drive, &d);
	struct timeval tick = {0, 1000};
	evtimer_add(d.ev, &tick);
	assert_true(run_until(f->base, drive_done, &d, 30000));
	event_free(d.ev);
	redisFree(f->rc); /* its server was killed */
	f->rc = rc_open();

	/* While Redis was down: not connected, the buffer full, the rest journaled. */
	assert_false(d.at_restart.connected);
	assert_int_equal(d.at_restart.buffered, 70);
	assert_true(d.at_restart.journaled >= 600);
	assert_int_equal(d.at_restart.dropped, 0);

	pub_get_stats(p, &st);
	print_message("fault: published %" PRIu64 " dup_skipped %" PRIu64 " replayed %" PRIu64
		      " reconnects %" PRIu64 " errors %" PRIu64 "\n",
		      st.published, st.dup_skipped, st.replayed, st.reconnects, st.errors);
	assert_int_equal(st.accepted, d.total);
	assert_int_equal(st.published + st.dup_skipped, d.total);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.rebased, 0);
	assert_true(st.reconnects >= 1);
	assert_true(st.replayed >= 700);
	assert_int_equal(st.journaled, 0);
	/* Every event once, in order, with the IDs pub_event gave. */
	check_stream(f->rc, d.ids, d.total, 0, 64);
	/* The journal is empty again. */
	assert_int_equal(stat(f->journal, &sb), 0);
	assert_int_equal(sb.st_size, 0);

	/* State: what the last resync wrote. */
	assert_true(s.count >= 2);
	assert_string_equal(hget(f->rc, "t:target:rep-2", "state", b, sizeof b), s.gen);
	assert_string_equal(hget(f->rc, "t:target:partner-9", "state", b, sizeof b), s.gen);
	assert_string_equal(hget(f->rc, "t:call:c-live", "plan", b, sizeof b), s.gen);
	assert_string_equal(members(f->rc, "t:targets", b, sizeof b), "partner-9,rep-1,rep-2");
	assert_string_equal(members(f->rc, "t:calls", b, sizeof b), "c-live");
	free(d.ids);
	pub_free(p);
}

/* Redis down when the engine starts; events wait; then it comes up. */
static void test_down_at_start(void **state)
{
	struct fx *f = *state;
	struct pub_stream_id ids[100];
	char num[16];
	struct pub_stats st;

	ctl("kill");
	f->cfg.stream_batch = 16;
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_non_null(p);
	for (int i = 0; i < 100; i++) {
		snprintf(num, sizeof num, "%d", i);
		struct pub_event ev = {.type = "call.early", .n_extra = 1, .extra = {{"n", num}}};
		assert_int_equal(pub_event(p, &ev, &ids[i]), 0);
	}
	run_for(f->base, 300);
	pub_get_stats(p, &st);
	assert_false(st.connected);
	assert_true(st.errors >= 1);
	assert_int_equal(st.buffered, 100);
	ctl("start");
	redisFree(f->rc);
	f->rc = rc_open();
	assert_true(run_until(f->base, is_drained, p, 10000));
	pub_get_stats(p, &st);
	assert_int_equal(st.published, 100);
	assert_int_equal(st.replayed, 100);
	assert_int_equal(st.reconnects, 0); /* the first connection */
	assert_int_equal(st.connects, 1);
	/* All waiting when Redis came: full entries of stream_batch, then the rest. */
	assert_int_equal(check_stream(f->rc, ids, 100, 0, 16), 7);
	assert_int_equal(st.entries, 7);
	pub_free(p);
}

static bool no_inflight(void *arg)
{
	struct pub_stats s;

	pub_get_stats(arg, &s);
	return s.inflight == 0;
}

/*
 * The engine stops with events Redis has applied but whose replies it never
 * read, others only buffered, others journaled. pub_free saves all of them;
 * the next run replays them: the applied ones are refused as duplicates,
 * the rest go in, and the stream holds each event once, in order.
 */
static void restart_engine(struct fx *f, const char *type, uint64_t want_inflight,
			   size_t want_landed)
{
	struct pub_stream_id ids[300];
	char num[16];
	struct pub_stats st;

	f->cfg.journal = f->journal;
	f->cfg.max_inflight = 50;
	f->cfg.buffer_events = 50;
	f->cfg.snapshot_ms = 10000; /* no health writes in between */
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_true(run_until(f->base, is_connected, p, 5000));
	assert_true(run_until(f->base, no_inflight, p, 5000));
	for (int i = 0; i < 300; i++) {
		snprintf(num, sizeof num, "%d", i);
		struct pub_event ev = {.type = type, .n_extra = 1, .extra = {{"n", num}}};
		assert_int_equal(pub_event(p, &ev, &ids[i]), 0);
	}
	/* Nothing is sent before the loop runs: the ring is full, the rest journaled. */
	pub_get_stats(p, &st);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.buffered, 100);
	assert_int_equal(st.journaled, 200);
	/* One pass of the loop queues the XADDs (the ring's 100 events); the
	 * next one has hiredis write them; no reply is read. */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	pub_get_stats(p, &st);
	assert_int_equal(st.inflight, want_inflight);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	for (int i = 0; i < 200 && cmd_int(f->rc, "XLEN t:events") < (long long)want_inflight; i++)
		usleep(10000);
	assert_int_equal(cmd_int(f->rc, "XLEN t:events"), (long long)want_inflight);
	struct tstream s;
	read_events(f->rc, "t:events", &s);
	assert_int_equal(s.n, want_landed);
	tstream_free(&s);
	pub_get_stats(p, &st);
	assert_int_equal(st.published, 0);
	pub_free(p);

	p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_int_equal(pub_backlog(p), 300);
	/* Longer than snapshot_ms: a health write and its reply come in between. */
	bool drained = run_until(f->base, is_drained, p, 15000);
	pub_get_stats(p, &st);
	uint64_t backlog = pub_backlog(p);
	if (!drained) {
		pub_free(p);
		fail_msg("not drained: connected %d backlog %" PRIu64 " inflight %" PRIu64
			 " published %" PRIu64 " dup_skipped %" PRIu64 " errors %" PRIu64
			 " reconnects %" PRIu64 " entries %" PRIu64 " buffered %" PRIu64
			 " journaled %" PRIu64,
			 st.connected, backlog, st.inflight, st.published, st.dup_skipped,
			 st.errors, st.reconnects, st.entries, st.buffered, st.journaled);
	}
	assert_int_equal(st.dup_skipped, want_landed);
	assert_int_equal(st.published, 300 - want_landed);
	assert_int_equal(st.dropped, 0);
	check_stream(f->rc, ids, 300, 0, 64);
	pub_free(p);
}

/* Events of their own: 50 XADDs of one event each. */
static void test_restart_engine(void **state)
{
	restart_engine(*state, "e", 50, 50);
}

/* Routing events: the ring's 100 events in two entries (64 + 36); on the
 * next run the entries already in, whole, are recognised as such. */
static void test_restart_engine_batched(void **state)
{
	restart_engine(*state, "call.e", 2, 100);
}

static void totals_fixed(void *arg, struct pub_totals *out) { out->offered = 1; }

static void test_auth_db_unix(void **state)
{
	struct fx *f = *state;
	struct pub_stats st;

	/* The minimal ACL docs/redis.md gives; every command the publisher
	 * sends is exercised below (resync, ended call, totals, live channel). */
	freeReplyObject(cmd(f->rc, "ACL SETUSER cltest on >s3cret ~t:* &t:* +xadd +xinfo +hset "
				   "+del +expire +sadd +srem +smembers +multi +exec +publish "
				   "+select +ping"));
	f->cfg.user = "cltest";
	f->cfg.password = "s3cret";
	f->cfg.db = 3;
	f->cfg.unix_path = f->sock;
	struct rs s = {0};
	struct pub_hooks h = {.resync = resync_hook, .totals = totals_fixed};
	struct pub *p = pub_new(f->base, &f->cfg, &h, &s);
	assert_true(run_until(f->base, is_connected, p, 5000));
	for (int i = 0; i < 5; i++) {
		struct pub_event ev = {.type = "in-db-3"};
		assert_int_equal(pub_event(p, &ev, NULL), 0);
	}
	struct pub_call ended = {.id = "c-live", .state = "ended", .ended = true};
	run_for(f->base, 150);
	assert_int_equal(pub_call(p, &ended), 0);
	assert_true(run_until(f->base, is_drained, p, 5000));
	run_for(f->base, 150);
	pub_get_stats(p, &st);
	assert_int_equal(st.errors, 0);
	assert_int_equal(s.count, 1);
	pub_free(p);
	assert_int_equal(cmd_int(f->rc, "EXISTS t:events"), 0);
	freeReplyObject(cmd(f->rc, "SELECT 3"));
	struct tstream evs;
	read_events(f->rc, "t:events", &evs);
	assert_int_equal(evs.n, 5);
	assert_int_equal(evs.entries, 5); /* not routing events: one entry each */
	assert_int_equal(cmd_int(f->rc, "XLEN t:events"), 5);
	tstream_free(&evs);
	assert_int_equal(cmd_int(f->rc, "EXISTS t:totals"), 1);
	assert_int_equal(cmd_int(f->rc, "TTL t:call:c-live") > 0, 1);
	freeReplyObject(cmd(f->rc, "FLUSHDB"));
	freeReplyObject(cmd(f->rc, "SELECT 0"));

	/* A wrong password: never ready, errors counted, events kept. */
	f->cfg.password = "wrong";
	p = pub_new(f->base, &f->cfg, NULL, NULL);
	struct pub_event ev = {.type = "kept"};
	assert_int_equal(pub_event(p, &ev, NULL), 0);
	run_for(f->base, 400);
	pub_get_stats(p, &st);
	assert_false(st.connected);
	assert_true(st.errors >= 1);
	assert_int_equal(pub_backlog(p), 1);
	pub_free(p);
	freeReplyObject(cmd(f->rc, "ACL DELUSER cltest"));
}

/* Errors are shown (some tests provoke them on purpose); the rest is quiet. */
static void quiet(enum cl_log_level lvl, const char *msg, void *arg)
{
	if (lvl <= CL_LOG_LEVEL_ERROR)
		fprintf(stderr, "log: %s\n", msg);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s PORT DIR CTL (run through pub_run.sh)\n", argv[0]);
		return 2;
	}
	env.port = atoi(argv[1]);
	env.dir = argv[2];
	env.ctl = argv[3];
	signal(SIGPIPE, SIG_IGN); /* hiredis writes with write(2) */
	cl_log_set_sink(quiet, NULL);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maxlen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latest_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals_health, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pubsub, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_engine_batched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_paced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_db_unix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_at_start, setup, teardown),
	};
	return cmocka_run_group_tests_name("integ_pub", tests, NULL, NULL);
}
