/*
 * sales_json.c — JSON views of the sales loop's figures (KPIs, backlog,
 * contracts) for the HTTP API, built with jansson from the same queries the
 * protocol answers. Each returns heap text (caller frees) or NULL.
 *
 * Derived figures (averages, rates) are computed here and are 0 when their
 * denominator is 0; integer counters stay integers, money is in minor units.
 */
#include <jansson.h>
#include <stdlib.h>

#include "sales_internal.h"

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

static json_t *kpi_obj(const struct sales_kpi_row *r)
{
	const struct sales_kpi *k = &r->k;
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "dimension", json_string(sales_dim_name(r->dim)));
	json_object_set_new(o, "name", json_string(r->name));
	json_object_set_new(o, "bucket_ms", json_integer((json_int_t)r->bucket_ms));
#define I(f) json_object_set_new(o, #f, json_integer((json_int_t)k->f))
	I(offered);
	I(answered);
	I(abandoned);
	I(answered_in_sl);
	I(answer_ms_sum);
	I(handled);
	I(handle_ms_sum);
	I(missed);
	I(closed);
	I(orders);
	I(revenue_minor);
	I(cancelled);
	I(commission_minor);
	I(lead_fees_minor);
	I(leads);
	I(qualified_leads);
	I(followups_open);
	I(followups_done);
	I(complaints_open);
	I(qa_count);
#undef I
	json_object_set_new(o, "qa_sum", json_real(k->qa_sum));
	json_object_set_new(o, "avg_answer_ms", json_real(ratio((double)k->answer_ms_sum, (double)k->answered)));
	json_object_set_new(o, "service_level", json_real(ratio((double)k->answered_in_sl, (double)k->answered)));
	json_object_set_new(o, "closure_rate", json_real(ratio((double)k->closed, (double)k->answered)));
	json_object_set_new(o, "avg_handle_ms", json_real(ratio((double)k->handle_ms_sum, (double)k->handled)));
	json_object_set_new(o, "qa_avg", json_real(ratio(k->qa_sum, (double)k->qa_count)));
	return o;
}

static char *dump(json_t *root)
{
	char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return s;
}

char *sales_kpi_json(struct sales *s, const struct sales_kpi_query *q)
{
	struct sales_kpi_row *rows = NULL;
	long n = sales_kpi_query(s, q, &rows);
	json_t *root = NULL, *arr = NULL;

	if (n < 0)
		return NULL;
	if (!(root = json_object()) || !(arr = json_array()))
		goto fail;
	json_object_set_new(root, "bucket_ms", json_integer(SALES_BUCKET_MS));
	json_object_set_new(root, "currency", json_string(sales_currency(s)));
	for (long i = 0; i < n; i++) {
		json_t *o = kpi_obj(&rows[i]);
		if (!o || json_array_append_new(arr, o) < 0)
			goto fail;
	}
	json_object_set_new(root, "rows", arr);
	arr = NULL;
	free(rows);
	return dump(root);
fail:
	free(rows);
	json_decref(arr);
	json_decref(root);
	return NULL;
}

