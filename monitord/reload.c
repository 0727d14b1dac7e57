/*
 * Pacing limits and configuration reload.  A reload builds the new
 * configuration beside the old one and swaps only if it is valid; checks
 * that did not change are carried over with their state, their place in the
 * schedule and any probe in flight, so a reload causes no burst and no
 * spurious state change.
 */
#include "config.h"

#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "db.h"
#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* Headroom over the planned rate, for retries at their shorter interval. */
#define RELOAD_RATE_HEADROOM 1.25
/* Floors, so that a small network is never paced below what it needs. */
#define RELOAD_MIN_RATE 100.0
#define RELOAD_MIN_IN_FLIGHT 100
/* File descriptors kept for the database, logs, metrics and the like. */
#define RELOAD_FD_RESERVE 256
/* ICMP sequence numbers per family, less a margin for late replies. */
#define RELOAD_ICMP_SEQ 60000

/*
 * Derives the token bucket and the in-flight cap from the checks: the rate
 * is what the intervals plan plus headroom, the cap what that rate keeps in
 * flight for the longest timeout, both bounded by the fd limit (every TCP
 * probe holds a socket) and by the ICMP sequence space.
 */
void
reload_limits(struct monitord *md)
{
	const struct mon_conf *conf = md->conf;
	double planned = 0, rate, burst;
	uint64_t max_timeout = 0, cap, fd_cap, seq_cap;
	unsigned max_packets = 1;
	struct rlimit rl;

	for (size_t i = 0; i < conf->nchecks; i++) {
		const struct mon_check *c = conf->checks[i];

		if (c->kind != CHECK_KIND_SNMP_AGENT)
			planned += 1000.0 / (double)c->interval_ms;
		if (c->timeout_ms > max_timeout)
			max_timeout = c->timeout_ms;
		if (c->kind == CHECK_KIND_ICMP && c->icmp.packets > max_packets)
			max_packets = c->icmp.packets;
	}
	rate = conf->max_rate > 0 ? conf->max_rate :
				    planned * RELOAD_RATE_HEADROOM;
	if (conf->max_rate <= 0 && rate < RELOAD_MIN_RATE)
		rate = RELOAD_MIN_RATE;
	/* Five ticks' worth: deadlines bunch on the 10 ms grid. */
	burst = rate * 0.05;
	if (burst < 20)
		burst = 20;

	fd_cap = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fd_cap = rl.rlim_cur > RELOAD_FD_RESERVE + 64 ?
		    rl.rlim_cur - RELOAD_FD_RESERVE :
		    64;
	seq_cap = RELOAD_ICMP_SEQ / max_packets;
	if (conf->max_in_flight > 0)
		cap = conf->max_in_flight;
	else {
		cap = (uint64_t)(rate * (double)max_timeout / 1000.0 * 1.5);
		if (cap < RELOAD_MIN_IN_FLIGHT)
			cap = RELOAD_MIN_IN_FLIGHT;
	}
	if (cap > fd_cap)
		cap = fd_cap;
	if (cap > seq_cap)
		cap = seq_cap;
	sched_set_limits(md->sched, rate, burst, cap);
	md->planned_rate = planned;
	log_info("pacing: %.0f probes/s planned, at most %.0f/s (bursts of "
		 "%.0f), at most %llu in flight",
	    planned, rate, burst, (unsigned long long)cap);
}

/* Orders checks by host and name, for the lookups of a reload. */
static int
reload_cmp(const void *a, const void *b)
{
	const struct mon_check *x = *(struct mon_check *const *)a;
	const struct mon_check *y = *(struct mon_check *const *)b;
	int r;

	if ((r = strcmp(x->host->name, y->host->name)) != 0)
		return r;
	return strcmp(x->name, y->name);
}

static int
reload_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Whether a check, and the host it probes, are the same in both configs. */
/* Whether two NULL-terminated argument lists are equal. */
static int
reload_argv_eq(char *const *a, char *const *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	for (; *a != NULL && *b != NULL; a++, b++)
		if (strcmp(*a, *b) != 0)
			return 0;
	return *a == NULL && *b == NULL;
}

