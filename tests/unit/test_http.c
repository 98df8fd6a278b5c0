/*
 * test_http.c — the HTTP API's request parsing and checks: query strings,
 * URI paths, /v1/route bodies (JSON and query), call-progress bodies, bearer
 * tokens and the roles they match, the SIP codes of rejections.
 *
 * The endpoints themselves run against a real closeloopd in
 * tests/integration/http_integ.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "http_internal.h"

/* ---- query strings ---- */

static void test_query_parse(void **state)
{
	(void)state;
	struct http_query q;
	struct http_err e;
	bool dup;

	assert_int_equal(http_query_parse(&q, "a=1&b=%2B49&c=+49&d&e=x%20y", &e), 0);
	assert_int_equal(q.n, 5);
	assert_string_equal(http_query_get(&q, "a", NULL), "1");
	assert_string_equal(http_query_get(&q, "b", NULL), "+49");
	assert_string_equal(http_query_get(&q, "c", NULL), "+49"); /* '+' is not a space */
	assert_string_equal(http_query_get(&q, "d", NULL), "");
	assert_string_equal(http_query_get(&q, "e", NULL), "x y");
	assert_null(http_query_get(&q, "z", NULL));
	http_query_clear(&q);

	/* Empty pieces are skipped; duplicates are reported. */
	assert_int_equal(http_query_parse(&q, "&a=1&&a=2&", &e), 0);
	assert_int_equal(q.n, 2);
	assert_string_equal(http_query_get(&q, "a", &dup), "1");
	assert_true(dup);
	http_query_clear(&q);

	assert_int_equal(http_query_parse(&q, NULL, &e), 0);
	assert_int_equal(q.n, 0);
	http_query_clear(&q);
	assert_int_equal(http_query_parse(&q, "", &e), 0);
	http_query_clear(&q);

	static const char *const bad[] = {"a=%4", "a=%zz", "a=%00", "=v", "%4=1", "a=1&%=2"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (http_query_parse(&q, bad[i], &e) == 0)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(e.status, 400);
		assert_string_equal(e.code, "invalid_query");
		http_query_clear(&q);
	}

	char many[512] = "";
	for (unsigned i = 0; i <= HTTP_QUERY_MAX; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "k%u=1&", i);
	assert_int_equal(http_query_parse(&q, many, &e), -1);
	http_query_clear(&q);
}

