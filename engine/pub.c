/*
 * pub.c — the Redis publisher: connection, flow control, exactly-once event
 * delivery across outages, latest-wins state hashes (see pub.h and
 * docs/redis.md).
 *
 * The only module that touches hiredis. One async context, attached to the
 * engine's event_base with the libevent adapter; every command is pipelined
 * and hiredis coalesces them into one write per loop iteration. Commands are
 * encoded to RESP here (binary safe, into one reused buffer) and queued with
 * redisAsyncFormattedCommand, which is much cheaper than hiredis's own
 * formatting at hundreds of thousands of commands per second.
 *
 * Events. pub_event copies the event into a record with the next stream ID
 * and appends it to a FIFO: an in-memory ring (at most max_inflight +
 * buffer_events records: those in flight stay in it until Redis answers)
 * followed, once the ring is full, by the journal file. As long as the
 * journal holds anything, new events go behind it, so the FIFO order is the
 * ID order. Sending waits for the end of the loop pass, so the events of one
 * pass go together: the record at the ring's head and the routing events
 * after it (up to stream_batch) become one XADD of a JSON array whose entry
 * ID is the last event's ID; any other event (it may hold personal data)
 * gets an entry of its own. XADDs go out while fewer than max_inflight
 * commands are unanswered; a record leaves the ring only when Redis has it.
 * An entry lands whole, so on a new connection the stream's last ID (read
 * by the handshake) says which records are in: those already sent at or
 * below it are skipped, the others go again, in order, batched anew. A
 * record never handed to Redis whose ID is not above the stream's last one
 * (the clock stepped back) is given a fresh ID instead ("rebased"), so it
 * cannot be mistaken for one already there.
 *
 * State (pub_state.c). Target, queue and call hashes are latest-wins, kept
 * in a map keyed by the Redis key and written state_flush_ms after their
 * first change, a few milliseconds' worth at a time, in chunks between
 * which the loop polls I/O. While Redis is away, updates are discarded; on
 * every new connection the engine's resync hook republishes everything, and
 * the ids in the index sets (targets, queues, calls) that it did not mention
 * are deleted.
 *
 * Priority. On an event base with three priorities (the engine's), the
 * Redis connection's events and the publisher's deferred work run at the
 * lowest: in a loop pass where requests wait, they are answered first, and
 * publishing work gathers into bigger batches. on_guard, at the normal
 * priority every PUB_GUARD_MS, does that work anyway, so a load that never
 * leaves a pass free cannot starve it.
 *
 * Failure handling. The connection is retried on a timer with capped
 * exponential backoff and jitter (never from inside a hiredis callback); a
 * connect that hangs or a server that stops answering is cut after a
 * deadline. Error replies are counted; an error to an XADD (other than the
 * duplicate case) drops the connection so the event is retried in order.
 *
 * Streams. The FIFO feeds two streams: the event stream and the lead stream
 * (records flagged PUB_REC_LEADS). One ID generator serves both, so each
 * stream's IDs increase and the exactly-once rules hold per stream: the
 * handshake reads the last ID of each.
 * Only the event stream is also PUBLISHed (leads hold personal data).
 *
 * Generic hashes. Besides the target, queue and call hashes, other modules
 * (the sales loop) write latest-wins hashes under any key, optionally with a
 * TTL and listed in an index set registered with pub_index_add; the resync
 * sweeps registered index sets like the built-in ones. Resync listeners
 * added with pub_add_resync run right after the main resync hook.
 *
 * Erasure (pub_erase.c) runs scans of the streams through pub_conn_cmd, once
 * everything accepted before the request has reached Redis.
 *
 * The process must ignore SIGPIPE: hiredis writes with write(2).
 */
#include "pub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uthash.h>

#include "cfg.h"
#include "log.h"
#include "pub_conn.h"
#include "pub_internal.h"
#include "pub_priv.h"
#include "redis_ev.h"

static const char *const stream_kinds[PUB_NSTREAMS] = {PUB_K_EVENTS, PUB_K_LEADS};

static void conn_start(struct pub *p);

uint64_t pub_now_ms(const struct pub *p)
{
	struct timeval tv;

	if (event_base_gettimeofday_cached(p->base, &tv) < 0)
		gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}


/* Warnings that can repeat per command are capped per tick. */
bool pub_warn_ok(struct pub *p)
{
	if (p->warn_budget == 0) {
		p->warn_suppressed++;
		return false;
	}
	p->warn_budget--;
	return true;
}

/* ---- ring ---- */

static struct pub_rec *ring_at(const struct pub *p, size_t i)
{
	return p->ring[(p->rhead + i) % p->rcap];
}

static bool ring_full(const struct pub *p) { return p->rcount >= p->rmax; }

/* Grows by doubling up to rmax, so an idle publisher keeps a small ring. */
static int ring_push(struct pub *p, struct pub_rec *r)
{
	if (p->rcount == p->rcap) {
		size_t ncap = p->rcap ? p->rcap * 2 : PUB_RING_MIN;
		if (ncap > p->rmax)
			ncap = p->rmax;
		struct pub_rec **nr = malloc(ncap * sizeof *nr);
		if (!nr)
			return -PUB_ENOMEM;
		for (size_t i = 0; i < p->rcount; i++)
			nr[i] = ring_at(p, i);
		free(p->ring);
		p->ring = nr;
		p->rcap = ncap;
		p->rhead = 0;
	}
	p->ring[(p->rhead + p->rcount) % p->rcap] = r;
	p->rcount++;
	return 0;
}

static void ring_pop_acked(struct pub *p)
{
	while (p->rcount && (ring_at(p, 0)->flags & PUB_REC_ACKED)) {
		free(ring_at(p, 0));
		p->rhead = (p->rhead + 1) % p->rcap;
		p->rcount--;
		p->rbase++;
		if (p->rsent)
			p->rsent--;
	}
}

/* ---- bookkeeping of commands ---- */

static void inflight_inc(struct pub *p)
{
	if (p->inflight++ == 0)
		p->progress_ms = pub_now_ms(p);
}

void pub_inflight_dec(struct pub *p, const void *reply)
{
	if (p->inflight)
		p->inflight--;
	if (reply)
		p->progress_ms = pub_now_ms(p);
}

/*
 * Queue one command. The RESP encoding is done here into a reused buffer and
 * handed over with redisAsyncFormattedCommand: hiredis's own formatting
 * (sds growth, printf) was a third of the publisher's CPU time.
 */
int pub_send_argv(struct pub *p, redisCallbackFn *fn, void *priv, int argc, const char **argv,
		     const size_t *len)
{
	size_t need = pub_resp_size(argc, len);

	if (!p->ac)
		return -1;
	if (pub_grow(&p->scratch, &p->scap, need) < 0)
		return -1;
	size_t n = pub_resp_format(p->scratch, argc, argv, len);
	if (redisAsyncFormattedCommand(p->ac, fn, priv, p->scratch, n) != REDIS_OK)
		return -1;
	inflight_inc(p);
	return 0;
}

