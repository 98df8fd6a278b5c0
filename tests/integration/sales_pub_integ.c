/*
 * sales_pub_integ.c — what the sales loop needs from the Redis publisher,
 * against a real redis-server (started by pub_run.sh: PORT DIR CTL, where
 * "CTL --ctl kill|start DIR PORT" kills or restarts it):
 * - the lead stream is exactly once and in order across a Redis crash and
 *   across an engine restart with the journal, interleaved with events;
 * - generic hashes: index sets, TTLs, the resync sweep of stale ids;
 * - erasure: every matching entry of both streams goes (beyond one scan
 *   batch), nothing else; a request made while Redis is away runs later;
 *   an entry accepted just before the request is scrubbed too; events
 *   flagged personal have entries of their own, so routing events batched
 *   around them are left alone.
 * The event stream is batched (tstream.h): it is read and checked as events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "pub.h"
#include "tstream.h"

static struct {
	int port;
	const char *dir;
	const char *ctl;
} env;

struct fx {
	struct event_base *base;
	redisContext *rc;
	struct cfg_redis cfg;
	char journal[256];
};

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

static redisContext *rc_open(void)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", env.port, tv);
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	return c;
}

static void ctl(struct fx *f, const char *what)
{
	char line[1024];
	if (strcmp(what, "kill") == 0 && f->rc) {
		redisFree(f->rc);
		f->rc = NULL;
	}
	snprintf(line, sizeof line, "'%s' --ctl %s '%s' %d", env.ctl, what, env.dir, env.port);
	assert_int_equal(system(line), 0);
	if (strcmp(what, "start") == 0)
		f->rc = rc_open();
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->base = event_base_new();
	f->rc = rc_open();
	freeReplyObject(cmd(f->rc, "FLUSHALL"));
	snprintf(f->journal, sizeof f->journal, "%s/sales-journal", env.dir);
	unlink(f->journal);
	f->cfg.enabled = true;
	f->cfg.host = "127.0.0.1";
	f->cfg.port = (uint16_t)env.port;
	f->cfg.prefix = "t:";
	f->cfg.stream_maxlen = 100000;
	f->cfg.lead_maxlen = 100000;
	f->cfg.call_ttl_s = 600;
	f->cfg.max_inflight = 50;
	f->cfg.buffer_events = 100;
	f->cfg.snapshot_ms = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->rc)
		redisFree(f->rc);
	event_base_free(f->base);
	unlink(f->journal);
	free(f);
	return 0;
}

struct waiter {
	bool (*pred)(void *);
	void *arg;
	bool ok;
	struct event_base *base;
};

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	(void)fd;
	(void)what;
	if (w->pred(w->arg)) {
		w->ok = true;
		event_base_loopbreak(w->base);
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop until pred holds or timeout_ms passed. The deadline is an
 * event of its own (freed here), not event_base_loopexit, whose pending exit
 * would end the next run early. */
static bool run_until(struct event_base *base, bool (*pred)(void *), void *arg, int timeout_ms)
{
	struct waiter w = {pred, arg, false, base};
	struct event *poll = event_new(base, -1, EV_PERSIST, on_poll, &w);
	struct event *dl = evtimer_new(base, on_deadline, base);
	struct timeval tick = {0, 2000}, to = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	if (pred(arg)) {
		w.ok = true;
	} else {
		evtimer_add(poll, &tick);
		evtimer_add(dl, &to);
		event_base_dispatch(base);
	}
	event_free(poll);
	event_free(dl);
	return w.ok;
}

static bool is_drained(void *arg)
{
	struct pub_stats s;
	pub_get_stats(arg, &s);
	return s.connected && pub_backlog(arg) == 0 && s.inflight == 0 && s.state_pending == 0;
}

static bool is_connected(void *arg) { return pub_connected(arg); }

static void lead(struct pub *p, unsigned n, const char *phone)
{
	char num[16];
	snprintf(num, sizeof num, "%u", n);
	struct pub_kv kv[] = {{"n", num}, {"name", "Erika"}, {"phone", phone}, {"empty", ""}};
	assert_int_equal(pub_lead(p, kv, 4, NULL), 0);
}

