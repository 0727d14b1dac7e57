/*
 * What a Nagios-compatible plugin prints, taken apart: the first line is
 * the summary, the lines after it the long output; performance data
 * follows a '|' on the first line and on any later one, as
 *
 *	'label'=value[UOM];[warn];[crit];[min];[max]
 *
 * separated by spaces.  Labels may be quoted with single quotes (a quote
 * inside is written twice) and then hold spaces and '='.  The input is
 * whatever a plugin wrote, so nothing here trusts it: every item that does
 * not parse is skipped and counted, never a crash.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"
#include "xmalloc.h"

/* Copies s[0..n) into a fresh string, trailing blanks cut. */
static char *
plugin_output_dup_trim(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	return xstrndup(s, n);
}

/* Reads a number field (may be empty) up to ';' or the end of the item. */
static int
plugin_output_number(const char *s, size_t n, double *v, int *present)
{
	char buf[64], *end;

	*present = 0;
	if (n == 0)
		return 0;
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*v = strtod(buf, &end);
	if (end == buf || *end != '\0' || !isfinite(*v))
		return -1;
	*present = 1;
	return 0;
}

/*
 * Parses one item of performance data, s[0..n).  Returns 0 and fills p,
 * or -1 for an item that is not one.
 */
static int
plugin_output_perf_item(const char *s, size_t n, struct plugin_perf *p)
{
	const char *end = s + n, *eq, *f, *semi;
	char label[PLUGIN_LABEL_MAX];
	size_t len = 0, vlen;
	int present, field;

	memset(p, 0, sizeof(*p));
	if (n == 0)
		return -1;
	if (*s == '\'') {
		/* quoted: '' is a quote, the label ends at a lone quote */
		s++;
		for (;;) {
			if (s >= end)
				return -1;
			if (*s == '\'') {
				if (s + 1 < end && s[1] == '\'') {
					if (len + 1 >= sizeof(label))
						return -1;
					label[len++] = '\'';
					s += 2;
					continue;
				}
				s++;
				break;
			}
			if (len + 1 >= sizeof(label))
				return -1;
			label[len++] = *s++;
		}
		if (s >= end || *s != '=')
			return -1;
		eq = s;
	} else {
		eq = memchr(s, '=', n);
		if (eq == NULL || eq == s || (size_t)(eq - s) >= sizeof(label))
			return -1;
		len = (size_t)(eq - s);
		memcpy(label, s, len);
	}
	label[len] = '\0';
	if (len == 0)
		return -1;
	/* the value: a number and its unit, or U (unknown) */
	f = eq + 1;
	semi = memchr(f, ';', (size_t)(end - f));
	vlen = (size_t)((semi != NULL ? semi : end) - f);
	if (vlen == 1 && *f == 'U') {
		p->value = NAN;
	} else {
		size_t k = 0;
		char buf[64], *vend;

		while (k < vlen &&
		    (isdigit((unsigned char)f[k]) || f[k] == '.' ||
			f[k] == '-' || f[k] == '+' || f[k] == 'e' ||
			f[k] == 'E'))
			k++;
		if (k == 0 || k >= sizeof(buf))
			return -1;
		memcpy(buf, f, k);
		buf[k] = '\0';
		p->value = strtod(buf, &vend);
		if (vend == buf || *vend != '\0' || !isfinite(p->value))
			return -1;
		if (vlen - k >= sizeof(p->uom))
			return -1;
		for (size_t u = k; u < vlen; u++)
			if (!isalpha((unsigned char)f[u]) && f[u] != '%')
				return -1;
		memcpy(p->uom, f + k, vlen - k);
		p->uom[vlen - k] = '\0';
	}
	memcpy(p->label, label, len + 1);
	/* warn;crit as ranges, kept as text; min;max as numbers */
	for (field = 0; semi != NULL && field < 4; field++) {
		const char *g = semi + 1, *next;
		size_t glen;

		next = memchr(g, ';', (size_t)(end - g));
		glen = (size_t)((next != NULL ? next : end) - g);
		if (field < 2) {
			char *dst = field == 0 ? p->warn : p->crit;

			if (glen >= sizeof(p->warn))
				return -1;
			memcpy(dst, g, glen);
			dst[glen] = '\0';
		} else if (plugin_output_number(g, glen,
			       field == 2 ? &p->min : &p->max,
			       &present) == -1) {
			return -1;
		} else if (field == 2) {
			p->have_min = present;
		} else {
			p->have_max = present;
		}
		semi = next;
	}
	if (semi != NULL)
		return -1; /* more fields than the five */
	return 0;
}

/* Parses the performance data in s[0..n), appending to out. */
static void
plugin_output_perf_parse(const char *s, size_t n, struct plugin_output *out)
{
	const char *end = s + n;

	while (s < end) {
		const char *start;
		int quoted = 0;
		struct plugin_perf p;

		while (s < end && isspace((unsigned char)*s))
			s++;
		if (s >= end)
			break;
		start = s;
		/* an item ends at a blank outside quotes */
		while (s < end && (quoted || !isspace((unsigned char)*s))) {
			if (*s == '\'')
				quoted = !quoted;
			s++;
		}
		if (plugin_output_perf_item(start, (size_t)(s - start), &p) ==
		    -1) {
			out->perf_bad++;
			continue;
		}
		if (out->nperf >= PLUGIN_PERF_MAX) {
			out->perf_bad++;
			continue;
		}
		out->perf = xreallocarray(out->perf, out->nperf + 1,
		    sizeof(*out->perf));
		out->perf[out->nperf++] = p;
	}
}

/*
 * Takes apart what a plugin wrote (buf[0..len), which need not be
 * NUL-terminated and may hold anything).  NUL bytes end the text.
 */
void
plugin_output_parse(const char *buf, size_t len, struct plugin_output *out)
{
	const char *nl, *bar, *end, *rest;
	const char *z = memchr(buf, '\0', len);

	memset(out, 0, sizeof(*out));
	if (z != NULL)
		len = (size_t)(z - buf);
	end = buf + len;
	nl = memchr(buf, '\n', len);
	if (nl == NULL)
		nl = end;
	bar = memchr(buf, '|', (size_t)(nl - buf));
	out->summary =
	    plugin_output_dup_trim(buf, (size_t)((bar ? bar : nl) - buf));
	if (bar != NULL)
		plugin_output_perf_parse(bar + 1, (size_t)(nl - bar - 1), out);
	if (nl >= end) {
		out->long_output = xstrdup("");
		return;
	}
	rest = nl + 1;
	bar = memchr(rest, '|', (size_t)(end - rest));
	out->long_output =
	    plugin_output_dup_trim(rest, (size_t)((bar ? bar : end) - rest));
	if (bar != NULL) {
		/* the rest is performance data, one item or more a line */
		plugin_output_perf_parse(bar + 1, (size_t)(end - bar - 1), out);
	}
}

void
plugin_output_free(struct plugin_output *out)
{
	free(out->summary);
	free(out->long_output);
	free(out->perf);
	memset(out, 0, sizeof(*out));
}

/* The state a plugin's exit status means (the plugin API). */
enum check_status
plugin_output_exit_status(int code)
{
	switch (code) {
	case 0:
		return CHECK_OK;
	case 1:
		return CHECK_WARNING;
	case 2:
		return CHECK_CRITICAL;
	default:
		return CHECK_UNKNOWN;
	}
}
