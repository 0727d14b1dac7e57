"""The incident lifecycle, with a real PostgreSQL, incidentd and incidentctl.

State changes are written the way monitord writes them
(monitord_record_changes); incidentd, running with a service map, turns them
into incidents and mails them to an SMTP sink; incidentctl carries them
through the phases.  Asserted:

- every legal move of lifecycle_transition is made once, and a sample of
  illegal ones is refused with its message and exit code, changing nothing;
- the fields each phase needs are enforced; a correction needs a reason;
  the priority comes from the impact x urgency table;
- two operators advancing the same incident at the same moment: one wins,
  the other gets a clear conflict (exit 4);
- audit rows cannot be updated, deleted or truncated, neither by the role
  incidentd runs as nor by a plain application role;
- a storm of 300 checks behind one failed switch is one incident with 300
  children attached (some before, some after the root's change), one mail
  per contact, and the impact of the children's services;
- a recovered incident carried by incidentctl to closed, its full history
  printed; a recurrence within the reopen window reopens it; a later one on
  the same fault opens a new incident that is offered the problem;
- a manual incident follows the same path; ack, assign (and the outsourcer
  role limited to what is assigned to it), notes, list filters, --json.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run, wait_for  # noqa: E402

N_CHILDREN = 300

INCIDENTD_YAML = """\
instance: incidentd-lifecycle
log_level: debug
poll_interval: 300ms
mail_domain: kanshi.city.example.jp
smtp:
  url: smtp://127.0.0.1:%(smtp)d
  from: kanshi@city.example.jp
  timeout: 5s
notify:
  group_window: 2s
  retry_min: 1s
  retry_max: 2s
lifecycle:
  reopen_window: 1h
  problem_window: 30d
services:
  - name: juki
    title: 住民記録
    operator: outsourcer
    impact: high
    departments: [住民課]
    depends: [juki-ap01, kikan-sw01]
  - name: zaimu
    title: 財務会計
    departments: [会計課]
    depends: [zaimu-ap07/http]
  - name: mail
    title: メール
    departments: [住民課, 会計課]
    depends: [mail01/smtp]
contacts:
  - name: 情報政策課 当番
    email: toban@city.example.jp
    lang: ja
"""


class Ctl:
    """incidentctl against the test's database."""

    def __init__(self, env):
        self.env = env

    def __call__(self, *args, code=0, out=None, err=None):
        a = [harness.binary("incidentctl")] + [str(x) for x in args]
        rc, so, se = run(a, env=self.env)
        assert rc == code, "%s: exit %d, wanted %d\nstdout: %s\nstderr: %s" \
            % (" ".join(a), rc, code, so, se)
        for want, got, name in ((out, so, "stdout"), (err, se, "stderr")):
            for w in ([want] if isinstance(want, str) else want or []):
                assert w in got, "%s: %s lacks %r:\n%s" % (
                    " ".join(a), name, w, got)
        return so

    def json(self, *args):
        return json.loads(self(*(list(args) + ["--json"])))


class Events:
    """Writes state changes as monitord does, with its own sequence."""

    def __init__(self, pg):
        self.pg, self.seq = pg, 0

    def record(self, changes):
        batch = []
        for c in changes:
            self.seq += 1
            d = dict(seq=self.seq, kind="icmp", segment="core", old="OK",
                     output="", observed="2026-11-27 10:00:00+09")
            d.update(c)
            batch.append(d)
        text = json.dumps(batch, ensure_ascii=False).replace("'", "''")
        self.pg.query("SELECT monitord_record_changes('lc-test', '%s')"
                      % text)


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def phase_of(pg, inc):
    return one(pg, "SELECT phase FROM incident WHERE id = %d" % inc)


def counts(pg):
    return [one(pg, "SELECT count(*) FROM %s" % t) for t in (
        "incident_transition", "incident_field_change", "incident_note")]


def refused(ctl, pg, args, msg, code=3):
    """A change that must be refused with msg and change nothing."""
    before = counts(pg)
    ctl(*args, code=code, err=[msg, "nothing was changed"]
        if code in (3, 4) else msg)
    assert counts(pg) == before, "a refused change left audit rows"


