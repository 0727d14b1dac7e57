/*
 * The console's JSON API.
 *
 *	POST /api/v1/login   {"user": "sato", "password": "..."}
 *	GET  /api/v1/me
 *	POST /api/v1/logout  (X-CSRF-Token: the token /login and /me gave)
 *	GET  /api/v1/sla?month=YYYY-MM[&service=S|&department=D|&provider=P]
 *	     [&version=N]
 *	and the routes of api_routes[]: the board, hosts, incidents and their
 *	moves, problems and maintenance windows, each one call of the
 *	database's api_call(), which decides who may see and do what.
 *
 * A session is 32 random bytes in an HttpOnly, SameSite=Strict cookie;
 * the database keeps only its SHA-256.  Every state-changing request must
 * echo the session's CSRF token in a header.  Errors are a status and
 * {"error": "..."}.  A wrong password and an unknown user get the same
 * answer after the same work; from the fifth failure in a row an account
 * is locked for a while (user_login_result), and logins as a whole are
 * rate-limited, since checking a password costs the event loop a few
 * milliseconds of yescrypt.
 */
#include "config.h"

#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "db.h"
#include "httpd.h"
#include "incidentd.h"
#include "xmalloc.h"

#define API_COOKIE "incidentd_session"
#define API_BODY_MAX 16384
#define API_LOGINS_PER_S 5 /* password checks per second, all users */

/* What a route does once the session is known. */
enum api_kind {
	API_LOGIN, /* no session yet */
	API_ME, /* the session's user */
	API_LOGOUT, /* ends the session */
	API_SLA, /* a month's report */
	API_READ, /* api_call(op), reading */
	API_CHANGE, /* api_call(op), with the CSRF token and a JSON body */
};

/*
 * The routes.  A path segment "{name}" matches any one segment, which
 * goes to api_call's arguments as name, with the query string's and the
 * body's fields.
 */
static const struct api_route {
	enum evhttp_cmd_type method;
	const char *path;
	enum api_kind kind;
	const char *op;
} api_routes[] = {
	{ EVHTTP_REQ_POST, "/api/v1/login", API_LOGIN, NULL },
	{ EVHTTP_REQ_POST, "/api/v1/logout", API_LOGOUT, NULL },
	{ EVHTTP_REQ_GET, "/api/v1/me", API_ME, NULL },
	{ EVHTTP_REQ_GET, "/api/v1/sla", API_SLA, NULL },
	{ EVHTTP_REQ_GET, "/api/v1/board", API_READ, "board" },
	{ EVHTTP_REQ_GET, "/api/v1/hosts/{host}", API_READ, "host" },
	{ EVHTTP_REQ_GET, "/api/v1/hosts/{host}/metrics", API_READ, "metrics" },
	{ EVHTTP_REQ_GET, "/api/v1/incidents", API_READ, "incidents" },
	{ EVHTTP_REQ_POST, "/api/v1/incidents", API_CHANGE, "open" },
	{ EVHTTP_REQ_GET, "/api/v1/incidents/{id}", API_READ, "incident" },
	{ EVHTTP_REQ_POST, "/api/v1/incidents/{id}/advance", API_CHANGE,
	    "advance" },
	{ EVHTTP_REQ_POST, "/api/v1/incidents/{id}/fields", API_CHANGE, "set" },
	{ EVHTTP_REQ_POST, "/api/v1/incidents/{id}/ack", API_CHANGE, "ack" },
	{ EVHTTP_REQ_POST, "/api/v1/incidents/{id}/assign", API_CHANGE,
	    "assign" },
	{ EVHTTP_REQ_POST, "/api/v1/incidents/{id}/notes", API_CHANGE, "note" },
	{ EVHTTP_REQ_POST, "/api/v1/incidents/{id}/pause", API_CHANGE,
	    "pause" },
	{ EVHTTP_REQ_POST, "/api/v1/incidents/{id}/resume", API_CHANGE,
	    "resume" },
	{ EVHTTP_REQ_GET, "/api/v1/problems", API_READ, "problems" },
	{ EVHTTP_REQ_POST, "/api/v1/problems", API_CHANGE, "problem_add" },
	{ EVHTTP_REQ_GET, "/api/v1/problems/{id}", API_READ, "problem" },
	{ EVHTTP_REQ_POST, "/api/v1/problems/{id}", API_CHANGE, "problem_set" },
	{ EVHTTP_REQ_GET, "/api/v1/maintenance", API_READ, "maintenance" },
	{ EVHTTP_REQ_POST, "/api/v1/maintenance", API_CHANGE, "maint_add" },
	{ EVHTTP_REQ_POST, "/api/v1/maintenance/cancel", API_CHANGE,
	    "maint_cancel" },
};

