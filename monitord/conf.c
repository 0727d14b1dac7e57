/*
 * monitord.yaml: hosts and their checks.  The YAML tree from cfg.c is walked
 * into struct mon_conf; then a second pass checks the whole (a timeout
 * longer than its interval, duplicate names).  Every error names
 * file:line:column and all of them are reported, not just the first.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "monitord.h"
#include "xmalloc.h"

static const char *const mon_segment_names[] = { "core", "information",
	"finance", "other", NULL };
static const char *const check_kind_names[] = { "icmp", "tcp", NULL };
static const char *const log_level_names[] = { "error", "warning", "notice",
	"info", "debug", NULL };

/* Defaults that a check inherits unless it says otherwise. */
struct mon_defaults {
	uint64_t interval_ms;
	uint64_t retry_interval_ms;
	uint64_t timeout_ms;
	uint64_t max_attempts;
};

#define MS_MIN 10ULL
#define MS_DAY (86400ULL * 1000ULL)

const char *
mon_segment_str(enum mon_segment segment)
{
	if ((unsigned)segment > SEGMENT_OTHER)
		return "?";
	return mon_segment_names[segment];
}

const char *
check_kind_str(enum check_kind kind)
{
	if ((unsigned)kind > CHECK_KIND_TCP)
		return "?";
	return check_kind_names[kind];
}

/* Frees one check's settings; it must be stopped.  NULL is allowed. */
void
mon_check_free(struct mon_check *check)
{
	if (check == NULL)
		return;
	free(check->name);
	free(check->tcp.send);
	free(check->tcp.expect);
	free(check);
}

static void
mon_host_free(struct mon_host *host)
{
	if (host == NULL)
		return;
	free(host->name);
	free(host->address);
	free(host);
}

/* Frees a configuration; NULL is allowed.  Probes must be stopped first. */
void
mon_conf_free(struct mon_conf *conf)
{
	if (conf == NULL)
		return;
	for (size_t i = 0; i < conf->nchecks; i++)
		mon_check_free(conf->checks[i]);
	for (size_t i = 0; i < conf->nhosts; i++)
		mon_host_free(conf->hosts[i]);
	free(conf->checks);
	free(conf->hosts);
	free(conf->file);
	free(conf->instance);
	free(conf->database);
	free(conf->user);
	free(conf->metrics_listen);
	free(conf);
}

/* Host names become keys in the database and in mail: keep them simple. */
static int
mon_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 128)
		return 0;
	for (const char *p = name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.')
			continue;
		return 0;
	}
	return 1;
}

/*
 * Resolves an address at load time (never in the loop): a literal first,
 * then the resolver.  Returns 0 or -1 with the error recorded.
 */
static int
mon_resolve(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_host *host)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST;
	rc = getaddrinfo(host->address, NULL, &hints, &res);
	if (rc != 0) {
		hints.ai_flags = AI_ADDRCONFIG;
		rc = getaddrinfo(host->address, NULL, &hints, &res);
	}
	if (rc != 0 || res == NULL) {
		cfg_error(doc, node, "cannot resolve address '%s': %s",
		    host->address, gai_strerror(rc));
		return -1;
	}
	memcpy(&host->ss, res->ai_addr, res->ai_addrlen);
	host->sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Rounds a period up to the scheduler's tick. */
static uint64_t
mon_round_tick(uint64_t ms)
{
	return (ms + SCHED_TICK_MS - 1) / SCHED_TICK_MS * SCHED_TICK_MS;
}

/*
 * Reads the keys common to every check.  What is absent stays 0 and is
 * filled from the defaults once the whole file is read (mon_apply_defaults):
 * the defaults may come after the hosts in the file.
 */
static void
mon_check_timing(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check)
{
	uint64_t v;

	cfg_duration(doc, node, "interval", 0, 100, MS_DAY,
	    &check->interval_ms);
	cfg_duration(doc, node, "retry_interval", 0, 100, MS_DAY,
	    &check->retry_interval_ms);
	cfg_duration(doc, node, "timeout", 0, MS_MIN, MS_DAY,
	    &check->timeout_ms);
	if (cfg_uint(doc, node, "max_attempts", 0, 1, 100, &v) == 0)
		check->max_attempts = (unsigned)v;
}

/* Gives every check the defaults for what it did not set itself. */
static void
mon_apply_defaults(struct mon_conf *conf, const struct mon_defaults *def)
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
		/* Deadlines live on the scheduler's 10 ms grid. */
		c->interval_ms = mon_round_tick(c->interval_ms);
		c->retry_interval_ms = mon_round_tick(c->retry_interval_ms);
	}
}

