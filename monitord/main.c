/*
 * monitord: probes the hosts of monitord.yaml and records every hard state
 * change in PostgreSQL.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon.h"
#include "db.h"
#include "monitord.h"
#include "timeutil.h"

#define MONITORD_CONF SYSCONFDIR "/monitord/monitord.yaml"
/* How long a stop waits for queued state changes to reach the database. */
#define MONITORD_DRAIN_MS 5000

static void
usage(void)
{
	fprintf(stderr,
	    "usage: monitord [-dnsv] [-f file]\n"
	    "  -f file  configuration (default %s)\n"
	    "  -n       check the configuration and exit\n"
	    "  -v       with -n, list the checks that would run\n"
	    "  -d       log debug messages\n"
	    "  -s       log to syslog instead of stderr\n",
	    MONITORD_CONF);
	exit(2);
}

/* Prints what a config would monitor, for `monitord -n -v`. */
static void
monitord_print_checks(const struct mon_conf *conf)
{
	for (size_t i = 0; i < conf->nchecks; i++) {
		const struct mon_check *c = conf->checks[i];

		printf("%s\t%s\t%s\t%s\t%s", c->host->name, c->host->address,
		    mon_segment_str(c->host->segment), c->name,
		    check_kind_str(c->kind));
		if (c->kind == CHECK_KIND_TCP)
			printf("\t%u", c->tcp.port);
		printf("\n");
	}
}

static uint64_t
monitord_clock(void)
{
	return timeutil_mono_ms();
}

/* The stop is done once every state change reached the database. */
static int
monitord_idle(void *arg)
{
	struct monitord *md = arg;

	return db_pending(md->db) == 0;
}

static void
monitord_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct monitord *md = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_notice("SIGHUP: configuration reload is not supported by "
			   "this version; restart monitord to apply changes");
		return;
	}
	if (md->stop.ev == NULL) {
		log_notice("signal %d: stopping (%zu state changes to write)",
		    (int)sig, db_pending(md->db));
		for (size_t i = 0; i < md->conf->nchecks; i++)
			check_stop(md->conf->checks[i]);
	}
	daemon_stop_begin(&md->stop, md->base, MONITORD_DRAIN_MS, monitord_idle,
	    md);
}

int
main(int argc, char *argv[])
{
	const char *file = MONITORD_CONF;
	struct monitord md;
	struct cfg_doc *doc;
	struct event *sigs[3];
	const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	int ch, check_only = 0, verbose = 0, debug = 0, use_syslog = 0;
	uint64_t now;

	while ((ch = getopt(argc, argv, "df:hnsv")) != -1) {
		switch (ch) {
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
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init("monitord", use_syslog, LOG_LEVEL_INFO);
	memset(&md, 0, sizeof(md));
	md.conf = mon_conf_load(file, &doc);
	if (md.conf == NULL)
		return daemon_conf_failed(doc, "monitord", file);
	cfg_free(doc);
	if (check_only) {
		if (verbose)
			monitord_print_checks(md.conf);
		printf("%s: OK, %zu hosts, %zu checks\n", file, md.conf->nhosts,
		    md.conf->nchecks);
		mon_conf_free(md.conf);
		return 0;
	}
	log_set_level(debug ? LOG_LEVEL_DEBUG : md.conf->log_level);

	signal(SIGPIPE, SIG_IGN);
	if ((md.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	/* Sockets that need privileges are opened before anything else. */
	md.icmp = probe_icmp_new(md.base);
	md.sched = sched_new(md.base, monitord_clock);
	md.db = db_new(md.base, md.conf->database, "postgresql");
	db_start(md.db);
	for (size_t i = 0; i < 3; i++) {
		sigs[i] =
		    evsignal_new(md.base, signums[i], monitord_signal_cb, &md);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1)
			fatalx("cannot install the signal handler");
	}

	now = timeutil_mono_ms();
	for (size_t i = 0; i < md.conf->nchecks; i++)
		check_start(&md, md.conf->checks[i], now);
	log_notice("monitord %s started as '%s': %zu hosts, %zu checks",
	    PACKAGE_VERSION, md.conf->instance, md.conf->nhosts,
	    md.conf->nchecks);

	event_base_dispatch(md.base);

	log_notice("stopped: %llu probes, %llu state changes recorded, %llu "
		   "not recorded, %zu still queued",
	    (unsigned long long)(md.stats.probes_sent[CHECK_KIND_ICMP] +
		md.stats.probes_sent[CHECK_KIND_TCP]),
	    (unsigned long long)md.stats.state_changes,
	    (unsigned long long)md.stats.changes_failed, db_pending(md.db));
	for (size_t i = 0; i < md.conf->nchecks; i++)
		check_stop(md.conf->checks[i]);
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	daemon_stop_free(&md.stop);
	db_free(md.db);
	probe_icmp_free(md.icmp);
	sched_free(md.sched);
	mon_conf_free(md.conf);
	event_base_free(md.base);
	return 0;
}
