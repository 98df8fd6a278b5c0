/*
 * test_sales_kpi.c — KPI buckets and windows (sales_kpi.c): bucket
 * boundaries, the memory bound, late events, gauges across buckets,
 * queries and their JSON, and partner contracts: breaches per measure, the
 * routing penalty and measured closure given to the router, recovery, the
 * time window.
 */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sales_internal.h"
#include "test_sales_fx.h"

#define B SALES_BUCKET_MS

static char err[SALES_TEXT_MAX];

static long rows(struct sfx *f, enum sales_dim dim, const char *name, uint64_t from, uint64_t to,
		 bool total, struct sales_kpi_row **out)
{
	struct sales_kpi_query q = {dim, name, from, to ? to : UINT64_MAX, total};
	return sales_kpi_query(f->s, &q, out);
}

static void bump(struct sfx *f, uint64_t t, unsigned n)
{
	struct sales_kpi *k = sales_kpi_at(f->s, SALES_DIM_REP, "r", t);
	assert_non_null(k);
	k->offered += n;
}

static void test_buckets(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  kpi_memory_buckets: 3\n");
	struct sales_kpi_row *r;
	const uint64_t t0 = 2000000 * (uint64_t)B; /* a bucket start */

	bump(f, t0, 1);
	bump(f, t0 + B - 1, 2);   /* the same bucket */
	bump(f, t0 + B, 4);       /* the next */
	assert_int_equal(rows(f, SALES_DIM_REP, "r", 0, 0, false, &r), 2);
	assert_int_equal(r[0].bucket_ms, t0);
	assert_int_equal(r[0].k.offered, 3);
	assert_int_equal(r[1].bucket_ms, t0 + B);
	assert_int_equal(r[1].k.offered, 4);
	free(r);

	/* Late but kept: a gap filled in the middle, in order. */
	bump(f, t0 + 3 * B, 8);
	bump(f, t0 + 2 * B, 16);   /* four buckets > 3: the oldest goes */
	assert_int_equal(rows(f, SALES_DIM_REP, "r", 0, 0, false, &r), 3);
	assert_int_equal(r[0].bucket_ms, t0 + B);
	assert_int_equal(r[1].bucket_ms, t0 + 2 * B);
	assert_int_equal(r[1].k.offered, 16);
	assert_int_equal(r[2].bucket_ms, t0 + 3 * B);
	free(r);
	/* Older than everything kept: dropped. */
	assert_null(sales_kpi_at(f->s, SALES_DIM_REP, "r", t0));

	/* Ranges: [from, to) on bucket starts; totals sum them. */
	assert_int_equal(rows(f, SALES_DIM_REP, "r", t0 + 2 * B, t0 + 3 * B, false, &r), 1);
	assert_int_equal(r[0].k.offered, 16);
	free(r);
	assert_int_equal(rows(f, SALES_DIM_REP, "r", t0 + B, 0, true, &r), 1);
	assert_int_equal(r[0].bucket_ms, 0);
	assert_int_equal(r[0].k.offered, 4 + 16 + 8);
	free(r);
	assert_int_equal(rows(f, SALES_DIM_REP, "nobody", 0, 0, true, &r), 0);
	free(r);
	assert_int_equal(rows(f, SALES_DIM_COUNT, NULL, 0, 0, false, &r), -SALES_EINVAL);
	assert_int_equal(rows(f, SALES_DIM_REP, NULL, 10, 5, false, &r), -SALES_EINVAL);
	sfx_free(f);
}

