/*
 * The SNMP trap receiver: one UDP socket on the loop, a pure decoder for
 * SNMPv1 traps, SNMPv2c traps and SNMPv2c informs, and the Response PDU
 * that acknowledges an inform.
 *
 * The decoder is our own small BER reader rather than net-snmp's
 * snmp_parse(): it runs on bytes from anyone who can reach the port, so it
 * must be a pure function with no global state, no logging and no USM code
 * behind it.  snmp_parse() counts into global statistics, logs through
 * snmp_log() (to stderr when no handler is set) and runs the USM for v3.
 * The few BER rules a trap needs fit in this file and a fuzzer can cover
 * all of them.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"
#include "monitord.h"
#include "xmalloc.h"

/* The largest UDP payload, so no datagram is ever truncated. */
#define SNMP_TRAP_BUFSIZE 65536
/* Datagrams handled per wake-up before the loop serves other events. */
#define SNMP_TRAP_BATCH 256
/* A storm of link traps from many switches should queue, not be lost. */
#define SNMP_TRAP_RCVBUF (1024 * 1024)

/* BER tags of the SNMP message and its PDUs and values. */
#define BER_INTEGER 0x02
#define BER_OCTET_STRING 0x04
#define BER_NULL 0x05
#define BER_OID 0x06
#define BER_SEQUENCE 0x30
#define BER_IPADDRESS 0x40
#define BER_COUNTER32 0x41
#define BER_GAUGE32 0x42
#define BER_TIMETICKS 0x43
#define BER_OPAQUE 0x44
#define BER_COUNTER64 0x46
#define BER_NOSUCHOBJECT 0x80
#define BER_NOSUCHINSTANCE 0x81
#define BER_ENDOFMIBVIEW 0x82
#define PDU_GET 0xa0
#define PDU_RESPONSE 0xa2
#define PDU_TRAP_V1 0xa4
#define PDU_INFORM 0xa6
#define PDU_TRAP_V2 0xa7
#define PDU_REPORT 0xa8

/* Why the decoder refused a datagram; indexes the listener's counters. */
enum snmp_trap_drop {
	SNMP_TRAP_DROP_NONE,
	SNMP_TRAP_DROP_BAD_COMMUNITY,
	SNMP_TRAP_DROP_MALFORMED,
	SNMP_TRAP_DROP_UNSUPPORTED_VERSION,
	SNMP_TRAP_DROP_UNSUPPORTED_PDU
};

/* A window on the datagram being decoded; nothing reads outside it. */
struct ber {
	const uint8_t *p;
	size_t len;
};

/* The open socket, its event and what it counted. */
struct snmp_trap_listener {
	int fd;
	int port;
	struct event *ev;
	char **communities; /* copies; none means any community */
	size_t ncommunities;
	snmp_trap_cb cb;
	void *arg;
	uint8_t *buf; /* one received datagram */
	uint8_t *ack; /* the Response to an inform */
	int in_cb; /* the callback runs; freeing must wait */
	int dying; /* snmp_trap_free was called from the callback */
	struct snmp_trap_stats stats;
};

/* snmpTraps (RFC 3418): generic v1 traps become snmpTraps.(generic + 1). */
static const uint32_t oid_snmp_traps[] = { 1, 3, 6, 1, 6, 3, 1, 1, 5 };
static const uint32_t oid_sys_uptime[] = { 1, 3, 6, 1, 2, 1, 1, 3, 0 };
static const uint32_t oid_snmp_trap_oid[] = { 1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0 };
/* ifEntry (RFC 2863): column 1 ifIndex, 7 ifAdminStatus, 8 ifOperStatus. */
static const uint32_t oid_if_entry[] = { 1, 3, 6, 1, 2, 1, 2, 2, 1 };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Names the reason a datagram was dropped, for logs and for the API. */
static const char *
snmp_trap_drop_str(enum snmp_trap_drop d)
{
	switch (d) {
	case SNMP_TRAP_DROP_NONE:
		return "accepted";
	case SNMP_TRAP_DROP_BAD_COMMUNITY:
		return "bad community";
	case SNMP_TRAP_DROP_MALFORMED:
		return "malformed";
	case SNMP_TRAP_DROP_UNSUPPORTED_VERSION:
		return "unsupported version";
	case SNMP_TRAP_DROP_UNSUPPORTED_PDU:
		return "unsupported pdu";
	}
	return "unknown";
}

/* Names a trap kind as the SNMPv2-MIB names its notification. */
const char *
snmp_trap_kind_str(enum snmp_trap_kind k)
{
	switch (k) {
	case TRAP_KIND_COLDSTART:
		return "coldStart";
	case TRAP_KIND_WARMSTART:
		return "warmStart";
	case TRAP_KIND_LINKDOWN:
		return "linkDown";
	case TRAP_KIND_LINKUP:
		return "linkUp";
	case TRAP_KIND_AUTHFAIL:
		return "authenticationFailure";
	case TRAP_KIND_OTHER:
		return "other";
	}
	return "other";
}

/*
 * Takes one TLV off the front of b: its tag and a window on its value.
 * Only the definite, low-tag-number forms SNMP uses are accepted.
 */
