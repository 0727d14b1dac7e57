/*
 * incidentctl report sla: a month's SLA and OLA figures (sla_report() in
 * sql/func/sla.sql works them out; this only lays them out) as text, as CSV
 * for Excel (UTF-8 with a byte order mark, CRLF), or as JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incidentctl.h"
#include "incidentd.h"

/* H:MM:SS of seconds, hours beyond 24 as they are; "" for NULL. */
#define HMS(x)                                       \
	"coalesce(to_char(make_interval(secs => (" x \
	")::double precision), 'FMHH24:MI:SS'), '')"

/* The agreements, one row each, formatted for people. */
static const char report_agreements_sql[] =
    "SELECT a->>'agreement' AS agreement, upper(a->>'kind') AS kind, "
    "a->>'service' AS service, a->>'party' AS party, "
    "a->>'calendar' AS calendar, " HMS("a->>'agreed_s'") " AS agreed, " HMS("a->>'excluded_s'") " AS excluded, " HMS("a->>'nodata_s'") " AS nodata, " HMS(
	"a->>'down_s'") " AS down, "
			"coalesce(to_char((a->>'availability')::numeric, 'FM990.0000') || '%', "
			" 'no data') AS availability, "
			"coalesce(to_char((a->>'availability_target')::numeric, "
			" 'FM990.0000') || '%', '-') AS target, "
			"CASE a->>'met' WHEN 'true' THEN 'yes' WHEN 'false' THEN 'NO' "
			" ELSE '-' END AS met, a->>'count' AS incidents, "
			"a->>'tto_breaches' AS tto_breaches, a->>'ttr_breaches' AS "
			"ttr_breaches, " HMS("a->>'mtta_s'") " AS mtta, " HMS(
			    "a->>'mttr_s'") " AS mttr, " HMS("a->>'mtbf_s'") " AS mtbf "
									     "FROM jsonb_array_elements($1::jsonb->'agreements') AS a";

static const char report_breaches_sql[] =
    "SELECT b->>'agreement' AS agreement, b->>'ref' AS ref, "
    "'P' || (b->>'priority') AS priority, upper(b->>'metric') AS metric, " HMS("b->>'value_s'") " AS value, " HMS(
	"b->>'target_s'") " AS target, " HMS("b->>'over_s'") " AS over, "
							     "CASE WHEN (b->>'open_at_end')::boolean THEN 'open' ELSE '' END "
							     " AS state "
							     "FROM jsonb_array_elements($1::jsonb->'breaches') AS b";

static const char report_counts_sql[] =
    "SELECT k.what, string_agg(CASE WHEN k.ord = 1 AND e.key <> '-' "
    " THEN 'P' ELSE '' END || e.key || ' ' || e.value, ', ' "
    " ORDER BY e.key) AS counts "
    "FROM (VALUES ('by priority', 'by_priority', 1), "
    " ('by segment', 'by_segment', 2), ('by cause', 'by_cause', 3)) "
    " AS k(what, field, ord), "
    "LATERAL jsonb_each_text($1::jsonb->'counts'->k.field) AS e "
    "GROUP BY k.what, k.ord ORDER BY k.ord";

/* The agreements as CSV for Excel: raw figures, seconds and percents. */
static const char report_csv_sql[] =
    "SELECT a->>'agreement', a->>'kind', a->>'service', a->>'party', "
    "a->>'calendar', a->>'maintenance', a->>'agreed_s', a->>'excluded_s', "
    "a->>'nodata_s', a->>'down_s', a->>'planned_s', "
    "coalesce(a->>'availability', ''), "
    "coalesce(a->>'availability_target', ''), coalesce(a->>'met', ''), "
    "a->>'count', a->>'tto_breaches', a->>'ttr_breaches', "
    "coalesce(a->>'mtta_s', ''), coalesce(a->>'mttr_s', ''), "
    "coalesce(a->>'mtbf_s', '') "
    "FROM jsonb_array_elements($1::jsonb->'agreements') AS a";

static const char *const report_csv_header[] = { "agreement", "kind", "service",
	"party", "calendar", "maintenance", "agreed_s", "excluded_s",
	"nodata_s", "down_s", "planned_s", "availability_pct", "target_pct",
	"met", "incidents", "tto_breaches", "ttr_breaches", "mtta_s", "mttr_s",
	"mtbf_s", NULL };

