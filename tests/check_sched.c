/*
 * The scheduler: deadline arithmetic (spreading, no drift, skipping instead
 * of bursting) and the timing wheel, driven by a fake clock.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"

static uint64_t fake_now_ms;

static uint64_t
fake_now(void)
{
	return fake_now_ms;
}

/* A test target: counts its firings and remembers when. */
struct target {
	struct sched_entry e;
	struct sched *s;
	unsigned fired;
	uint64_t fired_at[16];
	uint64_t interval; /* re-arm from the deadline when non-zero */
	int start_probe; /* return 1: a probe holds a slot */
	struct target *victim; /* removed when this one fires */
	int order; /* global firing order */
};

static int fire_order;

static int
target_cb(struct sched_entry *e, uint64_t now, void *arg)
{
	struct target *t = arg;

	if (t->fired < 16)
		t->fired_at[t->fired] = now;
	t->fired++;
	t->order = ++fire_order;
	if (t->victim != NULL)
		sched_remove(t->s, &t->victim->e);
	if (t->interval)
		sched_add(t->s, e,
		    sched_next_deadline(e->deadline, t->interval, now, NULL));
	return t->start_probe;
}

static void
target_init(struct target *t, struct sched *s)
{
	memset(t, 0, sizeof(*t));
	t->s = s;
	t->e.cb = target_cb;
	t->e.arg = t;
}

START_TEST(test_first_deadline_keeps_the_target_phase)
{
	for (uint64_t now = 0; now < 50000; now += 777) {
		uint64_t h = sched_hash("juki-ap01", "tcp/10443");
		uint64_t d = sched_first_deadline(now, 30000, h);

		ck_assert_uint_ge(d, now);
		ck_assert_uint_lt(d, now + 30000);
		/* The phase, on the wheel's 10 ms grid. */
		ck_assert_uint_eq(d % 30000, h % 30000 - h % 30000 % 10);
		ck_assert_uint_eq(d % 10, 0);
	}
}
END_TEST

START_TEST(test_first_deadlines_spread_evenly_over_the_interval)
{
	unsigned buckets[10] = { 0 };
	char name[32];

	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "host-%d", i);
		uint64_t d = sched_first_deadline(123456, 10000,
		    sched_hash(name, "icmp"));
		buckets[(d - 123456) / 1000]++;
	}
	/* 1000 per second expected; a poor hash would pile them up. */
	for (int i = 0; i < 10; i++) {
		ck_assert_uint_gt(buckets[i], 850);
		ck_assert_uint_lt(buckets[i], 1150);
	}
}
END_TEST

START_TEST(test_hash_differs_per_check_of_one_host)
{
	ck_assert_uint_ne(sched_hash("a", "icmp"), sched_hash("a", "tcp/22"));
	ck_assert_uint_ne(sched_hash("ab", "c"), sched_hash("a", "bc"));
}
END_TEST

START_TEST(test_next_deadline_is_rearmed_from_previous_not_now)
{
	uint64_t skipped = 0;

	/* Fired 40 ms late: the next run keeps the original phase. */
	ck_assert_uint_eq(sched_next_deadline(10000, 30000, 10040, &skipped),
	    40000);
	ck_assert_uint_eq(skipped, 0);
}
END_TEST

START_TEST(test_late_by_more_than_half_interval_skips_instead_of_bursting)
{
	uint64_t skipped = 0, next;

	/* Stalled for 95 s with a 30 s interval. */
	next = sched_next_deadline(10000, 30000, 105000, &skipped);
	ck_assert_uint_eq(next % 30000, 10000);
	ck_assert_uint_ge(next + 15000, 105000);
	ck_assert_uint_lt(next, 105000 + 30000);
	ck_assert_uint_eq(skipped, 2);
}
END_TEST

START_TEST(test_wheel_fires_at_deadline_not_before)
{
	struct sched *s;
	struct target t;

	fake_now_ms = 1000000;
	s = sched_new(NULL, fake_now);
	target_init(&t, s);
	sched_add(s, &t.e, 1000500);
	sched_tick(s, 1000490);
	ck_assert_uint_eq(t.fired, 0);
	sched_tick(s, 1000500);
	ck_assert_uint_eq(t.fired, 1);
	ck_assert_uint_eq(sched_count(s), 0);
	sched_free(s);
}
END_TEST

