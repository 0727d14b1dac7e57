/*
 * Checks: the soft/hard state machine, and the glue that runs a check's
 * probe when the scheduler says it is due and turns the probe's outcome into
 * a check result.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"
#include "text.h"
#include "timeutil.h"
#include "xmalloc.h"

static const char *const check_status_names[] = {
	[CHECK_OK] = "OK",
	[CHECK_WARNING] = "WARNING",
	[CHECK_CRITICAL] = "CRITICAL",
	[CHECK_UNKNOWN] = "UNKNOWN",
	[CHECK_PENDING] = "PENDING",
};

const char *
check_status_str(enum check_status status)
{
	if ((unsigned)status > CHECK_PENDING)
		return "?";
	return check_status_names[status];
}

const char *
check_state_type_str(enum check_state_type type)
{
	return type == CHECK_HARD ? "HARD" : "SOFT";
}

/* A check starts PENDING: nothing is known until its first result. */
void
check_state_init(struct check_state *st)
{
	st->status = CHECK_PENDING;
	st->hard_status = CHECK_PENDING;
	st->type = CHECK_HARD;
	st->attempt = 0;
}

/*
 * Applies one result.  A problem becomes hard only after max_attempts
 * consecutive non-OK results; a recovery from a hard problem, and a move
 * between two problem states while hard, are hard at once.  PENDING counts
 * as OK for the attempts, so a target that is down at start-up still needs
 * its retries before it raises an incident.
 */
enum check_transition
check_state_apply(struct check_state *st, enum check_status result,
    unsigned max_attempts)
{
	int hard_problem =
	    st->hard_status != CHECK_OK && st->hard_status != CHECK_PENDING;

	if (result == CHECK_OK) {
		if (st->hard_status != CHECK_OK) {
			st->status = st->hard_status = CHECK_OK;
			st->type = CHECK_HARD;
			st->attempt = 0;
			return CHECK_HARD_CHANGE;
		}
		if (st->status != CHECK_OK) {
			/* A soft problem went away: no one was told. */
			st->status = CHECK_OK;
			st->type = CHECK_HARD;
			st->attempt = 0;
			return CHECK_SOFT_CHANGE;
		}
		return CHECK_NO_CHANGE;
	}

	if (hard_problem) {
		if (result == st->hard_status)
			return CHECK_NO_CHANGE;
		st->status = st->hard_status = result;
		return CHECK_HARD_CHANGE;
	}

	st->attempt = st->type == CHECK_SOFT ? st->attempt + 1 : 1;
	if (st->attempt >= max_attempts) {
		st->status = st->hard_status = result;
		st->type = CHECK_HARD;
		st->attempt = max_attempts;
		return CHECK_HARD_CHANGE;
	}
	st->status = result;
	st->type = CHECK_SOFT;
	return CHECK_SOFT_CHANGE;
}

/* The interval that applies now: shorter while a problem is being confirmed. */
static uint64_t
check_current_interval(const struct mon_check *c)
{
	return c->state.type == CHECK_SOFT ? c->retry_interval_ms :
					     c->interval_ms;
}

/*
 * Adds a result to a flapping history (a ring of CHECK_FLAP_HISTORY, which
 * the first result fills) and returns the weighted share of state changes
 * in it, in percent, in *pct.  Newer changes weigh more (1.2) than older
 * ones (0.8), as in Nagios, so that flapping is seen to start and to stop
 * sooner.  Returns 1 when the result changed the state.
 */
int
check_flap_push(uint8_t *hist, uint8_t *n, uint8_t *pos,
    enum check_status result, double *pct)
{
	const size_t len = CHECK_FLAP_HISTORY;
	double changes = 0;
	uint8_t prev;
	size_t i, k;
	int changed;

