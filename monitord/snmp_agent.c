/*
 * One agent's requests.  Each agent serves one request at a time from a
 * FIFO; a request may span several PDUs (a GET split to stay under a
 * datagram budget, a walk) and ends with exactly one callback, always
 * called from the event loop and never from inside net-snmp.  net-snmp's
 * callbacks only record what happened; snmp_agent_step acts on it once
 * net-snmp has returned.  SNMPv3 engineID discovery is asynchronous:
 * net-snmp would otherwise probe with a blocking synchronous request.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snmp_engine.h"
#include "timeutil.h"
#include "xmalloc.h"

static void snmp_agent_send_next(struct snmp_agent *);

static const char *const snmp_result_names[] = {
	[SNMP_RESULT_OK] = "ok",
	[SNMP_RESULT_TIMEOUT] = "timeout",
	[SNMP_RESULT_UNREACHABLE] = "unreachable",
	[SNMP_RESULT_AUTH] = "authentication error",
	[SNMP_RESULT_ERROR] = "error",
};

static const char *const snmp_agent_state_names[] = {
	[SNMP_AGENT_IDLE] = "idle",
	[SNMP_AGENT_DISCOVERING] = "discovering",
	[SNMP_AGENT_WAITING] = "waiting",
};

/* Names a result for messages. */
const char *
snmp_agent_result_str(enum snmp_result result)
{
	if ((unsigned)result > SNMP_RESULT_ERROR)
		return "unknown";
	return snmp_result_names[result];
}

/* Names an agent state for logs. */
static const char *
snmp_agent_state_str(enum snmp_agent_state state)
{
	if ((unsigned)state > SNMP_AGENT_WAITING)
		return "unknown";
	return snmp_agent_state_names[state];
}

/* Moves an agent to another state and logs the move. */
static void
snmp_agent_set_state(struct snmp_agent *a, enum snmp_agent_state state)
{
	if (a->state == state)
		fatalx("snmp: %s: bad move %s -> %s", a->name,
		    snmp_agent_state_str(a->state),
		    snmp_agent_state_str(state));
	if (log_get_level() >= LOG_LEVEL_DEBUG)
		log_debug("snmp: %s: %s -> %s", a->name,
		    snmp_agent_state_str(a->state),
		    snmp_agent_state_str(state));
	a->state = state;
}

/* Forgets what net-snmp reported. */
static void
snmp_agent_rec_clear(struct snmp_rec *r)
{
	snmp_vb_free(r->vb, r->nvb);
	memset(r, 0, sizeof(*r));
}

/*
 * Records what net-snmp says about the PDU in flight.  It runs inside
 * net-snmp, so it acts on nothing: the engine looks at the record once
 * net-snmp has returned.  Only one PDU of a session is ever in flight, so
 * every call is about it (reports may carry request id 0); the first
 * final word wins.
 */
static int
snmp_agent_netsnmp_cb(int op, netsnmp_session *sp, int reqid, netsnmp_pdu *pdu,
    void *magic)
{
	struct snmp_agent *a = magic;
	struct snmp_rec *r = &a->rec;
	netsnmp_variable_list *v;
	size_t i, n;
	int type;

	(void)reqid;
	if (a->closing || a->state == SNMP_AGENT_IDLE ||
	    r->kind != SNMP_REC_NONE)
		return 1;
	switch (op) {
	case NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE:
		if (pdu == NULL)
			break;
		if (pdu->command == SNMP_MSG_REPORT) {
			type = snmpv3_get_report_type(pdu);
			/* net-snmp resends after notInTimeWindow by itself */
			if (type == SNMPERR_NOT_IN_TIME_WINDOW) {
				r->report = type;
				break;
			}
			r->kind = SNMP_REC_REPORT;
			r->report = type;
			break;
		}
		r->kind = SNMP_REC_RESPONSE;
		r->errstat = pdu->errstat;
		r->errindex = pdu->errindex;
		for (n = 0, v = pdu->variables; v != NULL; v = v->next_variable)
			n++;
		/* each one set by snmp_vb_convert */
		r->vb = n ? xreallocarray(NULL, n, sizeof(*r->vb)) : NULL;
		for (i = 0, v = pdu->variables; v != NULL && i < n;
		     v = v->next_variable, i++)
			snmp_vb_convert(&r->vb[i], v);
		r->nvb = n;
		break;
	case NETSNMP_CALLBACK_OP_TIMED_OUT:
		r->kind = SNMP_REC_TIMEOUT;
		break;
	case NETSNMP_CALLBACK_OP_SEND_FAILED:
		r->kind = SNMP_REC_SEND_FAILED;
		r->error = sp->s_errno;
		break;
	case NETSNMP_CALLBACK_OP_SEC_ERROR:
		type = pdu != NULL ? snmpv3_get_report_type(pdu) :
				     SNMPERR_UNKNOWN_REPORT;
		if (type == SNMPERR_UNKNOWN_REPORT && sp->s_snmp_errno != 0)
			type = sp->s_snmp_errno;
		r->report = type;
		/* Possibly resent: if not, snmp_agent_step finds it gone. */
		if (type == SNMPERR_NOT_IN_TIME_WINDOW ||
		    type == SNMPERR_USM_NOTINTIMEWINDOW)
			break;
		r->kind = SNMP_REC_REPORT;
		break;
	case NETSNMP_CALLBACK_OP_RESEND:
		a->sent_ns = timeutil_mono_ns();
		a->engine->stats.retries++;
		return 1;
	default:
		return 1;
	}
	if (r->kind != SNMP_REC_NONE)
		r->at_ns = a->engine->rx_ns != 0 ? a->engine->rx_ns :
						   timeutil_mono_ns();
	return 1;
}

