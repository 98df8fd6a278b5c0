/*
 * srv.c — the protocol server (see srv.h): listener, sessions, Hello,
 * role checks, dispatch into the router, and the router's hooks that turn
 * decisions into RouteCall / QueueCall / RejectCall / Offer / OfferRevoked /
 * AgentStatus frames.
 *
 * Design:
 * - A session is one bufferevent plus one zero-delay timer (`resume`). The
 *   timer is the only place a session is freed, and the place where reading
 *   continues after SRV_BATCH frames, so nothing is ever freed inside its own
 *   callback and one busy peer yields to the others between batches.
 * - Closing comes in two strengths: CLOSING stops reading and frees the
 *   session once its output has drained (an Error reply is flushed first);
 *   DEAD frees it at the next turn of the loop, dropping its output.
 * - Replies are packed straight into the session's output evbuffer
 *   (wire_write_fast), so many frames leave in one write. Sessions with new
 *   output are listed, and one deferred event at the end of the loop pass
 *   writes each listed output directly (on_write_all); the bufferevent's
 *   write event is armed only while a socket is full (or while closing), so
 *   a reply costs no epoll_ctl and no extra loop pass. Frames are
 *   decoded into one arena (wire_read_arena) that is reset after each
 *   frame is handled: no malloc or free per message.
 * - Backpressure: when a session's output passes max_output/2 the server stops
 *   reading from it and sets the write low watermark to max_output/4; the
 *   write callback resumes reading. Output can still grow from unsolicited
 *   messages (offers, statuses, routes of queued calls); past max_output the
 *   peer is cut, so one stuck reader costs at most max_output bytes.
 * - The router knows sessions as opaque pointers. A session that ever owned a
 *   call or was bound to a target is reported with rt_owner_gone /
 *   rt_session_gone before it is freed; the router then drops it everywhere.
 *   Sessions that never did are not reported, so short-lived connections do
 *   not cost a walk of the router.
 * - Every rejected input is logged once, here, where the decision is made
 *   (session_reject), with the session id, peer, role and the ids involved.
 * - The sales messages (slots 60-79) pass the role check here and are then
 *   handed to sales_wire.c, which applies the session rules, calls the sales
 *   module and builds the reply; follow-up offers carry the task (Offer
 *   fields 9-13) and their OfferAccept connects the attempt.
 */
#include "srv.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "cfg.h"
#include "log.h"
#include "owner.h"
#include "sales.h"
#include "sales_wire.h"
#include "wire.h"

/* Session flags. */
enum {
	S_CLOSING = 1u << 0, /* flush output, then free */
	S_DEAD = 1u << 1,    /* free at the next turn, drop output */
	S_PAUSED = 1u << 2,  /* reading stopped: output above max_output/2 */
	S_EOF = 1u << 3,     /* peer closed its side: finish the input, then close */
	S_OWNER = 1u << 4,   /* offered at least one call: report rt_owner_gone */
	S_BOUND = 1u << 5,   /* passed to rt_target_login: report rt_session_gone */
	S_COUNTED = 1u << 6, /* counts against max_sessions */
	S_WLISTED = 1u << 7, /* in srv->wlist: output to write this pass */
};

#define SRV_ACCEPT_RETRY_MS 200
#define SRV_PEER_MAX 64
#define SRV_TEXT_MAX 256

struct srv_session {
	struct cl_owner owner; /* first: the router's owner pointer is the session */
	struct srv *srv;
	struct bufferevent *bev;
	struct event *resume; /* zero-delay: continue reading, or free */
	struct srv_session *prev, *next;
	struct srv_session *wnext; /* srv->wlist */
	uint64_t id;
	int role;             /* Role of the protocol; 0 before Hello */
	unsigned flags;
	/* Agent: the rep it logged in as ("" when none). Partner: its own
	 * partner id, fixed by Hello. */
	char target[CFG_ID_MAX + 1];
	char peer[SRV_PEER_MAX];
};

struct srv {
	struct event_base *base;    /* borrowed */
	const struct cl_config *cfg; /* borrowed */
	struct rt *rt;              /* borrowed */
	struct sales *sales;        /* borrowed; NULL = sales messages refused */
	struct evconnlistener *listener;
	struct event *accept_retry; /* re-enables the listener after EMFILE & co */
	struct event *done_ev;      /* shutdown finished: runs on_done */
	struct event *deadline_ev;  /* shutdown deadline: cut what is left */
	struct srv_session *sessions;
	struct srv_session *wlist;  /* sessions with output to write this pass */
	struct event *write_ev;     /* deferred: on_write_all */
	uint32_t counted;           /* sessions against max_sessions */
	uint64_t next_id;
	bool shutting, done_called, freeing;
	void (*on_done)(void *arg);
	void *on_done_arg;
	char engine_name[64];
	struct srv_stats st;
	/* Frames are decoded into this arena and handled one at a time (a
	 * handler never reads another frame); it is reset after each one. */
	struct wire_arena arena;
};

static const struct timeval tv_zero = {0, 0};

static const char *const role_names[] = {"none", "pbx", "agent", "partner", "admin", "observer"};

static const char *role_name(int role)
{
	return role >= 0 && role < (int)SRV_N_ROLES ? role_names[role] : "?";
}

static const char *const error_names[SRV_N_ERRORS] = {
	"NONE",          "BAD_FRAME",      "DECODE",         "UNKNOWN_MESSAGE", "NOT_AUTHENTICATED",
	"AUTH_FAILED",   "FORBIDDEN",      "UNKNOWN_CALL",   "UNKNOWN_TARGET",  "DUPLICATE_CALL",
	"BAD_STATE",     "INVALID_ARGUMENT", "LIMIT",        "VERSION",         "INTERNAL",
};

static void session_schedule(struct srv_session *s)
{
	evtimer_add(s->resume, &tv_zero);
}

/* Free at the next turn of the loop; output is dropped. */
static void session_kill(struct srv_session *s)
{
	if (s->flags & S_DEAD)
		return;
	s->flags |= S_DEAD;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	session_schedule(s);
}

/* Stop reading; free once the output has been written (or the write
 * timeout cuts the peer). */
static void session_close_flush(struct srv_session *s)
{
	if (s->flags & (S_CLOSING | S_DEAD))
		return;
	s->flags |= S_CLOSING;
	s->flags &= ~(unsigned)S_PAUSED;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_schedule(s);
	else
		bufferevent_enable(s->bev, EV_WRITE);
}

static void session_free(struct srv_session *s)
{
	struct srv *srv = s->srv;

	if (s->flags & S_WLISTED) {
		struct srv_session **pp = &srv->wlist;
		while (*pp != s)
			pp = &(*pp)->wnext;
		*pp = s->wnext;
	}
	s->flags |= S_DEAD; /* hooks fired below drop anything for s */
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->flags & S_COUNTED)
		srv->counted--;
	srv->st.sessions--;
	srv->st.by_role[s->role]--;
	srv->st.closed++;
	/* The router drops every pointer to s before the memory goes. */
	if (srv->rt) {
		if (s->flags & S_OWNER)
			rt_owner_gone(srv->rt, s);
		if (s->flags & S_BOUND)
			rt_session_gone(srv->rt, s);
	}
	CL_LOG_DEBUG("session %" PRIu64 " (%s %s): freed", s->id, s->peer, role_name(s->role));
	bufferevent_free(s->bev);
	event_free(s->resume);
	free(s);
	if (srv->shutting && !srv->sessions && !srv->done_called)
		evtimer_add(srv->done_ev, &tv_zero);
}

