/*
 * The SNMP checks: sysuptime (reboots), interfaces (status, traffic,
 * errors), storage (disks), cpu, and any OID against Nagios-style ranges.
 * A host polled by SNMP has one agent in the engine and one implicit
 * "snmp" check saying whether that agent answers; when it stops, that is
 * the one fault of the device and its other SNMP checks hold their states.
 * The GETs of one host that fall due in one loop turn go out as one
 * request; tables are walked with GETBULK.  Traps are matched to hosts in
 * snmp_trap_match.c.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "check_snmp.h"
#include "db.h"
#include "monitord.h"
#include "text.h"
#include "timeutil.h"
#include "xmalloc.h"

/* OIDs the checks use (numeric: no MIB files are installed). */
#define OID_SYSUPTIME "1.3.6.1.2.1.1.3.0"
#define OID_IFENTRY "1.3.6.1.2.1.2.2.1"
#define OID_IFXENTRY "1.3.6.1.2.1.31.1.1.1"
#define OID_HRSTORAGE "1.3.6.1.2.1.25.2.3.1"
#define OID_HRPROCLOAD "1.3.6.1.2.1.25.3.3.1.2"
#define OID_FIXEDDISK "1.3.6.1.2.1.25.2.1.4"

/* Columns of ifTable (1) and ifXTable (2) the interfaces check reads. */
enum if_col {
	IF_DESCR, /* ifTable .2 */
	IF_SPEED, /* .5 */
	IF_ADMIN, /* .7 */
	IF_OPER, /* .8 */
	IF_INOCT, /* .10 */
	IF_INERR, /* .14 */
	IF_OUTOCT, /* .16 */
	IF_OUTERR, /* .20 */
	IF_NAME, /* ifXTable .1 */
	IF_HCIN, /* .6 */
	IF_HCOUT, /* .10 */
	IF_HIGHSPEED, /* .15 */
	IF_ALIAS, /* .18 */
	IF_DISC, /* .19 ifCounterDiscontinuityTime */
	IF_NCOLS
};

static const struct {
	int table; /* 1 ifEntry, 2 ifXEntry */
	uint32_t col;
} if_cols[IF_NCOLS] = {
	[IF_DESCR] = { 1, 2 },
	[IF_SPEED] = { 1, 5 },
	[IF_ADMIN] = { 1, 7 },
	[IF_OPER] = { 1, 8 },
	[IF_INOCT] = { 1, 10 },
	[IF_INERR] = { 1, 14 },
	[IF_OUTOCT] = { 1, 16 },
	[IF_OUTERR] = { 1, 20 },
	[IF_NAME] = { 2, 1 },
	[IF_HCIN] = { 2, 6 },
	[IF_HCOUT] = { 2, 10 },
	[IF_HIGHSPEED] = { 2, 15 },
	[IF_ALIAS] = { 2, 18 },
	[IF_DISC] = { 2, 19 },
};

/* A full walk of the interface tables every this many polls; GETs of the
 * selected rows in between. */
#define IF_WALK_EVERY 10

/* Which OIDs of a batch belong to which check. */
struct snmp_part {
	struct mon_check *check; /* NULL once the check was stopped */
	size_t first, count;
};

/* A request in flight for a host: a batch of GETs or one check's walk. */
struct check_snmp_req {
	TAILQ_ENTRY(check_snmp_req) link;
	struct snmp_host_rt *rt;
	struct snmp_part *parts;
	size_t nparts;
	int walk;
};

TAILQ_HEAD(check_snmp_reqs, check_snmp_req);

/* The run time of a host's agent; survives reloads that keep the host. */
struct snmp_host_rt {
	struct monitord *md;
	struct mon_host *host;
	struct snmp_agent *agent;
	int answered; /* the agent has answered at least once */
	uint64_t last_outcome_ms; /* when the agent check last got a result */
	struct event *flush_ev;
	struct snmp_oid *oids; /* the GET batch being gathered */
	size_t noids;
	struct snmp_part *parts;
	size_t nparts;
	struct check_snmp_reqs reqs;
};

static void
check_snmp_if_clear(struct snmp_if *ifp)
{
	free(ifp->name);
	free(ifp->alias);
	free(ifp->check_name);
}

/* Frees an SNMP check's settings and state; NULL is allowed. */
void
check_snmp_free(struct snmp_check *sc)
{
	if (sc == NULL)
		return;
	for (size_t i = 0; i < sc->nnames; i++)
		free(sc->names[i]);
	free(sc->names);
	for (size_t i = 0; i < sc->naliases; i++)
		free(sc->aliases[i]);
	free(sc->aliases);
	free(sc->indexes);
	if (sc->rt != NULL) {
		for (size_t i = 0; i < sc->rt->nifs; i++)
			check_snmp_if_clear(&sc->rt->ifs[i]);
		free(sc->rt->ifs);
		free(sc->rt);
	}
	free(sc);
}

