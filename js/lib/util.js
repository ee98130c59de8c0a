import * as wasm from '../wasm/mimeograph.js';
import { MimeographError, wrapWasm } from './errors.js';
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

/** A monotonic clock in whole milliseconds, the engine's `nowMs`. */
export function now() {
  return Math.floor(globalThis.performance ? performance.timeOrigin + performance.now() : Date.now());
}
