import * as wasm from '../wasm/mimeograph.js';
import { MimeographError, fromWasmError, wrapWasm } from './errors.js';
import { platform } from './platform.js';
import { buildEncoded, buildMessage, composeEncoded, concatBytes, encodeMessageSpec, toBytes, toMillis, wasmBytes } from './util.js';
import { isWellFormed, typeName } from './validate.js';

/** emailjs's MIMECHUNK: the length of an encoded body line. */
export const MIMECHUNK = 76;
/** emailjs's MIME64CHUNK: the bytes encoded per base64 step. */
export const MIME64CHUNK = MIMECHUNK * 6;
/** emailjs's BUFFERSIZE: the size of one 'data' event of a MessageStream. */
export const BUFFERSIZE = MIMECHUNK * 24 * 7;

const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
/** UTF-8 bytes → string, invalid sequences as U+FFFD (the platform's decoder when it has a faster one). */
/** The composed bytes (the last composition's output) as a string. */
const decodeUtf8 = (bytes) => (platform.decode ? platform.decode(bytes, wasm.composedIsAscii()) : utf8Decoder.decode(bytes));

/**
 * emailjs's `header` object: the header options, keys lower-cased, as own
 * properties. As emailjs's, it also answers `message-id` and `date` before
 * the message is sent: read before the first composition, `message-id`
 * composes the message (attachments left out) for its id, which is kept,
 * and `date` fixes the message's date (the time of that read) and shows it
 * as RFC 2822. Set (or given to the constructor), they are own properties
 * like any other header. (Getters on the prototype: a message whose id and
 * date nobody reads costs nothing more.)
 */
class MessageHeader {
  #message;

  constructor(message) {
    this.#message = message;
  }

  get 'message-id'() {
    this.#message._fixMessageId();
    return ownHeader(this, 'message-id');
  }

  set 'message-id'(value) {
    setOwnHeader(this, 'message-id', value);
  }

  get date() {
    return wrapWasm(() => wasm.getRFC2822Date(this.#message._dateMillis(), false));
  }

  set date(value) {
    setOwnHeader(this, 'date', value);
  }
}

/** `header[key]` when it is the header's own (set or given), else undefined (no getter runs). */
function ownHeader(header, key) {
  return Object.hasOwn(header, key) ? header[key] : undefined;
}

/** Sets `header[key]` as an own, enumerable property (past the prototype's setter). */
function setOwnHeader(header, key, value) {
  Object.defineProperty(header, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * An RFC 5322 message, built from emailjs's options (`from`, `to`, `cc`, `bcc`,
 * `subject`, `text`, `content-type`, `message-id`, `date`, `return-path`,
 * custom headers, `attachment`). All composition happens in the wasm core;
 * this class keeps the options. When the message is sent, attachments given
 * by `path` or `stream` are read a piece at a time as the SMTP connection
 * drains (never whole: a large file is sent with bounded memory); read(),
 * readAsync() and stream() read them fully into memory first.
 */
export class Message {
  constructor(headers = {}) {
    /** @type {Record<string, any>} emailjs's `header`: the header options, keys lower-cased (see MessageHeader). */
    this.header = new MessageHeader(this);
    /** @type {object[]} */
    this.attachments = [];
    /** @type {object | null} */
    this.alternative = null;
    /** How many attachments came before the alternative body (see allAttachments). */
    this._alternativeAt = 0;
    /** The text part's media type (emailjs's `content`), when overridden. */
    this.content = 'text/plain; charset=utf-8';
    this._contentSet = false;
    this.text = undefined;
    this._date = undefined;
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
      throw new MimeographError('Message options must be an object', 'INVALID_ARGUMENT', 'headers');
    }
    const keys = Object.keys(headers);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k];
      const value = headers[key];
      const lower = key.toLowerCase();
      // (`lower === 'content-type'` only for an ASCII key: no other character lower-cases to one of its letters.)
      if (lower === 'content-type') {
        this.content = value;
        this._contentSet = true;
      } else if (key === 'text') {
        this.text = value;
      } else if (key === 'attachment' && value && typeof value === 'object') {
        const list = Array.isArray(value) ? value : [value];
        list.forEach((att, i) => {
          if (!att || typeof att !== 'object') {
            const field = Array.isArray(value) ? `attachment[${i}]` : 'attachment';
            throw new MimeographError(`\`${field}\` must be an attachment object, got ${typeName(att)}`, 'INVALID_ARGUMENT', field);
          }
          this.attach(att);
        });
      } else {
        this.header[lower] = value;
      }
    }
  }

