/*
 * terr.c — territory resolution on two array-based tries, the territory
 * hierarchy, and the coverage report (see terr.h, docs/territories.md).
 *
 * Design:
 * - Phone trie: one node per E.164 digit prefix, kept in one growable array,
 *   each node a dense 10-way child table (index 0 = no child: the root is never
 *   a child). A lookup is one array load per digit.
 * - Postal trie: alphabet 0-9 A-Z. A 36-way table per node would waste most of
 *   its slots, so children are built as sorted sibling lists and then frozen
 *   into one edge array: each node owns a contiguous run of child indexes
 *   sorted by label, plus a 36-bit mask of the labels present. The child for
 *   label k sits at popcount(mask below k) in the run: one load and one
 *   popcount per character, no scan.
 * - Every node records the territory that claims exactly that prefix (first in
 *   file order wins, `winner`) and, for the coverage report, the list of all
 *   territories claiming it, in file order (singly linked lists held in one
 *   array per trie). Resolution walks one key and remembers the last winner:
 *   O(key length), no allocation, never a scan of the territories.
 * - The hierarchy is flattened into parent/depth/root arrays at build time, so
 *   terr_root is O(1), terr_ancestor and terr_is_ancestor_or_self O(depth).
 *
 * Keys: postal codes are upper-cased and spaces and hyphens are skipped; E.164
 * numbers are the digits after the leading '+'. A configured prefix or a
 * universe entry longer than TERR_KEY_MAX characters (after normalisation) is
 * rejected: real postal codes have at most 10, E.164 numbers at most 15.
 *
 * The index is immutable once built and borrows the config; it may be read
 * from any thread. terr_coverage does file I/O and belongs off the event loop
 * (it is a command-line report).
 */
#include "terr.h"

#include "cfg.h"

#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define TERR_KEY_MAX 64
#define TERR_PHONE_FANOUT 10

enum terr_kind {
	TERR_KIND_POSTAL = 0,
	TERR_KIND_PHONE = 1,
};

/* All claims of one trie: claim i is territory terr[i], next[i] the next claim
 * of the same node (-1 ends the list). */
struct terr_claims {
	int32_t *terr;
	int32_t *next;
	size_t n, cap;
};

struct terr_pnode {
	int32_t child[TERR_PHONE_FANOUT]; /* node index, 0 = none */
	int32_t winner;                   /* territory, -1 = no rule ends here */
	int32_t claims;                   /* head of the claim list, -1 = none */
	int32_t claims_tail;              /* build: append and dedup in O(1) */
};

struct terr_phone_trie {
	struct terr_pnode *nodes;
	size_t n, cap;
	struct terr_claims claims;
};

struct terr_anode {
	uint64_t mask;     /* bit k: a child with label symbol k (0-9 A-Z = 0..35) */
	uint32_t edge_off; /* first child of this node in edge_to */
	int32_t winner;
	int32_t claims;
	int32_t claims_tail;
};

struct terr_postal_trie {
	struct terr_anode *nodes;
	size_t n, cap;
	/* frozen children: node i's children are edge_to[edge_off ...], one per
	 * bit of its mask, in label order */
	int32_t *edge_to;
	/* build only (freed by the freeze): label of each node, first child and
	 * next sibling as sorted linked lists, 0 = none */
	uint8_t *b_ch;
	int32_t *b_first;
	int32_t *b_next;
	struct terr_claims claims;
};

struct terr_index {
	const struct cl_config *cfg; /* borrowed */
	int n;                       /* territories */
	int32_t *parent;             /* -1 = root */
	int32_t *depth;              /* root = 0 */
	int32_t *root;
	struct terr_postal_trie postal;
	struct terr_phone_trie phone;
};

/* ---- keys ------------------------------------------------------------- */

static int terr_is_sep(char c)
{
	return c == ' ' || c == '-';
}

/* Postal label of c ('0'-'9', 'A'-'Z'), or 0 when c is no postal character. */
static uint8_t terr_postal_label(char c)
{
	if (c >= '0' && c <= '9')
		return (uint8_t)c;
	if (c >= 'A' && c <= 'Z')
		return (uint8_t)c;
	if (c >= 'a' && c <= 'z')
		return (uint8_t)(c - 'a' + 'A');
	return 0;
}

