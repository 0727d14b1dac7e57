/*
 * incidentctl: the command line for operators and scripts.  It reads the
 * same database as incidentd, through the same SQL, and prints plain tables
 * or, with --json, JSON for scripts.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cfg.h"
#include "daemon.h"
#include "incidentctl.h"
#include "incidentd.h"

#define INCIDENTD_CONF SYSCONFDIR "/monitord/incidentd.yaml"

/* Options shared by every command. */
struct ctl {
	const char *conffile;
	const char *conninfo;
	const char *timezone;
	int json;
	int all;
	long limit;
	struct inc_conf *conf;
};

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
	fprintf(stderr,
	    "usage: incidentctl [-f incidentd.yaml] [-d conninfo] command\n"
	    "commands:\n"
	    "  migrate                      create or update the schema\n"
	    "  list [--all] [--limit N] [--json]\n"
	    "                               incidents (open and recovered;\n"
	    "                               --all for every one)\n"
	    "  show ID|REF [--json]         one incident, its history and\n"
	    "                               its notifications\n"
	    "  version                      program and schema versions\n"
	    "The database is -d, else the config's 'database', else the\n"
	    "PG* environment (PGHOST, PGPORT, PGDATABASE, PGUSER...).\n");
	exit(2);
}

/* Connects as the options say; exits with a message on failure. */
static PGconn *
ctl_connect(struct ctl *ctl)
{
	const char *conninfo = ctl->conninfo;
	const char *params[2];
	PGconn *conn;
	PGresult *res;

	if (conninfo == NULL && ctl->conf != NULL)
		conninfo = ctl->conf->database;
	conn = PQconnectdb(conninfo != NULL ? conninfo : "");
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr,
		    "incidentctl: cannot connect to the database: "
		    "%s",
		    PQerrorMessage(conn));
		PQfinish(conn);
		exit(1);
	}
	params[0] = ctl->timezone;
	res = PQexecParams(conn, "SELECT set_config('TimeZone', $1, false)", 1,
	    NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "incidentctl: time zone %s: %s", ctl->timezone,
		    PQresultErrorMessage(res));
	PQclear(res);
	return conn;
}

/* Runs a query with parameters; exits with a message on failure. */
static PGresult *
ctl_query(PGconn *conn, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "incidentctl: %s", PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		exit(1);
	}
	return res;
}

/* A result as a JSON array of objects; NULLs become null. */
static json_t *
ctl_rows_json(const PGresult *res)
{
	json_t *arr = json_array();

	for (int r = 0; r < PQntuples(res); r++) {
		json_t *obj = json_object();

		for (int c = 0; c < PQnfields(res); c++) {
			const char *v = PQgetvalue(res, r, c);
			json_t *jv;

			if (PQgetisnull(res, r, c))
				jv = json_null();
			else if (PQftype(res, c) == 20 || PQftype(res, c) == 23)
				jv = json_integer(strtoll(v, NULL, 10));
			else
				jv = json_string(v);
			json_object_set_new(obj, PQfname(res, c), jv);
		}
		json_array_append_new(arr, obj);
	}
	return arr;
}

static void
ctl_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	printf("%s\n", s);
	free(s);
}

/* Display width of UTF-8 text: East Asian characters take two columns. */
static int
ctl_width(const char *s)
{
	int w = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xc0) == 0x80)
			continue;
		w += *p >= 0xe0 ? 2 : 1;
	}
	return w;
}

/* Prints a result as an aligned table with a header line. */
static void
ctl_print_table(const PGresult *res, const char *const headers[])
{
	int nf = PQnfields(res), nr = PQntuples(res);
	int width[32];

	for (int c = 0; c < nf && c < 32; c++) {
		width[c] = ctl_width(headers[c]);
		for (int r = 0; r < nr; r++) {
			int w = ctl_width(PQgetvalue(res, r, c));

			if (w > width[c])
				width[c] = w;
		}
	}
	for (int r = -1; r < nr; r++) {
		for (int c = 0; c < nf && c < 32; c++) {
			const char *v = r < 0	   ? headers[c] :
			    PQgetisnull(res, r, c) ? "-" :
						     PQgetvalue(res, r, c);

			if (*v == '\0')
				v = "-";
			if (c == nf - 1)
				printf("%s", v);
			else
				printf("%s%*s", v, width[c] - ctl_width(v) + 2,
				    "");
		}
		printf("\n");
	}
}

