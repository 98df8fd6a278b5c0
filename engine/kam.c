/*
 * kam.c — the evapi client (see kam.h): connection and reconnection, the
 * read loop, the per-call table and the router hooks.
 *
 * Call table: uthash keyed by the SIP Call-ID (the router's call id). An
 * entry lives from the "invite" event until the call is answered, rejected,
 * cancelled or timed out; connected calls need no entry (their BYE is
 * forwarded by id). Each entry knows whether the proxy is waiting on a
 * suspended transaction for it (WAITING, with tindex/tlabel) or has relayed
 * the call to a target (RINGING). A router decision taken while RINGING is
 * parked in the entry (pending) and sent on the next "retry"; a second one
 * before any retry means the proxy lost the call, which is then abandoned.
 *
 * Hooks run inside router calls and must not call back into the router:
 * anything that needs the router from a hook (cutting a connection whose
 * output overflowed, abandoning a call that cannot be routed) is deferred to
 * the zero-delay `resume` event, which also continues reading after
 * KAM_BATCH frames. A bufferevent is never freed inside its own callback:
 * a dead one is parked in `dead` and freed by the retry timer or kam_free.
 */
#include "kam.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

/* uthash: report allocation failure through the element instead of exit(). */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) ((obj)->oom = true)
#include <uthash.h>

#include "cfg.h"
#include "engine.h"
#include "kam_proto.h"
#include "log.h"
#include "owner.h"

/* Room for one reply: the URI (config text, at most 1 KiB) and three ids,
 * each escaped at worst six-fold, plus the keys. */
#define KAM_OUT_MAX 16384
#define KAM_OUT_HDR 16 /* space kept in front of the payload for "<len>:" */
#define KAM_ERR_MAX 160
#define KAM_STABLE_S 5 /* a connection up this long resets the retry delay */

enum kc_state {
	KC_WAITING = 1, /* the proxy holds tindex/tlabel suspended for us */
	KC_RINGING = 2, /* routed; the proxy is ringing the target */
};

enum kc_pending {
	KP_NONE = 0,
	KP_ROUTE = 1,  /* the router reserved a target while RINGING */
	KP_REJECT = 2, /* the router rejected the call while RINGING */
};

struct kam_call {
	UT_hash_handle hh;
	struct kam_call *next_doomed; /* on k->doomed when `doomed` */
	uint32_t tindex, tlabel;
	uint8_t state;
	uint8_t pending;
	bool doomed;                  /* abandon in the router from the resume event */
	bool oom;
	int rej_code;
	const char *rej_reason;       /* static text */
	char id[];
};

enum kam_conn {
	KS_IDLE = 0,    /* not connected; a retry may be armed */
	KS_CONNECTING,
	KS_UP,
	KS_STOPPED,
};

struct kam {
	struct cl_owner owner;        /* first: the router's owner pointer is k */
	struct event_base *base;      /* borrowed */
	struct cl_engine *eng;        /* borrowed: router and config fetched per use */
	char *addr;                   /* owned copy, as given */
	struct sockaddr_storage sa;
	int salen;
	struct bufferevent *bev;      /* live connection or attempt, NULL when idle */
	struct bufferevent *dead;     /* closed, to free outside its callbacks */
	struct event *retry;          /* reconnect timer */
	struct event *resume;         /* zero-delay: continue reading, deferred work */
	uint32_t backoff_ms;          /* next retry delay before jitter; 0 = min */
	struct timeval up_since;      /* when the connection came up */
	uint64_t rng;
	enum kam_conn state;
	bool started;
	bool failing;                 /* in a streak of failed attempts (log once) */
	bool cut_pending;             /* output overflowed: cut from `resume` */
	struct kam_call *calls;       /* by call id */
	struct kam_call *doomed;      /* calls to abandon from `resume` */
	struct kam_stats st;
	char out[KAM_OUT_MAX];
};

/* ------------------------------------------------------------ call table */

static struct kam_call *call_find(struct kam *k, const char *id)
{
	struct kam_call *kc;
	HASH_FIND_STR(k->calls, id, kc);
	return kc;
}

static struct kam_call *call_add(struct kam *k, const char *id, uint32_t tindex, uint32_t tlabel)
{
	size_t n = strlen(id);
	struct kam_call *kc = calloc(1, sizeof *kc + n + 1);

