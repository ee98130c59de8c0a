import { NO_BODIES, SMTPConnection, SMTPState } from './connection.js';
import { MimeographError, SMTPError, SMTPErrorStates } from './errors.js';
import { Message } from './message.js';
import { addressparser } from './util.js';
import { optBool } from './validate.js';

/** How long a greylisted message waits before its one retry (emailjs: 300 ms). */
const GREYLIST_DELAY_MS = 300;
/** How long an idle connection stays open before QUIT (emailjs: 1 s). */
const IDLE_MS = 1000;

/**
 * emailjs's SMTPClient: a queue of messages sent one after the other over one
 * connection, opened on demand and closed (QUIT) after one idle second.
 */
export class SMTPClient {
  constructor(server = {}) {
    /** @type {SMTPConnection} */
    this.smtp = new SMTPConnection(server);
    /**
     * A message whose connection the server closed before the end of its
     * data was sent, or whose MAIL on a reused connection got a `421` (the
     * race with the server's idle timeout), is tried once more on a new
     * connection (as the native clients' `reconnect_retry`, on by default).
     */
    this.reconnectRetry = optBool(server.reconnectRetry, 'reconnectRetry') ?? true;
    this.queue = [];
    this.sending = false;
    this.ready = false;
    this.timer = null;
    /** When the queue last became empty on an open connection (ms), or null. */
    this._idleSince = null;
    /**
     * Waiting for a QUIT's connection to close (see _waitForQuit): a
     * message queued meanwhile goes on a new connection (the engine refuses
     * a message after QUIT).
     */
    this._quitting = false;
  }

  /** emailjs's send(message, callback(err, message)). `message` may be a Message or its options. */
  send(msg, callback) {
    const cb = typeof callback === 'function' ? callback : () => {};
    let message = null;
    try {
      message = msg instanceof Message ? msg : this._canMakeMessage(msg) ? new Message(msg) : null;
    } catch {
      message = null;
    }
    if (message == null) {
      cb(new MimeographError('message is not a valid Message instance', 'INVALID_MESSAGE', 'message'), msg);
      return;
    }
    // The check composes the message; it keeps what it built for the send
    // below when that starts now (one composition per message).
    const { error } = message._validity(true);
    try {
      if (error) {
        cb(error, msg);
        return;
      }
      // The check above composed the message, which has a recipient then
      // (else INVALID_MESSAGE): the stack's addresses are parsed only if
      // someone reads them.
      this.queue.push(new LazyMessageStack(this, message, cb.bind(this)));
      this._poll();
    } finally {
      // Not taken (queued behind others): composed again when its turn
      // comes, from the message as it is then.
      message._releasePrebuilt();
    }
  }

  /** emailjs's sendAsync(message): resolves to the Message once the server accepted it. */
  sendAsync(msg) {
    return new Promise((resolve, reject) => {
      this.send(msg, (err, m) => (err != null ? reject(err) : resolve(m)));
    });
  }

  /** emailjs's createMessageStack (the envelope itself is computed again by the engine). */
  createMessageStack(message, callback = () => {}) {
    const fromList = addressparser(message.header.from);
    const stack = { message, to: [], from: fromList[0]?.address, callback: callback.bind(this) };
    const { to, cc, bcc, 'return-path': returnPath } = message.header;
    const add = (list) => {
      for (const x of flattenGroups(addressparser(list))) {
        if (!stack.to.some((y) => y.address === x.address)) stack.to.push(x);
      }
    };
    for (const list of [to, cc, bcc]) {
      if ((typeof list === 'string' || Array.isArray(list)) && list.length > 0) add(list);
    }
    if (typeof returnPath === 'string' && returnPath.length > 0) {
      const parsed = addressparser(returnPath);
      if (parsed.length > 0) stack.returnPath = parsed[0].address;
    }
    return stack;
  }

