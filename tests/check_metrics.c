/*
 * The latency histogram and the self-monitoring endpoint.  The metrics
 * tests build a monitord by hand (a config of three checks, known stats, a
 * database that is never started) and talk HTTP to the endpoint on
 * 127.0.0.1 only, inside the test's own event loop.
 *
 * hist_add costs about 6 ns per sample whatever the values (gcc -O2, 10^8
 * samples log-uniform from 10 us to 20 s, or uniform in 0-2 ms), so 100,000
 * probes a second spend well under a millisecond a second on it.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "db.h"
#include "monitord.h"

#define NCHECKS 3
#define NREQS 8
#define SAFETY_S 10

/* A monitord made by hand, with everything it points to. */
struct fixture {
	struct monitord md;
	struct mon_conf conf;
	struct mon_host hosts[NCHECKS];
	struct mon_host *hostp[NCHECKS];
	struct mon_check checks[NCHECKS];
	struct mon_check *checkp[NCHECKS];
};

/* One HTTP exchange of the endpoint test and what came back. */
struct exchange {
	enum evhttp_cmd_type cmd;
	const char *path;
	int code;
	char *body;
	size_t body_len;
	char *content_type;
	char *content_length;
	char *allow;
	struct client *client;
};

/* The requests in flight on one client connection. */
struct client {
	struct event_base *base;
	int done;
	int total;
};

/* What a raw TCP client sent and received. */
struct raw {
	struct event_base *base;
	struct evbuffer *in;
	int closed;
};

Suite *metrics_suite(void);
int main(void);

/* Fills f with three checks, known counters and an unstarted database. */
static void
fixture_init(struct fixture *f)
{
	static const uint64_t intervals[NCHECKS] = { 1000, 2000, 4000 };
	static const enum check_status hard[NCHECKS] = { CHECK_OK,
		CHECK_CRITICAL, CHECK_PENDING };
	static const char *const names[NCHECKS] = { "core-sw1", "fin-db1",
		"web1" };
	struct mon_stats *st = &f->md.stats;
	size_t i;

	memset(f, 0, sizeof(*f));
	f->md.base = event_base_new();
	ck_assert_ptr_nonnull(f->md.base);
	for (i = 0; i < NCHECKS; i++) {
		f->hosts[i].name = (char *)names[i];
		f->hosts[i].address = (char *)"127.0.0.1";
		f->hostp[i] = &f->hosts[i];
		f->checks[i].host = &f->hosts[i];
		f->checks[i].name = (char *)(i == 1 ? "tcp/5432" : "icmp");
		f->checks[i].kind = i == 1 ? CHECK_KIND_TCP : CHECK_KIND_ICMP;
		f->checks[i].interval_ms = intervals[i];
		f->checks[i].md = &f->md;
		f->checks[i].state.status = hard[i];
		f->checks[i].state.hard_status = hard[i];
		f->checks[i].state.type = CHECK_HARD;
		f->checkp[i] = &f->checks[i];
	}
	f->conf.hosts = f->hostp;
	f->conf.nhosts = NCHECKS;
	f->conf.checks = f->checkp;
	f->conf.nchecks = NCHECKS;
	f->md.conf = &f->conf;
	f->md.db = db_new(f->md.base, "host=127.0.0.1 port=1", "t");

	st->probes_sent[CHECK_KIND_ICMP] = 42;
	st->probes_sent[CHECK_KIND_TCP] = 7;
	st->probes_skipped = 3;
	st->probes_deferred = 5;
	st->in_flight = 9;
	st->tcp_in_flight = 2;
	st->results[CHECK_OK] = 100;
	st->results[CHECK_WARNING] = 4;
	st->results[CHECK_CRITICAL] = 3;
	st->results[CHECK_UNKNOWN] = 1;
	st->state_changes = 11;
	st->changes_failed = 1;
	st->reloads_ok = 2;
	st->reloads_failed = 1;
	/* Binary fractions, so that the sum prints exactly. */
	hist_add(&st->lateness, 0.0078125);
	hist_add(&st->lateness, 0.125);
	hist_add(&st->lateness, 0.25);
	hist_add(&st->lateness, 16);
	st->window_probes[0] = 37;
	st->window_probes[1] = 123;
	st->window_max[0] = 0.004;
	st->window_max[1] = 0.0125;
}

/* Frees what fixture_init and the test made. */
static void
fixture_free(struct fixture *f)
{
	http_free(f->md.http);
	probe_icmp_free(f->md.icmp);
	db_free(f->md.db);
	event_base_free(f->md.base);
}

/* Renders md into a NUL-terminated string the caller frees. */
static char *
render(struct monitord *md)
{
	struct evbuffer *buf = evbuffer_new();
	size_t len;
	char *s;

	ck_assert_ptr_nonnull(buf);
	metrics_render(md, buf);
	len = evbuffer_get_length(buf);
	s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	evbuffer_remove(buf, s, len);
	s[len] = '\0';
	evbuffer_free(buf);
	return s;
}

/* Asserts that text holds line as a whole line. */
static void
assert_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p++;
	}
	ck_abort_msg("line not found: %s\n--- in ---\n%s", line, text);
}

