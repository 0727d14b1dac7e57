/*
 * Asynchronous libpq on libevent.  Each struct db owns one connection and a
 * FIFO of statements that are sent one at a time.  While connecting,
 * PQconnectPoll says which way to wait on PQsocket(); once connected, one
 * persistent read event collects results and notifications (also while
 * idle) and a one-shot write event waits while PQflush has output left.  A
 * lost connection is closed and reopened after an exponential backoff, the
 * LISTEN channels are subscribed again, and only then does the owner's
 * connect callback run and the queue move on.
 *
 * A COPY FROM STDIN is a statement like the others until the server answers
 * PGRES_COPY_IN; its rows then go out in chunks, each only once libpq has
 * flushed the one before, so libpq's output buffer stays small and a slow
 * server makes us wait for writability instead of blocking or buffering the
 * whole batch twice.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "timeutil.h"
#include "xmalloc.h"

/* A connection attempt that takes longer than this is abandoned. */
#define DB_CONNECT_TIMEOUT_MS 10000
#define DB_BACKOFF_MIN_MS 500
#define DB_BACKOFF_MAX_MS 30000

/* Long enough for the first line of any libpq or server message we log. */
#define DB_MSG_MAX 512

/* COPY rows are handed to libpq this many bytes at a time. */
#define DB_COPY_CHUNK 65536

/* Where the connection is; statements only go out in DB_STATE_IDLE. */
enum db_state {
	DB_STATE_NEW, /* db_start not called yet */
	DB_STATE_CONNECTING, /* PQconnectPoll in progress */
	DB_STATE_WAITING, /* disconnected, backoff timer running */
	DB_STATE_IDLE, /* connected, nothing in flight */
	DB_STATE_SENDING, /* a statement is sent, output not yet flushed */
	DB_STATE_READING, /* a statement is flushed, results coming */
	DB_STATE_COPYING, /* a COPY FROM STDIN is taking its rows */
	DB_STATE_CLOSED /* db_free in progress */
};

#define DB_BIT(s) (1u << (s))

/* The states each state may move to. */
static const unsigned db_state_moves[] = {
	[DB_STATE_NEW] = DB_BIT(DB_STATE_CONNECTING) | DB_BIT(DB_STATE_CLOSED),
	[DB_STATE_CONNECTING] = DB_BIT(DB_STATE_WAITING) |
	    DB_BIT(DB_STATE_IDLE) | DB_BIT(DB_STATE_CLOSED),
	[DB_STATE_WAITING] =
	    DB_BIT(DB_STATE_CONNECTING) | DB_BIT(DB_STATE_CLOSED),
	[DB_STATE_IDLE] = DB_BIT(DB_STATE_SENDING) | DB_BIT(DB_STATE_WAITING) |
	    DB_BIT(DB_STATE_CLOSED),
	[DB_STATE_SENDING] = DB_BIT(DB_STATE_READING) |
	    DB_BIT(DB_STATE_WAITING) | DB_BIT(DB_STATE_CLOSED),
	[DB_STATE_READING] = DB_BIT(DB_STATE_IDLE) | DB_BIT(DB_STATE_WAITING) |
	    DB_BIT(DB_STATE_COPYING) | DB_BIT(DB_STATE_CLOSED),
	[DB_STATE_COPYING] = DB_BIT(DB_STATE_SENDING) |
	    DB_BIT(DB_STATE_WAITING) | DB_BIT(DB_STATE_CLOSED),
	[DB_STATE_CLOSED] = 0,
};

/* State names for logs, indexed by enum db_state. */
static const char *const db_state_names[] = {
	[DB_STATE_NEW] = "new",
	[DB_STATE_CONNECTING] = "connecting",
	[DB_STATE_WAITING] = "waiting",
	[DB_STATE_IDLE] = "idle",
	[DB_STATE_SENDING] = "sending",
	[DB_STATE_READING] = "reading",
	[DB_STATE_COPYING] = "copying",
	[DB_STATE_CLOSED] = "closed",
};

/* Who queued a statement, which decides what happens when it completes. */
enum db_stmt_kind {
	DB_STMT_USER, /* db_query, db_copy: the owner's callback gets it */
	DB_STMT_SETUP, /* the LISTENs sent after connecting */
	DB_STMT_LISTEN /* one LISTEN added while connected */
};

/*
 * A queued statement; it owns copies of its text, parameters and COPY rows.
 */