	if (!kc)
		return NULL;
	memcpy(kc->id, id, n + 1);
	kc->tindex = tindex;
	kc->tlabel = tlabel;
	kc->state = KC_WAITING;
	HASH_ADD_KEYPTR(hh, k->calls, kc->id, n, kc);
	if (kc->oom) {
		free(kc);
		return NULL;
	}
	return kc;
}

static void call_del(struct kam *k, struct kam_call *kc)
{
	if (!kc)
		return;
	if (kc->doomed) {
		/* unlink from the doomed list */
		for (struct kam_call **pp = &k->doomed; *pp; pp = &(*pp)->next_doomed)
			if (*pp == kc) {
				*pp = kc->next_doomed;
				break;
			}
	}
	HASH_DEL(k->calls, kc);
	free(kc);
}

static void calls_clear(struct kam *k)
{
	struct kam_call *kc, *tmp;
	HASH_ITER(hh, k->calls, kc, tmp) {
		HASH_DEL(k->calls, kc);
		free(kc);
	}
	k->doomed = NULL;
}

/* ----------------------------------------------------------------- output */

static void defer(struct kam *k)
{
	event_active(k->resume, EV_TIMEOUT, 0);
}

/*
 * Queue one reply as a netstring. Dropped (and counted) when there is no
 * connection. Past limits.max_output the connection is cut from the resume
 * event (a hook may be on the stack).
 */
static void send_reply(struct kam *k, const struct kam_reply *r)
{
	if (k->state != KS_UP || k->cut_pending || !k->bev) {
		k->st.dropped++;
		return;
	}
	char *payload = k->out + KAM_OUT_HDR;
	int n = kam_reply_encode(r, payload, sizeof k->out - KAM_OUT_HDR - 1);
	if (n < 0) {
		CL_LOG_ERROR("kamailio: call %s: cannot encode the reply (%s)", r->call_id,
			     kam_strerror(n));
		k->st.dropped++;
		return;
	}
	char hdr[KAM_NS_DIGITS_MAX + 2];
	size_t hlen = kam_ns_header((size_t)n, hdr);
	memcpy(payload - hlen, hdr, hlen);
	payload[n] = ',';
	struct evbuffer *out = bufferevent_get_output(k->bev);
	if (evbuffer_add(out, payload - hlen, hlen + (size_t)n + 1) < 0) {
		CL_LOG_ERROR("kamailio: out of memory queueing a reply; cutting the connection");
		k->cut_pending = true;
		defer(k);
		return;
	}
	k->st.frames_out++;
	const struct cl_config *cfg = cl_engine_config(k->eng);
	if (cfg && evbuffer_get_length(out) > cfg->max_output) {
		CL_LOG_ERROR("kamailio: %zu bytes queued for %s (limits.max_output %" PRIu32
			     "); cutting the connection",
			     evbuffer_get_length(out), k->addr, cfg->max_output);
		k->cut_pending = true;
		defer(k);
	}
}

static void send_reject(struct kam *k, const char *call_id, uint32_t tindex, uint32_t tlabel,
			int code, const char *reason, const char *text)
{
	struct kam_reply r = {
		.action = KAM_ACT_REJECT,
		.call_id = call_id,
		.tindex = tindex,
		.tlabel = tlabel,
		.code = code,
		.reason = reason,
		.text = text,
	};
	send_reply(k, &r);
	k->st.rejects++;
}

/* Doom kc: the router call is abandoned from the resume event and the
 * proxy's transaction, if it waits, is rejected now. Hook-safe. */
static void call_doom(struct kam *k, struct kam_call *kc, int code, const char *reason,
		      const char *text)
{
	if (kc->state == KC_WAITING)
		send_reject(k, kc->id, kc->tindex, kc->tlabel, code, reason, text);
	kc->state = KC_RINGING;
	kc->pending = KP_REJECT;
	kc->rej_code = code;
	kc->rej_reason = reason;
	if (!kc->doomed) {
		kc->doomed = true;
		kc->next_doomed = k->doomed;
		k->doomed = kc;
		defer(k);
	}
}

