/*
 * Tests of common/db.c against a real PostgreSQL server, whose conninfo
 * comes from MONITORD_TEST_PGCONN.  Each test runs its own event_base and
 * fails rather than hangs when what it waits for does not happen.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

/* How long any single wait may take before the test fails. */
#define TEST_WAIT_S 10

/* An advisory lock key no other test uses. */
#define TEST_LOCK_KEY "7402311"

/* The advisory lock that holds up a COPY into a table of test_lock_table. */
#define TEST_COPY_LOCK_KEY "7402312"

/* The columns every COPY test loads, as test_rows writes them. */
#define TEST_COPY_COLUMNS "(id int, d double precision, s text)"

static const char *test_conninfo;

/* Order in which statement callbacks ran, across all dbs of a test. */
static int test_seq;

/* What a statement's callback saw. */
struct rec {
	int called;
	int was_null;
	int seq;
	int connected;
	ExecStatusType status;
	int ntuples;
	char tuples[32]; /* PQcmdTuples: rows a COPY stored */
	char row[256]; /* first row, fields joined with '|' */
	char sqlstate[8];
};

/* What a db's connect and notify callbacks saw. */
struct watch {
	int connects;
	int connected_in_cb;
	int notifies;
	char channel[128];
	char payload[128];
};

/* Records what a statement's callback saw into its struct rec. */
static void
rec_cb(struct db *db, const PGresult *res, void *arg)
{
	struct rec *r = arg;
	const char *state;
	size_t len;

	r->called++;
	r->seq = ++test_seq;
	r->connected = db_connected(db);
	r->was_null = res == NULL;
	if (res == NULL)
		return;
	r->status = PQresultStatus(res);
	r->ntuples = PQntuples(res);
	snprintf(r->tuples, sizeof(r->tuples), "%s",
	    PQcmdTuples((PGresult *)res));
	r->row[0] = '\0';
	for (int i = 0; r->ntuples > 0 && i < PQnfields(res); i++) {
		len = strlen(r->row);
		snprintf(r->row + len, sizeof(r->row) - len, "%s%s",
		    i > 0 ? "|" : "",
		    PQgetisnull(res, 0, i) ? "NULL" : PQgetvalue(res, 0, i));
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(r->sqlstate, sizeof(r->sqlstate), "%s",
	    state != NULL ? state : "");
}

/* Counts connects and whether the db said it was connected. */
static void
watch_connect_cb(struct db *db, void *arg)
{
	struct watch *w = arg;

	w->connects++;
	w->connected_in_cb = db_connected(db);
}

/* Counts notifications and keeps the last one. */
static void
watch_notify_cb(struct db *db, const char *channel, const char *payload,
    void *arg)
{
	struct watch *w = arg;

	(void)db;
	w->notifies++;
	snprintf(w->channel, sizeof(w->channel), "%s", channel);
	snprintf(w->payload, sizeof(w->payload), "%s", payload);
}

/* Returns a started db on the test server with w watching it. */
static struct db *
test_db(struct event_base *base, const char *name, struct watch *w)
{
	struct db *db;

	db = db_new(base, test_conninfo, name);
	ck_assert_ptr_nonnull(db);
	db_set_connect_cb(db, watch_connect_cb, w);
	db_set_notify_cb(db, watch_notify_cb, w);
	db_set_backoff(db, 20, 100);
	return db;
}

/* Ends a wait: sets the flag it was given. */
static void
test_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/*
 * Runs the loop until *counter reaches target; fails the test after
 * TEST_WAIT_S seconds.
 */
static void
test_wait(struct event_base *base, const int *counter, int target,
    const char *what)
{
	struct timeval tv = { TEST_WAIT_S, 0 };
	struct event *ev;
	int expired = 0;

	ev = evtimer_new(base, test_expire_cb, &expired);
	evtimer_add(ev, &tv);
	while (*counter < target && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	ck_assert_msg(*counter >= target, "timed out after %d s waiting for %s",
	    TEST_WAIT_S, what);
}

/* Runs the loop for ms milliseconds. */
static void
test_run_for(struct event_base *base, uint64_t ms)
{
	struct timeval tv = timeutil_ms_to_tv(ms);
	struct event *ev;
	int expired = 0;

	ev = evtimer_new(base, test_expire_cb, &expired);
	evtimer_add(ev, &tv);
	while (!expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
}

/* Queues a statement on db and runs the loop until it is done. */
static void
test_query(struct event_base *base, struct db *db, const char *sql, int nparams,
    const char *const *params, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	db_query(db, sql, nparams, params, 0, rec_cb, r);
	test_wait(base, &r->called, 1, sql);
	ck_assert_msg(!r->was_null && r->status == PGRES_TUPLES_OK,
	    "%s failed (status %d)", sql, r->status);
}

/* Runs a statement that returns no rows on db and checks that it worked. */
static void
test_exec(struct event_base *base, struct db *db, const char *sql)
{
	struct rec r = { 0 };

	db_query(db, sql, 0, NULL, 0, rec_cb, &r);
	test_wait(base, &r.called, 1, sql);
	ck_assert_msg(!r.was_null && r.status == PGRES_COMMAND_OK,
	    "%s failed (status %d)", sql, r.status);
}

/* Drops and creates table with the columns of TEST_COPY_COLUMNS. */
static void
test_table(struct event_base *base, struct db *db, const char *table)
{
	char *sql;

	sql = xasprintf("DROP TABLE IF EXISTS %s", table);
	test_exec(base, db, sql);
	free(sql);
	sql = xasprintf("CREATE TABLE %s " TEST_COPY_COLUMNS, table);
	test_exec(base, db, sql);
	free(sql);
}

/*
 * Makes table like test_table, but a COPY into it waits, before it reads a
 * single row, while another session holds TEST_COPY_LOCK_KEY.
 */
static void
test_lock_table(struct event_base *base, struct db *db, const char *table)
{
	char *sql;

	test_table(base, db, table);
	test_exec(base, db,
	    "CREATE OR REPLACE FUNCTION copy_wait_for_lock() RETURNS trigger "
	    "LANGUAGE plpgsql AS $$BEGIN PERFORM "
	    "pg_advisory_xact_lock_shared(" TEST_COPY_LOCK_KEY
	    "); RETURN NULL; END$$");
	sql = xasprintf(
	    "CREATE TRIGGER wait_for_lock BEFORE INSERT ON %s "
	    "FOR EACH STATEMENT EXECUTE FUNCTION copy_wait_for_lock()",
	    table);
	test_exec(base, db, sql);
	free(sql);
}

/*
 * Runs queries on watcher until the backend pid waits for a lock; fails the
 * test after TEST_WAIT_S seconds.
 */
static void
test_wait_for_lock(struct event_base *base, struct db *watcher, const char *pid)
{
	const char *params[] = { pid };
	uint64_t deadline = timeutil_mono_ms() + TEST_WAIT_S * 1000;
	struct rec r;

	do {
		ck_assert_msg(timeutil_mono_ms() < deadline,
		    "timed out after %d s waiting for backend %s to wait for a "
		    "lock",
		    TEST_WAIT_S, pid);
		test_query(base, watcher,
		    "SELECT coalesce(wait_event_type, '') FROM pg_stat_activity "
		    "WHERE pid = $1::int",
		    1, params, &r);
	} while (strcmp(r.row, "Lock") != 0);
}

/*
 * Returns rows first to first + n - 1 in COPY text format, row i being
 * (i, i + 0.5, 'row i'), and their length in *len.
 */
static char *
test_rows(int first, int n, size_t *len)
{
	size_t size = (size_t)n * 40 + 1;
	char *data = xmalloc(size);
	int w;

	*len = 0;
	for (int i = first; i < first + n; i++) {
		w = snprintf(data + *len, size - *len, "%d\t%d.5\trow %d\n", i,
		    i, i);

		/* Not ck_assert: in a loop this long, its bookkeeping shows. */
		if (w <= 0 || (size_t)w >= size - *len)
			ck_abort_msg("row %d does not fit", i);
		*len += (size_t)w;
	}
	return data;
}

/* The log goes to stderr; tests that count log lines redirect it here. */
static int log_saved_fd = -1;
static FILE *log_file;

/* Sends stderr, and so the log, to a temporary file. */
static void
log_capture_start(void)
{
	fflush(stderr);
	log_file = tmpfile();
	ck_assert_ptr_nonnull(log_file);
	log_saved_fd = dup(STDERR_FILENO);
	ck_assert_int_ne(log_saved_fd, -1);
	ck_assert_int_ne(dup2(fileno(log_file), STDERR_FILENO), -1);
}

/* Restores stderr, echoes what was logged, and returns it. */
static char *
log_capture_end(void)
{
	char *text;
	long len;

	fflush(stderr);
	dup2(log_saved_fd, STDERR_FILENO);
	close(log_saved_fd);
	len = ftell(log_file);
	ck_assert_int_ge(len, 0);
	rewind(log_file);
	text = xcalloc(1, (size_t)len + 1);
	if (len > 0)
		ck_assert_int_eq(fread(text, 1, (size_t)len, log_file),
		    (size_t)len);
	fclose(log_file);
	fputs(text, stderr);
	return text;
}

/* Counts the occurrences of needle in haystack. */
static int
count_str(const char *haystack, const char *needle)
{
	int n = 0;

	while ((haystack = strstr(haystack, needle)) != NULL) {
		n++;
		haystack += strlen(needle);
	}
	return n;
}

START_TEST(test_query_returns_rows)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec r = { 0 };
	char word[] = "hello";
	const char *params[] = { word, NULL };
	struct db *db;

	db = test_db(base, "rows", &w);
	ck_assert_int_eq(db_connected(db), 0);
	ck_assert_str_eq(db_name(db), "rows");
	db_query(db,
	    "SELECT g, $1::text, $2::text IS NULL FROM generate_series(1, 3) "
	    "AS g ORDER BY g",
	    2, params, 0, rec_cb, &r);
	ck_assert_uint_eq(db_pending(db), 1);

	/* The parameters were copied. */
	strcpy(word, "XXXXX");
	db_start(db);
	test_wait(base, &r.called, 1, "the query");

	ck_assert_int_eq(r.called, 1);
	ck_assert_int_eq(r.was_null, 0);
	ck_assert_int_eq(r.status, PGRES_TUPLES_OK);
	ck_assert_int_eq(r.ntuples, 3);
	ck_assert_str_eq(r.row, "1|hello|t");
	ck_assert_int_eq(r.connected, 1);
	ck_assert_int_eq(w.connects, 1);
	ck_assert_int_eq(w.connected_in_cb, 1);
	ck_assert_uint_eq(db_pending(db), 0);
	ck_assert_int_eq(db_connected(db), 1);
	db_free(db);
	event_base_free(base);
}
END_TEST

/* The first statement's callback queues one more behind the others. */
static void
queue_more_cb(struct db *db, const PGresult *res, void *arg)
{
	struct rec *r = arg;

	rec_cb(db, res, &r[0]);
	db_query(db, "SELECT 4", 0, NULL, 0, rec_cb, &r[3]);
}

START_TEST(test_statements_run_in_order_and_callbacks_may_queue_more)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec r[4];
	struct db *db;

	memset(r, 0, sizeof(r));
	test_seq = 0;
	db = test_db(base, "order", &w);
	db_query(db, "SELECT 1", 0, NULL, 0, queue_more_cb, r);
	db_query(db, "SELECT 2", 0, NULL, 0, rec_cb, &r[1]);
	db_query(db, "SELECT 3", 0, NULL, 0, rec_cb, &r[2]);
	ck_assert_uint_eq(db_pending(db), 3);
	db_start(db);
	test_wait(base, &r[3].called, 1, "the statement queued by a callback");

	for (int i = 0; i < 4; i++) {
		char want[8];

		snprintf(want, sizeof(want), "%d", i + 1);
		ck_assert_int_eq(r[i].called, 1);
		ck_assert_int_eq(r[i].seq, i + 1);
		ck_assert_str_eq(r[i].row, want);
	}
	ck_assert_uint_eq(db_pending(db), 0);
	db_free(db);
	event_base_free(base);
}
END_TEST

/* A channel name that only works quoted. */
#define ODD_CHANNEL "Odd \"Channel\"; DROP"

/* On the first connect, the db notifies its own odd channel. */
static void
notify_self_cb(struct db *db, void *arg)
{
	static const char *const params[] = { ODD_CHANNEL, "héllo" };
	struct watch *w = arg;

	watch_connect_cb(db, arg);
	if (w->connects == 1)
		db_query(db, "SELECT pg_notify($1, $2)", 2, params, 0, NULL,
		    NULL);
}

START_TEST(test_listen_receives_notify)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct db *db;

	db = test_db(base, "listen", &w);
	db_set_connect_cb(db, notify_self_cb, &w);
	db_listen(db, ODD_CHANNEL);
	db_listen(db, ODD_CHANNEL);
	db_listen(db, "other");
	db_start(db);
	test_wait(base, &w.notifies, 1, "the notification");

	ck_assert_str_eq(w.channel, ODD_CHANNEL);
	ck_assert_str_eq(w.payload, "héllo");
	ck_assert_uint_eq(db_pending(db), 0);
	db_free(db);
	event_base_free(base);
}
END_TEST

