/*
 * Measured values (interface traffic, disk use, CPU load, polled OIDs) on
 * their way to PostgreSQL.  Samples are written as COPY text rows into a
 * buffer and sent by one COPY at a time, every second or every few
 * thousand rows, so that tens of thousands of samples a second cost a few
 * statements.  The buffer is bounded: while PostgreSQL is away it fills,
 * and what does not fit is counted and dropped (samples are figures for
 * graphs; state changes, which must not be lost, go another way).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

#define STORE_BATCH_ROWS 5000
#define STORE_FLUSH_MS 1000
#define STORE_MAX_BYTES (64 * 1024 * 1024)

/* The buffer of rows and the COPY in flight. */
struct metric_store {
	struct monitord *md;
	struct evbuffer *buf;
	size_t rows;
	size_t inflight; /* rows in the COPY in flight, 0 when none */
	struct event *timer;
	uint64_t dropped_logged;
};

static void metric_store_flush(struct metric_store *);

static void
metric_store_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	metric_store_flush(arg);
}

/* Creates the store; samples start going out once the db connects. */
struct metric_store *
metric_store_new(struct monitord *md)
{
	struct metric_store *ms = xcalloc(1, sizeof(*ms));
	struct timeval tv = timeutil_ms_to_tv(STORE_FLUSH_MS);

	ms->md = md;
	if ((ms->buf = evbuffer_new()) == NULL ||
	    (ms->timer = event_new(md->base, -1, EV_PERSIST,
		 metric_store_timer_cb, ms)) == NULL ||
	    event_add(ms->timer, &tv) == -1)
		fatalx("metric_store: cannot set up the buffer");
	return ms;
}

/* Frees the store; rows not yet sent are counted as dropped. */
void
metric_store_free(struct metric_store *ms)
{
	if (ms == NULL)
		return;
	if (ms->rows > 0)
		log_info("%zu metric samples not written (shutting down)",
		    ms->rows);
	event_free(ms->timer);
	evbuffer_free(ms->buf);
	free(ms);
}

/* Samples waiting or in flight. */
size_t
metric_store_pending(const struct metric_store *ms)
{
	return ms == NULL ? 0 : ms->rows + ms->inflight;
}

/* Appends a text field in COPY text format. */
static void
metric_store_field(struct evbuffer *buf, const char *s)
{
	char small[256], *tmp = small;
	size_t need = db_copy_escape(NULL, 0, s);

	if (need >= sizeof(small))
		tmp = xmalloc(need + 1);
	db_copy_escape(tmp, need + 1, s);
	evbuffer_add(buf, tmp, need);
	if (tmp != small)
		free(tmp);
}

/*
 * Queues one sample taken now.  host, check and metric are names from the
 * config or from the device (interface and disk names), which the checks
 * clean with text_clean: COPY would refuse the whole batch over one byte
 * of invalid UTF-8.
 */
void
metric_store_add(struct metric_store *ms, const char *host, const char *check,
    const char *metric, double value)
{
	char when[40];

	if (ms == NULL || !isfinite(value))
		return;
	if (evbuffer_get_length(ms->buf) > STORE_MAX_BYTES) {
		ms->md->stats.samples_dropped++;
		if (ms->md->stats.samples_dropped >=
		    ms->dropped_logged * 2 + 1) {
			log_warnx("metric samples dropped: %llu so far (the "
				  "database is not keeping up or is away)",
			    (unsigned long long)ms->md->stats.samples_dropped);
			ms->dropped_logged = ms->md->stats.samples_dropped;
		}
		return;
	}
	timeutil_format_iso(timeutil_real_us(), when, sizeof(when));
	evbuffer_add_printf(ms->buf, "%s\t", when);
	metric_store_field(ms->buf, host);
	evbuffer_add(ms->buf, "\t", 1);
	metric_store_field(ms->buf, check);
	evbuffer_add(ms->buf, "\t", 1);
	metric_store_field(ms->buf, metric);
	evbuffer_add_printf(ms->buf, "\t%.17g\n", value);
	if (++ms->rows >= STORE_BATCH_ROWS)
		metric_store_flush(ms);
}

static void
metric_store_done_cb(struct db *db, const PGresult *res, void *arg)
{
	struct metric_store *ms = arg;
	size_t n = ms->inflight;

	(void)db;
	ms->inflight = 0;
	if (res == NULL)
		return;
	if (!db_result_ok(res)) {
		log_warnx("%zu metric samples refused by the database: %s", n,
		    PQresultErrorMessage(res));
		ms->md->stats.samples_dropped += n;
	}
	if (ms->rows >= STORE_BATCH_ROWS)
		metric_store_flush(ms);
}

/* Sends the buffered rows as one COPY, unless one is in flight. */
static void
metric_store_flush(struct metric_store *ms)
{
	size_t len;
	char *data;

	if (ms->inflight > 0 || ms->rows == 0)
		return;
	len = evbuffer_get_length(ms->buf);
	data = xmalloc(len);
	evbuffer_remove(ms->buf, data, len);
	ms->inflight = ms->rows;
	ms->rows = 0;
	/* A batch resent after a lost connection may repeat: see 003. */
	db_copy(ms->md->db,
	    "COPY metric_sample (ts, host, check_name, metric, value) FROM "
	    "STDIN",
	    data, len, DB_RETRY, metric_store_done_cb, ms);
	free(data);
}
