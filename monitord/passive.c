/*
 * Passive checks: results that batch jobs, backups and scripts submit
 * themselves, by HTTP on monitord's metrics listener:
 *
 *	POST /api/v1/results
 *	Authorization: Bearer <the check's token>
 *	{"host": "zaimu-db01", "check": "nightly-backup", "status": 0,
 *	 "output": "BACKUP OK - 12 GB in 41 min | size=12GB"}
 *
 * status is 0-3 or OK/WARNING/CRITICAL/UNKNOWN; output is read like a
 * plugin's (summary, long output, performance data).  A check with a
 * heartbeat that gets no result for that long goes to heartbeat_state
 * (CRITICAL): the dead man's switch of a job that silently stopped.
 */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "monitord.h"
#include "timeutil.h"

/* Whether two strings are equal, in time that depends on b's length. */
static int
passive_token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < lb; i++)
		d |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
	return d == 0;
}

/*
 * Reads a submitted result.  Returns 0, or -1 with why in err.  The
 * strings point into the decoded JSON, which *root owns.
 */
int
passive_parse(const char *body, size_t len, struct passive_req *req, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t *root, *st, *out;
	const char *s;
	static const char *const names[] = { "OK", "WARNING", "CRITICAL",
		"UNKNOWN" };

	memset(req, 0, sizeof(*req));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		snprintf(err, errlen, "not JSON: %s (at %d:%d)", je.text,
		    je.line, je.column);
		return -1;
	}
	req->root = root;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return -1;
	}
	req->host = json_string_value(json_object_get(root, "host"));
	req->check = json_string_value(json_object_get(root, "check"));
	if (req->host == NULL || req->check == NULL) {
		snprintf(err, errlen,
		    "'host' and 'check' are required strings");
		return -1;
	}
	st = json_object_get(root, "status");
	req->status = -1;
	if (json_is_integer(st) && json_integer_value(st) >= 0 &&
	    json_integer_value(st) <= 3)
		req->status = (int)json_integer_value(st);
	else if ((s = json_string_value(st)) != NULL) {
		for (int i = 0; i < 4; i++)
			if (strcasecmp(s, names[i]) == 0)
				req->status = i;
	}
	if (req->status == -1) {
		snprintf(err, errlen,
		    "'status' must be 0-3 or OK, WARNING, "
		    "CRITICAL, UNKNOWN");
		return -1;
	}
	out = json_object_get(root, "output");
	if (out != NULL && !json_is_string(out)) {
		snprintf(err, errlen, "'output' must be a string");
		return -1;
	}
	req->output = out != NULL ? json_string_value(out) : "";
	req->output_len = out != NULL ? json_string_length(out) : 0;
	if (req->output_len > PLUGIN_OUTPUT_MAX) {
		snprintf(err, errlen, "'output' is longer than %d bytes",
		    PLUGIN_OUTPUT_MAX);
		return -1;
	}
	return 0;
}

void
passive_req_free(struct passive_req *req)
{
	if (req->root != NULL)
		json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

/* The passive check host/name, or NULL. */
static struct mon_check *
passive_find(struct monitord *md, const char *host, const char *name)
{
	for (size_t i = 0; i < md->conf->nchecks; i++) {
		struct mon_check *c = md->conf->checks[i];

		if (strcmp(c->name, name) == 0 &&
		    strcmp(c->host->name, host) == 0)
			return c;
	}
	return NULL;
}

/* Answers with a JSON object {"error": why} or {"state": ...}. */
static void
passive_reply(struct evhttp_request *req, int code, const char *key,
    const char *value)
{
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	json_t *o = json_pack("{s:s}", key, value);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	evbuffer_add_printf(body, "%s\n", text != NULL ? text : "{}");
	free(text);
	json_decref(o);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, code, NULL, NULL);
}

/*
 * GET /api/v1/checks[?host=NAME]: every check's latest result as monitord
 * holds it (soft states, attempts and flapping included), one JSON array.
 */
