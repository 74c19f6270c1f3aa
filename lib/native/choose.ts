// Which connect engine runs a TCP scan: the addon's epoll thread where it loads (the default), else
// node:net, said under -v with the reason; `--engine native|net` forces one. Both run under the
// timing core (lib/timing/core.ts), the addon's with the thread's clock judging each try
// (TimingOptions.threadClock), so both give the same answers.
import { ConnectProber, netSocketLayer, type EngineOptions, type SocketLayer } from '../tcp-engine.js';
import { loadAddon, type NativeAddon } from './addon.js';
import { NativeConnectProber } from './tcp.js';

/** `--engine`: force one backend; undefined is the addon where it loads, else node:net. */
export type EngineName = 'native' | 'net';
export const ENGINE_NAMES: readonly EngineName[] = ['native', 'net'];

export class EngineUnavailable extends Error {}

export type Prober = Pick<ConnectProber, 'start' | 'counters' | 'socketLimit'> & {
  close?: () => void;
  /** The timing core the prober runs under (its summary for -v). */
  timing: { core: unknown };
  hostGone(host: string, reason: string): void;
};

const NATIVE_SAID = 'engine: native (the addon, connects on an epoll thread)';

/**
 * The connect prober for a scan and a line naming it (said under -v; empty for an injected layer).
 * An injected socket layer (tests) always means node:net. `--engine native` without a loadable
 * addon throws EngineUnavailable; without --engine a missing addon means node:net, and the line
 * says why. `load` is the addon loader (tests inject one that fails).
 */
export function connectProber(
  choice: EngineName | undefined,
  options: EngineOptions,
  layer?: SocketLayer,
  load: () => { addon: NativeAddon } | { error: string } = loadAddon,
): { prober: Prober; said: string } {
  // An injected layer is a test's fake network: nothing to name.
  if (layer !== undefined) return { prober: new ConnectProber(layer, options), said: '' };
  let why = '';
  if (choice !== 'net') {
    const loaded = load();
    if ('addon' in loaded) return { prober: NativeConnectProber.open(loaded.addon, options), said: NATIVE_SAID };
    if (choice === 'native') throw new EngineUnavailable(`--engine native: ${loaded.error}`);
    why = `: ${loaded.error}`;
  }
  return { prober: new ConnectProber(netSocketLayer, options), said: `engine: net (node:net)${why}` };
}
