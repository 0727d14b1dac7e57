"""incidentd's REST API over real HTTP, on a real PostgreSQL.

Faults are recorded as monitord records them; four accounts log in, one
of each role.  Asserted:
- without a session every endpoint is a 401; a change without the CSRF
  token, or with a wrong one, is a 403 and changes nothing;
- the board has one panel per segment in the order core, information,
  finance, then the rest; each host's worst state; the host behind a
  failed router is UNREACHABLE and names it; the counts add up;
- a host's checks and metric series, and a series in at most 240 steps
  with each step's mean, lowest and highest value;
- the incident list with its filters and the SLA clocks of the
  agreements (24x7, so the clock is the wall clock), and the incident
  page: form, moves, history;
- a viewer reads everything and changes nothing (403); the outsourcer
  sees no incident until one is assigned to it, then that one only: the
  others are 404 whether read or changed, and it cannot open incidents,
  problems or maintenance windows;
- an incident carried through every phase to closed by the operator and
  the administrator (closing is the administrator's), with the problem
  made through the API; a missing field, an illegal move and a move back
  without a reason are 422 with the reason; a stale "expect" is 409;
- notes, assignment, pause and resume;
- maintenance windows: scheduled, listed, refused when malformed,
  cancelled; a fault inside a console window silences its incident;
- malformed JSON, a JSON array, a wrong type, an oversized body, a wrong
  content type, a bad path segment, an unknown endpoint and a wrong
  method are 4xx, and incidentd is still up at the end;
- every change made through the API is in api_change with its user.
"""

import os
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import console  # noqa: E402
import harness  # noqa: E402
from console import Client, one, record  # noqa: E402
from harness import log, wait_for  # noqa: E402


def check_refusals(base, op, admin, kansa):
    log("no session: 401; no or a wrong CSRF token: 403")
    for method, path in (("GET", "/api/v1/board"),
                         ("GET", "/api/v1/incidents"),
                         ("GET", "/api/v1/incidents/1"),
                         ("GET", "/api/v1/hosts/zaimu-db01"),
                         ("POST", "/api/v1/incidents/1/ack"),
                         ("POST", "/api/v1/maintenance")):
        st, body, _ = harness.http_json(base, method, path,
                                        b"{}" if method == "POST" else None)
        assert (st, body) == (401, {"error": "log in first"}), (path, st)
    refused = (403, {"error": "the X-CSRF-Token header is missing or "
                              "wrong"})
    # an operator and an administrator may acknowledge: what refuses them
    # here is the token alone (missing, wrong, cut, another session's)
    for who, csrf in ((op, False), (op, "0" * 32), (op, op.csrf[:-1]),
                      (op, admin.csrf), (admin, op.csrf), (admin, False)):
        assert who.post("/api/v1/incidents/1/ack", csrf=csrf) == refused, \
            csrf
    # a viewer with its own token is refused for its role, not the token
    st, j = kansa.post("/api/v1/incidents/1/ack")
    assert st == 403 and j != refused[1], (st, j)

    log("malformed requests: 4xx with a JSON error")
    for body, ctype, want in ((b"{not json", "application/json", 400),
                              (b"[1, 2]", "application/json", 400),
                              (b'{"body": 5}', "application/json", 400),
                              (b'{"body": ""}', "application/json", 422),
                              (b"body=x", "text/plain", 415),
                              (b'{"body": "' + b"x" * 20000 + b'"}',
                               "application/json", 413)):
        st, j = op.post("/api/v1/incidents/1/notes", body, ctype=ctype)
        assert st == want and isinstance(j["error"], str), (body[:20], st, j)
    # beyond what the server reads at all: refused before the API
    assert op.post("/api/v1/incidents/1/notes", b"x" * 200000)[0] == 413
    for path, want in (("/api/v1/incidents/abc", 400),
                       ("/api/v1/incidents/99999999999999999999", 400),
                       ("/api/v1/incidents/4242", 404),
                       ("/api/v1/hosts/%ff%fe", 400),
                       ("/api/v1/hosts/nosuch", 404),
                       ("/api/v1/incidents?status=maybe", 400),
                       ("/api/v1/incidents?limit=0", 400),
                       ("/api/v1/incidents?priority=x", 400),
                       ("/api/v1/nothing", 404),
                       ("/api/v1/incidents/1/nothing", 404),
                       ("/api/v1/hosts/zaimu-db01/metrics?check=a&"
                        "metric=b&range=decade", 400),
                       ("/api/v1/maintenance?from=someday", 400)):
        st, j = op.get(path)
        assert st == want and "error" in j, (path, st, j)
    st, _, h = harness.http_json(base, "DELETE", "/api/v1/incidents/1",
                                 cookie=op.cookie)
    assert st == 405 and h["Allow"] == "GET", (st, h["Allow"])
    st, _, h = harness.http_json(base, "PUT", "/api/v1/problems",
                                 cookie=op.cookie)
    assert st == 405 and h["Allow"] == "GET, POST", (st, h["Allow"])


