/*
 * The TCP probe: its pure matcher and banner cleaner, and real probes
 * against servers this test runs itself on 127.0.0.1 and ::1, driven by
 * the probe's own event base.  Nothing leaves the loopback.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitord.h"
#include "timeutil.h"

#define CONN_MAX 128
#define BIG_REQUEST (8U * 1024 * 1024)
/* More than any loopback socket buffers hold when nobody reads. */
#define HUGE_REQUEST (48U * 1024 * 1024)
/* libevent's timers run on a coarse clock and may fire a tick early. */
#define EARLY_US 10000

/* How a test server treats each connection. */
enum server_mode {
	SERVER_NO_ACCEPT, /* leaves connections in the accept queue */
	SERVER_SILENT, /* accepts and says nothing */
	SERVER_SAY, /* says its text and stays open */
	SERVER_SAY_CLOSE, /* says its text and closes */
	SERVER_CLOSE, /* closes at once */
	SERVER_RESET, /* closes at once with an RST */
	SERVER_REPLY, /* says its text once the request has come */
	SERVER_DRIP, /* says its text in pieces, one every gap_ms */
	SERVER_SAY_RESET /* says its text, resets after gap_ms, never reads */
};

struct server;

/* One connection a test server accepted. */
struct conn {
	struct server *s;
	int fd;
	struct event *rev;
	struct event *timer;
	size_t received;
	size_t off; /* of the text, when dripping */
};

/* A server on the loopback, run by the test's event base. */
struct server {
	struct event_base *base;
	enum server_mode mode;
	int fd;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct event *ev;
	const char *text;
	size_t text_len;
	size_t want; /* SERVER_REPLY: request bytes before the reply */
	int pattern; /* SERVER_REPLY: the request is pattern_byte(i) */
	int pattern_bad; /* a request byte was not the pattern */
	size_t chunk; /* SERVER_DRIP: bytes per piece */
	uint64_t gap_ms; /* SERVER_DRIP: time between pieces */
	int repeat; /* SERVER_DRIP: start the text again at its end */
	char req[256]; /* the start of the first request */
	size_t req_len;
	size_t received; /* request bytes, all connections */
	int accepted;
	struct conn conns[CONN_MAX];
	int nconns;
};

/* What a probe's callback reported. */
struct got {
	int calls;
	struct probe_tcp_result r;
	struct event_base *base; /* to start a follow-up probe */
	const struct server *then; /* follow-up target, if set */
	struct got *next; /* follow-up results */
	struct probe_tcp *next_probe;
};

Suite *tcp_suite(void);
int main(void);

/* The byte at offset i of a large request. */
static unsigned char
pattern_byte(size_t i)
{
	return (unsigned char)(i * 7 % 251);
}

/* Makes a request of len pattern bytes. */
static char *
big_request(size_t len)
{
	char *req = malloc(len);
	size_t i;

	ck_assert_ptr_nonnull(req);
	for (i = 0; i < len; i++)
		req[i] = (char)pattern_byte(i);
	return req;
}

/* Counts this process's open file descriptors. */
static int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Closes a server's connection with an RST, so no TIME_WAIT remains. */
static void
conn_close(struct conn *c)
{
	struct linger lg = { 1, 0 };

	if (c->rev != NULL)
		event_free(c->rev);
	if (c->timer != NULL)
		event_free(c->timer);
	c->rev = c->timer = NULL;
	if (c->fd != -1) {
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c->fd);
	}
	c->fd = -1;
}

/* Sends all of buf on a test connection; 0, or -1 once the peer is gone. */
static int
conn_say(struct conn *c, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { c->fd, POLLOUT, 0 };

			if (poll(&pfd, 1, 1000) != 1)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Says the next piece of a dripping server's text. */
static void
conn_drip_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct server *s = c->s;
	struct timeval tv = timeutil_ms_to_tv(s->gap_ms);
	size_t n = s->text_len - c->off;

	(void)fd;
	(void)what;
	if (n > s->chunk)
		n = s->chunk;
	if (conn_say(c, s->text + c->off, n) == -1) {
		conn_close(c);
		return;
	}
	c->off += n;
	if (c->off == s->text_len && s->repeat)
		c->off = 0;
	if (c->off < s->text_len)
		evtimer_add(c->timer, &tv);
}

/* Resets a connection of a server that gives up on its client. */
static void
conn_reset_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	conn_close(c);
}

