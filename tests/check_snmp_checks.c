/*
 * The arithmetic of the SNMP checks: Nagios ranges, reboot detection across
 * the TimeTicks wrap, counter deltas across wraps and discontinuities.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "monitord.h"

START_TEST(test_plain_number_alerts_outside_zero_to_it)
{
	struct snmp_range r;

	ck_assert_int_eq(check_snmp_eval_range_parse("10", &r), 0);
	ck_assert(!check_snmp_eval_range_alert(&r, 0));
	ck_assert(!check_snmp_eval_range_alert(&r, 10));
	ck_assert(check_snmp_eval_range_alert(&r, 10.5));
	ck_assert(check_snmp_eval_range_alert(&r, -1));
}
END_TEST

START_TEST(test_open_ranges)
{
	struct snmp_range r;

	ck_assert_int_eq(check_snmp_eval_range_parse("10:", &r), 0);
	ck_assert(check_snmp_eval_range_alert(&r, 9.9));
	ck_assert(!check_snmp_eval_range_alert(&r, 1e9));
	ck_assert_int_eq(check_snmp_eval_range_parse("~:10", &r), 0);
	ck_assert(!check_snmp_eval_range_alert(&r, -1e9));
	ck_assert(check_snmp_eval_range_alert(&r, 10.1));
}
END_TEST

START_TEST(test_inside_range_with_at_sign)
{
	struct snmp_range r;

	ck_assert_int_eq(check_snmp_eval_range_parse("10:20", &r), 0);
	ck_assert(check_snmp_eval_range_alert(&r, 9));
	ck_assert(!check_snmp_eval_range_alert(&r, 15));
	ck_assert_int_eq(check_snmp_eval_range_parse("@10:20", &r), 0);
	ck_assert(!check_snmp_eval_range_alert(&r, 9));
	ck_assert(check_snmp_eval_range_alert(&r, 10));
	ck_assert(check_snmp_eval_range_alert(&r, 20));
}
END_TEST

START_TEST(test_bad_ranges_are_refused)
{
	struct snmp_range r;
	const char *bad[] = { "", "@", "abc", "20:10", "1:2:3", "~", ":", "1e",
		"nan", "inf:", "@~" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(check_snmp_eval_range_parse(bad[i], &r) == -1,
		    "'%s' was accepted", bad[i]);
}
END_TEST

START_TEST(test_uptime_going_on_is_no_reboot)
{
	/* 1,000 s up, polled 10 s later: 1,010 s. */
	ck_assert(
	    !check_snmp_eval_uptime_rebooted(100000, 0, 101000, 10000000));
	/* Some jitter between the clocks is fine. */
	ck_assert(
	    !check_snmp_eval_uptime_rebooted(100000, 0, 100900, 10000000));
}
END_TEST

START_TEST(test_uptime_going_down_is_a_reboot)
{
	ck_assert(check_snmp_eval_uptime_rebooted(100000, 0, 500, 10000000));
}
END_TEST

START_TEST(test_uptime_wrap_after_497_days_is_no_reboot)
{
	uint64_t prev = 0xffffffffULL - 300; /* 3 s before the wrap */

	/* 10 s later the counter reads 7 s past zero. */
	ck_assert(!check_snmp_eval_uptime_rebooted(prev, 0, 699, 10000000));
}
END_TEST

START_TEST(test_reboot_just_before_a_wrap_is_still_a_reboot)
{
	uint64_t prev = 0xffffffffULL - 300;

	/* A minute later the device has been up for 2 s only. */
	ck_assert(check_snmp_eval_uptime_rebooted(prev, 0, 200, 60000000));
}
END_TEST

START_TEST(test_reboot_long_enough_ago_to_exceed_the_old_uptime)
{
	/* Up 10 min, polled an hour later: up 50 min is a reboot, though the
	 * value went up. */
	ck_assert(check_snmp_eval_uptime_rebooted(60000, 0, 300000,
	    3600ULL * 1000000ULL));
}
END_TEST

START_TEST(test_counter_deltas)
{
	uint64_t d;

	ck_assert_int_eq(check_snmp_eval_counter_delta(100, 250, 64, &d), 0);
	ck_assert_uint_eq(d, 150);
	/* A 32-bit counter wraps. */
	ck_assert_int_eq(check_snmp_eval_counter_delta(0xfffffff0ULL, 0x10, 32,
			     &d),
	    0);
	ck_assert_uint_eq(d, 0x20);
	/* A 64-bit counter going back is a discontinuity, not a wrap. */
	ck_assert_int_eq(check_snmp_eval_counter_delta(1000, 10, 64, &d), -1);
}
END_TEST

static Suite *
snmp_checks_suite(void)
{
	Suite *s = suite_create("snmp_checks");
	TCase *tc = tcase_create("arithmetic");

	tcase_add_test(tc, test_plain_number_alerts_outside_zero_to_it);
	tcase_add_test(tc, test_open_ranges);
	tcase_add_test(tc, test_inside_range_with_at_sign);
	tcase_add_test(tc, test_bad_ranges_are_refused);
	tcase_add_test(tc, test_uptime_going_on_is_no_reboot);
	tcase_add_test(tc, test_uptime_going_down_is_a_reboot);
	tcase_add_test(tc, test_uptime_wrap_after_497_days_is_no_reboot);
	tcase_add_test(tc, test_reboot_just_before_a_wrap_is_still_a_reboot);
	tcase_add_test(tc,
	    test_reboot_long_enough_ago_to_exceed_the_old_uptime);
	tcase_add_test(tc, test_counter_deltas);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(snmp_checks_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