def check_board(op, kansa, vendor):
    log("the board: panels per segment, worst states, unreachable hosts")
    b = op.ok("GET", "/api/v1/board")
    assert [s["segment"] for s in b["segments"]] == \
        ["core", "information", "finance", "lgwan"], b["segments"]
    core = {h["host"]: h for h in b["segments"][0]["hosts"]}
    assert core["core-rt01"]["state"] == "CRITICAL" and \
        core["core-rt01"]["host_state"] == "DOWN", core
    assert core["juki-ap01"]["state"] == "CRITICAL" and \
        core["juki-ap01"]["behind"] is None, core
    info = {h["host"]: h for h in b["segments"][1]["hosts"]}
    assert info["joho-ap01"]["host_state"] == "UNREACHABLE" and \
        info["joho-ap01"]["behind"] == "core-rt01", info
    assert b["counts"] == {"hosts": 6, "down": 1, "unreachable": 1,
                           "critical": 4, "warning": 0, "unknown": 0,
                           "ok": 2}, b["counts"]
    assert b["segments"][2]["counts"]["critical"] == 1, b["segments"][2]
    assert b["incidents"]["open"] == 3, b["incidents"]
    assert kansa.ok("GET", "/api/v1/board")["counts"] == b["counts"]
    # the outsourcer sees the hosts of the services it operates
    vb = vendor.ok("GET", "/api/v1/board")
    assert [h["host"] for s in vb["segments"] for h in s["hosts"]] == \
        ["juki-ap01"] and vb["incidents"]["open"] == 0, vb
    assert vendor.get("/api/v1/hosts/zaimu-db01")[0] == 404

    log("a host: its checks and its metrics in at most 240 steps")
    h = op.ok("GET", "/api/v1/hosts/zaimu-db01")
    assert [c["check"] for c in h["checks"]] == ["disk", "tcp/5432"], h
    assert h["metrics"] == [{"check": "disk", "metric": "/ used_pct"},
                            {"check": "disk", "metric": "/var used_pct"}], h
    assert h["services"] == ["zaimu"] and len(h["incidents"]) == 1, h
    m = op.ok("GET", "/api/v1/hosts/zaimu-db01/metrics?check=disk&"
              "metric=%2F%20used_pct&range=hour")
    assert m["step_s"] == 15 and 0 < len(m["points"]) <= 240, m
    means = [p[1] for p in m["points"]]
    assert min(p[2] for p in m["points"]) == 40.0 and \
        max(p[3] for p in m["points"]) == 99.0, m["points"]
    assert all(40.0 <= v <= 99.0 for v in means), means
    d = op.ok("GET", "/api/v1/hosts/zaimu-db01/metrics?check=disk&"
              "metric=%2F%20used_pct&range=day")
    assert d["step_s"] == 300 and len(d["points"]) <= 288, d
    # every graph of the host in one request, the same points
    a = op.ok("GET", "/api/v1/hosts/zaimu-db01/metrics?range=day")
    assert [(g["check"], g["metric"]) for g in a["series"]] == [
        ("disk", "/ used_pct"), ("disk", "/var used_pct")], a
    assert a["series"][0]["points"] == d["points"] and \
        a["tier"] == d["tier"] == "5m", a
    st, j = op.get("/api/v1/hosts/zaimu-db01/metrics?metric=x")
    assert st == 400 and "check" in j["error"], (st, j)