/*
 * Queue env to s. Drops it (counted) when s is closing. Applies the output
 * limits: past max_output the peer is cut; past half of it reading pauses.
 */
static void session_send(struct srv_session *s, uint64_t seq, wire_env *env)
{
	struct srv *srv = s->srv;

	if (s->flags & (S_CLOSING | S_DEAD)) {
		srv->st.dropped++;
		return;
	}
	struct evbuffer *out = bufferevent_get_output(s->bev);
	size_t before = evbuffer_get_length(out);
	env->seq = seq;
	if (wire_write_fast(out, env) < 0) {
		CL_LOG_ERROR("session %" PRIu64 " (%s): out of memory queueing %s; cut", s->id,
			     s->peer, wire_msg_name(env));
		session_kill(s);
		return;
	}
	size_t len = evbuffer_get_length(out);
	srv->st.frames_out++;
	srv->st.bytes_out += len - before;
	if (!(s->flags & S_WLISTED)) {
		s->flags |= S_WLISTED;
		s->wnext = srv->wlist;
		if (!srv->wlist)
			event_active(srv->write_ev, EV_TIMEOUT, 1);
		srv->wlist = s;
	}
	uint32_t max = srv->cfg->max_output;
	if (max == 0)
		return;
	if (len > max) {
		srv->st.cut_output++;
		CL_LOG_WARN("session %" PRIu64 " (%s %s%s%s): %zu bytes unread passes max_output %" PRIu32
			    "; cut",
			    s->id, s->peer, role_name(s->role), s->target[0] ? " " : "", s->target, len,
			    max);
		session_kill(s);
		return;
	}
	if (len > max / 2 && !(s->flags & S_PAUSED)) {
		s->flags |= S_PAUSED;
		srv->st.paused++;
		bufferevent_disable(s->bev, EV_READ);
		bufferevent_setwatermark(s->bev, EV_WRITE, max / 4, 0);
		CL_LOG_DEBUG("session %" PRIu64 " (%s): output %zu bytes, reading paused", s->id,
			     s->peer, len);
	}
}

/* Copy s into buf keeping printable ASCII only (peer-supplied text in logs). */
static const char *clean(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s && *s && i + 1 < len; s++)
		buf[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[i] = '\0';
	return buf;
}

/*
 * Reply Error{code, text} to a message from s (seq echoed; in may be NULL for
 * framing errors) and log it once with the ids. detail (may be NULL) is added
 * to the log line only: what the peer must not learn (why a Hello failed).
 * call_id / target_id may be NULL.
 */
static void session_error(struct srv_session *s, const wire_env *in, int code, const char *call_id,
			  const char *target_id, const char *detail, const char *text)
{
	struct srv *srv = s->srv;
	char cbuf[CFG_ID_MAX + 1], tbuf[CFG_ID_MAX + 1];

	if (code > 0 && code < (int)SRV_N_ERRORS)
		srv->st.errors[code]++;
	CL_LOG_WARN("session %" PRIu64 " (%s %s%s%s): %s seq %" PRIu64 "%s%s%s%s -> %s: %s%s%s%s",
		    s->id, s->peer, role_name(s->role), s->target[0] ? " " : "", s->target,
		    in ? wire_msg_name(in) : "frame", in ? in->seq : 0,
		    call_id && *call_id ? " call " : "", call_id ? clean(call_id, cbuf, sizeof cbuf) : "",
		    target_id && *target_id ? " target " : "",
		    target_id ? clean(target_id, tbuf, sizeof tbuf) : "",
		    code > 0 && code < (int)SRV_N_ERRORS ? error_names[code] : "?", text,
		    detail ? " (" : "", detail ? detail : "", detail ? ")" : "");

	Closeloop__V1__Error e = CLOSELOOP__V1__ERROR__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	e.code = (Closeloop__V1__ErrorCode)code;
	e.text = (char *)text;
	if (call_id)
		e.call_id = (char *)call_id;
	if (target_id)
		e.target_id = (char *)target_id;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ERROR;
	env.error = &e;
	session_send(s, in ? in->seq : 0, &env);
}

