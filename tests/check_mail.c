/*
 * Check suite for mail.c: RFC 2047 subjects and names, folding, header
 * injection, the base64 body, dates and threading headers.  Encoded words
 * are decoded here with the test's own base64 decoder.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "incidentd.h"
#include "xmalloc.h"

#define JA_SUBJECT                                                                           \
	"【障害発生】INC-000123 基幹系 住民記録サーバ jukijp-db01 tcp/5432 " \
	"CRITICAL"

static const char *const one_to[] = { "oncall@city.example.jp" };

/* Returns the value of one base64 digit, or -1. */
static int
b64_digit(char c)
{
	const char *digits =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p;

	if (c == '\0' || (p = strchr(digits, c)) == NULL)
		return -1;
	return (int)(p - digits);
}

/* Decodes base64, skipping CRLF; NULL on a bad digit or bad padding. */
static char *
b64_decode(const char *s, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	uint32_t acc = 0;
	size_t n = 0, bits = 0, pad = 0;

	for (size_t i = 0; i < len; i++) {
		int d;

		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (d = b64_digit(s[i])) < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	if (outlen != NULL)
		*outlen = n;
	return out;
}

/* Says whether len bytes are well-formed UTF-8 (independent checker). */
static int
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n;
		uint32_t cp;

		if (s[i] < 0x80) {
			i++;
			continue;
		} else if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			n = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n = 4;
			cp = s[i] & 0x07;
		} else
			return 0;
		if (i + n > len)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += n;
	}
	return 1;
}

/* Returns the header section (up to the empty line) of a message. */
static char *
head_of(const char *msg)
{
	const char *end = strstr(msg, "\r\n\r\n");

	ck_assert_ptr_nonnull(end);
	return xstrndup(msg, (size_t)(end - msg) + 2);
}

/* Returns the body section of a message. */
static const char *
body_of(const char *msg)
{
	const char *end = strstr(msg, "\r\n\r\n");

	ck_assert_ptr_nonnull(end);
	return end + 4;
}

/*
 * Returns the unfolded value of the first field called name (CRLF before
 * whitespace removed, the space after the colon skipped), or NULL.
 */
static char *
field(const char *head, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = head;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");

		ck_assert_ptr_nonnull(eol);
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			char *out = xmalloc(strlen(p) + 1);
			size_t n = 0;
			const char *q = p + nlen + 1;

			if (*q == ' ')
				q++;
			for (;;) {
				if (q[0] == '\r' && q[1] == '\n') {
					if (q[2] != ' ' && q[2] != '\t')
						break;
					q += 2;
					continue;
				}
				out[n++] = *q++;
			}
			out[n] = '\0';
			return out;
		}
		p = eol + 2;
	}
	return NULL;
}

/*
 * Decodes a value made of RFC 2047 B words separated by spaces, checking
 * each word's length and that it holds whole UTF-8 characters.  Returns
 * NULL if the value is not made of such words.
 */
static char *
decode_words(const char *value, size_t *nwords)
{
	char *out = xmalloc(strlen(value) + 1);
	size_t n = 0;
	const char *p = value;

	*nwords = 0;
	while (*p != '\0') {
		const char *end;
		char *dec;
		size_t wlen, dlen;

		if (strncmp(p, "=?UTF-8?B?", 10) != 0 ||
		    (end = strstr(p + 10, "?=")) == NULL) {
			free(out);
			return NULL;
		}
		wlen = (size_t)(end + 2 - p);
		ck_assert_msg(wlen <= 75, "encoded-word of %zu chars", wlen);
		dec = b64_decode(p + 10, (size_t)(end - p - 10), &dlen);
		ck_assert_ptr_nonnull(dec);
		ck_assert_msg(utf8_valid((unsigned char *)dec, dlen),
		    "encoded-word %.*s splits a character", (int)wlen, p);
		memcpy(out + n, dec, dlen);
		n += dlen;
		free(dec);
		(*nwords)++;
		p = end + 2;
		if (*p == ' ')
			p++;
	}
	out[n] = '\0';
	return out;
}

