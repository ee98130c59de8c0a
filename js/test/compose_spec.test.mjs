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
  // Large and small outputs alike: a plain Uint8Array (not a Buffer, whose
  // slice() is a view) over an ArrayBuffer of exactly its bytes (nothing
  // else of Node's Buffer pool shows through .buffer), and a copy: the next
  // composition does not change it.
  const small = await new lib.Message({ from: 'a@example.com', to: 'b@example.com', text: 'hi' }).readBytesAsync();
  for (const bytes of [b, small]) {
    assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, bytes.length);
  }
  assert.ok(b.length > 1 << 16);
  const before = Buffer.from(b);
  await m.readBytesAsync();
  assert.ok(before.equals(b));
});

/** A Message that always hands the bindings the options object (the path before encodeMessageSpec). */
function objectPathMessage(options) {
  const m = new lib.Message(options);
  m._encode = function (attachments) {
    return [-1, this._options(attachments)];
  };
  return m;
}

/** A Message counting how often it builds the options object. */
function countingMessage(options) {
  const m = new lib.Message(options);
  m.optionObjects = 0;
  const own = m._options;
  m._options = function (attachments) {
    this.optionObjects += 1;
    return own.call(this, attachments);
  };
  return m;
}

const MESSAGES = [
  () => ({ from: '"Alice Sender" <alice@example.com>', to: '"Bob" <bob@example.org>', subject: 'Report 1: notes', text: 'a\n.b\n'.repeat(50), 'Content-Type': 'text/plain; charset=us-ascii', deterministic: 1, date: 0 }),
  () => ({
    from: '"Zoë Ångström" <zoe@example.com>',
    to: ['b@example.com', 'C <c@exämple.org>'],
    cc: [],
    bcc: null,
    'X-Custom': 'v',
    subject: '漢字 😀 '.repeat(20),
    text: '',
    date: 'Tue, 01 Dec 2026 10:00:00 +0100',
    deterministic: 2,
  }),
  () => ({
    from: 'a@example.com',
    to: 'b@example.com',
    subject: 'short é',
    text: 'héllo\n'.repeat(300),
    date: new Date(1.7e12),
    'content-type': '',
    deterministic: 3,
    attachment: [
      { data: '<p>hi</p>', alternative: true, related: [{ data: new Uint8Array([1, 2, 3]), cid: 'x@y', type: 'image/png' }] },
      { data: Buffer.from('abc'), name: 'a.bin', type: 'application/octet-stream', headers: { 'X-Part': '1' } },
      { data: new Uint8Array(70_000).buffer, name: 'big.bin' },
      { data: 'YWJj', encoded: true, name: 'b64.txt', inline: false },
      { data: 'plain', type: 'text/plain', charset: 'iso-8859-1', method: undefined, alternative: null },
    ],
  }),
];

test('a Message is encoded without its options object, into the same bytes', async () => {
  for (const [i, make] of MESSAGES.entries()) {
    const fast = countingMessage(make());
    const want = await objectPathMessage(make()).readBytesAsync();
    const got = await fast.readBytesAsync();
    assert.equal(Buffer.from(got).toString('latin1'), Buffer.from(want).toString('latin1'), `message ${i}`);
    assert.equal(fast.optionObjects, 0, `message ${i}: no options object`);
    const text = await countingMessage(make()).readAsync();
    assert.equal(text, Buffer.from(want).toString('utf8'), `message ${i}: readAsync`);
  }
});

test('a Message whose header holds text, content-type or attachment is encoded from its options object', async () => {
  for (const key of ['text', 'content-type', 'attachment']) {
    const make = () => {
      const m = new lib.Message({ from: 'a@example.com', to: 'b@example.com', deterministic: 4, date: 0 });
      m.header[key] = 'in the header';
      return m;
    };
    const m = make();
    let calls = 0;
    const own = m._options;
    m._options = (a) => {
      calls += 1;
      return own.call(m, a);
    };
    const a = await m.readBytesAsync().then((b) => Buffer.from(b).toString('latin1'), (e) => `${e.code} ${e.field} ${e.message}`);
    const o = make();
    const b = await wasmOutput(() => wasm.compose(o._options([]))).catch((e) => `${e.code} ${e.field} ${e.message}`);
    assert.equal(a, b, key);
    assert.ok(calls > 0, `${key}: the options object was built`);
  }
});

async function wasmOutput(compose) {
  return Buffer.from(output(compose())).toString('latin1');
}

test('errors from a Message are those of compose(options), with the field', async () => {
  const cases = [
    [{ from: 'a@example.com', to: ['b@example.com', 'bad<'], text: 'x' }, 'to[1]'],
    [{ from: 'a@example.com', to: 'b@example.com', subject: 'a\r\nBcc: evil@example.com' }, 'subject'],
    [{ from: 'a@example.com', to: 'b@example.com', attachment: [{ data: 'x' }, { data: 1 }] }, 'attachment[1].data'],
    [{ from: 'a@example.com', to: 'b@example.com', 'X-Bad': 5 }, 'x-bad'],
  ];
  for (const [options, field] of cases) {
    const fast = await new lib.Message(options).readAsync().catch((e) => e);
    const slow = await objectPathMessage(options).readAsync().catch((e) => e);
    assert.ok(slow instanceof Error, `the object path refuses ${field}`);
    assert.equal(fast?.message, slow.message);
    assert.equal(fast?.code, slow.code);
    assert.equal(fast?.field, field);
  }
});