static int
snmp_trap_ber_next(struct ber *b, uint8_t *tag, struct ber *val)
{
	size_t hdr, len, nlen, i;

	if (b->len < 2)
		return -1;
	*tag = b->p[0];
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	if (b->p[1] < 0x80) {
		len = b->p[1];
		hdr = 2;
	} else {
		/* 0x80 alone is the indefinite form, which SNMP forbids. */
		nlen = b->p[1] & 0x7f;
		if (nlen == 0 || nlen > 4 || b->len - 2 < nlen)
			return -1;
		len = 0;
		for (i = 0; i < nlen; i++)
			len = len << 8 | b->p[2 + i];
		hdr = 2 + nlen;
	}
	if (len > b->len - hdr)
		return -1;
	val->p = b->p + hdr;
	val->len = len;
	b->p += hdr + len;
	b->len -= hdr + len;
	return 0;
}

/* Like snmp_trap_ber_next, but the tag must be the one given. */
static int
snmp_trap_ber_expect(struct ber *b, uint8_t want, struct ber *val)
{
	uint8_t tag;

	if (snmp_trap_ber_next(b, &tag, val) == -1 || tag != want)
		return -1;
	return 0;
}

/* Reads a two's complement INTEGER of one to eight bytes. */
static int
snmp_trap_ber_int(const struct ber *v, int64_t *out)
{
	uint64_t u;
	size_t i;

	if (v->len == 0 || v->len > 8)
		return -1;
	u = (v->p[0] & 0x80) != 0 ? UINT64_MAX : 0;
	for (i = 0; i < v->len; i++)
		u = u << 8 | v->p[i];
	/* Two's complement back to signed without an out-of-range cast. */
	if (u > INT64_MAX)
		*out = -(int64_t)(UINT64_MAX - u) - 1;
	else
		*out = (int64_t)u;
	return 0;
}

/*
 * Reads an unsigned value (Counter32, Gauge32, TimeTicks, Counter64) of at
 * most max.  Some agents send 2^31 and above without the leading zero
 * byte, so the bytes are read as a magnitude rather than refused.
 */
static int
snmp_trap_ber_uint(const struct ber *v, uint64_t max, uint64_t *out)
{
	uint64_t u = 0;
	size_t i;

	if (v->len == 0 || v->len > 9 || (v->len == 9 && v->p[0] != 0))
		return -1;
	for (i = 0; i < v->len; i++)
		u = u << 8 | v->p[i];
	if (u > max)
		return -1;
	*out = u;
	return 0;
}

/* Reads an OBJECT IDENTIFIER; every sub-identifier must fit 32 bits. */
static int
snmp_trap_ber_oid(const struct ber *v, struct snmp_oid *o)
{
	uint64_t acc = 0;
	size_t i;
	int first = 1;

	o->len = 0;
	if (v->len == 0 || (v->p[v->len - 1] & 0x80) != 0)
		return -1;
	for (i = 0; i < v->len; i++) {
		if (acc > (UINT32_MAX >> 7))
			return -1;
		acc = acc << 7 | (v->p[i] & 0x7f);
		if ((v->p[i] & 0x80) != 0)
			continue;
		if (first) {
			/* The first value holds two arcs: X * 40 + Y. */
			o->n[0] = acc < 40 ? 0 : acc < 80 ? 1 : 2;
			o->n[1] = (uint32_t)(acc - 40 * o->n[0]);
			o->len = 2;
			first = 0;
		} else {
			if (o->len >= SNMP_OID_MAX)
				return -1;
			o->n[o->len++] = (uint32_t)acc;
		}
		acc = 0;
	}
	return 0;
}

/* Tells whether o is prefix followed by exactly extra more arcs. */
static int
snmp_trap_oid_under(const struct snmp_oid *o, const uint32_t *prefix,
    size_t plen, size_t extra)
{
	size_t i;

	if (o->len != plen + extra)
		return 0;
	for (i = 0; i < plen; i++)
		if (o->n[i] != prefix[i])
			return 0;
	return 1;
}

/* Fills o with the arcs given. */
static void
snmp_trap_oid_set(struct snmp_oid *o, const uint32_t *sub, size_t len)
{
	memcpy(o->n, sub, len * sizeof(sub[0]));
	o->len = len;
}

/* Tells whether the community in c is one of those allowed. */
static int
snmp_trap_community_ok(const struct ber *c, const char *const *communities,
    size_t ncommunities)
{
	size_t i, n;

	/*
	 * No list accepts any community: for a receiver reachable only from
	 * the management segments, where devices of several outsourcers use
	 * communities we do not choose, and since v1/v2c communities cross
	 * the network in clear anyway, the firewall is the real filter.
	 */
	if (ncommunities == 0)
		return 1;
	for (i = 0; i < ncommunities; i++) {
		n = strlen(communities[i]);
		if (n == c->len &&
		    (n == 0 || memcmp(c->p, communities[i], n) == 0))
			return 1;
	}
	return 0;
}

/*
 * Decodes the value of one varbind into vb; returns -1 if malformed.
 * Opaque, which wraps BER of its own, keeps its bytes as SNMP_VT_OTHER.
 */
static int
snmp_trap_varbind_value(uint8_t tag, const struct ber *v,
    struct snmp_varbind *vb)
{
	uint64_t u;

