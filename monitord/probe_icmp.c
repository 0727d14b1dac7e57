/*
 * The ICMP probe engine: one socket per address family shared by every
 * target, bursts of echo requests, and a matcher that accepts a reply only
 * when its sequence number, slot, token and source address all agree with
 * an echo in flight.
 *
 * A ping socket (SOCK_DGRAM) is preferred: the kernel assigns the ident,
 * computes the checksum and hands us only our own replies.  It needs
 * net.ipv4.ping_group_range to include our group; otherwise a raw socket
 * with an echo-reply filter and a random ident does the same work.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* From linux/icmp.h, which cannot be included beside netinet/ip_icmp.h. */
#ifndef ICMP_FILTER
#define ICMP_FILTER 1
#endif

#define PROBE_ICMP_RCVBUF (4 * 1024 * 1024)
#define PROBE_ICMP_SEQS 65536
#define PROBE_ICMP_FIRST_SLOTS 64
#define PROBE_ICMP_MAX_SLOTS (1U << 20)
#define PROBE_ICMP_NO_SLOT UINT32_MAX
#define PROBE_ICMP_READ_BATCH 4096
#define PROBE_ICMP_RECV_LEN 2048
#define PROBE_ICMP_NCTMO 16
#define PROBE_ICMP_DRAIN_EVERY 32

/* Where a probe is in its life. */
enum icmp_probe_state {
	ICMP_PROBE_SENDING, /* echoes of the burst still to send */
	ICMP_PROBE_WAITING, /* all sent, waiting for replies or the timeout */
	ICMP_PROBE_DONE /* callback running or run */
};

/* One echo request of a burst. */
struct icmp_echo {
	uint64_t sent_ns;
	uint64_t rtt_ns;
	uint16_t seq;
	uint8_t sent; /* handed to the kernel; seq held in the map */
	uint8_t replied; /* a reply was accepted */
};

/* A sequence number in flight and the echo it stands for. */
struct icmp_seqent {
	uint32_t slot1; /* slot + 1; 0 when the number is free */
	uint32_t echo;
};

/* The socket of one address family and its sequence space. */
struct icmp_sock {
	struct probe_icmp *engine;
	int family;
	enum icmp_sock_kind kind; /* ICMP_SOCK_NONE when unavailable */
	int fd;
	uint16_t ident; /* kernel-assigned (ping socket) or random (raw) */
	struct event *ev;
	struct icmp_seqent *seqmap; /* PROBE_ICMP_SEQS entries */
	uint32_t seq_used;
	uint16_t next_seq;
	int recv_error_logged;
};

/* An entry of the slot table: a probe in flight or a free-list link. */
struct icmp_slot {
	struct icmp_probe *probe;
	uint32_t next_free;
};

/* A cached common timeout of the event base. */
struct icmp_ctmo {
	uint64_t ms;
	const struct timeval *tv;
};

/* The engine: sockets, the slot table and counters. */
struct probe_icmp {
	struct event_base *base;
	struct icmp_sock sock4, sock6;
	struct icmp_slot *slots;
	uint32_t nslots;
	uint32_t free_head;
	uint64_t rng;
	probe_icmp_send_fn send_fn;
	void *send_arg;
	struct icmp_ctmo ctmo[PROBE_ICMP_NCTMO];
	size_t nctmo;
	unsigned unread; /* echoes sent since the sockets were last read */
	struct icmp_stats stats;
};

/* One burst of echoes to one address. */
struct icmp_probe {
	struct probe_icmp *engine;
	struct icmp_sock *sock; /* NULL when the family has no socket */
	enum icmp_probe_state state;
	uint32_t slot;
	uint32_t token;
	struct sockaddr_storage to;
	socklen_t tolen;
	unsigned count; /* echoes asked for */
	unsigned next; /* index of the next echo to send */
	unsigned nsent; /* accepted by the kernel */
	unsigned nrecv; /* answered */
	int error; /* errno of the first failed send */
	int stopped; /* a hard send error ended the burst */
	uint64_t gap_ms;
	struct event *ev_gap;
	struct event *ev_timeout;
	probe_icmp_cb cb;
	void *arg;
	struct icmp_echo echoes[];
};

static const char *const icmp_probe_state_names[] = {
	[ICMP_PROBE_SENDING] = "sending",
	[ICMP_PROBE_WAITING] = "waiting",
	[ICMP_PROBE_DONE] = "done",
};

static const char *const icmp_sock_kind_names[] = {
	[ICMP_SOCK_NONE] = "none",
	[ICMP_SOCK_DGRAM] = "ping socket",
	[ICMP_SOCK_RAW] = "raw socket",
	[ICMP_SOCK_AUTO] = "auto",
};

static const char *const icmp_outcome_names[] = {
	[ICMP_RESULT_OK] = "ok",
	[ICMP_RESULT_NO_REPLY] = "no_reply",
	[ICMP_RESULT_SEND_ERROR] = "send_error",
	[ICMP_RESULT_NO_SOCKET] = "no_socket",
};