/* Frees a request and what it collected. */
static void
snmp_agent_req_free(struct snmp_req *r)
{
	if (r == NULL)
		return;
	snmp_vb_free(r->vb, r->nvb);
	free(r->oids);
	free(r->vbroot);
	free(r->todo);
	free(r->cursor);
	free(r->finished);
	free(r->cols);
	free(r);
}

/* Drops every request of an agent without calling back. */
void
snmp_agent_cancel(struct snmp_agent *a)
{
	struct snmp_req *r;

	while ((r = TAILQ_FIRST(&a->queue)) != NULL) {
		TAILQ_REMOVE(&a->queue, r, link);
		a->engine->stats.queued--;
		snmp_agent_req_free(r);
	}
	snmp_agent_rec_clear(&a->rec);
	if (a->state != SNMP_AGENT_IDLE)
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
}

/* Releases the agent's memory once no engine code uses it any more. */
void
snmp_agent_destroy(struct snmp_agent *a)
{
	if (!a->dead) {
		snmp_transport_close(a);
		snmp_usm_release(a);
		snmp_transport_remove(a->engine, a);
		TAILQ_REMOVE(&a->engine->agents, a, link);
		event_free(a->ev);
		a->ev = NULL;
		a->dead = 1;
	}
	if (a->busy > 0)
		return;
	if (a->community != NULL) {
		explicit_bzero(a->community, strlen(a->community));
		free(a->community);
	}
	free(a->user);
	free(a->engineid);
	free(a);
}

/*
 * Frees an agent: queued and in-flight requests end without callbacks.
 * Allowed from inside the agent's own callback.
 */
void
snmp_agent_free(struct snmp_agent *a)
{
	if (a == NULL || a->dead)
		return;
	snmp_agent_cancel(a);
	snmp_agent_destroy(a);
}

/* Marks the agent in use by the engine, so that a free waits. */
void
snmp_agent_enter(struct snmp_agent *a)
{
	a->busy++;
}

/* Ends a use; frees the agent if it was freed meanwhile. */
void
snmp_agent_leave(struct snmp_agent *a)
{
	if (--a->busy == 0 && a->dead)
		snmp_agent_destroy(a);
}

/* Tells how many tries a request gets and how long they take. */
static void
snmp_agent_timeout_reason(struct snmp_agent *a, char *buf, size_t size,
    const char *what)
{
	unsigned tries = a->retries + 1;

	snprintf(buf, size, "no response%s after %u tr%s (%.1f s)", what, tries,
	    tries == 1 ? "y" : "ies", (double)a->timeout_ms * tries / 1000.0);
}

/* Describes an SNMPv3 report or security error; the result it means. */
static enum snmp_result
snmp_agent_report_reason(int report, char *buf, size_t size)
{
	const char *s;

	switch (report) {
	case SNMPERR_UNKNOWN_USER_NAME:
	case SNMPERR_USM_UNKNOWNSECURITYNAME:
		s = "SNMPv3: unknown user name";
		break;
	case SNMPERR_AUTHENTICATION_FAILURE:
	case SNMPERR_USM_AUTHENTICATIONFAILURE:
		s = "SNMPv3: wrong digest (auth password or protocol?)";
		break;
	case SNMPERR_DECRYPTION_ERR:
		s = "SNMPv3: decryption error (priv password?)";
		break;
	case SNMPERR_UNSUPPORTED_SEC_LEVEL:
	case SNMPERR_USM_UNSUPPORTEDSECURITYLEVEL:
		s = "SNMPv3: unsupported security level";
		break;
	case SNMPERR_NOT_IN_TIME_WINDOW:
	case SNMPERR_USM_NOTINTIMEWINDOW:
		s = "SNMPv3: not in time window";
		break;
	case SNMPERR_UNKNOWN_ENG_ID:
	case SNMPERR_USM_UNKNOWNENGINEID:
		s = "SNMPv3: unknown engine ID";
		break;
	case SNMPERR_UNKNOWN_SEC_MODEL:
		s = "SNMPv3: unknown security model";
		break;
	case SNMPERR_BAD_CONTEXT:
		snprintf(buf, size, "SNMPv3: unknown context");
		return SNMP_RESULT_ERROR;
	case SNMPERR_INVALID_MSG:
		snprintf(buf, size,
		    "SNMPv3: the agent found our message invalid");
		return SNMP_RESULT_ERROR;
	case SNMPERR_BAD_VERSION:
		snprintf(buf, size, "SNMPv3: no handler for the PDU");
		return SNMP_RESULT_ERROR;
	case SNMPERR_USM_ENCRYPTIONERROR:
		s = "SNMPv3: encryption error";
		break;
	default:
		snprintf(buf, size, "SNMPv3: security error %d", report);
		return SNMP_RESULT_AUTH;
	}
	snprintf(buf, size, "%s", s);
	return SNMP_RESULT_AUTH;
}

