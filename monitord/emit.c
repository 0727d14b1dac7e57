/*
 * The hand-off to PostgreSQL: each hard state change becomes one call of
 * monitord_record_change(), which upserts current_state, inserts the
 * state_event and sends NOTIFY in one transaction.  The call is idempotent
 * by (source, source_seq), so the db layer may resend it after a lost
 * connection without creating a duplicate.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* What one queued change needs in its callback. */
struct emit_change {
	struct monitord *md;
	char *what; /* "host check OLD -> NEW" for logs */
};

static void
emit_done_cb(struct db *db, const PGresult *res, void *arg)
{
	struct emit_change *ch = arg;

	(void)db;
	if (res == NULL) {
		/* The db is shutting down with the change still queued. */
		log_warnx("state change not recorded (shutting down): %s",
		    ch->what);
		ch->md->stats.changes_failed++;
	} else if (!db_result_ok(res)) {
		log_warnx("state change refused by the database: %s: %s",
		    ch->what, PQresultErrorMessage(res));
		ch->md->stats.changes_failed++;
	} else {
		log_debug("state change recorded: %s (event %s)", ch->what,
		    PQgetisnull(res, 0, 0) ? "already recorded" :
					     PQgetvalue(res, 0, 0));
		ch->md->stats.state_changes++;
	}
	free(ch->what);
	free(ch);
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

/* Queues one hard state change for the database. */
void
emit_state_change(struct monitord *md, const struct mon_check *c,
    enum check_status old_status, enum check_status new_status,
    const char *output)
{
	char seq[32], observed[40];
	const char *params[10];
	struct emit_change *ch;

	snprintf(seq, sizeof(seq), "%llu",
	    (unsigned long long)emit_next_seq(md));
	timeutil_format_iso(timeutil_real_us(), observed, sizeof(observed));
	params[0] = md->conf->instance;
	params[1] = seq;
	params[2] = c->host->name;
	params[3] = c->name;
	params[4] = check_kind_str(c->kind);
	params[5] = mon_segment_str(c->host->segment);
	params[6] = check_status_str(old_status);
	params[7] = check_status_str(new_status);
	params[8] = output;
	params[9] = observed;

	ch = xcalloc(1, sizeof(*ch));
	ch->md = md;
	ch->what = xasprintf("%s %s %s -> %s", c->host->name, c->name,
	    params[6], params[7]);
	db_query(md->db,
	    "SELECT monitord_record_change($1, $2, $3, $4, $5, $6, $7, $8, "
	    "$9, $10)",
	    10, params, DB_RETRY, emit_done_cb, ch);
}
