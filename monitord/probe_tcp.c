/*
 * TCP probes: a non-blocking connect, then optionally a request sent and a
 * reply read until an expected text appears.  A probe is a short chain of
 * callbacks (connect, send, read); each handles EV_TIMEOUT first, all of
 * them share one deadline set at the start, and every exit goes through
 * probe_tcp_done().  The socket is closed with SO_LINGER {1, 0} so that a
 * probe leaves no TIME_WAIT socket behind.
 *
 * After the connect, any failure is about the service rather than the
 * network, so it is an EXPECT_* outcome: the deadline passing with nothing
 * received is EXPECT_TIMEOUT; the deadline passing after other text came,
 * the buffer filling, the peer closing, or a reset or EPIPE while sending
 * or reading is EXPECT_MISMATCH, with the errno (if any) in the result.
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* A day: longer timeouts are clamped so that the deadline cannot wrap. */
#define PROBE_TCP_TIMEOUT_MAX_MS (24ULL * 3600 * 1000)

/* One probe in flight. */
struct probe_tcp {
	int fd;
	struct event *ev;
	struct event_base *base;
	uint64_t start_ns;
	uint64_t deadline_ns; /* one deadline for connect, send and read */
	uint64_t connect_us; /* set once connected */
	int err; /* an immediate connect failure */
	char *send; /* our copy, or NULL */
	size_t send_len;
	size_t sent;
	char *expect; /* our copy, or NULL */
	size_t expect_len;
	char *buf; /* PROBE_TCP_READ_MAX bytes when expect is set */
	size_t len;
	probe_tcp_cb cb;
	void *arg;
};

static void probe_tcp_connect_cb(evutil_socket_t, short, void *);
static void probe_tcp_send_cb(evutil_socket_t, short, void *);
static void probe_tcp_read_cb(evutil_socket_t, short, void *);

static const char *const probe_tcp_outcome_names[] = {
	[PROBE_TCP_CONNECTED] = "connected",
	[PROBE_TCP_REFUSED] = "connection refused",
	[PROBE_TCP_TIMEOUT] = "timeout",
	[PROBE_TCP_UNREACHABLE] = "unreachable",
	[PROBE_TCP_ERROR] = "error",
	[PROBE_TCP_EXPECT_TIMEOUT] = "expected text did not come",
	[PROBE_TCP_EXPECT_MISMATCH] = "unexpected reply",
};

/* Names an outcome for messages. */
const char *
probe_tcp_outcome_str(enum probe_tcp_outcome outcome)
{
	if ((unsigned)outcome >= PROBE_TCP_OUTCOME_COUNT)
		return "?";
	return probe_tcp_outcome_names[outcome];
}

/*
 * Tells whether expect occurs anywhere in the len bytes of buf.  A pure
 * function safe for any bytes; an empty expect is found everywhere.
 */
int
probe_tcp_match(const char *buf, size_t len, const char *expect,
    size_t expect_len)
{
	size_t i;

	if (expect_len == 0)
		return 1;
	if (buf == NULL || expect == NULL || expect_len > len)
		return 0;
	for (i = 0; i <= len - expect_len; i++) {
		if (buf[i] == expect[0] &&
		    memcmp(buf + i, expect, expect_len) == 0)
			return 1;
	}
	return 0;
}

/*
 * Returns the length of the well-formed UTF-8 sequence of a printable
 * character at s (n bytes available), or 0 for anything else: stray or
 * truncated bytes, overlong forms, surrogates and C1 controls.
 */
static size_t
probe_tcp_utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
		return 0;
	return len;
}

/*
 * Writes the first line of buf (up to CR or LF) into dst for messages:
 * ASCII controls, DEL and bytes that are not well-formed UTF-8 become '?',
 * well-formed UTF-8 is kept, and the text is cut at a character boundary
 * to fit dstsz with its NUL.  A pure function safe for any bytes.
 */
