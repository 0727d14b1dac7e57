/*
 * Schema migrations: the SQL files under sql/ are compiled in, applied in
 * order, each in its own transaction with its row in schema_version.  A
 * database newer than this program is refused rather than guessed at.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "incidentctl.h"

int
migrate_latest(void)
{
	return nmigrations > 0 ? migrations[nmigrations - 1].version : 0;
}

/* Runs one statement (or script) and reports an error on stderr. */
static int
migrate_exec(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "incidentctl: migrate: %s: %s", what,
		    PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Reads the version the database is at (0 for a new database). */
static int
migrate_current(PGconn *conn)
{
	PGresult *res = PQexec(conn,
	    "SELECT coalesce(max(version), 0) FROM schema_version");
	int v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "incidentctl: migrate: %s",
		    PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/*
 * Brings the schema up to date.  Safe to run again and from two places at
 * once (an advisory lock serialises runs).  Returns 0 or -1.
 */
int
migrate_run(PGconn *conn, int quiet)
{
	int cur, rc = 0;

	if (migrate_exec(conn, "SET client_min_messages = warning",
		"settings") == -1 ||
	    migrate_exec(conn,
		"SELECT pg_advisory_lock(hashtext('incidentd.migrate'))",
		"lock") == -1)
		return -1;
	if (migrate_exec(conn,
		"CREATE TABLE IF NOT EXISTS schema_version ("
		"version integer PRIMARY KEY, name text NOT NULL, "
		"applied_at timestamptz NOT NULL DEFAULT now())",
		"schema_version") == -1 ||
	    (cur = migrate_current(conn)) == -1) {
		rc = -1;
		goto out;
	}
	if (cur > migrate_latest()) {
		fprintf(stderr,
		    "incidentctl: migrate: the database is at schema version "
		    "%d, newer than this incidentctl (%d); use a newer "
		    "incidentctl\n",
		    cur, migrate_latest());
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < nmigrations; i++) {
		const struct migration *m = &migrations[i];
		char version[16];
		const char *params[2] = { version, m->name };
		PGresult *res;

		if (m->version <= cur)
			continue;
		snprintf(version, sizeof(version), "%d", m->version);
		if (migrate_exec(conn, "BEGIN", m->name) == -1 ||
		    migrate_exec(conn, m->sql, m->name) == -1) {
			migrate_exec(conn, "ROLLBACK", "rollback");
			rc = -1;
			goto out;
		}
		res = PQexecParams(conn,
		    "INSERT INTO schema_version (version, name) "
		    "VALUES ($1, $2)",
		    2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "incidentctl: migrate: %s: %s", m->name,
			    PQresultErrorMessage(res));
			PQclear(res);
			migrate_exec(conn, "ROLLBACK", "rollback");
			rc = -1;
			goto out;
		}
		PQclear(res);
		if (migrate_exec(conn, "COMMIT", m->name) == -1) {
			rc = -1;
			goto out;
		}
		if (!quiet)
			printf("applied %s\n", m->name);
		cur = m->version;
	}
	if (!quiet)
		printf("schema version %d (latest %d)\n", cur,
		    migrate_latest());
out:
	migrate_exec(conn,
	    "SELECT pg_advisory_unlock(hashtext('incidentd.migrate'))",
	    "unlock");
	return rc;
}
