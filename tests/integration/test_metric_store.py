"""The metric store: bounded by its retention, folded into tiers, read by
the span.

monitord pings loopback with its default store_samples and incidentd keeps
the store (its own connection, retention from incidentd.yaml).  Asserted:
- the retention of incidentd.yaml is what the store keeps; partitions
  are made ahead, and monitord's samples land in them, not in the
  default partition;
- three hours and one day of history, put in as monitord would have
  written them, are folded by incidentd once their hour or day is over:
  every sample in metric_raw (to the millisecond), the 5-minute and the
  hourly bins equal to count, lowest, highest and sum worked out from the
  samples themselves, and the partitions of the folded hours gone;
- samples that come after their hour was folded are folded too, and the
  bins read with them;
- the API reads every sample for a day, 5-minute bins for a week and
  hourly ones for a year; a 45-minute hole in the history is a gap (one
  point of nulls) and there is no other;
- partitions older than the retention are dropped (the tables are gone),
  also a trap's; a trap lands in its month's partition;
- incidentctl metrics status prints each tier and the forecast;
- a retention out of range or an unknown key is an error naming
  file:line:column.
"""

import json
import os
import re
import shutil
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import console  # noqa: E402
import harness  # noqa: E402
from console import Client, one, record  # noqa: E402
from harness import log, wait_for  # noqa: E402

RETENTION = """\
retention:
  raw: 10d
  interfaces: 2000d
  traps: 30d
"""

HOST, CHECK, METRIC = "zaimu-db01", "disk", "/ used_pct"

# The history: a sample every 10 s from three hours before the current
# hour began until now, but none for 45 minutes in the second hour; and an
# hour of one sample a minute two days ago.  v is a function of the
# sample's number, so that the figures can be worked out again in SQL.
HISTORY = """
CREATE TABLE history AS
SELECT ts, (extract(epoch FROM ts)::bigint %% 97)::float8 / 4 AS v
FROM generate_series(%(h)s, now(), interval '10 seconds') AS ts
WHERE NOT (ts >= %(h)s + interval '1 hour' AND
           ts < %(h)s + interval '105 minutes')
UNION ALL
SELECT ts, 1000 + extract(minute FROM ts)
FROM generate_series(%(d)s + interval '5 hours',
    %(d)s + interval '6 hours' - interval '1 second',
    interval '1 minute') AS ts
"""

H = "(date_trunc('hour', now(), 'UTC') - interval '3 hours')"
D = "(date_trunc('day', now(), 'UTC') - interval '2 days')"


def monitord_yaml():
    return """\
instance: monitord-metrics
defaults:
  interval: 1s
  retry_interval: 1s
  timeout: 500ms
hosts:
  - name: kikan-sw01
    address: 127.0.0.1
    segment: core
    checks:
      - {type: icmp, packets: 1}
"""


def folded(pg):
    """Every hour that is due folded (an hour is, two minutes after its
    end), every day before it, and no sample left that came late."""
    return one(pg, "SELECT hour_done = date_trunc('hour', now() - interval "
               "'2 minutes', 'UTC') AND day_done = date_trunc('day', "
               "hour_done, 'UTC') AND NOT EXISTS (SELECT 1 FROM "
               "metric_incoming_late) FROM metric_fold") == "t"


def same(pg, got, want):
    """The rows of two queries, and how many, compared in one statement:
    an hour folded meanwhile cannot come between them."""
    return pg.query("SELECT (SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) a) "
                    "+ (SELECT count(*) FROM ((%s) EXCEPT ALL (%s)) b), "
                    "(SELECT count(*) FROM (%s) c)" % (
                        got, want, want, got, want))[0]


