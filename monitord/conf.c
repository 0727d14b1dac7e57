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
/* By enum check_kind; "snmp" is the implicit agent check. */
static const char *const check_kind_names[] = { "icmp", "tcp", "snmp",
	"sysuptime", "interfaces", "storage", "cpu", "oid", NULL };
/* What a check's type may be in the file (not the implicit "snmp"). */
static const char *const check_type_names[] = { "icmp", "tcp", "sysuptime",
	"interfaces", "storage", "cpu", "oid", NULL };
static const enum check_kind check_type_kinds[] = { CHECK_KIND_ICMP,
	CHECK_KIND_TCP, CHECK_KIND_SNMP_UPTIME, CHECK_KIND_SNMP_IF,
	CHECK_KIND_SNMP_STORAGE, CHECK_KIND_SNMP_CPU, CHECK_KIND_SNMP_OID };
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
	if ((unsigned)kind >= CHECK_KIND_COUNT)
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
	check_snmp_free(check->snmp);
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
	for (size_t i = 0; i < conf->ncreds; i++)
		mon_cred_free(conf->creds[i]);
	free(conf->creds);
	free(conf->trap_listen);
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

/* Reads a list of strings (a YAML sequence) under key into *out. */
static void
mon_str_list(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    char ***out, size_t *n)
{
	const struct cfg_node *seq = cfg_seq(doc, map, key, 0);
	const char *v;

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], key, &v) == -1)
			continue;
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = xstrdup(v);
	}
}

/* Reads a range threshold ("10", "~:10", "@10:20") under key. */
static int
mon_range(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    struct snmp_range *r)
{
	const struct cfg_node *node = cfg_get(map, key);
	const char *v;

	if (node == NULL || cfg_is_null(node))
		return 0;
	if (cfg_node_str(doc, node, key, &v) == -1)
		return 0;
	if (snmp_range_parse(v, r) == -1) {
		cfg_error(doc, node,
		    "'%s' must be a range such as 10, 10:, "
		    "~:10, 10:20 or @10:20, not '%s'",
		    key, v);
		return 0;
	}
	return 1;
}

