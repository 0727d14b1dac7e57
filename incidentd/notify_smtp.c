/*
 * Sending mail through an SMTP relay with libcurl's multi socket interface
 * on the daemon's libevent loop (curlev.c), one easy handle per message.  Every
 * way a transfer ends is an outcome for the caller, never a reason to exit.
 *
 * libcurl (7.88 at least) waits synchronously for the server's reply to
 * the final "." of a message (curl issue #8555) and for the reply to QUIT
 * when it closes a connection; the first wait is bounded by timeout_ms and
 * the second is avoided at shutdown by shutting the sockets down first.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "incidentd.h"
#include "log.h"
#include "xmalloc.h"

/* Used when the configuration leaves timeout_ms at 0 (curl: forever). */
#define NOTIFY_SMTP_DEFAULT_TIMEOUT_MS 60000

/* Where a transfer is in its life; moves go through one logged function. */
enum smtp_xfer_state {
	SMTP_XFER_NEW, /* easy handle being set up */
	SMTP_XFER_RUNNING, /* added to the multi handle */
	SMTP_XFER_DONE, /* finished; the callback is being called */
	SMTP_XFER_ABORTED /* dropped by notify_smtp_free, no callback */
};

/* One message on its way: an easy handle and the caller's callback. */
struct smtp_xfer {
	unsigned long long id;
	enum smtp_xfer_state state;
	CURL *easy;
	struct curl_slist *rcpt;
	char *msg; /* our copy */
	size_t len, off;
	notify_smtp_cb cb;
	void *arg;
	struct smtp_reply reply; /* being read */
	struct smtp_reply refusal; /* the last 4xx/5xx reply */
	struct smtp_reply accept; /* the last 250 reply */
	char errbuf[CURL_ERROR_SIZE];
};

/* The sender: the relay's settings, the multi handle and what is in flight. */
struct notify_smtp {
	struct event_base *base;
	struct curlev *cev;
	char *url;
	char *mail_from; /* "<addr>" */
	char *username;
	char *password;
	int starttls;
	int verify_tls;
	long timeout_ms;
	unsigned long long next_id;
};

static const char *const smtp_outcome_names[] = {
	[SMTP_SENT] = "sent",
	[SMTP_REFUSED] = "refused",
	[SMTP_UNREACHABLE] = "unreachable",
	[SMTP_TIMEOUT] = "timeout",
	[SMTP_ERROR] = "error",
};

static const char *const smtp_xfer_state_names[] = {
	[SMTP_XFER_NEW] = "new",
	[SMTP_XFER_RUNNING] = "running",
	[SMTP_XFER_DONE] = "done",
	[SMTP_XFER_ABORTED] = "aborted",
};

const char *
notify_smtp_outcome_str(enum smtp_outcome o)
{
	if ((unsigned)o > SMTP_ERROR)
		return "?";
	return smtp_outcome_names[o];
}

/* Names a transfer state for the logs. */
static const char *
notify_smtp_xfer_state_str(enum smtp_xfer_state s)
{
	if ((unsigned)s > SMTP_XFER_ABORTED)
		return "?";
	return smtp_xfer_state_names[s];
}

/* Moves a transfer to its next state; any other move is a bug. */
static void
notify_smtp_set_state(struct smtp_xfer *x, enum smtp_xfer_state next)
{
	int ok;

	switch (next) {
	case SMTP_XFER_RUNNING:
		ok = x->state == SMTP_XFER_NEW;
		break;
	case SMTP_XFER_DONE:
		ok = x->state == SMTP_XFER_RUNNING;
		break;
	case SMTP_XFER_ABORTED:
		ok = x->state == SMTP_XFER_NEW || x->state == SMTP_XFER_RUNNING;
		break;
	default:
		ok = 0;
		break;
	}
	if (!ok)
		fatalx("smtp: #%llu: bad move %s -> %s", x->id,
		    notify_smtp_xfer_state_str(x->state),
		    notify_smtp_xfer_state_str(next));
	log_debug("smtp: #%llu: %s -> %s", x->id,
	    notify_smtp_xfer_state_str(x->state),
	    notify_smtp_xfer_state_str(next));
	x->state = next;
}

