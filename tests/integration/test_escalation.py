"""Escalation: who is told when nobody acknowledges an incident.

The duty operator (当番) is told at once; the section chief (係長) only if
the incident is still unacknowledged 3 s after its first message, the
manager (課長) after 6 s, and only for priority 1 and 2.  Asserted with a
real PostgreSQL, incidentd and SMTP sink: the order and timing of the
messages, that an acknowledgement stops the escalation, that the recovery
goes to everyone who was told of the fault and to nobody else, and the
config errors.
"""

import json
import os
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run, wait_for  # noqa: E402

CONF = """\
instance: incidentd-esc
log_level: debug
poll_interval: 200ms
smtp:
  url: smtp://127.0.0.1:%d
  from: kanshi@city.example.jp
  timeout: 5s
lifecycle:
  reopen_window: 0s
notify:
  group_window: 0s
  remind_after: 0s
  retry_min: 1s
  retry_max: 1s
contacts:
  - name: 当番
    email: toban@city.example.jp
  - name: 係長
    email: kakaricho@city.example.jp
  - name: 課長
    email: kacho@city.example.jp
escalation:
  priorities: [P1, P2]
  levels:
    - after: 3s
      contacts: [係長]
    - after: 6s
      contacts: [課長]
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def told(sink):
    """(recipient, subject, arrival order) of every mail so far."""
    return sorted((m["To"], harness.subject_of(m)) for m in sink.messages())


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-esc.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        log("config errors name file:line:column")
        bad = os.path.join(work, "bad.yaml")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("contacts:\n  - name: a\n    sms: 090-1111-2222\n"
                    "sms:\n  spool: /var/spool/sms/outgoing\n"
                    "escalation:\n  priorities: [P9]\n  levels:\n"
                    "    - after: 10m\n      contacts: [a, b]\n"
                    "    - after: 5m\n      contacts: [a]\n")
        rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
        assert rc == 1, err
        for want in (":7:16: a priority is 1-5 (or P1-P5)",
                     ":10:21: no contact named 'b'",
                     ":11:14: each level must come later than the one "
                     "before",
                     ":12:18: contact 'a' is in two levels"):
            assert bad + want in err, (want, err)

        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        run([harness.binary("incidentctl"), "migrate"], env=env,
            check=True)
        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % sink.port)
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)
        ctl = [harness.binary("incidentctl")]
        seq = [0]

        def change(check, old, new):
            seq[0] += 1
            c = [dict(seq=seq[0], host="juki-db01", check=check,
                      kind="tcp", segment="core", old=old, new=new,
                      output="TCP " + new,
                      observed=one(pg, "SELECT now()::text"))]
            pg.query("SELECT monitord_record_changes('esc-test', '%s')"
                     % json.dumps(c))

        log("a P1 nobody takes: 当番 at once, 係長 at 3 s, 課長 at 6 s")
        change("tcp/5432", "OK", "CRITICAL")
        wait_for("the incident", lambda: one(
            pg, "SELECT count(*) FROM incident") == "1")
        run(ctl + ["set", "1", "--set", "impact=1", "--set", "urgency=1"],
            env=env, check=True)
        t0 = time.monotonic()
        wait_for("当番 told", lambda: len(sink.messages()) == 1)
        assert told(sink) == [("toban@city.example.jp",
                                "【障害発生】INC-000001 CRITICAL juki-db01 "
                                "tcp/5432（基幹系）")], told(sink)
        wait_for("係長 told", lambda: len(sink.messages()) == 2, timeout=10)
        t1 = time.monotonic() - t0
        wait_for("課長 told", lambda: len(sink.messages()) == 3, timeout=10)
        t2 = time.monotonic() - t0
        log("escalated after %.1f s and %.1f s" % (t1, t2))
        assert 2.0 <= t1 < 5.5 and 5.0 <= t2 < 8.5, (t1, t2)
        esc = dict((to, s) for to, s in told(sink) if to != "toban@city."
                   "example.jp")
        assert esc == {
            "kakaricho@city.example.jp": "【エスカレーション】INC-000001 "
            "CRITICAL juki-db01 tcp/5432（基幹系）",
            "kacho@city.example.jp": "【エスカレーション】INC-000001 "
            "CRITICAL juki-db01 tcp/5432（基幹系）"}, esc
        assert [m["Message-ID"] for m in sink.messages()
                if m["To"] == "kacho@city.example.jp"] == [
            "<INC-000001.escalated.2@incidentd.invalid>"]

        log("a P2 acknowledged in time is not escalated")
        change("tcp/1521", "OK", "CRITICAL")
        wait_for("the second incident", lambda: one(
            pg, "SELECT count(*) FROM incident") == "2")
        run(ctl + ["set", "2", "--set", "impact=2", "--set", "urgency=1"],
            env=env, check=True)
        run(ctl + ["ack", "2"], env=env, check=True)
        wait_for("当番 told of it", lambda: len(sink.messages()) == 4)
        time.sleep(4)
        assert len(sink.messages()) == 4, told(sink)

        log("an incident of unknown priority is not escalated either")
        change("tcp/22", "OK", "CRITICAL")
        wait_for("当番 told of it", lambda: len(sink.messages()) == 5)
        time.sleep(4)
        assert len(sink.messages()) == 5, told(sink)

        log("recoveries go to whoever was told of the fault")
        change("tcp/5432", "CRITICAL", "OK")
        change("tcp/1521", "CRITICAL", "OK")
        wait_for("four recovery mails", lambda: len(sink.messages()) == 9)
        rec = sorted(to for to, s in told(sink) if s.startswith("【復旧】"))
        assert rec == ["kacho@city.example.jp", "kakaricho@city.example.jp",
                       "toban@city.example.jp", "toban@city.example.jp"], \
            told(sink)
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
