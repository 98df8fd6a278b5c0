/*
 * tclient.c — blocking test client (see tclient.h).
 *
 * The socket is non-blocking underneath so that a test driving an
 * in-process server can keep pumping its loop while a send or a receive
 * waits; every wait is poll(2) with a deadline, in slices of 1 ms when a
 * pump is set.
 */
#include "tclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#define TCLIENT_MAX_FRAME (16u << 20)
#define TCLIENT_SEND_WAIT_MS 5000

struct kept {
	wire_env *env;
	struct kept *next;
};

struct tclient {
	int fd;
	bool closed;
	uint64_t seq;
	struct evbuffer *in;
	struct kept *head, *tail;
	size_t n_kept;
	void (*pump)(void *arg);
	void *pump_arg;
	char last_error[256];
};

uint64_t tclient_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct tclient *tclient_connect(const char *host, uint16_t port, int rcvbuf)
{
	struct sockaddr_in sa;
	struct tclient *c = calloc(1, sizeof *c);
	int one = 1;

	if (!c)
		return NULL;
	c->fd = -1;
	if (!(c->in = evbuffer_new()))
		goto fail;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		goto fail;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		goto fail;
	if (rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		goto fail;
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
		goto fail;
	return c;
fail:
	tclient_free(c);
	return NULL;
}

void tclient_free(struct tclient *c)
{
	if (!c)
		return;
	tclient_drop(c, TCLIENT_ANY);
	if (c->fd >= 0)
		close(c->fd);
	if (c->in)
		evbuffer_free(c->in);
	free(c);
}

void tclient_set_pump(struct tclient *c, void (*pump)(void *arg), void *arg)
{
	c->pump = pump;
	c->pump_arg = arg;
}

bool tclient_is_closed(const struct tclient *c) { return c->closed; }

const char *tclient_last_error(const struct tclient *c) { return c->last_error; }

/* Wait for events on the socket until deadline (pumping). Returns revents or 0. */
static short wait_fd(struct tclient *c, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = events};
		uint64_t now = tclient_now_ms();
		int slice = now >= deadline ? 0 : (int)(deadline - now);
		if (c->pump && slice > 1)
			slice = 1;
		if (c->pump)
			c->pump(c->pump_arg);
		int n = poll(&p, 1, slice);
		if (n > 0)
			return p.revents;
		if (n < 0 && errno != EINTR)
			return POLLERR;
		if (tclient_now_ms() >= deadline) {
			if (c->pump)
				c->pump(c->pump_arg);
			return 0;
		}
	}
}

static int write_all(struct tclient *c, const unsigned char *p, size_t n)
{
	uint64_t deadline = tclient_now_ms() + TCLIENT_SEND_WAIT_MS;

	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			short ev = wait_fd(c, POLLOUT, deadline);
			if (ev & (POLLERR | POLLHUP))
				return -1;
			if (!ev)
				return -1; /* timed out */
			continue;
		}
		return -1;
	}
	if (c->pump)
		c->pump(c->pump_arg);
	return 0;
}

int tclient_send_raw(struct tclient *c, const void *p, size_t n)
{
	return write_all(c, p, n);
}

int tclient_shutdown_write(struct tclient *c)
{
	return shutdown(c->fd, SHUT_WR);
}

uint64_t tclient_send(struct tclient *c, wire_env *env)
{
	struct evbuffer *b = evbuffer_new();
	uint64_t seq = 0;

	if (!b)
		return 0;
	if (env->seq == 0)
		env->seq = ++c->seq;
	if (wire_write(b, env) < 0)
		goto out;
	size_t n = evbuffer_get_length(b);
	unsigned char *p = evbuffer_pullup(b, (ev_ssize_t)n);
	if (p && write_all(c, p, n) == 0)
		seq = env->seq;
out:
	evbuffer_free(b);
	return seq;
}

