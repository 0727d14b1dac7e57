/*
 * The SNMP polling engine: net-snmp single sessions, one per agent, all
 * sharing one UDP socket per address family.
 *
 * net-snmp's traditional API keeps every session in a global list and
 * walks it on each read and timeout; a session of the single-session API
 * owns a socket and so an ephemeral port.  Neither reaches tens of
 * thousands of agents.  Instead each agent's session gets a small custom
 * transport: sending is a sendto() on the shared socket, receiving hands
 * back a datagram that the engine already read and matched to the agent
 * by its source address and port.  net-snmp still builds and parses the
 * messages, matches request ids, retries, and does the SNMPv3 security.
 *
 * Each agent serves one request at a time from a FIFO; a request may span
 * several PDUs (a GET split to stay under a datagram budget, a walk) and
 * ends with exactly one callback, always called from the event loop and
 * never from inside net-snmp.  net-snmp's callbacks only record what
 * happened; the engine acts on it once net-snmp has returned.
 *
 * SNMPv3 engineID discovery is asynchronous: net-snmp would otherwise
 * probe with a blocking synchronous request.  Keys derived from the
 * passphrases (Ku, a hash over a megabyte) are computed once per
 * passphrase and shared by every agent that uses it.
 */
#include "config.h"

#include <sys/socket.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snmp_engine.h"
#include "timeutil.h"
#include "xmalloc.h"

static void snmp_engine_read_cb(evutil_socket_t, short, void *);
static void snmp_engine_timer_cb(evutil_socket_t, short, void *);

/* Opens the shared socket of one family; -1 when the family is missing. */
static int
snmp_engine_sock_open(struct snmp_engine *e, struct snmp_sock *s, int family)
{
	const char *fam = family == AF_INET6 ? "IPv6" : "IPv4";
	int fd, on = 1, size;

	s->engine = e;
	s->family = family;
	s->fd = -1;
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("snmp: %s socket", fam);
		return -1;
	}
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
		log_warn("snmp: IPv6: IPV6_V6ONLY");
	/* ICMP errors come back on the error queue, not as a socket error
	 * that some other agent's send or receive would get. */
	if (family == AF_INET6) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on,
			sizeof(on)) == -1)
			log_warn("snmp: IPv6: IPV6_RECVERR");
	} else if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on)) ==
	    -1)
		log_warn("snmp: IPv4: IP_RECVERR");
	/* Arrival times from the kernel: answers may be read a tick later. */
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) == -1)
		log_warn("snmp: %s: SO_TIMESTAMPNS", fam);
	size = SNMP_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) ==
		-1 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == -1)
		log_warn("snmp: %s: SO_RCVBUF", fam);
	size = SNMP_SNDBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) ==
		-1 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) == -1)
		log_warn("snmp: %s: SO_SNDBUF", fam);
	s->ev = event_new(e->base, fd, EV_READ | EV_PERSIST,
	    snmp_engine_read_cb, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1) {
		log_warnx("snmp: %s: cannot watch the socket", fam);
		if (s->ev != NULL)
			event_free(s->ev);
		s->ev = NULL;
		close(fd);
		return -1;
	}
	netsnmp_large_fd_set_init(&s->fds, fd + 1);
	s->fd = fd;
	return 0;
}

/* Closes a family's socket, if it was open. */
static void
snmp_engine_sock_close(struct snmp_sock *s)
{
	if (s->fd == -1)
		return;
	event_free(s->ev);
	s->ev = NULL;
	netsnmp_large_fd_set_cleanup(&s->fds);
	close(s->fd);
	s->fd = -1;
}

/*
 * Creates the engine: net-snmp initialised once per process, one UDP
 * socket per address family.  Without IPv6 only IPv6 agents fail.
 */
struct snmp_engine *
snmp_engine_new(struct event_base *base)
{
	struct snmp_engine *e;
	int v4, v6;

	if (base == NULL)
		return NULL;
	snmp_transport_init();
	e = xcalloc(1, sizeof(*e));
	e->base = base;
	TAILQ_INIT(&e->agents);
	e->nhash = SNMP_HASH_MIN;
	e->hash = xcalloc(e->nhash, sizeof(*e->hash));
	e->nusm = SNMP_HASH_MIN;
	e->usm = xcalloc(e->nusm, sizeof(*e->usm));
	e->rxbuf = xmalloc(SNMP_DATAGRAM_MAX);
	v4 = snmp_engine_sock_open(e, &e->sock[0], AF_INET);
	v6 = snmp_engine_sock_open(e, &e->sock[1], AF_INET6);
	if (v4 == -1 && v6 == -1) {
		log_warnx("snmp: no UDP socket at all");
		free(e->rxbuf);
		free(e->usm);
		free(e->hash);
		free(e);
		return NULL;
	}
	if (v6 == -1)
		log_warnx("snmp: no IPv6: IPv6 agents will not be polled");
	return e;
}

