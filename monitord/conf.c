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
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* The kinds a check's "type:" may name (not the implicit agent check). */
static const struct check_kind_ops *const mon_check_types[] = { &check_icmp_ops,
	&check_tcp_ops, &check_snmp_uptime_ops, &check_snmp_if_ops,
	&check_snmp_storage_ops, &check_snmp_cpu_ops, &check_snmp_oid_ops,
	&check_plugin_ops, &check_passive_ops };
#define MON_NCHECK_TYPES (sizeof(mon_check_types) / sizeof(mon_check_types[0]))

/* The names of mon_check_types, as "type:" writes them; NULL-terminated. */
static const char *const *
mon_check_type_names(void)
{
	static const char *names[MON_NCHECK_TYPES + 1];

	if (names[0] == NULL)
		for (size_t i = 0; i < MON_NCHECK_TYPES; i++)
			names[i] = check_kind_str(mon_check_types[i]->kind);
	return names;
}
static const char *const snmp_version_names[] = { "1", "2c", "3", NULL };
static const char *const snmp_level_names[] = { "noAuthNoPriv", "authNoPriv",
	"authPriv", NULL };
static const char *const snmp_auth_names[] = { "SHA", "SHA-256", NULL };
static const char *const snmp_priv_names[] = { "AES", NULL };
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

/* The keys every check may have, and that defaults and segments set. */
static const char *const check_common_keys[] = { "interval", "retry_interval",
	"timeout", "max_attempts", "flap_detection", "flap_start", "flap_stop",
	"store_samples", NULL };

/* Template inheritance deeper than this is refused (and loops with it). */
#define MON_TEMPLATE_DEPTH 16

#define MS_MIN 10ULL
#define MS_DAY CHECK_MS_DAY

/* Frees one check's settings; it must be stopped.  NULL is allowed. */
void
mon_check_free(struct mon_check *check)
{
	if (check == NULL)
		return;
	free(check->name);
	free(check->suppressed_by);
	free(check->last_output);
	if (check->ops != NULL && check->ops->free != NULL)
		check->ops->free(check);
	free(check);
}

/* Frees a credential set, wiping its secrets first. */
static void
mon_cred_free(struct snmp_cred *cred)
{
	if (cred == NULL)
		return;
	free(cred->name);
	free(cred->user);
	if (cred->community != NULL) {
		explicit_bzero(cred->community, strlen(cred->community));
		free(cred->community);
	}
	if (cred->auth_pass != NULL) {
		explicit_bzero(cred->auth_pass, strlen(cred->auth_pass));
		free(cred->auth_pass);
	}
	if (cred->priv_pass != NULL) {
		explicit_bzero(cred->priv_pass, strlen(cred->priv_pass));
		free(cred->priv_pass);
	}
	free(cred);
}

static void
mon_host_free(struct mon_host *host)
{
	if (host == NULL)
		return;
	free(host->name);
	free(host->address);
	free(host->department);
	free(host->host_check_name);
	for (size_t i = 0; i < host->ntags; i++)
		free(host->tags[i]);
	free(host->tags);
	for (size_t i = 0; i < host->nparents; i++)
		free(host->parent_names[i]);
	free(host->parent_names);
	free(host->parent_pos);
	free(host->parents);
	free(host->children);
	if (host->snmp != NULL)
		free(host->snmp->cred_name);
	free(host->snmp);
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
	free(conf->journal_path);
	for (size_t i = 0; i < conf->ncreds; i++)
		mon_cred_free(conf->creds[i]);
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
	int on;

	cfg_duration(doc, node, "interval", 0, 100, MS_DAY,
	    &check->interval_ms);
	cfg_duration(doc, node, "retry_interval", 0, 100, MS_DAY,
	    &check->retry_interval_ms);
	cfg_duration(doc, node, "timeout", 0, MS_MIN, MS_DAY,
	    &check->timeout_ms);
	if (cfg_uint(doc, node, "max_attempts", 0, 1, 100, &v) == 0)
		check->max_attempts = (unsigned)v;
	check->flap.enabled = -1;
	if (cfg_bool(doc, node, "flap_detection", 0, &on) == 0)
		check->flap.enabled = on;
	check->store_samples = -1;
	if (cfg_bool(doc, node, "store_samples", 0, &on) == 0)
		check->store_samples = on;
	cfg_double(doc, node, "flap_start", 0, 1, 100, &check->flap.start_pct);
	cfg_double(doc, node, "flap_stop", 0, 1, 100, &check->flap.stop_pct);
}

/*
 * Checks the keys of a check: the common ones, and those of its type.
 */