START_TEST(test_notify_reaches_idle_connection_and_late_listen)
{
	struct event_base *base = event_base_new();
	struct watch lw = { 0 }, sw = { 0 };
	const char *params[] = { NULL, NULL };
	struct db *listener, *sender;
	struct rec r;

	listener = test_db(base, "listener", &lw);
	sender = test_db(base, "sender", &sw);
	db_listen(listener, "early");
	db_start(listener);
	db_start(sender);
	test_wait(base, &lw.connects, 1, "the listener to connect");
	test_wait(base, &sw.connects, 1, "the sender to connect");

	/* Nothing is in flight on the listener while this arrives. */
	params[0] = "early";
	params[1] = "one";
	test_query(base, sender, "SELECT pg_notify($1, $2)", 2, params, &r);
	test_wait(base, &lw.notifies, 1, "a notification while idle");
	ck_assert_str_eq(lw.channel, "early");
	ck_assert_str_eq(lw.payload, "one");
	ck_assert_uint_eq(db_pending(listener), 0);

	/*
	 * A channel added while connected is subscribed at once; a query
	 * queued after it on the listener proves the LISTEN has run.
	 */
	db_listen(listener, "late");
	test_query(base, listener, "SELECT 1", 0, NULL, &r);
	params[0] = "late";
	params[1] = "two";
	test_query(base, sender, "SELECT pg_notify($1, $2)", 2, params, &r);
	test_wait(base, &lw.notifies, 2, "a notification on a late channel");
	ck_assert_str_eq(lw.channel, "late");
	ck_assert_str_eq(lw.payload, "two");

	db_free(sender);
	db_free(listener);
	event_base_free(base);
}
END_TEST

