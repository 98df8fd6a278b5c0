/*
 * test_pub.c — unit tests of the Redis publisher's pure parts (key names,
 * stream IDs, records and their JSON, backoff, the journal file) and of its
 * behaviour with Redis unreachable (buffering, journaling, dropping, the
 * shutdown save). Talking to a real redis-server is tests/integration/pub_*.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cfg.h"
#include "log.h"
#include "pub.h"
#include "pub_internal.h"

/* ---- helpers ---- */

struct tmp {
	char dir[64];
	char path[128];
};

static void tmp_make(struct tmp *t)
{
	strcpy(t->dir, "/tmp/test_pub.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof t->path, "%s/journal", t->dir);
}

static void tmp_remove(struct tmp *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(t->dir);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static struct pub_rec *mkrec(uint64_t ms, uint64_t seq, const char *type, const char *val)
{
	struct pub_recb b;
	struct pub_rec *r;

	pub_recb_init(&b);
	pub_recb_add(&b, "type", type, false);
	pub_recb_add(&b, "v", val, false);
	r = pub_rec_new(&b, NULL);
	assert_non_null(r);
	r->id.ms = ms;
	r->id.seq = seq;
	return r;
}

/* The value of field k in r, as a NUL-terminated copy in buf. */
static const char *rec_get(const struct pub_rec *r, const char *k, char *buf, size_t len)
{
	const char *s[PUB_REC_MAX_FIELDS * 2];
	size_t sl[PUB_REC_MAX_FIELDS * 2];
	int n = pub_rec_strings(r, s, sl, PUB_REC_MAX_FIELDS * 2);

	assert_true(n >= 0);
	for (int i = 0; i + 1 < n; i += 2) {
		if (sl[i] == strlen(k) && memcmp(s[i], k, sl[i]) == 0) {
			assert_true(sl[i + 1] < len);
			memcpy(buf, s[i + 1], sl[i + 1]);
			buf[sl[i + 1]] = '\0';
			return buf;
		}
	}
	return NULL;
}

static void quiet(enum cl_log_level lvl, const char *msg, void *arg)
{
	int *count = arg;

	if (count && lvl <= CL_LOG_LEVEL_WARN)
		(*count)++;
}

/* ---- keys ---- */

static void test_keys(void **state)
{
	char buf[PUB_RKEY_MAX];

	assert_int_equal(pub_key(buf, sizeof buf, "cl:", PUB_K_TARGET, "rep-1"), 15);
	assert_string_equal(buf, "cl:target:rep-1");
	pub_key(buf, sizeof buf, "cl:", PUB_K_EVENTS, NULL);
	assert_string_equal(buf, "cl:events");
	pub_key(buf, sizeof buf, "acme:prod:", PUB_K_CALL, "c 1:x");
	assert_string_equal(buf, "acme:prod:call:c 1:x");
	pub_key(buf, sizeof buf, "", PUB_K_QUEUES, NULL);
	assert_string_equal(buf, "queues");
	pub_key(buf, sizeof buf, "cl:", PUB_K_CHANNEL, NULL);
	assert_string_equal(buf, "cl:events:live");

	/* Exactly fitting and one byte short. */
	char small[13];
	assert_int_equal(pub_key(small, sizeof small, "cl:", "target:", "ab"), 12);
	assert_string_equal(small, "cl:target:ab");
	assert_int_equal(pub_key(small, sizeof small, "cl:", "target:", "abc"), -PUB_EINVAL);
}

/* ---- stream IDs ---- */

static void test_idgen(void **state)
{
	struct pub_idgen g = {{0, 0}};
	struct pub_stream_id a, b, c, d, e;

	pub_idgen_next(&g, 1000, &a);
	assert_true(a.ms == 1000 && a.seq == 0);
	pub_idgen_next(&g, 1000, &b);
	assert_true(b.ms == 1000 && b.seq == 1);
	pub_idgen_next(&g, 1005, &c);
	assert_true(c.ms == 1005 && c.seq == 0);
	/* The clock steps back: ms holds, seq goes on. */
	pub_idgen_next(&g, 900, &d);
	assert_true(d.ms == 1005 && d.seq == 1);
	assert_true(pub_stream_id_cmp(&a, &b) < 0 && pub_stream_id_cmp(&b, &c) < 0 &&
		    pub_stream_id_cmp(&c, &d) < 0 && pub_stream_id_cmp(&d, &d) == 0 &&
		    pub_stream_id_cmp(&d, &a) > 0);

	/* A floor above: the next ID is above it even with an old clock. */
	struct pub_stream_id top = {5000, 7};
	pub_idgen_floor(&g, &top);
	pub_idgen_next(&g, 1006, &e);
	assert_true(e.ms == 5000 && e.seq == 8);
	/* A floor below changes nothing. */
	struct pub_stream_id low = {10, 0};
	pub_idgen_floor(&g, &low);
	pub_idgen_next(&g, 1006, &e);
	assert_true(e.ms == 5000 && e.seq == 9);

	/* seq overflow moves to the next millisecond. */
	g.last.ms = 7000;
	g.last.seq = UINT64_MAX;
	pub_idgen_next(&g, 7000, &e);
	assert_true(e.ms == 7001 && e.seq == 0);

	/* Strictly increasing over a jittery clock. */
	struct pub_idgen h = {{0, 0}};
	struct pub_stream_id prev = {0, 0}, cur;
	uint64_t clock = 100000;
	for (int i = 0; i < 10000; i++) {
		clock += (uint64_t)(i % 7) - 3 + (i % 3 == 0 ? 2 : 0);
		pub_idgen_next(&h, clock, &cur);
		if (i)
			assert_true(pub_stream_id_cmp(&prev, &cur) < 0);
		prev = cur;
	}
}

static void test_id_text(void **state)
{
	struct pub_stream_id id = {1732500000123ull, 42}, back;
	char buf[PUB_STREAM_ID_LEN];

	assert_int_equal(pub_stream_id_format(&id, buf, sizeof buf), 16);
	assert_string_equal(buf, "1732500000123-42");
	assert_int_equal(pub_stream_id_parse(buf, strlen(buf), &back), 0);
	assert_true(pub_stream_id_cmp(&id, &back) == 0);

	struct pub_stream_id max = {UINT64_MAX, UINT64_MAX};
	assert_int_equal(pub_stream_id_format(&max, buf, sizeof buf), 41);
	assert_int_equal(pub_stream_id_parse(buf, 41, &back), 0);
	assert_true(back.ms == UINT64_MAX && back.seq == UINT64_MAX);
	assert_int_equal(pub_stream_id_format(&id, buf, 10), -PUB_EINVAL);

	assert_int_equal(pub_stream_id_parse("17", 2, &back), 0);
	assert_true(back.ms == 17 && back.seq == 0);
	/* Not NUL-terminated: only len bytes count. */
	assert_int_equal(pub_stream_id_parse("5-6xyz", 3, &back), 0);
	assert_true(back.ms == 5 && back.seq == 6);

	const char *bad[] = {"", "-", "1-", "-1", "a-1", "1-b", "1-2-3", " 1-2",
			     "18446744073709551616-0", "1-18446744073709551616"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		back.ms = 99;
		assert_int_equal(pub_stream_id_parse(bad[i], strlen(bad[i]), &back), -PUB_EINVAL);
		assert_true(back.ms == 99);
	}
}

/* ---- records and JSON ---- */

static void test_records(void **state)
{
	struct pub_recb b;
	const char *s[PUB_REC_MAX_FIELDS * 2];
	size_t sl[PUB_REC_MAX_FIELDS * 2];
	int err = 0;

	pub_recb_init(&b);
	pub_recb_add(&b, "type", "call.queued", false);
	pub_recb_add(&b, "skip", NULL, false);
	pub_recb_add(&b, "skip2", "", false);
	pub_recb_add(&b, "empty", NULL, true);
	pub_recb_add_u64(&b, "n", 18446744073709551615ull);
	pub_recb_addn(&b, "bin", "a\0b", 3);
	struct pub_rec *r = pub_rec_new(&b, &err);
	assert_non_null(r);
	assert_int_equal(r->nf, 4);
	assert_int_equal(pub_rec_strings(r, s, sl, 8), 8);
	assert_true(sl[0] == 4 && memcmp(s[0], "type", 4) == 0);
	assert_true(sl[1] == 11 && memcmp(s[1], "call.queued", 11) == 0);
	assert_true(sl[2] == 5 && memcmp(s[2], "empty", 5) == 0 && sl[3] == 0);
	assert_true(sl[5] == 20 && memcmp(s[5], "18446744073709551615", 20) == 0);
	assert_true(sl[7] == 3 && memcmp(s[7], "a\0b", 3) == 0);
	/* Too small an array is refused, not overrun. */
	assert_int_equal(pub_rec_strings(r, s, sl, 7), -PUB_EINVAL);
	struct pub_rec *d = pub_rec_dup(r);
	assert_non_null(d);
	assert_memory_equal(d, r, sizeof *r + r->len);
	free(d);
	/* Malformed data is caught. */
	r->len -= 1;
	assert_int_equal(pub_rec_strings(r, s, sl, 8), -PUB_EINVAL);
	free(r);

	/* Too many fields. */
	pub_recb_init(&b);
	for (int i = 0; i <= PUB_REC_MAX_FIELDS; i++)
		pub_recb_add(&b, "k", "v", false);
	assert_null(pub_rec_new(&b, &err));
	assert_int_equal(err, -PUB_EINVAL);
	/* Too many bytes. */
	static char big[PUB_REC_MAX_DATA];
	memset(big, 'x', sizeof big);
	pub_recb_init(&b);
	pub_recb_addn(&b, "k", big, sizeof big - 8);
	assert_int_equal(b.err, -PUB_EINVAL);
	pub_recb_init(&b);
	pub_recb_addn(&b, "k", big, sizeof big - 9); /* exactly full */
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, PUB_REC_MAX_DATA);
	pub_recb_addn(&b, "", "", 0);
	assert_int_equal(b.err, -PUB_EINVAL);
}

static void test_json(void **state)
{
	char out[256];
	size_t n;

	n = pub_json_escape("a\"b\\c\n\t\x01", 8, out);
	assert_int_equal(n, 17);
	assert_memory_equal(out, "a\\\"b\\\\c\\n\\t\\u0001", 17);
	/* Valid UTF-8 passes as is. */
	n = pub_json_escape("M\xc3\xbcnchen \xe2\x82\xac \xf0\x9f\x93\x9e", 17, out);
	assert_int_equal(n, 17);
	assert_memory_equal(out, "M\xc3\xbcnchen \xe2\x82\xac \xf0\x9f\x93\x9e", 17);
	/* Invalid bytes, overlongs, surrogates and truncations become U+FFFD. */
	n = pub_json_escape("\xff" "a" "\xc0\xaf" "\xed\xa0\x80" "\xe2\x82", 9, out);
	assert_memory_equal(out,
			    "\xef\xbf\xbd" "a" "\xef\xbf\xbd\xef\xbf\xbd"
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "\xef\xbf\xbd\xef\xbf\xbd",
			    n);
	assert_int_equal(n, 1 + 3 * 8);
	/* Worst case fits the documented bound. */
	char ctl[32], wide[6 * 32];
	memset(ctl, 0x1f, sizeof ctl);
	assert_int_equal(pub_json_escape(ctl, sizeof ctl, wide), sizeof wide);

	struct pub_recb b;
	pub_recb_init(&b);
	pub_recb_add(&b, "type", "call.ended", false);
	pub_recb_add(&b, "reason", "said \"no\"", false);
	struct pub_rec *r = pub_rec_new(&b, NULL);
	r->id.ms = 17;
	r->id.seq = 3;
	char *buf = malloc(pub_rec_json_max(r));
	n = pub_rec_json(r, buf);
	assert_true(n <= pub_rec_json_max(r));
	const char *want = "{\"id\":\"17-3\",\"type\":\"call.ended\",\"reason\":\"said \\\"no\\\"\"}";
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	free(buf);
	free(r);
}

/* ---- RESP ---- */

static void test_resp(void **state)
{
	char num[20];
	const uint64_t vals[] = {0, 7, 10, 99, 1000, 1732500000123ull, UINT64_MAX};
	const char *txt[] = {"0", "7", "10", "99", "1000", "1732500000123",
			     "18446744073709551615"};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		size_t n = pub_u64_dec(vals[i], num);
		assert_int_equal(n, strlen(txt[i]));
		assert_memory_equal(num, txt[i], n);
	}

	/* Byte for byte what hiredis itself would send, binary data included. */
	static char big[70000];
	memset(big, 'z', sizeof big);
	const char *argv[] = {"XADD", "cl:events", "MAXLEN", "~", "100000", "1-0", "k",
			      "a\r\n\0b", "", big};
	size_t len[] = {4, 9, 6, 1, 6, 3, 1, 5, 0, sizeof big};
	int argc = (int)(sizeof len / sizeof len[0]);
	size_t max = pub_resp_size(argc, len);
	char *mine = malloc(max);
	size_t n = pub_resp_format(mine, argc, argv, len);
	assert_true(n <= max);
	char *theirs = NULL;
	int tn = redisFormatCommandArgv(&theirs, argc, argv, len);
	assert_int_equal(n, (size_t)tn);
	assert_memory_equal(mine, theirs, n);
	redisFreeCommand(theirs);
	n = pub_resp_format(mine, 1, argv, len);
	assert_int_equal(n, 14);
	assert_memory_equal(mine, "*1\r\n$4\r\nXADD\r\n", 14);
	free(mine);
}