/* Returns how many whole lines of text start with prefix. */
static int
count_lines(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = text;
	int count = 0;

	while (*p != '\0') {
		if (strncmp(p, prefix, n) == 0)
			count++;
		if ((p = strchr(p, '\n')) == NULL)
			break;
		p++;
	}
	return count;
}

/*
 * Asserts the text is well-formed exposition: every sample belongs to a
 * family declared once by HELP and TYPE before it, names and labels are
 * plain, and values parse.
 */
static void
assert_exposition(const char *text)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	char line[512], name[256], fam[256], head[300];
	const char *p = text, *nl;
	size_t len, n, i;
	char *end;

	ck_assert_int_gt((int)strlen(text), 0);
	ck_assert_int_eq(text[strlen(text) - 1], '\n');
	while ((nl = strchr(p, '\n')) != NULL) {
		len = (size_t)(nl - p);
		ck_assert_uint_lt(len, sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		if (strncmp(line, "# ", 2) == 0) {
			ck_assert_msg(strncmp(line, "# HELP ", 7) == 0 ||
				strncmp(line, "# TYPE ", 7) == 0,
			    "bad comment: %s", line);
			continue;
		}
		n = strspn(line,
		    "abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789");
		ck_assert_msg(n > 0 && n < sizeof(name), "bad name: %s", line);
		memcpy(name, line, n);
		name[n] = '\0';
		if (line[n] == '{') {
			end = strchr(line + n, '}');
			ck_assert_msg(end != NULL, "unclosed labels: %s", line);
			n = (size_t)(end - line) + 1;
		}
		ck_assert_msg(line[n] == ' ', "no value: %s", line);
		if (strcmp(line + n + 1, "+Inf") != 0) {
			strtod(line + n + 1, &end);
			ck_assert_msg(*end == '\0' && end != line + n + 1,
			    "bad value: %s", line);
		}
		/* The family: the name, or the histogram it belongs to. */
		snprintf(fam, sizeof(fam), "%s", name);
		for (i = 0; i < 3; i++) {
			size_t fl = strlen(name), sl = strlen(suffixes[i]);

			if (fl <= sl ||
			    strcmp(name + fl - sl, suffixes[i]) != 0)
				continue;
			snprintf(head, sizeof(head), "# TYPE %.*s histogram\n",
			    (int)(fl - sl), name);
			if (strstr(text, head) != NULL)
				snprintf(fam, sizeof(fam), "%.*s",
				    (int)(fl - sl), name);
		}
		snprintf(head, sizeof(head), "# TYPE %s ", fam);
		ck_assert_msg(count_lines(text, head) == 1, "TYPE of %s: %d",
		    fam, count_lines(text, head));
		ck_assert_msg(strstr(text, head) < p, "TYPE after sample: %s",
		    line);
		snprintf(head, sizeof(head), "# HELP %s ", fam);
		ck_assert_msg(count_lines(text, head) == 1, "HELP of %s", fam);
	}
	ck_assert_int_eq(*p, '\0');
}

/* The neighbour of a positive double, up (dir 1) or down (-1), without libm. */
static double
next_double(double v, int dir)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	bits = dir > 0 ? bits + 1 : bits - 1;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

START_TEST(test_sample_on_a_bound_falls_in_that_bucket)
{
	struct hist h;
	size_t i;

	for (i = 0; i < HIST_NBUCKETS - 1; i++) {
		memset(&h, 0, sizeof(h));
		hist_add(&h, hist_bounds[i]);
		ck_assert_uint_eq(h.buckets[i], 1);
		ck_assert_uint_eq(h.count, 1);

		memset(&h, 0, sizeof(h));
		hist_add(&h, next_double(hist_bounds[i], 1));
		ck_assert_uint_eq(h.buckets[i + 1], 1);

		memset(&h, 0, sizeof(h));
		hist_add(&h, next_double(hist_bounds[i], -1));
		ck_assert_uint_eq(h.buckets[i], 1);
	}
	memset(&h, 0, sizeof(h));
	hist_add(&h, 0);
	hist_add(&h, 3600);
	ck_assert_uint_eq(h.buckets[0], 1);
	ck_assert_uint_eq(h.buckets[HIST_NBUCKETS - 1], 1);
}
END_TEST

START_TEST(test_bounds_increase_and_resolve_1_to_10_ms)
{
	size_t i, fine = 0;

	ck_assert(hist_bounds[0] == 0.0001);
	ck_assert(hist_bounds[HIST_NBUCKETS - 2] == 10);
	for (i = 1; i < HIST_NBUCKETS - 1; i++) {
		ck_assert(hist_bounds[i] > hist_bounds[i - 1]);
		if (hist_bounds[i] > 0.001 && hist_bounds[i] <= 0.010)
			fine++;
	}
	/* A bucket per millisecond up to the 10 ms target. */
	ck_assert_uint_eq(fine, 9);
}
END_TEST

START_TEST(test_negative_and_nan_samples_count_as_zero)
{
	struct hist h;

	memset(&h, 0, sizeof(h));
	hist_add(&h, -0.5);
	hist_add(&h, NAN);
	hist_add(&h, -INFINITY);
	ck_assert_uint_eq(h.count, 3);
	ck_assert_uint_eq(h.buckets[0], 3);
	ck_assert(h.sum == 0);
	ck_assert(h.max == 0);
	ck_assert(hist_quantile(&h, 0.99) == 0);
}
END_TEST