void pub_on_generic(redisAsyncContext *ac, void *r, void *priv)
{
	struct pub *p = ac->data;
	redisReply *reply = r;

	pub_inflight_dec(p, reply);
	if (!reply)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		p->st.errors++;
		if (pub_warn_ok(p))
			CL_LOG_WARN("redis %s: command refused: %s", p->endpoint, reply->str);
	}
	pub_pump(p); /* a command slot is free */
}

/* ---- connection ---- */

static void schedule_retry(struct pub *p)
{
	struct timeval tv = pub_ms_tv(pub_backoff_next(&p->backoff));

	evtimer_add(p->ev_retry, &tv);
}

/* The context is gone (hiredis frees it, or we did). Everything unanswered
 * will be sent again on the next connection. */
static void conn_lost(struct pub *p, const char *why)
{
	bool was_ready = p->was_ready;

	p->ac = NULL;
	p->was_ready = false;
	p->cs = CS_IDLE;
	p->rsent = 0;
	p->collecting = false;
	for (uint32_t k = 0; k < p->n_idx; k++)
		pub_seen_clear(p, (int)k);
	pub_state_clear(p, true);
	for (uint32_t k = 0; k < p->n_idx; k++)
		p->sq[k][0].len = p->sq[k][0].n = p->sq[k][1].len = p->sq[k][1].n = 0;
	if (p->ev_state)
		evtimer_del(p->ev_state);
	pub_erase_conn_lost(p);
	evbuffer_drain(p->live, evbuffer_get_length(p->live));
	evtimer_del(p->ev_conn_to);
	if (p->closing)
		return;
	p->st.errors++;
	if (was_ready) {
		CL_LOG_WARN("redis %s: connection lost (%s); keeping events (%" PRIu64
			    " pending) and reconnecting",
			    p->endpoint, why ? why : "closed", pub_backlog(p));
	} else if (p->fail_streak == 0) {
		CL_LOG_WARN("redis %s: cannot connect (%s); retrying with backoff", p->endpoint,
			    why ? why : "closed");
	} else {
		CL_LOG_DEBUG("redis %s: connect failed (%s)", p->endpoint, why ? why : "closed");
	}
	p->fail_streak++;
	schedule_retry(p);
}

/* Free the context from outside any hiredis callback (timers, pub_free). */
static void conn_abort(struct pub *p, const char *why)
{
	redisAsyncContext *ac = p->ac;

	if (!ac)
		return;
	p->aborting = true;
	redisAsyncFree(ac); /* pending callbacks get NULL replies */
	p->aborting = false;
	conn_lost(p, why);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct pub *p = ac->data;

	if (p->aborting)
		return;
	conn_lost(p, status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "error"));
}

static void hs_fail(struct pub *p, const char *what, const char *err)
{
	if (p->hs_failed)
		return;
	p->hs_failed = true;
	p->st.errors++;
	/* Once per outage: a wrong password fails every retry the same way. */
	if (p->fail_streak == 0)
		CL_LOG_ERROR("redis %s: %s failed: %s", p->endpoint, what, err);
	else
		CL_LOG_DEBUG("redis %s: %s failed: %s", p->endpoint, what, err);
	p->cs = CS_CLOSING;
	redisAsyncDisconnect(p->ac);
}

static void on_hs_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct pub *p = ac->data;
	redisReply *reply = r;

	pub_inflight_dec(p, reply);
	if (reply && reply->type == REDIS_REPLY_ERROR && p->cs == CS_HANDSHAKE)
		hs_fail(p, priv, reply->str);
}

static void ready(struct pub *p)
{
	char ids[PUB_STREAM_ID_LEN];
	const struct pub_stream_id *top = &p->hs_top[0];

	p->cs = CS_READY;
	p->was_ready = true;
	p->ready_since_ms = pub_now_ms(p);
	p->fail_streak = 0;
	pub_backoff_reset(&p->backoff);
	for (int i = 0; i < PUB_NSTREAMS; i++) {
		pub_idgen_floor(&p->idgen, &p->hs_top[i]);
		p->last_sent[i] = p->hs_top[i];
	}
	p->st.connects++;
	if (p->ever_ready)
		p->st.reconnects++;
	p->ever_ready = true;
	pub_stream_id_format(top, ids, sizeof ids);
	CL_LOG_INFO("redis %s: connected (stream last id %s, %" PRIu64 " events to send)",
		    p->endpoint, ids, pub_backlog(p));
	bool resync = p->hooks.resync != NULL;
	for (int i = 0; i < PUB_MAX_RESYNC; i++)
		resync |= p->resync_l[i].fn != NULL;
	if (resync)
		event_active(p->ev_resync, EV_TIMEOUT, 0);
	event_active(p->ev_tick, EV_TIMEOUT, 0); /* health + totals now */
	pub_pump(p);
	pub_erase_kick(p);
}