  /** emailjs's attach(options): adds an attachment (or the alternative body when `alternative: true`). */
  attach(options) {
    if (!options || typeof options !== 'object') {
      throw new MimeographError('attachment must be an object', 'INVALID_ARGUMENT', 'attachment');
    }
    if (options.alternative) {
      // As `{ ...options, alternative: true, charset, type, inline }`, which
      // V8 (Node 20) makes about 40 times slower (a new map per object).
      const alt = copyOwn(options);
      alt.alternative = true;
      alt.charset = options.charset || 'utf-8';
      alt.type = options.type || 'text/html';
      alt.inline = true;
      this.alternative = alt;
      // Where it was given among the attachments: errors name it, and the
      // attachments after it, by their index in the user's list.
      this._alternativeAt = this.attachments.length;
    } else {
      if (platform.watchReadStream) watchStreams(options);
      this.attachments.push(options);
    }
    return this;
  }

  /** emailjs's checkValidity(): `{ isValid, validationError }`, synchronous. */
  checkValidity() {
    const { error } = this._validity();
    return error ? { isValid: false, validationError: error.message } : { isValid: true, validationError: undefined };
  }

  /**
   * checkValidity's verdict as `{ error }`: a MimeographError naming the
   * field, or none. `keep`: a message without attachments keeps what the
   * check built, for `_takePrebuilt` in the same turn (see
   * `_releasePrebuilt`).
   */
  _validity(keep = false) {
    const h = this.header;
    if (!isAddr(h.from)) return invalidMessage('Message must have a `from` header', 'from');
    if (!isAddr(h.to) && !isAddr(h.cc) && !isAddr(h.bcc)) {
      return invalidMessage('Message must have at least one `to`, `cc`, or `bcc` header', 'to');
    }
    if (this.attachments.length) {
      const problem = this._attachmentProblem();
      if (problem) return problem;
    }
    // (The checks above are those of the bindings' checkValidity on
    // `_options(...)`, whose `from`/`to`/`cc`/`bcc` are this header's and
    // whose attachments all have data: it is not asked again.)
    try {
      // Stricter than emailjs: compose once (attachments empty) so that a bad
      // address or a CR/LF in a header is reported here, not at send time.
      // Without attachments, what is composed is the message itself: from
      // the header through the compact encoding, without an options object.
      const bare = this._isBare();
      const built = this._buildWithoutAttachments(bare);
      this._releasePrebuilt();
      if (keep && bare) this._prebuilt = built;
      else built.free();
    } catch (e) {
      const err = fromWasmError(e);
      return invalidMessage(err.message, err.field);
    }
    return VALID;
  }

  /** What is wrong with the attachments (`_validity`'s verdict), or null. */
  _attachmentProblem() {
    const failed = [];
    let field;
    const all = allAttachments(this);
    this.attachments.forEach((att) => {
      const where = `attachment[${all.indexOf(att)}]`;
      const before = failed.length;
      if (att.path) {
        if (!isPath(att.path)) failed.push(`${where}.path must be a string, a URL or bytes, got ${typeName(att.path)}`);
        else if (!platform.existsSync) failed.push('attachment `path` is only supported in Node; use `data` or `stream` (a Blob/File) in browsers');
        else if (!platform.existsSync(pathText(att.path))) failed.push(`${pathText(att.path)} does not exist`);
        if (failed.length > before) field ??= `${where}.path`;
      } else if (att.stream) {
        if (!isReadableSource(att.stream)) failed.push(streamProblem(att.stream));
        if (failed.length > before) field ??= `${where}.stream`;
      } else if (!att.data) {
        failed.push('attachment has no data associated with it');
        field ??= `${where}.data`;
      }
      if (att.related !== undefined && att.related !== null && !Array.isArray(att.related)) {
        failed.push(`${where}.related must be an array of attachments, got ${typeName(att.related)}`);
        field ??= `${where}.related`;
      }
    });
    return failed.length ? invalidMessage(failed.join(', '), field) : null;
  }

  /** The wasm message of a message without attachments (not `_compose`: the Message-ID header is left alone). */
  _buildBare() {
    const [used, options] = this._encode(NO_ATTACHMENTS);
    return buildEncoded(used, () => options ?? this._options(NO_ATTACHMENTS));
  }

  /** No alternative and no attachments: what is composed is the message itself. */
  _isBare() {
    return !this.alternative && this.attachments.length === 0;
  }

