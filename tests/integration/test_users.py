"""The console's accounts with incidentctl user, on a real PostgreSQL.

Asserted: an administrator adds users of each role with a password read
from standard input; the database holds a yescrypt hash ("$y$") that
libcrypt (through Python's crypt) accepts for that password and refuses
for another, never the password itself; short passwords, bad names and
roles, a second user of the same name, and changes by someone not acting
as an administrator are refused with exit 3 (2 for usage) and change
nothing; a password change gives a new hash and unlocks; disable needs a
reason, enable undoes it, each once; list shows the state; every change
is in user_change, which cannot be altered.

Then incidentd's API: a login sets an HttpOnly, SameSite=Strict session
cookie (the database keeps only its hash) and gives a CSRF token; /me
answers with and without it; logout refuses a missing or wrong CSRF token
and ends the session; an unknown user and a wrong password get the same
401; malformed, oversized or non-JSON bodies, wrong methods and paths get
4xx; five failures lock an account until a new password; disabling ends
its sessions; every attempt is in user_login.
"""

import os
import shutil
import subprocess
import sys
import time
import traceback
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402
from harness import log, run  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # noqa: E402  (Debian's Python 3.11 still has it)


def one(pg, sql):
    rows = pg.query(sql)
    assert len(rows) == 1 and len(rows[0]) == 1, (sql, rows)
    return rows[0][0]


call = harness.http_json


