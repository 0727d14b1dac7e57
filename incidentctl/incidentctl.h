/*
 * incidentctl: the operators' and scripts' command line.
 */
#ifndef INCIDENTCTL_H
#define INCIDENTCTL_H

#include <stddef.h>

#include <libpq-fe.h>

/* One embedded SQL migration (generated from sql/NNN_name.sql). */
struct migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migration migrations[];
extern const size_t nmigrations;

/* migrate.c */
int migrate_run(PGconn *, int);
int migrate_latest(void);

#endif
