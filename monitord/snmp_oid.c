/*
 * Numeric OIDs: parsing, printing, ordering, and the bytes BER gives
 * them when a PDU is sized.  Pure functions, tested without I/O by
 * tests/check_snmp_ber.c.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "monitord.h"

/*
 * Parses a numeric OID, "1.3.6.1.2.1.1.3.0" or ".1.3.6.1.2.1.1.3.0": at
 * least two decimal sub-identifiers of 32 bits, a first of 0, 1 or 2 and,
 * under 0 or 1, a second below 40, as BER can encode.
 */
int
snmp_oid_parse(const char *s, struct snmp_oid *oid)
{
	const char *p;
	uint64_t v;
	size_t len = 0;

	if (s == NULL || oid == NULL)
		return -1;
	p = s;
	if (*p == '.')
		p++;
	for (;;) {
		if (*p < '0' || *p > '9')
			return -1;
		v = 0;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > UINT32_MAX)
				return -1;
			p++;
		}
		if (len == SNMP_OID_MAX)
			return -1;
		oid->n[len++] = (uint32_t)v;
		if (*p == '\0')
			break;
		if (*p != '.')
			return -1;
		p++;
	}
	if (len < 2 || oid->n[0] > 2 || (oid->n[0] < 2 && oid->n[1] >= 40))
		return -1;
	oid->len = len;
	return 0;
}

/*
 * Writes an OID as "1.3.6.1..." into buf and returns buf; a buffer too
 * small gets as many whole sub-identifiers as fit, then "...".
 */
const char *
snmp_oid_str(const struct snmp_oid *oid, char *buf, size_t size)
{
	size_t i, off = 0;
	int n;

	if (buf == NULL || size == 0)
		return "";
	buf[0] = '\0';
	if (oid == NULL)
		return buf;
	for (i = 0; i < oid->len && i < SNMP_OID_MAX; i++) {
		n = snprintf(buf + off, size - off, "%s%u", i ? "." : "",
		    oid->n[i]);
		if (n < 0 || (size_t)n >= size - off) {
			buf[off] = '\0';
			if (size - off >= 4)
				memcpy(buf + off, "...", 4);
			else if (size >= 4)
				memcpy(buf + size - 4, "...", 4);
			return buf;
		}
		off += (size_t)n;
	}
	return buf;
}

/* Orders two OIDs lexicographically, a prefix first: -1, 0 or 1. */
int
snmp_oid_cmp(const struct snmp_oid *a, const struct snmp_oid *b)
{
	size_t i, n;

	n = a->len < b->len ? a->len : b->len;
	for (i = 0; i < n; i++) {
		if (a->n[i] != b->n[i])
			return a->n[i] < b->n[i] ? -1 : 1;
	}
	if (a->len == b->len)
		return 0;
	return a->len < b->len ? -1 : 1;
}

/* Tells whether oid equals prefix or lies beneath it. */
int
snmp_oid_has_prefix(const struct snmp_oid *oid, const struct snmp_oid *prefix)
{
	if (oid->len < prefix->len)
		return 0;
	return memcmp(oid->n, prefix->n, prefix->len * sizeof(oid->n[0])) == 0;
}

/* Tells whether an OID can go into a request: what snmp_oid_parse takes. */
int
snmp_oid_valid(const struct snmp_oid *oid)
{
	return oid->len >= 2 && oid->len <= SNMP_OID_MAX && oid->n[0] <= 2 &&
	    (oid->n[0] == 2 || oid->n[1] < 40);
}

/* The bytes one sub-identifier takes in BER. */
static size_t
snmp_oid_ber_subid_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* The bytes an OID takes in BER, with its tag and length. */
size_t
snmp_oid_ber_len(const struct snmp_oid *oid)
{
	size_t i, len;

	if (oid->len < 2)
		return 3;
	len = snmp_oid_ber_subid_len((uint64_t)oid->n[0] * 40 + oid->n[1]);
	for (i = 2; i < oid->len; i++)
		len += snmp_oid_ber_subid_len(oid->n[i]);
	return len + (len > 127 ? 3 : 2);
}

/*
 * An OID is 516 bytes, a varbind over a kilobyte: copy the sub-identifiers
 * in use, never the whole arrays, on the path every answer takes.
 */
void
snmp_oid_copy(struct snmp_oid *dst, const struct snmp_oid *src)
{
	dst->len = src->len;
	memcpy(dst->n, src->n, src->len * sizeof(src->n[0]));
}