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
import json
import os
import shutil
import signal
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the tree
from benchlib import (BenchError, BenchTimeout, CLEANUP, Context, PROFILES,
    SRCDIR, TARGET_CORE, TARGET_KIB_PER_TARGET, TARGET_NAGIOS_RATIO,
    TARGET_P99_S, TARGET_SNMP_TIMEOUTS, TARGET_SNMP_US_PER_REQUEST,
    TARGET_SWEEP_RATIO, ensure_packages, fmt, harness, machine_busy, table)  # noqa: E402
from monitord_run import (sink_accepted)  # noqa: E402
from phase_steady import (phase_steady)  # noqa: E402
from phase_sweep import (phase_sweep)  # noqa: E402
from phase_nagios import (phase_nagios)  # noqa: E402
from phase_snmp import (phase_snmp)  # noqa: E402


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

