"""aiosmtpd for the JS tests (js/test/).

Usage: aiosmtpd_server.py OUT_FILE [--smtputf8]

Listens on a free loopback port, prints "PORT <n>" on stdout, and appends
every message received to OUT_FILE as one JSON line: {"mail_from",
"rcpt_tos", "data" (base64 of the bytes as received, dot-stuffing removed)}.
Exits when stdin closes (so it never outlives the test that started it).
"""

import asyncio
import base64
import json
import sys
import threading
import os

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": base64.b64encode(envelope.original_content).decode(),
        }
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 2.0.0 OK queued"


def main():
    out = sys.argv[1]
    smtputf8 = "--smtputf8" in sys.argv[2:]
    handler = Handler(out)

    def factory():
        return SMTP(handler, enable_SMTPUTF8=smtputf8, decode_data=False, hostname="aiosmtpd.test")

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)

    def watch_stdin():
        try:
            sys.stdin.read()
        finally:
            os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    loop.run_forever()


if __name__ == "__main__":
    main()
