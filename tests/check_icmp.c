/*
 * The ICMP packet functions and probe engine.  Matcher tests replace
 * sendto() and feed crafted replies; live tests send only to 127.0.0.0/8
 * and ::1 (and, in a private network namespace they make, to its loopback).
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "monitord.h"
#include "timeutil.h"

#define MS 1000000ULL
#define CAPTURE_MAX 16

/* What the fake sendto() saw. */
struct capture {
	int n;
	int fail_at; /* echo number to fail, or -1 */
	int fail_errno; /* errno for failures; with fail_at -1, fail all */
	struct {
		int family;
		uint8_t buf[ICMP_PACKET_LEN];
		size_t len;
	} pkt[CAPTURE_MAX];
};

/* What a probe's callback reported. */
struct got {
	int calls;
	struct icmp_result r;
	struct icmp_probe *self; /* cancelled from the callback if set */
	struct probe_icmp *engine; /* to start a follow-up probe if set */
	struct got *next;
};

Suite *icmp_suite(void);
int main(void);

/* Records each packet instead of sending it; fails as told. */
static int
fake_send(int family, const uint8_t *buf, size_t len, const struct sockaddr *to,
    socklen_t tolen, void *arg)
{
	struct capture *c = arg;
	int i = c->n++;

	(void)to;
	(void)tolen;
	if (c->fail_errno != 0 && (c->fail_at == -1 || c->fail_at == i)) {
		errno = c->fail_errno;
		return -1;
	}
	if (i < CAPTURE_MAX) {
		c->pkt[i].family = family;
		memcpy(c->pkt[i].buf, buf,
		    len < ICMP_PACKET_LEN ? len : ICMP_PACKET_LEN);
		c->pkt[i].len = len;
	}
	return 0;
}

/* Copies the result and does what the test asked from inside the callback. */
static void
got_cb(const struct icmp_result *r, void *arg)
{
	struct got *g = arg;
	struct sockaddr_in sin;

	g->calls++;
	g->r = *r;
	if (g->self != NULL)
		probe_icmp_cancel(g->self);
	if (g->engine != NULL && g->next != NULL) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(0x7f000001);
		ck_assert_ptr_nonnull(
		    probe_icmp_start(g->engine, (struct sockaddr *)&sin,
			sizeof(sin), 1, 0, 1000, got_cb, g->next));
	}
}

/* Fills ss with a numeric address and returns its length. */
static socklen_t
addr(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return sizeof(*s4);
	}
	ck_assert_int_eq(inet_pton(AF_INET6, s, &s6->sin6_addr), 1);
	s6->sin6_family = AF_INET6;
	return sizeof(*s6);
}

/* Turns a captured request into the reply a target would send. */
static size_t
make_reply(struct probe_icmp *pi, const uint8_t *req, size_t len, int family,
    uint8_t *out)
{
	size_t off = 0;
	uint16_t ck;

	if (family == AF_INET &&
	    probe_icmp_sock_kind(pi, AF_INET) == ICMP_SOCK_RAW) {
		memset(out, 0, 20);
		out[0] = 0x45;
		out[8] = 64;
		out[9] = 1;
		off = 20;
	}
	memcpy(out + off, req, len);
	out[off] = family == AF_INET ? 0 : 129;
	out[off + 2] = out[off + 3] = 0;
	if (family == AF_INET) {
		ck = icmp_packet_checksum(out + off, len);
		out[off + 2] = (uint8_t)(ck >> 8);
		out[off + 3] = (uint8_t)ck;
	}
	return off + len;
}

/* Reads the payload of a captured request. */
static struct icmp_payload
req_payload(const uint8_t *req, int family)
{
	uint8_t buf[ICMP_PACKET_LEN];
	struct icmp_packet pkt;

	memcpy(buf, req, sizeof(buf));
	buf[0] = family == AF_INET ? 0 : 129;
	ck_assert_int_eq(icmp_packet_parse(buf, sizeof(buf), family, 0, &pkt),
	    ICMP_PARSE_OK);
	return pkt.payload;
}

/* Feeds the reply to captured request i from address src, rtt after send. */
static enum icmp_match
feed(struct probe_icmp *pi, struct capture *c, int i, const char *src,
    uint64_t rtt_ns)
{
	struct sockaddr_storage from;
	uint8_t buf[128];
	uint64_t sent_ns = 0;
	size_t len, k;
	int family = c->pkt[i].family;

	/* The send time, read raw: the test may have spoilt the magic. */
	for (k = 0; k < 8; k++)
		sent_ns =
		    sent_ns << 8 | c->pkt[i].buf[ICMP_PACKET_HDR_LEN + 16 + k];
	len = make_reply(pi, c->pkt[i].buf, c->pkt[i].len, family, buf);
	addr(src, &from);
	return probe_icmp_handle_reply(pi, family, buf, len,
	    (struct sockaddr *)&from, sent_ns + rtt_ns);
}

/* Runs the loop until g has been called, at most ms milliseconds. */
static void
run_until(struct event_base *base, struct got *g, uint64_t ms)
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

/* Starts a probe to a numeric address. */
static struct icmp_probe *
start(struct probe_icmp *pi, const char *dst, unsigned count, uint64_t gap,
    uint64_t timeout, struct got *g)
{
	struct sockaddr_storage ss;
	socklen_t len = addr(dst, &ss);

	return probe_icmp_start(pi, (struct sockaddr *)&ss, len, count, gap,
	    timeout, got_cb, g);
}

/* A valid echo reply as a ping socket would deliver it. */
static int
sample_reply(int family, uint8_t *buf, size_t len)
{
	struct icmp_payload pl = { ICMP_PACKET_MAGIC, 7, 0xdeadbeef, 2,
		123456789ULL };
	int n;
	uint16_t ck;

	n = icmp_packet_build(buf, len, family, 0x1234, 0x4321, &pl, 0);
	ck_assert_int_eq(n, ICMP_PACKET_LEN);
	buf[0] = family == AF_INET ? 0 : 129;
	if (family == AF_INET) {
		ck = icmp_packet_checksum(buf, (size_t)n);
		buf[2] = (uint8_t)(ck >> 8);
		buf[3] = (uint8_t)ck;
	}
	return n;
}

START_TEST(test_checksum_matches_rfc1071_example)
{
	static const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6,
		0xf7 };
	static const uint8_t odd[] = { 0x01 };

	ck_assert_uint_eq(icmp_packet_checksum(b, sizeof(b)), 0x220d);
	ck_assert_uint_eq(icmp_packet_checksum(odd, 1), 0xfeff);
	ck_assert_uint_eq(icmp_packet_checksum(NULL, 0), 0xffff);
}
END_TEST