def test_api(pg, env, work, pw):
    log("logging in through incidentd's API")
    port = harness.free_port()
    conf = os.path.join(work, "incidentd.yaml")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("instance: users\nhttp:\n  listen: 127.0.0.1:%d\n"
                "  session_idle: 10m\n  secure_cookies: false\n" % port)
    inc = harness.Daemon("incidentd", ["-f", conf], env,
                         os.path.join(work, "incidentd.log")).start()
    try:
        harness.wait_for("the listener", lambda: harness.port_open(
            "127.0.0.1", port))
        base = "http://127.0.0.1:%d" % port

        def login(user, password):
            time.sleep(0.25)    # under the 5 logins a second for everyone
            return call(base, "POST", "/api/v1/login",
                        {"user": user, "password": password})
        st, body, _ = login("kansa", "wrong password!")
        assert (st, body) == (401, {"error": "wrong user or password"})
        st, body, _ = login("nosuchuser", "wrong password!")
        assert (st, body) == (401, {"error": "wrong user or password"})
        st, body, h = login("kansa", pw["kansa"])
        assert st == 200, (st, body)
        assert (body["user"], body["role"]) == ("kansa", "viewer"), body
        assert len(body["csrf"]) == 32, body
        cookie = h["Set-Cookie"]
        assert cookie.startswith("incidentd_session=") and \
            "; HttpOnly" in cookie and "; SameSite=Strict" in cookie and \
            "Max-Age=600" in cookie and "Secure" not in cookie, cookie
        token = cookie.split(";")[0].split("=", 1)[1]
        assert len(token) == 64, token
        # the database has its hash only: one session of kansa's is keyed
        # by the token's SHA-256, and the token itself is nowhere in it
        assert pg.query("SELECT user_name FROM app_session WHERE "
                        "token_hash = sha256(decode('%s', 'hex'))"
                        % token) == [["kansa"]]
        dump = subprocess.run(
            [os.path.join(harness.PGBIN, "pg_dump"), "-h", pg.sock, "-p",
             str(pg.port), "-U", "root", pg.dbname], check=True,
            capture_output=True, text=True).stdout
        assert "app_session" in dump and token.lower() not in \
            dump.lower(), "the session token is stored as it is"
        assert token not in inc.log(), "the session token was logged"
        sid = "incidentd_session=" + token
        st, me, _ = call(base, "GET", "/api/v1/me", cookie="a=b; " + sid)
        assert st == 200 and me["user"] == "kansa" and \
            me["csrf"] == body["csrf"], me
        assert call(base, "GET", "/api/v1/me")[0] == 401
        assert call(base, "GET", "/api/v1/me",
                    cookie="incidentd_session=" + "0" * 64)[0] == 401
        assert call(base, "POST", "/api/v1/logout", b"", cookie=sid)[:2] \
            == (403, {"error": "the X-CSRF-Token header is missing or "
                               "wrong"})
        assert call(base, "POST", "/api/v1/logout", b"", cookie=sid,
                    csrf="0" * 32)[0] == 403
        st, _, h = call(base, "POST", "/api/v1/logout", b"", cookie=sid,
                        csrf=me["csrf"])
        assert st == 204 and "Max-Age=0" in h["Set-Cookie"], h
        assert call(base, "GET", "/api/v1/me", cookie=sid)[0] == 401

        log("bad requests get 4xx, never a crash")
        assert call(base, "POST", "/api/v1/login", b"{not json")[0] == 400
        assert call(base, "POST", "/api/v1/login", b"[1]")[0] == 400
        assert call(base, "POST", "/api/v1/login", {"user": 1})[0] == 400
        assert call(base, "POST", "/api/v1/login", b"user=a",
                    ctype="application/x-www-form-urlencoded")[0] == 415
        assert call(base, "POST", "/api/v1/login",
                    b'{"user": "' + b"a" * 20000 + b'"}')[0] == 413
        assert call(base, "GET", "/api/v1/login")[0] == 405
        assert call(base, "GET", "/api/v1/nothing")[0] == 404
        assert call(base, "POST", "/api/v1/login",
                    b'{"user": "a", "user": "b", "password": "x"}')[0] == 400

        log("five failures lock the account; a new password unlocks it")
        for _ in range(5):
            assert login("sato", "not the password")[0] == 401
        st, body, _ = login("sato", "another long secret")
        assert st == 429 and body["error"].startswith("too many failed"), \
            body
        expect = subprocess.run(
            [harness.binary("incidentctl"), "user", "passwd", "sato", "--as",
             "課長", "--role", "administrator"], env=env,
            input="a third long secret\n", capture_output=True, text=True)
        assert expect.returncode == 0, expect.stderr
        st, body, h = login("sato", "a third long secret")
        assert st == 200, body
        sid = h["Set-Cookie"].split(";")[0]

        log("disabling ends the sessions")
        subprocess.run([harness.binary("incidentctl"), "user", "disable",
                        "sato", "--reason", "異動", "--as", "課長", "--role",
                        "administrator"], env=env, check=True,
                       capture_output=True)
        assert call(base, "GET", "/api/v1/me", cookie=sid)[0] == 401
        assert login("sato", "a third long secret")[0] == 401
        got = pg.query("SELECT user_name, ok, why FROM user_login "
                       "ORDER BY id")
        assert got[:3] == [["kansa", "f", "wrong"],
                           ["nosuchuser", "f", "no such user"],
                           ["kansa", "t", ""]], got
        assert got[-1] == ["sato", "f", "disabled"], got
        assert inc.alive()
        assert inc.stop() == 0
    except Exception:
        print("----- incidentd log -----\n%s" % inc.log()[-5000:])
        raise


