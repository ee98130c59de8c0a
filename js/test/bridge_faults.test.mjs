// Faults on the browser path (issue 6), run from Node with the `ws` package
// through a real websockify bridge to the scripted fault server
// (tests/servers/fault_server.py): the bridge dies mid-body and after the end
// of the data, the WebSocket closes with an error code, the bridge refuses
// the upgrade, the TCP target behind the bridge is unreachable, the target
// closes mid-body and after the end of the data. Each must end in a typed
// SMTPError whose `outcomeUnknown` follows SECURITY.md (set only when the end
// of the data was sent and no verdict read), within the timeout, and a new
// client must then send through a working bridge. Last, write backpressure:
// an 8 MB message through a bridge to a slow server never has more than the
// transport's high-water mark (plus one write) waiting in the WebSocket, and
// arrives intact (mailparser).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  cleanup,
  freePort,
  loadSource,
  onCleanup,
  parse,
  repoRoot,
  spawnWaiting,
  startWebsockify,
  testCertificate,
  testDep,
  tmpDir,
  within,
} from './helpers.mjs';

const TIMEOUT_MS = 5000;
const T = { timeout: 60000 };
const SERVER = path.join(repoRoot, 'tests', 'servers', 'fault_server.py');
/** websocket.js's HIGH_WATER, and connection.js's largest single write (OUT_BUFFER). */
const HIGH_WATER = 1024 * 1024;
const ONE_WRITE = 256 * 1024;

// Every WebSocket the package opens records what was sent and the most that
// ever waited in its buffer (read right after each send).
const WS = testDep('ws').WebSocket;
const sockets = [];
class MeasuredWebSocket extends WS {
  constructor(...args) {
    super(...args);
    this.stats = { sent: 0, maxBuffered: 0 };
    sockets.push(this);
  }

  send(data, ...rest) {
    super.send(data, ...rest);
    this.stats.sent += data.byteLength ?? data.length;
    this.stats.maxBuffered = Math.max(this.stats.maxBuffered, this.bufferedAmount);
  }
}

const CASES = [
  { name: 'ok', stage: 'none', fault: 'none', at: 'none', do: 'none' },
  // About 640 KB/s: an 8 MB body takes some 13 s to arrive.
  { name: 'slow', stage: 'none', fault: 'slow reader', server: { slow_read_ms: 100 }, at: 'none', do: 'none' },
  { name: 'dot-silence', stage: 'dot', fault: 'no reply', at: 'dot', do: 'silence' },
  { name: 'mail-silence', stage: 'mail', fault: 'no reply', at: 'mail', do: 'silence' },
  { name: 'dot-close', stage: 'dot', fault: 'close', at: 'dot', do: 'close' },
  { name: 'body-close', stage: 'body', fault: 'close', server: { rcvbuf: 65536 }, at: 'body', do: 'close' },
];

let lib;
let server;
before(async () => {
  globalThis.WebSocket = MeasuredWebSocket;
  lib = await loadSource();
  const dir = tmpDir('mimeograph-bridge-faults-');
  const { key, certPath } = testCertificate();
  const keyPath = path.join(dir, 'key.pem');
  writeFileSync(keyPath, key);
  const casesPath = path.join(dir, 'cases.json');
  writeFileSync(casesPath, JSON.stringify({ cases: CASES }));
  const out = path.join(dir, 'events.jsonl');
  writeFileSync(out, '');
  const args = [SERVER, casesPath, out, '--cert', certPath, '--key', keyPath, '--exit-on-stdin-eof', '--save-dir', dir];
  const { match } = await spawnWaiting('python3', args, /^([\s\S]*)^READY$/m);
  const ports = {};
  for (const line of match[1].split('\n')) {
    const m = /^PORT (\S+) (\d+)$/.exec(line.trim());
    if (m) ports[m[1]] = Number(m[2]);
  }
  server = {
    ports,
    records: (name) =>
      readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((r) => r.case === name),
  };
});
after(cleanup);

