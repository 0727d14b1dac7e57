/*
 * Check suite for notify_smtp.c.  Sends real mail to the SMTP sink named
 * by MONITORD_TEST_SMTP_URL (the integration harness starts one); without
 * it the program fails.  Refusals, silences and aborts are played by a
 * small scripted server forked on 127.0.0.1.  Each test runs its own
 * event_base with a safety timeout.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "incidentd.h"
#include "xmalloc.h"

#define SAFETY_MS 20000
#define MAX_RESULTS 16

static const char *sink_url;
static const char *dead_url;

/* What the callbacks saw, and the loop they run on. */
struct ctx {
	struct event_base *base;
	struct event *safety;
	struct notify_smtp *ns;
	int expected;
	int completed;
	int timed_out;
	int free_in_cb;
	enum smtp_outcome outcome[MAX_RESULTS];
	char text[MAX_RESULTS][512];
	double at[MAX_RESULTS];
};

/* Returns a monotonic time in seconds. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stops a test's loop when it runs too long. */
static void
safety_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctx *c = arg;

	(void)fd;
	(void)what;
	c->timed_out = 1;
	event_base_loopbreak(c->base);
}

/* Records one completion; stops the loop when all expected are in. */
static void
done_cb(enum smtp_outcome o, const char *text, void *arg)
{
	struct ctx *c = arg;

	ck_assert_ptr_nonnull(text);
	if (c->completed < MAX_RESULTS) {
		c->outcome[c->completed] = o;
		snprintf(c->text[c->completed], sizeof(c->text[0]), "%s", text);
		c->at[c->completed] = now();
	}
	c->completed++;
	if (c->free_in_cb) {
		notify_smtp_free(c->ns);
		c->ns = NULL;
	}
	if (c->completed >= c->expected)
		event_base_loopbreak(c->base);
}

/* Sets up a loop with its safety timer and a sender for url. */
static void
ctx_init(struct ctx *c, const char *url, uint64_t timeout_ms)
{
	struct smtp_conf conf = {
		.url = (char *)url,
		.from = (char *)"monitor@city.example.jp",
		.from_name = (char *)"〇〇市 統合監視",
		.starttls = 0,
		.verify_tls = 1,
		.timeout_ms = timeout_ms,
	};
	struct timeval tv = { SAFETY_MS / 1000, 0 };

	memset(c, 0, sizeof(*c));
	c->base = event_base_new();
	ck_assert_ptr_nonnull(c->base);
	c->safety = evtimer_new(c->base, safety_cb, c);
	evtimer_add(c->safety, &tv);
	c->ns = notify_smtp_new(c->base, &conf);
	ck_assert_ptr_nonnull(c->ns);
}

/* Frees what ctx_init made. */
static void
ctx_done(struct ctx *c)
{
	notify_smtp_free(c->ns);
	event_free(c->safety);
	event_base_free(c->base);
}

/* Returns a notification as incidentd would build it. */
static char *
message(int n, size_t *lenp)
{
	const char *to[] = { "oncall@city.example.jp" };
	char *subject =
	    xasprintf("【障害発生】INC-%06d 基幹系 住民記録サーバ "
		      "jukijp-db01 tcp/5432 CRITICAL (check_notify_smtp)",
		n);
	char *id = xasprintf("check-notify-smtp.%d.%ld@city.example.jp", n,
	    (long)getpid());
	struct mail_msg m = {
		.from = "monitor@city.example.jp",
		.from_name = "〇〇市 統合監視システム",
		.to = to,
		.nto = 1,
		.subject = subject,
		.body = "障害を検知しました。\n対象: jukijp-db01 (住民記録)\n"
			"状態: CRITICAL\n.\n..leading dots survive\n",
		.message_id = id,
		.date = time(NULL),
	};
	char *msg = mail_build(&m, lenp);

	ck_assert_ptr_nonnull(msg);
	free(subject);
	free(id);
	return msg;
}

/* Sends message n to one recipient; asserts that it was accepted. */
static void
send_one(struct ctx *c, int n)
{
	const char *rcpt[] = { "oncall@city.example.jp" };
	size_t len;
	char *msg = message(n, &len);

	ck_assert_int_eq(notify_smtp_send(c->ns, rcpt, 1, msg, len, done_cb, c),
	    0);
	free(msg); /* the sender keeps its own copy */
}

/* How the scripted server behaves. */
enum fake_mode {
	FAKE_SILENT, /* accepts the connection, never says a word */
	FAKE_REFUSE_RCPT /* greets, then refuses every recipient */
};

