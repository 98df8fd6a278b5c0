/*
 * pub_internal.h — the pure parts of the Redis publisher, shared by pub.c and
 * the unit tests: stream-ID generation, key naming, the record format (one
 * event or one state hash as field/value pairs), its JSON form for pub/sub,
 * the reconnect backoff, and the journal file (pub_journal.c).
 *
 * None of this touches hiredis or the event loop.
 */
#ifndef CL_PUB_INTERNAL_H
#define CL_PUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pub.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- stream IDs ---- */

/* The last ID handed out. Zero-initialised = nothing yet. */
struct pub_idgen {
	struct pub_stream_id last;
};

/* Next ID: "<max(now_ms, last.ms)>-<seq>", seq restarting at 0 when the
 * millisecond moves on. Strictly increasing whatever the clock does. */
void pub_idgen_next(struct pub_idgen *g, uint64_t now_ms, struct pub_stream_id *out);
/* Never hand out an ID at or below top again. */
void pub_idgen_floor(struct pub_idgen *g, const struct pub_stream_id *top);
int pub_stream_id_cmp(const struct pub_stream_id *a, const struct pub_stream_id *b);
/* Parse "<ms>" or "<ms>-<seq>" (s need not be NUL-terminated). 0 or -PUB_EINVAL. */
int pub_stream_id_parse(const char *s, size_t len, struct pub_stream_id *out);

/* ---- keys ---- */

/* Key kinds; the names are part of the contract (docs/redis.md). */
#define PUB_K_EVENTS "events"         /* stream */
#define PUB_K_LEADS "leads"           /* stream: leads for the CRM */
#define PUB_K_CHANNEL "events:live"   /* pub/sub channel */
#define PUB_K_TARGET "target:"        /* hash per target, + id */
#define PUB_K_TARGETS "targets"       /* set of target ids */
#define PUB_K_QUEUE "queue:"          /* hash per queue, + name */
#define PUB_K_QUEUES "queues"         /* set of queue names */
#define PUB_K_CALL "call:"            /* hash per call, + id */
#define PUB_K_CALLS "calls"           /* set of live call ids */
#define PUB_K_TOTALS "totals"         /* hash */
#define PUB_K_HEALTH "pub"            /* hash: publisher health */

#define PUB_PREFIX_MAX 64
#define PUB_RKEY_MAX (PUB_PREFIX_MAX + 16 + PUB_ID_MAX)

/* prefix + kind + id (id may be NULL) into buf, NUL-terminated. Returns the
 * length, or -PUB_EINVAL if it does not fit in len. */
int pub_key(char *buf, size_t len, const char *prefix, const char *kind, const char *id);

/* ---- records ---- */

#define PUB_REC_MAX_FIELDS 24      /* field/value pairs per record */
#define PUB_REC_MAX_DATA 16384     /* bytes of encoded pairs */

enum {
	PUB_REC_SENT = 1u << 0,   /* handed to Redis at least once: may be applied */
	PUB_REC_FAILED = 1u << 1, /* Redis answered with an error */
	PUB_REC_ACKED = 1u << 2,  /* in the stream (memory only) */
	PUB_REC_LEADS = 1u << 3,  /* goes to the lead stream, not the event stream */
	PUB_REC_SOLO = 1u << 4,   /* an entry of its own (may hold personal data) */
};

/* The streams of the FIFO, by index. */
enum { PUB_STREAM_EVENTS = 0, PUB_STREAM_LEADS = 1, PUB_NSTREAMS = 2 };

/* One event (or one state hash): id + field/value pairs. data holds nf pairs,
 * each string as a 4-byte little-endian length then its bytes. */
struct pub_rec {
	struct pub_stream_id id;
	uint32_t flags;
	uint32_t epoch;            /* connection epoch it arrived in (memory only) */
	uint32_t nf;
	uint32_t len;              /* bytes in data */
	char data[];
};

/* Builds the pairs of one record on the stack. An error (too long, too many)
 * sticks in err and is reported by pub_rec_new. */
struct pub_recb {
	uint32_t nf;
	uint32_t len;
	int err;
	char data[PUB_REC_MAX_DATA];
};

void pub_recb_init(struct pub_recb *b);
/* Add a pair; v == NULL or "" is skipped unless keep_empty. */
void pub_recb_add(struct pub_recb *b, const char *k, const char *v, bool keep_empty);
void pub_recb_addn(struct pub_recb *b, const char *k, const char *v, size_t vlen);
void pub_recb_add_u64(struct pub_recb *b, const char *k, uint64_t v);
/* Heap copy of the builder's pairs (flags, epoch 0). NULL on error or no memory;
 * *err (may be NULL) says which. Free with free(). */
