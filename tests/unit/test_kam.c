/*
 * test_kam.c — the Kamailio evapi client: netstring framing and the JSON
 * mapping as pure functions, then the whole module in process: a real
 * engine (configuration, router, kam) on a real event_base, and a stand-in
 * for Kamailio's evapi server on a loopback socket that the test drives
 * frame by frame. Engine and stand-in share one thread: every wait pumps the
 * loop, so each run is deterministic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "cfg.h"
#include "engine.h"
#include "kam.h"
#include "kam_proto.h"
#include "log.h"
#include "rt.h"

#define T_WAIT_MS 3000 /* generous: every wait normally ends within a few ms */

/* ================================================================ framing */

static void test_ns_whole_and_partial(void **state)
{
	(void)state;
	const char *f = "13:{\"event\":\"x\"},";
	size_t len = strlen(f), skip, hdr, plen;

	assert_int_equal(kam_ns_parse(f, len, 1024, &skip, &hdr, &plen), 1);
	assert_int_equal(skip, 0);
	assert_int_equal(hdr, 3);
	assert_int_equal(plen, 13);
	assert_memory_equal(f + skip + hdr, "{\"event\":\"x\"}", 13);
	/* Every proper prefix needs more bytes; once the ':' is there the
	 * whole size is known. */
	for (size_t n = 0; n < len; n++) {
		assert_int_equal(kam_ns_parse(f, n, 1024, &skip, &hdr, &plen), 0);
		if (n >= 3) {
			assert_int_equal(hdr, 3);
			assert_int_equal(plen, 13);
		} else {
			assert_int_equal(hdr, 0);
		}
	}
	/* Two frames back to back: the first one is found alone. */
	const char *two = "2:{},3:abc,";
	assert_int_equal(kam_ns_parse(two, strlen(two), 1024, &skip, &hdr, &plen), 1);
	assert_int_equal(skip + hdr + plen + 1, 5);
	assert_int_equal(kam_ns_parse(two + 5, strlen(two) - 5, 1024, &skip, &hdr, &plen), 1);
	assert_int_equal(plen, 3);
}

static void test_ns_whitespace(void **state)
{
	(void)state;
	const char *f = " \r\n\t2:{},";
	size_t skip, hdr, plen;

	assert_int_equal(kam_ns_parse(f, strlen(f), 64, &skip, &hdr, &plen), 1);
	assert_int_equal(skip, 4);
	assert_int_equal(hdr, 2);
	assert_int_equal(plen, 2);
	/* Only whitespace: wait, but the whitespace can be dropped. */
	assert_int_equal(kam_ns_parse("  \n", 3, 64, &skip, &hdr, &plen), 0);
	assert_int_equal(skip, 3);
	assert_int_equal(hdr, 0);
}

static void test_ns_errors(void **state)
{
	(void)state;
	size_t skip, hdr, plen;

	assert_int_equal(kam_ns_parse("x:ab,", 5, 64, &skip, &hdr, &plen), -KAM_EFRAME);
	assert_int_equal(kam_ns_parse(":ab,", 4, 64, &skip, &hdr, &plen), -KAM_EFRAME);
	assert_int_equal(kam_ns_parse("0:,", 3, 64, &skip, &hdr, &plen), -KAM_EFRAME);
	assert_int_equal(kam_ns_parse("2:ab;", 5, 64, &skip, &hdr, &plen), -KAM_EFRAME);
	assert_int_equal(kam_ns_parse("-2:ab,", 6, 64, &skip, &hdr, &plen), -KAM_EFRAME);
	/* Above the limit: refused as soon as the length is known. */
	assert_int_equal(kam_ns_parse("65:", 3, 64, &skip, &hdr, &plen), -KAM_EFRAME);
	assert_int_equal(kam_ns_parse("64:", 3, 64, &skip, &hdr, &plen), 0);
	/* Eleven digits can never be a length we accept. */
	assert_int_equal(kam_ns_parse("00000000001", 11, 64, &skip, &hdr, &plen), -KAM_EFRAME);
	assert_int_equal(kam_ns_parse("0000000001", 10, 64, &skip, &hdr, &plen), 0);
}

static void test_ns_header(void **state)
{
	(void)state;
	char out[KAM_NS_DIGITS_MAX + 2];

	assert_int_equal(kam_ns_header(0, out), 2);
	assert_memory_equal(out, "0:", 2);
	assert_int_equal(kam_ns_header(7, out), 2);
	assert_memory_equal(out, "7:", 2);
	assert_int_equal(kam_ns_header(65536, out), 6);
	assert_memory_equal(out, "65536:", 6);
}

/* ================================================================ events */

static int parse(const char *js, struct kam_event *ev, json_t **doc)
{
	char err[160];
	int rc = kam_event_parse(js, strlen(js), ev, doc, err, sizeof err);
	if (rc < 0)
		assert_true(err[0] != '\0');
	return rc;
}

static void test_event_invite(void **state)
{
	(void)state;
	struct kam_event ev;
	json_t *doc;
	const char *js =
		"{\"event\":\"invite\",\"call_id\":\"c1@host\",\"from\":\"+4989123\",\"to\":\"800\","
		"\"postal_code\":\"80331\",\"segment\":\"soho\",\"skills\":\" printers , lang-de,,\","
		"\"language\":\"de\",\"priority\":\"7\",\"tindex\":12,\"tlabel\":4294967295,"
		"\"extra\":[1,2]}";

	assert_int_equal(parse(js, &ev, &doc), 0);
	assert_int_equal(ev.type, KAM_EV_INVITE);
	assert_string_equal(ev.call_id, "c1@host");
	assert_string_equal(ev.from, "+4989123");
	assert_string_equal(ev.to, "800");
	assert_string_equal(ev.postal_code, "80331");
	assert_string_equal(ev.segment, "soho");
	assert_string_equal(ev.language, "de");
	assert_int_equal(ev.n_skills, 2);
	assert_string_equal(ev.skills[0], "printers");
	assert_string_equal(ev.skills[1], "lang-de");
	assert_int_equal(ev.priority, 7);
	assert_true(ev.has_tx);
	assert_int_equal(ev.tindex, 12);
	assert_int_equal(ev.tlabel, UINT32_MAX);
	kam_event_free(doc);

	/* Skills as a list; empty optional strings read as absent. */
	js = "{\"event\":\"invite\",\"call_id\":\"c2\",\"from\":\"\",\"skills\":[\"a\",\"b\"],"
	     "\"tindex\":0,\"tlabel\":0,\"priority\":3}";
	assert_int_equal(parse(js, &ev, &doc), 0);
	assert_null(ev.from);
	assert_null(ev.postal_code);
	assert_int_equal(ev.n_skills, 2);
	assert_string_equal(ev.skills[1], "b");
	assert_int_equal(ev.priority, 3);
	kam_event_free(doc);
}