struct db_stmt {
	TAILQ_ENTRY(db_stmt) entry;
	enum db_stmt_kind kind;
	char *sql;
	int nparams;
	char **params;
	int copy; /* a COPY FROM STDIN with the rows below */
	char *data;
	size_t len;
	int copy_in; /* the server took the COPY, this attempt */
	size_t off; /* bytes handed to libpq so far, this attempt */
	int flags;
	db_result_cb cb;
	void *arg;
};

TAILQ_HEAD(db_stmt_list, db_stmt);

/* One connection with its queue, subscriptions and callbacks. */
struct db {
	struct event_base *base;
	char *conninfo;
	char *name;
	enum db_state state;
	PGconn *conn;
	int ready; /* channels subscribed: owner statements may go */
	int outage; /* a failure was logged; the next ones go to debug */
	int was_up; /* connected at least once */
	int in_cb; /* depth of owner callbacks running now */
	char *fatal_msg; /* last FATAL from the server, to explain a loss */

	struct event *ev_conn; /* one step of PQconnectPoll */
	struct event *ev_read; /* persistent while connected */
	struct event *ev_write; /* while PQflush has output left */
	struct event *ev_timeout; /* connect deadline */
	struct event *ev_retry; /* backoff before the next attempt */

	uint64_t backoff_min;
	uint64_t backoff_max;
	uint64_t backoff;

	struct db_stmt_list queue;
	struct db_stmt *inflight;
	PGresult *last_res; /* last result of the statement in flight */
	size_t npending; /* owner statements queued or in flight */

	char **channels;
	size_t nchannels;

	db_connect_cb connect_cb;
	void *connect_arg;
	db_notify_cb notify_cb;
	void *notify_arg;
};

static void db_connect(struct db *);
static void db_connpoll_cb(evutil_socket_t, short, void *);
static void db_read_cb(evutil_socket_t, short, void *);
static void db_write_cb(evutil_socket_t, short, void *);
static void db_send_next(struct db *);
static void db_collect(struct db *);

/* Returns the name of a state, for logs. */
static const char *
db_state_str(enum db_state state)
{
	if ((unsigned)state > DB_STATE_CLOSED)
		return "?";
	return db_state_names[state];
}

/*
 * Enters a state after checking that the move is allowed.  The moves among
 * idle, sending and reading happen for every statement and are not logged.
 */
static void
db_set_state(struct db *db, enum db_state state)
{
	if ((db_state_moves[db->state] & DB_BIT(state)) == 0)
		fatalx("database %s: bad state change %s -> %s", db->name,
		    db_state_str(db->state), db_state_str(state));
	if (db->state < DB_STATE_IDLE || state < DB_STATE_IDLE ||
	    state == DB_STATE_CLOSED)
		log_debug("database %s: %s -> %s", db->name,
		    db_state_str(db->state), db_state_str(state));
	db->state = state;
}

/* Whether the connection is up (statements can be sent or are in flight). */
static int
db_is_up(const struct db *db)
{
	return db->state == DB_STATE_IDLE || db->state == DB_STATE_SENDING ||
	    db->state == DB_STATE_READING || db->state == DB_STATE_COPYING;
}