void
passive_checks_json(struct monitord *md, struct evhttp_request *req)
{
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq args;
	const char *host = NULL;
	int first = 1;

	TAILQ_INIT(&args);
	if (query != NULL && evhttp_parse_query_str(query, &args) == 0)
		host = evhttp_find_header(&args, "host");
	evbuffer_add(body, "[", 1);
	for (size_t i = 0; i < md->conf->nchecks; i++) {
		const struct mon_check *c = md->conf->checks[i];
		const struct mon_host *h = c->host;

		if (host != NULL && strcmp(host, h->name) != 0)
			continue;
		evbuffer_add_printf(body, "%s\n{\"host\":", first ? "" : ",");
		first = 0;
		json_out_string(body, h->name);
		evbuffer_add(body, ",\"check\":", 9);
		json_out_string(body, c->name);
		evbuffer_add_printf(body,
		    ",\"kind\":\"%s\",\"segment\":\"%s\",\"state\":\"%s\","
		    "\"state_type\":\"%s\",\"attempt\":%u,"
		    "\"max_attempts\":%u,\"hard_state\":\"%s\","
		    "\"flapping\":%s,\"flap_percent\":%.1f,"
		    "\"host_check\":%s,\"host_state\":\"%s\","
		    "\"last_result\":%lld,\"output\":",
		    check_kind_str(c->kind), segment_str(h->segment),
		    check_state_status_str(c->state.status),
		    check_state_type_str(c->state.type), c->state.attempt,
		    c->max_attempts,
		    check_state_status_str(c->state.hard_status),
		    c->flapping ? "true" : "false", c->flap_pct,
		    c == h->host_check ? "true" : "false",
		    topo_host_state_str(h->state), (long long)c->last_result);
		json_out_string(body,
		    c->last_output != NULL ? c->last_output : "");
		if (c->suppressed_by != NULL) {
			evbuffer_add(body, ",\"root_cause\":", 14);
			json_out_string(body, c->suppressed_by);
		}
		evbuffer_add(body, "}", 1);
	}
	evbuffer_add(body, "\n]\n", 3);
	evhttp_clear_headers(&args);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_send_reply(req, HTTP_OK, NULL, NULL);
}

/* POST /api/v1/results */
void
passive_handle(struct monitord *md, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *auth =
	    evhttp_find_header(evhttp_request_get_input_headers(req),
		"Authorization");
	struct passive_req pr;
	struct mon_check *c;
	char err[256];
	size_t len = evbuffer_get_length(in);
	char *body;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		passive_reply(req, HTTP_BADMETHOD, "error", "use POST");
		return;
	}
	body = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
	if (passive_parse(body != NULL ? body : "", len, &pr, err,
		sizeof(err)) == -1) {
		passive_req_free(&pr);
		passive_reply(req, HTTP_BADREQUEST, "error", err);
		return;
	}
	c = passive_find(md, pr.host, pr.check);
	if (c == NULL || c->kind != CHECK_KIND_PASSIVE) {
		snprintf(err, sizeof(err), "no passive check '%s' on host '%s'",
		    pr.check, pr.host);
		passive_req_free(&pr);
		passive_reply(req, HTTP_NOTFOUND, "error", err);
		return;
	}
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
	    !passive_token_eq(auth + 7, c->passive.token)) {
		md->stats.passive_refused++;
		log_info("passive: a result for %s %s with a wrong or no token",
		    pr.host, pr.check);
		passive_req_free(&pr);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer");
		passive_reply(req, 401, "error",
		    "a wrong or missing token (Authorization: Bearer ...)");
		return;
	}
	md->stats.passive_accepted++;
	check_passive_result(c, (enum check_status)pr.status, pr.output,
	    pr.output_len);
	passive_reply(req, 202, "state",
	    check_state_status_str(c->state.status));
	passive_req_free(&pr);
}