char *sales_backlog_json(struct sales *s, enum sales_dim dim, const char *name, uint32_t limit)
{
	struct sales_backlog *sums = NULL;
	struct sales_backlog_order *ords = NULL;
	size_t ns = 0, no = 0;
	json_t *root = NULL;

	if (sales_backlog_query(s, dim, name, limit, &sums, &ns, &ords, &no) < 0)
		return NULL;
	json_t *js = json_array(), *jo = json_array();
	if (!(root = json_object()) || !js || !jo) {
		json_decref(js);
		json_decref(jo);
		goto out;
	}
	json_object_set_new(root, "currency", json_string(sales_currency(s)));
	json_object_set_new(root, "summaries", js);
	json_object_set_new(root, "orders", jo);
	for (size_t i = 0; i < ns; i++) {
		const struct sales_backlog *b = &sums[i];
		json_t *o = json_object(), *pr = json_array();
		for (int p = 0; pr && p <= SALES_MAX_PRIORITY; p++)
			json_array_append_new(pr, json_integer(b->by_priority[p]));
		json_object_set_new(o, "dimension", json_string(sales_dim_name(b->dim)));
		json_object_set_new(o, "name", json_string(b->name));
		json_object_set_new(o, "open", json_integer(b->open));
		for (int st = SALES_ORD_PLACED; st <= SALES_ORD_SHIPPED; st++)
			json_object_set_new(o, sales_order_state_name(st), json_integer(b->by_state[st]));
		json_object_set_new(o, "age_under_1d", json_integer(b->age[0]));
		json_object_set_new(o, "age_1d_3d", json_integer(b->age[1]));
		json_object_set_new(o, "age_3d_7d", json_integer(b->age[2]));
		json_object_set_new(o, "age_over_7d", json_integer(b->age[3]));
		json_object_set_new(o, "by_priority", pr);
		json_object_set_new(o, "expedited", json_integer(b->expedited));
		json_object_set_new(o, "oldest_order",
				    b->oldest_order ? json_string(b->oldest_order) : json_null());
		json_object_set_new(o, "oldest_ms", json_integer((json_int_t)b->oldest_ms));
		json_object_set_new(o, "open_amount_minor", json_integer(b->open_amount_minor));
		json_array_append_new(js, o);
	}
	for (size_t i = 0; i < no; i++) {
		const struct sales_backlog_order *b = &ords[i];
		json_t *o = json_object();
		json_object_set_new(o, "order_id", json_string(b->order_id));
		json_object_set_new(o, "call_id", json_string(b->call_id));
		json_object_set_new(o, "target_id", json_string(b->target_id));
		json_object_set_new(o, "territory", json_string(b->territory));
		json_object_set_new(o, "state", json_string(sales_order_state_name(b->state)));
		json_object_set_new(o, "priority", json_integer(b->priority));
		json_object_set_new(o, "expedite", json_boolean(b->expedite));
		json_object_set_new(o, "amount_minor", json_integer(b->amount_minor));
		json_object_set_new(o, "placed_ms", json_integer((json_int_t)b->placed_ms));
		json_array_append_new(jo, o);
	}
out:
	free(sums);
	free(ords);
	return dump(root);
}

char *sales_contracts_json(struct sales *s, const char *target_id)
{
	struct sales_contract *c = NULL;
	long n = sales_contracts(s, target_id, &c);
	json_t *arr;

	if (n < 0 || !(arr = json_array())) {
		free(c);
		return NULL;
	}
	for (long i = 0; i < n; i++) {
		const struct sales_contract *x = &c[i];
		json_t *o = json_object();
		json_object_set_new(o, "target_id", json_string(x->target_id));
		json_object_set_new(o, "window_calls", json_integer(x->window_calls));
		json_object_set_new(o, "answered", json_integer(x->answered));
		json_object_set_new(o, "abandoned", json_integer(x->abandoned));
		json_object_set_new(o, "closed", json_integer(x->closed));
		json_object_set_new(o, "avg_answer_ms", json_real(x->avg_answer_ms));
		json_object_set_new(o, "abandon_rate", json_real(x->abandon_rate));
		json_object_set_new(o, "closure_rate", json_real(x->closure_rate));
		json_object_set_new(o, "qa_count", json_integer(x->qa_count));
		json_object_set_new(o, "satisfaction", json_real(x->satisfaction));
		json_object_set_new(o, "target_answer_ms", json_integer(x->target_answer_ms));
		json_object_set_new(o, "max_abandon", json_real(x->max_abandon));
		json_object_set_new(o, "min_closure", json_real(x->min_closure));
		json_object_set_new(o, "min_satisfaction", json_real(x->min_satisfaction));
		json_object_set_new(o, "breach_answer", json_boolean(x->breach_answer));
		json_object_set_new(o, "breach_abandon", json_boolean(x->breach_abandon));
		json_object_set_new(o, "breach_closure", json_boolean(x->breach_closure));
		json_object_set_new(o, "breach_satisfaction", json_boolean(x->breach_satisfaction));
		json_object_set_new(o, "in_breach", json_boolean(x->in_breach));
		json_object_set_new(o, "breach_since_ms", json_integer((json_int_t)x->breach_since_ms));
		json_object_set_new(o, "penalty", json_real(x->penalty));
		json_object_set_new(o, "routing_closure", json_real(x->routing_closure));
		json_object_set_new(o, "draining", json_boolean(x->draining));
		json_array_append_new(arr, o);
	}
	free(c);
	return dump(arr);
}