/* XINFO STREAM tells the stream's last generated ID: what XADD compares to. */
static void on_xinfo(redisAsyncContext *ac, void *r, void *priv)
{
	struct pub *p = ac->data;
	redisReply *reply = r;
	struct pub_stream_id top = {0, 0};
	int si = (int)(uintptr_t)priv;

	pub_inflight_dec(p, reply);
	if (!reply || p->cs != CS_HANDSHAKE)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		if (!strstr(reply->str, "no such key")) {
			hs_fail(p, "XINFO STREAM", reply->str);
			return;
		}
	} else if (reply->type == REDIS_REPLY_ARRAY) {
		bool found = false;
		for (size_t i = 0; i + 1 < reply->elements; i += 2) {
			redisReply *k = reply->element[i], *v = reply->element[i + 1];
			if (k->type == REDIS_REPLY_STRING && strcmp(k->str, "last-generated-id") == 0 &&
			    v->type == REDIS_REPLY_STRING &&
			    pub_stream_id_parse(v->str, v->len, &top) == 0) {
				found = true;
				break;
			}
		}
		if (!found) {
			hs_fail(p, "XINFO STREAM", "no last-generated-id in the reply");
			return;
		}
	} else {
		hs_fail(p, "XINFO STREAM", "unexpected reply type");
		return;
	}
	p->hs_top[si] = top;
	if (p->hs_xinfo && --p->hs_xinfo == 0)
		ready(p);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
	struct pub *p = cac->data;
	const struct cfg_redis *c = p->cfg;

	evtimer_del(p->ev_conn_to);
	if (status != REDIS_OK) {
		/* hiredis frees the context after this returns. */
		conn_lost(p, cac->errstr[0] ? cac->errstr : "connect failed");
		return;
	}
	p->cs = CS_HANDSHAKE;
	/* TCP only: on a unix socket it fails and poisons the context. */
	if (p->ac->c.connection_type == REDIS_CONN_TCP)
		redisEnableKeepAlive(&p->ac->c);
	if (c->password && *c->password) {
		const char *argv[3] = {"AUTH", c->user, c->password};
		size_t len[3] = {4, c->user ? strlen(c->user) : 0, strlen(c->password)};
		if (c->user && *c->user)
			pub_send_argv(p, on_hs_reply, "AUTH", 3, argv, len);
		else {
			argv[1] = c->password;
			len[1] = len[2];
			pub_send_argv(p, on_hs_reply, "AUTH", 2, argv, len);
		}
	}
	if (c->db) {
		char db[16];
		int n = snprintf(db, sizeof db, "%" PRIu32, c->db);
		const char *argv[2] = {"SELECT", db};
		size_t len[2] = {6, (size_t)n};
		pub_send_argv(p, on_hs_reply, "SELECT", 2, argv, len);
	}
	int xrc = 0;
	p->hs_xinfo = PUB_NSTREAMS;
	for (int i = 0; i < PUB_NSTREAMS && !xrc; i++) {
		const char *argv[3] = {"XINFO", "STREAM", p->k_stream[i]};
		size_t len[3] = {5, 6, strlen(p->k_stream[i])};
		xrc = pub_send_argv(p, on_xinfo, (void *)(uintptr_t)i, 3, argv, len);
	}
	if (xrc < 0) {
		/* Not from here: hiredis goes on using the context after this
		 * callback returns. Cut it from a zero-delay timer instead. */
		struct timeval zero = {0, 0};
		p->hs_failed = true;
		p->st.errors++;
		CL_LOG_ERROR("redis %s: cannot queue the handshake", p->endpoint);
		evtimer_add(p->ev_conn_to, &zero);
	}
}

/* With three priorities on the base (the engine's), the publisher's I/O and
 * deferred work run at the lowest: in a loop pass where requests are
 * waiting, they are answered first. on_guard keeps it from starving. */
static int low_prio(const struct pub *p)
{
	return event_base_get_npriorities(p->base) >= 3 ? 2 : -1;
}

static void prio_low(struct pub *p, struct event *ev)
{
	if (ev && low_prio(p) >= 0)
		event_priority_set(ev, low_prio(p));
}

