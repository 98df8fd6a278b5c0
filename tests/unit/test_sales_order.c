/*
 * test_sales_order.c — orders (sales_order.c): validation, idempotency,
 * ownership, the status transitions, commission and its reversal, the
 * backlog views (order, age buckets, per territory and partner), retention
 * and limits, and the backlog JSON.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_sales_fx.h"

#define DAY 86400000ull

static char err[SALES_TEXT_MAX];

static int place_full(struct sfx *f, const char *who, const char *id, const char *call,
		      int64_t amount, const char *cur, const struct sales_item *items, size_t n,
		      int64_t prio, bool expedite)
{
	struct sales_actor a = {who, who};
	struct sales_order_req r = {.order_id = id, .call_id = call, .amount_minor = amount,
				    .currency = cur, .items = items, .n_items = n,
				    .priority = prio, .expedite = expedite};
	return sales_order_place(f->s, who ? &a : NULL, &r, err, sizeof err);
}

static int place(struct sfx *f, const char *who, const char *id, const char *call, int64_t amount,
		 int64_t prio, bool expedite)
{
	struct sales_item it = {"sku-1", 1, 0};
	return place_full(f, who, id, call, amount, "EUR", &it, 1, prio, expedite);
}

static int status(struct sfx *f, const char *who, const char *id, enum sales_order_state st)
{
	struct sales_actor a = {who, who};
	return sales_order_status(f->s, who ? &a : NULL, id, st, NULL, err, sizeof err);
}

static void test_validation(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  max_amount_minor: 1000000\n");
	static const struct sales_item ok1 = {"sku-1", 2, 500};
	static const struct sales_item bad_qty = {"sku-1", 0, 0};
	static const struct sales_item big_qty = {"sku-1", 1000001, 0};
	static const struct sales_item bad_sku = {"has space", 1, 0};
	static const struct sales_item neg_price = {"sku-1", 1, -1};
	static const struct sales_item ovf = {"sku-1", 1000000, INT64_MAX / 2};
	struct sales_stats st;

	sfx_login(f, "rep-a");
	sfx_login(f, "rep-b");
	sfx_answered(f, "c1", "+49301111111", "s1", "rep-a");
	static const struct {
		const char *id;
		int64_t amount;
		const char *cur;
		const struct sales_item *it;
		size_t n;
		int64_t prio;
		int want;
		const char *text;
	} cases[] = {
		{"o1", 0, "EUR", &ok1, 1, 0, -SALES_EINVAL, "positive"},
		{"o1", -100, "EUR", &ok1, 1, 0, -SALES_EINVAL, "positive"},
		{"o1", 1000001, "EUR", &ok1, 1, 0, -SALES_EINVAL, "limit"},
		{"o1", 1000, "USD", &ok1, 1, 0, -SALES_EINVAL, "currency"},
		{"o1", 1000, NULL, &ok1, 1, 0, -SALES_EINVAL, "currency"},
		{"o1", 1000, "EUR", &ok1, 1, 10, -SALES_EINVAL, "priority"},
		{"o1", 1000, "EUR", &ok1, 1, -1, -SALES_EINVAL, "priority"},
		{"o1", 1000, "EUR", &ok1, 0, 0, -SALES_EINVAL, "items"},
		{"o1", 1000, "EUR", &bad_qty, 1, 0, -SALES_EINVAL, "quantity"},
		{"o1", 1000, "EUR", &big_qty, 1, 0, -SALES_EINVAL, "quantity"},
		{"o1", 1000, "EUR", &bad_sku, 1, 0, -SALES_EINVAL, "sku"},
		{"o1", 1000, "EUR", &neg_price, 1, 0, -SALES_EINVAL, "unit_price"},
		{"o1", 999, "EUR", &ok1, 1, 0, -SALES_EINVAL, "differs"},
		{"o1", 1000, "EUR", &ovf, 1, 0, -SALES_EINVAL, "unit_price"},
		{"", 1000, "EUR", &ok1, 1, 0, -SALES_EINVAL, "order_id"},
		{"o 1", 1000, "EUR", &ok1, 1, 0, -SALES_EINVAL, "order_id"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = place_full(f, "rep-a", cases[i].id, "c1", cases[i].amount, cases[i].cur,
				    cases[i].it, cases[i].n, cases[i].prio, false);
		if (rc != cases[i].want || !strstr(err, cases[i].text))
			fail_msg("case %zu: rc %d, err '%s'", i, rc, err);
	}
	struct sales_item many[SALES_MAX_ITEMS + 1];
	for (size_t i = 0; i <= SALES_MAX_ITEMS; i++)
		many[i] = ok1;
	assert_int_equal(place_full(f, "rep-a", "o1", "c1", 1000, "EUR", many, SALES_MAX_ITEMS + 1, 0,
				    false),
			 -SALES_EINVAL);
	assert_int_equal(place(f, "rep-a", "o1", "nope", 1000, 0, false), -SALES_ENOCALL);
	assert_int_equal(place(f, "rep-b", "o1", "c1", 1000, 0, false), -SALES_EFORBIDDEN);
	sales_stats(f->s, &st);
	assert_int_equal(st.orders, 0);
	assert_int_equal(sfx_kpi(f, SALES_DIM_REP, "rep-a").orders, 0);

	/* Placed; a repeat is the same order; other content under the id is not. */
	assert_int_equal(place_full(f, "rep-a", "o1", "c1", 1000, "EUR", &ok1, 1, 3, true), 0);
	assert_int_equal(place_full(f, "rep-a", "o1", "c1", 1000, "EUR", &ok1, 1, 3, true), 0);
	assert_int_equal(place_full(f, "rep-a", "o1", "c1", 1000, "EUR", &ok1, 1, 4, true),
			 -SALES_EEXIST);
	assert_int_equal(place(f, "rep-b", "o1", "c1", 1000, 3, true), -SALES_EFORBIDDEN);
	sales_stats(f->s, &st);
	assert_int_equal(st.orders, 1);
	assert_int_equal(sfx_kpi(f, SALES_DIM_REP, "rep-a").orders, 1);
	/* An order closes the call; a disposition that denies it is refused. */
	assert_int_equal(sfx_kpi(f, SALES_DIM_REP, "rep-a").closed, 1);
	struct sales_actor a = {"rep-a", NULL};
	struct sales_disposition d = {.call_id = "c1", .outcome = SALES_OUT_NO_ORDER};
	struct sales_disposition_result r;
	assert_int_equal(sales_dispose(f->s, &a, &d, &r, err, sizeof err), -SALES_ESTATE);
	/* And the other way round. */
	sfx_answered(f, "c2", "+49301111112", "s2", "rep-b");
	d = (struct sales_disposition){.call_id = "c2", .outcome = SALES_OUT_WRONG_NUMBER};
	a.target = "rep-b";
	assert_int_equal(sales_dispose(f->s, &a, &d, &r, err, sizeof err), 0);
	assert_int_equal(place(f, "rep-b", "o2", "c2", 1000, 0, false), -SALES_ESTATE);
	sfx_free(f);
}