def main():
    clean = harness.Cleanup()
    work = harness.make_workdir("/tmp/monitord-users.")
    clean.add(lambda: shutil.rmtree(work, ignore_errors=True))
    try:
        pg = harness.Postgres(os.path.join(work, "pg")).start()
        clean.add(pg.stop)
        env = pg.env()
        ctl = harness.binary("incidentctl")
        run([ctl, "migrate"], env=env, check=True)
        admin = ["--as", "課長", "--role", "administrator"]

        def expect(args, rc, text, password=None):
            p = subprocess.run([ctl] + args, env=env, input=password,
                               capture_output=True, text=True)
            assert p.returncode == rc and text in (p.stdout + p.stderr), \
                (args, p.returncode, p.stdout, p.stderr)
            return p.stdout

        log("adding users, each with a hash of their password")
        pw = {"sato": "correct horse battery", "vendor": "ベンダーの合言葉です",
              "kansa": "audit-2026-viewer"}
        expect(["user", "add", "sato", "--user-role", "operator",
                "--display-name", "佐藤 一郎"] + admin, 0,
               "user sato added as operator", pw["sato"] + "\n")
        expect(["user", "add", "vendor", "--user-role", "outsourcer"] + admin,
               0, "user vendor added as outsourcer", pw["vendor"] + "\n")
        expect(["user", "add", "kansa", "--user-role", "viewer"] + admin, 0,
               "added", pw["kansa"])
        for name, secret in pw.items():
            h = one(pg, "SELECT password_hash FROM app_user WHERE name = "
                    "'%s'" % name)
            assert h.startswith("$y$") and secret not in h, h
            assert crypt.crypt(secret, h) == h, name
            assert crypt.crypt(secret + "x", h) != h, name
        assert pg.query("SELECT count(*) FROM app_user WHERE password_hash "
                        "LIKE '%horse%'") == [["0"]]

        log("refusals change nothing")
        expect(["user", "add", "suzuki", "--user-role", "operator"] + admin,
               2, "a password has 12 to 1024 characters", "short\n")
        expect(["user", "add", "suzuki", "--user-role", "operator"] + admin,
               2, "no password on standard input", "")
        expect(["user", "add", "bad name", "--user-role", "operator"] +
               admin, 3, "a user name is 1-64 letters", "long enough pw\n")
        expect(["user", "add", "suzuki", "--user-role", "root"] + admin, 3,
               "viewer, operator, administrator or outsourcer, not 'root'",
               "long enough pw\n")
        expect(["user", "add", "sato", "--user-role", "viewer"] + admin, 3,
               "user sato exists already", "long enough pw\n")
        expect(["user", "add", "suzuki", "--user-role", "operator", "--as",
                "sato"], 3, "managing users is an administrator's task, "
               "not the operator role's", "long enough pw\n")
        expect(["user", "add", "suzuki"] + admin, 2, "--user-role", "x\n")
        expect(["user", "frobnicate", "sato"] + admin, 2,
               "add, passwd, disable, enable or list")
        assert one(pg, "SELECT count(*) FROM app_user") == "3"

        log("a new password, disable and enable")
        old = one(pg, "SELECT password_hash FROM app_user WHERE name = "
                  "'sato'")
        pg.query("UPDATE app_user SET failed_logins = 5, locked_until = "
                 "now() + interval '1 hour' WHERE name = 'sato'")
        out = expect(["user", "list"], 0, "locked")
        expect(["user", "passwd", "sato"] + admin, 0,
               "password of sato changed", "another long secret\n")
        new = one(pg, "SELECT password_hash FROM app_user WHERE name = "
                  "'sato'")
        assert new != old and crypt.crypt("another long secret", new) == new
        assert pg.query("SELECT failed_logins, locked_until IS NULL FROM "
                        "app_user WHERE name = 'sato'") == [["0", "t"]]
        expect(["user", "passwd", "nobody"] + admin, 5, "no user nobody",
               "another long secret\n")
        expect(["user", "disable", "vendor"] + admin, 3, "needs a reason")
        expect(["user", "disable", "vendor", "--reason", "契約終了"] +
               admin, 0, "user vendor disabled")
        expect(["user", "disable", "vendor", "--reason", "x"] + admin, 3,
               "user vendor is disabled already")
        out = expect(["user", "list"], 0, "USER")
        rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]}
        assert rows["vendor"][2:4] == ["outsourcer", "disabled"], rows
        assert rows["sato"][1:5] == ["佐藤", "一郎", "operator", "active"], \
            rows
        expect(["user", "enable", "vendor"] + admin, 0,
               "user vendor enabled")
        out = expect(["user", "list", "--json"], 0, "vendor")
        assert '"state": "active"' in out, out

        log("the audit trail")
        assert pg.query("SELECT actor, user_name, what, detail FROM "
                        "user_change ORDER BY id") == [
            ["課長", "sato", "added", "role operator"],
            ["課長", "vendor", "added", "role outsourcer"],
            ["課長", "kansa", "added", "role viewer"],
            ["課長", "sato", "password changed", ""],
            ["課長", "vendor", "disabled", "契約終了"],
            ["課長", "vendor", "enabled", ""]]
        for sql in ("UPDATE user_change SET actor = 'x'",
                    "DELETE FROM user_change", "TRUNCATE user_change"):
            try:
                pg.query(sql)
            except subprocess.CalledProcessError as e:
                assert "user_change is append-only" in e.stderr, e.stderr
            else:
                raise AssertionError("%s was allowed" % sql)
        test_api(pg, env, work, pw)
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
