/*
 * The outage journal: records written and read back, a torn tail and a
 * damaged record skipped with reading resumed after them, a replacement
 * put in place, and journal.max_size's sizes.
 */
#include "config.h"

#include <sys/stat.h>
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monitord.h"

/* What a read gave back. */
struct seen {
	int n;
	int types[16];
	uint64_t seqs[16];
	char json[16][64];
};

static void
seen_cb(int type, uint64_t seq, const char *p, size_t len, void *arg)
{
	struct seen *s = arg;
	const char *host, *check, *json;
	size_t jlen;

	ck_assert_int_lt(s->n, 16);
	s->types[s->n] = type;
	s->seqs[s->n] = seq;
	s->json[s->n][0] = '\0';
	if (type == JOURNAL_CHANGE) {
		ck_assert_int_eq(journal_change_split(p, len, &host, &check,
				     &json, &jlen),
		    0);
		ck_assert_str_eq(host, "kiban-ap01");
		ck_assert_str_eq(check, "tcp/443");
		ck_assert_uint_lt(jlen, 64);
		memcpy(s->json[s->n], json, jlen);
		s->json[s->n][jlen] = '\0';
	} else
		ck_assert_uint_eq(len, 0);
	s->n++;
}

static char path[64];

static void
setup(void)
{
	strcpy(path, "/tmp/check_journal.XXXXXX");
	ck_assert_int_ge(close(mkstemp(path)), 0);
	log_init("check_journal", 0, LOG_LEVEL_ERROR);
}

static void
teardown(void)
{
	unlink(path);
}

/* Reads the whole file into buf; returns its length. */
static size_t
slurp(unsigned char *buf, size_t len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, len, f);
	fclose(f);
	return n;
}

