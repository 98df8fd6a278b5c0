/*
 * sales_wire.c — the sales messages of the protocol (see sales_wire.h and
 * docs/sales.md): field conversion, the rules that depend on the session,
 * error codes, and the replies.
 *
 * Session rules on top of the server's role check:
 * - agent: must be logged in as a rep (BAD_STATE otherwise) and acts as that
 *   rep; partner: acts as its partner. Both act only on calls they answered
 *   and on the orders and leads of those calls (FORBIDDEN otherwise).
 * - partner queries see only the partner's own figures: KpiQuery for its
 *   partner series, BacklogQuery of its orders, ContractQuery of its
 *   contract; anything wider is FORBIDDEN.
 * - admin acts on anything; observer only queries.
 *
 * Error codes: INVALID_ARGUMENT for malformed fields, unknown order or
 * complaint ids and ids taken by different content; UNKNOWN_CALL for calls
 * without a record; UNKNOWN_TARGET; FORBIDDEN; BAD_STATE (bad transition,
 * already disposed); LIMIT; INTERNAL (no memory).
 */
#include "sales_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLE_AGENT CLOSELOOP__V1__ROLE__ROLE_AGENT
#define ROLE_PARTNER CLOSELOOP__V1__ROLE__ROLE_PARTNER
#define ROLE_ADMIN CLOSELOOP__V1__ROLE__ROLE_ADMIN
#define ROLE_OBSERVER CLOSELOOP__V1__ROLE__ROLE_OBSERVER

#define E(x) CLOSELOOP__V1__ERROR_CODE__ERROR_##x
#define M(x) CLOSELOOP__V1__ENVELOPE__MSG_##x

bool sales_wire_is_request(int mc)
{
	switch (mc) {
	case M(DISPOSITION):
	case M(ORDER_PLACED):
	case M(ORDER_STATUS):
	case M(LEAD):
	case M(QA_SCORE):
	case M(COMPLAINT_UPDATE):
	case M(PARTNER_DRAIN):
	case M(ERASURE_REQUEST):
	case M(KPI_QUERY):
	case M(BACKLOG_QUERY):
	case M(CONTRACT_QUERY):
		return true;
	default:
		return false;
	}
}

bool sales_wire_role_may(int role, int mc)
{
	switch (mc) {
	case M(DISPOSITION):
	case M(ORDER_PLACED):
	case M(LEAD):
		return role == ROLE_AGENT || role == ROLE_PARTNER;
	case M(ORDER_STATUS):
		return role == ROLE_AGENT || role == ROLE_PARTNER || role == ROLE_ADMIN;
	case M(QA_SCORE):
	case M(COMPLAINT_UPDATE):
	case M(PARTNER_DRAIN):
	case M(ERASURE_REQUEST):
		return role == ROLE_ADMIN;
	case M(KPI_QUERY):
	case M(BACKLOG_QUERY):
	case M(CONTRACT_QUERY):
		return role == ROLE_ADMIN || role == ROLE_OBSERVER || role == ROLE_PARTNER;
	default:
		return false;
	}
}

static int code_of(int rc)
{
	switch (rc < 0 ? -rc : rc) {
	case SALES_EINVAL:
	case SALES_EEXIST: return E(INVALID_ARGUMENT);
	case SALES_ENOCALL: return E(UNKNOWN_CALL);
	case SALES_EFORBIDDEN: return E(FORBIDDEN);
	case SALES_ESTATE: return E(BAD_STATE);
	case SALES_ENOENT: return E(INVALID_ARGUMENT);
	case SALES_ELIMIT: return E(LIMIT);
	default: return E(INTERNAL);
	}
}

static void fail(struct sales_wire_reply *out, int code, const char *text)
{
	out->code = code;
	snprintf(out->text, sizeof out->text, "%s", text);
}

static void *mem(struct sales_wire_reply *out, size_t n, size_t size)
{
	void *p;

	if (out->n_mem == SALES_WIRE_MEM || !(p = calloc(n ? n : 1, size)))
		return NULL;
	out->mem[out->n_mem++] = p;
	return p;
}