	if (*n == 0) {
		memset(hist, (int)result, len);
		*n = (uint8_t)len;
		*pos = 0;
	}
	prev = hist[(*pos + len - 1) % len];
	changed = prev != (uint8_t)result;
	hist[*pos] = (uint8_t)result;
	*pos = (uint8_t)((*pos + 1) % len);
	/* oldest first: the ring's next slot is its oldest */
	for (i = 1; i < len; i++) {
		k = (*pos + i) % len;
		if (hist[k] != hist[(k + len - 1) % len])
			changes +=
			    0.8 + 0.4 * (double)(i - 1) / (double)(len - 2);
	}
	*pct = changes * 100.0 / (double)(len - 1);
	return changed;
}

/* Whether a status is a problem (not OK, not PENDING). */
static int
check_problem(enum check_status s)
{
	return s != CHECK_OK && s != CHECK_PENDING;
}

/*
 * Sends a recorded change of c (or of a part, by name) with what the
 * topology says of it, and keeps what was recorded.
 */
static void
check_emit(struct mon_check *c, struct check_state *st, const char *name,
    enum check_status old, enum check_status now, const char *output,
    int flapping)
{
	struct monitord *md = c->md;
	const struct mon_host *root = NULL, *hroot;
	struct emit_extra x = { NULL, NULL, flapping, NULL };
	const struct downtime *dt;

	if (check_problem(now) && flapping != 0)
		root = topo_suppressor(c);
	if (root != NULL) {
		x.root = root->name;
		md->stats.suppressed++;
	}
	if ((dt = downtime_of(md->conf, c, time(NULL))) != NULL)
		x.downtime = dt->name;
	if (c == c->host->host_check && st == &c->state) {
		c->host->state = topo_host_state(c->host, &hroot);
		x.host_state = host_state_str(c->host->state);
	}
	if (st == &c->state) {
		c->cover_lost_ms = 0;
		free(c->suppressed_by);
		c->suppressed_by = root != NULL ? xstrdup(root->name) : NULL;
		c->recorded = now;
	}
	emit_change(md, c->host, name, c->kind, old, now, output, &x);
}

/*
 * Applies one result to a state (the check's own, or one of its parts such
 * as an interface, named sub): the state machine, flapping, first
 * isolation, the logs, and the hand-off of hard changes.  max_attempts 1
 * makes the result hard at once (a trap, a reboot).
 */
static void
check_apply(struct mon_check *c, struct check_state *st, const char *name,
    enum check_status result, const char *output, unsigned max_attempts)
{
	struct monitord *md = c->md;
	enum check_status old_hard = st->hard_status, old = st->status;
	enum check_transition tr;
	int own = st == &c->state, is_host = own && c == c->host->host_check;
	int was_failing = is_host ? topo_host_failing(c->host) : 0;
	int flap = 0, emitted = 0;

	if ((unsigned)result <= CHECK_UNKNOWN)
		md->stats.results[result]++;
	if (own) {
		size_t len = strlen(output);

		c->last_result = time(NULL);
		/*
		 * An OK ping or connect says no more than its samples do
		 * (metric_sample), and 100,000 of them would cost a tenth of
		 * a kilobyte each: only problems keep their text.
		 */
		if (result == CHECK_OK &&
		    (c->kind == CHECK_KIND_ICMP || c->kind == CHECK_KIND_TCP)) {
			free(c->last_output);
			c->last_output = NULL;
			c->last_output_cap = 0;
		} else {
			/* kept in place: outputs change on every result */
			if (len + 1 > c->last_output_cap) {
				c->last_output_cap = len + 1;
				c->last_output = xreallocarray(c->last_output,
				    c->last_output_cap, 1);
			}
			memcpy(c->last_output, output, len + 1);
		}
	}
	tr = check_state_apply(st, result, max_attempts);
	if (own && c->flap.enabled > 0) {
		check_flap_push(c->flap_hist, &c->flap_n, &c->flap_pos, result,
		    &c->flap_pct);
		if (!c->flapping && c->flap_pct >= c->flap.start_pct)
			flap = 1;
		else if (c->flapping && c->flap_pct < c->flap.stop_pct)
			flap = -1;
	}
	/* A first failure: ask the hosts this one depends on, now. */
	if (own && check_problem(result) && !check_problem(old))
		topo_first_failure(c);

