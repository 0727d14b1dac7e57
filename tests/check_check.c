/*
 * The soft/hard state machine of a check.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

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
	ck_assert_str_eq(check_state_status_str(CHECK_OK), "OK");
	ck_assert_str_eq(check_state_status_str(CHECK_CRITICAL), "CRITICAL");
	ck_assert_str_eq(check_state_status_str(CHECK_PENDING), "PENDING");
	ck_assert_str_eq(check_state_status_str((enum check_status)42), "?");
}
END_TEST

/* Pushes n results of one status; returns the last percentage. */
static double
push_n(uint8_t *h, uint8_t *n, uint8_t *pos, enum check_status st, int times)
{
	double pct = -1;

	for (int i = 0; i < times; i++)
		check_state_flap_push(h, n, pos, st, &pct);
	return pct;
}

START_TEST(test_flapping_weights_newer_changes_more)
{
	uint8_t h[CHECK_FLAP_HISTORY], n = 0, pos = 0;
	double pct;

	/* a steady state: no change at all, the first result fills all */
	ck_assert_double_eq(push_n(h, &n, &pos, CHECK_OK, 30), 0);
	/* one change, the newest: weight 1.2 of 20 transitions */
	ck_assert_int_eq(check_state_flap_push(h, &n, &pos, CHECK_CRITICAL,
			     &pct),
	    1);
	ck_assert_double_eq_tol(pct, 1.2 * 100 / 20, 1e-9);
	/* the same change, 19 results later: the oldest, weight 0.8 */
	pct = push_n(h, &n, &pos, CHECK_CRITICAL, 19);
	ck_assert_double_eq_tol(pct, 0.8 * 100 / 20, 1e-9);
	/* one more and it has left the history */
	ck_assert_double_eq(push_n(h, &n, &pos, CHECK_CRITICAL, 1), 0);
	/* a change on every result: the weights average 1, so 100 % */
	for (int i = 0; i < 20; i++)
		check_state_flap_push(h, &n, &pos,
		    i % 2 ? CHECK_CRITICAL : CHECK_OK, &pct);
	ck_assert_double_eq_tol(pct, 100, 1e-9);
	/* two states taking turns every other result: half the changes */
	for (int i = 0; i < 21; i++)
		check_state_flap_push(h, &n, &pos,
		    (i / 2) % 2 ? CHECK_WARNING : CHECK_OK, &pct);
	ck_assert_double_eq_tol(pct, 50, 2.5);
}
END_TEST

/*
 * core -> rt1, rt2 (redundant uplinks of sw) -> sw -> pc.  Each host has
 * a host check, pc also a tcp check.
 */
struct topo_fixture {
	struct mon_host core, rt1, rt2, sw, pc;
	struct mon_check c_core, c_rt1, c_rt2, c_sw, c_pc, c_pc_tcp;
	struct mon_host *p_rt[1], *p_sw[2], *p_pc[1];
};

static void
topo_setup(struct topo_fixture *f)
{
	struct mon_host *hosts[] = { &f->core, &f->rt1, &f->rt2, &f->sw,
		&f->pc };
	struct mon_check *checks[] = { &f->c_core, &f->c_rt1, &f->c_rt2,
		&f->c_sw, &f->c_pc };
	const char *names[] = { "core", "rt1", "rt2", "sw", "pc" };

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < 5; i++) {
		hosts[i]->name = (char *)names[i];
		hosts[i]->host_check = checks[i];
		checks[i]->host = hosts[i];
		check_state_init(&checks[i]->state);
		checks[i]->state.status = CHECK_OK;
		checks[i]->state.hard_status = CHECK_OK;
	}
	f->c_pc_tcp.host = &f->pc;
	check_state_init(&f->c_pc_tcp.state);
	f->p_rt[0] = &f->core;
	f->rt1.parents = f->p_rt;
	f->rt1.nparents = 1;
	f->rt2.parents = f->p_rt;
	f->rt2.nparents = 1;
	f->p_sw[0] = &f->rt1;
	f->p_sw[1] = &f->rt2;
	f->sw.parents = f->p_sw;
	f->sw.nparents = 2;
	f->p_pc[0] = &f->sw;
	f->pc.parents = f->p_pc;
	f->pc.nparents = 1;
}