/* One CSV field, quoted when it must be (RFC 4180). */
static void
report_csv_field(const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void
report_csv(const PGresult *res)
{
	fputs("\xef\xbb\xbf", stdout);
	for (int c = 0; report_csv_header[c] != NULL; c++) {
		if (c > 0)
			putchar(',');
		fputs(report_csv_header[c], stdout);
	}
	fputs("\r\n", stdout);
	for (int r = 0; r < PQntuples(res); r++) {
		for (int c = 0; c < PQnfields(res); c++) {
			if (c > 0)
				putchar(',');
			report_csv_field(PQgetvalue(res, r, c));
		}
		fputs("\r\n", stdout);
	}
}

static void
report_text(PGconn *conn, const char *json, const char *month, const char *tz)
{
	static const char *const ah[] = { "AGREEMENT", "KIND", "SERVICE",
		"PARTY", "CALENDAR", "AGREED", "EXCLUDED", "NO DATA", "DOWN",
		"AVAILABILITY", "TARGET", "MET", "INCIDENTS", "TTO BREACHES",
		"TTR BREACHES", "MTTA", "MTTR", "MTBF", NULL };
	static const char *const bh[] = { "AGREEMENT", "INCIDENT", "P",
		"METRIC", "TIME", "TARGET", "OVER BY", "STATE", NULL };
	const char *params[1] = { json };
	PGresult *res;

	printf("SLA/OLA report for %s (%s); times in H:MM:SS of agreed "
	       "service time\n",
	    month, tz);
	res = ctl_query(conn,
	    "SELECT coalesce('closed: version ' || ($1::jsonb->>'version') || "
	    "' approved by ' || ($1::jsonb->>'approved_by') || ' at ' || "
	    "to_char(($1::jsonb->>'approved_at')::timestamptz, "
	    "'YYYY-MM-DD HH24:MI') || coalesce(' (' || nullif($1::jsonb->>"
	    "'reason', '') || ')', ''), (SELECT 'live figures; closed as "
	    "version ' || max(version) || ', see --version' FROM "
	    "sla_report_version WHERE month = $1::jsonb->>'month' HAVING "
	    "count(*) > 0), 'live figures; not closed yet')",
	    1, params);
	printf("%s\n\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	res = ctl_query(conn, report_agreements_sql, 1, params);
	if (PQntuples(res) == 0)
		printf(
		    "no agreements (see agreements: in incidentd.yaml(5))\n");
	else {
		ctl_print_table(res, ah);
		printf("availability = (agreed - excluded - no data - down) / "
		       "(agreed - excluded - no data)\n");
	}
	PQclear(res);
	res = ctl_query(conn, report_breaches_sql, 1, params);
	printf("\nBreaches: %d\n", PQntuples(res));
	if (PQntuples(res) > 0)
		ctl_print_table(res, bh);
	PQclear(res);
	res = ctl_query(conn, report_counts_sql, 1, params);
	printf("\nIncidents detected in the month:\n");
	if (PQntuples(res) == 0)
		printf("  none\n");
	for (int r = 0; r < PQntuples(res); r++)
		printf("  %s: %s\n", PQgetvalue(res, r, 0),
		    PQgetvalue(res, r, 1));
	PQclear(res);
}

/*
 * Says so when the configuration read defines agreements that the database
 * does not hold: incidentd stores them when it connects, not incidentctl,
 * so a report read before incidentd ever ran would silently lack them.
 */
static void
report_unstored(struct ctl *ctl, PGconn *conn)
{
	const char *params[1];
	PGresult *res;

	if (ctl->conf == NULL || ctl->conf->lifecycle_json == NULL)
		return;
	params[0] = ctl->conf->lifecycle_json;
	res = ctl_query(conn,
	    "SELECT count(*), string_agg(a->>'name', ', ' ORDER BY "
	    "a->>'name') FROM jsonb_array_elements(coalesce($1::jsonb->"
	    "'agreements', '[]')) AS a WHERE NOT EXISTS (SELECT 1 FROM "
	    "agreement g WHERE g.name = a->>'name')",
	    1, params);
	if (atoi(PQgetvalue(res, 0, 0)) > 0)
		fprintf(stderr,
		    "incidentctl: %s defines %s agreement%s that the "
		    "database does not hold yet (%s): incidentd stores them "
		    "when it connects; start or restart it, then report "
		    "again\n",
		    ctl->conffile, PQgetvalue(res, 0, 0),
		    atoi(PQgetvalue(res, 0, 0)) == 1 ? "" : "s",
		    PQgetvalue(res, 0, 1));
	PQclear(res);
}

/* --close: stores the month's report as the next approved version. */
static int
report_close(struct ctl *ctl)
{
	const char *params[5] = { ctl->month, ctl->timezone, ctl->actor,
		ctl->role, ctl->reason };
	PGconn *conn = ctl_connect(ctl);
	PGresult *res;
	int rc;

	res = lifecycle_change(conn,
	    "SELECT sla_report_close($1, $2, $3, $4, $5)", 5, params, &rc);
	if (res != NULL) {
		if (ctl->json) {
			json_t *j = json_pack("{s:b, s:s, s:i, s:s}", "ok", 1,
			    "month", ctl->month, "version",
			    atoi(PQgetvalue(res, 0, 0)), "approved_by",
			    ctl->actor);

			ctl_print_json(j);
			json_decref(j);
		} else
			printf("closed %s as version %s, approved by %s\n",
			    ctl->month, PQgetvalue(res, 0, 0), ctl->actor);
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}

/* --versions: the approved versions of a month. */
static int
report_versions(struct ctl *ctl)
{
	static const char *const h[] = { "VERSION", "APPROVED BY",
		"APPROVED AT", "REASON", NULL };
	const char *params[1] = { ctl->month };
	PGconn *conn = ctl_connect(ctl);
	PGresult *res;

	res = ctl_query(conn,
	    "SELECT version, approved_by, to_char(approved_at, "
	    "'YYYY-MM-DD HH24:MI:SS') AS approved_at, reason "
	    "FROM sla_report_version WHERE month = $1 ORDER BY version",
	    1, params);
	if (ctl->json) {
		json_t *j = ctl_rows_json(res);

		ctl_print_json(j);
		json_decref(j);
	} else if (PQntuples(res) == 0)
		printf("%s has not been closed\n", ctl->month);
	else
		ctl_print_table(res, h);
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/* report sla --month YYYY-MM [filters] [--format text|csv|json] */
int
report_run(struct ctl *ctl, int argc, char *argv[])
{
	const char *format = ctl->json ? "json" : ctl->format;
	const char *params[6];
	PGconn *conn;
	PGresult *res;
	int filters;

	if (argc != 1 || strcmp(argv[0], "sla") != 0) {
		fprintf(stderr,
		    "incidentctl: report sla --month YYYY-MM "
		    "[--service S | --department D | --provider P] "
		    "[--format text|csv|json]\n");
		return CTL_EXIT_USAGE;
	}
	if (format == NULL)
		format = "text";
	if (strcmp(format, "text") != 0 && strcmp(format, "csv") != 0 &&
	    strcmp(format, "json") != 0 && strcmp(format, "html") != 0) {
		fprintf(stderr,
		    "incidentctl: report: --format is text, csv, json or html, not "
		    "'%s'\n",
		    format);
		return CTL_EXIT_USAGE;
	}
	filters = (ctl->service != NULL) + (ctl->department != NULL) +
	    (ctl->provider != NULL);
	if (filters > 1) {
		fprintf(stderr,
		    "incidentctl: report: one of --service, "
		    "--department and --provider\n");
		return CTL_EXIT_USAGE;
	}
	if (ctl->month == NULL || strlen(ctl->month) != 7 ||
	    strspn(ctl->month, "0123456789") != 4 || ctl->month[4] != '-' ||
	    strspn(ctl->month + 5, "0123456789") != 2 ||
	    atoi(ctl->month + 5) < 1 || atoi(ctl->month + 5) > 12) {
		fprintf(stderr,
		    "incidentctl: report: --month YYYY-MM is "
		    "needed, as 2026-10\n");
		return CTL_EXIT_USAGE;
	}
	if (ctl->close + ctl->versions + (ctl->version != NULL) > 1 ||
	    ((ctl->close || ctl->versions || ctl->version != NULL) &&
		filters > 0)) {
		fprintf(stderr,
		    "incidentctl: report: --close, --versions and "
		    "--version go alone, and with no filter: a "
		    "closed report is the whole month's\n");
		return CTL_EXIT_USAGE;
	}
	if (ctl->close)
		return report_close(ctl);
	if (ctl->versions)
		return report_versions(ctl);
	params[0] = ctl->month;
	params[1] = ctl->timezone;
	params[2] = ctl->service;
	params[3] = ctl->department;
	params[4] = ctl->provider;
	conn = ctl_connect(ctl);
	if (ctl->version != NULL) {
		const char *vp[2] = { ctl->month, ctl->version };

		if (strspn(ctl->version, "0123456789") !=
			strlen(ctl->version) ||
		    *ctl->version == '\0' || strlen(ctl->version) > 9) {
			fprintf(stderr,
			    "incidentctl: report: --version is a "
			    "number\n");
			PQfinish(conn);
			return CTL_EXIT_USAGE;
		}
		res = ctl_query(conn,
		    "SELECT report::text FROM sla_report_version "
		    "WHERE month = $1 AND version = $2::integer",
		    2, vp);
		if (PQntuples(res) == 0) {
			fprintf(stderr,
			    "incidentctl: report: %s has no "
			    "version %s (see --versions)\n",
			    ctl->month, ctl->version);
			PQclear(res);
			PQfinish(conn);
			return CTL_EXIT_NOT_FOUND;
		}
	} else {
		report_unstored(ctl, conn);
		/* the drill-down (incidents, intervals) is for JSON only */
		params[5] = strcmp(format, "json") == 0 ? "true" : "false";
		res = ctl_query(conn,
		    "SELECT sla_report($1, $2, $3, $4, $5, $6)::text", 6,
		    params);
	}
	if (strcmp(format, "json") == 0) {
		json_t *j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);

		ctl_print_json(j);
		json_decref(j);
	} else if (strcmp(format, "html") == 0) {
		json_t *j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);

		report_html(j);
		json_decref(j);
	} else if (strcmp(format, "csv") == 0) {
		const char *p[1] = { PQgetvalue(res, 0, 0) };
		PGresult *rows = ctl_query(conn, report_csv_sql, 1, p);

		report_csv(rows);
		PQclear(rows);
	} else
		report_text(conn, PQgetvalue(res, 0, 0), ctl->month,
		    ctl->timezone);
	PQclear(res);
	PQfinish(conn);
	return 0;
}
