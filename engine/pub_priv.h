/*
 * pub_priv.h — the publisher's private state, shared by pub.c (connection,
 * event FIFO, flow control, life cycle) and pub_state.c (state hashes, index
 * sets, the resync sweep). Nothing outside the publisher includes it.
 */
#ifndef CL_PUB_PRIV_H
#define CL_PUB_PRIV_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <uthash.h>

#include "cfg.h"
#include "pub.h"
#include "pub_internal.h"

#define PUB_DEF_MAX_INFLIGHT 10000u
#define PUB_DEF_SNAPSHOT_MS 1000u
#define PUB_DEF_CALL_TTL_S 3600u
#define PUB_DEF_PORT 6379u
#define PUB_BACKOFF_MIN_MS 100u
#define PUB_BACKOFF_MAX_MS 5000u
#define PUB_CONNECT_TIMEOUT_MS 5000u
#define PUB_REPLY_TIMEOUT_MS 15000u  /* no answer at all for this long: cut */
#define PUB_JOURNAL_FLUSH_MS 50u
#define PUB_REFILL_BATCH 4096u       /* journal records read per loop pass */
#define PUB_LIVE_BATCH 65536u        /* bytes of JSON per PUBLISH, at most */
#define PUB_DEF_STREAM_BATCH 64u     /* events per entry of the event stream */
#define PUB_ENTRY_BYTES 65536u       /* bytes of JSON per entry, at most (one event may pass) */
#define PUB_RING_MIN 1024u
#define PUB_WARN_BUDGET 10u          /* warnings per tick before suppression */
#define PUB_MAX_ARGV (8 + 2 * PUB_REC_MAX_FIELDS)
#define PUB_MAX_INDEX 12             /* index sets: 3 built-in + registered */
#define PUB_MAX_RESYNC 4             /* extra resync listeners */
#define PUB_NO_INDEX 0xffu
#define PUB_SETQ_MAX 512u            /* ids per SADD / SREM, at most */
#define PUB_GUARD_MS 5u               /* the publisher's work waits this long at most */
#define PUB_STATE_CHUNK 32u          /* state hashes written per loop pass, at most */
#define PUB_STATE_GRAIN_MS 2u        /* flush timer: at least this far apart */

enum conn_state {
	CS_IDLE = 0,   /* no context; the retry timer is armed (or closing) */
	CS_CONNECTING, /* waiting for the connect callback */
	CS_HANDSHAKE,  /* AUTH / SELECT / XINFO sent */
	CS_READY,      /* commands flow */
	CS_CLOSING,    /* disconnect requested after an error */
};

/* Index sets: the built-in ones first, then those of pub_index_add. */
enum state_kind { SK_TARGET = 0, SK_QUEUE = 1, SK_CALL = 2, SK_COUNT };
/* SET: HSET + SADD. REPLACE (written by the resync hook): the hash is
 * replaced whole in a MULTI, so fields no current writer knows disappear.
 * END: HSET + EXPIRE + SREM (a call that ended). DEL: DEL + SREM.
 * Hashes without an index set skip the SADD / SREM; a TTL adds an EXPIRE. */
enum state_op { OP_SET = 0, OP_REPLACE = 1, OP_END = 2, OP_DEL = 3 };

/* One pending state update, keyed by its Redis key. */
struct state_ent {
	UT_hash_handle hh;
	uint8_t kind;         /* index set, PUB_NO_INDEX = none */
	uint8_t op;
	uint32_t ttl_s;       /* 0 = none */
	uint64_t due_ms;      /* may be written from then on (pub_mono_ms) */
	struct pub_rec *rec;  /* owned; NULL for OP_DEL */
	size_t key_len;
	size_t id_len;
	char key[];           /* key, NUL, the id in the index set, NUL */
};

/* An index set: a Redis set listing the ids whose hashes exist. */
struct pub_index_def {
	char set[PUB_RKEY_MAX];   /* full key of the set */
	char hkind[PUB_RKEY_MAX]; /* hash key of an id: prefix + hkind + id */
};

struct pub_resync_l {
	void (*fn)(void *arg, struct pub *p);
	void *arg;
};

/* Ids to add to (or remove from) one index set with one variadic command. */
struct setq {
	char *buf;            /* the ids, each NUL-terminated */
	size_t len, cap;
	uint32_t n;
};

/* An id mentioned during the resync hook. */
struct seen_ent {
	UT_hash_handle hh;
	char id[];
};

struct pub {
	struct event_base *base;
	const struct cfg_redis *cfg;
	struct pub_hooks hooks;
	void *arg;

	const char *prefix;
	char *host;           /* numeric address (owned), NULL with a unix socket */
	char endpoint[300];   /* for log lines */
	uint32_t max_inflight, snapshot_ms, call_ttl_s;
	uint32_t batch_max;   /* events per entry of the event stream */
	uint32_t flush_ms;    /* state hashes wait this long; 0 = at once */
	char maxlen_s[PUB_NSTREAMS][16]; /* "" = no trimming */
	char k_stream[PUB_NSTREAMS][PUB_RKEY_MAX]; /* events, leads */
	char k_channel[PUB_RKEY_MAX], k_totals[PUB_RKEY_MAX], k_health[PUB_RKEY_MAX];
	struct pub_index_def idx[PUB_MAX_INDEX];
	uint32_t n_idx;
	struct pub_resync_l resync_l[PUB_MAX_RESYNC];
	struct pub_erase_q *erase; /* pub_erase.c's jobs; NULL when none */

