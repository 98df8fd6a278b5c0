/*
 * sales_lead.c — the customer data a rep or partner captures on a call,
 * passed to the CRM through the lead stream, and its erasure.
 *
 * A lead belongs to a call the sender answered. Phone numbers are kept in
 * E.164 and email addresses in lower case, so erasure finds them by exact
 * match. A lead is *qualified* — and earns a partner its contract's
 * lead_fee — when the customer agreed to be contacted, named at least one
 * product of interest and left a phone number or an email address: the
 * engine decides, not the sender. Lead ids are the client's when given (a
 * repeat with the same content is acknowledged, other content refused),
 * otherwise the engine's.
 *
 * The lead goes to the lead stream (exactly once, with the personal
 * fields); the event stream only says that a lead was captured. Leads stay
 * in memory sales.record_retention_s (at most sales.max_leads, the oldest
 * forgotten first) for idempotent retries and erasure lookups; erasure of
 * older leads relies on the publisher's scan of the stream.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "sales_internal.h"

static const char *const lf_names[8] = {"name", "company", "street", "postal_code",
					"city", "country", "phone", "email"};
static const size_t lf_max[8] = {200, 200, 200, 16, 100, 2, 16, 254};

int sales_phone_norm(const char *in, char *out, size_t len)
{
	size_t n = 0, digits = 0;
	const char *p = in;

	if (!in || len < 17)
		return -1;
	while (*p == ' ')
		p++;
	if (p[0] == '0' && p[1] == '0')
		p += 2; /* international prefix 00 */
	else if (*p == '+')
		p++;
	else
		return -1;
	out[n++] = '+';
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			if (++digits > 15)
				return -1;
			out[n++] = *p;
		} else if (!strchr(" -.()/", *p)) {
			return -1;
		}
	}
	out[n] = '\0';
	return digits >= 6 && out[1] != '0' ? 0 : -1;
}

int sales_email_norm(const char *in, char *out, size_t len)
{
	size_t n = in ? strlen(in) : 0;
	const char *at = in ? strchr(in, '@') : NULL;

	if (n < 3 || n > 254 || n + 1 > len || !at || at == in || strchr(at + 1, '@') ||
	    !strchr(at + 1, '.') || at[1] == '.' || in[n - 1] == '.')
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= 0x20 || c == 0x7f || c == ',' || c == '<' || c == '>')
			return -1;
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	return 0;
}

static void lead_free(struct sales_lead *l)
{
	free(l->id);
	free(l->call_id);
	free(l->target);
	free(l->territory);
	for (int i = 0; i < 8; i++)
		free(l->f[i]);
	free(l->products);
	free(l);
}

static void lead_unlink(struct sales *s, struct sales_lead *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		s->lead_head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		s->lead_tail = l->prev;
	HASH_DEL(s->leads, l);
	s->n_leads--;
	lead_free(l);
}

static void k_lead(struct sales_kpi *k, void *a)
{
	const struct sales_lead *l = a;
	k->leads++;
	k->qualified_leads += l->qualified;
	k->lead_fees_minor += l->fee;
}

/* Checked, normalised copies of the request's fields into f[] (heap). */
static int lead_fields(const struct sales_lead_req *r, char *f[8], char **products, char *err,
		       size_t errlen)
{
	const char *in[8] = {r->name, r->company, r->street, r->postal_code,
			     r->city, r->country, r->phone, r->email};
	char buf[256];

	for (int i = 0; i < 8; i++) {
		if (!in[i] || !*in[i])
			continue;
		if (!sales_str_ok(in[i], lf_max[i] > 16 ? lf_max[i] : 32, false))
			return sales_fail(err, errlen, SALES_EINVAL,
					  "lead: %s is too long or has control characters",
					  lf_names[i]);
		const char *v = in[i];
		if (i == LF_PHONE) {
			if (sales_phone_norm(in[i], buf, sizeof buf) < 0)
				return sales_fail(err, errlen, SALES_EINVAL,
						  "lead: phone is not an E.164 number (+ and 6 to 15 "
						  "digits)");
			v = buf;
		} else if (i == LF_EMAIL) {
			if (sales_email_norm(in[i], buf, sizeof buf) < 0)
				return sales_fail(err, errlen, SALES_EINVAL,
						  "lead: email is not an address");
			v = buf;
		} else if (i == LF_COUNTRY) {
			if (strlen(v) != 2 || !isupper((unsigned char)v[0]) ||
			    !isupper((unsigned char)v[1]))
				return sales_fail(err, errlen, SALES_EINVAL,
						  "lead: country must be an ISO 3166 code such as DE");
		} else if (strlen(v) > lf_max[i]) {
			return sales_fail(err, errlen, SALES_EINVAL, "lead: %s is longer than %zu bytes",
					  lf_names[i], lf_max[i]);
		}
		if (!(f[i] = strdup(v)))
			return sales_fail(err, errlen, SALES_ENOMEM, "lead: out of memory");
	}
	if (!f[LF_NAME] && !f[LF_COMPANY])
		return sales_fail(err, errlen, SALES_EINVAL, "lead: name or company is required");
	if (!f[LF_PHONE] && !f[LF_EMAIL])
		return sales_fail(err, errlen, SALES_EINVAL, "lead: phone or email is required");
	if (r->n_products > SALES_MAX_PRODUCTS)
		return sales_fail(err, errlen, SALES_EINVAL, "lead: at most %d products",
				  SALES_MAX_PRODUCTS);
	size_t total = 1;
	for (size_t i = 0; i < r->n_products; i++) {
		const char *p = r->products[i];
		if (!p || !sales_str_ok(p, 64, false) || strchr(p, ','))
			return sales_fail(err, errlen, SALES_EINVAL,
					  "lead: product %zu must be 1..64 characters without commas",
					  i + 1);
		total += strlen(p) + 1;
	}
	if (r->n_products) {
		char *pl = malloc(total), *w = pl;
		if (!pl)
			return sales_fail(err, errlen, SALES_ENOMEM, "lead: out of memory");
		for (size_t i = 0; i < r->n_products; i++)
			w += sprintf(w, "%s%s", i ? "," : "", r->products[i]);
		*products = pl;
	}
	return 0;
}

