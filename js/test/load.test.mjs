// Load: 10,000 distinct messages (text + HTML, UTF-8 subjects, a few with
// attachments) through the package's SMTPClient — 4 clients in parallel,
// each one connection — over the WebSocket transport through a real
// websockify bridge to a real aiosmtpd (offering PIPELINING). The server
// records each message's Message-ID and Subject (read by Python's email,
// policy.default) and its envelope (`--ids-only`); every Message-ID must
// arrive exactly once with its subject and recipient, and no other.
//
// Memory must stay flat: the JS heap (after a full GC), the wasm memory and
// the RSS are measured with no message in flight after 2,000 and after
// 10,000 messages; the growth is bounded and printed with the peak RSS
// (process.resourceUsage().maxRSS) and the rate.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { cleanup, jsDir, loadSource, repoRoot, startAiosmtpd, startWebsockify } from './helpers.mjs';

const TOTAL = 10_000;
const CLIENTS = 4;
const WARM_UP = 2_000;
const MiB = 1 << 20;
// Bounds on the growth from WARM_UP to TOTAL messages (both points with no
// message in flight, after a full GC). Measured: JS heap +0.8 MiB (the
// Message-IDs the test keeps; about 115 bytes each), wasm memory +0.25 MiB,
// RSS about +22 MiB: V8 warming up (with 40,000 messages the RSS levels off
// at about 110 MiB from message 11,000 on). A leak of 512 bytes per message
// would exceed the heap bound; of one message (several KiB), all of them.
const HEAP_GROWTH_LIMIT = 4 * MiB;
const WASM_GROWTH_LIMIT = 4 * MiB;
const RSS_GROWTH_LIMIT = 48 * MiB;

let lib;
let wasmMemory;
before(async () => {
  lib = await loadSource();
  // The package's wasm instance (already initialised: init() returns its exports).
  const { default: init } = await import(path.join(jsDir, 'wasm', 'mimeograph.js'));
  wasmMemory = (await init()).memory;
});
after(cleanup);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const SUBJECTS = ['Grüße aus Köln', '日本語の件名', 'ça va? — déjà vu', 'Quarterly report 😀', 'Ærøskøbing ✓ Ünïcödé', 'plain ASCII subject'];
const subject = (n) => `${SUBJECTS[n % SUBJECTS.length]} #${n}`;
const recipient = (n) => `user${n}@example.net`;
const GIF = path.join(repoRoot, 'tests', 'fixtures', 'smtp.gif');

function noise(len, seed) {
  const out = Buffer.alloc(len);
  let x = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 16;
  }
  return out;
}

/** Message n in emailjs's options: the same mix as tests/load_native.rs. */
function options(n) {
  const paragraph =
    `Message ${n}. Déjà vu: naïve café, Grüße, 日本語, emoji 😀. ` +
    `The quick brown fox jumps over the lazy dog; line ${n} keeps going for a while.\n`;
  const text = `${paragraph.repeat(12)}.\nA line with a single dot above.\n${paragraph}`;
  const html = `<html><body><h1>Message ${n}</h1>${`<p>${paragraph.trimEnd()}</p>`.repeat(12)}<p>.</p></body></html>`;
  const attachment = [{ data: html, alternative: true }];
  if (n % 50 === 0) attachment.push({ data: noise(4096 + (n % 16384), n), name: `data-${n}.bin`, type: 'application/octet-stream' });
  if (n % 500 === 0) {
    attachment.push({ data: noise(256 << 10, n + 1), name: `big-${n}.bin`, type: 'application/octet-stream' });
    attachment.push({ path: GIF, name: 'smtp.gif', type: 'image/gif' });
  }
  return { from: `"Zoë Sender" <sender${n % 7}@example.com>`, to: `"Recipient ${n}" <${recipient(n)}>`, subject: subject(n), text, attachment };
}

/** User + system CPU seconds of a process and its live children (/proc), or null. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime: fields 14-17, 12-15 after ")".
    let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
    } catch {
      /* not available */
    }
    for (const child of children.split(' ').filter(Boolean)) ticks += (cpuSeconds(Number(child)) ?? 0) * 100;
    return ticks / 100; // USER_HZ
  } catch {
    return null;
  }
}

function measure(sent) {
  gc();
  const m = process.memoryUsage();
  return { sent, heap: m.heapUsed, rss: m.rss, external: m.external, wasm: wasmMemory.buffer.byteLength };
}

const mib = (bytes) => `${(bytes / MiB).toFixed(2)} MiB`;
const signed = (bytes) => `${bytes >= 0 ? '+' : ''}${mib(bytes)}`;

