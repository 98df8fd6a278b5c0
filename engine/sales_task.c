/*
 * sales_task.c — follow-up tasks and complaints: the sales loop's work
 * items with deadlines.
 *
 * Follow-ups. A FOLLOW_UP disposition creates a task due at a time. When it
 * is due the module offers the router a call of its own (owner kind
 * CL_OWNER_SALES, id "<task>-<attempt>") with the customer's number and the
 * original call's territory, plan and skills, preferred for the target that
 * spoke to the customer (preferred_target / followup.preferred_ms), then the
 * plan's steps. The target learns of it by an Offer with followup = true,
 * the task id and the number; it accepts (OfferAccept), which connects the
 * attempt, dials the customer itself and reports with a Disposition on the
 * attempt's call id. NO_CONTACT, a reject by the plan, a decline that no one
 * else takes before followup.attempt_timeout_ms or an attempt left open that
 * long count as a miss: the task is retried after followup.retry_ms, and
 * fails after followup.max_attempts misses in a row. Any other outcome
 * completes it (FOLLOW_UP again reschedules it to the new time).
 *
 * Complaints. A COMPLAINT disposition opens one at the first level of the
 * escalation path (sales.complaints) with that level's deadline. A complaint
 * not resolved by its deadline moves to the next level with a new deadline
 * (complaint.escalated); past the last level it is marked overdue once
 * (complaint.overdue) and stays there. Acknowledging records who took it; it
 * does not stop the clock, resolving does.
 *
 * Both keep their deadlines in an indexed heap (the router's rt_heap), so
 * the tick costs O(log n) per due item and nothing otherwise. Finished
 * tasks and resolved complaints stay record_retention_s (Redis hashes with
 * the same TTL), then go.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "sales_internal.h"

static const char *const task_states[] = {
	[ST_SCHEDULED] = "scheduled", [ST_WAITING] = "offered", [ST_ACTIVE] = "in_progress",
	[ST_DONE] = "done",	      [ST_FAILED] = "failed",	[ST_CANCELLED] = "cancelled",
};

static bool task_open(const struct sales_task *t)
{
	return t->state == ST_SCHEDULED || t->state == ST_WAITING || t->state == ST_ACTIVE;
}

static void task_free(struct sales_task *t)
{
	free(t->id);
	free(t->origin);
	free(t->number);
	free(t->postal);
	free(t->dialed);
	free(t->segment);
	free(t->territory);
	free(t->plan);
	free(t->target);
	free(t->result);
	free(t);
}

static void heap_set(struct sales *s, struct sales_task *t, uint64_t at)
{
	if (rt_hnode_in_heap(&t->hn))
		rt_heap_rekey(&s->task_heap, &t->hn, at, ++s->seq);
	else if (rt_heap_push(&s->task_heap, &t->hn, t, at, ++s->seq) < 0)
		CL_LOG_ERROR("sales: follow-up %s: out of memory scheduling it", t->id);
}

static void task_publish(struct sales *s, const struct sales_task *t)
{
	char v[8][24];
	struct pub_kv f[18];
	size_t n = 0;

	if (!s->pub)
		return;
	f[n++] = (struct pub_kv){"id", t->id};
	f[n++] = (struct pub_kv){"origin_call", t->origin};
	f[n++] = (struct pub_kv){"target", t->target};
	f[n++] = (struct pub_kv){"territory", t->territory};
	f[n++] = (struct pub_kv){"plan", t->plan};
	f[n++] = (struct pub_kv){"state", task_states[t->state]};
	snprintf(v[0], sizeof v[0], "%" PRIu64, t->due_ms);
	f[n++] = (struct pub_kv){"due_ms", v[0]};
	snprintf(v[1], sizeof v[1], "%" PRIu32, t->attempts);
	f[n++] = (struct pub_kv){"attempts", v[1]};
	snprintf(v[2], sizeof v[2], "%" PRIu32, t->misses);
	f[n++] = (struct pub_kv){"misses", v[2]};
	snprintf(v[3], sizeof v[3], "%" PRIu32, s->cfg->sales.followup.max_attempts);
	f[n++] = (struct pub_kv){"max_attempts", v[3]};
	f[n++] = (struct pub_kv){"call", t->call_id};
	f[n++] = (struct pub_kv){"result", t->result};
	snprintf(v[4], sizeof v[4], "%" PRIu64, t->created_ms);
	f[n++] = (struct pub_kv){"created_ms", v[4]};
	snprintf(v[5], sizeof v[5], "%" PRIu64, t->finished_ms);
	f[n++] = (struct pub_kv){"finished_ms", v[5]};
	snprintf(v[6], sizeof v[6], "%" PRIu64, sales_now(s));
	f[n++] = (struct pub_kv){"ts_ms", v[6]};
	bool done = !task_open(t);
	pub_hash_set(s->pub, s->ix_followups, t->id, f, n,
		     done ? s->cfg->sales.record_retention_s : 0, done);
}

/* target: who the event is about (NULL = the task's preferred target). */
static void task_event_t(struct sales *s, const struct sales_task *t, const char *what,
			 const char *call, const char *target)
{
	char due[24], att[12];
	snprintf(due, sizeof due, "%" PRIu64, t->due_ms);
	snprintf(att, sizeof att, "%" PRIu32, t->attempts);
	sales_emit(s, what, call, target ? target : t->target, t->territory, task_states[t->state],
		   t->result, "task", t->id, "origin", t->origin, "attempt", att, "due_ms", due,
		   NULL);
}