  /** The message composed with its attachments left out (placeholders), for checks and its id. */
  _buildWithoutAttachments(bare) {
    return bare ? this._buildBare() : buildMessage(this._options(placeholderAttachments(this)));
  }

  /**
   * What `_validity(true)` kept, for sending (then `_buildForSend`'s result
   * without its promise), or null.
   */
  _takePrebuilt() {
    const built = this._prebuilt;
    if (!built) return null;
    this._prebuilt = null;
    if (ownHeader(this.header, 'message-id') === undefined) setOwnHeader(this.header, 'message-id', `<${built.messageId()}>`);
    return built;
  }

  /**
   * `header['message-id']` read before the first composition: composes the
   * message now (attachments left out) and keeps its id. A message that
   * cannot be composed yet has none (undefined).
   */
  _fixMessageId() {
    if (ownHeader(this.header, 'message-id') !== undefined) return;
    let built;
    try {
      built = wrapWasm(() => this._buildWithoutAttachments(this._isBare()));
      setOwnHeader(this.header, 'message-id', `<${built.messageId()}>`);
    } catch {
      // Invalid for now (checkValidity says why): no id yet.
    } finally {
      built?.free();
    }
  }

  /** Frees what `_validity(true)` kept, if `_takePrebuilt` did not take it. */
  _releasePrebuilt() {
    this._prebuilt?.free();
    this._prebuilt = null;
  }

  /** emailjs's deprecated valid(callback(isValid, why)). */
  valid(callback) {
    const { isValid, validationError } = this.checkValidity();
    callback(isValid, validationError);
  }

  /** Builds the wasm message from resolved attachments (one use: the engine consumes it). */
  _compose(attachments) {
    const built = wrapWasm(() => {
      const [used, options] = this._encode(attachments);
      return buildEncoded(used, () => options ?? this._options(attachments));
    });
    if (ownHeader(this.header, 'message-id') === undefined) {
      // Keep the Message-ID stable across readAsync() and send().
      setOwnHeader(this.header, 'message-id', `<${built.messageId()}>`);
    }
    return built;
  }

  /**
   * Builds the wasm message for sending: `path` and `stream` attachments
   * become fed attachments, read later a piece at a time (files are opened
   * now, so a missing file fails here). Returns `{ built, bodies }`, where
   * `bodies[id]` is `{ feed, source, field }` for the feed `id`; the
   * connection pushes each source into its feed when the engine waits for it.
   */
  async _buildForSend() {
    const prebuilt = this._takePrebuilt();
    if (prebuilt) return { built: prebuilt, bodies: [] };
    const sources = [];
    try {
      const all = allAttachments(this);
      const attachments = await allOrFirstError(all.map((a, i) => resolveForSend(a, `attachment[${i}]`, sources)));
      const built = this._compose(attachments);
      const feeds = sources.length ? built.takeFeeds() : [];
      const bodies = sources.map((entry, id) => ({ source: entry.source, field: entry.field, feed: feeds[id] }));
      return { built, bodies };
    } catch (e) {
      await Promise.all(sources.map((s) => s.source.close().catch(() => {})));
      throw e;
    }
  }

