/*
 * Clocks and time formatting shared by the daemons.
 */
#ifndef COMMON_TIMEUTIL_H
#define COMMON_TIMEUTIL_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* A receive stamp older than this is a clock step, not time queued. */
#define TIMEUTIL_STAMP_MAX_AGE_NS (10ULL * 1000000000ULL)

/* timeutil.c */
uint64_t timeutil_stamp_to_mono(const struct timespec *);
uint64_t timeutil_mono_ms(void);
uint64_t timeutil_mono_ns(void);
uint64_t timeutil_real_us(void);
struct timeval timeutil_ms_to_tv(uint64_t);
int timeutil_format_iso(uint64_t, char *, size_t);
int timeutil_zone_known(const char *);

#endif
