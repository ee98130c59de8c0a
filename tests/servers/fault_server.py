"""The scripted SMTP fault server, shared by tests/faults.rs (native clients)
and js/test/faults.test.mjs (the npm package): one listener per case of
tests/faults/cases.json, each a small hand-written SMTP server that
misbehaves in the way its case says (at, do, reply, times...; the schema is
in tests/faults/README.md) and behaves otherwise.

Usage: fault_server.py CASES_JSON OUT_FILE --cert CERT --key KEY
                       [--only NAME,NAME...] [--exit-on-stdin-eof]
                       [--save-dir DIR]

With --save-dir, the data of every message that arrived completely is
written to DIR/<case>-<conn>-<n>.eml (the "data" event names the file).

Prints "PORT <case> <port>" for every case, then "READY". Every event is
appended to OUT_FILE as one JSON line with "case" and "conn" (the
connection's number within the case, from 1) and "event":
  "connect"                    a connection was accepted
  "fault"   at, do             the fault fired
  "data"    from, message_id   a message's data was received completely
                               (before its reply)
  "accepted" from, to, message_id
                               a 2xx was written for the end of its data
                               (this is what "sent" means)

The server offers 8BITMIME, SIZE, ENHANCEDSTATUSCODES, SMTPUTF8, and per
case PIPELINING, CHUNKING (BDAT), STARTTLS and AUTH PLAIN/LOGIN (user
"user", password "secret"). Messages from fault@faults.test meet message
faults; any other sender is served normally.
"""

import argparse
import asyncio
import base64
import json
import re
import socket
import ssl
import struct
import sys
import threading

FAULT_SENDER = "fault@faults.test"
CONNECTION_STAGES = {"greeting", "ehlo", "helo", "starttls", "tls", "ehlo-tls", "auth"}
MESSAGE_STAGES = {"mail", "rcpt", "rcpt1", "rcpt2", "data", "body", "dot", "idle", "rset"}
# QUIT faults fire on every QUIT (of every connection, whatever was sent).
SESSION_STAGES = {"quit"}
USER, PASSWORD = "user", "secret"
SAVE_DIR = None


class Closed(Exception):
    """Ends the session (the connection is closed or to be closed)."""


class Case:
    def __init__(self, spec, log):
        self.spec = spec
        self.name = spec["name"]
        server = spec.get("server", {})
        self.tls = server.get("tls", "none")
        self.auth = server.get("auth", False)
        self.pipelining = server.get("pipelining", True)
        self.chunking = server.get("chunking", False)
        self.rcvbuf = server.get("rcvbuf")
        self.at = spec.get("at")
        self.do = spec.get("do")
        self.ehlo = server.get("ehlo", True)
        # A transaction from the fault sender answered this way before the
        # fault (e.g. a 550 to MAIL, so that the client resets).
        self.mail_reply = spec.get("mail_reply")
        # A slow reader: `slow_read_ms` after every 64 KiB of message
        # content, for the first `slow_read_octets` of it (default: all).
        self.slow_read_ms = server.get("slow_read_ms", 0)
        self.slow_read_octets = server.get("slow_read_octets", 1 << 62)
        if self.at not in CONNECTION_STAGES | MESSAGE_STAGES | SESSION_STAGES | {"none"}:
            raise SystemExit(f"case {self.name}: unknown stage {self.at!r}")
        if self.do not in ("close", "reset", "reply", "silence", "stall", "trickle", "long", "none"):
            raise SystemExit(f"case {self.name}: unknown fault {self.do!r}")
        default_times = 1 if self.at in CONNECTION_STAGES else None
        self.times = spec.get("times", default_times)
        self.conns = 0
        self.fired = 0
        self.log = log


def octets(text):
    """A reply string of the case file: lines joined by CRLF, one octet per character."""
    return b"".join(line.encode("latin-1") + b"\r\n" for line in text.split("\n"))


def message_id(data):
    m = re.search(rb"(?im)^Message-ID:\s*<([^>\r\n]*)>", data)
    return m.group(1).decode("latin-1") if m else None


