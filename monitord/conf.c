/*
 * monitord.yaml: the whole file.  The YAML tree from cfg.c is walked into
 * struct mon_conf, section by section (conf_check, conf_snmp, conf_host,
 * conf_downtime; conf_parts.h is what they share); then a second pass
 * checks the whole (a timeout longer than its interval, duplicate names).
 * Every error names file:line:column and all of them are reported, not
 * just the first.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "conf_parts.h"
#include "monitord.h"
#include "xmalloc.h"

static const char *const log_level_names[] = { "error", "warning", "notice",
	"info", "debug", NULL };

/* Defaults that a check inherits unless it says otherwise. */
struct mon_defaults {
	uint64_t interval_ms;
	uint64_t retry_interval_ms;
	uint64_t timeout_ms;
	uint64_t max_attempts;
	int flap_detection;
	double flap_start, flap_stop;
	int store_samples;
};

/* Frees a configuration; NULL is allowed.  Probes must be stopped first. */
void
conf_free(struct mon_conf *conf)
{
	if (conf == NULL)
		return;
	for (size_t i = 0; i < conf->nchecks; i++)
		conf_check_free(conf->checks[i]);
	for (size_t i = 0; i < conf->nhosts; i++)
		conf_host_free(conf->hosts[i]);
	free(conf->checks);
	free(conf->hosts);
	free(conf->file);
	free(conf->instance);
	free(conf->database);
	free(conf->user);
	free(conf->metrics_listen);
	free(conf->journal_path);
	for (size_t i = 0; i < conf->ncreds; i++)
		conf_snmp_cred_free(conf->creds[i]);
	free(conf->creds);
	free(conf->trap_listen);
	for (size_t i = 0; i < conf->ndowntimes; i++)
		downtime_free(conf->downtimes[i]);
	free(conf->downtimes);
	for (size_t i = 0; i < conf->ntrap_communities; i++)
		free(conf->trap_communities[i]);
	free(conf->trap_communities);
	free(conf);
}

/* Rounds a period up to the scheduler's tick. */
static uint64_t
conf_round_tick(uint64_t ms)
{
	return (ms + SCHED_TICK_MS - 1) / SCHED_TICK_MS * SCHED_TICK_MS;
}

/* Gives every check the defaults for what it did not set itself. */
static void
conf_apply_defaults(struct mon_conf *conf, const struct mon_defaults *def)
{
	for (size_t i = 0; i < conf->nchecks; i++) {
		struct mon_check *c = conf->checks[i];

		if (c->interval_ms == 0)
			c->interval_ms = def->interval_ms;
		if (c->retry_interval_ms == 0)
			c->retry_interval_ms = def->retry_interval_ms != 0 ?
			    def->retry_interval_ms :
			    c->interval_ms;
		if (c->timeout_ms == 0)
			c->timeout_ms = def->timeout_ms;
		if (c->max_attempts == 0)
			c->max_attempts = (unsigned)def->max_attempts;
		if (c->flap.enabled == -1)
			c->flap.enabled = def->flap_detection;
		if (c->store_samples == -1)
			c->store_samples = def->store_samples;
		if (c->flap.start_pct == 0)
			c->flap.start_pct = def->flap_start;
		if (c->flap.stop_pct == 0)
			c->flap.stop_pct = def->flap_stop;
		/* Deadlines live on the scheduler's 10 ms grid. */
		c->interval_ms = conf_round_tick(c->interval_ms);
		c->retry_interval_ms = conf_round_tick(c->retry_interval_ms);
	}
	/* The agent check is never scheduled; its timing is for show and
	 * must pass the checks below: the fastest of its host's others. */
	for (size_t i = 0; i < conf->nchecks; i++) {
		struct mon_check *a = conf->checks[i];

		if (a->kind != CHECK_KIND_SNMP_AGENT)
			continue;
		a->interval_ms = a->retry_interval_ms = 0;
		for (size_t j = i; j-- > 0 && conf->checks[j]->host == a->host;)
			if (conf->checks[j]->snmp != NULL &&
			    (a->interval_ms == 0 ||
				conf->checks[j]->interval_ms < a->interval_ms))
				a->interval_ms = conf->checks[j]->interval_ms;
		if (a->interval_ms == 0)
			a->interval_ms = def->interval_ms;
		a->retry_interval_ms = a->interval_ms;
		a->timeout_ms = MS_MIN;
	}
}