	switch (tag) {
	case BER_INTEGER:
		vb->type = SNMP_VT_INTEGER;
		return snmp_trap_ber_int(v, &vb->i);
	case BER_OCTET_STRING:
	case BER_OPAQUE:
		vb->type = tag == BER_OPAQUE ? SNMP_VT_OTHER : SNMP_VT_STRING;
		vb->str = xmalloc(v->len + 1);
		if (v->len > 0)
			memcpy(vb->str, v->p, v->len);
		vb->str[v->len] = '\0';
		vb->str_len = v->len;
		return 0;
	case BER_NULL:
		vb->type = SNMP_VT_NULL;
		return v->len == 0 ? 0 : -1;
	case BER_OID:
		vb->type = SNMP_VT_OID;
		return snmp_trap_ber_oid(v, &vb->oidval);
	case BER_IPADDRESS:
		vb->type = SNMP_VT_IPADDRESS;
		if (v->len != 4)
			return -1;
		vb->u = (uint64_t)v->p[0] << 24 | (uint64_t)v->p[1] << 16 |
		    (uint64_t)v->p[2] << 8 | v->p[3];
		return 0;
	case BER_COUNTER32:
	case BER_GAUGE32:
	case BER_TIMETICKS:
		vb->type = tag == BER_COUNTER32 ? SNMP_VT_COUNTER32 :
		    tag == BER_GAUGE32		? SNMP_VT_UNSIGNED :
						  SNMP_VT_TIMETICKS;
		if (snmp_trap_ber_uint(v, UINT32_MAX, &u) == -1)
			return -1;
		vb->u = u;
		return 0;
	case BER_COUNTER64:
		vb->type = SNMP_VT_COUNTER64;
		if (snmp_trap_ber_uint(v, UINT64_MAX, &u) == -1)
			return -1;
		vb->u = u;
		return 0;
	case BER_NOSUCHOBJECT:
	case BER_NOSUCHINSTANCE:
	case BER_ENDOFMIBVIEW:
		vb->type = tag == BER_NOSUCHOBJECT ? SNMP_VT_NOSUCHOBJECT :
		    tag == BER_NOSUCHINSTANCE	   ? SNMP_VT_NOSUCHINSTANCE :
						     SNMP_VT_ENDOFMIBVIEW;
		return v->len == 0 ? 0 : -1;
	}
	return -1;
}

/*
 * Decodes a VarBindList into out->varbinds.  For v2c the sysUpTime.0 and
 * snmpTrapOID.0 bindings are taken out into out->uptime and out->trap_oid;
 * RFC 3416 puts them first and second, but we find them anywhere, since a
 * lost trap costs more than a sloppy agent.
 */
static int
snmp_trap_varbind_list(struct ber vbl, int v2, struct snmp_trap *out)
{
	struct ber walk = vbl, vb, name, val;
	struct snmp_varbind *x;
	size_t n = 0;
	uint8_t tag;
	int have_uptime = 0, have_trap_oid = 0;

	/* Count and check the shape first, so one allocation suffices. */
	while (walk.len > 0) {
		if (snmp_trap_ber_expect(&walk, BER_SEQUENCE, &vb) == -1)
			return -1;
		if (++n > SNMP_TRAP_MAX_VARBINDS)
			return -1;
	}
	if (n > 0)
		out->varbinds = xcalloc(n, sizeof(*out->varbinds));
	while (vbl.len > 0) {
		(void)snmp_trap_ber_expect(&vbl, BER_SEQUENCE, &vb);
		x = &out->varbinds[out->nvarbinds];
		memset(x, 0, sizeof(*x));
		if (snmp_trap_ber_expect(&vb, BER_OID, &name) == -1 ||
		    snmp_trap_ber_oid(&name, &x->oid) == -1 ||
		    snmp_trap_ber_next(&vb, &tag, &val) == -1 || vb.len != 0)
			return -1;
		/* Counted before decoding, so a failure frees any string. */
		out->nvarbinds++;
		if (snmp_trap_varbind_value(tag, &val, x) == -1)
			return -1;
		if (v2 && !have_uptime && x->type == SNMP_VT_TIMETICKS &&
		    snmp_trap_oid_under(&x->oid, oid_sys_uptime,
			NELEM(oid_sys_uptime), 0)) {
			out->uptime = (uint32_t)x->u;
			have_uptime = 1;
			out->nvarbinds--;
		} else if (v2 && !have_trap_oid && x->type == SNMP_VT_OID &&
		    snmp_trap_oid_under(&x->oid, oid_snmp_trap_oid,
			NELEM(oid_snmp_trap_oid), 0)) {
			out->trap_oid = x->oidval;
			have_trap_oid = 1;
			out->nvarbinds--;
		}
	}
	/* Without snmpTrapOID.0 a v2c notification says nothing. */
	if (v2 && !have_trap_oid)
		return -1;
	return 0;
}