void sales_wire_reply_free(struct sales_wire_reply *out)
{
	for (size_t i = 0; i < out->n_mem; i++)
		free(out->mem[i]);
	out->n_mem = 0;
}

/* The acting target for agent / partner requests; NULL with out filled. */
static const char *actor_target(const struct sales_wire_ctx *ctx, const wire_env *in,
				struct sales_wire_reply *out)
{
	if (ctx->role == ROLE_ADMIN)
		return NULL;
	if (!ctx->target || !*ctx->target) {
		snprintf(out->text, sizeof out->text, "%s: log in as a rep first", wire_msg_name(in));
		out->code = E(BAD_STATE);
	}
	return ctx->target;
}

static const char *str(const char *s) { return s && *s ? s : NULL; }

static void on_disposition(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
			   struct sales_wire_reply *out)
{
	const Closeloop__V1__Disposition *m = in->disposition;
	struct sales_actor a = {.target = actor_target(ctx, in, out), .who = ctx->who};
	struct sales_disposition d = {
		.call_id = m->call_id,
		.outcome = (enum sales_outcome)m->outcome,
		.due_ms = m->followup_due_ms,
		.category = str(m->complaint_category),
	};
	struct sales_disposition_result r;

	out->call_id = m->call_id;
	if (out->code)
		return;
	int rc = sales_dispose(s, &a, &d, &r, out->text, sizeof out->text);
	if (rc < 0) {
		out->code = code_of(rc);
		return;
	}
	Closeloop__V1__DispositionAck *ack = &out->u.disposition_ack;
	closeloop__v1__disposition_ack__init(ack);
	ack->call_id = m->call_id;
	if (r.task_id)
		ack->task_id = (char *)r.task_id;
	if (r.complaint_id)
		ack->complaint_id = (char *)r.complaint_id;
	out->env.msg_case = M(DISPOSITION_ACK);
	out->env.disposition_ack = ack;
}

static void on_order_placed(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
			    struct sales_wire_reply *out)
{
	const Closeloop__V1__OrderPlaced *m = in->order_placed;
	struct sales_actor a = {.target = actor_target(ctx, in, out), .who = ctx->who};
	struct sales_item items[SALES_MAX_ITEMS];

	out->call_id = m->call_id;
	if (out->code)
		return;
	if (m->n_items > SALES_MAX_ITEMS) {
		snprintf(out->text, sizeof out->text, "order_placed: at most %d items",
			 SALES_MAX_ITEMS);
		out->code = E(INVALID_ARGUMENT);
		return;
	}
	for (size_t i = 0; i < m->n_items; i++)
		items[i] = (struct sales_item){m->items[i]->sku, m->items[i]->quantity,
					       m->items[i]->unit_price_minor};
	struct sales_order_req r = {
		.order_id = m->order_id,
		.call_id = m->call_id,
		.amount_minor = m->amount_minor,
		.currency = m->currency,
		.items = items,
		.n_items = m->n_items,
		.priority = m->priority,
		.expedite = m->expedite,
	};
	int rc = sales_order_place(s, &a, &r, out->text, sizeof out->text);
	if (rc < 0)
		out->code = code_of(rc);
}

static void on_order_status(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
			    struct sales_wire_reply *out)
{
	const Closeloop__V1__OrderStatus *m = in->order_status;
	struct sales_actor a = {.target = actor_target(ctx, in, out), .who = ctx->who};

	if (out->code)
		return;
	int rc = sales_order_status(s, &a, m->order_id, (enum sales_order_state)m->state,
				    str(m->reason), out->text, sizeof out->text);
	if (rc < 0)
		out->code = code_of(rc);
}

