// Browser entry (also what bundlers pick through the "browser" condition).
// Loads the wasm module once, at import, with top-level await, so that the
// public API stays synchronous where emailjs's is.
import init from './wasm/mimeograph.js';

await init({ module_or_path: new URL('./wasm/mimeograph_bg.wasm', import.meta.url) });

export * from './lib/core.js';