/* Reads a request and replies once it is whole. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct server *s = c->s;
	char buf[65536];
	ssize_t n;
	size_t i;

	(void)what;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	for (i = 0; i < (size_t)n; i++) {
		if (s->pattern &&
		    (unsigned char)buf[i] != pattern_byte(c->received + i))
			s->pattern_bad = 1;
		if (s->req_len < sizeof(s->req) && c == &s->conns[0])
			s->req[s->req_len++] = buf[i];
	}
	if (c->received < s->want && c->received + (size_t)n >= s->want)
		conn_say(c, s->text, s->text_len);
	c->received += (size_t)n;
	s->received += (size_t)n;
}

/* Accepts a connection and treats it as the server's mode says. */
static void
server_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct linger lg = { 1, 0 };
	struct timeval now = { 0, 0 };
	struct conn *c;
	int cfd;

	(void)what;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd == -1)
		return;
	s->accepted++;
	if (s->nconns == CONN_MAX) {
		close(cfd);
		return;
	}
	c = &s->conns[s->nconns++];
	c->s = s;
	c->fd = cfd;
	switch (s->mode) {
	case SERVER_NO_ACCEPT:
	case SERVER_SILENT:
		break;
	case SERVER_SAY:
		conn_say(c, s->text, s->text_len);
		break;
	case SERVER_SAY_CLOSE:
		conn_say(c, s->text, s->text_len);
		close(c->fd);
		c->fd = -1;
		break;
	case SERVER_CLOSE:
		close(c->fd);
		c->fd = -1;
		break;
	case SERVER_RESET:
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c->fd);
		c->fd = -1;
		break;
	case SERVER_REPLY:
		c->rev = event_new(s->base, cfd, EV_READ | EV_PERSIST,
		    conn_read_cb, c);
		event_add(c->rev, NULL);
		break;
	case SERVER_DRIP:
		c->timer = evtimer_new(s->base, conn_drip_cb, c);
		evtimer_add(c->timer, &now);
		break;
	case SERVER_SAY_RESET:
		conn_say(c, s->text, s->text_len);
		c->timer = evtimer_new(s->base, conn_reset_cb, c);
		now = timeutil_ms_to_tv(s->gap_ms);
		evtimer_add(c->timer, &now);
		break;
	}
}

/* Starts a server on 127.0.0.1 or ::1 with an ephemeral port; NULL if ::1 is
 * missing. */
static struct server *
server_new(struct event_base *base, int family, enum server_mode mode,
    const char *text, int backlog)
{
	struct server *s = calloc(1, sizeof(*s));
	struct sockaddr_in *sin = (struct sockaddr_in *)&s->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s->ss;
	int i;

	ck_assert_ptr_nonnull(s);
	s->base = base;
	s->mode = mode;
	s->text = text;
	s->text_len = text != NULL ? strlen(text) : 0;
	s->chunk = 1;
	s->gap_ms = 20;
	for (i = 0; i < CONN_MAX; i++)
		s->conns[i].fd = -1;
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s->sslen = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		s->sslen = sizeof(*sin6);
	}
	s->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1 ||
	    bind(s->fd, (struct sockaddr *)&s->ss, s->sslen) == -1 ||
	    listen(s->fd, backlog) == -1 ||
	    getsockname(s->fd, (struct sockaddr *)&s->ss, &s->sslen) == -1) {
		ck_assert_int_ne(family, AF_INET);
		if (s->fd != -1)
			close(s->fd);
		free(s);
		return NULL;
	}
	if (mode != SERVER_NO_ACCEPT) {
		s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST,
		    server_accept_cb, s);
		event_add(s->ev, NULL);
	}
	return s;
}

/* Stops a server and closes all it holds. */
static void
server_free(struct server *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nconns; i++)
		conn_close(&s->conns[i]);
	if (s->ev != NULL)
		event_free(s->ev);
	close(s->fd);
	free(s);
}

/* Makes a socket that is bound but does not listen: connects are refused. */
static int
bound_port(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ne(fd, -1);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	return fd;
}

/* Records the result; starts the follow-up probe if the test asked. */
static void
got_cb(const struct probe_tcp_result *r, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->r = *r;
	if (g->then != NULL && g->next != NULL)
		g->next_probe = probe_tcp_start(g->base,
		    (const struct sockaddr *)&g->then->ss, g->then->sslen, 2000,
		    NULL, got_cb, g->next);
}

