"""The command lines: config checks with file:line:column errors, and
incidentctl against a real PostgreSQL (migrate, version, list, show, --json,
bad arguments)."""

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

SAMPLE = os.path.join(harness.SRCDIR, "conf")


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def expect(args, code, out=None, err=None, env=None):
    """Runs a command; asserts its exit code and what it printed."""
    rc, so, se = run(args, env=env)
    assert rc == code, "%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
        " ".join(args), rc, code, so, se)
    for want, got, name in ((out, so, "stdout"), (err, se, "stderr")):
        for w in ([want] if isinstance(want, str) else want or []):
            assert w in got, "%s: %s lacks %r:\n%s" % (" ".join(args), name,
                                                        w, got)
    return so


def test_units(work):
    log("the systemd units: this build's paths, valid, sandboxed")
    for name, user in (("monitord", None), ("incidentd", "incidentd")):
        path = os.path.join(harness.BUILDDIR, "conf", "systemd",
                            name + ".service")
        with open(path, encoding="utf-8") as f:
            unit = f.read()
        assert "@" not in unit.replace("@system-service", "").replace(
            "@privileged", ""), unit
        assert "NoNewPrivileges=yes" in unit and \
            "ProtectSystem=strict" in unit, unit
        assert (user is None) == ("User=" not in unit), unit
        # verify needs the programs where the unit says: this build's
        exe = harness.binary(name)
        test = write(os.path.join(work, name + ".service"), "\n".join(
            (line.split("=", 1)[0] + "=" + exe + " " +
             line.split(" ", 1)[1]) if line.startswith("ExecStart")
            else line for line in unit.splitlines()) + "\n")
        expect(["systemd-analyze", "verify", "--man=no", test], 0)
        # the overall exposure, 0 (none) to 10: at most 3
        expect(["systemd-analyze", "security", "--offline=yes",
                "--threshold=30", test], 0)
    log("the sysusers.d file makes incidentd's user")
    root = os.path.join(work, "root")
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(harness.SRCDIR, "conf", "sysusers.d",
                           "monitord.conf")) as f:
        rc, _, err = run(["systemd-sysusers", "--root=" + root, "-"],
                         input=f.read())
    assert rc == 0, err
    with open(os.path.join(root, "etc", "passwd")) as f:
        assert any(line.startswith("incidentd:") for line in f), \
            "no incidentd in the passwd sysusers wrote"


