/*
 * incidentd.yaml: the database, the SMTP relay and who is told.  Walked from
 * cfg.c's tree like monitord.yaml; every error names file:line:column.
 */
#include "config.h"

#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "httpd.h"
#include "incidentd.h"
#include "timeutil.h"
#include "xmalloc.h"

static const char *const mail_lang_names[] = { "ja", "en", NULL };
static const char *const log_level_names[] = { "error", "warning", "notice",
	"info", "debug", NULL };

static json_t *conf_recipients(const struct inc_conf *);

const char *
conf_mail_lang_str(enum mail_lang lang)
{
	if ((unsigned)lang > MAIL_LANG_EN)
		return "?";
	return mail_lang_names[lang];
}

/* Frees a configuration; NULL is allowed. */
void
conf_free(struct inc_conf *conf)
{
	if (conf == NULL)
		return;
	for (size_t i = 0; i < conf->ncontacts; i++) {
		free(conf->contacts[i]->name);
		free(conf->contacts[i]->email);
		free(conf->contacts[i]->sms);
		free(conf->contacts[i]->sms_priorities);
		free(conf->contacts[i]->webhook);
		free(conf->contacts[i]->team);
		free(conf->contacts[i]);
	}
	free(conf->contacts);
	free(conf->smtp.url);
	free(conf->smtp.from);
	free(conf->smtp.from_name);
	free(conf->smtp.username);
	free(conf->smtp.password);
	free(conf->sms.spool);
	free(conf->sms.spool_tmp);
	free(conf->sms.country_code);
	notify_sms_gateway_free(conf->sms.gateway);
	free(conf->ack.listen);
	free(conf->http.tls_cert);
	free(conf->http.tls_key);
	free(conf->http.web_root);
	free(conf->ack.url);
	if (conf->ack.secret != NULL)
		explicit_bzero(conf->ack.secret, strlen(conf->ack.secret));
	free(conf->ack.secret);
	for (size_t i = 0; i < conf->webhook.nheaders; i++)
		free(conf->webhook.headers[i]);
	free(conf->webhook.headers);
	free(conf->file);
	free(conf->instance);
	free(conf->database);
	free(conf->console_url);
	free(conf->mail_domain);
	free(conf->timezone);
	free(conf->recipients_json);
	free(conf->lifecycle_json);
	free(conf->escalate_priorities);
	free(conf);
}

static char *
conf_dup_opt(struct cfg_doc *doc, const struct cfg_node *map, const char *key)
{
	const char *s;

	if (cfg_str(doc, map, key, 0, &s) == 0)
		return xstrdup(s);
	return NULL;
}

static void
conf_smtp_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct smtp_conf *smtp)
{
	static const char *const keys[] = { "url", "from", "from_name",
		"username", "password", "starttls", "verify_tls", "timeout",
		NULL };
	const char *s;

	smtp->verify_tls = 1;
	smtp->timeout_ms = 30000;
	if (node == NULL)
		return;
	cfg_check_keys(doc, node, "smtp", keys);
	if (cfg_str(doc, node, "url", 1, &s) == 0) {
		if (strncmp(s, "smtp://", 7) != 0 &&
		    strncmp(s, "smtps://", 8) != 0)
			cfg_error(doc, cfg_get(node, "url"),
			    "smtp url must "
			    "start with "
			    "smtp:// or "
			    "smtps://");
		smtp->url = xstrdup(s);
	}
	if (cfg_str(doc, node, "from", 1, &s) == 0) {
		if (!mail_address_valid(s))
			cfg_error(doc, cfg_get(node, "from"),
			    "'%s' is not a "
			    "mail address",
			    s);
		smtp->from = xstrdup(s);
	}
	smtp->from_name = conf_dup_opt(doc, node, "from_name");
	smtp->username = conf_dup_opt(doc, node, "username");
	smtp->password = conf_dup_opt(doc, node, "password");
	if (smtp->password != NULL) {
		cfg_secret(doc, cfg_get(node, "password"), "an SMTP password");
		cfg_redact(doc, cfg_get(node, "password"));
	}
	if (smtp->password != NULL && smtp->username == NULL)
		cfg_error(doc, cfg_get(node, "password"),
		    "password without "
		    "username");
	cfg_bool(doc, node, "starttls", 0, &smtp->starttls);
	cfg_bool(doc, node, "verify_tls", 0, &smtp->verify_tls);
	cfg_duration(doc, node, "timeout", 0, 1000, 600000, &smtp->timeout_ms);
}

/*
 * A phone number in the international digits smstools3 wants: "+81 90
 * 1234 5678" and, with country code 81, "090-1234-5678" both become
 * "819012345678".  Returns NULL for anything else.
 */
static char *
conf_sms_number(const char *s, const char *country)
{
	char digits[32];
	size_t n = 0;
	int intl = 0;

	for (; *s == ' '; s++)
		;
	if (*s == '+') {
		intl = 1;
		s++;
	}
	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '-' || *s == '(' || *s == ')')
			continue;
		if (*s < '0' || *s > '9' || n + 1 >= sizeof(digits))
			return NULL;
		digits[n++] = *s;
	}
	digits[n] = '\0';
	if (!intl) {
		if (digits[0] != '0' || digits[1] == '0' || country == NULL)
			return NULL;
		return n < 8 || n > 14 ? NULL :
					 xasprintf("%s%s", country, digits + 1);
	}
	return n < 8 || n > 15 || digits[0] == '0' ? NULL : xstrdup(digits);
}

