// This process's Linux capabilities as /proc/self/status lists them (proc(5)): what raw sockets
// need (CAP_NET_RAW), asked by the ping fallback's hint and by the SYN scan before it starts.
import { readFileSync } from 'node:fs';

/** CAP_NET_RAW's bit in the capability sets (linux/capability.h). */
const CAP_NET_RAW = 13n;

/** /proc/self/status, or '' where there is no /proc (then every set is unknown). */
export function readProcStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}

/** Whether CAP_NET_RAW is in a set (CapEff: in effect; CapBnd: grantable at all); undefined: unknown. */
export function hasNetRaw(set: 'CapEff' | 'CapBnd', status: string): boolean | undefined {
  const bits = new RegExp(`^${set}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
  return bits === undefined ? undefined : ((BigInt(`0x${bits}`) >> CAP_NET_RAW) & 1n) === 1n;
}