/* A request waiting for the database; answered whatever happens. */
struct api_req {
	struct incidentd *idd;
	struct evhttp_request *req;
	const struct api_route *route;
	json_t *args; /* the path's named segments, then the rest */
	char *user;
	char *password; /* cleared as soon as it is checked */
	char token[65], csrf[33];
	char remote[64];
};

/* Sends status and a JSON body (taken); adds the headers we always send. */
static void
api_reply(struct evhttp_request *req, int status, json_t *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char *s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

	if (s != NULL) {
		evbuffer_add(evhttp_request_get_output_buffer(req), s,
		    strlen(s));
		evbuffer_add(evhttp_request_get_output_buffer(req), "\n", 1);
	}
	free(s);
	json_decref(body);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	httpd_reply(req, status, "application/json; charset=utf-8");
}

static void
api_error(struct evhttp_request *req, int status, const char *msg)
{
	api_reply(req, status, json_pack("{s:s}", "error", msg));
}

static void
api_req_free(struct api_req *ar)
{
	if (ar->password != NULL) {
		explicit_bzero(ar->password, strlen(ar->password));
		free(ar->password);
	}
	free(ar->user);
	json_decref(ar->args);
	explicit_bzero(ar->token, sizeof(ar->token));
	free(ar);
}

/* n random bytes as hex into out (2n + 1 bytes); -1 if none to be had. */
static int
api_random_hex(char *out, size_t n)
{
	unsigned char buf[32];

	if (n > sizeof(buf) || getrandom(buf, n, 0) != (ssize_t)n)
		return -1;
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", buf[i]);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* The session token from the Cookie header, if it looks like one. */
static int
api_cookie_token(struct evhttp_request *req, char *out)
{
	const char *c =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
	const char *p;
	size_t n;

	for (p = c; p != NULL && (p = strstr(p, API_COOKIE "=")) != NULL;
	     p += strlen(API_COOKIE)) {
		if (p != c && p[-1] != ' ' && p[-1] != ';')
			continue;
		p += strlen(API_COOKIE) + 1;
		n = strspn(p, "0123456789abcdef");
		if (n != 64)
			return -1;
		memcpy(out, p, 64);
		out[64] = '\0';
		return 0;
	}
	return -1;
}

/*
 * Parses a request body of the given Content-Type (NULL: none) into a JSON
 * object.  Returns 0 with *out set, or the HTTP status to answer (400, 413,
 * 415) with the reason in why.  An empty body is {} when empty_ok.
 */
int
api_body_parse(const char *type, const char *data, size_t len, int empty_ok,
    json_t **out, char *why, size_t whylen)
{
	json_error_t je;
	json_t *j;

	*out = NULL;
	if (len > API_BODY_MAX) {
		snprintf(why, whylen, "the body is too large");
		return 413;
	}
	if (len == 0 && empty_ok) {
		*out = json_object();
		return 0;
	}
	if (type == NULL || strncmp(type, "application/json", 16) != 0) {
		snprintf(why, whylen,
		    "send JSON (Content-Type: application/json)");
		return 415;
	}
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL || !json_is_object(j)) {
		snprintf(why, whylen, "the body is not a JSON object%s%s",
		    j == NULL ? ": " : "", j == NULL ? je.text : "");
		json_decref(j);
		return 400;
	}
	*out = j;
	return 0;
}

/* The request's body as a JSON object, or NULL after a 4xx. */
static json_t *
api_body(struct evhttp_request *req, int empty_ok)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *type =
	    evhttp_find_header(evhttp_request_get_input_headers(req),
		"Content-Type");
	json_t *j;
	char msg[200];
	int status;

	status = api_body_parse(type,
	    len > API_BODY_MAX ?
		"" :
		(const char *)evbuffer_pullup(in, (ev_ssize_t)len),
	    len, empty_ok, &j, msg, sizeof(msg));
	if (status != 0) {
		api_error(req, status, msg);
		return NULL;
	}
	return j;
}

