// Sends one message with a large attachment through SMTPClient and prints
// `CHILD-REPORT {json}` (sent or error, peak RSS from
// process.resourceUsage().maxRSS, seconds). Run by stream.test.mjs and
// benches/streaming.sh in a process of its own, so that the peak RSS is the
// sender's alone.
//
// Usage: node stream_child.mjs PORT SOURCE BYTES
//        node stream_child.mjs drain SOURCE BYTES
//   drain: no library and no SMTP: the source is only read, each piece
//   copied into one reused buffer, and the report gives the peak RSS that
//   reading the source costs by itself (the reference for the sends).
//   SOURCE: path (a sparse file: zeros, no disk used), iterable (an async
//   generator of the test pattern that reuses one buffer: the source itself
//   makes no garbage), stream (a Node Readable of it, a new Buffer per
//   chunk as fs.createReadStream makes), web (a web ReadableStream of it),
//   fsstream (fs.createReadStream of the sparse file: the library reads
//   such a stream's file itself)
// The test pattern is the one tests/servers/stream_sink.py checks: blocks of
// 1 MiB, octet i of a block is (i * 167 + (i >> 11)) & 0xff, the block's
// first 8 octets its index (little-endian).
import { closeSync, createReadStream, mkdtempSync, openSync, ftruncateSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BLOCK = 1 << 20;
const PIECE = 64 * 1024;

/**
 * Octet i of a block is (i * 167 + (i >> 11)) & 0xff: within a run of 2048
 * octets it is ROWS[c][i & 255] with c = (i >> 11) & 255. The rows take
 * 64 KiB (a whole 1 MiB block would weigh on the sender's measured memory).
 */
const ROWS = new Uint8Array(256 * 256);
for (let c = 0; c < 256; c++) for (let j = 0; j < 256; j++) ROWS[c * 256 + j] = (j * 167 + c) & 0xff;

/** Writes the pattern's octets [pos, pos + out.length) into `out`. */
function fillPattern(out, pos) {
  // A plain loop: no views or other garbage per piece (the sender's
  // memory is what the tests measure).
  for (let n = 0, i = pos % BLOCK; n < out.length; n++, i = i + 1 === BLOCK ? 0 : i + 1) {
    out[n] = ROWS[((i >> 11) & 255) * 256 + (i & 255)];
  }
  // The block index in the first 8 octets of each block.
  for (let p = pos - (pos % BLOCK); p < pos + out.length; p += BLOCK) {
    let k = BigInt(p / BLOCK);
    for (let b = 0; b < 8; b++, k >>= 8n) {
      if (p + b >= pos && p + b < pos + out.length) out[p + b - pos] = Number(k & 0xffn);
    }
  }
}

/** The test pattern's first `len` octets, `PIECE` at a time, each a new Buffer. */
export function* patternPieces(len) {
  for (let pos = 0; pos < len; pos += PIECE) {
    const piece = Buffer.allocUnsafe(Math.min(PIECE, len - pos));
    fillPattern(piece, pos);
    yield piece;
  }
}

/**
 * The test pattern as an async iterable that fills one buffer again for
 * every piece (the consumer copies each piece before asking for the next).
 */
export async function* patternReused(len) {
  const piece = new Uint8Array(PIECE);
  for (let pos = 0; pos < len; pos += PIECE) {
    const view = pos + PIECE <= len ? piece : piece.subarray(0, len - pos);
    fillPattern(view, pos);
    yield view;
  }
}

/** The test pattern as a Node Readable. */
export async function patternReadable(len) {
  const { Readable } = await import('node:stream');
  return Readable.from(patternPieces(len), { objectMode: false });
}

/** The test pattern as a web ReadableStream (pull: one piece per pull). */
export function patternWebStream(len) {
  const it = patternPieces(len);
  return new ReadableStream({
    pull(controller) {
      const { value, done } = it.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
  });
}

async function main() {
  const [port, source, bytesArg] = process.argv.slice(2);
  const bytes = Number(bytesArg);
  const here = path.dirname(fileURLToPath(import.meta.url));
  let dir = null;
  let attachment;
  if (source === 'path' || source === 'fsstream') {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mimeograph-sparse-'));
    const file = path.join(dir, 'zeros.bin');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, bytes);
    closeSync(fd);
    attachment =
      source === 'path'
        ? { path: file, type: 'application/octet-stream' }
        : { stream: createReadStream(file), name: 'zeros.bin', type: 'application/octet-stream' };
  } else if (source === 'iterable') {
    attachment = { stream: patternReused(bytes), name: 'pattern.bin', type: 'application/octet-stream' };
  } else if (source === 'stream') {
    attachment = { stream: await patternReadable(bytes), name: 'pattern.bin', type: 'application/octet-stream' };
  } else if (source === 'web') {
    attachment = { stream: patternWebStream(bytes), name: 'pattern.bin', type: 'application/octet-stream' };
  } else {
    throw new Error(`unknown source ${source}`);
  }
  if (port === 'drain') {
    await drain(attachment.stream, bytes);
    if (dir) rmSync(dir, { recursive: true, force: true });
    return;
  }
  const { SMTPClient, Message } = await import(path.join(here, '..', 'index.js'));
  const client = new SMTPClient({ host: '127.0.0.1', port: Number(port), timeout: 60000 });
  const message = new Message({
    from: 'ann@example.com',
    to: 'bob@example.org',
    subject: 'a large attachment',
    text: 'The data is attached.\n',
    attachment,
  });
  const started = performance.now();
  let sent;
  try {
    await client.sendAsync(message);
    sent = { Ok: true };
  } catch (e) {
    sent = { Err: `${e.name}: ${e.message}` };
  }
  const seconds = (performance.now() - started) / 1000;
  client.smtp.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  const cpu = process.cpuUsage();
  const report = { sent, peak_rss: process.resourceUsage().maxRSS * 1024, seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6, bytes };
  console.log(`CHILD-REPORT ${JSON.stringify(report)}`);
}

/** Reads `source` to its end without the library (see the usage above). */
async function drain(source, bytes) {
  const into = new Uint8Array(PIECE);
  const started = performance.now();
  let got = 0;
  for await (const piece of source) {
    for (let at = 0; at < piece.length; at += PIECE) {
      const part = piece.subarray(at, at + PIECE);
      into.set(part);
      got += part.length;
    }
  }
  if (got !== bytes) throw new Error(`read ${got} octets, not ${bytes}`);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage();
  const report = { sent: { Ok: true }, peak_rss: process.resourceUsage().maxRSS * 1024, seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6, bytes };
  console.log(`CHILD-REPORT ${JSON.stringify(report)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
