import { from, Observable, type ObservableInput, type Subscription } from './rx.js';

export interface PoolOptions {
  /** Emit each item's results in input order (a slot stays taken until its results are out). */
  ordered?: boolean;
  /** Awaited before each pull: the output's backpressure reaching back to the input. */
  ready?: () => Promise<void> | undefined;
}

/**
 * Run `project` on the items of `source`, at most `concurrency` at a time, and merge their results.
 *
 * This is `mergeMap(project, concurrency)` with the input pulled instead of pushed: rxjs has no
 * backpressure, so `from(stream).pipe(mergeMap(...))` reads the whole input into mergeMap's buffer
 * (16M lines never finished). Here the next item is asked of the iterator only when a slot frees
 * and `ready()` says the output has room, so memory stays flat on any input size. Unsubscribing
 * stops pulling, calls the iterator's `return()` and tears down every item in flight.
 */
export function pullMerge<In, Out>(
  source: AsyncIterable<In> | Iterable<In>,
  concurrency: number,
  project: (item: In, index: number) => ObservableInput<Out>,
  options: PoolOptions = {},
): Observable<Out> {
  return new Observable<Out>((subscriber) => {
    const inners = new Set<Subscription>();
    // Ordered mode: results of items still waiting for an earlier one, by index.
    const pending = new Map<number, { values: Out[]; done: boolean }>();
    let nextToEmit = 0;
    let active = 0;
    let index = 0;
    let exhausted = false;
    let stopped = false;

    const finishIfDone = (): void => {
      if (exhausted && active === 0 && !stopped) {
        stopped = true;
        subscriber.complete();
      }
    };

    const flushOrdered = (): void => {
      for (let slot = pending.get(nextToEmit); slot; slot = pending.get(nextToEmit)) {
        for (const value of slot.values) subscriber.next(value);
        slot.values = [];
        if (!slot.done) return;
        pending.delete(nextToEmit++);
        active--;
      }
    };

    const fail = (err: unknown): void => {
      if (stopped) return;
      stopped = true;
      puller.stop();
      subscriber.error(err);
    };

    const start = (item: In, at: number): void => {
      active++;
      if (options.ordered) pending.set(at, { values: [], done: false });
      let inner: Subscription | undefined;
      let finished = false;
      inner = from(project(item, at)).subscribe({
        next: (value) => {
          if (!options.ordered || at === nextToEmit) subscriber.next(value);
          else pending.get(at)?.values.push(value);
        },
        error: (err: unknown) => fail(err),
        complete: () => {
          finished = true;
          if (inner) inners.delete(inner);
          if (options.ordered) {
            const slot = pending.get(at);
            if (slot) slot.done = true;
            flushOrdered();
          } else {
            active--;
          }
          if (stopped) return;
          puller.pump();
          finishIfDone();
        },
      });
      if (!finished && !inner.closed) inners.add(inner);
    };

    const puller = pullEach(source, {
      room: () => active < concurrency,
      ...(options.ready ? { ready: options.ready } : {}),
      start: (item) => start(item, index++),
      end: () => {
        exhausted = true;
        finishIfDone();
      },
      fail,
    });
    puller.pump();
    return () => {
      stopped = true;
      for (const inner of inners) inner.unsubscribe();
      inners.clear();
      puller.stop();
    };
  });
}

/** What pullEach asks of its caller, who keeps the count of items under way. */
export interface PullHooks<In> {
  /** Whether another item may start now (a free slot). */
  room(): boolean;
  /** Awaited before each pull, as PoolOptions.ready. */
  ready?: () => Promise<void> | undefined;
  /** Work on one item; when it ends, the caller frees its slot and calls pump(). */
  start(item: In): void;
  /** The input ran out (once). */
  end(): void;
  /** Reading the input (or starting an item) threw. */
  fail(err: unknown): void;
}

/**
 * The pulling under pullMerge, without an Observable, subscriber and closures per item: for per-item paths
 * that are themselves callbacks (a ping sweep starts 65536 hosts; each Observable layer cost
 * measurable time and garbage there). Pulls while `room()` and `ready()` allow; `pump()` again
 * when a slot frees; `stop()` stops pulling and returns the iterator.
 */
export function pullEach<In>(source: AsyncIterable<In> | Iterable<In>, hooks: PullHooks<In>): { pump(): void; stop(): void } {
  const iterator: AsyncIterator<In> | Iterator<In> =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  let exhausted = false;
  let pumping = false;
  let stopped = false;
  let readyPassed = false;
  const fail = (err: unknown): void => {
    if (stopped) return;
    stop();
    hooks.fail(err);
  };
  const take = (step: IteratorResult<In>): void => {
    if (!step.done) return hooks.start(step.value);
    exhausted = true;
    hooks.end();
  };
  const resume = (passed: boolean): void => {
    readyPassed = passed;
    pumping = false;
    pump();
  };
  // Not an async function: one runs per completed item, and its promise was garbage per item. The
  // loop is synchronous until ready() or the input returns a promise, then resumed from there
  // (`pumping` stays set meanwhile, so a freed slot only calls pump() for nothing).
  const pump = (): void => {
    if (pumping) return;
    pumping = true;
    try {
      while (!stopped && !exhausted && hooks.room()) {
        if (!readyPassed) {
          const wait = hooks.ready?.();
          if (wait) {
            wait.then(() => resume(true), fail);
            return;
          }
        }
        readyPassed = false;
        const result = iterator.next();
        if (result instanceof Promise) {
          result.then((step: IteratorResult<In>) => {
            try {
              if (!stopped) take(step);
            } catch (err) {
              return fail(err);
            }
            resume(false);
          }, fail);
          return;
        }
        take(result);
      }
    } catch (err) {
      fail(err);
    }
    pumping = false;
  };
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    if (!exhausted) void Promise.resolve(iterator.return?.()).catch(() => undefined);
  };
  return { pump, stop };
}