/* Checks line endings everywhere and the 78-column limit in the header. */
static void
assert_lines_ok(const char *msg, size_t len)
{
	const char *head_end = strstr(msg, "\r\n\r\n");
	size_t col = 0;

	ck_assert_uint_eq(strlen(msg), len);
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			ck_assert_msg(msg[i + 1] == '\n', "bare CR at %zu", i);
			if (msg + i < head_end)
				ck_assert_msg(col <= 78,
				    "header line of %zu chars", col);
			col = 0;
			i++;
		} else {
			ck_assert_msg(msg[i] != '\n', "bare LF at %zu", i);
			col++;
		}
	}
}

/* Builds a message with the usual fields and the given subject. */
static char *
build(const char *subject, const char *from_name, const char *body,
    size_t *lenp)
{
	struct mail_msg m = {
		.from = "monitor@city.example.jp",
		.from_name = from_name,
		.to = one_to,
		.nto = 1,
		.subject = subject,
		.body = body,
		.message_id = "inc-123.1@city.example.jp",
		.date = 1751328000, /* 2025-07-01 00:00:00 UTC */
	};

	return mail_build(&m, lenp);
}

/* Returns the decoded Subject of a message built with build(). */
static char *
subject_of(const char *msg, size_t *nwords)
{
	char *head = head_of(msg), *v, *dec;

	v = field(head, "Subject");
	ck_assert_ptr_nonnull(v);
	dec = decode_words(v, nwords);
	if (dec == NULL) {
		*nwords = 0;
		dec = xstrdup(v);
	}
	free(v);
	free(head);
	return dec;
}

START_TEST(test_japanese_subject_is_encoded_in_words_within_75_chars)
{
	size_t len, nwords;
	char *msg = build(JA_SUBJECT, NULL, "本文", &len);
	char *subj;

	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	subj = subject_of(msg, &nwords);
	ck_assert_uint_gt(nwords, 1);
	ck_assert_str_eq(subj, JA_SUBJECT);
	free(subj);
	free(msg);
}
END_TEST

START_TEST(test_no_subject_length_splits_a_character_between_words)
{
	/* 1-, 2-, 3- and 4-byte characters in every alignment. */
	const char *unit = "a\xc3\xa9\xe9\x9a\x9c\xf0\x9f\x9a\xa8"; /* aé障🚨 */
	char text[1024] = "";

	for (int i = 0; i < 60; i++) {
		char *h, *head, *v, *dec;
		size_t nwords;

		strcat(text, i % 2 ? unit : unit + 1);
		h = mail_header("Subject", text);
		head = xasprintf("%s", h);
		assert_lines_ok(head, strlen(head));
		v = field(head, "Subject");
		dec = decode_words(v, &nwords);
		ck_assert_ptr_nonnull(dec);
		ck_assert_str_eq(dec, text);
		free(dec);
		free(v);
		free(head);
		free(h);
	}
}
END_TEST

START_TEST(test_long_ascii_subject_stays_plain_and_is_folded_at_spaces)
{
	const char *s = "[RECOVERED] INC-000123 core network resident records "
			"server jukijp-db01 tcp/5432 is OK again after 42 "
			"minutes of downtime";
	size_t len;
	char *msg = build(s, NULL, "", &len), *head, *v;

	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	head = head_of(msg);
	ck_assert_ptr_null(strstr(head, "=?"));
	ck_assert_ptr_nonnull(strstr(head, "\r\n "));
	v = field(head, "Subject");
	ck_assert_str_eq(v, s);
	free(v);
	free(head);
	free(msg);
}
END_TEST

START_TEST(test_ascii_subject_with_an_unbreakable_word_is_encoded)
{
	char s[200];
	size_t len, nwords;
	char *msg, *subj;

	memset(s, 'x', 120);
	strcpy(s + 120, " tail");
	msg = build(s, NULL, "", &len);
	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	subj = subject_of(msg, &nwords);
	ck_assert_uint_gt(nwords, 1);
	ck_assert_str_eq(subj, s);
	free(subj);
	free(msg);
}
END_TEST

START_TEST(test_ascii_subject_that_looks_encoded_is_encoded)
{
	const char *s = "=?UTF-8?B?5LiN5q2j?= literal";
	size_t len, nwords;
	char *msg = build(s, NULL, "", &len), *subj;

	ck_assert_ptr_nonnull(msg);
	subj = subject_of(msg, &nwords);
	ck_assert_uint_ge(nwords, 1);
	ck_assert_str_eq(subj, s);
	free(subj);
	free(msg);
}
END_TEST