/* ---- backoff ---- */

static void test_backoff(void **state)
{
	struct pub_backoff b;
	uint32_t ceil = 100;

	pub_backoff_init(&b, 100, 5000, 12345);
	for (int i = 0; i < 40; i++) {
		uint32_t d = pub_backoff_next(&b);
		assert_true(d >= ceil / 2 && d <= ceil);
		ceil = ceil * 2 > 5000 ? 5000 : ceil * 2;
	}
	/* Capped: many more attempts never exceed the maximum. */
	for (int i = 0; i < 1000; i++) {
		uint32_t d = pub_backoff_next(&b);
		assert_true(d >= 2500 && d <= 5000);
	}
	pub_backoff_reset(&b);
	uint32_t d = pub_backoff_next(&b);
	assert_true(d >= 50 && d <= 100);

	/* Jitter: two publishers with different seeds do not retry in step. */
	struct pub_backoff x, y;
	int same = 0;
	pub_backoff_init(&x, 100, 60000, 1);
	pub_backoff_init(&y, 100, 60000, 2);
	for (int i = 0; i < 20; i++)
		same += pub_backoff_next(&x) == pub_backoff_next(&y);
	assert_true(same < 5);
	/* Nonsense limits are made sane. */
	pub_backoff_init(&x, 0, 0, 0);
	assert_true(pub_backoff_next(&x) <= 1 && pub_backoff_next(&x) <= 1);
}