static void conn_start(struct pub *p)
{
	redisAsyncContext *ac;
	const char *path = p->cfg->unix_path;
	struct timeval to = pub_ms_tv(PUB_CONNECT_TIMEOUT_MS);
	char why[128];

	p->epoch++;
	p->hs_failed = false;
	if (path && *path)
		ac = redisAsyncConnectUnix(path);
	else
		ac = redisAsyncConnect(p->host, p->cfg->port ? p->cfg->port : PUB_DEF_PORT);
	if (!ac || ac->err) {
		snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		conn_lost(p, why);
		return;
	}
	ac->data = p;
	if (redis_ev_attach(ac, p->base, low_prio(p), &p->st.write_stalls) != REDIS_OK) {
		redisAsyncFree(ac);
		conn_lost(p, "cannot attach to the event loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	p->ac = ac;
	p->cs = CS_CONNECTING;
	evtimer_add(p->ev_conn_to, &to);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct pub *p = arg;

	if (!p->ac && !p->closing)
		conn_start(p);
}

static void on_conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pub *p = arg;

	if (p->cs == CS_CONNECTING)
		conn_abort(p, "connect timed out");
	else if (p->cs == CS_HANDSHAKE && p->hs_failed)
		conn_abort(p, "handshake failed");
}

/* ---- events ---- */

static void live_flush(struct pub *p)
{
	size_t n = evbuffer_get_length(p->live);

	if (!n)
		return;
	if (p->cs == CS_READY && evbuffer_add(p->live, "]", 1) == 0) {
		const char *argv[3] = {"PUBLISH", p->k_channel,
				       (const char *)evbuffer_pullup(p->live, -1)};
		size_t len[3] = {7, strlen(p->k_channel), n + 1};
		if (argv[2])
			pub_send_argv(p, pub_on_generic, NULL, 3, argv, len);
	}
	evbuffer_drain(p->live, evbuffer_get_length(p->live));
}

static void on_live(evutil_socket_t fd, short what, void *arg) { live_flush(arg); }


/*
 * One XADD in flight: records [pos, pos + n) of the FIFO (pos counts from the
 * first record ever pushed, so it survives pops of the records before it).
 * For the event stream, json holds the entry's `events` value, which is also
 * what the live channel gets once Redis has the entry.
 */
struct xadd_cmd {
	uint64_t pos;
	uint32_t n;
	uint8_t si;
	size_t jlen;
	char json[];
};

/* The i-th record of the command, or NULL if the ring no longer holds it. */
static struct pub_rec *cmd_rec(const struct pub *p, const struct xadd_cmd *c, uint32_t i)
{
	uint64_t at = c->pos + i;

	if (at < p->rbase || at - p->rbase >= p->rcount)
		return NULL;
	return ring_at(p, (size_t)(at - p->rbase));
}

/* Append an entry's events (the array without its brackets) to the pending
 * PUBLISH; flushed once per loop pass. */
static void live_add(struct pub *p, const char *json, size_t n)
{
	bool first = evbuffer_get_length(p->live) == 0;

	if (n < 2)
		return;
	if (evbuffer_add(p->live, first ? "[" : ",", 1) < 0 ||
	    evbuffer_add(p->live, json + 1, n - 2) < 0)
		return;
	if (evbuffer_get_length(p->live) >= PUB_LIVE_BATCH)
		live_flush(p);
	else
		event_active(p->ev_live, EV_TIMEOUT, 0);
}

/* A record found in the stream already, or refused as if it were. */
static void rec_landed(struct pub *p, struct pub_rec *r)
{
	char ids[PUB_STREAM_ID_LEN];

	if (r->flags & PUB_REC_FAILED) {
		/* Refused with an error before, and a later event has since
		 * reached the stream: it can no longer go in order. */
		p->st.dropped++;
		pub_stream_id_format(&r->id, ids, sizeof ids);
		CL_LOG_ERROR("redis %s: event %s lost: Redis refused it and later "
			     "events are already in the stream",
			     p->endpoint, ids);
	} else {
		p->st.dup_skipped++;
	}
	r->flags |= PUB_REC_ACKED;
}

static void on_xadd(redisAsyncContext *ac, void *rp, void *priv)
{
	struct pub *p = ac->data;
	redisReply *reply = rp;
	struct xadd_cmd *c = priv;
	char ids[PUB_STREAM_ID_LEN];

	pub_inflight_dec(p, reply);
	if (!reply) {
		free(c); /* connection gone: the records stay and are sent again */
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR && !strstr(reply->str, "equal or smaller")) {
		struct pub_rec *r0 = cmd_rec(p, c, 0);
		p->st.errors++;
		for (uint32_t i = 0; i < c->n; i++) {
			struct pub_rec *r = cmd_rec(p, c, i);
			if (r)
				r->flags |= PUB_REC_FAILED;
		}
		if (r0)
			pub_stream_id_format(&r0->id, ids, sizeof ids);
		else
			snprintf(ids, sizeof ids, "?");
		CL_LOG_WARN("redis %s: XADD %s (+%" PRIu32 ") refused: %s; reconnecting to retry "
			    "in order",
			    p->endpoint, ids, c->n - 1, reply->str);
		if (p->cs == CS_READY) {
			p->cs = CS_CLOSING;
			redisAsyncDisconnect(p->ac);
		}
		free(c);
		return;
	}
	bool ok = reply->type != REDIS_REPLY_ERROR; /* else: all at or below the top */
	for (uint32_t i = 0; i < c->n; i++) {
		struct pub_rec *r = cmd_rec(p, c, i);
		if (!r || (r->flags & PUB_REC_ACKED))
			continue;
		if (!ok) {
			rec_landed(p, r);
			continue;
		}
		r->flags |= PUB_REC_ACKED;
		p->st.published++;
		if (r->epoch != p->epoch)
			p->st.replayed++;
		if (pub_stream_id_cmp(&r->id, &p->last_acked) > 0)
			p->last_acked = r->id;
		if (r->flags & PUB_REC_LEADS)
			p->st.leads_published++;
	}
	if (ok && c->si == PUB_STREAM_EVENTS) {
		p->st.entries++;
		if (p->cs == CS_READY)
			live_add(p, c->json, c->jlen);
	}
	free(c);
	ring_pop_acked(p);
	pub_pump(p);
}

/* An event that may share an entry with its neighbours. */
static bool batchable(const struct pub_rec *r)
{
	return !(r->flags & (PUB_REC_LEADS | PUB_REC_SOLO | PUB_REC_ACKED));
}

/*
 * Send the next XADD: the record at ring[rsent] and, for the event stream,
 * the batchable records after it, up to batch_max events and about
 * PUB_ENTRY_BYTES of JSON, as one entry whose ID is the last event's ID. An
 * entry lands whole, so the stream's last ID after a reconnect tells which
 * records are in: records already sent at or below it are skipped.
 * Returns 1 when a command was queued, 0 when nothing is left, -1 on error.
 */
static int send_next(struct pub *p)
{
	const char *argv[PUB_MAX_ARGV];
	size_t len[PUB_MAX_ARGV];
	char ids[PUB_STREAM_ID_LEN];
	char ns[24];
	int argc = 0;

	while (p->rsent < p->rcount) {
		struct pub_rec *r = ring_at(p, p->rsent);
		int si = (r->flags & PUB_REC_LEADS) ? PUB_STREAM_LEADS : PUB_STREAM_EVENTS;
		if ((r->flags & PUB_REC_ACKED) || ((r->flags & PUB_REC_SENT) &&
						   pub_stream_id_cmp(&r->id, &p->last_sent[si]) <= 0)) {
			if (!(r->flags & PUB_REC_ACKED))
				rec_landed(p, r);
			p->rsent++;
			continue;
		}
		break;
	}
	if (p->rsent == p->rcount)
		return 0;
	struct pub_rec *r0 = ring_at(p, p->rsent);
	int si = (r0->flags & PUB_REC_LEADS) ? PUB_STREAM_LEADS : PUB_STREAM_EVENTS;
	struct pub_stream_id ls = p->last_sent[si];
	uint32_t n = 1;
	size_t jmax = si == PUB_STREAM_EVENTS ? pub_rec_json_max(r0) + 2 : 0;

	if (si == PUB_STREAM_EVENTS && batchable(r0)) {
		while (n < p->batch_max && p->rsent + n < p->rcount) {
			struct pub_rec *r = ring_at(p, p->rsent + n);
			size_t m = pub_rec_json_max(r) + 1;
			if (!batchable(r) || jmax + m > PUB_ENTRY_BYTES)
				break;
			jmax += m;
			n++;
		}
	}
	struct xadd_cmd *c = malloc(sizeof *c + jmax);
	if (!c)
		return -1;
	c->pos = p->rbase + p->rsent;
	c->n = n;
	c->si = (uint8_t)si;
	c->jlen = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct pub_rec *r = ring_at(p, p->rsent + i);
		if (!(r->flags & PUB_REC_SENT) && pub_stream_id_cmp(&r->id, &ls) <= 0) {
			/* Never sent, yet not above the stream's top (the clock went
			 * back): a fresh ID, so it cannot pass for a duplicate. */
			pub_idgen_next(&p->idgen, pub_now_ms(p), &r->id);
			p->st.rebased++;
		}
		ls = r->id;
		if (si == PUB_STREAM_EVENTS) {
			c->json[c->jlen++] = i ? ',' : '[';
			c->jlen += pub_rec_json(r, c->json + c->jlen);
		}
	}
	if (si == PUB_STREAM_EVENTS)
		c->json[c->jlen++] = ']';
	int idl = pub_stream_id_format(&ls, ids, sizeof ids);
	argv[argc] = "XADD";
	len[argc++] = 4;
	argv[argc] = p->k_stream[si];
	len[argc++] = strlen(p->k_stream[si]);
	if (p->maxlen_s[si][0]) {
		argv[argc] = "MAXLEN";
		len[argc++] = 6;
		argv[argc] = "~";
		len[argc++] = 1;
		argv[argc] = p->maxlen_s[si];
		len[argc++] = strlen(p->maxlen_s[si]);
	}
	argv[argc] = ids;
	len[argc++] = (size_t)idl;
	if (si == PUB_STREAM_EVENTS) {
		argv[argc] = "n";
		len[argc++] = 1;
		argv[argc] = ns;
		len[argc++] = pub_u64_dec(n, ns);
		argv[argc] = "events";
		len[argc++] = 6;
		argv[argc] = c->json;
		len[argc++] = c->jlen;
	} else {
		int k = pub_rec_strings(r0, argv + argc, len + argc, (size_t)(PUB_MAX_ARGV - argc));
		if (k <= 0) {
			/* Cannot happen for records we built; never block the FIFO on one. */
			free(c);
			r0->flags |= PUB_REC_ACKED;
			p->st.dropped++;
			p->rsent++;
			return 1;
		}
		argc += k;
	}
	if (pub_send_argv(p, on_xadd, c, argc, argv, len) < 0) {
		free(c);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		ring_at(p, p->rsent + i)->flags |= PUB_REC_SENT;
	p->rsent += n;
	p->last_sent[si] = ls;
	return 1;
}

/* Read journaled events into the ring while it has room and few unsent ones. */
static void refill(struct pub *p)
{
	size_t n = 0;

	if (!p->journal)
		return;
	while (pub_journal_count(p->journal) && !ring_full(p) &&
	       p->rcount - p->rsent < p->max_inflight) {
		if (n++ == PUB_REFILL_BATCH) {
			/* Go on after the loop has polled I/O: a zero-delay timer,
			 * not event_active, which would run again in this pass. */
			struct timeval zero = {0, 0};
			evtimer_add(p->ev_kick, &zero);
			return;
		}
		struct pub_rec *r = NULL;
		uint64_t lost = 0;
		int rc = pub_journal_next(p->journal, &r, &lost);
		if (lost) {
			p->st.dropped += lost;
			if (p->jprev)
				p->jprev = p->jprev > lost ? p->jprev - lost : 0;
			CL_LOG_ERROR("redis %s: journal %s: %" PRIu64 " events lost: %s",
				     p->endpoint, p->cfg->journal, lost, strerror(errno));
		}
		if (rc <= 0)
			return;
		r->epoch = 0;
		if (p->jprev) {
			/* Left by a previous run: it may have reached the stream. */
			r->flags |= PUB_REC_SENT;
			p->jprev--;
		}
		r->flags &= ~(uint32_t)PUB_REC_ACKED;
		if (ring_push(p, r) < 0) {
			/* No memory: this one cannot go back; count it. */
			free(r);
			p->st.dropped++;
			return;
		}
	}
}

static void on_jflush(evutil_socket_t fd, short what, void *arg)
{
	struct pub *p = arg;
	uint64_t lost = 0;

	if (pub_journal_flush(p->journal, &lost) < 0) {
		p->st.dropped += lost;
		CL_LOG_ERROR("redis %s: journal %s: write failed, %" PRIu64 " events lost: %s",
			     p->endpoint, p->cfg->journal, lost, strerror(errno));
	}
}

/* An extra field of an event: a lead field name, not one of the fixed ones. */
static bool extra_key_ok(const char *k)
{
	static const char *const fixed[] = {"id", "type", "ts", "call", "target",
					    "territory", "queue", "state", "reason"};

	if (!pub_field_name_ok(k))
		return false;
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (strcmp(k, fixed[i]) == 0)
			return false;
	return true;
}


static int fifo_add(struct pub *p, struct pub_rec *r, uint64_t now, struct pub_stream_id *id);

/* A field name of a lead entry: [a-z0-9_.-], 1..PUB_KEY_MAX bytes. */
bool pub_field_name_ok(const char *k)
{
	size_t n = k ? strnlen(k, PUB_KEY_MAX + 1) : 0;

	if (n == 0 || n > PUB_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

int pub_lead(struct pub *p, const struct pub_kv *fields, size_t n, struct pub_stream_id *id)
{
	struct pub_recb b;
	struct pub_rec *r;
	int err = 0;

	if (!p)
		return 0;
	if (!fields || n == 0 || n > PUB_REC_MAX_FIELDS)
		return -PUB_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!pub_field_name_ok(fields[i].key) || !pub_str_ok(fields[i].value, PUB_VALUE_MAX))
			return -PUB_EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(fields[i].key, fields[j].key) == 0)
				return -PUB_EINVAL;
	}
	pub_recb_init(&b);
	for (size_t i = 0; i < n; i++)
		pub_recb_add(&b, fields[i].key, fields[i].value, false);
	if (b.nf == 0)
		return -PUB_EINVAL;
	if (!(r = pub_rec_new(&b, &err)))
		return err;
	r->flags |= PUB_REC_LEADS;
	return fifo_add(p, r, pub_now_ms(p), id);
}

