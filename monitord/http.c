/*
 * monitord's HTTP endpoint, on libevent's evhttp in the daemon's own event
 * loop: GET /metrics (metrics.c), GET /healthz (a short JSON object), and
 * the passive checks' POST /api/v1/results and GET /api/v1/checks
 * (passive.c).
 *
 * The listening socket is bound in http_new, before privileges are
 * dropped, and only a numeric address is accepted so that nothing
 * resolves names.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "db.h"
#include "httpd.h"
#include "monitord.h"
#include "xmalloc.h"

/* Small limits: a scrape is one short GET, anything more is hostile. */
#define HTTP_MAX_HEADERS 8192
#define HTTP_MAX_BODY 16384 /* a passive result */
#define HTTP_TIMEOUT_S 10

/* The endpoint: its HTTP server and the daemon it serves. */
struct mon_http {
	struct monitord *md;
	struct httpd *httpd;
};

/*
 * Appends the /healthz JSON object to buf and returns the HTTP status to
 * send.  A database outage is "degraded" but still 200: monitord keeps
 * probing and keeps the state changes queued until the database is back.
 */
int
http_healthz(struct monitord *md, struct evbuffer *buf)
{
	int up = md->db != NULL && db_connected(md->db);

	evbuffer_add_printf(buf,
	    "{\"status\":\"%s\",\"database\":\"%s\",\"checks\":%zu,"
	    "\"in_flight\":%" PRIu64 "}\n",
	    up ? "ok" : "degraded", up ? "connected" : "disconnected",
	    md->conf != NULL ? md->conf->nchecks : 0, md->stats.in_flight);
	return HTTP_OK;
}

/* Serves one request: /metrics and /healthz, GET and HEAD only. */
static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct mon_http *m = arg;
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int is_metrics, is_healthz;

	if (path == NULL)
		path = "";
	if (strcmp(path, "/api/v1/results") == 0) {
		passive_handle(m->md, req);
		return;
	}
	if (strcmp(path, "/api/v1/checks") == 0 && cmd == EVHTTP_REQ_GET) {
		passive_checks_json(m->md, req);
		return;
	}
	is_metrics = strcmp(path, "/metrics") == 0;
	is_healthz = strcmp(path, "/healthz") == 0;
	if (!is_metrics && !is_healthz) {
		evbuffer_add_printf(body, "not found\n");
		httpd_reply(req, HTTP_NOTFOUND, "text/plain");
	} else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		evbuffer_add_printf(body, "method not allowed\n");
		httpd_reply(req, HTTP_BADMETHOD, "text/plain");
	} else if (is_metrics) {
		metrics_render(m->md, body);
		httpd_reply(req, HTTP_OK, "text/plain; version=0.0.4");
	} else
		httpd_reply(req, http_healthz(m->md, body), "application/json");
}

/*
 * Binds the endpoint to listen ("127.0.0.1:9810", "[::1]:9810"; port 0
 * picks one) and serves it on md->base.  Returns NULL after logging when the
 * address is malformed, not numeric, or cannot be bound.
 */
struct mon_http *
http_new(struct monitord *md, const char *listen)
{
	static const struct httpd_limits lim = { HTTP_MAX_HEADERS,
		HTTP_MAX_BODY, HTTP_TIMEOUT_S };
	struct mon_http *m = xcalloc(1, sizeof(*m));

	m->md = md;
	if ((m->httpd = httpd_new(md->base, listen, "metrics", &lim,
		 http_request_cb, m)) == NULL) {
		free(m);
		return NULL;
	}
	md->start_time = time(NULL);
	return m;
}

/* Returns the port the endpoint listens on, useful after asking for 0. */
int
http_port(const struct mon_http *m)
{
	return httpd_port(m->httpd);
}

/*
 * Closes the endpoint and every connection it has open.  Not to be called
 * from inside a request callback.
 */
void
http_free(struct mon_http *m)
{
	if (m == NULL)
		return;
	httpd_free(m->httpd);
	free(m);
}
