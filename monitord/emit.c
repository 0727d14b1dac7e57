/*
 * The hand-off to PostgreSQL.  Hard state changes wait in a queue; whenever
 * no batch is in flight, up to EMIT_BATCH of them go out as one call of
 * monitord_record_changes(), which records each (current_state, state_event)
 * and wakes incidentd, in one transaction.  The call is idempotent by
 * (source, source_seq), so the db layer may resend it after a lost
 * connection without creating a duplicate.  Start-up, when every check
 * reports its first state, thus costs a hundred round trips for 100,000
 * checks instead of 100,000.
 *
 * With a journal (journal.c), each change is also appended to a file before
 * it is queued, and fsynced before its batch goes out (and every second
 * while the database is away); an acknowledgement follows each answered
 * batch.  A restart replays what was never acknowledged, with its original
 * sequence number and time.  Past journal.max_size the changes still queued
 * collapse to the last one of each check.
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
	uint64_t seq;
	char *host;
	char *check;
	char *json;
};

TAILQ_HEAD(emit_list, emit_change);

/* The queue, the batch in flight and the journal. */
struct emit {
	struct monitord *md;
	struct emit_list queue;
	size_t nqueue;
	struct emit_list inflight_list; /* the batch being written */
	size_t inflight;
	char *batch; /* its JSON, kept for the log on failure */
	struct journal *journal; /* NULL: none */
	struct event *sync_ev; /* fsyncs the journal every second */
	uint64_t collapse_at; /* journal size that triggers a collapse */
	int journal_failing; /* the last append failed (logged once) */
	uint64_t acked; /* replay: the highest acknowledged seq */
};

static struct emit *
emit_get(struct monitord *md)
{
	if (md->emit == NULL) {
		md->emit = xcalloc(1, sizeof(*md->emit));
		md->emit->md = md;
		TAILQ_INIT(&md->emit->queue);
		TAILQ_INIT(&md->emit->inflight_list);
	}
	return md->emit;
}

static void emit_flush(struct emit *);

static void
emit_change_free(struct emit_change *ch)
{
	free(ch->host);
	free(ch->check);
	free(ch->json);
	free(ch);
}

/* Frees the changes of a list. */
static void
emit_list_free(struct emit_list *list)
{
	struct emit_change *ch;

	while ((ch = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, ch, link);
		emit_change_free(ch);
	}
}

/*
 * The batch in flight is done (recorded, or refused and lost): tells the
 * journal, and empties it when nothing else is pending.
 */
