#!/usr/bin/env python3
"""metric_bench.py: the metric store (sql/func/metrics.sql) under load, on
disk, when read and when it expires data, on this machine's 2 cores with
PostgreSQL beside monitord.

    python3 bench/metric_bench.py [--quick] [--only ingest|disk|query|drop]
        [--ingest N:EVERY:WINDOW ...] [--json FILE] [--monitord PATH]
        [--incidentctl PATH]

ingest  monitord with its default store_samples on N loopback ICMP targets
        (100,000 every 10 s for 30 minutes and 1,000,000 every 60 s for 15
        minutes; each first with store_samples off for at most ten
        minutes, the engine alone, to compare the lateness with),
        metric_maintain() called as incidentd's upkeep calls it:
        samples stored and dropped, probing lateness, PostgreSQL's CPU
        (every backend, autovacuum and the checkpointer, the upkeep's
        folds included), then the fold of what is left in
        metric_incoming, timed.
disk    a whole hour of samples of S series, every 10 s and every 60 s,
        folded by the store's own metric_fold_samples: bytes per raw
        sample (heap, TOAST and index of metric_raw's partition), bytes
        per 5-minute row; the same samples as TSDB blocks by Debian's
        promtool (create-blocks-from openmetrics).
query   a year of hourly bins, 35 days of 5-minute bins and a day of
        samples for 10,000 series (1,000 hosts of 10), then one host's ten
        graphs through incidentd's HTTP API for a day, a month and a year.
drop    a day of samples of 20,000 series past its retention, dropped by
        one metric_maintain() step.
retention
        a PostgreSQL whose clock runs 360 times as fast (libfaketime), fed
        the samples of 1,000 series every 10 s of its time and kept by
        metric_maintain() with a retention of hours: three of its days, to
        show the store's size levelling off once the retention is reached.

Nothing leaves the machine: the targets are 127.x addresses, PostgreSQL
and incidentd listen on 127.0.0.1 and Unix sockets.  Run as root.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

from benchlib import (BENCH_DIR, BenchError, CLEANUP, CLK_TCK, Context,
    PROMTOOL, Proc, ensure_packages, fmt, harness, prometheus_block_bytes,
    run_timed, table)
from monitord_run import probe_features, run_monitord, write_conf

PROFILES = {
    "full": dict(ingest=[(100000, 10, 1800), (1000000, 60, 900)],
                 warmup_s=120, disk_series=20000, query_series=10000,
                 query_hosts=20, drop_series=20000, retention_series=1000,
                 retention_hours=72, max_minutes=170),
    "quick": dict(ingest=[(4000, 10, 90)], warmup_s=30, disk_series=2000,
                  query_series=1000, query_hosts=5, drop_series=2000,
                  retention_series=200, retention_hours=54, max_minutes=30),
}

INCIDENTD_YAML = """\
instance: bench-incidentd
log_level: info
poll_interval: 5s
%s"""

HTTP_YAML = """\
http:
  listen: 127.0.0.1:%d
  secure_cookies: false
  web_root: %s