/* Copies the first line of a libpq message, which is the one worth logging. */
static const char *
db_first_line(const char *msg, char *buf, size_t len)
{
	size_t n;

	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	n = strcspn(msg, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(buf, msg, n);
	buf[n] = '\0';
	return buf;
}

/* Frees a statement and its copies; NULL is allowed. */
static void
db_stmt_free(struct db_stmt *stmt)
{
	if (stmt == NULL)
		return;
	for (int i = 0; i < stmt->nparams; i++)
		free(stmt->params[i]);
	free(stmt->params);
	free(stmt->sql);
	free(stmt->data);
	free(stmt);
}

/* Queues an internal statement (a LISTEN); it takes ownership of sql. */
static void
db_queue_internal(struct db *db, enum db_stmt_kind kind, char *sql, int head)
{
	struct db_stmt *stmt = xcalloc(1, sizeof(*stmt));

	stmt->kind = kind;
	stmt->sql = sql;
	if (head)
		TAILQ_INSERT_HEAD(&db->queue, stmt, entry);
	else
		TAILQ_INSERT_TAIL(&db->queue, stmt, entry);
}

/* Drops the queued LISTENs: they are sent again after the next connect. */
static void
db_drop_internal(struct db *db)
{
	struct db_stmt *stmt, *next;

	for (stmt = TAILQ_FIRST(&db->queue); stmt != NULL; stmt = next) {
		next = TAILQ_NEXT(stmt, entry);
		if (stmt->kind == DB_STMT_USER)
			continue;
		TAILQ_REMOVE(&db->queue, stmt, entry);
		db_stmt_free(stmt);
	}
}

/* Marks the connection ready, tells the owner, and lets the queue go. */
static void
db_ready(struct db *db)
{
	db->ready = 1;
	if (db->connect_cb != NULL) {
		db->in_cb++;
		db->connect_cb(db, db->connect_arg);
		db->in_cb--;
	}
	db_send_next(db);
}

/*
 * Hands a finished statement to whoever queued it and frees it.  res is
 * NULL if the statement never completed.
 */
static void
db_stmt_done(struct db *db, struct db_stmt *stmt, const PGresult *res)
{
	enum db_stmt_kind kind;
	char buf[DB_MSG_MAX];

	switch (stmt->kind) {
	case DB_STMT_USER:
		db->npending--;
		if (stmt->cb != NULL) {
			db->in_cb++;
			stmt->cb(db, res, stmt->arg);
			db->in_cb--;
		}
		db_stmt_free(stmt);
		break;
	case DB_STMT_SETUP:
	case DB_STMT_LISTEN:
		if (!db_result_ok(res))
			log_warnx("database %s: LISTEN failed: %s", db->name,
			    db_first_line(res != NULL ?
				    PQresultErrorMessage(res) :
				    NULL,
				buf, sizeof(buf)));
		kind = stmt->kind;
		db_stmt_free(stmt);
		if (kind == DB_STMT_SETUP)
			db_ready(db);
		break;
	}
}

/* Remembers a FATAL message from the server to explain the loss to come. */
static void
db_note_fatal(struct db *db, const PGresult *res)
{
	const char *severity, *msg;

	severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (severity == NULL || msg == NULL)
		return;
	if (strcmp(severity, "FATAL") != 0 && strcmp(severity, "PANIC") != 0)
		return;
	free(db->fatal_msg);
	db->fatal_msg = xstrdup(msg);
}

/* Routes server notices to our log instead of libpq's stderr printer. */
static void
db_notice_cb(void *arg, const PGresult *res)
{
	struct db *db = arg;
	char buf[DB_MSG_MAX];

	db_note_fatal(db, res);
	log_debug("database %s: server says: %s", db->name,
	    db_first_line(PQresultErrorMessage(res), buf, sizeof(buf)));
}

/* Closes the connection and its events; the queue stays. */
static void
db_close(struct db *db)
{
	evtimer_del(db->ev_timeout);
	if (db->ev_conn != NULL) {
		event_free(db->ev_conn);
		db->ev_conn = NULL;
	}
	if (db->ev_read != NULL) {
		event_free(db->ev_read);
		db->ev_read = NULL;
	}
	if (db->ev_write != NULL) {
		event_free(db->ev_write);
		db->ev_write = NULL;
	}
	if (db->last_res != NULL) {
		PQclear(db->last_res);
		db->last_res = NULL;
	}
	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	free(db->fatal_msg);
	db->fatal_msg = NULL;
	db->ready = 0;
}

/* Waits out the backoff, then connects again; the backoff doubles. */
static void
db_wait_retry(struct db *db)
{
	struct timeval tv = timeutil_ms_to_tv(db->backoff);

	db_set_state(db, DB_STATE_WAITING);
	log_debug("database %s: next attempt in %llu ms", db->name,
	    (unsigned long long)db->backoff);
	if (evtimer_add(db->ev_retry, &tv) == -1)
		fatalx("database %s: cannot arm the retry timer", db->name);
	if (db->backoff >= db->backoff_max / 2)
		db->backoff = db->backoff_max;
	else
		db->backoff *= 2;
}

/* The backoff is over: try to connect again. */
static void
db_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_connect(arg);
}

/* A connection attempt failed: log (once per outage) and try again later. */
static void
db_connect_failed(struct db *db, const char *why)
{
	char buf[DB_MSG_MAX];

	db_first_line(db->fatal_msg != NULL ? db->fatal_msg : why, buf,
	    sizeof(buf));
	if (!db->outage) {
		log_warnx("database %s: cannot connect: %s", db->name, buf);
		db->outage = 1;
	} else
		log_debug("database %s: still cannot connect: %s", db->name,
		    buf);
	db_close(db);
	db_wait_retry(db);
}

