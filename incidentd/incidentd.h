/*
 * incidentd: incidents and their notifications.  Shared structs and one
 * prototype block per file.
 */
#ifndef INCIDENTD_H
#define INCIDENTD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"

struct cfg_doc;
struct db;
struct notify_smtp;

/* How a notification is written: per contact. */
enum mail_lang {
	MAIL_LANG_JA,
	MAIL_LANG_EN
};

/* Someone who receives notifications. */
struct inc_contact {
	char *name;
	char *email;
	enum mail_lang lang;
};

/* The SMTP relay incidentd sends through. */
struct smtp_conf {
	char *url;       /* smtp://host:port or smtps://host:port */
	char *from;      /* envelope and header address */
	char *from_name; /* display name, UTF-8 */
	char *username;  /* AUTH, optional */
	char *password;
	int starttls;    /* 0 never, 1 required */
	int verify_tls;  /* certificate and host name checks */
	uint64_t timeout_ms;
};

/* A loaded incidentd.yaml. */
struct inc_conf {
	char *file;
	char *instance;
	char *database; /* libpq conninfo; NULL means the PG* environment */
	enum log_level log_level;
	uint64_t poll_interval_ms;
	char *console_url; /* shown in messages; optional */
	char *mail_domain; /* right-hand side of Message-IDs */
	struct smtp_conf smtp;
	uint64_t retry_min_ms, retry_max_ms;
	unsigned max_attempts;
	struct inc_contact **contacts;
	size_t ncontacts;
};

/* The running daemon. */
struct incidentd {
	struct event_base *base;
	struct inc_conf *conf;
	struct db *db;
	struct notify_smtp *smtp;
	struct event *poll_ev;
	int ingest_busy, ingest_again;
	int notify_busy, notify_again;
	size_t sending;
	struct event *notify_timer;
};

/* conf.c */
struct inc_conf *inc_conf_load(const char *, struct cfg_doc **);
void inc_conf_free(struct inc_conf *);
const char *mail_lang_str(enum mail_lang);

/* ingest.c */
void ingest_run(struct incidentd *);

/* notify.c */
void notify_run(struct incidentd *);
char *notify_render(const char *, enum mail_lang, const char *,
    const char *, char **);

/* mail.c, notify_smtp.c: MAIL_BLOCK (replace this line) */

#endif
