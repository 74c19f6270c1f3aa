// The unprivileged fallback: the system ping binary, one process per host. Debian's iputils ping
// carries cap_net_raw (or uses ICMP datagram sockets where net.ipv4.ping_group_range allows), so it
// works for an ordinary user when our own raw socket does not.
import { execFile } from 'node:child_process';
import { Observable } from './rx.js';
import type { EchoOptions, EchoResult } from './icmp-engine.js';
import type { Family } from './targets.js';

export interface PingRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs ping with these arguments; the signal kills it. */
export type RunPing = (args: string[], signal: AbortSignal) => Promise<PingRun>;

export function systemPing(command = 'ping'): RunPing {
  return (args, signal) =>
    new Promise((resolve) => {
      try {
        execFile(command, args, { signal }, (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
          resolve({ code, stdout, stderr: err && code === null ? `${stderr}${err.message}` : stderr });
        });
      } catch (err) {
        // Node throws some exec failures instead of reporting them (EPERM: ping's file capability
        // cap_net_raw lies outside this process's bounding set, as under `setpriv
        // --bounding-set=-net_raw`): a run that failed, not a crash that hides why (#10 item 19).
        resolve({ code: null, stdout: '', stderr: `cannot run ${command}: ${(err as Error).message}` });
      }
    });
}

// iputils ping(8) wordings, mapped to the reasons the raw engine gives for the same ICMP errors.
const REASONS: [RegExp, string][] = [
  [/Destination Host Unreachable|Address unreachable/i, 'host-unreachable'],
  [/Destination Net Unreachable|No route/i, 'net-unreachable'],
  [/Destination Port Unreachable|Port unreachable/i, 'port-unreachable'],
  [/Destination Protocol Unreachable/i, 'protocol-unreachable'],
  [/Administratively prohibited|Packet filtered|Host Prohibited|Net Prohibited/i, 'admin-prohibited'],
  [/Time to live exceeded|Hop limit/i, 'time-exceeded'],
];

// A locale with a decimal comma prints "time=0,045": ping calls setlocale(3).
const REPLY = /^\d+ bytes from \S+: icmp_seq=\d+ ttl=(\d+) time=([\d.,]+) ms$/;
const ERROR = /^From \S+:? icmp_seq=\d+ (.+)$/;

/** What one ping run said: replies (duplicates left out), the TTL and any ICMP error or failure. */
export function parsePingOutput(run: PingRun): Omit<EchoResult, 'sent'> {
  const result: Omit<EchoResult, 'sent'> = { rtts: [] };
  for (const line of run.stdout.split('\n')) {
    const reply = REPLY.exec(line.trim());
    if (reply) {
      result.ttl = Number(reply[1]);
      result.rtts.push(Number(reply[2]!.replace(',', '.')));
      continue;
    }
    const error = ERROR.exec(line.trim());
    if (error && result.reason === undefined) {
      const text = error[1]!;
      result.reason = REASONS.find(([pattern]) => pattern.test(text))?.[1] ?? text.toLowerCase().replace(/\W+/g, '-');
    }
  }
  // Status 2 is a local failure ("ping: connect: Network is unreachable"), worded as the raw engine words a sendto error.
  if (result.rtts.length === 0 && result.reason === undefined && run.code !== 0 && run.code !== 1) {
    const message = run.stderr.trim().split('\n').pop() ?? '';
    result.reason = `send failed: ${message.replace(/^ping: (\w+: )?/, '') || `ping exited with ${run.code}`}`;
  }
  return result;
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

/**
 * One host through ping, with the raw engine's semantics: count 1 is one `ping -c1 -W` per try with
 * the same backoff; count N is one `ping -c N` with 200 ms between echoes (the least an ordinary user
 * may ask of iputils). The TTL of IPv6 replies is left out, as the raw engine cannot read it.
 */
export function pingCommandProbe(run: RunPing, ip: string, family: Family, options: EchoOptions): Observable<EchoResult> {
  return new Observable<EchoResult>((subscriber) => {
    const abort = new AbortController();
    const go = async (): Promise<EchoResult> => {
      const result: EchoResult = { rtts: [], sent: 0 };
      const tries = options.count === 1 ? options.retries + 1 : 1;
      for (let attempt = 0; attempt < tries && !abort.signal.aborted; attempt++) {
        const waitMs = options.count === 1 ? options.timeoutMs * options.backoff ** attempt : options.timeoutMs;
        const args = [`-${family}`, '-n', '-c', String(options.count), '-W', seconds(waitMs)];
        if (options.count > 1) args.push('-i', '0.2');
        const parsed = parsePingOutput(await run([...args, ip], abort.signal));
        result.sent += options.count;
        result.rtts.push(...parsed.rtts);
        if (parsed.ttl !== undefined && family === 4) result.ttl = parsed.ttl;
        if (parsed.rtts.length > 0) return result;
        if (parsed.reason !== undefined) {
          result.reason = parsed.reason;
          return result;
        }
      }
      return result;
    };
    go().then(
      (result) => {
        if (abort.signal.aborted) return;
        subscriber.next(result);
        subscriber.complete();
      },
      (err: unknown) => subscriber.error(err),
    );
    return () => abort.abort();
  });
}
