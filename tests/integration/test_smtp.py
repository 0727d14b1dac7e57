"""Runs the SMTP sender's Check suite (tests/check_notify_smtp) against a
real SMTP sink, then reads what the sink stored."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import harness  # noqa: E402


def main():
    work = harness.make_workdir("/tmp/monitord-smtp.")
    sink = harness.SmtpSink(os.path.join(work, "smtp"))
    try:
        sink.start()
        env = dict(os.environ, MONITORD_TEST_SMTP_URL="smtp://127.0.0.1:%d"
                   % sink.port,
                   MONITORD_TEST_SMTP_DEAD_URL="smtp://127.0.0.1:%d"
                   % harness.free_port())
        rc = subprocess.run([os.path.join(harness.BUILDDIR, "tests",
                                          "check_notify_smtp")],
                            env=env).returncode
        if rc != 0:
            return rc
        msgs = sink.messages()
        if not msgs:
            print("the sink received no mail")
            return 1
        for m in msgs:
            m.get_content()  # every body must decode
        print("the sink stored %d messages, all readable" % len(msgs))
        return 0
    finally:
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
