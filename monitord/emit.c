/*
 * The hand-off to PostgreSQL.  Hard state changes wait in a queue; whenever
 * no batch is in flight, up to EMIT_BATCH of them go out as one call of
 * monitord_record_changes(), which records each (current_state, state_event)
 * and wakes incidentd, in one transaction.  The call is idempotent by
 * (source, source_seq), so the db layer may resend it after a lost
 * connection without creating a duplicate.  Start-up, when every check
 * reports its first state, thus costs a hundred round trips for 100,000
 * checks instead of 100,000.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "monitord.h"
#include "text.h"
#include "timeutil.h"
#include "xmalloc.h"

/* Changes per statement. */
#define EMIT_BATCH 1000

/* One change waiting for the database, already written as a JSON object. */
struct emit_change {
	TAILQ_ENTRY(emit_change) link;
	char *json;
};

TAILQ_HEAD(emit_list, emit_change);

/* The queue and the batch in flight. */
struct emit {
	struct monitord *md;
	struct emit_list queue;
	size_t nqueue;
	size_t inflight; /* changes in the batch being written */
	char *batch; /* its JSON, kept for the log on failure */
};

/*
 * Appends s to buf as a JSON string.  Bytes that are not valid UTF-8, and
 * control characters other than newline and tab (which are escaped),
 * become '?': PostgreSQL refuses invalid UTF-8, and one bad banner must
 * not cost the whole batch.
 */
void
emit_json_string(struct evbuffer *buf, const char *s)
{
	char *clean = xstrdup(s);

	text_clean_lines(clean);
	evbuffer_add(buf, "\"", 1);
	for (const char *p = clean; *p != '\0'; p++) {
		if (*p == '\n')
			evbuffer_add(buf, "\\n", 2);
		else if (*p == '\t')
			evbuffer_add(buf, "\\t", 2);
		else {
			if (*p == '"' || *p == '\\')
				evbuffer_add(buf, "\\", 1);
			evbuffer_add(buf, p, 1);
		}
	}
	evbuffer_add(buf, "\"", 1);
	free(clean);
}

static struct emit *
emit_get(struct monitord *md)
{
	if (md->emit == NULL) {
		md->emit = xcalloc(1, sizeof(*md->emit));
		md->emit->md = md;
		TAILQ_INIT(&md->emit->queue);
	}
	return md->emit;
}

static void emit_flush(struct emit *);

static void
emit_done_cb(struct db *db, const PGresult *res, void *arg)
{
	struct emit *em = arg;
	struct monitord *md = em->md;
	size_t n = em->inflight;

	(void)db;
	em->inflight = 0;
	if (res == NULL) {
		/* The db is shutting down with the batch still queued. */
		log_warnx("%zu state changes not recorded (shutting down)", n);
		md->stats.changes_failed += n;
	} else if (!db_result_ok(res)) {
		log_errorx("%zu state changes refused by the database: %s", n,
		    PQresultErrorMessage(res));
		log_debug("the refused batch: %s", em->batch);
		md->stats.changes_failed += n;
	} else {
		log_debug("%zu state changes recorded (%s new)", n,
		    PQgetvalue(res, 0, 0));
		md->stats.state_changes += n;
	}
	free(em->batch);
	em->batch = NULL;
	if (res != NULL)
		emit_flush(em);
}

/* Sends the next batch if none is in flight. */
static void
emit_flush(struct emit *em)
{
	struct monitord *md = em->md;
	struct emit_change *ch;
	struct evbuffer *buf;
	const char *params[2];
	size_t n = 0, len;

	if (em->inflight > 0 || em->nqueue == 0)
		return;
	if ((buf = evbuffer_new()) == NULL)
		fatalx("emit: evbuffer_new failed");
	evbuffer_add(buf, "[", 1);
	while (n < EMIT_BATCH && (ch = TAILQ_FIRST(&em->queue)) != NULL) {
		TAILQ_REMOVE(&em->queue, ch, link);
		em->nqueue--;
		if (n++ > 0)
			evbuffer_add(buf, ",", 1);
		evbuffer_add(buf, ch->json, strlen(ch->json));
		free(ch->json);
		free(ch);
	}
	evbuffer_add(buf, "]", 2); /* with the NUL */
	len = evbuffer_get_length(buf);
	em->batch = xmalloc(len);
	evbuffer_remove(buf, em->batch, len);
	evbuffer_free(buf);
	em->inflight = n;

	params[0] = md->conf->instance;
	params[1] = em->batch;
	db_query(md->db, "SELECT monitord_record_changes($1, $2::jsonb)", 2,
	    params, DB_RETRY, emit_done_cb, em);
}

