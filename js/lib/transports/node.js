// Direct TCP transport for Node: node:net, node:tls for implicit TLS (ssl)
// and STARTTLS. Certificates are verified by default; `rejectUnauthorized:
// false` in the `ssl`/`tls` option object turns that off (as in emailjs), and
// is the only way to.
import { createRequire } from 'node:module';
import net from 'node:net';

// node:tls (with node:crypto and the root certificates) is loaded on first
// use: a plain connection does not pay for it (about 1.5 MiB of memory).
const require = createRequire(import.meta.url);
let tlsModule = null;
const tls = () => (tlsModule ??= require('node:tls'));

/** The read buffer of a plain connection (see `_direct`). */
const READ_BUFFER = 64 * 1024;

export class NodeSocketTransport {
  /**
   * @param {{ host: string, port: number, ssl?: boolean | object, tls?: boolean | object }} options
   */
  constructor({ host, port, ssl, tls: starttls }) {
    this.host = host.trim();
    this.port = port;
    this.sslOptions = ssl ? tlsOptions(ssl, this.host) : null;
    this.tlsOptions = tlsOptions(starttls, this.host);
    this.encrypted = Boolean(ssl);
    this.canStartTls = true;
    /**
     * A plain connection that never upgrades (no `ssl`, no `tls`: the engine
     * is told not to ask for STARTTLS) reads through `onread` into one
     * reused buffer, without the socket's Readable stream (its push, 'data'
     * event and read-ahead turn per reply); the bytes are copied into the
     * engine before the next read.
     */
    this._direct = !ssl && !starttls;
    this._readBuffer = null;
    this.onData = () => {};
    this.onClose = () => {};
    this.onDrain = () => {};
    this.socket = null;
    this._closed = false;
    this._handlers = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      let socket;
      const onError = (err) => {
        cleanup();
        this._closed = true;
        socket.destroy();
        reject(err);
      };
      const onReady = () => {
        cleanup();
        this._attach(socket);
        resolve();
      };
      const cleanup = () => {
        socket.off('error', onError);
        socket.off(this.sslOptions ? 'secureConnect' : 'connect', onReady);
      };
      if (this.sslOptions) {
        socket = tls().connect({ ...this.sslOptions, host: this.host, port: this.port });
        socket.once('secureConnect', onReady);
      } else {
        const options = { host: this.host, port: this.port };
        if (this._direct) {
          this._readBuffer ??= Buffer.allocUnsafe(READ_BUFFER);
          options.onread = {
            buffer: this._readBuffer,
            callback: (n, buf) => {
              if (this._handlers !== null) this.onData(new Uint8Array(buf.buffer, buf.byteOffset, n));
            },
          };
        }
        socket = net.connect(options);
        socket.once('connect', onReady);
      }
      // The engine gives each flight (e.g. a whole small message with
      // PIPELINING and CHUNKING) as one write; without TCP_NODELAY a write
      // made while an earlier one is unacknowledged waits for the server's
      // delayed ACK (about 40 ms on Linux).
      socket.setNoDelay(true);
      socket.on('error', onError);
      this.socket = socket;
    });
  }

  _attach(socket) {
    const data = (chunk) => this.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const error = (err) => this._finish(err);
    const close = () => this._finish();
    const drain = () => this.onDrain();
    socket.on('data', data);
    socket.on('error', error);
    socket.on('close', close);
    socket.on('drain', drain);
    this._handlers = { socket, data, error, close, drain };
  }

  _detach() {
    if (!this._handlers) return;
    const { socket, data, error, close, drain } = this._handlers;
    socket.off('data', data);
    socket.off('error', error);
    socket.off('close', close);
    socket.off('drain', drain);
    this._handlers = null;
  }

  /**
   * Writes; false when the socket's buffer is full (`onDrain` follows once
   * it empties: wait for it before writing more). `done` is called once
   * `bytes` may be reused (written, or dropped with the connection).
   */
  write(bytes, done) {
    if (this._closed || !this.socket) {
      done?.();
      return true;
    }
    return this.socket.write(bytes, done ? () => done() : undefined);
  }

  /** Upgrades the connection in place (after the server's 220 to STARTTLS). */
  startTls() {
    return new Promise((resolve, reject) => {
      const plain = this.socket;
      this._detach();
      const secure = tls().connect({ ...this.tlsOptions, socket: plain });
      this.socket = secure;
      const onError = (err) => {
        secure.off('secureConnect', onReady);
        this._closed = true;
        secure.destroy();
        plain.destroy();
        reject(err);
      };
      const onReady = () => {
        secure.off('error', onError);
        this._attach(secure);
        resolve();
      };
      secure.once('secureConnect', onReady);
      secure.once('error', onError);
    });
  }

  close(force = false) {
    if (!this.socket) return;
    if (force) this.socket.destroy();
    else this.socket.end();
    if (force) this._finish();
  }

  _finish(error) {
    if (this._closed) return;
    this._closed = true;
    this._detach();
    this.onClose(error);
  }
}

function tlsOptions(option, host) {
  const opts = option && typeof option === 'object' ? { ...option } : {};
  // Verify by default; only an explicit `rejectUnauthorized: false` disables it.
  opts.rejectUnauthorized = opts.rejectUnauthorized !== false;
  if (opts.servername === undefined && net.isIP(host) === 0) opts.servername = host;
  return opts;
}