START_TEST(test_deadline_beyond_one_turn_waits_its_turn)
{
	struct sched *s;
	struct target t;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	target_init(&t, s);
	/* 25 s away: more than two turns of the 10.24 s wheel. */
	sched_add(s, &t.e, 25000);
	for (uint64_t now = 10; now < 25000; now += 10) {
		sched_tick(s, now);
		ck_assert_msg(t.fired == 0, "fired early at %llu",
		    (unsigned long long)now);
	}
	sched_tick(s, 25000);
	ck_assert_uint_eq(t.fired, 1);
	sched_free(s);
}
END_TEST

START_TEST(test_past_deadline_fires_on_next_tick)
{
	struct sched *s;
	struct target t;

	fake_now_ms = 50000;
	s = sched_new(NULL, fake_now);
	target_init(&t, s);
	sched_add(s, &t.e, 1000);
	sched_tick(s, 50010);
	ck_assert_uint_eq(t.fired, 1);
	sched_free(s);
}
END_TEST

START_TEST(test_periodic_target_keeps_its_phase)
{
	struct sched *s;
	struct target t;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	target_init(&t, s);
	t.interval = 1000;
	sched_add(s, &t.e, 250);
	for (uint64_t now = 10; now <= 5300; now += 10)
		sched_tick(s, now);
	ck_assert_uint_eq(t.fired, 6);
	for (unsigned i = 0; i < 6; i++)
		ck_assert_uint_eq(t.fired_at[i], 250 + 1000 * i);
	sched_free(s);
}
END_TEST

START_TEST(test_removed_entry_does_not_fire)
{
	struct sched *s;
	struct target a, b;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	target_init(&a, s);
	target_init(&b, s);
	sched_add(s, &a.e, 100);
	sched_add(s, &b.e, 100);
	sched_remove(s, &a.e);
	sched_remove(s, &a.e); /* twice is harmless */
	ck_assert_uint_eq(sched_count(s), 1);
	sched_tick(s, 200);
	ck_assert_uint_eq(a.fired, 0);
	ck_assert_uint_eq(b.fired, 1);
	sched_free(s);
}
END_TEST

START_TEST(test_readding_moves_an_entry)
{
	struct sched *s;
	struct target t;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	target_init(&t, s);
	sched_add(s, &t.e, 100);
	sched_add(s, &t.e, 3000);
	ck_assert_uint_eq(sched_count(s), 1);
	sched_tick(s, 2990);
	ck_assert_uint_eq(t.fired, 0);
	sched_tick(s, 3000);
	ck_assert_uint_eq(t.fired, 1);
	sched_free(s);
}
END_TEST

START_TEST(test_long_stall_fires_every_due_entry_once)
{
	struct sched *s;
	struct target t[100];

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	for (int i = 0; i < 100; i++) {
		target_init(&t[i], s);
		sched_add(s, &t[i].e, (uint64_t)i * 997);
	}
	/* The loop was blocked for 100 s: one tick must catch up. */
	sched_tick(s, 100000);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(t[i].fired, 1);
	ck_assert_uint_eq(sched_count(s), 0);
	sched_free(s);
}
END_TEST

START_TEST(test_entries_fire_in_deadline_order_across_ticks)
{
	struct sched *s;
	struct target t[5];
	const uint64_t when[5] = { 50, 20, 40, 10, 30 };

	fake_now_ms = 0;
	fire_order = 0;
	s = sched_new(NULL, fake_now);
	for (int i = 0; i < 5; i++) {
		target_init(&t[i], s);
		sched_add(s, &t[i].e, when[i]);
	}
	for (uint64_t now = 10; now <= 50; now += 10)
		sched_tick(s, now);
	/* 10 fires first, then 20, 30, 40, 50. */
	ck_assert_int_eq(t[3].order, 1);
	ck_assert_int_eq(t[1].order, 2);
	ck_assert_int_eq(t[4].order, 3);
	ck_assert_int_eq(t[2].order, 4);
	ck_assert_int_eq(t[0].order, 5);
	sched_free(s);
}
END_TEST