/*
 * Maps how curl ended a transfer to an outcome.  response is the last SMTP
 * reply code (0 if none); connected says whether a TCP connection was made,
 * so that a connect timeout counts as unreachable.
 */
enum smtp_outcome
notify_smtp_classify(int code, long response, int connected)
{
	switch (code) {
	case CURLE_OK:
		return response >= 400 ? SMTP_REFUSED : SMTP_SENT;
	case CURLE_OPERATION_TIMEDOUT:
		return connected ? SMTP_TIMEOUT : SMTP_UNREACHABLE;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return SMTP_UNREACHABLE;
	case CURLE_LOGIN_DENIED:
		return SMTP_REFUSED;
	default:
		break;
	}
	if (response >= 400 && response <= 599)
		return SMTP_REFUSED;
	return SMTP_ERROR;
}

/* Appends text to a reply, controls as spaces, cut at a character edge. */
static void
notify_smtp_reply_add(struct smtp_reply *r, const char *s, size_t n)
{
	size_t room = sizeof(r->text) - 1 - r->len;

	if (n > room) {
		n = room;
		/* Do not leave half a UTF-8 character at the end. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		r->text[r->len++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	r->text[r->len] = '\0';
}

/*
 * Feeds server reply lines ("250-PIPELINING", "550 5.1.1 no such user")
 * as curl shows them, keeping the latest reply, its lines joined by
 * spaces.  Lines that are not replies are ignored.
 */
void
notify_smtp_reply_feed(struct smtp_reply *r, const char *buf, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;
		size_t next = nl ? n + 1 : n;
		const char *line = buf;
		int code;
		char sep;

		buf += next;
		len -= next;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
		    line[1] > '9' || line[2] < '0' || line[2] > '9')
			continue;
		sep = n > 3 ? line[3] : ' ';
		if (sep != ' ' && sep != '-')
			continue;
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (r->code == 0 || r->complete || code != r->code) {
			r->code = code;
			r->len = 0;
			r->text[0] = '\0';
			notify_smtp_reply_add(r, line, 3);
		}
		if (n > 4) {
			notify_smtp_reply_add(r, " ", 1);
			notify_smtp_reply_add(r, line + 4, n - 4);
		}
		r->complete = sep == ' ';
	}
}

/*
 * Collects the server's replies for readable errors.  Only what the server
 * sends is looked at: what we send includes AUTH, which carries the
 * password.
 */
static int
notify_smtp_debug_fn(CURL *easy, curl_infotype type, char *data, size_t size,
    void *arg)
{
	struct smtp_xfer *x = arg;

	(void)easy;
	if (type != CURLINFO_HEADER_IN)
		return 0;
	notify_smtp_reply_feed(&x->reply, data, size);
	if (!x->reply.complete)
		return 0;
	log_debug("smtp: #%llu: < %s", x->id, x->reply.text);
	/* Keep the refusal and the acceptance apart from the QUIT reply. */
	if (x->reply.code >= 400)
		x->refusal = x->reply;
	else if (x->reply.code == 250)
		x->accept = x->reply;
	return 0;
}

/* Hands curl the next piece of our copy of the message. */
static size_t
notify_smtp_read_fn(char *buf, size_t size, size_t nitems, void *arg)
{
	struct smtp_xfer *x = arg;
	size_t n = size * nitems;

	if (n > x->len - x->off)
		n = x->len - x->off;
	memcpy(buf, x->msg + x->off, n);
	x->off += n;
	return n;
}

/* Frees a transfer that is no longer in the multi handle. */
static void
notify_smtp_xfer_free(struct smtp_xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->rcpt);
	free(x->msg);
	free(x);
}

/* Returns the text handed to the callback along with the outcome. */
static char *
notify_smtp_text(struct smtp_xfer *x, CURLcode rc, long resp,
    enum smtp_outcome o)
{
	const char *msg;

