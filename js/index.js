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
  platform.hostname = () => os.hostname();
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
  // Node's Buffer decoders and encoders beat TextDecoder and TextEncoder
  // (measured in benches/node): its Latin-1 decoder (ASCII bytes read as
  // Latin-1 are the same text) copies bytes without checking them, and
  // utf8Write needs no result object. One Buffer over the last ArrayBuffer
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
