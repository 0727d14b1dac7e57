"""The console end to end in a real browser, over HTTPS.

PostgreSQL, incidentd with a certificate of its own, and the accounts of
tests/lib/console.py; a few hosts recorded as monitord records them, and
an hour of disk use for graphs.  tests/e2e/console.cjs drives Debian's
Chromium with playwright-core (what it asserts is said there); when it
asks, this test records the fault, then its recovery.  Afterwards the
database must hold what the browser did: the incident closed by the
administrator after every phase, acknowledged by the operator, the
window scheduled, every change in api_change.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import console  # noqa: E402
import harness  # noqa: E402
from console import one, record  # noqa: E402
from harness import log, wait_for  # noqa: E402

CHROMIUM_BINARY = "/usr/lib/chromium/chromium"


def modules():
    """The node_modules holding playwright-core (devenv.sh installs it)."""
    for d in (os.environ.get("MONITORD_E2E_MODULES"),
              os.path.join(harness.SRCDIR, ".e2e", "node_modules")):
        if d and os.path.isdir(os.path.join(d, "playwright-core")):
            return d
    raise RuntimeError("playwright-core is not installed: run "
                       "tests/lib/devenv.sh test, or set "
                       "MONITORD_E2E_MODULES to a node_modules holding it")


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-console.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = node = None
    try:
        mods = modules()
        if not os.access(CHROMIUM_BINARY, os.X_OK):
            raise RuntimeError("Chromium is needed (apt-get install "
                               "chromium)")
        pg, env, inc, base, _ = console.start(clean, work, tls=True)
        t0 = time.strftime("%Y-%m-%d %H:%M:%S+00",
                           time.gmtime(time.time() - 600))
        for seq, (host, check, seg, new, extra) in enumerate((
                ("mado-sw01", "ping", "lgwan", "OK", {}),
                ("juki-ap01", "tcp/80", "core", "OK", {}),
                ("zaimu-db01", "disk", "finance", "OK", {}),
                ("zaimu-db01", "tcp/5432", "finance", "OK", {}),
                ("core-rt01", "ping", "core", "CRITICAL",
                 {"host_state": "DOWN"}),
                ("joho-ap01", "ping", "information", "CRITICAL",
                 {"host_state": "UNREACHABLE", "root": "core-rt01"})), 1):
            record(pg, seq, host, check, "PENDING", new, segment=seg,
                   observed=t0, **extra)
        wait_for("the router's incident", lambda: one(
            pg, "SELECT count(*) FROM incident") == "1")
        console.disk_samples(pg, "zaimu-db01")

        artifacts = harness.artifact("console")
        shutil.rmtree(artifacts, ignore_errors=True)
        os.makedirs(artifacts)
        log("the browser's part (screenshots in %s)" % artifacts)
        node = subprocess.Popen(
            ["node", os.path.join(harness.SRCDIR, "tests", "e2e",
                                  "console.cjs")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, BASE=base, MODULES=mods,
                     CHROMIUM=CHROMIUM_BINARY, ARTIFACTS=artifacts,
                     FENCE=json.dumps(["--headless=new"] +
                                      harness.CHROMIUM_FENCE),
                     USERS=json.dumps({u: p for u, (_, p) in
                                       console.USERS.items()})))
        deadline = time.monotonic() + 600
        for line in node.stdout:
            line = line.rstrip("\n")
            print(line, flush=True)
            if line == "CMD fault":
                record(pg, 10, "zaimu-db01", "tcp/5432", "OK", "CRITICAL",
                       segment="finance")
            elif line == "CMD recover":
                record(pg, 11, "zaimu-db01", "tcp/5432", "CRITICAL", "OK",
                       segment="finance")
                wait_for("the recovery applied", lambda: one(
                    pg, "SELECT status FROM incident WHERE host = "
                    "'zaimu-db01'") == "recovered")
            elif line.startswith("CMD "):
                node.stdin.write("unknown command\n")
                node.stdin.flush()
                continue
            else:
                continue
            node.stdin.write("ok\n")
            node.stdin.flush()
            assert time.monotonic() < deadline, "the browser took too long"
        rc = node.wait(timeout=60)
        assert rc == 0, "the browser's part failed (exit %d)" % rc

        log("the database holds what the browser did")
        row = pg.query("SELECT phase, acknowledged_by, recovered_at IS NOT "
                       "NULL FROM incident WHERE host = 'zaimu-db01'")
        assert row == [["closed", "sato", "t"]], row
        moves = pg.query("SELECT t.actor, t.to_phase FROM "
                         "incident_transition t JOIN incident i ON i.id = "
                         "t.incident_id WHERE i.host = 'zaimu-db01' AND "
                         "t.from_phase <> t.to_phase ORDER BY t.id")
        assert moves == [["sato", p] for p in (
            "isolation", "impact", "recovery", "record", "permanent_fix",
            "manual_update")] + [["kanri", "closed"]], moves
        assert one(pg, "SELECT count(*) FROM downtime_window WHERE source "
                   "= 'console' AND name = '財務DB 定期パッチ'") == "1"
        assert one(pg, "SELECT count(*) FROM api_change WHERE actor = "
                   "'sato' AND op = 'ack'") == "1"
        shots = sorted(os.listdir(artifacts))
        assert len(shots) == 11 and all(
            os.path.getsize(os.path.join(artifacts, s)) > 10000
            for s in shots), shots
        assert inc.alive(), "incidentd is still up"
        log("ok")
        return 0
    except Exception:
        traceback.print_exc()
        if inc is not None:
            print("----- incidentd log -----")
            print(inc.log()[-6000:])
        return 1
    finally:
        if node is not None and node.poll() is None:
            node.kill()
            node.wait()
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