START_TEST(test_echo_request_has_valid_checksum)
{
	struct icmp_payload pl = { ICMP_PACKET_MAGIC, 1, 2, 3, 4 };
	uint8_t buf[64];
	int n;

	n = icmp_packet_build(buf, sizeof(buf), AF_INET, 0xabcd, 77, &pl,
	    ICMP_PACKET_CKSUM);
	ck_assert_int_eq(n, ICMP_PACKET_LEN);
	ck_assert_uint_eq(buf[0], 8);
	ck_assert_uint_eq(buf[1], 0);
	ck_assert_uint_ne(buf[2] | buf[3], 0);
	ck_assert_uint_eq(icmp_packet_checksum(buf, (size_t)n), 0);
	ck_assert_uint_eq(buf[4], 0xab);
	ck_assert_uint_eq(buf[5], 0xcd);
	ck_assert_uint_eq(buf[7], 77);
}
END_TEST

START_TEST(test_echo_request_for_ping_socket_leaves_checksum_to_kernel)
{
	struct icmp_payload pl = { ICMP_PACKET_MAGIC, 1, 2, 3, 4 };
	uint8_t buf[ICMP_PACKET_LEN];

	ck_assert_int_eq(icmp_packet_build(buf, sizeof(buf), AF_INET, 1, 2, &pl,
			     0),
	    ICMP_PACKET_LEN);
	ck_assert_uint_eq(buf[2] | buf[3], 0);
}
END_TEST

START_TEST(test_ipv6_echo_request_is_type_128_without_checksum)
{
	struct icmp_payload pl = { ICMP_PACKET_MAGIC, 1, 2, 3, 4 };
	uint8_t buf[ICMP_PACKET_LEN];

	ck_assert_int_eq(icmp_packet_build(buf, sizeof(buf), AF_INET6, 1, 2,
			     &pl, ICMP_PACKET_CKSUM),
	    ICMP_PACKET_LEN);
	ck_assert_uint_eq(buf[0], 128);
	ck_assert_uint_eq(buf[2] | buf[3], 0);
}
END_TEST

START_TEST(test_build_rejects_short_buffer_and_unknown_family)
{
	struct icmp_payload pl = { ICMP_PACKET_MAGIC, 1, 2, 3, 4 };
	uint8_t buf[ICMP_PACKET_LEN];

	ck_assert_int_eq(icmp_packet_build(buf, ICMP_PACKET_LEN - 1, AF_INET, 1,
			     2, &pl, 0),
	    -1);
	ck_assert_int_eq(icmp_packet_build(buf, sizeof(buf), AF_UNIX, 1, 2, &pl,
			     0),
	    -1);
}
END_TEST

START_TEST(test_parse_reads_back_what_build_wrote)
{
	uint8_t buf[64], ipbuf[84];
	struct icmp_packet pkt;
	int n;

	n = sample_reply(AF_INET, buf, sizeof(buf));
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n, AF_INET,
			     ICMP_PACKET_CKSUM, &pkt),
	    ICMP_PARSE_OK);
	ck_assert_uint_eq(pkt.type, 0);
	ck_assert_uint_eq(pkt.ident, 0x1234);
	ck_assert_uint_eq(pkt.seq, 0x4321);
	ck_assert_uint_eq(pkt.payload.magic, ICMP_PACKET_MAGIC);
	ck_assert_uint_eq(pkt.payload.slot, 7);
	ck_assert_uint_eq(pkt.payload.token, 0xdeadbeef);
	ck_assert_uint_eq(pkt.payload.echo, 2);
	ck_assert_uint_eq(pkt.payload.sent_ns, 123456789ULL);

	/* A raw socket's datagram: an IP header with 4 bytes of options. */
	memset(ipbuf, 0, 24);
	ipbuf[0] = 0x46;
	ipbuf[9] = 1;
	memcpy(ipbuf + 24, buf, (size_t)n);
	ck_assert_int_eq(icmp_packet_parse(ipbuf, 24 + (size_t)n, AF_INET,
			     ICMP_PACKET_IPHDR | ICMP_PACKET_CKSUM, &pkt),
	    ICMP_PARSE_OK);
	ck_assert_uint_eq(pkt.payload.token, 0xdeadbeef);

	n = sample_reply(AF_INET6, buf, sizeof(buf));
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n, AF_INET6,
			     ICMP_PACKET_IPHDR | ICMP_PACKET_CKSUM, &pkt),
	    ICMP_PARSE_OK);
	ck_assert_uint_eq(pkt.type, 129);
	ck_assert_uint_eq(pkt.payload.sent_ns, 123456789ULL);
}
END_TEST

START_TEST(test_parse_rejects_truncated_ip_header)
{
	uint8_t buf[64];
	struct icmp_packet pkt;

	memset(buf, 0, sizeof(buf));
	buf[0] = 0x45;
	buf[9] = 1;
	ck_assert_int_eq(icmp_packet_parse(buf, 19, AF_INET, ICMP_PACKET_IPHDR,
			     &pkt),
	    ICMP_PARSE_SHORT_IP_HEADER);
	ck_assert_int_eq(icmp_packet_parse(buf, 0, AF_INET, ICMP_PACKET_IPHDR,
			     &pkt),
	    ICMP_PARSE_SHORT_IP_HEADER);
	/* The header claims 60 bytes of the 40 there are. */
	buf[0] = 0x4f;
	ck_assert_int_eq(icmp_packet_parse(buf, 40, AF_INET, ICMP_PACKET_IPHDR,
			     &pkt),
	    ICMP_PARSE_SHORT_IP_HEADER);
	/* A complete IP header with nothing behind it. */
	buf[0] = 0x45;
	ck_assert_int_eq(icmp_packet_parse(buf, 20, AF_INET, ICMP_PACKET_IPHDR,
			     &pkt),
	    ICMP_PARSE_SHORT_ICMP_HEADER);
}
END_TEST

START_TEST(test_parse_rejects_bad_ip_header)
{
	uint8_t buf[64];
	struct icmp_packet pkt;

	memset(buf, 0, sizeof(buf));
	buf[0] = 0x65; /* version 6 */
	buf[9] = 1;
	ck_assert_int_eq(icmp_packet_parse(buf, sizeof(buf), AF_INET,
			     ICMP_PACKET_IPHDR, &pkt),
	    ICMP_PARSE_BAD_IP_HEADER);
	buf[0] = 0x44; /* header length below 20 */
	ck_assert_int_eq(icmp_packet_parse(buf, sizeof(buf), AF_INET,
			     ICMP_PACKET_IPHDR, &pkt),
	    ICMP_PARSE_BAD_IP_HEADER);
	buf[0] = 0x45;
	buf[9] = 17; /* UDP */
	ck_assert_int_eq(icmp_packet_parse(buf, sizeof(buf), AF_INET,
			     ICMP_PACKET_IPHDR, &pkt),
	    ICMP_PARSE_BAD_IP_HEADER);
	ck_assert_int_eq(icmp_packet_parse(buf, sizeof(buf), AF_UNIX, 0, &pkt),
	    ICMP_PARSE_BAD_IP_HEADER);
}
END_TEST