"""


# ---------------------------------------------------------------- plumbing

def new_cluster(ctx, label, pg=None):
    """A fresh PostgreSQL cluster with the schema, as ctx.pg."""
    pg = pg or harness.Postgres(ctx.path("pg-" + label),
                                dbname="metric_bench")
    CLEANUP.add(lambda: pg.stop("immediate"))
    pg.start()
    rc, _, out, err = run_timed([ctx.args.incidentctl, "migrate"], 300,
                                env=pg.env())
    if rc != 0:
        raise BenchError("incidentctl migrate failed: %s%s" % (out, err))
    ctx.pg = pg
    return pg


def start_incidentd(ctx, pg, label, http_port=None):
    conf = ctx.path("incidentd-%s.yaml" % label)
    with open(conf, "w") as f:
        f.write(INCIDENTD_YAML % (HTTP_YAML % (
            http_port, os.path.join(harness.SRCDIR, "web"))
            if http_port else ""))
    inc = Proc("incidentd", [ctx.args.incidentd, "-f", conf],
               ctx.path("incidentd-%s.log" % label), env=pg.env()).start()
    harness.wait_for("incidentd's partitions made ahead", lambda: (
        inc.alive() or fail("incidentd exited: " + inc.log_tail())) and
        pg.query("SELECT count(*) FROM metric_partition WHERE tier = "
                 "'incoming'")[0][0] != "0", timeout=60)
    return inc


class Keeper(threading.Thread):
    """Calls metric_maintain() as incidentd's upkeep does: again at once
    while a step did something, otherwise every 60 s."""

    def __init__(self, pg):
        super().__init__(daemon=True)
        self.pg, self.did = pg, []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                rows = self.pg.query("SELECT metric_maintain()")
                did = rows[0][0] if rows and rows[0] else ""  # NULL: idle
            except Exception as e:  # a lock not had in time: next round
                did = ""
                self.did.append("error: " + str(e).strip()[:200])
            if did:
                if not did.startswith("made "):
                    self.did.append(did)
                continue
            self.halt.wait(60)

    def stop(self):
        self.halt.set()
        self.join(600)


def fail(msg):
    raise BenchError(msg)


def postgres_cpu_s(pg):
    """CPU seconds of the whole cluster so far: the postmaster, what it
    reaped and every live child."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        pm = int(f.readline())
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(pid) == pm:
            total += sum(int(x) for x in fields[11:15]) / CLK_TCK
        elif int(fields[1]) == pm:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def q1(pg, sql):
    return pg.query(sql)[0][0]


def tier_bytes(pg, tier):
    return int(q1(pg, "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)"
                  "), 0) FROM pg_inherits i JOIN metric_tier t ON "
                  "i.inhparent = t.tbl::regclass WHERE t.tier = '%s'" % tier))


# ------------------------------------------------------------------ ingest

