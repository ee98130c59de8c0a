import * as wasm from '../wasm/mimeograph.js';
import { MimeographError, SMTPError, SMTPErrorStates, fromEngineError, fromWasmError, notSupported, wrapWasm } from './errors.js';
import { Emitter } from './emitter.js';
import { platform } from './platform.js';
import { WebSocketTransport, privateBridgeHop, redactUrl } from './transports/websocket.js';
import { now, recycleMessage, wasmBytes, wasmF64 } from './util.js';
import { invalid, isWellFormed, optBool, optBoolOrObject, optFunction, optNumber, optString, typeName } from './validate.js';

/** emailjs's AUTH_METHODS. */
export const AUTH_METHODS = Object.freeze({
  PLAIN: 'PLAIN',
  'CRAM-MD5': 'CRAM-MD5',
  LOGIN: 'LOGIN',
  XOAUTH2: 'XOAUTH2',
});

/** emailjs's SMTPState. */
export const SMTPState = Object.freeze({ NOTCONNECTED: 0, CONNECTING: 1, CONNECTED: 2 });

export const DEFAULT_TIMEOUT = 5000;

/** Size of one output buffer (a message body goes out in pieces of this size). */
const OUT_BUFFER = 128 * 1024;
/** Output buffers kept for reuse. */
const OUT_POOL = 2;
/** The engine's input buffer is made at least this large (a reply, a read from the socket). */
const INPUT_BUFFER = 4096;
/** Bytes of a fed attachment read ahead per engine turn. */
const FEED_BATCH = 64 * 1024;

const SMTP_PORT = 25;
const SMTP_SSL_PORT = 465;
const SMTP_TLS_PORT = 587;

export const STARTTLS_THROUGH_BRIDGE =
  'STARTTLS cannot run through a WebSocket bridge in this version: the bridge only forwards bytes, ' +
  'so the TLS session would have to run in this page. Options: (1) connect to the server\'s implicit-TLS ' +
  'port (usually 465) with `ssl: true` and start websockify with TLS to the target ' +
  '(`websockify --ssl-target PORT smtp.example.com:465`), so the bridge makes and verifies the TLS connection; ' +
  '(2) in Node, leave out `bridge` to connect directly, with STARTTLS; ' +
  '(3) set `tls: false` only if the server accepts mail without STARTTLS and the path is trusted.';

/**
 * emailjs's low-level SMTPConnection, over mimeograph's engine. The engine
 * does the whole opening (greeting, EHLO/HELO, STARTTLS, AUTH) inside
 * connect(); after it, the low-level commands mail, rcpt, data, message,
 * data_end, rset, help, verify and expn go through the engine's low-level
 * API (one command at a time, addresses and parameters checked, message()
 * content CRLF-normalised and dot-stuffed, RFC 5321 deadlines), with
 * emailjs's callback contract. helo, send, command and parse_smtp_features
 * throw an SMTPError with `notSupported: true` explaining why.
 */