static bool streq0(const char *a, const char *b)
{
	return (!a || !*a) ? (!b || !*b) : (b && strcmp(a, b) == 0);
}

int sales_lead(struct sales *s, const struct sales_actor *a, const struct sales_lead_req *r,
	       struct sales_lead_result *out, char *err, size_t errlen)
{
	struct sales_call *c;
	struct sales_lead *l = NULL, *old = NULL;
	char *f[8] = {0}, *products = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	if (r->lead_id && *r->lead_id && !sales_str_ok(r->lead_id, CFG_ID_MAX, true))
		return sales_fail(err, errlen, SALES_EINVAL,
				  "lead: lead_id must be 1..%d characters without spaces", CFG_ID_MAX);
	if ((rc = lead_fields(r, f, &products, err, errlen)) < 0)
		goto out;
	if (r->lead_id && *r->lead_id)
		HASH_FIND_STR(s->leads, r->lead_id, old);
	if (old) {
		bool same = strcmp(old->call_id, r->call_id ? r->call_id : "") == 0 &&
			    streq0(old->products, products) && old->consent[0] == r->consent_contact &&
			    old->consent[1] == r->consent_marketing &&
			    old->consent[2] == r->consent_share;
		for (int i = 0; i < 8 && same; i++)
			same = streq0(old->f[i], f[i]);
		if (a && a->target && strcmp(a->target, old->target) != 0)
			rc = sales_fail(err, errlen, SALES_EFORBIDDEN,
					"lead: lead %s belongs to another target", old->id);
		else if (!same)
			rc = sales_fail(err, errlen, SALES_EEXIST,
					"lead: lead %s exists with other content", old->id);
		else {
			out->lead_id = old->id;
			out->qualified = old->qualified;
			rc = 0;
		}
		goto out;
	}
	if ((rc = sales_own_call(s, a, r->call_id, "lead", &c, err, errlen)) < 0)
		goto out;
	if (s->n_leads >= s->cfg->sales.max_leads && s->lead_head) {
		lead_unlink(s, s->lead_head);
		s->st.leads_dropped++;
	}
	const char *id = r->lead_id && *r->lead_id ? r->lead_id : sales_make_id(s, "lead");
	if (!(l = calloc(1, sizeof *l)) || !(l->id = strdup(id)) || !(l->call_id = strdup(c->id)) ||
	    !(l->target = strdup(c->target)) ||
	    (c->territory && !(l->territory = strdup(c->territory)))) {
		rc = sales_fail(err, errlen, SALES_ENOMEM, "lead: out of memory");
		goto out;
	}
	memcpy(l->f, f, sizeof f);
	memset(f, 0, sizeof f);
	l->products = products;
	products = NULL;
	l->consent[0] = r->consent_contact;
	l->consent[1] = r->consent_marketing;
	l->consent[2] = r->consent_share;
	l->qualified = r->consent_contact && l->products && (l->f[LF_PHONE] || l->f[LF_EMAIL]);
	if (l->qualified && c->target_kind == CFG_KIND_PARTNER) {
		int ti = cl_config_target(s->cfg, c->target);
		if (ti >= 0)
			l->fee = (int64_t)llround(s->cfg->targets[ti].contract.lead_fee * 100.0);
	}
	l->captured_ms = sales_now(s);
	HASH_ADD_KEYPTR(hh, s->leads, l->id, strlen(l->id), l);
	if (l->oom) {
		rc = sales_fail(err, errlen, SALES_ENOMEM, "lead: out of memory");
		goto out;
	}
	l->prev = s->lead_tail;
	if (s->lead_tail)
		s->lead_tail->next = l;
	else
		s->lead_head = l;
	s->lead_tail = l;
	s->n_leads++;
	s->st.leads++;
	s->st.leads_qualified += l->qualified;