static void
mon_check_keys(struct cfg_doc *doc, const struct cfg_node *node,
    const char *what, const char *const specific[])
{
	static const char *const none[] = { NULL };

	const char *keys[64];
	size_t n = 0;

	keys[n++] = "type";
	keys[n++] = "name";
	for (size_t i = 0; check_common_keys[i] != NULL; i++)
		keys[n++] = check_common_keys[i];
	if (specific == NULL)
		specific = none;
	for (size_t i = 0; specific[i] != NULL && n < 63; i++)
		keys[n++] = specific[i];
	keys[n] = NULL;
	cfg_check_keys(doc, node, what, keys);
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
		if (c->flap.enabled == -1)
			c->flap.enabled = def->flap_detection;
		if (c->store_samples == -1)
			c->store_samples = def->store_samples;
		if (c->flap.start_pct == 0)
			c->flap.start_pct = def->flap_start;
		if (c->flap.stop_pct == 0)
			c->flap.stop_pct = def->flap_stop;
		/* Deadlines live on the scheduler's 10 ms grid. */
		c->interval_ms = mon_round_tick(c->interval_ms);
		c->retry_interval_ms = mon_round_tick(c->retry_interval_ms);
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

/* Reads snmp.credentials and snmp.traps. */
static void
mon_snmp_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct mon_conf *conf)
{
	static const char *const keys[] = { "credentials", "traps", NULL };
	static const char *const cred_keys[] = { "name", "version", "community",
		"user", "level", "auth", "auth_password", "priv",
		"priv_password", NULL };
	static const char *const trap_keys[] = { "listen", "communities",
		NULL };
	const struct cfg_node *snmp, *seq, *traps;
	const char *s;

	if ((snmp = cfg_map(doc, root, "snmp", 0)) == NULL)
		return;
	cfg_check_keys(doc, snmp, "snmp", keys);
	seq = cfg_seq(doc, snmp, "credentials", 0);
	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		const struct cfg_node *node = seq->items[i];
		struct snmp_cred *cred;
		const char *name = NULL;
		int x;

		if (cfg_expect_map(doc, node, "a credential") == -1)
			continue;
		cfg_check_keys(doc, node, "a credential", cred_keys);
		if (cfg_str(doc, node, "name", 1, &name) != 0)
			continue;
		for (size_t j = 0; j < conf->ncreds; j++)
			if (strcmp(conf->creds[j]->name, name) == 0)
				cfg_error(doc, cfg_get(node, "name"),
				    "duplicate credential '%s'", name);
		cred = xcalloc(1, sizeof(*cred));
		cred->name = xstrdup(name);
		x = SNMP_VERSION_V2C;
		cfg_enum(doc, node, "version", 1, snmp_version_names, &x);
		cred->version = (enum snmp_version)x;
		if (cred->version != SNMP_VERSION_V3) {
			if (cfg_str(doc, node, "community", 1, &s) == 0) {
				cred->community = xstrdup(s);
				cfg_secret(doc, cfg_get(node, "community"),
				    "an SNMP community");
			}
		} else {
			if (cfg_str(doc, node, "user", 1, &s) == 0)
				cred->user = xstrdup(s);
			x = SNMP_LEVEL_AUTHPRIV;
			cfg_enum(doc, node, "level", 0, snmp_level_names, &x);
			cred->level = (enum snmp_level)x;
			x = SNMP_AUTH_SHA;
			cfg_enum(doc, node, "auth", 0, snmp_auth_names, &x);
			cred->auth = (enum snmp_auth)x;
			x = SNMP_PRIV_AES;
			cfg_enum(doc, node, "priv", 0, snmp_priv_names, &x);
			cred->priv = (enum snmp_priv)x;
			if (cred->level != SNMP_LEVEL_NOAUTH &&
			    cfg_str(doc, node, "auth_password", 1, &s) == 0) {
				if (strlen(s) < 8)
					cfg_error(doc,
					    cfg_get(node, "auth_password"),
					    "an SNMPv3 password needs at least "
					    "8 characters");
				cred->auth_pass = xstrdup(s);
				cfg_secret(doc, cfg_get(node, "auth_password"),
				    "an SNMPv3 password");
			}
			if (cred->level == SNMP_LEVEL_AUTHPRIV &&
			    cfg_str(doc, node, "priv_password", 1, &s) == 0) {
				if (strlen(s) < 8)
					cfg_error(doc,
					    cfg_get(node, "priv_password"),
					    "an SNMPv3 password needs at least "
					    "8 characters");
				cred->priv_pass = xstrdup(s);
			}
		}
		conf->creds = xreallocarray(conf->creds, conf->ncreds + 1,
		    sizeof(*conf->creds));
		conf->creds[conf->ncreds++] = cred;
	}
	if ((traps = cfg_map(doc, snmp, "traps", 0)) != NULL) {
		cfg_check_keys(doc, traps, "snmp.traps", trap_keys);
		if (cfg_str(doc, traps, "listen", 1, &s) == 0) {
			struct sockaddr_storage ss;
			socklen_t sslen;
			const char *why;

			if (httpd_parse_listen(s, &ss, &sslen, &why) == -1)
				cfg_error(doc, cfg_get(traps, "listen"),
				    "trap listen address '%s': %s", s, why);
			conf->trap_listen = xstrdup(s);
		}
		cfg_str_list(doc, traps, "communities", &conf->trap_communities,
		    &conf->ntrap_communities);
		cfg_secret(doc, cfg_get(traps, "communities"),
		    "an SNMP trap community");
	}
}

