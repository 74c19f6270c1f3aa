import t from 'tap';
import { parsePorts, shuffled } from '../lib/ports.js';

t.test('parses port lists', async (t) => {
  t.same(parsePorts('22'), [22]);
  t.same(parsePorts('80,22,22,443'), [22, 80, 443]);
  t.same(parsePorts('8000-8003, 1'), [1, 8000, 8001, 8002, 8003]);
  t.equal(parsePorts('1-1024').length, 1024);
  t.equal(parsePorts('-').length, 65535);
  t.equal(parsePorts('1-65535').length, 65535);
  t.same(parsePorts('65530-'), [65530, 65531, 65532, 65533, 65534, 65535]);
  t.same(parsePorts('-3'), [1, 2, 3]);
});

t.test('refuses bad port specs, naming them', async (t) => {
  const bad: [string, RegExp][] = [
    ['0', /bad port "0": port must be 1-65535/],
    ['65536', /bad port "65536": port must be 1-65535/],
    ['80-20', /bad port "80-20": the range ends before it starts/],
    ['abc', /bad port "abc": not a port number/],
    ['22,x', /bad port "x"/],
    ['', /empty port list/],
    ['1-2-3', /bad port "1-2-3"/],
    ['22,', /bad port ""/],
  ];
  for (const [spec, message] of bad) t.throws(() => parsePorts(spec), message, spec);
});

t.test('shuffles without losing or repeating', async (t) => {
  const ports = parsePorts('1-1000');
  const mixed = shuffled(ports);
  t.not(mixed.join(), ports.join(), 'order changed');
  t.same([...mixed].sort((a, b) => a - b), ports, 'same ports');
  let state = 1;
  const seeded = (): number => ((state = (state * 16807) % 2147483647) / 2147483647);
  t.same(shuffled([1, 2, 3, 4], seeded), shuffled([1, 2, 3, 4], ((s = 1) => () => ((s = (s * 16807) % 2147483647) / 2147483647))()));
});
