/*
 * The scheduler: a timing wheel of 10 ms slots driven by one persistent
 * libevent timer, so that tens of thousands of targets cost one timer and
 * an O(due) walk per tick instead of a heap operation per probe.  Deadlines
 * are spread over the interval by a hash of the target and re-armed from the
 * previous deadline, never from "now", so the schedule does not drift.
 */
#include "config.h"

#include <stdlib.h>

#include "monitord.h"
#include "xmalloc.h"

#define SCHED_TICK_MS 10
#define SCHED_SLOTS 1024 /* a power of two; spans 10.24 s */

TAILQ_HEAD(sched_list, sched_entry);

/* The wheel.  Entries further away than one turn wait in their slot. */
struct sched {
	struct event_base *base;
	struct event *tick_ev;
	uint64_t (*now)(void);
	uint64_t cur_tick; /* the last tick processed */
	struct sched_list slots[SCHED_SLOTS];
	size_t count;
};

static void
sched_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	(void)fd;
	(void)what;
	sched_tick(s, s->now());
}

/*
 * Creates a scheduler reading the clock through now() (monotonic ms).  With
 * a NULL base no timer is armed and the caller drives sched_tick() itself,
 * as the tests do.
 */
struct sched *
sched_new(struct event_base *base, uint64_t (*now)(void))
{
	struct sched *s = xcalloc(1, sizeof(*s));
	struct timeval tv = { 0, SCHED_TICK_MS * 1000 };

	s->base = base;
	s->now = now;
	s->cur_tick = now() / SCHED_TICK_MS;
	for (size_t i = 0; i < SCHED_SLOTS; i++)
		TAILQ_INIT(&s->slots[i]);
	if (base != NULL) {
		s->tick_ev = event_new(base, -1, EV_PERSIST, sched_tick_cb, s);
		if (s->tick_ev == NULL || event_add(s->tick_ev, &tv) == -1)
			fatalx("sched: cannot arm the tick timer");
	}
	return s;
}

/* Frees the wheel; entries belong to their owners and are only unlinked. */
void
sched_free(struct sched *s)
{
	struct sched_entry *e;

	if (s == NULL)
		return;
	for (size_t i = 0; i < SCHED_SLOTS; i++) {
		while ((e = TAILQ_FIRST(&s->slots[i])) != NULL) {
			TAILQ_REMOVE(&s->slots[i], e, link);
			e->queued = 0;
		}
	}
	if (s->tick_ev != NULL)
		event_free(s->tick_ev);
	free(s);
}

/* Queues an entry (its cb and arg set) to fire at deadline (monotonic ms). */
void
sched_add(struct sched *s, struct sched_entry *e, uint64_t deadline)
{
	uint64_t tick = deadline / SCHED_TICK_MS;

	if (e->queued)
		sched_remove(s, e);
	/* A deadline already past fires at the next tick. */
	if (tick <= s->cur_tick)
		tick = s->cur_tick + 1;
	e->deadline = deadline;
	e->queued = 1;
	e->slot = (unsigned)(tick & (SCHED_SLOTS - 1));
	TAILQ_INSERT_TAIL(&s->slots[e->slot], e, link);
	s->count++;
}

/* Unlinks an entry if it is queued. */
void
sched_remove(struct sched *s, struct sched_entry *e)
{
	if (!e->queued)
		return;
	TAILQ_REMOVE(&s->slots[e->slot], e, link);
	e->queued = 0;
	s->count--;
}

/*
 * Fires every entry due at or before now.  Due entries are moved to a
 * private list first, so that callbacks may re-add (or remove) entries.
 */
void
sched_tick(struct sched *s, uint64_t now)
{
	uint64_t target = now / SCHED_TICK_MS, t, first;
	struct sched_list due;
	struct sched_entry *e, *next;

	if (target <= s->cur_tick)
		return;
	TAILQ_INIT(&due);
	first = s->cur_tick + 1;
	/* After a long stall, one pass over the wheel covers every slot. */
	if (target - s->cur_tick > SCHED_SLOTS)
		first = target - SCHED_SLOTS + 1;
	for (t = first; t <= target; t++) {
		struct sched_list *slot = &s->slots[t & (SCHED_SLOTS - 1)];

		for (e = TAILQ_FIRST(slot); e != NULL; e = next) {
			next = TAILQ_NEXT(e, link);
			if (e->deadline / SCHED_TICK_MS > target)
				continue;
			TAILQ_REMOVE(slot, e, link);
			TAILQ_INSERT_TAIL(&due, e, link);
		}
	}
	s->cur_tick = target;
	while ((e = TAILQ_FIRST(&due)) != NULL) {
		TAILQ_REMOVE(&due, e, link);
		e->queued = 0;
		s->count--;
		e->cb(e, now, e->arg);
	}
}

size_t
sched_count(const struct sched *s)
{
	return s->count;
}

/* FNV-1a over a host and a check name: a stable phase for each target. */
uint64_t
sched_hash(const char *host, const char *check)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *parts[] = { host, "\n", check };

	for (size_t i = 0; i < 3; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i];
		     *p != '\0'; p++) {
			h ^= *p;
			h *= 0x100000001b3ULL;
		}
	}
	return h;
}

/*
 * The first deadline of a target: the next time at or after now whose phase
 * within the interval is hash mod interval.  Targets with one interval are
 * thus spread evenly over it instead of all firing at start-up.
 */
uint64_t
sched_first_deadline(uint64_t now, uint64_t interval, uint64_t hash)
{
	uint64_t phase = hash % interval;

	return now + (phase + interval - now % interval) % interval;
}

/*
 * The deadline after prev.  If that is already more than half an interval
 * late (the loop stalled), whole intervals are skipped rather than fired in
 * a burst to catch up; *skipped counts them.
 */
uint64_t
sched_next_deadline(uint64_t prev, uint64_t interval, uint64_t now,
    uint64_t *skipped)
{
	uint64_t next = prev + interval, n;

	if (next + interval / 2 < now) {
		n = (now - next - interval / 2 + interval - 1) / interval;
		next += n * interval;
		if (skipped != NULL)
			*skipped += n;
	}
	return next;
}
