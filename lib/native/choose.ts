// Which connect engine runs a TCP scan: node:net under the timing core (the default), or the
// addon's epoll thread when asked for with `--engine native`.
import { ConnectProber, netSocketLayer, type EngineOptions, type SocketLayer } from '../tcp-engine.js';
import { loadAddon } from './addon.js';
import { NativeConnectProber } from './tcp.js';

/** `--engine`: force one backend; undefined is node:net, which follows the adaptive timing core. */
export type EngineName = 'native' | 'net';
export const ENGINE_NAMES: readonly EngineName[] = ['native', 'net'];

export class EngineUnavailable extends Error {}

export type Prober = Pick<ConnectProber, 'start' | 'counters' | 'socketLimit'> & {
  close?: () => void;
  /** The timing core the prober runs under (node:net); the native engine has none yet. */
  timing?: ConnectProber['timing'];
  hostGone?: (host: string, reason: string) => void;
  /** What the native engine's fixed timing is, for -v in place of the core's summary. */
  fixedTiming?: string;
};

/**
 * The connect prober for a scan and a line naming it (said under -v; empty for an injected layer). An injected socket layer
 * (tests) always means node:net. `--engine native` without a loadable addon throws EngineUnavailable.
 * The native engine does not yet run under the timing core (lib/timing/core.ts): it waits a fixed
 * -t per try and retries -r times, so it is opt-in until it does.
 */
export function connectProber(choice: EngineName | undefined, options: EngineOptions, layer?: SocketLayer): { prober: Prober; said: string } {
  if (layer === undefined && choice === 'native') {
    const loaded = loadAddon();
    if ('error' in loaded) throw new EngineUnavailable(`--engine native: ${loaded.error}`);
    return { prober: NativeConnectProber.open(loaded.addon, options), said: 'engine: native (the addon, connects on an epoll thread; fixed timing, not adaptive)' };
  }
  // An injected layer is a test's fake network: nothing to name.
  return { prober: new ConnectProber(layer ?? netSocketLayer, options), said: layer ? '' : 'engine: net (node:net, adaptive timing)' };
}