START_TEST(test_parse_rejects_truncated_icmp_header)
{
	uint8_t buf[64];
	struct icmp_packet pkt;

	sample_reply(AF_INET, buf, sizeof(buf));
	ck_assert_int_eq(icmp_packet_parse(buf, 7, AF_INET, 0, &pkt),
	    ICMP_PARSE_SHORT_ICMP_HEADER);
	ck_assert_int_eq(icmp_packet_parse(buf, 0, AF_INET6, 0, &pkt),
	    ICMP_PARSE_SHORT_ICMP_HEADER);
}
END_TEST

START_TEST(test_parse_rejects_bad_checksum)
{
	uint8_t buf[64];
	struct icmp_packet pkt;
	int n;

	n = sample_reply(AF_INET, buf, sizeof(buf));
	buf[20] ^= 0x01;
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n, AF_INET,
			     ICMP_PACKET_CKSUM, &pkt),
	    ICMP_PARSE_BAD_CHECKSUM);
	/* Ping sockets: the kernel has checked it, so it is not verified. */
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n, AF_INET, 0, &pkt),
	    ICMP_PARSE_OK);
}
END_TEST

START_TEST(test_parse_rejects_echo_request_and_other_types)
{
	struct icmp_payload pl = { ICMP_PACKET_MAGIC, 1, 2, 3, 4 };
	uint8_t buf[64];
	struct icmp_packet pkt;
	int n;

	n = icmp_packet_build(buf, sizeof(buf), AF_INET, 5, 6, &pl,
	    ICMP_PACKET_CKSUM);
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n, AF_INET,
			     ICMP_PACKET_CKSUM, &pkt),
	    ICMP_PARSE_NOT_ECHO_REPLY);
	ck_assert_uint_eq(pkt.type, 8);
	ck_assert_uint_eq(pkt.ident, 5);
	ck_assert_uint_eq(pkt.seq, 6);
	n = sample_reply(AF_INET6, buf, sizeof(buf));
	buf[0] = 1; /* destination unreachable */
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n, AF_INET6, 0, &pkt),
	    ICMP_PARSE_NOT_ECHO_REPLY);
	buf[0] = 129;
	buf[1] = 1; /* an echo reply has code 0 */
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n, AF_INET6, 0, &pkt),
	    ICMP_PARSE_NOT_ECHO_REPLY);
}
END_TEST

START_TEST(test_parse_rejects_short_payload_and_bad_magic)
{
	uint8_t buf[64];
	struct icmp_packet pkt;
	int n;

	n = sample_reply(AF_INET6, buf, sizeof(buf));
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n - 1, AF_INET6, 0,
			     &pkt),
	    ICMP_PARSE_SHORT_PAYLOAD);
	ck_assert_int_eq(icmp_packet_parse(buf, ICMP_PACKET_HDR_LEN, AF_INET6,
			     0, &pkt),
	    ICMP_PARSE_SHORT_PAYLOAD);
	buf[ICMP_PACKET_HDR_LEN] ^= 0x80;
	ck_assert_int_eq(icmp_packet_parse(buf, (size_t)n, AF_INET6, 0, &pkt),
	    ICMP_PARSE_BAD_MAGIC);
	/* Longer replies (padding) are fine. */
	buf[ICMP_PACKET_HDR_LEN] ^= 0x80;
	ck_assert_int_eq(icmp_packet_parse(buf, sizeof(buf), AF_INET6, 0, &pkt),
	    ICMP_PARSE_OK);
}
END_TEST

START_TEST(test_parse_survives_every_truncation_and_random_bytes)
{
	uint8_t good[20 + ICMP_PACKET_LEN], buf[128], *heap;
	struct icmp_packet pkt;
	uint32_t x = 12345;
	size_t len, i;
	int flags, fam, r;

	memset(good, 0, 20);
	good[0] = 0x45;
	good[9] = 1;
	sample_reply(AF_INET, good + 20, ICMP_PACKET_LEN);
	for (len = 0; len <= sizeof(good); len++) {
		/* Exactly len bytes on the heap, so ASan sees any overread. */
		heap = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(heap);
		memcpy(heap, good, len);
		r = icmp_packet_parse(heap, len, AF_INET,
		    ICMP_PACKET_IPHDR | ICMP_PACKET_CKSUM, &pkt);
		ck_assert_int_eq(r == ICMP_PARSE_OK, len == sizeof(good));
		memcpy(heap, good + 20, len > 20 ? len - 20 : 0);
		(void)icmp_packet_parse(heap, len > 20 ? len - 20 : 0, AF_INET6,
		    0, &pkt);
		free(heap);
	}
	for (i = 0; i < 20000; i++) {
		len = 0;
		for (size_t j = 0; j < sizeof(buf); j++) {
			x = x * 1103515245 + 12345;
			buf[j] = (uint8_t)(x >> 16);
		}
		len = (x >> 8) % (sizeof(buf) + 1);
		if (i % 3 == 0 && len > 0)
			buf[0] = (uint8_t)(0x40 | (buf[0] & 0x0f));
		fam = i % 2 ? AF_INET : AF_INET6;
		flags = (int)(i % 4);
		heap = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(heap);
		memcpy(heap, buf, len);
		r = icmp_packet_parse(heap, len, fam, flags, &pkt);
		ck_assert_int_ge(r, ICMP_PARSE_OK);
		ck_assert_int_le(r, ICMP_PARSE_BAD_MAGIC);
		free(heap);
	}
}
END_TEST

START_TEST(test_names_are_distinct_and_total)
{
	int i, j;

	for (i = 0; i < ICMP_MATCH_COUNT; i++) {
		ck_assert_str_ne(probe_icmp_match_str((enum icmp_match)i),
		    "unknown");
		for (j = 0; j < i; j++)
			ck_assert_str_ne(probe_icmp_match_str(
					     (enum icmp_match)i),
			    probe_icmp_match_str((enum icmp_match)j));
	}
	ck_assert_str_eq(probe_icmp_match_str(ICMP_MATCH_COUNT), "unknown");
	for (i = ICMP_PARSE_OK; i <= ICMP_PARSE_BAD_MAGIC; i++)
		for (j = 0; j < i; j++)
			ck_assert_str_ne(icmp_packet_parse_result_str(
					     (enum icmp_parse_result)i),
			    icmp_packet_parse_result_str(
				(enum icmp_parse_result)j));
	ck_assert_str_eq(icmp_packet_parse_result_str(
			     (enum icmp_parse_result)99),
	    "unknown");
	ck_assert_str_eq(probe_icmp_outcome_str(ICMP_RESULT_OK), "ok");
	ck_assert_str_eq(probe_icmp_outcome_str(ICMP_RESULT_NO_REPLY),
	    "no_reply");
	ck_assert_str_eq(probe_icmp_outcome_str(ICMP_RESULT_SEND_ERROR),
	    "send_error");
	ck_assert_str_eq(probe_icmp_outcome_str(ICMP_RESULT_NO_SOCKET),
	    "no_socket");
	ck_assert_str_eq(probe_icmp_outcome_str((enum icmp_outcome)99),
	    "unknown");
	ck_assert_str_eq(probe_icmp_sock_kind_str(ICMP_SOCK_DGRAM),
	    "ping socket");
	ck_assert_str_eq(probe_icmp_sock_kind_str(ICMP_SOCK_RAW), "raw socket");
	ck_assert_str_eq(probe_icmp_sock_kind_str((enum icmp_sock_kind)99),
	    "unknown");
}
END_TEST

