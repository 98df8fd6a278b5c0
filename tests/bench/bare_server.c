/*
 * bare_server.c — the transport ceiling: a libevent server that reads
 * length-prefixed frames and answers each one with the same small frame (a
 * packed Envelope{version 1, Ack}), doing nothing else.
 *
 *   bare_server [--listen HOST:PORT] [--ready-file FILE] [--max-frame N]
 *
 * `closeloop-sim load --bare HOST:PORT` drives it with the same load
 * generator, connections and frame sizes it uses against closeloopd, so the
 * engine's throughput can be read as a fraction of what bufferevents alone
 * deliver on this machine (docs/sim.md, docs/performance.md).
 *
 * Same shape as the engine's server, on purpose: one event_base, one
 * bufferevent per connection, the read low watermark at the header size, every
 * frame of a read callback answered into the output evbuffer so replies
 * leave in one write, reading paused while more than BARE_MAX_OUTPUT bytes
 * wait to be written. It does not decode the frames: the difference to the
 * engine is exactly protocol decoding, routing and state. Replies carry
 * seq 0; the simulator pairs them with its requests by order.
 *
 * Stops on SIGINT or SIGTERM; prints its counters to stderr on the way out.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "closeloop.pb-c.h"

#define BARE_HDR 4u
#define BARE_MAX_OUTPUT (4u << 20)

struct bare {
	struct event_base *base;
	struct evconnlistener *lis;
	struct bare_conn *conns;
	uint32_t max_frame;
	unsigned char reply[64]; /* header + packed Envelope{Ack} */
	size_t reply_len;
	uint64_t frames, accepted, cut;
};

struct bare_conn {
	struct bare *srv;
	struct bufferevent *bev;
	struct bare_conn *prev, *next;
};