static void task_event(struct sales *s, const struct sales_task *t, const char *what,
		       const char *call)
{
	task_event_t(s, t, what, call, NULL);
}

int sales_task_create(struct sales *s, struct sales_call *c, uint64_t due_ms, const char **id,
		      char *err, size_t errlen)
{
	struct sales_task *t;
	uint64_t now = sales_now(s);

	if (s->n_tasks >= s->cfg->sales.max_tasks) {
		if (!s->tdone_head)
			return sales_fail(err, errlen, SALES_ELIMIT,
					  "disposition: %" PRIu32 " follow-ups are open (sales.max_tasks)",
					  s->cfg->sales.max_tasks);
		struct sales_task *o = s->tdone_head;
		s->tdone_head = o->next;
		if (s->tdone_head)
			s->tdone_head->prev = NULL;
		else
			s->tdone_tail = NULL;
		HASH_DELETE(hh, s->tasks, o);
		s->n_tasks--;
		task_free(o);
	}
	if (!(t = calloc(1, sizeof *t)))
		goto oom;
	const char *number = c->callback ? c->callback : c->caller;
	if (!(t->id = strdup(sales_make_id(s, "fu"))) || !(t->origin = strdup(c->id)) ||
	    !(t->number = strdup(number)) || !(t->target = strdup(c->target)) ||
	    (c->postal && !(t->postal = strdup(c->postal))) ||
	    (c->dialed && !(t->dialed = strdup(c->dialed))) ||
	    (c->segment && !(t->segment = strdup(c->segment))) ||
	    (c->territory && !(t->territory = strdup(c->territory))) ||
	    (c->plan && !(t->plan = strdup(c->plan))))
		goto oom;
	t->target_kind = c->target_kind;
	t->skills = c->skills;
	t->state = ST_SCHEDULED;
	t->due_ms = due_ms;
	t->created_ms = now;
	HASH_ADD_KEYPTR(hh, s->tasks, t->id, strlen(t->id), t);
	if (t->oom)
		goto oom;
	heap_set(s, t, due_ms);
	if (!rt_hnode_in_heap(&t->hn)) {
		HASH_DELETE(hh, s->tasks, t);
		goto oom;
	}
	s->n_tasks++;
	s->st.followups_created++;
	s->st.followups_open++;
	sales_kpi_gauge(s, t->territory, t->plan, t->target, t->target_kind, 1, 0);
	task_publish(s, t);
	task_event(s, t, "followup.created", c->id);
	*id = t->id;
	return 0;
oom:
	if (t)
		task_free(t);
	return sales_fail(err, errlen, SALES_ENOMEM, "disposition: out of memory");
}

/* The task whose current attempt is call_id. */
static struct sales_task *task_of_call(const struct sales *s, const char *call_id)
{
	struct sales_task *t = NULL;

	if (call_id)
		HASH_FIND(hc, s->task_calls, call_id, strlen(call_id), t);
	return t;
}

const char *sales_task_id_of_call(const struct sales *s, const char *call_id)
{
	const struct sales_task *t = task_of_call(s, call_id);
	return t ? t->id : NULL;
}

