/*
 * The soft/hard state machine of a check.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "monitord.h"

START_TEST(test_first_ok_result_is_a_hard_change_from_pending)
{
	struct check_state st;

	check_state_init(&st);
	ck_assert_int_eq(check_state_apply(&st, CHECK_OK, 3),
	    CHECK_HARD_CHANGE);
	ck_assert_int_eq(st.hard_status, CHECK_OK);
	ck_assert_int_eq(check_state_apply(&st, CHECK_OK, 3), CHECK_NO_CHANGE);
}
END_TEST

START_TEST(test_soft_state_becomes_hard_after_retries)
{
	struct check_state st;

	check_state_init(&st);
	check_state_apply(&st, CHECK_OK, 3);
	ck_assert_int_eq(check_state_apply(&st, CHECK_CRITICAL, 3),
	    CHECK_SOFT_CHANGE);
	ck_assert_int_eq(st.type, CHECK_SOFT);
	ck_assert_uint_eq(st.attempt, 1);
	ck_assert_int_eq(st.hard_status, CHECK_OK);
	ck_assert_int_eq(check_state_apply(&st, CHECK_CRITICAL, 3),
	    CHECK_SOFT_CHANGE);
	ck_assert_uint_eq(st.attempt, 2);
	ck_assert_int_eq(check_state_apply(&st, CHECK_CRITICAL, 3),
	    CHECK_HARD_CHANGE);
	ck_assert_int_eq(st.type, CHECK_HARD);
	ck_assert_int_eq(st.hard_status, CHECK_CRITICAL);
	ck_assert_int_eq(check_state_apply(&st, CHECK_CRITICAL, 3),
	    CHECK_NO_CHANGE);
}
END_TEST

START_TEST(test_soft_problem_that_clears_raises_nothing)
{
	struct check_state st;

	check_state_init(&st);
	check_state_apply(&st, CHECK_OK, 3);
	check_state_apply(&st, CHECK_CRITICAL, 3);
	check_state_apply(&st, CHECK_CRITICAL, 3);
	ck_assert_int_eq(check_state_apply(&st, CHECK_OK, 3),
	    CHECK_SOFT_CHANGE);
	ck_assert_int_eq(st.hard_status, CHECK_OK);
	ck_assert_int_eq(st.type, CHECK_HARD);
	/* The count starts again. */
	ck_assert_int_eq(check_state_apply(&st, CHECK_CRITICAL, 3),
	    CHECK_SOFT_CHANGE);
	ck_assert_uint_eq(st.attempt, 1);
}
END_TEST

START_TEST(test_recovery_from_hard_problem_is_hard_at_once)
{
	struct check_state st;

	check_state_init(&st);
	check_state_apply(&st, CHECK_OK, 2);
	check_state_apply(&st, CHECK_CRITICAL, 2);
	check_state_apply(&st, CHECK_CRITICAL, 2);
	ck_assert_int_eq(check_state_apply(&st, CHECK_OK, 2),
	    CHECK_HARD_CHANGE);
	ck_assert_int_eq(st.hard_status, CHECK_OK);
}
END_TEST

START_TEST(test_max_attempts_one_is_hard_at_once)
{
	struct check_state st;

	check_state_init(&st);
	check_state_apply(&st, CHECK_OK, 1);
	ck_assert_int_eq(check_state_apply(&st, CHECK_WARNING, 1),
	    CHECK_HARD_CHANGE);
	ck_assert_int_eq(st.hard_status, CHECK_WARNING);
}
END_TEST

START_TEST(test_down_at_start_needs_its_retries_too)
{
	struct check_state st;

	check_state_init(&st);
	ck_assert_int_eq(check_state_apply(&st, CHECK_CRITICAL, 2),
	    CHECK_SOFT_CHANGE);
	ck_assert_int_eq(st.hard_status, CHECK_PENDING);
	ck_assert_int_eq(check_state_apply(&st, CHECK_CRITICAL, 2),
	    CHECK_HARD_CHANGE);
	ck_assert_int_eq(st.hard_status, CHECK_CRITICAL);
}
END_TEST

START_TEST(test_change_between_problems_while_hard_is_hard)
{
	struct check_state st;

	check_state_init(&st);
	check_state_apply(&st, CHECK_OK, 1);
	check_state_apply(&st, CHECK_WARNING, 1);
	ck_assert_int_eq(check_state_apply(&st, CHECK_CRITICAL, 3),
	    CHECK_HARD_CHANGE);
	ck_assert_int_eq(st.hard_status, CHECK_CRITICAL);
}
END_TEST

START_TEST(test_status_names)
{
	ck_assert_str_eq(check_status_str(CHECK_OK), "OK");
	ck_assert_str_eq(check_status_str(CHECK_CRITICAL), "CRITICAL");
	ck_assert_str_eq(check_status_str(CHECK_PENDING), "PENDING");
	ck_assert_str_eq(check_status_str((enum check_status)42), "?");
}
END_TEST

static Suite *
check_suite(void)
{
	Suite *s = suite_create("check");
	TCase *tc = tcase_create("state");

	tcase_add_test(tc, test_first_ok_result_is_a_hard_change_from_pending);
	tcase_add_test(tc, test_soft_state_becomes_hard_after_retries);
	tcase_add_test(tc, test_soft_problem_that_clears_raises_nothing);
	tcase_add_test(tc, test_recovery_from_hard_problem_is_hard_at_once);
	tcase_add_test(tc, test_max_attempts_one_is_hard_at_once);
	tcase_add_test(tc, test_down_at_start_needs_its_retries_too);
	tcase_add_test(tc, test_change_between_problems_while_hard_is_hard);
	tcase_add_test(tc, test_status_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(check_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