def ingest_run(ctx, n, iv, window, store=True):
    label = "ingest-%dk-%ds%s" % (n // 1000, iv, "" if store else "-off")
    pg = new_cluster(ctx, label)
    # the store's upkeep as incidentd's does it (upkeep.c), without
    # incidentd's ingestion of the million first states beside it
    keeper = Keeper(pg)
    keeper.start()
    marks = []

    def snap():
        marks.append(dict(pg_cpu_s=postgres_cpu_s(pg), t=time.monotonic(),
                          now=q1(pg, "SELECT now()")))
        return marks[-1]

    def writer(path, instance, port):
        write_conf(ctx, path, instance=instance, metrics_port=port, icmp=n,
                   interval_ms=iv * 1000, store=store)
    warm = max(ctx.p["warmup_s"], 2 * iv)
    r = run_monitord(ctx, label, targets=n, interval_s=iv, warmup_s=warm,
                     window_s=window, writer=writer, snap=snap,
                     slice_s=window / 5,
                     describe="%d ICMP targets, store_samples %s" % (
                         n, "on (the default)" if store else "off"))
    r["store_samples"] = store
    a, b = marks[0], marks[-1]
    secs = b["t"] - a["t"]
    r["pg_core"] = (b["pg_cpu_s"] - a["pg_cpu_s"]) / secs
    r["pg_core_slices"] = [
        (y["pg_cpu_s"] - x["pg_cpu_s"]) / (y["t"] - x["t"])
        for x, y in zip(marks, marks[1:])]
    end = r.get("metrics_end", {})
    r["samples_dropped"] = end.get("monitord_metric_samples_dropped_total")
    r["samples_queued_end"] = end.get("monitord_metric_samples_queued")
    stored = int(q1(pg, "SELECT count(*) FROM metric_sample WHERE ts >= "
                    "'%s' AND ts < '%s'" % (a["now"], b["now"])))
    r["samples_per_s"] = stored / secs
    r["late_partition_rows"] = int(q1(pg, "SELECT count(*) FROM "
                                      "metric_incoming_late"))
    keeper.stop()
    r["upkeep"] = keeper.did
    # what is left, folded at once: the fold's cost per sample
    rows = int(q1(pg, "SELECT count(*) FROM metric_incoming"))
    inc_bytes = tier_bytes(pg, "incoming")
    t0 = time.monotonic()
    folded = int(q1(pg, "SELECT metric_fold_samples('(SELECT * FROM "
                    "metric_incoming)')"))
    r["fold_s"] = time.monotonic() - t0
    r["fold_samples"] = folded
    r["fold_per_core_s"] = folded / r["fold_s"] if r["fold_s"] else None
    r["fold_core_at_rate"] = (r["samples_per_s"] / r["fold_per_core_s"]
                              if folded else 0.0)
    r["incoming_bytes_per_row"] = inc_bytes / rows if rows else None
    pg.stop("fast")
    ctx.pg = None
    shutil.rmtree(pg.base, ignore_errors=True)
    harness.log("  %s: %.0f samples/s stored, %s dropped, lateness p99 %s "
                "ms, PostgreSQL %.3f core (+%.3f to fold), monitord %.3f "
                "core" % (label, r["samples_per_s"], r["samples_dropped"],
                          fmt(r.get("lateness_p99_s"), 2, 1000),
                          r["pg_core"], r["fold_core_at_rate"],
                          r["core_frac"]))
    return r


def phase_ingest(ctx):
    probe_features(ctx)
    runs = ctx.results.setdefault("ingest", [])
    # "probing lateness unchanged": each size also runs with the samples
    # off (the engine alone, as probe_bench.py measures it), for at most
    # ten minutes, before the run with the default
    for n, iv, window in ctx.p["ingest"]:
        runs.append(ingest_run(ctx, n, iv, min(window, 600), store=False))
        runs.append(ingest_run(ctx, n, iv, window))
    table("ingest: monitord with store_samples on (its default) and off, "
          "metric_maintain() as incidentd's upkeep",
          ["targets", "every", "store", "window s", "samples/s", "dropped",
           "late p50/p99/max ms", "PG core", "+fold core", "PG total",
           "monitord core"],
          [[r["targets"], "%d s" % r["interval_s"],
            "on" if r["store_samples"] else "off", r["window_s"],
            fmt(r["samples_per_s"], 0), r["samples_dropped"],
            "%s / %s / %s" % (fmt(r.get("lateness_p50_s"), 2, 1000),
                              fmt(r.get("lateness_p99_s"), 2, 1000),
                              fmt(r.get("lateness_max_s"), 1, 1000)),
            fmt(r["pg_core"], 3), fmt(r["fold_core_at_rate"], 3),
            fmt(r["pg_core"] + r["fold_core_at_rate"], 3),
            fmt(r["core_frac"], 3)] for r in runs])


# -------------------------------------------------------------------- disk

# An hour of samples for series 1..S every iv seconds, each time jittered
# by up to 50 ms as a probe's; even series an RTT around 0.05 ms, odd
# ones a traffic rate around 1e6.
DISK_SAMPLES = """
CREATE UNLOGGED TABLE bench_samples AS
SELECT date_trunc('hour', now()) - interval '2 hours' + make_interval(
           secs => k * %(iv)d + (hashint4(s * 7919 + k) & 1023) / 20480.0)
           AS ts,
       'h' || (s / 10) AS host, 'c' || (s %% 10 / 2) AS check_name,
       'm' || (s %% 2) AS metric,
       CASE WHEN s %% 2 = 0
            THEN 0.05 + (hashint4(s + k * 31) & 65535) / 6553600.0
            ELSE 1e6 + (hashint4(s * 31 + k) & 1048575)::float8 END AS value
FROM generate_series(1, %(series)d) AS s,
     generate_series(0, 3600 / %(iv)d - 1) AS k
"""

OPENMETRICS = ("\\copy (SELECT 'bench_value{host=\"' || host || '\",check=\""
               "' || check_name || '\",metric=\"' || metric || '\"} ' || "
               "value || ' ' || extract(epoch FROM ts) FROM bench_samples "
               "ORDER BY host, check_name, metric, ts) TO '%s'")


def phase_disk(ctx):
    if not os.access(PROMTOOL, os.X_OK):
        raise BenchError("%s is missing: apt-get install "
                         "--no-install-recommends prometheus" % PROMTOOL)
    runs = ctx.results.setdefault("disk", [])
    series = ctx.p["disk_series"]
    for iv in (10, 60):
        pg = new_cluster(ctx, "disk-%d" % iv)
        pg.query(DISK_SAMPLES % dict(iv=iv, series=series))
        total = int(q1(pg, "SELECT count(*) FROM bench_samples"))
        t0 = time.monotonic()
        q1(pg, "SELECT metric_fold_samples('bench_samples')")
        fold_s = time.monotonic() - t0
        pg.query("VACUUM ANALYZE metric_raw, metric_5m")
        raw, m5 = tier_bytes(pg, "raw"), tier_bytes(pg, "5m")
        rows5 = int(q1(pg, "SELECT count(*) FROM metric_5m"))
        prom = prometheus_block_bytes(pg, OPENMETRICS, ctx.work)
        r = dict(interval_s=iv, series=series, samples=total, fold_s=fold_s,
                 raw_bytes=raw, raw_bytes_per_sample=raw / total,
                 m5_bytes_per_row=m5 / rows5, m5_bytes_per_bin=m5 / rows5 / 12,
                 prometheus_bytes=prom, prometheus_bytes_per_sample=prom /
                 total, ratio=raw / prom)
        runs.append(r)
        harness.log("  every %d s: %.2f bytes/sample raw, Prometheus %.2f; "
                    "5-minute rows %.0f bytes (%.1f a bin); fold %.0f "
                    "samples/s" % (iv, r["raw_bytes_per_sample"],
                                   r["prometheus_bytes_per_sample"],
                                   r["m5_bytes_per_row"],
                                   r["m5_bytes_per_bin"], total / fold_s))
        pg.stop("fast")
        ctx.pg = None
        shutil.rmtree(pg.base, ignore_errors=True)
    table("disk: bytes per sample, a whole hour of %d series folded" % series,
          ["every", "samples", "raw B/sample", "Prometheus B/sample",
           "raw/Prometheus", "5m B/row", "5m B/bin", "fold samples/s"],
          [["%d s" % r["interval_s"], r["samples"],
            fmt(r["raw_bytes_per_sample"], 2),
            fmt(r["prometheus_bytes_per_sample"], 2), fmt(r["ratio"], 2),
            fmt(r["m5_bytes_per_row"], 0), fmt(r["m5_bytes_per_bin"], 1),
            fmt(r["samples"] / r["fold_s"], 0)] for r in runs])


# ------------------------------------------------------------------- query

# Series id = host * 10 + m (m 0..9), host 'q00001'... ; values a slow
# wave; each row of bins with its totals, as the fold writes them.  The
# fold marks say every tier is complete up to the current hour.
QUERY_GEN = [
    """INSERT INTO metric_series (host, check_name, metric)
       SELECT 'q' || lpad(h::text, 5, '0'), 'c' || (m / 2), 'm' || m
       FROM generate_series(1, %(hosts)d) h, generate_series(0, 9) m
       ORDER BY h, m""",
    # a year of days of 24 hourly bins
    """SELECT metric_partition_ensure('1h', d) FROM generate_series(
       now() - interval '366 days', now(), interval '28 days') d""",
    """INSERT INTO metric_1h SELECT s.id, d,
       array_fill(360, ARRAY[24]),
       (SELECT array_agg(40 + 10 * sin(s.id + i) ORDER BY i)
        FROM generate_series(0, 23) i),
       (SELECT array_agg(60 + 10 * sin(s.id + i) ORDER BY i)
        FROM generate_series(0, 23) i),
       (SELECT array_agg(360 * (50 + 10 * sin(s.id + i)) ORDER BY i)
        FROM generate_series(0, 23) i),
       array_fill(50::float8, ARRAY[24]),
       (SELECT array_agg(i * 3600000 + 3590000 ORDER BY i)
        FROM generate_series(0, 23) i),
       24 * 360, (SELECT min(40 + 10 * sin(s.id + i))
        FROM generate_series(0, 23) i), (SELECT max(60 + 10 * sin(s.id + i))
        FROM generate_series(0, 23) i), (SELECT sum(360 * (50 + 10 *
        sin(s.id + i))) FROM generate_series(0, 23) i)
       FROM metric_series s, generate_series(date_trunc('day', now(), 'UTC')
           - interval '365 days', date_trunc('day', now(), 'UTC')
           - interval '1 day', interval '1 day') d""",
    # 35 days of hours of twelve 5-minute bins
    """SELECT metric_partition_ensure('5m', d) FROM generate_series(
       now() - interval '36 days', now(), interval '7 days') d""",
    """INSERT INTO metric_5m SELECT s.id, hh, array_fill(30, ARRAY[12]),
       array_fill(40 + (s.id %% 7)::float8, ARRAY[12]),
       array_fill(60 + (s.id %% 7)::float8, ARRAY[12]),
       array_fill(1500::float8, ARRAY[12]),
       array_fill(50::float8, ARRAY[12]),
       (SELECT array_agg(i * 300000 + 290000 ORDER BY i)
        FROM generate_series(0, 11) i),
       360, 40 + (s.id %% 7)::float8, 60 + (s.id %% 7)::float8, 18000
       FROM metric_series s, generate_series(date_trunc('hour', now(),
           'UTC') - interval '35 days', date_trunc('hour', now(), 'UTC')
           - interval '1 hour', interval '1 hour') hh""",
    # a day of hours of 360 samples
    """SELECT metric_partition_ensure('raw', d) FROM generate_series(
       now() - interval '2 days', now(), interval '1 day') d""",
    """INSERT INTO metric_raw SELECT s.id, hh,
       (SELECT array_agg(i * 10000 + (s.id %% 50) ORDER BY i)
        FROM generate_series(0, 359) i),
       (SELECT array_agg(50 + 10 * sin(s.id + i / 36.0) ORDER BY i)
        FROM generate_series(0, 359) i)
       FROM metric_series s, generate_series(date_trunc('hour', now(),
           'UTC') - interval '24 hours', date_trunc('hour', now(), 'UTC')
           - interval '1 hour', interval '1 hour') hh""",
    """UPDATE metric_fold SET hour_done = date_trunc('hour', now(), 'UTC'),
       day_done = date_trunc('day', now(), 'UTC')""",
    "VACUUM ANALYZE metric_series, metric_raw, metric_5m, metric_1h",
]


def phase_query(ctx):
    hosts = ctx.p["query_series"] // 10
    pg = new_cluster(ctx, "query")
    t0 = time.monotonic()
    for sql in QUERY_GEN:
        pg.query(sql % dict(hosts=hosts))
    gen_s = time.monotonic() - t0
    sizes = {t: tier_bytes(pg, t) for t in ("raw", "5m", "1h")}
    harness.log("  generated %d series in %.0f s: raw %.1f GiB, 5m %.1f GiB, "
                "1h %.1f GiB" % (hosts * 10, gen_s, sizes["raw"] / 2 ** 30,
                                 sizes["5m"] / 2 ** 30, sizes["1h"] / 2 ** 30))
    port = harness.free_port()
    inc = start_incidentd(ctx, pg, "query", http_port=port)
    password = "metric bench password"
    p = subprocess.run([ctx.args.incidentctl, "user", "add", "bench",
                        "--user-role", "operator", "--as", "bench", "--role",
                        "administrator"], env=pg.env(), input=password + "\n",
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError("incidentctl user add: %s" % p.stderr)
    base = "http://127.0.0.1:%d" % port
    harness.wait_for("the console", lambda: harness.port_open("127.0.0.1",
                                                              port))
    st, body, hdr = harness.http_json(base, "POST", "/api/v1/login", {
        "user": "bench", "password": password})
    if st != 200:
        raise BenchError("login: %s %s" % (st, body))
    cookie = hdr["Set-Cookie"].split(";")[0]
    step = max(1, hosts // ctx.p["query_hosts"])
    out = {}
    for rng in ("day", "month", "year"):
        per_host, per_graph, one_req = [], [], []
        for h in range(1, hosts + 1, step):
            t_host = 0.0
            for m in range(10):
                path = ("/api/v1/hosts/q%05d/metrics?check=c%d&metric=m%d&"
                        "range=%s" % (h, m // 2, m, rng))
                t0 = time.monotonic()
                st, j, _ = harness.http_json(base, "GET", path,
                                             cookie=cookie)
                dt = time.monotonic() - t0
                if st != 200 or not j["points"]:
                    raise BenchError("%s: %s %s" % (path, st, str(j)[:200]))
                per_graph.append(dt)
                t_host += dt
            per_host.append(t_host)
            # the host page: every graph in one request
            path = "/api/v1/hosts/q%05d/metrics?range=%s" % (h + 1, rng)
            t0 = time.monotonic()
            st, a, _ = harness.http_json(base, "GET", path, cookie=cookie)
            dt = time.monotonic() - t0
            if st != 200 or len(a["series"]) != 10 or not all(
                    g["points"] for g in a["series"]):
                raise BenchError("%s: %s %s" % (path, st, str(a)[:200]))
            one_req.append(dt)
        out[rng] = dict(tier=j["tier"], points=len(j["points"]),
                        graph_ms_median=statistics.median(per_graph) * 1000,
                        graph_ms_max=max(per_graph) * 1000,
                        host_ms_median=statistics.median(per_host) * 1000,
                        host_ms_max=max(per_host) * 1000,
                        page_ms_median=statistics.median(one_req) * 1000,
                        page_ms_max=max(one_req) * 1000)
    inc.stop()
    ctx.results["query"] = dict(series=hosts * 10, generate_s=gen_s,
                                bytes=sizes, ranges=out)
    pg.stop("fast")
    ctx.pg = None
    shutil.rmtree(pg.base, ignore_errors=True)
    table("query: one host's ten graphs through the HTTP API, %d series "
          "with a year of history" % (hosts * 10),
          ["range", "tier", "points", "graph ms median", "graph ms max",
           "10 requests ms median", "10 requests ms max",
           "host page (1 request) ms median", "host page ms max",
           "target ms"],
          [[rng, r["tier"], r["points"], fmt(r["graph_ms_median"], 1),
            fmt(r["graph_ms_max"], 1), fmt(r["host_ms_median"], 1),
            fmt(r["host_ms_max"], 1), fmt(r["page_ms_median"], 1),
            fmt(r["page_ms_max"], 1), {"day": 50, "month": 100,
                                       "year": 200}[rng]]
           for rng, r in out.items()])


# -------------------------------------------------------------------- drop

def phase_drop(ctx):
    series = ctx.p["drop_series"]
    pg = new_cluster(ctx, "drop")
    pg.query("SELECT metric_maintain()")    # the partitions ahead
    name = q1(pg, "SELECT metric_partition_ensure('raw', now() - interval "
              "'15 days')")
    t0 = time.monotonic()
    pg.query("INSERT INTO %s SELECT s, date_trunc('day', now() - interval "
             "'15 days') + h * interval '1 hour', (SELECT array_agg(i * "
             "10000 ORDER BY i) FROM generate_series(0, 359) i), (SELECT "
             "array_agg(s + i / 7.0 ORDER BY i) FROM generate_series(0, 359) "
             "i) FROM generate_series(1, %d) s, generate_series(0, 23) h"
             % (name, series))
    gen_s = time.monotonic() - t0
    samples = series * 24 * 360
    size = int(q1(pg, "SELECT pg_total_relation_size('%s')" % name))
    pg.query("CHECKPOINT")
    t0 = time.monotonic()
    did = q1(pg, "SELECT metric_maintain()")
    drop_s = time.monotonic() - t0
    if did != "dropped " + name:
        raise BenchError("metric_maintain did %r, not the drop" % did)
    gone = q1(pg, "SELECT count(*) FROM pg_class WHERE relname = '%s'"
              % name) == "0"
    ctx.results["drop"] = dict(series=series, samples=samples, bytes=size,
                               generate_s=gen_s, drop_s=drop_s, gone=gone)
    pg.stop("fast")
    ctx.pg = None
    shutil.rmtree(pg.base, ignore_errors=True)
    table("drop: a day of samples past its retention",
          ["series", "samples", "size", "one metric_maintain() step s",
           "table gone"],
          [[series, samples, "%.2f GiB" % (size / 2 ** 30), fmt(drop_s, 3),
            gone]])


# --------------------------------------------------------------- retention

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


class FastClockPostgres(harness.Postgres):
    """A cluster whose clock runs speed times faster than the wall's
    (Debian's libfaketime, preloaded into the postmaster and so into every
    backend it forks): a day of the store's life in minutes."""

    def __init__(self, base, speed):
        super().__init__(base, dbname="metric_bench")
        self.speed = speed

    def _as_postgres(self, *args, **kw):
        if os.path.basename(args[0]) == "pg_ctl" and "start" in args:
            kw["env"] = dict(os.environ, LD_PRELOAD=LIBFAKETIME,
                             FAKETIME="+0 x%d" % self.speed)
        return super()._as_postgres(*args, **kw)

    def start(self):
        try:
            return super().start()
        except RuntimeError as e:   # its clock is meant to be off
            if "clock" not in str(e):
                raise
            return self


# What the retention run keeps: every tier a few hours or a day, each in
# partitions of an hour (a day for the hourly bins, which are rows of a
# day), so that three of its days show the store filling and then staying.
RETENTION_TIERS = """
UPDATE metric_tier SET span = '1 hour', ahead = '3 hours', keep = '2 hours'
WHERE tier = 'raw';
UPDATE metric_tier SET span = '1 hour', ahead = '3 hours', keep = '6 hours'
WHERE tier = '5m';
UPDATE metric_tier SET span = '1 day', ahead = '2 days', keep = '1 day'
WHERE tier = '1h';
CREATE TABLE bench_clock AS SELECT date_bin('10 seconds', now(),
    timestamptz '2000-01-01') AS t;
"""

# The samples of series 1..S every 10 s since the last ones, as monitord
# would have written them.
RETENTION_FEED = """
WITH g AS (SELECT generate_series(t + interval '10 seconds', now(),
               interval '10 seconds') AS ts FROM bench_clock),
ins AS (INSERT INTO metric_incoming
    SELECT g.ts, 'h' || (s / 4), 'ping', 'm' || (s %% 4),
        (hashint4(s * 7919 + extract(epoch FROM g.ts)::integer) & 65535)
            / 65536.0
    FROM g, generate_series(1, %d) AS s)
UPDATE bench_clock SET t = coalesce((SELECT max(ts) FROM g), t)
"""


def phase_retention(ctx):
    speed, series = 360, ctx.p["retention_series"]
    hours = ctx.p["retention_hours"]
    pg = new_cluster(ctx, "retention", FastClockPostgres(
        ctx.path("pg-retention"), speed))
    pg.query(RETENTION_TIERS)
    start = float(q1(pg, "SELECT extract(epoch FROM now())"))
    harness.log("  clock x%d: %d series every 10 s for %d hours of its "
                "time, raw kept 2 h, 5m 6 h, 1h a day" % (speed, series,
                                                           hours))
    points, steps = [], 0
    next_point = 0.0
    while True:
        pg.query(RETENTION_FEED % series)
        while q1(pg, "SELECT metric_maintain() IS NOT NULL") == "t":
            steps += 1
        now = float(q1(pg, "SELECT extract(epoch FROM now())"))
        h = (now - start) / 3600
        if h >= next_point:
            sizes = {t: tier_bytes(pg, t) for t in ("incoming", "raw", "5m",
                                                    "1h")}
            points.append(dict(hour=h, total=sum(sizes.values()), **sizes))
            next_point += 3
        if h >= hours:
            break
        time.sleep(0.5)
    pg.stop("immediate")
    ctx.pg = None
    shutil.rmtree(pg.base, ignore_errors=True)
    last_day = [p["total"] for p in points if p["hour"] >= hours - 24]
    day_before = [p["total"] for p in points
                  if hours - 48 <= p["hour"] < hours - 24]
    r = dict(speed=speed, series=series, hours=hours, steps=steps,
             points=points, max_last_day=max(last_day),
             max_day_before=max(day_before) if day_before else None)
    r["growth"] = (r["max_last_day"] / r["max_day_before"]
                   if r["max_day_before"] else None)
    ctx.results["retention"] = r
    table("retention: the store's size by the hours of its own clock "
          "(x%d), %d series every 10 s" % (speed, series),
          ["hour", "incoming", "raw", "5m", "1h", "total"],
          [[fmt(p["hour"], 0)] + ["%.1f MiB" % (p[k] / 2 ** 20) for k in (
              "incoming", "raw", "5m", "1h", "total")] for p in points])
    harness.log("  largest in the last day / in the day before: %s"
                % fmt(r["growth"], 3))
    if r["growth"] is None or r["growth"] > 1.1:
        raise BenchError("the store still grows: %s" % r["growth"])


# -------------------------------------------------------------------- main

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    build = os.path.join(BENCH_DIR, "..", "build")
    ap.add_argument("--monitord", default=os.path.join(build, "monitord",
                                                       "monitord"))
    ap.add_argument("--incidentd", default=os.path.join(build, "incidentd",
                                                        "incidentd"))
    ap.add_argument("--incidentctl", default=os.path.join(
        build, "incidentctl", "incidentctl"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("ingest", "disk", "query", "drop",
                                       "retention"))
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--ingest", metavar="N:EVERY:WINDOW", action="append",
                    help="instead of the profile's ingest runs: N targets "
                    "every EVERY s measured for WINDOW s (repeatable)")
    # what monitord_run reads of probe_bench's options
    ap.set_defaults(warmup=None, window=None, burst_gap_ms=0)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("metric_bench.py must run as root (raw ICMP sockets, the "
              "private PostgreSQL clusters)", file=sys.stderr)
        return 2
    profile = dict(PROFILES["quick" if args.quick else "full"])
    if args.ingest:
        try:
            profile["ingest"] = [tuple(int(x) for x in a.split(":"))
                                 for a in args.ingest]
            if any(len(t) != 3 or min(t) <= 0 for t in profile["ingest"]):
                raise ValueError
        except ValueError:
            ap.error("--ingest takes N:EVERY:WINDOW, three positive "
                     "integers")

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_term)
    signal.alarm(int(profile["max_minutes"] * 60))
    ctx = Context(args, profile)
    phases = [args.only] if args.only else ["disk", "query", "drop",
                                            "retention", "ingest"]
    print("metric_bench: %s run, %s; work directory %s" % (
        ctx.results["profile"], ctx.results["date"], ctx.work))
    failed = False
    try:
        blocked = ensure_packages(phases, False)
        for phase in phases:
            harness.log("phase %s" % phase)
            if phase in blocked:
                failed = True
                harness.log("phase %s cannot run: %s" % (phase,
                                                        blocked[phase]))
                ctx.results.setdefault("failed", {})[phase] = blocked[phase]
                continue
            try:
                {"ingest": phase_ingest, "disk": phase_disk,
                 "query": phase_query, "drop": phase_drop,
                 "retention": phase_retention}[phase](ctx)
            except Exception as e:
                failed = True
                harness.log("phase %s failed: %s" % (phase, e))
                ctx.results.setdefault("failed", {})[phase] = str(e)
    except KeyboardInterrupt:
        failed = True
        print("\ninterrupted or over %d minutes: stopping what was started"
              % profile["max_minutes"], file=sys.stderr)
    finally:
        signal.alarm(0)
        CLEANUP.run()
        if args.json:
            with open(args.json, "w") as f:
                json.dump(ctx.results, f, indent=2, default=str)
            print("figures written to %s" % args.json)
        if failed:
            print("work directory kept: %s" % ctx.work)
        else:
            shutil.rmtree(ctx.work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
