/*
 * monitord.yaml: SNMP.  The credentials under "snmp:" (v1/v2c communities,
 * v3 users), the trap listener's settings, a host's "snmp:" block, the
 * implicit agent check of a host polled by SNMP, and, once everything is
 * read, each host's credential found by name and two hosts on one agent
 * (address and port) refused.
 */
#include "config.h"

#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "conf_parts.h"
#include "monitord.h"
#include "xmalloc.h"

static const char *const snmp_version_names[] = { "1", "2c", "3", NULL };
static const char *const snmp_level_names[] = { "noAuthNoPriv", "authNoPriv",
	"authPriv", NULL };
static const char *const snmp_auth_names[] = { "SHA", "SHA-256", NULL };
static const char *const snmp_priv_names[] = { "AES", NULL };

/* Frees a credential set, wiping its secrets first. */
void
conf_snmp_cred_free(struct snmp_cred *cred)
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

/* Reads snmp.credentials and snmp.traps. */
void
conf_snmp_load(struct cfg_doc *doc, const struct cfg_node *root,
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
void
conf_snmp_host_load(struct cfg_doc *doc, const struct cfg_node *node,
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
void
conf_snmp_agent_check_add(struct mon_conf *conf, struct mon_host *host,
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

/* Orders SNMP hosts by agent address and port. */
static int
conf_snmp_agent_cmp(const void *a, const void *b)
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
void
conf_snmp_resolve(struct cfg_doc *doc, struct mon_conf *conf)
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
		qsort(agents, n, sizeof(*agents), conf_snmp_agent_cmp);
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
