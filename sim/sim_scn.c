/*
 * sim_scn.c — scenario loading (libyaml document API), binding to the engine
 * config, and the arrival-rate profile (see sim_scn.h).
 *
 * The whole file is loaded as one YAML document (scenario files are small),
 * then walked with one function per section. Every value goes through a
 * typed reader that checks its range and names the line on error; the
 * struct is only handed out once everything passed.
 */
#include "sim_scn.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cfg.h"

#define SCN_MAX_PBX 64
#define SCN_MAX_ITEMS 100000 /* origins, queues, profile hours, overrides */

struct ld {
	yaml_document_t *doc;
	const char *name;
	char *err;
	size_t errlen;
};

static int fail(struct ld *l, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ld *l, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n)
		snprintf(l->err, l->errlen, "%s:%lu: %s", l->name,
			 (unsigned long)n->start_mark.line + 1, msg);
	else
		snprintf(l->err, l->errlen, "%s: %s", l->name, msg);
	return -1;
}

static yaml_node_t *node_at(struct ld *l, int i) { return yaml_document_get_node(l->doc, i); }

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int want(struct ld *l, const yaml_node_t *n, yaml_node_type_t t, const char *what)
{
	if (!n || n->type != t)
		return fail(l, n, "%s must be a %s", what,
			    t == YAML_MAPPING_NODE    ? "mapping"
			    : t == YAML_SEQUENCE_NODE ? "list"
						      : "scalar");
	return 0;
}

static int rd_str(struct ld *l, const yaml_node_t *n, const char *key, char **out)
{
	const char *s = scalar(n);
	if (!s)
		return fail(l, n, "%s must be a string", key);
	if (strlen(s) == 0 || strlen(s) >= CFG_ID_MAX)
		return fail(l, n, "%s must be 1..%d bytes", key, CFG_ID_MAX - 1);
	char *d = strdup(s);
	if (!d)
		return fail(l, n, "out of memory");
	free(*out);
	*out = d;
	return 0;
}

static int rd_num(struct ld *l, const yaml_node_t *n, const char *key, double lo, double hi,
		  double *out)
{
	const char *s = scalar(n);
	char *end;
	if (!s || !*s)
		return fail(l, n, "%s must be a number", key);
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno || !isfinite(v))
		return fail(l, n, "%s: '%s' is not a number", key, s);
	if (v < lo || v > hi)
		return fail(l, n, "%s must be in [%g, %g], not %g", key, lo, hi, v);
	*out = v;
	return 0;
}

static int rd_uint(struct ld *l, const yaml_node_t *n, const char *key, uint64_t lo,
		   uint64_t hi, uint64_t *out)
{
	const char *s = scalar(n);
	char *end;
	if (!s || !*s || *s == '-')
		return fail(l, n, "%s must be a non-negative integer", key);
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno)
		return fail(l, n, "%s: '%s' is not an integer", key, s);
	if (v < lo || v > hi)
		return fail(l, n, "%s must be in [%llu, %llu], not %llu", key,
			    (unsigned long long)lo, (unsigned long long)hi, v);
	*out = v;
	return 0;
}

/* A list of strings into a fresh array (*out, *n); replaces nothing on error. */
static int rd_strlist(struct ld *l, const yaml_node_t *n, const char *key, char ***out,
		      size_t *count)
{
	if (want(l, n, YAML_SEQUENCE_NODE, key) < 0)
		return -1;
	size_t len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (len > SCN_MAX_ITEMS)
		return fail(l, n, "%s: more than %d entries", key, SCN_MAX_ITEMS);
	char **v = calloc(len ? len : 1, sizeof *v);
	if (!v)
		return fail(l, n, "out of memory");
	size_t i = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++, i++) {
		if (rd_str(l, node_at(l, *it), key, &v[i]) < 0) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return -1;
		}
	}
	*out = v;
	*count = len;
	return 0;
}

static void free_strlist(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

#define FOR_PAIRS(n, p)                                                                    \
	for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; p < (n)->data.mapping.pairs.top; \
	     p++)

