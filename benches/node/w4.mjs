// W4 Node senders (issue 7): sends W1 messages one after the other over one
// connection and prints one JSON line {"sender", "sent", "seconds",
// "cpuSeconds"}. Run by
// `cargo bench --features tokio --bench smtp` (benches/smtp/senders.rs)
// against its sink; by hand against a sink started with
// `cargo bench --features tokio --bench smtp -- --sink pc:quick:2525`:
//
//   node benches/node/w4.mjs --sender mimeograph-js|nodemailer|emailjs \
//        [--host 127.0.0.1] --port 2525 [--count 2000] [--cap 10]
//
// The clock runs from before the connection is opened to the last
// acceptance; each message is built just before it is sent.

import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    sender: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    count: { type: 'string', default: '2000' },
    cap: { type: 'string', default: '10' },
  },
});
const host = values.host;
const port = Number(values.port);
const count = Number(values.count);
const capMs = Number(values.cap) * 1000;
if (!values.sender || !Number.isInteger(port) || port <= 0) {
  console.error('usage: node w4.mjs --sender NAME --port PORT [--host H] [--count N] [--cap SECS]');
  process.exit(2);
}

// The W1 message, as benches/smtp/senders.rs builds it.
const from = 'Ann Sender <ann@example.com>';
const to = 'Bob Receiver <bob@example.net>';
const subject = (i) => `W4 message number ${i}`;
function w1Text() {
  let t = '';
  for (let i = 0; i < 32; i++) {
    const dot = i === 16 ? '.' : '';
    const line = `${dot}Line ${String(i).padStart(2, '0')}: the quick brown fox jumps over the lazy dog `;
    t += `${line.padEnd(63, 'x')}\n`;
  }
  if (t.length !== 2048) throw new Error(`W1 text is ${t.length} octets`);
  return t;
}
const text = w1Text();

/** CPU seconds (user + system) the process used since `cpu0`. */
function cpuSince(cpu0) {
  const d = process.cpuUsage(cpu0);
  return (d.user + d.system) / 1e6;
}

/** Sends with an emailjs-style client (emailjs or the mimeograph package). */
async function emailjsLike(SMTPClient) {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const client = new SMTPClient({ host, port, ssl: false, tls: false, timeout: 30000 });
  let sent = 0;
  while (sent < count && performance.now() - start < capMs) {
    const m = await client.sendAsync({ from, to, subject: subject(sent), text });
    if (!m) throw new Error('no message returned');
    sent++;
  }
  const seconds = (performance.now() - start) / 1000;
  const cpuSeconds = cpuSince(cpu0);
  await new Promise((resolve) => {
    client.smtp.quit(() => resolve());
    setTimeout(resolve, 2000).unref();
  });
  return { sent, seconds, cpuSeconds };
}

async function nodemailer() {
  const { default: nm } = await import('nodemailer');
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const transporter = nm.createTransport({
    host,
    port,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: 1,
    maxMessages: Infinity,
  });
  let sent = 0;
  while (sent < count && performance.now() - start < capMs) {
    const info = await transporter.sendMail({ from, to, subject: subject(sent), text });
    if (!info.accepted?.length) throw new Error(`not accepted: ${JSON.stringify(info)}`);
    sent++;
  }
  const seconds = (performance.now() - start) / 1000;
  const cpuSeconds = cpuSince(cpu0);
  transporter.close();
  return { sent, seconds, cpuSeconds };
}

let result;
switch (values.sender) {
  case 'mimeograph-js': {
    const { SMTPClient } = await import('../../js/index.js');
    result = await emailjsLike(SMTPClient);
    break;
  }
  case 'emailjs': {
    const { SMTPClient } = await import('emailjs');
    result = await emailjsLike(SMTPClient);
    break;
  }
  case 'nodemailer':
    result = await nodemailer();
    break;
  default:
    console.error(`unknown sender ${values.sender}`);
    process.exit(2);
}
console.log(JSON.stringify({ sender: values.sender, ...result }));
// Pools and idle timers may keep the loop alive: the result is out.
setTimeout(() => process.exit(0), 200).unref();
