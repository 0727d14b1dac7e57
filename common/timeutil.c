/*
 * Clocks: monotonic time for deadlines and timeouts, real time for records.
 */
#include "config.h"

#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"

uint64_t
timeutil_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t
timeutil_mono_ms(void)
{
	return timeutil_mono_ns() / 1000000ULL;
}

/* Microseconds since the epoch. */
uint64_t
timeutil_real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * The monotonic time at which a datagram arrived, given the kernel's
 * receive stamp (SO_TIMESTAMPNS, real time): now less the stamp's age.  0
 * when the stamp cannot be trusted: from the future, or older than
 * TIMEUTIL_STAMP_MAX_AGE_NS, which is no queueing but a step of the real
 * clock (or a clock moved for a test), so that a round trip is never
 * worked out from it.
 */
uint64_t
timeutil_stamp_to_mono(const struct timespec *stamp)
{
	struct timespec real;
	uint64_t kns, rns, mono;

	clock_gettime(CLOCK_REALTIME, &real);
	mono = timeutil_mono_ns();
	kns =
	    (uint64_t)stamp->tv_sec * 1000000000ULL + (uint64_t)stamp->tv_nsec;
	rns = (uint64_t)real.tv_sec * 1000000000ULL + (uint64_t)real.tv_nsec;
	if (rns < kns || rns - kns >= TIMEUTIL_STAMP_MAX_AGE_NS ||
	    rns - kns >= mono)
		return 0;
	return mono - (rns - kns);
}

struct timeval
timeutil_ms_to_tv(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

/*
 * Formats microseconds since the epoch as an ISO 8601 UTC timestamp that
 * PostgreSQL reads as timestamptz.  Returns 0, or -1 if buf is too small.
 */
int
timeutil_format_iso(uint64_t real_us, char *buf, size_t len)
{
	time_t secs = (time_t)(real_us / 1000000ULL);
	struct tm tm;
	int n;

	if (gmtime_r(&secs, &tm) == NULL)
		return -1;
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (unsigned)(real_us % 1000000ULL));
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * Whether tz names a zone of the system's database (/usr/share/zoneinfo),
 * as Asia/Tokyo: an unknown TZ silently means UTC in the C library, which
 * would put wrong times everywhere.  Nothing outside the database, and no
 * directory (Asia), is a zone.
 */
int
timeutil_zone_known(const char *tz)
{
	char path[512];
	struct stat st;

	if (tz == NULL || tz[0] == '\0' || tz[0] == '/' ||
	    strstr(tz, "..") != NULL ||
	    (size_t)snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s",
		tz) >= sizeof(path))
		return 0;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