/* Describes an ICMP error, or a send error, about the agent. */
static void
snmp_agent_icmp_reason(int error, char *buf, size_t size)
{
	switch (error) {
	case ECONNREFUSED:
		snprintf(buf, size, "port unreachable");
		break;
	case EHOSTUNREACH:
		snprintf(buf, size, "host unreachable");
		break;
	case ENETUNREACH:
		snprintf(buf, size, "network unreachable");
		break;
	case EACCES:
	case EPERM:
		snprintf(buf, size, "administratively prohibited");
		break;
	default:
		snprintf(buf, size, "ICMP error: %s", strerror(error));
		break;
	}
}

/* Tells whether an errno means the agent cannot be reached. */
static int
snmp_agent_error_unreachable(int error)
{
	return error == ECONNREFUSED || error == EHOSTUNREACH ||
	    error == ENETUNREACH || error == EHOSTDOWN || error == ENETDOWN;
}

/*
 * Ends the request at the head of the queue and calls its callback; the
 * callback may free the agent or queue more.  OK hands over what the
 * request collected; other results carry no varbinds.
 */
static void
snmp_agent_finish(struct snmp_agent *a, enum snmp_result result, long errstat,
    long errindex, const char *reason)
{
	struct snmp_engine *e = a->engine;
	struct snmp_req *r;
	struct snmp_response resp;

	r = TAILQ_FIRST(&a->queue);
	TAILQ_REMOVE(&a->queue, r, link);
	e->stats.queued--;
	switch (result) {
	case SNMP_RESULT_OK:
		break;
	case SNMP_RESULT_TIMEOUT:
		e->stats.timeouts++;
		break;
	case SNMP_RESULT_UNREACHABLE:
		e->stats.unreachable++;
		break;
	case SNMP_RESULT_AUTH:
		e->stats.auth_errors++;
		break;
	case SNMP_RESULT_ERROR:
		e->stats.errors++;
		break;
	}
	if (a->state != SNMP_AGENT_IDLE)
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
	memset(&resp, 0, sizeof(resp));
	resp.result = result;
	resp.error_status = errstat;
	resp.error_index = errindex;
	snprintf(resp.reason, sizeof(resp.reason), "%s",
	    reason != NULL ? reason : "");
	if (a->rec.kind == SNMP_REC_RESPONSE && a->rec.at_ns > a->sent_ns)
		resp.rtt_us = (a->rec.at_ns - a->sent_ns) / 1000;
	if (result == SNMP_RESULT_OK && errstat == 0) {
		resp.vb = r->vb;
		resp.nvb = r->nvb;
	}
	snmp_agent_rec_clear(&a->rec);
	if (log_get_level() >= LOG_LEVEL_DEBUG)
		log_debug("snmp: %s: %s %s%s%s", a->name,
		    r->kind == SNMP_REQ_GET ? "get" : "walk",
		    snmp_agent_result_str(result), resp.reason[0] ? ": " : "",
		    resp.reason);
	snmp_agent_enter(a);
	r->cb(&resp, r->arg);
	snmp_agent_leave(a);
	snmp_agent_req_free(r);
}

/* Ends the request because its PDU could not be sent. */
static void
snmp_agent_send_failed(struct snmp_agent *a, int error, int serr)
{
	char reason[128];

	if (snmp_agent_error_unreachable(error)) {
		snmp_agent_icmp_reason(error, reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_UNREACHABLE, 0, 0, reason);
		return;
	}
	if (error != 0)
		snprintf(reason, sizeof(reason), "cannot send: %s",
		    strerror(error));
	else
		snprintf(reason, sizeof(reason),
		    "cannot build the request (net-snmp error %d)", serr);
	snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0, reason);
}

/*
 * Hands a PDU to net-snmp; on failure ends the request and returns -1.
 * The PDU is net-snmp's from then on.
 */
static int
snmp_agent_send(struct snmp_agent *a, netsnmp_pdu *pdu,
    enum snmp_agent_state state)
{
	netsnmp_session *sp = snmp_sess_session(a->ss);
	int error, serr;

	snmp_agent_rec_clear(&a->rec);
	snmp_agent_set_state(a, state);
	a->sent_ns = timeutil_mono_ns();
	if (snmp_sess_async_send(a->ss, pdu, snmp_agent_netsnmp_cb, a) == 0) {
		error =
		    sp->s_snmp_errno == SNMPERR_BAD_SENDTO ? sp->s_errno : 0;
		serr = sp->s_snmp_errno;
		snmp_free_pdu(pdu);
		snmp_agent_rec_clear(&a->rec);
		snmp_agent_send_failed(a, error, serr);
		return -1;
	}
	return 0;
}

/* The bytes left for varbinds in a message of this agent. */
static size_t
snmp_agent_budget(const struct snmp_agent *a)
{
	size_t overhead;

	if (a->version == SNMP_VERSION_V3)
		overhead = 140 + 2 * a->engineid_len + strlen(a->user);
	else
		overhead = 40 + strlen(a->community);
	if (overhead > SNMP_PDU_BUDGET / 2)
		overhead = SNMP_PDU_BUDGET / 2;
	return SNMP_PDU_BUDGET - overhead;
}