/* Send the route for kc's reserved target (kc is WAITING). Hook-safe. */
static void send_route(struct kam *k, struct kam_call *kc, struct rt *rt,
		       const struct rt_call_info *ci)
{
	struct rt_target *t = ci->target_id ? rt_target_find(rt, ci->target_id) : NULL;
	struct rt_target_info ti;

	if (!t) {
		CL_LOG_ERROR("kamailio: call %s: reserved target %s not found", kc->id,
			     ci->target_id ? ci->target_id : "(none)");
		call_doom(k, kc, 500, "Server Internal Error", "reserved target not found");
		return;
	}
	rt_target_info(rt, t, &ti);
	if (!ti.sip_uri || !*ti.sip_uri) {
		CL_LOG_ERROR("kamailio: call %s: target %s has no SIP URI; the call is dropped",
			     kc->id, ti.id);
		call_doom(k, kc, 480, "Temporarily Unavailable", "target has no SIP URI");
		return;
	}
	const struct cl_config *cfg = cl_engine_config(k->eng);
	struct kam_reply r = {
		.action = KAM_ACT_ROUTE,
		.call_id = kc->id,
		.tindex = kc->tindex,
		.tlabel = kc->tlabel,
		.uri = ti.sip_uri,
		.target_id = ti.id,
		.territory = ci->territory && *ci->territory ? ci->territory : NULL,
		.reservation_id = ci->reservation_id,
		.ring_ms = cfg ? kam_ring_ms(cfg->ring_timeout_ms) : 0,
	};
	kc->state = KC_RINGING;
	kc->pending = KP_NONE;
	send_reply(k, &r);
	k->st.routes++;
}

/* ------------------------------------------------------------ router hooks */

/* The entry of c when k owns it, else NULL (ci filled either way). */
static struct kam_call *hook_call(struct kam *k, const struct rt_call *c, struct rt **rt,
				  struct rt_call_info *ci)
{
	if (!k || !(*rt = cl_engine_rt(k->eng)))
		return NULL;
	rt_call_info(*rt, c, ci);
	if (ci->owner != (void *)k)
		return NULL;
	struct kam_call *kc = call_find(k, ci->id);
	if (!kc && k->state == KS_UP)
		CL_LOG_WARN("kamailio: call %s: router decision for a call no longer tracked",
			    ci->id);
	return kc;
}

void kam_hook_route(struct kam *k, const struct rt_call *c)
{
	struct rt_call_info ci;
	struct rt *rt;
	struct kam_call *kc = hook_call(k, c, &rt, &ci);

	if (!kc || kc->doomed)
		return;
	if (kc->state == KC_WAITING) {
		send_route(k, kc, rt, &ci);
		return;
	}
	/*
	 * Ringing: the router's own ring timeout moved the call before the
	 * proxy reported on the target (the proxy is told to give up a little
	 * earlier, so it is late). Keep the decision for its next retry. A
	 * second time without a word from the proxy means it lost the call:
	 * end it rather than let it take a seat, and a miss, from every target
	 * in turn.
	 */
	if (kc->pending == KP_ROUTE) {
		CL_LOG_WARN("kamailio: call %s: no news from the proxy for two ring timeouts; "
			    "abandoning it",
			    kc->id);
		call_doom(k, kc, 480, "Temporarily Unavailable", "proxy silent");
		return;
	}
	kc->pending = KP_ROUTE;
}

void kam_hook_queued(struct kam *k, const struct rt_call *c, uint32_t position, uint32_t ewt_ms)
{
	struct rt_call_info ci;
	struct rt *rt;
	struct kam_call *kc = hook_call(k, c, &rt, &ci);
	const struct cl_config *cfg = k ? cl_engine_config(k->eng) : NULL;

	if (!kc || kc->doomed || kc->state != KC_WAITING || !cfg || !cfg->kamailio.notify_queued)
		return;
	struct kam_reply r = {
		.action = KAM_ACT_QUEUED,
		.call_id = kc->id,
		.position = position,
		.ewt_ms = ewt_ms,
	};
	send_reply(k, &r);
	k->st.queued++;
}

void kam_hook_reject(struct kam *k, const struct rt_call *c, enum rt_reject why, const char *text)
{
	struct rt_call_info ci;
	struct rt *rt;
	struct kam_call *kc = hook_call(k, c, &rt, &ci);
	int code;
	const char *reason;

	if (!kc)
		return;
	kam_reject_sip(why, &code, &reason);
	if (kc->state == KC_WAITING) {
		send_reject(k, kc->id, kc->tindex, kc->tlabel, code, reason, text);
		call_del(k, kc); /* the router frees the call after this hook */
		return;
	}
	/* Ringing: answer the proxy's next retry with it. The router call is
	 * gone, so a doomed entry has nothing left to abandon. */
	if (kc->doomed) {
		call_del(k, kc);
		return;
	}
	kc->pending = KP_REJECT;
	kc->rej_code = code;
	kc->rej_reason = reason;
}

