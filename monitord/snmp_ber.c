/*
 * The framing of a received SNMP message, checked before net-snmp parses
 * it.  Pure functions, safe for any bytes, tested by
 * tests/check_snmp_ber.c and the fuzz target fuzz_snmp_recv.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "monitord.h"

/* Nesting a well-formed SNMP message never exceeds. */
#define SNMP_BER_DEPTH 8

/*
 * Reads one BER tag and definite length at p (n bytes left) into *tag and
 * *len; returns the header's size, or 0 when it is not one SNMP can have
 * or its contents run past the end.
 */
static size_t
snmp_ber_header(const uint8_t *p, size_t n, uint8_t *tag, size_t *len)
{
	size_t i, nlen, l;

	if (n < 2 || (p[0] & 0x1f) == 0x1f)
		return 0;
	*tag = p[0];
	if (p[1] < 0x80) {
		l = p[1];
		i = 2;
	} else {
		nlen = p[1] & 0x7f;
		if (nlen == 0 || nlen > 4 || n - 2 < nlen)
			return 0;
		l = 0;
		for (i = 0; i < nlen; i++)
			l = (l << 8) | p[2 + i];
		i = 2 + nlen;
	}
	if (l > n - i)
		return 0;
	*len = l;
	return i;
}

/* Checks that n bytes are whole TLVs, nested ones too, to a bounded depth. */
static int
snmp_ber_walk(const uint8_t *p, size_t n, unsigned depth)
{
	uint8_t tag;
	size_t h, len;

	if (depth > SNMP_BER_DEPTH)
		return -1;
	while (n > 0) {
		if ((h = snmp_ber_header(p, n, &tag, &len)) == 0)
			return -1;
		if ((tag & 0x20) && snmp_ber_walk(p + h, len, depth + 1) == -1)
			return -1;
		p += h + len;
		n -= h + len;
	}
	return 0;
}

/*
 * Checks the framing of a received SNMP message before net-snmp parses
 * it: one SEQUENCE filling the datagram, every nested TLV inside its
 * parent, a small version INTEGER first and, for SNMPv3, security
 * parameters that are themselves one well-formed SEQUENCE.  Stores the
 * version (0 v1, 1 v2c, 3 v3).  A pure function, safe for any bytes.
 */
int
snmp_ber_packet_check(const uint8_t *buf, size_t len, long *version)
{
	const uint8_t *p;
	uint8_t tag;
	size_t h, clen, n, vlen, i;
	long v = 0;

	if (buf == NULL || len > SNMP_DATAGRAM_MAX)
		return -1;
	if ((h = snmp_ber_header(buf, len, &tag, &clen)) == 0 || tag != 0x30 ||
	    h + clen != len)
		return -1;
	p = buf + h;
	n = clen;
	if (snmp_ber_walk(p, n, 1) == -1)
		return -1;
	if ((h = snmp_ber_header(p, n, &tag, &vlen)) == 0 || tag != 0x02 ||
	    vlen < 1 || vlen > 2)
		return -1;
	for (i = 0; i < vlen; i++)
		v = (v << 8) | p[h + i];
	if (v != 0 && v != 1 && v != 3)
		return -1;
	if (v == 3) {
		/* msgGlobalData, then msgSecurityParameters */
		p += h + vlen;
		n -= h + vlen;
		if ((h = snmp_ber_header(p, n, &tag, &clen)) == 0 ||
		    tag != 0x30)
			return -1;
		p += h + clen;
		n -= h + clen;
		if ((h = snmp_ber_header(p, n, &tag, &clen)) == 0 ||
		    tag != 0x04)
			return -1;
		p += h;
		if ((h = snmp_ber_header(p, clen, &tag, &n)) == 0 ||
		    tag != 0x30 || h + n != clen ||
		    snmp_ber_walk(p + h, n, 1) == -1)
			return -1;
	}
	if (version != NULL)
		*version = v;
	return 0;
}