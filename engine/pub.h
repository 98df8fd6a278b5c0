/*
 * pub.h — the Redis publisher: how CRMs, wallboards, billing and partner
 * portals see the engine (docs/redis.md is the key schema and the contract).
 *
 * The engine hands the publisher flat, self-contained records: events
 * (pub_event), the state of targets, queues and live calls (pub_target,
 * pub_queue, pub_call) and totals (pub_totals). The publisher knows nothing of
 * the router; a small glue in the engine translates router events into these
 * records. Every string is borrowed for the duration of the call only.
 *
 * Delivery:
 * - Events are appended to one Redis stream with an engine-assigned,
 *   strictly increasing ID "<ms>-<seq>" (ms never goes backwards). They are
 *   kept until Redis acknowledges them: in memory (bounded by max_inflight +
 *   buffer_events), past that in the journal file, and replayed in order after
 *   an outage. A replayed XADD that Redis refuses because the ID is not above
 *   the stream's last ID was already applied and is skipped, so each event
 *   reaches the stream exactly once and in order. Acknowledged events are
 *   also PUBLISHed (batched, best effort) on a pub/sub channel.
 * - State (target, queue, call hashes) is latest-wins: updates are coalesced
 *   per key while commands are capped, discarded while Redis is away, and
 *   rewritten in full by the resync hook on every (re)connection.
 * - Nothing blocks: pub_* calls only copy the record and queue commands on the
 *   hiredis async context, which is pipelined on the libevent loop.
 *
 * Leads (pub_lead) go to a second stream with the same exactly-once
 * delivery: one FIFO and one ID sequence feed both streams, in order.
 * Other modules write their own latest-wins hashes (pub_hash_set), optionally
 * listed in index sets that the resync sweeps, and can have personal data
 * scrubbed from both streams (pub_erase).
 *
 * Loop thread only: every function must be called from the thread that runs
 * the event_base given to pub_new. A NULL struct pub * (publishing disabled)
 * is accepted by every function: the call does nothing and returns 0.
 */
#ifndef CL_PUB_H
#define CL_PUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct cfg_redis;
struct pub;

enum {
	PUB_OK = 0,
	PUB_ENOMEM = 1,
	PUB_EINVAL = 2, /* malformed record: missing id/type, too long, bad extra key */
	PUB_EDROP = 3,  /* event dropped: memory buffer full and no journal (counted) */
	PUB_EIO = 4,    /* journal read/write failed */
};

/* Short text for a PUB_E* code (positive or negative). */
const char *pub_strerror(int err);

#define PUB_MAX_EXTRA 8      /* extra key/value pairs per event */
#define PUB_ID_MAX 256       /* bytes of an id, name or type */
#define PUB_VALUE_MAX 1024   /* bytes of any other string value */
#define PUB_KEY_MAX 64       /* bytes of an extra field's name */

/* A stream entry ID: "<ms>-<seq>". */
struct pub_stream_id {
	uint64_t ms;
	uint64_t seq;
};

/* Longest "<ms>-<seq>" text, with the NUL. */
#define PUB_STREAM_ID_LEN 42

/* Format id as "<ms>-<seq>" into buf; returns the length or -PUB_EINVAL if
 * len is too small. */
int pub_stream_id_format(const struct pub_stream_id *id, char *buf, size_t len);

struct pub_kv {
	const char *key;   /* [a-z0-9_.-], 1..PUB_KEY_MAX bytes, not a fixed field name */
	const char *value; /* NULL or "" = omitted */
};

/* One engine event. NULL or "" strings are left out of the stream entry. */
struct pub_event {
	const char *type;      /* required, e.g. "call.queued", "target.state" */
	uint64_t ts_ms;        /* wall clock of the event; 0 = now */
	const char *call_id;
	const char *target_id;
	const char *territory;
	const char *queue;
	const char *state;
	const char *reason;
	struct pub_kv extra[PUB_MAX_EXTRA];
	size_t n_extra;
	/* May carry personal data (a caller's number...): the event gets a
	 * stream entry of its own, so an erasure removes it and nothing else.
	 * Types other than call.* and target.* always get one. */
	bool personal;
};