/* Fills the kind, the ifIndex and the interface states from the varbinds. */
static void
snmp_trap_classify(struct snmp_trap *t)
{
	const struct snmp_varbind *vb;
	int64_t instance = -1;
	size_t i;
	uint32_t col;

	t->kind = TRAP_KIND_OTHER;
	if (snmp_trap_oid_under(&t->trap_oid, oid_snmp_traps,
		NELEM(oid_snmp_traps), 1))
		switch (t->trap_oid.n[NELEM(oid_snmp_traps)]) {
		case 1:
			t->kind = TRAP_KIND_COLDSTART;
			break;
		case 2:
			t->kind = TRAP_KIND_WARMSTART;
			break;
		case 3:
			t->kind = TRAP_KIND_LINKDOWN;
			break;
		case 4:
			t->kind = TRAP_KIND_LINKUP;
			break;
		case 5:
			t->kind = TRAP_KIND_AUTHFAIL;
			break;
		}

	/*
	 * Read for every trap, not only linkDown/linkUp: vendor link traps
	 * (enterprise-specific) carry the same IF-MIB columns.
	 */
	t->if_index = -1;
	t->if_admin_status = 0;
	t->if_oper_status = 0;
	for (i = 0; i < t->nvarbinds; i++) {
		vb = &t->varbinds[i];
		if (!snmp_trap_oid_under(&vb->oid, oid_if_entry,
			NELEM(oid_if_entry), 2))
			continue;
		col = vb->oid.n[NELEM(oid_if_entry)];
		if (col == 1 && t->if_index == -1 &&
		    vb->type == SNMP_VT_INTEGER && vb->i >= 0)
			t->if_index = vb->i;
		else if (col == 7 && t->if_admin_status == 0 &&
		    vb->type == SNMP_VT_INTEGER && vb->i > 0 &&
		    vb->i <= INT32_MAX)
			t->if_admin_status = (int)vb->i;
		else if (col == 8 && t->if_oper_status == 0 &&
		    vb->type == SNMP_VT_INTEGER && vb->i > 0 &&
		    vb->i <= INT32_MAX)
			t->if_oper_status = (int)vb->i;
		else
			continue;
		if ((col == 7 || col == 8) && instance == -1)
			instance = vb->oid.n[NELEM(oid_if_entry) + 1];
	}
	if (t->if_index == -1)
		t->if_index = instance;
}

/* Decodes the fields of a v1 Trap-PDU (RFC 1157) into out. */
static int
snmp_trap_v1(struct ber pdu, struct snmp_trap *out)
{
	struct sockaddr_in *sin;
	struct ber v, vbl;
	int64_t generic, specific;
	uint64_t ticks;

	if (snmp_trap_ber_expect(&pdu, BER_OID, &v) == -1 ||
	    snmp_trap_ber_oid(&v, &out->enterprise) == -1)
		return -1;
	/* NetworkAddress is a CHOICE with one alternative, IpAddress. */
	if (snmp_trap_ber_expect(&pdu, BER_IPADDRESS, &v) == -1 || v.len != 4)
		return -1;
	sin = (struct sockaddr_in *)&out->agent_addr;
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, v.p, 4);
	if (snmp_trap_ber_expect(&pdu, BER_INTEGER, &v) == -1 ||
	    snmp_trap_ber_int(&v, &generic) == -1 || generic < 0 || generic > 6)
		return -1;
	if (snmp_trap_ber_expect(&pdu, BER_INTEGER, &v) == -1 ||
	    snmp_trap_ber_int(&v, &specific) == -1 || specific < 0 ||
	    specific > UINT32_MAX)
		return -1;
	if (snmp_trap_ber_expect(&pdu, BER_TIMETICKS, &v) == -1 ||
	    snmp_trap_ber_uint(&v, UINT32_MAX, &ticks) == -1)
		return -1;
	out->uptime = (uint32_t)ticks;
	if (snmp_trap_ber_expect(&pdu, BER_SEQUENCE, &vbl) == -1 ||
	    pdu.len != 0)
		return -1;

	/* RFC 3584 section 3.1: the SNMPv2 snmpTrapOID of a v1 trap. */
	if (generic != 6) {
		snmp_trap_oid_set(&out->trap_oid, oid_snmp_traps,
		    NELEM(oid_snmp_traps));
		out->trap_oid.n[out->trap_oid.len++] = (uint32_t)generic + 1;
	} else {
		if (out->enterprise.len + 2 > SNMP_OID_MAX)
			return -1;
		out->trap_oid = out->enterprise;
		out->trap_oid.n[out->trap_oid.len++] = 0;
		out->trap_oid.n[out->trap_oid.len++] = (uint32_t)specific;
	}
	return snmp_trap_varbind_list(vbl, 0, out);
}

