// Hooks filled in by the entry point (index.js for Node, browser.js for
// browsers). The core never imports a Node module itself.
export const platform = {
  isNode: false,
  /** @type {() => string} */
  hostname: () => 'localhost',
  /** @type {null | ((path: string) => Promise<Uint8Array>)} */
  readFile: null,
  /** @type {null | ((path: string) => boolean)} */
  existsSync: null,
  /**
   * Opens a file for reading a piece at a time (sending `path` attachments).
   * @type {null | ((path: string) => Promise<{ size: number, read(buf: Uint8Array): Promise<number>, close(): Promise<void> }>)}
   */
  openFile: null,
  /**
   * Takes over an attachment `stream` that is a file (Node's fs.ReadStream,
   * not read yet) to read it as `openFile` does; null when it is not one.
   * @type {null | ((stream: unknown) => Promise<null | { size?: number, read(buf: Uint8Array): Promise<number>, close(): Promise<void> }>)}
   */
  openReadStream: null,
  /**
   * Called for each attachment `stream` when it is attached: a file stream
   * gets an error listener, so that failing to open its file is the
   * attachment's error, not an uncaught one.
   * @type {null | ((stream: unknown) => void)}
   */
  watchReadStream: null,
  /**
   * UTF-8 → string, invalid sequences as U+FFFD; `ascii`: the bytes are known to be ASCII.
   * Default (null): TextDecoder.
   * @type {null | ((bytes: Uint8Array, ascii: boolean) => string)}
   */
  decode: null,
  /**
   * Writes `s` as UTF-8 into `bytes` from index `at`, at most `max` bytes (the
   * caller leaves room for 3 per UTF-16 unit), lone surrogates as U+FFFD, as
   * TextEncoder.encodeInto does; returns the bytes written.
   * Default (null): TextEncoder.encodeInto.
   * @type {null | ((s: string, bytes: Uint8Array, at: number, max: number) => number)}
   */
  encodeInto: null,
  /**
   * Writes `s`'s UTF-16 code units (little-endian, lone surrogates as they
   * are) into `bytes` from index `at`; returns the bytes written (2 a unit).
   * Default (null): strings go over as UTF-8 only (`encodeInto`).
   * @type {null | ((s: string, bytes: Uint8Array, at: number) => number)}
   */
  utf16Into: null,
  /**
   * A copy of `view` as a plain Uint8Array of its own ArrayBuffer.
   * Default (null): `view.slice()`.
   * @type {null | ((view: Uint8Array) => Uint8Array)}
   */
  copyBytes: null,
  /** @type {null | ((options: object) => import('./transports/types.js').Transport)} */
  directTransport: null,
  /** @type {() => Promise<typeof WebSocket>} */
  webSocket: async () => {
    if (typeof globalThis.WebSocket === 'function') return globalThis.WebSocket;
    throw new Error('no WebSocket implementation is available');
  },
};
