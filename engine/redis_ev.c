/*
 * redis_ev.c — see redis_ev.h.
 *
 * hiredis calls addWrite each time it queues a command and whenever a write
 * left bytes behind, delWrite when its output is empty. addWrite from a
 * write of ours means the socket is full: the write event is armed until
 * hiredis has written everything. Any other addWrite (a command queued)
 * activates the deferred `flush` event once; it runs at the end of the
 * current loop pass, so a pass's commands leave in one write(2).
 *
 * hiredis may free the context (and call our cleanup) inside
 * redisAsyncHandleRead / redisAsyncHandleWrite. While one of them runs,
 * cleanup only marks the state dead; the caller frees it on the way out.
 */
#include "redis_ev.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdlib.h>

struct redis_ev {
	redisAsyncContext *ac; /* NULL once cleaned up */
	struct event *rev;     /* EV_READ | EV_PERSIST */
	struct event *wev;     /* EV_WRITE | EV_PERSIST: while full or connecting */
	struct event *flush;   /* no fd: write what this pass queued */
	uint64_t *stalls;      /* writes that found the socket full; may be NULL */
	unsigned depth;        /* inside hiredis's handlers */
	bool writing;          /* inside our redisAsyncHandleWrite */
	bool wev_on, rev_on, flush_on;
};

static void ev_release(struct redis_ev *e)
{
	event_free(e->rev);
	event_free(e->wev);
	event_free(e->flush);
	free(e);
}

/* Run one of hiredis's handlers; free e afterwards when it cleaned up. */
static void run(struct redis_ev *e, void (*fn)(redisAsyncContext *), bool writing)
{
	e->depth++;
	e->writing = writing;
	fn(e->ac);
	e->writing = false;
	if (--e->depth == 0 && !e->ac)
		ev_release(e);
}

/* The read and the write event. */
static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;
	(void)fd;
	if (!e->ac)
		return;
	if (what & EV_WRITE)
		run(e, redisAsyncHandleWrite, true);
	else
		run(e, redisAsyncHandleRead, false);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;
	(void)fd;
	(void)what;
	e->flush_on = false;
	/* Armed write event: hiredis is draining a full socket, or connecting. */
	if (e->ac && !e->wev_on)
		run(e, redisAsyncHandleWrite, true);
}

static void add_read(void *data)
{
	struct redis_ev *e = data;
	if (!e->rev_on && event_add(e->rev, NULL) == 0)
		e->rev_on = true;
}

static void del_read(void *data)
{
	struct redis_ev *e = data;
	if (e->rev_on) {
		event_del(e->rev);
		e->rev_on = false;
	}
}

static void arm_write(struct redis_ev *e)
{
	if (!e->wev_on && event_add(e->wev, NULL) == 0)
		e->wev_on = true;
}

static void add_write(void *data)
{
	struct redis_ev *e = data;

	if (!e->ac || !(e->ac->c.flags & REDIS_CONNECTED)) {
		arm_write(e);
		return;
	}
	if (e->writing) { /* hiredis's write left bytes behind: the socket is full */
		if (!e->wev_on && e->stalls)
			(*e->stalls)++;
		arm_write(e);
		return;
	}
	if (!e->wev_on && !e->flush_on) {
		e->flush_on = true;
		event_active(e->flush, EV_TIMEOUT, 1);
	}
}

static void del_write(void *data)
{
	struct redis_ev *e = data;
	if (e->wev_on) {
		event_del(e->wev);
		e->wev_on = false;
	}
}

static void cleanup(void *data)
{
	struct redis_ev *e = data;

	event_del(e->rev);
	event_del(e->wev);
	event_del(e->flush);
	e->ac = NULL;
	e->rev_on = e->wev_on = e->flush_on = false;
	if (e->depth == 0)
		ev_release(e);
}

int redis_ev_attach(redisAsyncContext *ac, struct event_base *base, int prio,
		    uint64_t *stalls)
{
	if (ac->ev.data)
		return REDIS_ERR;
	struct redis_ev *e = calloc(1, sizeof *e);
	if (!e)
		return REDIS_ERR;
	e->ac = ac;
	e->stalls = stalls;
	int fd = ac->c.fd;
	e->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_io, e);
	e->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_io, e);
	e->flush = event_new(base, -1, 0, on_flush, e);
	if (!e->rev || !e->wev || !e->flush) {
		if (e->rev)
			event_free(e->rev);
		if (e->wev)
			event_free(e->wev);
		if (e->flush)
			event_free(e->flush);
		free(e);
		return REDIS_ERR;
	}
	if (prio >= 0) {
		event_priority_set(e->rev, prio);
		event_priority_set(e->wev, prio);
		event_priority_set(e->flush, prio);
	}
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	ac->ev.data = e;
	/* The write event tells when the connect completes. */
	add_read(e);
	arm_write(e);
	return REDIS_OK;
}