/* Orders hosts by name, then by position in the file. */
static int
conf_unique_hosts_cmp(const void *a, const void *b)
{
	const struct mon_host *x = *(struct mon_host *const *)a;
	const struct mon_host *y = *(struct mon_host *const *)b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Host names are keys: find duplicates by sorting, not by pairs. */
static void
conf_unique_hosts(struct cfg_doc *doc, const struct mon_conf *conf)
{
	struct mon_host **sorted;

	if (conf->nhosts < 2)
		return;
	sorted = xreallocarray(NULL, conf->nhosts, sizeof(*sorted));
	memcpy(sorted, conf->hosts, conf->nhosts * sizeof(*sorted));
	qsort(sorted, conf->nhosts, sizeof(*sorted), conf_unique_hosts_cmp);
	for (size_t i = 1; i < conf->nhosts; i++) {
		const struct mon_host *h = sorted[i];
		struct cfg_node at = { .line = h->name_line,
			.col = h->name_col };
		size_t first = i;

		while (
		    first > 0 && strcmp(sorted[first - 1]->name, h->name) == 0)
			first--;
		if (first != i)
			cfg_error(doc, &at,
			    "duplicate host '%s' (first at line "
			    "%u)",
			    h->name, sorted[first]->line);
	}
	free(sorted);
}

/* The whole-file checks that need more than one value at a time. */
static void
conf_validate(struct cfg_doc *doc, struct mon_conf *conf)
{
	conf_unique_hosts(doc, conf);
	for (size_t i = 0; i < conf->nchecks; i++) {
		const struct mon_check *c = conf->checks[i];
		struct cfg_node at = { .line = c->line, .col = c->col };

		if (c->timeout_ms >= c->interval_ms)
			cfg_error(doc, &at,
			    "check '%s' of host '%s': timeout "
			    "(%llums) must be shorter than "
			    "interval (%llums)",
			    c->name, c->host->name,
			    (unsigned long long)c->timeout_ms,
			    (unsigned long long)c->interval_ms);
		if (c->timeout_ms > c->retry_interval_ms)
			cfg_error(doc, &at,
			    "check '%s' of host '%s': timeout "
			    "(%llums) must not exceed "
			    "retry_interval (%llums)",
			    c->name, c->host->name,
			    (unsigned long long)c->timeout_ms,
			    (unsigned long long)c->retry_interval_ms);
		if (c->ops->validate != NULL)
			c->ops->validate(doc, &at, c);
		/* A host's checks are next to each other in the list. */
		for (size_t j = i;
		     j-- > 0 && conf->checks[j]->host == c->host;) {
			const struct mon_check *o = conf->checks[j];

			if (strcmp(o->name, c->name) == 0)
				cfg_error(doc, &at,
				    "host '%s' has two checks named '%s' (first "
				    "at line %u); give one a name",
				    c->host->name, c->name, o->line);
		}
	}
}

/*
 * Parses a byte size: digits, then optionally KiB, MiB or GiB (or K, M,
 * G).  Returns 0, or -1 if s is not one or it overflows.
 */
int
conf_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = { { "", 0 }, { "K", 10 }, { "KiB", 10 }, { "M", 20 },
		{ "MiB", 20 }, { "G", 30 }, { "GiB", 30 } };
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (v > (UINT64_MAX >> units[i].shift))
			return -1;
		*out = v << units[i].shift;
		return 0;
	}
	return -1;
}