/* ---- journal ---- */

static void test_journal_crc(void **state)
{
	assert_int_equal(pub_journal_crc32("123456789", 9), 0xcbf43926u);
	assert_int_equal(pub_journal_crc32("", 0), 0);
}

static void test_journal_roundtrip(void **state)
{
	struct tmp t;
	struct pub_journal *j = NULL;
	uint64_t loaded = 99, lost = 0;
	char v[32], got[64];
	const int N = 3000; /* several batches */

	tmp_make(&t);
	assert_int_equal(pub_journal_open(t.path, &j, &loaded), 0);
	assert_int_equal(loaded, 0);
	for (int i = 0; i < N; i++) {
		snprintf(v, sizeof v, "value-%d", i);
		struct pub_rec *r = mkrec(1000 + (uint64_t)i / 10, (uint64_t)i % 10, "ev", v);
		r->flags = (i % 2) ? PUB_REC_SENT : 0;
		assert_int_equal(pub_journal_append(j, r, &lost), 0);
		assert_int_equal(lost, 0);
		free(r);
	}
	assert_int_equal(pub_journal_count(j), N);
	/* Batches went out on their own; the last one is still in memory. */
	assert_true(file_size(t.path) >= PUB_JOURNAL_BATCH);
	assert_true(pub_journal_batch_pending(j));
	uint64_t bytes = pub_journal_bytes(j);
	assert_int_equal(pub_journal_flush(j, &lost), 0);
	assert_false(pub_journal_batch_pending(j));
	assert_int_equal((uint64_t)file_size(t.path), bytes);
	assert_int_equal(pub_journal_bytes(j), bytes);

	for (int i = 0; i < N; i++) {
		struct pub_rec *r = NULL;
		assert_int_equal(pub_journal_next(j, &r, &lost), 1);
		assert_true(r->id.ms == 1000 + (uint64_t)i / 10 && r->id.seq == (uint64_t)i % 10);
		assert_int_equal(r->flags, (i % 2) ? PUB_REC_SENT : 0);
		snprintf(v, sizeof v, "value-%d", i);
		assert_string_equal(rec_get(r, "v", got, sizeof got), v);
		assert_int_equal(pub_journal_count(j), (uint64_t)(N - i - 1 + (i > 10)));
		free(r);
		/* Appends while reading go behind. */
		if (i == 10) {
			struct pub_rec *x = mkrec(9999, 0, "late", "x");
			assert_int_equal(pub_journal_append(j, x, &lost), 0);
			free(x);
		}
	}
	struct pub_rec *r = NULL;
	assert_int_equal(pub_journal_next(j, &r, &lost), 1);
	assert_true(r->id.ms == 9999);
	free(r);
	assert_int_equal(pub_journal_next(j, &r, &lost), 0);
	/* Everything read: the file is empty again. */
	assert_int_equal(file_size(t.path), 0);
	assert_int_equal(pub_journal_bytes(j), 0);
	/* And usable again. */
	struct pub_rec *y = mkrec(10000, 0, "again", "y");
	assert_int_equal(pub_journal_append(j, y, &lost), 0);
	free(y);
	assert_int_equal(pub_journal_next(j, &r, &lost), 1);
	assert_true(r->id.ms == 10000);
	free(r);
	pub_journal_close(j);
	tmp_remove(&t);
}