/* Sends the next GET PDU: as many pending OIDs as fit the budget. */
static void
snmp_agent_get_send(struct snmp_agent *a, struct snmp_req *r)
{
	netsnmp_pdu *pdu;
	oid name[SNMP_OID_MAX];
	size_t budget, used = 0, cost, k, len;

	budget = snmp_agent_budget(a);
	for (k = 0; k < r->ntodo && k < r->max_per_pdu; k++) {
		cost = snmp_oid_ber_len(&r->oids[r->todo[k]]) + 4 +
		    SNMP_VALUE_GUESS;
		if (k > 0 && used + cost > budget)
			break;
		used += cost;
	}
	r->pdu_n = k;
	if ((pdu = snmp_pdu_create(SNMP_MSG_GET)) == NULL)
		fatalx("snmp: out of memory");
	for (k = 0; k < r->pdu_n; k++) {
		len = snmp_vb_oid_to_netsnmp(&r->oids[r->todo[k]], name);
		snmp_add_null_var(pdu, name, len);
	}
	snmp_agent_send(a, pdu, SNMP_AGENT_WAITING);
}

/* Sends the next walk PDU: GETBULK, or GETNEXT for SNMPv1. */
static void
snmp_agent_walk_send(struct snmp_agent *a, struct snmp_req *r)
{
	netsnmp_pdu *pdu;
	oid name[SNMP_OID_MAX];
	size_t budget, vbcost, i, k, maxcols, len, reps;

	budget = snmp_agent_budget(a);
	maxcols = r->max_per_pdu;
	for (i = 0, k = 0; i < r->n && k < maxcols; i++) {
		if (r->finished[i])
			continue;
		vbcost = snmp_oid_ber_len(&r->oids[i]) + SNMP_INDEX_GUESS + 4 +
		    SNMP_VALUE_GUESS;
		if (k > 0 && (k + 1) * vbcost > budget)
			break;
		r->cols[k++] = i;
	}
	r->pdu_n = k;
	vbcost = 0;
	for (i = 0; i < k; i++)
		vbcost += snmp_oid_ber_len(&r->oids[r->cols[i]]) +
		    SNMP_INDEX_GUESS + 4 + SNMP_VALUE_GUESS;
	reps = vbcost ? budget / vbcost : 1;
	if (reps < 1)
		reps = 1;
	if (reps > r->max_rep)
		reps = r->max_rep;
	if (a->version == SNMP_VERSION_V1)
		pdu = snmp_pdu_create(SNMP_MSG_GETNEXT);
	else {
		pdu = snmp_pdu_create(SNMP_MSG_GETBULK);
		if (pdu != NULL) {
			pdu->non_repeaters = 0;
			pdu->max_repetitions = (long)reps;
		}
	}
	if (pdu == NULL)
		fatalx("snmp: out of memory");
	for (i = 0; i < k; i++) {
		len = snmp_vb_oid_to_netsnmp(&r->cursor[r->cols[i]], name);
		snmp_add_null_var(pdu, name, len);
	}
	snmp_agent_send(a, pdu, SNMP_AGENT_WAITING);
}

/* Sends the engineID discovery probe, like net-snmp's, asynchronously. */
static void
snmp_agent_discover(struct snmp_agent *a)
{
	netsnmp_pdu *pdu;
	struct usmUser *u;

	/* The probe uses the empty user of no security. */
	if (usm_get_user(NULL, 0, "") == NULL) {
		u = xcalloc(1, sizeof(*u));
		u->name = xstrdup("");
		u->secName = xstrdup("");
		u->authProtocolLen = OID_LENGTH(usmNoAuthProtocol);
		u->authProtocol =
		    snmp_duplicate_objid(usmNoAuthProtocol, u->authProtocolLen);
		u->privProtocolLen = OID_LENGTH(usmNoPrivProtocol);
		u->privProtocol =
		    snmp_duplicate_objid(usmNoPrivProtocol, u->privProtocolLen);
		usm_add_user(u);
	}
	if ((pdu = snmp_pdu_create(SNMP_MSG_GET)) == NULL)
		fatalx("snmp: out of memory");
	pdu->version = SNMP_VERSION_3;
	pdu->securityName = xstrdup("");
	pdu->securityNameLen = 0;
	pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
	pdu->securityModel = SNMP_SEC_MODEL_USM;
	snmp_agent_send(a, pdu, SNMP_AGENT_DISCOVERING);
}

/* Forgets the engineID, so that the next request discovers it again. */
static int
snmp_agent_forget_engine(struct snmp_agent *a)
{
	snmp_usm_release(a);
	free(a->engineid);
	a->engineid = NULL;
	a->engineid_len = 0;
	snmp_transport_close(a);
	return snmp_transport_open(a);
}