  /** The options object the bindings take (emailjs names; dates as ms). */
  _options(attachments) {
    const out = {};
    const header = this.header;
    const keys = Object.keys(header);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const value = header[key];
      if (value === undefined || value === null) continue;
      if (key === 'date') continue;
      out[key] = value;
    }
    out.date = this._dateMillis();
    if (this.text !== undefined && this.text !== null) out.text = this.text;
    const contentType = this._contentType();
    if (contentType !== undefined) out['content-type'] = contentType;
    if (attachments.length) out.attachment = attachments;
    return out;
  }

  /** The `date` option: the header's (as ms), or the time of the first composition, kept. */
  _dateMillis() {
    const date = ownHeader(this.header, 'date');
    if (date !== undefined && date !== null) return toMillis(date);
    this._date ??= Date.now();
    return this._date;
  }

  /** The `content-type` option, or undefined for none. */
  _contentType() {
    // '' means none (emailjs); any other non-string is refused by the bindings.
    const c = this.content;
    return this._contentSet && c !== '' && c !== undefined && c !== null ? c : undefined;
  }

  /**
   * Writes the compact encoding of `_options(attachments)` into the wasm
   * memory without building that object: `[used, null]`; when it cannot
   * (util.js, encodeMessageSpec), `[-1, options]` with the object built here
   * (so that what reading the options throws is thrown here, as before).
   */
  _encode(attachments) {
    const used = encodeMessageSpec(this.header, this._dateMillis(), this.text, this._contentType(), attachments);
    return used >= 0 ? [used, null] : [-1, this._options(attachments)];
  }

  /**
   * Resolves attachments, then builds and renders the message in one wasm
   * call; `consume` gets a view of the bytes in the wasm memory and must
   * copy or decode them at once (the next wasm call may move them).
   */
  async _render(consume) {
    let all = NO_ATTACHMENTS;
    if (this.alternative || this.attachments.length) all = resolveAllSync(this) ?? (await resolveAll(this));
    const [used, options] = this._encode(all);
    return wrapWasm(() => {
      const len = composeEncoded(used, () => options ?? this._options(all));
      const out = consume(wasmBytes(wasm.composedPtr(), len));
      if (ownHeader(this.header, 'message-id') === undefined) {
        // Keep the Message-ID stable across readAsync() and send().
        setOwnHeader(this.header, 'message-id', `<${wasm.composedMessageId()}>`);
      }
      return out;
    });
  }

  /** The whole message as bytes (Uint8Array), after resolving attachments. */
  readBytesAsync() {
    return this._render(copyBytes);
  }

  /** emailjs's readAsync(): the whole message as a string. */
  readAsync() {
    return this._render(decodeUtf8);
  }

  /** emailjs's read(callback(err, string)). */
  read(callback) {
    this.readAsync().then(
      (text) => callback(null, text),
      (err) => callback(err, ''),
    );
  }

  /** emailjs's stream(): a Node-like readable emitting string chunks ('data', 'end', 'error'); also async-iterable. */
  stream() {
    return new MessageStream(this);
  }
}

/** A minimal Node-style readable of the rendered message (works in browsers too). */
export class MessageStream {
  constructor(message) {
    this.readable = true;
    this.paused = false;
    this._listeners = new Map();
    this._chunks = null;
    this._ended = false;
    this._error = null;
    this._started = false;
    /** The error went to the 'error' listeners of its time: later ones get it when they are added. */
    this._errorEmitted = false;
    this._promise = message.readAsync().then(
      (text) => {
        if (this._ended) return; // destroyed meanwhile
        this._chunks = [];
        for (let i = 0; i < text.length; i += BUFFERSIZE) this._chunks.push(text.slice(i, i + BUFFERSIZE));
        this._flow();
      },
      (err) => {
        if (this._ended) return;
        this._error = err;
        this.readable = false;
        queueMicrotask(() => {
          this._errorEmitted = true;
          this.emit('error', err);
        });
      },
    );
  }

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, []);
    this._listeners.get(event).push(fn);
    if (event === 'data') queueMicrotask(() => this._flow());
    // A stream that failed before this listener came: it hears why (else
    // it would wait for an 'error' or 'end' that never comes).
    if (event === 'error' && this._errorEmitted) {
      queueMicrotask(() => {
        if (this._listeners.get('error')?.includes(fn)) fn(this._error);
      });
    }
    return this;
  }

  addListener(event, fn) {
    return this.on(event, fn);
  }

  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn(...args);
    };
    return this.on(event, wrapper);
  }

  off(event, fn) {
    const list = this._listeners.get(event);
    if (list) this._listeners.set(event, list.filter((f) => f !== fn));
    return this;
  }

  removeListener(event, fn) {
    return this.off(event, fn);
  }

  emit(event, ...args) {
    const list = this._listeners.get(event);
    if (!list || !list.length) return false;
    for (const fn of [...list]) fn(...args);
    return true;
  }

  pause() {
    this.paused = true;
    this.emit('pause');
    return this;
  }

  resume() {
    this.paused = false;
    this.emit('resume');
    queueMicrotask(() => this._flow());
    return this;
  }

  /**
   * emailjs's destroy(): stops the stream. Once data went out, listeners
   * get an 'error' (the message was cut short), else an 'end'; then 'close'.
   */
  destroy() {
    if (this._ended || this._error) return;
    const started = this._started === true;
    this._ended = true;
    this.readable = false;
    this._chunks = [];
    if (started) this.emit('error', new Error('message stream destroyed'));
    else this.emit('end');
    this.emit('close');
  }

  /** emailjs's destroySoon(): ends the stream ('end', then 'close') without the rest of the message. */
  destroySoon() {
    if (this._ended || this._error) return;
    this._ended = true;
    this.readable = false;
    this._chunks = [];
    this.emit('end');
    this.emit('close');
  }

  _flow() {
    if (!this._chunks || this._ended) return;
    if (!this._listeners.get('data')?.length) return;
    while (!this.paused && this._chunks.length) {
      this._started = true;
      this.emit('data', this._chunks.shift());
    }
    if (!this.paused && !this._chunks.length && !this._ended) {
      this._ended = true;
      this.readable = false;
      this.emit('end');
      this.emit('close');
    }
  }

  /** Writes every chunk to `dest` (anything with write/end) and ends it. */
  pipe(dest, { end = true } = {}) {
    this.on('data', (chunk) => {
      if (dest.write(chunk) === false && typeof dest.once === 'function') {
        this.pause();
        dest.once('drain', () => this.resume());
      }
    });
    if (end) this.on('end', () => dest.end());
    return dest;
  }

  async *[Symbol.asyncIterator]() {
    await this._promise;
    if (this._error) throw this._error;
    this._ended = true;
    this.readable = false;
    while (this._chunks.length) yield this._chunks.shift();
  }
}

