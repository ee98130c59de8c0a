// Shared test harness: servers (aiosmtpd, smtp-server, websockify), the
// package under test, and parsing with mailparser. Every process started
// here is killed when the test file ends (see `cleanup`), and every wait has
// a deadline.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const here = path.dirname(fileURLToPath(import.meta.url));
export const jsDir = path.resolve(here, '..');
export const repoRoot = path.resolve(jsDir, '..');

/** Fails with a clear message when the package has not been built (the tests build nothing). */
export function requireBuilt() {
  const wasm = path.join(jsDir, 'wasm', 'mimeograph_bg.wasm');
  if (!existsSync(path.join(repoRoot, 'pkg', 'mimeograph_bg.wasm')) || !existsSync(wasm)) {
    throw new Error(
      `the wasm package is not built (${path.relative(repoRoot, wasm)} or pkg/ is missing): run scripts/build-pkg.sh first`,
    );
  }
}

const nodeTestDeps = createRequire(path.join(repoRoot, 'tests', 'node', 'package.json'));
/** A package from tests/node/node_modules (mailparser, smtp-server, ws, playwright-core). */
export function testDep(name) {
  try {
    return nodeTestDeps(name);
  } catch (e) {
    throw new Error(`missing test dependency ${name}: run \`npm ci --prefix tests/node\` (scripts/setup.sh does) (${e.message})`);
  }
}

/** Loads the package from js/ (source). Installs `ws` as global WebSocket when Node has none. */
export async function loadSource() {
  requireBuilt();
  if (typeof globalThis.WebSocket !== 'function') {
    globalThis.WebSocket = testDep('ws').WebSocket;
  }
  return import(path.join(jsDir, 'index.js'));
}

const cleanups = [];
export function onCleanup(fn) {
  cleanups.push(fn);
}
export async function cleanup() {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      /* keep going */
    }
  }
}

export function tmpDir(prefix = 'mimeograph-js-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Spawns a process, registers its kill, waits for a stdout line matching `re` (deadline `ms`). */
export function spawnWaiting(cmd, args, re, { ms = 10000, env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env, cwd });
    onCleanup(() => killChild(child));
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      reject(new Error(`${cmd} did not print ${re} within ${ms} ms; stdout: ${out}; stderr: ${err}`));
    }, ms);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(re);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m });
      }
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) early; stdout: ${out}; stderr: ${err}`));
    });
  });
}

export function killChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 2000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    try {
      child.stdin?.end();
    } catch {
      /* closed */
    }
    child.kill('SIGTERM');
  });
}

/**
 * aiosmtpd (tests/servers/aiosmtpd_server.py, shared with the Rust tests) on
 * a free port; it exits when its stdin closes. `messages()` returns what it
 * received (with `auth`, the login the server accepted); `out` is its record
 * file (JSON lines). `flags`: more of the script's flags (e.g. `--auth
 * user:pass`, or `--ids-only`, whose records `messages()` cannot read).
 */
export async function startAiosmtpd({ smtputf8 = true, flags = [] } = {}) {
  const dir = tmpDir();
  const out = path.join(dir, 'received.jsonl');
  writeFileSync(out, '');
  const args = [path.join(repoRoot, 'tests', 'servers', 'aiosmtpd_server.py'), out, '--exit-on-stdin-eof'];
  if (smtputf8) args.push('--smtputf8');
  args.push(...flags);
  const { child, match } = await spawnWaiting('python3', args, /PORT (\d+)/);
  return {
    port: Number(match[1]),
    child,
    out,
    messages() {
      return readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const r = JSON.parse(l);
          return { from: r.mail_from, to: r.rcpt_tos, data: Buffer.from(r.data, 'base64'), auth: r.auth };
        });
    },
  };
}

/**
 * npm smtp-server in this process. `auth`: { user, pass } checked for
 * PLAIN/LOGIN/CRAM-MD5/XOAUTH2. `rcpt(address, attempt)`: a reply code to
 * refuse that RCPT with (the attempt counts from 1), or 0 to go on.
 */
export async function startSmtpServer({ auth = null, secure = false, key, cert, starttls = false, methods, greylist = 0, rcpt } = {}) {
  const { SMTPServer } = testDep('smtp-server');
  const received = [];
  const logins = [];
  // greylist: how many times each recipient is answered 451 before it is accepted.
  const rcptAttempts = new Map();
  const server = new SMTPServer({
    secure,
    key,
    cert,
    disabledCommands: [...(auth ? [] : ['AUTH']), ...(starttls || secure ? [] : ['STARTTLS'])],
    authMethods: methods ?? ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2'],
    authOptional: !auth,
    allowInsecureAuth: true,
    hideSTARTTLS: !starttls,
    size: 10 * 1024 * 1024,
    logger: false,
    onAuth(a, session, cb) {
      logins.push({ method: a.method, username: a.username, secure: session.secure });
      let ok = false;
      if (a.method === 'XOAUTH2') ok = a.username === auth.user && a.accessToken === auth.token;
      else if (a.method === 'CRAM-MD5') ok = a.username === auth.user && a.validatePassword(auth.pass);
      else ok = a.username === auth.user && a.password === auth.pass;
      if (ok) cb(null, { user: a.username });
      else cb(new Error('Invalid username or password'));
    },
    onRcptTo(address, session, cb) {
      const n = (rcptAttempts.get(address.address) ?? 0) + 1;
      rcptAttempts.set(address.address, n);
      const refuse = rcpt?.(address.address, n) ?? 0;
      if (refuse) {
        const err = new Error(refuse >= 500 ? '5.1.1 no such user' : '4.7.1 Greylisted, please try again later');
        err.responseCode = refuse;
        cb(err);
      } else if (n <= greylist) {
        const err = new Error('4.7.1 Greylisted, please try again later');
        err.responseCode = 451;
        cb(err);
      } else {
        cb();
      }
    },
    onData(stream, session, cb) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          secure: session.secure,
          user: session.user,
        });
        cb(null, 'OK queued');
      });
    },
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  server.on('error', () => {});
  onCleanup(() => new Promise((r) => server.close(r)));
  return { port: server.server.address().port, messages: () => received, logins, rcptAttempts, server };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A real websockify bridge on a free port to 127.0.0.1:targetPort; returns the ws:// URL. */
export async function startWebsockify(targetPort, { targetHost = '127.0.0.1', sslTarget = false, env, extraArgs = [] } = {}) {
  const port = await freePort();
  const args = ['-m', 'websockify'];
  if (sslTarget) args.push('--ssl-target');
  // e.g. ['--auth-plugin', 'ExpectOrigin', '--auth-source', 'https://app.test']
  args.push(...extraArgs);
  args.push(`127.0.0.1:${port}`, `${targetHost}:${targetPort}`);
  const child = spawn('python3', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  onCleanup(() => killChild(child));
  try {
    await waitForPort(port);
  } catch (e) {
    throw new Error(`${e.message}; websockify stderr: ${stderr}`);
  }
  return { url: `ws://127.0.0.1:${port}`, child, stderr: () => stderr };
}