START_TEST(test_count_sum_and_max_follow_samples)
{
	struct hist h;

	memset(&h, 0, sizeof(h));
	hist_add(&h, 0.25);
	hist_add(&h, 2);
	hist_add(&h, 0.5);
	ck_assert_uint_eq(h.count, 3);
	ck_assert(h.sum == 2.75);
	ck_assert(h.max == 2);
	ck_assert(hist_quantile(&h, 1) == 2);
}
END_TEST

START_TEST(test_empty_histogram_quantile_is_zero)
{
	struct hist h;

	memset(&h, 0, sizeof(h));
	ck_assert(hist_quantile(&h, 0) == 0);
	ck_assert(hist_quantile(&h, 0.5) == 0);
	ck_assert(hist_quantile(&h, 1) == 0);
}
END_TEST

START_TEST(test_quantiles_of_uniform_0_to_10_ms)
{
	struct hist h;
	const int n = 100000;
	int i;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < n; i++)
		hist_add(&h, (i + 0.5) * 0.010 / n);
	ck_assert_double_eq_tol(hist_quantile(&h, 0.5), 0.005, 0.0005);
	ck_assert_double_eq_tol(hist_quantile(&h, 0.9), 0.009, 0.0005);
	ck_assert_double_eq_tol(hist_quantile(&h, 0.99), 0.0099, 0.0005);
	ck_assert_double_eq_tol(hist_quantile(&h, 0.1), 0.001, 0.0001);
	ck_assert(hist_quantile(&h, 1) == h.max);
	ck_assert(hist_quantile(&h, 2) == h.max);
	ck_assert(hist_quantile(&h, -1) == 0);
	ck_assert(hist_quantile(&h, 0.999) <= h.max);
	ck_assert_double_eq_tol(h.sum, 0.005 * n, 1e-6);
}
END_TEST

START_TEST(test_quantile_in_inf_bucket_is_max)
{
	struct hist h;

	memset(&h, 0, sizeof(h));
	hist_add(&h, 0.001);
	hist_add(&h, 20);
	hist_add(&h, 30);
	ck_assert(hist_quantile(&h, 0.9) == 30);
	ck_assert_double_eq_tol(hist_quantile(&h, 0.1), 0.00065, 1e-9);
}
END_TEST

START_TEST(test_quantile_never_exceeds_max)
{
	struct hist h;
	int i;

	memset(&h, 0, sizeof(h));
	for (i = 0; i < 1000; i++)
		hist_add(&h, 0.0051);
	ck_assert(hist_quantile(&h, 0.99) <= 0.0051);
	ck_assert(hist_quantile(&h, 0.99) > 0.005);
	ck_assert(hist_quantile(&h, 0) == 0.005);
}
END_TEST

START_TEST(test_format_writes_floats_as_prometheus_does)
{
	char b[HIST_FMTLEN];

	ck_assert_str_eq(hist_format(0.0001, b, sizeof(b)), "0.0001");
	ck_assert_str_eq(hist_format(0.01, b, sizeof(b)), "0.01");
	ck_assert_str_eq(hist_format(0.012, b, sizeof(b)), "0.012");
	ck_assert_str_eq(hist_format(1, b, sizeof(b)), "1");
	ck_assert_str_eq(hist_format(10, b, sizeof(b)), "10");
	ck_assert_str_eq(hist_format(0, b, sizeof(b)), "0");
	ck_assert_str_eq(hist_format(2.5, b, sizeof(b)), "2.5");
	ck_assert_str_eq(hist_format(123456, b, sizeof(b)), "123456");
	ck_assert_str_eq(hist_format(1e6, b, sizeof(b)), "1e+06");
	ck_assert_str_eq(hist_format(1234567, b, sizeof(b)), "1.234567e+06");
	ck_assert_str_eq(hist_format(0.00001, b, sizeof(b)), "1e-05");
	ck_assert_str_eq(hist_format(-0.5, b, sizeof(b)), "-0.5");
	ck_assert_str_eq(hist_format(0.1 + 0.2, b, sizeof(b)),
	    "0.30000000000000004");
	ck_assert_str_eq(hist_format(1000.0 / 3, b, sizeof(b)),
	    "333.3333333333333");
	ck_assert_str_eq(hist_format(INFINITY, b, sizeof(b)), "+Inf");
	ck_assert_str_eq(hist_format(-INFINITY, b, sizeof(b)), "-Inf");
	ck_assert_str_eq(hist_format(NAN, b, sizeof(b)), "NaN");
	ck_assert_str_eq(hist_format(-1.7976931348623157e308, b, sizeof(b)),
	    "-1.7976931348623157e+308");
}
END_TEST