/** `{ ...o }`: the own enumerable properties of `o`, in order, in a new plain object. */
function copyOwn(o) {
  const out = {};
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    // (Assigning '__proto__' would set the prototype: it is defined instead, as a spread does.)
    if (k === '__proto__') Object.defineProperty(out, k, { value: o[k], enumerable: true, writable: true, configurable: true });
    else out[k] = o[k];
  }
  const symbols = Object.getOwnPropertySymbols(o);
  for (let i = 0; i < symbols.length; i++) {
    if (Object.prototype.propertyIsEnumerable.call(o, symbols[i])) out[symbols[i]] = o[symbols[i]];
  }
  return out;
}

/** An attachment `path`: a string, a file: URL or bytes (as Node's fs takes). */
function isPath(p) {
  return typeof p === 'string' || p instanceof Uint8Array || (typeof URL !== 'undefined' && p instanceof URL);
}

function pathText(p) {
  if (typeof p === 'string') return p;
  if (typeof URL !== 'undefined' && p instanceof URL) return decodeURIComponent(p.pathname);
  return new TextDecoder().decode(p);
}

function isReadableSource(s) {
  if (!s) return false;
  if (typeof Blob !== 'undefined' && s instanceof Blob) return true;
  if (alreadyRead(s)) return false;
  if (typeof s.getReader === 'function') return !s.locked;
  if (typeof s[Symbol.asyncIterator] === 'function') return s.readable !== false;
  return false;
}

/**
 * The streams and iterables the package has started reading (a send, or
 * read()/readAsync()/stream()). One read to its end leaves an unlocked,
 * closed web stream or a finished generator that would read as empty: a
 * second use is refused rather than send an empty attachment.
 */
const startedSources = new WeakSet();

const ALREADY_READ = 'attachment stream was already read (a stream can be read once)';

/** Why `isReadableSource(s)` is false. */
function streamProblem(s) {
  return s && typeof s === 'object' && alreadyRead(s) ? ALREADY_READ : 'attachment stream is not readable';
}

/** Read before: by the package, or (a Node Readable) by anyone, or ended or destroyed. */
function alreadyRead(s) {
  if (startedSources.has(s)) return true;
  return typeof s.readableDidRead === 'boolean' && (s.readableDidRead || s.readableEnded || s.destroyed);
}

/**
 * Whether `s` can be read only once: a web stream, a Node Readable, an
 * iterator (a generator). Blobs and iterables that make a new iterator per
 * read (no `next` of their own) can be read again.
 */
function singleUse(s) {
  if (typeof Blob !== 'undefined' && s instanceof Blob) return false;
  return typeof s.getReader === 'function' || typeof s.readableDidRead === 'boolean' || typeof s.next === 'function';
}

/** Marks a single-use `s` as being read; throws if it was read before. */
function claimSource(s, field) {
  if (!singleUse(s)) return;
  if (alreadyRead(s)) throw new MimeographError(ALREADY_READ, 'ATTACHMENT', field);
  startedSources.add(s);
}

/**
 * UTF-8 bytes of the strings a stream yields, one chunk at a time: a
 * surrogate pair split between two chunks is joined, and a lone surrogate
 * (invalid UTF-16; TextEncoder would make it U+FFFD) is an error.
 */
function textChunks(field) {
  const encoder = new TextEncoder();
  let pending = '';
  const bad = () =>
    new MimeographError(`\`${field}\` yielded a string with a lone surrogate (invalid UTF-16)`, 'ATTACHMENT', field);
  return {
    encode(chunk) {
      let text = pending + chunk;
      pending = '';
      const last = text.charCodeAt(text.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        pending = text.slice(-1);
        text = text.slice(0, -1);
      }
      if (!isWellFormed(text)) throw bad();
      return encoder.encode(text);
    },
    end() {
      if (pending) throw bad();
    },
  };
}

