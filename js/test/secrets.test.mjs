// Passwords and tokens never appear in what the package shows: errors
// (message, stack, JSON, util.inspect, `smtp`, `previous`), the `logger`
// and `debug()` transcript, console output, util.inspect / JSON of the
// client — in failing and succeeding sessions against real servers
// (aiosmtpd with AUTH PLAIN / LOGIN / XOAUTH2, npm smtp-server with PLAIN /
// LOGIN / CRAM-MD5 / XOAUTH2, a real websockify bridge whose own log is
// searched too), and against scripted servers for what a real one does not
// do (hanging up in the middle of AUTH, echoing the AUTH line back). Every
// output is searched for the secret as it is, in base64 at every alignment
// (LOGIN, PLAIN, XOAUTH2), and in the whole SASL forms.
import assert from 'node:assert/strict';
import net from 'node:net';
import util from 'node:util';
import { after, before, describe, test } from 'node:test';
import { cleanup, loadSource, onCleanup, startAiosmtpd, startSmtpServer, startWebsockify, testDep, within } from './helpers.mjs';

const USER = 'ann.secret-test';
const PASSWORD = 'Pw-7qZ!xV3kL9#mR2tY';
const TOKEN = 'ya29.Tok3n-Hq8Nw2Jx5Lp0Rv7Zs4';
const T = { timeout: 30000 };

let lib;
const consoleLines = [];
const originalConsole = {};

before(async () => {
  lib = await loadSource();
  for (const k of ['log', 'warn', 'error', 'info', 'debug']) {
    originalConsole[k] = console[k];
    console[k] = (...args) => consoleLines.push(args.map((a) => (typeof a === 'string' ? a : util.inspect(a))).join(' '));
  }
});

after(async () => {
  Object.assign(console, originalConsole);
  await cleanup();
});

const b64 = (s) => Buffer.from(s, 'latin1').toString('base64');

/** Every string that would reveal `secret` (sent by `user`). */
function forms(user, secret) {
  const out = [secret, b64(secret), b64(`\0${user}\0${secret}`), b64(`user=${user}\x01auth=Bearer ${secret}\x01\x01`)];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), Buffer.from(secret)]).toString('base64');
    const middle = enc.slice(k === 0 ? 0 : 4, enc.length - 4);
    if (middle.length >= 8) out.push(middle);
  }
  return out;
}
const SECRET_FORMS = [...forms(USER, PASSWORD), ...forms(USER, TOKEN)];

function assertClean(what, outputs) {
  assert.ok(outputs.length > 0);
  for (const out of outputs) {
    for (const s of SECRET_FORMS) {
      assert.ok(!String(out).includes(s), `${what}: a secret form ${JSON.stringify(s)} appears in ${String(out).slice(0, 300)}`);
    }
  }
}

/** Everything an application could print about an error. */
function errorOutputs(err) {
  if (!err) return [];
  const out = [String(err), err.message, err.stack, util.inspect(err, { depth: 6, showHidden: true })];
  try {
    out.push(JSON.stringify(err));
  } catch (e) {
    out.push(`JSON: ${e.message}`);
  }
  out.push(util.inspect(err.smtp, { depth: 6 }), util.inspect(err.previous, { depth: 6 }), String(err.cause ?? ''));
  return out;
}

/** Sends one message with these options (plus a logger); returns [error, outputs]. */
async function session(options, { debug = false } = {}) {
  const lines = [];
  const client = new lib.SMTPClient(debug ? options : { ...options, logger: (...a) => lines.push(a.join(' ')) });
  if (debug) client.smtp.debug(1); // transcript through console.log (captured)
  const outputs = [util.inspect(client, { depth: 6, showHidden: true })];
  try {
    outputs.push(JSON.stringify(client));
  } catch (e) {
    outputs.push(`JSON: ${e.message}`);
  }
  const before = consoleLines.length;
  const [err, sent] = await within(
    client.sendAsync(new lib.Message({ from: 'ann@example.com', to: 'bob@example.org', subject: 'secrets', text: 'nothing secret' })).then(
      (m) => [null, m],
      (e) => [e, null],
    ),
    20000,
    'send',
  );
  if (sent) outputs.push(util.inspect(sent, { depth: 6 }), JSON.stringify(sent.sent ?? {}));
  outputs.push(...errorOutputs(err), util.inspect(client, { depth: 6 }));
  client.smtp.close();
  outputs.push(...lines, ...consoleLines.slice(before));
  assert.ok(lines.length + consoleLines.length - before > 0, 'the transcript was empty');
  return [err, outputs];
}

