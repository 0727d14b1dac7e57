/*
 * A latency histogram on fixed buckets, in seconds, cheap enough to take
 * every probe's lateness (a binary search over 27 bounds per sample), and
 * its Prometheus text rendering.
 *
 * The bounds run 1-2-5 per decade from 0.1 ms to 10 s, with 1 ms steps from
 * 1 to 12 ms and a few more up to 30 ms: the target is a p99 lateness of at
 * most 10 ms, so that region must be resolved finely.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "monitord.h"

const double hist_bounds[HIST_NBUCKETS - 1] = {
	0.0001, 0.0002, 0.0005, /* 0.1 ms .. */
	0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, /* ms */
	0.01, 0.011, 0.012, 0.015, 0.02, 0.025, 0.03, 0.05, /* .. 50 ms */
	0.1, 0.2, 0.5, 1, 2, 5, 10 /* .. 10 s; then +Inf */
};

/*
 * Counts one sample; negative values and NaN count as 0.  A sample equal to
 * a bound falls in that bound's bucket, as Prometheus's "le" says.
 */
void
hist_add(struct hist *h, double v)
{
	const double *b = hist_bounds;
	size_t n = HIST_NBUCKETS - 1, half;

	if (!(v > 0))
		v = 0;
	/*
	 * The first bound >= v, or HIST_NBUCKETS - 1 (+Inf) when none: a
	 * binary search whose steps are fixed and free of branches on v, so
	 * that random samples cost no mispredictions.
	 */
	while (n > 1) {
		half = n / 2;
		b = b[half] < v ? b + half : b;
		n -= half;
	}
	b += *b < v;
	h->buckets[b - hist_bounds]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/*
 * Estimates the q-quantile (q in [0, 1], clamped) by linear interpolation
 * inside the bucket that holds it, never above the largest sample.  The
 * +Inf bucket and q = 1 give the largest sample; q = 0 gives the lower
 * bound of the first non-empty bucket; an empty histogram gives 0.
 */
double
hist_quantile(const struct hist *h, double q)
{
	double rank, cum = 0, lo, hi;
	size_t i;

	if (h->count == 0)
		return 0;
	if (!(q > 0))
		q = 0;
	if (q >= 1)
		return h->max;
	rank = q * (double)h->count;
	for (i = 0; i < HIST_NBUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		if (cum + (double)h->buckets[i] >= rank)
			break;
		cum += (double)h->buckets[i];
	}
	if (i >= HIST_NBUCKETS - 1)
		return h->max;
	lo = i == 0 ? 0 : hist_bounds[i - 1];
	hi = hist_bounds[i];
	/* The largest sample lies in this bucket when it is below the bound. */
	if (h->max < hi)
		hi = h->max;
	if (hi < lo)
		hi = lo;
	return lo + (hi - lo) * (rank - cum) / (double)h->buckets[i];
}

/*
 * Formats v as Prometheus writes floats (Go's strconv 'g' with the shortest
 * precision that reads back exactly): 0.0001, 0.012, 1, 10, 1e+06, +Inf.
 * Returns buf, which should hold HIST_FMTLEN bytes.
 */
const char *
hist_format(double v, char *buf, size_t len)
{
	char e[HIST_FMTLEN];
	const char *p;
	int prec, exp;

	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return buf;
	}
	if (isinf(v)) {
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return buf;
	}
	if (v == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", prec - 1, v);
	p = strchr(e, 'e');
	exp = p != NULL ? atoi(p + 1) : 0;
	if (exp < -4 || exp >= 6)
		snprintf(buf, len, "%s", e);
	else
		snprintf(buf, len, "%.*f",
		    prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
	return buf;
}

/*
 * Appends h to buf as a Prometheus histogram family with cumulative
 * buckets.  name and help are written as given: pass fixed strings.
 */
void
hist_render(const struct hist *h, const char *name, const char *help,
    struct evbuffer *buf)
{
	char num[HIST_FMTLEN];
	uint64_t cum = 0;
	size_t i;

	evbuffer_add_printf(buf, "# HELP %s %s\n# TYPE %s histogram\n", name,
	    help, name);
	for (i = 0; i < HIST_NBUCKETS - 1; i++) {
		cum += h->buckets[i];
		evbuffer_add_printf(buf, "%s_bucket{le=\"%s\"} %" PRIu64 "\n",
		    name, hist_format(hist_bounds[i], num, sizeof(num)), cum);
	}
	/* +Inf is the count itself, so the two always agree. */
	evbuffer_add_printf(buf, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name,
	    h->count);
	evbuffer_add_printf(buf, "%s_sum %s\n", name,
	    hist_format(h->sum, num, sizeof(num)));
	evbuffer_add_printf(buf, "%s_count %" PRIu64 "\n", name, h->count);
}