/* An engine whose sends are captured; its v4 socket must exist. */
static struct probe_icmp *
fake_engine(struct event_base *base, enum icmp_sock_kind kind,
    struct capture *c)
{
	struct probe_icmp *pi;

	memset(c, 0, sizeof(*c));
	c->fail_at = -1;
	pi = probe_icmp_new_kind(base, kind);
	ck_assert_ptr_nonnull(pi);
	ck_assert_int_ne(probe_icmp_sock_kind(pi, AF_INET), ICMP_SOCK_NONE);
	probe_icmp_set_send(pi, fake_send, c);
	return pi;
}

START_TEST(test_matching_reply_is_accepted_with_its_rtt)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct icmp_stats st;
	struct got g = { 0 };

	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 1, 0, 1000, &g));
	ck_assert_int_eq(c.n, 1);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", 5 * MS),
	    ICMP_MATCH_ACCEPTED);
	/* The callback runs from the loop, never inside an engine call. */
	ck_assert_int_eq(g.calls, 0);
	run_until(base, &g, 1000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.r.outcome, ICMP_RESULT_OK);
	ck_assert_uint_eq(g.r.sent, 1);
	ck_assert_uint_eq(g.r.received, 1);
	ck_assert_double_eq_tol(g.r.loss_pct, 0, 1e-9);
	ck_assert_double_eq_tol(g.r.rtt_min_ms, 5, 1e-9);
	ck_assert_double_eq_tol(g.r.rtt_avg_ms, 5, 1e-9);
	ck_assert_double_eq_tol(g.r.rtt_max_ms, 5, 1e-9);
	ck_assert_double_eq_tol(g.r.jitter_ms, 0, 1e-9);
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_ACCEPTED], 1);
	ck_assert_uint_eq(st.probes_finished, 1);
	ck_assert_uint_eq(st.in_flight, 0);
	run_for(base, 20);
	ck_assert_int_eq(g.calls, 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_reply_from_wrong_source_is_dropped)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct icmp_stats st;
	struct got g = { 0 };

	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 1, 0, 50, &g));
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.2", MS),
	    ICMP_MATCH_WRONG_SOURCE);
	ck_assert_int_eq(g.calls, 0);
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_WRONG_SOURCE], 1);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_ACCEPTED], 0);
	run_until(base, &g, 2000);
	ck_assert_int_eq(g.r.outcome, ICMP_RESULT_NO_REPLY);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_ipv6_reply_from_wrong_source_is_dropped)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g = { 0 };

	ck_assert_int_ne(probe_icmp_sock_kind(pi, AF_INET6), ICMP_SOCK_NONE);
	ck_assert_ptr_nonnull(start(pi, "::1", 1, 0, 1000, &g));
	ck_assert_int_eq(c.pkt[0].family, AF_INET6);
	ck_assert_int_eq(feed(pi, &c, 0, "::2", MS), ICMP_MATCH_WRONG_SOURCE);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_WRONG_SOURCE);
	ck_assert_int_eq(feed(pi, &c, 0, "::1", MS), ICMP_MATCH_ACCEPTED);
	run_until(base, &g, 1000);
	ck_assert_int_eq(g.calls, 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

/* Rewrites a 32-bit payload field of captured request i. */
static void
poke32(struct capture *c, int i, size_t off, uint32_t v)
{
	uint8_t *p = c->pkt[i].buf + ICMP_PACKET_HDR_LEN + off;

	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

START_TEST(test_reply_with_wrong_token_is_dropped)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct icmp_stats st;
	struct icmp_payload pl;
	struct got g = { 0 };

	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 1, 0, 1000, &g));
	pl = req_payload(c.pkt[0].buf, AF_INET);
	poke32(&c, 0, 8, pl.token ^ 1);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_BAD_TOKEN);
	poke32(&c, 0, 8, pl.token);
	poke32(&c, 0, 4, pl.slot + 1);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_BAD_TOKEN);
	poke32(&c, 0, 4, pl.slot);
	poke32(&c, 0, 12, pl.echo + 1);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_BAD_TOKEN);
	poke32(&c, 0, 0, 0x12345678);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_BAD_MAGIC);
	ck_assert_int_eq(g.calls, 0);
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_BAD_TOKEN], 3);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_BAD_MAGIC], 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_reply_with_unknown_sequence_is_dropped)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct icmp_stats st;
	struct got g = { 0 };

	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 1, 0, 1000, &g));
	c.pkt[0].buf[7] ^= 0x5a;
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_UNKNOWN_SEQ);
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_UNKNOWN_SEQ], 1);
	ck_assert_int_eq(g.calls, 0);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_reply_after_probe_end_is_unknown_sequence)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g = { 0 };

	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 1, 0, 1000, &g));
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS), ICMP_MATCH_ACCEPTED);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_DUPLICATE);
	run_until(base, &g, 1000);
	ck_assert_int_eq(g.calls, 1);
	/* Its sequence number expired with the probe. */
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_UNKNOWN_SEQ);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_duplicate_reply_counts_once)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct icmp_stats st;
	struct got g = { 0 };

	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 2, 0, 1000, &g));
	ck_assert_int_eq(c.n, 2);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS), ICMP_MATCH_ACCEPTED);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", 2 * MS),
	    ICMP_MATCH_DUPLICATE);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_int_eq(feed(pi, &c, 1, "127.0.0.1", 3 * MS),
	    ICMP_MATCH_ACCEPTED);
	run_until(base, &g, 1000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_uint_eq(g.r.received, 2);
	ck_assert_double_eq_tol(g.r.rtt_min_ms, 1, 1e-9);
	ck_assert_double_eq_tol(g.r.rtt_max_ms, 3, 1e-9);
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_DUPLICATE], 1);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_ACCEPTED], 2);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_raw_socket_drops_other_pingers_and_bad_checksums)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_RAW, &c);
	struct sockaddr_storage from;
	struct icmp_payload pl;
	struct got g = { 0 };
	uint8_t buf[128];
	size_t len;

	ck_assert_int_eq(probe_icmp_sock_kind(pi, AF_INET), ICMP_SOCK_RAW);
	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 1, 0, 1000, &g));
	pl = req_payload(c.pkt[0].buf, AF_INET);
	addr("127.0.0.1", &from);

	/* Another pinger's ident (checksum fixed up by make_reply). */
	c.pkt[0].buf[4] ^= 0xff;
	len = make_reply(pi, c.pkt[0].buf, c.pkt[0].len, AF_INET, buf);
	ck_assert_int_eq(probe_icmp_handle_reply(pi, AF_INET, buf, len,
			     (struct sockaddr *)&from, pl.sent_ns + MS),
	    ICMP_MATCH_WRONG_IDENT);
	c.pkt[0].buf[4] ^= 0xff;

	len = make_reply(pi, c.pkt[0].buf, c.pkt[0].len, AF_INET, buf);
	buf[len - 1] ^= 0x01;
	ck_assert_int_eq(probe_icmp_handle_reply(pi, AF_INET, buf, len,
			     (struct sockaddr *)&from, pl.sent_ns + MS),
	    ICMP_MATCH_MALFORMED);
	ck_assert_int_eq(probe_icmp_handle_reply(pi, AF_INET, buf, 10,
			     (struct sockaddr *)&from, pl.sent_ns + MS),
	    ICMP_MATCH_MALFORMED);
	/* The echo request itself, as a raw socket without filter sees it. */
	len = make_reply(pi, c.pkt[0].buf, c.pkt[0].len, AF_INET, buf);
	buf[20] = 8;
	buf[22] = buf[23] = 0;
	{
		uint16_t ck = icmp_packet_checksum(buf + 20, len - 20);

		buf[22] = (uint8_t)(ck >> 8);
		buf[23] = (uint8_t)ck;
	}
	ck_assert_int_eq(probe_icmp_handle_reply(pi, AF_INET, buf, len,
			     (struct sockaddr *)&from, pl.sent_ns + MS),
	    ICMP_MATCH_NOT_REPLY);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS), ICMP_MATCH_ACCEPTED);
	run_until(base, &g, 1000);
	ck_assert_int_eq(g.calls, 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_probe_without_replies_times_out_as_no_reply)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g = { 0 };
	uint64_t t0 = timeutil_mono_ms();

	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 3, 0, 50, &g));
	ck_assert_int_eq(c.n, 3);
	run_until(base, &g, 2000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_uint_ge(timeutil_mono_ms() - t0, 45);
	ck_assert_int_eq(g.r.outcome, ICMP_RESULT_NO_REPLY);
	ck_assert_uint_eq(g.r.count, 3);
	ck_assert_uint_eq(g.r.sent, 3);
	ck_assert_uint_eq(g.r.received, 0);
	ck_assert_double_eq_tol(g.r.loss_pct, 100, 1e-9);
	ck_assert_int_eq(g.r.error, 0);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_partial_replies_report_loss_and_jitter)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g = { 0 };

	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 4, 0, 50, &g));
	ck_assert_int_eq(feed(pi, &c, 3, "127.0.0.1", 3 * MS),
	    ICMP_MATCH_ACCEPTED);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", 2 * MS),
	    ICMP_MATCH_ACCEPTED);
	ck_assert_int_eq(feed(pi, &c, 1, "127.0.0.1", 6 * MS),
	    ICMP_MATCH_ACCEPTED);
	ck_assert_int_eq(g.calls, 0);
	run_until(base, &g, 2000);
	ck_assert_int_eq(g.r.outcome, ICMP_RESULT_OK);
	ck_assert_uint_eq(g.r.sent, 4);
	ck_assert_uint_eq(g.r.received, 3);
	ck_assert_double_eq_tol(g.r.loss_pct, 25, 1e-9);
	ck_assert_double_eq_tol(g.r.rtt_min_ms, 2, 1e-9);
	ck_assert_double_eq_tol(g.r.rtt_avg_ms, 11.0 / 3, 1e-9);
	ck_assert_double_eq_tol(g.r.rtt_max_ms, 6, 1e-9);
	/* In echo order: 2, 6, 3 ms. */
	ck_assert_double_eq_tol(g.r.jitter_ms, 3.5, 1e-9);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_send_error_is_reported)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g = { 0 };
	struct icmp_stats st;

	c.fail_errno = ENETUNREACH;
	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 3, 0, 1000, &g));
	/* A hard error ends the burst; the result comes from the loop. */
	ck_assert_int_eq(c.n, 1);
	ck_assert_int_eq(g.calls, 0);
	run_until(base, &g, 500);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.r.outcome, ICMP_RESULT_SEND_ERROR);
	ck_assert_int_eq(g.r.error, ENETUNREACH);
	ck_assert_uint_eq(g.r.sent, 0);
	ck_assert_uint_eq(g.r.received, 0);
	ck_assert_double_eq_tol(g.r.loss_pct, 100, 1e-9);
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.send_errors, 1);
	ck_assert_uint_eq(st.in_flight, 0);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_soft_send_error_loses_one_echo_only)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g = { 0 };
	uint64_t t0;

	c.fail_at = 1;
	c.fail_errno = ENOBUFS;
	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 3, 0, 1000, &g));
	ck_assert_int_eq(c.n, 3);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS), ICMP_MATCH_ACCEPTED);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_int_eq(feed(pi, &c, 2, "127.0.0.1", MS), ICMP_MATCH_ACCEPTED);
	/* Every echo that went out is answered: no need to wait longer. */
	t0 = timeutil_mono_ms();
	run_until(base, &g, 500);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_uint_lt(timeutil_mono_ms() - t0, 500);
	ck_assert_int_eq(g.r.outcome, ICMP_RESULT_OK);
	ck_assert_uint_eq(g.r.sent, 2);
	ck_assert_uint_eq(g.r.received, 2);
	ck_assert_int_eq(g.r.error, ENOBUFS);
	ck_assert_double_eq_tol(g.r.loss_pct, 100.0 / 3, 1e-9);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_family_without_socket_reports_no_socket)
{
	struct event_base *base = event_base_new();
	struct probe_icmp *pi = probe_icmp_new_kind(base, ICMP_SOCK_NONE);
	struct got g4 = { 0 }, g6 = { 0 };

	ck_assert_int_eq(probe_icmp_sock_kind(pi, AF_INET), ICMP_SOCK_NONE);
	ck_assert_int_eq(probe_icmp_sock_kind(pi, AF_INET6), ICMP_SOCK_NONE);
	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 2, 0, 1000, &g4));
	ck_assert_ptr_nonnull(start(pi, "::1", 1, 0, 1000, &g6));
	ck_assert_int_eq(g4.calls, 0);
	run_until(base, &g6, 500);
	ck_assert_int_eq(g4.calls, 1);
	ck_assert_int_eq(g6.calls, 1);
	ck_assert_int_eq(g4.r.outcome, ICMP_RESULT_NO_SOCKET);
	ck_assert_int_eq(g6.r.outcome, ICMP_RESULT_NO_SOCKET);
	ck_assert_uint_eq(g4.r.sent, 0);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_start_rejects_bad_arguments)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct sockaddr_storage ss;
	struct got g = { 0 };
	socklen_t len;

	ck_assert_ptr_null(start(pi, "127.0.0.1", 0, 0, 1000, &g));
	ck_assert_ptr_null(
	    start(pi, "127.0.0.1", PROBE_ICMP_MAX_ECHOES + 1, 0, 1000, &g));
	ck_assert_ptr_null(start(pi, "127.0.0.1", 1, 0, 0, &g));
	len = addr("127.0.0.1", &ss);
	ck_assert_ptr_null(probe_icmp_start(pi, (struct sockaddr *)&ss, len - 1,
	    1, 0, 1000, got_cb, &g));
	ck_assert_ptr_null(probe_icmp_start(pi, (struct sockaddr *)&ss, len, 1,
	    0, 1000, NULL, &g));
	ss.ss_family = AF_UNIX;
	ck_assert_ptr_null(probe_icmp_start(pi, (struct sockaddr *)&ss,
	    sizeof(ss), 1, 0, 1000, got_cb, &g));
	ck_assert_int_eq(c.n, 0);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_v4_mapped_ipv6_target_is_probed_over_ipv4)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g = { 0 };

	ck_assert_ptr_nonnull(start(pi, "::ffff:127.0.0.3", 1, 0, 1000, &g));
	ck_assert_int_eq(c.pkt[0].family, AF_INET);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.3", MS), ICMP_MATCH_ACCEPTED);
	run_until(base, &g, 1000);
	ck_assert_int_eq(g.calls, 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_cancel_stops_callback)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct icmp_probe *p;
	struct icmp_stats st;
	struct got g = { 0 }, g2 = { 0 };

	p = start(pi, "127.0.0.1", 2, 0, 30, &g);
	ck_assert_ptr_nonnull(p);
	probe_icmp_cancel(p);
	probe_icmp_cancel(NULL);
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS),
	    ICMP_MATCH_UNKNOWN_SEQ);
	/* A probe that ends at once is cancelled before the loop runs. */
	c.fail_errno = ENETUNREACH;
	probe_icmp_cancel(start(pi, "127.0.0.1", 1, 0, 30, &g2));
	run_for(base, 100);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_int_eq(g2.calls, 0);
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.probes_cancelled, 2);
	ck_assert_uint_eq(st.probes_finished, 0);
	ck_assert_uint_eq(st.in_flight, 0);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_cancel_inside_own_callback_is_harmless)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g = { 0 }, g2 = { 0 };

	g.self = start(pi, "127.0.0.1", 1, 0, 1000, &g);
	ck_assert_ptr_nonnull(g.self);
	/* The callback also starts the next probe, as a scheduler would. */
	g.engine = pi;
	g.next = &g2;
	ck_assert_int_eq(feed(pi, &c, 0, "127.0.0.1", MS), ICMP_MATCH_ACCEPTED);
	run_until(base, &g, 1000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(c.n, 2);
	ck_assert_int_eq(feed(pi, &c, 1, "127.0.0.1", MS), ICMP_MATCH_ACCEPTED);
	run_until(base, &g2, 1000);
	ck_assert_int_eq(g2.calls, 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_free_with_probes_in_flight_calls_no_callback)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct got g[3];

	memset(g, 0, sizeof(g));
	ck_assert_ptr_nonnull(start(pi, "127.0.0.1", 1, 0, 30, &g[0]));
	ck_assert_ptr_nonnull(start(pi, "127.0.0.2", 3, 10, 30, &g[1]));
	c.fail_errno = ENETUNREACH;
	ck_assert_ptr_nonnull(start(pi, "127.0.0.3", 1, 0, 30, &g[2]));
	probe_icmp_free(pi);
	probe_icmp_free(NULL);
	run_for(base, 60);
	ck_assert_int_eq(g[0].calls + g[1].calls + g[2].calls, 0);
	event_base_free(base);
}
END_TEST