/*
 * The connection broke: log it (once per outage), close it, arm the
 * reconnect timer, then settle the statement that was in flight: resend it
 * after the reconnect if it is marked DB_RETRY, else fail it with NULL.
 */
static void
db_lost(struct db *db, const char *why)
{
	struct db_stmt *stmt = db->inflight;
	char buf[DB_MSG_MAX];

	db_first_line(db->fatal_msg != NULL ? db->fatal_msg : why, buf,
	    sizeof(buf));
	if (!db->outage) {
		log_warnx("database %s: connection lost: %s", db->name, buf);
		db->outage = 1;
	} else
		log_debug("database %s: connection lost again: %s", db->name,
		    buf);
	db->inflight = NULL;
	db_close(db);
	db_drop_internal(db);
	db_wait_retry(db);
	if (stmt == NULL)
		return;
	if (stmt->kind != DB_STMT_USER)
		db_stmt_free(stmt);
	else if (stmt->flags & DB_RETRY) {
		log_debug("database %s: statement will be resent", db->name);
		TAILQ_INSERT_HEAD(&db->queue, stmt, entry);
	} else
		db_stmt_done(db, stmt, NULL);
}

/* Waits for the socket to become readable or writable for the next step. */
static void
db_connect_wait(struct db *db, short what)
{
	struct event *ev;
	int fd;

	if (db->ev_conn != NULL) {
		event_free(db->ev_conn);
		db->ev_conn = NULL;
	}
	if ((fd = PQsocket(db->conn)) == -1) {
		db_connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	ev = event_new(db->base, fd, what, db_connpoll_cb, db);
	if (ev == NULL || event_add(ev, NULL) == -1) {
		if (ev != NULL)
			event_free(ev);
		db_connect_failed(db, "cannot watch the socket");
		return;
	}
	db->ev_conn = ev;
}

/* Starts an attempt; PQconnectPoll then runs from socket events. */
static void
db_connect(struct db *db)
{
	struct timeval tv = timeutil_ms_to_tv(DB_CONNECT_TIMEOUT_MS);

	db_set_state(db, DB_STATE_CONNECTING);
	db->conn = PQconnectStart(db->conninfo);
	if (db->conn == NULL) {
		db_connect_failed(db, "out of memory");
		return;
	}
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		db_connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	PQsetNoticeReceiver(db->conn, db_notice_cb, db);
	if (evtimer_add(db->ev_timeout, &tv) == -1)
		fatalx("database %s: cannot arm the connect timer", db->name);

	/* libpq: before the first poll, act as if it had said "writing". */
	db_connect_wait(db, EV_WRITE);
}

/* Returns "LISTEN <quoted channel>", or NULL if libpq cannot quote it. */
static char *
db_listen_sql(struct db *db, const char *channel)
{
	char buf[DB_MSG_MAX];
	char *quoted, *sql;

	quoted = PQescapeIdentifier(db->conn, channel, strlen(channel));
	if (quoted == NULL) {
		log_warnx("database %s: cannot subscribe to channel %s: %s",
		    db->name, channel,
		    db_first_line(PQerrorMessage(db->conn), buf, sizeof(buf)));
		return NULL;
	}
	sql = xasprintf("LISTEN %s", quoted);
	PQfreemem(quoted);
	return sql;
}

/*
 * Connected: go non-blocking, watch the socket for good, then subscribe to
 * every channel in one statement at the head of the queue (ahead of a
 * DB_RETRY statement waiting there); the owner hears of the connection once
 * that is done.
 */
static void
db_connect_done(struct db *db)
{
	char *sql = NULL, *one, *joined;
	int fd;

	evtimer_del(db->ev_timeout);
	event_free(db->ev_conn);
	db->ev_conn = NULL;
	if (PQsetnonblocking(db->conn, 1) == -1) {
		db_connect_failed(db, PQerrorMessage(db->conn));
		return;
	}
	fd = PQsocket(db->conn);
	db->ev_read =
	    event_new(db->base, fd, EV_READ | EV_PERSIST, db_read_cb, db);
	db->ev_write = event_new(db->base, fd, EV_WRITE, db_write_cb, db);
	if (db->ev_read == NULL || db->ev_write == NULL ||
	    event_add(db->ev_read, NULL) == -1) {
		db_connect_failed(db, "cannot watch the socket");
		return;
	}
	db_set_state(db, DB_STATE_IDLE);
	if (db->outage)
		log_notice("database %s: %s", db->name,
		    db->was_up ? "reconnected" : "connected");
	else
		log_info("database %s: connected", db->name);
	db->outage = 0;
	db->was_up = 1;
	db->backoff = db->backoff_min;

	for (size_t i = 0; i < db->nchannels; i++) {
		if ((one = db_listen_sql(db, db->channels[i])) == NULL)
			continue;
		if (sql == NULL) {
			sql = one;
			continue;
		}
		joined = xasprintf("%s; %s", sql, one);
		free(sql);
		free(one);
		sql = joined;
	}
	if (sql == NULL) {
		db_ready(db);
		return;
	}
	db_queue_internal(db, DB_STMT_SETUP, sql, 1);
	db_send_next(db);
}

/* One step of the connection handshake; the socket may change each time. */
static void
db_connpoll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;

	(void)fd;
	(void)what;
	switch (PQconnectPoll(db->conn)) {
	case PGRES_POLLING_OK:
		db_connect_done(db);
		break;
	case PGRES_POLLING_READING:
		db_connect_wait(db, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		db_connect_wait(db, EV_WRITE);
		break;
	default:
		db_connect_failed(db, PQerrorMessage(db->conn));
		break;
	}
}

/* The connect deadline passed before the handshake finished. */
static void
db_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;
	char buf[64];

	(void)fd;
	(void)what;
	snprintf(buf, sizeof(buf), "timed out after %d ms",
	    DB_CONNECT_TIMEOUT_MS);
	db_connect_failed(db, buf);
}

