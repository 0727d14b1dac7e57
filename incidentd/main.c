/*
 * incidentd: turns monitord's state changes into incidents and tells people.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon.h"
#include "db.h"
#include "httpd.h"
#include "incidentd.h"
#include "timeutil.h"

#define INCIDENTD_CONF SYSCONFDIR "/monitord/incidentd.yaml"
/* How long a stop waits for mails in flight and their outcomes. */
#define INCIDENTD_DRAIN_MS 10000

static void
usage(void)
{
	fprintf(stderr,
	    "usage: incidentd [-dns] [-f file]\n"
	    "  -H       the console's process (started by incidentd itself)\n"
	    "  -f file  configuration (default %s)\n"
	    "  -n       check the configuration and exit\n"
	    "  -d       log debug messages\n"
	    "  -s       log to syslog instead of stderr\n",
	    INCIDENTD_CONF);
	exit(2);
}

static void
incidentd_configured_cb(struct db *db, const PGresult *res, void *arg)
{
	(void)db;
	(void)arg;
	if (res != NULL && !db_result_ok(res))
		log_warnx("cannot store the service map: %s",
		    PQresultErrorMessage(res));
}

static void
incidentd_active_cb(struct db *db, const PGresult *res, void *arg)
{
	struct incidentd *idd = arg;

	(void)db;
	idd->active_busy = 0;
	if (res == NULL)
		return; /* the connection broke: asked again on the next */
	if (!db_result_ok(res) || PQntuples(res) != 1) {
		log_warnx("cannot ask for the active role: %s",
		    PQresultErrorMessage(res));
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		if (!idd->standby_logged)
			log_notice("standby: another incidentd is active; "
				   "taking over when it stops");
		idd->standby_logged = 1;
		return;
	}
	idd->active = 1;
	idd->standby_logged = 0;
	log_notice("active: ingesting state changes and sending "
		   "notifications");
	/* Whatever happened while no one was active is in the tables. */
	ingest_run(idd);
	ingest_release(idd);
	notify_run(idd);
	sla_refresh_run(idd);
	upkeep_kick(idd->upkeep);
}

/*
 * Asks for the active role (a session advisory lock), unless this
 * connection has it or is asking already.
 */
static void
incidentd_try_active(struct incidentd *idd)
{
	if (idd->active || idd->active_busy || idd->stopping ||
	    !db_connected(idd->db))
		return;
	idd->active_busy = 1;
	db_query(idd->db, "SELECT incidentd_try_active()", 0, NULL, 0,
	    incidentd_active_cb, idd);
}

static void
incidentd_connect_cb(struct db *db, void *arg)
{
	struct incidentd *idd = arg;
	const char *params[1];

	if (idd->console_only)
		return; /* the HTTP side: nothing to set up or take over */

	/* A new connection holds no lock: the role is asked for again. */
	if (idd->active)
		log_notice("reconnected: asking for the active role again");
	idd->active = 0;
	idd->active_busy = 0;
	/* The service map first: new incidents take their impact from it. */
	params[0] = idd->conf->lifecycle_json;
	db_query(db, "SELECT lifecycle_configure($1::jsonb)", 1, params,
	    DB_RETRY, incidentd_configured_cb, idd);
	incidentd_try_active(idd);
}

static void
incidentd_notify_cb(struct db *db, const char *channel, const char *payload,
    void *arg)
{
	struct incidentd *idd = arg;

	(void)db;
	(void)payload;
	if (strcmp(channel, "state_event") == 0)
		ingest_run(idd);
	else if (strcmp(channel, "notification") == 0)
		notify_run(idd);
}

/* NOTIFY is only a hint: poll as well, and pick up retries that fell due. */
static void
incidentd_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct incidentd *idd = arg;

	(void)fd;
	(void)what;
	if (!db_connected(idd->db))
		idd->active = 0;
	incidentd_try_active(idd);
	ingest_run(idd);
	ingest_release(idd);
	notify_run(idd);
	sla_refresh_run(idd);
}

/* The senders of mail, SMS and webhooks: not in the console's process. */
static void
incidentd_senders(struct incidentd *idd)
{
	if (idd->conf->smtp.url != NULL) {
		idd->smtp = notify_smtp_new(idd->base, &idd->conf->smtp);
		if (idd->smtp == NULL)
			fatalx("cannot set up the SMTP sender");
	} else
		log_warnx("no smtp section: mail notifications stay queued");
	if (idd->conf->sms.gateway != NULL &&
	    (idd->sms_http = notify_http_new(idd->base, "sms")) == NULL)
		fatalx("cannot set up the SMS gateway sender");
	for (size_t i = 0; i < idd->conf->ncontacts; i++) {
		if (idd->conf->contacts[i]->webhook == NULL)
			continue;
		if ((idd->webhook = notify_http_new(idd->base, "webhook")) ==
		    NULL)
			fatalx("cannot set up the webhook sender");
		break;
	}
}

/* The stop is done once no mail is in flight and every outcome is recorded. */
static int
incidentd_idle(void *arg)
{
	struct incidentd *idd = arg;

	return idd->sending == 0 && db_pending(idd->db) == 0;
}

