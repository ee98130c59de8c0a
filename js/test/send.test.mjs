// Sends through real servers (aiosmtpd, smtp-server), directly over node:net
// and through a real websockify bridge; emailjs-style usage.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cleanup, jsDir, loadSource, startAiosmtpd, startSmtpServer, startWebsockify, testCertificate, tmpDir, parse, within } from './helpers.mjs';
import { sendCorpus } from './corpus.mjs';

const T = { timeout: 30000 };
const run = promisify(execFile);
let lib;
before(async () => {
  lib = await loadSource();
});
after(cleanup);

describe('corpus', () => {
  test('aiosmtpd, direct', T, async () => {
    const server = await startAiosmtpd();
    await within(sendCorpus(lib, { host: '127.0.0.1', port: server.port }, server, tmpDir(), 'aiosmtpd direct'), 20000, 'corpus');
  });
  test('smtp-server, direct', T, async () => {
    const server = await startSmtpServer();
    await within(sendCorpus(lib, { host: '127.0.0.1', port: server.port }, server, tmpDir(), 'smtp-server direct'), 20000, 'corpus');
  });
  test('aiosmtpd, through websockify', T, async () => {
    const server = await startAiosmtpd();
    const bridge = await startWebsockify(server.port);
    await within(sendCorpus(lib, { bridge: bridge.url }, server, tmpDir(), 'aiosmtpd bridge'), 20000, 'corpus');
  });
  test('smtp-server, through websockify', T, async () => {
    const server = await startSmtpServer();
    const bridge = await startWebsockify(server.port);
    await within(sendCorpus(lib, { bridge: bridge.url }, server, tmpDir(), 'smtp-server bridge'), 20000, 'corpus');
  });
});