static void conn_free(struct bare_conn *c)
{
	struct bare *b = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		b->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct bare_conn *c = arg;
	struct bare *b = c->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);

	for (;;) {
		unsigned char hdr[BARE_HDR];
		if (evbuffer_copyout(in, hdr, BARE_HDR) != (ev_ssize_t)BARE_HDR)
			break;
		uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
			       (uint32_t)hdr[2] << 8 | hdr[3];
		if (len == 0 || len > b->max_frame) {
			b->cut++;
			conn_free(c);
			return;
		}
		if (evbuffer_get_length(in) < BARE_HDR + (size_t)len)
			break;
		evbuffer_drain(in, BARE_HDR + len);
		evbuffer_add(out, b->reply, b->reply_len);
		b->frames++;
	}
	if (evbuffer_get_length(out) > BARE_MAX_OUTPUT) {
		/* The peer is not reading: stop reading it until half has gone. */
		bufferevent_disable(bev, EV_READ);
		bufferevent_setwatermark(bev, EV_WRITE, BARE_MAX_OUTPUT / 2, 0);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (!(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bufferevent_enable(bev, EV_READ);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct bare *b = arg;
	int one = 1;
	(void)lis;
	(void)sa;
	(void)salen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct bare_conn *c = calloc(1, sizeof *c);
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->srv = b;
	c->bev = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, BARE_HDR, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = b->conns;
	if (b->conns)
		b->conns->prev = c;
	b->conns = c;
	b->accepted++;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static int pack_reply(struct bare *b)
{
	Closeloop__V1__Envelope env = CLOSELOOP__V1__ENVELOPE__INIT;
	Closeloop__V1__Ack ack = CLOSELOOP__V1__ACK__INIT;
	env.version = 1;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ACK;
	env.ack = &ack;
	size_t n = closeloop__v1__envelope__get_packed_size(&env);
	if (n + BARE_HDR > sizeof b->reply)
		return -1;
	closeloop__v1__envelope__pack(&env, b->reply + BARE_HDR);
	b->reply[0] = (unsigned char)(n >> 24);
	b->reply[1] = (unsigned char)(n >> 16);
	b->reply[2] = (unsigned char)(n >> 8);
	b->reply[3] = (unsigned char)n;
	b->reply_len = n + BARE_HDR;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bare_server [--listen HOST:PORT] [--ready-file FILE] [--max-frame N]\n"
		   "  --listen HOST:PORT  numeric address (default 127.0.0.1:0, any free port)\n"
		   "  --ready-file FILE   written once bound: \"listen HOST:PORT\"\n"
		   "  --max-frame N       longer frames cut the connection (default 65536)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"ready-file", required_argument, NULL, 'r'},
		{"max-frame", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *listen_at = "127.0.0.1:0", *ready = NULL;
	struct bare b = {.max_frame = 65536};
	int opt, rc = 1;
	struct event *sigint = NULL, *sigterm = NULL;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': listen_at = optarg; break;
		case 'r': ready = optarg; break;
		case 'm': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || v > (1u << 30)) {
				fprintf(stderr, "bare_server: bad --max-frame '%s'\n", optarg);
				return 2;
			}
			b.max_frame = (uint32_t)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	/* libevent refuses port 0 ("any free port"): parse the host with a
	 * placeholder port, then set the real one. */
	struct sockaddr_storage ss;
	int sslen = (int)sizeof ss;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", listen_at);
	char *colon = strrchr(buf, ':'), *end = NULL;
	long lport = colon && colon[1] ? strtol(colon + 1, &end, 10) : -1;
	if (lport >= 0 && lport <= 65535 && end && !*end)
		snprintf(colon + 1, sizeof buf - (size_t)(colon + 1 - buf), "1");
	if (lport < 0 || lport > 65535 || !end || *end ||
	    evutil_parse_sockaddr_port(buf, (struct sockaddr *)&ss, &sslen) < 0) {
		fprintf(stderr, "bare_server: '%s' is not a numeric HOST:PORT\n", listen_at);
		return 2;
	}
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)lport);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)lport);
	signal(SIGPIPE, SIG_IGN);
	if (pack_reply(&b) < 0 || !(b.base = event_base_new())) {
		fprintf(stderr, "bare_server: cannot set up\n");
		return 1;
	}
	b.lis = evconnlistener_new_bind(b.base, on_accept, &b,
					LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
					(struct sockaddr *)&ss, sslen);
	if (!b.lis) {
		fprintf(stderr, "bare_server: cannot listen on %s: %s\n", listen_at, strerror(errno));
		goto out;
	}
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	char host[64] = "?";
	int port = 0;
	if (getsockname(evconnlistener_get_fd(b.lis), (struct sockaddr *)&bound, &blen) == 0) {
		if (bound.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&bound;
			evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
			port = ntohs(in->sin_port);
		} else if (bound.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&bound;
			char h6[INET6_ADDRSTRLEN];
			evutil_inet_ntop(AF_INET6, &in6->sin6_addr, h6, sizeof h6);
			snprintf(host, sizeof host, "[%s]", h6);
			port = ntohs(in6->sin6_port);
		}
	}
	if (ready) {
		/* Written whole under a temporary name, then renamed: a reader never
		 * sees half a line. */
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", ready);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "listen %s:%d\n", host, port) < 0 || fclose(f) != 0 ||
		    rename(tmp, ready) != 0) {
			fprintf(stderr, "bare_server: cannot write %s\n", ready);
			goto out;
		}
	}
	fprintf(stderr, "bare_server: listening on %s:%d\n", host, port);
	sigint = evsignal_new(b.base, SIGINT, on_signal, b.base);
	sigterm = evsignal_new(b.base, SIGTERM, on_signal, b.base);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) < 0 || evsignal_add(sigterm, NULL) < 0)
		goto out;
	event_base_dispatch(b.base);
	fprintf(stderr, "bare_server: %" PRIu64 " connections, %" PRIu64 " frames answered, %" PRIu64
			" cut\n",
		b.accepted, b.frames, b.cut);
	rc = 0;
out:
	while (b.conns)
		conn_free(b.conns);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (b.lis)
		evconnlistener_free(b.lis);
	event_base_free(b.base);
	return rc;
}