/* A call.callback event: with a number in reason, flagged personal (as the
 * engine does), else a routing event that may share an entry. */
static void event(struct pub *p, unsigned n, const char *reason)
{
	char num[16];
	snprintf(num, sizeof num, "%u", n);
	struct pub_event ev = {.type = "call.callback", .reason = reason, .personal = reason != NULL};
	ev.extra[ev.n_extra++] = (struct pub_kv){"n", num};
	assert_int_equal(pub_event(p, &ev, NULL), 0);
}

static void read_events(struct fx *f, struct tstream *s)
{
	char err[512];
	tstream_init(s);
	if (tstream_read(f->rc, "t:events", s, err, sizeof err) < 0) {
		tstream_free(s);
		fail_msg("t:events: %s", err);
	}
}

/* The event stream holds events n = 0..count-1, in order, once each. */
static void check_events(struct fx *f, unsigned count)
{
	struct tstream s;
	char want[16];
	read_events(f, &s);
	assert_int_equal(s.n, count);
	for (unsigned i = 0; i < s.n; i++) {
		snprintf(want, sizeof want, "%u", i);
		assert_null(tstream_get(&s.ev[i], "empty"));
		const char *got = tstream_get(&s.ev[i], "n");
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	assert_int_equal(cmd_int(f->rc, "XLEN t:events"), (long long)s.entries);
	tstream_free(&s);
}

/* The lead stream (one entry per lead, plain fields) holds entries
 * n = 0..count-1, in order, once each. */
static void check_seq(struct fx *f, const char *key, unsigned count)
{
	assert_int_equal(cmd_int(f->rc, "XLEN %s", key), count);
	redisReply *r = cmd(f->rc, "XRANGE %s - +", key);
	for (unsigned i = 0; i < r->elements; i++) {
		redisReply *fl = r->element[i]->element[1];
		char want[16];
		const char *got = NULL;
		snprintf(want, sizeof want, "%u", i);
		for (size_t k = 0; k + 1 < fl->elements; k += 2) {
			assert_string_not_equal(fl->element[k]->str, "empty"); /* "" left out */
			if (strcmp(fl->element[k]->str, "n") == 0)
				got = fl->element[k + 1]->str;
		}
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	freeReplyObject(r);
}

static void test_leads_exactly_once(void **state)
{
	struct fx *f = *state;
	f->cfg.journal = f->journal;
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_non_null(p);
	assert_true(run_until(f->base, is_connected, p, 5000));

	/* Bad leads are refused and keep nothing. */
	struct pub_kv bad[] = {{"Bad Key", "x"}};
	assert_int_equal(pub_lead(p, bad, 1, NULL), -PUB_EINVAL);
	struct pub_kv dup[] = {{"a", "1"}, {"a", "2"}};
	assert_int_equal(pub_lead(p, dup, 2, NULL), -PUB_EINVAL);
	assert_int_equal(pub_lead(p, dup, 0, NULL), -PUB_EINVAL);

	/* Interleaved; Redis dies in the middle; more arrive while it is away
	 * (past the memory buffer: into the journal). */
	unsigned n = 0;
	for (; n < 300; n++) {
		lead(p, n, "+4930000000");
		event(p, n, NULL);
	}
	run_until(f->base, is_drained, p, 200);
	ctl(f, "kill");
	for (; n < 600; n++) {
		lead(p, n, "+4930000000");
		event(p, n, NULL);
	}
	struct pub_stats st;
	pub_get_stats(p, &st);
	assert_true(st.journaled > 0);
	ctl(f, "start");
	assert_true(run_until(f->base, is_drained, p, 20000));
	check_seq(f, "t:leads", 600);
	check_events(f, 600);
	pub_get_stats(p, &st);
	assert_int_equal(st.leads_published + st.dup_skipped >= 600, 1);

	/* An engine restart while Redis is away: the journal keeps them. */
	ctl(f, "kill");
	for (; n < 700; n++)
		lead(p, n, "+4930000000");
	pub_free(p);
	ctl(f, "start");
	p = pub_new(f->base, &f->cfg, NULL, NULL);
	assert_non_null(p);
	assert_true(run_until(f->base, is_drained, p, 20000));
	check_seq(f, "t:leads", 700);
	check_events(f, 600); /* no lead in the event stream */
	/* The IDs never collide across the two streams (events' own ids). */
	redisReply *a = cmd(f->rc, "XRANGE t:leads - +");
	struct tstream b;
	read_events(f, &b);
	for (size_t i = 0; i < a->elements; i += 37)
		for (size_t j = 0; j < b.n; j++)
			assert_string_not_equal(a->element[i]->element[0]->str, b.ev[j].id);
	freeReplyObject(a);
	tstream_free(&b);
	pub_free(p);
}

struct resync_ctx {
	int idx;
	unsigned calls;
};

static void on_resync(void *arg, struct pub *p)
{
	struct resync_ctx *x = arg;
	struct pub_kv kv[] = {{"state", "open"}};
	x->calls++;
	assert_int_equal(pub_hash_set(p, x->idx, "a", kv, 1, 0, false), 0);
}

static void test_hashes(void **state)
{
	struct fx *f = *state;
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	struct resync_ctx x = {0, 0};
	char buf[64];

	assert_non_null(p);
	x.idx = pub_index_add(p, "things", "thing:");
	assert_true(x.idx >= 3);
	assert_int_equal(pub_index_add(p, "things", "thing:"), x.idx);
	assert_int_equal(pub_index_add(p, "things", "other:"), -PUB_EINVAL);
	assert_int_equal(pub_index_add(p, "targets", "x:"), -PUB_EINVAL); /* built-in */
	assert_true(run_until(f->base, is_connected, p, 5000));

	struct pub_kv kv[] = {{"state", "open"}, {"n", "1"}, {"note", NULL}};
	assert_int_equal(pub_hash_set(p, x.idx, "a", kv, 3, 0, false), 0);
	assert_int_equal(pub_hash_set(p, x.idx, "b", kv, 3, 0, false), 0);
	kv[0].value = "done";
	assert_int_equal(pub_hash_set(p, x.idx, "b", kv, 3, 300, true), 0);
	assert_int_equal(pub_hash_set(p, -1, "kpi:x:1", kv, 2, 50, false), 0);
	assert_int_equal(pub_hash_set(p, -1, "kpi:x:1", kv, 2, 50, true), -PUB_EINVAL);
	assert_int_equal(pub_hash_set(p, 1, "q", kv, 2, 0, false), -PUB_EINVAL); /* built-in */
	assert_int_equal(pub_hash_set(p, 99, "q", kv, 2, 0, false), -PUB_EINVAL);
	struct pub_kv badk[] = {{"Bad", "x"}};
	assert_int_equal(pub_hash_set(p, x.idx, "c", badk, 1, 0, false), -PUB_EINVAL);
	assert_true(run_until(f->base, is_drained, p, 5000));

	redisReply *r = cmd(f->rc, "HGET t:thing:a note");
	assert_int_equal(r->type, REDIS_REPLY_STRING); /* NULL written as "" */
	assert_int_equal(r->len, 0);
	freeReplyObject(r);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:things a"), 1);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:things b"), 0);
	r = cmd(f->rc, "HGET t:thing:b state");
	snprintf(buf, sizeof buf, "%s", r->str);
	freeReplyObject(r);
	assert_string_equal(buf, "done");
	long long ttl = cmd_int(f->rc, "TTL t:thing:b");
	assert_true(ttl > 0 && ttl <= 300);
	assert_int_equal(cmd_int(f->rc, "TTL t:thing:a"), -1);
	ttl = cmd_int(f->rc, "TTL t:kpi:x:1");
	assert_true(ttl > 0 && ttl <= 50);

	/* Delete. */
	assert_int_equal(pub_hash_del(p, x.idx, "b"), 0);
	assert_true(run_until(f->base, is_drained, p, 5000));
	assert_int_equal(cmd_int(f->rc, "EXISTS t:thing:b"), 0);

	/* Resync: the listener rewrites "a"; a stale "zz" left by an earlier
	 * run is swept with its hash, at once (already connected) ... */
	freeReplyObject(cmd(f->rc, "SADD t:things zz"));
	freeReplyObject(cmd(f->rc, "HSET t:thing:zz state open"));
	assert_int_equal(pub_add_resync(p, on_resync, &x), 0);
	struct timeval tv = {0, 300000};
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_true(run_until(f->base, is_drained, p, 5000));
	unsigned before = x.calls;
	assert_int_equal(before, 1);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:things zz"), 0);
	assert_int_equal(cmd_int(f->rc, "EXISTS t:thing:zz"), 0);
	/* ... and after a reconnection (Redis keeps it across the restart). */
	freeReplyObject(cmd(f->rc, "SADD t:things zz"));
	freeReplyObject(cmd(f->rc, "HSET t:thing:zz state open"));
	ctl(f, "kill");
	ctl(f, "start");
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:things zz"), 1);
	assert_true(run_until(f->base, is_connected, p, 10000));
	assert_true(run_until(f->base, is_drained, p, 5000));
	event_base_loopexit(f->base, &tv); /* the sweep's SMEMBERS and DELs */
	event_base_dispatch(f->base);
	assert_true(x.calls > before);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:things zz"), 0);
	assert_int_equal(cmd_int(f->rc, "EXISTS t:thing:zz"), 0);
	assert_int_equal(cmd_int(f->rc, "SISMEMBER t:things a"), 1);
	pub_remove_resync(p, &x);
	pub_free(p);
}