static void
emit_journal_ack(struct emit *em)
{
	struct emit_change *last = TAILQ_LAST(&em->inflight_list, emit_list);

	if (em->journal == NULL || last == NULL)
		return;
	if (em->nqueue == 0)
		journal_reset(em->journal);
	else
		journal_append(em->journal, JOURNAL_ACK, last->seq, NULL, NULL,
		    NULL);
}

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
		if (em->journal != NULL)
			log_notice(
			    "%zu state changes not recorded yet: kept in "
			    "the journal for the next start",
			    n);
		else {
			log_warnx("%zu state changes not recorded (shutting "
				  "down)",
			    n);
			md->stats.changes_failed += n;
		}
	} else if (!db_result_ok(res)) {
		log_errorx("%zu state changes refused by the database: %s", n,
		    PQresultErrorMessage(res));
		log_debug("the refused batch: %s", em->batch);
		md->stats.changes_failed += n;
		emit_journal_ack(em);
	} else {
		log_debug("%zu state changes recorded (%s new)", n,
		    PQgetvalue(res, 0, 0));
		md->stats.state_changes += n;
		emit_journal_ack(em);
	}
	emit_list_free(&em->inflight_list);
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
	/* What goes to the database is on disk first. */
	journal_sync(em->journal);
	if ((buf = evbuffer_new()) == NULL)
		fatalx("emit: evbuffer_new failed");
	evbuffer_add(buf, "[", 1);
	while (n < EMIT_BATCH && (ch = TAILQ_FIRST(&em->queue)) != NULL) {
		TAILQ_REMOVE(&em->queue, ch, link);
		em->nqueue--;
		if (n++ > 0)
			evbuffer_add(buf, ",", 1);
		evbuffer_add(buf, ch->json, strlen(ch->json));
		TAILQ_INSERT_TAIL(&em->inflight_list, ch, link);
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

/* Orders changes by check, then by age, for emit_collapse. */
static int
emit_change_cmp(const void *a, const void *b)
{
	const struct emit_change *x = *(struct emit_change *const *)a;
	const struct emit_change *y = *(struct emit_change *const *)b;
	int c;

	if ((c = strcmp(x->host, y->host)) != 0 ||
	    (c = strcmp(x->check, y->check)) != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * The journal is over its cap: drops every queued change that a later one
 * of the same check supersedes, then rewrites the journal with what is
 * left (the batch in flight, then the queue).  The last change of each
 * check always stays.
 */
static void
emit_collapse(struct emit *em)
{
	struct emit_change **v, *ch, *next;
	size_t n = 0, before = em->nqueue, dropped = 0;
	uint64_t old_size = journal_size(em->journal);
	int ok;

	v = xcalloc(em->nqueue + 1, sizeof(*v));
	TAILQ_FOREACH(ch, &em->queue, link)
		v[n++] = ch;
	qsort(v, n, sizeof(*v), emit_change_cmp);
	for (size_t i = 0; i + 1 < n; i++) {
		if (strcmp(v[i]->host, v[i + 1]->host) == 0 &&
		    strcmp(v[i]->check, v[i + 1]->check) == 0) {
			TAILQ_REMOVE(&em->queue, v[i], link);
			emit_change_free(v[i]);
			dropped++;
		}
	}
	free(v);
	em->nqueue -= dropped;

	ok = journal_rewrite_begin(em->journal) == 0;
	TAILQ_FOREACH(ch, &em->inflight_list, link)
		ok = ok &&
		    journal_rewrite_add(em->journal, ch->seq, ch->host,
			ch->check, ch->json) == 0;
	for (ch = TAILQ_FIRST(&em->queue); ok && ch != NULL; ch = next) {
		next = TAILQ_NEXT(ch, link);
		ok = journal_rewrite_add(em->journal, ch->seq, ch->host,
			 ch->check, ch->json) == 0;
	}
	if (journal_rewrite_commit(em->journal, ok) == 0)
		log_warnx("journal over its cap of %llu bytes: %zu queued "
			  "state changes collapsed to %zu, the last of each "
			  "check (%llu bytes now, %llu before)",
		    (unsigned long long)em->md->conf->journal_max, before,
		    em->nqueue, (unsigned long long)journal_size(em->journal),
		    (unsigned long long)old_size);
	/* Do not collapse again until the journal has doubled, should the
	 * checks alone fill the cap. */
	em->collapse_at = journal_size(em->journal) * 2;
	if (em->collapse_at < em->md->conf->journal_max)
		em->collapse_at = em->md->conf->journal_max;
}

/* Appends a change to the journal, if there is one, and collapses past
 * the cap.  A failing disk is logged when it starts and when it stops. */
static void
emit_journal_add(struct emit *em, const struct emit_change *ch)
{
	int rc;

	if (em->journal == NULL)
		return;
	rc = journal_append(em->journal, JOURNAL_CHANGE, ch->seq, ch->host,
	    ch->check, ch->json);
	if (rc == -1 && !em->journal_failing)
		log_errorx("journal: state changes are kept in memory only "
			   "until it can be written again");
	else if (rc == 0 && em->journal_failing)
		log_notice("journal: written again");
	em->journal_failing = rc == -1;
	if (journal_size(em->journal) > em->collapse_at)
		emit_collapse(em);
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
	uint64_t seq = emit_next_seq(md);
	size_t len;

	timeutil_format_iso(timeutil_real_us(), observed, sizeof(observed));
	if ((buf = evbuffer_new()) == NULL)
		fatalx("emit: evbuffer_new failed");
	evbuffer_add_printf(buf,
	    "{\"seq\":%llu,\"host\":", (unsigned long long)seq);
	json_out_string(buf, host->name);
	evbuffer_add(buf, ",\"check\":", 9);
	json_out_string(buf, name);
	evbuffer_add_printf(buf,
	    ",\"kind\":\"%s\",\"segment\":\"%s\",\"old\":\"%s\","
	    "\"new\":\"%s\",\"observed\":\"%s\",\"output\":",
	    check_kind_str(kind), segment_str(host->segment),
	    check_state_status_str(old_status),
	    check_state_status_str(new_status), observed);
	json_out_string(buf, output);
	if (x != NULL && x->host_state != NULL)
		evbuffer_add_printf(buf, ",\"host_state\":\"%s\"",
		    x->host_state);
	if (x != NULL && x->root != NULL) {
		evbuffer_add(buf, ",\"root\":", 8);
		json_out_string(buf, x->root);
	}
	if (x != NULL && x->downtime != NULL) {
		evbuffer_add(buf, ",\"downtime\":", 12);
		json_out_string(buf, x->downtime);
	}
	if (x != NULL && x->flapping >= 0)
		evbuffer_add_printf(buf, ",\"flapping\":%s",
		    x->flapping ? "true" : "false");
	evbuffer_add(buf, "}", 2); /* with the NUL */

	ch = xcalloc(1, sizeof(*ch));
	ch->seq = seq;
	ch->host = xstrdup(host->name);
	ch->check = xstrdup(name);
	len = evbuffer_get_length(buf);
	ch->json = xmalloc(len);
	evbuffer_remove(buf, ch->json, len);
	evbuffer_free(buf);
	TAILQ_INSERT_TAIL(&em->queue, ch, link);
	em->nqueue++;
	/* After the insert: a collapse rewrites the journal from the queue. */
	emit_journal_add(em, ch);
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

/* Every second: the journal's writes while no batch goes out. */
static void
emit_sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct emit *em = arg;

	(void)fd;
	(void)what;
	journal_sync(em->journal);
}

/* Replay: gathers the journal's records at start-up. */
static void
emit_replay_cb(int type, uint64_t seq, const char *p, size_t len, void *arg)
{
	struct emit *em = arg;
	struct emit_change *ch;
	const char *host, *check, *json;
	size_t jlen;

	if (seq > em->md->last_seq)
		em->md->last_seq = seq;
	if (type == JOURNAL_ACK) {
		if (seq > em->acked)
			em->acked = seq;
		return;
	}
	if (journal_change_split(p, len, &host, &check, &json, &jlen) == -1) {
		log_warnx("journal: a change without host and check, seq %llu "
			  "(skipped)",
		    (unsigned long long)seq);
		return;
	}
	ch = xcalloc(1, sizeof(*ch));
	ch->seq = seq;
	ch->host = xstrdup(host);
	ch->check = xstrdup(check);
	ch->json = xmalloc(jlen + 1);
	memcpy(ch->json, json, jlen);
	ch->json[jlen] = '\0';
	TAILQ_INSERT_TAIL(&em->queue, ch, link);
	em->nqueue++;
}

/*
 * Opens the journal of the config (if any) and queues the changes it holds
 * that the database never acknowledged, then rewrites it with just those.
 * Call before the first check starts, and emit_kick once the db is
 * there.  Returns 0, or -1 after logging.
 */
int
emit_journal_open(struct monitord *md)
{
	struct emit *em = emit_get(md);
	struct emit_change *ch, *next;
	struct timeval tv = { 1, 0 };
	size_t replay = 0;
	int ok;

	if (md->conf->journal_path == NULL) {
		log_notice("no journal: state changes wait in memory while the "
			   "database is away, and a restart loses them");
		return 0;
	}
	if ((em->journal = journal_open(md->conf->journal_path, emit_replay_cb,
		 em)) == NULL)
		return -1;
	for (ch = TAILQ_FIRST(&em->queue); ch != NULL; ch = next) {
		next = TAILQ_NEXT(ch, link);
		if (ch->seq <= em->acked) {
			TAILQ_REMOVE(&em->queue, ch, link);
			emit_change_free(ch);
			em->nqueue--;
		} else
			replay++;
	}
	ok = journal_rewrite_begin(em->journal) == 0;
	TAILQ_FOREACH(ch, &em->queue, link)
		ok = ok &&
		    journal_rewrite_add(em->journal, ch->seq, ch->host,
			ch->check, ch->json) == 0;
	if (journal_rewrite_commit(em->journal, ok) == -1) {
		log_warnx("journal %s: cannot rewrite it",
		    md->conf->journal_path);
		return -1;
	}
	em->collapse_at = md->conf->journal_max;
	em->sync_ev = event_new(md->base, -1, EV_PERSIST, emit_sync_cb, em);
	if (em->sync_ev == NULL || event_add(em->sync_ev, &tv) == -1)
		fatalx("cannot arm the journal timer");
	if (replay > 0)
		log_notice("journal %s: replaying %zu state change%s the "
			   "database has not recorded",
		    md->conf->journal_path, replay, replay == 1 ? "" : "s");
	if (journal_size(em->journal) > em->collapse_at)
		emit_collapse(em);
	return 0;
}

/* Sends what is queued (the journal's replay) once the db exists. */
void
emit_kick(struct monitord *md)
{
	emit_flush(emit_get(md));
}

/* Frees the queue at exit (after db_free, which ends the batch); the
 * journal keeps what is left for the next start. */
void
emit_free(struct monitord *md)
{
	struct emit *em = md->emit;

	if (em == NULL)
		return;
	if (em->nqueue > 0 && em->journal != NULL)
		log_notice("%zu state changes not recorded yet: kept in the "
			   "journal for the next start",
		    em->nqueue);
	else if (em->nqueue > 0)
		log_warnx("%zu state changes not recorded (shutting down)",
		    em->nqueue);
	emit_list_free(&em->queue);
	emit_list_free(&em->inflight_list);
	if (em->sync_ev != NULL)
		event_free(em->sync_ev);
	journal_close(em->journal);
	free(em->batch);
	free(em);
	md->emit = NULL;
}
