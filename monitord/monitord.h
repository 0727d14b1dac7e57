/*
 * monitord: the prober.  Shared structs and one prototype block per file.
 */
#ifndef MONITORD_H
#define MONITORD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "log.h"

struct cfg_doc;
struct db;
struct sched;
struct probe_icmp;
struct icmp_probe;
struct probe_tcp;
struct emit;

/* Network segments of the municipality (運用監視基準 differ per segment). */
enum mon_segment {
	SEGMENT_CORE,
	SEGMENT_INFORMATION,
	SEGMENT_FINANCE,
	SEGMENT_OTHER
};

enum check_kind { CHECK_KIND_ICMP, CHECK_KIND_TCP };

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

/* A monitored host. */
struct mon_host {
	char *name;
	char *address; /* as written in the config */
	struct sockaddr_storage ss;
	socklen_t sslen;
	enum mon_segment segment;
	unsigned line, col;
	unsigned name_line, name_col;
};

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
	unsigned line, col;

	struct monitord *md;
	struct check_state state;
	struct sched_entry sched;
	uint64_t hash;
	uint64_t last_deadline; /* of the run in flight or last run */
	int in_flight;
	int reload_kept; /* carried over by the reload in progress */
	struct icmp_probe *icmp_probe;
	struct probe_tcp *tcp_probe;
};

/* A loaded monitord.yaml. */
struct mon_conf {
	char *file;
	char *instance;
	char *database; /* libpq conninfo; NULL means the PG* environment */
	enum log_level log_level;
	char *user; /* drop privileges to this user; NULL: stay */
	char *metrics_listen; /* "127.0.0.1:9810"; NULL: no endpoint */
	double max_rate; /* probes per second; 0: derived */
	uint64_t max_in_flight; /* 0: derived */
	struct mon_host **hosts;
	size_t nhosts;
	struct mon_check **checks;
	size_t nchecks;
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
	uint64_t probes_sent[2]; /* by enum check_kind */
	uint64_t probes_skipped; /* more than half an interval late */
	uint64_t probes_deferred; /* waited for a token or an in-flight slot */
	uint64_t in_flight; /* probes running now */
	uint64_t tcp_in_flight; /* of which TCP, each holding an fd */
	uint64_t results[4]; /* by enum check_status, OK..UNKNOWN */
	uint64_t state_changes; /* hard changes recorded */
	uint64_t changes_failed; /* refused by the database */
	uint64_t reloads_ok, reloads_failed;
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
	struct metrics *metrics;
	struct emit *emit;
	double planned_rate; /* probes per second the intervals ask for */
	struct mon_stats stats;
	char output[1024]; /* the result text being written */
	struct daemon_stop stop;
};

/* conf.c */
struct mon_conf *mon_conf_load(const char *, struct cfg_doc **);
void mon_conf_free(struct mon_conf *);
void mon_check_free(struct mon_check *);
const char *mon_segment_str(enum mon_segment);
const char *check_kind_str(enum check_kind);

/* check.c */
const char *check_status_str(enum check_status);
const char *check_state_type_str(enum check_state_type);
void check_state_init(struct check_state *);
enum check_transition
check_state_apply(struct check_state *, enum check_status, unsigned);
void check_start(struct monitord *, struct mon_check *, uint64_t);
void check_stop(struct mon_check *);

/* sched.c */
struct sched *sched_new(struct event_base *, uint64_t (*)(void));
void sched_free(struct sched *);
void sched_set_limits(struct sched *, double, double, uint64_t);
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
const char *icmp_parse_result_str(enum icmp_parse_result);

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
const char *icmp_sock_kind_str(enum icmp_sock_kind);
const char *icmp_outcome_str(enum icmp_outcome);
const char *icmp_match_str(enum icmp_match);

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

/* hist.c */
#define HIST_FMTLEN 32 /* room for any double hist_format writes */
extern const double hist_bounds[HIST_NBUCKETS - 1]; /* the last is +Inf */
void hist_add(struct hist *, double);
double hist_quantile(const struct hist *, double);
const char *hist_format(double, char *, size_t);
void
hist_render(const struct hist *, const char *, const char *, struct evbuffer *);

/* metrics.c */
struct metrics;
struct metrics *metrics_new(struct monitord *, const char *);
int metrics_parse_listen(const char *, struct sockaddr_storage *, socklen_t *,
    const char **);
void metrics_free(struct metrics *);
int metrics_port(const struct metrics *);
void metrics_render(struct monitord *, struct evbuffer *);
int metrics_healthy(struct monitord *, struct evbuffer *);

/* priv.c */
int priv_drop(const char *);

/* reload.c */
void reload_limits(struct monitord *);
int reload_apply(struct monitord *, const char *);

/* sweep.c */
int sweep_run(const char *, unsigned, uint64_t, int);

/* emit.c */
void emit_state_change(struct monitord *, const struct mon_check *,
    enum check_status, enum check_status, const char *);
size_t emit_pending(struct monitord *);
void emit_free(struct monitord *);
void emit_json_string(struct evbuffer *, const char *);

#endif
