// Node benchmarks W1–W3 (issue 7): the npm package (js/, over the wasm
// build in js/wasm/) against nodemailer and emailjs, in one process.
//
//   W1  build 10k small ASCII messages                         msgs/s
//   W2  build 10k UTF-8 text + HTML messages                   msgs/s
//   W3  build 50 × (text + HTML + 10 MiB binary + 1 MiB text)  MB/s out
//
// Every library builds the same deterministic inputs (a fixed-seed PRNG; the
// shapes match benches/compose.rs) into one whole message in memory:
// mimeograph and emailjs with `new Message(options).readAsync()` (a string;
// mimeograph also with `readBytesAsync()`, a Uint8Array), nodemailer with a
// `streamTransport` (`buffer: true`, `newline: 'windows'`) into a Buffer.
// Before any timing, the first and the last message of each workload from
// each library are parsed with mailparser and compared with their inputs
// (and checked for Date, a Message-ID of their own and MIME-Version), so
// that none does less.
//
// Each figure is the median of 3 timed runs (runs of the libraries
// interleaved, after one warm-up run each). The table is printed and, unless
// --quick, written to benches/results/node.md.
//
// Usage (in benches/node, after scripts/build-pkg.sh):
//   npm run bench                     the full run (several minutes on 2 cores)
//   npm run bench -- --quick          small counts, one run, no file: a smoke test
//   npm run bench -- --only W1,W3     some workloads only
//   npm run bench -- --libs mimeograph-string,emailjs
//   npm run bench -- --runs 5 --out /tmp/node.md
//   npm run bench -- --clock cpu      rates from CPU time instead of elapsed time
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

// --- arguments -----------------------------------------------------------------
const args = process.argv.slice(2);
function flag(name) {
  return args.includes(name);
}
function option(name, fallback) {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  if (i + 1 >= args.length) usage(`${name} needs a value`);
  return args[i + 1];
}
function usage(why) {
  console.error(`bench.mjs: ${why}\nusage: node bench.mjs [--quick] [--only W1,W2,W3] [--libs a,b] [--runs N] [--clock wall|cpu] [--out FILE]`);
  process.exit(2);
}
for (const [i, a] of args.entries()) {
  const takesValue = ['--only', '--libs', '--runs', '--out', '--clock'];
  if (a.startsWith('--') && !['--quick', ...takesValue].includes(a)) usage(`unknown argument ${a}`);
  if (!a.startsWith('--') && !takesValue.includes(args[i - 1])) usage(`unexpected ${a}`);
}
const quick = flag('--quick');
const runs = Number(option('--runs', quick ? '1' : '3'));
if (!Number.isInteger(runs) || runs < 1) usage('--runs must be a positive integer');
const only = option('--only', 'W1,W2,W3').split(',');
// wall: elapsed time (the issue's figures); cpu: this process's user+system
// time, steadier on a machine that other work keeps busy (GC threads count).
const clock = option('--clock', 'wall');
if (!['wall', 'cpu'].includes(clock)) usage('--clock is wall or cpu');
const outFile = option('--out', quick ? null : path.join(repoRoot, 'benches', 'results', 'node.md'));

// Counts and sizes: the issue's, or small ones for --quick.
const SIZES = quick
  ? { w1: 300, w2: 200, w3: 2, w3Binary: 1 << 20, w3Text: 128 << 10 }
  : { w1: 10_000, w2: 10_000, w3: 50, w3Binary: 10 << 20, w3Text: 1 << 20 };

// --- the libraries ---------------------------------------------------------------
const wasmFile = path.join(repoRoot, 'js', 'wasm', 'mimeograph_bg.wasm');
if (!existsSync(wasmFile)) {
  console.error('bench.mjs: js/wasm/ is missing: run scripts/build-pkg.sh first');
  process.exit(1);
}
const mimeograph = await import(path.join(repoRoot, 'js', 'index.js'));
const emailjs = await import('emailjs');
const nodemailer = (await import('nodemailer')).default;
const testDeps = createRequire(path.join(repoRoot, 'tests', 'node', 'package.json'));
let simpleParser;
try {
  ({ simpleParser } = testDeps('mailparser'));
} catch (e) {
  console.error(`bench.mjs: mailparser is missing: run \`npm ci --prefix tests/node\` (scripts/setup.sh does) (${e.message})`);
  process.exit(1);
}
const peerVersion = (name) => JSON.parse(readFileSync(path.join(here, 'node_modules', name, 'package.json'), 'utf8')).version;

