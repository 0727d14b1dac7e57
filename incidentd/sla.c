/*
 * The SLA report's figures, kept up to date in the background by
 * sla_refresh() (sql/func/sla.sql); the agreements themselves are read by
 * conf_sla.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libpq-fe.h>

#include "db.h"
#include "incidentd.h"
#include "log.h"

/*
 * The report's figures, worked out in the background (sla_refresh() in
 * sql/func/sla.sql): small batches one after the other while there is
 * work, each queued behind what else waits for the database connection so
 * that it is never held for long; then a look once a minute.
 */
#define SLA_REFRESH_BATCH 20
#define SLA_REFRESH_IDLE_S 60

static void
sla_refresh_cb(struct db *db, const PGresult *res, void *arg)
{
	struct incidentd *idd = arg;
	long days, incidents;

	(void)db;
	idd->sla_busy = 0;
	if (!db_result_ok(res) || PQntuples(res) != 1) {
		if (res != NULL)
			log_warnx("sla: working out the report's figures: %s",
			    PQresultErrorMessage(res));
		idd->sla_next = time(NULL) + SLA_REFRESH_IDLE_S;
		return;
	}
	days = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	incidents = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	if (days > 0 || incidents > 0)
		log_debug("sla: kept %ld agreement days and %ld incidents' "
			  "figures",
		    days, incidents);
	/* a full batch: the next one now, behind what else is queued */
	if (days >= SLA_REFRESH_BATCH || incidents >= SLA_REFRESH_BATCH) {
		idd->sla_next = 0;
		sla_refresh_run(idd);
	} else
		idd->sla_next = time(NULL) + SLA_REFRESH_IDLE_S;
}

void
sla_refresh_run(struct incidentd *idd)
{
	char batch[16];
	const char *params[2] = { idd->conf->timezone, batch };

	if (idd->sla_busy || idd->stopping || !idd->active ||
	    !db_connected(idd->db) || time(NULL) < idd->sla_next)
		return;
	idd->sla_busy = 1;
	snprintf(batch, sizeof(batch), "%d", SLA_REFRESH_BATCH);
	db_query(idd->db,
	    "SELECT days, incidents FROM sla_refresh($1, $2::integer, NULL)", 2,
	    params, 0, sla_refresh_cb, idd);
}