static void test_transitions(void **state)
{
	(void)state;
	/* allowed[from][to] */
	static const bool allowed[SALES_ORD_COUNT][SALES_ORD_COUNT] = {
		[SALES_ORD_PLACED] = {[SALES_ORD_ALLOCATED] = 1, [SALES_ORD_BACKORDERED] = 1,
				      [SALES_ORD_CANCELLED] = 1},
		[SALES_ORD_BACKORDERED] = {[SALES_ORD_ALLOCATED] = 1, [SALES_ORD_CANCELLED] = 1},
		[SALES_ORD_ALLOCATED] = {[SALES_ORD_SHIPPED] = 1, [SALES_ORD_BACKORDERED] = 1,
					 [SALES_ORD_CANCELLED] = 1},
		[SALES_ORD_SHIPPED] = {[SALES_ORD_DELIVERED] = 1},
	};
	/* How to reach each state from placed. */
	static const enum sales_order_state path[SALES_ORD_COUNT][3] = {
		[SALES_ORD_PLACED] = {0},
		[SALES_ORD_ALLOCATED] = {SALES_ORD_ALLOCATED},
		[SALES_ORD_BACKORDERED] = {SALES_ORD_BACKORDERED},
		[SALES_ORD_SHIPPED] = {SALES_ORD_ALLOCATED, SALES_ORD_SHIPPED},
		[SALES_ORD_DELIVERED] = {SALES_ORD_ALLOCATED, SALES_ORD_SHIPPED, SALES_ORD_DELIVERED},
		[SALES_ORD_CANCELLED] = {SALES_ORD_CANCELLED},
	};
	struct sfx *f = sfx_new(NULL);
	char id[32];
	int n = 0;

	sfx_answered(f, "c1", "+49891111111", "s1", "p-1");
	for (int from = SALES_ORD_PLACED; from < SALES_ORD_COUNT; from++) {
		for (int to = 0; to <= SALES_ORD_COUNT; to++) {
			snprintf(id, sizeof id, "o-%d", ++n);
			assert_int_equal(place(f, "p-1", id, "c1", 100, 0, false), 0);
			for (int k = 0; k < 3 && path[from][k]; k++)
				assert_int_equal(status(f, "p-1", id, path[from][k]), 0);
			int rc = status(f, "p-1", id, (enum sales_order_state)to);
			int want = to <= SALES_ORD_PLACED || to >= SALES_ORD_COUNT ? -SALES_EINVAL
				   : to == from					   ? 0
				   : allowed[from][to]				   ? 0
										   : -SALES_ESTATE;
			if (rc != want)
				fail_msg("%s -> %d: rc %d, want %d (%s)",
					 sales_order_state_name(from), to, rc, want, err);
		}
	}
	assert_int_equal(status(f, "p-1", "no-such", SALES_ORD_SHIPPED), -SALES_ENOENT);
	assert_int_equal(status(f, "rep-a", "o-1", SALES_ORD_SHIPPED), -SALES_EFORBIDDEN);
	assert_int_equal(status(f, NULL, "o-1", SALES_ORD_CANCELLED), 0); /* admin */
	sfx_free(f);
}