static void test_gauges(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	struct sales_kpi_row *r;

	f->now = f->now - f->now % B + 1000; /* just after a bucket start */
	sales_kpi_gauge(f->s, "de", "sales", "rep-a", CFG_KIND_REP, 2, 1);
	sfx_advance(f, 0);
	assert_int_equal(rows(f, SALES_DIM_REP, "rep-a", 0, 0, false, &r), 1);
	assert_int_equal(r[0].k.followups_open, 2);
	assert_int_equal(r[0].k.complaints_open, 1);
	free(r);
	/* The next bucket carries the gauges without any event. */
	sfx_advance(f, B);
	assert_int_equal(rows(f, SALES_DIM_REP, "rep-a", 0, 0, false, &r), 2);
	assert_int_equal(r[1].k.followups_open, 2);
	free(r);
	sales_kpi_gauge(f->s, "de", "sales", "rep-a", CFG_KIND_REP, -1, -1);
	assert_int_equal(rows(f, SALES_DIM_REP, "rep-a", 0, 0, false, &r), 2);
	assert_int_equal(r[0].k.followups_open, 2); /* as it ended */
	assert_int_equal(r[1].k.followups_open, 1);
	assert_int_equal(r[1].k.complaints_open, 0);
	free(r);
	/* A total shows the gauge at the end of its range. */
	assert_int_equal(rows(f, SALES_DIM_QUEUE, "sales", 0, 0, true, &r), 1);
	assert_int_equal(r[0].k.followups_open, 1);
	free(r);
	sfx_free(f);
}

static void test_json(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);

	sfx_answered(f, "c1", "+49891111111", "s1", "p-1");
	sfx_end(f, "c1");
	struct sales_kpi_query q = {SALES_DIM_PARTNER, "p-1", 0, UINT64_MAX, true};
	char *js = sales_kpi_json(f->s, &q);
	assert_non_null(js);
	json_error_t je;
	json_t *root = json_loads(js, 0, &je);
	free(js);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "bucket_ms")), B);
	assert_string_equal(json_string_value(json_object_get(root, "currency")), "EUR");
	json_t *row = json_array_get(json_object_get(root, "rows"), 0);
	assert_non_null(row);
	assert_string_equal(json_string_value(json_object_get(row, "dimension")), "partner");
	assert_string_equal(json_string_value(json_object_get(row, "name")), "p-1");
	assert_int_equal(json_integer_value(json_object_get(row, "answered")), 1);
	assert_true(json_real_value(json_object_get(row, "service_level")) == 1.0);
	assert_true(json_real_value(json_object_get(row, "closure_rate")) == 0.0);
	json_decref(root);

	js = sales_contracts_json(f->s, NULL);
	assert_non_null(js);
	root = json_loads(js, 0, &je);
	free(js);
	assert_int_equal(json_array_size(root), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(root, 0), "target_id")),
			    "p-1");
	json_decref(root);
	sfx_free(f);
}

static struct rt_target_info perf(struct sfx *f, const char *id)
{
	struct rt_target_info ti;
	rt_target_info(f->rt, rt_target_find(f->rt, id), &ti);
	return ti;
}

static struct sales_contract contract(struct sfx *f)
{
	struct sales_contract *c = NULL, out;
	assert_int_equal(sales_contracts(f->s, "p-1", &c), 1);
	out = c[0];
	free(c);
	return out;
}

static void order(struct sfx *f, const char *id, const char *call)
{
	struct sales_actor a = {"p-1", NULL};
	struct sales_item it = {"sku", 1, 0};
	struct sales_order_req r = {.order_id = id, .call_id = call, .amount_minor = 100,
				    .currency = "EUR", .items = &it, .n_items = 1};
	assert_int_equal(sales_order_place(f->s, &a, &r, err, sizeof err), 0);
}