/* A spill that is read back before the batch is due never reaches the disk;
 * a half-read batch writes only its unread part. */
static void test_journal_batch_reads(void **state)
{
	struct tmp t;
	struct pub_journal *j = NULL;
	uint64_t loaded = 0, lost = 0;
	struct pub_rec *r = NULL;

	tmp_make(&t);
	assert_int_equal(pub_journal_open(t.path, &j, &loaded), 0);
	for (int i = 0; i < 3; i++) {
		struct pub_rec *x = mkrec(300 + (uint64_t)i, 0, "b", "v");
		assert_int_equal(pub_journal_append(j, x, &lost), 0);
		free(x);
	}
	size_t one = pub_journal_bytes(j) / 3;
	assert_int_equal(pub_journal_next(j, &r, &lost), 1);
	assert_int_equal(r->id.ms, 300);
	free(r);
	assert_int_equal(file_size(t.path), 0);
	assert_int_equal(pub_journal_count(j), 2);
	assert_int_equal(pub_journal_bytes(j), 2 * one);
	assert_int_equal(pub_journal_flush(j, &lost), 0);
	assert_int_equal((size_t)file_size(t.path), 2 * one);
	/* New appends go behind, into a fresh batch. */
	struct pub_rec *x = mkrec(303, 0, "b", "v");
	assert_int_equal(pub_journal_append(j, x, &lost), 0);
	free(x);
	for (uint64_t want = 301; want <= 303; want++) {
		assert_int_equal(pub_journal_next(j, &r, &lost), 1);
		assert_int_equal(r->id.ms, want);
		free(r);
	}
	assert_int_equal(pub_journal_next(j, &r, &lost), 0);
	assert_int_equal(pub_journal_count(j), 0);
	assert_int_equal(file_size(t.path), 0);
	pub_journal_close(j);
	tmp_remove(&t);
}