/* At most API_LOGINS_PER_S password checks in any second. */
static int
api_login_allowed(void)
{
	static time_t second;
	static int count;
	time_t now = time(NULL);

	if (now != second) {
		second = now;
		count = 0;
	}
	return ++count <= API_LOGINS_PER_S;
}

static void
api_login_done_cb(struct db *db, const PGresult *res, void *arg)
{
	struct api_req *ar = arg;
	struct evhttp_request *req = ar->req;
	const struct inc_conf *conf = ar->idd->conf;
	const char *outcome;
	char cookie[256], until[64];

	(void)db;
	if (res == NULL || !db_result_ok(res) || PQntuples(res) != 1) {
		if (res != NULL && !db_result_ok(res))
			log_warnx("api: login: %s", PQresultErrorMessage(res));
		api_error(req, 503, "the database did not answer");
		api_req_free(ar);
		return;
	}
	outcome = PQgetvalue(res, 0, 0);
	if (strcmp(outcome, "ok") == 0) {
		snprintf(cookie, sizeof(cookie),
		    API_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; "
			       "Max-Age=%llu%s",
		    ar->token,
		    (unsigned long long)(conf->http.session_idle_ms / 1000),
		    conf->http.secure_cookies ? "; Secure" : "");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Set-Cookie", cookie);
		log_info("api: %s logged in from %s", ar->user, ar->remote);
		api_reply(req, 200,
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", ar->user,
			"role", PQgetvalue(res, 0, 2), "display_name",
			PQgetvalue(res, 0, 3), "csrf", ar->csrf, "timezone",
			conf->timezone));
	} else if (strcmp(outcome, "locked") == 0) {
		snprintf(until, sizeof(until), "%.16s", PQgetvalue(res, 0, 1));
		log_notice("api: login as %s from %s refused: locked", ar->user,
		    ar->remote);
		api_reply(req, 429,
		    json_pack("{s:s, s:s}", "error",
			"too many failed logins; try again later", "until",
			until));
	} else {
		log_notice("api: login as %s from %s refused: %s", ar->user,
		    ar->remote, outcome);
		api_error(req, 401, "wrong user or password");
	}
	api_req_free(ar);
}

/* The stored hash came: check the password, then record the outcome. */
static void
api_login_hash_cb(struct db *db, const PGresult *res, void *arg)
{
	/* a hash of nothing anyone knows: the same work for an unknown
	 * user as for a known one */
	static char *dummy;
	struct api_req *ar = arg;
	const char *hash, *params[6];
	char idle[32], noise[33];
	int ok;

	(void)db;
	if (dummy == NULL && api_random_hex(noise, 16) == 0)
		dummy = passwd_hash(noise);
	hash = dummy != NULL ? dummy : "$";
	if (res == NULL || !db_result_ok(res)) {
		api_error(ar->req, 503, "the database did not answer");
		api_req_free(ar);
		return;
	}
	if (PQntuples(res) == 1)
		hash = PQgetvalue(res, 0, 0);
	ok = passwd_verify(ar->password, hash) && PQntuples(res) == 1;
	explicit_bzero(ar->password, strlen(ar->password));
	if (api_random_hex(ar->token, 32) == -1 ||
	    api_random_hex(ar->csrf, 16) == -1) {
		api_error(ar->req, 500, "no random bytes for a session");
		api_req_free(ar);
		return;
	}
	snprintf(idle, sizeof(idle), "%llu milliseconds",
	    (unsigned long long)ar->idd->conf->http.session_idle_ms);
	params[0] = ar->user;
	params[1] = ok ? "true" : "false";
	params[2] = ar->remote;
	params[3] = ar->token;
	params[4] = ar->csrf;
	params[5] = idle;
	db_query(ar->idd->db,
	    "SELECT outcome, until, role, display_name FROM "
	    "user_login_result($1, $2::boolean, $3, $4, $5, $6::interval)",
	    6, params, 0, api_login_done_cb, ar);
}

