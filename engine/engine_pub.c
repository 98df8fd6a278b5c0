/*
 * engine_pub.c — the glue between the router and the Redis publisher.
 *
 * The router reports every transition through its event hook; this file
 * turns each into the publisher's flat records: one stream event, the call's
 * hash and, for target changes, the target's hash. Queue hashes and the
 * totals hash are refreshed from the router's views every snapshot_ms (the
 * publisher's totals hook): queues change with nearly every event, and one
 * periodic pass costs less than tracking which of them changed. On every
 * (re)connection the resync hook re-publishes the whole current state.
 *
 * The publisher borrows its configuration for its whole life, across
 * configuration reloads, so the engine hands it a private copy of the redis
 * section taken at start (a change of it needs a restart).
 */
#include "engine_pub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "engine.h"
#include "log.h"
#include "pub.h"
#include "rt.h"

struct engine_pub {
	struct cl_engine *eng;
	struct pub *pub;
	struct cfg_redis cfg; /* owned copy (strings too) */
};

static const char *const call_states[] = {
	[RT_CALL_QUEUED] = "queued",
	[RT_CALL_RESERVED] = "reserved",
	[RT_CALL_CONNECTED] = "connected",
	[RT_CALL_WRAPUP] = "wrap_up",
	[RT_CALL_ENDED] = "ended",
};

static const char *const target_states[] = {
	[RT_TARGET_LOGGED_OUT] = "logged_out",
	[RT_TARGET_READY] = "ready",
	[RT_TARGET_NOT_READY] = "not_ready",
	[RT_TARGET_WRAP_UP] = "wrap_up",
};

static const char *const event_types[] = {
	[RT_EV_CALL_OFFERED] = "call.offered",
	[RT_EV_CALL_QUEUED] = "call.queued",
	[RT_EV_CALL_ESCALATED] = "call.escalated",
	[RT_EV_CALL_RESERVED] = "call.reserved",
	[RT_EV_CALL_ACCEPTED] = "call.accepted",
	[RT_EV_CALL_NO_ANSWER] = "call.no_answer",
	[RT_EV_CALL_CONNECTED] = "call.connected",
	[RT_EV_CALL_ENDED] = "call.ended",
	[RT_EV_CALL_WRAPUP_DONE] = "call.wrapup_done",
	[RT_EV_TARGET_STATE] = "target.state",
	[RT_EV_CALL_CALLBACK] = "call.callback",
};

static const char *const end_reasons[] = {
	[RT_END_COMPLETED] = "completed",
	[RT_END_ABANDONED] = "abandoned",
	[RT_END_REJECTED] = "rejected",
	[RT_END_OWNER_LOST] = "owner_lost",
};

static const char *const reject_reasons[] = {
	[RT_REJECT_NO_ROUTE] = "no_route",   [RT_REJECT_PLAN] = "plan",
	[RT_REJECT_CALLBACK] = "callback",   [RT_REJECT_QUEUE_FULL] = "queue_full",
	[RT_REJECT_SHUTDOWN] = "shutdown",   [RT_REJECT_DRAINED] = "drained",
};

#define NAME(tab, i) ((unsigned)(i) < sizeof tab / sizeof tab[0] && tab[i] ? tab[i] : "")

static void fill_target(const struct rt *rt, const struct rt_target *t, struct pub_target *o)
{
	struct rt_target_info ti;
	rt_target_info(rt, t, &ti);
	*o = (struct pub_target){
		.id = ti.id,
		.name = ti.name,
		.kind = ti.kind == CFG_KIND_PARTNER ? "partner" : "rep",
		.state = NAME(target_states, ti.state),
		.reason = ti.reason,
		.since_ms = ti.since_ms,
		.active = ti.active,
		.capacity = ti.capacity,
		.calls_today = (uint32_t)ti.answered,
		.last_end_ms = ti.last_end_ms,
		.closed = ti.closed,
	};
}

static void fill_call(const struct rt *rt, const struct rt_call *c, struct pub_call *o,
		      bool ended, const char *reason)
{
	struct rt_call_info ci;
	rt_call_info(rt, c, &ci);
	*o = (struct pub_call){
		.id = ci.id,
		.territory = ci.territory,
		.plan = ci.plan,
		.target_id = ci.target_id,
		.state = ended ? "ended" : NAME(call_states, ci.state),
		.reason = reason,
		.step = ci.step,
		.priority = ci.priority,
		.offered_ms = ci.offered_ms,
		.answered_ms = ci.answered_ms,
		.ended_ms = ci.ended_ms,
		.ended = ended,
	};
}