/* True for a header whose name says it carries a credential. */
static int
conf_header_secret(const char *name, size_t len)
{
	static const char *const words[] = { "auth", "token", "key", "secret",
		"password", "cookie", NULL };
	char lower[64];

	if (len >= sizeof(lower))
		len = sizeof(lower) - 1;
	for (size_t i = 0; i < len; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[len] = '\0';
	for (size_t i = 0; words[i] != NULL; i++)
		if (strstr(lower, words[i]) != NULL)
			return 1;
	return 0;
}

/*
 * Request headers, "Name: value" each; a header with a line break or
 * without a name would be refused by curl or smuggle another header.
 */
static void
conf_headers_load(struct cfg_doc *doc, const struct cfg_node *node,
    char ***headers, size_t *nheaders)
{
	const struct cfg_node *seq = cfg_seq(doc, node, "headers", 0);
	const char *s, *colon;

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], "a header", &s) == -1)
			continue;
		colon = strchr(s, ':');
		if (colon == NULL || colon == s ||
		    strcspn(s, "\r\n") != strlen(s) ||
		    strcspn(s, " \t") < (size_t)(colon - s)) {
			cfg_error(doc, seq->items[i],
			    "a header is 'Name: value' on one line, not '%s'",
			    s);
			continue;
		}
		if (conf_header_secret(s, (size_t)(colon - s))) {
			cfg_secret(doc, seq->items[i],
			    "a header with a credential");
			cfg_redact(doc, seq->items[i]);
		}
		*headers =
		    xreallocarray(*headers, *nheaders + 1, sizeof(**headers));
		(*headers)[(*nheaders)++] = xstrdup(s);
	}
}

/* An http:// or https:// URL, as a template or as it is. */
static int
conf_check_http_url(struct cfg_doc *doc, const struct cfg_node *node,
    const char *what, const char *url, int tmpl)
{
	char *err;

	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		cfg_error(doc, node, "%s must start with http:// or https://",
		    what);
		return -1;
	}
	if (tmpl && (err = notify_http_template_check(url)) != NULL) {
		cfg_error(doc, node, "%s", err);
		free(err);
		return -1;
	}
	return 0;
}

/* A POSIX extended regular expression; NULL (with an error) if bad. */
static regex_t *
conf_regex(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    int groups)
{
	const char *s;
	regex_t *re;
	char buf[256];
	int rc;

	if (cfg_str(doc, map, key, 0, &s) != 0)
		return NULL;
	re = xcalloc(1, sizeof(*re));
	if ((rc = regcomp(re, s, REG_EXTENDED | (groups ? 0 : REG_NOSUB))) !=
	    0) {
		regerror(rc, re, buf, sizeof(buf));
		cfg_error(doc, cfg_get(map, key), "bad pattern '%s': %s", s,
		    buf);
		free(re);
		return NULL;
	}
	if (groups && re->re_nsub < 1) {
		cfg_error(doc, cfg_get(map, key),
		    "%s needs a group, as \"id=([0-9]+)\", to take the id "
		    "from",
		    key);
		regfree(re);
		free(re);
		return NULL;
	}
	return re;
}

/*
 * An HTTP SMS gateway:
 *
 *   gateway:
 *     url: "http://127.0.0.1:13013/cgi-bin/sendsms?to={to}&text={text}"
 *     method: GET                     # GET, POST or PUT
 *     body: '{"to": "{to}", "text": "{text}"}'
 *     body_type: json                 # form, json or text
 *     headers: ["X-Api-Key: ..."]
 *     success_status: [200, 202]      # default: any 2xx
 *     success_body: "Accepted"        # a pattern the reply must match
 *     message_id: "id: ([0-9a-f-]+)"  # the gateway's id, logged and kept
 *     timeout: 10s
 *     verify_tls: true
 */
