#!/usr/bin/env python3
"""Check a corpus of messages with CPython's `email` package.

Usage: check_python.py CORPUS_DIR

CORPUS_DIR holds pairs NAME.eml + NAME.json (the expectation; see README.md
beside this file). Each message is parsed with
email.message_from_bytes(data, policy=email.policy.default), the fields are
extracted and compared with the JSON. Prints one line per mismatch
(`NAME: field: expected ... got ...`), then `python: N passed, M failed`.
Exits 1 if any message failed (or the corpus is empty/unreadable), else 0.
A key missing from the JSON is not checked.
"""

import email
import email.policy
import hashlib
import json
import sys
from email.header import decode_header, make_header
from email.utils import getaddresses
from pathlib import Path

ADDRESS_FIELDS = {"from": "from", "to": "to", "cc": "cc", "reply_to": "reply-to"}


def lf(text):
    """Normalise line endings for body comparison."""
    return None if text is None else text.replace("\r\n", "\n")


def utf8(value):
    """Undo CPython's surrogate escapes for raw UTF-8 (RFC 6532) headers.

    The parser reads 8-bit header octets as ASCII with surrogateescape, so a
    raw UTF-8 header (SMTPUTF8 messages) comes out as lone surrogates; the
    octets themselves are intact and decode as UTF-8.
    """
    if value is None or not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def strip_angle(value):
    if value is None:
        return None
    value = str(value).strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def raw_header(msg, name):
    """The header's value as it is in the source (not decoded), or None."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def addresses(msg, header):
    value = msg[header]
    if value is None:
        return []
    # .addresses flattens groups into their members (an empty group adds none).
    return [
        {"name": utf8(a.display_name or ""), "address": utf8(a.addr_spec)}
        for a in value.addresses
    ]


def fallback_names(msg, header):
    """address -> display name decoded with decode_header + make_header.

    Works around CPython gh-128110: policy.default puts a space between
    adjacent encoded words inside a display name ("=?..?= =?..?=").
    """
    raw = raw_header(msg, header)
    if raw is None:
        return {}
    names = {}
    for name, addr in getaddresses([raw]):
        try:
            names[addr] = str(make_header(decode_header(name)))
        except Exception:  # noqa: BLE001 - a broken header just gets no fallback
            pass
    return names


def leaf_parts(part, in_related=False):
    """Yield (leaf, in_related) for every leaf part, in MIME order.

    message/rfc822 parts are leaves too (an attached message is one attachment).
    """
    if part.is_multipart() and part.get_content_type() != "message/rfc822":
        inside = in_related or part.get_content_type() == "multipart/related"
        for sub in part.iter_parts():
            yield from leaf_parts(sub, inside)
    else:
        yield part, in_related


def part_bytes(part):
    if part.get_content_type() == "message/rfc822":
        # Re-serialised (with CRLF, as sent): may differ from the source
        # bytes when Python refolds a header.
        inner = part.get_payload(0)
        crlf = email.policy.default.clone(linesep="\r\n")
        return inner.as_bytes(policy=crlf) if inner is not None else b""
    data = part.get_payload(decode=True)
    return data if data is not None else b""


def extract(msg):
    got = {}
    subject = msg["subject"]
    got["subject"] = None if subject is None else utf8(str(subject))
    for field, header in ADDRESS_FIELDS.items():
        got[field] = addresses(msg, header)
    got["message_id"] = strip_angle(msg["message-id"])

    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    got["text"] = None if plain is None else plain.get_content()
    got["html"] = None if html is None else html.get_content()

    attachments = []
    for part, in_related in leaf_parts(msg):
        if part is plain or part is html:
            continue
        data = part_bytes(part)
        cid = strip_angle(part["content-id"])
        disposition = part.get_content_disposition()
        attachments.append(
            {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "content_id": cid,
                # Same rule as the mailparser checker: Content-Disposition
                # inline, or a Content-ID part inside multipart/related.
                "inline": disposition == "inline" or (cid is not None and in_related),
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
        )
    got["attachments"] = attachments
    return got


def attachment_key(att):
    return (att.get("content_id") or "", att.get("filename") or "", att.get("sha256") or "")


def compare(name, msg, expected, got):
    """Return a list of mismatch lines."""
    out = []

    def mismatch(field, want, have):
        out.append(f"{name}: {field}: expected {want!r} got {have!r}")

    for field in ("subject", "message_id"):
        if field in expected and expected[field] != got[field]:
            mismatch(field, expected[field], got[field])

    for field in ("text", "html"):
        if field in expected and lf(expected[field]) != lf(got[field]):
            mismatch(field, lf(expected[field]), lf(got[field]))

    for field, header in ADDRESS_FIELDS.items():
        if field not in expected:
            continue
        want, have = expected[field], got[field]
        if len(want) != len(have):
            mismatch(field, want, have)
            continue
        fallback = None
        for i, (w, h) in enumerate(zip(want, have)):
            w_name, w_addr = w.get("name", ""), w.get("address")
            if w_addr != h["address"]:
                mismatch(f"{field}[{i}].address", w_addr, h["address"])
            if w_name != h["name"]:
                if fallback is None:
                    fallback = fallback_names(msg, header)
                if fallback.get(h["address"]) != w_name:
                    mismatch(f"{field}[{i}].name", w_name, h["name"])

    if "attachments" in expected:
        want = sorted(expected["attachments"], key=attachment_key)
        have = sorted(got["attachments"], key=attachment_key)
        if len(want) != len(have):
            mismatch(
                "attachments",
                [a.get("filename") or a.get("content_id") for a in want],
                [a.get("filename") or a.get("content_id") for a in have],
            )
        else:
            for i, (w, h) in enumerate(zip(want, have)):
                label = w.get("filename") or w.get("content_id") or i
                for key, value in w.items():
                    if h.get(key) != value:
                        mismatch(f"attachments[{label}].{key}", value, h.get(key))

    for header, value in (expected.get("headers") or {}).items():
        have = msg[header]
        have = None if have is None else str(have)
        if have != value:
            mismatch(f"headers.{header}", value, have)
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    corpus = Path(argv[1])
    if not corpus.is_dir():
        print(f"python: not a directory: {corpus}", file=sys.stderr)
        return 2
    names = sorted({p.stem for p in corpus.glob("*.eml")} | {p.stem for p in corpus.glob("*.json")})
    passed = failed = 0
    for name in names:
        eml, exp = corpus / f"{name}.eml", corpus / f"{name}.json"
        try:
            expected = json.loads(exp.read_text(encoding="utf-8"))
            msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
            problems = compare(name, msg, expected, extract(msg))
        except Exception as err:  # noqa: BLE001 - report and go on with the next message
            problems = [f"{name}: error: {type(err).__name__}: {err}"]
        for line in problems:
            print(line)
        if problems:
            failed += 1
        else:
            passed += 1
    if not names:
        print(f"python: no NAME.eml/NAME.json pairs in {corpus}", file=sys.stderr)
    print(f"python: {passed} passed, {failed} failed")
    return 1 if failed or not names else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