def check_incidents(pg, op, kansa, vendor, ids):
    log("the incident list, its filters and the SLA clocks")
    lst = op.ok("GET", "/api/v1/incidents")
    assert lst["total"] == 3, lst
    by_host = {i["host"]: i for i in lst["incidents"]}
    z = by_host["zaimu-db01"]
    assert z["phase"] == "detection" and z["status"] == "open", z
    assert len(z["clocks"]) == 1 and z["clocks"][0]["agreement"] == \
        "zaimu-sla", z["clocks"]
    # 24x7: the clock runs with the wall clock since the detection,
    # 120 s before the fault was recorded
    assert 110 <= z["clocks"][0]["tto_s"] <= 600, z["clocks"]
    assert by_host["core-rt01"]["children"] == 1, by_host["core-rt01"]
    assert op.ok("GET", "/api/v1/incidents?segment=finance")["total"] == 1
    assert op.ok("GET", "/api/v1/incidents?host=juki-ap01&limit=1"
                 )["total"] == 1
    assert op.ok("GET", "/api/v1/incidents?status=closed")["total"] == 0
    assert kansa.ok("GET", "/api/v1/incidents")["total"] == 3

    inc = op.ok("GET", "/api/v1/incidents/%d" % ids["zaimu"])
    assert inc["ref"] == "INC-%06d" % ids["zaimu"], inc
    assert [f["field"] for f in inc["form"]] == ["summary"], inc["form"]
    assert inc["moves"] == [{"to": "isolation", "kind": "forward"}], inc
    assert inc["history"][0]["what"] == "opened", inc["history"]
    assert inc["services"] == [{"name": "zaimu", "title": "財務会計",
                                "operator": "in-house",
                                "departments": ["会計課"]}], inc["services"]
    assert kansa.ok("GET", "/api/v1/incidents/%d" % ids["zaimu"]
                    )["moves"] == []

    log("a viewer cannot change anything")
    for path, body in (("/ack", None), ("/notes", {"body": "x"}),
                       ("/advance", {"to": "isolation"})):
        st, j = kansa.post("/api/v1/incidents/%d%s" % (ids["zaimu"], path),
                           body)
        assert st == 403 and "may only read" in j["error"], (path, st, j)
    assert kansa.post("/api/v1/maintenance", {})[0] == 403

    log("the outsourcer sees its own incidents only")
    assert vendor.ok("GET", "/api/v1/incidents")["total"] == 0
    assert vendor.get("/api/v1/incidents/%d" % ids["juki"])[0] == 404
    assert vendor.post("/api/v1/incidents/%d/ack" % ids["juki"])[0] == 404
    assert vendor.post("/api/v1/incidents", {"summary": "x"})[0] == 403
    assert vendor.post("/api/v1/problems", {"fields": {
        "title": "x"}})[0] == 403
    j = op.ok("POST", "/api/v1/incidents/%d/assign" % ids["juki"], {
        "assignee": "ベンダー", "kind": "outsourcer", "reason": "AP保守"})
    assert (j["assignee"], j["assignee_kind"]) == ("ベンダー", "outsourcer")
    v = vendor.ok("GET", "/api/v1/incidents")
    assert [i["id"] for i in v["incidents"]] == [ids["juki"]], v
    j = vendor.ok("POST", "/api/v1/incidents/%d/ack" % ids["juki"])
    assert j["acknowledged_by"] == "vendor", j
    j = vendor.ok("GET", "/api/v1/incidents/%d" % ids["juki"])
    assert j["notifications"] == [], "the outsourcer sees no recipients"
    assert vendor.get("/api/v1/incidents/%d" % ids["zaimu"])[0] == 404
    assert vendor.post("/api/v1/incidents/%d/notes" % ids["zaimu"],
                       {"body": "x"})[0] == 404
    # assigned back: the outsourcer's change answers, then it sees no more
    j = vendor.ok("POST", "/api/v1/incidents/%d/assign" % ids["juki"], {
        "assignee": "基盤担当", "kind": "team", "reason": "AP外の原因"})
    assert j == {"id": ids["juki"], "ref": "INC-%06d" % ids["juki"],
                 "visible": False}, j
    assert vendor.get("/api/v1/incidents/%d" % ids["juki"])[0] == 404


