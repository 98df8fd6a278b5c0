/*
 * test_sales_lead.c — leads (sales_lead.c): phone and email normalisation,
 * validation, qualification and the partner's lead fee, idempotency by
 * lead id, ownership, and the memory bound.
 */
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

static char err[SALES_TEXT_MAX];

static void test_normalise(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} phones[] = {
		{"+49 89 123456", "+4989123456"},
		{"+49 (89) 123-456", "+4989123456"},
		{"0049.89.123456", "+4989123456"},
		{"  +1 555 0100 999", "+15550100999"},
		{"+123456", "+123456"},
		{"089123456", NULL},      /* national: no country */
		{"+12345", NULL},         /* too short */
		{"+1234567890123456", NULL}, /* 16 digits */
		{"+49 89 12x456", NULL},
		{"+0891234567", NULL},
		{"", NULL},
	};
	char buf[64];
	for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
		int rc = sales_phone_norm(phones[i].in, buf, sizeof buf);
		if (phones[i].out) {
			assert_int_equal(rc, 0);
			assert_string_equal(buf, phones[i].out);
		} else if (rc == 0) {
			fail_msg("'%s' was accepted as '%s'", phones[i].in, buf);
		}
	}
	assert_int_equal(sales_phone_norm("+4989123456", buf, 8), -1); /* no room */

	static const struct {
		const char *in, *out;
	} emails[] = {
		{"Max.Muster@Example.COM", "max.muster@example.com"},
		{"a@b.de", "a@b.de"},
		{"no-at.example.com", NULL},
		{"two@@example.com", NULL},
		{"a@b@c.de", NULL},
		{"@example.com", NULL},
		{"a@example", NULL},
		{"a@.example.com", NULL},
		{"a@example.com.", NULL},
		{"a b@example.com", NULL},
		{"<a@example.com>", NULL},
	};
	for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++) {
		int rc = sales_email_norm(emails[i].in, buf, sizeof buf);
		if (emails[i].out) {
			assert_int_equal(rc, 0);
			assert_string_equal(buf, emails[i].out);
		} else if (rc == 0) {
			fail_msg("'%s' was accepted", emails[i].in);
		}
	}
}

static int lead(struct sfx *f, const char *who, struct sales_lead_req *r,
		struct sales_lead_result *out)
{
	struct sales_actor a = {who, who};
	return sales_lead(f->s, &a, r, out, err, sizeof err);
}

