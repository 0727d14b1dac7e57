/*
 * ICMP and ICMPv6 echo packets: building requests, parsing replies and the
 * Internet checksum.  Pure functions without I/O, so that tests and fuzzers
 * can drive them with any bytes; every read is bounded by the length given.
 */
#include "config.h"

#include <string.h>

#include "monitord.h"

#define ICMP_V4_ECHO_REPLY 0
#define ICMP_V4_ECHO_REQUEST 8
#define ICMP_V6_ECHO_REQUEST 128
#define ICMP_V6_ECHO_REPLY 129
#define ICMP_IP_MIN_LEN 20
#define ICMP_IP_PROTO_ICMP 1

static const char *const icmp_parse_result_names[] = {
	[ICMP_PARSE_OK] = "ok",
	[ICMP_PARSE_SHORT_IP_HEADER] = "short IP header",
	[ICMP_PARSE_BAD_IP_HEADER] = "bad IP header",
	[ICMP_PARSE_SHORT_ICMP_HEADER] = "short ICMP header",
	[ICMP_PARSE_BAD_CHECKSUM] = "bad checksum",
	[ICMP_PARSE_NOT_ECHO_REPLY] = "not an echo reply",
	[ICMP_PARSE_SHORT_PAYLOAD] = "short payload",
	[ICMP_PARSE_BAD_MAGIC] = "bad magic",
};

/* Stores a 16-bit value in network byte order. */
static void
icmp_packet_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Stores a 32-bit value in network byte order. */
static void
icmp_packet_put32(uint8_t *p, uint32_t v)
{
	icmp_packet_put16(p, (uint16_t)(v >> 16));
	icmp_packet_put16(p + 2, (uint16_t)v);
}

/* Stores a 64-bit value in network byte order. */
static void
icmp_packet_put64(uint8_t *p, uint64_t v)
{
	icmp_packet_put32(p, (uint32_t)(v >> 32));
	icmp_packet_put32(p + 4, (uint32_t)v);
}

/* Reads a 16-bit value in network byte order. */
static uint16_t
icmp_packet_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* Reads a 32-bit value in network byte order. */
static uint32_t
icmp_packet_get32(const uint8_t *p)
{
	return (uint32_t)icmp_packet_get16(p) << 16 | icmp_packet_get16(p + 2);
}

/* Reads a 64-bit value in network byte order. */
static uint64_t
icmp_packet_get64(const uint8_t *p)
{
	return (uint64_t)icmp_packet_get32(p) << 32 | icmp_packet_get32(p + 4);
}

/*
 * The Internet checksum (RFC 1071) of len bytes, as a host-order value to be
 * stored big-endian.  Over a packet that carries a correct checksum it is 0.
 */