static void detach_call(struct sales *s, struct sales_task *t)
{
	if (t->call_id[0]) {
		struct sales_task *x = task_of_call(s, t->call_id);
		if (x == t)
			HASH_DELETE(hc, s->task_calls, t);
		t->call_id[0] = '\0';
	}
}

static void k_fu_done(struct sales_kpi *k, void *a) { (void)a, k->followups_done++; }

/* Leave the open states: done or failed. */
static void task_finish(struct sales *s, struct sales_task *t, enum sales_task_state st)
{
	uint64_t now = sales_now(s);

	detach_call(s, t);
	if (rt_hnode_in_heap(&t->hn))
		rt_heap_remove(&s->task_heap, &t->hn);
	t->state = st;
	t->finished_ms = now;
	s->st.followups_open--;
	if (st == ST_DONE) {
		s->st.followups_done++;
		sales_kpi_each(s, SALES_DIMS_EVERY, t->territory, t->plan, t->target, t->target_kind,
			       now, k_fu_done, NULL);
	} else {
		s->st.followups_failed++;
	}
	sales_kpi_gauge(s, t->territory, t->plan, t->target, t->target_kind, -1, 0);
	t->prev = s->tdone_tail;
	t->next = NULL;
	if (s->tdone_tail)
		s->tdone_tail->next = t;
	else
		s->tdone_head = t;
	s->tdone_tail = t;
	task_publish(s, t);
	task_event(s, t, st == ST_DONE ? "followup.done" : "followup.failed", NULL);
}

/* An attempt that did not reach the customer: retry later, or give up. */
static void task_missed(struct sales *s, struct sales_task *t, const char *why)
{
	detach_call(s, t);
	free(t->result);
	t->result = strdup(why);
	t->misses++;
	if (t->misses >= s->cfg->sales.followup.max_attempts) {
		task_finish(s, t, ST_FAILED);
		return;
	}
	t->state = ST_SCHEDULED;
	t->due_ms = sales_now(s) + s->cfg->sales.followup.retry_ms;
	heap_set(s, t, t->due_ms);
	task_publish(s, t);
	task_event(s, t, "followup.retry", NULL);
}

/* End the router call of t's attempt (owner: the module). */
static void end_attempt_call(struct sales *s, const char *call_id)
{
	struct rt_call *rc = s->rt ? rt_call_find(s->rt, call_id) : NULL;

	if (!rc)
		return;
	struct rt_call_info ci;
	rt_call_info(s->rt, rc, &ci);
	if (ci.state == RT_CALL_CONNECTED)
		rt_call_ended(s->rt, call_id, &s->owner);
	else if (ci.state == RT_CALL_QUEUED || ci.state == RT_CALL_RESERVED)
		rt_call_abandoned(s->rt, call_id, &s->owner);
}

void sales_task_result(struct sales *s, struct sales_call *c, enum sales_outcome o, uint64_t due)
{
	struct sales_task *t = task_of_call(s, c->id);
	char call[SALES_CALL_ID_MAX];

	if (!t || !task_open(t))
		return;
	snprintf(call, sizeof call, "%s", c->id);
	/* Detach first: the end of the call below is then no miss. */
	detach_call(s, t);
	end_attempt_call(s, call);
	if (o == SALES_OUT_NO_CONTACT) {
		task_missed(s, t, "no_contact");
		return;
	}
	free(t->result);
	t->result = strdup(sales_outcome_name(o));
	t->misses = 0;
	if (o == SALES_OUT_FOLLOW_UP) {
		t->state = ST_SCHEDULED;
		t->due_ms = due;
		heap_set(s, t, due);
		task_publish(s, t);
		task_event(s, t, "followup.rescheduled", call);
		return;
	}
	task_finish(s, t, ST_DONE);
}

void sales_task_event(struct sales *s, struct sales_call *c, const struct rt_event *ev)
{
	struct sales_task *t = task_of_call(s, c->id);

	if (!t || !task_open(t))
		return;
	switch (ev->type) {
	case RT_EV_CALL_RESERVED:
		task_publish(s, t);
		task_event_t(s, t, "followup.offered", c->id, c->target);
		break;
	case RT_EV_CALL_CONNECTED:
		/* t->target stays the preferred one: its figures carry the task. */
		t->state = ST_ACTIVE;
		heap_set(s, t, sales_now(s) + s->cfg->sales.followup.attempt_timeout_ms);
		task_publish(s, t);
		task_event_t(s, t, "followup.accepted", c->id, c->target);
		break;
	case RT_EV_CALL_ENDED:
		/* Ended without a disposition: rejected by the plan, timed out,
		 * or the target went away. */
		task_missed(s, t, ev->end == RT_END_REJECTED ? "rejected" : "no_result");
		break;
	default:
		break;
	}
}

