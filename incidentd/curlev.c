/*
 * libcurl's multi socket interface on the daemon's libevent loop, shared
 * by every sender that speaks through curl (SMTP, HTTP gateways and
 * webhooks): one libevent event per curl socket, one timer, and a done
 * callback per easy handle.  The sockets curl opens are made here,
 * close-on-exec, so that teardown can shut them down first and no
 * synchronous wait of curl's can outlive the daemon's stop.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "incidentd.h"
#include "log.h"
#include "xmalloc.h"

/* One easy handle in the multi handle, with its owner's callback. */
struct curlev_xfer {
	LIST_ENTRY(curlev_xfer) entry;
	CURL *easy;
	curlev_done_fn done;
	void *arg;
};

/* A socket curl asked us to watch, with its libevent event. */
struct curlev_sock {
	LIST_ENTRY(curlev_sock) entry;
	struct curlev *cev;
	curl_socket_t fd;
	short what;
	struct event *ev;
};

/* A socket curl opened through us, so that teardown can cut it. */
struct curlev_fd {
	LIST_ENTRY(curlev_fd) entry;
	curl_socket_t fd;
};

struct curlev {
	struct event_base *base;
	char *tag; /* "smtp", "sms", "webhook": for the logs */
	CURLM *multi;
	struct event *timer;
	LIST_HEAD(, curlev_xfer) xfers;
	LIST_HEAD(, curlev_sock) socks;
	LIST_HEAD(, curlev_fd) fds;
	size_t nxfers;
	int depth; /* > 0 while done callbacks run */
	int dying; /* curlev_free was called from a callback */
};

static int curlev_global_ready;

static void curlev_event_cb(evutil_socket_t, short, void *);
static void curlev_check(struct curlev *);
static void curlev_destroy(struct curlev *);

/* Sets up libcurl's global state once per process; never torn down. */
int
curlev_global_init(void)
{
	curl_version_info_data *vi;
	CURLcode rc;

	if (curlev_global_ready)
		return 0;
	if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		log_warnx("curl_global_init: %s", curl_easy_strerror(rc));
		return -1;
	}
	curlev_global_ready = 1;
	vi = curl_version_info(CURLVERSION_NOW);
	if (!(vi->features & CURL_VERSION_ASYNCHDNS))
		log_warnx("libcurl %s resolves names synchronously; use "
			  "addresses in URLs",
		    vi->version);
	return 0;
}

/* Watches, re-watches or forgets a socket as curl asks. */
static int
curlev_socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *sockp)
{
	struct curlev *cev = userp;
	struct curlev_sock *sock = sockp;
	short flags = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sock != NULL) {
			LIST_REMOVE(sock, entry);
			if (sock->ev != NULL)
				event_free(sock->ev);
			free(sock);
			curl_multi_assign(cev->multi, fd, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		flags |= EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		flags |= EV_WRITE;
	if (sock == NULL) {
		sock = xcalloc(1, sizeof(*sock));
		sock->cev = cev;
		sock->fd = fd;
		LIST_INSERT_HEAD(&cev->socks, sock, entry);
		curl_multi_assign(cev->multi, fd, sock);
	} else if (sock->what == flags)
		return 0;
	if (sock->ev != NULL)
		event_free(sock->ev);
	sock->what = flags;
	sock->ev = event_new(cev->base, fd, flags, curlev_event_cb, sock);
	if (sock->ev == NULL || event_add(sock->ev, NULL) == -1) {
		/* The transfer's own timeout will end it. */
		log_warnx("%s: cannot watch socket %d", cev->tag, (int)fd);
		return -1;
	}
	return 0;
}

/* Arms or disarms our one timer as curl asks; never calls back into curl. */
static int
curlev_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlev *cev = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(cev->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (evtimer_add(cev->timer, &tv) == -1) {
		log_warnx("%s: cannot arm the timer", cev->tag);
		return -1;
	}
	return 0;
}

/* A watched socket is ready: let curl work on it, then reap. */
static void
curlev_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curlev_sock *sock = arg;
	struct curlev *cev = sock->cev; /* sock may be gone after curl */
	int action = 0, running;
	CURLMcode mc;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	mc = curl_multi_socket_action(cev->multi, fd, action, &running);
	if (mc != CURLM_OK)
		log_warnx("%s: socket action: %s", cev->tag,
		    curl_multi_strerror(mc));
	curlev_check(cev);
}