const local = (port, extra = {}) => ({ host: '127.0.0.1', port, user: USER, allowInsecureAuth: true, ...extra });

describe('aiosmtpd', () => {
  for (const method of ['PLAIN', 'LOGIN']) {
    test(`${method}: rejected (535) and accepted; logger and debug()`, T, async () => {
      const bad = await startAiosmtpd({ flags: ['--auth', `${USER}:another-password`] });
      const [err, outputs] = await session(local(bad.port, { password: PASSWORD, authentication: [method] }));
      assert.ok(err instanceof lib.SMTPError, String(err));
      assert.equal(err.code, lib.SMTPErrorStates.AUTHFAILED);
      assert.ok(outputs.some((o) => o.includes('<redacted>')), 'the AUTH line is shown redacted');
      assertClean(`aiosmtpd ${method} rejected`, outputs);

      const good = await startAiosmtpd({ flags: ['--auth', `${USER}:${PASSWORD}`] });
      const [err2, outputs2] = await session(local(good.port, { password: PASSWORD, authentication: [method] }), { debug: true });
      assert.equal(err2, null);
      assert.equal(good.messages()[0].auth, USER);
      assertClean(`aiosmtpd ${method} accepted (debug)`, outputs2);
    });
  }

  test('XOAUTH2 rejected and accepted; a mechanism the server lacks; no AUTH in the clear', T, async () => {
    const bad = await startAiosmtpd({ flags: ['--auth', `${USER}:x`, '--xoauth2', `${USER}:another-token`] });
    const [err, outputs] = await session(local(bad.port, { xoauth2: TOKEN }));
    assert.ok(err);
    assertClean('aiosmtpd XOAUTH2 rejected', outputs);

    const good = await startAiosmtpd({ flags: ['--auth', `${USER}:x`, '--xoauth2', `${USER}:${TOKEN}`] });
    const [err2, outputs2] = await session(local(good.port, { xoauth2: TOKEN }));
    assert.equal(err2, null);
    assertClean('aiosmtpd XOAUTH2 accepted', outputs2);

    const [err3, outputs3] = await session(local(good.port, { password: PASSWORD, authentication: ['CRAM-MD5'] }));
    assert.equal(err3?.code, lib.SMTPErrorStates.AUTHNOTSUPPORTED, String(err3));
    assertClean('aiosmtpd wrong mechanism', outputs3);

    const [err4, outputs4] = await session({ ...local(good.port, { password: PASSWORD }), allowInsecureAuth: false });
    assert.equal(err4?.code, lib.SMTPErrorStates.CONNECTIONAUTH, String(err4));
    assert.ok(!outputs4.some((o) => /C: AUTH/.test(o)), 'AUTH was sent in the clear');
    assertClean('aiosmtpd AUTH in the clear refused', outputs4);
  });

  test('through a real websockify bridge: rejected, and its own log is clean', T, async () => {
    const server = await startAiosmtpd({ flags: ['--auth', `${USER}:another-password`] });
    const bridge = await startWebsockify(server.port);
    const [err, outputs] = await session({ bridge: bridge.url, user: USER, password: PASSWORD, allowInsecureAuth: true, authentication: ['PLAIN'] });
    assert.equal(err?.code, lib.SMTPErrorStates.AUTHFAILED, String(err));
    assertClean('bridge rejected', [...outputs, bridge.stderr()]);
  });
});

test('bridge deployment (SECURITY.md): websockify with ExpectOrigin refuses other origins', T, async () => {
  const server = await startAiosmtpd();
  const bridge = await startWebsockify(server.port, { extraArgs: ['--auth-plugin', 'ExpectOrigin', '--auth-source', 'https://app.test'] });
  const { WebSocket } = testDep('ws');
  const handshake = (origin) =>
    new Promise((resolve) => {
      const ws = new WebSocket(bridge.url, ['binary'], origin ? { origin } : {});
      ws.on('open', () => {
        ws.close();
        resolve('open');
      });
      ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
      ws.on('error', () => resolve('error'));
    });
  assert.equal(await handshake('https://app.test'), 'open');
  assert.notEqual(await handshake('https://evil.test'), 'open');
  assert.notEqual(await handshake(undefined), 'open');
  // The package in Node sends no Origin: refused, a typed connection error.
  const client = new lib.SMTPClient({ bridge: bridge.url });
  const err = await within(client.sendAsync({ from: 'a@example.com', to: 'b@example.com', text: 'x' }).catch((e) => e), 15000, 'refused');
  assert.ok(err instanceof lib.SMTPError, String(err));
  assert.equal(server.messages().length, 0);
});

