"""An aiosmtpd server for tests/smtp_real_servers.rs.

Usage: aiosmtpd_server.py OUT_FILE [--smtputf8] [--pipelining] [--auth USER:PASS]

Listens on a free loopback port and prints "PORT <n>" on stdout. Every
message received is appended to OUT_FILE as one JSON line:
{"mail_from", "rcpt_tos", "mail_options", "data" (base64 of the bytes as
received, dot-stuffing removed)}. Recipients whose local part is "reject"
get 550, "later" get 450.
"""

import asyncio
import base64
import json
import sys

from aiosmtpd.smtp import SMTP, AuthResult


class Handler:
    def __init__(self, out, pipelining):
        self.out = out
        self.pipelining = pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local == "reject":
            return "550 5.1.1 no such user"
        if local == "later":
            return "450 4.2.0 greylisted"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "data": base64.b64encode(envelope.original_content).decode(),
        }
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 2.0.0 OK queued"


def main():
    out = sys.argv[1]
    flags = sys.argv[2:]
    smtputf8 = "--smtputf8" in flags
    pipelining = "--pipelining" in flags
    creds = None
    if "--auth" in flags:
        user, password = flags[flags.index("--auth") + 1].split(":", 1)
        creds = (user.encode(), password.encode())

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = creds is not None and (auth_data.login, auth_data.password) == creds
        return AuthResult(success=ok, handled=False)

    handler = Handler(out, pipelining)

    def factory():
        kwargs = dict(
            enable_SMTPUTF8=smtputf8,
            decode_data=False,
            hostname="aiosmtpd.test",
        )
        if creds is not None:
            kwargs.update(authenticator=authenticator, auth_require_tls=False)
        return SMTP(handler, **kwargs)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
