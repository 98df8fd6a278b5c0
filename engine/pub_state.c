/*
 * pub_state.c — the publisher's state hashes: target, queue and call hashes
 * and the generic ones of other modules, latest-wins, written on a flush
 * tick; the index sets that list them, joined and left with one variadic
 * SADD / SREM per flush; and the resync that republishes everything on a new
 * connection and deletes what the index sets hold beyond it (pub.c's header
 * describes the whole publisher, docs/redis.md the contract).
 *
 * A pending update is kept in a map keyed by the Redis key, one entry per
 * object, in first-dirtied order, replaced in place by a newer update. With
 * a flush delay, an entry is due state_flush_ms after it was first dirtied
 * (less PUB_STATE_GRAIN_MS): the map is in due order, and the flush timer,
 * armed for the first entry and at least PUB_STATE_GRAIN_MS after its last
 * run, writes what is due by then. So the writes follow the changes a delay
 * later, a few milliseconds' worth at a time, and Redis gets a steady
 * trickle, not all of a period's hashes at once. Targets and live calls may
 * be marked dirty only, their record built from the hooks when written.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pub_priv.h"

static const char *const set_kinds[SK_COUNT] = {PUB_K_TARGETS, PUB_K_QUEUES, PUB_K_CALLS};
static const char *const obj_kinds[SK_COUNT] = {PUB_K_TARGET, PUB_K_QUEUE, PUB_K_CALL};

static struct pub_rec *lazy_rec(struct pub *p, const struct state_ent *e);

/* The built-in index sets (targets, queues, calls), once the prefix is set. */
void pub_state_init(struct pub *p)
{
	for (int k = 0; k < SK_COUNT; k++) {
		pub_key(p->idx[k].set, sizeof p->idx[k].set, p->prefix, set_kinds[k], NULL);
		pub_key(p->idx[k].hkind, sizeof p->idx[k].hkind, p->prefix, obj_kinds[k], NULL);
	}
	p->n_idx = SK_COUNT;
}

void pub_seen_clear(struct pub *p, int kind)
{
	struct seen_ent *e, *t;

	HASH_ITER(hh, p->seen[kind], e, t) {
		HASH_DEL(p->seen[kind], e);
		free(e);
	}
}

void pub_state_clear(struct pub *p, bool count)
{
	struct state_ent *e, *t;

	HASH_ITER(hh, p->smap, e, t) {
		HASH_DEL(p->smap, e);
		if (count)
			p->st.state_skipped++;
		free(e->rec);
		free(e);
	}
}

/* ---- state ---- */

static void on_smembers(redisAsyncContext *ac, void *rp, void *priv)
{
	struct pub *p = ac->data;
	redisReply *reply = rp;
	int kind = (int)(uintptr_t)priv;
	char key[PUB_RKEY_MAX];

	pub_inflight_dec(p, reply);
	if (!reply || p->cs != CS_READY)
		return;
	if (reply->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < reply->elements; i++) {
			redisReply *m = reply->element[i];
			struct seen_ent *s = NULL;
			struct state_ent *e = NULL;
			if (m->type != REDIS_REPLY_STRING || m->len == 0 || m->len > PUB_ID_MAX ||
			    memchr(m->str, '\0', m->len))
				continue;
			HASH_FIND(hh, p->seen[kind], m->str, m->len, s);
			if (s)
				continue;
			int kl = pub_key(key, sizeof key, p->idx[kind].hkind, "", m->str);
			if (kl < 0)
				continue;
			HASH_FIND(hh, p->smap, key, (size_t)kl, e);
			if (e)
				continue; /* updated since the resync: that update wins */
			e = malloc(sizeof *e + (size_t)kl + 1 + m->len + 1);
			if (!e)
				break;
			memset(e, 0, sizeof *e);
			e->kind = (uint8_t)kind;
			e->op = OP_DEL;
			e->key_len = (size_t)kl;
			e->id_len = m->len;
			memcpy(e->key, key, (size_t)kl + 1);
			memcpy(e->key + kl + 1, m->str, m->len);
			e->key[kl + 1 + m->len] = '\0';
			HASH_ADD_KEYPTR(hh, p->smap, e->key, e->key_len, e);
		}
	} else if (reply->type == REDIS_REPLY_ERROR) {
		p->st.errors++;
		if (pub_warn_ok(p))
			CL_LOG_WARN("redis %s: SMEMBERS %s: %s", p->endpoint, p->idx[kind].set,
				    reply->str);
	}
	pub_seen_clear(p, kind);
	pub_pump(p);
}