def check_history(pg, op):
    log("three hours and a day of history, folded once they are over")
    # as monitord writes: partitions for the past hours first (a store
    # upgraded three hours ago would have them), the fold put back
    pg.psql(pg.dbname, "BEGIN; SELECT pg_advisory_xact_lock("
            "hashtext('metric_maintain')); UPDATE metric_fold SET "
            "hour_done = %s, day_done = %s; SELECT "
            "metric_partition_ensure('incoming', g) FROM generate_series("
            "%s, now(), interval '10 minutes') g; %s; INSERT INTO "
            "metric_incoming SELECT ts, '%s', '%s', '%s', v FROM history; "
            "COMMIT" % (H, D, H, HISTORY % dict(h=H, d=D), HOST, CHECK,
                        METRIC))
    wait_for("the hours and the day folded", lambda: folded(pg),
             timeout=120)
    # the partitions of the folded hours are gone
    assert one(pg, "SELECT count(*) FROM metric_partition WHERE tier = "
               "'incoming' AND lo < (SELECT hour_done FROM metric_fold)") \
        == "0"
    assert one(pg, "SELECT count(*) FROM pg_class WHERE relname = "
               "'metric_incoming_' || to_char(%s AT TIME ZONE 'UTC', "
               "'YYYYMMDD\"t\"HH24MI')" % H) == "0"
    series = one(pg, "SELECT id FROM metric_series WHERE host = '%s' AND "
                 "check_name = '%s' AND metric = '%s'" % (HOST, CHECK,
                                                          METRIC))
    done = "(SELECT hour_done FROM metric_fold)"
    # every sample before the fold's hour in metric_raw, to the ms
    diff, n = same(pg, "SELECT r.start + u.t * interval '1 millisecond', "
                   "u.v FROM metric_raw r, unnest(r.t, r.v) u(t, v) WHERE "
                   "r.series = %s" % series, "SELECT date_trunc("
                   "'milliseconds', ts), v FROM history WHERE ts < %s"
                   % done)
    assert diff == "0" and int(n) > 500, (diff, n)
    # and every one, folded or not, in metric_sample
    diff, n = same(pg, "SELECT date_trunc('milliseconds', ts), value FROM "
                   "metric_sample WHERE host = '%s' AND check_name = '%s' "
                   "AND metric = '%s'" % (HOST, CHECK, METRIC),
                   "SELECT date_trunc('milliseconds', ts), v FROM history")
    assert diff == "0", (diff, n)
    # the 5-minute bins of the hours folded, and the hourly ones of the
    # day two days ago, as the samples give them
    for tier, width, lo, hi in (("5m", "5 minutes", H, done),
                                ("1h", "1 hour", D, D + " + interval "
                                 "'1 day'")):
        diff, n = same(pg, "SELECT ts, n, lo, hi, sum FROM metric_read("
                       "'%s', '%s', '%s', %s, %s, '%s')" % (
                           HOST, CHECK, METRIC, lo, hi, tier),
                       "SELECT date_bin('%s', ts, %s), count(*)::integer, "
                       "min(v), max(v), sum(v) FROM history WHERE ts >= %s "
                       "AND ts < %s GROUP BY 1" % (width, D, lo, hi))
        assert diff == "0" and n != "0", (tier, diff, n)
    # each row of bins carries its bins' totals
    for tbl in ("metric_5m", "metric_1h"):
        # (a sum to within its rounding: the order of adding differs)
        bad = one(pg, "SELECT count(*) FILTER (WHERE (m.all_n, m.all_lo, "
                  "m.all_hi) IS DISTINCT FROM (t.n, t.lo, t.hi) OR abs("
                  "m.all_sum - t.sum) > 1e-9 * greatest(1, abs(t.sum))) || "
                  "' of ' || count(*) FROM %s m CROSS JOIN LATERAL (SELECT "
                  "sum(u.n)::integer AS n, min(u.lo) AS lo, max(u.hi) AS hi, "
                  "sum(u.sum) AS sum FROM unnest(m.n, m.lo, m.hi, m.sum) AS "
                  "u(n, lo, hi, sum) WHERE u.n > 0) AS t" % tbl)
        assert bad.startswith("0 of ") and bad != "0 of 0", (tbl, bad)
    return series


def check_api(op):
    log("the API: samples for a day, 5-minute bins for a week, hours for "
        "a year; the hole is a gap")
    path = ("/api/v1/hosts/%s/metrics?check=%s&metric=%s&range=" % (
        HOST, CHECK, METRIC.replace("/", "%2F").replace(" ", "%20")))
    tiers = {}
    for rng in ("hour", "day", "week", "month", "year"):
        j = op.ok("GET", path + rng)
        tiers[rng] = j["tier"]
        pts = j["points"]
        # steps on a grid from the epoch, the last the one now is in
        step = {"hour": 15, "day": 300, "week": 3600, "month": 10800,
                "year": 86400}[rng]
        assert j["step_s"] == step and all(
            p[0] % step == 0 for p in pts if p[1] is not None), (rng, j)
        assert 0 < len(pts) <= {"day": 288, "week": 168, "year": 365}.get(
            rng, 240), (rng, pts)
        gaps = [p for p in pts if p[1] is None]
        if rng in ("day", "week"):
            # one gap: the 45 minutes without a sample in a day; in a
            # week, where its steps are hours, the two days between
            assert len(gaps) == 1, (rng, gaps)
        if rng == "year":
            # the day two days ago is there, from the hourly bins
            assert max(p[3] for p in pts if p[1] is not None) >= 1000, pts
    assert tiers == {"hour": "raw", "day": "5m", "week": "5m",
                     "month": "5m", "year": "1h"}, tiers
    st, j = op.get(path + "decade")
    assert st == 400 and "year" in j["error"], (st, j)


