/*
 * pub_bench.c — how many pub_event calls per second the Redis publisher
 * sustains against a redis-server, with pipelining, until every event is in
 * the stream (XADD acknowledged, and PUBLISHed on the live channel).
 *
 *   redis-server --port 6390 --save '' --appendonly no &
 *   pub_bench -p 6390 [-n EVENTS] [-i MAX_INFLIGHT] [-m STREAM_MAXLEN] [-s STATE_EVERY]
 *
 * The producer runs on the loop like the engine would: it publishes in
 * batches from a zero-delay event and stays below a backlog high-water mark
 * so nothing is dropped or journaled (the run fails if anything is). With
 * -s K it also publishes a call hash update every K events. Keys use the
 * prefix "bench:"; the stream is trimmed to about -m entries (default 1e6).
 */
#include <event2/event.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "log.h"
#include "pub.h"

#define BATCH 512
#define HIGH_WATER 40000

struct bench {
	struct event_base *base;
	struct pub *p;
	struct event *produce;
	uint64_t total, sent, state_every;
	double t0, t_sent;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_produce(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	char num[24], call[32];

	if (!pub_connected(b->p))
		return; /* the poll timer re-arms us (also when the backlog is high) */
	for (int k = 0; k < BATCH && b->sent < b->total && pub_backlog(b->p) < HIGH_WATER; k++) {
		snprintf(num, sizeof num, "%" PRIu64, b->sent);
		snprintf(call, sizeof call, "c-%" PRIu64, b->sent / 8);
		struct pub_event ev = {.type = "call.queued", .call_id = call,
				       .target_id = "partner-17", .territory = "de-south",
				       .queue = "de-south/partners/printers", .state = "queued",
				       .n_extra = 1, .extra = {{"n", num}}};
		if (pub_event(b->p, &ev, NULL) < 0) {
			fprintf(stderr, "pub_event failed\n");
			exit(1);
		}
		if (b->state_every && b->sent % b->state_every == 0) {
			struct pub_call c = {.id = call, .territory = "de-south", .plan = "soho",
					     .state = "queued", .queue = "de-south/partners/printers",
					     .offered_ms = 1, .queued_ms = 2};
			pub_call(b->p, &c);
		}
		b->sent++;
	}
	if (b->sent < b->total && pub_backlog(b->p) < HIGH_WATER) {
		/* Again once the loop has polled I/O (event_active would starve it). */
		struct timeval zero = {0, 0};
		evtimer_add(b->produce, &zero);
	}
	if (b->sent == b->total && b->t_sent == 0)
		b->t_sent = now_s();
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	struct pub_stats st;

	if (b->t0 == 0 && pub_connected(b->p))
		b->t0 = now_s();
	if (b->sent < b->total && pub_connected(b->p) && !evtimer_pending(b->produce, NULL)) {
		struct timeval zero = {0, 0};
		evtimer_add(b->produce, &zero);
	}
	pub_get_stats(b->p, &st);
	if (b->sent == b->total && pub_backlog(b->p) == 0 && st.inflight == 0 &&
	    st.state_pending == 0)
		event_base_loopbreak(b->base);
}

static void usage(const char *me)
{
	fprintf(stderr,
		"usage: %s -p PORT [-h HOST] [-n EVENTS] [-i MAX_INFLIGHT] [-m STREAM_MAXLEN] "
		"[-s STATE_EVERY]\n",
		me);
	exit(2);
}

int main(int argc, char **argv)
{
	struct cfg_redis cfg = {.enabled = true, .host = "127.0.0.1", .prefix = "bench:",
				.stream_maxlen = 1000000, .call_ttl_s = 60,
				.max_inflight = 10000, .buffer_events = 100000,
				.snapshot_ms = 1000};
	struct bench b = {.total = 1000000};
	int c;

	while ((c = getopt(argc, argv, "p:h:n:i:m:s:")) != -1) {
		switch (c) {
		case 'p': cfg.port = (uint16_t)atoi(optarg); break;
		case 'h': cfg.host = optarg; break;
		case 'n': b.total = strtoull(optarg, NULL, 10); break;
		case 'i': cfg.max_inflight = (uint32_t)atoi(optarg); break;
		case 'm': cfg.stream_maxlen = (uint32_t)atoi(optarg); break;
		case 's': b.state_every = strtoull(optarg, NULL, 10); break;
		default: usage(argv[0]);
		}
	}
	if (!cfg.port || !b.total)
		usage(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	cl_log_set_level(CL_LOG_LEVEL_WARN);

	b.base = event_base_new();
	b.p = pub_new(b.base, &cfg, NULL, NULL);
	if (!b.p)
		return 1;
	b.produce = evtimer_new(b.base, on_produce, &b);
	struct event *poll = event_new(b.base, -1, EV_PERSIST, on_poll, &b);
	struct timeval tick = {0, 1000}, limit = {600, 0};
	evtimer_add(poll, &tick);
	event_base_loopexit(b.base, &limit);
	event_base_dispatch(b.base);

	double t1 = now_s();
	struct pub_stats st;
	pub_get_stats(b.p, &st);
	if (b.t0 == 0 || b.sent != b.total || st.dropped || st.journaled) {
		fprintf(stderr, "incomplete run: sent %" PRIu64 " dropped %" PRIu64 "\n", b.sent,
			st.dropped);
		return 1;
	}
	double el = t1 - b.t0;
	printf("events        %" PRIu64 "\n", b.total);
	printf("max_inflight  %" PRIu32 "\n", cfg.max_inflight);
	printf("state every   %" PRIu64 "\n", b.state_every);
	printf("elapsed       %.3f s (producer done after %.3f s)\n", el, b.t_sent - b.t0);
	printf("throughput    %.0f events/s (acknowledged by Redis)\n", (double)b.total / el);
	printf("published %" PRIu64 " dup_skipped %" PRIu64 " errors %" PRIu64 "\n", st.published,
	       st.dup_skipped, st.errors);
	event_free(poll);
	event_free(b.produce);
	pub_free(b.p);
	event_base_free(b.base);
	return 0;
}