int pub_event(struct pub *p, const struct pub_event *ev, struct pub_stream_id *id)
{
	struct pub_recb b;
	struct pub_rec *r;
	int err = 0;

	if (!p)
		return 0;
	if (!ev || !ev->type || !*ev->type || !pub_str_ok(ev->type, PUB_ID_MAX) ||
	    !pub_str_ok(ev->call_id, PUB_ID_MAX) || !pub_str_ok(ev->target_id, PUB_ID_MAX) ||
	    !pub_str_ok(ev->territory, PUB_ID_MAX) || !pub_str_ok(ev->queue, PUB_ID_MAX) ||
	    !pub_str_ok(ev->state, PUB_ID_MAX) || !pub_str_ok(ev->reason, PUB_VALUE_MAX) ||
	    ev->n_extra > PUB_MAX_EXTRA)
		return -PUB_EINVAL;
	for (size_t i = 0; i < ev->n_extra; i++) {
		if (!extra_key_ok(ev->extra[i].key) || !pub_str_ok(ev->extra[i].value, PUB_VALUE_MAX))
			return -PUB_EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ev->extra[i].key, ev->extra[j].key) == 0)
				return -PUB_EINVAL;
	}
	uint64_t now = pub_now_ms(p);
	pub_recb_init(&b);
	pub_recb_add(&b, "type", ev->type, false);
	pub_recb_add_u64(&b, "ts", ev->ts_ms ? ev->ts_ms : now);
	pub_recb_add(&b, "call", ev->call_id, false);
	pub_recb_add(&b, "target", ev->target_id, false);
	pub_recb_add(&b, "territory", ev->territory, false);
	pub_recb_add(&b, "queue", ev->queue, false);
	pub_recb_add(&b, "state", ev->state, false);
	pub_recb_add(&b, "reason", ev->reason, false);
	for (size_t i = 0; i < ev->n_extra; i++)
		pub_recb_add(&b, ev->extra[i].key, ev->extra[i].value, false);
	if (!(r = pub_rec_new(&b, &err)))
		return err;
	/* The engine's routing events hold ids, names and states and share
	 * entries; any other event may carry personal data (free text from
	 * people) and gets an entry of its own, so an erasure removes only it. */
	if (ev->personal ||
	    (strncmp(ev->type, "call.", 5) != 0 && strncmp(ev->type, "target.", 7) != 0))
		r->flags |= PUB_REC_SOLO;
	return fifo_add(p, r, now, id);
}

/*
 * Give r (transferred) the next stream ID and append it to the FIFO: the
 * ring, or the journal behind what it already holds. Returns as pub_event.
 */
