/*
 * Schema migrations: the SQL files under sql/ are compiled in.  The
 * migrations (sql/NNN_name.sql: tables, types, indexes, reference rows,
 * drops) are applied in order, each in its own transaction with its row in
 * schema_version; a database newer than this program is refused rather
 * than guessed at.  Then the function modules (sql/func/NAME.sql: every
 * function and trigger once, with CREATE OR REPLACE) whose text differs
 * from what schema_module says was applied are applied, all in one
 * transaction.  A function whose arguments or results change, or that
 * goes away, is dropped by a migration first.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

	/* a migration may be all comments: its functions are in modules */
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
	    st != PGRES_EMPTY_QUERY) {
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
 * Applies the modules whose text changed since they were last applied, in
 * one transaction; prints their names unless quiet.  Returns 0 or -1.
 */
static int
migrate_modules(PGconn *conn, int quiet, int *napplied)
{
	*napplied = 0;
	if (migrate_exec(conn,
		"CREATE TABLE IF NOT EXISTS schema_module ("
		"name text PRIMARY KEY, hash text NOT NULL, "
		"applied_at timestamptz NOT NULL DEFAULT now())",
		"schema_module") == -1 ||
	    migrate_exec(conn, "BEGIN", "modules") == -1)
		return -1;
	/* a function's body may call one defined further on */
	if (migrate_exec(conn, "SET LOCAL check_function_bodies = off",
		"modules") == -1)
		goto fail;
	for (size_t i = 0; i < nsql_modules; i++) {
		const struct sql_module *m = &sql_modules[i];
		const char *params[2] = { m->name, m->sql };
		PGresult *res;
		int same;

		res = PQexecParams(conn,
		    "SELECT EXISTS (SELECT 1 FROM schema_module WHERE "
		    "name = $1 AND hash = encode(sha256(convert_to($2, "
		    "'UTF8')), 'hex'))",
		    2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "incidentctl: migrate: %s: %s", m->name,
			    PQresultErrorMessage(res));
			PQclear(res);
			goto fail;
		}
		same = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (same)
			continue;
		if (migrate_exec(conn, m->sql, m->name) == -1)
			goto fail;
		res = PQexecParams(conn,
		    "INSERT INTO schema_module (name, hash) VALUES ($1, "
		    "encode(sha256(convert_to($2, 'UTF8')), 'hex')) "
		    "ON CONFLICT (name) DO UPDATE SET hash = EXCLUDED.hash, "
		    "applied_at = now()",
		    2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "incidentctl: migrate: %s: %s", m->name,
			    PQresultErrorMessage(res));
			PQclear(res);
			goto fail;
		}
		PQclear(res);
		if (!quiet)
			printf("applied func/%s.sql\n", m->name);
		(*napplied)++;
	}
	/*
	 * Every body is checked now that all exist, as CREATE FUNCTION would
	 * have: a broken function fails the migration, not its first caller.
	 */
	if (*napplied > 0 &&
	    (migrate_exec(conn, "SET LOCAL check_function_bodies = on",
		 "modules") == -1 ||
		migrate_exec(conn,
		    "SELECT CASE l.lanname WHEN 'plpgsql' THEN "
		    "plpgsql_validator(p.oid) WHEN 'sql' THEN "
		    "fmgr_sql_validator(p.oid) END FROM pg_proc p JOIN "
		    "pg_language l ON l.oid = p.prolang WHERE p.pronamespace = "
		    "'public'::regnamespace",
		    "checking the functions") == -1))
		goto fail;
	return migrate_exec(conn, "COMMIT", "modules");
fail:
	migrate_exec(conn, "ROLLBACK", "rollback");
	*napplied = 0;
	return -1;
}

/*
 * Brings the schema up to date.  Safe to run again and from two places at
 * once (an advisory lock serialises runs).  Returns 0 or -1.
 */
int
migrate_run(PGconn *conn, int quiet)
{
	int cur, nmod, rc = 0;

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
	if (migrate_modules(conn, quiet, &nmod) == -1) {
		rc = -1;
		goto out;
	}
	if (!quiet)
		printf("schema version %d (latest %d), %zu function modules "
		       "(%d applied)\n",
		    cur, migrate_latest(), nsql_modules, nmod);
out:
	migrate_exec(conn,
	    "SELECT pg_advisory_unlock(hashtext('incidentd.migrate'))",
	    "unlock");
	return rc;
}
