/*
 * incidentctl holidays: list Japan's national holidays as incidentd's
 * calendars see them, and import the Cabinet Office's file
 * (syukujitsu.csv, Shift_JIS) to keep them up to date.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incidentctl.h"
#include "incidentd.h"
#include "xmalloc.h"

/* Far larger than the Cabinet Office's file (about 20 KB). */
#define HOLIDAYS_FILE_MAX (4 * 1024 * 1024)

/* Reads a whole file; NULL with a message on stderr. */
static char *
holidays_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "incidentctl: holidays: %s: %s\n", path,
		    strerror(errno));
		return NULL;
	}
	buf = xmalloc(HOLIDAYS_FILE_MAX + 1);
	n = fread(buf, 1, HOLIDAYS_FILE_MAX + 1, f);
	if (ferror(f) || n > HOLIDAYS_FILE_MAX) {
		fprintf(stderr, "incidentctl: holidays: %s: %s\n", path,
		    ferror(f) ? strerror(errno) : "larger than 4 MB");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

static int
holidays_import(struct ctl *ctl, const char *path)
{
	struct holiday *h;
	char err[256], *buf, *rows;
	const char *params[1];
	json_t *arr;
	size_t len, n;
	PGconn *conn;
	PGresult *res;

	if ((buf = holidays_read(path, &len)) == NULL)
		return CTL_EXIT_ERROR;
	h = holidays_parse(buf, len, &n, err, sizeof(err));
	free(buf);
	if (h == NULL) {
		fprintf(stderr, "incidentctl: holidays: %s: %s\n", path, err);
		return CTL_EXIT_ERROR;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr,
		    json_pack("{s:s, s:s}", "day", h[i].day, "name",
			h[i].name));
	free(h);
	rows = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	params[0] = rows;
	conn = ctl_connect(ctl);
	res = ctl_query(conn,
	    "SELECT added, removed, renamed, first_year, last_year "
	    "FROM national_holiday_import($1::jsonb)",
	    1, params);
	free(rows);
	if (ctl->json) {
		json_t *j = ctl_rows_json(res);

		ctl_print_json(json_array_get(j, 0));
		json_decref(j);
	} else
		printf("imported %zu holidays for %s-%s: %s added, %s removed, "
		       "%s renamed\n",
		    n, PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
		    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		    PQgetvalue(res, 0, 2));
	PQclear(res);
	PQfinish(conn);
	return 0;
}

static int
holidays_list(struct ctl *ctl)
{
	static const char *const headers[] = { "DAY", "WEEKDAY", "NAME",
		"SOURCE", NULL };
	const char *params[1] = { ctl->year };
	PGconn *conn;
	PGresult *res;

	if (ctl->year != NULL &&
	    (strlen(ctl->year) != 4 || strspn(ctl->year, "0123456789") != 4)) {
		fprintf(stderr,
		    "incidentctl: holidays: --year is a year, as "
		    "2027\n");
		return CTL_EXIT_USAGE;
	}
	conn = ctl_connect(ctl);
	res = ctl_query(conn,
	    "SELECT to_char(day, 'YYYY-MM-DD') AS day, "
	    "to_char(day, 'Dy') AS weekday, name, CASE WHEN by_law THEN "
	    "'by law' ELSE 'published' END AS source FROM national_holiday "
	    "WHERE extract(year FROM day) = coalesce($1::integer, "
	    " extract(year FROM now())) ORDER BY day",
	    1, params);
	if (ctl->json) {
		json_t *j = ctl_rows_json(res);

		ctl_print_json(j);
		json_decref(j);
	} else if (PQntuples(res) == 0)
		printf("no holidays for that year; import the Cabinet "
		       "Office's file with incidentctl holidays import\n");
	else {
		ctl_print_table(res, headers);
		if (strcmp(PQgetvalue(res, 0, 3), "by law") == 0)
			printf("\nworked out by the holiday law, not yet "
			       "published: import the Cabinet Office's file "
			       "(incidentctl holidays import) once it is\n");
	}
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/* holidays [--year Y] | holidays import FILE */
int
holidays_run(struct ctl *ctl, int argc, char *argv[])
{
	if (argc == 0)
		return holidays_list(ctl);
	if (argc == 2 && strcmp(argv[0], "import") == 0)
		return holidays_import(ctl, argv[1]);
	fprintf(stderr,
	    "incidentctl: holidays [--year Y] | holidays import "
	    "FILE\n");
	return CTL_EXIT_USAGE;
}
