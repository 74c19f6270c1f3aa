// iprange --shuffle keeps its memory flat through a pipe (#12 bench row): the chunk buffer is
// filled again once the stream has handed it on, not allocated anew per 64 KiB chunk (garbage
// that raised peak RSS from 57 MB for a /16 to 89 MB for a /8).
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import t from 'tap';
import { IndexSpace, writeOrdered } from '../lib/iprange.js';
import { parseSpec, type AddressRange } from '../lib/targets.js';
import { Permutation } from '../lib/targets/permutation.js';

t.test('a slow pipe-like reader: every address once, in the permuted order, through at most two buffers', async (t) => {
  const buffers = new Set<ArrayBufferLike>();
  const hash = createHash('sha256');
  let bytes = 0;
  // As a pipe to a slower reader: each write completes on a later turn.
  const out = new Writable({
    highWaterMark: 16384,
    write(chunk: Buffer, _encoding, done) {
      buffers.add(chunk.buffer);
      hash.update(chunk);
      bytes += chunk.length;
      setImmediate(done);
    },
  });
  const range = parseSpec('127.0.0.0/14')[0] as AddressRange;
  const space = new IndexSpace([{ range }]);
  const progress = { written: 0, next: 0 };
  await writeOrdered(space, { seed: 5, resumeAt: 0 }, out, new AbortController().signal, progress);
  await new Promise<void>((resolve) => out.end(resolve));
  t.equal(progress.written, 2 ** 18);
  const permutation = new Permutation(2 ** 18, 5);
  const expected = createHash('sha256');
  for (let i = 0; i < 2 ** 18; i++) {
    const v = permutation.at(i);
    expected.update(`{"ip":"127.${v >>> 16}.${(v >>> 8) & 255}.${v & 255}"}\n`);
  }
  t.equal(hash.digest('hex'), expected.digest('hex'), 'the same lines as the permutation gives');
  t.ok(bytes > 80 * 65536, `${Math.round(bytes / 65536)} chunks written`);
  t.ok(buffers.size <= 2, `${buffers.size} buffers used`);
});