static void on_lead(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
		    struct sales_wire_reply *out)
{
	const Closeloop__V1__Lead *m = in->lead;
	struct sales_actor a = {.target = actor_target(ctx, in, out), .who = ctx->who};
	struct sales_lead_req r = {
		.lead_id = str(m->lead_id),
		.call_id = m->call_id,
		.name = str(m->name),
		.company = str(m->company),
		.street = str(m->street),
		.postal_code = str(m->postal_code),
		.city = str(m->city),
		.country = str(m->country),
		.phone = str(m->phone),
		.email = str(m->email),
		.consent_contact = m->consent_contact,
		.consent_marketing = m->consent_marketing,
		.consent_share = m->consent_share,
		.products = (const char *const *)m->products,
		.n_products = m->n_products,
	};
	struct sales_lead_result res;

	out->call_id = m->call_id;
	if (out->code)
		return;
	int rc = sales_lead(s, &a, &r, &res, out->text, sizeof out->text);
	if (rc < 0) {
		out->code = code_of(rc);
		return;
	}
	Closeloop__V1__LeadAck *ack = &out->u.lead_ack;
	closeloop__v1__lead_ack__init(ack);
	ack->lead_id = (char *)res.lead_id;
	ack->qualified = res.qualified;
	out->env.msg_case = M(LEAD_ACK);
	out->env.lead_ack = ack;
}

static void on_erasure(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
		       struct sales_wire_reply *out)
{
	const Closeloop__V1__ErasureRequest *m = in->erasure_request;
	struct sales_actor a = {.who = ctx->who};
	struct sales_erase_result r;

	int rc = sales_erase(s, &a, str(m->phone), str(m->email), str(m->reference), &r, out->text,
			     sizeof out->text);
	if (rc < 0) {
		out->code = code_of(rc);
		return;
	}
	Closeloop__V1__ErasureResult *res = &out->u.erasure_result;
	closeloop__v1__erasure_result__init(res);
	res->erasure_id = (char *)r.erasure_id;
	res->leads = r.leads;
	res->calls = r.calls;
	res->followups = r.followups;
	res->redis_pending = r.redis_pending;
	out->env.msg_case = M(ERASURE_RESULT);
	out->env.erasure_result = res;
}

/* Partners see only their own series: the dimension and name they may ask. */
static bool partner_scope(const struct sales_wire_ctx *ctx, int *dim, const char **name,
			  const wire_env *in, struct sales_wire_reply *out)
{
	if (ctx->role != ROLE_PARTNER)
		return true;
	if ((*dim != SALES_DIM_PARTNER && *dim != 0) ||
	    (*name && **name && strcmp(*name, ctx->target) != 0)) {
		snprintf(out->text, sizeof out->text, "%s: a partner sees only its own figures",
			 wire_msg_name(in));
		out->code = E(FORBIDDEN);
		return false;
	}
	*dim = SALES_DIM_PARTNER;
	*name = ctx->target;
	return true;
}

static void on_kpi_query(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
			 struct sales_wire_reply *out)
{
	const Closeloop__V1__KpiQuery *m = in->kpi_query;
	int dim = (int)m->dimension;
	const char *name = str(m->name);
	struct sales_kpi_row *rows = NULL;

