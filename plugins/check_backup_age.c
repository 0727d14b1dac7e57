/*
 * check_backup_age: is the newest backup in a folder fresh and large
 * enough?  The department's backup rule made checkable, as a plugin that
 * any Nagios-compatible monitor runs (exit 0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN; one line of text; performance data after '|').
 *
 *	check_backup_age -d DIR [-p PATTERN] [-w AGE] [-c AGE] [-s SIZE]
 *
 * AGE is a number with s, m, h or d (default 26h warning, 50h critical:
 * a nightly backup that missed one night warns, two nights is critical);
 * SIZE a number of bytes with k, M or G (default 1: an empty file is no
 * backup).  PATTERN is a shell pattern for the file names (default *).
 */
#include "config.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { B_OK, B_WARNING, B_CRITICAL, B_UNKNOWN };

static const char *const state_names[] = { "OK", "WARNING", "CRITICAL",
	"UNKNOWN" };

static void
usage(void)
{
	printf("BACKUP UNKNOWN - usage: check_backup_age -d DIR [-p PATTERN] "
	       "[-w AGE] [-c AGE] [-s SIZE]\n");
	exit(B_UNKNOWN);
}

/* "90", "90s", "15m", "26h", "2d" in seconds; -1 if not one. */
static long long
parse_age(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v < 0)
		return -1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		v *= 60;
		break;
	case 'h':
		v *= 3600;
		break;
	case 'd':
		v *= 86400;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	return v;
}

/* "1024", "500k", "2M", "1G" in bytes; -1 if not one. */
static long long
parse_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0 || v < 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		v *= 1024;
		break;
	case 'M':
		v *= 1024 * 1024;
		break;
	case 'G':
		v *= 1024LL * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	return v;
}

/* An age as "3d 4h", "2h 5m" or "40s". */
static void
fmt_age(long long s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%lldm %llds", s / 60, s % 60);
	else
		snprintf(buf, len, "%llds", s);
}

/* A size as "1.2 GiB", "300 KiB" or "12 B". */
static void
fmt_size(long long b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", b);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

int
main(int argc, char **argv)
{
	const char *dir = NULL, *pattern = "*";
	long long warn = 26 * 3600, crit = 50 * 3600, minsize = 1;
	char newest[NAME_MAX + 1] = "", age_s[32], size_s[32];
	long long age, size = 0;
	time_t newest_mtime = 0, now;
	struct dirent *de;
	DIR *d;
	int opt, state, found = 0;

	while ((opt = getopt(argc, argv, "d:p:w:c:s:h")) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'p':
			pattern = optarg;
			break;
		case 'w':
			if ((warn = parse_age(optarg)) < 0)
				usage();
			break;
		case 'c':
			if ((crit = parse_age(optarg)) < 0)
				usage();
			break;
		case 's':
			if ((minsize = parse_size(optarg)) < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (dir == NULL || optind != argc)
		usage();
	if (warn > crit) {
		printf("BACKUP UNKNOWN - the warning age (-w) exceeds the "
		       "critical one (-c)\n");
		return B_UNKNOWN;
	}
	if ((d = opendir(dir)) == NULL) {
		printf("BACKUP UNKNOWN - %s: %s\n", dir, strerror(errno));
		return B_UNKNOWN;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' ||
		    fnmatch(pattern, de->d_name, FNM_PERIOD) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (!found || st.st_mtime > newest_mtime) {
			found = 1;
			newest_mtime = st.st_mtime;
			size = (long long)st.st_size;
			snprintf(newest, sizeof(newest), "%s", de->d_name);
		}
	}
	closedir(d);
	if (!found) {
		printf("BACKUP CRITICAL - no file matching '%s' in %s\n",
		    pattern, dir);
		return B_CRITICAL;
	}
	now = time(NULL);
	age = now > newest_mtime ? (long long)(now - newest_mtime) : 0;
	if (age >= crit || size < minsize)
		state = B_CRITICAL;
	else if (age >= warn)
		state = B_WARNING;
	else
		state = B_OK;
	fmt_age(age, age_s, sizeof(age_s));
	fmt_size(size, size_s, sizeof(size_s));
	printf(
	    "BACKUP %s - newest %s is %s old and %s%s | age=%llds;%lld;%lld;0 "
	    "size=%lldB;;%lld:;0\n",
	    state_names[state], newest, age_s, size_s,
	    size < minsize ? " (too small)" : "", age, warn, crit, size,
	    minsize);
	return state;
}
