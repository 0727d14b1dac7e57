/*
 * What both daemons do the same way: report config errors, and stop by
 * letting queued work finish first.
 */
#ifndef COMMON_DAEMON_H
#define COMMON_DAEMON_H

#include <stdint.h>

#include <event2/event.h>

struct cfg_doc;

/* A stop in progress: the loop ends when idle() says so or at deadline. */
struct daemon_stop {
	struct event_base *base;
	uint64_t deadline; /* monotonic ms */
	struct event *ev;
	int (*idle)(void *);
	void *arg;
};

/* daemon.c */
int daemon_conf_failed(struct cfg_doc *, const char *, const char *);
void daemon_stop_begin(struct daemon_stop *, struct event_base *, uint64_t,
    int (*)(void *), void *);
void daemon_stop_free(struct daemon_stop *);

#endif