def test_storm(pg, ev, ctl, sink):
    log("a storm: the core switch goes down with %d checks behind it"
        % N_CHILDREN)
    kids = [dict(host="juki-ap%02d" % (i % 40), check="c%03d" % i,
                 kind="tcp", new="CRITICAL", host_state="UNREACHABLE",
                 root="kikan-sw01", output="unreachable")
            for i in range(N_CHILDREN)]
    kids[7].update(host="zaimu-ap07", check="http")
    half = N_CHILDREN // 2
    # Some children are recorded before the root's own change, the rest
    # after it: both end up attached.
    ev.record(kids[:half])
    ev.record([dict(host="kikan-sw01", check="icmp", new="CRITICAL",
                    host_state="DOWN", output="PING CRITICAL - 100% loss")])
    ev.record(kids[half:])
    wait_for("the storm ingested", lambda: one(
        pg, "SELECT last_event_id FROM incidentd_cursor") == one(
        pg, "SELECT max(id) FROM state_event"))
    rows = pg.query("SELECT id, host, check_name FROM incident")
    assert rows == [["1", "kikan-sw01", "icmp"]], rows
    assert one(pg, "SELECT count(*) FROM incident_child WHERE "
               "incident_id = 1") == str(N_CHILDREN)
    inc = ctl.json("show", "INC-000001")
    assert inc["children"] and len(inc["children"]) == N_CHILDREN
    del inc["children"]
    assert inc["suspected_component"] == "kikan-sw01", inc
    assert inc["suspected_segment"] == "core", inc
    # juki through the switch itself and its AP hosts; zaimu through the
    # one child that is zaimu-ap07/http
    assert inc["affected_services"] == "juki, zaimu", inc
    assert inc["affected_departments"] == "会計課, 住民課", inc
    # the highest impact of juki (high) and zaimu (medium, the default)
    assert inc["impact"] == 1 and inc["priority"] is None, \
        (inc["impact"], inc["priority"])
    wait_for("one mail for the storm", lambda: len(sink.messages()) >= 1)
    time.sleep(1.5)
    assert len(sink.messages()) == 1, [harness.subject_of(m)
                                       for m in sink.messages()]
    body = sink.messages()[0].get_content().replace("\r\n", "\n")
    # the mail waited group_window (2 s) and lists what is behind the
    # switch: the first 20 of 300, sorted
    assert "この障害の配下で到達不能または抑止中の監視項目: 300件\n" \
        "  juki-ap00/c000\n  juki-ap00/c040\n" in body, body
    assert "  juki-ap02/c122\n  ...\n" in body, body
    assert one(pg, "SELECT count(*) FROM notification") == "1"
    text = ctl("show", "1", out=["attached (unreachable or suppressed "
                                 "behind this fault): %d" % N_CHILDREN,
                                 "... and %d more" % (N_CHILDREN - 20)])
    assert re.search(r"^phase +detection \(障害検知\)$", text, re.M), text


def test_illegal_moves(pg, ctl):
    log("illegal moves are refused with their reason, changing nothing")
    refused(ctl, pg, ["advance", "1", "record"],
            "INC-000001: cannot move from detection (障害検知) to record "
            "(障害記録); from detection it can go to: isolation")
    refused(ctl, pg, ["advance", "1", "closed"],
            "cannot move from detection (障害検知) to closed (完了)")
    refused(ctl, pg, ["advance", "1", "somewhere"],
            "unknown phase 'somewhere' (phases: detection, isolation, "
            "impact, recovery, record, permanent_fix, manual_update, "
            "closed)")
    refused(ctl, pg, ["advance", "1", "isolation", "--role", "viewer"],
            "INC-000001: the viewer role may not change incidents")
    refused(ctl, pg, ["advance", "1", "isolation", "--role", "outsourcer"],
            "INC-000001 is not assigned to the outsourcer")
    refused(ctl, pg, ["advance", "1", "isolation", "--role", "boss"],
            "unknown role 'boss'")
    refused(ctl, pg, ["advance", "1", "isolation", "--set", "colour=red"],
            "INC-000001: unknown field 'colour'")
    refused(ctl, pg, ["advance", "1", "isolation", "--set", "impact=high"],
            'INC-000001: impact: "high" is not a valid number')
    refused(ctl, pg, ["advance", "1", "isolation", "--set", "urgency=9"],
            "INC-000001: urgency: 9 is out of range")
    refused(ctl, pg, ["advance", "1", "isolation", "--set",
                      "fault_start=yesterday-ish"],
            "fault_start: \"yesterday-ish\" is not a valid time")
    refused(ctl, pg, ["advance", "1", "isolation", "--set",
                      "problem_id=PRB-000077"],
            "problem_id: no problem PRB-000077")
    refused(ctl, pg, ["advance", "999", "isolation"],
            "no incident INC-000999", code=5)
    ctl("advance", "x1", "isolation", code=2, err="is not a number")
    ctl("advance", "1", "isolation", "--set", "novalue", code=2,
        err="--set wants field=value")
    ctl("list", "--priority", "7", code=2, err="--priority is 1-5")
    ctl("frobnicate", code=2, err="unknown command")
    assert phase_of(pg, 1) == "detection"


