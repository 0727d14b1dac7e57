"""incidentd with its PostgreSQL, a few services and an account of each
role, for the tests of the API and the console."""

import json
import os
import subprocess
import time

import harness

CONF = """\
instance: incidentd-console
poll_interval: 300ms
http:
  listen: 127.0.0.1:%(port)d
  session_idle: 10m
  secure_cookies: %(secure)s
  web_root: %(web)s
%(tls)s
services:
  - name: juki
    title: 住民記録
    operator: outsourcer
    departments: [住民課]
    depends: [juki-ap01]
  - name: zaimu
    title: 財務会計
    departments: [会計課]
    depends: [zaimu-db01]
calendars:
  - name: 常時
    always_open: true
agreements:
  - name: zaimu-sla
    kind: sla
    service: zaimu
    party: 会計課
    calendar: 常時
    availability: 99.5
    targets:
      P1: {tto: 15m, ttr: 4h}
      P2: {tto: 30m, ttr: 8h}
      P3: {tto: 1h, ttr: 24h}
"""

USERS = {"kanri": ("administrator", "administrator pass 1"),
         "sato": ("operator", "correct horse battery"),
         "kansa": ("viewer", "audit-2026-viewer"),
         "vendor": ("outsourcer", "ベンダーの合言葉です")}


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


def self_signed(work):
    """A certificate for 127.0.0.1 and its key: (cert, key) paths."""
    cert, key = os.path.join(work, "console.crt"), os.path.join(
        work, "console.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out",
                    cert], check=True, capture_output=True)
    return cert, key


def start(clean, work, tls=False, name="main", extra=""):
    """PostgreSQL with the schema and the users, and incidentd serving
    the API and the console: (pg, env, incidentd, base URL, cert).  extra
    is more of incidentd.yaml."""
    work = os.path.join(work, name)
    os.makedirs(work)
    pg = harness.Postgres(os.path.join(work, "pg")).start()
    clean.add(pg.stop)
    env = pg.env()
    harness.run([harness.binary("incidentctl"), "migrate"], env=env,
                check=True)
    harness.add_users(env, USERS)
    port = harness.free_port()
    cert = key = None
    if tls:
        cert, key = self_signed(work)
    conf = os.path.join(work, "incidentd.yaml")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(CONF % dict(
            port=port, secure="true" if tls else "false",
            web=os.path.join(harness.SRCDIR, "web"),
            tls="  tls_cert: %s\n  tls_key: %s" % (cert, key) if tls
            else "") + extra)
    inc = harness.Daemon("incidentd", ["-f", conf], env,
                         os.path.join(work, "incidentd.log")).start()
    clean.add(inc.kill)
    harness.wait_for("the listener", lambda: harness.port_open(
        "127.0.0.1", port))
    harness.wait_for("the services stored", lambda: one(
        pg, "SELECT count(*) FROM service") == "2")
    base = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
    return pg, env, inc, base, cert


class Client:
    """A logged-in user of the API."""

    def __init__(self, base, user, cafile=None):
        self.base = base
        self.cafile = cafile
        time.sleep(0.25)    # under the 5 logins a second for everyone
        st, body, h = harness.http_json(base, "POST", "/api/v1/login", {
            "user": user, "password": USERS[user][1]}, cafile=cafile)
        assert st == 200, (user, st, body)
        self.cookie = h["Set-Cookie"].split(";")[0]
        self.csrf = body["csrf"]

    def get(self, path):
        return harness.http_json(self.base, "GET", path,
                                 cookie=self.cookie, cafile=self.cafile)[:2]

    def post(self, path, body=None, csrf=True, ctype="application/json"):
        return harness.http_json(
            self.base, "POST", path,
            b"" if body is None else body, cookie=self.cookie,
            csrf=self.csrf if csrf is True else csrf, ctype=ctype,
            cafile=self.cafile)[:2]

    def ok(self, method, path, body=None):
        st, j = self.get(path) if method == "GET" else self.post(path, body)
        assert st == 200, (method, path, st, j)
        return j


def record(pg, seq, host, check, old, new, segment="core", **kw):
    """Records a hard state change as monitord does."""
    c = dict(seq=seq, host=host, check=check, kind="tcp", segment=segment,
             old=old, new=new, output="%s %s" % (check, new),
             observed=kw.pop("observed", None) or time.strftime(
                 "%Y-%m-%d %H:%M:%S+00", time.gmtime()))
    c.update(kw)
    pg.query("SELECT monitord_record_changes('console-test', '%s')"
             % json.dumps([c]).replace("'", "''"))


def disk_samples(pg, host):
    """An hour of disk use every 10 s, between 40 and 99 %, for / and
    /var."""
    pg.query("INSERT INTO metric_incoming SELECT now() - i * "
             "interval '10 s', '%s', 'disk', m, "
             "40 + (i * 7) %% 60 FROM generate_series(0, 359) i, "
             "unnest(ARRAY['/ used_pct', '/var used_pct']) m" % host)