/* ---------------------------------------------------------------- events */

static void on_invite(struct kam *k, struct rt *rt, const struct kam_event *ev)
{
	if (call_find(k, ev->call_id)) {
		CL_LOG_WARN("kamailio: call %s: a second INVITE while the first is pending",
			    ev->call_id);
		send_reject(k, ev->call_id, ev->tindex, ev->tlabel, 482, "Loop Detected",
			    "call id already pending");
		return;
	}
	struct kam_call *kc = call_add(k, ev->call_id, ev->tindex, ev->tlabel);
	if (!kc) {
		CL_LOG_ERROR("kamailio: call %s: out of memory", ev->call_id);
		send_reject(k, ev->call_id, ev->tindex, ev->tlabel, 500, "Server Internal Error",
			    "out of memory");
		return;
	}
	struct rt_call_req req = {
		.id = ev->call_id,
		.caller = ev->from,
		.dialed = ev->to,
		.postal_code = ev->postal_code,
		.segment = ev->segment,
		.skills = ev->skills,
		.n_skills = ev->n_skills,
		.language = ev->language,
		.priority = ev->priority,
	};
	k->st.invites++;
	/* The decision comes back through the hooks before this returns; kc
	 * may be gone by then (rejected), so it is not touched on success. */
	int rc = rt_call_offer(rt, &req, k, 0);
	if (rc < 0) {
		int code;
		const char *reason;
		kam_offer_error_sip(rc, &code, &reason);
		CL_LOG_INFO("kamailio: call %s: not accepted (%s): %d %s", ev->call_id,
			    rt_strerror(rc), code, reason);
		send_reject(k, ev->call_id, ev->tindex, ev->tlabel, code, reason, rt_strerror(rc));
		call_del(k, call_find(k, ev->call_id));
	}
}

/* The router's view of a call of ours, or false. */
static bool router_call(struct kam *k, struct rt *rt, const char *id, struct rt_call_info *ci)
{
	struct rt_call *c = rt_call_find(rt, id);
	if (!c)
		return false;
	rt_call_info(rt, c, ci);
	return ci->owner == (void *)k;
}

static void on_retry_event(struct kam *k, struct rt *rt, const struct kam_event *ev)
{
	struct kam_call *kc = call_find(k, ev->call_id);
	struct rt_call_info ci;

	k->st.retries++;
	if (!kc) {
		k->st.stale++;
		CL_LOG_INFO("kamailio: call %s: retry for a call the engine does not hold",
			    ev->call_id);
		send_reject(k, ev->call_id, ev->tindex, ev->tlabel, 480, "Temporarily Unavailable",
			    "unknown call");
		return;
	}
	kc->tindex = ev->tindex;
	kc->tlabel = ev->tlabel;
	kc->state = KC_WAITING;
	if (kc->pending == KP_REJECT) {
		send_reject(k, kc->id, kc->tindex, kc->tlabel, kc->rej_code, kc->rej_reason, NULL);
		if (!kc->doomed)
			call_del(k, kc);
		return;
	}
	if (kc->pending == KP_ROUTE) {
		/* The router re-reserved on its own ring timeout; the failed
		 * target's miss is already counted. */
		kc->pending = KP_NONE;
		if (router_call(k, rt, kc->id, &ci) && ci.state == RT_CALL_RESERVED && ci.target_id)
			send_route(k, kc, rt, &ci);
		return;
	}
	int rc = rt_call_no_answer(rt, kc->id, ev->target_id, k);
	if (rc == 0 || rc == -RT_ESTATE)
		return; /* routed again through the hook, or waiting in a queue */
	kc = call_find(k, ev->call_id);
	if (!kc)
		return;
	if (rc == -RT_EINVAL && router_call(k, rt, kc->id, &ci) && ci.state == RT_CALL_RESERVED &&
	    ci.target_id) {
		send_route(k, kc, rt, &ci); /* already reserved elsewhere */
		return;
	}
	CL_LOG_INFO("kamailio: call %s: retry refused by the router (%s)", kc->id, rt_strerror(rc));
	send_reject(k, kc->id, kc->tindex, kc->tlabel, 480, "Temporarily Unavailable",
		    rt_strerror(rc));
	call_del(k, kc);
}