/* Writes a string to the peer, ignoring errors. */
static void
fake_say(int fd, const char *s)
{
	ssize_t n = write(fd, s, strlen(s));

	(void)n;
}

/* Reads one line (without CRLF) into buf; -1 at end of file. */
static int
fake_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char ch;

	for (;;) {
		ssize_t r = read(fd, &ch, 1);

		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (ch != '\r' && n + 1 < size)
			buf[n++] = ch;
	}
	buf[n] = '\0';
	return 0;
}

/* The scripted server's one conversation, in the forked child. */
static void
fake_serve(int lfd, enum fake_mode mode)
{
	char line[1024];
	int fd;

	/*
	 * Check's runner handlers, inherited through two forks, would answer
	 * our SIGTERM by killing the test's whole process group.
	 */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	alarm(30); /* never outlive the test by much */
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(1);
	if (mode == FAKE_SILENT) {
		while (read(fd, line, sizeof(line)) > 0)
			;
		_exit(0);
	}
	fake_say(fd, "220 fake.example.jp ESMTP\r\n");
	while (fake_line(fd, line, sizeof(line)) == 0) {
		if (strncasecmp(line, "EHLO", 4) == 0)
			fake_say(fd, "250-fake.example.jp\r\n250 8BITMIME\r\n");
		else if (strncasecmp(line, "MAIL", 4) == 0)
			fake_say(fd, "250 2.1.0 Ok\r\n");
		else if (strncasecmp(line, "RCPT", 4) == 0)
			fake_say(fd,
			    "550-5.1.1 <oncall@city.example.jp>: "
			    "Recipient address rejected:\r\n"
			    "550 5.1.1 User unknown\r\n");
		else if (strncasecmp(line, "QUIT", 4) == 0) {
			fake_say(fd, "221 2.0.0 Bye\r\n");
			break;
		} else
			fake_say(fd, "502 5.5.2 Error\r\n");
	}
	_exit(0);
}

/* Starts the scripted server; returns its pid and URL. */
static pid_t
fake_start(enum fake_mode mode, char *url, size_t size)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(url, size, "smtp://127.0.0.1:%u", ntohs(sin.sin_port));
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		fake_serve(fd, mode);
	close(fd);
	return pid;
}

/* Stops the scripted server we started. */
static void
fake_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* Counts loop iterations that a blocked loop could not make. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(*(int *)arg)++;
}

START_TEST(test_outcomes_have_names)
{
	ck_assert_str_eq(notify_smtp_outcome_str(SMTP_SENT), "sent");
	ck_assert_str_eq(notify_smtp_outcome_str(SMTP_REFUSED), "refused");
	ck_assert_str_eq(notify_smtp_outcome_str(SMTP_UNREACHABLE),
	    "unreachable");
	ck_assert_str_eq(notify_smtp_outcome_str(SMTP_TIMEOUT), "timeout");
	ck_assert_str_eq(notify_smtp_outcome_str(SMTP_ERROR), "error");
	ck_assert_str_eq(notify_smtp_outcome_str((enum smtp_outcome)99), "?");
}
END_TEST

START_TEST(test_curl_results_map_to_outcomes)
{
	ck_assert_int_eq(notify_smtp_classify(CURLE_OK, 250, 1), SMTP_SENT);
	ck_assert_int_eq(notify_smtp_classify(CURLE_SEND_ERROR, 550, 1),
	    SMTP_REFUSED);
	ck_assert_int_eq(notify_smtp_classify(CURLE_SEND_ERROR, 451, 1),
	    SMTP_REFUSED);
	ck_assert_int_eq(notify_smtp_classify(CURLE_WEIRD_SERVER_REPLY, 554, 1),
	    SMTP_REFUSED);
	ck_assert_int_eq(notify_smtp_classify(CURLE_LOGIN_DENIED, 535, 1),
	    SMTP_REFUSED);
	ck_assert_int_eq(notify_smtp_classify(CURLE_COULDNT_CONNECT, 0, 0),
	    SMTP_UNREACHABLE);
	ck_assert_int_eq(notify_smtp_classify(CURLE_COULDNT_RESOLVE_HOST, 0, 0),
	    SMTP_UNREACHABLE);
	ck_assert_int_eq(notify_smtp_classify(CURLE_OPERATION_TIMEDOUT, 0, 0),
	    SMTP_UNREACHABLE);
	ck_assert_int_eq(notify_smtp_classify(CURLE_OPERATION_TIMEDOUT, 0, 1),
	    SMTP_TIMEOUT);
	ck_assert_int_eq(notify_smtp_classify(CURLE_SSL_CONNECT_ERROR, 0, 1),
	    SMTP_ERROR);
	ck_assert_int_eq(notify_smtp_classify(CURLE_USE_SSL_FAILED, 250, 1),
	    SMTP_ERROR);
	ck_assert_int_eq(notify_smtp_classify(CURLE_RECV_ERROR, 0, 1),
	    SMTP_ERROR);
}
END_TEST

