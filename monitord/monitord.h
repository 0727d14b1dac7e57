/*
 * monitord: the prober.  Shared structs and one prototype block per file.
 */
#ifndef MONITORD_H
#define MONITORD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "httpd.h"
#include "log.h"

struct cfg_doc;
struct db;
struct sched;
struct probe_icmp;
struct icmp_probe;
struct probe_tcp;
struct mon_snmp_host;
struct snmp_check;
struct snmp_check_rt;
struct snmp_host_rt;
struct snmp_cred;
struct snmp_engine;
struct snmp_agent;
struct snmp_trap;
struct emit;
struct shard;
struct snmp_trap_listener;
struct metric_store;
struct snmp_addr_index;
struct cfg_node;
struct check_kind_ops;

/* Network segments of the municipality (運用監視基準 differ per segment). */
enum mon_segment {
	SEGMENT_CORE,
	SEGMENT_INFORMATION,
	SEGMENT_FINANCE,
	SEGMENT_OTHER
};

enum check_kind {
	CHECK_KIND_ICMP,
	CHECK_KIND_TCP,
	CHECK_KIND_SNMP_AGENT, /* implicit: does the host's agent answer */
	CHECK_KIND_SNMP_UPTIME, /* "sysuptime": reboot detection */
	CHECK_KIND_SNMP_IF, /* "interfaces" */
	CHECK_KIND_SNMP_STORAGE, /* "storage": hrStorageTable */
	CHECK_KIND_SNMP_CPU, /* "cpu": hrProcessorLoad */
	CHECK_KIND_SNMP_OID, /* "oid": any OID against ranges */
	CHECK_KIND_PLUGIN, /* a Nagios-compatible plugin */
	CHECK_KIND_PASSIVE, /* results submitted over HTTP */
	CHECK_KIND_COUNT
};

/* Check results and states, in Nagios order; PENDING before the first. */
enum check_status {
	CHECK_OK,
	CHECK_WARNING,
	CHECK_CRITICAL,
	CHECK_UNKNOWN,
	CHECK_PENDING
};

enum check_state_type { CHECK_SOFT, CHECK_HARD };

/* What one result did to a check's state. */
enum check_transition { CHECK_NO_CHANGE, CHECK_SOFT_CHANGE, CHECK_HARD_CHANGE };

/* The soft/hard state of one check (check.c). */
struct check_state {
	enum check_status status; /* latest, soft or hard */
	enum check_status hard_status; /* last hard state */
	enum check_state_type type;
	unsigned attempt; /* 1..max_attempts while soft non-OK */
};

/* The wheel's resolution: deadlines live on a 10 ms grid. */
#define SCHED_TICK_MS 10

/* One entry of the timing wheel (sched.c); embedded in its owner. */
struct sched_entry {
	TAILQ_ENTRY(sched_entry) link;
	uint64_t deadline; /* monotonic ms */
	unsigned slot; /* in the wheel, or SCHED_READY */
	int queued;
	int waited; /* counted as deferred already */
	/* Returns 1 when it started a probe, which ends with sched_done. */
	int (*cb)(struct sched_entry *, uint64_t, void *);
	void *arg;
};

/* A host's reachability, from its host check and its parents'. */
enum host_state { HOST_PENDING, HOST_UP, HOST_DOWN, HOST_UNREACHABLE };

/* Where something was written in the config. */
struct mon_pos {
	unsigned line, col;
};

/* A monitored host. */
struct mon_host {
	char *name;
	char *address; /* as written in the config */
	struct sockaddr_storage ss;
	socklen_t sslen;
	enum mon_segment segment;
	char *department; /* the user department that owns it, or NULL */
	char **tags;
	size_t ntags;
	unsigned line, col;
	unsigned name_line, name_col;
	struct mon_snmp_host *snmp; /* NULL: not polled by SNMP */
	/* Topology: the routers, switches or firewalls in front of it. */
	char **parent_names;
	struct mon_pos *parent_pos;
	size_t nparents;
	struct mon_host **parents; /* resolved; NULL where unknown */
	struct mon_host **children;
	size_t nchildren;
	size_t index; /* in conf->hosts */
	size_t first_check, nchecks; /* its checks in conf->checks */
	char *host_check_name; /* as configured, or NULL */
	struct mon_check *host_check; /* the check its state follows */
	enum host_state state; /* as last recorded */
};

/* Results a check's flapping is judged on (Nagios's 21). */
#define CHECK_FLAP_HISTORY 21

/* A check on a host: its settings, then its run-time state. */
struct mon_check {
	struct mon_host *host;
	char *name; /* "icmp", "tcp/5432" or the configured name */
	enum check_kind kind;
	uint64_t interval_ms;
	uint64_t retry_interval_ms;
	uint64_t timeout_ms;
	unsigned max_attempts;
	struct {
		unsigned packets;
		uint64_t packet_gap_ms;
		double rtt_warn_ms, rtt_crit_ms;
		double loss_warn_pct, loss_crit_pct;
	} icmp;
	struct {
		uint16_t port;
		char *send; /* optional text sent after connecting */
		char *expect; /* optional text the server must send */
		uint64_t connect_warn_ms, connect_crit_ms; /* 0: none */
	} tcp;
	struct {
		char **argv; /* macros expanded; argv[0] a path */
		enum check_status timeout_state;
	} plugin;
	struct {
		char *token; /* what submitters must show */
		uint64_t heartbeat_ms; /* 0: none */
		enum check_status heartbeat_state;
		uint64_t last_ms; /* monotonic, of the last result */
	} passive;
	int store_samples; /* measured values to metric_incoming; -1 unset */
	char *last_output; /* of the latest result (GET /api/v1/checks) */
	size_t last_output_cap;
	time_t last_result; /* wall clock */
	struct {
		int enabled; /* -1 until the defaults are applied */
		double start_pct, stop_pct; /* 0 until then */
	} flap;
	unsigned line, col;