static struct sms_gateway *
conf_gateway_load(struct cfg_doc *doc, const struct cfg_node *node)
{
	static const char *const keys[] = { "url", "method", "body",
		"body_type", "headers", "success_status", "success_body",
		"message_id", "timeout", "verify_tls", NULL };
	static const char *const methods[] = { "GET", "POST", "PUT", NULL };
	static const char *const types[] = { "form", "json", "text", NULL };
	static const enum http_enc encs[] = { HTTP_ENC_URL, HTTP_ENC_JSON,
		HTTP_ENC_NONE };
	const struct cfg_node *seq;
	struct sms_gateway *gw;
	int method = 0, type = 0;
	const char *s;
	char *err;
	uint64_t v;

	if (node == NULL)
		return NULL;
	cfg_check_keys(doc, node, "gateway", keys);
	gw = xcalloc(1, sizeof(*gw));
	gw->verify_tls = 1;
	gw->timeout_ms = 10000;
	if (cfg_str(doc, node, "url", 1, &s) == 0 &&
	    conf_check_http_url(doc, cfg_get(node, "url"), "the gateway url", s,
		1) == 0)
		gw->url = xstrdup(s);
	if (cfg_get(node, "body") != NULL)
		method = 1;
	cfg_enum(doc, node, "method", 0, methods, &method);
	gw->method = xstrdup(methods[method]);
	if (cfg_str(doc, node, "body", 0, &s) == 0) {
		if ((err = notify_http_template_check(s)) != NULL) {
			cfg_error(doc, cfg_get(node, "body"), "%s", err);
			free(err);
		} else if (method == 0)
			cfg_error(doc, cfg_get(node, "body"),
			    "a GET request has no body; use method: POST");
		gw->body = xstrdup(s);
	}
	if (cfg_enum(doc, node, "body_type", 0, types, &type) == 0 &&
	    gw->body == NULL)
		cfg_error(doc, cfg_get(node, "body_type"),
		    "body_type without a body");
	gw->body_enc = encs[type];
	conf_headers_load(doc, node, &gw->headers, &gw->nheaders);
	if (gw->body != NULL && type != 2) {
		int has_type = 0;

		for (size_t i = 0; i < gw->nheaders; i++)
			has_type |= strncasecmp(gw->headers[i],
					"Content-Type:", 13) == 0;
		if (!has_type) {
			gw->headers = xreallocarray(gw->headers,
			    gw->nheaders + 1, sizeof(*gw->headers));
			gw->headers[gw->nheaders++] = xstrdup(type == 1 ?
				"Content-Type: application/json; charset=utf-8" :
				"Content-Type: application/"
				"x-www-form-urlencoded");
		}
	}
	seq = cfg_seq(doc, node, "success_status", 0);
	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		const char *t;
		char *end;

		if (cfg_node_str(doc, seq->items[i], "a status", &t) == -1)
			continue;
		v = strtoull(t, &end, 10);
		if (*t == '\0' || *end != '\0' || v < 100 || v > 599) {
			cfg_error(doc, seq->items[i],
			    "a status is 100-599, not '%s'", t);
			continue;
		}
		gw->status = xreallocarray(gw->status, gw->nstatus + 1,
		    sizeof(*gw->status));
		gw->status[gw->nstatus++] = (long)v;
	}
	gw->success_body = conf_regex(doc, node, "success_body", 0);
	gw->message_id = conf_regex(doc, node, "message_id", 1);
	cfg_duration(doc, node, "timeout", 0, 100, 600000, &gw->timeout_ms);
	cfg_bool(doc, node, "verify_tls", 0, &gw->verify_tls);
	return gw;
}

/* Settings for every contact's webhook. */
static void
conf_webhook_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct webhook_conf *wh)
{
	static const char *const keys[] = { "headers", "timeout", "verify_tls",
		NULL };

	wh->timeout_ms = 10000;
	wh->verify_tls = 1;
	if (node == NULL)
		return;
	cfg_check_keys(doc, node, "webhook", keys);
	conf_headers_load(doc, node, &wh->headers, &wh->nheaders);
	cfg_duration(doc, node, "timeout", 0, 100, 600000, &wh->timeout_ms);
	cfg_bool(doc, node, "verify_tls", 0, &wh->verify_tls);
}

/* A file the daemon must be able to read, or a config error at node. */
static char *
conf_readable_file(struct cfg_doc *doc, const struct cfg_node *node,
    const char *path)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		cfg_error(doc, node, "cannot read '%s': %s", path,
		    strerror(errno));
		return NULL;
	}
	fclose(f);
	return xstrdup(path);
}

/* HTTPS and the console's files (see conf_ack_load). */
static void
conf_http_tls_load(struct cfg_doc *doc, const struct cfg_node *http,
    struct http_conf *hc)
{
	const char *s;

	if (cfg_str(doc, http, "tls_cert", 0, &s) == 0)
		hc->tls_cert =
		    conf_readable_file(doc, cfg_get(http, "tls_cert"), s);
	if (cfg_str(doc, http, "tls_key", 0, &s) == 0)
		hc->tls_key =
		    conf_readable_file(doc, cfg_get(http, "tls_key"), s);
	if ((cfg_get(http, "tls_cert") == NULL) !=
	    (cfg_get(http, "tls_key") == NULL))
		cfg_error(doc,
		    cfg_get(http, "tls_cert") != NULL ?
			cfg_get(http, "tls_cert") :
			cfg_get(http, "tls_key"),
		    "tls_cert and tls_key go together");
	hc->web_root =
	    xstrdup(cfg_str(doc, http, "web_root", 0, &s) == 0 ? s : WEBDIR);
}

/*
 * The HTTP listener and the acknowledgement links:
 *
 *   http:
 *     listen: 127.0.0.1:8026      # loopback, or any address with TLS
 *     tls_cert: /etc/incidentd/console.crt   # PEM, chain after the cert
 *     tls_key: /etc/incidentd/console.key
 *     web_root: /usr/local/share/monitord/web
 *   ack:
 *     url: https://kanshi.city.example.jp/incidentd
 *     secret_file: /etc/incidentd/ack.key    # or secret: ...
 *     valid_for: 24h
 *     sms: true
 */