def test_config_checks(work):
    mon, inc = harness.binary("monitord"), harness.binary("incidentd")
    log("the sample configs pass their checks, once private")
    with open(os.path.join(SAMPLE, "monitord.yaml"), encoding="utf-8") as f:
        sample = f.read()
    private = write(os.path.join(work, "monitord.yaml"), sample)
    os.chmod(private, 0o600)
    expect([mon, "-n", "-f", private], 0, out="OK, 13 hosts")
    expect([inc, "-n", "-f", os.path.join(SAMPLE, "incidentd.yaml")], 0,
           out="OK, 2 contacts")
    out = expect([mon, "-n", "-v", "-f", private], 0)
    log("a config with credentials that any user can read is refused")
    shared = write(os.path.join(work, "shared.yaml"), sample)
    os.chmod(shared, 0o644)
    expect([mon, "-n", "-f", shared], 1,
           err="shared.yaml:26:22: an SNMPv3 password in a file that any "
           "user can read (mode 0644): chmod o-r ")
    warned = write(os.path.join(work, "warned.yaml"),
                   "readable_secrets: warn\n" + sample)
    os.chmod(warned, 0o644)
    expect([mon, "-n", "-f", warned], 0, out="OK, 13 hosts",
           err="warned.yaml:27:22: an SNMPv3 password in a file that any "
           "user can read (mode 0644); readable_secrets: warn lets it pass")
    inc_text = open(os.path.join(SAMPLE, "incidentd.yaml"),
                    encoding="utf-8").read()
    inc_shared = write(os.path.join(work, "inc-shared.yaml"), inc_text +
                       "ack:\n  url: http://127.0.0.1:8026/\n"
                       "  secret: 0123456789abcdef0123456789abcdef\n")
    os.chmod(inc_shared, 0o644)
    expect([inc, "-n", "-f", inc_shared], 1,
           err="the ack secret in a file that any user can read")
    assert "juki-ap01\t127.10.1.11\tcore\ttcp/18443\ttcp\t18443" in out, out

    log("a broken monitord.yaml: every error with file:line:column, exit 1")
    bad = write(os.path.join(work, "bad-monitord.yaml"),
                "hosts:\n"
                "  - name: juki-ap01\n"
                "    address: 127.10.1.11\n"
                "    segment: kikan\n"
                "    checks:\n"
                "      - type: tcp\n"
                "        port: 99999\n"
                "        intervall: 10s\n")
    expect([mon, "-n", "-f", bad], 1, err=[
        bad + ":4:14: 'segment' must be one of core, information, finance, "
        "other, not 'kikan'",
        bad + ":8:9: unknown key 'intervall' in a tcp check",
        bad + ":7:15: 'port' must be between 1 and 65535, not 99999",
        "3 errors"])
    expect([mon, "-n", "-f", os.path.join(work, "missing.yaml")], 1,
           err="missing.yaml:1:1: cannot open: No such file or directory")
    badconn = write(os.path.join(work, "badconn.yaml"),
                    "database: \"hots=db01 dbname=incidentd\"\nhosts: []\n")
    expect([mon, "-n", "-f", badconn], 1, err=badconn + ":1:11: 'database' "
           "is not a valid libpq connection string: invalid connection "
           "option \"hots\"")
    broken = write(os.path.join(work, "broken.yaml"), "hosts: [\n")
    expect([mon, "-n", "-f", broken], 1, err=broken + ":2:1: YAML syntax "
           "error")

    log("a broken incidentd.yaml likewise")
    bad = write(os.path.join(work, "bad-incidentd.yaml"),
                "smtp:\n"
                "  url: http://127.0.0.1:25\n"
                "  from: kanshi\n"
                "contacts:\n"
                "  - name: 当番\n"
                "    email: toban@city.example.jp\n"
                "    lang: fr\n"
                "timezone: Asia/Edo\n")
    expect([inc, "-n", "-f", bad], 1, err=[
        bad + ":8:11: unknown time zone 'Asia/Edo'",
        bad + ":2:8: smtp url must start with smtp:// or smtps://",
        bad + ":3:9: 'kanshi' is not a mail address",
        bad + ":7:11: 'lang' must be one of ja, en, not 'fr'"])

    log("a broken service map and lifecycle, in file order")
    bad = write(os.path.join(work, "bad-services.yaml"),
                "lifecycle:\n"
                "  reopen_window: soon\n"
                "  extra: 1\n"
                "services:\n"
                "  - name: juki\n"
                "    operator: vendor\n"
                "    impact: huge\n"
                "    depends: [\"/x\", \"h/\", juki-ap01]\n"
                "    departments: [\"\"]\n"
                "  - name: juki\n"
                "  - title: no name\n")
    _, _, err = run([inc, "-n", "-f", bad])
    want = [bad + ":2:18: 'reopen_window' must be a duration",
            bad + ":3:3: unknown key 'extra' in lifecycle",
            bad + ":6:15: 'operator' must be one of in-house, outsourcer, "
            "not 'vendor'",
            bad + ":7:13: 'impact' must be one of high, medium, low, not "
            "'huge'",
            bad + ":8:15: dependency '/x' must be a host or host/check",
            bad + ":8:21: dependency 'h/' must be a host or host/check",
            bad + ":9:19: a department is empty",
            bad + ":10:11: service 'juki' is defined twice",
            bad + ":11:5: missing required key 'name'"]
    pos = [err.find(w) for w in want]
    assert all(p >= 0 for p in pos) and pos == sorted(pos), err

    log("a one-shot sweep of a list, and a list with a bad line")
    lst = write(os.path.join(work, "list.txt"),
                "# the sweep list\n127.0.0.1\n\n127.0.0.2  # a comment\n"
                "::1\n")
    out = expect([mon, "-S", lst, "-v"], 0, out=[
        "127.0.0.1 alive", "127.0.0.2 alive", "::1 alive",
        "sweep: 3 targets, 3 alive, 0 unreachable, 0 errors"])
    bad = write(os.path.join(work, "badlist.txt"), "127.0.0.1\nrouter1\n")
    expect([mon, "-S", bad], 1, err=bad + ":2:1: 'router1' is not an IPv4 "
           "or IPv6 address")
    expect([mon, "-S", lst, "-c", "0"], 2, err="usage: monitord")

    log("bad arguments exit 2 with usage")
    expect([mon, "-x"], 2, err="usage: monitord")
    expect([mon, "extra"], 2, err="usage: monitord")
    expect([inc, "-q"], 2, err="usage: incidentd")


