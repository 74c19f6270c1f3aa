// pmap's tally counts a tcp scan without keeping its hosts (#10 item 15, tcp part): a host is
// remembered only while its ports are still coming in.
import t from 'tap';
import { Tally } from '../lib/report.js';
import type { Rec } from '../lib/records.js';

const ip = (i: number): string => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

t.test('many hosts x ports, interleaved as a connect scan returns them: exact totals, few hosts held', async (t) => {
  const ports = [22, 80, 443];
  const tally = new Tally(ports.length);
  let most = 0;
  // 8 hosts in flight at a time, their ports answering in turn; every 7th host has 80 open, every
  // 5th answers nothing (filtered), host 3 of each 1000 is unreachable after one port.
  const hosts = 100_000;
  for (let base = 0; base < hosts; base += 8) {
    for (const [k, port] of ports.entries()) {
      for (let i = base; i < Math.min(base + 8, hosts); i++) {
        if (i % 1000 === 3 && k > 0) continue;
        const record: Rec = { ip: ip(i), port, state: i % 5 === 0 ? 'filtered' : port === 80 && i % 7 === 0 ? 'open' : 'closed' };
        tally.add(record);
        if (i % 1000 === 3) tally.add({ ip: ip(i), state: 'unreachable', reason: 'EHOSTUNREACH' });
        most = Math.max(most, tally.hostsInProgress);
      }
    }
  }
  const unreachable = hosts / 1000;
  const filteredHosts = hosts / 5;
  const portRecords = (hosts - unreachable) * 3 + unreachable;
  const open = Array.from({ length: hosts }, (_, i) => i).filter((i) => i % 5 !== 0 && i % 7 === 0 && i % 1000 !== 3).length;
  const filteredPorts = Array.from({ length: hosts }, (_, i) => i).reduce((sum, i) => sum + (i % 5 === 0 ? (i % 1000 === 3 ? 1 : 3) : 0), 0);
  t.same(tally.totals, {
    hosts,
    up: hosts - filteredHosts,
    ports: portRecords,
    open,
    closed: portRecords - open - filteredPorts,
    filtered: filteredPorts,
    unreachable,
  });
  t.ok(most <= 8, `at most ${most} hosts held at once`);
  t.equal(tally.hostsInProgress, 0, 'none left once every host is complete');
});

t.test('a host found down by discovery, a ping result: one record each, nothing kept', async (t) => {
  const tally = new Tally(1024);
  tally.add({ ip: '127.0.0.9', alive: false });
  tally.add({ ip: '127.0.0.1', port: 22, state: 'open' });
  t.same(tally.totals, { hosts: 2, up: 1, ports: 1, open: 1, closed: 0, filtered: 0, unreachable: 0 });
  t.equal(tally.hostsInProgress, 1, 'the scanned host waits for its other 1023 ports');
  const ping = new Tally(true);
  for (let i = 0; i < 1000; i++) ping.add({ ip: ip(i), alive: i % 2 === 0 });
  t.same(ping.totals, { hosts: 1000, up: 500, ports: 0, open: 0, closed: 0, filtered: 0, unreachable: 0 });
  t.equal(ping.hostsInProgress, 0);
});
