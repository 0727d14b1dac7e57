/*
 * incidentd's HTTP side: the console's API (api.c) and the one-time
 * acknowledgement links that mail and SMS carry.  GET /a/<token> shows the
 * incident and a button, because mail scanners and link previews fetch links by
 * themselves and must not acknowledge anything; POST /a/<token> acknowledges,
 * once per link, as the contact the message went to.  It listens on loopback
 * only: staff reach it through the department's reverse proxy (ack.url), which
 * holds the certificate.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "db.h"
#include "httpd.h"
#include "incidentd.h"
#include "xmalloc.h"

#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY 65536 /* the API's JSON; pages take none */
#define HTTP_TIMEOUT_S 10

/*
 * A request waiting for the database.  It is answered whatever happens:
 * if the client left meanwhile, evhttp has detached the request from its
 * connection and frees it when it is answered.
 */
struct ack_page {
	struct incidentd *idd;
	struct evhttp_request *req;
	enum mail_lang lang;
};

/* Writes s into buf with &, <, >, " and ' escaped. */
static void
http_html(struct evbuffer *buf, const char *s)
{
	for (; s != NULL && *s; s++) {
		switch (*s) {
		case '&':
			evbuffer_add(buf, "&amp;", 5);
			break;
		case '<':
			evbuffer_add(buf, "&lt;", 4);
			break;
		case '>':
			evbuffer_add(buf, "&gt;", 4);
			break;
		case '"':
			evbuffer_add(buf, "&quot;", 6);
			break;
		case '\'':
			evbuffer_add(buf, "&#39;", 5);
			break;
		default:
			evbuffer_add(buf, s, 1);
		}
	}
}

/* The start of a page; the title is escaped. */
static void
http_page_head(struct evbuffer *buf, enum mail_lang lang, const char *title)
{
	evbuffer_add_printf(buf,
	    "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<meta name=\"robots\" content=\"noindex\"><title>",
	    lang == MAIL_LANG_JA ? "ja" : "en");
	http_html(buf, title);
	evbuffer_add_printf(buf,
	    "</title><style>body{font-family:sans-serif;margin:1.5em;"
	    "max-width:40em}dt{font-weight:bold}button{font-size:1.3em;"
	    "padding:.5em 2em}</style></head><body><h1>");
	http_html(buf, title);
	evbuffer_add_printf(buf, "</h1>\n");
}

/* Sends a page with the headers every page of ours carries. */
static void
http_send(struct evhttp_request *req, int code)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evbuffer_add_printf(evhttp_request_get_output_buffer(req),
	    "</body></html>\n");
	/* the token is in the URL: no referrer, no framing, no scripts */
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; "
	    "form-action 'self'");
	httpd_reply(req, code, "text/html; charset=utf-8");
}

/* A page that only says something. */
static void
http_message(struct evhttp_request *req, int code, enum mail_lang lang,
    const char *title, const char *text)
{
	struct evbuffer *buf = evhttp_request_get_output_buffer(req);

	http_page_head(buf, lang, title);
	evbuffer_add_printf(buf, "<p>");
	http_html(buf, text);
	evbuffer_add_printf(buf, "</p>\n");
	http_send(req, code);
}

/* One row of the incident as a definition list entry. */
static void
http_field(struct evbuffer *buf, const char *name, const char *value)
{
	evbuffer_add_printf(buf, "<dt>");
	http_html(buf, name);
	evbuffer_add_printf(buf, "</dt><dd>");
	http_html(buf, value);
	evbuffer_add_printf(buf, "</dd>\n");
}