/*
 * Frees the engine, its sockets, its keys and every agent left, whose
 * requests end without callbacks.  Not from inside an SNMP callback.
 */
void
snmp_engine_free(struct snmp_engine *e)
{
	struct snmp_agent *a;
	struct snmp_ku *k;

	if (e == NULL)
		return;
	while ((a = TAILQ_FIRST(&e->agents)) != NULL) {
		snmp_agent_cancel(a);
		snmp_agent_destroy(a);
	}
	while ((k = e->kus) != NULL) {
		e->kus = k->next;
		snmp_usm_ku_free(k);
	}
	snmp_engine_sock_close(&e->sock[0]);
	snmp_engine_sock_close(&e->sock[1]);
	free(e->usm);
	free(e->hash);
	free(e->rxbuf);
	free(e);
}

/* Copies the engine's counters. */
void
snmp_engine_stats(const struct snmp_engine *e, struct snmp_stats *st)
{
	if (e == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = e->stats;
}

/*
 * Creates an agent for an address and port, with its credentials, its
 * timeout per try and its number of retries.  Only one agent may exist
 * per address and port: the engine tells answers apart by their source.
 */
struct snmp_agent *
snmp_agent_new(struct snmp_engine *e, const struct sockaddr *sa,
    socklen_t salen, const struct snmp_cred *cred, uint64_t timeout_ms,
    unsigned retries)
{
	struct snmp_agent *a;
	struct snmp_sock *s;
	char name[INET6_ADDRSTRLEN + 16];
	const char *cname;

	if (e == NULL || sa == NULL || cred == NULL) {
		log_warnx("snmp: snmp_agent_new: bad arguments");
		return NULL;
	}
	cname = cred->name != NULL ? cred->name : "(unnamed)";
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in))
		s = &e->sock[0];
	else if (sa->sa_family == AF_INET6 &&
	    salen >= sizeof(struct sockaddr_in6))
		s = &e->sock[1];
	else {
		log_warnx("snmp: snmp_agent_new: unusable address (family "
			  "%d)",
		    sa->sa_family);
		return NULL;
	}
	snmp_transport_addr_str(sa, name, sizeof(name));
	if (s->fd == -1) {
		/* said once already by snmp_engine_new */
		log_debug("snmp: %s: no %s socket", name,
		    s == &e->sock[1] ? "IPv6" : "IPv4");
		return NULL;
	}
	if (snmp_transport_lookup(e, sa, salen) != NULL) {
		log_warnx("snmp: %s: an agent for this address and port "
			  "exists already; one session per address and port",
		    name);
		return NULL;
	}
	if (timeout_ms == 0) {
		log_warnx("snmp: %s: a timeout of 0 ms", name);
		return NULL;
	}
	if (timeout_ms > SNMP_TIMEOUT_MAX_MS)
		timeout_ms = SNMP_TIMEOUT_MAX_MS;
	if (retries > SNMP_RETRIES_MAX)
		retries = SNMP_RETRIES_MAX;

	a = xcalloc(1, sizeof(*a));
	a->engine = e;
	memcpy(&a->sa, sa,
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					sizeof(struct sockaddr_in));
	a->salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					       sizeof(struct sockaddr_in);
	a->sock = s;
	memcpy(a->name, name, sizeof(a->name));
	a->version = cred->version;
	a->level = cred->level;
	a->auth = cred->auth;
	a->priv = cred->priv;
	a->timeout_ms = timeout_ms;
	a->retries = retries;
	TAILQ_INIT(&a->queue);
	switch (cred->version) {
	case SNMP_VERSION_V1:
	case SNMP_VERSION_V2C:
		if (cred->community == NULL || cred->community[0] == '\0') {
			log_warnx("snmp: credentials %s: no community", cname);
			goto fail;
		}
		a->community = xstrdup(cred->community);
		break;
	case SNMP_VERSION_V3:
		if (cred->user == NULL || cred->user[0] == '\0') {
			log_warnx("snmp: credentials %s: no user", cname);
			goto fail;
		}
		a->user = xstrdup(cred->user);
		if (cred->level != SNMP_LEVEL_NOAUTH &&
		    (a->auth_ku = snmp_usm_ku(e, cname, cred->auth, "auth",
			 cred->auth_pass)) == NULL)
			goto fail;
		if (cred->level == SNMP_LEVEL_AUTHPRIV &&
		    (a->priv_ku = snmp_usm_ku(e, cname, cred->auth, "priv",
			 cred->priv_pass)) == NULL)
			goto fail;
		break;
	default:
		log_warnx("snmp: credentials %s: unknown version", cname);
		goto fail;
	}
	if ((a->ev = evtimer_new(e->base, snmp_engine_timer_cb, a)) == NULL) {
		log_warnx("snmp: %s: evtimer_new failed", name);
		goto fail;
	}
	if (snmp_transport_open(a) == -1)
		goto fail;
	snmp_transport_add(e, a);
	TAILQ_INSERT_TAIL(&e->agents, a, link);
	return a;
