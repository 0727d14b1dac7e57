/*
 * Japan's national holidays as the Cabinet Office publishes them
 * (syukujitsu.csv): a header line, then "YYYY/M/D,name" per holiday, in
 * Shift_JIS (CP932) with CRLF.  The same rows in UTF-8, with or without a
 * byte order mark, are read too.  Every error names the line.
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "incidentd.h"
#include "xmalloc.h"

/* Far more than the Cabinet Office file holds (about 1,100 rows). */
#define HOLIDAYS_MAX 5000
#define HOLIDAY_NAME_MAX 64 /* bytes of UTF-8 */

/* Whether buf is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int
holidays_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += n + 1;
	}
	return 1;
}

/* The file as UTF-8: itself, or converted from CP932.  NULL on failure. */
static char *
holidays_to_utf8(const char *buf, size_t len, size_t *outlen, char *err,
    size_t errlen)
{
	iconv_t cd;
	char *out, *in = (char *)buf, *o;
	size_t inleft = len, outleft, cap;

	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	if (holidays_utf8_valid((const unsigned char *)buf, len)) {
		out = xmalloc(len + 1);
		memcpy(out, buf, len);
		out[len] = '\0';
		*outlen = len;
		return out;
	}
	if ((cd = iconv_open("UTF-8", "CP932")) == (iconv_t)-1) {
		snprintf(err, errlen, "cannot convert from Shift_JIS: %s",
		    strerror(errno));
		return NULL;
	}
	/* a CP932 character is at most 2 bytes, and at most 3 in UTF-8 */
	cap = 2 * len + 16;
	out = xmalloc(cap);
	o = out;
	outleft = cap - 1;
	in = (char *)buf;
	inleft = len;
	if (iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1) {
		snprintf(err, errlen,
		    "neither UTF-8 nor Shift_JIS: bad byte at offset %zu",
		    (size_t)(in - buf));
		iconv_close(cd);
		free(out);
		return NULL;
	}
	iconv_close(cd);
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
}

/* A date "YYYY/M/D" (or with - or zero-padded) that exists. */
static int
holidays_date(const char *s, size_t len, struct holiday *h)
{
	char buf[16];
	struct tm tm;
	int y, m, d, n = 0;
	char s1, s2;
	time_t t;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (sscanf(buf, "%4d%c%2d%c%2d%n", &y, &s1, &m, &s2, &d, &n) != 5 ||
	    (size_t)n != len || s1 != s2 || (s1 != '/' && s1 != '-') ||
	    y < 1948 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	if ((t = timegm(&tm)) == (time_t)-1 || gmtime_r(&t, &tm) == NULL ||
	    tm.tm_mday != d)
		return -1;
	snprintf(h->day, sizeof(h->day), "%04d-%02d-%02d", y, m, d);
	return 0;
}

/*
 * Reads a holiday file.  Returns the holidays (sorted as in the file) and
 * their number in *n, or NULL with "line N: why" (or why) in err.  An
 * empty file, or one with only its header, is an error.
 */
struct holiday *
holidays_parse(const char *buf, size_t len, size_t *n, char *err, size_t errlen)
{
	struct holiday *out = NULL;
	size_t cap = 0, count = 0, tlen, lineno = 0;
	char *text, *p, *end;

	*n = 0;
	if ((text = holidays_to_utf8(buf, len, &tlen, err, errlen)) == NULL)
		return NULL;
	for (p = text, end = text + tlen; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line = p, *comma;
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct holiday h;

		p = nl ? nl + 1 : end;
		lineno++;
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			continue;
		/* the header: 国民の祝日・休日月日,国民の祝日・休日名称 */
		if (lineno == 1 && (line[0] < '0' || line[0] > '9'))
			continue;
		comma = memchr(line, ',', ll);
		if (comma == NULL) {
			snprintf(err, errlen,
			    "line %zu: no comma (date,name expected)", lineno);
			goto fail;
		}
		memset(&h, 0, sizeof(h));
		if (holidays_date(line, (size_t)(comma - line), &h) == -1) {
			snprintf(err, errlen,
			    "line %zu: '%.*s' is not a date (YYYY/M/D)", lineno,
			    (int)((size_t)(comma - line) > 20 ?
				    20 :
				    (size_t)(comma - line)),
			    line);
			goto fail;
		}
		tlen = ll - (size_t)(comma - line) - 1;
		while (tlen > 0 && (comma[1] == ' ' || comma[1] == '"')) {
			comma++;
			tlen--;
		}
		while (tlen > 0 && (comma[tlen] == ' ' || comma[tlen] == '"'))
			tlen--;
		if (tlen == 0 || tlen >= HOLIDAY_NAME_MAX ||
		    memchr(comma + 1, ',', tlen) != NULL) {
			snprintf(err, errlen,
			    "line %zu: the name must be 1-%d bytes without a "
			    "comma",
			    lineno, HOLIDAY_NAME_MAX - 1);
			goto fail;
		}
		for (size_t k = 1; k <= tlen; k++)
			if ((unsigned char)comma[k] < 0x20) {
				snprintf(err, errlen,
				    "line %zu: a control character in the "
				    "name",
				    lineno);
				goto fail;
			}
		memcpy(h.name, comma + 1, tlen);
		h.name[tlen] = '\0';
		for (size_t k = 0; k < count; k++)
			if (strcmp(out[k].day, h.day) == 0) {
				snprintf(err, errlen,
				    "line %zu: %s is listed twice", lineno,
				    h.day);
				goto fail;
			}
		if (count == HOLIDAYS_MAX) {
			snprintf(err, errlen, "line %zu: too many rows",
			    lineno);
			goto fail;
		}
		if (count == cap) {
			cap = cap ? 2 * cap : 64;
			out = xreallocarray(out, cap, sizeof(*out));
		}
		out[count++] = h;
	}
	free(text);
	if (count == 0) {
		snprintf(err, errlen, "no holidays in the file");
		free(out);
		return NULL;
	}
	*n = count;
	return out;
fail:
	free(text);
	free(out);
	return NULL;
}