/* session_error with a formatted text and no log detail. */
static void session_reject(struct srv_session *s, const wire_env *in, int code, const char *call_id,
			   const char *target_id, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void session_reject(struct srv_session *s, const wire_env *in, int code, const char *call_id,
			   const char *target_id, const char *fmt, ...)
{
	char text[SRV_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	session_error(s, in, code, call_id, target_id, NULL, text);
}

static void session_ack(struct srv_session *s, const wire_env *in)
{
	Closeloop__V1__Ack a = CLOSELOOP__V1__ACK__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ACK;
	env.ack = &a;
	session_send(s, in->seq, &env);
}

/* ErrorCode of the protocol for a router error. */
static int rt_code(int rc)
{
	switch (rc < 0 ? -rc : rc) {
	case RT_EINVAL: return CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
	case RT_ENOCALL: return CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_CALL;
	case RT_ENOTARGET: return CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_TARGET;
	case RT_EEXIST: return CLOSELOOP__V1__ERROR_CODE__ERROR_DUPLICATE_CALL;
	case RT_ESTATE: return CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_STATE;
	case RT_EFORBIDDEN: return CLOSELOOP__V1__ERROR_CODE__ERROR_FORBIDDEN;
	case RT_ELIMIT: return CLOSELOOP__V1__ERROR_CODE__ERROR_LIMIT;
	default: return CLOSELOOP__V1__ERROR_CODE__ERROR_INTERNAL;
	}
}

static const char *call_state_name(enum rt_call_state st)
{
	switch (st) {
	case RT_CALL_QUEUED: return "queued";
	case RT_CALL_RESERVED: return "reserved";
	case RT_CALL_CONNECTED: return "connected";
	case RT_CALL_WRAPUP: return "wrap-up";
	case RT_CALL_ENDED: return "ended";
	}
	return "?";
}

static const char *target_state_name(enum rt_target_state st)
{
	switch (st) {
	case RT_TARGET_LOGGED_OUT: return "logged-out";
	case RT_TARGET_READY: return "ready";
	case RT_TARGET_NOT_READY: return "not-ready";
	case RT_TARGET_WRAP_UP: return "wrap-up";
	}
	return "?";
}

/*
 * Error reply for a router failure. The text names what is wrong and, for
 * order problems, the current state (which the router left unchanged).
 */
static void session_rt_error(struct srv_session *s, const wire_env *in, int rc, const char *call_id,
			     const char *target_id)
{
	struct srv *srv = s->srv;
	const char *what = wire_msg_name(in);
	struct rt_call *c = call_id && *call_id ? rt_call_find(srv->rt, call_id) : NULL;
	struct rt_call_info ci;
	char st[96] = "";
	int code = rt_code(rc);

	if (c)
		rt_call_info(srv->rt, c, &ci);
	switch (rc < 0 ? -rc : rc) {
	case RT_ENOCALL:
		session_reject(s, in, code, call_id, target_id, "%s: no live call with this id", what);
		return;
	case RT_ENOTARGET:
		session_reject(s, in, code, call_id, target_id, "%s: no target with this id", what);
		return;
	case RT_EEXIST:
		session_reject(s, in, code, call_id, NULL, "%s: a call with this id is already live",
			       what);
		return;
	case RT_ELIMIT:
		session_reject(s, in, code, call_id, target_id, "%s: max_calls (%" PRIu32 ") reached",
			       what, srv->cfg->max_calls);
		return;
	case RT_EINVAL:
		if (c && target_id && *target_id &&
		    (!ci.target_id || strcmp(ci.target_id, target_id) != 0)) {
			session_reject(s, in, code, call_id, target_id,
				       "%s: %s is not the call's reserved target (%s)", what, target_id,
				       ci.target_id ? ci.target_id : "none");
			return;
		}
		session_reject(s, in, code, call_id, target_id,
			       "%s: a field is missing, too long or unknown (skill names, ids up to "
			       "%d bytes)",
			       what, CFG_ID_MAX);
		return;
	case RT_ESTATE:
		if (c) {
			snprintf(st, sizeof st, " (call is %s)", call_state_name(ci.state));
		} else if (target_id && *target_id) {
			struct rt_target *t = rt_target_find(srv->rt, target_id);
			if (t) {
				struct rt_target_info ti;
				rt_target_info(srv->rt, t, &ti);
				snprintf(st, sizeof st, " (target is %s)", target_state_name(ti.state));
			}
		}
		session_reject(s, in, code, call_id, target_id, "%s: out of order%s", what, st);
		return;
	case RT_EFORBIDDEN:
		if (in->msg_case == CLOSELOOP__V1__ENVELOPE__MSG_OFFER_ACCEPT ||
		    in->msg_case == CLOSELOOP__V1__ENVELOPE__MSG_OFFER_DECLINE)
			session_reject(s, in, code, call_id, target_id,
				       "%s: the call is reserved for another target", what);
		else
			session_reject(s, in, code, call_id, target_id,
				       "%s: the call belongs to another connection", what);
		return;
	default:
		session_reject(s, in, code, call_id, target_id, "%s: %s", what, rt_strerror(rc));
		return;
	}
}

/* ---- Hello ---- */

/*
 * Token comparison whose time depends only on the configured token's length,
 * never on where the first difference is.
 */
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

static void on_hello(struct srv_session *s, const wire_env *in)
{
	struct srv *srv = s->srv;
	const struct cl_config *cfg = srv->cfg;
	const Closeloop__V1__Hello *h = in->hello;
	char ibuf[CFG_ID_MAX + 1], cbuf[96];
	const char *why = NULL;
	int partner = -1;

	if (s->role) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_STATE, NULL, NULL,
			       "already authenticated as %s", role_name(s->role));
		return;
	}
	int role = (int)h->role;
	if (role < CLOSELOOP__V1__ROLE__ROLE_PBX || role > CLOSELOOP__V1__ROLE__ROLE_OBSERVER) {
		why = "unknown role";
	} else if (role == CLOSELOOP__V1__ROLE__ROLE_PARTNER) {
		struct rt_target *t = h->identity[0] ? rt_target_find(srv->rt, h->identity) : NULL;
		partner = t ? cl_config_target(cfg, h->identity) : -1;
		if (partner < 0 || cfg->targets[partner].kind != CFG_KIND_PARTNER)
			why = "identity is not a configured partner";
		else if (!cfg->targets[partner].token ||
			 !token_equal(h->token, cfg->targets[partner].token))
			why = "wrong token for this partner";
	} else {
		bool ok = false;
		for (size_t i = 0; i < cfg->n_tokens[role]; i++)
			ok |= token_equal(h->token, cfg->tokens[role][i]);
		if (!ok)
			why = cfg->n_tokens[role] ? "wrong token for the role"
						  : "no token is configured for the role";
	}
	if (why) {
		/* The peer learns only that it failed; the log says why. */
		char detail[CFG_ID_MAX + 64];
		snprintf(detail, sizeof detail, "role %d, identity '%s': %s", role,
			 clean(h->identity, ibuf, sizeof ibuf), why);
		session_error(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_AUTH_FAILED, NULL, NULL, detail,
			      "authentication failed");
		srv->st.cut_error++;
		session_close_flush(s);
		return;
	}
	srv->st.by_role[0]--;
	s->role = role;
	srv->st.by_role[role]++;
	srv->st.auth_ok++;
	if (partner >= 0)
		snprintf(s->target, sizeof s->target, "%s", cfg->targets[partner].id);
	CL_LOG_INFO("session %" PRIu64 " (%s): authenticated as %s%s%s (identity '%s', client '%s')",
		    s->id, s->peer, role_name(role), s->target[0] ? " " : "", s->target,
		    clean(h->identity, ibuf, sizeof ibuf), clean(h->client, cbuf, sizeof cbuf));

	Closeloop__V1__HelloOk ok = CLOSELOOP__V1__HELLO_OK__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	ok.version = WIRE_VERSION;
	ok.engine = srv->engine_name;
	ok.max_frame = cfg->max_frame ? cfg->max_frame : WIRE_DEFAULT_MAX_FRAME;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_HELLO_OK;
	env.hello_ok = &ok;
	session_send(s, in->seq, &env);
}

/* ---- call events (pbx) ---- */

static void on_call_offered(struct srv_session *s, const wire_env *in)
{
	const Closeloop__V1__CallOffered *m = in->call_offered;
	struct rt_call_req req = {
		.id = m->call_id,
		.caller = m->caller,
		.dialed = m->dialed,
		.postal_code = m->postal_code,
		.segment = m->segment,
		.skills = (const char *const *)m->skills,
		.n_skills = m->n_skills,
		.language = m->language,
		.priority = m->priority,
		.preferred_target = m->preferred_target,
		.preferred_ms = m->preferred_ms,
	};

	if (!m->call_id[0]) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT, NULL, NULL,
			       "CallOffered: call_id is required");
		return;
	}
	/* The decision (RouteCall / QueueCall / RejectCall) is sent by the hooks
	 * from inside rt_call_offer, echoing in->seq; success has no Ack. The
	 * sales module's record lookup for the new id starts loading now. */
	sales_call_prefetch(s->srv->sales, m->call_id);
	int rc = rt_call_offer(s->srv->rt, &req, s, in->seq);
	if (rc < 0) {
		session_rt_error(s, in, rc, m->call_id, NULL);
		return;
	}
	s->flags |= S_OWNER;
}