let noise;
function bytes(mib) {
  noise ??= (() => {
    const b = new Uint8Array(6 << 20);
    for (let i = 0; i < b.length; i++) b[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;
    return b;
  })();
  return noise.subarray(0, mib << 20);
}

let serial = 0;
function message(from, { mib = 0, copies = 1 } = {}) {
  const id = `bridge-${++serial}@faults.test`;
  const m = {
    from,
    to: 'one@faults.test',
    subject: `bridge fault ${serial}`,
    text: 'Through the bridge.\n',
    'message-id': `<${id}>`,
  };
  if (mib) {
    m.attachment = Array.from({ length: copies }, (_, i) => ({ data: bytes(mib), name: `big${i}.bin`, type: 'application/octet-stream' }));
  }
  return { message: new lib.Message(m), id };
}

function send(client, m) {
  return new Promise((resolve) => client.send(m, (err, sent) => resolve({ err, sent })));
}

async function waitFor(what, check, ms = 20000, every = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = check();
    if (r) return r;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** The processes websockify forked for its connections (their ids, from /proc). */
function bridgeChildren(bridge) {
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === bridge.child.pid) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** Sends `signal` to the bridge's connection processes (by id); returns how many. */
function signalConnections(bridge, signal) {
  const pids = bridgeChildren(bridge);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
  return pids.length;
}

/** Kills a websockify bridge dead: the process and its connection processes. */
function killBridge(bridge) {
  const n = signalConnections(bridge, 'SIGKILL');
  bridge.child.kill('SIGKILL');
  return n;
}

/**
 * websockify reads the WebSocket as fast as it can and queues what the
 * target has not taken yet without bound (in its own memory), so a slow
 * SMTP server never slows the client down. To see the client's own bound, a
 * plain TCP relay in front of the bridge plays a stalled network: once 1 MiB
 * came from the client it stops reading (until `resume()`); the kernel's
 * socket buffers fill, then the WebSocket's. `stalled` resolves when the
 * WebSocket's buffer passed half the high-water mark.
 */
async function stallingRelay(bridgeUrl, socket) {
  const target = Number(new URL(bridgeUrl).port);
  const conns = [];
  let resume = () => {};
  let stalledOnce = false;
  const relay = net.createServer((c) => {
    const up = net.connect({ host: '127.0.0.1', port: target });
    conns.push(c, up);
    let seen = 0;
    c.on('data', (d) => {
      up.write(d);
      seen += d.length;
      if (seen > 1 << 20 && conns.length <= 2 && !stalledOnce) {
        stalledOnce = true;
        c.pause();
        resume = () => c.resume();
      }
    });
    up.on('data', (d) => c.write(d));
    const end = () => {
      c.destroy();
      up.destroy();
    };
    c.on('close', end);
    up.on('close', end);
    c.on('error', end);
    up.on('error', end);
  });
  await new Promise((r) => relay.listen(0, '127.0.0.1', r));
  onCleanup(() => {
    for (const c of conns) c.destroy();
    return new Promise((r) => relay.close(r));
  });
  return {
    url: `ws://127.0.0.1:${relay.address().port}`,
    stalled: () =>
      waitFor('the WebSocket buffer filling up', () => socket()?.stats.maxBuffered > HIGH_WATER / 2, 20000, 5).then(
        () => ({ ...socket().stats }),
      ),
    resume: () => resume(),
  };
}

function describe(err) {
  const name = Object.entries(lib.SMTPErrorStates).find(([, v]) => v === err.code)?.[0] ?? err.code;
  return `${err.name} ${name} ${err.kind ?? '-'}${err.outcomeUnknown ? ' outcome-unknown' : ''}`;
}

/** A message sent by a new client through a new, working bridge. */
async function sendsAfterwards() {
  const bridge = await startWebsockify(server.ports.ok);
  const client = new lib.SMTPClient({ bridge: bridge.url, timeout: TIMEOUT_MS });
  const { message: m, id } = message('next@faults.test');
  const { err } = await within(send(client, m), 20000, 'the next message');
  assert.equal(err ?? null, null, `the next message failed: ${err?.message}`);
  assert.equal((await verdicts('ok', id)).accepted, 1);
  client.smtp.close(true);
}

/** The server's verdicts for one message (after it had time to log them). */
async function verdicts(name, id) {
  await new Promise((r) => setTimeout(r, 300));
  const rs = server.records(name).filter((r) => r.message_id === id);
  return { data: rs.filter((r) => r.event === 'data').length, accepted: rs.filter((r) => r.event === 'accepted').length };
}

test('the bridge dies during MAIL: a known failure, then a new client sends', T, async (t) => {
  const bridge = await startWebsockify(server.ports['mail-silence']);
  const client = new lib.SMTPClient({ bridge: bridge.url, timeout: TIMEOUT_MS });
  const { message: m, id } = message('fault@faults.test');
  const result = send(client, m);
  await waitFor('the MAIL at the server', () => server.records('mail-silence').some((r) => r.event === 'fault'));
  t.diagnostic(`killed the bridge and ${killBridge(bridge)} connection process(es)`);
  const { err } = await within(result, 3 * TIMEOUT_MS, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message}`);
  // The lost WebSocket (1006) is a lost connection: the message was tried
  // once more, and the dead bridge refused it.
  assert.equal(describe(err), 'SMTPError COULDNOTCONNECT -');
  assert.deepEqual(await verdicts('mail-silence', id), { data: 0, accepted: 0 });
  client.smtp.close(true);
  await sendsAfterwards();
});

test('the bridge dies mid-body: a known failure, then a new client sends', T, async (t) => {
  const bridge = await startWebsockify(server.ports.ok);
  const before = sockets.length;
  const relay = await stallingRelay(bridge.url, () => sockets[before]);
  const client = new lib.SMTPClient({ bridge: relay.url, timeout: 20000 });
  const { message: m, id } = message('a@faults.test', { mib: 6, copies: 3 });
  const result = send(client, m);
  const stats = await relay.stalled();
  t.diagnostic(`stalled: ${stats.sent} octets sent, ${stats.maxBuffered} waiting; killing the bridge`);
  t.diagnostic(`killed the bridge and ${killBridge(bridge)} connection process(es)`);
  const { err } = await within(result, 30000, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message}`);
  // The end of the data was never handed over: certainly not delivered,
  // so tried once more, where the dead bridge refused the connection.
  assert.equal(describe(err), 'SMTPError COULDNOTCONNECT -');
  assert.deepEqual(await verdicts('ok', id), { data: 0, accepted: 0 });
  client.smtp.close(true);
  await sendsAfterwards();
});

test('the bridge dies after taking the whole body, before the verdict: outcome unknown', T, async (t) => {
  // websockify took all of the message at once (it buffers for the slow
  // server): the client cannot know how much reached the server.
  const bridge = await startWebsockify(server.ports.slow);
  const client = new lib.SMTPClient({ bridge: bridge.url, timeout: 20000 });
  const before = sockets.length;
  const { message: m, id } = message('a@faults.test', { mib: 2 });
  const result = send(client, m);
  // Wait until the client has handed everything over (its count stops moving).
  let last = -1;
  let since = Date.now();
  await waitFor('the whole body handed over', () => {
    const sent = sockets[before]?.stats.sent ?? 0;
    if (sent !== last) {
      last = sent;
      since = Date.now();
    }
    return sent > 2.8e6 && Date.now() - since > 300;
  });
  t.diagnostic(`killed the bridge and ${killBridge(bridge)} connection process(es)`);
  const { err } = await within(result, 30000, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message}`);
  assert.equal(describe(err), 'SMTPError CONNECTIONCLOSED Closed outcome-unknown');
  assert.deepEqual(await verdicts('slow', id), { data: 0, accepted: 0 });
  client.smtp.close(true);
  await sendsAfterwards();
});

test('the bridge dies after the end of the data: outcome unknown, then a new client sends', T, async (t) => {
  const bridge = await startWebsockify(server.ports['dot-silence']);
  const client = new lib.SMTPClient({ bridge: bridge.url, timeout: TIMEOUT_MS });
  const { message: m, id } = message('fault@faults.test');
  const result = send(client, m);
  await waitFor('the data at the server', () => server.records('dot-silence').some((r) => r.event === 'data' && r.message_id === id));
  t.diagnostic(`killed the bridge and ${killBridge(bridge)} connection process(es)`);
  const { err } = await within(result, 3 * TIMEOUT_MS, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message}`);
  assert.equal(describe(err), 'SMTPError CONNECTIONCLOSED Closed outcome-unknown');
  assert.deepEqual(await verdicts('dot-silence', id), { data: 1, accepted: 0 });
  client.smtp.close(true);
  await sendsAfterwards();
});

