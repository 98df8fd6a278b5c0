/*
 * test_sales.c — the sales module's core (sales.c): call records from the
 * router's events, dispositions and their rules, the undisposed flag,
 * retention, erasure from memory, and the sales: section of the
 * configuration. A real router feeds a module with a fake clock
 * (test_sales_fx.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_sales_fx.h"

static const struct sales_actor admin = {NULL, "admin"};

static struct sales_actor as(const char *target) { return (struct sales_actor){target, target}; }

static int dispose(struct sfx *f, const char *who, const char *call, enum sales_outcome o)
{
	struct sales_actor a = as(who);
	struct sales_disposition d = {.call_id = call, .outcome = o, .category = "product"};
	struct sales_disposition_result r;
	char err[SALES_TEXT_MAX];
	return sales_dispose(f->s, who ? &a : &admin, &d, &r, err, sizeof err);
}

static void test_records_and_kpis(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	struct sales_stats st;

	sfx_answered(f, "c1", "+49891234567", "s1", "p-1");
	sfx_end(f, "c1");
	sales_stats(f->s, &st);
	assert_int_equal(st.records, 1);

	struct sales_kpi k = sfx_kpi(f, SALES_DIM_PARTNER, "p-1");
	assert_int_equal(k.offered, 1);
	assert_int_equal(k.answered, 1);
	assert_int_equal(k.answered_in_sl, 1);
	assert_int_equal(k.handled, 1);
	k = sfx_kpi(f, SALES_DIM_TERRITORY, "de-south");
	assert_int_equal(k.offered, 1);
	assert_int_equal(k.answered, 1);
	k = sfx_kpi(f, SALES_DIM_QUEUE, "sales");
	assert_int_equal(k.offered, 1);
	k = sfx_kpi(f, SALES_DIM_ALL, "all");
	assert_int_equal(k.offered, 1);
	assert_int_equal(k.handled, 1);
	/* Nothing for a target that took no call. */
	k = sfx_kpi(f, SALES_DIM_REP, "rep-a");
	assert_int_equal(k.offered, 0);

	/* A disposition after the end is fine while the record is kept. */
	assert_int_equal(dispose(f, "p-1", "c1", SALES_OUT_NO_ORDER), 0);

	/* An abandoned call in the queue counts for the call's dimensions only. */
	assert_string_equal(sfx_call(f, "c2", "+49301111111", "s2"), "");
	sfx_abandon(f, "c2");
	k = sfx_kpi(f, SALES_DIM_ALL, "all");
	assert_int_equal(k.offered, 2);
	assert_int_equal(k.abandoned, 1);
	assert_int_equal(sfx_kpi(f, SALES_DIM_TERRITORY, "de-north").abandoned, 1);

	/* Retention: a day by default. */
	sfx_advance(f, 86399000);
	sales_stats(f->s, &st);
	assert_int_equal(st.records, 2);
	sfx_advance(f, 2000);
	sales_stats(f->s, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.records_expired, 2);
	assert_int_equal(dispose(f, "p-1", "c1", SALES_OUT_NO_ORDER), -SALES_ENOCALL);
	sfx_free(f);
}

static void test_expired_record_is_unknown(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  record_retention_s: 60\n");

	sfx_login(f, "rep-b");
	sfx_answered(f, "c1", "+49301111111", "s2", "rep-b");
	sfx_end(f, "c1");
	sfx_advance(f, 61000);
	assert_int_equal(dispose(f, "rep-b", "c1", SALES_OUT_ORDERED), -SALES_ENOCALL);
	sfx_free(f);
}

