/*
 * test_wire.c — framing on evbuffers: round trip, partial frames, limits,
 * undecodable frames, several frames in one buffer; the server's path
 * (arena decoding, fast packing) against protobuf-c's generic calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

static void put_hdr(unsigned char *p, uint32_t len)
{
	p[0] = (unsigned char)(len >> 24);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
}

/* Frame a CallOffered with a few fields of every kind into out. */
static void write_offer(struct evbuffer *out, const char *id, uint64_t seq)
{
	char *skills[] = {"printers", "lang-de"};
	Closeloop__V1__Attribute a = CLOSELOOP__V1__ATTRIBUTE__INIT;
	Closeloop__V1__Attribute *attrs[] = {&a};
	Closeloop__V1__CallOffered co = CLOSELOOP__V1__CALL_OFFERED__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;

	a.key = "campaign";
	a.value = "spring";
	co.call_id = (char *)id;
	co.caller = "+4989123456";
	co.dialed = "+4980055501";
	co.postal_code = "80331";
	co.segment = "soho";
	co.skills = skills;
	co.n_skills = 2;
	co.priority = 7;
	co.attributes = attrs;
	co.n_attributes = 1;
	env.seq = seq;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_CALL_OFFERED;
	env.call_offered = &co;
	assert_int_equal(wire_write(out, &env), 0);
	assert_int_equal(env.version, WIRE_VERSION); /* 0 is written as 1 */
}

static void test_round_trip(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	wire_env *env = NULL;
	uint32_t flen = 0;

	write_offer(b, "c-1", 42);
	size_t total = evbuffer_get_length(b);
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, &flen), 1);
	assert_non_null(env);
	assert_int_equal(flen + WIRE_HDR, total);
	assert_int_equal(wire_frame_size(env), total);
	assert_int_equal(evbuffer_get_length(b), 0);
	assert_int_equal(env->version, 1);
	assert_int_equal(env->seq, 42);
	assert_int_equal(env->msg_case, CLOSELOOP__V1__ENVELOPE__MSG_CALL_OFFERED);
	assert_string_equal(wire_msg_name(env), "call_offered");
	const Closeloop__V1__CallOffered *co = env->call_offered;
	assert_string_equal(co->call_id, "c-1");
	assert_string_equal(co->caller, "+4989123456");
	assert_string_equal(co->postal_code, "80331");
	assert_string_equal(co->segment, "soho");
	assert_int_equal(co->n_skills, 2);
	assert_string_equal(co->skills[1], "lang-de");
	assert_int_equal(co->priority, 7);
	assert_int_equal(co->n_attributes, 1);
	assert_string_equal(co->attributes[0]->value, "spring");
	assert_string_equal(co->language, ""); /* unset strings read as "" */
	wire_env_free(env);
	wire_env_free(NULL);
	evbuffer_free(b);
}

/* Bytes arrive one at a time: nothing is consumed until the frame is whole. */
static void test_partial_byte_by_byte(void **state)
{
	(void)state;
	struct evbuffer *src = evbuffer_new(), *b = evbuffer_new();
	unsigned char bytes[512];
	wire_env *env = NULL;

	write_offer(src, "c-partial", 9);
	size_t n = evbuffer_get_length(src);
	assert_true(n < sizeof bytes);
	evbuffer_remove(src, bytes, n);
	for (size_t i = 0; i + 1 < n; i++) {
		evbuffer_add(b, &bytes[i], 1);
		assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, NULL), 0);
		assert_null(env);
		assert_int_equal(evbuffer_get_length(b), i + 1);
	}
	evbuffer_add(b, &bytes[n - 1], 1);
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, NULL), 1);
	assert_string_equal(env->call_offered->call_id, "c-partial");
	assert_int_equal(evbuffer_get_length(b), 0);
	wire_env_free(env);
	evbuffer_free(src);
	evbuffer_free(b);
}

