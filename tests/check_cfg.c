/*
 * The YAML config loader: good documents become trees, and every kind of
 * bad one is reported with its file, line and column.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "timeutil.h"

static struct cfg_doc *
load(const char *text)
{
	return cfg_load_string("t.yaml", text, strlen(text), NULL);
}

/* Asserts that the document has exactly one error, with this text. */
static void
assert_one_error(struct cfg_doc *doc, const char *want)
{
	ck_assert_msg(doc->nerrors == 1, "expected 1 error, got %zu%s%s",
	    doc->nerrors, doc->nerrors ? ": " : "",
	    doc->nerrors ? doc->errors[0] : "");
	ck_assert_str_eq(doc->errors[0], want);
}

START_TEST(test_nested_document_becomes_tree)
{
	struct cfg_doc *doc = load("hosts:\n"
				   "  - name: juki-ap01\n"
				   "    port: 5432\n"
				   "  - name: \"zaimu-db01\"\n");
	const struct cfg_node *hosts, *h;
	const char *s;
	uint64_t v;

	ck_assert_uint_eq(doc->nerrors, 0);
	hosts = cfg_seq(doc, doc->root, "hosts", 1);
	ck_assert_ptr_nonnull(hosts);
	ck_assert_uint_eq(hosts->n, 2);
	h = hosts->items[0];
	ck_assert_int_eq(cfg_str(doc, h, "name", 1, &s), 0);
	ck_assert_str_eq(s, "juki-ap01");
	ck_assert_int_eq(cfg_uint(doc, h, "port", 1, 1, 65535, &v), 0);
	ck_assert_uint_eq(v, 5432);
	ck_assert_uint_eq(h->line, 2);
	ck_assert_uint_eq(h->col, 5);
	ck_assert_int_eq(cfg_str(doc, hosts->items[1], "name", 1, &s), 0);
	ck_assert_str_eq(s, "zaimu-db01");
	ck_assert_uint_eq(doc->nerrors, 0);
	cfg_free(doc);
}
END_TEST

START_TEST(test_japanese_text_is_kept_as_utf8)
{
	struct cfg_doc *doc = load("description: 住民記録システム AP サーバ\n");
	const char *s;

	ck_assert_int_eq(cfg_str(doc, doc->root, "description", 1, &s), 0);
	ck_assert_str_eq(s, "住民記録システム AP サーバ");
	cfg_free(doc);
}
END_TEST

START_TEST(test_broken_yaml_names_line_and_column)
{
	struct cfg_doc *doc = load("hosts:\n"
				   "  - name: a\n"
				   "    checks: [icmp, tcp\n"
				   "  - name: b\n");

	ck_assert_ptr_null(doc->root);
	ck_assert_uint_eq(doc->nerrors, 1);
	ck_assert_str_eq(doc->errors[0],
	    "t.yaml:4:9: YAML syntax error: did not find expected ',' or ']' "
	    "while parsing a flow sequence started at line 3, column 13");
	cfg_free(doc);
}
END_TEST

START_TEST(test_tab_indentation_is_a_syntax_error)
{
	struct cfg_doc *doc = load("a:\n\tb: 1\n");

	ck_assert_ptr_null(doc->root);
	ck_assert_uint_eq(doc->nerrors, 1);
	ck_assert_msg(strncmp(doc->errors[0], "t.yaml:2:1: YAML syntax error",
			  29) == 0,
	    "got %s", doc->errors[0]);
	cfg_free(doc);
}
END_TEST

START_TEST(test_unknown_key_is_an_error_with_its_position)
{
	static const char *const known[] = { "name", "address", NULL };
	struct cfg_doc *doc = load("name: a\n"
				   "adress: 127.0.0.1\n");

	ck_assert_int_eq(cfg_check_keys(doc, doc->root, "a host", known), -1);
	assert_one_error(doc,
	    "t.yaml:2:1: unknown key 'adress' in a host "
	    "(known: name, address)");
	cfg_free(doc);
}
END_TEST

