"""incidentd active and standby: one sends, the other takes over.

Two incidentd run against one database.  One takes the active lock and the
other waits.  The active one is killed with SIGKILL between faults, later
the other is stopped cleanly; each time the waiting one takes over within a
few seconds, and every fault and recovery is mailed exactly once, whoever
was active.
"""

import os
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, wait_for  # noqa: E402
from test_outage import HOSTS, incidentd_yaml, monitord_yaml, write  # noqa

FAULT, RECOVERED = "【障害発生】", "【復旧】"


def main():
    clean, work, pg = harness.test_setup("/tmp/monitord-standby.")
    env = pg.env()
    try:
        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        port = harness.free_port(HOSTS["kiban-ap11"])
        svc = {}
        for name in HOSTS:
            svc[name] = harness.TcpListener(HOSTS[name], port).start()
            clean.add(lambda s=svc, n=name: s[n].stop())
        mconf = write(os.path.join(work, "monitord.yaml"), monitord_yaml(
            port, os.path.join(work, "j", "journal"), "1MiB").replace(
            "monitord-outage", "monitord-standby"))
        os.makedirs(os.path.join(work, "j"))
        mon = harness.Daemon("monitord", ["-f", mconf], env,
                             os.path.join(work, "monitord.log")).start()
        clean.add(mon.kill)
        inc = {}

        def start(name):
            conf = write(os.path.join(work, name + ".yaml"),
                         incidentd_yaml(sink.port).replace(
                             "incidentd-outage", name))
            inc[name] = harness.Daemon("incidentd", ["-f", conf], env,
                                       os.path.join(work, name + ".log"))
            inc[name].start()
            clean.add(inc[name].kill)

        def active():
            """The names of the incidentd that said they are active, last
            word counted."""
            out = []
            for name, d in inc.items():
                if d.proc is None:
                    continue
                said = [ln for ln in d.log().splitlines()
                        if "active: ingesting" in ln or "standby:" in ln]
                if said and "active: ingesting" in said[-1]:
                    out.append(name)
            return out

        def count(prefix, host):
            return sum(1 for m in sink.messages()
                       if harness.subject_of(m).startswith(prefix) and
                       (" %s " % host) in harness.subject_of(m))

        log("two incidentd: one active, one standby")
        start("incidentd-a")
        wait_for("incidentd-a active", lambda: active() == ["incidentd-a"])
        start("incidentd-b")
        wait_for("incidentd-b standing by", lambda: "standby:" in
                 inc["incidentd-b"].log())
        assert active() == ["incidentd-a"], active()
        holder = pg.query("SELECT incidentd_active_pid() IS NOT NULL")
        assert holder == [["t"]], holder

        log("a fault: one incident, one mail")
        svc["kiban-ap11"].stop()
        wait_for("the fault mailed", lambda: count(FAULT, "kiban-ap11")
                 == 1)

        log("the active incidentd is killed -9: the standby takes over")
        inc["incidentd-a"].kill()
        wait_for("incidentd-b active", lambda: active() == ["incidentd-b"],
                 timeout=10)
        log("a recovery and a new fault while incidentd-b is active")
        svc["kiban-ap11"] = harness.TcpListener(HOSTS["kiban-ap11"],
                                                port).start()
        svc["kiban-ap12"].stop()
        wait_for("both mailed", lambda: (
            count(RECOVERED, "kiban-ap11"), count(FAULT, "kiban-ap12"))
            == (1, 1))

        log("incidentd-a comes back as standby; incidentd-b stops cleanly")
        start("incidentd-a")
        wait_for("incidentd-a standing by", lambda: "standby:" in
                 inc["incidentd-a"].log().split("started as")[-1])
        assert inc["incidentd-b"].stop() == 0
        wait_for("incidentd-a active again",
                 lambda: active() == ["incidentd-a"], timeout=10)
        svc["kiban-ap12"] = harness.TcpListener(HOSTS["kiban-ap12"],
                                                port).start()
        wait_for("the last recovery mailed",
                 lambda: count(RECOVERED, "kiban-ap12") == 1)

        log("every event mailed exactly once")
        wait_for("every notification sent", lambda: pg.query(
            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) "
            "FROM notification") == [["4", "4"]])
        time.sleep(2)
        counts = (count(FAULT, "kiban-ap11"), count(RECOVERED, "kiban-ap11"),
                  count(FAULT, "kiban-ap12"), count(RECOVERED, "kiban-ap12"))
        assert counts == (1, 1, 1, 1), counts
        assert len(sink.messages()) == 4, len(sink.messages())
        incidents = pg.query("SELECT host, status FROM incident ORDER BY id")
        assert incidents == [["kiban-ap11", "recovered"],
                             ["kiban-ap12", "recovered"]], incidents
        assert inc["incidentd-a"].stop() == 0
        assert mon.stop() == 0
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        for name in ("monitord.log", "incidentd-a.log", "incidentd-b.log"):
            path = os.path.join(work, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    sys.stderr.write("--- %s (tail)\n%s\n" % (
                        name, "".join(f.readlines()[-40:])))
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
