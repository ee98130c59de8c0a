#!/usr/bin/env python3
"""Writes the hand-made seeds of the `engine` target to corpus/engine/.

Each seed is 4 configuration bytes, then a script: server bytes, and
0xFF <op> <arg> for everything else (see fuzz_targets/engine.rs).
Run from fuzz/: python3 seeds/engine.py
"""
import os

OUT = os.path.join(os.path.dirname(__file__), "..", "corpus", "engine")


def op(o, arg=0):
    return bytes([0xFF, ord(o), arg])


def seed(name, cfg, *parts):
    data = bytes(cfg) + b"".join(p if isinstance(p, bytes) else p.encode() for p in parts)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


F = op("|")  # deliver the server bytes so far

os.makedirs(OUT, exist_ok=True)

seed("pipelined_data", [0x01, 0x00, 0x01, 0x02],
     "220 mx ESMTP\r\n", F, "250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n", F,
     "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", F, "250 2.0.0 queued\r\n", op("Q"), "221 bye\r\n")

seed("starttls_plain_bdat", [0x33, 0x01, 0x01, 0x10],
     "220 mx\r\n", F, "250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n", F, "220 go ahead\r\n", op("T"),
     "250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 100000\r\n", F,
     "235 2.7.0 ok\r\n", F, "250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n", op("Q"), "221 bye\r\n")

seed("login_in_clear_require_all", [0x64, 0x02, 0x01, 0x00],
     "220 mx\r\n", F, "250-mx\r\n250 AUTH LOGIN\r\n", F, "334 VXNlcm5hbWU6\r\n", F,
     "334 UGFzc3dvcmQ6\r\n", F, "235 ok\r\n", F, "250 ok\r\n", F, "250 ok\r\n", F,
     "550 5.1.1 no such user\r\n", F, "250 reset\r\n", op("N"), "250 noop\r\n", op("Q"), "221 bye\r\n")

seed("cram_md5_bad_challenge", [0x60, 0x00, 0x00, 0x00],
     "220 mx\r\n", F, "250-mx\r\n250 AUTH CRAM-MD5 PLAIN\r\n", F, "334 !!!not-base64\r\n", F,
     "501 5.5.2 cancelled\r\n")

seed("greylist_then_421_utf8", [0x01, 0x00, 0x3E, 0x04],
     "220 mx\r\n", F, "250-mx\r\n250-PIPELINING\r\n250-SMTPUTF8\r\n250 8BITMIME\r\n", F,
     "250 ok\r\n451 4.7.1 greylisted\r\n250 ok\r\n250 ok\r\n354 go\r\n", F, "250 ok queued\r\n", F,
     "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", F, "421 4.3.2 shutting down\r\n")

seed("smuggling_body", [0x00, 0x00, 0x00, 0x00],
     op("B", ord("a")), "\r\n.\r\nMAIL FROM:<evil@x.example>\r\n\n.\n\r.\r..\r\r\n.", op("0"),
     "220 mx\r\n", F, "250 mx\r\n", F, "250 ok\r\n", F, "250 ok\r\n", F, "250 ok\r\n", F,
     "354 go\r\n", F, "250 queued\r\n", op("Q"), "221 bye\r\n")

seed("manual_commands", [0x00, 0x00, 0x00, 0x00],
     "220 mx\r\n", F, "250-mx\r\n250 SMTPUTF8\r\n", op("m", 0x00), "250 ok\r\n", op("r", 2), "250 ok\r\n",
     op("d"), "354 go\r\n", op("k", ord("l")), "ine1\n.\nline3\r", op("k", ord("\n")), "..",
     op("e"), "250 queued\r\n", op("m", 0x77), op("m", 0x03), "250 ok\r\n", op("r", 5), op("r", 7),
     op("r", 3), "250 ok\r\n", op("h", 3), op("s"), "250 ok\r\n", op("v", 0), "252 maybe\r\n",
     op("x", 4), op("Q"), "221 bye\r\n")

seed("starttls_response_injection", [0x08, 0x00, 0x01, 0x00],
     "220 mx\r\n", F, "250-mx\r\n250 STARTTLS\r\n", F, "220 go\r\n250-mx\r\n250 AUTH PLAIN\r\n")

seed("timeout_after_greeting", [0x00, 0x20, 0x01, 0x00],
     "220 mx\r\n", op("w"), op("W"))

seed("bdat_chunked_unknown_size", [0x03, 0x08, 0x11, 0x02],
     "220 mx\r\n", F, "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n", F,
     "250 ok\r\n250 ok\r\n250 ok\r\n", F, "250 chunk ok\r\n" * 12, op("Q"), "221 bye\r\n")

seed("bdat_size_too_small", [0x02, 0x00, 0x0D, 0x0F],
     "220 mx\r\n", F, "250-mx\r\n250 CHUNKING\r\n", F, "250 ok\r\n", F, "250 ok\r\n", F, "250 ok\r\n", F,
     "250 accepted\r\n")

seed("composed_size_limit", [0x01, 0x00, 0x19, 0x10],
     "220 mx\r\n", F, "250-mx\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 100\r\n250 SMTPUTF8\r\n", F,
     op("6"), "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", F, "250 queued\r\n", op("Q"), "221 bye\r\n")

seed("helo_fallback_failing_body", [0x00, 0x00, 0x15, 0x00],
     "220 mx\r\n", F, "502 5.5.1 no EHLO\r\n", F, "250 mx\r\n", F, "250 ok\r\n", F, "250 ok\r\n", F,
     "250 ok\r\n", F, "354 go\r\n", F, op("!", 3), op("!", 0x81))

seed("greeting_554_bad_hello", [0x00, 0x80, 0x01, 0x80], "554 go away\r\n")
seed("greeting_554", [0x00, 0x00, 0x01, 0x00], "554 go away\r\n", F, "221 bye\r\n")