/* pub's hooks for the hashes marked dirty: the state when they are written. */
static bool hook_target(void *arg, const char *id, struct pub_target *out)
{
	struct engine_pub *ep = arg;
	const struct rt *rt = cl_engine_rt(ep->eng);
	const struct rt_target *t = rt_target_find(rt, id);

	if (!t)
		return false;
	fill_target(rt, t, out);
	return true;
}

static bool hook_call(void *arg, const char *id, struct pub_call *out)
{
	struct engine_pub *ep = arg;
	const struct rt *rt = cl_engine_rt(ep->eng);
	const struct rt_call *c = rt_call_find(rt, id);

	if (!c)
		return false;
	fill_call(rt, c, out, false, "");
	return true;
}

static int resync_target(void *arg, const struct rt_target *t)
{
	struct engine_pub *ep = arg;
	struct pub_target pt;
	fill_target(cl_engine_rt(ep->eng), t, &pt);
	pub_target(ep->pub, &pt);
	return 0;
}

static int resync_call(void *arg, const struct rt_call *c)
{
	struct engine_pub *ep = arg;
	struct pub_call pc;
	fill_call(cl_engine_rt(ep->eng), c, &pc, false, NULL);
	pub_call(ep->pub, &pc);
	return 0;
}

static int publish_queue(void *arg, const struct rt_queue_info *q)
{
	struct engine_pub *ep = arg;
	struct pub_queue pq = {
		.name = q->name,
		.territory = q->territory,
		.waiting = q->waiting,
		.available = q->available,
		.members = q->members,
		.oldest_ms = q->oldest_ms,
		.oldest_call = q->oldest_call,
	};
	pub_queue(ep->pub, &pq);
	return 0;
}

static void on_resync(void *arg, struct pub *p)
{
	struct engine_pub *ep = arg;
	struct rt *rt = cl_engine_rt(ep->eng);
	(void)p;
	rt_foreach_target(rt, resync_target, ep);
	rt_foreach_queue(rt, publish_queue, ep);
	rt_foreach_call(rt, resync_call, ep);
}

static void on_totals(void *arg, struct pub_totals *out)
{
	struct engine_pub *ep = arg;
	struct rt *rt = cl_engine_rt(ep->eng);
	struct rt_stats st;
	rt_stats(rt, &st);
	*out = (struct pub_totals){
		.offered = st.offered,
		.routed = st.routed,
		.queued = st.queued,
		.rejected = st.rejected,
		.abandoned = st.abandoned,
		.completed = st.completed,
		.live_calls = st.live_calls,
		.waiting_calls = st.waiting_calls,
		.targets_ready = st.targets_by_state[RT_TARGET_READY] - st.targets_busy,
		.targets_busy = st.targets_busy,
		.targets_not_ready = st.targets_by_state[RT_TARGET_NOT_READY],
		.targets_wrap_up = st.targets_by_state[RT_TARGET_WRAP_UP],
		.targets_logged_out = st.targets_by_state[RT_TARGET_LOGGED_OUT],
	};
	rt_foreach_queue(rt, publish_queue, ep);
}

static int copy_str(char **dst, const char *src)
{
	*dst = NULL;
	return src && !(*dst = strdup(src)) ? -1 : 0;
}

static void cfg_copy_free(struct cfg_redis *c)
{
	free(c->host);
	free(c->unix_path);
	free(c->user);
	free(c->password);
	free(c->prefix);
	free(c->journal);
}

/* Copy src, with "host:port" (may be NULL) overriding host and port. */
static int cfg_copy(struct cfg_redis *dst, const struct cfg_redis *src, const char *addr)
{
	*dst = *src;
	if (copy_str(&dst->host, src->host) || copy_str(&dst->unix_path, src->unix_path) ||
	    copy_str(&dst->user, src->user) || copy_str(&dst->password, src->password) ||
	    copy_str(&dst->prefix, src->prefix) || copy_str(&dst->journal, src->journal))
		goto fail;
	if (addr) {
		const char *colon = strrchr(addr, ':');
		char *end = NULL;
		unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
		if (!colon || colon == addr || !end || *end || port == 0 || port > 65535) {
			CL_LOG_ERROR("engine: --redis %s: want HOST:PORT", addr);
			goto fail;
		}
		free(dst->host);
		if (!(dst->host = strndup(addr, (size_t)(colon - addr))))
			goto fail;
		dst->port = (uint16_t)port;
		free(dst->unix_path);
		dst->unix_path = NULL;
	}
	return 0;
fail:
	cfg_copy_free(dst);
	return -1;
}