	if (dim < 0 || dim >= SALES_DIM_COUNT) {
		fail(out, E(INVALID_ARGUMENT), "kpi_query: unknown dimension");
		return;
	}
	if (!partner_scope(ctx, &dim, &name, in, out))
		return;
	struct sales_kpi_query q = {(enum sales_dim)dim, name, m->from_ms, m->to_ms, m->total};
	long n = sales_kpi_query(s, &q, &rows);
	if (n < 0) {
		fail(out, code_of((int)n), n == -SALES_EINVAL ? "kpi_query: from_ms is after to_ms"
							     : "kpi_query: out of memory");
		return;
	}
	/* The names in rows point into the module; rows itself is ours. */
	if (out->n_mem < SALES_WIRE_MEM)
		out->mem[out->n_mem++] = rows;
	Closeloop__V1__KpiRow *pr = mem(out, (size_t)n, sizeof *pr);
	Closeloop__V1__KpiRow **pp = mem(out, (size_t)n, sizeof *pp);
	if (!pr || !pp || (n && !rows)) {
		fail(out, E(INTERNAL), "kpi_query: out of memory");
		return;
	}
	for (long i = 0; i < n; i++) {
		const struct sales_kpi *k = &rows[i].k;
		Closeloop__V1__KpiRow *r = &pr[i];
		closeloop__v1__kpi_row__init(r);
		r->dimension = (Closeloop__V1__KpiDimension)rows[i].dim;
		r->name = (char *)rows[i].name;
		r->bucket_ms = rows[i].bucket_ms;
		r->offered = k->offered;
		r->answered = k->answered;
		r->abandoned = k->abandoned;
		r->answered_in_sl = k->answered_in_sl;
		r->answer_ms_sum = k->answer_ms_sum;
		r->handled = k->handled;
		r->handle_ms_sum = k->handle_ms_sum;
		r->closed = k->closed;
		r->orders = k->orders;
		r->revenue_minor = k->revenue_minor;
		r->cancelled = k->cancelled;
		r->commission_minor = k->commission_minor;
		r->lead_fees_minor = k->lead_fees_minor;
		r->leads = k->leads;
		r->qualified_leads = k->qualified_leads;
		r->followups_open = k->followups_open;
		r->complaints_open = k->complaints_open;
		r->qa_count = k->qa_count;
		r->qa_sum = k->qa_sum;
		r->missed = k->missed;
		r->followups_done = k->followups_done;
		r->avg_answer_ms = k->answered ? (double)k->answer_ms_sum / k->answered : 0;
		r->service_level = k->answered ? (double)k->answered_in_sl / k->answered : 0;
		r->closure_rate = k->answered ? (double)k->closed / k->answered : 0;
		r->avg_handle_ms = k->handled ? (double)k->handle_ms_sum / k->handled : 0;
		r->qa_avg = k->qa_count ? k->qa_sum / k->qa_count : 0;
		pp[i] = r;
	}
	Closeloop__V1__KpiReply *rep = &out->u.kpi_reply;
	closeloop__v1__kpi_reply__init(rep);
	rep->rows = pp;
	rep->n_rows = (size_t)n;
	rep->bucket_ms = SALES_BUCKET_MS;
	rep->currency = (char *)sales_currency(s);
	out->env.msg_case = M(KPI_REPLY);
	out->env.kpi_reply = rep;
}

static void on_backlog_query(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
			     struct sales_wire_reply *out)
{
	const Closeloop__V1__BacklogQuery *m = in->backlog_query;
	int dim = m->dimension ? (int)m->dimension : SALES_DIM_ALL;
	const char *name = str(m->name);
	struct sales_backlog *sums = NULL;
	struct sales_backlog_order *ords = NULL;
	size_t ns = 0, no = 0;