static void keep(struct tclient *c, wire_env *env)
{
	struct kept *k = malloc(sizeof *k);
	if (!k) {
		wire_env_free(env);
		return;
	}
	k->env = env;
	k->next = NULL;
	if (c->tail)
		c->tail->next = k;
	else
		c->head = k;
	c->tail = k;
	c->n_kept++;
}

/* Read what the socket has (non-blocking) and keep every whole frame.
 * Returns -1 once the connection is closed, else 0. */
static int read_some(struct tclient *c)
{
	unsigned char buf[65536];

	while (!c->closed) {
		ssize_t r = recv(c->fd, buf, sizeof buf, 0);
		if (r > 0) {
			evbuffer_add(c->in, buf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		c->closed = true; /* EOF or reset */
	}
	for (;;) {
		wire_env *env = NULL;
		int n = wire_read(c->in, TCLIENT_MAX_FRAME, &env, NULL);
		if (n <= 0) {
			if (n < 0) /* the server never sends bad frames: treat as closed */
				c->closed = true;
			break;
		}
		keep(c, env);
	}
	return c->closed ? -1 : 0;
}

static bool matches(const wire_env *env, int kind, uint64_t seq)
{
	return (kind == TCLIENT_ANY || (int)env->msg_case == kind) &&
	       (seq == TCLIENT_ANY_SEQ || env->seq == seq);
}

static wire_env *take(struct tclient *c, int kind, uint64_t seq)
{
	struct kept *prev = NULL;

	for (struct kept *k = c->head; k; prev = k, k = k->next) {
		if (!matches(k->env, kind, seq))
			continue;
		if (prev)
			prev->next = k->next;
		else
			c->head = k->next;
		if (c->tail == k)
			c->tail = prev;
		wire_env *env = k->env;
		free(k);
		c->n_kept--;
		return env;
	}
	return NULL;
}

wire_env *tclient_expect(struct tclient *c, int kind, uint64_t seq, int timeout_ms)
{
	uint64_t deadline = tclient_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	wire_env *env;

	for (;;) {
		if ((env = take(c, kind, seq)))
			return env;
		if (c->closed)
			return NULL;
		read_some(c);
		if ((env = take(c, kind, seq)))
			return env;
		if (c->closed)
			return NULL;
		if (tclient_now_ms() >= deadline)
			return NULL;
		wait_fd(c, POLLIN, deadline);
	}
}

void tclient_poll(struct tclient *c, int timeout_ms)
{
	uint64_t deadline = tclient_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (read_some(c) < 0 || tclient_now_ms() >= deadline)
			return;
		wait_fd(c, POLLIN, deadline);
	}
}

size_t tclient_pending(const struct tclient *c) { return c->n_kept; }

size_t tclient_drop(struct tclient *c, int kind)
{
	size_t n = 0;
	wire_env *env;

	while ((env = take(c, kind, TCLIENT_ANY_SEQ))) {
		wire_env_free(env);
		n++;
	}
	return n;
}

int tclient_wait_closed(struct tclient *c, int timeout_ms)
{
	uint64_t deadline = tclient_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (read_some(c) < 0)
			return 1;
		if (tclient_now_ms() >= deadline)
			return 0;
		wait_fd(c, POLLIN, deadline);
	}
}

int tclient_reply(struct tclient *c, uint64_t seq, int timeout_ms)
{
	wire_env *env = tclient_expect(c, TCLIENT_ANY, seq, timeout_ms);
	int rc;

	if (!env)
		return -1;
	if (env->msg_case == CLOSELOOP__V1__ENVELOPE__MSG_ACK) {
		rc = 0;
	} else if (env->msg_case == CLOSELOOP__V1__ENVELOPE__MSG_ERROR) {
		rc = (int)env->error->code;
		snprintf(c->last_error, sizeof c->last_error, "%s", env->error->text);
	} else {
		rc = -2;
	}
	wire_env_free(env);
	return rc;
}

/* ---- helpers ---- */