def check_late(pg, op, series):
    log("samples that come after their hour was folded")
    rows = int(one(pg, "SELECT count(*) FROM metric_raw WHERE series = %s "
                   "AND start = %s" % (series, H)))
    pg.query("INSERT INTO metric_incoming SELECT %s + interval '10 minutes' "
             "+ i * interval '1 second', '%s', '%s', '%s', 5000 FROM "
             "generate_series(0, 29) i" % (H, HOST, CHECK, METRIC))
    assert one(pg, "SELECT count(*) FROM metric_incoming_late") == "30"
    # read at once, folded or not: the upkeep may not have got to them
    got = pg.query("SELECT sum(n), max(hi) FROM metric_read('%s', '%s', "
                   "'%s', %s + interval '10 minutes', %s + interval "
                   "'10 minutes 30 seconds', 'raw')" % (HOST, CHECK, METRIC,
                                                       H, H))
    assert got[0][1] == "5000" and int(got[0][0]) >= 30, got
    wait_for("the late samples folded", lambda: one(
        pg, "SELECT count(*) FROM metric_incoming_late") == "0", timeout=60)
    # a row of their own in the hour's chunks
    assert int(one(pg, "SELECT count(*) FROM metric_raw WHERE series = %s "
                   "AND start = %s" % (series, H))) == rows + 1
    # the bin has two rows now, which a reader adds up
    got = pg.query("SELECT count(*), sum(n), max(hi) FROM metric_read("
                   "'%s', '%s', '%s', %s + interval '10 minutes', %s + "
                   "interval '15 minutes', '5m')" % (HOST, CHECK, METRIC, H,
                                                      H))
    assert got == [["2", "60", "5000"]], got
    for rng in ("day", "week"):
        j = op.ok("GET", "/api/v1/hosts/%s/metrics?check=%s&metric=%s&"
                  "range=%s" % (HOST, CHECK, METRIC.replace("/", "%2F")
                                .replace(" ", "%20"), rng))
        assert max(p[3] for p in j["points"] if p[1] is not None) == 5000


def check_retention(pg, env):
    log("partitions past their retention are dropped, not emptied")
    pg.psql(pg.dbname, "BEGIN; SELECT pg_advisory_xact_lock(hashtext("
            "'metric_maintain')); SELECT metric_partition_ensure('raw', "
            "now() - interval '12 days'), metric_partition_ensure('5m', "
            "now() - interval '120 days'), metric_partition_ensure("
            "'traps', now() - interval '70 days'); INSERT INTO metric_raw "
            "VALUES (1, date_trunc('hour', now() - interval '12 days'), "
            "'{0}', '{1}'); INSERT INTO trap_event (source, received_at, "
            "sender, version, trap_oid) VALUES ('t', now() - interval "
            "'70 days', '127.0.0.1', 'v2c', '1.3.6.1.6.3.1.1.5.3'), ('t', "
            "now(), '127.0.0.1', 'v2c', '1.3.6.1.6.3.1.1.5.4'); COMMIT")
    old = pg.query("SELECT name FROM metric_partition JOIN metric_tier "
                   "USING (tier) WHERE hi <= now() - keep")
    assert len(old) == 3, old
    wait_for("the old partitions dropped", lambda: one(
        pg, "SELECT count(*) FROM pg_class WHERE relname IN (%s)" % ", ".join(
            "'%s'" % r[0] for r in old)) == "0", timeout=60)
    assert one(pg, "SELECT count(*) FROM metric_partition WHERE name IN "
               "(%s)" % ", ".join("'%s'" % r[0] for r in old)) == "0"
    # the new trap is in a partition of its own time
    assert one(pg, "SELECT tableoid::regclass FROM trap_event WHERE "
               "source = 't'").startswith("trap_event_2")


