/*
 * Traps matched to hosts: every trap is kept in trap_event, and a
 * linkDown/linkUp or a restart also sets the state of the matching
 * interface or uptime check, hard at once.  Hosts are found by address in
 * an index rebuilt on every (re)load; senders that are no configured host
 * are counted and logged once each.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_snmp.h"
#include "db.h"
#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* Hosts by address, for traps. */
struct snmp_addr_index {
	struct mon_host **hosts;
	size_t n;
	struct sockaddr_storage logged[64]; /* unknown senders, logged once */
	size_t nlogged;
};

/* Orders hosts by address. */
static int
snmp_trap_match_addr_cmp(const void *a, const void *b)
{
	const struct mon_host *x = *(struct mon_host *const *)a;
	const struct mon_host *y = *(struct mon_host *const *)b;

	if (x->ss.ss_family != y->ss.ss_family)
		return x->ss.ss_family < y->ss.ss_family ? -1 : 1;
	if (x->ss.ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)&x->ss)->sin_addr,
		    &((const struct sockaddr_in *)&y->ss)->sin_addr, 4);
	return memcmp(&((const struct sockaddr_in6 *)&x->ss)->sin6_addr,
	    &((const struct sockaddr_in6 *)&y->ss)->sin6_addr, 16);
}

/* Whether two sockaddrs hold the same address (ports aside). */
static int
snmp_trap_match_addr_same(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	struct mon_host x, y, *px = &x, *py = &y;

	x.ss = *a;
	y.ss = *b;
	return snmp_trap_match_addr_cmp(&px, &py) == 0;
}

/* (Re)builds the index of hosts by address that traps are matched with. */
void
snmp_trap_match_index(struct monitord *md)
{
	struct snmp_addr_index *ix = md->by_addr;

	if (ix == NULL)
		ix = md->by_addr = xcalloc(1, sizeof(*ix));
	free(ix->hosts);
	ix->n = md->conf->nhosts;
	ix->hosts = xreallocarray(NULL, ix->n ? ix->n : 1, sizeof(*ix->hosts));
	memcpy(ix->hosts, md->conf->hosts, ix->n * sizeof(*ix->hosts));
	qsort(ix->hosts, ix->n, sizeof(*ix->hosts), snmp_trap_match_addr_cmp);
}

/* Frees the index. */
void
snmp_trap_match_index_free(struct monitord *md)
{
	if (md->by_addr == NULL)
		return;
	free(md->by_addr->hosts);
	free(md->by_addr);
	md->by_addr = NULL;
}

/* The host with this address, or NULL. */
static struct mon_host *
snmp_trap_match_host(struct monitord *md, const struct sockaddr_storage *ss)
{
	struct mon_host key, *kp = &key, **found;

	if (md->by_addr == NULL || md->by_addr->n == 0)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.ss = *ss;
	found = bsearch(&kp, md->by_addr->hosts, md->by_addr->n,
	    sizeof(*md->by_addr->hosts), snmp_trap_match_addr_cmp);
	if (found == NULL)
		return NULL;
	/* Hosts may share an address (a ping target and its agent): the
	 * one polled by SNMP is the one traps are about. */
	while (found > md->by_addr->hosts &&
	    snmp_trap_match_addr_cmp(found - 1, &kp) == 0)
		found--;
	for (struct mon_host **h = found;
	     h < md->by_addr->hosts + md->by_addr->n &&
	     snmp_trap_match_addr_cmp(h, &kp) == 0;
	     h++)
		if ((*h)->snmp != NULL)
			return *h;
	return *found;
}

/* The first check of kind on host, or NULL. */
static struct mon_check *
snmp_trap_match_check(struct monitord *md, const struct mon_host *host,
    enum check_kind kind)
{
	for (size_t i = 0; i < md->conf->nchecks; i++)
		if (md->conf->checks[i]->host == host &&
		    md->conf->checks[i]->kind == kind)
			return md->conf->checks[i];
	return NULL;
}

static void
snmp_trap_match_stored_cb(struct db *db, const PGresult *res, void *arg)
{
	struct monitord *md = arg;

	(void)db;
	if (res == NULL)
		return;
	if (!db_result_ok(res))
		log_warnx("a trap could not be stored: %s",
		    PQresultErrorMessage(res));
	else
		md->stats.traps_stored++;
}

