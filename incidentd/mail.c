/*
 * Building RFC 5322 messages for notifications: UTF-8 text in RFC 2047
 * encoded-words, a base64 body, folded header lines of at most 78
 * characters.  Pure functions, no I/O, so the tests drive them directly.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "incidentd.h"
#include "log.h"
#include "xmalloc.h"

/* RFC 5322 2.1.1: lines SHOULD be no more than 78 characters. */
#define MAIL_LINE_MAX 78
/* RFC 2047 2: an encoded-word may not be more than 75 characters long. */
#define MAIL_WORD_MAX 75
/* "=?UTF-8?B?" and "?=" around the encoded text. */
#define MAIL_WORD_PREFIX "=?UTF-8?B?"
#define MAIL_WORD_OVERHEAD 12
/* RFC 2045 6.8: base64 lines of at most 76 characters. */
#define MAIL_BODY_LINE 76
/* RFC 5321 4.5.3.1.3: a path, and so an address, is at most 256 octets. */
#define MAIL_ADDR_MAX 254

/* A growing text buffer; the text is always NUL-terminated. */
struct mail_buf {
	char *p;
	size_t len;
	size_t cap;
};

static const char mail_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char *const mail_days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	"Fri", "Sat" };
static const char *const mail_months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Appends len bytes, growing the buffer geometrically. */
static void
mail_buf_add(struct mail_buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + len + 1)
			cap *= 2;
		b->p = xreallocarray(b->p, cap, 1);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

/* Appends a C string. */
static void
mail_buf_str(struct mail_buf *b, const char *s)
{
	mail_buf_add(b, s, strlen(s));
}

/*
 * Returns the length of the well-formed UTF-8 sequence at s (at most n
 * bytes) and its code point, or 0 if the bytes are not well-formed
 * (overlong forms, surrogates and values above U+10FFFF included).
 */
static size_t
mail_utf8_decode(const unsigned char *s, size_t n, uint32_t *cpp)
{
	uint32_t cp, min;
	size_t len;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cpp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1f;
		len = 2;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0f;
		len = 3;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07;
		len = 4;
		min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return len;
}

/*
 * Returns header text safe to put on one logical line: control characters
 * (C0, DEL, C1, U+2028/2029) become spaces so that no input can start a
 * new header line, malformed UTF-8 becomes U+FFFD, runs of spaces become
 * one and the ends are trimmed.
 */
static char *
mail_clean_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);
	struct mail_buf b = { NULL, 0, 0 };
	int space = 1; /* drops leading spaces */

	mail_buf_add(&b, "", 0);
	while (n > 0) {
		uint32_t cp;
		size_t len = mail_utf8_decode(p, n, &cp);
		int ctl;

		if (len == 0) {
			mail_buf_add(&b, "\xef\xbf\xbd", 3);
			space = 0;
			p++;
			n--;
			continue;
		}
		ctl = cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    cp == 0x2028 || cp == 0x2029;
		if (ctl || cp == ' ') {
			if (!space)
				mail_buf_add(&b, " ", 1);
			space = 1;
		} else {
			mail_buf_add(&b, p, len);
			space = 0;
		}
		p += len;
		n -= len;
	}
	if (b.len > 0 && b.p[b.len - 1] == ' ')
		b.p[--b.len] = '\0';
	return b.p;
}

/* Says whether s is printable ASCII that cannot be mistaken for RFC 2047. */
static int
mail_is_plain(const char *s)
{
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	}
	return strstr(s, "=?") == NULL;
}

/*
 * Appends one token to a header, preceded by a space, or by a fold when
 * the token would not fit on the current line.  *col is the column after
 * the last character written.
 */
static void
mail_put_token(struct mail_buf *b, size_t *col, const char *tok, size_t len)
{
	if (*col + 1 + len > MAIL_LINE_MAX && *col > 1) {
		mail_buf_str(b, "\r\n ");
		*col = 1;
	} else {
		mail_buf_add(b, " ", 1);
		*col += 1;
	}
	mail_buf_add(b, tok, len);
	*col += len;
}

