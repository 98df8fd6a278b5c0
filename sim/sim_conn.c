/*
 * sim_conn.c — one simulator connection: non-blocking connect to a numeric
 * address, Hello with the role's token, length-prefixed frames in and out
 * (wire_read / wire_write on the bufferevent's evbuffers), frame counters.
 *
 * Frames queued during a loop pass leave together at its end: sim_conn_send
 * lists the connection and activates the run's ev_write, which writes each
 * listed output with one writev. The bufferevent's own write event is armed
 * only while a socket is full (and while connecting): no epoll_ctl and no
 * extra loop pass per write. The output is capped (SIM_CONN_MAX_OUTPUT):
 * past it the server is not reading and the run fails rather than buffering
 * forever.
 * A connection is never freed inside its own callbacks: failures only mark
 * the run, which frees connections after the loop has returned.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "cfg.h"
#include "sim_internal.h"

#define SIM_CONN_MAX_OUTPUT (64u << 20)

static const char *conn_token(const struct sim_conn *c)
{
	const struct sim_run *r = c->run;
	const struct cl_config *cfg = r->cfg;
	if (!cfg)
		return "";
	switch (c->kind) {
	case SIM_CONN_PBX:
		return cfg->n_tokens[CLOSELOOP__V1__ROLE__ROLE_PBX]
			       ? cfg->tokens[CLOSELOOP__V1__ROLE__ROLE_PBX][0]
			       : "";
	case SIM_CONN_AGENT:
		return cfg->n_tokens[CLOSELOOP__V1__ROLE__ROLE_AGENT]
			       ? cfg->tokens[CLOSELOOP__V1__ROLE__ROLE_AGENT][0]
			       : "";
	case SIM_CONN_PARTNER: {
		const char *t = cfg->targets[c->tgt].token;
		return t ? t : "";
	}
	}
	return "";
}

static void send_hello(struct sim_conn *c)
{
	Closeloop__V1__Hello h = CLOSELOOP__V1__HELLO__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	struct sim_run *r = c->run;

	switch (c->kind) {
	case SIM_CONN_PBX: h.role = CLOSELOOP__V1__ROLE__ROLE_PBX; break;
	case SIM_CONN_AGENT: h.role = CLOSELOOP__V1__ROLE__ROLE_AGENT; break;
	case SIM_CONN_PARTNER: h.role = CLOSELOOP__V1__ROLE__ROLE_PARTNER; break;
	}
	h.token = (char *)conn_token(c);
	/* A partner's identity is its id; for the others it is only logged. */
	h.identity = c->kind == SIM_CONN_PARTNER ? (char *)r->tgts[c->tgt].id : c->name;
	h.client = (char *)r->o->client;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_HELLO;
	env.hello = &h;
	c->hello_seq = sim_conn_send(c, &env);
	if (r->bare)
		sim_conn_fifo_push(c, NULL);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct sim_conn *c = arg;
	struct sim_run *r = c->run;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (r->phase != SIM_PH_DONE) {
		wire_env *env = NULL;
		uint32_t len = 0;
		int rc = wire_read(in, WIRE_DEFAULT_MAX_FRAME, &env, &len);
		if (rc == 0)
			return;
		if (rc < 0) {
			sim_run_fail(r, SIM_EXIT_RUN, "%s: unreadable frame from the %s (length %u, %s)",
				     c->name, r->label, len,
				     rc == -WIRE_ETOOBIG ? "bad length" : "not an Envelope");
			bufferevent_disable(bev, EV_READ);
			return;
		}
		c->recv++;
		r->frames_recv++;
		if (r->bare) {
			struct sim_call *call = NULL;
			if (c->fifo_len) {
				call = c->fifo[c->fifo_head];
				c->fifo_head = (c->fifo_head + 1) % c->fifo_cap;
				c->fifo_len--;
			}
			sim_peer_bare_reply(c, call);
		} else {
			sim_peer_frame(c, env);
		}
		wire_env_free(env);
	}
}