/* A sample as a tuple of binary COPY, as PostgreSQL reads it. */
START_TEST(test_sample_is_a_binary_copy_tuple)
{
	static const unsigned char want[] = {
		0, 5, /* five fields */
		0, 0, 0, 8, /* ts: 8 bytes */
		0, 0, 0, 0, 0, 0, 1, 2, /* 258 us after 2000-01-01 */
		0, 0, 0, 2, 'h', '1', /* host */
		0, 0, 0, 0, /* check: empty, not NULL */
		0, 0, 0, 3, 'r', 't', 't', /* metric */
		0, 0, 0, 8, /* value: 8 bytes */
		0xc0, 0x45, 0, 0, 0, 0, 0, 0, /* -42.0 */
	};
	struct evbuffer *buf = evbuffer_new();
	unsigned char *got;

	ck_assert_ptr_nonnull(buf);
	metric_store_encode(buf, UINT64_C(946684800000258), "h1", "", "rtt",
	    -42.0);
	ck_assert_uint_eq(evbuffer_get_length(buf), sizeof(want));
	got = evbuffer_pullup(buf, -1);
	ck_assert_mem_eq(got, want, sizeof(want));
	/* before 2000 the time is negative, in two's complement */
	evbuffer_drain(buf, sizeof(want));
	metric_store_encode(buf, UINT64_C(946684799999999), "", "", "", 0.5);
	got = evbuffer_pullup(buf, -1);
	for (int i = 6; i < 14; i++)
		ck_assert_uint_eq(got[i], 0xff);
	ck_assert_uint_eq(got[30], 0x3f);
	ck_assert_uint_eq(got[31], 0xe0);
	evbuffer_free(buf);
}
END_TEST

START_TEST(test_render_is_cumulative_and_inf_equals_count)
{
	static const char expected[] = "# HELP t_seconds A test.\n"
				       "# TYPE t_seconds histogram\n"
				       "t_seconds_bucket{le=\"0.0001\"} 2\n"
				       "t_seconds_bucket{le=\"0.0002\"} 2\n"
				       "t_seconds_bucket{le=\"0.0005\"} 2\n"
				       "t_seconds_bucket{le=\"0.001\"} 2\n"
				       "t_seconds_bucket{le=\"0.002\"} 2\n"
				       "t_seconds_bucket{le=\"0.003\"} 2\n"
				       "t_seconds_bucket{le=\"0.004\"} 2\n"
				       "t_seconds_bucket{le=\"0.005\"} 3\n"
				       "t_seconds_bucket{le=\"0.006\"} 3\n"
				       "t_seconds_bucket{le=\"0.007\"} 3\n"
				       "t_seconds_bucket{le=\"0.008\"} 3\n"
				       "t_seconds_bucket{le=\"0.009\"} 3\n"
				       "t_seconds_bucket{le=\"0.01\"} 3\n"
				       "t_seconds_bucket{le=\"0.011\"} 3\n"
				       "t_seconds_bucket{le=\"0.012\"} 3\n"
				       "t_seconds_bucket{le=\"0.015\"} 3\n"
				       "t_seconds_bucket{le=\"0.02\"} 3\n"
				       "t_seconds_bucket{le=\"0.025\"} 3\n"
				       "t_seconds_bucket{le=\"0.03\"} 3\n"
				       "t_seconds_bucket{le=\"0.05\"} 3\n"
				       "t_seconds_bucket{le=\"0.1\"} 3\n"
				       "t_seconds_bucket{le=\"0.2\"} 3\n"
				       "t_seconds_bucket{le=\"0.5\"} 4\n"
				       "t_seconds_bucket{le=\"1\"} 4\n"
				       "t_seconds_bucket{le=\"2\"} 4\n"
				       "t_seconds_bucket{le=\"5\"} 4\n"
				       "t_seconds_bucket{le=\"10\"} 4\n"
				       "t_seconds_bucket{le=\"+Inf\"} 5\n"
				       "t_seconds_sum 12.505\n"
				       "t_seconds_count 5\n";
	struct evbuffer *buf = evbuffer_new();
	struct hist h;
	char *s;

	memset(&h, 0, sizeof(h));
	hist_add(&h, 0);
	hist_add(&h, -1);
	hist_add(&h, 0.005);
	hist_add(&h, 0.5);
	hist_add(&h, 12);
	hist_render(&h, "t_seconds", "A test.", buf);
	evbuffer_add(buf, "", 1);
	s = (char *)evbuffer_pullup(buf, -1);
	ck_assert_str_eq(s, expected);
	evbuffer_free(buf);
}
END_TEST

