// No network: the Message API, helpers, errors, and which SMTPConnection methods are refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { before, test } from 'node:test';
import { jsDir, loadSource, parse } from './helpers.mjs';

let lib;
before(async () => {
  lib = await loadSource();
});

test('exports', () => {
  for (const name of ['SMTPClient', 'SMTPConnection', 'Message', 'SMTPError', 'SMTPErrorStates', 'AUTH_METHODS', 'addressparser', 'getRFC2822Date', 'mimeWordEncode', 'mimeEncode', 'MimeographError']) {
    assert.ok(lib[name] !== undefined, name);
  }
  assert.deepEqual(Object.keys(lib.AUTH_METHODS), ['PLAIN', 'CRAM-MD5', 'LOGIN', 'XOAUTH2']);
  assert.equal(lib.SMTPErrorStates.CONNECTIONAUTH, 10);
  assert.equal(lib.SMTPErrorStates.COULDNOTCONNECT, 1);
});

test('SMTPError is an Error with code, smtp, previous', () => {
  const prev = new Error('inner');
  const e = lib.SMTPError.create('outer', lib.SMTPErrorStates.TIMEDOUT, prev, 'data');
  assert.ok(e instanceof Error);
  assert.equal(e.message, 'outer (inner)');
  assert.equal(e.code, 4);
  assert.equal(e.smtp, 'data');
  assert.equal(e.previous, prev);
});

test('checkValidity: emailjs messages, and stricter where emailjs is unsafe', () => {
  const ok = new lib.Message({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 't' });
  assert.deepEqual(ok.checkValidity(), { isValid: true, validationError: undefined });
  assert.equal(new lib.Message({ to: 'b@example.com', text: 't' }).checkValidity().validationError, 'Message must have a `from` header');
  assert.equal(
    new lib.Message({ from: 'a@example.com', text: 't' }).checkValidity().validationError,
    'Message must have at least one `to`, `cc`, or `bcc` header',
  );
  assert.equal(
    new lib.Message({ from: 'a@example.com', to: 'b@example.com', text: 't', attachment: { path: '/no/such/file' } }).checkValidity().validationError,
    '/no/such/file does not exist',
  );
  assert.equal(
    new lib.Message({ from: 'a@example.com', to: 'b@example.com', text: 't', attachment: { name: 'x' } }).checkValidity().validationError,
    'attachment has no data associated with it',
  );
  const injected = new lib.Message({ from: 'a@example.com', to: 'b@example.com', subject: 'hi\r\nBcc: victim@example.com', text: 't' });
  assert.equal(injected.checkValidity().isValid, false);
  let called = false;
  injected.valid((isValid, why) => {
    called = true;
    assert.equal(isValid, false);
    assert.ok(why);
  });
  assert.ok(called);
});

test('readAsync, stream, dates, message-id stable, dot lines intact', async () => {
  const date = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  const m = new lib.Message({ from: 'Zoë <a@example.com>', to: 'b@example.com', subject: 'Grüße', text: 'line\n.\nend', date });
  const text = await m.readAsync();
  assert.match(text, /^Date: Tue, 02 Jan 2024 03:04:05 \+0000\r$/m);
  const parsed = await parse(Buffer.from(text));
  assert.equal(parsed.subject, 'Grüße');
  assert.equal(parsed.from.value[0].name, 'Zoë');
  assert.equal(parsed.text.trimEnd(), 'line\n.\nend');
  const id = m.header['message-id'];
  assert.match(id, /^<.+@.+>$/);
  let streamed = '';
  await new Promise((resolve, reject) => {
    const s = m.stream();
    s.on('data', (c) => (streamed += c));
    s.on('end', resolve);
    s.on('error', reject);
  });
  assert.equal(streamed, await m.readAsync());
  assert.ok(streamed.includes(`Message-ID: ${id}`), 'same Message-ID on every build');
  let iterated = '';
  for await (const c of m.stream()) iterated += c;
  assert.equal(iterated, streamed);
  // RFC 2822 string dates are accepted too
  const m2 = new lib.Message({ from: 'a@example.com', to: 'b@example.com', text: 'x', date: 'Tue, 02 Jan 2024 03:04:05 +0000' });
  assert.match(await m2.readAsync(), /^Date: Tue, 02 Jan 2024 03:04:05 \+0000\r$/m);
});