static int key_of(struct ld *l, const yaml_node_pair_t *p, const char **k, yaml_node_t **v)
{
	yaml_node_t *kn = node_at(l, p->key);
	*k = scalar(kn);
	*v = node_at(l, p->value);
	if (!*k)
		return fail(l, kn, "keys must be strings");
	return 0;
}

static int rd_dist(struct ld *l, const yaml_node_t *n, const char *key, bool allow_none,
		   struct sim_time_dist *out)
{
	if (want(l, n, YAML_MAPPING_NODE, key) < 0)
		return -1;
	struct sim_time_dist d = {SIM_DIST_EXP, NAN};
	bool have_mean = false;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "dist") == 0) {
			const char *s = scalar(v);
			if (s && strcmp(s, "exponential") == 0)
				d.dist = SIM_DIST_EXP;
			else if (s && strcmp(s, "fixed") == 0)
				d.dist = SIM_DIST_FIXED;
			else if (s && allow_none && strcmp(s, "none") == 0)
				d.dist = SIM_DIST_NONE;
			else
				return fail(l, v, "%s.dist must be exponential, fixed%s", key,
					    allow_none ? " or none" : "");
		} else if (strcmp(k, "mean_ms") == 0) {
			if (rd_num(l, v, "mean_ms", 0, 1e12, &d.mean_ms) < 0)
				return -1;
			have_mean = true;
		} else {
			return fail(l, v, "%s: unknown key '%s' (dist, mean_ms)", key, k);
		}
	}
	if (d.dist != SIM_DIST_NONE && !have_mean)
		return fail(l, n, "%s: mean_ms is required", key);
	if (d.dist == SIM_DIST_EXP && d.mean_ms <= 0 && strcmp(key, "patience") == 0)
		return fail(l, n, "%s: an exponential patience needs mean_ms > 0", key);
	*out = d;
	return 0;
}

static void beh_unset(struct sim_beh *b)
{
	b->ring_ms = b->no_answer = b->closure_rate = b->recover_ms = NAN;
	b->handle.dist = SIM_DIST_INHERIT;
	b->handle.mean_ms = NAN;
}

static int rd_beh(struct ld *l, const yaml_node_t *n, const char *key, struct sim_beh *b)
{
	if (want(l, n, YAML_MAPPING_NODE, key) < 0)
		return -1;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		int rc;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "ring_ms") == 0)
			rc = rd_num(l, v, k, 0, 1e9, &b->ring_ms);
		else if (strcmp(k, "no_answer") == 0)
			rc = rd_num(l, v, k, 0, 1, &b->no_answer);
		else if (strcmp(k, "closure_rate") == 0)
			rc = rd_num(l, v, k, 0, 1, &b->closure_rate);
		else if (strcmp(k, "recover_ms") == 0)
			rc = rd_num(l, v, k, 0, 1e9, &b->recover_ms);
		else if (strcmp(k, "handle") == 0)
			rc = rd_dist(l, v, "handle", false, &b->handle);
		else
			return fail(l, v,
				    "%s: unknown key '%s' (ring_ms, no_answer, handle, "
				    "closure_rate, recover_ms)",
				    key, k);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int rd_arrivals(struct ld *l, const yaml_node_t *n, struct sim_scn *s)
{
	if (want(l, n, YAML_MAPPING_NODE, "arrivals") < 0)
		return -1;
	bool rate = false, prof = false;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "rate_per_s") == 0) {
			if (rd_num(l, v, k, 0, 1e7, &s->rate_per_s) < 0)
				return -1;
			rate = true;
		} else if (strcmp(k, "profile") == 0) {
			if (want(l, v, YAML_MAPPING_NODE, "profile") < 0)
				return -1;
			bool hour = false, per = false;
			FOR_PAIRS(v, q)
			{
				const char *pk;
				yaml_node_t *pv;
				if (key_of(l, q, &pk, &pv) < 0)
					return -1;
				if (strcmp(pk, "hour_ms") == 0) {
					if (rd_num(l, pv, pk, 1, 1e9, &s->hour_ms) < 0)
						return -1;
					hour = true;
				} else if (strcmp(pk, "calls_per_hour") == 0) {
					if (want(l, pv, YAML_SEQUENCE_NODE, pk) < 0)
						return -1;
					size_t len = (size_t)(pv->data.sequence.items.top -
							      pv->data.sequence.items.start);
					if (len == 0 || len > SCN_MAX_ITEMS)
						return fail(l, pv, "calls_per_hour: 1..%d entries",
							    SCN_MAX_ITEMS);
					double *h = calloc(len, sizeof *h);
					if (!h)
						return fail(l, pv, "out of memory");
					size_t i = 0;
					for (yaml_node_item_t *it = pv->data.sequence.items.start;
					     it < pv->data.sequence.items.top; it++, i++) {
						if (rd_num(l, node_at(l, *it), "calls_per_hour", 0,
							   1e9, &h[i]) < 0) {
							free(h);
							return -1;
						}
					}
					free(s->profile);
					s->profile = h;
					s->n_profile = len;
					per = true;
				} else {
					return fail(l, pv,
						    "profile: unknown key '%s' (hour_ms, calls_per_hour)",
						    pk);
				}
			}
			if (!hour || !per)
				return fail(l, v, "profile needs hour_ms and calls_per_hour");
			prof = true;
		} else {
			return fail(l, v, "arrivals: unknown key '%s' (rate_per_s, profile)", k);
		}
	}
	if (rate == prof)
		return fail(l, n, "arrivals: give exactly one of rate_per_s and profile");
	if (prof)
		s->rate_per_s = 0;
	return 0;
}

