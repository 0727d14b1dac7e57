"""phase_steady.py: monitord's steady state (probe_bench.py --only
steady): probes/s against the plan, lateness, CPU, memory and false
failures for 10,000 and 100,000 ICMP targets and a mixed ICMP+TCP run.
"""

from benchlib import (BenchError, fmt, harness, table)
from monitord_run import (probe_features, run_monitord, start_postgres,
    start_sink)


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