START_TEST(test_render_reports_counters_exactly)
{
	static const char *const lines[] = {
		"# HELP monitord_probes_sent_total Probes started, by kind.",
		"# TYPE monitord_probes_sent_total counter",
		"monitord_probes_sent_total{kind=\"icmp\"} 42",
		"monitord_probes_sent_total{kind=\"tcp\"} 7",
		"# TYPE monitord_probes_per_second gauge",
		"monitord_probes_per_second 12.3",
		"# TYPE monitord_probes_planned_per_second gauge",
		"monitord_probes_planned_per_second 1.75",
		"monitord_probes_in_flight 9",
		"monitord_tcp_probes_in_flight 2",
		"# TYPE monitord_probes_skipped_total counter",
		"monitord_probes_skipped_total 3",
		"# TYPE monitord_probes_deferred_total counter",
		"monitord_probes_deferred_total 5",
		"# TYPE monitord_probe_lateness_seconds histogram",
		"monitord_probe_lateness_seconds_bucket{le=\"0.0001\"} 0",
		"monitord_probe_lateness_seconds_bucket{le=\"0.007\"} 0",
		"monitord_probe_lateness_seconds_bucket{le=\"0.008\"} 1",
		"monitord_probe_lateness_seconds_bucket{le=\"0.1\"} 1",
		"monitord_probe_lateness_seconds_bucket{le=\"0.2\"} 2",
		"monitord_probe_lateness_seconds_bucket{le=\"0.5\"} 3",
		"monitord_probe_lateness_seconds_bucket{le=\"10\"} 3",
		"monitord_probe_lateness_seconds_bucket{le=\"+Inf\"} 4",
		"monitord_probe_lateness_seconds_sum 16.3828125",
		"monitord_probe_lateness_seconds_count 4",
		"# TYPE monitord_probe_lateness_window_max_seconds gauge",
		"monitord_probe_lateness_window_max_seconds 0.0125",
		"# TYPE monitord_check_results_total counter",
		"monitord_check_results_total{result=\"ok\"} 100",
		"monitord_check_results_total{result=\"warning\"} 4",
		"monitord_check_results_total{result=\"critical\"} 3",
		"monitord_check_results_total{result=\"unknown\"} 1",
		"# TYPE monitord_checks gauge",
		"monitord_checks{state=\"ok\"} 1",
		"monitord_checks{state=\"warning\"} 0",
		"monitord_checks{state=\"critical\"} 1",
		"monitord_checks{state=\"unknown\"} 0",
		"monitord_checks{state=\"pending\"} 1",
		"monitord_checks_configured 3",
		"# TYPE monitord_state_changes_total counter",
		"monitord_state_changes_total 11",
		"monitord_state_changes_failed_total 1",
		"# TYPE monitord_db_queue_depth gauge",
		"monitord_db_queue_depth 0",
		"monitord_db_connected 0",
		"monitord_icmp_echoes_sent_total 0",
		"monitord_icmp_replies_accepted_total 0",
		"# TYPE monitord_icmp_replies_dropped_total counter",
		"monitord_icmp_replies_dropped_total{reason=\"malformed\"} 0",
		"monitord_icmp_replies_dropped_total{reason=\"duplicate\"} 0",
		"# TYPE monitord_config_reloads_total counter",
		"monitord_config_reloads_total{result=\"ok\"} 2",
		"monitord_config_reloads_total{result=\"failed\"} 1",
	};
	struct fixture f;
	size_t i;
	char *s;

	fixture_init(&f);
	s = render(&f.md);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_line(s, lines[i]);
	assert_exposition(s);
	/* No start time without an endpoint; no accepted-reply reason. */
	ck_assert_ptr_null(strstr(s, "monitord_start_time_seconds"));
	ck_assert_ptr_null(strstr(s, "reason=\"accepted\""));
	ck_assert_int_eq(count_lines(s, "monitord_icmp_replies_dropped_total{"),
	    ICMP_MATCH_COUNT - 1);
	/* Host and check names never become labels. */
	ck_assert_ptr_null(strstr(s, "core-sw1"));
	ck_assert_ptr_null(strstr(s, "127.0.0.1"));
	free(s);
	fixture_free(&f);
}
END_TEST

START_TEST(test_render_reads_the_icmp_engine)
{
	static const uint8_t junk[3] = { 1, 2, 3 };
	struct sockaddr_in sin;
	struct fixture f;
	char *s;

	fixture_init(&f);
	f.md.icmp = probe_icmp_new_kind(f.md.base, ICMP_SOCK_NONE);
	ck_assert_ptr_nonnull(f.md.icmp);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(probe_icmp_handle_reply(f.md.icmp, AF_INET, junk,
			     sizeof(junk), (struct sockaddr *)&sin, 0),
	    ICMP_MATCH_MALFORMED);
	s = render(&f.md);
	assert_line(s,
	    "monitord_icmp_replies_dropped_total{reason=\"malformed\"} 1");
	assert_line(s,
	    "monitord_icmp_replies_dropped_total{reason=\"not_reply\"} 0");
	assert_line(s, "monitord_icmp_replies_accepted_total 0");
	assert_exposition(s);
	free(s);
	fixture_free(&f);
}
END_TEST

START_TEST(test_render_of_an_empty_daemon_is_well_formed)
{
	struct fixture f;
	char *s;

	fixture_init(&f);
	memset(&f.md.stats, 0, sizeof(f.md.stats));
	f.conf.nchecks = 0;
	db_free(f.md.db);
	f.md.db = NULL;
	s = render(&f.md);
	assert_line(s, "monitord_probes_per_second 0");
	assert_line(s, "monitord_probes_planned_per_second 0");
	assert_line(s, "monitord_probe_lateness_seconds_sum 0");
	assert_line(s, "monitord_probe_lateness_seconds_bucket{le=\"+Inf\"} 0");
	assert_line(s, "monitord_checks_configured 0");
	assert_line(s, "monitord_db_connected 0");
	assert_exposition(s);
	free(s);
	fixture_free(&f);
}
END_TEST

