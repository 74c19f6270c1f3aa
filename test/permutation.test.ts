import t from 'tap';
import { IndexSpace } from '../lib/iprange.js';
import { firstPosition, Permutation, parseShard } from '../lib/targets/permutation.js';
import { parseSpec } from '../lib/targets.js';
import { runIn } from './harness.js';
import { } from './lab.js';

/** The positions of shard k/n, as writeOrdered walks them. */
function* shardOrder(size: number, seed: number, k: number, n: number): Generator<number> {
  const permutation = new Permutation(size, seed);
  for (let p = firstPosition({ k, n }, 0); p < size; p += n) yield permutation.at(p);
}

t.test('a full-cycle permutation: every index exactly once, for awkward sizes too', async (t) => {
  for (const size of [0, 1, 2, 3, 7, 100, 255, 256, 257, 1000, 65537, 100003]) {
    for (const seed of [0, 1, 2 ** 40 + 17]) {
      const seen = new Uint8Array(size);
      const permutation = new Permutation(size, seed);
      let bad = 0;
      for (let i = 0; i < size; i++) {
        const v = permutation.at(i);
        if (!(v >= 0 && v < size) || seen[v]) bad++;
        else seen[v] = 1;
      }
      if (bad) t.fail(`size ${size} seed ${seed}: ${bad} repeats or out of range`);
    }
  }
  t.pass('all sizes and seeds');
});

t.test('shards: an exact partition, balanced, not in address order, the same for the same seed', async (t) => {
  const size = 65536 * 3 + 11;
  for (const n of [2, 3, 7, 16]) {
    for (const seed of [5, 123456789]) {
      const owner = new Int8Array(size).fill(-1);
      const counts: number[] = [];
      for (let k = 1; k <= n; k++) {
        let count = 0;
        let ascending = 0;
        let previous = -1;
        for (const v of shardOrder(size, seed, k, n)) {
          if (owner[v] !== -1) t.fail(`n=${n} seed=${seed}: ${v} in shards ${owner[v]} and ${k}`);
          owner[v] = k;
          if (v > previous) ascending++;
          previous = v;
          count++;
        }
        counts.push(count);
        // In address order every step would go up; a random order goes up about half the time.
        t.ok(Math.abs(ascending / count - 0.5) < 0.05, `n=${n} k=${k}: ${((100 * ascending) / count).toFixed(1)}% of steps go up`);
      }
      t.equal(owner.indexOf(-1), -1, `n=${n} seed=${seed}: every index in a shard`);
      t.ok(Math.max(...counts) - Math.min(...counts) <= 1, `n=${n}: sizes ${counts.join(' ')}`);
      // Balanced over the address space too: each shard's share of the low half within 5% (at
      // n=16 a shard holds ~12300 indices: a random half of them varies by ~1% (one sd), so 5%
      // fails only for a skewed order, not by chance).
      for (let k = 1; k <= n; k++) {
        let low = 0;
        for (let v = 0; v < size / 2; v++) if (owner[v] === k) low++;
        t.ok(Math.abs(low / (size / 2 / n) - 1) < 0.05, `n=${n} k=${k}: ${low} of the low half`);
      }
    }
  }
  const again = [...shardOrder(1000, 42, 2, 3)];
  t.same([...shardOrder(1000, 42, 2, 3)], again, 'same seed, same order');
  t.notSame([...shardOrder(1000, 43, 2, 3)], again, 'another seed, another order');
});

t.test('shard and seed text', async (t) => {
  t.same(parseShard('2/5'), { k: 2, n: 5 });
  for (const bad of ['0/4', '5/4', '1/0', 'a/b', '1', '1/2/3', '-1/2']) t.throws(() => parseShard(bad), new RangeError(`--shard must be K/N with 1 <= K <= N, not "${bad}"`));
  t.equal(firstPosition({ k: 3, n: 4 }, 0), 2);
  t.equal(firstPosition({ k: 3, n: 4 }, 3), 6);
  t.equal(firstPosition({ k: 3, n: 4 }, 6), 6);
});

