"""SMS through an smstools3 spool, with a real PostgreSQL and incidentd.

Two contacts have mobile numbers (one also mail); a fault and its recovery
are written as monitord writes them.  Asserted: while the spool folder is
missing, the SMS rows are retried with the reason kept and the mail still
goes out; once the folder exists, each number gets one spool file per
message, in smstools3's format (To: in international digits, Alphabet:
UCS2, the text in big-endian UCS-2), within 70 characters, in the
contact's language; no temporary file is left; config errors name
file:line:column.
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
instance: incidentd-sms
log_level: debug
poll_interval: 300ms
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  from: kanshi@city.example.jp
  timeout: 5s
sms:
  spool: %(spool)s
lifecycle:
  reopen_window: 0s
notify:
  group_window: 0s
  retry_min: 1s
  retry_max: 1s
contacts:
  - name: 情報政策課 当番
    email: toban@city.example.jp
    sms: 090-1234-5678
    lang: ja
  - name: Vendor on call
    sms: "+81 80 9876 5432"
    lang: en
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def record(pg, seq, new, old, observed):
    change = [dict(seq=seq, host="juki-ap01", check="tcp/80", kind="tcp",
                   segment="core", old=old, new=new,
                   output="TCP %s" % new, observed=observed)]
    pg.query("SELECT monitord_record_changes('sms-test', '%s')"
             % json.dumps(change))


def spool_files(spool):
    if not os.path.isdir(spool):
        return {}
    out = {}
    for name in sorted(os.listdir(spool)):
        with open(os.path.join(spool, name), "rb") as f:
            out[name] = f.read()
    return out


def parse_sms(raw):
    """(headers, text) of an smstools3 file with a UCS-2 body."""
    head, _, body = raw.partition(b"\n\n")
    headers = dict(line.split(": ", 1) for line in
                   head.decode("ascii").splitlines())
    assert headers.get("Alphabet") == "UCS2", headers
    assert len(body) % 2 == 0, body
    return headers, body.decode("utf-16-be")


def by_number(files):
    out = {}
    for name, raw in files.items():
        h, text = parse_sms(raw)
        out.setdefault(h["To"], []).append(text)
    return out


def test_config_errors(work):
    log("config errors name file:line:column")
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w", encoding="utf-8") as f:
        f.write("sms:\n"
                "  spool: relative/out\n"
                "  country_code: '081'\n"
                "contacts:\n"
                "  - name: a\n"
                "    sms: 12-34\n"
                "  - name: b\n")
    rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
    assert rc == 1, err
    for want in (bad + ":2:10: spool must be an absolute path, not "
                 "'relative/out'",
                 bad + ":3:17: country_code must be 1-3 digits",
                 bad + ":6:10: '12-34' is not a phone number",
                 bad + ":7:5: contact 'b' has no email, sms or webhook"):
        assert want in err, (want, err)
    with open(bad, "w", encoding="utf-8") as f:
        f.write("contacts:\n  - name: a\n    sms: 090-1111-2222\n")
    rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
    assert rc == 1 and "contacts have sms numbers but there is no sms " \
        "section" in err, err


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-sms.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        test_config_errors(work)
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        run([harness.binary("incidentctl"), "migrate"], env=env,
            check=True)
        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        spool = os.path.join(work, "sms", "outgoing")
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % dict(smtp=sink.port, spool=spool))
        rc, out, err = run([harness.binary("incidentd"), "-n", "-f", conf])
        assert rc == 0, err
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)

        log("a fault while the spool folder is missing: mail goes, SMS "
            "wait")
        record(pg, 1, "CRITICAL", "OK", "2026-11-27 10:00:00+09")
        wait_for("the mail", lambda: len(sink.messages()) == 1)
        wait_for("two SMS attempts failed", lambda: one(
            pg, "SELECT count(*) FROM notification WHERE channel = 'sms' "
            "AND status = 'pending' AND attempts >= 2") == "2")
        rows = pg.query("SELECT recipient, last_error FROM notification "
                        "WHERE channel = 'sms' ORDER BY recipient")
        assert [r[0] for r in rows] == ["818098765432", "819012345678"], \
            rows
        assert all("/sms/.incidentd-" in r[1] and
                   "No such file or directory" in r[1] for r in rows), rows

        log("the folder appears: each number gets its SMS once")
        os.makedirs(spool)
        wait_for("two spool files", lambda: len(spool_files(spool)) == 2)
        wait_for("SMS marked sent", lambda: one(
            pg, "SELECT count(*) FROM notification WHERE channel = 'sms' "
            "AND status = 'sent'") == "2")
        texts = by_number(spool_files(spool))
        assert texts == {
            "819012345678": ["【障害】INC-000001 CRITICAL juki-ap01 tcp/80"],
            "818098765432": ["FAULT INC-000001 CRITICAL juki-ap01 tcp/80"],
        }, texts
        leftovers = [n for n in os.listdir(os.path.dirname(spool))
                     if n.endswith(".tmp")]
        assert leftovers == [], leftovers

        log("the recovery: one more SMS each, within 70 characters")
        record(pg, 2, "OK", "CRITICAL", "2026-11-27 10:05:00+09")
        wait_for("four spool files", lambda: len(spool_files(spool)) == 4)
        texts = by_number(spool_files(spool))
        assert sorted(texts["819012345678"]) == sorted([
            "【障害】INC-000001 CRITICAL juki-ap01 tcp/80",
            "【復旧】INC-000001 OK juki-ap01 tcp/80"]), texts
        assert sorted(texts["818098765432"]) == sorted([
            "FAULT INC-000001 CRITICAL juki-ap01 tcp/80",
            "RECOVERED INC-000001 OK juki-ap01 tcp/80"]), texts
        assert all(len(t) <= 70 for ts in texts.values() for t in ts)
        wait_for("every row sent", lambda: one(
            pg, "SELECT count(*) FROM notification WHERE status <> "
            "'sent'") == "0")
        assert pg.query("SELECT channel, count(*) FROM notification GROUP "
                        "BY 1 ORDER BY 1") == [["email", "2"], ["sms", "4"]]
        assert len(sink.messages()) == 2
        # the log says that it spooled, never what: the text may carry
        # an acknowledgement link
        assert "spooled (" in inc.log() and "【復旧】" not in inc.log()
        assert inc.stop() == 0

        log("a channel given up on is incidentd's own fault, told by mail")
        spool2 = os.path.join(work, "sms2", "outgoing")
        with open(conf, "w", encoding="utf-8") as f:
            f.write((CONF % dict(smtp=sink.port, spool=spool2)).replace(
                "  retry_max: 1s\n", "  retry_max: 1s\n  max_attempts: 2\n"))
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd2.log")).start()
        clean.add(inc.kill)
        record(pg, 3, "CRITICAL", "OK", "2026-11-27 11:00:00+09")
        wait_for("the SMS given up on", lambda: one(
            pg, "SELECT count(*) FROM notification n JOIN incident i ON "
            "i.id = n.incident_id WHERE i.ref = 'INC-000002' AND "
            "n.channel = 'sms' AND n.status = 'failed'") == "2")
        wait_for("the self-alert mail", lambda: [
            m for m in sink.messages() if "incidentd notify/sms" in
            harness.subject_of(m)])
        alert = [m for m in sink.messages() if "incidentd notify/sms" in
                 harness.subject_of(m)][0]
        assert harness.subject_of(alert) == "【障害発生】INC-000003 " \
            "CRITICAL incidentd notify/sms（その他）", \
            harness.subject_of(alert)
        body = alert.get_content()
        assert "(INC-000002 opened to 81" in body and "failed 2 times" in \
            body and "No such file or directory" in body, body
        assert one(pg, "SELECT origin || ' ' || status FROM incident "
                   "WHERE ref = 'INC-000003'") == "incidentd open"
        log("the spool is back: the next SMS gets through, and recovers it")
        os.makedirs(spool2)
        record(pg, 4, "OK", "CRITICAL", "2026-11-27 11:05:00+09")
        wait_for("the self-incident recovered", lambda: one(
            pg, "SELECT status FROM incident WHERE ref = 'INC-000003'")
            == "recovered", timeout=30)
        wait_for("its recovered mail", lambda: [
            m for m in sink.messages() if harness.subject_of(m) ==
            "【復旧】INC-000003 OK incidentd notify/sms（その他）"])
        # the outbox's mail all out: none left to count in the next phase
        # or to spend its recipients' rate limit
        wait_for("no mail left to send", lambda: one(
            pg, "SELECT count(*) FROM notification WHERE channel = 'email' "
            "AND status IN ('pending', 'sending')") == "0", timeout=30)
        assert inc.stop() == 0

        log("a rate limit per recipient defers, never drops")
        with open(conf, "w", encoding="utf-8") as f:
            f.write((CONF % dict(smtp=sink.port, spool=spool2)).replace(
                "  retry_max: 1s\n", "  retry_max: 1s\n  rate_limit: 2\n"
                "  rate_window: 5s\n"))
        time.sleep(5)       # the earlier sends leave the window
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd3.log")).start()
        clean.add(inc.kill)
        before = len(sink.messages())
        for i, port in enumerate((81, 82, 83, 84)):
            change = [dict(seq=10 + i, host="juki-ap02",
                           check="tcp/%d" % port, kind="tcp",
                           segment="core", old="OK", new="CRITICAL",
                           output="down", observed="2026-11-27 12:00+09")]
            pg.query("SELECT monitord_record_changes('sms-test', '%s')"
                     % json.dumps(change))
        wait_for("two mails", lambda: len(sink.messages()) >= before + 2)
        time.sleep(2)
        assert len(sink.messages()) == before + 2, "the limit let through"
        deferred = one(pg, "SELECT count(*) FROM notification WHERE "
                       "channel = 'email' AND status = 'pending'")
        assert deferred == "2", deferred
        wait_for("the deferred two", lambda: len(sink.messages()) ==
                 before + 4, timeout=20)
        assert inc.stop() == 0

        log("a message being sent counts against the limit as one sent")
        # the last four mails, of four incidents: one sent in the window,
        # one in flight, one due; the rest of the window is empty
        setup = """
            UPDATE notification SET sent_at = now() - interval '1 hour'
            WHERE channel = 'email' AND status = 'sent';
            WITH r AS (SELECT id, row_number() OVER (ORDER BY id) AS k
                       FROM (SELECT id FROM notification
                             WHERE channel = 'email'
                             ORDER BY id DESC LIMIT 4) l)
            UPDATE notification n SET
                status = (ARRAY['sent', %s, 'pending', 'sent'])[r.k],
                sent_at = CASE r.k WHEN 1 THEN now()
                          ELSE now() - interval '1 hour' END,
                lease_until = now() + interval '1 minute',
                next_attempt_at = now()
            FROM r WHERE n.id = r.id;
            SELECT count(*) FROM notification_claim_limited(10,
                '1 minute') WHERE channel = 'email';
            SELECT count(*) FROM notification WHERE channel = 'email'
                AND status = 'pending' AND next_attempt_at > now();
            ROLLBACK;"""
        rows = pg.query("BEGIN;" + setup % "'sending'")
        assert rows == [["0"], ["1"]], ("in flight not counted", rows)
        rows = pg.query("BEGIN;" + setup % "'sent'")
        assert rows == [["1"], ["0"]], ("one in the window held", rows)
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