START_TEST(test_wheel_wraps_around_many_turns)
{
	struct sched *s;
	struct target t;

	/* Start close to where the slot index wraps, and go round 5 times. */
	fake_now_ms = 1024 * 10 * 1000 - 30;
	s = sched_new(NULL, fake_now);
	target_init(&t, s);
	t.interval = 10240; /* exactly one turn */
	sched_add(s, &t.e, fake_now_ms + 10);
	for (uint64_t now = fake_now_ms + 10;
	     now <= fake_now_ms + 5 * 10240 + 10; now += 10)
		sched_tick(s, now);
	ck_assert_uint_eq(t.fired, 6);
	for (unsigned i = 1; i < 6; i++)
		ck_assert_uint_eq(t.fired_at[i] - t.fired_at[i - 1], 10240);
	sched_free(s);
}
END_TEST

START_TEST(test_removal_during_firing_is_safe)
{
	struct sched *s;
	struct target a, b, c;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	target_init(&a, s);
	target_init(&b, s);
	target_init(&c, s);
	/* All due on one tick; a removes b before b runs, and itself. */
	a.victim = &b;
	sched_add(s, &a.e, 100);
	sched_add(s, &b.e, 100);
	sched_add(s, &c.e, 100);
	sched_tick(s, 100);
	ck_assert_uint_eq(a.fired, 1);
	ck_assert_uint_eq(b.fired, 0);
	ck_assert_uint_eq(c.fired, 1);
	ck_assert_uint_eq(sched_count(s), 0);
	sched_free(s);
}
END_TEST

START_TEST(test_token_bucket_paces_a_burst)
{
	struct sched *s;
	struct target t[300];
	unsigned fired;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	/* 1000 probes/s, buckets of 50: 10 per 10 ms tick after the burst. */
	sched_set_limits(s, 1000, 50, 100000);
	for (int i = 0; i < 300; i++) {
		target_init(&t[i], s);
		t[i].start_probe = 1;
		sched_add(s, &t[i].e, 10);
	}
	/* The bucket starts empty and fills at 1/ms. */
	sched_tick(s, 10);
	fired = 0;
	for (int i = 0; i < 300; i++)
		fired += t[i].fired;
	ck_assert_uint_eq(fired, 10);
	ck_assert_uint_eq(sched_ready_count(s), 290);
	sched_tick(s, 20);
	fired = 0;
	for (int i = 0; i < 300; i++)
		fired += t[i].fired;
	ck_assert_uint_eq(fired, 20);
	/* Everyone had to wait but the first ten. */
	ck_assert_uint_eq(sched_deferred(s), 290);
	/* 290 more at 1/ms take 290 ms. */
	for (uint64_t now = 30; now <= 300; now += 10)
		sched_tick(s, now);
	fired = 0;
	for (int i = 0; i < 300; i++)
		fired += t[i].fired;
	ck_assert_uint_eq(fired, 300);
	sched_free(s);
}
END_TEST

START_TEST(test_bucket_never_holds_more_than_its_depth)
{
	struct sched *s;
	struct target t[100];
	unsigned fired = 0;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	sched_set_limits(s, 1000, 20, 100000);
	/* A long idle time earns no more than the depth. */
	sched_tick(s, 60000);
	for (int i = 0; i < 100; i++) {
		target_init(&t[i], s);
		t[i].start_probe = 1;
		sched_add(s, &t[i].e, 60000);
	}
	sched_tick(s, 60010);
	for (int i = 0; i < 100; i++)
		fired += t[i].fired;
	ck_assert_uint_eq(fired, 20);
	sched_free(s);
}
END_TEST