static int
check_snmp_strlist_same(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

/* Whether two SNMP checks have the same settings (for reloads). */
int
check_snmp_same(const struct mon_check *a, const struct mon_check *b)
{
	const struct snmp_check *x = a->snmp, *y = b->snmp;

	if (x == NULL || y == NULL)
		return x == y;
	return snmp_oid_cmp(&x->oid, &y->oid) == 0 &&
	    x->have_warn == y->have_warn && x->have_crit == y->have_crit &&
	    memcmp(&x->warn, &y->warn, sizeof(x->warn)) == 0 &&
	    memcmp(&x->crit, &y->crit, sizeof(x->crit)) == 0 &&
	    check_snmp_strlist_same(x->names, x->nnames, y->names, y->nnames) &&
	    check_snmp_strlist_same(x->aliases, x->naliases, y->aliases,
		y->naliases) &&
	    x->nindexes == y->nindexes &&
	    (x->nindexes == 0 ||
		memcmp(x->indexes, y->indexes,
		    x->nindexes * sizeof(*x->indexes)) == 0) &&
	    x->warn_pct == y->warn_pct && x->crit_pct == y->crit_pct &&
	    x->err_warn == y->err_warn && x->err_crit == y->err_crit;
}

static int
check_snmp_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Whether two credential sets are the same, secrets included. */
static int
check_snmp_cred_same(const struct snmp_cred *a, const struct snmp_cred *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return check_snmp_streq(a->name, b->name) && a->version == b->version &&
	    check_snmp_streq(a->community, b->community) &&
	    check_snmp_streq(a->user, b->user) && a->level == b->level &&
	    a->auth == b->auth &&
	    check_snmp_streq(a->auth_pass, b->auth_pass) &&
	    a->priv == b->priv && check_snmp_streq(a->priv_pass, b->priv_pass);
}

/* Whether two hosts reach their agent the same way (for reloads). */
int
check_snmp_host_same(const struct mon_host *a, const struct mon_host *b)
{
	const struct mon_snmp_host *x = a->snmp, *y = b->snmp;

	if (x == NULL || y == NULL)
		return x == y;
	return a->sslen == b->sslen && memcmp(&a->ss, &b->ss, a->sslen) == 0 &&
	    x->port == y->port && x->timeout_ms == y->timeout_ms &&
	    x->retries == y->retries && check_snmp_cred_same(x->cred, y->cred);
}

static struct snmp_check_rt *
check_snmp_rt(struct mon_check *c)
{
	if (c->snmp->rt == NULL)
		c->snmp->rt = xcalloc(1, sizeof(*c->snmp->rt));
	return c->snmp->rt;
}

/* Frees a request, after taking it off its host's list. */
static void
check_snmp_req_free(struct check_snmp_req *req)
{
	for (size_t i = 0; i < req->nparts; i++) {
		struct mon_check *c = req->parts[i].check;

		if (c != NULL && c->snmp->rt != NULL && c->snmp->rt->req == req)
			c->snmp->rt->req = NULL;
	}
	TAILQ_REMOVE(&req->rt->reqs, req, link);
	free(req->parts);
	free(req);
}

/*
 * Feeds the agent check with the outcome of one request.  A host that has
 * answered before and stops is CRITICAL; one that never answered is
 * UNKNOWN, since a wrong community looks exactly like a missing agent.
 */
static void
check_snmp_agent_outcome(struct snmp_host_rt *rt, const struct snmp_response *r)
{
	char text[CHECK_OUTPUT_MAX];
	struct mon_check *c = rt->host->snmp->agent_check;
	enum check_status st;
	uint64_t now;

	if (c == NULL || c->md == NULL)
		return;
	/*
	 * A host's checks may send several requests in one turn: count the
	 * agent once per half interval, so that max_attempts means polls.
	 */
	now = timeutil_mono_ms();
	if (rt->last_outcome_ms != 0 &&
	    now - rt->last_outcome_ms < c->retry_interval_ms / 2)
		return;
	rt->last_outcome_ms = now;
	switch (r->result) {
	case SNMP_RESULT_OK:
		rt->answered = 1;
		st = CHECK_OK;
		snprintf(text, sizeof(text),
		    "SNMP OK - the agent answers (%.1f ms)",
		    (double)r->rtt_us / 1000.0);
		break;
	case SNMP_RESULT_TIMEOUT:
	case SNMP_RESULT_UNREACHABLE:
		if (rt->answered) {
			st = CHECK_CRITICAL;
			snprintf(text, sizeof(text),
			    "SNMP CRITICAL - the agent at %s port %u stopped "
			    "answering: %s",
			    rt->host->address, rt->host->snmp->port, r->reason);
		} else {
			st = CHECK_UNKNOWN;
			snprintf(text, sizeof(text),
			    "SNMP UNKNOWN - no answer from %s port %u yet: %s "
			    "(a wrong community or credential, an access list, "
			    "or no agent)",
			    rt->host->address, rt->host->snmp->port, r->reason);
		}
		break;
	case SNMP_RESULT_AUTH:
	case SNMP_RESULT_ERROR:
	default:
		st = CHECK_UNKNOWN;
		snprintf(text, sizeof(text), "SNMP UNKNOWN - %s", r->reason);
		break;
	}
	check_record(c, st, 0, text);
}

/* A number from a varbind, if it holds one. */
static int
check_snmp_vb_number(const struct snmp_varbind *vb, double *v)
{
	char *end;

	switch (vb->type) {
	case SNMP_VT_INTEGER:
		*v = (double)vb->i;
		return 0;
	case SNMP_VT_UNSIGNED:
	case SNMP_VT_COUNTER32:
	case SNMP_VT_COUNTER64:
	case SNMP_VT_TIMETICKS:
		*v = (double)vb->u;
		return 0;
	case SNMP_VT_STRING:
		if (vb->str == NULL || vb->str[0] == '\0')
			return -1;
		*v = strtod(vb->str, &end);
		while (*end == ' ' || *end == '%')
			end++;
		return *end == '\0' && isfinite(*v) ? 0 : -1;
	default:
		return -1;
	}
}

/* Whether a varbind says the object is not there. */
static int
check_snmp_vb_missing(const struct snmp_varbind *vb)
{
	return vb->type == SNMP_VT_NOSUCHOBJECT ||
	    vb->type == SNMP_VT_NOSUCHINSTANCE ||
	    vb->type == SNMP_VT_ENDOFMIBVIEW || vb->type == SNMP_VT_NULL;
}

/* Formats TimeTicks as days and h:m:s. */
static void
check_snmp_fmt_ticks(uint64_t ticks, char *buf, size_t len)
{
	uint64_t s = ticks / 100;

	snprintf(buf, len, "%llud %02llu:%02llu:%02llu",
	    (unsigned long long)(s / 86400),
	    (unsigned long long)(s / 3600 % 24),
	    (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
}

/* sysuptime: a reboot is a WARNING at once, and the next poll clears it. */
static void
check_snmp_uptime_result(struct mon_check *c, const struct snmp_varbind *vb,
    size_t n)
{
	char text[CHECK_OUTPUT_MAX];
	struct monitord *md = c->md;
	struct snmp_check_rt *rt = check_snmp_rt(c);
	uint64_t now = timeutil_real_us();
	char was[40], up[40];

	if (n < 1 || vb[0].type != SNMP_VT_TIMETICKS) {
		snprintf(text, sizeof(text),
		    "SNMP UNKNOWN - sysUpTime.0 did not come back as "
		    "TimeTicks");
		check_finish(c, CHECK_UNKNOWN, text);
		return;
	}
	check_snmp_fmt_ticks(vb[0].u, up, sizeof(up));
	metric_store_add(md->store, c->host->name, c->name, "uptime_s",
	    (double)vb[0].u / 100.0);
	if (rt->have_uptime &&
	    check_snmp_eval_uptime_rebooted(rt->last_ticks, rt->last_us,
		vb[0].u, now)) {
		check_snmp_fmt_ticks(rt->last_ticks, was, sizeof(was));
		snprintf(text, sizeof(text),
		    "SNMP WARNING - rebooted: uptime %s, was %s", up, was);
		rt->last_ticks = vb[0].u;
		rt->last_us = now;
		check_finish_quiet(c);
		check_record(c, CHECK_WARNING, 1, text);
		return;
	}
	rt->have_uptime = 1;
	rt->last_ticks = vb[0].u;
	rt->last_us = now;
	snprintf(text, sizeof(text), "SNMP OK - uptime %s", up);
	check_finish(c, CHECK_OK, text);
}

/* oid: the value against the critical range, then the warning one. */
static void
check_snmp_oid_result(struct mon_check *c, const struct snmp_varbind *vb,
    size_t n)
{
	char text[CHECK_OUTPUT_MAX];
	struct monitord *md = c->md;
	struct snmp_check *sc = c->snmp;
	enum check_status st = CHECK_OK;
	char oidbuf[256];
	double v;

	snmp_oid_str(&sc->oid, oidbuf, sizeof(oidbuf));
	if (n < 1 || check_snmp_vb_missing(&vb[0])) {
		snprintf(text, sizeof(text),
		    "SNMP UNKNOWN - %s: no such object", oidbuf);
		check_finish(c, CHECK_UNKNOWN, text);
		return;
	}
	if (check_snmp_vb_number(&vb[0], &v) == -1) {
		snprintf(text, sizeof(text),
		    "SNMP UNKNOWN - %s: the value is not a number", oidbuf);
		check_finish(c, CHECK_UNKNOWN, text);
		return;
	}
	metric_store_add(md->store, c->host->name, c->name, "value", v);
	if (sc->have_crit && check_snmp_eval_range_alert(&sc->crit, v))
		st = CHECK_CRITICAL;
	else if (sc->have_warn && check_snmp_eval_range_alert(&sc->warn, v))
		st = CHECK_WARNING;
	snprintf(text, sizeof(text), "SNMP %s - %s = %.10g",
	    check_state_status_str(st), oidbuf, v);
	check_finish(c, st, text);
}

/* The row index of oid under table column root.col, or -1. */
static int64_t
check_snmp_row_index(const struct snmp_oid *oid, const struct snmp_oid *root,
    uint32_t col)
{
	if (oid->len != root->len + 2 || !snmp_oid_has_prefix(oid, root) ||
	    oid->n[root->len] != col)
		return -1;
	return oid->n[root->len + 1];
}

/* Finds or adds an interface by ifIndex. */
static struct snmp_if *
check_snmp_if_get(struct snmp_check_rt *rt, uint32_t index)
{
	struct snmp_if *ifp;

	for (size_t i = 0; i < rt->nifs; i++)
		if (rt->ifs[i].index == index)
			return &rt->ifs[i];
	rt->ifs = xreallocarray(rt->ifs, rt->nifs + 1, sizeof(*rt->ifs));
	ifp = &rt->ifs[rt->nifs++];
	memset(ifp, 0, sizeof(*ifp));
	ifp->index = index;
	check_state_init(&ifp->state);
	return ifp;
}

/* A string from the device, cleaned to valid UTF-8 without controls. */
static char *
check_snmp_vb_strdup(const struct snmp_varbind *vb)
{
	char *s;

	if (vb->type != SNMP_VT_STRING || vb->str == NULL)
		return NULL;
	s = xstrdup(vb->str);
	text_clean(s);
	return s;
}

/* Whether an interface is one the check watches. */
static int
check_snmp_if_selected(const struct snmp_check *sc, const struct snmp_if *ifp)
{
	if (sc->nnames == 0 && sc->naliases == 0 && sc->nindexes == 0)
		return 1;
	for (size_t i = 0; i < sc->nindexes; i++)
		if (sc->indexes[i] == ifp->index)
			return 1;
	for (size_t i = 0; i < sc->nnames && ifp->name != NULL; i++)
		if (fnmatch(sc->names[i], ifp->name, 0) == 0)
			return 1;
	for (size_t i = 0; i < sc->naliases && ifp->alias != NULL; i++)
		if (fnmatch(sc->aliases[i], ifp->alias, 0) == 0)
			return 1;
	return 0;
}

/*
 * One interface after a poll: rates from the counters (skipped across a
 * discontinuity), then its state.
 */
static void
check_snmp_if_evaluate(struct mon_check *c, struct snmp_if *ifp, uint64_t in,
    uint64_t out, uint64_t in_err, uint64_t out_err, uint64_t disc,
    int rebooted, uint64_t now)
{
	struct monitord *md = c->md;
	struct snmp_check *sc = c->snmp;
	enum check_status st = CHECK_OK;
	double secs, in_bps = -1, out_bps = -1, errs = -1, util = -1;
	uint64_t d_in, d_out, d_ie, d_oe;
	int bits = ifp->has_hc ? 64 : 32;
	char output[512], what[160];

	if (ifp->have_prev && !rebooted && disc == ifp->disc &&
	    now > ifp->at_us &&
	    check_snmp_eval_counter_delta(ifp->in, in, bits, &d_in) == 0 &&
	    check_snmp_eval_counter_delta(ifp->out, out, bits, &d_out) == 0 &&
	    check_snmp_eval_counter_delta(ifp->in_err, in_err, 32, &d_ie) ==
		0 &&
	    check_snmp_eval_counter_delta(ifp->out_err, out_err, 32, &d_oe) ==
		0) {
		secs = (double)(now - ifp->at_us) / 1e6;
		in_bps = (double)d_in * 8 / secs;
		out_bps = (double)d_out * 8 / secs;
		errs = (double)(d_ie + d_oe) / secs;
		if (ifp->speed_bps > 0)
			util = 100.0 * fmax(in_bps, out_bps) /
			    (double)ifp->speed_bps;
		metric_store_add(md->store, c->host->name, ifp->check_name,
		    "in_bps", in_bps);
		metric_store_add(md->store, c->host->name, ifp->check_name,
		    "out_bps", out_bps);
		metric_store_add(md->store, c->host->name, ifp->check_name,
		    "errors_ps", errs);
		if (util >= 0)
			metric_store_add(md->store, c->host->name,
			    ifp->check_name, "utilisation_pct", util);
	}
	ifp->in = in;
	ifp->out = out;
	ifp->in_err = in_err;
	ifp->out_err = out_err;
	ifp->disc = disc;
	ifp->at_us = now;
	ifp->have_prev = 1;

	snprintf(what, sizeof(what), "%s%s%s%s", ifp->name ? ifp->name : "?",
	    ifp->alias && *ifp->alias ? " (" : "",
	    ifp->alias && *ifp->alias ? ifp->alias : "",
	    ifp->alias && *ifp->alias ? ")" : "");
	if (ifp->admin != 1) {
		snprintf(output, sizeof(output),
		    "IF OK - %s administratively down", what);
	} else if (ifp->oper != 1 && ifp->oper != 5) {
		st = CHECK_CRITICAL;
		snprintf(output, sizeof(output),
		    "IF CRITICAL - %s down (operStatus %d), admin up", what,
		    ifp->oper);
	} else {
		if ((sc->crit_pct > 0 && util >= sc->crit_pct) ||
		    (sc->err_crit > 0 && errs >= sc->err_crit))
			st = CHECK_CRITICAL;
		else if ((sc->warn_pct > 0 && util >= sc->warn_pct) ||
		    (sc->err_warn > 0 && errs >= sc->err_warn))
			st = CHECK_WARNING;
		if (in_bps >= 0)
			snprintf(output, sizeof(output),
			    "IF %s - %s up, in %.0f bit/s, out %.0f bit/s%s"
			    "%.1f%s, errors %.2f/s",
			    check_state_status_str(st), what, in_bps, out_bps,
			    util >= 0 ? ", utilisation " : "",
			    util >= 0 ? util : 0, util >= 0 ? "%" : "", errs);
		else
			snprintf(output, sizeof(output), "IF %s - %s up",
			    check_state_status_str(st), what);
	}
	check_sub_result(c, &ifp->state, ifp->check_name, st, output, 0);
}

/* Reads a column value of one interface out of a response. */
static const struct snmp_varbind *
check_snmp_if_col(const struct snmp_varbind *vb, size_t n,
    const struct snmp_oid *ift, const struct snmp_oid *ifx, enum if_col col,
    uint32_t index)
{
	const struct snmp_oid *root = if_cols[col].table == 1 ? ift : ifx;

	for (size_t i = 0; i < n; i++)
		if (check_snmp_row_index(&vb[i].oid, root, if_cols[col].col) ==
		    (int64_t)index)
			return &vb[i];
	return NULL;
}

static uint64_t
check_snmp_vb_u(const struct snmp_varbind *vb)
{
	if (vb == NULL)
		return 0;
	if (vb->type == SNMP_VT_INTEGER)
		return vb->i > 0 ? (uint64_t)vb->i : 0;
	return check_snmp_vb_missing(vb) ? 0 : vb->u;
}

/*
 * interfaces: a response (walk or GET of the selected rows) updates the
 * table and each selected interface's state; the check's own state only
 * says whether the selection found anything.
 */
static void
check_snmp_if_result(struct mon_check *c, const struct snmp_varbind *vb,
    size_t n, int walked)
{
	char text[CHECK_OUTPUT_MAX];
	struct snmp_check *sc = c->snmp;
	struct snmp_check_rt *rt = check_snmp_rt(c);
	struct snmp_oid ift, ifx, up;
	uint64_t now = timeutil_real_us(), ticks = 0;
	size_t nsel = 0, ndown = 0, missing = 0;
	int rebooted = 0;

	snmp_oid_parse(OID_IFENTRY, &ift);
	snmp_oid_parse(OID_IFXENTRY, &ifx);
	snmp_oid_parse(OID_SYSUPTIME, &up);
	for (size_t i = 0; i < n; i++) {
		if (vb[i].type == SNMP_VT_TIMETICKS &&
		    snmp_oid_has_prefix(&vb[i].oid, &up)) {
			ticks = vb[i].u;
			if (rt->have_uptime &&
			    check_snmp_eval_uptime_rebooted(rt->last_ticks,
				rt->last_us, ticks, now))
				rebooted = 1;
			rt->have_uptime = 1;
			rt->last_ticks = ticks;
			rt->last_us = now;
		}
	}
	if (walked) {
		for (size_t i = 0; i < rt->nifs; i++)
			rt->ifs[i].seen = 0;
		for (size_t i = 0; i < n; i++) {
			int64_t idx = check_snmp_row_index(&vb[i].oid, &ift,
			    if_cols[IF_DESCR].col);
			struct snmp_if *ifp;

			if (idx < 0)
				continue;
			ifp = check_snmp_if_get(rt, (uint32_t)idx);
			ifp->seen = 1;
			free(ifp->name);
			ifp->name = check_snmp_vb_strdup(&vb[i]);
		}
		for (size_t i = 0; i < rt->nifs; i++) {
			struct snmp_if *ifp = &rt->ifs[i];
			const struct snmp_varbind *v;

			if ((v = check_snmp_if_col(vb, n, &ift, &ifx, IF_NAME,
				 ifp->index)) != NULL &&
			    v->type == SNMP_VT_STRING && v->str[0] != '\0') {
				free(ifp->name);
				ifp->name = check_snmp_vb_strdup(v);
			}
			if ((v = check_snmp_if_col(vb, n, &ift, &ifx, IF_ALIAS,
				 ifp->index)) != NULL) {
				free(ifp->alias);
				ifp->alias = check_snmp_vb_strdup(v);
			}
			ifp->has_hc = (v = check_snmp_if_col(vb, n, &ift, &ifx,
					   IF_HCIN, ifp->index)) != NULL &&
			    v->type == SNMP_VT_COUNTER64;
			if (ifp->name == NULL)
				ifp->name = xasprintf("%u", ifp->index);
			ifp->selected =
			    ifp->seen && check_snmp_if_selected(sc, ifp);
			if (ifp->check_name == NULL ||
			    strcmp(ifp->check_name + 3, ifp->name) != 0) {
				free(ifp->check_name);
				ifp->check_name = xasprintf("if:%s", ifp->name);
			}
		}
	}
	for (size_t i = 0; i < rt->nifs; i++) {
		struct snmp_if *ifp = &rt->ifs[i];
		const struct snmp_varbind *v;
		uint64_t in, out;

		if (!ifp->selected)
			continue;
		v = check_snmp_if_col(vb, n, &ift, &ifx, IF_OPER, ifp->index);
		if (v == NULL || check_snmp_vb_missing(v)) {
			/* Gone since the last walk: walk again next time. */
			missing++;
			continue;
		}
		nsel++;
		ifp->oper = (int)check_snmp_vb_u(v);
		ifp->admin = (int)check_snmp_vb_u(
		    check_snmp_if_col(vb, n, &ift, &ifx, IF_ADMIN, ifp->index));
		if (ifp->has_hc) {
			in = check_snmp_vb_u(check_snmp_if_col(vb, n, &ift,
			    &ifx, IF_HCIN, ifp->index));
			out = check_snmp_vb_u(check_snmp_if_col(vb, n, &ift,
			    &ifx, IF_HCOUT, ifp->index));
		} else {
			in = check_snmp_vb_u(check_snmp_if_col(vb, n, &ift,
			    &ifx, IF_INOCT, ifp->index));
			out = check_snmp_vb_u(check_snmp_if_col(vb, n, &ift,
			    &ifx, IF_OUTOCT, ifp->index));
		}
		v = check_snmp_if_col(vb, n, &ift, &ifx, IF_HIGHSPEED,
		    ifp->index);
		if (v != NULL && !check_snmp_vb_missing(v) &&
		    check_snmp_vb_u(v) > 0)
			ifp->speed_bps = check_snmp_vb_u(v) * 1000000ULL;
		else
			ifp->speed_bps = check_snmp_vb_u(check_snmp_if_col(vb,
			    n, &ift, &ifx, IF_SPEED, ifp->index));
		if (ifp->oper != 1 && ifp->oper != 5 && ifp->admin == 1)
			ndown++;
		check_snmp_if_evaluate(c, ifp, in, out,
		    check_snmp_vb_u(check_snmp_if_col(vb, n, &ift, &ifx,
			IF_INERR, ifp->index)),
		    check_snmp_vb_u(check_snmp_if_col(vb, n, &ift, &ifx,
			IF_OUTERR, ifp->index)),
		    check_snmp_vb_u(check_snmp_if_col(vb, n, &ift, &ifx,
			IF_DISC, ifp->index)),
		    rebooted, now);
	}
	if (missing > 0)
		rt->polls = 0; /* walk again */
	if (nsel == 0 && missing == 0) {
		snprintf(text, sizeof(text),
		    "IF UNKNOWN - no interface matches the selection (%zu "
		    "interfaces on the device)",
		    rt->nifs);
		check_finish(c, CHECK_UNKNOWN, text);
		return;
	}
	snprintf(text, sizeof(text), "IF OK - %zu interfaces watched, %zu down",
	    nsel, ndown);
	check_finish(c, CHECK_OK, text);
}

/* storage: the fullest selected disk decides; every one is a metric. */
static void
check_snmp_storage_result(struct mon_check *c, const struct snmp_varbind *vb,
    size_t n)
{
	char text[CHECK_OUTPUT_MAX];
	struct monitord *md = c->md;
	struct snmp_check *sc = c->snmp;
	struct snmp_oid root, fixed;
	enum check_status st = CHECK_OK;
	char list[768];
	size_t off = 0, nsel = 0;

	snmp_oid_parse(OID_HRSTORAGE, &root);
	snmp_oid_parse(OID_FIXEDDISK, &fixed);
	list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int64_t idx = check_snmp_row_index(&vb[i].oid, &root, 3);
		const struct snmp_varbind *type = NULL, *units = NULL,
					  *size = NULL, *used = NULL;
		char *descr;
		double pct;
		int sel;

		if (idx < 0 || vb[i].type != SNMP_VT_STRING)
			continue;
		for (size_t j = 0; j < n; j++) {
			if (check_snmp_row_index(&vb[j].oid, &root, 2) == idx)
				type = &vb[j];
			else if (check_snmp_row_index(&vb[j].oid, &root, 4) ==
			    idx)
				units = &vb[j];
			else if (check_snmp_row_index(&vb[j].oid, &root, 5) ==
			    idx)
				size = &vb[j];
			else if (check_snmp_row_index(&vb[j].oid, &root, 6) ==
			    idx)
				used = &vb[j];
		}
		descr = check_snmp_vb_strdup(&vb[i]);
		if (sc->nnames == 0)
			sel = type != NULL && type->type == SNMP_VT_OID &&
			    snmp_oid_cmp(&type->oidval, &fixed) == 0;
		else {
			sel = 0;
			for (size_t k = 0; k < sc->nnames && !sel; k++)
				sel = fnmatch(sc->names[k], descr, 0) == 0;
		}
		if (!sel || size == NULL || used == NULL ||
		    check_snmp_vb_u(size) == 0) {
			free(descr);
			continue;
		}
		nsel++;
		pct = 100.0 * (double)check_snmp_vb_u(used) /
		    (double)check_snmp_vb_u(size);
		{
			char metric[160];

			snprintf(metric, sizeof(metric), "%s used_pct", descr);
			metric_store_add(md->store, c->host->name, c->name,
			    metric, pct);
			snprintf(metric, sizeof(metric), "%s used_bytes",
			    descr);
			metric_store_add(md->store, c->host->name, c->name,
			    metric,
			    (double)check_snmp_vb_u(used) *
				(double)(units ? check_snmp_vb_u(units) : 1));
		}
		if (sc->crit_pct > 0 && pct >= sc->crit_pct)
			st = CHECK_CRITICAL;
		else if (sc->warn_pct > 0 && pct >= sc->warn_pct &&
		    st == CHECK_OK)
			st = CHECK_WARNING;
		if (off < sizeof(list)) {
			int w = snprintf(list + off, sizeof(list) - off,
			    "%s%s %.0f%%", off ? ", " : "", descr, pct);
			if (w > 0)
				off += (size_t)w;
		}
		free(descr);
	}
	if (nsel == 0) {
		snprintf(text, sizeof(text),
		    "DISK UNKNOWN - no storage matches the selection");
		check_finish(c, CHECK_UNKNOWN, text);
		return;
	}
	snprintf(text, sizeof(text), "DISK %s - %s", check_state_status_str(st),
	    list);
	check_finish(c, st, text);
}

/* cpu: the average hrProcessorLoad of all processors. */
static void
check_snmp_cpu_result(struct mon_check *c, const struct snmp_varbind *vb,
    size_t n)
{
	char text[CHECK_OUTPUT_MAX];
	struct monitord *md = c->md;
	struct snmp_check *sc = c->snmp;
	struct snmp_oid root;
	enum check_status st = CHECK_OK;
	double sum = 0, v;
	size_t count = 0;

	snmp_oid_parse(OID_HRPROCLOAD, &root);
	for (size_t i = 0; i < n; i++)
		if (snmp_oid_has_prefix(&vb[i].oid, &root) &&
		    check_snmp_vb_number(&vb[i], &v) == 0) {
			sum += v;
			count++;
		}
	if (count == 0) {
		snprintf(text, sizeof(text),
		    "CPU UNKNOWN - the agent reports no hrProcessorLoad");
		check_finish(c, CHECK_UNKNOWN, text);
		return;
	}
	v = sum / (double)count;
	metric_store_add(md->store, c->host->name, c->name, "load_pct", v);
	if (sc->crit_pct > 0 && v >= sc->crit_pct)
		st = CHECK_CRITICAL;
	else if (sc->warn_pct > 0 && v >= sc->warn_pct)
		st = CHECK_WARNING;
	snprintf(text, sizeof(text), "CPU %s - load %.0f%% (average of %zu)",
	    check_state_status_str(st), v, count);
	check_finish(c, st, text);
}

/* Hands a check its share of a response. */
static void
check_snmp_deliver(struct mon_check *c, const struct snmp_response *r,
    const struct snmp_varbind *vb, size_t n, int walked)
{
	char text[CHECK_OUTPUT_MAX];
	if (r->result != SNMP_RESULT_OK) {
		/* The agent check carries that fault. */
		check_finish_quiet(c);
		return;
	}
	if (r->error_status != 0) {
		snprintf(text, sizeof(text),
		    "SNMP UNKNOWN - the agent refused the request: %s",
		    r->reason);
		check_finish(c, CHECK_UNKNOWN, text);
		return;
	}
	switch (c->kind) {
	case CHECK_KIND_SNMP_UPTIME:
		check_snmp_uptime_result(c, vb, n);
		break;
	case CHECK_KIND_SNMP_OID:
		check_snmp_oid_result(c, vb, n);
		break;
	case CHECK_KIND_SNMP_IF:
		check_snmp_if_result(c, vb, n, walked);
		break;
	case CHECK_KIND_SNMP_STORAGE:
		check_snmp_storage_result(c, vb, n);
		break;
	case CHECK_KIND_SNMP_CPU:
		check_snmp_cpu_result(c, vb, n);
		break;
	default:
		check_finish_quiet(c);
		break;
	}
}

static void
check_snmp_batch_cb(const struct snmp_response *r, void *arg)
{
	struct check_snmp_req *req = arg;
	struct snmp_host_rt *rt = req->rt;

	check_snmp_agent_outcome(rt, r);
	for (size_t i = 0; i < req->nparts; i++) {
		struct snmp_part *p = &req->parts[i];
		struct mon_check *c = p->check;

		if (c == NULL)
			continue;
		c->snmp->rt->req = NULL;
		p->check = NULL;
		check_snmp_deliver(c, r,
		    r->nvb >= p->first + p->count ? r->vb + p->first : NULL,
		    r->nvb >= p->first + p->count ? p->count : 0, 0);
	}
	check_snmp_req_free(req);
}

static void
check_snmp_walk_cb(const struct snmp_response *r, void *arg)
{
	struct check_snmp_req *req = arg;
	struct mon_check *c = req->parts[0].check;

	check_snmp_agent_outcome(req->rt, r);
	if (c != NULL) {
		c->snmp->rt->req = NULL;
		req->parts[0].check = NULL;
		check_snmp_deliver(c, r, r->vb, r->nvb, 1);
	}
	check_snmp_req_free(req);
}

/* Sends the GETs gathered in this loop turn as one request. */
static void
check_snmp_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snmp_host_rt *rt = arg;
	struct check_snmp_req *req;

	(void)fd;
	(void)what;
	if (rt->nparts == 0)
		return;
	req = xcalloc(1, sizeof(*req));
	req->rt = rt;
	req->parts = rt->parts;
	req->nparts = rt->nparts;
	TAILQ_INSERT_TAIL(&rt->reqs, req, link);
	for (size_t i = 0; i < req->nparts; i++)
		if (req->parts[i].check != NULL)
			check_snmp_rt(req->parts[i].check)->req = req;
	if (snmp_agent_get(rt->agent, rt->oids, rt->noids, check_snmp_batch_cb,
		req) == -1) {
		struct snmp_response r;

		memset(&r, 0, sizeof(r));
		r.result = SNMP_RESULT_ERROR;
		snprintf(r.reason, sizeof(r.reason),
		    "the request could not be sent");
		check_snmp_batch_cb(&r, req);
	}
	free(rt->oids);
	rt->oids = NULL;
	rt->noids = 0;
	rt->parts = NULL;
	rt->nparts = 0;
}

/* Adds a check's OIDs to its host's batch for this loop turn. */
static void
check_snmp_batch_add(struct snmp_host_rt *rt, struct mon_check *c,
    const struct snmp_oid *oids, size_t n)
{
	rt->oids = xreallocarray(rt->oids, rt->noids + n, sizeof(*rt->oids));
	memcpy(rt->oids + rt->noids, oids, n * sizeof(*oids));
	rt->parts =
	    xreallocarray(rt->parts, rt->nparts + 1, sizeof(*rt->parts));
	rt->parts[rt->nparts].check = c;
	rt->parts[rt->nparts].first = rt->noids;
	rt->parts[rt->nparts].count = n;
	rt->nparts++;
	rt->noids += n;
	if (rt->nparts == 1)
		event_active(rt->flush_ev, EV_TIMEOUT, 0);
}

/* Starts a walk of the given subtrees for one check. */
static int
check_snmp_walk(struct snmp_host_rt *rt, struct mon_check *c,
    const struct snmp_oid *roots, size_t n)
{
	struct check_snmp_req *req = xcalloc(1, sizeof(*req));

	req->rt = rt;
	req->walk = 1;
	req->parts = xcalloc(1, sizeof(*req->parts));
	req->parts[0].check = c;
	req->nparts = 1;
	TAILQ_INSERT_TAIL(&rt->reqs, req, link);
	check_snmp_rt(c)->req = req;
	if (snmp_agent_walk(rt->agent, roots, n, 20, check_snmp_walk_cb, req) ==
	    -1) {
		check_snmp_rt(c)->req = NULL;
		req->parts[0].check = NULL;
		check_snmp_req_free(req);
		return -1;
	}
	return 0;
}

/* The OID of a table column cell, or of a column (index 0). */
static void
check_snmp_col_oid(struct snmp_oid *o, const char *root, uint32_t col,
    uint32_t index)
{
	snmp_oid_parse(root, o);
	o->n[o->len++] = col;
	if (index != 0)
		o->n[o->len++] = index;
}

/* Sends what an interfaces check needs: a walk now and then, else GETs. */
static int
check_snmp_if_start(struct snmp_host_rt *rt, struct mon_check *c)
{
	struct snmp_check_rt *crt = check_snmp_rt(c);
	struct snmp_oid *oids;
	size_t n = 0, nsel = 0;

	if (crt->polls++ % IF_WALK_EVERY == 0 || crt->nifs == 0) {
		struct snmp_oid roots[IF_NCOLS + 1];

		for (int i = 0; i < IF_NCOLS; i++)
			check_snmp_col_oid(&roots[i],
			    if_cols[i].table == 1 ? OID_IFENTRY : OID_IFXENTRY,
			    if_cols[i].col, 0);
		snmp_oid_parse("1.3.6.1.2.1.1.3", &roots[IF_NCOLS]);
		return check_snmp_walk(rt, c, roots, IF_NCOLS + 1);
	}
	for (size_t i = 0; i < crt->nifs; i++)
		nsel += crt->ifs[i].selected;
	oids = xcalloc(nsel * IF_NCOLS + 1, sizeof(*oids));
	snmp_oid_parse(OID_SYSUPTIME, &oids[n++]);
	for (size_t i = 0; i < crt->nifs; i++) {
		const struct snmp_if *ifp = &crt->ifs[i];
		static const enum if_col cols[] = { IF_ADMIN, IF_OPER, IF_INERR,
			IF_OUTERR, IF_HIGHSPEED, IF_DISC };

		if (!ifp->selected)
			continue;
		for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
			check_snmp_col_oid(&oids[n++],
			    if_cols[cols[k]].table == 1 ? OID_IFENTRY :
							  OID_IFXENTRY,
			    if_cols[cols[k]].col, ifp->index);
		check_snmp_col_oid(&oids[n++],
		    ifp->has_hc ? OID_IFXENTRY : OID_IFENTRY,
		    if_cols[ifp->has_hc ? IF_HCIN : IF_INOCT].col, ifp->index);
		check_snmp_col_oid(&oids[n++],
		    ifp->has_hc ? OID_IFXENTRY : OID_IFENTRY,
		    if_cols[ifp->has_hc ? IF_HCOUT : IF_OUTOCT].col,
		    ifp->index);
		if (!ifp->has_hc)
			check_snmp_col_oid(&oids[n++], OID_IFENTRY,
			    if_cols[IF_SPEED].col, ifp->index);
	}
	check_snmp_batch_add(rt, c, oids, n);
	free(oids);
	return 0;
}

/*
 * Starts an SNMP check's request.  Returns 1 when a request is on its way
 * (it ends in check_finish or check_finish_quiet), 0 after writing why not
 * in text.
 */
static int
check_snmp_start(struct mon_check *c, enum check_status *result, char *text,
    size_t len)
{
	struct snmp_host_rt *rt = c->host->snmp ? c->host->snmp->rt : NULL;
	struct snmp_oid oids[2];
	int rc = 0;

	(void)result; /* UNKNOWN when it cannot start */
	if (rt == NULL || rt->agent == NULL) {
		snprintf(text, len,
		    "SNMP UNKNOWN - no agent for this host (see the log)");
		return 0;
	}
	switch (c->kind) {
	case CHECK_KIND_SNMP_UPTIME:
		snmp_oid_parse(OID_SYSUPTIME, &oids[0]);
		check_snmp_batch_add(rt, c, oids, 1);
		break;
	case CHECK_KIND_SNMP_OID:
		check_snmp_batch_add(rt, c, &c->snmp->oid, 1);
		break;
	case CHECK_KIND_SNMP_IF:
		rc = check_snmp_if_start(rt, c);
		break;
	case CHECK_KIND_SNMP_STORAGE: {
		struct snmp_oid roots[5];
		const uint32_t cols[5] = { 2, 3, 4, 5, 6 };

		for (size_t i = 0; i < 5; i++)
			check_snmp_col_oid(&roots[i], OID_HRSTORAGE, cols[i],
			    0);
		rc = check_snmp_walk(rt, c, roots, 5);
		break;
	}
	case CHECK_KIND_SNMP_CPU:
		snmp_oid_parse(OID_HRPROCLOAD, &oids[0]);
		rc = check_snmp_walk(rt, c, oids, 1);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc == -1) {
		snprintf(text, len,
		    "SNMP UNKNOWN - the request could not be queued");
		return 0;
	}
	return 1;
}

/* Creates the agent of a host that has none (at start or a new host). */
void
check_snmp_host_start(struct monitord *md, struct mon_host *host)
{
	struct mon_snmp_host *sh = host->snmp;
	struct snmp_host_rt *rt;
	struct sockaddr_storage ss = host->ss;

	/* No agent for a host without SNMP checks (no agent check). */
	if (sh == NULL || sh->rt != NULL || sh->cred == NULL ||
	    sh->agent_check == NULL)
		return;
	rt = xcalloc(1, sizeof(*rt));
	rt->md = md;
	rt->host = host;
	TAILQ_INIT(&rt->reqs);
	rt->flush_ev = event_new(md->base, -1, 0, check_snmp_flush_cb, rt);
	if (rt->flush_ev == NULL)
		fatalx("snmp: event_new failed");
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(sh->port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(sh->port);
	rt->agent = snmp_agent_new(md->snmp, (struct sockaddr *)&ss,
	    host->sslen, sh->cred, sh->timeout_ms, sh->retries);
	if (rt->agent == NULL)
		log_warnx("%s: no SNMP agent (see above); its SNMP checks "
			  "stay UNKNOWN",
		    host->name);
	sh->rt = rt;
}

/* A reload kept the host: the new host object takes over the agent. */
void
check_snmp_host_adopt(struct mon_host *old, struct mon_host *nh)
{
	if (old->snmp == NULL || nh->snmp == NULL || old->snmp->rt == NULL)
		return;
	nh->snmp->rt = old->snmp->rt;
	nh->snmp->rt->host = nh;
	old->snmp->rt = NULL;
}

/* Stops a host's agent: requests in flight are dropped, no callbacks. */
void
check_snmp_host_stop(struct monitord *md, struct mon_host *host)
{
	struct snmp_host_rt *rt;
	struct check_snmp_req *req;

	(void)md;
	if (host->snmp == NULL || (rt = host->snmp->rt) == NULL)
		return;
	snmp_agent_free(rt->agent);
	while ((req = TAILQ_FIRST(&rt->reqs)) != NULL) {
		/* A check still waiting will not hear back: end its run. */
		for (size_t i = 0; i < req->nparts; i++) {
			struct mon_check *c = req->parts[i].check;

			if (c != NULL) {
				req->parts[i].check = NULL;
				c->snmp->rt->req = NULL;
				check_finish_quiet(c);
			}
		}
		check_snmp_req_free(req);
	}
	free(rt->oids);
	free(rt->parts);
	event_free(rt->flush_ev);
	free(rt);
	host->snmp->rt = NULL;
}

/*
 * A check is stopped with its request in flight: the request stays (the
 * agent answers it), but its answer no longer goes to this check.
 */
static void
check_snmp_cancel(struct mon_check *c)
{
	struct snmp_host_rt *rt;

	if (c->snmp == NULL || c->snmp->rt == NULL)
		return;
	if (c->snmp->rt->req != NULL) {
		struct check_snmp_req *req = c->snmp->rt->req;

		for (size_t i = 0; i < req->nparts; i++)
			if (req->parts[i].check == c)
				req->parts[i].check = NULL;
		c->snmp->rt->req = NULL;
	}
	/* Or it may still be in the batch being gathered. */
	if (c->host->snmp != NULL && (rt = c->host->snmp->rt) != NULL)
		for (size_t i = 0; i < rt->nparts; i++)
			if (rt->parts[i].check == c)
				rt->parts[i].check = NULL;
}

/* Reads a range threshold ("10", "~:10", "@10:20") under key. */
static int
check_snmp_range_load(struct cfg_doc *doc, const struct cfg_node *map,
    const char *key, struct snmp_range *r)
{
	const struct cfg_node *node = cfg_get(map, key);
	const char *v;

	if (node == NULL || cfg_is_null(node))
		return 0;
	if (cfg_node_str(doc, node, key, &v) == -1)
		return 0;
	if (check_snmp_eval_range_parse(v, r) == -1) {
		cfg_error(doc, node,
		    "'%s' must be a range such as 10, 10:, ~:10, 10:20 or "
		    "@10:20, not '%s'",
		    key, v);
		return 0;
	}
	return 1;
}

/* The settings every SNMP kind has: its part of the host's requests. */
static struct snmp_check *
check_snmp_new(struct mon_check *check)
{
	check->snmp = xcalloc(1, sizeof(*check->snmp));
	return check->snmp;
}

/* warning and critical in percent, with their defaults. */
static void
check_snmp_pct_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct snmp_check *sc, double warn, double crit)
{
	sc->warn_pct = warn;
	sc->crit_pct = crit;
	cfg_double(doc, node, "warning", 0, 0, 100, &sc->warn_pct);
	cfg_double(doc, node, "critical", 0, 0, 100, &sc->crit_pct);
}

static void
check_snmp_uptime_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	(void)doc;
	(void)node;
	check_snmp_new(check);
	check->name = xstrdup(name ? name : "sysuptime");
}

