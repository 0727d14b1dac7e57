/*
 * Cleaning text that comes from outside (banners, interface names, trap
 * strings): PostgreSQL refuses invalid UTF-8, and control characters have
 * no business in a log line or a mail.
 */
#include "config.h"

#include "text.h"

/*
 * The length of the well-formed UTF-8 sequence at p (at most n bytes), or
 * 0 if there is none: overlong forms and surrogates count as malformed.
 */
size_t
text_utf8_len(const unsigned char *p, size_t n)
{
	size_t len;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (len == 3 &&
	    ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
		return 0;
	if (len == 4 &&
	    ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90)))
		return 0;
	return len;
}

/*
 * Replaces, in place, every byte that is not part of well-formed UTF-8, and
 * every control character, with '?'.  The length never changes.
 */
void
text_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = 0;

	while (p[n] != '\0')
		n++;
	for (size_t i = 0; i < n;) {
		size_t len = text_utf8_len(p + i, n - i);

		if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			p[i++] = '?';
			continue;
		}
		i += len;
	}
}

/* As text_clean, but newlines and tabs stay (a plugin's long output). */
void
text_clean_lines(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n = 0;

	while (p[n] != '\0')
		n++;
	for (size_t i = 0; i < n;) {
		size_t len = text_utf8_len(p + i, n - i);

		if (len == 0 ||
		    (len == 1 && p[i] != '\n' && p[i] != '\t' &&
			(p[i] < 0x20 || p[i] == 0x7f))) {
			p[i++] = '?';
			continue;
		}
		i += len;
	}
}