/* Over the limit and zero: refused from the header alone, buffer untouched. */
static void test_oversized_and_zero(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	unsigned char hdr[WIRE_HDR];
	wire_env *env = NULL;
	uint32_t flen = 0;

	put_hdr(hdr, 1025);
	evbuffer_add(b, hdr, sizeof hdr); /* no body at all: never waited for */
	assert_int_equal(wire_read(b, 1024, &env, &flen), -WIRE_ETOOBIG);
	assert_int_equal(flen, 1025);
	assert_int_equal(evbuffer_get_length(b), WIRE_HDR);
	assert_null(env);
	/* A hostile 4 GiB length costs nothing either. */
	evbuffer_drain(b, WIRE_HDR);
	put_hdr(hdr, UINT32_MAX);
	evbuffer_add(b, hdr, sizeof hdr);
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, &flen), -WIRE_ETOOBIG);
	assert_int_equal(flen, UINT32_MAX);
	assert_int_equal(evbuffer_get_length(b), WIRE_HDR);

	evbuffer_drain(b, WIRE_HDR);
	put_hdr(hdr, 0);
	evbuffer_add(b, hdr, sizeof hdr);
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, &flen), -WIRE_ETOOBIG);
	assert_int_equal(flen, 0);
	assert_int_equal(evbuffer_get_length(b), WIRE_HDR);
	evbuffer_free(b);
}

/* A frame of exactly max_frame bytes passes; one byte more does not. */
static void test_limit_boundary(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	Closeloop__V1__Hello h = CLOSELOOP__V1__HELLO__INIT;
	wire_env out = CLOSELOOP__V1__ENVELOPE__INIT, *env = NULL;
	char token[200];

	memset(token, 'x', sizeof token - 1);
	token[sizeof token - 1] = '\0';
	h.token = token;
	out.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_HELLO;
	out.hello = &h;
	assert_int_equal(wire_write(b, &out), 0);
	uint32_t len = (uint32_t)(evbuffer_get_length(b) - WIRE_HDR);
	assert_int_equal(wire_read(b, len - 1, &env, NULL), -WIRE_ETOOBIG);
	assert_int_equal(evbuffer_get_length(b), len + WIRE_HDR);
	assert_int_equal(wire_read(b, len, &env, NULL), 1);
	assert_string_equal(env->hello->token, token);
	wire_env_free(env);
	evbuffer_free(b);
}

/* Undecodable bytes: EDECODE, the frame is drained, the next one reads. */
static void test_garbage_drained(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	unsigned char junk[WIRE_HDR + 6] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	wire_env *env = NULL;
	uint32_t flen = 0;

	evbuffer_add(b, junk, sizeof junk);
	write_offer(b, "c-after", 3);
	size_t after = evbuffer_get_length(b) - sizeof junk;
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, &flen), -WIRE_EDECODE);
	assert_null(env);
	assert_int_equal(flen, 6);
	assert_int_equal(evbuffer_get_length(b), after);
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, NULL), 1);
	assert_string_equal(env->call_offered->call_id, "c-after");
	wire_env_free(env);
	evbuffer_free(b);
}

/* An unknown oneof member decodes, with msg_case NOT_SET (the server
 * answers UNKNOWN_MESSAGE from that). */
static void test_unknown_member(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	/* field 2 (seq) = 5, then field 99 length-delimited, 1 byte. */
	unsigned char body[] = {0x10, 0x05, 0x9a, 0x06, 0x01, 0x00};
	unsigned char hdr[WIRE_HDR];
	wire_env *env = NULL;

	put_hdr(hdr, sizeof body);
	evbuffer_add(b, hdr, sizeof hdr);
	evbuffer_add(b, body, sizeof body);
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, NULL), 1);
	assert_int_equal(env->seq, 5);
	assert_int_equal(env->msg_case, CLOSELOOP__V1__ENVELOPE__MSG__NOT_SET);
	assert_string_equal(wire_msg_name(env), "none");
	wire_env_free(env);
	evbuffer_free(b);
}

