/*
 * The outage journal.  Every hard state change is appended to a file before
 * it goes to PostgreSQL, and an acknowledgement follows each batch the
 * database answered, so a change survives a database outage, a kill -9 and
 * a restart.  The file is emptied whenever nothing is pending.
 *
 * A record is a 16-byte header (magic "MJ", type, a zero byte, the payload
 * length and the sequence number, little-endian), the payload and a CRC-32
 * of both.  A change's payload is "host\0check\0json"; an acknowledgement
 * has none and says that every change up to its sequence number is done.
 * The reader is a pure function over a buffer: a torn tail (a write cut
 * short by a crash) or a damaged record is skipped, and reading goes on at
 * the next record whose CRC holds.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monitord.h"
#include "xmalloc.h"

#define JOURNAL_HDR 16
#define JOURNAL_CRC 4

/*
 * The open journal file.  Its directory stays open too, and every later
 * open and rename goes through it: monitord opens the journal as root,
 * and the user it then becomes needs no access to the directories above.
 */
struct journal {
	char *path;
	int dirfd;
	char *base; /* the file's name in dirfd */
	int fd;
	uint64_t size; /* bytes in the file */
	int dirty; /* written since the last fsync */
	int newfd; /* the replacement being written, or -1 */
	uint64_t newsize;
};

static uint32_t journal_crc_table[256];

