#!/usr/bin/env node
// Check a corpus of messages with npm's `mailparser` (simpleParser).
//
// Usage: node check_mailparser.mjs CORPUS_DIR
//
// CORPUS_DIR holds pairs NAME.eml + NAME.json (the expectation; see README.md
// beside this file). Prints one line per mismatch
// (`NAME: field: expected ... got ...`), then `mailparser: N passed, M failed`.
// Exits 1 if any message failed (or the corpus is empty), else 0.
// A key missing from the JSON is not checked.
//
// mailparser is loaded from tests/node/node_modules (scripts/setup.sh installs it).

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { domainToUnicode, fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'node', 'package.json'));
const { simpleParser } = require('mailparser');
// mailparser's own MIME library (a dependency of mailparser): used to decode
// encoded words in headers that mailparser leaves as raw text.
const libmime = createRequire(require.resolve('mailparser'))('libmime');

// Headers whose string value mailparser has already decoded.
const DECODED_HEADERS = new Set(['subject', 'message-id', 'in-reply-to', 'references']);

const ADDRESS_FIELDS = { from: 'from', to: 'to', cc: 'cc', reply_to: 'replyTo' };

const lf = (s) => (s == null ? null : s.replace(/\r\n/g, '\n'));
const stripAngle = (s) => (s == null ? null : String(s).trim().replace(/^<([^]*)>$/, '$1').trim());
// mailparser turns A-label (punycode) domains into Unicode: compare both
// sides in Unicode.
const unicodeAddress = (a) => {
  if (typeof a !== 'string') return a;
  const at = a.lastIndexOf('@');
  return at < 0 ? a : a.slice(0, at + 1) + (domainToUnicode(a.slice(at + 1)) || a.slice(at + 1));
};
const show = (v) => JSON.stringify(v === undefined ? null : v);

// mailparser gives an AddressObject, or an array of them when the header repeats.
function addresses(obj) {
  const out = [];
  const visit = (entry) => {
    if (Array.isArray(entry.group)) {
      entry.group.forEach(visit); // flatten groups into their members
    } else {
      out.push({ name: entry.name || '', address: entry.address ?? null });
    }
  };
  for (const o of [].concat(obj || [])) (o.value || []).forEach(visit);
  return out;
}

function extract(mail) {
  return {
    subject: mail.subject ?? null,
    ...Object.fromEntries(Object.entries(ADDRESS_FIELDS).map(([k, f]) => [k, addresses(mail[f])])),
    message_id: stripAngle(mail.messageId),
    text: mail.text ?? null,
    html: typeof mail.html === 'string' ? mail.html : null, // `false` when absent
    attachments: (mail.attachments || []).map((a) => ({
      filename: a.filename ?? null,
      content_type: a.contentType ?? null,
      content_id: a.cid ?? null,
      // Same rule as the Python checker: Content-Disposition inline, or a
      // Content-ID part inside multipart/related (mailparser's `related`).
      inline: a.contentDisposition === 'inline' || a.related === true,
      sha256: createHash('sha256').update(a.content).digest('hex'),
      size: a.content.length,
    })),
  };
}

const attachmentKey = (a) => [a.content_id || '', a.filename || '', a.sha256 || ''].join('\u0000');
const byKey = (x, y) => (attachmentKey(x) < attachmentKey(y) ? -1 : attachmentKey(x) > attachmentKey(y) ? 1 : 0);