/* Reads one check of a host; NULL after recording an error. */
static struct mon_check *
mon_check_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_host *host)
{
	static const char *const icmp_keys[] = { "type", "name", "interval",
		"retry_interval", "timeout", "max_attempts", "packets",
		"packet_gap", "rtt_warning", "rtt_critical", "loss_warning",
		"loss_critical", NULL };
	static const char *const tcp_keys[] = { "type", "name", "interval",
		"retry_interval", "timeout", "max_attempts", "port", "send",
		"expect", "connect_warning", "connect_critical", NULL };
	struct mon_check *check;
	const char *name = NULL, *s;
	uint64_t v;
	int kind;

	if (cfg_expect_map(doc, node, "a check") == -1)
		return NULL;
	if (cfg_enum(doc, node, "type", 1, check_kind_names, &kind) != 0)
		return NULL;

	check = xcalloc(1, sizeof(*check));
	check->host = host;
	check->kind = (enum check_kind)kind;
	check->line = node->line;
	check->col = node->col;
	mon_check_timing(doc, node, check);
	cfg_str(doc, node, "name", 0, &name);

	switch (check->kind) {
	case CHECK_KIND_ICMP:
		cfg_check_keys(doc, node, "an icmp check", icmp_keys);
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
		if (cfg_duration(doc, node, "rtt_warning", 0, 0, MS_DAY, &v) ==
		    0)
			check->icmp.rtt_warn_ms = (double)v;
		if (cfg_duration(doc, node, "rtt_critical", 0, 0, MS_DAY, &v) ==
		    0)
			check->icmp.rtt_crit_ms = (double)v;
		cfg_double(doc, node, "loss_warning", 0, 0, 100,
		    &check->icmp.loss_warn_pct);
		cfg_double(doc, node, "loss_critical", 0, 0, 100,
		    &check->icmp.loss_crit_pct);
		check->name = xstrdup(name ? name : "icmp");
		break;
	case CHECK_KIND_TCP:
		cfg_check_keys(doc, node, "a tcp check", tcp_keys);
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
		cfg_duration(doc, node, "connect_warning", 0, 1, MS_DAY,
		    &check->tcp.connect_warn_ms);
		cfg_duration(doc, node, "connect_critical", 0, 1, MS_DAY,
		    &check->tcp.connect_crit_ms);
		check->name =
		    name ? xstrdup(name) : xasprintf("tcp/%u", check->tcp.port);
		break;
	}
	return check;
}