const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

/** The emailjs option object (also mimeograph's: it is a drop-in). */
function emailjsOptions(m) {
  const attachment = [{ data: m.html, alternative: true }];
  for (const a of m.attachments) attachment.push({ data: a.data, type: a.type, name: a.name, charset: a.charset });
  return { from: m.from, to: m.to, subject: m.subject, text: m.text, attachment };
}

function nodemailerOptions(m) {
  const out = { from: m.from, to: m.to, subject: m.subject, text: m.text };
  if (m.html !== undefined) out.html = m.html;
  if (m.attachments.length) {
    out.attachments = m.attachments.map((a) => ({
      content: a.data,
      filename: a.name,
      contentType: a.charset ? `${a.type}; charset=${a.charset}` : a.type,
    }));
  }
  return out;
}

/** name → build(input): Promise<string | Uint8Array>, the whole message. */
const LIBRARIES = {
  'mimeograph-string': (m) => new mimeograph.Message(m.html === undefined ? plainOptions(m) : emailjsOptions(m)).readAsync(),
  'mimeograph-bytes': (m) => new mimeograph.Message(m.html === undefined ? plainOptions(m) : emailjsOptions(m)).readBytesAsync(),
  nodemailer: async (m) => (await transporter.sendMail(nodemailerOptions(m))).message,
  emailjs: (m) => new emailjs.Message(m.html === undefined ? plainOptions(m) : emailjsOptions(m)).readAsync(),
};
const LABELS = {
  'mimeograph-string': 'mimeograph (readAsync → string)',
  'mimeograph-bytes': 'mimeograph (readBytesAsync → Uint8Array)',
  nodemailer: `nodemailer ${peerVersion('nodemailer')}`,
  emailjs: `emailjs ${peerVersion('emailjs')}`,
};
const libs = option('--libs', Object.keys(LIBRARIES).join(',')).split(',');
for (const l of libs) if (!LIBRARIES[l]) usage(`unknown library ${l} (known: ${Object.keys(LIBRARIES).join(', ')})`);

function plainOptions(m) {
  return { from: m.from, to: m.to, subject: m.subject, text: m.text };
}

// --- deterministic inputs ----------------------------------------------------------
/** mulberry32: a small 32-bit PRNG; one fixed seed per workload. */
function prng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  next.below = (n) => next() % n;
  next.pick = (list) => list[next() % list.length];
  return next;
}

const ASCII_WORDS = (
  'the quarterly report shows steady growth in all regions while costs stayed flat ' +
  'please review the attached figures before our meeting on thursday and send comments ' +
  'shipping schedule inventory forecast budget approval customer feedback release notes'
).split(' ');
const LATIN_WORDS = ['Grüße', 'naïve', 'façade', 'Ångström', 'señor', 'crème', 'brûlée', 'Zoë', 'smörgåsbord', 'déjà', 'vu'];
const EMOJI = ['😀', '🚀', '📧', '🎉', '✅', '🌍', '💡', '🔥', '📎', '🙂'];

/** A random CJK ideograph (U+4E00..U+9FA5). */
const cjk = (rng) => String.fromCodePoint(0x4e00 + rng.below(0x9fa5 - 0x4e00));

/** ASCII lines of words (≤ 72 columns), LF line ends, exactly `bytes` long; line 4 starts with a dot. */
function asciiText(rng, bytes) {
  const lines = [];
  let total = 0;
  while (total < bytes) {
    let line = lines.length === 3 ? '.' : '';
    while (line.length < 60) line += (line && line !== '.' ? ' ' : '') + rng.pick(ASCII_WORDS);
    lines.push(line);
    total += line.length + 1;
  }
  let text = lines.join('\n') + '\n';
  text = text.slice(0, bytes - 1).trimEnd();
  return text + '\n'.repeat(bytes - text.length);
}

