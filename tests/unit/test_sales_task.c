/*
 * test_sales_task.c — follow-up tasks and complaints (sales_task.c): the
 * task's call is offered to the same target first, accepted, retried after
 * a miss, failed after max_attempts, rescheduled, rejected by the plan,
 * timed out, passed on when the preferred target stays busy, erased with
 * its call; complaints climb the escalation path on their deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_sales_fx.h"

static char err[SALES_TEXT_MAX];
static char task_id[128];

static const char *const fu_yaml =
	"  followup: {retry_ms: 1000, max_attempts: 2, preferred_ms: 60000,"
	" attempt_timeout_ms: 5000}\n";

static int dispose(struct sfx *f, const char *who, const char *call, enum sales_outcome o,
		   uint64_t due)
{
	struct sales_actor a = {who, who};
	struct sales_disposition d = {.call_id = call, .outcome = o, .due_ms = due,
				      .category = "billing"};
	struct sales_disposition_result r;
	int rc = sales_dispose(f->s, &a, &d, &r, err, sizeof err);
	if (rc == 0 && r.task_id)
		snprintf(task_id, sizeof task_id, "%s", r.task_id);
	if (rc == 0 && r.complaint_id)
		snprintf(task_id, sizeof task_id, "%s", r.complaint_id);
	return rc;
}

/* A task from a call rep-a answered, due in 1 s. */
static void make_task(struct sfx *f, const char *call)
{
	sfx_answered(f, call, "+49301111111", "s2", "rep-a");
	assert_int_equal(dispose(f, "rep-a", call, SALES_OUT_FOLLOW_UP, f->now + 1000), 0);
	sfx_end(f, call);
}

/* The attempt call offered to target: checks and returns its id. */
static const char *attempt_to(struct sfx *f, const char *target, unsigned n)
{
	static char call[128];
	struct sales_offer_info fi;

	assert_string_equal(f->last_offer_target, target);
	assert_true(f->last_offer_followup);
	struct rt_call *c = rt_call_find(f->rt, f->last_offer_call);
	assert_non_null(c);
	assert_true(sales_offer_info(f->s, c, &fi));
	assert_string_equal(fi.task_id, task_id);
	assert_string_equal(fi.number, "+49301111111");
	assert_int_equal(fi.attempt, n);
	snprintf(call, sizeof call, "%s", f->last_offer_call);
	return call;
}

static void test_back_to_same_target(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(fu_yaml);
	struct sales_stats st;

	sfx_login(f, "rep-a");
	sfx_login(f, "rep-b");
	make_task(f, "c1"); /* rep-a, idle longer, takes c1: rep-b is the longest idle after it */
	assert_int_equal(sfx_kpi(f, SALES_DIM_REP, "rep-a").followups_open, 1);
	unsigned offers = f->offers;
	sfx_advance(f, 900);
	assert_int_equal(f->offers, offers); /* not due yet */
	sfx_advance(f, 100);
	const char *call = attempt_to(f, "rep-a", 1);
	/* Not a PBX call: no RouteCall for a PBX; accepting connects it. */
	assert_int_equal(sales_followup_accepted(f->s, call, "rep-a"), 0);
	struct rt_call_info ci;
	rt_call_info(f->rt, rt_call_find(f->rt, call), &ci);
	assert_int_equal(ci.state, RT_CALL_CONNECTED);
	/* Not reached: the call ends, a retry follows retry_ms later. */
	assert_int_equal(dispose(f, "rep-a", call, SALES_OUT_NO_CONTACT, 0), 0);
	assert_null(rt_call_find(f->rt, call));
	sfx_advance(f, 999);
	sales_stats(f->s, &st);
	assert_int_equal(st.followup_attempts, 1);
	sfx_advance(f, 1);
	call = attempt_to(f, "rep-a", 2);
	assert_int_equal(sales_followup_accepted(f->s, call, "rep-a"), 0);
	assert_int_equal(dispose(f, "rep-a", call, SALES_OUT_NO_ORDER, 0), 0);

	sales_stats(f->s, &st);
	assert_int_equal(st.followups_created, 1);
	assert_int_equal(st.followups_done, 1);
	assert_int_equal(st.followups_open, 0);
	assert_int_equal(st.followup_attempts, 2);
	struct sales_kpi k = sfx_kpi(f, SALES_DIM_REP, "rep-a");
	assert_int_equal(k.followups_done, 1);
	assert_int_equal(k.followups_open, 0);
	assert_int_equal(k.offered, 1); /* attempts are not inbound calls */
	assert_int_equal(k.answered, 1);
	/* Not a follow-up call: accepting does nothing. */
	assert_int_equal(sales_followup_accepted(f->s, "c1", "rep-a"), 0);
	sfx_free(f);
}