export class SMTPConnection extends Emitter {
  constructor(options = {}) {
    super();
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw invalid('options', `SMTPConnection options must be an object, got ${typeName(options)}`);
    }
    const {
      timeout,
      host,
      user,
      password,
      domain,
      port,
      ssl,
      tls,
      logger,
      authentication,
      bridge,
      xoauth2,
      allowInsecureAuth,
      requireAllRecipients,
    } = options;
    // Every option is checked here: a wrong type is an error now, never a
    // silent default (`ssl: 'yes'` must not mean "no TLS").
    this.timeout = optNumber(timeout, 'timeout', { min: 1, max: 2 ** 31 - 1, what: 'a positive number of ms' }) ?? DEFAULT_TIMEOUT;
    this.host = optString(host, 'host', { name: true }) ?? 'localhost';
    this.domain = optString(domain, 'domain', { name: true }) ?? platform.hostname();
    this.ssl = optBoolOrObject(ssl, 'ssl') ?? false;
    this.tls = optBoolOrObject(tls, 'tls') ?? false;
    // emailjs: a port of 0 (or none) is the default for the connection kind.
    this.port = optNumber(port, 'port', { min: 0, max: 65535, integer: true, what: 'a port number (1 to 65535)' }) ||
      (this.ssl ? SMTP_SSL_PORT : this.tls ? SMTP_TLS_PORT : SMTP_PORT);
    if (authentication !== undefined && authentication !== null) {
      if (!Array.isArray(authentication) || authentication.length === 0) {
        throw invalid('authentication', `\`authentication\` must be a non-empty array of mechanism names, got ${typeName(authentication)}`);
      }
      authentication.forEach((m, i) => {
        if (typeof m !== 'string' || !Object.hasOwn(AUTH_METHODS, m.toUpperCase())) {
          throw invalid(`authentication[${i}]`, `\`authentication[${i}]\` must be one of ${Object.keys(AUTH_METHODS).join(', ')}`);
        }
      });
    }
    this.authentication = authentication
      ? authentication.map((m) => m.toUpperCase())
      : [AUTH_METHODS['CRAM-MD5'], AUTH_METHODS.LOGIN, AUTH_METHODS.PLAIN, AUTH_METHODS.XOAUTH2];
    if (bridge !== undefined && bridge !== null) {
      if (typeof bridge !== 'string' || !isWellFormed(bridge) || !/^wss?:\/\/[^\s]+$/i.test(bridge)) {
        throw invalid('bridge', '`bridge` must be a ws:// or wss:// URL of a websockify bridge');
      }
    }
    this.bridge = bridge ?? null;
    this.allowInsecureAuth = optBool(allowInsecureAuth, 'allowInsecureAuth') ?? false;
    // emailjs: a message goes to every recipient or to no one (a refused
    // RCPT fails it). With several recipients the data then waits for the
    // RCPT replies; `false` sends to the accepted ones in the same flight
    // (`message.sent.recipients` says who was refused).
    this.requireAllRecipients = optBool(requireAllRecipients, 'requireAllRecipients') ?? true;
    // A control character in the user name, NUL or 0x01 in a secret would
    // change the meaning of AUTH PLAIN / XOAUTH2 (the engine refuses them too).
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(optString(user, 'user') ?? '')) {
      throw invalid('user', '`user` must not contain CR, LF, NUL or other control characters');
    }
    for (const [value, field] of [[password, 'password'], [xoauth2, 'xoauth2']]) {
      if (/[\u0000\u0001]/.test(optString(value, field) ?? '')) {
        throw invalid(field, `\`${field}\` must not contain NUL or 0x01`);
      }
    }
    if (!user && (password?.length ?? 0) > 0) {
      throw invalid('password', '`password` cannot be set without `user`');
    }
    // Kept behind functions so that logging the object shows no secret (as emailjs).
    this.user = () => user;
    this.password = () => password;
    this._xoauth2 = () => xoauth2;
    this.loggedin = !(user && (password || xoauth2));
    this._logger = optFunction(logger, 'logger') ?? null;
    this._debug = 0;
    this.features = null;
    this._state = SMTPState.NOTCONNECTED;
    this._secure = false;
    this._engine = null;
    /** QUIT was asked on this connection (it takes no more messages). */
    this._quitRequested = false;
    /** Between a low-level data()'s 354 and data_end() (see quit()). */
    this._inContent = false;
    /** The engine's state block (see `_stateOf`), and the engine it is of. */
    this._stepState = null;
    this._stateEngine = null;
    /** The engine's input buffer (`_inputAt`): where, its size, and the engine it is of. */
    this._inputPtr = 0;
    this._inputCap = 0;
    this._inputEngine = null;
    this._transport = null;
    this._timer = null;
    this._timerRef = false;
    this._deadline = null;
    /** The last `step` said the body waits for a fed attachment. */
    this._bodyPending = false;
    this._pumping = false;
    this._pumpAgain = false;
    this._fatal = null;
    this._connectCallbacks = [];
    this._noopCallbacks = [];
    this._replyCallbacks = [];
    this._quitCallbacks = [];
    this._sends = new Map();
    /** How many messages were queued on the current engine (a later one goes over a reused connection). */
    this._offered = 0;
    /** Fed attachments of the messages queued on the engine, by message id. */
    this._bodies = new Map();
    /**
     * No more pollTransmit until the transport drains (its write returned
     * false) or one of the output buffers is written (all were in flight).
     */
    this._writeBlocked = false;
    /** When the writes last blocked (ms), and the timer that bounds the wait by `timeout`. */
    this._blockedSince = 0;
    this._writeTimer = null;
    /** The output buffers of the current transport: `free` ones, how many are being written. */
    this._out = null;
    this._greeting = null;
  }

  debug(level) {
    this._debug = level ? 1 : 0;
  }

  state() {
    return this._state;
  }

  authorized() {
    return this.loggedin;
  }

  /** emailjs's has_extn: whether the server advertised the extension. */
  has_extn(opt) {
    return this.features != null && this.features[String(opt).toLowerCase()] !== undefined;
  }

  /**
   * Connects and performs the whole opening: greeting, EHLO (HELO fallback),
   * STARTTLS when `tls` is set, AUTH when credentials are set. Calls back
   * `(null, greeting)` once the connection is ready for mail, or `(err)`.
   */
  connect(callback, port = this.port, host = this.host, options = {}) {
    try {
      port = optNumber(port, 'port', { min: 1, max: 65535, integer: true, what: 'a port number (1 to 65535)' }) ?? this.port;
      host = optString(host, 'host', { name: true }) ?? this.host;
      optBool(options?.ssl, 'options.ssl');
    } catch (e) {
      deliver(callback, e);
      return;
    }
    this.port = port;
    this.host = host;
    this.ssl = options?.ssl || this.ssl;
    if (this._state !== SMTPState.NOTCONNECTED) {
      this.close(true);
      if (this._state === SMTPState.CONNECTING) {
        // A 'close' listener connected again meanwhile: wait for that one.
        this._connectCallbacks.push(callback);
        return;
      }
    }
    this._state = SMTPState.CONNECTING;
    this._fatal = null;
    this._greeting = null;
    this._connectCallbacks.push(callback);

    if (this.bridge && this.tls) {
      this._abortConnect(new SMTPError(STARTTLS_THROUGH_BRIDGE, SMTPErrorStates.CONNECTIONAUTH));
      return;
    }
    let transport;
    try {
      transport = this._makeTransport();
    } catch (e) {
      this._abortConnect(e instanceof SMTPError ? e : SMTPError.create('could not connect', SMTPErrorStates.COULDNOTCONNECT, e));
      return;
    }
    const config = {
      domain: this.domain,
      tls: this.bridge ? 'never' : this.tls ? 'required' : 'never',
      authentication: this.authentication,
      allowInsecureAuth: this.allowInsecureAuth,
      requireAllRecipients: this.requireAllRecipients,
      timeout: this.timeout,
      transcript: Boolean(this._logger || this._debug),
    };
    const user = this.user();
    const password = this.password();
    const xoauth2 = this._xoauth2();
    // emailjs: a user without a password (or token) means no AUTH.
    if (user && (password || xoauth2)) config.user = user;
    if (user && password) config.password = password;
    if (xoauth2) config.xoauth2 = xoauth2;
    let engine;
    try {
      engine = wrapWasm(() => new wasm.WasmSmtpClient(config, this._encrypted(), now()));
    } catch (e) {
      this._abortConnect(SMTPError.create('invalid SMTP options', SMTPErrorStates.ERROR, e));
      return;
    }
    this._engine = engine;
    this._offered = 0;
    this._transport = transport;
    this._clearWriteTimer();
    this._out = { free: [], inFlight: 0, waiting: false };
    this._log(`connecting: ${this.bridge ? `bridge ${redactUrl(this.bridge)}` : `${this.host}:${this.port}`}`);
    // `bytes` may be a view of a buffer the transport reuses for its next
    // read (the Node transport's plain connections): use it synchronously
    // (the engine copies it) and keep no reference.
    transport.onData = (bytes) => {
      if (this._transport !== transport || !this._engine) return;
      this._pump(bytes);
    };
    transport.onDrain = () => {
      // Node emits 'drain' just before the callbacks of the writes it
      // finished: go on after them, so that their buffers are free again.
      queueMicrotask(() => {
        if (this._transport !== transport || !this._writeBlocked || this._out?.waiting) return;
        this._unblock();
        this._pump();
      });
    };
    transport.onClose = (error) => {
      if (this._transport !== transport) return;
      if (error && !this._fatal) this._transportError = error;
      if (this._engine) {
        this._call(() => this._engine.connectionClosed(now()));
        this._pump();
      }
    };
    this._arm();
    transport.open().then(
      () => {
        if (this._transport !== transport) return;
        this._log('connected');
        this._pump();
      },
      (err) => {
        if (this._transport !== transport) return;
        this._fatal = isCertificateError(err)
          ? SMTPError.create('could not establish an ssl connection', SMTPErrorStates.CONNECTIONAUTH, err)
          : SMTPError.create('could not connect', SMTPErrorStates.COULDNOTCONNECT, err);
        if (this._engine) {
          this._call(() => this._engine.connectionClosed(now()));
          this._pump();
        }
      },
    );
  }

  _makeTransport() {
    if (this.bridge) {
      return new LazyWebSocketTransport(this.bridge, this._encrypted());
    }
    if (!platform.directTransport) {
      throw new SMTPError(
        'a browser cannot open TCP connections: set `bridge: "wss://…"` to a websockify bridge in front of the SMTP server',
        SMTPErrorStates.COULDNOTCONNECT,
      );
    }
    return platform.directTransport({ host: this.host, port: this.port, ssl: this.ssl, tls: this.tls });
  }

  /**
   * Whether the session starts encrypted: implicit TLS (`ssl`), and through
   * a bridge only when the hop to the bridge is private too (`wss://` or
   * this machine): else AUTH needs `allowInsecureAuth`, as on any
   * unencrypted link.
   */
  _encrypted() {
    return Boolean(this.ssl) && (!this.bridge || privateBridgeHop(this.bridge));
  }

  _abortConnect(err) {
    this._state = SMTPState.NOTCONNECTED;
    const cbs = this._connectCallbacks.splice(0);
    for (const cb of cbs) deliver(cb, err);
  }

  /** Runs the engine and maps a thrown binding error to an SMTPError. */
  _call(fn) {
    try {
      return fn();
    } catch (e) {
      const err = SMTPError.create('SMTP engine error', SMTPErrorStates.ERROR, e);
      this._fatal ??= err;
      return undefined;
    }
  }

  /**
   * Runs the engine: feeds `input` (bytes from the server, if any), writes
   * what it has to send and handles its events, with one `step` call per
   * flight (bytes, events and flags come back together; events as one JSON
   * text).
   */
  _pump(input) {
    if (this._pumping) {
      // Re-entered (from a handler): feed now, run once more after this turn.
      if (input) this._call(() => this._engine?.receive(input, now()));
      this._pumpAgain = true;
      return;
    }
    this._pumping = true;
    // The deadline after the last step, and its engine: every call into the
    // engine in here is followed by a step (a re-entered _pump runs the loop
    // again), so it is the engine's deadline when the loop ends.
    let deadline = null;
    let stepped = null;
    try {
      do {
        this._pumpAgain = false;
        const engine = this._engine;
        if (!engine) break;
        // Backpressure: stop pulling bytes (and so the message body) from
        // the engine while the transport's buffer is full; its drain resumes
        // (a large message is never buffered whole, and its end is handed
        // over only when the rest was). The bytes go through a few reused
        // buffers, each back in the pool once the transport has written it:
        // a long message makes no garbage here (garbage buffers would
        // inflate the process's memory until the next GC). Either wait is
        // bounded by `timeout` (_block).
        let more;
        do {
          const out = this._out;
          let buf = null;
          if (!this._writeBlocked && this._transport && out) {
            buf = out.free.pop() ?? null;
            if (!buf) {
              if (out.inFlight >= OUT_POOL) {
                // Every buffer is still being written: wait for one.
                out.waiting = true;
                this._block();
              } else {
                buf = new Uint8Array(OUT_BUFFER);
              }
            }
          }
          let r;
          try {
            // The server's bytes go straight into the engine's input buffer.
            const len = input ? input.byteLength : 0;
            if (len > 0) wasmBytes(this._inputAt(engine, len), len).set(input);
            r = engine.stepInput(len, now(), buf === null ? 0 : buf.length);
          } catch (e) {
            this._fatal ??= SMTPError.create('SMTP engine error', SMTPErrorStates.ERROR, e);
            if (buf) out.free.push(buf);
            stepped = null;
            break;
          }
          input = undefined;
          // What the step reports besides `r` (read before any other call into the module).
          const state = this._stateOf(engine);
          stepped = engine;
          deadline = state[1];
          // All the events were `sent` events (the usual turn's one): records, not JSON.
          const sent = (r & 8) !== 0 ? readSent(state) : null;
          const n = r >>> 4;
          this._bodyPending = (r & 2) !== 0;
          more = (r & 4) !== 0;
          if (n > 0) {
            buf.set(wasmBytes(state[0], n));
            this._write(out, buf, n);
          } else if (buf) {
            out.free.push(buf);
          }
          this._flushTranscript();
          if (sent !== null) {
            for (let i = 0; i < sent.length; i++) this._onEvent(sent[i]);
          } else if (r & 1) {
            for (const event of JSON.parse(engine.takeEvents())) this._onEvent(event);
          }
        } while (more && !this._writeBlocked && this._engine === engine);
      } while (this._pumpAgain);
      if (stepped !== null && stepped === this._engine) this._armAt(stepped, Number.isNaN(deadline) ? null : deadline);
      else this._arm();
      this._feedBody();
    } finally {
      this._pumping = false;
    }
  }

  /**
   * The engine's state block (`statePtr`: where the last step's bytes are,
   * its deadline, its `sent` records), as f64s; made again when the wasm
   * memory has grown (the old view then reads as empty).
   */
  _stateOf(engine) {
    let state = this._stepState;
    if (this._stateEngine !== engine || state.length === 0) {
      state = wasmF64(engine.statePtr, STATE_LEN);
      this._stepState = state;
      this._stateEngine = engine;
    }
    return state;
  }

  /** Where `engine`'s input buffer is, with room for `len` bytes (`inputBuffer`, asked only to grow it). */
  _inputAt(engine, len) {
    if (this._inputEngine !== engine || this._inputCap < len) {
      this._inputPtr = engine.inputBuffer(Math.max(len, INPUT_BUFFER));
      this._inputCap = Math.max(len, INPUT_BUFFER);
      this._inputEngine = engine;
    }
    return this._inputPtr;
  }

  /** Writes `buf[0..n]`, one of `out`'s buffers, which goes back to the pool once written. */
  _write(out, buf, n) {
    out.inFlight++;
    const done = () => {
      out.inFlight--;
      out.free.push(buf);
      if (out.waiting && this._out === out) {
        out.waiting = false;
        this._unblock();
        queueMicrotask(() => this._pump());
      }
    };
    if (this._transport.write(buf.subarray(0, n), done) === false) this._block();
  }

  /**
   * The transport cannot take more now: stop pulling bytes until it drains
   * (or a buffer is written), for at most `timeout` ms, after which the
   * server is taken to have stopped reading and the connection is dropped.
   * A large message blocks and unblocks many times: one timer serves them
   * all (it is left running on unblock and, when it fires, re-armed for
   * what is left of the current wait), rather than a new timer per write.
   */
  _block() {
    if (this._writeBlocked) return;
    this._writeBlocked = true;
    this._blockedSince = now();
    if (this._writeTimer === null) this._armWriteTimer(this._transport, this.timeout);
  }

  _armWriteTimer(transport, delay) {
    this._writeTimer = setTimeout(() => {
      this._writeTimer = null;
      if (this._transport !== transport || !this._writeBlocked) return;
      const left = this._blockedSince + this.timeout - now();
      if (left > 0) {
        this._armWriteTimer(transport, left);
        return;
      }
      this._fatal ??= new SMTPError('timed out writing to the server (it stopped reading)', SMTPErrorStates.TIMEDOUT);
      this._shutdown(true);
    }, Math.min(Math.max(1, delay), 2 ** 31 - 1));
  }

  _unblock() {
    this._writeBlocked = false;
  }

  _clearWriteTimer() {
    this._writeBlocked = false;
    if (this._writeTimer !== null) clearTimeout(this._writeTimer);
    this._writeTimer = null;
  }

  /**
   * Keeps one timer for the engine's deadline. The deadline moves with
   * every command and reply; the timer is replaced only when the deadline
   * comes earlier than the timer. A timer that fires early re-arms itself for
   * the rest; one that finds no deadline stops. While the engine has no
   * deadline the timer does not keep Node running (`unref`).
   */
  _arm() {
    const engine = this._engine;
    this._armAt(engine, engine ? engine.pollTimeout() : undefined);
  }

  /** `_arm` for `engine`'s deadline, known (null or undefined: none). */
  _armAt(engine, deadline) {
    if (deadline === undefined || deadline === null) {
      this._deadline = null;
      if (this._timer !== null && this._timerRef) {
        this._timer.unref?.();
        this._timerRef = false;
      }
      return;
    }
    this._deadline = deadline;
    if (this._timer !== null && this._timerEngine === engine && this._timerAt <= deadline) {
      if (!this._timerRef) {
        this._timer.ref?.();
        this._timerRef = true;
      }
      return;
    }
    if (this._timer !== null) clearTimeout(this._timer);
    this._setTimer(engine, deadline);
  }

  _setTimer(engine, at) {
    this._timerEngine = engine;
    this._timerAt = at;
    this._timerRef = true;
    this._timer = setTimeout(() => {
      this._timer = null;
      if (this._engine !== engine) return;
      const deadline = engine.pollTimeout();
      if (deadline === undefined || deadline === null) return;
      const t = now();
      if (t < deadline) {
        this._setTimer(engine, deadline);
        return;
      }
      this._call(() => engine.handleTimeout(t));
      this._pump();
    }, Math.min(Math.max(0, at - now()), 2 ** 31 - 1));
  }

  _onEvent(ev) {
    switch (ev.type) {
      case 'ready': {
        const caps = ev.capabilities ?? {};
        this.features = {};
        for (const ext of caps.extensions ?? []) {
          const [k, ...rest] = String(ext).split(' ');
          this.features[k.toLowerCase()] = rest.length ? rest.join(' ') : true;
        }
        if (caps.auth?.length) this.features.auth ??= caps.auth.join(' ');
        this.capabilities = caps;
        this._state = SMTPState.CONNECTED;
        this._secure = this._secure || Boolean(this.ssl);
        this.loggedin = true;
        this._greeting = caps.serverName ?? '';
        for (const cb of this._connectCallbacks.splice(0)) deliver(cb, null, this._greeting);
        break;
      }
      case 'starttls': {
        const transport = this._transport;
        if (!transport?.canStartTls) {
          this._fatal = new SMTPError(STARTTLS_THROUGH_BRIDGE, SMTPErrorStates.CONNECTIONAUTH);
          this._shutdown(true);
          break;
        }
        transport.startTls().then(
          () => {
            if (this._transport !== transport || !this._engine) return;
            this._secure = true;
            this._log('tls established');
            this._call(() => this._engine.tlsEstablished(now()));
            this._pump();
          },
          (err) => {
            if (this._transport !== transport) return;
            this._fatal = SMTPError.create(
              'could not establish a STARTTLS session',
              isCertificateError(err) ? SMTPErrorStates.CONNECTIONAUTH : SMTPErrorStates.ERROR,
              err,
            );
            this._shutdown(true);
          },
        );
        break;
      }
      case 'sent': {
        const cb = this._sends.get(ev.id);
        this._sends.delete(ev.id);
        this._endBody(ev.id);
        // (As deliver(cb, null, ev), without its rest arguments: once per message.)
        if (cb) microtask(() => cb(null, ev));
        break;
      }
      case 'failed': {
        const cb = this._sends.get(ev.id);
        this._sends.delete(ev.id);
        const body = this._endBody(ev.id);
        const err = (body?.error && ev.error?.kind === 'Body' ? body.error : null) ?? this._fatal ?? fromEngineError(ev.error, 'message not sent');
        if (body?.consumed) err.streamConsumed = true;
        // Why the transport ended (e.g. the bridge's close code), as for 'closed'.
        if (!err.previous && this._transportError) err.previous = this._transportError;
        if (ev.outcomeUnknown) markOutcomeUnknown(err);
        // For SMTPClient's resend policy: whether the message's transaction
        // began (false: the session ended before its MAIL, nothing of it
        // reached the server).
        if (cb) deliver(cb, err, undefined, { began: ev.began !== false });
        break;
      }
      case 'noop': {
        const cb = this._noopCallbacks.shift();
        const r = ev.reply ?? {};
        if (cb) deliver(cb, null, { code: r.code, data: (r.lines ?? []).join('\n'), message: r.text });
        break;
      }
      case 'reply': {
        const pending = this._replyCallbacks.shift();
        if (pending) deliver(pending.callback, ...replyResult(ev, pending.codes));
        break;
      }
      case 'closed': {
        let err = this._fatal ?? (ev.error ? fromEngineError(ev.error, 'connection closed') : null);
        if (err && !err.previous && this._transportError) err.previous = this._transportError;
        // The engine gave up on the server (bad reply, reply too long,
        // timeout): drop the connection rather than read what else it sends.
        this._teardown(err, Boolean(ev.error && ev.error.kind !== 'Closed'));
        break;
      }
      default:
        break;
    }
  }

  /** Ends the engine: the transport is closed, and 'closed' follows from the engine. */
  _shutdown(force) {
    const transport = this._transport;
    transport?.close(force);
    if (this._engine) {
      this._call(() => this._engine.connectionClosed(now()));
      this._pump();
    }
  }

  _teardown(err, destroy = false) {
    const wasConnecting = this._state === SMTPState.CONNECTING;
    const transport = this._transport;
    const engine = this._engine;
    const wasOpen = transport !== null || engine !== null || this._state !== SMTPState.NOTCONNECTED;
    this._transport = null;
    this._engine = null;
    this._quitRequested = false;
    this._inContent = false;
    this._stepState = null;
    this._stateEngine = null;
    this._inputEngine = null;
    this._transportError = null;
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
    this._clearWriteTimer();
    transport?.close(destroy);
    this._state = SMTPState.NOTCONNECTED;
    this._secure = false;
    this.features = null;
    this.loggedin = !(this.user() && (this.password() || this._xoauth2()));
    const closedErr = err ?? new SMTPError('connection closed', SMTPErrorStates.CONNECTIONCLOSED);
    const connectErr = err ?? new SMTPError('connection closed before the server was ready', SMTPErrorStates.CONNECTIONCLOSED);
    for (const cb of this._connectCallbacks.splice(0)) deliver(cb, wasConnecting ? connectErr : closedErr);
    for (const [, cb] of this._sends) deliver(cb, closedErr);
    this._sends.clear();
    for (const id of [...this._bodies.keys()]) this._endBody(id);
    this._out = null;
    for (const cb of this._noopCallbacks.splice(0)) deliver(cb, closedErr);
    for (const { callback } of this._replyCallbacks.splice(0)) deliver(callback, closedErr);
    for (const cb of this._quitCallbacks.splice(0)) deliver(cb, err ?? null, undefined);
    try {
      engine?.free?.();
    } catch {
      /* already freed */
    }
    // emailjs's 'close' event; a listener that throws does not stop the
    // teardown's callers (rethrown after this turn, uncaught).
    if (wasOpen && this.listenerCount('close') > 0) {
      try {
        this.emit('close');
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  /**
   * Sends one composed message (a WasmMessage, consumed) as one transaction;
   * callback(err, sentEvent). `bodies` are its fed attachments
   * (`{ feed, source, field }`, see Message._buildForSend): each source is
   * read a piece at a time when the engine waits for it, and closed (or
   * cancelled) when the message is done.
   */
  _sendWasmMessage(wasmMessage, callback, bodies = NO_BODIES) {
    const body = bodies.length ? { entries: bodies, reading: false, error: null, consumed: false } : null;
    if (!this._engine || this._state !== SMTPState.CONNECTED) {
      if (body) closeBody(body);
      deliver(callback, new SMTPError('no connection has been established', SMTPErrorStates.NOCONNECTION));
      return;
    }
    let id;
    try {
      id = this._engine.send(wasmMessage, now());
      // The engine took the message; the emptied object is filled again by
      // the next composition (what is left of it, its feeds, goes then, or
      // with it), not finalized by a GC.
      recycleMessage(wasmMessage);
    } catch (e) {
      if (body) closeBody(body);
      deliver(callback, SMTPError.create('could not send the message', SMTPErrorStates.ERROR, e));
      return;
    }
    // A message after the first on this connection: its failure tells
    // SMTPClient whether the connection went stale before it (see _senddone).
    const reused = ++this._offered > 1;
    this._sends.set(id, (err, sent, failure) => callback(err, sent, failure && { ...failure, reused }));
    if (body) this._bodies.set(id, body);
    this._pump();
  }

  /**
   * When the engine waits for a fed attachment (`bodyPending`) and the
   * transport can take more, reads the next piece of that attachment's
   * source, pushes it into its feed and lets the engine go on. One read at a
   * time: the source is read only as fast as the connection drains.
   */
  _feedBody() {
    const engine = this._engine;
    if (!engine || this._writeBlocked) return;
    if (!this._bodyPending) return;
    const id = engine.bodyPending;
    if (id === undefined || id === null) return;
    const body = this._bodies.get(id);
    if (!body || body.reading) return;
    const entry = body.entries.find((e) => e.feed?.waiting);
    if (!entry) return;
    body.reading = true;
    body.consumed ||= !entry.source.restartable;
    this._fillFeed(engine, id, body, entry);
  }

  /**
   * Reads `entry`'s source into its feed, up to FEED_BATCH bytes (fewer
   * engine turns per byte for sources of small pieces), then lets the
   * engine go on. A read error fails the feed, and so the message.
   */
  async _fillFeed(engine, id, body, entry) {
    const live = () => this._bodies.get(id) === body && entry.feed != null && !entry.feed.closed;
    try {
      while (live()) {
        const chunk = await entry.source.next();
        if (!live()) break;
        if (chunk == null) {
          entry.feed.end();
          break;
        }
        entry.feed.push(chunk);
        if (entry.feed.buffered >= FEED_BATCH) break;
      }
    } catch (e) {
      const err = attachmentError(e, entry.field);
      body.error ??= err;
      if (live()) entry.feed.fail(err.message);
    }
    body.reading = false;
    if (this._engine !== engine || this._bodies.get(id) !== body) return;
    this._call(() => engine.bodyReady(now()));
    this._pump();
  }


  /** The message `id` is done: closes (or cancels) its sources and frees its feeds. */
  _endBody(id) {
    const body = this._bodies.get(id);
    if (!body) return null;
    this._bodies.delete(id);
    closeBody(body);
    return body;
  }

  /** emailjs's ehlo(callback, domain): the engine has done EHLO during connect(); connects first if needed. */
  ehlo(callback, domain) {
    if (domain !== undefined && domain !== this.domain && this._state !== SMTPState.NOTCONNECTED) {
      throw notSupported('ehlo', 'EHLO is sent by the engine during connect(), with the `domain` option');
    }
    if (domain !== undefined) this.domain = domain;
    this._whenReady(callback);
  }

  /** emailjs's ehlo_or_helo_if_needed: the engine falls back to HELO itself. */
  ehlo_or_helo_if_needed(callback, domain) {
    this.ehlo(callback, domain);
  }

  /** emailjs's login(callback, user?, password?, options?): AUTH is done by the engine during connect(), with the constructor's credentials. */
  login(callback, user, password, options = {}) {
    if ((user && user !== this.user()) || (password && password !== this.password()) || options?.method) {
      throw notSupported(
        'login',
        'credentials and mechanisms are given to the constructor (user, password, xoauth2, authentication); the engine authenticates during connect()',
      );
    }
    this._whenReady(callback);
  }

  /** emailjs's starttls: negotiated by the engine during connect() when `tls` is set. */
  starttls(callback) {
    if (this._state === SMTPState.CONNECTED && this._secure) {
      deliver(callback, null);
      return;
    }
    throw notSupported('starttls', 'STARTTLS is negotiated by the engine during connect(): set the `tls` option');
  }

  _whenReady(callback) {
    if (this._state === SMTPState.CONNECTED) deliver(callback, null, this._greeting);
    else if (this._state === SMTPState.CONNECTING) this._connectCallbacks.push(callback);
    else this.connect(callback);
  }

  /** emailjs's noop(callback): callback(err, { code, data, message }). */
  noop(callback) {
    if (!this._engine || this._state !== SMTPState.CONNECTED) {
      deliver(callback, new SMTPError('no connection has been established', SMTPErrorStates.NOCONNECTION));
      return;
    }
    // Refused now (a reply still awaited, message content being sent, QUIT
    // asked): the caller's error, not the connection's.
    try {
      this._engine.noop(now());
    } catch (e) {
      deliver(callback, argumentError('NOOP not sent', fromWasmError(e)));
      return;
    }
    this._noopCallbacks.push(callback);
    this._pump();
  }

  /**
   * Runs one low-level engine command; its reply calls back
   * `(null, data, message)` when its code is one of `codes`, else an
   * SMTPError (BADRESPONSE), as emailjs's command().
   */
  _lowLevel(callback, codes, call) {
    if (!this._engine || this._state !== SMTPState.CONNECTED) {
      deliver(callback, new SMTPError('no connection has been established', SMTPErrorStates.NOCONNECTION));
      return;
    }
    try {
      call(this._engine);
    } catch (e) {
      deliver(callback, argumentError('command not sent', fromWasmError(e)));
      return;
    }
    this._replyCallbacks.push({ callback, codes });
    this._pump();
  }

  /**
   * emailjs's mail(callback, from): `MAIL FROM:<from>`. `from` may carry its
   * angle brackets and ESMTP parameters (`'<a@b.org> BODY=8BITMIME'`);
   * `'<>'` is the null path. Callback `(err, data, message)`; 250 expected.
   */
  mail(callback, from) {
    let parsed;
    try {
      parsed = splitPath(from, 'from');
    } catch (e) {
      deliver(callback, e);
      return;
    }
    this._lowLevel(callback, [250], (engine) => engine.mail(parsed.path, parsed.params, now()));
  }

  /** emailjs's rcpt(callback, to): `RCPT TO:<to>` (angle brackets optional); 250 or 251 expected. */
  rcpt(callback, to) {
    let parsed;
    try {
      parsed = splitPath(to, 'to');
      if (parsed.params.length) {
        throw new SMTPError('RCPT TO parameters are not supported', SMTPErrorStates.ERROR);
      }
    } catch (e) {
      deliver(callback, e);
      return;
    }
    this._lowLevel(callback, [250, 251], (engine) => engine.rcpt(parsed.path, now()));
  }

  /** emailjs's data(callback): `DATA`; 354 expected, then message() and data_end(). */
  data(callback) {
    const onReply = (err, ...rest) => {
      // After the 354, until data_end(): the content phase (see quit()).
      if (!err) this._inContent = true;
      if (typeof callback === 'function') callback(err, ...rest);
    };
    this._lowLevel(onReply, [354], (engine) => engine.data(now()));
  }

  /**
   * emailjs's message(data): message content after data()'s 354, a string
   * (sent as UTF-8) or bytes. Unlike emailjs, the content is CRLF-normalised
   * and dot-stuffed, so it cannot end the data early. Throws an SMTPError
   * when called outside DATA (emailjs wrote the bytes as commands).
   */
  message(data) {
    if (!this._engine || this._state !== SMTPState.CONNECTED) {
      throw new SMTPError('no connection has been established', SMTPErrorStates.NOCONNECTION);
    }
    let chunk;
    if (typeof data === 'string' || data instanceof Uint8Array || data instanceof ArrayBuffer) chunk = data;
    else if (ArrayBuffer.isView(data)) chunk = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else {
      const err = new SMTPError(`message(data): \`data\` must be a string or bytes, got ${typeName(data)}`, SMTPErrorStates.ERROR);
      err.field = 'data';
      throw err;
    }
    try {
      this._engine.dataChunk(chunk);
    } catch (e) {
      throw argumentError('message content not sent', fromWasmError(e));
    }
    this._pump();
  }

  /** emailjs's data_end(callback): ends the content (`.`); 250 expected. */
  data_end(callback) {
    this._lowLevel(callback, [250], (engine) => {
      engine.dataEnd(now());
      this._inContent = false;
    });
  }

  /** emailjs's rset(callback): `RSET`; 250 expected. */
  rset(callback) {
    this._lowLevel(callback, [250], (engine) => engine.rset(now()));
  }

  /** emailjs's help(callback, domain?): `HELP [domain]`; 211 or 214 expected. */
  help(callback, domain) {
    this._lowLevel(callback, [211, 214], (engine) => engine.help(domain === '' || domain === null ? undefined : domain, now()));
  }

  /** emailjs's verify(address, callback): `VRFY address`; 250, 251 or 252 expected. */
  verify(address, callback) {
    this._lowLevel(callback, [250, 251, 252], (engine) => engine.vrfy(address, now()));
  }

  /** emailjs's expn(address, callback): `EXPN address`; 250 expected. */
  expn(address, callback) {
    this._lowLevel(callback, [250], (engine) => engine.expn(address, now()));
  }

  /** emailjs's quit(callback): QUIT, then the connection closes. */
  quit(callback) {
    if (!this._engine) {
      deliver(callback, new SMTPError('no connection has been established', SMTPErrorStates.NOCONNECTION));
      return;
    }
    if (callback) this._quitCallbacks.push(callback);
    // Until the connection is gone, it takes no more messages (SMTPClient
    // waits for the close and connects again).
    this._quitRequested = true;
    if (this._inContent) {
      // Inside a low-level DATA's content QUIT would only follow the end of
      // the data, which would deliver what was written so far: the
      // connection is dropped instead (the server discards the transaction).
      this._fatal ??= new SMTPError('QUIT during message content: the connection was dropped without ending the data (the server discards that message)', SMTPErrorStates.CONNECTIONCLOSED);
      this.close(true);
      return;
    }
    this._call(() => this._engine.quit(now()));
    this._pump();
  }

  /** emailjs's close(force = false): ends (or with force, destroys) the connection now, without QUIT. */
  close(force = false) {
    if (!this._engine && !this._transport) {
      this._state = SMTPState.NOTCONNECTED;
      return;
    }
    this._log(force ? 'smtp connection destroyed!' : 'smtp connection closed.');
    if (!this._fatal) {
      this._fatal = new SMTPError('the connection was closed by close()', SMTPErrorStates.CONNECTIONCLOSED);
    }
    const engine = this._engine;
    const transport = this._transport;
    this._shutdown(force);
    // Still this connection (a 'close' listener may have opened another).
    if ((engine && this._engine === engine) || (transport && this._transport === transport)) this._teardown(this._fatal);
  }

  _flushTranscript() {
    if (!this._engine || !(this._logger || this._debug)) return;
    let lines;
    try {
      lines = this._engine.takeTranscript();
    } catch {
      return;
    }
    for (const l of lines ?? []) this._log(`${l.direction === 'client' ? 'C' : 'S'}: ${l.text}`);
  }

  _log(text) {
    if (!this._logger) {
      if (this._debug) console.log(text);
      return;
    }
    try {
      this._logger(text);
    } catch (e) {
      // A logger that throws must not cut the engine's turn short (its
      // events would be lost): its error is thrown after the turn, uncaught.
      queueMicrotask(() => {
        throw e;
      });
    }
  }
}

const UNSUPPORTED = {
  helo: 'the engine sends EHLO and falls back to HELO by itself during connect()',
  parse_smtp_features: 'the engine parses EHLO; see `features` and `capabilities` after connect()',
  send: 'raw commands would bypass the engine, which owns the SMTP dialogue: use mail, rcpt, data, message, data_end, rset, help, verify, expn or noop',
  command: 'raw commands would bypass the engine, which owns the SMTP dialogue: use mail, rcpt, data, message, data_end, rset, help, verify, expn or noop',
};
for (const [method, reason] of Object.entries(UNSUPPORTED)) {
  Object.defineProperty(SMTPConnection.prototype, method, {
    value: function () {
      throw notSupported(method, reason);
    },
    writable: true,
    configurable: true,
  });
}

/** Delays loading the WebSocket implementation (Node's `ws` package) until a bridge is used. */
class LazyWebSocketTransport {
  constructor(url, encrypted) {
    this.url = url;
    this.encrypted = encrypted;
    this.canStartTls = false;
    this.onData = () => {};
    this.onClose = () => {};
    this.onDrain = () => {};
    this._inner = null;
    this._closed = false;
  }

  async open() {
    const WebSocket = await platform.webSocket();
    if (this._closed) throw new Error('closed before the bridge was reached');
    const inner = new WebSocketTransport({ url: this.url, WebSocket, encrypted: this.encrypted });
    inner.onData = (b) => this.onData(b);
    inner.onClose = (e) => this.onClose(e);
    inner.onDrain = () => this.onDrain();
    this._inner = inner;
    await inner.open();
  }

  write(bytes, done) {
    if (this._inner) return this._inner.write(bytes, done);
    done?.();
    return true;
  }

  close(force) {
    this._closed = true;
    if (this._inner) this._inner.close(force);
  }
}

/**
 * emailjs's `from`/`to` argument: `<path> PARAM…` or `path PARAM…` (the
 * engine checks the path and the parameters).
 */
function splitPath(value, field) {
  if (typeof value !== 'string') {
    const err = new SMTPError(`\`${field}\` must be a string, got ${typeName(value)}`, SMTPErrorStates.ERROR);
    err.field = field;
    throw err;
  }
  // A CR or LF would otherwise read as a separator here ('a\rb' → path 'a',
  // parameter 'b'): control characters are refused outright.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) {
    const err = new SMTPError(`invalid \`${field}\`: it must not contain CR, LF, NUL or other control characters`, SMTPErrorStates.ERROR);
    err.field = field;
    throw err;
  }
  const text = value.trim();
  let path;
  let rest;
  if (text.startsWith('<')) {
    const end = text.indexOf('>');
    if (end < 0) throw new SMTPError(`\`${field}\` has no closing '>'`, SMTPErrorStates.ERROR);
    path = text.slice(1, end);
    rest = text.slice(end + 1);
  } else {
    const m = /^(\S*)(.*)$/s.exec(text);
    path = m[1];
    rest = m[2];
  }
  const params = rest.trim() ? rest.trim().split(/[ \t]+/) : [];
  return { path, params };
}

/** An SMTPError (ERROR) for a refused low-level argument, with the `field` of its cause. */
function argumentError(message, previous) {
  const err = SMTPError.create(message, SMTPErrorStates.ERROR, previous);
  if (previous?.field !== undefined) err.field = previous.field;
  return err;
}

/** A `reply` event as emailjs's command() reports it: `[null, data, message]` or `[SMTPError]`. */
function replyResult(ev, codes) {
  const r = ev.reply ?? {};
  const lines = r.lines ?? [];
  const data = lines.map((l, i) => `${r.code}${i + 1 < lines.length ? '-' : ' '}${l}`).join('\n');
  const message = lines[0] ?? '';
  if (codes.includes(r.code)) return [null, data, message];
  const verb = ev.command === 'end of data' ? '.' : String(ev.command ?? '').split(' ')[0];
  const err = SMTPError.create(
    `bad response on command '${verb}'${message ? `: ${message}` : ''}`,
    SMTPErrorStates.BADRESPONSE,
    null,
    data,
  );
  err.smtpCode = r.code ?? null;
  err.enhancedCode = r.enhancedCode ?? null;
  err.command = ev.command ?? null;
  return [err];
}

/**
 * The session failed after the end of the message's data was sent and before
 * the server's verdict was read: the server may have accepted it (RFC 1047).
 * The message is never sent again by this package; the caller decides.
 */
function markOutcomeUnknown(err) {
  err.outcomeUnknown = true;
  err.message +=
    ' (the end of the message was sent before the connection failed: the server may have accepted it; it was not resent)';
}

function isCertificateError(err) {
  const code = String(err?.code ?? '');
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ERR_TLS|ERR_SSL|HOSTNAME/i.test(code);
}

/** A message without fed attachments. */
export const NO_BODIES = Object.freeze([]);

/** The engine's state block: f64s (src/wasm/engine.rs, `statePtr`). */
const STATE_LEN = 8;

const sentDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
/** Where readSent is: the next number, the record's text and where in it. */
let sentNums = null;
let sentAt = 0;
let sentText = '';
let sentPos = 0;

/** The next string of the records (its length in UTF-16 units is the next number). */
function sentString() {
  const end = sentPos + sentNums[sentAt++];
  const s = sentText.slice(sentPos, end);
  sentPos = end;
  return s;
}

/** The next Reply of the records. */
function sentReply() {
  const code = sentNums[sentAt++];
  let enhancedCode = null;
  if (sentNums[sentAt] < 0) sentAt++;
  else enhancedCode = sentString();
  const text = sentString();
  const n = sentNums[sentAt++];
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(sentString());
  return { code, enhancedCode, text, lines };
}

/**
 * The last step's `sent` events, from their records (src/wasm/engine.rs,
 * `record_sent`), as the `SmtpEvent`s `takeEvents` would give. `state`: the
 * engine's state block. (Exported for js/test/step_records.test.mjs.)
 */
export function readSent(state) {
  const bytes = wasmBytes(state[4], state[5]);
  sentText = platform.decode ? platform.decode(bytes, state[6] === 1) : sentDecoder.decode(bytes);
  sentNums = wasmF64(state[2], state[3]);
  sentAt = 0;
  sentPos = 0;
  const events = [];
  while (sentAt < sentNums.length) {
    const id = sentNums[sentAt++];
    const reply = sentReply();
    const n = sentNums[sentAt++];
    const recipients = [];
    for (let i = 0; i < n; i++) {
      const address = sentString();
      const accepted = sentNums[sentAt++] === 1;
      recipients.push({ address, accepted, reply: sentReply() });
    }
    events.push({ type: 'sent', id, reply, recipients });
  }
  sentNums = null;
  sentText = '';
  return events;
}

/** Closes a message's sources (cancelling unread streams) and frees its feeds. */
function closeBody(body) {
  for (const entry of body.entries) {
    entry.source.close().catch(() => {});
    try {
      entry.feed?.free?.();
    } catch {
      /* already freed */
    }
    entry.feed = null;
  }
}

/** A source's read error as the message's error: ATTACHMENT, naming the option. */
function attachmentError(e, field) {
  if (e instanceof MimeographError) return e;
  const err = new MimeographError(`cannot read attachment ${field.endsWith('.path') ? 'file' : 'stream'}: ${e?.message ?? e}`, 'ATTACHMENT', field);
  err.cause = e;
  return err;
}

/** Calls a user callback outside the engine loop (a throwing callback cannot break the engine). */
function deliver(cb, ...args) {
  if (typeof cb !== 'function') return;
  microtask(() => cb(...args));
}

const resolved = Promise.resolve();

/**
 * queueMicrotask(fn) for the callbacks of every message: Node's
 * queueMicrotask makes an AsyncResource (and a bound function) per call,
 * a promise reaction does not. What `fn` throws is thrown from a
 * queueMicrotask as before (an uncaught exception, not a rejection).
 */
function microtask(fn) {
  resolved.then(() => {
    try {
      fn();
    } catch (e) {
      queueMicrotask(() => {
        throw e;
      });
    }
  });
}