static const char *const icmp_match_names[] = {
	[ICMP_MATCH_ACCEPTED] = "accepted",
	[ICMP_MATCH_MALFORMED] = "malformed",
	[ICMP_MATCH_NOT_REPLY] = "not_reply",
	[ICMP_MATCH_WRONG_IDENT] = "wrong_ident",
	[ICMP_MATCH_BAD_MAGIC] = "bad_magic",
	[ICMP_MATCH_UNKNOWN_SEQ] = "unknown_seq",
	[ICMP_MATCH_BAD_TOKEN] = "bad_token",
	[ICMP_MATCH_WRONG_SOURCE] = "wrong_source",
	[ICMP_MATCH_DUPLICATE] = "duplicate",
};

static void probe_icmp_drain(struct icmp_sock *);
static void probe_icmp_read_cb(evutil_socket_t, short, void *);
static void probe_icmp_gap_cb(evutil_socket_t, short, void *);
static void probe_icmp_timeout_cb(evutil_socket_t, short, void *);

const char *
probe_icmp_sock_kind_str(enum icmp_sock_kind kind)
{
	if ((unsigned)kind > ICMP_SOCK_AUTO)
		return "unknown";
	return icmp_sock_kind_names[kind];
}

const char *
probe_icmp_outcome_str(enum icmp_outcome outcome)
{
	if ((unsigned)outcome > ICMP_RESULT_NO_SOCKET)
		return "unknown";
	return icmp_outcome_names[outcome];
}

const char *
probe_icmp_match_str(enum icmp_match m)
{
	if ((unsigned)m >= ICMP_MATCH_COUNT)
		return "unknown";
	return icmp_match_names[m];
}

/* Names a probe state for logs. */
static const char *
probe_icmp_probe_state_str(enum icmp_probe_state state)
{
	if ((unsigned)state > ICMP_PROBE_DONE)
		return "unknown";
	return icmp_probe_state_names[state];
}

/* Names an address family for logs. */
static const char *
probe_icmp_family_str(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* Formats an address without its port for logs. */
static const char *
probe_icmp_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (inet_ntop(ss->ss_family, a, buf, (socklen_t)len) == NULL)
		return "?";
	return buf;
}

/* The next number of a splitmix64 generator: tokens need not be secret. */
static uint64_t
probe_icmp_rand(struct probe_icmp *pi)
{
	uint64_t z;

	z = (pi->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Returns a timeval for event_add: a common timeout of the base when one for
 * ms exists or can be made, else tv filled with ms.
 */
static const struct timeval *
probe_icmp_timeval(struct probe_icmp *pi, uint64_t ms, struct timeval *tv)
{
	const struct timeval *ct;
	size_t i;

	for (i = 0; i < pi->nctmo; i++)
		if (pi->ctmo[i].ms == ms)
			return pi->ctmo[i].tv;
	*tv = timeutil_ms_to_tv(ms);
	if (pi->nctmo == PROBE_ICMP_NCTMO)
		return tv;
	if ((ct = event_base_init_common_timeout(pi->base, tv)) == NULL)
		return tv;
	pi->ctmo[pi->nctmo].ms = ms;
	pi->ctmo[pi->nctmo].tv = ct;
	pi->nctmo++;
	return ct;
}

/* Asks for a large receive buffer: bursts of replies overflow the default. */
static void
probe_icmp_sock_rcvbuf(struct icmp_sock *s)
{
	int size = PROBE_ICMP_RCVBUF;
	socklen_t len = sizeof(size);

	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, len) == -1 &&
	    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, len) == -1)
		log_warn("icmp: %s: SO_RCVBUF",
		    probe_icmp_family_str(s->family));
}

/* Lets only echo replies reach a raw socket, not every ICMP message. */
static int
probe_icmp_sock_filter(struct icmp_sock *s)
{
	struct icmp6_filter f6;
	uint32_t mask;

	if (s->family == AF_INET) {
		mask = ~(1U << ICMP_ECHOREPLY);
		if (setsockopt(s->fd, SOL_RAW, ICMP_FILTER, &mask,
			sizeof(mask)) == -1) {
			log_warn("icmp: IPv4: ICMP_FILTER");
			return -1;
		}
		return 0;
	}
	ICMP6_FILTER_SETBLOCKALL(&f6);
	ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f6);
	if (setsockopt(s->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof(f6)) ==
	    -1) {
		log_warn("icmp: IPv6: ICMP6_FILTER");
		return -1;
	}
	return 0;
}