/** A UTF-8 line mixing CJK, accented Latin words, ASCII words and emoji. */
function utf8Line(rng, chars) {
  let line = '';
  while ([...line].length < chars) {
    const kind = rng.below(10);
    if (kind < 5) {
      let w = '';
      for (let n = 2 + rng.below(5); n > 0; n--) w += cjk(rng);
      line += w;
    } else if (kind < 7) line += ` ${rng.pick(LATIN_WORDS)} `;
    else if (kind < 9) line += ` ${rng.pick(ASCII_WORDS)} `;
    else line += rng.pick(EMOJI);
  }
  return line.trim();
}

const utf8Length = (s) => Buffer.byteLength(s, 'utf8');

/** UTF-8 text of about `bytes` bytes (never more), LF line ends. */
function utf8Text(rng, bytes) {
  let text = '';
  for (;;) {
    const line = utf8Line(rng, 30 + rng.below(20)) + '\n';
    if (utf8Length(text) + utf8Length(line) > bytes) break;
    text += line;
  }
  return text;
}

/** UTF-8 HTML of about `bytes` bytes (never more). */
function utf8Html(rng, bytes) {
  const head = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Bench</title></head><body>\n';
  const tail = '</body></html>\n';
  let body = '';
  for (;;) {
    const p = `<p>${utf8Line(rng, 20)} <b>${utf8Line(rng, 6)}</b> ${utf8Line(rng, 20)}</p>\n`;
    if (utf8Length(head + body + p + tail) > bytes) break;
    body += p;
  }
  return head + body + tail;
}

/** ~98% ASCII text (1 non-ASCII word in ~50), LF line ends, `bytes` bytes at most. */
function mostlyAsciiText(rng, bytes) {
  const parts = [];
  let total = 0;
  for (;;) {
    let line = '';
    while (line.length < 64) line += (line ? ' ' : '') + (rng.below(50) === 0 ? rng.pick(LATIN_WORDS) : rng.pick(ASCII_WORDS));
    line += '\n';
    const n = utf8Length(line);
    if (total + n > bytes) break;
    parts.push(line);
    total += n;
  }
  return parts.join('');
}

function randomBytes(rng, n) {
  const words = new Uint32Array(Math.ceil(n / 4));
  for (let i = 0; i < words.length; i++) words[i] = rng();
  return Buffer.from(words.buffer, 0, n);
}

const VARIANTS = 100; // distinct bodies per workload, used in turn

function makeW1(count) {
  const rng = prng(0x5731);
  const texts = Array.from({ length: VARIANTS }, () => asciiText(rng, 2048));
  return Array.from({ length: count }, (_, i) => ({
    from: `"Alice Sender" <alice.sender@example.com>`,
    to: `"Bob Receiver" <bob.receiver@example.org>`,
    subject: `Quarterly report ${i}: figures and notes for review`,
    text: texts[i % VARIANTS],
    attachments: [],
  }));
}

function makeW2(count) {
  const rng = prng(0x5732);
  const bodies = Array.from({ length: VARIANTS }, () => ({ text: utf8Text(rng, 4096), html: utf8Html(rng, 8192) }));
  const subjects = Array.from({ length: VARIANTS }, () => utf8Line(rng, 80));
  const names = ['张伟', 'Zoë Ångström', '山田 太郎', 'Ἀριστοτέλης', 'Søren Kierkegaard 🙂', '김민준'];
  return Array.from({ length: count }, (_, i) => ({
    from: `"${names[i % names.length]}" <sender${i % 7}@example.com>`,
    to: `"${names[(i + 1) % names.length]}" <receiver${i % 5}@example.org>`,
    subject: subjects[i % VARIANTS],
    text: bodies[i % VARIANTS].text,
    html: bodies[i % VARIANTS].html,
    attachments: [],
  }));
}

function makeW3(count) {
  const rng = prng(0x5733);
  const binary = randomBytes(rng, SIZES.w3Binary);
  const notes = mostlyAsciiText(rng, SIZES.w3Text);
  const text = asciiText(rng, 2048);
  const html = `<!DOCTYPE html>\n<html><body>\n${text
    .trimEnd()
    .split('\n')
    .map((l) => `<p>${l}</p>`)
    .join('\n')}\n</body></html>\n`;
  return Array.from({ length: count }, (_, i) => ({
    from: `"Alice Sender" <alice.sender@example.com>`,
    to: `"Bob Receiver" <bob.receiver@example.org>`,
    subject: `Data export ${i}`,
    text,
    html,
    attachments: [
      { data: binary, type: 'application/octet-stream', name: 'export.bin' },
      { data: notes, type: 'text/plain', name: 'notes.txt', charset: 'utf-8' },
    ],
  }));
}

