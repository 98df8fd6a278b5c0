/*
 * pub_journal.c — the publisher's spill file: events that did not fit in the
 * memory buffer while Redis was away or slow, kept in order on local disk
 * and read back once Redis takes them again (see pub_internal.h).
 *
 * Design: one file, appended at the end and read from a moving offset; it is
 * truncated to zero as soon as every record has been read, so a healthy
 * engine keeps it empty. Once the file is read up, records still in the
 * write batch are read from memory, so a short spill never touches the disk. Writes are batched (PUB_JOURNAL_BATCH bytes or the
 * caller's flush timer) so a burst costs one write(2) per 64 KiB; reads pull
 * 64 KiB chunks. Both are plain blocking file I/O on the loop thread: they
 * only happen in degraded mode, are bounded per call, and go to the page
 * cache; put the journal on a local disk. There is no fsync per batch: the
 * journal survives a crash of the process, not of the machine (the shutdown
 * rewrite does fsync).
 *
 * Each record carries a CRC-32 so a torn tail (a crash during a write) is
 * found and cut off at open; records before it are kept.
 */
#include "pub_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define J_MAGIC 0x314a4c43u /* "CLJ1" little-endian */
#define J_HDR 16u
#define J_FIXED 24u /* ms, seq, flags, nf */
#define J_MAX_PAYLOAD (J_FIXED + PUB_REC_MAX_DATA)
#define J_CHUNK 65536u

struct pub_journal {
	char *path;
	int fd;
	uint64_t file_size;    /* bytes of whole records in the file */
	uint64_t file_unread;  /* records in the file not yet read */
	uint64_t fpos;         /* file offset just after rbuf's last byte */
	char *rbuf;            /* read chunk: rbuf[rpos..rlen) is unread */
	size_t rcap, rlen, rpos;
	char *wbuf;            /* batch not yet written: wbuf[wpos..wlen) unread */
	size_t wpos, wlen, wcap;
	uint64_t wcount;       /* records in wbuf[wpos..wlen) */
};

/* CRC-32 (IEEE 802.3, reflected), four bits at a time. */
static uint32_t crc32_ieee(const void *data, size_t n)
{
	static const uint32_t t[16] = {
		0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
		0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
		0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	const unsigned char *p = data;
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		c = (c >> 4) ^ t[c & 15];
		c = (c >> 4) ^ t[c & 15];
	}
	return ~c;
}

uint32_t pub_journal_crc32(const void *data, size_t n) { return crc32_ieee(data, n); }

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

size_t pub_journal_rec_size(const struct pub_rec *r) { return J_HDR + J_FIXED + r->len; }

static void encode(const struct pub_rec *r, unsigned char *p)
{
	unsigned char *pl = p + J_HDR;

	put64(pl, r->id.ms);
	put64(pl + 8, r->id.seq);
	put32(pl + 16, r->flags & (PUB_REC_SENT | PUB_REC_FAILED | PUB_REC_LEADS | PUB_REC_SOLO));
	put32(pl + 20, r->nf);
	memcpy(pl + J_FIXED, r->data, r->len);
	put32(p, J_MAGIC);
	put32(p + 4, J_FIXED + r->len);
	put32(p + 8, crc32_ieee(pl, J_FIXED + r->len));
	put32(p + 12, 0);
}

/*
 * Look at one record at p (avail bytes). Returns 1 with *used set (and *out
 * decoded when out is not NULL), 0 if more bytes are needed, -PUB_EINVAL if
 * the bytes are not a record, -PUB_ENOMEM.
 */
static int decode(const unsigned char *p, size_t avail, size_t *used, struct pub_rec **out)
{
	if (avail < J_HDR)
		return 0;
	uint32_t len = get32(p + 4);
	if (get32(p) != J_MAGIC || len < J_FIXED || len > J_MAX_PAYLOAD)
		return -PUB_EINVAL;
	if (avail - J_HDR < len)
		return 0;
	const unsigned char *pl = p + J_HDR;
	if (crc32_ieee(pl, len) != get32(p + 8))
		return -PUB_EINVAL;
	*used = J_HDR + len;
	if (!out)
		return 1;
	struct pub_rec *r = malloc(sizeof *r + (len - J_FIXED));
	if (!r)
		return -PUB_ENOMEM;
	memset(r, 0, sizeof *r);
	r->id.ms = get64(pl);
	r->id.seq = get64(pl + 8);
	r->flags = get32(pl + 16);
	r->nf = get32(pl + 20);
	r->len = len - J_FIXED;
	memcpy(r->data, pl + J_FIXED, r->len);
	/* The pairs must parse; a record that does not is corruption. */
	const char *s[PUB_REC_MAX_FIELDS * 2];
	size_t sl[PUB_REC_MAX_FIELDS * 2];
	if (pub_rec_strings(r, s, sl, PUB_REC_MAX_FIELDS * 2) < 0) {
		free(r);
		return -PUB_EINVAL;
	}
	*out = r;
	return 1;
}