describe('emailjs-style usage', () => {
  test('callbacks and a queue of several messages on one connection', T, async () => {
    const server = await startSmtpServer();
    let connections = 0;
    server.server.server.on('connection', () => connections++);
    const client = new lib.SMTPClient({ host: '127.0.0.1', port: server.port });
    const n = 5;
    const done = await within(
      new Promise((resolve) => {
        const results = [];
        for (let i = 0; i < n; i++) {
          client.send({ from: 'a@example.com', to: 'b@example.com', subject: `queued ${i}`, text: `body ${i}` }, (err, msg) => {
            results.push({ err, msg, i });
            if (results.length === n) resolve(results);
          });
        }
      }),
      15000,
      'queue',
    );
    for (const r of done) {
      assert.equal(r.err, null, String(r.err));
      assert.ok(r.msg instanceof lib.Message);
    }
    assert.deepEqual(done.map((r) => r.i), [0, 1, 2, 3, 4], 'callbacks in order');
    const got = server.messages();
    assert.equal(got.length, n);
    for (let i = 0; i < n; i++) assert.equal((await parse(got[i].data)).subject, `queued ${i}`);
    assert.equal(connections, 1, 'one connection for the whole queue');
    client.smtp.close();
  });

  // A scripted server for what real ones do too fast to test: it answers
  // QUIT only after `quitDelayMs`, or closes right after its EHLO reply.
  function scriptedServer({ quitDelayMs = 0, closeAfterEhlo = false } = {}) {
    const events = [];
    let connections = 0;
    const server = net.createServer((sock) => {
      connections++;
      let buf = '';
      let inData = false;
      sock.on('error', () => {});
      sock.write('220 scripted ESMTP\r\n');
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        let i;
        while ((i = buf.indexOf('\r\n')) !== -1) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (inData) {
            if (line === '.') {
              inData = false;
              events.push('message');
              sock.write('250 2.0.0 queued\r\n');
            }
            continue;
          }
          const verb = line.split(' ')[0].toUpperCase();
          if (verb === 'EHLO') {
            sock.write('250-scripted\r\n250 PIPELINING\r\n');
            if (closeAfterEhlo) sock.end();
          } else if (verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP') sock.write('250 2.0.0 ok\r\n');
          else if (verb === 'DATA') {
            inData = true;
            sock.write('354 go on\r\n');
          } else if (verb === 'QUIT') {
            events.push('quit');
            setTimeout(() => sock.end('221 2.0.0 bye\r\n'), quitDelayMs);
          } else sock.write('502 5.5.2 no\r\n');
        }
      });
    });
    return new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () =>
        resolve({
          port: server.address().port,
          events,
          connections: () => connections,
          close: () => server.close(),
        }),
      ),
    );
  }

  test('a message sent while the idle QUIT is in flight goes on a new connection (found by review)', T, async () => {
    const server = await scriptedServer({ quitDelayMs: 400 });
    try {
      const client = new lib.SMTPClient({ host: '127.0.0.1', port: server.port });
      const m = (subject) => ({ from: 'a@example.com', to: 'b@example.com', subject, text: 'body' });
      await within(client.sendAsync(m('first')), 10000, 'first');
      // The client QUITs after one idle second; the server answers 400 ms later.
      await within(
        (async () => {
          while (!server.events.includes('quit')) await new Promise((r) => setTimeout(r, 5));
        })(),
        10000,
        'the idle QUIT',
      );
      await within(client.sendAsync(m('second')), 10000, 'second');
      assert.deepEqual(server.events.filter((e) => e === 'message').length, 2);
      assert.equal(server.connections(), 2, 'the second message on a new connection');
      client.smtp.close();
    } finally {
      server.close();
    }
  });

  test("a message sent right after the user's own smtp.quit() goes on a new connection (found by review)", T, async () => {
    const server = await scriptedServer({ quitDelayMs: 200 });
    try {
      const client = new lib.SMTPClient({ host: '127.0.0.1', port: server.port });
      const m = (subject) => ({ from: 'a@example.com', to: 'b@example.com', subject, text: 'body' });
      await within(client.sendAsync(m('first')), 10000, 'first');
      client.smtp.quit();
      await within(client.sendAsync(m('second')), 10000, 'second');
      assert.equal(server.events.filter((e) => e === 'message').length, 2);
      assert.equal(server.connections(), 2);
      client.smtp.close();
    } finally {
      server.close();
    }
  });

  test('a server that closes after EHLO while a file attachment opens: the message fails, no endless reconnecting (found by review)', T, async () => {
    const server = await scriptedServer({ closeAfterEhlo: true });
    try {
      const file = path.join(tmpDir(), 'a.bin');
      writeFileSync(file, Buffer.alloc(100000, 7));
      const client = new lib.SMTPClient({ host: '127.0.0.1', port: server.port });
      await assert.rejects(
        within(client.sendAsync({ from: 'a@example.com', to: 'b@example.com', text: 'body', attachment: { path: file, name: 'a.bin' } }), 10000, 'send'),
        (e) => e.code === lib.SMTPErrorStates.CONNECTIONCLOSED || e.code === lib.SMTPErrorStates.NOCONNECTION,
      );
      assert.ok(server.connections() <= 4, `${server.connections()} connections`);
      client.smtp.close();
    } finally {
      server.close();
    }
  });

  test('a callback that throws does not stop the queue', T, async () => {
    const server = await startSmtpServer();
    // In a child process: the callback's exception is uncaught there (as it
    // is in emailjs), which the test runner would take as this test's.
    const script = `
      const lib = await import(${JSON.stringify(path.join(jsDir, 'index.js'))});
      const thrown = [];
      process.on('uncaughtException', (e) => thrown.push(e.message));
      const client = new lib.SMTPClient({ host: '127.0.0.1', port: ${server.port} });
      const m = (subject) => ({ from: 'a@example.com', to: 'b@example.com', subject, text: 'x' });
      client.send(m('one'), () => { throw new Error('from the user callback'); });
      const err = await new Promise((resolve) => client.send(m('two'), (e) => resolve(e)));
      console.log(JSON.stringify({ err: err && String(err), thrown }));
      client.smtp.close();
      process.exit(0);
    `;
    const { stdout } = await within(run(process.execPath, ['--input-type=module', '-e', script], { timeout: 20000 }), 25000, 'child');
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()), { err: null, thrown: ['from the user callback'] });
    assert.equal(server.messages().length, 2);
  });

  test('a logger that throws loses no event: the message is sent, its errors are uncaught', T, async () => {
    const server = await startSmtpServer();
    const script = `
      const lib = await import(${JSON.stringify(path.join(jsDir, 'index.js'))});
      const thrown = [];
      process.on('uncaughtException', (e) => thrown.push(e.message));
      // throws on every transcript line, the end of data's reply included
      const logger = () => {
        throw new Error('from the logger');
      };
      const client = new lib.SMTPClient({ host: '127.0.0.1', port: ${server.port}, logger });
      const err = await new Promise((resolve) => client.send({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 'x' }, (e) => resolve(e)));
      await new Promise((r) => setTimeout(r, 50));
      console.log(JSON.stringify({ err: err && String(err), thrown: thrown.length > 0 }));
      client.smtp.close();
      process.exit(0);
    `;
    const { stdout } = await within(run(process.execPath, ['--input-type=module', '-e', script], { timeout: 20000 }), 25000, 'child');
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()), { err: null, thrown: true });
    assert.equal(server.messages().length, 1);
  });

  test('greylisting: a 451 to RCPT is retried once, as emailjs does', T, async () => {
    const once = await startSmtpServer({ greylist: 1 });
    const client = new lib.SMTPClient({ host: '127.0.0.1', port: once.port });
    const msg = { from: 'a@example.com', to: 'b@example.com', subject: 'greylisted once', text: 'x' };
    await within(client.sendAsync(msg), 10000, 'greylisted send');
    assert.equal(once.rcptAttempts.get('b@example.com'), 2, 'RCPT offered twice');
    assert.equal(once.messages().length, 1, 'delivered exactly once');
    client.smtp.close();

    const always = await startSmtpServer({ greylist: 99 });
    const client2 = new lib.SMTPClient({ host: '127.0.0.1', port: always.port });
    const err = await within(client2.sendAsync({ ...msg, subject: 'greylisted always' }).catch((e) => e), 10000, 'greylisted twice');
    assert.ok(err instanceof lib.SMTPError, String(err));
    assert.equal(err.greylisted, true);
    assert.equal(err.smtpCode, 451);
    assert.equal(always.rcptAttempts.get('b@example.com'), 2, 'one retry, no more');
    assert.equal(always.messages().length, 0);
    client2.smtp.close();
  });

  test('a refused recipient among accepted ones fails the message and nothing is delivered, as emailjs', T, async () => {
    const server = await startSmtpServer({
      rcpt: (a, n) => (a.startsWith('bad') ? 550 : a.startsWith('grey') && n === 1 ? 451 : 0),
    });
    const client = new lib.SMTPClient({ host: '127.0.0.1', port: server.port });
    const err = await within(
      client.sendAsync({ from: 'a@example.com', to: 'ok@example.com, bad@example.com', subject: 'refused', text: 'x' }).catch((e) => e),
      10000,
      'refused send',
    );
    assert.ok(err instanceof lib.SMTPError, String(err));
    assert.equal(err.code, lib.SMTPErrorStates.BADRESPONSE);
    assert.equal(err.greylisted, false);
    assert.equal(server.messages().length, 0, 'delivered to no one');
    // A greylisted recipient among accepted ones: the message is tried again and reaches both.
    await within(
      client.sendAsync({ from: 'a@example.com', to: 'ok@example.com, grey@example.com', subject: 'greylisted', text: 'x' }),
      10000,
      'greylisted send',
    );
    assert.equal(server.rcptAttempts.get('grey@example.com'), 2);
    assert.deepEqual(server.messages().map((m) => m.to), [['ok@example.com', 'grey@example.com']]);
    // requireAllRecipients: false: the accepted recipient gets it, and the message says who was refused.
    const partial = new lib.SMTPClient({ host: '127.0.0.1', port: server.port, requireAllRecipients: false });
    const sent = await within(
      partial.sendAsync({ from: 'a@example.com', to: 'ok@example.com, bad2@example.com', subject: 'partial', text: 'x' }),
      10000,
      'partial send',
    );
    assert.deepEqual(sent.sent.recipients.map((r) => [r.address, r.accepted]), [['ok@example.com', true], ['bad2@example.com', false]]);
    assert.deepEqual(server.messages().map((m) => m.to), [['ok@example.com', 'grey@example.com'], ['ok@example.com']]);
    client.smtp.close();
    partial.smtp.close();
  });

  test('a user without a password means no AUTH, as emailjs', T, async () => {
    const server = await startSmtpServer();
    for (const auth of [{ user: 'u' }, { user: 'u', password: '' }]) {
      const client = new lib.SMTPClient({ host: '127.0.0.1', port: server.port, ...auth });
      await within(client.sendAsync({ from: 'a@example.com', to: 'b@example.com', subject: 'no auth', text: 'x' }), 10000, 'send');
      client.smtp.close();
    }
    assert.equal(server.messages().length, 2);
    assert.equal(server.logins.length, 0);
  });

  test('invalid messages get emailjs errors through the callback', T, async () => {
    const client = new lib.SMTPClient({ host: '127.0.0.1', port: 1 });
    const err = await new Promise((resolve) => client.send({ from: 'a@example.com', subject: 'x', text: 'x' }, (e) => resolve(e)));
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'message is not a valid Message instance');
    const err2 = await client.sendAsync(new lib.Message({ from: 'a@example.com', text: 'x' })).catch((e) => e);
    assert.match(err2.message, /at least one `to`, `cc`, or `bcc`/);
    assert.equal(typeof err2.code, 'string');
  });

  test('a closed port fails with COULDNOTCONNECT', T, async () => {
    const client = new lib.SMTPClient({ host: '127.0.0.1', port: 1, timeout: 3000 });
    const err = await within(
      client.sendAsync({ from: 'a@example.com', to: 'b@example.com', subject: 'x', text: 'x' }).catch((e) => e),
      10000,
      'connect failure',
    );
    assert.ok(err instanceof lib.SMTPError, String(err));
    assert.equal(err.code, lib.SMTPErrorStates.COULDNOTCONNECT);
  });

  for (const method of ['PLAIN', 'LOGIN', 'CRAM-MD5']) {
    test(`AUTH ${method}, checked by smtp-server`, T, async () => {
      const server = await startSmtpServer({ auth: { user: 'alice', pass: 's3cret' }, methods: [method] });
      const client = new lib.SMTPClient({
        host: '127.0.0.1',
        port: server.port,
        user: 'alice',
        password: 's3cret',
        authentication: [method],
        allowInsecureAuth: true,
      });
      await within(client.sendAsync({ from: 'alice@example.com', to: 'b@example.com', subject: method, text: 'auth' }), 15000, method);
      assert.equal(server.logins.at(-1).method, method);
      assert.equal(server.messages().at(-1).user, 'alice');
      client.smtp.close();
    });
  }

  test('AUTH XOAUTH2, checked by smtp-server', T, async () => {
    const server = await startSmtpServer({ auth: { user: 'alice', token: 'ya29.token' }, methods: ['XOAUTH2'] });
    const client = new lib.SMTPClient({
      host: '127.0.0.1',
      port: server.port,
      user: 'alice',
      xoauth2: 'ya29.token',
      allowInsecureAuth: true,
    });
    await within(client.sendAsync({ from: 'alice@example.com', to: 'b@example.com', subject: 'xoauth2', text: 'auth' }), 15000, 'xoauth2');
    assert.equal(server.logins.at(-1).method, 'XOAUTH2');
    client.smtp.close();
  });

  test('a wrong password fails with AUTHFAILED and no secret in the error', T, async () => {
    const server = await startSmtpServer({ auth: { user: 'alice', pass: 's3cret' }, methods: ['PLAIN'] });
    const logs = [];
    const client = new lib.SMTPClient({
      host: '127.0.0.1',
      port: server.port,
      user: 'alice',
      password: 'wrong-Pa55',
      allowInsecureAuth: true,
      logger: (...a) => logs.push(a.join(' ')),
    });
    const err = await within(client.sendAsync({ from: 'alice@example.com', to: 'b@example.com', subject: 'x', text: 'x' }).catch((e) => e), 15000, 'auth');
    assert.ok(err instanceof lib.SMTPError, String(err));
    assert.equal(err.code, lib.SMTPErrorStates.AUTHFAILED);
    const everything = JSON.stringify({ m: err.message, s: err.smtp, stack: err.stack }) + logs.join('\n');
    assert.ok(!everything.includes('wrong-Pa55'), 'password leaked');
    assert.ok(!everything.includes(Buffer.from('\0alice\0wrong-Pa55').toString('base64')), 'PLAIN blob leaked');
  });
});