	if (ctx->role == ROLE_PARTNER && dim == SALES_DIM_ALL && !m->dimension)
		dim = SALES_DIM_PARTNER;
	if (!partner_scope(ctx, &dim, &name, in, out))
		return;
	if (dim != SALES_DIM_ALL && dim != SALES_DIM_TERRITORY && dim != SALES_DIM_PARTNER) {
		fail(out, E(INVALID_ARGUMENT), "backlog_query: dimension must be ALL, TERRITORY or "
					       "PARTNER");
		return;
	}
	int rc = sales_backlog_query(s, (enum sales_dim)dim, name, m->limit, &sums, &ns, &ords, &no);
	if (rc < 0) {
		fail(out, code_of(rc), "backlog_query: out of memory");
		return;
	}
	out->mem[out->n_mem++] = sums;
	out->mem[out->n_mem++] = ords;
	Closeloop__V1__BacklogSummary *ps = mem(out, ns, sizeof *ps);
	Closeloop__V1__BacklogSummary **pps = mem(out, ns, sizeof *pps);
	Closeloop__V1__BacklogOrder *po = mem(out, no, sizeof *po);
	Closeloop__V1__BacklogOrder **ppo = mem(out, no, sizeof *ppo);
	uint32_t *prio = mem(out, ns * (SALES_MAX_PRIORITY + 1), sizeof *prio);
	if (!ps || !pps || !po || !ppo || !prio) {
		fail(out, E(INTERNAL), "backlog_query: out of memory");
		return;
	}
	for (size_t i = 0; i < ns; i++) {
		const struct sales_backlog *b = &sums[i];
		Closeloop__V1__BacklogSummary *x = &ps[i];
		closeloop__v1__backlog_summary__init(x);
		x->dimension = (Closeloop__V1__KpiDimension)b->dim;
		x->name = (char *)b->name;
		x->open = b->open;
		x->placed = b->by_state[SALES_ORD_PLACED];
		x->allocated = b->by_state[SALES_ORD_ALLOCATED];
		x->backordered = b->by_state[SALES_ORD_BACKORDERED];
		x->shipped = b->by_state[SALES_ORD_SHIPPED];
		x->age_under_1d = b->age[0];
		x->age_1d_3d = b->age[1];
		x->age_3d_7d = b->age[2];
		x->age_over_7d = b->age[3];
		x->by_priority = &prio[i * (SALES_MAX_PRIORITY + 1)];
		memcpy(x->by_priority, b->by_priority, sizeof b->by_priority);
		x->n_by_priority = SALES_MAX_PRIORITY + 1;
		x->expedited = b->expedited;
		if (b->oldest_order)
			x->oldest_order = (char *)b->oldest_order;
		x->oldest_ms = b->oldest_ms;
		x->open_amount_minor = b->open_amount_minor;
		pps[i] = x;
	}
	for (size_t i = 0; i < no; i++) {
		const struct sales_backlog_order *b = &ords[i];
		Closeloop__V1__BacklogOrder *x = &po[i];
		closeloop__v1__backlog_order__init(x);
		x->order_id = (char *)b->order_id;
		x->call_id = (char *)b->call_id;
		x->target_id = (char *)b->target_id;
		x->territory = (char *)b->territory;
		x->state = (Closeloop__V1__OrderState)b->state;
		x->priority = b->priority;
		x->expedite = b->expedite;
		x->amount_minor = b->amount_minor;
		x->placed_ms = b->placed_ms;
		x->age_ms = b->age_ms;
		ppo[i] = x;
	}
	Closeloop__V1__BacklogReply *rep = &out->u.backlog_reply;
	closeloop__v1__backlog_reply__init(rep);
	rep->summaries = pps;
	rep->n_summaries = ns;
	rep->orders = ppo;
	rep->n_orders = no;
	out->env.msg_case = M(BACKLOG_REPLY);
	out->env.backlog_reply = rep;
}