static void test_disposition_rules(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	struct sales_disposition_result r;
	char err[SALES_TEXT_MAX];

	sfx_login(f, "rep-a");
	sfx_login(f, "rep-b");
	sfx_answered(f, "c1", "+49301111111", "s1", "rep-a");
	/* A call still waiting has nobody to dispose of it. */
	sfx_call(f, "c2", "+49301111112", "s3");
	assert_int_equal(dispose(f, "rep-c", "c2", SALES_OUT_ORDERED), -SALES_ESTATE);

	assert_int_equal(dispose(f, "rep-a", "nope", SALES_OUT_ORDERED), -SALES_ENOCALL);
	assert_int_equal(dispose(f, "rep-b", "c1", SALES_OUT_ORDERED), -SALES_EFORBIDDEN);
	assert_int_equal(dispose(f, "rep-a", "c1", SALES_OUT_NONE), -SALES_EINVAL);
	assert_int_equal(dispose(f, "rep-a", "c1", SALES_OUT_COUNT), -SALES_EINVAL);
	assert_int_equal(dispose(f, "rep-a", "c1", SALES_OUT_NO_CONTACT), -SALES_EINVAL);
	struct sales_actor a = as("rep-a");
	struct sales_disposition d = {.call_id = "c1", .outcome = SALES_OUT_COMPLAINT};
	assert_int_equal(sales_dispose(f->s, &a, &d, &r, err, sizeof err), -SALES_EINVAL);
	assert_non_null(strstr(err, "complaint_category"));
	d.category = "has space";
	assert_int_equal(sales_dispose(f->s, &a, &d, &r, err, sizeof err), -SALES_EINVAL);
	d = (struct sales_disposition){.call_id = "c1", .outcome = SALES_OUT_FOLLOW_UP,
				       .due_ms = f->now - 120000};
	assert_int_equal(sales_dispose(f->s, &a, &d, &r, err, sizeof err), -SALES_EINVAL);
	assert_non_null(strstr(err, "past"));
	d.due_ms = f->now + 400ull * 86400000u;
	assert_int_equal(sales_dispose(f->s, &a, &d, &r, err, sizeof err), -SALES_EINVAL);

	/* Nothing above changed the call. */
	struct sales_stats st;
	sales_stats(f->s, &st);
	assert_int_equal(st.dispositions, 0);
	assert_int_equal(sfx_kpi(f, SALES_DIM_REP, "rep-a").closed, 0);

	assert_int_equal(dispose(f, "rep-a", "c1", SALES_OUT_ORDERED), 0);
	assert_int_equal(dispose(f, "rep-a", "c1", SALES_OUT_ORDERED), 0); /* a repeat */
	assert_int_equal(dispose(f, "rep-a", "c1", SALES_OUT_NO_ORDER), -SALES_ESTATE);
	/* An admin may dispose of any answered call. */
	sfx_answered(f, "c3", "+49301111113", "s2", "rep-b");
	assert_int_equal(dispose(f, NULL, "c3", SALES_OUT_WRONG_NUMBER), 0);

	sales_stats(f->s, &st);
	assert_int_equal(st.dispositions, 2);
	struct sales_kpi k = sfx_kpi(f, SALES_DIM_REP, "rep-a");
	assert_int_equal(k.closed, 1);
	assert_int_equal(k.answered, 1);
	assert_int_equal(sfx_kpi(f, SALES_DIM_ALL, "all").closed, 1);
	sfx_free(f);
}

static void test_undisposed_flag(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  disposition_timeout_s: 10\n");
	struct sales_stats st;

	sfx_login(f, "rep-b");
	sfx_answered(f, "u1", "+49301111111", "s2", "rep-b");
	sfx_end(f, "u1");
	sfx_answered(f, "u2", "+49301111112", "s2", "rep-b");
	sfx_end(f, "u2");
	assert_int_equal(dispose(f, "rep-b", "u2", SALES_OUT_NO_ORDER), 0);
	/* Abandoned in the queue: no disposition is expected. */
	sfx_call(f, "u3", "+49301111113", "s3");
	sfx_abandon(f, "u3");

	sfx_advance(f, 9000);
	sales_stats(f->s, &st);
	assert_int_equal(st.undisposed, 0);
	sfx_advance(f, 2000);
	sales_stats(f->s, &st);
	assert_int_equal(st.undisposed, 1);
	sfx_advance(f, 60000);
	sales_stats(f->s, &st);
	assert_int_equal(st.undisposed, 1); /* once */
	/* Late is still accepted. */
	assert_int_equal(dispose(f, "rep-b", "u1", SALES_OUT_NO_ORDER), 0);
	sfx_free(f);
}