class Session:
    def __init__(self, case, reader, writer, tls_context):
        self.case = case
        case.conns += 1
        self.conn = case.conns
        self.reader = reader
        self.writer = writer
        self.ctx = tls_context
        self.encrypted = False
        self.upgraded = False
        self.last_written = b""
        self.authed = False
        # A transaction from the fault sender was seen on this connection
        # (RSET faults fire after it).
        self.fault_seen = False
        self.saved = 0
        self.reset()

    def reset(self):
        self.mail_from = None
        self.rcpts = []
        self.fault_txn = False
        self.bdat = bytearray()

    def log(self, event, **fields):
        self.case.log({"case": self.case.name, "conn": self.conn, "event": event, **fields})

    # ----- faults -----

    def fires(self, stage):
        c = self.case
        if stage != c.at and not (c.at == "rcpt" and stage.startswith("rcpt")):
            return False
        if stage in CONNECTION_STAGES:
            return self.conn <= c.times
        if stage in SESSION_STAGES:
            return True
        if stage == "rset":
            return self.fault_seen and (c.times is None or c.fired < c.times)
        if not self.fault_txn:
            return False
        return c.times is None or c.fired < c.times

    async def write(self, data):
        self.writer.write(data)
        await self.writer.drain()

    async def fault(self, stage):
        """Performs the case's fault at `stage`. Returns the reply octets
        written (for reply), or raises Closed."""
        c = self.case
        if c.at in MESSAGE_STAGES:
            c.fired += 1
        self.log("fault", at=stage, do=c.do)
        self.last_written = b""
        if stage == "tls" and c.do in ("close", "reply"):
            # Answer the ClientHello (so that this is a handshake failure,
            # not plaintext pipelined after the STARTTLS 220).
            if not await self.reader.read(5):
                raise Closed()
        if c.do == "close":
            raise Closed()
        if c.do == "reset":
            # Close with SO_LINGER 0: the kernel sends RST, not FIN, so the
            # client reads ECONNRESET, not an end of stream. After a pause:
            # an RST that arrives with the previous reply's octets is
            # reported by libuv (Node) as an end of stream.
            await asyncio.sleep(0.1)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raise Closed()
        if c.do == "stall":
            # Stop reading (the client's writes block once the buffers are
            # full) and never answer.
            await asyncio.sleep(c.spec.get("stall_ms", 30000) / 1000)
            raise Closed()
        if c.do == "silence":
            # Read and drop whatever comes until the client gives up.
            while await self.reader.read(65536):
                pass
            raise Closed()
        if c.do == "long":
            # One line of `bytes` octets, or (multiline) as many 1000-octet
            # lines of one reply.
            code = c.spec.get("code", "250").encode()
            left = int(c.spec.get("bytes", 10 * 1024 * 1024))
            if c.spec.get("multiline"):
                line = code + b"-" + b"x" * 994 + b"\r\n"
                block = line * 64
            else:
                await self.write(code + b" ")
                block = b"x" * 65536
            while left > 0:
                await self.write(block[: min(left, len(block))])
                left -= len(block)
            await self.write(code + b" end\r\n" if c.spec.get("multiline") else b"\r\n")
            raise Closed()
        data = octets(c.spec["reply"])
        if c.do == "trickle":
            interval = c.spec.get("interval_ms", 100) / 1000
            for i in range(len(data)):
                await self.write(data[i : i + 1])
                await asyncio.sleep(interval)
        else:
            await self.write(data)
        self.last_written = data
        if "after" in c.spec:
            await asyncio.sleep(c.spec.get("after_ms", 0) / 1000)
            await self.write(octets(c.spec["after"]))
        if data.startswith(b"421") or c.spec.get("then") == "close":
            raise Closed()
        return data

    async def answer(self, stage, normal):
        """The fault's reply at `stage` if it fires, else `normal`. Returns
        the octets written."""
        if self.fires(stage):
            return await self.fault(stage)
        await self.write(octets(normal))
        return octets(normal)

    # ----- the session -----

    async def tls(self):
        if self.fires("tls"):
            await self.fault("tls")
        await self.writer.start_tls(self.ctx)
        self.encrypted = True

    def ehlo_lines(self):
        lines = ["250-faults.test at your service", "250-8BITMIME", "250-SIZE 104857600", "250-ENHANCEDSTATUSCODES"]
        if self.case.pipelining:
            lines.append("250-PIPELINING")
        if self.case.chunking:
            lines.append("250-CHUNKING")
        if self.case.tls == "starttls" and not self.encrypted:
            lines.append("250-STARTTLS")
        if self.case.auth:
            lines.append("250-AUTH PLAIN LOGIN")
        lines.append("250 SMTPUTF8")
        return "\n".join(lines)

    async def run(self):
        self.log("connect")
        if self.case.tls == "implicit":
            await self.tls()
        await self.answer("greeting", "220 faults.test ESMTP fault server")
        while True:
            line = await self.reader.readline()
            if not line:
                raise Closed()
            if not line.endswith(b"\n"):
                raise Closed()
            cmd = line.rstrip(b"\r\n").decode("latin-1")
            verb, _, arg = cmd.partition(" ")
            verb = verb.upper()
            handler = getattr(self, "cmd_" + verb, None)
            if handler is None:
                await self.write(b"500 5.5.2 command not recognized\r\n")
            else:
                await handler(arg)

    async def cmd_EHLO(self, arg):
        stage = "ehlo-tls" if self.upgraded else "ehlo"
        self.reset()
        if not self.case.ehlo:
            await self.write(b"502 5.5.1 EHLO not implemented\r\n")
            return
        await self.answer(stage, self.ehlo_lines())

    async def cmd_HELO(self, arg):
        self.reset()
        await self.answer("helo", "250 faults.test")

    async def cmd_STARTTLS(self, arg):
        if self.case.tls != "starttls" or self.encrypted:
            await self.write(b"503 5.5.1 TLS not available\r\n")
            return
        sent = await self.answer("starttls", "220 2.0.0 ready to start TLS")
        if not sent.startswith(b"220"):
            return
        await self.tls()
        self.upgraded = True
        self.reset()

    async def cmd_AUTH(self, arg):
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        if self.fires("auth"):
            await self.fault("auth")
            return
        if mech == "PLAIN":
            if not initial:
                await self.write(b"334 \r\n")
                initial = (await self.reader.readline()).strip().decode("latin-1")
            try:
                parts = base64.b64decode(initial).split(b"\0")
                ok = parts[1:] == [USER.encode(), PASSWORD.encode()]
            except Exception:
                ok = False
        elif mech == "LOGIN":
            if initial:
                user = initial.encode("latin-1")
            else:
                await self.write(b"334 VXNlcm5hbWU6\r\n")
                user = (await self.reader.readline()).strip()
            await self.write(b"334 UGFzc3dvcmQ6\r\n")
            password = (await self.reader.readline()).strip()
            try:
                ok = base64.b64decode(user) == USER.encode() and base64.b64decode(password) == PASSWORD.encode()
            except Exception:
                ok = False
        else:
            await self.write(b"504 5.5.4 mechanism not supported\r\n")
            return
        self.authed = ok
        await self.write(b"235 2.7.0 authenticated\r\n" if ok else b"535 5.7.8 bad credentials\r\n")

    async def cmd_MAIL(self, arg):
        m = re.match(r"(?i)FROM:\s*<([^>]*)>", arg)
        if not m:
            await self.write(b"501 5.5.4 syntax: MAIL FROM:<address>\r\n")
            return
        if self.case.auth and not self.authed:
            await self.write(b"530 5.7.0 authentication required\r\n")
            return
        self.reset()
        self.mail_from = m.group(1)
        self.fault_txn = self.mail_from == FAULT_SENDER
        if self.fault_txn:
            self.fault_seen = True
        if self.fault_txn and self.case.mail_reply:
            await self.write(octets(self.case.mail_reply))
            self.reset()
            return
        sent = await self.answer("mail", "250 2.1.0 sender ok")
        if not sent.startswith(b"2"):
            self.reset()

    async def cmd_RCPT(self, arg):
        m = re.match(r"(?i)TO:\s*<([^>]*)>", arg)
        if self.mail_from is None:
            await self.write(b"503 5.5.1 MAIL first\r\n")
            return
        if not m:
            await self.write(b"501 5.5.4 syntax: RCPT TO:<address>\r\n")
            return
        n = len(self.rcpts) + 1
        stage = f"rcpt{n}"
        if self.fires(stage):
            sent = await self.fault(stage)
        else:
            sent = octets("250 2.1.5 recipient ok")
            await self.write(sent)
        # A refused recipient still counts (rcpt2 is the second RCPT).
        self.rcpts.append(m.group(1) if sent.startswith(b"2") else None)

    def accepted_rcpts(self):
        return [r for r in self.rcpts if r is not None]

    async def cmd_DATA(self, arg):
        if self.mail_from is None or not self.accepted_rcpts():
            await self.write(b"554 5.5.1 no valid recipients\r\n")
            return
        sent = await self.answer("data", "354 end data with <CR><LF>.<CR><LF>")
        if not sent.startswith(b"354"):
            return
        data = bytearray()
        body_fault = self.fires("body")
        after = int(self.case.spec.get("body_after", 65536))
        while True:
            line = await self.reader.readline()
            if not line:
                raise Closed()
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            data += line
            if (
                self.case.slow_read_ms
                and len(data) <= self.case.slow_read_octets
                and len(data) // 65536 != (len(data) - len(line)) // 65536
            ):
                await asyncio.sleep(self.case.slow_read_ms / 1000)
            if body_fault and len(data) >= after:
                await self.fault("body")
                body_fault = False
        await self.end_of_data(bytes(data))

    async def cmd_BDAT(self, arg):
        parts = arg.split()
        if not parts or not parts[0].isdigit() or len(parts) > 2:
            await self.write(b"501 5.5.4 syntax: BDAT size [LAST]\r\n")
            return
        size = int(parts[0])
        last = len(parts) == 2 and parts[1].upper() == "LAST"
        body_fault = self.fires("body")
        after = int(self.case.spec.get("body_after", 65536))
        left = size
        while left > 0:
            chunk = await self.reader.read(min(left, 65536))
            if not chunk:
                raise Closed()
            left -= len(chunk)
            self.bdat += chunk
            if body_fault and len(self.bdat) >= after:
                await self.fault("body")
                body_fault = False
        if self.mail_from is None or not self.accepted_rcpts():
            self.bdat = bytearray()
            await self.write(b"554 5.5.1 no valid recipients\r\n")
            return
        if not last:
            await self.write(b"250 2.0.0 chunk received\r\n")
            return
        data, self.bdat = bytes(self.bdat), bytearray()
        await self.end_of_data(data)

    async def end_of_data(self, data):
        mid = message_id(data)
        record = {"from": self.mail_from, "message_id": mid, "size": len(data)}
        if SAVE_DIR:
            self.saved += 1
            path = f"{SAVE_DIR}/{self.case.name}-{self.conn}-{self.saved}.eml"
            with open(path, "wb") as f:
                f.write(data)
            record["file"] = path
        self.log("data", **record)
        accepted = {"from": self.mail_from, "to": self.accepted_rcpts(), "message_id": mid}
        try:
            sent = await self.answer("dot", "250 2.0.0 queued as F00D")
        except Closed:
            # A reply written before a close (e.g. "250" then "421") counts.
            if self.last_written.startswith(b"2"):
                self.log("accepted", **accepted)
            raise
        if sent.startswith(b"2"):
            self.log("accepted", **accepted)
        idle = self.fires("idle")
        self.reset()
        if idle:
            await asyncio.sleep(self.case.spec.get("idle_ms", 300) / 1000)
            await self.fault("idle")

    async def cmd_RSET(self, arg):
        self.reset()
        if self.fires("rset"):
            self.fault_seen = False
            await self.fault("rset")
            return
        await self.write(b"250 2.0.0 reset\r\n")

    async def cmd_NOOP(self, arg):
        await self.write(b"250 2.0.0 ok\r\n")

    async def cmd_QUIT(self, arg):
        if self.fires("quit"):
            await self.fault("quit")
            # After a reply fault the session ends as QUIT asks.
            raise Closed()
        await self.write(b"221 2.0.0 bye\r\n")
        raise Closed()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cases")
    p.add_argument("out")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--only", default="")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    p.add_argument("--save-dir")
    args = p.parse_args()
    global SAVE_DIR
    SAVE_DIR = args.save_dir

    with open(args.cases, encoding="utf-8") as f:
        specs = json.load(f)["cases"]
    only = {n for n in args.only.split(",") if n}
    if only:
        unknown = only - {s["name"] for s in specs}
        if unknown:
            raise SystemExit(f"unknown cases: {sorted(unknown)}")
        specs = [s for s in specs if s["name"] in only]

    out = open(args.out, "a", encoding="utf-8")

    def log(record):
        out.write(json.dumps(record) + "\n")
        out.flush()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)

    async def serve():
        loop = asyncio.get_running_loop()
        # Handshake failures the client causes on purpose are not news.
        loop.set_exception_handler(lambda loop, context: None)
        servers = []
        for spec in specs:
            case = Case(spec, log)

            async def handle(reader, writer, case=case):
                session = Session(case, reader, writer, ctx)
                try:
                    await session.run()
                except (Closed, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError,
                        asyncio.LimitOverrunError, ValueError):
                    pass
                finally:
                    try:
                        writer.close()
                    except Exception:
                        pass

            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if case.rcvbuf:
                # Small buffers keep a large body in flight at the client
                # (so that "mid-body" really is mid-body).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(case.rcvbuf))
            sock.bind(("127.0.0.1", 0))
            # The default line limit (64 KiB) also bounds what the reader
            # buffers ahead (2 x limit) before it stops reading.
            server = await asyncio.start_server(handle, sock=sock)
            servers.append(server)
            print(f"PORT {case.name} {sock.getsockname()[1]}", flush=True)
        print("READY", flush=True)
        if args.exit_on_stdin_eof:
            done = asyncio.Event()

            def watch_stdin():
                sys.stdin.buffer.read()
                loop.call_soon_threadsafe(done.set)

            threading.Thread(target=watch_stdin, daemon=True).start()
            await done.wait()
        else:
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