static void test_commission_and_cancel(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);

	sfx_login(f, "rep-a");
	sfx_answered(f, "p1", "+49891111111", "s1", "p-1");
	sfx_answered(f, "r1", "+49301111111", "s1", "rep-a");
	assert_int_equal(place(f, "p-1", "op1", "p1", 12345, 0, false), 0); /* 10 %: 1234.5 -> 1235 */
	assert_int_equal(place(f, "p-1", "op2", "p1", 333, 0, false), 0);   /* 33.3 -> 33 */
	assert_int_equal(place(f, "rep-a", "or1", "r1", 10000, 0, false), 0); /* 5 %: 500 */
	struct sales_kpi p = sfx_kpi(f, SALES_DIM_PARTNER, "p-1");
	assert_int_equal(p.orders, 2);
	assert_int_equal(p.revenue_minor, 12678);
	assert_int_equal(p.commission_minor, 1235 + 33);
	struct sales_kpi r = sfx_kpi(f, SALES_DIM_REP, "rep-a");
	assert_int_equal(r.commission_minor, 500);

	/* Cancelled: the same amounts come off, counted as a cancellation. */
	assert_int_equal(status(f, "p-1", "op1", SALES_ORD_CANCELLED), 0);
	p = sfx_kpi(f, SALES_DIM_PARTNER, "p-1");
	assert_int_equal(p.orders, 2);
	assert_int_equal(p.cancelled, 1);
	assert_int_equal(p.revenue_minor, 333);
	assert_int_equal(p.commission_minor, 33);
	struct sales_kpi all = sfx_kpi(f, SALES_DIM_ALL, "all");
	assert_int_equal(all.revenue_minor, 10333);
	assert_int_equal(all.commission_minor, 533);
	assert_int_equal(sfx_kpi(f, SALES_DIM_TERRITORY, "de-south").commission_minor, 33);
	assert_int_equal(sfx_kpi(f, SALES_DIM_QUEUE, "sales").orders, 3);
	/* Cancelling again changes nothing. */
	assert_int_equal(status(f, "p-1", "op1", SALES_ORD_CANCELLED), 0);
	assert_int_equal(sfx_kpi(f, SALES_DIM_PARTNER, "p-1").cancelled, 1);
	sfx_free(f);
}

