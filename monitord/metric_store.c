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
	uint64_t stamp_sec; /* the second stamp holds, to reuse it */
	char stamp[32]; /* "2026-11-27T10:15:00." */
	size_t stamp_len;
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
	size_t need, len = 0;

	while (s[len] != '\0' && s[len] != '\\' && s[len] != '\t' &&
	    s[len] != '\n' && s[len] != '\r')
		len++;
	if (s[len] == '\0') {
		evbuffer_add(buf, s, len);
		return;
	}
	need = db_copy_escape(NULL, 0, s);
	if (need >= sizeof(small))
		tmp = xmalloc(need + 1);
	db_copy_escape(tmp, need + 1, s);
	evbuffer_add(buf, tmp, need);
	if (tmp != small)
		free(tmp);
}

/*
 * Writes v for COPY into buf (room for 32 bytes) and returns its length:
 * fixed point with up to six decimals (three from 1e9), trailing zeros
 * cut, for the
 * magnitudes measured values have; %.17g beyond.  Much cheaper than
 * printf for the tens of thousands of samples a second a large network
 * gives.
 */
size_t
metric_store_format_value(char *buf, double v)
{
	char digits[24];
	uint64_t m, ip, fp;
	size_t n = 0, k = 0;
	int len, dec = 6;

	if (!(fabs(v) < 1e12)) {
		len = snprintf(buf, 32, "%.17g", v);
		return len > 0 ? (size_t)len : 0;
	}
	/* Below 2^53 the scaled value is exact: three decimals past 1e9. */
	if (fabs(v) >= 1e9)
		dec = 3;
	m = (uint64_t)llround(fabs(v) * (dec == 6 ? 1e6 : 1e3));
	if (v < 0 && m != 0)
		buf[n++] = '-';
	ip = m / (dec == 6 ? 1000000 : 1000);
	fp = m % (dec == 6 ? 1000000 : 1000);
	do {
		digits[k++] = (char)('0' + ip % 10);
		ip /= 10;
	} while (ip > 0);
	while (k > 0)
		buf[n++] = digits[--k];
	while (dec > 0 && fp % 10 == 0) {
		fp /= 10;
		dec--;
	}
	if (dec > 0) {
		buf[n++] = '.';
		for (int i = dec - 1; i >= 0; i--) {
			buf[n + (size_t)i] = (char)('0' + fp % 10);
			fp /= 10;
		}
		n += (size_t)dec;
	}
	buf[n] = '\0';
	return n;
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
	uint64_t now;
	unsigned us;
	size_t n;

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
	now = timeutil_real_us();
	if (ms->stamp_len == 0 || now / 1000000 != ms->stamp_sec) {
		/* "...T10:15:00.123456Z": keep all but the microseconds */
		timeutil_format_iso(now, ms->stamp, sizeof(ms->stamp));
		ms->stamp_len = strlen(ms->stamp) - 7;
		ms->stamp_sec = now / 1000000;
	}
	evbuffer_add(ms->buf, ms->stamp, ms->stamp_len);
	us = (unsigned)(now % 1000000);
	for (int i = 5; i >= 0; i--) {
		when[i] = (char)('0' + us % 10);
		us /= 10;
	}
	memcpy(when + 6, "Z\t", 2);
	evbuffer_add(ms->buf, when, 8);
	metric_store_field(ms->buf, host);
	evbuffer_add(ms->buf, "\t", 1);
	metric_store_field(ms->buf, check);
	evbuffer_add(ms->buf, "\t", 1);
	metric_store_field(ms->buf, metric);
	when[0] = '\t';
	n = metric_store_format_value(when + 1, value);
	when[n + 1] = '\n';
	evbuffer_add(ms->buf, when, n + 2);
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
	    "COPY metric_incoming (ts, host, check_name, metric, value) FROM "
	    "STDIN",
	    data, len, DB_RETRY, metric_store_done_cb, ms);
	free(data);
}