	switch (tr) {
	case CHECK_HARD_CHANGE:
		if (old_hard == CHECK_PENDING && result == CHECK_OK)
			log_debug("%s %s: %s", c->host->name, name, output);
		else
			log_notice("%s %s: %s -> %s (HARD%s): %s",
			    c->host->name, name, check_status_str(old_hard),
			    check_status_str(result),
			    own && c->flapping ? ", flapping" : "", output);
		/* While it flaps, its changes are one fault, not many. */
		if (!(own && c->flapping))
			check_emit(c, st, name, old_hard, result, output, -1);
		else if (flap == -1) {
			check_emit(c, st, name, c->recorded, result, output, 0);
			emitted = 1;
		}
		break;
	case CHECK_SOFT_CHANGE:
		log_info("%s %s: %s (SOFT %u/%u): %s", c->host->name, name,
		    check_status_str(result), st->attempt, max_attempts,
		    output);
		break;
	case CHECK_NO_CHANGE:
		break;
	}
	if (flap == 1) {
		c->flapping = 1;
		md->stats.flap_starts++;
		log_notice("%s %s: flapping (%.0f%% state changes)",
		    c->host->name, name, c->flap_pct);
		snprintf(md->output, sizeof(md->output),
		    "FLAPPING - %.0f%% of the last %d results changed the "
		    "state (start threshold %.0f%%); changes are not "
		    "reported until it settles",
		    c->flap_pct, CHECK_FLAP_HISTORY, c->flap.start_pct);
		/* A check that never settled has only its latest state. */
		check_emit(c, st, name,
		    c->recorded != CHECK_PENDING ? c->recorded : st->status,
		    st->hard_status != CHECK_PENDING ? st->hard_status :
						       st->status,
		    md->output, 1);
	} else if (flap == -1) {
		c->flapping = 0;
		md->stats.flap_stops++;
		log_notice("%s %s: stopped flapping (%.0f%%), %s",
		    c->host->name, name, c->flap_pct,
		    check_status_str(st->hard_status));
		if (!emitted)
			check_emit(c, st, name,
			    c->recorded != CHECK_PENDING ? c->recorded :
							   st->status,
			    st->hard_status != CHECK_PENDING ? st->hard_status :
							       st->status,
			    output, 0);
	}
	/* A result taken after the cover went, and still a problem. */
	if (own && c->suppressed_by != NULL && c->cover_lost_ms != 0 &&
	    c->last_deadline >= c->cover_lost_ms && tr == CHECK_NO_CHANGE) {
		c->cover_lost_ms = 0;
		if (topo_suppressor(c) == NULL)
			check_reclassify(c);
	}
	if (is_host && was_failing != topo_host_failing(c->host)) {
		topo_host_changed(c->host, was_failing);
		if (was_failing)
			topo_host_answers(c->host);
	}
}

/*
 * The cover of a recorded problem of c has gone (its host or a parent
 * answers again) while the problem stays: record it again, as a fault of
 * its own.
 */
void
check_reclassify(struct mon_check *c)
{
	if (!check_problem(c->state.hard_status) || c->flapping)
		return;
	log_notice("%s %s: %s, no longer covered by %s", c->host->name, c->name,
	    check_status_str(c->state.hard_status), c->suppressed_by);
	snprintf(c->md->output, sizeof(c->md->output),
	    "%s still %s after %s answered again", c->name,
	    check_status_str(c->state.hard_status), c->suppressed_by);
	check_emit(c, &c->state, c->name, c->state.hard_status,
	    c->state.hard_status, c->md->output, -1);
}

/* Records a result of the check itself: see check_apply, then the retry
 * timing. */
static void
check_result(struct mon_check *c, enum check_status result)
{
	struct monitord *md = c->md;
	uint64_t want;

	check_apply(c, &c->state, c->name, result, md->output, c->max_attempts);
	/*
	 * The next run was planned with the interval that applied when this
	 * one started; a move into or out of a soft state changes it.
	 */
	want = c->last_deadline + check_current_interval(c);
	if (c->sched.queued && want != c->sched.deadline)
		sched_add(md->sched, &c->sched, want);
}