t.test('the index space: ranges in order, ports per address, names keep their host', async (t) => {
  const space = new IndexSpace([{ range: parseSpec('127.0.0.254-127.0.1.0')[0]! }, { range: parseSpec('::1')[0]!, fields: { host: 'ip6-localhost' } }], [22, 80]);
  t.equal(space.size, 8);
  t.same(
    Array.from({ length: 8 }, (_, i) => space.line(i)).join(''),
    '{"ip":"127.0.0.254","port":22}\n{"ip":"127.0.0.254","port":80}\n{"ip":"127.0.0.255","port":22}\n{"ip":"127.0.0.255","port":80}\n' +
      '{"ip":"127.0.1.0","port":22}\n{"ip":"127.0.1.0","port":80}\n{"host":"ip6-localhost","ip":"::1","port":22}\n{"host":"ip6-localhost","ip":"::1","port":80}\n',
  );
  t.throws(() => new IndexSpace([{ range: parseSpec('fd00::/64')[0]! }]), /at most 2\^52/);
});

const lines = (text: string): string[] => text.split('\n').filter(Boolean);

t.test('iprange: shards merged equal the plain run; --resume-at continues exactly; -v says where', async (t) => {
  const plain = lines((await runIn('iprange', ['127.0.0.0/22', '127.1.0.0/30'])).stdout);
  const shuffled = await runIn('iprange', ['--seed', '99', '127.0.0.0/22', '127.1.0.0/30']);
  t.notSame(lines(shuffled.stdout), plain, 'not in address order');
  t.same([...lines(shuffled.stdout)].sort(), [...plain].sort(), 'every address once');
  const parts = await Promise.all([1, 2, 3].map((k) => runIn('iprange', ['--seed', '99', '--shard', `${k}/3`, '127.0.0.0/22', '127.1.0.0/30'])));
  t.same(parts.flatMap((p) => lines(p.stdout)).sort(), [...plain].sort(), 'three shards: a partition');
  const resumed = await runIn('iprange', ['--seed', '99', '--resume-at', '1000', '-v', '127.0.0.0/22', '127.1.0.0/30']);
  t.same(lines(resumed.stdout), lines(shuffled.stdout).slice(1000), 'resume at 1000');
  t.match(resumed.stderr, /^iprange: 1028 targets, --seed 99\niprange: 28 addresses, all done, elapsed/);
  const random = await runIn('iprange', ['--shuffle', '-v', '127.0.0.0/24']);
  const seed = /--seed (\d+)/.exec(random.stderr)?.[1];
  t.ok(seed, 'a random seed is printed under -v');
  t.same(lines((await runIn('iprange', ['--seed', seed ?? '', '127.0.0.0/24'])).stdout), lines(random.stdout), 'and replays the order');
});

t.test('iprange: bad order flags exit 2 naming the value', async (t) => {
  const cases: [string[], string][] = [
    [['--shard', '0/4', '--seed', '1'], '--shard must be K/N with 1 <= K <= N, not "0/4"'],
    [['--shard', '5/4', '--seed', '1'], '--shard must be K/N with 1 <= K <= N, not "5/4"'],
    [['--shard', '1/0', '--seed', '1'], '--shard must be K/N with 1 <= K <= N, not "1/0"'],
    [['--shard', 'a/b', '--seed', '1'], '--shard must be K/N with 1 <= K <= N, not "a/b"'],
    [['--shard', '1/2'], '--shard 1/2 needs --seed N: each shard would pick its own order, and together they would not cover the targets'],
    [['--seed', 'x'], '--seed must be a whole number 0-9007199254740991, not "x"'],
    [['--seed', '1', '--resume-at', '9'], '--resume-at 9 is beyond the end (8 targets)'],
    [['--resume-at', '-1'], '--resume-at must be a whole number 0-9007199254740991, not "-1"'],
    [['--ports', '0'], 'bad port "0": port must be 1-65535'],
  ];
  for (const [args, message] of cases) {
    const result = await runIn('iprange', [...args, '127.0.0.0/29']);
    t.equal(result.stderr.split('\n')[0], `iprange: ${message}`, args.join(' '));
    t.equal(result.stdout, '');
    t.equal(result.code, 2);
  }
});
