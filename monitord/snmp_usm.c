/*
 * SNMPv3 keys and users.  A key (Ku) derived from a passphrase, a hash
 * over a megabyte, is computed once and shared by every agent that uses
 * the passphrase.  Users go into net-snmp's USM table once per engine ID
 * and user, counted by the agents that use them; an agent whose engine ID
 * is already there with other keys is refused (a copied engine ID).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snmp_engine.h"
#include "xmalloc.h"

/* Forgets a key, wiping the passphrase and the key first. */
void
snmp_usm_ku_free(struct snmp_ku *k)
{
	explicit_bzero(k->ku, sizeof(k->ku));
	explicit_bzero(k->pass, strlen(k->pass));
	free(k->pass);
	free(k);
}

/* net-snmp's OID of an authentication protocol. */
const oid *
snmp_usm_auth_proto(enum snmp_auth auth, size_t *len)
{
	if (auth == SNMP_AUTH_SHA256) {
		*len = OID_LENGTH(usmHMAC192SHA256AuthProtocol);
		return usmHMAC192SHA256AuthProtocol;
	}
	*len = OID_LENGTH(usmHMACSHA1AuthProtocol);
	return usmHMACSHA1AuthProtocol;
}

/*
 * Returns the key derived from a passphrase for an authentication
 * protocol, computing it only the first time any agent asks: the
 * derivation hashes a megabyte, about 3 ms.  Keyed by the passphrase
 * itself, so a reload that brings new credential structs reuses it.
 */
const struct snmp_ku *
snmp_usm_ku(struct snmp_engine *e, const char *cred, enum snmp_auth auth,
    const char *what, const char *pass)
{
	struct snmp_ku *k;
	const oid *proto;
	size_t plen;

	if (pass == NULL || strlen(pass) < USM_LENGTH_P_MIN) {
		log_warnx("snmp: credentials %s: the %s passphrase needs at "
			  "least %d characters",
		    cred, what, USM_LENGTH_P_MIN);
		return NULL;
	}
	for (k = e->kus; k != NULL; k = k->next) {
		if (k->auth == auth && strcmp(k->pass, pass) == 0)
			return k;
	}
	k = xcalloc(1, sizeof(*k));
	k->auth = auth;
	k->len = sizeof(k->ku);
	proto = snmp_usm_auth_proto(auth, &plen);
	if (generate_Ku(proto, (u_int)plen, (const u_char *)pass, strlen(pass),
		k->ku, &k->len) != SNMPERR_SUCCESS) {
		log_warnx("snmp: credentials %s: cannot derive the %s key",
		    cred, what);
		free(k);
		return NULL;
	}
	k->pass = xstrdup(pass);
	k->next = e->kus;
	e->kus = k;
	e->stats.keys_computed++;
	return k;
}

