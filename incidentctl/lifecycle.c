/*
 * The lifecycle commands of incidentctl: list, show, history, ack, assign,
 * advance, set, note, open and problem.  Every change is one call of the
 * SQL function that incidentd uses too (incident_advance, incident_set...),
 * which checks it and writes the audit row; here we only parse arguments,
 * call it, and turn its refusal into a message and an exit code.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "incidentctl.h"
#include "xmalloc.h"

#define DATE_FMT "'YYYY-MM-DD HH24:MI:SS'"

/*
 * Reads "INC-000123" or "123" into buf as the bare number; returns -1
 * with a message for anything else.
 */
static int
lifecycle_ref(const char *what, const char *prefix, const char *s, char *buf,
    size_t size)
{
	long long id;
	char *end;
	size_t plen = strlen(prefix);

	if (strncasecmp(s, prefix, plen) == 0)
		s += plen;
	errno = 0;
	id = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || id <= 0) {
		fprintf(stderr,
		    "incidentctl: %s: '%s' is not a number or a "
		    "reference (%s000123)\n",
		    what, s, prefix);
		return -1;
	}
	snprintf(buf, size, "%lld", id);
	return 0;
}

/*
 * Runs a change; on a refusal prints the database's one-line reason and
 * returns NULL with *rc set to the exit code that fits it.
 */
PGresult *
lifecycle_change(PGconn *conn, const char *sql, int n,
    const char *const *params, int *rc)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	const char *state, *msg;

	if (PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK) {
		*rc = CTL_EXIT_OK;
		return res;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (state != NULL && strcmp(state, "LC001") == 0)
		*rc = CTL_EXIT_REFUSED;
	else if (state != NULL && strcmp(state, "LC002") == 0)
		*rc = CTL_EXIT_CONFLICT;
	else if (state != NULL && strcmp(state, "LC003") == 0)
		*rc = CTL_EXIT_NOT_FOUND;
	else
		*rc = CTL_EXIT_ERROR;
	fprintf(stderr, "incidentctl: %s%s\n",
	    msg != NULL ? msg : PQresultErrorMessage(res),
	    *rc == CTL_EXIT_REFUSED || *rc == CTL_EXIT_CONFLICT ?
		" (nothing was changed)" :
		"");
	PQclear(res);
	return NULL;
}

/* The fields given with --set, as JSON text for the SQL functions. */
static char *
lifecycle_fields_json(const struct ctl *ctl)
{
	char *s;

	if (ctl->fields == NULL)
		return xstrdup("{}");
	s = json_dumps(ctl->fields, JSON_COMPACT | JSON_SORT_KEYS);

	if (s == NULL) {
		fprintf(stderr, "incidentctl: cannot encode the fields\n");
		exit(CTL_EXIT_ERROR);
	}
	return s;
}

/* Adds one --set field=value; returns -1 with a message if malformed. */
int
lifecycle_parse_set(struct ctl *ctl, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[64];

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
		fprintf(stderr,
		    "incidentctl: --set wants field=value, not "
		    "'%s'\n",
		    arg);
		return -1;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	if (ctl->fields == NULL)
		ctl->fields = json_object();
	if (json_object_set_new(ctl->fields, name, json_string(eq + 1)) == -1) {
		fprintf(stderr, "incidentctl: --set %s: not valid UTF-8\n",
		    name);
		return -1;
	}
	return 0;
}