static void on_answered(struct kam *k, struct rt *rt, const struct kam_event *ev)
{
	struct kam_call *kc = call_find(k, ev->call_id);
	struct rt_call_info ci;

	if (kc && kc->doomed)
		return; /* the resume event abandons it */
	call_del(k, kc);
	int rc = rt_call_answered(rt, ev->call_id, ev->target_id, k);
	if (rc == 0) {
		k->st.answered++;
		return;
	}
	if (rc == -RT_ESTATE && router_call(k, rt, ev->call_id, &ci) &&
	    ci.state == RT_CALL_CONNECTED)
		return; /* a retransmitted 2xx */
	if (rc == -RT_EINVAL && router_call(k, rt, ev->call_id, &ci)) {
		/* Answered by a target the router had already moved the call
		 * away from: end it in the router rather than keep routing a
		 * call that is in fact connected. */
		CL_LOG_WARN("kamailio: call %s: answered by %s, but the router holds it for %s; "
			    "ending it in the router",
			    ev->call_id, ev->target_id ? ev->target_id : "?",
			    ci.target_id ? ci.target_id : "(queue)");
		if (rt_call_abandoned(rt, ev->call_id, k) == 0)
			k->st.abandoned++;
		return;
	}
	k->st.stale++;
	CL_LOG_DEBUG("kamailio: call %s: answer ignored (%s)", ev->call_id, rt_strerror(rc));
}

static void on_gone(struct kam *k, struct rt *rt, const struct kam_event *ev)
{
	struct kam_call *kc = call_find(k, ev->call_id);
	int rc;

	if (kc && kc->doomed)
		return;
	call_del(k, kc);
	if (ev->type == KAM_EV_ENDED) {
		rc = rt_call_ended(rt, ev->call_id, k);
		if (rc == 0) {
			k->st.ended++;
			return;
		}
		/* A BYE before the answer was seen: the call is over anyway. */
		if (rc == -RT_ESTATE)
			rc = rt_call_abandoned(rt, ev->call_id, k);
		if (rc == 0) {
			k->st.abandoned++;
			return;
		}
	} else {
		rc = rt_call_abandoned(rt, ev->call_id, k);
		if (rc == 0) {
			if (ev->type == KAM_EV_TIMEOUT) {
				k->st.timeouts++;
				CL_LOG_INFO("kamailio: call %s: the proxy's deadline passed; "
					    "counted as abandoned",
					    ev->call_id);
			} else if (ev->type == KAM_EV_FAILED) {
				k->st.failed++;
				CL_LOG_WARN("kamailio: call %s: the proxy could not reach target %s "
					    "(%d); counted as abandoned",
					    ev->call_id, ev->target_id ? ev->target_id : "?",
					    ev->code);
			} else {
				k->st.abandoned++;
			}
			return;
		}
	}
	k->st.stale++;
	CL_LOG_DEBUG("kamailio: call %s: %s ignored (%s)", ev->call_id, kam_ev_name(ev->type),
		     rt_strerror(rc));
}

static void handle_event(struct kam *k, const char *payload, size_t len)
{
	struct rt *rt = cl_engine_rt(k->eng);
	struct kam_event ev;
	struct json_t *doc = NULL;
	char err[KAM_ERR_MAX];

	CL_LOG_DEBUG("kamailio: <- %.*s", (int)(len > 512 ? 512 : len), payload);
	int rc = kam_event_parse(payload, len, &ev, &doc, err, sizeof err);
	if (rc < 0) {
		k->st.bad_events++;
		CL_LOG_WARN("kamailio: bad %s event%s%s: %s", kam_ev_name(ev.type),
			    ev.call_id ? " for call " : "", ev.call_id ? ev.call_id : "", err);
		if (ev.has_tx && ev.call_id) {
			struct kam_call *kc = call_find(k, ev.call_id);
			send_reject(k, ev.call_id, ev.tindex, ev.tlabel, 400, "Bad Request", err);
			if (kc && ev.type == KAM_EV_RETRY && !kc->doomed) {
				/* The proxy gave up on the call: so does the router. */
				kc->state = KC_RINGING;
				call_doom(k, kc, 400, "Bad Request", err);
			}
		} else if (ev.has_tx) {
			send_reject(k, "", ev.tindex, ev.tlabel, 400, "Bad Request", err);
		}
		kam_event_free(doc);
		return;
	}
	if (!rt) {
		kam_event_free(doc);
		return;
	}
	switch (ev.type) {
	case KAM_EV_INVITE: on_invite(k, rt, &ev); break;
	case KAM_EV_RETRY: on_retry_event(k, rt, &ev); break;
	case KAM_EV_ANSWERED: on_answered(k, rt, &ev); break;
	case KAM_EV_ENDED:
	case KAM_EV_CANCEL:
	case KAM_EV_TIMEOUT:
	case KAM_EV_FAILED: on_gone(k, rt, &ev); break;
	}
	kam_event_free(doc);
}

