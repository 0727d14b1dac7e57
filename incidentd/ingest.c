/*
 * Ingest: turns monitord's state changes into incidents.  All the rules are
 * in the SQL function incident_ingest(), which reads state_event past this
 * instance's cursor, opens or recovers incidents, queues notifications and
 * advances the cursor in one transaction; a crash at any point neither loses
 * nor repeats anything.  Here we only decide when to call it: on NOTIFY, on
 * (re)connect and on a poll timer, one call at a time.  The poll also
 * releases incidents whose maintenance window ended with the fault still
 * there (incident_release_silenced), so that their message goes out.
 */
#include "config.h"

#include <stdlib.h>

#include "db.h"
#include "incidentd.h"

/* Events per call: one transaction should stay short. */
#define INGEST_BATCH "500"
#define INGEST_BATCH_N 500

static void
ingest_done_cb(struct db *db, const PGresult *res, void *arg)
{
	struct incidentd *idd = arg;
	long n;

	(void)db;
	idd->ingest_busy = 0;
	if (res == NULL)
		return;
	if (!db_result_ok(res) || PQntuples(res) != 1) {
		log_warnx("ingest failed: %s", PQresultErrorMessage(res));
		return;
	}
	n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0) {
		idd->events_applied += (uint64_t)n;
		log_info("applied %ld state change%s", n, n == 1 ? "" : "s");
		notify_run(idd);
	}
	if (n >= INGEST_BATCH_N || idd->ingest_again)
		ingest_run(idd);
}

/* Applies what is new in state_event; coalesces calls while one runs. */
void
ingest_run(struct incidentd *idd)
{
	const char *params[3];

	if (idd->stopping || !idd->active || !db_connected(idd->db))
		return;
	if (idd->ingest_busy) {
		idd->ingest_again = 1;
		return;
	}
	idd->ingest_busy = 1;
	idd->ingest_again = 0;
	params[0] = idd->conf->instance;
	params[1] = idd->conf->recipients_json;
	params[2] = INGEST_BATCH;
	db_query(idd->db, "SELECT incident_ingest($1, $2::jsonb, $3)", 3,
	    params, DB_RETRY, ingest_done_cb, idd);
}

static void
ingest_release_cb(struct db *db, const PGresult *res, void *arg)
{
	struct incidentd *idd = arg;
	long n, r, e;

	(void)db;
	idd->release_busy = 0;
	if (res == NULL)
		return;
	if (!db_result_ok(res) || PQntuples(res) != 1 || PQnfields(res) != 3) {
		log_warnx("releasing silenced incidents failed: %s",
		    PQresultErrorMessage(res));
		return;
	}
	n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0)
		log_info("%ld incident%s still failing after maintenance: "
			 "notified",
		    n, n == 1 ? "" : "s");
	r = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	if (r > 0)
		log_info("%ld unacknowledged incident%s reminded of", r,
		    r == 1 ? "" : "s");
	e = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	if (e > 0)
		log_info("%ld escalation message%s queued", e,
		    e == 1 ? "" : "s");
	if (n > 0 || r > 0 || e > 0)
		notify_run(idd);
}

/*
 * Sends the messages that maintenance held back, once it has ended, and
 * the reminders of unacknowledged urgent incidents that are due.
 */
void
ingest_release(struct incidentd *idd)
{
	const char *params[1];

	if (idd->stopping || idd->release_busy || !idd->active)
		return;
	idd->release_busy = 1;
	params[0] = idd->conf->recipients_json;
	db_query(idd->db,
	    "SELECT incident_release_silenced($1::jsonb), "
	    "incident_remind($1::jsonb), incident_escalate($1::jsonb)",
	    1, params, DB_RETRY, ingest_release_cb, idd);
}
