// The transport seam. A transport moves bytes, and nothing else: all SMTP
// logic (and later TLS itself, run inside wasm over the bridge's byte stream)
// stays in the engine. The driver (SMTPConnection) sets `onData`/`onClose`.
//
// interface Transport {
//   readonly encrypted: boolean;          // implicit TLS already on this connection
//   readonly canStartTls: boolean;        // startTls() is available
//   onData: (bytes: Uint8Array) => void;  // set by the driver
//   onClose: (error?: Error) => void;     // set by the driver; called once
//   open(): Promise<void>;                // resolves once bytes can flow
//   write(bytes: Uint8Array): boolean | void; // false: buffer full, wait for onDrain
//   onDrain?: () => void;                 // set by the driver; called when a full buffer drained
//   startTls?(): Promise<void>;           // upgrade in place (STARTTLS)
//   close(force?: boolean): void;
// }
export {};