START_TEST(test_short_ascii_subject_is_plain)
{
	size_t len;
	char *msg = build("INC-000123 OK", NULL, "", &len);

	ck_assert_ptr_nonnull(strstr(msg, "\r\nSubject: INC-000123 OK\r\n"));
	free(msg);
}
END_TEST

START_TEST(test_empty_subject_gives_an_empty_field)
{
	size_t len;
	char *msg = build(NULL, NULL, "", &len);

	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(strstr(msg, "\r\nSubject: \r\n"));
	free(msg);
}
END_TEST

/* Says whether any header line of msg starts with name followed by ':'. */
static int
has_line(const char *msg, const char *name)
{
	char *head = head_of(msg), *needle = xasprintf("\r\n%s:", name);
	int found = strncasecmp(head, name, strlen(name)) == 0 ||
	    strcasestr(head, needle) != NULL;

	free(needle);
	free(head);
	return found;
}

START_TEST(test_header_injection_in_subject_is_neutralised)
{
	const char *evil = "disk full\r\nBcc: victim@example.com\r\n\r\nfake "
			   "body\nX-Evil: 1\rReply-To: a@b";
	size_t len, nwords;
	char *msg = build(evil, NULL, "real body", &len), *subj;

	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	ck_assert(!has_line(msg, "Bcc"));
	ck_assert(!has_line(msg, "X-Evil"));
	ck_assert(!has_line(msg, "Reply-To"));
	subj = subject_of(msg, &nwords);
	ck_assert_str_eq(subj,
	    "disk full Bcc: victim@example.com fake body X-Evil: 1 "
	    "Reply-To: a@b");
	free(subj);
	free(msg);
}
END_TEST

START_TEST(test_header_injection_in_japanese_subject_is_neutralised)
{
	size_t len, nwords;
	char *msg = build("障害\r\nBcc: victim@example.com", NULL, "", &len);
	char *subj;

	ck_assert_ptr_nonnull(msg);
	ck_assert(!has_line(msg, "Bcc"));
	subj = subject_of(msg, &nwords);
	ck_assert_str_eq(subj, "障害 Bcc: victim@example.com");
	free(subj);
	free(msg);
}
END_TEST

START_TEST(test_header_injection_in_from_name_is_neutralised)
{
	size_t len;
	char *msg = build("s", "Monitor\r\nBcc: victim@example.com", "", &len);
	char *head, *from;

	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	ck_assert(!has_line(msg, "Bcc"));
	head = head_of(msg);
	from = field(head, "From");
	ck_assert_str_eq(from,
	    "\"Monitor Bcc: victim@example.com\" <monitor@city.example.jp>");
	free(from);
	free(head);
	free(msg);
}
END_TEST

START_TEST(test_control_characters_and_line_separators_become_spaces)
{
	/* TAB, ESC, DEL, U+0085 NEL, U+2028 LINE SEPARATOR, NUL-free. */
	const char *s = "a\tb\x1b"
			"c\x7f"
			"d\xc2\x85"
			"e\xe2\x80\xa8"
			"f  g ";
	char *h = mail_header("Subject", s);

	ck_assert_str_eq(h, "Subject: a b c d e f g\r\n");
	free(h);
}
END_TEST

