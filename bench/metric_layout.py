#!/usr/bin/env python3
"""metric_layout.py: bytes per stored sample of candidate layouts for the
raw metric tier, measured in a private PostgreSQL (the same Debian
PostgreSQL 15 the system runs on).

    python3 bench/metric_layout.py [--series N] [--hours H] [--json FILE]

The same synthetic samples go into every layout: N series (an RTT-like
value with noise, or an interface counter rate), one sample every 10 s for
H hours and one every 60 s for 4 H hours, each sample time jittered by up
to 50 ms as a probe's would be.  Each layout is filled by one INSERT ...
SELECT on the server, then VACUUM ANALYZE; the size is
pg_total_relation_size (heap, TOAST and every index) over the number of
samples.  Layouts:

  today     metric_sample as it is: (ts, host, check_name, metric, value)
            with its two indexes
  narrow    (series int4, ts timestamptz, value float8), index (series, ts)
  chunk-*   one row per series per hour: (series int4, start timestamptz,
            offsets, values) with index (series, start); the offsets from
            the start are int4 milliseconds or int2 tenths of a second
            past a 1,800 s half-hour (two rows an hour then), the values
            float8 or float4; TOAST compression pglz or lz4 where a row is
            long enough to be compressed
  prometheus
            the same samples as OpenMetrics text, turned into TSDB blocks
            by Debian's `promtool tsdb create-blocks-from openmetrics`
            (2-hour blocks, as promtool writes them; a running Prometheus
            would compact them further); the size is that of the block
            directories

Nothing leaves the machine: PostgreSQL listens on a Unix socket and
127.0.0.1 only.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "lib"))
import harness  # noqa: E402
from benchlib import (PROMTOOL, ensure_packages,  # noqa: E402
    prometheus_block_bytes)

# The samples: series s, interval iv seconds, sample k at
# start + k * iv + jitter; the value is an RTT around 0.05 ms for even
# series and a traffic rate around 1e6 for odd ones.
SAMPLES = """
SELECT s AS series, iv,
       timestamptz '2026-01-05 00:00:00+09' + make_interval(secs => k * iv
           + (hashint4(s * 7919 + k) & 1023) / 20480.0) AS ts,
       CASE WHEN s %% 2 = 0
            THEN 0.05 + (hashint4(s + k * 31) & 65535) / 6553600.0
            ELSE 1e6 + (hashint4(s * 31 + k) & 1048575)::float8 END
           AS value