static void test_fails_after_max_attempts(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(fu_yaml);
	struct sales_stats st;

	sfx_login(f, "rep-a");
	make_task(f, "c1");
	sfx_advance(f, 1000);
	const char *call = attempt_to(f, "rep-a", 1);
	assert_int_equal(sales_followup_accepted(f->s, call, "rep-a"), 0);
	assert_int_equal(dispose(f, "rep-a", call, SALES_OUT_NO_CONTACT, 0), 0);
	sfx_advance(f, 1000);
	call = attempt_to(f, "rep-a", 2);
	/* Another rep may not report on it. */
	assert_int_equal(dispose(f, "rep-b", call, SALES_OUT_NO_CONTACT, 0), -SALES_ESTATE);
	assert_int_equal(sales_followup_accepted(f->s, call, "rep-a"), 0);
	assert_int_equal(dispose(f, "rep-b", call, SALES_OUT_NO_CONTACT, 0), -SALES_EFORBIDDEN);
	assert_int_equal(dispose(f, "rep-a", call, SALES_OUT_NO_CONTACT, 0), 0);
	sales_stats(f->s, &st);
	assert_int_equal(st.followups_failed, 1);
	assert_int_equal(st.followups_open, 0);
	unsigned offers = f->offers;
	sfx_advance(f, 10000);
	assert_int_equal(f->offers, offers);
	assert_int_equal(sfx_kpi(f, SALES_DIM_ALL, "all").followups_open, 0);
	sfx_free(f);
}

static void test_reschedule_and_timeout(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(fu_yaml);
	struct sales_stats st;

	sfx_login(f, "rep-a");
	make_task(f, "c1");
	sfx_advance(f, 1000);
	const char *call = attempt_to(f, "rep-a", 1);
	assert_int_equal(sales_followup_accepted(f->s, call, "rep-a"), 0);
	/* The customer asks for later: same task, new time. */
	assert_int_equal(dispose(f, "rep-a", call, SALES_OUT_FOLLOW_UP, f->now + 60000), 0);
	sfx_advance(f, 59000);
	sales_stats(f->s, &st);
	assert_int_equal(st.followup_attempts, 1);
	assert_int_equal(st.followups_created, 1);
	sfx_advance(f, 1000);
	call = attempt_to(f, "rep-a", 2);
	/* Offered and never accepted: given up after attempt_timeout_ms. */
	char id[128];
	snprintf(id, sizeof id, "%s", call);
	sfx_advance(f, 5000);
	assert_null(rt_call_find(f->rt, id));
	sfx_advance(f, 1000);
	call = attempt_to(f, "rep-a", 3);
	sales_stats(f->s, &st);
	assert_int_equal(st.followup_attempts, 3);
	assert_int_equal(st.followups_open, 1);
	sfx_free(f);
}

static void test_plan_rejects(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  followup: {retry_ms: 1000, max_attempts: 2, preferred_ms: 50}\n");
	struct sales_stats st;

	/* s3's plan: rep-c for 100 ms, then a callback step. rep-c takes the
	 * call, then goes on a break: each attempt waits for it 50 ms, then
	 * 100 ms in the plan, then the plan rejects it: a miss. */
	sfx_login(f, "rep-c");
	sfx_answered(f, "c1", "+49301111111", "s3", "rep-c");
	assert_int_equal(dispose(f, "rep-c", "c1", SALES_OUT_FOLLOW_UP, f->now + 10), 0);
	sfx_end(f, "c1");
	assert_int_equal(rt_target_set_ready(f->rt, "rep-c", false, "break"), 0);
	unsigned rejects = f->rejects;
	sfx_advance(f, 10);
	sfx_run(f, 400);
	assert_int_equal(f->rejects, rejects + 1);
	sales_stats(f->s, &st);
	assert_int_equal(st.followup_attempts, 1);
	assert_int_equal(st.followups_open, 1);
	assert_int_equal(st.followups_failed, 0);
	sfx_advance(f, 1000);
	sfx_run(f, 400);
	sales_stats(f->s, &st);
	assert_int_equal(st.followup_attempts, 2);
	assert_int_equal(st.followups_failed, 1);
	assert_int_equal(st.followups_open, 0);
	sfx_free(f);
}

static void test_preferred_busy_falls_back(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  followup: {preferred_ms: 50, retry_ms: 1000}\n");

	sfx_login(f, "rep-a");
	sfx_login(f, "rep-b");
	sfx_answered(f, "c1", "+49301111111", "s2", "rep-a");
	assert_int_equal(dispose(f, "rep-a", "c1", SALES_OUT_FOLLOW_UP, f->now + 10), 0);
	/* rep-a stays busy on c1 (not ended). */
	sfx_advance(f, 10);
	assert_string_not_equal(f->last_offer_target, "rep-b");
	sfx_run(f, 150); /* the preferred wait (50 ms) runs out: the plan takes over */
	assert_string_equal(f->last_offer_target, "rep-b");
	assert_true(f->last_offer_followup);
	sfx_free(f);
}