START_TEST(test_slot_table_holds_20000_probes_in_flight)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct icmp_stats st;
	static struct got g[20000];
	int i;

	memset(g, 0, sizeof(g));
	for (i = 0; i < 20000; i++)
		ck_assert_ptr_nonnull(
		    start(pi, "127.0.0.1", 1, 0, 5000, &g[i]));
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.in_flight, 20000);
	ck_assert_uint_eq(st.echoes_sent, 20000);
	ck_assert_int_eq(feed(pi, &c, 5, "127.0.0.1", MS), ICMP_MATCH_ACCEPTED);
	run_until(base, &g[5], 1000);
	ck_assert_int_eq(g[5].calls, 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_exhausted_sequence_space_fails_the_probe_only)
{
	struct event_base *base = event_base_new();
	struct capture c;
	struct probe_icmp *pi = fake_engine(base, ICMP_SOCK_AUTO, &c);
	struct icmp_stats st;
	static struct got many[65];
	struct got g = { 0 }, g6 = { 0 };
	int i;

	/* 65 probes of 1000 echoes hold 65000 of the 65536 numbers. */
	for (i = 0; i < 65; i++)
		ck_assert_ptr_nonnull(start(pi, "127.0.0.1",
		    PROBE_ICMP_MAX_ECHOES, 0, 100, &many[i]));
	ck_assert_ptr_nonnull(start(pi, "127.0.0.2", 1000, 0, 100, &g));
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.echoes_sent, 65536);
	/* The first echo without a number ends that burst. */
	ck_assert_uint_eq(st.seq_exhausted, 1);
	ck_assert_uint_eq(st.send_errors, 1);
	/* IPv6 has its own sequence space. */
	ck_assert_int_ne(probe_icmp_sock_kind(pi, AF_INET6), ICMP_SOCK_NONE);
	ck_assert_ptr_nonnull(start(pi, "::1", 1, 0, 100, &g6));
	ck_assert_int_eq(c.n, 65537);
	run_until(base, &g, 2000);
	ck_assert_int_eq(g.r.outcome, ICMP_RESULT_SEND_ERROR);
	ck_assert_int_eq(g.r.error, EBUSY);
	ck_assert_uint_eq(g.r.sent, 536);
	/* Numbers are free again once the probes have ended. */
	run_until(base, &many[64], 2000);
	g.calls = 0;
	ck_assert_ptr_nonnull(start(pi, "127.0.0.2", 1000, 0, 100, &g));
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.seq_exhausted, 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