	if (o == SMTP_SENT) {
		if (x->accept.code != 0)
			return xstrdup(x->accept.text);
		return xasprintf("%ld", resp);
	}
	msg = x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(rc);
	if (x->refusal.code != 0 && x->refusal.code == resp)
		return xasprintf("%s; server said: %s", msg, x->refusal.text);
	if (resp != 0)
		return xasprintf("%s (response %ld)", msg, resp);
	return xstrdup(msg);
}

/* Ends a transfer: outcome, log, callback, free; no callback if aborted. */
static void
notify_smtp_done(CURL *easy, CURLcode rc, int aborted, void *arg)
{
	struct smtp_xfer *x = arg;
	enum smtp_outcome o;
	notify_smtp_cb cb = x->cb;
	void *cbarg = x->arg;
	curl_off_t connect_us = 0;
	long resp = 0;
	char *text;

	if (aborted) {
		notify_smtp_set_state(x, SMTP_XFER_ABORTED);
		notify_smtp_xfer_free(x);
		return;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp);
	curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
	o = notify_smtp_classify(rc, resp, connect_us > 0 || x->reply.code);
	text = notify_smtp_text(x, rc, resp, o);
	/* The caller logs the outcome with its own context. */
	log_debug("smtp: #%llu: %s: %s", x->id, notify_smtp_outcome_str(o),
	    text);
	notify_smtp_set_state(x, SMTP_XFER_DONE);
	notify_smtp_xfer_free(x);
	if (cb != NULL)
		cb(o, text, cbarg);
	free(text);
}

/*
 * Returns a sender for one relay, or NULL.  The configuration is copied.
 * libcurl's global state is set up here, on first use, once for the
 * process; it is never torn down.
 */
struct notify_smtp *
notify_smtp_new(struct event_base *base, const struct smtp_conf *conf)
{
	struct notify_smtp *ns;

	if (conf->url == NULL || *conf->url == '\0') {
		log_warnx("smtp: no relay URL");
		return NULL;
	}
	if (!mail_address_valid(conf->from)) {
		log_warnx("smtp: invalid sender address");
		return NULL;
	}
	ns = xcalloc(1, sizeof(*ns));
	ns->base = base;
	ns->url = xstrdup(conf->url);
	ns->mail_from = xasprintf("<%s>", conf->from);
	if (conf->username != NULL && *conf->username != '\0') {
		ns->username = xstrdup(conf->username);
		if (conf->password != NULL)
			ns->password = xstrdup(conf->password);
	}
	ns->starttls = conf->starttls;
	ns->verify_tls = conf->verify_tls;
	ns->timeout_ms = conf->timeout_ms == 0 ?
	    NOTIFY_SMTP_DEFAULT_TIMEOUT_MS :
	    conf->timeout_ms > LONG_MAX ? LONG_MAX :
					  (long)conf->timeout_ms;
	if ((ns->cev = curlev_new(base, "smtp")) == NULL) {
		notify_smtp_free(ns);
		return NULL;
	}
	log_debug("smtp: relay ready, timeout %ld ms, starttls %s, verify %s",
	    ns->timeout_ms, ns->starttls ? "required" : "no",
	    ns->verify_tls ? "yes" : "no");
	return ns;
}