static void
set_failing(struct mon_check *c, int hard)
{
	c->state.status = CHECK_CRITICAL;
	if (hard)
		c->state.hard_status = CHECK_CRITICAL;
}

START_TEST(test_topology_with_redundant_parents)
{
	struct topo_fixture f;
	const struct mon_host *root;

	topo_setup(&f);
	/* one uplink down: the switch is still reachable through the other */
	set_failing(&f.c_rt1, 1);
	set_failing(&f.c_sw, 1);
	ck_assert_int_eq(topo_host_blocked(&f.sw, &root), 0);
	ck_assert_int_eq(topo_host_state(&f.sw, &root), HOST_DOWN);
	ck_assert_ptr_null(topo_suppressor(&f.c_sw));
	/* both down: unreachable, and the first router is to blame */
	set_failing(&f.c_rt2, 0); /* soft: its latest result counts already */
	ck_assert_int_eq(topo_host_state(&f.sw, &root), HOST_UNREACHABLE);
	ck_assert_ptr_eq(root, &f.rt1);
	ck_assert_ptr_eq(topo_suppressor(&f.c_sw), &f.rt1);
	/* pc behind the switch: blocked, blamed on the same root */
	set_failing(&f.c_pc, 1);
	ck_assert_int_eq(topo_host_state(&f.pc, &root), HOST_UNREACHABLE);
	ck_assert_ptr_eq(root, &f.rt1);
	/* the core behind both routers fails: it is the root of all */
	set_failing(&f.c_core, 1);
	ck_assert_int_eq(topo_host_state(&f.rt1, &root), HOST_UNREACHABLE);
	ck_assert_ptr_eq(root, &f.core);
	ck_assert_int_eq(topo_host_state(&f.pc, &root), HOST_UNREACHABLE);
	ck_assert_ptr_eq(root, &f.core);
	ck_assert_int_eq(topo_host_state(&f.core, &root), HOST_DOWN);
	ck_assert_ptr_null(root);
	/* a check on pc is covered by pc's root */
	set_failing(&f.c_pc_tcp, 1);
	ck_assert_ptr_eq(topo_suppressor(&f.c_pc_tcp), &f.core);
	/* the routers answer again, the switch not: the switch is DOWN,
	 * and pc's problems are the switch's */
	f.c_core.state.status = f.c_core.state.hard_status = CHECK_OK;
	f.c_rt1.state.status = f.c_rt1.state.hard_status = CHECK_OK;
	ck_assert_int_eq(topo_host_state(&f.sw, &root), HOST_DOWN);
	ck_assert_ptr_eq(topo_suppressor(&f.c_pc_tcp), &f.sw);
	ck_assert_ptr_eq(topo_suppressor(&f.c_pc), &f.sw);
	/* pc itself answers, its tcp check does not: its own fault */
	f.c_pc.state.status = f.c_pc.state.hard_status = CHECK_OK;
	ck_assert_ptr_null(topo_suppressor(&f.c_pc_tcp));
	ck_assert_int_eq(topo_host_state(&f.pc, &root), HOST_UP);
	/* WARNING is up; PENDING is not known yet */
	f.c_sw.state.status = f.c_sw.state.hard_status = CHECK_WARNING;
	ck_assert_int_eq(topo_host_state(&f.sw, &root), HOST_UP);
	check_state_init(&f.c_sw.state);
	ck_assert_int_eq(topo_host_state(&f.sw, &root), HOST_PENDING);
	ck_assert_str_eq(topo_host_state_str(HOST_UNREACHABLE), "UNREACHABLE");
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
	tcase_add_test(tc, test_flapping_weights_newer_changes_more);
	tcase_add_test(tc, test_topology_with_redundant_parents);
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