/* Symbol 0..35 of a postal label. */
static inline unsigned terr_postal_sym(uint8_t ch)
{
	return ch <= '9' ? (unsigned)(ch - '0') : (unsigned)(ch - 'A' + 10);
}

/*
 * Normalise a configured prefix or a universe entry into out (NUL-terminated):
 * postal → upper-case letters and digits, phone → the digits after '+'.
 * Spaces and hyphens are skipped. Returns the length, or -1 when the text is
 * empty, too long or holds anything else.
 */
static int terr_norm(enum terr_kind kind, const char *s, char out[TERR_KEY_MAX + 1])
{
	int len = 0;

	if (kind == TERR_KIND_PHONE) {
		if (*s != '+')
			return -1;
		s++;
	}
	for (; *s; s++) {
		if (terr_is_sep(*s))
			continue;
		char c;
		if (kind == TERR_KIND_PHONE)
			c = (*s >= '0' && *s <= '9') ? *s : 0;
		else
			c = (char)terr_postal_label(*s);
		if (!c || len == TERR_KEY_MAX)
			return -1;
		out[len++] = c;
	}
	out[len] = '\0';
	return len > 0 ? len : -1;
}

/* ---- claims ----------------------------------------------------------- */

static int terr_claims_add(struct terr_claims *c, int32_t *head, int32_t *tail, int32_t t)
{
	/* Territories are inserted in file order, so a territory repeating a
	 * prefix of its own can only be the tail of that node's list. */
	if (*tail >= 0 && c->terr[*tail] == t)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		if (cap > INT32_MAX)
			return -1;
		int32_t *nt = realloc(c->terr, cap * sizeof(*nt));
		if (!nt)
			return -1;
		c->terr = nt;
		int32_t *nn = realloc(c->next, cap * sizeof(*nn));
		if (!nn)
			return -1;
		c->next = nn;
		c->cap = cap;
	}
	int32_t i = (int32_t)c->n++;
	c->terr[i] = t;
	c->next[i] = -1;
	if (*tail >= 0)
		c->next[*tail] = i;
	else
		*head = i;
	*tail = i;
	return 0;
}

static void terr_claims_free(struct terr_claims *c)
{
	free(c->terr);
	free(c->next);
}

/* ---- phone trie ------------------------------------------------------- */

static int32_t terr_phone_node_new(struct terr_phone_trie *p)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		if (cap > INT32_MAX)
			return -1;
		struct terr_pnode *nn = realloc(p->nodes, cap * sizeof(*nn));
		if (!nn)
			return -1;
		p->nodes = nn;
		p->cap = cap;
	}
	struct terr_pnode *nd = &p->nodes[p->n];
	memset(nd->child, 0, sizeof(nd->child));
	nd->winner = -1;
	nd->claims = -1;
	nd->claims_tail = -1;
	return (int32_t)p->n++;
}

/* key: normalised digits. */
static int terr_phone_insert(struct terr_phone_trie *p, const char *key, int32_t t)
{
	int32_t n = 0;

	for (; *key; key++) {
		int d = *key - '0';
		int32_t c = p->nodes[n].child[d];
		if (!c) {
			if ((c = terr_phone_node_new(p)) < 0)
				return -1;
			p->nodes[n].child[d] = c; /* after the call: nodes may move */
		}
		n = c;
	}
	struct terr_pnode *nd = &p->nodes[n];
	if (nd->winner < 0)
		nd->winner = t;
	return terr_claims_add(&p->claims, &nd->claims, &nd->claims_tail, t);
}

/* ---- postal trie ------------------------------------------------------ */

static int32_t terr_postal_node_new(struct terr_postal_trie *a, uint8_t ch)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		if (cap > INT32_MAX)
			return -1;
		struct terr_anode *nn = realloc(a->nodes, cap * sizeof(*nn));
		if (!nn)
			return -1;
		a->nodes = nn;
		uint8_t *nc = realloc(a->b_ch, cap);
		if (!nc)
			return -1;
		a->b_ch = nc;
		int32_t *nf = realloc(a->b_first, cap * sizeof(*nf));
		if (!nf)
			return -1;
		a->b_first = nf;
		int32_t *nx = realloc(a->b_next, cap * sizeof(*nx));
		if (!nx)
			return -1;
		a->b_next = nx;
		a->cap = cap;
	}
	size_t i = a->n++;
	a->nodes[i] = (struct terr_anode){ .winner = -1, .claims = -1, .claims_tail = -1 };
	a->b_ch[i] = ch;
	a->b_first[i] = 0;
	a->b_next[i] = 0;
	return (int32_t)i;
}