static int
reload_same(const struct mon_check *a, const struct mon_check *b)
{
	return a->kind == b->kind && a->interval_ms == b->interval_ms &&
	    a->retry_interval_ms == b->retry_interval_ms &&
	    a->timeout_ms == b->timeout_ms &&
	    a->max_attempts == b->max_attempts &&
	    memcmp(&a->icmp, &b->icmp, sizeof(a->icmp)) == 0 &&
	    a->tcp.port == b->tcp.port &&
	    reload_streq(a->tcp.send, b->tcp.send) &&
	    reload_streq(a->tcp.expect, b->tcp.expect) &&
	    a->tcp.connect_warn_ms == b->tcp.connect_warn_ms &&
	    a->tcp.connect_crit_ms == b->tcp.connect_crit_ms &&
	    reload_argv_eq(a->plugin.argv, b->plugin.argv) &&
	    a->plugin.timeout_state == b->plugin.timeout_state &&
	    reload_streq(a->passive.token, b->passive.token) &&
	    a->passive.heartbeat_ms == b->passive.heartbeat_ms &&
	    a->passive.heartbeat_state == b->passive.heartbeat_state &&
	    strcmp(a->host->address, b->host->address) == 0 &&
	    a->host->segment == b->host->segment && check_snmp_same(a, b) &&
	    check_snmp_host_same(a->host, b->host);
}

static int
reload_host_cmp(const void *a, const void *b)
{
	const struct mon_host *x = *(struct mon_host *const *)a;
	const struct mon_host *y = *(struct mon_host *const *)b;

	return strcmp(x->name, y->name);
}

/*
 * Hands the SNMP agents of hosts that did not change to their new host
 * objects, stops the others, and starts those of new or changed hosts.
 * Runs after the checks were carried over or stopped.
 */
static void
reload_agents(struct monitord *md, struct mon_conf *old, struct mon_conf *nc)
{
	struct mon_host **idx, key, *kp = &key;

	idx = xreallocarray(NULL, old->nhosts ? old->nhosts : 1, sizeof(*idx));
	memcpy(idx, old->hosts, old->nhosts * sizeof(*idx));
	qsort(idx, old->nhosts, sizeof(*idx), reload_host_cmp);
	for (size_t i = 0; i < nc->nhosts; i++) {
		struct mon_host *h = nc->hosts[i], **found;

		if (h->snmp == NULL)
			continue;
		key.name = h->name;
		found = bsearch(&kp, idx, old->nhosts, sizeof(*idx),
		    reload_host_cmp);
		if (found != NULL && check_snmp_host_same(*found, h))
			check_snmp_host_adopt(*found, h);
	}
	free(idx);
	/* What was not adopted goes, before a new agent may take its place. */
	for (size_t i = 0; i < old->nhosts; i++)
		check_snmp_host_stop(md, old->hosts[i]);
	for (size_t i = 0; i < nc->nhosts; i++)
		check_snmp_host_start(md, nc->hosts[i]);
	for (size_t i = 0; i < nc->nchecks; i++)
		if (nc->checks[i]->kind == CHECK_KIND_SNMP_AGENT)
			nc->checks[i]->host->snmp->agent_check = nc->checks[i];
}

/* The trap listener holds its communities: a change takes a restart. */
static void
reload_keep_list(struct mon_conf *nc, struct mon_conf *old)
{
	int same = nc->ntrap_communities == old->ntrap_communities;
	char **tmp;
	size_t n;

	for (size_t i = 0; same && i < nc->ntrap_communities; i++)
		same = strcmp(nc->trap_communities[i],
			   old->trap_communities[i]) == 0;
	if (same)
		return;
	log_warnx("reload: 'snmp.traps.communities' changed; that takes a "
		  "restart, keeping the old value");
	tmp = nc->trap_communities;
	n = nc->ntrap_communities;
	nc->trap_communities = old->trap_communities;
	nc->ntrap_communities = old->ntrap_communities;
	old->trap_communities = tmp;
	old->ntrap_communities = n;
}

