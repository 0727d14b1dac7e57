/*
 * Checks: runs a check's probe when the scheduler says it is due, through
 * its kind's operations (check_kind_ops: check_icmp.c, check_tcp.c,
 * check_plugin.c, check_passive.c, check_snmp.c), and turns each result
 * into state (check_state.c), flapping, first isolation, logs and recorded
 * changes.  It knows no kind.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"
#include "text.h"
#include "timeutil.h"
#include "xmalloc.h"

/* The interval that applies now: shorter while a problem is being confirmed. */
static uint64_t
check_current_interval(const struct mon_check *c)
{
	return c->state.type == CHECK_SOFT ? c->retry_interval_ms :
					     c->interval_ms;
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
		x.host_state = topo_host_state_str(c->host->state);
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
		 * (the metric store), and 100,000 of them would cost a tenth of
		 * a kilobyte each: only problems keep their text.
		 */
		if (result == CHECK_OK &&
		    (c->ops->flags & CHECK_OPS_QUIET_OK)) {
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
		check_state_flap_push(c->flap_hist, &c->flap_n, &c->flap_pos,
		    result, &c->flap_pct);
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
			    c->host->name, name,
			    check_state_status_str(old_hard),
			    check_state_status_str(result),
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
		    check_state_status_str(result), st->attempt, max_attempts,
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
		char text[CHECK_OUTPUT_MAX];

		snprintf(text, sizeof(text),
		    "FLAPPING - %.0f%% of the last %d results changed the "
		    "state (start threshold %.0f%%); changes are not "
		    "reported until it settles",
		    c->flap_pct, CHECK_FLAP_HISTORY, c->flap.start_pct);
		/* A check that never settled has only its latest state. */
		check_emit(c, st, name,
		    c->recorded != CHECK_PENDING ? c->recorded : st->status,
		    st->hard_status != CHECK_PENDING ? st->hard_status :
						       st->status,
		    text, 1);
	} else if (flap == -1) {
		c->flapping = 0;
		md->stats.flap_stops++;
		log_notice("%s %s: stopped flapping (%.0f%%), %s",
		    c->host->name, name, c->flap_pct,
		    check_state_status_str(st->hard_status));
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
	char text[CHECK_OUTPUT_MAX];

	if (!check_problem(c->state.hard_status) || c->flapping)
		return;
	log_notice("%s %s: %s, no longer covered by %s", c->host->name, c->name,
	    check_state_status_str(c->state.hard_status), c->suppressed_by);
	snprintf(text, sizeof(text), "%s still %s after %s answered again",
	    c->name, check_state_status_str(c->state.hard_status),
	    c->suppressed_by);
	check_emit(c, &c->state, c->name, c->state.hard_status,
	    c->state.hard_status, text, -1);
}

/*
 * Records a result of the check itself (a probe's, a passive submission, a
 * heartbeat): see check_apply, then the retry timing.
 */
void
check_result(struct mon_check *c, enum check_status result, const char *text)
{
	struct monitord *md = c->md;
	uint64_t want;

	check_apply(c, &c->state, c->name, result, text, c->max_attempts);
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
 * agent check, a trap).  max_attempts 0 means the check's own.
 */
void
check_record(struct mon_check *c, enum check_status result,
    unsigned max_attempts, const char *text)
{
	check_apply(c, &c->state, c->name, result, text,
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
void
check_probe_ended(struct mon_check *c)
{
	struct monitord *md = c->md;

	c->in_flight = 0;
	sched_done(md->sched);
	md->stats.in_flight = sched_in_flight(md->sched);
}

/* The check's probe has ended with this result. */
void
check_finish(struct mon_check *c, enum check_status result, const char *text)
{
	check_probe_ended(c);
	check_result(c, result, text);
}

/* The check's probe has ended without a result of its own (its host's
 * agent did not answer: that is the agent check's fault, not this one's). */
void
check_finish_quiet(struct mon_check *c)
{
	check_probe_ended(c);
}

/*
 * Starts the check's probe.  Returns 1 when a probe is running; a probe
 * that cannot start is an UNKNOWN result at once (or what its kind says),
 * and returns 0.
 */
static int
check_run(struct mon_check *c)
{
	struct monitord *md = c->md;
	enum check_status result = CHECK_UNKNOWN;
	char text[CHECK_OUTPUT_MAX] = "";
	int probe = !(c->ops->flags & CHECK_OPS_NO_PROBE);

	if (probe) {
		md->stats.probes_sent[c->kind]++;
		md->stats.window_probes[0]++;
	}
	c->in_flight = probe; /* a heartbeat is looked at, not awaited */
	if (c->ops->start(c, &result, text, sizeof(text)))
		return 1;
	c->in_flight = 0;
	if (text[0] == '\0' && probe)
		snprintf(text, sizeof(text),
		    "%s UNKNOWN - the probe could not start (see the log)",
		    check_kind_str(c->kind));
	if (text[0] != '\0')
		check_result(c, result, text);
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
	c->sched.cb = check_due_cb;
	c->sched.arg = c;
	if (c->ops->init != NULL)
		c->ops->init(c);
	/* The agent check is fed by the host's other SNMP checks. */
	if (c->ops->flags & CHECK_OPS_FED)
		return;
	/*
	 * The SNMP checks of one host share a phase, so that those with one
	 * interval fall due together and go out in one PDU.
	 */
	c->hash = sched_hash(c->host->name,
	    (c->ops->flags & CHECK_OPS_HOST_PHASE) ? "\nsnmp" : c->name);
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
	if (c->ops->cancel != NULL)
		c->ops->cancel(c);
	if (c->in_flight)
		check_probe_ended(c);
}