static void
conf_ack_load(struct cfg_doc *doc, const struct cfg_node *http,
    const struct cfg_node *node, struct ack_conf *ack, struct http_conf *hc)
{
	static const char *const hkeys[] = { "listen", "session_idle",
		"secure_cookies", "tls_cert", "tls_key", "web_root", NULL };
	static const char *const keys[] = { "url", "secret", "secret_file",
		"valid_for", "sms", NULL };
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *s, *why;
	char buf[512];
	size_t n;
	FILE *f;

	ack->valid_ms = MS_DAY;
	ack->sms = 1;
	hc->session_idle_ms = 30 * 60000;
	hc->secure_cookies = 1;
	if (http != NULL) {
		cfg_check_keys(doc, http, "http", hkeys);
		cfg_duration(doc, http, "session_idle", 0, 60000, MS_DAY,
		    &hc->session_idle_ms);
		cfg_bool(doc, http, "secure_cookies", 0, &hc->secure_cookies);
		conf_http_tls_load(doc, http, hc);
		if (cfg_str(doc, http, "listen", 1, &s) == 0) {
			if (httpd_parse_listen(s, &ss, &sslen, &why) == -1)
				cfg_error(doc, cfg_get(http, "listen"),
				    "bad listen address '%s': %s", s, why);
			else if (hc->tls_cert == NULL &&
			    !((ss.ss_family == AF_INET &&
				  ((const unsigned char *)&(
				      (struct sockaddr_in *)&ss)
					  ->sin_addr)[0] == 127) ||
				(ss.ss_family == AF_INET6 &&
				    IN6_IS_ADDR_LOOPBACK(
					&((struct sockaddr_in6 *)&ss)
					     ->sin6_addr))))
				cfg_error(doc, cfg_get(http, "listen"),
				    "incidentd serves plain HTTP on loopback "
				    "only (127.0.0.0/8 or [::1]); give "
				    "tls_cert and tls_key, or put a TLS "
				    "reverse proxy in front, not '%s'",
				    s);
			else
				ack->listen = xstrdup(s);
		}
	}
	if (node == NULL)
		return;
	cfg_check_keys(doc, node, "ack", keys);
	if (http == NULL)
		cfg_error(doc, node,
		    "acknowledgement links need an http section to listen");
	if (cfg_str(doc, node, "url", 1, &s) == 0) {
		n = strlen(s);
		while (n > 0 && s[n - 1] == '/')
			n--;
		if (strncmp(s, "http://", 7) != 0 &&
		    strncmp(s, "https://", 8) != 0)
			cfg_error(doc, cfg_get(node, "url"),
			    "the links' url must start with http:// or "
			    "https://");
		else
			ack->url = xstrndup(s, n);
	}
	if (cfg_str(doc, node, "secret", 0, &s) == 0) {
		ack->secret = xstrdup(s);
		cfg_secret(doc, cfg_get(node, "secret"), "the ack secret");
	}
	if (cfg_str(doc, node, "secret_file", 0, &s) == 0) {
		if (ack->secret != NULL)
			cfg_error(doc, cfg_get(node, "secret_file"),
			    "secret or secret_file, not both");
		else if ((f = fopen(s, "r")) == NULL)
			cfg_error(doc, cfg_get(node, "secret_file"),
			    "cannot read '%s': %s", s, strerror(errno));
		else {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			while (
			    n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
				n--;
			buf[n] = '\0';
			ack->secret = xstrdup(buf);
			explicit_bzero(buf, sizeof(buf));
		}
	}
	if (ack->secret == NULL && cfg_get(node, "secret_file") == NULL)
		cfg_error(doc, node, "ack needs a secret or a secret_file");
	else if (ack->secret != NULL && strlen(ack->secret) < 16)
		cfg_error(doc,
		    cfg_get(node,
			cfg_get(node, "secret") ? "secret" : "secret_file"),
		    "the secret must be at least 16 characters");
	cfg_duration(doc, node, "valid_for", 0, 60000, 30 * MS_DAY,
	    &ack->valid_ms);
	cfg_bool(doc, node, "sms", 0, &ack->sms);
}

/* The smstools3 spool that SMS are written to. */
static void
conf_sms_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct sms_conf *sms)
{
	static const char *const keys[] = { "spool", "spool_tmp",
		"country_code", "gateway", NULL };
	const char *s;
	char *slash;

	sms->country_code = xstrdup("81");
	if (node == NULL)
		return;
	cfg_check_keys(doc, node, "sms", keys);
	sms->gateway = conf_gateway_load(doc, cfg_map(doc, node, "gateway", 0));
	if (sms->gateway != NULL && cfg_get(node, "spool") != NULL)
		cfg_error(doc, cfg_get(node, "spool"),
		    "an sms section has a spool or a gateway, not both");
	if (cfg_str(doc, node, "spool", sms->gateway == NULL, &s) == 0) {
		if (s[0] != '/' || strlen(s) < 2)
			cfg_error(doc, cfg_get(node, "spool"),
			    "spool must be an absolute path, not '%s'", s);
		sms->spool = xstrdup(s);
	}
	if (cfg_str(doc, node, "spool_tmp", 0, &s) == 0) {
		if (s[0] != '/')
			cfg_error(doc, cfg_get(node, "spool_tmp"),
			    "spool_tmp must be an absolute path, not '%s'", s);
		sms->spool_tmp = xstrdup(s);
	} else if (sms->spool != NULL) {
		/* beside the outgoing folder: same file system, and smsd
		 * never sees a file being written */
		sms->spool_tmp = xstrdup(sms->spool);
		while ((slash = strrchr(sms->spool_tmp, '/')) != NULL &&
		    slash[1] == '\0' && slash != sms->spool_tmp)
			*slash = '\0';
		slash = strrchr(sms->spool_tmp, '/');
		if (slash == sms->spool_tmp)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
	}
	if (cfg_str(doc, node, "country_code", 0, &s) == 0) {
		if (strlen(s) < 1 || strlen(s) > 3 ||
		    strspn(s, "0123456789") != strlen(s) || s[0] == '0')
			cfg_error(doc, cfg_get(node, "country_code"),
			    "country_code must be 1-3 digits, as 81, not '%s'",
			    s);
		free(sms->country_code);
		sms->country_code = xstrdup(s);
	}
}

