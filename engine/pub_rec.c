/*
 * pub_rec.c — the publisher's pure parts: stream IDs, key names, records of
 * field/value pairs, their JSON form and the reconnect backoff (see
 * pub_internal.h). No I/O, no hiredis, no loop: everything here is unit
 * tested directly.
 *
 * Records keep their pairs in one contiguous block so that an event is a
 * single allocation, its XADD argv points straight into it, and the journal
 * writes it as is.
 */
#include "pub_internal.h"

#include <stdlib.h>
#include <string.h>

const char *pub_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case PUB_OK: return "ok";
	case PUB_ENOMEM: return "out of memory";
	case PUB_EINVAL: return "invalid record";
	case PUB_EDROP: return "dropped: buffer full and no journal";
	case PUB_EIO: return "journal I/O error";
	default: return "unknown error";
	}
}

/* ---- stream IDs ---- */

void pub_idgen_next(struct pub_idgen *g, uint64_t now_ms, struct pub_stream_id *out)
{
	if (now_ms > g->last.ms) {
		g->last.ms = now_ms;
		g->last.seq = 0;
	} else if (g->last.seq == UINT64_MAX) {
		/* 2^64 events in one millisecond: move on to the next one. */
		g->last.ms++;
		g->last.seq = 0;
	} else {
		g->last.seq++;
	}
	*out = g->last;
}

void pub_idgen_floor(struct pub_idgen *g, const struct pub_stream_id *top)
{
	if (pub_stream_id_cmp(top, &g->last) > 0)
		g->last = *top;
}