def check_lifecycle(pg, op, admin, zid):
    log("an incident through every phase to closed")
    url = "/api/v1/incidents/%d" % zid
    j = op.ok("POST", url + "/ack")
    assert j["acknowledged_by"] == "sato", j
    assert op.ok("POST", url + "/ack")["acknowledged_by"] == "sato"
    j = op.ok("POST", url + "/notes", {"body": "DB応答なし。確認中"})
    assert j["history"][-1]["what"] == "note", j["history"][-1]
    st, j = op.post(url + "/advance", {"to": "impact"})
    assert st == 422 and "cannot move from detection" in j["error"], j
    j = op.ok("POST", url + "/advance", {"to": "isolation",
                                         "expect": "detection"})
    assert j["phase"] == "isolation" and j["missing"] == [], j
    st, j = op.post(url + "/advance", {"to": "impact",
                                       "expect": "detection"})
    assert st == 409 and "conflict" in j["error"], j
    st, j = op.post(url + "/advance", {"to": "detection"})
    assert st == 422 and "needs a reason" in j["error"], j
    j = op.ok("POST", url + "/advance", {
        "to": "impact", "expect": "isolation", "reason": "DB本体と特定",
        "fields": {"suspected_component": "zaimu-db01 PostgreSQL",
                   "suspected_segment": "finance"}})
    assert j["fields"]["suspected_component"] == "zaimu-db01 PostgreSQL"
    st, j = op.post(url + "/advance", {"to": "recovery"})
    assert st == 422 and "missing" in j["error"], j
    st, j = op.post(url + "/fields", {"fields": {"impact": 9}})
    assert st == 422, (st, j)
    j = op.ok("POST", url + "/advance", {
        "to": "recovery", "fields": {"impact": 1, "urgency": 2},
        "reason": "月末の支払処理に影響"})
    assert j["priority"] == 2, j
    j = op.ok("POST", url + "/pause", {"party": "department",
                                       "reason": "会計課の確認待ち"})
    assert j["paused"] is True and len(j["pauses"]) == 1, j
    st, j = op.post(url + "/pause", {"party": "department",
                                     "reason": "again"})
    assert st == 422, (st, j)
    assert op.ok("POST", url + "/resume")["paused"] is False
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    j = op.ok("POST", url + "/advance", {
        "to": "record", "fields": {"countermeasure": "サービス再起動",
                                   "recovered_at": now}})
    j = op.ok("POST", url + "/advance", {
        "to": "permanent_fix", "fields": {
            "cause": "WAL領域の枯渇", "action": "WAL退避",
            "fault_start": j["detected_at"], "fault_end": now}})
    p = op.ok("POST", "/api/v1/problems", {"fields": {
        "title": "WAL領域の監視不足"}})
    assert p["ref"].startswith("PRB-") and p["incidents"] == [], p
    j = op.ok("POST", url + "/advance", {
        "to": "manual_update", "fields": {"problem_id": p["id"]}})
    assert j["problem"]["ref"] == p["ref"], j
    p = op.ok("POST", "/api/v1/problems/%d" % p["id"], {
        "fields": {"status": "known_error",
                   "workaround": "WALを手動で退避"}, "reason": "調査"})
    assert p["status"] == "known_error" and \
        [i["id"] for i in p["incidents"]] == [zid], p
    assert len(op.ok("GET", "/api/v1/problems")["problems"]) == 1
    assert op.get("/api/v1/problems/77")[0] == 404
    j = op.ok("POST", url + "/fields", {"fields": {
        "manual_doc": "財務系運用手順書", "manual_rev": "3.2"}})
    st, j = op.post(url + "/advance", {"to": "closed"})
    assert st == 422 and "administrator" in j["error"], j
    j = admin.ok("POST", url + "/advance", {"to": "closed",
                                            "expect": "manual_update"})
    assert j["phase"] == "closed" and j["closed_at"], j
    assert op.ok("GET", "/api/v1/incidents?status=closed")["total"] == 1
    log("an incident phoned in, opened by hand")
    m = op.ok("POST", "/api/v1/incidents", {
        "summary": "会計課: 支払伝票が印刷できない", "host": "zaimu-ap01",
        "segment": "finance", "reported_by": "会計課 山田"})
    assert (m["origin"], m["reported_by"], m["phase"], m["host"]) == (
        "manual", "会計課 山田", "detection", "zaimu-ap01"), m
    assert op.post("/api/v1/incidents", {"host": "x"})[0] == 400
    assert op.post("/api/v1/incidents", {"summary": " "})[0] == 422
    assert op.ok("GET", "/api/v1/incidents?status=all")["total"] == 4
    phases = [h["to"] for h in j["history"] if h["what"] == "phase"]
    assert phases == ["isolation", "impact", "recovery", "record",
                      "permanent_fix", "manual_update", "closed"], phases