/*
 * The next sequence number of this instance: microseconds since the epoch,
 * kept strictly increasing.  It survives restarts without reading anything
 * back from the database, which may be down when monitord starts.
 */
static uint64_t
emit_next_seq(struct monitord *md)
{
	uint64_t now = timeutil_real_us();

	md->last_seq = now > md->last_seq ? now : md->last_seq + 1;
	return md->last_seq;
}

/* Queues one hard state change of a host's check (or a part of it, by
 * name) for the database. */
void
emit_change(struct monitord *md, const struct mon_host *host, const char *name,
    enum check_kind kind, enum check_status old_status,
    enum check_status new_status, const char *output,
    const struct emit_extra *x)
{
	struct emit *em = emit_get(md);
	struct emit_change *ch;
	struct evbuffer *buf;
	char observed[40];
	size_t len;

	timeutil_format_iso(timeutil_real_us(), observed, sizeof(observed));
	if ((buf = evbuffer_new()) == NULL)
		fatalx("emit: evbuffer_new failed");
	evbuffer_add_printf(buf,
	    "{\"seq\":%llu,\"host\":", (unsigned long long)emit_next_seq(md));
	emit_json_string(buf, host->name);
	evbuffer_add(buf, ",\"check\":", 9);
	emit_json_string(buf, name);
	evbuffer_add_printf(buf,
	    ",\"kind\":\"%s\",\"segment\":\"%s\",\"old\":\"%s\","
	    "\"new\":\"%s\",\"observed\":\"%s\",\"output\":",
	    check_kind_str(kind), mon_segment_str(host->segment),
	    check_status_str(old_status), check_status_str(new_status),
	    observed);
	emit_json_string(buf, output);
	if (x != NULL && x->host_state != NULL)
		evbuffer_add_printf(buf, ",\"host_state\":\"%s\"",
		    x->host_state);
	if (x != NULL && x->root != NULL) {
		evbuffer_add(buf, ",\"root\":", 8);
		emit_json_string(buf, x->root);
	}
	if (x != NULL && x->downtime != NULL) {
		evbuffer_add(buf, ",\"downtime\":", 12);
		emit_json_string(buf, x->downtime);
	}
	if (x != NULL && x->flapping >= 0)
		evbuffer_add_printf(buf, ",\"flapping\":%s",
		    x->flapping ? "true" : "false");
	evbuffer_add(buf, "}", 2); /* with the NUL */

	ch = xcalloc(1, sizeof(*ch));
	len = evbuffer_get_length(buf);
	ch->json = xmalloc(len);
	evbuffer_remove(buf, ch->json, len);
	evbuffer_free(buf);
	TAILQ_INSERT_TAIL(&em->queue, ch, link);
	em->nqueue++;
	emit_flush(em);
}

/* Changes not yet recorded: queued, or in the batch in flight. */
size_t
emit_pending(struct monitord *md)
{
	if (md->emit == NULL)
		return 0;
	return md->emit->nqueue + md->emit->inflight;
}

/* Frees the queue at exit (after db_free, which ends the batch). */
void
emit_free(struct monitord *md)
{
	struct emit *em = md->emit;
	struct emit_change *ch;

	if (em == NULL)
		return;
	if (em->nqueue > 0)
		log_warnx("%zu state changes not recorded (shutting down)",
		    em->nqueue);
	while ((ch = TAILQ_FIRST(&em->queue)) != NULL) {
		TAILQ_REMOVE(&em->queue, ch, link);
		free(ch->json);
		free(ch);
	}
	free(em->batch);
	free(em);
	md->emit = NULL;
}