/* Runs the loop until g has been called, at most ms milliseconds. */
static void
run_until(struct event_base *base, const struct got *g, uint64_t ms)
{
	uint64_t end = timeutil_mono_ms() + ms;
	struct timeval tv = { 0, 10000 };

	while (g->calls == 0 && timeutil_mono_ms() < end) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* Runs the loop for ms milliseconds. */
static void
run_for(struct event_base *base, uint64_t ms)
{
	struct timeval tv = timeutil_ms_to_tv(ms);

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Probes a test server and waits for the result, at most 5 s past timeout. */
static void
probe(struct server *s, uint64_t timeout_ms, const struct probe_tcp_opts *o,
    struct got *g)
{
	struct probe_tcp *p;

	memset(g, 0, sizeof(*g));
	p = probe_tcp_start(s->base, (const struct sockaddr *)&s->ss, s->sslen,
	    timeout_ms, o, got_cb, g);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(g->calls, 0);
	run_until(s->base, g, timeout_ms + 5000);
	ck_assert_int_eq(g->calls, 1);
	ck_assert_uint_le(g->r.connect_us, g->r.total_us);
}

/* Checks banner() of a string against the text it should give. */
static void
banner_is(const char *in, size_t inlen, size_t dstsz, const char *want)
{
	char dst[256];

	memset(dst, 'Z', sizeof(dst));
	probe_tcp_banner(dst, dstsz, in, inlen);
	ck_assert_msg(strcmp(dst, want) == 0, "banner \"%s\", want \"%s\"", dst,
	    want);
}

/* The reference matcher the pure one is compared with. */
static int
match_ref(const char *buf, size_t len, const char *e, size_t elen)
{
	size_t i;

	for (i = 0; i + elen <= len; i++)
		if (memcmp(buf + i, e, elen) == 0)
			return 1;
	return 0;
}

START_TEST(test_match_finds_text_anywhere)
{
	const char buf[] = "220 mail\0SSH-2.0-x\r\n";
	size_t len = sizeof(buf) - 1;

	ck_assert_int_eq(probe_tcp_match(buf, len, "220", 3), 1);
	ck_assert_int_eq(probe_tcp_match(buf, len, "SSH-2.0", 7), 1);
	ck_assert_int_eq(probe_tcp_match(buf, len, "x\r\n", 3), 1);
	ck_assert_int_eq(probe_tcp_match(buf, len, "mail\0SSH", 8), 1);
	ck_assert_int_eq(probe_tcp_match(buf, len, "SSH-1", 5), 0);
	ck_assert_int_eq(probe_tcp_match(buf, len, "x\r\n!", 4), 0);
	ck_assert_int_eq(probe_tcp_match("ab", 2, "abc", 3), 0);
	ck_assert_int_eq(probe_tcp_match("", 0, "a", 1), 0);
	ck_assert_int_eq(probe_tcp_match(NULL, 0, "a", 1), 0);
	ck_assert_int_eq(probe_tcp_match("", 0, "", 0), 1);
	ck_assert_int_eq(probe_tcp_match("aab", 3, "ab", 2), 1);
}
END_TEST

START_TEST(test_match_agrees_with_reference_on_random_bytes)
{
	char buf[64], e[8];
	size_t len, elen, i;
	int n;

	srand(1);
	for (n = 0; n < 50000; n++) {
		len = (size_t)rand() % sizeof(buf);
		elen = 1 + (size_t)rand() % sizeof(e);
		/* A small alphabet, so that matches happen. */
		for (i = 0; i < len; i++)
			buf[i] = (char)("ab\0\xff"[rand() % 4]);
		for (i = 0; i < elen; i++)
			e[i] = (char)("ab\0\xff"[rand() % 4]);
		ck_assert_int_eq(probe_tcp_match(buf, len, e, elen),
		    match_ref(buf, len, e, elen));
	}
}
END_TEST

START_TEST(test_banner_is_first_line_only)
{
	banner_is("SSH-2.0-OpenSSH_9.2\r\nmore", 25, 128,
	    "SSH-2.0-OpenSSH_9.2");
	banner_is("220 ready\nnext", 14, 128, "220 ready");
	banner_is("HTTP/1.0 200 OK\rX", 17, 128, "HTTP/1.0 200 OK");
	banner_is("\r\nsecond", 8, 128, "");
	banner_is("", 0, 128, "");
	banner_is(NULL, 0, 128, "");
	banner_is("no newline", 10, 128, "no newline");
}
END_TEST

START_TEST(test_banner_replaces_control_characters)
{
	banner_is("a\x01"
		  "b\x7f\tc\0d\x1b[31m\n",
	    13, 128, "a?b??c?d?[31m");
	banner_is("\x01\x01\x01\x01\x01", 5, 4, "???");
}
END_TEST

START_TEST(test_banner_keeps_utf8_and_replaces_bad_bytes)
{
	/* 東京都, well-formed: kept as it is. */
	banner_is("220 \xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd ok\r\n", 17, 128,
	    "220 \xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd ok");
	/* Stray, cut short and invalid bytes. */
	banner_is("\xff\xc3(\xe6\x9d", 5, 128, "\?\?(\?\?");
	/* An overlong '/', a surrogate, a C1 control, beyond U+10FFFF. */
	banner_is("\xc0\xaf", 2, 128, "??");
	banner_is("\xed\xa0\x80", 3, 128, "???");
	banner_is("\xc2\x85", 2, 128, "??");
	banner_is("\xf4\x90\x80\x80", 4, 128, "????");
	/* A four-byte character and U+00A0, the first printable beyond C1. */
	banner_is("\xf0\x9f\x98\x80\xc2\xa0", 6, 128,
	    "\xf0\x9f\x98\x80\xc2\xa0");
}
END_TEST

START_TEST(test_banner_is_cut_to_fit_at_a_character_boundary)
{
	char dst[1];

	banner_is("abcdefghij", 10, 8, "abcdefg");
	banner_is("ab\xe6\x9d\xb1", 5, 5, "ab");
	banner_is("ab\xe6\x9d\xb1", 5, 6, "ab\xe6\x9d\xb1");
	banner_is("abc", 3, 1, "");
	/* No room at all: nothing is written. */
	dst[0] = 'Z';
	probe_tcp_banner(dst, 0, "abc", 3);
	ck_assert_int_eq(dst[0], 'Z');
}
END_TEST

START_TEST(test_banner_of_random_bytes_is_clean_and_bounded)
{
	char in[300], out[128], again[128];
	size_t len, i;
	int n;

	srand(2);
	for (n = 0; n < 20000; n++) {
		len = (size_t)rand() % sizeof(in);
		for (i = 0; i < len; i++)
			in[i] =
			    (char)(n % 2 ? rand() % 256 : 0x80 + rand() % 128);
		probe_tcp_banner(out, sizeof(out), in, len);
		ck_assert_uint_lt(strlen(out), sizeof(out));
		for (i = 0; out[i] != '\0'; i++)
			if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
				ck_abort_msg("control byte %#x", out[i]);
		/* Clean text stays as it is: no byte was left half-valid. */
		probe_tcp_banner(again, sizeof(again), out, strlen(out));
		ck_assert_str_eq(again, out);
	}
}
END_TEST

START_TEST(test_outcome_names_are_distinct_and_total)
{
	int i, j;

	for (i = 0; i < PROBE_TCP_OUTCOME_COUNT; i++) {
		ck_assert_str_ne(probe_tcp_outcome_str(i), "?");
		for (j = 0; j < i; j++)
			ck_assert_str_ne(probe_tcp_outcome_str(i),
			    probe_tcp_outcome_str(j));
	}
	ck_assert_str_eq(probe_tcp_outcome_str(PROBE_TCP_OUTCOME_COUNT), "?");
	ck_assert_str_eq(probe_tcp_outcome_str(-1), "?");
}
END_TEST

START_TEST(test_plain_connect_to_listener_is_connected)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_SILENT, NULL, 16);
	struct probe_tcp_opts none = { NULL, 0, NULL };
	struct got g;

	probe(s, 2000, NULL, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	ck_assert_int_eq(g.r.error, 0);
	ck_assert_str_eq(g.r.banner, "");
	ck_assert_uint_lt(g.r.total_us, 1000000);
	probe(s, 2000, &none, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_huge_timeout_does_not_wrap_the_deadline)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_SAY, "SSH-2.0-test\r\n", 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-2.0" };
	struct probe_tcp *p;
	struct got g;

	memset(&g, 0, sizeof(g));
	p = probe_tcp_start(base, (struct sockaddr *)&s->ss, s->sslen,
	    UINT64_MAX, &o, got_cb, &g);
	ck_assert_ptr_nonnull(p);
	run_until(base, &g, 5000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_ipv6_loopback_connects)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET6, SERVER_SAY, "SSH-2.0-six\r\n", 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-2.0" };
	struct got g;

	if (s == NULL)
		ck_abort_msg(
		    "cannot listen on ::1: this test needs IPv6 "
		    "loopback (sysctl net.ipv6.conf.lo.disable_ipv6=0)");
	probe(s, 2000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	ck_assert_str_eq(g.r.banner, "SSH-2.0-six");
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_bound_port_without_listener_is_refused)
{
	struct event_base *base = event_base_new();
	struct sockaddr_in sin;
	int fd = bound_port(&sin);
	struct got g;

	memset(&g, 0, sizeof(g));
	ck_assert_ptr_nonnull(probe_tcp_start(base, (struct sockaddr *)&sin,
	    sizeof(sin), 2000, NULL, got_cb, &g));
	ck_assert_int_eq(g.calls, 0);
	run_until(base, &g, 5000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_REFUSED);
	ck_assert_int_eq(g.r.error, ECONNREFUSED);
	ck_assert_uint_eq(g.r.connect_us, 0);
	close(fd);
	event_base_free(base);
}
END_TEST

START_TEST(test_expect_matches_banner_server_sends_first)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_SAY, "SSH-2.0-test\r\n", 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-2.0" };
	struct got g;

	probe(s, 2000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	ck_assert_int_eq(g.r.error, 0);
	ck_assert_str_eq(g.r.banner, "SSH-2.0-test");
	ck_assert_uint_lt(g.r.total_us, 1000000);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_expect_matches_reply_after_send)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_REPLY,
	    "HTTP/1.0 200 OK\r\nServer: test\r\n\r\n", 16);
	const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct probe_tcp_opts o = { req, sizeof(req) - 1, "200 OK" };
	struct got g;

	s->want = sizeof(req) - 1;
	probe(s, 2000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	ck_assert_str_eq(g.r.banner, "HTTP/1.0 200 OK");
	ck_assert_uint_eq(s->req_len, sizeof(req) - 1);
	ck_assert(memcmp(s->req, req, sizeof(req) - 1) == 0);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_send_without_expect_is_connected_once_sent)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_REPLY, "", 16);
	const char req[] = "QUIT\r\n";
	struct probe_tcp_opts o = { req, sizeof(req) - 1, NULL };
	struct got g;

	s->want = 1000;
	probe(s, 2000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	ck_assert_str_eq(g.r.banner, "");
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_large_request_is_sent_in_pieces)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_REPLY, "OK got it\r\n", 16);
	char *req = big_request(BIG_REQUEST);
	struct probe_tcp_opts o = { req, BIG_REQUEST, "got it" };
	struct got g;

	s->want = BIG_REQUEST;
	s->pattern = 1;
	probe(s, 20000, &o, &g);
	/* The probe keeps its own copy of the request. */
	free(req);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	ck_assert_uint_eq(s->received, BIG_REQUEST);
	ck_assert_int_eq(s->pattern_bad, 0);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_other_text_then_close_is_mismatch)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_SAY_CLOSE,
	    "220 smtp.example ESMTP\r\n", 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-" };
	struct got g;

	probe(s, 5000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_MISMATCH);
	ck_assert_int_eq(g.r.error, 0);
	ck_assert_str_eq(g.r.banner, "220 smtp.example ESMTP");
	ck_assert_uint_lt(g.r.total_us, 2000000);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_other_text_until_deadline_is_mismatch)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_SAY, "220 hello\r\n", 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-" };
	struct got g;

	probe(s, 300, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_MISMATCH);
	ck_assert_str_eq(g.r.banner, "220 hello");
	ck_assert_uint_ge(g.r.total_us, 300000 - EARLY_US);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_close_at_once_is_mismatch)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_CLOSE, NULL, 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-" };
	struct got g;

	probe(s, 5000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_MISMATCH);
	ck_assert_int_eq(g.r.error, 0);
	ck_assert_str_eq(g.r.banner, "");
	ck_assert_uint_lt(g.r.total_us, 2000000);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_reset_at_once_is_mismatch_with_its_errno)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_RESET, NULL, 16);
	struct probe_tcp_opts expect = { NULL, 0, "SSH-" };
	struct probe_tcp_opts send = { "HELO\r\n", 6, "250" };
	struct got g;
	int i;

	/* Either event may run first; the outcome must not depend on it. */
	for (i = 0; i < 10; i++) {
		probe(s, 5000, i % 2 ? &send : &expect, &g);
		ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_MISMATCH);
		ck_assert_msg(g.r.error == ECONNRESET || g.r.error == EPIPE ||
			g.r.error == 0,
		    "error %d", g.r.error);
		ck_assert_str_eq(g.r.banner, "");
	}
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_reset_while_reading_is_mismatch_with_what_came)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_SAY_RESET, "421 busy\r\n", 16);
	struct probe_tcp_opts o = { NULL, 0, "220 " };
	struct got g;

	s->gap_ms = 100;
	probe(s, 5000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_MISMATCH);
	ck_assert_int_eq(g.r.error, ECONNRESET);
	ck_assert_str_eq(g.r.banner, "421 busy");
	ck_assert_uint_ge(g.r.total_us, 100000 - EARLY_US);
	ck_assert_uint_lt(g.r.total_us, 2000000);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_reset_while_sending_is_mismatch_with_what_came)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_SAY_RESET, "421 busy\r\n", 16);
	char *req = big_request(HUGE_REQUEST);
	struct probe_tcp_opts o = { req, HUGE_REQUEST, "220 " };
	struct got g;

	/* The server never reads, so the send waits for room until the RST. */
	s->gap_ms = 100;
	probe(s, 5000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_MISMATCH);
	ck_assert_msg(g.r.error == ECONNRESET || g.r.error == EPIPE, "error %d",
	    g.r.error);
	ck_assert_str_eq(g.r.banner, "421 busy");
	ck_assert_uint_ge(g.r.total_us, 100000 - EARLY_US);
	ck_assert_uint_lt(g.r.total_us, 2000000);
	free(req);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_deadline_while_sending_is_expect_timeout)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_NO_ACCEPT, NULL, 16);
	char *req = big_request(HUGE_REQUEST);
	struct probe_tcp_opts o = { req, HUGE_REQUEST, "220 " };
	struct got g;

	probe(s, 300, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_TIMEOUT);
	ck_assert_int_eq(g.r.error, 0);
	ck_assert_uint_ge(g.r.total_us, 300000 - EARLY_US);
	ck_assert_uint_lt(g.r.total_us, 1300000);
	free(req);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_silent_server_is_expect_timeout)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_SILENT, NULL, 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-" };
	struct got g;

	probe(s, 300, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_TIMEOUT);
	ck_assert_int_eq(g.r.error, 0);
	ck_assert_str_eq(g.r.banner, "");
	/* connect_us is the time to connect, not to the outcome. */
	ck_assert_uint_lt(g.r.connect_us, 200000);
	ck_assert_uint_ge(g.r.total_us, 300000 - EARLY_US);
	ck_assert_uint_lt(g.r.total_us, 1300000);
	ck_assert_int_eq(s->accepted, 1);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_full_buffer_without_match_is_mismatch)
{
	struct event_base *base = event_base_new();
	char *text = malloc(2 * PROBE_TCP_READ_MAX + 1);
	struct server *s;
	struct probe_tcp_opts o = { NULL, 0, "SSH-" };
	struct got g;
	char want[sizeof(g.r.banner)];

	ck_assert_ptr_nonnull(text);
	memset(text, 'x', 2 * PROBE_TCP_READ_MAX);
	text[2 * PROBE_TCP_READ_MAX] = '\0';
	s = server_new(base, AF_INET, SERVER_SAY, text, 16);
	probe(s, 5000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_MISMATCH);
	ck_assert_uint_lt(g.r.total_us, 2000000);
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	ck_assert_str_eq(g.r.banner, want);
	server_free(s);
	free(text);
	event_base_free(base);
}
END_TEST