test('the WebSocket closes with an error code mid-body: a known failure naming the code', T, async (t) => {
  // A scripted bridge (websockify never closes with 1011): it forwards to
  // the fault server like websockify, then closes with 1011 once 64 KiB of
  // the client's bytes went through.
  const { WebSocketServer } = testDep('ws');
  const port = await freePort();
  const wss = new WebSocketServer({ host: '127.0.0.1', port, handleProtocols: () => 'binary' });
  onCleanup(() => new Promise((r) => wss.close(r)));
  wss.on('connection', (ws) => {
    const tcp = net.connect({ host: '127.0.0.1', port: server.ports.ok });
    let forwarded = 0;
    tcp.on('data', (d) => ws.send(d));
    tcp.on('close', () => ws.close());
    tcp.on('error', () => ws.terminate());
    ws.on('message', (d) => {
      forwarded += d.length;
      if (forwarded > 64 * 1024) {
        ws.close(1011, 'bridge failure');
        tcp.destroy();
      } else tcp.write(d);
    });
    ws.on('close', () => tcp.destroy());
  });
  const client = new lib.SMTPClient({ bridge: `ws://127.0.0.1:${port}`, timeout: TIMEOUT_MS });
  const { message: m, id } = message('a@faults.test', { mib: 6, copies: 2 });
  const { err } = await within(send(client, m), 3 * TIMEOUT_MS, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message}`);
  assert.equal(describe(err), 'SMTPError CONNECTIONCLOSED Closed');
  assert.match(err.previous?.message ?? '', /code 1011: "bridge failure"/);
  assert.deepEqual(await verdicts('ok', id), { data: 0, accepted: 0 });
  client.smtp.close(true);
  await sendsAfterwards();
});

test('the bridge refuses the upgrade: COULDNOTCONNECT, then a new client sends', T, async (t) => {
  // ExpectOrigin refuses a handshake without the expected Origin (Node's ws
  // sends none).
  const bridge = await startWebsockify(server.ports.ok, {
    extraArgs: ['--auth-plugin', 'ExpectOrigin', '--auth-source', 'https://app.test'],
  });
  const client = new lib.SMTPClient({ bridge: bridge.url, timeout: TIMEOUT_MS });
  const { message: m, id } = message('a@faults.test');
  const { err } = await within(send(client, m), 3 * TIMEOUT_MS, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message}`);
  assert.equal(describe(err), 'SMTPError COULDNOTCONNECT -');
  assert.deepEqual(await verdicts('ok', id), { data: 0, accepted: 0 });
  client.smtp.close(true);
  await sendsAfterwards();
});