struct engine_pub *engine_pub_new(struct cl_engine *eng, const struct cfg_redis *cfg,
				  const char *addr)
{
	struct engine_pub *ep = calloc(1, sizeof *ep);
	if (!ep)
		return NULL;
	ep->eng = eng;
	if (cfg_copy(&ep->cfg, cfg, addr) < 0) {
		free(ep);
		return NULL;
	}
	struct pub_hooks hooks = {.resync = on_resync,
				  .totals = on_totals,
				  .target = hook_target,
				  .call = hook_call};
	if (!(ep->pub = pub_new(cl_engine_base(eng), &ep->cfg, &hooks, ep))) {
		cfg_copy_free(&ep->cfg);
		free(ep);
		return NULL;
	}
	return ep;
}

void engine_pub_free(struct engine_pub *ep)
{
	if (!ep)
		return;
	pub_free(ep->pub);
	cfg_copy_free(&ep->cfg);
	free(ep);
}

struct pub *engine_pub_publisher(const struct engine_pub *ep) { return ep ? ep->pub : NULL; }

void engine_pub_event(struct engine_pub *ep, const struct rt_event *ev)
{
	if (!ep)
		return;
	struct rt *rt = cl_engine_rt(ep->eng);
	struct pub_event pe = {
		.type = NAME(event_types, ev->type),
		.ts_ms = ev->ts_ms,
		.reason = ev->reason,
		/* Its reason is the number to call back. */
		.personal = ev->type == RT_EV_CALL_CALLBACK,
	};
	char step[24], prio[24];

	if (ev->call) {
		struct rt_call_info ci;
		rt_call_info(rt, ev->call, &ci);
		pe.call_id = ci.id;
		pe.territory = ci.territory;
		pe.target_id = ev->target ? rt_target_id(ev->target) : ci.target_id;
		pe.state = NAME(call_states, ci.state);
		/* By hand: snprintf was a visible cost per event. */
		step[pub_u64_dec(ci.step, step)] = '\0';
		prio[pub_u64_dec(ci.priority, prio)] = '\0';
		pe.extra[pe.n_extra++] = (struct pub_kv){"plan", ci.plan};
		pe.extra[pe.n_extra++] = (struct pub_kv){"step", step};
		if (ev->type == RT_EV_CALL_OFFERED) {
			pe.extra[pe.n_extra++] = (struct pub_kv){"priority", prio};
			pe.extra[pe.n_extra++] = (struct pub_kv){"segment", ci.segment};
		}
		if (ev->type == RT_EV_CALL_ENDED) {
			pe.extra[pe.n_extra++] = (struct pub_kv){"end", NAME(end_reasons, ev->end)};
			if (ev->end == RT_END_REJECTED)
				pe.extra[pe.n_extra++] =
					(struct pub_kv){"reject", NAME(reject_reasons, ev->reject)};
		}
		/* Wrap-up belongs to the target; the call's hash ended with the call.
		 * A live call's hash is built when it is written (hook_call); its
		 * end is written as it is now, the call being gone after this. */
		if (ev->type == RT_EV_CALL_ENDED) {
			struct pub_call pc;
			fill_call(rt, ev->call, &pc, true, NAME(end_reasons, ev->end));
			pub_call(ep->pub, &pc);
		} else if (ev->type != RT_EV_CALL_WRAPUP_DONE) {
			pub_call_dirty(ep->pub, ci.id);
		}
	}
	if (ev->target) {
		const char *tid = rt_target_id(ev->target);
		if (!ev->call) {
			struct rt_target_info ti;
			rt_target_info(rt, ev->target, &ti);
			pe.target_id = tid;
			pe.state = NAME(target_states, ti.state);
		}
		pub_target_dirty(ep->pub, tid);
	}
	int rc = pub_event(ep->pub, &pe, NULL);
	if (rc < 0 && rc != -PUB_EDROP)
		CL_LOG_WARN("engine: event %s not published: %s", pe.type, pub_strerror(rc));
}