static int rd_origin(struct ld *l, const yaml_node_t *n, struct sim_origin *o)
{
	if (want(l, n, YAML_MAPPING_NODE, "an origin") < 0)
		return -1;
	o->weight = 1;
	o->caller_digits = 12;
	o->line = (int)n->start_mark.line + 1;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		uint64_t u;
		int rc = 0;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "name") == 0) {
			rc = rd_str(l, v, k, &o->name);
		} else if (strcmp(k, "weight") == 0) {
			rc = rd_num(l, v, k, 1e-9, 1e9, &o->weight);
		} else if (strcmp(k, "caller_prefix") == 0) {
			rc = rd_str(l, v, k, &o->caller_prefix);
			if (rc == 0 && (o->caller_prefix[0] != '+' ||
					strspn(o->caller_prefix + 1, "0123456789") !=
						strlen(o->caller_prefix + 1) ||
					strlen(o->caller_prefix) > 16))
				rc = fail(l, v, "caller_prefix must be '+' and up to 15 digits");
		} else if (strcmp(k, "caller_digits") == 0) {
			rc = rd_uint(l, v, k, 1, 15, &u);
			o->caller_digits = (unsigned)u;
		} else if (strcmp(k, "postal") == 0) {
			free_strlist(o->postal, o->n_postal);
			o->postal = NULL;
			o->n_postal = 0;
			rc = rd_strlist(l, v, k, &o->postal, &o->n_postal);
		} else if (strcmp(k, "postal_len") == 0) {
			rc = rd_uint(l, v, k, 0, 32, &u);
			o->postal_len = (unsigned)u;
		} else {
			return fail(l, v,
				    "origin: unknown key '%s' (name, weight, caller_prefix, "
				    "caller_digits, postal, postal_len)",
				    k);
		}
		if (rc < 0)
			return -1;
	}
	if (!o->name)
		return fail(l, n, "an origin needs a name");
	if (!o->caller_prefix)
		return fail(l, n, "origin %s needs a caller_prefix", o->name);
	if (strlen(o->caller_prefix) - 1 > o->caller_digits)
		return fail(l, n, "origin %s: caller_prefix is longer than caller_digits", o->name);
	return 0;
}