static void test_event_others(void **state)
{
	(void)state;
	struct kam_event ev;
	json_t *doc;

	assert_int_equal(parse("{\"event\":\"retry\",\"call_id\":\"c\",\"target_id\":\"p1\","
			       "\"code\":486,\"tindex\":5,\"tlabel\":6}",
			       &ev, &doc),
			 0);
	assert_int_equal(ev.type, KAM_EV_RETRY);
	assert_string_equal(ev.target_id, "p1");
	assert_int_equal(ev.code, 486);
	assert_int_equal(ev.tindex, 5);
	kam_event_free(doc);

	assert_int_equal(parse("{\"event\":\"answered\",\"call_id\":\"c\",\"target_id\":\"p1\"}",
			       &ev, &doc),
			 0);
	assert_int_equal(ev.type, KAM_EV_ANSWERED);
	assert_false(ev.has_tx);
	kam_event_free(doc);

	static const struct {
		const char *name;
		enum kam_ev_type t;
	} simple[] = {{"ended", KAM_EV_ENDED},
		      {"cancel", KAM_EV_CANCEL},
		      {"timeout", KAM_EV_TIMEOUT},
		      {"failed", KAM_EV_FAILED}};
	for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
		char js[128];
		snprintf(js, sizeof js, "{\"event\":\"%s\",\"call_id\":\"c\"}", simple[i].name);
		assert_int_equal(parse(js, &ev, &doc), 0);
		assert_int_equal(ev.type, simple[i].t);
		assert_string_equal(kam_ev_name(ev.type), simple[i].name);
		kam_event_free(doc);
	}
}