void pub_on_resync(evutil_socket_t fd, short what, void *arg)
{
	struct pub *p = arg;
	bool any = p->hooks.resync != NULL;

	for (int i = 0; i < PUB_MAX_RESYNC; i++)
		any |= p->resync_l[i].fn != NULL;
	if (p->cs != CS_READY || !any)
		return;
	for (uint32_t k = 0; k < p->n_idx; k++)
		pub_seen_clear(p, (int)k);
	p->collecting = true;
	if (p->hooks.resync)
		p->hooks.resync(p->arg, p);
	for (int i = 0; i < PUB_MAX_RESYNC && p->cs == CS_READY; i++)
		if (p->resync_l[i].fn)
			p->resync_l[i].fn(p->resync_l[i].arg, p);
	p->collecting = false;
	if (p->cs != CS_READY)
		return;
	/* Whatever the index sets hold beyond what the engine just named is
	 * stale (ended, removed while Redis was away): delete it. */
	for (uint32_t k = 0; k < p->n_idx; k++) {
		const char *argv[2] = {"SMEMBERS", p->idx[k].set};
		size_t len[2] = {8, strlen(p->idx[k].set)};
		if (pub_send_argv(p, on_smembers, (void *)(uintptr_t)k, 2, argv, len) < 0)
			pub_seen_clear(p, (int)k);
	}
	pub_state_due_all(p); /* the republished state goes now, not after the delay */
	p->sbudget = PUB_STATE_CHUNK;
	pub_pump(p);
}

static int seen_add(struct pub *p, int kind, const char *id)
{
	size_t n = strlen(id);
	struct seen_ent *s = NULL;

	HASH_FIND(hh, p->seen[kind], id, n, s);
	if (s)
		return 0;
	if (!(s = malloc(sizeof *s + n + 1)))
		return -PUB_ENOMEM;
	memcpy(s->id, id, n + 1);
	HASH_ADD_KEYPTR(hh, p->seen[kind], s->id, n, s);
	return 0;
}

/* The flush timer's runs are at least this far apart (see the header). */
static uint32_t grain_ms(const struct pub *p)
{
	return p->flush_ms < PUB_STATE_GRAIN_MS ? p->flush_ms : PUB_STATE_GRAIN_MS;
}

uint64_t pub_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Put (or replace) the pending update of the hash `key` (full key), listed
 * as `id` in index set `kind` (PUB_NO_INDEX = none). rec is transferred.
 */
static int state_put(struct pub *p, int kind, int op, const char *key, const char *id,
		     struct pub_rec *rec, uint32_t ttl_s)
{
	struct state_ent *e = NULL;
	size_t kl = strlen(key), il = id ? strlen(id) : 0;

