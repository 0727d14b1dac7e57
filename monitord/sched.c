/*
 * The scheduler: a timing wheel of 10 ms slots driven by one persistent
 * libevent timer feeds a queue of due targets, which a token bucket and a
 * cap on probes in flight drain.  Tens of thousands of targets thus cost one
 * timer and an O(due) walk per tick, never a heap operation per probe, and
 * a burst of due targets is paced instead of opening thousands of sockets
 * at once.  Deadlines are spread over the interval by a hash of the target
 * and re-armed from the previous deadline, never from "now", so the
 * schedule does not drift.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>

#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

#define SCHED_SLOTS 1024 /* a power of two; spans 10.24 s */
#define SCHED_READY UINT_MAX /* entry->slot of an entry in the ready queue */

TAILQ_HEAD(sched_list, sched_entry);

/* The wheel, the ready queue and the pacing of the queue. */
struct sched {
	struct event_base *base;
	struct event *tick_ev;
	struct event *dispatch_ev;
	uint64_t (*now)(void);
	uint64_t cur_tick; /* the last tick processed */
	struct sched_list slots[SCHED_SLOTS];
	size_t count; /* in the wheel and in the ready queue */

	struct sched_list ready; /* due, waiting for a token or a slot */
	size_t nready;
	double rate; /* tokens per second; 0 means no limit */
	double burst; /* most tokens the bucket holds */
	double tokens;
	uint64_t refilled; /* ms */
	uint64_t in_flight, max_in_flight;
	uint64_t deferred;
	void (*hook)(void *); /* runs at every tick, before the due entries */
	void *hook_arg;
};

static void sched_dispatch(struct sched *, uint64_t);

/*
 * Arms the tick for the next 10 ms boundary of the monotonic clock, the
 * grid the deadlines live on, so that a deadline fires as it falls due
 * rather than up to a tick later.
 */
static void
sched_arm(struct sched *s)
{
	uint64_t now_us = timeutil_mono_ns() / 1000;
	uint64_t tick_us = SCHED_TICK_MS * 1000;
	uint64_t wait_us = tick_us - now_us % tick_us;
	struct timeval tv;

	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)wait_us;
	/* libevent counts from its cached time; make that now. */
	event_base_update_cache_time(s->base);
	if (event_add(s->tick_ev, &tv) == -1)
		fatalx("sched: cannot arm the tick timer");
}

static void
sched_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	(void)fd;
	(void)what;
	if (s->hook != NULL)
		s->hook(s->hook_arg);
	sched_tick(s, s->now());
	sched_arm(s);
}

/* Has fn(arg) run at every tick of the timer, before the due entries. */
void
sched_set_tick_hook(struct sched *s, void (*fn)(void *), void *arg)
{
	s->hook = fn;
	s->hook_arg = arg;
}

static void
sched_dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	(void)fd;
	(void)what;
	sched_dispatch(s, s->now());
}

/*
 * Creates a scheduler reading the clock through now() (monotonic ms), with
 * no rate limit and no cap until sched_set_limits().  With a NULL base no
 * timer is armed and the caller drives sched_tick() itself, as the tests do.
 */
