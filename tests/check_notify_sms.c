/*
 * Check suite for notify_sms.c: the 70-character UCS-2 text, what happens
 * to characters UCS-2 cannot carry and to malformed UTF-8, and the
 * smstools3 spool file with its rename.
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <dirent.h>
#include <regex.h>
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

static const char *const VALS[5] = { "819012345678",
	"【障害】INC-000042 P1 \"a&b\" 100%", "INC-000042", "P1", "opened" };

START_TEST(test_gateway_url_values_are_percent_encoded)
{
	struct sms_gateway gw = { 0 };
	struct http_req req;
	char *url, *body;

	char method[] = "GET";
	char tmpl[] = "http://127.0.0.1:13013/cgi-bin/sendsms?to={to}&"
		      "text={text}&x={unknown}&p={priority}";

	gw.method = method;
	gw.url = tmpl;
	notify_sms_gateway_request(&gw, VALS, &req, &url, &body);
	ck_assert_ptr_null(body);
	ck_assert_str_eq(req.method, "GET");
	ck_assert_str_eq(url,
	    "http://127.0.0.1:13013/cgi-bin/sendsms?to=819012345678&text="
	    "%E3%80%90%E9%9A%9C%E5%AE%B3%E3%80%91INC-000042%20P1%20%22a%26b"
	    "%22%20100%25&x={unknown}&p=P1");
	free(url);
}
END_TEST

START_TEST(test_gateway_body_is_encoded_by_its_type)
{
	struct sms_gateway gw = { 0 };
	struct http_req req;
	char *url, *body;

	char method[] = "POST", u[] = "http://127.0.0.1/api/sms";
	char json[] = "{\"number\": \"{to}\", \"message\": \"{text}\"}";
	char form[] = "number={to}&text={text}", text[] = "{ref} {kind}";

	gw.method = method;
	gw.url = u;
	gw.body = json;
	gw.body_enc = HTTP_ENC_JSON;
	notify_sms_gateway_request(&gw, VALS, &req, &url, &body);
	ck_assert_str_eq(body,
	    "{\"number\": \"819012345678\", \"message\": "
	    "\"【障害】INC-000042 P1 \\\"a&b\\\" 100%\"}");
	ck_assert_uint_eq(req.body_len, strlen(body));
	free(url);
	free(body);
	/* an LTE router's CGI form */
	gw.body = form;
	gw.body_enc = HTTP_ENC_URL;
	notify_sms_gateway_request(&gw, VALS, &req, &url, &body);
	ck_assert_str_eq(body,
	    "number=819012345678&text=%E3%80%90%E9%9A%9C%E5%AE%B3%E3%80%91"
	    "INC-000042%20P1%20%22a%26b%22%20100%25");
	free(url);
	free(body);
	gw.body = text;
	gw.body_enc = HTTP_ENC_NONE;
	notify_sms_gateway_request(&gw, VALS, &req, &url, &body);
	ck_assert_str_eq(body, "INC-000042 opened");
	free(url);
	free(body);
}
END_TEST

START_TEST(test_unknown_placeholders_are_reported)
{
	char *err = notify_http_template_check("http://x/?a={to}&b={txt}");

	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(err, "unknown placeholder '{txt}'"));
	free(err);
	ck_assert_ptr_null(notify_http_template_check(
	    "{\"to\": \"{to}\", \"n\": {\"x\": 1}}"));
}
END_TEST

START_TEST(test_gateway_success_test_and_message_id)
{
	struct sms_gateway gw = { 0 };
	regex_t body_re, id_re;
	long statuses[] = { 202 };
	char id[16], err[256];

	ck_assert_int_eq(regcomp(&body_re, "^0: Accepted", REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&id_re, "id=([0-9a-z]+)", REG_EXTENDED), 0);
	/* any 2xx when no status is given */
	ck_assert_int_eq(notify_sms_gateway_accepts(&gw, 204, "", id,
			     sizeof(id), err, sizeof(err)),
	    1);
	ck_assert_int_eq(notify_sms_gateway_accepts(&gw, 503, "busy\r\nnow", id,
			     sizeof(id), err, sizeof(err)),
	    0);
	ck_assert_str_eq(err, "the gateway answered 503: busy  now");
	gw.status = statuses;
	gw.nstatus = 1;
	gw.success_body = &body_re;
	gw.message_id = &id_re;
	ck_assert_int_eq(notify_sms_gateway_accepts(&gw, 200, "0: Accepted", id,
			     sizeof(id), err, sizeof(err)),
	    0);
	ck_assert_str_eq(err, "the gateway answered 200: 0: Accepted");
	ck_assert_int_eq(notify_sms_gateway_accepts(&gw, 202, "3: Queued", id,
			     sizeof(id), err, sizeof(err)),
	    0);
	ck_assert_str_eq(err,
	    "the gateway answered 202 without the success text: 3: Queued");
	ck_assert_int_eq(notify_sms_gateway_accepts(&gw, 202,
			     "0: Accepted for delivery id=abc123", id,
			     sizeof(id), err, sizeof(err)),
	    1);
	ck_assert_str_eq(id, "abc123");
	/* an id longer than the buffer is cut, never overrun */
	ck_assert_int_eq(notify_sms_gateway_accepts(&gw, 202,
			     "0: Accepted id=0123456789abcdefghij", id,
			     sizeof(id), err, sizeof(err)),
	    1);
	ck_assert_str_eq(id, "0123456789abcde");
	regfree(&body_re);
	regfree(&id_re);
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
	tcase_add_test(tc, test_gateway_url_values_are_percent_encoded);
	tcase_add_test(tc, test_gateway_body_is_encoded_by_its_type);
	tcase_add_test(tc, test_unknown_placeholders_are_reported);
	tcase_add_test(tc, test_gateway_success_test_and_message_id);
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