	HASH_FIND(hh, p->smap, key, kl, e);
	if (e) {
		free(e->rec);
		e->rec = rec;
		e->ttl_s = ttl_s;
		if (!(e->op == OP_REPLACE && op == OP_SET))
			e->op = (uint8_t)op;
		return 0;
	}
	if (!(e = malloc(sizeof *e + kl + 1 + il + 1))) {
		free(rec);
		return -PUB_ENOMEM;
	}
	memset(e, 0, sizeof *e);
	e->kind = (uint8_t)kind;
	e->op = (uint8_t)op;
	e->ttl_s = ttl_s;
	e->due_ms = p->flush_ms ? pub_mono_ms() + p->flush_ms - grain_ms(p) : 0;
	e->rec = rec;
	e->key_len = kl;
	e->id_len = il;
	memcpy(e->key, key, kl + 1);
	if (il)
		memcpy(e->key + kl + 1, id, il);
	e->key[kl + 1 + il] = '\0';
	HASH_ADD_KEYPTR(hh, p->smap, e->key, e->key_len, e);
	return 0;
}

/* Send one queued SADD / SREM. */
static int setq_flush(struct pub *p, int kind, int rem)
{
	struct setq *q = &p->sq[kind][rem];
	const char *argv[2 + PUB_SETQ_MAX];
	size_t len[2 + PUB_SETQ_MAX];
	int argc = 2;

	if (!q->n)
		return 0;
	argv[0] = rem ? "SREM" : "SADD";
	len[0] = 4;
	argv[1] = p->idx[kind].set;
	len[1] = strlen(p->idx[kind].set);
	for (size_t o = 0; o < q->len && argc < (int)(2 + PUB_SETQ_MAX);) {
		size_t n = strlen(q->buf + o);
		argv[argc] = q->buf + o;
		len[argc++] = n;
		o += n + 1;
	}
	int rc = pub_send_argv(p, pub_on_generic, NULL, argc, argv, len);
	q->len = 0;
	q->n = 0;
	return rc;
}

/* Send every queued SADD / SREM: at the end of the pump that sent the last
 * due state update (or once PUB_SETQ_MAX ids wait), so each follows its HSETs
 * closely and a flush tick costs a few set commands, not one per id. */
void pub_setq_flush_all(struct pub *p)
{
	for (uint32_t k = 0; k < p->n_idx; k++)
		for (int rem = 0; rem < 2; rem++)
			setq_flush(p, (int)k, rem);
}

/* Queue id for one variadic SADD (rem false) or SREM on index set kind. */
static int setq_push(struct pub *p, int kind, bool rem, const char *id, size_t idl)
{
	struct setq *q = &p->sq[kind][rem];

	if (pub_grow(&q->buf, &q->cap, q->len + idl + 1) < 0)
		return -1;
	memcpy(q->buf + q->len, id, idl);
	q->buf[q->len + idl] = '\0';
	q->len += idl + 1;
	if (++q->n == PUB_SETQ_MAX)
		return setq_flush(p, kind, rem);
	return 0;
}