fail:
	if (a->ev != NULL)
		event_free(a->ev);
	if (a->community != NULL) {
		explicit_bzero(a->community, strlen(a->community));
		free(a->community);
	}
	free(a->user);
	free(a);
	return NULL;
}

/* The agent's timer: net-snmp's retry or timeout, or the kick to start. */
static void
snmp_engine_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snmp_agent *a = arg;

	(void)fd;
	(void)what;
	snmp_agent_enter(a);
	/* Polled: an answer may wait in the socket; read it before giving
	 * up on it. */
	if (a->engine->polled && a->state != SNMP_AGENT_IDLE)
		snmp_engine_poll(a->engine);
	snmp_agent_timer(a);
	snmp_agent_leave(a);
}

/*
 * Hands one datagram to the agent it came from, as the read callback
 * does: the agent is found by source address and port, the framing is
 * checked, net-snmp parses it within the agent's session, and the engine
 * acts on the result, calling back if a request ended.  Returns -1 when
 * the datagram was dropped.  Safe for any bytes.
 */
int
snmp_engine_input(struct snmp_engine *e, const uint8_t *buf, size_t len,
    const struct sockaddr *from, socklen_t fromlen)
{
	struct snmp_agent *a;
	long version;
	int rc;

	if (e == NULL || buf == NULL)
		return -1;
	if ((a = snmp_transport_lookup(e, from, fromlen)) == NULL) {
		e->stats.unknown_source++;
		return -1;
	}
	if (snmp_ber_packet_check(buf, len, &version) == -1 ||
	    version != snmp_transport_version(a->version)) {
		e->stats.undecodable++;
		return -1;
	}
	if (a->ss == NULL) {
		e->stats.late++;
		return -1;
	}
	/* Parsed even with nothing in flight: a late answer is dropped by
	 * net-snmp itself, and the fuzzer reaches the parser. */
	if (a->state == SNMP_AGENT_IDLE)
		e->stats.late++;
	snmp_agent_enter(a);
	a->stash = buf;
	a->stash_len = len;
	NETSNMP_LARGE_FD_SET(a->sock->fd, &a->sock->fds);
	rc = snmp_sess_read2(a->ss, &a->sock->fds);
	a->stash = NULL;
	if (rc != 0 && a->rec.kind == SNMP_REC_NONE) {
		e->stats.undecodable++;
		/* An SNMPv3 answer net-snmp cannot read while a request with
		 * a known engine ID waits: most likely another engine answers
		 * now (a replaced device), with a report for a user net-snmp
		 * does not know at that engine.  Discover it again, once. */
		if (a->version == SNMP_VERSION_V3 &&
		    a->state == SNMP_AGENT_WAITING && a->engineid != NULL &&
		    !TAILQ_FIRST(&a->queue)->rediscovered) {
			a->rec.kind = SNMP_REC_REPORT;
			a->rec.report = SNMPERR_UNKNOWN_ENG_ID;
		}
	}
	snmp_agent_step(a);
	snmp_agent_run(a);
	snmp_agent_leave(a);
	return rc == 0 ? 0 : -1;
}

/*
 * Reads the ICMP errors queued on a socket: each names the agent's
 * address and port it was about, and ends that agent's request.
 */
