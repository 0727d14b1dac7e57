"""No notification is lost when incidentd is killed with SIGKILL mid-send.

A burst of 40 faults queues 40 mails and 40 SMS; incidentd is killed -9
once the first mails have arrived, while others are in flight, and
started again.  Every outbox row must end up sent, and every row must
have reached the SMTP sink or the spool at least once: a message may be
repeated (the rows that were being sent are sent again once their lease
runs out, and their Message-ID shows it), never dropped.
"""

import json
import os
import shutil
import signal
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run, wait_for  # noqa: E402

N = 40

CONF = """\
instance: incidentd-crash
log_level: info
poll_interval: 300ms
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  from: kanshi@city.example.jp
  timeout: 3s
sms:
  spool: %(spool)s
lifecycle:
  reopen_window: 0s
notify:
  group_window: 0s
  retry_min: 1s
  retry_max: 2s
contacts:
  - name: 当番
    email: toban@city.example.jp
    sms: 090-1234-5678
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-crash.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        run([harness.binary("incidentctl"), "migrate"], env=env,
            check=True)
        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        spool = os.path.join(work, "sms", "outgoing")
        os.makedirs(spool)
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % dict(smtp=sink.port, spool=spool))
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)

        log("%d faults at once; incidentd killed -9 while it sends" % N)
        changes = [dict(seq=i + 1, host="zaimu-ap%02d" % i, check="tcp/443",
                        kind="tcp", segment="finance", old="OK",
                        new="CRITICAL", output="refused",
                        observed="2026-11-27 10:00+09") for i in range(N)]
        pg.query("SELECT monitord_record_changes('crash-test', '%s')"
                 % json.dumps(changes))
        wait_for("the first mails", lambda: len(sink.messages()) >= 3,
                 timeout=30, interval=0.01)
        inc.proc.send_signal(signal.SIGKILL)
        inc.proc.wait()
        at_kill = len(sink.messages())
        states = dict(pg.query("SELECT status, count(*) FROM notification "
                               "GROUP BY 1"))
        log("at the kill: %d mails in the sink; rows %s" % (at_kill, states))
        assert states.get("sent", "0") != str(2 * N), \
            "everything was sent before the kill; nothing was tested"

        log("started again: every row is sent, after the leases run out")
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd2.log")).start()
        clean.add(inc.kill)
        wait_for("every row sent", lambda: one(
            pg, "SELECT count(*) FROM notification WHERE status = "
            "'sent'") == str(2 * N), timeout=150)
        ids = set(m["Message-ID"] for m in sink.messages())
        want = set("<INC-%06d.opened@incidentd.invalid>" % (i + 1)
                   for i in range(N))
        assert want <= ids, sorted(want - ids)
        files = set(os.listdir(spool))
        rows = set("incidentd-" + r[0] for r in pg.query(
            "SELECT id FROM notification WHERE channel = 'sms'"))
        assert rows <= files, sorted(rows - files)
        log("%d mails for %d messages (repeats allowed, never a loss)"
            % (len(sink.messages()), N))
        assert inc.stop() == 0
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        if inc is not None:
            print("----- incidentd log -----\n%s" % inc.log()[-20000:])
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