/* Offer the router the next attempt of t. */
static void task_start(struct sales *s, struct sales_task *t, uint64_t now)
{
	const struct cl_config *cfg = s->cfg;
	const char *skills[CFG_MAX_SKILLS];
	size_t ns = 0;

	if (!s->rt) {
		heap_set(s, t, now + cfg->sales.followup.retry_ms);
		return;
	}
	for (size_t i = 0; i < cfg->n_skills && i < CFG_MAX_SKILLS; i++)
		if (t->skills & (UINT64_C(1) << i))
			skills[ns++] = cfg->skills[i];
	t->attempts++;
	s->st.followup_attempts++;
	snprintf(t->call_id, sizeof t->call_id, "%s-%" PRIu32, t->id, t->attempts);
	t->state = ST_WAITING;
	t->attempt_ms = now;
	HASH_ADD(hc, s->task_calls, call_id[0], strlen(t->call_id), t);
	if (t->oom) {
		t->oom = false;
		t->call_id[0] = '\0';
		t->state = ST_SCHEDULED;
		heap_set(s, t, now + cfg->sales.followup.retry_ms);
		return;
	}
	/* Wait for the deadline from the start: events fired by the offer may
	 * move the task on (a reject by the plan reschedules it). */
	heap_set(s, t, now + cfg->sales.followup.attempt_timeout_ms);
	char call[SALES_CALL_ID_MAX];
	snprintf(call, sizeof call, "%s", t->call_id);
	struct rt_call_req req = {
		.id = call,
		.caller = t->number,
		.dialed = t->dialed,
		.postal_code = t->postal,
		.segment = t->segment,
		.skills = skills,
		.n_skills = ns,
		.priority = cfg->sales.followup.priority,
		.preferred_target = t->target,
		.preferred_ms = cfg->sales.followup.preferred_ms,
	};
	int rc = rt_call_offer(s->rt, &req, &s->owner, 0);
	if (rc == -RT_ENOTARGET) { /* the target left the configuration */
		req.preferred_target = NULL;
		req.preferred_ms = 0;
		rc = rt_call_offer(s->rt, &req, &s->owner, 0);
	}
	if (rc < 0) {
		CL_LOG_WARN("sales: follow-up %s attempt %" PRIu32 ": the router refused it: %s",
			    t->id, t->attempts, rt_strerror(rc));
		if (task_of_call(s, call) == t)
			task_missed(s, t, "refused");
	}
}

void sales_tasks_tick(struct sales *s, uint64_t now)
{
	const struct rt_hent *top;
	unsigned n = 0;

	/* Bounded per tick: a burst of due tasks spreads over several ticks. */
	while ((top = rt_heap_top(&s->task_heap)) && top->k1 <= now && n++ < 256) {
		struct sales_task *t = top->item;
		if (t->state == ST_SCHEDULED) {
			task_start(s, t, now);
		} else if (t->state == ST_WAITING || t->state == ST_ACTIVE) {
			/* The attempt ran out of time. */
			char call[SALES_CALL_ID_MAX];
			snprintf(call, sizeof call, "%s", t->call_id);
			task_missed(s, t, "timeout");
			end_attempt_call(s, call);
		} else {
			rt_heap_remove(&s->task_heap, &t->hn);
		}
	}
	uint64_t keep = (uint64_t)s->cfg->sales.record_retention_s * 1000u;
	while (s->tdone_head && s->tdone_head->finished_ms + keep <= now) {
		struct sales_task *t = s->tdone_head;
		s->tdone_head = t->next;
		if (s->tdone_head)
			s->tdone_head->prev = NULL;
		else
			s->tdone_tail = NULL;
		HASH_DELETE(hh, s->tasks, t);
		s->n_tasks--;
		task_free(t);
	}
}