static void on_call_event(struct srv_session *s, const wire_env *in)
{
	struct rt *rt = s->srv->rt;
	const char *call_id, *target_id = NULL;
	int rc;

	switch (in->msg_case) {
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED:
		call_id = in->call_answered->call_id;
		target_id = in->call_answered->target_id;
		break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER:
		call_id = in->call_no_answer->call_id;
		target_id = in->call_no_answer->target_id;
		break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED: call_id = in->call_ended->call_id; break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALLBACK_REQUESTED:
		call_id = in->callback_requested->call_id;
		break;
	default: call_id = in->call_abandoned->call_id; break;
	}
	if (!call_id[0]) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT, NULL, NULL,
			       "%s: call_id is required", wire_msg_name(in));
		return;
	}
	const char *tid = target_id && target_id[0] ? target_id : NULL;
	switch (in->msg_case) {
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED: rc = rt_call_answered(rt, call_id, tid, s); break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER: rc = rt_call_no_answer(rt, call_id, tid, s); break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED: rc = rt_call_ended(rt, call_id, s); break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALLBACK_REQUESTED:
		rc = rt_call_callback(rt, call_id, in->callback_requested->number, s);
		break;
	default: rc = rt_call_abandoned(rt, call_id, s); break;
	}
	if (rc < 0)
		session_rt_error(s, in, rc, call_id, tid);
	else
		session_ack(s, in);
}

/* ---- availability and offers (agent, partner, admin) ---- */

/*
 * The target a message acts on, after the role's rules; NULL when refused
 * (the Error has been sent). given is the message's target_id ("" = own).
 */
static const char *acting_target(struct srv_session *s, const wire_env *in, const char *given)
{
	switch (s->role) {
	case CLOSELOOP__V1__ROLE__ROLE_AGENT:
		if (!s->target[0]) {
			session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_STATE, NULL, given,
				       "%s: log in as a rep first", wire_msg_name(in));
			return NULL;
		}
		/* fallthrough */
	case CLOSELOOP__V1__ROLE__ROLE_PARTNER:
		if (given[0] && strcmp(given, s->target) != 0) {
			session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_FORBIDDEN, NULL, given,
				       "%s: this session acts only for %s", wire_msg_name(in),
				       s->target);
			return NULL;
		}
		return s->target;
	case CLOSELOOP__V1__ROLE__ROLE_ADMIN:
		if (!given[0]) {
			session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT, NULL,
				       NULL, "%s: target_id is required", wire_msg_name(in));
			return NULL;
		}
		return given;
	}
	return NULL;
}

/* A rep's session lost its binding (logout by an admin, login elsewhere).
 * session is one the router holds, hence live (see session_free). */
static void session_unbind(void *session, const char *target_id)
{
	struct srv_session *o = session;

	if (o && o->role == CLOSELOOP__V1__ROLE__ROLE_AGENT && strcmp(o->target, target_id) == 0)
		o->target[0] = '\0';
}

static void on_agent_login(struct srv_session *s, const wire_env *in)
{
	struct srv *srv = s->srv;
	const Closeloop__V1__AgentLogin *m = in->agent_login;
	const char *tid = m->target_id;
	struct rt_target_info ti;

	if (s->role == CLOSELOOP__V1__ROLE__ROLE_PARTNER) {
		if (!(tid = acting_target(s, in, m->target_id)))
			return;
	} else {
		if (!tid[0]) {
			session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT, NULL,
				       NULL, "AgentLogin: target_id is required");
			return;
		}
		if (s->target[0] && strcmp(s->target, tid) != 0) {
			session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_STATE, NULL, tid,
				       "AgentLogin: session is logged in as %s; log out first",
				       s->target);
			return;
		}
	}
	struct rt_target *t = rt_target_find(srv->rt, tid);
	if (!t) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_TARGET, NULL, tid,
			       "AgentLogin: no such target");
		return;
	}
	rt_target_info(srv->rt, t, &ti);
	if (s->role == CLOSELOOP__V1__ROLE__ROLE_AGENT && ti.kind != CFG_KIND_REP) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_FORBIDDEN, NULL, tid,
			       "AgentLogin: %s is a partner; partners connect with their own role",
			       tid);
		return;
	}
	struct srv_session *prev = ti.session;
	int rc = rt_target_login(srv->rt, tid, m->ready, s);
	if (rc < 0) {
		session_rt_error(s, in, rc, NULL, tid);
		return;
	}
	s->flags |= S_BOUND;
	if (s->role == CLOSELOOP__V1__ROLE__ROLE_AGENT)
		snprintf(s->target, sizeof s->target, "%s", tid);
	if (prev && prev != s && s->role == CLOSELOOP__V1__ROLE__ROLE_AGENT) {
		/* Taken over: the newest login wins (a rep whose desktop lost its
		 * connection must not wait for the read timeout to log in again). */
		CL_LOG_INFO("target %s: session %" PRIu64 " takes over from session %" PRIu64, tid,
			    s->id, prev->id);
		session_unbind(prev, tid);
		Closeloop__V1__AgentStatus st = CLOSELOOP__V1__AGENT_STATUS__INIT;
		wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
		st.target_id = (char *)tid;
		st.state = CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_LOGGED_OUT;
		st.reason = "logged in on another session";
		env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_AGENT_STATUS;
		env.agent_status = &st;
		session_send(prev, 0, &env);
	}
	CL_LOG_INFO("target %s: logged in (%s) on session %" PRIu64 " (%s)", tid,
		    m->ready ? "ready" : "not ready", s->id, s->peer);
	session_ack(s, in);
}

static void on_agent_logout(struct srv_session *s, const wire_env *in)
{
	struct srv *srv = s->srv;
	const char *tid = acting_target(s, in, in->agent_logout->target_id);

	if (!tid)
		return;
	struct rt_target *t = rt_target_find(srv->rt, tid);
	void *holder = NULL;
	if (t) {
		struct rt_target_info ti;
		rt_target_info(srv->rt, t, &ti);
		holder = ti.session;
	}
	char id[CFG_ID_MAX + 1];
	snprintf(id, sizeof id, "%s", tid); /* tid may be s->target, cleared below */
	int rc = rt_target_logout(srv->rt, id);
	if (rc < 0) {
		session_rt_error(s, in, rc, NULL, id);
		return;
	}
	session_unbind(holder, id);
	session_unbind(s, id);
	CL_LOG_INFO("target %s: logged out by session %" PRIu64 " (%s)", id, s->id,
		    role_name(s->role));
	session_ack(s, in);
}

static void on_agent_set_state(struct srv_session *s, const wire_env *in)
{
	const Closeloop__V1__AgentSetState *m = in->agent_set_state;
	bool ready;

	if (m->state == CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_READY)
		ready = true;
	else if (m->state == CLOSELOOP__V1__AGENT_STATE__AGENT_STATE_NOT_READY)
		ready = false;
	else {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT, NULL,
			       m->target_id, "AgentSetState: state must be READY or NOT_READY (use "
					     "AgentLogout to log out)");
		return;
	}
	const char *tid = acting_target(s, in, m->target_id);
	if (!tid)
		return;
	int rc = rt_target_set_ready(s->srv->rt, tid, ready, m->reason[0] ? m->reason : NULL);
	if (rc < 0)
		session_rt_error(s, in, rc, NULL, tid);
	else
		session_ack(s, in);
}