static void test_event_errors(void **state)
{
	(void)state;
	struct kam_event ev;
	json_t *doc;

	/* Not JSON, not an object: nothing to free. */
	assert_int_equal(parse("{\"event\":", &ev, &doc), -KAM_EJSON);
	assert_null(doc);
	assert_int_equal(parse("[1,2]", &ev, &doc), -KAM_EJSON);
	assert_null(doc);
	assert_int_equal(kam_event_parse("", 0, &ev, &doc, NULL, 0), -KAM_EJSON);

	/* Duplicate keys are refused (two call ids: which one?). */
	assert_int_equal(parse("{\"event\":\"ended\",\"call_id\":\"a\",\"call_id\":\"b\"}", &ev,
			       &doc),
			 -KAM_EJSON);

	/* Field errors keep the document and what could be read. */
	assert_int_equal(parse("{\"event\":\"bogus\",\"call_id\":\"c\"}", &ev, &doc), -KAM_EFIELD);
	kam_event_free(doc);
	assert_int_equal(parse("{\"call_id\":\"c\"}", &ev, &doc), -KAM_EFIELD);
	kam_event_free(doc);
	assert_int_equal(parse("{\"event\":\"invite\",\"call_id\":\"c\",\"tindex\":1}", &ev, &doc),
			 -KAM_EFIELD);
	assert_false(ev.has_tx);
	kam_event_free(doc);
	assert_int_equal(parse("{\"event\":\"invite\",\"tindex\":1,\"tlabel\":2}", &ev, &doc),
			 -KAM_EFIELD);
	assert_true(ev.has_tx); /* no call id, but the transaction can be answered */
	assert_int_equal(ev.tindex, 1);
	kam_event_free(doc);
	assert_int_equal(parse("{\"event\":\"invite\",\"call_id\":\"c\",\"tindex\":1,\"tlabel\":2,"
			       "\"from\":42}",
			       &ev, &doc),
			 -KAM_EFIELD);
	assert_true(ev.has_tx);
	assert_string_equal(ev.call_id, "c");
	kam_event_free(doc);
	assert_int_equal(parse("{\"event\":\"invite\",\"call_id\":\"c\",\"tindex\":-1,\"tlabel\":2}",
			       &ev, &doc),
			 -KAM_EFIELD);
	kam_event_free(doc);
	assert_int_equal(parse("{\"event\":\"invite\",\"call_id\":\"c\",\"tindex\":4294967296,"
			       "\"tlabel\":2}",
			       &ev, &doc),
			 -KAM_EFIELD);
	kam_event_free(doc);
	assert_int_equal(parse("{\"event\":\"invite\",\"call_id\":\"c\",\"tindex\":1,\"tlabel\":2,"
			       "\"priority\":\"7x\"}",
			       &ev, &doc),
			 -KAM_EFIELD);
	kam_event_free(doc);
	assert_int_equal(parse("{\"event\":\"retry\",\"call_id\":\"c\",\"tindex\":1,\"tlabel\":2,"
			       "\"code\":700}",
			       &ev, &doc),
			 -KAM_EFIELD);
	kam_event_free(doc);
	assert_int_equal(parse("{\"event\":\"invite\",\"call_id\":\"c\",\"tindex\":1,\"tlabel\":2,"
			       "\"skills\":[\"a\",3]}",
			       &ev, &doc),
			 -KAM_EFIELD);
	kam_event_free(doc);
	/* A NUL inside a string would cut the id short: refused. */
	assert_int_equal(parse("{\"event\":\"ended\",\"call_id\":\"a\\u0000b\"}", &ev, &doc),
			 -KAM_EJSON);
	kam_event_free(doc);

	/* Ids longer than the router takes. */
	char js[512], id[KAM_ID_MAX + 2];
	memset(id, 'x', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	snprintf(js, sizeof js, "{\"event\":\"ended\",\"call_id\":\"%s\"}", id);
	assert_int_equal(parse(js, &ev, &doc), -KAM_EFIELD);
	kam_event_free(doc);
	id[KAM_ID_MAX] = '\0';
	snprintf(js, sizeof js, "{\"event\":\"ended\",\"call_id\":\"%s\"}", id);
	assert_int_equal(parse(js, &ev, &doc), 0);
	kam_event_free(doc);

	/* More skills than the router's mask holds. */
	char many[1024];
	size_t n = (size_t)snprintf(many, sizeof many,
				    "{\"event\":\"invite\",\"call_id\":\"c\",\"tindex\":1,"
				    "\"tlabel\":2,\"skills\":\"");
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(many + n, sizeof many - n, "s%d,", i);
	snprintf(many + n, sizeof many - n, "\"}");
	assert_int_equal(parse(many, &ev, &doc), -KAM_EFIELD);
	kam_event_free(doc);
}

/* ================================================================ replies */

static void test_reply_route(void **state)
{
	(void)state;
	char out[512];
	struct kam_reply r = {
		.action = KAM_ACT_ROUTE,
		.call_id = "c1",
		.tindex = 12,
		.tlabel = 34,
		.uri = "sip:sales@10.0.0.1:5070",
		.target_id = "p-south",
		.territory = "south",
		.reservation_id = 9,
		.ring_ms = 18000,
	};
	int n = kam_reply_encode(&r, out, sizeof out);
	assert_true(n > 0);
	assert_string_equal(out, "{\"action\":\"route\",\"call_id\":\"c1\",\"tindex\":12,"
				 "\"tlabel\":34,\"uri\":\"sip:sales@10.0.0.1:5070\","
				 "\"target_id\":\"p-south\",\"reservation_id\":9,"
				 "\"territory\":\"south\",\"ring_ms\":18000}");
	assert_int_equal((size_t)n, strlen(out));

	/* Every prefix of the buffer that is too small fails cleanly. */
	for (size_t cap = 1; cap <= (size_t)n; cap++)
		assert_int_equal(kam_reply_encode(&r, out, cap), -KAM_ESPACE);
	assert_int_equal(kam_reply_encode(&r, out, (size_t)n + 1), n);

	r.uri = NULL;
	assert_int_equal(kam_reply_encode(&r, out, sizeof out), -KAM_EINVAL);
}

static void test_reply_escaping(void **state)
{
	(void)state;
	char out[512];
	struct kam_reply r = {
		.action = KAM_ACT_REJECT,
		.call_id = "a\"b\\c\n\x01",
		.tindex = 1,
		.tlabel = 2,
		.code = 480,
		.reason = "Temporarily Unavailable",
		.text = "tab\there",
	};
	int n = kam_reply_encode(&r, out, sizeof out);
	assert_true(n > 0);
	assert_string_equal(out, "{\"action\":\"reject\",\"call_id\":\"a\\\"b\\\\c\\n\\u0001\","
				 "\"tindex\":1,\"tlabel\":2,\"code\":480,"
				 "\"reason\":\"Temporarily Unavailable\",\"text\":\"tab\\there\"}");
	/* What jansson reads back is what went in. */
	json_error_t jerr;
	json_t *o = json_loadb(out, (size_t)n, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "call_id")), r.call_id);
	assert_int_equal(json_integer_value(json_object_get(o, "code")), 480);
	json_decref(o);

	r.code = 200;
	assert_int_equal(kam_reply_encode(&r, out, sizeof out), -KAM_EINVAL);
	r.code = 700;
	assert_int_equal(kam_reply_encode(&r, out, sizeof out), -KAM_EINVAL);

	struct kam_reply q = {.action = KAM_ACT_QUEUED, .call_id = "c", .position = 3, .ewt_ms = 0};
	assert_true(kam_reply_encode(&q, out, sizeof out) > 0);
	assert_string_equal(out, "{\"action\":\"queued\",\"call_id\":\"c\",\"position\":3,"
				 "\"ewt_ms\":0}");
	q.action = (enum kam_action)99;
	assert_int_equal(kam_reply_encode(&q, out, sizeof out), -KAM_EINVAL);
}

static void test_sip_mapping(void **state)
{
	(void)state;
	int code;
	const char *reason;

	kam_reject_sip(RT_REJECT_NO_ROUTE, &code, &reason);
	assert_int_equal(code, 404);
	kam_reject_sip(RT_REJECT_QUEUE_FULL, &code, &reason);
	assert_int_equal(code, 486);
	kam_reject_sip(RT_REJECT_SHUTDOWN, &code, &reason);
	assert_int_equal(code, 503);
	kam_reject_sip(RT_REJECT_CALLBACK, &code, &reason);
	assert_int_equal(code, 480);
	assert_string_equal(reason, "Callback Offered");
	kam_offer_error_sip(-RT_EINVAL, &code, &reason);
	assert_int_equal(code, 400);
	kam_offer_error_sip(-RT_EEXIST, &code, &reason);
	assert_int_equal(code, 482);
	kam_offer_error_sip(-RT_ELIMIT, &code, &reason);
	assert_int_equal(code, 503);

	/* The proxy gives up a little before the router does. */
	assert_int_equal(kam_ring_ms(20000), 18000);
	assert_int_equal(kam_ring_ms(5000), 4500);
	assert_int_equal(kam_ring_ms(1000), 800);
	assert_int_equal(kam_ring_ms(300), 100);
	assert_int_equal(kam_ring_ms(200), 100);
	assert_int_equal(kam_ring_ms(1), 1);
	assert_true(kam_ring_ms(3600000) == 3598000);
}

/* ==================================================== engine + stand-in */