START_TEST(test_expect_at_the_very_end_of_the_buffer_matches)
{
	struct event_base *base = event_base_new();
	char *text = malloc(PROBE_TCP_READ_MAX + 1);
	struct server *s;
	struct probe_tcp_opts o = { NULL, 0, "END" };
	struct got g;

	ck_assert_ptr_nonnull(text);
	memset(text, 'x', PROBE_TCP_READ_MAX - 3);
	memcpy(text + PROBE_TCP_READ_MAX - 3, "END", 4);
	s = server_new(base, AF_INET, SERVER_SAY, text, 16);
	probe(s, 5000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	server_free(s);
	free(text);
	event_base_free(base);
}
END_TEST

START_TEST(test_expect_split_across_reads_matches)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_DRIP, "SSH-2.0-test\r\n", 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-2.0-test" };
	struct got g;

	s->chunk = 3;
	s->gap_ms = 20;
	probe(s, 5000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	/* It took several pieces, so several reads. */
	ck_assert_uint_ge(g.r.total_us, 40000);
	ck_assert_str_eq(g.r.banner, "SSH-2.0-test");
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_one_deadline_covers_every_read)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_DRIP, ".", 16);
	struct probe_tcp_opts o = { NULL, 0, "SSH-" };
	struct got g;

	/* A piece every 50 ms would keep a per-read timeout alive forever. */
	s->gap_ms = 50;
	s->repeat = 1;
	probe(s, 400, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_MISMATCH);
	ck_assert_uint_ge(g.r.total_us, 400000 - EARLY_US);
	ck_assert_uint_lt(g.r.total_us, 1000000);
	ck_assert_uint_ge(strlen(g.r.banner), 3);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_banner_is_cleaned_and_cut_at_first_line)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_SAY,
	    "SSH-2.0-\x01te\x7fst\x1b[31m\r\nsecond line\r\n", 16);
	struct probe_tcp_opts o = { NULL, 0, "second" };
	struct got g;

	probe(s, 2000, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_CONNECTED);
	ck_assert_str_eq(g.r.banner, "SSH-2.0-?te?st?[31m");
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_callback_never_fires_inside_start)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_SILENT, NULL, 16);
	struct sockaddr_in sin;
	int fd = bound_port(&sin);
	struct got g[3];

	memset(g, 0, sizeof(g));
	/* Connected, refused (on Linux often known at once), bad length. */
	ck_assert_ptr_nonnull(probe_tcp_start(base, (struct sockaddr *)&s->ss,
	    s->sslen, 2000, NULL, got_cb, &g[0]));
	ck_assert_ptr_nonnull(probe_tcp_start(base, (struct sockaddr *)&sin,
	    sizeof(sin), 2000, NULL, got_cb, &g[1]));
	ck_assert_ptr_nonnull(probe_tcp_start(base, (struct sockaddr *)&sin, 4,
	    2000, NULL, got_cb, &g[2]));
	ck_assert_int_eq(g[0].calls + g[1].calls + g[2].calls, 0);
	run_until(base, &g[0], 5000);
	run_until(base, &g[1], 5000);
	run_until(base, &g[2], 5000);
	run_for(base, 50);
	ck_assert_int_eq(g[0].calls, 1);
	ck_assert_int_eq(g[1].calls, 1);
	ck_assert_int_eq(g[2].calls, 1);
	ck_assert_int_eq(g[0].r.outcome, PROBE_TCP_CONNECTED);
	ck_assert_int_eq(g[1].r.outcome, PROBE_TCP_REFUSED);
	/* An address that cannot be used fails at once, from the loop. */
	ck_assert_int_eq(g[2].r.outcome, PROBE_TCP_ERROR);
	ck_assert_int_eq(g[2].r.error, EINVAL);
	close(fd);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_callback_may_start_another_probe)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_SILENT, NULL, 16);
	struct got second, first;

	memset(&first, 0, sizeof(first));
	memset(&second, 0, sizeof(second));
	first.base = base;
	first.then = s;
	first.next = &second;
	ck_assert_ptr_nonnull(probe_tcp_start(base, (struct sockaddr *)&s->ss,
	    s->sslen, 2000, NULL, got_cb, &first));
	run_until(base, &first, 5000);
	ck_assert_ptr_nonnull(first.next_probe);
	run_until(base, &second, 5000);
	ck_assert_int_eq(first.calls, 1);
	ck_assert_int_eq(second.calls, 1);
	ck_assert_int_eq(second.r.outcome, PROBE_TCP_CONNECTED);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_cancel_means_no_callback_and_a_closed_socket)
{
	struct event_base *base = event_base_new();
	/* Connections wait in the accept queue: no server fd in this process.
	 */
	struct server *s =
	    server_new(base, AF_INET, SERVER_NO_ACCEPT, NULL, 16);
	struct probe_tcp_opts o = { "hello\r\n", 7, "SSH-" };
	struct sockaddr_in sin;
	struct probe_tcp *p;
	struct got g;
	int before, fd = bound_port(&sin);

	memset(&g, 0, sizeof(g));
	before = fd_count();
	/* Cancelled while reading the reply. */
	p = probe_tcp_start(base, (struct sockaddr *)&s->ss, s->sslen, 300, &o,
	    got_cb, &g);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fd_count(), before + 1);
	run_for(base, 100);
	ck_assert_int_eq(g.calls, 0);
	probe_tcp_cancel(p);
	ck_assert_int_eq(fd_count(), before);
	/* Cancelled before the loop ran at all. */
	p = probe_tcp_start(base, (struct sockaddr *)&s->ss, s->sslen, 300, &o,
	    got_cb, &g);
	ck_assert_ptr_nonnull(p);
	probe_tcp_cancel(p);
	/* Cancelled with an immediate failure waiting to be reported. */
	p = probe_tcp_start(base, (struct sockaddr *)&sin, 4, 300, NULL, got_cb,
	    &g);
	ck_assert_ptr_nonnull(p);
	probe_tcp_cancel(p);
	probe_tcp_cancel(NULL);
	ck_assert_int_eq(fd_count(), before);
	/* Past every deadline: still nothing. */
	run_for(base, 500);
	ck_assert_int_eq(g.calls, 0);
	close(fd);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_start_rejects_long_expect_and_unknown_family)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_SILENT, NULL, 16);
	char *longer = malloc(PROBE_TCP_READ_MAX + 2);
	struct probe_tcp_opts o = { NULL, 0, longer };
	struct sockaddr sa;
	struct got g;
	int before = fd_count();

	ck_assert_ptr_nonnull(longer);
	memset(longer, 'a', PROBE_TCP_READ_MAX + 1);
	longer[PROBE_TCP_READ_MAX + 1] = '\0';
	memset(&g, 0, sizeof(g));
	ck_assert_ptr_null(probe_tcp_start(base, (struct sockaddr *)&s->ss,
	    s->sslen, 2000, &o, got_cb, &g));
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	ck_assert_ptr_null(
	    probe_tcp_start(base, &sa, sizeof(sa), 2000, NULL, got_cb, &g));
	ck_assert_int_eq(fd_count(), before);
	run_for(base, 50);
	ck_assert_int_eq(g.calls, 0);
	/* Exactly the buffer's size is allowed. */
	longer[PROBE_TCP_READ_MAX] = '\0';
	probe(s, 300, &o, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_EXPECT_TIMEOUT);
	free(longer);
	server_free(s);
	event_base_free(base);
}
END_TEST