/* Acts on the answer to the engineID probe, then sends the request. */
static void
snmp_agent_discovered(struct snmp_agent *a)
{
	netsnmp_session *sp;
	char reason[160];

	switch (a->rec.kind) {
	case SNMP_REC_REPORT:
	case SNMP_REC_RESPONSE:
		sp = a->ss != NULL ? snmp_sess_session(a->ss) : NULL;
		if (sp == NULL || sp->securityEngineIDLen == 0 ||
		    sp->securityEngineID == NULL) {
			snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
			    "SNMPv3: the discovery answer carried no engine "
			    "ID");
			return;
		}
		switch (snmp_usm_acquire(a, sp)) {
		case -1:
			log_warnx("snmp: %s: its engine ID is shared with "
				  "another agent that uses other keys for user "
				  "%s",
			    a->name, a->user);
			if (snmp_agent_forget_engine(a) == -1)
				a->ss = NULL;
			snmp_agent_finish(a, SNMP_RESULT_AUTH, 0, 0,
			    "SNMPv3: engine ID shared with another agent "
			    "that uses other keys for this user");
			return;
		case -2:
			if (snmp_agent_forget_engine(a) == -1)
				a->ss = NULL;
			snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
			    "SNMPv3: cannot set up the user's keys");
			return;
		}
		free(a->engineid);
		a->engineid = xmalloc(sp->securityEngineIDLen);
		memcpy(a->engineid, sp->securityEngineID,
		    sp->securityEngineIDLen);
		a->engineid_len = sp->securityEngineIDLen;
		a->engine->stats.discoveries++;
		TAILQ_FIRST(&a->queue)->probe_answered = 1;
		log_debug("snmp: %s: engine ID of %zu bytes discovered",
		    a->name, a->engineid_len);
		snmp_agent_rec_clear(&a->rec);
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	case SNMP_REC_TIMEOUT:
	case SNMP_REC_LOST:
		snmp_agent_timeout_reason(a, reason, sizeof(reason),
		    " to SNMPv3 engine ID discovery");
		snmp_agent_finish(a, SNMP_RESULT_TIMEOUT, 0, 0, reason);
		return;
	case SNMP_REC_UNREACHABLE:
		snmp_agent_icmp_reason(a->rec.error, reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_UNREACHABLE, 0, 0, reason);
		return;
	case SNMP_REC_SEND_FAILED:
		snmp_agent_send_failed(a, a->rec.error, 0);
		return;
	case SNMP_REC_NONE:
		break;
	}
}

/* Grows a walk's results by one slot. */
static struct snmp_varbind *
snmp_agent_walk_slot(struct snmp_req *r, size_t root)
{
	if (r->nvb == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->vb = xreallocarray(r->vb, r->cap, sizeof(*r->vb));
		r->vbroot =
		    xreallocarray(r->vbroot, r->cap, sizeof(*r->vbroot));
	}
	r->vbroot[r->nvb] = root;
	return &r->vb[r->nvb++];
}

/* Puts a walk's results in root order, each root's in OID order. */
static void
snmp_agent_walk_sort(struct snmp_req *r)
{
	struct snmp_varbind *out;
	size_t *start, i, root;

	if (r->nvb == 0)
		return;
	start = xcalloc(r->n + 1, sizeof(*start));
	for (i = 0; i < r->nvb; i++)
		start[r->vbroot[i] + 1]++;
	for (root = 0; root < r->n; root++)
		start[root + 1] += start[root];
	out = xreallocarray(NULL, r->nvb, sizeof(*out));
	for (i = 0; i < r->nvb; i++)
		out[start[r->vbroot[i]]++] = r->vb[i];
	free(r->vb);
	free(start);
	r->vb = out;
	r->cap = r->nvb;
}

/* Describes an error-status of the agent for the reason text. */
static void
snmp_agent_errstat_reason(const struct snmp_req *r, long errstat, long errindex,
    char *buf, size_t size)
{
	char oidbuf[256];

	if (errindex >= 1 && (size_t)errindex <= r->n &&
	    r->kind == SNMP_REQ_GET)
		snprintf(buf, size, "%s at %s", snmp_errstring((int)errstat),
		    snmp_oid_str(&r->oids[errindex - 1], oidbuf,
			sizeof(oidbuf)));
	else
		snprintf(buf, size, "%s", snmp_errstring((int)errstat));
}

/*
 * Takes in the response to a GET PDU: the values of its OIDs, or a
 * smaller PDU after tooBig, or, for SNMPv1, the rest again after
 * noSuchName.  Ends the request, or sends its next PDU.
 */
static void
snmp_agent_get_absorb(struct snmp_agent *a, struct snmp_req *r)
{
	struct snmp_rec *rec = &a->rec;
	struct snmp_varbind *vb;
	char reason[160];
	size_t i, idx, bad;

	if (rec->errstat == SNMP_ERR_TOOBIG) {
		if (r->pdu_n > 1) {
			r->max_per_pdu = r->pdu_n / 2;
			snmp_agent_set_state(a, SNMP_AGENT_IDLE);
			snmp_agent_get_send(a, r);
			return;
		}
		snmp_agent_errstat_reason(r, rec->errstat, (long)r->todo[0] + 1,
		    reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_OK, rec->errstat,
		    (long)r->todo[0] + 1, reason);
		return;
	}
	if (rec->errstat == SNMP_ERR_NOSUCHNAME &&
	    a->version == SNMP_VERSION_V1 && rec->errindex >= 1 &&
	    (size_t)rec->errindex <= r->pdu_n) {
		bad = (size_t)rec->errindex - 1;
		vb = &r->vb[r->todo[bad]];
		vb->type = SNMP_VT_NOSUCHOBJECT;
		memmove(&r->todo[bad], &r->todo[bad + 1],
		    (r->ntodo - bad - 1) * sizeof(*r->todo));
		r->ntodo--;
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	}
	if (rec->errstat != SNMP_ERR_NOERROR) {
		idx = rec->errindex >= 1 && (size_t)rec->errindex <= r->pdu_n ?
		    r->todo[rec->errindex - 1] + 1 :
		    0;
		snmp_agent_errstat_reason(r, rec->errstat, (long)idx, reason,
		    sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_OK, rec->errstat, (long)idx,
		    reason);
		return;
	}
	if (rec->nvb != r->pdu_n) {
		snprintf(reason, sizeof(reason),
		    "the response has %zu varbinds for %zu asked", rec->nvb,
		    r->pdu_n);
		snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0, reason);
		return;
	}
	for (i = 0; i < r->pdu_n; i++) {
		idx = r->todo[i];
		/* the value; the OID stays the caller's, whatever the agent
		 * wrote back */
		vb = &r->vb[idx];
		snmp_vb_move(vb, &rec->vb[i]);
	}
	r->ntodo -= r->pdu_n;
	memmove(r->todo, r->todo + r->pdu_n, r->ntodo * sizeof(*r->todo));
	snmp_agent_set_state(a, SNMP_AGENT_IDLE);
	snmp_agent_send_next(a);
}