static int place(struct sfx *f, const char *who, const char *id, const char *call, int64_t amount)
{
	struct sales_actor a = as(who);
	struct sales_item it = {"sku", 1, 0};
	struct sales_order_req r = {.order_id = id, .call_id = call, .amount_minor = amount,
				    .currency = "EUR", .items = &it, .n_items = 1};
	char err[SALES_TEXT_MAX];
	return sales_order_place(f->s, &a, &r, err, sizeof err);
}

static int lead(struct sfx *f, const char *who, const char *call, const char *phone,
		const char *email)
{
	struct sales_actor a = as(who);
	const char *prod[] = {"printer"};
	struct sales_lead_req r = {.call_id = call, .name = "Max Muster", .phone = phone,
				   .email = email, .consent_contact = true, .products = prod,
				   .n_products = 1};
	struct sales_lead_result res;
	char err[SALES_TEXT_MAX];
	return sales_lead(f->s, &a, &r, &res, err, sizeof err);
}

static void test_erasure_memory(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	struct sales_erase_result r;
	struct sales_stats st;
	char err[SALES_TEXT_MAX];

	sfx_login(f, "rep-b");
	/* The person: a sale with a lead (phone and email) to the partner, and
	 * an earlier call to a rep with a follow-up. Someone else: one call. */
	sfx_answered(f, "x1", "+4930555555", "s2", "rep-b");
	struct sales_disposition d = {.call_id = "x1", .outcome = SALES_OUT_FOLLOW_UP,
				      .due_ms = f->now + 3600000};
	struct sales_disposition_result dr;
	struct sales_actor b = as("rep-b");
	assert_int_equal(sales_dispose(f->s, &b, &d, &dr, err, sizeof err), 0);
	sfx_end(f, "x1");
	sfx_answered(f, "x2", "+49891111111", "s1", "p-1");
	assert_int_equal(place(f, "p-1", "o1", "x2", 5000), 0);
	assert_int_equal(lead(f, "p-1", "x2", "+49 30 555555", "Max@Example.org"), 0);
	sfx_end(f, "x2");
	sfx_answered(f, "y1", "+49891222222", "s1", "p-1");
	assert_int_equal(lead(f, "p-1", "y1", "+49891222222", "other@example.org"), 0);
	/* A call of the person still in progress. */
	sfx_login(f, "rep-a");
	sfx_answered(f, "x3", "+4930555555", "s1", "rep-a");

	struct sales_kpi before = sfx_kpi(f, SALES_DIM_ALL, "all");
	assert_int_equal(before.followups_open, 1);

	assert_int_equal(sales_erase(f->s, &admin, NULL, NULL, NULL, &r, err, sizeof err),
			 -SALES_EINVAL);
	assert_int_equal(sales_erase(f->s, &admin, "0301234", NULL, NULL, &r, err, sizeof err),
			 -SALES_EINVAL);
	assert_int_equal(sales_erase(f->s, &admin, NULL, "no-at-sign", NULL, &r, err, sizeof err),
			 -SALES_EINVAL);

	/* By email: the lead gives the number, the number the other calls. */
	assert_int_equal(sales_erase(f->s, &admin, NULL, "max@EXAMPLE.org", "t-1", &r, err,
				     sizeof err),
			 0);
	assert_int_equal(r.leads, 1);
	assert_int_equal(r.calls, 3);     /* x1, x2 removed; x3 scrubbed (live) */
	assert_int_equal(r.followups, 1);
	assert_false(r.redis_pending);    /* no publisher */
	assert_non_null(r.erasure_id);

	sales_stats(f->s, &st);
	assert_int_equal(st.records, 2);  /* y1, and x3 without its number */
	assert_int_equal(st.leads_in_memory, 1);
	assert_int_equal(st.followups_open, 0);
	/* Gone: the records (x1, x2), the lead (a retry is a new lead on an unknown call). */
	assert_int_equal(dispose(f, "rep-b", "x1", SALES_OUT_NO_ORDER), -SALES_ENOCALL);
	assert_int_equal(lead(f, "p-1", "x2", "+4930555555", NULL), -SALES_ENOCALL);
	/* The live call goes on and still counts. */
	assert_int_equal(dispose(f, "rep-a", "x3", SALES_OUT_NO_ORDER), 0);
	sfx_end(f, "x3");

	/* Aggregates: unchanged but for the erased open task, and x3's end. */
	struct sales_kpi after = sfx_kpi(f, SALES_DIM_ALL, "all");
	assert_int_equal(after.offered, before.offered);
	assert_int_equal(after.answered, before.answered);
	assert_int_equal(after.orders, before.orders);
	assert_int_equal(after.revenue_minor, before.revenue_minor);
	assert_int_equal(after.leads, before.leads);
	assert_int_equal(after.lead_fees_minor, before.lead_fees_minor);
	assert_int_equal(after.closed, before.closed);
	assert_int_equal(after.followups_open, 0);
	assert_int_equal(after.handled, before.handled + 1);

	/* Again: nothing left of the person; the other lead is untouched. */
	assert_int_equal(sales_erase(f->s, &admin, "+49 30 555555", "max@example.org", NULL, &r, err,
				     sizeof err),
			 0);
	assert_int_equal(r.leads + r.calls + r.followups, 0);
	sales_stats(f->s, &st);
	assert_int_equal(st.erasures, 2);
	assert_int_equal(st.leads_in_memory, 1);
	sfx_free(f);
}