/* Several frames coalesced in one buffer come out one by one, in order. */
static void test_several_frames(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	wire_env *env = NULL;
	char id[16];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "c-%d", i);
		write_offer(b, id, (uint64_t)i + 100);
	}
	/* and half of a sixth */
	struct evbuffer *tail = evbuffer_new();
	write_offer(tail, "c-5", 105);
	size_t half = evbuffer_get_length(tail) / 2;
	evbuffer_remove_buffer(tail, b, half);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, NULL), 1);
		snprintf(id, sizeof id, "c-%d", i);
		assert_string_equal(env->call_offered->call_id, id);
		assert_int_equal(env->seq, (uint64_t)i + 100);
		wire_env_free(env);
		env = NULL;
	}
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, NULL), 0);
	assert_int_equal(evbuffer_get_length(b), half);
	evbuffer_add_buffer(b, tail);
	assert_int_equal(wire_read(b, WIRE_DEFAULT_MAX_FRAME, &env, NULL), 1);
	assert_string_equal(env->call_offered->call_id, "c-5");
	wire_env_free(env);
	evbuffer_free(tail);
	evbuffer_free(b);
}

/* ---- the server's path: wire_write_fast, wire_read_arena ---- */

/* Bytes of buffer b (drained). */
static size_t take(struct evbuffer *b, unsigned char *out, size_t cap)
{
	size_t n = evbuffer_get_length(b);
	assert_true(n <= cap);
	evbuffer_remove(b, out, n);
	return n;
}

/* wire_write and wire_write_fast of env give the same bytes. */
static void same_bytes(wire_env *env)
{
	struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
	static unsigned char x[1 << 16], y[1 << 16];
	uint32_t version = env->version;

	assert_int_equal(wire_write(a, env), 0);
	env->version = version; /* both see the same envelope */
	assert_int_equal(wire_write_fast(b, env), 0);
	size_t nx = take(a, x, sizeof x), ny = take(b, y, sizeof y);
	assert_int_equal(nx, ny);
	assert_memory_equal(x, y, nx);
	evbuffer_free(a);
	evbuffer_free(b);
}

static void test_fast_write_same_bytes(void **state)
{
	(void)state;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	Closeloop__V1__Ack ack = CLOSELOOP__V1__ACK__INIT;
	Closeloop__V1__RouteCall rc = CLOSELOOP__V1__ROUTE_CALL__INIT;
	Closeloop__V1__Error e = CLOSELOOP__V1__ERROR__INIT;
	Closeloop__V1__ContractQuery cq = CLOSELOOP__V1__CONTRACT_QUERY__INIT;
	char text[300];

	/* An empty message, seq 0 and version 0 (written as 1). */
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ACK;
	env.ack = &ack;
	same_bytes(&env);
	/* seq of one byte, of several, and the largest. */
	uint64_t seqs[] = {1, 127, 128, 300, UINT64_C(1) << 40, UINT64_MAX};
	for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
		env.seq = seqs[i];
		same_bytes(&env);
	}
	/* A message with strings, enums and a 64-bit number. */
	rc.call_id = "c-1";
	rc.target_id = "ptr-00001";
	rc.target_kind = CLOSELOOP__V1__TARGET_KIND__TARGET_KIND_PARTNER;
	rc.sip_uri = "sip:p1@trunk.test";
	rc.territory = "land";
	rc.reservation_id = UINT64_C(123456789012);
	rc.step = 2;
	rc.plan = "all";
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ROUTE_CALL;
	env.route_call = &rc;
	env.seq = 77;
	same_bytes(&env);
	/* A member longer than 127 bytes (two-byte length), a version above 1. */
	memset(text, 'x', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	e.code = CLOSELOOP__V1__ERROR_CODE__ERROR_LIMIT;
	e.text = text;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ERROR;
	env.error = &e;
	env.version = 200;
	same_bytes(&env);
	/* A member numbered 16 or more (two-byte key). */
	env.version = 1;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_CONTRACT_QUERY;
	env.contract_query = &cq;
	same_bytes(&env);
	/* No member, and a member whose pointer is NULL: protobuf-c's way. */
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG__NOT_SET;
	same_bytes(&env);
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_ACK;
	env.ack = NULL;
	same_bytes(&env);
}