	struct monitord *md;
	struct check_state state;
	struct sched_entry sched;
	uint64_t hash;
	uint64_t last_deadline; /* of the run in flight or last run */
	int in_flight;
	int reload_kept; /* carried over by the reload in progress */
	char *suppressed_by; /* root-cause host of the recorded problem */
	uint64_t cover_lost_ms; /* when that host answered again, or 0 */
	enum check_status recorded; /* the hard state last recorded */
	int flapping;
	double flap_pct; /* weighted state changes, % */
	uint8_t flap_hist[CHECK_FLAP_HISTORY]; /* latest results, a ring */
	uint8_t flap_n, flap_pos;
	struct icmp_probe *icmp_probe;
	struct probe_tcp *tcp_probe;
	struct plugin_run *plugin_run;
	struct snmp_check *snmp; /* the SNMP kinds: settings and state */
	const struct check_kind_ops *ops; /* what its kind does */
};

/* The longest result text of a check. */
#define CHECK_OUTPUT_MAX 1024
/* The longest duration a check's settings take, in ms. */
#define CHECK_MS_DAY (86400ULL * 1000ULL)

/*
 * A kind of check (check_icmp.c, check_tcp.c, check_plugin.c,
 * check_passive.c, check_snmp.c): how its settings are read, checked and
 * freed, and how its probe starts and stops.  check.c runs every check
 * through these and knows no kind.
 */
struct check_kind_ops {
	enum check_kind kind; /* its "type:" is check_kind_str(kind) */
	const char *what; /* "an icmp check", in config errors */
	const char *const *keys; /* its own keys, besides the common ones */
	unsigned flags; /* CHECK_OPS_* */
	/* Reads its settings and its name (name: as configured, or NULL). */
	void (*load)(struct cfg_doc *, const struct cfg_node *,
	    struct mon_check *, const char *name);
	/* Checks what needs more than one value, once defaults are in. */
	void (*validate)(struct cfg_doc *, const struct cfg_node *,
	    const struct mon_check *);
	/* When the check is first scheduled. */
	void (*init)(struct mon_check *);
	/*
	 * Starts a probe, which ends in check_finish or check_finish_quiet.
	 * Returns 1 when one runs.  Otherwise 0, with a result to record in
	 * *result and text, or an empty text for none (a probe that could
	 * not start then is UNKNOWN).
	 */
	int (*start)(struct mon_check *, enum check_status *result, char *text,
	    size_t len);
	/* Stops a probe in flight: no callback follows. */
	void (*cancel)(struct mon_check *);
	/* Frees what load allocated. */
	void (*free)(struct mon_check *);
};
#define CHECK_OPS_FED 0x1 /* never scheduled: other checks feed it */
#define CHECK_OPS_QUIET_OK 0x2 /* an OK result keeps no text */
#define CHECK_OPS_HOST_PHASE 0x4 /* due with its host's others: one PDU */
#define CHECK_OPS_NO_PROBE 0x8 /* sends nothing when due (passive) */

/* How a downtime repeats. */
enum downtime_every {
	DOWNTIME_ONCE,
	DOWNTIME_DAY,
	DOWNTIME_WEEK,
	DOWNTIME_MONTH
};

/* A scheduled downtime (downtime.c): its rule, its targets, and the
 * window last worked out. */
struct downtime {
	char *name;
	char *comment;
	char *timezone; /* "Asia/Tokyo" */
	enum downtime_every every;
	time_t once_start, once_end; /* DOWNTIME_ONCE */
	int at_min; /* start, minutes after local midnight */
	uint64_t duration_s;
	int wday; /* 0 Sunday; week, and month with nth */
	int mday; /* month: 1..31, or -1 the last day, -2 ... */
	int nth; /* month: the n-th weekday (1..5, -1 last), 0: mday */
	char **hosts, **checks; /* checks as "host/check" */
	size_t nhosts, nchecks;
	int *segments;
	size_t nsegments;
	char *targets_text;
	unsigned line, col;
	time_t cur_start, cur_end;
};

/* journal.max_size unless set: 64 MiB. */
#define MON_JOURNAL_MAX_DEFAULT (64u << 20)

/* A loaded monitord.yaml. */
struct mon_conf {
	char *file;
	char *instance;
	char *database; /* libpq conninfo; NULL means the PG* environment */
	enum log_level log_level;
	char *user; /* drop privileges to this user; NULL: stay */
	char *metrics_listen; /* "127.0.0.1:9810"; NULL: no endpoint */
	int cluster; /* a cluster block: share the hosts by shards */
	unsigned cluster_pinned; /* cluster.pinned, bit per enum mon_segment */
	char *journal_path; /* journal.path; NULL: changes wait in memory */
	uint64_t journal_max; /* journal.max_size, bytes */
	double max_rate; /* probes per second; 0: derived */
	uint64_t max_in_flight; /* 0: derived */
	unsigned plugin_max; /* plugins.max_concurrent */
	struct snmp_cred **creds; /* snmp.credentials */
	size_t ncreds;
	char *trap_listen; /* snmp.traps.listen; NULL: no receiver */
	char **trap_communities;
	size_t ntrap_communities;
	struct mon_host **hosts;
	size_t nhosts;
	struct mon_check **checks;
	size_t nchecks;
	struct downtime **downtimes;
	size_t ndowntimes;
};