test("the platform's UTF-8 writer and decoder agree with TextEncoder and TextDecoder", async () => {
  const { platform } = await import('../lib/platform.js');
  assert.equal(typeof platform.encodeInto, 'function', 'Node installs one');
  const strings = ['', 'a', 'é', '漢字😀', 'x\uD800y', '\uDC00', `${'a'.repeat(100)}\uD83D`, '\uD83D\uDE00'.repeat(50), `\uDE00${'ü'.repeat(40)}`, 'plain ascii '.repeat(30)];
  for (const s of strings) {
    const want = new TextEncoder().encode(s);
    const bytes = new Uint8Array(new ArrayBuffer(3 * s.length + 16), 3, 3 * s.length + 8);
    const n = platform.encodeInto(s, bytes, 4, 3 * s.length);
    assert.deepEqual(bytes.subarray(4, 4 + n), want, JSON.stringify(s));
    assert.equal(platform.decode(bytes.subarray(4, 4 + n), false), new TextDecoder().decode(want));
  }
  const ascii = new Uint8Array(new ArrayBuffer(300), 7, 128);
  for (let i = 0; i < 128; i++) ascii[i] = i;
  assert.equal(platform.decode(ascii, true), String.fromCharCode(...ascii));
  const invalid = new Uint8Array([0x61, 0xff, 0xe6, 0xbc, 0x62]);
  assert.equal(platform.decode(invalid, false), new TextDecoder().decode(invalid));
});

test('a long string with a lone surrogate goes to compose(options), with the field', () => {
  const options = { from: 'a@example.com', to: 'b@example.com', subject: `${'x'.repeat(40)}\uD800`, text: `${'é'.repeat(50)}\uDFFF` };
  let slow;
  try {
    wasm.compose(options);
  } catch (e) {
    slow = e;
  }
  assert.ok(slow, 'compose refuses it');
  assert.throws(() => util.composeOptions(options), (e) => e.message === slow.message && e.field === 'subject');
});

test('long two-byte strings go over as UTF-16 (src/wasm/utf16.rs) and compose what compose(options) composes', async () => {
  const { platform } = await import('../lib/platform.js');
  assert.equal(typeof platform.utf16Into, 'function', 'Node installs one');
  const original = platform.utf16Into;
  let calls = 0;
  platform.utf16Into = (...args) => {
    calls++;
    return original(...args);
  };
  try {
    const pieces = ['a', ' ', '\n', 'é', 'Ω', '漢', '字', '😀', '🙂', '<p>', 'ü', '\u07ff', '\u0800', '\uffff', '\ufffd', '\u007f', '\u0080'];
    let x = 7;
    const pick = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return pieces[(x >>> 8) % pieces.length];
    };
    for (let round = 0; round < 40; round++) {
      let text = '';
      while (text.length < 256 + round * 7) text += pick();
      const html = `<p>${text}</p>`.repeat(1 + (round % 3));
      const options = {
        from: 'a@example.com',
        to: 'b@example.com',
        subject: round % 2 ? [...text].slice(0, 280).join('').replace(/[\n\u007f\u0080]/g, ' ') : 's',
        text,
        deterministic: round,
        date: 0,
        attachment: [{ data: html, alternative: true }, { data: text, name: 'notes.txt', type: 'text/plain', charset: 'utf-8' }],
      };
      const before = calls;
      const len = util.encodeSpec(options);
      assert.ok(calls > before, `round ${round}: the UTF-16 form was used`);
      const fast = output(wasm.composeSpec(len));
      const slow = output(wasm.compose(options));
      assert.equal(Buffer.from(fast).toString('latin1'), Buffer.from(slow).toString('latin1'), `round ${round}`);
    }
    // A lone surrogate anywhere in such a string: compose(options)'s error, with the field.
    const body = '漢字 😀 text '.repeat(40);
    for (const at of [0, 1, 7, 8, 9, 15, 16, 17, 200, body.length - 9, body.length - 1, body.length]) {
      for (const lone of ['\uD800', '\uDFFF', '\uDBFF\uDBFF']) {
        const options = { from: 'a@example.com', to: 'b@example.com', text: body.slice(0, at) + lone + body.slice(at) };
        let slow;
        try {
          wasm.compose(options);
        } catch (e) {
          slow = e;
        }
        assert.ok(slow, `compose refuses a lone surrogate at ${at}`);
        assert.throws(() => util.composeOptions(options), (e) => e.message === slow.message && e.field === 'text', `at ${at}`);
      }
    }
  } finally {
    platform.utf16Into = original;
  }
});

test('attach({ alternative: true }) keeps what a spread of the options keeps', () => {
  const sym = Symbol('s');
  const hidden = Symbol('hidden');
  const options = JSON.parse('{"data":"<p>x</p>","alternative":1,"type":"text/html; charset=utf-8","__proto__":{"a":1},"z":null}');
  options[sym] = 'kept';
  Object.defineProperty(options, hidden, { value: 'not enumerable', enumerable: false });
  Object.defineProperty(options, 'invisible', { value: 1, enumerable: false });
  const m = new lib.Message({ from: 'a@example.com', to: 'b@example.com' }).attach(options);
  const want = { ...options, alternative: true, charset: 'utf-8', type: options.type, inline: true };
  assert.deepEqual(Reflect.ownKeys(m.alternative), Reflect.ownKeys(want));
  for (const k of Reflect.ownKeys(want)) assert.deepEqual(m.alternative[k], want[k], String(k));
  assert.equal(Object.getPrototypeOf(m.alternative), Object.prototype);
  assert.equal(m.alternative.invisible, undefined);
  assert.equal(m.alternative[hidden], undefined);
});
