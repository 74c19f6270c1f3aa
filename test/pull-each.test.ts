// pullEach: pullMerge's pulling with callbacks (the ping sweep's per-host loop). The caller keeps
// the count of items under way; the loop pulls only while room() and ready() allow.
import t from 'tap';
import { pullEach } from '../lib/pool.js';
import { counted } from './fixtures/counted.js';

async function* slowly(total: number): AsyncGenerator<number> {
  for (let i = 0; i < total; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    yield i;
  }
}

/** Runs each item for a turn or two, at most `limit` at once; resolves with what it saw. */
function run(source: Iterable<number> | AsyncIterable<number>, limit: number, ready?: () => Promise<void> | undefined) {
  return new Promise<{ started: number[]; most: number; ended: number }>((resolve, reject) => {
    const started: number[] = [];
    let active = 0;
    let most = 0;
    let ended = 0;
    let inputDone = false;
    const finish = (): void => {
      if (inputDone && active === 0) resolve({ started, most, ended });
    };
    const loop = pullEach(source, {
      room: () => active < limit,
      ...(ready ? { ready } : {}),
      start: (item) => {
        active++;
        most = Math.max(most, active);
        started.push(item);
        setTimeout(() => {
          active--;
          loop.pump();
          finish();
        }, item % 3);
      },
      end: () => {
        ended++;
        inputDone = true;
        finish();
      },
      fail: reject,
    });
    loop.pump();
  });
}

t.test('a plain iterable: at most `room` at once, pulled only when a slot frees, every item once', async (t) => {
  const { state, items } = counted(40);
  const seen = await run(items, 4);
  t.equal(seen.most, 4);
  t.same(seen.started, Array.from({ length: 40 }, (_, i) => i));
  t.equal(state.pulled, 40);
  t.equal(seen.ended, 1, 'end() once');
});

t.test('an async source and a ready() that makes it wait', async (t) => {
  let waits = 0;
  const ready = (): Promise<void> | undefined => (waits++ % 5 === 0 ? new Promise((resolve) => setTimeout(resolve, 2)) : undefined);
  const seen = await run(slowly(30), 3, ready);
  t.same(seen.started, Array.from({ length: 30 }, (_, i) => i));
  t.ok(seen.most <= 3);
  t.ok(waits >= 30, 'ready() asked before each pull');
});

t.test('stop() pulls no more and returns the iterator', async (t) => {
  const { state, items } = counted(100);
  const started: number[] = [];
  const loop = pullEach(items, {
    room: () => started.length < 5,
    start: (item) => void started.push(item),
    end: () => t.fail('not the end'),
    fail: (err) => t.fail(String(err)),
  });
  loop.pump();
  t.same(started, [0, 1, 2, 3, 4]);
  loop.stop();
  loop.pump();
  t.equal(state.pulled, 5);
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(state.returned);
});

t.test('a source or a start that throws ends the loop through fail(), once', async (t) => {
  function* broken(): Generator<number> {
    yield 1;
    throw new Error('bad input');
  }
  const errors: string[] = [];
  const loop = pullEach(broken(), { room: () => true, start: () => undefined, end: () => t.fail('no end'), fail: (err) => errors.push((err as Error).message) });
  loop.pump();
  loop.pump();
  t.same(errors, ['bad input']);
  const thrown: string[] = [];
  const failing = pullEach([1, 2, 3], {
    room: () => true,
    start: (item) => {
      if (item === 2) throw new Error('start failed');
    },
    end: () => t.fail('no end'),
    fail: (err) => thrown.push((err as Error).message),
  });
  failing.pump();
  t.same(thrown, ['start failed']);
  async function* rejecting(): AsyncGenerator<number> {
    yield 1;
    throw new Error('read failed');
  }
  const rejected = await new Promise<string>((resolve) => {
    const loop = pullEach(rejecting(), { room: () => true, start: () => undefined, end: () => resolve('ended'), fail: (err) => resolve((err as Error).message) });
    loop.pump();
  });
  t.equal(rejected, 'read failed');
  const startedLate = await new Promise<string>((resolve) => {
    const loop = pullEach(slowly(3), {
      room: () => true,
      start: () => {
        throw new Error('start failed after a read');
      },
      end: () => resolve('ended'),
      fail: (err) => resolve((err as Error).message),
    });
    loop.pump();
  });
  t.equal(startedLate, 'start failed after a read');
});