	/* The CRM's copy, with the personal data: the lead stream only. */
	char ts[24], fee[24];
	snprintf(ts, sizeof ts, "%" PRIu64, l->captured_ms);
	snprintf(fee, sizeof fee, "%" PRId64, l->fee);
	struct pub_kv kv[20];
	size_t n = 0;
	kv[n++] = (struct pub_kv){"lead", l->id};
	kv[n++] = (struct pub_kv){"call", l->call_id};
	kv[n++] = (struct pub_kv){"target", l->target};
	kv[n++] = (struct pub_kv){"territory", l->territory};
	kv[n++] = (struct pub_kv){"captured_ms", ts};
	for (int i = 0; i < 8; i++)
		kv[n++] = (struct pub_kv){lf_names[i], l->f[i]};
	kv[n++] = (struct pub_kv){"consent_contact", l->consent[0] ? "1" : "0"};
	kv[n++] = (struct pub_kv){"consent_marketing", l->consent[1] ? "1" : "0"};
	kv[n++] = (struct pub_kv){"consent_share", l->consent[2] ? "1" : "0"};
	kv[n++] = (struct pub_kv){"products", l->products};
	kv[n++] = (struct pub_kv){"qualified", l->qualified ? "1" : "0"};
	kv[n++] = (struct pub_kv){"fee_minor", fee};
	if (s->pub) {
		int prc = pub_lead(s->pub, kv, n, NULL);
		if (prc < 0)
			CL_LOG_ERROR("sales: lead %s not published: %s", l->id, pub_strerror(prc));
	}
	sales_kpi_each(s, SALES_DIMS_EVERY, c->territory, c->plan, c->target, c->target_kind,
		       l->captured_ms, k_lead, l);
	sales_emit(s, "lead.captured", l->call_id, l->target, l->territory,
		   l->qualified ? "qualified" : "unqualified", NULL, "lead", l->id, "fee_minor",
		   l->fee ? fee : NULL, NULL);
	out->lead_id = l->id;
	out->qualified = l->qualified;
	l = NULL;
	rc = 0;
out:
	for (int i = 0; i < 8; i++)
		free(f[i]);
	free(products);
	if (l)
		lead_free(l);
	return rc;
}

void sales_leads_expire(struct sales *s, uint64_t now)
{
	uint64_t keep = (uint64_t)s->cfg->sales.record_retention_s * 1000u;

	while (s->lead_head && s->lead_head->captured_ms + keep <= now)
		lead_unlink(s, s->lead_head);
}

static int list_add(char ***l, size_t *n, const char *v)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*l)[i], v) == 0)
			return 0;
	char **nl = realloc(*l, (*n + 1) * sizeof *nl);
	if (!nl)
		return -1;
	*l = nl;
	if (!(nl[*n] = strdup(v)))
		return -1;
	(*n)++;
	return 0;
}

bool sales_person_has(char *const *l, size_t n, const char *v)
{
	for (size_t i = 0; v && i < n; i++)
		if (strcmp(l[i], v) == 0)
			return true;
	return false;
}

int sales_person_add(struct sales_person *p, int what, const char *v)
{
	if (!v || !*v)
		return 0;
	switch (what) {
	case 0: return list_add(&p->phones, &p->n_phones, v);
	case 1: return list_add(&p->emails, &p->n_emails, v);
	default: return list_add(&p->calls, &p->n_calls, v);
	}
}

void sales_person_free(struct sales_person *p)
{
	for (size_t i = 0; i < p->n_phones; i++)
		free(p->phones[i]);
	for (size_t i = 0; i < p->n_emails; i++)
		free(p->emails[i]);
	for (size_t i = 0; i < p->n_calls; i++)
		free(p->calls[i]);
	free(p->phones);
	free(p->emails);
	free(p->calls);
	memset(p, 0, sizeof *p);
}

uint32_t sales_leads_erase(struct sales *s, struct sales_person *p)
{
	struct sales_lead *l, *tmp;
	uint32_t n = 0;
	bool again = true;

	/* A lead found by email may give a phone that finds more leads: repeat
	 * until a pass finds nothing (each pass removes what it finds). */
	while (again) {
		again = false;
		HASH_ITER(hh, s->leads, l, tmp) {
			if (!sales_person_has(p->phones, p->n_phones, l->f[LF_PHONE]) &&
			    !sales_person_has(p->emails, p->n_emails, l->f[LF_EMAIL]))
				continue;
			/* What else the lead says about the person is theirs too. */
			size_t before = p->n_phones + p->n_emails;
			if (sales_person_add(p, 0, l->f[LF_PHONE]) < 0 ||
			    sales_person_add(p, 1, l->f[LF_EMAIL]) < 0 ||
			    sales_person_add(p, 2, l->call_id) < 0)
				CL_LOG_ERROR("sales: erasure: out of memory collecting lead %s", l->id);
			again |= p->n_phones + p->n_emails != before;
			lead_unlink(s, l);
			n++;
		}
	}
	return n;
}

void sales_leads_free(struct sales *s)
{
	while (s->lead_head)
		lead_unlink(s, s->lead_head);
}