bool sales_offer_info(const struct sales *s, const struct rt_call *c, struct sales_offer_info *out)
{
	struct rt_call_info ci;

	if (!s || !s->rt)
		return false;
	rt_call_info(s->rt, c, &ci);
	if (!ci.owner || cl_owner_kind(ci.owner) != CL_OWNER_SALES)
		return false;
	const struct sales_task *t = task_of_call(s, ci.id);
	if (!t)
		return false;
	out->task_id = t->id;
	out->number = t->number;
	out->origin_call = t->origin;
	out->attempt = t->attempts;
	return true;
}

int sales_followup_accepted(struct sales *s, const char *call_id, const char *target_id)
{
	if (!s || !s->rt || !task_of_call(s, call_id))
		return 0;
	return rt_call_answered(s->rt, call_id, target_id, &s->owner);
}

uint32_t sales_tasks_erase(struct sales *s, struct sales_person *p)
{
	struct sales_task *t, *tmp;
	uint32_t n = 0;

	HASH_ITER(hh, s->tasks, t, tmp) {
		if (!sales_person_has(p->phones, p->n_phones, t->number) &&
		    !sales_person_has(p->calls, p->n_calls, t->origin))
			continue;
		char call[SALES_CALL_ID_MAX];
		for (uint32_t a = 1; a <= t->attempts; a++) {
			snprintf(call, sizeof call, "%s-%" PRIu32, t->id, a);
			sales_person_add(p, 2, call); /* the attempts' records */
		}
		sales_person_add(p, 0, t->number);
		bool open = task_open(t);
		snprintf(call, sizeof call, "%s", t->call_id);
		detach_call(s, t);
		t->state = ST_CANCELLED;
		if (call[0])
			end_attempt_call(s, call); /* its events find no task */
		if (rt_hnode_in_heap(&t->hn))
			rt_heap_remove(&s->task_heap, &t->hn);
		if (open) {
			s->st.followups_open--;
			sales_kpi_gauge(s, t->territory, t->plan, t->target, t->target_kind, -1, 0);
		} else {
			if (t->prev)
				t->prev->next = t->next;
			else
				s->tdone_head = t->next;
			if (t->next)
				t->next->prev = t->prev;
			else
				s->tdone_tail = t->prev;
		}
		pub_hash_del(s->pub, s->ix_followups, t->id);
		HASH_DELETE(hh, s->tasks, t);
		s->n_tasks--;
		task_free(t);
		n++;
	}
	return n;
}

void sales_tasks_publish(struct sales *s)
{
	struct sales_task *t, *tmp;

	HASH_ITER(hh, s->tasks, t, tmp)
		task_publish(s, t);
}

void sales_tasks_free(struct sales *s)
{
	struct sales_task *t, *tmp;

	HASH_CLEAR(hc, s->task_calls);
	HASH_ITER(hh, s->tasks, t, tmp) {
		HASH_DELETE(hh, s->tasks, t);
		task_free(t);
	}
	s->tdone_head = s->tdone_tail = NULL;
}

/* ---- complaints ---- */

static const char *const cmp_states[] = {
	[SCMP_OPEN] = "open", [SCMP_ACKNOWLEDGED] = "acknowledged", [SCMP_RESOLVED] = "resolved"};

static const char *level_name(const struct sales *s, uint32_t level)
{
	const struct cfg_sales *cs = &s->cfg->sales;
	return cs->n_levels ? cs->levels[level < cs->n_levels ? level : cs->n_levels - 1].name : "-";
}

static void cmp_free(struct sales_complaint *x)
{
	free(x->id);
	free(x->call_id);
	free(x->target);
	free(x->territory);
	free(x->plan);
	free(x->category);
	free(x->ack_by);
	free(x);
}

