import { ConnectProber, netSocketLayer, type EngineOptions, type SocketLayer } from '../tcp-engine.js';
import { loadAddon } from './addon.js';
import { NativeConnectProber } from './tcp.js';

/** `--engine`: force one backend; undefined picks the addon when it loads, node:net otherwise. */
export type EngineName = 'native' | 'net';
export const ENGINE_NAMES: readonly EngineName[] = ['native', 'net'];

export class EngineUnavailable extends Error {}

export type Prober = Pick<ConnectProber, 'start' | 'counters' | 'socketLimit'> & { close?: () => void };

/**
 * The connect prober for a scan and a line naming it (said under -v; empty for an injected layer). An injected socket layer
 * (tests) always means node:net. `--engine native` without a loadable addon throws EngineUnavailable.
 */
export function connectProber(choice: EngineName | undefined, options: EngineOptions, layer?: SocketLayer): { prober: Prober; said: string } {
  if (layer === undefined && choice !== 'net') {
    const loaded = loadAddon();
    if ('addon' in loaded) return { prober: NativeConnectProber.open(loaded.addon, options), said: 'engine: native (the addon, connects on an epoll thread)' };
    if (choice === 'native') throw new EngineUnavailable(`--engine native: ${loaded.error}`);
    return { prober: new ConnectProber(netSocketLayer, options), said: `engine: net (node:net; ${loaded.error})` };
  }
  // An injected layer is a test's fake network: nothing to name.
  return { prober: new ConnectProber(layer ?? netSocketLayer, options), said: layer ? '' : 'engine: net (node:net)' };
}