  _poll() {
    if (this.queue.length) {
      this._idleSince = null;
      const state = this.smtp.state();
      if (state === SMTPState.NOTCONNECTED) this._connect(this.queue[0]);
      else if (state === SMTPState.CONNECTED && !this.sending && this.ready) {
        // A QUIT in flight (ours when idle, or the user's smtp.quit()): the
        // engine takes no message after it; wait for the close, then
        // connect again.
        if (this.smtp._quitRequested) this._waitForQuit();
        else this._sendmail(this.queue.shift());
      }
    } else if (this.smtp.state() === SMTPState.CONNECTED) {
      // wait around one second in case something comes in, then QUIT
      // (one timer for a run of messages, not one per message: it checks
      // when it fires, and waits again for what is left of the second)
      this._idleSince = Date.now();
      if (this.timer == null) this._armIdle(IDLE_MS);
    } else {
      this._idleSince = null;
    }
  }

  _armIdle(delay) {
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this._idleSince == null || this.queue.length || this.sending) return;
      const left = this._idleSince + IDLE_MS - Date.now();
      if (left > 0) this._armIdle(left);
      else if (this.smtp.state() === SMTPState.CONNECTED) this._waitForQuit();
    }, delay);
  }

  /**
   * Sends QUIT (again: harmless when it was asked already) and polls once
   * the connection is gone (closed after the 221, or failed): what was
   * queued meanwhile connects again. One wait at a time.
   */
  _waitForQuit() {
    if (this._quitting) return;
    this._quitting = true;
    this.smtp.quit(() => {
      this._quitting = false;
      this._poll();
    });
  }

  _connect(stack) {
    this.ready = false;
    this.smtp.connect((err) => {
      if (!err) {
        this.ready = true;
        this._poll();
      } else {
        // fail this message, then try the next one on a new connection
        const i = this.queue.indexOf(stack);
        if (i !== -1) this.queue.splice(i, 1);
        this._callBack(stack, err);
      }
    });
  }

  _canMakeMessage(msg) {
    return Boolean(
      msg &&
        msg.from &&
        (msg.to || msg.cc || msg.bcc) &&
        (msg.text !== undefined || this._containsInlinedHtml(msg.attachment)),
    );
  }

  _containsInlinedHtml(attachment) {
    return Array.isArray(attachment)
      ? attachment.some((a) => this._isAttachmentInlinedHtml(a))
      : this._isAttachmentInlinedHtml(attachment);
  }

  _isAttachmentInlinedHtml(attachment) {
    return Boolean(attachment && (attachment.data || attachment.path) && attachment.alternative === true);
  }

  _sendmail(stack) {
    this.sending = true;
    // What send() composed to check the message goes out now, without a
    // promise turn (the connection is ready: _poll checked).
    const prebuilt = stack.message._takePrebuilt();
    if (prebuilt) {
      this._offer(stack, prebuilt, NO_BODIES);
      return;
    }
    // `path`/`stream` attachments are not read here: the connection reads
    // them a piece at a time while the message goes out.
    stack.message._buildForSend().then(
      ({ built, bodies }) => {
        if (this.smtp.state() !== SMTPState.CONNECTED) {
          built.free?.();
          for (const b of bodies) {
            b.source.close().catch(() => {});
            b.feed?.free?.();
          }
          this.sending = false;
          if (stack.rebuilt) {
            // Twice the connection went away while the message was being
            // prepared (a server that closes right after its greeting or
            // EHLO): fail it rather than reconnect forever.
            this._senddone(new SMTPError('the connection closed before the message could be sent', SMTPErrorStates.CONNECTIONCLOSED), stack);
            return;
          }
          // the connection went away meanwhile: nothing of the message
          // reached the server; once more on a new one
          stack.rebuilt = true;
          this._retry(stack);
          return;
        }
        this._offer(stack, built, bodies);
      },
      (err) => this._senddone(err, stack),
    );
  }

  /** Hands the composed message to the connection. */
  _offer(stack, built, bodies) {
    this.smtp._sendWasmMessage(
      built,
      (err, sent, failure) => {
        if (!err) stack.message.sent = sent;
        this._senddone(err ?? null, stack, failure);
      },
      bodies,
    );
  }

  /**
   * `failure` (from the connection, for a message the engine failed):
   * `began`, its transaction began (or the session is not over); `reused`,
   * it was not the first message on its connection.
   */
  _senddone(err, stack, failure) {
    this.sending = false;
    // As the native clients (src/native/session.rs): never again once the
    // end of the data was sent (the server may have the message), nor when
    // a stream was partly read.
    const resendable = err && failure && !err.outcomeUnknown && !err.streamConsumed;
    if (resendable && failure.reused) {
      if (!failure.began && !stack.requeued) {
        // A reused connection failed before this message's transaction
        // began (the RSET after the previous, failed message was refused,
        // or the server closed it while idle): nothing of the message
        // reached the server. Offer it on a new connection.
        stack.requeued = true;
        this._retry(stack);
        return;
      }
      if (this.reconnectRetry && !stack.reconnectRetried && isIdleClose(err)) {
        // The server's 421 answered the MAIL of a reused connection (or came
        // unasked): nothing of the message was accepted. Once more, on a
        // new connection.
        stack.reconnectRetried = true;
        this._retry(stack);
        return;
      }
    }
    if (resendable && this.reconnectRetry && !stack.reconnectRetried && isPlainClose(err)) {
      // The server closed (or reset) the connection, with no reply, before
      // the end of the message's data was sent: a transaction without its
      // end of data is never delivered. Once more, on a new connection,
      // whether or not the connection was reused.
      stack.reconnectRetried = true;
      this._retry(stack);
      return;
    }
    // A stream already partly read cannot be sent again (files and Blobs can).
    if (err?.greylisted && !stack.greylistRetried && !err.streamConsumed) {
      // emailjs: a greylisting 450/451 is tried once more after a short delay.
      stack.greylistRetried = true;
      setTimeout(() => {
        this.queue.unshift(stack);
        this._poll();
      }, GREYLIST_DELAY_MS);
      return;
    }
    this._callBack(stack, err);
  }

  /**
   * The message's callback, then the next message: a callback that throws
   * still lets the queue go on (its exception is not caught).
   */
  _callBack(stack, err) {
    try {
      stack.callback(err, stack.message);
    } finally {
      this._poll();
    }
  }

  /** Offers `stack` again first (on a new connection once the failed one is gone). */
  _retry(stack) {
    this.queue.unshift(stack);
    this._poll();
  }
}

