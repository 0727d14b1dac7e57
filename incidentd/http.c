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

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

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
http_ack_show_cb(struct db *db, const PGresult *res, void *arg)
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
http_ack_apply_cb(struct db *db, const PGresult *res, void *arg)
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
		    3, params, 0, http_ack_apply_cb, pg);
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
	    2, params, DB_RETRY, http_ack_show_cb, pg);
}

/* The console's file types; anything else is not served. */
static const char *
http_static_type(const char *name)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]);
	     i++)
		if (strcmp(dot, types[i][0]) == 0)
			return types[i][1];
	return NULL;
}

/*
 * GET / and /static/<name>: the console's files from http.web_root.  A
 * name is one plain path segment, so nothing outside the directory can be
 * asked for.  The page runs its own scripts only (CSP) and may not be
 * framed.
 */
static void
http_static(struct incidentd *idd, struct evhttp_request *req, const char *path)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *name = strcmp(path, "/") == 0 ? "index.html" : path + 8;
	const char *type = http_static_type(name);
	char *file;
	struct stat st;
	int fd;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		http_message(req, 405, MAIL_LANG_EN, "Method Not Allowed",
		    "Only GET here.");
		return;
	}
	if (type == NULL || *name == '.' || strlen(name) > 64 ||
	    strspn(name,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789._-") != strlen(name) ||
	    idd->conf->http.web_root == NULL) {
		http_message(req, 404, MAIL_LANG_EN, "Not Found",
		    "Nothing here.");
		return;
	}
	file = xasprintf("%s/%s", idd->conf->http.web_root, name);
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > 4 * 1024 * 1024) {
		if (fd != -1)
			close(fd);
		else if (strcmp(name, "index.html") == 0)
			log_warn("http: the console's %s", file);
		free(file);
		http_message(req, 404, MAIL_LANG_EN, "Not Found",
		    strcmp(name, "index.html") == 0 ?
			"The console is not installed here (http.web_root)." :
			"Nothing here.");
		return;
	}
	free(file);
	/* the buffer owns fd from here, even when it fails */
	if (evbuffer_add_file(evhttp_request_get_output_buffer(req), fd, 0,
		st.st_size) == -1) {
		http_message(req, 500, MAIL_LANG_EN, "Internal Server Error",
		    "The file could not be read.");
		return;
	}
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "same-origin");
	evhttp_add_header(h, "Content-Security-Policy",
	    "default-src 'self'; img-src 'self' data:; object-src 'none'; "
	    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
	httpd_reply(req, 200, type);
}

/* Every request: /a/<token>, /api/, the console, or nothing. */
static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct incidentd *idd = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	if (idd->tls != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Strict-Transport-Security", "max-age=31536000");
	if (path != NULL &&
	    (strcmp(path, "/") == 0 || strncmp(path, "/static/", 8) == 0)) {
		http_static(idd, req, path);
		return;
	}

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

/* Each connection of the HTTPS listener: TLS on its socket. */
static struct bufferevent *
http_tls_bev_cb(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* The TLS context of http.tls_cert and tls_key, or NULL after a log line. */
static SSL_CTX *
http_tls_new(const struct http_conf *hc)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char err[256];

	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, hc->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, hc->tls_key, SSL_FILETYPE_PEM) !=
		1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		log_warnx("http: cannot use %s and %s for TLS: %s",
		    hc->tls_cert, hc->tls_key, err);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	return ctx;
}

/* Starts the listener when the configuration has one; -1 if it fails. */
int
http_start(struct incidentd *idd)
{
	static const struct httpd_limits lim = { HTTP_MAX_HEADERS,
		HTTP_MAX_BODY, HTTP_TIMEOUT_S };
	const struct http_conf *hc = &idd->conf->http;

	if (idd->conf->ack.listen == NULL)
		return 0;
	if (hc->tls_cert != NULL && (idd->tls = http_tls_new(hc)) == NULL)
		return -1;
	idd->httpd = httpd_new(idd->base, idd->conf->ack.listen,
	    idd->tls != NULL ? "https" : "http", &lim, http_request_cb, idd);
	if (idd->httpd == NULL)
		return -1;
	if (idd->tls != NULL)
		evhttp_set_bevcb(httpd_evhttp(idd->httpd), http_tls_bev_cb,
		    idd->tls);
	return 0;
}

/* Closes the listener and its connections. */
void
http_stop(struct incidentd *idd)
{
	httpd_free(idd->httpd);
	idd->httpd = NULL;
	SSL_CTX_free(idd->tls);
	idd->tls = NULL;
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