/* The stand-in for Kamailio's evapi server. */
struct fx {
	struct event_base *base;
	struct cl_engine *eng;
	int lfd;             /* listening socket */
	int cfd;             /* the engine's connection, -1 = none */
	uint16_t port;
	uint32_t ring_ms;    /* router.ring_timeout_ms of this fixture */
	char in[65536];      /* bytes read from the engine */
	size_t in_len;
};

/* %u: router.ring_timeout_ms. */
static const char *const fx_yaml =
	"engine:\n"
	"  listen: \"127.0.0.1:0\"\n"
	"  log_level: error\n"
	"router:\n"
	"  ring_timeout_ms: %u\n"
	"  miss_pause_ms: 200\n"
	"  max_misses: 100\n"
	"auth:\n"
	"  pbx: t-pbx\n"
	"redis:\n"
	"  enabled: false\n"
	"skills: [printers, scanners]\n"
	"territories:\n"
	"  - {name: de, phone: [\"+49\"]}\n"
	"  - {name: north, parent: de, postal: [\"1\"], phone: [\"+493\"]}\n"
	"  - {name: south, parent: de, postal: [\"8\"], phone: [\"+498\"]}\n"
	"  - {name: nowhere, postal: [\"99\"]}\n"
	"default_territory: de\n"
	"reps:\n"
	"  - {id: r-nosip, territories: [south], skills: [scanners], auto_ready: true}\n"
	"partners:\n"
	"  - {id: p-n1, territories: [north], skills: [printers], seats: 1,\n"
	"     sip: \"sip:n1@127.0.0.1:5071\", token: t-n1}\n"
	"  - {id: p-n2, territories: [north], skills: [printers], seats: 1,\n"
	"     sip: \"sip:n2@127.0.0.1:5072\", token: t-n2}\n"
	"  - {id: p-s1, territories: [south], skills: [printers], seats: 1,\n"
	"     sip: \"sip:s1@127.0.0.1:5073\", token: t-s1}\n"
	"plans:\n"
	"  - name: scanners\n"
	"    match: {skills: [scanners]}\n"
	"    steps:\n"
	"      - {targets: reps, territory: caller, skills: all, strategy: top-down}\n"
	"  - name: partners\n"
	"    match: {territory: [de]}\n"
	"    steps:\n"
	"      - {targets: partners, territory: caller, skills: none, strategy: top-down}\n"
	"kamailio:\n"
	"  evapi: \"127.0.0.1:1\"\n"
	"  reconnect_min_ms: 20\n"
	"  reconnect_max_ms: 80\n"
	"  max_message: 2048\n";

static void pump(struct fx *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap(void)
{
	poll(NULL, 0, 1);
}

/* Accept the engine's (next) connection. */
static void fx_accept(struct fx *f)
{
	uint64_t end = now_ms() + T_WAIT_MS;
	while (now_ms() < end) {
		pump(f);
		int fd = accept(f->lfd, NULL, NULL);
		if (fd >= 0) {
			f->cfd = fd;
			f->in_len = 0;
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			/* Let the engine see its connection complete. */
			struct kam_stats st;
			for (uint64_t e2 = now_ms() + T_WAIT_MS; now_ms() < e2;) {
				pump(f);
				kam_stats(cl_engine_kam(f->eng), &st);
				if (st.connected)
					return;
				nap();
			}
			fail_msg("the engine did not see its connection complete");
		}
		nap();
	}
	fail_msg("the engine did not connect");
}

static int fx_setup_ring(void **state, uint32_t ring_ms)
{
	struct fx *f = calloc(1, sizeof *f);
	struct cl_config *cfg = NULL;
	char err[512], addr[64], yaml[4096];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;

	assert_non_null(f);
	f->cfd = -1;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	int one = 1; /* the port is bound again in test_peer_close_and_backoff */
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	fcntl(f->lfd, F_SETFL, fcntl(f->lfd, F_GETFL) | O_NONBLOCK);
	snprintf(addr, sizeof addr, "127.0.0.1:%u", f->port);

	f->ring_ms = ring_ms;
	snprintf(yaml, sizeof yaml, fx_yaml, ring_ms);
	if (cl_config_load_string(yaml, "kam.yaml", &cfg, err, sizeof err) < 0)
		fail_msg("%s", err);
	f->base = event_base_new();
	assert_non_null(f->base);
	struct cl_engine_opts opts = {.no_signals = true, .kamailio = addr};
	f->eng = cl_engine_new(f->base, cfg, &opts);
	assert_non_null(f->eng);
	assert_non_null(cl_engine_kam(f->eng));
	assert_string_equal(kam_addr(cl_engine_kam(f->eng)), addr);
	assert_int_equal(cl_engine_start(f->eng), 0);
	fx_accept(f);
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_ring(state, 5000);
}

/* A router that gives up on a ringing target after 200 ms. */
static int fx_setup_fast(void **state)
{
	return fx_setup_ring(state, 200);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	cl_engine_free(f->eng);
	event_base_free(f->base);
	if (f->cfd >= 0)
		close(f->cfd);
	close(f->lfd);
	free(f);
	return 0;
}

static void fx_send_raw(struct fx *f, const char *bytes, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(f->cfd, bytes + off, n - off);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			pump(f);
			continue;
		}
		assert_true(w > 0);
		off += (size_t)w;
	}
}

/* One write per frame, as Kamailio does (and no Nagle delay in between). */
static void fx_send(struct fx *f, const char *json)
{
	char frame[1024];
	int n = snprintf(frame, sizeof frame, "%zu:%s,", strlen(json), json);
	assert_true(n > 0 && (size_t)n < sizeof frame);
	fx_send_raw(f, frame, (size_t)n);
}