static void on_offer_answer(struct srv_session *s, const wire_env *in)
{
	bool accept = in->msg_case == CLOSELOOP__V1__ENVELOPE__MSG_OFFER_ACCEPT;
	const char *call_id = accept ? in->offer_accept->call_id : in->offer_decline->call_id;
	uint64_t rid = accept ? in->offer_accept->reservation_id : in->offer_decline->reservation_id;

	if (!call_id[0]) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT, NULL, NULL,
			       "%s: call_id is required", wire_msg_name(in));
		return;
	}
	const char *tid = acting_target(s, in, "");
	if (!tid)
		return;
	int rc = accept ? rt_offer_accept(s->srv->rt, call_id, rid, tid)
			: rt_offer_decline(s->srv->rt, call_id, rid, tid,
					   in->offer_decline->reason[0] ? in->offer_decline->reason
									: NULL);
	/* A follow-up task's call has no PBX: accepting it connects it. */
	if (rc == 0 && accept)
		rc = sales_followup_accepted(s->srv->sales, call_id, tid);
	if (rc < 0)
		session_rt_error(s, in, rc, call_id, tid);
	else
		session_ack(s, in);
}

/* ---- sales loop (sales_wire.c) ---- */

static void on_sales(struct srv_session *s, const wire_env *in)
{
	struct sales_wire_reply out;
	char who[CFG_ID_MAX + 32];
	struct sales_wire_ctx ctx = {.role = s->role, .target = s->target, .who = who};

	snprintf(who, sizeof who, "%s%s%s", role_name(s->role), s->target[0] ? ":" : "", s->target);
	sales_wire_handle(s->srv->sales, &ctx, in, &out);
	if (out.code)
		session_reject(s, in, out.code, out.call_id, out.target_id, "%s", out.text);
	else if (out.env.msg_case != CLOSELOOP__V1__ENVELOPE__MSG__NOT_SET)
		session_send(s, in->seq, &out.env);
	else
		session_ack(s, in);
	sales_wire_reply_free(&out);
}

/* ---- dispatch ---- */

/* May the role send this message? Ping and Hello are handled before. */
static bool role_may(int role, Closeloop__V1__Envelope__MsgCase mc)
{
	switch (mc) {
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_OFFERED:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALLBACK_REQUESTED:
		return role == CLOSELOOP__V1__ROLE__ROLE_PBX;
	case CLOSELOOP__V1__ENVELOPE__MSG_AGENT_LOGIN:
	case CLOSELOOP__V1__ENVELOPE__MSG_OFFER_ACCEPT:
	case CLOSELOOP__V1__ENVELOPE__MSG_OFFER_DECLINE:
		return role == CLOSELOOP__V1__ROLE__ROLE_AGENT ||
		       role == CLOSELOOP__V1__ROLE__ROLE_PARTNER;
	case CLOSELOOP__V1__ENVELOPE__MSG_AGENT_LOGOUT:
	case CLOSELOOP__V1__ENVELOPE__MSG_AGENT_SET_STATE:
		return role == CLOSELOOP__V1__ROLE__ROLE_AGENT ||
		       role == CLOSELOOP__V1__ROLE__ROLE_PARTNER ||
		       role == CLOSELOOP__V1__ROLE__ROLE_ADMIN;
	default:
		if (sales_wire_is_request((int)mc))
			return sales_wire_role_may(role, (int)mc);
		/* Engine-to-peer messages (HelloOk, Ack, RouteCall, Offer, ...). */
		return false;
	}
}

static bool msg_known(Closeloop__V1__Envelope__MsgCase mc)
{
	return protobuf_c_message_descriptor_get_field(&closeloop__v1__envelope__descriptor,
						       (unsigned)mc) != NULL;
}

static void session_dispatch(struct srv_session *s, const wire_env *in)
{
	struct srv *srv = s->srv;
	Closeloop__V1__Envelope__MsgCase mc = in->msg_case;

	if (in->version > WIRE_VERSION) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_VERSION, NULL, NULL,
			       "protocol version %" PRIu32 " is not supported (highest %u)",
			       in->version, WIRE_VERSION);
		srv->st.cut_error++;
		session_close_flush(s);
		return;
	}
	if (mc == CLOSELOOP__V1__ENVELOPE__MSG__NOT_SET || !msg_known(mc)) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_MESSAGE, NULL, NULL,
			       "empty or unknown message");
		return;
	}
	if (mc == CLOSELOOP__V1__ENVELOPE__MSG_HELLO) {
		on_hello(s, in);
		return;
	}
	if (!s->role) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_NOT_AUTHENTICATED, NULL, NULL,
			       "send Hello first");
		return;
	}
	if (mc == CLOSELOOP__V1__ENVELOPE__MSG_PING) {
		Closeloop__V1__Pong p = CLOSELOOP__V1__PONG__INIT;
		wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
		p.nonce = in->ping->nonce;
		env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_PONG;
		env.pong = &p;
		session_send(s, in->seq, &env);
		return;
	}
	if (!role_may(s->role, mc)) {
		session_reject(s, in, CLOSELOOP__V1__ERROR_CODE__ERROR_FORBIDDEN, NULL, NULL,
			       "role %s may not send %s", role_name(s->role), wire_msg_name(in));
		return;
	}
	switch (mc) {
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_OFFERED: on_call_offered(s, in); break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED:
	case CLOSELOOP__V1__ENVELOPE__MSG_CALLBACK_REQUESTED: on_call_event(s, in); break;
	case CLOSELOOP__V1__ENVELOPE__MSG_AGENT_LOGIN: on_agent_login(s, in); break;
	case CLOSELOOP__V1__ENVELOPE__MSG_AGENT_LOGOUT: on_agent_logout(s, in); break;
	case CLOSELOOP__V1__ENVELOPE__MSG_AGENT_SET_STATE: on_agent_set_state(s, in); break;
	case CLOSELOOP__V1__ENVELOPE__MSG_OFFER_ACCEPT:
	case CLOSELOOP__V1__ENVELOPE__MSG_OFFER_DECLINE: on_offer_answer(s, in); break;
	default:
		if (sales_wire_is_request((int)mc))
			on_sales(s, in);
		break; /* role_may() refused everything else */
	}
}

/*
 * Decode and handle up to SRV_BATCH frames, then yield (the resume timer
 * continues). Framing errors answer and close after the flush.
 */
static void session_process(struct srv_session *s)
{
	struct srv *srv = s->srv;
	struct evbuffer *in = bufferevent_get_input(s->bev);
	uint32_t max_frame = srv->cfg->max_frame ? srv->cfg->max_frame : WIRE_DEFAULT_MAX_FRAME;
	unsigned n = 0;

	while (!(s->flags & (S_CLOSING | S_DEAD | S_PAUSED))) {
		if (n == SRV_BATCH) {
			session_schedule(s);
			return;
		}
		wire_env *env = NULL;
		uint32_t flen = 0;
		int r = wire_read_arena(in, max_frame, &srv->arena, &env, &flen);
		if (r <= 0)
			wire_arena_reset(&srv->arena); /* what a failed decode took */
		if (r == 0)
			break;
		if (r < 0) {
			bool big = r == -WIRE_ETOOBIG;
			session_reject(s, NULL,
				       big ? CLOSELOOP__V1__ERROR_CODE__ERROR_BAD_FRAME
					   : CLOSELOOP__V1__ERROR_CODE__ERROR_DECODE,
				       NULL, NULL,
				       big ? "frame length %" PRIu32 " is 0 or above max_frame %" PRIu32
					   : "frame of %" PRIu32 " bytes is not an Envelope (max_frame %" PRIu32 ")",
				       flen, max_frame);
			srv->st.cut_error++;
			session_close_flush(s);
			return;
		}
		n++;
		srv->st.frames_in++;
		srv->st.bytes_in += WIRE_HDR + (uint64_t)flen;
		session_dispatch(s, env);
		wire_arena_reset(&srv->arena); /* env and everything in it */
	}
	if ((s->flags & S_EOF) && !(s->flags & (S_CLOSING | S_DEAD | S_PAUSED))) {
		/* The peer half-closed and every complete frame is handled. */
		if (evbuffer_get_length(in))
			CL_LOG_INFO("session %" PRIu64 " (%s): closed with %zu bytes of a partial frame",
				    s->id, s->peer, evbuffer_get_length(in));
		session_close_flush(s);
	}
}