static void test_contract_closure(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  sla: {window_calls: 4, window_ms: 60000, min_calls: 2, "
				"min_scores: 1, penalty: 0.5}\n");
	struct sales_stats st;

	/* Nothing measured yet: the configured prior, no penalty. */
	sfx_answered(f, "c1", "+49891111111", "s1", "p-1");
	sfx_advance(f, 0);
	assert_true(fabs(perf(f, "p-1").closure - 0.4) < 1e-9);
	assert_true(perf(f, "p-1").penalty == 1.0);
	/* Two answered, none closed: closure 0 < 0.5. */
	sfx_answered(f, "c2", "+49891111112", "s1", "p-1");
	sfx_advance(f, 0);
	struct sales_contract c = contract(f);
	assert_true(c.in_breach);
	assert_true(c.breach_closure);
	assert_false(c.breach_abandon || c.breach_answer || c.breach_satisfaction);
	assert_int_equal(c.answered, 2);
	assert_true(perf(f, "p-1").penalty == 0.5);
	assert_true(perf(f, "p-1").closure == 0.0);
	sales_stats(f->s, &st);
	assert_int_equal(st.breaches, 1);
	sfx_advance(f, 0);
	sales_stats(f->s, &st);
	assert_int_equal(st.breaches, 1); /* raised once */

	/* Both close: 1.0, back within the contract, full weight. */
	order(f, "o1", "c1");
	order(f, "o2", "c2");
	sfx_advance(f, 0);
	c = contract(f);
	assert_false(c.in_breach);
	assert_true(c.closure_rate == 1.0);
	assert_true(perf(f, "p-1").penalty == 1.0);
	assert_true(perf(f, "p-1").closure == 1.0);
	sales_stats(f->s, &st);
	assert_int_equal(st.recoveries, 1);

	/* A poor QA score: satisfaction 2 < 3. */
	assert_int_equal(sales_qa(f->s, NULL, "c1", 2.0, "f", NULL, err, sizeof err), 0);
	sfx_advance(f, 0);
	c = contract(f);
	assert_true(c.breach_satisfaction);
	assert_true(fabs(c.satisfaction - 2.0) < 1e-9);
	assert_true(perf(f, "p-1").penalty == 0.5);

	/* The window is an hour... here a minute: all of it ages out. */
	sfx_advance(f, 61000);
	c = contract(f);
	assert_int_equal(c.window_calls, 0);
	assert_false(c.in_breach);
	assert_true(perf(f, "p-1").penalty == 1.0);
	assert_true(fabs(perf(f, "p-1").closure - 0.4) < 1e-9); /* the prior again */
	sfx_free(f);
}

static void test_contract_abandon_and_answer(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  sla: {window_calls: 4, min_calls: 4, penalty: 0.25}\n");

	/* Ringing the partner and abandoned: counted against it. */
	assert_string_equal(sfx_call(f, "a1", "+49891111111", "s1"), "p-1");
	sfx_abandon(f, "a1");
	assert_string_equal(sfx_call(f, "a2", "+49891111112", "s1"), "p-1");
	sfx_abandon(f, "a2");
	sfx_answered(f, "a3", "+49891111113", "s1", "p-1");
	sfx_advance(f, 0);
	assert_false(contract(f).in_breach); /* 3 calls < min_calls */
	sfx_answered(f, "a4", "+49891111114", "s1", "p-1");
	sfx_advance(f, 0);
	struct sales_contract c = contract(f);
	assert_int_equal(c.window_calls, 4);
	assert_int_equal(c.abandoned, 2);
	assert_true(c.abandon_rate == 0.5);
	assert_true(c.breach_abandon);
	assert_true(perf(f, "p-1").penalty == 0.25);
	struct sales_kpi k = sfx_kpi(f, SALES_DIM_PARTNER, "p-1");
	assert_int_equal(k.abandoned, 2);
	assert_int_equal(k.offered, 4);

	/* Slow answers (measured from the reservation): four in the ring now. */
	for (int i = 0; i < 4; i++)
		sales_win_add(f->s, "p-1", CFG_KIND_PARTNER, f->now, true, 20000);
	sfx_advance(f, 0);
	c = contract(f);
	assert_int_equal(c.abandoned, 0); /* pushed out of the ring */
	assert_false(c.breach_abandon);
	assert_true(c.breach_answer);
	assert_true(c.avg_answer_ms == 20000.0);
	assert_true(c.in_breach);
	/* A rep has no contract: closure is fed, never a penalty. */
	sfx_login(f, "rep-a");
	sfx_answered(f, "r1", "+49301111111", "s1", "rep-a");
	for (int i = 0; i < 3; i++)
		sales_win_add(f->s, "rep-a", CFG_KIND_REP, f->now, true, 60000);
	sfx_advance(f, 0);
	assert_true(perf(f, "rep-a").penalty == 1.0);
	assert_true(perf(f, "rep-a").closure == 0.0);
	assert_int_equal(sales_contracts(f->s, "rep-a", &(struct sales_contract *){NULL}),
			 -SALES_ENOENT);
	sfx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_gauges),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_contract_closure),
		cmocka_unit_test(test_contract_abandon_and_answer),
	};
	return cmocka_run_group_tests_name("sales_kpi", tests, NULL, NULL);
}