static void
check_snmp_if_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	struct snmp_check *sc = check_snmp_new(check);
	const struct cfg_node *seq;

	cfg_str_list(doc, node, "names", &sc->names, &sc->nnames);
	cfg_str_list(doc, node, "aliases", &sc->aliases, &sc->naliases);
	if ((seq = cfg_seq(doc, node, "indexes", 0)) != NULL) {
		for (size_t i = 0; i < seq->n; i++) {
			const struct cfg_node *it = seq->items[i];
			char *end;
			unsigned long x;

			x = it->type == CFG_SCALAR ?
			    strtoul(it->value, &end, 10) :
			    0;
			if (it->type != CFG_SCALAR || *end != '\0' || x == 0 ||
			    x > 2147483647UL) {
				cfg_error(doc, it,
				    "an ifIndex must be a number from 1");
				continue;
			}
			sc->indexes = xreallocarray(sc->indexes,
			    sc->nindexes + 1, sizeof(*sc->indexes));
			sc->indexes[sc->nindexes++] = (uint32_t)x;
		}
	}
	cfg_double(doc, node, "utilisation_warning", 0, 0, 100, &sc->warn_pct);
	cfg_double(doc, node, "utilisation_critical", 0, 0, 100, &sc->crit_pct);
	cfg_double(doc, node, "errors_warning", 0, 0, 1e9, &sc->err_warn);
	cfg_double(doc, node, "errors_critical", 0, 0, 1e9, &sc->err_crit);
	check->name = xstrdup(name ? name : "interfaces");
}