FROM generate_series(1, %(series)d) AS s
CROSS JOIN (VALUES (10, %(n10)d), (60, %(n60)d)) AS i(iv, n)
CROSS JOIN LATERAL generate_series(0, i.n - 1) AS k
"""

LAYOUTS = [
    ("today", """
        CREATE TABLE l_today (ts timestamptz NOT NULL, host text NOT NULL,
            check_name text NOT NULL, metric text NOT NULL,
            value double precision NOT NULL);
        INSERT INTO l_today SELECT ts, 'juki-ap' || lpad(series::text, 5, '0'),
            CASE WHEN series %% 2 = 0 THEN 'ping' ELSE 'if:ge-0/0/1' END,
            CASE WHEN series %% 2 = 0 THEN 'rtt' ELSE 'in_bps' END, value
        FROM samples;
        CREATE INDEX ON l_today (host, check_name, metric, ts);
        CREATE INDEX ON l_today (ts);"""),
    ("narrow", """
        CREATE TABLE l_narrow (series integer NOT NULL,
            ts timestamptz NOT NULL, value double precision NOT NULL);
        INSERT INTO l_narrow SELECT series * 100 + iv, ts, value
        FROM samples ORDER BY series, iv, ts;
        CREATE INDEX ON l_narrow (series, ts);"""),
]

# chunk layouts: (name, span seconds, offset type, offset expression,
# value type, compression)
CHUNKS = [
    ("chunk-ms-f8", 3600, "integer",
     "(extract(epoch FROM ts - start) * 1000)::integer", "float8", "pglz"),
    ("chunk-ms-f8-lz4", 3600, "integer",
     "(extract(epoch FROM ts - start) * 1000)::integer", "float8", "lz4"),
    ("chunk-ds-f8", 1800, "smallint",
     "(extract(epoch FROM ts - start) * 10)::smallint", "float8", "pglz"),
    ("chunk-ds-f8-lz4", 1800, "smallint",
     "(extract(epoch FROM ts - start) * 10)::smallint", "float8", "lz4"),
    ("chunk-ds-f4-lz4", 1800, "smallint",
     "(extract(epoch FROM ts - start) * 10)::smallint", "float4", "lz4"),
]


def chunk_sql(name, span, otype, oexpr, vtype, comp):
    t = "l_" + name.replace("-", "_")
    return t, """
        CREATE TABLE %(t)s (series integer NOT NULL,
            start timestamptz NOT NULL,
            offsets %(otype)s[] COMPRESSION %(comp)s NOT NULL,
            vals %(vtype)s[] COMPRESSION %(comp)s NOT NULL);
        INSERT INTO %(t)s
        SELECT series, start, array_agg(%(oexpr)s ORDER BY ts),
               array_agg(value::%(vtype)s ORDER BY ts)
        FROM (SELECT series * 100 + iv AS series, ts, value,
                     date_bin('%(span)s seconds', ts,
                              timestamptz '2026-01-01 00:00+09') AS start
              FROM samples) AS x
        GROUP BY series, start;
        CREATE INDEX ON %(t)s (series, start);""" % dict(
        t=t, otype=otype, oexpr=oexpr, vtype=vtype, comp=comp, span=span)


OPENMETRICS = ("\\copy (SELECT 'bench_value{series=\"' || (series * 100 + iv) "
               "|| '\"} ' || value || ' ' || extract(epoch FROM ts) "
               "FROM samples ORDER BY series, iv, ts) TO '%s'")


def prometheus_size(pg, work):
    """(bytes of the TSDB blocks, seconds) for the samples table."""
    t0 = time.monotonic()
    size = prometheus_block_bytes(pg, OPENMETRICS, work)
    return size, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--hours", type=int, default=6)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if not 1 <= args.series <= 100000 or not 1 <= args.hours <= 48:
        ap.error("--series 1-100000, --hours 1-48")
    # the peer: Debian's prometheus package, for promtool
    ensure_packages(["disk"], False)
    work = tempfile.mkdtemp(prefix="metric-layout-")
    os.chmod(work, 0o755)
    pg = harness.Postgres(os.path.join(work, "pg"), dbname="layout")
    pg.start()
    out = dict(series=args.series, hours=args.hours, layouts=[])
    try:
        n10, n60 = args.hours * 360, args.hours * 4 * 60
        pg.query("CREATE UNLOGGED TABLE samples AS " + SAMPLES % dict(
            series=args.series, n10=n10, n60=n60))
        total = int(pg.query("SELECT count(*) FROM samples")[0][0])
        harness.log("%d samples: %d series every 10 s for %d h and every "
                    "60 s for %d h" % (total, args.series, args.hours,
                                       4 * args.hours))
        todo = [(n, "l_" + n, sql) for n, sql in LAYOUTS]
        todo += [(c[0],) + chunk_sql(*c) for c in CHUNKS]
        for name, table, sql in todo:
            t0 = time.monotonic()
            pg.query(sql.replace("%%", "%"))
            pg.query("VACUUM ANALYZE " + table)
            secs = time.monotonic() - t0
            size = int(pg.query("SELECT pg_total_relation_size('%s')"
                                % table)[0][0])
            rows = int(pg.query("SELECT count(*) FROM %s" % table)[0][0])
            r = dict(layout=name, rows=rows, bytes=size,
                     bytes_per_sample=size / total, load_s=secs)
            out["layouts"].append(r)
            harness.log("%-16s %10d rows %12d bytes  %6.2f bytes/sample  "
                        "(%.1f s)" % (name, rows, size, size / total, secs))
            pg.query("DROP TABLE " + table)
        if os.path.exists(PROMTOOL):
            size, secs = prometheus_size(pg, work)
            out["layouts"].append(dict(layout="prometheus", rows=None,
                                       bytes=size,
                                       bytes_per_sample=size / total,
                                       load_s=secs))
            harness.log("%-16s %10s rows %12d bytes  %6.2f bytes/sample  "
                        "(%.1f s)" % ("prometheus", "-", size, size / total,
                                      secs))
        else:
            raise RuntimeError("no %s, and apt-get install prometheus "
                               "failed: Prometheus not measured" % PROMTOOL)
        out["samples"] = total
    finally:
        pg.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)
    print("\nbytes per sample, %d samples (%d series; 10 s for %d h, 60 s "
          "for %d h)" % (total, args.series, args.hours, 4 * args.hours))
    for r in out["layouts"]:
        print("  %-16s %7.2f" % (r["layout"], r["bytes_per_sample"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