static int rd_queue(struct ld *l, const yaml_node_t *n, struct sim_queue *q)
{
	if (want(l, n, YAML_MAPPING_NODE, "a queue") < 0)
		return -1;
	q->weight = 1;
	q->line = (int)n->start_mark.line + 1;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		uint64_t u;
		int rc = 0;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "name") == 0) {
			rc = rd_str(l, v, k, &q->name);
		} else if (strcmp(k, "weight") == 0) {
			rc = rd_num(l, v, k, 1e-9, 1e9, &q->weight);
		} else if (strcmp(k, "dialed") == 0) {
			rc = rd_str(l, v, k, &q->dialed);
		} else if (strcmp(k, "segment") == 0) {
			rc = rd_str(l, v, k, &q->segment);
		} else if (strcmp(k, "language") == 0) {
			rc = rd_str(l, v, k, &q->language);
		} else if (strcmp(k, "priority") == 0) {
			rc = rd_uint(l, v, k, 0, 100, &u);
			q->priority = (uint32_t)u;
		} else if (strcmp(k, "skills") == 0) {
			free_strlist(q->skills, q->n_skills);
			q->skills = NULL;
			q->n_skills = 0;
			rc = rd_strlist(l, v, k, &q->skills, &q->n_skills);
		} else if (strcmp(k, "origins") == 0) {
			free_strlist(q->origin_names, q->n_origins);
			q->origin_names = NULL;
			q->n_origins = 0;
			rc = rd_strlist(l, v, k, &q->origin_names, &q->n_origins);
		} else {
			return fail(l, v,
				    "queue: unknown key '%s' (name, weight, dialed, segment, skills, "
				    "language, priority, origins)",
				    k);
		}
		if (rc < 0)
			return -1;
	}
	if (!q->name)
		return fail(l, n, "a queue needs a name");
	return 0;
}

static int rd_targets(struct ld *l, const yaml_node_t *n, struct sim_scn *s)
{
	if (want(l, n, YAML_MAPPING_NODE, "targets") < 0)
		return -1;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "default") == 0) {
			struct sim_beh b;
			beh_unset(&b);
			if (rd_beh(l, v, k, &b) < 0)
				return -1;
			/* Over the built-in defaults, field by field. */
			if (!isnan(b.ring_ms))
				s->beh_default.ring_ms = b.ring_ms;
			if (!isnan(b.no_answer))
				s->beh_default.no_answer = b.no_answer;
			if (!isnan(b.closure_rate))
				s->beh_default.closure_rate = b.closure_rate;
			if (!isnan(b.recover_ms))
				s->beh_default.recover_ms = b.recover_ms;
			if (b.handle.dist != SIM_DIST_INHERIT)
				s->beh_default.handle = b.handle;
		} else if (strcmp(k, "reps") == 0) {
			if (rd_beh(l, v, k, &s->beh_reps) < 0)
				return -1;
		} else if (strcmp(k, "partners") == 0) {
			if (rd_beh(l, v, k, &s->beh_partners) < 0)
				return -1;
		} else if (strcmp(k, "by_id") == 0) {
			if (want(l, v, YAML_MAPPING_NODE, "by_id") < 0)
				return -1;
			size_t len = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
			if (len > SCN_MAX_ITEMS)
				return fail(l, v, "by_id: more than %d entries", SCN_MAX_ITEMS);
			FOR_PAIRS(v, q)
			{
				const char *id;
				yaml_node_t *bv;
				if (key_of(l, q, &id, &bv) < 0)
					return -1;
				struct sim_beh_override *o =
					realloc(s->overrides, (s->n_overrides + 1) * sizeof *o);
				if (!o)
					return fail(l, bv, "out of memory");
				s->overrides = o;
				o = &s->overrides[s->n_overrides];
				memset(o, 0, sizeof *o);
				beh_unset(&o->beh);
				o->line = (int)node_at(l, q->key)->start_mark.line + 1;
				o->target_id = strdup(id);
				if (!o->target_id)
					return fail(l, bv, "out of memory");
				s->n_overrides++;
				if (rd_beh(l, bv, id, &o->beh) < 0)
					return -1;
			}
		} else {
			return fail(l, v, "targets: unknown key '%s' (default, reps, partners, by_id)",
				    k);
		}
	}
	return 0;
}

static int rd_bool(struct ld *l, const yaml_node_t *n, const char *key, int *out)
{
	const char *s = scalar(n);
	if (s && strcmp(s, "true") == 0)
		*out = 1;
	else if (s && strcmp(s, "false") == 0)
		*out = 0;
	else
		return fail(l, n, "%s must be true or false", key);
	return 0;
}

