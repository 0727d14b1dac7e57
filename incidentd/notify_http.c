/*
 * HTTP requests on the event loop (curlev.c), for SMS gateways and
 * webhooks: one request per notification, a bounded reply kept for the
 * success test, no redirects followed, only http and https.  Also the
 * templates a gateway is described with: "{to}", "{text}", "{ref}",
 * "{priority}" and "{kind}" replaced, encoded for where they stand.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "incidentd.h"
#include "log.h"
#include "xmalloc.h"

/* What of a reply is kept for the success test and the logs. */
#define HTTP_REPLY_MAX 16384

/* Used when the configuration leaves the timeout at 0. */
#define HTTP_DEFAULT_TIMEOUT_MS 10000

struct notify_http {
	struct curlev *cev;
	unsigned long long next_id;
};

/* One request on its way. */
struct http_xfer {
	unsigned long long id;
	CURL *easy;
	struct curl_slist *headers;
	char *body; /* our copy of the request body */
	char *reply; /* what came back, cut at HTTP_REPLY_MAX */
	size_t reply_len;
	notify_http_cb cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
};

static const char *const http_placeholders[] = { "to", "text", "ref",
	"priority", "kind", NULL };

struct notify_http *
notify_http_new(struct event_base *base, const char *tag)
{
	struct notify_http *nh = xcalloc(1, sizeof(*nh));

	if ((nh->cev = curlev_new(base, tag)) == NULL) {
		free(nh);
		return NULL;
	}
	return nh;
}

void
notify_http_free(struct notify_http *nh)
{
	if (nh == NULL)
		return;
	curlev_free(nh->cev);
	free(nh);
}

size_t
notify_http_in_flight(const struct notify_http *nh)
{
	return nh == NULL ? 0 : curlev_in_flight(nh->cev);
}

static void
notify_http_xfer_free(struct http_xfer *x)
{
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	free(x->reply);
	free(x);
}

/* Keeps the start of the reply; the rest is read and dropped. */
static size_t
notify_http_write_fn(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	size_t n = size * nmemb, room = HTTP_REPLY_MAX - x->reply_len;

	if (room > 0) {
		size_t take = n < room ? n : room;

		memcpy(x->reply + x->reply_len, data, take);
		x->reply_len += take;
		x->reply[x->reply_len] = '\0';
	}
	return n;
}