/*
 * Takes in the response to a walk PDU: each column advances on its own
 * until it leaves its subtree or the MIB ends.  An agent that goes
 * backwards, or that makes no progress, ends the walk with an error.
 */
static void
snmp_agent_walk_absorb(struct snmp_agent *a, struct snmp_req *r)
{
	struct snmp_rec *rec = &a->rec;
	struct snmp_varbind *vb, *in;
	char reason[160], oidbuf[256];
	size_t i, col, progress = 0;

	if (rec->errstat == SNMP_ERR_NOSUCHNAME &&
	    a->version == SNMP_VERSION_V1 && rec->errindex >= 1 &&
	    (size_t)rec->errindex <= r->pdu_n) {
		/* SNMPv1's end of the MIB for that column */
		r->finished[r->cols[rec->errindex - 1]] = 1;
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	}
	if (rec->errstat == SNMP_ERR_TOOBIG && r->pdu_n > 1) {
		r->max_per_pdu = r->pdu_n / 2;
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	}
	if (rec->errstat == SNMP_ERR_TOOBIG && r->max_rep > 1) {
		r->max_rep /= 2;
		snmp_agent_set_state(a, SNMP_AGENT_IDLE);
		snmp_agent_send_next(a);
		return;
	}
	if (rec->errstat != SNMP_ERR_NOERROR) {
		snmp_agent_errstat_reason(r, rec->errstat, 0, reason,
		    sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_OK, rec->errstat,
		    rec->errindex, reason);
		return;
	}
	for (i = 0; i < rec->nvb && r->pdu_n > 0; i++) {
		col = r->cols[i % r->pdu_n];
		if (r->finished[col])
			continue;
		in = &rec->vb[i];
		if (in->type == SNMP_VT_ENDOFMIBVIEW ||
		    in->type == SNMP_VT_NOSUCHOBJECT ||
		    in->type == SNMP_VT_NOSUCHINSTANCE ||
		    in->oid.len <= r->oids[col].len ||
		    !snmp_oid_has_prefix(&in->oid, &r->oids[col])) {
			r->finished[col] = 1;
			progress++;
			continue;
		}
		if (snmp_oid_cmp(&in->oid, &r->cursor[col]) <= 0) {
			snprintf(reason, sizeof(reason),
			    "the agent returned a non-increasing OID %s",
			    snmp_oid_str(&in->oid, oidbuf, sizeof(oidbuf)));
			snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0, reason);
			return;
		}
		if (r->nvb >= SNMP_WALK_MAX) {
			snprintf(reason, sizeof(reason),
			    "walk stopped after %d varbinds", SNMP_WALK_MAX);
			snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0, reason);
			return;
		}
		snmp_oid_copy(&r->cursor[col], &in->oid);
		vb = snmp_agent_walk_slot(r, col);
		snmp_oid_copy(&vb->oid, &in->oid);
		snmp_vb_move(vb, in);
		progress++;
	}
	if (progress == 0) {
		snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
		    "the agent answered the walk with no varbinds");
		return;
	}
	snmp_agent_set_state(a, SNMP_AGENT_IDLE);
	snmp_agent_send_next(a);
}

