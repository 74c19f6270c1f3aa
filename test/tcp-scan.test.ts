// tcpScan's own rules (lib/tcpprobe.ts), on a scripted socket layer: the per-port path there runs
// without an Observable per port, so the pool's rules it replaces are checked here directly:
// backpressure holds the work, unsubscribing stops the sends, an unreachable host's remaining
// ports are never started, and --all gives exactly one record per port, in order with --ordered.
import { EventEmitter } from 'node:events';
import { lastValueFrom, toArray } from 'rxjs';
import t from 'tap';
import type { ProbeSocket, SocketLayer } from '../lib/tcp-engine.js';
import { tcpScan, type TcpScanOptions } from '../lib/tcpprobe.js';
import type { Rec, Target } from '../lib/records.js';
import { HostEvidence } from '../lib/discovery/host-evidence.js';
import type { NeighbourTable } from '../lib/discovery/neighbours.js';

/** Every address answered ARP but those in `dead`, whose entries FAILED. */
const table = (dead: string[] = []): NeighbourTable => ({
  state: async (ip) => (dead.includes(ip) ? 'failed' : 'reachable'),
  route: async () => ({ type: 'unicast', dev: 'veth' }),
  snapshot: async () => new Map(),
  refresh: async () => 'none',
});

/** Port 7 in every ten is open, the rest refuse; hosts in `dead` say EHOSTUNREACH. Answers on the next turn. */
class Layer implements SocketLayer {
  connects: string[] = [];
  open = 0;
  constructor(private readonly dead: string[] = []) {}
  create(): ProbeSocket {
    const events = new EventEmitter();
    let closed = false;
    const layer = this;
    const close = (): void => {
      if (!closed) layer.open--;
      closed = true;
    };
    const socket = {
      localPort: undefined as number | undefined,
      localAddress: undefined as string | undefined,
      connect(port: number, host: string) {
        layer.connects.push(`${host}:${port}`);
        layer.open++;
        setImmediate(() => {
          if (closed) return;
          if (layer.dead.includes(host)) {
            events.emit('error', Object.assign(new Error('EHOSTUNREACH'), { code: 'EHOSTUNREACH' }));
          } else if (port % 10 === 7) {
            socket.localAddress = host;
            socket.localPort = 40000;
            events.emit('connect');
          } else {
            events.emit('error', Object.assign(new Error('ECONNREFUSED'), { code: 'ECONNREFUSED' }));
          }
        });
        return socket;
      },
      setTimeout: () => socket,
      once: (event: string, listener: (...args: any[]) => void) => events.once(event, listener),
      on: (event: string, listener: (...args: any[]) => void) => events.on(event, listener),
      resetAndDestroy: close,
      destroy: close,
    };
    return socket;
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const options = (layer: SocketLayer, extra: Partial<TcpScanOptions> = {}): TcpScanOptions => ({
  ports: range(1, 100),
  concurrency: 10,
  timeoutMs: 1000,
  retries: 1,
  all: false,
  ordered: false,
  fdLimit: null,
  layer,
  evidence: new HostEvidence(table()),
  random: () => 0.5,
  ...extra,
});
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('--all: exactly one record per port; --ordered gives them in input order', async (t) => {
  for (const ordered of [false, true]) {
    const layer = new Layer();
    const targets: Target[] = [{ ip: '198.18.0.1', name: 'a' }, { ip: '198.18.0.2', rtt: 1.5 }];
    const { records, stats } = tcpScan(targets, options(layer, { all: true, ordered, ports: range(1, 30) }));
    const got = await lastValueFrom(records.pipe(toArray()));
    const want: Rec[] = targets.flatMap((target) =>
      range(1, 30).map((port) => {
        const { rtt: _rtt, ...fields } = target;
        return { ...fields, port, state: port % 10 === 7 ? 'open' : 'closed' };
      }),
    );
    // Open and refused ports both have their own rtt, measured here.
    t.ok(got.every((r) => typeof r.rtt === 'number'), 'every record has an rtt');
    const withoutRtt = got.map(({ rtt: _rtt, ...rest }) => rest);
    if (ordered) t.same(withoutRtt, want, 'in input order');
    else t.same([...withoutRtt].sort((x, y) => `${x.ip}:${x.port}`.localeCompare(`${y.ip}:${y.port}`)), [...want].sort((x, y) => `${x.ip}:${x.port}`.localeCompare(`${y.ip}:${y.port}`)));
    t.match(stats, { hosts: 2, portsTried: 60, open: 6, closed: 54, filtered: 0 });
    t.equal(layer.open, 0, 'every socket closed');
  }
});

t.test('without --all only open ports come out, with the input fields', async (t) => {
  const layer = new Layer();
  const { records } = tcpScan([{ ip: '198.18.0.1', name: 'a' }], options(layer, { ordered: true }));
  const got = await lastValueFrom(records.pipe(toArray()));
  t.same(got.map((r) => `${r.name} ${r.ip}:${r.port} ${r.state}`), range(1, 100).filter((p) => p % 10 === 7).map((p) => `a 198.18.0.1:${p} open`));
});

t.test('backpressure: no connect starts while ready() is pending', async (t) => {
  const layer = new Layer();
  let gate: (() => void) | null = null;
  let blocked = true;
  const ready = (): Promise<void> | undefined => (blocked ? new Promise<void>((resolve) => (gate = resolve)) : undefined);
  const { records } = tcpScan([{ ip: '198.18.0.1' }], options(layer), ready);
  const done = lastValueFrom(records.pipe(toArray()));
  for (let i = 0; i < 5; i++) await turn();
  t.equal(layer.connects.length, 0, 'nothing sent while the output is full');
  // One port per ready(): let three through, one at a time.
  for (let i = 1; i <= 3; i++) {
    const open = gate as (() => void) | null;
    gate = null;
    open?.();
    for (let j = 0; j < 5; j++) await turn();
    t.equal(layer.connects.length, i, `${i} started after ${i} ready()`);
  }
  blocked = false;
  (gate as (() => void) | null)?.();
  const got = await done;
  t.equal(layer.connects.length, 100);
  t.equal(got.length, 10);
});

t.test('unsubscribing stops the sends and closes what is in flight', async (t) => {
  const layer = new Layer();
  const seen: Rec[] = [];
  const { records } = tcpScan([{ ip: '198.18.0.1' }], options(layer, { ports: range(1, 5000), concurrency: 20 }));
  const subscription = records.subscribe((record) => seen.push(record));
  while (seen.length < 3) await turn();
  subscription.unsubscribe();
  const sent = layer.connects.length;
  t.ok(sent < 5000, `stopped after ${sent} connects`);
  for (let i = 0; i < 10; i++) await turn();
  t.equal(layer.connects.length, sent, 'no connect after unsubscribing');
  t.equal(layer.open, 0, 'no socket left open');
});

t.test('an unreachable host: one record with --all, its remaining ports never started', async (t) => {
  const layer = new Layer(['198.18.0.200']);
  const skipped: string[] = [];
  const { records, stats } = tcpScan(
    [{ ip: '198.18.0.200', name: 'dead' }, { ip: '198.18.0.1' }],
    options(layer, {
      all: true,
      concurrency: 2,
      evidence: new HostEvidence(table(['198.18.0.200'])),
      onUnreachable: (ip, reason, left) => skipped.push(`${ip} ${reason} ${left}`),
    }),
  );
  const got = await lastValueFrom(records.pipe(toArray()));
  t.same(got.filter((r) => r.ip === '198.18.0.200'), [{ ip: '198.18.0.200', name: 'dead', state: 'unreachable', reason: 'EHOSTUNREACH' }]);
  t.equal(got.length, 101, 'the live host still has all its 100 ports');
  const dead = layer.connects.filter((c) => c.startsWith('198.18.0.200:')).length;
  t.ok(dead <= 6, `at most the ports in hand were tried (${dead})`);
  t.equal(skipped.length, 1);
  t.match(skipped[0], /^198\.18\.0\.200 EHOSTUNREACH \d+$/);
  // Ports handed to the timing core count as started (-n 2: up to 6), though it drops them unsent.
  const handed = 100 - Number(skipped[0]!.split(' ')[2]);
  t.ok(handed >= dead && handed <= 6, `the notice counts the ${100 - handed} ports never started`);
  t.match(stats, { hosts: 2, unreachableHosts: 1, portsTried: 100 });
});

t.test('records from an async source, one port each, are one host per address', async (t) => {
  const layer = new Layer();
  async function* source(): AsyncGenerator<Target> {
    for (const port of [7, 8, 17]) yield { ip: '198.18.0.1', port };
    yield { ip: '198.18.0.2', alive: false };
    yield { ip: '198.18.0.3', port: 27 };
  }
  const { records, stats } = tcpScan(source(), options(layer, { ordered: true, all: true }));
  const got = await lastValueFrom(records.pipe(toArray()));
  t.same(got.map((r) => `${r.ip}:${r.port} ${r.state}`), ['198.18.0.1:7 open', '198.18.0.1:8 closed', '198.18.0.1:17 open', '198.18.0.3:27 open']);
  t.match(stats, { hosts: 2, portsTried: 4 });
  t.notOk(layer.connects.some((c) => c.startsWith('198.18.0.2')), 'alive: false is skipped');
});

t.test('a record with a bad port ends the scan with the reason, from a sync or an async source', async (t) => {
  for (const asynchronous of [false, true]) {
    const layer = new Layer();
    const list: Target[] = [{ ip: '198.18.0.1', port: 7 }, { ip: '198.18.0.1', port: 70000 }];
    const source = asynchronous
      ? (async function* () {
          yield* list;
        })()
      : list;
    const { records } = tcpScan(source, options(layer));
    await t.rejects(lastValueFrom(records.pipe(toArray())), /"port" must be a whole number 1-65535, not 70000/);
  }
});