void
probe_tcp_banner(char *dst, size_t dstsz, const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0, o = 0, n;

	if (dstsz == 0)
		return;
	while (buf != NULL && i < len && s[i] != '\r' && s[i] != '\n') {
		if (s[i] >= 0x80)
			n = probe_tcp_utf8_len(s + i, len - i);
		else
			n = s[i] >= 0x20 && s[i] != 0x7f;
		if (o + (n > 0 ? n : 1) >= dstsz)
			break;
		if (n == 0) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, s + i, n);
		o += n;
		i += n;
	}
	dst[o] = '\0';
}

/* Maps a connect errno to an outcome. */
static enum probe_tcp_outcome
probe_tcp_classify(int err)
{
	switch (err) {
	case 0:
		return PROBE_TCP_CONNECTED;
	case ECONNREFUSED:
	case ECONNRESET:
		return PROBE_TCP_REFUSED;
	case ETIMEDOUT:
		return PROBE_TCP_TIMEOUT;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return PROBE_TCP_UNREACHABLE;
	default:
		return PROBE_TCP_ERROR;
	}
}

/* Closes the socket with an RST and frees the probe; no callback. */
static void
probe_tcp_close(struct probe_tcp *p)
{
	struct linger lg = { 1, 0 };

	if (p->ev != NULL)
		event_free(p->ev);
	if (p->fd != -1) {
		setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(p->fd);
	}
	free(p->send);
	free(p->expect);
	free(p->buf);
	free(p);
}

/* Reports the outcome, then frees the probe; the one way out of a probe. */
static void
probe_tcp_done(struct probe_tcp *p, enum probe_tcp_outcome outcome, int err)
{
	struct probe_tcp_result r;
	probe_tcp_cb cb = p->cb;
	void *arg = p->arg;

	memset(&r, 0, sizeof(r));
	r.outcome = outcome;
	r.error = err;
	r.total_us = (timeutil_mono_ns() - p->start_ns) / 1000;
	r.connect_us = p->connect_us;
	if (p->buf != NULL)
		probe_tcp_banner(r.banner, sizeof(r.banner), p->buf, p->len);
	log_debug("probe_tcp: fd %d: %s after %llu us (%s)", p->fd,
	    probe_tcp_outcome_str(outcome), (unsigned long long)r.total_us,
	    err != 0 ? strerror(err) : "no error");
	probe_tcp_close(p);
	cb(&r, arg);
}

/* Waits for what on the socket, at most until the probe's deadline. */
static int
probe_tcp_wait(struct probe_tcp *p, short what, event_callback_fn fn)
{
	uint64_t now = timeutil_mono_ns(), left = 0;
	struct timeval tv;

	if (now < p->deadline_ns)
		left = p->deadline_ns - now;
	tv.tv_sec = (time_t)(left / 1000000000ULL);
	tv.tv_usec = (suseconds_t)(left % 1000000000ULL / 1000);
	/*
	 * libevent adds the timeout to the time its loop iteration began;
	 * after slow callbacks (a long send, thousands of probes) that would
	 * bring the deadline forward, so the cached time is brought up to now.
	 */
	event_base_update_cache_time(p->base);
	if (event_assign(p->ev, p->base, p->fd, what, fn, p) == -1 ||
	    event_add(p->ev, &tv) == -1) {
		log_warnx("probe_tcp: fd %d: cannot register an event", p->fd);
		return -1;
	}
	return 0;
}

/* Tells whether the expected text has come, given len before the read. */
static int
probe_tcp_found(const struct probe_tcp *p, size_t old_len)
{
	size_t from = 0;

	/* Only a match that ends in the new bytes can be new. */
	if (old_len >= p->expect_len)
		from = old_len - p->expect_len + 1;
	return probe_tcp_match(p->buf + from, p->len - from, p->expect,
	    p->expect_len);
}

