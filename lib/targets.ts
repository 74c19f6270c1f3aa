import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

/** An inclusive run of addresses of one family, as integers. */
export interface AddressRange {
  family: Family;
  first: bigint;
  last: bigint;
}

export class SpecError extends Error {
  override name = 'SpecError';

  constructor(readonly spec: string, reason: string) {
    // Quoted escaped and cut: a spec may come from stdin with terminal escapes or megabytes long
    // (issue 10 item 19), the same excerpt as records.ts gives a bad line.
    super(`bad target ${JSON.stringify(spec.length > 60 ? `${spec.slice(0, 60)}...` : spec)}: ${reason}`);
  }
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function familyOf(ip: string): Family | 0 {
  if (isIPv4(ip)) return 4;
  // Zone ids (fe80::1%eth0) name an interface, not an address we can range over.
  if (isIPv6(ip) && !ip.includes('%')) return 6;
  return 0;
}

export function parseAddress(text: string): { family: Family; value: bigint } | null {
  const family = familyOf(text);
  if (family === 4) return { family, value: v4ToBigInt(text) };
  if (family === 6) return { family, value: v6ToBigInt(text) };
  return null;
}

/** The canonical text of an address: dotted quad, or RFC 5952 compressed IPv6. */
export function canonicalAddress(text: string): string | null {
  const parsed = parseAddress(text);
  return parsed ? formatAddress(parsed.family, parsed.value) : null;
}

function v4ToBigInt(text: string): bigint {
  let value = 0;
  for (const octet of text.split('.')) value = value * 256 + Number(octet);
  return BigInt(value);
}

function v6ToBigInt(text: string): bigint {
  let hexText = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
    const v4 = Number(v4ToBigInt(text.slice(lastColon + 1)));
    hexText = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [left, right] = hexText.split('::');
  const leftGroups = left ? left.split(':') : [];
  const rightGroups = right ? right.split(':') : [];
  const zeros = right === undefined ? 0 : 8 - leftGroups.length - rightGroups.length;
  let value = 0n;
  for (const group of [...leftGroups, ...new Array<string>(zeros).fill('0'), ...rightGroups]) {
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

const OCTET = Array.from({ length: 256 }, (_, i) => String(i));

export function formatV4(value: number): string {
  return `${OCTET[value >>> 24]}.${OCTET[(value >>> 16) & 255]}.${OCTET[(value >>> 8) & 255]}.${OCTET[value & 255]}`;
}

export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) return formatV4(Number(value));
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  // RFC 5952 4.2: compress the longest run of two or more zero groups, the first if tied.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  // RFC 5952 5: an IPv4-mapped address ends in dotted decimal (::ffff:127.0.0.1), as node prints it.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatV4(Number(value & 0xffffffffn))}`;
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** One spec (no commas): an address, `a-b`, `a.b.c.d-e` (last octet), or CIDR. */
function parseOne(spec: string): AddressRange {
  const slash = spec.indexOf('/');
  if (slash >= 0) {
    const base = parseAddress(spec.slice(0, slash));
    if (!base) throw new SpecError(spec, `"${spec.slice(0, slash)}" is not an IP address`);
    const bitsText = spec.slice(slash + 1);
    const bits = BITS[base.family];
    if (!/^(0|[1-9]\d{0,2})$/.test(bitsText) || Number(bitsText) > bits) {
      throw new SpecError(spec, `prefix length must be 0-${bits}`);
    }
    const host = BigInt(bits - Number(bitsText));
    const first = (base.value >> host) << host;
    return { family: base.family, first, last: first + (1n << host) - 1n };
  }
  const dash = spec.indexOf('-');
  if (dash >= 0) {
    const startText = spec.slice(0, dash);
    const endText = spec.slice(dash + 1);
    const start = parseAddress(startText);
    if (!start) throw new SpecError(spec, `"${startText}" is not an IP address`);
    const end = parseAddress(endText) ?? shortEnd(start.family, start.value, endText);
    if (!end) throw new SpecError(spec, `"${endText}" is not an IP address or a last ${start.family === 4 ? 'octet' : 'group'}`);
    if (end.family !== start.family) throw new SpecError(spec, 'the two ends are of different IP families');
    if (end.value < start.value) throw new SpecError(spec, 'the range ends before it starts');
    return { family: start.family, first: start.value, last: end.value };
  }
  const single = parseAddress(spec);
  if (!single) {
    throw new SpecError(spec, spec === '' ? 'empty target' : 'not an IP address, range or CIDR');
  }
  return { family: single.family, first: single.value, last: single.value };
}

/** `192.168.0.1-100` (decimal last octet) or `2001:db8::1-ff` (hex last group). */
function shortEnd(family: Family, start: bigint, text: string): { family: Family; value: bigint } | null {
  const valid = family === 4 ? /^\d{1,3}$/.test(text) && Number(text) <= 255 : /^[0-9a-fA-F]{1,4}$/.test(text);
  if (!valid) return null;
  const width = family === 4 ? 8n : 16n;
  const value = ((start >> width) << width) | BigInt(family === 4 ? Number(text) : parseInt(text, 16));
  return { family, value };
}

/** A spec as given on the command line: comma-separated parts, each a range. */
export function parseSpec(spec: string): AddressRange[] {
  const trimmed = spec.trim();
  if (trimmed === '') throw new SpecError(spec, 'empty target');
  return trimmed.split(',').map((part) => parseOne(part.trim()));
}

export function rangeSize(range: AddressRange): bigint {
  return range.last - range.first + 1n;
}

/** `ranges` minus every address in `excluded`, order kept. */
export function excludeRanges(ranges: AddressRange[], excluded: AddressRange[]): AddressRange[] {
  let result = ranges;
  for (const cut of excluded) {
    const next: AddressRange[] = [];
    for (const range of result) {
      if (range.family !== cut.family || cut.last < range.first || cut.first > range.last) {
        next.push(range);
        continue;
      }
      if (cut.first > range.first) next.push({ ...range, last: cut.first - 1n });
      if (cut.last < range.last) next.push({ ...range, first: cut.last + 1n });
    }
    result = next;
  }
  return result;
}

/** Every address of the ranges, in order, one at a time: never a list in memory. */
export function* addressesOf(ranges: Iterable<AddressRange>): Generator<string> {
  for (const range of ranges) {
    if (range.family === 4) {
      const last = Number(range.last);
      for (let v = Number(range.first); v <= last; v++) yield formatV4(v);
    } else {
      for (let v = range.first; v <= range.last; v++) yield formatAddress(6, v);
    }
  }
}