#define HIST_NBUCKETS 28
/* A latency histogram on fixed log-linear buckets, in seconds. */
struct hist {
	uint64_t count;
	double sum;
	double max;
	uint64_t buckets[HIST_NBUCKETS]; /* per bucket, not cumulative */
};
/* What monitord counts about itself, for /metrics. */
struct mon_stats {
	uint64_t probes_sent[CHECK_KIND_COUNT]; /* by enum check_kind */
	uint64_t probes_skipped; /* more than half an interval late */
	uint64_t probes_elsewhere; /* due, but another poller's host */
	uint64_t probes_deferred; /* waited for a token or an in-flight slot */
	uint64_t in_flight; /* probes running now */
	uint64_t tcp_in_flight; /* of which TCP, each holding an fd */
	uint64_t results[4]; /* by enum check_status, OK..UNKNOWN */
	uint64_t state_changes; /* hard changes recorded */
	uint64_t on_demand; /* host checks run early for first isolation */
	uint64_t suppressed; /* problems recorded with a root cause */
	uint64_t flap_starts, flap_stops;
	uint64_t passive_accepted, passive_refused;
	uint64_t changes_failed; /* refused by the database */
	uint64_t reloads_ok, reloads_failed;
	uint64_t traps_received; /* accepted by the listener */
	uint64_t traps_unknown; /* from no configured host */
	uint64_t traps_stored; /* written to trap_event */
	uint64_t samples_dropped; /* metric samples lost to a full buffer */
	struct hist lateness; /* send time minus deadline, since start */
	/* The last two 10-second windows: probes sent and the worst lateness.
	 */
	uint64_t window_start_ms;
	uint64_t window_probes[2];
	double window_max[2];
};

/* The running daemon. */
struct monitord {
	struct event_base *base;
	struct mon_conf *conf;
	struct sched *sched;
	struct probe_icmp *icmp;
	struct db *db;
	uint64_t last_seq;
	struct mon_http *http; /* NULL: no endpoint */
	time_t start_time; /* when the endpoint started serving, or 0 */
	struct emit *emit;
	struct shard *shard; /* NULL: not clustered */
	struct snmp_engine *snmp;
	struct snmp_trap_listener *traps;
	struct metric_store *store;
	struct snmp_addr_index *by_addr; /* hosts by address, for traps */
	struct plugin_runner *plugins;
	double planned_rate; /* probes per second the intervals ask for */
	struct mon_stats stats;
	struct daemon_stop stop;
};

/* conf.c */
struct mon_conf *conf_load(const char *, struct cfg_doc **);
int conf_parse_size(const char *, uint64_t *);
void conf_free(struct mon_conf *);
void conf_check_free(struct mon_check *);

/* segment.c */
extern const char *const segment_names[];
const char *segment_str(enum mon_segment);

/* check_kind.c */
const char *check_kind_str(enum check_kind);

/* check_state.c */
extern const char *const check_status_config_names[];
const char *check_state_status_str(enum check_status);
const char *check_state_type_str(enum check_state_type);
void check_state_init(struct check_state *);
enum check_transition
check_state_apply(struct check_state *, enum check_status, unsigned);
int check_state_flap_push(uint8_t *, uint8_t *, uint8_t *, enum check_status,
    double *);

/* check.c */
void check_start(struct monitord *, struct mon_check *, uint64_t);
void check_stop(struct mon_check *);
void check_probe_ended(struct mon_check *);
void check_finish(struct mon_check *, enum check_status, const char *);
void check_finish_quiet(struct mon_check *);
void check_result(struct mon_check *, enum check_status, const char *);
void
check_record(struct mon_check *, enum check_status, unsigned, const char *);
void check_sub_result(struct mon_check *, struct check_state *, const char *,
    enum check_status, const char *, int);
void check_reclassify(struct mon_check *);

/* check_icmp.c, check_tcp.c */
extern const struct check_kind_ops check_icmp_ops;
extern const struct check_kind_ops check_tcp_ops;

/* topo.c */
const char *topo_host_state_str(enum host_state);
int topo_host_failing(const struct mon_host *);
int topo_host_blocked(const struct mon_host *, const struct mon_host **);
enum host_state
topo_host_state(const struct mon_host *, const struct mon_host **);
const struct mon_host *topo_suppressor(const struct mon_check *);
void topo_check_soon(struct mon_check *);
void topo_first_failure(struct mon_check *);
void topo_host_answers(struct mon_host *);
void topo_host_changed(struct mon_host *, int);

/* sched.c */
struct sched *sched_new(struct event_base *, uint64_t (*)(void));
void sched_free(struct sched *);
void sched_set_limits(struct sched *, double, double, uint64_t);
void sched_set_tick_hook(struct sched *, void (*)(void *), void *);
void sched_add(struct sched *, struct sched_entry *, uint64_t);
void sched_remove(struct sched *, struct sched_entry *);
void sched_tick(struct sched *, uint64_t);
void sched_done(struct sched *);
size_t sched_count(const struct sched *);
size_t sched_ready_count(const struct sched *);
uint64_t sched_in_flight(const struct sched *);
uint64_t sched_deferred(const struct sched *);
uint64_t sched_hash(const char *, const char *);
uint64_t sched_first_deadline(uint64_t, uint64_t, uint64_t);
uint64_t sched_next_deadline(uint64_t, uint64_t, uint64_t, uint64_t *);