/* Binds a ping socket so that the kernel picks its ident, and learns it. */
static int
probe_icmp_sock_bind(struct icmp_sock *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)s->family;
	len = s->family == AF_INET ? sizeof(struct sockaddr_in) :
				     sizeof(struct sockaddr_in6);
	if (bind(s->fd, (struct sockaddr *)&ss, len) == -1) {
		log_warn("icmp: %s: bind", probe_icmp_family_str(s->family));
		return -1;
	}
	len = sizeof(ss);
	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == -1) {
		log_warn("icmp: %s: getsockname",
		    probe_icmp_family_str(s->family));
		return -1;
	}
	if (s->family == AF_INET)
		s->ident = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else
		s->ident = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/*
 * Opens a socket of one kind (DGRAM or RAW) for s->family and sets it up.
 * Returns 0, or -1 with errno from socket() left for the caller's message.
 */
static int
probe_icmp_sock_try(struct icmp_sock *s, enum icmp_sock_kind kind)
{
	int proto, type, one = 1;

	proto = s->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	type = kind == ICMP_SOCK_DGRAM ? SOCK_DGRAM : SOCK_RAW;
	s->fd = socket(s->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (s->fd == -1)
		return -1;
	if (kind == ICMP_SOCK_DGRAM) {
		if (probe_icmp_sock_bind(s) == -1)
			goto fail;
	} else {
		if (probe_icmp_sock_filter(s) == -1)
			goto fail;
		s->ident = (uint16_t)probe_icmp_rand(s->engine);
	}
	probe_icmp_sock_rcvbuf(s);
	if (setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) ==
	    -1)
		log_warn("icmp: %s: SO_TIMESTAMPNS",
		    probe_icmp_family_str(s->family));
	s->kind = kind;
	return 0;

fail:
	close(s->fd);
	s->fd = -1;
	errno = EINVAL;
	return -1;
}

/*
 * Opens the socket of one family as asked by want.  A family that cannot be
 * opened is logged once and left at ICMP_SOCK_NONE: its probes then end
 * with ICMP_RESULT_NO_SOCKET.
 */
static void
probe_icmp_sock_open(struct probe_icmp *pi, struct icmp_sock *s, int family,
    enum icmp_sock_kind want)
{
	const char *fam = probe_icmp_family_str(family);
	int dgram_errno = 0, raw_errno = 0, rcvbuf = 0;
	socklen_t len = sizeof(rcvbuf);

	s->engine = pi;
	s->family = family;
	s->kind = ICMP_SOCK_NONE;
	s->fd = -1;
	if (want == ICMP_SOCK_NONE)
		return;
	if (want == ICMP_SOCK_DGRAM || want == ICMP_SOCK_AUTO) {
		if (probe_icmp_sock_try(s, ICMP_SOCK_DGRAM) == -1) {
			dgram_errno = errno;
			log_debug("icmp: %s: no ping socket: %s", fam,
			    strerror(dgram_errno));
		}
	}
	if (s->kind == ICMP_SOCK_NONE &&
	    (want == ICMP_SOCK_RAW || want == ICMP_SOCK_AUTO)) {
		if (probe_icmp_sock_try(s, ICMP_SOCK_RAW) == -1)
			raw_errno = errno;
	}
	if (s->kind == ICMP_SOCK_NONE) {
		log_warnx("icmp: %s unavailable (ping socket: %s, raw socket: "
			  "%s); %s probes will fail",
		    fam, dgram_errno ? strerror(dgram_errno) : "not tried",
		    raw_errno ? strerror(raw_errno) : "not tried", fam);
		return;
	}
	s->seqmap = xcalloc(PROBE_ICMP_SEQS, sizeof(*s->seqmap));
	s->next_seq = (uint16_t)probe_icmp_rand(pi);
	s->ev = event_new(pi->base, s->fd, EV_READ | EV_PERSIST,
	    probe_icmp_read_cb, s);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1)
		fatalx("icmp: %s: cannot add the read event", fam);
	if (getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == -1)
		rcvbuf = -1;
	log_info("icmp: %s uses a %s (ident %u, receive buffer %d bytes)%s",
	    fam, probe_icmp_sock_kind_str(s->kind), s->ident, rcvbuf,
	    s->kind == ICMP_SOCK_RAW && dgram_errno == EACCES ?
		"; net.ipv4.ping_group_range excludes our group" :
		"");
}

/* Closes one family's socket and frees its sequence map. */
static void
probe_icmp_sock_close(struct icmp_sock *s)
{
	if (s->ev != NULL)
		event_free(s->ev);
	s->ev = NULL;
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	free(s->seqmap);
	s->seqmap = NULL;
	s->kind = ICMP_SOCK_NONE;
}

/* Opens the engine with the preferred sockets: ping socket, else raw. */
struct probe_icmp *
probe_icmp_new(struct event_base *base)
{
	return probe_icmp_new_kind(base, ICMP_SOCK_AUTO);
}

/*
 * Opens the engine with sockets of the given kind for both families;
 * ICMP_SOCK_NONE opens none (every probe then ends with no_socket).
 */
