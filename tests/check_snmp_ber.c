/*
 * The SNMP engine's pure parts, without I/O: OIDs (monitord/snmp_oid.c),
 * the framing check of received messages (monitord/snmp_ber.c) and the
 * names of results and value types.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"

/* A parsed OID; the test fails on a bad one. */
static struct snmp_oid
O(const char *s) {
	struct snmp_oid oid;

	ck_assert_msg(snmp_oid_parse(s, &oid) == 0, "bad OID %s", s);
	return oid;
}

/* xorshift32: the same bytes on every run. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

START_TEST(test_oid_parse_takes_numeric_oids_and_nothing_else)
{
	static const char *const good[] = { "1.3.6.1.2.1.1.3.0",
		".1.3.6.1.2.1.1.3.0", "0.0", "2.999.4294967295", "1.39" };
	static const char *const bad[] = { "", ".", "1", "1.", "1..3", "1.3.",
		"..1.3", "1.3.6.a", " 1.3", "1.3 ", "-1.3", "+1.3",
		"1.3.4294967296", "3.1", "1.40", "0.40", "iso.3.6",
		"SNMPv2-MIB::sysUpTime.0", "1,3,6" };
	struct snmp_oid oid;
	char buf[SNMP_OID_STRLEN], big[1200];
	size_t i, off = 0;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(snmp_oid_parse(good[i], &oid) == 0, "%s",
		    good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(snmp_oid_parse(bad[i], &oid) == -1, "%s", bad[i]);
	ck_assert_int_eq(snmp_oid_parse(NULL, &oid), -1);

	ck_assert_int_eq(snmp_oid_parse(".1.3.6.1.2.1.1.3.0", &oid), 0);
	ck_assert_uint_eq(oid.len, 9);
	ck_assert_uint_eq(oid.n[8], 0);
	ck_assert_str_eq(snmp_oid_str(&oid, buf, sizeof(buf)),
	    "1.3.6.1.2.1.1.3.0");

	/* 128 sub-identifiers fit, 129 do not */
	off = (size_t)snprintf(big, sizeof(big), "1.3");
	for (i = 2; i < SNMP_OID_MAX; i++)
		off +=
		    (size_t)snprintf(big + off, sizeof(big) - off, ".%zu", i);
	ck_assert_int_eq(snmp_oid_parse(big, &oid), 0);
	ck_assert_uint_eq(oid.len, SNMP_OID_MAX);
	snprintf(big + off, sizeof(big) - off, ".7");
	ck_assert_int_eq(snmp_oid_parse(big, &oid), -1);
}
END_TEST

START_TEST(test_oid_str_round_trips_and_cuts_safely)
{
	struct snmp_oid oid = O("1.3.6.1.4.1.8072.3.2.10.4294967295"), back;
	char buf[SNMP_OID_STRLEN], small[12];
	size_t i;

	ck_assert_str_eq(snmp_oid_str(&oid, buf, sizeof(buf)),
	    "1.3.6.1.4.1.8072.3.2.10.4294967295");
	ck_assert_int_eq(snmp_oid_parse(buf, &back), 0);
	ck_assert_int_eq(snmp_oid_cmp(&oid, &back), 0);
	for (i = 1; i < sizeof(small); i++) {
		memset(small, 'x', sizeof(small));
		snmp_oid_str(&oid, small, i);
		ck_assert_uint_lt(strlen(small), i);
	}
	snmp_oid_str(&oid, small, sizeof(small));
	ck_assert_ptr_nonnull(strstr(small, "..."));
}
END_TEST

START_TEST(test_oid_order_puts_prefixes_first)
{
	struct snmp_oid a = O("1.3.6.1.2.1.2.2.1.2"),
			b = O("1.3.6.1.2.1.2.2.1.2.1"),
			c = O("1.3.6.1.2.1.2.2.1.2.10"),
			d = O("1.3.6.1.2.1.2.2.1.3"),
			e = O("1.3.6.1.2.1.2.2.1.2.2");

	ck_assert_int_eq(snmp_oid_cmp(&a, &a), 0);
	ck_assert_int_lt(snmp_oid_cmp(&a, &b), 0);
	ck_assert_int_gt(snmp_oid_cmp(&b, &a), 0);
	ck_assert_int_lt(snmp_oid_cmp(&e, &c), 0);
	ck_assert_int_lt(snmp_oid_cmp(&c, &d), 0);
	ck_assert(snmp_oid_has_prefix(&b, &a));
	ck_assert(snmp_oid_has_prefix(&a, &a));
	ck_assert(!snmp_oid_has_prefix(&d, &a));
	ck_assert(!snmp_oid_has_prefix(&a, &b));
}
END_TEST