int pub_state_send(struct pub *p, struct state_ent *e)
{
	const char *argv[PUB_MAX_ARGV];
	size_t len[PUB_MAX_ARGV];
	bool indexed = e->kind != PUB_NO_INDEX;
	const char *id = e->key + e->key_len + 1;
	size_t idl = e->id_len;
	char ttl[16];
	const char *ax[3] = {"EXPIRE", e->key, ttl};
	size_t lx[3] = {6, e->key_len, e->ttl_s ? pub_u64_dec(e->ttl_s, ttl) : 0};

	if (e->op == OP_DEL) {
		const char *a1[2] = {"DEL", e->key};
		size_t l1[2] = {3, e->key_len};
		if (pub_send_argv(p, pub_on_generic, NULL, 2, a1, l1) < 0 ||
		    (indexed && setq_push(p, e->kind, true, id, idl) < 0))
			return -1;
	} else {
		if (!e->rec && !(e->rec = lazy_rec(p, e))) {
			/* Gone since it was marked: its end or removal is its own update. */
			HASH_DEL(p->smap, e);
			free(e);
			return 0;
		}
		argv[0] = "HSET";
		len[0] = 4;
		argv[1] = e->key;
		len[1] = e->key_len;
		int n = pub_rec_strings(e->rec, argv + 2, len + 2, PUB_MAX_ARGV - 2);
		if (e->op == OP_REPLACE) {
			const char *m[1] = {"MULTI"}, *x[1] = {"EXEC"};
			size_t ml[1] = {5}, xl[1] = {4};
			const char *a1[2] = {"DEL", e->key};
			size_t l1[2] = {3, e->key_len};
			if (pub_send_argv(p, pub_on_generic, NULL, 1, m, ml) < 0 ||
			    pub_send_argv(p, pub_on_generic, NULL, 2, a1, l1) < 0)
				return -1;
			if (n > 0 && pub_send_argv(p, pub_on_generic, NULL, 2 + n, argv, len) < 0)
				return -1;
			if (e->ttl_s && pub_send_argv(p, pub_on_generic, NULL, 3, ax, lx) < 0)
				return -1;
			if (pub_send_argv(p, pub_on_generic, NULL, 1, x, xl) < 0)
				return -1;
		} else {
			if (n > 0 && pub_send_argv(p, pub_on_generic, NULL, 2 + n, argv, len) < 0)
				return -1;
			if (e->ttl_s && pub_send_argv(p, pub_on_generic, NULL, 3, ax, lx) < 0)
				return -1;
		}
		if (indexed && setq_push(p, e->kind, e->op == OP_END, id, idl) < 0)
			return -1;
	}
	HASH_DEL(p->smap, e);
	free(e->rec);
	free(e);
	return 0;
}

/* Common path of the state setters: key and id checked, rec transferred. */
static int state_update_key(struct pub *p, int kind, int op, const char *key, const char *id,
			    struct pub_rec *rec, uint32_t ttl_s)
{
	if (p->collecting && op != OP_DEL && kind != (int)PUB_NO_INDEX) {
		/* Mentioned during the resync (also when finished: its SREM may
		 * reach Redis after the sweep's SMEMBERS). */
		if (seen_add(p, kind, id) < 0) {
			free(rec);
			return -PUB_ENOMEM;
		}
	}
	if (p->collecting && op == OP_SET)
		op = OP_REPLACE;
	if (p->cs != CS_READY) {
		free(rec);
		p->st.state_skipped++;
		return 0;
	}
	int rc = state_put(p, kind, op, key, id, rec, ttl_s);
	if (rc == 0)
		pub_state_kick(p);
	return rc;
}

/* The built-in kinds: key = prefix + kind's name + id. */
static int state_update(struct pub *p, int kind, int op, const char *id, struct pub_rec *rec)
{
	char key[PUB_RKEY_MAX];

	if (pub_key(key, sizeof key, p->prefix, obj_kinds[kind], id) < 0) {
		free(rec);
		return -PUB_EINVAL;
	}
	return state_update_key(p, kind, op, key, id, rec, op == OP_END ? p->call_ttl_s : 0);
}

static bool id_ok(const char *id) { return id && *id && pub_str_ok(id, PUB_ID_MAX); }

/* The hash record of a target; NULL with *err on bad input or no memory. */
static struct pub_rec *target_rec(struct pub *p, const struct pub_target *t, int *err)
{
	struct pub_recb b;

	if (!t || !id_ok(t->id) || !pub_str_ok(t->name, PUB_VALUE_MAX) ||
	    !pub_str_ok(t->kind, PUB_ID_MAX) || !pub_str_ok(t->state, PUB_ID_MAX) ||
	    !pub_str_ok(t->reason, PUB_VALUE_MAX)) {
		*err = -PUB_EINVAL;
		return NULL;
	}
	/* Every field, empty or not, so the HSET overwrites all of them. */
	pub_recb_init(&b);
	pub_recb_add(&b, "id", t->id, true);
	pub_recb_add(&b, "name", t->name, true);
	pub_recb_add(&b, "kind", t->kind, true);
	pub_recb_add(&b, "state", t->state, true);
	pub_recb_add(&b, "reason", t->reason, true);
	pub_recb_add_u64(&b, "since_ms", t->since_ms);
	pub_recb_add_u64(&b, "active", t->active);
	pub_recb_add_u64(&b, "capacity", t->capacity);
	pub_recb_add_u64(&b, "calls_today", t->calls_today);
	pub_recb_add_u64(&b, "last_end_ms", t->last_end_ms);
	pub_recb_add(&b, "closed", t->closed ? "1" : "0", true);
	pub_recb_add_u64(&b, "ts_ms", pub_now_ms(p));
	return pub_rec_new(&b, err);
}