int
lifecycle_list(struct ctl *ctl)
{
	static const char *const headers[] = { "REF", "STATUS", "PHASE", "P",
		"SEVERITY", "SEGMENT", "HOST", "CHECK", "DETECTED", "ACK",
		"ASSIGNEE", NULL };
	char limit[32];
	const char *params[6];
	PGconn *conn;
	PGresult *res;

	if (ctl->status != NULL && strcmp(ctl->status, "open") != 0 &&
	    strcmp(ctl->status, "closed") != 0) {
		fprintf(stderr, "incidentctl: list: --open or --closed\n");
		return CTL_EXIT_USAGE;
	}
	snprintf(limit, sizeof(limit), "%ld", ctl->limit);
	params[0] = ctl->all || ctl->status != NULL || ctl->phase != NULL ?
	    "true" :
	    "false";
	params[1] = limit;
	params[2] = ctl->phase;
	params[3] = ctl->segment;
	params[4] = ctl->priority;
	params[5] = ctl->status;
	conn = ctl_connect(ctl);
	res = ctl_query(conn,
	    "SELECT ref, status, phase, coalesce('P' || priority, '') AS p, "
	    "severity, segment, host, check_name AS check, "
	    "to_char(detected_at, " DATE_FMT ") AS detected, "
	    "coalesce(acknowledged_by, '') AS ack, "
	    "coalesce(assignee, '') AS assignee "
	    "FROM incident "
	    "WHERE ($1::boolean OR phase <> 'closed' "
	    "       OR closed_at > now() - interval '7 days') "
	    "  AND ($3::text IS NULL OR phase = $3) "
	    "  AND ($4::text IS NULL OR segment = $4) "
	    "  AND ($5::text IS NULL OR priority = "
	    "       $5::smallint) "
	    "  AND ($6::text IS NULL OR (phase = 'closed') = ($6 = 'closed')) "
	    "ORDER BY (phase = 'closed'), (status = 'open') DESC, "
	    "  priority NULLS LAST, detected_at DESC, id DESC "
	    "LIMIT $2::bigint",
	    6, params);
	if (ctl->json) {
		json_t *j = ctl_rows_json(res);

		ctl_print_json(j);
		json_decref(j);
	} else if (PQntuples(res) == 0)
		printf("no incidents\n");
	else
		ctl_print_table(res, headers);
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/* Prints label: value lines of one row, skipping NULL and empty values. */
static void
lifecycle_print_row(const PGresult *res)
{
	for (int c = 0; c < PQnfields(res); c++) {
		if (PQgetisnull(res, 0, c) || *PQgetvalue(res, 0, c) == '\0')
			continue;
		printf("%-22s %s\n", PQfname(res, c), PQgetvalue(res, 0, c));
	}
}

/* The history of an incident: moves, field changes and notes in order. */
static PGresult *
lifecycle_history_rows(PGconn *conn, const char *const *params)
{
	return ctl_query(conn,
	    "SELECT to_char(at, " DATE_FMT ") AS at, actor, role, what, "
	    "detail, reason FROM ("
	    " SELECT at, id, 1 AS k, actor, role, "
	    "  CASE WHEN from_phase IS NULL THEN 'opened' "
	    "       WHEN from_phase <> to_phase THEN 'phase' "
	    "       ELSE 'status' END AS what, "
	    "  CASE WHEN from_phase IS NULL THEN to_phase "
	    "       WHEN from_phase <> to_phase THEN "
	    "         from_phase || ' -> ' || to_phase "
	    "       ELSE from_status || ' -> ' || to_status END AS detail, "
	    "  reason FROM incident_transition WHERE incident_id = $1::bigint "
	    " UNION ALL "
	    " SELECT at, id, 2, actor, role, 'field', "
	    "  field || ': ' || coalesce(old_value::text, 'null') || ' -> ' "
	    "  || coalesce(new_value::text, 'null'), reason "
	    "  FROM incident_field_change WHERE incident_id = $1::bigint "
	    " UNION ALL "
	    " SELECT at, id, 3, actor, role, 'note', body, '' "
	    "  FROM incident_note WHERE incident_id = $1::bigint "
	    ") AS h ORDER BY h.at, h.k, h.id",
	    1, params);
}

static void
lifecycle_print_history(const PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++) {
		const char *reason = PQgetvalue(res, r, 5);

		printf("  %s  %s (%s)  %s  %s%s%s\n", PQgetvalue(res, r, 0),
		    PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
		    PQgetvalue(res, r, 3), PQgetvalue(res, r, 4),
		    *reason ? "  -- " : "", reason);
	}
}