/* Reads a host's snmp block; the credential is looked up afterwards. */
static void
mon_host_snmp_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_host *host)
{
	static const char *const keys[] = { "credential", "port", "timeout",
		"retries", "max_attempts", NULL };
	struct mon_snmp_host *sh;
	const char *s;
	uint64_t v;

	if (node == NULL)
		return;
	cfg_check_keys(doc, node, "a host's snmp", keys);
	sh = xcalloc(1, sizeof(*sh));
	host->snmp = sh;
	sh->port = 161;
	sh->timeout_ms = 1000;
	sh->retries = 2;
	sh->max_attempts = 3;
	if (cfg_str(doc, node, "credential", 1, &s) == 0)
		sh->cred_name = xstrdup(s);
	sh->cred_line = node->line;
	sh->cred_col = node->col;
	if (cfg_uint(doc, node, "port", 0, 1, 65535, &v) == 0)
		sh->port = (uint16_t)v;
	cfg_duration(doc, node, "timeout", 0, 10, 60000, &sh->timeout_ms);
	if (cfg_uint(doc, node, "retries", 0, 0, 10, &v) == 0)
		sh->retries = (unsigned)v;
	if (cfg_uint(doc, node, "max_attempts", 0, 1, 100, &v) == 0)
		sh->max_attempts = (unsigned)v;
}

/*
 * Adds the implicit "snmp" check of a host polled by SNMP: whether its
 * agent answers.  When it stops, that is one fault of the device, and its
 * other SNMP checks hold their states instead of each failing.
 */
static void
mon_agent_check_add(struct mon_conf *conf, struct mon_host *host,
    const struct cfg_node *node)
{
	struct mon_check *agent;
	size_t n = 0;

	if (host->snmp == NULL)
		return;
	for (size_t i = conf->nchecks;
	     i-- > 0 && conf->checks[i]->host == host;)
		n += conf->checks[i]->snmp != NULL;
	if (n == 0)
		return;
	agent = xcalloc(1, sizeof(*agent));
	agent->host = host;
	agent->ops = &check_snmp_agent_ops;
	agent->kind = CHECK_KIND_SNMP_AGENT;
	agent->name = xstrdup("snmp");
	agent->line = node->line;
	agent->col = node->col;
	/* Timing is filled from the others once the defaults are known. */
	agent->max_attempts = host->snmp->max_attempts;
	host->snmp->agent_check = agent;
	conf->checks = xreallocarray(conf->checks, conf->nchecks + 1,
	    sizeof(*conf->checks));
	conf->checks[conf->nchecks++] = agent;
}

/* Reads one check of a host; NULL after recording an error. */
static struct mon_check *mon_check_load_merged(struct cfg_doc *,
    const struct cfg_node *, struct mon_host *, int);

/*
 * Reads one check of a host, seen through its segment's defaults (the
 * segment's settings for its type, then those for every check).
 */
static struct mon_check *
mon_check_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_host *host, const struct cfg_node *seg)
{
	const struct cfg_node *layers[3];
	const char *const *only[3] = { NULL, NULL, check_common_keys };
	const char *const *names = mon_check_type_names();
	struct cfg_node *m;
	struct mon_check *check;
	int kind;

	if (cfg_expect_map(doc, node, "a check") == -1)
		return NULL;
	if (cfg_enum(doc, node, "type", 1, names, &kind) != 0)
		return NULL;
	layers[0] = node;
	layers[1] = cfg_get(seg, names[kind]);
	layers[2] = seg;
	m = cfg_merge(layers, only, 3);
	m->line = node->line;
	m->col = node->col;
	check = mon_check_load_merged(doc, m, host, kind);
	cfg_merged_free(m);
	return check;
}

