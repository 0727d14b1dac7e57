/*
 * What incidentctl's commands share: the connection, queries that exit
 * with a message when they fail, and printing rows as tables or JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "incidentctl.h"
#include "incidentd.h"

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
