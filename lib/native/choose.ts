// Which connect engine runs a TCP scan: node:net (the default) or the addon's epoll thread
// (`--engine native`); both run under the timing core (lib/timing/core.ts).
import { ConnectProber, netSocketLayer, type EngineOptions, type SocketLayer } from '../tcp-engine.js';
import { loadAddon } from './addon.js';
import { NativeConnectProber } from './tcp.js';

/** `--engine`: force one backend; undefined is node:net. */
export type EngineName = 'native' | 'net';
export const ENGINE_NAMES: readonly EngineName[] = ['native', 'net'];

export class EngineUnavailable extends Error {}

export type Prober = Pick<ConnectProber, 'start' | 'counters' | 'socketLimit'> & {
  close?: () => void;
  /** The timing core the prober runs under (its summary for -v). */
  timing: { core: unknown };
  hostGone(host: string, reason: string): void;
};

/**
 * The connect prober for a scan and a line naming it (said under -v; empty for an injected layer). An injected socket layer
 * (tests) always means node:net. `--engine native` without a loadable addon throws EngineUnavailable.
 * The native engine is opt-in: measured, a completion reaches JavaScript 10-85 ms after the send on
 * a loaded machine (the thread hop), so near the core's 100 ms floor some answered tries expire and
 * are sent again; node:net stays the default until that hop is understood.
 */
export function connectProber(choice: EngineName | undefined, options: EngineOptions, layer?: SocketLayer): { prober: Prober; said: string } {
  if (layer === undefined && choice === 'native') {
    const loaded = loadAddon();
    if ('error' in loaded) throw new EngineUnavailable(`--engine native: ${loaded.error}`);
    return { prober: NativeConnectProber.open(loaded.addon, options), said: 'engine: native (the addon, connects on an epoll thread)' };
  }
  // An injected layer is a test's fake network: nothing to name.
  return { prober: new ConnectProber(layer ?? netSocketLayer, options), said: layer ? '' : 'engine: net (node:net)' };
}