/* Orders hosts by name, then by position in the file. */
static int
mon_host_cmp(const void *a, const void *b)
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
mon_conf_unique_hosts(struct cfg_doc *doc, const struct mon_conf *conf)
{
	struct mon_host **sorted;

	if (conf->nhosts < 2)
		return;
	sorted = xreallocarray(NULL, conf->nhosts, sizeof(*sorted));
	memcpy(sorted, conf->hosts, conf->nhosts * sizeof(*sorted));
	qsort(sorted, conf->nhosts, sizeof(*sorted), mon_host_cmp);
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
mon_conf_validate(struct cfg_doc *doc, struct mon_conf *conf)
{
	mon_conf_unique_hosts(doc, conf);
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
		if (c->kind == CHECK_KIND_TCP && c->tcp.connect_warn_ms &&
		    c->tcp.connect_crit_ms &&
		    c->tcp.connect_warn_ms > c->tcp.connect_crit_ms)
			cfg_error(doc, &at,
			    "check '%s' of host '%s': "
			    "connect_warning exceeds "
			    "connect_critical",
			    c->name, c->host->name);
		if (c->kind == CHECK_KIND_ICMP) {
			if (c->icmp.rtt_warn_ms > c->icmp.rtt_crit_ms)
				cfg_error(doc, &at,
				    "check '%s' of host '%s': "
				    "rtt_warning exceeds "
				    "rtt_critical",
				    c->name, c->host->name);
			if (c->icmp.loss_warn_pct > c->icmp.loss_crit_pct)
				cfg_error(doc, &at,
				    "check '%s' of host '%s': "
				    "loss_warning exceeds "
				    "loss_critical",
				    c->name, c->host->name);
			if ((c->icmp.packets - 1) * c->icmp.packet_gap_ms >=
			    c->timeout_ms)
				cfg_error(doc, &at,
				    "check '%s' of host '%s': "
				    "packets x packet_gap does "
				    "not fit in timeout",
				    c->name, c->host->name);
		}
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

/* Reads one host and its checks into conf. */
static void
mon_host_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_conf *conf)
{
	static const char *const host_keys[] = { "name", "address", "segment",
		"description", "checks", NULL };
	const struct cfg_node *checks, *addr_node;
	const char *name = NULL, *address = NULL, *description;
	struct mon_host *host;
	int segment = SEGMENT_OTHER;

	if (cfg_expect_map(doc, node, "a host") == -1)
		return;
	cfg_check_keys(doc, node, "a host", host_keys);
	cfg_str(doc, node, "name", 1, &name);
	cfg_str(doc, node, "address", 1, &address);
	cfg_enum(doc, node, "segment", 0, mon_segment_names, &segment);
	cfg_str(doc, node, "description", 0, &description);
	checks = cfg_seq(doc, node, "checks", 1);
	if (name == NULL || address == NULL)
		return;
	if (!mon_name_ok(name)) {
		cfg_error(doc, cfg_get(node, "name"),
		    "host name '%s' may only "
		    "hold letters, digits, "
		    "'-', '_' and '.'",
		    name);
		return;
	}
	host = xcalloc(1, sizeof(*host));
	host->name = xstrdup(name);
	host->address = xstrdup(address);
	host->segment = (enum mon_segment)segment;
	host->line = node->line;
	host->col = node->col;
	host->name_line = cfg_get(node, "name")->line;
	host->name_col = cfg_get(node, "name")->col;
	conf->hosts =
	    xreallocarray(conf->hosts, conf->nhosts + 1, sizeof(*conf->hosts));
	conf->hosts[conf->nhosts++] = host;
	addr_node = cfg_get(node, "address");
	mon_resolve(doc, addr_node, host);

	if (checks == NULL)
		return;
	if (checks->n == 0)
		cfg_error(doc, checks, "host '%s' has no checks", name);
	for (size_t i = 0; i < checks->n; i++) {
		struct mon_check *check;

		check = mon_check_load(doc, checks->items[i], host);
		if (check == NULL)
			continue;
		conf->checks = xreallocarray(conf->checks, conf->nchecks + 1,
		    sizeof(*conf->checks));
		conf->checks[conf->nchecks++] = check;
	}
}

/* Reads the metrics and scheduler blocks, if any. */
static void
mon_engine_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct mon_conf *conf)
{
	static const char *const metrics_keys[] = { "listen", NULL };
	static const char *const sched_keys[] = { "max_rate", "max_in_flight",
		NULL };
	const struct cfg_node *node;
	const char *s;

	if ((node = cfg_map(doc, root, "metrics", 0)) != NULL) {
		cfg_check_keys(doc, node, "metrics", metrics_keys);
		if (cfg_str(doc, node, "listen", 1, &s) == 0) {
			struct sockaddr_storage ss;
			socklen_t sslen;
			const char *why;

			if (metrics_parse_listen(s, &ss, &sslen, &why) == -1)
				cfg_error(doc, cfg_get(node, "listen"),
				    "metrics listen address '%s': %s", s, why);
			conf->metrics_listen = xstrdup(s);
		}
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
mon_defaults_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct mon_defaults *def)
{
	static const char *const keys[] = { "interval", "retry_interval",
		"timeout", "max_attempts", NULL };
	const struct cfg_node *node;

	def->interval_ms = 60000;
	def->retry_interval_ms = 0; /* = interval unless set */
	def->timeout_ms = 5000;
	def->max_attempts = 3;
	if ((node = cfg_map(doc, root, "defaults", 0)) == NULL)
		return;
	cfg_check_keys(doc, node, "defaults", keys);
	cfg_duration(doc, node, "interval", 0, 100, MS_DAY, &def->interval_ms);
	cfg_duration(doc, node, "retry_interval", 0, 100, MS_DAY,
	    &def->retry_interval_ms);
	cfg_duration(doc, node, "timeout", 0, MS_MIN, MS_DAY, &def->timeout_ms);
	cfg_uint(doc, node, "max_attempts", 0, 1, 100, &def->max_attempts);
}

/* Takes each host as soon as the parser has it (see cfg_hook). */
static void
mon_host_hook(struct cfg_doc *doc, const struct cfg_node *node, void *arg)
{
	mon_host_load(doc, node, arg);
}

/*
 * Loads and checks a config file.  Returns the configuration, or NULL when
 * there were errors; either way *docp holds the document and its errors,
 * in the order of the file, for the caller to print and free.
 */
struct mon_conf *
mon_conf_load(const char *path, struct cfg_doc **docp)
{
	static const char *const top_keys[] = { "instance", "database",
		"log_level", "user", "metrics", "scheduler", "defaults",
		"hosts", NULL };
	struct mon_conf *conf = xcalloc(1, sizeof(*conf));
	struct cfg_hook hook = { "hosts", mon_host_hook, conf };
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
		if (!mon_name_ok(s))
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
	mon_engine_load(doc, root, conf);
	mon_defaults_load(doc, root, &def);
	/* Its items went to mon_host_hook; this checks it is there. */
	cfg_seq(doc, root, "hosts", 1);
	mon_apply_defaults(conf, &def);
	if (doc->nerrors == 0)
		mon_conf_validate(doc, conf);
	if (doc->nerrors > 0)
		goto fail;
	return conf;
fail:
	cfg_sort_errors(doc);
	mon_conf_free(conf);
	return NULL;
}