def check_maintenance(pg, op, admin):
    log("maintenance windows: scheduled, refused when malformed, "
        "cancelled, and silencing")
    soon = time.time() + 3600
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S+00:00",  # noqa: E731
                                  time.gmtime(t))
    w = {"name": "財務DB パッチ適用", "targets": "hosts: zaimu-db02",
         "comment": "月次", "starts_at": iso(soon),
         "ends_at": iso(soon + 7200)}
    j = op.ok("POST", "/api/v1/maintenance", w)
    assert j["source"] == "console", j
    assert op.post("/api/v1/maintenance", w)[0] == 409
    for bad, want in (({"targets": "zaimu-db02"}, 422),
                      ({"ends_at": iso(soon - 60)}, 422),
                      ({"starts_at": iso(soon - 86400 * 40)}, 422),
                      ({"starts_at": "next week"}, 400),
                      ({"name": 7}, 400)):
        st, e = op.post("/api/v1/maintenance", dict(w, **bad))
        assert st == want, (bad, st, e)
    ws = op.ok("GET", "/api/v1/maintenance")["windows"]
    assert [(x["name"], x["running"]) for x in ws] == [
        ("財務DB パッチ適用", False)], ws
    j = admin.ok("POST", "/api/v1/maintenance/cancel", {
        "name": w["name"], "starts_at": w["starts_at"]})
    assert j == {"cancelled": True}, j
    assert op.ok("GET", "/api/v1/maintenance")["windows"] == []
    assert op.post("/api/v1/maintenance/cancel", {
        "name": w["name"], "starts_at": w["starts_at"]})[0] == 404

    # a running window: a fault inside it opens a silenced incident
    now = time.time()
    run_w = dict(w, name="緊急メンテ", starts_at=iso(now - 60),
                 ends_at=iso(now + 3600))
    op.ok("POST", "/api/v1/maintenance", run_w)
    record(pg, 20, "zaimu-db02", "tcp/5432", "OK", "CRITICAL",
           segment="finance")
    wait_for("the incident of zaimu-db02", lambda: one(
        pg, "SELECT silenced_by FROM incident WHERE host = 'zaimu-db02'"))
    assert one(pg, "SELECT silenced_by FROM incident WHERE host = "
               "'zaimu-db02'") == "緊急メンテ"
    j = op.ok("POST", "/api/v1/maintenance/cancel", {
        "name": run_w["name"], "starts_at": run_w["starts_at"]})
    assert j["cancelled"] is False and j["ended_at"], j


def check_static(base):
    log("the console's files: the page, its scripts, nothing else")
    import urllib.request
    with urllib.request.urlopen(base + "/", timeout=10) as r:
        page = r.read().decode()
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and \
            "frame-ancestors 'none'" in csp, csp
    assert '<script src="/static/app.js" defer></script>' in page, page
    with urllib.request.urlopen(base + "/static/app.js", timeout=10) as r:
        assert r.headers["Content-Type"] == \
            "text/javascript; charset=utf-8", r.headers
        with open(os.path.join(harness.SRCDIR, "web", "app.js"), "rb") as f:
            assert r.read() == f.read()
    for path, want in (("/static/../incidentd.yaml", 404),
                       ("/static/%2e%2e%2fREADME", 404),
                       ("/static/nothing.js", 404),
                       ("/static/README", 404),
                       ("/static/", 404), ("/index.php", 404)):
        st = harness.http_json(base, "GET", path)[0]
        assert st == want, (path, st)
    assert harness.http_json(base, "POST", "/", b"x")[0] == 405


