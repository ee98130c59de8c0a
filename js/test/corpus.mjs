// A varied corpus in emailjs's option format, and a checker that compares
// what a server received (parsed with mailparser) with what was asked for.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from './helpers.mjs';

// 1x1 PNG
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

export function binaryBytes(n, seed = 7) {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >> 16;
  }
  return out;
}

/**
 * The corpus: [{ name, options (fresh each call; streams are single-use), expect }].
 * `dir` is a folder for path attachments.
 */
export function corpus(dir) {
  const filePath = path.join(dir, 'report.bin');
  const fileBytes = binaryBytes(70000, 3);
  writeFileSync(filePath, fileBytes);
  const streamBytes = binaryBytes(20000, 11);
  const dotty = 'first line\n.\n..starts with dots\n.\nend';
  return [
    {
      name: 'plain text',
      options: () => ({ from: 'Alice <alice@example.com>', to: 'bob@example.com', subject: 'plain', text: 'Hello Bob.\nSecond line.' }),
      expect: { subject: 'plain', text: 'Hello Bob.\nSecond line.', rcpt: ['bob@example.com'] },
    },
    {
      name: 'utf-8 subject, names and body',
      options: () => ({
        from: '"Zoë Ærøskøbing" <zoe@example.com>',
        to: ['"Jürgen Groß" <jurgen@example.com>', '李小龍 <lee@example.com>'],
        subject: 'Grüße aus Köln — ça va? 日本語の件名 😀',
        text: 'Déjà vu: naïve café. Ünïcödé ✓',
      }),
      expect: {
        subject: 'Grüße aus Köln — ça va? 日本語の件名 😀',
        text: 'Déjà vu: naïve café. Ünïcödé ✓',
        fromName: 'Zoë Ærøskøbing',
        toNames: ['Jürgen Groß', '李小龍'],
        rcpt: ['jurgen@example.com', 'lee@example.com'],
      },
    },
    {
      name: 'dots at line starts (dot-stuffing)',
      options: () => ({ from: 'a@example.com', to: 'b@example.com', subject: 'dots', text: dotty }),
      expect: { subject: 'dots', text: dotty, rcpt: ['b@example.com'] },
    },
    {
      name: 'html alternative with inline image',
      options: () => ({
        from: 'a@example.com',
        to: 'b@example.com',
        subject: 'html',
        text: 'plain version',
        attachment: [
          {
            data: '<html><body><p>Hi <b>there</b></p><img src="cid:logo@x"></body></html>',
            alternative: true,
            related: [{ data: PNG, type: 'image/png', name: 'logo.png', inline: true, headers: { 'Content-ID': '<logo@x>' } }],
          },
        ],
      }),
      expect: {
        subject: 'html',
        text: 'plain version',
        htmlIncludes: '<b>there</b>',
        attachments: [{ filename: 'logo.png', content: PNG, contentType: 'image/png', cid: 'logo@x' }],
        rcpt: ['b@example.com'],
      },
    },
    {
      name: 'attachments from data, path and stream',
      options: () => ({
        from: 'a@example.com',
        to: 'b@example.com',
        subject: 'files',
        text: 'see attached',
        attachment: [
          { data: 'a,b\n1,2\n', type: 'text/csv', name: 'table.csv' },
          { path: filePath, type: 'application/octet-stream', name: 'report.bin' },
          { stream: Readable.from([streamBytes.subarray(0, 7000), streamBytes.subarray(7000)]), type: 'application/octet-stream', name: 'stream.bin' },
          { stream: new Blob([PNG], { type: 'image/png' }), name: 'blob.png' },
        ],
      }),
      expect: {
        subject: 'files',
        text: 'see attached',
        attachments: [
          { filename: 'table.csv', content: Buffer.from('a,b\n1,2\n'), textual: true },
          { filename: 'report.bin', content: fileBytes },
          { filename: 'stream.bin', content: streamBytes },
          { filename: 'blob.png', content: PNG, contentType: 'image/png' },
        ],
        rcpt: ['b@example.com'],
      },
    },
    {
      name: 'utf-8 attachment name, several recipients, cc and bcc',
      options: () => ({
        from: 'a@example.com',
        to: 'one@example.com, "Two, Esq." <two@example.com>',
        cc: ['three@example.com'],
        bcc: 'hidden@example.com',
        subject: 'many',
        text: 'to many',
        attachment: { data: Buffer.from('résumé'), name: 'résumé café.txt', type: 'text/plain' },
      }),
      expect: {
        subject: 'many',
        text: 'to many',
        attachments: [{ filename: 'résumé café.txt', content: Buffer.from('résumé'), textual: true }],
        rcpt: ['one@example.com', 'two@example.com', 'three@example.com', 'hidden@example.com'],
        noBccHeader: true,
      },
    },
  ];
}

/** Checks one received message ({ to: envelope recipients, data: bytes }) against `expect`. */
export async function check(received, expect, label) {
  const parsed = await parse(received.data);
  const at = (what) => `${label}: ${what}`;
  assert.deepEqual([...received.to].sort(), [...expect.rcpt].sort(), at('envelope recipients'));
  assert.equal(parsed.subject, expect.subject, at('subject'));
  if (expect.text !== undefined) assert.equal((parsed.text ?? '').replace(/\r\n/g, '\n').trimEnd(), expect.text, at('text'));
  if (expect.htmlIncludes) assert.ok((parsed.html || '').includes(expect.htmlIncludes), at('html'));
  if (expect.fromName) assert.equal(parsed.from.value[0].name, expect.fromName, at('from name'));
  if (expect.toNames) assert.deepEqual(parsed.to.value.map((v) => v.name), expect.toNames, at('to names'));
  if (expect.noBccHeader) assert.equal(parsed.headers.get('bcc'), undefined, at('no Bcc header'));
  if (expect.attachments) {
    assert.equal(parsed.attachments.length, expect.attachments.length, at('attachment count'));
    for (const want of expect.attachments) {
      const got = parsed.attachments.find((a) => a.filename === want.filename);
      assert.ok(got, at(`attachment ${want.filename} (got ${parsed.attachments.map((a) => a.filename)})`));
      // text/* parts are sent in canonical form (CRLF line breaks)
      const content = want.textual ? Buffer.from(got.content.toString('utf8').replace(/\r\n/g, '\n')) : got.content;
      assert.ok(Buffer.compare(content, want.content) === 0, at(`attachment ${want.filename} bytes: ${JSON.stringify(got.content.subarray(0, 40).toString('latin1'))}`));
      if (want.contentType) assert.equal(got.contentType, want.contentType, at(`${want.filename} type`));
      if (want.cid) assert.equal(got.cid, want.cid, at(`${want.filename} cid`));
    }
  }
  return parsed;
}

/** Sends the whole corpus with one client (the queue) and checks what `server` received. */
export async function sendCorpus(lib, clientOptions, server, dir, label) {
  const items = corpus(dir);
  const before = server.messages().length;
  const client = new lib.SMTPClient(clientOptions);
  const results = await Promise.allSettled(items.map((it) => client.sendAsync(new lib.Message(it.options()))));
  results.forEach((r, i) => assert.equal(r.status, 'fulfilled', `${label}: ${items[i].name}: ${r.reason?.stack ?? ''}`));
  const got = server.messages().slice(before);
  assert.equal(got.length, items.length, `${label}: messages received`);
  for (let i = 0; i < items.length; i++) await check(got[i], items[i].expect, `${label}: ${items[i].name}`);
  client.smtp.close();
}