/*
 * Records a result that no probe of this check produced (the implicit SNMP
 * agent check, a trap): the text is in md->output.  max_attempts 0 means
 * the check's own.
 */
void
check_record(struct mon_check *c, enum check_status result,
    unsigned max_attempts)
{
	check_apply(c, &c->state, c->name, result, c->md->output,
	    max_attempts ? max_attempts : c->max_attempts);
}

/* Records a result of one part of a check (an interface, say). */
void
check_sub_result(struct mon_check *c, struct check_state *st, const char *name,
    enum check_status result, const char *output, int hard_now)
{
	check_apply(c, st, name, result, output,
	    hard_now ? 1 : c->max_attempts);
}

/* A probe has ended: its in-flight slot goes back to the scheduler. */
static void
check_probe_ended(struct mon_check *c)
{
	struct monitord *md = c->md;

	c->in_flight = 0;
	sched_done(md->sched);
	md->stats.in_flight = sched_in_flight(md->sched);
}

/* The check's probe has ended with this result (text in md->output). */
void
check_finish(struct mon_check *c, enum check_status result)
{
	check_probe_ended(c);
	check_result(c, result);
}

/* The check's probe has ended without a result of its own (its host's
 * agent did not answer: that is the agent check's fault, not this one's). */
void
check_finish_quiet(struct mon_check *c)
{
	check_probe_ended(c);
}

/* The address of a check's host as written in the config, for messages. */
static const char *
check_addr_str(const struct mon_check *c)
{
	return c->host->address;
}

static void
check_tcp_cb(const struct probe_tcp_result *r, void *arg)
{
	struct mon_check *c = arg;
	struct monitord *md = c->md;
	enum check_status status = CHECK_OK;

	c->tcp_probe = NULL;
	md->stats.tcp_in_flight--;
	check_probe_ended(c);
	if (r->outcome != PROBE_TCP_CONNECTED) {
		snprintf(md->output, sizeof(md->output),
		    "TCP CRITICAL - %s on %s port %u after %.3f s%s%s",
		    probe_tcp_outcome_str(r->outcome), check_addr_str(c),
		    c->tcp.port, (double)r->total_us / 1e6,
		    r->banner[0] ? ": " : "", r->banner);
		check_result(c, CHECK_CRITICAL);
		return;
	}
	if (c->tcp.connect_crit_ms != 0 &&
	    r->connect_us >= c->tcp.connect_crit_ms * 1000)
		status = CHECK_CRITICAL;
	else if (c->tcp.connect_warn_ms != 0 &&
	    r->connect_us >= c->tcp.connect_warn_ms * 1000)
		status = CHECK_WARNING;
	snprintf(md->output, sizeof(md->output),
	    "TCP %s - %.3f s response time on %s port %u%s%s",
	    check_status_str(status), (double)r->connect_us / 1e6,
	    check_addr_str(c), c->tcp.port, r->banner[0] ? ": " : "",
	    r->banner);
	if (c->store_samples)
		metric_store_add(md->store, c->host->name, c->name, "time[s]",
		    (double)r->connect_us / 1e6);
	check_result(c, status);
}

