// `npm pack`s js/, installs the tarball into a fresh folder, and sends the
// corpus with the installed copy (in a child Node process, without a global
// WebSocket: the bridge then goes through the `ws` optional dependency),
// directly and through websockify; checks what aiosmtpd received.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { check, corpus } from './corpus.mjs';
import { cleanup, here, jsDir, packTarball, startAiosmtpd, startWebsockify, tmpDir } from './helpers.mjs';

const run = promisify(execFile);
after(cleanup);

test('npm pack → install in a fresh folder → import → send', { timeout: 90000 }, async () => {
  const tarball = await packTarball();
  const dir = path.dirname(tarball);
  const app = path.join(dir, 'app');
  await run('mkdir', ['-p', app]);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, timeout: 60000 });
  const installed = path.join(app, 'node_modules', 'mimeograph');
  for (const f of ['index.js', 'browser.js', 'index.d.ts', 'wasm/mimeograph_bg.wasm', 'lib/client.js']) {
    assert.ok(existsSync(path.join(installed, f)), `installed package has ${f}`);
  }
  assert.ok(!existsSync(path.join(installed, 'test')), 'tests are not packed');

  const server = await startAiosmtpd();
  const bridge = await startWebsockify(server.port);
  const filesDir = tmpDir();
  writeFileSync(
    path.join(app, 'run.mjs'),
    `import * as lib from 'mimeograph';
import { corpus } from ${JSON.stringify(pathToFileURL(path.join(here, 'corpus.mjs')).href)};
// The bridge must go through the \`ws\` package: Node 22 and later have a
// global WebSocket (looked up when a bridge is opened, after this).
delete globalThis.WebSocket;
if (typeof globalThis.WebSocket === 'function') throw new Error('expected no global WebSocket now');
const [port, bridge, dir] = process.argv.slice(2);
for (const options of [{ host: '127.0.0.1', port: Number(port) }, { bridge }]) {
  const client = new lib.SMTPClient(options);
  for (const item of corpus(dir)) await client.sendAsync(new lib.Message(item.options()));
  client.smtp.close();
}
console.log('SENT');
`,
  );
  const out = await run(process.execPath, ['run.mjs', String(server.port), bridge.url, filesDir], { cwd: app, timeout: 30000 });
  assert.match(out.stdout, /SENT/);
  const items = corpus(filesDir);
  const got = server.messages();
  assert.equal(got.length, items.length * 2);
  for (let i = 0; i < got.length; i++) {
    const item = items[i % items.length];
    await check(got[i], item.expect, `installed package, ${i < items.length ? 'direct' : 'bridge'}: ${item.name}`);
  }
  const pkg = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'mimeograph');
  assert.equal(pkg.exports['.'].types, './index.d.ts');
});