/* key: normalised labels. Children stay sorted by label as they are added. */
static int terr_postal_insert(struct terr_postal_trie *a, const char *key, int32_t t)
{
	int32_t n = 0;

	for (; *key; key++) {
		uint8_t ch = (uint8_t)*key;
		int32_t prev = 0, c = a->b_first[n];
		while (c && a->b_ch[c] < ch) {
			prev = c;
			c = a->b_next[c];
		}
		if (!c || a->b_ch[c] != ch) {
			int32_t m = terr_postal_node_new(a, ch);
			if (m < 0)
				return -1;
			a->b_next[m] = c;
			if (prev)
				a->b_next[prev] = m;
			else
				a->b_first[n] = m;
			c = m;
		}
		n = c;
	}
	struct terr_anode *nd = &a->nodes[n];
	if (nd->winner < 0)
		nd->winner = t;
	return terr_claims_add(&a->claims, &nd->claims, &nd->claims_tail, t);
}

/* Lay every node's children out as one sorted run of edges; drop the lists. */
static int terr_postal_freeze(struct terr_postal_trie *a)
{
	size_t n_edges = a->n - 1; /* every node but the root is one edge */

	a->edge_to = malloc((n_edges ? n_edges : 1) * sizeof(*a->edge_to));
	if (!a->edge_to)
		return -1;
	uint32_t off = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct terr_anode *nd = &a->nodes[i];
		nd->edge_off = off;
		nd->mask = 0;
		for (int32_t c = a->b_first[i]; c; c = a->b_next[c]) {
			nd->mask |= 1ull << terr_postal_sym(a->b_ch[c]);
			a->edge_to[off++] = c;
		}
	}
	free(a->b_ch);
	free(a->b_first);
	free(a->b_next);
	a->b_ch = NULL;
	a->b_first = a->b_next = NULL;
	return 0;
}

/* Bits set in x. Unless the compiler may use the popcount instruction
 * (-mpopcnt, -march=x86-64-v2 and up), __builtin_popcountll is a library call
 * that nearly doubled the cost of a postal lookup; this inline SWAR form costs
 * a few cycles more than the instruction. */
static inline unsigned terr_popcount(uint64_t x)
{
#ifdef __POPCNT__
	return (unsigned)__builtin_popcountll(x);
#else
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
#endif
}

/* Child of node n by label ch, or 0: the rank of ch's bit in the mask. */
static inline int32_t terr_postal_child(const struct terr_postal_trie *a, int32_t n, uint8_t ch)
{
	const struct terr_anode *nd = &a->nodes[n];
	unsigned k = terr_postal_sym(ch);

	if (!(nd->mask >> k & 1))
		return 0;
	return a->edge_to[nd->edge_off + terr_popcount(nd->mask & ((1ull << k) - 1))];
}

static void terr_postal_free(struct terr_postal_trie *a)
{
	free(a->nodes);
	free(a->edge_to);
	free(a->b_ch);
	free(a->b_first);
	free(a->b_next);
	terr_claims_free(&a->claims);
}

/* ---- build ------------------------------------------------------------ */

/*
 * Flatten the hierarchy. Each territory is visited once: walk up until a
 * territory whose depth is known (or past a root), then fill the path.
 * mark[] catches cycles. Returns -1 on a parent out of range or a cycle.
 */