/* Acts on what net-snmp reported about the request's PDU. */
static void
snmp_agent_answered(struct snmp_agent *a)
{
	struct snmp_req *r = TAILQ_FIRST(&a->queue);
	char reason[160];
	enum snmp_result result;

	switch (a->rec.kind) {
	case SNMP_REC_RESPONSE:
		a->engine->stats.responses++;
		if (r->kind == SNMP_REQ_GET)
			snmp_agent_get_absorb(a, r);
		else
			snmp_agent_walk_absorb(a, r);
		return;
	case SNMP_REC_TIMEOUT:
		/* The next request asks for the engine ID again: a device
		 * that came back may be another one. */
		if (a->version == SNMP_VERSION_V3 &&
		    snmp_agent_forget_engine(a) == -1)
			a->ss = NULL;
		snmp_agent_timeout_reason(a, reason, sizeof(reason), "");
		/* Agents drop what they cannot decrypt, without a report. */
		if (a->level == SNMP_LEVEL_AUTHPRIV && r->probe_answered)
			snprintf(reason + strlen(reason),
			    sizeof(reason) - strlen(reason),
			    "; the engine ID probe was answered: wrong priv "
			    "password?");
		snmp_agent_finish(a, SNMP_RESULT_TIMEOUT, 0, 0, reason);
		return;
	case SNMP_REC_LOST:
		snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
		    "net-snmp dropped the request");
		return;
	case SNMP_REC_UNREACHABLE:
		snmp_agent_icmp_reason(a->rec.error, reason, sizeof(reason));
		snmp_agent_finish(a, SNMP_RESULT_UNREACHABLE, 0, 0, reason);
		return;
	case SNMP_REC_SEND_FAILED:
		snmp_agent_send_failed(a, a->rec.error, 0);
		return;
	case SNMP_REC_REPORT:
		if ((a->rec.report == SNMPERR_UNKNOWN_ENG_ID ||
			a->rec.report == SNMPERR_USM_UNKNOWNENGINEID) &&
		    !r->rediscovered) {
			/* The agent's engine ID changed: find it again, then
			 * send the same PDU. */
			log_debug("snmp: %s: unknown engine ID, discovering "
				  "it again",
			    a->name);
			r->rediscovered = 1;
			snmp_agent_rec_clear(&a->rec);
			snmp_agent_set_state(a, SNMP_AGENT_IDLE);
			if (snmp_agent_forget_engine(a) == -1) {
				snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
				    "cannot recreate the session");
				return;
			}
			snmp_agent_discover(a);
			return;
		}
		result = snmp_agent_report_reason(a->rec.report, reason,
		    sizeof(reason));
		snmp_agent_finish(a, result, 0, 0, reason);
		return;
	case SNMP_REC_NONE:
		break;
	}
}

/*
 * Sends the next PDU of the request at the head of the queue, discovering
 * the engine ID first if needed, or ends the request when it is complete.
 */
static void
snmp_agent_send_next(struct snmp_agent *a)
{
	struct snmp_req *r = TAILQ_FIRST(&a->queue);
	size_t i;

	if (a->ss == NULL && snmp_transport_open(a) == -1) {
		snmp_agent_finish(a, SNMP_RESULT_ERROR, 0, 0,
		    "cannot create the net-snmp session");
		return;
	}
	if (a->version == SNMP_VERSION_V3 && a->engineid == NULL) {
		snmp_agent_discover(a);
		return;
	}
	if (r->kind == SNMP_REQ_GET) {
		if (r->ntodo == 0) {
			snmp_agent_finish(a, SNMP_RESULT_OK, 0, 0, NULL);
			return;
		}
		snmp_agent_get_send(a, r);
		return;
	}
	for (i = 0; i < r->n && r->finished[i]; i++)
		;
	if (i == r->n) {
		snmp_agent_walk_sort(r);
		snmp_agent_finish(a, SNMP_RESULT_OK, 0, 0, NULL);
		return;
	}
	snmp_agent_walk_send(a, r);
}

/*
 * Acts on net-snmp's record once it has returned; with none, and with
 * net-snmp holding no request any more, the PDU was dropped silently
 * (a notInTimeWindow report past the retries does that).
 */
void
snmp_agent_step(struct snmp_agent *a)
{
	netsnmp_large_fd_set *fds = &a->sock->fds;
	struct timeval tv;
	int n = 0, block = 1;

	if (a->state == SNMP_AGENT_IDLE)
		return;
	if (a->rec.kind == SNMP_REC_NONE && a->ss != NULL) {
		timerclear(&tv);
		snmp_sess_select_info2_flags(a->ss, &n, fds, &tv, &block,
		    NETSNMP_SELECT_NOALARMS);
		if (!block)
			return;
	}
	if (a->rec.kind == SNMP_REC_NONE) {
		if (a->rec.report == SNMPERR_NOT_IN_TIME_WINDOW ||
		    a->rec.report == SNMPERR_USM_NOTINTIMEWINDOW)
			a->rec.kind = SNMP_REC_REPORT;
		else
			a->rec.kind = SNMP_REC_LOST;
	}
	if (a->state == SNMP_AGENT_DISCOVERING)
		snmp_agent_discovered(a);
	else
		snmp_agent_answered(a);
}

/*
 * Sets the agent's timer: net-snmp's next retry or timeout while a PDU is
 * in flight, at once when requests wait and nothing is in flight.
 */
static void
snmp_agent_arm(struct snmp_agent *a)
{
	struct timeval tv;
	int n = 0, block = 1;

	if (a->dead)
		return;
	timerclear(&tv);
	if (a->state == SNMP_AGENT_IDLE || a->ss == NULL) {
		evtimer_del(a->ev);
		/* Run from the loop, without a timer in the heap. */
		if (!TAILQ_EMPTY(&a->queue))
			event_active(a->ev, EV_TIMEOUT, 1);
		return;
	}
	snmp_sess_select_info2_flags(a->ss, &n, &a->sock->fds, &tv, &block,
	    NETSNMP_SELECT_NOALARMS);
	if (block || !timerisset(&tv)) {
		/* nothing pending in net-snmp, or due now: run soon */
		evtimer_del(a->ev);
		event_active(a->ev, EV_TIMEOUT, 1);
		return;
	}
	evtimer_add(a->ev, &tv);
}

/* Starts the requests waiting while nothing is in flight, then re-arms. */
void
snmp_agent_run(struct snmp_agent *a)
{
	unsigned guard = 0;

	while (!a->dead && a->state == SNMP_AGENT_IDLE &&
	    !TAILQ_EMPTY(&a->queue) && guard++ < 1000000)
		snmp_agent_send_next(a);
	snmp_agent_arm(a);
}

