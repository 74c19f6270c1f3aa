// The body of a `-m thread` worker: runs the probe function named in workerData on the work
// records the main thread sends, and sends the result records back in batches.
import { parentPort, workerData } from 'node:worker_threads';
import type { Observable } from './rx.js';
import type { FromWorker, ToWorker, WorkerJob } from './parallel.js';
import type { Rec } from './records.js';

const port = parentPort;
if (!port) throw new Error('probe-worker runs only as a worker thread');
const job = workerData as WorkerJob & { stackTraceLimit: number };
Error.stackTraceLimit = job.stackTraceLimit;
type ProbeEntry = (items: AsyncIterable<Rec>, options: unknown, ready: undefined, log: (line: string) => void) => Observable<Rec>;
const run = (await import(job.module))[job.entry] as ProbeEntry;

const queue: Rec[] = [];
let ended = false;
let wake: (() => void) | null = null;
port.on('message', (message: ToWorker) => {
  if (message.type === 'items') queue.push(...message.items);
  else ended = true;
  wake?.();
  wake = null;
});

let pulled = 0;
let out: Rec[] = [];
let flushing = false;
const post = (message: FromWorker): void => port.postMessage(message);
const flush = (): void => {
  flushing = false;
  if (pulled > 0) post({ type: 'pulled', count: pulled });
  if (out.length > 0) post({ type: 'records', records: out });
  pulled = 0;
  out = [];
};
const later = (): void => {
  if (!flushing) {
    flushing = true;
    setImmediate(flush);
  }
};

async function* items(): AsyncGenerator<Rec> {
  let head = 0;
  for (;;) {
    if (head < queue.length) {
      pulled++;
      later();
      yield queue[head++] as Rec;
      // Drop what was taken now and then, so the queue never holds more than a window.
      if (head > 4096) queue.splice(0, head), (head = 0);
    } else if (ended) {
      return;
    } else {
      flush();
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
}

// Notices (the fd-limit clamp) go to the main thread, which passes each on once.
run(items(), job.options, undefined, (line) => post({ type: 'log', line })).subscribe({
  next: (record) => {
    out.push(record);
    if (out.length >= 256) flush();
    else later();
  },
  error: (err: unknown) => {
    flush();
    throw err;
  },
  complete: () => {
    flush();
    post({ type: 'finished' });
    port.close();
  },
});
