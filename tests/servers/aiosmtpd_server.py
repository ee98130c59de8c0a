"""The aiosmtpd test server, shared by every test that talks to aiosmtpd:
tests/common/servers.rs (tests/smtp_real_servers.rs, tests/smtp_composed.rs
and, through tests/native_support/, tests/native_*.rs) and js/test/helpers.mjs.

Usage: aiosmtpd_server.py OUT_FILE [flags]

Flags:
  --smtputf8            offer SMTPUTF8
  --pipelining          offer PIPELINING
  --starttls CERT KEY   offer STARTTLS with this certificate and require it
  --implicit CERT KEY   implicit TLS (TLS from the first byte)
  --auth USER:PASS      require AUTH (PLAIN/LOGIN), checked by the authenticator
                        (offered before TLS unless --starttls is given)
  --xoauth2 USER:TOKEN  also offer AUTH XOAUTH2, accepting this user and token
  --greylist            a recipient whose local part starts with "grey" gets
                        450 the first time it is seen, 250 afterwards
  --drop-at N           the N-th MAIL command (counted over the server's life,
                        from 1) aborts the connection instead of answering
  --421-at N            the N-th MAIL command is answered 421 and the
                        connection closed
  --hang-data           never answer the end of DATA
  --drop-after-data N   the N-th message whose data ended (counted over the
                        server's life, from 1) is recorded (as if queued),
                        then the connection is aborted before the reply
  --port N              listen on this port instead of a free one
  --idle SECS           after SECS without a command, say "421 idle timeout"
                        and close the connection (as Postfix does)
  --exit-on-stdin-eof   exit when stdin closes (so the server never outlives
                        the process that started it)
  --ids-only            record a short line per message instead of its data
                        (for load tests; see below)

Always: a recipient whose local part is "reject" gets 550, "later" gets 450.

Listens on a free loopback port and prints "PORT <n>" on stdout. Every
message accepted is appended to OUT_FILE as one JSON line: {"mail_from",
"rcpt_tos", "mail_options", "data" (base64 of the bytes as received,
dot-stuffing removed), "tls" (whether the session was encrypted), "sni"
(the last server name a TLS client sent), "auth" (the authenticated login or
null), "peer_port", "conn" (a number per connection, from 1), "peak" (the
most connections open at once so far; a connection counts from its accept
until its QUIT or its close)}.

With --ids-only, the line is {"mail_from", "rcpt_tos", "conn", "peak",
"size" (bytes received), "message_ids" (every Message-ID header) and
"subject" (decoded), both read by Python's email header parser with
policy.default, "defects" (how many defects it found in the header block and
in those two headers)}.
"""

import asyncio
import base64
import json
import logging
import os
import ssl
import sys
import threading
import warnings
from email import policy
from email.parser import BytesHeaderParser

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

STATE = {"mails": 0, "datas": 0, "sni": None, "seen": set(), "conns": 0, "open": 0, "peak": 0}


def flag_value(flags, name, count=1):
    if name not in flags:
        return None
    i = flags.index(name)
    vals = flags[i + 1 : i + 1 + count]
    return vals if count > 1 else vals[0]


class Handler:
    def __init__(self, out, flags):
        self.out = out
        self.pipelining = "--pipelining" in flags
        self.greylist = "--greylist" in flags
        drop = flag_value(flags, "--drop-at")
        self.drop_at = int(drop) if drop else None
        close = flag_value(flags, "--421-at")
        self.close_at = int(close) if close else None
        self.hang_data = "--hang-data" in flags
        after = flag_value(flags, "--drop-after-data")
        self.drop_after_data = int(after) if after else None
        xo = flag_value(flags, "--xoauth2")
        self.xoauth2 = tuple(xo.split(":", 1)) if xo else None
        self.ids_only = "--ids-only" in flags

    async def auth_XOAUTH2(self, server, args):
        """AUTH XOAUTH2 <base64 of user=U^Aauth=Bearer T^A^A> (initial response)."""
        if self.xoauth2 is None or len(args) < 2:
            return AuthResult(success=False, handled=False)
        try:
            raw = base64.b64decode(args[1]).decode()
        except Exception:
            return AuthResult(success=False, handled=False)
        user, token = self.xoauth2
        ok = raw == f"user={user}\x01auth=Bearer {token}\x01\x01"
        return AuthResult(
            success=ok, handled=False, auth_data=LoginPassword(user.encode(), b"") if ok else None
        )

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        STATE["mails"] += 1
        n = STATE["mails"]
        if self.drop_at == n:
            server.transport.abort()
            return "250 OK (never seen: the connection is gone)"
        if self.close_at == n:
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return "421 4.3.2 service shutting down"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local == "reject":
            return "550 5.1.1 no such user"
        if local == "later":
            return "450 4.2.0 greylisted"
        if self.greylist and local.startswith("grey") and address not in STATE["seen"]:
            STATE["seen"].add(address)
            return "450 4.2.0 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hang_data:
            await asyncio.sleep(3600)
        login = getattr(session.auth_data, "login", None)
        if isinstance(login, bytes):
            login = login.decode()
        tls = server.transport.get_extra_info("ssl_object") is not None
        # --ids-only: a short record, without the data (see ids_record).
        record = ids_record(envelope, server) if self.ids_only else {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "data": base64.b64encode(envelope.original_content).decode(),
            "tls": tls,
            "sni": STATE["sni"],
            "auth": login if session.authenticated else None,
            "peer_port": session.peer[1] if session.peer else None,
            "conn": getattr(server, "conn_id", None),
            "peak": STATE["peak"],
        }
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        STATE["datas"] += 1
        if self.drop_after_data == STATE["datas"]:
            server.transport.abort()
            return "250 OK (never seen: the connection is gone)"
        return "250 2.0.0 OK queued"