/* Reads one check from its merged view; NULL after recording an error. */
static struct mon_check *
mon_check_load_merged(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_host *host, int type)
{
	const struct check_kind_ops *ops = mon_check_types[type];
	struct mon_check *check;
	const char *name = NULL;

	check = xcalloc(1, sizeof(*check));
	check->host = host;
	check->ops = ops;
	check->kind = ops->kind;
	check->line = node->line;
	check->col = node->col;
	mon_check_timing(doc, node, check);
	cfg_str(doc, node, "name", 0, &name);
	mon_check_keys(doc, node, ops->what, ops->keys);
	ops->load(doc, node, check, name);
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

/* The keys a template may have. */
static const char *const template_keys[] = { "name", "use", "segment",
	"department", "tags", "parents", "host_check", "snmp", "description",
	"checks", NULL };

/* The template named name (templates come before the hosts), or NULL. */
static const struct cfg_node *
mon_template_find(const struct cfg_doc *doc, const char *name)
{
	const struct cfg_node *seq = cfg_get(doc->root, "templates");
	const struct cfg_node *n;

	for (size_t i = 0; seq != NULL && seq->type == CFG_SEQ && i < seq->n;
	     i++) {
		n = cfg_get(seq->items[i], "name");
		if (n != NULL && n->type == CFG_SCALAR &&
		    strcmp(n->value, name) == 0)
			return seq->items[i];
	}
	return NULL;
}

/* Where the templates of a host are gathered, nearest first. */
struct mon_layers {
	const struct cfg_node *node[MON_TEMPLATE_DEPTH * 4];
	size_t n;
	const struct cfg_node *path[MON_TEMPLATE_DEPTH + 1];
	size_t depth;
};

/*
 * Adds the templates node uses ('use: name' or a list), each followed by
 * those it uses in turn.  A template reached twice (two templates that
 * share a base) counts once; one that uses itself is an error.
 */
static void
mon_template_chain(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_layers *ly)
{
	const struct cfg_node *use = cfg_get(node, "use");
	const struct cfg_node *const *names;
	const struct cfg_node *t;
	size_t n;
	int seen;

	if (use == NULL || cfg_is_null(use))
		return;
	if (use->type == CFG_SEQ) {
		names = (const struct cfg_node *const *)use->items;
		n = use->n;
	} else {
		names = &use;
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cfg_node *u = names[i];

		if (u->type != CFG_SCALAR) {
			cfg_error(doc, u,
			    "'use' names templates: a name or a "
			    "list of names");
			continue;
		}
		if ((t = mon_template_find(doc, u->value)) == NULL) {
			cfg_error(doc, u,
			    "no template named '%s' (templates are defined "
			    "under 'templates', before 'hosts')",
			    u->value);
			continue;
		}
		seen = 0;
		for (size_t k = 0; k < ly->depth; k++)
			if (ly->path[k] == t)
				seen = 1;
		if (seen) {
			cfg_error(doc, u, "template '%s' uses itself",
			    u->value);
			continue;
		}
		if (ly->depth >= MON_TEMPLATE_DEPTH) {
			cfg_error(doc, u,
			    "templates nest deeper than %d levels",
			    MON_TEMPLATE_DEPTH);
			continue;
		}
		for (size_t k = 0; k < ly->n; k++)
			if (ly->node[k] == t)
				seen = 1;
		if (seen)
			continue;
		if (ly->n == sizeof(ly->node) / sizeof(ly->node[0])) {
			cfg_error(doc, u, "too many templates");
			return;
		}
		ly->node[ly->n++] = t;
		ly->path[ly->depth++] = t;
		mon_template_chain(doc, t, ly);
		ly->depth--;
	}
}

/* Adds the strings of a list under key to *out, without repeats. */
static void
mon_str_union(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    char ***out, size_t *n)
{
	const struct cfg_node *seq = cfg_seq(doc, map, key, 0);
	const char *v;
	size_t k;

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], key, &v) == -1)
			continue;
		for (k = 0; k < *n && strcmp((*out)[k], v) != 0; k++)
			;
		if (k < *n)
			continue;
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = xstrdup(v);
	}
}

/* Reads a host's parents: names now, hosts once all are read. */
static void
mon_host_parents(struct cfg_doc *doc, const struct cfg_node *m,
    struct mon_host *host)
{
	const struct cfg_node *seq = cfg_get(m, "parents");
	const char *v;

	if (seq == NULL || cfg_is_null(seq))
		return;
	if (seq->type == CFG_SCALAR) {
		cfg_error(doc, seq,
		    "'parents' must be a list of host names, "
		    "such as [core-rt01]");
		return;
	}
	seq = cfg_seq(doc, m, "parents", 0);
	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], "parents", &v) == -1)
			continue;
		host->parent_names = xreallocarray(host->parent_names,
		    host->nparents + 1, sizeof(*host->parent_names));
		host->parent_pos = xreallocarray(host->parent_pos,
		    host->nparents + 1, sizeof(*host->parent_pos));
		host->parent_names[host->nparents] = xstrdup(v);
		host->parent_pos[host->nparents].line = seq->items[i]->line;
		host->parent_pos[host->nparents].col = seq->items[i]->col;
		host->nparents++;
	}
}

/* The check a host's state (UP, DOWN) follows; see mon_host_load. */
static void
mon_host_check_pick(struct cfg_doc *doc, struct mon_conf *conf,
    struct mon_host *host, size_t first, const struct cfg_node *at)
{
	struct mon_check *icmp = NULL, *agent = NULL;

	for (size_t i = first; i < conf->nchecks; i++) {
		struct mon_check *c = conf->checks[i];

		if (host->host_check_name != NULL) {
			if (strcmp(c->name, host->host_check_name) == 0) {
				host->host_check = c;
				return;
			}
			continue;
		}
		if (c->kind == CHECK_KIND_ICMP && icmp == NULL)
			icmp = c;
		if (c->kind == CHECK_KIND_SNMP_AGENT)
			agent = c;
	}
	if (host->host_check_name != NULL) {
		cfg_error(doc, at,
		    "host '%s': 'host_check' names '%s', which "
		    "is not one of its checks",
		    host->name, host->host_check_name);
		return;
	}
	host->host_check = icmp != NULL ? icmp :
	    agent != NULL		? agent :
	    first < conf->nchecks	? conf->checks[first] :
					  NULL;
}

/*
 * Reads one host and its checks into conf.  A host is seen through its
 * templates ('use'): for each key the host's own value, else the nearest
 * template's.  Its checks are the templates' (the farthest first) and its
 * own; a check named like one from a template replaces it.  Each check is
 * then seen through the defaults of the host's segment.
 */