static void reset_read(struct pub_journal *j)
{
	j->fpos = 0;
	j->rlen = 0;
	j->rpos = 0;
}

/* Pull the next chunk so that at least need unread bytes are buffered (or
 * the file ends). Returns 0 or -PUB_EIO / -PUB_ENOMEM. */
static int fill(struct pub_journal *j, size_t need)
{
	size_t have = j->rlen - j->rpos;

	if (have && j->rpos)
		memmove(j->rbuf, j->rbuf + j->rpos, have);
	j->rlen = have;
	j->rpos = 0;
	size_t want = need > J_CHUNK ? need : J_CHUNK;
	if (want > j->rcap) {
		char *nb = realloc(j->rbuf, want);
		if (!nb)
			return -PUB_ENOMEM;
		j->rbuf = nb;
		j->rcap = want;
	}
	while (j->rlen < j->rcap && j->fpos < j->file_size) {
		size_t room = j->rcap - j->rlen;
		if (room > j->file_size - j->fpos)
			room = (size_t)(j->file_size - j->fpos);
		ssize_t n = pread(j->fd, j->rbuf + j->rlen, room, (off_t)j->fpos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -PUB_EIO;
		j->rlen += (size_t)n;
		j->fpos += (uint64_t)n;
		if (j->rlen - j->rpos >= need)
			break;
	}
	return 0;
}

/* Read the whole file, count good records, cut off a torn or corrupt tail. */
static int scan(struct pub_journal *j, uint64_t *count)
{
	uint64_t good = 0, n = 0;
	int rc;

	reset_read(j);
	for (;;) {
		size_t used = 0;
		rc = decode((unsigned char *)j->rbuf + j->rpos, j->rlen - j->rpos, &used, NULL);
		if (rc == 1) {
			j->rpos += used;
			good += used;
			n++;
			continue;
		}
		if (rc < 0 || j->fpos >= j->file_size)
			break; /* corrupt, or a torn record at the end */
		if ((rc = fill(j, J_HDR + J_MAX_PAYLOAD)) < 0)
			return rc;
	}
	if (good < j->file_size) {
		if (ftruncate(j->fd, (off_t)good) < 0)
			return -PUB_EIO;
		j->file_size = good;
	}
	reset_read(j);
	*count = n;
	return 0;
}

int pub_journal_open(const char *path, struct pub_journal **out, uint64_t *loaded)
{
	struct pub_journal *j = calloc(1, sizeof *j);
	struct stat st;
	int rc = -PUB_ENOMEM;

	if (!j)
		return -PUB_ENOMEM;
	j->fd = -1;
	if (!(j->path = strdup(path)))
		goto fail;
	rc = -PUB_EIO;
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (j->fd < 0 || fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto fail;
	j->file_size = (uint64_t)st.st_size;
	if ((rc = scan(j, &j->file_unread)) < 0)
		goto fail;
	*loaded = j->file_unread;
	*out = j;
	return 0;
fail:
	if (j->fd >= 0) {
		int e = errno;
		close(j->fd);
		errno = e;
	}
	free(j->path);
	free(j);
	return rc;
}

void pub_journal_close(struct pub_journal *j)
{
	uint64_t lost = 0;

	if (!j)
		return;
	pub_journal_flush(j, &lost);
	close(j->fd);
	free(j->rbuf);
	free(j->wbuf);
	free(j->path);
	free(j);
}

int pub_journal_flush(struct pub_journal *j, uint64_t *lost)
{
	size_t off = j->wpos;

	*lost = 0;
	while (off < j->wlen) {
		ssize_t n = pwrite(j->fd, j->wbuf + off, j->wlen - off,
				   (off_t)(j->file_size + off - j->wpos));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;
			/* Keep the file whole: cut a partial batch back off. */
			if (ftruncate(j->fd, (off_t)j->file_size) < 0) {
				/* The next scan (at open) still finds the torn tail. */
			}
			*lost = j->wcount;
			j->wlen = j->wpos = 0;
			j->wcount = 0;
			errno = e;
			return -PUB_EIO;
		}
		off += (size_t)n;
	}
	j->file_size += j->wlen - j->wpos;
	j->file_unread += j->wcount;
	j->wlen = j->wpos = 0;
	j->wcount = 0;
	return 0;
}

int pub_journal_append(struct pub_journal *j, const struct pub_rec *r, uint64_t *lost)
{
	size_t need = pub_journal_rec_size(r);

	*lost = 0;
	if (r->len > PUB_REC_MAX_DATA)
		return -PUB_EINVAL;
	if (j->wpos && j->wlen + need > j->wcap) {
		memmove(j->wbuf, j->wbuf + j->wpos, j->wlen - j->wpos);
		j->wlen -= j->wpos;
		j->wpos = 0;
	}
	if (j->wlen + need > j->wcap) {
		size_t cap = j->wcap ? j->wcap : PUB_JOURNAL_BATCH;
		while (cap < j->wlen + need)
			cap *= 2;
		char *nb = realloc(j->wbuf, cap);
		if (!nb)
			return -PUB_ENOMEM;
		j->wbuf = nb;
		j->wcap = cap;
	}
	encode(r, (unsigned char *)j->wbuf + j->wlen);
	j->wlen += need;
	j->wcount++;
	if (j->wlen - j->wpos >= PUB_JOURNAL_BATCH)
		return pub_journal_flush(j, lost);
	return 0;
}

/* Everything read: make the file empty again. */
static void rewind_empty(struct pub_journal *j)
{
	if (j->file_size && ftruncate(j->fd, 0) == 0)
		j->file_size = 0;
	if (j->file_size == 0)
		reset_read(j);
}

int pub_journal_next(struct pub_journal *j, struct pub_rec **out, uint64_t *lost)
{
	int rc;

	*lost = 0;
	if (j->file_unread == 0) {
		rewind_empty(j);
		if (!j->wcount)
			return 0;
		/* The file is read up: take the next one straight from the batch,
		 * which never has to touch the disk then. */
		size_t used = 0;
		rc = decode((unsigned char *)j->wbuf + j->wpos, j->wlen - j->wpos, &used, out);
		if (rc == 1) {
			j->wpos += used;
			if (--j->wcount == 0)
				j->wlen = j->wpos = 0;
			return 1;
		}
		if (rc == -PUB_ENOMEM)
			return rc;
		*lost = j->wcount; /* our own encoding does not decode: cannot happen */
		j->wlen = j->wpos = 0;
		j->wcount = 0;
		return -PUB_EIO;
	}
	for (;;) {
		size_t used = 0;
		rc = decode((unsigned char *)j->rbuf + j->rpos, j->rlen - j->rpos, &used, out);
		if (rc == 1) {
			j->rpos += used;
			if (--j->file_unread == 0)
				rewind_empty(j);
			return 1;
		}
		if (rc == -PUB_ENOMEM)
			return rc;
		if (rc < 0 || j->fpos >= j->file_size || fill(j, J_HDR + J_MAX_PAYLOAD) < 0)
			break;
	}
	/* Only we write this file and it was checked at open: anything that
	 * does not decode now is damage from outside. Start over empty. */
	*lost = j->file_unread;
	j->file_unread = 0;
	if (ftruncate(j->fd, 0) == 0)
		j->file_size = 0;
	reset_read(j);
	return -PUB_EIO;
}

uint64_t pub_journal_count(const struct pub_journal *j) { return j->file_unread + j->wcount; }

uint64_t pub_journal_bytes(const struct pub_journal *j)
{
	return j->file_size - (j->fpos - (j->rlen - j->rpos)) + (j->wlen - j->wpos);
}

bool pub_journal_batch_pending(const struct pub_journal *j) { return j->wlen > j->wpos; }

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int pub_journal_prepend(struct pub_journal *j, struct pub_rec *const *recs, size_t n)
{
	char *tmp = NULL;
	unsigned char *enc = NULL;
	char *copy = NULL;
	int fd = -1;
	uint64_t lost = 0;
	size_t cap = J_HDR + J_MAX_PAYLOAD;

	if (pub_journal_flush(j, &lost) < 0)
		return -PUB_EIO;
	size_t plen = strlen(j->path);
	if (!(tmp = malloc(plen + 5)) || !(enc = malloc(cap)) || !(copy = malloc(J_CHUNK)))
		goto fail;
	memcpy(tmp, j->path, plen);
	memcpy(tmp + plen, ".tmp", 5);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		goto fail;
	uint64_t size = 0;
	for (size_t i = 0; i < n; i++) {
		size_t sz = pub_journal_rec_size(recs[i]);
		encode(recs[i], enc);
		if (write_all(fd, enc, sz) < 0)
			goto fail;
		size += sz;
	}
	/* Then the unread rest of the old file, as it is on disk. */
	uint64_t from = j->fpos - (j->rlen - j->rpos);
	while (from < j->file_size) {
		size_t want = J_CHUNK;
		if (want > j->file_size - from)
			want = (size_t)(j->file_size - from);
		ssize_t r = pread(j->fd, copy, want, (off_t)from);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || write_all(fd, copy, (size_t)r) < 0)
			goto fail;
		from += (uint64_t)r;
		size += (uint64_t)r;
	}
	if (fsync(fd) < 0 || rename(tmp, j->path) < 0)
		goto fail;
	close(j->fd);
	j->fd = fd;
	j->file_unread += n;
	j->file_size = size;
	reset_read(j);
	free(copy);
	free(enc);
	free(tmp);
	return 0;
fail:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(copy);
	free(enc);
	free(tmp);
	return -PUB_EIO;
}
