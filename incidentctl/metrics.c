/*
 * incidentctl metrics status: what the measured values' store holds, tier
 * by tier, and what it will hold once every tier has filled to its
 * retention (sql/func/metrics.sql, metric_status).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "incidentctl.h"

/* bytes as "812 B", "3.4 MiB", "1.2 TiB" */
static void
metrics_bytes(char *buf, size_t len, double v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
		"PiB" };
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", v);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* seconds as "14d", "3h" */
static void
metrics_keep(char *buf, size_t len, const json_t *v)
{
	double s = json_number_value(v);

	if (!json_is_number(v))
		snprintf(buf, len, "until folded");
	else if (s >= 86400 && (long long)s % 86400 == 0)
		snprintf(buf, len, "%lldd", (long long)s / 86400);
	else
		snprintf(buf, len, "%lldh", (long long)s / 3600);
}

static void
metrics_print(json_t *st)
{
	const json_t *tiers = json_object_get(st, "tiers"), *t;
	double now = 0, steady = 0, rate;
	int unknown = 0;
	size_t i;
	char a[32], b[32], c[32], d[32];

	rate = json_number_value(json_object_get(st, "samples_per_s"));
	printf("%lld series, %.*f samples a second (the last hour folded)\n",
	    (long long)json_integer_value(json_object_get(st, "series")),
	    rate < 10 ? 2 : 0, rate);
	printf("%-9s %-13s %10s %10s %14s %10s %12s\n", "TIER", "KEEP",
	    "PARTITIONS", "SIZE", "ROWS", "BYTES/ROW", "STEADY");
	json_array_foreach(tiers, i, t)
	{
		const char *name =
		    json_string_value(json_object_get(t, "tier"));
		const json_t *sb = json_object_get(t, "steady_bytes");
		const json_t *bpr = json_object_get(t, "bytes_per_row");
		double bytes = json_number_value(json_object_get(t, "bytes"));

		metrics_keep(a, sizeof(a), json_object_get(t, "keep_s"));
		metrics_bytes(b, sizeof(b), bytes);
		if (json_is_number(bpr))
			snprintf(c, sizeof(c), "%.1f", json_number_value(bpr));
		else
			snprintf(c, sizeof(c), "-");
		now += bytes;
		if (json_is_number(sb)) {
			metrics_bytes(d, sizeof(d), json_number_value(sb));
			steady += json_number_value(sb);
		} else if (strcmp(name, "traps") == 0) {
			snprintf(d, sizeof(d), "(as now)");
			steady += bytes;
		} else {
			snprintf(d, sizeof(d), "-");
			unknown = 1;
		}
		printf("%-9s %-13s %10lld %10s %14.0f %10s %12s\n", name, a,
		    (long long)json_integer_value(
			json_object_get(t, "partitions")),
		    b, json_number_value(json_object_get(t, "rows")), c, d);
	}
	metrics_bytes(b, sizeof(b), now);
	metrics_bytes(d, sizeof(d), steady);
	printf("%-9s %-13s %10s %10s %14s %10s %12s\n", "total", "", "", b, "",
	    "", unknown ? "-" : d);
	if (unknown)
		printf("\nno hour folded yet: the forecast needs one (raw "
		       "bytes per sample, rows per series)\n");
	else
		printf("\nraw: bytes per sample; 5m: per series and hour; 1h: "
		       "per series and day; 1h_long: interface traffic\nkept "
		       "past 1h's retention (retention.interfaces), per series "
		       "and day\n");
	if (!json_is_null(json_object_get(st, "legacy_next"))) {
		metrics_bytes(b, sizeof(b),
		    json_number_value(json_object_get(st, "legacy_bytes")));
		printf("rows kept from before 019 (%s) are being folded, "
		       "now at %s\n",
		    b, json_string_value(json_object_get(st, "legacy_next")));
	}
}

int
metrics_run(struct ctl *ctl, int argc, char *argv[])
{
	PGconn *conn;
	PGresult *res;
	json_t *st;
	json_error_t err;

	if (argc != 1 || strcmp(argv[0], "status") != 0) {
		fprintf(stderr, "usage: incidentctl metrics status [--json]\n");
		return CTL_EXIT_USAGE;
	}
	conn = ctl_connect(ctl);
	res = ctl_query(conn, "SELECT metric_status()", 0, NULL);
	st = json_loads(PQgetvalue(res, 0, 0), 0, &err);
	PQclear(res);
	PQfinish(conn);
	if (st == NULL) {
		fprintf(stderr, "incidentctl: metrics: %s\n", err.text);
		return CTL_EXIT_ERROR;
	}
	if (ctl->json)
		ctl_print_json(st);
	else
		metrics_print(st);
	json_decref(st);
	return CTL_EXIT_OK;
}
