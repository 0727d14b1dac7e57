/*
 * monitord: the prober.  Shared structs and one prototype block per file.
 */
#ifndef MONITORD_H
#define MONITORD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>

#include <event2/event.h>

#include "log.h"

struct cfg_doc;
struct db;
struct sched;
struct probe_icmp;
struct icmp_probe;
struct probe_tcp;

/* Network segments of the municipality (運用監視基準 differ per segment). */
enum mon_segment {
	SEGMENT_CORE,
	SEGMENT_INFORMATION,
	SEGMENT_FINANCE,
	SEGMENT_OTHER
};

enum check_kind {
	CHECK_KIND_ICMP,
	CHECK_KIND_TCP
};

/* Check results and states, in Nagios order; PENDING before the first. */
enum check_status {
	CHECK_OK,
	CHECK_WARNING,
	CHECK_CRITICAL,
	CHECK_UNKNOWN,
	CHECK_PENDING
};

enum check_state_type {
	CHECK_SOFT,
	CHECK_HARD
};

/* What one result did to a check's state. */
enum check_transition {
	CHECK_NO_CHANGE,
	CHECK_SOFT_CHANGE,
	CHECK_HARD_CHANGE
};

/* The soft/hard state of one check (check.c). */
struct check_state {
	enum check_status status;      /* latest, soft or hard */
	enum check_status hard_status; /* last hard state */
	enum check_state_type type;
	unsigned attempt; /* 1..max_attempts while soft non-OK */
};

/* One entry of the timing wheel (sched.c); embedded in its owner. */
struct sched_entry {
	TAILQ_ENTRY(sched_entry) link;
	uint64_t deadline; /* monotonic ms */
	int queued;
	void (*cb)(struct sched_entry *, uint64_t, void *);
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
	} tcp;
	unsigned line, col;

	struct monitord *md;
	struct check_state state;
	struct sched_entry sched;
	uint64_t hash;
	int in_flight;
	struct icmp_probe *icmp_probe;
	struct probe_tcp *tcp_probe;
	char output[512];
};

/* A loaded monitord.yaml. */
struct mon_conf {
	char *file;
	char *instance;
	char *database; /* libpq conninfo; NULL means the PG* environment */
	enum log_level log_level;
	struct mon_host **hosts;
	size_t nhosts;
	struct mon_check **checks;
	size_t nchecks;
};

/* The running daemon. */
struct monitord {
	struct event_base *base;
	struct mon_conf *conf;
	struct sched *sched;
	struct probe_icmp *icmp;
	struct db *db;
	uint64_t last_seq;
	uint64_t probes_sent;
	uint64_t changes_emitted;
};

/* conf.c */
struct mon_conf *mon_conf_load(const char *, struct cfg_doc **);
void mon_conf_free(struct mon_conf *);
const char *mon_segment_str(enum mon_segment);
const char *check_kind_str(enum check_kind);

/* check.c */
const char *check_status_str(enum check_status);
const char *check_state_type_str(enum check_state_type);
void check_state_init(struct check_state *);
enum check_transition check_state_apply(struct check_state *,
    enum check_status, unsigned);
void check_start(struct monitord *, struct mon_check *, uint64_t);
void check_stop(struct mon_check *);

/* sched.c */
struct sched *sched_new(struct event_base *, uint64_t (*)(void));
void sched_free(struct sched *);
void sched_add(struct sched *, struct sched_entry *, uint64_t);
void sched_remove(struct sched *, struct sched_entry *);
void sched_tick(struct sched *, uint64_t);
size_t sched_count(const struct sched *);
uint64_t sched_hash(const char *, const char *);
uint64_t sched_first_deadline(uint64_t, uint64_t, uint64_t);
uint64_t sched_next_deadline(uint64_t, uint64_t, uint64_t, uint64_t *);

/* icmp_packet.c, probe_icmp.c: ICMP_BLOCK (replace this line) */

/* probe_tcp.c */
enum probe_tcp_outcome {
	PROBE_TCP_CONNECTED,
	PROBE_TCP_REFUSED,
	PROBE_TCP_TIMEOUT,
	PROBE_TCP_UNREACHABLE,
	PROBE_TCP_ERROR
};
typedef void (*probe_tcp_cb)(enum probe_tcp_outcome, uint64_t, int, void *);
struct probe_tcp *probe_tcp_start(struct event_base *,
    const struct sockaddr *, socklen_t, uint64_t, probe_tcp_cb, void *);
void probe_tcp_cancel(struct probe_tcp *);
const char *probe_tcp_outcome_str(enum probe_tcp_outcome);

/* emit.c */
void emit_state_change(struct monitord *, const struct mon_check *,
    enum check_status, enum check_status, const char *);

#endif