function placeholderAttachments(message) {
  const all = allAttachments(message);
  const strip = (att) => {
    // Not an object: handed over as it is, for the bindings to refuse by name.
    if (att === null || typeof att !== 'object') return att;
    const out = copyAttachmentFields(att);
    // path/stream contents are not read here (checkValidity is synchronous): a one-byte stand-in
    out.data = typeof att.data === 'string' && att.data ? att.data : new Uint8Array(1);
    if (Array.isArray(att.related)) out.related = att.related.map(strip);
    return out;
  };
  return all.map(strip);
}

function copyAttachmentFields(att) {
  const out = {};
  const keys = Object.keys(att);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const v = att[k];
    if (k === 'path' || k === 'stream' || k === 'data' || k === 'related') continue;
    if (v === undefined || v === null) continue;
    if (k === 'alternative') out.alternative = Boolean(v);
    else out[k] = v;
  }
  return out;
}

/** `platform.watchReadStream` for an attachment's stream and those of its `related` parts. */
function watchStreams(att) {
  if (att.stream && typeof att.stream === 'object') platform.watchReadStream(att.stream);
  if (Array.isArray(att.related)) for (const r of att.related) if (r && typeof r === 'object') watchStreams(r);
}

/** Bytes read from a file or a stream per push into the wasm feed. */
const READ_SIZE = 256 * 1024;

/**
 * Like resolveAttachment, but a `path` or `stream` (not `encoded`) becomes
 * `{ feed: id, size? }` and its source is appended to `sources` (its index is
 * the feed id).
 */
async function resolveForSend(att, where, sources) {
  if (att === null || typeof att !== 'object') return resolveAttachment(att, where);
  if ((att.data !== undefined && att.data !== null) || att.encoded || (!att.path && !att.stream)) {
    if (!Array.isArray(att.related)) return resolveAttachment(att, where);
    const out = await resolveAttachment({ ...att, related: undefined }, where);
    out.related = await allOrFirstError(att.related.map((r, i) => resolveForSend(r, `${where}.related[${i}]`, sources)));
    return out;
  }
  const out = copyAttachmentFields(att);
  let source;
  let field;
  if (att.path) {
    field = `${where}.path`;
    if (!isPath(att.path)) {
      throw new MimeographError(`\`${field}\` must be a string, a URL or bytes, got ${typeName(att.path)}`, 'INVALID_ARGUMENT', field);
    }
    if (!platform.openFile) {
      throw new MimeographError(
        'attachment `path` is only supported in Node; in a browser pass a Blob/File as `stream` or bytes as `data`',
        'ATTACHMENT',
        field,
      );
    }
    const path = pathText(att.path);
    try {
      source = fileSource(await platform.openFile(path));
    } catch (e) {
      throw openError(JSON.stringify(path.slice(0, 200)), field, e);
    }
    if (out.name === undefined) out.name = path.split(/[\\/]/).pop();
  } else {
    field = `${where}.stream`;
    // (a file stream first: one that failed to open is not readable, and
    // its error says why)
    let file = null;
    try {
      file = (await platform.openReadStream?.(att.stream)) ?? null;
    } catch (e) {
      throw openError('stream', field, e);
    }
    if (!file && !isReadableSource(att.stream)) throw new MimeographError(streamProblem(att.stream), 'ATTACHMENT', field);
    source = file ? fileSource(file, false) : streamSource(att.stream, field);
    if (out.name === undefined && typeof att.stream.name === 'string' && att.stream.name) out.name = att.stream.name;
    if (out.type === undefined && typeof att.stream.type === 'string' && att.stream.type) out.type = att.stream.type;
  }
  out.feed = sources.length;
  if (source.size !== undefined) out.size = source.size;
  sources.push({ source, field });
  if (Array.isArray(att.related)) {
    out.related = await allOrFirstError(att.related.map((r, i) => resolveForSend(r, `${where}.related[${i}]`, sources)));
  } else if (att.related !== undefined && att.related !== null) {
    throw new MimeographError(`\`${where}.related\` must be an array of attachments, got ${typeName(att.related)}`, 'INVALID_ARGUMENT', `${where}.related`);
  }
  return out;
}

/**
 * Promise.all that waits for every promise before it rejects with the first
 * error: the attachments still opening when another fails have pushed their
 * sources by then, so the caller closes them all (with Promise.all, a file
 * that finished opening after the failure stayed open until GC).
 */