/* ---- bufferevent callbacks ---- */

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct srv_session *s = arg;
	(void)fd;
	(void)what;

	if (s->flags & S_DEAD) {
		session_free(s);
		return;
	}
	if (s->flags & S_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
			session_free(s);
		return;
	}
	session_process(s);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_process(arg);
}

static void session_output_drained(struct srv_session *s);

/* The end of a loop pass: write the output of every listed session. What
 * a full socket does not take (or an error, which the bufferevent then
 * reports) is left to the bufferevent's write event, until on_write sees
 * the output drained. */
static void on_write_all(evutil_socket_t fd, short what, void *arg)
{
	struct srv *srv = arg;
	struct srv_session *s;
	(void)fd;
	(void)what;

	while ((s = srv->wlist)) {
		srv->wlist = s->wnext;
		s->wnext = NULL;
		s->flags &= ~(unsigned)S_WLISTED;
		if ((s->flags & S_DEAD) || (bufferevent_get_enabled(s->bev) & EV_WRITE))
			continue;
		wire_bev_flush(s->bev);
		/* A burst that paused reading may have gone out whole. */
		session_output_drained(s);
	}
}

/* Resume reading a session paused for its output once that is down to a
 * quarter of max_output. */
static void session_output_drained(struct srv_session *s)
{
	struct bufferevent *bev = s->bev;

	if (!(s->flags & S_PAUSED) ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > s->srv->cfg->max_output / 4)
		return;
	s->flags &= ~(unsigned)S_PAUSED;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (!(s->flags & S_EOF))
		bufferevent_enable(bev, EV_READ);
	session_schedule(s); /* frames may be waiting in the input */
	CL_LOG_DEBUG("session %" PRIu64 " (%s): output drained, reading resumed", s->id, s->peer);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct srv_session *s = arg;
	size_t len = evbuffer_get_length(bufferevent_get_output(bev));

	if (s->flags & S_CLOSING) {
		if (len == 0)
			session_schedule(s);
		return;
	}
	if (len == 0)
		bufferevent_disable(bev, EV_WRITE); /* on_write_all writes again */
	session_output_drained(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct srv_session *s = arg;
	struct srv *srv = s->srv;
	(void)bev;

	if (what & BEV_EVENT_TIMEOUT) {
		if (what & BEV_EVENT_READING) {
			srv->st.cut_idle++;
			CL_LOG_INFO("session %" PRIu64 " (%s %s): idle for %" PRIu32 " ms; cut", s->id,
				    s->peer, role_name(s->role), srv->cfg->read_timeout_ms);
		} else {
			srv->st.cut_write++;
			CL_LOG_WARN("session %" PRIu64 " (%s %s): no write progress for %" PRIu32
				    " ms (%zu bytes queued); cut",
				    s->id, s->peer, role_name(s->role), srv->cfg->write_timeout_ms,
				    evbuffer_get_length(bufferevent_get_output(s->bev)));
		}
		session_kill(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();
		CL_LOG_INFO("session %" PRIu64 " (%s %s): %s", s->id, s->peer, role_name(s->role),
			    evutil_socket_error_to_string(err));
		session_kill(s);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		CL_LOG_DEBUG("session %" PRIu64 " (%s %s): peer closed", s->id, s->peer,
			     role_name(s->role));
		s->flags |= S_EOF;
		bufferevent_disable(s->bev, EV_READ);
		if (s->flags & S_CLOSING)
			return;
		session_schedule(s);
	}
}

/* ---- listener ---- */

static void peer_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[64] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, port);
	} else {
		snprintf(buf, len, "local");
	}
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct srv *srv = arg;
	struct srv_session *s = NULL;
	int one = 1;
	(void)l;
	(void)salen;

	if (srv->shutting) {
		evutil_closesocket(fd);
		return;
	}
	/* Small frames must leave at once; coalescing is done in the evbuffer. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (!(s = calloc(1, sizeof *s)))
		goto fail;
	s->owner.kind = CL_OWNER_SESSION;
	s->srv = srv;
	s->id = ++srv->next_id;
	peer_name(sa, s->peer, sizeof s->peer);
	if (!(s->resume = evtimer_new(srv->base, on_resume, s)))
		goto fail;
	if (!(s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE)))
		goto fail;
	fd = -1; /* owned by the bufferevent now */
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	/* A new bufferevent has EV_WRITE enabled: writes go by on_write_all. */
	bufferevent_disable(s->bev, EV_WRITE);
	uint32_t max_frame = srv->cfg->max_frame ? srv->cfg->max_frame : WIRE_DEFAULT_MAX_FRAME;
	/* Wake for a header at least; stop pulling from the socket when two
	 * whole frames are buffered and not yet handled. */
	size_t hi = 2 * ((size_t)max_frame + WIRE_HDR);
	if (hi < 256 * 1024)
		hi = 256 * 1024;
	bufferevent_setwatermark(s->bev, EV_READ, WIRE_HDR, hi);
	struct timeval rd = {srv->cfg->read_timeout_ms / 1000,
			     (srv->cfg->read_timeout_ms % 1000) * 1000};
	struct timeval wr = {srv->cfg->write_timeout_ms / 1000,
			     (srv->cfg->write_timeout_ms % 1000) * 1000};
	bufferevent_set_timeouts(s->bev, srv->cfg->read_timeout_ms ? &rd : NULL,
				 srv->cfg->write_timeout_ms ? &wr : NULL);

	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->st.sessions++;
	srv->st.by_role[0]++;
	srv->st.accepted++;

	uint32_t max = srv->cfg->max_sessions;
	if (max && srv->counted >= max) {
		srv->st.refused++;
		session_reject(s, NULL, CLOSELOOP__V1__ERROR_CODE__ERROR_LIMIT, NULL, NULL,
			       "too many sessions (max_sessions %" PRIu32 ")", max);
		session_close_flush(s);
		return;
	}
	s->flags |= S_COUNTED;
	srv->counted++;
	bufferevent_enable(s->bev, EV_READ);
	CL_LOG_DEBUG("session %" PRIu64 " (%s): accepted", s->id, s->peer);
	return;