static int fifo_add(struct pub *p, struct pub_rec *r, uint64_t now, struct pub_stream_id *id)
{
	pub_idgen_next(&p->idgen, now, &r->id);
	r->epoch = p->epoch;
	if (id)
		*id = r->id;
	if ((p->journal && pub_journal_count(p->journal)) || ring_full(p)) {
		uint64_t lost = 0;
		if (!p->journal) {
			free(r);
			p->st.dropped++;
			if (pub_warn_ok(p))
				CL_LOG_WARN("redis %s: event dropped: %" PRIu64
					    " events buffered and no journal configured",
					    p->endpoint, (uint64_t)p->rcount);
			return -PUB_EDROP;
		}
		int rc = pub_journal_append(p->journal, r, &lost);
		free(r);
		if (lost) {
			p->st.dropped += lost;
			CL_LOG_ERROR("redis %s: journal %s: write failed, %" PRIu64
				     " events lost: %s",
				     p->endpoint, p->cfg->journal, lost, strerror(errno));
		}
		if (rc == -PUB_ENOMEM || rc == -PUB_EINVAL)
			return rc;
		p->st.accepted++;
		if (rc < 0)
			return rc;
		if (pub_journal_batch_pending(p->journal) && !evtimer_pending(p->ev_jflush, NULL)) {
			struct timeval tv = pub_ms_tv(PUB_JOURNAL_FLUSH_MS);
			evtimer_add(p->ev_jflush, &tv);
		}
		event_active(p->ev_send, EV_TIMEOUT, 0);
		return 0;
	}
	if (ring_push(p, r) < 0) {
		free(r);
		return -PUB_ENOMEM;
	}
	p->st.accepted++;
	/* Sent at the end of this loop pass, with the events that follow it. */
	event_active(p->ev_send, EV_TIMEOUT, 0);
	return 0;
}

/* Write a whole hash now, outside the command cap (one per tick). */
static void send_hash(struct pub *p, const char *key, const struct pub_recb *b)
{
	struct pub_rec *r = pub_rec_new(b, NULL);
	const char *argv[PUB_MAX_ARGV];
	size_t len[PUB_MAX_ARGV];

	if (!r)
		return;
	argv[0] = "HSET";
	len[0] = 4;
	argv[1] = key;
	len[1] = strlen(key);
	int n = pub_rec_strings(r, argv + 2, len + 2, PUB_MAX_ARGV - 2);
	if (n > 0)
		pub_send_argv(p, pub_on_generic, NULL, 2 + n, argv, len);
	free(r);
}

int pub_totals(struct pub *p, const struct pub_totals *t)
{
	struct pub_recb b;

	if (!p)
		return 0;
	if (!t)
		return -PUB_EINVAL;
	if (p->cs != CS_READY) {
		p->st.state_skipped++;
		return 0;
	}
	pub_recb_init(&b);
	pub_recb_add_u64(&b, "offered", t->offered);
	pub_recb_add_u64(&b, "routed", t->routed);
	pub_recb_add_u64(&b, "queued", t->queued);
	pub_recb_add_u64(&b, "rejected", t->rejected);
	pub_recb_add_u64(&b, "abandoned", t->abandoned);
	pub_recb_add_u64(&b, "completed", t->completed);
	pub_recb_add_u64(&b, "live_calls", t->live_calls);
	pub_recb_add_u64(&b, "waiting_calls", t->waiting_calls);
	pub_recb_add_u64(&b, "targets_ready", t->targets_ready);
	pub_recb_add_u64(&b, "targets_busy", t->targets_busy);
	pub_recb_add_u64(&b, "targets_not_ready", t->targets_not_ready);
	pub_recb_add_u64(&b, "targets_wrap_up", t->targets_wrap_up);
	pub_recb_add_u64(&b, "targets_logged_out", t->targets_logged_out);
	pub_recb_add_u64(&b, "ts_ms", pub_now_ms(p));
	send_hash(p, p->k_totals, &b);
	return 0;
}

static void send_health(struct pub *p)
{
	struct pub_recb b;
	struct pub_stats s;
	char ids[PUB_STREAM_ID_LEN];

	pub_get_stats(p, &s);
	pub_stream_id_format(&p->last_acked, ids, sizeof ids);
	pub_recb_init(&b);
	pub_recb_add_u64(&b, "ts_ms", pub_now_ms(p));
	pub_recb_add(&b, "connected", "1", true);
	pub_recb_add_u64(&b, "connected_since_ms", p->ready_since_ms);
	pub_recb_add(&b, "last_id", ids, true);
	pub_recb_add_u64(&b, "accepted", s.accepted);
	pub_recb_add_u64(&b, "published", s.published);
	pub_recb_add_u64(&b, "entries", s.entries);
	pub_recb_add_u64(&b, "write_stalls", s.write_stalls);
	pub_recb_add_u64(&b, "dup_skipped", s.dup_skipped);
	pub_recb_add_u64(&b, "replayed", s.replayed);
	pub_recb_add_u64(&b, "rebased", s.rebased);
	pub_recb_add_u64(&b, "dropped", s.dropped);
	pub_recb_add_u64(&b, "inflight", s.inflight);
	pub_recb_add_u64(&b, "buffered", s.buffered);
	pub_recb_add_u64(&b, "journaled", s.journaled);
	pub_recb_add_u64(&b, "journal_bytes", s.journal_bytes);
	pub_recb_add_u64(&b, "backlog", pub_backlog(p));
	pub_recb_add_u64(&b, "state_pending", s.state_pending);
	pub_recb_add_u64(&b, "state_skipped", s.state_skipped);
	pub_recb_add_u64(&b, "connects", s.connects);
	pub_recb_add_u64(&b, "reconnects", s.reconnects);
	pub_recb_add_u64(&b, "errors", s.errors);
	send_hash(p, p->k_health, &b);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pub *p = arg;
	uint64_t now = pub_now_ms(p);

	if (p->warn_suppressed) {
		CL_LOG_WARN("redis %s: %" PRIu64 " similar warnings suppressed", p->endpoint,
			    p->warn_suppressed);
		p->warn_suppressed = 0;
	}
	p->warn_budget = PUB_WARN_BUDGET;
	if (p->ac && p->cs != CS_CONNECTING && p->inflight &&
	    now - p->progress_ms > PUB_REPLY_TIMEOUT_MS) {
		conn_abort(p, "no reply within the deadline");
		return;
	}
	if (p->cs != CS_READY)
		return;
	pub_erase_kick(p);
	if (p->hooks.totals) {
		struct pub_totals t;
		memset(&t, 0, sizeof t);
		p->hooks.totals(p->arg, &t);
		pub_totals(p, &t);
	}
	send_health(p);
}

/* The deferred sends (ev_send, ev_kick): a new chunk of state may go. */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct pub *p = arg;

	p->low_runs++;
	p->sbudget = PUB_STATE_CHUNK;
	pub_pump(p);
}

/* At the engine's priority, every PUB_GUARD_MS: the publisher's own events
 * run only in loop passes without waiting requests, so under a load that
 * never leaves such a pass they would starve. If none of them ran since the
 * last guard, this does their work, all that is due. */