static void test_journal_reopen_torn(void **state)
{
	struct tmp t;
	struct pub_journal *j = NULL;
	uint64_t loaded = 0, lost = 0;

	tmp_make(&t);
	assert_int_equal(pub_journal_open(t.path, &j, &loaded), 0);
	for (int i = 0; i < 5; i++) {
		struct pub_rec *r = mkrec(100 + (uint64_t)i, 0, "ev", "abc");
		assert_int_equal(pub_journal_append(j, r, &lost), 0);
		free(r);
	}
	pub_journal_close(j); /* flushes */
	off_t whole = file_size(t.path);
	size_t one = (size_t)whole / 5;

	/* A crash in the middle of a write: half a record at the end. */
	int fd = open(t.path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	char junk[40];
	memset(junk, 0, sizeof junk);
	memcpy(junk, "CLJ1", 4);
	junk[4] = 100;
	assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	assert_int_equal(pub_journal_open(t.path, &j, &loaded), 0);
	assert_int_equal(loaded, 5);
	assert_int_equal(file_size(t.path), whole); /* tail cut */
	pub_journal_close(j);

	/* A flipped byte in record 3: records 0..2 survive. */
	fd = open(t.path, O_RDWR);
	char c;
	assert_int_equal(pread(fd, &c, 1, (off_t)(3 * one + 20)), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)(3 * one + 20)), 1);
	close(fd);
	assert_int_equal(pub_journal_open(t.path, &j, &loaded), 0);
	assert_int_equal(loaded, 3);
	assert_int_equal((size_t)file_size(t.path), 3 * one);
	for (int i = 0; i < 3; i++) {
		struct pub_rec *r = NULL;
		assert_int_equal(pub_journal_next(j, &r, &lost), 1);
		assert_int_equal(r->id.ms, 100 + (uint64_t)i);
		free(r);
	}
	pub_journal_close(j);

	/* Not a regular file. */
	assert_int_equal(pub_journal_open(t.dir, &j, &loaded), -PUB_EIO);
	tmp_remove(&t);
}