struct probe_icmp *
probe_icmp_new_kind(struct event_base *base, enum icmp_sock_kind kind)
{
	struct probe_icmp *pi;
	uint64_t seed;

	pi = xcalloc(1, sizeof(*pi));
	pi->base = base;
	pi->free_head = PROBE_ICMP_NO_SLOT;
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = timeutil_mono_ns() ^ ((uint64_t)getpid() << 32);
	pi->rng = seed;
	probe_icmp_sock_open(pi, &pi->sock4, AF_INET, kind);
	probe_icmp_sock_open(pi, &pi->sock6, AF_INET6, kind);
	return pi;
}

/* Returns the socket of a family, or NULL for an unknown family. */
static struct icmp_sock *
probe_icmp_sock(struct probe_icmp *pi, int family)
{
	if (family == AF_INET)
		return &pi->sock4;
	if (family == AF_INET6)
		return &pi->sock6;
	return NULL;
}

/* Tells which kind of socket serves a family; NONE when it has none. */
enum icmp_sock_kind
probe_icmp_sock_kind(const struct probe_icmp *pi, int family)
{
	if (family == AF_INET)
		return pi->sock4.kind;
	if (family == AF_INET6)
		return pi->sock6.kind;
	return ICMP_SOCK_NONE;
}

/* Copies the engine's counters. */
void
probe_icmp_stats(const struct probe_icmp *pi, struct icmp_stats *st)
{
	*st = pi->stats;
}

/* Replaces sendto() by fn (tests); NULL restores real sending. */
void
probe_icmp_set_send(struct probe_icmp *pi, probe_icmp_send_fn fn, void *arg)
{
	pi->send_fn = fn;
	pi->send_arg = arg;
}

/* Takes a free slot for p, growing the table; -1 when it is full. */
static int
probe_icmp_slot_get(struct probe_icmp *pi, struct icmp_probe *p)
{
	uint32_t i, n;

	if (pi->free_head == PROBE_ICMP_NO_SLOT) {
		if (pi->nslots >= PROBE_ICMP_MAX_SLOTS) {
			log_warnx("icmp: %u probes in flight, no free slot",
			    pi->nslots);
			return -1;
		}
		n = pi->nslots ? pi->nslots * 2 : PROBE_ICMP_FIRST_SLOTS;
		pi->slots = xreallocarray(pi->slots, n, sizeof(*pi->slots));
		for (i = n; i > pi->nslots; i--) {
			pi->slots[i - 1].probe = NULL;
			pi->slots[i - 1].next_free = pi->free_head;
			pi->free_head = i - 1;
		}
		pi->nslots = n;
	}
	p->slot = pi->free_head;
	pi->free_head = pi->slots[p->slot].next_free;
	pi->slots[p->slot].probe = p;
	return 0;
}

/* Returns p's slot to the free list. */
static void
probe_icmp_slot_put(struct probe_icmp *pi, struct icmp_probe *p)
{
	pi->slots[p->slot].probe = NULL;
	pi->slots[p->slot].next_free = pi->free_head;
	pi->free_head = p->slot;
}

/*
 * Takes the next free sequence number of a socket for (slot, echo).  Numbers
 * are handed out round robin, so one is reused only after 65536 sends.
 */
static int
probe_icmp_seq_get(struct icmp_sock *s, uint32_t slot, uint32_t echo,
    uint16_t *seqp)
{
	uint32_t n;
	uint16_t seq;

	if (s->seq_used >= PROBE_ICMP_SEQS)
		return -1;
	for (n = 0; n < PROBE_ICMP_SEQS; n++) {
		seq = s->next_seq++;
		if (s->seqmap[seq].slot1 == 0) {
			s->seqmap[seq].slot1 = slot + 1;
			s->seqmap[seq].echo = echo;
			s->seq_used++;
			*seqp = seq;
			return 0;
		}
	}
	return -1;
}

/* Frees a sequence number; replies carrying it are then unknown. */
static void
probe_icmp_seq_put(struct icmp_sock *s, uint16_t seq)
{
	s->seqmap[seq].slot1 = 0;
	s->seqmap[seq].echo = 0;
	s->seq_used--;
}

/* Moves a probe to a later state and logs the move. */
static void
probe_icmp_probe_set_state(struct icmp_probe *p, enum icmp_probe_state state)
{
	char addr[INET6_ADDRSTRLEN];

	if (state <= p->state)
		fatalx("icmp: probe %u: bad move %s -> %s", p->slot,
		    probe_icmp_probe_state_str(p->state),
		    probe_icmp_probe_state_str(state));
	if (log_get_level() >= LOG_LEVEL_DEBUG)
		log_debug("icmp: probe %u to %s: %s -> %s (sent %u, received "
			  "%u)",
		    p->slot, probe_icmp_addr_str(&p->to, addr, sizeof(addr)),
		    probe_icmp_probe_state_str(p->state),
		    probe_icmp_probe_state_str(state), p->nsent, p->nrecv);
	p->state = state;
}