/*
 * Escalation: the contacts of a level are told only if the incident is
 * still unacknowledged that long after its first message; the others are
 * told at once.
 *
 *   escalation:
 *     priorities: [1, 2]       # which escalate (default: all, and unknown)
 *     levels:
 *       - after: 15m
 *         contacts: [情報システム係長]
 */
static void
conf_escalation_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct inc_conf *conf)
{
	static const char *const keys[] = { "priorities", "levels", NULL };
	static const char *const lkeys[] = { "after", "contacts", NULL };
	const struct cfg_node *levels, *prios, *names;
	uint64_t after, prev = 0;
	const char *s;

	if (node == NULL)
		return;
	cfg_check_keys(doc, node, "escalation", keys);
	prios = cfg_seq(doc, node, "priorities", 0);
	conf->escalate_priorities = conf_priority_list(doc, prios);
	levels = cfg_seq(doc, node, "levels", 0);
	for (size_t i = 0; levels != NULL && i < levels->n; i++) {
		const struct cfg_node *lv = levels->items[i];

		if (cfg_expect_map(doc, lv, "an escalation level") == -1)
			continue;
		cfg_check_keys(doc, lv, "an escalation level", lkeys);
		if (cfg_duration(doc, lv, "after", 1, 1000, 7 * MS_DAY,
			&after) != 0)
			continue;
		if (after <= prev)
			cfg_error(doc, cfg_get(lv, "after"),
			    "each level must come later than the one before");
		prev = after;
		names = cfg_seq(doc, lv, "contacts", 1);
		for (size_t k = 0; names != NULL && k < names->n; k++) {
			size_t c;

			if (cfg_node_str(doc, names->items[k], "a contact",
				&s) == -1)
				continue;
			for (c = 0; c < conf->ncontacts; c++)
				if (strcmp(conf->contacts[c]->name, s) == 0)
					break;
			if (c == conf->ncontacts)
				cfg_error(doc, names->items[k],
				    "no contact named '%s'", s);
			else if (conf->contacts[c]->escalate_after_ms != 0)
				cfg_error(doc, names->items[k],
				    "contact '%s' is in two levels", s);
			else
				conf->contacts[c]->escalate_after_ms = after;
		}
	}
}

static void
conf_contacts_load(struct cfg_doc *doc, const struct cfg_node *seq,
    struct inc_conf *conf)
{
	static const char *const keys[] = { "name", "email", "sms",
		"sms_priorities", "lang", "webhook", NULL };

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		const struct cfg_node *node = seq->items[i];
		const char *name = NULL, *email = NULL, *sms = NULL;
		const char *webhook = NULL;
		char *number = NULL;
		struct inc_contact *c;
		int lang = MAIL_LANG_JA;

		if (cfg_expect_map(doc, node, "a contact") == -1)
			continue;
		cfg_check_keys(doc, node, "a contact", keys);
		cfg_str(doc, node, "name", 1, &name);
		cfg_str(doc, node, "email", 0, &email);
		if (cfg_str(doc, node, "sms", 0, &sms) == 0 &&
		    (number = conf_sms_number(sms, conf->sms.country_code)) ==
			NULL)
			cfg_error(doc, cfg_get(node, "sms"),
			    "'%s' is not a phone number (+81 90 1234 5678 or "
			    "090-1234-5678)",
			    sms);
		cfg_enum(doc, node, "lang", 0, mail_lang_names, &lang);
		if (cfg_str(doc, node, "webhook", 0, &webhook) == 0 &&
		    (conf_check_http_url(doc, cfg_get(node, "webhook"),
			 "a webhook", webhook, 0) == -1))
			webhook = NULL;
		if (name != NULL && email == NULL && sms == NULL &&
		    webhook == NULL)
			cfg_error(doc, node,
			    "contact '%s' has no email, sms or webhook", name);
		if (name == NULL ||
		    (email == NULL && number == NULL && webhook == NULL)) {
			free(number);
			continue;
		}
		if (email != NULL && !mail_address_valid(email)) {
			cfg_error(doc, cfg_get(node, "email"),
			    "'%s' is not a "
			    "mail address",
			    email);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->name = xstrdup(name);
		c->email = email != NULL ? xstrdup(email) : NULL;
		c->sms = number;
		c->webhook = webhook != NULL ? xstrdup(webhook) : NULL;
		c->sms_priorities = conf_priority_list(doc,
		    cfg_seq(doc, node, "sms_priorities", 0));
		if (c->sms_priorities != NULL && c->sms == NULL)
			cfg_error(doc, cfg_get(node, "sms_priorities"),
			    "sms_priorities without an sms number");
		c->lang = (enum mail_lang)lang;
		conf->contacts = xreallocarray(conf->contacts,
		    conf->ncontacts + 1, sizeof(*conf->contacts));
		conf->contacts[conf->ncontacts++] = c;
	}
}