test("header['message-id'] and header.date before the message is composed, as emailjs; the sent message has them (found by review)", async () => {
  const m = new lib.Message({ from: 'Ann <ann@example.com>', to: 'b@example.net', subject: 'x', text: 'hi', attachment: { data: 'a', name: 'a.txt' } });
  const id = m.header['message-id'];
  assert.match(id, /^<[A-Za-z0-9]+@example\.com>$/);
  assert.equal(m.header['message-id'], id, 'kept');
  const date = m.header.date;
  assert.equal(lib.isRFC2822Date(date), true, date);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(m.header.date, date, 'the date is fixed when first read');
  const text = await m.readAsync();
  assert.ok(text.includes(`\r\nMessage-ID: ${id}\r\n`), text);
  assert.ok(text.includes(`Date: ${date}\r\n`), text);
  assert.ok(Object.keys(m.header).includes('message-id'));
  // Given ones are kept as given; an invalid message has no id yet.
  const given = new lib.Message({ from: 'a@example.com', to: 'b@example.com', 'message-id': '<mine@x.org>', date: 0 });
  assert.deepEqual([given.header['message-id'], given.header.date], ['<mine@x.org>', 0]);
  assert.equal(new lib.Message({ to: 'b@example.com' }).header['message-id'], undefined);
  // Set after construction: used.
  const later = new lib.Message({ from: 'a@example.com', to: 'b@example.com', text: 'x' });
  later.header['message-id'] = '<later@x.org>';
  assert.match(await later.readAsync(), /^Message-ID: <later@x\.org>\r$/m);
});

test('attach() chains; alternative is the HTML body', async () => {
  const m = new lib.Message({ from: 'a@example.com', to: 'b@example.com', subject: 's', text: 'plain' })
    .attach({ data: '<p>html</p>', alternative: true })
    .attach({ data: new Uint8Array([0, 1, 2, 255]), name: 'b.bin', type: 'application/octet-stream' });
  assert.equal(m.alternative.type, 'text/html');
  const parsed = await parse(Buffer.from(await m.readBytesAsync()));
  assert.equal(parsed.html.trim(), '<p>html</p>');
  assert.deepEqual([...parsed.attachments[0].content], [0, 1, 2, 255]);
});

test('helpers', () => {
  assert.deepEqual(lib.addressparser('"B, C" <b@example.com>, d@example.com'), [
    { name: 'B, C', address: 'b@example.com' },
    { name: '', address: 'd@example.com' },
  ]);
  assert.equal(lib.getRFC2822Date(new Date(0), true), 'Thu, 01 Jan 1970 00:00:00 +0000');
  // emailjs's other date helpers and constants.
  assert.equal(lib.getRFC2822DateUTC(new Date(0)), 'Thu, 01 Jan 1970 00:00:00 +0000');
  assert.equal(lib.isRFC2822Date(lib.getRFC2822Date()), true);
  assert.equal(lib.isRFC2822Date('Thu, 1 Jan 1970 00:00 GMT'), true);
  assert.equal(lib.isRFC2822Date('1970-01-01T00:00:00Z'), false);
  assert.deepEqual([lib.MIMECHUNK, lib.MIME64CHUNK, lib.BUFFERSIZE], [76, 456, 12768]);
  assert.match(lib.mimeWordEncode('Grüße'), /^=\?utf-8\?[QB]\?.+\?=$/i);
  assert.equal(lib.mimeEncode('a=b ü'), 'a=3Db =C3=BC');
});

