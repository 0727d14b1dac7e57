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
	    "                          national holidays; FILE is the\n"
	    "                          Cabinet Office's syukujitsu.csv\n"
	    "  user add NAME --user-role ROLE [--display-name N] |\n"
	    "       user passwd NAME | user disable NAME --reason R |\n"
	    "       user enable NAME | user list\n"
	    "                          console accounts; passwords come\n"
	    "                          from the terminal or one stdin line\n"
	    "  metrics status          the metric store: size now, size once\n"
	    "                          every tier is full\n"
	    "Every command takes --json; changes take --as NAME (default\n"
	    "$USER) and --role ROLE (default operator).  Exit codes: 0 done,\n"
	    "1 error, 2 usage, 3 refused, 4 conflict, 5 not found.\n"
	    "The database is -d, else the config's 'database', else the\n"
	    "PG* environment (PGHOST, PGPORT, PGDATABASE, PGUSER...).\n");
	exit(2);
}

/* migrate: creates or updates the schema. */
static int
incidentctl_migrate(struct ctl *ctl)
{
	PGconn *conn = ctl_connect(ctl);
	int rc = migrate_run(conn, ctl->json);

	PQfinish(conn);
	return rc == 0 ? 0 : 1;
}

/* version: this program's and the database's schema versions. */
static int
incidentctl_version(struct ctl *ctl)
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
incidentctl_load_conf(struct ctl *ctl)
{
	struct cfg_doc *doc;
	const char *file = ctl->conffile;

	if (file == NULL) {
		if (access(INCIDENTD_CONF, R_OK) != 0)
			return;
		file = INCIDENTD_CONF;
	}
	ctl->conf = conf_load(file, &doc);
	if (ctl->conf == NULL)
		exit(daemon_conf_failed(doc, "incidentctl", file));
	cfg_free(doc);
	ctl->conffile = file;
	ctl->timezone = ctl->conf->timezone;
}

/*
 * The commands: a name, how many arguments follow it (-1: its own
 * subcommands check them), and the function that runs it, by how many
 * arguments it takes.
 */
static const struct incidentctl_command {
	const char *name;
	int nargs;
	int (*run0)(struct ctl *);
	int (*run1)(struct ctl *, const char *);
	int (*run2)(struct ctl *, const char *, const char *);
	int (*runv)(struct ctl *, int, char *[]);
} commands[] = {
	{ "migrate", 0, .run0 = incidentctl_migrate },
	{ "version", 0, .run0 = incidentctl_version },
	{ "list", 0, .run0 = lifecycle_list },
	{ "show", 1, .run1 = lifecycle_show },
	{ "history", 1, .run1 = lifecycle_history },
	{ "ack", 1, .run1 = lifecycle_ack },
	{ "assign", 1, .run1 = lifecycle_assign },
	{ "advance", 2, .run2 = lifecycle_advance },
	{ "set", 1, .run1 = lifecycle_set },
	{ "note", 2, .run2 = lifecycle_note },
	{ "open", 0, .run0 = lifecycle_open },
	{ "problem", -1, .runv = lifecycle_problem },
	{ "pause", 1, .run1 = lifecycle_pause },
	{ "resume", 1, .run1 = lifecycle_resume },
	{ "report", -1, .runv = report_run },
	{ "user", -1, .runv = user_run },
	{ "holidays", -1, .runv = holidays_run },
	{ "duty", 0, .run0 = duty_run },
	{ "metrics", -1, .runv = metrics_run },
	{ NULL, 0, .run0 = NULL },
};

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
	const struct incidentctl_command *cc;
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

	incidentctl_load_conf(&ctl);
	nargs = argc - optind;
	for (cc = commands; cc->name != NULL; cc++)
		if (strcmp(cmd, cc->name) == 0 &&
		    (cc->nargs == -1 || cc->nargs == nargs))
			break;
	if (cc->name == NULL) {
		fprintf(stderr,
		    "incidentctl: unknown command or wrong "
		    "arguments: %s\n",
		    cmd);
		usage();
	}
	if (cc->run0 != NULL)
		rc = cc->run0(&ctl);
	else if (cc->run1 != NULL)
		rc = cc->run1(&ctl, argv[optind]);
	else if (cc->run2 != NULL)
		rc = cc->run2(&ctl, argv[optind], argv[optind + 1]);
	else
		rc = cc->runv(&ctl, nargs, argv + optind);
	json_decref(ctl.fields);
	conf_free(ctl.conf);
	return rc;
}
