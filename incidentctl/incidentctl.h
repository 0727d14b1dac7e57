/*
 * incidentctl: the operators' and scripts' command line.
 */
#ifndef INCIDENTCTL_H
#define INCIDENTCTL_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

struct inc_conf;

/* Options shared by every command. */
struct ctl {
	const char *conffile; /* -f, or the default file once loaded */
	const char *conninfo;
	const char *timezone;
	int json;
	int all;
	long limit;
	struct inc_conf *conf;
	/* filters of list */
	const char *phase, *segment, *priority, *status;
	/* who acts, and the change */
	const char *actor, *role, *reason;
	json_t *fields; /* --set field=value */
	const char *to, *kind; /* assign */
	const char *summary, *host, *reported_by; /* open */
	const char *title; /* problem create */
	const char *at; /* duty --at; NULL: now */
	const char *year; /* holidays --year; NULL: this year */
	const char *waiting_on; /* pause */
	const char *month, *service, *department, *provider; /* report */
	const char *format;
	int close, versions; /* report --close, --versions */
	const char *version; /* report --version N */
	const char *user_role, *display_name; /* user add */
};

/* How incidentctl exits; documented in incidentctl(1). */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERROR = 1, /* the database, or something unexpected */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_REFUSED = 3, /* illegal move, missing field, bad value, role */
	CTL_EXIT_CONFLICT = 4, /* someone else changed the incident first */
	CTL_EXIT_NOT_FOUND = 5
};

/* One embedded SQL migration (generated from sql/NNN_name.sql). */
struct migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migration migrations[];
extern const size_t nmigrations;

/* One embedded module of SQL functions (generated from sql/func/NAME.sql). */
struct sql_module {
	const char *name;
	const char *sql;
};

extern const struct sql_module sql_modules[];
extern const size_t nsql_modules;

/* metrics.c */
int metrics_run(struct ctl *, int, char *[]);

/* ctl.c */
PGconn *ctl_connect(struct ctl *);
PGresult *ctl_query(PGconn *, const char *, int, const char *const *);
json_t *ctl_rows_json(const PGresult *);
void ctl_print_json(json_t *);
int ctl_width(const char *);
void ctl_print_table(const PGresult *, const char *const[]);

/* lifecycle.c */
int lifecycle_list(struct ctl *);
int lifecycle_show(struct ctl *, const char *);
int lifecycle_history(struct ctl *, const char *);
int lifecycle_ack(struct ctl *, const char *);
int lifecycle_assign(struct ctl *, const char *);
int lifecycle_advance(struct ctl *, const char *, const char *);
int lifecycle_set(struct ctl *, const char *);
int lifecycle_note(struct ctl *, const char *, const char *);
int lifecycle_open(struct ctl *);
int lifecycle_problem(struct ctl *, int, char *[]);
int lifecycle_parse_set(struct ctl *, const char *);
int lifecycle_pause(struct ctl *, const char *);
PGresult *
lifecycle_change(PGconn *, const char *, int, const char *const *, int *);
int lifecycle_resume(struct ctl *, const char *);

/* report.c */
int report_run(struct ctl *, int, char *[]);

/* user.c */
int user_run(struct ctl *, int, char *[]);

/* report_html.c */
void report_html(json_t *);

/* duty.c */
int duty_run(struct ctl *);

/* holidays.c */
int holidays_run(struct ctl *, int, char *[]);

/* migrate.c */
int migrate_run(PGconn *, int);
int migrate_latest(void);

#endif