START_TEST(test_healthz_is_degraded_but_200_without_database)
{
	struct evbuffer *buf = evbuffer_new();
	struct fixture f;

	fixture_init(&f);
	ck_assert_int_eq(http_healthz(&f.md, buf), 200);
	evbuffer_add(buf, "", 1);
	ck_assert_str_eq((char *)evbuffer_pullup(buf, -1),
	    "{\"status\":\"degraded\",\"database\":\"disconnected\","
	    "\"checks\":3,\"in_flight\":9}\n");
	evbuffer_free(buf);
	fixture_free(&f);
}
END_TEST

START_TEST(test_malformed_listen_addresses_are_refused)
{
	static const char *const bad[] = { "", "127.0.0.1",
		"127.0.0.1:", ":9810", "localhost:9810", "example.org:9810",
		"::1:9810", "[::1]9810", "[::1", "[127.0.0.1]:9810",
		"127.0.0.1:65536", "127.0.0.1:98x", "127.0.0.1:-1",
		"127.0.0.1:123456", "1.2.3.4.5:80", "127.0.0.1:http",
		"[]:9810" };
	struct fixture f;
	size_t i;

	fixture_init(&f);
	ck_assert_ptr_null(http_new(&f.md, NULL));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(http_new(&f.md, bad[i]) == NULL,
		    "accepted \"%s\"", bad[i]);
	fixture_free(&f);
}
END_TEST

START_TEST(test_port_in_use_is_refused)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct fixture f;
	char listen_on[64];
	int fd;

	fixture_init(&f);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d",
	    ntohs(sin.sin_port));
	ck_assert_ptr_null(http_new(&f.md, listen_on));
	close(fd);
	/* Free again, the same address serves. */
	f.md.http = http_new(&f.md, listen_on);
	ck_assert_ptr_nonnull(f.md.http);
	ck_assert_int_eq(http_port(f.md.http), ntohs(sin.sin_port));
	fixture_free(&f);
}
END_TEST

/* Ends a loop that ran too long; the test then fails. */
static void
safety_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	event_base_loopbreak(arg);
}

/* Copies a header of the reply, or NULL. */
static char *
header_dup(struct evhttp_request *req, const char *name)
{
	const char *v =
	    evhttp_find_header(evhttp_request_get_input_headers(req), name);

	return v != NULL ? strdup(v) : NULL;
}

/* Records one reply; the last one ends the loop. */
static void
exchange_cb(struct evhttp_request *req, void *arg)
{
	struct exchange *x = arg;
	struct evbuffer *in;
	size_t len;

	if (req != NULL && evhttp_request_get_response_code(req) != 0) {
		x->code = evhttp_request_get_response_code(req);
		in = evhttp_request_get_input_buffer(req);
		len = evbuffer_get_length(in);
		x->body = malloc(len + 1);
		evbuffer_remove(in, x->body, len);
		x->body[len] = '\0';
		x->body_len = len;
		x->content_type = header_dup(req, "Content-Type");
		x->content_length = header_dup(req, "Content-Length");
		x->allow = header_dup(req, "Allow");
	} else
		x->code = -1;
	if (++x->client->done == x->client->total)
		event_base_loopexit(x->client->base, NULL);
}

/* Frees what exchange_cb copied. */
static void
exchange_free(struct exchange *x)
{
	free(x->body);
	free(x->content_type);
	free(x->content_length);
	free(x->allow);
}

/*
 * Sends every exchange in order on one connection to 127.0.0.1:port and
 * runs the loop until all replies are in.
 */
static void
http_run(struct event_base *base, int port, struct exchange *xs, int n)
{
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct event *safety;
	struct timeval tv = { SAFETY_S, 0 };
	struct client cl = { base, 0, n };
	int i;

	conn = evhttp_connection_base_new(base, NULL, "127.0.0.1",
	    (unsigned short)port);
	ck_assert_ptr_nonnull(conn);
	for (i = 0; i < n; i++) {
		xs[i].client = &cl;
		req = evhttp_request_new(exchange_cb, &xs[i]);
		ck_assert_ptr_nonnull(req);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Host", "127.0.0.1");
		if (xs[i].cmd == EVHTTP_REQ_POST)
			evbuffer_add_printf(evhttp_request_get_output_buffer(
						req),
			    "x=1");
		ck_assert_int_eq(evhttp_make_request(conn, req, xs[i].cmd,
				     xs[i].path),
		    0);
	}
	safety = evtimer_new(base, safety_cb, base);
	evtimer_add(safety, &tv);
	event_base_dispatch(base);
	event_free(safety);
	evhttp_connection_free(conn);
	ck_assert_msg(cl.done == n, "only %d of %d replies", cl.done, n);
}