static int rd_sales(struct ld *l, const yaml_node_t *n, struct sim_scn *s)
{
	if (want(l, n, YAML_MAPPING_NODE, "sales") < 0)
		return -1;
	struct sim_sales_beh b = s->sales;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		int rc;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "enabled") == 0)
			rc = rd_bool(l, v, k, &b.enabled);
		else if (strcmp(k, "order_mean_minor") == 0)
			rc = rd_num(l, v, k, 1, 1e12, &b.order_mean_minor);
		else if (strcmp(k, "amount_step_minor") == 0)
			rc = rd_uint(l, v, k, 1, UINT64_C(1) << 40, &b.amount_step_minor);
		else if (strcmp(k, "lead_rate") == 0)
			rc = rd_num(l, v, k, 0, 1, &b.lead_rate);
		else if (strcmp(k, "consent_rate") == 0)
			rc = rd_num(l, v, k, 0, 1, &b.consent_rate);
		else if (strcmp(k, "cancel_rate") == 0)
			rc = rd_num(l, v, k, 0, 1, &b.cancel_rate);
		else if (strcmp(k, "status_ms") == 0)
			rc = rd_num(l, v, k, 0, 1e12, &b.status_ms);
		else
			return fail(l, v,
				    "sales: unknown key '%s' (enabled, order_mean_minor, "
				    "amount_step_minor, lead_rate, consent_rate, cancel_rate, "
				    "status_ms)",
				    k);
		if (rc < 0)
			return -1;
	}
	s->sales = b;
	return 0;
}

static int rd_callers(struct ld *l, const yaml_node_t *n, struct sim_scn *s)
{
	if (want(l, n, YAML_MAPPING_NODE, "callers") < 0)
		return -1;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "patience") == 0) {
			if (rd_dist(l, v, "patience", true, &s->patience) < 0)
				return -1;
		} else if (strcmp(k, "origins") == 0) {
			if (want(l, v, YAML_SEQUENCE_NODE, "origins") < 0)
				return -1;
			size_t len =
				(size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
			if (len > SCN_MAX_ITEMS)
				return fail(l, v, "origins: more than %d entries", SCN_MAX_ITEMS);
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				struct sim_origin *o =
					realloc(s->origins, (s->n_origins + 1) * sizeof *o);
				if (!o)
					return fail(l, v, "out of memory");
				s->origins = o;
				memset(&o[s->n_origins], 0, sizeof *o);
				s->n_origins++;
				if (rd_origin(l, node_at(l, *it), &o[s->n_origins - 1]) < 0)
					return -1;
			}
		} else {
			return fail(l, v, "callers: unknown key '%s' (patience, origins)", k);
		}
	}
	return 0;
}

static int rd_queues(struct ld *l, const yaml_node_t *n, struct sim_scn *s)
{
	if (want(l, n, YAML_SEQUENCE_NODE, "queues") < 0)
		return -1;
	size_t len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (len > SCN_MAX_ITEMS)
		return fail(l, n, "queues: more than %d entries", SCN_MAX_ITEMS);
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		struct sim_queue *q = realloc(s->queues, (s->n_queues + 1) * sizeof *q);
		if (!q)
			return fail(l, n, "out of memory");
		s->queues = q;
		memset(&q[s->n_queues], 0, sizeof *q);
		s->n_queues++;
		if (rd_queue(l, node_at(l, *it), &q[s->n_queues - 1]) < 0)
			return -1;
	}
	return 0;
}