def check_long(pg):
    log("interface traffic outlives the other hourly bins")
    day = "date_trunc('day', now() - interval '1200 days', 'UTC')"
    ids = pg.query("INSERT INTO metric_series (host, check_name, metric) "
                   "VALUES ('kikan-sw01', 'if:ge-0/0/1', 'in_bps'), "
                   "('kikan-sw01', 'if:ge-0/0/1', 'errors_ps') RETURNING id")
    pg.psql(pg.dbname, "BEGIN; SELECT pg_advisory_xact_lock(hashtext("
            "'metric_maintain')); SELECT metric_partition_ensure('1h', %s); "
            "INSERT INTO metric_1h SELECT s, %s, '{5}', '{1}', '{9}', "
            "'{25}', '{9}', '{0}', 5, 1, 9, 25 FROM unnest('{%s,%s}'::int[]) "
            "s; COMMIT" % (day, day, ids[0][0], ids[1][0]))
    old = one(pg, "SELECT name FROM metric_partition WHERE tier = '1h' AND "
              "hi <= now() - interval '1095 days'")
    wait_for("the old hourly partition dropped", lambda: one(
        pg, "SELECT count(*) FROM pg_class WHERE relname = '%s'" % old)
        == "0", timeout=60)
    # in_bps kept, errors_ps gone with its partition
    assert pg.query("SELECT series FROM metric_1h_long") == [[ids[0][0]]]
    assert one(pg, "SELECT samples FROM metric_partition WHERE tier = "
               "'1h_long'") == "1"
    got = pg.query("SELECT metric, sum(n), max(hi) FROM metric_read("
                   "'kikan-sw01', NULL, NULL, %s, %s + interval '1 day', "
                   "'1h') GROUP BY 1" % (day, day))
    assert got == [["in_bps", "5", "9"]], got
    # and goes past its own retention
    pg.query("UPDATE metric_tier SET keep = '1100 days' WHERE tier = "
             "'1h_long'")
    wait_for("the long partition dropped", lambda: one(
        pg, "SELECT count(*) FROM metric_partition WHERE tier = "
        "'1h_long'") == "0", timeout=60)
    assert one(pg, "SELECT count(*) FROM metric_1h_long") == "0"


def check_status(env):
    log("incidentctl metrics status")
    rc, out, err = harness.run([harness.binary("incidentctl"), "metrics",
                                "status"], env=env)
    assert rc == 0, (out, err)
    for tier, keep in (("incoming", "until folded"), ("raw", "10d"),
                       ("5m", "90d"), ("1h", "1095d"), ("1h_long", "2000d"),
                       ("traps", "30d")):
        assert re.search(r"^%s +%s +\d+ " % (tier, keep), out, re.M), out
    assert re.search(r"^total +\S+ \S+ +\S+ \S+$", out, re.M), out
    rc, out, err = harness.run([harness.binary("incidentctl"), "metrics",
                                "status", "--json"], env=env)
    assert rc == 0, (out, err)
    st = json.loads(out)
    raw = [t for t in st["tiers"] if t["tier"] == "raw"][0]
    assert raw["rows"] > 500 and raw["bytes_per_row"] > 0, raw
    assert st["series"] >= 1, st
    rc, out, err = harness.run([harness.binary("incidentctl"), "metrics",
                                "grow"], env=env)
    assert rc == 2 and "metrics status" in err, (rc, err)


def check_conf_errors(work, env):
    log("a retention out of range or unknown is an error at its place")
    for text, want in (("retention:\n  raw: 5m\n",
                        r":2:8: 'raw' must be between"),
                       ("retention:\n  hourly: 1d\n",
                        r":2:3: .*hourly")):
        path = os.path.join(work, "bad.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        rc, out, err = harness.run([harness.binary("incidentd"), "-n", "-f",
                                    path], env=env)
        assert rc != 0 and re.search(re.escape(path) + want, err), (rc, err)


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/metric-store.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    try:
        pg, env, inc, base, _ = console.start(clean, work, extra=RETENTION)
        log("incidentd keeps the retention it is given")
        wait_for("the retention stored", lambda: pg.query(
            "SELECT tier, extract(epoch FROM keep)::bigint / 86400 FROM "
            "metric_tier WHERE keep IS NOT NULL ORDER BY tier") == [
            ["1h", "1095"], ["1h_long", "2000"], ["5m", "90"],
            ["raw", "10"], ["traps", "30"]])
        wait_for("partitions made ahead", lambda: one(
            pg, "SELECT count(*) FROM metric_partition WHERE tier = "
            "'incoming' AND hi > now() + interval '2 hours 50 minutes'")
            != "0")
        conf = os.path.join(work, "monitord.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(monitord_yaml())
        mon = harness.Daemon("monitord", ["-f", conf], env,
                             os.path.join(work, "monitord.log")).start()
        clean.add(mon.kill)
        log("monitord's samples land in the partition of their time")
        wait_for("samples from monitord", lambda: int(one(
            pg, "SELECT count(*) FROM metric_incoming WHERE host = "
            "'kikan-sw01'")) >= 3, timeout=30)
        assert one(pg, "SELECT count(*) FROM metric_incoming_late") == "0"
        record(pg, 1, HOST, CHECK, "OK", "WARNING", segment="finance")
        op = Client(base, "sato")
        series = check_history(pg, op)
        check_api(op)
        check_late(pg, op, series)
        check_retention(pg, env)
        check_status(env)
        check_long(pg)
        check_conf_errors(work, env)
        assert mon.stop() == 0 and inc.alive(), inc.log()[-3000:]
        steps = [line for line in inc.log().splitlines()
                 if "metric store:" in line]
        print("\n".join(steps[:12]))
        assert any("folded" in line for line in steps) and not any(
            "upkeep" in line for line in steps), steps
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
