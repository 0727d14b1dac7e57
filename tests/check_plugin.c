/*
 * Plugin output: the summary, the long output, performance data with odd
 * labels and every field, and the exit codes; the ranges of the plugin
 * guidelines.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"

static struct plugin_output po;

static void
parse(const char *s)
{
	plugin_output_free(&po);
	plugin_output_parse(s, strlen(s), &po);
}

START_TEST(test_summary_and_long_output)
{
	parse("DISK OK - free space: / 3326 MB (56%);\n"
	      "line two\nline three\n");
	ck_assert_str_eq(po.summary, "DISK OK - free space: / 3326 MB (56%);");
	ck_assert_str_eq(po.long_output, "line two\nline three");
	ck_assert_uint_eq(po.nperf, 0);
	parse("");
	ck_assert_str_eq(po.summary, "");
	ck_assert_str_eq(po.long_output, "");
	/* a NUL ends the text */
	plugin_output_free(&po);
	plugin_output_parse("OK\0garbage", 10, &po);
	ck_assert_str_eq(po.summary, "OK");
}
END_TEST

START_TEST(test_perfdata_every_field)
{
	parse(
	    "PING OK - Packet loss = 0%, RTA = 0.80 ms | "
	    "rta=0.800000ms;100.000000;500.000000;0.000000 pl=0%;20;60;0;100");
	ck_assert_str_eq(po.summary,
	    "PING OK - Packet loss = 0%, RTA = 0.80 ms");
	ck_assert_uint_eq(po.nperf, 2);
	ck_assert_str_eq(po.perf[0].label, "rta");
	ck_assert_double_eq(po.perf[0].value, 0.8);
	ck_assert_str_eq(po.perf[0].uom, "ms");
	ck_assert_str_eq(po.perf[0].warn, "100.000000");
	ck_assert_str_eq(po.perf[0].crit, "500.000000");
	ck_assert(po.perf[0].have_min);
	ck_assert(!po.perf[0].have_max);
	ck_assert_str_eq(po.perf[1].uom, "%");
	ck_assert_double_eq(po.perf[1].max, 100);
	ck_assert_uint_eq(po.perf_bad, 0);
}
END_TEST

START_TEST(test_perfdata_odd_labels)
{
	parse("OK | '/var/lib/pgsql'=120MB;;;0;4000 'a b=c'=1 "
	      "'it''s'=2c 'zaimu 財務'=3 x=U;1;2 "
	      "=7 y= z=abc w=5XB;; v=1;2;3;4;5;6 'unterminated=5");
	ck_assert_uint_eq(po.nperf, 6);
	ck_assert_str_eq(po.perf[0].label, "/var/lib/pgsql");
	ck_assert_double_eq(po.perf[0].max, 4000);
	ck_assert_str_eq(po.perf[1].label, "a b=c");
	ck_assert_str_eq(po.perf[2].label, "it's");
	ck_assert_str_eq(po.perf[2].uom, "c");
	ck_assert_str_eq(po.perf[3].label, "zaimu 財務");
	ck_assert_str_eq(po.perf[4].label, "x");
	ck_assert(isnan(po.perf[4].value));
	ck_assert_str_eq(po.perf[5].label, "w");
	ck_assert_str_eq(po.perf[5].uom, "XB");
	/* =7, y=, z=abc, v with six fields, 'unterminated=5 */
	ck_assert_uint_eq(po.perf_bad, 5);
}
END_TEST

START_TEST(test_perfdata_on_later_lines)
{
	parse("DISK OK | /=2643MB;5948;5958;0;5968\n"
	      "/ 15272 MB (77% inode=96%);\n"
	      "/boot 68 MB (69% inode=99%); | /boot=68MB;88;93;0;98\n"
	      "/home=69357MB;253404;253409;0;253414\n");
	ck_assert_str_eq(po.summary, "DISK OK");
	ck_assert_str_eq(po.long_output,
	    "/ 15272 MB (77% inode=96%);\n/boot 68 MB (69% inode=99%);");
	ck_assert_uint_eq(po.nperf, 3);
	ck_assert_str_eq(po.perf[1].label, "/boot");
	ck_assert_str_eq(po.perf[2].label, "/home");
	ck_assert_double_eq(po.perf[2].value, 69357);
}
END_TEST

START_TEST(test_perfdata_is_bounded)
{
	char buf[PLUGIN_PERF_MAX * 8 + 64];
	size_t off = 0;

	off += (size_t)snprintf(buf, sizeof(buf), "OK |");
	for (int i = 0; i < PLUGIN_PERF_MAX + 10; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, " v%d=%d",
		    i % 100, i);
	parse(buf);
	ck_assert_uint_eq(po.nperf, PLUGIN_PERF_MAX);
	ck_assert_uint_eq(po.perf_bad, 10);
}
END_TEST