static void
notify_http_xfer_done(CURL *easy, CURLcode rc, int aborted, void *arg)
{
	struct http_xfer *x = arg;
	long status = 0;
	char *err = NULL;

	if (aborted) {
		notify_http_xfer_free(x);
		return;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		err = xasprintf("%s",
		    x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(rc));
	log_debug("http: #%llu: status %ld%s%s", x->id, status, err ? ": " : "",
	    err ? err : "");
	x->cb(rc == CURLE_OK ? status : 0, x->reply, x->reply_len, err, x->arg);
	free(err);
	notify_http_xfer_free(x);
}

/*
 * Starts a request; cb is called once, from the event loop, with the
 * status (0 if no reply came) and the start of the reply, or an error.
 * Returns -1, and cb is never called, if it cannot start.
 */
int
notify_http_send(struct notify_http *nh, const struct http_req *req,
    notify_http_cb cb, void *arg)
{
	struct http_xfer *x;
	CURLcode rc = CURLE_OK;
	long timeout = req->timeout_ms == 0 ? HTTP_DEFAULT_TIMEOUT_MS :
					      (long)req->timeout_ms;

	if (nh == NULL)
		return -1;
	x = xcalloc(1, sizeof(*x));
	x->id = ++nh->next_id;
	x->cb = cb;
	x->arg = arg;
	x->reply = xmalloc(HTTP_REPLY_MAX + 1);
	x->reply[0] = '\0';
	for (size_t i = 0; i < req->nheaders; i++) {
		struct curl_slist *l =
		    curl_slist_append(x->headers, req->headers[i]);

		if (l == NULL) {
			notify_http_xfer_free(x);
			return -1;
		}
		x->headers = l;
	}
	if ((x->easy = curl_easy_init()) == NULL) {
		notify_http_xfer_free(x);
		return -1;
	}
#define SETOPT(opt, val)                                          \
	do {                                                      \
		if (rc == CURLE_OK)                               \
			rc = curl_easy_setopt(x->easy, opt, val); \
	} while (0)
	SETOPT(CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_TIMEOUT_MS, timeout);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, timeout);
	SETOPT(CURLOPT_SSL_VERIFYPEER, req->verify_tls ? 1L : 0L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, req->verify_tls ? 2L : 0L);
	SETOPT(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SETOPT(CURLOPT_WRITEFUNCTION, notify_http_write_fn);
	SETOPT(CURLOPT_WRITEDATA, x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	if (x->headers != NULL)
		SETOPT(CURLOPT_HTTPHEADER, x->headers);
	if (req->body != NULL) {
		x->body = xmalloc(req->body_len + 1);
		memcpy(x->body, req->body, req->body_len);
		x->body[req->body_len] = '\0';
		SETOPT(CURLOPT_POSTFIELDS, x->body);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	if (strcmp(req->method, "GET") == 0)
		SETOPT(CURLOPT_HTTPGET, 1L);
	else if (strcmp(req->method, "POST") != 0 || req->body == NULL)
		SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
#undef SETOPT
	if (rc != CURLE_OK) {
		log_warnx("http: #%llu: setting up: %s", x->id,
		    curl_easy_strerror(rc));
		notify_http_xfer_free(x);
		return -1;
	}
	if (curlev_add(nh->cev, x->easy, notify_http_xfer_done, x) == -1) {
		notify_http_xfer_free(x);
		return -1;
	}
	return 0;
}

/* Appends n bytes to a growing string. */
static void
notify_http_append(char **out, size_t *len, size_t *cap, const char *s,
    size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*out = xreallocarray(*out, *cap, 1);
	}
	memcpy(*out + *len, s, n);
	*len += n;
	(*out)[*len] = '\0';
}

/* Appends a value encoded for where it stands. */
static void
notify_http_append_encoded(char **out, size_t *len, size_t *cap, const char *v,
    enum http_enc enc)
{
	static const char hex[] = "0123456789ABCDEF";
	char buf[8];

	if (enc == HTTP_ENC_JSON) {
		json_t *j = json_string(v);
		char *s = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

		/* without the quotes: the template has them */
		if (s != NULL && strlen(s) >= 2)
			notify_http_append(out, len, cap, s + 1, strlen(s) - 2);
		free(s);
		json_decref(j);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (enc == HTTP_ENC_NONE ||
		    ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
			*p == '_' || *p == '~')) {
			notify_http_append(out, len, cap, (const char *)p, 1);
			continue;
		}
		buf[0] = '%';
		buf[1] = hex[*p >> 4];
		buf[2] = hex[*p & 15];
		notify_http_append(out, len, cap, buf, 3);
	}
}

/*
 * Returns the index of the placeholder at s ("{to}"...), with its length
 * in *n; -1 if s is not at a known placeholder, -2 if it looks like one
 * ("{" letters "}") but is not known.
 */
static int
notify_http_placeholder_at(const char *s, size_t *n)
{
	size_t k = 1;

	if (s[0] != '{')
		return -1;
	while ((s[k] >= 'a' && s[k] <= 'z') || s[k] == '_')
		k++;
	if (k == 1 || s[k] != '}')
		return -1;
	*n = k + 1;
	for (int i = 0; http_placeholders[i] != NULL; i++)
		if (strlen(http_placeholders[i]) == k - 1 &&
		    strncmp(s + 1, http_placeholders[i], k - 1) == 0)
			return i;
	return -2;
}

/*
 * Checks a template; returns NULL, or the first unknown placeholder as
 * an error text.  Braces that are not placeholders ("{\"to\": ...}") are
 * left alone.
 */
char *
notify_http_template_check(const char *tmpl)
{
	size_t n;

	for (const char *p = tmpl; *p; p++)
		if (notify_http_placeholder_at(p, &n) == -2)
			return xasprintf("unknown placeholder '%.*s' (known: "
					 "{to}, {text}, {ref}, {priority}, "
					 "{kind})",
			    (int)n, p);
	return NULL;
}

/* Fills a template; values are in the order of http_placeholders. */
char *
notify_http_template(const char *tmpl, const char *const vals[5],
    enum http_enc enc)
{
	size_t len = 0, cap = strlen(tmpl) + 64, n;
	char *out = xmalloc(cap);
	int i;

	out[0] = '\0';
	for (const char *p = tmpl; *p;) {
		if ((i = notify_http_placeholder_at(p, &n)) >= 0) {
			notify_http_append_encoded(&out, &len, &cap,
			    vals[i] != NULL ? vals[i] : "", enc);
			p += n;
		} else {
			notify_http_append(&out, &len, &cap, p, 1);
			p++;
		}
	}
	return out;
}
