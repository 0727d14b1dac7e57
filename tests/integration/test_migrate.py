"""The schema, upgraded: databases of schema version 15 with data become what
a fresh install is.

Every SQL function lives once in sql/func/ and no name carries a migration's
number.  Five databases that the build of schema version 15 made and filled
(tests/fixtures/schema15: incidents in every phase, notifications in every
state, the kept SLA figures of October and its closed versions, users,
duty rosters, holidays, maintenance windows) are upgraded with today's
incidentctl migrate and compared with a fresh install: every function's
definition, every trigger, every table, column, constraint, index, view and
type, and the reference rows.  Their own rows are all still there, and
October's SLA report is the same before and after the upgrade.  A second
migrate applies nothing, and a changed module is applied again.
"""

import glob
import json
import os
import re
import shutil
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run  # noqa: E402

FIXTURES = os.path.join(harness.SRCDIR, "tests", "fixtures", "schema15")
NAMES = ("lifecycle", "sla", "api", "duty", "maintenance")

# What the database says of its schema, object by object, to compare.
CATALOG = {
    "functions": "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) "
                 "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace",
    "triggers": "SELECT tgrelid::regclass::text || ' ' || tgname, "
                "pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
    "columns": "SELECT table_name || '.' || lpad(ordinal_position::text, 3, "
               "'0'), concat_ws(' ', column_name, data_type, udt_name, "
               "is_nullable, column_default, is_generated, "
               "generation_expression) FROM information_schema.columns "
               "WHERE table_schema = 'public'",
    "constraints": "SELECT conrelid::regclass::text || ' ' || conname, "
                   "pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                   "connamespace = 'public'::regnamespace",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE "
               "schemaname = 'public'",
    "views": "SELECT viewname, definition FROM pg_views WHERE "
             "schemaname = 'public'",
    "types": "SELECT t.typname, string_agg(a.attname || ' ' || "
             "format_type(a.atttypid, a.atttypmod), ', ' ORDER BY "
             "a.attnum) FROM pg_type t JOIN pg_class c ON c.oid = "
             "t.typrelid AND c.relkind = 'c' JOIN pg_attribute a ON "
             "a.attrelid = c.oid WHERE t.typnamespace = "
             "'public'::regnamespace GROUP BY t.typname",
    "sequences": "SELECT sequencename, data_type::text FROM pg_sequences "
                 "WHERE schemaname = 'public'",
}
# What incidentd keeps of the SLA figures, and works out again when dropped.
KEPT = ("sla_day", "sla_incident", "sla_incident_month", "sla_month_breach",
        "sla_count_month")
# Rows that the migrations bring, the same in every database.
REFERENCE = ("lifecycle_phase", "lifecycle_role", "lifecycle_transition",
             "priority_matrix", "lifecycle_field", "lifecycle_requirement")


# What 019 brings: the metric store, and the traps partitioned.
METRIC_TABLES = {"metric_series", "metric_incoming", "metric_incoming_late",
                 "metric_raw", "metric_raw_late", "metric_5m",
                 "metric_5m_late", "metric_1h", "metric_1h_late",
                 "metric_1h_long", "metric_1h_long_late",
                 "metric_tier", "metric_partition", "metric_fold",
                 "metric_legacy", "trap_event_late"}


def check_metrics_folded(pg, db, before):
    """The samples of before the upgrade, folded by the store's upkeep,
    read the same (to the millisecond the store keeps); the traps too."""
    # moved to end two hours ago, so that every tier keeps them whatever
    # the day the test runs; some in the hour not yet folded
    pg.psql(db, "UPDATE metric_legacy SET ts = ts + (SELECT now() - "
            "interval '2 hours' - max(ts) FROM metric_legacy); "
            "INSERT INTO metric_legacy SELECT now() - interval '1 second', "
            "host, check_name, metric, 7 FROM metric_legacy LIMIT 1; "
            "UPDATE metric_fold SET legacy_next = (SELECT min(ts) FROM "
            "metric_legacy); CREATE TABLE metric_legacy_copy AS SELECT * "
            "FROM metric_legacy; CREATE TABLE trap_event_copy AS SELECT * "
            "FROM trap_event; INSERT INTO trap_event (source, received_at, "
            "sender, version, trap_oid) VALUES ('old', now() - interval "
            "'400 days', '127.0.0.1', 'v2c', '1.3.6.1.6.3.1.1.5.1')")
    legacy = pg.psql(db, "SELECT count(*), sum(value) FROM metric_legacy")
    for _ in range(200):
        if pg.psql(db, "SELECT metric_maintain() IS NULL").strip() == "t":
            break
    else:
        raise AssertionError("metric_maintain never ran out of work")
    assert pg.psql(db, "SELECT count(*) FROM metric_legacy").strip() == "0"
    assert pg.psql(db, "SELECT count(*), sum(value) FROM "
                   "metric_sample") == legacy, db
    assert rows(pg, db, "(SELECT host, check_name, metric, "
                "date_trunc('milliseconds', ts), value FROM metric_sample)") \
        == rows(pg, db, "(SELECT host, check_name, metric, "
                "date_trunc('milliseconds', ts), value FROM metric_legacy_"
                "copy)"), db
    # the traps kept, in their partitions; one of 400 days ago gone
    assert rows(pg, db, "trap_event") == rows(
        pg, db, "(SELECT * FROM trap_event_copy WHERE received_at >= now() - "
        "interval '365 days')"), db
    pg.psql(db, "DROP TABLE metric_legacy_copy, trap_event_copy")


