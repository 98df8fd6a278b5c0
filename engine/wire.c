/*
 * wire.c — length-prefixed protobuf frames on evbuffers (see wire.h).
 */
#include "wire.h"

#include <event2/buffer.h>
#include <string.h>

int wire_read(struct evbuffer *in, uint32_t max_frame, wire_env **env, uint32_t *frame_len)
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
	unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)(WIRE_HDR + len));
	if (!p)
		return -WIRE_EDECODE;
	wire_env *m = closeloop__v1__envelope__unpack(NULL, len, p + WIRE_HDR);
	evbuffer_drain(in, WIRE_HDR + len);
	if (!m)
		return -WIRE_EDECODE;
	*env = m;
	return 1;
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