/* The next reply from the engine, parsed; NULL when none came within ms. */
static json_t *fx_recv_within(struct fx *f, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	for (;;) {
		size_t skip, hdr, plen;
		int rc = kam_ns_parse(f->in, f->in_len, sizeof f->in, &skip, &hdr, &plen);
		assert_true(rc >= 0);
		if (rc == 1) {
			json_error_t jerr;
			json_t *o = json_loadb(f->in + skip + hdr, plen, 0, &jerr);
			assert_non_null(o);
			size_t used = skip + hdr + plen + 1;
			memmove(f->in, f->in + used, f->in_len - used);
			f->in_len -= used;
			return o;
		}
		if (now_ms() >= end)
			return NULL;
		pump(f);
		ssize_t r = read(f->cfd, f->in + f->in_len, sizeof f->in - f->in_len);
		if (r > 0)
			f->in_len += (size_t)r;
		else
			nap();
	}
}

static json_t *fx_recv(struct fx *f)
{
	json_t *o = fx_recv_within(f, T_WAIT_MS);
	if (!o)
		fail_msg("no reply from the engine");
	return o;
}

static const char *js_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v && json_is_string(v) ? json_string_value(v) : "";
}

static json_int_t js_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v && json_is_integer(v) ? json_integer_value(v) : -1;
}

static void invite(struct fx *f, const char *id, const char *from, const char *extra, int ti,
		   int tl)
{
	char js[512];
	snprintf(js, sizeof js,
		 "{\"event\":\"invite\",\"call_id\":\"%s\",\"from\":\"%s\",\"to\":\"800\","
		 "\"tindex\":%d,\"tlabel\":%d%s}",
		 id, from, ti, tl, extra ? extra : "");
	fx_send(f, js);
}

static void event(struct fx *f, const char *ev, const char *id, const char *extra)
{
	char js[512];
	snprintf(js, sizeof js, "{\"event\":\"%s\",\"call_id\":\"%s\"%s}", ev, id,
		 extra ? extra : "");
	fx_send(f, js);
}

static void expect_route(struct fx *f, const char *id, int ti, int tl, const char *target,
			 const char *uri)
{
	json_t *o = fx_recv(f);
	assert_string_equal(js_str(o, "action"), "route");
	assert_string_equal(js_str(o, "call_id"), id);
	assert_int_equal(js_int(o, "tindex"), ti);
	assert_int_equal(js_int(o, "tlabel"), tl);
	assert_string_equal(js_str(o, "target_id"), target);
	assert_string_equal(js_str(o, "uri"), uri);
	/* The proxy gives up a little before the router (5000 -> 4500 ms). */
	assert_int_equal(js_int(o, "ring_ms"), kam_ring_ms(f->ring_ms));
	assert_true(js_int(o, "reservation_id") > 0);
	json_decref(o);
}

static void expect_reject(struct fx *f, const char *id, int ti, int tl, int code)
{
	json_t *o = fx_recv(f);
	assert_string_equal(js_str(o, "action"), "reject");
	assert_string_equal(js_str(o, "call_id"), id);
	assert_int_equal(js_int(o, "tindex"), ti);
	assert_int_equal(js_int(o, "tlabel"), tl);
	assert_int_equal(js_int(o, "code"), code);
	assert_true(*js_str(o, "reason"));
	json_decref(o);
}

static void expect_queued(struct fx *f, const char *id, int position)
{
	json_t *o = fx_recv(f);
	assert_string_equal(js_str(o, "action"), "queued");
	assert_string_equal(js_str(o, "call_id"), id);
	assert_int_equal(js_int(o, "position"), position);
	assert_null(json_object_get(o, "tindex"));
	json_decref(o);
}

static void expect_silence(struct fx *f)
{
	json_t *o = fx_recv_within(f, 50);
	if (o) {
		char *s = json_dumps(o, 0);
		fail_msg("unexpected reply %s", s ? s : "?");
	}
}

static struct rt_stats rstats(struct fx *f)
{
	struct rt_stats st;
	rt_stats(cl_engine_rt(f->eng), &st);
	return st;
}

static struct kam_stats kstats(struct fx *f)
{
	struct kam_stats st;
	kam_stats(cl_engine_kam(f->eng), &st);
	return st;
}

/* Wait until the router has seen what the test just sent. */
static void settle(struct fx *f)
{
	for (int i = 0; i < 30; i++) {
		pump(f);
		nap();
	}
}

/* Keep the loop turning for ms. */
static void linger(struct fx *f, uint64_t ms)
{
	for (uint64_t end = now_ms() + ms; now_ms() < end;) {
		pump(f);
		nap();
	}
}

static void test_route_answer_end(void **state)
{
	struct fx *f = *state;

	/* North caller by phone, south caller by postal code (beats the phone). */
	invite(f, "c1", "+493011", NULL, 10, 11);
	expect_route(f, "c1", 10, 11, "p-n1", "sip:n1@127.0.0.1:5071");
	invite(f, "c2", "+493022", ",\"postal_code\":\"80331\"", 20, 21);
	expect_route(f, "c2", 20, 21, "p-s1", "sip:s1@127.0.0.1:5073");

	event(f, "answered", "c1", ",\"target_id\":\"p-n1\"");
	event(f, "answered", "c1", ",\"target_id\":\"p-n1\""); /* a retransmitted 2xx */
	event(f, "answered", "c2", NULL);
	event(f, "ended", "c1", NULL);
	event(f, "ended", "c2", NULL);
	event(f, "ended", "c2", NULL); /* a retransmitted BYE */
	settle(f);
	expect_silence(f);

	struct rt_stats rs = rstats(f);
	assert_int_equal(rs.offered, 2);
	assert_int_equal(rs.completed, 2);
	assert_int_equal(rs.live_calls, 0);
	struct kam_stats ks = kstats(f);
	assert_int_equal(ks.invites, 2);
	assert_int_equal(ks.routes, 2);
	assert_int_equal(ks.answered, 2);
	assert_int_equal(ks.ended, 2);
	assert_int_equal(ks.stale, 1); /* the second BYE; the repeated 2xx is recognised */
	assert_int_equal(ks.pending_calls, 0);

	struct rt_target_info ti;
	rt_target_info(cl_engine_rt(f->eng), rt_target_find(cl_engine_rt(f->eng), "p-n1"), &ti);
	assert_int_equal(ti.answered, 1);
}

