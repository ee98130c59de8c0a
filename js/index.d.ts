// TypeScript declarations for `mimeograph` (both entries: index.js and browser.js).

/// <reference lib="dom" />

// ---------------------------------------------------------------- errors ----

/** emailjs's error states: the numeric `code` of an {@link SMTPError}. */
export declare const SMTPErrorStates: {
  readonly COULDNOTCONNECT: 1;
  readonly BADRESPONSE: 2;
  readonly AUTHFAILED: 3;
  readonly TIMEDOUT: 4;
  readonly ERROR: 5;
  readonly NOCONNECTION: 6;
  readonly AUTHNOTSUPPORTED: 7;
  readonly CONNECTIONCLOSED: 8;
  readonly CONNECTIONENDED: 9;
  readonly CONNECTIONAUTH: 10;
};
export type SMTPErrorState = (typeof SMTPErrorStates)[keyof typeof SMTPErrorStates];

/** The engine's description of an SMTP failure (no secrets in it). */
export interface SmtpErrorInfo {
  emailjsCode: number;
  kind: string;
  message: string;
  smtpCode: number | null;
  enhancedCode: string | null;
  command: string | null;
  retryable: boolean;
  /** A 450/451 to MAIL or RCPT with nothing accepted; SMTPClient retries it once after 300 ms. */
  greylisted: boolean;
  recipients?: Array<{ address: string; reply: SmtpReply }>;
}

/** An SMTP error, as emailjs's (`code`, `smtp`, `previous`), with the engine's details. */
export declare class SMTPError extends Error {
  constructor(message: string, code?: number, previous?: Error | null, smtp?: unknown);
  name: 'SMTPError';
  code: number;
  /** The engine's {@link SmtpErrorInfo} when the error came from the server or the engine. */
  smtp: unknown;
  previous: Error | null;
  /** Set on errors thrown by SMTPConnection methods the engine cannot do. */
  notSupported?: true;
  /** The argument at fault, when a low-level command refused one (e.g. "from", "address", "data"). */
  field?: string;
  /**
   * The engine's error kind (its Rust variant), e.g. "Reply", "Timeout",
   * "AllRecipientsRejected". "BodyTimeout" (code TIMEDOUT): a `stream` or
   * `path` attachment gave no data for `timeout` ms while its message was
   * being sent; the message was not sent (no end of data: the connection is
   * dropped, or with BDAT chunks reset) and the stream is destroyed.
   */
  kind?: string;
  smtpCode?: number | null;
  enhancedCode?: string | null;
  /** The command a reply refused, or ("BodyTimeout") whose content stalled: "DATA", "BDAT n LAST", "BDAT". */
  command?: string | null;
  retryable?: boolean;
  greylisted?: boolean;
  /**
   * True when the connection failed after the end of the message's data was
   * sent and before the server's verdict was read: the server may have
   * accepted the message. It is never resent automatically.
   */
  outcomeUnknown?: boolean;
  recipients?: Array<{ address: string; reply: SmtpReply }>;
  static create(message: string, code: number, error?: Error | null, smtp?: unknown): SMTPError;
}

/** A composition or argument error (bad address, CR/LF in a header, unreadable attachment, ...). */
export declare class MimeographError extends Error {
  constructor(message: string, code?: string, field?: string);
  name: 'MimeographError';
  /** "INVALID_ARGUMENT" | "ADDRESS" | "HEADER" | "ENCODING" | "MISSING_FROM" | "NO_RECIPIENTS" | "COMPOSE" | "ATTACHMENT" | "INVALID_MESSAGE" | "SMTP" | "INTERNAL" */
  code: string;
  /** The option at fault, when known (e.g. "to", "attachment[0].path"). */
  field?: string;
}

// --------------------------------------------------------------- message ----

export type ByteSource = Uint8Array | ArrayBuffer | ArrayBufferView;

/** A readable attachment source, read fully into memory in this version. */
export type AttachmentStream =
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>
  | { readable?: boolean; [Symbol.asyncIterator](): AsyncIterator<Uint8Array | string> };