static void test_erase_live_attempt(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(fu_yaml);
	struct sales_erase_result r;
	struct sales_stats st;

	sfx_login(f, "rep-a");
	make_task(f, "c1");
	sfx_advance(f, 1000);
	char call[128];
	snprintf(call, sizeof call, "%s", attempt_to(f, "rep-a", 1));
	assert_int_equal(sales_followup_accepted(f->s, call, "rep-a"), 0);
	assert_int_equal(sales_erase(f->s, NULL, "+49301111111", NULL, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.followups, 1);
	assert_int_equal(r.calls, 2); /* c1 and the attempt */
	assert_null(rt_call_find(f->rt, call));
	sales_stats(f->s, &st);
	assert_int_equal(st.followups_open, 0);
	assert_int_equal(st.records, 0);
	/* Nothing comes back. */
	unsigned offers = f->offers;
	sfx_advance(f, 10000);
	assert_int_equal(f->offers, offers);
	assert_int_equal(dispose(f, "rep-a", call, SALES_OUT_NO_ORDER, 0), -SALES_ENOCALL);
	sfx_free(f);
}

static int cmp(struct sfx *f, const char *id, enum sales_complaint_action act)
{
	return sales_complaint_update(f->s, NULL, id, act, "lead", err, sizeof err);
}

static void test_complaints(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  complaints:\n"
				"    - {level: rep, deadline_ms: 1000}\n"
				"    - {level: supervisor, deadline_ms: 2000}\n"
				"    - {level: manager, deadline_ms: 3000}\n");
	struct sales_stats st;
	char id[128];

	sfx_login(f, "rep-a");
	sfx_answered(f, "c1", "+49301111111", "s2", "rep-a");
	assert_int_equal(dispose(f, "rep-a", "c1", SALES_OUT_COMPLAINT, 0), 0);
	snprintf(id, sizeof id, "%s", task_id);
	assert_int_equal(sfx_kpi(f, SALES_DIM_REP, "rep-a").complaints_open, 1);
	sfx_advance(f, 999);
	sales_stats(f->s, &st);
	assert_int_equal(st.complaints_escalated, 0);
	sfx_advance(f, 1);
	sales_stats(f->s, &st);
	assert_int_equal(st.complaints_escalated, 1); /* supervisor */
	/* Acknowledged: the clock runs on. */
	assert_int_equal(cmp(f, id, SALES_CMP_ACK), 0);
	assert_int_equal(cmp(f, id, SALES_CMP_ACK), 0);
	sfx_advance(f, 2000);
	sales_stats(f->s, &st);
	assert_int_equal(st.complaints_escalated, 2); /* manager */
	assert_int_equal(st.complaints_overdue, 0);
	sfx_advance(f, 3000);
	sales_stats(f->s, &st);
	assert_int_equal(st.complaints_overdue, 1);
	sfx_advance(f, 60000);
	sales_stats(f->s, &st);
	assert_int_equal(st.complaints_overdue, 1);
	assert_int_equal(st.complaints_escalated, 2);

	assert_int_equal(cmp(f, "nope", SALES_CMP_RESOLVE), -SALES_ENOENT);
	assert_int_equal(cmp(f, id, 9), -SALES_EINVAL);
	assert_int_equal(cmp(f, id, SALES_CMP_RESOLVE), 0);
	assert_int_equal(cmp(f, id, SALES_CMP_RESOLVE), 0);
	assert_int_equal(cmp(f, id, SALES_CMP_ACK), -SALES_ESTATE);
	sales_stats(f->s, &st);
	assert_int_equal(st.complaints_open, 0);
	assert_int_equal(sfx_kpi(f, SALES_DIM_REP, "rep-a").complaints_open, 0);
	/* Kept a day after resolution, then gone. */
	sfx_advance(f, 86400000);
	assert_int_equal(cmp(f, id, SALES_CMP_RESOLVE), -SALES_ENOENT);
	sfx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_back_to_same_target),
		cmocka_unit_test(test_fails_after_max_attempts),
		cmocka_unit_test(test_reschedule_and_timeout),
		cmocka_unit_test(test_plan_rejects),
		cmocka_unit_test(test_preferred_busy_falls_back),
		cmocka_unit_test(test_erase_live_attempt),
		cmocka_unit_test(test_complaints),
	};
	return cmocka_run_group_tests_name("sales_task", tests, NULL, NULL);
}