/* icmp_packet.c */
#define ICMP_PACKET_MAGIC 0x4d4f4e44U /* "MOND" */
#define ICMP_PACKET_HDR_LEN 8 /* type, code, checksum, ident, seq */
#define ICMP_PACKET_PAYLOAD_LEN 24 /* struct icmp_payload on the wire */
#define ICMP_PACKET_LEN (ICMP_PACKET_HDR_LEN + ICMP_PACKET_PAYLOAD_LEN)
#define ICMP_PACKET_IPHDR 0x1 /* parse: v4 buffer starts with an IP header */
#define ICMP_PACKET_CKSUM 0x2 /* build: fill the v4 checksum; parse: verify */

/* What our echo requests carry after the ICMP header, in host order. */
struct icmp_payload {
	uint32_t magic;
	uint32_t slot;
	uint32_t token;
	uint32_t echo;
	uint64_t sent_ns; /* monotonic */
};

/* The fields of a received ICMP or ICMPv6 message, in host order. */
struct icmp_packet {
	uint8_t type;
	uint8_t code;
	uint16_t ident;
	uint16_t seq;
	struct icmp_payload payload; /* valid only with ICMP_PARSE_OK */
};

/* Why a received buffer is, or is not, one of our echo replies. */
enum icmp_parse_result {
	ICMP_PARSE_OK,
	ICMP_PARSE_SHORT_IP_HEADER,
	ICMP_PARSE_BAD_IP_HEADER,
	ICMP_PARSE_SHORT_ICMP_HEADER,
	ICMP_PARSE_BAD_CHECKSUM,
	ICMP_PARSE_NOT_ECHO_REPLY,
	ICMP_PARSE_SHORT_PAYLOAD,
	ICMP_PARSE_BAD_MAGIC
};

uint16_t icmp_packet_checksum(const uint8_t *, size_t);
int icmp_packet_build(uint8_t *, size_t, int, uint16_t, uint16_t,
    const struct icmp_payload *, int);
enum icmp_parse_result
icmp_packet_parse(const uint8_t *, size_t, int, int, struct icmp_packet *);
const char *icmp_packet_parse_result_str(enum icmp_parse_result);

/* probe_icmp.c */
#define PROBE_ICMP_MAX_ECHOES 1000

/* Which socket a family uses; AUTO asks for a ping socket, else raw. */
enum icmp_sock_kind {
	ICMP_SOCK_NONE,
	ICMP_SOCK_DGRAM,
	ICMP_SOCK_RAW,
	ICMP_SOCK_AUTO
};

/* How a probe ended. */
enum icmp_outcome {
	ICMP_RESULT_OK, /* some replies */
	ICMP_RESULT_NO_REPLY, /* all lost */
	ICMP_RESULT_SEND_ERROR, /* nothing answered and sending failed */
	ICMP_RESULT_NO_SOCKET /* no ICMP socket for this address family */
};

/* What the engine did with one received datagram; indexes icmp_stats. */
enum icmp_match {
	ICMP_MATCH_ACCEPTED,
	ICMP_MATCH_MALFORMED, /* short, bad IP header or bad checksum */
	ICMP_MATCH_NOT_REPLY, /* not an echo reply */
	ICMP_MATCH_WRONG_IDENT, /* another pinger's reply (raw sockets) */
	ICMP_MATCH_BAD_MAGIC, /* not one of our payloads */
	ICMP_MATCH_UNKNOWN_SEQ, /* no echo in flight with this sequence */
	ICMP_MATCH_BAD_TOKEN, /* slot, token or echo index disagree */
	ICMP_MATCH_WRONG_SOURCE, /* answered by another address */
	ICMP_MATCH_DUPLICATE, /* this echo was answered already */
	ICMP_MATCH_COUNT
};

/* The result handed to a probe's callback; times in milliseconds. */
struct icmp_result {
	enum icmp_outcome outcome;
	unsigned count; /* echoes asked for */
	unsigned sent; /* echoes the kernel accepted */
	unsigned received; /* distinct echoes answered */
	double loss_pct; /* of count */
	double rtt_min_ms, rtt_avg_ms, rtt_max_ms;
	double jitter_ms; /* mean |rtt[i] - rtt[i-1]| over answered echoes */
	int error; /* errno of the first failed send, or 0 */
};

/* Engine counters for self-monitoring. */
struct icmp_stats {
	uint64_t probes_started;
	uint64_t probes_finished;
	uint64_t probes_cancelled;
	uint64_t in_flight;
	uint64_t echoes_sent;
	uint64_t send_errors;
	uint64_t recv_errors;
	uint64_t seq_exhausted;
	uint64_t matched[ICMP_MATCH_COUNT]; /* by enum icmp_match */
};

typedef void (*probe_icmp_cb)(const struct icmp_result *, void *);
/* Replaces sendto() in tests; returns 0, or -1 with errno set. */
typedef int (*probe_icmp_send_fn)(int, const uint8_t *, size_t,
    const struct sockaddr *, socklen_t, void *);

struct probe_icmp *probe_icmp_new(struct event_base *);
struct probe_icmp *
probe_icmp_new_kind(struct event_base *, enum icmp_sock_kind);
void probe_icmp_free(struct probe_icmp *);
struct icmp_probe *
probe_icmp_start(struct probe_icmp *, const struct sockaddr *, socklen_t,
    unsigned, uint64_t, uint64_t, probe_icmp_cb, void *);
