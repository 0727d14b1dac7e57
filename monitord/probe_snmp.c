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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/errqueue.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* After ours: net-snmp's macros (SNMP_TRAP_COLDSTART...) would rename
 * enum values of monitord.h. */
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/keytools.h>
#include <net-snmp/library/large_fd_set.h>
#include <net-snmp/library/snmpusm.h>

/* What a request and its expected response should stay under, in bytes. */
#define SNMP_PDU_BUDGET 1400
/*
 * A guess of an unknown value's encoded size when sizing a PDU: counters,
 * gauges, integers and TimeTicks take 3 to 11 bytes.  A response that
 * does not fit after all comes back as tooBig, and the PDU is halved.
 */
#define SNMP_VALUE_GUESS 16
/* A guess of the index a table column adds to its OID. */
#define SNMP_INDEX_GUESS 6
/* A walk stops with an error past this many varbinds. */
#define SNMP_WALK_MAX 50000
/* The largest datagram read, and the largest message handed to net-snmp. */
#define SNMP_DATAGRAM_MAX 65536
#define SNMP_MSG_MAX 65507
/* Datagrams and ICMP errors handled per read event, for fairness. */
#define SNMP_READ_BATCH 256
#define SNMP_ERRQUEUE_BATCH 64
/* Socket buffers: a burst of answers from thousands of agents. */
#define SNMP_RCVBUF (4 * 1024 * 1024)
#define SNMP_SNDBUF (1024 * 1024)
/* The longest timeout per try, so that net-snmp's microseconds fit. */
#define SNMP_TIMEOUT_MAX_MS (3600ULL * 1000)
#define SNMP_RETRIES_MAX 20
/* Nesting a well-formed SNMP message never exceeds. */
#define SNMP_BER_DEPTH 8
#define SNMP_HASH_MIN 64

/* Where an agent is with the request at the head of its queue. */
enum snmp_agent_state {
	SNMP_AGENT_IDLE, /* nothing in flight */
	SNMP_AGENT_DISCOVERING, /* SNMPv3 engineID probe in flight */
	SNMP_AGENT_WAITING /* a PDU of the request in flight */
};

/* What net-snmp reported about the PDU in flight. */
enum snmp_rec_kind {
	SNMP_REC_NONE,
	SNMP_REC_RESPONSE,
	SNMP_REC_REPORT, /* SNMPv3 report, or a security error */
	SNMP_REC_TIMEOUT,
	SNMP_REC_SEND_FAILED,
	SNMP_REC_UNREACHABLE, /* an ICMP error came back */
	SNMP_REC_LOST /* net-snmp dropped it without telling */
};

/* What a request asks for. */
enum snmp_req_kind { SNMP_REQ_GET, SNMP_REQ_WALK };

/* A user in net-snmp's USM table, and how many of our agents use it. */
struct snmp_usm {
	struct snmp_usm *next;
	u_char *engineid;
	size_t len;
	char *user;
	unsigned refs;
	int created; /* by us, so ours to remove */
};

/* A key (Ku) derived from a passphrase, shared by every agent using it. */
struct snmp_ku {
	struct snmp_ku *next;
	enum snmp_auth auth;
	char *pass;
	u_char ku[USM_AUTH_KU_LEN];
	size_t len;
};

struct snmp_engine;

/* One shared UDP socket of an address family. */
struct snmp_sock {
	struct snmp_engine *engine;
	int family;
	int fd;
	struct event *ev;
	netsnmp_large_fd_set fds; /* just fd, for snmp_sess_read2 */
};

/* The engine: sockets, agents by source address, keys, counters. */
struct snmp_engine {
	struct event_base *base;
	struct snmp_sock sock[2]; /* IPv4, IPv6 */
	struct snmp_agent **hash;
	size_t nhash;
	TAILQ_HEAD(, snmp_agent) agents;
	struct snmp_ku *kus;
	struct snmp_usm **usm; /* our users in net-snmp's USM table */
	size_t nusm, usm_count;
	struct snmp_stats stats;
	uint8_t *rxbuf;
	int polled; /* read by snmp_engine_poll, not on arrival */
	uint64_t rx_ns; /* arrival (monotonic) of the datagram being read */
};

/* What net-snmp's callback recorded for the engine to act on. */
struct snmp_rec {
	enum snmp_rec_kind kind;
	int report; /* SNMPERR_* of a report or security error */
	int error; /* errno of a failed send or of an ICMP error */
	long errstat, errindex;
	struct snmp_varbind *vb;
	size_t nvb;
	uint64_t at_ns;
};

/* One request of the FIFO: a GET of many OIDs, or a walk of roots. */
struct snmp_req {
	TAILQ_ENTRY(snmp_req) link;
	enum snmp_req_kind kind;
	snmp_cb cb;
	void *arg;
	struct snmp_oid *oids; /* GET: the OIDs; walk: the roots */
	size_t n;
	struct snmp_varbind *vb; /* results; GET: one per OID, in order */
	size_t nvb, cap;
	size_t *vbroot; /* walk: the root of each result */
	/* GET: indexes still to fetch; the PDU in flight is the first pdu_n */
	size_t *todo;
	size_t ntodo;
	size_t max_per_pdu; /* lowered by tooBig */
	/* walk: per root, the last OID seen and whether it is done */
	struct snmp_oid *cursor;
	unsigned char *finished;
	size_t *cols; /* the roots in the PDU in flight */
	unsigned max_rep;
	/* the PDU in flight */
	size_t pdu_n;
	int rediscovered; /* after an unknown engine ID, once */
	int probe_answered; /* an engine ID probe was answered for it */
};

/* An SNMP agent: one net-snmp session on the shared socket, and a FIFO. */
struct snmp_agent {
	struct snmp_engine *engine;
	struct snmp_agent *hnext;
	TAILQ_ENTRY(snmp_agent) link;
	struct sockaddr_storage sa;
	socklen_t salen;
	struct snmp_sock *sock;
	char name[INET6_ADDRSTRLEN + 16]; /* "192.0.2.1:161", "[::1]:161" */
	enum snmp_version version;
	enum snmp_level level;
	enum snmp_auth auth;
	enum snmp_priv priv;
	char *community;
	char *user;
	const struct snmp_ku *auth_ku, *priv_ku;
	u_char *engineid; /* once discovered */
	size_t engineid_len;
	struct snmp_usm *usm; /* our reference to the USM user */
	uint64_t timeout_ms;
	unsigned retries;
	void *ss; /* net-snmp single session */
	struct event *ev; /* net-snmp's timer, and the kick to start */
	TAILQ_HEAD(, snmp_req) queue;
	enum snmp_agent_state state;
	struct snmp_rec rec;
	const uint8_t *stash; /* the datagram f_recv hands to net-snmp */
	size_t stash_len;
	uint64_t sent_ns;
	int closing; /* net-snmp's callbacks are ignored */
	int busy; /* inside the engine's code: free later */
	int dead;
};

/* What the custom transport knows; net-snmp frees it with the transport. */
struct snmp_tp_data {
	struct snmp_agent *agent;
};

static void snmp_engine_read_cb(evutil_socket_t, short, void *);
static void snmp_agent_timer_cb(evutil_socket_t, short, void *);
static void snmp_agent_run(struct snmp_agent *);
static void snmp_agent_send_next(struct snmp_agent *);

static int snmp_lib_ready;

static const char *const snmp_result_names[] = {
	[SNMP_RESULT_OK] = "ok",
	[SNMP_RESULT_TIMEOUT] = "timeout",
	[SNMP_RESULT_UNREACHABLE] = "unreachable",
	[SNMP_RESULT_AUTH] = "authentication error",
	[SNMP_RESULT_ERROR] = "error",
};

static const char *const snmp_vtype_names[] = {
	[SNMP_VT_NULL] = "NULL",
	[SNMP_VT_INTEGER] = "INTEGER",
	[SNMP_VT_UNSIGNED] = "Gauge32",
	[SNMP_VT_COUNTER32] = "Counter32",
	[SNMP_VT_COUNTER64] = "Counter64",
	[SNMP_VT_TIMETICKS] = "TimeTicks",
	[SNMP_VT_STRING] = "OCTET STRING",
	[SNMP_VT_OID] = "OBJECT IDENTIFIER",
	[SNMP_VT_IPADDRESS] = "IpAddress",
	[SNMP_VT_NOSUCHOBJECT] = "noSuchObject",
	[SNMP_VT_NOSUCHINSTANCE] = "noSuchInstance",
	[SNMP_VT_ENDOFMIBVIEW] = "endOfMibView",
	[SNMP_VT_OTHER] = "other",
};

static const char *const snmp_agent_state_names[] = {
	[SNMP_AGENT_IDLE] = "idle",
	[SNMP_AGENT_DISCOVERING] = "discovering",
	[SNMP_AGENT_WAITING] = "waiting",
};

/* Names a result for messages. */
const char *
snmp_result_str(enum snmp_result result)
{
	if ((unsigned)result > SNMP_RESULT_ERROR)
		return "unknown";
	return snmp_result_names[result];
}

/* Names a value type for messages. */
const char *
snmp_vtype_str(enum snmp_vtype type)
{
	if ((unsigned)type > SNMP_VT_OTHER)
		return "unknown";
	return snmp_vtype_names[type];
}

/* Names an agent state for logs. */
static const char *
snmp_agent_state_str(enum snmp_agent_state state)
{
	if ((unsigned)state > SNMP_AGENT_WAITING)
		return "unknown";
	return snmp_agent_state_names[state];
}

