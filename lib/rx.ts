// rxjs, loaded as its one-file bundle. `import 'rxjs'` loads ~200 CommonJS files, and from ESM
// Node's lexer parses each re-export: measured here 84-154 ms per process, against 13-16 ms for
// rxjs's own UMD bundle (dist/bundles/rxjs.umd.min.js, the same version and code). Every command
// pays it at start-up, and a full-port scan of 127.0.0.1 takes about 1.2 s in all, so this is a
// tenth of it. Types still come from the package. Import rxjs's values from here, not from 'rxjs'.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Rx from 'rxjs';

const require = createRequire(import.meta.url);
const rx = require(join(dirname(require.resolve('rxjs/package.json')), 'dist/bundles/rxjs.umd.min.js')) as typeof Rx;

export const { Observable, from, filter, identity, merge, mergeMap, of, share, tap } = rx;
export type Observable<T> = Rx.Observable<T>;
export type { ObservableInput, OperatorFunction, Subscription } from 'rxjs';