uint16_t
icmp_packet_checksum(const uint8_t *buf, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += icmp_packet_get16(buf + i);
	if (i < len)
		sum += (uint64_t)buf[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * Builds an echo request for family AF_INET or AF_INET6 into buf.  With
 * ICMP_PACKET_CKSUM in flags the v4 checksum is filled in (raw sockets);
 * otherwise it stays 0 for the kernel to compute (ping sockets, and ICMPv6
 * always).  Returns the packet length, or -1 if buf is too small.
 */
int
icmp_packet_build(uint8_t *buf, size_t len, int family, uint16_t ident,
    uint16_t seq, const struct icmp_payload *pl, int flags)
{
	uint8_t *p;

	if (len < ICMP_PACKET_LEN)
		return -1;
	if (family == AF_INET)
		buf[0] = ICMP_V4_ECHO_REQUEST;
	else if (family == AF_INET6)
		buf[0] = ICMP_V6_ECHO_REQUEST;
	else
		return -1;
	buf[1] = 0;
	icmp_packet_put16(buf + 2, 0);
	icmp_packet_put16(buf + 4, ident);
	icmp_packet_put16(buf + 6, seq);
	p = buf + ICMP_PACKET_HDR_LEN;
	icmp_packet_put32(p, pl->magic);
	icmp_packet_put32(p + 4, pl->slot);
	icmp_packet_put32(p + 8, pl->token);
	icmp_packet_put32(p + 12, pl->echo);
	icmp_packet_put64(p + 16, pl->sent_ns);
	if (family == AF_INET && (flags & ICMP_PACKET_CKSUM))
		icmp_packet_put16(buf + 2,
		    icmp_packet_checksum(buf, ICMP_PACKET_LEN));
	return ICMP_PACKET_LEN;
}

/*
 * Skips the IPv4 header a raw socket delivers in front of the ICMP message.
 * Returns ICMP_PARSE_OK and advances *bufp and *lenp, or says what is wrong.
 */
static enum icmp_parse_result
icmp_packet_skip_ip(const uint8_t **bufp, size_t *lenp)
{
	const uint8_t *buf = *bufp;
	size_t len = *lenp, hlen;

	if (len < ICMP_IP_MIN_LEN)
		return ICMP_PARSE_SHORT_IP_HEADER;
	if ((buf[0] >> 4) != 4 || (buf[0] & 0x0f) < 5)
		return ICMP_PARSE_BAD_IP_HEADER;
	hlen = (size_t)(buf[0] & 0x0f) * 4;
	if (len < hlen)
		return ICMP_PARSE_SHORT_IP_HEADER;
	if (buf[9] != ICMP_IP_PROTO_ICMP)
		return ICMP_PARSE_BAD_IP_HEADER;
	*bufp = buf + hlen;
	*lenp = len - hlen;
	return ICMP_PARSE_OK;
}

/*
 * Parses a datagram read from an ICMP socket of the given family.  flags:
 * ICMP_PACKET_IPHDR when a v4 buffer starts with the IP header (raw socket),
 * ICMP_PACKET_CKSUM to verify the v4 checksum.  The header fields of out are
 * filled as soon as the ICMP header is complete, the payload only when the
 * result is ICMP_PARSE_OK.
 */
enum icmp_parse_result
icmp_packet_parse(const uint8_t *buf, size_t len, int family, int flags,
    struct icmp_packet *out)
{
	enum icmp_parse_result r;
	const uint8_t *p;
	uint8_t reply;

	memset(out, 0, sizeof(*out));
	if (family == AF_INET)
		reply = ICMP_V4_ECHO_REPLY;
	else if (family == AF_INET6)
		reply = ICMP_V6_ECHO_REPLY;
	else
		return ICMP_PARSE_BAD_IP_HEADER;
	if (family == AF_INET && (flags & ICMP_PACKET_IPHDR)) {
		if ((r = icmp_packet_skip_ip(&buf, &len)) != ICMP_PARSE_OK)
			return r;
	}
	if (len < ICMP_PACKET_HDR_LEN)
		return ICMP_PARSE_SHORT_ICMP_HEADER;
	out->type = buf[0];
	out->code = buf[1];
	out->ident = icmp_packet_get16(buf + 4);
	out->seq = icmp_packet_get16(buf + 6);
	if (family == AF_INET && (flags & ICMP_PACKET_CKSUM) &&
	    icmp_packet_checksum(buf, len) != 0)
		return ICMP_PARSE_BAD_CHECKSUM;
	if (out->type != reply || out->code != 0)
		return ICMP_PARSE_NOT_ECHO_REPLY;
	if (len < ICMP_PACKET_LEN)
		return ICMP_PARSE_SHORT_PAYLOAD;
	p = buf + ICMP_PACKET_HDR_LEN;
	if (icmp_packet_get32(p) != ICMP_PACKET_MAGIC)
		return ICMP_PARSE_BAD_MAGIC;
	out->payload.magic = ICMP_PACKET_MAGIC;
	out->payload.slot = icmp_packet_get32(p + 4);
	out->payload.token = icmp_packet_get32(p + 8);
	out->payload.echo = icmp_packet_get32(p + 12);
	out->payload.sent_ns = icmp_packet_get64(p + 16);
	return ICMP_PARSE_OK;
}

const char *
icmp_packet_parse_result_str(enum icmp_parse_result r)
{
	if ((unsigned)r > ICMP_PARSE_BAD_MAGIC)
		return "unknown";
	return icmp_parse_result_names[r];
}