START_TEST(test_server_error_is_not_connection_loss)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec pid1 = { 0 }, bad = { 0 }, pid2 = { 0 };
	struct db *db;
	char *log;

	log_capture_start();
	db = test_db(base, "errors", &w);
	db_query(db, "SELECT pg_backend_pid()", 0, NULL, 0, rec_cb, &pid1);
	db_query(db, "SELECT * FROM no_such_table", 0, NULL, DB_RETRY, rec_cb,
	    &bad);
	db_query(db, "SELECT pg_backend_pid()", 0, NULL, 0, rec_cb, &pid2);
	db_start(db);
	test_wait(base, &pid2.called, 1, "the statement after the error");
	log = log_capture_end();

	ck_assert_int_eq(bad.called, 1);
	ck_assert_int_eq(bad.was_null, 0);
	ck_assert_int_eq(bad.status, PGRES_FATAL_ERROR);
	ck_assert_str_eq(bad.sqlstate, "42P01");
	ck_assert_int_eq(pid2.status, PGRES_TUPLES_OK);
	ck_assert_str_eq(pid1.row, pid2.row);
	ck_assert_int_eq(w.connects, 1);
	ck_assert_int_eq(count_str(log, "connection lost"), 0);
	free(log);
	db_free(db);
	event_base_free(base);
}
END_TEST

START_TEST(test_statement_libpq_refuses_gets_error_result)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec huge = { 0 }, after = { 0 };
	const char **params;
	struct db *db;

	/* The protocol allows at most 65535 parameters. */
	params = xcalloc(70000, sizeof(*params));
	db = test_db(base, "refused", &w);
	db_query(db, "SELECT 1", 70000, params, 0, rec_cb, &huge);
	db_query(db, "SELECT 2", 0, NULL, 0, rec_cb, &after);
	free(params);
	db_start(db);
	test_wait(base, &after.called, 1, "the statement after the refusal");

	ck_assert_int_eq(huge.called, 1);
	ck_assert_int_eq(huge.was_null, 0);
	ck_assert_int_eq(huge.status, PGRES_FATAL_ERROR);
	ck_assert_str_eq(after.row, "2");
	ck_assert_int_eq(w.connects, 1);
	db_free(db);
	event_base_free(base);
}
END_TEST

START_TEST(test_non_retry_statement_fails_on_connection_loss)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec pid1 = { 0 }, kill = { 0 }, pid2 = { 0 };
	struct db *db;
	char *log;

	test_seq = 0;
	log_capture_start();
	db = test_db(base, "victim", &w);
	db_query(db, "SELECT pg_backend_pid()", 0, NULL, 0, rec_cb, &pid1);
	db_query(db, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL,
	    0, rec_cb, &kill);
	db_query(db, "SELECT pg_backend_pid()", 0, NULL, 0, rec_cb, &pid2);
	db_start(db);
	test_wait(base, &pid2.called, 1, "the statement after the loss");
	log = log_capture_end();

	ck_assert_int_eq(kill.called, 1);
	ck_assert_int_eq(kill.was_null, 1);
	ck_assert_int_eq(pid2.was_null, 0);
	ck_assert_int_eq(pid2.status, PGRES_TUPLES_OK);
	ck_assert_str_ne(pid1.row, pid2.row);
	ck_assert_int_lt(kill.seq, pid2.seq);
	ck_assert_int_eq(w.connects, 2);
	ck_assert_int_eq(db_connected(db), 1);
	ck_assert_uint_eq(db_pending(db), 0);

	/* One warning and one notice for the whole outage. */
	ck_assert_int_eq(count_str(log, "database victim: connection lost:"),
	    1);
	ck_assert_int_eq(count_str(log, "database victim: reconnected"), 1);
	ck_assert_int_eq(count_str(log, "[warning]"), 1);
	free(log);
	db_free(db);
	event_base_free(base);
}
END_TEST

