// ping-lab.test.ts again, every case on the native engine (the addon built by `npm ci`).
import t from 'tap';
import { loadAddon } from '../lib/native/addon.js';

const loaded = loadAddon();
if ('error' in loaded) t.plan(0, loaded.error);
else {
  process.env.PMAP_TEST_PING_ENGINE = 'native';
  await import('./ping-lab.test.js');
}