/*
 * The record table over thousands of records: eviction at max_records
 * (oldest ended first), a reused id replacing its ended record, growth and
 * removals moving entries around, and an erasure removing many records at
 * once. Every record is checked by lookup (a disposition) afterwards.
 */
static void test_record_table(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  max_records: 1000\n");
	struct sales_stats st;
	struct sales_erase_result r;
	char id[32], err[SALES_TEXT_MAX];
	enum { N = 3000, KEEP = 1000 };

	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "t%d", i);
		sfx_answered(f, id, i % 3 ? "+49891234567" : "+4989555555", "s1", "p-1");
		sfx_end(f, id);
	}
	sales_stats(f->s, &st);
	assert_int_equal(st.records, KEEP);
	assert_int_equal(st.records_evicted, N - KEEP);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "t%d", i);
		assert_int_equal(dispose(f, "p-1", id, SALES_OUT_NO_ORDER),
				 i >= N - KEEP ? 0 : -SALES_ENOCALL);
	}

	/* A reused id: the new call's record replaces the ended one (which was
	 * disposed NO_ORDER: ORDERED would be refused on it). */
	sfx_answered(f, "t2500", "+49891234567", "s1", "p-1");
	sales_stats(f->s, &st);
	assert_int_equal(st.records, KEEP);
	assert_int_equal(st.records_evicted, N - KEEP + 1);
	assert_int_equal(dispose(f, "p-1", "t2500", SALES_OUT_ORDERED), 0);
	sfx_end(f, "t2500");

	/* Erase one person: a third of the kept records go at once. */
	uint32_t theirs = 0;
	for (int i = N - KEEP; i < N; i++)
		theirs += i % 3 == 0;
	assert_int_equal(sales_erase(f->s, &admin, "+4989555555", NULL, NULL, &r, err, sizeof err),
			 0);
	assert_int_equal(r.calls, theirs);
	sales_stats(f->s, &st);
	assert_int_equal(st.records, KEEP - theirs);
	for (int i = N - KEEP; i < N; i++) {
		snprintf(id, sizeof id, "t%d", i);
		int want = i % 3 == 0 ? -SALES_ENOCALL : 0; /* a repeat of the same answer is fine */
		assert_int_equal(dispose(f, "p-1", id,
					 i == 2500 ? SALES_OUT_ORDERED : SALES_OUT_NO_ORDER),
				 want);
	}
	sfx_free(f);
}