void probe_icmp_cancel(struct icmp_probe *);
enum icmp_match probe_icmp_handle_reply(struct probe_icmp *, int,
    const uint8_t *, size_t, const struct sockaddr *, uint64_t);
enum icmp_sock_kind probe_icmp_sock_kind(const struct probe_icmp *, int);
void probe_icmp_stats(const struct probe_icmp *, struct icmp_stats *);
void probe_icmp_set_send(struct probe_icmp *, probe_icmp_send_fn, void *);
const char *probe_icmp_sock_kind_str(enum icmp_sock_kind);
const char *probe_icmp_outcome_str(enum icmp_outcome);
const char *probe_icmp_match_str(enum icmp_match);

/* probe_tcp.c */
/* How a TCP probe ended. */
enum probe_tcp_outcome {
	PROBE_TCP_CONNECTED, /* connected (and the expected text came) */
	PROBE_TCP_REFUSED, /* RST: nothing listens */
	PROBE_TCP_TIMEOUT, /* no connection within the timeout */
	PROBE_TCP_UNREACHABLE, /* no route, network down */
	PROBE_TCP_ERROR, /* anything else on connect */
	PROBE_TCP_EXPECT_TIMEOUT, /* connected; the expected text never came */
	PROBE_TCP_EXPECT_MISMATCH, /* connected; other text, or closed early */
	PROBE_TCP_OUTCOME_COUNT
};

/* The most a TCP probe reads, and so the longest expected text. */
#define PROBE_TCP_READ_MAX 1024

/* What to say and to wait for once connected; NULL for a plain connect. */
struct probe_tcp_opts {
	const char *send; /* sent after connecting; copied */
	size_t send_len;
	const char *expect; /* text to find in what the server sends; copied */
};

/* The outcome of one probe. */
struct probe_tcp_result {
	enum probe_tcp_outcome outcome;
	int error; /* errno of a failed connect, send or read */
	uint64_t connect_us; /* time to connect, when it connected */
	uint64_t total_us; /* time to the outcome */
	char banner[128]; /* first line received, printable, for messages */
};

typedef void (*probe_tcp_cb)(const struct probe_tcp_result *, void *);
struct probe_tcp *probe_tcp_start(struct event_base *, const struct sockaddr *,
    socklen_t, uint64_t, const struct probe_tcp_opts *, probe_tcp_cb, void *);
void probe_tcp_cancel(struct probe_tcp *);
const char *probe_tcp_outcome_str(enum probe_tcp_outcome);
int probe_tcp_match(const char *, size_t, const char *, size_t);
void probe_tcp_banner(char *, size_t, const char *, size_t);

/* The SNMP engine: snmp_engine.c and the files of snmp_engine.h */
#define SNMP_OID_MAX 128 /* sub-identifiers in one OID */
#define SNMP_DATAGRAM_MAX 65536 /* the largest datagram read or checked */

/* A numeric OID, as the checks build and compare them. */
struct snmp_oid {
	uint32_t n[SNMP_OID_MAX];
	size_t len;
};

enum snmp_version { SNMP_VERSION_V1, SNMP_VERSION_V2C, SNMP_VERSION_V3 };

enum snmp_level {
	SNMP_LEVEL_NOAUTH, /* noAuthNoPriv */
	SNMP_LEVEL_AUTHNOPRIV, /* authNoPriv */
	SNMP_LEVEL_AUTHPRIV /* authPriv */
};

enum snmp_auth {
	SNMP_AUTH_SHA, /* HMAC-SHA-96 */
	SNMP_AUTH_SHA256 /* HMAC-SHA-256 (usmHMAC192SHA256AuthProtocol) */
};

enum snmp_priv {
	SNMP_PRIV_AES /* AES-128-CFB */
};

/* A named credential set from the config; never logged. */
struct snmp_cred {
	char *name;
	enum snmp_version version;
	char *community; /* v1, v2c */
	char *user; /* v3 securityName */
	enum snmp_level level;
	enum snmp_auth auth;
	char *auth_pass;
	enum snmp_priv priv;
	char *priv_pass;
};

/* Value types, as the checks need them (not the BER tags). */
enum snmp_vtype {
	SNMP_VT_NULL,
	SNMP_VT_INTEGER,
	SNMP_VT_UNSIGNED, /* Gauge32 / Unsigned32 */
	SNMP_VT_COUNTER32,
	SNMP_VT_COUNTER64,
	SNMP_VT_TIMETICKS,
	SNMP_VT_STRING, /* OCTET STRING, also binary */
	SNMP_VT_OID,
	SNMP_VT_IPADDRESS,
	SNMP_VT_NOSUCHOBJECT,
	SNMP_VT_NOSUCHINSTANCE,
	SNMP_VT_ENDOFMIBVIEW,
	SNMP_VT_OTHER
};

/* One variable binding of a response. */
struct snmp_varbind {
	struct snmp_oid oid;
	enum snmp_vtype type;
	int64_t i; /* INTEGER */
	uint64_t u; /* the unsigned types, TimeTicks, IpAddress (host order) */
	char *str; /* OCTET STRING, NUL-terminated copy; may hold NULs */
	size_t str_len;
	struct snmp_oid oidval; /* OBJECT IDENTIFIER values */
};

/* How a request ended. */
enum snmp_result {
	SNMP_RESULT_OK, /* a response (see error_status) */
	SNMP_RESULT_TIMEOUT, /* no answer after the retries */
	SNMP_RESULT_UNREACHABLE, /* ICMP port or host unreachable came back */
	SNMP_RESULT_AUTH, /* v3: unknown user, wrong digest, ... */
	SNMP_RESULT_ERROR /* could not send, bad PDU, ... */
};