struct sched *
sched_new(struct event_base *base, uint64_t (*now)(void))
{
	struct sched *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->now = now;
	s->cur_tick = now() / SCHED_TICK_MS;
	s->refilled = now();
	s->max_in_flight = UINT64_MAX;
	for (size_t i = 0; i < SCHED_SLOTS; i++)
		TAILQ_INIT(&s->slots[i]);
	TAILQ_INIT(&s->ready);
	if (base != NULL) {
		s->tick_ev = event_new(base, -1, 0, sched_tick_cb, s);
		s->dispatch_ev = event_new(base, -1, 0, sched_dispatch_cb, s);
		if (s->tick_ev == NULL || s->dispatch_ev == NULL)
			fatalx("sched: cannot create the tick timer");
		sched_arm(s);
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
	while ((e = TAILQ_FIRST(&s->ready)) != NULL) {
		TAILQ_REMOVE(&s->ready, e, link);
		e->queued = 0;
	}
	if (s->tick_ev != NULL)
		event_free(s->tick_ev);
	if (s->dispatch_ev != NULL)
		event_free(s->dispatch_ev);
	free(s);
}

/*
 * Sets the pacing: at most rate probes per second (0: no limit) with bursts
 * of up to burst, and at most max_in_flight probes running at once.
 */
void
sched_set_limits(struct sched *s, double rate, double burst,
    uint64_t max_in_flight)
{
	s->rate = rate > 0 ? rate : 0;
	s->burst = burst >= 1 ? burst : 1;
	if (s->tokens > s->burst)
		s->tokens = s->burst;
	s->max_in_flight = max_in_flight > 0 ? max_in_flight : 1;
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

/* Unlinks an entry if it is queued, in the wheel or waiting to run. */
void
sched_remove(struct sched *s, struct sched_entry *e)
{
	if (!e->queued)
		return;
	if (e->slot == SCHED_READY) {
		TAILQ_REMOVE(&s->ready, e, link);
		s->nready--;
	} else
		TAILQ_REMOVE(&s->slots[e->slot], e, link);
	e->queued = 0;
	s->count--;
}

/* Adds the tokens earned since the last refill. */
static void
sched_refill(struct sched *s, uint64_t now)
{
	if (now <= s->refilled)
		return;
	s->tokens += s->rate * (double)(now - s->refilled) / 1000.0;
	if (s->tokens > s->burst)
		s->tokens = s->burst;
	s->refilled = now;
}

/*
 * Runs ready entries while a token and an in-flight slot are free.  The
 * callback returns 1 when it started a probe (which holds a slot until
 * sched_done) and 0 when it did not (a skipped run costs no token).
 */
static void
sched_dispatch(struct sched *s, uint64_t now)
{
	struct sched_entry *e;

	sched_refill(s, now);
	while ((e = TAILQ_FIRST(&s->ready)) != NULL) {
		if (s->in_flight >= s->max_in_flight ||
		    (s->rate > 0 && s->tokens < 1))
			break;
		TAILQ_REMOVE(&s->ready, e, link);
		s->nready--;
		e->queued = 0;
		s->count--;
		if (e->cb(e, now, e->arg)) {
			s->in_flight++;
			if (s->rate > 0)
				s->tokens -= 1;
		}
	}
	/* Count each entry once when it has to wait. */
	TAILQ_FOREACH(e, &s->ready, link) {
		if (e->waited)
			break;
		e->waited = 1;
		s->deferred++;
	}
}

/* A probe started by a callback has ended: its slot is free again. */
void
sched_done(struct sched *s)
{
	if (s->in_flight > 0)
		s->in_flight--;
	if (s->nready > 0 && s->dispatch_ev != NULL)
		event_active(s->dispatch_ev, EV_TIMEOUT, 0);
}

/*
 * Moves every entry due at or before now to the ready queue, then runs what
 * the pacing allows.  Entries are taken from the wheel before any callback
 * runs, so that callbacks may re-add (or remove) entries.
 */
void
sched_tick(struct sched *s, uint64_t now)
{
	uint64_t target = now / SCHED_TICK_MS, t, first;
	struct sched_entry *e, *next;

	if (target > s->cur_tick) {
		first = s->cur_tick + 1;
		/* After a long stall, one pass over the wheel covers all. */
		if (target - s->cur_tick > SCHED_SLOTS)
			first = target - SCHED_SLOTS + 1;
		for (t = first; t <= target; t++) {
			struct sched_list *slot =
			    &s->slots[t & (SCHED_SLOTS - 1)];

			for (e = TAILQ_FIRST(slot); e != NULL; e = next) {
				next = TAILQ_NEXT(e, link);
				if (e->deadline / SCHED_TICK_MS > target)
					continue;
				TAILQ_REMOVE(slot, e, link);
				e->slot = SCHED_READY;
				e->waited = 0;
				TAILQ_INSERT_TAIL(&s->ready, e, link);
				s->nready++;
			}
		}
		s->cur_tick = target;
	}
	sched_dispatch(s, now);
}

/* Entries in the wheel or waiting to run. */
size_t
sched_count(const struct sched *s)
{
	return s->count;
}

/* Entries due but waiting for a token or an in-flight slot. */
size_t
sched_ready_count(const struct sched *s)
{
	return s->nready;
}

uint64_t
sched_in_flight(const struct sched *s)
{
	return s->in_flight;
}

/* How many entries had to wait for a token or a slot, in all. */
uint64_t
sched_deferred(const struct sched *s)
{
	return s->deferred;
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
 * within the interval is hash mod interval, on the 10 ms grid of the wheel
 * (so that a deadline and the tick that fires it coincide).  Targets with
 * one interval are thus spread evenly over it instead of all firing at
 * start-up.
 */
uint64_t
sched_first_deadline(uint64_t now, uint64_t interval, uint64_t hash)
{
	uint64_t phase = hash % interval, d;

	phase -= phase % SCHED_TICK_MS;
	d = now + (phase + interval - now % interval) % interval;
	return d;
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