uint64_t tclient_send_hello(struct tclient *c, int role, const char *token, const char *identity)
{
	Closeloop__V1__Hello h = CLOSELOOP__V1__HELLO__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	h.role = (Closeloop__V1__Role)role;
	h.token = (char *)(token ? token : "");
	h.identity = (char *)(identity ? identity : "");
	h.client = "tclient";
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_HELLO;
	env.hello = &h;
	return tclient_send(c, &env);
}

int tclient_hello(struct tclient *c, int role, const char *token, const char *identity,
		  int timeout_ms)
{
	uint64_t seq = tclient_send_hello(c, role, token, identity);
	if (!seq)
		return -1;
	wire_env *env = tclient_expect(c, TCLIENT_ANY, seq, timeout_ms);
	int rc = -1;
	if (!env)
		return -1;
	if (env->msg_case == CLOSELOOP__V1__ENVELOPE__MSG_HELLO_OK) {
		rc = 0;
	} else if (env->msg_case == CLOSELOOP__V1__ENVELOPE__MSG_ERROR) {
		rc = (int)env->error->code;
		snprintf(c->last_error, sizeof c->last_error, "%s", env->error->text);
	}
	wire_env_free(env);
	return rc;
}

uint64_t tclient_ping(struct tclient *c, uint64_t nonce)
{
	Closeloop__V1__Ping p = CLOSELOOP__V1__PING__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	p.nonce = nonce;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_PING;
	env.ping = &p;
	return tclient_send(c, &env);
}

