/*
 * engine_pub.h — router events into the Redis publisher (engine_pub.c).
 * Engine-private.
 */
#ifndef CL_ENGINE_PUB_H
#define CL_ENGINE_PUB_H

struct cl_engine;
struct cfg_redis;
struct engine_pub;
struct pub;
struct rt_event;

/* A publisher for eng, configured from a private copy of cfg (addr "HOST:PORT"
 * overrides host and port; may be NULL). Connects at once, never blocks.
 * Returns NULL (logged) on bad configuration or no memory. */
struct engine_pub *engine_pub_new(struct cl_engine *eng, const struct cfg_redis *cfg,
				  const char *addr);
/* Unacknowledged events go to the journal (pub_free). NULL does nothing. */
void engine_pub_free(struct engine_pub *ep);
/* Publish one router event (stream entry, call and target hashes). NULL ok. */
void engine_pub_event(struct engine_pub *ep, const struct rt_event *ev);
/* The publisher itself (stats, backlog); NULL when ep is NULL. */
struct pub *engine_pub_publisher(const struct engine_pub *ep);

#endif /* CL_ENGINE_PUB_H */