struct pub_rec *pub_rec_new(const struct pub_recb *b, int *err);
struct pub_rec *pub_rec_dup(const struct pub_rec *r);

/* Walk the pairs: fills up to max (name, value) pointers and lengths, which
 * point into r. Returns the number of strings (2 * pairs) or -PUB_EINVAL if the
 * data is malformed or does not fit. */
int pub_rec_strings(const struct pub_rec *r, const char **s, size_t *slen, size_t max);

/* Upper bound of the JSON form's length. */
size_t pub_rec_json_max(const struct pub_rec *r);
/* {"id":"<ms>-<seq>","k":"v",...} into buf (at least pub_rec_json_max bytes).
 * Invalid UTF-8 becomes U+FFFD, control characters are escaped. Returns the length. */
size_t pub_rec_json(const struct pub_rec *r, char *buf);

/* Escape s as a JSON string body into out (at least 6 * n bytes). Returns the length. */
size_t pub_json_escape(const char *s, size_t n, char *out);

/* ---- RESP ---- */

/* Bytes needed to encode a command of argc arguments with these lengths. */
size_t pub_resp_size(int argc, const size_t *len);
/* Encode the command as a RESP array of bulk strings ("*2\r\n$3\r\nGET\r\n...")
 * into out (pub_resp_size bytes). Returns the length. Binary safe. */
size_t pub_resp_format(char *out, int argc, const char *const *argv, const size_t *len);

/* ---- reconnect backoff: capped exponential with equal jitter ---- */

struct pub_backoff {
	uint32_t min_ms, max_ms;
	uint32_t cur_ms;           /* ceiling of the next delay */
	uint64_t rng;              /* xorshift64 state, never 0 */
};

void pub_backoff_init(struct pub_backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed);
/* Delay before the next attempt, in [cur/2, cur]; then cur doubles, up to max. */
uint32_t pub_backoff_next(struct pub_backoff *b);
/* After a good connection: start again from min. */
void pub_backoff_reset(struct pub_backoff *b);

/* ---- journal (pub_journal.c) ---- */

/*
 * An append-only file of records, read back in order. On disk each record is
 * a 16-byte header (magic "CLJ1", payload length, CRC-32 of the payload,
 * reserved) then the payload (id, flags, pairs). Appends collect in memory and
 * reach the file in batches (pub_journal_flush, or once the batch passes
 * PUB_JOURNAL_BATCH). Reads come from the file in chunks; once everything is
 * read the file is truncated to zero, so it is empty while Redis keeps up.
 * A torn or corrupt tail left by a crash is cut off at open.
 */
struct pub_journal;

#define PUB_JOURNAL_BATCH 65536

/* Open or create path. *loaded receives the records already in it. Returns 0,
 * -PUB_EIO (errno kept) or -PUB_ENOMEM. */
int pub_journal_open(const char *path, struct pub_journal **out, uint64_t *loaded);
/* Flushes the batch (errors are only counted), closes. NULL does nothing. */
void pub_journal_close(struct pub_journal *j);

/* Queue a copy of r for writing. Returns 0 or a negative PUB_E* code; a flush
 * failure inside returns -PUB_EIO with *lost (records lost) set. */
int pub_journal_append(struct pub_journal *j, const struct pub_rec *r, uint64_t *lost);
/* Write the batch. On failure the file is cut back to its last good size,
 * the batch is lost, *lost says how many records, and -PUB_EIO is returned. */
int pub_journal_flush(struct pub_journal *j, uint64_t *lost);

/* Next unread record (heap, caller frees; flags as written): 1, 0 when none,
 * or -PUB_EIO (a corrupt record: everything unread is discarded, *lost says
 * how many) / -PUB_ENOMEM. */
int pub_journal_next(struct pub_journal *j, struct pub_rec **out, uint64_t *lost);

uint64_t pub_journal_count(const struct pub_journal *j);  /* unread records */
uint64_t pub_journal_bytes(const struct pub_journal *j);  /* unread bytes */
bool pub_journal_batch_pending(const struct pub_journal *j);

/* Shutdown: rewrite the file as recs[0..n) then everything unread, fsync and
 * rename into place. Returns 0 or -PUB_EIO (the old file is left as it was). */
int pub_journal_prepend(struct pub_journal *j, struct pub_rec *const *recs, size_t n);

/* Encoded size of r on disk. */
size_t pub_journal_rec_size(const struct pub_rec *r);
/* CRC-32 (IEEE) of the journal's record payloads. */
uint32_t pub_journal_crc32(const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* CL_PUB_INTERNAL_H */