test('the TCP target behind the bridge is unreachable: a known failure, then a new client sends', T, async (t) => {
  // websockify accepts the WebSocket, fails to reach the target, closes.
  const bridge = await startWebsockify(await freePort());
  const client = new lib.SMTPClient({ bridge: bridge.url, timeout: TIMEOUT_MS });
  const { message: m } = message('a@faults.test');
  const { err } = await within(send(client, m), 3 * TIMEOUT_MS, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message}`);
  assert.ok(err.name === 'SMTPError' && !err.outcomeUnknown, describe(err));
  assert.ok(
    [lib.SMTPErrorStates.COULDNOTCONNECT, lib.SMTPErrorStates.CONNECTIONCLOSED].includes(err.code),
    describe(err),
  );
  client.smtp.close(true);
  await sendsAfterwards();
});

test('the server closes mid-body through the bridge: a known failure', T, async (t) => {
  const bridge = await startWebsockify(server.ports['body-close']);
  const client = new lib.SMTPClient({ bridge: bridge.url, timeout: TIMEOUT_MS });
  const { message: m, id } = message('fault@faults.test', { mib: 4 });
  const { err } = await within(send(client, m), 3 * TIMEOUT_MS, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message} (previous: ${err.previous?.code} ${err.previous?.message})`);
  assert.equal(describe(err), 'SMTPError CONNECTIONCLOSED Closed');
  assert.deepEqual(await verdicts('body-close', id), { data: 0, accepted: 0 });
  // websockify drops the WebSocket without a close frame (1006) when the
  // server closes: a lost connection, so the message (whose end of data
  // was never handed over) was tried once more, as over a direct
  // connection, and met the same fault again.
  assert.equal(err.previous?.code, 'ECONNRESET');
  assert.equal(server.records('body-close').filter((r) => r.event === 'fault').length, 2, 'one retry');
  // The same client reconnects for the next message (a new WebSocket).
  const next = message('next@faults.test');
  const r = await within(send(client, next.message), 20000, 'the next message');
  assert.equal(r.err ?? null, null, r.err?.message);
  assert.deepEqual(await verdicts('body-close', next.id), { data: 1, accepted: 1 });
  client.smtp.close(true);
});