static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	struct pub *p = arg;

	if (p->low_runs != p->low_seen) {
		p->low_seen = p->low_runs; /* the low priority got its passes */
		return;
	}
	if (p->ac && (p->cs == CS_HANDSHAKE || p->cs == CS_READY)) {
		redisAsyncHandleWrite(p->ac);
		if (p->ac)
			redisAsyncHandleRead(p->ac);
	}
	if (p->cs == CS_READY) {
		/* Everything due: under such a load the chunks' passes never come. */
		p->sbudget = UINT32_MAX;
		pub_pump(p);
	}
}

/* Send what the command cap allows: events and state updates, alternately. */
void pub_pump(struct pub *p)
{
	if (p->cs != CS_READY)
		return;
	refill(p);
	while (p->inflight < p->max_inflight) {
		bool did = false;
		int rc = send_next(p);
		if (rc < 0)
			break;
		did = rc > 0;
		/* Thousands of due hashes (after a resync) go in chunks, one per loop
		 * pass (the budget), with the loop polling I/O in between: routing
		 * never waits for a whole flush, nor do the replies of one read. */
		if (pub_state_due(p) && p->sbudget && p->inflight < p->max_inflight) {
			if (pub_state_send(p, p->smap) < 0)
				break;
			p->sbudget--;
			did = true;
		}
		if (p->rsent == p->rcount) {
			/* Room for the journal: what was acknowledged, or skipped as
			 * already in the stream, leaves the ring first. */
			size_t had = p->rcount;
			ring_pop_acked(p);
			size_t kept = p->rcount;
			refill(p);
			did |= p->rcount > kept || kept < had;
		}
		if (!did)
			break;
	}
	if (!pub_state_due(p)) {
		pub_setq_flush_all(p); /* else more come with the next chunk */
	} else if (!p->sbudget && !evtimer_pending(p->ev_kick, NULL)) {
		struct timeval zero = {0, 0};
		evtimer_add(p->ev_kick, &zero);
	}
	if (p->smap && p->flush_ms && !pub_state_due(p))
		pub_state_kick(p); /* the rest waits until it is due */
	ring_pop_acked(p);
}

void pub_flush(struct pub *p)
{
	if (!p)
		return;
	pub_state_due_all(p);
	p->sbudget = PUB_STATE_CHUNK;
	pub_pump(p);
}

bool pub_idle(const struct pub *p)
{
	return !p || (pub_backlog(p) == 0 && !p->smap && p->inflight == 0);
}

/* ---- life cycle ---- */

static char *resolve(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	struct addrinfo hints, *res = NULL;
	char out[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1)
		return strdup(host);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* Once, at start-up, before the loop runs. */
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return NULL;
	const void *a = res->ai_family == AF_INET6
				? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
				: (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
	const char *s = inet_ntop(res->ai_family, a, out, sizeof out);
	freeaddrinfo(res);
	return s ? strdup(out) : NULL;
}

struct pub *pub_new(struct event_base *base, const struct cfg_redis *cfg,
		    const struct pub_hooks *hooks, void *arg)
{
	struct pub *p;
	struct timeval tick;
	struct timeval now;
	uint64_t loaded = 0;

	if (!base || !cfg)
		return NULL;
	if (!(p = calloc(1, sizeof *p)))
		return NULL;
	p->base = base;
	p->cfg = cfg;
	if (hooks)
		p->hooks = *hooks;
	p->arg = arg;
	p->prefix = cfg->prefix ? cfg->prefix : "cl:";
	if (strlen(p->prefix) > PUB_PREFIX_MAX) {
		CL_LOG_ERROR("redis: prefix longer than %d bytes", PUB_PREFIX_MAX);
		goto fail;
	}
	p->max_inflight = cfg->max_inflight ? cfg->max_inflight : PUB_DEF_MAX_INFLIGHT;
	p->snapshot_ms = cfg->snapshot_ms ? cfg->snapshot_ms : PUB_DEF_SNAPSHOT_MS;
	p->call_ttl_s = cfg->call_ttl_s ? cfg->call_ttl_s : PUB_DEF_CALL_TTL_S;
	p->batch_max = cfg->stream_batch ? cfg->stream_batch : PUB_DEF_STREAM_BATCH;
	p->flush_ms = cfg->state_flush_ms;
	if (cfg->stream_maxlen)
		snprintf(p->maxlen_s[PUB_STREAM_EVENTS], sizeof p->maxlen_s[0], "%" PRIu32,
			 cfg->stream_maxlen);
	if (cfg->lead_maxlen)
		snprintf(p->maxlen_s[PUB_STREAM_LEADS], sizeof p->maxlen_s[0], "%" PRIu32,
			 cfg->lead_maxlen);
	p->rmax = (size_t)p->max_inflight + cfg->buffer_events;
	if (cfg->unix_path && *cfg->unix_path) {
		snprintf(p->endpoint, sizeof p->endpoint, "unix:%s", cfg->unix_path);
	} else {
		const char *h = cfg->host && *cfg->host ? cfg->host : "127.0.0.1";
		snprintf(p->endpoint, sizeof p->endpoint, "%s:%u", h,
			 cfg->port ? cfg->port : PUB_DEF_PORT);
		if (!(p->host = resolve(h))) {
			CL_LOG_ERROR("redis: cannot resolve host %s", h);
			goto fail;
		}
	}
	for (int i = 0; i < PUB_NSTREAMS; i++)
		pub_key(p->k_stream[i], sizeof p->k_stream[i], p->prefix, stream_kinds[i], NULL);
	pub_key(p->k_channel, sizeof p->k_channel, p->prefix, PUB_K_CHANNEL, NULL);
	pub_key(p->k_totals, sizeof p->k_totals, p->prefix, PUB_K_TOTALS, NULL);
	pub_key(p->k_health, sizeof p->k_health, p->prefix, PUB_K_HEALTH, NULL);
	pub_state_init(p);
	if (cfg->journal && *cfg->journal) {
		int rc = pub_journal_open(cfg->journal, &p->journal, &loaded);
		if (rc < 0) {
			CL_LOG_ERROR("redis: journal %s: %s", cfg->journal,
				     rc == -PUB_EIO ? strerror(errno) : pub_strerror(rc));
			goto fail;
		}
		p->jprev = loaded;
		if (loaded)
			CL_LOG_INFO("redis: journal %s holds %" PRIu64
				    " events from a previous run; they are sent first",
				    cfg->journal, loaded);
	}
	if (!(p->live = evbuffer_new()) ||
	    !(p->ev_retry = evtimer_new(base, on_retry, p)) ||
	    !(p->ev_conn_to = evtimer_new(base, on_conn_timeout, p)) ||
	    !(p->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, p)) ||
	    !(p->ev_resync = evtimer_new(base, pub_on_resync, p)) ||
	    !(p->ev_kick = evtimer_new(base, on_kick, p)) ||
	    !(p->ev_live = evtimer_new(base, on_live, p)) ||
	    !(p->ev_jflush = evtimer_new(base, on_jflush, p)) ||
	    !(p->ev_send = event_new(base, -1, 0, on_kick, p)) ||
	    !(p->ev_state = evtimer_new(base, pub_on_state, p)) ||
	    !(p->ev_guard = event_new(base, -1, EV_PERSIST, on_guard, p)))
		goto fail;
	struct event *low[] = {p->ev_send, p->ev_kick, p->ev_live, p->ev_state};
	for (size_t i = 0; i < sizeof low / sizeof low[0]; i++)
		prio_low(p, low[i]);
	if (event_base_get_npriorities(base) >= 3) {
		struct timeval g = pub_ms_tv(PUB_GUARD_MS);
		evtimer_add(p->ev_guard, &g);
	}
	gettimeofday(&now, NULL);
	pub_backoff_init(&p->backoff, PUB_BACKOFF_MIN_MS, PUB_BACKOFF_MAX_MS,
			 ((uint64_t)now.tv_sec << 20) ^ (uint64_t)now.tv_usec ^
				 ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)p);
	p->warn_budget = PUB_WARN_BUDGET;
	tick = pub_ms_tv(p->snapshot_ms);
	evtimer_add(p->ev_tick, &tick);
	conn_start(p);
	return p;
