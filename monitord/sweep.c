/*
 * A one-shot sweep, like `fping -c1`: ping every address of a list once and
 * say which answered.  It uses the daemon's ICMP engine with no pacing, so
 * it also shows how fast that engine is.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* Probes in flight at once: well inside one family's sequence numbers. */
#define SWEEP_IN_FLIGHT 16384

struct sweep;

/* One address of the list and what became of it. */
struct sweep_target {
	struct sweep *sw;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char text[INET6_ADDRSTRLEN];
	int done;
	unsigned received;
	double rtt_ms;
	enum icmp_outcome outcome;
};

/* The sweep in progress. */
struct sweep {
	struct event_base *base;
	struct probe_icmp *icmp;
	struct sweep_target *targets;
	size_t n, next, running, finished;
	unsigned count;
	uint64_t timeout_ms;
};

static void sweep_fill(struct sweep *);

static void
sweep_done_cb(const struct icmp_result *r, void *arg)
{
	struct sweep_target *t = arg;
	struct sweep *sw = t->sw;

	t->done = 1;
	t->received = r->received;
	t->rtt_ms = r->rtt_avg_ms;
	t->outcome = r->outcome;
	sw->running--;
	sw->finished++;
	sweep_fill(sw);
	if (sw->finished == sw->n)
		event_base_loopbreak(sw->base);
}

/* Starts probes until the in-flight limit or the end of the list. */
static void
sweep_fill(struct sweep *sw)
{
	while (sw->next < sw->n && sw->running < SWEEP_IN_FLIGHT) {
		struct sweep_target *t = &sw->targets[sw->next++];

		t->sw = sw;
		if (probe_icmp_start(sw->icmp, (struct sockaddr *)&t->ss,
			t->sslen, sw->count, 0, sw->timeout_ms, sweep_done_cb,
			t) == NULL) {
			t->done = 1;
			t->outcome = ICMP_RESULT_SEND_ERROR;
			sw->finished++;
			continue;
		}
		sw->running++;
	}
}

/* Reads the list: one address per line; blank lines and # comments. */
static int
sweep_read(const char *file, struct sweep *sw)
{
	FILE *fp;
	char line[256];
	unsigned lineno = 0;
	int rc = 0;

	if (strcmp(file, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(file, "r")) == NULL) {
		fprintf(stderr, "monitord: %s: %s\n", file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = line, *end;
		struct sweep_target *t;
		struct sockaddr_in *sin;
		struct sockaddr_in6 *sin6;

		lineno++;
		while (isspace((unsigned char)*p))
			p++;
		for (end = p;
		     *end && !isspace((unsigned char)*end) && *end != '#';
		     end++)
			;
		*end = '\0';
		if (*p == '\0')
			continue;
		sw->targets =
		    xreallocarray(sw->targets, sw->n + 1, sizeof(*sw->targets));
		t = &sw->targets[sw->n];
		memset(t, 0, sizeof(*t));
		sin = (struct sockaddr_in *)&t->ss;
		sin6 = (struct sockaddr_in6 *)&t->ss;
		if (inet_pton(AF_INET, p, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			t->sslen = sizeof(*sin);
		} else if (inet_pton(AF_INET6, p, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			t->sslen = sizeof(*sin6);
		} else {
			fprintf(stderr,
			    "monitord: %s:%u:1: '%s' is not an IPv4 "
			    "or IPv6 address\n",
			    file, lineno, p);
			rc = -1;
			continue;
		}
		/* inet_pton accepted it, so it fits. */
		snprintf(t->text, sizeof(t->text), "%.*s",
		    (int)sizeof(t->text) - 1, p);
		sw->n++;
	}
	if (fp != stdin)
		fclose(fp);
	return rc;
}

/*
 * Pings every address of file count times and prints a summary line (and,
 * verbose, one line per address).  Returns the exit status: 0 when the
 * sweep ran, 1 when the list or the sockets were unusable.
 */
int
sweep_run(const char *file, unsigned count, uint64_t timeout_ms, int verbose)
{
	struct sweep sw;
	size_t alive = 0, dead = 0, errors = 0;
	uint64_t t0, t1;

	memset(&sw, 0, sizeof(sw));
	sw.count = count;
	sw.timeout_ms = timeout_ms;
	if (sweep_read(file, &sw) == -1) {
		free(sw.targets);
		return 1;
	}
	if ((sw.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if ((sw.icmp = probe_icmp_new(sw.base)) == NULL) {
		event_base_free(sw.base);
		free(sw.targets);
		return 1;
	}
	t0 = timeutil_mono_ns();
	sweep_fill(&sw);
	if (sw.finished < sw.n)
		event_base_dispatch(sw.base);
	t1 = timeutil_mono_ns();

	for (size_t i = 0; i < sw.n; i++) {
		const struct sweep_target *t = &sw.targets[i];

		if (t->received > 0)
			alive++;
		else if (t->outcome == ICMP_RESULT_NO_REPLY)
			dead++;
		else
			errors++;
		if (!verbose)
			continue;
		if (t->received > 0)
			printf("%s alive %.3f ms\n", t->text, t->rtt_ms);
		else
			printf("%s %s\n", t->text,
			    t->outcome == ICMP_RESULT_NO_REPLY ?
				"unreachable" :
				probe_icmp_outcome_str(t->outcome));
	}
	printf("sweep: %zu targets, %zu alive, %zu unreachable, %zu errors, "
	       "%.3f s\n",
	    sw.n, alive, dead, errors, (double)(t1 - t0) / 1e9);
	probe_icmp_free(sw.icmp);
	event_base_free(sw.base);
	free(sw.targets);
	return 0;
}
