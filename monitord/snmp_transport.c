/*
 * net-snmp's library, set up once per process, and each agent's session
 * on the engine's shared socket.  A session gets a small custom
 * transport: sending is a sendto() on the shared socket, receiving hands
 * back a datagram that the engine already read and matched to the agent
 * by its source address and port (the agents by address are here too).
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snmp_engine.h"
#include "xmalloc.h"

/* What the custom transport knows; net-snmp frees it with the transport. */
struct snmp_tp_data {
	struct snmp_agent *agent;
};

static int snmp_transport_ready;

/* The version number a message of this agent carries. */
long
snmp_transport_version(enum snmp_version version)
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
snmp_transport_log_cb(int major, int minor, void *serverarg, void *clientarg)
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
void
snmp_transport_init(void)
{
	if (snmp_transport_ready)
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
	    snmp_transport_log_cb, NULL);
	snmp_enable_calllog();
	init_snmp("monitord");
	snmp_transport_ready = 1;
}

/* Formats an address with its port: "192.0.2.1:161" or "[::1]:161". */
void
snmp_transport_addr_str(const struct sockaddr *sa, char *buf, size_t size)
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
snmp_transport_addr_hash(const struct sockaddr *sa, socklen_t salen)
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
snmp_transport_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
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
struct snmp_agent *
snmp_transport_lookup(const struct snmp_engine *e, const struct sockaddr *sa,
    socklen_t salen)
{
	struct snmp_agent *a;
	uint64_t h;

	if (sa == NULL || (h = snmp_transport_addr_hash(sa, salen)) == 0)
		return NULL;
	for (a = e->hash[h & (e->nhash - 1)]; a != NULL; a = a->hnext) {
		if (snmp_transport_addr_equal((const struct sockaddr *)&a->sa,
			sa))
			return a;
	}
	return NULL;
}

/* Puts an agent into the hash table, doubling it when it fills. */
void
snmp_transport_add(struct snmp_engine *e, struct snmp_agent *a)
{
	struct snmp_agent **nh, *x, *next;
	size_t i, nn, b;

	if (e->stats.agents >= e->nhash) {
		nn = e->nhash * 2;
		nh = xcalloc(nn, sizeof(*nh));
		for (i = 0; i < e->nhash; i++) {
			for (x = e->hash[i]; x != NULL; x = next) {
				next = x->hnext;
				b = snmp_transport_addr_hash(
					(struct sockaddr *)&x->sa, x->salen) &
				    (nn - 1);
				x->hnext = nh[b];
				nh[b] = x;
			}
		}
		free(e->hash);
		e->hash = nh;
		e->nhash = nn;
	}
	b = snmp_transport_addr_hash((struct sockaddr *)&a->sa, a->salen) &
	    (e->nhash - 1);
	a->hnext = e->hash[b];
	e->hash[b] = a;
	e->stats.agents++;
}

/* Takes an agent out of the hash table. */
void
snmp_transport_remove(struct snmp_engine *e, struct snmp_agent *a)
{
	struct snmp_agent **pp;
	size_t b;

	b = snmp_transport_addr_hash((struct sockaddr *)&a->sa, a->salen) &
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

/* Sends a message of an agent's session on the shared socket. */
static int
snmp_transport_f_send(netsnmp_transport *t, const void *buf, int size,
    void **opaque, int *olen)
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
snmp_transport_f_recv(netsnmp_transport *t, void *buf, int size, void **opaque,
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
snmp_transport_f_close(netsnmp_transport *t)
{
	t->sock = -1;
	return 0;
}

/* Names the agent for net-snmp's messages; net-snmp frees the string. */
static char *
snmp_transport_f_fmtaddr(netsnmp_transport *t, const void *data, int len)
{
	struct snmp_tp_data *d = t->data;
	char buf[sizeof(d->agent->name) + 8];

	(void)data;
	(void)len;
	snprintf(buf, sizeof(buf), "UDP: %s", d->agent->name);
	return strdup(buf);
}

/*
 * Creates the agent's net-snmp session on the shared socket, with the
 * engineID already known if it was discovered before.
 */
int
snmp_transport_open(struct snmp_agent *a)
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
			proto = snmp_usm_auth_proto(a->auth, &plen);
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
	t->f_send = snmp_transport_f_send;
	t->f_recv = snmp_transport_f_recv;
	t->f_close = snmp_transport_f_close;
	t->f_fmtaddr = snmp_transport_f_fmtaddr;

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
void
snmp_transport_close(struct snmp_agent *a)
{
	if (a->ss == NULL)
		return;
	a->closing = 1;
	snmp_sess_close(a->ss);
	a->closing = 0;
	a->ss = NULL;
}