const WORKLOADS = {
  W1: { make: () => makeW1(SIZES.w1), unit: 'msgs/s', what: `build ${SIZES.w1} small ASCII messages` },
  W2: { make: () => makeW2(SIZES.w2), unit: 'msgs/s', what: `build ${SIZES.w2} UTF-8 text+HTML messages` },
  W3: {
    make: () => makeW3(SIZES.w3),
    unit: 'MB/s out',
    what: `build ${SIZES.w3} × (text+HTML+${mib(SIZES.w3Binary)} binary+${mib(SIZES.w3Text)} text)`,
  },
};
for (const w of only) if (!WORKLOADS[w]) usage(`unknown workload ${w}`);

function mib(n) {
  return n >= 1 << 20 ? `${n / (1 << 20)} MiB` : `${n / 1024} KiB`;
}

// --- verification: every library's output read back by mailparser ---------------
const lf = (s) => s.replace(/\r\n/g, '\n').replace(/\n+$/, '');

async function verify(lib, workload, input) {
  const out = await LIBRARIES[lib](input);
  const raw = typeof out === 'string' ? Buffer.from(out, 'utf8') : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  const problems = [];
  const notes = [];
  // Not a failure (the peers' own behaviour), but worth knowing.
  if (/(^|[^\r])\n/.test(raw.toString('latin1'))) notes.push('bare LF line ends in the output');
  const parsed = await simpleParser(raw);
  const check = (what, got, want) => {
    if (got !== want) problems.push(`${what}: got ${JSON.stringify(got)?.slice(0, 120)}, want ${JSON.stringify(want)?.slice(0, 120)}`);
  };
  const addr = (field) => parsed[field]?.value?.map((a) => `"${a.name}" <${a.address}>`).join(', ');
  // What every library adds by itself (as benches/compose.rs checks natively).
  if (!(parsed.date instanceof Date) || Number.isNaN(parsed.date.getTime())) problems.push('no valid Date');
  if (!/^<[^<>@\s]+@[^<>@\s]+>$/.test(parsed.messageId ?? '')) problems.push(`Message-ID: ${JSON.stringify(parsed.messageId)}`);
  if (parsed.headers.get('mime-version') !== '1.0') {
    // emailjs leaves it out of a text-only message: a peer's quirk, noted; ours would be a defect.
    if (lib.startsWith('mimeograph')) problems.push(`MIME-Version: ${JSON.stringify(parsed.headers.get('mime-version'))}`);
    else notes.push('no MIME-Version header');
  }
  check('subject', parsed.subject, input.subject);
  check('from', addr('from'), input.from);
  check('to', addr('to'), input.to);
  check('text', lf(parsed.text ?? ''), lf(input.text));
  if (input.html !== undefined) check('html', lf(parsed.html || ''), lf(input.html));
  check('attachments', parsed.attachments.length, input.attachments.length);
  for (const [i, want] of input.attachments.entries()) {
    const got = parsed.attachments.find((a) => a.filename === want.name);
    if (!got) {
      problems.push(`attachment ${want.name} missing`);
      continue;
    }
    // Text attachments may come back in canonical form (CRLF line ends, RFC 2046 §4.1.1).
    const same =
      typeof want.data === 'string' ? lf(got.content.toString('utf8')) === lf(want.data) : got.content.equals(want.data);
    if (!same) problems.push(`attachment[${i}] ${want.name}: content differs (${got.content.length} bytes back)`);
    check(`attachment[${i}] type`, got.contentType, want.type);
  }
  if (workload === 'W3' && !/^[\x00-\x7f]*$/.test(raw.toString('latin1'))) problems.push('W3 output is not ASCII');
  return { bytes: raw.length, problems, notes, messageId: parsed.messageId };
}