fail:
	CL_LOG_ERROR("accept %s: out of memory", s ? s->peer : "?");
	if (s) {
		if (s->resume)
			event_free(s->resume);
		free(s);
	}
	if (fd >= 0)
		evutil_closesocket(fd);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct srv *srv = arg;
	(void)fd;
	(void)what;
	if (srv->listener && !srv->shutting)
		evconnlistener_enable(srv->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct srv *srv = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, SRV_ACCEPT_RETRY_MS * 1000};

	/* EMFILE and friends: the pending connection stays in the backlog, so
	 * retrying at once would spin; pause the listener for a moment. */
	CL_LOG_ERROR("accept: %s; pausing the listener for %d ms", evutil_socket_error_to_string(err),
		     SRV_ACCEPT_RETRY_MS);
	evconnlistener_disable(l);
	evtimer_add(srv->accept_retry, &tv);
}

/* ---- public ---- */

struct srv *srv_new(struct event_base *base, const struct cl_config *cfg, const char *engine_name)
{
	struct srv *srv = calloc(1, sizeof *srv);

	if (!srv)
		return NULL;
	srv->base = base;
	srv->cfg = cfg;
	wire_arena_init(&srv->arena);
	snprintf(srv->engine_name, sizeof srv->engine_name, "%s", engine_name ? engine_name : "closeloopd");
	if (!(srv->accept_retry = evtimer_new(base, on_accept_retry, srv)) ||
	    !(srv->write_ev = event_new(base, -1, 0, on_write_all, srv)))
		goto fail;
	return srv;
fail:
	if (srv->accept_retry)
		event_free(srv->accept_retry);
	free(srv);
	return NULL;
}

void srv_set_config(struct srv *srv, const struct cl_config *cfg) { srv->cfg = cfg; }

void srv_set_rt(struct srv *srv, struct rt *rt) { srv->rt = rt; }

void srv_set_sales(struct srv *srv, struct sales *sales) { srv->sales = sales; }

int srv_parse_addr(const char *addr, const char *what, struct sockaddr_storage *ss, int *sslen)
{
	char buf[128];

	memset(ss, 0, sizeof *ss);
	/* "localhost" and "*" are spelled out; anything else must be numeric, so
	 * no name lookup ever runs. */
	if (strncmp(addr, "localhost:", 10) == 0)
		snprintf(buf, sizeof buf, "127.0.0.1:%s", addr + 10);
	else if (strncmp(addr, "*:", 2) == 0)
		snprintf(buf, sizeof buf, "0.0.0.0:%s", addr + 2);
	else
		snprintf(buf, sizeof buf, "%s", addr);
	/* libevent refuses port 0, which means "any free port" here: parse the
	 * host with a placeholder port and set the real one afterwards. */
	char *colon = strrchr(buf, ':');
	char *end = NULL;
	long port = colon && colon[1] ? strtol(colon + 1, &end, 10) : -1;
	if (port < 0 || port > 65535 || !end || *end) {
		CL_LOG_ERROR("%s address '%s': expected HOST:PORT", what, addr);
		return -1;
	}
	snprintf(colon + 1, sizeof buf - (size_t)(colon + 1 - buf), "1");
	if (evutil_parse_sockaddr_port(buf, (struct sockaddr *)ss, sslen) < 0) {
		CL_LOG_ERROR("%s address '%s': expected HOST:PORT with a numeric host", what, addr);
		return -1;
	}
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return 0;
}

int srv_listen(struct srv *srv, const char *addr)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;

	if (srv->listener || srv->shutting)
		return -SRV_ESTATE;
	if (!srv->rt || !addr)
		return -SRV_EINVAL;
	if (srv_parse_addr(addr, "listen", &ss, &sslen) < 0)
		return -SRV_EINVAL;
	srv->listener = evconnlistener_new_bind(srv->base, on_accept, srv,
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
							LEV_OPT_REUSEABLE,
						-1, (struct sockaddr *)&ss, sslen);
	if (!srv->listener) {
		CL_LOG_ERROR("listen %s: %s", addr, strerror(errno));
		return -SRV_EBIND;
	}
	evconnlistener_set_error_cb(srv->listener, on_accept_error);
	char local[128];
	srv_local_addr(srv, local, sizeof local);
	CL_LOG_INFO("protocol listener on %s", local);
	return 0;
}

int srv_local_addr(const struct srv *srv, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	if (!srv->listener)
		return -SRV_ESTATE;
	if (getsockname(evconnlistener_get_fd(srv->listener), (struct sockaddr *)&ss, &sl) < 0)
		return -SRV_ESTATE;
	peer_name((struct sockaddr *)&ss, buf, len);
	return 0;
}

static void on_shutdown_done(evutil_socket_t fd, short what, void *arg)
{
	struct srv *srv = arg;
	(void)fd;
	(void)what;

	if (srv->done_called)
		return;
	srv->done_called = true;
	if (srv->deadline_ev)
		evtimer_del(srv->deadline_ev);
	CL_LOG_INFO("protocol server: every session closed");
	if (srv->on_done)
		srv->on_done(srv->on_done_arg);
}

static void on_shutdown_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct srv *srv = arg;
	unsigned n = 0;
	(void)fd;
	(void)what;

	for (struct srv_session *s = srv->sessions; s; s = s->next, n++)
		session_kill(s);
	CL_LOG_WARN("protocol server: shutdown deadline passed; cutting %u sessions", n);
	if (!srv->sessions)
		evtimer_add(srv->done_ev, &tv_zero);
}

void srv_shutdown(struct srv *srv, uint32_t deadline_ms, void (*on_done)(void *arg), void *arg)
{
	if (srv->shutting)
		return;
	srv->shutting = true;
	srv->on_done = on_done;
	srv->on_done_arg = arg;
	srv->done_ev = evtimer_new(srv->base, on_shutdown_done, srv);
	srv->deadline_ev = evtimer_new(srv->base, on_shutdown_deadline, srv);
	if (srv->listener) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	evtimer_del(srv->accept_retry);
	unsigned n = 0;
	for (struct srv_session *s = srv->sessions; s; s = s->next, n++)
		session_close_flush(s);
	CL_LOG_INFO("protocol server: shutting down, flushing %u sessions", n);
	if (!srv->done_ev || !srv->deadline_ev) {
		/* No timers: cut everything now; the caller frees the server. */
		for (struct srv_session *s = srv->sessions; s; s = s->next)
			session_kill(s);
		return;
	}
	struct timeval tv = {deadline_ms / 1000, (deadline_ms % 1000) * 1000};
	evtimer_add(srv->deadline_ev, &tv);
	if (!srv->sessions)
		evtimer_add(srv->done_ev, &tv_zero);
}

void srv_free(struct srv *srv)
{
	if (!srv)
		return;
	srv->freeing = true;
	while (srv->sessions)
		session_free(srv->sessions);
	if (srv->listener)
		evconnlistener_free(srv->listener);
	if (srv->accept_retry)
		event_free(srv->accept_retry);
	if (srv->write_ev)
		event_free(srv->write_ev);
	if (srv->done_ev)
		event_free(srv->done_ev);
	if (srv->deadline_ev)
		event_free(srv->deadline_ev);
	wire_arena_deinit(&srv->arena);
	free(srv);
}