static void
conf_notify_load(struct cfg_doc *doc, const struct cfg_node *node,
    struct inc_conf *conf)
{
	static const char *const keys[] = { "retry_min", "retry_max",
		"max_attempts", "group_window", "remind_after", "remind_max",
		"rate_limit", "rate_window", NULL };
	uint64_t v;

	conf->retry_min_ms = 10000;
	conf->retry_max_ms = 600000;
	conf->max_attempts = 100;
	conf->group_window_ms = 10000;
	conf->remind_after_ms = 30 * 60000;
	conf->remind_max = 3;
	conf->rate_window_ms = 10 * 60000;
	if (node == NULL)
		return;
	cfg_duration(doc, node, "group_window", 0, 0, 3600000,
	    &conf->group_window_ms);
	cfg_duration(doc, node, "remind_after", 0, 0, MS_DAY,
	    &conf->remind_after_ms);
	if (cfg_uint(doc, node, "remind_max", 0, 0, 100, &v) == 0)
		conf->remind_max = (unsigned)v;
	if (cfg_uint(doc, node, "rate_limit", 0, 0, 10000, &v) == 0)
		conf->rate_limit = (unsigned)v;
	cfg_duration(doc, node, "rate_window", 0, 1000, MS_DAY,
	    &conf->rate_window_ms);
	cfg_check_keys(doc, node, "notify", keys);
	cfg_duration(doc, node, "retry_min", 0, 1000, MS_DAY,
	    &conf->retry_min_ms);
	cfg_duration(doc, node, "retry_max", 0, 1000, MS_DAY,
	    &conf->retry_max_ms);
	if (cfg_uint(doc, node, "max_attempts", 0, 0, 100000, &v) == 0)
		conf->max_attempts = (unsigned)v;
	if (conf->retry_min_ms > conf->retry_max_ms)
		cfg_error(doc, node, "retry_min exceeds retry_max");
}

/* The domain ends every Message-ID: it must make one that mail accepts. */
static void
conf_check_mail_domain(struct cfg_doc *doc, const struct cfg_node *node,
    const char *domain)
{
	char addr[300];

	snprintf(addr, sizeof(addr), "x@%s", domain);
	if (strlen(domain) > 253 || !mail_address_valid(addr) ||
	    strchr(domain, '@') != NULL)
		cfg_error(doc, node, "mail_domain '%s' is not a domain name",
		    domain);
}

/* A list of strings under key into arr; errors name the item. */
static void
conf_str_list(struct cfg_doc *doc, const struct cfg_node *map, const char *key,
    const char *what, json_t *arr)
{
	const struct cfg_node *seq = cfg_seq(doc, map, key, 0);
	const char *s;

	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		if (cfg_node_str(doc, seq->items[i], what, &s) == 0) {
			if (*s == '\0')
				cfg_error(doc, seq->items[i], "%s is empty",
				    what);
			else
				json_array_append_new(arr, json_string(s));
		}
	}
}

/*
 * One dependency of a service: "host" (any of its checks) or
 * "host/check", as monitord.yaml names them.
 */
static void
conf_service_dep(struct cfg_doc *doc, const struct cfg_node *node, json_t *arr)
{
	const char *s, *slash;

	if (cfg_node_str(doc, node, "a dependency", &s) == -1)
		return;
	slash = strchr(s, '/');
	if (*s == '\0' || slash == s || (slash != NULL && slash[1] == '\0') ||
	    (slash != NULL && strchr(slash + 1, '/') != NULL)) {
		cfg_error(doc, node,
		    "dependency '%s' must be a host or host/check", s);
		return;
	}
	if (slash == NULL)
		json_array_append_new(arr, json_pack("{s:s}", "host", s));
	else
		json_array_append_new(arr,
		    json_pack("{s:s%, s:s}", "host", s, (size_t)(slash - s),
			"check", slash + 1));
}

/*
 * How long the measured values are kept in each tier (sql/func/metrics.sql)
 * and the traps: {"raw": seconds, ...} for lifecycle_configure().
 * "interfaces" is tier 1h_long, the hourly bins of SNMP interface traffic;
 * unless given it is 1h's, and it never keeps less than 1h does.
 */
static void
conf_retention_load(struct cfg_doc *doc, const struct cfg_node *node, json_t *j)
{
	static const struct {
		const char *key, *tier;
		uint64_t def, min, max;
	} tiers[] = {
		{ "raw", "raw", 14 * MS_DAY, 3600000, 3650 * MS_DAY },
		{ "5m", "5m", 90 * MS_DAY, 3600000, 3650 * MS_DAY },
		{ "1h", "1h", 1095 * MS_DAY, MS_DAY, 36500 * MS_DAY },
		{ "interfaces", "1h_long", 0, MS_DAY, 36500 * MS_DAY },
		{ "traps", "traps", 365 * MS_DAY, MS_DAY, 36500 * MS_DAY },
	};
	static const char *const keys[] = { "raw", "5m", "1h", "interfaces",
		"traps", NULL };
	json_t *keep = json_object();
	uint64_t hourly = 0;

	if (node != NULL)
		cfg_check_keys(doc, node, "retention", keys);
	for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++) {
		uint64_t v = tiers[i].def;

		if (node != NULL)
			cfg_duration(doc, node, tiers[i].key, 0, tiers[i].min,
			    tiers[i].max, &v);
		if (strcmp(tiers[i].tier, "1h") == 0)
			hourly = v;
		else if (strcmp(tiers[i].tier, "1h_long") == 0 && v < hourly)
			v = hourly;
		json_object_set_new(keep, tiers[i].tier,
		    json_integer((json_int_t)(v / 1000)));
	}
	json_object_set_new(j, "retention", keep);
}