/* The bufferevent drained a full socket: writes go direct again. */
static void on_drained(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

/* The run's ev_write: one writev per listed connection; what a full socket
 * does not take is left to the bufferevent's write event. */
void sim_conn_write_all(evutil_socket_t fd, short what, void *arg)
{
	struct sim_run *r = arg;
	struct sim_conn *c;
	(void)fd;
	(void)what;

	while ((c = r->wlist)) {
		r->wlist = c->wnext;
		c->wnext = NULL;
		c->wlisted = false;
		if (c->bev && c->connected && !(bufferevent_get_enabled(c->bev) & EV_WRITE))
			wire_bev_flush(c->bev);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct sim_conn *c = arg;
	struct sim_run *r = c->run;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		evutil_socket_t fd = bufferevent_getfd(bev);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->connected = true;
		bufferevent_disable(bev, EV_WRITE); /* sim_conn_write_all writes */
		send_hello(c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	int err = EVUTIL_SOCKET_ERROR();
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bool was = c->connected;
	c->connected = false;
	if (r->phase == SIM_PH_DONE)
		return;
	if (!was)
		sim_run_fail(r, SIM_EXIT_CONNECT, "%s: cannot connect to the %s: %s", c->name,
			     r->label, (what & BEV_EVENT_ERROR) ? evutil_socket_error_to_string(err)
								: "closed");
	else if (!c->ready && r->phase == SIM_PH_SETUP)
		sim_run_fail(r, SIM_EXIT_CONNECT, "%s: the %s closed the connection during log-in",
			     c->name, r->label);
	else
		sim_run_fail(r, SIM_EXIT_RUN, "%s: the %s closed the connection%s%s", c->name,
			     r->label, (what & BEV_EVENT_ERROR) ? ": " : "",
			     (what & BEV_EVENT_ERROR) ? evutil_socket_error_to_string(err) : "");
}

int sim_conn_open(struct sim_run *r, struct sim_conn *c, enum sim_conn_kind kind, int tgt,
		  const char *name)
{
	memset(c, 0, sizeof *c);
	c->run = r;
	c->kind = kind;
	c->tgt = tgt;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->bev = bufferevent_socket_new(r->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		return -1;
	bufferevent_setcb(c->bev, on_read, on_drained, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, WIRE_HDR, 0);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0 ||
	    bufferevent_socket_connect(c->bev, (struct sockaddr *)&r->addr, r->addrlen) < 0) {
		/* connect() failed at once (e.g. no route): reported like a refusal. */
		bufferevent_free(c->bev);
		c->bev = NULL;
		return -1;
	}
	return 0;
}

void sim_conn_close(struct sim_conn *c)
{
	if (!c)
		return;
	if (c->bev)
		bufferevent_free(c->bev);
	c->bev = NULL;
	free(c->fifo);
	c->fifo = NULL;
	c->fifo_cap = c->fifo_len = c->fifo_head = 0;
}

uint64_t sim_conn_send(struct sim_conn *c, wire_env *env)
{
	struct sim_run *r = c->run;
	if (!c->bev || !c->connected)
		return 0;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	env->seq = ++c->seq;
	if (wire_write(out, env) < 0) {
		sim_run_fail(r, SIM_EXIT_RUN, "%s: out of memory queueing a frame", c->name);
		return 0;
	}
	c->sent++;
	r->frames_sent++;
	if (!c->wlisted) {
		c->wlisted = true;
		c->wnext = r->wlist;
		if (!r->wlist)
			event_active(r->ev_write, EV_TIMEOUT, 1);
		r->wlist = c;
	}
	if (evbuffer_get_length(out) > SIM_CONN_MAX_OUTPUT)
		sim_run_fail(r, SIM_EXIT_RUN, "%s: %u MiB unsent: the %s is not reading", c->name,
			     SIM_CONN_MAX_OUTPUT >> 20, r->label);
	return env->seq;
}

int sim_conn_fifo_push(struct sim_conn *c, struct sim_call *call)
{
	if (c->fifo_len == c->fifo_cap) {
		size_t ncap = c->fifo_cap ? c->fifo_cap * 2 : 1024;
		struct sim_call **n = malloc(ncap * sizeof *n);
		if (!n)
			return -1;
		for (size_t i = 0; i < c->fifo_len; i++)
			n[i] = c->fifo[(c->fifo_head + i) % c->fifo_cap];
		free(c->fifo);
		c->fifo = n;
		c->fifo_cap = ncap;
		c->fifo_head = 0;
	}
	c->fifo[(c->fifo_head + c->fifo_len) % c->fifo_cap] = call;
	c->fifo_len++;
	return 0;
}