static void fwd_event(void *arg, const struct rt_event *ev)
{
	sales_event(((struct sfx *)arg)->s, ev);
}

/*
 * A configuration reload: the router's calls are carried into a new router
 * without the pointers to their records; the next event of a carried call
 * still reaches its record (looked up by id once), and new calls work.
 */
static void test_records_across_reload(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	struct rt_hooks hooks = {.event = fwd_event};
	struct rt_call_info ci;

	sfx_answered(f, "r1", "+49891234567", "s1", "p-1");
	rt_call_info(f->rt, rt_call_find(f->rt, "r1"), &ci);
	assert_non_null(ci.user); /* the record */
	struct rt *nrt = rt_new(f->base, f->cfg, f->ti, &hooks, f);
	assert_non_null(nrt);
	sales_set_rt(f->s, nrt);
	assert_int_equal(rt_adopt(nrt, f->rt), 1);
	rt_free(f->rt);
	f->rt = nrt;
	rt_call_info(f->rt, rt_call_find(f->rt, "r1"), &ci);
	assert_null(ci.user);

	sfx_end(f, "r1");
	struct sales_kpi k = sfx_kpi(f, SALES_DIM_PARTNER, "p-1");
	assert_int_equal(k.answered, 1);
	assert_int_equal(k.handled, 1);
	assert_int_equal(dispose(f, "p-1", "r1", SALES_OUT_NO_ORDER), 0);

	sfx_answered(f, "r2", "+49891234567", "s1", "p-1");
	rt_call_info(f->rt, rt_call_find(f->rt, "r2"), &ci);
	assert_non_null(ci.user);
	sfx_end(f, "r2");
	k = sfx_kpi(f, SALES_DIM_PARTNER, "p-1");
	assert_int_equal(k.offered, 2);
	assert_int_equal(k.handled, 2);
	struct sales_stats st;
	sales_stats(f->s, &st);
	assert_int_equal(st.records, 2);
	sfx_free(f);
}

static void test_qa(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	char err[SALES_TEXT_MAX];

	sfx_answered(f, "q1", "+49891111111", "s1", "p-1");
	assert_int_equal(sales_qa(f->s, &admin, "q1", 4.0, "f1", "rev", err, sizeof err), 0);
	assert_int_equal(sales_qa(f->s, &admin, "q1", 4.0, "f1", "rev", err, sizeof err), 0);
	assert_int_equal(sales_qa(f->s, &admin, "q1", 2.0, "f1", "rev", err, sizeof err),
			 -SALES_EEXIST);
	assert_int_equal(sales_qa(f->s, &admin, "q1", 2.0, "f2", "rev", err, sizeof err), 0);
	assert_int_equal(sales_qa(f->s, &admin, "q1", 5.5, "f3", NULL, err, sizeof err),
			 -SALES_EINVAL);
	assert_int_equal(sales_qa(f->s, &admin, "q1", -0.1, "f3", NULL, err, sizeof err),
			 -SALES_EINVAL);
	assert_int_equal(sales_qa(f->s, &admin, "q1", NAN, "f3", NULL, err, sizeof err),
			 -SALES_EINVAL);
	assert_int_equal(sales_qa(f->s, &admin, "q1", 3, "", NULL, err, sizeof err), -SALES_EINVAL);
	assert_int_equal(sales_qa(f->s, &admin, "zz", 3, "f3", NULL, err, sizeof err),
			 -SALES_ENOCALL);
	struct sales_kpi k = sfx_kpi(f, SALES_DIM_PARTNER, "p-1");
	assert_int_equal(k.qa_count, 2);
	assert_true(k.qa_sum > 5.999 && k.qa_sum < 6.001);
	sfx_free(f);
}

