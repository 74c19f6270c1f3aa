import type { Writable } from 'node:stream';
import type { Observable } from 'rxjs';
import type { Rec } from './records.js';

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

/** NDJSON out, one record a line, honouring the stream's backpressure. */
export class RecordWriter {
  count = 0;

  constructor(readonly stream: Writable) {}

  write(record: Rec): void {
    this.count++;
    this.stream.write(`${JSON.stringify(record)}\n`);
  }

  /** Resolves once the stream has room again: callers await it before producing more. */
  ready(): Promise<void> | undefined {
    return this.stream.writableNeedDrain ? drained(this.stream) : undefined;
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