static void test_queue_then_route(void **state)
{
	struct fx *f = *state;

	/* Two north seats, three callers: the third waits. */
	invite(f, "q1", "+49301", NULL, 1, 1);
	expect_route(f, "q1", 1, 1, "p-n1", "sip:n1@127.0.0.1:5071");
	invite(f, "q2", "+49302", NULL, 2, 2);
	expect_route(f, "q2", 2, 2, "p-n2", "sip:n2@127.0.0.1:5072");
	invite(f, "q3", "+49303", NULL, 3, 3);
	expect_queued(f, "q3", 1);
	assert_int_equal(rstats(f).waiting_calls, 1);

	/* The first call ends: its seat takes the waiting call, on the
	 * transaction the proxy suspended for it. */
	event(f, "answered", "q1", ",\"target_id\":\"p-n1\"");
	event(f, "ended", "q1", NULL);
	expect_route(f, "q3", 3, 3, "p-n1", "sip:n1@127.0.0.1:5071");
	assert_int_equal(rstats(f).waiting_calls, 0);

	/* A caller who hangs up while ringing is abandoned, not completed. */
	event(f, "cancel", "q2", NULL);
	settle(f);
	struct rt_stats rs = rstats(f);
	assert_int_equal(rs.abandoned, 1);
	assert_int_equal(rs.completed, 1);
	assert_int_equal(rs.queued, 1);
	assert_int_equal(kstats(f).pending_calls, 1); /* q3, ringing */
}

static void test_abandon_and_timeout_while_queued(void **state)
{
	struct fx *f = *state;

	invite(f, "a1", "+49301", NULL, 1, 1);
	expect_route(f, "a1", 1, 1, "p-n1", "sip:n1@127.0.0.1:5071");
	invite(f, "a2", "+49302", NULL, 2, 2);
	expect_route(f, "a2", 2, 2, "p-n2", "sip:n2@127.0.0.1:5072");
	invite(f, "a3", "+49303", NULL, 3, 3);
	expect_queued(f, "a3", 1);
	invite(f, "a4", "+49304", NULL, 4, 4);
	expect_queued(f, "a4", 2);

	event(f, "cancel", "a3", NULL);  /* the caller hung up */
	event(f, "timeout", "a4", NULL); /* the proxy's deadline */
	settle(f);
	struct rt_stats rs = rstats(f);
	assert_int_equal(rs.abandoned, 2);
	assert_int_equal(rs.waiting_calls, 0);
	struct kam_stats ks = kstats(f);
	assert_int_equal(ks.abandoned, 1);
	assert_int_equal(ks.timeouts, 1);

	/* The seats free up: nothing is routed for the gone callers. */
	event(f, "answered", "a1", NULL);
	event(f, "ended", "a1", NULL);
	event(f, "cancel", "a2", NULL);
	settle(f);
	expect_silence(f);
	assert_int_equal(rstats(f).live_calls, 0);
	assert_int_equal(kstats(f).pending_calls, 0);
}

static void test_retry_reroutes(void **state)
{
	struct fx *f = *state;

	/* top-down: p-n1 first. It is busy; the proxy suspends again and the
	 * call goes to p-n2 on the new transaction. */
	invite(f, "r1", "+49301", NULL, 7, 70);
	expect_route(f, "r1", 7, 70, "p-n1", "sip:n1@127.0.0.1:5071");
	event(f, "retry", "r1", ",\"target_id\":\"p-n1\",\"code\":486,\"tindex\":8,\"tlabel\":80");
	expect_route(f, "r1", 8, 80, "p-n2", "sip:n2@127.0.0.1:5072");
	assert_int_equal(rstats(f).no_answers, 1);

	/* p-n2 fails too, 100 ms later: both rest, and p-n1, whose 200 ms
	 * rest ends first, takes the call. */
	linger(f, 100);
	event(f, "retry", "r1", ",\"target_id\":\"p-n2\",\"code\":408,\"tindex\":9,\"tlabel\":90");
	expect_queued(f, "r1", 1);
	expect_route(f, "r1", 9, 90, "p-n1", "sip:n1@127.0.0.1:5071");
	event(f, "answered", "r1", ",\"target_id\":\"p-n1\"");
	event(f, "ended", "r1", NULL);
	settle(f);
	struct rt_stats rs = rstats(f);
	assert_int_equal(rs.no_answers, 2);
	assert_int_equal(rs.completed, 1);
	assert_int_equal(kstats(f).retries, 2);

	/* A retry for a call the engine does not hold: rejected at once so
	 * the proxy need not wait for its deadline. */
	event(f, "retry", "nope", ",\"target_id\":\"p-n1\",\"tindex\":3,\"tlabel\":4");
	expect_reject(f, "nope", 3, 4, 480);
	assert_int_equal(kstats(f).stale, 1);
}

static void test_late_retry_gets_kept_route(void **state)
{
	struct fx *f = *state;

	invite(f, "l1", "+49301", NULL, 1, 10);
	expect_route(f, "l1", 1, 10, "p-n1", "sip:n1@127.0.0.1:5071");
	/* The router's ring timeout (200 ms) passes before the proxy reports:
	 * p-n1 gets its miss and the call is reserved for p-n2, which the
	 * proxy cannot be told yet (it is ringing p-n1, nothing is suspended). */
	linger(f, 300);
	expect_silence(f);
	assert_int_equal(rstats(f).no_answers, 1);
	/* The proxy's retry arrives: it gets the kept decision at once, and
	 * p-n1 is not counted twice. */
	event(f, "retry", "l1", ",\"target_id\":\"p-n1\",\"code\":408,\"tindex\":2,\"tlabel\":20");
	expect_route(f, "l1", 2, 20, "p-n2", "sip:n2@127.0.0.1:5072");
	event(f, "answered", "l1", ",\"target_id\":\"p-n2\"");
	event(f, "ended", "l1", NULL);
	settle(f);
	struct rt_stats rs = rstats(f);
	assert_int_equal(rs.no_answers, 1);
	assert_int_equal(rs.completed, 1);
	assert_int_equal(kstats(f).pending_calls, 0);
}