START_TEST(test_reconnects_and_retries_after_backend_killed)
{
	struct event_base *base = event_base_new();
	struct watch vw = { 0 }, kw = { 0 };
	struct rec r = { 0 }, pid1 = { 0 }, held = { 0 }, pid2 = { 0 };
	const char *params[2];
	struct db *victim, *killer;
	char *log;

	test_seq = 0;
	log_capture_start();
	victim = test_db(base, "victim", &vw);
	killer = test_db(base, "killer", &kw);
	db_listen(victim, "retry_chan");
	db_start(killer);
	db_start(victim);

	/* The killer holds a lock that the victim's statement will wait for. */
	test_query(base, killer, "SELECT pg_advisory_lock(" TEST_LOCK_KEY ")",
	    0, NULL, &r);
	test_query(base, victim, "SELECT pg_backend_pid()", 0, NULL, &pid1);
	params[0] = "done";
	db_query(victim,
	    "SELECT $1::text FROM (SELECT pg_advisory_xact_lock(" TEST_LOCK_KEY
	    ")) AS l",
	    1, params, DB_RETRY, rec_cb, &held);
	db_query(victim, "SELECT pg_backend_pid()", 0, NULL, 0, rec_cb, &pid2);
	ck_assert_uint_eq(db_pending(victim), 2);

	/* Kill the victim's backend while its statement waits. */
	params[0] = pid1.row;
	do {
		test_query(base, killer,
		    "SELECT coalesce(wait_event_type, '') FROM pg_stat_activity "
		    "WHERE pid = $1::int",
		    1, params, &r);
	} while (strcmp(r.row, "Lock") != 0);
	test_query(base, killer, "SELECT pg_terminate_backend($1::int)", 1,
	    params, &r);
	ck_assert_str_eq(r.row, "t");
	test_query(base, killer, "SELECT pg_advisory_unlock(" TEST_LOCK_KEY ")",
	    0, NULL, &r);
	ck_assert_str_eq(r.row, "t");

	/* The statement is resent after the reconnect, ahead of the next. */
	test_wait(base, &pid2.called, 1, "the statements after the reconnect");
	ck_assert_int_eq(held.called, 1);
	ck_assert_int_eq(held.was_null, 0);
	ck_assert_int_eq(held.status, PGRES_TUPLES_OK);
	ck_assert_str_eq(held.row, "done");
	ck_assert_int_lt(held.seq, pid2.seq);
	ck_assert_str_ne(pid1.row, pid2.row);
	ck_assert_int_eq(vw.connects, 2);
	ck_assert_int_eq(kw.connects, 1);
	ck_assert_uint_eq(db_pending(victim), 0);

	/* The channel was subscribed again. */
	params[0] = "retry_chan";
	params[1] = "after";
	test_query(base, killer, "SELECT pg_notify($1, $2)", 2, params, &r);
	test_wait(base, &vw.notifies, 1, "a notification after the reconnect");
	ck_assert_str_eq(vw.payload, "after");
	log = log_capture_end();

	ck_assert_int_eq(count_str(log, "database victim: connection lost:"),
	    1);
	ck_assert_int_eq(count_str(log, "database victim: reconnected"), 1);
	ck_assert_int_eq(count_str(log, "[warning]"), 1);
	free(log);
	db_free(killer);
	db_free(victim);
	event_base_free(base);
}
END_TEST

START_TEST(test_idle_connection_loss_is_detected_and_reconnects)
{
	struct event_base *base = event_base_new();
	struct watch vw = { 0 }, kw = { 0 };
	struct rec r = { 0 }, pid1 = { 0 }, pid2 = { 0 };
	const char *params[2];
	struct db *victim, *killer;
	char *log;

	log_capture_start();
	victim = test_db(base, "victim", &vw);
	killer = test_db(base, "killer", &kw);
	db_listen(victim, "idle_chan");
	db_start(victim);
	db_start(killer);
	test_query(base, victim, "SELECT pg_backend_pid()", 0, NULL, &pid1);
	test_wait(base, &kw.connects, 1, "the killer to connect");

	/* Nothing is in flight on the victim: only its read event can tell. */
	params[0] = pid1.row;
	test_query(base, killer, "SELECT pg_terminate_backend($1::int)", 1,
	    params, &r);
	ck_assert_str_eq(r.row, "t");
	test_wait(base, &vw.connects, 2, "the victim to reconnect");
	ck_assert_int_eq(db_connected(victim), 1);
	test_query(base, victim, "SELECT pg_backend_pid()", 0, NULL, &pid2);
	ck_assert_str_ne(pid1.row, pid2.row);

	params[0] = "idle_chan";
	params[1] = "back";
	test_query(base, killer, "SELECT pg_notify($1, $2)", 2, params, &r);
	test_wait(base, &vw.notifies, 1, "a notification after the reconnect");
	ck_assert_str_eq(vw.payload, "back");
	log = log_capture_end();

	ck_assert_int_eq(count_str(log,
			     "database victim: connection lost: terminating "
			     "connection due to administrator command"),
	    1);
	ck_assert_int_eq(count_str(log, "database victim: reconnected"), 1);
	ck_assert_int_eq(count_str(log, "[warning]"), 1);
	free(log);
	db_free(killer);
	db_free(victim);
	event_base_free(base);
}
END_TEST

