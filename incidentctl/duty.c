/*
 * incidentctl duty: each team's office hours and who is on duty, now or at
 * another moment, as incidentd decides it when it sends (008_delivery).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "incidentctl.h"

int
duty_run(struct ctl *ctl)
{
	static const char *const headers[] = { "TEAM", "CALENDAR", "OFFICE",
		"OPENS", "ON DUTY", "AFTER HOURS", NULL };
	const char *params[1] = { ctl->at };
	PGconn *conn = ctl_connect(ctl);
	PGresult *res;

	if (ctl->at != NULL) {
		res = PQexecParams(conn, "SELECT $1::timestamptz", 1, NULL,
		    params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr,
			    "incidentctl: duty: --at '%s' is not a time, as "
			    "'2026-12-31 22:00' (in %s) or "
			    "'2026-12-31 22:00+09'\n",
			    ctl->at, ctl->timezone);
			PQclear(res);
			PQfinish(conn);
			return CTL_EXIT_USAGE;
		}
		PQclear(res);
	}
	res = ctl_query(conn,
	    "SELECT t.name AS team, coalesce(t.calendar, '') AS calendar, "
	    "CASE WHEN calendar_is_open(t.calendar, a.at) THEN 'open' "
	    " ELSE 'closed' END AS office, "
	    "CASE WHEN calendar_is_open(t.calendar, a.at) THEN '' "
	    " ELSE coalesce(to_char(calendar_next_open(t.calendar, a.at), "
	    "  'YYYY-MM-DD HH24:MI'), 'never') END AS opens, "
	    "coalesce(team_on_duty(t.name, a.at), '') AS on_duty, "
	    "array_to_string(ARRAY(SELECT 'P' || p FROM "
	    " unnest(t.after_hours) AS p), ',') AS after_hours "
	    "FROM team t, (SELECT coalesce($1::timestamptz, now()) AS at) a "
	    "ORDER BY t.name",
	    1, params);
	if (ctl->json) {
		json_t *j = ctl_rows_json(res);

		ctl_print_json(j);
		json_decref(j);
	} else if (PQntuples(res) == 0)
		printf("no teams (see teams: in incidentd.yaml(5))\n");
	else
		ctl_print_table(res, headers);
	PQclear(res);
	PQfinish(conn);
	return 0;
}
