// pmap's targets: positional specs and every -ip, then -iL files, less the exclusions, names
// resolved; the same records the filters would read.
import type { Io } from '../frame.js';
import type { Target } from '../records.js';
import { rangeSize } from '../targets.js';
import { UsageError } from '../frame.js';
import { IndexSpace, segmentsOf, type OrderOptions } from '../iprange.js';
import { mapAhead } from './ahead.js';
import { chainItems, exclusionsFromArgs, listFileItems, resolveItems, resolverFromArgs, resolveTargets, specItems, type TargetItem } from './input.js';
import type { NameResolver } from './names.js';
import { firstPosition, Permutation } from './permutation.js';
import { ResumePoint } from './resume.js';

export interface PmapTargets {
  records: AsyncIterable<Target>;
  /** How many addresses, when known before the scan (no names, no -iL); for the progress line. */
  addresses: bigint | null;
  /** Ordered (--shuffle, --seed, --shard, --resume-at): every target's position, and where to resume. */
  ordered?: { size: number; resume: ResumePoint };
}

export async function pmapTargets(
  options: { specs: string[]; listFiles: string[]; targetArgs: import('minimist').ParsedArgs; order?: OrderOptions },
  io: Io,
): Promise<PmapTargets> {
  const resolver = resolverFromArgs(options.targetArgs);
  const excluded = await exclusionsFromArgs(options.targetArgs, resolver);
  const fromSpecs: TargetItem[] = options.specs.flatMap((spec) => specItems(spec, excluded));
  if (options.order) {
    // An order is a permutation of an index space: every spec, list line and name is read and
    // resolved first (the space holds ranges, not addresses: constant memory for a large range).
    const items = chainItems([fromSpecs, ...listFileItems(options.listFiles, excluded, io.lineError, io.stdin)]);
    const space = new IndexSpace(await segmentsOf(resolveItems(items, { excluded, resolver }, io.lineError)));
    const order = options.order;
    if (order.resumeAt > space.size) throw new UsageError(`--resume-at ${order.resumeAt} is beyond the end (${space.size} targets)`);
    const shard = order.shard ?? { k: 1, n: 1 };
    const first = firstPosition(shard, order.resumeAt);
    const resume = new ResumePoint(Math.min(first, space.size));
    const records = orderedTargets(space, order, first, resume);
    return {
      records: options.targetArgs.R ? withReverse(records, resolver) : records,
      addresses: BigInt(Math.max(0, Math.ceil((space.size - first) / shard.n))),
      ordered: { size: space.size, resume },
    };
  }
  let addresses: bigint | null = options.listFiles.length > 0 ? null : 0n;
  for (const item of fromSpecs) {
    if (item.kind === 'name') addresses = null;
    else if (item.kind === 'ranges' && addresses !== null) addresses += item.ranges.reduce((sum, range) => sum + rangeSize(range), 0n);
  }
  const items = chainItems([fromSpecs, ...listFileItems(options.listFiles, excluded, io.lineError, io.stdin)]);
  return { records: resolveTargets(items, { excluded, resolver, reverse: Boolean(options.targetArgs.R) }, io.lineError), addresses };
}

async function* orderedTargets(space: IndexSpace, order: OrderOptions, first: number, resume: ResumePoint): AsyncGenerator<Target> {
  const permutation = order.seed === undefined ? null : new Permutation(space.size, order.seed);
  const step = order.shard?.n ?? 1;
  for (let position = first; position < space.size; position += step) {
    const target = space.target(permutation ? permutation.at(position) : position);
    // Handed out as the probes pull it: from here on it is in flight until its results are in.
    resume.handOut(position, target.ip, Math.min(position + step, space.size));
    yield target;
  }
}

function withReverse(targets: AsyncIterable<Target>, resolver: NameResolver): AsyncIterable<Target> {
  return mapAhead(
    targets,
    async (target): Promise<Target> => {
      const ptr = await resolver.reverse(target.ip);
      return ptr === undefined ? target : { ...target, ptr };
    },
    16,
  );
}
