/*
 * stream_dump.c — print the events of the batched event stream, one line
 * per event, for the shell integration tests (no redis-cli parsing of JSON).
 *
 *   stream_dump [-h HOST] -p PORT -k KEY FIELD...
 *
 * Reads KEY with tstream_read (every format rule of tstream.h is checked;
 * a violation is printed on stderr and the exit status is 1) and prints,
 * for each event in stream order, the values of the FIELDs separated by one
 * space: "-" for a missing or empty field, blanks inside a value as "_", so
 * every line has exactly one word per FIELD. Besides the event's own fields
 * (id, type, call, ...), FIELD may be @entry (the entry's stream ID), @n
 * (events in that entry) or @pos (0-based position inside it).
 * Exit status: 0 done, 1 Redis or format error, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tstream.h"

static void put_word(const char *v)
{
	if (!v || !*v) {
		fputc('-', stdout);
		return;
	}
	for (; *v; v++)
		fputc(*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r' ? '_' : *v, stdout);
}

static void put_field(const struct tstream_event *e, const char *f)
{
	char num[32];

	if (strcmp(f, "@entry") == 0) {
		put_word(e->entry);
	} else if (strcmp(f, "@n") == 0) {
		snprintf(num, sizeof num, "%zu", e->entry_n);
		put_word(num);
	} else if (strcmp(f, "@pos") == 0) {
		snprintf(num, sizeof num, "%zu", e->pos);
		put_word(num);
	} else {
		put_word(tstream_get(e, f));
	}
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *key = NULL;
	int port = 0, opt, rc = 1;
	char err[512];
	struct tstream s;

	while ((opt = getopt(argc, argv, "h:p:k:")) != -1) {
		switch (opt) {
		case 'h': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'k': key = optarg; break;
		default: goto usage;
		}
	}
	if (port <= 0 || port > 65535 || !key || optind >= argc)
		goto usage;

	struct timeval tv = {10, 0};
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	if (!c || c->err) {
		fprintf(stderr, "stream_dump: connect %s:%d: %s\n", host, port,
			c ? c->errstr : "out of memory");
		redisFree(c);
		return 1;
	}
	redisSetTimeout(c, tv);
	tstream_init(&s);
	if (tstream_read(c, key, &s, err, sizeof err) < 0) {
		fprintf(stderr, "stream_dump: %s: %s\n", key, err);
		goto out;
	}
	for (size_t i = 0; i < s.n; i++) {
		for (int k = optind; k < argc; k++) {
			if (k > optind)
				fputc(' ', stdout);
			put_field(&s.ev[i], argv[k]);
		}
		fputc('\n', stdout);
	}
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	tstream_free(&s);
	redisFree(c);
	return rc;

usage:
	fprintf(stderr, "usage: %s [-h HOST] -p PORT -k KEY FIELD... (@entry @n @pos too)\n",
		argv[0]);
	return 2;
}