/* Tells whether a send error is worth going on with the burst after. */
static int
probe_icmp_soft_error(int error)
{
	return error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS ||
	    error == EINTR;
}

/* Records a failed echo; a hard error stops the rest of the burst. */
static void
probe_icmp_probe_send_failed(struct icmp_probe *p, int error)
{
	p->engine->stats.send_errors++;
	if (p->error == 0)
		p->error = error;
	if (!probe_icmp_soft_error(error))
		p->stopped = 1;
}

/* Sends the next echo of a probe's burst. */
static void
probe_icmp_probe_send_next(struct icmp_probe *p)
{
	struct probe_icmp *pi = p->engine;
	struct icmp_sock *s = p->sock;
	struct icmp_echo *e = &p->echoes[p->next];
	struct icmp_payload pl;
	uint8_t pkt[ICMP_PACKET_LEN];
	int n, rc, flags = 0;

	pl.magic = ICMP_PACKET_MAGIC;
	pl.slot = p->slot;
	pl.token = p->token;
	pl.echo = p->next;
	p->next++;
	if (probe_icmp_seq_get(s, p->slot, pl.echo, &e->seq) == -1) {
		/* Too many echoes in flight for one socket: a sizing error. */
		if (pi->stats.seq_exhausted++ % 1000 == 0)
			log_warnx("icmp: %s: all 65536 sequence numbers in "
				  "flight (%llu times)",
			    probe_icmp_family_str(s->family),
			    (unsigned long long)pi->stats.seq_exhausted);
		probe_icmp_probe_send_failed(p, EBUSY);
		return;
	}
	if (s->kind == ICMP_SOCK_RAW)
		flags |= ICMP_PACKET_CKSUM;
	e->sent_ns = pl.sent_ns = timeutil_mono_ns();
	n = icmp_packet_build(pkt, sizeof(pkt), s->family, s->ident, e->seq,
	    &pl, flags);
	if (pi->send_fn != NULL)
		rc = pi->send_fn(s->family, pkt, (size_t)n,
		    (struct sockaddr *)&p->to, p->tolen, pi->send_arg);
	else if (sendto(s->fd, pkt, (size_t)n, 0, (struct sockaddr *)&p->to,
		     p->tolen) == -1)
		rc = -1;
	else
		rc = 0; /* a datagram goes out whole or not at all */
	if (rc == -1) {
		probe_icmp_probe_send_failed(p, errno);
		probe_icmp_seq_put(s, e->seq);
		if (log_get_level() >= LOG_LEVEL_DEBUG) {
			char addr[INET6_ADDRSTRLEN];

			log_debug("icmp: probe %u: echo %u to %s: %s", p->slot,
			    pl.echo,
			    probe_icmp_addr_str(&p->to, addr, sizeof(addr)),
			    strerror(p->error));
		}
		return;
	}
	e->sent = 1;
	p->nsent++;
	pi->stats.echoes_sent++;
	/*
	 * Read between the sends of a large burst, or the replies to its
	 * first part overflow the receive buffer before the loop runs again.
	 */
	if (++pi->unread >= PROBE_ICMP_DRAIN_EVERY)
		probe_icmp_drain(s);
}

/*
 * Ends the sending phase.  When nothing is left to wait for, the probe
 * finishes from the loop (never from inside probe_icmp_start).
 */
static void
probe_icmp_probe_sending_done(struct icmp_probe *p)
{
	probe_icmp_probe_set_state(p, ICMP_PROBE_WAITING);
	if (p->nrecv == p->nsent)
		event_active(p->ev_timeout, EV_TIMEOUT, 0);
}

/* Tells whether a probe has more echoes to send. */
static int
probe_icmp_probe_more(const struct icmp_probe *p)
{
	return p->next < p->count && !p->stopped;
}

/* Sends the next echo after a gap, and arms the gap again if needed. */
static void
probe_icmp_gap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct icmp_probe *p = arg;
	struct timeval tv;

	(void)fd;
	(void)what;
	probe_icmp_probe_send_next(p);
	if (probe_icmp_probe_more(p))
		evtimer_add(p->ev_gap,
		    probe_icmp_timeval(p->engine, p->gap_ms, &tv));
	else
		probe_icmp_probe_sending_done(p);
}

/* Releases a probe's sequence numbers, events and slot, then frees it. */
static void
probe_icmp_probe_destroy(struct icmp_probe *p)
{
	struct probe_icmp *pi = p->engine;
	unsigned i;

	if (p->sock != NULL && p->sock->seqmap != NULL) {
		for (i = 0; i < p->next; i++) {
			if (p->echoes[i].sent) {
				probe_icmp_seq_put(p->sock, p->echoes[i].seq);
				p->echoes[i].sent = 0;
			}
		}
	}
	if (p->ev_gap != NULL)
		event_free(p->ev_gap);
	if (p->ev_timeout != NULL)
		event_free(p->ev_timeout);
	probe_icmp_slot_put(pi, p);
	pi->stats.in_flight--;
	free(p);
}

