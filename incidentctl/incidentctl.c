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

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
	fprintf(stderr,
	    "usage: incidentctl [-f incidentd.yaml] [-d conninfo] command\n"
	    "commands:\n"
	    "  migrate                 create or update the schema\n"
	    "  version                 program and schema versions\n"
	    "  list [--all] [--open|--closed] [--phase P] [--segment S]\n"
	    "       [--priority N] [--limit N]\n"
	    "  show INC                one incident: fields, attached\n"
	    "                          checks, history, notifications\n"
	    "  history INC             its moves, field changes and notes\n"
	    "  ack INC                 acknowledge\n"
	    "  assign INC --to NAME [--kind person|team|outsourcer]\n"
	    "  advance INC PHASE [--set field=value]... [--reason R]\n"
	    "  set INC --set field=value... [--reason R]\n"
	    "  note INC TEXT\n"
	    "  pause INC --waiting-on department|in-house|outsourcer\n"
	    "       --reason R [--at TIME] | resume INC [--at TIME]\n"
	    "  open --summary TEXT [--host H] [--segment S]\n"
	    "       [--reported-by WHO] [--set field=value]...\n"
	    "  problem create --title T [--set field=value]...\n"
	    "  problem update PRB --set field=value... [--reason R]\n"
	    "  problem link INC PRB | problem show PRB\n"
	    "  duty [--at TIME]        teams: office open?, who is on duty\n"
	    "  report sla --month YYYY-MM [--service S | --department D |\n"
	    "       --provider P] [--format text|csv|json|html]\n"
	    "       [--version N]\n"
	    "  report sla --month YYYY-MM --close [--reason R] | --versions\n"
	    "  holidays [--year Y] | holidays import FILE\n"
	    "  user add NAME --user-role ROLE [--display-name N] |\n"
	    "       user passwd NAME | user disable NAME --reason R |\n"
	    "       user enable NAME | user list\n"
	    "                          console accounts; passwords come\n"
	    "                          from the terminal or one stdin line\n"
	    "                          national holidays; FILE is the\n"
	    "                          Cabinet Office's syukujitsu.csv\n"
	    "Every command takes --json; changes take --as NAME (default\n"
	    "$USER) and --role ROLE (default operator).  Exit codes: 0 done,\n"
	    "1 error, 2 usage, 3 refused, 4 conflict, 5 not found.\n"
	    "The database is -d, else the config's 'database', else the\n"
	    "PG* environment (PGHOST, PGPORT, PGDATABASE, PGUSER...).\n");
	exit(2);
}

/* Connects as the options say; exits with a message on failure. */
PGconn *
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
PGresult *
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
json_t *
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
			else if (PQftype(res, c) == 20 ||
			    PQftype(res, c) == 21 || PQftype(res, c) == 23)
				jv = json_integer(strtoll(v, NULL, 10));
			else
				jv = json_string(v);
			json_object_set_new(obj, PQfname(res, c), jv);
		}
		json_array_append_new(arr, obj);
	}
	return arr;
}

void
ctl_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	printf("%s\n", s);
	free(s);
}

