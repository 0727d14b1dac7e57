"""monitord_run.py: a private PostgreSQL, the TCP sink, and one measured
run of monitord on a generated config (run_monitord), for the phases of
probe_bench.py and for soak_bench.py.
"""
import os
import re
import statistics
import time
from benchlib import (BENCH_DIR, BenchError, CLEANUP, Proc, addr, delta,
    harness, hist_quantile, hist_upper, host_busy_frac, host_cpu, proc_cpu_s,
    proc_mem_kib, proc_switches, run_timed, scrape, sleep_until)


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
               packets=1, gap_ms=0, store=False):
    """Writes a monitord.yaml with icmp ICMP targets (127.1.0.1 on) and tcp
    TCP targets (127.64.0.1 on, the sink's port).  store keeps monitord's
    default store_samples (metric_bench.py); without it the samples are
    turned off."""
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
    # round-trip samples a second on the same two cores (metric_bench.py
    # measures that, with the default).
    out += ["defaults:",
            "  interval: %s" % ms_str(interval_ms),
            "  retry_interval: %s" % ms_str(retry_ms),
            "  timeout: %s" % ms_str(timeout_ms),
            "  max_attempts: 3"] + \
        ([] if store else ["  store_samples: false"]) + ["hosts:"]
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