static void
mon_host_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_conf *conf)
{
	static const char *const host_keys[] = { "name", "address", "use",
		"segment", "department", "tags", "parents", "host_check",
		"description", "snmp", "checks", NULL };
	const struct cfg_node *addr_node, *seg, *seq;
	const char *name = NULL, *address = NULL, *s;
	struct mon_layers ly;
	struct cfg_node *m;
	struct mon_host *host;
	size_t first, *level = NULL, nlevel = 0, given = 0, nerrors;
	int segment = SEGMENT_OTHER, told = 0;

	if (cfg_expect_map(doc, node, "a host") == -1)
		return;
	cfg_check_keys(doc, node, "a host", host_keys);
	cfg_str(doc, node, "name", 1, &name);
	cfg_str(doc, node, "address", 1, &address);
	if (cfg_get(node, "checks") == NULL && cfg_get(node, "use") == NULL) {
		cfg_error(doc, node, "missing required key 'checks'");
		told = 1;
	}
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
	memset(&ly, 0, sizeof(ly));
	ly.node[ly.n++] = node;
	nerrors = doc->nerrors;
	mon_template_chain(doc, node, &ly);
	told |= doc->nerrors != nerrors;
	for (size_t i = 1; i < ly.n; i++)
		cfg_check_keys(doc, ly.node[i], "a template", template_keys);
	m = cfg_merge(ly.node, NULL, ly.n);

	host = xcalloc(1, sizeof(*host));
	host->name = xstrdup(name);
	host->address = xstrdup(address);
	cfg_enum(doc, m, "segment", 0, segment_names, &segment);
	host->segment = (enum mon_segment)segment;
	if (cfg_str(doc, m, "department", 0, &s) == 0)
		host->department = xstrdup(s);
	if (cfg_str(doc, m, "host_check", 0, &s) == 0)
		host->host_check_name = xstrdup(s);
	cfg_str(doc, m, "description", 0, &s);
	for (size_t i = 0; i < ly.n; i++)
		mon_str_union(doc, ly.node[i], "tags", &host->tags,
		    &host->ntags);
	mon_host_parents(doc, m, host);
	host->line = node->line;
	host->col = node->col;
	host->name_line = cfg_get(node, "name")->line;
	host->name_col = cfg_get(node, "name")->col;
	conf->hosts =
	    xreallocarray(conf->hosts, conf->nhosts + 1, sizeof(*conf->hosts));
	conf->hosts[conf->nhosts++] = host;
	addr_node = cfg_get(node, "address");
	mon_resolve(doc, addr_node, host);
	mon_host_snmp_load(doc, cfg_map(doc, m, "snmp", 0), host);
	seg = cfg_get(cfg_get(doc->root, "segments"), segment_names[segment]);

	/* The farthest template's checks first; the host's own last. */
	first = conf->nchecks;
	for (size_t l = ly.n; l-- > 0;) {
		seq = cfg_get(ly.node[l], "checks");
		if (seq == NULL || cfg_is_null(seq))
			continue;
		if (seq->type != CFG_SEQ) {
			cfg_error(doc, seq, "'checks' must be a list");
			continue;
		}
		for (size_t i = 0; i < seq->n; i++) {
			struct mon_check *check;

			given++;
			check = mon_check_load(doc, seq->items[i], host, seg);
			if (check == NULL)
				continue;
			/* A nearer layer's check replaces a farther one's. */
			for (size_t k = first; k < conf->nchecks; k++) {
				if (level[k - first] == l ||
				    strcmp(conf->checks[k]->name,
					check->name) != 0)
					continue;
				mon_check_free(conf->checks[k]);
				conf->checks[k] = check;
				level[k - first] = l;
				check = NULL;
				break;
			}
			if (check == NULL)
				continue;
			conf->checks = xreallocarray(conf->checks,
			    conf->nchecks + 1, sizeof(*conf->checks));
			conf->checks[conf->nchecks++] = check;
			level =
			    xreallocarray(level, nlevel + 1, sizeof(*level));
			level[nlevel++] = l;
			if (check->snmp != NULL && host->snmp == NULL) {
				cfg_error(doc, seq->items[i],
				    "host '%s' has SNMP checks but no snmp "
				    "block to say how to reach its agent",
				    name);
				/* Once is enough for a host. */
				host->snmp = xcalloc(1, sizeof(*host->snmp));
			}
		}
	}
	free(level);
	if (given == 0 && !told)
		cfg_error(doc, node,
		    "host '%s' has no checks (of its own or "
		    "from a template)",
		    name);
	mon_agent_check_add(conf, host, node);
	host->first_check = first;
	host->nchecks = conf->nchecks - first;
	mon_host_check_pick(doc, conf, host, first,
	    cfg_get(m, "host_check") ? cfg_get(m, "host_check") : node);
	cfg_merged_free(m);
}

/*
 * Parses a byte size: digits, then optionally KiB, MiB or GiB (or K, M,
 * G).  Returns 0, or -1 if s is not one or it overflows.
 */