/* A target (rep or partner) as a wallboard shows it. */
struct pub_target {
	const char *id;        /* required */
	const char *name;
	const char *kind;      /* "rep" | "partner" */
	const char *state;     /* e.g. "ready", "not_ready", "wrap_up", "logged_out" */
	const char *reason;    /* not-ready reason */
	uint64_t since_ms;     /* wall clock of the last state change */
	uint32_t active;       /* seats in use (reserved + connected + wrap-up) */
	uint32_t capacity;
	uint32_t calls_today;
	uint64_t last_end_ms;  /* wall clock of the last call's end, 0 = none */
	bool closed;           /* its calendar is closed: it takes no calls */
};

/* A queue: calls waiting for one kind of target in one territory. */
struct pub_queue {
	const char *name;      /* required */
	const char *territory;
	uint32_t waiting;
	uint32_t available;    /* members that could take a call now */
	uint32_t members;
	uint64_t oldest_ms;    /* wall clock of the oldest waiting call's offer, 0 = none */
	const char *oldest_call;
};

/* A live call. ended = true publishes the final state, gives the hash a TTL
 * of call_ttl_s and takes the id out of the live-call set. */
struct pub_call {
	const char *id;        /* required */
	const char *territory;
	const char *plan;
	const char *target_id; /* reserved / connected target */
	const char *queue;
	const char *state;     /* e.g. "queued", "reserved", "connected", "ended" */
	const char *reason;    /* end reason / disposition */
	uint32_t step;         /* plan step */
	uint32_t priority;
	uint64_t offered_ms, queued_ms, answered_ms, ended_ms; /* 0 = not yet */
	bool ended;
};

/* Engine-wide counters since start, and targets by state now. */
struct pub_totals {
	uint64_t offered, routed, queued, rejected, abandoned, completed;
	uint32_t live_calls, waiting_calls;
	uint32_t targets_ready, targets_busy, targets_not_ready, targets_wrap_up,
		targets_logged_out;
};

/*
 * Hooks, each may be NULL.
 * - resync: called (from a zero-delay timer, never inside a hiredis callback)
 *   each time a connection is ready, including the first. The engine must
 *   re-publish its full current state: pub_target for every target,
 *   pub_queue for every queue, pub_call for every live call. Hashes of
 *   targets, queues and calls it does not mention are deleted afterwards.
 * - totals: called every snapshot_ms while connected; fill *out. The result
 *   is written to the totals hash. Without it, the engine calls pub_totals.
 */
struct pub_hooks {
	void (*resync)(void *arg, struct pub *p);
	void (*totals)(void *arg, struct pub_totals *out);
	/* The current state of a target / live call marked with pub_target_dirty
	 * / pub_call_dirty, asked for when its hash is written; the strings must
	 * stay valid until the hook returns to the publisher. false: it is gone,
	 * nothing is written. NULL: the *_dirty calls are refused. */
	bool (*target)(void *arg, const char *id, struct pub_target *out);
	bool (*call)(void *arg, const char *id, struct pub_call *out);
};

/* Counters for metrics and the health hash. */
struct pub_stats {
	bool connected;          /* handshake done, commands flowing */
	uint64_t accepted;       /* events taken by pub_event (not dropped) */
	uint64_t published;      /* events Redis added to the stream */
	uint64_t dup_skipped;    /* replayed events Redis already had */
	uint64_t replayed;       /* events added on a later connection than they arrived on */
	uint64_t rebased;        /* never-sent events re-numbered above the stream's last ID */
	uint64_t dropped;        /* events lost: buffer full without journal, journal I/O error */
	uint64_t inflight;       /* commands sent and not yet answered */
	uint64_t buffered;       /* events in memory, not yet acknowledged */
	uint64_t journaled;      /* events in the journal, not yet read back */
	uint64_t journal_bytes;  /* bytes of those */
	uint64_t state_pending;  /* state hashes waiting for a command slot */
	uint64_t state_skipped;  /* state updates discarded while Redis was away */
	uint64_t connects;       /* connections that reached the ready state */
	uint64_t reconnects;     /* of those, after the first */
	uint64_t errors;         /* error replies, failed connects, lost connections */
	uint64_t leads_published; /* of published: entries added to the lead stream */
	uint64_t erasures;       /* erasure jobs finished */
	uint64_t erased_entries; /* stream entries removed by them */
	uint64_t entries;        /* entries added to the event stream (each holds 1+ events) */
	uint64_t write_stalls;   /* writes that found Redis's socket full (it reads too slowly) */
};