/* Pushes the statement's output out; waits for writability if some is left. */
static void
db_flush(struct db *db)
{
	switch (PQflush(db->conn)) {
	case 0:
		event_del(db->ev_write);
		db_set_state(db, DB_STATE_READING);
		break;
	case 1:
		if (event_add(db->ev_write, NULL) == -1)
			db_lost(db, "cannot watch the socket");
		break;
	default:
		db_lost(db, PQerrorMessage(db->conn));
		break;
	}
}

/*
 * Hands the rows of the COPY in flight to libpq a chunk at a time, each only
 * once the one before has been flushed, then ends the COPY and waits for its
 * result.  A full socket means waiting for writability; the read event comes
 * back here too, because libpq wants input consumed while output is stuck.
 */
static void
db_copy_put(struct db *db)
{
	struct db_stmt *stmt = db->inflight;
	size_t n;
	int rc;

	for (;;) {
		if ((rc = PQflush(db->conn)) == 1)
			break;
		if (rc == -1) {
			db_lost(db, PQerrorMessage(db->conn));
			return;
		}
		if (stmt->off == stmt->len) {
			if ((rc = PQputCopyEnd(db->conn, NULL)) == 0)
				break;
			if (rc == -1) {
				db_lost(db, PQerrorMessage(db->conn));
				return;
			}

			/*
			 * A server that rejected a row sent its error and
			 * ReadyForQuery at once and ignores the rest; libpq may
			 * have read them already, so look for results now.
			 */
			db_set_state(db, DB_STATE_SENDING);
			db_flush(db);
			if (db->state == DB_STATE_READING)
				db_collect(db);
			return;
		}
		n = stmt->len - stmt->off;
		if (n > DB_COPY_CHUNK)
			n = DB_COPY_CHUNK;
		if ((rc = PQputCopyData(db->conn, stmt->data + stmt->off,
			 (int)n)) == 0)
			break;
		if (rc == -1) {
			db_lost(db, PQerrorMessage(db->conn));
			return;
		}
		stmt->off += n;
	}
	if (event_add(db->ev_write, NULL) == -1)
		db_lost(db, "cannot watch the socket");
}

/* Sends the statement at the head of the queue if the connection is free. */
static void
db_send_next(struct db *db)
{
	struct db_stmt *stmt;
	PGresult *res;
	char buf[DB_MSG_MAX];
	int ok;

	while (db->state == DB_STATE_IDLE && db->inflight == NULL &&
	    (stmt = TAILQ_FIRST(&db->queue)) != NULL) {
		/* Owner statements wait until the channels are subscribed. */
		if (!db->ready && stmt->kind == DB_STMT_USER)
			return;
		TAILQ_REMOVE(&db->queue, stmt, entry);
		db->inflight = stmt;
		stmt->copy_in = 0;
		stmt->off = 0;
		if (stmt->kind == DB_STMT_USER && !stmt->copy)
			ok = PQsendQueryParams(db->conn, stmt->sql,
			    stmt->nparams, NULL,
			    (const char *const *)stmt->params, NULL, NULL, 0);
		else
			ok = PQsendQuery(db->conn, stmt->sql);
		if (ok) {
			db_set_state(db, DB_STATE_SENDING);
			db_flush(db);
			return;
		}
		if (PQstatus(db->conn) == CONNECTION_BAD) {
			db_lost(db, PQerrorMessage(db->conn));
			return;
		}

		/* libpq refused this statement itself (too many parameters). */
		log_warnx("database %s: cannot send statement: %s", db->name,
		    db_first_line(PQerrorMessage(db->conn), buf, sizeof(buf)));
		db->inflight = NULL;
		res = PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
		db_stmt_done(db, stmt, res);
		PQclear(res);
	}
}