def check_tls(work):
    log("HTTPS with a configured certificate; plain HTTP off loopback is "
        "refused")
    clean = harness.Cleanup()
    try:
        pg, env, inc, base, cert = console.start(clean, work, tls=True, name="tls")
        st, j, h = harness.http_json(base, "GET", "/api/v1/me",
                                     cafile=cert)
        assert (st, j) == (401, {"error": "log in first"}), (st, j)
        assert h["Strict-Transport-Security"] == "max-age=31536000", h
        c = Client(base, "sato", cafile=cert)
        assert c.ok("GET", "/api/v1/me")["user"] == "sato"
        st, _, h = harness.http_json(base, "POST", "/api/v1/login", {
            "user": "kansa", "password": console.USERS["kansa"][1]},
            cafile=cert)
        assert "; Secure" in h["Set-Cookie"], h["Set-Cookie"]
        # the same port without TLS answers nothing an HTTP client takes
        try:
            harness.http_json(base.replace("https:", "http:"), "GET",
                              "/api/v1/me")
            raise AssertionError("plain HTTP was answered on the TLS port")
        except (OSError, ValueError) as e:
            assert "plain HTTP" not in str(e), e
        assert inc.alive()
    finally:
        clean.run()
    conf = os.path.join(work, "check.yaml")
    for body, want in (
            ("http:\n  listen: 0.0.0.0:8443\n",
             "check.yaml:2:11: incidentd serves plain HTTP on loopback"),
            ("http:\n  listen: 0.0.0.0:8443\n  tls_cert: %s\n" % cert,
             "check.yaml:3:13: tls_cert and tls_key go together"),
            ("http:\n  listen: 127.0.0.1:8443\n  tls_cert: /nonexistent\n"
             "  tls_key: /nonexistent\n",
             "check.yaml:3:13: cannot read '/nonexistent'")):
        with open(conf, "w", encoding="utf-8") as f:
            f.write(body)
        rc, _, err = harness.run([harness.binary("incidentd"), "-n", "-f",
                                  conf])
        assert rc == 1 and want in err, (body, rc, err)
    with open(conf, "w", encoding="utf-8") as f:
        f.write("http:\n  listen: 0.0.0.0:8443\n  tls_cert: %s\n"
                "  tls_key: %s\n" % (cert, cert[:-3] + "key"))
    rc, out, err = harness.run([harness.binary("incidentd"), "-n", "-f",
                                conf])
    assert rc == 0, (out, err)


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-api.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    inc = None
    try:
        pg, env, inc, base, _ = console.start(clean, work)

        log("faults recorded as monitord records them")
        t0 = time.strftime("%Y-%m-%d %H:%M:%S+00",
                           time.gmtime(time.time() - 120))
        for seq, (host, check, seg, new, extra) in enumerate((
                ("mado-sw01", "ping", "lgwan", "OK", {}),
                ("juki-ap01", "tcp/80", "core", "CRITICAL", {}),
                ("zaimu-db01", "disk", "finance", "OK", {}),
                ("zaimu-db01", "tcp/5432", "finance", "CRITICAL", {}),
                ("core-rt01", "ping", "core", "CRITICAL",
                 {"host_state": "DOWN"}),
                ("joho-ap01", "ping", "information", "CRITICAL",
                 {"host_state": "UNREACHABLE", "root": "core-rt01"}),
                ("zaimu-db02", "tcp/5432", "finance", "OK", {})), 1):
            record(pg, seq, host, check, "PENDING", new, segment=seg,
                   observed=t0, **extra)
        wait_for("three incidents", lambda: one(
            pg, "SELECT count(*) FROM incident") == "3")
        ids = dict(pg.query(
            "SELECT CASE host WHEN 'zaimu-db01' THEN 'zaimu' WHEN "
            "'juki-ap01' THEN 'juki' ELSE 'rt' END, id FROM incident"))
        ids = {k: int(v) for k, v in ids.items()}
        console.disk_samples(pg, "zaimu-db01")

        op, admin = Client(base, "sato"), Client(base, "kanri")
        kansa, vendor = Client(base, "kansa"), Client(base, "vendor")
        check_static(base)
        check_refusals(base, op, admin, kansa)
        check_board(op, kansa, vendor)
        check_incidents(pg, op, kansa, vendor, ids)
        check_lifecycle(pg, op, admin, ids["zaimu"])
        check_maintenance(pg, op, admin)

        log("every change is in api_change with its user")
        rows = pg.query("SELECT actor, op, count(*) FROM api_change "
                        "GROUP BY 1, 2 ORDER BY 1, 2")
        got = {(a, o): int(n) for a, o, n in rows}
        assert got[("kanri", "advance")] == 1 and \
            got[("vendor", "ack")] == 1 and \
            got[("sato", "maint_add")] == 2, got
        assert ("kansa", "ack") not in got, "refused changes leave no row"
        assert op.ok("GET", "/api/v1/me")["user"] == "sato"
        assert inc.alive(), "incidentd is still up"
        inc.stop()
        check_tls(work)
        log("ok")
        return 0
    except Exception:
        traceback.print_exc()
        if inc is not None:
            print("----- incidentd log -----")
            print(inc.log()[-6000:])
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