/* The CRC-32 of IEEE 802.3 (zlib's), continued from crc. */
static uint32_t
journal_crc(uint32_t crc, const unsigned char *p, size_t len)
{
	if (journal_crc_table[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
			journal_crc_table[i] = c;
		}
	}
	crc = ~crc;
	while (len-- > 0)
		crc = journal_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
journal_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
journal_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static int
journal_type_ok(int type)
{
	return type == JOURNAL_CHANGE || type == JOURNAL_ACK;
}

/*
 * Returns the length of the valid record at buf (at most len bytes), or 0
 * if there is none there.
 */
static size_t
journal_record_at(const unsigned char *buf, size_t len)
{
	uint32_t plen, crc;

	if (len < JOURNAL_HDR + JOURNAL_CRC || buf[0] != 'M' || buf[1] != 'J' ||
	    !journal_type_ok(buf[2]) || buf[3] != 0)
		return 0;
	plen = journal_get32(buf + 4);
	if (plen > JOURNAL_MAX_PAYLOAD ||
	    plen > len - JOURNAL_HDR - JOURNAL_CRC)
		return 0;
	crc = journal_crc(0, buf, JOURNAL_HDR + plen);
	if (crc != journal_get32(buf + JOURNAL_HDR + plen))
		return 0;
	return JOURNAL_HDR + plen + JOURNAL_CRC;
}

/*
 * Reads the records in buf in order, calling cb for each valid one.  Bytes
 * that hold no valid record are counted in st->skipped (st->first_bad is
 * the offset of the first); reading resumes at the next valid record.
 * Returns the number of valid records.
 */
size_t
journal_parse(const unsigned char *buf, size_t len, journal_record_cb cb,
    void *arg, struct journal_parse_stats *st)
{
	size_t off = 0, n = 0, rlen;

	memset(st, 0, sizeof(*st));
	while (off < len) {
		if ((rlen = journal_record_at(buf + off, len - off)) == 0) {
			size_t bad = off;

			/* Resynchronise on the next record that checks out. */
			for (off++; off < len; off++)
				if (buf[off] == 'M' &&
				    journal_record_at(buf + off, len - off) > 0)
					break;
			if (st->skipped == 0)
				st->first_bad = bad;
			st->skipped += off - bad;
			st->bad_runs++;
			continue;
		}
		uint64_t seq = 0;

		for (int i = 7; i >= 0; i--)
			seq = seq << 8 | buf[off + 8 + (size_t)i];
		n++;
		if (cb != NULL)
			cb(buf[off + 2], seq,
			    (const char *)buf + off + JOURNAL_HDR,
			    rlen - JOURNAL_HDR - JOURNAL_CRC, arg);
		off += rlen;
	}
	return n;
}

/*
 * Splits a change's payload into its host, check and JSON.  Returns 0, or
 * -1 if it is not "host\0check\0json".
 */
int
journal_change_split(const char *p, size_t len, const char **host,
    const char **check, const char **json, size_t *jsonlen)
{
	const char *h_end, *c_end;

	if ((h_end = memchr(p, '\0', len)) == NULL)
		return -1;
	c_end = memchr(h_end + 1, '\0', len - (size_t)(h_end + 1 - p));
	if (c_end == NULL || c_end + 1 == p + len)
		return -1;
	*host = p;
	*check = h_end + 1;
	*json = c_end + 1;
	*jsonlen = len - (size_t)(c_end + 1 - p);
	return 0;
}

/* Writes one record to fd; returns 0, or -1 with errno set. */
static int
journal_write(int fd, int type, uint64_t seq, const struct iovec *payload,
    int npayload)
{
	unsigned char hdr[JOURNAL_HDR], trailer[JOURNAL_CRC];
	struct iovec iov[8];
	size_t plen = 0, total;
	uint32_t crc;
	ssize_t w;
	int n = 0;

	if (npayload > 6) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < npayload; i++)
		plen += payload[i].iov_len;
	if (plen > JOURNAL_MAX_PAYLOAD) {
		errno = EFBIG;
		return -1;
	}
	hdr[0] = 'M';
	hdr[1] = 'J';
	hdr[2] = (unsigned char)type;
	hdr[3] = 0;
	journal_put32(hdr + 4, (uint32_t)plen);
	for (int i = 0; i < 8; i++)
		hdr[8 + i] = (unsigned char)(seq >> (8 * i));
	crc = journal_crc(0, hdr, sizeof(hdr));
	iov[n].iov_base = hdr;
	iov[n++].iov_len = sizeof(hdr);
	for (int i = 0; i < npayload; i++) {
		crc = journal_crc(crc, payload[i].iov_base, payload[i].iov_len);
		iov[n++] = payload[i];
	}
	journal_put32(trailer, crc);
	iov[n].iov_base = trailer;
	iov[n++].iov_len = sizeof(trailer);
	total = JOURNAL_HDR + plen + JOURNAL_CRC;
	do
		w = writev(fd, iov, n);
	while (w == -1 && errno == EINTR);
	if (w == -1)
		return -1;
	if ((size_t)w != total) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

/*
 * Opens (creating it if need be) the journal at path and passes every
 * record it holds to cb, in order.  Returns NULL after logging why it
 * cannot be opened or read.
 */
struct journal *
journal_open(const char *path, journal_record_cb cb, void *arg)
{
	struct journal *j;
	struct journal_parse_stats st;
	struct stat sb;
	unsigned char *buf;
	const char *slash = strrchr(path, '/');
	char *dir;
	size_t n, got = 0;
	int fd, dirfd;

	if (slash == NULL || slash[1] == '\0') {
		log_warnx("journal %s: not a file in a directory", path);
		return NULL;
	}
	dir = slash == path ? xstrdup("/") :
			      xstrndup(path, (size_t)(slash - path));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd == -1)
		log_warn("journal directory %s", dir);
	free(dir);
	if (dirfd == -1)
		return NULL;
	fd = openat(dirfd, slash + 1,
	    O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		log_warn("journal %s", path);
		close(dirfd);
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		log_warnx("journal %s: not a regular file", path);
		close(fd);
		close(dirfd);
		return NULL;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t r =
		    pread(fd, buf + got, (size_t)sb.st_size - got, (off_t)got);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == -1)
				log_warn("journal %s: read", path);
			break;
		}
		got += (size_t)r;
	}
	n = journal_parse(buf, got, cb, arg, &st);
	free(buf);
	if (st.skipped > 0)
		log_warnx("journal %s: %zu damaged or torn byte%s skipped in "
			  "%zu place%s, the first at offset %zu; %zu "
			  "record%s read",
		    path, st.skipped, st.skipped == 1 ? "" : "s", st.bad_runs,
		    st.bad_runs == 1 ? "" : "s", st.first_bad, n,
		    n == 1 ? "" : "s");
	j = xcalloc(1, sizeof(*j));
	j->path = xstrdup(path);
	j->dirfd = dirfd;
	j->base = xstrdup(slash + 1);
	j->fd = fd;
	j->newfd = -1;
	j->size = got;
	return j;
}

/*
 * Appends a record of the given type; a change's payload is its host,
 * check and JSON.  Returns 0, or -1 after logging, with the file as it was.
 */
