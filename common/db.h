/*
 * An asynchronous PostgreSQL connection on libevent: non-blocking connect,
 * a queue of parameterised statements sent one at a time with
 * PQsendQueryParams, bulk loads with COPY FROM STDIN in the same queue,
 * reconnection with exponential backoff, and LISTEN channels that are
 * re-subscribed after every reconnect.  Nothing in here blocks the event
 * loop.
 *
 * Callbacks may queue more statements and register channels, but must never
 * call db_free on the db that called them (that is a fatal error).
 *
 * libpq resolves a host name in the connection string synchronously, so give
 * a numeric host (or hostaddr) or a Unix socket directory to keep the
 * connect from blocking on DNS.
 *
 * Each statement runs on whatever connection is current when it is sent.  A
 * reconnect ends any transaction an earlier statement opened, so keep a
 * transaction inside one statement (a CTE or an SQL function), and mark only
 * statements that are safe to run twice with DB_RETRY.
 *
 * db_copy sends a COPY table (columns) FROM STDIN and then its rows, as
 * they are: in COPY text format (fields separated by a tab, each row
 * ending in a newline, \N for SQL NULL, and every field escaped with
 * db_copy_escape), or whole binary COPY data for a statement that says
 * (FORMAT binary), as monitord's samples (metric_store.c).
 * The rows go out in 64 KiB chunks as the socket takes them, so a batch may
 * be large, but it is one transaction: one bad row (say, text in a double
 * precision column) fails the whole batch with the server's error result,
 * no row of it is stored, and the connection goes on.  A COPY marked
 * DB_RETRY whose connection breaks is sent again, whole, after the
 * reconnect.  Should the break come after the server committed the rows
 * but before its answer arrived, the batch is then stored twice.  A caller
 * that cannot accept that leaves DB_RETRY off and gets NULL, not knowing
 * whether the rows are in, or gives the table a unique key, so that the
 * second copy fails with a unique violation instead.  db_copy_escape does
 * not check the encoding: text that is not valid in the connection's
 * client_encoding (UTF-8 unless configured otherwise) fails the batch.
 */
#ifndef COMMON_DB_H
#define COMMON_DB_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

struct db;

/*
 * Called once per queued statement with the last result it produced, which
 * the db frees when the callback returns.  A statement the server rejects
 * gets its PGRES_FATAL_ERROR result and the connection goes on.  res is NULL
 * when the statement never completed: the db is being freed, or the
 * connection broke while it was in flight and it was not marked DB_RETRY.
 */
typedef void (*db_result_cb)(struct db *, const PGresult *, void *);

/* Called after each (re)connect, once the LISTEN channels are subscribed. */
typedef void (*db_connect_cb)(struct db *, void *);

/* Called with the channel and payload of every notification received. */
typedef void (*db_notify_cb)(struct db *, const char *, const char *, void *);

/* Statement flags. */
#define DB_RETRY 0x1 /* idempotent: resend after a reconnect */

/* db.c */
struct db *db_new(struct event_base *, const char *, const char *);
void db_free(struct db *);
void db_set_connect_cb(struct db *, db_connect_cb, void *);
void db_set_notify_cb(struct db *, db_notify_cb, void *);
void db_set_backoff(struct db *, uint64_t, uint64_t);
void db_listen(struct db *, const char *);
void db_start(struct db *);
void db_query(struct db *, const char *, int, const char *const *, int,
    db_result_cb, void *);
void db_copy(struct db *, const char *, const char *, size_t, int, db_result_cb,
    void *);
size_t db_copy_escape(char *, size_t, const char *);
size_t db_pending(const struct db *);
int db_connected(const struct db *);
const char *db_name(const struct db *);
int db_result_ok(const PGresult *);

#endif