static int terr_hierarchy(struct terr_index *ti)
{
	const struct cl_config *cfg = ti->cfg;
	int n = ti->n;
	int32_t *mark = malloc((size_t)(n ? n : 1) * sizeof(*mark));

	if (!mark)
		return -1;
	for (int t = 0; t < n; t++) {
		int p = cfg->territories[t].parent;
		if (p < -1 || p >= n) {
			free(mark);
			return -1;
		}
		ti->parent[t] = p;
		ti->depth[t] = -1;
		mark[t] = -1;
	}
	for (int t = 0; t < n; t++) {
		if (ti->depth[t] >= 0)
			continue;
		int32_t u = t, top = t, len = 0;
		while (u >= 0 && ti->depth[u] < 0) {
			if (mark[u] == t) {
				free(mark);
				return -1; /* cycle */
			}
			mark[u] = t;
			top = u;
			u = ti->parent[u];
			len++;
		}
		int32_t d = (u < 0 ? -1 : ti->depth[u]) + len;
		int32_t r = u < 0 ? top : ti->root[u];
		for (u = t; len > 0; len--, d--) {
			ti->depth[u] = d;
			ti->root[u] = r;
			u = ti->parent[u];
		}
	}
	free(mark);
	return 0;
}

/*
 * Besides allocation failure, NULL also answers a config the loader would have
 * refused (parent out of range or in a cycle, default_territory out of range,
 * an empty or malformed prefix): the index never guesses. Cost O(total rule
 * length + territories); runs once per (re)load.
 */
struct terr_index *terr_index_new(const struct cl_config *cfg)
{
	struct terr_index *ti;
	char key[TERR_KEY_MAX + 1];

	if (!cfg || cfg->n_territories > INT32_MAX || (cfg->n_territories && !cfg->territories))
		return NULL;
	if (cfg->default_territory < -1 || cfg->default_territory >= (long)cfg->n_territories)
		return NULL;
	if (!(ti = calloc(1, sizeof(*ti))))
		return NULL;
	ti->cfg = cfg;
	ti->n = (int)cfg->n_territories;
	size_t na = ti->n ? (size_t)ti->n : 1;
	ti->parent = malloc(na * sizeof(*ti->parent));
	ti->depth = malloc(na * sizeof(*ti->depth));
	ti->root = malloc(na * sizeof(*ti->root));
	if (!ti->parent || !ti->depth || !ti->root)
		goto fail;
	if (terr_hierarchy(ti) < 0)
		goto fail;

	if (terr_postal_node_new(&ti->postal, 0) < 0 || terr_phone_node_new(&ti->phone) < 0)
		goto fail;
	for (int t = 0; t < ti->n; t++) {
		const struct cfg_territory *ct = &cfg->territories[t];
		for (size_t i = 0; i < ct->n_postal; i++) {
			if (!ct->postal[i] || terr_norm(TERR_KIND_POSTAL, ct->postal[i], key) < 0)
				goto fail;
			if (terr_postal_insert(&ti->postal, key, t) < 0)
				goto fail;
		}
		for (size_t i = 0; i < ct->n_phone; i++) {
			if (!ct->phone[i] || terr_norm(TERR_KIND_PHONE, ct->phone[i], key) < 0)
				goto fail;
			if (terr_phone_insert(&ti->phone, key, t) < 0)
				goto fail;
		}
	}
	if (terr_postal_freeze(&ti->postal) < 0)
		goto fail;
	return ti;

fail:
	terr_index_free(ti);
	return NULL;
}

void terr_index_free(struct terr_index *ti)
{
	if (!ti)
		return;
	terr_postal_free(&ti->postal);
	free(ti->phone.nodes);
	terr_claims_free(&ti->phone.claims);
	free(ti->root);
	free(ti->depth);
	free(ti->parent);
	free(ti);
}

/* ---- resolution ------------------------------------------------------- */

/* Longest configured postal prefix of s, or -1. Spaces and hyphens are
 * skipped, case ignored; any other character ends the key. */
static int terr_postal_lookup(const struct terr_postal_trie *a, const char *s)
{
	int32_t n = 0;
	int best = -1;

	for (; *s; s++) {
		if (terr_is_sep(*s))
			continue;
		uint8_t ch = terr_postal_label(*s);
		if (!ch || !(n = terr_postal_child(a, n, ch)))
			break;
		if (a->nodes[n].winner >= 0)
			best = a->nodes[n].winner;
	}
	return best;
}

/* Longest configured prefix of the digits after '+', or -1. */
static int terr_phone_lookup(const struct terr_phone_trie *p, const char *s)
{
	int32_t n = 0;
	int best = -1;

	if (*s++ != '+')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (!(n = p->nodes[n].child[*s - '0']))
			break;
		if (p->nodes[n].winner >= 0)
			best = p->nodes[n].winner;
	}
	return best;
}

