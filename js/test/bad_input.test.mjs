// Bad input at every JS entry point (see index.d.ts): `new Message(...)`
// headers and attachments, checkValidity, SMTPClient / SMTPConnection
// options, send / sendAsync arguments, the low-level SMTPConnection
// commands, and the helpers. Wrong types (numbers, objects, arrays, null,
// undefined, symbols, functions, BigInt, booleans), empty strings, CR/LF,
// NUL, lone surrogates, overlong strings, huge attachments, paths that do
// not exist. Each must be an Error subclass with a `code` whose `field` or
// message names the field — never a wasm `RuntimeError: unreachable` — or,
// for values the API accepts, work; and the client stays usable after.
//
// Lone surrogates (invalid UTF-16) are refused in every string, addresses,
// header values and bodies alike: the bindings read strings strictly, so
// nothing is silently replaced by U+FFFD (see src/wasm/API.md).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cleanup, jsDir, loadSource, startSmtpServer, tmpDir, within } from './helpers.mjs';

let lib;
let wasm;
const consoleLines = [];
const originalConsole = {};

before(async () => {
  lib = await loadSource();
  // The same module instance the package initialised (same URL).
  wasm = await import(path.join(jsDir, 'wasm', 'mimeograph.js'));
  for (const k of ['log', 'warn', 'error', 'info', 'debug']) {
    originalConsole[k] = console[k];
    console[k] = (...args) => {
      consoleLines.push(args.map(String).join(' '));
    };
  }
});

after(async () => {
  Object.assign(console, originalConsole);
  await cleanup();
});

const WRONG_TYPES = [
  ['number', 5],
  ['NaN', NaN],
  ['object', { a: 1 }],
  ['array', []],
  ['null', null],
  ['undefined', undefined],
  ['symbol', Symbol('s')],
  ['function', () => 'x'],
  ['bigint', 10n],
  ['boolean', true],
];

const BAD_STRINGS = [
  ['empty', ''],
  ['CR', 'a\rb'],
  ['LF', 'a\nb'],
  ['CRLF', 'a\r\nBcc: victim@evil.example'],
  ['NUL', 'a\0b'],
  ['lone high surrogate', 'a\uD800b'],
  ['lone low surrogate', '\uDC00'],
  ['overlong', 'x'.repeat(1 << 20)],
];

const ALL_VALUES = [...WRONG_TYPES, ...BAD_STRINGS];

/**
 * Checks one error; returns a problem description or null. `fields`: names
 * any of which the error's `field` (a prefix) or message must carry.
 */
function problem(err, fields, what) {
  fields = [].concat(fields);
  if (!(err instanceof Error)) return `${what}: threw a non-Error: ${String(err)}`;
  if (typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError) return `${what}: a wasm trap: ${err.message}`;
  if (err.code === undefined || err.code === null || err.code === 'INTERNAL') {
    return `${what}: no usable code (${String(err.code)}): ${err.constructor.name}: ${err.message}`;
  }
  if (/unreachable|RuntimeError|recursive use of an object/.test(err.message)) return `${what}: a trap in the message: ${err.message}`;
  const lower = (x) => String(x).toLowerCase();
  const named = fields.some((f) => (typeof err.field === 'string' && lower(err.field).startsWith(lower(f))) || lower(err.message).includes(lower(f)));
  if (!named) return `${what}: does not name ${fields.join(' or ')}: field=${err.field} message=${err.message.slice(0, 200)}`;
  if (err.message.length > 1000) return `${what}: a message of ${err.message.length} characters`;
  if (/[\r\n]/.test(err.message)) return `${what}: raw CR/LF in the message: ${JSON.stringify(err.message.slice(0, 200))}`;
  return null;
}

function report(problems) {
  assert.deepEqual(problems.filter(Boolean), [], `${problems.filter(Boolean).length} problems`);
}

/** Runs fn (sync or async); returns [error] or [undefined, value]. */
async function outcome(fn) {
  try {
    return [undefined, await fn()];
  } catch (e) {
    return [e];
  }
}

const BASE = { from: 'a@example.com', to: 'b@example.com', text: 'hi' };

// ------------------------------------------------------------- Message ----