static void on_contract_query(struct sales *s, const struct sales_wire_ctx *ctx,
			      const wire_env *in, struct sales_wire_reply *out)
{
	const char *tid = str(in->contract_query->target_id);
	struct sales_contract *c = NULL;

	if (ctx->role == ROLE_PARTNER) {
		if (tid && strcmp(tid, ctx->target) != 0) {
			fail(out, E(FORBIDDEN), "contract_query: a partner sees only its own contract");
			out->target_id = tid;
			return;
		}
		tid = ctx->target;
	}
	long n = sales_contracts(s, tid, &c);
	if (n < 0) {
		out->target_id = tid;
		fail(out, n == -SALES_ENOENT ? E(UNKNOWN_TARGET) : E(INTERNAL),
		     n == -SALES_ENOENT ? "contract_query: no partner with this id"
					: "contract_query: out of memory");
		return;
	}
	out->mem[out->n_mem++] = c;
	Closeloop__V1__ContractState *pc = mem(out, (size_t)n, sizeof *pc);
	Closeloop__V1__ContractState **pp = mem(out, (size_t)n, sizeof *pp);
	if (!pc || !pp) {
		fail(out, E(INTERNAL), "contract_query: out of memory");
		return;
	}
	for (long i = 0; i < n; i++) {
		const struct sales_contract *x = &c[i];
		Closeloop__V1__ContractState *r = &pc[i];
		closeloop__v1__contract_state__init(r);
		r->target_id = (char *)x->target_id;
		r->window_calls = x->window_calls;
		r->answered = x->answered;
		r->abandoned = x->abandoned;
		r->closed = x->closed;
		r->avg_answer_ms = x->avg_answer_ms;
		r->abandon_rate = x->abandon_rate;
		r->closure_rate = x->closure_rate;
		r->qa_count = x->qa_count;
		r->satisfaction = x->satisfaction;
		r->target_answer_ms = x->target_answer_ms;
		r->max_abandon = x->max_abandon;
		r->min_closure = x->min_closure;
		r->min_satisfaction = x->min_satisfaction;
		r->breach_answer = x->breach_answer;
		r->breach_abandon = x->breach_abandon;
		r->breach_closure = x->breach_closure;
		r->breach_satisfaction = x->breach_satisfaction;
		r->in_breach = x->in_breach;
		r->breach_since_ms = x->breach_since_ms;
		r->penalty = x->penalty;
		r->routing_closure = x->routing_closure;
		r->draining = x->draining;
		pp[i] = r;
	}
	Closeloop__V1__ContractReply *rep = &out->u.contract_reply;
	closeloop__v1__contract_reply__init(rep);
	rep->contracts = pp;
	rep->n_contracts = (size_t)n;
	out->env.msg_case = M(CONTRACT_REPLY);
	out->env.contract_reply = rep;
}

void sales_wire_handle(struct sales *s, const struct sales_wire_ctx *ctx, const wire_env *in,
		       struct sales_wire_reply *out)
{
	memset(out, 0, sizeof *out);
	closeloop__v1__envelope__init(&out->env);
	if (!s) {
		fail(out, E(INTERNAL), "the sales loop is not running");
		return;
	}
	int rc;
	switch (in->msg_case) {
	case M(DISPOSITION): on_disposition(s, ctx, in, out); break;
	case M(ORDER_PLACED): on_order_placed(s, ctx, in, out); break;
	case M(ORDER_STATUS): on_order_status(s, ctx, in, out); break;
	case M(LEAD): on_lead(s, ctx, in, out); break;
	case M(QA_SCORE): {
		const Closeloop__V1__QaScore *m = in->qa_score;
		out->call_id = m->call_id;
		rc = sales_qa(s, NULL, m->call_id, m->score, m->form_id,
			      str(m->reviewer) ? m->reviewer : ctx->who, out->text, sizeof out->text);
		if (rc < 0)
			out->code = code_of(rc);
		break;
	}
	case M(COMPLAINT_UPDATE): {
		const Closeloop__V1__ComplaintUpdate *m = in->complaint_update;
		struct sales_actor a = {.who = ctx->who};
		rc = sales_complaint_update(s, &a, m->complaint_id,
					    (enum sales_complaint_action)m->action,
					    str(m->by) ? m->by : ctx->who, out->text, sizeof out->text);
		if (rc < 0)
			out->code = code_of(rc);
		break;
	}
	case M(PARTNER_DRAIN): {
		const Closeloop__V1__PartnerDrain *m = in->partner_drain;
		struct sales_actor a = {.who = ctx->who};
		out->target_id = m->target_id;
		rc = sales_drain(s, &a, m->target_id, m->drain, str(m->reason), out->text,
				 sizeof out->text);
		if (rc < 0)
			out->code = rc == -SALES_ENOENT ? E(UNKNOWN_TARGET) : code_of(rc);
		break;
	}
	case M(ERASURE_REQUEST): on_erasure(s, ctx, in, out); break;
	case M(KPI_QUERY): on_kpi_query(s, ctx, in, out); break;
	case M(BACKLOG_QUERY): on_backlog_query(s, ctx, in, out); break;
	case M(CONTRACT_QUERY): on_contract_query(s, ctx, in, out); break;
	default: fail(out, E(UNKNOWN_MESSAGE), "not a sales request"); break;
	}
}