static void test_silent_proxy_call_abandoned(void **state)
{
	struct fx *f = *state;

	invite(f, "z1", "+49301", NULL, 1, 10);
	expect_route(f, "z1", 1, 10, "p-n1", "sip:n1@127.0.0.1:5071");
	/* Two ring timeouts without a word from the proxy: the call is ended
	 * in the router instead of taking every target's seat in turn. */
	linger(f, 700);
	expect_silence(f);
	struct rt_stats rs = rstats(f);
	assert_int_equal(rs.abandoned, 1);
	assert_int_equal(rs.live_calls, 0);
	assert_int_equal(rs.no_answers, 2);
	assert_int_equal(kstats(f).pending_calls, 0);
	/* The proxy, if it ever asks again, is told no. */
	event(f, "retry", "z1", ",\"target_id\":\"p-n1\",\"tindex\":3,\"tlabel\":30");
	expect_reject(f, "z1", 3, 30, 480);
}

static void test_rejects(void **state)
{
	struct fx *f = *state;

	/* No plan for a caller outside de. */
	invite(f, "x1", "+1555", ",\"postal_code\":\"99123\"", 1, 2);
	expect_reject(f, "x1", 1, 2, 404);
	/* Unknown skill: the router refuses the call. */
	invite(f, "x2", "+49301", ",\"skills\":\"printers,telepathy\"", 3, 4);
	expect_reject(f, "x2", 3, 4, 400);
	/* A second INVITE with a pending Call-ID. */
	invite(f, "x3", "+49301", NULL, 5, 6);
	expect_route(f, "x3", 5, 6, "p-n1", "sip:n1@127.0.0.1:5071");
	invite(f, "x3", "+49301", NULL, 7, 8);
	expect_reject(f, "x3", 7, 8, 482);
	/* A target without a SIP URI cannot be reached through the proxy: the
	 * caller gets 480 and the router does not keep the call. */
	invite(f, "x4", "+498912", ",\"skills\":[\"scanners\"]", 9, 10);
	expect_reject(f, "x4", 9, 10, 480);
	settle(f);
	struct rt_call *c = rt_call_find(cl_engine_rt(f->eng), "x4");
	assert_null(c);
	/* A bad event naming a transaction is answered 400; one without is
	 * only counted. */
	fx_send(f, "{\"event\":\"invite\",\"call_id\":\"x5\",\"tindex\":11,\"tlabel\":12,"
		   "\"priority\":\"high\"}");
	expect_reject(f, "x5", 11, 12, 400);
	fx_send(f, "{\"event\":\"ended\"}");
	fx_send(f, "[\"not an object\"]");
	settle(f);
	expect_silence(f);
	struct kam_stats ks = kstats(f);
	assert_int_equal(ks.bad_events, 3);
	assert_true(ks.connected);
	assert_int_equal(ks.connects, 1);
}

static void test_split_and_batched_frames(void **state)
{
	struct fx *f = *state;

	/* One frame written a byte at a time, with whitespace before it. */
	const char *js = "{\"event\":\"invite\",\"call_id\":\"s1\",\"from\":\"+49301\","
			 "\"tindex\":1,\"tlabel\":2}";
	char frame[256];
	int n = snprintf(frame, sizeof frame, "\r\n%zu:%s,", strlen(js), js);
	for (int i = 0; i < n; i++) {
		fx_send_raw(f, frame + i, 1);
		pump(f);
	}
	expect_route(f, "s1", 1, 2, "p-n1", "sip:n1@127.0.0.1:5071");

	/* Many frames in one write: more than one read batch. */
	char *buf = malloc(64 * 1024);
	size_t len = 0;
	for (int i = 0; i < (int)KAM_BATCH + 50; i++) {
		char e[128];
		int m = snprintf(e, sizeof e, "{\"event\":\"cancel\",\"call_id\":\"none-%d\"}", i);
		len += (size_t)snprintf(buf + len, 64 * 1024 - len, "%d:%s,", m, e);
	}
	fx_send_raw(f, buf, len);
	free(buf);
	event(f, "cancel", "s1", NULL);
	settle(f);
	for (int i = 0; i < 50 && rstats(f).abandoned == 0; i++)
		settle(f);
	struct kam_stats ks = kstats(f);
	assert_int_equal(ks.stale, KAM_BATCH + 50);
	assert_int_equal(rstats(f).abandoned, 1);
}

static void test_bad_frame_cuts_and_reconnects(void **state)
{
	struct fx *f = *state;

	invite(f, "b1", "+49301", NULL, 1, 2);
	expect_route(f, "b1", 1, 2, "p-n1", "sip:n1@127.0.0.1:5071");
	invite(f, "b2", "+49302", NULL, 3, 4);
	expect_route(f, "b2", 3, 4, "p-n2", "sip:n2@127.0.0.1:5072");
	event(f, "answered", "b2", NULL);

	/* Above kamailio.max_message (2048): the stream cannot be trusted. */
	fx_send_raw(f, "4096:", 5);
	uint64_t end = now_ms() + T_WAIT_MS;
	char c;
	while (read(f->cfd, &c, 1) != 0 && now_ms() < end) {
		pump(f);
		nap();
	}
	close(f->cfd);
	f->cfd = -1;
	struct kam_stats ks = kstats(f);
	assert_int_equal(ks.bad_frames, 1);
	assert_int_equal(ks.disconnects, 1);
	/* Its calls ended with it: ringing ones lost, connected ones too. */
	struct rt_stats rs = rstats(f);
	assert_int_equal(rs.owner_lost, 2);
	assert_int_equal(rs.live_calls, 0);

	/* It comes back on its own, and routes again. */
	fx_accept(f);
	ks = kstats(f);
	assert_int_equal(ks.connects, 2);
	invite(f, "b3", "+49301", NULL, 5, 6);
	expect_route(f, "b3", 5, 6, "p-n1", "sip:n1@127.0.0.1:5071");
}