/* Waits for the reply, or ends the probe if there is nothing to expect. */
static void
probe_tcp_expect(struct probe_tcp *p)
{
	if (p->expect == NULL) {
		probe_tcp_done(p, PROBE_TCP_CONNECTED, 0);
		return;
	}
	if (probe_tcp_wait(p, EV_READ, probe_tcp_read_cb) == -1)
		probe_tcp_done(p, PROBE_TCP_ERROR, 0);
}

/*
 * Ends a probe whose peer dropped the connection after it was made.  What
 * the peer said before (a "421 busy", say) is read so that the banner shows
 * it, and decides the outcome as a normal read would.
 */
static void
probe_tcp_dropped(struct probe_tcp *p, int err)
{
	ssize_t n;

	if (p->buf != NULL) {
		n = recv(p->fd, p->buf + p->len, PROBE_TCP_READ_MAX - p->len,
		    MSG_DONTWAIT);
		if (n > 0) {
			p->len += (size_t)n;
			if (probe_tcp_found(p, p->len - (size_t)n)) {
				probe_tcp_done(p, PROBE_TCP_CONNECTED, 0);
				return;
			}
		}
	}
	probe_tcp_done(p, PROBE_TCP_EXPECT_MISMATCH, err);
}

/* Writes what is left of the request; waits for room if the socket is full. */
static void
probe_tcp_send(struct probe_tcp *p)
{
	ssize_t n;

	while (p->sent < p->send_len) {
		n = send(p->fd, p->send + p->sent, p->send_len - p->sent,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == -1) {
			probe_tcp_dropped(p, errno);
			return;
		}
		p->sent += (size_t)n;
	}
	if (p->sent == p->send_len)
		probe_tcp_expect(p);
	else if (probe_tcp_wait(p, EV_WRITE, probe_tcp_send_cb) == -1)
		probe_tcp_done(p, PROBE_TCP_ERROR, 0);
}

/* Learns how the connect went; connected, it sends or waits for the reply. */
static void
probe_tcp_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_tcp *p = arg;
	socklen_t len = sizeof(int);
	int err = p->err;

	if (what & EV_TIMEOUT) {
		probe_tcp_done(p, PROBE_TCP_TIMEOUT, ETIMEDOUT);
		return;
	}
	if (p->fd != -1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == ECONNRESET || err == EPIPE) {
		/*
		 * It connected, then the peer reset it before we looked.  A
		 * plain probe calls that refused, as before; a conversation
		 * gets the outcome a reset during the read would give, so that
		 * the result does not depend on which event ran first.
		 */
		if (p->send != NULL || p->expect != NULL) {
			p->connect_us =
			    (timeutil_mono_ns() - p->start_ns) / 1000;
			probe_tcp_dropped(p, err);
			return;
		}
	}
	if (err != 0) {
		probe_tcp_done(p, probe_tcp_classify(err), err);
		return;
	}
	p->connect_us = (timeutil_mono_ns() - p->start_ns) / 1000;
	if (p->send != NULL)
		probe_tcp_send(p);
	else
		probe_tcp_expect(p);
}

/* Sends more of the request once the socket has room. */
static void
probe_tcp_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_tcp *p = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		probe_tcp_done(p, PROBE_TCP_EXPECT_TIMEOUT, 0);
		return;
	}
	probe_tcp_send(p);
}