/* Hashes an engine ID and a user name (FNV-1a). */
static uint64_t
snmp_usm_hash(const u_char *engineid, size_t len, const char *user)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= engineid[i];
		h *= 1099511628211ULL;
	}
	for (i = 0; user[i] != '\0'; i++) {
		h ^= (uint8_t)user[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Finds the engine's record of a USM user, or NULL. */
static struct snmp_usm *
snmp_usm_find(const struct snmp_engine *e, const u_char *engineid, size_t len,
    const char *user)
{
	struct snmp_usm *u;

	for (u = e->usm[snmp_usm_hash(engineid, len, user) & (e->nusm - 1)];
	     u != NULL; u = u->next) {
		if (u->len == len && memcmp(u->engineid, engineid, len) == 0 &&
		    strcmp(u->user, user) == 0)
			return u;
	}
	return NULL;
}

/* Adds a record of a USM user, doubling the table when it fills. */
static struct snmp_usm *
snmp_usm_add(struct snmp_engine *e, const u_char *engineid, size_t len,
    const char *user)
{
	struct snmp_usm **nh, *u, *next;
	size_t i, nn, b;

	if (e->usm_count >= e->nusm) {
		nn = e->nusm * 2;
		nh = xcalloc(nn, sizeof(*nh));
		for (i = 0; i < e->nusm; i++) {
			for (u = e->usm[i]; u != NULL; u = next) {
				next = u->next;
				b = snmp_usm_hash(u->engineid, u->len,
					u->user) &
				    (nn - 1);
				u->next = nh[b];
				nh[b] = u;
			}
		}
		free(e->usm);
		e->usm = nh;
		e->nusm = nn;
	}
	u = xcalloc(1, sizeof(*u));
	u->engineid = xmalloc(len);
	memcpy(u->engineid, engineid, len);
	u->len = len;
	u->user = xstrdup(user);
	b = snmp_usm_hash(engineid, len, user) & (e->nusm - 1);
	u->next = e->usm[b];
	e->usm[b] = u;
	e->usm_count++;
	return u;
}

/* Takes a user out of net-snmp's USM table and frees it. */
static void
snmp_usm_drop_user(const u_char *engineid, size_t len, const char *user)
{
	struct usmUser *nu;

	if ((nu = usm_get_user(engineid, len, user)) == NULL)
		return;
	usm_remove_user(nu);
	nu->next = nu->prev = NULL;
	usm_free_user(nu);
}

/*
 * Lets go of the agent's USM user; the last agent using it removes it
 * from net-snmp's table if we put it there, so that new keys for the same
 * engine ID and user (a corrected password, after a reload) can take its
 * place.
 */
void
snmp_usm_release(struct snmp_agent *a)
{
	struct snmp_engine *e = a->engine;
	struct snmp_usm **pp, *u = a->usm;

	if (u == NULL)
		return;
	a->usm = NULL;
	if (--u->refs > 0)
		return;
	if (u->created)
		snmp_usm_drop_user(u->engineid, u->len, u->user);
	for (pp = &e->usm[snmp_usm_hash(u->engineid, u->len, u->user) &
		 (e->nusm - 1)];
	     *pp != NULL; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	e->usm_count--;
	free(u->engineid);
	free(u->user);
	free(u);
}

/* Tells whether a USM user holds other protocols or keys than ours. */
static int
snmp_usm_differs(const struct snmp_agent *a, netsnmp_session *sp,
    const struct usmUser *u)
{
	const oid *proto;
	size_t plen, len;
	u_char kul[USM_AUTH_KU_LEN];
	int differs = 0;

	if (a->auth_ku == NULL)
		return 0;
	proto = snmp_usm_auth_proto(a->auth, &plen);
	if (u->authProtocol == NULL || u->authKey == NULL ||
	    snmp_oid_compare(u->authProtocol, u->authProtocolLen, proto,
		plen) != 0)
		return 1;
	len = sizeof(kul);
	if (generate_kul(proto, (u_int)plen, sp->securityEngineID,
		sp->securityEngineIDLen, a->auth_ku->ku, a->auth_ku->len, kul,
		&len) != SNMPERR_SUCCESS ||
	    u->authKeyLen != len || memcmp(u->authKey, kul, len) != 0)
		differs = 1;
	if (!differs && a->priv_ku != NULL) {
		len = sizeof(kul);
		if (u->privKey == NULL || u->privProtocol == NULL ||
		    snmp_oid_compare(u->privProtocol, u->privProtocolLen,
			usmAESPrivProtocol,
			OID_LENGTH(usmAESPrivProtocol)) != 0 ||
		    generate_kul(proto, (u_int)plen, sp->securityEngineID,
			sp->securityEngineIDLen, a->priv_ku->ku,
			a->priv_ku->len, kul, &len) != SNMPERR_SUCCESS)
			differs = 1;
		else {
			if (len > u->privKeyLen)
				len = u->privKeyLen;
			if (len > 16)
				len = 16; /* AES-128 uses the first 16 bytes */
			differs = memcmp(u->privKey, kul, len) != 0;
		}
	}
	explicit_bzero(kul, sizeof(kul));
	return differs;
}

/*
 * Sets up the agent's user in net-snmp's USM table, which holds one user
 * per (engine ID, name): returns -1 when another agent with the same
 * engine ID (a cloned device) uses other keys for that user, -2 when
 * net-snmp fails.
 */
int
snmp_usm_acquire(struct snmp_agent *a, netsnmp_session *sp)
{
	struct snmp_engine *e = a->engine;
	struct snmp_usm *rec;
	struct usmUser *u;

	u = usm_get_user(sp->securityEngineID, sp->securityEngineIDLen,
	    a->user);
	if (u != NULL && snmp_usm_differs(a, sp, u))
		return -1;
	sp->flags &= ~SNMP_FLAGS_USER_CREATED;
	if (usm_create_user_from_session(sp) != SNMPERR_SUCCESS)
		return -2;
	rec = snmp_usm_find(e, sp->securityEngineID, sp->securityEngineIDLen,
	    a->user);
	if (rec == NULL) {
		rec = snmp_usm_add(e, sp->securityEngineID,
		    sp->securityEngineIDLen, a->user);
		rec->created = u == NULL;
	}
	rec->refs++;
	a->usm = rec;
	return 0;
}