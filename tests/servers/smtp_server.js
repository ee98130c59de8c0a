// An npm `smtp-server` server for tests/smtp_real_servers.rs.
//
// Usage: node smtp_server.js OUT_FILE OPTIONS_JSON
//
// OPTIONS_JSON is passed to SMTPServer (e.g. {"hidePIPELINING": true,
// "authMethods": ["CRAM-MD5"]}) plus "user"/"pass" checked by onAuth
// (PLAIN, LOGIN, CRAM-MD5 via validatePassword, XOAUTH2 via the token).
// Prints "PORT <n>" once listening; appends one JSON line per message to
// OUT_FILE: {"mail_from", "rcpt_tos", "mail_options", "data" (base64)}.
// Recipients whose local part is "reject" get 550.
"use strict";
const fs = require("fs");
const { SMTPServer } = require("smtp-server");

const out = process.argv[2];
const opts = JSON.parse(process.argv[3] || "{}");
const user = opts.user;
const pass = opts.pass;
delete opts.user;
delete opts.pass;

const server = new SMTPServer({
  hideSTARTTLS: true,
  allowInsecureAuth: true,
  authOptional: user === undefined,
  logger: false,
  ...opts,
  onAuth(auth, session, callback) {
    let ok = auth.username === user;
    if (auth.method === "CRAM-MD5") ok = ok && auth.validatePassword(pass);
    else if (auth.method === "XOAUTH2") ok = ok && auth.accessToken === pass;
    else ok = ok && auth.password === pass;
    if (!ok) return callback(new Error("Invalid username or password"));
    callback(null, { user: auth.username });
  },
  onRcptTo(address, session, callback) {
    if (address.address.split("@")[0] === "reject") {
      const err = new Error("no such user");
      err.responseCode = 550;
      return callback(err);
    }
    callback();
  },
  onData(stream, session, callback) {
    const chunks = [];
    stream.on("data", (c) => chunks.push(c));
    stream.on("end", () => {
      const record = {
        mail_from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
        rcpt_tos: session.envelope.rcptTo.map((r) => r.address),
        mail_options: Object.entries(session.envelope.mailFrom.args || {}).map(([k, v]) => `${k}=${v}`),
        data: Buffer.concat(chunks).toString("base64"),
      };
      fs.appendFileSync(out, JSON.stringify(record) + "\n");
      callback(null, "OK queued");
    });
  },
});
server.on("error", (e) => console.error(e));
server.listen(0, "127.0.0.1", () => {
  console.log(`PORT ${server.server.address().port}`);
});