START_TEST(test_in_flight_cap_holds_until_done)
{
	struct sched *s;
	struct target t[10];
	unsigned fired = 0;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	sched_set_limits(s, 0, 1, 3); /* no rate limit, 3 in flight */
	for (int i = 0; i < 10; i++) {
		target_init(&t[i], s);
		t[i].start_probe = 1;
		sched_add(s, &t[i].e, 10);
	}
	sched_tick(s, 10);
	for (int i = 0; i < 10; i++)
		fired += t[i].fired;
	ck_assert_uint_eq(fired, 3);
	ck_assert_uint_eq(sched_in_flight(s), 3);
	/* Two probes end: two more may start at the next dispatch. */
	sched_done(s);
	sched_done(s);
	ck_assert_uint_eq(sched_in_flight(s), 1);
	sched_tick(s, 20);
	fired = 0;
	for (int i = 0; i < 10; i++)
		fired += t[i].fired;
	ck_assert_uint_eq(fired, 5);
	ck_assert_uint_eq(sched_in_flight(s), 3);
	sched_free(s);
}
END_TEST

START_TEST(test_skipped_run_costs_no_token)
{
	struct sched *s;
	struct target t[30];
	unsigned fired = 0;

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	sched_set_limits(s, 1000, 10, 1000);
	for (int i = 0; i < 30; i++) {
		target_init(&t[i], s);
		t[i].start_probe = 0; /* each one decides not to probe */
		sched_add(s, &t[i].e, 10);
	}
	sched_tick(s, 10);
	for (int i = 0; i < 30; i++)
		fired += t[i].fired;
	ck_assert_uint_eq(fired, 30);
	sched_free(s);
}
END_TEST

START_TEST(test_removed_while_waiting_leaves_the_queue)
{
	struct sched *s;
	struct target t[5];

	fake_now_ms = 0;
	s = sched_new(NULL, fake_now);
	sched_set_limits(s, 0, 1, 1);
	for (int i = 0; i < 5; i++) {
		target_init(&t[i], s);
		t[i].start_probe = 1;
		sched_add(s, &t[i].e, 10);
	}
	sched_tick(s, 10);
	ck_assert_uint_eq(sched_ready_count(s), 4);
	sched_remove(s, &t[2].e);
	ck_assert_uint_eq(sched_ready_count(s), 3);
	ck_assert_uint_eq(sched_count(s), 3);
	for (int i = 0; i < 4; i++) {
		sched_done(s);
		sched_tick(s, 20 + (uint64_t)i * 10);
	}
	ck_assert_uint_eq(t[2].fired, 0);
	ck_assert_uint_eq(t[4].fired, 1);
	sched_free(s);
}
END_TEST

static Suite *
sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_first_deadline_keeps_the_target_phase);
	tcase_add_test(tc,
	    test_first_deadlines_spread_evenly_over_the_interval);
	tcase_add_test(tc, test_hash_differs_per_check_of_one_host);
	tcase_add_test(tc, test_next_deadline_is_rearmed_from_previous_not_now);
	tcase_add_test(tc,
	    test_late_by_more_than_half_interval_skips_instead_of_bursting);
	tcase_add_test(tc, test_wheel_fires_at_deadline_not_before);
	tcase_add_test(tc, test_deadline_beyond_one_turn_waits_its_turn);
	tcase_add_test(tc, test_past_deadline_fires_on_next_tick);
	tcase_add_test(tc, test_periodic_target_keeps_its_phase);
	tcase_add_test(tc, test_removed_entry_does_not_fire);
	tcase_add_test(tc, test_readding_moves_an_entry);
	tcase_add_test(tc, test_long_stall_fires_every_due_entry_once);
	tcase_add_test(tc, test_entries_fire_in_deadline_order_across_ticks);
	tcase_add_test(tc, test_wheel_wraps_around_many_turns);
	tcase_add_test(tc, test_removal_during_firing_is_safe);
	tcase_add_test(tc, test_token_bucket_paces_a_burst);
	tcase_add_test(tc, test_bucket_never_holds_more_than_its_depth);
	tcase_add_test(tc, test_in_flight_cap_holds_until_done);
	tcase_add_test(tc, test_skipped_run_costs_no_token);
	tcase_add_test(tc, test_removed_while_waiting_leaves_the_queue);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sched_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
