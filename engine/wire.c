/*
 * wire.c — length-prefixed protobuf frames on evbuffers (see wire.h).
 *
 * Two ways through: wire_read / wire_write, protobuf-c's generic calls on the
 * whole Envelope with malloc (the clients and tests use them), and the
 * server's hot path, wire_read_arena / wire_write_fast, which handle the
 * Envelope's own two varints and the oneof's key here, leave only the inner
 * message to protobuf-c and decode into an arena reset after every frame.
 * Both give the same messages and the same bytes (tests/unit/test_wire.c
 * compares them).
 */
#include "wire.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The next whole frame of in, contiguous: 1 with *p at its payload and *len
 * its size (not drained yet), 0 when it is incomplete, or -WIRE_E*.
 */
static int frame_next(struct evbuffer *in, uint32_t max_frame, uint32_t *frame_len,
		      unsigned char **p, uint32_t *plen)
{
	unsigned char hdr[WIRE_HDR];
	size_t have = evbuffer_get_length(in);

	if (have < WIRE_HDR)
		return 0;
	if (evbuffer_copyout(in, hdr, WIRE_HDR) != (ev_ssize_t)WIRE_HDR)
		return 0;
	uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
		       (uint32_t)hdr[3];
	if (frame_len)
		*frame_len = len;
	/* Checked before any pullup: a hostile length never allocates. */
	if (len == 0 || len > max_frame)
		return -WIRE_ETOOBIG;
	if (have < WIRE_HDR + (size_t)len)
		return 0;
	unsigned char *b = evbuffer_pullup(in, (ev_ssize_t)(WIRE_HDR + len));
	if (!b)
		return -WIRE_EDECODE;
	*p = b + WIRE_HDR;
	*plen = len;
	return 1;
}

static wire_env *env_unpack(struct wire_arena *a, size_t n, const uint8_t *p);

/* Decode the next whole frame of in: into arena a, or with malloc when a is
 * NULL. What wire_read and wire_read_arena return. */
static int frame_take(struct evbuffer *in, uint32_t max_frame, struct wire_arena *a,
		      wire_env **env, uint32_t *frame_len)
{
	unsigned char *p;
	uint32_t len;
	int rc = frame_next(in, max_frame, frame_len, &p, &len);

	if (rc <= 0)
		return rc;
	wire_env *m = a ? env_unpack(a, len, p) : closeloop__v1__envelope__unpack(NULL, len, p);
	evbuffer_drain(in, WIRE_HDR + len);
	if (!m)
		return -WIRE_EDECODE;
	*env = m;
	return 1;
}

int wire_read(struct evbuffer *in, uint32_t max_frame, wire_env **env, uint32_t *frame_len)
{
	return frame_take(in, max_frame, NULL, env, frame_len);
}

void wire_env_free(wire_env *env)
{
	if (env)
		closeloop__v1__envelope__free_unpacked(env, NULL);
}

size_t wire_frame_size(const wire_env *env)
{
	return WIRE_HDR + closeloop__v1__envelope__get_packed_size(env);
}

int wire_write(struct evbuffer *out, wire_env *env)
{
	struct evbuffer_iovec v;

	if (env->version == 0)
		env->version = WIRE_VERSION;
	size_t len = closeloop__v1__envelope__get_packed_size(env);
	if (len > UINT32_MAX - WIRE_HDR)
		return -WIRE_ENOMEM;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(WIRE_HDR + len), &v, 1) < 1 ||
	    v.iov_len < WIRE_HDR + len)
		return -WIRE_ENOMEM;
	unsigned char *p = v.iov_base;
	p[0] = (unsigned char)(len >> 24);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
	size_t n = closeloop__v1__envelope__pack(env, p + WIRE_HDR);
	v.iov_len = WIRE_HDR + n;
	if (evbuffer_commit_space(out, &v, 1) < 0)
		return -WIRE_ENOMEM;
	return 0;
}