/* Writes a BER length at p, or only counts its bytes when p is NULL. */
static size_t
snmp_trap_ber_put_len(uint8_t *p, size_t len)
{
	size_t n, i;

	if (len < 0x80) {
		if (p != NULL)
			p[0] = (uint8_t)len;
		return 1;
	}
	for (n = 1; n < sizeof(len) && len >> (8 * n) != 0; n++)
		;
	if (p != NULL) {
		p[0] = (uint8_t)(0x80 | n);
		for (i = 0; i < n; i++)
			p[1 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
	}
	return 1 + n;
}

/*
 * Builds the Response to an inform (RFC 3416 4.2.7): the same version,
 * community, request-id and varbinds, byte for byte, with error-status and
 * error-index 0.  It is never longer than the inform, since those two
 * fields take three bytes at least.  Returns the length, or 0 if it does
 * not fit in size.
 */
static size_t
snmp_trap_inform_ack(uint8_t *ack, size_t size, struct ber version,
    struct ber community, struct ber reqid, struct ber vbl)
{
	static const uint8_t zeros[] = { BER_INTEGER, 1, 0, BER_INTEGER, 1, 0 };
	size_t pdu_len, msg_len, total, off = 0;

	pdu_len = reqid.len + sizeof(zeros) + vbl.len;
	msg_len = version.len + community.len + 1 +
	    snmp_trap_ber_put_len(NULL, pdu_len) + pdu_len;
	total = 1 + snmp_trap_ber_put_len(NULL, msg_len) + msg_len;
	if (ack == NULL || total > size)
		return 0;
	ack[off++] = BER_SEQUENCE;
	off += snmp_trap_ber_put_len(ack + off, msg_len);
	memcpy(ack + off, version.p, version.len);
	off += version.len;
	memcpy(ack + off, community.p, community.len);
	off += community.len;
	ack[off++] = PDU_RESPONSE;
	off += snmp_trap_ber_put_len(ack + off, pdu_len);
	memcpy(ack + off, reqid.p, reqid.len);
	off += reqid.len;
	memcpy(ack + off, zeros, sizeof(zeros));
	off += sizeof(zeros);
	memcpy(ack + off, vbl.p, vbl.len);
	off += vbl.len;
	return off;
}

/* Decodes the fields of a v2c Trap or InformRequest PDU into out. */
static int
snmp_trap_v2(struct ber pdu, struct snmp_trap *out, struct ber *reqid_tlv,
    struct ber *vbl_tlv)
{
	struct ber v, vbl;
	int64_t reqid, n;

	reqid_tlv->p = pdu.p;
	if (snmp_trap_ber_expect(&pdu, BER_INTEGER, &v) == -1 ||
	    snmp_trap_ber_int(&v, &reqid) == -1 || reqid < INT32_MIN ||
	    reqid > INT32_MAX)
		return -1;
	reqid_tlv->len = (size_t)(pdu.p - reqid_tlv->p);
	out->request_id = (int32_t)reqid;
	/* error-status and error-index mean nothing in a notification. */
	if (snmp_trap_ber_expect(&pdu, BER_INTEGER, &v) == -1 ||
	    snmp_trap_ber_int(&v, &n) == -1 ||
	    snmp_trap_ber_expect(&pdu, BER_INTEGER, &v) == -1 ||
	    snmp_trap_ber_int(&v, &n) == -1)
		return -1;
	vbl_tlv->p = pdu.p;
	if (snmp_trap_ber_expect(&pdu, BER_SEQUENCE, &vbl) == -1 ||
	    pdu.len != 0)
		return -1;
	vbl_tlv->len = (size_t)(pdu.p - vbl_tlv->p);
	return snmp_trap_varbind_list(vbl, 1, out);
}

/* The decoder proper; see snmp_trap_decode. */
static enum snmp_trap_drop
snmp_trap_decode_pdu(const uint8_t *buf, size_t len,
    const char *const *communities, size_t ncommunities, struct snmp_trap *out,
    uint8_t *ack, size_t *acklen)
{
	struct ber msg = { buf, len }, seq, v, comm, pdu;
	struct ber ver_tlv, comm_tlv;
	struct ber reqid_tlv = { NULL, 0 }, vbl_tlv = { NULL, 0 };
	size_t acksize = acklen != NULL ? *acklen : 0;
	int64_t version;
	uint8_t tag;
	int rc;

	memset(out, 0, sizeof(*out));
	out->if_index = -1;
	if (acklen != NULL)
		*acklen = 0;
	if (buf == NULL ||
	    snmp_trap_ber_expect(&msg, BER_SEQUENCE, &seq) == -1 ||
	    msg.len != 0)
		return SNMP_TRAP_DROP_MALFORMED;
	ver_tlv.p = seq.p;
	if (snmp_trap_ber_expect(&seq, BER_INTEGER, &v) == -1 ||
	    snmp_trap_ber_int(&v, &version) == -1)
		return SNMP_TRAP_DROP_MALFORMED;
	ver_tlv.len = (size_t)(seq.p - ver_tlv.p);
	/* 0 is SNMPv1, 1 SNMPv2c; 3 (SNMPv3) and the rest are not ours. */
	if (version != 0 && version != 1)
		return SNMP_TRAP_DROP_UNSUPPORTED_VERSION;
	comm_tlv.p = seq.p;
	if (snmp_trap_ber_expect(&seq, BER_OCTET_STRING, &comm) == -1)
		return SNMP_TRAP_DROP_MALFORMED;
	comm_tlv.len = (size_t)(seq.p - comm_tlv.p);
	if (!snmp_trap_community_ok(&comm, communities, ncommunities))
		return SNMP_TRAP_DROP_BAD_COMMUNITY;
	if (snmp_trap_ber_next(&seq, &tag, &pdu) == -1 || seq.len != 0)
		return SNMP_TRAP_DROP_MALFORMED;

	out->version = version == 0 ? 1 : 2;
	switch (tag) {
	case PDU_TRAP_V1:
		if (version != 0)
			return SNMP_TRAP_DROP_MALFORMED;
		rc = snmp_trap_v1(pdu, out);
		break;
	case PDU_TRAP_V2:
	case PDU_INFORM:
		if (version != 1)
			return SNMP_TRAP_DROP_MALFORMED;
		out->inform = tag == PDU_INFORM;
		rc = snmp_trap_v2(pdu, out, &reqid_tlv, &vbl_tlv);
		break;
	default:
		/* Get, Response, Report...: well formed, but not for us. */
		if (tag >= PDU_GET && tag <= PDU_REPORT)
			return SNMP_TRAP_DROP_UNSUPPORTED_PDU;
		return SNMP_TRAP_DROP_MALFORMED;
	}
	if (rc == -1) {
		snmp_trap_clear(out);
		return SNMP_TRAP_DROP_MALFORMED;
	}
	snmp_trap_classify(out);
	if (out->inform && acklen != NULL)
		*acklen = snmp_trap_inform_ack(ack, acksize, ver_tlv, comm_tlv,
		    reqid_tlv, vbl_tlv);
	return SNMP_TRAP_DROP_NONE;
}

/*
 * Decodes one datagram.  Returns 0 with out filled (free it with
 * snmp_trap_clear) and, for an inform, the Response to send back in ack
 * with its length in *acklen, which holds the size of ack on input (a
 * buffer as long as the datagram always suffices) and 0 on output when
 * there is nothing to send.  Returns -1 with *why saying why, and nothing
 * in out to free.  Pure: safe for any bytes, no I/O, no global state.
 */
int
snmp_trap_decode(const uint8_t *buf, size_t len, const char *const *communities,
    size_t ncommunities, struct snmp_trap *out, uint8_t *ack, size_t *acklen,
    const char **why)
{
	enum snmp_trap_drop d;

	d = snmp_trap_decode_pdu(buf, len, communities, ncommunities, out, ack,
	    acklen);
	if (why != NULL)
		*why = d == SNMP_TRAP_DROP_NONE ? NULL : snmp_trap_drop_str(d);
	return d == SNMP_TRAP_DROP_NONE ? 0 : -1;
}

/* Frees what snmp_trap_decode allocated in t; t may be cleared twice. */
void
snmp_trap_clear(struct snmp_trap *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nvarbinds; i++)
		free(t->varbinds[i].str);
	free(t->varbinds);
	t->varbinds = NULL;
	t->nvarbinds = 0;
}