int terr_resolve(const struct terr_index *ti, const char *postal, const char *e164,
		 enum terr_how *how)
{
	int t = -1;
	enum terr_how h = TERR_NONE;

	if (!ti)
		goto out;
	if (postal && *postal && (t = terr_postal_lookup(&ti->postal, postal)) >= 0) {
		h = TERR_POSTAL;
	} else if (e164 && *e164 && (t = terr_phone_lookup(&ti->phone, e164)) >= 0) {
		h = TERR_PHONE;
	} else if (ti->cfg->default_territory >= 0) {
		t = ti->cfg->default_territory;
		h = TERR_DEFAULT;
	} else {
		t = -1;
	}
out:
	if (how)
		*how = h;
	return t;
}

/* ---- hierarchy -------------------------------------------------------- */

static int terr_valid(const struct terr_index *ti, int t)
{
	return ti && t >= 0 && t < ti->n;
}

int terr_ancestor(const struct terr_index *ti, int t, int up)
{
	if (!terr_valid(ti, t) || up < 0 || up > ti->depth[t])
		return -1;
	while (up-- > 0)
		t = ti->parent[t];
	return t;
}

int terr_root(const struct terr_index *ti, int t)
{
	return terr_valid(ti, t) ? ti->root[t] : -1;
}

int terr_is_ancestor_or_self(const struct terr_index *ti, int a, int t)
{
	if (!terr_valid(ti, a) || !terr_valid(ti, t))
		return 0;
	int up = ti->depth[t] - ti->depth[a];
	if (up < 0)
		return 0;
	while (up-- > 0)
		t = ti->parent[t];
	return t == a;
}

int terr_depth(const struct terr_index *ti, int t)
{
	return terr_valid(ti, t) ? ti->depth[t] : -1;
}

/* ---- coverage --------------------------------------------------------- */

static const char *terr_name(const struct terr_index *ti, int t)
{
	const char *s = ti->cfg->territories[t].name;
	return s ? s : "?";
}

/*
 * Territories with a rule that is a prefix of key, in resolution order:
 * longest prefix first, file order within one prefix, each territory once
 * (at its longest rule). seen[] holds stamps, so it needs no clearing.
 * *dup is set when one of those prefixes is claimed by two territories or
 * more (claim lists hold each territory once, so two entries are two
 * territories).
 */
static int terr_claimants(const struct terr_index *ti, enum terr_kind kind, const char *key,
			  uint32_t stamp, uint32_t *seen, int32_t *list, int *dup)
{
	int32_t path[TERR_KEY_MAX + 1];
	int depth = 0, n = 0;
	const struct terr_claims *cl;
	int32_t node = 0;

	for (const char *s = key; *s; s++) {
		if (kind == TERR_KIND_PHONE)
			node = ti->phone.nodes[node].child[*s - '0'];
		else
			node = terr_postal_child(&ti->postal, node, (uint8_t)*s);
		if (!node)
			break;
		path[depth++] = node;
	}
	cl = kind == TERR_KIND_PHONE ? &ti->phone.claims : &ti->postal.claims;
	*dup = 0;
	while (depth-- > 0) {
		int32_t c = kind == TERR_KIND_PHONE ? ti->phone.nodes[path[depth]].claims
						    : ti->postal.nodes[path[depth]].claims;
		if (c >= 0 && cl->next[c] >= 0)
			*dup = 1;
		for (; c >= 0; c = cl->next[c]) {
			int32_t t = cl->terr[c];
			if (seen[t] != stamp) {
				seen[t] = stamp;
				list[n++] = t;
			}
		}
	}
	return n;
}

/*
 * 1 when the claimants lie on one root path: then the deepest of them has
 * every other one as an ancestor-or-self (a chain has a bottom; conversely the
 * ancestors of one territory form a chain). O(n × depth).
 */
static int terr_one_path(const struct terr_index *ti, const int32_t *list, int n)
{
	int32_t low = list[0];

	for (int i = 1; i < n; i++)
		if (ti->depth[list[i]] > ti->depth[low])
			low = list[i];
	for (int i = 0; i < n; i++)
		if (!terr_is_ancestor_or_self(ti, list[i], low))
			return 0;
	return 1;
}

