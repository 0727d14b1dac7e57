"""Runs the async libpq wrapper's Check suite (tests/check_db) against a
private PostgreSQL cluster started for it."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402


def main():
    work = harness.make_workdir("/tmp/monitord-db.")
    pg = harness.Postgres(os.path.join(work, "pg"))
    try:
        pg.start()
        env = dict(os.environ, MONITORD_TEST_PGCONN=pg.conninfo())
        return subprocess.run([os.path.join(harness.BUILDDIR, "tests",
                                            "check_db")], env=env).returncode
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