static void
spill(const unsigned char *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* Writes three changes and an ack through the API. */
static void
write_four(void)
{
	struct seen s = { 0 };
	struct journal *j = journal_open(path, seen_cb, &s);

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(journal_append(j, JOURNAL_CHANGE, 1, "kiban-ap01",
			     "tcp/443", "{\"new\":\"CRITICAL\"}"),
	    0);
	ck_assert_int_eq(journal_append(j, JOURNAL_CHANGE, 2, "kiban-ap01",
			     "tcp/443", "{\"new\":\"OK\"}"),
	    0);
	ck_assert_int_eq(journal_append(j, JOURNAL_ACK, 2, NULL, NULL, NULL),
	    0);
	ck_assert_int_eq(journal_append(j, JOURNAL_CHANGE, 3, "kiban-ap01",
			     "tcp/443", "{\"new\":\"WARNING\"}"),
	    0);
	ck_assert_int_eq(journal_sync(j), 0);
	journal_close(j);
}

START_TEST(test_round_trip)
{
	struct seen s = { 0 };
	struct journal *j;

	write_four();
	j = journal_open(path, seen_cb, &s);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(s.n, 4);
	ck_assert_int_eq(s.types[2], JOURNAL_ACK);
	ck_assert_uint_eq(s.seqs[2], 2);
	ck_assert_uint_eq(s.seqs[3], 3);
	ck_assert_str_eq(s.json[3], "{\"new\":\"WARNING\"}");
	ck_assert_uint_gt(journal_size(j), 0);
	ck_assert_int_eq(journal_reset(j), 0);
	ck_assert_uint_eq(journal_size(j), 0);
	journal_close(j);
	memset(&s, 0, sizeof(s));
	journal_close(journal_open(path, seen_cb, &s));
	ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(test_torn_tail)
{
	unsigned char buf[4096];
	struct journal_parse_stats st;
	struct seen s = { 0 };
	size_t len;

	write_four();
	len = slurp(buf, sizeof(buf));
	/* Every cut short of the end loses the last record only. */
	for (size_t cut = 1; cut < 40; cut++) {
		memset(&s, 0, sizeof(s));
		ck_assert_uint_eq(journal_parse(buf, len - cut, seen_cb, &s,
				      &st),
		    3);
		ck_assert_uint_gt(st.skipped, 0);
		ck_assert_uint_eq(st.bad_runs, 1);
	}
	/* The API reads it too, and later appends follow a clean end once
	 * the journal is rewritten. */
	spill(buf, len - 5);
	memset(&s, 0, sizeof(s));
	journal_close(journal_open(path, seen_cb, &s));
	ck_assert_int_eq(s.n, 3);
}
END_TEST

START_TEST(test_damage_in_the_middle)
{
	unsigned char buf[4096];
	struct journal_parse_stats st;
	struct seen s = { 0 };
	size_t len;

	write_four();
	len = slurp(buf, sizeof(buf));
	/* A flipped bit in the first record's payload: it is skipped, and
	 * the three after it are read. */
	buf[20] ^= 0x10;
	ck_assert_uint_eq(journal_parse(buf, len, seen_cb, &s, &st), 3);
	ck_assert_uint_eq(st.first_bad, 0);
	ck_assert_uint_eq(st.bad_runs, 1);
	ck_assert_uint_eq(s.seqs[0], 2);
	/* Garbage between records likewise. */
	memset(&s, 0, sizeof(s));
	buf[20] ^= 0x10;
	memmove(buf + 64, buf + 57, len - 57);
	memcpy(buf + 57, "MJMJMJM", 7); /* after the first record */
	ck_assert_uint_eq(journal_parse(buf, len + 7, seen_cb, &s, &st), 4);
	ck_assert_uint_eq(st.skipped, 7);
	/* Nothing but garbage. */
	memset(buf, 'M', 100);
	ck_assert_uint_eq(journal_parse(buf, 100, NULL, NULL, &st), 0);
	ck_assert_uint_eq(st.skipped, 100);
	ck_assert_uint_eq(journal_parse(buf, 0, NULL, NULL, &st), 0);
}
END_TEST

START_TEST(test_rewrite)
{
	struct seen s = { 0 };
	struct journal *j;
	struct stat sb;
	char tmp[80];

	write_four();
	j = journal_open(path, NULL, NULL);
	ck_assert_int_eq(journal_rewrite_begin(j), 0);
	ck_assert_int_eq(journal_rewrite_add(j, 9, "kiban-ap01", "tcp/443",
			     "{\"new\":\"OK\"}"),
	    0);
	ck_assert_int_eq(journal_rewrite_commit(j, 1), 0);
	/* Appends go to the replacement. */
	ck_assert_int_eq(journal_append(j, JOURNAL_ACK, 9, NULL, NULL, NULL),
	    0);
	journal_close(j);
	journal_close(journal_open(path, seen_cb, &s));
	ck_assert_int_eq(s.n, 2);
	ck_assert_uint_eq(s.seqs[0], 9);
	ck_assert_int_eq(s.types[1], JOURNAL_ACK);
	/* A replacement given up leaves the journal and no file behind. */
	j = journal_open(path, NULL, NULL);
	ck_assert_int_eq(journal_rewrite_begin(j), 0);
	ck_assert_int_eq(journal_rewrite_commit(j, 0), -1);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	ck_assert_int_eq(stat(tmp, &sb), -1);
	journal_close(j);
	memset(&s, 0, sizeof(s));
	journal_close(journal_open(path, seen_cb, &s));
	ck_assert_int_eq(s.n, 2);
}
END_TEST

START_TEST(test_split)
{
	const char *h, *c, *js;
	size_t n;

	ck_assert_int_eq(journal_change_split("a\0b\0{}", 6, &h, &c, &js, &n),
	    0);
	ck_assert_str_eq(h, "a");
	ck_assert_str_eq(c, "b");
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(journal_change_split("a\0b\0", 4, &h, &c, &js, &n),
	    -1);
	ck_assert_int_eq(journal_change_split("a\0b", 3, &h, &c, &js, &n), -1);
	ck_assert_int_eq(journal_change_split("ab", 2, &h, &c, &js, &n), -1);
}
END_TEST

START_TEST(test_sizes)
{
	uint64_t v;

	ck_assert_int_eq(conf_parse_size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(conf_parse_size("64MiB", &v), 0);
	ck_assert_uint_eq(v, 64u << 20);
	ck_assert_int_eq(conf_parse_size("2G", &v), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(conf_parse_size("4KiB", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(conf_parse_size("", &v), -1);
	ck_assert_int_eq(conf_parse_size("MiB", &v), -1);
	ck_assert_int_eq(conf_parse_size("1 MiB", &v), -1);
	ck_assert_int_eq(conf_parse_size("1TiB", &v), -1);
	ck_assert_int_eq(conf_parse_size("-1", &v), -1);
	ck_assert_int_eq(conf_parse_size("99999999999999999999", &v), -1);
	ck_assert_int_eq(conf_parse_size("17179869184GiB", &v), -1);
}
END_TEST

static Suite *
journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_damage_in_the_middle);
	tcase_add_test(tc, test_rewrite);
	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_sizes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