/* Delivers every notification libpq has parsed. */
static void
db_notifies(struct db *db)
{
	PGnotify *n;

	/* A callback may lose the connection (a failed send). */
	while (db->conn != NULL && (n = PQnotifies(db->conn)) != NULL) {
		log_debug("database %s: notification on %s", db->name,
		    n->relname);
		if (db->notify_cb != NULL) {
			db->in_cb++;
			db->notify_cb(db, n->relname, n->extra, db->notify_arg);
			db->in_cb--;
		}
		PQfreemem(n);
	}
}

/*
 * Collects the results of the statement in flight, keeping the last one.
 * When they are complete, the statement is done unless the connection died
 * on the way, which is a loss however the statement ended.
 */
static void
db_collect(struct db *db)
{
	struct db_stmt *stmt;
	PGresult *res;

	while (!PQisBusy(db->conn)) {
		if ((res = PQgetResult(db->conn)) == NULL)
			break;
		if (PQresultStatus(res) == PGRES_COPY_IN &&
		    db->inflight->copy) {
			PQclear(res);
			db->inflight->copy_in = 1;
			db_set_state(db, DB_STATE_COPYING);
			db_copy_put(db);
			return;
		}
		switch (PQresultStatus(res)) {
		case PGRES_COPY_IN:
		case PGRES_COPY_OUT:
		case PGRES_COPY_BOTH:
			/* Only a reset gets libpq out of a COPY not ours. */
			PQclear(res);
			db->inflight->flags &= ~DB_RETRY;
			db_lost(db,
			    "statement started a COPY, which is not "
			    "supported");
			return;
		case PGRES_FATAL_ERROR:
			db_note_fatal(db, res);
			break;
		default:
			break;
		}
		if (db->last_res != NULL)
			PQclear(db->last_res);
		db->last_res = res;
	}
	if (PQisBusy(db->conn))
		return;
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		db_lost(db, PQerrorMessage(db->conn));
		return;
	}

	stmt = db->inflight;
	res = db->last_res;
	db->inflight = NULL;
	db->last_res = NULL;

	/* Its rows were never sent: that must not look like success. */
	if (stmt->copy && !stmt->copy_in && db_result_ok(res)) {
		log_warnx("database %s: statement given to db_copy is not a "
			  "COPY FROM STDIN",
		    db->name);
		PQclear(res);
		res = PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
	}
	db_set_state(db, DB_STATE_IDLE);
	db_stmt_done(db, stmt, res);
	PQclear(res);
	db_send_next(db);
}

/* The socket is readable: results, notifications, or the end of it. */
static void
db_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;

	(void)fd;
	(void)what;
	if (!PQconsumeInput(db->conn)) {
		db_lost(db, PQerrorMessage(db->conn));
		return;
	}
	db_notifies(db);
	switch (db->state) {
	case DB_STATE_SENDING:
		/* libpq: after reading, try the flush again. */
		db_flush(db);
		if (db->state == DB_STATE_READING)
			db_collect(db);
		break;
	case DB_STATE_READING:
		db_collect(db);
		break;
	case DB_STATE_COPYING:
		/* libpq: after reading, try the flush again. */
		db_copy_put(db);
		break;
	case DB_STATE_IDLE:
		if (PQstatus(db->conn) == CONNECTION_BAD) {
			db_lost(db, PQerrorMessage(db->conn));
			return;
		}
		break;
	default:
		return;
	}

	/*
	 * PQgetResult parses what PQconsumeInput left, which can hold a
	 * notification that came after the result; the socket will not wake
	 * us for it, so deliver it now.
	 */
	db_notifies(db);
}

