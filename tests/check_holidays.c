/*
 * Check suite for holidays.c: the Cabinet Office's holiday CSV in
 * Shift_JIS with its header and CRLF, the same in UTF-8 with a byte order
 * mark, and each kind of bad line, named by its number.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "incidentd.h"

/* 国民の祝日・休日月日,国民の祝日・休日名称 in CP932 */
#define SJIS_HEADER                                                        \
	"\x8d\x91\x96\xaf\x82\xcc\x8f\x6a\x93\xfa\x81\x45\x8b\x78\x93\xfa" \
	"\x8c\x8e\x93\xfa\x2c\x8d\x91\x96\xaf\x82\xcc\x8f\x6a\x93\xfa\x81" \
	"\x45\x8b\x78\x93\xfa\x96\xbc\x8f\xcc"
#define SJIS_GANJITSU "\x8c\xb3\x93\xfa" /* 元日 */
#define SJIS_SEIJIN "\x90\xac\x90\x6c\x82\xcc\x93\xfa" /* 成人の日 */
#define SJIS_KYUJITSU "\x8b\x78\x93\xfa" /* 休日 */

/* Parses s; NULL and the error in err when refused. */
static struct holiday *
parse(const char *s, size_t *n, char *err)
{
	return holidays_parse(s, strlen(s), n, err, 256);
}

START_TEST(test_cabinet_office_file_in_shift_jis)
{
	const char *csv = SJIS_HEADER "\r\n"
				      "2026/1/1," SJIS_GANJITSU "\r\n"
				      "2026/1/12," SJIS_SEIJIN "\r\n"
				      "2026/5/6," SJIS_KYUJITSU "\r\n";
	char err[256] = "";
	size_t n;
	struct holiday *h = parse(csv, &n, err);

	ck_assert_msg(h != NULL, "%s", err);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(h[0].day, "2026-01-01");
	ck_assert_str_eq(h[0].name, "元日");
	ck_assert_str_eq(h[1].day, "2026-01-12");
	ck_assert_str_eq(h[1].name, "成人の日");
	ck_assert_str_eq(h[2].day, "2026-05-06");
	ck_assert_str_eq(h[2].name, "休日");
	free(h);
}
END_TEST

START_TEST(test_utf8_with_bom_and_padding)
{
	const char *csv = "\xef\xbb\xbf"
			  "国民の祝日・休日月日,国民の祝日・休日名称\n"
			  "2027-01-01, 元日 \n"
			  "\n"
			  "2027/03/22,\"休日\"\n";
	char err[256] = "";
	size_t n;
	struct holiday *h = parse(csv, &n, err);

	ck_assert_msg(h != NULL, "%s", err);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(h[0].day, "2027-01-01");
	ck_assert_str_eq(h[0].name, "元日");
	ck_assert_str_eq(h[1].day, "2027-03-22");
	ck_assert_str_eq(h[1].name, "休日");
	free(h);
}
END_TEST

START_TEST(test_bad_lines_are_named)
{
	static const struct {
		const char *csv, *err;
	} cases[] = {
		{ "h\n2026/2/30,x\n", "line 2: '2026/2/30' is not a date" },
		{ "h\n2026/1/1,x\n2026/13/1,y\n",
		    "line 3: '2026/13/1' is not a date" },
		{ "h\n2026/1/1\n", "line 2: no comma" },
		{ "h\n2026/1-1,x\n", "line 2: '2026/1-1' is not a date" },
		{ "h\n2026/1/1,\n", "line 2: the name must be 1-63 bytes" },
		{ "h\n2026/1/1,a,b\n", "line 2: the name must be" },
		{ "h\n2026/1/1,a\tb\n", "line 2: a control character" },
		{ "h\n2026/1/1,a\n2026/01/01,b\n",
		    "line 3: 2026-01-01 is listed twice" },
		{ "", "no holidays in the file" },
		{ SJIS_HEADER "\r\n", "no holidays in the file" },
		{ "h\n2026/1/1,\xff\xfe\n", "neither UTF-8 nor Shift_JIS" },
		{ "h\n1900/1/1,x\n", "line 2: '1900/1/1' is not a date" },
	};
	char err[256];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(parse(cases[i].csv, &n, err) == NULL, "case %zu",
		    i);
		ck_assert_msg(strstr(err, cases[i].err) != NULL,
		    "case %zu: '%s' lacks '%s'", i, err, cases[i].err);
	}
}
END_TEST

static Suite *
holidays_suite(void)
{
	Suite *s = suite_create("holidays");
	TCase *tc = tcase_create("csv");

	tcase_add_test(tc, test_cabinet_office_file_in_shift_jis);
	tcase_add_test(tc, test_utf8_with_bom_and_padding);
	tcase_add_test(tc, test_bad_lines_are_named);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(holidays_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
