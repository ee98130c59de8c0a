// Fault injection (issue 6): every case of tests/faults/cases.json against the
// scripted fault server (tests/servers/fault_server.py, shared with
// tests/faults.rs), with the package's SMTPClient over the Node transport.
// For each case the faulty message must end with exactly `expect.js` (an
// SMTPError with its code, engine kind, reply code and command, or "sent" —
// which the server's log must confirm with a 2xx to the end of its data),
// and the same SMTPClient must then send the next message. All cases run at
// once; timeouts are 3 s. MIMEOGRAPH_FAULT_CASES=a,b runs only those cases.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { cleanup, jsDir, loadSource, repoRoot, spawnWaiting, testCertificate, tmpDir, within } from './helpers.mjs';

const run = promisify(execFile);
const TIMEOUT_MS = 3000;
const CASES = path.join(repoRoot, 'tests', 'faults', 'cases.json');
const SERVER = path.join(repoRoot, 'tests', 'servers', 'fault_server.py');
const FAULT_SENDER = 'fault@faults.test';
const STATES = {
  1: 'COULDNOTCONNECT',
  2: 'BADRESPONSE',
  3: 'AUTHFAILED',
  4: 'TIMEDOUT',
  5: 'ERROR',
  6: 'NOCONNECTION',
  7: 'AUTHNOTSUPPORTED',
  8: 'CONNECTIONCLOSED',
  9: 'CONNECTIONENDED',
  10: 'CONNECTIONAUTH',
};

let lib;
let pki;
before(async () => {
  lib = await loadSource();
  const dir = tmpDir('mimeograph-faults-');
  const { key, cert, certPath } = testCertificate();
  const keyPath = path.join(dir, 'key.pem');
  writeFileSync(keyPath, key);
  pki = { cert, certPath, keyPath };
});
after(cleanup);

function allCases() {
  return JSON.parse(readFileSync(CASES, 'utf8')).cases;
}

function selectedCases() {
  const only = process.env.MIMEOGRAPH_FAULT_CASES;
  const all = allCases();
  return only ? all.filter((c) => only.split(',').includes(c.name)) : all;
}

/** The fault server for these cases: ports by case name, and its log. */
async function startFaultServer(names) {
  const out = path.join(tmpDir('mimeograph-faults-log-'), 'events.jsonl');
  writeFileSync(out, '');
  const args = [SERVER, CASES, out, '--cert', pki.certPath, '--key', pki.keyPath, '--exit-on-stdin-eof'];
  if (names) args.push('--only', names.join(','));
  const { match } = await spawnWaiting('python3', args, /^([\s\S]*)^READY$/m);
  const ports = {};
  for (const line of match[1].split('\n')) {
    const m = /^PORT (\S+) (\d+)$/.exec(line.trim());
    if (m) ports[m[1]] = Number(m[2]);
  }
  return {
    ports,
    records(name) {
      return readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((r) => r.case === name);
    },
  };
}

function clientOptions(c, port) {
  const server = c.server ?? {};
  const trusted = c.client?.trust !== false;
  // Retries (reconnect) are off unless the case says so, as for the native
  // clients; when on, by the default of `reconnectRetry`.
  const o = { host: '127.0.0.1', port, timeout: TIMEOUT_MS, domain: 'client.faults.test' };
  if (!c.client?.retries) o.reconnectRetry = false;
  if (server.tls === 'starttls') o.tls = trusted ? { ca: pki.cert } : true;
  if (server.tls === 'implicit') o.ssl = trusted ? { ca: pki.cert } : true;
  if (server.auth) {
    o.user = 'user';
    o.password = 'secret';
    if (!server.tls || server.tls === 'none') o.allowInsecureAuth = true;
  }
  return o;
}

