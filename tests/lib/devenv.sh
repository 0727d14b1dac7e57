#!/bin/sh
# The README's commands.  As root on Debian 12:
#
#   tests/lib/devenv.sh demo   install what is needed, build, and run the
#                              sample municipal network (Ctrl-C stops it)
#   tests/lib/devenv.sh test   install, build with -Werror, run the whole
#                              test suite, its date-sensitive part again
#                              at four moved dates (libfaketime), the
#                              suite again under ASan+UBSan, the fuzz
#                              targets for a bounded time, and
#                              make distcheck
#   tests/lib/devenv.sh stop   stop a demo started from another terminal
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

PACKAGES="build-essential autoconf automake libtool pkg-config \
libevent-dev libsnmp-dev snmpd snmp libpq-dev postgresql libyaml-dev check \
libcurl4-openssl-dev libssl-dev libcrypt-dev libjansson-dev python3-aiosmtpd ca-certificates tzdata \
clang libclang-rt-14-dev iproute2 nftables monitoring-plugins chromium systemd \
fonts-ipafont-gothic faketime"

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "devenv: run this as root (it installs packages and starts" \
		    "a private PostgreSQL as the postgres user)" >&2
		exit 1
	fi
}

install_packages() {
	missing=""
	for p in $PACKAGES; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed"; then
			missing="$missing $p"
		fi
	done
	if [ -n "$missing" ]; then
		echo "devenv: installing:$missing"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends $missing
	fi
}

# The console's end-to-end test drives Chromium with playwright-core from
# npm, pinned by tests/e2e/package-lock.json and installed in .e2e/.
install_e2e() {
	if ! command -v npm >/dev/null 2>&1; then
		echo "devenv: installing: nodejs npm"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends nodejs npm
	fi
	if ! cmp -s tests/e2e/package-lock.json .e2e/package-lock.json ||
	    [ ! -d .e2e/node_modules/playwright-core ]; then
		echo "devenv: installing playwright-core for the console's test"
		mkdir -p .e2e
		cp tests/e2e/package.json tests/e2e/package-lock.json .e2e/
		(cd .e2e && npm ci --no-audit --no-fund --loglevel=error)
	fi
	MONITORD_E2E_MODULES="$top/.e2e/node_modules"
	export MONITORD_E2E_MODULES
}

# build DIR [configure options...]: an out-of-tree build in DIR.
build() {
	dir=$1
	shift
	if [ ! -x configure ] || [ configure.ac -nt configure ] ||
	    [ Makefile.am -nt configure ]; then
		autoreconf -fi
	fi
	mkdir -p "$dir"
	(cd "$dir" &&
	    if [ ! -f Makefile ] || [ ../configure -nt Makefile ] ||
		[ "$(cat .devenv-options 2>/dev/null)" != "$*" ]; then
		../configure -q "$@" && echo "$*" > .devenv-options
	    fi &&
	    make -s -j"$(nproc)")
}

# check DIR [make arguments...]: make check in DIR; a failure, or a skip
# (which runtest.sh already fails), shows the suite's log and stops.
check() {
	dir=$1
	shift
	if ! (cd "$dir" && make -s "$@") ||
	    ! grep -q '^# SKIP: *0$' "$dir/test-suite.log"; then
		cat "$dir/test-suite.log"
		exit 1
	fi
}

# The moments the date-sensitive tests run at, as seconds since the epoch,
# worked out from today so that they always lie ahead: the last second of
# this month in Japan, the coming New Year in Japan (the 12/29-1/3 closure,
# a new year of holidays), 08:59:59 JST on the next 29 February (the UTC
# date changes a second later), and 14:59:59 UTC on the 15th of next month
# (the Japanese date changes a second later, the UTC date does not).
clock_moments() {
	this=$(TZ=Asia/Tokyo date +%Y-%m-01)
	next=$(TZ=Asia/Tokyo date -d "$this +1 month" +%Y-%m-01)
	echo $(($(TZ=Asia/Tokyo date -d "$next 00:00:00" +%s) - 1))
	year=$(TZ=Asia/Tokyo date +%Y)
	TZ=Asia/Tokyo date -d "$((year + 1))-01-01 00:00:00" +%s
	y=$year
	while ! leap=$(TZ=Asia/Tokyo date -d "$y-02-29 08:59:59" +%s \
	    2>/dev/null) || [ "$leap" -le "$(date +%s)" ]; do
		y=$((y + 1))
	done
	echo "$leap"
	date -u -d "${next%-01}-15 14:59:59" +%s
}

case "${1:-}" in
demo)
	need_root
	install_packages
	build build
	exec /usr/bin/python3 tests/lib/devenv.py demo --builddir "$top/build"
	;;
test)
	need_root
	install_packages
	install_e2e
	echo "devenv: build with warnings as errors, then the test suite"
	build build --enable-werror
	check build check
	for at in $(clock_moments); do
		echo "devenv: the date-sensitive tests with the clock moved to" \
		    "$(TZ=Asia/Tokyo date -d "@$at" '+%Y-%m-%d %H:%M:%S JST')"
		MONITORD_FAKE_AT="@$at" check build check-clock
	done
	echo "devenv: the test suite again under AddressSanitizer and" \
	    "UndefinedBehaviorSanitizer"
	build build-san --enable-sanitizers --enable-werror
	check build-san check
	echo "devenv: the libFuzzer targets, 30 s each"
	build build-fuzz CC=clang --enable-fuzzing
	(cd build-fuzz && make -s fuzz FUZZ_SECONDS=30)
	echo "devenv: make distcheck"
	(cd build && make -s distcheck)
	echo "devenv: all tests passed"
	;;
stop)
	exec /usr/bin/python3 tests/lib/devenv.py stop
	;;
*)
	echo "usage: $0 demo|test|stop" >&2
	exit 2
	;;
esac