START_TEST(test_exit_codes)
{
	ck_assert_int_eq(plugin_output_exit_status(0), CHECK_OK);
	ck_assert_int_eq(plugin_output_exit_status(1), CHECK_WARNING);
	ck_assert_int_eq(plugin_output_exit_status(2), CHECK_CRITICAL);
	ck_assert_int_eq(plugin_output_exit_status(3), CHECK_UNKNOWN);
	ck_assert_int_eq(plugin_output_exit_status(4), CHECK_UNKNOWN);
	ck_assert_int_eq(plugin_output_exit_status(137), CHECK_UNKNOWN);
	ck_assert_int_eq(plugin_output_exit_status(-1), CHECK_UNKNOWN);
}
END_TEST

/* The forms of the plugin development guidelines, and mistakes. */
START_TEST(test_ranges_of_the_guidelines)
{
	struct snmp_range r;

	/* 10: alert outside 0..10 */
	ck_assert_int_eq(check_snmp_eval_range_parse("10", &r), 0);
	ck_assert(check_snmp_eval_range_alert(&r, -1) &&
	    !check_snmp_eval_range_alert(&r, 0) &&
	    !check_snmp_eval_range_alert(&r, 10) &&
	    check_snmp_eval_range_alert(&r, 11));
	/* 10: alert below 10 */
	ck_assert_int_eq(check_snmp_eval_range_parse("10:", &r), 0);
	ck_assert(check_snmp_eval_range_alert(&r, 9.9) &&
	    !check_snmp_eval_range_alert(&r, 1e9));
	/* ~:10 alert above 10 */
	ck_assert_int_eq(check_snmp_eval_range_parse("~:10", &r), 0);
	ck_assert(!check_snmp_eval_range_alert(&r, -1e9) &&
	    check_snmp_eval_range_alert(&r, 10.1));
	/* 10:20 alert outside */
	ck_assert_int_eq(check_snmp_eval_range_parse("10:20", &r), 0);
	ck_assert(check_snmp_eval_range_alert(&r, 9) &&
	    !check_snmp_eval_range_alert(&r, 10) &&
	    !check_snmp_eval_range_alert(&r, 20) &&
	    check_snmp_eval_range_alert(&r, 21));
	/* @10:20 alert inside, bounds included */
	ck_assert_int_eq(check_snmp_eval_range_parse("@10:20", &r), 0);
	ck_assert(!check_snmp_eval_range_alert(&r, 9) &&
	    check_snmp_eval_range_alert(&r, 10) &&
	    check_snmp_eval_range_alert(&r, 20) &&
	    !check_snmp_eval_range_alert(&r, 21));
	/* negative and fractional bounds */
	ck_assert_int_eq(check_snmp_eval_range_parse("-5.5:-1", &r), 0);
	ck_assert(!check_snmp_eval_range_alert(&r, -3) &&
	    check_snmp_eval_range_alert(&r, 0));
	ck_assert_int_eq(check_snmp_eval_range_parse("@~:0", &r), 0);
	ck_assert(check_snmp_eval_range_alert(&r, -1) &&
	    !check_snmp_eval_range_alert(&r, 0.5));
	ck_assert_int_eq(check_snmp_eval_range_parse("0:0", &r), 0);
	ck_assert(!check_snmp_eval_range_alert(&r, 0) &&
	    check_snmp_eval_range_alert(&r, 1));
	/* not ranges */
	ck_assert_int_eq(check_snmp_eval_range_parse("", &r), -1);
	ck_assert_int_eq(check_snmp_eval_range_parse("@", &r), -1);
	ck_assert_int_eq(check_snmp_eval_range_parse("20:10", &r), -1);
	ck_assert_int_eq(check_snmp_eval_range_parse("a:b", &r), -1);
	ck_assert_int_eq(check_snmp_eval_range_parse("10:20:30", &r), -1);
	ck_assert_int_eq(check_snmp_eval_range_parse("1e999", &r), -1);
	ck_assert_int_eq(check_snmp_eval_range_parse("~", &r), -1);
}
END_TEST

static Suite *
plugin_suite(void)
{
	Suite *s = suite_create("plugin");
	TCase *tc = tcase_create("output");

	tcase_add_test(tc, test_summary_and_long_output);
	tcase_add_test(tc, test_perfdata_every_field);
	tcase_add_test(tc, test_perfdata_odd_labels);
	tcase_add_test(tc, test_perfdata_on_later_lines);
	tcase_add_test(tc, test_perfdata_is_bounded);
	tcase_add_test(tc, test_exit_codes);
	tcase_add_test(tc, test_ranges_of_the_guidelines);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(plugin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	plugin_output_free(&po);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