/** A 421 before anything of the message was accepted: unasked, or the answer to its MAIL. */
function isIdleClose(err) {
  return err.kind === 'ServiceClosing' && (err.command == null || err.command.startsWith('MAIL '));
}

/**
 * The server closed the connection without a reply mid-transaction (the
 * engine's `Closed`): an orderly close, or one the transport reports as the
 * peer's (reset, broken pipe, aborted, not connected), as the native
 * clients' `is_peer_close` (src/native/session.rs); any other transport
 * error is not retried.
 */
function isPlainClose(err) {
  return err.kind === 'Closed' && (err.previous == null || PEER_CLOSE_CODES.has(err.previous.code));
}

/** Node's codes for a connection the peer ended (see isPlainClose). */
const PEER_CLOSE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ENOTCONN']);

/** A queued message: emailjs's stack, with `from`, `to` and `returnPath` computed when read. */
class LazyMessageStack {
  constructor(client, message, callback) {
    this.message = message;
    this.callback = callback;
    this._client = client;
    this._parsed = null;
  }

  _stack() {
    return (this._parsed ??= this._client.createMessageStack(this.message));
  }

  get from() {
    return this._stack().from;
  }

  get to() {
    return this._stack().to;
  }

  get returnPath() {
    return this._stack().returnPath;
  }
}

function flattenGroups(list) {
  const out = [];
  for (const x of list) {
    if (Array.isArray(x.group)) out.push(...flattenGroups(x.group));
    else if (x.address) out.push(x);
  }
  return out;
}
