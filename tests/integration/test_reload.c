/*
 * test_reload.c — configuration reload of a running closeloopd (SIGHUP):
 * a new file is applied while a call is in progress and that call keeps its
 * target; a broken file is refused and the running configuration stays.
 *
 *   test_reload DIR PORT PID    (run by run_reload.sh; DIR holds live.yaml,
 *                                v2.yaml and bad.yaml, the daemon runs live.yaml)
 */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "tclient.h"

#define T_WAIT 3000
#define M_ROUTE CLOSELOOP__V1__ENVELOPE__MSG_ROUTE_CALL
#define EV_ANSWERED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ANSWERED
#define EV_ENDED CLOSELOOP__V1__ENVELOPE__MSG_CALL_ENDED
#define E_UNKNOWN_TARGET CLOSELOOP__V1__ERROR_CODE__ERROR_UNKNOWN_TARGET

static const char *dir;
static uint16_t port;
static pid_t daemon_pid;

static struct tclient *conn(int role, const char *token)
{
	struct tclient *c = tclient_connect("127.0.0.1", port, 0);
	assert_non_null(c);
	assert_int_equal(tclient_hello(c, role, token, "reload-test", T_WAIT), 0);
	return c;
}

static void install(const char *name)
{
	char from[512], to[512];
	snprintf(from, sizeof from, "%s/%s", dir, name);
	snprintf(to, sizeof to, "%s/live.yaml.new", dir);
	FILE *in = fopen(from, "r"), *out = fopen(to, "w");
	assert_non_null(in);
	assert_non_null(out);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	snprintf(from, sizeof from, "%s/live.yaml", dir);
	assert_int_equal(rename(to, from), 0);
	assert_int_equal(kill(daemon_pid, SIGHUP), 0);
}

/* Log in as rep; returns the reply code (0 = Ack). */
static int try_login(struct tclient *a, const char *rep)
{
	return tclient_reply(a, tclient_login(a, rep, true), T_WAIT);
}

static void test_reload_keeps_calls(void **state)
{
	(void)state;
	struct tclient *p = conn(CLOSELOOP__V1__ROLE__ROLE_PBX, "rl-pbx");
	struct tclient *a = conn(CLOSELOOP__V1__ROLE__ROLE_AGENT, "rl-agent");
	assert_int_equal(try_login(a, "rep-a"), 0);

	const char *skills[] = {"printers", NULL};
	uint64_t seq = tclient_offer(p, "rl-1", "+4930111", NULL, NULL, skills);
	wire_env *r = tclient_expect(p, M_ROUTE, seq, T_WAIT);
	assert_non_null(r);
	assert_string_equal(r->route_call->target_id, "rep-a");
	wire_env_free(r);
	assert_int_equal(tclient_reply(p, tclient_call_event(p, EV_ANSWERED, "rl-1", NULL), T_WAIT), 0);

	/* rep-b does not exist yet. */
	struct tclient *b = conn(CLOSELOOP__V1__ROLE__ROLE_AGENT, "rl-agent");
	assert_int_equal(try_login(b, "rep-b"), E_UNKNOWN_TARGET);

	install("v2.yaml");
	int rc = E_UNKNOWN_TARGET;
	for (int i = 0; i < 50 && rc != 0; i++) {
		usleep(100 * 1000);
		rc = try_login(b, "rep-b");
	}
	assert_int_equal(rc, 0); /* the new configuration is live */

	/* The call in progress kept its target and ends normally. */
	assert_int_equal(tclient_reply(p, tclient_call_event(p, EV_ENDED, "rl-1", NULL), T_WAIT), 0);

	/* A broken file is refused: rep-b (only in v2) still exists. */
	install("bad.yaml");
	usleep(300 * 1000);
	struct tclient *b2 = conn(CLOSELOOP__V1__ROLE__ROLE_AGENT, "rl-agent");
	assert_int_equal(try_login(b2, "rep-b"), 0);

	/* Routing goes on under v2: both reps are ready, both serve printers. */
	seq = tclient_offer(p, "rl-2", "+4930111", NULL, NULL, skills);
	r = tclient_expect(p, M_ROUTE, seq, T_WAIT);
	assert_non_null(r);
	assert_true(strcmp(r->route_call->target_id, "rep-a") == 0 ||
		    strcmp(r->route_call->target_id, "rep-b") == 0);
	wire_env_free(r);
	tclient_free(b2);
	tclient_free(b);
	tclient_free(a);
	tclient_free(p);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DIR PORT PID (run by run_reload.sh)\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	port = (uint16_t)strtol(argv[2], NULL, 10);
	daemon_pid = (pid_t)strtol(argv[3], NULL, 10);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_keeps_calls),
	};
	return cmocka_run_group_tests_name("integ_reload", tests, NULL, NULL);
}