/* GET: the incident, and the button if the link is still unused. */
static void
ack_show_cb(struct db *db, const PGresult *res, void *arg)
{
	struct ack_page *pg = arg;
	struct evhttp_request *req = pg->req;
	struct evbuffer *buf;
	enum mail_lang lang;
	int ja;

	(void)db;
	if (res == NULL || !db_result_ok(res)) {
		if (res != NULL)
			log_warnx("http: ack page: %s",
			    PQresultErrorMessage(res));
		http_message(req, 503, pg->lang, "Service Unavailable",
		    "The database did not answer. Try again in a moment.");
		free(pg);
		return;
	}
	if (PQntuples(res) != 1) {
		http_message(req, 404, pg->lang, "Not Found",
		    "This link is not valid.");
		free(pg);
		return;
	}
	lang = strcmp(PQgetvalue(res, 0, 9), "en") == 0 ? MAIL_LANG_EN :
							  MAIL_LANG_JA;
	ja = lang == MAIL_LANG_JA;
	buf = evhttp_request_get_output_buffer(req);
	http_page_head(buf, lang,
	    ja ? "障害の受付" : "Acknowledge an incident");
	evbuffer_add_printf(buf, "<dl>\n");
	http_field(buf, ja ? "インシデント番号" : "Incident",
	    PQgetvalue(res, 0, 0));
	http_field(buf, ja ? "ホスト" : "Host", PQgetvalue(res, 0, 1));
	http_field(buf, ja ? "監視項目" : "Check", PQgetvalue(res, 0, 2));
	http_field(buf, ja ? "状態" : "State", PQgetvalue(res, 0, 3));
	http_field(buf, ja ? "宛先" : "Sent to", PQgetvalue(res, 0, 8));
	if (*PQgetvalue(res, 0, 6) != '\0') {
		char *who = xasprintf("%s (%s)", PQgetvalue(res, 0, 6),
		    PQgetvalue(res, 0, 7));

		http_field(buf, ja ? "受付済み" : "Acknowledged by", who);
		free(who);
	}
	evbuffer_add_printf(buf, "</dl>\n");
	if (!PQgetisnull(res, 0, 10)) {
		evbuffer_add_printf(buf, "<p>");
		http_html(buf,
		    ja ? "このリンクは使用済みです。" :
			 "This link has been used already.");
		evbuffer_add_printf(buf, "</p>\n");
	} else {
		evbuffer_add_printf(buf,
		    "<form method=\"post\"><button type=\"submit\">");
		http_html(buf, ja ? "受け付ける" : "Acknowledge");
		evbuffer_add_printf(buf, "</button></form>\n");
	}
	http_send(req, 200);
	free(pg);
}

/* POST: what incident_ack_link said. */
static void
ack_apply_cb(struct db *db, const PGresult *res, void *arg)
{
	struct ack_page *pg = arg;
	struct evhttp_request *req = pg->req;
	const char *outcome, *ref, *who, *when;
	char *text;
	int ja;

	(void)db;
	if (res == NULL || !db_result_ok(res) || PQntuples(res) != 1) {
		if (res != NULL && !db_result_ok(res))
			log_warnx("http: ack: %s", PQresultErrorMessage(res));
		http_message(req, 503, pg->lang, "Service Unavailable",
		    "The database did not answer. Open the link again to see "
		    "whether the incident was acknowledged.");
		free(pg);
		return;
	}
	outcome = PQgetvalue(res, 0, 0);
	ref = PQgetvalue(res, 0, 1);
	who = PQgetvalue(res, 0, 2);
	when = PQgetvalue(res, 0, 3);
	ja = strcmp(PQgetvalue(res, 0, 4), "en") != 0;
	if (strcmp(outcome, "acknowledged") == 0)
		text = xasprintf(ja ? "%s を受け付けました（%s）。" :
				      "%s is acknowledged (%s).",
		    ref, when);
	else if (strcmp(outcome, "already") == 0)
		text = xasprintf(ja ? "%s は %s が受付済みです（%s）。" :
				      "%s was acknowledged by %s already (%s).",
		    ref, who, when);
	else if (strcmp(outcome, "used") == 0)
		text = xasprintf(ja ? "このリンクは使用済みです。%s の受付: %s "
				      "（%s）" :
				      "This link has been used already. %s "
				      "acknowledged by %s (%s).",
		    ref, who, when);
	else if (strcmp(outcome, "missing") == 0)
		text = xstrdup(
		    ja ? "このリンクは無効です。" : "This link is not valid.");
	else
		text = xasprintf("%s", outcome);
	http_message(req,
	    strcmp(outcome, "missing") == 0	    ? 404 :
		strncmp(outcome, "refused", 7) == 0 ? 409 :
						      200,
	    ja ? MAIL_LANG_JA : MAIL_LANG_EN,
	    ja ? "障害の受付" : "Acknowledge an incident", text);
	free(text);
	free(pg);
}