def catalog(pg, db):
    out = {}
    for what, sql in CATALOG.items():
        out[what] = dict(line.split("\t", 1) for line in pg.psql(
            db, "SELECT replace(a, E'\\t', ' '), replace(replace(b, E'\\n', "
            "'<NL>'), E'\\t', '<TAB>') FROM (%s) AS x(a, b)" % sql)
            .splitlines())
    return out


def rows(pg, db, table):
    return pg.psql(db, "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY "
                   "x::text), '')), count(*) FROM %s x" % table).strip()


def tables(pg, db):
    return [t for t in pg.psql(db, "SELECT tablename FROM pg_tables WHERE "
                               "schemaname = 'public' ORDER BY 1").split()]


def migrate(pg, db):
    rc, out, err = run([harness.binary("incidentctl"), "-d", pg.conninfo()
                        .replace("dbname=incidentd", "dbname=" + db),
                        "migrate"])
    assert rc == 0, (db, out, err)
    return out


def check_sources():
    log("every function is defined once, in sql/func/, under its own name")
    seen = {}
    for path in sorted(glob.glob(os.path.join(harness.SRCDIR, "sql", "*.sql"))
                       + glob.glob(os.path.join(harness.SRCDIR, "sql", "func",
                                                "*.sql"))):
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"--[^\n]*", "", text)
        for name in re.findall(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+"
                               r"(\w+)", text, re.I):
            seen.setdefault(name, []).append(os.path.relpath(
                path, harness.SRCDIR))
    twice = {n: p for n, p in seen.items() if len(p) > 1}
    assert twice == {}, twice
    outside = {n: p for n, p in seen.items() if not p[0].startswith(
        "sql/func/")}
    assert outside == {}, outside
    numbered = [n for n in seen if re.search(r"_0\d\d$", n)]
    assert numbered == [], numbered
    assert len(seen) > 100, len(seen)

    log("one function moves incidents and writes their audit of moves")
    movers = {}
    for path in glob.glob(os.path.join(harness.SRCDIR, "sql", "func",
                                       "*.sql")):
        text = re.sub(r"--[^\n]*", "", open(path, encoding="utf-8").read())
        for m in re.finditer(r"FUNCTION\s+(\w+)\s*\((.*?)\n\$\$;", text,
                             re.S):
            body = m.group(2)
            if re.search(r"INSERT\s+INTO\s+incident_transition", body) or \
                    re.search(r"UPDATE\s+incident\s+SET[^;]*?[\s,]"
                              r"(status|phase)\s*=", body):
                movers[m.group(1)] = os.path.basename(path)
    assert movers == {"incident_move": "lifecycle.sql"}, movers