/* A response handed to the caller; it and its varbinds live until the
 * callback returns. */
struct snmp_response {
	enum snmp_result result;
	long error_status; /* SNMP errorStatus of a response, 0 = noError */
	long error_index;
	char reason[160]; /* readable cause, never a secret */
	struct snmp_varbind *vb;
	size_t nvb;
	uint64_t rtt_us;
};

typedef void (*snmp_cb)(const struct snmp_response *, void *);

struct snmp_engine;
struct snmp_agent;

/* Room for any OID snmp_oid_str writes. */
#define SNMP_OID_STRLEN (SNMP_OID_MAX * 11 + 1)

/* What the SNMP engine counts about itself, for /metrics. */
struct snmp_stats {
	uint64_t requests; /* accepted by snmp_agent_get/walk */
	uint64_t pdus_sent; /* datagrams sent, probes and retries too */
	uint64_t retries; /* of which resent after a timeout */
	uint64_t responses; /* PDUs answered */
	uint64_t timeouts; /* requests ended without an answer */
	uint64_t unreachable; /* requests ended by an ICMP error */
	uint64_t auth_errors; /* requests ended by an SNMPv3 report */
	uint64_t errors; /* requests ended otherwise */
	uint64_t unknown_source; /* datagrams from no agent of ours */
	uint64_t undecodable; /* datagrams that did not parse */
	uint64_t late; /* datagrams while nothing was in flight */
	uint64_t send_errors; /* failed sendto() calls */
	uint64_t discoveries; /* SNMPv3 engine IDs discovered */
	uint64_t keys_computed; /* passphrases turned into keys (Ku) */
	uint64_t agents; /* agents now */
	uint64_t queued; /* requests waiting or in flight now */
};

struct snmp_engine *snmp_engine_new(struct event_base *);
void snmp_engine_free(struct snmp_engine *);
void snmp_engine_stats(const struct snmp_engine *, struct snmp_stats *);
void snmp_engine_set_polled(struct snmp_engine *, int);
void snmp_engine_poll(struct snmp_engine *);
int snmp_engine_input(struct snmp_engine *, const uint8_t *, size_t,
    const struct sockaddr *, socklen_t);
struct snmp_agent *snmp_agent_new(struct snmp_engine *, const struct sockaddr *,
    socklen_t, const struct snmp_cred *, uint64_t, unsigned);
void snmp_agent_free(struct snmp_agent *);
int snmp_agent_get(struct snmp_agent *, const struct snmp_oid *, size_t,
    snmp_cb, void *);
int snmp_agent_walk(struct snmp_agent *, const struct snmp_oid *, size_t,
    unsigned, snmp_cb, void *);
int snmp_oid_parse(const char *, struct snmp_oid *);
const char *snmp_oid_str(const struct snmp_oid *, char *, size_t);
int snmp_oid_cmp(const struct snmp_oid *, const struct snmp_oid *);
int snmp_oid_has_prefix(const struct snmp_oid *, const struct snmp_oid *);
int snmp_oid_valid(const struct snmp_oid *);
void snmp_oid_copy(struct snmp_oid *, const struct snmp_oid *);
size_t snmp_oid_ber_len(const struct snmp_oid *);
int snmp_ber_packet_check(const uint8_t *, size_t, long *);
const char *snmp_agent_result_str(enum snmp_result);
const char *snmp_vb_vtype_str(enum snmp_vtype);

/* check_snmp.c */
/* A Nagios-style range ("10", "10:", "~:10", "10:20", "@10:20"). */
struct snmp_range {
	double lo, hi; /* -inf / +inf when open */
	int inside; /* "@": alert inside the range, not outside */
};

/* A host's SNMP agent as configured; its run time is in check_snmp.c. */
struct mon_snmp_host {
	char *cred_name;
	unsigned cred_line, cred_col;
	const struct snmp_cred *cred; /* resolved from cred_name */
	uint16_t port;
	uint64_t timeout_ms;
	unsigned retries;
	unsigned max_attempts; /* of the agent check */
	struct mon_check *agent_check; /* the implicit "snmp" check */
	struct snmp_host_rt *rt; /* moves to the new host on reload */
};

/* Settings of an SNMP check, then its run-time state. */
struct snmp_check {
	struct snmp_oid oid; /* "oid" */
	struct snmp_range warn, crit;
	int have_warn, have_crit;
	char *
	    *names; /* interfaces, storage: ifName/ifDescr or hrStorageDescr */
	size_t nnames;
	char **aliases; /* interfaces: ifAlias */
	size_t naliases;
	uint32_t *indexes; /* interfaces: ifIndex */
	size_t nindexes;
	double warn_pct, crit_pct; /* utilisation, disk or CPU; 0 = none */
	double err_warn, err_crit; /* interface errors per second; 0 = none */

	struct snmp_check_rt *rt;
};

int check_snmp_eval_range_parse(const char *, struct snmp_range *);
int check_snmp_eval_range_alert(const struct snmp_range *, double);
int check_snmp_eval_uptime_rebooted(uint64_t, uint64_t, uint64_t, uint64_t);
int check_snmp_eval_counter_delta(uint64_t, uint64_t, int, uint64_t *);
void check_snmp_free(struct snmp_check *);
int check_snmp_same(const struct mon_check *, const struct mon_check *);
int check_snmp_host_same(const struct mon_host *, const struct mon_host *);
void check_snmp_host_start(struct monitord *, struct mon_host *);
void check_snmp_host_adopt(struct mon_host *, struct mon_host *);
void check_snmp_host_stop(struct monitord *, struct mon_host *);
extern const struct check_kind_ops check_snmp_agent_ops, check_snmp_uptime_ops,
    check_snmp_if_ops, check_snmp_storage_ops, check_snmp_cpu_ops,
    check_snmp_oid_ops;

