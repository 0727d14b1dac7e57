#!/bin/sh
# runtest.sh COMMAND...: how make check runs each test (LOG_COMPILER and
# PY_LOG_COMPILER).
#
# - A time limit: MONITORD_TEST_TIMEOUT seconds (default 900), so that a
#   hung test fails with its name instead of eating the whole run.  The
#   test gets SIGTERM first, so that it stops what it started.
# - A skip is a failure: a test that quietly stops running must be noticed.
# - With MONITORD_FAKE_AT set to a moment (anything date -d reads, such as
#   'TZ="Asia/Tokyo" 2027-01-01 00:00:00'), the test runs with the clock
#   moved so that it starts at that moment: libfaketime, preloaded into the
#   test and everything it starts (PostgreSQL, the daemons, the CLI), adds
#   the same offset to every process's time (the monotonic clock too:
#   libfaketime 0.9.10 answers an absolute monotonic sleep with EINVAL
#   otherwise).  What the kernel stamps (file and packet times) is not
#   moved.
set -u

limit=${MONITORD_TEST_TIMEOUT:-900}
for last; do :; done
name=$(basename "$last")

if [ -n "${MONITORD_FAKE_AT:-}" ]; then
	lib=
	for f in /usr/lib/*/faketime/libfaketime.so.1; do
		[ -e "$f" ] && lib=$f
	done
	if [ -z "$lib" ]; then
		echo "runtest: libfaketime is not installed (Debian's" \
		    "faketime package)" >&2
		exit 99
	fi
	if ! target=$(date -u -d "$MONITORD_FAKE_AT" +%s); then
		echo "runtest: MONITORD_FAKE_AT: not a moment:" \
		    "$MONITORD_FAKE_AT" >&2
		exit 99
	fi
	offset=$((target - $(date -u +%s)))
	if [ "$offset" -ge 0 ]; then
		offset=+$offset
	fi
	set -- env LD_PRELOAD="$lib" FAKETIME="$offset" "$@"
	echo "runtest: $name with the clock moved to" \
	    "$(date -u -d "@$target" '+%Y-%m-%d %H:%M:%S UTC')" \
	    "($(TZ=Asia/Tokyo date -d "@$target" '+%Y-%m-%d %H:%M:%S JST'))"
fi

timeout --kill-after=30 "$limit" "$@"
rc=$?
case $rc in
124)
	echo "runtest: $name FAILED: timed out after $limit s" >&2
	exit 1
	;;
137)
	echo "runtest: $name FAILED: killed $limit s + 30 s after its" \
	    "time limit" >&2
	exit 1
	;;
77)
	echo "runtest: $name FAILED: it skipped itself, and a skipped" \
	    "test counts as a failure here" >&2
	exit 1
	;;
esac
exit $rc