START_TEST(test_many_probes_in_flight_all_connect)
{
	struct event_base *base = event_base_new();
	struct server *s =
	    server_new(base, AF_INET, SERVER_SAY, "SSH-2.0-many\r\n", 128);
	struct probe_tcp_opts o = { NULL, 0, "SSH-2.0" };
	struct got g[100];
	uint64_t end;
	int i, done;

	memset(g, 0, sizeof(g));
	for (i = 0; i < 100; i++)
		ck_assert_ptr_nonnull(
		    probe_tcp_start(base, (struct sockaddr *)&s->ss, s->sslen,
			5000, &o, got_cb, &g[i]));
	end = timeutil_mono_ms() + 10000;
	do {
		run_for(base, 10);
		for (done = 0, i = 0; i < 100; i++)
			done += g[i].calls;
	} while (done < 100 && timeutil_mono_ms() < end);
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert_int_eq(g[i].r.outcome, PROBE_TCP_CONNECTED);
		ck_assert_str_eq(g[i].r.banner, "SSH-2.0-many");
	}
	server_free(s);
	event_base_free(base);
}
END_TEST

/*
 * Fills the accept queue of a listener made with backlog 0 that never
 * accepts: Linux then drops new SYNs, so a connect hangs.  Returns how many
 * sockets it used, the last one left hanging, or -1 if it never hung.
 */