/* The whole of a live probe: start, run the loop, check the basics. */
static void
live_probe(struct event_base *base, struct probe_icmp *pi, const char *dst,
    unsigned count, uint64_t gap, struct got *g)
{
	ck_assert_ptr_nonnull(start(pi, dst, count, gap, 2000, g));
	run_until(base, g, 3000);
	ck_assert_msg(g->calls == 1, "no result from %s", dst);
	ck_assert_msg(g->r.outcome == ICMP_RESULT_OK, "%s: %s (errno %d)", dst,
	    probe_icmp_outcome_str(g->r.outcome), g->r.error);
	ck_assert_uint_eq(g->r.sent, count);
	ck_assert_uint_eq(g->r.received, count);
	ck_assert_double_eq_tol(g->r.loss_pct, 0, 1e-9);
	ck_assert(g->r.rtt_max_ms > 0);
	ck_assert(g->r.rtt_min_ms <= g->r.rtt_avg_ms);
	ck_assert(g->r.rtt_avg_ms <= g->r.rtt_max_ms);
	ck_assert(g->r.rtt_max_ms < 2000);
}

START_TEST(test_live_probe_to_127_0_0_1_gets_replies)
{
	struct event_base *base = event_base_new();
	struct probe_icmp *pi = probe_icmp_new(base);
	struct icmp_stats st;
	struct got g = { 0 };

	ck_assert_int_ne(probe_icmp_sock_kind(pi, AF_INET), ICMP_SOCK_NONE);
	live_probe(base, pi, "127.0.0.1", 1, 0, &g);
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.echoes_sent, 1);
	ck_assert_uint_ge(st.matched[ICMP_MATCH_ACCEPTED], 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_live_probe_to_ipv6_loopback_gets_replies)
{
	struct event_base *base = event_base_new();
	struct probe_icmp *pi = probe_icmp_new(base);
	struct got g = { 0 };

	ck_assert_msg(probe_icmp_sock_kind(pi, AF_INET6) != ICMP_SOCK_NONE,
	    "no IPv6 ICMP socket on this machine");
	live_probe(base, pi, "::1", 3, 0, &g);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_burst_reports_rtt_and_zero_loss)
{
	struct event_base *base = event_base_new();
	struct probe_icmp *pi = probe_icmp_new(base);
	struct got g = { 0 };

	live_probe(base, pi, "127.0.0.1", 10, 0, &g);
	ck_assert(g.r.jitter_ms >= 0);
	ck_assert(g.r.jitter_ms <= g.r.rtt_max_ms - g.r.rtt_min_ms + 1e-9);
	ck_assert_int_eq(g.r.error, 0);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_live_burst_with_gap_spaces_echoes)
{
	struct event_base *base = event_base_new();
	struct probe_icmp *pi = probe_icmp_new(base);
	struct got g = { 0 };
	uint64_t t0 = timeutil_mono_ms();

	live_probe(base, pi, "127.0.0.5", 3, 20, &g);
	ck_assert_uint_ge(timeutil_mono_ms() - t0, 40);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_live_raw_sockets_get_replies)
{
	struct event_base *base = event_base_new();
	struct probe_icmp *pi = probe_icmp_new_kind(base, ICMP_SOCK_RAW);
	struct got g4 = { 0 }, g6 = { 0 };

	ck_assert_int_eq(probe_icmp_sock_kind(pi, AF_INET), ICMP_SOCK_RAW);
	ck_assert_int_eq(probe_icmp_sock_kind(pi, AF_INET6), ICMP_SOCK_RAW);
	live_probe(base, pi, "127.0.0.1", 3, 0, &g4);
	live_probe(base, pi, "::1", 3, 0, &g6);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_live_burst_to_10000_loopback_addresses_loses_nothing)
{
	struct event_base *base = event_base_new();
	struct probe_icmp *pi = probe_icmp_new(base);
	static struct got g[10000];
	struct sockaddr_in sin;
	struct icmp_stats st;
	uint64_t end;
	int i, done;

	memset(g, 0, sizeof(g));
	for (i = 0; i < 10000; i++) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		/* 127.1.0.1 .. 127.1.39.16, all in one go */
		sin.sin_addr.s_addr = htonl(0x7f010001U + (uint32_t)i);
		ck_assert_ptr_nonnull(
		    probe_icmp_start(pi, (struct sockaddr *)&sin, sizeof(sin),
			3, 0, 5000, got_cb, &g[i]));
	}
	end = timeutil_mono_ms() + 10000;
	for (done = 0; done < 10000 && timeutil_mono_ms() < end;) {
		run_for(base, 10);
		for (done = 0, i = 0; i < 10000; i++)
			done += g[i].calls;
	}
	ck_assert_int_eq(done, 10000);
	for (i = 0; i < 10000; i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert_int_eq(g[i].r.outcome, ICMP_RESULT_OK);
		ck_assert_uint_eq(g[i].r.received, 3);
	}
	probe_icmp_stats(pi, &st);
	ck_assert_uint_eq(st.echoes_sent, 30000);
	ck_assert_uint_eq(st.matched[ICMP_MATCH_ACCEPTED], 30000);
	ck_assert_uint_eq(st.in_flight, 0);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

