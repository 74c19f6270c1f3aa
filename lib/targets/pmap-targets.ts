// pmap's targets: positional specs and every -ip, then -iL files, less the exclusions, names
// resolved; the same records the filters would read.
import type { Io } from '../frame.js';
import type { Target } from '../records.js';
import { rangeSize } from '../targets.js';
import { chainItems, exclusionsFromArgs, listFileItems, resolverFromArgs, resolveTargets, specItems, type TargetItem } from './input.js';

export interface PmapTargets {
  records: AsyncIterable<Target>;
  /** How many addresses, when known before the scan (no names, no -iL); for the progress line. */
  addresses: bigint | null;
}

export async function pmapTargets(options: { specs: string[]; listFiles: string[]; targetArgs: import('minimist').ParsedArgs }, io: Io): Promise<PmapTargets> {
  const resolver = resolverFromArgs(options.targetArgs);
  const excluded = await exclusionsFromArgs(options.targetArgs, resolver);
  const fromSpecs: TargetItem[] = options.specs.flatMap((spec) => specItems(spec, excluded));
  let addresses: bigint | null = options.listFiles.length > 0 ? null : 0n;
  for (const item of fromSpecs) {
    if (item.kind === 'name') addresses = null;
    else if (item.kind === 'ranges' && addresses !== null) addresses += item.ranges.reduce((sum, range) => sum + rangeSize(range), 0n);
  }
  const items = chainItems([fromSpecs, ...listFileItems(options.listFiles, excluded, io.lineError, io.stdin)]);
  return { records: resolveTargets(items, { excluded, resolver, reverse: Boolean(options.targetArgs.R) }, io.lineError), addresses };
}
