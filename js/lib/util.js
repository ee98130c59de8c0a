import * as wasm from '../wasm/mimeograph.js';
import { MimeographError, wrapWasm } from './errors.js';
import { platform } from './platform.js';
import { invalid, isWellFormed, typeName } from './validate.js';

/** Converts what emailjs accepts as a date (Date, number, RFC 2822 / ISO string) to ms since the epoch. */
export function toMillis(value, field = 'date') {
  if (value === undefined || value === null) return undefined;
  let ms;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') ms = Date.parse(value);
  else throw new MimeographError(`\`${field}\` must be a Date, a number or a date string`, 'INVALID_ARGUMENT', field);
  if (!Number.isFinite(ms)) {
    throw new MimeographError(`\`${field}\` is not a valid date`, 'INVALID_ARGUMENT', field);
  }
  return ms;
}

/**
 * emailjs's addressparser: `"A <a@x>, b@y"` (or an array of such strings) →
 * `[{ name, address }]`; groups come back as `{ name, group: [...] }`.
 */
export function addressparser(input) {
  if (Array.isArray(input)) return input.flatMap((s) => addressparser(s));
  if (input === undefined || input === null) return [];
  let text;
  try {
    // emailjs reads anything as text (`String(x)`); a value that cannot be is an error.
    text = typeof input === 'string' ? input : String(input);
  } catch {
    throw invalid('input', `addressparser: the input must be a string or an array of strings, got ${typeName(input)}`);
  }
  return wrapWasm(() => wasm.addressparser(text));
}

/** emailjs's getRFC2822Date(date = new Date(), useUtc = false). */
export function getRFC2822Date(date = new Date(), useUtc = false) {
  return wrapWasm(() => wasm.getRFC2822Date(toMillis(date), Boolean(useUtc)));
}

/** emailjs's getRFC2822DateUTC(date = new Date()): the date in UTC, `+0000`. */
export function getRFC2822DateUTC(date = new Date()) {
  return getRFC2822Date(date, true);
}