static void cmp_publish(struct sales *s, const struct sales_complaint *x)
{
	char v[6][24];
	struct pub_kv f[18];
	size_t n = 0;

	if (!s->pub)
		return;
	f[n++] = (struct pub_kv){"id", x->id};
	f[n++] = (struct pub_kv){"call", x->call_id};
	f[n++] = (struct pub_kv){"target", x->target};
	f[n++] = (struct pub_kv){"territory", x->territory};
	f[n++] = (struct pub_kv){"category", x->category};
	f[n++] = (struct pub_kv){"state", cmp_states[x->state]};
	snprintf(v[0], sizeof v[0], "%" PRIu32, x->level);
	f[n++] = (struct pub_kv){"level", v[0]};
	f[n++] = (struct pub_kv){"level_name", level_name(s, x->level)};
	snprintf(v[1], sizeof v[1], "%" PRIu64, x->deadline_ms);
	f[n++] = (struct pub_kv){"deadline_ms", v[1]};
	snprintf(v[2], sizeof v[2], "%" PRIu64, x->opened_ms);
	f[n++] = (struct pub_kv){"opened_ms", v[2]};
	snprintf(v[3], sizeof v[3], "%" PRIu32, x->escalations);
	f[n++] = (struct pub_kv){"escalations", v[3]};
	f[n++] = (struct pub_kv){"overdue", x->overdue ? "1" : "0"};
	f[n++] = (struct pub_kv){"ack_by", x->ack_by};
	snprintf(v[4], sizeof v[4], "%" PRIu64, x->resolved_ms);
	f[n++] = (struct pub_kv){"resolved_ms", v[4]};
	snprintf(v[5], sizeof v[5], "%" PRIu64, sales_now(s));
	f[n++] = (struct pub_kv){"ts_ms", v[5]};
	bool done = x->state == SCMP_RESOLVED;
	pub_hash_set(s->pub, s->ix_complaints, x->id, f, n,
		     done ? s->cfg->sales.record_retention_s : 0, done);
}

static void cmp_event(struct sales *s, const struct sales_complaint *x, const char *what,
		      const char *by)
{
	char lv[12], dl[24];
	snprintf(lv, sizeof lv, "%" PRIu32, x->level);
	snprintf(dl, sizeof dl, "%" PRIu64, x->deadline_ms);
	sales_emit(s, what, x->call_id, x->target, x->territory, cmp_states[x->state], NULL,
		   "complaint", x->id, "category", x->category, "level", lv, "level_name",
		   level_name(s, x->level), "deadline_ms", dl, "by", by, NULL);
}

int sales_complaint_open(struct sales *s, struct sales_call *c, const char *category,
			 const char **id, char *err, size_t errlen)
{
	struct sales_complaint *x;
	uint64_t now = sales_now(s);
	const struct cfg_sales *cs = &s->cfg->sales;

	if (s->n_complaints >= cs->max_tasks) {
		if (!s->cdone_head)
			return sales_fail(err, errlen, SALES_ELIMIT,
					  "disposition: %" PRIu32 " complaints are open (sales.max_tasks)",
					  cs->max_tasks);
		struct sales_complaint *o = s->cdone_head;
		s->cdone_head = o->next;
		if (s->cdone_head)
			s->cdone_head->prev = NULL;
		else
			s->cdone_tail = NULL;
		HASH_DEL(s->complaints, o);
		s->n_complaints--;
		cmp_free(o);
	}
	if (!(x = calloc(1, sizeof *x)))
		goto oom;
	if (!(x->id = strdup(sales_make_id(s, "cmp"))) || !(x->call_id = strdup(c->id)) ||
	    !(x->target = strdup(c->target)) || !(x->category = strdup(category)) ||
	    (c->territory && !(x->territory = strdup(c->territory))) ||
	    (c->plan && !(x->plan = strdup(c->plan))))
		goto oom;
	x->target_kind = c->target_kind;
	x->state = SCMP_OPEN;
	x->opened_ms = now;
	x->deadline_ms = now + (cs->n_levels ? cs->levels[0].deadline_ms : 86400000u);
	HASH_ADD_KEYPTR(hh, s->complaints, x->id, strlen(x->id), x);
	if (x->oom)
		goto oom;
	if (rt_heap_push(&s->cmp_heap, &x->hn, x, x->deadline_ms, ++s->seq) < 0) {
		HASH_DEL(s->complaints, x);
		goto oom;
	}
	s->n_complaints++;
	s->st.complaints_opened++;
	s->st.complaints_open++;
	sales_kpi_gauge(s, x->territory, x->plan, x->target, x->target_kind, 0, 1);
	cmp_publish(s, x);
	cmp_event(s, x, "complaint.opened", NULL);
	*id = x->id;
	return 0;
oom:
	if (x)
		cmp_free(x);
	return sales_fail(err, errlen, SALES_ENOMEM, "disposition: out of memory");
}