START_TEST(test_connect_to_dead_server_keeps_retrying)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec r = { 0 };
	struct db *db;
	char *log;
	int attempts;

	log_capture_start();
	db = db_new(base, "host=127.0.0.1 port=1 dbname=none sslmode=disable",
	    "dead");
	ck_assert_ptr_nonnull(db);
	db_set_connect_cb(db, watch_connect_cb, &w);
	db_set_backoff(db, 10, 40);
	db_query(db, "SELECT 1", 0, NULL, DB_RETRY, rec_cb, &r);
	db_start(db);
	test_run_for(base, 1000);
	log = log_capture_end();

	ck_assert_int_eq(r.called, 0);
	ck_assert_uint_eq(db_pending(db), 1);
	ck_assert_int_eq(db_connected(db), 0);
	ck_assert_int_eq(w.connects, 0);

	/* One warning, then quiet attempts: 10+20+40+40... ms fit ~25. */
	ck_assert_int_eq(count_str(log, "database dead: cannot connect:"), 1);
	attempts = 1 + count_str(log, "database dead: still cannot connect:");
	ck_assert_msg(attempts >= 10 && attempts <= 40,
	    "%d connection attempts in 1 s", attempts);
	ck_assert_int_eq(count_str(log, "[warning]"), 1);
	free(log);

	/* Freeing fails what is still queued. */
	db_free(db);
	ck_assert_int_eq(r.called, 1);
	ck_assert_int_eq(r.was_null, 1);
	event_base_free(base);
}
END_TEST

START_TEST(test_connect_to_silent_server_times_out)
{
	struct event_base *base = event_base_new();
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct rec r = { 0 };
	struct db *db;
	char conninfo[128], *log;
	int fd;

	/* The kernel completes the handshake; nobody ever answers libpq. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(conninfo, sizeof(conninfo),
	    "host=127.0.0.1 port=%d dbname=none sslmode=disable",
	    ntohs(sin.sin_port));

	log_capture_start();
	db = db_new(base, conninfo, "silent");
	ck_assert_ptr_nonnull(db);
	db_set_backoff(db, 10, 10);
	db_query(db, "SELECT 1", 0, NULL, 0, rec_cb, &r);
	db_start(db);
	test_run_for(base, 10500);
	log = log_capture_end();

	ck_assert_int_eq(count_str(log,
			     "database silent: cannot connect: timed out"),
	    1);
	ck_assert_int_eq(r.called, 0);
	ck_assert_uint_eq(db_pending(db), 1);
	free(log);
	db_free(db);
	ck_assert_int_eq(r.was_null, 1);
	close(fd);
	event_base_free(base);
}
END_TEST

START_TEST(test_free_fails_pending_statements_and_silences_callbacks)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec ready = { 0 }, slow = { 0 }, queued = { 0 };
	struct db *db;

	db_free(NULL);
	db = test_db(base, "freed", &w);
	db_listen(db, "freed_chan");
	db_start(db);
	test_query(base, db, "SELECT 1", 0, NULL, &ready);
	db_query(db, "SELECT pg_sleep(5)", 0, NULL, DB_RETRY, rec_cb, &slow);
	db_query(db, "SELECT 2", 0, NULL, 0, rec_cb, &queued);
	test_run_for(base, 50);
	ck_assert_int_eq(slow.called, 0);
	db_free(db);

	ck_assert_int_eq(slow.called, 1);
	ck_assert_int_eq(slow.was_null, 1);
	ck_assert_int_eq(queued.called, 1);
	ck_assert_int_eq(queued.was_null, 1);
	ck_assert_int_lt(slow.seq, queued.seq);

	/* Nothing of the db is left in the loop. */
	test_run_for(base, 200);
	ck_assert_int_eq(slow.called, 1);
	ck_assert_int_eq(queued.called, 1);
	ck_assert_int_eq(w.notifies, 0);
	ck_assert_int_eq(event_base_get_num_events(base,
			     EVENT_BASE_COUNT_ADDED),
	    0);
	event_base_free(base);
}
END_TEST

START_TEST(test_null_conninfo_uses_environment)
{
	static const struct {
		const char *keyword, *env;
	} map[] = { { "host", "PGHOST" }, { "port", "PGPORT" },
		{ "dbname", "PGDATABASE" }, { "user", "PGUSER" } };
	struct event_base *base = event_base_new();
	PQconninfoOption *opts, *o;
	struct watch w = { 0 };
	struct rec r = { 0 };
	struct db *db;

	/* Move the test server's address into libpq's PG* variables. */
	opts = PQconninfoParse(test_conninfo, NULL);
	ck_assert_ptr_nonnull(opts);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		unsetenv(map[i].env);
		for (o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, map[i].keyword) == 0 &&
			    o->val != NULL)
				setenv(map[i].env, o->val, 1);
	}
	PQconninfoFree(opts);

	db = db_new(base, NULL, NULL);
	ck_assert_ptr_nonnull(db);
	ck_assert_str_eq(db_name(db), "postgresql");
	db_set_connect_cb(db, watch_connect_cb, &w);
	db_start(db);
	test_query(base, db, "SELECT 42", 0, NULL, &r);
	ck_assert_str_eq(r.row, "42");
	ck_assert_int_eq(w.connects, 1);
	db_free(db);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		unsetenv(map[i].env);
	event_base_free(base);
}
END_TEST

START_TEST(test_bad_conninfo_fails_like_a_dead_server)
{
	struct event_base *base = event_base_new();
	struct rec r = { 0 };
	struct db *db;
	char *log;

	log_capture_start();
	db = db_new(base, "nosuchoption=1", "bad");
	ck_assert_ptr_nonnull(db);
	db_set_backoff(db, 10, 10);
	db_query(db, "SELECT 1", 0, NULL, 0, rec_cb, &r);
	db_start(db);
	test_run_for(base, 200);
	log = log_capture_end();

	ck_assert_int_eq(count_str(log,
			     "database bad: cannot connect: invalid connection "
			     "option \"nosuchoption\""),
	    1);
	ck_assert_int_ge(count_str(log, "database bad: still cannot connect"),
	    5);
	ck_assert_int_eq(r.called, 0);
	ck_assert_uint_eq(db_pending(db), 1);
	free(log);
	db_free(db);
	ck_assert_int_eq(r.was_null, 1);
	event_base_free(base);
}
END_TEST