/* Moves an agent to another state and logs the move. */
static void
snmp_agent_set_state(struct snmp_agent *a, enum snmp_agent_state state)
{
	if (a->state == state)
		fatalx("snmp: %s: bad move %s -> %s", a->name,
		    snmp_agent_state_str(a->state),
		    snmp_agent_state_str(state));
	if (log_get_level() >= LOG_LEVEL_DEBUG)
		log_debug("snmp: %s: %s -> %s", a->name,
		    snmp_agent_state_str(a->state),
		    snmp_agent_state_str(state));
	a->state = state;
}

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
static int
snmp_oid_valid(const struct snmp_oid *oid)
{
	return oid->len >= 2 && oid->len <= SNMP_OID_MAX && oid->n[0] <= 2 &&
	    (oid->n[0] == 2 || oid->n[1] < 40);
}

/* The bytes one sub-identifier takes in BER. */
static size_t
snmp_ber_subid_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* The bytes an OID takes in BER, with its tag and length. */
static size_t
snmp_ber_oid_len(const struct snmp_oid *oid)
{
	size_t i, len;

	if (oid->len < 2)
		return 3;
	len = snmp_ber_subid_len((uint64_t)oid->n[0] * 40 + oid->n[1]);
	for (i = 2; i < oid->len; i++)
		len += snmp_ber_subid_len(oid->n[i]);
	return len + (len > 127 ? 3 : 2);
}

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
snmp_packet_check(const uint8_t *buf, size_t len, long *version)
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

/* The version number a message of this agent carries. */
static long
snmp_wire_version(enum snmp_version version)
{
	switch (version) {
	case SNMP_VERSION_V1:
		return 0;
	case SNMP_VERSION_V2C:
		return 1;
	case SNMP_VERSION_V3:
		break;
	}
	return 3;
}

/* Routes net-snmp's own messages to our log, at debug level. */
static int
snmp_lib_log_cb(int major, int minor, void *serverarg, void *clientarg)
{
	const struct snmp_log_message *m = serverarg;
	size_t len;

	(void)major;
	(void)minor;
	(void)clientarg;
	if (m == NULL || m->msg == NULL || log_get_level() < LOG_LEVEL_DEBUG)
		return 0;
	len = strlen(m->msg);
	while (len > 0 && (m->msg[len - 1] == '\n' || m->msg[len - 1] == '\r'))
		len--;
	log_debug("snmp: net-snmp: %.*s", (int)len, m->msg);
	return 0;
}

/*
 * Initialises net-snmp once per process: no MIB files, no configuration
 * files, no persistent state written, its log into ours.
 */
static void
snmp_lib_init(void)
{
	if (snmp_lib_ready)
		return;
	setenv("MIBS", "", 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
	    NETSNMP_DS_LIB_ALARM_DONT_USE_SIG, 1);
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING,
	    snmp_lib_log_cb, NULL);
	snmp_enable_calllog();
	init_snmp("monitord");
	snmp_lib_ready = 1;
}

/* Formats an address with its port: "192.0.2.1:161" or "[::1]:161". */
static void
snmp_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
	}
}

/* Hashes an address and port (FNV-1a); 0 for an unusable address. */
static uint64_t
snmp_addr_hash(const struct sockaddr *sa, socklen_t salen)
{
	const uint8_t *p;
	uint64_t h = 14695981039346656037ULL;
	size_t i, n;
	uint16_t port;

	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		p = (const uint8_t *)&s4->sin_addr;
		n = sizeof(s4->sin_addr);
		port = s4->sin_port;
	} else if (sa->sa_family == AF_INET6 &&
	    salen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		p = (const uint8_t *)&s6->sin6_addr;
		n = sizeof(s6->sin6_addr);
		port = s6->sin6_port;
	} else
		return 0;
	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	h ^= port;
	h *= 1099511628211ULL;
	return h;
}

/* Tells whether two addresses are the same, port and IPv6 scope included. */
static int
snmp_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		    x->sin6_scope_id == y->sin6_scope_id &&
		    memcmp(&x->sin6_addr, &y->sin6_addr,
			sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

/* Finds the agent that sends from this address and port, or NULL. */
static struct snmp_agent *
snmp_engine_lookup(const struct snmp_engine *e, const struct sockaddr *sa,
    socklen_t salen)
{
	struct snmp_agent *a;
	uint64_t h;

	if (sa == NULL || (h = snmp_addr_hash(sa, salen)) == 0)
		return NULL;
	for (a = e->hash[h & (e->nhash - 1)]; a != NULL; a = a->hnext) {
		if (snmp_addr_equal((const struct sockaddr *)&a->sa, sa))
			return a;
	}
	return NULL;
}

/* Puts an agent into the hash table, doubling it when it fills. */
static void
snmp_engine_hash_add(struct snmp_engine *e, struct snmp_agent *a)
{
	struct snmp_agent **nh, *x, *next;
	size_t i, nn, b;

	if (e->stats.agents >= e->nhash) {
		nn = e->nhash * 2;
		nh = xcalloc(nn, sizeof(*nh));
		for (i = 0; i < e->nhash; i++) {
			for (x = e->hash[i]; x != NULL; x = next) {
				next = x->hnext;
				b = snmp_addr_hash((struct sockaddr *)&x->sa,
					x->salen) &
				    (nn - 1);
				x->hnext = nh[b];
				nh[b] = x;
			}
		}
		free(e->hash);
		e->hash = nh;
		e->nhash = nn;
	}
	b = snmp_addr_hash((struct sockaddr *)&a->sa, a->salen) &
	    (e->nhash - 1);
	a->hnext = e->hash[b];
	e->hash[b] = a;
	e->stats.agents++;
}

/* Takes an agent out of the hash table. */
static void
snmp_engine_hash_remove(struct snmp_engine *e, struct snmp_agent *a)
{
	struct snmp_agent **pp;
	size_t b;

	b = snmp_addr_hash((struct sockaddr *)&a->sa, a->salen) &
	    (e->nhash - 1);
	for (pp = &e->hash[b]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == a) {
			*pp = a->hnext;
			a->hnext = NULL;
			e->stats.agents--;
			return;
		}
	}
}

/* Opens the shared socket of one family; -1 when the family is missing. */
static int
snmp_sock_open(struct snmp_engine *e, struct snmp_sock *s, int family)
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
snmp_sock_close(struct snmp_sock *s)
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
	snmp_lib_init();
	e = xcalloc(1, sizeof(*e));
	e->base = base;
	TAILQ_INIT(&e->agents);
	e->nhash = SNMP_HASH_MIN;
	e->hash = xcalloc(e->nhash, sizeof(*e->hash));
	e->nusm = SNMP_HASH_MIN;
	e->usm = xcalloc(e->nusm, sizeof(*e->usm));
	e->rxbuf = xmalloc(SNMP_DATAGRAM_MAX);
	v4 = snmp_sock_open(e, &e->sock[0], AF_INET);
	v6 = snmp_sock_open(e, &e->sock[1], AF_INET6);
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

/* Forgets a key, wiping the passphrase and the key first. */
static void
snmp_ku_free(struct snmp_ku *k)
{
	explicit_bzero(k->ku, sizeof(k->ku));
	explicit_bzero(k->pass, strlen(k->pass));
	free(k->pass);
	free(k);
}

static void snmp_agent_destroy(struct snmp_agent *);
static void snmp_agent_usm_release(struct snmp_agent *);
static void snmp_agent_cancel(struct snmp_agent *);

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
		snmp_ku_free(k);
	}
	snmp_sock_close(&e->sock[0]);
	snmp_sock_close(&e->sock[1]);
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

/* net-snmp's OID of an authentication protocol. */
static const oid *
snmp_auth_proto(enum snmp_auth auth, size_t *len)
{
	if (auth == SNMP_AUTH_SHA256) {
		*len = OID_LENGTH(usmHMAC192SHA256AuthProtocol);
		return usmHMAC192SHA256AuthProtocol;
	}
	*len = OID_LENGTH(usmHMACSHA1AuthProtocol);
	return usmHMACSHA1AuthProtocol;
}

/*
 * Returns the key derived from a passphrase for an authentication
 * protocol, computing it only the first time any agent asks: the
 * derivation hashes a megabyte, about 3 ms.  Keyed by the passphrase
 * itself, so a reload that brings new credential structs reuses it.
 */
static const struct snmp_ku *
snmp_engine_ku(struct snmp_engine *e, const char *cred, enum snmp_auth auth,
    const char *what, const char *pass)
{
	struct snmp_ku *k;
	const oid *proto;
	size_t plen;

	if (pass == NULL || strlen(pass) < USM_LENGTH_P_MIN) {
		log_warnx("snmp: credentials %s: the %s passphrase needs at "
			  "least %d characters",
		    cred, what, USM_LENGTH_P_MIN);
		return NULL;
	}
	for (k = e->kus; k != NULL; k = k->next) {
		if (k->auth == auth && strcmp(k->pass, pass) == 0)
			return k;
	}
	k = xcalloc(1, sizeof(*k));
	k->auth = auth;
	k->len = sizeof(k->ku);
	proto = snmp_auth_proto(auth, &plen);
	if (generate_Ku(proto, (u_int)plen, (const u_char *)pass, strlen(pass),
		k->ku, &k->len) != SNMPERR_SUCCESS) {
		log_warnx("snmp: credentials %s: cannot derive the %s key",
		    cred, what);
		free(k);
		return NULL;
	}
	k->pass = xstrdup(pass);
	k->next = e->kus;
	e->kus = k;
	e->stats.keys_computed++;
	return k;
}

