/*
 * The SNMP checks' pure evaluators: Nagios-style ranges, whether an
 * uptime says the device rebooted, and counter deltas across a wrap or a
 * reset.  No I/O; tested by tests/check_snmp_checks.c.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitord.h"

/*
 * Parses a Nagios range: "10" (alert outside 0..10), "10:" (below 10),
 * "~:10" (above 10), "10:20" (outside), "@10:20" (inside).  Returns 0 or
 * -1.
 */
int
check_snmp_eval_range_parse(const char *s, struct snmp_range *r)
{
	const char *colon;
	char *end;

	memset(r, 0, sizeof(*r));
	if (*s == '@') {
		r->inside = 1;
		s++;
	}
	if (*s == '\0')
		return -1;
	if ((colon = strchr(s, ':')) == NULL) {
		r->lo = 0;
		r->hi = strtod(s, &end);
		return *end == '\0' && end != s && isfinite(r->hi) ? 0 : -1;
	}
	if (colon == s + 1 && *s == '~')
		r->lo = -INFINITY;
	else {
		r->lo = strtod(s, &end);
		if (end != colon || end == s || !isfinite(r->lo))
			return -1;
	}
	if (colon[1] == '\0')
		r->hi = INFINITY;
	else {
		r->hi = strtod(colon + 1, &end);
		if (*end != '\0' || !isfinite(r->hi))
			return -1;
	}
	return r->lo <= r->hi ? 0 : -1;
}

/* Whether v raises the alert of range r. */
int
check_snmp_eval_range_alert(const struct snmp_range *r, double v)
{
	int in = v >= r->lo && v <= r->hi;

	return r->inside ? in : !in;
}

/*
 * Whether sysUpTime says the device rebooted between two polls.  TimeTicks
 * (hundredths of a second) wrap after 2^32, some 497 days: a value below
 * the previous one is a reboot unless the time between the polls explains
 * a wrap.  A value well below what the elapsed time predicts is a reboot
 * too (the device came back and ran for a while between two polls).
 */
int
check_snmp_eval_uptime_rebooted(uint64_t prev_ticks, uint64_t prev_us,
    uint64_t cur_ticks, uint64_t now_us)
{
	uint64_t elapsed = now_us > prev_us ? (now_us - prev_us) / 10000 : 0;
	uint64_t expect = (prev_ticks + elapsed) & 0xffffffffULL;
	uint64_t slack = elapsed / 10 + 500; /* 10 % and 5 s */
	uint64_t diff;

	diff = expect >= cur_ticks ? expect - cur_ticks : cur_ticks - expect;
	/* Distance on the 2^32 circle. */
	if (diff > 0x80000000ULL)
		diff = 0x100000000ULL - diff;
	if (diff <= slack)
		return 0;
	/* Far from the prediction: a reboot if it is behind it. */
	return ((expect - cur_ticks) & 0xffffffffULL) < 0x80000000ULL;
}

/*
 * The increase of a counter of bits (32 or 64) from prev to cur.  A 32-bit
 * counter below its previous value wrapped; a 64-bit one cannot in any
 * plausible time, so that is a discontinuity (-1).
 */
int
check_snmp_eval_counter_delta(uint64_t prev, uint64_t cur, int bits,
    uint64_t *delta)
{
	if (cur >= prev) {
		*delta = cur - prev;
		return 0;
	}
	if (bits == 32) {
		*delta = (cur + 0x100000000ULL - prev) & 0xffffffffULL;
		return 0;
	}
	return -1;
}