/** A self-signed certificate for localhost / 127.0.0.1 (openssl). */
export function testCertificate() {
  const dir = tmpDir('mimeograph-cert-');
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(key), cert: readFileSync(cert), certPath: cert };
}

/** Parses raw bytes with mailparser. */
export async function parse(data) {
  const { simpleParser } = testDep('mailparser');
  return simpleParser(data);
}

/** Rejects after `ms` (hang guard). */
export function within(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** `npm pack` of js/ into a temporary folder; returns the tarball's path. */
export async function packTarball(prefix = 'mimeograph-pack-') {
  requireBuilt();
  const dir = tmpDir(prefix);
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: jsDir, timeout: 30000 });
  const tarball = path.join(dir, stdout.trim().split('\n').pop());
  if (!existsSync(tarball)) throw new Error(`npm pack did not make ${tarball}`);
  return tarball;
}

/**
 * npm-installs `devDependencies` once into target/<cache>/<key>/ and reuses
 * it afterwards (a `.installed` marker is written last; the folder is built
 * aside and renamed into place, so an interrupted install is never reused).
 */
export async function cachedInstall(cache, devDependencies) {
  const key = Object.entries(devDependencies)
    .map(([name, version]) => `${name.replace(/[@/]/g, '_')}-${version}`)
    .join('+');
  const dir = path.join(repoRoot, 'target', cache, key);
  if (existsSync(path.join(dir, '.installed'))) return { dir, cached: true };
  mkdirSync(path.dirname(dir), { recursive: true });
  const partial = mkdtempSync(`${dir}.partial-`);
  try {
    writeFileSync(path.join(partial, 'package.json'), JSON.stringify({ name: `mimeograph-${cache}`, private: true, devDependencies }, null, 2));
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: partial, timeout: 150000, killSignal: 'SIGKILL' });
    writeFileSync(path.join(partial, '.installed'), `${new Date().toISOString()}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    const spec = Object.entries(devDependencies).map(([n, v]) => `${n}@${v}`).join(' ');
    throw new Error(`npm install ${spec} into ${path.relative(repoRoot, dir)} failed (the first run needs the npm registry): ${e.stderr || e.message}`);
  }
  return { dir, cached: false };
}

/**
 * Debian's Chromium, headless, driven by playwright-core (closed at cleanup);
 * returns a new page and the console/page-error lines it logs.
 */
export async function chromiumPage() {
  if (!existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is missing: run scripts/setup.sh');
  const { chromium } = testDep('playwright-core');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 20000,
  });
  onCleanup(() => browser.close());
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  return { page, logs };
}