static struct api_req *
api_req_new(struct incidentd *idd, struct evhttp_request *req)
{
	struct api_req *ar = xcalloc(1, sizeof(*ar));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *peer = NULL;
	ev_uint16_t port = 0;

	ar->idd = idd;
	ar->req = req;
	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &peer, &port);
	snprintf(ar->remote, sizeof(ar->remote), "%s", peer ? peer : "");
	return ar;
}

static void
api_login(struct incidentd *idd, struct evhttp_request *req)
{
	json_t *body = api_body(req, 0);
	const char *user, *pw;
	const char *params[1];
	struct api_req *ar;

	if (body == NULL)
		return;
	user = json_string_value(json_object_get(body, "user"));
	pw = json_string_value(json_object_get(body, "password"));
	if (user == NULL || pw == NULL || *user == '\0' || strlen(user) > 64 ||
	    strlen(pw) > 1024) {
		json_decref(body);
		api_error(req, 400, "give user and password as strings");
		return;
	}
	if (!api_login_allowed()) {
		json_decref(body);
		api_error(req, 429, "too many logins at once; try again");
		return;
	}
	ar = api_req_new(idd, req);
	ar->user = xstrdup(user);
	ar->password = xstrdup(pw);
	json_decref(body);
	params[0] = ar->user;
	db_query(idd->db,
	    "SELECT password_hash FROM app_user WHERE name = $1 "
	    "AND disabled_at IS NULL",
	    1, params, DB_RETRY, api_login_hash_cb, ar);
}

/* The report's JSON, as sla_report() or a closed version has it. */
static void
api_sla_cb(struct db *db, const PGresult *res, void *arg)
{
	struct api_req *ar = arg;
	struct evhttp_request *req = ar->req;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	(void)db;
	if (res == NULL || !db_result_ok(res)) {
		if (res != NULL)
			log_warnx("api: sla: %s", PQresultErrorMessage(res));
		api_error(req, 503, "the database did not answer");
	} else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		api_error(req, 404, "no such closed version of that month");
	else {
		evbuffer_add(out, PQgetvalue(res, 0, 0),
		    (size_t)PQgetlength(res, 0, 0));
		api_reply(req, 200, NULL);
	}
	api_req_free(ar);
}

/*
 * GET /api/v1/sla: a month's report for any logged-in user; the
 * outsourcer's accounts see the OLAs only.
 */
static void
api_sla(struct api_req *ar, const char *role)
{
	struct evhttp_request *req = ar->req;
	const char *query =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq args;
	const char *month, *service, *dept, *prov, *version, *detail;
	const char *params[8];
	int filters;

	TAILQ_INIT(&args);
	if (query != NULL && evhttp_parse_query_str(query, &args) == -1) {
		api_error(req, 400, "a malformed query string");
		api_req_free(ar);
		return;
	}
	month = evhttp_find_header(&args, "month");
	service = evhttp_find_header(&args, "service");
	dept = evhttp_find_header(&args, "department");
	prov = evhttp_find_header(&args, "provider");
	version = evhttp_find_header(&args, "version");
	detail = evhttp_find_header(&args, "detail");
	filters = (service != NULL) + (dept != NULL) + (prov != NULL);
	if (month == NULL || strlen(month) != 7 ||
	    strspn(month, "0123456789") != 4 || month[4] != '-' ||
	    strspn(month + 5, "0123456789") != 2 || atoi(month + 5) < 1 ||
	    atoi(month + 5) > 12) {
		api_error(req, 400, "month=YYYY-MM is needed");
	} else if (filters > 1 || (version != NULL && filters > 0)) {
		api_error(req, 400,
		    "one of service, department and provider, "
		    "and none with version");
	} else if (version != NULL &&
	    (strspn(version, "0123456789") != strlen(version) ||
		*version == '\0' || strlen(version) > 9)) {
		api_error(req, 400, "version is a number");
	} else if (detail != NULL && strcmp(detail, "0") != 0 &&
	    strcmp(detail, "1") != 0) {
		api_error(req, 400, "detail is 0 or 1");
	} else if (strcmp(role, "outsourcer") == 0 &&
	    (version != NULL || dept != NULL)) {
		api_error(req, 403, "the outsourcer sees its OLAs only");
	} else {
		params[0] = month;
		params[1] = ar->idd->conf->timezone;
		params[2] = service;
		params[3] = dept;
		params[4] = prov;
		params[5] = version;
		params[6] = role;
		params[7] = detail != NULL && strcmp(detail, "0") == 0 ?
		    "false" :
		    "true";
		/* an outsourcer's view: the OLAs and nothing else */
		db_query(ar->idd->db,
		    "SELECT CASE WHEN $6::integer IS NOT NULL THEN "
		    " (SELECT report::text FROM sla_report_version "
		    "  WHERE month = $1 AND version = $6::integer) "
		    "ELSE (SELECT CASE WHEN $7 = 'outsourcer' THEN "
		    "  jsonb_set(jsonb_set(r, '{agreements}', coalesce((SELECT "
		    "  jsonb_agg(a) FROM jsonb_array_elements(r->'agreements') a "
		    "  WHERE a->>'kind' = 'ola'), '[]')), '{breaches}', "
		    "  coalesce((SELECT jsonb_agg(b) FROM "
		    "  jsonb_array_elements(r->'breaches') b WHERE "
		    "  b->>'agreement' IN (SELECT a->>'agreement' FROM "
		    "  jsonb_array_elements(r->'agreements') a "
		    "  WHERE a->>'kind' = 'ola')), '[]')) - 'counts' "
		    "  ELSE r END::text "
		    " FROM sla_report($1, $2, $3, $4, $5, $8::boolean) AS r) "
		    "END",
		    8, params, DB_RETRY, api_sla_cb, ar);
		evhttp_clear_headers(&args);
		return;
	}
	evhttp_clear_headers(&args);
	api_req_free(ar);
}

