// svcprobe as a stream stage: open-port records in, the same records with a `service` object out.
// Records that are not open ports (no ip+port, another state, or a service already found by an
// earlier stage) pass through untouched, in their place among the others.
import type { ParsedArgs } from 'minimist';
import { filter, merge, mergeMap, Observable, of, share, type OperatorFunction } from '../rx.js';
import { allValues, positiveInt, UsageError } from '../frame.js';
import { pullMerge } from '../pool.js';
import type { Rec } from '../records.js';
import { identifyService, type EngineOptions, type Service } from './engine.js';
import { ALL_PROBES } from './probes.js';
import { shippedSignatures } from './signatures.js';

export const SVC_DEFAULTS = { concurrency: 64, timeoutMs: 1000, bannerWaitMs: 500, capBytes: 16384 } as const;

/** minimist flags of svcprobe, defaults included. */
export const SVC_FLAGS = {
  string: ['n', 't', 'wait', 'probes', 'max-bytes'],
  boolean: ['all', 'ordered'],
  default: { n: `${SVC_DEFAULTS.concurrency}`, t: `${SVC_DEFAULTS.timeoutMs}`, wait: `${SVC_DEFAULTS.bannerWaitMs}`, 'max-bytes': `${SVC_DEFAULTS.capBytes}` },
};

export interface SvcOptions extends Omit<EngineOptions, 'table'> {
  concurrency: number;
  /** Results in input order (default: as found). */
  ordered: boolean;
  table?: EngineOptions['table'];
  onProgress?: (line: string) => void;
}

/** Options from parsed SVC_FLAGS; a bad value throws a UsageError naming it. */
export function svcOptionsFromArgs(args: ParsedArgs): SvcOptions {
  const probes = allValues(args, 'probes').flatMap((list) => list.split(',')).filter(Boolean);
  const unknown = probes.find((name) => !ALL_PROBES.includes(name));
  if (unknown !== undefined) throw new UsageError(`--probes: unknown probe "${unknown}" (${ALL_PROBES.join(', ')})`);
  return {
    concurrency: positiveInt(args, 'n'),
    timeoutMs: positiveInt(args, 't'),
    bannerWaitMs: positiveInt(args, 'wait'),
    capBytes: positiveInt(args, 'max-bytes', 64),
    all: Boolean(args.all),
    ordered: Boolean(args.ordered),
    ...(probes.length > 0 ? { probes } : {}),
  };
}

/** Whether svcprobe asks about this record: an address and a port, open (or no state said), no service yet. */
export function wantsProbe(record: Rec): record is Rec & { ip: string; port: number } {
  return (
    typeof record.ip === 'string' &&
    typeof record.port === 'number' &&
    Number.isInteger(record.port) &&
    record.port >= 1 &&
    record.port <= 65535 &&
    (record.state === undefined || record.state === 'open') &&
    record.service === undefined
  );
}

/** The record with `service` added once its port is probed (cancelled on unsubscribe), or as it is. */
function withService(record: Rec, engine: EngineOptions, onService?: (service: Service) => void): Observable<Rec> {
  if (!wantsProbe(record)) return of(record);
  return new Observable<Rec>((subscriber) => {
    const abort = new AbortController();
    const serverName = typeof record.host === 'string' ? record.host : undefined;
    identifyService(record.ip, record.port, serverName, engine, abort.signal).then(
      (service) => {
        onService?.(service);
        subscriber.next({ ...record, service });
        subscriber.complete();
      },
      (err: unknown) => subscriber.error(err),
    );
    return () => abort.abort();
  });
}

export interface SvcStats {
  records: number;
  probed: number;
  identified: number;
  summary(): string;
}

/**
 * Every record of `records` out once, open ports with `service` added (nothing else is changed).
 * At most `concurrency` ports are probed at a time; `ready` is the output's backpressure.
 */
export function svcScan(
  records: Iterable<Rec> | AsyncIterable<Rec>,
  options: SvcOptions,
  ready?: () => Promise<void> | undefined,
): { records: Observable<Rec>; stats: SvcStats } {
  const engine: EngineOptions = { ...options, table: options.table ?? shippedSignatures() };
  const stats: SvcStats = {
    records: 0,
    probed: 0,
    identified: 0,
    summary: () => `${stats.records} records, ${stats.probed} ports probed, ${stats.identified} identified by their answers`,
  };
  const probed = pullMerge(
    records,
    options.concurrency,
    (record) => {
      stats.records++;
      return withService(record, engine, (service) => {
        stats.probed++;
        if (service.method !== 'table') stats.identified++;
      });
    },
    { ordered: options.ordered, ...(ready ? { ready } : {}) },
  );
  const out = new Observable<Rec>((subscriber) => {
    const progress = options.onProgress;
    const ticker = progress ? setInterval(() => progress(stats.summary()), 250) : undefined;
    ticker?.unref();
    const subscription = probed.subscribe(subscriber);
    return () => {
      if (ticker) clearInterval(ticker);
      subscription.unsubscribe();
    };
  });
  return { records: out, stats };
}

/**
 * The svcprobe stage as an operator, for pmap -sV: open-port records get their `service`, at most
 * `concurrency` at a time; every other record goes straight on. The records waiting for a slot are
 * open ports only (a scan's closed and filtered ports never queue here).
 */
export function withServices(options: SvcOptions): OperatorFunction<Rec, Rec> {
  const engine: EngineOptions = { ...options, table: options.table ?? shippedSignatures() };
  return (source) => {
    const records = source.pipe(share());
    return merge(
      records.pipe(filter((record) => !wantsProbe(record))),
      records.pipe(
        filter(wantsProbe),
        mergeMap((record) => withService(record, engine), options.concurrency),
      ),
    );
  };
}