/* Keeps the old value of a setting that only a restart can change. */
static void
reload_keep(char **newv, char **oldv, const char *what)
{
	if (reload_streq(*newv, *oldv))
		return;
	log_warnx("reload: '%s' changed; that takes a restart, keeping the "
		  "old value",
	    what);
	free(*newv);
	*newv = *oldv;
	*oldv = NULL;
}

/*
 * Loads file and, if it is valid, makes it the configuration.  A broken
 * file is refused with its errors logged and the old configuration keeps
 * running.  Returns 0 or -1.
 */
int
reload_apply(struct monitord *md, const char *file)
{
	struct mon_conf *old = md->conf, *nc;
	struct mon_check **idx, key_check, *key = &key_check;
	struct mon_host key_host;
	struct cfg_doc *doc;
	size_t kept = 0, started = 0, stopped = 0;
	uint64_t now = timeutil_mono_ms();

	nc = conf_load(file, &doc);
	if (nc == NULL) {
		for (size_t i = 0; i < doc->nerrors; i++)
			log_errorx("%s", doc->errors[i]);
		log_errorx("reload: %s has %zu error%s; keeping the running "
			   "configuration",
		    file, doc->nerrors, doc->nerrors == 1 ? "" : "s");
		cfg_free(doc);
		md->stats.reloads_failed++;
		return -1;
	}
	cfg_free(doc);
	reload_keep(&nc->instance, &old->instance, "instance");
	reload_keep(&nc->database, &old->database, "database");
	reload_keep(&nc->user, &old->user, "user");
	reload_keep(&nc->metrics_listen, &old->metrics_listen,
	    "metrics.listen");
	reload_keep(&nc->trap_listen, &old->trap_listen, "snmp.traps.listen");
	reload_keep_list(nc, old);
	reload_keep(&nc->journal_path, &old->journal_path, "journal.path");
	if (nc->cluster != old->cluster ||
	    nc->cluster_pinned != old->cluster_pinned ||
	    nc->journal_max != old->journal_max)
		log_warnx("reload: 'cluster' or 'journal.max_size' changed; "
			  "that takes a restart, keeping the old value");
	nc->cluster = old->cluster;
	nc->cluster_pinned = old->cluster_pinned;
	nc->journal_max = old->journal_max;

	/* The old checks, sorted for lookup; taken ones become NULL. */
	idx = xreallocarray(NULL, old->nchecks, sizeof(*idx));
	memcpy(idx, old->checks, old->nchecks * sizeof(*idx));
	qsort(idx, old->nchecks, sizeof(*idx), reload_cmp);
	for (size_t i = 0; i < nc->nchecks; i++) {
		struct mon_check *c = nc->checks[i], **found;

		memset(&key_check, 0, sizeof(key_check));
		key_host.name = c->host->name;
		key_check.host = &key_host;
		key_check.name = c->name;
		found =
		    bsearch(&key, idx, old->nchecks, sizeof(*idx), reload_cmp);
		if (found != NULL && reload_same(*found, c)) {
			struct mon_check *o = *found;

			/* Carry the running check over to the new host. */
			o->host = c->host;
			if (c->host->host_check == c)
				c->host->host_check = o;
			o->flap = c->flap;
			nc->checks[i] = o;
			o->reload_kept = 1;
			c->host = NULL;
			conf_check_free(c);
			kept++;
		} else {
			check_start(md, c, now);
			started++;
		}
	}
	for (size_t i = 0; i < old->nchecks; i++) {
		struct mon_check *o = old->checks[i];

		if (o->reload_kept) {
			o->reload_kept = 0;
			old->checks[i] = NULL;
			continue;
		}
		check_stop(o);
		stopped++;
	}
	free(idx);
	reload_agents(md, old, nc);
	plugin_runner_set_max(md->plugins, nc->plugin_max);
	md->conf = nc;
	downtime_publish(md, MONITORD_DOWNTIME_DAYS);
	conf_free(old);
	snmp_trap_match_index(md);
	reload_limits(md);
	md->stats.reloads_ok++;
	log_notice("reloaded %s: %zu checks kept, %zu started, %zu stopped",
	    file, kept, started, stopped);
	return 0;
}