int
journal_append(struct journal *j, int type, uint64_t seq, const char *host,
    const char *check, const char *json)
{
	struct iovec iov[3] = { { NULL, 0 } };
	int n = 0;

	if (type == JOURNAL_CHANGE) {
		iov[n].iov_base = (void *)(uintptr_t)host;
		iov[n++].iov_len = strlen(host) + 1;
		iov[n].iov_base = (void *)(uintptr_t)check;
		iov[n++].iov_len = strlen(check) + 1;
		iov[n].iov_base = (void *)(uintptr_t)json;
		iov[n++].iov_len = strlen(json);
	}
	if (journal_write(j->fd, type, seq, iov, n) == -1) {
		int saved = errno;

		/* A part-written record would be skipped as torn, but take
		 * it back so that later records follow a clean end. */
		if (ftruncate(j->fd, (off_t)j->size) == -1)
			log_warn("journal %s: truncate", j->path);
		errno = saved;
		log_warn("journal %s: write", j->path);
		return -1;
	}
	j->size += JOURNAL_HDR + JOURNAL_CRC;
	for (int i = 0; i < n; i++)
		j->size += iov[i].iov_len;
	j->dirty = 1;
	return 0;
}

/* Makes what was written durable: the fsync per batch.  Returns 0 or -1. */
int
journal_sync(struct journal *j)
{
	if (j == NULL || !j->dirty)
		return 0;
	if (fdatasync(j->fd) == -1) {
		log_warn("journal %s: fdatasync", j->path);
		return -1;
	}
	j->dirty = 0;
	return 0;
}

/* Empties the journal: nothing is pending. */
int
journal_reset(struct journal *j)
{
	if (j->size == 0)
		return 0;
	if (ftruncate(j->fd, 0) == -1) {
		log_warn("journal %s: truncate", j->path);
		return -1;
	}
	j->size = 0;
	j->dirty = 1;
	return 0;
}

/* The journal's size in bytes. */
uint64_t
journal_size(const struct journal *j)
{
	return j == NULL ? 0 : j->size;
}

/*
 * Starts writing a replacement beside the journal (path.new): the
 * records passed to journal_rewrite_add, then journal_rewrite_commit puts
 * it in the journal's place.  Returns 0, or -1 after logging.
 */
int
journal_rewrite_begin(struct journal *j)
{
	char *tmp = xasprintf("%s.new", j->base);

	j->newfd = openat(j->dirfd, tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (j->newfd == -1)
		log_warn("journal %s.new", j->path);
	free(tmp);
	j->newsize = 0;
	return j->newfd == -1 ? -1 : 0;
}

/* Adds a change to the replacement.  Returns 0, or -1 after logging. */
int
journal_rewrite_add(struct journal *j, uint64_t seq, const char *host,
    const char *check, const char *json)
{
	struct iovec iov[3];

	iov[0].iov_base = (void *)(uintptr_t)host;
	iov[0].iov_len = strlen(host) + 1;
	iov[1].iov_base = (void *)(uintptr_t)check;
	iov[1].iov_len = strlen(check) + 1;
	iov[2].iov_base = (void *)(uintptr_t)json;
	iov[2].iov_len = strlen(json);
	if (journal_write(j->newfd, JOURNAL_CHANGE, seq, iov, 3) == -1) {
		log_warn("journal %s.new: write", j->path);
		return -1;
	}
	j->newsize += JOURNAL_HDR + JOURNAL_CRC + iov[0].iov_len +
	    iov[1].iov_len + iov[2].iov_len;
	return 0;
}

/*
 * Ends the replacement: with ok, it is made durable and renamed over the
 * journal, which it then is; without, it is thrown away.  Returns 0, or
 * -1 after logging (the journal is then the old one, still whole).
 */
int
journal_rewrite_commit(struct journal *j, int ok)
{
	char *tmp = xasprintf("%s.new", j->base);
	int rc = -1;

	if (j->newfd == -1) {
		free(tmp);
		return -1;
	}
	if (ok && fdatasync(j->newfd) == -1)
		log_warn("journal %s.new: fdatasync", j->path);
	else if (ok && renameat(j->dirfd, tmp, j->dirfd, j->base) == -1)
		log_warn("journal %s.new: rename", j->path);
	else if (ok) {
		/* The rename lasts once the directory is on disk. */
		if (fsync(j->dirfd) == -1)
			log_warn("journal %s: fsync of its directory", j->path);
		close(j->fd);
		j->fd = j->newfd;
		j->newfd = -1;
		j->size = j->newsize;
		j->dirty = 0;
		rc = 0;
	}
	if (j->newfd != -1) {
		close(j->newfd);
		j->newfd = -1;
		unlinkat(j->dirfd, tmp, 0);
	}
	free(tmp);
	return rc;
}

/* Closes the journal, NULL-safe; what it holds stays for the next start. */
void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	journal_sync(j);
	if (j->newfd != -1)
		journal_rewrite_commit(j, 0);
	close(j->fd);
	close(j->dirfd);
	free(j->base);
	free(j->path);
	free(j);
}
