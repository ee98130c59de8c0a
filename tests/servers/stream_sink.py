#!/usr/bin/env python3
"""A small SMTP sink for the streaming tests and bench: it keeps nothing.

Usage: stream_sink.py OUT.jsonl [--chunking] [--expect zeros|pattern] [--exit-on-stdin-eof]

Listens on a free loopback port (prints ``PORT n``), speaks enough ESMTP
for a client (EHLO with PIPELINING, 8BITMIME, SIZE, SMTPUTF8 and, with
``--chunking``, CHUNKING; MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT) and
reads each message as it streams in, holding only the current read
buffer: it counts the octets, finds the first base64 body part
(``Content-Transfer-Encoding: base64`` up to the next ``--`` line),
decodes it strictly (binascii strict mode) in 4-character groups, and
checks its line structure (76 characters a line, the last one shorter).

With ``--expect`` it compares the decoded bytes with what the sender
generated instead of hashing them: ``zeros`` (a sparse file) or
``pattern``, the test pattern: blocks of 1 MiB where octet ``i`` of a
block is ``(i * 167 + (i >> 11)) & 0xff`` and the block's first 8 octets
are its index (little-endian), cut at the stream's length. The senders
(tests/streaming.rs, js/test/stream_child.mjs) write the same pattern.

For every message it appends one JSON line to OUT: ``event`` is
``message`` (accepted: ``conn`` number, ``size``, ``mode`` DATA/BDAT,
``chunks``, ``mail_options``, ``b64_chars``, ``b64_lines``, ``decoded``,
``md5`` of the decoded bytes or ``expected`` (whether they matched
``--expect``), ``b64_ok`` whether the line structure and padding are
right), ``reset`` (RSET in the middle of a BDAT transaction: nothing
kept) or ``aborted`` (the connection ended inside a message).
"""

import binascii
import hashlib
import json
import socket
import sys
import threading

READ = 1 << 20
BLOCK = 1 << 20


class Pattern:
    """The test pattern (see the module's docstring), compared piecewise."""

    BASE = None

    def __init__(self):
        if Pattern.BASE is None:
            Pattern.BASE = bytes(((i * 167) + (i >> 11)) & 0xFF for i in range(BLOCK))
        self.base = Pattern.BASE
        self.k = -1
        self.block = b""

    def matches(self, offset, raw):
        # Slices of bytes compare with memcmp (memoryviews element-wise).
        pos = 0
        while pos < len(raw):
            k, at = divmod(offset + pos, BLOCK)
            if k != self.k:
                self.k = k
                self.block = k.to_bytes(8, "little") + self.base[8:]
            take = min(len(raw) - pos, BLOCK - at)
            if raw[pos : pos + take] != self.block[at : at + take]:
                return False
            pos += take
        return True


class Zeros:
    def matches(self, offset, raw):
        return raw.count(0) == len(raw)


