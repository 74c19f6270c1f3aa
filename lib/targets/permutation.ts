// A keyed permutation of [0, n) in constant memory, for zmap/masscan-style target order: every
// index exactly once, in an order that spreads consecutive probes over the whole space.
//
// The construction is the generalised Feistel network of Black and Rogaway, "Ciphers with
// Arbitrary Finite Domains" (CT-RSA 2002), section 5 ("FE2"): the domain is split into a × b with
// a ≈ b ≈ √n; each round adds a keyed hash of one half to the other, modulo that half's radix,
// and the halves swap. Each round is a bijection on Z_a × Z_b, so the whole network is one on
// [0, ab). ab ≥ n exceeds n by less than a, so "cycle-walking" (encrypting again while the result
// is ≥ n) rarely takes more than one extra step, and restricts the bijection to [0, n).

/** Indices up to 2^52: the halves then stay below 2^26 and every sum is exact in a double. */
export const MAX_PERMUTATION_SIZE = 2 ** 52;
// Four rounds: Luby and Rackoff's bound for a strong pseudo-random permutation from pseudo-random
// round functions (three give a plain one). More cost time and add nothing a scan order needs.
const ROUNDS = 4;

/** A 32-bit integer hash with good avalanche (the "lowbias32" constants found by Chris Wellons's hash-prospector, public domain). */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Round keys from a seed of up to 53 bits: its two halves mixed with the round number. */
function roundKeys(seed: number): number[] {
  const low = seed % 2 ** 32;
  const high = Math.floor(seed / 2 ** 32);
  return Array.from({ length: ROUNDS }, (_, round) => mix32(mix32(low ^ Math.imul(round + 1, 0x9e3779b9)) ^ high));
}

export class Permutation {
  private readonly a: number;
  private readonly b: number;
  private readonly keys: number[];

  /** A permutation of [0, size) chosen by `seed` (a whole number below 2^53). */
  constructor(readonly size: number, readonly seed: number) {
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_PERMUTATION_SIZE) throw new RangeError(`permutation size ${size} out of range`);
    this.a = Math.max(1, Math.ceil(Math.sqrt(size)));
    this.b = Math.max(1, Math.ceil(size / this.a));
    this.keys = roundKeys(seed);
  }

  private encrypt(x: number): number {
    const { a, b, keys } = this;
    let left = x % a;
    let right = Math.floor(x / a);
    for (let round = 0; round < ROUNDS; round++) {
      const radix = round % 2 === 0 ? a : b;
      // 31 bits of the hash, so the modulo is a small-integer one.
      let next = left + ((mix32(right ^ (keys[round] as number)) & 0x7fffffff) % radix);
      if (next >= radix) next -= radix;
      left = right;
      right = next;
    }
    // ROUNDS is even: left is in Z_a and right in Z_b again.
    return a * right + left;
  }

  /** The element at position `index` (0 ≤ index < size). */
  at(index: number): number {
    let value = this.encrypt(index);
    while (value >= this.size) value = this.encrypt(value);
    return value;
  }
}

/** Shard `k` of `n` (1-based): the positions k-1, k-1+n, k-1+2n, ... of the permutation (masscan's interleave). */
export interface Shard {
  k: number;
  n: number;
}

export function parseShard(text: string): Shard {
  const match = /^(\d{1,9})\/(\d{1,9})$/.exec(text);
  const k = Number(match?.[1]);
  const n = Number(match?.[2]);
  if (!match || n < 1 || k < 1 || k > n) throw new RangeError(`--shard must be K/N with 1 <= K <= N, not "${text}"`);
  return { k, n };
}

/** The first position at or after `from` that belongs to the shard. */
export function firstPosition(shard: Shard, from: number): number {
  const offset = shard.k - 1;
  if (from <= offset) return offset;
  return offset + Math.ceil((from - offset) / shard.n) * shard.n;
}
