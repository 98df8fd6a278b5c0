/*
 * tstream.h — the integration tests' reader of the event stream.
 *
 * The publisher writes the event stream (<prefix>events) in batches: each
 * entry has two fields, `n` (decimal count) and `events` (a JSON array of
 * that many objects, one per event: "id" plus the event's fields, every value
 * a JSON string). The entry's stream ID is the last event's id. Events of
 * the types call.* and target.* may share an entry; any other type is alone
 * in its entry.
 *
 * tstream_read pages through the whole stream with XRANGE, checks every one
 * of those rules (exact field names, n equals the array length, ids
 * strictly increasing within and across entries, entry ID equal to the last
 * event's id, solo types alone) and returns the flat list of events, in
 * stream order. A violation is an error with a message naming the entry, so
 * a test can fail on it. Blocking hiredis; test code only.
 */
#ifndef CL_TSTREAM_H
#define CL_TSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest "<ms>-<seq>" text, with the NUL. */
#define TSTREAM_ID_LEN 42

struct tstream_event {
	uint64_t ms, seq;             /* the event's own id */
	char id[TSTREAM_ID_LEN];      /* the same as text */
	char entry[TSTREAM_ID_LEN];   /* the stream ID of the entry holding it */
	size_t entry_index;           /* 0-based number of that entry in what was read */
	size_t entry_n;               /* events in that entry */
	size_t pos;                   /* 0-based position inside the entry */
	json_t *obj;                  /* the event object; owned by the struct tstream */
};

struct tstream {
	struct tstream_event *ev; /* events in stream order */
	size_t n;                 /* events */
	size_t entries;           /* entries */
	json_t **arrays;          /* the parsed `events` arrays, one per entry (owned) */
	size_t cap_ev, cap_arr;
	uint64_t last_ms, last_seq; /* id of the last event taken (ordering check) */
	int have_last;
};

/* An empty list (also what tstream_free leaves). */
void tstream_init(struct tstream *s);

/*
 * Read the whole stream key with XRANGE (pages of 500 entries) into s
 * (tstream_init'ed or freed before). A missing key is an empty stream.
 * Returns 0, or -1 with a message in err (redis error, malformed entry,
 * broken rule); on -1 s holds what was read before the fault (free it).
 */
int tstream_read(redisContext *c, const char *key, struct tstream *s, char *err, size_t errlen);

/*
 * Append the entries of an XRANGE / XREADGROUP entry array (each element
 * [id, [field, value, ...]]) to s, with the same checks as tstream_read
 * (ordering continues from what s already holds). Returns as tstream_read.
 */
int tstream_add_entries(struct tstream *s, const redisReply *entries, char *err, size_t errlen);

/* The string value of field in e, or NULL when e has no such field. */
const char *tstream_get(const struct tstream_event *e, const char *field);

/*
 * Events of s whose fields hold every pair of kv (key, value, key, value,
 * ...; nkv strings). nkv 0 counts every event.
 */
size_t tstream_count(const struct tstream *s, const char *const *kv, size_t nkv);

void tstream_free(struct tstream *s);

#ifdef __cplusplus
}
#endif
#endif /* CL_TSTREAM_H */
