/*
 * The tcp check kind: a connect through probe_tcp.c, optionally a text
 * sent and one expected, judged on the connect time.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "monitord.h"
#include "xmalloc.h"

static const char *const check_tcp_keys[] = { "port", "send", "expect",
	"connect_warning", "connect_critical", NULL };

static void
check_tcp_cb(const struct probe_tcp_result *r, void *arg)
{
	struct mon_check *c = arg;
	struct monitord *md = c->md;
	enum check_status status = CHECK_OK;
	char text[CHECK_OUTPUT_MAX];

	c->tcp_probe = NULL;
	md->stats.tcp_in_flight--;
	if (r->outcome != PROBE_TCP_CONNECTED) {
		snprintf(text, sizeof(text),
		    "TCP CRITICAL - %s on %s port %u after %.3f s%s%s",
		    probe_tcp_outcome_str(r->outcome), c->host->address,
		    c->tcp.port, (double)r->total_us / 1e6,
		    r->banner[0] ? ": " : "", r->banner);
		check_finish(c, CHECK_CRITICAL, text);
		return;
	}
	if (c->tcp.connect_crit_ms != 0 &&
	    r->connect_us >= c->tcp.connect_crit_ms * 1000)
		status = CHECK_CRITICAL;
	else if (c->tcp.connect_warn_ms != 0 &&
	    r->connect_us >= c->tcp.connect_warn_ms * 1000)
		status = CHECK_WARNING;
	snprintf(text, sizeof(text),
	    "TCP %s - %.3f s response time on %s port %u%s%s",
	    check_state_status_str(status), (double)r->connect_us / 1e6,
	    c->host->address, c->tcp.port, r->banner[0] ? ": " : "", r->banner);
	if (c->store_samples)
		metric_store_add(md->store, c->host->name, c->name, "time[s]",
		    (double)r->connect_us / 1e6);
	check_finish(c, status, text);
}

static int
check_tcp_start(struct mon_check *c, enum check_status *result, char *text,
    size_t len)
{
	struct monitord *md = c->md;
	struct sockaddr_storage ss = c->host->ss;
	struct probe_tcp_opts opts = { c->tcp.send,
		c->tcp.send ? strlen(c->tcp.send) : 0, c->tcp.expect };

	(void)result;
	(void)text;
	(void)len;
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(c->tcp.port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(c->tcp.port);
	c->tcp_probe = probe_tcp_start(md->base, (struct sockaddr *)&ss,
	    c->host->sslen, c->timeout_ms, &opts, check_tcp_cb, c);
	if (c->tcp_probe == NULL)
		return 0;
	md->stats.tcp_in_flight++;
	return 1;
}

static void
check_tcp_cancel(struct mon_check *c)
{
	if (c->tcp_probe != NULL) {
		probe_tcp_cancel(c->tcp_probe);
		c->tcp_probe = NULL;
		c->md->stats.tcp_in_flight--;
	}
}

static void
check_tcp_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	const char *s;
	uint64_t v;

	if (cfg_uint(doc, node, "port", 1, 1, 65535, &v) == 0)
		check->tcp.port = (uint16_t)v;
	if (cfg_str(doc, node, "send", 0, &s) == 0)
		check->tcp.send = xstrdup(s); /* YAML did the escapes */
	if (cfg_str(doc, node, "expect", 0, &s) == 0) {
		if (strlen(s) == 0 || strlen(s) > PROBE_TCP_READ_MAX)
			cfg_error(doc, cfg_get(node, "expect"),
			    "'expect' must hold 1 to %d bytes",
			    PROBE_TCP_READ_MAX);
		check->tcp.expect = xstrdup(s);
	}
	cfg_duration(doc, node, "connect_warning", 0, 1, CHECK_MS_DAY,
	    &check->tcp.connect_warn_ms);
	cfg_duration(doc, node, "connect_critical", 0, 1, CHECK_MS_DAY,
	    &check->tcp.connect_crit_ms);
	check->name =
	    name ? xstrdup(name) : xasprintf("tcp/%u", check->tcp.port);
}

static void
check_tcp_validate(struct cfg_doc *doc, const struct cfg_node *at,
    const struct mon_check *c)
{
	if (c->tcp.connect_warn_ms && c->tcp.connect_crit_ms &&
	    c->tcp.connect_warn_ms > c->tcp.connect_crit_ms)
		cfg_error(doc, at,
		    "check '%s' of host '%s': connect_warning exceeds "
		    "connect_critical",
		    c->name, c->host->name);
}

static void
check_tcp_free(struct mon_check *c)
{
	free(c->tcp.send);
	free(c->tcp.expect);
}

const struct check_kind_ops check_tcp_ops = {
	.kind = CHECK_KIND_TCP,
	.what = "a tcp check",
	.keys = check_tcp_keys,
	.flags = CHECK_OPS_QUIET_OK,
	.load = check_tcp_load,
	.validate = check_tcp_validate,
	.start = check_tcp_start,
	.cancel = check_tcp_cancel,
	.free = check_tcp_free,
};
