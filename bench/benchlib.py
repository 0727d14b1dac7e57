"""benchlib.py: what every benchmark under bench/ shares.

The projects's figures and targets, the processes a run starts (each in
its own session, stopped by its PID), /proc readings, the /metrics
scraper, the plain-text tables, the packages a phase needs, and the
run's context.  Imported by probe_bench.py, its phase_*.py and
soak_bench.py; not run by itself.
"""
import datetime
import http.client
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

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
    # metric_bench.py: promtool for Prometheus's bytes per sample
    "disk": ({"promtool": "/usr/bin/promtool"}, ["prometheus"]),
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


def icmp_echo_requests():
    """ICMP echo requests this network namespace has sent so far (the
    kernel's IcmpMsg OutType8 in /proc/net/snmp): every ping counts, from
    raw and from datagram ICMP sockets alike, whoever sent it."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("IcmpMsg:")]
    for names, vals in zip(rows[::2], rows[1::2]):
        if "OutType8" in names:
            return int(vals[names.index("OutType8")])
    return 0


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


PROMTOOL = "/usr/bin/promtool"


def prometheus_block_bytes(pg, copy_sql, work):
    """Bytes of the TSDB blocks that Debian's promtool makes of the
    samples that copy_sql (a psql \\copy ... TO '%s' of OpenMetrics
    lines) writes: metric_layout.py's and metric_bench.py's peer."""
    body, text = os.path.join(work, "om.body"), os.path.join(work, "om")
    blocks = os.path.join(work, "tsdb")
    shutil.rmtree(blocks, ignore_errors=True)
    pg.psql(pg.dbname, copy_sql % body)
    with open(text, "w") as out, open(body) as f:
        out.write("# TYPE bench_value gauge\n")
        shutil.copyfileobj(f, out)
        out.write("# EOF\n")
    os.unlink(body)
    rc, _, out, err = run_timed([PROMTOOL, "tsdb", "create-blocks-from",
                                 "openmetrics", "-q", text, blocks], 1800)
    os.unlink(text)
    if rc != 0:
        raise BenchError("promtool failed: %s%s" % (out, err))
    return sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(blocks) for f in files)
