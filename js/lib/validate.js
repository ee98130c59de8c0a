// Argument checks for the JS-only entry points (options, helpers): a wrong
// type or an unusable value is a MimeographError with code
// "INVALID_ARGUMENT" and the option in `field`, thrown before anything is
// handed to the engine. Messages name the field and the kind of value,
// never the value itself (it may be a password).
import { MimeographError } from './errors.js';

/** `typeof`-like, for messages: "a number", "null", "an array", ... */
export function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  if (t === 'object') return 'an object';
  if (t === 'undefined') return 'undefined';
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

export function invalid(field, message) {
  return new MimeographError(message, 'INVALID_ARGUMENT', field);
}

/** True when `s` is well-formed UTF-16 (no lone surrogate). */
export function isWellFormed(s) {
  if (typeof s.isWellFormed === 'function') return s.isWellFormed();
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

const absent = (v) => v === undefined || v === null;

/**
 * A string option (undefined/null: absent). `name: true` also refuses an
 * empty string, whitespace and control characters (host names, EHLO names).
 */
export function optString(v, field, { name = false } = {}) {
  if (absent(v)) return undefined;
  if (typeof v !== 'string') throw invalid(field, `\`${field}\` must be a string, got ${typeName(v)}`);
  if (!isWellFormed(v)) throw invalid(field, `\`${field}\` contains a lone surrogate (invalid UTF-16)`);
  // eslint-disable-next-line no-control-regex
  if (name && (v.length === 0 || v.length > 255 || /[\s\u0000-\u001f\u007f]/.test(v))) {
    throw invalid(field, `\`${field}\` must be a host name: not empty, at most 255 characters, no spaces or control characters`);
  }
  return v;
}

export function optBool(v, field) {
  if (absent(v)) return undefined;
  if (typeof v !== 'boolean') throw invalid(field, `\`${field}\` must be a boolean, got ${typeName(v)}`);
  return v;
}

/** emailjs's `ssl` / `tls`: a boolean, or an object of socket options. */
export function optBoolOrObject(v, field) {
  if (absent(v)) return undefined;
  if (typeof v === 'boolean' || (typeof v === 'object' && !Array.isArray(v))) return v;
  throw invalid(field, `\`${field}\` must be a boolean or an object of TLS options, got ${typeName(v)}`);
}

export function optFunction(v, field) {
  if (absent(v)) return undefined;
  if (typeof v !== 'function') throw invalid(field, `\`${field}\` must be a function, got ${typeName(v)}`);
  return v;
}

/** A number in [min, max] (an integer when `integer`). */
export function optNumber(v, field, { min = -Infinity, max = Infinity, integer = false, what = 'a number' } = {}) {
  if (absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw invalid(field, `\`${field}\` must be ${what}, got ${typeof v === 'number' ? String(v) : typeName(v)}`);
  }
  return v;
}