START_TEST(test_live_cancelled_probe_gets_no_callback)
{
	struct event_base *base = event_base_new();
	struct probe_icmp *pi = probe_icmp_new(base);
	struct icmp_stats st;
	struct got g = { 0 };

	probe_icmp_cancel(start(pi, "127.0.0.1", 3, 0, 100, &g));
	run_for(base, 200);
	ck_assert_int_eq(g.calls, 0);
	probe_icmp_stats(pi, &st);
	/* The replies still came, but their sequence numbers had expired. */
	ck_assert_uint_eq(st.matched[ICMP_MATCH_ACCEPTED], 0);
	ck_assert_uint_ge(st.matched[ICMP_MATCH_UNKNOWN_SEQ], 1);
	probe_icmp_free(pi);
	event_base_free(base);
}
END_TEST

/* Brings up the loopback interface of the current network namespace. */
static int
netns_lo_up(void)
{
	struct ifreq ifr;
	int fd, rc = -1;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name) - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return rc;
}

/* Opens ping sockets to everyone in the current network namespace. */
static int
netns_allow_ping_sockets(void)
{
	static const char v[] = "0 2147483647\n";
	int fd, rc;

	fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY);
	if (fd == -1)
		return -1;
	rc = write(fd, v, sizeof(v) - 1) == (ssize_t)(sizeof(v) - 1) ? 0 : -1;
	close(fd);
	return rc;
}