/* Looks the incident up; prints and returns NULL if there is none. */
static PGresult *
lifecycle_fetch(PGconn *conn, const char *const *params)
{
	PGresult *inc = ctl_query(conn,
	    "SELECT i.id, i.ref AS reference, i.status, "
	    "  i.phase || ' (' || p.name_ja || ')' AS phase, "
	    "  'P' || i.priority AS priority, i.impact, i.urgency, "
	    "  i.severity, i.origin, i.host, i.check_name AS check, "
	    "  i.segment, i.summary, i.source, i.reported_by, "
	    "  to_char(i.detected_at, " DATE_FMT ") AS detected, "
	    "  to_char(i.acknowledged_at, " DATE_FMT ") || ' by ' || "
	    "    i.acknowledged_by AS acknowledged, "
	    "  i.assignee || ' (' || i.assignee_kind || ')' AS assignee, "
	    "  to_char(i.recovered_at, " DATE_FMT ") AS recovered, "
	    "  to_char(i.closed_at, " DATE_FMT ") AS closed, "
	    "  nullif(i.reopen_count, 0) AS reopened, "
	    "  i.silenced_by || ' until ' || to_char(i.silenced_until, " DATE_FMT
	    ") AS silenced_by_maintenance, "
	    "  i.suspected_component, i.suspected_segment, "
	    "  array_to_string(i.affected_services, ', ') AS "
	    "    affected_services, "
	    "  array_to_string(i.affected_departments, ', ') AS "
	    "    affected_departments, "
	    "  i.countermeasure, i.cause, i.action, "
	    "  to_char(i.fault_start, " DATE_FMT ") AS fault_start, "
	    "  to_char(i.fault_end, " DATE_FMT ") AS fault_end, "
	    "  pr.ref || ' ' || pr.title AS problem, i.fix_waiver, "
	    "  sp.ref || ' ' || sp.title AS suggested_problem, "
	    "  i.manual_doc, i.manual_rev, i.manual_waiver, "
	    "  (SELECT count(*) FROM incident_child c "
	    "   WHERE c.incident_id = i.id) AS children, "
	    "  array_to_string(lifecycle_missing(i, i.phase), ', ') AS "
	    "    missing_to_advance "
	    "FROM incident i JOIN lifecycle_phase p ON p.phase = i.phase "
	    "LEFT JOIN problem pr ON pr.id = i.problem_id "
	    "LEFT JOIN problem sp ON sp.id = i.suggested_problem_id "
	    "WHERE i.id = $1::bigint",
	    1, params);

	if (PQntuples(inc) == 0) {
		fprintf(stderr, "incidentctl: no incident INC-%06lld\n",
		    strtoll(params[0], NULL, 10));
		PQclear(inc);
		return NULL;
	}
	return inc;
}