/* Decode frame (body of n bytes) with both readers; compare what they give
 * by packing each with wire_write. want: the return both must give. */
static void same_decode(const unsigned char *body, size_t n, int want)
{
	struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
	struct wire_arena *ar = malloc(sizeof *ar);
	unsigned char hdr[WIRE_HDR];
	static unsigned char x[1 << 16], y[1 << 16];
	wire_env *ea = NULL, *eb = NULL;
	uint32_t fa = 0, fb = 0;

	assert_non_null(ar);
	wire_arena_init(ar);
	put_hdr(hdr, (uint32_t)n);
	evbuffer_add(a, hdr, sizeof hdr);
	evbuffer_add(a, body, n);
	evbuffer_add(b, hdr, sizeof hdr);
	evbuffer_add(b, body, n);
	assert_int_equal(wire_read(a, WIRE_DEFAULT_MAX_FRAME, &ea, &fa), want);
	assert_int_equal(wire_read_arena(b, WIRE_DEFAULT_MAX_FRAME, ar, &eb, &fb), want);
	assert_int_equal(fa, fb);
	assert_int_equal(evbuffer_get_length(a), 0);
	assert_int_equal(evbuffer_get_length(b), 0);
	if (want == 1) {
		assert_int_equal(ea->version, eb->version);
		assert_int_equal(ea->seq, eb->seq);
		assert_int_equal(ea->msg_case, eb->msg_case);
		ea->version = eb->version = 1; /* wire_write sets 0 to 1 */
		assert_int_equal(wire_write(a, ea), 0);
		assert_int_equal(wire_write(b, eb), 0);
		size_t nx = take(a, x, sizeof x), ny = take(b, y, sizeof y);
		assert_int_equal(nx, ny);
		assert_memory_equal(x, y, nx);
	}
	wire_env_free(ea);
	wire_arena_deinit(ar);
	free(ar);
	evbuffer_free(a);
	evbuffer_free(b);
}

