import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { parseAddress } from '../targets.js';

/** The C addon's surface (native/engine.c). Handles are opaque; completions come in Int32Array batches. */
export interface NativeAddon {
  open(kind: 'tcp' | 'icmp', onBatch: (completions: Int32Array) => void): object;
  submit(handle: object, requests: Int32Array): void;
  cancel(handle: object, tokens: Int32Array): void;
  /** Pairs of token, timeout ms: the thread times each try out that long after it left (or now). */
  retime(handle: object, pairs: Int32Array): void;
  ref(handle: object, on: boolean): void;
  close(handle: object): void;
  strerror(errno: number): string;
  /** Calls back once when nobody will read fd again (a pipe's readers gone, a socket's peer); false: no watch. */
  watchReader(fd: number, onGone: () => void): boolean;
}

/** Completion kinds (native/engine.h): four int32 per completion, token, kind, detail (errno), rtt in µs. */
export const enum Done {
  Open = 0,
  Closed = 1,
  Timeout = 2,
  Error = 3,
  Self = 4,
  Reply = 5,
  IcmpError = 6,
}
export const DONE_WORDS = 4;

let loaded: { addon: NativeAddon } | { error: string } | undefined;

/**
 * The addon built by `npm ci` (binding.gyp), or why it is not there. Loaded once per thread: it is
 * context-aware (N-API), so worker threads load their own instance.
 */
export function loadAddon(): { addon: NativeAddon } | { error: string } {
  if (loaded) return loaded;
  try {
    // dist/lib/native/addon.js -> build/Release at the package root.
    const require = createRequire(import.meta.url);
    loaded = { addon: require(new URL('../../../build/Release/pmap_native.node', import.meta.url).pathname) as NativeAddon };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    loaded = { error: `the native addon is not built or does not load (${message})` };
  }
  return loaded;
}

// First name wins where two share a number (EAGAIN, not EWOULDBLOCK; EDEADLK, not EDEADLOCK).
const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);

/** `ECONNREFUSED` for 111, as node's own errors spell it. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/**
 * One engine thread of the addon, shared by every probe of this JavaScript thread. Requests are
 * gathered and submitted once per turn of the event loop (one lock and one wake-up per batch, not per
 * probe); the thread is referenced only while probes are out, so an idle engine keeps no process alive.
 */
export class NativeEngine {
  private readonly handle: object;
  private readonly callbacks = new Map<number, (kind: number, detail: number, rttUs: number) => void>();
  private nextToken = 1;
  private buffer: Int32Array;
  private used = 0;
  private retimes: number[] = [];
  private flushQueued = false;
  private referenced = false;
  private closed = false;

  constructor(
    private readonly addon: NativeAddon,
    kind: 'tcp' | 'icmp',
    private readonly requestWords: number,
  ) {
    this.buffer = new Int32Array(requestWords * 256);
    this.handle = addon.open(kind, (batch) => this.onBatch(batch));
  }

  /** Queues one request; `fill` writes its words after the token (word 0). Returns the token. */
  submit(fill: (words: Int32Array, at: number) => void, onDone: (kind: number, detail: number, rttUs: number) => void): number {
    const token = this.nextToken;
    this.nextToken = this.nextToken >= 0x7fffffff ? 1 : this.nextToken + 1;
    if (this.used + this.requestWords > this.buffer.length) {
      const bigger = new Int32Array(this.buffer.length * 2);
      bigger.set(this.buffer.subarray(0, this.used));
      this.buffer = bigger;
    }
    this.buffer.fill(0, this.used, this.used + this.requestWords);
    this.buffer[this.used] = token;
    fill(this.buffer, this.used);
    this.used += this.requestWords;
    this.callbacks.set(token, onDone);
    if (!this.referenced) {
      this.referenced = true;
      this.addon.ref(this.handle, true);
    }
    this.queueFlush();
    return token;
  }

