"""Runs the SMTP sender's Check suite (tests/check_notify_smtp) against a
real SMTP sink, then reads what the sink stored."""

import os
import re
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
        # what the suite sent: #1 alone, #100-#107 at once, #2 to two
        want = {1, 2} | set(range(100, 108))
        got = {}
        for m in msgs:
            mid = re.fullmatch(r"<check-notify-smtp\.(\d+)\.\d+"
                               r"@city\.example\.jp>", m["Message-ID"])
            assert mid, m["Message-ID"]
            got[int(mid.group(1))] = m
        assert len(msgs) == len(want) and set(got) == want, \
            (len(msgs), sorted(got))
        for n, m in got.items():
            assert harness.subject_of(m) == (
                "【障害発生】INC-%06d 基幹系 住民記録サーバ jukijp-db01 "
                "tcp/5432 CRITICAL (check_notify_smtp)" % n), m["Subject"]
            assert str(m["From"]) == \
                "〇〇市 統合監視システム <monitor@city.example.jp>", m["From"]
            assert str(m["To"]) == "oncall@city.example.jp", m["To"]
            # the body whole, with the dot-stuffed lines as they were
            assert m.get_content().replace("\r\n", "\n") == (
                "障害を検知しました。\n対象: jukijp-db01 (住民記録)\n"
                "状態: CRITICAL\n.\n..leading dots survive\n"), \
                repr(m.get_content())
            rcpt = [r.strip() for r in str(m["X-RcptTo"]).split(",")]
            assert rcpt == (["oncall@city.example.jp",
                             "vendor-ops@outsourcer.example.co.jp"]
                            if n == 2 else ["oncall@city.example.jp"]), \
                (n, rcpt)
        print("the sink stored the %d messages sent, each whole" % len(msgs))
        return 0
    finally:
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
