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

/*
 * Decoding arena: a ProtobufCAllocator that hands out memory by bumping a
 * pointer and whose free does nothing. Everything decoded with it goes at
 * once with wire_arena_reset: no malloc and free per message and string (a
 * protocol frame unpacks into 3 to 10 allocations), and the same memory,
 * still in the cache, serves the next frame. The first WIRE_ARENA_INLINE
 * bytes are inside the struct; a bigger frame spills into malloc'd blocks,
 * which the next reset frees. Storage the caller owns (wire_arena_init /
 * wire_arena_deinit); it must not move between init and deinit (the
 * allocator points at it). One thread.
 */
#define WIRE_ARENA_INLINE 8192u

struct wire_arena_blk;

struct wire_arena {
	ProtobufCAllocator pa;       /* allocates from this arena */
	unsigned char *cur, *end;    /* free part of the current block */
	struct wire_arena_blk *blks; /* spilled blocks, newest first */
	uint64_t spills;             /* blocks malloc'd since init (statistics) */
	_Alignas(16) unsigned char buf[WIRE_ARENA_INLINE];
};

void wire_arena_init(struct wire_arena *a);
/* Release everything allocated since the last reset (spilled blocks are freed). */
void wire_arena_reset(struct wire_arena *a);
/* Frees the spilled blocks; a may then be init'ed again. */
void wire_arena_deinit(struct wire_arena *a);

/*
 * wire_read decoding into a: same returns and same result, but *env lives in
 * the arena (valid until the next wire_arena_reset; never wire_env_free it).
 * A frame of the usual shape (version, seq, one message of the oneof, in
 * that order) is taken apart here and only the inner message goes through
 * protobuf-c's generic decoder; any other frame goes through it whole.
 */
int wire_read_arena(struct evbuffer *in, uint32_t max_frame, struct wire_arena *a,
		    wire_env **env, uint32_t *frame_len);

/*
 * wire_write, packing the inner message once: the inner message's size is
 * computed once, and the envelope's own fields (version, seq, the oneof's
 * key and length) are written here rather than by protobuf-c's walk of the
 * envelope's 42 field descriptors. Byte for byte what wire_write writes.
 */
int wire_write_fast(struct evbuffer *out, wire_env *env);

struct bufferevent;

/*
 * Write a socket bufferevent's output now, with one writev, outside its own
 * write event, which the caller keeps disabled: frames queued during a loop
 * pass then leave at its end with no epoll_ctl and no extra pass. What the
 * socket does not take (it is full) or an error is left to the bufferevent:
 * its write event is enabled, and the caller disables it again once its
 * write callback sees the output drained.
 */
void wire_bev_flush(struct bufferevent *bev);

#ifdef __cplusplus
}
#endif
#endif /* CL_WIRE_H */