int pub_stream_id_cmp(const struct pub_stream_id *a, const struct pub_stream_id *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -PUB_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -PUB_EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -PUB_EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int pub_stream_id_parse(const char *s, size_t len, struct pub_stream_id *out)
{
	const char *dash = memchr(s, '-', len);
	struct pub_stream_id id = {0, 0};

	if (!dash) {
		if (parse_u64(s, len, &id.ms) < 0)
			return -PUB_EINVAL;
		*out = id;
		return 0;
	}
	if (parse_u64(s, (size_t)(dash - s), &id.ms) < 0 ||
	    parse_u64(dash + 1, len - (size_t)(dash - s) - 1, &id.seq) < 0)
		return -PUB_EINVAL;
	*out = id;
	return 0;
}

int pub_stream_id_format(const struct pub_stream_id *id, char *buf, size_t len)
{
	char tmp[PUB_STREAM_ID_LEN];
	size_t n = pub_u64_dec(id->ms, tmp);

	tmp[n++] = '-';
	n += pub_u64_dec(id->seq, tmp + n);
	if (n >= len)
		return -PUB_EINVAL;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return (int)n;
}

/* ---- numbers and RESP ---- */

size_t pub_u64_dec(uint64_t v, char *buf)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

size_t pub_resp_size(int argc, const size_t *len)
{
	/* "*<n>\r\n", then "$<len>\r\n<bytes>\r\n" per argument. */
	size_t n = 1 + 20 + 2;

	for (int i = 0; i < argc; i++)
		n += 1 + 20 + 2 + len[i] + 2;
	return n;
}

size_t pub_resp_format(char *out, int argc, const char *const *argv, const size_t *len)
{
	size_t o = 0;

	out[o++] = '*';
	o += pub_u64_dec((uint64_t)argc, out + o);
	out[o++] = '\r';
	out[o++] = '\n';
	for (int i = 0; i < argc; i++) {
		out[o++] = '$';
		o += pub_u64_dec(len[i], out + o);
		out[o++] = '\r';
		out[o++] = '\n';
		if (len[i])
			memcpy(out + o, argv[i], len[i]);
		o += len[i];
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

/* ---- keys ---- */

int pub_key(char *buf, size_t len, const char *prefix, const char *kind, const char *id)
{
	size_t a = strlen(prefix), b = strlen(kind), c = id ? strlen(id) : 0;

	if (a + b + c + 1 > len)
		return -PUB_EINVAL;
	memcpy(buf, prefix, a);
	memcpy(buf + a, kind, b);
	if (c)
		memcpy(buf + a + b, id, c);
	buf[a + b + c] = '\0';
	return (int)(a + b + c);
}

/* ---- records ---- */

static void put_u32(char *p, uint32_t v)
{
	unsigned char *u = (unsigned char *)p;

	u[0] = (unsigned char)v;
	u[1] = (unsigned char)(v >> 8);
	u[2] = (unsigned char)(v >> 16);
	u[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
	       (uint32_t)u[3] << 24;
}

void pub_recb_init(struct pub_recb *b)
{
	b->nf = 0;
	b->len = 0;
	b->err = 0;
}

void pub_recb_addn(struct pub_recb *b, const char *k, const char *v, size_t vlen)
{
	size_t klen = strlen(k);

	if (b->err)
		return;
	if (b->nf >= PUB_REC_MAX_FIELDS ||
	    8 + klen + vlen > (size_t)PUB_REC_MAX_DATA - b->len) {
		b->err = -PUB_EINVAL;
		return;
	}
	char *p = b->data + b->len;
	put_u32(p, (uint32_t)klen);
	memcpy(p + 4, k, klen);
	put_u32(p + 4 + klen, (uint32_t)vlen);
	if (vlen)
		memcpy(p + 8 + klen, v, vlen);
	b->len += (uint32_t)(8 + klen + vlen);
	b->nf++;
}

void pub_recb_add(struct pub_recb *b, const char *k, const char *v, bool keep_empty)
{
	if (!v || !*v) {
		if (keep_empty)
			pub_recb_addn(b, k, "", 0);
		return;
	}
	pub_recb_addn(b, k, v, strlen(v));
}

void pub_recb_add_u64(struct pub_recb *b, const char *k, uint64_t v)
{
	char num[20];

	pub_recb_addn(b, k, num, pub_u64_dec(v, num));
}

struct pub_rec *pub_rec_new(const struct pub_recb *b, int *err)
{
	if (b->err) {
		if (err)
			*err = b->err;
		return NULL;
	}
	struct pub_rec *r = malloc(sizeof *r + b->len);
	if (!r) {
		if (err)
			*err = -PUB_ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof *r);
	r->nf = b->nf;
	r->len = b->len;
	memcpy(r->data, b->data, b->len);
	return r;
}

struct pub_rec *pub_rec_dup(const struct pub_rec *r)
{
	struct pub_rec *c = malloc(sizeof *r + r->len);

	if (c)
		memcpy(c, r, sizeof *r + r->len);
	return c;
}

int pub_rec_strings(const struct pub_rec *r, const char **s, size_t *slen, size_t max)
{
	size_t off = 0, n = 0;

	if ((size_t)r->nf * 2 > max)
		return -PUB_EINVAL;
	for (uint32_t i = 0; i < r->nf * 2; i++) {
		if (r->len - off < 4)
			return -PUB_EINVAL;
		uint32_t l = get_u32(r->data + off);
		off += 4;
		if (l > r->len - off)
			return -PUB_EINVAL;
		s[n] = r->data + off;
		slen[n++] = l;
		off += l;
	}
	if (off != r->len)
		return -PUB_EINVAL;
	return (int)n;
}

/* ---- JSON ---- */

static const char hexd[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

size_t pub_json_escape(const char *s, size_t n, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		/* Copy a run of plain ASCII at once. */
		size_t j = i;
		while (j < n && u[j] >= 0x20 && u[j] < 0x80 && u[j] != '"' && u[j] != '\\')
			j++;
		if (j > i) {
			memcpy(out + o, u + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c < 0x20) {
			out[o++] = '\\';
			switch (c) {
			case '\n': out[o++] = 'n'; break;
			case '\r': out[o++] = 'r'; break;
			case '\t': out[o++] = 't'; break;
			default:
				memcpy(out + o, "u00", 3);
				o += 3;
				out[o++] = hexd[c >> 4];
				out[o++] = hexd[c & 15];
			}
			i++;
		} else if (c < 0x80) {
			out[o++] = (char)c;
			i++;
		} else {
			size_t l = utf8_len(u + i, n - i);
			if (l == 0) {
				/* One bad byte becomes U+FFFD (3 bytes: fits in 6). */
				memcpy(out + o, "\xef\xbf\xbd", 3);
				o += 3;
				i++;
			} else {
				memcpy(out + o, u + i, l);
				o += l;
				i += l;
			}
		}
	}
	return o;
}

size_t pub_rec_json_max(const struct pub_rec *r)
{
	/* Every byte escapes to at most 6; per pair 6 bytes of quotes/colon/comma. */
	return 16 + PUB_STREAM_ID_LEN + 6 * (size_t)r->len + 6 * (size_t)r->nf;
}

size_t pub_rec_json(const struct pub_rec *r, char *buf)
{
	const char *s[PUB_REC_MAX_FIELDS * 2];
	size_t sl[PUB_REC_MAX_FIELDS * 2];
	size_t o = 0;
	int n = pub_rec_strings(r, s, sl, PUB_REC_MAX_FIELDS * 2);

	memcpy(buf, "{\"id\":\"", 7);
	o = 7;
	int k = pub_stream_id_format(&r->id, buf + o, PUB_STREAM_ID_LEN);
	o += (size_t)(k > 0 ? k : 0);
	buf[o++] = '"';
	for (int i = 0; i + 1 < n; i += 2) {
		buf[o++] = ',';
		buf[o++] = '"';
		o += pub_json_escape(s[i], sl[i], buf + o);
		buf[o++] = '"';
		buf[o++] = ':';
		buf[o++] = '"';
		o += pub_json_escape(s[i + 1], sl[i + 1], buf + o);
		buf[o++] = '"';
	}
	buf[o++] = '}';
	return o;
}

/* ---- backoff ---- */

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

void pub_backoff_init(struct pub_backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed)
{
	if (min_ms == 0)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	b->min_ms = min_ms;
	b->max_ms = max_ms;
	b->cur_ms = min_ms;
	b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint32_t pub_backoff_next(struct pub_backoff *b)
{
	uint32_t half = b->cur_ms / 2;
	uint32_t d = half + (uint32_t)(xorshift64(&b->rng) % ((uint64_t)(b->cur_ms - half) + 1));

	b->cur_ms = b->cur_ms > b->max_ms / 2 ? b->max_ms : b->cur_ms * 2;
	return d;
}

void pub_backoff_reset(struct pub_backoff *b) { b->cur_ms = b->min_ms; }
