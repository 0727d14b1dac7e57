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
"""

import os
import shutil
import subprocess
import sys
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
        log("PASS")
        return 0
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        clean.run()


if __name__ == "__main__":
    sys.exit(main())
