/*
 * The SNMP engine's own header: what its files share and nobody else
 * sees.  monitord.h has the engine's interface (snmp_engine_*,
 * snmp_agent_new/get/walk/free, the OID helpers).
 *
 * The files, each using only those before it: snmp_oid.c and snmp_ber.c
 * (pure), snmp_vb.c, snmp_usm.c, snmp_transport.c, snmp_agent.c (the
 * state machine of one agent's requests) and snmp_engine.c (the shared
 * sockets, the receive path and the agents' timers).
 */
#ifndef MONITORD_SNMP_ENGINE_H
#define MONITORD_SNMP_ENGINE_H

#include "monitord.h"

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
/* The largest message handed to net-snmp. */
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

/* snmp_vb.c: varbinds from and to net-snmp */
void snmp_vb_free(struct snmp_varbind *vb, size_t n);
void snmp_vb_init(struct snmp_varbind *vb, const struct snmp_oid *oid);
void snmp_vb_move(struct snmp_varbind *dst, struct snmp_varbind *src);
void snmp_vb_convert(struct snmp_varbind *vb, const netsnmp_variable_list *v);
size_t snmp_vb_oid_to_netsnmp(const struct snmp_oid *src, oid *dst);

/* snmp_usm.c: keys and USM users */
void snmp_usm_ku_free(struct snmp_ku *k);
const oid *snmp_usm_auth_proto(enum snmp_auth auth, size_t *len);
const struct snmp_ku *snmp_usm_ku(struct snmp_engine *e, const char *cred,
    enum snmp_auth auth, const char *what, const char *pass);
void snmp_usm_release(struct snmp_agent *a);
int snmp_usm_acquire(struct snmp_agent *a, netsnmp_session *sp);

/* snmp_transport.c: net-snmp, the agents' sessions on the shared sockets */
long snmp_transport_version(enum snmp_version version);
void snmp_transport_init(void);
void snmp_transport_addr_str(const struct sockaddr *sa, char *buf, size_t size);
struct snmp_agent *snmp_transport_lookup(const struct snmp_engine *e,
    const struct sockaddr *sa, socklen_t salen);
void snmp_transport_add(struct snmp_engine *e, struct snmp_agent *a);
void snmp_transport_remove(struct snmp_engine *e, struct snmp_agent *a);
int snmp_transport_open(struct snmp_agent *a);
void snmp_transport_close(struct snmp_agent *a);

/* snmp_agent.c: an agent's requests */
void snmp_agent_cancel(struct snmp_agent *a);
void snmp_agent_destroy(struct snmp_agent *a);
void snmp_agent_enter(struct snmp_agent *a);
void snmp_agent_leave(struct snmp_agent *a);
void snmp_agent_step(struct snmp_agent *a);
void snmp_agent_run(struct snmp_agent *a);
void snmp_agent_timer(struct snmp_agent *a);
void snmp_agent_unreachable(struct snmp_agent *a, int error);

#endif