const char *wire_msg_name(const wire_env *env)
{
	if (env->msg_case == CLOSELOOP__V1__ENVELOPE__MSG__NOT_SET)
		return "none";
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&closeloop__v1__envelope__descriptor,
							(unsigned)env->msg_case);
	return f ? f->name : "unknown";
}

/* ---- decoding arena ---- */

/* A spilled block; its memory follows the header (16 bytes: malloc's
 * alignment holds for what follows). */
struct wire_arena_blk {
	struct wire_arena_blk *next;
	size_t size;
};

#define WIRE_ARENA_BLK 16384u

static void *arena_alloc(void *data, size_t size)
{
	struct wire_arena *a = data;
	size_t n = (size + 15u) & ~(size_t)15u;

	if (n < size)
		return NULL;
	if (n == 0)
		n = 16;
	if ((size_t)(a->end - a->cur) < n) {
		size_t bs = n > WIRE_ARENA_BLK ? n : WIRE_ARENA_BLK;
		if (bs > SIZE_MAX - sizeof(struct wire_arena_blk))
			return NULL;
		struct wire_arena_blk *b = malloc(sizeof *b + bs);
		if (!b)
			return NULL;
		b->next = a->blks;
		b->size = bs;
		a->blks = b;
		a->spills++;
		a->cur = (unsigned char *)(b + 1);
		a->end = a->cur + bs;
	}
	void *p = a->cur;
	a->cur += n;
	return p;
}

/* Everything goes at the next reset. */
static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

void wire_arena_init(struct wire_arena *a)
{
	a->pa.alloc = arena_alloc;
	a->pa.free = arena_free;
	a->pa.allocator_data = a;
	a->blks = NULL;
	a->spills = 0;
	a->cur = a->buf;
	a->end = a->buf + sizeof a->buf;
}

void wire_arena_reset(struct wire_arena *a)
{
	while (a->blks) {
		struct wire_arena_blk *b = a->blks;
		a->blks = b->next;
		free(b);
	}
	a->cur = a->buf;
	a->end = a->buf + sizeof a->buf;
}

void wire_arena_deinit(struct wire_arena *a) { wire_arena_reset(a); }

/* ---- envelope fast paths ---- */

/* Varint of at most max bytes at p (n available): bytes used, 0 when longer
 * or cut short. Decodes as protobuf-c does for lengths it accepts. */