/* The HTTP status for an error of the database. */
static int
api_sql_status(const char *state)
{
	static const struct {
		const char *state;
		int status;
	} map[] = {
		{ "LC001", 422 }, /* refused: a rule of the lifecycle */
		{ "LC002", 409 }, /* someone else changed it first */
		{ "LC003", 404 }, /* no such incident, problem, host */
		{ "LC004", 403 }, /* the role may not */
		{ "LC005", 400 }, /* a malformed argument */
		{ "22", 400 }, /* data exception: a value of a wrong type */
		{ "23", 422 }, /* a constraint */
		{ "40", 409 }, /* serialization failure, deadlock */
		{ "57014", 503 }, /* statement timeout */
	};

	for (size_t i = 0; state != NULL && i < sizeof(map) / sizeof(map[0]);
	     i++)
		if (strncmp(state, map[i].state, strlen(map[i].state)) == 0)
			return map[i].status;
	return 500;
}

/* api_call's answer, or its error as a status. */
static void
api_call_cb(struct db *db, const PGresult *res, void *arg)
{
	struct api_req *ar = arg;
	struct evhttp_request *req = ar->req;
	const char *msg;
	int status;

	(void)db;
	if (res == NULL) {
		api_error(req, 503,
		    ar->route->kind == API_CHANGE ?
			"the database connection broke: look again whether "
			"the change was made" :
			"the database did not answer");
	} else if (!db_result_ok(res)) {
		status =
		    api_sql_status(PQresultErrorField(res, PG_DIAG_SQLSTATE));
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		if (status >= 500) {
			log_warnx("api: %s: %s", ar->route->op,
			    PQresultErrorMessage(res));
			msg = status == 503 ? "the database took too long" :
					      "an internal error; see the log";
		}
		api_error(req, status, msg != NULL ? msg : "refused");
	} else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		api_error(req, 404, "not found");
	} else {
		if (ar->route->kind == API_CHANGE)
			log_info("api: %s: %s %s", ar->user, ar->route->op,
			    evhttp_request_get_uri(req));
		evbuffer_add(evhttp_request_get_output_buffer(req),
		    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
		api_reply(req, 200, NULL);
	}
	api_req_free(ar);
}

/*
 * Adds the fields of a query string that args does not have yet (the
 * path's win).  Returns 0, or -1 with the reason in *why.
 */