async function allOrFirstError(promises) {
  const settled = await Promise.allSettled(promises);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => r.value);
}

/**
 * A pull source over an open file (`platform.openFile`, or a file stream
 * taken over by `platform.openReadStream`, which cannot be read again:
 * `restartable` false): `next()` reads the next piece into one reused buffer
 * (the feed copies it at once), `close()` closes the file.
 */
function fileSource(file, restartable = true) {
  const buf = new Uint8Array(READ_SIZE);
  let closed = false;
  return {
    size: file.size,
    restartable,
    consumed: false,
    async next() {
      this.consumed = true;
      const n = await file.read(buf);
      return n > 0 ? buf.subarray(0, n) : null;
    },
    async close() {
      if (closed) return;
      closed = true;
      await file.close();
    },
  };
}

/**
 * A pull source over a Blob/File, a web ReadableStream or an async iterable
 * (a Node Readable): `next()` gives the next non-empty chunk as bytes, or
 * null at the end; `close()` cancels what was not read to the end. The
 * reader or iterator is made at the first `next()`, so a source never read
 * (its message failed before its body was sent) is left untouched.
 */
function streamSource(stream, field) {
  const isBlob = typeof Blob !== 'undefined' && stream instanceof Blob;
  let reader = null;
  let iterator = null;
  let done = false;
  const text = textChunks(field);
  const open = () => {
    if (reader || iterator) return;
    claimSource(stream, field);
    if (isBlob) reader = stream.stream().getReader();
    else if (typeof stream.getReader === 'function') reader = stream.getReader();
    else iterator = stream[Symbol.asyncIterator]();
  };
  return {
    size: isBlob ? stream.size : undefined,
    restartable: isBlob,
    consumed: false,
    async next() {
      this.consumed = true;
      open();
      for (;;) {
        const { done: end, value } = reader ? await reader.read() : await iterator.next();
        if (end) {
          done = true;
          text.end();
          return null;
        }
        const bytes = typeof value === 'string' ? text.encode(value) : toBytes(value, field);
        if (bytes.byteLength) return bytes;
      }
    },
    async close() {
      if (!reader && !iterator) return;
      if (done) {
        reader?.releaseLock?.();
        return;
      }
      done = true;
      // A read may still be pending (a stream that stalled): an async
      // iterator's return() waits for it, forever if nothing comes, while a
      // Node Readable's destroy() ends it (a reader's cancel() does too).
      if (iterator && typeof stream.destroy === 'function') stream.destroy();
      try {
        if (reader) await reader.cancel();
        else await iterator.return?.();
      } catch {
        /* already errored */
      }
    },
  };
}

const NO_ATTACHMENTS = Object.freeze([]);

/** `_validity`'s verdict for a valid message. */
const VALID = Object.freeze({ error: null });

/** An address option as emailjs takes it: a string or an array. */
function isAddr(v) {
  return typeof v === 'string' || Array.isArray(v);
}

/** `_validity`'s verdict for an invalid message. */
function invalidMessage(message, field) {
  return { error: new MimeographError(message, 'INVALID_MESSAGE', field) };
}

/** An attachment that could not be opened or read (`shown`: its path, or "stream"), with `e` as the cause. */
function openError(shown, field, e) {
  const err = new MimeographError(`cannot read attachment ${shown} (${field}): ${e.code ?? e.message}`, 'ATTACHMENT', field);
  err.cause = e;
  return err;
}

/** A copy of the composed bytes, a plain Uint8Array (`platform.copyBytes` where the host has a faster one). */
const copyBytes = (view) => (platform.copyBytes === null ? view.slice() : platform.copyBytes(view));

/**
 * resolveAll without waiting, when every attachment (and related part) has
 * its `data` at hand (a string or bytes, not a Blob, no `path` or `stream`);
 * null otherwise. Gives what resolveAll gives, and throws what it rejects with.
 */
function resolveAllSync(message) {
  const list = allAttachments(message);
  const out = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const r = resolveAttachmentSync(list[i], `attachment[${i}]`);
    if (r === null) return null;
    out[i] = r;
  }
  return out;
}

/**
 * The attachments and the alternative body in the order they were given
 * (`attachment: [...]` or attach() calls): the index of each is the one
 * errors name (`attachment[1].path`). A new array.
 */
function allAttachments(message) {
  const list = message.attachments;
  const alt = message.alternative;
  if (!alt) return list.slice();
  const at = Math.min(message._alternativeAt, list.length);
  return [...list.slice(0, at), alt, ...list.slice(at)];
}