/* ------------------------------------------------------------ connection */

static uint64_t rng_next(struct kam *k)
{
	uint64_t x = k->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return k->rng = x;
}

static void schedule_retry(struct kam *k)
{
	const struct cl_config *cfg = cl_engine_config(k->eng);
	uint32_t lo = cfg ? cfg->kamailio.reconnect_min_ms : 200;
	uint32_t hi = cfg ? cfg->kamailio.reconnect_max_ms : 5000;

	if (k->backoff_ms < lo)
		k->backoff_ms = lo;
	if (k->backoff_ms > hi)
		k->backoff_ms = hi;
	/* Full delay, or up to half of it less: peers that failed together
	 * do not come back together. */
	uint32_t d = k->backoff_ms;
	uint32_t wait = d - (uint32_t)(rng_next(k) % (d / 2 + 1));
	struct timeval tv = {wait / 1000, (wait % 1000) * 1000};
	evtimer_add(k->retry, &tv);
	k->backoff_ms = d > hi / 2 ? hi : d * 2;
}

/* End every call this connection owned: the proxy's suspended transactions
 * are out of reach now (the script answers them on its deadline). */
static void drop_calls(struct kam *k)
{
	struct rt *rt = cl_engine_rt(k->eng);
	uint32_t n = HASH_COUNT(k->calls);

	if (rt)
		rt_owner_gone(rt, k);
	calls_clear(k);
	if (n)
		CL_LOG_INFO("kamailio: %u pending calls ended with the connection", n);
}

/* Close the current connection or attempt (never frees the bufferevent:
 * this may run inside its callback). */
static void conn_close(struct kam *k)
{
	if (!k->bev)
		return;
	bufferevent_disable(k->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(k->bev, NULL, NULL, NULL, NULL);
	if (k->dead)
		bufferevent_free(k->dead);
	k->dead = k->bev;
	k->bev = NULL;
}

static void conn_lost(struct kam *k, const char *why)
{
	bool was_up = k->state == KS_UP;

	conn_close(k);
	k->cut_pending = false;
	if (k->state == KS_STOPPED)
		return;
	k->state = KS_IDLE;
	if (was_up) {
		struct timeval now, d;
		k->st.disconnects++;
		drop_calls(k);
		/* A connection that lived a while starts the schedule over; one
		 * cut right after it came up (e.g. the proxy's client limit)
		 * keeps doubling the delay. */
		event_base_gettimeofday_cached(k->base, &now);
		evutil_timersub(&now, &k->up_since, &d);
		if (d.tv_sec >= KAM_STABLE_S)
			k->backoff_ms = 0;
		CL_LOG_WARN("kamailio: connection to %s lost (%s); reconnecting", k->addr, why);
		k->failing = false;
	} else {
		k->st.connect_fails++;
		if (!k->failing)
			CL_LOG_WARN("kamailio: cannot connect to %s (%s); retrying", k->addr, why);
		else
			CL_LOG_DEBUG("kamailio: cannot connect to %s (%s)", k->addr, why);
		k->failing = true;
	}
	schedule_retry(k);
}

static void process_input(struct kam *k)
{
	struct bufferevent *bev = k->bev;
	const struct cl_config *cfg = cl_engine_config(k->eng);
	size_t max = cfg ? cfg->kamailio.max_message : 65536;
	unsigned frames = 0;

	while (k->state == KS_UP && k->bev == bev && !k->cut_pending) {
		struct evbuffer *in = bufferevent_get_input(bev);
		size_t len = evbuffer_get_length(in);
		size_t skip, hdr, plen;
		if (!len)
			return;
		if (frames == KAM_BATCH) {
			defer(k);
			return;
		}
		size_t win = len < 32 ? len : 32;
		const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)win);
		int rc = p ? kam_ns_parse(p, win, max, &skip, &hdr, &plen) : -KAM_ENOMEM;
		if (rc == 0 && hdr && skip + hdr + plen + 1 <= len) {
			size_t need = skip + hdr + plen + 1;
			p = (const char *)evbuffer_pullup(in, (ev_ssize_t)need);
			rc = p ? kam_ns_parse(p, need, max, &skip, &hdr, &plen) : -KAM_ENOMEM;
		}
		if (rc < 0) {
			k->st.bad_frames++;
			CL_LOG_ERROR("kamailio: %s from %s; cutting the connection",
				     rc == -KAM_ENOMEM ? "out of memory reading"
						       : "malformed or oversized netstring",
				     k->addr);
			conn_lost(k, "bad frame");
			return;
		}
		if (rc == 0) {
			if (skip)
				evbuffer_drain(in, skip);
			if (skip && !hdr)
				continue;
			return; /* wait for more */
		}
		k->st.frames_in++;
		frames++;
		handle_event(k, p + skip + hdr, plen);
		if (k->bev == bev)
			evbuffer_drain(in, skip + hdr + plen + 1);
	}
}