export interface MessageAttachmentHeaders {
  [header: string]: string | undefined;
  'content-type'?: string;
  'content-transfer-encoding'?: string;
  /** Refused: the builder writes it from `inline` and `name` (see the README's differences from emailjs). */
  'content-disposition'?: never;
}

export interface MessageAttachment {
  /** The content: text, or bytes (Buffer/Uint8Array), or a Blob. With `encoded: true`, base64 text. */
  data?: string | ByteSource | Blob;
  /** Node only: a file read with node:fs (a path, a file: URL, or the path's bytes). */
  path?: string | URL | Uint8Array;
  /** Node Readable, web ReadableStream, Blob or File. */
  stream?: AttachmentStream;
  /** `data` is already base64. */
  encoded?: boolean;
  /** Media type, e.g. "image/png" (default: guessed from `name`, else application/octet-stream). */
  type?: string;
  /** File name (default for `path`: its base name; for a File: its name). */
  name?: string;
  charset?: string;
  /** e.g. "REQUEST" for text/calendar. */
  method?: string;
  /** This part is the HTML (alternative) body. */
  alternative?: boolean | MessageAttachment;
  /** Inline (e.g. an image referenced by cid: from the HTML). */
  inline?: boolean;
  /** Parts of a multipart/related around this one (e.g. images of the HTML). */
  related?: MessageAttachment[];
  /** Extra headers of this part (e.g. { 'Content-ID': '<logo>' }). */
  headers?: MessageAttachmentHeaders;
  cid?: string;
}

export interface MessageHeaders {
  /** Custom headers take a string (or, for address headers, an array); `number` and `Date` are for `date` only. */
  [header: string]:
    | string
    | string[]
    | number
    | Date
    | null
    | undefined
    | MessageAttachment
    | MessageAttachment[];
  from?: string | string[];
  to?: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  sender?: string;
  'reply-to'?: string | string[];
  subject?: string;
  text?: string | null;
  /** The text part's media type, e.g. "text/html; charset=utf-8". */
  'content-type'?: string;
  'message-id'?: string;
  'in-reply-to'?: string;
  references?: string | string[];
  /** A Date, ms since the epoch, or a date string (RFC 2822 or ISO 8601). Default: now. */
  date?: Date | number | string;
  'return-path'?: string | null;
  charset?: string;
  attachment?: MessageAttachment | MessageAttachment[];
}

/** What {@link Message.checkValidity} returns (narrow on `isValid` to get the reason as a string). */
export type MessageValidity = { isValid: true; validationError: undefined } | { isValid: false; validationError: string };