test(`${TOTAL} messages through ${CLIENTS} SMTPClients over websockify to aiosmtpd`, { timeout: 600_000 }, async () => {
  const server = await startAiosmtpd({ flags: ['--ids-only', '--pipelining'] });
  const bridge = await startWebsockify(server.port);
  const clients = Array.from({ length: CLIENTS }, () => new lib.SMTPClient({ bridge: bridge.url, timeout: 30_000, domain: 'client.test' }));

  let next = 0;
  let done = 0;
  const sent = new Array(TOTAL);
  const series = [];
  // Each client sends one message after the other (as an application
  // awaiting sendAsync would) until `upto` messages were taken.
  async function run(client, upto) {
    for (;;) {
      const n = next++;
      if (n >= upto) return;
      let msg;
      try {
        msg = await client.sendAsync(options(n));
      } catch (e) {
        throw new Error(`message ${n}: ${e.message}`, { cause: e });
      }
      sent[n] = msg.header['message-id'];
      if (++done % 1000 === 0) {
        const m = process.memoryUsage();
        series.push({ done, rss: m.rss, heap: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, wasm: wasmMemory.buffer.byteLength });
      }
    }
  }

  const cpu0 = process.cpuUsage();
  const serverCpu0 = cpuSeconds(server.child.pid);
  const bridgeCpu0 = cpuSeconds(bridge.child.pid);
  const t0 = performance.now();
  await Promise.all(clients.map((c) => run(c, WARM_UP)));
  next = WARM_UP;
  const warm = measure(WARM_UP);
  await Promise.all(clients.map((c) => run(c, TOTAL)));
  const end = measure(TOTAL);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const serverCpu = cpuSeconds(server.child.pid);
  const bridgeCpu = cpuSeconds(bridge.child.pid);
  const peakRss = process.resourceUsage().maxRSS * 1024;
  for (const c of clients) c.smtp.close();

  const fmtCpu = (a, b) => (a != null && b != null ? `${(b - a).toFixed(1)} s` : 'n/a');
  console.log(
    `load.test: ${TOTAL} messages, ${CLIENTS} clients through websockify: ${seconds.toFixed(1)} s, ${(TOTAL / seconds).toFixed(0)} messages/s; ` +
      `CPU: node ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, aiosmtpd ${fmtCpu(serverCpu0, serverCpu)}, websockify ${fmtCpu(bridgeCpu0, bridgeCpu)}`,
  );
  for (const m of series) {
    console.log(
      `load.test: after ${String(m.done).padStart(5)} messages: RSS ${mib(m.rss)}, JS heap ${mib(m.heap)}, external ${mib(m.external)} ` +
        `(array buffers ${mib(m.arrayBuffers)}), wasm ${mib(m.wasm)}`,
    );
  }
  const growth = { heap: end.heap - warm.heap, wasm: end.wasm - warm.wasm, rss: end.rss - warm.rss, external: end.external - warm.external };
  console.log(
    `load.test: peak RSS (maxRSS) ${mib(peakRss)}; from message ${WARM_UP} to ${TOTAL} (nothing in flight, after GC): ` +
      `JS heap ${signed(growth.heap)} (${mib(warm.heap)} -> ${mib(end.heap)}), wasm memory ${signed(growth.wasm)} (${mib(end.wasm)}), ` +
      `external ${signed(growth.external)}, RSS ${signed(growth.rss)} (${mib(warm.rss)} -> ${mib(end.rss)})`,
  );

  // ----- what arrived -----
  const records = readFileSync(server.out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const byId = new Map();
  for (const r of records) {
    assert.equal(r.message_ids.length, 1, `one Message-ID header: ${JSON.stringify(r.message_ids)}`);
    const id = r.message_ids[0].trim();
    assert.match(id, /^<[^<>\s]+>$/);
    if (!byId.has(id)) byId.set(id, []);
    byId.get(id).push(r);
  }
  const missing = [];
  for (let n = 0; n < TOTAL; n++) {
    const id = sent[n];
    assert.ok(typeof id === 'string' && id.startsWith('<'), `message ${n} has no Message-ID: ${id}`);
    const got = byId.get(id);
    byId.delete(id);
    if (!got) {
      missing.push(n);
      continue;
    }
    assert.equal(got.length, 1, `message ${n} (${id}) arrived ${got.length} times`);
    const [r] = got;
    assert.deepEqual(r.rcpt_tos, [recipient(n)], `message ${n}`);
    assert.equal(r.subject, subject(n), `message ${n}`);
    assert.equal(r.defects, 0, `message ${n}: header defects`);
    assert.ok(r.size > 2000, `message ${n}: ${r.size} bytes`);
  }
  assert.deepEqual(missing, [], `${missing.length} messages never arrived`);
  assert.equal(byId.size, 0, `${byId.size} unexpected messages arrived`);
  assert.equal(records.length, TOTAL);

  const connections = new Set(records.map((r) => r.conn));
  const peak = Math.max(...records.map((r) => r.peak));
  console.log(`load.test: the server saw ${connections.size} connections, at most ${peak} at once`);
  assert.ok(peak <= CLIENTS, `${peak} connections at once`);
  assert.ok(peak >= 2, 'the clients never sent in parallel');

  // ----- memory -----
  assert.ok(growth.heap < HEAP_GROWTH_LIMIT, `the JS heap grew by ${mib(growth.heap)}`);
  assert.ok(growth.wasm < WASM_GROWTH_LIMIT, `the wasm memory grew by ${mib(growth.wasm)}`);
  assert.ok(growth.rss < RSS_GROWTH_LIMIT, `the RSS grew by ${mib(growth.rss)}`);
});