/* Reads the metrics, journal and scheduler blocks, if any. */
static void
conf_engine_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct mon_conf *conf)
{
	static const char *const metrics_keys[] = { "listen", NULL };
	static const char *const sched_keys[] = { "max_rate", "max_in_flight",
		NULL };
	static const char *const journal_keys[] = { "path", "max_size", NULL };
	static const char *const cluster_keys[] = { "pinned", NULL };
	const struct cfg_node *node;
	const char *s;

	if ((node = cfg_map(doc, root, "metrics", 0)) != NULL) {
		cfg_check_keys(doc, node, "metrics", metrics_keys);
		if (cfg_str(doc, node, "listen", 1, &s) == 0) {
			struct sockaddr_storage ss;
			socklen_t sslen;
			const char *why;

			if (httpd_parse_listen(s, &ss, &sslen, &why) == -1)
				cfg_error(doc, cfg_get(node, "listen"),
				    "metrics listen address '%s': %s", s, why);
			conf->metrics_listen = xstrdup(s);
		}
	}
	if ((node = cfg_map(doc, root, "cluster", 0)) != NULL) {
		const struct cfg_node *seq;
		int seg;

		cfg_check_keys(doc, node, "cluster", cluster_keys);
		conf->cluster = 1;
		seq = cfg_seq(doc, node, "pinned", 0);
		for (size_t i = 0; seq != NULL && i < seq->n; i++) {
			if (cfg_node_str(doc, seq->items[i], "a segment", &s) ==
			    -1)
				continue;
			for (seg = SEGMENT_CORE; seg <= SEGMENT_OTHER; seg++)
				if (strcmp(s, segment_names[seg]) == 0)
					break;
			if (seg > SEGMENT_OTHER)
				cfg_error(doc, seq->items[i],
				    "'%s' is not a segment (core, "
				    "information, finance or other)",
				    s);
			else
				conf->cluster_pinned |= 1u << seg;
		}
	} else if (cfg_get(root, "cluster") != NULL &&
	    cfg_is_null(cfg_get(root, "cluster")))
		conf->cluster = 1;
	conf->journal_max = MON_JOURNAL_MAX_DEFAULT;
	if ((node = cfg_map(doc, root, "journal", 0)) != NULL) {
		cfg_check_keys(doc, node, "journal", journal_keys);
		if (cfg_str(doc, node, "path", 1, &s) == 0) {
			if (s[0] != '/')
				cfg_error(doc, cfg_get(node, "path"),
				    "journal path '%s' is not absolute", s);
			conf->journal_path = xstrdup(s);
		}
		if (cfg_str(doc, node, "max_size", 0, &s) == 0 &&
		    (conf_parse_size(s, &conf->journal_max) == -1 ||
			conf->journal_max < 4096))
			cfg_error(doc, cfg_get(node, "max_size"),
			    "journal max_size '%s' is not a size of at least "
			    "4KiB (a number with KiB, MiB or GiB)",
			    s);
	}
	conf->plugin_max = 16;
	if ((node = cfg_map(doc, root, "plugins", 0)) != NULL) {
		static const char *const plugin_keys_top[] = { "max_concurrent",
			"directory", NULL };
		uint64_t v;

		cfg_check_keys(doc, node, "plugins", plugin_keys_top);
		if (cfg_uint(doc, node, "max_concurrent", 0, 1, 1000, &v) == 0)
			conf->plugin_max = (unsigned)v;
		if (cfg_str(doc, node, "directory", 0, &s) == 0 && s[0] != '/')
			cfg_error(doc, cfg_get(node, "directory"),
			    "'directory' must be an absolute path");
	}
	if ((node = cfg_map(doc, root, "scheduler", 0)) != NULL) {
		cfg_check_keys(doc, node, "scheduler", sched_keys);
		cfg_double(doc, node, "max_rate", 0, 0, 10000000,
		    &conf->max_rate);
		cfg_uint(doc, node, "max_in_flight", 0, 0, 1000000,
		    &conf->max_in_flight);
	}
}

/* Reads the defaults block, if any. */
static void
conf_defaults_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct mon_defaults *def)
{
	const struct cfg_node *node;

	def->interval_ms = 60000;
	def->retry_interval_ms = 0; /* = interval unless set */
	def->timeout_ms = 5000;
	def->max_attempts = 3;
	/* Nagios's thresholds are 20 % and 5 %; Icinga's 30 % and 25 %.
	 * These sit between: a state that changes on a third of its
	 * results is flapping; below a fifth it has settled. */
	def->flap_detection = 1;
	def->flap_start = 35;
	def->flap_stop = 20;
	def->store_samples = 1;
	if ((node = cfg_map(doc, root, "defaults", 0)) == NULL)
		return;
	cfg_check_keys(doc, node, "defaults", mon_check_common_keys);
	cfg_bool(doc, node, "flap_detection", 0, &def->flap_detection);
	cfg_bool(doc, node, "store_samples", 0, &def->store_samples);
	cfg_double(doc, node, "flap_start", 0, 1, 100, &def->flap_start);
	cfg_double(doc, node, "flap_stop", 0, 1, 100, &def->flap_stop);
	cfg_duration(doc, node, "interval", 0, 100, MS_DAY, &def->interval_ms);
	cfg_duration(doc, node, "retry_interval", 0, 100, MS_DAY,
	    &def->retry_interval_ms);
	cfg_duration(doc, node, "timeout", 0, MS_MIN, MS_DAY, &def->timeout_ms);
	cfg_uint(doc, node, "max_attempts", 0, 1, 100, &def->max_attempts);
}

