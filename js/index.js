// Node entry (and a universal fallback: in a browser it behaves like browser.js).
// Loads the wasm module once, at import, with top-level await, so that the
// public API stays synchronous where emailjs's is.
import init, { initSync } from './wasm/mimeograph.js';
import { platform } from './lib/platform.js';

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;

if (isNode) {
  const [fs, os, { NodeSocketTransport }] = await Promise.all([
    import('node:fs'),
    import('node:os'),
    import('./lib/transports/node.js'),
  ]);
  initSync({ module: fs.readFileSync(new URL('./wasm/mimeograph_bg.wasm', import.meta.url)) });
  platform.isNode = true;
  // The EHLO name: the host's name when it is a usable domain (letters,
  // digits, hyphens, dots), else `localhost` (an empty or odd host name
  // made every send fail with "invalid EHLO name").
  platform.hostname = () => {
    const name = os.hostname();
    return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(name) ? name : 'localhost';
  };
  platform.readFile = async (path) => {
    const buf = await fs.promises.readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  };
  platform.existsSync = (path) => fs.existsSync(path);
  platform.openFile = async (path) => {
    const handle = await fs.promises.open(path, 'r');
    try {
      const { size } = await handle.stat();
      return {
        size,
        read: async (buf) => (await handle.read(buf, 0, buf.byteLength, null)).bytesRead,
        close: () => handle.close(),
      };
    } catch (e) {
      await handle.close();
      throw e;
    }
  };
  // An fs.ReadStream nobody has read yet is read like a `path`: its file is
  // opened again (a descriptor of our own, whose lifetime no one else
  // controls) and read into one reused buffer. Read as a stream it would make
  // a new Buffer per chunk, and V8 lets some 40 MiB of spent ones pile up
  // before it collects them (js/test/stream.test.mjs). Only a stream over
  // Node's own fs and a path, not flowing, never read, with no listener for
  // its data and no encoding; its `start` and `end` are honoured. Closing
  // before the first read leaves the stream as it was (a message offered
  // again reads it then); after, the stream is destroyed. A stream destroyed
  // meanwhile (its `signal` aborted) stops the reading with an error.
  const readStarted = new WeakSet();
  const watched = new WeakSet();
  // From attach(): a file stream opens (and may fail to) before the send
  // reads it; its error is the attachment's error then, not an uncaught one.
  platform.watchReadStream = (stream) => {
    if (!(stream instanceof fs.ReadStream) || watched.has(stream)) return;
    watched.add(stream);
    stream.on('error', () => {});
  };
  const nodeFs = fs.default ?? fs;
  const kFs = (stream) => Object.getOwnPropertySymbols(stream).find((k) => k.description === 'kFs');
  platform.openReadStream = async (stream) => {
    if (!(stream instanceof fs.ReadStream) || readStarted.has(stream)) return null;
    if (stream.errored) throw stream.errored;
    if (stream.destroyed || stream.readableFlowing !== null || stream.readableDidRead || stream.bytesRead !== 0) return null;
    if (stream.readableLength !== 0 || stream.readableEncoding != null) return null;
    if (stream.listenerCount('data') > 0 || stream.listenerCount('readable') > 0) return null;
    const fsKey = kFs(stream);
    if (fsKey === undefined || stream[fsKey] !== nodeFs) return null;
    const file = stream.path;
    if (typeof file !== 'string' && !(file instanceof URL) && !Buffer.isBuffer(file)) return null;
    // The stream's own descriptor, once it has one: the file we open must be
    // the one it opened (not one renamed over it since), and when its path is
    // gone (unlinked after the open) the stream is read as a stream.
    const own = typeof stream.fd === 'number' ? stream.fd : null;
    // Only a regular file with a size, looked at before it is opened (a FIFO
    // opened here would pair with its writer instead of the stream): a pipe
    // cannot be read at a position, and /proc-style files say 0 and have more.
    const regular = (st) => st.isFile() && st.size > 0;
    let handle;
    try {
      if (!regular(await fs.promises.stat(file))) return null;
      handle = await fs.promises.open(file, 'r');
    } catch (e) {
      if (own !== null) return null;
      throw e;
    }
    let size;
    let position = stream.start ?? 0;
    const end = stream.end ?? Infinity;
    try {
      const st = await handle.stat();
      const theirs = own === null ? st : await new Promise((resolve) => nodeFs.fstat(own, (err, s) => resolve(err ? null : s)));
      if (!regular(st) || !theirs || theirs.dev !== st.dev || theirs.ino !== st.ino) {
        await handle.close();
        return null;
      }
      size = Math.max(0, Math.min(st.size, end + 1) - position);
    } catch (e) {
      await handle.close();
      throw e;
    }
    // Never past the size declared for the message (a file that grows while
    // it is sent goes out as long as it was when it was opened, as `path`).
    const stop = position + size;
    let reading = null;
    let closed = false;
    return {
      size,
      read: (buf) => {
        readStarted.add(stream);
        reading = (async () => {
          if (stream.destroyed) throw stream.errored ?? new Error('the attachment stream was destroyed while it was read');
          const want = Math.min(buf.byteLength, stop - position);
          if (closed || want <= 0) return 0;
          const { bytesRead } = await handle.read(buf, 0, want, position);
          position += bytesRead;
          return bytesRead;
        })();
        return reading;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        // never while a read still uses the descriptor
        await reading?.catch(() => {});
        await handle.close();
        if (readStarted.has(stream)) stream.destroy();
      },
    };
  };
  // Node's Buffer decoders and encoders beat TextDecoder and TextEncoder
  // (measured in benches/node): its Latin-1 decoder (ASCII bytes read as
  // Latin-1 are the same text) copies bytes without checking them, and
  // utf8Write needs no result object. Its UTF-8 encoder is slow for V8's
  // two-byte strings, which go over as UTF-16 instead (ucs2Write: a copy;
  // the wasm transcodes). One Buffer over the last ArrayBuffer
  // seen (the wasm memory's, while it does not grow) is kept, not made per call.
  const proto = Buffer.prototype;
  if (typeof proto.latin1Slice === 'function' && typeof proto.utf8Slice === 'function' && typeof proto.utf8Write === 'function') {
    let view = Buffer.alloc(0);
    const viewOf = (buffer) => (view.buffer === buffer ? view : (view = Buffer.from(buffer)));
    platform.decode = (bytes, ascii) => {
      const start = bytes.byteOffset;
      const end = start + bytes.byteLength;
      return ascii ? viewOf(bytes.buffer).latin1Slice(start, end) : viewOf(bytes.buffer).utf8Slice(start, end);
    };
    platform.encodeInto = (s, bytes, at, max) => viewOf(bytes.buffer).utf8Write(s, bytes.byteOffset + at, max);
    // Buffer.from(view) copies without zero-filling first (slice() zeroes
    // the new memory, then copies): W3's 14.5 MB messages come out in
    // 1.1–1.3 ms instead of 1.8–2.2 ms (Node 20, 24). A large Buffer has an
    // ArrayBuffer of its own (small ones share Node's pool, whose other
    // bytes a view's .buffer would show: those are sliced), handed out as
    // a plain Uint8Array (a Buffer's slice() is a view, not a copy).
    platform.copyBytes = (view) => {
      if (view.byteLength >= 1 << 16) {
        const copy = Buffer.from(view);
        if (copy.byteOffset === 0 && copy.buffer.byteLength === view.byteLength) return new Uint8Array(copy.buffer);
      }
      return view.slice();
    };
    if (typeof proto.ucs2Write === 'function') {
      platform.utf16Into = (s, bytes, at) => viewOf(bytes.buffer).ucs2Write(s, bytes.byteOffset + at);
    }
  } else {
    platform.decode = (bytes, ascii) =>
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(ascii ? 'latin1' : 'utf8');
  }
  platform.directTransport = (options) => new NodeSocketTransport(options);
  platform.webSocket = async () => {
    if (typeof globalThis.WebSocket === 'function') return globalThis.WebSocket;
    try {
      const name = 'ws';
      const mod = await import(/* @vite-ignore */ name);
      return mod.WebSocket ?? mod.default;
    } catch (e) {
      const err = new Error(
        'the `bridge` option needs a WebSocket: this Node has no global WebSocket; install the `ws` package (npm install ws)',
      );
      err.code = 'ERR_NO_WEBSOCKET';
      err.cause = e;
      throw err;
    }
  };
} else {
  await init({ module_or_path: new URL('./wasm/mimeograph_bg.wasm', import.meta.url) });
}

export * from './lib/core.js';