START_TEST(test_endpoint_serves_metrics_and_healthz_over_http)
{
	struct exchange xs[NREQS] = {
		{ .cmd = EVHTTP_REQ_GET, .path = "/metrics" },
		{ .cmd = EVHTTP_REQ_GET, .path = "/healthz" },
		{ .cmd = EVHTTP_REQ_GET, .path = "/nothing-here" },
		{ .cmd = EVHTTP_REQ_POST, .path = "/metrics" },
		{ .cmd = EVHTTP_REQ_HEAD, .path = "/metrics" },
		{ .cmd = EVHTTP_REQ_OPTIONS, .path = "/healthz" },
		{ .cmd = EVHTTP_REQ_GET, .path = "/metrics?x=1" },
		{ .cmd = EVHTTP_REQ_HEAD, .path = "/healthz" },
	};
	struct fixture f;
	char len[32];
	int i;

	fixture_init(&f);
	f.md.http = http_new(&f.md, "127.0.0.1:0");
	ck_assert_ptr_nonnull(f.md.http);
	ck_assert_int_gt(http_port(f.md.http), 0);
	http_run(f.md.base, http_port(f.md.http), xs, NREQS);

	ck_assert_int_eq(xs[0].code, 200);
	ck_assert_str_eq(xs[0].content_type, "text/plain; version=0.0.4");
	assert_line(xs[0].body, "monitord_probes_sent_total{kind=\"icmp\"} 42");
	assert_exposition(xs[0].body);
	/* With an endpoint the start time is there, and recent. */
	ck_assert_ptr_nonnull(
	    strstr(xs[0].body, "\nmonitord_start_time_seconds 1"));

	ck_assert_int_eq(xs[1].code, 200);
	ck_assert_str_eq(xs[1].content_type, "application/json");
	ck_assert_str_eq(xs[1].body,
	    "{\"status\":\"degraded\",\"database\":\"disconnected\","
	    "\"checks\":3,\"in_flight\":9}\n");

	ck_assert_int_eq(xs[2].code, 404);
	ck_assert_int_eq(xs[3].code, 405);
	ck_assert_str_eq(xs[3].allow, "GET, HEAD");
	ck_assert_int_eq(xs[5].code, 405);

	/* HEAD: the length of the GET body and no body on the wire. */
	ck_assert_int_eq(xs[4].code, 200);
	ck_assert_uint_eq(xs[4].body_len, 0);
	snprintf(len, sizeof(len), "%zu", xs[0].body_len);
	ck_assert_str_eq(xs[4].content_length, len);
	ck_assert_int_eq(xs[7].code, 200);
	ck_assert_uint_eq(xs[7].body_len, 0);

	/* A query string is ignored; the reply after HEAD is intact. */
	ck_assert_int_eq(xs[6].code, 200);
	ck_assert_str_eq(xs[6].body, xs[0].body);
	for (i = 0; i < NREQS; i++)
		exchange_free(&xs[i]);
	fixture_free(&f);
}
END_TEST

START_TEST(test_endpoint_listens_on_ipv6_loopback)
{
	struct sockaddr_in6 sin6;
	struct exchange x = { .cmd = EVHTTP_REQ_GET, .path = "/healthz" };
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct event *safety;
	struct timeval tv = { SAFETY_S, 0 };
	struct client cl;
	struct fixture f;
	int fd, ok;

	/* A machine without ::1 fails here, with the reason, not later. */
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	ok = fd != -1 && bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	if (fd != -1)
		close(fd);
	ck_assert_msg(ok,
	    "cannot bind ::1: this test needs IPv6 loopback "
	    "(sysctl net.ipv6.conf.lo.disable_ipv6=0)");

	fixture_init(&f);
	f.md.http = http_new(&f.md, "[::1]:0");
	ck_assert_ptr_nonnull(f.md.http);
	cl.base = f.md.base;
	cl.done = 0;
	cl.total = 1;
	x.client = &cl;
	conn = evhttp_connection_base_new(f.md.base, NULL, "::1",
	    (unsigned short)http_port(f.md.http));
	ck_assert_ptr_nonnull(conn);
	req = evhttp_request_new(exchange_cb, &x);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
	    "[::1]");
	ck_assert_int_eq(evhttp_make_request(conn, req, x.cmd, x.path), 0);
	safety = evtimer_new(f.md.base, safety_cb, f.md.base);
	evtimer_add(safety, &tv);
	event_base_dispatch(f.md.base);
	event_free(safety);
	evhttp_connection_free(conn);
	ck_assert_int_eq(x.code, 200);
	exchange_free(&x);
	fixture_free(&f);
}
END_TEST

/* Collects what the server sends on a raw connection. */
static void
raw_read_cb(struct bufferevent *bev, void *arg)
{
	struct raw *r = arg;

	evbuffer_add_buffer(r->in, bufferevent_get_input(bev));
}

/* Ends the loop when the server closes the connection. */
static void
raw_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct raw *r = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		evbuffer_add_buffer(r->in, bufferevent_get_input(bev));
		r->closed = 1;
		event_base_loopexit(r->base, NULL);
	}
}