/* Sends a message of an agent's session on the shared socket. */
static int
snmp_tp_send(netsnmp_transport *t, const void *buf, int size, void **opaque,
    int *olen)
{
	struct snmp_tp_data *d = t->data;
	struct snmp_agent *a = d->agent;
	struct snmp_engine *e = a->engine;
	ssize_t n;
	int i;

	(void)opaque;
	(void)olen;
	for (i = 0; i < 3; i++) {
		n = sendto(t->sock, buf, (size_t)size, 0,
		    (struct sockaddr *)&a->sa, a->salen);
		if (n >= 0) {
			e->stats.pdus_sent++;
			return (int)n;
		}
		/* An ICMP error for another agent may surface here once. */
		if (errno != EINTR && errno != ECONNREFUSED &&
		    errno != EHOSTUNREACH && errno != ENETUNREACH &&
		    errno != EHOSTDOWN && errno != EPROTO)
			break;
	}
	e->stats.send_errors++;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
		/* Like a datagram lost on the way: the retry timer resends. */
		log_debug("snmp: %s: send: %s", a->name, strerror(errno));
		return size;
	}
	return -1;
}

/* Hands net-snmp the datagram the engine matched to this agent. */
static int
snmp_tp_recv(netsnmp_transport *t, void *buf, int size, void **opaque,
    int *olen)
{
	struct snmp_tp_data *d = t->data;
	struct snmp_agent *a = d->agent;
	size_t n;

	if (opaque != NULL)
		*opaque = NULL;
	if (olen != NULL)
		*olen = 0;
	if (a->stash == NULL || size <= 0) {
		errno = EAGAIN;
		return -1;
	}
	n = a->stash_len < (size_t)size ? a->stash_len : (size_t)size;
	memcpy(buf, a->stash, n);
	a->stash = NULL;
	return (int)n;
}

/* Detaches from the shared socket, which the engine owns and closes. */
static int
snmp_tp_close(netsnmp_transport *t)
{
	t->sock = -1;
	return 0;
}

/* Names the agent for net-snmp's messages; net-snmp frees the string. */
static char *
snmp_tp_fmtaddr(netsnmp_transport *t, const void *data, int len)
{
	struct snmp_tp_data *d = t->data;
	char buf[sizeof(d->agent->name) + 8];

	(void)data;
	(void)len;
	snprintf(buf, sizeof(buf), "UDP: %s", d->agent->name);
	return strdup(buf);
}

/* Frees the varbinds net-snmp's callback converted. */
static void
snmp_vb_free(struct snmp_varbind *vb, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(vb[i].str);
	free(vb);
}

/* Forgets what net-snmp reported. */
static void
snmp_rec_clear(struct snmp_rec *r)
{
	snmp_vb_free(r->vb, r->nvb);
	memset(r, 0, sizeof(*r));
}

/* Copies a net-snmp OID; sub-identifiers past ours are cut. */
static void
snmp_oid_from_netsnmp(struct snmp_oid *dst, const oid *src, size_t len)
{
	size_t i;

	if (src == NULL)
		len = 0;
	if (len > SNMP_OID_MAX)
		len = SNMP_OID_MAX;
	for (i = 0; i < len; i++)
		dst->n[i] = (uint32_t)src[i];
	dst->len = len;
}

/*
 * An OID is 516 bytes, a varbind over a kilobyte: copy the sub-identifiers
 * in use, never the whole arrays, on the path every answer takes.
 */
static void
snmp_oid_copy(struct snmp_oid *dst, const struct snmp_oid *src)
{
	dst->len = src->len;
	memcpy(dst->n, src->n, src->len * sizeof(src->n[0]));
}

/* An empty varbind for oid. */
static void
snmp_vb_init(struct snmp_varbind *vb, const struct snmp_oid *oid)
{
	vb->type = SNMP_VT_NULL;
	vb->i = 0;
	vb->u = 0;
	vb->str = NULL;
	vb->str_len = 0;
	vb->oidval.len = 0;
	if (oid != NULL)
		snmp_oid_copy(&vb->oid, oid);
	else
		vb->oid.len = 0;
}

/* Moves src's value (not its OID) into dst; src keeps no string. */
static void
snmp_vb_move(struct snmp_varbind *dst, struct snmp_varbind *src)
{
	dst->type = src->type;
	dst->i = src->i;
	dst->u = src->u;
	dst->str = src->str;
	dst->str_len = src->str_len;
	snmp_oid_copy(&dst->oidval, &src->oidval);
	src->str = NULL;
	src->str_len = 0;
}

/* Copies bytes into a NUL-terminated string of the varbind. */
static void
snmp_vb_set_string(struct snmp_varbind *vb, const u_char *s, size_t len)
{
	vb->str = xmalloc(len + 1);
	if (len > 0 && s != NULL)
		memcpy(vb->str, s, len);
	else
		len = 0;
	vb->str[len] = '\0';
	vb->str_len = len;
}

/* Converts one of net-snmp's varbinds. */
static void
snmp_vb_convert(struct snmp_varbind *vb, const netsnmp_variable_list *v)
{
	snmp_vb_init(vb, NULL);
	snmp_oid_from_netsnmp(&vb->oid, v->name, v->name_length);
	switch (v->type) {
	case ASN_NULL:
		vb->type = SNMP_VT_NULL;
		break;
	case ASN_INTEGER:
		vb->type = SNMP_VT_INTEGER;
		if (v->val.integer != NULL)
			vb->i = *v->val.integer;
		break;
	case ASN_GAUGE: /* also Unsigned32 */
		vb->type = SNMP_VT_UNSIGNED;
		if (v->val.integer != NULL)
			vb->u = (uint32_t)*v->val.integer;
		break;
	case ASN_COUNTER:
		vb->type = SNMP_VT_COUNTER32;
		if (v->val.integer != NULL)
			vb->u = (uint32_t)*v->val.integer;
		break;
	case ASN_TIMETICKS:
		vb->type = SNMP_VT_TIMETICKS;
		if (v->val.integer != NULL)
			vb->u = (uint32_t)*v->val.integer;
		break;
	case ASN_COUNTER64:
		vb->type = SNMP_VT_COUNTER64;
		if (v->val.counter64 != NULL)
			vb->u =
			    ((uint64_t)(uint32_t)v->val.counter64->high << 32) |
			    (uint32_t)v->val.counter64->low;
		break;
	case ASN_OCTET_STR:
		vb->type = SNMP_VT_STRING;
		snmp_vb_set_string(vb, v->val.string, v->val_len);
		break;
	case ASN_OBJECT_ID:
		vb->type = SNMP_VT_OID;
		snmp_oid_from_netsnmp(&vb->oidval, v->val.objid,
		    v->val_len / sizeof(oid));
		break;
	case ASN_IPADDRESS:
		vb->type = SNMP_VT_IPADDRESS;
		if (v->val.string != NULL && v->val_len == 4)
			vb->u = (uint64_t)v->val.string[0] << 24 |
			    (uint64_t)v->val.string[1] << 16 |
			    (uint64_t)v->val.string[2] << 8 | v->val.string[3];
		break;
	case SNMP_NOSUCHOBJECT:
		vb->type = SNMP_VT_NOSUCHOBJECT;
		break;
	case SNMP_NOSUCHINSTANCE:
		vb->type = SNMP_VT_NOSUCHINSTANCE;
		break;
	case SNMP_ENDOFMIBVIEW:
		vb->type = SNMP_VT_ENDOFMIBVIEW;
		break;
	default:
		/* Opaque, floats, NsapAddress...: the raw bytes. */
		vb->type = SNMP_VT_OTHER;
		snmp_vb_set_string(vb, v->val.string, v->val_len);
		break;
	}
}

/*
 * Records what net-snmp says about the PDU in flight.  It runs inside
 * net-snmp, so it acts on nothing: the engine looks at the record once
 * net-snmp has returned.  Only one PDU of a session is ever in flight, so
 * every call is about it (reports may carry request id 0); the first
 * final word wins.
 */
static int
snmp_agent_netsnmp_cb(int op, netsnmp_session *sp, int reqid, netsnmp_pdu *pdu,
    void *magic)
{
	struct snmp_agent *a = magic;
	struct snmp_rec *r = &a->rec;
	netsnmp_variable_list *v;
	size_t i, n;
	int type;

	(void)reqid;
	if (a->closing || a->state == SNMP_AGENT_IDLE ||
	    r->kind != SNMP_REC_NONE)
		return 1;
	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		if (pdu == NULL)
			break;
		if (pdu->command == SNMP_MSG_REPORT) {
			type = snmpv3_get_report_type(pdu);
			/* net-snmp resends after notInTimeWindow by itself */
			if (type == SNMPERR_NOT_IN_TIME_WINDOW) {
				r->report = type;
				break;
			}
			r->kind = SNMP_REC_REPORT;
			r->report = type;
			break;
		}
		r->kind = SNMP_REC_RESPONSE;
		r->errstat = pdu->errstat;
		r->errindex = pdu->errindex;
		for (n = 0, v = pdu->variables; v != NULL; v = v->next_variable)
			n++;
		/* each one set by snmp_vb_convert */
		r->vb = n ? xreallocarray(NULL, n, sizeof(*r->vb)) : NULL;
		for (i = 0, v = pdu->variables; v != NULL && i < n;
		     v = v->next_variable, i++)
			snmp_vb_convert(&r->vb[i], v);
		r->nvb = n;
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		r->kind = SNMP_REC_TIMEOUT;
		break;
	case NETSNMP_CALLBACK_OP_SEND_FAILED:
		r->kind = SNMP_REC_SEND_FAILED;
		r->error = sp->s_errno;
		break;
	case NETSNMP_CALLBACK_OP_SEC_ERROR:
		type = pdu != NULL ? snmpv3_get_report_type(pdu) :
				     SNMPERR_UNKNOWN_REPORT;
		if (type == SNMPERR_UNKNOWN_REPORT && sp->s_snmp_errno != 0)
			type = sp->s_snmp_errno;
		r->report = type;
		/* Possibly resent: if not, snmp_agent_step finds it gone. */
		if (type == SNMPERR_NOT_IN_TIME_WINDOW ||
		    type == SNMPERR_USM_NOTINTIMEWINDOW)
			break;
		r->kind = SNMP_REC_REPORT;
		break;
	case NETSNMP_CALLBACK_OP_RESEND:
		a->sent_ns = timeutil_mono_ns();
		a->engine->stats.retries++;
		return 1;
	default:
		return 1;
	}
	if (r->kind != SNMP_REC_NONE)
		r->at_ns = a->engine->rx_ns != 0 ? a->engine->rx_ns :
						   timeutil_mono_ns();
	return 1;
}

