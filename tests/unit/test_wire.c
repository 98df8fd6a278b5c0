/*
 * test_wire.c — framing on evbuffers: round trip, partial frames, limits,
 * undecodable frames, several frames in one buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

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
	};
	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