START_TEST(test_wrong_type_names_the_value_position)
{
	struct cfg_doc *doc = load("check:\n"
				   "  port: http\n");
	const struct cfg_node *check = cfg_map(doc, doc->root, "check", 1);
	uint64_t v = 7;

	ck_assert_int_eq(cfg_uint(doc, check, "port", 1, 1, 65535, &v), -1);
	ck_assert_uint_eq(v, 7);
	assert_one_error(doc,
	    "t.yaml:2:9: 'port' must be an integer, not "
	    "'http'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_mapping_where_string_expected_is_an_error)
{
	struct cfg_doc *doc = load("name:\n  first: a\n");
	const char *s;

	ck_assert_int_eq(cfg_str(doc, doc->root, "name", 1, &s), -1);
	assert_one_error(doc,
	    "t.yaml:2:3: name must be a string, not a "
	    "mapping");
	cfg_free(doc);
}
END_TEST

START_TEST(test_out_of_range_integer_is_an_error)
{
	struct cfg_doc *doc = load("port: 70000\n");
	uint64_t v;

	ck_assert_int_eq(cfg_uint(doc, doc->root, "port", 1, 1, 65535, &v), -1);
	assert_one_error(doc,
	    "t.yaml:1:7: 'port' must be between 1 and "
	    "65535, not 70000");
	cfg_free(doc);
}
END_TEST

START_TEST(test_negative_integer_is_an_error)
{
	struct cfg_doc *doc = load("max_attempts: -1\n");
	uint64_t v;

	ck_assert_int_eq(cfg_uint(doc, doc->root, "max_attempts", 1, 1, 10, &v),
	    -1);
	assert_one_error(doc,
	    "t.yaml:1:15: 'max_attempts' must be an "
	    "integer, not '-1'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_missing_required_key_names_the_mapping)
{
	struct cfg_doc *doc = load("hosts:\n"
				   "  - name: a\n"
				   "    segment: core\n");
	const struct cfg_node *hosts = cfg_seq(doc, doc->root, "hosts", 1);
	const char *s;

	ck_assert_int_eq(cfg_str(doc, hosts->items[0], "address", 1, &s), -1);
	assert_one_error(doc, "t.yaml:2:5: missing required key 'address'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_optional_key_absent_leaves_value)
{
	struct cfg_doc *doc = load("a: 1\n");
	uint64_t v = 42;

	ck_assert_int_eq(cfg_uint(doc, doc->root, "b", 0, 0, 100, &v), 1);
	ck_assert_uint_eq(v, 42);
	ck_assert_uint_eq(doc->nerrors, 0);
	cfg_free(doc);
}
END_TEST

START_TEST(test_empty_required_value_is_an_error)
{
	struct cfg_doc *doc = load("name:\n");
	const char *s;

	ck_assert_int_eq(cfg_str(doc, doc->root, "name", 1, &s), -1);
	assert_one_error(doc, "t.yaml:1:6: 'name' must not be empty");
	cfg_free(doc);
}
END_TEST

START_TEST(test_quoted_empty_string_is_a_value)
{
	struct cfg_doc *doc = load("name: \"\"\n");
	const char *s = NULL;

	ck_assert_int_eq(cfg_str(doc, doc->root, "name", 1, &s), 0);
	ck_assert_str_eq(s, "");
	cfg_free(doc);
}
END_TEST

START_TEST(test_duplicate_key_is_an_error)
{
	struct cfg_doc *doc = load("name: a\n"
				   "port: 1\n"
				   "name: b\n");

	assert_one_error(doc,
	    "t.yaml:3:1: duplicate key 'name' (first at "
	    "line 1)");
	cfg_free(doc);
}
END_TEST

START_TEST(test_alias_is_refused)
{
	struct cfg_doc *doc = load("a: &x 1\n"
				   "b: *x\n");

	ck_assert_ptr_null(doc->root);
	assert_one_error(doc,
	    "t.yaml:2:4: YAML aliases (*x) are not "
	    "supported");
	cfg_free(doc);
}
END_TEST

START_TEST(test_second_document_is_refused)
{
	struct cfg_doc *doc = load("a: 1\n---\nb: 2\n");

	ck_assert_ptr_null(doc->root);
	assert_one_error(doc, "t.yaml:2:1: only one YAML document is allowed");
	cfg_free(doc);
}
END_TEST

START_TEST(test_deep_nesting_is_refused)
{
	char text[512];
	struct cfg_doc *doc;
	size_t n = 0;

	for (int i = 0; i < 100; i++)
		text[n++] = '[';
	text[n] = '\0';
	doc = load(text);
	ck_assert_ptr_null(doc->root);
	ck_assert_uint_ge(doc->nerrors, 1);
	ck_assert_msg(strstr(doc->errors[0], "nesting deeper than 64") != NULL,
	    "got %s", doc->errors[0]);
	cfg_free(doc);
}
END_TEST

START_TEST(test_complex_key_is_an_error)
{
	struct cfg_doc *doc = load("? [a, b]\n: 1\n");

	ck_assert_uint_eq(doc->nerrors, 1);
	ck_assert_msg(strstr(doc->errors[0],
			  "a mapping key must be a plain "
			  "string, not a sequence") != NULL,
	    "got %s", doc->errors[0]);
	cfg_free(doc);
}
END_TEST

START_TEST(test_durations_accept_units)
{
	uint64_t ms;

	ck_assert_int_eq(cfg_parse_duration("250ms", &ms), 0);
	ck_assert_uint_eq(ms, 250);
	ck_assert_int_eq(cfg_parse_duration("10s", &ms), 0);
	ck_assert_uint_eq(ms, 10000);
	ck_assert_int_eq(cfg_parse_duration("1.5s", &ms), 0);
	ck_assert_uint_eq(ms, 1500);
	ck_assert_int_eq(cfg_parse_duration("5m", &ms), 0);
	ck_assert_uint_eq(ms, 300000);
	ck_assert_int_eq(cfg_parse_duration("1h", &ms), 0);
	ck_assert_uint_eq(ms, 3600000);
	ck_assert_int_eq(cfg_parse_duration("30", &ms), 0);
	ck_assert_uint_eq(ms, 30000);
	ck_assert_int_eq(cfg_parse_duration("10 s", &ms), -1);
	ck_assert_int_eq(cfg_parse_duration("-1s", &ms), -1);
	ck_assert_int_eq(cfg_parse_duration("10y", &ms), -1);
	ck_assert_int_eq(cfg_parse_duration("", &ms), -1);
	ck_assert_int_eq(cfg_parse_duration("1e300s", &ms), -1);
}
END_TEST

START_TEST(test_bad_duration_names_its_position)
{
	struct cfg_doc *doc = load("interval: 10 minutes\n");
	uint64_t ms;

	ck_assert_int_eq(cfg_duration(doc, doc->root, "interval", 1, 100,
			     86400000, &ms),
	    -1);
	assert_one_error(doc,
	    "t.yaml:1:11: 'interval' must be a duration "
	    "such as 500ms, 10s, 5m or 1h, not '10 minutes'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_duration_out_of_range_says_the_range_in_its_units)
{
	struct cfg_doc *doc = load("interval: 2d\n");
	uint64_t ms;

	ck_assert_int_eq(cfg_duration(doc, doc->root, "interval", 1, 100,
			     86400000, &ms),
	    -1);
	assert_one_error(doc,
	    "t.yaml:1:11: 'interval' must be between 100ms and 1d, not 2d");
	cfg_free(doc);
	doc = load("interval: 1s\n");
	ck_assert_int_eq(cfg_duration(doc, doc->root, "interval", 1, 90000,
			     7200000, &ms),
	    -1);
	assert_one_error(doc,
	    "t.yaml:1:11: 'interval' must be between 90s and 2h, not 1s");
	cfg_free(doc);
}
END_TEST

START_TEST(test_enum_lists_the_choices)
{
	static const char *const names[] = { "core", "information", "finance",
		"other", NULL };
	struct cfg_doc *doc = load("segment: kikan\n");
	int v;

	ck_assert_int_eq(cfg_enum(doc, doc->root, "segment", 1, names, &v), -1);
	assert_one_error(doc,
	    "t.yaml:1:10: 'segment' must be one of core, "
	    "information, finance, other, not 'kikan'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_booleans_are_strict)
{
	struct cfg_doc *doc = load("a: yes\nb: off\nc: maybe\n");
	int v = -1;

	ck_assert_int_eq(cfg_bool(doc, doc->root, "a", 1, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(cfg_bool(doc, doc->root, "b", 1, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(cfg_bool(doc, doc->root, "c", 1, &v), -1);
	assert_one_error(doc,
	    "t.yaml:3:4: 'c' must be true or false, not "
	    "'maybe'");
	cfg_free(doc);
}
END_TEST

START_TEST(test_missing_file_is_an_error)
{
	struct cfg_doc *doc = cfg_load_file("/nonexistent/monitord.yaml", NULL);

	assert_one_error(doc,
	    "/nonexistent/monitord.yaml:1:1: cannot open: "
	    "No such file or directory");
	cfg_free(doc);
}
END_TEST

START_TEST(test_empty_document_has_no_root)
{
	struct cfg_doc *doc = load("# only a comment\n");

	ck_assert_uint_eq(doc->nerrors, 0);
	ck_assert_ptr_null(doc->root);
	cfg_free(doc);
}
END_TEST

START_TEST(test_nul_byte_is_refused)
{
	static const char text[] = "name: \"a\\0b\"\n";
	struct cfg_doc *doc =
	    cfg_load_string("t.yaml", text, sizeof(text) - 1, NULL);

	ck_assert_uint_eq(doc->nerrors, 1);
	ck_assert_msg(strstr(doc->errors[0], "NUL byte") != NULL, "got %s",
	    doc->errors[0]);
	cfg_free(doc);
}
END_TEST

/* What the hook test saw. */
struct hook_seen {
	unsigned n;
	char names[4][16];
};

static void
hook_cb(struct cfg_doc *doc, const struct cfg_node *item, void *arg)
{
	struct hook_seen *seen = arg;
	const char *name;

	if (cfg_str(doc, item, "name", 1, &name) == 0 && seen->n < 4)
		snprintf(seen->names[seen->n], sizeof(seen->names[0]), "%s",
		    name);
	seen->n++;
}

START_TEST(test_hook_takes_items_as_they_are_parsed)
{
	static const char text[] = "hosts:\n"
				   "  - name: a\n"
				   "  - name: b\n"
				   "other: [x, y]\n"
				   "defaults: {interval: 1s}\n";
	struct hook_seen seen = { 0 };
	struct cfg_hook hook = { "hosts", hook_cb, &seen };
	struct cfg_doc *doc =
	    cfg_load_string("t.yaml", text, strlen(text), &hook);
	const struct cfg_node *hosts;

	ck_assert_uint_eq(doc->nerrors, 0);
	ck_assert_uint_eq(seen.n, 2);
	ck_assert_str_eq(seen.names[0], "a");
	ck_assert_str_eq(seen.names[1], "b");
	/* The hooked items are not kept; the rest of the tree is. */
	hosts = cfg_seq(doc, doc->root, "hosts", 1);
	ck_assert_ptr_nonnull(hosts);
	ck_assert_uint_eq(hosts->n, 0);
	ck_assert_uint_eq(cfg_seq(doc, doc->root, "other", 1)->n, 2);
	cfg_free(doc);
}
END_TEST

START_TEST(test_hook_errors_are_dropped_after_a_syntax_error)
{
	static const char text[] = "hosts:\n"
				   "  - nmae: a\n"
				   "  - name: b\n"
				   "   broken: [\n";
	struct hook_seen seen = { 0 };
	struct cfg_hook hook = { "hosts", hook_cb, &seen };
	struct cfg_doc *doc =
	    cfg_load_string("t.yaml", text, strlen(text), &hook);

	/* Host a had no name, but only the syntax error is reported. */
	ck_assert_uint_eq(doc->nerrors, 1);
	ck_assert_msg(strstr(doc->errors[0], "YAML syntax error") != NULL,
	    "got %s", doc->errors[0]);
	cfg_free(doc);
}
END_TEST

START_TEST(test_errors_sort_into_file_order)
{
	struct cfg_doc *doc = load("a: 1\n");

	cfg_error(doc, &(struct cfg_node) { .line = 9, .col = 2 }, "third");
	cfg_error(doc, &(struct cfg_node) { .line = 2, .col = 7 }, "second");
	cfg_error(doc, &(struct cfg_node) { .line = 2, .col = 3 }, "first");
	cfg_error(doc, &(struct cfg_node) { .line = 9, .col = 2 }, "fourth");
	cfg_sort_errors(doc);
	ck_assert_str_eq(doc->errors[0], "t.yaml:2:3: first");
	ck_assert_str_eq(doc->errors[1], "t.yaml:2:7: second");
	ck_assert_str_eq(doc->errors[2], "t.yaml:9:2: third");
	ck_assert_str_eq(doc->errors[3], "t.yaml:9:2: fourth");
	cfg_free(doc);
}
END_TEST

START_TEST(test_redacted_text_blanks_the_marked_scalars)
{
	/* Japanese before each secret: the marks count characters, and the
	 * text is cut in bytes. */
	static const char text[] =
	    "# 監視システムの設定\n"
	    "smtp: {from: 監視@example.jp, password: 'pa ss'}\n"
	    "headers:\n"
	    "  - \"Authorization: Bearer 秘密\"\n"
	    "  - plain: 1\n"
	    "note: |\n"
	    "  block 秘密\n"
	    "after: 残る\n";
	struct cfg_doc *doc =
	    cfg_load_string("t.yaml", text, strlen(text), NULL);
	const struct cfg_node *smtp, *headers, *note;
	char *out;
	size_t len;

	ck_assert_uint_eq(doc->nerrors, 0);
	smtp = cfg_get(doc->root, "smtp");
	headers = cfg_get(doc->root, "headers");
	note = cfg_get(doc->root, "note");
	cfg_redact(doc, headers->items[0]);
	cfg_redact(doc, cfg_get(smtp, "password"));
	cfg_redact(doc, note);
	cfg_redact(doc, smtp); /* not a scalar: ignored */
	out = cfg_redacted(doc, text, strlen(text), &len);
	ck_assert_uint_eq(len, strlen(out));
	ck_assert_ptr_null(strstr(out, "pa ss"));
	ck_assert_ptr_null(strstr(out, "秘密"));
	ck_assert_ptr_nonnull(strstr(out,
	    "from: 監視@example.jp, password: "
	    "\"Redacted: x\"}"));
	ck_assert_ptr_nonnull(strstr(out, "  - \"Redacted: x\"\n  - plain"));
	ck_assert_ptr_nonnull(strstr(out, "after: 残る\n"));
	cfg_free(doc);
	/* what is left still parses, with the placeholders as values */
	doc = cfg_load_string("t.yaml", out, len, NULL);
	ck_assert_msg(doc->nerrors == 0, "%s in:\n%s", doc->errors[0], out);
	ck_assert_str_eq(cfg_get(cfg_get(doc->root, "smtp"), "password")->value,
	    "Redacted: x");
	ck_assert_str_eq(cfg_get(doc->root, "note")->value, "Redacted: x");
	ck_assert_str_eq(cfg_get(doc->root, "after")->value, "残る");
	cfg_free(doc);
	free(out);
}
END_TEST

/* Time zones are zone files of the system's database, nothing else. */
START_TEST(test_time_zone_is_a_zone_file)
{
	ck_assert(timeutil_zone_known("Asia/Tokyo"));
	ck_assert(timeutil_zone_known("UTC"));
	ck_assert(!timeutil_zone_known("Asia")); /* a directory */
	ck_assert(!timeutil_zone_known("Mars/Olympus"));
	ck_assert(!timeutil_zone_known("../zoneinfo/UTC"));
	ck_assert(!timeutil_zone_known("/etc/localtime"));
	ck_assert(!timeutil_zone_known(""));
	ck_assert(!timeutil_zone_known(NULL));
}
END_TEST

static Suite *
cfg_suite(void)
{
	Suite *s = suite_create("cfg");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_nested_document_becomes_tree);
	tcase_add_test(tc, test_time_zone_is_a_zone_file);
	tcase_add_test(tc, test_japanese_text_is_kept_as_utf8);
	tcase_add_test(tc, test_broken_yaml_names_line_and_column);
	tcase_add_test(tc, test_tab_indentation_is_a_syntax_error);
	tcase_add_test(tc, test_unknown_key_is_an_error_with_its_position);
	tcase_add_test(tc, test_wrong_type_names_the_value_position);
	tcase_add_test(tc, test_mapping_where_string_expected_is_an_error);
	tcase_add_test(tc, test_out_of_range_integer_is_an_error);
	tcase_add_test(tc, test_negative_integer_is_an_error);
	tcase_add_test(tc, test_missing_required_key_names_the_mapping);
	tcase_add_test(tc, test_optional_key_absent_leaves_value);
	tcase_add_test(tc, test_empty_required_value_is_an_error);
	tcase_add_test(tc, test_quoted_empty_string_is_a_value);
	tcase_add_test(tc, test_duplicate_key_is_an_error);
	tcase_add_test(tc, test_alias_is_refused);
	tcase_add_test(tc, test_second_document_is_refused);
	tcase_add_test(tc, test_deep_nesting_is_refused);
	tcase_add_test(tc, test_complex_key_is_an_error);
	tcase_add_test(tc, test_durations_accept_units);
	tcase_add_test(tc, test_bad_duration_names_its_position);
	tcase_add_test(tc,
	    test_duration_out_of_range_says_the_range_in_its_units);
	tcase_add_test(tc, test_enum_lists_the_choices);
	tcase_add_test(tc, test_booleans_are_strict);
	tcase_add_test(tc, test_missing_file_is_an_error);
	tcase_add_test(tc, test_empty_document_has_no_root);
	tcase_add_test(tc, test_nul_byte_is_refused);
	tcase_add_test(tc, test_hook_takes_items_as_they_are_parsed);
	tcase_add_test(tc, test_hook_errors_are_dropped_after_a_syntax_error);
	tcase_add_test(tc, test_errors_sort_into_file_order);
	tcase_add_test(tc, test_redacted_text_blanks_the_marked_scalars);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cfg_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