/* Appends the base64 form of len bytes, without line breaks. */
static void
mail_b64_add(struct mail_buf *b, const unsigned char *p, size_t len)
{
	char out[4];

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		out[0] = mail_b64[(v >> 18) & 0x3f];
		out[1] = mail_b64[(v >> 12) & 0x3f];
		out[2] = left > 1 ? mail_b64[(v >> 6) & 0x3f] : '=';
		out[3] = left > 2 ? mail_b64[v & 0x3f] : '=';
		mail_buf_add(b, out, 4);
	}
}

/*
 * Appends clean UTF-8 text as RFC 2047 B encoded-words.  Each word holds
 * whole characters only, is at most 75 characters long and is sized to
 * the room left on its line, so folding happens between words.
 */
static void
mail_put_words(struct mail_buf *b, size_t *col, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n > 0) {
		size_t room, word, max, take = 0;
		struct mail_buf w = { NULL, 0, 0 };

		/* Room for a space and a word on this line, else fold. */
		room = *col + 1 < MAIL_LINE_MAX ? MAIL_LINE_MAX - *col - 1 : 0;
		if (room < MAIL_WORD_OVERHEAD + 8) {
			mail_buf_str(b, "\r\n");
			*col = 0;
			room = MAIL_LINE_MAX - 1;
		}
		word = room < MAIL_WORD_MAX ? room : MAIL_WORD_MAX;
		max = (word - MAIL_WORD_OVERHEAD) / 4 * 3;
		while (take < n) {
			uint32_t cp;
			size_t len = mail_utf8_decode(p + take, n - take, &cp);

			if (len == 0)
				len = 1; /* not reached: the text is clean */
			if (take + len > max)
				break;
			take += len;
		}
		mail_buf_str(&w, MAIL_WORD_PREFIX);
		mail_b64_add(&w, p, take);
		mail_buf_str(&w, "?=");
		mail_put_token(b, col, w.p, w.len);
		free(w.p);
		p += take;
		n -= take;
	}
}

/*
 * Appends plain ASCII text word by word, folding at spaces.  Returns -1,
 * having appended nothing, if a word fits on no line or if the first word
 * does not fit beside the field name.
 */
static int
mail_put_plain(struct mail_buf *b, size_t *col, const char *s)
{
	struct mail_buf t = { NULL, 0, 0 };
	size_t c = *col;
	const char *p = s;

	mail_buf_add(&t, "", 0);
	while (*p != '\0') {
		size_t len = strcspn(p, " ");

		if (c + 1 + len > MAIL_LINE_MAX &&
		    (p == s || 1 + len > MAIL_LINE_MAX)) {
			free(t.p);
			return -1;
		}
		mail_put_token(&t, &c, p, len);
		p += len;
		if (*p == ' ')
			p++;
	}
	mail_buf_add(b, t.p, t.len);
	*col = c;
	free(t.p);
	return 0;
}

/*
 * Returns an unstructured header field "Name: value\r\n", folded within 78
 * characters a line; the value is plain if it is short printable ASCII,
 * else RFC 2047 encoded-words.
 */
char *
mail_header(const char *name, const char *value)
{
	struct mail_buf b = { NULL, 0, 0 };
	char *clean = mail_clean_text(value);
	size_t col;

	mail_buf_str(&b, name);
	mail_buf_str(&b, ":");
	col = b.len;
	if (*clean == '\0')
		mail_buf_str(&b, " ");
	else if (!mail_is_plain(clean) || mail_put_plain(&b, &col, clean) == -1)
		mail_put_words(&b, &col, clean);
	mail_buf_str(&b, "\r\n");
	free(clean);
	return b.p;
}