def test_incidentctl(work):
    ctl = harness.binary("incidentctl")
    pg = harness.Postgres(os.path.join(work, "pg")).start()
    try:
        env = pg.env()
        log("incidentctl migrate creates the schema, and again does nothing")
        sqls = sorted(f[:-4] for f in os.listdir(os.path.join(
            harness.SRCDIR, "sql")) if f.endswith(".sql"))
        mods = sorted(f[:-4] for f in os.listdir(os.path.join(
            harness.SRCDIR, "sql", "func")) if f.endswith(".sql"))
        latest = len(sqls)
        expect([ctl, "migrate"], 0, out=["applied " + n for n in sqls] +
               ["applied func/%s.sql" % m for m in mods] +
               ["schema version %d (latest %d), %d function modules (%d "
                "applied)" % (latest, latest, len(mods), len(mods))],
               env=env)
        expect([ctl, "migrate"], 0, out="schema version %d (latest %d), %d "
               "function modules (0 applied)" % (latest, latest, len(mods)),
               env=env)
        assert pg.query("SELECT version, name FROM schema_version "
                        "ORDER BY version") == [
            [str(i + 1), n] for i, n in enumerate(sqls)]
        expect([ctl, "version"], 0, out="database schema version %d"
               % latest, env=env)

        log("-d overrides the environment; a dead server is a clear error")
        expect([ctl, "-d", "host=127.0.0.1 port=%d dbname=incidentd "
                "user=root" % pg.port, "list"], 0, out="no incidents")
        expect([ctl, "-d", "host=127.0.0.1 port=%d connect_timeout=3"
                % harness.free_port(), "list"], 1,
               err="cannot connect to the database")

        log("list and show, as tables and as JSON")
        pg.query("SELECT monitord_record_change('m', 1, 'zaimu-ap01', "
                 "'tcp/18443', 'tcp', 'finance', 'OK', 'CRITICAL', "
                 "'TCP CRITICAL - connection refused', now())")
        pg.query("SELECT incident_ingest('incidentd', "
                 "'[{\"email\": \"toban@city.example.jp\", \"name\": "
                 "\"当番\", \"lang\": \"ja\"}]')")
        assert pg.query("SELECT incident_ingest('renamed', '[]')") == [
            ["0"]], "a renamed incidentd applied history again"
        out = expect([ctl, "list"], 0, out=["REF", "INC-000001", "open",
                                            "zaimu-ap01", "finance"],
                     env=env)
        rows = json.loads(expect([ctl, "list", "--json"], 0, env=env))
        assert rows[0]["ref"] == "INC-000001" and \
            rows[0]["severity"] == "CRITICAL", rows
        expect([ctl, "show", "INC-000001"], 0, out=[
            "%-22s %s" % ("reference", "INC-000001"),
            "%-22s %s" % ("host", "zaimu-ap01"),
            "%-22s %s" % ("phase", "detection (障害検知)"),
            "opened  detection  -- detected by m",
            "#1 opened email to toban@city.example.jp: pending"], env=env)
        detail = json.loads(expect([ctl, "show", "1", "--json"], 0,
                                   env=env))
        assert detail["id"] == 1 and detail["status"] == "open", detail
        assert detail["history"][0]["what"] == "opened", detail
        assert detail["notifications"][0]["recipient"] == \
            "toban@city.example.jp", detail

        log("bad arguments and missing incidents are clear errors")
        expect([ctl, "show", "INC-000009"], 5, err="no incident INC-000009",
               env=env)
        expect([ctl, "show", "nine"], 2, err="'nine' is not a number or a "
               "reference (INC-000123)", env=env)
        expect([ctl, "list", "--limit", "x"], 2, err="--limit needs",
               env=env)
        expect([ctl, "frobnicate"], 2, err="unknown command", env=env)
        expect([ctl], 2, err="usage: incidentctl", env=env)

        log("a database at version 1 is brought to the latest")
        pg.psql("postgres", "CREATE DATABASE upgrade OWNER root")
        with open(os.path.join(harness.SRCDIR, "sql",
                               "001_foundation.sql")) as f:
            pg.psql("upgrade", f.read())
        pg.psql("upgrade", "CREATE TABLE schema_version (version integer "
                "PRIMARY KEY, name text NOT NULL, applied_at timestamptz "
                "NOT NULL DEFAULT now()); INSERT INTO schema_version "
                "VALUES (1, '001_foundation')")
        out = expect([ctl, "-d", pg.conninfo().replace(
            "dbname=incidentd", "dbname=upgrade"), "migrate"], 0,
            out=["applied 002_batched_changes",
                 "schema version %d" % latest])
        assert "001" not in out, out

        log("a database newer than incidentctl is refused")
        pg.query("INSERT INTO schema_version VALUES (999, '999_future')")
        expect([ctl, "migrate"], 1, err="newer than this incidentctl",
               env=env)
    finally:
        pg.stop()


