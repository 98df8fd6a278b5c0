/*
 * cfg_internal.h — what the two halves of the configuration loader share:
 * the YAML tree and the loader state, the generic value readers and the
 * error reporting (cfg_tree.c), used by the schema walk (cfg.c).
 *
 * Conventions of every reader below:
 * - A node is a uint32_t index into the tree; 0 means "none" (absent key,
 *   or a null value).
 * - Failure returns -1 (or 0 for node-returning helpers, where noted) after
 *   recording the first error of the load as "file:line: path: message" in
 *   the loader (cfg_fail); later errors are dropped. Nothing is printed.
 * - `path` is the dotted position in the document (reps[3].skills), pushed
 *   and popped around each nested read so messages name where they are.
 * - Strings handed out are heap copies owned by the config being built.
 *
 * Private to the cfg module: not installed, not for other modules.
 */
#ifndef CL_CFG_INTERNAL_H
#define CL_CFG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "cfg.h"

/* uthash: report allocation failure through the element instead of exit(). */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) ((obj)->oom = true)
#include <uthash.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CFG_MAX_DEPTH 32 /* YAML nesting; the schema needs 5 */
#define CFG_QUOTE_MAX 60 /* bytes of a bad value repeated in an error */

/* ------------------------------------------------------------------ tree */

enum cfg_yn_type { CFG_YN_SCALAR = 1, CFG_YN_SEQ = 2, CFG_YN_MAP = 3 };

struct cfg_yn {
	uint32_t line;  /* 1-based */
	uint32_t first; /* first child; 0 = none */
	uint32_t next;  /* next sibling; 0 = none */
	uint32_t count; /* children; a map holds key, value, key, value, ... */
	uint32_t off;   /* scalar text in the arena (NUL-terminated) */
	uint32_t len;   /* scalar length in bytes (never holds a NUL) */
	uint8_t type;
	uint8_t plain;  /* unquoted plain scalar: may be null */
};

struct cfg_ytree {
	struct cfg_yn *n; /* n[0] is unused so that 0 means "none" */
	uint32_t nn, cap;
	char *arena;
	size_t alen, acap;
	uint32_t root;
};

/* One name -> index binding of a load-time lookup table. */
struct cfg_hent {
	const char *key; /* borrowed from the config being built */
	int idx;
	uint32_t line;
	bool oom;
	UT_hash_handle hh;
};

/* Loader state for one load. */
struct cfg_ld {
	const char *file;
	char *err;
	size_t errlen;
	bool failed;
	char path[256]; /* e.g. "reps[3].skills" */
	size_t plen;
	struct cfg_ytree t;
	struct cl_config *cfg;
	struct cfg_hent *h_skill, *h_terr, *h_target, *h_plan, *h_token;
};

/* Node i and its scalar text. Short names on purpose: the schema walk uses
 * them on nearly every line. i must be a node of ld's tree. */
static inline struct cfg_yn *N(const struct cfg_ld *ld, uint32_t i) { return &ld->t.n[i]; }

static inline const char *S(const struct cfg_ld *ld, uint32_t i)
{
	return ld->t.arena + ld->t.n[i].off;
}

/* Build ld->t from the parser's events (input already set on p). One
 * document; aliases and nesting deeper than CFG_MAX_DEPTH are errors. */
int cfg_tree_build(struct cfg_ld *ld, yaml_parser_t *p);
/* Free the tree and zero it; a zeroed tree may be freed again. */
void cfg_tree_free(struct cfg_ytree *t);

/* ---------------------------------------------------------------- errors */

/* Copy of s (len bytes) fit to repeat in a message, in buf: truncated with
 * "...", control bytes as '?'. Returns buf. */
const char *cfg_qs(char buf[CFG_QUOTE_MAX + 4], const char *s, size_t len);

