/*
 * pub_conn.h — what pub.c lends the other files of the publisher
 * (pub_erase.c): raw commands on its connection, within its in-flight
 * accounting, and a few views of its FIFO. Private to the pub module.
 */
#ifndef CL_PUB_CONN_H
#define CL_PUB_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "pub_internal.h"

struct pub;
struct pub_erase_q;

/* reply is the hiredis redisReply (valid only during the call), or NULL when
 * the connection went away before the answer. */
typedef void (*pub_conn_reply_fn)(struct pub *p, void *reply, void *priv, uint64_t tag);

/* Queue a command (counted in flight) when connected. fn is always called
 * exactly once when this returns 0, never when it fails (-1). */
int pub_conn_cmd(struct pub *p, pub_conn_reply_fn fn, void *priv, uint64_t tag, int argc,
		 const char **argv, const size_t *len);
/* Full key of stream PUB_STREAM_EVENTS / PUB_STREAM_LEADS. */
const char *pub_conn_stream_key(const struct pub *p, int stream);
/* Storage for pub_erase.c's state (NULL until it allocates it). */
struct pub_erase_q **pub_conn_erase_slot(struct pub *p);
/* The last stream ID handed out. */
void pub_conn_last_id(const struct pub *p, struct pub_stream_id *out);
/* Connected, and nothing with an ID at or below upto still waits for Redis. */
bool pub_conn_settled(const struct pub *p, const struct pub_stream_id *upto);
/* Counters pub_erase.c adds to. */
void pub_conn_count_erasure(struct pub *p, uint64_t entries);

/* pub_erase.c's entry points, called by pub.c. */
void pub_erase_kick(struct pub *p);      /* maybe start or continue a job */
void pub_erase_conn_lost(struct pub *p); /* the running job starts over later */
void pub_erase_free_all(struct pub *p);  /* pub_free */

#endif /* CL_PUB_CONN_H */