/* /a/<token>: checks the token, then asks the database. */
static void
http_ack(struct incidentd *idd, struct evhttp_request *req, const char *token)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct inc_conf *conf = idd->conf;
	struct ack_page *pg;
	char id_s[32], tz[64];
	const char *params[3];
	uint64_t id;
	time_t exp;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD &&
	    cmd != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD, POST");
		http_message(req, 405, MAIL_LANG_JA, "Method Not Allowed",
		    "GET or POST only.");
		return;
	}
	switch (acklink_check(conf->ack.secret, token, time(NULL), &id, &exp)) {
	case ACK_OK:
		break;
	case ACK_EXPIRED:
		http_message(req, 410, MAIL_LANG_JA, "有効期限切れ / Expired",
		    "このリンクは有効期限が切れています。incidentctl ack "
		    "またはコンソールで受け付けてください。 / This link has "
		    "expired; acknowledge with incidentctl ack or the "
		    "console.");
		return;
	default:
		http_message(req, 404, MAIL_LANG_JA, "Not Found",
		    "このリンクは無効です。 / This link is not valid.");
		return;
	}
	if (!db_connected(idd->db)) {
		http_message(req, 503, MAIL_LANG_JA, "Service Unavailable",
		    "データベースに接続できません。しばらくしてから開き直して"
		    "ください。 / The database is unreachable; try again in a "
		    "moment.");
		return;
	}
	pg = xcalloc(1, sizeof(*pg));
	pg->idd = idd;
	pg->req = req;
	snprintf(id_s, sizeof(id_s), "%llu", (unsigned long long)id);
	snprintf(tz, sizeof(tz), "%s", conf->timezone);
	params[0] = id_s;
	if (cmd == EVHTTP_REQ_POST) {
		struct evhttp_connection *evcon =
		    evhttp_request_get_connection(req);
		char *peer = NULL;
		ev_uint16_t port = 0;

		if (evcon != NULL)
			evhttp_connection_get_peer(evcon, &peer, &port);
		params[1] = peer != NULL ? peer : "";
		params[2] = tz;
		/* not DB_RETRY: a second run would say "used" */
		db_query(idd->db, "SELECT * FROM incident_ack_link($1, $2, $3)",
		    3, params, 0, ack_apply_cb, pg);
		return;
	}
	params[1] = tz;
	db_query(idd->db,
	    "SELECT i.ref, i.host, i.check_name, i.severity, i.status, "
	    "i.phase, coalesce(i.acknowledged_by, ''), "
	    "coalesce(to_char(i.acknowledged_at AT TIME ZONE $2, "
	    "'YYYY-MM-DD HH24:MI'), ''), n.recipient_name, n.lang, "
	    "(SELECT u.used_at FROM ack_link_use u "
	    " WHERE u.notification_id = n.id) "
	    "FROM notification n JOIN incident i ON i.id = n.incident_id "
	    "WHERE n.id = $1::bigint",
	    2, params, DB_RETRY, ack_show_cb, pg);
}

/* Every request: /a/<token>, or nothing. */
static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct incidentd *idd = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	if (path != NULL && strncmp(path, "/a/", 3) == 0 &&
	    idd->conf->ack.secret != NULL) {
		http_ack(idd, req, path + 3);
		return;
	}
	if (path != NULL && strncmp(path, "/api/", 5) == 0) {
		api_handle(idd, req, path);
		return;
	}
	http_message(req, 404, MAIL_LANG_EN, "Not Found", "Nothing here.");
}

/* Starts the listener when the configuration has one; -1 if it fails. */
int
http_start(struct incidentd *idd)
{
	static const struct httpd_limits lim = { HTTP_MAX_HEADERS,
		HTTP_MAX_BODY, HTTP_TIMEOUT_S };

	if (idd->conf->ack.listen == NULL)
		return 0;
	idd->httpd = httpd_new(idd->base, idd->conf->ack.listen, "http", &lim,
	    http_request_cb, idd);
	return idd->httpd != NULL ? 0 : -1;
}

/*
 * The link for a notification row in a message, or NULL when links are
 * off or the row id is not a number.
 */
char *
http_ack_url(const struct inc_conf *conf, const char *row_id)
{
	char token[ACK_TOKEN_LEN + 1], *end;
	unsigned long long id;
	time_t exp;

	if (conf->ack.secret == NULL)
		return NULL;
	id = strtoull(row_id, &end, 10);
	if (*row_id == '\0' || *end != '\0')
		return NULL;
	exp = time(NULL) + (time_t)(conf->ack.valid_ms / 1000);
	if (acklink_make(conf->ack.secret, id, exp, token, sizeof(token)) == -1)
		return NULL;
	return xasprintf("%s/a/%s", conf->ack.url, token);
}