START_TEST(test_reply_lines_are_joined_and_cleaned)
{
	struct smtp_reply r = { 0 };
	const char *multi = "550-5.1.1 <x@example.jp>: Recipient\r\n"
			    "550-5.1.1 address rejected\r\n";

	notify_smtp_reply_feed(&r, "220 mx ESMTP\r\n", 14);
	ck_assert_int_eq(r.code, 220);
	ck_assert(r.complete);
	ck_assert_str_eq(r.text, "220 mx ESMTP");
	notify_smtp_reply_feed(&r, multi, strlen(multi));
	ck_assert(!r.complete);
	notify_smtp_reply_feed(&r, "550 5.1.1 unknown\x1b[31m\r\n", 24);
	ck_assert(r.complete);
	ck_assert_int_eq(r.code, 550);
	ck_assert_str_eq(r.text,
	    "550 5.1.1 <x@example.jp>: Recipient 5.1.1 "
	    "address rejected 5.1.1 unknown [31m");
	notify_smtp_reply_feed(&r, "* not a reply\r\n", 15);
	ck_assert_int_eq(r.code, 550);
	notify_smtp_reply_feed(&r, "250\r\n", 5);
	ck_assert_int_eq(r.code, 250);
	ck_assert_str_eq(r.text, "250");
}
END_TEST

START_TEST(test_long_replies_are_cut_at_a_character_edge)
{
	struct smtp_reply r = { 0 };
	char line[1024] = "550 ";

	for (int i = 0; i < 200; i++)
		strcat(line, "障");
	strcat(line, "\r\n");
	notify_smtp_reply_feed(&r, line, strlen(line));
	ck_assert_uint_lt(r.len, sizeof(r.text));
	ck_assert_uint_eq(strlen(r.text), r.len);
	ck_assert_uint_eq((r.len - 4) % 3, 0);
}
END_TEST

START_TEST(test_bad_recipient_is_rejected_before_sending)
{
	struct ctx c;
	const char *rcpt[] = { "a@b>\r\nRCPT TO:<evil@example.com" };
	const char *none[] = { NULL };

	ctx_init(&c, "smtp://127.0.0.1:1", 1000);
	ck_assert_int_eq(notify_smtp_send(c.ns, rcpt, 1, "x\r\n", 3, done_cb,
			     &c),
	    -1);
	ck_assert_int_eq(notify_smtp_send(c.ns, none, 0, "x\r\n", 3, done_cb,
			     &c),
	    -1);
	ck_assert_uint_eq(notify_smtp_in_flight(c.ns), 0);
	ck_assert_int_eq(c.completed, 0);
	ctx_done(&c);
}
END_TEST

START_TEST(test_bad_configuration_gives_no_sender)
{
	struct event_base *base = event_base_new();
	struct smtp_conf conf = {
		.url = (char *)"smtp://127.0.0.1:1",
		.from = (char *)"no-at-sign",
	};

	ck_assert_ptr_null(notify_smtp_new(base, &conf));
	conf.from = (char *)"monitor@city.example.jp";
	conf.url = NULL;
	ck_assert_ptr_null(notify_smtp_new(base, &conf));
	ck_assert_int_eq(notify_smtp_send(NULL, (const char *const[]) { "a@b" },
			     1, "x", 1, done_cb, NULL),
	    -1);
	notify_smtp_free(NULL);
	ck_assert_uint_eq(notify_smtp_in_flight(NULL), 0);
	event_base_free(base);
}
END_TEST

START_TEST(test_dead_server_is_unreachable_quickly)
{
	struct ctx c;
	double t0, sent;

	ctx_init(&c, dead_url, 5000);
	c.expected = 1;
	t0 = now();
	send_one(&c, 900001);
	sent = now();
	ck_assert_int_eq(c.completed, 0); /* never called from inside send */
	ck_assert_uint_eq(notify_smtp_in_flight(c.ns), 1);
	ck_assert(sent - t0 < 0.1);
	event_base_dispatch(c.base);
	ck_assert(!c.timed_out);
	ck_assert_int_eq(c.completed, 1);
	ck_assert_msg(c.outcome[0] == SMTP_UNREACHABLE, "%s: %s",
	    notify_smtp_outcome_str(c.outcome[0]), c.text[0]);
	ck_assert(c.at[0] - t0 < 2.0);
	ck_assert_uint_eq(notify_smtp_in_flight(c.ns), 0);
	ctx_done(&c);
}
END_TEST

