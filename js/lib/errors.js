// Error classes. Every error this package produces is an `Error` subclass with
// a `code`. Messages never contain passwords, tokens or message bodies.
import * as wasm from '../wasm/mimeograph.js';

/** emailjs's error states (the numeric `code` of an SMTPError). */
export const SMTPErrorStates = Object.freeze({
  COULDNOTCONNECT: 1,
  BADRESPONSE: 2,
  AUTHFAILED: 3,
  TIMEDOUT: 4,
  ERROR: 5,
  NOCONNECTION: 6,
  AUTHNOTSUPPORTED: 7,
  CONNECTIONCLOSED: 8,
  CONNECTIONENDED: 9,
  CONNECTIONAUTH: 10,
});

/** An SMTP-level error, as emailjs's: `code` (SMTPErrorStates), `smtp`, `previous`. */
export class SMTPError extends Error {
  constructor(message, code = SMTPErrorStates.ERROR, previous = null, smtp = null) {
    super(previous?.message ? `${message} (${previous.message})` : message);
    this.name = 'SMTPError';
    /** @type {number} */
    this.code = code;
    this.smtp = smtp ?? null;
    this.previous = previous ?? null;
  }

  /** emailjs's factory: `SMTPError.create(message, code, error?, smtp?)`. */
  static create(message, code, error, smtp) {
    return new SMTPError(message, code, error ?? null, smtp ?? null);
  }
}

/** Thrown by methods of emailjs's SMTPConnection that the transaction-level engine cannot do. */
export function notSupported(method, reason) {
  const err = new SMTPError(
    `SMTPConnection.${method}() is not supported by mimeograph: ${reason}`,
    SMTPErrorStates.ERROR,
  );
  err.notSupported = true;
  return err;
}

/**
 * A composition error (bad address, CR/LF in a header, missing sender, ...):
 * `code` is a string ("ADDRESS", "HEADER", "ENCODING", "MISSING_FROM",
 * "NO_RECIPIENTS", "COMPOSE", "INVALID_ARGUMENT", "ATTACHMENT", "SMTP"),
 * `field` the option at fault when known.
 */
export class MimeographError extends Error {
  constructor(message, code = 'COMPOSE', field = undefined) {
    super(message);
    this.name = 'MimeographError';
    this.code = code;
    if (field !== undefined && field !== null) this.field = field;
  }
}

/** Turns whatever the wasm bindings threw into a MimeographError (keeps code/field). */
export function fromWasmError(e) {
  if (e instanceof MimeographError) return e;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    const err = new MimeographError(String(e.message ?? e), e.code, e.field);
    return err;
  }
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
    // A Rust panic (a bug: no input should cause one). The panic hook kept
    // its message; report it instead of a bare "unreachable".
    let panic;
    try {
      panic = wasm.takePanicMessage();
    } catch {
      panic = undefined;
    }
    const err = new MimeographError(
      `internal error in the wasm core (a bug; please report it): ${panic ?? e.message}`,
      'INTERNAL',
    );
    err.cause = e;
    return err;
  }
  if (e instanceof Error) {
    // An unexpected TypeError (e.g. wasm-bindgen's own argument checks): keep it visible but typed.
    const err = new MimeographError(e.message, 'INTERNAL');
    err.cause = e;
    return err;
  }
  return new MimeographError(String(e), 'INTERNAL');
}

/** Calls fn, turning binding errors into MimeographError. */
export function wrapWasm(fn) {
  try {
    return fn();
  } catch (e) {
    throw fromWasmError(e);
  }
}

/** Maps the engine's SmtpErrorInfo to an SMTPError. */
export function fromEngineError(info, fallbackMessage = 'SMTP error') {
  if (!info) {
    return new SMTPError(fallbackMessage, SMTPErrorStates.CONNECTIONCLOSED);
  }
  const code = typeof info.emailjsCode === 'number' ? info.emailjsCode : SMTPErrorStates.ERROR;
  let message = info.message || fallbackMessage;
  if (/unencrypted/i.test(message)) {
    message += ' (set `ssl` or `tls` to encrypt; `allowInsecureAuth: true` allows it on a trusted network)';
  }
  const err = new SMTPError(message, code);
  err.smtp = info;
  err.kind = info.kind;
  err.smtpCode = info.smtpCode ?? null;
  err.enhancedCode = info.enhancedCode ?? null;
  err.command = info.command ?? null;
  err.retryable = Boolean(info.retryable);
  err.greylisted = Boolean(info.greylisted);
  if (info.recipients) err.recipients = info.recipients;
  return err;
}
