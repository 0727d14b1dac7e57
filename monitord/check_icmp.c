/*
 * The icmp check kind: echo requests through probe_icmp.c, judged on
 * round-trip time and loss.
 */
#include "config.h"

#include <stdio.h>

#include "cfg.h"
#include "monitord.h"
#include "xmalloc.h"

static const char *const check_icmp_keys[] = { "packets", "packet_gap",
	"rtt_warning", "rtt_critical", "loss_warning", "loss_critical", NULL };

static void
check_icmp_cb(const struct icmp_result *r, void *arg)
{
	struct mon_check *c = arg;
	struct monitord *md = c->md;
	enum check_status status = CHECK_OK;
	char text[CHECK_OUTPUT_MAX];

	c->icmp_probe = NULL;
	if (r->outcome == ICMP_RESULT_NO_SOCKET) {
		/* We cannot ping that family at all: we know nothing. */
		snprintf(text, sizeof(text), "PING UNKNOWN - %s: %s",
		    c->host->address, probe_icmp_outcome_str(r->outcome));
		check_finish(c, CHECK_UNKNOWN, text);
		return;
	}
	if (r->received == 0) {
		snprintf(text, sizeof(text),
		    "PING CRITICAL - %s: %s, %u/%u lost", c->host->address,
		    probe_icmp_outcome_str(r->outcome), r->sent - r->received,
		    r->sent);
		if (c->store_samples)
			metric_store_add(md->store, c->host->name, c->name,
			    "pl[%]", 100);
		check_finish(c, CHECK_CRITICAL, text);
		return;
	}
	if (r->loss_pct >= c->icmp.loss_crit_pct ||
	    r->rtt_avg_ms >= c->icmp.rtt_crit_ms)
		status = CHECK_CRITICAL;
	else if (r->loss_pct >= c->icmp.loss_warn_pct ||
	    r->rtt_avg_ms >= c->icmp.rtt_warn_ms)
		status = CHECK_WARNING;
	snprintf(text, sizeof(text),
	    "PING %s - %s: rta %.3f ms (min %.3f, max %.3f, jitter %.3f), "
	    "lost %.0f%% (%u/%u)",
	    check_state_status_str(status), c->host->address, r->rtt_avg_ms,
	    r->rtt_min_ms, r->rtt_max_ms, r->jitter_ms, r->loss_pct,
	    r->sent - r->received, r->sent);
	if (c->store_samples) {
		metric_store_add(md->store, c->host->name, c->name, "rta[ms]",
		    r->rtt_avg_ms);
		metric_store_add(md->store, c->host->name, c->name, "pl[%]",
		    r->loss_pct);
	}
	check_finish(c, status, text);
}

static int
check_icmp_start(struct mon_check *c, enum check_status *result, char *text,
    size_t len)
{
	(void)result;
	(void)text;
	(void)len;
	c->icmp_probe =
	    probe_icmp_start(c->md->icmp, (const struct sockaddr *)&c->host->ss,
		c->host->sslen, c->icmp.packets, c->icmp.packet_gap_ms,
		c->timeout_ms, check_icmp_cb, c);
	return c->icmp_probe != NULL;
}

static void
check_icmp_cancel(struct mon_check *c)
{
	if (c->icmp_probe != NULL) {
		probe_icmp_cancel(c->icmp_probe);
		c->icmp_probe = NULL;
	}
}

static void
check_icmp_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	uint64_t v;

	check->icmp.packets = 3;
	check->icmp.packet_gap_ms = 20;
	check->icmp.rtt_warn_ms = 100;
	check->icmp.rtt_crit_ms = 500;
	check->icmp.loss_warn_pct = 20;
	check->icmp.loss_crit_pct = 60;
	if (cfg_uint(doc, node, "packets", 0, 1, 20, &v) == 0)
		check->icmp.packets = (unsigned)v;
	cfg_duration(doc, node, "packet_gap", 0, 0, 10000,
	    &check->icmp.packet_gap_ms);
	if (cfg_duration(doc, node, "rtt_warning", 0, 0, CHECK_MS_DAY, &v) == 0)
		check->icmp.rtt_warn_ms = (double)v;
	if (cfg_duration(doc, node, "rtt_critical", 0, 0, CHECK_MS_DAY, &v) ==
	    0)
		check->icmp.rtt_crit_ms = (double)v;
	cfg_double(doc, node, "loss_warning", 0, 0, 100,
	    &check->icmp.loss_warn_pct);
	cfg_double(doc, node, "loss_critical", 0, 0, 100,
	    &check->icmp.loss_crit_pct);
	check->name = xstrdup(name ? name : "icmp");
}

static void
check_icmp_validate(struct cfg_doc *doc, const struct cfg_node *at,
    const struct mon_check *c)
{
	if (c->icmp.rtt_warn_ms > c->icmp.rtt_crit_ms)
		cfg_error(doc, at,
		    "check '%s' of host '%s': rtt_warning exceeds "
		    "rtt_critical",
		    c->name, c->host->name);
	if (c->icmp.loss_warn_pct > c->icmp.loss_crit_pct)
		cfg_error(doc, at,
		    "check '%s' of host '%s': loss_warning exceeds "
		    "loss_critical",
		    c->name, c->host->name);
	if ((c->icmp.packets - 1) * c->icmp.packet_gap_ms >= c->timeout_ms)
		cfg_error(doc, at,
		    "check '%s' of host '%s': packets x packet_gap does not "
		    "fit in timeout",
		    c->name, c->host->name);
}

const struct check_kind_ops check_icmp_ops = {
	.kind = CHECK_KIND_ICMP,
	.what = "an icmp check",
	.keys = check_icmp_keys,
	.flags = CHECK_OPS_QUIET_OK,
	.load = check_icmp_load,
	.validate = check_icmp_validate,
	.start = check_icmp_start,
	.cancel = check_icmp_cancel,
};
