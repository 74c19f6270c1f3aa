// discoverySweep with no network: a fake ICMP socket, a fake TCP socket layer and a fake neighbour
// table decide each host, so every method and the one-record-per-host rule are checked anywhere.
import { lastValueFrom, toArray } from 'rxjs';
import t from 'tap';
import { discoveryFlags, discoverySweep } from '../lib/discovery/sweep.js';
import { kernelNeighbours, parseNeighbourTable, parseProcArp, type NeighbourState, type NeighbourTable } from '../lib/discovery/neighbours.js';
import type { OpenIcmpSocket } from '../lib/icmp-engine.js';
import { parseFlags } from '../lib/frame.js';
import { eventSocketLayer } from './fixtures/event-socket.js';

const ICMP_HOST = '198.18.0.10';
const ARP_HOST = '198.18.0.11';
const TCP_HOST = '198.18.0.12';
const DEAD = '198.18.0.13';
const QUIET = '198.18.0.14';

/** Echo replies from ICMP_HOST only (IPv4 raw packets carry a 20-byte IP header). */
const icmp: OpenIcmpSocket = (_family, handlers) => ({
  send(packet, address, sent) {
    sent(null);
    if (address !== ICMP_HOST) return;
    const reply = Buffer.from(packet);
    reply[0] = 0;
    const header = Buffer.alloc(20);
    header[0] = 0x45;
    header[8] = 64;
    header[9] = 1;
    setImmediate(() => handlers.message(Buffer.concat([header, reply]), address));
  },
  close: () => undefined,
});

/** TCP_HOST answers every port with an RST; every other host never answers. */
const tcp = eventSocketLayer((events, _socket, _port, host) => {
  if (host === TCP_HOST) setImmediate(() => events.emit('error', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })));
  else setTimeout(() => events.emit('timeout'), 30);
});

const table = (states: Record<string, NeighbourState>): NeighbourTable & { snapshots: number } => {
  const fake = {
    snapshots: 0,
    state: async (ip: string) => states[ip] ?? 'none',
    snapshot: async () => {
      fake.snapshots++;
      return new Map(Object.entries(states));
    },
    refresh: async (ip: string) => states[ip] ?? 'none',
    route: async () => ({ type: 'unicast' }),
  };
  return fake;
};

const sweep = (targets: string[], extra: Record<string, unknown> = {}, states: Record<string, NeighbourState> = {}) => {
  const run = discoverySweep(
    targets.map((ip) => ({ ip })),
    {
      concurrency: 10,
      timeoutMs: 40,
      retries: 1,
      count: 1,
      all: true,
      loadSocket: async () => icmp,
      layer: tcp,
      table: table({ [ICMP_HOST]: 'reachable', [ARP_HOST]: 'reachable', [DEAD]: 'incomplete', ...states }),
      neighbourPollMs: 10,
      ...extra,
    },
  );
  return { stats: run.stats, records: lastValueFrom(run.records.pipe(toArray())) };
};

t.test('each host once, with the method that found it', async (t) => {
  const { records, stats } = sweep([ICMP_HOST, ARP_HOST, TCP_HOST, DEAD, QUIET], { tcpPorts: [80, 443], ordered: true });
  t.match(await records, [
    { ip: ICMP_HOST, alive: true, method: 'icmp', rtt: Number, ttl: 64 },
    { ip: ARP_HOST, alive: true, method: 'neighbour' },
    { ip: TCP_HOST, alive: true, method: 'tcp', rtt: Number },
    { ip: DEAD, alive: false },
    { ip: QUIET, alive: false },
  ]);
  t.equal((await records).length, 5);
  t.same(stats.byMethod, { icmp: 1, tcp: 1, neighbour: 1 });
  t.match(stats.summary(), /^5 hosts, 3 alive \(1 by icmp, 1 by tcp, 1 by neighbour\), \d+ echoes sent \(raw ICMP\), \d+ TCP connects; timing: srtt /);
});

t.test('without --all only hosts up; --no-neighbour leaves ARP-only hosts down', async (t) => {
  const quiet = await sweep([ICMP_HOST, ARP_HOST, DEAD], { all: false }).records;
  t.same(quiet.map((record) => record.ip).sort(), [ICMP_HOST, ARP_HOST]);
  const noTable = await sweep([ICMP_HOST, ARP_HOST], { neighbours: false }).records;
  t.match(noTable.sort((a, b) => String(a.ip).localeCompare(String(b.ip))), [{ ip: ICMP_HOST, alive: true }, { ip: ARP_HOST, alive: false }]);
});

t.test('a STALE entry proves nothing until resolved afresh', async (t) => {
  const records = await sweep([ARP_HOST], {}, { [ARP_HOST]: 'stale' }).records;
  t.same(records, [{ ip: ARP_HOST, alive: false }]);
});

t.test('flags: --tcp alone is 80,443; --tcp=PORTS; a bad value names the flag', async (t) => {
  const flags = { string: ['tcp'], boolean: ['neighbour'], default: { neighbour: true } };
  t.same(discoveryFlags(parseFlags([], flags)), { neighbours: true });
  t.same(discoveryFlags(parseFlags(['--tcp'], flags)), { tcpPorts: [80, 443], neighbours: true });
  t.same(discoveryFlags(parseFlags(['--tcp=22,25', '--no-neighbour'], flags)), { tcpPorts: [22, 25], neighbours: false });
  t.throws(() => discoveryFlags(parseFlags(['--tcp', '198.18.0.1'], flags)), /--tcp: bad port "198.18.0.1".*--tcp=PORTS/);
});

t.test('the kernel tables as ip -j and /proc/net/arp print them', async (t) => {
  const text = JSON.stringify([
    { dst: '198.18.0.10', dev: 'v', lladdr: '02:00:00:00:00:01', state: ['REACHABLE'] },
    { dst: '198.18.0.200', dev: 'v', state: ['FAILED'] },
    { dst: 'fd00:198:18:0::10', dev: 'v', state: ['STALE'] },
  ]);
  t.same([...parseNeighbourTable(text)], [['198.18.0.10', 'reachable'], ['198.18.0.200', 'failed'], ['fd00:198:18::10', 'stale']]);
  t.same([...parseNeighbourTable('not json')], []);
  const arp = 'IP address       HW type     Flags       HW address            Mask     Device\n198.18.0.10      0x1         0x2         02:00:00:00:00:01     *        v\n198.18.0.200     0x1         0x0         00:00:00:00:00:00     *        v\n';
  t.equal(parseProcArp(arp, '198.18.0.10'), 'reachable');
  t.equal(parseProcArp(arp, '198.18.0.200'), 'incomplete');
  t.equal(parseProcArp(arp, '198.18.0.99'), 'none');
  // Without iproute2: IPv4 from /proc/net/arp, IPv6 unknown, routes unknown (never "no route").
  const missing = kernelNeighbours(async () => ({ ok: false, stdout: '', missing: true }));
  t.equal(await missing.route('198.18.0.10'), undefined);
  t.equal(await missing.state('fd00:198:18::10'), 'none');
  const noRoute = kernelNeighbours(async () => ({ ok: false, stdout: '' }));
  t.equal(await noRoute.route('198.18.0.10'), null, '`ip route get` failing: no route');
  const routed = kernelNeighbours(async () => ({ ok: true, stdout: '[{"dst":"198.18.1.1","gateway":"198.18.0.1","dev":"v","type":"unicast"}]' }));
  t.same(await routed.route('198.18.1.1'), { type: 'unicast', gateway: '198.18.0.1', dev: 'v' });
});
