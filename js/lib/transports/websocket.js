// A transport over a WebSocket to a bridge speaking websockify's binary
// protocol: each binary frame carries raw TCP bytes, in both directions,
// framed as the TCP chunks arrived (not by lines). The bridge decides the
// SMTP server (websockify's TARGET, or its token plugin); implicit TLS to the
// server is the bridge's job (`websockify --ssl-target`). STARTTLS is not
// possible through it in this version (canStartTls = false).

/** Bytes waiting in the WebSocket's buffer above which writes report backpressure. */
const HIGH_WATER = 1024 * 1024;
/** ... and below which writing resumes. */
const LOW_WATER = 256 * 1024;
const DRAIN_POLL_MS = 5;
/** How long an error event after the open waits for its close event. */
const CLOSE_AFTER_ERROR_MS = 1000;
/** WebSocket.OPEN (the same in every implementation). */
const OPEN = 1;

export class WebSocketTransport {
  /**
   * @param {{ url: string, WebSocket: typeof WebSocket, encrypted?: boolean }} options
   */
  constructor({ url, WebSocket, encrypted = false }) {
    this.url = url;
    this.WebSocket = WebSocket;
    this.encrypted = encrypted;
    this.canStartTls = false;
    this.onData = () => {};
    this.onClose = () => {};
    this.onDrain = () => {};
    this._ws = null;
    this._drainTimer = null;
    this._open = false;
    this._closed = false;
    this._pending = [];
    /** An error event after the open, waiting for the close event that follows it. */
    this._errorSeen = null;
    this._errorTimer = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this.WebSocket(this.url, ['binary']);
      } catch (e) {
        reject(e);
        return;
      }
      this._ws = ws;
      ws.binaryType = 'arraybuffer';
      let settled = false;
      ws.onopen = () => {
        if (ws.protocol && ws.protocol !== 'binary') {
          settled = true;
          // Closed quietly (no onClose): the rejection alone reports it
          // (else the connection saw a plain close first and lost the reason).
          this._closed = true;
          try {
            ws.close();
          } catch {
            /* already closed */
          }
          reject(new Error(`the bridge chose the WebSocket subprotocol '${ws.protocol}', expected 'binary'`));
          return;
        }
        settled = true;
        this._open = true;
        for (const b of this._pending.splice(0)) ws.send(b);
        resolve();
      };
      ws.onmessage = (ev) => {
        const data = ev.data;
        if (data instanceof ArrayBuffer) this.onData(new Uint8Array(data));
        else if (ArrayBuffer.isView(data)) this.onData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        else if (typeof Blob !== 'undefined' && data instanceof Blob) {
          data.arrayBuffer().then((ab) => this.onData(new Uint8Array(ab)));
        } else {
          this._finish(new Error('the bridge sent a text frame; expected binary frames (websockify binary protocol)'));
        }
      };
      ws.onerror = (ev) => {
        const err = new Error(`WebSocket error on bridge ${redactUrl(this.url)}${ev?.message ? `: ${ev.message}` : ''}`);
        if (!settled) {
          settled = true;
          this._closed = true;
          reject(err);
          return;
        }
        // Open: a close event follows (with its code, which says whether
        // the connection was lost: see onclose); it decides. Should none
        // come, the error ends the connection after a moment.
        this._errorSeen = err;
        if (this._errorTimer === null) this._errorTimer = setTimeout(() => this._finish(err), CLOSE_AFTER_ERROR_MS);
      };
      ws.onclose = (ev) => {
        if (!settled) {
          settled = true;
          this._closed = true;
          reject(new Error(`the bridge ${redactUrl(this.url)} closed the WebSocket (${closeCode(ev)})`));
          return;
        }
        // A normal close (1000) is the server's or the bridge's end of the
        // TCP connection; any other code says what went wrong.
        if (ev?.code === 1000 && !this._errorSeen) {
          this._finish();
          return;
        }
        const err = new Error(`the bridge ${redactUrl(this.url)} closed the WebSocket (${closeCode(ev)})`);
        if (this._errorSeen) err.cause = this._errorSeen;
        // 1006 (no close frame: the bridge's connection was lost, as when
        // websockify drops both ends after the server closed mid-message)
        // and 1001 (going away) are a lost connection, as a TCP reset is:
        // ECONNRESET, which the client treats as the peer's close (a
        // message whose end of data was not handed over is tried once more
        // on a new connection). Other codes are the bridge's own failure.
        if (ev?.code === 1006 || ev?.code === 1001) err.code = 'ECONNRESET';
        this._finish(err);
      };
    });
  }

  /**
   * Sends a copy of `bytes` (`done` is called at once); false once more than HIGH_WATER bytes wait in the WebSocket's
   * buffer (`onDrain` follows when it is below LOW_WATER again: a WebSocket
   * has no drain event, so `bufferedAmount` is polled).
   */
  write(bytes, done) {
    // The bytes are copied (the caller may reuse its buffer at once).
    done?.();
    if (this._closed) return true;
    if (!this._open) {
      this._pending.push(bytes.slice());
      return true;
    }
    if (this._ws.readyState !== OPEN) {
      // The bridge's close frame came in (CLOSING): the bytes would be
      // dropped. Hold the writer until the close event ends the connection,
      // so that no more of the message is taken as sent.
      this._watchDrain();
      return false;
    }
    this._ws.send(bytes.slice());
    if ((this._ws.bufferedAmount ?? 0) <= HIGH_WATER) return true;
    this._watchDrain();
    return false;
  }

  _watchDrain() {
    if (this._drainTimer !== null) return;
    const check = () => {
      this._drainTimer = null;
      if (this._closed) return;
      if (this._ws.readyState !== OPEN || (this._ws.bufferedAmount ?? 0) > LOW_WATER) {
        this._drainTimer = setTimeout(check, DRAIN_POLL_MS);
        return;
      }
      this.onDrain();
    };
    this._drainTimer = setTimeout(check, DRAIN_POLL_MS);
  }

  close(force = false) {
    if (!this._ws) return;
    const ws = this._ws;
    try {
      if (force && typeof ws.terminate === 'function') ws.terminate();
      else ws.close();
    } catch {
      /* already closed */
    }
    this._finish();
  }

  _finish(error) {
    if (this._closed) return;
    this._closed = true;
    this._open = false;
    if (this._drainTimer !== null) clearTimeout(this._drainTimer);
    this._drainTimer = null;
    if (this._errorTimer !== null) clearTimeout(this._errorTimer);
    this._errorTimer = null;
    this.onClose(error);
  }
}

/** A close event's code and reason, for an error message (the reason cut short). */
function closeCode(ev) {
  const code = ev?.code ?? 'unknown';
  const what = code === 1006 ? ', abnormal closure: the connection to the bridge was lost' : '';
  const reason = typeof ev?.reason === 'string' && ev.reason ? `: ${JSON.stringify(ev.reason.slice(0, 80))}` : '';
  return `code ${code}${what}${reason}`;
}

/**
 * Whether the hop to the bridge is private: a `wss://` URL, or `ws://` to
 * this machine (a loopback address or `localhost`, as browsers count
 * `http://localhost` a secure context). Only then is a session through a
 * bridge that does implicit TLS to the server (`ssl`) encrypted end to end:
 * over `ws://` to another host the SMTP session, credentials included,
 * crosses the network in the clear before the bridge encrypts it.
 */
export function privateBridgeHop(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'wss:' || u.protocol === 'https:') return true;
  const host = u.hostname.toLowerCase();
  // (Not `*.localhost`: a resolver without RFC 6761's rule may send it off the machine.)
  return host === 'localhost' || host === 'localhost.' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The bridge URL without credentials or query (which may hold a token). */
export function redactUrl(url) {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
