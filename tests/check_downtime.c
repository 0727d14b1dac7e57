/*
 * Downtime windows: one-off, daily, weekly, the n-th weekday of a month
 * counted from either end, a day counted from the month's end, all in
 * Asia/Tokyo; and what a downtime covers.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"

static struct downtime d;

static void
rule(enum downtime_every every, const char *at, uint64_t hours)
{
	unsigned hh, mm;

	memset(&d, 0, sizeof(d));
	d.timezone = (char *)"Asia/Tokyo";
	d.every = every;
	sscanf(at, "%u:%u", &hh, &mm);
	d.at_min = (int)(hh * 60 + mm);
	d.duration_s = hours * 3600;
}

static time_t
jst(const char *s)
{
	time_t t;

	ck_assert_int_eq(downtime_parse_local(s, "Asia/Tokyo", &t), 0);
	return t;
}

/* The window at or after local time `when`, as two local times. */
static void
assert_window(const char *when, const char *start, const char *end)
{
	time_t s, e;

	ck_assert_int_eq(downtime_window(&d, jst(when), &s, &e), 0);
	ck_assert_msg(s == jst(start), "start %ld, wanted %s (%ld)", (long)s,
	    start, (long)jst(start));
	ck_assert_msg(e == jst(end), "end %ld, wanted %s (%ld)", (long)e, end,
	    (long)jst(end));
}

START_TEST(test_local_times_are_tokyo)
{
	/* 2026-11-28 00:00 JST is 2026-11-27 15:00 UTC */
	ck_assert_int_eq(jst("2026-11-28 00:00"), 1795791600);
	time_t t;
	ck_assert_int_eq(downtime_parse_local("2026-11-28", "Asia/Tokyo", &t),
	    -1);
	ck_assert_int_eq(downtime_parse_local("2026-11-28 25:00", "Asia/Tokyo",
			     &t),
	    -1);
}
END_TEST

START_TEST(test_once)
{
	time_t s, e;

	rule(DOWNTIME_ONCE, "00:00", 0);
	d.once_start = jst("2026-12-05 22:00");
	d.once_end = jst("2026-12-06 02:00");
	assert_window("2026-12-01 00:00", "2026-12-05 22:00",
	    "2026-12-06 02:00");
	assert_window("2026-12-06 01:00", "2026-12-05 22:00",
	    "2026-12-06 02:00");
	ck_assert_int_eq(downtime_window(&d, jst("2026-12-06 02:00"), &s, &e),
	    -1);
}
END_TEST

START_TEST(test_daily_across_midnight)
{
	rule(DOWNTIME_DAY, "23:30", 1);
	assert_window("2026-11-27 12:00", "2026-11-27 23:30",
	    "2026-11-28 00:30");
	/* inside the window that began yesterday */
	assert_window("2026-11-28 00:10", "2026-11-27 23:30",
	    "2026-11-28 00:30");
	assert_window("2026-11-28 00:30", "2026-11-28 23:30",
	    "2026-11-29 00:30");
}
END_TEST

START_TEST(test_saturday_night)
{
	rule(DOWNTIME_WEEK, "22:00", 6);
	d.wday = 6;
	/* Friday 2026-11-27 -> Saturday 2026-11-28 */
	assert_window("2026-11-27 09:00", "2026-11-28 22:00",
	    "2026-11-29 04:00");
	assert_window("2026-11-29 03:59", "2026-11-28 22:00",
	    "2026-11-29 04:00");
	assert_window("2026-11-29 04:00", "2026-12-05 22:00",
	    "2026-12-06 04:00");
}
END_TEST

START_TEST(test_monthly_patch_second_tuesday)
{
	rule(DOWNTIME_MONTH, "20:00", 3);
	d.wday = 2;
	d.nth = 2;
	/* December 2026 starts on a Tuesday: the 8th; January 2027 the 12th */
	assert_window("2026-12-01 00:00", "2026-12-08 20:00",
	    "2026-12-08 23:00");
	assert_window("2026-12-09 00:00", "2027-01-12 20:00",
	    "2027-01-12 23:00");
	/* the last Friday: 2026-12-25, 2027-01-29 */
	d.wday = 5;
	d.nth = -1;
	assert_window("2026-12-01 00:00", "2026-12-25 20:00",
	    "2026-12-25 23:00");
	assert_window("2026-12-26 00:00", "2027-01-29 20:00",
	    "2027-01-29 23:00");
}
END_TEST

START_TEST(test_month_end_freeze)
{
	/* the last three days: from the third-last day, 72 hours */
	rule(DOWNTIME_MONTH, "00:00", 72);
	d.mday = -3;
	assert_window("2026-11-01 00:00", "2026-11-28 00:00",
	    "2026-12-01 00:00");
	assert_window("2027-02-01 00:00", "2027-02-26 00:00",
	    "2027-03-01 00:00");
	/* the 31st happens only in long months */
	rule(DOWNTIME_MONTH, "01:00", 1);
	d.mday = 31;
	assert_window("2026-11-01 00:00", "2026-12-31 01:00",
	    "2026-12-31 02:00");
}
END_TEST

START_TEST(test_what_a_downtime_covers)
{
	struct mon_host h = { 0 };
	struct mon_check c = { 0 };
	char *hosts[] = { (char *)"zaimu-db01" };
	char *checks[] = { (char *)"jinji-ap01/tcp/443" };
	int segs[] = { SEGMENT_FINANCE };

	h.name = (char *)"zaimu-db01";
	h.segment = SEGMENT_CORE;
	c.host = &h;
	c.name = (char *)"icmp";
	memset(&d, 0, sizeof(d));
	ck_assert(!downtime_covers(&d, &c));
	d.hosts = hosts;
	d.nhosts = 1;
	ck_assert(downtime_covers(&d, &c));
	d.nhosts = 0;
	d.checks = checks;
	d.nchecks = 1;
	ck_assert(!downtime_covers(&d, &c));
	h.name = (char *)"jinji-ap01";
	c.name = (char *)"tcp/443";
	ck_assert(downtime_covers(&d, &c));
	h.name = (char *)"jinji-ap0";
	ck_assert(!downtime_covers(&d, &c));
	d.nchecks = 0;
	d.segments = segs;
	d.nsegments = 1;
	ck_assert(!downtime_covers(&d, &c));
	h.segment = SEGMENT_FINANCE;
	ck_assert(downtime_covers(&d, &c));
}
END_TEST

static Suite *
downtime_suite(void)
{
	Suite *s = suite_create("downtime");
	TCase *tc = tcase_create("windows");

	tcase_add_test(tc, test_local_times_are_tokyo);
	tcase_add_test(tc, test_once);
	tcase_add_test(tc, test_daily_across_midnight);
	tcase_add_test(tc, test_saturday_night);
	tcase_add_test(tc, test_monthly_patch_second_tuesday);
	tcase_add_test(tc, test_month_end_freeze);
	tcase_add_test(tc, test_what_a_downtime_covers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(downtime_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