static void test_journal_prepend(void **state)
{
	struct tmp t;
	struct pub_journal *j = NULL;
	uint64_t loaded = 0, lost = 0;
	struct pub_rec *r = NULL;

	tmp_make(&t);
	assert_int_equal(pub_journal_open(t.path, &j, &loaded), 0);
	for (int i = 0; i < 4; i++) {
		struct pub_rec *x = mkrec(200 + (uint64_t)i, 0, "tail", "t");
		assert_int_equal(pub_journal_append(j, x, &lost), 0);
		free(x);
	}
	/* One read already: the rewrite keeps only what is unread. */
	assert_int_equal(pub_journal_next(j, &r, &lost), 1);
	assert_int_equal(r->id.ms, 200);
	free(r);
	struct pub_rec *front[2] = {mkrec(50, 0, "front", "a"), mkrec(51, 0, "front", "b")};
	front[1]->flags = PUB_REC_SENT | PUB_REC_ACKED; /* ACKED is memory only */
	assert_int_equal(pub_journal_prepend(j, front, 2), 0);
	assert_int_equal(pub_journal_count(j), 5);
	pub_journal_close(j);
	free(front[0]);
	free(front[1]);

	/* A new run finds them in order. */
	assert_int_equal(pub_journal_open(t.path, &j, &loaded), 0);
	assert_int_equal(loaded, 5);
	uint64_t want[] = {50, 51, 201, 202, 203};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(pub_journal_next(j, &r, &lost), 1);
		assert_int_equal(r->id.ms, want[i]);
		if (i == 1)
			assert_int_equal(r->flags, PUB_REC_SENT);
		free(r);
	}
	assert_int_equal(pub_journal_next(j, &r, &lost), 0);
	pub_journal_close(j);
	struct stat st;
	char tmpf[160];
	snprintf(tmpf, sizeof tmpf, "%s.tmp", t.path);
	assert_int_equal(stat(tmpf, &st), -1);
	tmp_remove(&t);
}

/* ---- the publisher with Redis unreachable ---- */

struct offline {
	struct tmp t;
	struct event_base *base;
	struct cfg_redis cfg;
	char sock[160];
	int warnings;
};

static int offline_setup(void **state)
{
	struct offline *o = calloc(1, sizeof *o);

	tmp_make(&o->t);
	snprintf(o->sock, sizeof o->sock, "%s/no-redis.sock", o->t.dir);
	o->base = event_base_new();
	o->cfg.enabled = true;
	o->cfg.unix_path = o->sock; /* nothing listens there */
	o->cfg.prefix = "t:";
	o->cfg.max_inflight = 4;
	o->cfg.buffer_events = 6;
	o->cfg.snapshot_ms = 50;
	cl_log_set_sink(quiet, &o->warnings);
	*state = o;
	return 0;
}

static int offline_teardown(void **state)
{
	struct offline *o = *state;

	cl_log_set_sink(NULL, NULL);
	event_base_free(o->base);
	tmp_remove(&o->t);
	free(o);
	return 0;
}

