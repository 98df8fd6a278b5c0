/*
 * redis_ev.h — hiredis's async context on a libevent base, with fewer
 * system calls than hiredis's own adapter.
 *
 * hiredis's adapters/libevent.h arms a one-shot read event again after
 * every read and a write event for every batch of commands: two epoll_ctl
 * per read, two per write, and one more loop pass before anything is
 * written. Here the read event is persistent, and commands queued during a
 * loop pass are written at the end of that pass by a deferred callback; the
 * write event is armed only while the socket is full, or while connecting.
 */
#ifndef CL_REDIS_EV_H
#define CL_REDIS_EV_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdint.h>

/* Attach ac to base, its events at priority prio (< 0: the base's default).
 * *stalls (may be NULL) counts the writes that found the socket full (the
 * server not reading fast enough); it must outlive the context.
 * REDIS_OK or REDIS_ERR (already attached, out of memory). The context's
 * cleanup (redisAsyncFree, a disconnect) releases what this allocated. */
int redis_ev_attach(redisAsyncContext *ac, struct event_base *base, int prio,
		    uint64_t *stalls);

#endif /* CL_REDIS_EV_H */