/* Reads what came and looks for the expected text in all received so far. */
static void
probe_tcp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_tcp *p = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		/* Silence is a timeout; other text is a wrong answer. */
		probe_tcp_done(p,
		    p->len == 0 ? PROBE_TCP_EXPECT_TIMEOUT :
				  PROBE_TCP_EXPECT_MISMATCH,
		    0);
		return;
	}
	/* The probe ends when the buffer is full, so there is room. */
	n = recv(fd, p->buf + p->len, PROBE_TCP_READ_MAX - p->len, 0);
	if (n == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		if (probe_tcp_wait(p, EV_READ, probe_tcp_read_cb) == -1)
			probe_tcp_done(p, PROBE_TCP_ERROR, 0);
		return;
	}
	if (n == -1) {
		probe_tcp_done(p, PROBE_TCP_EXPECT_MISMATCH, errno);
		return;
	}
	if (n == 0) {
		probe_tcp_done(p, PROBE_TCP_EXPECT_MISMATCH, 0);
		return;
	}
	p->len += (size_t)n;
	if (probe_tcp_found(p, p->len - (size_t)n))
		probe_tcp_done(p, PROBE_TCP_CONNECTED, 0);
	else if (p->len == PROBE_TCP_READ_MAX)
		probe_tcp_done(p, PROBE_TCP_EXPECT_MISMATCH, 0);
	else if (probe_tcp_wait(p, EV_READ, probe_tcp_read_cb) == -1)
		probe_tcp_done(p, PROBE_TCP_ERROR, 0);
}

/*
 * Starts a probe of sa: a connect, then, as opts asks, a request sent and
 * a reply read until the expected text comes, all within timeout_ms.  The
 * options are copied.  The callback fires exactly once, from the loop
 * (never from inside this call), unless the probe is cancelled first; the
 * probe is gone when it runs.  Returns NULL if the probe cannot start.
 */
struct probe_tcp *
probe_tcp_start(struct event_base *base, const struct sockaddr *sa,
    socklen_t salen, uint64_t timeout_ms, const struct probe_tcp_opts *opts,
    probe_tcp_cb cb, void *arg)
{
	struct probe_tcp *p;
	int fd;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
		log_warnx("probe_tcp: address family %d", sa->sa_family);
		return NULL;
	}
	if (opts != NULL && opts->expect != NULL &&
	    strlen(opts->expect) > PROBE_TCP_READ_MAX) {
		log_warnx("probe_tcp: expected text over %d bytes",
		    PROBE_TCP_READ_MAX);
		return NULL;
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_warn("probe_tcp: socket");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = fd;
	p->base = base;
	p->cb = cb;
	p->arg = arg;
	if (opts != NULL && opts->send != NULL && opts->send_len > 0) {
		p->send = xmalloc(opts->send_len);
		memcpy(p->send, opts->send, opts->send_len);
		p->send_len = opts->send_len;
	}
	if (opts != NULL && opts->expect != NULL && opts->expect[0] != '\0') {
		p->expect = xstrdup(opts->expect);
		p->expect_len = strlen(p->expect);
		p->buf = xmalloc(PROBE_TCP_READ_MAX);
	}
	if (timeout_ms > PROBE_TCP_TIMEOUT_MAX_MS)
		timeout_ms = PROBE_TCP_TIMEOUT_MAX_MS;
	p->start_ns = timeutil_mono_ns();
	p->deadline_ns = p->start_ns + timeout_ms * 1000000ULL;
	if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS) {
		/*
		 * An immediate failure (no route, say) is reported from the
		 * loop too, so callers see one path.
		 */
		p->err = errno;
		close(fd);
		p->fd = -1;
		p->ev = event_new(base, -1, 0, probe_tcp_connect_cb, p);
		if (p->ev == NULL)
			goto fail;
		event_active(p->ev, EV_WRITE, 0);
		return p;
	}
	p->ev = event_new(base, fd, EV_WRITE, probe_tcp_connect_cb, p);
	if (p->ev == NULL ||
	    probe_tcp_wait(p, EV_WRITE, probe_tcp_connect_cb) == -1)
		goto fail;
	return p;
fail:
	log_warnx("probe_tcp: cannot register the connect event");
	probe_tcp_close(p);
	return NULL;
}

/* Cancels a probe in flight; its callback will not be called. */
void
probe_tcp_cancel(struct probe_tcp *p)
{
	if (p != NULL)
		probe_tcp_close(p);
}
