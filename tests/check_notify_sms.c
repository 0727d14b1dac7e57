/*
 * Check suite for notify_sms.c: the 70-character UCS-2 text, what happens
 * to characters UCS-2 cannot carry and to malformed UTF-8, and the
 * smstools3 spool file with its rename.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "incidentd.h"
#include "xmalloc.h"

#define FACTS                                                           \
	"{\"ref\": \"INC-000042\", \"state\": \"CRITICAL\", \"host\": " \
	"\"kikan-sw01\", \"check\": \"icmp\", \"priority\": 1, "        \
	"\"round\": 0}"

/* The number of UCS-2 units a UTF-8 text converts to, without a cut. */
static size_t
units_of(const char *s)
{
	uint16_t u[512];

	return notify_sms_ucs2(s, u, 512);
}

START_TEST(test_fault_text_carries_ref_priority_state_host)
{
	char *t = notify_sms_text(FACTS, MAIL_LANG_JA, "opened");

	ck_assert_str_eq(t, "【障害】INC-000042 P1 CRITICAL kikan-sw01 icmp");
	free(t);
	t = notify_sms_text(FACTS, MAIL_LANG_EN, "opened");
	ck_assert_str_eq(t, "FAULT INC-000042 P1 CRITICAL kikan-sw01 icmp");
	free(t);
}
END_TEST

START_TEST(test_storm_says_how_many_checks_are_behind_it)
{
	char *t = notify_sms_text("{\"ref\": \"INC-000007\", \"state\": "
				  "\"CRITICAL\", \"host\": \"sw\", "
				  "\"check\": \"icmp\", \"priority\": 2, "
				  "\"children_now\": 300}",
	    MAIL_LANG_JA, "opened");

	ck_assert_str_eq(t, "【障害】INC-000007 P2 CRITICAL(+300) sw icmp");
	free(t);
}
END_TEST

START_TEST(test_recovery_and_recurrence_have_their_own_tag)
{
	char *t = notify_sms_text("{\"ref\": \"INC-000042\", \"state\": "
				  "\"OK\", \"host\": \"h\", \"check\": \"c\"}",
	    MAIL_LANG_JA, "recovered");

	ck_assert_str_eq(t, "【復旧】INC-000042 OK h c");
	free(t);
	t = notify_sms_text("{\"ref\": \"INC-000042\", \"state\": "
			    "\"WARNING\", \"host\": \"h\", \"check\": \"c\", "
			    "\"round\": 2}",
	    MAIL_LANG_JA, "opened");
	ck_assert_str_eq(t, "【再発】INC-000042 WARNING h c");
	free(t);
}
END_TEST

START_TEST(test_long_text_is_cut_to_70_characters_with_an_ellipsis)
{
	char facts[1024];
	char *t;

	snprintf(facts, sizeof(facts),
	    "{\"ref\": \"INC-000042\", \"state\": \"CRITICAL\", \"host\": "
	    "\"%s\", \"check\": \"icmp\"}",
	    "住民記録システム本番データベースサーバ第一号機の管理用インタ"
	    "フェース経由の死活監視対象ホスト");
	t = notify_sms_text(facts, MAIL_LANG_JA, "opened");
	ck_assert_uint_eq(units_of(t), SMS_MAX_CHARS);
	ck_assert_ptr_nonnull(
	    strstr(t, "【障害】INC-000042 CRITICAL 住民記録"));
	ck_assert_str_eq(t + strlen(t) - 3, "…");
	free(t);
}
END_TEST

START_TEST(test_exactly_70_characters_are_not_cut)
{
	char s[256] = "";
	uint16_t u[SMS_MAX_CHARS];

	for (int i = 0; i < SMS_MAX_CHARS; i++)
		strcat(s, i % 2 ? "あ" : "a");
	ck_assert_uint_eq(notify_sms_ucs2(s, u, SMS_MAX_CHARS), SMS_MAX_CHARS);
	ck_assert_uint_eq(u[SMS_MAX_CHARS - 1], 0x3042);
	strcat(s, "x");
	ck_assert_uint_eq(notify_sms_ucs2(s, u, SMS_MAX_CHARS), SMS_MAX_CHARS);
	ck_assert_uint_eq(u[SMS_MAX_CHARS - 1], 0x2026);
}
END_TEST