test('SMTPConnection: refused methods throw a clear SMTPError', () => {
  const c = new lib.SMTPConnection({ host: '127.0.0.1', port: 1 });
  for (const m of ['helo', 'send', 'command', 'parse_smtp_features']) {
    assert.throws(
      () => c[m](() => {}),
      (e) => e instanceof lib.SMTPError && e.notSupported === true && e.message.includes(`SMTPConnection.${m}() is not supported`),
      m,
    );
  }
  assert.throws(() => c.starttls(() => {}), /not supported/);
  assert.throws(() => c.login(() => {}, 'other', 'pw'), /not supported/);
  assert.equal(c.state(), lib.SMTPState.NOTCONNECTED);
  assert.throws(() => new lib.SMTPConnection({ password: 'x' }), /password/);
  assert.throws(() => new lib.SMTPConnection({ bridge: 'http://x' }), /ws:\/\//);
  // secrets stay behind functions
  const s = new lib.SMTPConnection({ user: 'u', password: 'hunter2' });
  assert.ok(!JSON.stringify(s).includes('hunter2'));
});

test('SMTPConnection low-level: connect, noop, quit against smtp-server', { timeout: 15000 }, async () => {
  const { startSmtpServer, cleanup } = await import('./helpers.mjs');
  try {
    const server = await startSmtpServer();
    const c = new lib.SMTPConnection({ host: '127.0.0.1', port: server.port });
    await new Promise((resolve, reject) => c.connect((err) => (err ? reject(err) : resolve())));
    assert.equal(c.state(), lib.SMTPState.CONNECTED);
    assert.ok(c.has_extn('8BITMIME') || c.has_extn('PIPELINING'));
    await new Promise((resolve, reject) => c.ehlo((err) => (err ? reject(err) : resolve())));
    const reply = await new Promise((resolve, reject) => c.noop((err, r) => (err ? reject(err) : resolve(r))));
    assert.equal(reply.code, 250);
    await new Promise((resolve, reject) => c.quit((err) => (err ? reject(err) : resolve())));
    assert.equal(c.state(), lib.SMTPState.NOTCONNECTED);
  } finally {
    await cleanup();
  }
});

test('WebSocketTransport: a bridge that picks another subprotocol is one rejection, not also a plain close (found by review)', async () => {
  class FakeWebSocket {
    constructor() {
      this.protocol = 'chat';
      this.readyState = 0;
      this.closed = false;
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.();
      }, 0);
    }
    close() {
      this.closed = true;
      this.readyState = 3;
    }
    send() {}
  }
  const t = new lib.WebSocketTransport({ url: 'ws://bridge.invalid/', WebSocket: FakeWebSocket });
  const closes = [];
  t.onClose = (e) => closes.push(e);
  await assert.rejects(t.open(), /subprotocol 'chat', expected 'binary'/);
  assert.deepEqual(closes, []);
  assert.equal(t._ws.closed, true);
});

test('Message.stream(): a late error listener still hears the failure; destroy() and destroySoon() as emailjs (found by review)', async () => {
  const failing = new lib.Message({ from: 'a@example.com', to: 'b@example.com', text: 't', attachment: [{ path: '/nonexistent/file.bin' }] });
  const s = failing.stream();
  await new Promise((r) => setTimeout(r, 50));
  const err = await new Promise((resolve, reject) => {
    s.on('error', resolve);
    s.on('end', () => reject(new Error('ended instead of failing')));
    setTimeout(() => reject(new Error('no error after 2 s: the late listener was never told')), 2000);
  });
  assert.match(err.message, /nonexistent/);

  // A big message, destroyed after its first chunk: an error says it was cut short.
  const big = new lib.Message({ from: 'a@example.com', to: 'b@example.com', text: 'x'.repeat(200000) });
  const events = [];
  await new Promise((resolve) => {
    const st = big.stream();
    st.on('data', () => {
      events.push('data');
      st.destroy();
    });
    st.on('error', (e) => events.push(`error ${e.message}`));
    st.on('end', () => events.push('end'));
    st.on('close', () => {
      events.push('close');
      resolve();
    });
  });
  assert.deepEqual(events, ['data', 'error message stream destroyed', 'close']);

  // destroySoon(): ends without the rest.
  const soon = [];
  await new Promise((resolve) => {
    const st = big.stream();
    st.on('data', () => {
      soon.push('data');
      st.destroySoon();
    });
    st.on('end', () => soon.push('end'));
    st.on('close', () => {
      soon.push('close');
      resolve();
    });
  });
  assert.deepEqual(soon, ['data', 'end', 'close']);
});

