// The package with a bundler: `npm pack`s js/ (as pack.test.mjs does),
// installs the tarball into a tiny Vite app (fixtures/vite-app/, no Vite
// configuration at all), runs `vite build`, serves dist/ on localhost, and
// has headless Chromium (playwright-core, /usr/bin/chromium) send one
// message with an attachment through a real websockify bridge to a real
// aiosmtpd; the test checks what aiosmtpd received (mailparser).
//
// Vite comes from the npm registry once, pinned, into
// target/vite-cache/vite-VERSION/ (later runs reuse it). The app is copied
// into a temporary folder inside that one, so Node's resolution finds `vite`
// in the enclosing node_modules while the app's own node_modules holds only
// the installed tarball. MIMEOGRAPH_VITE_VERSION picks another Vite version.
//
// This test builds no Rust: it needs js/wasm/ from scripts/build-pkg.sh.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { cleanup, here, jsDir, onCleanup, parse, repoRoot, startAiosmtpd, startWebsockify, testDep, tmpDir, within, cachedInstall, packTarball, chromiumPage } from './helpers.mjs';

const run = promisify(execFile);
after(cleanup);

/** Pinned: Vite 8 needs Node ^20.19 || >=22.12 (this machine: Node 20.20, npm 11). */
const VITE_VERSION = process.env.MIMEOGRAPH_VITE_VERSION || '8.4.0';
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
};


/** Serves a folder (GET only, files inside it only) on 127.0.0.1; records the paths asked for. */
async function serveDir(root) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    requests.push(url.pathname);
    const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '');
    const file = path.join(root, rel === '' || rel.endsWith('/') ? path.join(rel, 'index.html') : rel);
    if (req.method !== 'GET' || !file.startsWith(root + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  server.keepAliveTimeout = 1000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(
    () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(r);
      }),
  );
  return { origin: `http://127.0.0.1:${server.address().port}`, requests };
}

test(`vite@${VITE_VERSION} build of an app importing mimeograph sends an attachment from Chromium through websockify`, {
  timeout: 90000,
}, async (t) => {
  
  const started = Date.now();
  const lap = (what) => t.diagnostic(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const [tarball, vite] = await Promise.all([packTarball('mimeograph-vite-pack-'), cachedInstall('vite-cache', { vite: VITE_VERSION })]);
  lap(`vite ${VITE_VERSION} ${vite.cached ? 'from the cache' : 'installed'} in ${path.relative(repoRoot, vite.dir)}; tarball packed`);
  const viteBin = path.join(vite.dir, 'node_modules', 'vite', 'bin', 'vite.js');
  assert.ok(existsSync(viteBin), `${viteBin} exists`);
  const installedVite = JSON.parse(readFileSync(path.join(vite.dir, 'node_modules', 'vite', 'package.json'), 'utf8')).version;
  assert.equal(installedVite, VITE_VERSION);

  // The app, inside the Vite folder (so `vite` resolves from the enclosing node_modules).
  const app = mkdtempSync(path.join(vite.dir, 'app-'));
  onCleanup(() => rmSync(app, { recursive: true, force: true }));
  cpSync(path.join(here, 'fixtures', 'vite-app'), app, { recursive: true });
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, timeout: 60000, killSignal: 'SIGKILL' });
  assert.ok(existsSync(path.join(app, 'node_modules', 'mimeograph', 'browser.js')), 'the tarball is installed in the app');
  assert.ok(!existsSync(path.join(app, 'node_modules', 'vite')), 'vite comes from the cache folder, not the app');
  lap('tarball installed in the app');

  let build;
  try {
    build = await run(process.execPath, [viteBin, 'build'], { cwd: app, timeout: 60000, killSignal: 'SIGKILL', env: { ...process.env, NO_COLOR: '1', CI: '1' } });
  } catch (e) {
    throw new Error(`vite build failed: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
  }
  lap('vite build done');
  const dist = path.join(app, 'dist');
  const assets = readdirSync(path.join(dist, 'assets'));
  const wasmAssets = assets.filter((f) => f.endsWith('.wasm'));
  const jsAssets = assets.filter((f) => f.endsWith('.js'));
  assert.equal(wasmAssets.length, 1, `one .wasm asset emitted: ${assets.join(', ')}\n${build.stdout}${build.stderr}`);
  assert.ok(jsAssets.length >= 1, `a JS chunk emitted: ${assets.join(', ')}`);
  const js = jsAssets.map((f) => readFileSync(path.join(dist, 'assets', f), 'utf8')).join('\n');
  // The "browser" condition picked browser.js: nothing from Node is bundled.
  assert.doesNotMatch(js, /["'`]node:(fs|os|net|tls)["'`]/, 'the browser bundle imports no Node built-in');
  assert.doesNotMatch(build.stderr, /top-level await|\berror\b/i, `vite build is clean:\n${build.stdout}${build.stderr}`);

  const smtp = await startAiosmtpd();
  const bridge = await startWebsockify(smtp.port);
  const served = await serveDir(dist);
  const { page, logs } = await chromiumPage();
  const wasmResponses = [];
  page.on('response', (r) => {
    if (r.url().endsWith('.wasm')) wasmResponses.push(`${r.status()} ${r.headers()['content-type']}`);
  });
  await page.goto(`${served.origin}/`, { timeout: 15000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 }).catch((e) => {
    throw new Error(`${e.message}\nrequests: ${served.requests.join(' ')}\n${logs.join('\n')}`);
  });
  assert.deepEqual(wasmResponses, ['200 application/wasm'], 'the page fetched the emitted .wasm once');
  lap('page ready in Chromium');

  const bytes = Buffer.alloc(20000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) % 256;
  const result = await within(
    page.evaluate((args) => window.sendWithAttachment(args), {
      bridge: bridge.url,
      from: '"Vite Ünïcode" <vite@example.com>',
      to: 'bob@example.com, "Carol" <carol@example.com>',
      subject: 'Bundled by Vite — ça marche',
      text: 'Sent by a Vite bundle.\n.\nEnd.',
      name: 'rapport annuel.bin',
      type: 'application/octet-stream',
      base64: bytes.toString('base64'),
    }),
    25000,
    'send from the bundled page',
  ).catch((e) => {
    throw new Error(`${e.message}\nwebsockify: ${bridge.stderr()}\n${logs.join('\n')}`);
  });
  lap('message sent');
  assert.equal(result.isMessage, true, 'sendAsync resolved to the Message');
  assert.equal(result.replyCode, 250);
  assert.deepEqual(result.accepted.sort(), ['bob@example.com', 'carol@example.com']);

  const got = smtp.messages();
  assert.equal(got.length, 1, 'aiosmtpd received one message');
  assert.equal(got[0].from, 'vite@example.com');
  assert.deepEqual(got[0].to.sort(), ['bob@example.com', 'carol@example.com']);
  const parsed = await parse(got[0].data);
  assert.equal(parsed.subject, 'Bundled by Vite — ça marche');
  assert.equal(parsed.from.value[0].name, 'Vite Ünïcode');
  assert.equal(parsed.text.trimEnd(), 'Sent by a Vite bundle.\n.\nEnd.');
  assert.equal(parsed.attachments.length, 1);
  assert.equal(parsed.attachments[0].filename, 'rapport annuel.bin');
  assert.equal(parsed.attachments[0].contentType, 'application/octet-stream');
  assert.ok(Buffer.compare(parsed.attachments[0].content, bytes) === 0, 'attachment bytes arrive unchanged');
  lap('done');
});