int
api_query_merge(json_t *args, const char *query, const char **why)
{
	struct evkeyvalq kvs;
	struct evkeyval *kv;
	json_t *v;
	int rc = 0;

	TAILQ_INIT(&kvs);
	if (query == NULL)
		return 0;
	if (evhttp_parse_query_str(query, &kvs) == -1) {
		*why = "a malformed query string";
		return -1;
	}
	TAILQ_FOREACH(kv, &kvs, next) {
		if (json_object_get(args, kv->key) != NULL)
			continue;
		if ((v = json_string(kv->value)) == NULL ||
		    json_object_set_new(args, kv->key, v) == -1) {
			*why = "the query string is not UTF-8";
			rc = -1;
			break;
		}
	}
	evhttp_clear_headers(&kvs);
	return rc;
}

/* Adds the query string's fields that the path did not give; -1 after a
 * 400. */
static int
api_query_args(struct api_req *ar)
{
	const char *why;

	if (api_query_merge(ar->args,
		evhttp_uri_get_query(evhttp_request_get_evhttp_uri(ar->req)),
		&why) == -1) {
		api_error(ar->req, 400, why);
		return -1;
	}
	return 0;
}

/* Whether the request carries the session's CSRF token; 403 if not. */
static int
api_csrf_ok(struct evhttp_request *req, const char *want)
{
	const char *csrf =
	    evhttp_find_header(evhttp_request_get_input_headers(req),
		"X-CSRF-Token");

	if (csrf == NULL || strlen(csrf) != 32 || strcmp(csrf, want) != 0) {
		api_error(req, 403,
		    "the X-CSRF-Token header is missing or "
		    "wrong");
		return 0;
	}
	return 1;
}

/* A route of api_call(): the arguments, then the database. */
static void
api_call(struct api_req *ar, const char *role, const char *csrf)
{
	struct evhttp_request *req = ar->req;
	const char *params[4];
	json_t *body;
	char *args;

	if (ar->route->kind == API_CHANGE) {
		if (!api_csrf_ok(req, csrf) ||
		    (body = api_body(req, 1)) == NULL) {
			api_req_free(ar);
			return;
		}
		/* the path's fields win over the body's */
		json_object_update_missing(ar->args, body);
		json_decref(body);
	} else if (api_query_args(ar) == -1) {
		api_req_free(ar);
		return;
	}
	args = json_dumps(ar->args, JSON_COMPACT);
	params[0] = ar->user;
	params[1] = role;
	params[2] = ar->route->op;
	params[3] = args;
	/* a change is sent once: after a broken connection the client
	 * looks again rather than have it made twice */
	db_query(ar->idd->db, "SELECT api_call($1, $2, $3, $4::jsonb)::text", 4,
	    params, ar->route->kind == API_CHANGE ? 0 : DB_RETRY, api_call_cb,
	    ar);
	free(args);
}

/* Every route but the login: the session first. */
static void
api_session_cb(struct db *db, const PGresult *res, void *arg)
{
	struct api_req *ar = arg;
	struct evhttp_request *req = ar->req;
	const char *params[1];

	(void)db;
	if (res == NULL || !db_result_ok(res)) {
		api_error(req, 503, "the database did not answer");
		api_req_free(ar);
		return;
	}
	if (PQntuples(res) != 1) {
		api_error(req, 401, "log in first");
		api_req_free(ar);
		return;
	}
	ar->user = xstrdup(PQgetvalue(res, 0, 0));
	switch (ar->route->kind) {
	case API_SLA:
		api_sla(ar, PQgetvalue(res, 0, 1));
		return;
	case API_READ:
	case API_CHANGE:
		api_call(ar, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3));
		return;
	case API_ME:
		api_reply(req, 200,
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "user",
			PQgetvalue(res, 0, 0), "role", PQgetvalue(res, 0, 1),
			"display_name", PQgetvalue(res, 0, 2), "csrf",
			PQgetvalue(res, 0, 3), "timezone",
			ar->idd->conf->timezone));
		api_req_free(ar);
		return;
	case API_LOGOUT:
	case API_LOGIN:
		break;
	}
	/* logout changes state: the CSRF token must come along */
	if (!api_csrf_ok(req, PQgetvalue(res, 0, 3))) {
		api_req_free(ar);
		return;
	}
	params[0] = ar->token;
	db_query(ar->idd->db, "SELECT session_end($1)", 1, params, DB_RETRY,
	    NULL, NULL);
	log_info("api: %s logged out", PQgetvalue(res, 0, 0));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie",
	    API_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	api_reply(req, 204, NULL);
	api_req_free(ar);
}