/*
 * Says whether s is a plain addr-spec we are willing to put in a header
 * and an SMTP envelope: printable ASCII, no spaces or specials that could
 * break out of the header or the command, exactly one '@' with text on
 * both sides.  The same shape serves for Message-IDs.
 */
int
mail_address_valid(const char *s)
{
	const char *at;
	size_t len;

	if (s == NULL)
		return 0;
	len = strlen(s);
	if (len == 0 || len > MAIL_ADDR_MAX)
		return 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("<>()[]\\,;:\"", *p))
			return 0;
	}
	at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	return 1;
}

/*
 * Returns len bytes as base64, with a CRLF after every linelen characters
 * and after the last line (linelen 0: one line, no CRLF).  linelen should
 * be a multiple of 4.
 */
char *
mail_base64(const void *data, size_t len, size_t linelen)
{
	struct mail_buf b = { NULL, 0, 0 }, line = { NULL, 0, 0 };
	const unsigned char *p = data;
	size_t chunk;

	mail_buf_add(&b, "", 0);
	if (linelen == 0) {
		mail_b64_add(&b, p, len);
		return b.p;
	}
	chunk = linelen / 4 * 3;
	if (chunk == 0)
		chunk = 3;
	for (size_t i = 0; i < len; i += chunk) {
		line.len = 0;
		mail_b64_add(&line, p + i, len - i < chunk ? len - i : chunk);
		mail_buf_add(&b, line.p, line.len);
		mail_buf_str(&b, "\r\n");
	}
	free(line.p);
	return b.p;
}

/*
 * Writes t as an RFC 5322 date in the process's local time zone with its
 * numeric offset ("Tue, 01 Jul 2025 09:00:00 +0900").  English names are
 * written by hand because strftime's %a and %b follow the locale.
 */
int
mail_format_date(time_t t, char *buf, size_t size)
{
	struct tm tm;
	long off;
	int n;
	char sign = '+';

	if (localtime_r(&t, &tm) == NULL) {
		log_warnx("mail: cannot convert time %lld", (long long)t);
		return -1;
	}
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	n = snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    mail_days[tm.tm_wday % 7], tm.tm_mday, mail_months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
	    off % 60);
	if (n < 0 || (size_t)n >= size) {
		log_warnx("mail: date buffer too small");
		return -1;
	}
	return 0;
}

/* Validates a msg-id given with or without its angle brackets. */
static char *
mail_msgid(const char *id, const char *what)
{
	size_t len = strlen(id);
	char *bare;

	if (len >= 2 && id[0] == '<' && id[len - 1] == '>')
		bare = xstrndup(id + 1, len - 2);
	else
		bare = xstrdup(id);
	if (!mail_address_valid(bare)) {
		log_warnx("mail: invalid %s", what);
		free(bare);
		return NULL;
	}
	return bare;
}

/* Appends the From field: an encoded or quoted display name, then <addr>. */
static void
mail_put_from(struct mail_buf *b, const char *name, const char *addr)
{
	char *clean = mail_clean_text(name);
	char *tok;
	size_t col;

	mail_buf_str(b, "From:");
	col = strlen("From:");
	if (*clean != '\0') {
		struct mail_buf q = { NULL, 0, 0 };

		/* A quoted-string needs no care about specials such as '.'. */
		mail_buf_str(&q, "\"");
		for (const char *p = clean; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				mail_buf_add(&q, "\\", 1);
			mail_buf_add(&q, p, 1);
		}
		mail_buf_str(&q, "\"");
		if (mail_is_plain(clean) && col + 1 + q.len <= MAIL_LINE_MAX)
			mail_put_token(b, &col, q.p, q.len);
		else
			mail_put_words(b, &col, clean);
		free(q.p);
	}
	tok = xasprintf("<%s>", addr);
	mail_put_token(b, &col, tok, strlen(tok));
	free(tok);
	free(clean);
	mail_buf_str(b, "\r\n");
}