static void test_arena_read_same(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	unsigned char body[512];

	/* The usual shape, as wire_write writes it. */
	write_offer(b, "c-1", 42);
	evbuffer_drain(b, WIRE_HDR);
	size_t n = take(b, body, sizeof body);
	same_decode(body, n, 1);
	/* Without seq, and with version 0 spelled out. */
	const unsigned char no_seq[] = {0x08, 0x01, 0x6a, 0x00};          /* v1, ack */
	const unsigned char v0[] = {0x08, 0x00, 0x10, 0x07, 0x6a, 0x00};  /* v0, seq 7, ack */
	/* Out of the usual order, repeated, unknown or empty: protobuf-c whole. */
	const unsigned char seq_first[] = {0x10, 0x09, 0x08, 0x01, 0x6a, 0x00};
	const unsigned char twice[] = {0x08, 0x01, 0x72, 0x02, 0x08, 0x05, 0x72, 0x02, 0x08, 0x06};
	const unsigned char unknown[] = {0x10, 0x05, 0x9a, 0x06, 0x01, 0x00};
	const unsigned char no_member[] = {0x08, 0x01, 0x10, 0x03};
	const unsigned char trailing[] = {0x08, 0x01, 0x6a, 0x00, 0x10, 0x04};
	const unsigned char long_version[] = {0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x6a, 0x00};
	/* Broken: a member longer than the frame, a member that is not a
	 * message, a bad inner message, garbage. */
	const unsigned char short_member[] = {0x08, 0x01, 0x6a, 0x05, 0x00};
	const unsigned char bad_inner[] = {0x08, 0x01, 0x72, 0x02, 0x08, 0xff};
	const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const unsigned char wrong_type[] = {0x08, 0x01, 0x68, 0x00};
	struct {
		const unsigned char *p;
		size_t n;
		int want;
	} cases[] = {
		{no_seq, sizeof no_seq, 1},
		{v0, sizeof v0, 1},
		{seq_first, sizeof seq_first, 1},
		{twice, sizeof twice, 1},
		{unknown, sizeof unknown, 1},
		{no_member, sizeof no_member, 1},
		{trailing, sizeof trailing, 1},
		{long_version, sizeof long_version, 1},
		{short_member, sizeof short_member, -WIRE_EDECODE},
		{bad_inner, sizeof bad_inner, -WIRE_EDECODE},
		{junk, sizeof junk, -WIRE_EDECODE},
		{wrong_type, sizeof wrong_type, -WIRE_EDECODE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		same_decode(cases[i].p, cases[i].n, cases[i].want);
	evbuffer_free(b);
}

/* A frame bigger than the arena's own buffer spills into blocks; reset
 * frees them (the sanitizer build checks) and the arena serves again. */
static void test_arena_spill(void **state)
{
	(void)state;
	struct evbuffer *b = evbuffer_new();
	struct wire_arena *ar = malloc(sizeof *ar);
	enum { N = 2000 };
	static char names[N][24];
	static char *skills[N];
	Closeloop__V1__CallOffered co = CLOSELOOP__V1__CALL_OFFERED__INIT;
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT, *got = NULL;

	assert_non_null(ar);
	wire_arena_init(ar);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "skill-%05d", i);
		skills[i] = names[i];
	}
	co.call_id = "c-big";
	co.skills = skills;
	co.n_skills = N;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_CALL_OFFERED;
	env.call_offered = &co;
	for (int round = 0; round < 2; round++) {
		assert_int_equal(wire_write_fast(b, &env), 0);
		assert_true(evbuffer_get_length(b) > WIRE_ARENA_INLINE);
		assert_int_equal(wire_read_arena(b, WIRE_DEFAULT_MAX_FRAME, ar, &got, NULL), 1);
		assert_int_equal(got->call_offered->n_skills, N);
		assert_string_equal(got->call_offered->skills[N - 1], "skill-01999");
		assert_string_equal(got->call_offered->call_id, "c-big");
		assert_true(ar->spills > 0);
		/* Allocations are 16-byte aligned. */
		assert_int_equal((uintptr_t)got % 16, 0);
		assert_int_equal((uintptr_t)got->call_offered % 16, 0);
		wire_arena_reset(ar);
		assert_null(ar->blks);
	}
	/* A small frame after the reset comes from the struct's own buffer. */
	uint64_t spills = ar->spills;
	write_offer(b, "c-small", 1);
	assert_int_equal(wire_read_arena(b, WIRE_DEFAULT_MAX_FRAME, ar, &got, NULL), 1);
	assert_string_equal(got->call_offered->call_id, "c-small");
	assert_true((unsigned char *)got >= ar->buf && (unsigned char *)got < ar->buf + WIRE_ARENA_INLINE);
	assert_int_equal(ar->spills, spills);
	wire_arena_deinit(ar);
	free(ar);
	evbuffer_free(b);
}