int
lifecycle_show(struct ctl *ctl, const char *which)
{
	char id[32];
	const char *params[1] = { id };
	PGconn *conn;
	PGresult *inc, *hist, *kids, *nt;

	if (lifecycle_ref("show", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	conn = ctl_connect(ctl);
	if ((inc = lifecycle_fetch(conn, params)) == NULL) {
		PQfinish(conn);
		return CTL_EXIT_NOT_FOUND;
	}
	hist = lifecycle_history_rows(conn, params);
	kids = ctl_query(conn,
	    "SELECT host, check_name AS check, state, host_state, "
	    "to_char(recovered_at, " DATE_FMT ") AS recovered "
	    "FROM incident_child WHERE incident_id = $1::bigint "
	    "ORDER BY host, check_name",
	    1, params);
	nt = ctl_query(conn,
	    "SELECT id, kind, round, channel, recipient, status, attempts, "
	    "to_char(sent_at, " DATE_FMT ") AS sent_at, "
	    "to_char(next_attempt_at, " DATE_FMT ") AS next_attempt_at, "
	    "last_error FROM notification WHERE incident_id = $1::bigint "
	    "ORDER BY id",
	    1, params);
	if (ctl->json) {
		json_t *rows = ctl_rows_json(inc);
		json_t *j = json_incref(json_array_get(rows, 0));

		json_decref(rows);
		json_object_set_new(j, "history", ctl_rows_json(hist));
		json_object_set_new(j, "children", ctl_rows_json(kids));
		json_object_set_new(j, "notifications", ctl_rows_json(nt));
		ctl_print_json(j);
		json_decref(j);
	} else {
		lifecycle_print_row(inc);
		if (PQntuples(kids) > 0) {
			printf("\nattached (unreachable or suppressed behind "
			       "this fault): %d\n",
			    PQntuples(kids));
			for (int r = 0; r < PQntuples(kids) && r < 20; r++)
				printf("  %s/%s %s%s%s\n",
				    PQgetvalue(kids, r, 0),
				    PQgetvalue(kids, r, 1),
				    PQgetvalue(kids, r, 2),
				    PQgetisnull(kids, r, 4) ? "" :
							      ", recovered ",
				    PQgetvalue(kids, r, 4));
			if (PQntuples(kids) > 20)
				printf("  ... and %d more\n",
				    PQntuples(kids) - 20);
		}
		printf("\nhistory:\n");
		lifecycle_print_history(hist);
		printf("\nnotifications:\n");
		if (PQntuples(nt) == 0)
			printf("  none\n");
		for (int r = 0; r < PQntuples(nt); r++) {
			printf("  #%s %s%s%s %s to %s: %s, %s attempt%s",
			    PQgetvalue(nt, r, 0), PQgetvalue(nt, r, 1),
			    strcmp(PQgetvalue(nt, r, 2), "0") == 0 ? "" : " #",
			    strcmp(PQgetvalue(nt, r, 2), "0") == 0 ?
				"" :
				PQgetvalue(nt, r, 2),
			    PQgetvalue(nt, r, 3), PQgetvalue(nt, r, 4),
			    PQgetvalue(nt, r, 5), PQgetvalue(nt, r, 6),
			    strcmp(PQgetvalue(nt, r, 6), "1") == 0 ? "" : "s");
			if (!PQgetisnull(nt, r, 7))
				printf(", sent %s", PQgetvalue(nt, r, 7));
			else if (strcmp(PQgetvalue(nt, r, 5), "pending") == 0)
				printf(", next try %s", PQgetvalue(nt, r, 8));
			if (!PQgetisnull(nt, r, 9))
				printf(", last error: %s",
				    PQgetvalue(nt, r, 9));
			printf("\n");
		}
	}
	PQclear(inc);
	PQclear(hist);
	PQclear(kids);
	PQclear(nt);
	PQfinish(conn);
	return CTL_EXIT_OK;
}

int
lifecycle_history(struct ctl *ctl, const char *which)
{
	char id[32];
	const char *params[1] = { id };
	PGconn *conn;
	PGresult *inc, *hist;

	if (lifecycle_ref("history", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	conn = ctl_connect(ctl);
	if ((inc = lifecycle_fetch(conn, params)) == NULL) {
		PQfinish(conn);
		return CTL_EXIT_NOT_FOUND;
	}
	hist = lifecycle_history_rows(conn, params);
	if (ctl->json) {
		json_t *j = ctl_rows_json(hist);

		ctl_print_json(j);
		json_decref(j);
	} else {
		printf("%s %s\n", PQgetvalue(inc, 0, 1),
		    PQgetvalue(inc, 0, 12));
		lifecycle_print_history(hist);
	}
	PQclear(inc);
	PQclear(hist);
	PQfinish(conn);
	return CTL_EXIT_OK;
}

/*
 * Reports a change that was made: "before value after" for people, or
 * {"ok": true, "value": ..., "message": ...} with --json.
 */
static void
lifecycle_done(const struct ctl *ctl, const char *before, const char *value,
    const char *after)
{
	char *msg;
	json_t *j;

	msg = xasprintf("%s%s%s", before, value, after);
	if (ctl->json) {
		j = json_pack("{s:b, s:s, s:s}", "ok", 1, "value", value,
		    "message", msg);
		ctl_print_json(j);
		json_decref(j);
	} else
		printf("%s\n", msg);
	free(msg);
}

/*
 * Connects and runs one change; prints before, the last column of the
 * answer, and after.
 */
static int
lifecycle_run(struct ctl *ctl, const char *sql, int n,
    const char *const *params, const char *before, const char *after)
{
	PGconn *conn = ctl_connect(ctl);
	PGresult *res;
	int rc;

	if ((res = lifecycle_change(conn, sql, n, params, &rc)) != NULL) {
		lifecycle_done(ctl, before,
		    PQntuples(res) > 0 ?
			PQgetvalue(res, 0, PQnfields(res) - 1) :
			"",
		    after);
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}

int
lifecycle_ack(struct ctl *ctl, const char *which)
{
	char id[32], ref[64];
	const char *params[3] = { id, ctl->actor, ctl->role };
	PGconn *conn;
	PGresult *res;
	int rc;

	if (lifecycle_ref("ack", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	snprintf(ref, sizeof(ref), "INC-%06lld", strtoll(id, NULL, 10));
	conn = ctl_connect(ctl);
	res = lifecycle_change(conn, "SELECT incident_ack($1::bigint, $2, $3)",
	    3, params, &rc);
	if (res != NULL) {
		if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			lifecycle_done(ctl, ref, " acknowledged by ",
			    ctl->actor);
		else
			lifecycle_done(ctl, ref, "",
			    " was acknowledged "
			    "already");
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}

int
lifecycle_assign(struct ctl *ctl, const char *which)
{
	char id[32], ref[64];
	const char *params[6];

	if (lifecycle_ref("assign", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	if (ctl->to == NULL) {
		fprintf(stderr, "incidentctl: assign: --to NAME is needed\n");
		return CTL_EXIT_USAGE;
	}
	snprintf(ref, sizeof(ref), "INC-%06lld", strtoll(id, NULL, 10));
	params[0] = id;
	params[1] = ctl->actor;
	params[2] = ctl->role;
	params[3] = ctl->to;
	params[4] = ctl->kind != NULL ? ctl->kind : "person";
	params[5] = ctl->reason;
	return lifecycle_run(ctl,
	    "SELECT incident_assign($1::bigint, $2, $3, $4, $5, $6), $4", 6,
	    params, strcat(ref, " assigned to "), "");
}

int
lifecycle_advance(struct ctl *ctl, const char *which, const char *phase)
{
	char id[32], ref[64], *fields;
	const char *params[7];
	PGconn *conn;
	PGresult *cur, *res;
	int rc;

	if (lifecycle_ref("advance", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	snprintf(ref, sizeof(ref), "INC-%06lld", strtoll(id, NULL, 10));
	conn = ctl_connect(ctl);
	/* The phase we move from: if it changes before our move, the
	 * move is refused as a conflict rather than applied blindly. */
	params[0] = id;
	cur = ctl_query(conn,
	    "SELECT phase FROM incident WHERE id = $1::bigint", 1, params);
	if (PQntuples(cur) == 0) {
		fprintf(stderr, "incidentctl: no incident %s\n", ref);
		PQclear(cur);
		PQfinish(conn);
		return CTL_EXIT_NOT_FOUND;
	}
	fields = lifecycle_fields_json(ctl);
	params[1] = phase;
	params[2] = PQgetvalue(cur, 0, 0);
	params[3] = ctl->actor;
	params[4] = ctl->role;
	params[5] = fields;
	params[6] = ctl->reason;
	res = lifecycle_change(conn,
	    "SELECT incident_advance($1::bigint, $2, $3, $4, $5, $6::jsonb, "
	    "$7)",
	    7, params, &rc);
	if (res != NULL) {
		char from[160];

		snprintf(from, sizeof(from), "%s: %s -> ", ref, params[2]);
		lifecycle_done(ctl, from, PQgetvalue(res, 0, 0), "");
		PQclear(res);
	}
	free(fields);
	PQclear(cur);
	PQfinish(conn);
	return rc;
}

int
lifecycle_set(struct ctl *ctl, const char *which)
{
	char id[32], ref[64], *fields;
	const char *params[5];
	int rc;

	if (lifecycle_ref("set", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	if (ctl->fields == NULL) {
		fprintf(stderr,
		    "incidentctl: set: nothing to set (--set "
		    "field=value)\n");
		return CTL_EXIT_USAGE;
	}
	snprintf(ref, sizeof(ref), "INC-%06lld", strtoll(id, NULL, 10));
	fields = lifecycle_fields_json(ctl);
	params[0] = id;
	params[1] = ctl->actor;
	params[2] = ctl->role;
	params[3] = fields;
	params[4] = ctl->reason;
	rc = lifecycle_run(ctl,
	    "SELECT incident_set($1::bigint, $2, $3, $4::jsonb, $5)", 5, params,
	    strcat(ref, ": fields changed: "), "");
	free(fields);
	return rc;
}

int
lifecycle_note(struct ctl *ctl, const char *which, const char *text)
{
	char id[32], ref[64];
	const char *params[4];

	if (lifecycle_ref("note", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	snprintf(ref, sizeof(ref), "INC-%06lld", strtoll(id, NULL, 10));
	params[0] = id;
	params[1] = ctl->actor;
	params[2] = ctl->role;
	params[3] = text;
	return lifecycle_run(ctl,
	    "SELECT incident_add_note($1::bigint, $2, $3, $4)", 4, params,
	    strcat(ref, ": note #"), " added");
}

int
lifecycle_open(struct ctl *ctl)
{
	char *fields;
	const char *params[7];
	int rc;

	if (ctl->summary == NULL) {
		fprintf(stderr,
		    "incidentctl: open: --summary TEXT is "
		    "needed\n");
		return CTL_EXIT_USAGE;
	}
	fields = lifecycle_fields_json(ctl);
	params[0] = ctl->actor;
	params[1] = ctl->role;
	params[2] = ctl->summary;
	params[3] = ctl->host;
	params[4] = ctl->segment;
	params[5] = ctl->reported_by;
	params[6] = fields;
	rc = lifecycle_run(ctl,
	    "SELECT 'INC-' || lpad(incident_open_manual($1, $2, $3, $4, $5, "
	    "$6, $7::jsonb)::text, 6, '0')",
	    7, params, "", " opened");
	free(fields);
	return rc;
}

/* problem create|update|link|show */
int
lifecycle_problem(struct ctl *ctl, int argc, char *argv[])
{
	char id[32], pid[32], *fields;
	const char *params[6];
	int rc;

	if (argc >= 1 && strcmp(argv[0], "create") == 0 && argc == 1) {
		if (ctl->title != NULL) {
			if (ctl->fields == NULL)
				ctl->fields = json_object();
			json_object_set_new(ctl->fields, "title",
			    json_string(ctl->title));
		}
		fields = lifecycle_fields_json(ctl);
		params[0] = ctl->actor;
		params[1] = ctl->role;
		params[2] = fields;
		params[3] = ctl->reason;
		rc = lifecycle_run(ctl,
		    "SELECT 'PRB-' || lpad(problem_save(NULL, $1, $2, "
		    "$3::jsonb, $4)::text, 6, '0')",
		    4, params, "", " created");
		free(fields);
		return rc;
	}
	if (argc == 2 && strcmp(argv[0], "update") == 0) {
		if (lifecycle_ref("problem update", "PRB-", argv[1], pid,
			sizeof(pid)) == -1)
			return CTL_EXIT_USAGE;
		fields = lifecycle_fields_json(ctl);
		params[0] = pid;
		params[1] = ctl->actor;
		params[2] = ctl->role;
		params[3] = fields;
		params[4] = ctl->reason;
		rc = lifecycle_run(ctl,
		    "SELECT 'PRB-' || lpad(problem_save($1::bigint, $2, $3, "
		    "$4::jsonb, $5)::text, 6, '0')",
		    5, params, "", " updated");
		free(fields);
		return rc;
	}
	if (argc == 3 && strcmp(argv[0], "link") == 0) {
		json_t *f;

		if (lifecycle_ref("problem link", "INC-", argv[1], id,
			sizeof(id)) == -1 ||
		    lifecycle_ref("problem link", "PRB-", argv[2], pid,
			sizeof(pid)) == -1)
			return CTL_EXIT_USAGE;
		f = json_pack("{s:s}", "problem_id", pid);
		fields = json_dumps(f, JSON_COMPACT);
		json_decref(f);
		params[0] = id;
		params[1] = ctl->actor;
		params[2] = ctl->role;
		params[3] = fields;
		params[4] = ctl->reason;
		rc = lifecycle_run(ctl,
		    "SELECT incident_set($1::bigint, $2, $3, $4::jsonb, $5)", 5,
		    params, "linked; fields changed: ", "");
		free(fields);
		return rc;
	}
	if (argc == 2 && strcmp(argv[0], "show") == 0) {
		PGconn *conn;
		PGresult *p, *incs;

		if (lifecycle_ref("problem show", "PRB-", argv[1], pid,
			sizeof(pid)) == -1)
			return CTL_EXIT_USAGE;
		params[0] = pid;
		conn = ctl_connect(ctl);
		p = ctl_query(conn,
		    "SELECT id, ref AS reference, title, status, root_cause, "
		    "workaround, permanent_fix, due::text, created_by, "
		    "to_char(created_at, " DATE_FMT ") AS created "
		    "FROM problem WHERE id = $1::bigint",
		    1, params);
		if (PQntuples(p) == 0) {
			fprintf(stderr, "incidentctl: no problem PRB-%06lld\n",
			    strtoll(pid, NULL, 10));
			PQclear(p);
			PQfinish(conn);
			return CTL_EXIT_NOT_FOUND;
		}
		incs = ctl_query(conn,
		    "SELECT ref, phase, host, check_name AS check, "
		    "to_char(detected_at, " DATE_FMT ") AS detected "
		    "FROM incident WHERE problem_id = $1::bigint ORDER BY id",
		    1, params);
		if (ctl->json) {
			json_t *rows = ctl_rows_json(p);
			json_t *j = json_incref(json_array_get(rows, 0));

			json_decref(rows);
			json_object_set_new(j, "incidents",
			    ctl_rows_json(incs));
			ctl_print_json(j);
			json_decref(j);
		} else {
			lifecycle_print_row(p);
			printf("\nincidents: %d\n", PQntuples(incs));
			for (int r = 0; r < PQntuples(incs); r++)
				printf("  %s  %s  %s/%s  %s\n",
				    PQgetvalue(incs, r, 0),
				    PQgetvalue(incs, r, 1),
				    PQgetvalue(incs, r, 2),
				    PQgetvalue(incs, r, 3),
				    PQgetvalue(incs, r, 4));
		}
		PQclear(p);
		PQclear(incs);
		PQfinish(conn);
		return CTL_EXIT_OK;
	}
	fprintf(stderr,
	    "incidentctl: problem create --title T | update PRB | link "
	    "INC PRB | show PRB\n");
	return CTL_EXIT_USAGE;
}

/* pause INC --waiting-on PARTY --reason R [--at TIME] */
int
lifecycle_pause(struct ctl *ctl, const char *which)
{
	char id[32], ref[64];
	const char *params[6];

	if (lifecycle_ref("pause", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	if (ctl->waiting_on == NULL) {
		fprintf(stderr,
		    "incidentctl: pause: --waiting-on department, "
		    "in-house or outsourcer is needed\n");
		return CTL_EXIT_USAGE;
	}
	snprintf(ref, sizeof(ref), "INC-%06lld", strtoll(id, NULL, 10));
	params[0] = id;
	params[1] = ctl->waiting_on;
	params[2] = ctl->at;
	params[3] = ctl->actor;
	params[4] = ctl->role;
	params[5] = ctl->reason;
	return lifecycle_run(ctl,
	    "SELECT incident_pause_start($1::bigint, $2, $3::timestamptz, $4, "
	    "$5, $6), $2",
	    6, params, strcat(ref, " paused, waiting on the "), "");
}

/* resume INC [--at TIME] */
int
lifecycle_resume(struct ctl *ctl, const char *which)
{
	char id[32], ref[64];
	const char *params[4];

	if (lifecycle_ref("resume", "INC-", which, id, sizeof(id)) == -1)
		return CTL_EXIT_USAGE;
	snprintf(ref, sizeof(ref), "INC-%06lld", strtoll(id, NULL, 10));
	params[0] = id;
	params[1] = ctl->at;
	params[2] = ctl->actor;
	params[3] = ctl->role;
	return lifecycle_run(ctl,
	    "SELECT incident_pause_end($1::bigint, $2::timestamptz, $3, $4)", 4,
	    params, strcat(ref, " resumed after a pause of "), "");
}