/* Display width of UTF-8 text: East Asian characters take two columns. */
int
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
void
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
	ctl->conffile = file;
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
		{ "phase", required_argument, NULL, 'P' },
		{ "segment", required_argument, NULL, 'S' },
		{ "priority", required_argument, NULL, 'p' },
		{ "open", no_argument, NULL, 'o' },
		{ "closed", no_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "reason", required_argument, NULL, 'r' },
		{ "as", required_argument, NULL, 'A' },
		{ "role", required_argument, NULL, 'R' },
		{ "to", required_argument, NULL, 't' },
		{ "kind", required_argument, NULL, 'k' },
		{ "summary", required_argument, NULL, 'm' },
		{ "host", required_argument, NULL, 'H' },
		{ "reported-by", required_argument, NULL, 'b' },
		{ "title", required_argument, NULL, 'T' },
		{ "at", required_argument, NULL, 'W' },
		{ "year", required_argument, NULL, 'Y' },
		{ "waiting-on", required_argument, NULL, 'w' },
		{ "month", required_argument, NULL, 'M' },
		{ "service", required_argument, NULL, 'V' },
		{ "department", required_argument, NULL, 'D' },
		{ "provider", required_argument, NULL, 'O' },
		{ "format", required_argument, NULL, 'F' },
		{ "close", no_argument, NULL, 'C' },
		{ "version", required_argument, NULL, 'N' },
		{ "versions", no_argument, NULL, 'L' },
		{ "user-role", required_argument, NULL, 'U' },
		{ "display-name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl;
	const char *cmd;
	char *end;
	int ch, rc, nargs;

	memset(&ctl, 0, sizeof(ctl));
	ctl.limit = 100;
	ctl.timezone = "Asia/Tokyo";
	ctl.role = "operator";
	if ((ctl.actor = getenv("SUDO_USER")) == NULL &&
	    (ctl.actor = getenv("USER")) == NULL &&
	    (ctl.actor = getenv("LOGNAME")) == NULL)
		ctl.actor = "incidentctl";
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
		case 'P':
			ctl.phase = optarg;
			break;
		case 'S':
			ctl.segment = optarg;
			break;
		case 'p': {
			const char *d =
			    optarg + (*optarg == 'P' || *optarg == 'p');

			if (d[0] < '1' || d[0] > '5' || d[1] != '\0') {
				fprintf(stderr,
				    "incidentctl: --priority is 1-5 "
				    "(or P1-P5), not '%s'\n",
				    optarg);
				return 2;
			}
			ctl.priority = d;
			break;
		}
		case 'o':
			ctl.status = "open";
			break;
		case 'c':
			ctl.status = "closed";
			break;
		case 's':
			if (lifecycle_parse_set(&ctl, optarg) == -1)
				return 2;
			break;
		case 'r':
			ctl.reason = optarg;
			break;
		case 'A':
			ctl.actor = optarg;
			break;
		case 'R':
			ctl.role = optarg;
			break;
		case 't':
			ctl.to = optarg;
			break;
		case 'k':
			ctl.kind = optarg;
			break;
		case 'm':
			ctl.summary = optarg;
			break;
		case 'H':
			ctl.host = optarg;
			break;
		case 'b':
			ctl.reported_by = optarg;
			break;
		case 'T':
			ctl.title = optarg;
			break;
		case 'W':
			ctl.at = optarg;
			break;
		case 'Y':
			ctl.year = optarg;
			break;
		case 'w':
			ctl.waiting_on = optarg;
			break;
		case 'M':
			ctl.month = optarg;
			break;
		case 'V':
			ctl.service = optarg;
			break;
		case 'D':
			ctl.department = optarg;
			break;
		case 'O':
			ctl.provider = optarg;
			break;
		case 'F':
			ctl.format = optarg;
			break;
		case 'C':
			ctl.close = 1;
			break;
		case 'N':
			ctl.version = optarg;
			break;
		case 'L':
			ctl.versions = 1;
			break;
		case 'U':
			ctl.user_role = optarg;
			break;
		case 'n':
			ctl.display_name = optarg;
			break;
		default:
			usage();
		}
	}
	if (*ctl.actor == '\0') {
		fprintf(stderr, "incidentctl: --as needs a name\n");
		return 2;
	}

	ctl_load_conf(&ctl);
	nargs = argc - optind;
	if (strcmp(cmd, "migrate") == 0 && nargs == 0)
		rc = ctl_migrate(&ctl);
	else if (strcmp(cmd, "list") == 0 && nargs == 0)
		rc = lifecycle_list(&ctl);
	else if (strcmp(cmd, "show") == 0 && nargs == 1)
		rc = lifecycle_show(&ctl, argv[optind]);
	else if (strcmp(cmd, "history") == 0 && nargs == 1)
		rc = lifecycle_history(&ctl, argv[optind]);
	else if (strcmp(cmd, "ack") == 0 && nargs == 1)
		rc = lifecycle_ack(&ctl, argv[optind]);
	else if (strcmp(cmd, "assign") == 0 && nargs == 1)
		rc = lifecycle_assign(&ctl, argv[optind]);
	else if (strcmp(cmd, "advance") == 0 && nargs == 2)
		rc = lifecycle_advance(&ctl, argv[optind], argv[optind + 1]);
	else if (strcmp(cmd, "set") == 0 && nargs == 1)
		rc = lifecycle_set(&ctl, argv[optind]);
	else if (strcmp(cmd, "note") == 0 && nargs == 2)
		rc = lifecycle_note(&ctl, argv[optind], argv[optind + 1]);
	else if (strcmp(cmd, "open") == 0 && nargs == 0)
		rc = lifecycle_open(&ctl);
	else if (strcmp(cmd, "problem") == 0)
		rc = lifecycle_problem(&ctl, nargs, argv + optind);
	else if (strcmp(cmd, "pause") == 0 && nargs == 1)
		rc = lifecycle_pause(&ctl, argv[optind]);
	else if (strcmp(cmd, "resume") == 0 && nargs == 1)
		rc = lifecycle_resume(&ctl, argv[optind]);
	else if (strcmp(cmd, "report") == 0)
		rc = ctl_report(&ctl, nargs, argv + optind);
	else if (strcmp(cmd, "user") == 0)
		rc = ctl_user(&ctl, nargs, argv + optind);
	else if (strcmp(cmd, "holidays") == 0)
		rc = ctl_holidays(&ctl, nargs, argv + optind);
	else if (strcmp(cmd, "duty") == 0 && nargs == 0)
		rc = ctl_duty(&ctl);
	else if (strcmp(cmd, "version") == 0 && nargs == 0)
		rc = ctl_version(&ctl);
	else {
		fprintf(stderr,
		    "incidentctl: unknown command or wrong "
		    "arguments: %s\n",
		    cmd);
		usage();
	}
	json_decref(ctl.fields);
	inc_conf_free(ctl.conf);
	return rc;
}
