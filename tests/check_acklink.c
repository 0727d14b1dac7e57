/*
 * Check suite for acklink.c: the one-time acknowledgement link tokens.
 * Round trip, the 27-character form, and every way a token is refused:
 * a changed character, another secret, an expired one, a wrong length, a
 * character outside base64url, spare bits set, ids and times that do not
 * fit.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "incidentd.h"

#define SECRET "kanshi-ack-secret-0123456789"

START_TEST(test_round_trip)
{
	char tok[ACK_TOKEN_LEN + 1];
	uint64_t id = 0;
	time_t exp = 0;

	ck_assert_int_eq(acklink_make(SECRET, 42, 1796000000, tok, sizeof(tok)),
	    0);
	ck_assert_uint_eq(strlen(tok), ACK_TOKEN_LEN);
	ck_assert_uint_eq(strspn(tok,
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
			      "vwxyz0123456789-_"),
	    ACK_TOKEN_LEN);
	ck_assert_int_eq(acklink_check(SECRET, tok, 1795999999, &id, &exp),
	    ACK_OK);
	ck_assert_uint_eq(id, 42);
	ck_assert_int_eq((long)exp, 1796000000);
	/* the largest id that fits */
	ck_assert_int_eq(acklink_make(SECRET, (1ULL << 48) - 1, 1796000000, tok,
			     sizeof(tok)),
	    0);
	ck_assert_int_eq(acklink_check(SECRET, tok, 0, &id, &exp), ACK_OK);
	ck_assert_uint_eq(id, (1ULL << 48) - 1);
}
END_TEST

/* The value the Python side of test_ack_link computes the same way. */
START_TEST(test_known_token)
{
	char tok[ACK_TOKEN_LEN + 1];

	ck_assert_int_eq(acklink_make("0123456789abcdef", 1, 2000000000, tok,
			     sizeof(tok)),
	    0);
	/* id 000000000001, expiry 77359400, then HMAC-SHA256's first 10
	 * bytes, base64url without padding, as Python's hmac computes it */
	ck_assert_str_eq(tok, "AAAAAAABdzWUAID17bhv1CBpVjQ");
}
END_TEST

START_TEST(test_refusals)
{
	char tok[ACK_TOKEN_LEN + 1], bad[ACK_TOKEN_LEN + 2];
	uint64_t id;
	time_t exp;

	ck_assert_int_eq(acklink_make(SECRET, 7, 1796000000, tok, sizeof(tok)),
	    0);
	ck_assert_int_eq(acklink_check(SECRET, tok, 1796000001, &id, &exp),
	    ACK_EXPIRED);
	ck_assert_int_eq(acklink_check("another-secret-0000", tok, 0, &id,
			     &exp),
	    ACK_FORGED);
	/* each character changed in turn: never accepted */
	for (size_t i = 0; i + 1 < ACK_TOKEN_LEN; i++) {
		memcpy(bad, tok, sizeof(tok));
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		ck_assert_int_ne(acklink_check(SECRET, bad, 0, &id, &exp),
		    ACK_OK);
	}
	/* the last character carries 2 spare bits, which must be zero */
	memcpy(bad, tok, sizeof(tok));
	bad[ACK_TOKEN_LEN - 1] = bad[ACK_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
	ck_assert_int_ne(acklink_check(SECRET, bad, 0, &id, &exp), ACK_OK);
	ck_assert_int_eq(acklink_check(SECRET, "", 0, &id, &exp),
	    ACK_MALFORMED);
	ck_assert_int_eq(acklink_check(SECRET, NULL, 0, &id, &exp),
	    ACK_MALFORMED);
	memcpy(bad, tok, sizeof(tok));
	bad[ACK_TOKEN_LEN - 1] = '\0';
	ck_assert_int_eq(acklink_check(SECRET, bad, 0, &id, &exp),
	    ACK_MALFORMED);
	memcpy(bad, tok, sizeof(tok));
	bad[ACK_TOKEN_LEN] = 'A';
	bad[ACK_TOKEN_LEN + 1] = '\0';
	ck_assert_int_eq(acklink_check(SECRET, bad, 0, &id, &exp),
	    ACK_MALFORMED);
	memcpy(bad, tok, sizeof(tok));
	bad[3] = '/';
	ck_assert_int_eq(acklink_check(SECRET, bad, 0, &id, &exp),
	    ACK_MALFORMED);
	bad[3] = '=';
	ck_assert_int_eq(acklink_check(SECRET, bad, 0, &id, &exp),
	    ACK_MALFORMED);
	/* what does not fit is not made */
	ck_assert_int_eq(acklink_make(SECRET, 1ULL << 48, 1, tok, sizeof(tok)),
	    -1);
	ck_assert_int_eq(acklink_make(SECRET, 1, -1, tok, sizeof(tok)), -1);
	ck_assert_int_eq(acklink_make(SECRET, 1, 1, tok, ACK_TOKEN_LEN), -1);
}
END_TEST

static Suite *
acklink_suite(void)
{
	Suite *s = suite_create("acklink");
	TCase *tc = tcase_create("tokens");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_known_token);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(acklink_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