/* The socket is writable again: push out the rest of the statement. */
static void
db_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;

	(void)fd;
	(void)what;
	if (db->state == DB_STATE_SENDING) {
		/*
		 * A server that rejected a COPY row has sent its whole answer
		 * before the end of the rows, and libpq may have read it while
		 * flushing; the socket will not wake us for it.
		 */
		db_flush(db);
		if (db->state == DB_STATE_READING)
			db_collect(db);
	} else if (db->state == DB_STATE_COPYING)
		db_copy_put(db);
}

/*
 * Returns a db that connects with conninfo (NULL or "" for libpq's PG*
 * environment variables) once started; name is for logs.  A connection
 * string libpq cannot parse fails every attempt like an unreachable server.
 */
struct db *
db_new(struct event_base *base, const char *conninfo, const char *name)
{
	struct db *db;

	if (name == NULL)
		name = "postgresql";
	if (conninfo == NULL)
		conninfo = "";
	db = xcalloc(1, sizeof(*db));
	db->base = base;
	db->conninfo = xstrdup(conninfo);
	db->name = xstrdup(name);
	db->state = DB_STATE_NEW;
	db->backoff_min = DB_BACKOFF_MIN_MS;
	db->backoff_max = DB_BACKOFF_MAX_MS;
	db->backoff = DB_BACKOFF_MIN_MS;
	TAILQ_INIT(&db->queue);
	db->ev_timeout = evtimer_new(base, db_connect_timeout_cb, db);
	db->ev_retry = evtimer_new(base, db_retry_cb, db);
	if (db->ev_timeout == NULL || db->ev_retry == NULL)
		fatalx("database %s: cannot create timers", name);
	return db;
}

/*
 * Closes the connection and calls the callback of every statement not yet
 * done with NULL, so that owners can free their arguments.  No callback runs
 * afterwards.  A callback must not free its own db.
 */
void
db_free(struct db *db)
{
	struct db_stmt *stmt;

	if (db == NULL)
		return;
	if (db->in_cb)
		fatalx("database %s: db_free called from a db callback",
		    db->name);
	if ((stmt = db->inflight) != NULL) {
		db->inflight = NULL;
		TAILQ_INSERT_HEAD(&db->queue, stmt, entry);
	}
	db_close(db);
	evtimer_del(db->ev_retry);
	db_set_state(db, DB_STATE_CLOSED);
	while ((stmt = TAILQ_FIRST(&db->queue)) != NULL) {
		TAILQ_REMOVE(&db->queue, stmt, entry);
		if (stmt->kind == DB_STMT_USER)
			db_stmt_done(db, stmt, NULL);
		else
			db_stmt_free(stmt);
	}
	event_free(db->ev_timeout);
	event_free(db->ev_retry);
	for (size_t i = 0; i < db->nchannels; i++)
		free(db->channels[i]);
	free(db->channels);
	free(db->conninfo);
	free(db->name);
	free(db);
}

/* Sets the function called after each (re)connect. */
void
db_set_connect_cb(struct db *db, db_connect_cb cb, void *arg)
{
	db->connect_cb = cb;
	db->connect_arg = arg;
}

/* Sets the function that receives notifications on the LISTEN channels. */
void
db_set_notify_cb(struct db *db, db_notify_cb cb, void *arg)
{
	db->notify_cb = cb;
	db->notify_arg = arg;
}

/* Sets the reconnect delays: the first is min_ms, doubling up to max_ms. */
void
db_set_backoff(struct db *db, uint64_t min_ms, uint64_t max_ms)
{
	if (min_ms == 0)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	db->backoff_min = min_ms;
	db->backoff_max = max_ms;
	db->backoff = min_ms;
}

/*
 * Subscribes to a channel, now if connected and again after every
 * reconnect.  The name is quoted, so any text is a valid channel.
 */
void
db_listen(struct db *db, const char *channel)
{
	char *sql;

	for (size_t i = 0; i < db->nchannels; i++)
		if (strcmp(db->channels[i], channel) == 0)
			return;
	db->channels = xreallocarray(db->channels, db->nchannels + 1,
	    sizeof(*db->channels));
	db->channels[db->nchannels++] = xstrdup(channel);
	if (!db_is_up(db))
		return;
	if ((sql = db_listen_sql(db, channel)) == NULL)
		return;
	db_queue_internal(db, DB_STMT_LISTEN, sql, 0);
	db_send_next(db);
}

/* Starts connecting; later calls do nothing. */
void
db_start(struct db *db)
{
	if (db->state != DB_STATE_NEW)
		return;
	db_connect(db);
}