START_TEST(test_copy_loads_many_rows)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec r = { 0 }, sums = { 0 };
	struct db *db;
	char *data;
	size_t len;

	db = test_db(base, "copy", &w);
	db_start(db);
	test_table(base, db, "copy_many");
	data = test_rows(1, 100000, &len);
	db_copy(db, "COPY copy_many (id, d, s) FROM STDIN", data, len, 0,
	    rec_cb, &r);
	ck_assert_uint_eq(db_pending(db), 1);

	/* The rows were copied. */
	memset(data, 'X', len);
	free(data);
	test_wait(base, &r.called, 1, "the COPY");

	ck_assert_int_eq(r.was_null, 0);
	ck_assert_int_eq(r.status, PGRES_COMMAND_OK);
	ck_assert_str_eq(r.tuples, "100000");
	ck_assert_uint_eq(db_pending(db), 0);

	/* 1 + ... + 100000 = 5000050000; each d adds 0.5 more. */
	test_query(base, db,
	    "SELECT count(*), sum(id), sum(d), bool_and(s = 'row ' || id) "
	    "FROM copy_many",
	    0, NULL, &sums);
	ck_assert_str_eq(sums.row, "100000|5000050000|5000100000|t");
	ck_assert_int_eq(w.connects, 1);
	db_free(db);
	event_base_free(base);
}
END_TEST

/* Rejected batches in a row: the server's early answer is easy to miss. */
#define TEST_BAD_BATCHES 200

/* Counts the results that reject a row as invalid input. */
static void
count_invalid_cb(struct db *db, const PGresult *res, void *arg)
{
	const char *state;

	(void)db;
	if (res == NULL || PQresultStatus(res) != PGRES_FATAL_ERROR)
		return;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state != NULL && strcmp(state, "22P02") == 0)
		(*(int *)arg)++;
}

START_TEST(test_copy_with_bad_row_fails_and_connection_goes_on)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec pid1 = { 0 }, bad = { 0 }, nosuch = { 0 }, pid2 = { 0 };
	struct rec count = { 0 };
	struct db *db;
	char *data, *rows, *log;
	size_t len;
	int invalid = 0;

	log_capture_start();
	db = test_db(base, "copybad", &w);
	db_start(db);
	test_table(base, db, "copy_bad");

	/* The server rejects row 2 while most of the batch is still to come. */
	rows = test_rows(3, 20000, &len);
	data = xasprintf("1\t1.5\tok\n2\tnot a number\tbad\n%s", rows);
	free(rows);
	db_query(db, "SELECT pg_backend_pid()", 0, NULL, 0, rec_cb, &pid1);
	db_copy(db, "COPY copy_bad (id, d, s) FROM STDIN", data, strlen(data),
	    DB_RETRY, rec_cb, &bad);
	db_copy(db, "COPY no_such_table (id, d, s) FROM STDIN", data,
	    strlen(data), 0, rec_cb, &nosuch);

	/* Batches of many lengths, so that the end falls anywhere. */
	len = strlen(data);
	for (int i = 0; i < TEST_BAD_BATCHES; i++) {
		db_copy(db, "COPY copy_bad (id, d, s) FROM STDIN", data, len, 0,
		    count_invalid_cb, &invalid);
		len -= 1000;
		while (data[len - 1] != '\n')
			len--;
	}
	db_query(db, "SELECT pg_backend_pid()", 0, NULL, 0, rec_cb, &pid2);
	db_query(db, "SELECT count(*) FROM copy_bad", 0, NULL, 0, rec_cb,
	    &count);
	free(data);
	test_wait(base, &count.called, 1, "the statements after the COPYs");
	log = log_capture_end();

	ck_assert_int_eq(bad.called, 1);
	ck_assert_int_eq(bad.was_null, 0);
	ck_assert_int_eq(bad.status, PGRES_FATAL_ERROR);
	ck_assert_str_eq(bad.sqlstate, "22P02");
	ck_assert_int_eq(nosuch.called, 1);
	ck_assert_int_eq(nosuch.status, PGRES_FATAL_ERROR);
	ck_assert_str_eq(nosuch.sqlstate, "42P01");
	ck_assert_int_eq(invalid, TEST_BAD_BATCHES);
	ck_assert_int_eq(pid2.status, PGRES_TUPLES_OK);
	ck_assert_str_eq(pid1.row, pid2.row);
	ck_assert_str_eq(count.row, "0");
	ck_assert_int_eq(w.connects, 1);
	ck_assert_uint_eq(db_pending(db), 0);
	ck_assert_int_eq(count_str(log, "connection lost"), 0);
	free(log);
	db_free(db);
	event_base_free(base);
}
END_TEST

START_TEST(test_copy_runs_in_queue_order)
{
	struct event_base *base = event_base_new();
	struct watch w = { 0 };
	struct rec r[6];
	struct db *db;
	char *data;
	size_t len;

	memset(r, 0, sizeof(r));
	db = test_db(base, "copyorder", &w);
	db_start(db);
	test_table(base, db, "copy_order");
	test_seq = 0;
	data = test_rows(1, 10, &len);
	db_query(db, "SELECT count(*) FROM copy_order", 0, NULL, 0, rec_cb,
	    &r[0]);
	db_copy(db, "COPY copy_order (id, d, s) FROM STDIN", data, len, 0,
	    rec_cb, &r[1]);
	db_copy(db, "COPY copy_order (id, d, s) FROM STDIN", NULL, 0, 0, rec_cb,
	    &r[2]);
	db_query(db, "SELECT count(*), sum(id) FROM copy_order", 0, NULL, 0,
	    rec_cb, &r[3]);
	db_copy(db, "COPY copy_order (id, d, s) FROM STDIN", data, len, 0,
	    rec_cb, &r[4]);

	/* Not a COPY: the rows cannot go anywhere. */
	db_copy(db, "SELECT 1", data, len, 0, rec_cb, &r[5]);
	free(data);
	ck_assert_uint_eq(db_pending(db), 6);
	test_wait(base, &r[5].called, 1, "the last db_copy");

	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(r[i].called, 1);
		ck_assert_int_eq(r[i].seq, i + 1);
	}
	ck_assert_str_eq(r[0].row, "0");
	ck_assert_int_eq(r[1].status, PGRES_COMMAND_OK);
	ck_assert_str_eq(r[1].tuples, "10");
	ck_assert_int_eq(r[2].status, PGRES_COMMAND_OK);
	ck_assert_str_eq(r[2].tuples, "0");
	ck_assert_str_eq(r[3].row, "10|55");
	ck_assert_int_eq(r[4].status, PGRES_COMMAND_OK);
	ck_assert_int_eq(r[5].was_null, 0);
	ck_assert_int_eq(r[5].status, PGRES_FATAL_ERROR);
	ck_assert_uint_eq(db_pending(db), 0);
	db_free(db);
	event_base_free(base);
}
END_TEST