/* Fills the result of a finished probe from its echoes. */
static void
probe_icmp_probe_result(const struct icmp_probe *p, struct icmp_result *r)
{
	const struct icmp_echo *e;
	double rtt, prev = 0, sum = 0, jsum = 0;
	unsigned i, n = 0;

	memset(r, 0, sizeof(*r));
	r->count = p->count;
	r->sent = p->nsent;
	r->received = p->nrecv;
	r->error = p->error;
	r->loss_pct = 100.0 * (double)(p->count - p->nrecv) / (double)p->count;
	for (i = 0; i < p->next; i++) {
		e = &p->echoes[i];
		if (!e->replied)
			continue;
		rtt = (double)e->rtt_ns / 1e6;
		if (n == 0 || rtt < r->rtt_min_ms)
			r->rtt_min_ms = rtt;
		if (n == 0 || rtt > r->rtt_max_ms)
			r->rtt_max_ms = rtt;
		if (n > 0)
			jsum += rtt > prev ? rtt - prev : prev - rtt;
		sum += rtt;
		prev = rtt;
		n++;
	}
	if (n > 0)
		r->rtt_avg_ms = sum / n;
	if (n > 1)
		r->jitter_ms = jsum / (n - 1);
	if (p->sock == NULL)
		r->outcome = ICMP_RESULT_NO_SOCKET;
	else if (p->nrecv > 0)
		r->outcome = ICMP_RESULT_OK;
	else if (p->error != 0 && (p->nsent == 0 || p->stopped))
		r->outcome = ICMP_RESULT_SEND_ERROR;
	else
		r->outcome = ICMP_RESULT_NO_REPLY;
}

/* Reports a probe's result to its owner once, then frees the probe. */
static void
probe_icmp_probe_finish(struct icmp_probe *p)
{
	struct icmp_result r;
	unsigned i;

	probe_icmp_probe_result(p, &r);
	probe_icmp_probe_set_state(p, ICMP_PROBE_DONE);
	/* Expire the sequence numbers now: later replies are unknown. */
	for (i = 0; i < p->next && p->sock != NULL; i++) {
		if (p->echoes[i].sent) {
			probe_icmp_seq_put(p->sock, p->echoes[i].seq);
			p->echoes[i].sent = 0;
		}
	}
	if (p->ev_gap != NULL)
		evtimer_del(p->ev_gap);
	evtimer_del(p->ev_timeout);
	p->engine->stats.probes_finished++;
	p->cb(&r, p->arg);
	probe_icmp_probe_destroy(p);
}

/* The probe's deadline, or its deferred end when nothing is in flight. */
static void
probe_icmp_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	probe_icmp_probe_finish(arg);
}

/* Copies the target, turning a v4-mapped IPv6 address into IPv4. */
static int
probe_icmp_probe_set_target(struct icmp_probe *p, const struct sockaddr *sa,
    socklen_t salen)
{
	const struct sockaddr_in6 *s6;
	struct sockaddr_in *s4;

	memset(&p->to, 0, sizeof(p->to));
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		memcpy(&p->to, sa, sizeof(struct sockaddr_in));
		((struct sockaddr_in *)&p->to)->sin_port = 0;
		p->tolen = sizeof(struct sockaddr_in);
		return 0;
	}
	if (sa->sa_family != AF_INET6 || salen < sizeof(struct sockaddr_in6))
		return -1;
	s6 = (const struct sockaddr_in6 *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		s4 = (struct sockaddr_in *)&p->to;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		p->tolen = sizeof(struct sockaddr_in);
		return 0;
	}
	memcpy(&p->to, sa, sizeof(struct sockaddr_in6));
	((struct sockaddr_in6 *)&p->to)->sin6_port = 0;
	p->tolen = sizeof(struct sockaddr_in6);
	return 0;
}

/*
 * Starts a burst of count echoes to sa, gap_ms apart (0: back to back),
 * ending at the latest timeout_ms from now.  cb gets the result once, from
 * the event loop, and the engine frees the probe after cb returns; cb may
 * start and cancel probes but must not free the engine.  Returns NULL for
 * an unusable address or arguments, or when the slot table is full.
 */