let noise;
function bigAttachment(mib) {
  noise ??= (() => {
    const b = new Uint8Array(8 << 20);
    for (let i = 0; i < b.length; i++) b[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;
    return b;
  })();
  return { data: noise.subarray(0, mib << 20), name: 'big.bin', type: 'application/octet-stream' };
}

function faultMessage(c) {
  const m = {
    from: FAULT_SENDER,
    to: 'one@faults.test, two@faults.test',
    subject: `fault case ${c.name}`,
    text: 'This message meets a fault.\n.\nA dot line above.\n',
    'message-id': `<fault-${c.name}@faults.test>`,
  };
  if (c.client?.big_mib) m.attachment = [bigAttachment(c.client.big_mib)];
  return new lib.Message(m);
}

function warmMessage(c) {
  return new lib.Message({
    from: 'warm@faults.test',
    to: 'one@faults.test',
    subject: `before fault case ${c.name}`,
    text: 'A message before the fault, on the same connection.\n',
    'message-id': `<warm-${c.name}@faults.test>`,
  });
}

function nextMessage(c) {
  return new lib.Message({
    from: 'next@faults.test',
    to: 'one@faults.test',
    subject: `after fault case ${c.name}`,
    text: 'The next message.\n',
    'message-id': `<next-${c.name}@faults.test>`,
  });
}

function verb(command) {
  if (command === 'connection greeting') return 'greeting';
  if (/^[A-Z]/.test(command)) return command.split(/[ :]/)[0];
  return command;
}

/** An outcome as cases.json writes it. */
function describe(err, message) {
  if (!err) {
    const recipients = message?.sent?.recipients ?? [];
    const refused = recipients.filter((r) => !r.accepted).length;
    return refused ? `sent, ${refused} of ${recipients.length} recipients refused` : 'sent';
  }
  if (err.name !== 'SMTPError') return `${err.name} ${err.code}`;
  let s = `${STATES[err.code] ?? err.code} ${err.kind ?? '-'}`;
  if (err.smtpCode) s += ` ${err.smtpCode}`;
  if (err.command) s += ` ${verb(err.command)}`;
  if (err.outcomeUnknown) s += ' outcome-unknown';
  return s;
}

function send(client, message) {
  return new Promise((resolve) => client.send(message, (err, m) => resolve({ err, m })));
}

/** Runs one case; returns { outcome, problems }. */
async function runCase(c, server) {
  const client = new lib.SMTPClient(clientOptions(c, server.ports[c.name]));
  let warm = null;
  if (c.client?.warm) {
    const r = await send(client, warmMessage(c));
    if (r.err) warm = `the warm-up message failed: ${r.err.message}`;
  }
  const { err, m } = await send(client, faultMessage(c));
  const outcome = describe(err, m);
  if (c.client?.pause_ms) await new Promise((r) => setTimeout(r, c.client.pause_ms));
  let next = null;
  if (c.client?.next !== false) {
    const r = await send(client, nextMessage(c));
    next = r.err ? `failed: ${describe(r.err)} (${r.err.message})` : 'ok';
  }
  const closing = Date.now();
  const close = await new Promise((resolve) => {
    if (client.smtp.state() === lib.SMTPState.NOTCONNECTED) resolve('ok');
    else client.smtp.quit((e) => resolve(e ? describe(e) : 'ok'));
  });
  return { outcome, next, warm, close, closeMs: Date.now() - closing };
}

function check(c, observed, records) {
  const problems = [];
  // `js_or`: a second outcome for a case whose order of events the kernel
  // decides (tests/faults/README.md).
  if (observed.outcome !== c.expect.js && observed.outcome !== c.expect.js_or) {
    problems.push(`outcome ${JSON.stringify(observed.outcome)}, expected ${JSON.stringify(c.expect.js)}${c.expect.js_or ? ` or ${JSON.stringify(c.expect.js_or)}` : ''}`);
  }
  const count = (event, id) => records.filter((r) => r.event === event && r.message_id === id).length;
  if (c.at !== 'none' && !records.some((r) => r.event === 'fault')) problems.push('the fault never fired');
  // `js_faults`: how often the fault must fire (a fault that fires every
  // time meets each attempt: 2 is one retry, 1 none).
  const fired = records.filter((r) => r.event === 'fault').length;
  if (c.expect.js_faults !== undefined && fired !== c.expect.js_faults) {
    problems.push(`the fault fired ${fired} times, expected ${c.expect.js_faults}`);
  }
  const faultId = `fault-${c.name}@faults.test`;
  const accepted = count('accepted', faultId);
  const sent = observed.outcome.startsWith('sent');
  if (sent && accepted !== 1) problems.push(`reported sent, but the server wrote ${accepted} 2xx for its end of data`);
  if (!sent && accepted !== 0) problems.push(`reported failed, but the server wrote ${accepted} 2xx for its end of data`);
  if (observed.outcome.includes('outcome-unknown') && count('data', faultId) > 1) problems.push('outcome unknown, yet the data arrived twice (resent)');
  if (observed.warm) problems.push(observed.warm);
  const expectedClose = c.expect.close_js ?? 'ok';
  if (observed.close !== undefined && c.client?.next !== false && observed.close !== expectedClose) {
    problems.push(`close (QUIT) gave ${JSON.stringify(observed.close)}, expected ${JSON.stringify(expectedClose)}`);
  }
  // A hang guard, not a speed check: closing waits for one reply at most.
  if (observed.closeMs > TIMEOUT_MS + 5000) problems.push(`close (QUIT) took ${observed.closeMs} ms`);
  if (observed.next !== null) {
    if (c.expect.next_js) {
      // A case may name a known JS gap: the next message fails with this
      // (none does now).
      if (!observed.next.startsWith(`failed: ${c.expect.next_js} (`)) problems.push(`the next message: ${observed.next}, expected it to fail with ${c.expect.next_js}`);
    } else if (observed.next !== 'ok') problems.push(`the next message ${observed.next}`);
    else if (count('accepted', `next-${c.name}@faults.test`) !== 1) problems.push('the next message was not accepted exactly once');
  }
  return problems;
}

test('every fault case with SMTPClient over the Node transport', { timeout: 120000 }, async () => {
  const cases = selectedCases();
  const server = await startFaultServer();
  const started = Date.now();
  const observed = await within(
    Promise.all(cases.map((c) => runCase(c, server).catch((e) => ({ outcome: `threw ${e?.stack ?? e}`, next: null })))),
    90000,
    'the fault cases',
  );
  const elapsed = Date.now() - started;
  await new Promise((r) => setTimeout(r, 200));
  const failures = [];
  cases.forEach((c, i) => {
    const problems = check(c, observed[i], server.records(c.name));
    if (problems.length) failures.push(`  ${c.name}: ${problems.join('; ')}`);
  });
  console.log(`${cases.length} fault cases with SMTPClient in ${(elapsed / 1000).toFixed(1)} s`);
  assert.equal(failures.length, 0, `${failures.length} of ${cases.length} fault cases went wrong:\n${failures.join('\n')}`);
});

test('a 10 MB reply line is cut at the engine bound, not buffered (fresh process, peak memory)', { timeout: 60000 }, async (t) => {
  const long = allCases().filter((c) => c.do === 'long').map((c) => c.name);
  assert.ok(long.length >= 4, 'the cases have 10 MB replies');
  const server = await startFaultServer(long);
  // A fresh Node process: its peak RSS and wasm memory say what the 10 MB
  // replies cost (here, nothing else has grown them).
  const script = `
    const lib = await import(${JSON.stringify(path.join(jsDir, 'index.js'))});
    const { initSync } = await import(${JSON.stringify(path.join(jsDir, 'wasm', 'mimeograph.js'))});
    const wasm = initSync();
    const cases = ${JSON.stringify(allCases().filter((c) => long.includes(c.name)))};
    const ports = ${JSON.stringify(server.ports)};
    const send = (client, m) => new Promise((r) => client.send(m, (err) => r(err)));
    const mk = (from, n) => new lib.Message({ from, to: 'one@faults.test', subject: 'x', text: 'x', 'message-id': '<' + n + '@faults.test>' });
    // Warm up (a normal session; message faults only hit fault@faults.test).
    const warm = new lib.SMTPClient({ host: '127.0.0.1', port: ports['mail-long'], timeout: ${TIMEOUT_MS} });
    const warmErr = await send(warm, mk('next@faults.test', 'warm-up'));
    if (warmErr) throw warmErr;
    warm.smtp.close(true);
    const before = { rss: process.resourceUsage().maxRSS, wasm: wasm.memory.buffer.byteLength };
    const errors = [];
    for (const c of cases) {
      const client = new lib.SMTPClient({ host: '127.0.0.1', port: ports[c.name], timeout: ${TIMEOUT_MS} });
      const err = await send(client, mk('fault@faults.test', 'long-' + c.name));
      errors.push(err ? err.kind : 'sent');
      const next = await send(client, mk('next@faults.test', 'long-next-' + c.name));
      errors.push(next ? 'next failed: ' + next.message : 'next sent');
      client.smtp.close(true);
    }
    const after = { rss: process.resourceUsage().maxRSS, wasm: wasm.memory.buffer.byteLength };
    console.log(JSON.stringify({ before, after, errors }));
  `;
  const { stdout } = await within(
    run(process.execPath, ['--input-type=module', '-e', script], { timeout: 50000, maxBuffer: 1 << 20 }),
    55000,
    'the 10 MB replies',
  );
  const r = JSON.parse(stdout.trim().split('\n').pop());
  t.diagnostic(`peak RSS ${r.before.rss} -> ${r.after.rss} KiB; wasm memory ${r.before.wasm} -> ${r.after.wasm} octets`);
  assert.deepEqual(
    r.errors,
    long.flatMap(() => ['ReplyTooLong', 'next sent']),
  );
  // 5 replies of 10 MB went by: none of them was held.
  assert.ok(r.after.wasm - r.before.wasm <= 1 << 20, `wasm memory grew by ${r.after.wasm - r.before.wasm} octets`);
  assert.ok(r.after.rss - r.before.rss <= 16 * 1024, `peak RSS grew by ${r.after.rss - r.before.rss} KiB`);
});

test('reconnectRetry is a boolean, on by default', () => {
  assert.equal(new lib.SMTPClient({ host: '127.0.0.1' }).reconnectRetry, true);
  assert.equal(new lib.SMTPClient({ host: '127.0.0.1', reconnectRetry: false }).reconnectRetry, false);
  assert.throws(
    () => new lib.SMTPClient({ host: '127.0.0.1', reconnectRetry: 'no' }),
    (e) => e.code === 'INVALID_ARGUMENT' && e.field === 'reconnectRetry',
  );
});