/* Sets the options of one transfer; -1 if curl refused one of them. */
static int
notify_smtp_setup(struct notify_smtp *ns, struct smtp_xfer *x)
{
	CURL *e = x->easy;
	CURLcode rc = CURLE_OK;
	long resp_s = (ns->timeout_ms + 999) / 1000;

	/* Each call is checked; the first failure stops the chain. */
#define SETOPT(opt, val)                                    \
	do {                                                \
		if (rc == CURLE_OK)                         \
			rc = curl_easy_setopt(e, opt, val); \
	} while (0)
	SETOPT(CURLOPT_URL, ns->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
	SETOPT(CURLOPT_MAIL_FROM, ns->mail_from);
	SETOPT(CURLOPT_MAIL_RCPT, x->rcpt);
	SETOPT(CURLOPT_UPLOAD, 1L);
	SETOPT(CURLOPT_READFUNCTION, notify_smtp_read_fn);
	SETOPT(CURLOPT_READDATA, x);
	SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->len);
	SETOPT(CURLOPT_TIMEOUT_MS, ns->timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, ns->timeout_ms);
	/* Bounds curl's synchronous waits (end of data, QUIT). */
	SETOPT(CURLOPT_SERVER_RESPONSE_TIMEOUT, resp_s > 0 ? resp_s : 1L);
	SETOPT(CURLOPT_USE_SSL,
	    (long)(ns->starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
	SETOPT(CURLOPT_SSL_VERIFYPEER, ns->verify_tls ? 1L : 0L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, ns->verify_tls ? 2L : 0L);
	if (ns->username != NULL)
		SETOPT(CURLOPT_USERNAME, ns->username);
	if (ns->password != NULL)
		SETOPT(CURLOPT_PASSWORD, ns->password);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	/* VERBOSE only feeds the debug function, which prints nothing. */
	SETOPT(CURLOPT_DEBUGFUNCTION, notify_smtp_debug_fn);
	SETOPT(CURLOPT_DEBUGDATA, x);
	SETOPT(CURLOPT_VERBOSE, 1L);
#undef SETOPT
	if (rc != CURLE_OK) {
		log_warnx("smtp: #%llu: setting up: %s", x->id,
		    curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * Starts sending a copy of msg to the recipients; cb is called once, from
 * the event loop, when the transfer ends.  Returns -1 (and cb is never
 * called) if a recipient is not a plain address or curl cannot start.
 */
int
notify_smtp_send(struct notify_smtp *ns, const char *const *rcpt, size_t nrcpt,
    const char *msg, size_t len, notify_smtp_cb cb, void *arg)
{
	struct smtp_xfer *x;

	if (ns == NULL) {
		log_warnx("smtp: no sender");
		return -1;
	}
	if (nrcpt == 0) {
		log_warnx("smtp: no recipient");
		return -1;
	}
	for (size_t i = 0; i < nrcpt; i++) {
		if (!mail_address_valid(rcpt[i])) {
			log_warnx("smtp: invalid recipient address #%zu",
			    i + 1);
			return -1;
		}
	}

	x = xcalloc(1, sizeof(*x));
	x->id = ++ns->next_id;
	x->state = SMTP_XFER_NEW;
	x->msg = xmalloc(len > 0 ? len : 1);
	memcpy(x->msg, msg, len);
	x->len = len;
	x->cb = cb;
	x->arg = arg;
	for (size_t i = 0; i < nrcpt; i++) {
		char *r = xasprintf("<%s>", rcpt[i]);
		struct curl_slist *l = curl_slist_append(x->rcpt, r);

		free(r);
		if (l == NULL) {
			log_warnx("smtp: #%llu: out of memory", x->id);
			notify_smtp_xfer_free(x);
			return -1;
		}
		x->rcpt = l;
	}
	if ((x->easy = curl_easy_init()) == NULL) {
		log_warnx("smtp: #%llu: curl_easy_init failed", x->id);
		notify_smtp_xfer_free(x);
		return -1;
	}
	if (notify_smtp_setup(ns, x) == -1) {
		notify_smtp_xfer_free(x);
		return -1;
	}
	if (curlev_add(ns->cev, x->easy, notify_smtp_done, x) == -1) {
		notify_smtp_xfer_free(x);
		return -1;
	}
	notify_smtp_set_state(x, SMTP_XFER_RUNNING);
	log_debug("smtp: #%llu: %zu bytes to %zu recipient(s)", x->id, len,
	    nrcpt);
	return 0;
}

/* Returns how many transfers have not ended yet. */
size_t
notify_smtp_in_flight(const struct notify_smtp *ns)
{
	return ns == NULL ? 0 : curlev_in_flight(ns->cev);
}

/*
 * Aborts every transfer without calling its callback and frees the sender.
 * Safe to call from inside a callback: the transfers are then aborted
 * when the callback returns.
 */
void
notify_smtp_free(struct notify_smtp *ns)
{
	if (ns == NULL)
		return;
	curlev_free(ns->cev);
	if (ns->password != NULL)
		explicit_bzero(ns->password, strlen(ns->password));
	free(ns->password);
	free(ns->username);
	free(ns->mail_from);
	free(ns->url);
	free(ns);
}