/*
 * Hosts are read as the file streams, so what they refer to (segments,
 * templates) must come before them.
 */
static void
conf_order_check(struct cfg_doc *doc, const struct cfg_node *root)
{
	size_t hosts = root->n;

	for (size_t i = 0; i < root->n; i++) {
		const char *k = root->keys[i]->value;

		if (strcmp(k, "hosts") == 0)
			hosts = i;
		else if (i > hosts &&
		    (strcmp(k, "templates") == 0 ||
			strcmp(k, "segments") == 0 ||
			strcmp(k, "plugins") == 0))
			cfg_error(doc, root->keys[i],
			    "'%s' must come before 'hosts' (hosts are read "
			    "as the file is, and use it)",
			    k);
	}
}

/*
 * Loads and checks a config file.  Returns the configuration, or NULL when
 * there were errors; either way *docp holds the document and its errors,
 * in the order of the file, for the caller to print and free.
 */
struct mon_conf *
conf_load(const char *path, struct cfg_doc **docp)
{
	static const char *const top_keys[] = { "instance", "database",
		"log_level", "user", "metrics", "journal", "scheduler", "snmp",
		"defaults", "segments", "templates", "plugins", "hosts",
		"downtimes", "readable_secrets", "cluster", NULL };
	struct mon_conf *conf = xcalloc(1, sizeof(*conf));
	struct cfg_hook hook = { "hosts", conf_host_hook, conf };
	struct cfg_doc *doc;
	struct mon_defaults def;
	const struct cfg_node *root;
	const char *s;
	int level = LOG_LEVEL_INFO;

	conf->file = xstrdup(path);
	/* Hosts are read while the file streams through the parser. */
	*docp = doc = cfg_load_file(path, &hook);
	root = doc->root;
	if (root == NULL) {
		if (doc->nerrors == 0)
			cfg_error(doc, NULL, "the file is empty");
		goto fail;
	}
	if (cfg_expect_map(doc, root, "the top level") == -1)
		goto fail;
	cfg_check_keys(doc, root, "the top level", top_keys);
	if (cfg_str(doc, root, "instance", 0, &s) == 0) {
		if (!conf_check_name_ok(s))
			cfg_error(doc, cfg_get(root, "instance"),
			    "instance '%s' may only hold letters, digits, "
			    "'-', '_' and '.'",
			    s);
		conf->instance = xstrdup(s);
	} else {
		char hostname[256];

		if (gethostname(hostname, sizeof(hostname)) == -1)
			strcpy(hostname, "localhost");
		hostname[sizeof(hostname) - 1] = '\0';
		conf->instance = xasprintf("monitord@%s", hostname);
	}
	if (cfg_str(doc, root, "database", 0, &s) == 0) {
		cfg_check_conninfo(doc, cfg_get(root, "database"), s);
		conf->database = xstrdup(s);
	}
	cfg_enum(doc, root, "log_level", 0, log_level_names, &level);
	conf->log_level = (enum log_level)level;
	if (cfg_str(doc, root, "user", 0, &s) == 0) {
		if (getpwnam(s) == NULL)
			cfg_error(doc, cfg_get(root, "user"),
			    "user '%s' does not exist", s);
		conf->user = xstrdup(s);
	}
	conf_engine_load(doc, root, conf);
	conf_snmp_load(doc, root, conf);
	conf_defaults_load(doc, root, &def);
	conf_check_segments(doc, root);
	conf_order_check(doc, root);
	/* Its items went to conf_host_hook; this checks it is there. */
	cfg_seq(doc, root, "hosts", 1);
	conf_apply_defaults(conf, &def);
	conf_snmp_resolve(doc, conf);
	conf_host_topology_resolve(doc, conf);
	conf_downtime_load(doc, root, conf);
	cfg_check_secrets(doc, root);
	if (doc->nerrors == 0)
		conf_validate(doc, conf);
	if (doc->nerrors > 0)
		goto fail;
	return conf;
fail:
	cfg_sort_errors(doc);
	conf_free(conf);
	return NULL;
}