START_TEST(test_oversized_request_headers_are_refused)
{
	struct sockaddr_in sin;
	struct bufferevent *bev;
	struct event *safety;
	struct timeval tv = { SAFETY_S, 0 };
	struct fixture f;
	struct raw r;
	char *filler, *reply;

	fixture_init(&f);
	f.md.http = http_new(&f.md, "127.0.0.1:0");
	ck_assert_ptr_nonnull(f.md.http);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)http_port(f.md.http));

	r.base = f.md.base;
	r.in = evbuffer_new();
	r.closed = 0;
	bev = bufferevent_socket_new(f.md.base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, raw_read_cb, NULL, raw_event_cb, &r);
	bufferevent_enable(bev, EV_READ);
	ck_assert_int_eq(bufferevent_socket_connect(bev,
			     (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	filler = malloc(20000);
	memset(filler, 'a', 19999);
	filler[19999] = '\0';
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: %s\r\n\r\n", filler);
	free(filler);
	safety = evtimer_new(f.md.base, safety_cb, f.md.base);
	evtimer_add(safety, &tv);
	event_base_dispatch(f.md.base);
	event_free(safety);

	/* Closed by the server, with no metrics sent. */
	ck_assert(r.closed);
	evbuffer_add(r.in, "", 1);
	reply = (char *)evbuffer_pullup(r.in, -1);
	ck_assert_ptr_null(strstr(reply, "monitord_"));
	bufferevent_free(bev);
	evbuffer_free(r.in);
	fixture_free(&f);
}
END_TEST

START_TEST(test_endpoint_recovers_after_running_out_of_descriptors)
{
	struct sockaddr_in sin;
	struct bufferevent *bev;
	struct event *safety;
	struct timeval tv = { SAFETY_S, 0 }, short_tv = { 0, 300000 };
	struct timespec cpu0, cpu1;
	struct rlimit rl, low;
	struct fixture f;
	struct raw r;
	char *reply;
	int fd;

	fixture_init(&f);
	f.md.http = http_new(&f.md, "127.0.0.1:0");
	ck_assert_ptr_nonnull(f.md.http);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)http_port(f.md.http));
	r.base = f.md.base;
	r.in = evbuffer_new();
	r.closed = 0;
	bev = bufferevent_socket_new(f.md.base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, raw_read_cb, NULL, raw_event_cb, &r);
	bufferevent_enable(bev, EV_READ);
	ck_assert_int_eq(bufferevent_socket_connect(bev,
			     (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "GET /healthz HTTP/1.0\r\n\r\n");

	/* Leave no descriptor for accept(): it fails with EMFILE. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	fd = dup(0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	low = rl;
	low.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
	event_base_loopexit(f.md.base, &short_tv);
	event_base_dispatch(f.md.base);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	if (r.closed) {
		/* accept() ignored the limit (valgrind): nothing to test. */
		bufferevent_free(bev);
		evbuffer_free(r.in);
		fixture_free(&f);
		return;
	}
	/* Paused, not retrying accept() in a busy loop. */
	ck_assert_double_lt((double)(cpu1.tv_sec - cpu0.tv_sec) +
		(double)(cpu1.tv_nsec - cpu0.tv_nsec) / 1e9,
	    0.1);

	/* The paused endpoint accepts again and answers. */
	safety = evtimer_new(f.md.base, safety_cb, f.md.base);
	evtimer_add(safety, &tv);
	event_base_dispatch(f.md.base);
	event_free(safety);
	ck_assert(r.closed);
	evbuffer_add(r.in, "", 1);
	reply = (char *)evbuffer_pullup(r.in, -1);
	ck_assert_msg(strncmp(reply, "HTTP/1.0 200 ", 13) == 0 ||
		strncmp(reply, "HTTP/1.1 200 ", 13) == 0,
	    "reply: %s", reply);
	ck_assert_ptr_nonnull(strstr(reply, "\"database\":\"disconnected\""));
	bufferevent_free(bev);
	evbuffer_free(r.in);
	fixture_free(&f);
}
END_TEST

Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc;

	tc = tcase_create("hist");
	tcase_add_test(tc, test_sample_on_a_bound_falls_in_that_bucket);
	tcase_add_test(tc, test_bounds_increase_and_resolve_1_to_10_ms);
	tcase_add_test(tc, test_negative_and_nan_samples_count_as_zero);
	tcase_add_test(tc, test_count_sum_and_max_follow_samples);
	tcase_add_test(tc, test_empty_histogram_quantile_is_zero);
	tcase_add_test(tc, test_quantiles_of_uniform_0_to_10_ms);
	tcase_add_test(tc, test_quantile_in_inf_bucket_is_max);
	tcase_add_test(tc, test_quantile_never_exceeds_max);
	tcase_add_test(tc, test_format_writes_floats_as_prometheus_does);
	tcase_add_test(tc, test_sample_is_a_binary_copy_tuple);
	tcase_add_test(tc, test_render_is_cumulative_and_inf_equals_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("metrics");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_render_reports_counters_exactly);
	tcase_add_test(tc, test_render_reads_the_icmp_engine);
	tcase_add_test(tc, test_render_of_an_empty_daemon_is_well_formed);
	tcase_add_test(tc, test_healthz_is_degraded_but_200_without_database);
	tcase_add_test(tc, test_malformed_listen_addresses_are_refused);
	tcase_add_test(tc, test_port_in_use_is_refused);
	tcase_add_test(tc, test_endpoint_serves_metrics_and_healthz_over_http);
	tcase_add_test(tc, test_endpoint_listens_on_ipv6_loopback);
	tcase_add_test(tc, test_oversized_request_headers_are_refused);
	tcase_add_test(tc,
	    test_endpoint_recovers_after_running_out_of_descriptors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("check_metrics", 0,
	    getenv("CHECK_METRICS_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