	redisAsyncContext *ac;
	enum conn_state cs;
	bool closing;         /* pub_free in progress */
	bool aborting;        /* we are freeing the context ourselves */
	bool ever_ready;
	bool was_ready;       /* this connection reached CS_READY */
	bool hs_failed;       /* this connection's handshake already failed */
	uint32_t epoch;       /* connection attempts so far */
	uint32_t fail_streak;
	uint64_t ready_since_ms;
	uint64_t progress_ms; /* last reply, or when inflight left 0 */
	struct pub_backoff backoff;

	struct event *ev_retry, *ev_conn_to, *ev_tick, *ev_resync, *ev_kick, *ev_live,
		*ev_jflush, *ev_send, *ev_state, *ev_guard;

	struct pub_idgen idgen;
	/* Per stream: its top at connect, then the last ID sent. */
	struct pub_stream_id last_sent[PUB_NSTREAMS];
	struct pub_stream_id hs_top[PUB_NSTREAMS]; /* tops read by the handshake */
	uint32_t hs_xinfo;    /* XINFO replies still awaited */
	struct pub_stream_id last_acked;

	/* FIFO head: records not yet in the stream, oldest first. */
	struct pub_rec **ring;
	size_t rcap, rmax, rhead, rcount;
	uint64_t rbase;       /* records ever popped: ring[i] is record number rbase + i */
	size_t rsent;         /* ring[0..rsent) were sent on this connection */

	struct pub_journal *journal;
	uint64_t jprev;       /* records from a previous run still at the journal's front */

	struct state_ent *smap;
	struct seen_ent *seen[PUB_MAX_INDEX];
	bool collecting;
	struct setq sq[PUB_MAX_INDEX][2]; /* [index set][0 = SADD, 1 = SREM] */
	uint64_t due_until;   /* entries due by then may be written (pub_mono_ms) */
	uint64_t last_tick;   /* when the flush timer last fired */
	uint32_t sbudget;     /* state hashes this loop pass may still write */
	uint64_t low_runs, low_seen; /* low-priority passes; as on_guard last saw */

	struct evbuffer *live; /* JSON array under construction for PUBLISH */
	char *scratch;         /* RESP encoding of the command being queued */
	size_t scap;

	uint64_t inflight;
	uint32_t warn_budget;
	uint64_t warn_suppressed;
	struct pub_stats st;
};

static inline struct timeval pub_ms_tv(uint32_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000u), (suseconds_t)(ms % 1000u) * 1000};
	return tv;
}

/* Grow *buf (capacity *cap, doubling from 4 KiB) to hold need bytes. 0 or -1. */
static inline int pub_grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c *= 2;
	char *nb = realloc(*buf, c);
	if (!nb)
		return -1;
	*buf = nb;
	*cap = c;
	return 0;
}

static inline bool pub_str_ok(const char *s, size_t max)
{
	return !s || strnlen(s, max + 1) <= max;
}

/* ---- pub.c ---- */

/* The loop's cached wall clock, in ms. */
uint64_t pub_now_ms(const struct pub *p);
/* The monotonic clock, in ms: state deadlines. */
uint64_t pub_mono_ms(void);
/* Make every pending state update due now (resync, pub_flush). */
void pub_state_due_all(struct pub *p);
/* Queue one command (RESP-encoded here); counts it in flight. 0 or -1. */
int pub_send_argv(struct pub *p, redisCallbackFn *fn, void *priv, int argc, const char **argv,
		  const size_t *len);
/* Reply callback of commands whose answer only counts (errors are logged). */
void pub_on_generic(redisAsyncContext *ac, void *r, void *priv);
/* Send what the command cap allows: events and due state updates. */
void pub_pump(struct pub *p);
/* A reply (or the lack of one: NULL) to a command in flight. */
void pub_inflight_dec(struct pub *p, const void *reply);
/* Whether a warning that can repeat per command may still be logged this tick. */
bool pub_warn_ok(struct pub *p);
/* A field name of a lead entry or a generic hash: [a-z0-9_.-], 1..PUB_KEY_MAX bytes. */
bool pub_field_name_ok(const char *k);

/* ---- pub_state.c ---- */

void pub_state_init(struct pub *p);
void pub_seen_clear(struct pub *p, int kind);
/* Drop every pending state update (count: as skipped). */
void pub_state_clear(struct pub *p, bool count);
/* The resync: republish everything, then sweep the index sets. */
void pub_on_resync(evutil_socket_t fd, short what, void *arg);
/* The flush tick. */
void pub_on_state(evutil_socket_t fd, short what, void *arg);
bool pub_state_due(const struct pub *p);
void pub_state_kick(struct pub *p);
/* Write the pending update e (and remove it). 0 or -1 (cannot queue). */
int pub_state_send(struct pub *p, struct state_ent *e);
void pub_setq_flush_all(struct pub *p);

#endif /* CL_PUB_PRIV_H */