static void test_peer_close_and_backoff(void **state)
{
	struct fx *f = *state;

	invite(f, "p1", "+49301", NULL, 1, 2);
	expect_route(f, "p1", 1, 2, "p-n1", "sip:n1@127.0.0.1:5071");
	close(f->cfd);
	f->cfd = -1;
	/* Nobody listens for a while: attempts fail and are retried. */
	close(f->lfd);
	uint64_t end = now_ms() + 400;
	while (now_ms() < end) {
		pump(f);
		nap();
	}
	struct kam_stats ks = kstats(f);
	assert_false(ks.connected);
	assert_int_equal(ks.disconnects, 1);
	/* 20 ms doubling to 80 ms, with jitter: between 4 and 30 attempts. */
	assert_true(ks.connect_fails >= 4);
	assert_true(ks.connect_fails <= 30);
	assert_int_equal(rstats(f).owner_lost, 1);

	/* A router decision with no connection is dropped, not queued. */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	fcntl(f->lfd, F_SETFL, fcntl(f->lfd, F_GETFL) | O_NONBLOCK);
	fx_accept(f);
	invite(f, "p2", "+49301", NULL, 3, 4);
	expect_route(f, "p2", 3, 4, "p-n1", "sip:n1@127.0.0.1:5071");
}

static void test_shutdown_rejects_waiting(void **state)
{
	struct fx *f = *state;

	invite(f, "w1", "+49301", NULL, 1, 1);
	expect_route(f, "w1", 1, 1, "p-n1", "sip:n1@127.0.0.1:5071");
	invite(f, "w2", "+49302", NULL, 2, 2);
	expect_route(f, "w2", 2, 2, "p-n2", "sip:n2@127.0.0.1:5072");
	invite(f, "w3", "+49303", NULL, 3, 3);
	expect_queued(f, "w3", 1);
	cl_engine_stop(f->eng);
	/* The waiting caller gets 503 before the link closes. */
	expect_reject(f, "w3", 3, 3, 503);
	assert_false(kstats(f).connected);
}

static void test_bad_address(void **state)
{
	(void)state;
	struct cl_config *cfg = NULL;
	char err[512];
	struct event_base *base = event_base_new();

	char yaml[4096];
	snprintf(yaml, sizeof yaml, fx_yaml, 5000u);
	if (cl_config_load_string(yaml, "kam.yaml", &cfg, err, sizeof err) < 0)
		fail_msg("%s", err);
	struct cl_engine_opts opts = {.no_signals = true, .kamailio = "kamailio.example:8448"};
	assert_null(cl_engine_new(base, cfg, &opts)); /* no name lookups on the loop */
	event_base_free(base);
}

static void test_config_section(void **state)
{
	(void)state;
	struct cl_config *cfg = NULL;
	char err[512], yaml[4096];

	/* Defaults when the section is absent: off. */
	const char *base_yaml = "auth: {pbx: t}\nskills: [a]\nterritories: [{name: x, phone: "
				"[\"+1\"]}]\nplans: [{name: p, steps: [{targets: any}]}]\n";
	assert_int_equal(cl_config_load_string(base_yaml, "k.yaml", &cfg, err, sizeof err), 0);
	assert_null(cfg->kamailio.evapi);
	assert_int_equal(cfg->kamailio.reconnect_min_ms, 200);
	assert_int_equal(cfg->kamailio.reconnect_max_ms, 5000);
	assert_int_equal(cfg->kamailio.max_message, 65536);
	assert_true(cfg->kamailio.notify_queued);
	cl_config_free(cfg);

	snprintf(yaml, sizeof yaml,
		 "%skamailio: {evapi: \"127.0.0.1:8448\", reconnect_min_ms: 50, "
		 "reconnect_max_ms: 50, notify_queued: false}\n",
		 base_yaml);
	assert_int_equal(cl_config_load_string(yaml, "k.yaml", &cfg, err, sizeof err), 0);
	assert_string_equal(cfg->kamailio.evapi, "127.0.0.1:8448");
	assert_false(cfg->kamailio.notify_queued);
	cl_config_free(cfg);

	static const char *const bad[] = {
		"kamailio: {evapi: \"127.0.0.1\"}\n",
		"kamailio: {reconnect_min_ms: 100, reconnect_max_ms: 10}\n",
		"kamailio: {max_message: 10}\n",
		"kamailio: {evapi_addr: \"127.0.0.1:1\"}\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(yaml, sizeof yaml, "%s%s", base_yaml, bad[i]);
		cfg = NULL;
		assert_int_equal(cl_config_load_string(yaml, "k.yaml", &cfg, err, sizeof err), -1);
		assert_null(cfg);
		assert_non_null(strstr(err, "kamailio"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ns_whole_and_partial),
		cmocka_unit_test(test_ns_whitespace),
		cmocka_unit_test(test_ns_errors),
		cmocka_unit_test(test_ns_header),
		cmocka_unit_test(test_event_invite),
		cmocka_unit_test(test_event_others),
		cmocka_unit_test(test_event_errors),
		cmocka_unit_test(test_reply_route),
		cmocka_unit_test(test_reply_escaping),
		cmocka_unit_test(test_sip_mapping),
		cmocka_unit_test(test_config_section),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test_setup_teardown(test_route_answer_end, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queue_then_route, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_abandon_and_timeout_while_queued, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_retry_reroutes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_late_retry_gets_kept_route, fx_setup_fast,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_silent_proxy_call_abandoned, fx_setup_fast,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_rejects, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_split_and_batched_frames, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_frame_cuts_and_reconnects, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_peer_close_and_backoff, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_rejects_waiting, fx_setup,
						fx_teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	if (getenv("KAM_TEST_FILTER")) /* e.g. KAM_TEST_FILTER='test_retry*' */
		cmocka_set_test_filter(getenv("KAM_TEST_FILTER"));
	cl_log_set_level(getenv("KAM_TEST_DEBUG") ? CL_LOG_LEVEL_DEBUG : CL_LOG_LEVEL_ERROR); /* the tests provoke warnings on purpose */
	return cmocka_run_group_tests_name("kam", tests, NULL, NULL);
}