/* snmp_trap_match.c */
void snmp_trap_match(struct monitord *, const struct snmp_trap *);
void snmp_trap_match_index(struct monitord *);
void snmp_trap_match_index_free(struct monitord *);

/* plugin_output.c */
#define PLUGIN_OUTPUT_MAX 8192 /* bytes of a plugin's output kept */
#define PLUGIN_LABEL_MAX 128
#define PLUGIN_PERF_MAX 64 /* items of performance data kept */

/* One item of performance data: 'label'=value[UOM];warn;crit;min;max */
struct plugin_perf {
	char label[PLUGIN_LABEL_MAX];
	double value; /* NAN for U */
	char uom[8];
	char warn[32], crit[32]; /* ranges, as written */
	double min, max;
	int have_min, have_max;
};

/* What a plugin printed, taken apart. */
struct plugin_output {
	char *summary; /* the first line, without its performance data */
	char *long_output; /* the lines after it */
	struct plugin_perf *perf;
	size_t nperf;
	size_t perf_bad; /* items that did not parse */
};

void plugin_output_parse(const char *, size_t, struct plugin_output *);
void plugin_output_free(struct plugin_output *);
enum check_status plugin_output_exit_status(int);

/* plugin.c */
struct plugin_runner;
/* How a plugin run ended. */
struct plugin_result {
	int exited; /* exit code valid */
	int code; /* exit code */
	int signo; /* killed by this signal, or 0 */
	int timed_out;
	int spawn_error; /* errno of a failed start, or 0 */
	const char *out; /* stdout, NUL-terminated, at most PLUGIN_OUTPUT_MAX */
	size_t out_len;
	int truncated; /* more was written than kept */
	const char *err; /* stderr, the first KiB */
	uint64_t duration_us;
};
typedef void (*plugin_cb)(const struct plugin_result *, void *);
struct plugin_run;

struct plugin_runner *plugin_runner_new(struct event_base *, unsigned);
void plugin_runner_free(struct plugin_runner *);
void plugin_runner_set_max(struct plugin_runner *, unsigned);
struct plugin_run *plugin_start(struct plugin_runner *, char *const[], uint64_t,
    plugin_cb, void *);
void plugin_cancel(struct plugin_run *);
void plugin_runner_counts(const struct plugin_runner *, uint64_t *, uint64_t *,
    uint64_t *, uint64_t *);

/* check_plugin.c */
extern const struct check_kind_ops check_plugin_ops;
void check_plugin_text_add(char *, size_t, const char *);
void check_plugin_perf_store(struct mon_check *, const struct plugin_output *);

/* check_passive.c */
extern const struct check_kind_ops check_passive_ops;
void check_passive_result(struct mon_check *, enum check_status, const char *,
    size_t);

/* downtime.c */
#define MONITORD_DOWNTIME_DAYS 62 /* how far ahead windows are written */
int downtime_window(const struct downtime *, time_t, time_t *, time_t *);
int downtime_parse_local(const char *, const char *, time_t *);
int downtime_covers(const struct downtime *, const struct mon_check *);
const struct downtime *
downtime_of(struct mon_conf *, const struct mon_check *, time_t);
void downtime_free(struct downtime *);
void downtime_publish(struct monitord *, unsigned);

/* passive.c */
struct evhttp_request;
/* A result submitted for a passive check; strings live in root. */
struct passive_req {
	void *root; /* the decoded JSON (json_t) */
	const char *host, *check;
	int status; /* 0-3 */
	const char *output;
	size_t output_len;
};
int passive_parse(const char *, size_t, struct passive_req *, char *, size_t);
void passive_req_free(struct passive_req *);
void passive_handle(struct monitord *, struct evhttp_request *);
void passive_checks_json(struct monitord *, struct evhttp_request *);

/* metric_store.c */
struct metric_store *metric_store_new(struct monitord *);
void metric_store_free(struct metric_store *);
void metric_store_add(struct metric_store *, const char *, const char *,
    const char *, double);
size_t metric_store_pending(const struct metric_store *);
void metric_store_encode(struct evbuffer *, uint64_t, const char *,
    const char *, const char *, double);

/* snmp_trap.c */
#define SNMP_TRAP_MAX_VARBINDS 512 /* more and the datagram is malformed */

/* What a trap reports, from its (v1: converted) trap OID. */
enum snmp_trap_kind {
	TRAP_KIND_COLDSTART,
	TRAP_KIND_WARMSTART,
	TRAP_KIND_LINKDOWN,
	TRAP_KIND_LINKUP,
	TRAP_KIND_AUTHFAIL,
	TRAP_KIND_OTHER
};

