"""SMS through an HTTP gateway, webhooks, and a relay that refuses a mailbox.

A real PostgreSQL, incidentd, Debian's aiosmtpd (one instance answering
550 for one address) and an HTTP stub on loopback standing in for a
Kannel-style SMS gateway and a chat tool's incoming webhook.  Asserted:
the gateway's first answer (503) and a hang past the timeout are retried,
the third attempt (202 "Accepted" with an id) marks the SMS sent with the
gateway's message id kept; the exact GET it was sent with (number in
international digits, the 70-character text, percent-encoded); the
webhook's JSON (text, subject, kind and the incident's facts, with the
configured header) after one 500; the recovery on every channel; a mailbox
the relay refuses with 550 is given up on after max_attempts with the
relay's words kept, raises incidentd's own incident, and costs nobody else
their mail; config errors name file:line:column.
"""

import json
import os
import shutil
import sys
import traceback
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run, wait_for  # noqa: E402

CONF = """\
instance: incidentd-http
log_level: debug
poll_interval: 300ms
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  from: kanshi@city.example.jp
  timeout: 5s
sms:
  gateway:
    url: "http://127.0.0.1:%(http)d/cgi-bin/sendsms?username=kanshi&\
password=s3cret&to={to}&text={text}&charset=UTF-8&coding=2&ref={ref}"
    success_status: [202]
    success_body: "^0: Accepted"
    message_id: "id=([0-9a-z]+)"
    timeout: 1s
webhook:
  timeout: 1s
  headers: ["X-Kanshi-Token: t0ken"]
lifecycle:
  reopen_window: 0s
notify:
  group_window: 0s
  retry_min: 1s
  retry_max: 1s
  max_attempts: 3
contacts:
  - name: 情報政策課 当番
    email: toban@city.example.jp
    sms: 090-1234-5678
    webhook: http://127.0.0.1:%(http)d/hooks/kanshi
"""

MOVED = """\
  - name: 異動済み
    email: idou@city.example.jp
"""

BAD = """\
sms:
  spool: /tmp/x
  gateway:
    url: ftp://127.0.0.1/send?to={to}
    method: GET
    body: '{"to": "{to}", "msg": "{txt}"}'
    body_type: xml
    success_status: [200, 999]
    success_body: "(unclosed"
    message_id: "id=[0-9]+"
    headers: ["X-Bad Header: 1", "NoColon"]
contacts:
  - name: a
    webhook: gopher://127.0.0.1/
"""


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def record(pg, seq, host, new, old, observed):
    change = [dict(seq=seq, host=host, check="tcp/80", kind="tcp",
                   segment="core", old=old, new=new,
                   output="TCP %s" % new, observed=observed)]
    pg.query("SELECT monitord_record_changes('http-test', '%s')"
             % json.dumps(change))