describe('TLS', () => {
  let cert;
  before(() => {
    cert = testCertificate();
  });

  test('STARTTLS with the test certificate trusted', T, async () => {
    const server = await startSmtpServer({ starttls: true, key: cert.key, cert: cert.cert });
    const client = new lib.SMTPClient({ host: 'localhost', port: server.port, tls: { ca: cert.cert } });
    await within(client.sendAsync({ from: 'a@example.com', to: 'b@example.com', subject: 'starttls', text: 'secret' }), 15000, 'starttls');
    assert.equal(server.messages().at(-1).secure, true);
    client.smtp.close();
  });

  test('STARTTLS with an untrusted certificate fails by default', T, async () => {
    const server = await startSmtpServer({ starttls: true, key: cert.key, cert: cert.cert });
    const client = new lib.SMTPClient({ host: 'localhost', port: server.port, tls: true });
    const err = await within(client.sendAsync({ from: 'a@example.com', to: 'b@example.com', subject: 'x', text: 'x' }).catch((e) => e), 15000, 'bad cert');
    assert.ok(err instanceof lib.SMTPError, String(err));
    assert.equal(err.code, lib.SMTPErrorStates.CONNECTIONAUTH);
    assert.equal(server.messages().length, 0);
  });

  test('implicit TLS (ssl) verified; wrong host name fails', T, async () => {
    const server = await startSmtpServer({ secure: true, key: cert.key, cert: cert.cert });
    const ok = new lib.SMTPClient({ host: 'localhost', port: server.port, ssl: { ca: cert.cert } });
    await within(ok.sendAsync({ from: 'a@example.com', to: 'b@example.com', subject: 'ssl', text: 'x' }), 15000, 'ssl');
    assert.equal(server.messages().at(-1).secure, true);
    ok.smtp.close();
    const bad = new lib.SMTPClient({ host: 'localhost', port: server.port, ssl: true });
    const err = await within(bad.sendAsync({ from: 'a@example.com', to: 'b@example.com', subject: 'x', text: 'x' }).catch((e) => e), 15000, 'ssl bad');
    assert.equal(err.code, lib.SMTPErrorStates.CONNECTIONAUTH, String(err));
  });

  test('STARTTLS through a plain bridge is refused with an explanation', T, async () => {
    const client = new lib.SMTPClient({ bridge: 'ws://127.0.0.1:9', tls: true });
    const err = await client.sendAsync({ from: 'a@example.com', to: 'b@example.com', subject: 'x', text: 'x' }).catch((e) => e);
    assert.ok(err instanceof lib.SMTPError);
    assert.match(err.message, /STARTTLS cannot run through a WebSocket bridge/);
    assert.match(err.message, /--ssl-target/);
  });

  test('AUTH through a ws:// bridge on another host is refused, even with ssl (the hop to the bridge is in the clear)', T, async () => {
    const server = await startSmtpServer({ auth: { user: 'alice', pass: 's3cret' }, methods: ['PLAIN'] });
    const bridge = await startWebsockify(server.port);
    // The bridge is reached as `bridge.test` (another host, as far as the
    // client can tell); the WebSocket below takes it to the local bridge.
    const port = new URL(bridge.url).port;
    const Base = globalThis.WebSocket;
    globalThis.WebSocket = class extends Base {
      constructor(url, protocols) {
        super(String(url).replace('bridge.test', '127.0.0.1'), protocols);
      }
    };
    try {
      const opts = { bridge: `ws://bridge.test:${port}/`, ssl: true, user: 'alice', password: 's3cret', authentication: ['PLAIN'] };
      const refused = new lib.SMTPClient(opts);
      const err = await within(refused.sendAsync({ from: 'alice@example.com', to: 'b@example.com', subject: 'x', text: 'x' }).catch((e) => e), 15000, 'refused');
      assert.ok(err instanceof lib.SMTPError, String(err));
      assert.equal(err.code, lib.SMTPErrorStates.CONNECTIONAUTH, err.message);
      assert.equal(server.logins.length, 0, 'no credentials sent');
      refused.smtp.close(true);
      // The user may opt in.
      const optedIn = new lib.SMTPClient({ ...opts, allowInsecureAuth: true });
      await within(optedIn.sendAsync({ from: 'alice@example.com', to: 'b@example.com', subject: 'x', text: 'x' }), 15000, 'opted in');
      assert.equal(server.logins.at(-1).method, 'PLAIN');
      optedIn.smtp.close();
    } finally {
      globalThis.WebSocket = Base;
    }
  });

  test('implicit TLS through websockify --ssl-target', T, async () => {
    const server = await startSmtpServer({ secure: true, key: cert.key, cert: cert.cert });
    const bridge = await startWebsockify(server.port, { targetHost: 'localhost', sslTarget: true, env: { SSL_CERT_FILE: cert.certPath } });
    const client = new lib.SMTPClient({ bridge: bridge.url, ssl: true });
    await within(client.sendAsync({ from: 'a@example.com', to: 'b@example.com', subject: 'bridge tls', text: 'x' }), 15000, 'bridge ssl');
    assert.equal(server.messages().at(-1).secure, true);
    client.smtp.close();
  });
});