/*
 * Creates the agent's net-snmp session on the shared socket, with the
 * engineID already known if it was discovered before.
 */
static int
snmp_agent_open(struct snmp_agent *a)
{
	netsnmp_session s, *sp;
	netsnmp_transport *t;
	struct snmp_tp_data *d;
	const oid *proto;
	size_t plen;

	snmp_sess_init(&s);
	s.timeout = (long)(a->timeout_ms * 1000);
	s.retries = (int)a->retries;
	s.peername = a->name;
	switch (a->version) {
	case SNMP_VERSION_V1:
	case SNMP_VERSION_V2C:
		s.version = a->version == SNMP_VERSION_V1 ? SNMP_VERSION_1 :
							    SNMP_VERSION_2c;
		s.community = (u_char *)a->community;
		s.community_len = strlen(a->community);
		break;
	case SNMP_VERSION_V3:
		s.version = SNMP_VERSION_3;
		s.securityModel = SNMP_SEC_MODEL_USM;
		s.securityName = a->user;
		s.securityNameLen = strlen(a->user);
		s.securityLevel = SNMP_SEC_LEVEL_NOAUTH;
		if (a->level == SNMP_LEVEL_AUTHNOPRIV)
			s.securityLevel = SNMP_SEC_LEVEL_AUTHNOPRIV;
		else if (a->level == SNMP_LEVEL_AUTHPRIV)
			s.securityLevel = SNMP_SEC_LEVEL_AUTHPRIV;
		if (a->auth_ku != NULL) {
			proto = snmp_auth_proto(a->auth, &plen);
			s.securityAuthProto = (oid *)proto;
			s.securityAuthProtoLen = plen;
			memcpy(s.securityAuthKey, a->auth_ku->ku,
			    a->auth_ku->len);
			s.securityAuthKeyLen = a->auth_ku->len;
		}
		if (a->priv_ku != NULL) {
			s.securityPrivProto = usmAESPrivProtocol;
			s.securityPrivProtoLen = OID_LENGTH(usmAESPrivProtocol);
			memcpy(s.securityPrivKey, a->priv_ku->ku,
			    a->priv_ku->len);
			s.securityPrivKeyLen = a->priv_ku->len;
		}
		if (a->engineid != NULL) {
			s.securityEngineID = a->engineid;
			s.securityEngineIDLen = a->engineid_len;
			s.contextEngineID = a->engineid;
			s.contextEngineIDLen = a->engineid_len;
		}
		/* Never the blocking probe inside snmp_sess_add. */
		s.flags |= SNMP_FLAGS_DONT_PROBE;
		break;
	}

	t = calloc(1, sizeof(*t));
	d = calloc(1, sizeof(*d));
	if (t == NULL || d == NULL)
		fatalx("snmp: out of memory");
	d->agent = a;
	t->data = d;
	t->data_length = (int)sizeof(*d);
	t->domain = netsnmpUDPDomain;
	t->domain_length = netsnmpUDPDomain_len;
	t->sock = a->sock->fd;
	t->msgMaxSize = SNMP_MSG_MAX;
	t->f_send = snmp_tp_send;
	t->f_recv = snmp_tp_recv;
	t->f_close = snmp_tp_close;
	t->f_fmtaddr = snmp_tp_fmtaddr;

	a->ss = snmp_sess_add(&s, t, NULL, NULL);
	explicit_bzero(s.securityAuthKey, sizeof(s.securityAuthKey));
	explicit_bzero(s.securityPrivKey, sizeof(s.securityPrivKey));
	if (a->ss == NULL) {
		log_warnx("snmp: %s: cannot create a net-snmp session (error "
			  "%d)",
		    a->name, s.s_snmp_errno);
		return -1;
	}
	/* snmp_sess_add clears it; without it the first send would probe,
	 * blocking. */
	sp = snmp_sess_session(a->ss);
	if (a->version == SNMP_VERSION_V3)
		sp->flags |= SNMP_FLAGS_DONT_PROBE;
	return 0;
}

/* Closes the agent's session; its outstanding PDU goes silently. */
static void
snmp_agent_close(struct snmp_agent *a)
{
	if (a->ss == NULL)
		return;
	a->closing = 1;
	snmp_sess_close(a->ss);
	a->closing = 0;
	a->ss = NULL;
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
	snmp_addr_str(sa, name, sizeof(name));
	if (s->fd == -1) {
		/* said once already by snmp_engine_new */
		log_debug("snmp: %s: no %s socket", name,
		    s == &e->sock[1] ? "IPv6" : "IPv4");
		return NULL;
	}
	if (snmp_engine_lookup(e, sa, salen) != NULL) {
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
		    (a->auth_ku = snmp_engine_ku(e, cname, cred->auth, "auth",
			 cred->auth_pass)) == NULL)
			goto fail;
		if (cred->level == SNMP_LEVEL_AUTHPRIV &&
		    (a->priv_ku = snmp_engine_ku(e, cname, cred->auth, "priv",
			 cred->priv_pass)) == NULL)
			goto fail;
		break;
	default:
		log_warnx("snmp: credentials %s: unknown version", cname);
		goto fail;
	}
	if ((a->ev = evtimer_new(e->base, snmp_agent_timer_cb, a)) == NULL) {
		log_warnx("snmp: %s: evtimer_new failed", name);
		goto fail;
	}
	if (snmp_agent_open(a) == -1)
		goto fail;
	snmp_engine_hash_add(e, a);
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

/* Frees a request and what it collected. */
static void
snmp_req_free(struct snmp_req *r)
{
	if (r == NULL)
		return;
	snmp_vb_free(r->vb, r->nvb);
	free(r->oids);
	free(r->vbroot);
	free(r->todo);
	free(r->cursor);
	free(r->finished);
	free(r->cols);
	free(r);
}

/* Drops every request of an agent without calling back. */
static void
snmp_agent_cancel(struct snmp_agent *a)
{
	struct snmp_req *r;

	while ((r = TAILQ_FIRST(&a->queue)) != NULL) {
		TAILQ_REMOVE(&a->queue, r, link);
		a->engine->stats.queued--;
		snmp_req_free(r);
	}
	snmp_rec_clear(&a->rec);
	if (a->state != SNMP_AGENT_IDLE)
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
}

/* Releases the agent's memory once no engine code uses it any more. */
static void
snmp_agent_destroy(struct snmp_agent *a)
{
	if (!a->dead) {
		snmp_agent_close(a);
		snmp_agent_usm_release(a);
		snmp_engine_hash_remove(a->engine, a);
		TAILQ_REMOVE(&a->engine->agents, a, link);
		event_free(a->ev);
		a->ev = NULL;
		a->dead = 1;
	}
	if (a->busy > 0)
		return;
	if (a->community != NULL) {
		explicit_bzero(a->community, strlen(a->community));
		free(a->community);
	}
	free(a->user);
	free(a->engineid);
	free(a);
}

/*
 * Frees an agent: queued and in-flight requests end without callbacks.
 * Allowed from inside the agent's own callback.
 */
void
snmp_agent_free(struct snmp_agent *a)
{
	if (a == NULL || a->dead)
		return;
	snmp_agent_cancel(a);
	snmp_agent_destroy(a);
}

/* Marks the agent in use by the engine, so that a free waits. */
static void
snmp_agent_enter(struct snmp_agent *a)
{
	a->busy++;
}

/* Ends a use; frees the agent if it was freed meanwhile. */
static void
snmp_agent_leave(struct snmp_agent *a)
{
	if (--a->busy == 0 && a->dead)
		snmp_agent_destroy(a);
}

/* Tells how many tries a request gets and how long they take. */
static void
snmp_agent_timeout_reason(struct snmp_agent *a, char *buf, size_t size,
    const char *what)
{
	unsigned tries = a->retries + 1;

	snprintf(buf, size, "no response%s after %u tr%s (%.1f s)", what, tries,
	    tries == 1 ? "y" : "ies", (double)a->timeout_ms * tries / 1000.0);
}

/* Describes an SNMPv3 report or security error; the result it means. */
static enum snmp_result
snmp_report_reason(int report, char *buf, size_t size)
{
	const char *s;

	switch (report) {
	case SNMPERR_UNKNOWN_USER_NAME:
	case SNMPERR_USM_UNKNOWNSECURITYNAME:
		s = "SNMPv3: unknown user name";
		break;
	case SNMPERR_AUTHENTICATION_FAILURE:
	case SNMPERR_USM_AUTHENTICATIONFAILURE:
		s = "SNMPv3: wrong digest (auth password or protocol?)";
		break;
	case SNMPERR_DECRYPTION_ERR:
		s = "SNMPv3: decryption error (priv password?)";
		break;
	case SNMPERR_UNSUPPORTED_SEC_LEVEL:
	case SNMPERR_USM_UNSUPPORTEDSECURITYLEVEL:
		s = "SNMPv3: unsupported security level";
		break;
	case SNMPERR_NOT_IN_TIME_WINDOW:
	case SNMPERR_USM_NOTINTIMEWINDOW:
		s = "SNMPv3: not in time window";
		break;
	case SNMPERR_UNKNOWN_ENG_ID:
	case SNMPERR_USM_UNKNOWNENGINEID:
		s = "SNMPv3: unknown engine ID";
		break;
	case SNMPERR_UNKNOWN_SEC_MODEL:
		s = "SNMPv3: unknown security model";
		break;
	case SNMPERR_BAD_CONTEXT:
		snprintf(buf, size, "SNMPv3: unknown context");
		return SNMP_RESULT_ERROR;
	case SNMPERR_INVALID_MSG:
		snprintf(buf, size,
		    "SNMPv3: the agent found our message invalid");
		return SNMP_RESULT_ERROR;
	case SNMPERR_BAD_VERSION:
		snprintf(buf, size, "SNMPv3: no handler for the PDU");
		return SNMP_RESULT_ERROR;
	case SNMPERR_USM_ENCRYPTIONERROR:
		s = "SNMPv3: encryption error";
		break;
	default:
		snprintf(buf, size, "SNMPv3: security error %d", report);
		return SNMP_RESULT_AUTH;
	}
	snprintf(buf, size, "%s", s);
	return SNMP_RESULT_AUTH;
}