static int
fill_backlog(const struct server *s, int *fds, int max)
{
	struct pollfd pfd;
	int i;

	for (i = 0; i < max; i++) {
		fds[i] = socket(AF_INET,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ck_assert_int_ne(fds[i], -1);
		if (connect(fds[i], (const struct sockaddr *)&s->ss,
			s->sslen) == -1)
			ck_assert_int_eq(errno, EINPROGRESS);
		pfd.fd = fds[i];
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, 200) == 0)
			return i + 1;
	}
	return -1;
}

START_TEST(test_connect_to_full_backlog_is_timeout)
{
	struct event_base *base = event_base_new();
	struct server *s = server_new(base, AF_INET, SERVER_NO_ACCEPT, NULL, 0);
	struct linger lg = { 1, 0 };
	int fds[8], n, i;
	struct got g;

	n = fill_backlog(s, fds, 8);
	ck_assert_msg(n > 0, "the accept queue never filled");
	probe(s, 300, NULL, &g);
	ck_assert_int_eq(g.r.outcome, PROBE_TCP_TIMEOUT);
	ck_assert_int_eq(g.r.error, ETIMEDOUT);
	ck_assert_uint_eq(g.r.connect_us, 0);
	ck_assert_uint_ge(g.r.total_us, 300000 - EARLY_US);
	ck_assert_uint_lt(g.r.total_us, 1300000);
	for (i = 0; i < n; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fds[i]);
	}
	server_free(s);
	event_base_free(base);
}
END_TEST