/* One accepted trap or inform; the decoder owns varbinds (snmp_trap_clear). */
struct snmp_trap {
	int version; /* 1 or 2 (SNMPv2c) */
	int inform; /* an InformRequest, acknowledged by the listener */
	int32_t request_id; /* v2c */
	struct sockaddr_storage from; /* the sender, filled by the listener */
	socklen_t fromlen;
	/* v1 agent-addr (AF_INET, port 0); ss_family is 0 for v2c. */
	struct sockaddr_storage agent_addr;
	struct snmp_oid enterprise; /* v1 enterprise; empty for v2c */
	uint32_t uptime; /* TimeTicks: hundredths of a second */
	struct snmp_oid trap_oid; /* snmpTrapOID.0; v1 per RFC 3584 */
	enum snmp_trap_kind kind;
	int64_t
	    if_index; /* ifIndex.N, or N of ifOper/AdminStatus.N; -1: none */
	int if_admin_status; /* 1 up, 2 down, 3 testing; 0 absent */
	int if_oper_status; /* 1 up, 2 down, ... 7 lowerLayerDown; 0 absent */
	struct snmp_varbind *varbinds; /* v2c: without the first two */
	size_t nvarbinds;
};

/* What the trap listener counted, for /metrics. */
struct snmp_trap_stats {
	uint64_t received; /* datagrams */
	uint64_t accepted; /* handed to the callback */
	uint64_t bad_community;
	uint64_t malformed;
	uint64_t unsupported; /* SNMPv3 and others, or not a trap PDU */
	uint64_t informs_acked;
	uint64_t send_errors; /* acknowledgements the kernel refused */
	uint64_t recv_errors;
};

typedef void (*snmp_trap_cb)(const struct snmp_trap *, void *);
struct snmp_trap_listener *snmp_trap_new(struct event_base *, const char *,
    const char *const *, size_t, snmp_trap_cb, void *);
void snmp_trap_free(struct snmp_trap_listener *);
int snmp_trap_port(const struct snmp_trap_listener *);
void
snmp_trap_stats(const struct snmp_trap_listener *, struct snmp_trap_stats *);
int snmp_trap_decode(const uint8_t *, size_t, const char *const *, size_t,
    struct snmp_trap *, uint8_t *, size_t *, const char **);
void snmp_trap_clear(struct snmp_trap *);
char *snmp_trap_varbinds_json(const struct snmp_trap *);
const char *snmp_trap_kind_str(enum snmp_trap_kind);

/* hist.c */
#define HIST_FMTLEN 32 /* room for any double hist_format writes */
extern const double hist_bounds[HIST_NBUCKETS - 1]; /* the last is +Inf */
void hist_add(struct hist *, double);
double hist_quantile(const struct hist *, double);
const char *hist_format(double, char *, size_t);
void
hist_render(const struct hist *, const char *, const char *, struct evbuffer *);

/* metrics.c */
void metrics_render(struct monitord *, struct evbuffer *);

/* http.c */
struct mon_http;
struct mon_http *http_new(struct monitord *, const char *);
void http_free(struct mon_http *);
int http_port(const struct mon_http *);
int http_healthz(struct monitord *, struct evbuffer *);

/* priv.c */
int priv_drop(const char *);
int priv_journal_dir(const char *, const char *);

/* reload.c */
void reload_limits(struct monitord *);
int reload_apply(struct monitord *, const char *);

/* sweep.c */
int sweep_run(const char *, unsigned, uint64_t, int);

/* json_out.c */
void json_out_string(struct evbuffer *, const char *);

/* emit.c */
/* What a state change says besides the states: see emit_change. */
struct emit_extra {
	const char *host_state; /* the host check's: "UP"...; NULL otherwise */
	const char *root; /* the root-cause host it is suppressed by */
	int flapping; /* 1 flapping starts, 0 it stops, -1 neither */
	const char *downtime; /* the downtime it falls in */
};
void emit_change(struct monitord *, const struct mon_host *, const char *,
    enum check_kind, enum check_status, enum check_status, const char *,
    const struct emit_extra *);
size_t emit_pending(struct monitord *);
void emit_free(struct monitord *);
int emit_journal_open(struct monitord *);
void emit_kick(struct monitord *);

/* shard.c */
#define SHARD_COUNT 256
unsigned shard_of(const char *);
int shard_owns(const struct monitord *, const struct mon_host *);
int shard_parse_set(const char *, uint8_t[SHARD_COUNT]);
void shard_start(struct monitord *);
void shard_connected(struct monitord *);
void shard_figures(const struct monitord *, size_t *, long *, size_t *);
void shard_free(struct monitord *);

/* journal.c */
#define JOURNAL_CHANGE 'C' /* a state change: "host\0check\0json" */
#define JOURNAL_ACK 'A' /* every change up to its seq is done */
#define JOURNAL_MAX_PAYLOAD (16u << 20)
struct journal;
/* What journal_parse skipped. */
struct journal_parse_stats {
	size_t skipped; /* bytes in no valid record */
	size_t bad_runs; /* stretches of them */
	size_t first_bad; /* offset of the first */
};
/* Called with each record's type, seq and payload. */
typedef void (*journal_record_cb)(int, uint64_t, const char *, size_t, void *);
size_t journal_parse(const unsigned char *, size_t, journal_record_cb, void *,
    struct journal_parse_stats *);
int journal_change_split(const char *, size_t, const char **, const char **,
    const char **, size_t *);
struct journal *journal_open(const char *, journal_record_cb, void *);
int journal_append(struct journal *, int, uint64_t, const char *, const char *,
    const char *);
int journal_sync(struct journal *);
int journal_reset(struct journal *);
uint64_t journal_size(const struct journal *);
int journal_rewrite_begin(struct journal *);
int journal_rewrite_add(struct journal *, uint64_t, const char *, const char *,
    const char *);
int journal_rewrite_commit(struct journal *, int);
void journal_close(struct journal *);

#endif