/* Reads the settings of the SNMP check kinds. */
static void
mon_snmp_check_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct mon_check *check, const char *name)
{
	static const char *const common[] = { "type", "name", "interval",
		"retry_interval", "timeout", "max_attempts", NULL };
	static const char *const if_keys[] = { "type", "name", "interval",
		"retry_interval", "timeout", "max_attempts", "names", "aliases",
		"indexes", "utilisation_warning", "utilisation_critical",
		"errors_warning", "errors_critical", NULL };
	static const char *const storage_keys[] = { "type", "name", "interval",
		"retry_interval", "timeout", "max_attempts", "names", "warning",
		"critical", NULL };
	static const char *const cpu_keys[] = { "type", "name", "interval",
		"retry_interval", "timeout", "max_attempts", "warning",
		"critical", NULL };
	static const char *const oid_keys[] = { "type", "name", "interval",
		"retry_interval", "timeout", "max_attempts", "oid", "warning",
		"critical", NULL };
	struct snmp_check *sc = xcalloc(1, sizeof(*sc));
	const struct cfg_node *seq;
	const char *s;
	uint64_t v;

	check->snmp = sc;
	switch (check->kind) {
	case CHECK_KIND_SNMP_UPTIME:
		cfg_check_keys(doc, node, "a sysuptime check", common);
		check->name = xstrdup(name ? name : "sysuptime");
		break;
	case CHECK_KIND_SNMP_IF:
		cfg_check_keys(doc, node, "an interfaces check", if_keys);
		mon_str_list(doc, node, "names", &sc->names, &sc->nnames);
		mon_str_list(doc, node, "aliases", &sc->aliases, &sc->naliases);
		if ((seq = cfg_seq(doc, node, "indexes", 0)) != NULL) {
			for (size_t i = 0; i < seq->n; i++) {
				const struct cfg_node *it = seq->items[i];
				char *end;
				unsigned long x;

				x = it->type == CFG_SCALAR ?
				    strtoul(it->value, &end, 10) :
				    0;
				if (it->type != CFG_SCALAR || *end != '\0' ||
				    x == 0 || x > 2147483647UL) {
					cfg_error(doc, it,
					    "an ifIndex must be "
					    "a number from 1");
					continue;
				}
				sc->indexes = xreallocarray(sc->indexes,
				    sc->nindexes + 1, sizeof(*sc->indexes));
				sc->indexes[sc->nindexes++] = (uint32_t)x;
			}
		}
		cfg_double(doc, node, "utilisation_warning", 0, 0, 100,
		    &sc->warn_pct);
		cfg_double(doc, node, "utilisation_critical", 0, 0, 100,
		    &sc->crit_pct);
		cfg_double(doc, node, "errors_warning", 0, 0, 1e9,
		    &sc->err_warn);
		cfg_double(doc, node, "errors_critical", 0, 0, 1e9,
		    &sc->err_crit);
		check->name = xstrdup(name ? name : "interfaces");
		break;
	case CHECK_KIND_SNMP_STORAGE:
		cfg_check_keys(doc, node, "a storage check", storage_keys);
		mon_str_list(doc, node, "names", &sc->names, &sc->nnames);
		sc->warn_pct = 80;
		sc->crit_pct = 90;
		cfg_double(doc, node, "warning", 0, 0, 100, &sc->warn_pct);
		cfg_double(doc, node, "critical", 0, 0, 100, &sc->crit_pct);
		check->name = xstrdup(name ? name : "storage");
		break;
	case CHECK_KIND_SNMP_CPU:
		cfg_check_keys(doc, node, "a cpu check", cpu_keys);
		sc->warn_pct = 80;
		sc->crit_pct = 95;
		cfg_double(doc, node, "warning", 0, 0, 100, &sc->warn_pct);
		cfg_double(doc, node, "critical", 0, 0, 100, &sc->crit_pct);
		check->name = xstrdup(name ? name : "cpu");
		break;
	case CHECK_KIND_SNMP_OID:
		cfg_check_keys(doc, node, "an oid check", oid_keys);
		if (cfg_str(doc, node, "oid", 1, &s) == 0 &&
		    snmp_oid_parse(s, &sc->oid) == -1)
			cfg_error(doc, cfg_get(node, "oid"),
			    "'%s' is not a "
			    "numeric OID "
			    "such as "
			    "1.3.6.1.2.1.1.3.0",
			    s);
		sc->have_warn = mon_range(doc, node, "warning", &sc->warn);
		sc->have_crit = mon_range(doc, node, "critical", &sc->crit);
		check->name =
		    name ? xstrdup(name) : xasprintf("oid/%s", s ? s : "?");
		break;
	default:
		break;
	}
	(void)v;
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
			if (cfg_str(doc, node, "community", 1, &s) == 0)
				cred->community = xstrdup(s);
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

			if (metrics_parse_listen(s, &ss, &sslen, &why) == -1)
				cfg_error(doc, cfg_get(traps, "listen"),
				    "trap listen address '%s': %s", s, why);
			conf->trap_listen = xstrdup(s);
		}
		mon_str_list(doc, traps, "communities", &conf->trap_communities,
		    &conf->ntrap_communities);
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
	if (cfg_enum(doc, node, "type", 1, check_type_names, &kind) != 0)
		return NULL;

	check = xcalloc(1, sizeof(*check));
	check->host = host;
	check->kind = check_type_kinds[kind];
	check->line = node->line;
	check->col = node->col;
	mon_check_timing(doc, node, check);
	cfg_str(doc, node, "name", 0, &name);

	switch (check->kind) {
	case CHECK_KIND_SNMP_AGENT:
	case CHECK_KIND_COUNT:
		break;
	case CHECK_KIND_SNMP_UPTIME:
	case CHECK_KIND_SNMP_IF:
	case CHECK_KIND_SNMP_STORAGE:
	case CHECK_KIND_SNMP_CPU:
	case CHECK_KIND_SNMP_OID:
		mon_snmp_check_load(doc, node, check, name);
		break;
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
		if (c->snmp != NULL &&
		    ((c->snmp->warn_pct > 0 && c->snmp->crit_pct > 0 &&
			 c->snmp->warn_pct > c->snmp->crit_pct) ||
			(c->snmp->err_warn > 0 && c->snmp->err_crit > 0 &&
			    c->snmp->err_warn > c->snmp->err_crit)))
			cfg_error(doc, &at,
			    "check '%s' of host '%s': the warning threshold "
			    "exceeds the critical one",
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
		"description", "snmp", "checks", NULL };
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
	mon_host_snmp_load(doc, cfg_map(doc, node, "snmp", 0), host);

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
		if (check->snmp != NULL && host->snmp == NULL) {
			cfg_error(doc, checks->items[i],
			    "host '%s' has SNMP checks but no snmp block to "
			    "say how to reach its agent",
			    name);
			/* Once is enough for a host. */
			host->snmp = xcalloc(1, sizeof(*host->snmp));
		}
	}
	mon_agent_check_add(conf, host, node);
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
		"log_level", "user", "metrics", "scheduler", "snmp", "defaults",
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
	mon_snmp_load(doc, root, conf);
	mon_defaults_load(doc, root, &def);
	/* Its items went to mon_host_hook; this checks it is there. */
	cfg_seq(doc, root, "hosts", 1);
	mon_apply_defaults(conf, &def);
	mon_snmp_resolve(doc, conf);
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