def test_man_pages():
    """Every config key the loaders know and every option of the daemons
    is in the manual."""
    log("the manual names every config key and every option")
    for conf, page in (("monitord", "doc/monitord.yaml.5"),
                       ("incidentd", "doc/incidentd.yaml.5")):
        # the loader and its parts by section (conf_*.c)
        src = ""
        for path in sorted(glob.glob(os.path.join(harness.SRCDIR, conf,
                                                  "conf*.c"))):
            with open(path) as f:
                src += f.read()
        with open(os.path.join(harness.SRCDIR, page)) as f:
            doc = f.read()
        keys = set()
        for m in re.finditer(r"(?:static )?const char \*const (\w*keys)"
                             r"\[\] = \{(.*?)\};", src, re.S):
            keys.update(re.findall(r'"([a-z_0-9]+)"', m.group(2)))
        assert len(keys) > 50, (conf, keys)
        missing = sorted(k for k in keys if not re.search(
            r"\bIc (?:[a-z_0-9]+\.)*%s\b" % k, doc))
        assert missing == [], "%s lacks %s" % (page, missing)
    for main_c, page in (("monitord/main.c", "doc/monitord.8"),
                         ("incidentd/main.c", "doc/incidentd.8")):
        with open(os.path.join(harness.SRCDIR, main_c)) as f:
            opts = re.search(r'getopt\(argc, argv, "([^"]+)"\)',
                             f.read()).group(1).replace(":", "")
        with open(os.path.join(harness.SRCDIR, page)) as f:
            doc = f.read()
        missing = [o for o in opts if not re.search(
            r"^\.It Fl %s\b" % o, doc, re.M)]
        assert missing == [], "%s lacks options %s" % (page, missing)


def main():
    work = harness.make_workdir("/tmp/monitord-cli.")
    try:
        test_man_pages()
        test_units(work)
        test_config_checks(work)
        test_incidentctl(work)
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