// --- timing ----------------------------------------------------------------------
/** Builds every input once through `lib`; returns seconds and output bytes. */
async function timeRun(lib, inputs) {
  const build = LIBRARIES[lib];
  let bytes = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (const m of inputs) {
    const out = await build(m);
    bytes += typeof out === 'string' ? out.length : out.byteLength;
  }
  const cpu = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / 1000;
  return { seconds: clock === 'cpu' ? (cpu.user + cpu.system) / 1e6 : wall, bytes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function fmtRate(x, unit) {
  if (unit === 'msgs/s') return x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : x >= 1000 ? `${(x / 1000).toFixed(2)}k` : x.toFixed(0);
  return x.toFixed(x >= 100 ? 0 : 1);
}

// --- main ------------------------------------------------------------------------
const wasmBytes = readFileSync(wasmFile);
/** gzip -9 (as scripts/wasm-size.sh measures), or zlib's level 9 without a gzip command. */
function gzipSize(file, bytes) {
  try {
    return execFileSync('gzip', ['-9', '-c', file], { maxBuffer: 1 << 26 }).length;
  } catch {
    return gzipSync(bytes, { level: 9 }).length;
  }
}
const wasmSize = { raw: wasmBytes.length, gz: gzipSize(wasmFile, wasmBytes) };
const results = {};
let failedChecks = 0;
/** "library: note" → the workloads it was seen in. */
const checkNotes = {};
/** The 1-minute load average before each workload. */
const loads = [];
console.log(
  `bench.mjs: Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ` +
    `${runs} run(s) per figure${quick ? ' (quick)' : ''}; mimeograph_bg.wasm ${wasmSize.raw} B, ${wasmSize.gz} B gz`,
);
for (const w of only) {
  const spec = WORKLOADS[w];
  const tg = performance.now();
  const inputs = spec.make();
  console.log(
    `\n${w}: ${spec.what} (inputs generated in ${((performance.now() - tg) / 1000).toFixed(1)} s; ` +
      `load average ${os.loadavg()[0].toFixed(1)})`,
  );
  loads.push(os.loadavg()[0]);
  results[w] = {};
  for (const lib of libs) {
    // The first and the last input (another subject, and each message its own Message-ID).
    const first = await verify(lib, w, inputs[0]);
    const last = await verify(lib, w, inputs[inputs.length - 1]);
    const { bytes } = first;
    const problems = [...first.problems, ...last.problems.map((p) => `last message: ${p}`)];
    const notes = [...new Set([...first.notes, ...last.notes])];
    if (first.messageId !== undefined && first.messageId === last.messageId) problems.push(`the same Message-ID twice: ${first.messageId}`);
    const noted = notes.length ? ` (note: ${notes.join('; ')})` : '';
    if (problems.length) {
      failedChecks += 1;
      console.log(`  check ${lib}: FAILED: ${problems.join('; ')}${noted}`);
    } else {
      console.log(`  check ${lib}: mailparser reads back every field (${bytes} bytes)${noted}`);
    }
    for (const n of notes) (checkNotes[`${LABELS[lib]}: ${n}`] ??= []).push(w);
    results[w][lib] = { samples: [], bytes: 0, problems };
  }
  // One warm-up run per library (a tenth of the inputs), then interleaved timed runs.
  const warm = inputs.slice(0, Math.max(1, Math.ceil(inputs.length / 10)));
  for (const lib of libs) await timeRun(lib, warm);
  for (let r = 0; r < runs; r++) {
    for (const lib of libs) {
      const { seconds, bytes } = await timeRun(lib, inputs);
      const rate = spec.unit === 'msgs/s' ? inputs.length / seconds : bytes / 1e6 / seconds;
      results[w][lib].samples.push(rate);
      results[w][lib].bytes = bytes;
      console.log(`  run ${r + 1} ${lib.padEnd(18)} ${seconds.toFixed(2).padStart(7)} s  ${fmtRate(rate, spec.unit)} ${spec.unit}`);
    }
  }
  for (const lib of libs) results[w][lib].median = median(results[w][lib].samples);
}

// --- the table -------------------------------------------------------------------
const TARGETS = { W1: { nodemailer: 10, emailjs: 2 }, W2: { nodemailer: 10, emailjs: 2 }, W3: { nodemailer: 5 } };
const ours = libs.filter((l) => l.startsWith('mimeograph'));
const peers = libs.filter((l) => !l.startsWith('mimeograph'));
const lines = [];
lines.push(`| workload | unit | ${libs.map((l) => LABELS[l]).join(' | ')} | ${ours.flatMap((o) => peers.map((p) => `${o.replace('mimeograph-', '')} ÷ ${p}`)).join(' | ')} |`);
lines.push(`|---|---|${libs.map(() => '---:').join('|')}|${ours.flatMap(() => peers.map(() => '---:')).join('|')}|`);
for (const w of only) {
  const r = results[w];
  const cells = libs.map((l) => fmtRate(r[l].median, WORKLOADS[w].unit) + (r[l].problems.length ? ' (check failed)' : ''));
  const ratios = ours.flatMap((o) =>
    peers.map((p) => {
      const x = r[o].median / r[p].median;
      // Small --quick runs are no measurement: no verdicts on them.
      const target = quick ? undefined : TARGETS[w][p];
      return `${x.toFixed(2)}×${target ? (x >= target ? ` (≥ ${target} ✓)` : ` (< ${target} ✗)`) : ''}`;
    }),
  );
  lines.push(`| ${w} | ${WORKLOADS[w].unit} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
}
const table = lines.join('\n');
console.log(`\n${table}\n`);
if (quick) console.log('(--quick: small counts, one run: a smoke test, not a measurement)');
console.log(`mimeograph_bg.wasm: ${wasmSize.raw} bytes, ${wasmSize.gz} bytes gzipped (gzip -9)`);

if (outFile) {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const doc = `# Node benchmarks (W1–W3)

Written by \`npm run bench\` in \`benches/node\` (\`bench.mjs\`); medians of ${runs} runs, libraries
interleaved in one Node process after a warm-up run each; ${clock === 'cpu' ? 'rates from the process\'s CPU time (`--clock cpu`)' : 'rates from elapsed time'}.

- Machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}
- Node ${process.version}; nodemailer ${peerVersion('nodemailer')} (\`streamTransport\`, \`buffer: true\`, \`newline: 'windows'\`), emailjs ${peerVersion('emailjs')} (\`Message.readAsync()\`)
- mimeograph at ${commit}: \`mimeograph_bg.wasm\` ${wasmSize.raw} bytes, ${wasmSize.gz} bytes gzipped (gzip -9)
- Date: ${new Date().toISOString().slice(0, 10)}; 1-minute load average before each workload: ${loads.map((l) => l.toFixed(1)).join(', ')}

Workloads (deterministic inputs from a fixed-seed PRNG; ${VARIANTS} body variants used in turn):

- W1: ${WORKLOADS.W1.what}: ASCII From/To/Subject with display names, 2 KiB ASCII text with LF line ends, one line starting with a dot.
- W2: ${WORKLOADS.W2.what}: ~80-character CJK+emoji subject, UTF-8 display names, 4 KiB UTF-8 text + 8 KiB UTF-8 HTML.
- W3: ${WORKLOADS.W3.what}: 2 KiB text + HTML, random bytes (application/octet-stream), mostly-ASCII text (text/plain); MB/s of message output (10^6 bytes).

Each library's first and last message of each workload was parsed with mailparser and compared with its inputs
(subject, addresses, text, HTML, attachment bytes; a valid Date, a Message-ID of its own, MIME-Version) before timing${failedChecks ? ` — **${failedChecks} check(s) failed**, see the bench output` : ': all passed'}.
${Object.entries(checkNotes)
  .map(([n, ws]) => `Noted (not a failure): ${n} (${ws.join(', ')}).\n`)
  .join('')}
${table}

Targets (issue 7): ≥ 10× nodemailer and ≥ 2× emailjs on W1 and W2; ≥ 5× nodemailer on W3.
`;
  // Hand-written notes after the marker line survive a rerun.
  const marker = '<!-- notes: kept by bench.mjs -->';
  let kept = '';
  if (existsSync(outFile)) {
    const old = readFileSync(outFile, 'utf8');
    const at = old.indexOf(marker);
    if (at >= 0) kept = `\n${old.slice(at)}`;
  }
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, doc + kept);
  console.log(`written to ${path.relative(process.cwd(), outFile)}`);
}
if (failedChecks) {
  console.error(`bench.mjs: ${failedChecks} output check(s) failed (see above)`);
  process.exitCode = 1;
}
