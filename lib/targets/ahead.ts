/**
 * `fn` over `source` with up to `window` calls in flight, results in input order. The next item is
 * read only while the oldest result is still pending (so a slow lookup overlaps the next ones, and
 * a ready result is never held back waiting on input), and at most `window` are pending at once.
 */
export async function* mapAhead<In, Out>(
  source: AsyncIterable<In> | Iterable<In>,
  fn: (item: In) => Out | Promise<Out>,
  window: number,
): AsyncGenerator<Out> {
  const iterator = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (source as Iterable<In>)[Symbol.iterator]();
  type Slot = { done: boolean; value?: Out; error?: unknown; promise: Promise<unknown> };
  const start = (item: In): Slot => {
    let result: Out | Promise<Out>;
    try {
      result = fn(item);
    } catch (error) {
      return { done: true, error, promise: Promise.resolve() };
    }
    if (!(result instanceof Promise)) return { done: true, value: result, promise: Promise.resolve() };
    const slot: Slot = { done: false, promise: Promise.resolve() };
    slot.promise = result.then(
      (value) => Object.assign(slot, { done: true, value }),
      (error: unknown) => Object.assign(slot, { done: true, error }),
    );
    return slot;
  };
  const queue: Slot[] = [];
  let ended = false;
  let reading: Promise<IteratorResult<In>> | null = null;
  const take = (step: IteratorResult<In>): void => {
    reading = null;
    if (step.done) ended = true;
    else queue.push(start(step.value));
  };
  try {
    for (;;) {
      const head = queue[0];
      if (head === undefined) {
        if (ended) return;
        take(await (reading ?? iterator.next()));
        continue;
      }
      if (head.done) {
        queue.shift();
        if (head.error !== undefined) throw head.error;
        yield head.value as Out;
        continue;
      }
      if (ended || queue.length >= window) {
        await head.promise;
        continue;
      }
      const next: Promise<IteratorResult<In>> = (reading ??= Promise.resolve(iterator.next()));
      const first = await Promise.race([head.promise.then(() => 'head'), next.then(() => 'read')]);
      if (first === 'read') take(await next);
    }
  } finally {
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}
