/*
 * Measured values (interface traffic, disk use, CPU load, polled OIDs) on
 * their way to PostgreSQL.  Samples are written as rows of binary COPY
 * into a buffer and sent by one COPY at a time, every second or every few
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

/* Appends the low `bytes` bytes of v, in network order. */
static void
metric_store_be(struct evbuffer *buf, uint64_t v, int bytes)
{
	unsigned char b[8];

	for (int i = bytes - 1; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	evbuffer_add(buf, b, (size_t)bytes);
}

/* Appends a text field of binary COPY: its length, then its bytes. */
static void
metric_store_text(struct evbuffer *buf, const char *s)
{
	size_t len = strlen(s);

	metric_store_be(buf, len, 4);
	evbuffer_add(buf, s, len);
}

/*
 * Appends one sample as a tuple of PostgreSQL's binary COPY: the number
 * of fields, then each field's length and bytes, in network order; the
 * time as microseconds since 2000-01-01 UTC, the value as an IEEE double.
 * Binary, because the server then parses nothing: a million rows into
 * metric_incoming took 2.5-3.1 s against 4.8-5.0 s as text (bench/README.md),
 * and the value goes in exactly, not cut to six decimals.
 */
void
metric_store_encode(struct evbuffer *buf, uint64_t unix_us, const char *host,
    const char *check, const char *metric, double value)
{
	uint64_t bits;

	memcpy(&bits, &value, sizeof(bits));
	metric_store_be(buf, 5, 2);
	metric_store_be(buf, 8, 4);
	metric_store_be(buf, unix_us - UINT64_C(946684800000000), 8);
	metric_store_text(buf, host);
	metric_store_text(buf, check);
	metric_store_text(buf, metric);
	metric_store_be(buf, 8, 4);
	metric_store_be(buf, bits, 8);
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
	metric_store_encode(ms->buf, timeutil_real_us(), host, check, metric,
	    value);
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

/*
 * Sends the buffered rows as one COPY, unless one is in flight: binary
 * COPY's header (signature, no flags, no extension), the rows, and the
 * trailer (a field count of -1).
 */
static void
metric_store_flush(struct metric_store *ms)
{
	static const char header[19] = "PGCOPY\n\377\r\n";
	static const char trailer[2] = { '\377', '\377' };
	size_t len;
	char *data;

	if (ms->inflight > 0 || ms->rows == 0)
		return;
	len = evbuffer_get_length(ms->buf);
	data = xmalloc(sizeof(header) + len + sizeof(trailer));
	memcpy(data, header, sizeof(header));
	evbuffer_remove(ms->buf, data + sizeof(header), len);
	memcpy(data + sizeof(header) + len, trailer, sizeof(trailer));
	ms->inflight = ms->rows;
	ms->rows = 0;
	/* A batch resent after a lost connection may repeat: see 003. */
	db_copy(ms->md->db,
	    "COPY metric_incoming (ts, host, check_name, metric, value) FROM "
	    "STDIN (FORMAT binary)",
	    data, sizeof(header) + len + sizeof(trailer), DB_RETRY,
	    metric_store_done_cb, ms);
	free(data);
}