/* Describes an ICMP error, or a send error, about the agent. */
static void
snmp_icmp_reason(int error, char *buf, size_t size)
{
	switch (error) {
	case ECONNREFUSED:
		snprintf(buf, size, "port unreachable");
		break;
	case EHOSTUNREACH:
		snprintf(buf, size, "host unreachable");
		break;
	case ENETUNREACH:
		snprintf(buf, size, "network unreachable");
		break;
	case EACCES:
	case EPERM:
		snprintf(buf, size, "administratively prohibited");
		break;
	default:
		snprintf(buf, size, "ICMP error: %s", strerror(error));
		break;
	}
}

/* Tells whether an errno means the agent cannot be reached. */
static int
snmp_error_unreachable(int error)
{
	return error == ECONNREFUSED || error == EHOSTUNREACH ||
	    error == ENETUNREACH || error == EHOSTDOWN || error == ENETDOWN;
}

/*
 * Ends the request at the head of the queue and calls its callback; the
 * callback may free the agent or queue more.  OK hands over what the
 * request collected; other results carry no varbinds.
 */
static void
snmp_agent_finish(struct snmp_agent *a, enum snmp_result result, long errstat,
    long errindex, const char *reason)
{
	struct snmp_engine *e = a->engine;
	struct snmp_req *r;
	struct snmp_response resp;

	r = TAILQ_FIRST(&a->queue);
	TAILQ_REMOVE(&a->queue, r, link);
	e->stats.queued--;
	switch (result) {
	case SNMP_RESULT_OK:
		break;
	case SNMP_RESULT_TIMEOUT:
		e->stats.timeouts++;
		break;
	case SNMP_RESULT_UNREACHABLE:
		e->stats.unreachable++;
		break;
	case SNMP_RESULT_AUTH:
		e->stats.auth_errors++;
		break;
	case SNMP_RESULT_ERROR:
		e->stats.errors++;
		break;
	}
	if (a->state != SNMP_AGENT_IDLE)
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
	memset(&resp, 0, sizeof(resp));
	resp.result = result;
	resp.error_status = errstat;
	resp.error_index = errindex;
	snprintf(resp.reason, sizeof(resp.reason), "%s",
	    reason != NULL ? reason : "");
	if (a->rec.kind == SNMP_REC_RESPONSE && a->rec.at_ns > a->sent_ns)
		resp.rtt_us = (a->rec.at_ns - a->sent_ns) / 1000;
	if (result == SNMP_RESULT_OK && errstat == 0) {
		resp.vb = r->vb;
		resp.nvb = r->nvb;
	}
	snmp_rec_clear(&a->rec);
	if (log_get_level() >= LOG_LEVEL_DEBUG)
		log_debug("snmp: %s: %s %s%s%s", a->name,
		    r->kind == SNMP_REQ_GET ? "get" : "walk",
		    snmp_result_str(result), resp.reason[0] ? ": " : "",
		    resp.reason);
	snmp_agent_enter(a);
	r->cb(&resp, r->arg);
	snmp_agent_leave(a);
	snmp_req_free(r);
}

/* Ends the request because its PDU could not be sent. */
static void
snmp_agent_send_failed(struct snmp_agent *a, int error, int serr)
{
	char reason[128];

	if (snmp_error_unreachable(error)) {
		snmp_icmp_reason(error, reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_UNREACHABLE, 0, 0, reason);
		return;
	}
	if (error != 0)
		snprintf(reason, sizeof(reason), "cannot send: %s",
		    strerror(error));
	else
		snprintf(reason, sizeof(reason),
		    "cannot build the request (net-snmp error %d)", serr);
	snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0, reason);
}

/*
 * Hands a PDU to net-snmp; on failure ends the request and returns -1.
 * The PDU is net-snmp's from then on.
 */
static int
snmp_agent_send(struct snmp_agent *a, netsnmp_pdu *pdu,
    enum snmp_agent_state state)
{
	netsnmp_session *sp = snmp_sess_session(a->ss);
	int error, serr;

	snmp_rec_clear(&a->rec);
	snmp_agent_set_state(a, state);
	a->sent_ns = timeutil_mono_ns();
	if (snmp_sess_async_send(a->ss, pdu, snmp_agent_netsnmp_cb, a) == 0) {
		error =
		    sp->s_snmp_errno == SNMPERR_BAD_SENDTO ? sp->s_errno : 0;
		serr = sp->s_snmp_errno;
		snmp_free_pdu(pdu);
		snmp_rec_clear(&a->rec);
		snmp_agent_send_failed(a, error, serr);
		return -1;
	}
	return 0;
}

/* The bytes left for varbinds in a message of this agent. */
static size_t
snmp_agent_budget(const struct snmp_agent *a)
{
	size_t overhead;

	if (a->version == SNMP_VERSION_V3)
		overhead = 140 + 2 * a->engineid_len + strlen(a->user);
	else
		overhead = 40 + strlen(a->community);
	if (overhead > SNMP_PDU_BUDGET / 2)
		overhead = SNMP_PDU_BUDGET / 2;
	return SNMP_PDU_BUDGET - overhead;
}

/* Converts one of our OIDs for net-snmp. */
static size_t
snmp_oid_to_netsnmp(const struct snmp_oid *src, oid *dst)
{
	size_t i;

	for (i = 0; i < src->len; i++)
		dst[i] = src->n[i];
	return src->len;
}

/* Sends the next GET PDU: as many pending OIDs as fit the budget. */
static void
snmp_get_send(struct snmp_agent *a, struct snmp_req *r)
{
	netsnmp_pdu *pdu;
	oid name[SNMP_OID_MAX];
	size_t budget, used = 0, cost, k, len;

	budget = snmp_agent_budget(a);
	for (k = 0; k < r->ntodo && k < r->max_per_pdu; k++) {
		cost = snmp_ber_oid_len(&r->oids[r->todo[k]]) + 4 +
		    SNMP_VALUE_GUESS;
		if (k > 0 && used + cost > budget)
			break;
		used += cost;
	}
	r->pdu_n = k;
	if ((pdu = snmp_pdu_create(SNMP_MSG_GET)) == NULL)
		fatalx("snmp: out of memory");
	for (k = 0; k < r->pdu_n; k++) {
		len = snmp_oid_to_netsnmp(&r->oids[r->todo[k]], name);
		snmp_add_null_var(pdu, name, len);
	}
	snmp_agent_send(a, pdu, SNMP_AGENT_WAITING);
}

/* Sends the next walk PDU: GETBULK, or GETNEXT for SNMPv1. */
static void
snmp_walk_send(struct snmp_agent *a, struct snmp_req *r)
{
	netsnmp_pdu *pdu;
	oid name[SNMP_OID_MAX];
	size_t budget, vbcost, i, k, maxcols, len, reps;

	budget = snmp_agent_budget(a);
	maxcols = r->max_per_pdu;
	for (i = 0, k = 0; i < r->n && k < maxcols; i++) {
		if (r->finished[i])
			continue;
		vbcost = snmp_ber_oid_len(&r->oids[i]) + SNMP_INDEX_GUESS + 4 +
		    SNMP_VALUE_GUESS;
		if (k > 0 && (k + 1) * vbcost > budget)
			break;
		r->cols[k++] = i;
	}
	r->pdu_n = k;
	vbcost = 0;
	for (i = 0; i < k; i++)
		vbcost += snmp_ber_oid_len(&r->oids[r->cols[i]]) +
		    SNMP_INDEX_GUESS + 4 + SNMP_VALUE_GUESS;
	reps = vbcost ? budget / vbcost : 1;
	if (reps < 1)
		reps = 1;
	if (reps > r->max_rep)
		reps = r->max_rep;
	if (a->version == SNMP_VERSION_V1)
		pdu = snmp_pdu_create(SNMP_MSG_GETNEXT);
	else {
		pdu = snmp_pdu_create(SNMP_MSG_GETBULK);
		if (pdu != NULL) {
			pdu->non_repeaters = 0;
			pdu->max_repetitions = (long)reps;
		}
	}
	if (pdu == NULL)
		fatalx("snmp: out of memory");
	for (i = 0; i < k; i++) {
		len = snmp_oid_to_netsnmp(&r->cursor[r->cols[i]], name);
		snmp_add_null_var(pdu, name, len);
	}
	snmp_agent_send(a, pdu, SNMP_AGENT_WAITING);
}