/* Strip a trailing comment and surrounding blanks in place. */
static char *terr_trim(char *s)
{
	char *h = strchr(s, '#');
	if (h)
		*h = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
		       s[len - 1] == '\n'))
		s[--len] = '\0';
	return s;
}

/*
 * An entry is an overlap when its claimants do not all lie on one root path
 * (siblings, cousins, separate trees), or when two territories claim the very
 * same prefix of it (the first in file order silently takes it, whatever
 * their relation). Claims nested along one root path (de-munich "80" inside
 * de-south "8") are the hierarchy at work and no finding.
 *
 * The findings are written to a memory buffer and copied to `out` only when
 * the whole universe has been read, so a malformed line leaves nothing on
 * `out` but its error message. Cost per entry: O(entry length + claimants ×
 * hierarchy depth).
 */
int terr_coverage(const struct terr_index *ti, FILE *universe, FILE *out)
{
	char *line = NULL, *rep = NULL;
	size_t line_cap = 0, rep_len = 0;
	FILE *mem = NULL;
	uint32_t *seen = NULL;
	int32_t *list = NULL;
	char key[TERR_KEY_MAX + 1];
	unsigned long lineno = 0, checked = 0, gaps = 0, overlaps = 0;
	int rc = -1;
	ssize_t got;

	if (!ti || !universe || !out)
		return -1;
	size_t na = ti->n ? (size_t)ti->n : 1;
	seen = calloc(na, sizeof(*seen));
	list = malloc(na * sizeof(*list));
	mem = open_memstream(&rep, &rep_len);
	if (!seen || !list || !mem) {
		fprintf(out, "coverage: out of memory\n");
		goto done;
	}

	while ((got = getline(&line, &line_cap, universe)) >= 0) {
		lineno++;
		if (memchr(line, '\0', (size_t)got)) {
			fprintf(out, "universe line %lu: NUL byte\n", lineno);
			goto done;
		}
		char *s = terr_trim(line);
		if (!*s)
			continue;
		enum terr_kind kind;
		const char *colon = strchr(s, ':');
		size_t klen = colon ? (size_t)(colon - s) : 0;
		if (colon && klen == 6 && !strncmp(s, "postal", 6)) {
			kind = TERR_KIND_POSTAL;
		} else if (colon && klen == 5 && !strncmp(s, "phone", 5)) {
			kind = TERR_KIND_PHONE;
		} else {
			fprintf(out,
				"universe line %lu: expected postal:CODE or phone:+DIGITS, "
				"got \"%s\"\n",
				lineno, s);
			goto done;
		}
		const char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (terr_norm(kind, v, key) < 0) {
			fprintf(out,
				kind == TERR_KIND_PHONE
					? "universe line %lu: bad phone prefix \"%s\" (want '+' "
					  "and digits)\n"
					: "universe line %lu: bad postal prefix \"%s\" (want "
					  "letters and digits)\n",
				lineno, v);
			goto done;
		}
		checked++;
		/* one stamp per entry; wraps after 2^32 entries, harmless */
		uint32_t stamp = (uint32_t)checked;
		int dup = 0;
		int n = terr_claimants(ti, kind, key, stamp, seen, list, &dup);
		const char *tag = kind == TERR_KIND_PHONE ? "phone:+" : "postal:";
		if (n == 0) {
			gaps++;
			fprintf(mem, "gap %s%s\n", tag, key);
		} else if (n > 1 && (dup || !terr_one_path(ti, list, n))) {
			overlaps++;
			fprintf(mem, "overlap %s%s", tag, key);
			for (int i = 0; i < n; i++)
				fprintf(mem, " %s", terr_name(ti, list[i]));
			fputc('\n', mem);
		}
	}
	if (ferror(universe)) {
		fprintf(out, "universe line %lu: read error\n", lineno + 1);
		goto done;
	}
	fprintf(mem, "checked %lu: %lu gaps, %lu overlaps\n", checked, gaps, overlaps);
	if (fflush(mem) != 0) {
		fprintf(out, "coverage: out of memory\n");
		goto done;
	}
	fwrite(rep, 1, rep_len, out);
	rc = gaps + overlaps > INT_MAX ? INT_MAX : (int)(gaps + overlaps);

done:
	if (mem)
		fclose(mem);
	free(rep);
	free(line);
	free(list);
	free(seen);
	return rc;
}