int
mon_parse_size(const char *s, uint64_t *out)
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
mon_engine_load(struct cfg_doc *doc, const struct cfg_node *root,
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
		    (mon_parse_size(s, &conf->journal_max) == -1 ||
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
mon_defaults_load(struct cfg_doc *doc, const struct cfg_node *root,
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
	cfg_check_keys(doc, node, "defaults", check_common_keys);
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

/* Orders SNMP hosts by agent address and port. */
static int
mon_agent_cmp(const void *a, const void *b)
{
	const struct mon_host *x = *(struct mon_host *const *)a;
	const struct mon_host *y = *(struct mon_host *const *)b;
	int r;

	if (x->sslen != y->sslen)
		return x->sslen < y->sslen ? -1 : 1;
	if ((r = memcmp(&x->ss, &y->ss, x->sslen)) != 0)
		return r;
	if (x->snmp->port != y->snmp->port)
		return x->snmp->port < y->snmp->port ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Points each host's snmp block at its credential (which may be defined
 * after the hosts), and refuses two hosts on one agent: the shared socket
 * tells agents apart by address and port alone.
 */
static void
mon_snmp_resolve(struct cfg_doc *doc, struct mon_conf *conf)
{
	struct mon_host **agents = NULL;
	size_t n = 0;

	for (size_t i = 0; i < conf->nhosts; i++) {
		struct mon_host *h = conf->hosts[i];
		struct mon_snmp_host *sh = h->snmp;
		struct cfg_node at;

		if (sh == NULL || sh->cred_name == NULL)
			continue;
		at.line = sh->cred_line;
		at.col = sh->cred_col;
		for (size_t j = 0; j < conf->ncreds && sh->cred == NULL; j++)
			if (strcmp(conf->creds[j]->name, sh->cred_name) == 0)
				sh->cred = conf->creds[j];
		if (sh->cred == NULL)
			cfg_error(doc, &at,
			    "host '%s': no credential named "
			    "'%s' under snmp.credentials",
			    h->name, sh->cred_name);
		agents = xreallocarray(agents, n + 1, sizeof(*agents));
		agents[n++] = h;
	}
	if (n > 1) {
		qsort(agents, n, sizeof(*agents), mon_agent_cmp);
		for (size_t i = 1; i < n; i++) {
			struct mon_host *a = agents[i - 1], *b = agents[i];
			struct cfg_node at = { .line = b->line, .col = b->col };

			if (a->sslen == b->sslen &&
			    memcmp(&a->ss, &b->ss, a->sslen) == 0 &&
			    a->snmp->port == b->snmp->port)
				cfg_error(doc, &at,
				    "hosts '%s' and '%s' poll the "
				    "same SNMP agent (%s port "
				    "%u); make them one host",
				    a->name, b->name, b->address,
				    b->snmp->port);
		}
	}
	free(agents);
}

/*
 * Checks the segments block: per segment (core, information, finance,
 * other) the settings every check of the segment gets, and per check type
 * those of its type.  These are the department's monitoring criteria
 * (運用監視基準): intervals and thresholds differ by network.
 */
static void
mon_segments_check(struct cfg_doc *doc, const struct cfg_node *root)
{
	const struct cfg_node *segs = cfg_map(doc, root, "segments", 0);
	const char *const *types = mon_check_type_names();
	const char *keys[32];
	size_t n = 0;

	if (segs == NULL)
		return;
	cfg_check_keys(doc, segs, "segments", segment_names);
	for (size_t i = 0; check_common_keys[i] != NULL; i++)
		keys[n++] = check_common_keys[i];
	for (size_t i = 0; types[i] != NULL; i++)
		keys[n++] = types[i];
	keys[n] = NULL;
	for (size_t i = 0; i < segs->n; i++) {
		const struct cfg_node *seg = segs->items[i];
		char what[64];

		snprintf(what, sizeof(what), "segment '%s'",
		    segs->keys[i]->value);
		if (cfg_expect_map(doc, seg, what) == -1)
			continue;
		cfg_check_keys(doc, seg, what, keys);
		for (size_t t = 0; types[t] != NULL; t++) {
			const struct cfg_node *tm =
			    cfg_map(doc, seg, types[t], 0);

			if (tm != NULL)
				mon_check_keys(doc, tm, types[t],
				    mon_check_types[t]->keys);
		}
	}
}

/*
 * Hosts are read as the file streams, so what they refer to (segments,
 * templates) must come before them.
 */
static void
mon_order_check(struct cfg_doc *doc, const struct cfg_node *root)
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

/* Orders hosts by name, for the lookup of parents. */
static int
mon_host_name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct mon_host *const *)a)->name,
	    (*(struct mon_host *const *)b)->name);
}

/*
 * Resolves parents to hosts, builds the children lists and refuses loops:
 * a host cannot be, however indirectly, its own parent.
 */
