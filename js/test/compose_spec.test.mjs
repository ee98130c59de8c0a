// The compact encoding of compose options (src/wasm/API.md, js/lib/util.js):
// the fast path must compose exactly what compose(options) composes, must
// really be taken for ordinary options (not silently fall back), and must
// leave every error to compose(options).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { loadSource } from './helpers.mjs';

let lib;
let wasm;
let util;
before(async () => {
  lib = await loadSource();
  wasm = await import('../wasm/mimeograph.js');
  util = await import('../lib/util.js');
});

/** The output of the last compose()/composeSpec() call, copied. */
function output(len) {
  return new Uint8Array(wasm.wasmMemory().buffer, wasm.composedPtr(), len).slice();
}

const OPTIONS = [
  { from: 'A <a@example.com>', to: 'b@example.com', subject: 'hi', text: 'x\n.y\n', date: 0, deterministic: 7 },
  {
    from: '"Zoë Ångström" <zoe@example.com>',
    to: ['b@example.com', 'C <c@exämple.org>'],
    cc: [],
    bcc: 'd@example.com',
    'X-Custom': 'v',
    subject: '漢字 😀 '.repeat(20),
    text: 'héllo\n'.repeat(300),
    date: 1.7e12,
    deterministic: 8,
    attachment: [
      { data: '<p>hi</p>', alternative: true, related: [{ data: new Uint8Array([1, 2, 3]), cid: 'x@y', type: 'image/png' }] },
      { data: Buffer.from('abc'), name: 'a.bin', type: 'application/octet-stream', headers: { 'X-Part': '1' } },
      { data: new Uint8Array(70_000).buffer, name: 'big.bin' },
      { data: 'YWJj', encoded: true, name: 'b64.txt', inline: false },
      { data: 'plain', type: 'text/plain', charset: 'iso-8859-1', method: undefined, alternative: null },
    ],
  },
  Object.assign(Object.create(null), { from: 'a@example.com', to: 'b@example.com', text: '', deterministic: 9, date: 5 }),
];

test('composeSpec composes what compose(options) composes, byte for byte', () => {
  for (const [i, options] of OPTIONS.entries()) {
    const len = util.encodeSpec(options);
    assert.ok(len > 0, `options ${i} are encodable`);
    const fast = output(wasm.composeSpec(len)); // throws if the fast path refused them
    const slow = output(wasm.compose(options));
    assert.equal(Buffer.from(fast).toString('latin1'), Buffer.from(slow).toString('latin1'), `options ${i}`);
    assert.equal(util.composeOptions(options), slow.length);
  }
});

test('WasmMessage.fromSpec builds what fromOptions builds', () => {
  const options = OPTIONS[1];
  const a = wasm.WasmMessage.fromSpec(util.encodeSpec(options));
  const b = wasm.WasmMessage.fromOptions(options);
  assert.deepEqual(a.toBytes(), b.toBytes());
  assert.deepEqual(a.envelope(), b.envelope());
  a.free();
  b.free();
});

test('what the encoding does not carry goes to compose(options)', () => {
  const base = { from: 'a@example.com', to: 'b@example.com', deterministic: 1, date: 0 };
  for (const v of [() => 1, Symbol('s'), 1n, new Date(0), new Map(), new Uint16Array(2)]) {
    assert.equal(util.encodeSpec({ ...base, 'X-H': v }), -1);
  }
  const throwing = { ...base };
  Object.defineProperty(throwing, 'subject', { enumerable: true, get: () => { throw new Error('no'); } });
  assert.equal(util.encodeSpec(throwing), -1);
  let deep = {};
  const root = deep;
  for (let i = 0; i < 40; i++) deep = deep.x = {};
  assert.equal(util.encodeSpec({ ...base, attachment: root }), -1);
});

test('errors are compose(options)\'s, with the field, on either path', () => {
  const cases = [
    [{ from: 'a@example.com', to: ['b@example.com', 'c@example.com', 'd@example.com', 'bad<'], text: 'x' }, 'to[3]'],
    [{ from: 'a@example.com', to: 'b@example.com', subject: 'x\uD800y' }, 'subject'],
    [{ from: 'a@example.com', to: 'b@example.com', subject: 'a\r\nBcc: evil@example.com' }, 'subject'],
    [{ from: 'a@example.com', to: 'b@example.com', attachment: [{ data: 'x' }, { data: 1 }] }, 'attachment[1].data'],
    [{ from: 'a@example.com', to: 'b@example.com', 'X-Bad': 5 }, 'X-Bad'],
    [{ from: 'a@example.com', to: 'b@example.com', text: 'U+FFFD \uFFFD is fine' }, null],
  ];
  for (const [options, field] of cases) {
    let slow;
    try {
      wasm.compose(options);
    } catch (e) {
      slow = e;
    }
    let fast;
    try {
      util.composeOptions(options);
    } catch (e) {
      fast = e;
    }
    if (field === null) {
      assert.equal(slow, undefined);
      assert.equal(fast, undefined);
      continue;
    }
    assert.ok(slow, `compose refuses ${field}`);
    assert.equal(fast?.message, slow.message);
    assert.equal(fast?.code, slow.code);
    assert.equal(fast?.field, field);
  }
});

test('readAsync and readBytesAsync agree through the fast path', async () => {
  const m = new lib.Message({ from: 'a@example.com', to: 'b@example.com', subject: 'é', text: 'hi', deterministic: 3, attachment: [{ data: Buffer.alloc(100_000, 7), name: 'z.bin' }] });
  const s = await m.readAsync();
  const b = await m.readBytesAsync();
  // The second call keeps the first's Message-ID, so the id generator gives other boundaries.
  const boundaries = (t) => t.replace(/=_mg_[A-Za-z0-9]+/g, 'B');
  assert.equal(boundaries(Buffer.from(b).toString('utf8')), boundaries(s));
  assert.match(s, /Content-Transfer-Encoding: base64/);
});
