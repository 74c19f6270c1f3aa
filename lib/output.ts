import type { Writable } from 'node:stream';
import type { Observable } from './rx.js';
import { keepEarlier, type Rec } from './records.js';

/** Resolves when the stream has room: at once, or when it drains or closes (a closed one never drains). */
export function drained(stream: Writable): Promise<void> {
  if (stream.destroyed || !stream.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * One turn of the event loop. A write to a file or /dev/null completes synchronously and never
 * asks for 'drain', so a loop that only awaits drained() would never let a signal handler run
 * (issue 10 item 1: `iprange 0.0.0.0/0 > /dev/null` ignored Ctrl-C).
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const BATCH_BYTES = 1 << 16;

/**
 * Lines gathered and written together: at the end of the event-loop turn (setImmediate), or at once
 * past 64 KiB. One write per line cost a system call per record (65535 of them in a full-port scan
 * with --all); results still leave in the turn they were found.
 */
export class LineBatcher {
  private pending = '';
  private scheduled = false;

  constructor(readonly stream: Writable) {}

  push(line: string): void {
    this.pending += line;
    if (this.pending.length >= BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending === '' || this.stream.destroyed) return;
    const text = this.pending;
    this.pending = '';
    this.stream.write(text);
  }

  /** Whether the stream wants a 'drain' before more. */
  get full(): boolean {
    return this.stream.writableNeedDrain;
  }

  /** Resolves once the stream has room again: callers await it before producing more. */
  ready(): Promise<void> | undefined {
    return this.stream.writableNeedDrain ? drained(this.stream) : undefined;
  }
}

/**
 * NDJSON out, one record a line, honouring the stream's backpressure. `stage` (a command's name,
 * `tcpprobe` -> `tcp`) names the fields kept beside an earlier stage's (records.ts keepEarlier).
 */
export class RecordWriter extends LineBatcher {
  private readonly stage: string;

  constructor(stream: Writable, stage = '') {
    super(stream);
    this.stage = stage.replace(/probe$/, '');
  }

  write(record: Rec): void {
    this.push(`${JSON.stringify(this.stage ? keepEarlier(record, this.stage) : record)}\n`);
  }
}

/**
 * Write every record of `records` and resolve when it completes, or when `signal` aborts (the
 * subscription is then cancelled, which stops reading input and tears down in-flight probes).
 */
export function writeAll(records: Observable<Rec>, writer: { write(record: Rec): void }, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const stop = (): void => {
      subscription.unsubscribe();
      resolve();
    };
    const subscription = records.subscribe({
      next: (record) => writer.write(record),
      error: (err: unknown) => {
        signal.removeEventListener('abort', stop);
        reject(err);
      },
      complete: () => {
        signal.removeEventListener('abort', stop);
        resolve();
      },
    });
    if (signal.aborted) stop();
    else if (!subscription.closed) signal.addEventListener('abort', stop, { once: true });
  });
}