/** emailjs's date pattern (RFC 2822 section 3.3, obsolete zones included). */
const RFC2822_DATE =
  /^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s)?(\d{1,2})\s(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s(\d{2,4})\s(\d\d):(\d\d)(?::(\d\d))?\s(?:(UT|GMT|[ECMP][SD]T)|([Zz])|([+-]\d{4}))$/;

/** emailjs's isRFC2822Date(date): whether the string has the RFC 2822 date form. */
export function isRFC2822Date(date) {
  return RFC2822_DATE.test(date);
}

/**
 * emailjs's mimeWordEncode(data, mimeWordEncoding = 'Q', encoding = 'utf-8').
 * The engine picks Q or B per word (the shorter one); the second argument is
 * accepted for compatibility and otherwise ignored.
 */
export function mimeWordEncode(data, _mimeWordEncoding = 'Q', encoding = 'utf-8') {
  const text = textOf(data, encoding);
  return wrapWasm(() => wasm.mimeWordEncode(text, 'utf-8'));
}

/** emailjs's mimeEncode(data, encoding = 'utf-8'): quoted-printable. */
export function mimeEncode(data, encoding = 'utf-8') {
  const text = textOf(data, encoding);
  return wrapWasm(() => wasm.mimeEncode(text, 'utf-8'));
}

/** `data` as text: a string as it is, bytes decoded from `encoding` (a WHATWG label). */
function textOf(data, encoding) {
  if (typeof data === 'string') {
    if (!isWellFormed(data)) throw invalid('data', '`data` contains a lone surrogate (invalid UTF-16)');
    return data;
  }
  const bytes = toBytes(data, 'data');
  if (typeof encoding !== 'string') {
    throw invalid('encoding', `\`encoding\` must be a charset label, got ${typeName(encoding)}`);
  }
  let decoder;
  try {
    decoder = new TextDecoder(encoding);
  } catch {
    throw invalid('encoding', `\`encoding\`: unknown charset label ${JSON.stringify(encoding.slice(0, 40))}`);
  }
  return decoder.decode(bytes);
}

/** Plain Uint8Array view of any byte source (Buffer, ArrayBuffer, typed array). */
export function toBytes(value, field = 'data') {
  if (value instanceof Uint8Array) {
    return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw invalid(field, `\`${field}\` must be a string or bytes (Uint8Array, Buffer, ArrayBuffer), got ${typeName(value)}`);
}

export function concatBytes(chunks) {
  let total = 0;
  for (const c of chunks) total += c.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const perf = globalThis.performance;
/** `performance.timeOrigin` (a getter, not a cheap one) read once: it does not change. */
const timeOrigin = perf ? perf.timeOrigin : 0;

/** A monotonic clock in whole milliseconds, the engine's `nowMs`. */
export function now() {
  return Math.floor(perf ? timeOrigin + perf.now() : Date.now());
}

// --- the compact encoding of compose options (src/wasm/API.md, "The compact encoding") ---

/** Thrown inside the encoder for a value it does not encode (the options object then goes to `compose`). */
const BAIL = Symbol('bail');
/** Arrays and objects deeper than this go to `compose` (it refuses cycles by name). */
const SPEC_MAX_DEPTH = 32;
const specEncoder = new TextEncoder();
let specMemory = null;
let specPtr = 0;
let specCap = 0;
/** @type {Uint8Array} */
let specBytes = new Uint8Array(0);
/** @type {DataView} */
let specView = new DataView(new ArrayBuffer(0));
let specPos = 0;

/**
 * Views on the spec buffer, made again when it moved or when the wasm memory
 * grew (its old buffer is then detached: a view on it has length 0, so the
 * memory's `buffer` getter, not a cheap one, is not called each time).
 */
function specViews() {
  if (specBytes.byteOffset !== specPtr || specBytes.byteLength !== specCap) {
    const buffer = wasmBuffer();
    specBytes = new Uint8Array(buffer, specPtr, specCap);
    specView = new DataView(buffer, specPtr, specCap);
  }
}

/** The wasm memory's ArrayBuffer, kept until the memory grows (which detaches it: byteLength 0). */
let memoryBuffer = null;
function wasmBuffer() {
  if (memoryBuffer === null || memoryBuffer.byteLength === 0) {
    specMemory ??= wasm.wasmMemory();
    memoryBuffer = specMemory.buffer;
  }
  return memoryBuffer;
}

/** A view of `len` bytes of the wasm memory at `ptr` (valid until the next call into the module). */
export function wasmBytes(ptr, len) {
  return new Uint8Array(wasmBuffer(), ptr, len);
}

/**
 * A view of `len` f64s of the wasm memory at `ptr` (8-aligned); it reads as
 * empty (length 0) once the memory has grown, and must then be made again.
 */
export function wasmF64(ptr, len) {
  return new Float64Array(wasmBuffer(), ptr, len);
}

/** Room for `n` more bytes (the wasm side keeps what was written when it grows the buffer). */
function specRoom(n) {
  const need = specPos + n;
  if (need <= specCap) return;
  if (need > 0xffff_ffff) throw BAIL;
  const cap = Math.min(0xffff_ffff, Math.max(need, specCap * 2, 4096));
  specPtr = wasm.specBuffer(cap);
  specCap = cap;
  specViews();
}

/** Strings up to this long are written with a charCode loop when ASCII (cheaper than a call to encodeInto). */
const SHORT_STRING = 24;

/** Writes `s` at `at` if it is ASCII (one byte per unit); -1 (having written part of it) if not. */
function asciiInto(s, at) {
  const n = s.length;
  const bytes = specBytes;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    bytes[at + i] = c;
  }
  return n;
}

/** Writes `s` as UTF-8 at `at` (room for 3 bytes per UTF-16 unit is there); the bytes written. */
function utf8Into(s, at) {
  const n = s.length;
  if (n <= SHORT_STRING) {
    const written = asciiInto(s, at);
    if (written >= 0) return written;
  }
  const encodeInto = platform.encodeInto;
  if (encodeInto !== null) return encodeInto(s, specBytes, at, 3 * n);
  return specEncoder.encodeInto(s, specBytes.subarray(at, at + 3 * n)).written;
}

/** Strings at least this long go over as UTF-16 when they look two-byte (`specString`). */
const UTF16_MIN = 256;

/**
 * Whether `s` has a character past U+00FF at one of 17 spread-out places:
 * V8 then holds it as a two-byte string, which Node's UTF-8 encoder takes
 * ~2.5 ns a character to write and the wasm transcodes from UTF-16 in half
 * that (src/wasm/utf16.rs). One-byte strings (ASCII, Latin-1) are faster as
 * UTF-8. A miss costs speed only: both forms give the same string.
 */
function looksTwoByte(s) {
  const n = s.length;
  const step = n >>> 4;
  for (let i = 0; i < n; i += step) if (s.charCodeAt(i) > 0xff) return true;
  return s.charCodeAt(n - 1) > 0xff;
}

function specString(s) {
  const n = s.length;
  const utf16Into = platform.utf16Into;
  if (n >= UTF16_MIN && utf16Into !== null && looksTwoByte(s)) {
    specRoom(5 + 2 * n);
    specBytes[specPos] = 9;
    specView.setUint32(specPos + 1, n, true);
    specPos += 5 + utf16Into(s, specBytes, specPos + 5);
    return;
  }
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  specRoom(5 + 3 * s.length);
  specBytes[specPos] = 5;
  const start = specPos + 5;
  const written = utf8Into(s, start);
  specView.setUint32(specPos + 1, written, true);
  specPos = start + written;
}

/** Object keys seen before, as UTF-8 (option names repeat from message to message). */
const keyCache = new Map();
const KEY_CACHE_MAX = 512;

function specKey(s) {
  let bytes = keyCache.get(s);
  if (bytes === undefined) {
    bytes = specEncoder.encode(s);
    if (keyCache.size < KEY_CACHE_MAX && s.length <= 64) keyCache.set(s, bytes);
  }
  const n = bytes.length;
  specRoom(4 + n);
  specView.setUint32(specPos, n, true);
  const at = specPos + 4;
  if (n <= 32) {
    const out = specBytes;
    for (let i = 0; i < n; i++) out[at + i] = bytes[i];
  } else {
    specBytes.set(bytes, at);
  }
  specPos = at + n;
}

function specByteArray(bytes) {
  specRoom(5 + bytes.byteLength);
  specBytes[specPos] = 6;
  specView.setUint32(specPos + 1, bytes.byteLength, true);
  specBytes.set(bytes, specPos + 5);
  specPos += 5 + bytes.byteLength;
}

function specValue(v, depth) {
  switch (typeof v) {
    case 'string':
      specString(v);
      return;
    case 'number':
      specRoom(9);
      specBytes[specPos] = 4;
      specView.setFloat64(specPos + 1, v, true);
      specPos += 9;
      return;
    case 'boolean':
      specRoom(1);
      specBytes[specPos++] = v ? 3 : 2;
      return;
    case 'undefined':
      specRoom(1);
      specBytes[specPos++] = 0;
      return;
    case 'object':
      break;
    default:
      throw BAIL; // functions, symbols, bigints: compose() names them
  }
  if (v === null) {
    specRoom(1);
    specBytes[specPos++] = 0;
    return;
  }
  if (depth >= SPEC_MAX_DEPTH) throw BAIL;
  if (Array.isArray(v)) {
    const n = v.length;
    specRoom(5);
    specBytes[specPos] = 7;
    specView.setUint32(specPos + 1, n, true);
    specPos += 5;
    for (let i = 0; i < n; i++) specValue(v[i], depth + 1);
    return;
  }
  if (v instanceof Uint8Array) {
    specByteArray(v);
    return;
  }
  if (v instanceof ArrayBuffer) {
    specByteArray(new Uint8Array(v));
    return;
  }
  const proto = Object.getPrototypeOf(v);
  // Anything but a plain object (a Map, a class instance, another typed array, ...) goes to compose().
  if (proto !== Object.prototype && proto !== null) throw BAIL;
  const keys = Object.keys(v);
  specRoom(5);
  specBytes[specPos] = 8;
  specView.setUint32(specPos + 1, keys.length, true);
  specPos += 5;
  for (const key of keys) {
    specKey(key);
    specValue(v[key], depth + 1);
  }
}

/**
 * Writes the compact encoding of `value` at the start of the wasm side's
 * buffer (src/wasm/API.md) and returns its length, or -1 when the encoding
 * cannot carry it (a function, a Date, a class instance, a getter that
 * throws, nesting deeper than 32, ...). The next call into the module reads it.
 */
export function encodeSpec(value) {
  specPos = 0;
  try {
    specViews();
    specValue(value, 0);
    return specPos;
  } catch {
    // BAIL, or a getter that threw: the caller reads the object itself.
    return -1;
  }
}

/**
 * Writes the compact encoding of the options object a Message hands to the
 * bindings (`Message._options`: the entries of `header` but `date` and the
 * nullish ones, in order, then `date`, then `text`, `content-type` and
 * `attachment` when given) without building that object, and returns its
 * length; -1 where encodeSpec gives -1, and when `header` itself holds
 * `text`, `content-type` or `attachment` (the object would keep that key
 * where `header` has it): the caller then encodes the object.
 * `text`: none when undefined or null; `contentType`: none when undefined.
 */
export function encodeMessageSpec(header, date, text, contentType, attachments) {
  specPos = 0;
  try {
    specViews();
    specRoom(5);
    specBytes[0] = 8;
    specPos = 5;
    let count = 0;
    const keys = Object.keys(header);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const value = header[key];
      if (value === undefined || value === null || key === 'date') continue;
      if (key === 'text' || key === 'content-type' || key === 'attachment') return -1;
      specKey(key);
      specValue(value, 1);
      count++;
    }
    specKey('date');
    specValue(date, 1);
    count++;
    if (text !== undefined && text !== null) {
      specKey('text');
      specValue(text, 1);
      count++;
    }
    if (contentType !== undefined) {
      specKey('content-type');
      specValue(contentType, 1);
      count++;
    }
    if (attachments.length) {
      specKey('attachment');
      specValue(attachments, 1);
      count++;
    }
    specView.setUint32(1, count, true);
    return specPos;
  } catch {
    return -1;
  }
}

/**
 * Calls `fast(used)` on the compact encoding already written (`used` bytes,
 * by encodeSpec or encodeMessageSpec; -1: none); whatever the encoding does
 * not carry, and every error, goes to `slow(options())`, which reads the
 * object itself and is the authority on errors (both read options with the
 * same code in the wasm core).
 */
function withSpec(used, options, fast, slow) {
  if (used >= 0) {
    try {
      return fast(used);
    } catch (e) {
      // A panic (a bug) is reported, not retried.
      if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) throw e;
    } finally {
      // A large buffer is not kept for much smaller messages.
      if (specCap > 1 << 22 && used < specCap / 4) {
        specCap = Math.max(4096, used);
        specPtr = wasm.specBuffer(specCap);
      }
    }
  }
  return slow(options());
}

