// tcp-lab.test.ts again, every case on the node:net fallback (native, the addon, is the default).
import t from 'tap';
import { loadAddon } from '../lib/native/addon.js';

const loaded = loadAddon();
if ('error' in loaded) t.plan(0, loaded.error);
else {
  process.env.PMAP_TEST_TCP_ENGINE = 'net';
  await import('./tcp-lab.test.js');
}