static void
check_snmp_storage_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	struct snmp_check *sc = check_snmp_new(check);

	cfg_str_list(doc, node, "names", &sc->names, &sc->nnames);
	check_snmp_pct_load(doc, node, sc, 80, 90);
	check->name = xstrdup(name ? name : "storage");
}

static void
check_snmp_cpu_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	struct snmp_check *sc = check_snmp_new(check);

	check_snmp_pct_load(doc, node, sc, 80, 95);
	check->name = xstrdup(name ? name : "cpu");
}

static void
check_snmp_oid_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	struct snmp_check *sc = check_snmp_new(check);
	const char *s = NULL;

	if (cfg_str(doc, node, "oid", 1, &s) == 0 &&
	    snmp_oid_parse(s, &sc->oid) == -1)
		cfg_error(doc, cfg_get(node, "oid"),
		    "'%s' is not a numeric OID such as 1.3.6.1.2.1.1.3.0", s);
	sc->have_warn = check_snmp_range_load(doc, node, "warning", &sc->warn);
	sc->have_crit = check_snmp_range_load(doc, node, "critical", &sc->crit);
	check->name = name ? xstrdup(name) : xasprintf("oid/%s", s ? s : "?");
}

static void
check_snmp_validate(struct cfg_doc *doc, const struct cfg_node *at,
    const struct mon_check *c)
{
	const struct snmp_check *sc = c->snmp;

	if ((sc->warn_pct > 0 && sc->crit_pct > 0 &&
		sc->warn_pct > sc->crit_pct) ||
	    (sc->err_warn > 0 && sc->err_crit > 0 &&
		sc->err_warn > sc->err_crit))
		cfg_error(doc, at,
		    "check '%s' of host '%s': the warning threshold exceeds "
		    "the critical one",
		    c->name, c->host->name);
}