  /**
   * The core's wait for a try ran out: the thread times it out if it has been out `timeoutMs` on
   * its clock, else when it has (an answer it already has is on its way). Sent with the next batch.
   */
  retime(token: number, timeoutMs: number): void {
    if (!this.callbacks.has(token) || this.closed) return;
    this.retimes.push(token, Math.max(1, Math.ceil(timeoutMs)));
    this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // setImmediate, not a microtask: Node hands the thread-safe function's queue to JavaScript in
    // a loop of up to 1000 batches per wake-up, and requests flushed at once were answered within
    // that loop (no route: every connect fails at once), so timers starved and Ctrl-C took 3.4 s.
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Forgets a request: its socket is closed on the thread and no completion is delivered. */
  cancel(token: number): void {
    if (!this.callbacks.delete(token)) return;
    if (this.closed) return;
    // The request may still be in our buffer: send it first, so the thread sees the cancel after it.
    this.flush();
    this.addon.cancel(this.handle, Int32Array.of(token));
    this.unrefIfIdle();
  }

  get outstanding(): number {
    return this.callbacks.size;
  }

  /** Stops the thread and closes every socket (within a few ms: the thread is woken, then joined). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.callbacks.clear();
    this.addon.close(this.handle);
  }

  private flush(): void {
    if (this.closed) {
      this.used = 0;
      this.retimes = [];
      return;
    }
    // The addon copies the words under its lock: the buffer is ours again at once.
    if (this.used > 0) this.addon.submit(this.handle, this.buffer.subarray(0, this.used));
    this.used = 0;
    // After the requests: the thread takes a batch's requests before its retimes.
    if (this.retimes.length > 0) this.addon.retime(this.handle, Int32Array.from(this.retimes));
    this.retimes = [];
  }

  private onBatch(batch: Int32Array): void {
    for (let i = 0; i + DONE_WORDS <= batch.length; i += DONE_WORDS) {
      const token = batch[i]!;
      const callback = this.callbacks.get(token);
      if (!callback) continue; // cancelled meanwhile
      this.callbacks.delete(token);
      callback(batch[i + 1]!, batch[i + 2]!, batch[i + 3]!);
    }
    this.unrefIfIdle();
  }

  private unrefIfIdle(): void {
    if (this.referenced && this.callbacks.size === 0 && this.used === 0) {
      this.referenced = false;
      this.addon.ref(this.handle, false);
    }
  }
}

/** Writes an address as the addon reads it: family (4|6) at `at + 2`, the bytes from `at + 4`. */
export class AddressWords {
  private lastIp = '';
  private family = 0;
  private readonly words = new Int32Array(4);
  private readonly bytes = new Uint8Array(this.words.buffer);

  write(ip: string, words: Int32Array, at: number): boolean {
    if (ip !== this.lastIp) {
      // The words are rewritten below: until they hold `ip` whole, they hold no address.
      this.lastIp = '';
      if (!this.writeV4(ip)) {
        const parsed = parseAddress(ip);
        if (!parsed) {
          words[at + 2] = 0; // the thread skips a request of family 0
          return false;
        }
        this.writeBig(parsed.family, parsed.value);
      }
      this.lastIp = ip;
    }
    words[at + 2] = this.family;
    words.set(this.words, at + 4);
    return true;
  }

  /** Any address parseAddress reads (IPv6, IPv4 in other spellings), big-endian from byte 0. */
  private writeBig(family: 4 | 6, address: bigint): void {
    this.family = family;
    this.bytes.fill(0);
    let value = address;
    for (let i = (family === 4 ? 4 : 16) - 1; i >= 0; i--) {
      this.bytes[i] = Number(value & 0xffn);
      value >>= 8n;
    }
  }

  /** Dotted quads the quick way, a character at a time: a sweep parses a new address per probe. */
  private writeV4(ip: string): boolean {
    const bytes = this.bytes;
    let part = 0;
    let value = 0;
    let digits = 0;
    for (let i = 0; i < ip.length; i++) {
      const c = ip.charCodeAt(i);
      if (c === 46 /* . */) {
        if (digits === 0 || part === 3) return false;
        bytes[part++] = value;
        value = digits = 0;
      } else if (c >= 48 && c <= 57 && digits < 3) {
        value = value * 10 + c - 48;
        digits++;
        if (value > 255) return false;
      } else return false;
    }
    if (part !== 3 || digits === 0) return false;
    bytes[3] = value;
    bytes.fill(0, 4);
    this.family = 4;
    return true;
  }
}