START_TEST(test_beyond_bmp_and_bad_utf8_become_question_marks)
{
	uint16_t u[16];
	size_t n;

	/* an emoji, a lone continuation byte, an overlong '/', a CR */
	n = notify_sms_ucs2("a\xf0\x9f\x98\x80"
			    "b\x80"
			    "c\xc0\xaf"
			    "d\re",
	    u, 16);
	ck_assert_uint_eq(n, 9);
	ck_assert_uint_eq(u[0], 'a');
	ck_assert_uint_eq(u[1], '?');
	ck_assert_uint_eq(u[2], 'b');
	ck_assert_uint_eq(u[3], '?');
	ck_assert_uint_eq(u[4], 'c');
	ck_assert_uint_eq(u[5], '?');
	ck_assert_uint_eq(u[7], ' ');
	/* a sequence cut short by the end of the string */
	n = notify_sms_ucs2("x\xe3\x81", u, 16);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(u[1], '?');
}
END_TEST

START_TEST(test_unreadable_facts_give_no_text)
{
	ck_assert_ptr_null(notify_sms_text("not json", MAIL_LANG_JA, "opened"));
	ck_assert_ptr_null(notify_sms_text("[1]", MAIL_LANG_JA, "opened"));
}
END_TEST

/* A fresh directory with outgoing/ inside it. */
static char *
spool_dir(void)
{
	char tmpl[] = "/tmp/check_sms.XXXXXX";
	char *out;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	out = xasprintf("%s/outgoing", tmpl);
	ck_assert_int_eq(mkdir(out, 0755), 0);
	return out;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = xmalloc(4096);

	ck_assert_ptr_nonnull(f);
	*len = fread(buf, 1, 4096, f);
	fclose(f);
	return buf;
}

START_TEST(test_spool_file_is_ucs2_big_endian_after_its_header)
{
	struct sms_conf conf;
	char *dir = spool_dir(), *path, *buf, err[256], *parent;
	const char head[] = "To: 819012345678\nAlphabet: UCS2\n\n";
	size_t len;
	DIR *d;
	struct dirent *de;
	int files = 0;

	parent = xstrdup(dir);
	*strrchr(parent, '/') = '\0';
	conf.spool = dir;
	conf.spool_tmp = parent;
	conf.country_code = NULL;
	ck_assert_int_eq(notify_sms_spool(&conf, "17", "819012345678", "障害 A",
			     err, sizeof(err)),
	    0);
	path = xasprintf("%s/incidentd-17", dir);
	buf = slurp(path, &len);
	ck_assert_uint_eq(len, strlen(head) + 8);
	ck_assert_int_eq(memcmp(buf, head, strlen(head)), 0);
	/* 障 U+969C, 害 U+5BB3, space, A */
	ck_assert_int_eq(memcmp(buf + strlen(head),
			     "\x96\x9c\x5b\xb3\x00\x20\x00\x41", 8),
	    0);
	/* the temporary file is gone; the spool holds just the message */
	d = opendir(parent);
	while ((de = readdir(d)) != NULL)
		ck_assert_ptr_null(strstr(de->d_name, ".tmp"));
	closedir(d);
	d = opendir(dir);
	while ((de = readdir(d)) != NULL)
		files += de->d_name[0] != '.';
	closedir(d);
	ck_assert_int_eq(files, 1);
	/* the same row again replaces its file, it does not add one */
	ck_assert_int_eq(notify_sms_spool(&conf, "17", "819012345678", "B", err,
			     sizeof(err)),
	    0);
	free(buf);
	buf = slurp(path, &len);
	ck_assert_uint_eq(len, strlen(head) + 2);
	unlink(path);
	rmdir(dir);
	rmdir(parent);
	free(buf);
	free(path);
	free(parent);
	free(dir);
}
END_TEST

START_TEST(test_missing_spool_is_a_readable_error)
{
	struct sms_conf conf;
	char err[256];

	conf.spool = (char *)"/nonexistent/sms/outgoing";
	conf.spool_tmp = (char *)"/nonexistent/sms";
	conf.country_code = NULL;
	ck_assert_int_eq(notify_sms_spool(&conf, "1", "81", "x", err,
			     sizeof(err)),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/sms/.incidentd-1.tmp"));
	ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
}
END_TEST

static Suite *
notify_sms_suite(void)
{
	Suite *s = suite_create("notify_sms");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_fault_text_carries_ref_priority_state_host);
	tcase_add_test(tc, test_recovery_and_recurrence_have_their_own_tag);
	tcase_add_test(tc, test_storm_says_how_many_checks_are_behind_it);
	tcase_add_test(tc,
	    test_long_text_is_cut_to_70_characters_with_an_ellipsis);
	tcase_add_test(tc, test_exactly_70_characters_are_not_cut);
	tcase_add_test(tc, test_beyond_bmp_and_bad_utf8_become_question_marks);
	tcase_add_test(tc, test_unreadable_facts_give_no_text);
	tcase_add_test(tc, test_spool_file_is_ucs2_big_endian_after_its_header);
	tcase_add_test(tc, test_missing_spool_is_a_readable_error);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(notify_sms_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