fail:
	pub_free(p);
	return NULL;
}

void pub_free(struct pub *p)
{
	if (!p)
		return;
	p->closing = true;
	conn_abort(p, "shutting down");
	/* What Redis has not acknowledged goes to the journal, ahead of what
	 * the journal already holds, for the next run. */
	size_t n = 0;
	struct pub_rec **keep = p->rcount ? malloc(p->rcount * sizeof *keep) : NULL;
	for (size_t i = 0; i < p->rcount; i++) {
		struct pub_rec *r = ring_at(p, i);
		if (!(r->flags & PUB_REC_ACKED) && keep)
			keep[n++] = r;
	}
	if (p->rcount && !keep) {
		p->st.dropped += p->rcount;
		CL_LOG_ERROR("redis: %zu unpublished events lost at shutdown (no memory)",
			     p->rcount);
	} else if (n && p->journal) {
		if (pub_journal_prepend(p->journal, keep, n) < 0) {
			p->st.dropped += n;
			CL_LOG_ERROR("redis: journal %s: cannot save %zu unpublished events: %s",
				     p->cfg->journal, n, strerror(errno));
		} else {
			CL_LOG_INFO("redis: %zu unpublished events saved to the journal %s", n,
				    p->cfg->journal);
		}
	} else if (n) {
		p->st.dropped += n;
		CL_LOG_ERROR("redis: %zu unpublished events lost at shutdown (no journal)", n);
	}
	free(keep);
	pub_journal_close(p->journal);
	for (size_t i = 0; i < p->rcount; i++)
		free(ring_at(p, i));
	free(p->ring);
	pub_state_clear(p, false);
	for (uint32_t k = 0; k < p->n_idx; k++) {
		pub_seen_clear(p, (int)k);
		free(p->sq[k][0].buf);
		free(p->sq[k][1].buf);
	}
	pub_erase_free_all(p);
	if (p->live)
		evbuffer_free(p->live);
	struct event *evs[] = {p->ev_retry, p->ev_conn_to, p->ev_tick, p->ev_resync,
			       p->ev_kick,  p->ev_live,    p->ev_jflush, p->ev_send, p->ev_state,
			       p->ev_guard};
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i])
			event_free(evs[i]);
	free(p->scratch);
	free(p->host);
	free(p);
}

/* ---- services for pub_erase.c (pub_conn.h) ---- */

struct conn_cmd {
	pub_conn_reply_fn fn;
	void *priv;
	uint64_t tag;
};

static void on_conn_cmd(redisAsyncContext *ac, void *r, void *priv)
{
	struct pub *p = ac->data;
	struct conn_cmd *cc = priv;

	pub_inflight_dec(p, r);
	if (r && ((redisReply *)r)->type == REDIS_REPLY_ERROR) {
		p->st.errors++;
		if (pub_warn_ok(p))
			CL_LOG_WARN("redis %s: command refused: %s", p->endpoint,
				    ((redisReply *)r)->str);
	}
	cc->fn(p, r, cc->priv, cc->tag);
	free(cc);
	if (r)
		pub_pump(p);
}

int pub_conn_cmd(struct pub *p, pub_conn_reply_fn fn, void *priv, uint64_t tag, int argc,
		 const char **argv, const size_t *len)
{
	struct conn_cmd *cc;

	if (p->cs != CS_READY || !(cc = malloc(sizeof *cc)))
		return -1;
	cc->fn = fn;
	cc->priv = priv;
	cc->tag = tag;
	if (pub_send_argv(p, on_conn_cmd, cc, argc, argv, len) < 0) {
		free(cc);
		return -1;
	}
	return 0;
}

const char *pub_conn_stream_key(const struct pub *p, int stream) { return p->k_stream[stream]; }

void pub_conn_count_erasure(struct pub *p, uint64_t entries)
{
	p->st.erasures++;
	p->st.erased_entries += entries;
}

struct pub_erase_q **pub_conn_erase_slot(struct pub *p) { return &p->erase; }

void pub_conn_last_id(const struct pub *p, struct pub_stream_id *out) { *out = p->idgen.last; }

bool pub_conn_settled(const struct pub *p, const struct pub_stream_id *upto)
{
	if (p->cs != CS_READY)
		return false;
	if (p->journal && pub_journal_count(p->journal))
		return p->rcount && pub_stream_id_cmp(&ring_at(p, 0)->id, upto) > 0;
	return p->rcount == 0 || pub_stream_id_cmp(&ring_at(p, 0)->id, upto) > 0;
}

/* ---- accessors ---- */

uint64_t pub_backlog(const struct pub *p)
{
	if (!p)
		return 0;
	return p->rcount + (p->journal ? pub_journal_count(p->journal) : 0);
}

bool pub_connected(const struct pub *p) { return p && p->cs == CS_READY; }

void pub_get_stats(const struct pub *p, struct pub_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!p)
		return;
	*out = p->st;
	out->connected = p->cs == CS_READY;
	out->inflight = p->inflight;
	out->buffered = p->rcount;
	out->journaled = p->journal ? pub_journal_count(p->journal) : 0;
	out->journal_bytes = p->journal ? pub_journal_bytes(p->journal) : 0;
	out->state_pending = HASH_COUNT(p->smap);
}