START_TEST(test_malformed_utf8_becomes_replacement_characters)
{
	const char *s = "bad \xff\xe9\x9a end \xed\xa0\x80";
	char *h = mail_header("Subject", s), *v;
	size_t nwords;
	char *dec;

	v = field(h, "Subject");
	dec = decode_words(v, &nwords);
	ck_assert_ptr_nonnull(dec);
	ck_assert(utf8_valid((unsigned char *)dec, strlen(dec)));
	ck_assert_str_eq(dec,
	    "bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end "
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	free(dec);
	free(v);
	free(h);
}
END_TEST

START_TEST(test_japanese_from_name_is_encoded)
{
	size_t len, nwords;
	char *msg = build("s", "〇〇市 統合監視システム", "", &len);
	char *head, *from, *lt, *name;

	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	head = head_of(msg);
	from = field(head, "From");
	lt = strstr(from, " <monitor@city.example.jp>");
	ck_assert_ptr_nonnull(lt);
	ck_assert_str_eq(lt, " <monitor@city.example.jp>");
	*lt = '\0';
	name = decode_words(from, &nwords);
	ck_assert_ptr_nonnull(name);
	ck_assert_str_eq(name, "〇〇市 統合監視システム");
	free(name);
	free(from);
	free(head);
	free(msg);
}
END_TEST

START_TEST(test_ascii_from_name_is_quoted_and_escaped)
{
	size_t len;
	char *msg = build("s", "City \"Ops\" \\ Center", "", &len);

	ck_assert_ptr_nonnull(strstr(msg,
	    "\r\nFrom: \"City \\\"Ops\\\" \\\\ "
	    "Center\" <monitor@city.example.jp>\r\n"));
	free(msg);
}
END_TEST

START_TEST(test_missing_from_name_gives_a_bare_address)
{
	size_t len;
	char *msg = build("s", NULL, "", &len);

	ck_assert_ptr_nonnull(
	    strstr(msg, "\r\nFrom: <monitor@city.example.jp>\r\n"));
	free(msg);
}
END_TEST

START_TEST(test_body_base64_decodes_to_the_body_with_crlf)
{
	const char *body = "障害を検知しました。\n"
			   "対象: jukijp-db01 (住民記録)\n"
			   "状態: CRITICAL - connection refused\n"
			   "\n"
			   "詳細はコンソールを参照してください。\r\n"
			   "最終行";
	const char *want = "障害を検知しました。\r\n"
			   "対象: jukijp-db01 (住民記録)\r\n"
			   "状態: CRITICAL - connection refused\r\n"
			   "\r\n"
			   "詳細はコンソールを参照してください。\r\n"
			   "最終行";
	size_t len, dlen;
	char *msg = build(JA_SUBJECT, NULL, body, &len), *dec, *head;
	const char *b = body_of(msg), *p;

	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	for (p = b; *p != '\0';) {
		const char *eol = strstr(p, "\r\n");

		ck_assert_ptr_nonnull(eol);
		ck_assert_int_le(eol - p, 76);
		p = eol + 2;
	}
	dec = b64_decode(b, strlen(b), &dlen);
	ck_assert_ptr_nonnull(dec);
	ck_assert_uint_eq(dlen, strlen(want));
	ck_assert_str_eq(dec, want);
	head = head_of(msg);
	ck_assert_ptr_nonnull(strstr(head, "\r\nMIME-Version: 1.0\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(head, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(head, "\r\nContent-Transfer-Encoding: base64\r\n"));
	free(head);
	free(dec);
	free(msg);
}
END_TEST

START_TEST(test_base64_helper_matches_rfc4648_vectors)
{
	const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *out[] = { "", "Zg==", "Zm8=", "Zm9v",
		"Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char *b = mail_base64(in[i], strlen(in[i]), 0);

		ck_assert_str_eq(b, out[i]);
		free(b);
	}
}
END_TEST

START_TEST(test_base64_helper_breaks_lines)
{
	char *b = mail_base64("foobarfoobar", 12, 8);

	ck_assert_str_eq(b, "Zm9vYmFy\r\nZm9vYmFy\r\n");
	free(b);
	b = mail_base64("", 0, 76);
	ck_assert_str_eq(b, "");
	free(b);
}
END_TEST

START_TEST(test_date_is_rfc5322_with_numeric_offset)
{
	char buf[64];
	char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;

	setenv("TZ", "JST-9", 1);
	tzset();
	ck_assert_int_eq(mail_format_date(1751328000, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "Tue, 01 Jul 2025 09:00:00 +0900");
	setenv("TZ", "UTC0", 1);
	tzset();
	ck_assert_int_eq(mail_format_date(0, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 +0000");
	setenv("TZ", "EST5", 1);
	tzset();
	ck_assert_int_eq(mail_format_date(0, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "Wed, 31 Dec 1969 19:00:00 -0500");
	setenv("TZ", "IST-5:30", 1);
	tzset();
	ck_assert_int_eq(mail_format_date(1751328000, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "Tue, 01 Jul 2025 05:30:00 +0530");
	ck_assert_int_eq(mail_format_date(0, buf, 10), -1);
	if (old != NULL)
		setenv("TZ", old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old);
}
END_TEST

START_TEST(test_message_carries_date_and_message_id)
{
	size_t len;
	char *msg, *head, *date, *id;

	setenv("TZ", "JST-9", 1);
	tzset();
	msg = build("s", NULL, "", &len);
	head = head_of(msg);
	date = field(head, "Date");
	ck_assert_str_eq(date, "Tue, 01 Jul 2025 09:00:00 +0900");
	id = field(head, "Message-ID");
	ck_assert_str_eq(id, "<inc-123.1@city.example.jp>");
	ck_assert_ptr_null(field(head, "In-Reply-To"));
	ck_assert_ptr_null(field(head, "References"));
	free(id);
	free(date);
	free(head);
	free(msg);
}
END_TEST

START_TEST(test_reply_carries_in_reply_to_and_references)
{
	const char *to[] = { "oncall@city.example.jp" };
	struct mail_msg m = {
		.from = "monitor@city.example.jp",
		.to = to,
		.nto = 1,
		.subject = "【復旧】INC-000123",
		.body = "復旧しました。",
		.message_id = "<inc-123.2@city.example.jp>",
		.in_reply_to = "<inc-123.1@city.example.jp>",
		.date = 1751328000,
	};
	size_t len;
	char *msg = mail_build(&m, &len), *head, *v;

	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	head = head_of(msg);
	v = field(head, "Message-ID");
	ck_assert_str_eq(v, "<inc-123.2@city.example.jp>");
	free(v);
	v = field(head, "In-Reply-To");
	ck_assert_str_eq(v, "<inc-123.1@city.example.jp>");
	free(v);
	v = field(head, "References");
	ck_assert_str_eq(v, "<inc-123.1@city.example.jp>");
	free(v);
	free(head);
	free(msg);
}
END_TEST

START_TEST(test_to_lists_every_recipient_folded_between_addresses)
{
	const char *to[] = { "yamada.taro@city.example.jp",
		"suzuki.hanako@city.example.jp", "sato.ichiro@city.example.jp",
		"oncall-core@city.example.jp",
		"vendor-ops@outsourcer.example.co.jp" };
	struct mail_msg m = {
		.from = "monitor@city.example.jp",
		.to = to,
		.nto = 5,
		.subject = "s",
		.body = "b",
		.date = 0,
	};
	size_t len;
	char *msg = mail_build(&m, &len), *head, *v;

	ck_assert_ptr_nonnull(msg);
	assert_lines_ok(msg, len);
	head = head_of(msg);
	v = field(head, "To");
	ck_assert_str_eq(v,
	    "yamada.taro@city.example.jp, suzuki.hanako@city.example.jp, "
	    "sato.ichiro@city.example.jp, oncall-core@city.example.jp, "
	    "vendor-ops@outsourcer.example.co.jp");
	ck_assert_ptr_null(field(head, "Message-ID"));
	free(v);
	free(head);
	free(msg);
}
END_TEST

static const char *const bad_addresses[] = {
	"",
	"noat",
	"user@",
	"@example.jp",
	"two words@example.jp",
	"a@b\r\nBcc: victim@example.com",
	"a@b\n",
	"<a@example.jp>",
	"a@@example.jp",
	"a@b@example.jp",
	"a,b@example.jp",
	"\"quoted\"@example.jp",
	"山田@example.jp",
	"a@example.jp>\r\nRCPT TO:<b@example.jp",
};

START_TEST(test_bad_addresses_are_rejected)
{
	const char *a = bad_addresses[_i];
	const char *to[] = { a };
	const char *ok_to[] = { "oncall@city.example.jp" };
	struct mail_msg m = {
		.from = "monitor@city.example.jp",
		.to = to,
		.nto = 1,
		.subject = "s",
		.body = "b",
	};

	ck_assert(!mail_address_valid(a));
	ck_assert_ptr_null(mail_build(&m, NULL));
	m.from = a;
	m.to = ok_to;
	ck_assert_ptr_null(mail_build(&m, NULL));
}
END_TEST

START_TEST(test_good_addresses_are_accepted)
{
	ck_assert(mail_address_valid("oncall@city.example.jp"));
	ck_assert(mail_address_valid("first.last+tag@sub.example.co.jp"));
	ck_assert(mail_address_valid("x@localhost"));
	ck_assert(!mail_address_valid(NULL));
}
END_TEST

START_TEST(test_message_without_recipients_is_rejected)
{
	struct mail_msg m = {
		.from = "monitor@city.example.jp",
		.to = NULL,
		.nto = 0,
		.subject = "s",
		.body = "b",
	};

	ck_assert_ptr_null(mail_build(&m, NULL));
}
END_TEST

START_TEST(test_injection_in_message_ids_is_rejected)
{
	struct mail_msg m = {
		.from = "monitor@city.example.jp",
		.to = one_to,
		.nto = 1,
		.subject = "s",
		.body = "b",
		.message_id = "a@b>\r\nBcc: victim@example.com",
	};

	ck_assert_ptr_null(mail_build(&m, NULL));
	m.message_id = "ok@city.example.jp";
	m.in_reply_to = "x@y\r\nBcc: victim@example.com";
	ck_assert_ptr_null(mail_build(&m, NULL));
	m.in_reply_to = "<no-at-sign>";
	ck_assert_ptr_null(mail_build(&m, NULL));
}
END_TEST

START_TEST(test_automatic_replies_are_discouraged)
{
	size_t len;
	char *msg = build("s", NULL, "", &len);

	ck_assert_ptr_nonnull(
	    strstr(msg, "\r\nAuto-Submitted: auto-generated\r\n"));
	free(msg);
}
END_TEST

/* The "mail" suite. */
static Suite *
mail_suite(void)
{
	Suite *s = suite_create("mail");
	TCase *tc;

	tc = tcase_create("subject");
	tcase_add_test(tc,
	    test_japanese_subject_is_encoded_in_words_within_75_chars);
	tcase_add_test(tc,
	    test_no_subject_length_splits_a_character_between_words);
	tcase_add_test(tc,
	    test_long_ascii_subject_stays_plain_and_is_folded_at_spaces);
	tcase_add_test(tc,
	    test_ascii_subject_with_an_unbreakable_word_is_encoded);
	tcase_add_test(tc, test_ascii_subject_that_looks_encoded_is_encoded);
	tcase_add_test(tc, test_short_ascii_subject_is_plain);
	tcase_add_test(tc, test_empty_subject_gives_an_empty_field);
	suite_add_tcase(s, tc);

	tc = tcase_create("injection");
	tcase_add_test(tc, test_header_injection_in_subject_is_neutralised);
	tcase_add_test(tc,
	    test_header_injection_in_japanese_subject_is_neutralised);
	tcase_add_test(tc, test_header_injection_in_from_name_is_neutralised);
	tcase_add_test(tc,
	    test_control_characters_and_line_separators_become_spaces);
	tcase_add_test(tc, test_malformed_utf8_becomes_replacement_characters);
	tcase_add_test(tc, test_injection_in_message_ids_is_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("from");
	tcase_add_test(tc, test_japanese_from_name_is_encoded);
	tcase_add_test(tc, test_ascii_from_name_is_quoted_and_escaped);
	tcase_add_test(tc, test_missing_from_name_gives_a_bare_address);
	suite_add_tcase(s, tc);

	tc = tcase_create("body");
	tcase_add_test(tc, test_body_base64_decodes_to_the_body_with_crlf);
	tcase_add_test(tc, test_base64_helper_matches_rfc4648_vectors);
	tcase_add_test(tc, test_base64_helper_breaks_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("fields");
	tcase_add_test(tc, test_date_is_rfc5322_with_numeric_offset);
	tcase_add_test(tc, test_message_carries_date_and_message_id);
	tcase_add_test(tc, test_reply_carries_in_reply_to_and_references);
	tcase_add_test(tc,
	    test_to_lists_every_recipient_folded_between_addresses);
	tcase_add_test(tc, test_automatic_replies_are_discouraged);
	suite_add_tcase(s, tc);

	tc = tcase_create("addresses");
	tcase_add_loop_test(tc, test_bad_addresses_are_rejected, 0,
	    (int)(sizeof(bad_addresses) / sizeof(bad_addresses[0])));
	tcase_add_test(tc, test_good_addresses_are_accepted);
	tcase_add_test(tc, test_message_without_recipients_is_rejected);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mail_suite());
	int failed;

	log_init("check_mail", 0, LOG_LEVEL_ERROR);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