/* Writes an OID in dotted form, without a leading dot. */
static void
snmp_trap_json_oid(struct evbuffer *b, const struct snmp_oid *o)
{
	size_t i;

	for (i = 0; i < o->len; i++)
		evbuffer_add_printf(b, i == 0 ? "%u" : ".%u", o->n[i]);
}

/*
 * Writes bytes as the inside of a JSON string.  Valid UTF-8 passes, '"'
 * and '\\' and the usual \n \r \t are escaped; any other control byte and
 * any invalid UTF-8 becomes U+FFFD, since PostgreSQL's jsonb refuses
 * invalid UTF-8 and \u0000.  Returns 1 if some byte was replaced.
 */
static int
snmp_trap_json_text(struct evbuffer *b, const uint8_t *p, size_t len)
{
	static const char fffd[] = "\xef\xbf\xbd";
	size_t i = 0, n, k;
	int replaced = 0;
	uint8_t c;

	while (i < len) {
		c = p[i];
		if (c < 0x80) {
			if (c == '"' || c == '\\')
				evbuffer_add_printf(b, "\\%c", c);
			else if (c == '\n')
				evbuffer_add(b, "\\n", 2);
			else if (c == '\r')
				evbuffer_add(b, "\\r", 2);
			else if (c == '\t')
				evbuffer_add(b, "\\t", 2);
			else if (c < 0x20 || c == 0x7f) {
				evbuffer_add(b, fffd, 3);
				replaced = 1;
			} else
				evbuffer_add(b, &p[i], 1);
			i++;
			continue;
		}
		n = c >= 0xc2 && c <= 0xdf ? 2 :
		    c >= 0xe0 && c <= 0xef ? 3 :
		    c >= 0xf0 && c <= 0xf4 ? 4 :
					     0;
		if (n > len - i)
			n = 0;
		for (k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				n = 0;
		/* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
		if ((n == 3 && c == 0xe0 && p[i + 1] < 0xa0) ||
		    (n == 3 && c == 0xed && p[i + 1] >= 0xa0) ||
		    (n == 4 && c == 0xf0 && p[i + 1] < 0x90) ||
		    (n == 4 && c == 0xf4 && p[i + 1] >= 0x90))
			n = 0;
		if (n == 0) {
			evbuffer_add(b, fffd, 3);
			replaced = 1;
			i++;
			continue;
		}
		evbuffer_add(b, &p[i], n);
		i += n;
	}
	return replaced;
}

/* Writes bytes in hexadecimal. */
static void
snmp_trap_json_hex(struct evbuffer *b, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		evbuffer_add_printf(b, "%02x", p[i]);
}

/* Names a value type in the JSON form of varbinds. */
static const char *
snmp_trap_json_type(enum snmp_vtype t)
{
	switch (t) {
	case SNMP_VT_NULL:
		return "null";
	case SNMP_VT_INTEGER:
		return "integer";
	case SNMP_VT_UNSIGNED:
		return "gauge32";
	case SNMP_VT_COUNTER32:
		return "counter32";
	case SNMP_VT_COUNTER64:
		return "counter64";
	case SNMP_VT_TIMETICKS:
		return "timeticks";
	case SNMP_VT_STRING:
		return "string";
	case SNMP_VT_OID:
		return "oid";
	case SNMP_VT_IPADDRESS:
		return "ipaddress";
	case SNMP_VT_NOSUCHOBJECT:
		return "noSuchObject";
	case SNMP_VT_NOSUCHINSTANCE:
		return "noSuchInstance";
	case SNMP_VT_ENDOFMIBVIEW:
		return "endOfMibView";
	case SNMP_VT_OTHER:
		return "opaque"; /* the only other type the decoder makes */
	}
	return "unknown";
}

/* Writes one varbind as a JSON object. */
static void
snmp_trap_json_varbind(struct evbuffer *b, const struct snmp_varbind *vb)
{
	const uint8_t *s = (const uint8_t *)vb->str;
	struct evbuffer *tmp;

	evbuffer_add(b, "{\"oid\":\"", 8);
	snmp_trap_json_oid(b, &vb->oid);
	evbuffer_add_printf(b, "\",\"type\":\"%s\",\"value\":\"",
	    snmp_trap_json_type(vb->type));
	switch (vb->type) {
	case SNMP_VT_INTEGER:
		evbuffer_add_printf(b, "%lld", (long long)vb->i);
		break;
	case SNMP_VT_UNSIGNED:
	case SNMP_VT_COUNTER32:
	case SNMP_VT_COUNTER64:
	case SNMP_VT_TIMETICKS:
		evbuffer_add_printf(b, "%llu", (unsigned long long)vb->u);
		break;
	case SNMP_VT_OID:
		snmp_trap_json_oid(b, &vb->oidval);
		break;
	case SNMP_VT_IPADDRESS:
		evbuffer_add_printf(b, "%u.%u.%u.%u",
		    (unsigned)(vb->u >> 24 & 0xff),
		    (unsigned)(vb->u >> 16 & 0xff),
		    (unsigned)(vb->u >> 8 & 0xff), (unsigned)(vb->u & 0xff));
		break;
	case SNMP_VT_OTHER:
		if (s != NULL)
			snmp_trap_json_hex(b, s, vb->str_len);
		break;
	case SNMP_VT_STRING:
		if (s == NULL)
			break;
		/* Binary strings (MAC addresses...) keep their bytes in hex. */
		if ((tmp = evbuffer_new()) == NULL)
			fatalx("snmp trap: cannot allocate a buffer");
		if (snmp_trap_json_text(tmp, s, vb->str_len)) {
			evbuffer_add_buffer(b, tmp);
			evbuffer_add(b, "\",\"hex\":\"", 9);
			snmp_trap_json_hex(b, s, vb->str_len);
		} else
			evbuffer_add_buffer(b, tmp);
		evbuffer_free(tmp);
		break;
	case SNMP_VT_NULL:
	case SNMP_VT_NOSUCHOBJECT:
	case SNMP_VT_NOSUCHINSTANCE:
	case SNMP_VT_ENDOFMIBVIEW:
		break;
	}
	evbuffer_add(b, "\"}", 2);
}

/*
 * Returns the trap's varbinds as a JSON array of {"oid", "type", "value"}
 * objects (and "hex" for a string whose bytes had to be replaced), valid
 * UTF-8 for jsonb.  The caller frees the string.
 */
char *
snmp_trap_varbinds_json(const struct snmp_trap *t)
{
	struct evbuffer *b;
	size_t i, len;
	char *s;

	if ((b = evbuffer_new()) == NULL)
		fatalx("snmp trap: cannot allocate a buffer");
	evbuffer_add(b, "[", 1);
	for (i = 0; i < t->nvarbinds; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		snmp_trap_json_varbind(b, &t->varbinds[i]);
	}
	evbuffer_add(b, "]", 2); /* with the NUL */
	len = evbuffer_get_length(b);
	s = xmalloc(len);
	if (evbuffer_remove(b, s, len) != (int)len)
		fatalx("snmp trap: cannot copy a buffer");
	evbuffer_free(b);
	return s;
}

/* Formats a socket address for debug logs. */
static const char *
snmp_trap_addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET &&
	    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) != NULL)
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	else if (ss->ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)) != NULL)
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	else
		snprintf(buf, size, "(unknown)");
	return buf;
}

