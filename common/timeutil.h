/*
 * Clocks and time formatting shared by the daemons.
 */
#ifndef COMMON_TIMEUTIL_H
#define COMMON_TIMEUTIL_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* timeutil.c */
uint64_t timeutil_mono_ms(void);
uint64_t timeutil_mono_ns(void);
uint64_t timeutil_real_us(void);
struct timeval timeutil_ms_to_tv(uint64_t);
int timeutil_format_iso(uint64_t, char *, size_t);

#endif