def ids_record(envelope, server):
    """The --ids-only record: the envelope and a few headers, not the data."""
    data = envelope.original_content
    headers = BytesHeaderParser(policy=policy.default).parsebytes(data)
    # Only these two headers are parsed (each lookup parses anew): parsing
    # every header would make aiosmtpd four times slower per message.
    ids = headers.get_all("message-id", [])
    subject = headers["subject"]
    parsed = ids + ([subject] if subject is not None else [])
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": envelope.rcpt_tos,
        "conn": getattr(server, "conn_id", None),
        "peak": STATE["peak"],
        "size": len(data),
        "message_ids": [str(h) for h in ids],
        "subject": None if subject is None else str(subject),
        "defects": len(headers.defects) + sum(len(h.defects) for h in parsed),
    }


class CountingSMTP(SMTP):
    """Numbers its connections and counts how many are open at once."""

    def connection_made(self, transport):
        # STARTTLS calls this again for the same connection.
        if not hasattr(self, "conn_id"):
            STATE["conns"] += 1
            self.conn_id = STATE["conns"]
            self.counted = True
            STATE["open"] += 1
            STATE["peak"] = max(STATE["peak"], STATE["open"])
        super().connection_made(transport)

    def uncount(self):
        if getattr(self, "counted", False):
            self.counted = False
            STATE["open"] -= 1

    async def smtp_QUIT(self, arg):
        self.uncount()
        await super().smtp_QUIT(arg)

    def connection_lost(self, exc):
        self.uncount()
        super().connection_lost(exc)


class IdleSMTP(CountingSMTP):
    """Says 421 before closing an idle connection."""

    def _timeout_cb(self):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"421 4.4.2 aiosmtpd.test idle timeout\r\n")
        super()._timeout_cb()


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def sni(sslobj, name, context):
        STATE["sni"] = name

    ctx.sni_callback = sni
    return ctx


def main():
    out = sys.argv[1]
    flags = sys.argv[2:]
    # Failed handshakes are expected in tests: keep stderr for real errors.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="Requiring AUTH")
    creds = None
    auth = flag_value(flags, "--auth")
    if auth:
        user, password = auth.split(":", 1)
        creds = (user.encode(), password.encode())

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = creds is not None and (auth_data.login, auth_data.password) == creds
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    handler = Handler(out, flags)
    smtputf8 = "--smtputf8" in flags
    starttls = flag_value(flags, "--starttls", 2)
    implicit = flag_value(flags, "--implicit", 2)
    starttls_ctx = tls_context(*starttls) if starttls else None
    implicit_ctx = tls_context(*implicit) if implicit else None

    idle = flag_value(flags, "--idle")

    def factory():
        kwargs = dict(decode_data=False, hostname="aiosmtpd.test", enable_SMTPUTF8=smtputf8)
        if handler.xoauth2 is None:
            kwargs.update(auth_exclude_mechanism=["XOAUTH2"])
        if idle:
            kwargs.update(timeout=float(idle))
        if starttls_ctx is not None:
            kwargs.update(tls_context=starttls_ctx, require_starttls=True)
        if creds is not None:
            kwargs.update(
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=starttls_ctx is not None,
            )
        return (IdleSMTP if idle else CountingSMTP)(handler, **kwargs)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(
            factory, "127.0.0.1", int(flag_value(flags, "--port") or 0), ssl=implicit_ctx
        )
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    if "--exit-on-stdin-eof" in flags:

        def watch_stdin():
            try:
                sys.stdin.read()
            finally:
                os._exit(0)

        threading.Thread(target=watch_stdin, daemon=True).start()

    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