static void test_validation(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	struct sales_lead_result res;
	const char *prod[] = {"printer", "toner"};
	const char *comma[] = {"a,b"};
	const char *many[SALES_MAX_PRODUCTS + 1];
	for (int i = 0; i <= SALES_MAX_PRODUCTS; i++)
		many[i] = "p";

	sfx_answered(f, "c1", "+49891111111", "s1", "p-1");
	struct sales_lead_req ok = {.call_id = "c1", .name = "Max", .phone = "+49891111111",
				    .consent_contact = true, .products = prod, .n_products = 2};
	static const struct {
		int field;
		const char *value;
		const char *text;
	} bad[] = {
		{0, NULL, "name or company"},       /* no name, no company */
		{1, NULL, "phone or email"},        /* neither */
		{2, "de", "country"},
		{2, "DEU", "country"},
		{3, "089 1", "phone"},
		{4, "x", "email"},
		{5, "this postal code is far too long", "postal_code"},
		{6, "bad lead id", "lead_id"},
		{7, NULL, "product"},
		{8, NULL, "at most"},
		{9, "line\nbreak", "name"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sales_lead_req r = ok;
		switch (bad[i].field) {
		case 0: r.name = NULL; break;
		case 1: r.phone = NULL; break;
		case 2: r.country = bad[i].value; break;
		case 3: r.phone = bad[i].value; break;
		case 4: r.email = bad[i].value; break;
		case 5: r.postal_code = bad[i].value; break;
		case 6: r.lead_id = bad[i].value; break;
		case 7: r.products = comma, r.n_products = 1; break;
		case 8: r.products = many, r.n_products = SALES_MAX_PRODUCTS + 1; break;
		case 9: r.name = bad[i].value; break;
		}
		int rc = lead(f, "p-1", &r, &res);
		if (rc != -SALES_EINVAL || !strstr(err, bad[i].text))
			fail_msg("case %zu: rc %d err '%s'", i, rc, err);
	}
	struct sales_lead_req r = ok;
	r.call_id = "nope";
	assert_int_equal(lead(f, "p-1", &r, &res), -SALES_ENOCALL);
	assert_int_equal(lead(f, "rep-a", &ok, &res), -SALES_EFORBIDDEN);
	struct sales_stats st;
	sales_stats(f->s, &st);
	assert_int_equal(st.leads, 0);
	assert_int_equal(sfx_kpi(f, SALES_DIM_ALL, "all").leads, 0);
	/* A company without a person's name is a lead too. */
	r = ok;
	r.name = NULL;
	r.company = "Muster GmbH";
	assert_int_equal(lead(f, "p-1", &r, &res), 0);
	sfx_free(f);
}

static void test_qualified_and_fee(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	struct sales_lead_result res;
	const char *prod[] = {"printer"};

	sfx_login(f, "rep-a");
	sfx_answered(f, "p1", "+49891111111", "s1", "p-1");
	sfx_answered(f, "r1", "+49301111111", "s1", "rep-a");
	/* Qualified: consent, a product, a way to reach them: the fee (2.5 -> 250). */
	struct sales_lead_req r = {.call_id = "p1", .name = "A", .email = "a@example.org",
				   .consent_contact = true, .products = prod, .n_products = 1};
	assert_int_equal(lead(f, "p-1", &r, &res), 0);
	assert_true(res.qualified);
	/* No consent: captured, not qualified, no fee. */
	r.consent_contact = false;
	r.email = "b@example.org";
	assert_int_equal(lead(f, "p-1", &r, &res), 0);
	assert_false(res.qualified);
	/* No product: not qualified. */
	r.consent_contact = true;
	r.n_products = 0;
	r.email = "c@example.org";
	assert_int_equal(lead(f, "p-1", &r, &res), 0);
	assert_false(res.qualified);
	/* A rep's qualified lead earns no fee. */
	r = (struct sales_lead_req){.call_id = "r1", .name = "D", .phone = "+4930222222",
				    .consent_contact = true, .products = prod, .n_products = 1};
	assert_int_equal(lead(f, "rep-a", &r, &res), 0);
	assert_true(res.qualified);

	struct sales_kpi p = sfx_kpi(f, SALES_DIM_PARTNER, "p-1");
	assert_int_equal(p.leads, 3);
	assert_int_equal(p.qualified_leads, 1);
	assert_int_equal(p.lead_fees_minor, 250);
	struct sales_kpi a = sfx_kpi(f, SALES_DIM_REP, "rep-a");
	assert_int_equal(a.leads, 1);
	assert_int_equal(a.qualified_leads, 1);
	assert_int_equal(a.lead_fees_minor, 0);
	struct sales_kpi all = sfx_kpi(f, SALES_DIM_ALL, "all");
	assert_int_equal(all.leads, 4);
	assert_int_equal(all.lead_fees_minor, 250);
	sfx_free(f);
}

static void test_idempotent(void **state)
{
	(void)state;
	struct sfx *f = sfx_new(NULL);
	struct sales_lead_result res;
	char first[64];

	sfx_answered(f, "p1", "+49891111111", "s1", "p-1");
	struct sales_lead_req r = {.lead_id = "L-1", .call_id = "p1", .name = "A",
				   .phone = "+49 89 1111111"};
	assert_int_equal(lead(f, "p-1", &r, &res), 0);
	assert_string_equal(res.lead_id, "L-1");
	r.phone = "+4989-1111111"; /* the same number, written differently */
	assert_int_equal(lead(f, "p-1", &r, &res), 0);
	r.name = "B";
	assert_int_equal(lead(f, "p-1", &r, &res), -SALES_EEXIST);
	struct sales_stats st;
	sales_stats(f->s, &st);
	assert_int_equal(st.leads, 1);
	/* Engine ids: distinct. */
	r = (struct sales_lead_req){.call_id = "p1", .name = "A", .phone = "+4989111111"};
	assert_int_equal(lead(f, "p-1", &r, &res), 0);
	snprintf(first, sizeof first, "%s", res.lead_id);
	assert_int_equal(lead(f, "p-1", &r, &res), 0);
	assert_string_not_equal(first, res.lead_id);
	sales_stats(f->s, &st);
	assert_int_equal(st.leads, 3);
	sfx_free(f);
}

static void test_memory_bound(void **state)
{
	(void)state;
	struct sfx *f = sfx_new("  max_leads: 2\n  record_retention_s: 100\n");
	struct sales_lead_result res;
	struct sales_stats st;

	sfx_answered(f, "p1", "+49891111111", "s1", "p-1");
	struct sales_lead_req r = {.call_id = "p1", .name = "A", .phone = "+4989111111"};
	for (int i = 0; i < 3; i++)
		assert_int_equal(lead(f, "p-1", &r, &res), 0);
	sales_stats(f->s, &st);
	assert_int_equal(st.leads, 3);
	assert_int_equal(st.leads_in_memory, 2);
	assert_int_equal(st.leads_dropped, 1);
	sfx_advance(f, 101000);
	sales_stats(f->s, &st);
	assert_int_equal(st.leads_in_memory, 0);
	sfx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_qualified_and_fee),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_memory_bound),
	};
	return cmocka_run_group_tests_name("sales_lead", tests, NULL, NULL);
}