/* In a private network namespace: probes over ping sockets; exit status. */
static int
ping_socket_child(void)
{
	struct event_base *base;
	struct probe_icmp *pi;
	struct got g4 = { 0 }, g6 = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;

	if (unshare(CLONE_NEWNET) == -1)
		return 10;
	if (netns_lo_up() == -1)
		return 11;
	if (netns_allow_ping_sockets() == -1)
		return 12;
	base = event_base_new();
	pi = probe_icmp_new_kind(base, ICMP_SOCK_DGRAM);
	if (probe_icmp_sock_kind(pi, AF_INET) != ICMP_SOCK_DGRAM)
		return 13;
	if (probe_icmp_sock_kind(pi, AF_INET6) != ICMP_SOCK_DGRAM)
		return 14;
	len = addr("127.0.0.1", &ss);
	if (probe_icmp_start(pi, (struct sockaddr *)&ss, len, 3, 0, 2000,
		got_cb, &g4) == NULL)
		return 15;
	len = addr("::1", &ss);
	if (probe_icmp_start(pi, (struct sockaddr *)&ss, len, 3, 0, 2000,
		got_cb, &g6) == NULL)
		return 16;
	run_until(base, &g4, 3000);
	run_until(base, &g6, 3000);
	if (g4.r.outcome != ICMP_RESULT_OK || g4.r.received != 3)
		return 17;
	if (g6.r.outcome != ICMP_RESULT_OK || g6.r.received != 3)
		return 18;
	probe_icmp_free(pi);
	event_base_free(base);
	return 0;
}

START_TEST(test_live_ping_sockets_in_private_netns_get_replies)
{
	pid_t pid;
	int status;

	/* Fork so that the namespace and its sysctl die with the child. */
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(ping_socket_child());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "ping socket child failed with status %d (10: unshare, 11: lo, "
	    "12: sysctl, 13/14: no ping socket, 17/18: no replies)",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

/* A receive stamp a moment old, from the future, or from before a step. */
START_TEST(test_receive_stamp_is_trusted_only_when_plausible)
{
	struct timespec now, ts;
	uint64_t mono, got;

	clock_gettime(CLOCK_REALTIME, &now);
	mono = timeutil_mono_ns();
	ts = now;
	ts.tv_nsec -= now.tv_nsec >= 2000000 ? 2000000 : 0;
	ts.tv_sec -= now.tv_nsec >= 2000000 ? 0 : 1;
	got = timeutil_stamp_to_mono(&ts);
	/* 2 ms (or 1 s) queued: about that much before now */
	ck_assert(got != 0 && got < mono + 100000000ULL &&
	    got > mono - 1100000000ULL);
	ts = now;
	ts.tv_sec += 5; /* the real clock stepped back since */
	ck_assert_uint_eq(timeutil_stamp_to_mono(&ts), 0);
	ts = now;
	ts.tv_sec -= 11; /* stepped forward, or a moved clock */
	ck_assert_uint_eq(timeutil_stamp_to_mono(&ts), 0);
}
END_TEST

Suite *
icmp_suite(void)
{
	Suite *s = suite_create("icmp");
	TCase *tc;

	tc = tcase_create("packet");
	tcase_add_test(tc, test_receive_stamp_is_trusted_only_when_plausible);
	tcase_add_test(tc, test_checksum_matches_rfc1071_example);
	tcase_add_test(tc, test_echo_request_has_valid_checksum);
	tcase_add_test(tc,
	    test_echo_request_for_ping_socket_leaves_checksum_to_kernel);
	tcase_add_test(tc, test_ipv6_echo_request_is_type_128_without_checksum);
	tcase_add_test(tc, test_build_rejects_short_buffer_and_unknown_family);
	tcase_add_test(tc, test_parse_reads_back_what_build_wrote);
	tcase_add_test(tc, test_parse_rejects_truncated_ip_header);
	tcase_add_test(tc, test_parse_rejects_bad_ip_header);
	tcase_add_test(tc, test_parse_rejects_truncated_icmp_header);
	tcase_add_test(tc, test_parse_rejects_bad_checksum);
	tcase_add_test(tc, test_parse_rejects_echo_request_and_other_types);
	tcase_add_test(tc, test_parse_rejects_short_payload_and_bad_magic);
	tcase_add_test(tc,
	    test_parse_survives_every_truncation_and_random_bytes);
	tcase_add_test(tc, test_names_are_distinct_and_total);
	suite_add_tcase(s, tc);

	tc = tcase_create("matcher");
	tcase_add_test(tc, test_matching_reply_is_accepted_with_its_rtt);
	tcase_add_test(tc, test_reply_from_wrong_source_is_dropped);
	tcase_add_test(tc, test_ipv6_reply_from_wrong_source_is_dropped);
	tcase_add_test(tc, test_reply_with_wrong_token_is_dropped);
	tcase_add_test(tc, test_reply_with_unknown_sequence_is_dropped);
	tcase_add_test(tc, test_reply_after_probe_end_is_unknown_sequence);
	tcase_add_test(tc, test_duplicate_reply_counts_once);
	tcase_add_test(tc,
	    test_raw_socket_drops_other_pingers_and_bad_checksums);
	tcase_add_test(tc, test_probe_without_replies_times_out_as_no_reply);
	tcase_add_test(tc, test_partial_replies_report_loss_and_jitter);
	tcase_add_test(tc, test_send_error_is_reported);
	tcase_add_test(tc, test_soft_send_error_loses_one_echo_only);
	tcase_add_test(tc, test_family_without_socket_reports_no_socket);
	tcase_add_test(tc, test_start_rejects_bad_arguments);
	tcase_add_test(tc, test_v4_mapped_ipv6_target_is_probed_over_ipv4);
	tcase_add_test(tc, test_cancel_stops_callback);
	tcase_add_test(tc, test_cancel_inside_own_callback_is_harmless);
	tcase_add_test(tc, test_free_with_probes_in_flight_calls_no_callback);
	tcase_add_test(tc, test_slot_table_holds_20000_probes_in_flight);
	tcase_add_test(tc, test_exhausted_sequence_space_fails_the_probe_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("live");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_live_probe_to_127_0_0_1_gets_replies);
	tcase_add_test(tc, test_live_probe_to_ipv6_loopback_gets_replies);
	tcase_add_test(tc, test_burst_reports_rtt_and_zero_loss);
	tcase_add_test(tc, test_live_burst_with_gap_spaces_echoes);
	tcase_add_test(tc, test_live_raw_sockets_get_replies);
	tcase_add_test(tc,
	    test_live_burst_to_10000_loopback_addresses_loses_nothing);
	tcase_add_test(tc, test_live_cancelled_probe_gets_no_callback);
	tcase_add_test(tc, test_live_ping_sockets_in_private_netns_get_replies);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("check_icmp", 0,
	    getenv("CHECK_ICMP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	sr = srunner_create(icmp_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
