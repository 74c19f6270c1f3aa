import t from 'tap';
import { addressesOf, canonicalAddress, excludeRanges, formatAddress, parseSpec } from '../lib/targets.js';

const expand = (spec: string): string[] => [...addressesOf(parseSpec(spec))];

t.test('expands every spec form in order', async (t) => {
  const cases: [string, string[]][] = [
    ['127.0.0.1', ['127.0.0.1']],
    ['127.0.0.1-127.0.0.3', ['127.0.0.1', '127.0.0.2', '127.0.0.3']],
    ['127.0.0.254-127.0.1.1', ['127.0.0.254', '127.0.0.255', '127.0.1.0', '127.0.1.1']],
    ['127.0.0.8-10', ['127.0.0.8', '127.0.0.9', '127.0.0.10']],
    ['127.0.0.5/30', ['127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7']],
    ['127.0.0.1/32', ['127.0.0.1']],
    ['127.0.0.1, 127.0.0.9,127.0.0.3', ['127.0.0.1', '127.0.0.9', '127.0.0.3']],
    ['::1', ['::1']],
    ['fd00::fe-fd00::101', ['fd00::fe', 'fd00::ff', 'fd00::100', 'fd00::101']],
    ['fd00::1-3', ['fd00::1', 'fd00::2', 'fd00::3']],
    ['fd00::/126', ['fd00::', 'fd00::1', 'fd00::2', 'fd00::3']],
    ['::ffff:127.0.0.1', ['::ffff:127.0.0.1']],
    ['255.255.255.255', ['255.255.255.255']],
  ];
  for (const [spec, expected] of cases) t.same(expand(spec), expected, spec);
});

t.test('streams huge ranges lazily', async (t) => {
  const first = addressesOf(parseSpec('0.0.0.0/0'));
  t.equal(first.next().value, '0.0.0.0');
  t.equal(first.next().value, '0.0.0.1');
  const v6 = addressesOf(parseSpec('fd00::/64'));
  v6.next();
  t.equal(v6.next().value, 'fd00::1');
});

t.test('refuses bad specs, naming them', async (t) => {
  const bad: [string, RegExp][] = [
    ['1.2.3.256', /bad target "1\.2\.3\.256": not an IP address/],
    ['1.2.3.4-1.2.3.1', /"1\.2\.3\.4-1\.2\.3\.1": the range ends before it starts/],
    ['1.2.3.4/33', /"1\.2\.3\.4\/33": prefix length must be 0-32/],
    ['::1/129', /prefix length must be 0-128/],
    ['1.2.3.4/', /prefix length/],
    ['abc', /"abc": not an IP address/],
    ['', /empty target/],
    ['1.2.3.4-256', /"256" is not an IP address or a last octet/],
    ['1.2.3.4-::1', /different IP families/],
    ['1.2.3', /not an IP address/],
    ['01.2.3.4', /not an IP address/],
    ['1.2.3.4,', /empty target/],
    ['fe80::1%eth0', /not an IP address/],
  ];
  for (const [spec, message] of bad) t.throws(() => parseSpec(spec), message, JSON.stringify(spec));
  t.throws(() => parseSpec('x'), { name: 'SpecError', spec: 'x' });
});

t.test('excludes ranges', async (t) => {
  const ranges = excludeRanges(parseSpec('127.0.0.0/29'), [...parseSpec('127.0.0.2-3'), ...parseSpec('127.0.0.7,::1')]);
  t.same([...addressesOf(ranges)], ['127.0.0.0', '127.0.0.1', '127.0.0.4', '127.0.0.5', '127.0.0.6']);
  t.same(excludeRanges(parseSpec('127.0.0.1'), parseSpec('127.0.0.0/8')), []);
});

t.test('formats addresses canonically (RFC 5952)', async (t) => {
  t.equal(canonicalAddress('2001:0DB8:0:0:0:0:0:1'), '2001:db8::1');
  t.equal(canonicalAddress('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  t.equal(canonicalAddress('0:0:0:0:0:0:0:0'), '::');
  t.equal(canonicalAddress('1:0:1:1:1:1:1:1'), '1:0:1:1:1:1:1:1');
  t.equal(canonicalAddress('::'), '::');
  t.equal(canonicalAddress('1.2.3.4'), '1.2.3.4');
  t.equal(canonicalAddress('nope'), null);
  t.equal(formatAddress(6, (1n << 128n) - 1n), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
});