class Analyzer:
    """Counts a message's octets and checks its first base64 part."""

    CTE = b"content-transfer-encoding: base64\r\n"

    def __init__(self, expect=None):
        self.expect = expect
        self.expected = True
        self.size = 0
        self.state = "head"  # head -> b64 -> tail
        self.head = b""
        self.carry = b""  # the text from the last line end on (a line or the end marker may go on)
        self.rem = b""
        self.b64_chars = 0
        self.b64_lines = 0
        self.decoded = 0
        self.md5 = hashlib.md5()
        self.bad = None

    def feed(self, data):
        self.size += len(data)
        if self.state == "head":
            self.head += data
            low = self.head.lower()
            at = low.find(self.CTE)
            if at < 0:
                # Keep a tail long enough to hold the header line.
                self.head = self.head[-len(self.CTE) :]
                return
            blank = self.head.find(b"\r\n\r\n", at + len(self.CTE) - 2)
            if blank < 0:
                if len(self.head) > 65536:
                    self.bad = "no blank line after the base64 part's headers"
                    self.state = "tail"
                return
            data = self.head[blank + 4 :]
            self.head = b""
            self.state = "b64"
        if self.state == "b64":
            self._b64(data)

    def _b64(self, data):
        buf = self.carry + data
        end = buf.find(b"\r\n--")
        if end >= 0:
            text, self.carry = buf[: end + 2], b""
            self.state = "tail"
        else:
            # A line end or the end marker may straddle reads: keep the
            # text from the last line end on.
            cut = max(buf.rfind(b"\r\n"), 0)
            text, self.carry = buf[:cut], buf[cut:]
        self.b64_lines += text.count(b"\r\n")
        clean = self.rem + text.replace(b"\r\n", b"")
        self.b64_chars += len(clean) - len(self.rem)
        whole = len(clean) // 4 * 4
        try:
            raw = binascii.a2b_base64(clean[:whole], strict_mode=True)
        except binascii.Error as e:
            self.bad = self.bad or f"base64: {e}"
            raw = b""
        self.rem = clean[whole:]
        if self.expect is not None:
            if self.expected and not self.expect.matches(self.decoded, raw):
                self.expected = False
        else:
            self.md5.update(raw)
        self.decoded += len(raw)

    def report(self):
        if self.state == "b64":
            self.bad = self.bad or "the base64 part has no end"
        expected_chars = (self.decoded + 2) // 3 * 4
        expected_lines = (self.b64_chars + 75) // 76
        ok = (
            self.bad is None
            and not self.rem
            and self.b64_chars == expected_chars
            and self.b64_lines == expected_lines
        )
        return {
            "size": self.size,
            "b64_chars": self.b64_chars,
            "b64_lines": self.b64_lines,
            "decoded": self.decoded,
            "md5": None if self.expect else self.md5.hexdigest(),
            "expected": self.expected if self.expect else None,
            "b64_ok": ok,
            "error": self.bad,
        }


class Data:
    """DATA content: finds the terminator and un-stuffs dots across reads."""

    def __init__(self, analyzer):
        self.analyzer = analyzer
        self.pending = b"\r\n"  # a virtual line end before the first line
        self.first = True

    def feed(self, data):
        """Returns None while the message goes on, else the bytes after it."""
        buf = self.pending + data
        end = buf.find(b"\r\n.\r\n")
        if end >= 0:
            seg, rest = buf[: end + 2], buf[end + 5 :]
        else:
            cut = buf.rfind(b"\r\n")
            if cut <= 0:
                self.pending = buf
                return None
            seg, self.pending, rest = buf[:cut], buf[cut:], None
        seg = seg.replace(b"\r\n..", b"\r\n.")
        if self.first:
            seg = seg[2:]
            self.first = False
        self.analyzer.feed(seg)
        return rest