test('the default EHLO name is the host name when it is a usable domain, else localhost (found by review)', () => {
  // A child Node whose os.hostname() gives each name, as the package reads it.
  const script = `
    import os from 'node:os';
    import { syncBuiltinESMExports } from 'node:module';
    os.hostname = () => process.argv[1];
    syncBuiltinESMExports();
    const m = await import(${JSON.stringify(path.join(jsDir, 'index.js'))});
    process.stdout.write(new m.SMTPClient({ host: '127.0.0.1', port: 1 }).smtp.domain);`;
  const domain = (name) => execFileSync(process.execPath, ['--input-type=module', '-e', script, name], { encoding: 'utf8' });
  assert.equal(domain('mail.example.org'), 'mail.example.org');
  assert.equal(domain('vm-1'), 'vm-1');
  assert.equal(domain(''), 'localhost');
  assert.equal(domain('my_host'), 'localhost');
  assert.equal(domain('bad host'), 'localhost');
});

test('the WebSocket transport: an error event after the open waits for its close event, whose code decides (found by review)', async () => {
  const { WebSocketTransport, privateBridgeHop } = await import(path.join(jsDir, 'lib', 'transports', 'websocket.js'));
  // A scripted WebSocket: the test fires its events.
  class FakeWebSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.protocol = 'binary';
      this.readyState = 1;
      FakeWebSocket.last = this;
    }
    send() {}
    close() {}
  }
  const closed = async (events) => {
    const t = new WebSocketTransport({ url: 'ws://127.0.0.1:1/', WebSocket: FakeWebSocket });
    const opened = t.open();
    FakeWebSocket.last.onopen();
    await opened;
    const got = new Promise((resolve) => (t.onClose = resolve));
    events(FakeWebSocket.last);
    return got;
  };
  // A browser's abnormal close: error, then close 1006: a lost connection.
  const lost = await closed((ws) => {
    ws.onerror({ message: 'net::ERR_CONNECTION_RESET' });
    ws.onclose({ code: 1006, reason: '' });
  });
  assert.equal(lost?.code, 'ECONNRESET');
  assert.match(lost.message, /code 1006/);
  // A bridge failure (1011) after an error: not a lost connection.
  const failed = await closed((ws) => {
    ws.onerror({});
    ws.onclose({ code: 1011, reason: 'boom' });
  });
  assert.equal(failed?.code, undefined);
  assert.match(failed.message, /code 1011/);
  // An error with no close event after it still ends the connection.
  const alone = await closed((ws) => ws.onerror({ message: 'gone' }));
  assert.match(alone.message, /WebSocket error on bridge/);

  // Which bridge hops count as private (AUTH allowed with `ssl`).
  for (const url of ['wss://bridge.example/', 'ws://localhost:8025/', 'ws://LOCALHOST:1', 'ws://localhost.:1/', 'ws://127.0.0.1:1', 'ws://127.1.2.3/', 'ws://[::1]:1/']) {
    assert.equal(privateBridgeHop(url), true, url);
  }
  for (const url of ['ws://bridge.example/', 'ws://mail.localhost/', 'ws://10.0.0.1/', 'ws://[::ffff:127.0.0.1]/', 'not a url']) {
    assert.equal(privateBridgeHop(url), false, url);
  }
});

test('a key with a lone surrogate is refused with a readable message (found by review: the field rewrite garbled it)', async () => {
  const cases = [
    [{ from: 'a@b.example', to: 'd@e.example', text: 'x', ['x-\uD800']: 'v' }, 'options key'],
    [{ from: 'a@b.example', to: 'd@e.example', text: 'x', attachment: [{ data: 'x', headers: { ['x-\uD800']: 'v' } }] }, 'attachment[0].headers key'],
  ];
  for (const [options, field] of cases) {
    const err = await new lib.Message(options).readAsync().then(() => null, (e) => e);
    assert.equal(err?.code, 'INVALID_ARGUMENT', String(err));
    assert.equal(err.field, field);
    assert.match(err.message, /^a key of .* contains a lone surrogate \(invalid UTF-16\)$/);
  }
});