/* Rows in the COPY that a killed backend interrupts. */
#define TEST_RETRY_ROWS 500000

START_TEST(test_copy_with_retry_survives_backend_killed)
{
	struct event_base *base = event_base_new();
	struct watch vw = { 0 }, kw = { 0 };
	struct rec r = { 0 }, pid1 = { 0 }, copied = { 0 }, pid2 = { 0 };
	const char *params[1];
	struct db *victim, *killer;
	long long n = TEST_RETRY_ROWS, count, sum;
	char *data, *log;
	size_t len;

	test_seq = 0;
	log_capture_start();
	victim = test_db(base, "victim", &vw);
	killer = test_db(base, "killer", &kw);
	db_start(killer);
	db_start(victim);
	test_lock_table(base, killer, "copy_retry");

	/*
	 * The killer holds the lock, so the victim's COPY stops before its
	 * first row while the rows fill the socket behind it.
	 */
	test_query(base, killer,
	    "SELECT pg_advisory_lock(" TEST_COPY_LOCK_KEY ")", 0, NULL, &r);
	test_query(base, victim, "SELECT pg_backend_pid()", 0, NULL, &pid1);
	data = test_rows(1, TEST_RETRY_ROWS, &len);
	db_copy(victim, "COPY copy_retry (id, d, s) FROM STDIN", data, len,
	    DB_RETRY, rec_cb, &copied);
	free(data);
	db_query(victim, "SELECT pg_backend_pid()", 0, NULL, 0, rec_cb, &pid2);
	ck_assert_uint_eq(db_pending(victim), 2);
	params[0] = pid1.row;
	test_wait_for_lock(base, killer, pid1.row);
	ck_assert_int_eq(copied.called, 0);

	test_query(base, killer, "SELECT pg_terminate_backend($1::int)", 1,
	    params, &r);
	ck_assert_str_eq(r.row, "t");
	test_query(base, killer,
	    "SELECT pg_advisory_unlock(" TEST_COPY_LOCK_KEY ")", 0, NULL, &r);
	ck_assert_str_eq(r.row, "t");

	/* The whole COPY is resent after the reconnect, ahead of the next. */
	test_wait(base, &pid2.called, 1, "the statements after the reconnect");
	log = log_capture_end();
	ck_assert_int_eq(copied.called, 1);
	ck_assert_int_eq(copied.was_null, 0);
	ck_assert_int_eq(copied.status, PGRES_COMMAND_OK);
	ck_assert_int_lt(copied.seq, pid2.seq);
	ck_assert_str_ne(pid1.row, pid2.row);
	ck_assert_int_eq(vw.connects, 2);
	ck_assert_int_eq(kw.connects, 1);
	ck_assert_uint_eq(db_pending(victim), 0);

	/* Every row arrived, possibly twice (see db.h), never in part. */
	test_query(base, killer, "SELECT count(*), sum(id) FROM copy_retry", 0,
	    NULL, &r);
	ck_assert_int_eq(sscanf(r.row, "%lld|%lld", &count, &sum), 2);
	ck_assert_msg(count == n || count == 2 * n, "%lld rows arrived", count);
	ck_assert_int_eq(sum, count / n * (n * (n + 1) / 2));

	ck_assert_int_eq(count_str(log, "database victim: connection lost:"),
	    1);
	ck_assert_int_eq(count_str(log, "database victim: reconnected"), 1);
	ck_assert_int_eq(count_str(log, "[warning]"), 1);
	free(log);
	db_free(killer);
	db_free(victim);
	event_base_free(base);
}
END_TEST

START_TEST(test_free_fails_queued_and_inflight_copies)
{
	struct event_base *base = event_base_new();
	struct watch vw = { 0 }, hw = { 0 };
	struct rec r = { 0 }, pid = { 0 }, unsent = { 0 }, inflight = { 0 };
	struct rec queued = { 0 };
	struct db *victim, *holder;
	char *data;
	size_t len;

	/* Never connected. */
	victim = test_db(base, "unsent", &vw);
	db_copy(victim, "COPY copy_free (id, d, s) FROM STDIN", "1\t1\tx\n", 7,
	    0, rec_cb, &unsent);
	ck_assert_uint_eq(db_pending(victim), 1);
	db_free(victim);
	ck_assert_int_eq(unsent.called, 1);
	ck_assert_int_eq(unsent.was_null, 1);

	/* One COPY held up by the lock, one behind it. */
	test_seq = 0;
	holder = test_db(base, "holder", &hw);
	victim = test_db(base, "victim", &vw);
	db_start(holder);
	db_start(victim);
	test_lock_table(base, holder, "copy_free");
	test_query(base, holder,
	    "SELECT pg_advisory_lock(" TEST_COPY_LOCK_KEY ")", 0, NULL, &r);
	test_query(base, victim, "SELECT pg_backend_pid()", 0, NULL, &pid);
	data = test_rows(1, 100000, &len);
	db_copy(victim, "COPY copy_free (id, d, s) FROM STDIN", data, len,
	    DB_RETRY, rec_cb, &inflight);
	db_copy(victim, "COPY copy_free (id, d, s) FROM STDIN", data, len, 0,
	    rec_cb, &queued);
	free(data);
	ck_assert_uint_eq(db_pending(victim), 2);
	test_wait_for_lock(base, holder, pid.row);
	db_free(victim);

	ck_assert_int_eq(inflight.called, 1);
	ck_assert_int_eq(inflight.was_null, 1);
	ck_assert_int_eq(queued.called, 1);
	ck_assert_int_eq(queued.was_null, 1);
	ck_assert_int_lt(inflight.seq, queued.seq);

	/* The COPY cut off never commits. */
	test_query(base, holder,
	    "SELECT pg_advisory_unlock(" TEST_COPY_LOCK_KEY ")", 0, NULL, &r);
	ck_assert_str_eq(r.row, "t");
	test_query(base, holder, "SELECT count(*) FROM copy_free", 0, NULL, &r);
	ck_assert_str_eq(r.row, "0");
	db_free(holder);

	/* Nothing of either db is left in the loop. */
	test_run_for(base, 100);
	ck_assert_int_eq(inflight.called, 1);
	ck_assert_int_eq(event_base_get_num_events(base,
			     EVENT_BASE_COUNT_ADDED),
	    0);
	event_base_free(base);
}
END_TEST