static void
incidentd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct incidentd *idd = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_notice("SIGHUP: configuration reload is not supported by "
			   "this version; restart incidentd to apply changes");
		return;
	}
	if (idd->stop.ev == NULL)
		log_notice("signal %d: stopping (%zu mails in flight)",
		    (int)sig, idd->sending);
	idd->stopping = 1;
	daemon_stop_begin(&idd->stop, idd->base, INCIDENTD_DRAIN_MS,
	    incidentd_idle, idd);
}

int
main(int argc, char *argv[])
{
	const char *file = INCIDENTD_CONF;
	struct incidentd idd;
	struct cfg_doc *doc;
	struct event *sigs[3];
	const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	struct timeval poll_tv;
	int ch, check_only = 0, debug = 0, use_syslog = 0;
	char *text = NULL;
	size_t len = 0;

	memset(&idd, 0, sizeof(idd));
	while ((ch = getopt(argc, argv, "df:hHns")) != -1) {
		switch (ch) {
		case 'H':
			idd.console_only = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			check_only = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init(idd.console_only ? "incidentd/http" : "incidentd", use_syslog,
	    LOG_LEVEL_INFO);
	if (idd.console_only) {
		/* From incidentd, on standard input, credentials blanked. */
		if ((text = privsep_read_config(&len)) == NULL)
			fatalx("cannot read the configuration from incidentd");
		doc = cfg_load_string(file, text, len, NULL);
		free(text);
		text = NULL;
	} else
		doc = cfg_load_file_text(file, &text, &len);
	idd.conf = conf_load_doc(file, doc, &doc);
	if (idd.conf == NULL) {
		free(text);
		return daemon_conf_failed(doc, "incidentd", file);
	}
	if (text != NULL && !check_only && idd.conf->ack.listen != NULL) {
		char *redacted = cfg_redacted(doc, text, len, &len);

		explicit_bzero(text, len);
		free(text);
		text = redacted;
	} else if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
		text = NULL;
	}
	cfg_free(doc);
	if (check_only) {
		printf("%s: OK, %zu contacts, %zu services, %zu teams, %zu "
		       "agreements\n",
		    file, idd.conf->ncontacts, idd.conf->nservices,
		    idd.conf->nteams, idd.conf->nagreements);
		conf_free(idd.conf);
		return 0;
	}
	log_set_level(debug ? LOG_LEVEL_DEBUG : idd.conf->log_level);
	/* Times in messages are the department's local time. */
	setenv("TZ", idd.conf->timezone, 1);
	tzset();

	signal(SIGPIPE, SIG_IGN);
	if ((idd.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	notify_init(&idd);
	if (!idd.console_only)
		incidentd_senders(&idd);
	idd.db = db_new(idd.base, idd.conf->database, "postgresql");
	/* The HTTP side runs in the console's process (privsep.c). */
	if (idd.console_only && http_start(&idd) == -1)
		fatalx("cannot listen on %s", idd.conf->ack.listen);
	if (!idd.console_only && text != NULL &&
	    privsep_start(&idd, file, text, len, debug, use_syslog) == -1)
		fatalx("cannot start the console's process");
	db_set_connect_cb(idd.db, incidentd_connect_cb, &idd);
	if (!idd.console_only) {
		db_set_notify_cb(idd.db, incidentd_notify_cb, &idd);
		db_listen(idd.db, "state_event");
		db_listen(idd.db, "notification");
	}
	db_start(idd.db);
	if (!idd.console_only)
		idd.upkeep = upkeep_new(&idd);

	idd.poll_ev =
	    event_new(idd.base, -1, EV_PERSIST, incidentd_poll_cb, &idd);
	poll_tv = timeutil_ms_to_tv(idd.conf->poll_interval_ms);
	if (idd.poll_ev == NULL ||
	    (!idd.console_only && event_add(idd.poll_ev, &poll_tv) == -1))
		fatalx("cannot arm the poll timer");
	for (size_t i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(idd.base, signums[i],
		    incidentd_signal_cb, &idd);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1)
			fatalx("cannot install the signal handler");
	}
	if (idd.console_only)
		log_notice("console process of '%s' serving %s",
		    idd.conf->instance, idd.conf->ack.listen);
	else
		log_notice("incidentd %s started as '%s': %zu contacts",
		    PACKAGE_VERSION, idd.conf->instance, idd.conf->ncontacts);

	event_base_dispatch(idd.base);

	log_notice("stopped: %llu state changes applied, %llu mails sent, "
		   "%llu attempts failed",
	    (unsigned long long)idd.events_applied,
	    (unsigned long long)idd.mails_sent,
	    (unsigned long long)idd.mails_failed);
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(idd.poll_ev);
	daemon_stop_free(&idd.stop);
	notify_smtp_free(idd.smtp);
	notify_http_free(idd.sms_http);
	notify_http_free(idd.webhook);
	notify_shutdown(&idd);
	privsep_stop(&idd);
	/* pages waiting for the database are answered as it goes */
	upkeep_free(idd.upkeep);
	db_free(idd.db);
	http_stop(&idd);
	conf_free(idd.conf);
	event_base_free(idd.base);
	return 0;
}