/* Sends the engineID discovery probe, like net-snmp's, asynchronously. */
static void
snmp_agent_discover(struct snmp_agent *a)
{
	netsnmp_pdu *pdu;
	struct usmUser *u;

	/* The probe uses the empty user of no security. */
	if (usm_get_user(NULL, 0, "") == NULL) {
		u = xcalloc(1, sizeof(*u));
		u->name = xstrdup("");
		u->secName = xstrdup("");
		u->authProtocolLen = OID_LENGTH(usmNoAuthProtocol);
		u->authProtocol =
		    snmp_duplicate_objid(usmNoAuthProtocol, u->authProtocolLen);
		u->privProtocolLen = OID_LENGTH(usmNoPrivProtocol);
		u->privProtocol =
		    snmp_duplicate_objid(usmNoPrivProtocol, u->privProtocolLen);
		usm_add_user(u);
	}
	if ((pdu = snmp_pdu_create(SNMP_MSG_GET)) == NULL)
		fatalx("snmp: out of memory");
	pdu->version = SNMP_VERSION_3;
	pdu->securityName = xstrdup("");
	pdu->securityNameLen = 0;
	pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
	pdu->securityModel = SNMP_SEC_MODEL_USM;
	snmp_agent_send(a, pdu, SNMP_AGENT_DISCOVERING);
}

/* Hashes an engine ID and a user name (FNV-1a). */
static uint64_t
snmp_usm_hash(const u_char *engineid, size_t len, const char *user)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= engineid[i];
		h *= 1099511628211ULL;
	}
	for (i = 0; user[i] != '\0'; i++) {
		h ^= (uint8_t)user[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Finds the engine's record of a USM user, or NULL. */
static struct snmp_usm *
snmp_engine_usm_find(const struct snmp_engine *e, const u_char *engineid,
    size_t len, const char *user)
{
	struct snmp_usm *u;

	for (u = e->usm[snmp_usm_hash(engineid, len, user) & (e->nusm - 1)];
	     u != NULL; u = u->next) {
		if (u->len == len && memcmp(u->engineid, engineid, len) == 0 &&
		    strcmp(u->user, user) == 0)
			return u;
	}
	return NULL;
}

/* Adds a record of a USM user, doubling the table when it fills. */
static struct snmp_usm *
snmp_engine_usm_add(struct snmp_engine *e, const u_char *engineid, size_t len,
    const char *user)
{
	struct snmp_usm **nh, *u, *next;
	size_t i, nn, b;

	if (e->usm_count >= e->nusm) {
		nn = e->nusm * 2;
		nh = xcalloc(nn, sizeof(*nh));
		for (i = 0; i < e->nusm; i++) {
			for (u = e->usm[i]; u != NULL; u = next) {
				next = u->next;
				b = snmp_usm_hash(u->engineid, u->len,
					u->user) &
				    (nn - 1);
				u->next = nh[b];
				nh[b] = u;
			}
		}
		free(e->usm);
		e->usm = nh;
		e->nusm = nn;
	}
	u = xcalloc(1, sizeof(*u));
	u->engineid = xmalloc(len);
	memcpy(u->engineid, engineid, len);
	u->len = len;
	u->user = xstrdup(user);
	b = snmp_usm_hash(engineid, len, user) & (e->nusm - 1);
	u->next = e->usm[b];
	e->usm[b] = u;
	e->usm_count++;
	return u;
}

/* Takes a user out of net-snmp's USM table and frees it. */
static void
snmp_usm_drop_user(const u_char *engineid, size_t len, const char *user)
{
	struct usmUser *nu;

	if ((nu = usm_get_user(engineid, len, user)) == NULL)
		return;
	usm_remove_user(nu);
	nu->next = nu->prev = NULL;
	usm_free_user(nu);
}

/*
 * Lets go of the agent's USM user; the last agent using it removes it
 * from net-snmp's table if we put it there, so that new keys for the same
 * engine ID and user (a corrected password, after a reload) can take its
 * place.
 */
static void
snmp_agent_usm_release(struct snmp_agent *a)
{
	struct snmp_engine *e = a->engine;
	struct snmp_usm **pp, *u = a->usm;

	if (u == NULL)
		return;
	a->usm = NULL;
	if (--u->refs > 0)
		return;
	if (u->created)
		snmp_usm_drop_user(u->engineid, u->len, u->user);
	for (pp = &e->usm[snmp_usm_hash(u->engineid, u->len, u->user) &
		 (e->nusm - 1)];
	     *pp != NULL; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	e->usm_count--;
	free(u->engineid);
	free(u->user);
	free(u);
}

/* Forgets the engineID, so that the next request discovers it again. */
static int
snmp_agent_forget_engine(struct snmp_agent *a)
{
	snmp_agent_usm_release(a);
	free(a->engineid);
	a->engineid = NULL;
	a->engineid_len = 0;
	snmp_agent_close(a);
	return snmp_agent_open(a);
}

/* Tells whether a USM user holds other protocols or keys than ours. */
static int
snmp_agent_usm_differs(const struct snmp_agent *a, netsnmp_session *sp,
    const struct usmUser *u)
{
	const oid *proto;
	size_t plen, len;
	u_char kul[USM_AUTH_KU_LEN];
	int differs = 0;

	if (a->auth_ku == NULL)
		return 0;
	proto = snmp_auth_proto(a->auth, &plen);
	if (u->authProtocol == NULL || u->authKey == NULL ||
	    snmp_oid_compare(u->authProtocol, u->authProtocolLen, proto,
		plen) != 0)
		return 1;
	len = sizeof(kul);
	if (generate_kul(proto, (u_int)plen, sp->securityEngineID,
		sp->securityEngineIDLen, a->auth_ku->ku, a->auth_ku->len, kul,
		&len) != SNMPERR_SUCCESS ||
	    u->authKeyLen != len || memcmp(u->authKey, kul, len) != 0)
		differs = 1;
	if (!differs && a->priv_ku != NULL) {
		len = sizeof(kul);
		if (u->privKey == NULL || u->privProtocol == NULL ||
		    snmp_oid_compare(u->privProtocol, u->privProtocolLen,
			usmAESPrivProtocol,
			OID_LENGTH(usmAESPrivProtocol)) != 0 ||
		    generate_kul(proto, (u_int)plen, sp->securityEngineID,
			sp->securityEngineIDLen, a->priv_ku->ku,
			a->priv_ku->len, kul, &len) != SNMPERR_SUCCESS)
			differs = 1;
		else {
			if (len > u->privKeyLen)
				len = u->privKeyLen;
			if (len > 16)
				len = 16; /* AES-128 uses the first 16 bytes */
			differs = memcmp(u->privKey, kul, len) != 0;
		}
	}
	explicit_bzero(kul, sizeof(kul));
	return differs;
}

/*
 * Sets up the agent's user in net-snmp's USM table, which holds one user
 * per (engine ID, name): returns -1 when another agent with the same
 * engine ID (a cloned device) uses other keys for that user, -2 when
 * net-snmp fails.
 */
static int
snmp_agent_usm_acquire(struct snmp_agent *a, netsnmp_session *sp)
{
	struct snmp_engine *e = a->engine;
	struct snmp_usm *rec;
	struct usmUser *u;

	u = usm_get_user(sp->securityEngineID, sp->securityEngineIDLen,
	    a->user);
	if (u != NULL && snmp_agent_usm_differs(a, sp, u))
		return -1;
	sp->flags &= ~SNMP_FLAGS_USER_CREATED;
	if (usm_create_user_from_session(sp) != SNMPERR_SUCCESS)
		return -2;
	rec = snmp_engine_usm_find(e, sp->securityEngineID,
	    sp->securityEngineIDLen, a->user);
	if (rec == NULL) {
		rec = snmp_engine_usm_add(e, sp->securityEngineID,
		    sp->securityEngineIDLen, a->user);
		rec->created = u == NULL;
	}
	rec->refs++;
	a->usm = rec;
	return 0;
}

/* Acts on the answer to the engineID probe, then sends the request. */
static void
snmp_agent_discovered(struct snmp_agent *a)
{
	netsnmp_session *sp;
	char reason[160];

	switch (a->rec.kind) {
	case SNMP_REC_REPORT:
	case SNMP_REC_RESPONSE:
		sp = a->ss != NULL ? snmp_sess_session(a->ss) : NULL;
		if (sp == NULL || sp->securityEngineIDLen == 0 ||
		    sp->securityEngineID == NULL) {
			snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
			    "SNMPv3: the discovery answer carried no engine "
			    "ID");
			return;
		}
		switch (snmp_agent_usm_acquire(a, sp)) {
		case -1:
			log_warnx("snmp: %s: its engine ID is shared with "
				  "another agent that uses other keys for user "
				  "%s",
			    a->name, a->user);
			if (snmp_agent_forget_engine(a) == -1)
				a->ss = NULL;
			snmp_agent_finish(a, SNMP_RESULT_AUTH, 0, 0,
			    "SNMPv3: engine ID shared with another agent "
			    "that uses other keys for this user");
			return;
		case -2:
			if (snmp_agent_forget_engine(a) == -1)
				a->ss = NULL;
			snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
			    "SNMPv3: cannot set up the user's keys");
			return;
		}
		free(a->engineid);
		a->engineid = xmalloc(sp->securityEngineIDLen);
		memcpy(a->engineid, sp->securityEngineID,
		    sp->securityEngineIDLen);
		a->engineid_len = sp->securityEngineIDLen;
		a->engine->stats.discoveries++;
		TAILQ_FIRST(&a->queue)->probe_answered = 1;
		log_debug("snmp: %s: engine ID of %zu bytes discovered",
		    a->name, a->engineid_len);
		snmp_rec_clear(&a->rec);
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	case SNMP_REC_TIMEOUT:
	case SNMP_REC_LOST:
		snmp_agent_timeout_reason(a, reason, sizeof(reason),
		    " to SNMPv3 engine ID discovery");
		snmp_agent_finish(a, SNMP_RESULT_TIMEOUT, 0, 0, reason);
		return;
	case SNMP_REC_UNREACHABLE:
		snmp_icmp_reason(a->rec.error, reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_UNREACHABLE, 0, 0, reason);
		return;
	case SNMP_REC_SEND_FAILED:
		snmp_agent_send_failed(a, a->rec.error, 0);
		return;
	case SNMP_REC_NONE:
		break;
	}
}

/* Grows a walk's results by one slot. */
static struct snmp_varbind *
snmp_walk_slot(struct snmp_req *r, size_t root)
{
	if (r->nvb == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->vb = xreallocarray(r->vb, r->cap, sizeof(*r->vb));
		r->vbroot =
		    xreallocarray(r->vbroot, r->cap, sizeof(*r->vbroot));
	}
	r->vbroot[r->nvb] = root;
	return &r->vb[r->nvb++];
}

/* Puts a walk's results in root order, each root's in OID order. */
static void
snmp_walk_sort(struct snmp_req *r)
{
	struct snmp_varbind *out;
	size_t *start, i, root;

	if (r->nvb == 0)
		return;
	start = xcalloc(r->n + 1, sizeof(*start));
	for (i = 0; i < r->nvb; i++)
		start[r->vbroot[i] + 1]++;
	for (root = 0; root < r->n; root++)
		start[root + 1] += start[root];
	out = xreallocarray(NULL, r->nvb, sizeof(*out));
	for (i = 0; i < r->nvb; i++)
		out[start[r->vbroot[i]]++] = r->vb[i];
	free(r->vb);
	free(start);
	r->vb = out;
	r->cap = r->nvb;
}

/* Describes an error-status of the agent for the reason text. */
static void
snmp_errstat_reason(const struct snmp_req *r, long errstat, long errindex,
    char *buf, size_t size)
{
	char oidbuf[256];

	if (errindex >= 1 && (size_t)errindex <= r->n &&
	    r->kind == SNMP_REQ_GET)
		snprintf(buf, size, "%s at %s", snmp_errstring((int)errstat),
		    snmp_oid_str(&r->oids[errindex - 1], oidbuf,
			sizeof(oidbuf)));
	else
		snprintf(buf, size, "%s", snmp_errstring((int)errstat));
}

/*
 * Takes in the response to a GET PDU: the values of its OIDs, or a
 * smaller PDU after tooBig, or, for SNMPv1, the rest again after
 * noSuchName.  Ends the request, or sends its next PDU.
 */
static void
snmp_get_absorb(struct snmp_agent *a, struct snmp_req *r)
{
	struct snmp_rec *rec = &a->rec;
	struct snmp_varbind *vb;
	char reason[160];
	size_t i, idx, bad;

	if (rec->errstat == SNMP_ERR_TOOBIG) {
		if (r->pdu_n > 1) {
			r->max_per_pdu = r->pdu_n / 2;
			snmp_agent_set_state(a, SNMP_AGENT_IDLE);
			snmp_get_send(a, r);
			return;
		}
		snmp_errstat_reason(r, rec->errstat, (long)r->todo[0] + 1,
		    reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_OK, rec->errstat,
		    (long)r->todo[0] + 1, reason);
		return;
	}
	if (rec->errstat == SNMP_ERR_NOSUCHNAME &&
	    a->version == SNMP_VERSION_V1 && rec->errindex >= 1 &&
	    (size_t)rec->errindex <= r->pdu_n) {
		bad = (size_t)rec->errindex - 1;
		vb = &r->vb[r->todo[bad]];
		vb->type = SNMP_VT_NOSUCHOBJECT;
		memmove(&r->todo[bad], &r->todo[bad + 1],
		    (r->ntodo - bad - 1) * sizeof(*r->todo));
		r->ntodo--;
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	}
	if (rec->errstat != SNMP_ERR_NOERROR) {
		idx = rec->errindex >= 1 && (size_t)rec->errindex <= r->pdu_n ?
		    r->todo[rec->errindex - 1] + 1 :
		    0;
		snmp_errstat_reason(r, rec->errstat, (long)idx, reason,
		    sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_OK, rec->errstat, (long)idx,
		    reason);
		return;
	}
	if (rec->nvb != r->pdu_n) {
		snprintf(reason, sizeof(reason),
		    "the response has %zu varbinds for %zu asked", rec->nvb,
		    r->pdu_n);
		snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0, reason);
		return;
	}
	for (i = 0; i < r->pdu_n; i++) {
		idx = r->todo[i];
		/* the value; the OID stays the caller's, whatever the agent
		 * wrote back */
		vb = &r->vb[idx];
		snmp_vb_move(vb, &rec->vb[i]);
	}
	r->ntodo -= r->pdu_n;
	memmove(r->todo, r->todo + r->pdu_n, r->ntodo * sizeof(*r->todo));
	snmp_agent_set_state(a, SNMP_AGENT_IDLE);
	snmp_agent_send_next(a);
}