static void
mon_topology_resolve(struct cfg_doc *doc, struct mon_conf *conf)
{
	struct mon_host **sorted, key, *kp = &key, **found;
	/* 0 not visited, 1 on the path, 2 done */
	unsigned char *color;
	size_t *stack, *next, sp;

	if (conf->nhosts == 0)
		return;
	sorted = xreallocarray(NULL, conf->nhosts, sizeof(*sorted));
	memcpy(sorted, conf->hosts, conf->nhosts * sizeof(*sorted));
	qsort(sorted, conf->nhosts, sizeof(*sorted), mon_host_name_cmp);
	for (size_t i = 0; i < conf->nhosts; i++) {
		struct mon_host *h = conf->hosts[i];

		h->index = i;
		if (h->nparents > 0)
			h->parents = xcalloc(h->nparents, sizeof(*h->parents));
	}
	for (size_t i = 0; i < conf->nhosts; i++) {
		struct mon_host *h = conf->hosts[i];

		for (size_t j = 0; j < h->nparents; j++) {
			struct cfg_node at = { .line = h->parent_pos[j].line,
				.col = h->parent_pos[j].col };
			struct mon_host *p;

			key.name = h->parent_names[j];
			found = bsearch(&kp, sorted, conf->nhosts,
			    sizeof(*sorted), mon_host_name_cmp);
			if (found == NULL) {
				cfg_error(doc, &at,
				    "host '%s': parent '%s' is not a host",
				    h->name, h->parent_names[j]);
				continue;
			}
			p = *found;
			if (p == h) {
				cfg_error(doc, &at,
				    "host '%s' is its own parent", h->name);
				continue;
			}
			h->parents[j] = p;
			p->children = xreallocarray(p->children,
			    p->nchildren + 1, sizeof(*p->children));
			p->children[p->nchildren++] = h;
		}
	}
	free(sorted);

	/* Depth-first over parent edges, without recursion. */
	color = xcalloc(conf->nhosts, 1);
	stack = xreallocarray(NULL, conf->nhosts, sizeof(*stack));
	next = xcalloc(conf->nhosts, sizeof(*next));
	for (size_t r = 0; r < conf->nhosts; r++) {
		if (color[r] != 0)
			continue;
		sp = 0;
		stack[sp++] = r;
		color[r] = 1;
		while (sp > 0) {
			size_t v = stack[sp - 1];
			struct mon_host *h = conf->hosts[v];
			struct mon_host *p = NULL;

			while (next[v] < h->nparents &&
			    (p = h->parents[next[v]]) == NULL)
				next[v]++;
			if (next[v] >= h->nparents) {
				color[v] = 2;
				sp--;
				continue;
			}
			next[v]++;
			if (color[p->index] == 0) {
				color[p->index] = 1;
				stack[sp++] = p->index;
			} else if (color[p->index] == 1) {
				char path[512];
				size_t off = 0, k = sp;
				struct cfg_node at = {
					.line = h->parent_pos[next[v] - 1].line,
					.col = h->parent_pos[next[v] - 1].col
				};

				/* The loop: from p up the stack to h, then p.
				 */
				while (k > 0 && stack[k - 1] != p->index)
					k--;
				path[0] = '\0';
				for (size_t q = k > 0 ? k - 1 : 0; q < sp; q++)
					off += (size_t)snprintf(path + off,
					    off < sizeof(path) ?
						sizeof(path) - off :
						0,
					    "%s -> ",
					    conf->hosts[stack[q]]->name);
				if (off < sizeof(path))
					snprintf(path + off, sizeof(path) - off,
					    "%s", p->name);
				cfg_error(doc, &at,
				    "loop in the parents: %s (each is a "
				    "parent of the one before)",
				    path);
				/* Cut it, so that the rest is still checked. */
				h->parents[next[v] - 1] = NULL;
			}
		}
	}
	free(color);
	free(stack);
	free(next);
}

/* The host named name, or NULL (hosts sorted by mon_topology_resolve's
 * order are not kept: a scan is fine for a handful of downtimes). */
static struct mon_host *
mon_host_named(const struct mon_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->nhosts; i++)
		if (strcmp(conf->hosts[i]->name, name) == 0)
			return conf->hosts[i];
	return NULL;
}