struct icmp_probe *
probe_icmp_start(struct probe_icmp *pi, const struct sockaddr *sa,
    socklen_t salen, unsigned count, uint64_t gap_ms, uint64_t timeout_ms,
    probe_icmp_cb cb, void *arg)
{
	struct icmp_probe *p;
	struct icmp_sock *s;
	struct timeval tv;

	if (sa == NULL || cb == NULL || count == 0 ||
	    count > PROBE_ICMP_MAX_ECHOES || timeout_ms == 0) {
		log_warnx("icmp: probe_icmp_start: bad arguments");
		return NULL;
	}
	p = xcalloc(1, sizeof(*p) + count * sizeof(p->echoes[0]));
	if (probe_icmp_probe_set_target(p, sa, salen) == -1) {
		log_warnx("icmp: probe_icmp_start: unusable address (family "
			  "%d, length %u)",
		    sa->sa_family, (unsigned)salen);
		free(p);
		return NULL;
	}
	p->engine = pi;
	p->state = ICMP_PROBE_SENDING;
	p->count = count;
	p->gap_ms = gap_ms;
	p->cb = cb;
	p->arg = arg;
	p->token = (uint32_t)probe_icmp_rand(pi);
	s = probe_icmp_sock(pi, p->to.ss_family);
	p->sock = s->kind == ICMP_SOCK_NONE ? NULL : s;
	if (probe_icmp_slot_get(pi, p) == -1) {
		free(p);
		return NULL;
	}
	p->ev_timeout = evtimer_new(pi->base, probe_icmp_timeout_cb, p);
	if (count > 1 && gap_ms > 0)
		p->ev_gap = evtimer_new(pi->base, probe_icmp_gap_cb, p);
	pi->stats.probes_started++;
	pi->stats.in_flight++;
	if (p->ev_timeout == NULL ||
	    (count > 1 && gap_ms > 0 && p->ev_gap == NULL)) {
		log_warnx("icmp: probe_icmp_start: evtimer_new failed");
		probe_icmp_probe_destroy(p);
		return NULL;
	}
	evtimer_add(p->ev_timeout, probe_icmp_timeval(pi, timeout_ms, &tv));
	if (p->sock == NULL) {
		probe_icmp_probe_sending_done(p);
		return p;
	}
	probe_icmp_probe_send_next(p);
	if (gap_ms == 0) {
		while (probe_icmp_probe_more(p))
			probe_icmp_probe_send_next(p);
	} else if (probe_icmp_probe_more(p)) {
		evtimer_add(p->ev_gap, probe_icmp_timeval(pi, gap_ms, &tv));
		return p;
	}
	probe_icmp_probe_sending_done(p);
	return p;
}

/*
 * Stops a probe without calling its callback and frees it.  Cancelling a
 * probe from inside its own callback does nothing: the engine frees it.
 */
void
probe_icmp_cancel(struct icmp_probe *p)
{
	if (p == NULL || p->state == ICMP_PROBE_DONE)
		return;
	p->engine->stats.probes_cancelled++;
	probe_icmp_probe_destroy(p);
}

/* Frees the engine; probes in flight are cancelled without callbacks. */
void
probe_icmp_free(struct probe_icmp *pi)
{
	uint32_t i;

	if (pi == NULL)
		return;
	for (i = 0; i < pi->nslots; i++)
		if (pi->slots[i].probe != NULL)
			probe_icmp_cancel(pi->slots[i].probe);
	probe_icmp_sock_close(&pi->sock4);
	probe_icmp_sock_close(&pi->sock6);
	free(pi->slots);
	free(pi);
}

/* Tells whether a reply's source is the probe's target. */
static int
probe_icmp_same_addr(const struct sockaddr_storage *to,
    const struct sockaddr *from)
{
	const struct sockaddr_in6 *a6, *b6;

	if (from == NULL || from->sa_family != to->ss_family)
		return 0;
	if (to->ss_family == AF_INET)
		return ((const struct sockaddr_in *)to)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)from)->sin_addr.s_addr;
	a6 = (const struct sockaddr_in6 *)to;
	b6 = (const struct sockaddr_in6 *)from;
	if (memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)))
		return 0;
	return a6->sin6_scope_id == 0 || a6->sin6_scope_id == b6->sin6_scope_id;
}

/*
 * Classifies one received datagram without changing anything.  On
 * ICMP_MATCH_ACCEPTED *pp and *echop name the echo it answers.
 */