/* Counts a dropped datagram under its reason. */
static void
snmp_trap_count_drop(struct snmp_trap_listener *l, enum snmp_trap_drop d)
{
	switch (d) {
	case SNMP_TRAP_DROP_NONE:
		break;
	case SNMP_TRAP_DROP_BAD_COMMUNITY:
		l->stats.bad_community++;
		break;
	case SNMP_TRAP_DROP_MALFORMED:
		l->stats.malformed++;
		break;
	case SNMP_TRAP_DROP_UNSUPPORTED_VERSION:
	case SNMP_TRAP_DROP_UNSUPPORTED_PDU:
		l->stats.unsupported++;
		break;
	}
}

/* Handles one received datagram: decode, acknowledge, hand over. */
static void
snmp_trap_handle(struct snmp_trap_listener *l, size_t len,
    const struct sockaddr_storage *ss, socklen_t sslen)
{
	struct snmp_trap t;
	enum snmp_trap_drop d;
	size_t acklen = SNMP_TRAP_BUFSIZE;
	char addr[INET6_ADDRSTRLEN + 16];

	l->stats.received++;
	d = snmp_trap_decode_pdu(l->buf, len,
	    (const char *const *)l->communities, l->ncommunities, &t, l->ack,
	    &acklen);
	if (d != SNMP_TRAP_DROP_NONE) {
		snmp_trap_count_drop(l, d);
		/* Debug only: a storm of junk must not flood the log. */
		log_debug("snmp trap: dropped %zu bytes from %s: %s", len,
		    snmp_trap_addr_str(ss, addr, sizeof(addr)),
		    snmp_trap_drop_str(d));
		return;
	}
	l->stats.accepted++;
	memcpy(&t.from, ss, sslen);
	t.fromlen = sslen;
	if (acklen > 0) {
		if (sendto(l->fd, l->ack, acklen, 0,
			(const struct sockaddr *)ss, sslen) == -1) {
			l->stats.send_errors++;
			log_debug("snmp trap: cannot acknowledge the inform "
				  "from %s: %s",
			    snmp_trap_addr_str(ss, addr, sizeof(addr)),
			    strerror(errno));
		} else
			l->stats.informs_acked++;
	}
	if (log_get_level() >= LOG_LEVEL_DEBUG)
		log_debug("snmp trap: v%s %s %s from %s, ifIndex %lld",
		    t.version == 1 ? "1" : "2c", t.inform ? "inform" : "trap",
		    snmp_trap_kind_str(t.kind),
		    snmp_trap_addr_str(ss, addr, sizeof(addr)),
		    (long long)t.if_index);
	l->in_cb = 1;
	l->cb(&t, l->arg);
	l->in_cb = 0;
	snmp_trap_clear(&t);
}