/* Record the first error as "file:line: path: message"; always returns -1. */
int cfg_fail(struct cfg_ld *ld, uint32_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* cfg_fail(ld, line, "out of memory"). */
int cfg_oom(struct cfg_ld *ld, uint32_t line);

/* Append ".key" or "[i]" to the error path; return the old length for
 * cfg_pop, which restores it. */
size_t cfg_push_key(struct cfg_ld *ld, const char *key);
size_t cfg_push_idx(struct cfg_ld *ld, size_t i);
void cfg_pop(struct cfg_ld *ld, size_t old);

/* ---------------------------------------------------------- node readers */

/* A plain ~, null or empty scalar: "key not given". */
bool cfg_is_null(const struct cfg_ld *ld, uint32_t i);
/* "a mapping", "a list" or "a scalar", for messages. */
const char *cfg_type_name(const struct cfg_ld *ld, uint32_t i);

/*
 * Check a mapping against its allowed keys (at most 64). vals[k] receives the
 * value node of keys[k], or 0 when the key is absent or its value is null.
 * Unknown keys, duplicate keys and non-scalar keys are errors.
 */
int cfg_map_fields(struct cfg_ld *ld, uint32_t map, const char *const *keys, size_t nk,
		   uint32_t *vals);
/* Value node of key in map, or 0 (absent or not a map). No error recorded. */
uint32_t cfg_map_lookup(const struct cfg_ld *ld, uint32_t map, const char *key);

/* Text rules for strings. */
enum cfg_str_kind {
	CFG_STR_WORD, /* no spaces or control characters: ids, names, tokens, hosts */
	CFG_STR_TEXT, /* no control characters: display names, reasons, passwords */
};

/* Check scalar i as a string of 1..maxlen bytes of the given kind. */
int cfg_check_str(struct cfg_ld *ld, uint32_t i, enum cfg_str_kind kind, size_t maxlen);
/* strdup that records "out of memory" at line; NULL on failure. */
char *cfg_strdup(struct cfg_ld *ld, const char *s, uint32_t line);
/* Checked string copy of node v (under key, for the error path) into *dst,
 * freeing what *dst held. */
int cfg_get_str(struct cfg_ld *ld, const char *key, uint32_t v, enum cfg_str_kind kind,
		size_t maxlen, char **dst);

/* A decimal integer in [min, max]; *out untouched on failure. */
int cfg_scalar_u64(struct cfg_ld *ld, uint32_t v, uint64_t min, uint64_t max, uint64_t *out);
/* The get_* readers do nothing for v = 0 (the default stays) and push key on
 * the error path. */
int cfg_get_u32(struct cfg_ld *ld, const char *key, uint32_t v, uint32_t min, uint32_t max,
		uint32_t *dst);
/* A decimal number in [min, max] (min excluded when min_open). */
int cfg_get_double(struct cfg_ld *ld, const char *key, uint32_t v, double min, double max,
		   bool min_open, double *dst);
/* true/false (also yes/no, on/off: YAML 1.1 spellings), any case. */
int cfg_scalar_bool(struct cfg_ld *ld, uint32_t v, bool *dst);
int cfg_get_bool(struct cfg_ld *ld, const char *key, uint32_t v, bool *dst);

/*
 * Elements of a string list: a list of scalars, or one scalar standing for a
 * list of one. Returns the count (*first = first element node) or -1.
 * Walk with: for (it = first; it; it = cfg_list_next(ld, v, it)).
 */
long cfg_list_items(struct cfg_ld *ld, uint32_t v, bool allow_empty, uint32_t *first);
uint32_t cfg_list_next(const struct cfg_ld *ld, uint32_t list, uint32_t cur);

/* Scalar v must be one of names[0..n): its index, or -1 with an error
 * listing them. */
int cfg_get_word(struct cfg_ld *ld, const char *key, uint32_t v, const char *const *names,
		 int n);

/* "host:port": a name or IPv4 address, or [IPv6]; port 0..65535 (0 = any).
 * NULL when s is fine, else what is wrong with it. */
const char *cfg_hostport_problem(const char *s);

/* ------------------------------------------------------- lookup tables */

/* Bind key (borrowed: must outlive the table) to idx. 0 or -1 (out of
 * memory, recorded at line). The caller checks for duplicates first. */
int cfg_h_add(struct cfg_ld *ld, struct cfg_hent **head, const char *key, int idx,
	      uint32_t line);
/* The binding of key, or NULL. */
const struct cfg_hent *cfg_h_find(struct cfg_hent *head, const char *key);
/* Free every binding; *head becomes NULL. */
void cfg_h_clear(struct cfg_hent **head);

/* cfg_cal.c: the calendars section (none when v is 0); a calendar's index
 * by name (-1, failed, when unknown); free them. */
int cfg_load_calendars(struct cfg_ld *ld, uint32_t v);
int cfg_calendar_ref(struct cfg_ld *ld, uint32_t v);
void cfg_calendars_free(struct cl_config *cfg);

#ifdef __cplusplus
}
#endif
#endif /* CL_CFG_INTERNAL_H */