/*
 * The service map and the lifecycle's windows, as the JSON that
 * lifecycle_configure() takes.
 */
static void
conf_lifecycle_load(struct cfg_doc *doc, const struct cfg_node *root,
    struct inc_conf *conf)
{
	static const char *const lkeys[] = { "reopen_window", "problem_window",
		NULL };
	static const char *const skeys[] = { "name", "title", "operator",
		"impact", "departments", "depends", NULL };
	static const char *const impacts[] = { "high", "medium", "low", NULL };
	static const char *const operators[] = { "in-house", "outsourcer",
		NULL };
	const struct cfg_node *lc = cfg_map(doc, root, "lifecycle", 0);
	const struct cfg_node *seq = cfg_seq(doc, root, "services", 0);
	json_t *j = json_object(), *services = json_array();
	uint64_t reopen = 3600000, window = 30 * MS_DAY;
	char buf[64];

	if (lc != NULL) {
		cfg_check_keys(doc, lc, "lifecycle", lkeys);
		cfg_duration(doc, lc, "reopen_window", 0, 0, 30 * MS_DAY,
		    &reopen);
		cfg_duration(doc, lc, "problem_window", 0, 0, 3650 * MS_DAY,
		    &window);
	}
	snprintf(buf, sizeof(buf), "%llu milliseconds",
	    (unsigned long long)reopen);
	json_object_set_new(j, "reopen_window", json_string(buf));
	snprintf(buf, sizeof(buf), "%llu milliseconds",
	    (unsigned long long)window);
	json_object_set_new(j, "problem_window", json_string(buf));
	snprintf(buf, sizeof(buf), "%llu milliseconds",
	    (unsigned long long)conf->group_window_ms);
	json_object_set_new(j, "group_window", json_string(buf));
	snprintf(buf, sizeof(buf), "%llu milliseconds",
	    (unsigned long long)conf->remind_after_ms);
	json_object_set_new(j, "remind_after", json_string(buf));
	json_object_set_new(j, "remind_max", json_integer(conf->remind_max));
	json_object_set_new(j, "rate_limit", json_integer(conf->rate_limit));
	json_object_set_new(j, "escalate_priorities",
	    conf->escalate_priorities != NULL ?
		json_string(conf->escalate_priorities) :
		json_null());
	snprintf(buf, sizeof(buf), "%llu milliseconds",
	    (unsigned long long)conf->rate_window_ms);
	json_object_set_new(j, "rate_window", json_string(buf));
	conf_duty_load(doc, root, conf, j);
	for (size_t i = 0; seq != NULL && i < seq->n; i++) {
		const struct cfg_node *node = seq->items[i], *deps;
		const char *name = NULL, *title = NULL;
		json_t *svc, *list;
		int op = 0, impact = 1;

		if (cfg_expect_map(doc, node, "a service") == -1)
			continue;
		cfg_check_keys(doc, node, "a service", skeys);
		if (cfg_str(doc, node, "name", 1, &name) != 0)
			continue;
		for (size_t k = 0; k < i; k++) {
			const struct cfg_node *o =
			    cfg_get(seq->items[k], "name");

			if (o != NULL && o->type == CFG_SCALAR &&
			    strcmp(o->value, name) == 0)
				cfg_error(doc, cfg_get(node, "name"),
				    "service '%s' is defined twice", name);
		}
		cfg_str(doc, node, "title", 0, &title);
		cfg_enum(doc, node, "operator", 0, operators, &op);
		cfg_enum(doc, node, "impact", 0, impacts, &impact);
		svc = json_pack("{s:s, s:s, s:s, s:i}", "name", name, "title",
		    title != NULL ? title : name, "operator", operators[op],
		    "impact", impact + 1);
		list = json_array();
		conf_str_list(doc, node, "departments", "a department", list);
		json_object_set_new(svc, "departments", list);
		list = json_array();
		deps = cfg_seq(doc, node, "depends", 0);
		for (size_t k = 0; deps != NULL && k < deps->n; k++)
			conf_service_dep(doc, deps->items[k], list);
		json_object_set_new(svc, "depends", list);
		json_array_append_new(services, svc);
	}
	/* whom incidentd's own faults (a dead channel) are told */
	json_object_set_new(j, "recipients", conf_recipients(conf));
	conf->nservices = json_array_size(services);
	json_object_set_new(j, "services", services);
	conf_sla_load(doc, root, j);
	conf_retention_load(doc, cfg_map(doc, root, "retention", 0), j);
	conf->nagreements = json_array_size(json_object_get(j, "agreements"));
	if ((conf->lifecycle_json = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("cannot encode the service map as JSON");
	json_decref(j);
}

/* The contacts as the JSON array that incident_ingest() takes. */
static json_t *
conf_recipients(const struct inc_conf *conf)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < conf->ncontacts; i++) {
		const struct inc_contact *c = conf->contacts[i];

		json_array_append_new(arr,
		    json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:I}",
			"team", c->team, "email", c->email, "sms", c->sms,
			"sms_priorities", c->sms_priorities, "webhook",
			/* the URL stays here; the outbox names the contact */
			c->webhook != NULL ? c->name : NULL, "name", c->name,
			"lang", conf_mail_lang_str(c->lang), "after_ms",
			(json_int_t)c->escalate_after_ms));
	}
	return arr;
}