void srv_stats(const struct srv *srv, struct srv_stats *out) { *out = srv->st; }

/* ---- router hooks ---- */

void srv_rt_hooks(struct rt_hooks *h)
{
	memset(h, 0, sizeof *h);
	h->route = srv_hook_route;
	h->queued = srv_hook_queued;
	h->reject = srv_hook_reject;
	h->offer = srv_hook_offer;
	h->revoke = srv_hook_revoke;
	h->status = srv_hook_status;
}

/* The call's owner session, or NULL when there is nobody to tell (or the
 * call belongs to another front end: see owner.h). */
static struct srv_session *call_owner(struct srv *srv, const struct rt_call *c,
				      struct rt_call_info *ci)
{
	if (srv->freeing || !srv->rt)
		return NULL;
	rt_call_info(srv->rt, c, ci);
	if (!ci->owner || cl_owner_kind(ci->owner) != CL_OWNER_SESSION)
		return NULL;
	return ci->owner;
}

void srv_hook_route(void *arg, const struct rt_call *c)
{
	struct srv *srv = arg;
	struct rt_call_info ci;
	struct srv_session *s = call_owner(srv, c, &ci);

	if (!s)
		return;
	Closeloop__V1__RouteCall m = CLOSELOOP__V1__ROUTE_CALL__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	m.call_id = (char *)ci.id;
	if (ci.target_id) {
		m.target_id = (char *)ci.target_id;
		const struct rt_target *t = ci.target;
		if (t) {
			struct rt_target_info ti;
			rt_target_info(srv->rt, t, &ti);
			m.target_kind = ti.kind == CFG_KIND_PARTNER
						? CLOSELOOP__V1__TARGET_KIND__TARGET_KIND_PARTNER
						: CLOSELOOP__V1__TARGET_KIND__TARGET_KIND_REP;
			if (ti.sip_uri)
				m.sip_uri = (char *)ti.sip_uri;
		}
	}
	if (ci.territory)
		m.territory = (char *)ci.territory;
	if (ci.plan)
		m.plan = (char *)ci.plan;
	m.reservation_id = ci.reservation_id;
	m.step = ci.step;
	if (ci.callback) {
		m.callback = true;
		m.callback_number = (char *)ci.callback_number;
	}
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ROUTE_CALL;
	env.route_call = &m;
	session_send(s, ci.owner_seq, &env);
}

void srv_hook_queued(void *arg, const struct rt_call *c, uint32_t position, uint32_t ewt_ms)
{
	struct srv *srv = arg;
	struct rt_call_info ci;
	struct srv_session *s = call_owner(srv, c, &ci);

	if (!s)
		return;
	Closeloop__V1__QueueCall m = CLOSELOOP__V1__QUEUE_CALL__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	m.call_id = (char *)ci.id;
	m.position = position;
	m.estimated_wait_ms = ewt_ms;
	if (ci.territory)
		m.territory = (char *)ci.territory;
	if (ci.plan)
		m.plan = (char *)ci.plan;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_QUEUE_CALL;
	env.queue_call = &m;
	session_send(s, ci.owner_seq, &env);
}

void srv_hook_reject(void *arg, const struct rt_call *c, enum rt_reject why, const char *text)
{
	struct srv *srv = arg;
	struct rt_call_info ci;
	struct srv_session *s = call_owner(srv, c, &ci);

	if (!s)
		return;
	Closeloop__V1__RejectCall m = CLOSELOOP__V1__REJECT_CALL__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	m.call_id = (char *)ci.id;
	/* rt_reject and RejectReason share their numbering. */
	m.reason = (Closeloop__V1__RejectReason)why;
	if (text)
		m.text = (char *)text;
	if (ci.territory)
		m.territory = (char *)ci.territory;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_REJECT_CALL;
	env.reject_call = &m;
	session_send(s, ci.owner_seq, &env);
}

/* The target's session, or NULL when there is nobody to tell. */
static struct srv_session *target_session(struct srv *srv, const struct rt_target *t,
					  struct rt_target_info *ti)
{
	if (srv->freeing || !srv->rt)
		return NULL;
	rt_target_info(srv->rt, t, ti);
	return ti->session;
}

void srv_hook_offer(void *arg, const struct rt_call *c, const struct rt_target *t,
		    bool needs_accept, uint32_t timeout_ms)
{
	struct srv *srv = arg;
	struct rt_target_info ti;
	struct srv_session *s = target_session(srv, t, &ti);

	if (!s)
		return;
	struct rt_call_info ci;
	char *skills[CFG_MAX_SKILLS];
	size_t n = 0;
	rt_call_info(srv->rt, c, &ci);
	for (size_t i = 0; i < srv->cfg->n_skills && i < CFG_MAX_SKILLS; i++)
		if (ci.skills & (UINT64_C(1) << i))
			skills[n++] = srv->cfg->skills[i];

	Closeloop__V1__Offer m = CLOSELOOP__V1__OFFER__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	m.call_id = (char *)ci.id;
	m.reservation_id = ci.reservation_id;
	if (ci.caller)
		m.caller = (char *)ci.caller;
	if (ci.territory)
		m.territory = (char *)ci.territory;
	if (ci.segment)
		m.segment = (char *)ci.segment;
	m.skills = skills;
	m.n_skills = n;
	m.timeout_ms = timeout_ms;
	m.needs_accept = needs_accept;
	struct sales_offer_info fu;
	if (sales_offer_info(srv->sales, c, &fu)) {
		m.followup = true;
		m.task_id = (char *)fu.task_id;
		m.callback_number = (char *)fu.number;
		m.origin_call_id = (char *)fu.origin_call;
		m.attempt = fu.attempt;
	}
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_OFFER;
	env.offer = &m;
	session_send(s, 0, &env);
}

void srv_hook_revoke(void *arg, const struct rt_call *c, const struct rt_target *t,
		     const char *reason)
{
	struct srv *srv = arg;
	struct rt_target_info ti;
	struct srv_session *s = target_session(srv, t, &ti);

	if (!s)
		return;
	struct rt_call_info ci;
	rt_call_info(srv->rt, c, &ci);
	Closeloop__V1__OfferRevoked m = CLOSELOOP__V1__OFFER_REVOKED__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	m.call_id = (char *)ci.id;
	m.reservation_id = ci.reservation_id;
	if (reason)
		m.reason = (char *)reason;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_OFFER_REVOKED;
	env.offer_revoked = &m;
	session_send(s, 0, &env);
}

void srv_hook_status(void *arg, const struct rt_target *t)
{
	struct srv *srv = arg;
	struct rt_target_info ti;
	struct srv_session *s = target_session(srv, t, &ti);

	if (!s)
		return;
	Closeloop__V1__AgentStatus m = CLOSELOOP__V1__AGENT_STATUS__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	m.target_id = (char *)ti.id;
	/* rt_target_state and AgentState share their numbering. */
	m.state = (Closeloop__V1__AgentState)ti.state;
	if (ti.reason)
		m.reason = (char *)ti.reason;
	m.active_calls = ti.active;
	m.capacity = ti.capacity;
	m.missed = ti.misses;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_AGENT_STATUS;
	env.agent_status = &m;
	session_send(s, 0, &env);
}
