// emailjs's low-level SMTPConnection methods (mail, rcpt, data, message,
// data_end, rset, help, verify, expn) against real servers; what arrived is
// checked with mailparser.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cleanup, loadSource, parse, startAiosmtpd, startSmtpServer, within } from './helpers.mjs';

const T = { timeout: 30000 };
let lib;
before(async () => {
  lib = await loadSource();
});
after(cleanup);

/** Calls `fn(callback)` and resolves with the callback's arguments. */
function call(fn) {
  return new Promise((resolve) => fn((...args) => resolve(args)));
}

/** Resolves with (data, message) or rejects with the error. */
async function ok(fn) {
  const [err, data, message] = await call(fn);
  if (err) throw err;
  return { data, message };
}

const BODY =
  'From: a@example.com\r\nTo: b@example.com\r\nSubject: low level\r\n\r\n' +
  'first\r\n.\r\n..two dots\n.leading dot\rlast line';

async function session(server, label) {
  const c = new lib.SMTPConnection({ host: '127.0.0.1', port: server.port });
  await ok((cb) => c.connect(cb));
  // Misuse before MAIL: typed error, nothing sent, session goes on.
  const [early] = await call((cb) => c.rcpt(cb, '<b@example.com>'));
  assert.ok(early instanceof lib.SMTPError, label);
  assert.equal(early.code, lib.SMTPErrorStates.ERROR);
  assert.match(early.message, /MAIL FROM/);
  assert.throws(() => c.message('x'), (e) => e instanceof lib.SMTPError && /outside DATA/.test(e.message));
  // CR/LF injection is refused.
  const [inj] = await call((cb) => c.mail(cb, '<a@example.com>\r\nRCPT TO:<evil@example.com>'));
  assert.ok(inj instanceof lib.SMTPError && /invalid/.test(inj.message), String(inj));

  const mail = await ok((cb) => c.mail(cb, '<a@example.com>'));
  assert.match(mail.data, /^250/);
  await ok((cb) => c.rcpt(cb, '<b@example.com>'));
  await ok((cb) => c.rcpt(cb, 'c@example.com'));
  const data = await ok((cb) => c.data(cb));
  assert.match(data.data, /^354/);
  // Split anywhere, including inside CRLF and before a dot.
  c.message(BODY.slice(0, 60));
  c.message(BODY.slice(60, 61));
  c.message(Buffer.from(BODY.slice(61, 75)));
  c.message(BODY.slice(75));
  const end = await ok((cb) => c.data_end(cb));
  assert.match(end.data, /^250/, label);
  await ok((cb) => c.rset(cb));
  // A second transaction with the null path and a parameter.
  await ok((cb) => c.mail(cb, '<> BODY=8BITMIME'));
  await ok((cb) => c.rcpt(cb, '<d@example.com>'));
  await ok((cb) => c.data(cb));
  c.message('Subject: second\r\n\r\n.\r\nbye\r\n');
  await ok((cb) => c.data_end(cb));
  // help/verify/expn: the server's answer, as emailjs reports it.
  const [helpErr, helpData] = await call((cb) => c.help(cb));
  assert.ok(helpErr === null ? /^21[14]/.test(helpData) : helpErr.code === lib.SMTPErrorStates.BADRESPONSE, label);
  const [vErr, vData] = await call((cb) => c.verify('b@example.com', cb));
  assert.ok(vErr === null ? /^25[012]/.test(vData) : vErr.code === lib.SMTPErrorStates.BADRESPONSE, label);
  const [xErr] = await call((cb) => c.expn('staff', cb));
  if (xErr) {
    assert.equal(xErr.code, lib.SMTPErrorStates.BADRESPONSE);
    assert.match(xErr.message, /bad response on command 'EXPN'/);
    assert.ok(xErr.smtpCode >= 500);
  }
  const [quitErr] = await call((cb) => c.quit(cb));
  assert.equal(quitErr ?? null, null);
  assert.equal(c.state(), lib.SMTPState.NOTCONNECTED);
}

async function checkReceived(messages) {
  assert.equal(messages.length, 2);
  assert.equal(messages[0].from, 'a@example.com');
  assert.deepEqual(messages[0].to, ['b@example.com', 'c@example.com']);
  const raw = messages[0].data.toString('latin1');
  // Dot-stuffing undone by the server: the lines are back as written.
  assert.ok(raw.includes('first\r\n.\r\n..two dots\r\n.leading dot\r\nlast line'), JSON.stringify(raw));
  const parsed = await parse(messages[0].data);
  assert.equal(parsed.subject, 'low level');
  assert.equal(parsed.text.replace(/\r?\n$/, ''), 'first\n.\n..two dots\n.leading dot\nlast line');
  assert.ok(['', '<>'].includes(messages[1].from), messages[1].from); // the null path (aiosmtpd keeps its brackets)
  assert.deepEqual(messages[1].to, ['d@example.com']);
  const second = await parse(messages[1].data);
  assert.equal(second.subject, 'second');
  assert.equal(second.text.trim(), '.\nbye');
}