static void
api_session(struct api_req *ar)
{
	struct incidentd *idd = ar->idd;
	const char *params[2];
	char idle[32];

	if (api_cookie_token(ar->req, ar->token) == -1) {
		api_error(ar->req, 401, "log in first");
		api_req_free(ar);
		return;
	}
	snprintf(idle, sizeof(idle), "%llu milliseconds",
	    (unsigned long long)idd->conf->http.session_idle_ms);
	params[0] = ar->token;
	params[1] = idle;
	db_query(idd->db,
	    "SELECT user_name, role, display_name, csrf FROM "
	    "session_touch($1, $2::interval)",
	    2, params, 0, api_session_cb, ar);
}

/*
 * Whether path matches a route's pattern.  With args, each "{name}"
 * segment goes there, percent-decoded; a segment that is empty, too long
 * or not UTF-8 does not match.
 */
static int
api_match(const char *pattern, const char *path, json_t *args)
{
	const char *p = pattern, *q = path, *end;
	char name[32], *seg, *dec;
	size_t n;
	json_t *v;

	while (*p != '\0' && *q != '\0') {
		if (*p != '{') {
			if (*p++ != *q++)
				return 0;
			continue;
		}
		end = strchr(p, '}');
		n = strcspn(q, "/");
		if (end == NULL || n == 0 || n > 600 ||
		    (size_t)(end - p - 1) >= sizeof(name))
			return 0;
		if (args != NULL) {
			snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1),
			    p + 1);
			seg = xstrndup(q, n);
			dec = evhttp_uridecode(seg, 0, NULL);
			free(seg);
			v = dec != NULL && strlen(dec) > 0 ? json_string(dec) :
							     NULL;
			free(dec);
			if (v == NULL)
				return 0;
			json_object_set_new(args, name, v);
		}
		p = end + 1;
		q += n;
	}
	return *p == '\0' && *q == '\0';
}

/*
 * The route of a request: its index in api_routes[], or -1 (then *allow
 * says which methods the path has: API_ALLOW_GET, API_ALLOW_POST, or none
 * for a path that is no route).
 */
int
api_route_find(int cmd, const char *path, int *allow)
{
	int found = -1;

	*allow = 0;
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]);
	     i++) {
		if (!api_match(api_routes[i].path, path, NULL))
			continue;
		*allow |= api_routes[i].method == EVHTTP_REQ_GET ?
		    API_ALLOW_GET :
		    API_ALLOW_POST;
		if ((int)api_routes[i].method == cmd && found == -1)
			found = (int)i;
	}
	return found;
}

/*
 * The arguments a route takes from the path ("{id}" and the like) into
 * args; -1 if a segment cannot be one (empty, too long, not UTF-8).
 */
int
api_route_args(int route, const char *path, json_t *args)
{
	return api_match(api_routes[route].path, path, args) ? 0 : -1;
}

/* Every request under /api/. */
void
api_handle(struct incidentd *idd, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct api_route *route;
	struct api_req *ar;
	int allow, i = api_route_find((int)cmd, path, &allow);
	int get = (allow & API_ALLOW_GET) != 0,
	    post = (allow & API_ALLOW_POST) != 0;

	route = i == -1 ? NULL : &api_routes[i];
	if (!get && !post) {
		api_error(req, 404, "no such endpoint");
		return;
	}
	if (route == NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow",
		    get && post ? "GET, POST" :
			get	? "GET" :
				  "POST");
		api_error(req, 405, "method not allowed");
		return;
	}
	if (!db_connected(idd->db)) {
		api_error(req, 503, "the database is unreachable");
		return;
	}
	if (route->kind == API_LOGIN) {
		api_login(idd, req);
		return;
	}
	ar = api_req_new(idd, req);
	ar->route = route;
	ar->args = json_object();
	if (api_route_args(i, path, ar->args) == -1) {
		api_error(req, 400, "a malformed path");
		api_req_free(ar);
		return;
	}
	api_session(ar);
}