function compare(name, mail, expected, got) {
  const out = [];
  const mismatch = (field, want, have) => out.push(`${name}: ${field}: expected ${show(want)} got ${show(have)}`);

  for (const field of ['subject', 'message_id']) {
    if (field in expected && expected[field] !== got[field]) mismatch(field, expected[field], got[field]);
  }
  // For an HTML-only message mailparser generates a text version: only compare
  // text when the expectation has one.
  // An empty text body comes back as no text at all.
  if (expected.text != null && lf(expected.text) !== lf(got.text ?? '')) mismatch('text', lf(expected.text), lf(got.text));
  if ('html' in expected && lf(expected.html) !== lf(got.html)) mismatch('html', lf(expected.html), lf(got.html));

  for (const field of Object.keys(ADDRESS_FIELDS)) {
    if (!(field in expected)) continue;
    const want = expected[field];
    const have = got[field];
    if (want.length !== have.length) {
      mismatch(field, want, have);
      continue;
    }
    want.forEach((w, i) => {
      const [wa, ha] = [unicodeAddress(w.address), unicodeAddress(have[i].address)];
      if (wa !== ha) mismatch(`${field}[${i}].address`, wa, ha);
      if ((w.name ?? '') !== have[i].name) mismatch(`${field}[${i}].name`, w.name ?? '', have[i].name);
    });
  }

  if ('attachments' in expected) {
    const want = [...expected.attachments].sort(byKey);
    const have = [...got.attachments].sort(byKey);
    if (want.length !== have.length) {
      const label = (a) => a.filename ?? a.content_id;
      mismatch('attachments', want.map(label), have.map(label));
    } else {
      want.forEach((w, i) => {
        const label = w.filename ?? w.content_id ?? i;
        for (const [key, value] of Object.entries(w)) {
          if (have[i][key] !== value) mismatch(`attachments[${label}].${key}`, value, have[i][key]);
        }
      });
    }
  }

  for (const [header, value] of Object.entries(expected.headers || {})) {
    let have = mail.headers.get(header.toLowerCase());
    if (Array.isArray(have)) have = have[0];
    // Structured headers come back as objects (List-* ones under `list`):
    // compare their source line instead.
    if (typeof have !== 'string') {
      if (typeof have?.text === 'string') {
        have = have.text;
      } else {
        const line = (mail.headerLines || []).find((h) => h.key === header.toLowerCase());
        have = line ? line.line.slice(line.line.indexOf(':') + 1).replace(/\r?\n(?=[ \t])/g, '').trim() : undefined;
      }
    }
    // mailparser only unfolds headers it does not know (X-*, Comments, ...);
    // decode their encoded words the way mailparser decodes the Subject.
    if (typeof have === 'string' && !DECODED_HEADERS.has(header.toLowerCase())) {
      try {
        have = libmime.decodeWords(have);
      } catch {
        // keep as is
      }
    }
    if ((have ?? null) !== value) mismatch(`headers.${header}`, value, have);
  }
  return out;
}

async function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: node check_mailparser.mjs CORPUS_DIR');
    return 2;
  }
  const corpus = argv[0];
  if (!statSync(corpus, { throwIfNoEntry: false })?.isDirectory()) {
    console.error(`mailparser: not a directory: ${corpus}`);
    return 2;
  }
  const names = [
    ...new Set(
      readdirSync(corpus)
        .filter((f) => f.endsWith('.eml') || f.endsWith('.json'))
        .map((f) => f.replace(/\.(eml|json)$/, '')),
    ),
  ].sort();
  let passed = 0;
  let failed = 0;
  for (const name of names) {
    let problems;
    try {
      const expected = JSON.parse(readFileSync(join(corpus, `${name}.json`), 'utf8'));
      const mail = await simpleParser(readFileSync(join(corpus, `${name}.eml`)), {
        skipImageLinks: true, // keep cid: links in the HTML as written
        skipTextLinks: true,
        skipTextToHtml: true,
      });
      problems = compare(name, mail, expected, extract(mail));
    } catch (err) {
      problems = [`${name}: error: ${err && err.message ? err.message : err}`];
    }
    for (const line of problems) console.log(line);
    if (problems.length) failed++;
    else passed++;
  }
  if (names.length === 0) console.error(`mailparser: no NAME.eml/NAME.json pairs in ${corpus}`);
  console.log(`mailparser: ${passed} passed, ${failed} failed`);
  return failed || names.length === 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