def test_concurrent_advance(pg, ctl, env):
    log("two operators advance the same incident at once: one wins")
    # Hold the incident's row so that both commands read 'detection' and
    # then queue on the lock; release it once both wait.
    holder = subprocess.Popen(
        [os.path.join(harness.PGBIN, "psql"), "-X", "-q", "-v",
         "ON_ERROR_STOP=1", "-h", pg.sock, "-p", str(pg.port), "-U", "root",
         "-d", pg.dbname], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    holder.stdin.write("BEGIN;\nSELECT 1 FROM incident WHERE id = 1 "
                       "FOR UPDATE;\n")
    holder.stdin.flush()
    wait_for("the row held", lambda: one(
        pg, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON "
        "c.oid = l.relation WHERE c.relname = 'incident' AND "
        "l.mode = 'RowShareLock' AND l.granted") != "0")
    ops = []
    for who in ("tanaka", "suzuki"):
        ops.append(subprocess.Popen(
            [harness.binary("incidentctl"), "advance", "INC-000001",
             "isolation", "--as", who], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    wait_for("both waiting on the lock", lambda: one(
        pg, "SELECT count(*) FROM pg_stat_activity WHERE "
        "wait_event_type = 'Lock' AND query LIKE '%incident_advance%'")
        == "2")
    holder.stdin.write("COMMIT;\n")
    holder.stdin.close()
    holder.wait(10)
    res = [(p.wait(20), p.stdout.read(), p.stderr.read()) for p in ops]
    codes = sorted(r[0] for r in res)
    assert codes == [0, 4], res
    lost = [r for r in res if r[0] == 4][0]
    assert "conflict: INC-000001 is now in isolation (一次切り分け), not " \
        "detection (障害検知)" in lost[2], lost
    assert "nothing was changed" in lost[2], lost
    won = [r for r in res if r[0] == 0][0]
    assert "INC-000001: detection -> isolation" in won[1], won
    assert one(pg, "SELECT count(*) FROM incident_transition WHERE "
               "incident_id = 1 AND to_phase = 'isolation'") == "1"


def test_forward_and_back(pg, ev, ctl):
    log("the required fields of each phase, corrections, the matrix")
    refused(ctl, pg, ["advance", "1", "recovery"],
            "INC-000001: cannot move from isolation (一次切り分け) to "
            "recovery (対処法検討と復旧); from isolation it can go to: "
            "detection, impact")
    # isolation's fields were filled from topology: confirm them
    ctl("advance", "1", "impact", out="isolation -> impact")
    refused(ctl, pg, ["advance", "1", "recovery"],
            "INC-000001: cannot leave impact (影響範囲見極め) for recovery: "
            "missing urgency")
    # a value the system set may be corrected, with a reason only
    refused(ctl, pg, ["set", "1", "--set", "affected_services=juki"],
            'INC-000001: affected_services is already ["juki", "zaimu"]; '
            "changing it needs a reason")
    ctl("set", "1", "--set", "affected_services=juki,zaimu,mail",
        "--set", "affected_departments=住民課, 会計課", "--reason",
        "メールも停止していたため", out="fields changed: 2")
    ctl("advance", "1", "recovery", "--set", "impact=1", "--set",
        "urgency=2", out="impact -> recovery")
    assert one(pg, "SELECT priority FROM incident WHERE id = 1") == "2"
    assert one(pg, "SELECT reason FROM incident_field_change WHERE "
               "field = 'priority'") == "impact 1 x urgency 2"
    log("moves back need a reason; each back move once")
    refused(ctl, pg, ["advance", "1", "impact"],
            "INC-000001: moving back from recovery to impact needs a "
            "reason")
    refused(ctl, pg, ["advance", "1", "impact", "--role", "outsourcer",
                      "--reason", "x"],
            "not assigned to the outsourcer")
    ctl("advance", "1", "impact", "--reason", "影響範囲の再確認",
        out="recovery -> impact")
    ctl("advance", "1", "isolation", "--reason", "被疑箇所の見直し",
        out="impact -> isolation")
    ctl("advance", "1", "detection", "--reason", "切り分けやり直し",
        out="isolation -> detection")
    ctl("advance", "1", "isolation")
    ctl("advance", "1", "impact")
    ctl("advance", "1", "recovery")
    refused(ctl, pg, ["advance", "1", "record", "--set",
                      "countermeasure=予備機へ切替"],
            "INC-000001: cannot leave recovery (対処法検討と復旧) for record: "
            "missing recovered_at")
    assert one(pg, "SELECT coalesce(countermeasure, '-') FROM incident "
               "WHERE id = 1") == "-", "a refused move set a field"

    log("the switch recovers: recovery time and fault end from monitord")
    ev.record([dict(host="kikan-sw01", check="icmp", old="CRITICAL",
                    new="OK", host_state="UP", output="PING OK",
                    observed="2026-11-27 10:40:00+09")] +
              [dict(host=k["host"], check=k["check"], kind="tcp",
                    old="CRITICAL", new="OK", host_state="UP",
                    observed="2026-11-27 10:40:05+09")
               for k in pg_children(pg)])
    wait_for("recovered", lambda: one(
        pg, "SELECT status FROM incident WHERE id = 1") == "recovered")
    wait_for("children recovered", lambda: one(
        pg, "SELECT count(*) FROM incident_child WHERE recovered_at IS "
        "NULL") == "0")
    assert pg.query("SELECT to_char(recovered_at AT TIME ZONE "
                    "'Asia/Tokyo', 'HH24:MI'), to_char(fault_start AT TIME "
                    "ZONE 'Asia/Tokyo', 'HH24:MI'), to_char(fault_end AT "
                    "TIME ZONE 'Asia/Tokyo', 'HH24:MI') FROM incident "
                    "WHERE id = 1") == [["10:40", "10:00", "10:40"]]
    ctl("advance", "1", "record", "--set", "countermeasure=予備機へ切替")
    refused(ctl, pg, ["advance", "1", "permanent_fix", "--set",
                      "cause=電源ユニット故障"],
            "INC-000001: cannot leave record (障害記録) for permanent_fix: "
            "missing action")
    refused(ctl, pg, ["set", "1", "--set", "fault_end=2026-11-27 09:00+09",
                      "--reason", "typo"],
            "INC-000001: fault_end: \"2026-11-27T09:00:00+09:00\" is out "
            "of range")
    ctl("advance", "1", "permanent_fix", "--set", "cause=電源ユニット故障",
        "--set", "action=電源ユニット交換")
    refused(ctl, pg, ["advance", "1", "manual_update"],
            "INC-000001: cannot leave permanent_fix (恒久措置検討) for "
            "manual_update: missing problem_id or fix_waiver")
    ctl("advance", "1", "record", "--reason", "原因の追記",
        out="permanent_fix -> record")
    ctl("advance", "1", "permanent_fix")
    out = ctl("problem", "create", "--title", "コアスイッチ電源の経年劣化",
              "--set", "due=2027-03-31", "--set", "workaround=予備機切替")
    assert out.strip() == "PRB-000001 created", out
    ctl("problem", "link", "INC-000001", "PRB-000001", out="linked")
    ctl("advance", "1", "manual_update")
    refused(ctl, pg, ["advance", "1", "closed", "--role", "administrator"],
            "INC-000001: cannot leave manual_update (マニュアル整備) for "
            "closed: missing manual_doc and manual_rev or manual_waiver")
    ctl("advance", "1", "permanent_fix", "--reason", "問題管理の再確認")
    ctl("advance", "1", "manual_update")
    refused(ctl, pg, ["advance", "1", "closed", "--set",
                      "manual_doc=ネットワーク障害対応手順書", "--set",
                      "manual_rev=2.1"],
            "INC-000001: the operator role may not move an incident from "
            "manual_update to closed (allowed: administrator)")
    ctl("advance", "1", "closed", "--role", "administrator", "--as",
        "kacho", "--set", "manual_doc=ネットワーク障害対応手順書", "--set",
        "manual_rev=2.1", out="manual_update -> closed")
    refused(ctl, pg, ["set", "1", "--set", "cause=x", "--reason", "y"],
            "INC-000001 is closed; its fields no longer change")
    refused(ctl, pg, ["advance", "1", "recovery"],
            "the operator role may not move an incident from closed to "
            "recovery")

    log("the full history, printed")
    hist = ctl("history", "INC-000001")
    print(hist)
    moves = [ln.split("  ")[4] for ln in hist.splitlines()[1:]
             if "  phase  " in ln]
    assert moves == [
        "detection -> isolation", "isolation -> impact",
        "impact -> recovery", "recovery -> impact", "impact -> isolation",
        "isolation -> detection", "detection -> isolation",
        "isolation -> impact", "impact -> recovery", "recovery -> record",
        "record -> permanent_fix", "permanent_fix -> record",
        "record -> permanent_fix", "permanent_fix -> manual_update",
        "manual_update -> permanent_fix", "permanent_fix -> manual_update",
        "manual_update -> closed"], moves
    for want in ("opened  detection  -- detected by lc-test",
                 "status  open -> recovered",
                 "incidentd-lifecycle (system)  field  suspected_component: null -> "
                 "\"kikan-sw01\"  -- from topology: host DOWN",
                 "field  affected_services: [\"juki\", \"zaimu\"] -> "
                 "[\"juki\", \"zaimu\", \"mail\"]  -- メールも停止していたため",
                 "field  problem_id: null -> 1",
                 "kacho (administrator)  phase  manual_update -> closed"):
        assert want in hist, want
    return moves


def pg_children(pg):
    return [dict(host=r[0], check=r[1]) for r in pg.query(
        "SELECT host, check_name FROM incident_child WHERE incident_id = 1 "
        "ORDER BY 1, 2")]


def test_reopen_and_problem(pg, ev, ctl, sink):
    log("the fault recurs within the hour: the closed incident reopens")
    ev.record([dict(host="kikan-sw01", check="icmp", new="CRITICAL",
                    host_state="DOWN", output="PING CRITICAL again",
                    observed="2026-11-27 11:10:00+09")])
    wait_for("reopened", lambda: one(
        pg, "SELECT status || ' ' || phase || ' ' || reopen_count FROM "
        "incident WHERE id = 1") == "open recovery 1")
    assert one(pg, "SELECT count(*) FROM incident") == "1"
    assert one(pg, "SELECT kind || ' ' || from_phase || ' ' || to_phase "
               "FROM incident_transition ORDER BY id DESC LIMIT 1") == \
        "reopen closed recovery"
    assert one(pg, "SELECT coalesce(fault_end::text, '-') FROM incident "
               "WHERE id = 1") == "-"
    wait_for("the reopened incident's mail", lambda: any(
        "INC-000001.opened.1@" in (m["Message-ID"] or "")
        for m in sink.messages()))
    ev.record([dict(host="kikan-sw01", check="icmp", old="CRITICAL",
                    new="OK", host_state="UP",
                    observed="2026-11-27 11:20:00+09")])
    wait_for("recovered again", lambda: one(
        pg, "SELECT status FROM incident WHERE id = 1") == "recovered")
    log("recurring three hours later: a new incident, offered the problem")
    ev.record([dict(host="kikan-sw01", check="icmp", new="CRITICAL",
                    host_state="DOWN", observed="2026-11-27 14:20:00+09")])
    wait_for("a second incident", lambda: one(
        pg, "SELECT count(*) FROM incident") == "2")
    show = ctl("show", "INC-000002")
    assert re.search(r"^suggested_problem +PRB-000001 コアスイッチ電源の"
                     r"経年劣化$", show, re.M), show
    ctl("problem", "link", "2", "1")
    out = ctl("problem", "show", "PRB-000001")
    assert "incidents: 2" in out and "INC-000002" in out, out


def test_manual_and_roles(pg, ctl):
    log("a department phones in a fault: a manual incident")
    out = ctl("open", "--summary", "窓口端末で住民票が印刷できない",
              "--host", "madoguchi-pc03", "--segment", "core",
              "--reported-by", "住民課 山田", "--as", "sato")
    assert out.strip() == "INC-000003 opened", out
    inc = ctl.json("show", "INC-000003")
    assert (inc["origin"], inc["phase"], inc["reported_by"],
            inc["suspected_component"]) == (
        "manual", "detection (障害検知)", "住民課 山田", "madoguchi-pc03"), inc
    ctl("open", "--summary", "x", "--role", "outsourcer", code=3,
        err="the outsourcer role may not open incidents")
    ctl("open", code=2, err="--summary TEXT is needed")
    ctl("ack", "3", "--as", "sato", out="INC-000003 acknowledged by sato")
    ctl("ack", "3", "--as", "tanaka", out="was acknowledged already")
    refused(ctl, pg, ["assign", "3", "--to", "ベンダー", "--kind", "vendor"],
            "assign to a person, a team or the outsourcer, not 'vendor'")
    ctl("assign", "3", "--to", "運用委託先", "--kind", "outsourcer",
        out="INC-000003 assigned to 運用委託先")
    ctl("note", "3", "委託先に連絡済み", "--as", "sato",
        out="INC-000003: note #1 added")
    done = ctl.json("note", "3", "部品手配中", "--as", "sato")
    assert done == {"ok": True, "value": "2",
                    "message": "INC-000003: note #2 added"}, done
    # the outsourcer may now handle this one, but still not INC-000002
    ctl("advance", "3", "isolation", "--role", "outsourcer", "--as",
        "vendor-ito", out="detection -> isolation")
    refused(ctl, pg, ["note", "2", "x", "--role", "outsourcer"],
            "INC-000002 is not assigned to the outsourcer")
    refused(ctl, pg, ["note", "3", "  "], "INC-000003: the note is empty")
    # the manual path to closed, the recovery time given by hand
    ctl("advance", "3", "impact", "--role", "outsourcer")
    ctl("advance", "3", "recovery", "--role", "outsourcer", "--set",
        "affected_services=juki", "--set", "affected_departments=住民課",
        "--set", "impact=3", "--set", "urgency=3")
    ctl("advance", "3", "record", "--role", "outsourcer", "--set",
        "countermeasure=プリンタドライバ再導入", "--set",
        "recovered_at=" + one(pg, "SELECT (now() + interval '1 minute')"
                                  "::text"))
    assert one(pg, "SELECT status || ' P' || priority FROM incident "
               "WHERE id = 3") == "recovered P5"
    refused(ctl, pg, ["advance", "3", "permanent_fix", "--role",
                      "outsourcer", "--set", "cause=ドライバ破損"],
            "the outsourcer role may not move an incident from record to "
            "permanent_fix (allowed: operator, administrator)")
    ctl("advance", "3", "permanent_fix", "--set", "cause=ドライバ破損",
        "--set", "action=再導入")
    ctl("advance", "3", "manual_update", "--set", "fix_waiver=一過性のため")
    ctl("advance", "3", "closed", "--role", "administrator", "--set",
        "manual_waiver=手順書に影響なし")
    hist = ctl("history", "3")
    assert "vendor-ito (outsourcer)  phase  detection -> isolation" in hist
    assert "sato (operator)  note  委託先に連絡済み" in hist, hist

    log("list and its filters")
    rows = ctl.json("list", "--all")
    assert [r["ref"] for r in rows] == ["INC-000002", "INC-000001",
                                        "INC-000003"], rows
    assert [r["ref"] for r in ctl.json("list", "--closed")] == [
        "INC-000003"]
    assert [r["ref"] for r in ctl.json("list", "--open")] == [
        "INC-000002", "INC-000001"]
    assert [r["ref"] for r in ctl.json("list", "--priority", "P5")] == [
        "INC-000003"]
    assert [r["ref"] for r in ctl.json("list", "--phase", "recovery")] == [
        "INC-000001"]
    assert ctl.json("list", "--segment", "finance") == []
    ctl("list", "--segment", "finance", out="no incidents")


def test_audit_append_only(pg):
    log("audit rows cannot be altered, not even by the daemon's role")
    pg.psql(pg.dbname, "CREATE ROLE incidentd_app LOGIN; GRANT SELECT, "
            "INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "
            "public TO incidentd_app")
    for table in ("incident_transition", "incident_field_change",
                  "incident_note", "problem_change"):
        assert int(one(pg, "SELECT count(*) FROM %s" % table)) > 0, table
        for user in ("root", "incidentd_app"):
            for sql in ("UPDATE %s SET actor = 'mallory'" % table,
                        "DELETE FROM %s" % table,
                        "TRUNCATE %s CASCADE" % table):
                try:
                    pg.psql(pg.dbname, sql, user=user)
                except subprocess.CalledProcessError as e:
                    assert "%s is append-only" % table in e.stderr, \
                        e.stderr
                else:
                    raise AssertionError("%s as %s was allowed" % (sql,
                                                                   user))
    assert one(pg, "SELECT count(*) FROM incident_transition WHERE "
               "actor = 'mallory'") == "0"


def test_every_transition_made(pg):
    log("every legal move of the table was made at least once")
    missing = pg.query(
        "SELECT t.from_phase || ' -> ' || t.to_phase FROM "
        "lifecycle_transition t WHERE NOT EXISTS (SELECT 1 FROM "
        "incident_transition x WHERE x.from_phase = t.from_phase AND "
        "x.to_phase = t.to_phase) ORDER BY 1")
    assert missing == [], missing


def test_admin_reopen(pg, ctl):
    log("an administrator reopens by hand, with a reason")
    ctl("advance", "1", "record", "--set", "countermeasure=再起動",
        "--reason", "2回目の復旧")
    ctl("advance", "1", "recovery", "--reason", "対処内容の訂正",
        out="record -> recovery")
    ctl("advance", "1", "record")
    ctl("advance", "1", "permanent_fix", "--set", "cause=同上", "--set",
        "action=同上", "--reason", "2回目")
    ctl("advance", "1", "recovery", "--role", "administrator", "--reason",
        "恒久対策前に再発の恐れ", out="permanent_fix -> recovery")
    ctl("advance", "1", "record")
    ctl("advance", "1", "permanent_fix")
    ctl("advance", "1", "manual_update")
    refused(ctl, pg, ["advance", "1", "recovery", "--role", "administrator"],
            "moving back from manual_update to recovery needs a reason")
    ctl("advance", "1", "recovery", "--role", "administrator", "--reason",
        "手順書改訂前に再確認", out="manual_update -> recovery")


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-lifecycle.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        env.pop("USER", None)
        env["USER"] = "tanaka"
        harness.run([harness.binary("incidentctl"), "migrate"], env=env,
                    check=True)
        sink = harness.SmtpSink(os.path.join(work, "smtp")).start()
        clean.add(sink.stop)
        conf = os.path.join(work, "incidentd.yaml")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(INCIDENTD_YAML % dict(smtp=sink.port))
        inc = harness.Daemon("incidentd", ["-f", conf], env,
                             os.path.join(work, "incidentd.log")).start()
        clean.add(inc.kill)
        wait_for("the service map stored", lambda: one(
            pg, "SELECT count(*) FROM service") == "3")
        assert pg.query("SELECT service, host, check_name FROM "
                        "service_dependency ORDER BY 1, 2") == [
            ["juki", "juki-ap01", ""], ["juki", "kikan-sw01", ""],
            ["mail", "mail01", "smtp"], ["zaimu", "zaimu-ap07", "http"]]
        ev = Events(pg)
        ctl = Ctl(env)

        test_storm(pg, ev, ctl, sink)
        test_illegal_moves(pg, ctl)
        test_concurrent_advance(pg, ctl, env)
        test_forward_and_back(pg, ev, ctl)
        test_reopen_and_problem(pg, ev, ctl, sink)
        test_manual_and_roles(pg, ctl)
        test_admin_reopen(pg, ctl)
        test_every_transition_made(pg)
        test_audit_append_only(pg)
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
