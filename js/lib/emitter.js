// A minimal EventEmitter (on/once/off/emit), the part of Node's that
// emailjs's SMTPConnection users rely on ('close'), without depending on
// node:events (the browser build has none).

/** Listeners by event name; `once` listeners are wrapped. */
export class Emitter {
  constructor() {
    /** @type {Map<string | symbol, Function[]>} */
    this._listeners = new Map();
  }

  /** Adds `listener` for `event`. */
  on(event, listener) {
    if (typeof listener !== 'function') throw new TypeError('The "listener" argument must be a function');
    const list = this._listeners.get(event);
    if (list) list.push(listener);
    else this._listeners.set(event, [listener]);
    return this;
  }

  /** Same as `on`. */
  addListener(event, listener) {
    return this.on(event, listener);
  }

  /** Adds `listener` for the next `event` only. */
  once(event, listener) {
    if (typeof listener !== 'function') throw new TypeError('The "listener" argument must be a function');
    const wrapped = (...args) => {
      this.off(event, wrapped);
      listener.apply(this, args);
    };
    wrapped.listener = listener;
    return this.on(event, wrapped);
  }

  /** Removes the last-added `listener` of `event` (a `once` one by its original function too). */
  off(event, listener) {
    const list = this._listeners.get(event);
    if (!list) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i] === listener || list[i].listener === listener) {
        list.splice(i, 1);
        break;
      }
    }
    if (list.length === 0) this._listeners.delete(event);
    return this;
  }

  /** Same as `off`. */
  removeListener(event, listener) {
    return this.off(event, listener);
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event) {
    if (event === undefined) this._listeners.clear();
    else this._listeners.delete(event);
    return this;
  }

  /** How many listeners `event` has. */
  listenerCount(event) {
    return this._listeners.get(event)?.length ?? 0;
  }

  /** Calls `event`'s listeners in order with `args`; true when it had any. */
  emit(event, ...args) {
    const list = this._listeners.get(event);
    if (!list) return false;
    for (const listener of [...list]) listener.apply(this, args);
    return true;
  }
}
