/*
 * HTTP endpoints on evhttp (httpd.c).
 */
#ifndef COMMON_HTTPD_H
#define COMMON_HTTPD_H

#include <sys/socket.h>

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>

struct httpd;

/* What one endpoint accepts. */
struct httpd_limits {
	size_t max_headers;
	size_t max_body;
	int timeout_s; /* idle connections are closed after */
};

typedef void (*httpd_cb)(struct evhttp_request *, void *);

int httpd_parse_listen(const char *, struct sockaddr_storage *, socklen_t *,
    const char **);
struct httpd *httpd_new(struct event_base *, const char *, const char *,
    const struct httpd_limits *, httpd_cb, void *);
int httpd_port(const struct httpd *);
struct evhttp *httpd_evhttp(struct httpd *);
void httpd_free(struct httpd *);
void httpd_reply(struct evhttp_request *, int, const char *);

#endif