START_TEST(test_refused_recipient_is_reported_with_the_reply)
{
	struct ctx c;
	char url[64];
	pid_t pid = fake_start(FAKE_REFUSE_RCPT, url, sizeof(url));

	ctx_init(&c, url, 5000);
	c.expected = 1;
	send_one(&c, 900002);
	event_base_dispatch(c.base);
	ck_assert(!c.timed_out);
	ck_assert_int_eq(c.completed, 1);
	ck_assert_msg(c.outcome[0] == SMTP_REFUSED, "%s: %s",
	    notify_smtp_outcome_str(c.outcome[0]), c.text[0]);
	ck_assert_msg(strstr(c.text[0], "550 5.1.1") != NULL &&
		strstr(c.text[0], "User unknown") != NULL,
	    "%s", c.text[0]);
	ctx_done(&c);
	fake_stop(pid);
}
END_TEST

START_TEST(test_silent_server_times_out_without_blocking_the_loop)
{
	struct ctx c;
	char url[64];
	pid_t pid = fake_start(FAKE_SILENT, url, sizeof(url));
	struct timeval tick = { 0, 10000 };
	struct event *ticker;
	int ticks = 0;
	double t0;

	ctx_init(&c, url, 700);
	ticker = event_new(c.base, -1, EV_PERSIST, tick_cb, &ticks);
	event_add(ticker, &tick);
	c.expected = 1;
	t0 = now();
	send_one(&c, 900003);
	event_base_dispatch(c.base);
	ck_assert(!c.timed_out);
	ck_assert_int_eq(c.completed, 1);
	ck_assert_msg(c.outcome[0] == SMTP_TIMEOUT, "%s: %s",
	    notify_smtp_outcome_str(c.outcome[0]), c.text[0]);
	ck_assert(c.at[0] - t0 > 0.6 && c.at[0] - t0 < 3.0);
	ck_assert_msg(ticks >= 30, "only %d ticks in 700 ms", ticks);
	event_free(ticker);
	ctx_done(&c);
	fake_stop(pid);
}
END_TEST

/* Frees the sender from the loop, as a reload or shutdown would. */
static void
free_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctx *c = arg;
	double t0 = now();

	(void)fd;
	(void)what;
	ck_assert_uint_eq(notify_smtp_in_flight(c->ns), 2);
	notify_smtp_free(c->ns);
	c->ns = NULL;
	ck_assert_msg(now() - t0 < 0.5, "free took %.3f s", now() - t0);
}

