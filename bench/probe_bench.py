#!/usr/bin/python3
"""probe_bench.py: monitord's probe engine beside fping and Nagios 4.

One run prints three sets of figures, as plain tables with ratios:

  steady  monitord's steady state with 10,000 and 100,000 ICMP targets at a
          10 s interval (one echo per probe), the same 100,000 with 3-echo
          bursts, and a mixed run of ICMP and TCP targets: probes/s against
          the plan, lateness p50/p99/max, CPU per 1,000 probes, RSS per
          target above a 1-target base, false failures.
  sweep   one pass over 127.1.0.1-127.1.255.254: `fping -c1 -i 0 -q -f LIST`
          against `monitord -S LIST`: wall time, CPU and loss of each, and
          the ratio monitord/fping.
  nagios  Nagios 4 (Debian's nagios4 with check_ping from monitoring-plugins,
          a private config of 2,000 hosts at 2 s) until it saturates, then
          monitord's saturated rate on a ladder of shrinking intervals, and
          the ratio of the two.

Every probe goes to 127.0.0.0/8.  Every process the script starts runs in
its own session and is stopped by its PID (PostgreSQL through
harness.Postgres.stop), also on failure, on Ctrl-C and on SIGTERM; every
phase and the whole run are bounded in time.

Run as root with Debian's Python (standard library only):

    sudo /usr/bin/python3 bench/probe_bench.py [--quick] [--only PHASE]
                                               [--json FILE] [--monitord PATH]
"""

import argparse
import datetime
import http.client
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
import harness  # noqa: E402  (tests/lib/harness.py)

CLK_TCK = os.sysconf("SC_CLK_TCK")
PLUGINS = "/usr/lib/nagios/plugins"
NAGIOS = "/usr/sbin/nagios4"
NAGIOSSTATS = "/usr/sbin/nagios4stats"
FPING = "/usr/bin/fping"
SNMPD = harness.Snmpd.SNMPD
CHECK_SNMP = PLUGINS + "/check_snmp"

# What each phase needs from Debian, and the files that show it is there.
PHASE_PACKAGES = {
    "sweep": ({"fping": FPING}, ["fping"]),
    "nagios": ({"nagios4": NAGIOS, "check_ping": PLUGINS + "/check_ping",
                "ping": "/usr/bin/ping"},
               ["nagios4", "monitoring-plugins", "iputils-ping"]),
    "snmp": ({"snmpd": SNMPD, "snmpget": "/usr/bin/snmpget",
              "snmpwalk": "/usr/bin/snmpwalk", "nagios4": NAGIOS,
              "check_snmp": CHECK_SNMP},
             ["snmpd", "snmp", "nagios4", "monitoring-plugins"]),
}

# The sizes and durations of a full run and of a --quick smoke run.
PROFILES = {
    "full": dict(
        interval_s=10, warmup_s=25, window_s=30, base_s=8,
        n_small=10000, n_large=100000, mixed_icmp=50000, mixed_tcp=20000,
        sweep_trials=3,
        nagios_hosts=[500, 2000], nagios_interval_s=2, nagios_warmup_s=20,
        nagios_window_s=40,
        sat_targets=100000, sat_intervals=[5, 2, 1, 0.5, 0.25],
        sat_warmup_s=10,
        sat_window_s=15,
        # snmp: the window is one whole cycle of the interfaces check
        # (a walk every 10th poll), sliced every interval.
        snmp_agents=5000, snmp_interval_s=10, snmp_warmup_s=20,
        snmp_window_s=100, snmp_slice_s=10, snmp_base_s=8,
        snmp_uptime_window_s=30,
        snmp_nagios_hosts=[250, 1000], snmp_nagios_interval_s=10,
        snmp_nagios_warmup_s=20, snmp_nagios_window_s=40,
        max_minutes=45),
    "quick": dict(
        interval_s=5, warmup_s=10, window_s=10, base_s=4,
        n_small=2000, n_large=10000, mixed_icmp=5000, mixed_tcp=2000,
        sweep_trials=1,
        nagios_hosts=[2000], nagios_interval_s=2, nagios_warmup_s=10,
        nagios_window_s=15,
        sat_targets=20000, sat_intervals=[2, 1, 0.5], sat_warmup_s=5,
        sat_window_s=8,
        snmp_agents=500, snmp_interval_s=5, snmp_warmup_s=10,
        snmp_window_s=50, snmp_slice_s=5, snmp_base_s=4,
        snmp_uptime_window_s=15,
        snmp_nagios_hosts=[500], snmp_nagios_interval_s=5,
        snmp_nagios_warmup_s=10, snmp_nagios_window_s=20,
        max_minutes=18),
}

# A rung of the saturation ladder still "follows the plan" when all hold.
FOLLOW_MIN_RATIO = 0.95        # achieved / planned probes per second
FOLLOW_MAX_SKIP_FRAC = 0.005   # skipped / sent
FOLLOW_MAX_P99_FRAC = 0.10     # p99 lateness / interval

# The project's targets (from the issue).
TARGET_P99_S = 0.010
TARGET_CORE = 0.5
TARGET_KIB_PER_TARGET = 1.0
TARGET_SWEEP_RATIO = 1.0
TARGET_NAGIOS_RATIO = 50.0
TARGET_SNMP_TIMEOUTS = 0
TARGET_SNMP_US_PER_REQUEST = 15.0


class BenchError(Exception):
    """A phase cannot go on; the message says why."""


class BenchTimeout(BaseException):
    """The whole run went over --max-minutes."""


# ---------------------------------------------------------------- processes

CLEANUP = harness.Cleanup()
OUR_SIDS = []  # sessions of the processes this script started