static void test_path_split(void **state)
{
	(void)state;
	char buf[256];
	const char *seg[4];
	size_t n;

	assert_int_equal(
		http_path_split("/v1/calls/c%401%2Fx/answered", buf, sizeof buf, seg, 4, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(seg[0], "v1");
	assert_string_equal(seg[1], "calls");
	assert_string_equal(seg[2], "c@1/x");
	assert_string_equal(seg[3], "answered");

	assert_int_equal(http_path_split("/", buf, sizeof buf, seg, 4, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(http_path_split("/healthz", buf, sizeof buf, seg, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(seg[0], "healthz");

	static const char *const bad[] = {"v1",   "//v1",   "/v1/",      "/v1//route",
					  "/a%0", "/a%00b", "/a/b/c/d/e"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (http_path_split(bad[i], buf, sizeof buf, seg, 4, &n) == 0)
			fail_msg("'%s' was accepted", bad[i]);
	/* Does not fit the buffer. */
	assert_int_equal(http_path_split("/abcdefgh", buf, 4, seg, 4, &n), -1);
}

static void test_parse_uint(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(http_parse_uint("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(http_parse_uint("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(http_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(http_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -1);
	assert_int_equal(http_parse_uint("11", 0, 10, &v), -1);
	assert_int_equal(http_parse_uint("0", 1, 10, &v), -1);
	assert_int_equal(http_parse_uint("", 0, 10, &v), -1);
	assert_int_equal(http_parse_uint("-1", 0, 10, &v), -1);
	assert_int_equal(http_parse_uint("+1", 0, 10, &v), -1);
	assert_int_equal(http_parse_uint("1x", 0, 10, &v), -1);
	assert_int_equal(http_parse_uint(NULL, 0, 10, &v), -1);
}

/* ---- /v1/route ---- */

static int route_json(struct http_route_req *r, const char *body, struct http_err *e)
{
	return http_route_parse_json(r, body, strlen(body), e);
}

static void test_route_json_ok(void **state)
{
	(void)state;
	struct http_route_req r;
	struct http_err e;

	assert_int_equal(
		route_json(&r,
			   "{\"call_id\":\"c-1@pbx\",\"from\":\"+4989123\",\"to\":\"800\","
			   "\"postal_code\":\"80331\",\"segment\":\"soho\","
			   "\"skills\":[\"printers\",\"lang-de\"],\"language\":\"de\","
			   "\"priority\":7,\"wait_ms\":5000,\"preferred_target\":\"rep-1\","
			   "\"preferred_ms\":2000}",
			   &e),
		0);
	assert_string_equal(r.call_id, "c-1@pbx");
	assert_string_equal(r.from, "+4989123");
	assert_string_equal(r.to, "800");
	assert_string_equal(r.postal_code, "80331");
	assert_string_equal(r.segment, "soho");
	assert_string_equal(r.language, "de");
	assert_int_equal(r.n_skills, 2);
	assert_string_equal(r.skills[0], "printers");
	assert_string_equal(r.skills[1], "lang-de");
	assert_int_equal(r.priority, 7);
	assert_int_equal(r.wait_ms, 5000);
	assert_string_equal(r.preferred_target, "rep-1");
	assert_int_equal(r.preferred_ms, 2000);
	http_route_req_clear(&r);

	/* Minimal: defaults; nulls and empty strings are absent; a comma list. */
	assert_int_equal(route_json(&r,
				    "{\"call_id\":\"c2\",\"segment\":null,\"postal_code\":\"\","
				    "\"skills\":\" printers , lang-de \"}",
				    &e),
			 0);
	assert_null(r.from);
	assert_null(r.segment);
	assert_null(r.postal_code);
	assert_int_equal(r.wait_ms, HTTP_WAIT_DEFAULT_MS);
	assert_int_equal(r.priority, 0);
	assert_int_equal(r.n_skills, 2);
	assert_string_equal(r.skills[0], "printers");
	assert_string_equal(r.skills[1], "lang-de");
	http_route_req_clear(&r);

	/* wait_ms above the cap is capped; 0 is kept (do not wait). */
	assert_int_equal(route_json(&r, "{\"call_id\":\"c3\",\"wait_ms\":999999999}", &e), 0);
	assert_int_equal(r.wait_ms, HTTP_WAIT_MAX_MS);
	http_route_req_clear(&r);
	assert_int_equal(route_json(&r, "{\"call_id\":\"c3\",\"wait_ms\":0,\"skills\":\"\"}", &e),
			 0);
	assert_int_equal(r.wait_ms, 0);
	assert_int_equal(r.n_skills, 0);
	http_route_req_clear(&r);
}

static void test_route_json_bad(void **state)
{
	(void)state;
	static const struct {
		const char *body, *code;
	} cases[] = {
		{"", "bad_json"},
		{"{", "bad_json"},
		{"[1]", "bad_json"},
		{"\"c1\"", "bad_json"},
		{"{\"call_id\":\"a\",\"call_id\":\"b\"}", "bad_json"},
		{"{\"from\":\"+49\"}", "missing_field"},
		{"{\"call_id\":null}", "invalid_field"},
		{"{\"call_id\":\"\"}", "invalid_field"},
		{"{\"call_id\":7}", "invalid_field"},
		{"{\"call_id\":\"c\",\"postcode\":\"1\"}", "unknown_field"},
		{"{\"call_id\":\"c\",\"from\":49}", "invalid_field"},
		{"{\"call_id\":\"c\\u0001\"}", "invalid_field"},
		{"{\"call_id\":\"c\",\"priority\":101}", "invalid_field"},
		{"{\"call_id\":\"c\",\"priority\":-1}", "invalid_field"},
		{"{\"call_id\":\"c\",\"priority\":\"5\"}", "invalid_field"},
		{"{\"call_id\":\"c\",\"wait_ms\":1.5}", "invalid_field"},
		{"{\"call_id\":\"c\",\"wait_ms\":-5}", "invalid_field"},
		{"{\"call_id\":\"c\",\"skills\":7}", "invalid_field"},
		{"{\"call_id\":\"c\",\"skills\":[\"a\",3]}", "invalid_field"},
		{"{\"call_id\":\"c\",\"skills\":[\"\"]}", "invalid_field"},
		{"{\"call_id\":\"c\",\"skills\":\"a,,b\"}", "invalid_field"},
		{"{\"call_id\":\"c\",\"skills\":\"a,\"}", "invalid_field"},
	};
	struct http_route_req r;
	struct http_err e;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&e, 0, sizeof e);
		if (route_json(&r, cases[i].body, &e) == 0)
			fail_msg("accepted: %s", cases[i].body);
		if (!e.code || strcmp(e.code, cases[i].code) != 0)
			fail_msg("%s: code %s (%s), expected %s", cases[i].body, e.code, e.msg,
				 cases[i].code);
		assert_int_equal(e.status, 400);
		assert_true(e.msg[0] != '\0');
		http_route_req_clear(&r);
	}
	/* A \u0000 inside a string is refused by the JSON parser. */
	assert_int_equal(route_json(&r, "{\"call_id\":\"a\\u0000b\"}", &e), -1);
	http_route_req_clear(&r);

	/* Over-long strings and too many skills. */
	char body[8192];
	char longid[HTTP_STR_MAX + 2];
	memset(longid, 'x', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	snprintf(body, sizeof body, "{\"call_id\":\"%s\"}", longid);
	assert_int_equal(route_json(&r, body, &e), -1);
	assert_string_equal(e.code, "invalid_field");
	http_route_req_clear(&r);
	longid[HTTP_STR_MAX] = '\0'; /* exactly the limit: fine */
	snprintf(body, sizeof body, "{\"call_id\":\"%s\"}", longid);
	assert_int_equal(route_json(&r, body, &e), 0);
	http_route_req_clear(&r);

	strcpy(body, "{\"call_id\":\"c\",\"skills\":[");
	for (int i = 0; i <= CFG_MAX_SKILLS; i++)
		snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"s%d\"", i ? "," : "",
			 i);
	strcat(body, "]}");
	assert_int_equal(route_json(&r, body, &e), -1);
	http_route_req_clear(&r);
}

static void test_route_query(void **state)
{
	(void)state;
	struct http_route_req r;
	struct http_err e;

	assert_int_equal(http_route_parse_query(&r,
						"call_id=c%401&from=+4989123&to=800&skills=a,b&"
						"skills=c&priority=5&wait_ms=0&language=de",
						&e),
			 0);
	assert_string_equal(r.call_id, "c@1");
	assert_string_equal(r.from, "+4989123");
	assert_string_equal(r.to, "800");
	assert_int_equal(r.n_skills, 3);
	assert_string_equal(r.skills[2], "c");
	assert_int_equal(r.priority, 5);
	assert_int_equal(r.wait_ms, 0);
	assert_string_equal(r.language, "de");
	http_route_req_clear(&r);

	static const struct {
		const char *q, *code;
	} cases[] = {
		{"", "missing_field"},
		{"from=1", "missing_field"},
		{"call_id=", "invalid_field"},
		{"call_id=a&call_id=b", "invalid_field"},
		{"call_id=a&to=1&to=2", "invalid_field"},
		{"call_id=a&foo=1", "unknown_field"},
		{"call_id=a&priority=x", "invalid_field"},
		{"call_id=a&priority=101", "invalid_field"},
		{"call_id=a&wait_ms=-1", "invalid_field"},
		{"call_id=a%0A", "invalid_field"},
		{"call_id=a%", "invalid_query"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&e, 0, sizeof e);
		if (http_route_parse_query(&r, cases[i].q, &e) == 0)
			fail_msg("accepted: %s", cases[i].q);
		if (!e.code || strcmp(e.code, cases[i].code) != 0)
			fail_msg("%s: code %s (%s), expected %s", cases[i].q, e.code, e.msg,
				 cases[i].code);
		http_route_req_clear(&r);
	}
}

static void test_progress_parse(void **state)
{
	(void)state;
	json_t *j;
	const char *t;
	struct http_err e;

	assert_int_equal(http_progress_parse(NULL, 0, &j, &t, &e), 0);
	assert_null(t);
	assert_null(j);
	assert_int_equal(http_progress_parse(" \n", 2, &j, &t, &e), 0);
	assert_null(t);
	const char *b = "{\"target_id\":\"rep-1\"}";
	assert_int_equal(http_progress_parse(b, strlen(b), &j, &t, &e), 0);
	assert_string_equal(t, "rep-1");
	json_decref(j);
	b = "{\"target_id\":null}";
	assert_int_equal(http_progress_parse(b, strlen(b), &j, &t, &e), 0);
	assert_null(t);
	json_decref(j);
	b = "{}";
	assert_int_equal(http_progress_parse(b, strlen(b), &j, &t, &e), 0);
	assert_null(t);
	json_decref(j);

	static const char *const bad[] = {"{\"x\":1}", "[1]", "{", "{\"target_id\":5}",
					  "{\"target_id\":\"a\\nb\"}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (http_progress_parse(bad[i], strlen(bad[i]), &j, &t, &e) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(e.status, 400);
		if (j)
			json_decref(j);
	}
}

/* ---- auth ---- */

static void test_bearer(void **state)
{
	(void)state;
	assert_string_equal(http_bearer("Bearer abc"), "abc");
	assert_string_equal(http_bearer("bearer \t abc"), "abc");
	assert_null(http_bearer(NULL));
	assert_null(http_bearer("Basic abc"));
	assert_null(http_bearer("Bearer"));
	assert_null(http_bearer("Bearer "));
	assert_null(http_bearer("Bearerabc"));
	assert_null(http_bearer("Bearer a b"));
}

static const char *const cfg_yaml =
	"engine: {listen: \"127.0.0.1:7400\"}\n"
	"auth:\n"
	"  pbx: [pbx-one, pbx-two]\n"
	"  admin: adm-secret\n"
	"  observer: obs-secret\n"
	"  agent: agent-secret\n"
	"skills: [printers]\n"
	"territories:\n"
	"  - {name: de, phone: [\"+49\"]}\n"
	"reps:\n"
	"  - {id: r1, territories: [de], skills: [printers]}\n"
	"plans:\n"
	"  - name: default\n"
	"    steps:\n"
	"      - {targets: reps, territory: any, skills: all, strategy: longest-idle}\n";

static void test_token_roles(void **state)
{
	(void)state;
	struct cl_config *cfg = NULL;
	char err[512];
	if (cl_config_load_string(cfg_yaml, "test.yaml", &cfg, err, sizeof err) < 0)
		fail_msg("config: %s", err);
	assert_int_equal(http_token_roles(cfg, "pbx-one"), HTTP_ROLE_PBX);
	assert_int_equal(http_token_roles(cfg, "pbx-two"), HTTP_ROLE_PBX);
	assert_int_equal(http_token_roles(cfg, "adm-secret"), HTTP_ROLE_ADMIN);
	assert_int_equal(http_token_roles(cfg, "obs-secret"), HTTP_ROLE_OBSERVER);
	/* Agents have no HTTP role; near misses match nothing. */
	assert_int_equal(http_token_roles(cfg, "agent-secret"), 0);
	assert_int_equal(http_token_roles(cfg, "adm-secre"), 0);
	assert_int_equal(http_token_roles(cfg, "adm-secrett"), 0);
	assert_int_equal(http_token_roles(cfg, ""), 0);
	assert_int_equal(http_token_roles(cfg, NULL), 0);
	cl_config_free(cfg);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(http_reject_sip_code(RT_REJECT_NO_ROUTE), 404);
	assert_int_equal(http_reject_sip_code(RT_REJECT_PLAN), 480);
	assert_int_equal(http_reject_sip_code(RT_REJECT_CALLBACK), 480);
	assert_int_equal(http_reject_sip_code(RT_REJECT_QUEUE_FULL), 486);
	assert_int_equal(http_reject_sip_code(RT_REJECT_SHUTDOWN), 503);
	assert_int_equal(http_reject_sip_code(RT_REJECT_DRAINED), 480);
	assert_string_equal(http_reject_name(RT_REJECT_QUEUE_FULL), "queue_full");
	assert_string_equal(http_call_state_name(RT_CALL_RESERVED), "reserved");
	assert_string_equal(http_target_state_name(RT_TARGET_NOT_READY), "not_ready");
	assert_int_equal(http_status_index(200), 0);
	assert_int_equal(http_status_index(299), HTTP_N_STATUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_parse),    cmocka_unit_test(test_path_split),
		cmocka_unit_test(test_parse_uint),     cmocka_unit_test(test_route_json_ok),
		cmocka_unit_test(test_route_json_bad), cmocka_unit_test(test_route_query),
		cmocka_unit_test(test_progress_parse), cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_token_roles),    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