static int
ctl_list(struct ctl *ctl)
{
	static const char *const headers[] = { "REF", "STATUS", "PHASE",
		"SEVERITY", "SEGMENT", "HOST", "CHECK", "DETECTED", "RECOVERED",
		NULL };
	char limit[32];
	const char *params[2] = { ctl->all ? "true" : "false", limit };
	PGconn *conn = ctl_connect(ctl);
	PGresult *res;

	snprintf(limit, sizeof(limit), "%ld", ctl->limit);
	res = ctl_query(conn,
	    "SELECT ref, status, phase, severity, segment, host, "
	    "check_name AS check, "
	    "to_char(detected_at, 'YYYY-MM-DD HH24:MI:SS') AS detected, "
	    "to_char(recovered_at, 'YYYY-MM-DD HH24:MI:SS') AS recovered "
	    "FROM incident "
	    "WHERE $1::boolean OR status = 'open' "
	    "   OR recovered_at > now() - interval '7 days' "
	    "ORDER BY (status = 'open') DESC, detected_at DESC, id DESC "
	    "LIMIT $2::bigint",
	    2, params);
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

static int
ctl_show(struct ctl *ctl, const char *which)
{
	PGconn *conn;
	PGresult *inc, *tr, *nt;
	const char *params[1];
	char *end;
	long long id;

	/* INC-000123, or the bare number. */
	if (strncasecmp(which, "INC-", 4) == 0)
		which += 4;
	errno = 0;
	id = strtoll(which, &end, 10);
	if (*which == '\0' || *end != '\0' || errno != 0 || id <= 0) {
		fprintf(stderr,
		    "incidentctl: show: '%s' is not an incident "
		    "number or reference (INC-000123)\n",
		    which);
		return 2;
	}
	conn = ctl_connect(ctl);
	char idbuf[32];
	snprintf(idbuf, sizeof(idbuf), "%lld", id);
	params[0] = idbuf;
	inc = ctl_query(conn,
	    "SELECT id, ref, status, phase, severity, host, check_name AS "
	    "check, segment, summary, source, "
	    "to_char(detected_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS detected_at, "
	    "to_char(opened_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS opened_at, "
	    "to_char(recovered_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS "
	    "recovered_at "
	    "FROM incident WHERE id = $1::bigint",
	    1, params);
	if (PQntuples(inc) == 0) {
		fprintf(stderr, "incidentctl: show: no incident INC-%06lld\n",
		    id);
		PQclear(inc);
		PQfinish(conn);
		return 1;
	}
	tr = ctl_query(conn,
	    "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS') AS at, actor, "
	    "from_status, to_status, from_phase, to_phase, event_id, reason "
	    "FROM incident_transition WHERE incident_id = $1::bigint "
	    "ORDER BY id",
	    1, params);
	nt = ctl_query(conn,
	    "SELECT id, kind, channel, recipient, status, attempts, "
	    "to_char(sent_at, 'YYYY-MM-DD HH24:MI:SS') AS sent_at, "
	    "to_char(next_attempt_at, 'YYYY-MM-DD HH24:MI:SS') AS "
	    "next_attempt_at, last_error "
	    "FROM notification WHERE incident_id = $1::bigint ORDER BY id",
	    1, params);

	if (ctl->json) {
		json_t *rows = ctl_rows_json(inc);
		json_t *j = json_incref(json_array_get(rows, 0));

		json_decref(rows);
		json_object_set_new(j, "transitions", ctl_rows_json(tr));
		json_object_set_new(j, "notifications", ctl_rows_json(nt));
		ctl_print_json(j);
		json_decref(j);
	} else {
		static const char *const labels[] = { "id", "reference",
			"status", "phase", "severity", "host", "check",
			"segment", "summary", "source", "detected", "opened",
			"recovered" };

		for (int c = 0; c < PQnfields(inc) && c < 13; c++)
			printf("%-10s %s\n", labels[c],
			    PQgetisnull(inc, 0, c) ? "-" :
						     PQgetvalue(inc, 0, c));
		printf("\nhistory:\n");
		for (int r = 0; r < PQntuples(tr); r++)
			printf("  %s  %s  %s -> %s  %s\n", PQgetvalue(tr, r, 0),
			    PQgetvalue(tr, r, 1),
			    PQgetisnull(tr, r, 2) ? "(new)" :
						    PQgetvalue(tr, r, 2),
			    PQgetvalue(tr, r, 3), PQgetvalue(tr, r, 7));
		printf("\nnotifications:\n");
		if (PQntuples(nt) == 0)
			printf("  none\n");
		for (int r = 0; r < PQntuples(nt); r++) {
			printf("  #%s %s %s to %s: %s, %s attempt%s",
			    PQgetvalue(nt, r, 0), PQgetvalue(nt, r, 1),
			    PQgetvalue(nt, r, 2), PQgetvalue(nt, r, 3),
			    PQgetvalue(nt, r, 4), PQgetvalue(nt, r, 5),
			    strcmp(PQgetvalue(nt, r, 5), "1") == 0 ? "" : "s");
			if (!PQgetisnull(nt, r, 6))
				printf(", sent %s", PQgetvalue(nt, r, 6));
			else if (strcmp(PQgetvalue(nt, r, 4), "pending") == 0)
				printf(", next try %s", PQgetvalue(nt, r, 7));
			if (!PQgetisnull(nt, r, 8))
				printf(", last error: %s",
				    PQgetvalue(nt, r, 8));
			printf("\n");
		}
	}
	PQclear(inc);
	PQclear(tr);
	PQclear(nt);
	PQfinish(conn);
	return 0;
}

static int
ctl_migrate(struct ctl *ctl)
{
	PGconn *conn = ctl_connect(ctl);
	int rc = migrate_run(conn, ctl->json);

	PQfinish(conn);
	return rc == 0 ? 0 : 1;
}

static int
ctl_version(struct ctl *ctl)
{
	PGconn *conn;
	PGresult *res;

	printf("incidentctl %s, schema version %d\n", PACKAGE_VERSION,
	    migrate_latest());
	conn = ctl_connect(ctl);
	res = PQexec(conn,
	    "SELECT coalesce(max(version), 0) FROM "
	    "schema_version");
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		printf("database schema version %s\n", PQgetvalue(res, 0, 0));
	else
		printf("database has no schema yet (run incidentctl "
		       "migrate)\n");
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/* Loads incidentd.yaml for its database and time zone, if there is one. */
static void
ctl_load_conf(struct ctl *ctl)
{
	struct cfg_doc *doc;
	const char *file = ctl->conffile;

	if (file == NULL) {
		if (access(INCIDENTD_CONF, R_OK) != 0)
			return;
		file = INCIDENTD_CONF;
	}
	ctl->conf = inc_conf_load(file, &doc);
	if (ctl->conf == NULL)
		exit(daemon_conf_failed(doc, "incidentctl", file));
	cfg_free(doc);
	ctl->timezone = ctl->conf->timezone;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl;
	const char *cmd;
	char *end;
	int ch, rc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.limit = 100;
	ctl.timezone = "Asia/Tokyo";
	log_init("incidentctl", 0, LOG_LEVEL_WARN);
	while ((ch = getopt_long(argc, argv, "+d:f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			ctl.conninfo = optarg;
			break;
		case 'f':
			ctl.conffile = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind];
	/* Options may also follow the command: parse the rest on its own. */
	argv[optind] = argv[0];
	argc -= optind;
	argv += optind;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctl.json = 1;
			break;
		case 'a':
			ctl.all = 1;
			break;
		case 'l':
			errno = 0;
			ctl.limit = strtol(optarg, &end, 10);
			if (*end != '\0' || errno != 0 || ctl.limit < 1) {
				fprintf(stderr,
				    "incidentctl: --limit needs a "
				    "positive number\n");
				return 2;
			}
			break;
		default:
			usage();
		}
	}

	ctl_load_conf(&ctl);
	if (strcmp(cmd, "migrate") == 0 && optind == argc)
		rc = ctl_migrate(&ctl);
	else if (strcmp(cmd, "list") == 0 && optind == argc)
		rc = ctl_list(&ctl);
	else if (strcmp(cmd, "show") == 0 && optind == argc - 1)
		rc = ctl_show(&ctl, argv[optind]);
	else if (strcmp(cmd, "version") == 0 && optind == argc)
		rc = ctl_version(&ctl);
	else {
		fprintf(stderr,
		    "incidentctl: unknown command or wrong "
		    "arguments: %s\n",
		    cmd);
		usage();
	}
	inc_conf_free(ctl.conf);
	return rc;
}
