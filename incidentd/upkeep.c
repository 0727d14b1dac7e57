/*
 * The measured values' store kept to its retention (sql/func/metrics.sql):
 * while this incidentd is the active one, metric_maintain() runs one step
 * at a time, again at once while a step did something, and every twelve
 * polls otherwise.  It has a connection of its own: folding the hour of a
 * large network takes tens of seconds, which ingesting state changes and
 * sending notifications must not wait behind.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "incidentd.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

#define UPKEEP_POLLS 12 /* idle: a step every this many poll intervals */

struct upkeep {
	struct incidentd *idd;
	struct db *db;
	struct event *timer;
	int busy;
};

static void upkeep_step(struct upkeep *);

static void
upkeep_connect_cb(struct db *db, void *arg)
{
	(void)db;
	upkeep_kick(arg);
}

static void
upkeep_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	upkeep_step(arg);
}

/* Arms the next step: at once, or after the idle interval. */
static void
upkeep_again(struct upkeep *up, int now)
{
	struct timeval tv = timeutil_ms_to_tv(
	    now ? 0 : up->idd->conf->poll_interval_ms * UPKEEP_POLLS);

	if (event_add(up->timer, &tv) == -1)
		log_warnx("upkeep: cannot arm its timer");
}

static void
upkeep_done_cb(struct db *db, const PGresult *res, void *arg)
{
	struct upkeep *up = arg;
	const char *did;

	(void)db;
	up->busy = 0;
	if (res == NULL) {
		upkeep_again(up, 0);
		return;
	}
	if (!db_result_ok(res)) {
		/* a lock not had in time, a disk full: the next step retries */
		log_warnx("metric store upkeep: %s", PQresultErrorMessage(res));
		upkeep_again(up, 0);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		upkeep_again(up, 0);
		return;
	}
	did = PQgetvalue(res, 0, 0);
	if (strncmp(did, "made ", 5) == 0)
		log_debug("metric store: %s", did);
	else
		log_info("metric store: %s", did);
	upkeep_again(up, 1);
}

static void
upkeep_step(struct upkeep *up)
{
	struct incidentd *idd = up->idd;

	if (up->busy || idd->stopping)
		return;
	if (!idd->active || !db_connected(up->db)) {
		upkeep_again(up, 0);
		return;
	}
	up->busy = 1;
	db_query(up->db, "SELECT metric_maintain()", 0, NULL, 0, upkeep_done_cb,
	    up);
}

/* Starts the upkeep; its first step comes once the connection is up. */
struct upkeep *
upkeep_new(struct incidentd *idd)
{
	struct upkeep *up = xcalloc(1, sizeof(*up));

	up->idd = idd;
	up->db = db_new(idd->base, idd->conf->database, "metric store");
	up->timer = event_new(idd->base, -1, 0, upkeep_timer_cb, up);
	if (up->timer == NULL)
		fatalx("upkeep: cannot make its timer");
	db_set_connect_cb(up->db, upkeep_connect_cb, up);
	db_start(up->db);
	upkeep_again(up, 0);
	return up;
}

/* Runs a step now: when this incidentd has just become the active one. */
void
upkeep_kick(struct upkeep *up)
{
	if (up != NULL && !up->busy) {
		event_del(up->timer);
		upkeep_step(up);
	}
}

void
upkeep_free(struct upkeep *up)
{
	if (up == NULL)
		return;
	db_free(up->db); /* a step in flight is rolled back */
	event_free(up->timer);
	free(up);
}