static int rd_root(struct ld *l, const yaml_node_t *n, struct sim_scn *s)
{
	if (!n)
		return fail(l, NULL, "empty scenario");
	if (want(l, n, YAML_MAPPING_NODE, "the scenario") < 0)
		return -1;
	FOR_PAIRS(n, p)
	{
		const char *k;
		yaml_node_t *v;
		uint64_t u;
		int rc;
		if (key_of(l, p, &k, &v) < 0)
			return -1;
		if (strcmp(k, "name") == 0) {
			rc = rd_str(l, v, k, &s->name);
		} else if (strcmp(k, "duration_ms") == 0) {
			rc = rd_num(l, v, k, 0, 1e12, &s->duration_ms);
		} else if (strcmp(k, "calls") == 0) {
			rc = rd_uint(l, v, k, 0, UINT64_C(1) << 48, &s->calls);
		} else if (strcmp(k, "warmup_ms") == 0) {
			rc = rd_num(l, v, k, 0, 1e12, &s->warmup_ms);
		} else if (strcmp(k, "grace_ms") == 0) {
			rc = rd_num(l, v, k, 0, 1e12, &s->grace_ms);
		} else if (strcmp(k, "sl_threshold_ms") == 0) {
			rc = rd_num(l, v, k, 0, 1e12, &s->sl_threshold_ms);
		} else if (strcmp(k, "pbx_connections") == 0) {
			rc = rd_uint(l, v, k, 1, SCN_MAX_PBX, &u);
			s->pbx = (unsigned)u;
		} else if (strcmp(k, "seed") == 0) {
			rc = rd_uint(l, v, k, 0, UINT64_MAX, &s->seed);
		} else if (strcmp(k, "arrivals") == 0) {
			rc = rd_arrivals(l, v, s);
		} else if (strcmp(k, "callers") == 0) {
			rc = rd_callers(l, v, s);
		} else if (strcmp(k, "queues") == 0) {
			rc = rd_queues(l, v, s);
		} else if (strcmp(k, "targets") == 0) {
			rc = rd_targets(l, v, s);
		} else if (strcmp(k, "sales") == 0) {
			rc = rd_sales(l, v, s);
		} else {
			return fail(l, v,
				    "unknown key '%s' (name, arrivals, duration_ms, calls, "
				    "warmup_ms, grace_ms, sl_threshold_ms, pbx_connections, seed, "
				    "callers, queues, targets, sales)",
				    k);
		}
		if (rc < 0)
			return -1;
	}
	if (s->calls == 0 && s->duration_ms == 0)
		return fail(l, n, "give calls or duration_ms (or both): the run must end");
	return 0;
}

struct sim_scn *sim_scn_new_default(void)
{
	struct sim_scn *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->rate_per_s = 5;
	s->duration_ms = 30000;
	s->grace_ms = 10000;
	s->sl_threshold_ms = 2000;
	s->pbx = 1;
	s->patience.dist = SIM_DIST_NONE;
	s->beh_default = (struct sim_beh){
		.ring_ms = 0,
		.no_answer = 0,
		.handle = {SIM_DIST_EXP, 3000},
		.closure_rate = NAN, /* the engine config's prior */
		.recover_ms = 2000,
	};
	beh_unset(&s->beh_reps);
	beh_unset(&s->beh_partners);
	s->sales = (struct sim_sales_beh){
		.enabled = -1,
		.order_mean_minor = 25000,
		.amount_step_minor = 100,
		.lead_rate = 0.3,
		.consent_rate = 0.8,
		.cancel_rate = 0.05,
		.status_ms = 2000,
	};
	return s;
}

void sim_scn_free(struct sim_scn *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->path);
	free(s->profile);
	for (size_t i = 0; i < s->n_overrides; i++)
		free(s->overrides[i].target_id);
	free(s->overrides);
	for (size_t i = 0; i < s->n_origins; i++) {
		free(s->origins[i].name);
		free(s->origins[i].caller_prefix);
		free_strlist(s->origins[i].postal, s->origins[i].n_postal);
	}
	free(s->origins);
	for (size_t i = 0; i < s->n_queues; i++) {
		struct sim_queue *q = &s->queues[i];
		free(q->name);
		free(q->dialed);
		free(q->segment);
		free(q->language);
		free_strlist(q->skills, q->n_skills);
		free_strlist(q->origin_names, q->n_origins);
		free(q->origins);
	}
	free(s->queues);
	free(s);
}

static int load_parser(yaml_parser_t *parser, const char *name, struct sim_scn **out, char *err,
		       size_t errlen)
{
	yaml_document_t doc;
	struct ld l = {&doc, name, err, errlen};
	if (!yaml_parser_load(parser, &doc)) {
		snprintf(err, errlen, "%s:%lu: %s", name, (unsigned long)parser->problem_mark.line + 1,
			 parser->problem ? parser->problem : "YAML syntax error");
		return -1;
	}
	struct sim_scn *s = sim_scn_new_default();
	int rc = -1;
	if (!s) {
		fail(&l, NULL, "out of memory");
		goto done;
	}
	if (rd_root(&l, yaml_document_get_root_node(&doc), s) < 0)
		goto done;
	/* A scenario is one document. */
	yaml_document_t extra;
	if (yaml_parser_load(parser, &extra)) {
		bool more = yaml_document_get_root_node(&extra) != NULL;
		yaml_document_delete(&extra);
		if (more) {
			fail(&l, NULL, "more than one YAML document");
			goto done;
		}
	}
	if (!s->name && !(s->name = strdup("scenario")))
		goto done;
	if (!(s->path = strdup(name)))
		goto done;
	*out = s;
	s = NULL;
	rc = 0;
done:
	sim_scn_free(s);
	yaml_document_delete(&doc);
	return rc;
}