/* Appends the To field, one address per token, folding between them. */
static void
mail_put_to(struct mail_buf *b, const char *const *to, size_t nto)
{
	size_t col;

	mail_buf_str(b, "To:");
	col = strlen("To:");
	for (size_t i = 0; i < nto; i++) {
		char *tok = xasprintf("%s%s", to[i], i + 1 < nto ? "," : "");

		mail_put_token(b, &col, tok, strlen(tok));
		free(tok);
	}
	mail_buf_str(b, "\r\n");
}

/*
 * Returns the body in canonical form for text/plain (RFC 2045 6.8: line
 * breaks are CRLF before base64 encoding): lone LF and lone CR become CRLF.
 */
static char *
mail_canon_body(const char *s, size_t *lenp)
{
	struct mail_buf b = { NULL, 0, 0 };

	mail_buf_add(&b, "", 0);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\r' && p[1] == '\n') {
			mail_buf_str(&b, "\r\n");
			p++;
		} else if (*p == '\r' || *p == '\n')
			mail_buf_str(&b, "\r\n");
		else
			mail_buf_add(&b, p, 1);
	}
	*lenp = b.len;
	return b.p;
}

/*
 * Returns a complete message with CRLF line endings and stores its length
 * in *lenp (if not NULL), or NULL if an address or a message id is not
 * acceptable.  Header text is sanitised (see mail_clean_text) rather than
 * refused, so a strange incident title still gets its alert out.
 */
char *
mail_build(const struct mail_msg *m, size_t *lenp)
{
	struct mail_buf b = { NULL, 0, 0 };
	char date[64], *id = NULL, *reply = NULL, *h, *body, *b64;
	size_t bodylen;

	if (!mail_address_valid(m->from)) {
		log_warnx("mail: invalid sender address");
		return NULL;
	}
	if (m->nto == 0) {
		log_warnx("mail: no recipient");
		return NULL;
	}
	for (size_t i = 0; i < m->nto; i++) {
		if (!mail_address_valid(m->to[i])) {
			log_warnx("mail: invalid recipient address #%zu",
			    i + 1);
			return NULL;
		}
	}
	if (m->message_id != NULL &&
	    (id = mail_msgid(m->message_id, "Message-ID")) == NULL)
		return NULL;
	if (m->in_reply_to != NULL &&
	    (reply = mail_msgid(m->in_reply_to, "In-Reply-To")) == NULL) {
		free(id);
		return NULL;
	}
	if (mail_format_date(m->date, date, sizeof(date)) == -1) {
		free(id);
		free(reply);
		return NULL;
	}

	mail_buf_str(&b, "Date: ");
	mail_buf_str(&b, date);
	mail_buf_str(&b, "\r\n");
	mail_put_from(&b, m->from_name, m->from);
	mail_put_to(&b, m->to, m->nto);
	h = mail_header("Subject", m->subject);
	mail_buf_str(&b, h);
	free(h);
	if (id != NULL) {
		h = xasprintf("Message-ID: <%s>\r\n", id);
		mail_buf_str(&b, h);
		free(h);
	}
	if (reply != NULL) {
		h = xasprintf("In-Reply-To: <%s>\r\nReferences: <%s>\r\n",
		    reply, reply);
		mail_buf_str(&b, h);
		free(h);
	}
	mail_buf_str(&b,
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    /* RFC 3834, and Exchange's own header: no vacation replies. */
	    "Auto-Submitted: auto-generated\r\n"
	    "X-Auto-Response-Suppress: All\r\n"
	    "\r\n");
	body = mail_canon_body(m->body ? m->body : "", &bodylen);
	b64 = mail_base64(body, bodylen, MAIL_BODY_LINE);
	mail_buf_str(&b, b64);
	free(b64);
	free(body);
	free(id);
	free(reply);
	if (lenp != NULL)
		*lenp = b.len;
	return b.p;
}