static void
check_snmp_kind_free(struct mon_check *c)
{
	check_snmp_free(c->snmp);
}

static const char *const check_snmp_uptime_keys[] = { NULL };
static const char *const check_snmp_if_keys[] = { "names", "aliases", "indexes",
	"utilisation_warning", "utilisation_critical", "errors_warning",
	"errors_critical", NULL };
static const char *const check_snmp_storage_keys[] = { "names", "warning",
	"critical", NULL };
static const char *const check_snmp_cpu_keys[] = { "warning", "critical",
	NULL };
static const char *const check_snmp_oid_keys[] = { "oid", "warning", "critical",
	NULL };

#define CHECK_SNMP_OPS(k, w, l)                                               \
	{                                                                     \
		.kind = (k), .what = (w), .keys = check_snmp_##l##_keys,      \
		.flags = CHECK_OPS_HOST_PHASE, .load = check_snmp_##l##_load, \
		.validate = check_snmp_validate, .start = check_snmp_start,   \
		.cancel = check_snmp_cancel, .free = check_snmp_kind_free,    \
	}

const struct check_kind_ops check_snmp_uptime_ops =
    CHECK_SNMP_OPS(CHECK_KIND_SNMP_UPTIME, "a sysuptime check", uptime);
const struct check_kind_ops check_snmp_if_ops =
    CHECK_SNMP_OPS(CHECK_KIND_SNMP_IF, "an interfaces check", if);
const struct check_kind_ops check_snmp_storage_ops =
    CHECK_SNMP_OPS(CHECK_KIND_SNMP_STORAGE, "a storage check", storage);
const struct check_kind_ops check_snmp_cpu_ops =
    CHECK_SNMP_OPS(CHECK_KIND_SNMP_CPU, "a cpu check", cpu);
const struct check_kind_ops check_snmp_oid_ops =
    CHECK_SNMP_OPS(CHECK_KIND_SNMP_OID, "an oid check", oid);

/*
 * The implicit agent check of a host polled by SNMP: fed by the outcomes of
 * its other SNMP checks' requests, never scheduled itself.
 */
const struct check_kind_ops check_snmp_agent_ops = {
	.kind = CHECK_KIND_SNMP_AGENT,
	.what = "the agent check",
	.flags = CHECK_OPS_FED,
};