int sim_scn_load(const char *path, struct sim_scn **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	yaml_parser_set_input_file(&parser, f);
	int rc = load_parser(&parser, path, out, err, errlen);
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

int sim_scn_load_string(const char *yaml, const char *name, struct sim_scn **out, char *err,
			size_t errlen)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
	int rc = load_parser(&parser, name, out, err, errlen);
	yaml_parser_delete(&parser);
	return rc;
}

static int cfg_target_index(const struct cl_config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_targets; i++)
		if (strcmp(cfg->targets[i].id, id) == 0)
			return (int)i;
	return -1;
}

static bool cfg_has_skill(const struct cl_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_skills; i++)
		if (strcmp(cfg->skills[i], name) == 0)
			return true;
	return false;
}

static int bind_fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int bind_fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s", path, line, msg);
	else
		snprintf(err, errlen, "%s: %s", path, msg);
	return -1;
}

/* One origin per territory with phone prefixes: callers from its first
 * prefix, postal codes from its postal prefixes. */
static int default_origins(struct sim_scn *s, const struct cl_config *cfg, char *err,
			   size_t errlen)
{
	for (size_t i = 0; i < cfg->n_territories; i++) {
		const struct cfg_territory *t = &cfg->territories[i];
		if (t->n_phone == 0)
			continue;
		struct sim_origin *o = realloc(s->origins, (s->n_origins + 1) * sizeof *o);
		if (!o)
			goto oom;
		s->origins = o;
		o = &o[s->n_origins];
		memset(o, 0, sizeof *o);
		s->n_origins++;
		o->weight = 1;
		size_t plen = strlen(t->phone[0]) - 1;
		o->caller_digits = plen < 12 ? 12 : (plen < 15 ? (unsigned)plen + 1 : 15);
		if (!(o->name = strdup(t->name)) || !(o->caller_prefix = strdup(t->phone[0])))
			goto oom;
		if (t->n_postal) {
			if (!(o->postal = calloc(t->n_postal, sizeof *o->postal)))
				goto oom;
			for (size_t j = 0; j < t->n_postal; j++) {
				if (!(o->postal[j] = strdup(t->postal[j])))
					goto oom;
				o->n_postal++;
			}
			o->postal_len = 5;
		}
	}
	if (s->n_origins == 0)
		return bind_fail(err, errlen, s->path, 0,
				 "no caller origins: the scenario has none and no territory of the "
				 "engine config has a phone prefix");
	return 0;
oom:
	return bind_fail(err, errlen, s->path, 0, "out of memory");
}