static void
check_icmp_cb(const struct icmp_result *r, void *arg)
{
	struct mon_check *c = arg;
	struct monitord *md = c->md;
	enum check_status status = CHECK_OK;

	c->icmp_probe = NULL;
	check_probe_ended(c);
	if (r->outcome == ICMP_RESULT_NO_SOCKET) {
		/* We cannot ping that family at all: we know nothing. */
		snprintf(md->output, sizeof(md->output),
		    "PING UNKNOWN - %s: %s", check_addr_str(c),
		    icmp_outcome_str(r->outcome));
		check_result(c, CHECK_UNKNOWN);
		return;
	}
	if (r->received == 0) {
		snprintf(md->output, sizeof(md->output),
		    "PING CRITICAL - %s: %s, %u/%u lost", check_addr_str(c),
		    icmp_outcome_str(r->outcome), r->sent - r->received,
		    r->sent);
		if (c->store_samples)
			metric_store_add(md->store, c->host->name, c->name,
			    "pl[%]", 100);
		check_result(c, CHECK_CRITICAL);
		return;
	}
	if (r->loss_pct >= c->icmp.loss_crit_pct ||
	    r->rtt_avg_ms >= c->icmp.rtt_crit_ms)
		status = CHECK_CRITICAL;
	else if (r->loss_pct >= c->icmp.loss_warn_pct ||
	    r->rtt_avg_ms >= c->icmp.rtt_warn_ms)
		status = CHECK_WARNING;
	snprintf(md->output, sizeof(md->output),
	    "PING %s - %s: rta %.3f ms (min %.3f, max %.3f, jitter %.3f), "
	    "lost %.0f%% (%u/%u)",
	    check_status_str(status), check_addr_str(c), r->rtt_avg_ms,
	    r->rtt_min_ms, r->rtt_max_ms, r->jitter_ms, r->loss_pct,
	    r->sent - r->received, r->sent);
	if (c->store_samples) {
		metric_store_add(md->store, c->host->name, c->name, "rta[ms]",
		    r->rtt_avg_ms);
		metric_store_add(md->store, c->host->name, c->name, "pl[%]",
		    r->loss_pct);
	}
	check_result(c, status);
}

/* Appends text to md->output, cut at its end. */
static void
check_output_add(struct monitord *md, const char *text)
{
	size_t len = strlen(md->output);

	if (len + 1 < sizeof(md->output))
		snprintf(md->output + len, sizeof(md->output) - len, "%s",
		    text);
}

/* Performance data: every value, as a measured value. */
static void
check_store_perf(struct mon_check *c, const struct plugin_output *po)
{
	for (size_t i = 0; i < po->nperf; i++) {
		char metric[PLUGIN_LABEL_MAX + 16];

		if (po->perf[i].uom[0] != '\0')
			snprintf(metric, sizeof(metric), "%s[%s]",
			    po->perf[i].label, po->perf[i].uom);
		else
			snprintf(metric, sizeof(metric), "%s",
			    po->perf[i].label);
		text_clean(metric);
		metric_store_add(c->md->store, c->host->name, c->name, metric,
		    po->perf[i].value);
	}
}

static void
check_plugin_cb(const struct plugin_result *r, void *arg)
{
	struct mon_check *c = arg;
	struct monitord *md = c->md;
	struct plugin_output po;
	enum check_status status;
	char note[160];

	c->plugin_run = NULL;
	check_probe_ended(c);
	plugin_output_parse(r->out, r->out_len, &po);
	if (r->spawn_error != 0) {
		status = CHECK_UNKNOWN;
		snprintf(md->output, sizeof(md->output),
		    "PLUGIN UNKNOWN - cannot run %s: %s", c->plugin.argv[0],
		    strerror(r->spawn_error));
	} else if (r->timed_out) {
		status = c->plugin.timeout_state;
		snprintf(md->output, sizeof(md->output),
		    "PLUGIN %s - %s timed out after %.1f s (its process "
		    "group was killed)",
		    check_status_str(status), c->plugin.argv[0],
		    (double)c->timeout_ms / 1000);
	} else {
		if (r->signo != 0) {
			status = CHECK_UNKNOWN;
			snprintf(note, sizeof(note),
			    "killed by signal %d: ", r->signo);
		} else if (r->code < 0 || r->code > 3) {
			status = CHECK_UNKNOWN;
			snprintf(note, sizeof(note),
			    "exit code %d (not 0-3): ", r->code);
		} else {
			status = plugin_exit_status(r->code);
			note[0] = '\0';
		}
		snprintf(md->output, sizeof(md->output), "%s", note);
		if (po.summary[0] != '\0')
			check_output_add(md, po.summary);
		else {
			check_output_add(md, "(no output on stdout)");
			if (r->err[0] != '\0') {
				char line[256];

				/* its first line */
				snprintf(line, sizeof(line), "%.*s",
				    (int)strcspn(r->err, "\r\n"), r->err);
				check_output_add(md, " stderr: ");
				check_output_add(md, line);
			}
		}
		if (po.long_output[0] != '\0') {
			check_output_add(md, "\n");
			check_output_add(md, po.long_output);
		}
		if (r->truncated) {
			static const char cut[] = " (output cut at 8 KiB)";
			size_t len = strlen(md->output);

			if (len + sizeof(cut) > sizeof(md->output))
				md->output[sizeof(md->output) - sizeof(cut)] =
				    '\0';
			check_output_add(md, cut);
		}
	}
	if (c->store_samples)
		check_store_perf(c, &po);
	plugin_output_free(&po);
	text_clean_lines(md->output);
	check_result(c, status);
}

