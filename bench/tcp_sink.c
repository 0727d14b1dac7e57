/*
 * tcp_sink: a TCP listener for the benchmark.  It listens on 0.0.0.0:PORT,
 * which answers connects to every 127.x.y.z:PORT, and accepts and closes
 * each connection at once.  One thread, epoll, non-blocking accept4, so it
 * keeps up with tens of thousands of connects per second where a Python
 * accept loop does not.
 *
 * usage: tcp_sink [PORT]     (0 or nothing: a free port)
 * Prints "listening 0.0.0.0:PORT" on stdout once ready, and on SIGTERM or
 * SIGINT "accepted N" before it exits 0.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t sink_stop;

static void
sink_signal(int sig)
{
	(void)sig;
	sink_stop = 1;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in sin;
	struct epoll_event ev;
	struct sigaction sa;
	socklen_t len;
	unsigned long long accepted = 0, errors = 0;
	long port = 0;
	int lfd, ep, one = 1;

	if (argc > 2) {
		fprintf(stderr, "usage: tcp_sink [PORT]\n");
		return 2;
	}
	if (argc == 2) {
		char *end;

		port = strtol(argv[1], &end, 10);
		if (*end != '\0' || port < 0 || port > 65535) {
			fprintf(stderr, "tcp_sink: bad port %s\n", argv[1]);
			return 2;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sink_signal; /* no SA_RESTART: epoll_wait returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd == -1) {
		perror("tcp_sink: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	sin.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		perror("tcp_sink: bind");
		return 1;
	}
	/* The kernel caps the backlog at net.core.somaxconn. */
	if (listen(lfd, 65535) == -1) {
		perror("tcp_sink: listen");
		return 1;
	}
	len = sizeof(sin);
	if (getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
		perror("tcp_sink: getsockname");
		return 1;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("tcp_sink: epoll_create1");
		return 1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1) {
		perror("tcp_sink: epoll_ctl");
		return 1;
	}
	printf("listening 0.0.0.0:%u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);

	while (!sink_stop) {
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, 1000);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			perror("tcp_sink: epoll_wait");
			return 1;
		}
		if (n == 0)
			continue;
		/* Drain the accept queue, then wait again. */
		for (;;) {
			int fd = accept4(lfd, NULL, NULL,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd == -1) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				if (errno == EINTR)
					continue;
				/* ECONNABORTED, EMFILE...: count and go on. */
				errors++;
				break;
			}
			/*
			 * A plain close (FIN), not a reset: a reset that
			 * arrived before the prober read SO_ERROR would look
			 * like a failed connect.
			 */
			close(fd);
			accepted++;
		}
	}
	printf("accepted %llu errors %llu\n", accepted, errors);
	fflush(stdout);
	close(ep);
	close(lfd);
	return 0;
}
