/*
 * HTTP endpoints on libevent's evhttp in a daemon's own event loop: a
 * numeric listen address ("127.0.0.1:9810", "[::1]:9810"; nothing
 * resolves names), a socket bound before privileges are dropped, small
 * limits on headers, bodies and idle time, and a pause in accepting after
 * an accept error (out of descriptors) instead of a busy loop.  monitord's
 * metrics and passive results and incidentd's pages are served so.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "httpd.h"
#include "log.h"
#include "xmalloc.h"

#define HTTPD_BACKLOG 64
#define HTTPD_ACCEPT_PAUSE_S 1

struct httpd {
	struct evhttp *http;
	struct event *ev_resume; /* re-enables accepting after an error */
	struct evconnlistener *listener;
	char *listen;
	char *tag; /* "metrics", "http": for the logs */
	int port;
	int paused; /* accepting stopped after an accept error */
	httpd_cb cb;
	void *arg;
	SLIST_ENTRY(httpd) link;
};

/*
 * Every live endpoint.  evhttp gives its listener's error callback the
 * evhttp itself as argument, so that callback finds its endpoint here.
 */
static SLIST_HEAD(, httpd) httpd_all = SLIST_HEAD_INITIALIZER(httpd_all);

/*
 * Parses "1.2.3.4:port" or "[v6]:port" with a numeric host into ss; port 0
 * asks the kernel for one.  Returns 0, or -1 with *whyp saying why (the
 * config check reports it at the key's position).
 */
int
httpd_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen,
    const char **whyp)
{
	struct addrinfo hints, *res;
	const char *colon, *port, *why;
	char host[128];
	size_t hostlen, i;
	int error, v6;

	if (s == NULL || *s == '\0') {
		why = "empty listen address";
		goto bad;
	}
	v6 = s[0] == '[';
	if (v6) {
		if ((colon = strchr(s, ']')) == NULL || colon[1] != ':') {
			why = "an IPv6 address needs the form [::1]:port";
			goto bad;
		}
		hostlen = (size_t)(colon - s - 1);
		memcpy(host, s + 1,
		    hostlen < sizeof(host) ? hostlen : sizeof(host) - 1);
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			why = "no port (host:port)";
			goto bad;
		}
		hostlen = (size_t)(colon - s);
		if (memchr(s, ':', hostlen) != NULL) {
			why = "an IPv6 address needs the form [::1]:port";
			goto bad;
		}
		memcpy(host, s,
		    hostlen < sizeof(host) ? hostlen : sizeof(host) - 1);
	}
	if (hostlen == 0) {
		why = "no host (use 0.0.0.0 or [::] for every address)";
		goto bad;
	}
	if (hostlen >= sizeof(host)) {
		why = "host too long";
		goto bad;
	}
	host[hostlen] = '\0';
	port = colon + 1;
	for (i = 0; port[i] != '\0'; i++)
		if (port[i] < '0' || port[i] > '9' || i >= 5)
			break;
	if (i == 0 || port[i] != '\0' || atoi(port) > 65535) {
		why = "bad port";
		goto bad;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = v6 ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		why = error == EAI_NONAME ?
		    "the host must be a numeric address" :
		    gai_strerror(error);
		goto bad;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		why = "address too long";
		goto bad;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;

bad:
	*whyp = why;
	return -1;
}

/* Opens a non-blocking listening socket on ss; -1 with errno set. */
static int
httpd_socket(const struct sockaddr_storage *ss, socklen_t sslen)
{
	int fd, on = 1, saved;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss->ss_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) ==
		    -1) ||
	    bind(fd, (const struct sockaddr *)ss, sslen) == -1 ||
	    listen(fd, HTTPD_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Returns the port fd is bound to, or 0. */
static int
httpd_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/*
 * Sends the reply whose body is in the request's output buffer.  For HEAD
 * the body is dropped and its length kept, since evhttp 2.1 would send it.
 */
void
httpd_reply(struct evhttp_request *req, int code, const char *type)
{
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evhttp_request_get_output_buffer(req);
	char len[32];

	evhttp_add_header(hdrs, "Content-Type", type);
	evhttp_add_header(hdrs, "Cache-Control", "no-store");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_add_header(hdrs, "Content-Length", len);
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	evhttp_send_reply(req, code, NULL, NULL);
}

/* Accepts again after a pause. */
static void
httpd_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct httpd *h = arg;

	(void)fd;
	(void)events;
	evconnlistener_enable(h->listener);
}