static char *
conf_recipients_json(const struct inc_conf *conf)
{
	json_t *arr = conf_recipients(conf);
	char *s;

	if ((s = json_dumps(arr, JSON_COMPACT)) == NULL)
		fatalx("cannot encode the contacts as JSON");
	json_decref(arr);
	return s;
}

/*
 * Loads and checks a config file.  Returns the configuration, or NULL when
 * there were errors; either way *docp holds the document and its errors.
 */
struct inc_conf *
conf_load(const char *path, struct cfg_doc **docp)
{
	return conf_load_doc(path, cfg_load_file(path, NULL), docp);
}

/*
 * As conf_load, on a document already parsed (which it takes): the
 * config the console's process gets from incidentd as text.
 */
struct inc_conf *
conf_load_doc(const char *path, struct cfg_doc *doc, struct cfg_doc **docp)
{
	static const char *const top_keys[] = { "instance", "database",
		"log_level", "poll_interval", "console_url", "mail_domain",
		"timezone", "smtp", "sms", "webhook", "notify", "contacts",
		"escalation", "calendars", "teams", "http", "ack", "agreements",
		"lifecycle", "services", "readable_secrets", "retention",
		NULL };
	const struct cfg_node *root;
	struct inc_conf *conf;
	const char *s;
	int level = LOG_LEVEL_INFO;

	*docp = doc;
	if (doc->nerrors > 0)
		return NULL;
	if ((root = doc->root) == NULL) {
		cfg_error(doc, NULL, "the file is empty");
		return NULL;
	}
	if (cfg_expect_map(doc, root, "the top level") == -1)
		return NULL;

	conf = xcalloc(1, sizeof(*conf));
	conf->file = xstrdup(path);
	cfg_check_keys(doc, root, "the top level", top_keys);
	conf->instance = conf_dup_opt(doc, root, "instance");
	if (conf->instance == NULL)
		conf->instance = xstrdup("incidentd");
	conf->database = conf_dup_opt(doc, root, "database");
	if (conf->database != NULL)
		cfg_check_conninfo(doc, cfg_get(root, "database"),
		    conf->database);
	cfg_enum(doc, root, "log_level", 0, log_level_names, &level);
	conf->log_level = (enum log_level)level;
	conf->poll_interval_ms = 5000;
	cfg_duration(doc, root, "poll_interval", 0, 100, 3600000,
	    &conf->poll_interval_ms);
	conf->console_url = conf_dup_opt(doc, root, "console_url");
	conf->mail_domain = conf_dup_opt(doc, root, "mail_domain");
	if (conf->mail_domain == NULL)
		conf->mail_domain = xstrdup("incidentd.invalid");
	else
		conf_check_mail_domain(doc, cfg_get(root, "mail_domain"),
		    conf->mail_domain);
	if (cfg_str(doc, root, "timezone", 0, &s) != 0)
		s = "Asia/Tokyo";
	else
		cfg_timezone(doc, cfg_get(root, "timezone"), s);
	conf->timezone = xstrdup(s);
	conf_smtp_load(doc, cfg_map(doc, root, "smtp", 0), &conf->smtp);
	conf_notify_load(doc, cfg_map(doc, root, "notify", 0), conf);
	conf_sms_load(doc, cfg_map(doc, root, "sms", 0), &conf->sms);
	conf_webhook_load(doc, cfg_map(doc, root, "webhook", 0),
	    &conf->webhook);
	conf_ack_load(doc, cfg_map(doc, root, "http", 0),
	    cfg_map(doc, root, "ack", 0), &conf->ack, &conf->http);
	conf_contacts_load(doc, cfg_seq(doc, root, "contacts", 0), conf);
	conf_escalation_load(doc, cfg_map(doc, root, "escalation", 0), conf);
	conf_lifecycle_load(doc, root, conf);
	cfg_check_secrets(doc, root);
	cfg_sort_errors(doc);
	for (size_t i = 0; i < conf->ncontacts; i++) {
		if (conf->contacts[i]->email != NULL &&
		    conf->smtp.url == NULL) {
			cfg_error(doc, root,
			    "contacts have mail addresses but there is no "
			    "smtp section to send through");
			break;
		}
	}
	for (size_t i = 0; i < conf->ncontacts; i++) {
		if (conf->contacts[i]->sms != NULL && conf->sms.spool == NULL &&
		    conf->sms.gateway == NULL) {
			cfg_error(doc, root,
			    "contacts have sms numbers but there is no sms "
			    "section to send through");
			break;
		}
	}
	if (doc->nerrors > 0) {
		conf_free(conf);
		return NULL;
	}
	conf->recipients_json = conf_recipients_json(conf);
	return conf;
}