/*
 * Takes in the response to a walk PDU: each column advances on its own
 * until it leaves its subtree or the MIB ends.  An agent that goes
 * backwards, or that makes no progress, ends the walk with an error.
 */
static void
snmp_walk_absorb(struct snmp_agent *a, struct snmp_req *r)
{
	struct snmp_rec *rec = &a->rec;
	struct snmp_varbind *vb, *in;
	char reason[160], oidbuf[256];
	size_t i, col, progress = 0;

	if (rec->errstat == SNMP_ERR_NOSUCHNAME &&
	    a->version == SNMP_VERSION_V1 && rec->errindex >= 1 &&
	    (size_t)rec->errindex <= r->pdu_n) {
		/* SNMPv1's end of the MIB for that column */
		r->finished[r->cols[rec->errindex - 1]] = 1;
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	}
	if (rec->errstat == SNMP_ERR_TOOBIG && r->pdu_n > 1) {
		r->max_per_pdu = r->pdu_n / 2;
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	}
	if (rec->errstat == SNMP_ERR_TOOBIG && r->max_rep > 1) {
		r->max_rep /= 2;
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	}
	if (rec->errstat != SNMP_ERR_NOERROR) {
		snmp_errstat_reason(r, rec->errstat, 0, reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_OK, rec->errstat,
		    rec->errindex, reason);
		return;
	}
	for (i = 0; i < rec->nvb && r->pdu_n > 0; i++) {
		col = r->cols[i % r->pdu_n];
		if (r->finished[col])
			continue;
		in = &rec->vb[i];
		if (in->type == SNMP_VT_ENDOFMIBVIEW ||
		    in->type == SNMP_VT_NOSUCHOBJECT ||
		    in->type == SNMP_VT_NOSUCHINSTANCE ||
		    in->oid.len <= r->oids[col].len ||
		    !snmp_oid_has_prefix(&in->oid, &r->oids[col])) {
			r->finished[col] = 1;
			progress++;
			continue;
		}
		if (snmp_oid_cmp(&in->oid, &r->cursor[col]) <= 0) {
			snprintf(reason, sizeof(reason),
			    "the agent returned a non-increasing OID %s",
			    snmp_oid_str(&in->oid, oidbuf, sizeof(oidbuf)));
			snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0, reason);
			return;
		}
		if (r->nvb >= SNMP_WALK_MAX) {
			snprintf(reason, sizeof(reason),
			    "walk stopped after %d varbinds", SNMP_WALK_MAX);
			snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0, reason);
			return;
		}
		snmp_oid_copy(&r->cursor[col], &in->oid);
		vb = snmp_walk_slot(r, col);
		snmp_oid_copy(&vb->oid, &in->oid);
		snmp_vb_move(vb, in);
		progress++;
	}
	if (progress == 0) {
		snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
		    "the agent answered the walk with no varbinds");
		return;
	}
	snmp_agent_set_state(a, SNMP_AGENT_IDLE);
	snmp_agent_send_next(a);
}

/* Acts on what net-snmp reported about the request's PDU. */
static void
snmp_agent_answered(struct snmp_agent *a)
{
	struct snmp_req *r = TAILQ_FIRST(&a->queue);
	char reason[160];
	enum snmp_result result;

	switch (a->rec.kind) {
	case SNMP_REC_RESPONSE:
		a->engine->stats.responses++;
		if (r->kind == SNMP_REQ_GET)
			snmp_get_absorb(a, r);
		else
			snmp_walk_absorb(a, r);
		return;
	case SNMP_REC_TIMEOUT:
		/* The next request asks for the engine ID again: a device
		 * that came back may be another one. */
		if (a->version == SNMP_VERSION_V3 &&
		    snmp_agent_forget_engine(a) == -1)
			a->ss = NULL;
		snmp_agent_timeout_reason(a, reason, sizeof(reason), "");
		/* Agents drop what they cannot decrypt, without a report. */
		if (a->level == SNMP_LEVEL_AUTHPRIV && r->probe_answered)
			snprintf(reason + strlen(reason),
			    sizeof(reason) - strlen(reason),
			    "; the engine ID probe was answered: wrong priv "
			    "password?");
		snmp_agent_finish(a, SNMP_RESULT_TIMEOUT, 0, 0, reason);
		return;
	case SNMP_REC_LOST:
		snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
		    "net-snmp dropped the request");
		return;
	case SNMP_REC_UNREACHABLE:
		snmp_icmp_reason(a->rec.error, reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_UNREACHABLE, 0, 0, reason);
		return;
	case SNMP_REC_SEND_FAILED:
		snmp_agent_send_failed(a, a->rec.error, 0);
		return;
	case SNMP_REC_REPORT:
		if ((a->rec.report == SNMPERR_UNKNOWN_ENG_ID ||
			a->rec.report == SNMPERR_USM_UNKNOWNENGINEID) &&
		    !r->rediscovered) {
			/* The agent's engine ID changed: find it again, then
			 * send the same PDU. */
			log_debug("snmp: %s: unknown engine ID, discovering "
				  "it again",
			    a->name);
			r->rediscovered = 1;
			snmp_rec_clear(&a->rec);
			snmp_agent_set_state(a, SNMP_AGENT_IDLE);
			if (snmp_agent_forget_engine(a) == -1) {
				snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
				    "cannot recreate the session");
				return;
			}
			snmp_agent_discover(a);
			return;
		}
		result =
		    snmp_report_reason(a->rec.report, reason, sizeof(reason));
		snmp_agent_finish(a, result, 0, 0, reason);
		return;
	case SNMP_REC_NONE:
		break;
	}
}