static size_t get_varint(const uint8_t *p, size_t n, size_t max, uint64_t *v)
{
	uint64_t r = 0;

	for (size_t i = 0; i < n && i < max; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t i = 0;

	while (v >= 0x80) {
		p[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[i++] = (uint8_t)v;
	return i;
}

/* The oneof member's field for field number num, or NULL when num is not a
 * message of the oneof. */
static const ProtobufCFieldDescriptor *oneof_field(unsigned num)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&closeloop__v1__envelope__descriptor, num);

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return NULL;
	return f;
}

/*
 * Envelope from p[0..n) into the arena. The usual shape — [version] [seq]
 * and one oneof message, in field order, ending at the frame's end — is
 * split here (the only fields the envelope has outside the oneof are those
 * two varints) and just the inner message is decoded by protobuf-c: the
 * result is what protobuf_c_message_unpack gives, without its walk of the
 * envelope's descriptors. Anything else (fields repeated, out of order,
 * unknown, long varints) is decoded by protobuf-c whole.
 */
static wire_env *env_unpack(struct wire_arena *a, size_t n, const uint8_t *p)
{
	uint64_t version = 0, seq = 0, key, mlen;
	size_t pos = 0, k;

	if (pos < n && p[pos] == 0x08) { /* field 1, varint: version (uint32) */
		if (!(k = get_varint(p + pos + 1, n - pos - 1, 5, &version)))
			goto generic;
		pos += 1 + k;
	}
	if (pos < n && p[pos] == 0x10) { /* field 2, varint: seq (uint64) */
		if (!(k = get_varint(p + pos + 1, n - pos - 1, 10, &seq)))
			goto generic;
		pos += 1 + k;
	}
	if (!(k = get_varint(p + pos, n - pos, 5, &key)) || (key & 7) != 2)
		goto generic;
	pos += k;
	const ProtobufCFieldDescriptor *f = oneof_field((unsigned)(key >> 3));
	if (!f || !(k = get_varint(p + pos, n - pos, 5, &mlen)))
		goto generic;
	pos += k;
	if (mlen != n - pos)
		goto generic;
	ProtobufCMessage *sub = protobuf_c_message_unpack(f->descriptor, &a->pa, (size_t)mlen, p + pos);
	if (!sub)
		return NULL; /* protobuf-c fails the whole envelope too */
	wire_env *env = arena_alloc(a, sizeof *env);
	if (!env)
		return NULL;
	closeloop__v1__envelope__init(env);
	env->version = (uint32_t)version;
	env->seq = seq;
	env->msg_case = (Closeloop__V1__Envelope__MsgCase)f->id;
	*(ProtobufCMessage **)((char *)env + f->offset) = sub;
	return env;
generic:
	return closeloop__v1__envelope__unpack(&a->pa, n, p);
}

int wire_read_arena(struct evbuffer *in, uint32_t max_frame, struct wire_arena *a,
		    wire_env **env, uint32_t *frame_len)
{
	return frame_take(in, max_frame, a, env, frame_len);
}

int wire_write_fast(struct evbuffer *out, wire_env *env)
{
	const ProtobufCFieldDescriptor *f =
		env->msg_case != CLOSELOOP__V1__ENVELOPE__MSG__NOT_SET ? oneof_field((unsigned)env->msg_case)
								       : NULL;
	const ProtobufCMessage *sub =
		f ? *(const ProtobufCMessage *const *)((const char *)env + f->offset) : NULL;
	struct evbuffer_iovec v;
	uint8_t head[6 + 11 + 5 + 5];
	size_t h = 0;

	/* protobuf-c leaves out a NULL member; unknown fields go last: its way. */
	if (!sub || env->base.n_unknown_fields)
		return wire_write(out, env);
	if (env->version == 0)
		env->version = WIRE_VERSION;
	size_t sub_len = protobuf_c_message_get_packed_size(sub);
	if (sub_len > UINT32_MAX)
		return -WIRE_ENOMEM;
	/* Field order, as protobuf-c packs: version (never 0 here), seq when
	 * set, then the member's key and length. */
	head[h++] = 0x08;
	h += put_varint(head + h, env->version);
	if (env->seq) {
		head[h++] = 0x10;
		h += put_varint(head + h, env->seq);
	}
	h += put_varint(head + h, (uint64_t)f->id << 3 | 2);
	h += put_varint(head + h, sub_len);
	size_t len = h + sub_len;
	if (len > UINT32_MAX - WIRE_HDR)
		return -WIRE_ENOMEM;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(WIRE_HDR + len), &v, 1) < 1 ||
	    v.iov_len < WIRE_HDR + len)
		return -WIRE_ENOMEM;
	unsigned char *p = v.iov_base;
	p[0] = (unsigned char)(len >> 24);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
	memcpy(p + WIRE_HDR, head, h);
	size_t n = protobuf_c_message_pack(sub, p + WIRE_HDR + h);
	v.iov_len = WIRE_HDR + h + n;
	if (evbuffer_commit_space(out, &v, 1) < 0)
		return -WIRE_ENOMEM;
	return 0;
}

void wire_bev_flush(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (!evbuffer_get_length(out))
		return;
	/* A socket bufferevent freezes its output's start (only it may drain
	 * it); unfreeze around the write, as its own write callback does. */
	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out))
		bufferevent_enable(bev, EV_WRITE);
}
