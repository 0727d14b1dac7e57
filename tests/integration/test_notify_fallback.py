"""SMS only for some priorities, and a P1 whose mail fails falls back to SMS.

The duty operator wants SMS only for P1 and P2, the vendor only for P1.
The mail relay is down (nothing listens on its port).  Asserted with a
real PostgreSQL and incidentd: a fault of unknown priority sends no SMS
while its mail keeps failing; once it is made P1, the next failed mail
attempt queues an SMS to the same contact (with P1 in it), which is
spooled; the vendor's SMS follows the priority too; the recovery goes by
SMS to whoever got the fault by SMS.
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
instance: incidentd-fallback
log_level: debug
poll_interval: 300ms
smtp:
  url: smtp://127.0.0.1:%(port)d
  from: kanshi@city.example.jp
  timeout: 2s
sms:
  spool: %(spool)s
notify:
  group_window: 0s
  remind_after: 0s
  retry_min: 1s
  retry_max: 1s
contacts:
  - name: 当番
    email: toban@city.example.jp
    sms: 090-1234-5678
    sms_priorities: [P1, P2]
  - name: Vendor
    sms: "+81 80 1111 2222"
    sms_priorities: [1]
    lang: en
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def spooled(spool):
    out = []
    for name in sorted(os.listdir(spool)):
        with open(os.path.join(spool, name), "rb") as f:
            head, _, body = f.read().partition(b"\n\n")
        to = head.decode().splitlines()[0][len("To: "):]
        out.append((to, body.decode("utf-16-be")))
    return sorted(out)


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-fallback.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        log("sms_priorities without a number is an error")
        bad = os.path.join(work, "bad.yaml")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("contacts:\n  - name: a\n    email: a@b.jp\n"
                    "    sms_priorities: [P1]\nsmtp:\n"
                    "  url: smtp://127.0.0.1:25\n  from: k@b.jp\n")
        rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
        assert rc == 1 and bad + ":4:21: sms_priorities without an sms " \
            "number" in err, err

        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        run([harness.binary("incidentctl"), "migrate"], env=env,
            check=True)
        spool = os.path.join(work, "sms", "outgoing")
        os.makedirs(spool)
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % dict(port=harness.free_port(), spool=spool))
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)

        log("a fault of unknown priority: mail fails, no SMS")
        c = [dict(seq=1, host="zaimu-db01", check="tcp/5432", kind="tcp",
                  segment="finance", old="OK", new="CRITICAL",
                  output="refused", observed="2026-11-27 10:00+09")]
        pg.query("SELECT monitord_record_changes('fb-test', '%s')"
                 % json.dumps(c))
        wait_for("two failed mail attempts", lambda: one(
            pg, "SELECT attempts FROM notification WHERE channel = "
            "'email'") not in ("0", "1"), timeout=20)
        assert one(pg, "SELECT count(*) FROM notification WHERE channel = "
                   "'sms'") == "0"
        assert os.listdir(spool) == []

        log("made P1: the next failed attempt falls back to SMS")
        run([harness.binary("incidentctl"), "set", "1", "--set",
             "impact=1", "--set", "urgency=1"], env=env, check=True)
        wait_for("the fallback SMS spooled", lambda: len(
            os.listdir(spool)) == 1, timeout=20)
        assert spooled(spool) == [
            ("819012345678", "【障害】INC-000001 P1 CRITICAL zaimu-db01 "
             "tcp/5432")], spooled(spool)
        assert one(pg, "SELECT status FROM notification WHERE channel = "
                   "'email'") == "pending", "the mail is still retried"

        log("the recovery goes by SMS to whoever got the fault by SMS")
        c = [dict(seq=2, host="zaimu-db01", check="tcp/5432", kind="tcp",
                  segment="finance", old="CRITICAL", new="OK",
                  output="ok", observed="2026-11-27 10:10+09")]
        pg.query("SELECT monitord_record_changes('fb-test', '%s')"
                 % json.dumps(c))
        wait_for("the recovery SMS", lambda: len(os.listdir(spool)) == 2,
                 timeout=20)
        time.sleep(2)
        assert spooled(spool) == sorted([
            ("819012345678", "【障害】INC-000001 P1 CRITICAL zaimu-db01 "
             "tcp/5432"),
            ("819012345678", "【復旧】INC-000001 OK zaimu-db01 tcp/5432")]), \
            spooled(spool)
        # the vendor was never told of the start by SMS (unknown priority
        # then), so it is not told of the end either
        assert one(pg, "SELECT count(*) FROM notification WHERE recipient "
                   "= '818011112222'") == "0"
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