static void
snmp_engine_read_errors(struct snmp_engine *e, struct snmp_sock *s)
{
	struct sockaddr_storage to;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	struct sock_extended_err *ee;
	struct snmp_agent *a;
	union {
		char buf[512];
		struct cmsghdr align;
	} cbuf;
	uint8_t data[64];
	int i, error;

	for (i = 0; i < SNMP_ERRQUEUE_BATCH; i++) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = data;
		iov.iov_len = sizeof(data);
		msg.msg_name = &to;
		msg.msg_namelen = sizeof(to);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		if (recvmsg(s->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) == -1)
			return;
		error = 0;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			if (!((cm->cmsg_level == IPPROTO_IP &&
				  cm->cmsg_type == IP_RECVERR) ||
				(cm->cmsg_level == IPPROTO_IPV6 &&
				    cm->cmsg_type == IPV6_RECVERR)))
				continue;
			ee = (struct sock_extended_err *)CMSG_DATA(cm);
			if (ee->ee_origin == SO_EE_ORIGIN_ICMP ||
			    ee->ee_origin == SO_EE_ORIGIN_ICMP6 ||
			    ee->ee_origin == SO_EE_ORIGIN_LOCAL)
				error = (int)ee->ee_errno;
		}
		/* a smaller path MTU is no reason to give up */
		if (error == 0 || error == EMSGSIZE)
			continue;
		a = snmp_transport_lookup(e, (struct sockaddr *)&to,
		    msg.msg_namelen);
		if (a == NULL || a->state == SNMP_AGENT_IDLE)
			continue;
		log_debug("snmp: %s: %s", a->name, strerror(error));
		snmp_agent_unreachable(a, error);
	}
}

/*
 * The monotonic time a datagram arrived, from its SO_TIMESTAMPNS stamp;
 * 0 without a stamp that can be trusted (timeutil_stamp_to_mono).
 */
static uint64_t
snmp_engine_rx_mono_ns(struct msghdr *msg)
{
	struct cmsghdr *cm;
	struct timespec ts;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_TIMESTAMPNS ||
		    cm->cmsg_len < CMSG_LEN(sizeof(ts)))
			continue;
		memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		return timeutil_stamp_to_mono(&ts);
	}
	return 0;
}

/* Drains a shared socket: datagrams until EAGAIN, and ICMP errors. */
static void
snmp_engine_drain(struct snmp_sock *s)
{
	struct snmp_engine *e = s->engine;
	struct sockaddr_storage from;
	struct msghdr msg;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec)) + 64];
		struct cmsghdr align;
	} cbuf;
	ssize_t n;
	int i;

	if (s->fd == -1)
		return;
	for (i = 0; i < SNMP_READ_BATCH; i++) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = e->rxbuf;
		iov.iov_len = SNMP_DATAGRAM_MAX;
		msg.msg_name = &from;
		msg.msg_namelen = sizeof(from);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		n = recvmsg(s->fd, &msg, MSG_TRUNC | MSG_DONTWAIT);
		if (n == -1) {
			/* Woken with nothing to read: the error queue, which
			 * the kernel signals until it is empty.  Not read on
			 * every wake-up, which would cost a system call. */
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (i == 0)
					snmp_engine_read_errors(e, s);
				break;
			}
			if (errno == EINTR)
				continue;
			/* an ICMP error reported as the socket's error */
			snmp_engine_read_errors(e, s);
			continue;
		}
		if ((size_t)n > SNMP_DATAGRAM_MAX ||
		    (msg.msg_flags & MSG_TRUNC)) {
			e->stats.undecodable++;
			continue;
		}
		e->rx_ns = snmp_engine_rx_mono_ns(&msg);
		snmp_engine_input(e, e->rxbuf, (size_t)n,
		    (struct sockaddr *)&from, msg.msg_namelen);
		e->rx_ns = 0;
	}
}

static void
snmp_engine_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	snmp_engine_drain(arg);
}

/*
 * Polled mode: the sockets wake nobody; the caller drains them with
 * snmp_engine_poll() on a timer it has anyway (monitord's 10 ms tick), so
 * that a thousand answers a second cost a hundred wake-ups, not a
 * thousand.  Round-trip times still come from the kernel's arrival stamps.
 */
void
snmp_engine_set_polled(struct snmp_engine *e, int on)
{
	if (e == NULL || e->polled == !!on)
		return;
	e->polled = !!on;
	for (size_t i = 0; i < 2; i++) {
		if (e->sock[i].ev == NULL)
			continue;
		if (on)
			event_del(e->sock[i].ev);
		else if (event_add(e->sock[i].ev, NULL) == -1)
			log_warnx("snmp: cannot watch the socket again");
	}
}

/* Reads what has arrived on the sockets (polled mode). */
void
snmp_engine_poll(struct snmp_engine *e)
{
	if (e == NULL || e->stats.agents == 0)
		return;
	for (size_t i = 0; i < 2; i++)
		snmp_engine_drain(&e->sock[i]);
}