/* Reads what the socket holds, a bounded batch per wake-up. */
static void
snmp_trap_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct snmp_trap_listener *l = arg;
	struct sockaddr_storage ss;
	socklen_t sslen;
	ssize_t n;
	int i;

	(void)events;
	/*
	 * The event is level-triggered: what is left after a batch wakes us
	 * again, after the loop has served the other events.
	 */
	for (i = 0; i < SNMP_TRAP_BATCH && !l->dying; i++) {
		sslen = sizeof(ss);
		n = recvfrom(fd, l->buf, SNMP_TRAP_BUFSIZE, 0,
		    (struct sockaddr *)&ss, &sslen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				l->stats.recv_errors++;
				log_debug("snmp trap: recvfrom: %s",
				    strerror(errno));
			}
			break;
		}
		if (sslen > sizeof(ss))
			continue;
		snmp_trap_handle(l, (size_t)n, &ss, sslen);
	}
	if (l->dying) {
		l->in_cb = 0;
		snmp_trap_free(l);
	}
}

/* Opens and binds the UDP socket; returns it, or -1 with errno set. */
static int
snmp_trap_socket(const struct sockaddr_storage *ss, socklen_t sslen)
{
	int fd, on = 1, rcvbuf = SNMP_TRAP_RCVBUF, saved;

	fd =
	    socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* "[::]" means IPv6 only, as for the metrics endpoint. */
	if ((ss->ss_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) ==
		    -1) ||
	    bind(fd, (const struct sockaddr *)ss, sslen) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	/* Best effort: the kernel caps it at net.core.rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) ==
	    -1)
		log_debug("snmp trap: SO_RCVBUF: %s", strerror(errno));
	return fd;
}

/* Returns the port fd is bound to, or 0. */
static int
snmp_trap_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/*
 * Opens the trap receiver on listen ("127.0.0.1:162", "[::1]:1162"; port 0
 * picks one) and binds at once, so that the daemon can call it before it
 * drops privileges.  Only traps whose community is in the list (copied)
 * are accepted; an empty list accepts any.  cb gets every accepted trap,
 * from the loop; the trap is valid during the call only.  Returns NULL,
 * logged, if the address is bad or cannot be bound.
 */
struct snmp_trap_listener *
snmp_trap_new(struct event_base *base, const char *listen,
    const char *const *communities, size_t ncommunities, snmp_trap_cb cb,
    void *arg)
{
	struct snmp_trap_listener *l;
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *why;
	size_t i;
	int fd;

	if (httpd_parse_listen(listen, &ss, &sslen, &why) == -1) {
		log_warnx("snmp trap: bad listen address \"%s\": %s",
		    listen != NULL ? listen : "", why);
		return NULL;
	}
	if ((fd = snmp_trap_socket(&ss, sslen)) == -1) {
		log_warn("snmp trap: cannot listen on %s", listen);
		return NULL;
	}

	l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->port = snmp_trap_bound_port(fd);
	l->cb = cb;
	l->arg = arg;
	if (ncommunities > 0) {
		l->communities = xcalloc(ncommunities, sizeof(char *));
		for (i = 0; i < ncommunities; i++)
			l->communities[i] = xstrdup(communities[i]);
		l->ncommunities = ncommunities;
	}
	l->buf = xmalloc(SNMP_TRAP_BUFSIZE);
	l->ack = xmalloc(SNMP_TRAP_BUFSIZE);
	l->ev = event_new(base, fd, EV_READ | EV_PERSIST, snmp_trap_read_cb, l);
	if (l->ev == NULL || event_add(l->ev, NULL) == -1) {
		log_warnx("snmp trap: cannot add the read event");
		snmp_trap_free(l);
		return NULL;
	}
	log_info("snmp trap: listening on %s (%zu communities%s)", listen,
	    ncommunities, ncommunities == 0 ? ", any accepted" : "");
	return l;
}

/*
 * Closes the receiver.  NULL-safe; from inside the callback it only marks
 * the listener, which the read callback frees once the callback returns.
 */
void
snmp_trap_free(struct snmp_trap_listener *l)
{
	size_t i;

	if (l == NULL)
		return;
	if (l->in_cb) {
		l->dying = 1;
		return;
	}
	if (l->ev != NULL)
		event_free(l->ev);
	if (l->fd != -1)
		close(l->fd);
	for (i = 0; i < l->ncommunities; i++)
		free(l->communities[i]);
	free(l->communities);
	free(l->buf);
	free(l->ack);
	free(l);
}

/* Returns the bound port, which tests need after asking for port 0. */
int
snmp_trap_port(const struct snmp_trap_listener *l)
{
	return l->port;
}

/* Copies the counters, for /metrics. */
void
snmp_trap_stats(const struct snmp_trap_listener *l, struct snmp_trap_stats *st)
{
	*st = l->stats;
}