/* Ends a loop after a grace period. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

START_TEST(test_free_aborts_transfers_without_calling_back)
{
	struct ctx c;
	char url[64];
	pid_t pid = fake_start(FAKE_SILENT, url, sizeof(url));
	struct timeval at = { 0, 200000 }, end = { 0, 600000 };
	struct event *later, *stop;

	ctx_init(&c, url, 10000);
	c.expected = 99;
	send_one(&c, 900004);
	send_one(&c, 900005);
	later = evtimer_new(c.base, free_later_cb, &c);
	stop = evtimer_new(c.base, stop_cb, c.base);
	evtimer_add(later, &at);
	evtimer_add(stop, &end);
	event_base_dispatch(c.base);
	ck_assert_ptr_null(c.ns);
	ck_assert_int_eq(c.completed, 0);
	event_free(later);
	event_free(stop);
	ctx_done(&c);
	fake_stop(pid);
}
END_TEST

START_TEST(test_free_from_inside_a_callback_stops_further_callbacks)
{
	struct ctx c;
	struct timeval end = { 1, 0 };
	struct event *stop;

	ctx_init(&c, dead_url, 5000);
	c.expected = 99;
	c.free_in_cb = 1;
	send_one(&c, 900006);
	send_one(&c, 900007);
	send_one(&c, 900008);
	stop = evtimer_new(c.base, stop_cb, c.base);
	evtimer_add(stop, &end);
	event_base_dispatch(c.base);
	ck_assert_int_eq(c.completed, 1);
	ck_assert_ptr_null(c.ns);
	event_free(stop);
	ctx_done(&c);
}
END_TEST

START_TEST(test_smtp_sink_is_configured)
{
	ck_abort_msg("MONITORD_TEST_SMTP_URL is not set: start an SMTP sink "
		     "(e.g. /usr/bin/python3 -m aiosmtpd -n -l "
		     "127.0.0.1:2525) and set MONITORD_TEST_SMTP_URL="
		     "smtp://127.0.0.1:2525");
}
END_TEST

START_TEST(test_message_is_accepted_by_the_sink)
{
	struct ctx c;

	ctx_init(&c, sink_url, 10000);
	c.expected = 1;
	send_one(&c, 1);
	event_base_dispatch(c.base);
	ck_assert(!c.timed_out);
	ck_assert_int_eq(c.completed, 1);
	ck_assert_msg(c.outcome[0] == SMTP_SENT, "%s: %s",
	    notify_smtp_outcome_str(c.outcome[0]), c.text[0]);
	ck_assert_msg(strncmp(c.text[0], "250", 3) == 0, "%s", c.text[0]);
	ck_assert_uint_eq(notify_smtp_in_flight(c.ns), 0);
	ctx_done(&c);
}
END_TEST

START_TEST(test_concurrent_messages_all_complete)
{
	struct ctx c;
	int n = 8;

	ctx_init(&c, sink_url, 10000);
	c.expected = n;
	for (int i = 0; i < n; i++)
		send_one(&c, 100 + i);
	ck_assert_uint_eq(notify_smtp_in_flight(c.ns), (size_t)n);
	event_base_dispatch(c.base);
	ck_assert(!c.timed_out);
	ck_assert_int_eq(c.completed, n);
	for (int i = 0; i < n; i++)
		ck_assert_msg(c.outcome[i] == SMTP_SENT, "#%d %s: %s", i,
		    notify_smtp_outcome_str(c.outcome[i]), c.text[i]);
	ck_assert_uint_eq(notify_smtp_in_flight(c.ns), 0);
	ctx_done(&c);
}
END_TEST

START_TEST(test_message_to_several_recipients_is_accepted)
{
	struct ctx c;
	const char *rcpt[] = { "oncall@city.example.jp",
		"vendor-ops@outsourcer.example.co.jp" };
	size_t len;
	char *msg = message(2, &len);

	ctx_init(&c, sink_url, 10000);
	c.expected = 1;
	ck_assert_int_eq(notify_smtp_send(c.ns, rcpt, 2, msg, len, done_cb, &c),
	    0);
	free(msg);
	event_base_dispatch(c.base);
	ck_assert(!c.timed_out);
	ck_assert_msg(c.outcome[0] == SMTP_SENT, "%s: %s",
	    notify_smtp_outcome_str(c.outcome[0]), c.text[0]);
	ctx_done(&c);
}
END_TEST

/* The "notify_smtp" suite; the sink tests need MONITORD_TEST_SMTP_URL. */
static Suite *
notify_smtp_suite(void)
{
	Suite *s = suite_create("notify_smtp");
	TCase *tc;

	tc = tcase_create("pure");
	tcase_add_test(tc, test_outcomes_have_names);
	tcase_add_test(tc, test_curl_results_map_to_outcomes);
	tcase_add_test(tc, test_reply_lines_are_joined_and_cleaned);
	tcase_add_test(tc, test_long_replies_are_cut_at_a_character_edge);
	tcase_add_test(tc, test_bad_recipient_is_rejected_before_sending);
	tcase_add_test(tc, test_bad_configuration_gives_no_sender);
	suite_add_tcase(s, tc);

	tc = tcase_create("scripted");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_dead_server_is_unreachable_quickly);
	tcase_add_test(tc, test_refused_recipient_is_reported_with_the_reply);
	tcase_add_test(tc,
	    test_silent_server_times_out_without_blocking_the_loop);
	tcase_add_test(tc, test_free_aborts_transfers_without_calling_back);
	tcase_add_test(tc,
	    test_free_from_inside_a_callback_stops_further_callbacks);
	suite_add_tcase(s, tc);

	tc = tcase_create("sink");
	tcase_set_timeout(tc, 30);
	if (sink_url == NULL)
		tcase_add_test(tc, test_smtp_sink_is_configured);
	else {
		tcase_add_test(tc, test_message_is_accepted_by_the_sink);
		tcase_add_test(tc, test_concurrent_messages_all_complete);
		tcase_add_test(tc,
		    test_message_to_several_recipients_is_accepted);
	}
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sink_url = getenv("MONITORD_TEST_SMTP_URL");
	if (sink_url != NULL && *sink_url == '\0')
		sink_url = NULL;
	dead_url = getenv("MONITORD_TEST_SMTP_DEAD_URL");
	if (dead_url == NULL || *dead_url == '\0')
		dead_url = "smtp://127.0.0.1:1";
	log_init("check_notify_smtp", 0,
	    getenv("CHECK_NOTIFY_SMTP_DEBUG") ? LOG_LEVEL_DEBUG :
						LOG_LEVEL_WARN);
	sr = srunner_create(notify_smtp_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