/* Fields that need escaping, and some that do not. */
static const char *const escape_fields[] = {
	"plain",
	"",
	"tab\there",
	"two\nlines",
	"cr\rlf\r\n",
	"back\\slash",
	"\\N",
	"\\.",
	"end of data\n\\.\n",
	"trailing backslash\\",
	"\t\n\r\\ all\\\\ of them",
	"h\xc3\xa9llo w\xc3\xb6rld",
};

START_TEST(test_copy_escape_round_trips)
{
	struct event_base *base = event_base_new();
	size_t nfields = sizeof(escape_fields) / sizeof(escape_fields[0]);
	struct watch w = { 0 };
	struct rec r = { 0 }, copied = { 0 };
	const char *params[2];
	char buf[128], id[16], *data, *row;
	struct db *db;

	/* snprintf-style: the length needed, never half an escape. */
	ck_assert_uint_eq(db_copy_escape(NULL, 0, "a\tb\\c\nd\re"), 13);
	ck_assert_uint_eq(db_copy_escape(buf, sizeof(buf), "a\tb\\c\nd\re"),
	    13);
	ck_assert_str_eq(buf, "a\\tb\\\\c\\nd\\re");
	ck_assert_uint_eq(db_copy_escape(buf, 3, "a\tb"), 4);
	ck_assert_str_eq(buf, "a");
	ck_assert_uint_eq(db_copy_escape(buf, 4, "a\tb"), 4);
	ck_assert_str_eq(buf, "a\\t");
	ck_assert_uint_eq(db_copy_escape(buf, 5, "a\tb"), 4);
	ck_assert_str_eq(buf, "a\\tb");
	ck_assert_uint_eq(db_copy_escape(buf, 1, "abc"), 3);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(db_copy_escape(buf, sizeof(buf), ""), 0);
	ck_assert_str_eq(buf, "");

	/* Row i holds field i; the last row is an SQL NULL. */
	data = xstrdup("");
	for (size_t i = 0; i < nfields; i++) {
		ck_assert_uint_lt(db_copy_escape(buf, sizeof(buf),
				      escape_fields[i]),
		    sizeof(buf));
		row = xasprintf("%s%zu\t0\t%s\n", data, i, buf);
		free(data);
		data = row;
	}
	row = xasprintf("%s%zu\t0\t\\N\n", data, nfields);
	free(data);
	data = row;

	db = test_db(base, "escape", &w);
	db_start(db);
	test_table(base, db, "copy_escape");
	db_copy(db, "COPY copy_escape (id, d, s) FROM STDIN", data,
	    strlen(data), 0, rec_cb, &copied);
	free(data);
	test_wait(base, &copied.called, 1, "the COPY");
	ck_assert_int_eq(copied.status, PGRES_COMMAND_OK);
	ck_assert_uint_eq(strtoul(copied.tuples, NULL, 10), nfields + 1);

	for (size_t i = 0; i <= nfields; i++) {
		snprintf(id, sizeof(id), "%zu", i);
		params[0] = id;
		params[1] = i < nfields ? escape_fields[i] : NULL;
		test_query(base, db,
		    "SELECT s IS NOT DISTINCT FROM $2 FROM copy_escape "
		    "WHERE id = $1::int",
		    2, params, &r);
		ck_assert_msg(strcmp(r.row, "t") == 0,
		    "field %zu did not round-trip", i);
	}
	db_free(db);
	event_base_free(base);
}
END_TEST

/* The one suite of this module. */
static Suite *
db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_query_returns_rows);
	tcase_add_test(tc,
	    test_statements_run_in_order_and_callbacks_may_queue_more);
	tcase_add_test(tc, test_listen_receives_notify);
	tcase_add_test(tc, test_notify_reaches_idle_connection_and_late_listen);
	tcase_add_test(tc, test_server_error_is_not_connection_loss);
	tcase_add_test(tc, test_statement_libpq_refuses_gets_error_result);
	tcase_add_test(tc, test_non_retry_statement_fails_on_connection_loss);
	tcase_add_test(tc, test_reconnects_and_retries_after_backend_killed);
	tcase_add_test(tc,
	    test_idle_connection_loss_is_detected_and_reconnects);
	tcase_add_test(tc, test_connect_to_dead_server_keeps_retrying);
	tcase_add_test(tc, test_connect_to_silent_server_times_out);
	tcase_add_test(tc,
	    test_free_fails_pending_statements_and_silences_callbacks);
	tcase_add_test(tc, test_null_conninfo_uses_environment);
	tcase_add_test(tc, test_bad_conninfo_fails_like_a_dead_server);
	tcase_add_test(tc, test_copy_loads_many_rows);
	tcase_add_test(tc, test_copy_with_bad_row_fails_and_connection_goes_on);
	tcase_add_test(tc, test_copy_runs_in_queue_order);
	tcase_add_test(tc, test_copy_with_retry_survives_backend_killed);
	tcase_add_test(tc, test_free_fails_queued_and_inflight_copies);
	tcase_add_test(tc, test_copy_escape_round_trips);
	suite_add_tcase(s, tc);
	return s;
}

int main(void);

/* Refuses to run (and fails) without a server to test against. */
int
main(void)
{
	SRunner *sr;
	int failed;

	test_conninfo = getenv("MONITORD_TEST_PGCONN");
	if (test_conninfo == NULL || *test_conninfo == '\0') {
		fprintf(stderr,
		    "check_db: FAIL: MONITORD_TEST_PGCONN is not set; set it "
		    "to the conninfo of a PostgreSQL server to test against, "
		    "e.g. 'host=/tmp/pg/sock port=55433 dbname=test' (the "
		    "integration harness does this)\n");
		return EXIT_FAILURE;
	}
	log_init("check_db", 0, LOG_LEVEL_DEBUG);
	sr = srunner_create(db_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
