/*
 * wire.h — closeloop framing: a 4-byte big-endian length, then one protobuf
 * Envelope. Shared by the engine, the simulator and the test clients.
 *
 * Reading works straight on a libevent evbuffer: the length is checked
 * against the limit before anything is pulled up or allocated, and a frame is
 * only consumed once it is complete. Writing packs straight into space
 * reserved in the output evbuffer (one copy, no temporary buffer), so many
 * frames coalesce into one write.
 */
#ifndef CL_WIRE_H
#define CL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "closeloop.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

struct evbuffer;

#define WIRE_HDR 4u
#define WIRE_VERSION 1u
#define WIRE_DEFAULT_MAX_FRAME 65536u

typedef Closeloop__V1__Envelope wire_env;

enum {
	WIRE_ETOOBIG = 1, /* length 0 or over max_frame: the stream cannot be trusted */
	WIRE_EDECODE = 2, /* the frame is not an Envelope (frame consumed) */
	WIRE_ENOMEM = 3,
};

/*
 * Take one frame from in. Returns 1 and *env (owned by the caller: free with
 * wire_env_free) when a frame was decoded, 0 when more bytes are needed (in
 * untouched), -WIRE_ETOOBIG (in untouched) or -WIRE_EDECODE (frame drained).
 * *frame_len (may be NULL) receives the frame's length when known.
 */
int wire_read(struct evbuffer *in, uint32_t max_frame, wire_env **env, uint32_t *frame_len);

/* NULL does nothing. */
void wire_env_free(wire_env *env);

/* Append env, framed, to out. Sets env->version when 0. Returns 0 or -WIRE_ENOMEM. */
int wire_write(struct evbuffer *out, wire_env *env);

/* Packed size of env with its header (for limits and statistics). */
size_t wire_frame_size(const wire_env *env);

/* Name of the oneof member that is set ("call_offered", ...), "none" or "unknown". */
const char *wire_msg_name(const wire_env *env);

#ifdef __cplusplus
}
#endif
#endif /* CL_WIRE_H */
