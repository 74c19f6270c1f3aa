// Host names as targets: which texts are names, and resolving them through the system resolver
// (getaddrinfo, so /etc/hosts and nsswitch apply) with a deadline per name.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { LineError } from '../records.js';
import { canonicalAddress, familyOf, SpecError, type Family } from '../targets.js';
import type { ResolveReply, ResolveRequest } from './resolver-child.js';

/** RFC 1035 2.3.4: 255 octets on the wire, 253 characters as text without the final dot. */
export const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
export const DEFAULT_RESOLVE_TIMEOUT_MS = 5000;
/** How long node may take to start the resolver process on a loaded machine. */
const STARTUP_TIMEOUT_MS = 10_000;

/**
 * Why `text` is not a usable host name, or null when it is one. A name has a letter somewhere:
 * `1.2.3.256` is a bad address, not a name (RFC 3696 2: a top-level label is never all digits).
 * Underscores are let through: they occur in real hosts files though RFC 952 forbids them.
 */
export function nameProblem(text: string): string | null {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length > MAX_NAME_LENGTH) return `host name longer than ${MAX_NAME_LENGTH} characters`;
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return 'not an IP address, range, CIDR or host name';
  const labels = name.split('.');
  for (const label of labels) {
    if (label === '') return 'empty label in host name';
    if (label.length > MAX_LABEL_LENGTH) return `host name label longer than ${MAX_LABEL_LENGTH} characters`;
    if (!/^[A-Za-z0-9_-]+$/.test(label)) return `"${label}" is not a host name label (letters, digits, - and _ only)`;
    if (label.startsWith('-') || label.endsWith('-')) return `host name label "${label}" starts or ends with -`;
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return 'not an IP address, range or CIDR';
  return null;
}

/** Whether `text` is meant as a name (has a letter and nothing that only specs use), valid or not. */
export function looksLikeName(text: string): boolean {
  return /[A-Za-z_]/.test(text) && !/[:/,\s]/.test(text);
}

/** A name that did not resolve: reported, the other targets still processed, exit 2 at the end. */
export class ResolveError extends LineError {
  override name = 'ResolveError';

  constructor(readonly host: string, readonly reason: string) {
    // A LineError so the frame counts it as bad input (exit 2); it names the host, not a line.
    super(0, '');
    this.message = `cannot resolve "${host}": ${reason}`;
  }
}

const REASONS: Record<string, string> = {
  ENOTFOUND: 'no such host',
  ENODATA: 'no address for this name',
  EAI_AGAIN: 'temporary failure in name resolution (EAI_AGAIN)',
  ESERVFAIL: 'server failure',
};

export interface ResolverOptions {
  /** Keep one family (-4/-6); both by default. */
  family?: Family;
  /** Deadline per name, ms. */
  timeoutMs?: number;
}

export interface Resolution {
  host: string;
  addresses: string[];
}

/**
 * Forward (A and AAAA) and reverse lookups in a resolver child process, started at the first
 * lookup. A lookup past its deadline is reported as timed out; the child may still be waiting on
 * it, but nothing waits on the child: it is unreferenced, and killed by close() or when our end
 * of its stdin closes.
 */
export class NameResolver {
  private child: ChildProcess | null = null;
  /** Resolves when the child has started: deadlines count from then, not from node's start-up. */
  private started: Promise<boolean> = Promise.resolve(false);
  private nextId = 0;
  private readonly pending = new Map<number, (reply: ResolveReply) => void>();

  constructor(readonly options: ResolverOptions = {}) {}

  private start(): ChildProcess {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./resolver-child.js', import.meta.url))], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const failAll = (error: string): void => {
      for (const settle of this.pending.values()) settle({ id: -1, error });
      this.pending.clear();
      this.child = null;
    };
    child.on('error', (err) => failAll(`resolver: ${err.message}`));
    child.on('exit', () => failAll('resolver exited'));
    child.stdin?.on('error', () => undefined);
    let onStarted: (ok: boolean) => void = () => undefined;
    this.started = new Promise<boolean>((resolve) => {
      // Also what keeps us alive while it starts: the child and its pipes are unreferenced.
      const deadline = setTimeout(() => resolve(false), STARTUP_TIMEOUT_MS);
      onStarted = (ok) => {
        clearTimeout(deadline);
        resolve(ok);
      };
    });
    child.on('exit', () => onStarted(false));
    child.on('error', () => onStarted(false));
    createInterface({ input: child.stdout as Readable, crlfDelay: Infinity }).on('line', (line) => {
      if (line === 'ready') return onStarted(true);
      const reply = JSON.parse(line) as ResolveReply;
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
    // Only a pending lookup's timer keeps us alive, not the child or its pipes.
    child.unref();
    for (const stream of [child.stdin, child.stdout]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    return child;
  }

  private async ask(query: string, reverse: boolean): Promise<ResolveReply> {
    this.child ??= this.start();
    const child = this.child;
    if (!(await this.started)) return { id: -1, error: 'the resolver process did not start' };
    const id = this.nextId++;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS;
    return new Promise<ResolveReply>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ id, error: `timed out after ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      child.stdin?.write(`${JSON.stringify({ id, query, reverse } satisfies ResolveRequest)}\n`);
    });
  }

  /** The addresses of `host` (canonical text, duplicates dropped), or a ResolveError saying why not. */
  async resolve(host: string): Promise<Resolution> {
    const reply = await this.ask(host, false);
    if (reply.error !== undefined) throw new ResolveError(host, REASONS[reply.error] ?? reply.error);
    const addresses: string[] = [];
    for (const { address } of reply.addresses ?? []) {
      const ip = canonicalAddress(address);
      if (ip === null || addresses.includes(ip)) continue;
      if (this.options.family !== undefined && familyOf(ip) !== this.options.family) continue;
      addresses.push(ip);
    }
    if (addresses.length === 0) {
      throw new ResolveError(host, this.options.family ? `no IPv${this.options.family} address` : 'no address for this name');
    }
    return { host, addresses };
  }

  /** The PTR name of an address (-R), or undefined when it has none or the lookup failed. */
  async reverse(ip: string): Promise<string | undefined> {
    const reply = await this.ask(ip, true);
    // getnameinfo gives the address back as text when there is no name.
    if (reply.name === undefined || reply.name === '' || canonicalAddress(reply.name) !== null) return undefined;
    return reply.name;
  }

  close(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }
}

/** A spec part as a name: the name, or a SpecError saying why it is neither a spec nor a name. */
export function asName(part: string, specError: SpecError): string {
  if (!looksLikeName(part)) throw specError;
  const problem = nameProblem(part);
  if (problem !== null) throw new SpecError(part.length > 80 ? `${part.slice(0, 77)}...` : part, problem);
  return part.endsWith('.') ? part.slice(0, -1) : part;
}