uint64_t tclient_offer(struct tclient *c, const char *call_id, const char *caller,
		       const char *postal, const char *segment, const char *const *skills)
{
	Closeloop__V1__CallOffered m = CLOSELOOP__V1__CALL_OFFERED__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	size_t n = 0;

	while (skills && skills[n])
		n++;
	m.call_id = (char *)call_id;
	m.caller = (char *)(caller ? caller : "");
	m.postal_code = (char *)(postal ? postal : "");
	m.segment = (char *)(segment ? segment : "");
	m.skills = (char **)skills;
	m.n_skills = n;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_CALL_OFFERED;
	env.call_offered = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_call_event(struct tclient *c, int kind, const char *call_id, const char *target_id)
{
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	Closeloop__V1__CallAnswered an = CLOSELOOP__V1__CALL_ANSWERED__INIT;
	Closeloop__V1__CallNoAnswer na = CLOSELOOP__V1__CALL_NO_ANSWER__INIT;
	Closeloop__V1__CallEnded en = CLOSELOOP__V1__CALL_ENDED__INIT;
	Closeloop__V1__CallAbandoned ab = CLOSELOOP__V1__CALL_ABANDONED__INIT;
	char *tid = (char *)(target_id ? target_id : "");

	env.msg_case = (Closeloop__V1__Envelope__MsgCase)kind;
	switch (kind) {
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED:
		an.call_id = (char *)call_id;
		an.target_id = tid;
		env.call_answered = &an;
		break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_NO_ANSWER:
		na.call_id = (char *)call_id;
		na.target_id = tid;
		env.call_no_answer = &na;
		break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED:
		en.call_id = (char *)call_id;
		env.call_ended = &en;
		break;
	case CLOSELOOP__V1__ENVELOPE__MSG_CALL_ABANDONED:
		ab.call_id = (char *)call_id;
		env.call_abandoned = &ab;
		break;
	default:
		return 0;
	}
	return tclient_send(c, &env);
}

uint64_t tclient_login(struct tclient *c, const char *target_id, bool ready)
{
	Closeloop__V1__AgentLogin m = CLOSELOOP__V1__AGENT_LOGIN__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.target_id = (char *)(target_id ? target_id : "");
	m.ready = ready;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_AGENT_LOGIN;
	env.agent_login = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_logout(struct tclient *c, const char *target_id)
{
	Closeloop__V1__AgentLogout m = CLOSELOOP__V1__AGENT_LOGOUT__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.target_id = (char *)(target_id ? target_id : "");
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_AGENT_LOGOUT;
	env.agent_logout = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_set_state(struct tclient *c, const char *target_id, int state, const char *reason)
{
	Closeloop__V1__AgentSetState m = CLOSELOOP__V1__AGENT_SET_STATE__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.target_id = (char *)(target_id ? target_id : "");
	m.state = (Closeloop__V1__AgentState)state;
	m.reason = (char *)(reason ? reason : "");
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_AGENT_SET_STATE;
	env.agent_set_state = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_offer_accept(struct tclient *c, const char *call_id, uint64_t reservation_id)
{
	Closeloop__V1__OfferAccept m = CLOSELOOP__V1__OFFER_ACCEPT__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.call_id = (char *)call_id;
	m.reservation_id = reservation_id;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_OFFER_ACCEPT;
	env.offer_accept = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_offer_decline(struct tclient *c, const char *call_id, uint64_t reservation_id,
			       const char *reason)
{
	Closeloop__V1__OfferDecline m = CLOSELOOP__V1__OFFER_DECLINE__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.call_id = (char *)call_id;
	m.reservation_id = reservation_id;
	m.reason = (char *)(reason ? reason : "");
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_OFFER_DECLINE;
	env.offer_decline = &m;
	return tclient_send(c, &env);
}

/* ---- sales loop ---- */

static const char *nz(const char *s) { return s ? s : ""; }

uint64_t tclient_disposition(struct tclient *c, const char *call_id, int outcome, uint64_t due_ms,
			     const char *category)
{
	Closeloop__V1__Disposition m = CLOSELOOP__V1__DISPOSITION__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.call_id = (char *)nz(call_id);
	m.outcome = (Closeloop__V1__Outcome)outcome;
	m.followup_due_ms = due_ms;
	m.complaint_category = (char *)nz(category);
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_DISPOSITION;
	env.disposition = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_order(struct tclient *c, const char *order_id, const char *call_id,
		       int64_t amount_minor, const char *currency, const struct tclient_item *items,
		       size_t n_items, uint32_t priority, bool expedite)
{
	Closeloop__V1__OrderPlaced m = CLOSELOOP__V1__ORDER_PLACED__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	Closeloop__V1__OrderItem it[128];
	Closeloop__V1__OrderItem *ip[128];

	if (n_items > 128)
		return 0;
	for (size_t i = 0; i < n_items; i++) {
		closeloop__v1__order_item__init(&it[i]);
		it[i].sku = (char *)nz(items[i].sku);
		it[i].quantity = items[i].quantity;
		it[i].unit_price_minor = items[i].unit_price_minor;
		ip[i] = &it[i];
	}
	m.order_id = (char *)nz(order_id);
	m.call_id = (char *)nz(call_id);
	m.amount_minor = amount_minor;
	m.currency = (char *)nz(currency);
	m.items = ip;
	m.n_items = n_items;
	m.priority = priority;
	m.expedite = expedite;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ORDER_PLACED;
	env.order_placed = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_order_status(struct tclient *c, const char *order_id, int state,
			      const char *reason)
{
	Closeloop__V1__OrderStatus m = CLOSELOOP__V1__ORDER_STATUS__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.order_id = (char *)nz(order_id);
	m.state = (Closeloop__V1__OrderState)state;
	m.reason = (char *)nz(reason);
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ORDER_STATUS;
	env.order_status = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_lead(struct tclient *c, const struct tclient_lead *l)
{
	Closeloop__V1__Lead m = CLOSELOOP__V1__LEAD__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	size_t n = 0;

	while (l->products && l->products[n])
		n++;
	m.lead_id = (char *)nz(l->lead_id);
	m.call_id = (char *)nz(l->call_id);
	m.name = (char *)nz(l->name);
	m.company = (char *)nz(l->company);
	m.street = (char *)nz(l->street);
	m.postal_code = (char *)nz(l->postal_code);
	m.city = (char *)nz(l->city);
	m.country = (char *)nz(l->country);
	m.phone = (char *)nz(l->phone);
	m.email = (char *)nz(l->email);
	m.consent_contact = l->consent_contact;
	m.consent_marketing = l->consent_marketing;
	m.consent_share = l->consent_share;
	m.products = (char **)l->products;
	m.n_products = n;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_LEAD;
	env.lead = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_qa(struct tclient *c, const char *call_id, double score, const char *form_id,
		    const char *reviewer)
{
	Closeloop__V1__QaScore m = CLOSELOOP__V1__QA_SCORE__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.call_id = (char *)nz(call_id);
	m.score = score;
	m.form_id = (char *)nz(form_id);
	m.reviewer = (char *)nz(reviewer);
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_QA_SCORE;
	env.qa_score = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_complaint_update(struct tclient *c, const char *complaint_id, int action,
				  const char *by)
{
	Closeloop__V1__ComplaintUpdate m = CLOSELOOP__V1__COMPLAINT_UPDATE__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.complaint_id = (char *)nz(complaint_id);
	m.action = (Closeloop__V1__ComplaintAction)action;
	m.by = (char *)nz(by);
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_COMPLAINT_UPDATE;
	env.complaint_update = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_partner_drain(struct tclient *c, const char *target_id, bool drain,
			       const char *reason)
{
	Closeloop__V1__PartnerDrain m = CLOSELOOP__V1__PARTNER_DRAIN__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.target_id = (char *)nz(target_id);
	m.drain = drain;
	m.reason = (char *)nz(reason);
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_PARTNER_DRAIN;
	env.partner_drain = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_erasure(struct tclient *c, const char *phone, const char *email,
			 const char *reference)
{
	Closeloop__V1__ErasureRequest m = CLOSELOOP__V1__ERASURE_REQUEST__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.phone = (char *)nz(phone);
	m.email = (char *)nz(email);
	m.reference = (char *)nz(reference);
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ERASURE_REQUEST;
	env.erasure_request = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_kpi_query(struct tclient *c, int dimension, const char *name, uint64_t from_ms,
			   uint64_t to_ms, bool total)
{
	Closeloop__V1__KpiQuery m = CLOSELOOP__V1__KPI_QUERY__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.dimension = (Closeloop__V1__KpiDimension)dimension;
	m.name = (char *)nz(name);
	m.from_ms = from_ms;
	m.to_ms = to_ms;
	m.total = total;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_KPI_QUERY;
	env.kpi_query = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_backlog_query(struct tclient *c, int dimension, const char *name, uint32_t limit)
{
	Closeloop__V1__BacklogQuery m = CLOSELOOP__V1__BACKLOG_QUERY__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.dimension = (Closeloop__V1__KpiDimension)dimension;
	m.name = (char *)nz(name);
	m.limit = limit;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_BACKLOG_QUERY;
	env.backlog_query = &m;
	return tclient_send(c, &env);
}

uint64_t tclient_contract_query(struct tclient *c, const char *target_id)
{
	Closeloop__V1__ContractQuery m = CLOSELOOP__V1__CONTRACT_QUERY__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	m.target_id = (char *)nz(target_id);
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_CONTRACT_QUERY;
	env.contract_query = &m;
	return tclient_send(c, &env);
}

wire_env *tclient_reply_of(struct tclient *c, uint64_t seq, int kind, int timeout_ms, int *code)
{
	wire_env *env = tclient_expect(c, TCLIENT_ANY, seq, timeout_ms);
	int rc;

	if (!env) {
		rc = -1;
	} else if ((int)env->msg_case == kind) {
		if (code)
			*code = 0;
		return env;
	} else if (env->msg_case == CLOSELOOP__V1__ENVELOPE__MSG_ERROR) {
		rc = (int)env->error->code;
		snprintf(c->last_error, sizeof c->last_error, "%s", env->error->text);
	} else {
		rc = -2;
	}
	wire_env_free(env);
	if (code)
		*code = rc;
	return NULL;
}
