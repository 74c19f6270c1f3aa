import t from 'tap';
import { lastValueFrom, Observable, of, toArray, timer, map, tap } from 'rxjs';
import { pullMerge } from '../lib/pool.js';
import { counted } from './fixtures/counted.js';

t.test('runs at most n at a time and pulls only when a slot frees', async (t) => {
  const { state, items } = counted(50);
  let inFlight = 0;
  let most = 0;
  const pulledWhileRunning: number[] = [];
  const results = await lastValueFrom(
    pullMerge(items, 4, (i) => {
      inFlight++;
      most = Math.max(most, inFlight);
      pulledWhileRunning.push(state.pulled - i);
      return timer(1 + (i % 3)).pipe(map(() => (inFlight--, i * 2)));
    }).pipe(toArray()),
  );
  t.equal(most, 4, 'four in flight at the peak, never more');
  t.ok(pulledWhileRunning.every((ahead) => ahead === 1), 'never pulled ahead of what it started');
  t.same([...results].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i * 2), 'no result lost');
});

t.test('ordered mode emits in input order and still bounds the pull', async (t) => {
  const { items } = counted(20);
  // Later items finish first; ordered, they hold their slots until the earlier ones are out, so an
  // item starts only when fewer than 3 before it are still unemitted.
  let emitted = 0;
  let mostAhead = 0;
  const results = await lastValueFrom(
    pullMerge(items, 3, (i) => {
      return new Observable<number>((sub) => {
        mostAhead = Math.max(mostAhead, i - emitted);
        const timeout = setTimeout(() => (sub.next(i), sub.next(i + 0.5), sub.complete()), 20 - i);
        return () => clearTimeout(timeout);
      });
    }, { ordered: true }).pipe(
      tap((value) => (emitted += value % 1 === 0.5 ? 1 : 0)),
      toArray(),
    ),
  );
  t.same(results, Array.from({ length: 20 }, (_, i) => [i, i + 0.5]).flat());
  t.equal(mostAhead, 2, 'at most 2 earlier items unemitted when one starts');
});

t.test('unordered mode emits in completion order', async (t) => {
  const results = await lastValueFrom(pullMerge([30, 1, 15], 3, (ms) => timer(ms).pipe(map(() => ms))).pipe(toArray()));
  t.same(results, [1, 15, 30]);
});

t.test('waits for ready() before each pull', async (t) => {
  const { state, items } = counted(10);
  let release: () => void = () => undefined;
  let blocked = true;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const done = lastValueFrom(
    pullMerge(items, 5, (i) => of(i), { ready: () => (blocked ? gate : undefined) }).pipe(toArray()),
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(state.pulled, 0, 'nothing pulled while the output is full');
  blocked = false;
  release();
  t.same(await done, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

t.test('unsubscribing stops the pull, closes the source and tears down in-flight work', async (t) => {
  const { state, items } = counted(1_000_000);
  let tornDown = 0;
  const subscription = pullMerge(items, 3, () => new Observable<number>(() => () => tornDown++)).subscribe();
  await new Promise((resolve) => setTimeout(resolve, 10));
  subscription.unsubscribe();
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(state.pulled, 3);
  t.equal(tornDown, 3);
  t.ok(state.returned, 'the source iterator was returned');
});

t.test('pulls from async iterables and passes errors on', async (t) => {
  async function* source(): AsyncGenerator<number> {
    yield 1;
    yield 2;
  }
  t.same(await lastValueFrom(pullMerge(source(), 2, (i) => of(i * 10)).pipe(toArray())), [10, 20]);
  await t.rejects(lastValueFrom(pullMerge([1, 2], 1, () => { throw new Error('boom'); })), /boom/);
  async function* broken(): AsyncGenerator<number> {
    yield 1;
    throw new Error('read failed');
  }
  await t.rejects(lastValueFrom(pullMerge(broken(), 1, (i) => of(i))), /read failed/);
});

t.test('a large synchronous source goes through without stack growth or loss', async (t) => {
  let sum = 0;
  const { items } = counted(300_000);
  await lastValueFrom(pullMerge(items, 100, (i) => of(i)).pipe(map((i) => (sum += i))), { defaultValue: 0 });
  t.equal(sum, (300_000 * 299_999) / 2);
});