static void run_for(struct event_base *base, int ms)
{
	struct timeval tv = {0, ms * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void test_offline_journal(void **state)
{
	struct offline *o = *state;
	struct pub_stats st;
	struct pub_stream_id ids[30];
	char v[16];

	o->cfg.journal = o->t.path;
	struct pub *p = pub_new(o->base, &o->cfg, NULL, NULL);
	assert_non_null(p);
	run_for(o->base, 400); /* a few connect attempts */
	assert_false(pub_connected(p));
	pub_get_stats(p, &st);
	assert_true(st.errors >= 2);
	assert_true(o->warnings >= 1);

	for (int i = 0; i < 30; i++) {
		struct pub_event ev = {.type = "test", .ts_ms = 1, .call_id = "c-1"};
		snprintf(v, sizeof v, "%d", i);
		ev.extra[0] = (struct pub_kv){"n", v};
		ev.n_extra = 1;
		assert_int_equal(pub_event(p, &ev, &ids[i]), 0);
		if (i)
			assert_true(pub_stream_id_cmp(&ids[i - 1], &ids[i]) < 0);
	}
	pub_get_stats(p, &st);
	assert_int_equal(st.accepted, 30);
	assert_int_equal(st.buffered, 10); /* max_inflight + buffer_events */
	assert_int_equal(st.journaled, 20);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(pub_backlog(p), 30);
	/* State updates are discarded while away (resync rewrites them). */
	struct pub_target tg = {.id = "rep-1", .state = "ready"};
	assert_int_equal(pub_target(p, &tg), 0);
	pub_get_stats(p, &st);
	assert_int_equal(st.state_skipped, 1);
	assert_int_equal(st.state_pending, 0);
	run_for(o->base, 100); /* the journal batch timer writes */
	assert_true(file_size(o->t.path) > 0);
	pub_free(p);

	/* The next run picks them up: backlog 30 before anything new, and a
	 * new event goes behind them. */
	p = pub_new(o->base, &o->cfg, NULL, NULL);
	assert_non_null(p);
	assert_int_equal(pub_backlog(p), 30);
	struct pub_event ev = {.type = "after"};
	struct pub_stream_id nid;
	assert_int_equal(pub_event(p, &ev, &nid), 0);
	assert_true(pub_stream_id_cmp(&ids[29], &nid) < 0);
	pub_get_stats(p, &st);
	assert_int_equal(st.journaled, 31);
	assert_int_equal(st.buffered, 0);
	pub_free(p);

	/* On disk: the 10 that were in memory ahead of the 20 journaled ones
	 * (shutdown put them in front), then the new one. */
	struct pub_journal *j = NULL;
	uint64_t loaded = 0, lost = 0;
	char got[16];
	assert_int_equal(pub_journal_open(o->t.path, &j, &loaded), 0);
	assert_int_equal(loaded, 31);
	for (int i = 0; i < 31; i++) {
		struct pub_rec *r = NULL;
		assert_int_equal(pub_journal_next(j, &r, &lost), 1);
		if (i == 30) {
			assert_true(pub_stream_id_cmp(&r->id, &nid) == 0);
			assert_string_equal(rec_get(r, "type", got, sizeof got), "after");
			free(r);
			break;
		}
		assert_true(pub_stream_id_cmp(&r->id, &ids[i]) == 0);
		snprintf(v, sizeof v, "%d", i);
		assert_string_equal(rec_get(r, "n", got, sizeof got), v);
		assert_string_equal(rec_get(r, "type", got, sizeof got), "test");
		assert_string_equal(rec_get(r, "ts", got, sizeof got), "1");
		assert_string_equal(rec_get(r, "call", got, sizeof got), "c-1");
		assert_null(rec_get(r, "target", got, sizeof got));
		free(r);
	}
	pub_journal_close(j);
}

static void test_offline_drop(void **state)
{
	struct offline *o = *state;
	struct pub_stats st;

	struct pub *p = pub_new(o->base, &o->cfg, NULL, NULL);
	assert_non_null(p);
	struct pub_event ev = {.type = "x"};
	for (int i = 0; i < 10; i++)
		assert_int_equal(pub_event(p, &ev, NULL), 0);
	assert_int_equal(pub_event(p, &ev, NULL), -PUB_EDROP);
	assert_int_equal(pub_event(p, &ev, NULL), -PUB_EDROP);
	pub_get_stats(p, &st);
	assert_int_equal(st.accepted, 10);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.buffered, 10);
	assert_int_equal(st.journaled, 0);
	pub_free(p); /* the 10 are lost and counted: no journal */
}

static void test_invalid(void **state)
{
	struct offline *o = *state;
	struct pub_stats st;
	char longs[PUB_VALUE_MAX + 2];

	memset(longs, 'a', sizeof longs - 1);
	longs[sizeof longs - 1] = '\0';
	struct pub *p = pub_new(o->base, &o->cfg, NULL, NULL);
	assert_non_null(p);

	struct pub_event ok = {.type = "t"};
	struct pub_event e1 = {.type = NULL};
	struct pub_event e2 = {.type = ""};
	struct pub_event e3 = {.type = "t", .reason = longs};
	struct pub_event e4 = {.type = "t", .n_extra = 1, .extra = {{"Bad", "v"}}};
	struct pub_event e5 = {.type = "t", .n_extra = 1, .extra = {{"call", "v"}}};
	struct pub_event e6 = {.type = "t", .n_extra = 2, .extra = {{"k", "1"}, {"k", "2"}}};
	struct pub_event e7 = {.type = "t", .n_extra = PUB_MAX_EXTRA + 1};
	struct pub_event e8 = {.type = "t", .n_extra = 1, .extra = {{NULL, "v"}}};
	const struct pub_event *bad[] = {NULL, &e1, &e2, &e3, &e4, &e5, &e6, &e7, &e8};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(pub_event(p, bad[i], NULL), -PUB_EINVAL);
	struct pub_target t1 = {.id = ""};
	assert_int_equal(pub_target(p, &t1), -PUB_EINVAL);
	assert_int_equal(pub_target(p, NULL), -PUB_EINVAL);
	struct pub_queue q1 = {.name = NULL};
	assert_int_equal(pub_queue(p, &q1), -PUB_EINVAL);
	struct pub_call c1 = {.id = "c", .reason = longs};
	assert_int_equal(pub_call(p, &c1), -PUB_EINVAL);
	assert_int_equal(pub_target_del(p, ""), -PUB_EINVAL);
	assert_int_equal(pub_totals(p, NULL), -PUB_EINVAL);
	pub_get_stats(p, &st);
	assert_int_equal(st.accepted, 0);
	assert_int_equal(st.state_skipped, 0);
	assert_int_equal(pub_backlog(p), 0);
	/* And a good one still works afterwards. */
	struct pub_event e9 = {.type = "t", .n_extra = 2,
			       .extra = {{"order.amount", "12.50"}, {"sku_1", NULL}}};
	assert_int_equal(pub_event(p, &ok, NULL), 0);
	assert_int_equal(pub_event(p, &e9, NULL), 0);
	assert_int_equal(pub_backlog(p), 2);
	pub_free(p);

	/* Disabled publishing: NULL is a no-op everywhere. */
	assert_int_equal(pub_event(NULL, &ok, NULL), 0);
	assert_int_equal(pub_target(NULL, &t1), 0);
	assert_int_equal(pub_totals(NULL, NULL), 0);
	assert_false(pub_connected(NULL));
	assert_int_equal(pub_backlog(NULL), 0);
	pub_get_stats(NULL, &st);
	assert_int_equal(st.accepted, 0);
	pub_free(NULL);
}

static void test_bad_config(void **state)
{
	struct offline *o = *state;
	struct cfg_redis c = o->cfg;
	char prefix[PUB_PREFIX_MAX + 2];

	memset(prefix, 'p', sizeof prefix - 1);
	prefix[sizeof prefix - 1] = '\0';
	c.prefix = prefix;
	assert_null(pub_new(o->base, &c, NULL, NULL));
	c = o->cfg;
	c.journal = o->t.dir; /* a directory */
	assert_null(pub_new(o->base, &c, NULL, NULL));
	assert_null(pub_new(NULL, &o->cfg, NULL, NULL));
	assert_null(pub_new(o->base, NULL, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_idgen),
		cmocka_unit_test(test_id_text),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_resp),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_journal_crc),
		cmocka_unit_test(test_journal_roundtrip),
		cmocka_unit_test(test_journal_batch_reads),
		cmocka_unit_test(test_journal_reopen_torn),
		cmocka_unit_test(test_journal_prepend),
		cmocka_unit_test_setup_teardown(test_offline_journal, offline_setup,
						offline_teardown),
		cmocka_unit_test_setup_teardown(test_offline_drop, offline_setup,
						offline_teardown),
		cmocka_unit_test_setup_teardown(test_invalid, offline_setup, offline_teardown),
		cmocka_unit_test_setup_teardown(test_bad_config, offline_setup,
						offline_teardown),
	};
	return cmocka_run_group_tests_name("pub", tests, NULL, NULL);
}