/* Queues an owner's statement behind the others; it takes ownership. */
static void
db_queue_user(struct db *db, struct db_stmt *stmt)
{
	db->npending++;

	/* Queued from a callback during db_free: it can never run. */
	if (db->state == DB_STATE_CLOSED) {
		db_stmt_done(db, stmt, NULL);
		return;
	}
	TAILQ_INSERT_TAIL(&db->queue, stmt, entry);
	db_send_next(db);
}

/*
 * Queues a statement with text parameters (a NULL parameter is SQL NULL)
 * and text results; sql and params are copied.  cb (which may be NULL) is
 * called once with the outcome, see db_result_cb.  Statements run one at a
 * time in the order queued.
 */
void
db_query(struct db *db, const char *sql, int nparams, const char *const *params,
    int flags, db_result_cb cb, void *arg)
{
	struct db_stmt *stmt = xcalloc(1, sizeof(*stmt));

	stmt->kind = DB_STMT_USER;
	stmt->sql = xstrdup(sql);
	stmt->nparams = nparams;
	stmt->flags = flags & DB_RETRY;
	stmt->cb = cb;
	stmt->arg = arg;
	if (nparams > 0) {
		stmt->params = xcalloc((size_t)nparams, sizeof(*stmt->params));
		for (int i = 0; i < nparams; i++)
			if (params[i] != NULL)
				stmt->params[i] = xstrdup(params[i]);
	}
	db_queue_user(db, stmt);
}

/*
 * Queues a COPY ... FROM STDIN (copy_sql, without parameters) that is fed
 * the len bytes of rows in data (NULL if len is 0); both are copied.  It
 * takes its turn in the queue like db_query, and cb gets the COPY's final
 * result, see db_result_cb.  A statement that succeeds without asking for
 * the rows is no COPY FROM STDIN: cb gets a PGRES_FATAL_ERROR result.
 */
void
db_copy(struct db *db, const char *copy_sql, const char *data, size_t len,
    int flags, db_result_cb cb, void *arg)
{
	struct db_stmt *stmt = xcalloc(1, sizeof(*stmt));

	stmt->kind = DB_STMT_USER;
	stmt->sql = xstrdup(copy_sql);
	stmt->copy = 1;
	stmt->data = xmalloc(len);
	if (len > 0)
		memcpy(stmt->data, data, len);
	stmt->len = len;
	stmt->flags = flags & DB_RETRY;
	stmt->cb = cb;
	stmt->arg = arg;
	db_queue_user(db, stmt);
}

/*
 * Escapes src as one field of COPY text format (backslash, tab, newline and
 * carriage return become \\, \t, \n and \r) into dst, snprintf-style: at
 * most dstlen bytes are written, NUL-terminated when dstlen > 0, and an
 * escape is never cut in half.  Returns the length the whole field needs,
 * without the NUL, so a result >= dstlen means dst was too short.  The
 * bytes are not checked: invalid UTF-8 is the caller's problem.
 */
size_t
db_copy_escape(char *dst, size_t dstlen, const char *src)
{
	size_t need = 0, used = 0, n;
	char esc;

	for (; *src != '\0'; src++) {
		switch (*src) {
		case '\\':
			esc = '\\';
			break;
		case '\t':
			esc = 't';
			break;
		case '\n':
			esc = 'n';
			break;
		case '\r':
			esc = 'r';
			break;
		default:
			esc = '\0';
			break;
		}
		n = esc != '\0' ? 2 : 1;

		/* Once something did not fit, nothing after it is written. */
		if (used == need && need + n < dstlen) {
			if (esc != '\0') {
				dst[used++] = '\\';
				dst[used++] = esc;
			} else
				dst[used++] = *src;
		}
		need += n;
	}
	if (dstlen > 0)
		dst[used] = '\0';
	return need;
}

/* Returns the number of statements queued or in flight. */
size_t
db_pending(const struct db *db)
{
	return db->npending;
}

/*
 * Returns 1 from just before the connect callback runs until the connection
 * is lost, else 0.
 */
int
db_connected(const struct db *db)
{
	return db->ready;
}

/* Returns the name given to db_new, for logs. */
const char *
db_name(const struct db *db)
{
	return db->name;
}

/* Returns 1 if res is a successful command or query result, else 0. */
int
db_result_ok(const PGresult *res)
{
	if (res == NULL)
		return 0;
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		return 1;
	default:
		return 0;
	}
}