/*
 * Kamailio writes each event with Nagle's algorithm on and many events
 * (answered, ended) get no reply to carry the ACK; with the delayed ACK on
 * this side, its next event (often the next INVITE) would wait up to 40 ms
 * for that ACK. Asking for a quick ACK after every read sends it at once:
 * one system call per read callback, which covers a whole batch of frames.
 */
static void quick_ack(struct bufferevent *bev)
{
#ifdef TCP_QUICKACK
	int one = 1;
	evutil_socket_t fd = bufferevent_getfd(bev);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
	(void)bev;
#endif
}

static void on_read(struct bufferevent *bev, void *arg)
{
	quick_ack(bev);
	process_input(arg);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct kam *k = arg;
	struct rt *rt = cl_engine_rt(k->eng);
	(void)fd;
	(void)what;

	while (k->doomed) {
		struct kam_call *kc = k->doomed;
		k->doomed = kc->next_doomed;
		kc->doomed = false;
		if (rt && rt_call_abandoned(rt, kc->id, k) == 0)
			k->st.abandoned++;
		HASH_DEL(k->calls, kc);
		free(kc);
	}
	if (k->cut_pending) {
		conn_lost(k, "output over limit");
		return;
	}
	process_input(k);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct kam *k = arg;
	(void)bev;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		evutil_socket_t fd = bufferevent_getfd(k->bev);
		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		k->state = KS_UP;
		event_base_gettimeofday_cached(k->base, &k->up_since);
		k->st.connects++;
		CL_LOG_INFO("kamailio: connected to evapi at %s", k->addr);
		k->failing = false;
		bufferevent_enable(k->bev, EV_READ | EV_WRITE);
		return;
	}
	char why[96];
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "closed by the peer");
	else
		snprintf(why, sizeof why, "%s",
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	conn_lost(k, why);
}

static void connect_now(struct kam *k)
{
	if (k->state == KS_STOPPED)
		return;
	k->bev = bufferevent_socket_new(k->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!k->bev) {
		k->state = KS_IDLE;
		conn_lost(k, "out of memory");
		return;
	}
	bufferevent_setcb(k->bev, on_read, NULL, on_event, k);
	k->state = KS_CONNECTING;
	if (bufferevent_socket_connect(k->bev, (struct sockaddr *)&k->sa, k->salen) < 0) {
		char why[96];
		snprintf(why, sizeof why, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		conn_lost(k, why);
	}
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kam *k = arg;
	(void)fd;
	(void)what;

	if (k->dead) {
		bufferevent_free(k->dead);
		k->dead = NULL;
	}
	if (k->state == KS_IDLE)
		connect_now(k);
}

/* ----------------------------------------------------------------- public */

static int parse_addr(struct kam *k, const char *addr)
{
	char buf[300];

	if (strncmp(addr, "localhost:", 10) == 0) {
		if (snprintf(buf, sizeof buf, "127.0.0.1:%s", addr + 10) >= (int)sizeof buf)
			return -1;
		addr = buf;
	}
	k->salen = (int)sizeof k->sa;
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&k->sa, &k->salen) < 0)
		return -1;
	uint16_t port = k->sa.ss_family == AF_INET6
				? ntohs(((struct sockaddr_in6 *)&k->sa)->sin6_port)
				: ntohs(((struct sockaddr_in *)&k->sa)->sin_port);
	return port ? 0 : -1;
}