def compare(fresh, got, db):
    for what in CATALOG:
        a, b = fresh[what], got[what]
        assert a.keys() == b.keys(), (db, what, sorted(a.keys() ^ b.keys()))
        differ = [k for k in a if a[k] != b[k]]
        assert differ == [], (db, what, differ[:5],
                              [(a[k][:300], b[k][:300]) for k in differ[:2]])


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-migrate.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    try:
        check_sources()
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)

        log("a fresh install")
        out = migrate(pg, pg.dbname)
        assert "applied 018_functions" in out and \
            "applied func/sla.sql" in out, out
        fresh = catalog(pg, pg.dbname)
        assert "lifecycle_configure_notify(jsonb)" in fresh["functions"]
        assert not any(re.search(r"_0\d\d\(", k) for k in fresh["functions"])
        reference = {t: rows(pg, pg.dbname, t) for t in REFERENCE}
        # the holidays worked out by law are what the function says
        assert pg.query("SELECT count(*) FROM (SELECT day, name FROM "
                        "national_holiday WHERE by_law) h FULL JOIN (SELECT "
                        "l.* FROM generate_series(2028, 2099) y, "
                        "national_holidays_by_law(y) l) f USING (day, name) "
                        "WHERE h.day IS NULL OR f.day IS NULL") == [["0"]]
        by_law = rows(pg, pg.dbname,
                      "(SELECT * FROM national_holiday WHERE by_law)")
        assert migrate(pg, pg.dbname).endswith(
            "function modules (0 applied)\n")

        for name in NAMES:
            log("version 15's %s database, upgraded" % name)
            pg.psql("postgres", 'CREATE DATABASE "%s" OWNER root' % name,
                    user="postgres")
            for part in ("schema.sql", name + ".sql"):
                rc, out, err = run([os.path.join(harness.PGBIN, "psql"), "-X",
                                    "-q", "-v", "ON_ERROR_STOP=1", "-h",
                                    pg.sock, "-p", str(pg.port), "-U", "root",
                                    "-d", name, "-f", os.path.join(FIXTURES,
                                                                   part)])
                assert rc == 0, (part, err[-2000:])
            assert pg.psql(name, "SELECT max(version) FROM "
                           "schema_version").strip() == "15"
            before = {t: rows(pg, name, t) for t in tables(pg, name)}
            report = None
            if name == "sla":
                report = pg.psql(name, "SELECT sla_report('2026-10', "
                                 "'Asia/Tokyo', NULL, NULL, NULL, true)")
            out = migrate(pg, name)
            for step in ("016_sla_breach_month", "017_holidays_by_law",
                         "018_functions"):
                assert "applied " + step in out, out
            assert "001_foundation" not in out, out
            compare(fresh, catalog(pg, name), name)
            for t in REFERENCE:
                assert rows(pg, name, t) == reference[t], (name, t)
            assert rows(pg, name, "(SELECT * FROM national_holiday "
                        "WHERE by_law)") == by_law
            # its own rows are all there; what was kept of the SLA figures
            # went with the new rule (016) and the new holidays (017)
            # (metric_sample is a view over the new store now, which
            # reads the old rows where they are)
            after = {t: rows(pg, name, t) for t in before}
            changed = {t for t in before if before[t] != after[t]}
            assert changed <= {"schema_version", "national_holiday"} | \
                set(KEPT), (name, changed)
            assert set(tables(pg, name)) - set(before) == {
                "schema_module"} | METRIC_TABLES, name
            check_metrics_folded(pg, name, before)
            if report is not None:
                again = pg.psql(name, "SELECT sla_report('2026-10', "
                                "'Asia/Tokyo', NULL, NULL, NULL, true)")
                assert json.loads(again) == json.loads(report), \
                    "October's report changed in the upgrade"
                kept = pg.psql(name, "SELECT days FROM sla_refresh("
                               "'Asia/Tokyo', 100000, '2026-10-01', "
                               "'2026-10-31')")
                # each of the three agreements' 31 days, and October
                assert int(kept) == 3 * 31 + 3, kept
                again = pg.psql(name, "SELECT sla_report('2026-10', "
                                "'Asia/Tokyo', NULL, NULL, NULL, true)")
                assert json.loads(again) == json.loads(report), \
                    "October's report changed once kept again"
            assert migrate(pg, name).endswith("function modules "
                                              "(0 applied)\n")

        log("a function body that does not hold fails the migration whole")
        pg.psql(pg.dbname, "SET check_function_bodies = off; CREATE "
                "FUNCTION broken() RETURNS bigint LANGUAGE sql AS "
                "'SELECT count(*) FROM no_such_table'; UPDATE schema_module "
                "SET hash = 'x' WHERE name = 'calendar'")
        rc, out, err = run([harness.binary("incidentctl"), "-d",
                            pg.conninfo(), "migrate"])
        assert rc == 1 and "checking the functions" in err and \
            "no_such_table" in err, (rc, out, err)
        assert pg.query("SELECT hash FROM schema_module WHERE name = "
                        "'calendar'") == [["x"]], "not rolled back"
        pg.psql(pg.dbname, "DROP FUNCTION broken()")

        log("a module whose text changed is applied again, alone")
        out = migrate(pg, pg.dbname)
        assert "applied func/calendar.sql" in out and \
            "(1 applied)" in out and "func/sla.sql" not in out, out
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