/*
 * Create a publisher on base. cfg is borrowed and must outlive the publisher
 * (cfg->enabled is the caller's to check). hooks is copied; hooks and arg may
 * be NULL. Zero / NULL fields take defaults: prefix "cl:", max_inflight
 * 10000, snapshot_ms 1000, call_ttl_s 3600, stream_batch 64; stream_maxlen 0 =
 * no trimming; state_flush_ms 0 = state hashes written at once.
 * A host that is not a numeric address is resolved here, once.
 * If cfg->journal is set, it is opened (created if missing) and events left
 * in it by a previous run are replayed before any new one.
 * Connecting starts at once and never blocks; Redis may be down.
 * Returns NULL (logged) on bad configuration, unusable journal or no memory.
 */
struct pub *pub_new(struct event_base *base, const struct cfg_redis *cfg,
		    const struct pub_hooks *hooks, void *arg);

/*
 * Drop the connection and free everything. Events not yet acknowledged are
 * written to the journal (synchronously, ahead of what it holds) so the next
 * run replays them; without a journal they are counted as dropped and logged.
 * For a clean stop, call pub_flush and run the loop until pub_idle() (with a
 * deadline) first. NULL does nothing. Not from inside a pub hook.
 */
void pub_free(struct pub *p);

/* Send the pending state hashes now, without waiting for state_flush_ms
 * (a clean stop). NULL does nothing. */
void pub_flush(struct pub *p);
/* Nothing left to send or waiting for an answer: no events, no state. */
bool pub_idle(const struct pub *p);

/*
 * Append an event to the stream. ev is borrowed for the call. On success
 * *id (may be NULL) receives the stream ID it will have (re-assigned only if
 * the clock stepped back below the stream's last ID; see stats.rebased).
 * Returns 0 (sent, buffered or journaled), -PUB_EINVAL (nothing kept),
 * -PUB_EDROP (buffer full and no journal; counted in dropped) or -PUB_ENOMEM.
 */
int pub_event(struct pub *p, const struct pub_event *ev, struct pub_stream_id *id);

/* Decimal text of v into buf (at least 20 bytes, not NUL-terminated), for
 * field values built on hot paths. Returns the length. */
size_t pub_u64_dec(uint64_t v, char *buf);

/*
 * State hashes. Latest wins: a newer update of the same object replaces one
 * still waiting. While Redis is away they are discarded (resync rewrites them).
 * Return 0 or -PUB_EINVAL / -PUB_ENOMEM.
 */
int pub_target(struct pub *p, const struct pub_target *t);
int pub_target_del(struct pub *p, const char *id);
int pub_queue(struct pub *p, const struct pub_queue *q);
int pub_queue_del(struct pub *p, const char *name);
int pub_call(struct pub *p, const struct pub_call *c);
/*
 * Mark a target's / live call's hash as changed without building it: when it
 * is written (after state_flush_ms), hooks.target / hooks.call give its state
 * then. Many changes between two writes cost one lookup each and one write.
 * A call's end goes through pub_call (its final state, with the TTL).
 * Returns 0 or -PUB_EINVAL (bad id, no hook) / -PUB_ENOMEM.
 */
int pub_target_dirty(struct pub *p, const char *id);
int pub_call_dirty(struct pub *p, const char *id);