def session_members(sid):
    """PIDs of the processes still in session sid (one we started)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid:
            pids.append(int(d))
    return pids


class Proc:
    """A process this script started, in a session of its own, so that
    Ctrl-C on the terminal does not reach it and whatever it forks can be
    found again.  Stopped by its PID."""

    def __init__(self, name, args, logpath, env=None, stdout=None):
        self.name, self.args, self.logpath = name, args, logpath
        self.env, self.stdout = env, stdout
        self.popen = None
        self.pid = None
        self.rc = None

    def start(self):
        with open(self.logpath, "ab") as logf:
            self.popen = subprocess.Popen(
                self.args, env=self.env, stdin=subprocess.DEVNULL,
                stdout=self.stdout if self.stdout is not None else logf,
                stderr=logf, start_new_session=True)
        self.pid = self.popen.pid
        OUR_SIDS.append(self.pid)
        CLEANUP.add(self.stop)
        return self

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout=30):
        """SIGTERM, SIGKILL after timeout, then SIGKILL to anything it left
        in its session (Nagios's workers and their plugins).  Returns the
        exit status."""
        if self.popen is None:
            return self.rc
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                harness.log("%s (pid %d) ignored SIGTERM for %d s: SIGKILL"
                            % (self.name, self.pid, timeout))
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(10)
        for pid in session_members(self.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.rc = self.popen.returncode
        self.popen = None
        return self.rc

    def log_tail(self, lines=15):
        try:
            with open(self.logpath, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def run_timed(args, timeout, env=None, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE):
    """Runs a command in its own session, bounded by timeout.  Returns
    (exit status, wall s, stdout, stderr)."""
    p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                         stdout=stdout, stderr=stderr, text=True,
                         start_new_session=True)
    proc = Proc(os.path.basename(args[0]), args, os.devnull)
    proc.popen, proc.pid = p, p.pid
    OUR_SIDS.append(p.pid)
    CLEANUP.add(proc.stop)
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.stop(timeout=5)
        raise BenchError("%s did not finish within %d s"
                         % (" ".join(args[:3]), timeout))
    wall = time.monotonic() - t0
    # communicate() reaped the child; its CPU comes from RUSAGE_CHILDREN
    # deltas taken by the caller when it matters (see cpu_children()).
    proc.popen = None
    return p.returncode, wall, out or "", err or ""


def cpu_children():
    """CPU seconds of every child reaped so far (run_timed reaps them)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def proc_cpu_s(pid):
    """CPU seconds of a live process: the scheduler's run time from
    /proc/PID/schedstat (ns), else utime + stime from /proc/PID/stat."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem_kib(pid):
    """VmRSS and VmHWM of a live process, in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split()[:2]
                out[key[:-1]] = int(value)
    return out


def proc_switches(pid):
    """Voluntary + involuntary context switches of a live process: how
    often its event loop went to sleep (or was preempted)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches:",
                                "nonvoluntary_ctxt_switches:")):
                key, value = line.split()[:2]
                out[key[:-1]] = int(value)
    return out


def host_cpu():
    """(idle + iowait seconds of all CPUs, monotonic time).  The kernel
    measures idle time exactly, while user and system time are sampled at
    the tick and miss short bursts like monitord's, so busy time is taken
    as wall time minus idle time."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:9]]
    return (vals[3] + vals[4]) / CLK_TCK, time.monotonic()


def host_busy_frac(c0, c1):
    """How busy the whole machine was between two host_cpu() readings, as
    a fraction of all its cores."""
    if c0 is None or c1 is None or c1[1] <= c0[1]:
        return None
    idle = (c1[0] - c0[0]) / ((c1[1] - c0[1]) * (os.cpu_count() or 1))
    return min(1.0, max(0.0, 1.0 - idle))


def sleep_until(deadline, check=None, step=1.0):
    """Sleeps until deadline (monotonic), calling check() every step."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(step, left))
        if check is not None:
            check()


# ----------------------------------------------------------------- metrics

METRIC_LINE = re.compile(
    r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)')
METRIC_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics:
    """One scrape of /metrics (Prometheus text format)."""

    def __init__(self, text):
        self.samples = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = METRIC_LINE.match(line)
            if m is None:
                continue
            try:
                value = float(m.group(3))
            except ValueError:
                continue
            labels = tuple(sorted(METRIC_LABEL.findall(m.group(2) or "")))
            self.samples[(m.group(1), labels)] = value

    def has(self, name):
        return any(n == name for n, _ in self.samples)

    def get(self, name, exclude=None, **labels):
        """Sum of the samples of name whose labels match; a label listed in
        exclude {label: values} drops those samples.  None if absent."""
        total = None
        for (n, lab), value in self.samples.items():
            if n != name:
                continue
            d = dict(lab)
            if any(d.get(k) != v for k, v in labels.items()):
                continue
            if exclude and any(d.get(k) in vs for k, vs in exclude.items()):
                continue
            total = (total or 0.0) + value
        return total

    def buckets(self, name):
        """[(le, cumulative count)] of a histogram, by le."""
        out = []
        for (n, lab), value in self.samples.items():
            if n == name + "_bucket":
                le = dict(lab).get("le")
                if le is not None:
                    out.append((float(le), value))
        return sorted(out)


def scrape(port, timeout=5.0):
    """Reads /metrics on 127.0.0.1:port (never through a proxy)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        if resp.status != 200:
            raise OSError("HTTP %d from /metrics" % resp.status)
        return Metrics(body)
    finally:
        conn.close()


def delta(m0, m1, name, **kw):
    a, b = m0.get(name, **kw), m1.get(name, **kw)
    if a is None or b is None:
        return None
    return b - a


def hist_quantile(q, b0, b1):
    """The q-quantile of the observations between two scrapes of one
    histogram, interpolated linearly inside the bucket that holds it (as
    Prometheus' histogram_quantile does).  None without observations."""
    before = dict(b0)
    cum = [(le, c - before.get(le, 0.0)) for le, c in b1]
    if not cum or cum[-1][1] <= 0:
        return None
    rank = q * cum[-1][1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in cum:
        if c >= rank:
            if math.isinf(le):
                return prev_le  # beyond the last finite bucket
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


def hist_upper(b0, b1):
    """The upper bound of the highest bucket that got an observation."""
    before = dict(b0)
    last, prev = None, 0.0
    for le, c in b1:
        d = c - before.get(le, 0.0)
        if d > prev:
            last = le
        prev = d
    return last


# --------------------------------------------------------------- formatting

def fmt(v, digits=1, scale=1.0, none="n/a"):
    if v is None:
        return none
    if isinstance(v, str):
        return v
    if isinstance(v, int) and scale == 1.0:
        return "{:,}".format(v)
    v = v * scale
    if math.isinf(v):
        return "inf"
    return "{:,.{}f}".format(v, digits)


def table(title, headers, rows):
    """Prints an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    print()
    print(title)
    print("-" * len(title))
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                        for i, c in enumerate(r)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


# ------------------------------------------------------------- environment

def ensure_packages(phases, no_install):
    """Installs what the phases need with apt-get --no-install-recommends,
    without letting any package start its service.  Returns {phase: reason}
    for the phases that cannot run."""
    missing_pkgs, blocked = [], {}
    for phase in phases:
        if phase not in PHASE_PACKAGES:
            continue
        files, pkgs = PHASE_PACKAGES[phase]
        if all(os.access(p, os.X_OK) for p in files.values()):
            continue
        missing_pkgs.extend(p for p in pkgs if p not in missing_pkgs)
    if not missing_pkgs:
        return blocked
    if no_install:
        for phase in phases:
            if phase in PHASE_PACKAGES and any(
                    p in missing_pkgs for p in PHASE_PACKAGES[phase][1]):
                blocked[phase] = "not installed: %s (--no-install)" % \
                    " ".join(PHASE_PACKAGES[phase][1])
        return blocked
    harness.log("installing %s with apt-get" % " ".join(missing_pkgs))
    # policy-rc.d exit 101 is Debian's "do not start services" switch.
    policy = "/usr/sbin/policy-rc.d"
    made_policy = False
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
        made_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
        rc = subprocess.run(cmd + missing_pkgs, env=env, timeout=900,
                            stdout=subprocess.DEVNULL).returncode
        if rc != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env,
                           timeout=600, stdout=subprocess.DEVNULL)
            rc = subprocess.run(cmd + missing_pkgs, env=env, timeout=900,
                                stdout=subprocess.DEVNULL).returncode
    except (subprocess.TimeoutExpired, OSError):
        rc = -1
    finally:
        if made_policy:
            os.unlink(policy)
    for phase in phases:
        if phase not in PHASE_PACKAGES:
            continue
        files, pkgs = PHASE_PACKAGES[phase]
        absent = [n for n, p in files.items() if not os.access(p, os.X_OK)]
        if absent:
            blocked[phase] = "apt-get install %s failed (rc %s); missing %s" \
                % (" ".join(pkgs), rc, ", ".join(absent))
    return blocked


def addr(base_octet, i):
    """The i-th (from 0) of a run of 127.B.C.D addresses from
    127.base_octet.0.1 on, skipping .0 and .255 in the last octet."""
    block, last = divmod(i, 254)
    b, c = divmod(block, 256)
    if base_octet + b > 255:
        raise BenchError("too many addresses from 127.%d.0.0" % base_octet)
    return "127.%d.%d.%d" % (base_octet + b, c, last + 1)


class Context:
    """What the phases share: options, the work directory, PostgreSQL, the
    TCP sink and what the monitord binary turned out to support."""

    def __init__(self, args, profile):
        self.args = args
        self.p = profile
        self.work = harness.make_workdir("monitord-bench-")
        self.pg = None
        self.sink = None
        self.sink_port = None
        self.features = None  # {"metrics": bool, "scheduler": bool}
        self.missing = []     # what the binary lacks, as messages
        self.metrics_dead = False
        self.results = {
            "date": datetime.datetime.now().astimezone().isoformat(
                timespec="seconds"),
            "profile": "quick" if args.quick else "full",
            "machine": machine_facts(),
            "monitord": args.monitord,
        }

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def note_missing(self, msg):
        if msg not in self.missing:
            self.missing.append(msg)
            harness.log(msg)


# Programs whose ICMP traffic would reach every raw ICMP socket on the
# machine: Nagios's ping, fping and monitord itself all read through one.
ICMP_PROGRAMS = ("monitord", "fping", "ping", "nagios4", "check_ping",
                 "check_icmp")
# Programs that poll or answer SNMP: another agent or poller shares the
# cores with the snmp phase's snmpd and monitord (and Nagios's plugins).
SNMP_PROGRAMS = ("monitord", "snmpd", "snmpget", "snmpwalk", "snmpbulkwalk",
                 "snmpbulkget", "snmpgetnext", "snmptrapd", "snmpsimd",
                 "check_snmp", "nagios4")


def foreign_icmp_processes(programs=ICMP_PROGRAMS):
    """[(pid, name)] of ICMP programs (or of programs) running that this
    script did not start."""
    ours = set(OUR_SIDS)
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        sid = int(stat[stat.rindex(")") + 2:].split()[3])
        if name in programs and sid not in ours:
            found.append((int(d), name))
    return found


def machine_busy(ctx, phase):
    """How busy the machine is just before a phase: the figures carry any
    other work that runs beside the benchmark."""
    if phase == "snmp":
        others = foreign_icmp_processes(SNMP_PROGRAMS)
        if others:
            names = ", ".join("%s (pid %d)" % (n, p) for p, n in others[:5])
            harness.log("WARNING: SNMP programs this script did not start "
                        "are running: %s%s.  They share the two cores with "
                        "this phase's snmpd, monitord and Nagios's "
                        "check_snmp, so the figures are not clean; run the "
                        "benchmark alone." % (
                            names, " and %d more" % (len(others) - 5)
                            if len(others) > 5 else ""))
            ctx.results.setdefault("foreign_snmp", {})[phase] = [
                "%s:%d" % (n, p) for p, n in others]
    others = [] if phase == "snmp" else foreign_icmp_processes()
    if others:
        names = ", ".join("%s (pid %d)" % (n, p) for p, n in others[:5])
        harness.log("WARNING: ICMP programs this script did not start are "
                    "running: %s%s.  Their echo replies reach every raw "
                    "ICMP socket here (monitord's, fping's, each ping of "
                    "Nagios's check_ping), so the figures are not clean; "
                    "run the benchmark alone." % (
                        names, " and %d more" % (len(others) - 5)
                        if len(others) > 5 else ""))
        ctx.results.setdefault("foreign_icmp", {})[phase] = [
            "%s:%d" % (n, p) for p, n in others]
    c0 = host_cpu()
    time.sleep(2)
    busy = host_busy_frac(c0, host_cpu())
    with open("/proc/loadavg") as f:
        load = float(f.read().split()[0])
    ctx.results.setdefault("machine_before", {})[phase] = dict(
        busy=busy, loadavg_1m=load)
    if busy is not None and busy > 0.10:
        harness.log("WARNING: the machine is %.0f%% busy before the %s "
                    "phase (load %.1f): other work shares the cores and "
                    "its noise is in the figures" % (busy * 100, phase,
                                                     load))
    return busy


def machine_facts():
    facts = {"cores": os.cpu_count(), "kernel": os.uname().release}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    facts["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return facts


# ------------------------------------------------------- monitord plumbing

def start_postgres(ctx):
    if ctx.pg is not None:
        return
    harness.log("starting a private PostgreSQL cluster")
    pg = harness.Postgres(ctx.path("pg"), dbname="monitord_bench")
    CLEANUP.add(lambda: pg.stop("immediate"))
    pg.start()
    ctx.pg = pg
    rc, _, out, err = run_timed([ctx.args.incidentctl, "migrate"], 120,
                                env=pg.env())
    if rc != 0:
        raise BenchError("incidentctl migrate failed (%d): %s%s"
                         % (rc, out, err))


def start_sink(ctx):
    """Compiles bench/tcp_sink.c into the work directory and starts it on
    0.0.0.0 (a free port), which answers on every 127.x address."""
    if ctx.sink is not None:
        return
    src = os.path.join(BENCH_DIR, "tcp_sink.c")
    exe = ctx.path("tcp_sink")
    rc, _, out, err = run_timed(["cc", "-O2", "-Wall", "-o", exe, src], 120)
    if rc != 0:
        raise BenchError("cannot compile %s:\n%s%s" % (src, out, err))
    outpath = ctx.path("tcp_sink.out")
    with open(outpath, "wb") as out_f:
        ctx.sink = Proc("tcp_sink", [exe], ctx.path("tcp_sink.log"),
                        stdout=out_f).start()

    def ready():
        if not ctx.sink.alive():
            raise BenchError("tcp_sink exited: %s" % ctx.sink.log_tail())
        with open(outpath) as f:
            m = re.search(r"listening 0\.0\.0\.0:(\d+)", f.read())
        return m and int(m.group(1))
    ctx.sink_port = harness.wait_for("the TCP sink", ready, timeout=10)
    harness.log("TCP sink listening on 0.0.0.0:%d (pid %d)"
                % (ctx.sink_port, ctx.sink.pid))


def sink_accepted(ctx):
    try:
        with open(ctx.path("tcp_sink.out")) as f:
            m = re.search(r"accepted (\d+)", f.read())
        return int(m.group(1)) if m else None
    except OSError:
        return None


def ms_str(ms):
    return "%dms" % int(round(ms))


def write_conf(ctx, path, *, instance, metrics_port, icmp=0, tcp=0,
               interval_ms=10000, timeout_ms=1000, retry_ms=2000,
               packets=1, gap_ms=0):
    """Writes a monitord.yaml with icmp ICMP targets (127.1.0.1 on) and tcp
    TCP targets (127.64.0.1 on, the sink's port)."""
    feats = ctx.features or {"metrics": True, "scheduler": True}
    out = ["# written by bench/probe_bench.py",
           "instance: %s" % instance,
           # notice keeps the "stopped: N probes" line, which is all there
           # is to count probes with when the binary has no /metrics.
           "log_level: %s" % ("warning" if feats["metrics"] else "notice")]
    if feats["metrics"]:
        out += ["metrics:", "  listen: 127.0.0.1:%d" % metrics_port]
    if feats["scheduler"]:
        out += ["scheduler:", "  max_rate: 0", "  max_in_flight: 0"]
    # The probe engine is measured, not PostgreSQL's COPY of 20,000
    # round-trip samples a second on the same two cores.
    out += ["defaults:",
            "  interval: %s" % ms_str(interval_ms),
            "  retry_interval: %s" % ms_str(retry_ms),
            "  timeout: %s" % ms_str(timeout_ms),
            "  max_attempts: 3",
            "  store_samples: false",
            "hosts:"]
    icmp_tpl = ("  - name: t%06d\n    address: %s\n    checks:\n"
                "      - type: icmp\n        packets: %d\n"
                "        packet_gap: %s")
    gap = ms_str(gap_ms)
    for i in range(icmp):
        out.append(icmp_tpl % (i + 1, addr(1, i), packets, gap))
    tcp_tpl = ("  - name: w%06d\n    address: %s\n    checks:\n"
               "      - type: tcp\n        port: %d")
    for i in range(tcp):
        out.append(tcp_tpl % (i + 1, addr(64, i), ctx.sink_port or 1))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def check_conf(ctx, path):
    rc, _, out, err = run_timed([ctx.args.monitord, "-n", "-f", path], 300)
    return rc, (out + err).strip()


def probe_features(ctx):
    """Finds out which of the config keys this benchmark writes the binary
    accepts, dropping the ones it refuses so that the rest can still run."""
    if ctx.features is not None:
        return
    if not os.access(ctx.args.monitord, os.X_OK):
        raise BenchError("monitord is not built (looked for %s; build into "
                         "build/ or pass --monitord)" % ctx.args.monitord)
    ctx.features = {"metrics": True, "scheduler": True}
    path = ctx.path("features.yaml")
    for _ in range(3):
        write_conf(ctx, path, instance="bench-features", metrics_port=1,
                   icmp=1)
        rc, text = check_conf(ctx, path)
        if rc == 0:
            return
        dropped = False
        for key in ("metrics", "scheduler"):
            if ctx.features[key] and re.search(
                    r"unknown key '%s'" % key, text):
                ctx.features[key] = False
                dropped = True
                line = [ln for ln in text.splitlines()
                        if "'%s'" % key in ln][0]
                what = "/metrics" if key == "metrics" else \
                    "scheduler settings"
                ctx.note_missing("monitord has no %s: %s" % (what, line))
        if not dropped:
            break
    raise BenchError("monitord refuses the benchmark's config:\n%s" % text)


def parse_stop_line(log_text):
    """Figures of monitord's "stopped: N probes, ..." log line."""
    m = None
    for m in re.finditer(r"stopped: (\d+) probes", log_text):
        pass
    return int(m.group(1)) if m else None


def probe_kinds(m):
    """The kind labels of monitord_probes_sent_total in one scrape."""
    return sorted({dict(lab).get("kind") for (n, lab) in m.samples
                   if n == "monitord_probes_sent_total"} - {None})


def probe_counts(m):
    """{kind: probes sent so far} from one scrape (None: no scrape)."""
    if m is None:
        return None
    return {k: m.get("monitord_probes_sent_total", kind=k)
            for k in probe_kinds(m)}


def db_states(ctx, instance):
    """{state: count} of current_state rows this instance wrote."""
    try:
        rows = ctx.pg.query("SELECT state, count(*) FROM current_state "
                            "WHERE source = '%s' GROUP BY state" % instance)
        return {r[0]: int(r[1]) for r in rows}
    except Exception as e:  # the schema is the lead's; report, go on
        return {"error": str(e).strip()[:200]}


def run_monitord(ctx, label, *, icmp=0, tcp=0, interval_s=10.0,
                 timeout_ms=1000, retry_ms=2000, packets=1, gap_ms=0,
                 warmup_s=25, window_s=30, base=None, writer=None,
                 targets=None, db_rows=None, snap=None, slice_s=None,
                 describe=None):
    """Runs monitord on a generated config, waits warmup_s, measures over
    window_s, stops it, and returns the figures as a dict.

    The SNMP phase passes writer(path, instance, metrics_port), which
    writes the config instead of write_conf, with targets (the number of
    hosts) and db_rows (the current_state rows a healthy run writes).
    snap(), if given, is called at the start and the end of the window
    and every slice_s seconds in between; res["slices"] holds each call's
    result with the time, monitord's CPU and its probe counters then."""
    n = targets if targets is not None else icmp + tcp
    interval_ms = int(round(interval_s * 1000))
    instance = "bench-%s-%d" % (re.sub(r"[^A-Za-z0-9_.-]", "-", label),
                                int(time.time()))
    res = dict(label=label, instance=instance, icmp=icmp, tcp=tcp,
               targets=n,
               interval_s=interval_s, timeout_ms=timeout_ms, packets=packets,
               packet_gap_ms=gap_ms, warmup_s=warmup_s, window_s=window_s,
               planned_nominal=n / interval_s, notes=[])
    port = harness.free_port()
    conf = ctx.path("%s.yaml" % re.sub(r"[^A-Za-z0-9_.-]", "_", label))
    if writer is not None:
        writer(conf, instance, port)
    else:
        write_conf(ctx, conf, instance=instance, metrics_port=port,
                   icmp=icmp, tcp=tcp, interval_ms=interval_ms,
                   timeout_ms=timeout_ms, retry_ms=retry_ms,
                   packets=packets, gap_ms=gap_ms)
    # No separate `monitord -n` here: a refused config makes the daemon
    # exit at once, which alive() reports with the log's last lines.

    harness.log("monitord %s: %s every %g s; warm-up %d s, window %d s"
                % (label, describe or "%d ICMP + %d TCP targets, %d "
                   "echo(es)" % (icmp, tcp, packets), interval_s, warmup_s,
                   window_s))
    logpath = ctx.path("%s.log" % os.path.basename(conf)[:-5])
    md = Proc("monitord", [ctx.args.monitord, "-f", conf], logpath,
              env=ctx.pg.env()).start()
    t_start = time.monotonic()

    def alive():
        if not md.alive():
            raise BenchError("monitord (%s) exited with %s:\n%s"
                             % (label, md.popen.returncode, md.log_tail()))

    use_metrics = ctx.features["metrics"]
    try:
        if use_metrics:
            limit = 10 if ctx.metrics_dead else 60 + n / 2000

            def up():
                alive()
                try:
                    return scrape(port, timeout=2)
                except OSError:
                    return None
            try:
                harness.wait_for("/metrics of monitord (%s)" % label, up,
                                 timeout=limit, interval=0.2)
                ctx.metrics_dead = False
            except AssertionError:
                ctx.metrics_dead = True
                ctx.note_missing("monitord has no /metrics: nothing answered "
                                 "on 127.0.0.1:%d/metrics within %d s"
                                 % (port, limit))
                use_metrics = False
        res["startup_s"] = time.monotonic() - t_start

        sleep_until(time.monotonic() + warmup_s, alive)
        m0 = scrape(port) if use_metrics else None
        cpu0, hc0, t0 = proc_cpu_s(md.pid), host_cpu(), time.monotonic()
        sw0 = proc_switches(md.pid)
        slices = []

        def take_slice(m):
            if snap is None:
                return
            cpu = proc_cpu_s(md.pid)
            slices.append(dict(t=time.monotonic() - t0, cpu_s=cpu - cpu0,
                               probes=probe_counts(m),
                               engine=snmp_engine_now(m), snap=snap()))
        take_slice(m0)
        next_slice = t0 + slice_s if slice_s else None
        gauges = {"max": [], "pps": [], "planned": [], "in_flight": [],
                  "db_queue": []}
        mem = proc_mem_kib(md.pid)
        while time.monotonic() < t0 + window_s:
            time.sleep(min(1.0, max(0.0, t0 + window_s - time.monotonic())))
            alive()
            mem = proc_mem_kib(md.pid)
            if not use_metrics:
                continue
            try:
                m = scrape(port)
            except OSError as e:
                res["notes"].append("scrape failed: %s" % e)
                continue
            now = time.monotonic()
            if next_slice is not None and now >= next_slice and \
                    now < t0 + window_s - 0.5:
                take_slice(m)
                next_slice += slice_s
            # The gauge covers the current and previous 10 s windows, so
            # from t0 + 10 s on its samples cover the measuring window.
            if now >= t0 + min(10.0, window_s - 0.5):
                gauges["max"].append(m.get(
                    "monitord_probe_lateness_window_max_seconds"))
            gauges["pps"].append(m.get("monitord_probes_per_second"))
            gauges["planned"].append(m.get(
                "monitord_probes_planned_per_second"))
            gauges["in_flight"].append(m.get("monitord_probes_in_flight"))
            gauges["db_queue"].append(m.get("monitord_db_queue_depth"))
        m1 = scrape(port) if use_metrics else None
        cpu1, hc1, t1 = proc_cpu_s(md.pid), host_cpu(), time.monotonic()
        sw1 = proc_switches(md.pid)
        take_slice(m1)
        mem = proc_mem_kib(md.pid)
        res["db_states"] = db_states(ctx, instance)
        cpu_life = cpu1
        life_s = time.monotonic() - t_start
        if snap is not None:
            res["slices"] = slices
        if use_metrics and writer is not None:
            res["metrics_end"] = {
                "%s{%s}" % (k, ",".join('%s="%s"' % kv for kv in lab))
                if lab else k: v for (k, lab), v in m1.samples.items()
                if not k.endswith("_bucket")}
    finally:
        rc = md.stop(timeout=30)
    res["exit_status"] = rc
    if rc not in (0, None):
        res["notes"].append("monitord exited %s on SIGTERM" % rc)

    dt = t1 - t0
    res["window_measured_s"] = dt
    res["cpu_s"] = cpu1 - cpu0
    res["core_frac"] = (cpu1 - cpu0) / dt
    res["switches_per_s"] = {k: (sw1[k] - sw0.get(k, 0)) / dt for k in sw1}
    res["host_busy"] = host_busy_frac(hc0, hc1)
    res["vmrss_kib"], res["vmhwm_kib"] = mem.get("VmRSS"), mem.get("VmHWM")
    if base is not None and n > 1:
        res["rss_kib_per_target"] = (res["vmrss_kib"] - base["vmrss_kib"]) / n
        res["hwm_kib_per_target"] = (res["vmhwm_kib"] - base["vmhwm_kib"]) / n
    states = res["db_states"]
    if "error" not in states:
        res["db_ok"] = states.get("OK", 0)
        res["db_not_ok"] = sum(v for k, v in states.items() if k != "OK")
        res["db_missing"] = (db_rows if db_rows is not None else n) - \
            sum(states.values())

    if m0 is not None and m1 is not None:
        sent = delta(m0, m1, "monitord_probes_sent_total")
        res["probes"] = sent
        res["achieved"] = sent / dt if sent is not None else None
        res["by_kind"] = {k: delta(m0, m1, "monitord_probes_sent_total",
                                   kind=k) for k in probe_kinds(m1)}
        echoes = delta(m0, m1, "monitord_icmp_echoes_sent_total")
        res["echoes_per_s"] = echoes / dt if echoes is not None else None
        planned = [v for v in gauges["planned"] if v is not None]
        res["planned"] = statistics.mean(planned) if planned else None
        plan = res["planned"] or res["planned_nominal"]
        res["ratio"] = res["achieved"] / plan if res["achieved"] else None
        b0 = m0.buckets("monitord_probe_lateness_seconds")
        b1 = m1.buckets("monitord_probe_lateness_seconds")
        if b1:
            res["lateness_p50_s"] = hist_quantile(0.50, b0, b1)
            res["lateness_p99_s"] = hist_quantile(0.99, b0, b1)
            res["lateness_hist_upper_s"] = hist_upper(b0, b1)
        else:
            res["notes"].append("no monitord_probe_lateness_seconds")
        maxes = [v for v in gauges["max"] if v is not None]
        res["lateness_max_s"] = max(maxes) if maxes else None
        # Interpolating inside a wide bucket can land above the worst
        # lateness actually seen; that worst value bounds every quantile.
        if res["lateness_max_s"] is not None:
            for q in ("lateness_p50_s", "lateness_p99_s"):
                if res.get(q) is not None and \
                        res[q] > res["lateness_max_s"]:
                    res[q] = res["lateness_max_s"]
        res["skipped"] = delta(m0, m1, "monitord_probes_skipped_total")
        res["deferred"] = delta(m0, m1, "monitord_probes_deferred_total")
        res["replies_dropped"] = delta(
            m0, m1, "monitord_icmp_replies_dropped_total")
        nonok = delta(m0, m1, "monitord_check_results_total",
                      exclude={"result": ("ok",)})
        not_ok_now = m1.get("monitord_checks", exclude={"state": ("ok",)})
        res["nonok_by_result"] = {
            k: delta(m0, m1, "monitord_check_results_total", result=k)
            for k in ("warning", "critical", "unknown")}
        res["checks_by_state"] = {
            dict(lab).get("state"): v for (nm, lab), v in m1.samples.items()
            if nm == "monitord_checks"}
        if writer is not None:
            res["snmp_engine"] = snmp_engine_counters(m0, m1)
        res["nonok_results"], res["checks_not_ok"] = nonok, not_ok_now
        if nonok is not None and not_ok_now is not None:
            res["false_failures"] = int(nonok + not_ok_now)
        res["checks_configured"] = m1.get("monitord_checks_configured")
        res["db_queue_end"] = m1.get("monitord_db_queue_depth")
        if res["probes"]:
            res["cpu_s_per_1k"] = res["cpu_s"] / res["probes"] * 1000
    else:
        # No /metrics: count probes with the stop line over the whole life.
        with open(md.logpath, encoding="utf-8", errors="replace") as f:
            total = parse_stop_line(f.read())
        res["notes"].append("no /metrics: probes/s and CPU per 1k probes "
                            "over the whole run, start-up included; no "
                            "lateness")
        if total:
            res["probes_whole_run"] = total
            res["achieved"] = total / life_s
            res["ratio"] = res["achieved"] / res["planned_nominal"]
            res["cpu_s_per_1k"] = cpu_life / total * 1000
        if "db_ok" in res:
            res["false_failures"] = res["db_not_ok"] + res["db_missing"]
            res["notes"].append("false failures from current_state")
    if tcp:
        res["sink_accepted_so_far"] = sink_accepted(ctx)
    return res


# ------------------------------------------------------------------ steady

def phase_steady(ctx):
    p = ctx.p
    probe_features(ctx)
    start_postgres(ctx)
    start_sink(ctx)
    iv = p["interval_s"]
    warm = ctx.args.warmup or p["warmup_s"]
    win = ctx.args.window or p["window_s"]
    if warm < 2 * iv:
        harness.log("warm-up raised to two intervals (%d s)" % (2 * iv))
        warm = 2 * iv
    runs = []
    ctx.results["steady"] = runs
    plan = [
        ("icmp-%dk" % (p["n_small"] // 1000), dict(icmp=p["n_small"])),
        ("icmp-%dk" % (p["n_large"] // 1000), dict(icmp=p["n_large"])),
        ("icmp-%dk-x3" % (p["n_large"] // 1000),
         dict(icmp=p["n_large"], packets=3, gap_ms=ctx.args.burst_gap_ms)),
        ("mixed-%dk+%dk-tcp" % (p["mixed_icmp"] // 1000,
                                p["mixed_tcp"] // 1000),
         dict(icmp=p["mixed_icmp"], tcp=p["mixed_tcp"])),
    ]
    try:
        # The base: the same daemon with one target, for RSS per target.
        base = run_monitord(ctx, "base-1", icmp=1, interval_s=iv,
                            warmup_s=p["base_s"], window_s=2)
        base["is_base"] = True
        runs.append(base)
        for label, kw in plan:
            try:
                r = run_monitord(ctx, label, interval_s=iv, warmup_s=warm,
                                 window_s=win, base=base, **kw)
            except BenchError as e:
                harness.log("run %s failed: %s" % (label, e))
                r = dict(label=label, error=str(e), targets=kw.get(
                    "icmp", 0) + kw.get("tcp", 0), notes=[])
            runs.append(r)
            log_run(r)
    finally:
        if runs:
            print_steady(runs)
    return runs


def log_run(r):
    if "error" in r:
        return
    harness.log("  %s: %s probes/s of %s planned, lateness p99 %s ms, "
                "%s cores, %s false failures"
                % (r["label"], fmt(r.get("achieved"), 0),
                   fmt(r.get("planned") or r.get("planned_nominal"), 0),
                   fmt(r.get("lateness_p99_s"), 2, 1000),
                   fmt(r.get("core_frac"), 3), fmt(r.get("false_failures"))))


def print_steady(runs):
    rows = []
    for r in runs:
        if "error" in r:
            rows.append([r["label"], fmt(r["targets"]), "failed"] +
                        [""] * 7)
            continue
        if r.get("is_base"):
            rows.append([r["label"], fmt(r["targets"]), "%d" % r["packets"]]
                        + ["-"] * 7)
            continue
        rows.append([
            r["label"], fmt(r["targets"]),
            "%d" % r["packets"],
            fmt(r.get("planned") or r.get("planned_nominal"), 0),
            fmt(r.get("achieved"), 0),
            fmt(r.get("ratio"), 3),
            fmt(r.get("echoes_per_s"), 0),
            fmt(r.get("lateness_p50_s"), 2, 1000),
            fmt(r.get("lateness_p99_s"), 2, 1000),
            fmt(r.get("lateness_max_s"), 1, 1000)])
    win = [r for r in runs if "window_s" in r and not r.get("is_base")]
    table("monitord steady state: throughput and lateness (%s)" % (
          "warm-up %d s, window %d s, interval %g s" % (
              win[0]["warmup_s"], win[0]["window_s"], win[0]["interval_s"])
          if win else "no run"),
          ["run", "targets", "echoes", "planned/s", "probes/s",
           "achieved/plan", "echoes/s", "late p50 ms", "late p99 ms",
           "late max ms"], rows)
    rows = []
    for r in runs:
        if "error" in r:
            rows.append([r["label"], r["error"].splitlines()[0][:70]] +
                        [""] * 10)
            continue
        base = r.get("is_base")
        rows.append([
            r["label"],
            "-" if base else fmt(r.get("cpu_s_per_1k"), 4),
            fmt(r.get("core_frac"), 3),
            fmt(r.get("host_busy"), 1, 100),
            fmt(r.get("vmrss_kib"), 1, 1 / 1024),
            fmt(r.get("vmhwm_kib"), 1, 1 / 1024),
            "(base)" if base else fmt(r.get("rss_kib_per_target"), 3),
            "(base)" if base else fmt(r.get("hwm_kib_per_target"), 3),
            fmt(r.get("false_failures")),
            fmt(r.get("skipped"), 0),
            "%s/%s" % (fmt(r.get("db_ok")), fmt(r.get("targets"))),
            fmt(r.get("startup_s"), 1)])
    table("monitord steady state: cost and correctness",
          ["run", "CPU s/1k probes", "cores", "machine busy %", "VmRSS MiB",
           "VmHWM MiB", "RSS KiB/target", "HWM KiB/target", "false failures",
           "skipped", "OK in db", "start-up s"], rows)
    for r in runs:
        for note in r.get("notes", []):
            print("  %s: %s" % (r["label"], note))


# ------------------------------------------------------------------- sweep

def phase_sweep(ctx):
    listfile = ctx.path("sweep-127.1.0.0-16.txt")
    with open(listfile, "w") as f:
        f.write("# 127.1.0.1 - 127.1.255.254\n")
        for i in range(1, 65535):
            f.write("127.1.%d.%d\n" % (i >> 8, i & 255))
    n = 65534
    res = {"targets": n, "list": listfile, "fping": [], "monitord": []}
    ctx.results["sweep"] = res

    # Does the binary have a sweep mode at all?  A one-address list tells.
    probe = ctx.path("sweep-probe.txt")
    with open(probe, "w") as f:
        f.write("127.0.0.1\n")
    have_sweep = os.access(ctx.args.monitord, os.X_OK)
    if not have_sweep:
        ctx.note_missing("monitord is not built (%s)" % ctx.args.monitord)
    else:
        rc, _, out, err = run_timed([ctx.args.monitord, "-S", probe], 30)
        if rc != 0 or "sweep:" not in out:
            have_sweep = False
            first = (err.strip() or out.strip() or "exit %d" % rc)
            ctx.note_missing("monitord has no sweep mode (-S): %s"
                             % first.splitlines()[0])

    for trial in range(ctx.p["sweep_trials"]):
        # Alternate who goes first, so neither always gets a warm cache.
        order = ["fping", "monitord"] if trial % 2 == 0 else \
            ["monitord", "fping"]
        for who in order:
            if who == "fping":
                res["fping"].append(sweep_fping(listfile, n))
            elif have_sweep:
                res["monitord"].append(sweep_monitord(ctx, listfile, n))
            time.sleep(1)  # let the last replies and sockets settle
    summarize_sweep(res)
    print_sweep(res)
    return res


def sweep_fping(listfile, n):
    c0 = cpu_children()
    rc, wall, out, err = run_timed(
        [FPING, "-c1", "-i", "0", "-q", "-f", listfile], 120)
    cpu = cpu_children() - c0
    alive, seen = 0, 0
    for m in re.finditer(r"^(\S+)\s*:\s*xmt/rcv/%loss = (\d+)/(\d+)/", err,
                         re.M):
        seen += 1
        if int(m.group(3)) > 0:
            alive += 1
    harness.log("fping: %.3f s, %d/%d alive (rc %d)" % (wall, alive, n, rc))
    return dict(wall_s=wall, cpu_s=cpu, alive=alive, lost=n - alive,
                reported=seen, rc=rc)


def sweep_monitord(ctx, listfile, n):
    c0 = cpu_children()
    rc, wall, out, err = run_timed([ctx.args.monitord, "-S", listfile], 120)
    cpu = cpu_children() - c0
    m = re.search(r"sweep: (\d+) targets, (\d+) alive, (\d+) unreachable, "
                  r"(\d+) errors, ([\d.]+) s", out)
    if m is None:
        harness.log("monitord -S printed no summary (rc %d): %s"
                    % (rc, (out + err)[-300:]))
        return dict(wall_s=wall, cpu_s=cpu, rc=rc, error="no summary line")
    targets, alive = int(m.group(1)), int(m.group(2))
    harness.log("monitord -S: %.3f s, %d/%d alive (rc %d)"
                % (wall, alive, targets, rc))
    return dict(wall_s=wall, cpu_s=cpu, alive=alive, lost=n - alive,
                unreachable=int(m.group(3)), errors=int(m.group(4)),
                own_s=float(m.group(5)), targets_read=targets, rc=rc)


def summarize_sweep(res):
    for who in ("fping", "monitord"):
        ok = [t for t in res[who] if "error" not in t]
        if ok:
            res[who + "_median_s"] = statistics.median(t["wall_s"]
                                                       for t in ok)
            res[who + "_lost"] = max(t["lost"] for t in ok)
    if res.get("fping_median_s") and res.get("monitord_median_s"):
        res["ratio"] = res["monitord_median_s"] / res["fping_median_s"]
        res["equal_loss"] = res["fping_lost"] == res["monitord_lost"]


def print_sweep(res):
    rows = []
    for who, label in (("fping", "fping -c1 -i 0 -q -f LIST"),
                       ("monitord", "monitord -S LIST")):
        trials = res[who]
        if not trials:
            rows.append([label, "not run", "", "", "", ""])
            continue
        for i, t in enumerate(trials):
            if "error" in t:
                rows.append([label, "#%d" % (i + 1), fmt(t["wall_s"], 3),
                             "", t["error"], ""])
                continue
            rows.append([label, "#%d" % (i + 1), fmt(t["wall_s"], 3),
                         fmt(t["cpu_s"], 3), "%d/%d" % (t["alive"],
                                                        res["targets"]),
                         fmt(t["lost"])])
    table("Sweep of 127.1.0.1-127.1.255.254 (%d addresses, 1 echo each)"
          % res["targets"],
          ["command", "trial", "wall s", "CPU s", "alive", "lost"], rows)
    print("  median wall: fping %s s, monitord %s s; ratio monitord/fping "
          "%s (target <= %.1f); loss %s"
          % (fmt(res.get("fping_median_s"), 3),
             fmt(res.get("monitord_median_s"), 3),
             fmt(res.get("ratio"), 3), TARGET_SWEEP_RATIO,
             "equal" if res.get("equal_loss") else
             ("DIFFERENT" if "equal_loss" in res else "n/a")))


# ------------------------------------------------------------------ nagios

def nagios_obj(kind, **kv):
    """One object definition, one directive a line (Nagios refuses a
    definition on a single line)."""
    body = "".join("    %-28s %s\n" % (k, v) for k, v in kv.items())
    return "define %s {\n%s}\n" % (kind, body)


def write_nagios(d, hosts, interval_s):
    """A private Nagios 4 instance under d: hosts on 127.20.x.y, each with a
    host check and a PING service, both check_ping with one echo, every
    interval_s.  Results are counted from the performance data files."""
    cfg, objs = nagios_base(d)
    objs += [
        nagios_obj("command", command_name="bench_host_ping",
                   command_line="$USER1$/check_ping -H $HOSTADDRESS$ "
                                "-w 3000.0,80% -c 5000.0,100% -p 1"),
        nagios_obj("command", command_name="bench_svc_ping",
                   command_line="$USER1$/check_ping -H $HOSTADDRESS$ "
                                "-w 100.0,20% -c 500.0,60% -p 1"),
    ]
    timing = nagios_timing(interval_s)
    objs.append(nagios_obj("host", name="bench-host",
                           check_command="bench_host_ping", **timing))
    objs.append(nagios_obj("service", name="bench-service",
                           check_command="bench_svc_ping", **timing))
    for i in range(hosts):
        name = "n%05d" % (i + 1)
        objs.append(nagios_obj("host", use="bench-host", host_name=name,
                               alias=name, address=addr(20, i)))
        objs.append(nagios_obj("service", use="bench-service",
                               host_name=name, service_description="PING"))
    nagios_finish(d, objs)
    return cfg


def nagios_timing(interval_s):
    """The directives every host and service template of the benchmark
    shares: the check interval, no notifications."""
    return dict(check_interval=str(interval_s),
                retry_interval=str(interval_s), max_check_attempts="3",
                check_period="always", notification_period="always",
                notifications_enabled="0", contacts="bench",
                active_checks_enabled="1", passive_checks_enabled="0",
                register="0")


def nagios_finish(d, objs):
    """Writes the object file and hands the var directory to nagios."""
    with open(os.path.join(d, "objects", "bench.cfg"), "w") as f:
        f.write("".join(objs))
    subprocess.run(["chown", "-R", "nagios:nagios", os.path.join(d, "var")],
                   check=True)


def nagios_base(d):
    """nagios.cfg and resource.cfg of a private Nagios 4 under d, and the
    objects every benchmark config needs (a time period, a contact that is
    never notified).  Returns (path of nagios.cfg, [object texts])."""
    var = os.path.join(d, "var")
    for sub in ("objects", "var/spool/checkresults", "var/archives",
                "var/rw", "var/tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    main = [
        ("log_file", var + "/nagios.log"),
        ("cfg_dir", d + "/objects"),
        ("object_cache_file", var + "/objects.cache"),
        ("precached_object_file", var + "/objects.precache"),
        ("resource_file", d + "/resource.cfg"),
        ("status_file", var + "/status.dat"),
        ("status_update_interval", "2"),
        ("nagios_user", "nagios"),
        ("nagios_group", "nagios"),
        ("check_external_commands", "0"),
        ("command_file", var + "/rw/nagios.cmd"),
        ("query_socket", var + "/rw/nagios.qh"),
        ("lock_file", var + "/nagios.lock"),
        ("temp_file", var + "/nagios.tmp"),
        ("temp_path", var + "/tmp"),
        ("log_archive_path", var + "/archives"),
        ("check_result_path", var + "/spool/checkresults"),
        ("state_retention_file", var + "/retention.dat"),
        ("retain_state_information", "0"),
        ("use_syslog", "0"),
        ("log_notifications", "0"),
        ("log_service_retries", "0"),
        ("log_host_retries", "0"),
        ("log_event_handlers", "0"),
        ("log_initial_states", "0"),
        ("log_passive_checks", "0"),
        ("enable_notifications", "0"),
        ("enable_event_handlers", "0"),
        ("enable_flap_detection", "0"),
        # Never talk to nagios.org: this machine probes loopback only.
        ("check_for_updates", "0"),
        ("bare_update_check", "0"),
        ("interval_length", "1"),
        ("max_concurrent_checks", "0"),
        ("check_result_reaper_frequency", "1"),
        ("max_check_result_reaper_time", "5"),
        ("service_inter_check_delay_method", "s"),
        ("host_inter_check_delay_method", "s"),
        ("max_service_check_spread", "1"),
        ("max_host_check_spread", "1"),
        ("check_service_freshness", "0"),
        ("check_host_freshness", "0"),
        ("process_performance_data", "1"),
        ("service_perfdata_file", var + "/perf-service.tsv"),
        ("service_perfdata_file_template",
         r"$TIMET$\t$SERVICESTATE$\t$SERVICELATENCY$"),
        ("service_perfdata_file_mode", "a"),
        ("service_perfdata_file_processing_interval", "0"),
        ("host_perfdata_file", var + "/perf-host.tsv"),
        ("host_perfdata_file_template",
         r"$TIMET$\t$HOSTSTATE$\t$HOSTLATENCY$"),
        ("host_perfdata_file_mode", "a"),
        ("host_perfdata_file_processing_interval", "0"),
        ("enable_environment_macros", "0"),
        ("illegal_macro_output_chars", "`~$&|'\"<>"),
        ("date_format", "iso8601"),
        ("debug_level", "0"),
    ]
    cfg = os.path.join(d, "nagios.cfg")
    with open(cfg, "w") as f:
        f.write("# written by bench/probe_bench.py\n")
        f.write("".join("%s=%s\n" % kv for kv in main))
    with open(os.path.join(d, "resource.cfg"), "w") as f:
        f.write("$USER1$=%s\n" % PLUGINS)

    week = {day: "00:00-24:00" for day in (
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
        "sunday")}
    objs = [
        nagios_obj("timeperiod", timeperiod_name="always", alias="always",
                   **week),
        nagios_obj("command", command_name="bench_no_notify",
                   command_line="/bin/true"),
        nagios_obj("contact", contact_name="bench", alias="bench",
                   host_notifications_enabled="0",
                   service_notifications_enabled="0",
                   host_notification_period="always",
                   service_notification_period="always",
                   host_notification_options="n",
                   service_notification_options="n",
                   host_notification_commands="bench_no_notify",
                   service_notification_commands="bench_no_notify"),
    ]
    return cfg, objs


def read_perfdata(path, t0, t1):
    """(results, non-OK results, latencies) with t0 <= TIMET < t1."""
    n, bad, lat = 0, 0, []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 3 or not parts[0].isdigit():
                    continue
                t = int(parts[0])
                if t0 <= t < t1:
                    n += 1
                    if parts[1] not in ("OK", "UP"):
                        bad += 1
                    try:
                        lat.append(float(parts[2]))
                    except ValueError:
                        pass
    except OSError:
        pass
    return n, bad, lat


def quantile(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(math.ceil(q * len(v))) - 1)]


def nagios_stats(cfg):
    names = ["NUMSVCACTCHK1M", "NUMHSTACTCHK1M", "AVGACTSVCLAT",
             "MAXACTSVCLAT", "NUMSVCOK", "NUMSERVICES"]
    try:
        rc, _, out, _ = run_timed([NAGIOSSTATS, "-c", cfg, "-m", "-d",
                                   ",".join(names)], 30)
    except (BenchError, OSError):
        return None
    vals = out.split()
    if rc != 0 or len(vals) != len(names):
        return None
    out = {}
    for k, v in zip(names, vals):
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = None
    return out


def run_nagios(ctx, hosts):
    p = ctx.p
    d = ctx.path("nagios-%d" % hosts)
    iv = p["nagios_interval_s"]
    cfg = write_nagios(d, hosts, iv)
    return run_nagios_cfg(ctx, cfg, d, "%d" % hosts, hosts=hosts,
                          services=hosts, host_checks=hosts, interval_s=iv,
                          warmup_s=p["nagios_warmup_s"],
                          window_s=p["nagios_window_s"])


def run_nagios_cfg(ctx, cfg, d, tag, *, hosts, services, host_checks,
                   interval_s, warmup_s, window_s, snap=None):
    """Runs Nagios 4 on the config cfg (written under d), waits warmup_s,
    counts the results of window_s from the performance data files and
    returns the figures.  host_checks is how many hosts have an active host
    check.  snap(), if given, is called at the start and the end of the
    window (res["snap0"], res["snap1"])."""
    rc, _, out, err = run_timed([NAGIOS, "-v", cfg], 300)
    if rc != 0:
        raise BenchError("nagios4 -v refuses the config:\n%s"
                         % "\n".join((out + err).splitlines()[-15:]))
    iv, warm, win = interval_s, warmup_s, window_s
    harness.log("Nagios 4: %d hosts (%d with a host check) + %d services "
                "every %g s, warm-up %d s, window %d s"
                % (hosts, host_checks, services, iv, warm, win))
    ng = Proc("nagios4", [NAGIOS, cfg],
              ctx.path("nagios4-%s.out" % tag)).start()

    def alive():
        if not ng.alive():
            raise BenchError("nagios4 exited with %s:\n%s"
                             % (ng.popen.returncode, ng.log_tail()))
    res = dict(hosts=hosts, services=services, interval_s=iv, warmup_s=warm,
               window_s=win, planned=(services + host_checks) / iv)
    try:
        sleep_until(time.monotonic() + warm, alive)
        # Whole wall-clock seconds, since $TIMET$ has a resolution of 1 s.
        t0 = int(time.time()) + 1
        time.sleep(max(0.0, t0 - time.time()))
        hc0 = host_cpu()
        if snap is not None:
            res["snap0"] = snap()
        sleep_until(time.monotonic() + win, alive)
        t1 = t0 + win
        time.sleep(max(0.0, t1 - time.time()))
        hc1 = host_cpu()
        if snap is not None:
            res["snap1"] = snap()
        with open("/proc/loadavg") as f:
            res["loadavg_1m"] = float(f.read().split()[0])
        res["nagios4stats"] = nagios_stats(cfg)
    finally:
        ng.stop(timeout=30)
    # Read after the stop: Nagios buffers the files and flushes on exit.
    svc, svc_bad, svc_lat = read_perfdata(d + "/var/perf-service.tsv", t0, t1)
    hst, hst_bad, hst_lat = read_perfdata(d + "/var/perf-host.tsv", t0, t1)
    res.update(service_checks=svc, host_checks=hst,
               achieved=(svc + hst) / win, non_ok=svc_bad + hst_bad,
               host_busy=host_busy_frac(hc0, hc1),
               latency_p50_s=quantile(svc_lat + hst_lat, 0.50),
               latency_p99_s=quantile(svc_lat + hst_lat, 0.99),
               latency_max_s=max(svc_lat + hst_lat) if svc_lat + hst_lat
               else None)
    res["ratio"] = res["achieved"] / res["planned"]
    res["saturated"] = res["ratio"] < FOLLOW_MIN_RATIO
    st = res.get("nagios4stats")
    if st and st.get("NUMSVCACTCHK1M") is not None:
        res["stats_rate_1m"] = (st["NUMSVCACTCHK1M"] +
                                (st.get("NUMHSTACTCHK1M") or 0)) / 60.0
    harness.log("Nagios 4: %d service + %d host checks in %d s = %.1f/s"
                % (svc, hst, win, res["achieved"]))
    return res


def run_saturation(ctx):
    """monitord on a ladder of shrinking intervals, until probes/s stops
    following the plan, lateness or skips grow, or results go bad."""
    p = ctx.p
    probe_features(ctx)
    start_postgres(ctx)
    n = p["sat_targets"]
    intervals = ctx.args.sat_intervals or p["sat_intervals"]
    rungs = []
    for iv in intervals:
        timeout_ms = min(1000, int(iv * 1000 / 2))
        warm = max(p["sat_warmup_s"], 2 * iv)
        try:
            r = run_monitord(ctx, "sat-%dk-%gs" % (n // 1000, iv), icmp=n,
                             interval_s=iv, timeout_ms=timeout_ms,
                             retry_ms=int(iv * 1000), warmup_s=warm,
                             window_s=p["sat_window_s"])
        except BenchError as e:
            harness.log("saturation rung %g s failed: %s" % (iv, e))
            rungs.append(dict(label="sat-%gs" % iv, interval_s=iv,
                              error=str(e), follows=False))
            break
        why = []
        if r.get("ratio") is None or r["ratio"] < FOLLOW_MIN_RATIO:
            why.append("rate")
        if r.get("skipped") and r.get("probes") and \
                r["skipped"] > FOLLOW_MAX_SKIP_FRAC * r["probes"]:
            why.append("skips")
        if r.get("lateness_p99_s") is not None and \
                r["lateness_p99_s"] > FOLLOW_MAX_P99_FRAC * iv:
            why.append("p99")
        if r.get("false_failures"):
            why.append("non-OK")
        if r.get("lateness_p99_s") is None and ctx.features["metrics"] \
                and not ctx.metrics_dead:
            why.append("no lateness")
        r["follows"] = not why
        r["why_not"] = why
        rungs.append(r)
        log_run(r)
        if why:
            break
    if rungs:
        print_ladder(rungs)
    followed = [r for r in rungs if r.get("follows") and r.get("achieved")]
    all_rates = [r["achieved"] for r in rungs if r.get("achieved")]
    out = dict(targets=n, rungs=rungs)
    out["sustained"] = max(r["achieved"] for r in followed) if followed \
        else None
    out["peak"] = max(all_rates) if all_rates else None
    out["saturated"] = bool(rungs) and not rungs[-1].get("follows")
    return out


def print_ladder(rungs):
    rows = []
    for r in rungs:
        if "error" in r:
            rows.append([r["label"], "", fmt(r["interval_s"], 2), "failed",
                         r["error"].splitlines()[0][:60]] + [""] * 6)
            continue
        rows.append([
            r["label"], fmt(r["targets"]), fmt(r["interval_s"], 2),
            fmt(r.get("planned") or r.get("planned_nominal"), 0),
            fmt(r.get("achieved"), 0), fmt(r.get("ratio"), 3),
            fmt(r.get("lateness_p99_s"), 2, 1000),
            fmt(r.get("lateness_max_s"), 1, 1000),
            fmt(r.get("skipped"), 0), fmt(r.get("core_frac"), 2),
            fmt(r.get("false_failures")),
            "yes" if r.get("follows") else "no: " + ", ".join(
                r.get("why_not", []))])
    table("monitord saturation ladder (ICMP, 1 echo per probe; follows the "
          "plan unless rate < %d%% of plan, skips > %.1f%%, p99 > %d%% of "
          "the interval, or any non-OK)" % (
              FOLLOW_MIN_RATIO * 100, FOLLOW_MAX_SKIP_FRAC * 100,
              FOLLOW_MAX_P99_FRAC * 100),
          ["run", "targets", "interval s", "planned/s", "probes/s",
           "achieved/plan", "late p99 ms", "late max ms", "skipped",
           "cores", "false failures", "follows plan"], rows)


def phase_nagios(ctx):
    res = {"nagios4": []}
    ctx.results["nagios"] = res
    try:
        for hosts in ctx.args.nagios_hosts or ctx.p["nagios_hosts"]:
            try:
                r = run_nagios(ctx, hosts)
            except BenchError as e:
                harness.log("Nagios 4 with %d hosts failed: %s" % (hosts, e))
                r = dict(hosts=hosts, error=str(e))
            res["nagios4"].append(r)
            # Let the machine settle: the plugins Nagios left are reaped.
            time.sleep(5)
    finally:
        print_nagios(res)
    ok = [r for r in res["nagios4"] if r.get("achieved")]
    if ok:
        # The best rate Nagios reached in any configuration is the one to
        # beat, even when more hosts made it collapse below that.
        best = max(ok, key=lambda r: r["achieved"])
        res["best"], res["best_hosts"] = best["achieved"], best["hosts"]
    # Nagios is stopped before monitord starts: they would share the cores.
    try:
        res["monitord"] = run_saturation(ctx)
    except BenchError as e:
        harness.log("monitord saturation failed: %s" % e)
        res["monitord"] = dict(error=str(e))
    md = res["monitord"]
    if res.get("best") and md.get("sustained"):
        res["ratio_sustained"] = md["sustained"] / res["best"]
    if res.get("best") and md.get("peak"):
        res["ratio_peak"] = md["peak"] / res["best"]
    print_ratio(res)
    return res


def print_nagios(res):
    rows = []
    for r in res["nagios4"]:
        if "error" in r:
            rows.append([fmt(r["hosts"]), "failed: " +
                         r["error"].splitlines()[0][:60]] + [""] * 9)
            continue
        rows.append([
            fmt(r["hosts"]), "%d s" % r["interval_s"],
            fmt(r["planned"], 0), fmt(r["achieved"], 1),
            "%d / %d" % (r["service_checks"], r["host_checks"]),
            fmt(r["ratio"], 3),
            "%s / %s / %s" % (fmt(r["latency_p50_s"], 2),
                              fmt(r["latency_p99_s"], 2),
                              fmt(r["latency_max_s"], 2)),
            fmt(r["non_ok"]),
            fmt(r["host_busy"], 0, 100),
            fmt(r.get("loadavg_1m"), 1),
            fmt(r.get("stats_rate_1m"), 1)])
    win = [r for r in res["nagios4"] if "window_s" in r]
    table("Nagios 4: host check + PING service per host (check_ping -p 1),"
          " %s" % ("warm-up %d s, window %d s" % (win[0]["warmup_s"],
                                                  win[0]["window_s"])
                   if win else "no run"),
          ["hosts", "interval", "planned/s", "checks/s", "svc / host",
           "achieved/plan", "latency p50/p99/max s", "non-OK",
           "machine busy %", "load 1m", "nagios4stats 1m/s"], rows)


def print_ratio(res):
    md = res.get("monitord", {})
    rows = [["Nagios 4 best executed checks/s (%s hosts)"
             % fmt(res.get("best_hosts")), fmt(res.get("best"), 1)],
            ["monitord highest probes/s that followed the plan",
             fmt(md.get("sustained"), 0) +
             ("" if md.get("saturated") or md.get("sustained") is None
              else " (not saturated: a floor)")],
            ["monitord highest probes/s reached", fmt(md.get("peak"), 0)],
            ["ratio monitord/Nagios (followed the plan)",
             fmt(res.get("ratio_sustained"), 1)],
            ["ratio monitord/Nagios (highest reached)",
             fmt(res.get("ratio_peak"), 1)],
            ["target", ">= %.0f" % TARGET_NAGIOS_RATIO]]
    if "error" in md:
        rows.insert(1, ["monitord", "failed: %s" % md["error"][:70]])
    table("Checks per second: monitord against Nagios 4, same run",
          ["figure", "value"], rows)


# -------------------------------------------------------------------- snmp

# SNMPv2-MIB's snmp group, which snmpd keeps for the whole agent (all its
# addresses): what the agent received and answered, counted at the agent.
SNMPD_COUNTERS = [
    ("in_pkts", ".1.3.6.1.2.1.11.1.0"),           # snmpInPkts
    ("out_pkts", ".1.3.6.1.2.1.11.2.0"),          # snmpOutPkts
    ("in_total_req_vars", ".1.3.6.1.2.1.11.13.0"),  # varbinds read
    ("in_get_requests", ".1.3.6.1.2.1.11.15.0"),  # snmpInGetRequests
    ("in_get_nexts", ".1.3.6.1.2.1.11.16.0"),     # snmpInGetNexts
    ("out_too_bigs", ".1.3.6.1.2.1.11.20.0"),     # snmpOutTooBigs
    ("silent_drops", ".1.3.6.1.2.1.11.31.0"),     # snmpSilentDrops
]
OID_SYSUPTIME = ".1.3.6.1.2.1.1.3.0"
OID_IFDESCR = ".1.3.6.1.2.1.2.2.1.2"
OID_IFOPER = ".1.3.6.1.2.1.2.2.1.8"
# The kernel's limit on one argument (MAX_ARG_STRLEN): snmpd gets its
# endpoints as one comma-separated argument.
MAX_ARG_STRLEN = 131072


def snmp_tool(tool, addr, port, *args, timeout=20):
    """Runs Debian's snmpget/snmpwalk against udp:addr:port with v2c and
    the community public; returns (exit status, stdout)."""
    env = dict(os.environ, MIBS="")
    rc, _, out, err = run_timed(
        ["/usr/bin/" + tool, "-v2c", "-c", "public", "-On", "-t", "2",
         "-r", "1", "udp:%s:%d" % (addr, port)] + list(args), timeout,
        env=env)
    return rc, out + err


def snmpd_counters(addr, port):
    """The agent's SNMPv2-MIB counters, read with one GET (which itself
    adds one PDU in and one out)."""
    rc, out = snmp_tool("snmpget", addr, port,
                        *[oid for _, oid in SNMPD_COUNTERS])
    vals = {}
    for name, oid in SNMPD_COUNTERS:
        m = re.search(r"^%s = \w+: (\d+)" % re.escape(oid), out, re.M)
        vals[name] = int(m.group(1)) if m else None
    if rc != 0 or vals["in_pkts"] is None:
        raise BenchError("snmpd does not answer its counters at %s:%d: %s"
                         % (addr, port, out.strip()[:200]))
    return vals


def udp_stats():
    """The machine's Udp line of /proc/net/snmp, by field name."""
    with open("/proc/net/snmp") as f:
        lines = [ln.split() for ln in f if ln.startswith("Udp:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def counter_delta(a, b, key):
    if a is None or b is None or a.get(key) is None or b.get(key) is None:
        return None
    return b[key] - a[key]


def write_snmp_conf(ctx, path, *, instance, metrics_port, addrs, port,
                    interval_ms, if_names):
    """A monitord.yaml polling one agent per address of addrs (all on
    port, v2c, community public): sysuptime and interfaces (if_names) per
    host."""
    feats = ctx.features or {"metrics": True, "scheduler": True}
    # notice: the hard state changes (a timeout, say) stay in the log.
    out = ["# written by bench/probe_bench.py (snmp phase)",
           "instance: %s" % instance,
           "log_level: notice"]
    if feats["metrics"]:
        out += ["metrics:", "  listen: 127.0.0.1:%d" % metrics_port]
    if feats["scheduler"]:
        out += ["scheduler:", "  max_rate: 0", "  max_in_flight: 0"]
    out += ["snmp:",
            "  credentials:",
            "    - {name: pub, version: 2c, community: public}",
            "defaults:",
            "  interval: %s" % ms_str(interval_ms),
            "  retry_interval: 2s",
            "  timeout: 1000ms",
            "  max_attempts: 3",
            "hosts:"]
    tpl = ("  - name: s%05d\n    address: %s\n"
           "    snmp: {credential: pub, port: %d, timeout: 1000ms, "
           "retries: 2}\n    checks:\n      - type: sysuptime")
    if if_names:
        # no interfaces: the engine's cost for one-varbind GETs
        tpl += ("\n      - type: interfaces\n        names: [%s]"
                % ", ".join(if_names))
    for i, a in enumerate(addrs):
        out.append(tpl % (i + 1, a, port))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def write_nagios_snmp(d, addrs, port, interval_s, if_index):
    """A private Nagios 4 for the SNMP workload: one host per address of
    addrs, no host check, and two check_snmp services per host that match
    monitord's two checks: sysUpTime.0, and ifOperStatus of the interfaces
    (if_index: their ifIndex values), every interval_s."""
    cfg, objs = nagios_base(d)
    base = ("$USER1$/check_snmp -H $HOSTADDRESS$ -p %d -P 2c -C public "
            "-t 10 -o " % port)
    objs += [
        nagios_obj("command", command_name="bench_snmp_uptime",
                   command_line=base + OID_SYSUPTIME),
        nagios_obj("command", command_name="bench_snmp_ifoper",
                   command_line=base + ",".join(
                       "%s.%d" % (OID_IFOPER, i) for i in if_index)),
    ]
    timing = nagios_timing(interval_s)
    host = dict(timing, active_checks_enabled="0")
    objs.append(nagios_obj("host", name="bench-snmp-host", **host))
    objs.append(nagios_obj("service", name="bench-snmp-service", **timing))
    for i, a in enumerate(addrs):
        name = "s%05d" % (i + 1)
        objs.append(nagios_obj("host", use="bench-snmp-host",
                               host_name=name, alias=name, address=a))
        objs.append(nagios_obj("service", use="bench-snmp-service",
                               host_name=name,
                               service_description="sysUpTime",
                               check_command="bench_snmp_uptime"))
        objs.append(nagios_obj("service", use="bench-snmp-service",
                               host_name=name,
                               service_description="ifOperStatus",
                               check_command="bench_snmp_ifoper"))
    nagios_finish(d, objs)
    return cfg, base


def snmp_port_candidate():
    """A UDP port outside the kernel's ephemeral range that nothing holds
    on any address: a wildcard bind fails if any socket has the port.  An
    ephemeral port could be taken by some client's socket between this
    check and snmpd's bind."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    ranges = [r for r in (range(max(1024, hi + 1), 65536),
                          range(10000, min(lo, 65536))) if len(r) > 100]
    for _ in range(200):
        port = random.choice(random.choice(ranges))
        if not harness.udp_bound("0.0.0.0", port):
            return port
    raise BenchError("no free UDP port outside the ephemeral range")


def start_snmpd(ctx, addrs):
    """One Debian snmpd answering v2c 'public' on every address of addrs
    (one port).  Returns the harness.Snmpd."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if len(addrs) + 64 > soft:
        raise BenchError("snmpd needs one fd per address: %d addresses "
                         "but RLIMIT_NOFILE is %d (hard %d)"
                         % (len(addrs), soft, hard))
    for attempt in range(3):
        port = snmp_port_candidate()
        agent = harness.Snmpd(ctx.path("snmpd"), addrs,
                              "rocommunity public 127.0.0.0/8\n", port=port)
        if len(agent.endpoints()) >= MAX_ARG_STRLEN:
            raise BenchError("%d snmpd endpoints make a %d-byte argument, "
                             "over the kernel's %d"
                             % (len(addrs), len(agent.endpoints()),
                                MAX_ARG_STRLEN))
        CLEANUP.add(agent.stop)
        t0 = time.monotonic()
        try:
            agent.start()
            break
        except (RuntimeError, AssertionError) as e:
            agent.stop()
            tail = agent.log()[-600:]
            harness.log("snmpd on port %d did not start (%s): %s"
                        % (port, e, tail.strip().splitlines()[-2:]))
            if attempt == 2:
                raise BenchError("snmpd on %d addresses did not start: "
                                 "%s\n%s" % (len(addrs), e, tail))
    OUR_SIDS.append(agent.proc.pid)
    harness.log("snmpd (pid %d) answers on %d addresses %s-%s port %d, "
                "ready in %.1f s" % (agent.proc.pid, len(addrs), addrs[0],
                                     addrs[-1], agent.port,
                                     time.monotonic() - t0))
    return agent


def interfaces_of(addr, port):
    """[(ifIndex, ifDescr)] the agent reports, by ifIndex."""
    rc, out = snmp_tool("snmpwalk", addr, port, OID_IFDESCR)
    found = []
    for m in re.finditer(r'^%s\.(\d+) = STRING: "?([^"\n]*)"?$'
                         % re.escape(OID_IFDESCR), out, re.M):
        found.append((int(m.group(1)), m.group(2)))
    if rc != 0 or not found:
        raise BenchError("snmpwalk of ifDescr at %s:%d failed: %s"
                         % (addr, port, out.strip()[:300]))
    return sorted(found)


def snmp_engine_now(m):
    """monitord's SNMP engine counters in one scrape ({} without)."""
    if m is None:
        return {}
    return {n: v for (n, lab), v in m.samples.items()
            if n.startswith("monitord_snmp_") and n.endswith("_total")}


def snmp_engine_counters(m0, m1):
    """Window deltas of the SNMP engine counters monitord exports, if it
    exports any (monitord_snmp_*_total)."""
    if m0 is None or m1 is None:
        return {}
    names = sorted({n for (n, _) in m1.samples
                    if n.startswith("monitord_snmp_") and
                    n.endswith("_total")})
    return {n: delta(m0, m1, n) for n in names}


def snmp_db_agents(ctx, instance):
    """{state: count} of the agent checks ("snmp") in current_state."""
    try:
        rows = ctx.pg.query("SELECT state, count(*) FROM current_state "
                            "WHERE source = '%s' AND check_name = 'snmp' "
                            "GROUP BY state" % instance)
        return {r[0]: int(r[1]) for r in rows}
    except Exception as e:  # the schema is the lead's; report, go on
        return {"error": str(e).strip()[:200]}


def snmp_db_by_check(ctx, instance):
    """{check_name pattern: {state: count}}, interfaces folded into if:*."""
    try:
        rows = ctx.pg.query(
            "SELECT CASE WHEN check_name LIKE 'if:%%' THEN 'if:*' ELSE "
            "check_name END, state, count(*) FROM current_state WHERE "
            "source = '%s' GROUP BY 1, 2 ORDER BY 1, 2" % instance)
        out = {}
        for name, state, count in rows:
            out.setdefault(name, {})[state] = int(count)
        return out
    except Exception as e:
        return {"error": str(e).strip()[:200]}


def run_monitord_snmp(ctx, label, agent, addrs, if_names, *, interval_s,
                      warmup_s, window_s, slice_s=None, base=None):
    """monitord polling len(addrs) agents of one snmpd; the generic
    figures of run_monitord plus the agent's counters over the window."""
    n = len(addrs)
    first = addrs[0]

    def writer(path, instance, mport):
        write_snmp_conf(ctx, path, instance=instance, metrics_port=mport,
                        addrs=addrs, port=agent.port,
                        interval_ms=int(round(interval_s * 1000)),
                        if_names=if_names)

    def snap():
        return dict(snmpd=snmpd_counters(first, agent.port),
                    snmpd_cpu_s=proc_cpu_s(agent.proc.pid),
                    udp=udp_stats(), t=time.monotonic())

    r = run_monitord(ctx, label, interval_s=interval_s, warmup_s=warmup_s,
                     window_s=window_s, base=base, writer=writer,
                     targets=n, db_rows=n * (2 + len(if_names)),
                     snap=snap if base is not None else None,
                     slice_s=slice_s,
                     describe="%d SNMP agents (sysuptime%s)"
                     % (n, " + interfaces " + "/".join(if_names)
                        if if_names else " only"))
    r["agents"] = n
    r["varbinds_per_get"] = 1 + (4 * len(if_names) if if_names else 0)
    r["check_runs_planned"] = (2 if if_names else 1) * n / interval_s
    if base is None:
        return r
    kinds = r.get("by_kind") or {}
    runs = None
    if kinds.get("sysuptime") is not None and \
            (kinds.get("interfaces") is not None or not if_names):
        runs = kinds["sysuptime"] + (kinds.get("interfaces") or 0)
    r["check_runs"] = runs
    slices = r.get("slices") or []
    if len(slices) >= 2:
        a, b = slices[0], slices[-1]
        dt = b["snap"]["t"] - a["snap"]["t"]
        # Each read of the counters is one PDU in and one answer: those
        # after the first are in the deltas.
        reads = len(slices) - 1
        s0, s1 = a["snap"]["snmpd"], b["snap"]["snmpd"]
        pin = counter_delta(s0, s1, "in_pkts")
        pout = counter_delta(s0, s1, "out_pkts")
        r["pdus_in"] = pin - reads if pin is not None else None
        r["pdus_answered"] = pout - reads if pout is not None else None
        r["agent_counters"] = {k: counter_delta(s0, s1, k)
                               for k, _ in SNMPD_COUNTERS}
        r["snap_window_s"] = dt
        r["pdus_in_per_s"] = r["pdus_in"] / dt
        r["pdus_answered_per_s"] = r["pdus_answered"] / dt
        vb = counter_delta(s0, s1, "in_total_req_vars")
        r["varbinds_per_s"] = vb / dt if vb is not None else None
        r["snmpd_cores"] = (b["snap"]["snmpd_cpu_s"] -
                            a["snap"]["snmpd_cpu_s"]) / dt
        r["udp"] = {k: b["snap"]["udp"][k] - a["snap"]["udp"].get(k, 0)
                    for k in b["snap"]["udp"]}
        r["cpu_s_snap"] = b["cpu_s"] - a["cpu_s"]
        r["slice_figures"] = snmp_slices(slices)
    # monitord's own counters (window deltas), where it exports them; the
    # agent's counters stand in for the PDUs where it does not.
    eng = r.get("snmp_engine") or {}
    dt = r["window_measured_s"]
    cpu = r["cpu_s"]

    def eng_d(name):
        return eng.get("monitord_snmp_%s_total" % name)
    r["requests"] = eng_d("requests")
    r["pdus_sent"] = eng_d("pdus_sent")
    r["responses"] = eng_d("responses")
    r["engine_timeouts"] = eng_d("timeouts")
    r["engine_unreachable"] = eng_d("unreachable")
    r["engine_auth_errors"] = eng_d("auth_errors")
    answered = r["responses"]
    if answered is None:
        answered = r.get("pdus_answered")
        r["notes"].append("no monitord_snmp_responses_total: PDUs answered "
                          "counted at the agent (snmpOutPkts)")
        if r.get("cpu_s_snap") is not None:
            cpu = r["cpu_s_snap"]
            dt = r["snap_window_s"]
    else:
        r["cpu_s_snap"] = None
    for k in ("requests", "pdus_sent", "responses"):
        if r[k] is not None:
            r[k + "_per_s"] = r[k] / r["window_measured_s"]
    if answered:
        r["cpu_us_per_pdu"] = cpu / answered * 1e6
        if base is not None and base.get("core_frac") is not None:
            r["cpu_us_per_pdu_above_base"] = \
                (cpu / dt - base["core_frac"]) / (answered / dt) * 1e6
    if r["requests"]:
        r["cpu_us_per_request"] = r["cpu_s"] / r["requests"] * 1e6
    if runs:
        r["check_runs_per_s"] = runs / r["window_measured_s"]
        r["cpu_us_per_check_run"] = r["cpu_s"] / runs * 1e6
        sent = r["pdus_sent"] if r["pdus_sent"] is not None else \
            r.get("pdus_in")
        if sent is not None:
            r["pdus_per_check_run"] = sent / runs
        if r["requests"] is not None:
            r["requests_per_check_run"] = r["requests"] / runs
    r["db_agents"] = snmp_db_agents(ctx, r["instance"])
    r["db_by_check"] = snmp_db_by_check(ctx, r["instance"])
    agents = r["db_agents"]
    if "error" not in agents:
        r["agents_not_ok_db"] = sum(v for k, v in agents.items()
                                    if k != "OK")
        r["agents_missing_db"] = n - sum(agents.values())
    parts = [r.get("nonok_results"), r.get("checks_not_ok"),
             r.get("agents_not_ok_db"), r.get("agents_missing_db")] + [
        r.get(k) for k in ("engine_timeouts", "engine_unreachable",
                           "engine_auth_errors") if k in r and
        r.get("responses") is not None]
    if all(v is not None for v in parts):
        r["timeouts"] = int(sum(parts))
    return r


def snmp_slices(slices):
    """Per-slice rates between consecutive snapshots of the window."""
    out = []
    for a, b in zip(slices, slices[1:]):
        dt = b["snap"]["t"] - a["snap"]["t"]
        if dt <= 0:
            continue
        s0, s1 = a["snap"]["snmpd"], b["snap"]["snmpd"]
        pin = counter_delta(s0, s1, "in_pkts")
        pout = counter_delta(s0, s1, "out_pkts")
        vb = counter_delta(s0, s1, "in_total_req_vars")
        runs = None
        if a["probes"] and b["probes"]:
            runs = sum(b["probes"].get(k, 0) - a["probes"].get(k, 0)
                       for k in ("sysuptime", "interfaces"))
        cpu = b["cpu_s"] - a["cpu_s"]
        e0, e1 = a.get("engine") or {}, b.get("engine") or {}
        key = "monitord_snmp_responses_total"
        answered = e1[key] - e0[key] if key in e0 and key in e1 else \
            (pout - 1 if pout is not None else None)
        key = "monitord_snmp_requests_total"
        reqs = e1[key] - e0[key] if key in e0 and key in e1 else None
        out.append(dict(
            t0=a["t"], t1=b["t"], dt=dt,
            check_runs_per_s=runs / dt if runs is not None else None,
            pdus_in_per_s=(pin - 1) / dt if pin is not None else None,
            pdus_answered_per_s=(pout - 1) / dt if pout is not None
            else None,
            varbinds_per_s=vb / dt if vb is not None else None,
            cores=cpu / dt,
            requests_per_s=reqs / dt if reqs is not None else None,
            responses_per_s=answered / dt if answered is not None else None,
            cpu_us_per_pdu=cpu / answered * 1e6 if answered else None,
            snmpd_cores=(b["snap"]["snmpd_cpu_s"] -
                         a["snap"]["snmpd_cpu_s"]) / dt))
    return out


def run_nagios_snmp(ctx, agent, addrs, hosts, if_index, interval_s,
                    warmup_s, window_s):
    d = ctx.path("nagios-snmp-%d" % hosts)
    cfg, base = write_nagios_snmp(d, addrs[:hosts], agent.port, interval_s,
                                  if_index)
    first = addrs[0]

    def snap():
        return dict(snmpd=snmpd_counters(first, agent.port),
                    snmpd_cpu_s=proc_cpu_s(agent.proc.pid),
                    t=time.monotonic())
    r = run_nagios_cfg(ctx, cfg, d, "snmp-%d" % hosts, hosts=hosts,
                       services=2 * hosts, host_checks=0,
                       interval_s=interval_s, warmup_s=warmup_s,
                       window_s=window_s, snap=snap)
    r["command"] = base + "OID[,OID...]"
    s0, s1 = r.get("snap0"), r.get("snap1")
    if s0 and s1:
        dt = s1["t"] - s0["t"]
        pin = counter_delta(s0["snmpd"], s1["snmpd"], "in_pkts")
        if pin is not None:
            r["pdus_in_per_s"] = (pin - 1) / dt
        r["snmpd_cores"] = (s1["snmpd_cpu_s"] - s0["snmpd_cpu_s"]) / dt
    return r


def phase_snmp(ctx):
    p = ctx.p
    n = ctx.args.snmp_agents or p["snmp_agents"]
    iv = p["snmp_interval_s"]
    res = {"agents": n, "interval_s": iv, "nagios4": []}
    ctx.results["snmp"] = res
    probe_features(ctx)
    if not ctx.features["metrics"]:
        ctx.note_missing("the snmp phase counts check runs from /metrics; "
                         "without it there are no check-run figures")
    start_postgres(ctx)
    addrs = [addr(65, i) for i in range(n)]
    agent = start_snmpd(ctx, addrs)
    res["snmpd_port"] = agent.port
    try:
        for a in (addrs[0], addrs[-1]):
            rc, out = snmp_tool("snmpget", a, agent.port, OID_SYSUPTIME)
            if rc != 0 or "Timeticks" not in out:
                raise BenchError("snmpd does not answer at %s:%d: %s"
                                 % (a, agent.port, out.strip()[:200]))
        ifs = interfaces_of(addrs[0], agent.port)
        res["interfaces"] = ["%s (ifIndex %d)" % (nm, i) for i, nm in ifs]
        if_names = [nm for _, nm in ifs]
        if_index = [i for i, _ in ifs]
        harness.log("the agent reports %d interfaces: %s"
                    % (len(ifs), ", ".join(res["interfaces"])))
        try:
            rss0 = proc_mem_kib(agent.proc.pid).get("VmRSS")
            res["snmpd_vmrss_kib"] = rss0
            res["snmpd_fds"] = len(os.listdir("/proc/%d/fd"
                                              % agent.proc.pid))
        except OSError:
            pass

        warm = ctx.args.warmup or p["snmp_warmup_s"]
        if warm < 2 * iv:
            warm = 2 * iv
        win = p["snmp_window_s"]
        runs = []
        res["monitord"] = runs
        try:
            base = run_monitord_snmp(ctx, "snmp-base-1", agent, addrs[:1],
                                     if_names, interval_s=iv,
                                     warmup_s=p["snmp_base_s"], window_s=2)
            base["is_base"] = True
            runs.append(base)
            r = run_monitord_snmp(ctx, "snmp-%d" % n, agent, addrs,
                                  if_names, interval_s=iv, warmup_s=warm,
                                  window_s=win, slice_s=p["snmp_slice_s"],
                                  base=base)
            runs.append(r)
            # The same agents with one one-varbind GET each per
            # interval: what the engine costs per request, without the
            # interfaces check's 16 varbinds and its arithmetic.
            r = run_monitord_snmp(ctx, "snmp-%d-uptime" % n, agent, addrs,
                                  [], interval_s=iv, warmup_s=warm,
                                  window_s=p["snmp_uptime_window_s"],
                                  slice_s=p["snmp_slice_s"], base=base)
            runs.append(r)
        except BenchError as e:
            harness.log("monitord SNMP run failed: %s" % e)
            runs.append(dict(label="snmp-%d" % n, agents=n, error=str(e),
                             notes=[]))
        finally:
            if runs:
                print_snmp_monitord(runs, if_names)
        # Let snmpd settle before Nagios: monitord's last answers drain.
        time.sleep(3)
        try:
            for hosts in ctx.args.snmp_nagios_hosts or \
                    p["snmp_nagios_hosts"]:
                hosts = min(hosts, n)
                if hosts <= 0:
                    continue
                try:
                    r = run_nagios_snmp(
                        ctx, agent, addrs, hosts, if_index,
                        p["snmp_nagios_interval_s"],
                        p["snmp_nagios_warmup_s"], p["snmp_nagios_window_s"])
                except BenchError as e:
                    harness.log("Nagios 4 (SNMP) with %d hosts failed: %s"
                                % (hosts, e))
                    r = dict(hosts=hosts, error=str(e))
                res["nagios4"].append(r)
                time.sleep(5)
        finally:
            print_snmp_nagios(res["nagios4"])
    finally:
        res["snmpd_log_tail"] = agent.log()[-2000:]
        agent.stop()
    ok = [r for r in res["nagios4"] if r.get("achieved")]
    if ok:
        best = max(ok, key=lambda r: r["achieved"])
        res["nagios_best"], res["nagios_best_hosts"] = best["achieved"], \
            best["hosts"]
    md = [r for r in res.get("monitord", []) if not r.get("is_base")
          and "error" not in r]
    if md and md[0].get("check_runs_per_s") and res.get("nagios_best"):
        res["ratio"] = md[0]["check_runs_per_s"] / res["nagios_best"]
    print_snmp_ratio(res)
    return res


def print_snmp_monitord(runs, if_names):
    rows = []
    for r in runs:
        if r.get("is_base"):
            continue
        if "error" in r:
            rows.append([r["label"], fmt(r.get("agents")), "failed: " +
                         r["error"].splitlines()[0][:70]] + [""] * 9)
            continue
        rows.append([
            r["label"], fmt(r["agents"]),
            "%s (%s)" % (fmt(r.get("check_runs_per_s"), 0),
                         fmt(r.get("check_runs_planned"), 0)),
            fmt(r.get("requests_per_s"), 0),
            "%s / %s" % (fmt(r.get("pdus_sent_per_s"), 0),
                         fmt(r.get("responses_per_s"), 0)),
            "%s / %s" % (fmt(r.get("pdus_in_per_s"), 0),
                         fmt(r.get("pdus_answered_per_s"), 0)),
            "%s / %s" % (fmt(r.get("requests_per_check_run"), 2),
                         fmt(r.get("pdus_per_check_run"), 2)),
            fmt(r.get("varbinds_per_s"), 0),
            "%s / %s / %s" % (fmt(r.get("lateness_p50_s"), 2, 1000),
                              fmt(r.get("lateness_p99_s"), 2, 1000),
                              fmt(r.get("lateness_max_s"), 1, 1000)),
            fmt(r.get("snmpd_cores"), 3)])
    win = [r for r in runs if "window_s" in r and not r.get("is_base")]
    table("monitord SNMP steady state: one snmpd on N addresses, sysuptime "
          "+ interfaces (%s) per agent%s" % (
              ", ".join(if_names),
              ", every %g s, warm-up %d s, window %d s" % (
                  win[0]["interval_s"], win[0]["warmup_s"],
                  win[0]["window_s"]) if win else ""),
          ["run", "agents", "check runs/s (plan)", "requests/s",
           "PDUs/s sent / answered", "at agent in / out",
           "requests / PDUs per check run", "varbinds/s",
           "late p50/p99/max ms", "snmpd cores"], rows)
    print("  check run: one run of a sysuptime or an interfaces check "
          "(monitord_probes_sent_total{kind=...}); the plan is 2 x agents /"
          " interval.")
    print("  request: one GET or one walk asked of monitord's SNMP engine "
          "(monitord_snmp_requests_total); the GETs of one host that fall "
          "due together are one request.")
    print("  PDU: one request datagram (monitord_snmp_pdus_sent_total), "
          "answered: monitord_snmp_responses_total; at agent: snmpd's "
          "snmpInPkts / snmpOutPkts.")
    rows = []
    for r in runs:
        if "error" in r:
            continue
        if r.get("is_base"):
            rows.append([r["label"], "-", "-", "-", "-",
                         fmt(r.get("core_frac"), 4),
                         fmt((r.get("switches_per_s") or {}).get(
                             "voluntary_ctxt_switches"), 0),
                         fmt(r.get("vmrss_kib"), 1, 1 / 1024),
                         fmt(r.get("vmhwm_kib"), 1, 1 / 1024),
                         "(base)", "(base)"] + ["-"] * 6)
            continue
        rows.append([
            r["label"],
            fmt(r.get("cpu_us_per_pdu"), 2),
            fmt(r.get("cpu_us_per_pdu_above_base"), 2),
            fmt(r.get("cpu_us_per_request"), 2),
            fmt(r.get("cpu_us_per_check_run"), 2),
            fmt(r.get("core_frac"), 4),
            fmt((r.get("switches_per_s") or {}).get(
                "voluntary_ctxt_switches"), 0),
            fmt(r.get("vmrss_kib"), 1, 1 / 1024),
            fmt(r.get("vmhwm_kib"), 1, 1 / 1024),
            fmt(r.get("rss_kib_per_target"), 2),
            fmt(r.get("hwm_kib_per_target"), 2),
            "%s / %s" % (fmt(r.get("engine_timeouts"), 0),
                         fmt(r.get("engine_unreachable"), 0)),
            fmt(r.get("nonok_results"), 0),
            fmt(r.get("checks_not_ok"), 0),
            "%s / %s" % (fmt(r.get("agents_not_ok_db")),
                         fmt(r.get("agents_missing_db"))),
            fmt((r.get("udp") or {}).get("RcvbufErrors")),
            fmt(r.get("skipped"), 0)])
    table("monitord SNMP: cost and timeouts (CPU: monitord's run time from "
          "/proc/PID/schedstat over the window)",
          ["run", "CPU us/PDU answered", "above base", "us/request",
           "us/check run", "cores", "sleeps/s", "VmRSS MiB", "VmHWM MiB",
           "RSS KiB/agent", "HWM KiB/agent", "timeouts / unreachable",
           "non-OK results", "checks not OK", "snmp not OK / missing in db",
           "UDP rcvbuf drops", "skipped"], rows)
    print("  above base: (cores - the 1-agent base's idle cores) / PDUs "
          "answered per second.  non-OK results: window delta of "
          "monitord_check_results_total{result!=\"ok\"};")
    print("  checks not OK: monitord_checks{state!=\"ok\"} at the end "
          "(pending too); snmp: the agent checks in current_state.")
    print("  sleeps/s: monitord's voluntary context switches per second "
          "(/proc/PID/status), i.e. how often its loop waited in "
          "epoll_wait.")
    for r in runs:
        if r.get("slice_figures"):
            rows = [["%.0f-%.0f" % (x["t0"], x["t1"]),
                     fmt(x["check_runs_per_s"], 0),
                     fmt(x.get("requests_per_s"), 0),
                     fmt(x.get("responses_per_s"), 0),
                     "%s / %s" % (fmt(x["pdus_in_per_s"], 0),
                                  fmt(x["pdus_answered_per_s"], 0)),
                     fmt(x["varbinds_per_s"], 0),
                     fmt(x["cores"], 4), fmt(x["cpu_us_per_pdu"], 2),
                     fmt(x["snmpd_cores"], 3)]
                    for x in r["slice_figures"]]
            table("monitord %s by slice of the window (the interfaces "
                  "check walks ifTable/ifXTable every 10th poll)"
                  % r["label"],
                  ["window s", "check runs/s", "requests/s",
                   "PDUs answered/s", "at agent in / out", "varbinds/s",
                   "cores", "CPU us/PDU", "snmpd cores"], rows)
        if r.get("db_by_check"):
            print("  %s: current_state by check: %s" % (
                r["label"], "; ".join(
                    "%s %s" % (k, ", ".join("%s %d" % kv
                                            for kv in v.items()))
                    if isinstance(v, dict) else "%s %s" % (k, v)
                    for k, v in r["db_by_check"].items())))
        if not r.get("is_base") and r.get("planned") and \
                r.get("check_runs_planned") and \
                abs(r["planned"] - r["check_runs_planned"]) > \
                0.05 * r["check_runs_planned"]:
            print("  %s: monitord_probes_planned_per_second says %s/s, but "
                  "%s check runs/s are scheduled (2 per agent per interval)"
                  % (r["label"], fmt(r["planned"], 0),
                     fmt(r["check_runs_planned"], 0)))
        for note in r.get("notes", []):
            print("  %s: %s" % (r["label"], note))


def print_snmp_nagios(runs):
    rows = []
    for r in runs:
        if "error" in r:
            rows.append([fmt(r["hosts"]), "failed: " +
                         r["error"].splitlines()[0][:60]] + [""] * 9)
            continue
        rows.append([
            fmt(r["hosts"]), "%g s" % r["interval_s"],
            fmt(r["planned"], 0), fmt(r["achieved"], 1),
            fmt(r["ratio"], 3), fmt(r.get("pdus_in_per_s"), 1),
            "%s / %s / %s" % (fmt(r["latency_p50_s"], 2),
                              fmt(r["latency_p99_s"], 2),
                              fmt(r["latency_max_s"], 2)),
            fmt(r["non_ok"]),
            fmt(r["host_busy"], 0, 100),
            fmt(r.get("loadavg_1m"), 1),
            fmt(r.get("stats_rate_1m"), 1)])
    win = [r for r in runs if "window_s" in r]
    table("Nagios 4 + check_snmp: 2 services per host (sysUpTime.0; "
          "ifOperStatus of every interface in one GET), no host check, %s"
          % ("warm-up %d s, window %d s" % (win[0]["warmup_s"],
                                            win[0]["window_s"])
             if win else "no run"),
          ["hosts", "interval", "planned/s", "checks/s", "achieved/plan",
           "PDUs/s at agent", "latency p50/p99/max s", "non-OK",
           "machine busy %", "load 1m", "nagios4stats 1m/s"], rows)
    if win:
        print("  check: one check_snmp service run (one exec of check_snmp, "
              "which execs snmpget: one GET PDU)")
        print("  command: %s" % win[0].get("command", ""))


def print_snmp_ratio(res):
    md = [r for r in res.get("monitord", []) if not r.get("is_base")]
    md = md[0] if md else {}
    rows = [["Nagios 4 + check_snmp best executed checks/s (%s hosts)"
             % fmt(res.get("nagios_best_hosts")),
             fmt(res.get("nagios_best"), 1)],
            ["monitord check runs/s, %s agents (steady, follows its "
             "plan: not saturated)" % fmt(md.get("agents")),
             fmt(md.get("check_runs_per_s"), 0)],
            ["ratio monitord/Nagios (a floor: monitord was not pushed to "
             "saturation)", fmt(res.get("ratio"), 1)]]
    if "error" in md:
        rows.insert(1, ["monitord", "failed: %s" % md["error"][:70]])
    table("SNMP checks per second: monitord against Nagios 4 + check_snmp,"
          " same agent, same run", ["figure", "value"], rows)


# ------------------------------------------------------------------ verdict

def verdict(ctx):
    rows = []
    steady = {r["label"]: r for r in ctx.results.get("steady", [])}
    large = [r for k, r in steady.items()
             if k.startswith("icmp-") and not k.endswith("-x3")
             and r.get("targets") == ctx.p["n_large"]]
    if large and "error" not in large[0]:
        r = large[0]
        p99 = r.get("lateness_p99_s")
        rows.append(["p99 lateness, %s" % r["label"], "<= 10 ms",
                     "n/a" if p99 is None else fmt(p99, 2, 1000) + " ms",
                     "n/a" if p99 is None else
                     ("PASS" if p99 <= TARGET_P99_S else "FAIL")])
        ff = r.get("false_failures")
        rows.append(["false failures, %s" % r["label"], "0", fmt(ff),
                     "n/a" if ff is None else ("PASS" if ff == 0 else
                                               "FAIL")])
        core = r.get("core_frac")
        rows.append(["CPU, %s" % r["label"], "<= 0.5 core",
                     fmt(core, 3),
                     "n/a" if core is None else
                     ("PASS" if core <= TARGET_CORE else "FAIL")])
        kib = r.get("rss_kib_per_target")
        rows.append(["RSS above base, %s" % r["label"], "<= 1 KiB/target",
                     fmt(kib, 3),
                     "n/a" if kib is None else
                     ("PASS" if kib <= TARGET_KIB_PER_TARGET else "FAIL")])
    for r in ctx.results.get("steady", []):
        if r["label"] == "base-1" or "error" in r:
            continue
        if r.get("false_failures"):
            rows.append(["false failures, %s" % r["label"], "0",
                         fmt(r["false_failures"]), "FAIL"])
    sw = ctx.results.get("sweep")
    if sw is not None:
        ratio = sw.get("ratio")
        rows.append(["sweep monitord/fping", "<= 1.0 and equal loss",
                     "%s, loss %s/%s" % (fmt(ratio, 3),
                                         fmt(sw.get("monitord_lost")),
                                         fmt(sw.get("fping_lost"))),
                     "n/a" if ratio is None else
                     ("PASS" if ratio <= TARGET_SWEEP_RATIO
                      and sw.get("equal_loss") else "FAIL")])
    ng = ctx.results.get("nagios")
    if ng is not None:
        ratio = ng.get("ratio_sustained")
        rows.append(["checks/s vs Nagios 4", ">= 50",
                     fmt(ratio, 1),
                     "n/a" if ratio is None else
                     ("PASS" if ratio >= TARGET_NAGIOS_RATIO else "FAIL")])
    sn = ctx.results.get("snmp")
    if sn is not None:
        md = [r for r in sn.get("monitord", []) if not r.get("is_base")]
        md = md[0] if md else {}
        what = "%s agents" % fmt(sn.get("agents"))
        to = md.get("timeouts")
        rows.append(["SNMP timeouts, %s" % what, "0",
                     "n/a" if to is None else
                     "%s (engine timeouts %s, unreachable %s; non-OK "
                     "results %s, checks not OK %s, snmp not OK %s, "
                     "missing %s)" % (
                         fmt(to), fmt(md.get("engine_timeouts"), 0),
                         fmt(md.get("engine_unreachable"), 0),
                         fmt(md.get("nonok_results"), 0),
                         fmt(md.get("checks_not_ok"), 0),
                         fmt(md.get("agents_not_ok_db")),
                         fmt(md.get("agents_missing_db"))),
                     "n/a" if to is None else
                     ("PASS" if to <= TARGET_SNMP_TIMEOUTS else "FAIL")])
        us = md.get("cpu_us_per_pdu")
        vpp = None
        if md.get("varbinds_per_s") and md.get("pdus_in_per_s"):
            vpp = md["varbinds_per_s"] / md["pdus_in_per_s"]
        rows.append(["SNMP CPU per request (PDU answered), %s, sysUpTime "
                     "+ interfaces (%s varbinds per PDU)"
                     % (what, fmt(vpp, 0)),
                     "<= %g us" % TARGET_SNMP_US_PER_REQUEST,
                     "n/a" if us is None else "%s us" % fmt(us, 2),
                     "n/a" if us is None else
                     ("PASS" if us <= TARGET_SNMP_US_PER_REQUEST
                      else "FAIL")])
        up = [r for r in sn.get("monitord", [])
              if r.get("label", "").endswith("-uptime") and "error" not in r]
        if up:
            us = up[0].get("cpu_us_per_pdu")
            rows.append(["SNMP CPU per request, %s, sysUpTime only "
                         "(1 varbind)" % what,
                         "<= %g us" % TARGET_SNMP_US_PER_REQUEST,
                         "n/a" if us is None else "%s us (above base %s)"
                         % (fmt(us, 2),
                            fmt(up[0].get("cpu_us_per_pdu_above_base"), 2)),
                         "n/a" if us is None else
                         ("PASS" if us <= TARGET_SNMP_US_PER_REQUEST
                          else "FAIL")])
        us = md.get("cpu_us_per_check_run")
        if us is not None:
            rows.append(["SNMP CPU per check run, %s" % what,
                         "(no target)", "%s us" % fmt(us, 2), "-"])
        ratio = sn.get("ratio")
        rows.append(["SNMP checks/s vs Nagios 4 + check_snmp",
                     "(no target stated)",
                     "n/a" if ratio is None else
                     "%s (floor: monitord not saturated)" % fmt(ratio, 1),
                     "-"])
    if ctx.args.quick:
        title = "Against the targets (--quick: smaller N, indicative only)"
    else:
        title = "Against the targets"
    table(title, ["figure", "target", "measured", "verdict"], rows)
    ctx.results["verdict"] = [dict(zip(("figure", "target", "measured",
                                        "verdict"), r)) for r in rows]
    if ctx.missing:
        print("\nWhat the monitord binary lacks:")
        for m in ctx.missing:
            print("  " + m)


# -------------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="monitord beside fping and Nagios 4 (see bench/"
                    "README.md).  Run as root with /usr/bin/python3.")
    ap.add_argument("--monitord", default=os.path.join(
        SRCDIR, "build", "monitord", "monitord"),
        help="the monitord binary (default build/monitord/monitord)")
    ap.add_argument("--incidentctl", default=None,
                    help="incidentctl for the migrations (default: beside "
                         "monitord's build, ../incidentctl/incidentctl)")
    ap.add_argument("--quick", action="store_true",
                    help="smaller N and shorter windows: a smoke run")
    ap.add_argument("--only", choices=("steady", "sweep", "nagios", "snmp"),
                    help="run one phase")
    ap.add_argument("--json", metavar="FILE",
                    help="also write every figure to FILE as JSON")
    ap.add_argument("--warmup", type=int, metavar="S",
                    help="steady-state warm-up (at least two intervals)")
    ap.add_argument("--window", type=int, metavar="S",
                    help="steady-state measuring window")
    ap.add_argument("--burst-gap-ms", type=int, default=0, metavar="MS",
                    help="gap between the echoes of a 3-echo burst "
                         "(default 0: back to back)")
    ap.add_argument("--sat-intervals", metavar="LIST",
                    type=lambda s: [float(x) for x in s.split(",")],
                    help="intervals of monitord's saturation ladder in s, "
                         "e.g. 5,2,1,0.5")
    ap.add_argument("--nagios-hosts", metavar="LIST",
                    type=lambda s: [int(x) for x in s.split(",")],
                    help="Nagios 4 runs, by number of hosts at 2 s, e.g. "
                         "500,2000 (default; --quick: 2000)")
    ap.add_argument("--snmp-agents", type=int, metavar="N",
                    help="snmp phase: agents (addresses of the one snmpd) "
                         "monitord polls (default 5000; --quick: 500)")
    ap.add_argument("--snmp-nagios-hosts", metavar="LIST",
                    type=lambda s: [int(x) for x in s.split(",")],
                    help="snmp phase: Nagios 4 runs, by number of hosts, "
                         "e.g. 250,1000 (default; --quick: 500)")
    ap.add_argument("--max-minutes", type=float,
                    help="stop everything after this long (default 45, "
                         "18 with --quick)")
    ap.add_argument("--no-install", action="store_true",
                    help="do not apt-get install missing peers")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (configs, logs)")
    args = ap.parse_args(argv)
    if args.incidentctl is None:
        args.incidentctl = os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(args.monitord))),
            "incidentctl", "incidentctl")
    return args


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("probe_bench.py must run as root (raw ICMP sockets, the "
              "private PostgreSQL cluster, Nagios dropping to its user)",
              file=sys.stderr)
        return 2
    profile = dict(PROFILES["quick" if args.quick else "full"])
    max_minutes = args.max_minutes or profile["max_minutes"]

    def on_term(signum, frame):
        raise KeyboardInterrupt

    def on_alarm(signum, frame):
        raise BenchTimeout()
    # SIGINT too: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(max_minutes * 60))

    phases = [args.only] if args.only else ["steady", "sweep", "nagios",
                                            "snmp"]
    ctx = Context(args, profile)
    print("probe_bench: %s run, %s; monitord %s; work directory %s"
          % (ctx.results["profile"], ctx.results["date"], args.monitord,
             ctx.work))
    failed = False
    try:
        blocked = ensure_packages(phases, args.no_install)
        for phase in phases:
            if phase in blocked:
                harness.log("skipping %s: %s" % (phase, blocked[phase]))
                ctx.results.setdefault("skipped", {})[phase] = blocked[phase]
                failed = True
                continue
            harness.log("phase %s" % phase)
            machine_busy(ctx, phase)
            try:
                {"steady": phase_steady, "sweep": phase_sweep,
                 "nagios": phase_nagios, "snmp": phase_snmp}[phase](ctx)
            except Exception as e:  # BenchError, or a helper's own error
                failed = True
                what = str(e) if isinstance(e, BenchError) else \
                    "%s: %s" % (type(e).__name__, e)
                harness.log("phase %s failed: %s" % (phase, what))
                ctx.results.setdefault("failed", {})[phase] = what
        verdict(ctx)
    except KeyboardInterrupt:
        failed = True
        print("\ninterrupted: stopping what was started", file=sys.stderr)
    except BenchTimeout:
        failed = True
        print("\nover --max-minutes (%g): stopping what was started"
              % max_minutes, file=sys.stderr)
    finally:
        signal.alarm(0)
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
        if ctx.sink is not None and ctx.sink.alive():
            ctx.sink.stop(timeout=5)
            ctx.results["tcp_sink_accepted"] = sink_accepted(ctx)
        CLEANUP.run()
        ctx.results["missing"] = ctx.missing
        if args.json:
            with open(args.json, "w") as f:
                json.dump(ctx.results, f, indent=2, default=str)
            print("figures written to %s" % args.json)
        if args.keep or failed:
            print("work directory kept: %s" % ctx.work)
        else:
            shutil.rmtree(ctx.work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