static enum icmp_match
probe_icmp_classify(struct probe_icmp *pi, int family, const uint8_t *buf,
    size_t len, const struct sockaddr *from, struct icmp_probe **pp,
    uint32_t *echop)
{
	struct icmp_sock *s;
	struct icmp_packet pkt;
	struct icmp_probe *p;
	const struct icmp_seqent *q;
	enum icmp_parse_result r;
	int flags = 0;

	if ((s = probe_icmp_sock(pi, family)) == NULL)
		return ICMP_MATCH_MALFORMED;
	if (family == AF_INET && s->kind == ICMP_SOCK_RAW)
		flags = ICMP_PACKET_IPHDR | ICMP_PACKET_CKSUM;
	r = icmp_packet_parse(buf, len, family, flags, &pkt);
	switch (r) {
	case ICMP_PARSE_OK:
	case ICMP_PARSE_SHORT_PAYLOAD:
	case ICMP_PARSE_BAD_MAGIC:
		break;
	case ICMP_PARSE_NOT_ECHO_REPLY:
		return ICMP_MATCH_NOT_REPLY;
	default:
		return ICMP_MATCH_MALFORMED;
	}
	/* A raw socket sees every pinger's replies: skip theirs first. */
	if (s->kind == ICMP_SOCK_RAW && pkt.ident != s->ident)
		return ICMP_MATCH_WRONG_IDENT;
	if (r == ICMP_PARSE_SHORT_PAYLOAD)
		return ICMP_MATCH_MALFORMED;
	if (r == ICMP_PARSE_BAD_MAGIC)
		return ICMP_MATCH_BAD_MAGIC;
	if (s->seqmap == NULL || s->seqmap[pkt.seq].slot1 == 0)
		return ICMP_MATCH_UNKNOWN_SEQ;
	q = &s->seqmap[pkt.seq];
	if (q->slot1 - 1 >= pi->nslots ||
	    (p = pi->slots[q->slot1 - 1].probe) == NULL)
		return ICMP_MATCH_UNKNOWN_SEQ;
	if (pkt.payload.slot != q->slot1 - 1 || pkt.payload.token != p->token ||
	    pkt.payload.echo != q->echo || q->echo >= p->count)
		return ICMP_MATCH_BAD_TOKEN;
	if (!probe_icmp_same_addr(&p->to, from))
		return ICMP_MATCH_WRONG_SOURCE;
	if (p->echoes[q->echo].replied)
		return ICMP_MATCH_DUPLICATE;
	*pp = p;
	*echop = q->echo;
	return ICMP_MATCH_ACCEPTED;
}

/*
 * Feeds one datagram, as read from the family's socket, with its source
 * address and monotonic receive time, to the matcher.  The reply that
 * completes a probe makes it finish on the next turn of the loop.  Returns
 * what was done with the datagram; drops are counted in the engine's stats.
 */
enum icmp_match
probe_icmp_handle_reply(struct probe_icmp *pi, int family, const uint8_t *buf,
    size_t len, const struct sockaddr *from, uint64_t now_ns)
{
	struct icmp_probe *p = NULL;
	struct icmp_echo *e;
	enum icmp_match m;
	uint32_t echo = 0;

	m = probe_icmp_classify(pi, family, buf, len, from, &p, &echo);
	pi->stats.matched[m]++;
	if (m != ICMP_MATCH_ACCEPTED) {
		log_debug("icmp: %s reply dropped: %s",
		    probe_icmp_family_str(family), probe_icmp_match_str(m));
		return m;
	}
	e = &p->echoes[echo];
	e->replied = 1;
	e->rtt_ns = now_ns > e->sent_ns ? now_ns - e->sent_ns : 0;
	p->nrecv++;
	/* Finish from the loop: callers of the engine never see a callback. */
	if (p->state == ICMP_PROBE_WAITING && p->nrecv == p->nsent)
		event_active(p->ev_timeout, EV_TIMEOUT, 0);
	return m;
}

/*
 * The monotonic time a datagram arrived: the kernel's receive timestamp
 * (real time) moved onto the monotonic clock, so time spent queued in the
 * socket buffer during a burst does not count as round trip.
 */
static uint64_t
probe_icmp_rx_time(struct msghdr *msg)
{
	struct cmsghdr *c;
	struct timespec ts;
	uint64_t mono;

	for (c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_TIMESTAMPNS ||
		    c->cmsg_len < CMSG_LEN(sizeof(ts)))
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		if ((mono = timeutil_stamp_to_mono(&ts)) != 0)
			return mono;
		break;
	}
	return timeutil_mono_ns();
}

/* Reads a family's socket until it would block (bounded per call). */
static void
probe_icmp_drain(struct icmp_sock *s)
{
	struct sockaddr_storage from;
	uint8_t buf[PROBE_ICMP_RECV_LEN];
	union {
		struct cmsghdr hdr;
		uint8_t buf[CMSG_SPACE(sizeof(struct timespec)) + 64];
	} ctl;
	struct iovec iov;
	struct msghdr msg;
	ssize_t n;
	int i;

	s->engine->unread = 0;
	for (i = 0; i < PROBE_ICMP_READ_BATCH; i++) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		msg.msg_name = &from;
		msg.msg_namelen = sizeof(from);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		if ((n = recvmsg(s->fd, &msg, 0)) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			s->engine->stats.recv_errors++;
			if (!s->recv_error_logged) {
				log_warn("icmp: %s: recvmsg",
				    probe_icmp_family_str(s->family));
				s->recv_error_logged = 1;
			}
			continue;
		}
		if (msg.msg_namelen < sizeof(sa_family_t))
			from.ss_family = AF_UNSPEC;
		probe_icmp_handle_reply(s->engine, s->family, buf, (size_t)n,
		    (struct sockaddr *)&from, probe_icmp_rx_time(&msg));
	}
}

/* The read event of a family's socket. */
static void
probe_icmp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	probe_icmp_drain(arg);
}
