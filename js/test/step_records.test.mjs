// The engine's `sent` events as records (src/wasm/engine.rs `record_sent`,
// read back by js/lib/connection.js `readSent`) must be exactly the events
// its JSON gives (`pollEvent`): the same session, byte for byte, through
// `stepInput` and through `receive`/`pollTransmit`/`pollEvent`.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadSource } from './helpers.mjs';

let wasm;
let util;
let readSent;
before(async () => {
  await loadSource();
  wasm = await import('../wasm/mimeograph.js');
  util = await import('../lib/util.js');
  ({ readSent } = await import('../lib/connection.js'));
});

const enc = new TextEncoder();
const EHLO_REPLY = '250-mx.example.org\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n';

function message(options) {
  return util.buildMessage({ subject: 'records', text: 'hi\n', date: 0, deterministic: 3, ...options });
}

/** Runs the session through stepInput; returns [flags of the last step, its sent events, the bytes written]. */
function viaRecords(options, replies) {
  const e = new wasm.WasmSmtpClient({ domain: 'client.example', tls: 'never' }, false, 0);
  const state = () => util.wasmF64(e.statePtr, 8);
  const written = [];
  const turn = (text) => {
    const bytes = text === undefined ? new Uint8Array(0) : enc.encode(text);
    if (bytes.length) util.wasmBytes(e.inputBuffer(bytes.length), bytes.length).set(bytes);
    const r = e.stepInput(bytes.length, 0, 1 << 20);
    const s = state();
    written.push(new TextDecoder().decode(util.wasmBytes(s[0], r >>> 4)));
    return r;
  };
  turn('220 mx.example.org ESMTP\r\n');
  let r = turn(EHLO_REPLY);
  assert.equal(r & 1, 1, 'the ready event comes as JSON');
  assert.equal(JSON.parse(e.takeEvents())[0].type, 'ready');
  e.send(message(options), 0);
  turn();
  r = turn(replies);
  const sent = r & 8 ? readSent(state()) : null;
  e.free();
  return [r & 15, sent, written.join('')];
}

/** The same session through receive/pollTransmit/pollEvent (events as JSON). */
function viaJson(options, replies) {
  const e = new wasm.WasmSmtpClient({ domain: 'client.example', tls: 'never' }, false, 0);
  const written = [];
  const events = [];
  const drain = () => {
    for (let b; (b = e.pollTransmit()) !== undefined; ) written.push(new TextDecoder().decode(b));
    for (let ev; (ev = e.pollEvent()) !== undefined; ) events.push(ev);
  };
  e.receive(enc.encode('220 mx.example.org ESMTP\r\n'), 0);
  drain();
  e.receive(enc.encode(EHLO_REPLY), 0);
  drain();
  e.send(message(options), 0);
  drain();
  e.receive(enc.encode(replies), 0);
  drain();
  e.free();
  return [events.filter((ev) => ev.type === 'sent'), written.join('')];
}

const CASES = [
  {
    name: 'one recipient, enhanced codes',
    options: { from: 'a@example.com', to: 'b@example.net' },
    replies: '250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as 4A1\r\n',
  },
  {
    name: 'a recipient refused, multiline and non-ASCII replies, no enhanced code',
    options: { from: 'a@example.com', to: ['b@example.net', 'c@example.net', 'd@example.net'] },
    replies:
      '250 sender ok\r\n250 2.1.5 Ok\r\n550-5.1.1 no such user \u00e9\u00e8 \u2713\r\n550 5.1.1 really\r\n' +
      '250 ok too\r\n250-2.0.0 queued\r\n250-2.0.0 as 12345 \ud83d\ude00\r\n250 2.0.0 bye\r\n',
  },
  {
    name: 'UTF-8 addresses (SMTPUTF8)',
    options: { from: 'zo\u00eb@exa\u0308mple.com', to: ['\u00fc\u00f1\u00ee@b\u00fccher.example', 'x@example.net'] },
    replies: '250 2.1.0 \u00e4\r\n250 2.1.5 \u00f6\r\n251 2.1.5 forwarded \u6f22\u5b57\r\n250 2.0.0 \u2713\r\n',
  },
];

for (const c of CASES) {
  test(`sent records read back as the JSON event: ${c.name}`, () => {
    const [flags, sent, written] = viaRecords(c.options, c.replies);
    const [expected, writtenJson] = viaJson(c.options, c.replies);
    assert.equal(written, writtenJson, 'the same bytes go out either way');
    assert.equal(flags & 8, 8, `the step's events were given as records (flags ${flags})`);
    assert.equal(flags & 1, 0, 'and not as JSON as well');
    assert.equal(expected.length, 1, JSON.stringify(expected));
    assert.deepStrictEqual(sent, expected);
  });
}