/*
 * Append a lead to the lead stream (<prefix>leads), delivered exactly once
 * like events (memory, journal, replay). fields (borrowed) are the entry's
 * field/value pairs in order: names [a-z0-9_.-]{1,64}, unique; NULL or ""
 * values are left out; at most 24. Returns as pub_event.
 */
int pub_lead(struct pub *p, const struct pub_kv *fields, size_t n, struct pub_stream_id *id);

/*
 * Register an index set: <prefix><set> lists the names of the live hashes
 * <prefix><hash_kind><name> (e.g. "followups" and "followup:"). Returns its
 * number (>= 0) for pub_hash_set, or -PUB_EINVAL (bad names, the set is
 * registered with another kind, or too many sets). Registering the same
 * pair again returns the same number. On every (re)connection, names in the
 * set that no resync listener wrote are deleted with their hashes.
 */
int pub_index_add(struct pub *p, const char *set, const char *hash_kind);

/*
 * Write a whole hash, latest wins (like pub_target): with index >= 0 the key
 * is <prefix><hash_kind><name> and name joins the index set (done: leaves
 * it, the hash stays ttl_s); with index -1 the key is <prefix><name>.
 * ttl_s > 0 sets an EXPIRE after each write. fields are written in full
 * (NULL values as ""): names [a-z0-9_.-]{1,64}, at most 24. Discarded while
 * Redis is away (the resync rewrites). Returns 0 or -PUB_EINVAL/-PUB_ENOMEM.
 */
int pub_hash_set(struct pub *p, int index, const char *name, const struct pub_kv *fields,
		 size_t n, uint32_t ttl_s, bool done);
/* Delete such a hash (and its name from the index set). */
int pub_hash_del(struct pub *p, int index, const char *name);

/*
 * Another resync listener (up to 4), called in the same pass as the resync
 * hook, after it: it must rewrite every hash it owns with pub_hash_set.
 * When the publisher is already connected it runs soon, from the loop.
 * pub_remove_resync drops the listeners registered with arg.
 */
int pub_add_resync(struct pub *p, void (*fn)(void *arg, struct pub *p), void *arg);
void pub_remove_resync(struct pub *p, void *arg);

/* What an erasure removed from Redis. */
struct pub_erase_result {
	uint64_t events_removed; /* entries removed from the event stream */
	uint64_t leads_removed;  /* entries removed from the lead stream */
	uint32_t restarts;       /* scans started again after a lost connection */
};

/*
 * Erasure: remove every entry of the event and lead streams that has a field
 * whose value equals one of values (borrowed, copied; compared without
 * regard to ASCII case; 1..8 values of 1..PUB_VALUE_MAX bytes). The job runs
 * once Redis holds everything accepted before this call (so no entry of it
 * can arrive later), scanning both streams in batches with XRANGE and
 * removing matches with XDEL; a lost connection restarts the scan. done(arg,
 * result) is called from the loop when it has finished; it is never called
 * if pub_erase fails, the job is cancelled or the publisher is freed first.
 * Jobs run one at a time, in order. Returns 0, -PUB_EINVAL or -PUB_ENOMEM.
 * A NULL p does nothing and never calls done.
 */
int pub_erase(struct pub *p, const char *const *values, size_t n,
	      void (*done)(void *arg, const struct pub_erase_result *r), void *arg);
/* Drop the jobs of arg (their done is never called). */
void pub_erase_cancel(struct pub *p, void *arg);
/* Jobs not yet finished. */
size_t pub_erase_pending(const struct pub *p);

/* Write the totals hash now (when connected; otherwise it is skipped). */
int pub_totals(struct pub *p, const struct pub_totals *t);

void pub_get_stats(const struct pub *p, struct pub_stats *out);
bool pub_connected(const struct pub *p);
/* Events accepted and not yet in the stream (memory + journal). */
uint64_t pub_backlog(const struct pub *p);

#ifdef __cplusplus
}
#endif
#endif /* CL_PUB_H */