void sales_complaints_tick(struct sales *s, uint64_t now)
{
	const struct rt_hent *top;
	const struct cfg_sales *cs = &s->cfg->sales;
	unsigned n = 0;

	while ((top = rt_heap_top(&s->cmp_heap)) && top->k1 <= now && n++ < 256) {
		struct sales_complaint *x = top->item;
		rt_heap_remove(&s->cmp_heap, &x->hn);
		if (x->level + 1 < cs->n_levels) {
			x->level++;
			x->escalations++;
			x->deadline_ms = now + cs->levels[x->level].deadline_ms;
			if (rt_heap_push(&s->cmp_heap, &x->hn, x, x->deadline_ms, ++s->seq) < 0)
				CL_LOG_ERROR("sales: complaint %s: out of memory rescheduling it", x->id);
			s->st.complaints_escalated++;
			CL_LOG_INFO("sales: complaint %s (call %s) escalated to %s", x->id, x->call_id,
				    level_name(s, x->level));
			cmp_publish(s, x);
			cmp_event(s, x, "complaint.escalated", NULL);
		} else {
			x->overdue = true;
			s->st.complaints_overdue++;
			CL_LOG_WARN("sales: complaint %s (call %s) is overdue at the last level (%s)",
				    x->id, x->call_id, level_name(s, x->level));
			cmp_publish(s, x);
			cmp_event(s, x, "complaint.overdue", NULL);
		}
	}
	uint64_t keep = (uint64_t)cs->record_retention_s * 1000u;
	while (s->cdone_head && s->cdone_head->resolved_ms + keep <= now) {
		struct sales_complaint *x = s->cdone_head;
		s->cdone_head = x->next;
		if (s->cdone_head)
			s->cdone_head->prev = NULL;
		else
			s->cdone_tail = NULL;
		HASH_DEL(s->complaints, x);
		s->n_complaints--;
		cmp_free(x);
	}
}

int sales_complaint_update(struct sales *s, const struct sales_actor *a, const char *id,
			   enum sales_complaint_action act, const char *by, char *err,
			   size_t errlen)
{
	struct sales_complaint *x = NULL;
	(void)a;

	if (!id || !*id)
		return sales_fail(err, errlen, SALES_EINVAL, "complaint_update: complaint_id is required");
	if (act != SALES_CMP_ACK && act != SALES_CMP_RESOLVE)
		return sales_fail(err, errlen, SALES_EINVAL,
				  "complaint_update: action must be ACKNOWLEDGE or RESOLVE");
	if (by && *by && !sales_str_ok(by, 128, false))
		return sales_fail(err, errlen, SALES_EINVAL,
				  "complaint_update: by is too long or has control characters");
	HASH_FIND_STR(s->complaints, id, x);
	if (!x)
		return sales_fail(err, errlen, SALES_ENOENT, "complaint_update: no complaint %s", id);
	if (act == SALES_CMP_ACK) {
		if (x->state == SCMP_RESOLVED)
			return sales_fail(err, errlen, SALES_ESTATE,
					  "complaint_update: complaint %s is resolved", id);
		if (x->state == SCMP_ACKNOWLEDGED)
			return 0;
		x->state = SCMP_ACKNOWLEDGED;
		free(x->ack_by);
		x->ack_by = sales_strdup0(by);
		cmp_publish(s, x);
		cmp_event(s, x, "complaint.acknowledged", by);
		return 0;
	}
	if (x->state == SCMP_RESOLVED)
		return 0;
	x->state = SCMP_RESOLVED;
	x->resolved_ms = sales_now(s);
	if (rt_hnode_in_heap(&x->hn))
		rt_heap_remove(&s->cmp_heap, &x->hn);
	s->st.complaints_open--;
	sales_kpi_gauge(s, x->territory, x->plan, x->target, x->target_kind, 0, -1);
	x->prev = s->cdone_tail;
	x->next = NULL;
	if (s->cdone_tail)
		s->cdone_tail->next = x;
	else
		s->cdone_head = x;
	s->cdone_tail = x;
	cmp_publish(s, x);
	cmp_event(s, x, "complaint.resolved", by);
	return 0;
}

void sales_complaints_publish(struct sales *s)
{
	struct sales_complaint *x, *tmp;

	HASH_ITER(hh, s->complaints, x, tmp)
		cmp_publish(s, x);
}

void sales_complaints_free(struct sales *s)
{
	struct sales_complaint *x, *tmp;

	HASH_ITER(hh, s->complaints, x, tmp) {
		HASH_DEL(s->complaints, x);
		cmp_free(x);
	}
	s->cdone_head = s->cdone_tail = NULL;
}
