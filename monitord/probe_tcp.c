/*
 * TCP connect probes: a non-blocking connect, EV_WRITE with the timeout,
 * SO_ERROR for the outcome, and a close with SO_LINGER {1, 0} so that a
 * probe leaves no TIME_WAIT socket behind.  A probe is a short chain of
 * callbacks; every exit goes through probe_tcp_done().
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* One probe in flight. */
struct probe_tcp {
	int fd;
	struct event *ev;
	uint64_t start_ns;
	int err; /* an immediate connect failure */
	probe_tcp_cb cb;
	void *arg;
};

static const char *const probe_tcp_outcome_names[] = {
	[PROBE_TCP_CONNECTED] = "connected",
	[PROBE_TCP_REFUSED] = "connection refused",
	[PROBE_TCP_TIMEOUT] = "timeout",
	[PROBE_TCP_UNREACHABLE] = "unreachable",
	[PROBE_TCP_ERROR] = "error",
	[PROBE_TCP_EXPECT_TIMEOUT] = "expected text did not come",
	[PROBE_TCP_EXPECT_MISMATCH] = "unexpected reply",
};

const char *
probe_tcp_outcome_str(enum probe_tcp_outcome outcome)
{
	if ((unsigned)outcome >= PROBE_TCP_OUTCOME_COUNT)
		return "?";
	return probe_tcp_outcome_names[outcome];
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
	free(p);
}

/* Reports the outcome, then frees the probe. */
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
	if (outcome == PROBE_TCP_CONNECTED)
		r.connect_us = r.total_us;
	probe_tcp_close(p);
	cb(&r, arg);
}

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
	probe_tcp_done(p, probe_tcp_classify(err), err);
}

/*
 * Starts a connect to sa with a timeout.  The callback fires exactly once,
 * from the loop (never from inside this call), unless the probe is
 * cancelled first.  Returns NULL if no socket could be made.
 */
struct probe_tcp *
probe_tcp_start(struct event_base *base, const struct sockaddr *sa,
    socklen_t salen, uint64_t timeout_ms, const struct probe_tcp_opts *opts,
    probe_tcp_cb cb, void *arg)
{
	struct probe_tcp *p;
	struct timeval tv = timeutil_ms_to_tv(timeout_ms);
	int fd;

	(void)opts;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_warn("probe_tcp: socket");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = fd;
	p->cb = cb;
	p->arg = arg;
	p->start_ns = timeutil_mono_ns();
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
	if (p->ev == NULL || event_add(p->ev, &tv) == -1)
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