/** A Node-like readable of the rendered message: 'data' (string chunks), 'end', 'error'; async-iterable. */
export declare class MessageStream implements AsyncIterable<string> {
  readable: boolean;
  paused: boolean;
  on(event: 'data', listener: (chunk: string) => void): this;
  on(event: 'end' | 'close' | 'pause' | 'resume', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: string, listener: (...args: any[]) => void): this;
  addListener(event: string, listener: (...args: any[]) => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
  off(event: string, listener: (...args: any[]) => void): this;
  removeListener(event: string, listener: (...args: any[]) => void): this;
  emit(event: string, ...args: any[]): boolean;
  pause(): this;
  resume(): this;
  pipe<T extends { write(chunk: string): unknown; end(): unknown }>(dest: T, options?: { end?: boolean }): T;
  /** emailjs's destroy(): stops the stream ('error' once data went out, else 'end'; then 'close'). */
  destroy(): void;
  /** emailjs's destroySoon(): ends the stream ('end', 'close') without the rest of the message. */
  destroySoon(): void;
  [Symbol.asyncIterator](): AsyncIterator<string>;
}

export declare class Message {
  constructor(headers: MessageHeaders);
  /** The header options, keys lower-cased (after the first build, also 'message-id'). */
  readonly header: Record<string, any>;
  readonly attachments: MessageAttachment[];
  alternative: MessageAttachment | null;
  content: string;
  text?: string;
  /** After a successful send: the engine's 'sent' event (server reply, per-recipient replies). */
  sent?: SmtpSentEvent;
  attach(options: MessageAttachment): this;
  /** emailjs's check, synchronous; `validationError` is set exactly when `isValid` is false. */
  checkValidity(): MessageValidity;
  /** @deprecated emailjs's; use checkValidity(). */
  valid(callback: (isValid: boolean, invalidReason?: string) => void): void;
  stream(): MessageStream;
  read(callback: (err: Error | null, text: string) => void): void;
  readAsync(): Promise<string>;
  /** The rendered message as bytes (exact, including 8-bit content). */
  readBytesAsync(): Promise<Uint8Array>;
}

// ------------------------------------------------------------ connection ----

export declare const AUTH_METHODS: {
  readonly PLAIN: 'PLAIN';
  readonly 'CRAM-MD5': 'CRAM-MD5';
  readonly LOGIN: 'LOGIN';
  readonly XOAUTH2: 'XOAUTH2';
};
export type AuthMethod = keyof typeof AUTH_METHODS;

export declare const SMTPState: { readonly NOTCONNECTED: 0; readonly CONNECTING: 1; readonly CONNECTED: 2 };
export declare const DEFAULT_TIMEOUT: 5000;

/** Node's tls.ConnectionOptions (ca, cert, key, servername, rejectUnauthorized, ...). Certificates are verified unless `rejectUnauthorized: false`. */
export interface SMTPSocketOptions {
  rejectUnauthorized?: boolean;
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  servername?: string;
  [option: string]: unknown;
}

export interface SMTPConnectionOptions {
  user?: string;
  password?: string;
  host?: string;
  /** Default: 465 with ssl, 587 with tls, else 25. */
  port?: number;
  /** Implicit TLS. Node: node:tls (verified). With `bridge`: the bridge does TLS to the server (websockify --ssl-target). */
  ssl?: boolean | SMTPSocketOptions;
  /** STARTTLS, required when set. Node only (not through a bridge). */
  tls?: boolean | SMTPSocketOptions;
  /** Engine deadline per step, in ms (default 5000). */
  timeout?: number | null;
  /** EHLO name (default: os.hostname() in Node, "localhost" in browsers). */
  domain?: string;
  /** Allowed SASL mechanisms in order of preference. */
  authentication?: AuthMethod[];
  /** Receives connection progress and the SMTP transcript (AUTH redacted). */
  logger?: (...args: any[]) => void;
  /** ours: a websockify bridge (binary protocol) to the SMTP server: 'ws://…' or 'wss://…'. */
  bridge?: string;
  /** ours: an OAuth 2 access token; implies XOAUTH2 (with `user`). */
  xoauth2?: string;
  /** ours: allow AUTH on an unencrypted connection (default false). */
  allowInsecureAuth?: boolean;
  /**
   * Send a message only if every recipient is accepted (default true, as
   * emailjs: a refused RCPT fails the message and it goes to no one). With
   * several recipients the data waits for the RCPT replies. `false`: the
   * message goes to the accepted ones; `message.sent.recipients` says who
   * was refused.
   */
  requireAllRecipients?: boolean;
}

export interface SmtpReply {
  code: number;
  enhancedCode: string | null;
  text: string;
  lines: string[];
}

export interface SmtpCapabilities {
  serverName: string;
  pipelining: boolean;
  size: number | null;
  eightBitMime: boolean;
  smtpUtf8: boolean;
  starttls: boolean;
  auth: string[];
  chunking: boolean;
  extensions: string[];
}

export interface SmtpSentEvent {
  type: 'sent';
  id: number;
  reply: SmtpReply;
  recipients: Array<{ address: string; accepted: boolean; reply: SmtpReply }>;
}

/**
 * The callback of SMTPConnection's methods: `(err)` on failure (an
 * {@link SMTPError}, usually), `(null, ...results)` on success. Declared
 * bivariantly, as emailjs's `(...rest: any[]) => void` accepts any callback:
 * a callback written for emailjs, e.g. `(err: Error) => …`, still compiles.
 */
export type SMTPCallback = { bivarianceHack(err: Error | null, ...rest: any[]): void }['bivarianceHack'];
type Callback = SMTPCallback;
/** emailjs's command() callback: `(err, data, message)`. */
export type CommandCallback = { bivarianceHack(err: Error | null, data?: string, message?: string): void }['bivarianceHack'];

/**
 * emailjs's low-level connection over mimeograph's engine.
 * Supported: connect (does greeting, EHLO, STARTTLS and AUTH), ehlo,
 * ehlo_or_helo_if_needed, login (with the constructor's credentials),
 * starttls (once negotiated), mail, rcpt, data, message, data_end, rset,
 * help, verify, expn, noop, quit, close, state, authorized, has_extn.
 * helo, parse_smtp_features, send and command throw an SMTPError with
 * `notSupported: true`.
 */
export declare class SMTPConnection {
  /** An event emitter, as emailjs's (the part of Node's EventEmitter it relies on). */
  on(event: 'close', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  removeAllListeners(event?: string | symbol): this;
  listenerCount(event: string | symbol): number;
  emit(event: string | symbol, ...args: any[]): boolean;
  constructor(options?: SMTPConnectionOptions);
  readonly user: () => string | undefined;
  readonly password: () => string | undefined;
  readonly timeout: number;
  host: string;
  port: number;
  domain: string;
  ssl: boolean | SMTPSocketOptions;
  tls: boolean | SMTPSocketOptions;
  bridge: string | null;
  features: Record<string, string | boolean> | null;
  capabilities?: SmtpCapabilities;
  debug(level: 0 | 1): void;
  state(): 0 | 1 | 2;
  authorized(): boolean;
  has_extn(opt: string): boolean;
  connect(callback: Callback, port?: number, host?: string, options?: { ssl?: boolean }): void;
  ehlo(callback: Callback, domain?: string): void;
  ehlo_or_helo_if_needed(callback: Callback, domain?: string): void;
  login(callback: Callback, user?: string, password?: string, options?: { method?: string; domain?: string }): void;
  starttls(callback: Callback): void;
  noop(callback: { bivarianceHack(err: Error | null, reply?: { code: number; data: string; message: string }): void }['bivarianceHack']): void;
  quit(callback?: Callback): void;
  close(force?: boolean): void;
  /** @throws SMTPError not supported (the engine sends EHLO and falls back to HELO itself). */
  helo(callback: Callback, domain?: string): never;
  /** @throws SMTPError not supported. */
  parse_smtp_features(data: string): never;
  /** @throws SMTPError not supported (raw commands would bypass the engine). */
  send(str: string, callback: Callback): never;
  /** @throws SMTPError not supported (raw commands would bypass the engine). */
  command(cmd: string, callback: Callback, codes?: number[] | number): never;
  /**
   * `HELP [domain]`. Callback `(err, data, message)`: `data` the reply lines
   * with their codes joined by "\n", `message` the first line's text; a code
   * other than 211/214 is an SMTPError (BADRESPONSE), as emailjs's.
   * Low-level commands go one at a time, after connect(); a misuse (e.g.
   * rcpt before an accepted mail) calls back an SMTPError (ERROR) and sends nothing.
   */
  help(callback: CommandCallback, domain?: string): void;
  /** `RSET` (250 expected). */
  rset(callback: CommandCallback): void;
  /** `MAIL FROM:<from>`: `from` as emailjs's (`'<a@b.org>'`, `'<>'`), optionally with ESMTP parameters (`'<a@b.org> BODY=8BITMIME'`). 250 expected. */
  mail(callback: CommandCallback, from: string): void;
  /** `RCPT TO:<to>` (250 or 251 expected). */
  rcpt(callback: CommandCallback, to: string): void;
  /** `DATA` (354 expected), then message() and data_end(). */
  data(callback: CommandCallback): void;
  /** Ends the message content (250 expected). */
  data_end(callback: CommandCallback): void;
  /**
   * Message content after data()'s 354: CRLF-normalised and dot-stuffed
   * (unlike emailjs). @throws SMTPError outside DATA or without a connection.
   */
  message(data: string | Uint8Array | ArrayBuffer): void;
  /** `VRFY address` (250, 251 or 252 expected). */
  verify(address: string, callback: CommandCallback): void;
  /** `EXPN address` (250 expected). */
  expn(address: string, callback: CommandCallback): void;
}

// ---------------------------------------------------------------- client ----

export interface MessageStack {
  callback: (error: Error | null, message: Message) => void;
  message: Message;
  returnPath?: string;
  from: string;
  to: Array<{ name: string; address: string }>;
}

export interface SMTPClientOptions extends SMTPConnectionOptions {
  /**
   * ours: a message is tried once more on a new connection when the server
   * closed or reset the connection before the end of its data was sent (no
   * reply), or answered the MAIL of a reused connection with a
   * `421` (the race with the server's idle timeout) (default true).
   */
  reconnectRetry?: boolean;
}

export declare class SMTPClient {
  constructor(server?: SMTPClientOptions);
  readonly smtp: SMTPConnection;
  readonly queue: MessageStack[];
  send(msg: Message | MessageHeaders, callback: (err: Error | null, msg: Message) => void): void;
  sendAsync(msg: Message | MessageHeaders): Promise<Message>;
  createMessageStack(message: Message, callback?: (err: Error | null, msg: Message) => void): MessageStack;
}

// --------------------------------------------------------------- helpers ----

export type ParsedAddress =
  | { name: string; address: string }
  | { name: string; group: Array<{ name: string; address: string }> };

export declare function addressparser(input: string | string[]): ParsedAddress[];
export declare function getRFC2822Date(date?: Date | number | string, useUtc?: boolean): string;
/** emailjs's getRFC2822DateUTC: the date in UTC, with `+0000`. */
export declare function getRFC2822DateUTC(date?: Date | number | string): string;
/** emailjs's isRFC2822Date: whether `date` has the RFC 2822 date form. */
export declare function isRFC2822Date(date: string): boolean;
/** emailjs's MIMECHUNK (76). */
export declare const MIMECHUNK: number;
/** emailjs's MIME64CHUNK (456). */
export declare const MIME64CHUNK: number;
/** emailjs's BUFFERSIZE (12768): the size of one MessageStream 'data' event. */
export declare const BUFFERSIZE: number;
/** RFC 2047 encoded words; the engine picks Q or B per word (the second argument is accepted and ignored). */
export declare function mimeWordEncode(data: string | Uint8Array, mimeWordEncoding?: 'Q' | 'B', encoding?: string): string;
/** Quoted-printable. */
export declare function mimeEncode(data: string | Uint8Array, encoding?: string): string;

// ------------------------------------------------------------- transport ----

/** The transport seam: moves bytes only; the engine does all of SMTP. */
export interface Transport {
  readonly encrypted: boolean;
  readonly canStartTls: boolean;
  onData: (bytes: Uint8Array) => void;
  onClose: (error?: Error) => void;
  /** Set by the driver: called after a `write` returned false, once the buffer has room again. */
  onDrain?: () => void;
  open(): Promise<void>;
  /** False when the buffer is full (wait for `onDrain`); `done()` once `bytes` may be reused. */
  write(bytes: Uint8Array, done?: () => void): boolean | void;
  startTls?(): Promise<void>;
  close(force?: boolean): void;
}

/** A transport over a websockify bridge (binary frames). */
export declare class WebSocketTransport implements Transport {
  constructor(options: { url: string; WebSocket: typeof WebSocket; encrypted?: boolean });
  readonly encrypted: boolean;
  readonly canStartTls: false;
  onData: (bytes: Uint8Array) => void;
  onClose: (error?: Error) => void;
  onDrain: () => void;
  open(): Promise<void>;
  /** Sends a copy of `bytes` (`done` is called at once); false when over 1 MiB waits in the WebSocket's buffer. */
  write(bytes: Uint8Array, done?: () => void): boolean;
  close(force?: boolean): void;
}
