// Browser end to end: examples/browser/ and the package served on localhost;
// headless Chromium (playwright-core, /usr/bin/chromium) picks a file, sends
// it as a Blob attachment through a real websockify bridge to aiosmtpd; the
// test checks what aiosmtpd received.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import { binaryBytes } from './corpus.mjs';
import { cleanup, onCleanup, parse, repoRoot, requireBuilt, startAiosmtpd, startWebsockify, testDep, within, chromiumPage } from './helpers.mjs';

after(cleanup);

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/** Serves only examples/browser/ and js/ (the package) from the repository. */
async function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '');
    const file = path.join(repoRoot, rel.endsWith('/') || rel === '' ? path.join(rel, 'index.html') : rel);
    const allowed = [path.join(repoRoot, 'examples', 'browser') + path.sep, path.join(repoRoot, 'js') + path.sep];
    if (!allowed.some((p) => file.startsWith(p)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${server.address().port}`;
}

test('browser page sends a Blob attachment through websockify to aiosmtpd', { timeout: 60000 }, async () => {
  requireBuilt();
  const smtp = await startAiosmtpd();
  const bridge = await startWebsockify(smtp.port);
  const origin = await serve();
  const { page, logs } = await chromiumPage();
  await page.goto(`${origin}/examples/browser/index.html`, { timeout: 15000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 }).catch((e) => {
    throw new Error(`${e.message}\n${logs.join('\n')}`);
  });
  const bytes = binaryBytes(30000, 5);
  await page.fill('#bridge', bridge.url);
  await page.fill('#from', '"Zoë" <zoe@example.com>');
  await page.fill('#to', 'bob@example.com, carol@example.com');
  await page.fill('#subject', 'From the browser — ça marche');
  await page.fill('#text', 'Hello from Chromium.\n.\nBye.');
  await page.setInputFiles('#file', { name: 'données.bin', mimeType: 'application/octet-stream', buffer: bytes });
  await page.click('#send');
  await within(page.waitForSelector('body[data-result]', { timeout: 20000 }), 25000, 'send in the page');
  const result = await page.getAttribute('body', 'data-result');
  const status = await page.textContent('#status');
  assert.equal(result, 'sent', `${status}\n${logs.join('\n')}`);

  const got = smtp.messages();
  assert.equal(got.length, 1);
  assert.deepEqual(got[0].to.sort(), ['bob@example.com', 'carol@example.com']);
  assert.equal(got[0].from, 'zoe@example.com');
  const parsed = await parse(got[0].data);
  assert.equal(parsed.subject, 'From the browser — ça marche');
  assert.equal(parsed.from.value[0].name, 'Zoë');
  assert.equal(parsed.text.trimEnd(), 'Hello from Chromium.\n.\nBye.');
  assert.equal(parsed.attachments.length, 1);
  assert.equal(parsed.attachments[0].filename, 'données.bin');
  assert.ok(Buffer.compare(parsed.attachments[0].content, bytes) === 0, 'attachment bytes');
});