/*
 * A result submitted for a passive check: its text is read like a
 * plugin's output.
 */
void
check_passive_result(struct mon_check *c, enum check_status status,
    const char *text, size_t len)
{
	struct monitord *md = c->md;
	struct plugin_output po;

	if (md == NULL)
		return;
	c->passive.last_ms = timeutil_mono_ms();
	plugin_output_parse(text, len, &po);
	snprintf(md->output, sizeof(md->output), "%s",
	    po.summary[0] != '\0' ? po.summary : "(no output)");
	if (po.long_output[0] != '\0') {
		check_output_add(md, "\n");
		check_output_add(md, po.long_output);
	}
	if (c->store_samples)
		check_store_perf(c, &po);
	plugin_output_free(&po);
	text_clean_lines(md->output);
	check_result(c, status);
}

/*
 * A passive check falls due: without a result within its heartbeat, the
 * job behind it is taken to have stopped.
 */
static void
check_heartbeat(struct mon_check *c)
{
	struct monitord *md = c->md;
	uint64_t now = timeutil_mono_ms(), quiet;

	if (c->passive.heartbeat_ms == 0)
		return;
	quiet = now - c->passive.last_ms;
	if (quiet < c->passive.heartbeat_ms)
		return;
	snprintf(md->output, sizeof(md->output),
	    "HEARTBEAT %s - no result for %llu s (expected every %llu s)",
	    check_status_str(c->passive.heartbeat_state),
	    (unsigned long long)(quiet / 1000),
	    (unsigned long long)(c->passive.heartbeat_ms / 1000));
	check_result(c, c->passive.heartbeat_state);
}

/*
 * Starts the check's probe.  Returns 1 when a probe is running; a probe
 * that cannot start is an UNKNOWN result at once, and returns 0.
 */