/*
 * Sends the next PDU of the request at the head of the queue, discovering
 * the engine ID first if needed, or ends the request when it is complete.
 */
static void
snmp_agent_send_next(struct snmp_agent *a)
{
	struct snmp_req *r = TAILQ_FIRST(&a->queue);
	size_t i;

	if (a->ss == NULL && snmp_agent_open(a) == -1) {
		snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
		    "cannot create the net-snmp session");
		return;
	}
	if (a->version == SNMP_VERSION_V3 && a->engineid == NULL) {
		snmp_agent_discover(a);
		return;
	}
	if (r->kind == SNMP_REQ_GET) {
		if (r->ntodo == 0) {
			snmp_agent_finish(a, SNMP_RESULT_OK, 0, 0, NULL);
			return;
		}
		snmp_get_send(a, r);
		return;
	}
	for (i = 0; i < r->n && r->finished[i]; i++)
		;
	if (i == r->n) {
		snmp_walk_sort(r);
		snmp_agent_finish(a, SNMP_RESULT_OK, 0, 0, NULL);
		return;
	}
	snmp_walk_send(a, r);
}

/*
 * Acts on net-snmp's record once it has returned; with none, and with
 * net-snmp holding no request any more, the PDU was dropped silently
 * (a notInTimeWindow report past the retries does that).
 */
static void
snmp_agent_step(struct snmp_agent *a)
{
	netsnmp_large_fd_set *fds = &a->sock->fds;
	struct timeval tv;
	int n = 0, block = 1;

	if (a->state == SNMP_AGENT_IDLE)
		return;
	if (a->rec.kind == SNMP_REC_NONE && a->ss != NULL) {
		timerclear(&tv);
		snmp_sess_select_info2_flags(a->ss, &n, fds, &tv, &block,
		    NETSNMP_SELECT_NOALARMS);
		if (!block)
			return;
	}
	if (a->rec.kind == SNMP_REC_NONE) {
		if (a->rec.report == SNMPERR_NOT_IN_TIME_WINDOW ||
		    a->rec.report == SNMPERR_USM_NOTINTIMEWINDOW)
			a->rec.kind = SNMP_REC_REPORT;
		else
			a->rec.kind = SNMP_REC_LOST;
	}
	if (a->state == SNMP_AGENT_DISCOVERING)
		snmp_agent_discovered(a);
	else
		snmp_agent_answered(a);
}

/*
 * Sets the agent's timer: net-snmp's next retry or timeout while a PDU is
 * in flight, at once when requests wait and nothing is in flight.
 */
static void
snmp_agent_arm(struct snmp_agent *a)
{
	struct timeval tv;
	int n = 0, block = 1;

	if (a->dead)
		return;
	timerclear(&tv);
	if (a->state == SNMP_AGENT_IDLE || a->ss == NULL) {
		evtimer_del(a->ev);
		/* Run from the loop, without a timer in the heap. */
		if (!TAILQ_EMPTY(&a->queue))
			event_active(a->ev, EV_TIMEOUT, 1);
		return;
	}
	snmp_sess_select_info2_flags(a->ss, &n, &a->sock->fds, &tv, &block,
	    NETSNMP_SELECT_NOALARMS);
	if (block || !timerisset(&tv)) {
		/* nothing pending in net-snmp, or due now: run soon */
		evtimer_del(a->ev);
		event_active(a->ev, EV_TIMEOUT, 1);
		return;
	}
	evtimer_add(a->ev, &tv);
}

/* Starts the requests waiting while nothing is in flight, then re-arms. */
static void
snmp_agent_run(struct snmp_agent *a)
{
	unsigned guard = 0;

	while (!a->dead && a->state == SNMP_AGENT_IDLE &&
	    !TAILQ_EMPTY(&a->queue) && guard++ < 1000000)
		snmp_agent_send_next(a);
	snmp_agent_arm(a);
}

/* The agent's timer: net-snmp's retry or timeout, or the kick to start. */
static void
snmp_agent_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snmp_agent *a = arg;

	(void)fd;
	(void)what;
	snmp_agent_enter(a);
	/* Polled: an answer may wait in the socket; read it before giving
	 * up on it. */
	if (a->engine->polled && a->state != SNMP_AGENT_IDLE)
		snmp_engine_poll(a->engine);
	if (a->state != SNMP_AGENT_IDLE) {
		if (a->ss != NULL)
			snmp_sess_timeout(a->ss);
		snmp_agent_step(a);
	}
	snmp_agent_run(a);
	snmp_agent_leave(a);
}

/* Ends the agent's PDU in flight because an ICMP error came back. */
static void
snmp_agent_unreachable(struct snmp_agent *a, int error)
{
	if (a->state == SNMP_AGENT_IDLE)
		return;
	snmp_agent_enter(a);
	/* net-snmp has no way to cancel one request: start afresh. */
	snmp_agent_close(a);
	snmp_rec_clear(&a->rec);
	a->rec.kind = SNMP_REC_UNREACHABLE;
	a->rec.error = error;
	if (snmp_agent_open(a) == -1)
		a->ss = NULL;
	snmp_agent_step(a);
	snmp_agent_run(a);
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
	if ((a = snmp_engine_lookup(e, from, fromlen)) == NULL) {
		e->stats.unknown_source++;
		return -1;
	}
	if (snmp_packet_check(buf, len, &version) == -1 ||
	    version != snmp_wire_version(a->version)) {
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
		a = snmp_engine_lookup(e, (struct sockaddr *)&to,
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
snmp_rx_mono_ns(struct msghdr *msg)
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
snmp_sock_drain(struct snmp_sock *s)
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
		e->rx_ns = snmp_rx_mono_ns(&msg);
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
	snmp_sock_drain(arg);
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
		snmp_sock_drain(&e->sock[i]);
}

/* Queues a request; the agent's timer starts it from the loop. */
static void
snmp_agent_queue(struct snmp_agent *a, struct snmp_req *r)
{
	TAILQ_INSERT_TAIL(&a->queue, r, link);
	a->engine->stats.requests++;
	a->engine->stats.queued++;
	if (a->state == SNMP_AGENT_IDLE && r == TAILQ_FIRST(&a->queue))
		snmp_agent_arm(a);
}

/* Checks a request's OIDs; logs and returns -1 for a bad one. */
static int
snmp_agent_check_oids(struct snmp_agent *a, const char *what,
    const struct snmp_oid *oids, size_t n)
{
	size_t i;

	if (oids == NULL || n == 0) {
		log_warnx("snmp: %s: %s without OIDs", a->name, what);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!snmp_oid_valid(&oids[i])) {
			log_warnx("snmp: %s: %s: OID %zu is not valid", a->name,
			    what, i + 1);
			return -1;
		}
	}
	return 0;
}

/*
 * Queues a GET of n OIDs.  The engine splits them into PDUs under the
 * datagram budget, sends those one after the other, and calls cb once
 * with all the values in the order of oids.  Returns -1, with nothing
 * queued, for bad arguments.
 */
int
snmp_agent_get(struct snmp_agent *a, const struct snmp_oid *oids, size_t n,
    snmp_cb cb, void *arg)
{
	struct snmp_req *r;
	size_t i;

	if (a == NULL || a->dead || cb == NULL) {
		log_warnx("snmp: snmp_agent_get: bad arguments");
		return -1;
	}
	if (snmp_agent_check_oids(a, "get", oids, n) == -1)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->kind = SNMP_REQ_GET;
	r->cb = cb;
	r->arg = arg;
	r->n = n;
	r->oids = xreallocarray(NULL, n, sizeof(*r->oids));
	r->vb = xreallocarray(NULL, n, sizeof(*r->vb));
	r->nvb = r->cap = n;
	r->todo = xreallocarray(NULL, n, sizeof(*r->todo));
	for (i = 0; i < n; i++) {
		r->todo[i] = i;
		snmp_oid_copy(&r->oids[i], &oids[i]);
		snmp_vb_init(&r->vb[i], &oids[i]);
	}
	r->ntodo = n;
	r->max_per_pdu = n;
	snmp_agent_queue(a, r);
	return 0;
}

/*
 * Queues a walk of the subtrees under roots (table columns, typically),
 * with GETBULK of up to max_repetitions rows, or GETNEXT for SNMPv1.
 * cb gets every varbind under the roots, root by root, each in OID order.
 */
int
snmp_agent_walk(struct snmp_agent *a, const struct snmp_oid *roots,
    size_t nroots, unsigned max_repetitions, snmp_cb cb, void *arg)
{
	struct snmp_req *r;

	if (a == NULL || a->dead || cb == NULL) {
		log_warnx("snmp: snmp_agent_walk: bad arguments");
		return -1;
	}
	if (snmp_agent_check_oids(a, "walk", roots, nroots) == -1)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->kind = SNMP_REQ_WALK;
	r->cb = cb;
	r->arg = arg;
	r->n = nroots;
	r->oids = xreallocarray(NULL, nroots, sizeof(*r->oids));
	memcpy(r->oids, roots, nroots * sizeof(*r->oids));
	r->cursor = xreallocarray(NULL, nroots, sizeof(*r->cursor));
	memcpy(r->cursor, roots, nroots * sizeof(*r->cursor));
	r->finished = xcalloc(nroots, 1);
	r->cols = xcalloc(nroots, sizeof(*r->cols));
	r->max_rep = max_repetitions ? max_repetitions : 1;
	r->max_per_pdu = nroots;
	snmp_agent_queue(a, r);
	return 0;
}