/*
 * The agent's timer went off: net-snmp's retry or timeout of the PDU in
 * flight, or the kick to start what is queued.
 */
void
snmp_agent_timer(struct snmp_agent *a)
{
	if (a->state != SNMP_AGENT_IDLE) {
		if (a->ss != NULL)
			snmp_sess_timeout(a->ss);
		snmp_agent_step(a);
	}
	snmp_agent_run(a);
}

/* Ends the agent's PDU in flight because an ICMP error came back. */
void
snmp_agent_unreachable(struct snmp_agent *a, int error)
{
	if (a->state == SNMP_AGENT_IDLE)
		return;
	snmp_agent_enter(a);
	/* net-snmp has no way to cancel one request: start afresh. */
	snmp_transport_close(a);
	snmp_agent_rec_clear(&a->rec);
	a->rec.kind = SNMP_REC_UNREACHABLE;
	a->rec.error = error;
	if (snmp_transport_open(a) == -1)
		a->ss = NULL;
	snmp_agent_step(a);
	snmp_agent_run(a);
	snmp_agent_leave(a);
}

/* Queues a request; the agent's timer starts it from the loop. */
static void
snmp_agent_queue(struct snmp_agent *a, struct snmp_req *r)
{
	TAILQ_INSERT_TAIL(&a->queue, r, link);
	a->engine->stats.requests++;
	a->engine->stats.queued++;
	if (a->state == SNMP_AGENT_IDLE && r == TAILQ_FIRST(&a->queue))
		snmp_agent_arm(a);
}

/* Checks a request's OIDs; logs and returns -1 for a bad one. */
static int
snmp_agent_check_oids(struct snmp_agent *a, const char *what,
    const struct snmp_oid *oids, size_t n)
{
	size_t i;

	if (oids == NULL || n == 0) {
		log_warnx("snmp: %s: %s without OIDs", a->name, what);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!snmp_oid_valid(&oids[i])) {
			log_warnx("snmp: %s: %s: OID %zu is not valid", a->name,
			    what, i + 1);
			return -1;
		}
	}
	return 0;
}

/*
 * A request of a kind for the OIDs (GET) or roots (walk), checked, with
 * its callback; NULL, logged, for bad arguments.  Not yet queued.
 */
static struct snmp_req *
snmp_agent_req_new(struct snmp_agent *a, enum snmp_req_kind kind,
    const struct snmp_oid *oids, size_t n, snmp_cb cb, void *arg)
{
	const char *what = kind == SNMP_REQ_GET ? "get" : "walk";
	struct snmp_req *r;
	size_t i;

	if (a == NULL || a->dead || cb == NULL) {
		log_warnx("snmp: snmp_agent_%s: bad arguments", what);
		return NULL;
	}
	if (snmp_agent_check_oids(a, what, oids, n) == -1)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->kind = kind;
	r->cb = cb;
	r->arg = arg;
	r->n = n;
	r->oids = xreallocarray(NULL, n, sizeof(*r->oids));
	for (i = 0; i < n; i++)
		snmp_oid_copy(&r->oids[i], &oids[i]);
	return r;
}

/*
 * Queues a GET of n OIDs.  The engine splits them into PDUs under the
 * datagram budget, sends those one after the other, and calls cb once
 * with all the values in the order of oids.  Returns -1, with nothing
 * queued, for bad arguments.
 */
int
snmp_agent_get(struct snmp_agent *a, const struct snmp_oid *oids, size_t n,
    snmp_cb cb, void *arg)
{
	struct snmp_req *r;
	size_t i;

	if ((r = snmp_agent_req_new(a, SNMP_REQ_GET, oids, n, cb, arg)) == NULL)
		return -1;
	r->vb = xreallocarray(NULL, n, sizeof(*r->vb));
	r->nvb = r->cap = n;
	r->todo = xreallocarray(NULL, n, sizeof(*r->todo));
	for (i = 0; i < n; i++) {
		r->todo[i] = i;
		snmp_vb_init(&r->vb[i], &oids[i]);
	}
	r->ntodo = n;
	r->max_per_pdu = n;
	snmp_agent_queue(a, r);
	return 0;
}

/*
 * Queues a walk of the subtrees under roots (table columns, typically),
 * with GETBULK of up to max_repetitions rows, or GETNEXT for SNMPv1.
 * cb gets every varbind under the roots, root by root, each in OID order.
 */
int
snmp_agent_walk(struct snmp_agent *a, const struct snmp_oid *roots,
    size_t nroots, unsigned max_repetitions, snmp_cb cb, void *arg)
{
	struct snmp_req *r;

	if ((r = snmp_agent_req_new(a, SNMP_REQ_WALK, roots, nroots, cb,
		 arg)) == NULL)
		return -1;
	r->cursor = xreallocarray(NULL, nroots, sizeof(*r->cursor));
	memcpy(r->cursor, roots, nroots * sizeof(*r->cursor));
	r->finished = xcalloc(nroots, 1);
	r->cols = xcalloc(nroots, sizeof(*r->cols));
	r->max_rep = max_repetitions ? max_repetitions : 1;
	r->max_per_pdu = nroots;
	snmp_agent_queue(a, r);
	return 0;
}