/* The tcp suite: the pure functions, then probes of live servers. */
Suite *
tcp_suite(void)
{
	Suite *s = suite_create("tcp");
	TCase *tc;

	tc = tcase_create("pure");
	tcase_add_test(tc, test_match_finds_text_anywhere);
	tcase_add_test(tc, test_match_agrees_with_reference_on_random_bytes);
	tcase_add_test(tc, test_banner_is_first_line_only);
	tcase_add_test(tc, test_banner_replaces_control_characters);
	tcase_add_test(tc, test_banner_keeps_utf8_and_replaces_bad_bytes);
	tcase_add_test(tc, test_banner_is_cut_to_fit_at_a_character_boundary);
	tcase_add_test(tc, test_banner_of_random_bytes_is_clean_and_bounded);
	tcase_add_test(tc, test_outcome_names_are_distinct_and_total);
	suite_add_tcase(s, tc);

	tc = tcase_create("live");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_plain_connect_to_listener_is_connected);
	tcase_add_test(tc, test_ipv6_loopback_connects);
	tcase_add_test(tc, test_huge_timeout_does_not_wrap_the_deadline);
	tcase_add_test(tc, test_bound_port_without_listener_is_refused);
	tcase_add_test(tc, test_expect_matches_banner_server_sends_first);
	tcase_add_test(tc, test_expect_matches_reply_after_send);
	tcase_add_test(tc, test_send_without_expect_is_connected_once_sent);
	tcase_add_test(tc, test_large_request_is_sent_in_pieces);
	tcase_add_test(tc, test_other_text_then_close_is_mismatch);
	tcase_add_test(tc, test_other_text_until_deadline_is_mismatch);
	tcase_add_test(tc, test_close_at_once_is_mismatch);
	tcase_add_test(tc, test_reset_at_once_is_mismatch_with_its_errno);
	tcase_add_test(tc, test_reset_while_reading_is_mismatch_with_what_came);
	tcase_add_test(tc, test_reset_while_sending_is_mismatch_with_what_came);
	tcase_add_test(tc, test_deadline_while_sending_is_expect_timeout);
	tcase_add_test(tc, test_silent_server_is_expect_timeout);
	tcase_add_test(tc, test_full_buffer_without_match_is_mismatch);
	tcase_add_test(tc, test_expect_at_the_very_end_of_the_buffer_matches);
	tcase_add_test(tc, test_expect_split_across_reads_matches);
	tcase_add_test(tc, test_one_deadline_covers_every_read);
	tcase_add_test(tc, test_banner_is_cleaned_and_cut_at_first_line);
	tcase_add_test(tc, test_callback_never_fires_inside_start);
	tcase_add_test(tc, test_callback_may_start_another_probe);
	tcase_add_test(tc, test_cancel_means_no_callback_and_a_closed_socket);
	tcase_add_test(tc, test_start_rejects_long_expect_and_unknown_family);
	tcase_add_test(tc, test_many_probes_in_flight_all_connect);
	tcase_add_test(tc, test_connect_to_full_backlog_is_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("check_tcp", 0,
	    getenv("CHECK_TCP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	sr = srunner_create(tcp_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