int sim_scn_bind(struct sim_scn *s, const struct cl_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->n_overrides; i++) {
		int t = cfg_target_index(cfg, s->overrides[i].target_id);
		if (t < 0)
			return bind_fail(err, errlen, s->path, s->overrides[i].line,
					 "targets.by_id: '%s' is not a target of %s",
					 s->overrides[i].target_id, cfg->path ? cfg->path : "the config");
	}
	if (s->n_origins == 0 && default_origins(s, cfg, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < s->n_origins; i++)
		for (size_t j = i + 1; j < s->n_origins; j++)
			if (strcmp(s->origins[i].name, s->origins[j].name) == 0)
				return bind_fail(err, errlen, s->path, s->origins[j].line,
						 "origin '%s' defined twice", s->origins[j].name);
	if (s->n_queues == 0) {
		if (!(s->queues = calloc(1, sizeof *s->queues)) ||
		    !(s->queues[0].name = strdup("default")))
			return bind_fail(err, errlen, s->path, 0, "out of memory");
		s->queues[0].weight = 1;
		s->n_queues = 1;
	}
	for (size_t i = 0; i < s->n_queues; i++) {
		struct sim_queue *q = &s->queues[i];
		for (size_t j = i + 1; j < s->n_queues; j++)
			if (strcmp(q->name, s->queues[j].name) == 0)
				return bind_fail(err, errlen, s->path, s->queues[j].line,
						 "queue '%s' defined twice", q->name);
		for (size_t j = 0; j < q->n_skills; j++)
			if (!cfg_has_skill(cfg, q->skills[j]))
				return bind_fail(err, errlen, s->path, q->line,
						 "queue %s: skill '%s' is not in the engine config",
						 q->name, q->skills[j]);
		free(q->origins);
		q->origins = NULL;
		if (q->n_origins == 0)
			continue;
		if (!(q->origins = calloc(q->n_origins, sizeof *q->origins)))
			return bind_fail(err, errlen, s->path, 0, "out of memory");
		for (size_t j = 0; j < q->n_origins; j++) {
			size_t k;
			for (k = 0; k < s->n_origins; k++)
				if (strcmp(s->origins[k].name, q->origin_names[j]) == 0)
					break;
			if (k == s->n_origins)
				return bind_fail(err, errlen, s->path, q->line,
						 "queue %s: origin '%s' is not defined", q->name,
						 q->origin_names[j]);
			q->origins[j] = k;
		}
	}
	s->bound = true;
	return 0;
}

static void beh_over(struct sim_beh *b, const struct sim_beh *o)
{
	if (!isnan(o->ring_ms))
		b->ring_ms = o->ring_ms;
	if (!isnan(o->no_answer))
		b->no_answer = o->no_answer;
	if (!isnan(o->closure_rate))
		b->closure_rate = o->closure_rate;
	if (!isnan(o->recover_ms))
		b->recover_ms = o->recover_ms;
	if (o->handle.dist != SIM_DIST_INHERIT)
		b->handle = o->handle;
}

void sim_scn_behaviour(const struct sim_scn *s, const char *target_id, int kind,
		       double cfg_closure, struct sim_beh *out)
{
	struct sim_beh b = s->beh_default;
	beh_over(&b, kind == CFG_KIND_PARTNER ? &s->beh_partners : &s->beh_reps);
	for (size_t i = 0; i < s->n_overrides; i++)
		if (strcmp(s->overrides[i].target_id, target_id) == 0)
			beh_over(&b, &s->overrides[i].beh);
	if (isnan(b.closure_rate))
		b.closure_rate = cfg_closure;
	*out = b;
}

static void scale_beh(struct sim_beh *b, double k)
{
	/* NAN stays NAN: inherit marks survive. */
	b->ring_ms /= k;
	b->recover_ms /= k;
	b->handle.mean_ms /= k;
}

void sim_scn_scale(struct sim_scn *s, double speed)
{
	if (!(speed > 0) || speed == 1)
		return;
	s->rate_per_s *= speed;
	s->hour_ms /= speed;
	s->duration_ms /= speed;
	s->warmup_ms /= speed;
	s->grace_ms /= speed;
	s->sl_threshold_ms /= speed;
	s->patience.mean_ms /= speed;
	s->sales.status_ms /= speed;
	scale_beh(&s->beh_default, speed);
	scale_beh(&s->beh_reps, speed);
	scale_beh(&s->beh_partners, speed);
	for (size_t i = 0; i < s->n_overrides; i++)
		scale_beh(&s->overrides[i].beh, speed);
}

double sim_scn_rate_at(const struct sim_scn *s, double t_ms, double *until_ms)
{
	if (s->n_profile == 0) {
		*until_ms = INFINITY;
		return s->rate_per_s / 1000.0;
	}
	if (t_ms < 0)
		t_ms = 0;
	double h = floor(t_ms / s->hour_ms);
	if (h >= (double)s->n_profile) {
		*until_ms = INFINITY;
		return 0;
	}
	*until_ms = (h + 1) * s->hour_ms;
	/* calls per hour over hour_ms of wall time */
	return s->profile[(size_t)h] / s->hour_ms;
}