static void test_config(void **state)
{
	(void)state;
	struct cl_config *cfg = NULL;
	char err[512];
	static const char *const head = "auth: {pbx: t}\nskills: [s1]\n"
					"territories: [{name: de, phone: [\"+49\"]}]\n"
					"plans: [{name: p, steps: [{targets: reps, territory: any}]}]\n"
					"reps: [{id: r1, territories: [de]}, "
					"{id: r2, territories: [de], commission_pct: 7.5}]\n";
	static const struct {
		const char *sales;
		const char *want; /* NULL = loads */
	} cases[] = {
		{"", NULL},
		{"sales: {currency: USD, rep_commission_pct: 3, record_retention_s: 60}\n", NULL},
		{"sales: {currency: eur}\n", "ISO 4217"},
		{"sales: {currency: EURO}\n", "sales.currency"},
		{"sales: {colour: red}\n", "colour"},
		{"sales: {sla: {window_calls: 5, min_calls: 6}}\n", "min_calls"},
		{"sales: {sla: {penalty: 0}}\n", "penalty"},
		{"sales: {sla: {penalty: 1.5}}\n", "penalty"},
		{"sales: {followup: {max_attempts: 0}}\n", "max_attempts"},
		{"sales: {followup: {priority: 101}}\n", "priority"},
		{"sales: {complaints: []}\n", "complaints"},
		{"sales: {complaints: [{level: a, deadline_ms: 10}, {level: a, deadline_ms: 10}]}\n",
		 "twice"},
		{"sales: {complaints: [{level: a}]}\n", "deadline_ms"},
		{"sales: {rep_commission_pct: 101}\n", "rep_commission_pct"},
		{"sales: {max_amount_minor: -1}\n", "max_amount_minor"},
	};
	char yaml[2048];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(yaml, sizeof yaml, "%s%s", head, cases[i].sales);
		int rc = cl_config_load_string(yaml, "t", &cfg, err, sizeof err);
		if (!cases[i].want) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err);
			cl_config_free(cfg);
			cfg = NULL;
		} else {
			if (rc == 0)
				fail_msg("case %zu: loaded, want an error about %s", i, cases[i].want);
			if (!strstr(err, cases[i].want))
				fail_msg("case %zu: error '%s' does not name %s", i, err, cases[i].want);
		}
	}
	/* Defaults, and the reps' commission default. */
	snprintf(yaml, sizeof yaml, "%ssales: {rep_commission_pct: 3, complaints: "
				    "[{level: l1, deadline_ms: 1000}, {level: l2, deadline_ms: 2000}]}\n",
		 head);
	assert_int_equal(cl_config_load_string(yaml, "t", &cfg, err, sizeof err), 0);
	assert_string_equal(cfg->sales.currency, "EUR");
	assert_int_equal(cfg->sales.record_retention_s, 86400);
	assert_int_equal(cfg->sales.n_levels, 2);
	assert_string_equal(cfg->sales.levels[1].name, "l2");
	assert_int_equal(cfg->sales.levels[1].deadline_ms, 2000);
	assert_true(cfg->targets[0].commission_pct == 3.0);
	assert_true(cfg->targets[1].commission_pct == 7.5);
	assert_int_equal(cfg->redis.lead_maxlen, 1000000);
	cl_config_free(cfg);
	/* A partner has no commission_pct of its own: its contract says it. */
	snprintf(yaml, sizeof yaml,
		 "%spartners: [{id: p, token: tk, territories: [de], sip: \"sip:p@x\", "
		 "commission_pct: 3}]\n",
		 head);
	assert_int_equal(cl_config_load_string(yaml, "t", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "commission_pct"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_and_kpis),
		cmocka_unit_test(test_expired_record_is_unknown),
		cmocka_unit_test(test_disposition_rules),
		cmocka_unit_test(test_undisposed_flag),
		cmocka_unit_test(test_erasure_memory),
		cmocka_unit_test(test_record_table),
		cmocka_unit_test(test_records_across_reload),
		cmocka_unit_test(test_qa),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests_name("sales", tests, NULL, NULL);
}
