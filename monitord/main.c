/*
 * monitord: probes the hosts of monitord.yaml and records every hard state
 * change in PostgreSQL.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
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
/* The windows of the probes/s and worst-lateness figures. */
#define MONITORD_WINDOW_MS 10000

static void
usage(void)
{
	fprintf(stderr,
	    "usage: monitord [-dJnsv] [-f file]\n"
	    "       monitord -S list [-c echoes] [-t timeout_ms] [-v]\n"
	    "  -f file  configuration (default %s)\n"
	    "  -n       check the configuration and exit\n"
	    "  -J       create the journal's directory for 'user' and exit\n"
	    "  -v       with -n, list the checks that would run;\n"
	    "           with -S, print every address\n"
	    "  -d       log debug messages\n"
	    "  -s       log to syslog instead of stderr\n"
	    "  -S list  ping every address of the list once and exit\n"
	    "  -c n     with -S, echoes per address (default 1)\n"
	    "  -t ms    with -S, how long to wait for replies (default 1000)\n",
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
		    segment_str(c->host->segment), c->name,
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

	return emit_pending(md) == 0 && metric_store_pending(md->store) == 0;
}

/* A trap came in. */
static void
monitord_trap_cb(const struct snmp_trap *t, void *arg)
{
	snmp_trap_match(arg, t);
}

/* Everything the signal handler needs. */
struct monitord_ctx {
	struct monitord *md;
	const char *file;
	int debug;
};

/* Runs at every tick of the scheduler, before the checks due. */
static void
monitord_tick_hook(void *arg)
{
	struct monitord *md = arg;

	snmp_engine_poll(md->snmp);
}

/* How often downtime windows are written. */
#define MONITORD_DOWNTIME_MS (3600 * 1000)

static void
monitord_downtime_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	downtime_publish(arg, MONITORD_DOWNTIME_DAYS);
}

static void
monitord_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct monitord_ctx *ctx = arg;
	struct monitord *md = ctx->md;

	(void)what;
	if (sig == SIGHUP) {
		if (md->stop.ev != NULL)
			return;
		log_notice("SIGHUP: reloading %s", ctx->file);
		if (reload_apply(md, ctx->file) == 0 && !ctx->debug)
			log_set_level(md->conf->log_level);
		return;
	}
	if (md->stop.ev == NULL) {
		log_notice("signal %d: stopping (%zu state changes to write)",
		    (int)sig, emit_pending(md));
		for (size_t i = 0; i < md->conf->nchecks; i++)
			check_stop(md->conf->checks[i]);
	}
	daemon_stop_begin(&md->stop, md->base, MONITORD_DRAIN_MS, monitord_idle,
	    md);
}

/* Every 10 s: the last window's figures become the ones /metrics shows. */
static void
monitord_window_cb(evutil_socket_t fd, short what, void *arg)
{
	struct monitord *md = arg;

	(void)fd;
	(void)what;
	md->stats.window_probes[1] = md->stats.window_probes[0];
	md->stats.window_probes[0] = 0;
	md->stats.window_max[1] = md->stats.window_max[0];
	md->stats.window_max[0] = 0;
	md->stats.window_start_ms = timeutil_mono_ms();
	md->stats.probes_deferred = sched_deferred(md->sched);
}

/* Parses a positive number option or exits with usage. */
static unsigned long
monitord_number(const char *s, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v == 0 || v > max)
		usage();
	return v;
}

/* Each (re)connect: a new session, which holds no shard yet. */
static void
monitord_connect_cb(struct db *db, void *arg)
{
	(void)db;
	shard_connected(arg);
}