static struct pub_rec *call_rec(struct pub *p, const struct pub_call *c, int *err)
{
	struct pub_recb b;

	if (!c || !id_ok(c->id) || !pub_str_ok(c->territory, PUB_ID_MAX) ||
	    !pub_str_ok(c->plan, PUB_ID_MAX) || !pub_str_ok(c->target_id, PUB_ID_MAX) ||
	    !pub_str_ok(c->queue, PUB_ID_MAX) || !pub_str_ok(c->state, PUB_ID_MAX) ||
	    !pub_str_ok(c->reason, PUB_VALUE_MAX)) {
		*err = -PUB_EINVAL;
		return NULL;
	}
	pub_recb_init(&b);
	pub_recb_add(&b, "id", c->id, true);
	pub_recb_add(&b, "territory", c->territory, true);
	pub_recb_add(&b, "plan", c->plan, true);
	pub_recb_add(&b, "target", c->target_id, true);
	pub_recb_add(&b, "queue", c->queue, true);
	pub_recb_add(&b, "state", c->state, true);
	pub_recb_add(&b, "reason", c->reason, true);
	pub_recb_add_u64(&b, "step", c->step);
	pub_recb_add_u64(&b, "priority", c->priority);
	pub_recb_add_u64(&b, "offered_ms", c->offered_ms);
	pub_recb_add_u64(&b, "queued_ms", c->queued_ms);
	pub_recb_add_u64(&b, "answered_ms", c->answered_ms);
	pub_recb_add_u64(&b, "ended_ms", c->ended_ms);
	pub_recb_add(&b, "ended", c->ended ? "1" : "0", true);
	pub_recb_add_u64(&b, "ts_ms", pub_now_ms(p));
	return pub_rec_new(&b, err);
}

int pub_target(struct pub *p, const struct pub_target *t)
{
	struct pub_rec *r;
	int err = 0;

	if (!p)
		return 0;
	if (!(r = target_rec(p, t, &err)))
		return err;
	return state_update(p, SK_TARGET, OP_SET, t->id, r);
}

int pub_queue(struct pub *p, const struct pub_queue *q)
{
	struct pub_recb b;
	struct pub_rec *r;
	int err = 0;

	if (!p)
		return 0;
	if (!q || !id_ok(q->name) || !pub_str_ok(q->territory, PUB_ID_MAX) ||
	    !pub_str_ok(q->oldest_call, PUB_ID_MAX))
		return -PUB_EINVAL;
	pub_recb_init(&b);
	pub_recb_add(&b, "name", q->name, true);
	pub_recb_add(&b, "territory", q->territory, true);
	pub_recb_add_u64(&b, "waiting", q->waiting);
	pub_recb_add_u64(&b, "available", q->available);
	pub_recb_add_u64(&b, "members", q->members);
	pub_recb_add_u64(&b, "oldest_ms", q->oldest_ms);
	pub_recb_add(&b, "oldest_call", q->oldest_call, true);
	pub_recb_add_u64(&b, "ts_ms", pub_now_ms(p));
	if (!(r = pub_rec_new(&b, &err)))
		return err;
	return state_update(p, SK_QUEUE, OP_SET, q->name, r);
}

int pub_call(struct pub *p, const struct pub_call *c)
{
	struct pub_rec *r;
	int err = 0;

	if (!p)
		return 0;
	if (!(r = call_rec(p, c, &err)))
		return err;
	return state_update(p, SK_CALL, c->ended ? OP_END : OP_SET, c->id, r);
}

