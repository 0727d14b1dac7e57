/*
 * Shared daemon chores: printing config errors, and a stop that waits for
 * queued work (state changes to write, mail in flight) before the loop ends.
 */
#include "config.h"

#include <stdio.h>

#include "cfg.h"
#include "daemon.h"
#include "log.h"
#include "timeutil.h"

/* How often a stop in progress looks whether the work is done. */
#define DAEMON_STOP_POLL_MS 100

/*
 * Prints every error of a config that failed to load, and a count, on
 * stderr; frees the document.  Returns the exit status for that case.
 */
int
daemon_conf_failed(struct cfg_doc *doc, const char *prog, const char *file)
{
	for (size_t i = 0; i < doc->nerrors; i++)
		fprintf(stderr, "%s\n", doc->errors[i]);
	fprintf(stderr, "%s: %s: %zu error%s\n", prog, file, doc->nerrors,
	    doc->nerrors == 1 ? "" : "s");
	cfg_free(doc);
	return 1;
}

static void
daemon_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_stop *st = arg;
	struct timeval tv = timeutil_ms_to_tv(DAEMON_STOP_POLL_MS);

	(void)fd;
	(void)what;
	if (st->idle(st->arg) || timeutil_mono_ms() >= st->deadline) {
		event_base_loopbreak(st->base);
		return;
	}
	evtimer_add(st->ev, &tv);
}

/*
 * Begins a stop: the loop ends once idle(arg) is true, or after timeout_ms.
 * A second call (a second signal) ends the loop at once.
 */
void
daemon_stop_begin(struct daemon_stop *st, struct event_base *base,
    uint64_t timeout_ms, int (*idle)(void *), void *arg)
{
	if (st->ev != NULL) {
		log_notice("second signal: stopping now");
		event_base_loopbreak(base);
		return;
	}
	st->base = base;
	st->deadline = timeutil_mono_ms() + timeout_ms;
	st->idle = idle;
	st->arg = arg;
	if ((st->ev = evtimer_new(base, daemon_stop_cb, st)) == NULL) {
		event_base_loopbreak(base);
		return;
	}
	event_active(st->ev, EV_TIMEOUT, 0);
}

void
daemon_stop_free(struct daemon_stop *st)
{
	if (st->ev != NULL)
		event_free(st->ev);
	st->ev = NULL;
}