describe('SMTPConnection low-level session', () => {
  test('smtp-server', T, async () => {
    const server = await startSmtpServer();
    await within(session(server, 'smtp-server'), 20000, 'session');
    await checkReceived(server.messages());
  });
  test('aiosmtpd', T, async () => {
    const server = await startAiosmtpd();
    await within(session(server, 'aiosmtpd'), 20000, 'session');
    await checkReceived(server.messages());
  });
  test('a rejected recipient and a refused DATA are BADRESPONSE errors', T, async () => {
    const server = await startSmtpServer();
    server.server.onRcptTo = (addr, s, cb) =>
      addr.address.startsWith('no') ? cb(Object.assign(new Error('no such user'), { responseCode: 550 })) : cb();
    const c = new lib.SMTPConnection({ host: '127.0.0.1', port: server.port });
    await ok((cb) => c.connect(cb));
    await ok((cb) => c.mail(cb, '<a@example.com>'));
    const [err] = await call((cb) => c.rcpt(cb, '<nobody@example.com>'));
    assert.equal(err.code, lib.SMTPErrorStates.BADRESPONSE);
    assert.equal(err.smtpCode, 550);
    assert.match(err.message, /bad response on command 'RCPT'/);
    // No accepted recipient: data() is refused before anything is sent.
    const [derr] = await call((cb) => c.data(cb));
    assert.equal(derr.code, lib.SMTPErrorStates.ERROR);
    assert.match(derr.message, /no recipient/);
    await ok((cb) => c.rset(cb));
    await ok((cb) => c.noop(cb));
    await call((cb) => c.quit(cb));
    assert.equal(server.messages().length, 0);
  });
  test('quit() during DATA content drops the connection, and nothing is delivered (found by review)', T, async () => {
    const server = await startSmtpServer();
    const c = new lib.SMTPConnection({ host: '127.0.0.1', port: server.port });
    await ok((cb) => c.connect(cb));
    await ok((cb) => c.mail(cb, '<a@example.com>'));
    await ok((cb) => c.rcpt(cb, '<b@example.com>'));
    await ok((cb) => c.data(cb));
    c.message('Subject: cut short\r\n\r\nhalf a message\r\n');
    const [qerr] = await within(call((cb) => c.quit(cb)), 5000, 'quit');
    assert.equal(qerr?.code, lib.SMTPErrorStates.CONNECTIONCLOSED);
    assert.match(qerr.message, /QUIT during message content/);
    assert.equal(c.state(), lib.SMTPState.NOTCONNECTED);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(server.messages().length, 0);
  });
  test('a NOOP refused now fails its own callback only (found by review)', T, async () => {
    const server = await startSmtpServer();
    const c = new lib.SMTPConnection({ host: '127.0.0.1', port: server.port });
    await ok((cb) => c.connect(cb));
    // The MAIL reply is still awaited: the engine refuses the NOOP.
    const mail = call((cb) => c.mail(cb, '<a@example.com>'));
    const [nerr] = await call((cb) => c.noop(cb));
    assert.equal(nerr.code, lib.SMTPErrorStates.ERROR);
    assert.match(nerr.message, /NOOP not sent/);
    const [merr] = await mail;
    assert.equal(merr, null);
    await ok((cb) => c.rset(cb));
    await ok((cb) => c.noop(cb));
    // The connection is not poisoned: QUIT ends it cleanly.
    const [qerr] = await call((cb) => c.quit(cb));
    assert.equal(qerr, null);
  });

  test("emits 'close' when a connection ends, as emailjs's EventEmitter", T, async () => {
    const server = await startSmtpServer();
    const c = new lib.SMTPConnection({ host: '127.0.0.1', port: server.port });
    let closes = 0;
    const once = [];
    c.on('close', () => closes++);
    c.once('close', () => once.push(1));
    await ok((cb) => c.connect(cb));
    assert.equal(closes, 0);
    await call((cb) => c.quit(cb));
    assert.equal(closes, 1);
    // Again: a second connection, closed by close().
    await ok((cb) => c.connect(cb));
    c.close();
    assert.deepEqual([closes, once.length], [2, 1]);
    // A connection that never opened emits nothing; removed listeners are not called.
    const counter = () => closes++;
    c.off('close', counter);
    c.close();
    assert.equal(closes, 2);
    assert.equal(c.listenerCount('close'), 1);
  });

  test("a 'close' listener that connects again keeps that connection (found by review)", T, async () => {
    const server = await startSmtpServer();
    const c = new lib.SMTPConnection({ host: '127.0.0.1', port: server.port });
    await ok((cb) => c.connect(cb));
    let closes = 0;
    const again = new Promise((resolve) => {
      c.once('close', () => {
        closes++;
        c.connect((err) => resolve(err));
      });
    });
    c.on('close', () => closes++);
    c.close();
    assert.equal(await again, null);
    assert.equal(c.state(), lib.SMTPState.CONNECTED);
    assert.equal(closes, 2, 'two listeners, one close');
    // connect() on an open connection, with a listener that connects: one new connection, both callbacks ok.
    c.once('close', () => c.connect(() => {}));
    const [err] = await call((cb) => c.connect(cb));
    assert.equal(err, null);
    assert.equal(c.state(), lib.SMTPState.CONNECTED);
    await call((cb) => c.quit(cb));
  });
});