int pub_target_dirty(struct pub *p, const char *id)
{
	if (!p)
		return 0;
	if (!id_ok(id) || !p->hooks.target)
		return -PUB_EINVAL;
	return state_update(p, SK_TARGET, OP_SET, id, NULL);
}

int pub_call_dirty(struct pub *p, const char *id)
{
	if (!p)
		return 0;
	if (!id_ok(id) || !p->hooks.call)
		return -PUB_EINVAL;
	return state_update(p, SK_CALL, OP_SET, id, NULL);
}

/* The record of a lazy entry (pub_*_dirty), from the hooks; NULL when the
 * object is gone or its state does not make a record. */
static struct pub_rec *lazy_rec(struct pub *p, const struct state_ent *e)
{
	const char *id = e->key + e->key_len + 1;
	int err = 0;

	if (e->kind == SK_TARGET) {
		struct pub_target t;
		memset(&t, 0, sizeof t);
		return p->hooks.target && p->hooks.target(p->arg, id, &t) ? target_rec(p, &t, &err)
									   : NULL;
	}
	if (e->kind == SK_CALL) {
		struct pub_call c;
		memset(&c, 0, sizeof c);
		return p->hooks.call && p->hooks.call(p->arg, id, &c) && !c.ended
			       ? call_rec(p, &c, &err)
			       : NULL;
	}
	return NULL;
}

static int state_del(struct pub *p, int kind, const char *id)
{
	if (!p)
		return 0;
	if (!id_ok(id))
		return -PUB_EINVAL;
	return state_update(p, kind, OP_DEL, id, NULL);
}

int pub_target_del(struct pub *p, const char *id) { return state_del(p, SK_TARGET, id); }
int pub_queue_del(struct pub *p, const char *name) { return state_del(p, SK_QUEUE, name); }

/* The flush timer: what is due by now may go. */
void pub_on_state(evutil_socket_t fd, short what, void *arg)
{
	struct pub *p = arg;

	p->due_until = p->last_tick = pub_mono_ms();
	p->sbudget = PUB_STATE_CHUNK;
	pub_pump(p);
}

void pub_state_due_all(struct pub *p)
{
	/* Every entry is due by then: none was dirtied after now. */
	p->due_until = pub_mono_ms() + p->flush_ms;
}

/* The oldest pending state update may be sent: at once without a flush
 * delay, else once the flush timer has found it due. */
bool pub_state_due(const struct pub *p)
{
	return p->smap && (!p->flush_ms || p->smap->due_ms <= p->due_until);
}

/*
 * A state update is pending: send it in this loop pass when it is due (or
 * without a flush delay); else arm the flush timer for the oldest one. An
 * object updated many times before it is due is written once, with its
 * latest state.
 */
void pub_state_kick(struct pub *p)
{
	if (!p->flush_ms || pub_state_due(p)) {
		event_active(p->ev_send, EV_TIMEOUT, 0);
	} else if (!evtimer_pending(p->ev_state, NULL)) {
		uint64_t now = pub_mono_ms(), at = p->smap->due_ms;
		if (at < p->last_tick + grain_ms(p))
			at = p->last_tick + grain_ms(p);
		struct timeval tv = pub_ms_tv(at > now ? (uint32_t)(at - now) : 0);
		evtimer_add(p->ev_state, &tv);
	}
}

/* ---- generic hashes, index sets, resync listeners ---- */

