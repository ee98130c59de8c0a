// Everything public, shared by the Node entry (index.js) and the browser entry (browser.js).
export { SMTPClient } from './client.js';
export { SMTPConnection, SMTPState, AUTH_METHODS, DEFAULT_TIMEOUT } from './connection.js';
export { Message, MessageStream, BUFFERSIZE, MIMECHUNK, MIME64CHUNK } from './message.js';
export { SMTPError, SMTPErrorStates, MimeographError } from './errors.js';
export { addressparser, getRFC2822Date, getRFC2822DateUTC, isRFC2822Date, mimeWordEncode, mimeEncode } from './util.js';
export { WebSocketTransport } from './transports/websocket.js';
