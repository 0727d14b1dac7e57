/*
 * What monitord says of itself at GET /metrics (Prometheus text format
 * 0.0.4, served by http.c).
 *
 * Labels carry fixed strings only, never a host or check name: with
 * 100,000 targets those would explode the number of series.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "db.h"
#include "httpd.h"
#include "monitord.h"
#include "xmalloc.h"

/* Label values of enum check_status, OK..PENDING. */
static const char *const metrics_status_labels[] = {
	[CHECK_OK] = "ok",
	[CHECK_WARNING] = "warning",
	[CHECK_CRITICAL] = "critical",
	[CHECK_UNKNOWN] = "unknown",
	[CHECK_PENDING] = "pending",
};

/* Writes the HELP and TYPE lines of one family. */
static void
metrics_head(struct evbuffer *buf, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* Writes one integer sample; labels is NULL or like kind="icmp". */
static void
metrics_u64(struct evbuffer *buf, const char *name, const char *labels,
    uint64_t v)
{
	if (labels != NULL)
		evbuffer_add_printf(buf, "%s{%s} %" PRIu64 "\n", name, labels,
		    v);
	else
		evbuffer_add_printf(buf, "%s %" PRIu64 "\n", name, v);
}

/* Writes one floating-point sample without labels. */
static void
metrics_double(struct evbuffer *buf, const char *name, double v)
{
	char num[HIST_FMTLEN];

	evbuffer_add_printf(buf, "%s %s\n", name,
	    hist_format(v, num, sizeof(num)));
}

/* Writes a family with a single integer sample. */
static void
metrics_one(struct evbuffer *buf, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_head(buf, name, type, help);
	metrics_u64(buf, name, NULL, v);
}

/* Writes one sample of a family labelled by one fixed label. */
static void
metrics_labelled(struct evbuffer *buf, const char *name, const char *label,
    const char *value, uint64_t v)
{
	evbuffer_add_printf(buf, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label,
	    value, v);
}

/*
 * Writes the ICMP engine's counters; with ICMP off (md->icmp NULL) they are
 * written as zeros, so that the set of series never changes.
 */
static void
metrics_render_icmp(struct monitord *md, struct evbuffer *buf)
{
	struct icmp_stats st;
	int m;

	memset(&st, 0, sizeof(st));
	if (md->icmp != NULL)
		probe_icmp_stats(md->icmp, &st);
	metrics_one(buf, "monitord_icmp_echoes_sent_total", "counter",
	    "ICMP echo requests handed to the kernel.", st.echoes_sent);
	metrics_one(buf, "monitord_icmp_replies_accepted_total", "counter",
	    "ICMP echo replies matched to an echo in flight.",
	    st.matched[ICMP_MATCH_ACCEPTED]);
	metrics_head(buf, "monitord_icmp_replies_dropped_total", "counter",
	    "ICMP messages received and dropped, by reason.");
	for (m = 0; m < ICMP_MATCH_COUNT; m++) {
		if (m == ICMP_MATCH_ACCEPTED)
			continue;
		metrics_labelled(buf, "monitord_icmp_replies_dropped_total",
		    "reason", probe_icmp_match_str((enum icmp_match)m),
		    st.matched[m]);
	}
}

/* The SNMP engine's and the trap listener's counters (zeros without). */
static void
metrics_render_snmp(struct monitord *md, struct evbuffer *buf)
{
	struct snmp_stats ss;
	struct snmp_trap_stats ts;

	memset(&ss, 0, sizeof(ss));
	memset(&ts, 0, sizeof(ts));
	if (md->snmp != NULL)
		snmp_engine_stats(md->snmp, &ss);
	if (md->traps != NULL)
		snmp_trap_stats(md->traps, &ts);
	metrics_one(buf, "monitord_snmp_requests_total", "counter",
	    "SNMP requests (GETs and walks) asked of the engine.", ss.requests);
	metrics_one(buf, "monitord_snmp_pdus_sent_total", "counter",
	    "SNMP datagrams sent, retries and discovery probes included.",
	    ss.pdus_sent);
	metrics_one(buf, "monitord_snmp_responses_total", "counter",
	    "SNMP response PDUs received.", ss.responses);
	metrics_one(buf, "monitord_snmp_timeouts_total", "counter",
	    "SNMP requests that ended without an answer.", ss.timeouts);
	metrics_one(buf, "monitord_snmp_unreachable_total", "counter",
	    "SNMP requests ended by an ICMP error.", ss.unreachable);
	metrics_one(buf, "monitord_snmp_auth_errors_total", "counter",
	    "SNMP requests ended by an SNMPv3 report.", ss.auth_errors);
	metrics_one(buf, "monitord_snmp_unknown_source_total", "counter",
	    "SNMP datagrams from no agent of ours.", ss.unknown_source);
	metrics_one(buf, "monitord_snmp_undecodable_total", "counter",
	    "SNMP datagrams that did not parse.", ss.undecodable);
	metrics_one(buf, "monitord_snmp_agents", "gauge", "SNMP agents polled.",
	    ss.agents);
	metrics_one(buf, "monitord_traps_dropped_total", "counter",
	    "Trap datagrams dropped: bad community, malformed or unsupported.",
	    ts.bad_community + ts.malformed + ts.unsupported);
	metrics_one(buf, "monitord_informs_acked_total", "counter",
	    "SNMP informs acknowledged.", ts.informs_acked);
}

/*
 * Appends the Prometheus text exposition of md's counters to buf.  It walks
 * every check once to count hard states, which is cheap per scrape.
 */
void
metrics_render(struct monitord *md, struct evbuffer *buf)
{
	const struct mon_stats *st = &md->stats;
	uint64_t prun, pqueue, pstart, ptime;
	uint64_t states[CHECK_PENDING + 1] = { 0 };
	double planned = 0;
	size_t nchecks = 0, i;
	unsigned s;

	if (md->conf != NULL) {
		nchecks = md->conf->nchecks;
		for (i = 0; i < nchecks; i++) {
			const struct mon_check *c = md->conf->checks[i];

			if ((unsigned)c->state.hard_status <= CHECK_PENDING)
				states[c->state.hard_status]++;
			if (c->interval_ms > 0 &&
			    c->kind != CHECK_KIND_SNMP_AGENT)
				planned += 1000.0 / (double)c->interval_ms;
		}
	}

	if (md->start_time != 0) {
		metrics_one(buf, "monitord_start_time_seconds", "gauge",
		    "Start time of the process since the Unix epoch in seconds.",
		    (uint64_t)md->start_time);
	}

	metrics_head(buf, "monitord_probes_sent_total", "counter",
	    "Probes started, by kind.");
	for (s = CHECK_KIND_ICMP; s < CHECK_KIND_COUNT; s++)
		if (s != CHECK_KIND_SNMP_AGENT)
			metrics_labelled(buf, "monitord_probes_sent_total",
			    "kind", check_kind_str((enum check_kind)s),
			    st->probes_sent[s]);
	metrics_head(buf, "monitord_probes_per_second", "gauge",
	    "Probes sent per second over the last complete 10-second window.");
	metrics_double(buf, "monitord_probes_per_second",
	    (double)st->window_probes[1] / 10.0);
	metrics_head(buf, "monitord_probes_planned_per_second", "gauge",
	    "Probes per second the configured check intervals ask for.");
	metrics_double(buf, "monitord_probes_planned_per_second", planned);
	metrics_one(buf, "monitord_probes_in_flight", "gauge",
	    "Probes running now.", st->in_flight);
	metrics_one(buf, "monitord_tcp_probes_in_flight", "gauge",
	    "TCP probes running now, each holding a socket.",
	    st->tcp_in_flight);
	metrics_one(buf, "monitord_probes_skipped_total", "counter",
	    "Probes skipped for running more than half an interval late.",
	    st->probes_skipped);
	metrics_one(buf, "monitord_probes_elsewhere_total", "counter",
	    "Probes not run because another poller holds the host's shard.",
	    st->probes_elsewhere);
	{
		size_t held, checks;
		long members;

		shard_figures(md, &held, &members, &checks);
		metrics_one(buf, "monitord_shards_held", "gauge",
		    "Hash shards this poller holds (all 256 when alone).",
		    held);
		metrics_one(buf, "monitord_pollers_live", "gauge",
		    "Pollers sharing the hosts, this one included.",
		    (uint64_t)members);
		metrics_one(buf, "monitord_checks_owned", "gauge",
		    "Checks whose host this poller probes.", checks);
	}
	metrics_one(buf, "monitord_probes_deferred_total", "counter",
	    "Probes that waited for a rate token or an in-flight slot.",
	    md->sched != NULL ? sched_deferred(md->sched) :
				st->probes_deferred);
	hist_render(&st->lateness, "monitord_probe_lateness_seconds",
	    "Time from a probe's deadline to its start, in seconds.", buf);
	metrics_head(buf, "monitord_probe_lateness_window_max_seconds", "gauge",
	    "Worst probe lateness in the current and the previous 10-second "
	    "window, in seconds.");
	metrics_double(buf, "monitord_probe_lateness_window_max_seconds",
	    st->window_max[0] > st->window_max[1] ? st->window_max[0] :
						    st->window_max[1]);

	metrics_head(buf, "monitord_check_results_total", "counter",
	    "Check results, by status.");
	for (s = CHECK_OK; s <= CHECK_UNKNOWN; s++)
		metrics_labelled(buf, "monitord_check_results_total", "result",
		    metrics_status_labels[s], st->results[s]);
	metrics_head(buf, "monitord_checks", "gauge",
	    "Configured checks, by hard state.");
	for (s = CHECK_OK; s <= CHECK_PENDING; s++)
		metrics_labelled(buf, "monitord_checks", "state",
		    metrics_status_labels[s], states[s]);
	metrics_one(buf, "monitord_checks_configured", "gauge",
	    "Checks in the loaded configuration.", nchecks);
	plugin_runner_counts(md->plugins, &prun, &pqueue, &pstart, &ptime);
	metrics_one(buf, "monitord_plugins_running", "gauge",
	    "Plugins running now.", prun);
	metrics_one(buf, "monitord_plugins_queued", "gauge",
	    "Plugins waiting for a slot (plugins.max_concurrent).", pqueue);
	metrics_one(buf, "monitord_plugins_started_total", "counter",
	    "Plugins started.", pstart);
	metrics_one(buf, "monitord_plugins_timed_out_total", "counter",
	    "Plugins killed at their timeout, with their process group.",
	    ptime);
	metrics_one(buf, "monitord_host_checks_on_demand_total", "counter",
	    "Host checks run early because a check behind them failed.",
	    st->on_demand);
	metrics_one(buf, "monitord_problems_suppressed_total", "counter",
	    "Problems recorded with a root cause (first isolation).",
	    st->suppressed);
	metrics_one(buf, "monitord_passive_results_total", "counter",
	    "Passive results accepted.", st->passive_accepted);
	metrics_one(buf, "monitord_passive_refused_total", "counter",
	    "Passive results refused for a wrong or missing token.",
	    st->passive_refused);
	metrics_one(buf, "monitord_flapping_started_total", "counter",
	    "Times a check started flapping.", st->flap_starts);
	metrics_one(buf, "monitord_flapping_stopped_total", "counter",
	    "Times a check stopped flapping.", st->flap_stops);
	metrics_one(buf, "monitord_state_changes_total", "counter",
	    "Hard state changes recorded in the database.", st->state_changes);
	metrics_one(buf, "monitord_state_changes_failed_total", "counter",
	    "Hard state changes the database refused or that were dropped at "
	    "shutdown.",
	    st->changes_failed);
	metrics_one(buf, "monitord_db_queue_depth", "gauge",
	    "Database statements queued or in flight.",
	    md->db != NULL ? db_pending(md->db) : 0);
	metrics_one(buf, "monitord_state_changes_queued", "gauge",
	    "Hard state changes not yet recorded in the database.",
	    emit_pending(md));
	metrics_one(buf, "monitord_db_connected", "gauge",
	    "1 when the database connection is up, else 0.",
	    md->db != NULL && db_connected(md->db) ? 1 : 0);

	metrics_render_icmp(md, buf);

	metrics_head(buf, "monitord_config_reloads_total", "counter",
	    "Configuration reloads, by result.");
	metrics_labelled(buf, "monitord_config_reloads_total", "result", "ok",
	    st->reloads_ok);
	metrics_labelled(buf, "monitord_config_reloads_total", "result",
	    "failed", st->reloads_failed);
	metrics_render_snmp(md, buf);
	metrics_one(buf, "monitord_traps_received_total", "counter",
	    "SNMP traps and informs accepted by the listener.",
	    st->traps_received);
	metrics_one(buf, "monitord_traps_unknown_sender_total", "counter",
	    "Traps from an address that is no configured host.",
	    st->traps_unknown);
	metrics_one(buf, "monitord_metric_samples_queued", "gauge",
	    "Measured values waiting to be written to the database.",
	    metric_store_pending(md->store));
	metrics_one(buf, "monitord_metric_samples_dropped_total", "counter",
	    "Measured values dropped: the buffer was full, or the database "
	    "refused their batch.",
	    st->samples_dropped);
}