def test_config_errors(work):
    log("gateway and webhook config errors name file:line:column")
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(BAD)
    rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
    assert rc == 1, err
    for want in (
            ":2:10: an sms section has a spool or a gateway, not both",
            ":4:10: the gateway url must start with http:// or https://",
            ":6:11: unknown placeholder '{txt}' (known: {to}, {text}, "
            "{ref}, {priority}, {kind})",
            ":7:16: 'body_type' must be one of form, json, text, not 'xml'",
            ":8:27: a status is 100-599, not '999'",
            ":9:19: bad pattern '(unclosed'",
            ":10:17: message_id needs a group",
            ":11:15: a header is 'Name: value' on one line",
            ":11:34: a header is 'Name: value' on one line",
            ":13:5: contact 'a' has no email, sms or webhook",
            ":14:14: a webhook must start with http:// or https://"):
        assert bad + want in err, (want, err)
    with open(bad, "w", encoding="utf-8") as f:
        f.write("sms:\n  gateway:\n    url: http://127.0.0.1/s?t={txt}\n"
                "    method: GET\n    body: 'to={to}'\n")
    rc, _, err = run([harness.binary("incidentd"), "-n", "-f", bad])
    assert rc == 1 and bad + ":3:10: unknown placeholder '{txt}'" in err, \
        err
    assert bad + ":5:11: a GET request has no body; use method: POST" in \
        err, err


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-http.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        test_config_errors(work)
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        run([harness.binary("incidentctl"), "migrate"], env=env,
            check=True)
        sink = harness.SmtpSink(os.path.join(work, "smtp"),
                                refuse=["idou@city.example.jp"]).start()
        clean.add(sink.stop)
        stub = harness.HttpStub({
            "/cgi-bin/sendsms": [
                (503, "Service Unavailable"), ("hang", 3),
                (202, "0: Accepted for delivery id=abc123"),
                (202, "0: Accepted for delivery id=def456")],
            "/hooks/kanshi": [(500, "oops"), (200, "ok")],
        }).start()
        clean.add(stub.stop)
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % dict(smtp=sink.port, http=stub.port))
        rc, out, err = run([harness.binary("incidentd"), "-n", "-f", conf])
        assert rc == 0, err
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)

        log("a fault: the gateway answers 503, then hangs, then accepts")
        record(pg, 1, "juki-ap01", "CRITICAL", "OK",
               "2026-11-27 10:00:00+09")
        wait_for("the SMS sent", lambda: one(
            pg, "SELECT status FROM notification WHERE channel = 'sms'")
            == "sent", timeout=30)
        row = pg.query("SELECT attempts, provider_ref, "
                       "coalesce(last_error, '') FROM notification "
                       "WHERE channel = 'sms'")
        assert row == [["3", "abc123", ""]], row
        sms = stub.seen("/cgi-bin/sendsms")
        assert len(sms) == 3, sms
        assert [r[4][0] for r in sms] == [503, "hang", 202], sms
        # all three attempts were the same request
        assert len({r[1] for r in sms}) == 1, sms
        method, path, headers, body, _ = sms[0]
        assert method == "GET" and body == b"", sms[0]
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query,
                                  strict_parsing=True)
        assert q == {"username": ["kanshi"], "password": ["s3cret"],
                     "to": ["819012345678"],
                     "text": ["【障害】INC-000001 CRITICAL juki-ap01 tcp/80"],
                     "charset": ["UTF-8"], "coding": ["2"],
                     "ref": ["INC-000001"]}, q
        # percent-encoded UTF-8 on the wire, never raw bytes
        assert "%E3%80%90" in path and all(ord(c) < 128 for c in path), path
        text = inc.log()
        assert "the gateway answered 503: Service Unavailable (will " \
            "retry)" in text, text[-3000:]
        assert "Operation timed out" in text or "timed out" in text, \
            text[-3000:]
        assert "INC-000001 opened sms to 819012345678: sent, message id " \
            "abc123" in text
        # the gateway's password is in its URL: never in the log
        assert "s3cret" not in text, "the gateway password was logged"

        log("the webhook: one 500, then the JSON is taken")
        wait_for("the webhook sent", lambda: one(
            pg, "SELECT status || ' ' || attempts FROM notification "
            "WHERE channel = 'webhook'") == "sent 2")
        hooks = stub.seen("/hooks/kanshi")
        assert [r[4][0] for r in hooks] == [500, 200], hooks
        method, path, headers, body, _ = hooks[1]
        assert method == "POST" and path == "/hooks/kanshi", hooks[1]
        assert headers.get("X-Kanshi-Token") == "t0ken", headers
        assert headers.get("Content-Type").startswith("application/json"), \
            headers
        doc = json.loads(body.decode("utf-8"))
        assert doc["kind"] == "opened", doc
        assert doc["subject"] == "【障害発生】INC-000001 CRITICAL " \
            "juki-ap01 tcp/80（基幹系）", doc
        assert doc["text"].startswith(doc["subject"] + "\n障害を検知しまし"
                                      "た。"), doc
        assert "-- \n" not in doc["text"], doc
        inc1 = doc["incident"]
        assert (inc1["ref"], inc1["host"], inc1["check"], inc1["state"],
                inc1["segment"]) == ("INC-000001", "juki-ap01", "tcp/80",
                                     "CRITICAL", "core"), inc1
        # the URL (which may hold a token) is not in the database
        assert one(pg, "SELECT recipient FROM notification WHERE "
                   "channel = 'webhook'") == "情報政策課 当番"
        wait_for("the mail", lambda: len(sink.messages()) == 1)
        assert one(pg, "SELECT provider_ref FROM notification WHERE "
                   "channel = 'email'").startswith("250 "), "no relay reply"

        log("the recovery goes out on all three channels")
        record(pg, 2, "juki-ap01", "OK", "CRITICAL",
               "2026-11-27 10:05:00+09")
        wait_for("every row sent", lambda: one(
            pg, "SELECT count(*) FROM notification WHERE status = 'sent'")
            == "6")
        sms = stub.seen("/cgi-bin/sendsms")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(sms[-1][1]).query)
        assert q["text"] == ["【復旧】INC-000001 OK juki-ap01 tcp/80"], q
        assert one(pg, "SELECT provider_ref FROM notification WHERE "
                   "channel = 'sms' AND kind = 'recovered'") == "def456"
        doc = json.loads(stub.seen("/hooks/kanshi")[-1][3])
        assert doc["kind"] == "recovered" and doc["subject"].startswith(
            "【復旧】INC-000001 OK juki-ap01"), doc
        assert len(sink.messages()) == 2
        assert inc.stop() == 0

        log("a mailbox the relay refuses with 550 is given up on, alone")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF % dict(smtp=sink.port, http=stub.port) + MOVED)
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd2.log")).start()
        clean.add(inc.kill)
        record(pg, 3, "juki-ap02", "CRITICAL", "OK",
               "2026-11-27 11:00:00+09")
        wait_for("the refused mail given up on", lambda: one(
            pg, "SELECT count(*) FROM notification n JOIN incident i ON "
            "i.id = n.incident_id WHERE i.ref = 'INC-000002' AND "
            "n.recipient = 'idou@city.example.jp' AND n.status = "
            "'failed'") == "1", timeout=30)
        row = pg.query("SELECT n.attempts, n.last_error FROM notification n "
                       "JOIN incident i ON i.id = n.incident_id WHERE "
                       "i.ref = 'INC-000002' AND n.recipient = "
                       "'idou@city.example.jp'")
        assert row[0][0] == "3", row
        assert "550 5.1.1 <idou@city.example.jp>: Recipient address " \
            "rejected: User unknown" in row[0][1], row
        got = [m for m in sink.messages()
               if "INC-000002" in harness.subject_of(m)]
        assert [m["To"] for m in got] == ["toban@city.example.jp"], \
            [(m["To"], harness.subject_of(m)) for m in got]
        assert all("idou" not in str(m["To"]) for m in sink.messages())
        wait_for("incidentd's own incident for the mail channel", lambda: one(
            pg, "SELECT count(*) FROM incident WHERE host = 'incidentd' "
            "AND check_name = 'notify/email'") == "1")
        out = one(pg, "SELECT t.reason FROM incident_transition t JOIN "
                  "incident i ON i.id = t.incident_id WHERE i.host = "
                  "'incidentd' AND i.check_name = 'notify/email' ORDER BY "
                  "t.id LIMIT 1")
        assert "(INC-000002 opened to idou@city.example.jp) failed 3 " \
            "times" in out and "550 5.1.1" in out, out
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
