#!/usr/bin/python3
"""soak_bench.py: monitord and incidentd over a long run with faults.

20,000 targets at a 10 s interval (19,000 ICMP to 127.1.x.y, 800 TCP to a
sink on 127.64.x.y and 200 TCP to a port that goes down and up every
minute, 200 state changes each time), with a private PostgreSQL that is
stopped for a stretch in the middle, so that monitord's journal fills and
drains.  Every 10 s it samples each daemon's RSS and open descriptors and
monitord's lateness; at the end it prints them by quarter of the run and a
verdict: RSS and descriptors flat (the last quarter within 5 % and 16
descriptors of the second), no growth in lateness, every change recorded.

Every probe goes to 127.0.0.0/8.  Every process it starts is stopped by its
PID; the run is bounded by --minutes (default 10) and --max-minutes.

    sudo /usr/bin/python3 bench/soak_bench.py [--minutes M] [--json FILE]
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import time

sys.dont_write_bytecode = True
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
from benchlib import (BenchError, CLEANUP, Proc, SRCDIR, addr,  # noqa: E402
    harness, proc_mem_kib, run_timed, scrape, table)
from monitord_run import start_sink  # noqa: E402
BUILD = os.environ.get("MONITORD_BUILDDIR") or os.path.join(SRCDIR, "build")

ICMP, SINK_TCP, FAULT_TCP = 19000, 800, 200


def write_conf(ctx, path, journal, fault_port):
    out = ["# written by bench/soak_bench.py",
           "instance: monitord-soak",
           "log_level: notice",
           "journal:", "  path: %s" % journal, "  max_size: 64MiB",
           "metrics:", "  listen: 127.0.0.1:%d" % ctx.metrics_port,
           "scheduler:", "  max_rate: 0", "  max_in_flight: 0",
           "defaults:", "  interval: 10s", "  retry_interval: 2s",
           "  timeout: 1s", "  max_attempts: 2", "  store_samples: false",
           "  flap_detection: false",
           "hosts:"]
    for i in range(ICMP):
        out.append("  - name: s%06d\n    address: %s\n    checks:\n"
                   "      - type: icmp" % (i + 1, addr(1, i)))
    for i in range(SINK_TCP):
        out.append("  - name: w%06d\n    address: %s\n    checks:\n"
                   "      - type: tcp\n        port: %d"
                   % (i + 1, addr(64, i), ctx.sink_port))
    for i in range(FAULT_TCP):
        out.append("  - name: f%06d\n    address: %s\n    checks:\n"
                   "      - type: tcp\n        port: %d"
                   % (i + 1, addr(66, i), fault_port))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def quarter_stats(samples, key):
    """[(min, median, max)] of samples[key] in each quarter of the run."""
    n = len(samples)
    out = []
    for q in range(4):
        vals = [s[key] for s in samples[q * n // 4:(q + 1) * n // 4]
                if s.get(key) is not None]
        out.append((min(vals), statistics.median(vals), max(vals))
                   if vals else (None, None, None))
    return out


class Ctx:
    def __init__(self, args):
        self.args = args
        self.work = harness.make_workdir("monitord-soak-")
        self.sink = None
        self.sink_port = None
        self.metrics_port = harness.free_port()

    def path(self, *parts):
        return os.path.join(self.work, *parts)


def soak(ctx):
    args = ctx.args
    pg = harness.Postgres(ctx.path("pg"), dbname="monitord_soak")
    CLEANUP.add(lambda: pg.stop("immediate"))
    pg.start()
    rc, _, out, err = run_timed([args.incidentctl, "migrate"], 120,
                                   env=pg.env())
    if rc != 0:
        raise BenchError("migrate failed: %s%s" % (out, err))
    start_sink(ctx)
    fault_port = harness.free_port()
    fault = harness.TcpListener("0.0.0.0", fault_port).start()
    CLEANUP.add(lambda: fault.stop())
    os.makedirs(ctx.path("journal"), mode=0o700)
    conf = ctx.path("monitord.yaml")
    write_conf(ctx, conf, ctx.path("journal", "journal"), fault_port)
    iconf = ctx.path("incidentd.yaml")
    with open(iconf, "w") as f:
        f.write("instance: incidentd-soak\nlog_level: notice\n"
                "poll_interval: 2s\n")
    mon = Proc("monitord", [args.monitord, "-f", conf],
                  ctx.path("monitord.log"), env=pg.env()).start()
    inc = Proc("incidentd", [args.incidentd, "-f", iconf],
                  ctx.path("incidentd.log"), env=pg.env()).start()
    harness.log("monitord (pid %d) and incidentd (pid %d) started: %d "
                "targets" % (mon.pid, inc.pid, ICMP + SINK_TCP + FAULT_TCP))
    total = args.minutes * 60.0
    t0 = time.monotonic()
    outage = (0.40 * total, 0.55 * total)
    samples, toggles, pg_up = [], 0, True
    next_toggle, next_sample = t0 + 60, t0 + 10
    journal = ctx.path("journal", "journal")
    while True:
        now = time.monotonic()
        el = now - t0
        if el >= total:
            break
        if not mon.alive() or not inc.alive():
            raise BenchError("a daemon died:\n%s%s" % (
                mon.log_tail(), inc.log_tail()))
        if pg_up and outage[0] <= el < outage[1]:
            harness.log("PostgreSQL stops (until %.0f s)" % outage[1])
            pg.stop("fast")
            pg_up = False
        elif not pg_up and el >= outage[1]:
            harness.log("PostgreSQL starts again")
            pg.start()
            pg_up = True
        if now >= next_toggle:
            if fault.sock is not None:
                fault.stop()
            else:
                fault = harness.TcpListener("0.0.0.0", fault_port).start()
            toggles += 1
            next_toggle += 60
        if now >= next_sample:
            m = scrape(ctx.metrics_port)
            s = {"t": round(el),
                 "mon_rss_kib": proc_mem_kib(mon.pid)["VmRSS"],
                 "mon_fds": fds(mon.pid),
                 "inc_rss_kib": proc_mem_kib(inc.pid)["VmRSS"],
                 "inc_fds": fds(inc.pid),
                 "late_max_s": m.get(
                     "monitord_probe_lateness_window_max_seconds"),
                 "probes_per_s": m.get("monitord_probes_per_second"),
                 "queued": m.get("monitord_state_changes_queued"),
                 "journal_bytes": os.path.getsize(journal)
                 if os.path.exists(journal) else None,
                 "pg": pg_up}
            samples.append(s)
            harness.log("t=%4ds RSS %6d/%6d KiB fds %4s/%3s late %.3f s "
                        "queued %s journal %s" % (
                            s["t"], s["mon_rss_kib"], s["inc_rss_kib"],
                            s["mon_fds"], s["inc_fds"],
                            s["late_max_s"] or 0, s["queued"],
                            s["journal_bytes"]))
            next_sample += 10
        time.sleep(0.5)
    if fault.sock is None:
        fault = harness.TcpListener("0.0.0.0", fault_port).start()
    harness.log("the faults end: every change recorded and applied?")
    harness.wait_for("the journal drained", lambda: os.path.getsize(
        journal) == 0, timeout=120)
    harness.wait_for("the fault targets OK in current_state", lambda:
                     pg.query("SELECT count(*) FROM current_state WHERE "
                              "host LIKE 'f%' AND state = 'OK'")
                     == [[str(FAULT_TCP)]], timeout=120)
    events = int(pg.query("SELECT count(*) FROM state_event WHERE host "
                          "LIKE 'f%' AND old_state <> 'PENDING'")[0][0])
    open_incidents = int(pg.query(
        "SELECT count(*) FROM incident WHERE recovered_at IS NULL")[0][0])
    mon.stop()
    inc.stop()
    return {"samples": samples, "toggles": toggles, "fault_events": events,
            "open_incidents": open_incidents}


def report(res):
    s = res["samples"]
    rows = []
    for key in ("mon_rss_kib", "mon_fds", "inc_rss_kib", "inc_fds",
                "late_max_s"):
        qs = quarter_stats(s, key)
        rows.append([key] + ["%s / %s / %s" % tuple(
            ("%d" % v if float(v).is_integer() else "%.3f" % v)
            if v is not None else "n/a" for v in q) for q in qs])
    table("by quarter of the run (min / median / max)",
             ["figure", "Q1", "Q2", "Q3", "Q4"], rows)
    mon_rss = quarter_stats(s, "mon_rss_kib")
    inc_rss = quarter_stats(s, "inc_rss_kib")
    mon_fds = quarter_stats(s, "mon_fds")
    inc_fds = quarter_stats(s, "inc_fds")
    late = quarter_stats(s, "late_max_s")
    checks = [
        ("monitord RSS, Q4 median within 5 % of Q2",
         mon_rss[3][1] <= mon_rss[1][1] * 1.05,
         "%d -> %d KiB" % (mon_rss[1][1], mon_rss[3][1])),
        ("incidentd RSS, Q4 median within 5 % of Q2",
         inc_rss[3][1] <= inc_rss[1][1] * 1.05,
         "%d -> %d KiB" % (inc_rss[1][1], inc_rss[3][1])),
        ("monitord descriptors, Q4 max within 16 of Q2",
         mon_fds[3][2] <= mon_fds[1][2] + 16,
         "%d -> %d" % (mon_fds[1][2], mon_fds[3][2])),
        ("incidentd descriptors, Q4 max within 16 of Q2",
         inc_fds[3][2] <= inc_fds[1][2] + 16,
         "%d -> %d" % (inc_fds[1][2], inc_fds[3][2])),
        ("lateness, Q4 max no worse than Q1's + 50 ms",
         late[3][2] <= late[0][2] + 0.05,
         "%.3f -> %.3f s" % (late[0][2], late[3][2])),
        ("every fault and recovery recorded (2 x 200 per toggle pair)",
         res["fault_events"] >= FAULT_TCP * res["toggles"],
         "%d changes for %d toggles" % (res["fault_events"],
                                        res["toggles"])),
        ("no incident left open", res["open_incidents"] == 0,
         str(res["open_incidents"])),
    ]
    table("verdict", ["target", "met", "figures"],
             [[c, "yes" if ok else "NO", f] for c, ok, f in checks])
    return all(ok for _, ok, _ in checks)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--max-minutes", type=float, default=None)
    for name in ("monitord", "incidentd", "incidentctl"):
        ap.add_argument("--" + name, default=os.path.join(BUILD, name, name))
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (kept anyway on failure)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("soak_bench.py must run as root", file=sys.stderr)
        return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_term)
    signal.alarm(int((args.max_minutes or args.minutes + 10) * 60))
    ctx = Ctx(args)
    print("soak_bench: %g minutes, work directory %s" % (args.minutes,
                                                       ctx.work))
    ok = False
    try:
        res = soak(ctx)
        ok = report(res)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
    except KeyboardInterrupt:
        print("interrupted or over time: stopping what was started",
              file=sys.stderr)
    except BenchError as e:
        print("soak failed: %s" % e, file=sys.stderr)
    finally:
        signal.alarm(0)
        CLEANUP.run()
    if ok and not args.keep:
        shutil.rmtree(ctx.work, ignore_errors=True)
    else:
        print("work directory kept: %s" % ctx.work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
