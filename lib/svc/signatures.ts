// The signature table (lib/svc/signatures.txt) parsed and matched. The table is data so that a new
// service is one line, not code; the format is described at the top of that file.
import { readFileSync } from 'node:fs';

export interface Signature {
  probe: string;
  name: string;
  pattern: RegExp;
  /** product, version, info, device: templates with $1..$9. */
  fields: Record<string, string>;
  /** Where it came from, for error messages. */
  line: number;
}

export interface SignatureTable {
  signatures: Signature[];
  /** Probes likely on a port, in the order the `ports` lines gave them. */
  portProbes: Map<number, string[]>;
}

export interface Identity {
  name: string;
  product?: string;
  version?: string;
  info?: string;
  device?: string;
}

export class SignatureError extends Error {
  override name = 'SignatureError';
}

/** Shipped beside the compiled code's source: dist/lib/svc/*.js -> lib/svc/signatures.txt. */
export const SIGNATURE_FILE = new URL('../../../lib/svc/signatures.txt', import.meta.url);

const FIELDS = new Set(['product', 'version', 'info', 'device']);

function parsePorts(text: string, where: string): number[] {
  const ports: number[] = [];
  for (const part of text.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    const low = Number(match?.[1]);
    const high = Number(match?.[2] ?? match?.[1]);
    if (!match || low < 1 || high > 65535 || low > high) throw new SignatureError(`${where}: bad port "${part}"`);
    for (let port = low; port <= high; port++) ports.push(port);
  }
  return ports;
}

/** Parse the table's text; a mistake throws naming the line. */
export function parseSignatures(text: string, source = 'signatures'): SignatureTable {
  const signatures: Signature[] = [];
  const portProbes = new Map<number, string[]>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    const where = `${source}:${index + 1}`;
    if (line === '' || line.startsWith('#')) return;
    const ports = /^ports\s+(\S+)\s+(\S+)$/.exec(line);
    if (ports) {
      for (const port of parsePorts(ports[2] as string, where)) {
        const list = portProbes.get(port) ?? [];
        if (!list.includes(ports[1] as string)) list.push(ports[1] as string);
        portProbes.set(port, list);
      }
      return;
    }
    // match PROBE NAME /REGEX/FLAGS fields...: the regex ends at the last unescaped slash followed by flags.
    const head = /^match\s+(\S+)\s+(\S+)\s+\/((?:\\.|[^\\/])*)\/([a-z]*)(.*)$/.exec(line);
    if (!head) throw new SignatureError(`${where}: expected "ports PROBE PORTS" or "match PROBE NAME /REGEX/ fields"`);
    let pattern: RegExp;
    try {
      pattern = new RegExp(head[3] as string, head[4]);
    } catch (err) {
      throw new SignatureError(`${where}: ${(err as Error).message}`);
    }
    const fields: Record<string, string> = {};
    const rest = (head[5] as string).trim();
    const fieldPattern = /\s*(\w+)="((?:\\.|[^"\\])*)"/y;
    let at = 0;
    while (at < rest.length) {
      fieldPattern.lastIndex = at;
      const field = fieldPattern.exec(rest);
      if (!field) throw new SignatureError(`${where}: expected key="value" at "${rest.slice(at)}"`);
      if (!FIELDS.has(field[1] as string)) throw new SignatureError(`${where}: unknown field "${field[1]}" (${[...FIELDS].join(', ')})`);
      fields[field[1] as string] = (field[2] as string).replace(/\\(.)/g, '$1');
      at = fieldPattern.lastIndex;
    }
    signatures.push({ probe: head[1] as string, name: head[2] as string, pattern, fields, line: index + 1 });
  });
  return { signatures, portProbes };
}

let shipped: SignatureTable | null = null;

/** The table shipped with svcprobe, read once. */
export function shippedSignatures(): SignatureTable {
  shipped ??= parseSignatures(readFileSync(SIGNATURE_FILE, 'utf8'), 'lib/svc/signatures.txt');
  return shipped;
}

function fill(template: string, match: RegExpExecArray): string {
  return template
    .replace(/\$(\d)/g, (_, n: string) => match[Number(n)] ?? '')
    .replace(/[\x00-\x1f\x7f-\xff]/g, '')
    .trim();
}

/**
 * The first signature of `probe` (then of `banner`, as a greeting may arrive ahead of the answer,
 * then of `*`) matching the bytes, as an identity; null if none does.
 */
export function identify(table: SignatureTable, probe: string, bytes: Buffer): Identity | null {
  const text = bytes.toString('latin1');
  for (const wanted of probe === 'banner' ? ['banner', '*'] : [probe, 'banner', '*']) {
    for (const signature of table.signatures) {
      if (signature.probe !== wanted) continue;
      const match = signature.pattern.exec(text);
      if (!match) continue;
      const identity: Identity = { name: signature.name };
      for (const [key, template] of Object.entries(signature.fields)) {
        const value = fill(template, match);
        if (value !== '') identity[key as keyof Omit<Identity, 'name'>] = value;
      }
      return identity;
    }
  }
  return null;
}