/* Reads one downtime; its targets must exist. */
static void
mon_downtime_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_conf *conf)
{
	static const char *const keys[] = { "name", "comment", "hosts",
		"checks", "segments", "every", "start", "end", "weekday", "nth",
		"day", "at", "duration", "timezone", NULL };
	static const char *const every_names[] = { "once", "day", "week",
		"month", NULL };
	static const char *const wday_names[] = { "sun", "mon", "tue", "wed",
		"thu", "fri", "sat", NULL };
	struct downtime *d;
	const struct cfg_node *seq;
	const char *s, *e;
	char text[512];
	size_t off = 0;
	int every = DOWNTIME_ONCE, wday = 0;
	uint64_t v;
	double x;

	if (cfg_expect_map(doc, node, "a downtime") == -1)
		return;
	cfg_check_keys(doc, node, "a downtime", keys);
	d = xcalloc(1, sizeof(*d));
	d->line = node->line;
	d->col = node->col;
	conf->downtimes = xreallocarray(conf->downtimes, conf->ndowntimes + 1,
	    sizeof(*conf->downtimes));
	conf->downtimes[conf->ndowntimes++] = d;
	if (cfg_str(doc, node, "name", 1, &s) == 0)
		d->name = xstrdup(s);
	if (cfg_str(doc, node, "comment", 0, &s) == 0)
		d->comment = xstrdup(s);
	d->timezone = xstrdup("Asia/Tokyo");
	if (cfg_str(doc, node, "timezone", 0, &s) == 0) {
		cfg_timezone(doc, cfg_get(node, "timezone"), s);
		free(d->timezone);
		d->timezone = xstrdup(s);
	}
	cfg_str_list(doc, node, "hosts", &d->hosts, &d->nhosts);
	cfg_str_list(doc, node, "checks", &d->checks, &d->nchecks);
	if ((seq = cfg_seq(doc, node, "segments", 0)) != NULL) {
		for (size_t i = 0; i < seq->n; i++) {
			int k;

			if (cfg_node_str(doc, seq->items[i], "segments", &s) ==
			    -1)
				continue;
			for (k = 0; segment_names[k] != NULL; k++)
				if (strcmp(segment_names[k], s) == 0)
					break;
			if (segment_names[k] == NULL) {
				cfg_error(doc, seq->items[i],
				    "no segment '%s' (core, information, "
				    "finance, other)",
				    s);
				continue;
			}
			d->segments = xreallocarray(d->segments,
			    d->nsegments + 1, sizeof(*d->segments));
			d->segments[d->nsegments++] = k;
		}
	}
	if (d->nhosts + d->nchecks + d->nsegments == 0)
		cfg_error(doc, node,
		    "downtime '%s' covers nothing: give hosts, "
		    "checks or segments",
		    d->name ? d->name : "?");
	for (size_t i = 0; i < d->nhosts; i++)
		if (mon_host_named(conf, d->hosts[i]) == NULL)
			cfg_error(doc, cfg_get(node, "hosts"),
			    "downtime '%s': no host '%s'", d->name,
			    d->hosts[i]);
	for (size_t i = 0; i < d->nchecks; i++)
		if (strchr(d->checks[i], '/') == NULL)
			cfg_error(doc, cfg_get(node, "checks"),
			    "downtime '%s': '%s' must be host/check", d->name,
			    d->checks[i]);
	off += (size_t)snprintf(text + off, sizeof(text) - off, "%s",
	    d->nhosts ? "hosts:" : "");
	for (size_t i = 0; i < d->nhosts && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, " %s",
		    d->hosts[i]);
	if (d->nchecks && off < sizeof(text))
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%schecks:", off ? "; " : "");
	for (size_t i = 0; i < d->nchecks && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, " %s",
		    d->checks[i]);
	if (d->nsegments && off < sizeof(text))
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%ssegments:", off ? "; " : "");
	for (size_t i = 0; i < d->nsegments && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, " %s",
		    segment_names[d->segments[i]]);
	d->targets_text = xstrdup(text);

	cfg_enum(doc, node, "every", 0, every_names, &every);
	d->every = (enum downtime_every)every;
	if (d->every == DOWNTIME_ONCE) {
		if (cfg_str(doc, node, "start", 1, &s) == 0 &&
		    downtime_parse_local(s, d->timezone, &d->once_start) == -1)
			cfg_error(doc, cfg_get(node, "start"),
			    "'start' must be YYYY-MM-DD HH:MM, not '%s'", s);
		if (cfg_str(doc, node, "end", 1, &e) == 0 &&
		    downtime_parse_local(e, d->timezone, &d->once_end) == -1)
			cfg_error(doc, cfg_get(node, "end"),
			    "'end' must be YYYY-MM-DD HH:MM, not '%s'", e);
		if (d->once_start != 0 && d->once_end != 0 &&
		    d->once_end <= d->once_start)
			cfg_error(doc, cfg_get(node, "end"),
			    "downtime '%s' ends before it starts", d->name);
		return;
	}
	if (cfg_str(doc, node, "at", 1, &s) == 0) {
		unsigned hh, mm;
		char c;

		if (sscanf(s, "%u:%u%c", &hh, &mm, &c) != 2 || hh > 23 ||
		    mm > 59)
			cfg_error(doc, cfg_get(node, "at"),
			    "'at' must be HH:MM, not '%s'", s);
		else
			d->at_min = (int)(hh * 60 + mm);
	}
	if (cfg_duration(doc, node, "duration", 1, 60000, 31 * MS_DAY, &v) == 0)
		d->duration_s = v / 1000;
	if (cfg_enum(doc, node, "weekday", d->every == DOWNTIME_WEEK,
		wday_names, &wday) == 0)
		d->wday = wday;
	if (d->every == DOWNTIME_MONTH) {
		const struct cfg_node *nth = cfg_get(node, "nth");

		if (nth != NULL) {
			if (cfg_double(doc, node, "nth", 1, -5, 5, &x) == 0) {
				if (x == 0 || x != (int)x)
					cfg_error(doc, nth,
					    "'nth' is 1 to 5, or -1 (the last) "
					    "to -5");
				d->nth = (int)x;
			}
			if (cfg_get(node, "weekday") == NULL)
				cfg_error(doc, nth, "'nth' needs a 'weekday'");
		} else if (cfg_double(doc, node, "day", 1, -31, 31, &x) == 0) {
			if (x == 0 || x != (int)x)
				cfg_error(doc, cfg_get(node, "day"),
				    "'day' is 1 to 31, or -1 (the last day) "
				    "to -31");
			d->mday = (int)x;
		}
	}
}

/* Reads the downtimes, once every host is known. */
static void
mon_downtimes_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct mon_conf *conf)
{
	const struct cfg_node *seq = cfg_seq(doc, root, "downtimes", 0);

	for (size_t i = 0; seq != NULL && i < seq->n; i++)
		mon_downtime_load(doc, seq->items[i], conf);
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
		"log_level", "user", "metrics", "journal", "scheduler", "snmp",
		"defaults", "segments", "templates", "plugins", "hosts",
		"downtimes", "readable_secrets", "cluster", NULL };
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
	mon_snmp_load(doc, root, conf);
	mon_defaults_load(doc, root, &def);
	mon_segments_check(doc, root);
	mon_order_check(doc, root);
	/* Its items went to mon_host_hook; this checks it is there. */
	cfg_seq(doc, root, "hosts", 1);
	mon_apply_defaults(conf, &def);
	mon_snmp_resolve(doc, conf);
	mon_topology_resolve(doc, conf);
	mon_downtimes_load(doc, root, conf);
	cfg_check_secrets(doc, root);
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