int
main(int argc, char *argv[])
{
	const char *file = MONITORD_CONF, *sweep = NULL;
	struct monitord md;
	struct monitord_ctx ctx;
	struct cfg_doc *doc;
	struct event *sigs[3], *window_ev, *downtime_ev;
	struct timeval downtime_tv = timeutil_ms_to_tv(MONITORD_DOWNTIME_MS);
	struct event_config *evcfg;
	const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	struct timeval window_tv = timeutil_ms_to_tv(MONITORD_WINDOW_MS);
	int ch, check_only = 0, verbose = 0, debug = 0, use_syslog = 0;
	int prepare = 0;
	int echoes_set = 0, timeout_set = 0;
	unsigned long echoes = 1, timeout_ms = 1000;
	uint64_t now, probes = 0;

	while ((ch = getopt(argc, argv, "c:df:hJnsS:t:v")) != -1) {
		switch (ch) {
		case 'c':
			echoes = monitord_number(optarg, PROBE_ICMP_MAX_ECHOES);
			echoes_set = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'J':
			prepare = 1;
			break;
		case 'n':
			check_only = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		case 'S':
			sweep = optarg;
			break;
		case 't':
			timeout_ms = monitord_number(optarg, 600000);
			timeout_set = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (sweep == NULL && (echoes_set || timeout_set)))
		usage();

	log_init("monitord", use_syslog,
	    debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	if (sweep != NULL) {
		if (!debug)
			log_set_level(LOG_LEVEL_WARN);
		return sweep_run(sweep, (unsigned)echoes, timeout_ms, verbose);
	}
	memset(&md, 0, sizeof(md));
	md.conf = conf_load(file, &doc);
	if (md.conf == NULL)
		return daemon_conf_failed(doc, "monitord", file);
	cfg_free(doc);
	if (prepare) {
		int rc = md.conf->journal_path == NULL ?
		    0 :
		    priv_journal_dir(md.conf->journal_path, md.conf->user);

		conf_free(md.conf);
		return rc == 0 ? 0 : 1;
	}
	if (check_only) {
		if (verbose)
			monitord_print_checks(md.conf);
		printf("%s: OK, %zu hosts, %zu checks\n", file, md.conf->nhosts,
		    md.conf->nchecks);
		conf_free(md.conf);
		return 0;
	}
	log_set_level(debug ? LOG_LEVEL_DEBUG : md.conf->log_level);
	/* The config tree of a large network is gone: give it back. */
	malloc_trim(0);

	signal(SIGPIPE, SIG_IGN);
	/* One precise timer (the wheel's tick) costs little and keeps
	 * lateness within the tick. */
	if ((evcfg = event_config_new()) == NULL ||
	    event_config_set_flag(evcfg, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (md.base = event_base_new_with_config(evcfg)) == NULL)
		fatalx("cannot create the event loop");
	event_config_free(evcfg);

	/* What needs privileges first: raw sockets, the metrics port, the
	 * trap port. */
	md.icmp = probe_icmp_new(md.base);
	md.snmp = snmp_engine_new(md.base);
	md.plugins = plugin_runner_new(md.base, md.conf->plugin_max);
	if (md.conf->trap_listen != NULL &&
	    (md.traps = snmp_trap_new(md.base, md.conf->trap_listen,
		 (const char *const *)md.conf->trap_communities,
		 md.conf->ntrap_communities, monitord_trap_cb, &md)) == NULL)
		fatalx("cannot receive traps on %s", md.conf->trap_listen);
	if (md.conf->metrics_listen != NULL &&
	    (md.http = http_new(&md, md.conf->metrics_listen)) == NULL)
		fatalx("cannot serve metrics on %s", md.conf->metrics_listen);
	/* The journal too, with what the last run left in it; its
	 * directory must be writable by `user` (see monitord -J). */
	if (emit_journal_open(&md) == -1)
		fatalx("cannot open the journal %s", md.conf->journal_path);
	if (md.conf->user != NULL && priv_drop(md.conf->user) == -1)
		fatalx("cannot drop privileges to user '%s'", md.conf->user);
	else if (md.conf->user == NULL && geteuid() == 0)
		log_notice("running as root: set 'user' to drop privileges");

	md.sched = sched_new(md.base, monitord_clock);
	/* SNMP answers are read at the tick, a hundred wake-ups a second
	 * however many agents answer (see snmp_engine_set_polled). */
	if (md.snmp != NULL) {
		snmp_engine_set_polled(md.snmp, 1);
		sched_set_tick_hook(md.sched, monitord_tick_hook, &md);
	}
	md.db = db_new(md.base, md.conf->database, "postgresql");
	db_start(md.db);
	/* What the last run left in the journal goes first. */
	emit_kick(&md);
	db_set_connect_cb(md.db, monitord_connect_cb, &md);
	shard_start(&md);
	md.store = metric_store_new(&md);
	ctx.md = &md;
	ctx.file = file;
	ctx.debug = debug;
	for (size_t i = 0; i < 3; i++) {
		sigs[i] =
		    evsignal_new(md.base, signums[i], monitord_signal_cb, &ctx);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1)
			fatalx("cannot install the signal handler");
	}
	downtime_ev =
	    event_new(md.base, -1, EV_PERSIST, monitord_downtime_cb, &md);
	if (downtime_ev == NULL || event_add(downtime_ev, &downtime_tv) == -1)
		fatalx("cannot arm the downtime timer");
	downtime_publish(&md, MONITORD_DOWNTIME_DAYS);
	window_ev = event_new(md.base, -1, EV_PERSIST, monitord_window_cb, &md);
	if (window_ev == NULL || event_add(window_ev, &window_tv) == -1)
		fatalx("cannot arm the statistics timer");

	reload_limits(&md);
	for (size_t i = 0; i < md.conf->nhosts; i++)
		check_snmp_host_start(&md, md.conf->hosts[i]);
	snmp_trap_match_index(&md);
	now = timeutil_mono_ms();
	md.stats.window_start_ms = now;
	for (size_t i = 0; i < md.conf->nchecks; i++)
		check_start(&md, md.conf->checks[i], now);
	log_notice("monitord %s started as '%s': %zu hosts, %zu checks",
	    PACKAGE_VERSION, md.conf->instance, md.conf->nhosts,
	    md.conf->nchecks);

	event_base_dispatch(md.base);

	for (size_t k = 0; k < CHECK_KIND_COUNT; k++)
		probes += md.stats.probes_sent[k];
	log_notice("stopped: %llu probes, %llu state changes recorded, %llu "
		   "not recorded, %zu still queued",
	    (unsigned long long)probes,
	    (unsigned long long)md.stats.state_changes,
	    (unsigned long long)md.stats.changes_failed, emit_pending(&md));
	for (size_t i = 0; i < md.conf->nchecks; i++)
		check_stop(md.conf->checks[i]);
	for (size_t i = 0; i < md.conf->nhosts; i++)
		check_snmp_host_stop(&md, md.conf->hosts[i]);
	for (size_t i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(window_ev);
	event_free(downtime_ev);
	daemon_stop_free(&md.stop);
	http_free(md.http);
	snmp_trap_free(md.traps);
	snmp_engine_free(md.snmp);
	plugin_runner_free(md.plugins);
	snmp_trap_match_index_free(&md);
	db_free(md.db);
	shard_free(&md);
	emit_free(&md);
	metric_store_free(md.store);
	probe_icmp_free(md.icmp);
	sched_free(md.sched);
	conf_free(md.conf);
	event_base_free(md.base);
	return 0;
}