/* curl's timer expired: let curl run its timeouts, then reap. */
static void
curlev_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curlev *cev = arg;
	int running;
	CURLMcode mc;

	(void)fd;
	(void)what;
	mc = curl_multi_socket_action(cev->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	if (mc != CURLM_OK)
		log_warnx("%s: timeout action: %s", cev->tag,
		    curl_multi_strerror(mc));
	curlev_check(cev);
}

/* Opens the sockets curl connects with, close-on-exec, and records them. */
static curl_socket_t
curlev_open_fn(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct curlev *cev = arg;
	struct curlev_fd *f;
	int fd;

	(void)purpose;
	fd =
	    socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
	if (fd == -1) {
		log_warn("%s: socket", cev->tag);
		return CURL_SOCKET_BAD;
	}
	f = xcalloc(1, sizeof(*f));
	f->fd = fd;
	LIST_INSERT_HEAD(&cev->fds, f, entry);
	return fd;
}

/* Closes a socket curl is done with and forgets it. */
static int
curlev_close_fn(void *arg, curl_socket_t fd)
{
	struct curlev *cev = arg;
	struct curlev_fd *f;

	LIST_FOREACH(f, &cev->fds, entry) {
		if (f->fd == fd) {
			LIST_REMOVE(f, entry);
			free(f);
			break;
		}
	}
	return close(fd);
}

/* Takes a transfer out of the multi handle and out of our list. */
static void
curlev_detach(struct curlev *cev, struct curlev_xfer *x)
{
	CURLMcode mc;

	mc = curl_multi_remove_handle(cev->multi, x->easy);
	if (mc != CURLM_OK)
		log_warnx("%s: remove: %s", cev->tag, curl_multi_strerror(mc));
	LIST_REMOVE(x, entry);
	cev->nxfers--;
}

/* Reaps finished transfers; stops early if a callback freed us. */
static void
curlev_check(struct curlev *cev)
{
	CURLMsg *m;
	int left;

	cev->depth++;
	while (!cev->dying && (m = curl_multi_info_read(cev->multi, &left))) {
		struct curlev_xfer *x = NULL;
		CURLcode rc;
		CURL *easy;

		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result; /* m dies with the handle */
		easy = m->easy_handle;
		LIST_FOREACH(x, &cev->xfers, entry)
			if (x->easy == easy)
				break;
		if (x == NULL) {
			curl_multi_remove_handle(cev->multi, easy);
			continue;
		}
		curlev_detach(cev, x);
		x->done(easy, rc, 0, x->arg);
		free(x);
	}
	cev->depth--;
	if (cev->dying && cev->depth == 0)
		curlev_destroy(cev);
}

/* Returns a driver on base, or NULL; tag names it in the logs. */
struct curlev *
curlev_new(struct event_base *base, const char *tag)
{
	struct curlev *cev;

	if (curlev_global_init() == -1)
		return NULL;
	cev = xcalloc(1, sizeof(*cev));
	cev->base = base;
	cev->tag = xstrdup(tag);
	LIST_INIT(&cev->xfers);
	LIST_INIT(&cev->socks);
	LIST_INIT(&cev->fds);
	if ((cev->timer = evtimer_new(base, curlev_timer_cb, cev)) == NULL) {
		log_warnx("%s: cannot create the timer", tag);
		curlev_destroy(cev);
		return NULL;
	}
	if ((cev->multi = curl_multi_init()) == NULL) {
		log_warnx("%s: curl_multi_init failed", tag);
		curlev_destroy(cev);
		return NULL;
	}
	curl_multi_setopt(cev->multi, CURLMOPT_SOCKETFUNCTION,
	    curlev_socket_fn);
	curl_multi_setopt(cev->multi, CURLMOPT_SOCKETDATA, cev);
	curl_multi_setopt(cev->multi, CURLMOPT_TIMERFUNCTION, curlev_timer_fn);
	curl_multi_setopt(cev->multi, CURLMOPT_TIMERDATA, cev);
	return cev;
}