/* Partial frames: the arena reader, like wire_read, waits and takes nothing. */
static void test_arena_partial_and_limits(void **state)
{
	(void)state;
	struct evbuffer *whole = evbuffer_new(), *b = evbuffer_new();
	struct wire_arena *ar = malloc(sizeof *ar);
	wire_env *env = NULL;
	unsigned char frame[256];
	uint32_t flen = 0;

	assert_non_null(ar);
	wire_arena_init(ar);
	write_offer(whole, "c-part", 9);
	size_t n = take(whole, frame, sizeof frame);
	for (size_t i = 0; i < n - 1; i++) {
		evbuffer_add(b, frame + i, 1);
		assert_int_equal(wire_read_arena(b, WIRE_DEFAULT_MAX_FRAME, ar, &env, NULL), 0);
		assert_int_equal(evbuffer_get_length(b), i + 1);
	}
	evbuffer_add(b, frame + n - 1, 1);
	assert_int_equal(wire_read_arena(b, WIRE_DEFAULT_MAX_FRAME, ar, &env, NULL), 1);
	assert_string_equal(env->call_offered->call_id, "c-part");
	assert_int_equal(env->seq, 9);
	wire_arena_reset(ar);
	/* A length over the limit: refused before anything is read. */
	evbuffer_add(b, frame, n);
	assert_int_equal(wire_read_arena(b, (uint32_t)(n - WIRE_HDR - 1), ar, &env, &flen),
			 -WIRE_ETOOBIG);
	assert_int_equal(flen, n - WIRE_HDR);
	assert_int_equal(evbuffer_get_length(b), n);
	wire_arena_deinit(ar);
	free(ar);
	evbuffer_free(whole);
	evbuffer_free(b);
}

/*
 * wire_bev_flush writes a socket bufferevent's output at once, with its
 * write event disabled and no loop pass; what a full socket does not take
 * stays queued, and the write event is enabled to finish it.
 */
static void test_bev_flush(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	struct event_base *base = event_base_new();
	struct bufferevent *bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	bufferevent_disable(bev, EV_WRITE);
	struct evbuffer *out = bufferevent_get_output(bev);

	/* Some frames: all written now, nothing left, the write event off. */
	wire_env env = CLOSELOOP__V1__ENVELOPE__INIT;
	Closeloop__V1__Ping ping = CLOSELOOP__V1__PING__INIT;
	env.msg_case = CLOSELOOP__V1__ENVELOPE__MSG_PING;
	env.ping = &ping;
	for (int i = 0; i < 3; i++) {
		env.seq = (uint64_t)i + 1;
		assert_int_equal(wire_write_fast(out, &env), 0);
	}
	size_t queued = evbuffer_get_length(out);
	wire_bev_flush(bev);
	assert_int_equal(evbuffer_get_length(out), 0);
	assert_false(bufferevent_get_enabled(bev) & EV_WRITE);
	char buf[65536];
	assert_int_equal(read(sv[1], buf, sizeof buf), (ssize_t)queued);

	/* More than the socket holds: the rest stays, the write event takes over. */
	static char big[4 << 20];
	memset(big, 'x', sizeof big);
	assert_int_equal(evbuffer_add(out, big, sizeof big), 0);
	wire_bev_flush(bev);
	size_t left = evbuffer_get_length(out);
	assert_true(left > 0 && left < sizeof big);
	assert_true(bufferevent_get_enabled(bev) & EV_WRITE);
	/* The loop finishes it as the peer reads. */
	size_t got = 0;
	for (int spins = 0; got < sizeof big && spins < 1000000; spins++) {
		ssize_t n = read(sv[1], buf, sizeof buf);
		if (n > 0)
			got += (size_t)n;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(got, sizeof big);
	assert_int_equal(evbuffer_get_length(out), 0);

	bufferevent_free(bev);
	close(sv[1]);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_partial_byte_by_byte),
		cmocka_unit_test(test_oversized_and_zero),
		cmocka_unit_test(test_limit_boundary),
		cmocka_unit_test(test_garbage_drained),
		cmocka_unit_test(test_unknown_member),
		cmocka_unit_test(test_several_frames),
		cmocka_unit_test(test_fast_write_same_bytes),
		cmocka_unit_test(test_arena_read_same),
		cmocka_unit_test(test_arena_spill),
		cmocka_unit_test(test_arena_partial_and_limits),
		cmocka_unit_test(test_bev_flush),
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