int pub_index_add(struct pub *p, const char *set, const char *hash_kind)
{
	if (!p)
		return 0;
	if (!set || !*set || !hash_kind || !*hash_kind || strlen(set) > PUB_ID_MAX ||
	    strlen(hash_kind) > PUB_ID_MAX)
		return -PUB_EINVAL;
	char sk[PUB_RKEY_MAX], hk[PUB_RKEY_MAX];
	if (pub_key(sk, sizeof sk, p->prefix, set, NULL) < 0 ||
	    pub_key(hk, sizeof hk, p->prefix, hash_kind, NULL) < 0)
		return -PUB_EINVAL;
	for (uint32_t k = 0; k < p->n_idx; k++)
		if (strcmp(p->idx[k].set, sk) == 0)
			return strcmp(p->idx[k].hkind, hk) == 0 ? (int)k : -PUB_EINVAL;
	if (p->n_idx == PUB_MAX_INDEX)
		return -PUB_EINVAL;
	memcpy(p->idx[p->n_idx].set, sk, sizeof sk);
	memcpy(p->idx[p->n_idx].hkind, hk, sizeof hk);
	return (int)p->n_idx++;
}

/* Full key and index id of a generic hash; -PUB_EINVAL when malformed. */
static int hash_key(const struct pub *p, int index, const char *name, char *key, size_t len)
{
	if (!id_ok(name) || index >= (int)p->n_idx || (index >= 0 && index < SK_COUNT))
		return -PUB_EINVAL;
	if (index >= 0)
		return pub_key(key, len, p->idx[index].hkind, "", name) < 0 ? -PUB_EINVAL : 0;
	return pub_key(key, len, p->prefix, name, NULL) < 0 ? -PUB_EINVAL : 0;
}

int pub_hash_set(struct pub *p, int index, const char *name, const struct pub_kv *fields,
		 size_t n, uint32_t ttl_s, bool done)
{
	struct pub_recb b;
	struct pub_rec *r;
	char key[PUB_RKEY_MAX];
	int err = 0;

	if (!p)
		return 0;
	if (hash_key(p, index, name, key, sizeof key) < 0 || !fields || n == 0 ||
	    n > PUB_REC_MAX_FIELDS || (done && index < 0))
		return -PUB_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!pub_field_name_ok(fields[i].key) || !pub_str_ok(fields[i].value, PUB_VALUE_MAX))
			return -PUB_EINVAL;
	/* Every field, empty or not, so the HSET overwrites all of them. */
	pub_recb_init(&b);
	for (size_t i = 0; i < n; i++)
		pub_recb_add(&b, fields[i].key, fields[i].value ? fields[i].value : "", true);
	if (!(r = pub_rec_new(&b, &err)))
		return err;
	return state_update_key(p, index >= 0 ? index : (int)PUB_NO_INDEX, done ? OP_END : OP_SET,
				key, index >= 0 ? name : NULL, r, ttl_s);
}

int pub_hash_del(struct pub *p, int index, const char *name)
{
	char key[PUB_RKEY_MAX];

	if (!p)
		return 0;
	if (hash_key(p, index, name, key, sizeof key) < 0)
		return -PUB_EINVAL;
	return state_update_key(p, index >= 0 ? index : (int)PUB_NO_INDEX, OP_DEL, key,
				index >= 0 ? name : NULL, NULL, 0);
}

int pub_add_resync(struct pub *p, void (*fn)(void *arg, struct pub *p), void *arg)
{
	if (!p)
		return 0;
	if (!fn)
		return -PUB_EINVAL;
	for (int i = 0; i < PUB_MAX_RESYNC; i++) {
		if (!p->resync_l[i].fn) {
			p->resync_l[i].fn = fn;
			p->resync_l[i].arg = arg;
			if (p->cs == CS_READY) /* already connected: write everything now */
				event_active(p->ev_resync, EV_TIMEOUT, 0);
			return 0;
		}
	}
	return -PUB_EINVAL;
}

void pub_remove_resync(struct pub *p, void *arg)
{
	for (int i = 0; p && i < PUB_MAX_RESYNC; i++)
		if (p->resync_l[i].fn && p->resync_l[i].arg == arg)
			p->resync_l[i].fn = NULL;
}