/* Keeps a trap as an event in trap_event. */
static void
snmp_trap_match_store(struct monitord *md, const struct snmp_trap *t,
    const struct mon_host *host)
{
	char sender[INET6_ADDRSTRLEN], oid[512], when[40];
	const char *params[8];
	char *vbs = snmp_trap_varbinds_json(t);

	if (t->from.ss_family == AF_INET)
		inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)&t->from)->sin_addr, sender,
		    sizeof(sender));
	else
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)&t->from)->sin6_addr, sender,
		    sizeof(sender));
	snmp_oid_str(&t->trap_oid, oid, sizeof(oid));
	timeutil_format_iso(timeutil_real_us(), when, sizeof(when));
	params[0] = md->conf->instance;
	params[1] = when;
	params[2] = sender;
	params[3] = host != NULL ? host->name : NULL;
	params[4] = t->version == 1 ? "v1" : "v2c";
	params[5] = t->inform ? "true" : "false";
	params[6] = oid;
	params[7] = snmp_trap_kind_str(t->kind);
	{
		const char *p9[9];

		memcpy(p9, params, sizeof(params));
		p9[8] = vbs;
		db_query(md->db,
		    "INSERT INTO trap_event (source, received_at, sender, host, "
		    "version, inform, trap_oid, trap_name, varbinds) VALUES "
		    "($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
		    9, p9, 0, snmp_trap_match_stored_cb, md);
	}
	free(vbs);
}

/*
 * A trap came in: kept as an event, and for linkDown/linkUp and the
 * restarts also a state change of the matching interface or uptime check.
 * Traps from no configured host are counted and logged once per sender.
 */
void
snmp_trap_match(struct monitord *md, const struct snmp_trap *t)
{
	char text[CHECK_OUTPUT_MAX];
	struct mon_host *host = snmp_trap_match_host(md, &t->from);
	struct mon_check *c;
	char sender[INET6_ADDRSTRLEN] = "?";

	md->stats.traps_received++;
	if (host == NULL && t->version == 1 && t->agent_addr.ss_family != 0)
		host = snmp_trap_match_host(md, &t->agent_addr);
	if (host == NULL) {
		struct snmp_addr_index *ix = md->by_addr;
		int seen = 0;

		md->stats.traps_unknown++;
		for (size_t i = 0; ix != NULL && i < ix->nlogged; i++)
			if (snmp_trap_match_addr_same(&ix->logged[i], &t->from))
				seen = 1;
		if (!seen) {
			if (t->from.ss_family == AF_INET)
				inet_ntop(AF_INET,
				    &((const struct sockaddr_in *)&t->from)
					 ->sin_addr,
				    sender, sizeof(sender));
			else if (t->from.ss_family == AF_INET6)
				inet_ntop(AF_INET6,
				    &((const struct sockaddr_in6 *)&t->from)
					 ->sin6_addr,
				    sender, sizeof(sender));
			log_warnx("trap %s from %s, which is no configured "
				  "host (logged once per sender)",
			    snmp_trap_kind_str(t->kind), sender);
			if (ix != NULL &&
			    ix->nlogged <
				sizeof(ix->logged) / sizeof(ix->logged[0]))
				ix->logged[ix->nlogged++] = t->from;
		}
		snmp_trap_match_store(md, t, NULL);
		return;
	}
	snmp_trap_match_store(md, t, host);

	switch (t->kind) {
	case TRAP_KIND_LINKDOWN:
	case TRAP_KIND_LINKUP:
		c = snmp_trap_match_check(md, host, CHECK_KIND_SNMP_IF);
		if (c == NULL || c->md == NULL || t->if_index < 0 ||
		    c->snmp->rt == NULL)
			break;
		for (size_t i = 0; i < c->snmp->rt->nifs; i++) {
			struct snmp_if *ifp = &c->snmp->rt->ifs[i];
			enum check_status st = CHECK_OK;
			char output[256];

			if (ifp->index != (uint32_t)t->if_index ||
			    !ifp->selected)
				continue;
			if (t->kind == TRAP_KIND_LINKDOWN &&
			    t->if_admin_status != 2) {
				st = CHECK_CRITICAL;
				snprintf(output, sizeof(output),
				    "IF CRITICAL - %s down (linkDown trap)",
				    ifp->name);
			} else
				snprintf(output, sizeof(output),
				    "IF OK - %s %s (%s trap)", ifp->name,
				    t->kind == TRAP_KIND_LINKUP ?
					"up" :
					"administratively down",
				    snmp_trap_kind_str(t->kind));
			/* A trap is the device's own word: hard at once. */
			check_sub_result(c, &ifp->state, ifp->check_name, st,
			    output, 1);
		}
		break;
	case TRAP_KIND_COLDSTART:
	case TRAP_KIND_WARMSTART:
		c = snmp_trap_match_check(md, host, CHECK_KIND_SNMP_UPTIME);
		if (c == NULL || c->md == NULL)
			break;
		snprintf(text, sizeof(text),
		    "SNMP WARNING - rebooted (%s trap)",
		    snmp_trap_kind_str(t->kind));
		check_record(c, CHECK_WARNING, 1, text);
		break;
	default:
		break;
	}
}