START_TEST(test_packet_check_wants_one_well_framed_message)
{
	/* sysName.0 from a v2c agent, as snmpd sends it */
	static const uint8_t good[] = { 0x30, 0x29, 0x02, 0x01, 0x01, 0x04,
		0x06, 'p', 'u', 'b', 'l', 'i', 'c', 0xa2, 0x1c, 0x02, 0x04,
		0x12, 0x34, 0x56, 0x78, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
		0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02,
		0x01, 0x01, 0x05, 0x00, 0x04, 0x00 };
	uint8_t buf[sizeof(good) + 4];
	long version = -1;
	uint32_t rng = 12345;
	size_t i;

	ck_assert_int_eq(snmp_ber_packet_check(good, sizeof(good), &version),
	    0);
	ck_assert_int_eq(version, 1);
	/* a byte short, a byte more, an inner length past its parent */
	ck_assert_int_eq(snmp_ber_packet_check(good, sizeof(good) - 1, NULL),
	    -1);
	memcpy(buf, good, sizeof(good));
	buf[sizeof(good)] = 0;
	ck_assert_int_eq(snmp_ber_packet_check(buf, sizeof(good) + 1, NULL),
	    -1);
	memcpy(buf, good, sizeof(good));
	buf[28] = 0x7f;
	ck_assert_int_eq(snmp_ber_packet_check(buf, sizeof(good), NULL), -1);
	/* indefinite and five-byte lengths */
	memcpy(buf, good, sizeof(good));
	buf[1] = 0x80;
	ck_assert_int_eq(snmp_ber_packet_check(buf, sizeof(good), NULL), -1);
	buf[1] = 0x85;
	ck_assert_int_eq(snmp_ber_packet_check(buf, sizeof(good), NULL), -1);
	/* version 2 does not exist */
	memcpy(buf, good, sizeof(good));
	buf[4] = 2;
	ck_assert_int_eq(snmp_ber_packet_check(buf, sizeof(good), NULL), -1);
	ck_assert_int_eq(snmp_ber_packet_check(good, 0, NULL), -1);
	ck_assert_int_eq(snmp_ber_packet_check(NULL, 10, NULL), -1);
	/* any bytes: no crash, and whatever passes is framed */
	for (i = 0; i < 200000; i++) {
		size_t n = rnd(&rng) % sizeof(buf), k;

		memcpy(buf, good, sizeof(good));
		for (k = 0; k < 1 + rnd(&rng) % 3; k++)
			buf[rnd(&rng) % sizeof(good)] = (uint8_t)rnd(&rng);
		snmp_ber_packet_check(buf, n, &version);
	}
}
END_TEST

START_TEST(test_result_and_type_names_are_distinct)
{
	int i, j;

	for (i = SNMP_RESULT_OK; i <= SNMP_RESULT_ERROR; i++) {
		for (j = i + 1; j <= SNMP_RESULT_ERROR; j++)
			ck_assert_str_ne(snmp_agent_result_str(i),
			    snmp_agent_result_str(j));
	}
	ck_assert_str_eq(snmp_agent_result_str((enum snmp_result)99),
	    "unknown");
	for (i = SNMP_VT_NULL; i <= SNMP_VT_OTHER; i++) {
		for (j = i + 1; j <= SNMP_VT_OTHER; j++)
			ck_assert_str_ne(snmp_vb_vtype_str(i),
			    snmp_vb_vtype_str(j));
	}
}
END_TEST

START_TEST(test_oid_valid_takes_what_parse_takes)
{
	struct snmp_oid oid = O("1.3.6.1.2.1.1.5.0"), copy;

	ck_assert(snmp_oid_valid(&oid));
	memset(&copy, 0xee, sizeof(copy));
	snmp_oid_copy(&copy, &oid);
	ck_assert_int_eq(snmp_oid_cmp(&copy, &oid), 0);
	oid.len = 1;
	ck_assert(!snmp_oid_valid(&oid));
	oid.len = SNMP_OID_MAX + 1;
	ck_assert(!snmp_oid_valid(&oid));
	oid = O("1.39");
	ck_assert(snmp_oid_valid(&oid));
	oid.n[1] = 40;
	ck_assert(!snmp_oid_valid(&oid));
	oid.n[0] = 2;
	ck_assert(snmp_oid_valid(&oid));
	oid.n[0] = 3;
	ck_assert(!snmp_oid_valid(&oid));
}
END_TEST

START_TEST(test_oid_ber_len_is_the_encoded_size)
{
	/* 06 08 2b 06 01 02 01 01 05 00: sysName.0 */
	struct snmp_oid a = O("1.3.6.1.2.1.1.5.0"),
			/* 4294967295 takes five bytes of seven bits */
	    b = O("1.3.6.1.4.1.4294967295"),
			/* 2.999: the first two as one sub-identifier, 1079 */
	    c = O("2.999"), big;
	char text[1200];
	size_t i, off;

	ck_assert_uint_eq(snmp_oid_ber_len(&a), 10);
	ck_assert_uint_eq(snmp_oid_ber_len(&b), 2 + 5 + 5);
	ck_assert_uint_eq(snmp_oid_ber_len(&c), 2 + 2);
	/* past 127 content bytes the length takes three bytes (0x81 nn) */
	off = (size_t)snprintf(text, sizeof(text), "1.3");
	for (i = 2; i < SNMP_OID_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, ".200");
	big = O(text);
	ck_assert_uint_eq(snmp_oid_ber_len(&big),
	    1 + 2 * (SNMP_OID_MAX - 2) + 3);
}
END_TEST

/* Puts the suite together. */
static Suite *
snmp_ber_suite(void)
{
	Suite *s = suite_create("snmp_ber");
	TCase *tc;

	tc = tcase_create("oid");
	tcase_add_test(tc, test_oid_parse_takes_numeric_oids_and_nothing_else);
	tcase_add_test(tc, test_oid_str_round_trips_and_cuts_safely);
	tcase_add_test(tc, test_oid_order_puts_prefixes_first);
	tcase_add_test(tc, test_oid_valid_takes_what_parse_takes);
	tcase_add_test(tc, test_oid_ber_len_is_the_encoded_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("ber");
	tcase_add_test(tc, test_packet_check_wants_one_well_framed_message);
	tcase_add_test(tc, test_result_and_type_names_are_distinct);
	suite_add_tcase(s, tc);
	return s;
}

int main(void);

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("check_snmp_ber", 0, LOG_LEVEL_WARN);
	sr = srunner_create(snmp_ber_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