/*
 * Starts a transfer whose options the caller has set.  The socket
 * functions and NOSIGNAL are set here.  done is called once from the
 * event loop when the transfer ends (aborted = 0), or from curlev_free
 * (aborted = 1); the caller then owns easy again.  Returns -1, and done
 * is never called, if curl cannot start it.
 */
int
curlev_add(struct curlev *cev, CURL *easy, curlev_done_fn done, void *arg)
{
	struct curlev_xfer *x;
	CURLcode rc = CURLE_OK;
	CURLMcode mc;

	if (cev == NULL || cev->dying)
		return -1;
#define SETOPT(opt, val)                                       \
	do {                                                   \
		if (rc == CURLE_OK)                            \
			rc = curl_easy_setopt(easy, opt, val); \
	} while (0)
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, curlev_open_fn);
	SETOPT(CURLOPT_OPENSOCKETDATA, cev);
	SETOPT(CURLOPT_CLOSESOCKETFUNCTION, curlev_close_fn);
	SETOPT(CURLOPT_CLOSESOCKETDATA, cev);
#undef SETOPT
	if (rc != CURLE_OK) {
		log_warnx("%s: setting up: %s", cev->tag,
		    curl_easy_strerror(rc));
		return -1;
	}
	if ((mc = curl_multi_add_handle(cev->multi, easy)) != CURLM_OK) {
		log_warnx("%s: %s", cev->tag, curl_multi_strerror(mc));
		return -1;
	}
	x = xcalloc(1, sizeof(*x));
	x->easy = easy;
	x->done = done;
	x->arg = arg;
	LIST_INSERT_HEAD(&cev->xfers, x, entry);
	cev->nxfers++;
	return 0;
}

/* Returns how many transfers have not ended yet. */
size_t
curlev_in_flight(const struct curlev *cev)
{
	return cev == NULL ? 0 : cev->nxfers;
}

/*
 * Tears everything down.  Sockets are shut down first so that curl's
 * synchronous waits (an SMTP QUIT, the end of an aborted message) fail
 * at once and an aborted transfer can never complete.
 */
static void
curlev_destroy(struct curlev *cev)
{
	struct curlev_xfer *x;
	struct curlev_sock *sock;
	struct curlev_fd *f;

	LIST_FOREACH(f, &cev->fds, entry)
		shutdown(f->fd, SHUT_RDWR);
	while ((x = LIST_FIRST(&cev->xfers)) != NULL) {
		curlev_detach(cev, x);
		x->done(x->easy, CURLE_ABORTED_BY_CALLBACK, 1, x->arg);
		free(x);
	}
	if (cev->multi != NULL)
		curl_multi_cleanup(cev->multi);
	while ((sock = LIST_FIRST(&cev->socks)) != NULL) {
		LIST_REMOVE(sock, entry);
		if (sock->ev != NULL)
			event_free(sock->ev);
		free(sock);
	}
	while ((f = LIST_FIRST(&cev->fds)) != NULL) {
		LIST_REMOVE(f, entry);
		close(f->fd);
		free(f);
	}
	if (cev->timer != NULL)
		event_free(cev->timer);
	free(cev->tag);
	free(cev);
}

/*
 * Aborts every transfer (each done callback is told so) and frees the
 * driver.  Safe to call from inside a done callback: the teardown then
 * waits until the callback returns.
 */
void
curlev_free(struct curlev *cev)
{
	if (cev == NULL)
		return;
	if (cev->depth > 0) {
		cev->dying = 1;
		return;
	}
	curlev_destroy(cev);
}