/** Values a header option accepts (everything else must be refused by name). */
function headerAccepts(field, kind) {
  if (kind === 'null' || kind === 'undefined') return !['from', 'to'].includes(field);
  if (kind === 'empty') return ['subject', 'X-Custom', 'text', 'in-reply-to', 'references', 'content-type', 'reply-to', 'cc', 'bcc'].includes(field);
  if (field === 'text') return ['CR', 'LF', 'CRLF', 'NUL', 'overlong'].includes(kind);
  if (field === 'date') return kind === 'number';
  // An empty list of addresses or ids is no value.
  if (kind === 'array') return ['cc', 'bcc', 'reply-to', 'in-reply-to', 'references'].includes(field);
  return false;
}

describe('Message', () => {
  const FIELDS = ['from', 'to', 'cc', 'bcc', 'sender', 'reply-to', 'return-path', 'subject', 'message-id', 'in-reply-to', 'references', 'content-type', 'charset', 'date', 'text', 'X-Custom'];

  test('every header option with every bad value: refused by name, or accepted as documented', async () => {
    const problems = [];
    const client = new lib.SMTPClient({ host: '127.0.0.1', port: 9 }); // never reached: validation fails first
    let cases = 0;
    for (const field of FIELDS) {
      for (const [kind, value] of ALL_VALUES) {
        cases++;
        const what = `${field} = ${kind}`;
        let message;
        try {
          message = new lib.Message({ ...BASE, [field]: value });
        } catch (e) {
          problems.push(`${what}: the constructor threw (emailjs's does not): ${e.message}`);
          continue;
        }
        const validity = message.checkValidity();
        const [err] = await outcome(() => message.readAsync());
        if (headerAccepts(field, kind)) {
          if (err) problems.push(`${what}: should be accepted, got ${err.message.slice(0, 200)}`);
          if (!validity.isValid) problems.push(`${what}: checkValidity refused an accepted value: ${validity.validationError}`);
          continue;
        }
        if (!err) {
          problems.push(`${what}: accepted`);
          continue;
        }
        problems.push(problem(err, field, `${what} (readAsync)`));
        if (validity.isValid) problems.push(`${what}: checkValidity said valid`);
        else if (!validity.validationError.toLowerCase().includes(field.toLowerCase())) {
          problems.push(`${what}: validationError does not name ${field}: ${validity.validationError.slice(0, 200)}`);
        }
        const [sendErr] = await new Promise((resolve) => client.send(message, (e) => resolve([e])));
        problems.push(problem(sendErr, field, `${what} (send)`));
        if (sendErr && sendErr.field === undefined) problems.push(`${what} (send): the error has no field`);
      }
    }
    assert.ok(cases > 250, `${cases} cases`);
    report(problems);
  });

  test('headers object itself, and attach()', () => {
    const problems = [];
    for (const [kind, value] of WRONG_TYPES) {
      if (kind === 'undefined' || kind === 'object') continue; // undefined: {} (emailjs's default)
      const [err] = [(() => { try { new lib.Message(value); } catch (e) { return e; } })()];
      problems.push(err ? problem(err, 'headers', `new Message(${kind})`) : `new Message(${kind}): accepted`);
      const m = new lib.Message(BASE);
      const [e2] = [(() => { try { m.attach(value); } catch (e) { return e; } })()];
      if (kind === 'array' || kind === 'function') continue; // arrays/functions are objects to attach(): refused later by name
      problems.push(e2 ? problem(e2, 'attachment', `attach(${kind})`) : `attach(${kind}): accepted`);
    }
    report(problems);
  });

  test('attachment options: wrong types and bad strings refused by name', async () => {
    const problems = [];
    const strings = ['name', 'type', 'charset', 'cid', 'method'];
    const booleans = ['encoded', 'inline'];
    let cases = 0;
    for (const prop of [...strings, ...booleans, 'data', 'path', 'stream', 'headers', 'related']) {
      for (const [kind, value] of ALL_VALUES) {
        const att = prop === 'data' || prop === 'path' || prop === 'stream' ? { [prop]: value } : { data: 'x', [prop]: value };
        const absent = kind === 'null' || kind === 'undefined';
        let accepted = absent && !['data', 'path', 'stream'].includes(prop);
        if (strings.includes(prop) && typeof value === 'string') {
          // Printable strings are values; empty, controls and lone surrogates are not.
          accepted = kind === 'empty' && ['name', 'method'].includes(prop);
        }
        if (prop === 'data' && kind === 'array') accepted = false;
        if (prop === 'data' && typeof value === 'string') accepted = !/surrogate/.test(kind) && kind !== 'empty';
        if (prop === 'related' && kind === 'array') accepted = true; // no related parts
        if (prop === 'inline' && kind === 'boolean') accepted = true;
        if (prop === 'data' && kind === 'empty') accepted = true; // an empty attachment (checkValidity, as emailjs's, calls it no data)
        if (prop === 'name' && kind === 'overlong') accepted = false;
        cases++;
        const what = `attachment.${prop} = ${kind}`;
        const message = new lib.Message({ ...BASE, attachment: att });
        const [err] = await outcome(() => message.readAsync());
        if (accepted) {
          if (err) problems.push(`${what}: should be accepted, got ${err.message.slice(0, 200)}`);
          continue;
        }
        if (!err) {
          problems.push(`${what}: accepted`);
          continue;
        }
        problems.push(problem(err, 'attachment', `${what}`));
        if (!String(err.field ?? '').startsWith('attachment') && !err.message.includes(prop)) {
          problems.push(`${what}: names neither the attachment nor ${prop}: ${err.field} ${err.message.slice(0, 160)}`);
        }
      }
    }
    // Part headers.
    for (const [what, headers, field] of [
      ['a number value', { 'X-A': 5 }, 'attachment[0].headers.X-A'],
      ['CRLF in a value', { 'X-A': 'a\r\nBcc: x@evil.example' }, 'attachment'],
      ['CRLF in a name', { 'X-A\r\nBcc': 'v' }, 'attachment'],
      ['a lone surrogate', { 'X-A': '\uD800' }, 'attachment[0].headers.X-A'],
      ['an unknown transfer encoding', { 'Content-Transfer-Encoding': 'x-uuencode' }, 'attachment[0].headers'],
      ['Content-Disposition', { 'Content-Disposition': 'inline' }, 'attachment'],
    ]) {
      cases++;
      const [err] = await outcome(() => new lib.Message({ ...BASE, attachment: { data: 'x', headers } }).readAsync());
      problems.push(err ? problem(err, field, `attachment headers: ${what}`) : `attachment headers: ${what}: accepted`);
    }
    // An empty name is no name (emailjs writes filename="", which readers
    // take for none); a name of only whitespace is refused by field.
    cases += 2;
    const unnamed = await new lib.Message({ ...BASE, attachment: { data: 'x', name: '' } }).readAsync();
    if (/name=|filename/.test(unnamed)) problems.push(`attachment.name = '': a name went out: ${unnamed}`);
    const [blank] = await outcome(() => new lib.Message({ ...BASE, attachment: { data: 'x', name: ' \t ' } }).readAsync());
    if (!blank) problems.push('attachment.name = whitespace: accepted');
    else if (blank.code !== 'COMPOSE' || blank.field !== 'attachment[0].name') problems.push(`attachment.name = whitespace: ${blank.code} ${blank.field} ${blank.message}`);
    // The attachment option itself.
    for (const [kind, value] of WRONG_TYPES) {
      if (['null', 'undefined', 'array'].includes(kind)) continue; // absent / no attachments
      cases++;
      const [err] = await outcome(() => new lib.Message({ ...BASE, attachment: value }).readAsync());
      problems.push(err ? problem(err, 'attachment', `attachment = ${kind}`) : `attachment = ${kind}: accepted`);
      const [err2] = await outcome(() => new lib.Message({ ...BASE, attachment: [{ data: 'ok' }, value] }).readAsync());
      problems.push(err2 ? problem(err2, 'attachment[1]', `attachment[1] = ${kind}`) : `attachment[1] = ${kind}: accepted`);
    }
    assert.ok(cases > 120, `${cases} cases`);
    report(problems);
  });

  test('paths that do not exist, a directory, and a stream that fails midway', async () => {
    const problems = [];
    const dir = tmpDir();
    for (const [what, att, field] of [
      ['a missing file', { path: path.join(dir, 'nope.pdf') }, 'attachment[0].path'],
      ['a directory', { path: dir }, 'attachment[0].path'],
      ['a missing file, CRLF in the name', { path: path.join(dir, 'a\r\nBcc: x.pdf') }, 'attachment[0].path'],
      ['a URL to a missing file', { path: new URL(`file://${dir}/nope.pdf`) }, 'attachment[0].path'],
      [
        'a stream that fails midway',
        {
          stream: (async function* () {
            yield new Uint8Array(10);
            throw new Error('the disk went away');
          })(),
        },
        'attachment[0].stream',
      ],
      ['a stream of numbers', { stream: (async function* () { yield 5; })() }, 'attachment[0].stream'],
      ['a locked web stream', { stream: lockedStream() }, 'attachment[0].stream'],
    ]) {
      const message = new lib.Message({ ...BASE, attachment: att });
      const [err] = await outcome(() => message.readAsync());
      problems.push(err ? problem(err, field, what) : `${what}: accepted`);
      const [sendErr] = await new Promise((resolve) => new lib.SMTPClient({ host: '127.0.0.1', port: 9 }).send(new lib.Message({ ...BASE, attachment: { ...att } }), (e) => resolve([e])));
      if (!sendErr) problems.push(`${what}: send accepted`);
      else if (!(sendErr instanceof Error) || sendErr.code === undefined) problems.push(`${what}: send error untyped: ${sendErr}`);
    }
    report(problems);
  });

  test('an alternative body among the attachments: errors name each attachment by its place in the list', async () => {
    // Found by review: the alternative was counted first wherever it was
    // given, so the attachments before it were named one place too far.
    const alt = { data: '<b>x</b>', alternative: true };
    const missing = new lib.Message({ ...BASE, attachment: [{ path: '/nonexistent/x' }, alt] });
    assert.equal(missing._validity().error.field, 'attachment[0].path');
    assert.equal(missing.checkValidity().isValid, false);
    const [badData] = await outcome(() => new lib.Message({ ...BASE, attachment: [{ data: 5 }, alt, { data: 'ok' }] }).readAsync());
    assert.equal(badData?.field, 'attachment[0].data', String(badData));
    // Checked by the core (the name's CR LF): the field and the message agree.
    const [badName] = await outcome(() => new lib.Message({ ...BASE, attachment: [alt, { data: 'ok' }, { data: 'x', name: 'a\r\nb' }] }).readAsync());
    assert.equal(badName?.field, 'attachment[2].name', String(badName));
    assert.match(badName.message, /attachment\[2\]\.name/);
    const [afterAlt] = await outcome(() => new lib.Message({ ...BASE, attachment: [{ data: 'ok' }, alt, { data: 'x', name: 'a\r\nb' }] }).readAsync());
    assert.equal(afterAlt?.field, 'attachment[2].name', String(afterAlt));
    assert.match(afterAlt.message, /attachment\[2\]\.name/);
    // The order given does not change the message: the alternative is the HTML body.
    const text = await new lib.Message({ ...BASE, attachment: [{ data: 'file', name: 'f.txt' }, alt] }).readAsync();
    assert.match(text, /multipart\/alternative/);
    assert.match(text, /filename="?f\.txt/);
  });
});

function lockedStream() {
  const s = new ReadableStream({ start(c) { c.enqueue(new Uint8Array(1)); c.close(); } });
  s.getReader();
  return s;
}

// -------------------------------------------------------------- options ----

/** Whether an SMTPConnection option accepts this value. */
function optionAccepts(key, kind, value) {
  if (kind === 'null' || kind === 'undefined') return true;
  switch (key) {
    case 'host':
    case 'domain':
      return typeof value === 'string' && !['empty', 'CR', 'LF', 'CRLF', 'NUL', 'overlong'].includes(kind) && !/surrogate/.test(kind);
    case 'user':
      return typeof value === 'string' && !/surrogate/.test(kind) && !['CR', 'LF', 'CRLF', 'NUL'].includes(kind);
    case 'password':
    case 'xoauth2':
      return typeof value === 'string' && !/surrogate/.test(kind) && kind !== 'NUL';
    case 'port':
      return kind === 'number';
    case 'timeout':
      return kind === 'number';
    case 'ssl':
    case 'tls':
      return kind === 'boolean' || kind === 'object';
    case 'logger':
      return kind === 'function';
    case 'allowInsecureAuth':
      return kind === 'boolean';
    default:
      return false; // authentication, bridge: none of these values
  }
}

describe('SMTPClient / SMTPConnection options', () => {
  test('every option with every bad value: refused by name at construction, or accepted', () => {
    const problems = [];
    const KEYS = ['host', 'port', 'user', 'password', 'xoauth2', 'domain', 'ssl', 'tls', 'timeout', 'logger', 'authentication', 'bridge', 'allowInsecureAuth'];
    for (const key of KEYS) {
      for (const [kind, value] of ALL_VALUES) {
        const options = { [key]: value };
        // a password needs a user; give one when the user is not under test
        if (key === 'password' || key === 'xoauth2') options.user = 'u';
        const what = `${key} = ${kind}`;
        let err;
        try {
          new lib.SMTPClient(options);
          new lib.SMTPConnection(options);
        } catch (e) {
          err = e;
        }
        if (optionAccepts(key, kind, value)) {
          if (err) problems.push(`${what}: should be accepted, got ${err.message}`);
        } else if (!err) {
          problems.push(`${what}: accepted`);
        } else {
          problems.push(problem(err, key, what));
          if (err.field !== key) problems.push(`${what}: field is ${err.field}`);
        }
      }
    }
    for (const [what, options, field] of [
      ['authentication: unknown mechanism', { authentication: ['PLAIN', 'GSSAPI'] }, 'authentication[1]'],
      ['authentication: a number in the list', { authentication: [5] }, 'authentication[0]'],
      ['port: 70000', { port: 70000 }, 'port'],
      ['port: 25.5', { port: 25.5 }, 'port'],
      ['port: a string', { port: '25' }, 'port'],
      ['timeout: negative', { timeout: -1 }, 'timeout'],
      ['timeout: Infinity', { timeout: Infinity }, 'timeout'],
      ['bridge: http', { bridge: 'http://bridge.example' }, 'bridge'],
      ['bridge: CRLF', { bridge: 'ws://bridge.example/\r\nX: y' }, 'bridge'],
      ['password without user', { password: 'pw' }, 'password'],
      ['ssl: an array', { ssl: [] }, 'ssl'],
      ['ssl: a string', { ssl: 'true' }, 'ssl'],
    ]) {
      let err;
      try {
        new lib.SMTPClient(options);
      } catch (e) {
        err = e;
      }
      problems.push(err ? problem(err, field, what) : `${what}: accepted`);
    }
    for (const [kind, value] of WRONG_TYPES) {
      if (kind === 'undefined' || kind === 'object') continue;
      let err;
      try {
        new lib.SMTPConnection(value);
      } catch (e) {
        err = e;
      }
      problems.push(err ? problem(err, 'options', `new SMTPConnection(${kind})`) : `new SMTPConnection(${kind}): accepted`);
    }
    report(problems);
  });

  test('secrets are not in option errors', () => {
    for (const options of [{ password: 'Sup3r-S3cret!' }, { user: 'u', password: 'Sup3r\0S3cret!' }, { user: 'u', xoauth2: 'T0k\u0001en' }]) {
      let err;
      try {
        new lib.SMTPClient(options);
      } catch (e) {
        err = e;
      }
      assert.ok(err, JSON.stringify(options));
      const all = `${err.message} ${err.stack} ${JSON.stringify(err)}`;
      assert.ok(!all.includes('S3cret') && !all.includes('T0k'), all);
    }
  });
});

// ----------------------------------------------------- sending and after ----

describe('send, sendAsync, the low-level API and the helpers, then a good message', () => {
  test('send / sendAsync with bad arguments; the client sends afterwards', { timeout: 60000 }, async () => {
    const server = await startSmtpServer();
    const client = new lib.SMTPClient({ host: '127.0.0.1', port: server.port });
    const problems = [];
    for (const [kind, value] of [...WRONG_TYPES, ['string', 'hello'], ['empty object', {}], ['no text', { from: 'a@example.com', to: 'b@example.com' }]]) {
      const [err] = await within(new Promise((resolve) => client.send(value, (e) => resolve([e]))), 5000, `send(${kind})`);
      problems.push(err ? problem(err, 'message', `send(${kind})`) : `send(${kind}): accepted`);
      const [err2] = await outcome(() => within(client.sendAsync(value), 5000, `sendAsync(${kind})`));
      problems.push(err2 ? problem(err2, 'message', `sendAsync(${kind})`) : `sendAsync(${kind}): accepted`);
    }
    for (const [what, msg, field] of [
      ['text a number', { ...BASE, text: 5 }, 'text'],
      ['to a symbol', { ...BASE, to: Symbol('x') }, 'to'],
      ['CRLF in the subject', { ...BASE, subject: 'x\r\nBcc: y@evil.example' }, 'subject'],
      ['a lone surrogate in to', { ...BASE, to: 'b\uD800@example.com' }, 'to'],
      ['a missing file', { ...BASE, attachment: { path: '/nonexistent/mimeograph.pdf' } }, 'attachment[0].path'],
    ]) {
      const [err] = await outcome(() => within(client.sendAsync(msg), 5000, what));
      problems.push(err ? problem(err, field, what) : `${what}: accepted`);
    }
    // A callback that is not a function: no throw, and the message is sent.
    client.send(new lib.Message({ ...BASE, subject: 'no callback' }), 'not a function');
    const sent = await within(client.sendAsync(new lib.Message({ ...BASE, subject: 'after the bad ones' })), 15000, 'good send');
    assert.ok(sent instanceof lib.Message);
    await within(waitFor(() => server.messages().length === 2), 10000, 'both good messages');
    report(problems);
    client.smtp.close();
  });

  test('a 200 MB attachment: refused by the server SIZE, then the client goes on', { timeout: 120000 }, async () => {
    const server = await startSmtpServer(); // size: 10 MiB
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mimeograph-huge-'));
    const file = path.join(dir, 'huge.bin');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 200 * 1024 * 1024); // sparse: no disk used
    closeSync(fd);
    const client = new lib.SMTPClient({ host: '127.0.0.1', port: server.port });
    const [err] = await outcome(() => within(client.sendAsync({ ...BASE, attachment: { path: file } }), 90000, 'huge'));
    const p = problem(err, 'limit', 'huge attachment');
    assert.equal(p, null, p ?? '');
    assert.ok(err instanceof lib.SMTPError, String(err));
    await within(client.sendAsync({ ...BASE, subject: 'after the huge one' }), 15000, 'good send');
    assert.equal(server.messages().length, 1);
    client.smtp.close();
    mkdirSync(dir, { recursive: true });
  });

  test('low-level SMTPConnection commands with bad arguments; the session goes on', { timeout: 60000 }, async () => {
    const server = await startSmtpServer();
    const c = new lib.SMTPConnection({ host: '127.0.0.1', port: server.port });
    await within(new Promise((resolve, reject) => c.connect((e) => (e ? reject(e) : resolve()))), 10000, 'connect');
    const call = (fn) => within(new Promise((resolve) => fn((err, data) => resolve([err, data]))), 5000, 'command');
    const problems = [];
    for (const [kind, value] of ALL_VALUES) {
      if (kind === 'empty' || kind === 'null' || kind === 'undefined') continue; // '' is the null path <>; absent: emailjs passes it on
      const [err] = await call((cb) => c.mail(cb, value));
      problems.push(err ? problem(err, ['from', 'address'], `mail(${kind})`) : `mail(${kind}): accepted`);
      const [err2] = await call((cb) => c.verify(value, cb));
      problems.push(err2 ? problem(err2, ['address', 'VRFY'], `verify(${kind})`) : `verify(${kind}): accepted`);
      const [err3] = await call((cb) => c.expn(value, cb));
      problems.push(err3 ? problem(err3, ['address', 'EXPN'], `expn(${kind})`) : `expn(${kind}): accepted`);
      if (typeof value !== 'string') {
        const [err4] = await call((cb) => c.help(cb, value));
        problems.push(err4 ? problem(err4, 'topic', `help(${kind})`) : `help(${kind}): accepted`);
        let err5;
        try {
          c.message(value);
        } catch (e) {
          err5 = e;
        }
        problems.push(err5 ? problem(err5, 'data', `message(${kind})`) : `message(${kind}): accepted`);
      }
    }
    // RCPT needs an accepted MAIL first; then bad recipients are refused by name.
    const [mailErr] = await call((cb) => c.mail(cb, 'a@example.com'));
    assert.equal(mailErr, null);
    for (const [kind, value] of ALL_VALUES) {
      if (kind === 'null' || kind === 'undefined') continue;
      const [err] = await call((cb) => c.rcpt(cb, value));
      problems.push(err ? problem(err, ['to', 'address'], `rcpt(${kind})`) : `rcpt(${kind}): accepted`);
    }
    const [rcptErr] = await call((cb) => c.rcpt(cb, 'b@example.com'));
    assert.equal(rcptErr, null);
    const [dataErr] = await call((cb) => c.data(cb));
    assert.equal(dataErr, null);
    let surrogateErr;
    try {
      c.message('x\uD800');
    } catch (e) {
      surrogateErr = e;
    }
    problems.push(surrogateErr ? problem(surrogateErr, 'chunk', 'message(lone surrogate)') : 'message(lone surrogate): accepted');
    c.message('Subject: fine\r\n\r\nstill usable\r\n');
    const [endErr] = await call((cb) => c.data_end(cb));
    assert.equal(endErr, null);
    const [noopErr] = await within(new Promise((resolve) => c.noop((e) => resolve([e]))), 5000, 'noop');
    assert.equal(noopErr, null);
    assert.equal(server.messages().length, 1);
    report(problems);
    c.close();
  });

  test('helpers: addressparser, getRFC2822Date, mimeWordEncode, mimeEncode', () => {
    const problems = [];
    const attempt = (fn) => {
      try {
        return [undefined, fn()];
      } catch (e) {
        return [e];
      }
    };
    for (const [kind, value] of ALL_VALUES) {
      // addressparser is lenient like emailjs's (String(x) of anything); only
      // invalid UTF-16 is refused.
      const [e1, list] = attempt(() => lib.addressparser(value));
      if (/surrogate/.test(kind)) problems.push(e1 ? problem(e1, 'input', `addressparser(${kind})`) : `addressparser(${kind}): accepted`);
      else if (e1) problems.push(`addressparser(${kind}): threw ${e1.message}`);
      else if (!Array.isArray(list)) problems.push(`addressparser(${kind}): not an array`);
      const dateOk = ['number', 'undefined', 'null'].includes(kind);
      const [e2] = attempt(() => lib.getRFC2822Date(value));
      if (dateOk && kind !== 'null') {
        if (e2) problems.push(`getRFC2822Date(${kind}): ${e2.message}`);
      } else if (kind !== 'null') {
        problems.push(e2 ? problem(e2, 'date', `getRFC2822Date(${kind})`) : `getRFC2822Date(${kind}): accepted`);
      }
      for (const name of ['mimeWordEncode', 'mimeEncode']) {
        const [e3] = attempt(() => lib[name](value));
        const ok = typeof value === 'string' && !/surrogate/.test(kind);
        if (ok) {
          if (e3) problems.push(`${name}(${kind}): ${e3.message}`);
        } else {
          problems.push(e3 ? problem(e3, 'data', `${name}(${kind})`) : `${name}(${kind}): accepted`);
        }
      }
    }
    const [e4] = attempt(() => lib.mimeEncode(new Uint8Array([0xe9]), 'no-such-charset'));
    problems.push(e4 ? problem(e4, 'encoding', 'mimeEncode(bytes, bad charset)') : 'bad charset accepted');
    const [e5] = attempt(() => lib.mimeWordEncode(new Uint8Array([0xe9]), 'Q', 5));
    problems.push(e5 ? problem(e5, 'encoding', 'mimeWordEncode(bytes, Q, 5)') : 'charset 5 accepted');
    const throwing = { toString() { throw new Error('no'); } };
    const [e6] = attempt(() => lib.addressparser(throwing));
    problems.push(e6 ? problem(e6, 'input', 'addressparser(throwing toString)') : 'accepted');
    report(problems);
  });

  test('no panic reached the wasm core, and nothing was logged', () => {
    assert.equal(wasm.takePanicMessage(), undefined);
    assert.deepEqual(consoleLines.filter((l) => /internal error|panicked|unreachable/.test(l)), []);
  });
});

async function waitFor(cond) {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}