test('the server closes after the end of the data, through the bridge: outcome unknown', T, async (t) => {
  const bridge = await startWebsockify(server.ports['dot-close']);
  const client = new lib.SMTPClient({ bridge: bridge.url, timeout: TIMEOUT_MS });
  const { message: m, id } = message('fault@faults.test');
  const { err } = await within(send(client, m), 3 * TIMEOUT_MS, 'the failure');
  t.diagnostic(`${describe(err)}: ${err.message}`);
  assert.equal(describe(err), 'SMTPError CONNECTIONCLOSED Closed outcome-unknown');
  assert.deepEqual(await verdicts('dot-close', id), { data: 1, accepted: 0 });
  const next = message('next@faults.test');
  const r = await within(send(client, next.message), 20000, 'the next message');
  assert.equal(r.err ?? null, null, r.err?.message);
  client.smtp.close(true);
});

test('write backpressure: a 25 MB message over a stalled path never queues more than the high-water mark', { timeout: 120000 }, async (t) => {
  const bridge = await startWebsockify(server.ports.ok);
  const before = sockets.length;
  const relay = await stallingRelay(bridge.url, () => sockets[before]);
  const client = new lib.SMTPClient({ bridge: relay.url, timeout: 20000 });
  const { message: m, id } = message('a@faults.test', { mib: 6, copies: 3 });
  const result = send(client, m);
  const stalled = await relay.stalled();
  // Stalled for a while (well within the timeout): the client must wait, not
  // pile the rest of the message into the WebSocket.
  await new Promise((r) => setTimeout(r, 1000));
  const later = { ...sockets[before].stats };
  relay.resume();
  const { err } = await within(result, 90000, 'the 25 MB message');
  assert.equal(err ?? null, null, err?.message);
  client.smtp.close(true);
  const { stats } = sockets[before];
  t.diagnostic(
    `stalled after ${stalled.sent} octets, ${later.sent} a second later, ${stats.sent} in all; ` +
      `at most ${stats.maxBuffered} octets waited in the WebSocket`,
  );
  assert.ok(stats.sent > 24e6, `${stats.sent} octets sent`);
  // (The kernel's socket buffers take a few MB more meanwhile; not the rest.)
  assert.ok(later.sent < 20e6, `the client kept writing into a stalled path (${later.sent} octets)`);
  // The transport stopped writing at the high-water mark (one write over at most).
  assert.ok(stats.maxBuffered <= HIGH_WATER + ONE_WRITE, `bufferedAmount peaked at ${stats.maxBuffered}`);
  assert.deepEqual(await verdicts('ok', id), { data: 1, accepted: 1 });
  const data = server.records('ok').find((r) => r.event === 'data' && r.message_id === id);
  const parsed = await parse(readFileSync(data.file));
  assert.equal(parsed.attachments.length, 3);
  for (const [i, a] of parsed.attachments.entries()) {
    assert.equal(a.filename, `big${i}.bin`);
    assert.ok(Buffer.from(bytes(6)).equals(a.content), `attachment ${i} arrived intact`);
  }
});
