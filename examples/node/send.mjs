// Sends one message with emailjs's API, directly (node:net / node:tls) or
// through a websockify bridge.
//
//   node examples/node/send.mjs --host smtp.example.com --port 587 --tls \
//       --user me@example.com --from me@example.com --to you@example.com
//   SMTP_PASSWORD=... is read from the environment (never from argv).
//   --bridge ws://127.0.0.1:8025   sends through a websockify bridge instead.
//   --attach FILE                  attaches a file (read with node:fs).
//
// Run scripts/build-pkg.sh first (the example imports ../../js/index.js; an
// installed package is imported as 'mimeograph').
import { parseArgs } from 'node:util';
import { Message, SMTPClient } from '../../js/index.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    ssl: { type: 'boolean', default: false },
    tls: { type: 'boolean', default: false },
    bridge: { type: 'string' },
    user: { type: 'string' },
    from: { type: 'string', default: 'me@example.com' },
    to: { type: 'string', default: 'you@example.com' },
    subject: { type: 'string', default: 'Hello from mimeograph' },
    text: { type: 'string', default: 'Sent with mimeograph (Rust compiled to WebAssembly).' },
    attach: { type: 'string' },
    'allow-insecure-auth': { type: 'boolean', default: false },
  },
});

const client = new SMTPClient({
  host: values.host,
  port: values.port ? Number(values.port) : undefined,
  ssl: values.ssl,
  tls: values.tls,
  bridge: values.bridge,
  user: values.user,
  password: process.env.SMTP_PASSWORD,
  allowInsecureAuth: values['allow-insecure-auth'],
  logger: (line) => console.error(line),
});

const message = new Message({
  from: values.from,
  to: values.to,
  subject: values.subject,
  text: values.text,
  attachment: values.attach ? [{ path: values.attach }] : [],
});

// emailjs's callback style; `await client.sendAsync(message)` works too.
client.send(message, (err, msg) => {
  if (err) {
    console.error(`not sent: ${err.name} (code ${err.code}): ${err.message}`);
    process.exitCode = 1;
  } else {
    console.log(`sent ${msg.header['message-id']}`);
  }
  client.smtp.close();
});