static void test_backlog(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  record_retention_s: 3600\n");
	struct sales_backlog *sums;
	struct sales_backlog_order *ords;
	size_t ns, no;

	sfx_login(f, "rep-a");
	sfx_answered(f, "p1", "+49891111111", "s1", "p-1");
	sfx_answered(f, "r1", "+49301111111", "s1", "rep-a");
	/* Ages: 8 days, 4 days, 2 days, now. */
	assert_int_equal(place(f, "p-1", "old", "p1", 100, 1, false), 0);
	f->now += 4 * DAY;
	assert_int_equal(place(f, "rep-a", "mid", "r1", 200, 1, false), 0);
	f->now += 2 * DAY;
	assert_int_equal(place(f, "p-1", "urgent", "p1", 300, 9, false), 0);
	f->now += 2 * DAY;
	assert_int_equal(place(f, "p-1", "fast", "p1", 400, 0, true), 0);
	assert_int_equal(place(f, "rep-a", "done", "r1", 500, 9, true), 0);
	assert_int_equal(status(f, "rep-a", "done", SALES_ORD_CANCELLED), 0);
	assert_int_equal(status(f, "p-1", "urgent", SALES_ORD_BACKORDERED), 0);

	assert_int_equal(sales_backlog_query(f->s, SALES_DIM_ALL, NULL, 0, &sums, &ns, &ords, &no), 0);
	assert_int_equal(ns, 1);
	assert_int_equal(no, 4);
	/* Expedited first, then priority, then oldest. */
	assert_string_equal(ords[0].order_id, "fast");
	assert_string_equal(ords[1].order_id, "urgent");
	assert_string_equal(ords[2].order_id, "old");
	assert_string_equal(ords[3].order_id, "mid");
	assert_int_equal(ords[2].age_ms, 8 * DAY);
	const struct sales_backlog *b = &sums[0];
	assert_int_equal(b->open, 4);
	assert_int_equal(b->by_state[SALES_ORD_PLACED], 3);
	assert_int_equal(b->by_state[SALES_ORD_BACKORDERED], 1);
	assert_int_equal(b->age[0], 1);
	assert_int_equal(b->age[1], 1);
	assert_int_equal(b->age[2], 1);
	assert_int_equal(b->age[3], 1);
	assert_int_equal(b->by_priority[1], 2);
	assert_int_equal(b->by_priority[9], 1);
	assert_int_equal(b->expedited, 1);
	assert_string_equal(b->oldest_order, "old");
	assert_int_equal(b->open_amount_minor, 1000);
	free(sums);
	free(ords);

	/* The partner's orders only; a limit. */
	assert_int_equal(sales_backlog_query(f->s, SALES_DIM_PARTNER, "p-1", 2, &sums, &ns, &ords, &no),
			 0);
	assert_int_equal(ns, 1);
	assert_int_equal(sums[0].open, 3);
	assert_int_equal(no, 2);
	assert_string_equal(ords[0].order_id, "fast");
	free(sums);
	free(ords);
	/* Per territory: de-north has the rep's order. */
	assert_int_equal(sales_backlog_query(f->s, SALES_DIM_TERRITORY, NULL, 0, &sums, &ns, &ords, &no),
			 0);
	assert_int_equal(ns, 2);
	assert_string_equal(sums[0].name, "de-north");
	assert_int_equal(sums[0].open, 1);
	assert_string_equal(sums[1].name, "de-south");
	assert_int_equal(sums[1].open, 3);
	free(sums);
	free(ords);
	assert_int_equal(sales_backlog_query(f->s, SALES_DIM_REP, NULL, 0, &sums, &ns, &ords, &no),
			 -SALES_EINVAL);

	/* JSON for the HTTP API: the same listing. */
	char *js = sales_backlog_json(f->s, SALES_DIM_ALL, NULL, 10);
	assert_non_null(js);
	json_error_t je;
	json_t *root = json_loads(js, 0, &je);
	assert_non_null(root);
	json_t *orders = json_object_get(root, "orders");
	assert_int_equal(json_array_size(orders), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(orders, 0), "order_id")),
			    "fast");
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(root, "summaries"), 0), "open")),
			 4);
	json_decref(root);
	free(js);

	/* Closed orders stay for the retention (a retry is still one order). */
	assert_int_equal(place(f, "rep-a", "done", "r1", 500, 9, true), 0);
	sfx_advance(f, 3601000);
	struct sales_stats st;
	sales_stats(f->s, &st);
	assert_int_equal(st.orders_open, 4);
	sfx_free(f);
}

static void test_limit(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  max_orders: 2\n");

	sfx_answered(f, "p1", "+49891111111", "s1", "p-1");
	assert_int_equal(place(f, "p-1", "a", "p1", 100, 0, false), 0);
	assert_int_equal(place(f, "p-1", "b", "p1", 100, 0, false), 0);
	assert_int_equal(place(f, "p-1", "c", "p1", 100, 0, false), -SALES_ELIMIT);
	/* A closed order makes room. */
	assert_int_equal(status(f, "p-1", "a", SALES_ORD_CANCELLED), 0);
	assert_int_equal(place(f, "p-1", "c", "p1", 100, 0, false), 0);
	assert_int_equal(status(f, "p-1", "a", SALES_ORD_ALLOCATED), -SALES_ENOENT);
	sfx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_commission_and_cancel),
		cmocka_unit_test(test_backlog),
		cmocka_unit_test(test_limit),
	};
	return cmocka_run_group_tests_name("sales_order", tests, NULL, NULL);
}
