"""Maintenance windows silence notifications, never monitoring or records.

With a real PostgreSQL, incidentd and an SMTP sink; downtime windows are
published and state changes recorded the way monitord does (a change inside
a window carries the downtime's name).  Asserted:

1. a fault that starts inside a window opens its incident, sends nothing,
   and sends its "opened" mail once the window ends with the fault still
   there (saying so), then its "recovered" mail;
2. a fault that starts and ends inside a window sends nothing, then or
   later, though its incident is recorded;
3. a fault that started before a window and recovers inside it still sends
   its "recovered" mail: every started message has its ended one;
4. a window nobody published does not silence anything;
5. an unacknowledged P1 is reminded of every remind_after, at most
   remind_max times; an acknowledged one is not.
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
instance: incidentd-maint
log_level: debug
poll_interval: 300ms
smtp:
  url: smtp://127.0.0.1:%d
  from: kanshi@city.example.jp
  timeout: 5s
notify:
  group_window: 0s
  remind_after: 2s
  remind_max: 2
  retry_min: 1s
  retry_max: 1s
lifecycle:
  reopen_window: 0s
contacts:
  - name: 当番
    email: toban@city.example.jp
    lang: ja
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


class Monitor:
    """Writes what monitord writes: windows and state changes."""

    def __init__(self, pg):
        self.pg, self.seq = pg, 0

    def window(self, name, starts_in, ends_in):
        w = [dict(name=name, targets="hosts: juki-ap01", starts=self.at(
            starts_in), ends=self.at(ends_in))]
        self.pg.query("SELECT monitord_publish_downtime('maint-test', '%s')"
                      % json.dumps(w))

    def at(self, offset_s):
        return one(self.pg, "SELECT (now() + interval '%f seconds')::text"
                   % offset_s)

    def change(self, check, old, new, downtime=None):
        self.seq += 1
        c = [dict(seq=self.seq, host="juki-ap01", check=check, kind="tcp",
                  segment="core", old=old, new=new, output="TCP " + new,
                  observed=self.at(0), downtime=downtime)]
        self.pg.query("SELECT monitord_record_changes('maint-test', '%s')"
                      % json.dumps(c))


def mails(sink):
    return [harness.subject_of(m) for m in sink.messages()]


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-maint.")
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
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % sink.port)
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)
        mon = Monitor(pg)

        log("1. a fault starts inside a window: recorded, not told")
        mon.window("os-patch", -60, 6)
        mon.change("tcp/80", "OK", "CRITICAL", downtime="os-patch")
        wait_for("the incident", lambda: one(
            pg, "SELECT count(*) FROM incident") == "1")
        assert one(pg, "SELECT silenced_by FROM incident WHERE id = 1") == \
            "os-patch"
        show = run([harness.binary("incidentctl"), "show", "1"], env=env)[1]
        assert "silenced_by_maintenance os-patch until " in show, show
        time.sleep(2)
        assert mails(sink) == [], mails(sink)
        assert one(pg, "SELECT count(*) FROM notification") == "0"
        log("   the window ends with the fault still there: told now")
        wait_for("the opened mail", lambda: len(mails(sink)) == 1,
                 timeout=20)
        m = sink.messages()[0]
        assert harness.subject_of(m).startswith("【障害発生】INC-000001"), \
            harness.subject_of(m)
        assert "メンテナンス「os-patch」の終了後も障害が続いています。" in \
            m.get_content(), m.get_content()
        assert one(pg, "SELECT coalesce(silenced_by, '-') FROM incident "
                   "WHERE id = 1") == "-"
        mon.change("tcp/80", "CRITICAL", "OK")
        wait_for("the recovered mail", lambda: len(mails(sink)) == 2)
        # (the sink orders by Date, which has whole seconds)
        assert "【復旧】INC-000001 OK juki-ap01 tcp/80（基幹系）" in \
            mails(sink), mails(sink)

        log("2. a fault inside a window that ends inside it: silence")
        mon.window("db-backup", -60, 4)
        mon.change("tcp/5432", "OK", "CRITICAL", downtime="db-backup")
        mon.change("tcp/5432", "CRITICAL", "OK", downtime="db-backup")
        wait_for("the second incident recovered", lambda: one(
            pg, "SELECT status FROM incident WHERE check_name = "
            "'tcp/5432'") == "recovered")
        time.sleep(6)
        assert len(mails(sink)) == 2, mails(sink)
        assert one(pg, "SELECT count(*) FROM notification n JOIN incident "
                   "i ON i.id = n.incident_id WHERE i.check_name = "
                   "'tcp/5432'") == "0"
        hist = run([harness.binary("incidentctl"), "history", "2"],
                   env=env)[1]
        assert "notifications silenced by maintenance db-backup" in hist, \
            hist

        log("3. started before a window, ends inside it: ended is sent")
        mon.change("tcp/443", "OK", "CRITICAL")
        wait_for("its opened mail", lambda: len(mails(sink)) == 3)
        mon.window("web-switch", -1, 60)
        mon.change("tcp/443", "CRITICAL", "OK", downtime="web-switch")
        wait_for("its recovered mail", lambda: len(mails(sink)) == 4)
        assert "【復旧】INC-000003 OK juki-ap01 tcp/443（基幹系）" in \
            mails(sink), mails(sink)

        log("4. a window nobody published silences nothing")
        mon.change("tcp/22", "OK", "CRITICAL", downtime="unknown-window")
        wait_for("its opened mail", lambda: len(mails(sink)) == 5)
        assert one(pg, "SELECT count(*) FROM notification WHERE status <> "
                   "'sent'") == "0"

        log("5. an unacknowledged P1 is reminded of, twice at most")
        ctl = [harness.binary("incidentctl")]
        run(ctl + ["set", "INC-000004", "--set", "impact=1", "--set",
                   "urgency=1"], env=env, check=True)
        mon.change("tcp/25", "OK", "CRITICAL")
        wait_for("INC-000005 told", lambda: len(mails(sink)) == 6)
        run(ctl + ["set", "5", "--set", "impact=2", "--set", "urgency=1"],
            env=env, check=True)
        run(ctl + ["ack", "5"], env=env, check=True)
        wait_for("two reminders of INC-000004", lambda: len(
            [m for m in mails(sink) if m.startswith("【未応答】")]) == 2,
            timeout=20)
        time.sleep(5)
        rem = [m for m in sink.messages()
               if harness.subject_of(m).startswith("【未応答】")]
        assert [harness.subject_of(m) for m in rem] == [
            "【未応答】INC-000004 CRITICAL juki-ap01 tcp/22（基幹系）"] * 2, \
            [harness.subject_of(m) for m in rem]
        assert "この障害（P1）はまだ誰も受け付けていません。" in \
            rem[0].get_content(), rem[0].get_content()
        assert sorted(m["Message-ID"] for m in rem) == [
            "<INC-000004.reminder.1@incidentd.invalid>",
            "<INC-000004.reminder.2@incidentd.invalid>"], \
            [m["Message-ID"] for m in rem]
        assert len(mails(sink)) == 8, mails(sink)
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