/** resolveAttachment for an attachment that needs no waiting, else null (resolveAttachment then does it all). */
function resolveAttachmentSync(att, where) {
  if (att === null || typeof att !== 'object') return null;
  const data = att.data;
  const hasData = data !== undefined && data !== null;
  if (hasData ? typeof Blob !== 'undefined' && data instanceof Blob : att.path || att.stream) return null;
  const out = copyAttachmentFields(att);
  if (hasData) out.data = typeof data === 'string' ? data : toBytes(data, `${where}.data`);
  const related = att.related;
  if (Array.isArray(related)) {
    const parts = new Array(related.length);
    for (let i = 0; i < related.length; i++) {
      const r = resolveAttachmentSync(related[i], `${where}.related[${i}]`);
      if (r === null) return null;
      parts[i] = r;
    }
    out.related = parts;
  } else if (related !== undefined && related !== null) {
    return null;
  }
  return out;
}

async function resolveAll(message) {
  const all = allAttachments(message);
  return Promise.all(all.map((a, i) => resolveAttachment(a, `attachment[${i}]`)));
}

async function resolveAttachment(att, where) {
  if (att === null || typeof att !== 'object') {
    throw new MimeographError(`\`${where}\` must be an attachment object, got ${typeName(att)}`, 'INVALID_ARGUMENT', where);
  }
  const out = copyAttachmentFields(att);
  if (att.data !== undefined && att.data !== null) {
    if (typeof att.data === 'string') out.data = att.data;
    else if (typeof Blob !== 'undefined' && att.data instanceof Blob) out.data = new Uint8Array(await att.data.arrayBuffer());
    else out.data = toBytes(att.data, `${where}.data`);
  } else if (att.path) {
    if (!isPath(att.path)) {
      throw new MimeographError(`\`${where}.path\` must be a string, a URL or bytes, got ${typeName(att.path)}`, 'INVALID_ARGUMENT', `${where}.path`);
    }
    if (!platform.readFile) {
      throw new MimeographError(
        'attachment `path` is only supported in Node; in a browser pass a Blob/File as `stream` or bytes as `data`',
        'ATTACHMENT',
        `${where}.path`,
      );
    }
    let bytes;
    try {
      bytes = await platform.readFile(pathText(att.path));
    } catch (e) {
      throw openError(JSON.stringify(pathText(att.path).slice(0, 200)), `${where}.path`, e);
    }
    out.data = att.encoded ? new TextDecoder('latin1').decode(bytes) : bytes;
    if (out.name === undefined) out.name = pathText(att.path).split(/[\\/]/).pop();
  } else if (att.stream) {
    const bytes = await readSource(att.stream, `${where}.stream`);
    out.data = att.encoded ? new TextDecoder('latin1').decode(bytes) : bytes;
    if (out.name === undefined && typeof att.stream.name === 'string' && att.stream.name) out.name = att.stream.name;
    if (out.type === undefined && typeof att.stream.type === 'string' && att.stream.type) out.type = att.stream.type;
  }
  if (Array.isArray(att.related)) {
    out.related = await Promise.all(att.related.map((r, i) => resolveAttachment(r, `${where}.related[${i}]`)));
  } else if (att.related !== undefined && att.related !== null) {
    throw new MimeographError(`\`${where}.related\` must be an array of attachments, got ${typeName(att.related)}`, 'INVALID_ARGUMENT', `${where}.related`);
  }
  return out;
}

/** Reads a Blob/File, a web ReadableStream or a Node Readable (any async iterable) fully into bytes. */
async function readSource(source, field) {
  try {
    if (typeof Blob !== 'undefined' && source instanceof Blob) {
      return new Uint8Array(await source.arrayBuffer());
    }
    const chunks = [];
    const text = textChunks(field);
    const push = (c) => chunks.push(typeof c === 'string' ? text.encode(c) : toBytes(c, field));
    claimSource(source, field);
    if (typeof source.getReader === 'function') {
      const reader = source.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        push(value);
      }
      reader.releaseLock?.();
    } else if (typeof source[Symbol.asyncIterator] === 'function') {
      for await (const c of source) push(c);
    } else {
      throw new MimeographError('attachment stream is not readable', 'ATTACHMENT', field);
    }
    text.end();
    return concatBytes(chunks);
  } catch (e) {
    if (e instanceof MimeographError) throw e;
    const err = new MimeographError(`cannot read attachment stream: ${e.message}`, 'ATTACHMENT', field);
    err.cause = e;
    throw err;
  }
}
