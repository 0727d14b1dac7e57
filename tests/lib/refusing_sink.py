"""An aiosmtpd handler that refuses some recipients, for SmtpSink.

Like aiosmtpd.handlers.Mailbox, but RCPT TO for an address listed in the
environment variable REFUSE_RCPT (comma-separated) is answered
"550 5.1.1 <addr>: Recipient address rejected: User unknown", as a
relay answers for a mailbox that no longer exists.
"""

import os

from aiosmtpd.handlers import Mailbox


class RefusingMailbox(Mailbox):
    def __init__(self, mail_dir):
        super().__init__(mail_dir)
        self.refuse = {a.strip().lower() for a in
                       os.environ.get("REFUSE_RCPT", "").split(",")
                       if a.strip()}

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.lower() in self.refuse:
            return ("550 5.1.1 <%s>: Recipient address rejected: "
                    "User unknown" % address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) < 1:
            parser.error("The directory for the maildir is required")
        return cls(args[0])