static int
check_run(struct mon_check *c)
{
	struct monitord *md = c->md;
	const struct sockaddr *sa = (const struct sockaddr *)&c->host->ss;

	c->in_flight = 1;
	md->stats.probes_sent[c->kind]++;
	md->stats.window_probes[0]++;
	switch (c->kind) {
	case CHECK_KIND_TCP: {
		struct sockaddr_storage ss = c->host->ss;
		struct probe_tcp_opts opts = { c->tcp.send,
			c->tcp.send ? strlen(c->tcp.send) : 0, c->tcp.expect };

		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons(c->tcp.port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons(c->tcp.port);
		c->tcp_probe = probe_tcp_start(md->base, (struct sockaddr *)&ss,
		    c->host->sslen, c->timeout_ms, &opts, check_tcp_cb, c);
		if (c->tcp_probe != NULL) {
			md->stats.tcp_in_flight++;
			return 1;
		}
		break;
	}
	case CHECK_KIND_SNMP_AGENT:
		/* Fed by the other SNMP checks; never scheduled. */
		break;
	case CHECK_KIND_SNMP_UPTIME:
	case CHECK_KIND_SNMP_IF:
	case CHECK_KIND_SNMP_STORAGE:
	case CHECK_KIND_SNMP_CPU:
	case CHECK_KIND_SNMP_OID:
		if (check_snmp_run(c))
			return 1;
		/* check_snmp_run wrote why into md->output. */
		c->in_flight = 0;
		check_result(c, CHECK_UNKNOWN);
		return 0;
	case CHECK_KIND_PLUGIN:
		c->plugin_run = plugin_start(md->plugins, c->plugin.argv,
		    c->timeout_ms, check_plugin_cb, c);
		return 1;
	case CHECK_KIND_PASSIVE:
		/* Nothing to send: only the heartbeat to look at. */
		c->in_flight = 0;
		md->stats.probes_sent[c->kind]--;
		md->stats.window_probes[0]--;
		check_heartbeat(c);
		return 0;
	case CHECK_KIND_COUNT:
	case CHECK_KIND_ICMP:
		c->icmp_probe = probe_icmp_start(md->icmp, sa, c->host->sslen,
		    c->icmp.packets, c->icmp.packet_gap_ms, c->timeout_ms,
		    check_icmp_cb, c);
		if (c->icmp_probe != NULL)
			return 1;
		break;
	}
	snprintf(md->output, sizeof(md->output),
	    "%s UNKNOWN - the probe could not start (see the log)",
	    check_kind_str(c->kind));
	c->in_flight = 0;
	check_result(c, CHECK_UNKNOWN);
	return 0;
}

/*
 * The scheduler says the check is due.  Lateness (now minus the deadline)
 * goes to the histogram; a run more than half an interval late is skipped
 * and counted, never made up for.
 */
static int
check_due_cb(struct sched_entry *e, uint64_t now, void *arg)
{
	struct mon_check *c = arg;
	struct monitord *md = c->md;
	uint64_t interval = check_current_interval(c);
	uint64_t deadline = e->deadline;
	uint64_t now_us = timeutil_mono_ns() / 1000;
	double late = now_us > deadline * 1000 ?
	    (double)(now_us - deadline * 1000) / 1e6 :
	    0.0;

	c->last_deadline = deadline;
	sched_add(md->sched, e,
	    sched_next_deadline(deadline, interval, now,
		&md->stats.probes_skipped));
	/* Another poller's host (see shard.c): not probed here. */
	if (!shard_owns(md, c->host)) {
		md->stats.probes_elsewhere++;
		return 0;
	}
	if (late * 1000.0 > (double)interval / 2 || c->in_flight) {
		md->stats.probes_skipped++;
		return 0;
	}
	hist_add(&md->stats.lateness, late);
	if (late > md->stats.window_max[0])
		md->stats.window_max[0] = late;
	if (!check_run(c))
		return 0;
	md->stats.in_flight = sched_in_flight(md->sched) + 1;
	return 1;
}

/* Schedules a check for the first time. */
void
check_start(struct monitord *md, struct mon_check *c, uint64_t now)
{
	c->md = md;
	check_state_init(&c->state);
	c->recorded = CHECK_PENDING;
	c->passive.last_ms = timeutil_mono_ms(); /* a heartbeat of grace */
	c->sched.cb = check_due_cb;
	c->sched.arg = c;
	/* The agent check is fed by the host's other SNMP checks. */
	if (c->kind == CHECK_KIND_SNMP_AGENT)
		return;
	/*
	 * The SNMP checks of one host share a phase, so that those with one
	 * interval fall due together and go out in one PDU.
	 */
	c->hash =
	    sched_hash(c->host->name, c->snmp != NULL ? "\nsnmp" : c->name);
	sched_add(md->sched, &c->sched,
	    sched_first_deadline(now, c->interval_ms, c->hash));
}

/* Unschedules a check and cancels its probe (no callback follows). */
void
check_stop(struct mon_check *c)
{
	struct monitord *md = c->md;

	if (md == NULL)
		return;
	sched_remove(md->sched, &c->sched);
	if (c->tcp_probe != NULL) {
		probe_tcp_cancel(c->tcp_probe);
		c->tcp_probe = NULL;
		md->stats.tcp_in_flight--;
	}
	if (c->icmp_probe != NULL) {
		probe_icmp_cancel(c->icmp_probe);
		c->icmp_probe = NULL;
	}
	if (c->snmp != NULL)
		check_snmp_cancel(c);
	if (c->plugin_run != NULL) {
		plugin_cancel(c->plugin_run);
		c->plugin_run = NULL;
	}
	if (c->in_flight)
		check_probe_ended(c);
}