class Conn:
    def __init__(self, sock, out, chunking, lock, n, expect):
        self.sock = sock
        self.out = out
        self.chunking = chunking
        self.lock = lock
        self.n = n
        self.expect = expect
        self.reset()

    def reset(self):
        self.mail_options = []
        self.rcpts = 0
        self.analyzer = None
        self.chunks = 0

    def record(self, event, **fields):
        with self.lock:
            with open(self.out, "a") as f:
                f.write(json.dumps({"event": event, "conn": self.n, **fields}) + "\n")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def accepted(self, mode):
        self.record(
            "message",
            mode=mode,
            chunks=self.chunks,
            mail_options=self.mail_options,
            rcpts=self.rcpts,
            **self.analyzer.report(),
        )
        self.reset()

    def run(self):
        buf = b""
        data = None  # a Data reader while inside DATA
        bdat_left = 0
        bdat_last = False
        self.send("220 sink ESMTP")
        while True:
            if data is not None:
                rest = data.feed(buf)
                buf = b""
                if rest is None:
                    pass
                else:
                    buf = rest
                    data = None
                    self.accepted("DATA")
                    self.send("250 2.0.0 accepted")
                    continue
            elif bdat_left > 0:
                take = buf[:bdat_left]
                buf = buf[bdat_left:]
                bdat_left -= len(take)
                self.analyzer.feed(take)
                if bdat_left == 0:
                    self.bdat_done(bdat_last)
                    continue
            else:
                nl = buf.find(b"\r\n")
                if nl >= 0:
                    line, buf = buf[:nl].decode("utf-8", "replace"), buf[nl + 2 :]
                    verdict = self.command(line)
                    if verdict == "quit":
                        return
                    if verdict == "data":
                        data = Data(self.analyzer)
                    elif isinstance(verdict, tuple):
                        bdat_left, bdat_last = verdict
                        if bdat_left == 0:
                            self.bdat_done(bdat_last)
                    continue
                if len(buf) > 4096:
                    self.send("500 line too long")
                    return
            chunk = self.sock.recv(READ)
            if not chunk:
                if self.analyzer is not None and (data is not None or bdat_left or self.chunks):
                    self.record("aborted", received=self.analyzer.size)
                return
            buf += chunk

    def bdat_done(self, last):
        self.chunks += 1
        if last:
            self.accepted("BDAT")
            self.send("250 2.0.0 accepted")
        else:
            self.send("250 2.0.0 chunk ok")

    def command(self, line):
        verb = line.split(" ", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            caps = ["sink", "PIPELINING", "8BITMIME", "SIZE 0", "SMTPUTF8"]
            if self.chunking:
                caps.append("CHUNKING")
            for i, c in enumerate(caps):
                self.send(("250 " if i == len(caps) - 1 else "250-") + c)
        elif verb == "MAIL":
            self.reset()
            self.analyzer = Analyzer(self.expect())
            rest = line.split(">", 1)[1] if ">" in line else ""
            self.mail_options = rest.split()
            self.send("250 2.1.0 ok")
        elif verb == "RCPT":
            self.rcpts += 1
            self.send("250 2.1.5 ok")
        elif verb == "DATA":
            if self.analyzer is None or not self.rcpts:
                self.send("503 5.5.1 need MAIL and RCPT")
                return None
            self.send("354 go ahead")
            return "data"
        elif verb == "BDAT":
            parts = line.split()
            try:
                n = int(parts[1])
            except (IndexError, ValueError):
                self.send("501 5.5.4 BDAT needs a size")
                return None
            last = len(parts) > 2 and parts[2].upper() == "LAST"
            if self.analyzer is None:
                self.analyzer = Analyzer(self.expect())
            return (n, last)
        elif verb == "RSET":
            if self.analyzer is not None and self.chunks:
                self.record("reset", received=self.analyzer.size, chunks=self.chunks)
            self.reset()
            self.send("250 2.0.0 reset")
        elif verb == "NOOP":
            self.send("250 2.0.0 ok")
        elif verb == "QUIT":
            self.send("221 2.0.0 bye")
            return "quit"
        else:
            self.send("502 5.5.2 not implemented")
        return None


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = args[0]
    chunking = "--chunking" in args
    expect = None
    if "--expect" in args:
        kind = args[args.index("--expect") + 1]
        expect = {"zeros": Zeros, "pattern": Pattern}[kind]
    lock = threading.Lock()
    conns = [0]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print(f"PORT {srv.getsockname()[1]}", flush=True)
    if "--exit-on-stdin-eof" in args:

        def watch():
            sys.stdin.read()
            srv.close()
            import os

            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()

    def serve(sock, n):
        make = (lambda: expect()) if expect else (lambda: None)
        try:
            Conn(sock, out, chunking, lock, n, make).run()
        except OSError:
            pass
        finally:
            sock.close()

    while True:
        try:
            sock, _ = srv.accept()
        except OSError:
            return
        conns[0] += 1
        threading.Thread(target=serve, args=(sock, conns[0]), daemon=True).start()


if __name__ == "__main__":
    main()