const fromSpec = (len) => wasm.WasmMessage.fromSpec(len);
const fromOptions = (o) => wasm.WasmMessage.fromOptions(o);

/**
 * wasm.compose(options) (the output's length), through the compact encoding
 * (written into the wasm memory: strings with a charCode loop or
 * TextEncoder.encodeInto, bytes with one copy).
 */
export function composeOptions(options) {
  return withSpec(encodeSpec(options), () => options, wasm.composeSpec, wasm.compose);
}

/** wasm.WasmMessage.fromOptions(options), through the compact encoding. */
export function buildMessage(options) {
  return withSpec(encodeSpec(options), () => options, fromSpec, fromOptions);
}

/**
 * composeOptions(options()) where `used` bytes of its encoding are already
 * written (encodeMessageSpec); `options()` builds the object only when the
 * encoding (used < 0) or the fast path (an error) needs it.
 */
export function composeEncoded(used, options) {
  if (used < 0) return composeOptions(options());
  return withSpec(used, options, wasm.composeSpec, wasm.compose);
}

/**
 * One WasmMessage the engine has emptied (`send` takes its message), kept
 * to be filled again (`refillSpec`) by the next buildEncoded: no wrapper
 * object, finalizer registration and `free` call per message.
 */
let spareMessage = null;
/** The spare being refilled (for `refill`, which withSpec calls with the length). */
let refilling = null;
const refill = (len) => {
  refilling.refillSpec(len);
  return refilling;
};

/**
 * Hands back a WasmMessage that was given to the engine's `send` (empty
 * now) for reuse; when one is already kept, this one is freed.
 */
export function recycleMessage(message) {
  if (spareMessage === null) spareMessage = message;
  else message.free();
}

/** buildMessage(options()), like composeEncoded (into the spare WasmMessage, if any). */
export function buildEncoded(used, options) {
  if (used < 0) return buildMessage(options());
  const spare = spareMessage;
  if (spare === null) return withSpec(used, options, fromSpec, fromOptions);
  spareMessage = null;
  refilling = spare;
  let built = null;
  try {
    built = withSpec(used, options, refill, fromOptions);
    return built;
  } finally {
    refilling = null;
    // Not filled (the options went to fromOptions, or failed): still spare.
    if (built !== spare) recycleMessage(spare);
  }
}