struct kam *kam_new(struct event_base *base, struct cl_engine *eng, const char *addr)
{
	struct kam *k = NULL;

	if (!base || !eng || !addr)
		return NULL;
	if (!(k = calloc(1, sizeof *k)))
		goto oom;
	k->owner.kind = CL_OWNER_KAMAILIO;
	k->base = base;
	k->eng = eng;
	if (parse_addr(k, addr) < 0) {
		CL_LOG_ERROR("kamailio: bad evapi address \"%s\" (numeric HOST:PORT with a port "
			     "above 0, or localhost:PORT)",
			     addr);
		free(k);
		return NULL;
	}
	if (!(k->addr = strdup(addr)))
		goto oom;
	if (!(k->retry = evtimer_new(base, on_retry_timer, k)))
		goto oom;
	if (!(k->resume = event_new(base, -1, 0, on_resume, k)))
		goto oom;
	k->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)k;
	if (!k->rng)
		k->rng = 0x9e3779b97f4a7c15ULL;
	k->state = KS_IDLE;
	return k;
oom:
	CL_LOG_ERROR("kamailio: out of memory");
	kam_free(k);
	return NULL;
}

int kam_start(struct kam *k)
{
	if (!k || k->started || k->state == KS_STOPPED)
		return -KAM_ESTATE;
	k->started = true;
	CL_LOG_INFO("kamailio: connecting to evapi at %s", k->addr);
	connect_now(k);
	return 0;
}

void kam_stop(struct kam *k)
{
	if (!k || k->state == KS_STOPPED)
		return;
	bool was_up = k->state == KS_UP;
	if (k->retry)
		evtimer_del(k->retry);
	if (k->resume)
		event_del(k->resume);
	if (was_up && k->bev && !k->cut_pending) {
		/* One non-blocking send of what is queued (the rejections of
		 * waiting calls at shutdown); whatever does not fit is lost
		 * with the connection. */
		struct evbuffer *out = bufferevent_get_output(k->bev);
		evutil_socket_t fd = bufferevent_getfd(k->bev);
		size_t queued = evbuffer_get_length(out);
		const unsigned char *p = queued ? evbuffer_pullup(out, -1) : NULL;
		if (fd >= 0 && p) {
			/* The bufferevent owns draining its buffer: copy out, the
			 * buffer goes with the connection. */
			ssize_t n = send(fd, p, queued, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 || (size_t)n < queued)
				CL_LOG_WARN("kamailio: %zu bytes for %s lost at stop",
					    queued - (n > 0 ? (size_t)n : 0), k->addr);
		}

	}
	conn_close(k);
	k->state = KS_STOPPED;
	if (was_up)
		k->st.disconnects++;
	CL_LOG_INFO("kamailio: totals invites=%" PRIu64 " routes=%" PRIu64 " rejects=%" PRIu64
		    " retries=%" PRIu64 " answered=%" PRIu64 " ended=%" PRIu64 " abandoned=%" PRIu64
		    " timeouts=%" PRIu64 " failed=%" PRIu64 " stale=%" PRIu64 " bad_events=%" PRIu64
		    " dropped=%" PRIu64 " connects=%" PRIu64 " disconnects=%" PRIu64,
		    k->st.invites, k->st.routes, k->st.rejects, k->st.retries, k->st.answered,
		    k->st.ended, k->st.abandoned, k->st.timeouts, k->st.failed, k->st.stale,
		    k->st.bad_events, k->st.dropped, k->st.connects, k->st.disconnects);
	/* Calls still marked for abandoning end with the rest. */
	k->doomed = NULL;
	drop_calls(k);
}

void kam_free(struct kam *k)
{
	if (!k)
		return;
	if (k->addr)
		kam_stop(k);
	if (k->dead)
		bufferevent_free(k->dead);
	if (k->retry)
		event_free(k->retry);
	if (k->resume)
		event_free(k->resume);
	calls_clear(k);
	free(k->addr);
	free(k);
}

void kam_stats(const struct kam *k, struct kam_stats *out)
{
	*out = k->st;
	out->pending_calls = HASH_COUNT(k->calls);
	out->connected = k->state == KS_UP;
}

const char *kam_addr(const struct kam *k)
{
	return k->addr;
}