describe('smtp-server', () => {
  for (const method of ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2']) {
    test(`${method}: rejected and accepted`, T, async () => {
      for (const right of [false, true]) {
        const secret = method === 'XOAUTH2' ? TOKEN : PASSWORD;
        const known = right ? secret : 'something-else';
        const server = await startSmtpServer({ auth: { user: USER, pass: known, token: known }, methods: [method] });
        const options = method === 'XOAUTH2' ? local(server.port, { xoauth2: TOKEN }) : local(server.port, { password: PASSWORD, authentication: [method] });
        const [err, outputs] = await session(options);
        assert.equal(err === null, right, `${method} right=${right}: ${err}`);
        assertClean(`smtp-server ${method} right=${right}`, outputs);
      }
    });
  }
});

/** A one-connection scripted server: `script(lines, socket)` after greeting and EHLO. */
async function scripted(script) {
  const server = net.createServer((socket) => {
    let buffer = '';
    const waiting = [];
    const lines = {
      next: () => new Promise((resolve) => (buffer.includes('\n') ? take(resolve) : waiting.push(resolve))),
    };
    function take(resolve) {
      const i = buffer.indexOf('\n');
      const line = buffer.slice(0, i).replace(/\r$/, '');
      buffer = buffer.slice(i + 1);
      resolve(line);
    }
    socket.on('data', (d) => {
      buffer += d.toString('latin1');
      while (waiting.length && buffer.includes('\n')) take(waiting.shift());
    });
    socket.on('error', () => {});
    (async () => {
      socket.write('220 scripted ESMTP\r\n');
      await lines.next();
      socket.write('250-scripted\r\n250 AUTH PLAIN LOGIN\r\n');
      await script(lines, socket);
    })().catch(() => socket.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((r) => server.close(r)));
  return server.address().port;
}

describe('scripted servers', () => {
  test('hanging up in the middle of AUTH PLAIN and of AUTH LOGIN', T, async () => {
    const plain = await scripted(async (lines, socket) => {
      await lines.next(); // AUTH PLAIN <secret>
      socket.destroy();
    });
    const [err, outputs] = await session(local(plain, { password: PASSWORD, authentication: ['PLAIN'] }));
    assert.ok(err);
    assertClean('dropped after AUTH PLAIN', outputs);
    const login = await scripted(async (lines, socket) => {
      await lines.next();
      socket.write('334 VXNlcm5hbWU6\r\n');
      await lines.next();
      socket.write('334 UGFzc3dvcmQ6\r\n');
      await lines.next(); // the password
      socket.destroy();
    });
    const [err2, outputs2] = await session(local(login, { password: PASSWORD, authentication: ['LOGIN'] }), { debug: true });
    assert.ok(err2);
    assertClean('dropped after AUTH LOGIN', outputs2);
  });

  test('a server echoing the AUTH line and the password: scrubbed', T, async () => {
    const port = await scripted(async (lines, socket) => {
      const auth = await lines.next();
      socket.write(`535-5.7.8 rejected: ${auth}\r\n535 5.7.8 you sent ${auth}\r\n`);
    });
    const [err, outputs] = await session(local(port, { password: PASSWORD, authentication: ['PLAIN'] }));
    assert.equal(err?.code, lib.SMTPErrorStates.AUTHFAILED, String(err));
    assert.ok(err.message.includes('<redacted>'), err.message);
    assertClean('535 echoing AUTH PLAIN', outputs);
    const port2 = await scripted(async (lines, socket) => {
      await lines.next();
      socket.write('334 VXNlcm5hbWU6\r\n');
      await lines.next();
      socket.write('334 UGFzc3dvcmQ6\r\n');
      const pw = await lines.next();
      socket.write(`535 5.7.8 bad password ${Buffer.from(pw, 'base64').toString()} (${pw})\r\n`);
    });
    const [err2, outputs2] = await session(local(port2, { password: PASSWORD, authentication: ['LOGIN'] }), { debug: true });
    assert.ok(err2);
    assertClean('535 echoing AUTH LOGIN', outputs2);
  });
});

test('nothing anywhere in the console output', () => {
  assertClean('console', consoleLines.length ? consoleLines : ['(empty)']);
});
