export class PortSpecError extends Error {
  override name = 'PortSpecError';

  constructor(readonly spec: string, reason: string) {
    super(`bad port "${spec}": ${reason}`);
  }
}

export const DEFAULT_PORTS = '1-1024';

/**
 * Parse `22`, `22,80,8000-8100`, `-` (all, as in nmap's `-p-`), `1-` or `-1024` (open ends).
 * Returns the distinct ports in ascending order.
 */
export function parsePorts(spec: string): number[] {
  const text = spec.trim();
  if (text === '') throw new PortSpecError(spec, 'empty port list');
  const seen = new Uint8Array(65536);
  for (const rawPart of text.split(',')) {
    const part = rawPart.trim();
    const match = /^(\d*)-(\d*)$/.exec(part);
    let low: number;
    let high: number;
    if (match) {
      low = match[1] === '' ? 1 : toPort(match[1] ?? '', part);
      high = match[2] === '' ? 65535 : toPort(match[2] ?? '', part);
      if (high < low) throw new PortSpecError(part, 'the range ends before it starts');
    } else {
      low = high = toPort(part, part);
    }
    seen.fill(1, low, high + 1);
  }
  const ports: number[] = [];
  for (let port = 1; port < 65536; port++) if (seen[port]) ports.push(port);
  return ports;
}

function toPort(text: string, part: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new PortSpecError(part, 'not a port number');
  const port = Number(text);
  if (port < 1 || port > 65535) throw new PortSpecError(part, 'port must be 1-65535');
  return port;
}

/** Fisher-Yates shuffle into a new array, as nmap randomises port order to spread load. */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const copy = items.slice();
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = copy[i] as T;
    copy[i] = copy[j] as T;
    copy[j] = swap;
  }
  return copy;
}