/*
 * Pauses accepting after an accept error other than a transient one (out
 * of descriptors, mostly): libevent would otherwise retry in a busy loop.
 * arg is the evhttp that owns the listener.
 */
static void
httpd_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct httpd *h;
	struct timeval tv = { HTTPD_ACCEPT_PAUSE_S, 0 };
	int error = EVUTIL_SOCKET_ERROR();

	evconnlistener_disable(lev);
	SLIST_FOREACH(h, &httpd_all, link)
		if (h->http == arg)
			break;
	if (h == NULL) {
		log_warnx("http: accept failed on an unknown endpoint");
		return;
	}
	if (!h->paused) {
		errno = error;
		log_warn("%s: accept on %s failed, pausing", h->tag, h->listen);
	}
	h->paused = 1;
	evtimer_add(h->ev_resume, &tv);
}

/* Notes that accepting works again, then hands the request on. */
static void
httpd_request_cb(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;

	if (h->paused && !evtimer_pending(h->ev_resume, NULL)) {
		log_notice("%s: accepting connections again", h->tag);
		h->paused = 0;
	}
	h->cb(req, h->arg);
}

/*
 * Binds an endpoint to listen (port 0 picks one) and serves it on base,
 * every request to cb; every method reaches cb, which answers 405 where
 * it must.  Returns NULL after logging when the address is malformed, not
 * numeric, or cannot be bound.
 */
struct httpd *
httpd_new(struct event_base *base, const char *listen, const char *tag,
    const struct httpd_limits *lim, httpd_cb cb, void *arg)
{
	struct httpd *h;
	struct evconnlistener *lev;
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *why;
	int fd;

	if (httpd_parse_listen(listen, &ss, &sslen, &why) == -1) {
		log_warnx("%s: bad listen address \"%s\": %s", tag, listen,
		    why);
		return NULL;
	}
	if ((fd = httpd_socket(&ss, sslen)) == -1) {
		log_warn("%s: cannot listen on %s", tag, listen);
		return NULL;
	}

	h = xcalloc(1, sizeof(*h));
	h->listen = xstrdup(listen);
	h->tag = xstrdup(tag);
	h->cb = cb;
	h->arg = arg;
	h->port = httpd_bound_port(fd);
	if ((h->http = evhttp_new(base)) == NULL ||
	    (h->ev_resume = evtimer_new(base, httpd_resume_cb, h)) == NULL) {
		log_warnx("%s: cannot create the HTTP server", tag);
		close(fd);
		httpd_free(h);
		return NULL;
	}
	evhttp_set_max_headers_size(h->http, (ev_ssize_t)lim->max_headers);
	evhttp_set_max_body_size(h->http, (ev_ssize_t)lim->max_body);
	evhttp_set_timeout(h->http, lim->timeout_s);
	evhttp_set_allowed_methods(h->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->http, httpd_request_cb, h);
	/* The listener owns fd from here; the evhttp owns the listener. */
	if ((lev = evconnlistener_new(base, NULL, NULL,
		 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd)) ==
	    NULL) {
		log_warnx("%s: cannot serve on %s", tag, listen);
		close(fd);
		httpd_free(h);
		return NULL;
	}
	if (evhttp_bind_listener(h->http, lev) == NULL) {
		log_warnx("%s: cannot serve on %s", tag, listen);
		evconnlistener_free(lev);
		httpd_free(h);
		return NULL;
	}
	h->listener = lev;
	evconnlistener_set_error_cb(lev, httpd_accept_error_cb);
	SLIST_INSERT_HEAD(&httpd_all, h, link);
	log_info("%s: listening on %s (port %d)", tag, listen, h->port);
	return h;
}

/* The endpoint's evhttp, for settings of one daemon's own (TLS). */
struct evhttp *
httpd_evhttp(struct httpd *h)
{
	return h->http;
}

/* Returns the port the endpoint listens on, useful after asking for 0. */
int
httpd_port(const struct httpd *h)
{
	return h->port;
}

/*
 * Closes the endpoint and every connection it has open.  Not to be called
 * from inside a request callback.
 */
void
httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->listener != NULL)
		SLIST_REMOVE(&httpd_all, h, httpd, link);
	if (h->http != NULL)
		evhttp_free(h->http);
	if (h->ev_resume != NULL)
		event_free(h->ev_resume);
	free(h->listen);
	free(h->tag);
	free(h);
}