struct erase_done {
	bool done;
	struct pub_erase_result r;
};

static void on_erased(void *arg, const struct pub_erase_result *r)
{
	struct erase_done *d = arg;
	d->done = true;
	d->r = *r;
}

static bool is_erased(void *arg) { return ((struct erase_done *)arg)->done; }

/* Entries of key with a field value equal to v (any case); for the event
 * stream, events with a field value equal to v. */
static int count_value(struct fx *f, const char *key, const char *v)
{
	int n = 0;
	if (strcmp(key, "t:events") == 0) {
		struct tstream s;
		read_events(f, &s);
		for (size_t i = 0; i < s.n; i++) {
			const char *k;
			json_t *jv;
			json_object_foreach(s.ev[i].obj, k, jv) {
				if (strcasecmp(json_string_value(jv), v) == 0) {
					n++;
					break;
				}
			}
		}
		tstream_free(&s);
		return n;
	}
	redisReply *r = cmd(f->rc, "XRANGE %s - +", key);
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *fl = r->element[i]->element[1];
		for (size_t k = 1; k < fl->elements; k += 2)
			if (strcasecmp(fl->element[k]->str, v) == 0) {
				n++;
				break;
			}
	}
	freeReplyObject(r);
	return n;
}

static void test_erase(void **state)
{
	struct fx *f = *state;
	f->cfg.max_inflight = 1000;
	f->cfg.buffer_events = 10000;
	struct pub *p = pub_new(f->base, &f->cfg, NULL, NULL);
	struct erase_done d = {0};

	assert_non_null(p);
	assert_true(run_until(f->base, is_connected, p, 5000));
	const char *v[] = {"+4989777777", "max@example.org"};
	assert_int_equal(pub_erase(p, v, 0, on_erased, &d), -PUB_EINVAL);
	const char *empty[] = {""};
	assert_int_equal(pub_erase(p, empty, 1, on_erased, &d), -PUB_EINVAL);

	/* 700 personal events (3 scan batches), every 7th with the number,
	 * each followed by 3 routing events that share entries; one routing
	 * event in 50 has the number inside a longer value (not a match).
	 * Leads with the number, the address in other case, or neither. */
	unsigned hits_ev = 0, nroute = 0;
	for (unsigned i = 0; i < 700; i++) {
		bool hit = i % 7 == 3;
		event(p, i, hit ? "+4989777777" : "+4930111111");
		hits_ev += hit;
		for (int k = 0; k < 3; k++, nroute++) {
			char num[16];
			snprintf(num, sizeof num, "%u", nroute);
			struct pub_event ev = {.type = "call.queued", .queue = "q1", .n_extra = 2,
					       .extra = {{"r", num},
							 {"note", nroute % 50 ? NULL : "+4989777777 x"}}};
			assert_int_equal(pub_event(p, &ev, NULL), 0);
		}
	}
	lead(p, 0, "+4989777777");
	lead(p, 1, "+4930111111");
	struct pub_kv kv[] = {{"n", "2"}, {"email", "MAX@Example.org"}};
	assert_int_equal(pub_lead(p, kv, 2, NULL), 0);
	/* Accepted right before the request: scrubbed too. */
	event(p, 700, "+4989777777");
	hits_ev++;
	assert_int_equal(pub_erase(p, v, 2, on_erased, &d), 0);
	assert_int_equal(pub_erase_pending(p), 1);
	assert_true(run_until(f->base, is_erased, &d, 10000));
	assert_int_equal(d.r.events_removed, hits_ev);
	assert_int_equal(d.r.leads_removed, 2);
	assert_int_equal(count_value(f, "t:events", "+4989777777"), 0);
	assert_int_equal(count_value(f, "t:leads", "+4989777777"), 0);
	assert_int_equal(count_value(f, "t:leads", "max@example.org"), 0);
	assert_int_equal(cmd_int(f->rc, "XLEN t:leads"), 1);
	/* What is left: the other personal events, each in an entry of its
	 * own, and every routing event, in order, some sharing entries. */
	struct tstream s;
	read_events(f, &s);
	unsigned personal = 0, route = 0, shared = 0;
	for (size_t i = 0; i < s.n; i++) {
		const struct tstream_event *e = &s.ev[i];
		char want[16];
		if (strcmp(tstream_get(e, "type"), "call.callback") == 0) {
			assert_string_equal(tstream_get(e, "reason"), "+4930111111");
			assert_int_equal(e->entry_n, 1);
			personal++;
			continue;
		}
		assert_string_equal(tstream_get(e, "type"), "call.queued");
		snprintf(want, sizeof want, "%u", route++);
		assert_string_equal(tstream_get(e, "r"), want);
		shared += e->entry_n > 1;
	}
	assert_int_equal(personal, 701 - hits_ev);
	assert_int_equal(route, nroute);
	assert_true(shared > 0);
	assert_int_equal(cmd_int(f->rc, "XLEN t:events"), (long long)s.entries);
	tstream_free(&s);
	assert_int_equal(pub_erase_pending(p), 0);
	struct pub_stats st;
	pub_get_stats(p, &st);
	assert_int_equal(st.erasures, 1);
	assert_int_equal(st.erased_entries, hits_ev + 2);

	/* Requested while Redis is away: runs once it is back. New entries
	 * keep the same stream IDs sequence (no reuse after the deletions). */
	ctl(f, "kill");
	event(p, 800, "+4989777777");
	d.done = false;
	assert_int_equal(pub_erase(p, v, 1, on_erased, &d), 0);
	struct timeval tv = {0, 200000};
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_false(d.done);
	ctl(f, "start");
	assert_true(run_until(f->base, is_erased, &d, 15000));
	assert_true(run_until(f->base, is_drained, p, 5000));
	assert_int_equal(count_value(f, "t:events", "+4989777777"), 0);

	/* Cancelled: never called. */
	d.done = false;
	assert_int_equal(pub_erase(p, v, 1, on_erased, &d), 0);
	pub_erase_cancel(p, &d);
	assert_int_equal(pub_erase_pending(p), 0);
	tv.tv_usec = 100000;
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_false(d.done);
	/* Freed with a job pending: never called either (and no leak). */
	assert_int_equal(pub_erase(p, v, 1, on_erased, &d), 0);
	pub_free(p);
	assert_false(d.done);
}

static void quiet(enum cl_log_level lvl, const char *msg, void *arg)
{
	(void)lvl;
	(void)msg;
	(void)arg;
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
	signal(SIGPIPE, SIG_IGN);
	if (!getenv("SALES_PUB_DEBUG"))
		cl_log_set_sink(quiet, NULL);
	else
		cl_log_set_level(CL_LOG_LEVEL_DEBUG);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_leads_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_erase, setup, teardown),
	};
	return cmocka_run_group_tests_name("sales_pub_integ", tests, NULL, NULL);
}
